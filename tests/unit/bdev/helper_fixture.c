/* See helper_fixture.h. */
#include "helper_fixture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev.h"
#include "spio/env.h"
#include "spio/thread.h"

struct spio_thread *g_fx_thread;

void fx_init(const char *name)
{
	struct spio_env_opts eopts;
	int rc;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	eopts.name = name;
	rc = spio_env_init(&eopts);
	cr_assert_eq(rc, 0, "spio_env_init: expected 0, got %d", rc);
	rc = spio_thread_lib_init(NULL, 0);
	cr_assert_eq(rc, 0, "spio_thread_lib_init: expected 0, got %d", rc);
	g_fx_thread = spio_thread_create(name, NULL);
	cr_assert_not_null(g_fx_thread);
	spio_set_thread(g_fx_thread);
	rc = spio_bdev_initialize(NULL);
	cr_assert_eq(rc, 0, "spio_bdev_initialize: expected 0, got %d", rc);
}

void fx_poll(void)
{
	spio_thread_poll(g_fx_thread, 0, 0);
}

bool fx_poll_until(const int *counter, int want, uint64_t timeout_us)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(timeout_us);

	while (*(volatile const int *)counter < want) {
		if (spio_get_ticks() > end) {
			return false;
		}
		fx_poll();
	}
	return true;
}

void fx_poll_for(uint64_t us)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(us);

	while (spio_get_ticks() < end) {
		fx_poll();
	}
}

static void finish_done(void *arg)
{
	(*(int *)arg)++;
}

void fx_fini(void)
{
	int done = 0;

	spio_set_thread(g_fx_thread);
	cr_assert_eq(spio_bdev_finish(finish_done, &done), 0);
	cr_assert(fx_poll_until(&done, 1, 10000000), "spio_bdev_finish did not complete");
	spio_thread_exit(g_fx_thread);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_fx_thread); i++) {
		fx_poll();
	}
	cr_assert(spio_thread_is_exited(g_fx_thread), "thread did not exit");
	spio_set_thread(NULL);
	spio_thread_destroy(g_fx_thread);
	g_fx_thread = NULL;
	spio_thread_lib_fini();
	spio_env_fini();
}

int fx_json_to_string(void *ctx, const void *data, size_t size)
{
	char **s = ctx;
	size_t old = *s != NULL ? strlen(*s) : 0;
	char *n = realloc(*s, old + size + 1);

	if (n == NULL) {
		return -ENOMEM;
	}
	memcpy(n + old, data, size);
	n[old + size] = '\0';
	*s = n;
	return 0;
}
