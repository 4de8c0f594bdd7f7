/*
 * The thread scheduler: the dynamic policy fed with numbers (no clock);
 * threads moved between two reactors under a stream of messages (every
 * message runs once, in order per sender, on its thread; pollers and
 * io_channels keep working); the dynamic scheduler gathering idle threads on
 * the main core, spreading a busy one and letting the emptied reactor sleep,
 * and the static scheduler putting them back; spio_thread_set_cpumask's
 * errors; the scheduler RPCs through the in-process RPC API.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event/event_internal.h"
#include "helper_cores.h"
#include "spio/app.h"
#include "spio/env.h"
#include "spio/event.h"
#include "spio/json_val.h"
#include "spio/rpc.h"
#include "spio/scheduler.h"
#include "spio/thread.h"

TestSuite(scheduler, .timeout = 240);

/*
 * The dynamic policy, from numbers.
 */

#define MAXT 8

struct fixture {
	struct spio_scheduler_core_info cores[4];
	struct spio_scheduler_thread_info threads[4][MAXT];
	uint32_t n;
};

static const struct scheduler_dynamic_opts g_defaults = {
    SCHED_DYNAMIC_LOAD_LIMIT, SCHED_DYNAMIC_CORE_LIMIT, SCHED_DYNAMIC_CORE_BUSY};

/* `n` cores numbered 0..n-1, each with `busy` / `idle` ticks of the period. */
static void fx_init(struct fixture *f, uint32_t n)
{
	memset(f, 0, sizeof(*f));
	f->n = n;
	for (uint32_t i = 0; i < n; i++) {
		f->cores[i].lcore = i;
		f->cores[i].thread_infos = f->threads[i];
	}
}

/* A thread on `core` with `busy` of 1000 ticks busy; any core allowed unless `mask`. */
static struct spio_scheduler_thread_info *fx_thread(struct fixture *f, uint32_t core, uint64_t busy,
						    uint64_t id, int only_core)
{
	struct spio_scheduler_core_info *c = &f->cores[core];
	struct spio_scheduler_thread_info *t = &c->thread_infos[c->threads_count++];

	t->thread_id = id;
	t->lcore = core;
	t->initial_lcore = core;
	t->current_stats.busy_tsc = busy;
	t->current_stats.idle_tsc = 1000 - busy;
	spio_cpuset_zero(&t->cpumask);
	if (only_core >= 0) {
		spio_cpuset_set_cpu(&t->cpumask, (uint32_t)only_core, true);
	} else {
		spio_cpuset_negate(&t->cpumask);
	}
	/* The core's ticks are the sum of its threads' (one period of 1000 each). */
	c->current_busy_tsc += busy;
	return t;
}

/* Give every core a period of `ticks` in all: idle is what its threads left. */
static void fx_close(struct fixture *f, uint64_t ticks)
{
	for (uint32_t i = 0; i < f->n; i++) {
		f->cores[i].current_idle_tsc = ticks - f->cores[i].current_busy_tsc;
	}
}

static void fx_run(struct fixture *f, const struct scheduler_dynamic_opts *o, uint32_t main_core)
{
	int rc = scheduler_dynamic_policy(f->cores, f->n, o, main_core);

	cr_assert_eq(rc, 0, "policy: expected 0, got %d", rc);
}

Test(scheduler, policy_gathers_idle_threads_on_the_main_core)
{
	struct fixture f;
	struct spio_scheduler_thread_info *a, *b, *c;

	fx_init(&f, 3);
	a = fx_thread(&f, 0, 10, 1, -1);
	b = fx_thread(&f, 1, 50, 2, -1);
	c = fx_thread(&f, 2, 0, 3, 2); /* idle and pinned to core 2: gathered anyway, as SPDK */
	fx_close(&f, 1000);
	fx_run(&f, &g_defaults, 0);
	cr_assert_eq(a->lcore, 0, "idle thread on the main core: expected 0, got %u", a->lcore);
	cr_assert_eq(b->lcore, 0, "idle thread (5 %%): expected core 0, got %u", b->lcore);
	cr_assert_eq(c->lcore, 0, "idle pinned thread: expected core 0, got %u", c->lcore);
	cr_assert(!f.cores[0].interrupt_mode, "the main core keeps its threads: no interrupt mode");
	cr_assert(f.cores[1].interrupt_mode && f.cores[2].interrupt_mode,
		  "emptied cores: expected interrupt mode, got %d %d", f.cores[1].interrupt_mode,
		  f.cores[2].interrupt_mode);
}

