#include <criterion/criterion.h>

#include "helper_poller_thread.h"
#include "spio/thread.h"

struct spio_thread *poller_thread_start(const char *name)
{
	struct spio_thread *t;

	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	t = spio_thread_create(name, NULL);
	cr_assert_not_null(t);
	spio_set_thread(t);
	return t;
}

void poller_thread_finish(struct spio_thread *t)
{
	spio_thread_exit(t);
	for (int i = 0; i < 1000 && !spio_thread_is_exited(t); i++) {
		spio_thread_poll(t, 0, 0);
	}
	cr_assert(spio_thread_is_exited(t), "pollers left registered");
	spio_set_thread(NULL);
	spio_thread_destroy(t);
	spio_thread_lib_fini();
}
