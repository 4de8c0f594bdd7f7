/* Blocking work (spio_work_submit): runs off the spio thread, result back on
 * it by message, several calls overlap, many submitters at once. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "spio/env.h"
#include "spio/thread.h"

static void lib_init(void)
{
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
}

static void lib_fini(void)
{
	spio_thread_lib_fini();
}

TestSuite(work, .init = lib_init, .fini = lib_fini);

static void finish(struct spio_thread *t)
{
	spio_thread_exit(t);
	for (int i = 0; i < 1000 && !spio_thread_is_exited(t); i++) {
		spio_thread_poll(t, 0, 0);
	}
	cr_assert(spio_thread_is_exited(t));
	spio_thread_destroy(t);
}

struct call {
	struct spio_work work;
	pthread_t caller;
	bool ran_off_thread;
	bool saw_no_spio_thread;
	int ret;
	int sleep_us;
	/* filled by done */
	int result;
	int done_count;
	struct spio_thread *done_thread;
};

static int blocking_fn(void *arg)
{
	struct call *c = arg;

	c->ran_off_thread = !pthread_equal(pthread_self(), c->caller);
	c->saw_no_spio_thread = spio_get_thread() == NULL;
	if (c->sleep_us) {
		usleep((useconds_t)c->sleep_us);
	}
	return c->ret;
}

static void done_fn(void *arg, int result)
{
	struct call *c = arg;

	c->result = result;
	c->done_count++;
	c->done_thread = spio_get_thread();
}

static void poll_until(struct spio_thread *t, const int *count, int want, uint64_t timeout_us)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(timeout_us);

	while (*count < want && spio_get_ticks() < end) {
		spio_thread_poll(t, 0, 0);
	}
}

Test(work, result_comes_back_on_the_submitting_thread)
{
	struct spio_thread *t = spio_thread_create("w", NULL);
	struct call c = {.caller = pthread_self(), .ret = -ENOSPC, .sleep_us = 1000};

	spio_set_thread(t);
	cr_assert_eq(spio_work_submit(&c.work, blocking_fn, done_fn, &c), 0);
	cr_assert_eq(c.done_count, 0, "done must not run inside submit");
	poll_until(t, &c.done_count, 1, 5000000);
	cr_assert_eq(c.done_count, 1, "done runs exactly once");
	cr_assert_eq(c.result, -ENOSPC, "expected fn's result, got %d", c.result);
	cr_assert(c.ran_off_thread, "fn must run on a helper OS thread");
	cr_assert(c.saw_no_spio_thread, "a helper thread is not a spio thread");
	cr_assert_eq(c.done_thread, t, "done runs on the submitting spio thread");
	spio_set_thread(NULL);
	finish(t);
}

Test(work, bad_arguments)
{
	struct spio_thread *t = spio_thread_create("w", NULL);
	struct call c = {0};

	cr_assert_eq(spio_work_submit(&c.work, blocking_fn, done_fn, &c), -EINVAL,
		     "not on a spio thread");
	spio_set_thread(t);
	cr_assert_eq(spio_work_submit(NULL, blocking_fn, done_fn, &c), -EINVAL);
	cr_assert_eq(spio_work_submit(&c.work, NULL, done_fn, &c), -EINVAL);
	cr_assert_eq(spio_work_submit(&c.work, blocking_fn, NULL, &c), -EINVAL);
	spio_set_thread(NULL);
	finish(t);
}

/* Eight 100 ms calls overlap: far less than 800 ms in all. */
Test(work, slow_calls_overlap)
{
	struct spio_thread *t = spio_thread_create("w", NULL);
	struct call c[8];
	int done = 0;
	uint64_t start, us;

	spio_set_thread(t);
	start = spio_get_ticks();
	for (int i = 0; i < 8; i++) {
		c[i] = (struct call){.caller = pthread_self(), .ret = i, .sleep_us = 100000};
		cr_assert_eq(spio_work_submit(&c[i].work, blocking_fn, done_fn, &c[i]), 0);
	}
	while (done < 8 && spio_ticks_to_us(spio_get_ticks() - start) < 10000000) {
		spio_thread_poll(t, 0, 0);
		done = 0;
		for (int i = 0; i < 8; i++) {
			done += c[i].done_count;
		}
	}
	us = spio_ticks_to_us(spio_get_ticks() - start);
	cr_assert_eq(done, 8);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(c[i].result, i);
	}
	cr_assert_lt(us, 600000, "8 x 100 ms took %lu us: calls did not overlap",
		     (unsigned long)us);
	spio_set_thread(NULL);
	finish(t);
}