Test(scheduler, policy_load_limit_decides_idle_or_active)
{
	struct fixture f;
	struct scheduler_dynamic_opts o = g_defaults;
	struct spio_scheduler_thread_info *a;

	/* 25 % busy: active under the default 20 %, on its own core with the
	 * main core full: it stays. */
	fx_init(&f, 2);
	fx_thread(&f, 0, 950, 1, 0);
	a = fx_thread(&f, 1, 250, 2, -1);
	fx_close(&f, 1000);
	fx_run(&f, &o, 0);
	cr_assert_eq(a->lcore, 1, "active thread (25 %% >= 20 %%): expected to stay on 1, got %u",
		     a->lcore);

	/* The same with load_limit 30: idle, gathered on the main core. */
	fx_init(&f, 2);
	fx_thread(&f, 0, 950, 1, 0);
	a = fx_thread(&f, 1, 250, 2, -1);
	fx_close(&f, 1000);
	o.load_limit = 30;
	fx_run(&f, &o, 0);
	cr_assert_eq(a->lcore, 0, "idle thread (25 %% < 30 %%): expected core 0, got %u", a->lcore);
}

Test(scheduler, policy_consolidates_an_active_thread_where_it_fits)
{
	struct fixture f;
	struct spio_scheduler_thread_info *a, *b;

	/* The main core is nearly idle: a 60 % thread on core 2 fits there. */
	fx_init(&f, 3);
	fx_thread(&f, 0, 5, 1, -1);
	a = fx_thread(&f, 2, 600, 2, -1);
	fx_close(&f, 1000);
	fx_run(&f, &g_defaults, 0);
	cr_assert_eq(a->lcore, 0, "expected the main core (room for 60 %%), got %u", a->lcore);

	/* Two 60 % threads: the second no longer fits on the main core (over
	 * core_limit 80 %), and core 1, lower than its core 2, is empty. */
	fx_init(&f, 3);
	a = fx_thread(&f, 1, 600, 1, -1);
	b = fx_thread(&f, 2, 600, 2, -1);
	fx_close(&f, 1000);
	fx_run(&f, &g_defaults, 0);
	cr_assert_eq(a->lcore, 0, "first 60 %% thread: expected the main core, got %u", a->lcore);
	cr_assert_eq(b->lcore, 1, "second 60 %% thread: expected core 1 (lower, empty), got %u",
		     b->lcore);
	cr_assert(!f.cores[1].interrupt_mode && f.cores[2].interrupt_mode,
		  "core 1 keeps a thread, core 2 is empty: got %d %d", f.cores[1].interrupt_mode,
		  f.cores[2].interrupt_mode);
}

Test(scheduler, policy_respects_the_cpumask_of_active_threads)
{
	struct fixture f;
	struct spio_scheduler_thread_info *a;

	fx_init(&f, 3);
	a = fx_thread(&f, 2, 600, 1, 2);
	fx_close(&f, 1000);
	fx_run(&f, &g_defaults, 0);
	cr_assert_eq(a->lcore, 2, "active thread pinned to core 2: expected 2, got %u", a->lcore);
}

Test(scheduler, policy_spreads_an_overloaded_core)
{
	struct fixture f;
	struct spio_scheduler_thread_info *a, *b, *m;

	/* The main core is full with its own busy thread; core 1 holds two
	 * threads of 50 % each (100 %: at the limit); core 2 is empty. */
	fx_init(&f, 3);
	m = fx_thread(&f, 0, 900, 1, 0);
	a = fx_thread(&f, 1, 500, 2, -1);
	b = fx_thread(&f, 1, 500, 3, -1);
	fx_close(&f, 1000);
	fx_run(&f, &g_defaults, 0);
	cr_assert_eq(m->lcore, 0, "pinned main thread stays: got %u", m->lcore);
	cr_assert_eq(a->lcore, 2, "first thread of the overloaded core: expected core 2, got %u",
		     a->lcore);
	/* Core 1 was at 100 % (>= core_busy 95): after losing a thread it is
	 * still estimated at core_limit; the second thread does not fit on 2
	 * either (50 + 50 >= 80): it stays. */
	cr_assert_eq(b->lcore, 1, "second thread: expected to stay on core 1, got %u", b->lcore);
}

Test(scheduler, policy_edge_cases)
{
	struct fixture f;
	struct spio_scheduler_thread_info *a;

	/* No ticks at all: load 0, idle, gathered. */
	fx_init(&f, 2);
	a = fx_thread(&f, 1, 0, 1, -1);
	a->current_stats.idle_tsc = 0;
	fx_run(&f, &g_defaults, 0);
	cr_assert_eq(a->lcore, 0, "a thread that never ran: expected core 0, got %u", a->lcore);

	/* A main core that is not among the cores: idle threads stay. */
	fx_init(&f, 2);
	a = fx_thread(&f, 1, 0, 1, -1);
	fx_close(&f, 1000);
	fx_run(&f, &g_defaults, 7);
	cr_assert_eq(a->lcore, 1, "no main core: expected to stay on 1, got %u", a->lcore);

	/* No cores. */
	cr_assert_eq(scheduler_dynamic_policy(NULL, 0, &g_defaults, 0), 0);

	/* Huge tick counts do not overflow the percentages. */
	fx_init(&f, 2);
	a = fx_thread(&f, 1, 0, 1, -1);
	a->current_stats.busy_tsc = UINT64_MAX / 2;
	a->current_stats.idle_tsc = UINT64_MAX / 4;
	f.cores[1].current_busy_tsc = UINT64_MAX / 2;
	f.cores[1].current_idle_tsc = UINT64_MAX / 4;
	f.cores[0].current_idle_tsc = UINT64_MAX / 2;
	fx_run(&f, &g_defaults, 0);
	cr_assert_eq(a->lcore, 0, "66 %% busy thread, empty main core: expected 0, got %u",
		     a->lcore);
}

