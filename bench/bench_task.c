/*
 * bench_task: costs of the task layer, one JSON object per line.
 *
 *   yield_switch      two tasks yield to each other; ns per switch (one yield)
 *   spawn_finish      spawn a detached no-op task and let it finish; ns per task
 *   spawn_join        a task spawns a joinable no-op child and joins it; ns per pair
 *   await_vs_callback an operation "completes" N times in a row, delivered as a
 *                     plain callback or as a spio_completion awaited by a task
 *                     (resumed by spio_completion_done); ns each and the ratio
 *   async_op          the same through a real asynchronous round trip: a poller
 *                     of the thread completes one queued operation per call,
 *                     driven by a callback chain or by a task awaiting each one
 *
 * Each case runs for about `-t` ms (default 300) after a warm-up; the best of
 * 3 runs is printed:
 *   {"bench":"task","case":"yield_switch","ops":...,"seconds":...,"ns_per_op":...}
 *
 * Usage: bench_task [-t ms_per_run] [-c case]   (case: yield, spawn, join, await, async)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/task.h"
#include "spio/thread.h"
#include "spio/util.h"

#define RUNS 3
#define BATCH 1024 /* operations between two clock reads */

static struct spio_thread *g_thread;
static uint64_t g_duration_ticks;

static void print_result(const char *name, uint64_t ops, uint64_t ticks, const char *extra_name,
			 double extra)
{
	struct spio_json_write_ctx *w = spio_json_write_begin(bench_file_write_cb, stdout, 0);

	if (w == NULL) {
		return;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "bench", "task");
	spio_json_write_named_string(w, "case", name);
	spio_json_write_named_uint64(w, "ops", ops);
	spio_json_write_named_double(w, "seconds",
				     bench_round_to(bench_ticks_to_ns(ticks) / 1e9, 4));
	spio_json_write_named_double(w, "ns_per_op",
				     bench_round_to(bench_ticks_to_ns(ticks) / ops, 2));
	if (extra_name != NULL) {
		spio_json_write_named_double(w, extra_name, bench_round_to(extra, 2));
	}
	spio_json_write_object_end(w);
	spio_json_write_end(w);
	fputc('\n', stdout);
	fflush(stdout);
}

/* Poll the thread until *done; returns the ticks it took. */
static uint64_t poll_until(volatile bool *done)
{
	uint64_t start = spio_get_ticks();

	while (!*done) {
		spio_thread_poll(g_thread, 0, 0);
	}
	return spio_get_ticks() - start;
}

struct measure {
	uint64_t ops;
	uint64_t ticks;
};

static void keep_best(struct measure *best, const struct measure *m)
{
	if (best->ops == 0 ||
	    (double)m->ticks / (double)m->ops < (double)best->ticks / (double)best->ops) {
		*best = *m;
	}
}

/*
 * yield_switch
 */

struct pingpong {
	uint64_t end;
	uint64_t yields;
	int running;
	volatile bool done;
};

static int yield_task(void *arg)
{
	struct pingpong *pp = arg;

	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			spio_task_yield();
		}
		pp->yields += BATCH;
		if (spio_get_ticks() >= pp->end) {
			break;
		}
	}
	if (--pp->running == 0) {
		pp->done = true;
	}
	return 0;
}

static int bench_yield(void)
{
	struct measure best = {0};

	for (int run = 0; run <= RUNS; run++) {
		struct pingpong pp = {.running = 2};
		struct measure m;

		pp.end = spio_get_ticks() + (run == 0 ? g_duration_ticks / 4 : g_duration_ticks);
		if (spio_task_spawn(yield_task, &pp, NULL, NULL) != 0 ||
		    spio_task_spawn(yield_task, &pp, NULL, NULL) != 0) {
			return -ENOMEM;
		}
		m.ticks = poll_until(&pp.done);
		m.ops = pp.yields;
		if (run > 0) { /* run 0 warms up */
			keep_best(&best, &m);
		}
	}
	print_result("yield_switch", best.ops, best.ticks, NULL, 0);
	return 0;
}

/*
 * spawn_finish, spawn_join
 */

static int noop_task(void *arg)
{
	return 0;
}

static int bench_spawn(void)
{
	struct measure best = {0};

	for (int run = 0; run <= RUNS; run++) {
		uint64_t start = spio_get_ticks(), end = start + g_duration_ticks, now;
		struct measure m = {0};

		do {
			for (int i = 0; i < 64; i++) {
				if (spio_task_spawn(noop_task, NULL, NULL, NULL) != 0) {
					return -ENOMEM;
				}
			}
			while (spio_task_get_count() > 0) {
				spio_thread_poll(g_thread, 0, 0);
			}
			m.ops += 64;
			now = spio_get_ticks();
		} while (now < end);
		m.ticks = now - start;
		if (run > 0) {
			keep_best(&best, &m);
		}
	}
	print_result("spawn_finish", best.ops, best.ticks, NULL, 0);
	return 0;
}

