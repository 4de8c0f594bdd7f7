/*
 * Completions and the awaits.
 *
 * A completion belongs to the spio_thread it was initialised on. Filling it
 * there wakes its waiter (a task suspended in spio_await*); filling it on
 * any other OS thread stores the status and forwards the wake-up by message,
 * so waiters are only ever touched by their own thread.
 */
#include <errno.h>

#include "spio/log.h"
#include "spio/util.h"
#include "task/task_internal.h"

/* How often a forwarded completion retries a full message pool before giving up. */

static inline struct spio_thread *current_thread(void)
{
	struct spio_task *task = g_task_current;

	return task != NULL ? task->sched->thread : spio_get_thread();
}

/* Debug builds: stop counting `c` as pending in the task that initialised it. */
static inline void pending_forget(struct spio_completion *c)
{
#ifndef NDEBUG
	struct spio_task *owner = c->internal.owner;

	/* The descriptor outlives the task; the serial says whether it is still the owner. */
	if (owner != NULL && owner->serial == c->internal.owner_serial && owner->pending > 0) {
		owner->pending--;
	}
	c->internal.owner = NULL;
#else
	(void)c;
#endif
}

void spio_completion_init(struct spio_completion *c)
{
	struct spio_task *task = g_task_current;

	if (c == NULL) {
		return;
	}
	c->status = 0;
	c->done = false;
	c->value = 0;
	c->ptr = NULL;
	c->internal.thread = task != NULL ? task->sched->thread : spio_get_thread();
	c->internal.waiter = NULL;
	c->internal.owner = NULL;
	c->internal.owner_serial = 0;
#ifndef NDEBUG
	if (task != NULL) {
		c->internal.owner = task;
		c->internal.owner_serial = task->serial;
		task->pending++;
	}
#endif
}

/* Fill `c` on its own thread and wake its waiter. */
static inline void complete_local(struct spio_completion *c, int status)
{
	struct spio_task *waiter;

	if (spio_unlikely(c->done)) {
		SPIO_ERRLOG("completion %p filled twice (status %d, then %d); second ignored",
			    (void *)c, c->status, status);
		return;
	}
	c->status = status;
	pending_forget(c);
	__atomic_store_n(&c->done, true, __ATOMIC_RELEASE);

	waiter = c->internal.waiter;
	if (waiter != NULL) {
		c->internal.waiter = NULL;
		if (waiter->wait_remaining > 0 && --waiter->wait_remaining == 0) {
			task_wake(waiter);
		}
	}
}

static void completion_forwarded(void *arg)
{
	struct spio_completion *c = arg;

	complete_local(c, c->status);
}

/* Not on the completion's thread: store the status, wake the waiter by message. */
static void __attribute__((noinline)) complete_remote(struct spio_completion *c, int status)
{
	struct spio_thread *home = c->internal.thread;
	int rc;

	/* Nobody on `home` reads the status before the message has run. The
	 * message lives in the completion: only an exited thread refuses it. */
	c->status = status;
	rc = spio_thread_send_msg_embedded(home, &c->internal.forward, completion_forwarded, c);
	if (rc != 0) {
		SPIO_ERRLOG("cannot forward completion %p to thread '%s': error %d; its waiter "
			    "is lost",
			    (void *)c, spio_thread_get_name(home), rc);
	}
}

/* Inlined into both entry points: a resumed task is then one call deep. */
static inline void completion_done(struct spio_completion *c, int status)
{
	struct spio_thread *home;

	if (c == NULL) {
		return;
	}
	home = c->internal.thread;
	if (spio_likely(home == NULL || home == current_thread())) {
		complete_local(c, status);
	} else {
		complete_remote(c, status);
	}
}

void spio_completion_done(struct spio_completion *c, int status)
{
	completion_done(c, status);
}

void spio_completion_cb(void *cb_arg, int status)
{
	completion_done(cb_arg, status);
}

bool spio_completion_is_done(const struct spio_completion *c)
{
	return c != NULL && __atomic_load_n(&c->done, __ATOMIC_ACQUIRE);
}

int spio_completion_wait(struct spio_completion *c)
{
	struct spio_thread *thread;

	if (g_task_current != NULL) {
		return -EDEADLK;
	}
	if (c == NULL) {
		return -EINVAL;
	}
	thread = spio_get_thread();
	if (thread == NULL) {
		return -EINVAL;
	}
	while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) {
		int rc = spio_thread_poll(thread, 0, 0);

		if (rc < 0) {
			return rc;
		}
	}
	return c->status;
}

/* Common checks of the awaits; `self` is the calling task. */
static int await_check(const struct spio_task *self, const struct spio_completion *c)
{
	if (c == NULL) {
		return -EINVAL;
	}
	if (c->internal.thread != self->sched->thread) {
		return -EXDEV;
	}
	if (c->internal.waiter != NULL && c->internal.waiter != self) {
		return -EBUSY;
	}
	return 0;
}

int spio_await(struct spio_completion *c)
{
	struct spio_task *self = g_task_current;
	int rc;

	if (self == NULL) {
		return -EPERM;
	}
	rc = await_check(self, c);
	if (rc != 0) {
		return rc;
	}
	if (!c->done) {
		c->internal.waiter = self;
		self->wait_remaining = 1;
		self->state = TASK_WAITING;
		task_suspend(self);
	}
	return c->status;
}

int spio_await_started(struct spio_completion *c, int start_rc)
{
	if (start_rc != 0) {
		if (c != NULL) {
			pending_forget(c);
		}
		return start_rc;
	}
	return spio_await(c);
}

static int await_check_all(const struct spio_task *self, struct spio_completion **cs, size_t n)
{
	if (cs == NULL || n > INT32_MAX) {
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = await_check(self, cs[i]);

		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

int spio_await_all(struct spio_completion **cs, size_t n)
{
	struct spio_task *self = g_task_current;
	uint32_t remaining = 0;
	int rc;

	if (self == NULL) {
		return -EPERM;
	}
	if (n == 0) {
		return 0;
	}
	rc = await_check_all(self, cs, n);
	if (rc != 0) {
		return rc;
	}

	for (size_t i = 0; i < n; i++) {
		struct spio_completion *c = cs[i];

		/* a completion listed twice is counted once */
		if (!c->done && c->internal.waiter != self) {
			c->internal.waiter = self;
			remaining++;
		}
	}
	if (remaining > 0) {
		self->wait_remaining = remaining;
		self->state = TASK_WAITING;
		task_suspend(self);
	}

	for (size_t i = 0; i < n; i++) {
		if (cs[i]->status != 0) {
			return cs[i]->status;
		}
	}
	return 0;
}

static int first_done(struct spio_completion **cs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (cs[i]->done) {
			return (int)i; /* n <= INT32_MAX was checked */
		}
	}
	return -1;
}

int spio_await_any(struct spio_completion **cs, size_t n)
{
	struct spio_task *self = g_task_current;
	int idx, rc;

	if (self == NULL) {
		return -EPERM;
	}
	if (n == 0) {
		return -EINVAL;
	}
	rc = await_check_all(self, cs, n);
	if (rc != 0) {
		return rc;
	}

	idx = first_done(cs, n);
	if (idx >= 0) {
		return idx;
	}
	for (size_t i = 0; i < n; i++) {
		cs[i]->internal.waiter = self;
	}
	self->wait_remaining = 1; /* the first one to finish wakes us */
	self->state = TASK_WAITING;
	task_suspend(self);

	for (size_t i = 0; i < n; i++) {
		if (cs[i]->internal.waiter == self) {
			cs[i]->internal.waiter = NULL;
		}
	}
	return first_done(cs, n);
}