/*
 * Helpers for the app-based tests.
 */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static void app_opts(struct spio_app_opts *o, const char *name)
{
	spio_app_opts_init(o, sizeof(*o));
	o->name = name;
	o->reactor_mask = "0x3";
	o->rpc_addr = NULL;
	o->no_huge = true;
}

static struct spio_cpuset mask_of(uint32_t core)
{
	struct spio_cpuset m;

	spio_cpuset_zero(&m);
	spio_cpuset_set_cpu(&m, core, true);
	return m;
}

static struct spio_cpuset mask_all(void)
{
	struct spio_cpuset m;

	spio_cpuset_zero(&m);
	spio_cpuset_set_cpu(&m, 0, true);
	spio_cpuset_set_cpu(&m, 1, true);
	return m;
}

/*
 * Moves under load.
 */

#define N_RECV 4
#define N_SEND 2
#define N_MSGS 100000 /* per sender and receiver */
#define SEND_BURST 64
#define CH_MAGIC 0x5ced5ced

struct chan_ctx {
	uint32_t magic;
	struct spio_thread *owner;
};

static int g_dev;

static int chan_create(void *dev, void *buf)
{
	struct chan_ctx *c = buf;

	c->magic = CH_MAGIC;
	c->owner = spio_get_thread();
	return 0;
}

static void chan_destroy(void *dev, void *buf)
{
	struct chan_ctx *c = buf;

	c->magic = 0;
}

struct receiver {
	struct spio_thread *thread;
	struct spio_poller *active;
	struct spio_poller *mover;
	struct spio_io_channel *ch;
	uint64_t next_seq[N_SEND];
	uint64_t received;
	uint64_t polls;
	bool poll_pending; /* a move was seen by a message; the poller has not run since */
	uint32_t last_core;
	uint32_t core_changes;
	uint32_t polls_kept; /* core changes after which the poller ran again */
	uint64_t errors;
	char first_error[160];
	bool self_moving; /* moves itself with spio_thread_set_cpumask */
	uint32_t flip;
	bool done;
};

struct sender {
	struct spio_thread *thread;
	struct spio_poller *poller;
	uint64_t next_seq[N_RECV];
	uint64_t retries;
};

static struct {
	struct receiver r[N_RECV];
	struct sender s[N_SEND];
	pthread_t mover;
	int receivers_done;
	int threads_left;
	int dev_gone;
	int stop;
	uint64_t move_requests;
	int rc;
} g_ml;

static void recv_error(struct receiver *r, const char *fmt, uint64_t a, uint64_t b)
{
	if (r->errors++ == 0) {
		snprintf(r->first_error, sizeof(r->first_error), fmt, (unsigned long)a,
			 (unsigned long)b);
	}
}

static void recv_note_core(struct receiver *r, bool from_poller)
{
	uint32_t core = spio_reactor_get_current_core();

	if (core != r->last_core) {
		if (r->last_core != UINT32_MAX) {
			r->core_changes++;
			r->poll_pending = true;
		}
		r->last_core = core;
	}
	if (from_poller && r->poll_pending) {
		r->poll_pending = false;
		r->polls_kept++;
	}
}

/* The mover stops the app once every thread finished (see mover_main). */
static void thread_finished(void)
{
	__atomic_sub_fetch(&g_ml.threads_left, 1, __ATOMIC_ACQ_REL);
}

static void dev_unregistered(void *dev)
{
	__atomic_store_n(&g_ml.dev_gone, 1, __ATOMIC_RELEASE);
}

/* On the app thread, which outlives the channels: unregister_cb comes back here. */
static void dev_unregister(void *arg)
{
	spio_io_device_unregister(&g_dev, dev_unregistered);
}

