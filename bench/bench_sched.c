/*
 * Thread scheduler benchmarks, one JSON object per line:
 *  - thread move: a spio_thread moves itself between the reactors of cores 0
 *    and 1 (spio_thread_set_cpumask) as soon as it runs on the new one; time
 *    per move, from the call to the first poll on the other reactor, in poll
 *    and in adaptive idle mode;
 *  - scheduler round: a scheduler that only counts its balance() calls, with
 *    a 1 us period, so rounds run back to back (gather over both reactors,
 *    balance on the main one); time per round with 2 and with 128 threads.
 * The IOPS cost of the dynamic scheduler on a real load is measured with
 * spio_perf and bench/perf-sched-dynamic.json (see the docs).
 *
 * Usage: bench_sched [MOVES]   (default 20000 moves)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/app.h"
#include "spio/env.h"
#include "spio/event.h"
#include "spio/log.h"
#include "spio/scheduler.h"
#include "spio/thread.h"

#define ROUND_TIME_US (1000 * 1000)

static uint64_t g_moves = 20000;

static double ns_per(uint64_t ticks, uint64_t n)
{
	return n ? (double)ticks * 1e9 / (double)spio_get_ticks_hz() / (double)n : 0;
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
	struct spio_cpuset m = mask_of(0);

	spio_cpuset_set_cpu(&m, 1, true);
	return m;
}

static int run(enum spio_app_idle_mode mode, spio_app_start_fn fn)
{
	struct spio_app_opts o;

	spio_app_opts_init(&o, sizeof(o));
	o.name = "bench_sched";
	o.reactor_mask = "0x3";
	o.rpc_addr = NULL;
	o.no_huge = true;
	o.idle_mode = mode;
	return spio_app_start(&o, fn, NULL);
}

/* --- thread move -------------------------------------------------------------- */

static struct {
	struct spio_thread *thread;
	struct spio_poller *poller;
	uint32_t target;
	uint64_t done;
	uint64_t start, end;
	int rc;
} g_mv;

static void mv_exit(void *arg)
{
	spio_poller_unregister(&g_mv.poller);
	spio_thread_exit(g_mv.thread);
	spio_app_stop(g_mv.rc);
}

static int mv_poll(void *arg)
{
	struct spio_cpuset m;
	int rc;

	if (spio_reactor_get_current_core() != g_mv.target) {
		return SPIO_POLLER_IDLE; /* not moved yet (the first poll on the old one) */
	}
	if (g_mv.done++ == g_moves) {
		g_mv.end = spio_get_ticks();
		mv_exit(NULL);
		return SPIO_POLLER_BUSY;
	}
	g_mv.target ^= 1;
	m = mask_of(g_mv.target);
	rc = spio_thread_set_cpumask(&m);
	if (rc != 0) {
		g_mv.rc = rc;
		mv_exit(NULL);
	}
	return SPIO_POLLER_BUSY;
}

static void mv_start_on_thread(void *arg)
{
	g_mv.target = spio_reactor_get_current_core();
	g_mv.start = spio_get_ticks();
	g_mv.poller = spio_poller_register(mv_poll, NULL, 0);
	if (g_mv.poller == NULL) {
		g_mv.rc = -ENOMEM;
		spio_thread_exit(g_mv.thread);
		spio_app_stop(g_mv.rc);
	}
}

static void start_move(void *arg)
{
	struct spio_cpuset all = mask_all();

	memset(&g_mv, 0, sizeof(g_mv));
	g_mv.thread = spio_thread_create("mover", &all);
	if (g_mv.thread == NULL) {
		spio_app_stop(-errno);
		return;
	}
	spio_thread_send_msg(g_mv.thread, mv_start_on_thread, NULL);
}

/* --- scheduler round ---------------------------------------------------------- */

static uint64_t g_rounds;
static uint32_t g_round_threads;

static void count_balance(struct spio_scheduler_core_info *cores, uint32_t count)
{
	g_rounds++;
}

static struct spio_scheduler g_counting = {.name = "bench_count", .balance = count_balance};
SPIO_SCHEDULER_REGISTER(g_counting)

