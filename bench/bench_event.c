/*
 * Event and reactor benchmarks, one JSON object per line:
 *  - event round trip between the reactors of two cores (ping on core 1, pong
 *    back on core 0), in poll mode and in adaptive mode while busy (the cost
 *    of adaptive idle on the busy path)
 *  - message round trip between two spio_threads placed on the two reactors
 *  - wake-up of a sleeping reactor (adaptive mode): an event sent every 2 ms
 *    to core 1, latency from send to run (median, p99)
 *  - event ring, SPDK's event_perf: every reactor starts 4 events, each
 *    handler counts one and sends a new event to the next reactor, for 5 s;
 *    events per second per reactor (compare `event_perf -m 0x3 -t 5`)
 *
 * Usage: bench_event [ROUNDS]   (default 200000 round trips)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spio/app.h"
#include "spio/env.h"
#include "spio/event.h"
#include "spio/log.h"

#define WAKE_SAMPLES 300
#define WAKE_GAP_US 2000

static uint64_t g_rounds = 200000;
static uint64_t g_count;
static uint64_t g_start, g_end;

static double ns_per(uint64_t ticks, uint64_t n)
{
	return (double)ticks * 1e9 / (double)spio_get_ticks_hz() / (double)n;
}

static void retry_event(uint32_t core, spio_event_fn fn, void *a1, void *a2)
{
	while (spio_event_call(core, fn, a1, a2) == -ENOMEM) {
		sched_yield();
	}
}

/* --- event ping-pong -------------------------------------------------------- */

static void ev_pong(void *arg1, void *arg2);

static void ev_ping(void *arg1, void *arg2)
{
	retry_event(0, ev_pong, NULL, NULL);
}

static void ev_pong(void *arg1, void *arg2)
{
	if (++g_count == g_rounds) {
		g_end = spio_get_ticks();
		spio_app_stop(0);
		return;
	}
	retry_event(1, ev_ping, NULL, NULL);
}

static void start_event_pingpong(void *arg)
{
	g_count = 0;
	g_start = spio_get_ticks();
	retry_event(1, ev_ping, NULL, NULL);
}

/* --- event ring (SPDK's event_perf) ---------------------------------------- */

#define RING_EVENTS_PER_CORE 4
#define RING_SECONDS 5

static uint64_t g_ring_calls[2];
static uint64_t g_ring_end;
static int g_ring_outstanding;

static void ring_event(void *arg1, void *arg2)
{
	uint32_t next = spio_env_get_current_core() == 0 ? 1 : 0;

	if (spio_get_ticks() > g_ring_end) {
		if (__atomic_sub_fetch(&g_ring_outstanding, 1, __ATOMIC_ACQ_REL) == 0) {
			spio_app_stop(0);
		}
		return;
	}
	/* each counter has one writer: the reactor that sends to `next` */
	g_ring_calls[next]++;
	retry_event(next, ring_event, NULL, NULL);
}

static void ring_start_core(void *arg1, void *arg2)
{
	for (int i = 0; i < RING_EVENTS_PER_CORE; i++) {
		ring_event(NULL, NULL);
	}
}

static void start_event_ring(void *arg)
{
	g_ring_calls[0] = g_ring_calls[1] = 0;
	g_ring_outstanding = 2 * RING_EVENTS_PER_CORE;
	g_ring_end = spio_get_ticks() + RING_SECONDS * spio_get_ticks_hz();
	retry_event(0, ring_start_core, NULL, NULL);
	retry_event(1, ring_start_core, NULL, NULL);
}

/* --- message ping-pong between threads on two reactors --------------------- */

static struct spio_thread *g_t0, *g_t1;

static void msg_pong(void *arg);

static void msg_ping(void *arg)
{
	while (spio_thread_send_msg(g_t0, msg_pong, NULL) == -ENOMEM) {
	}
}

static void msg_pong(void *arg)
{
	if (++g_count == g_rounds) {
		g_end = spio_get_ticks();
		spio_app_stop(0);
		return;
	}
	while (spio_thread_send_msg(g_t1, msg_ping, NULL) == -ENOMEM) {
	}
}

static void start_msg_pingpong(void *arg)
{
	struct spio_cpuset m;

	spio_cpuset_zero(&m);
	spio_cpuset_set_cpu(&m, 0, true);
	g_t0 = spio_thread_create("ping", &m);
	spio_cpuset_zero(&m);
	spio_cpuset_set_cpu(&m, 1, true);
	g_t1 = spio_thread_create("pong", &m);
	if (g_t0 == NULL || g_t1 == NULL) {
		spio_app_stop(-ENOMEM);
		return;
	}
	g_count = 0;
	g_start = spio_get_ticks();
	spio_thread_send_msg(g_t1, msg_ping, NULL);
}

/* --- wake-up latency -------------------------------------------------------- */

static uint64_t g_lat[WAKE_SAMPLES];
static uint64_t g_sent;
static int g_nlat, g_asleep;
static struct spio_poller *g_wake_poller;

static void wake_recv(void *arg1, void *arg2)
{
	g_lat[g_nlat] = spio_get_ticks() - __atomic_load_n(&g_sent, __ATOMIC_ACQUIRE);
	__atomic_add_fetch(&g_nlat, 1, __ATOMIC_RELEASE);
}