/* Several OS threads, each polling its own spio thread, submit at once. */
#define SUBMITTERS 3
#define CALLS_PER_SUBMITTER 2000

struct submitter {
	pthread_t tid;
	struct call calls[CALLS_PER_SUBMITTER];
	int completed;
	int wrong;
};

static void stress_done(void *arg, int result)
{
	struct call *c = arg;
	struct submitter *s = (struct submitter *)c->done_thread;

	/* done_thread carries the owner here: result must be this call's index. */
	if (result != c->ret || c->done_count != 0) {
		s->wrong++;
	}
	c->done_count++;
	s->completed++;
}

static void *submitter_main(void *arg)
{
	struct submitter *s = arg;
	struct spio_thread *t = spio_thread_create("submitter", NULL);
	uint64_t end;

	spio_set_thread(t);
	for (int i = 0; i < CALLS_PER_SUBMITTER; i++) {
		struct call *c = &s->calls[i];

		*c = (struct call){.caller = pthread_self(), .ret = i};
		c->done_thread = (struct spio_thread *)s;
		while (spio_work_submit(&c->work, blocking_fn, stress_done, c) != 0) {
			spio_thread_poll(t, 0, 0);
		}
		spio_thread_poll(t, 0, 0);
	}
	end = spio_get_ticks() + spio_us_to_ticks(30000000);
	while (s->completed < CALLS_PER_SUBMITTER && spio_get_ticks() < end) {
		spio_thread_poll(t, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_exit(t);
	while (!spio_thread_is_exited(t)) {
		spio_thread_poll(t, 0, 0);
	}
	spio_thread_destroy(t);
	return NULL;
}

Test(work, stress_many_submitters, .timeout = 120)
{
	static struct submitter subs[SUBMITTERS];

	for (int i = 0; i < SUBMITTERS; i++) {
		subs[i].completed = 0;
		subs[i].wrong = 0;
		cr_assert_eq(pthread_create(&subs[i].tid, NULL, submitter_main, &subs[i]), 0);
	}
	for (int i = 0; i < SUBMITTERS; i++) {
		pthread_join(subs[i].tid, NULL);
		cr_assert_eq(subs[i].completed, CALLS_PER_SUBMITTER,
			     "submitter %d: %d of %d results arrived", i, subs[i].completed,
			     CALLS_PER_SUBMITTER);
		cr_assert_eq(subs[i].wrong, 0, "submitter %d: %d results wrong or repeated", i,
			     subs[i].wrong);
	}
}

/* The pool stops with the library and starts again with the next one. */
Test(work, pool_restarts_after_lib_fini)
{
	struct spio_thread *t = spio_thread_create("w", NULL);
	struct call c = {.caller = pthread_self(), .ret = 7};

	spio_set_thread(t);
	cr_assert_eq(spio_work_submit(&c.work, blocking_fn, done_fn, &c), 0);
	poll_until(t, &c.done_count, 1, 5000000);
	spio_set_thread(NULL);
	finish(t);
	spio_thread_lib_fini();

	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	t = spio_thread_create("w2", NULL);
	c = (struct call){.caller = pthread_self(), .ret = 8};
	spio_set_thread(t);
	cr_assert_eq(spio_work_submit(&c.work, blocking_fn, done_fn, &c), 0);
	poll_until(t, &c.done_count, 1, 5000000);
	cr_assert_eq(c.result, 8);
	spio_set_thread(NULL);
	finish(t);
}
