#include "helper_rpc_thread.h"

#include <criterion/criterion.h>

#include "spio/thread.h"

void rpc_test_thread_end(struct spio_thread *t)
{
	spio_thread_exit(t);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(t); i++) {
		spio_thread_poll(t, 0, 0);
	}
	cr_assert(spio_thread_is_exited(t), "thread did not exit (pollers left?)");
	spio_set_thread(NULL);
	spio_thread_destroy(t);
	spio_thread_lib_fini();
}