static void recv_msg(void *ctx)
{
	uintptr_t v = (uintptr_t)ctx;
	uint32_t ri = v & 0xf, si = (v >> 4) & 0xf;
	uint64_t seq = v >> 8;
	struct receiver *r = &g_ml.r[ri];
	struct chan_ctx *c = spio_io_channel_get_ctx(r->ch);

	if (spio_get_thread() != r->thread) {
		recv_error(r, "message for receiver %lu ran on another thread (sender %lu)", ri,
			   si);
	}
	if (seq != r->next_seq[si]) {
		recv_error(r, "out of order: expected %lu, got %lu", r->next_seq[si], seq);
	}
	r->next_seq[si] = seq + 1;
	if (c->magic != CH_MAGIC || c->owner != r->thread ||
	    spio_io_channel_get_thread(r->ch) != r->thread) {
		recv_error(r, "io_channel not valid after %lu moves (magic %lx)", r->core_changes,
			   c->magic);
	}
	recv_note_core(r, false);
	if (++r->received == (uint64_t)N_SEND * N_MSGS && !r->done) {
		r->done = true;
		__atomic_add_fetch(&g_ml.receivers_done, 1, __ATOMIC_ACQ_REL);
	}
}

static int recv_active(void *arg)
{
	struct receiver *r = arg;

	if (spio_get_thread() != r->thread) {
		recv_error(r, "poller of receiver ran on another thread (%lu %lu)", 0, 0);
	}
	r->polls++;
	recv_note_core(r, true);
	return SPIO_POLLER_IDLE;
}

/* Timed poller of the self-moving receivers: flip the mask between core 0 and 1. */
static int recv_mover(void *arg)
{
	struct receiver *r = arg;
	struct spio_cpuset m = mask_of(r->flip++ & 1);
	int rc;

	if (__atomic_load_n(&g_ml.stop, __ATOMIC_ACQUIRE)) {
		return SPIO_POLLER_IDLE;
	}
	rc = spio_thread_set_cpumask(&m);
	if (rc != 0) {
		recv_error(r, "spio_thread_set_cpumask: %lu (flip %lu)", (uint64_t)-rc, r->flip);
	}
	return SPIO_POLLER_BUSY;
}

static void recv_start(void *arg)
{
	struct receiver *r = arg;

	r->last_core = UINT32_MAX;
	r->ch = spio_get_io_channel(&g_dev);
	r->active = spio_poller_register(recv_active, r, 0);
	if (r->self_moving) {
		r->mover = spio_poller_register(recv_mover, r, 300);
	}
	if (r->ch == NULL || r->active == NULL || (r->self_moving && r->mover == NULL)) {
		recv_error(r, "set-up failed (%lu %lu)", 0, 0);
	}
}

static void recv_stop(void *arg)
{
	struct receiver *r = arg;

	spio_poller_unregister(&r->active);
	spio_poller_unregister(&r->mover);
	spio_put_io_channel(r->ch);
	r->ch = NULL;
	spio_thread_exit(r->thread);
	thread_finished();
}

static int send_poll(void *arg)
{
	struct sender *s = arg;
	uint32_t si = (uint32_t)(s - g_ml.s);
	bool all = true;

	for (uint32_t ri = 0; ri < N_RECV; ri++) {
		for (int k = 0; k < SEND_BURST && s->next_seq[ri] < N_MSGS; k++) {
			uintptr_t v = (uintptr_t)((s->next_seq[ri] << 8) | (si << 4) | ri);

			if (spio_thread_send_msg(g_ml.r[ri].thread, recv_msg, (void *)v) != 0) {
				s->retries++; /* ring full: again next poll */
				break;
			}
			s->next_seq[ri]++;
		}
		all &= s->next_seq[ri] == N_MSGS;
	}
	if (all) {
		spio_poller_unregister(&s->poller);
		spio_thread_exit(s->thread);
		thread_finished();
	}
	return SPIO_POLLER_BUSY;
}

static void send_start(void *arg)
{
	struct sender *s = arg;

	s->poller = spio_poller_register(send_poll, s, 0);
}

/* An OS thread outside the app: moves the other receivers by event, back and forth. */
static void *mover_main(void *arg)
{
	uint32_t flip = 0;

	while (__atomic_load_n(&g_ml.receivers_done, __ATOMIC_ACQUIRE) < N_RECV) {
		for (uint32_t ri = 0; ri < N_RECV; ri++) {
			if (g_ml.r[ri].self_moving) {
				continue;
			}
			/* The request reaching the reactor the thread is not on is ignored. */
			reactor_request_move(flip & 1, spio_thread_get_id(g_ml.r[ri].thread),
					     (flip + 1) & 1);
			__atomic_add_fetch(&g_ml.move_requests, 1, __ATOMIC_RELAXED);
		}
		flip++;
		usleep(200);
	}
	__atomic_store_n(&g_ml.stop, 1, __ATOMIC_RELEASE);
	for (uint32_t ri = 0; ri < N_RECV; ri++) {
		spio_thread_send_msg(g_ml.r[ri].thread, recv_stop, &g_ml.r[ri]);
	}
	/* Stopped from here, after this thread's last send: a sender must not
	 * outlive the thread library (its wake-up slots go at the app's end). */
	while (__atomic_load_n(&g_ml.threads_left, __ATOMIC_ACQUIRE) != 0) {
		usleep(100);
	}
	spio_thread_send_msg(spio_app_get_thread(), dev_unregister, NULL);
	while (!__atomic_load_n(&g_ml.dev_gone, __ATOMIC_ACQUIRE)) {
		usleep(100);
	}
	spio_app_stop(g_ml.rc);
	return NULL;
}

