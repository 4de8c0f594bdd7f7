/* Pollers: active, timed (accuracy, heap order), pause/resume/unregister
 * from inside callbacks, busy/idle reporting. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "helper_spio_thread.h"
#include "spio/env.h"
#include "spio/thread.h"

static struct spio_thread *g_t;

static void setup(void)
{
	g_t = test_thread_start("pollers");
}

static void teardown(void)
{
	test_thread_end(g_t, 1000);
}

TestSuite(poller, .init = setup, .fini = teardown);

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(g_t, 0, 0);
	}
}

struct counter {
	int runs;
	int ret;
	struct spio_poller *self;
	int unregister_at;
	int pause_at;
};

static int count_poller(void *arg)
{
	struct counter *c = arg;
	c->runs++;
	if (c->unregister_at && c->runs == c->unregister_at) {
		spio_poller_unregister(&c->self);
	}
	if (c->pause_at && c->runs == c->pause_at) {
		spio_poller_pause(c->self);
	}
	return c->ret;
}

Test(poller, bad_arguments)
{
	errno = 0;
	cr_assert_null(spio_poller_register(NULL, NULL, 0));
	cr_assert_eq(errno, EINVAL);
	spio_set_thread(NULL);
	struct counter c = {0};
	cr_assert_null(spio_poller_register(count_poller, &c, 0), "no current thread");
	spio_set_thread(g_t);
	spio_poller_unregister(NULL);
	struct spio_poller *none = NULL;
	spio_poller_unregister(&none);
	spio_poller_pause(NULL);
	spio_poller_resume(NULL);
}

Test(poller, active_runs_every_poll_and_reports_busy)
{
	struct counter idle = {0}, busy = {.ret = SPIO_POLLER_BUSY};
	idle.self = spio_poller_register_named(count_poller, &idle, 0, "idle-one");
	cr_assert_str_eq(spio_poller_get_name(idle.self), "idle-one");
	cr_assert(spio_thread_has_active_pollers(g_t));
	cr_assert_eq(spio_thread_poll(g_t, 0, 0), SPIO_POLLER_IDLE);
	busy.self = spio_poller_register(count_poller, &busy, 0);
	cr_assert_eq(spio_thread_poll(g_t, 0, 0), SPIO_POLLER_BUSY);
	poll_n(8);
	cr_assert_eq(idle.runs, 10);
	cr_assert_eq(busy.runs, 9);
	spio_poller_unregister(&idle.self);
	spio_poller_unregister(&busy.self);
	cr_assert_not(spio_thread_has_pollers(g_t));
}

Test(poller, unregister_self_inside_callback)
{
	struct counter c = {.unregister_at = 3};
	c.self = spio_poller_register(count_poller, &c, 0);
	poll_n(10);
	cr_assert_eq(c.runs, 3, "ran %d times after unregistering itself at 3", c.runs);
	cr_assert_null(c.self);

	struct counter tc = {.unregister_at = 2};
	tc.self = spio_poller_register(count_poller, &tc, 1);
	uint64_t end = spio_get_ticks() + spio_get_ticks_hz() / 20;
	while (spio_get_ticks() < end) {
		spio_thread_poll(g_t, 0, 0);
	}
	cr_assert_eq(tc.runs, 2, "timed poller ran %d times after unregistering at 2", tc.runs);
}

Test(poller, pause_self_then_resume)
{
	struct counter c = {.pause_at = 2};
	c.self = spio_poller_register(count_poller, &c, 0);
	poll_n(10);
	cr_assert_eq(c.runs, 2, "paused itself at 2, ran %d", c.runs);
	cr_assert_not(spio_thread_has_active_pollers(g_t));
	cr_assert(spio_thread_has_pollers(g_t), "a paused poller is still registered");
	c.pause_at = 0;
	spio_poller_resume(c.self);
	poll_n(5);
	cr_assert_eq(c.runs, 7);
	spio_poller_pause(c.self);
	spio_poller_pause(c.self); /* twice is harmless */
	poll_n(5);
	cr_assert_eq(c.runs, 7);
	spio_poller_unregister(&c.self); /* unregister while paused */
}

/* One poller unregisters another that comes after it in the same walk. */
static struct counter g_victim;
static int killer(void *arg)
{
	spio_poller_unregister(&g_victim.self);
	return SPIO_POLLER_BUSY;
}

Test(poller, unregister_other_during_walk)
{
	struct spio_poller *k = spio_poller_register(killer, NULL, 0);
	g_victim = (struct counter){0};
	g_victim.self = spio_poller_register(count_poller, &g_victim, 0);
	poll_n(5);
	cr_assert_eq(g_victim.runs, 0, "victim ran %d times after being unregistered",
		     g_victim.runs);
	spio_poller_unregister(&k);
}

/* Poll with `now` set to each next deadline in turn until `end` (in ticks):
 * the timed pollers see exact time, not the machine's. */
