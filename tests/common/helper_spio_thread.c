/* See helper_spio_thread.h. */
#include "helper_spio_thread.h"

#include <criterion/criterion.h>

#include "spio/env.h"
#include "spio/thread.h"

void test_env_init(const char *name)
{
	struct spio_env_opts eo;
	int rc;

	spio_env_opts_init(&eo, sizeof(eo));
	eo.no_huge = true;
	eo.name = name;
	rc = spio_env_init(&eo);
	cr_assert_eq(rc, 0, "spio_env_init(%s): expected 0, got %d", name, rc);
}

struct spio_thread *test_thread_start(const char *name)
{
	struct spio_thread *t;
	int rc;

	rc = spio_thread_lib_init(NULL, 0);
	cr_assert_eq(rc, 0, "spio_thread_lib_init: expected 0, got %d", rc);
	t = spio_thread_create(name, NULL);
	cr_assert_not_null(t, "spio_thread_create(%s) failed", name);
	spio_set_thread(t);
	return t;
}

void test_thread_exit(struct spio_thread *t, int max_polls)
{
	spio_set_thread(t);
	spio_thread_exit(t);
	for (int i = 0; i < max_polls && !spio_thread_is_exited(t); i++) {
		spio_thread_poll(t, 0, 0);
	}
	cr_assert(spio_thread_is_exited(t),
		  "thread did not exit in %d polls: pollers, channels or messages left", max_polls);
	spio_set_thread(NULL);
	spio_thread_destroy(t);
}

void test_thread_end(struct spio_thread *t, int max_polls)
{
	test_thread_exit(t, max_polls);
	spio_thread_lib_fini();
}