static void move_load_start(void *arg)
{
	struct spio_cpuset all = mask_all();

	spio_io_device_register(&g_dev, chan_create, chan_destroy, sizeof(struct chan_ctx),
				"sched_test_dev");
	g_ml.threads_left = N_RECV + N_SEND;
	for (uint32_t ri = 0; ri < N_RECV; ri++) {
		char name[32];

		snprintf(name, sizeof(name), "recv%u", ri);
		g_ml.r[ri].self_moving = ri % 2 == 0;
		g_ml.r[ri].thread = spio_thread_create(name, &all);
		cr_assert_not_null(g_ml.r[ri].thread);
		spio_thread_send_msg(g_ml.r[ri].thread, recv_start, &g_ml.r[ri]);
	}
	for (uint32_t si = 0; si < N_SEND; si++) {
		struct spio_cpuset one = mask_of(si);
		char name[32];

		snprintf(name, sizeof(name), "send%u", si);
		g_ml.s[si].thread = spio_thread_create(name, &one);
		cr_assert_not_null(g_ml.s[si].thread);
		spio_thread_send_msg(g_ml.s[si].thread, send_start, &g_ml.s[si]);
	}
	pthread_create(&g_ml.mover, NULL, mover_main, NULL);
}

Test(scheduler, threads_move_under_a_message_stream)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	app_opts(&o, "test_sched_move");
	rc = spio_app_start(&o, move_load_start, NULL);
	pthread_join(g_ml.mover, NULL);
	cr_assert_eq(rc, 0, "app: expected 0, got %d", rc);
	for (uint32_t ri = 0; ri < N_RECV; ri++) {
		struct receiver *r = &g_ml.r[ri];

		fprintf(stderr,
			"receiver %u (%s): %lu messages, %u moves, %lu polls, poller ran after "
			"%u moves\n",
			ri, r->self_moving ? "set_cpumask" : "by event", (unsigned long)r->received,
			r->core_changes, (unsigned long)r->polls, r->polls_kept);
		cr_assert_eq(r->errors, 0, "receiver %u: %lu errors, first: %s", ri,
			     (unsigned long)r->errors, r->first_error);
		cr_assert_eq(r->received, (uint64_t)N_SEND * N_MSGS,
			     "receiver %u: expected %d messages, got %lu", ri, N_SEND * N_MSGS,
			     (unsigned long)r->received);
		for (uint32_t si = 0; si < N_SEND; si++) {
			cr_assert_eq(r->next_seq[si], N_MSGS,
				     "receiver %u from sender %u: expected up to seq %d, got %lu",
				     ri, si, N_MSGS, (unsigned long)r->next_seq[si]);
		}
		cr_assert_geq(r->core_changes, 10, "receiver %u moved only %u times", ri,
			      r->core_changes);
		cr_assert_geq(r->polls_kept + 1, r->core_changes,
			      "receiver %u: its poller ran after %u of %u moves", ri, r->polls_kept,
			      r->core_changes);
	}
}

/*
 * The dynamic scheduler in a running app, then back to static.
 */

static struct {
	struct spio_thread *idle[2];
	struct spio_thread *busy;
	struct spio_poller *busy_poller;
	uint32_t initial[2];
	bool make_busy;
	pthread_t driver;
	int rc;
	char why[200];
	uint64_t sleeps_before, sleeps_after;
} g_dy;

struct where_ctx {
	uint32_t core;
	int done;
};

static void where_msg(void *arg)
{
	struct where_ctx *w = arg;

	w->core = spio_reactor_get_current_core();
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

/* From an OS thread outside the app: the core `t` runs on now. */
static uint32_t where_is(struct spio_thread *t)
{
	struct where_ctx w = {.core = UINT32_MAX};

	if (spio_thread_send_msg(t, where_msg, &w) != 0) {
		return UINT32_MAX;
	}
	while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) {
		sleep_ms(1);
	}
	return w.core;
}

/* Wait (up to 20 s) until `t` runs on `core`. */
static bool wait_on_core(struct spio_thread *t, uint32_t core)
{
	for (int i = 0; i < 2000; i++) {
		if (where_is(t) == core) {
			return true;
		}
		sleep_ms(10);
	}
	return false;
}

static int busy_poll(void *arg)
{
	return SPIO_POLLER_BUSY;
}