struct join_loop {
	uint64_t end;
	uint64_t ops;
	int rc;
	volatile bool done;
};

static int join_parent(void *arg)
{
	struct join_loop *jl = arg;

	do {
		for (int i = 0; i < 64; i++) {
			struct spio_task *child;

			jl->rc = spio_task_spawn(noop_task, NULL, NULL, &child);
			if (jl->rc != 0) {
				goto out;
			}
			spio_task_join(child);
		}
		jl->ops += 64;
	} while (spio_get_ticks() < jl->end);
out:
	jl->done = true;
	return 0;
}

static int bench_spawn_join(void)
{
	struct measure best = {0};

	for (int run = 0; run <= RUNS; run++) {
		struct join_loop jl = {.end = spio_get_ticks() + g_duration_ticks};
		struct measure m;

		if (spio_task_spawn(join_parent, &jl, NULL, NULL) != 0) {
			return -ENOMEM;
		}
		m.ticks = poll_until(&jl.done);
		m.ops = jl.ops;
		if (jl.rc != 0) {
			return jl.rc;
		}
		if (run > 0) {
			keep_best(&best, &m);
		}
	}
	print_result("spawn_join", best.ops, best.ticks, NULL, 0);
	return 0;
}

/*
 * await_vs_callback: the delivery cost alone
 */

typedef void (*op_cb)(void *cb_arg, int status);

struct cb_counter {
	uint64_t n;
};

static void __attribute__((noinline)) counting_cb(void *cb_arg, int status)
{
	struct cb_counter *cnt = cb_arg;

	cnt->n += (uint64_t)(status + 1);
}

/* Deliver through a pointer the compiler cannot see through, like a real completion path. */
static op_cb volatile g_cb = counting_cb;

static struct measure run_callbacks(void)
{
	struct cb_counter cnt = {0};
	uint64_t start = spio_get_ticks(), end = start + g_duration_ticks, now;
	struct measure m = {0};

	do {
		for (int i = 0; i < BATCH; i++) {
			g_cb(&cnt, 0);
		}
		m.ops += BATCH;
		now = spio_get_ticks();
	} while (now < end);
	m.ticks = now - start;
	if (cnt.n != m.ops) {
		fprintf(stderr, "bench_task: callback count %lu != %lu\n", (unsigned long)cnt.n,
			(unsigned long)m.ops);
	}
	return m;
}

struct await_loop {
	struct spio_completion c;
	uint64_t awaited;
	bool stop;
	volatile bool done;
};

static int await_task(void *arg)
{
	struct await_loop *al = arg;

	do {
		spio_completion_init(&al->c);
		spio_await(&al->c);
		al->awaited++;
	} while (!al->stop);
	al->done = true;
	return 0;
}

static struct measure run_awaits(int *rc)
{
	struct await_loop al = {0};
	struct measure m = {0};
	uint64_t start, end, now;

	*rc = spio_task_spawn(await_task, &al, NULL, NULL);
	if (*rc != 0) {
		return m;
	}
	spio_thread_poll(g_thread, 0, 0); /* the task starts and awaits */
	start = spio_get_ticks();
	end = start + g_duration_ticks;
	do {
		for (int i = 0; i < BATCH; i++) {
			/* resumes the task, which re-arms and awaits again before this returns */
			spio_completion_cb(&al.c, 0);
		}
		m.ops += BATCH;
		now = spio_get_ticks();
	} while (now < end);
	m.ticks = now - start;
	al.stop = true;
	spio_completion_done(&al.c, 0);
	poll_until(&al.done);
	if (al.awaited != m.ops + 1) {
		fprintf(stderr, "bench_task: awaited %lu != %lu\n", (unsigned long)al.awaited,
			(unsigned long)m.ops + 1);
	}
	return m;
}

static int bench_await_vs_callback(void)
{
	struct measure best_cb = {0}, best_aw = {0}, m;
	int rc = 0;

	for (int run = 0; run <= RUNS; run++) {
		m = run_callbacks();
		if (run > 0) {
			keep_best(&best_cb, &m);
		}
		m = run_awaits(&rc);
		if (rc != 0) {
			return rc;
		}
		if (run > 0) {
			keep_best(&best_aw, &m);
		}
	}
	double cb_ns = bench_ticks_to_ns(best_cb.ticks) / best_cb.ops;
	double aw_ns = bench_ticks_to_ns(best_aw.ticks) / best_aw.ops;

	print_result("callback_delivery", best_cb.ops, best_cb.ticks, NULL, 0);
	print_result("await_delivery", best_aw.ops, best_aw.ticks, "ratio_vs_callback",
		     aw_ns / cb_ns);
	return 0;
}

/*
 * async_op: a full asynchronous round trip through the thread's poll
 */

struct fake_dev {
	struct spio_poller *poller;
	op_cb pending_cb; /* one operation in flight at a time */
	void *pending_arg;
};