static void run_injected_clock_until(uint64_t end)
{
	uint64_t next;

	while ((next = spio_thread_next_poller_expiration(g_t)) != 0 && next <= end) {
		spio_thread_poll(g_t, 0, next);
	}
}

Test(poller, timed_1ms_fires_about_100_times_in_100ms)
{
	struct counter c = {0};
	uint64_t period = spio_get_ticks_hz() / 1000, first, last, end;
	int lo, hi;

	/* The first deadline is one period after the registration's real time,
	 * somewhere between these two readings (a loaded machine may part them). */
	first = spio_get_ticks();
	c.self = spio_poller_register(count_poller, &c, 1000);
	last = spio_get_ticks();
	cr_assert_not(spio_thread_has_active_pollers(g_t));
	cr_assert_gt(spio_thread_next_poller_expiration(g_t), 0);
	/* An injected clock (spio_thread_poll's `now`), jumping from deadline to
	 * deadline for 100 ms, whatever the machine is doing meanwhile. */
	end = last + spio_get_ticks_hz() / 10;
	run_injected_clock_until(end);
	lo = (int)((end - last) / period) - 1;
	hi = (int)((end - first) / period) + 1;
	cr_assert(c.runs >= lo && c.runs <= hi && lo >= 99,
		  "1 ms poller fired %d times in 100 ms (expected %d..%d)", c.runs, lo, hi);
	spio_poller_unregister(&c.self);
}

/* Many timed pollers with different periods fire in deadline order and each
 * at its own rate (checks the heap, not just the top). */
Test(poller, many_timed_pollers_keep_their_rates)
{
	enum { N = 100 };
	struct counter c[N] = {0};
	uint64_t hz = spio_get_ticks_hz(), first = spio_get_ticks(), last, end;

	for (int i = 0; i < N; i++) {
		/* periods 2..11 ms */
		c[i].self =
		    spio_poller_register(count_poller, &c[i], 2000 + (uint64_t)(i % 10) * 1000);
	}
	/* Deadlines start at each registration's real time: a loaded machine may
	 * spread the registrations, so each count is judged against both ends. */
	last = spio_get_ticks();
	/* 200 ms of injected clock, deadline to deadline (load cannot stretch it) */
	end = last + hz / 5;
	run_injected_clock_until(end);
	for (int i = 0; i < N; i++) {
		uint64_t period = hz * (uint64_t)(2 + i % 10) / 1000;
		int lo = (int)((end - last) / period) - 1, hi = (int)((end - first) / period) + 1;

		cr_assert(c[i].runs >= lo && c[i].runs <= hi,
			  "poller %d (period %d ms) ran %d times, expected %d..%d", i, 2 + i % 10,
			  c[i].runs, lo, hi);
	}
	/* Remove from the middle of the heap, then the rest. */
	for (int i = N / 2; i < N; i++) {
		spio_poller_unregister(&c[i].self);
	}
	for (int i = 0; i < N / 2; i++) {
		spio_poller_unregister(&c[i].self);
	}
	cr_assert_eq(spio_thread_next_poller_expiration(g_t), 0);
}

Test(poller, paused_timed_poller_resumes_with_fresh_deadline)
{
	struct counter c = {0};
	c.self = spio_poller_register(count_poller, &c, 5000);
	spio_poller_pause(c.self);
	uint64_t end = spio_get_ticks() + spio_get_ticks_hz() / 50; /* 20 ms */
	while (spio_get_ticks() < end) {
		spio_thread_poll(g_t, 0, 0);
	}
	cr_assert_eq(c.runs, 0, "paused timed poller ran");
	/*
	 * Until it ran 3 times (2 s at most): a load may delay runs, never
	 * hasten them, so with a fresh deadline 3 runs take at least 3 periods
	 * (a stale one would run at once and reach 3 after 2).
	 */
	uint64_t start = spio_get_ticks(), period = spio_get_ticks_hz() / 200;
	spio_poller_resume(c.self);
	end = start + 2 * spio_get_ticks_hz();
	while (c.runs < 3 && spio_get_ticks() < end) {
		spio_thread_poll(g_t, 0, 0);
	}
	uint64_t elapsed = spio_get_ticks() - start;
	cr_assert_eq(c.runs, 3, "resumed 5 ms poller ran %d times in 2 s", c.runs);
	cr_assert_geq(elapsed, 3 * period, "3 runs of a 5 ms poller after only %lu us",
		      (unsigned long)(elapsed * 1000000 / spio_get_ticks_hz()));
	spio_poller_unregister(&c.self);
}

