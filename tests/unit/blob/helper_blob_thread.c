#include "helper_blob_thread.h"

#include <criterion/criterion.h>

#include "spio/env.h"
#include "spio/thread.h"

void blob_test_env_init(const char *name)
{
	struct spio_env_opts eo;
	int rc;

	spio_env_opts_init(&eo, sizeof(eo));
	eo.no_huge = true;
	eo.name = name;
	rc = spio_env_init(&eo);
	cr_assert_eq(rc, 0, "spio_env_init(%s): expected 0, got %d", name, rc);
}

struct spio_thread *blob_test_thread_start(const char *name)
{
	struct spio_thread *t;

	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	t = spio_thread_create(name, NULL);
	cr_assert_not_null(t);
	spio_set_thread(t);
	return t;
}

void blob_test_thread_poll(struct spio_thread *t, int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(t, 0, 0);
	}
}

void blob_test_thread_end(struct spio_thread *t)
{
	spio_thread_exit(t);
	for (int i = 0; i < 1000 && !spio_thread_is_exited(t); i++) {
		blob_test_thread_poll(t, 1);
	}
	cr_assert(spio_thread_is_exited(t), "thread still holds channels or messages");
	spio_set_thread(NULL);
	spio_thread_destroy(t);
	spio_thread_lib_fini();
}
