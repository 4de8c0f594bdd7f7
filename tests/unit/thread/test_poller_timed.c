/*
 * Timed pollers in order, with an injected clock (spio_thread_poll's `now`):
 * many pollers of one period and of several periods fire in deadline order,
 * ties in arming order; pause, resume, unregister and register from inside a
 * run keep that order and lose no poller.
 *
 * A timed poller stays first in line while it runs, so inside its callback
 * spio_thread_next_poller_expiration() is its own deadline: the callbacks log
 * it to check the order.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "helper_spio_thread.h"
#include "spio/env.h"
#include "spio/thread.h"
#include "spio/util.h"

static struct spio_thread *g_t;

static void setup(void)
{
	g_t = test_thread_start("timed");
}

static void teardown(void)
{
	test_thread_end(g_t, 1000);
}

TestSuite(poller_timed, .init = setup, .fini = teardown);

enum { MAX_POLLERS = 64, MAX_LOG = 8192 };

/* What a poller does on a given run (1-based), then returns BUSY. */
struct action {
	int at_run;
	void (*fn)(int self, int other);
	int other;
};

struct tp {
	struct spio_poller *self;
	int idx;
	int runs;
	uint64_t period_ticks;
	struct action act;
};

static struct tp g_p[MAX_POLLERS];
static struct {
	int idx;
	uint64_t deadline;
} g_log[MAX_LOG];
static int g_nlog;

static int tp_run(void *arg)
{
	struct tp *p = arg;

	cr_assert_lt(g_nlog, MAX_LOG, "log full");
	g_log[g_nlog].idx = p->idx;
	g_log[g_nlog].deadline = spio_thread_next_poller_expiration(g_t);
	g_nlog++;
	p->runs++;
	if (p->act.fn != NULL && p->runs == p->act.at_run) {
		p->act.fn(p->idx, p->act.other);
	}
	return SPIO_POLLER_BUSY;
}

static void tp_register(int i, uint64_t period_us)
{
	g_p[i] = (struct tp){.idx = i, .period_ticks = SPIO_MAX(spio_us_to_ticks(period_us), 1)};
	g_p[i].self = spio_poller_register(tp_run, &g_p[i], period_us);
	cr_assert_not_null(g_p[i].self, "poller %d not registered", i);
}

static void unregister_all(int n)
{
	for (int i = 0; i < n; i++) {
		spio_poller_unregister(&g_p[i].self);
	}
	cr_assert_not(spio_thread_has_pollers(g_t), "pollers left after unregistering all");
	cr_assert_eq(spio_thread_next_poller_expiration(g_t), 0);
}

/* One poll at `now`; returns the log index where that poll's runs start. */
static int poll_at(uint64_t now)
{
	int start = g_nlog;

	spio_thread_poll(g_t, 0, now);
	return start;
}

/* The runs logged from `from` on, as poller indexes, must be `want[0..n)`. */
static void expect_runs(int from, const int *want, int n, const char *what)
{
	cr_assert_eq(g_nlog - from, n, "%s: %d runs, expected %d", what, g_nlog - from, n);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(g_log[from + i].idx, want[i],
			     "%s: run %d was poller %d, expected poller %d", what, i,
			     g_log[from + i].idx, want[i]);
	}
}

static void expect_deadlines_ascending(void)
{
	for (int i = 1; i < g_nlog; i++) {
		cr_assert_geq(g_log[i].deadline, g_log[i - 1].deadline,
			      "run %d (poller %d) due at %lu before run %d (poller %d) due at %lu",
			      i, g_log[i].idx, (unsigned long)g_log[i].deadline, i - 1,
			      g_log[i - 1].idx, (unsigned long)g_log[i - 1].deadline);
	}
}

/* Each poller's runs one period apart: the clock jumps to each deadline. */
static void expect_exact_periods(int n)
{
	for (int p = 0; p < n; p++) {
		uint64_t last = 0;

		for (int i = 0; i < g_nlog; i++) {
			if (g_log[i].idx != p) {
				continue;
			}
			if (last != 0) {
				cr_assert_eq(g_log[i].deadline - last, g_p[p].period_ticks,
					     "poller %d: runs %lu ticks apart, period %lu", p,
					     (unsigned long)(g_log[i].deadline - last),
					     (unsigned long)g_p[p].period_ticks);
			}
			last = g_log[i].deadline;
		}
	}
}