/* A timed poller on the app thread (core 0) sends one event per period. */
static int wake_send(void *arg)
{
	struct spio_reactor_stats st;
	int n = __atomic_load_n(&g_nlat, __ATOMIC_ACQUIRE);

	if (n == WAKE_SAMPLES) {
		spio_poller_unregister(&g_wake_poller);
		spio_app_stop(0);
		return SPIO_POLLER_BUSY;
	}
	spio_reactor_get_stats(1, &st);
	g_asleep += st.sleeping;
	__atomic_store_n(&g_sent, spio_get_ticks(), __ATOMIC_RELEASE);
	retry_event(1, wake_recv, NULL, NULL);
	return SPIO_POLLER_IDLE;
}

static void start_wake(void *arg)
{
	g_nlat = 0;
	g_wake_poller = spio_poller_register(wake_send, NULL, WAKE_GAP_US);
	if (g_wake_poller == NULL) {
		spio_app_stop(-ENOMEM);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* --- driver ----------------------------------------------------------------- */

static int run(enum spio_app_idle_mode mode, spio_app_start_fn fn)
{
	struct spio_app_opts o;

	spio_app_opts_init(&o, sizeof(o));
	o.name = "bench_event";
	o.reactor_mask = "0x3";
	o.rpc_addr = NULL;
	o.no_huge = true;
	o.idle_mode = mode;
	return spio_app_start(&o, fn, NULL);
}

int main(int argc, char **argv)
{
	struct spio_cpuset aff;
	const char *mode_name[] = {"adaptive", "poll"};
	int rc;

	if (argc > 1) {
		g_rounds = strtoull(argv[1], NULL, 0);
		if (g_rounds == 0) {
			fprintf(stderr, "usage: %s [ROUNDS]\n", argv[0]);
			return 2;
		}
	}
	if (spio_cpuset_from_affinity(&aff) != 0 || !spio_cpuset_get_cpu(&aff, 0) ||
	    !spio_cpuset_get_cpu(&aff, 1)) {
		printf(
		    "{\"bench\":\"event\",\"skipped\":true,\"reason\":\"needs cores 0 and 1\"}\n");
		return 0;
	}
	spio_log_set_level(SPIO_LOG_WARN);

	for (int m = SPIO_APP_IDLE_POLL; m >= SPIO_APP_IDLE_ADAPTIVE; m--) {
		rc = run((enum spio_app_idle_mode)m, start_event_pingpong);
		if (rc != 0) {
			fprintf(stderr, "bench_event: event ping-pong failed: %d\n", rc);
			return 1;
		}
		printf("{\"bench\":\"event\",\"case\":\"event_round_trip\",\"idle\":\"%s\","
		       "\"rounds\":%lu,\"ns_per_round_trip\":%.1f}\n",
		       mode_name[m], (unsigned long)g_rounds, ns_per(g_end - g_start, g_rounds));
		fflush(stdout);

		rc = run((enum spio_app_idle_mode)m, start_msg_pingpong);
		if (rc != 0) {
			fprintf(stderr, "bench_event: message ping-pong failed: %d\n", rc);
			return 1;
		}
		printf(
		    "{\"bench\":\"event\",\"case\":\"msg_round_trip_two_reactors\",\"idle\":\"%s\","
		    "\"rounds\":%lu,\"ns_per_round_trip\":%.1f}\n",
		    mode_name[m], (unsigned long)g_rounds, ns_per(g_end - g_start, g_rounds));
		fflush(stdout);
	}

	rc = run(SPIO_APP_IDLE_POLL, start_event_ring);
	if (rc != 0) {
		fprintf(stderr, "bench_event: event ring failed: %d\n", rc);
		return 1;
	}
	printf("{\"bench\":\"event\",\"case\":\"event_ring_like_spdk_event_perf\","
	       "\"seconds\":%d,\"events_per_sec_core0\":%.0f,\"events_per_sec_core1\":%.0f}\n",
	       RING_SECONDS, (double)g_ring_calls[0] / RING_SECONDS,
	       (double)g_ring_calls[1] / RING_SECONDS);
	fflush(stdout);

	rc = run(SPIO_APP_IDLE_ADAPTIVE, start_wake);
	if (rc != 0) {
		fprintf(stderr, "bench_event: wake-up run failed: %d\n", rc);
		return 1;
	}
	qsort(g_lat, WAKE_SAMPLES, sizeof(g_lat[0]), cmp_u64);
	printf("{\"bench\":\"event\",\"case\":\"event_wake_sleeping_reactor\",\"samples\":%d,"
	       "\"asleep\":%d,\"median_ns\":%.0f,\"p99_ns\":%.0f,\"max_ns\":%.0f}\n",
	       WAKE_SAMPLES, g_asleep, ns_per(g_lat[WAKE_SAMPLES / 2], 1),
	       ns_per(g_lat[WAKE_SAMPLES * 99 / 100], 1), ns_per(g_lat[WAKE_SAMPLES - 1], 1));
	return 0;
}