static void busy_start(void *arg)
{
	g_dy.busy_poller = spio_poller_register(busy_poll, NULL, 0);
}

static void busy_stop(void *arg)
{
	spio_poller_unregister(&g_dy.busy_poller);
}

struct sched_call {
	const char *json;
	int code;
	int done;
};

static void sched_call_done(void *ctx, int code, const char *msg, const struct spio_json_val *res)
{
	struct sched_call *c = ctx;

	c->code = code;
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
}

static void sched_call_msg(void *arg)
{
	struct sched_call *c = arg;
	struct spio_json_val *params = spio_json_parse(c->json, strlen(c->json), NULL, 0);

	if (spio_rpc_call("framework_set_scheduler", params, sched_call_done, c) != 0) {
		c->code = -1;
		__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	}
	spio_json_val_free(params);
}

/* framework_set_scheduler with `json` params, on the app thread, from outside. */
static int set_scheduler(const char *json)
{
	struct sched_call c = {.json = json};

	spio_thread_send_msg(spio_app_get_thread(), sched_call_msg, &c);
	while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE)) {
		sleep_ms(1);
	}
	return c.code;
}

static void exit_self(void *arg)
{
	spio_thread_exit(spio_get_thread());
}

#define DY_FAIL(...)                                               \
	do {                                                       \
		snprintf(g_dy.why, sizeof(g_dy.why), __VA_ARGS__); \
		g_dy.rc = -1;                                      \
		goto out;                                          \
	} while (0)

static void *dynamic_driver(void *arg)
{
	struct spio_reactor_stats st;
	char json[128];
	uint32_t other;
	int rc;

	/* Round-robin placement: one of the two idle threads starts on core 1. */
	g_dy.initial[0] = where_is(g_dy.idle[0]);
	g_dy.initial[1] = where_is(g_dy.idle[1]);
	if (g_dy.initial[0] == g_dy.initial[1]) {
		DY_FAIL("round-robin placement put both threads on core %u", g_dy.initial[0]);
	}
	rc = set_scheduler("{\"name\": \"dynamic\", \"period\": 20000}");
	if (rc != 0) {
		DY_FAIL("framework_set_scheduler dynamic: %d", rc);
	}
	for (int i = 0; i < 2; i++) {
		if (!wait_on_core(g_dy.idle[i], 0)) {
			DY_FAIL("idle thread %d not gathered on the main core", i);
		}
	}
	/* Reactor 1 is left without threads: it sleeps. */
	spio_reactor_get_stats(1, &st);
	g_dy.sleeps_before = st.sleep_count;
	sleep_ms(200);
	spio_reactor_get_stats(1, &st);
	g_dy.sleeps_after = st.sleep_count;
	if (st.thread_count != 0) {
		DY_FAIL("reactor 1 still runs %u threads", st.thread_count);
	}
	if (g_dy.sleeps_after <= g_dy.sleeps_before && !st.sleeping) {
		DY_FAIL("reactor 1 without threads did not sleep (%lu sleeps)",
			(unsigned long)st.sleep_count);
	}
	/* A thread turning busy on the crowded main core goes to core 1. */
	spio_thread_send_msg(g_dy.idle[1], busy_start, NULL);
	if (!wait_on_core(g_dy.idle[1], 1)) {
		DY_FAIL("the busy thread was not moved to core 1");
	}
	spio_thread_send_msg(g_dy.idle[1], busy_stop, NULL);
	/* Back to static: every thread returns to where it was first placed. */
	rc = set_scheduler("{\"name\": \"static\"}");
	if (rc != 0) {
		DY_FAIL("framework_set_scheduler static: %d", rc);
	}
	for (int i = 0; i < 2; i++) {
		if (!wait_on_core(g_dy.idle[i], g_dy.initial[i])) {
			DY_FAIL("thread %d not back on core %u", i, g_dy.initial[i]);
		}
	}
	if (spio_scheduler_get_period() != 0) {
		DY_FAIL("static: expected period 0 after the restoring round, got %lu",
			(unsigned long)spio_scheduler_get_period());
	}
	/* Static's mappings move a thread now, and hold when static comes back. */
	other = 1 - g_dy.initial[0];
	snprintf(json, sizeof(json), "{\"name\": \"static\", \"mappings\": \"%lu:%u\"}",
		 (unsigned long)spio_thread_get_id(g_dy.idle[0]), other);
	rc = set_scheduler(json);
	if (rc != 0) {
		DY_FAIL("%s: %d", json, rc);
	}
	if (!wait_on_core(g_dy.idle[0], other)) {
		DY_FAIL("mapped thread not moved to core %u", other);
	}
	if (set_scheduler("{\"name\": \"dynamic\", \"period\": 20000}") != 0 ||
	    !wait_on_core(g_dy.idle[0], 0) || !wait_on_core(g_dy.idle[1], 0)) {
		DY_FAIL("dynamic again: idle threads not gathered on core 0");
	}
	if (set_scheduler("{\"name\": \"static\"}") != 0 || !wait_on_core(g_dy.idle[0], other) ||
	    !wait_on_core(g_dy.idle[1], g_dy.initial[1])) {
		DY_FAIL("static again: the mapping (core %u) or the first core (%u) not restored",
			other, g_dy.initial[1]);
	}
out:
	for (int i = 0; i < 2; i++) {
		spio_thread_send_msg(g_dy.idle[i], busy_stop, NULL);
		spio_thread_send_msg(g_dy.idle[i], exit_self, NULL);
	}
	spio_app_stop(g_dy.rc);
	return NULL;
}