static int fake_dev_poll(void *arg)
{
	struct fake_dev *dev = arg;
	op_cb cb = dev->pending_cb;

	if (cb == NULL) {
		return SPIO_POLLER_IDLE;
	}
	dev->pending_cb = NULL;
	cb(dev->pending_arg, 0);
	return SPIO_POLLER_BUSY;
}

static int fake_op(struct fake_dev *dev, op_cb cb, void *cb_arg)
{
	if (dev->pending_cb != NULL) {
		return -EBUSY;
	}
	dev->pending_cb = cb;
	dev->pending_arg = cb_arg;
	return 0;
}

static int fake_op_await(struct fake_dev *dev)
{
	struct spio_completion c;

	spio_completion_init(&c);
	return spio_await_started(&c, fake_op(dev, spio_completion_cb, &c));
}

struct chain {
	struct fake_dev *dev;
	uint64_t ops;
	uint64_t end;
	volatile bool done;
};

static void chain_cb(void *cb_arg, int status)
{
	struct chain *ch = cb_arg;

	if (++ch->ops % BATCH == 0 && spio_get_ticks() >= ch->end) {
		ch->done = true;
		return;
	}
	fake_op(ch->dev, chain_cb, ch);
}

static int chain_task(void *arg)
{
	struct chain *ch = arg;

	for (;;) {
		if (fake_op_await(ch->dev) != 0) {
			break;
		}
		if (++ch->ops % BATCH == 0 && spio_get_ticks() >= ch->end) {
			break;
		}
	}
	ch->done = true;
	return 0;
}

static int bench_async_op(void)
{
	struct fake_dev dev = {0};
	struct measure best_cb = {0}, best_aw = {0};

	dev.poller = spio_poller_register(fake_dev_poll, &dev, 0);
	if (dev.poller == NULL) {
		return -ENOMEM;
	}
	for (int run = 0; run <= RUNS; run++) {
		struct chain ch = {.dev = &dev, .end = spio_get_ticks() + g_duration_ticks};
		struct measure m;

		fake_op(&dev, chain_cb, &ch);
		m.ticks = poll_until(&ch.done);
		m.ops = ch.ops;
		if (run > 0) {
			keep_best(&best_cb, &m);
		}

		ch = (struct chain){.dev = &dev, .end = spio_get_ticks() + g_duration_ticks};
		if (spio_task_spawn(chain_task, &ch, NULL, NULL) != 0) {
			return -ENOMEM;
		}
		m.ticks = poll_until(&ch.done);
		m.ops = ch.ops;
		while (spio_task_get_count() > 0) {
			spio_thread_poll(g_thread, 0, 0);
		}
		if (run > 0) {
			keep_best(&best_aw, &m);
		}
	}
	spio_poller_unregister(&dev.poller);

	double cb_ns = bench_ticks_to_ns(best_cb.ticks) / best_cb.ops;
	double aw_ns = bench_ticks_to_ns(best_aw.ticks) / best_aw.ops;

	print_result("async_op_callback", best_cb.ops, best_cb.ticks, NULL, 0);
	print_result("async_op_await", best_aw.ops, best_aw.ticks, "ratio_vs_callback",
		     aw_ns / cb_ns);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} g_cases[] = {
    {"yield", bench_yield},	{"spawn", bench_spawn},
    {"join", bench_spawn_join}, {"await", bench_await_vs_callback},
    {"async", bench_async_op},
};

int main(int argc, char **argv)
{
	const char *only = NULL;
	unsigned long ms = 300;
	int opt, rc = 0;

	while ((opt = getopt(argc, argv, "t:c:")) != -1) {
		if (opt == 't') {
			ms = strtoul(optarg, NULL, 10);
		} else if (opt == 'c') {
			only = optarg;
		} else {
			fprintf(stderr,
				"usage: %s [-t ms_per_run] [-c yield|spawn|join|await|async]\n",
				argv[0]);
			return 2;
		}
	}
	if (ms == 0) {
		ms = 1;
	}
	g_duration_ticks = spio_us_to_ticks(ms * 1000);

	rc = spio_thread_lib_init(NULL, 0);
	if (rc != 0) {
		fprintf(stderr, "bench_task: spio_thread_lib_init: %s\n", strerror(-rc));
		return 1;
	}
	g_thread = spio_thread_create("bench_task", NULL);
	if (g_thread == NULL) {
		fprintf(stderr, "bench_task: spio_thread_create: %s\n", strerror(errno));
		return 1;
	}
	spio_set_thread(g_thread);

	for (size_t i = 0; i < SPIO_COUNTOF(g_cases) && rc == 0; i++) {
		if (only == NULL || strcmp(only, g_cases[i].name) == 0) {
			rc = g_cases[i].fn();
			if (rc != 0) {
				fprintf(stderr, "bench_task: %s: %s\n", g_cases[i].name,
					strerror(-rc));
			}
		}
	}

	spio_thread_exit(g_thread);
	while (!spio_thread_is_exited(g_thread)) {
		spio_thread_poll(g_thread, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	return rc == 0 ? 0 : 1;
}
