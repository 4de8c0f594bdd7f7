/*
 * spio_thread_call_await: run a function on another spio_thread and await
 * its result. The completion is initialised on the caller's thread, so when
 * the function fills it over there, spio_completion_done() forwards the
 * wake-up back by message: the task resumes on its own thread.
 * spio_work_submit_await: the same for a blocking call on a helper thread.
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

struct work_call {
	spio_work_fn fn;
	void *arg;
	struct spio_work work;
	struct spio_completion c;
};

static int work_call_run(void *arg)
{
	struct work_call *call = arg;

	return call->fn(call->arg);
}

static void work_call_done(void *arg, int result)
{
	struct work_call *call = arg;

	spio_completion_done(&call->c, result);
}

int spio_work_submit_await(spio_work_fn fn, void *arg)
{
	struct work_call call = {.fn = fn, .arg = arg};

	if (g_task_current == NULL) {
		return -EPERM;
	}
	if (fn == NULL) {
		return -EINVAL;
	}
	spio_completion_init(&call.c);
	return spio_await_started(
	    &call.c, spio_work_submit(&call.work, work_call_run, work_call_done, &call));
}