/* Same period: one poll past every deadline runs them all, in registration
 * order (their deadlines' order), and re-armed at the same tick they keep
 * that order poll after poll. */
Test(poller_timed, same_period_runs_in_registration_order)
{
	enum { N = 50 };
	const uint64_t period_us = 1000;
	/* 1 s ahead: past every registration's deadline, however slow they are */
	uint64_t now = spio_get_ticks() + spio_get_ticks_hz();
	int want[N];

	g_nlog = 0;
	for (int i = 0; i < N; i++) {
		tp_register(i, period_us);
		want[i] = i;
	}
	for (int round = 0; round < 5; round++) {
		int from = poll_at(now);

		expect_runs(from, want, N, "a poll past every deadline");
		/* not yet due one tick early */
		from = poll_at(now + g_p[0].period_ticks - 1);
		expect_runs(from, want, 0, "a poll one tick before the deadlines");
		now += g_p[0].period_ticks;
	}
	unregister_all(N);
}

/* Several periods: runs in deadline order overall, each poller exactly one
 * period apart, every poller at its rate. */
Test(poller_timed, mixed_periods_run_in_deadline_order)
{
	enum { N = 35 };
	uint64_t end, next;

	g_nlog = 0;
	for (int i = 0; i < N; i++) {
		tp_register(i, 1000 + (uint64_t)(i % 7) * 300); /* 7 periods, 1..2.8 ms */
	}
	/* 50 ms of injected clock after the last registration */
	end = spio_get_ticks() + spio_us_to_ticks(50 * 1000);
	while ((next = spio_thread_next_poller_expiration(g_t)) != 0 && next <= end) {
		spio_thread_poll(g_t, 0, next);
	}
	expect_deadlines_ascending();
	expect_exact_periods(N);
	for (int i = 0; i < N; i++) {
		int lo = (int)(50000 / (1000 + (i % 7) * 300)) - 1;

		cr_assert_geq(g_p[i].runs, lo, "poller %d (period %d us) ran %d times in 50 ms", i,
			      1000 + (i % 7) * 300, g_p[i].runs);
	}
	unregister_all(N);
}

static void act_unregister_self(int self, int other)
{
	spio_poller_unregister(&g_p[self].self);
}

static void act_unregister_other(int self, int other)
{
	spio_poller_unregister(&g_p[other].self);
}

static void act_pause_other(int self, int other)
{
	spio_poller_pause(g_p[other].self);
}

static void act_pause_self(int self, int other)
{
	spio_poller_pause(g_p[self].self);
}

static void act_pause_resume_self(int self, int other)
{
	spio_poller_pause(g_p[self].self);
	spio_poller_resume(g_p[self].self);
}

static void act_register_other(int self, int other)
{
	tp_register(other, 1000);
}

/*
 * Inside one poll over eight pollers of one period: 1 unregisters itself,
 * 2 unregisters 3 (not run yet), 4 pauses 5 (not run yet), 6 pauses itself,
 * 7 pauses and resumes itself (keeps its place), 0 registers 8 in the same
 * period. The next poll runs the rest in order; resumed ones come back.
 */
