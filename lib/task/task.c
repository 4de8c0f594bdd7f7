/*
 * Tasks: spawn, join, detach, yield, sleep and introspection.
 */
#include <errno.h>
#include <string.h>

#include "spio/log.h"
#include "spio/util.h"
#include "task/task_internal.h"

void spio_task_opts_init(struct spio_task_opts *opts, size_t opts_size)
{
	struct spio_task_opts defaults = {
	    .opts_size = opts_size,
	    .stack_size = SPIO_TASK_DEFAULT_STACK_SIZE,
	    .name = NULL,
	};

	if (opts == NULL || opts_size == 0) {
		return;
	}
	memcpy(opts, &defaults, SPIO_MIN(opts_size, sizeof(defaults)));
}

/* Copy the fields the caller's version of the struct has; defaults for the rest. */
static int opts_get(const struct spio_task_opts *user, struct spio_task_opts *out)
{
	spio_task_opts_init(out, sizeof(*out));
	if (user == NULL) {
		return 0;
	}
	if (user->opts_size == 0) {
		return -EINVAL;
	}
#define OPT_COPY(field)                                                             \
	do {                                                                        \
		if (offsetof(struct spio_task_opts, field) + sizeof(user->field) <= \
		    user->opts_size) {                                              \
			out->field = user->field;                                   \
		}                                                                   \
	} while (0)
	OPT_COPY(stack_size);
	OPT_COPY(name);
#undef OPT_COPY
	if (out->stack_size < SPIO_TASK_MIN_STACK_SIZE ||
	    out->stack_size > SPIO_TASK_MAX_STACK_SIZE) {
		return -EINVAL;
	}
	return 0;
}

static void task_set_name(struct spio_task *task, const char *name)
{
	char digits[20];
	size_t len = 0, nd = 0;
	uint64_t v = task->serial;

	if (name != NULL) {
		len = strnlen(name, sizeof(task->name) - 1);
		memcpy(task->name, name, len);
		task->name[len] = '\0';
		return;
	}
	/* "task<serial>", by hand: snprintf would be a third of the cost of a spawn */
	do {
		digits[nd++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	memcpy(task->name, "task", 4);
	len = 4;
	while (nd > 0) {
		task->name[len++] = digits[--nd];
	}
	task->name[len] = '\0';
}

int spio_task_spawn(spio_task_fn fn, void *arg, const struct spio_task_opts *opts,
		    struct spio_task **task_out)
{
	struct spio_task_opts o;
	struct task_sched *sched;
	struct spio_task *task;
	int rc;

	if (fn == NULL || opts_get(opts, &o) != 0) {
		return -EINVAL;
	}
	if (g_task_current == NULL && spio_get_thread() == NULL) {
		return -EINVAL;
	}
	sched = task_sched_get(true);
	if (sched == NULL) {
		return -ENOMEM;
	}

	task = task_alloc(sched);
	if (task == NULL) {
		return -ENOMEM;
	}
	rc = task_stack_get(sched, o.stack_size, &task->stack);
	if (rc != 0) {
		task_free(task);
		return rc;
	}
	task->fn = fn;
	task->arg = arg;
	task->result = 0;
	task->joinable = task_out != NULL;
	task->joiner = NULL;
	task->wait_remaining = 0;
	task->pending = 0;
	task->sleep_poller = NULL;
	task_set_name(task, o.name);

	rc = task_launch(sched, task);
	if (rc != 0) {
		task_stack_put(sched, &task->stack);
		task_free(task);
		return rc;
	}
	if (task_out != NULL) {
		*task_out = task;
	}
	return 0;
}

/* Called by the returning task itself, on its stack, before it switches away for good. */
void task_on_return(struct spio_task *task)
{
#ifndef NDEBUG
	if (task->pending != 0) {
		SPIO_ERRLOG(
		    "task '%s' on thread '%s' returned while %u completion(s) initialised in "
		    "it are not done: an operation it started may complete into freed memory",
		    task->name, spio_thread_get_name(task->sched->thread), task->pending);
	}
#endif
	if (task->joiner != NULL) {
		task_wake(task->joiner);
	}
}

/* Give back what a returned, joinable task still holds (its descriptor). */
static void zombie_release(struct spio_task *task)
{
	task->sched->zombies--;
	task_free(task);
}

int spio_task_join(struct spio_task *task)
{
	struct spio_task *self = g_task_current;
	int result;

	if (self == NULL) {
		return -EPERM;
	}
	if (task == NULL || task == self || task->state == TASK_FREE || !task->joinable ||
	    task->joiner != NULL) {
		return -EINVAL;
	}
	if (task->sched != self->sched) {
		return -EXDEV;
	}

	if (task->state != TASK_FINISHED) {
		task->joiner = self;
		self->state = TASK_WAITING;
		task_suspend(self);
	}
	result = task->result;
	zombie_release(task);
	return result;
}

int spio_task_detach(struct spio_task *task)
{
	struct task_sched *sched;

	if (task == NULL || task->state == TASK_FREE || !task->joinable || task->joiner != NULL) {
		return -EINVAL;
	}
	sched = task_sched_get(false);
	if (sched != task->sched) {
		return -EXDEV;
	}
	task->joinable = false;
	if (task->state == TASK_FINISHED) {
		zombie_release(task);
	}
	return 0;
}

struct spio_task *spio_task_current(void)
{
	return g_task_current;
}

const char *spio_task_get_name(const struct spio_task *task)
{
	return task != NULL ? task->name : NULL;
}

struct spio_thread *spio_task_get_thread(const struct spio_task *task)
{
	return task != NULL ? task->sched->thread : NULL;
}

uint32_t spio_task_get_count(void)
{
	struct task_sched *sched = task_sched_get(false);

	return sched != NULL ? sched->live : 0;
}

int spio_task_yield(void)
{
	struct spio_task *self = g_task_current;

	if (self == NULL) {
		return -EPERM;
	}
	task_ready(self);
	task_suspend(self);
	return 0;
}

static int sleep_done(void *arg)
{
	struct spio_task *task = arg;

	/* one-shot: legal to unregister from inside the poller's own callback */
	spio_poller_unregister(&task->sleep_poller);
	task_wake(task);
	return SPIO_POLLER_BUSY;
}

int spio_task_sleep_us(uint64_t us)
{
	struct spio_task *self = g_task_current;

	if (self == NULL) {
		return -EPERM;
	}
	if (us == 0) {
		return spio_task_yield();
	}
	self->sleep_poller = spio_poller_register_named(sleep_done, self, us, "task_sleep");
	if (self->sleep_poller == NULL) {
		return -ENOMEM;
	}
	self->state = TASK_WAITING;
	task_suspend(self);
	return 0;
}