static void dynamic_start(void *arg)
{
	struct spio_cpuset all = mask_all();

	g_dy.idle[0] = spio_thread_create("idle0", &all);
	g_dy.idle[1] = spio_thread_create("idle1", &all);
	cr_assert(g_dy.idle[0] != NULL && g_dy.idle[1] != NULL);
	pthread_create(&g_dy.driver, NULL, dynamic_driver, NULL);
}

Test(scheduler, dynamic_gathers_spreads_and_static_restores)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	app_opts(&o, "test_sched_dynamic");
	rc = spio_app_start(&o, dynamic_start, NULL);
	pthread_join(g_dy.driver, NULL);
	cr_assert_eq(g_dy.rc, 0, "%s", g_dy.why);
	cr_assert_eq(rc, 0, "app: expected 0, got %d", rc);
}

/*
 * spio_thread_set_cpumask: bad input.
 */

static struct {
	int rc_null, rc_no_reactor, rc_app_off_main, rc_app_on_main, rc_outside;
} g_bad;

static void bad_start(void *arg)
{
	struct spio_cpuset none, far = mask_of(40), one = mask_of(1), zero = mask_of(0);

	spio_cpuset_zero(&none);
	g_bad.rc_null = spio_thread_set_cpumask(NULL);
	g_bad.rc_no_reactor = spio_thread_set_cpumask(&far);
	g_bad.rc_app_off_main = spio_thread_set_cpumask(&one);
	g_bad.rc_app_on_main = spio_thread_set_cpumask(&zero);
	spio_app_stop(0);
}

Test(scheduler, set_cpumask_refuses_bad_input)
{
	struct spio_app_opts o;
	struct spio_cpuset one = mask_of(0);
	int rc;

	NEED_TWO_CORES();
	g_bad.rc_outside = spio_thread_set_cpumask(&one);
	app_opts(&o, "test_sched_bad");
	rc = spio_app_start(&o, bad_start, NULL);
	cr_assert_eq(rc, 0);
	cr_assert_eq(g_bad.rc_outside, -EINVAL, "outside a thread: expected -EINVAL, got %d",
		     g_bad.rc_outside);
	cr_assert_eq(g_bad.rc_null, -EINVAL, "NULL: expected -EINVAL, got %d", g_bad.rc_null);
	cr_assert_eq(g_bad.rc_no_reactor, -EINVAL, "no reactor core: expected -EINVAL, got %d",
		     g_bad.rc_no_reactor);
	cr_assert_eq(g_bad.rc_app_off_main, -EPERM,
		     "app thread off the main core: expected -EPERM, got %d",
		     g_bad.rc_app_off_main);
	cr_assert_eq(g_bad.rc_app_on_main, 0, "app thread, mask with the main core: got %d",
		     g_bad.rc_app_on_main);
}

/*
 * The RPCs, in process.
 */

struct rpc_res {
	int code;
	char msg[256];
	char *json;
};

static struct rpc_res g_res;

static void rpc_cb(void *ctx, int code, const char *msg, const struct spio_json_val *res)
{
	free(g_res.json);
	g_res.code = code;
	snprintf(g_res.msg, sizeof(g_res.msg), "%s", msg ? msg : "");
	g_res.json = res != NULL ? spio_json_dump(res) : NULL;
}

/* Call on the app thread; every method here answers synchronously. */
static int call(const char *method, const char *params)
{
	struct spio_json_val *p = params ? spio_json_parse(params, strlen(params), NULL, 0) : NULL;
	int rc;

	g_res.code = 12345;
	rc = spio_rpc_call(method, p, rpc_cb, NULL);
	spio_json_val_free(p);
	cr_assert_eq(rc, 0, "%s: spio_rpc_call: %d", method, rc);
	cr_assert_neq(g_res.code, 12345, "%s did not answer synchronously", method);
	return g_res.code;
}

static bool res_has(const char *needle)
{
	return g_res.json != NULL && strstr(g_res.json, needle) != NULL;
}