static struct {
	struct spio_thread **threads;
	uint32_t n;
	uint64_t start, end, rounds;
	struct spio_poller *timer;
	int rc;
} g_rd;

static void rd_exit_self(void *arg)
{
	spio_thread_exit(spio_get_thread());
}

static int rd_timer(void *arg)
{
	g_rd.end = spio_get_ticks();
	g_rd.rounds = g_rounds;
	spio_scheduler_set_period(0);
	spio_poller_unregister(&g_rd.timer);
	for (uint32_t i = 0; i < g_rd.n; i++) {
		spio_thread_send_msg(g_rd.threads[i], rd_exit_self, NULL);
	}
	spio_app_stop(g_rd.rc);
	return SPIO_POLLER_BUSY;
}

static void start_rounds(void *arg)
{
	struct spio_cpuset all = mask_all();
	int rc;

	memset(&g_rd, 0, sizeof(g_rd));
	g_rd.threads = calloc(g_round_threads, sizeof(*g_rd.threads));
	for (uint32_t i = 0; g_rd.threads != NULL && i < g_round_threads - 1; i++) {
		g_rd.threads[g_rd.n] = spio_thread_create(NULL, &all);
		if (g_rd.threads[g_rd.n] != NULL) {
			g_rd.n++;
		}
	}
	/* The scheduler subsystem set "static" during init: replace it. */
	rc = spio_scheduler_set("bench_count");
	if (rc != 0 || g_rd.threads == NULL) {
		spio_app_stop(rc ? rc : -ENOMEM);
		return;
	}
	g_rounds = 0;
	g_rd.start = spio_get_ticks();
	spio_scheduler_set_period(1);
	g_rd.timer = spio_poller_register(rd_timer, NULL, ROUND_TIME_US);
}

int main(int argc, char **argv)
{
	static const uint32_t thread_counts[] = {2, 128};
	struct spio_cpuset aff;
	const char *mode_name[] = {"adaptive", "poll"};
	int rc;

	if (argc > 1) {
		g_moves = strtoull(argv[1], NULL, 0);
		if (g_moves == 0) {
			fprintf(stderr, "usage: %s [MOVES]\n", argv[0]);
			return 2;
		}
	}
	if (spio_cpuset_from_affinity(&aff) != 0 || !spio_cpuset_get_cpu(&aff, 0) ||
	    !spio_cpuset_get_cpu(&aff, 1)) {
		printf(
		    "{\"bench\":\"sched\",\"skipped\":true,\"reason\":\"needs cores 0 and 1\"}\n");
		return 0;
	}
	spio_log_set_level(SPIO_LOG_WARN);

	for (int m = SPIO_APP_IDLE_POLL; m >= SPIO_APP_IDLE_ADAPTIVE; m--) {
		rc = run((enum spio_app_idle_mode)m, start_move);
		if (rc != 0) {
			fprintf(stderr, "bench_sched: thread move failed: %d\n", rc);
			return 1;
		}
		printf("{\"bench\":\"sched\",\"case\":\"thread_move\",\"idle\":\"%s\","
		       "\"moves\":%lu,\"ns_per_move\":%.1f}\n",
		       mode_name[m], (unsigned long)g_moves,
		       ns_per(g_mv.end - g_mv.start, g_moves));
		fflush(stdout);
	}
	for (size_t i = 0; i < sizeof(thread_counts) / sizeof(thread_counts[0]); i++) {
		g_round_threads = thread_counts[i];
		rc = run(SPIO_APP_IDLE_POLL, start_rounds);
		free(g_rd.threads);
		if (rc != 0) {
			fprintf(stderr, "bench_sched: scheduler rounds failed: %d\n", rc);
			return 1;
		}
		printf("{\"bench\":\"sched\",\"case\":\"scheduler_round\",\"threads\":%u,"
		       "\"rounds\":%lu,\"us_per_round\":%.2f}\n",
		       g_round_threads, (unsigned long)g_rd.rounds,
		       ns_per(g_rd.end - g_rd.start, g_rd.rounds) / 1000.0);
		fflush(stdout);
	}
	return 0;
}
