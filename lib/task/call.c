/*
 * spio_thread_call_await: run a function on another spio_thread and await
 * its result. The completion is initialised on the caller's thread, so when
 * the function fills it over there, spio_completion_done() forwards the
 * wake-up back by message: the task resumes on its own thread.
 */
#include <errno.h>

#include "task/task_internal.h"

struct thread_call {
	spio_thread_call_fn fn;
	void *arg;
	struct spio_completion c;
};

static void thread_call_run(void *arg)
{
	struct thread_call *call = arg;

	call->fn(call->arg, &call->c);
}

int spio_thread_call_await(struct spio_thread *thread, spio_thread_call_fn fn, void *arg)
{
	struct thread_call call = {.fn = fn, .arg = arg};

	if (g_task_current == NULL) {
		return -EPERM;
	}
	if (thread == NULL || fn == NULL) {
		return -EINVAL;
	}
	spio_completion_init(&call.c);
	return spio_await_started(&call.c, spio_thread_send_msg(thread, thread_call_run, &call));
}