static void rpc_start(void *arg)
{
	/* The scheduler subsystem set the default. */
	cr_expect_eq(call("framework_get_scheduler", NULL), 0);
	cr_expect(res_has("\"scheduler_name\":\"static\"") && res_has("\"scheduler_period\":0") &&
		      res_has("\"scheduling_core\":0") && res_has("\"isolated_core_mask\":\"0\""),
		  "default: got %s", g_res.json);

	cr_expect_eq(call("framework_set_scheduler", "{\"name\":\"dynamic\",\"period\":424242}"), 0,
		     "set dynamic: %s", g_res.msg);
	cr_expect_eq(call("framework_get_scheduler", "{}"), 0);
	cr_expect(res_has("\"scheduler_name\":\"dynamic\"") &&
		      res_has("\"scheduler_period\":424242") && res_has("\"load_limit\":20") &&
		      res_has("\"core_limit\":80") && res_has("\"core_busy\":95"),
		  "dynamic: got %s", g_res.json);

	cr_expect_eq(call("framework_set_scheduler", "{\"name\":\"dynamic\",\"core_limit\":42}"),
		     0);
	cr_expect_eq(call("framework_set_scheduler", "{\"name\":\"static\"}"), 0);
	cr_expect_eq(call("framework_set_scheduler", "{\"name\":\"dynamic\"}"), 0);
	cr_expect_eq(call("framework_get_scheduler", NULL), 0);
	/* The options stay; the period does not (static has none, then the
	 * default applies, as in SPDK). */
	cr_expect(res_has("\"core_limit\":42") && res_has("\"scheduler_period\":1000000"),
		  "options kept across a switch: got %s", g_res.json);

	/* Bad input. */
	cr_expect_eq(call("framework_set_scheduler", "{\"name\":\"nope\"}"),
		     SPIO_JSONRPC_ERROR_INTERNAL_ERROR);
	cr_expect(strstr(g_res.msg, "nope") != NULL, "unknown scheduler: got '%s'", g_res.msg);
	cr_expect_eq(call("framework_set_scheduler", "{\"name\":\"dynamic\",\"load_limit\":256}"),
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS);
	cr_expect_eq(call("framework_set_scheduler", "{\"period\":5}"),
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS);
	cr_expect_eq(call("framework_set_scheduler", "{\"name\":\"dynamic\",\"bogus\":1}"),
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS);
	/* Static's mappings: thread 1 is the app thread, pinned to core 0
	 * ("1:0,," would pass: empty pairs are skipped, as in SPDK). */
	static const char *const bad_maps[] = {
	    "1:1", "99999:0", "1:7", "1:0,x", "", "1:", ":0", "-1:0", "1:-0", "1:0:0", "0:0",
	};
	for (size_t i = 0; i < sizeof(bad_maps) / sizeof(bad_maps[0]); i++) {
		char p[128];

		snprintf(p, sizeof(p), "{\"name\":\"static\",\"mappings\":\"%s\"}", bad_maps[i]);
		cr_expect_eq(call("framework_set_scheduler", p), SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
			     "mappings '%s': expected a refusal, got %d", bad_maps[i], g_res.code);
	}
	cr_expect_eq(call("framework_set_scheduler", "{\"name\":\"static\",\"mappings\":\"1:0\"}"),
		     0, "a valid mapping: %s", g_res.msg);
	cr_expect_eq(call("framework_set_scheduler", "{\"name\":\"dynamic\",\"mappings\":\"1:0\"}"),
		     SPIO_JSONRPC_ERROR_INTERNAL_ERROR, "mappings are static's");
	cr_expect_eq(call("framework_set_scheduler", "{\"name\":\"static\"}"), 0);
	cr_expect_eq(call("framework_get_scheduler", "{\"x\":1}"),
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS);
	cr_expect_eq(call("framework_get_scheduler", NULL), 0);
	cr_expect(res_has("\"scheduler_name\":\"static\"") && res_has("\"core_limit\":42") == false,
		  "after the refused calls: got %s", g_res.json);
	cr_expect_eq(call("thread_set_cpumask", "{\"id\":1,\"cpumask\":\"0x100\"}"),
		     SPIO_JSONRPC_ERROR_INTERNAL_ERROR);
	cr_expect(strstr(g_res.msg, "No CPU is selected from reactor mask 3") != NULL, "got '%s'",
		  g_res.msg);
	cr_expect_eq(call("thread_set_cpumask", "{\"id\":1,\"cpumask\":\"zz\"}"),
		     SPIO_JSONRPC_ERROR_INTERNAL_ERROR);
	cr_expect_eq(call("thread_set_cpumask", "{\"cpumask\":\"0x1\"}"),
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS);
	free(g_res.json);
	g_res.json = NULL;
	spio_app_stop(0);
}

Test(scheduler, rpcs_in_process)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	app_opts(&o, "test_sched_rpc");
	rc = spio_app_start(&o, rpc_start, NULL);
	cr_assert_eq(rc, 0);
}