Test(poller_timed, pause_resume_unregister_inside_a_run)
{
	enum { N = 8 };
	const uint64_t period_us = 1000;
	uint64_t now = spio_get_ticks() + spio_get_ticks_hz(), p; /* see above */
	int from;

	g_nlog = 0;
	for (int i = 0; i < N; i++) {
		tp_register(i, period_us);
	}
	p = g_p[0].period_ticks;
	g_p[0].act = (struct action){1, act_register_other, 8};
	g_p[1].act = (struct action){1, act_unregister_self, 0};
	g_p[2].act = (struct action){1, act_unregister_other, 3};
	g_p[4].act = (struct action){1, act_pause_other, 5};
	g_p[6].act = (struct action){1, act_pause_self, 0};
	g_p[7].act = (struct action){1, act_pause_resume_self, 0};

	from = poll_at(now);
	/* 8 is due one period after its registration's real time: in the past
	 * of the injected clock, so before the re-armed 0, and it runs now. */
	expect_runs(from, (int[]){0, 1, 2, 4, 6, 7, 8}, 7, "first poll");
	cr_assert_null(g_p[1].self);
	cr_assert_null(g_p[3].self);

	struct spio_thread_poller_counts c;
	cr_assert_eq(spio_thread_get_poller_counts(g_t, &c), 0);
	cr_assert_eq(c.timed, 5, "timed %u, expected 0 2 4 7 8", c.timed);
	cr_assert_eq(c.paused, 2, "paused %u, expected 5 6", c.paused);

	from = poll_at(now + p);
	expect_runs(from, (int[]){0, 2, 4, 7, 8}, 5, "second poll");

	/* Resumed from outside a run: due one period after the real time, so
	 * before everyone re-armed on the injected clock, and in resume order. */
	spio_poller_resume(g_p[6].self);
	spio_poller_resume(g_p[5].self);
	from = poll_at(now + 2 * p);
	expect_runs(from, (int[]){6, 5, 0, 2, 4, 7, 8}, 7, "after resuming 6 then 5");
	from = poll_at(now + 3 * p);
	expect_runs(from, (int[]){6, 5, 0, 2, 4, 7, 8}, 7, "re-armed together");
	unregister_all(N + 1);
}

/*
 * The last poller of a period unregisters itself and the only poller of
 * another period, then registers one of a third: the emptied buckets go,
 * the new one runs at its own deadline (ASan checks nothing is used after
 * it is freed).
 */
static void act_shuffle(int self, int other)
{
	spio_poller_unregister(&g_p[other].self);
	spio_poller_unregister(&g_p[self].self);
	tp_register(2, 3000);
}

Test(poller_timed, last_of_a_period_leaves_inside_its_run)
{
	uint64_t now = spio_get_ticks() + spio_get_ticks_hz(), next; /* 1 s ahead */
	int from;

	g_nlog = 0;
	tp_register(0, 1000);
	tp_register(1, 2000);
	g_p[0].act = (struct action){1, act_shuffle, 1};
	from = poll_at(now);
	/* 0 ran first (earlier deadline) and removed 1 before it was reached; 2
	 * is due 3 ms after the real time, long before the injected `now`. */
	expect_runs(from, (int[]){0, 2}, 2, "poll with the shuffle");
	cr_assert_null(g_p[0].self);
	cr_assert_null(g_p[1].self);
	next = spio_thread_next_poller_expiration(g_t);
	cr_assert_eq(next, now + g_p[2].period_ticks, "2 re-armed at %lu, expected %lu",
		     (unsigned long)next, (unsigned long)(now + g_p[2].period_ticks));
	from = poll_at(next);
	expect_runs(from, (int[]){2}, 1, "poll at 2's deadline");
	spio_poller_unregister(&g_p[2].self);
	cr_assert_not(spio_thread_has_pollers(g_t));
}

/* A late poll runs each due poller once, not once per missed period. */
Test(poller_timed, late_poll_runs_each_once)
{
	enum { N = 20 };
	uint64_t now = spio_get_ticks() + spio_get_ticks_hz();

	g_nlog = 0;
	for (int i = 0; i < N; i++) {
		tp_register(i, 100 + (uint64_t)(i % 4) * 100);
	}
	poll_at(now);
	cr_assert_eq(g_nlog, N, "%d runs after a 1 s gap, expected one each (%d)", g_nlog, N);
	expect_deadlines_ascending();
	for (int i = 0; i < N; i++) {
		cr_assert_eq(g_p[i].runs, 1, "poller %d ran %d times", i, g_p[i].runs);
	}
	cr_assert_eq(spio_thread_next_poller_expiration(g_t), now + g_p[0].period_ticks);
	unregister_all(N);
}