Test(poller, counts_by_kind)
{
	struct spio_thread_poller_counts pc;
	struct counter a = {0}, t = {0}, p = {0};

	cr_assert_eq(spio_thread_get_poller_counts(NULL, &pc), -EINVAL);
	cr_assert_eq(spio_thread_get_poller_counts(g_t, NULL), -EINVAL);
	a.self = spio_poller_register(count_poller, &a, 0);
	t.self = spio_poller_register(count_poller, &t, 1000);
	p.self = spio_poller_register(count_poller, &p, 0);
	spio_poller_pause(p.self);
	cr_assert_eq(spio_thread_get_poller_counts(g_t, &pc), 0);
	cr_assert_eq(pc.active, 1, "active: expected 1, got %u", pc.active);
	cr_assert_eq(pc.timed, 1, "timed: expected 1, got %u", pc.timed);
	cr_assert_eq(pc.paused, 1, "paused (still in the active list): expected 1, got %u",
		     pc.paused);
	poll_n(1);
	spio_thread_get_poller_counts(g_t, &pc);
	cr_assert_eq(pc.paused, 1, "paused after the walk moved it: got %u", pc.paused);
	spio_poller_unregister(&a.self);
	spio_poller_unregister(&t.self);
	spio_poller_unregister(&p.self);
	spio_thread_get_poller_counts(g_t, &pc);
	cr_assert_eq(pc.active + pc.timed + pc.paused, 0);
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, timeout_ms) == 1;
}

static void signal_eventfd(int efd)
{
	uint64_t one = 1;

	cr_assert_eq(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

/* A poller's fd wakes a sleeping thread once per new event, never read by it. */
Test(poller, interrupt_fd_wakes_sleeping_thread)
{
	struct counter c = {0};
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct spio_poller *p = spio_poller_register(count_poller, &c, 0);
	uint64_t v;

	cr_assert_geq(efd, 0);
	cr_assert_eq(spio_poller_set_interrupt_fd(p, efd), 0, "before the interrupt set exists");
	int fd = spio_thread_get_interrupt_fd(g_t);
	cr_assert_geq(fd, 0);

	cr_assert(spio_thread_sleep_begin(g_t));
	cr_assert_not(readable(fd, 0), "no event yet: the thread may sleep");
	signal_eventfd(efd);
	cr_assert(readable(fd, 1000), "the poller's eventfd must wake the sleeper");
	spio_thread_sleep_end(g_t);
	cr_assert_eq(read(efd, &v, sizeof(v)), (ssize_t)sizeof(v),
		     "the thread must not read the poller's fd");

	/* The edge was consumed by sleep_end: the next sleep is quiet again. */
	cr_assert(spio_thread_sleep_begin(g_t));
	cr_assert_not(readable(fd, 0), "an old edge must not end the next sleep");
	signal_eventfd(efd);
	cr_assert(readable(fd, 1000), "a second event wakes again");
	spio_thread_sleep_end(g_t);

	/* -1 stops watching: events no longer wake. */
	cr_assert_eq(spio_poller_set_interrupt_fd(p, -1), 0);
	cr_assert(spio_thread_sleep_begin(g_t));
	signal_eventfd(efd);
	cr_assert_not(readable(fd, 20), "a poller that stopped watching must not wake");
	spio_thread_sleep_end(g_t);

	/* Unregistering drops the fd from the set at once (the owner may close it). */
	cr_assert_eq(spio_poller_set_interrupt_fd(p, efd), 0, "after the set exists");
	spio_poller_unregister(&p);
	cr_assert(spio_thread_sleep_begin(g_t));
	signal_eventfd(efd);
	cr_assert_not(readable(fd, 20), "an unregistered poller's fd must not wake");
	spio_thread_sleep_end(g_t);
	close(efd);
}

Test(poller, interrupt_fd_bad_arguments)
{
	struct counter c = {0};
	struct spio_poller *p = spio_poller_register(count_poller, &c, 0);
	int file = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);

	spio_thread_get_interrupt_fd(g_t);
	cr_assert_eq(spio_poller_set_interrupt_fd(NULL, 0), -EINVAL);
	cr_assert_eq(spio_poller_set_interrupt_fd(p, -2), -EINVAL);
	cr_assert_eq(spio_poller_set_interrupt_fd(p, 1 << 20), -EBADF, "not an open fd");
	cr_assert_eq(spio_poller_set_interrupt_fd(p, file), -EPERM, "epoll refuses regular files");
	spio_set_thread(NULL);
	cr_assert_eq(spio_poller_set_interrupt_fd(p, -1), -EINVAL, "not on the poller's thread");
	spio_set_thread(g_t);
	spio_poller_unregister(&p);
	close(file);
}

Test(poller, active_pollers_with_interrupt_need_no_timer)
{
	struct counter c = {0};
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct spio_poller *p = spio_poller_register(count_poller, &c, 0);

	cr_assert(spio_thread_has_active_pollers(g_t));
	cr_assert(spio_thread_has_active_pollers_without_interrupt(g_t));
	cr_assert_eq(spio_poller_set_interrupt_fd(p, efd), 0);
	cr_assert(spio_thread_has_active_pollers(g_t));
	cr_assert_not(spio_thread_has_active_pollers_without_interrupt(g_t),
		      "an eventfd can wake the thread for this poller");
	spio_poller_unregister(&p);
	cr_assert_not(spio_thread_has_active_pollers_without_interrupt(NULL));
	close(efd);
}
