/*
 * Thread runtime benchmarks; one JSON object per line:
 *  - message throughput, one producer OS thread -> one consumer OS thread,
 *    each pinned to its own core
 *  - message ping-pong round trip between two spio threads on two cores
 *  - cost of one spio_thread_poll with 0/1/10/100 idle active pollers and
 *    with 100 timed pollers none of which is due
 *  - spio_get_io_channel + spio_put_io_channel on a warm channel
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "spio/env.h"
#include "spio/thread.h"

static double ns_per(uint64_t ticks, uint64_t n)
{
	return (double)ticks * 1e9 / (double)spio_get_ticks_hz() / (double)n;
}

/* Read once before any pinning: a pinned thread's affinity (and that of the
 * threads it creates) shows a single core. */
static int g_ncores = 1;

static void pin(int core)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(core % g_ncores, &s);
	pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

/* --- throughput ------------------------------------------------------------ */

#define TPUT_MSGS 20000000UL

static struct spio_thread *g_consumer_thread;
static uint64_t g_received;
static int g_producer_done;

static void count_msg(void *arg)
{
	g_received++;
}

static void *producer(void *arg)
{
	uint64_t retries = 0;

	pin(1);
	for (uint64_t i = 0; i < TPUT_MSGS; i++) {
		while (spio_thread_send_msg(g_consumer_thread, count_msg, NULL) == -ENOMEM) {
			retries++;
		}
	}
	__atomic_store_n(&g_producer_done, 1, __ATOMIC_RELEASE);
	*(uint64_t *)arg = retries;
	return NULL;
}

static void bench_throughput(void)
{
	pthread_t p;
	uint64_t retries = 0;

	g_consumer_thread = spio_thread_create("consumer", NULL);
	g_received = 0;
	pin(0);
	uint64_t start = spio_get_ticks();
	pthread_create(&p, NULL, producer, &retries);
	while (g_received < TPUT_MSGS) {
		spio_thread_poll(g_consumer_thread, 256, 0);
	}
	uint64_t ticks = spio_get_ticks() - start;
	pthread_join(p, NULL);
	double secs = (double)ticks / (double)spio_get_ticks_hz();
	printf("{\"bench\":\"thread\",\"case\":\"msg_throughput_1p1c\",\"msgs\":%lu,"
	       "\"msgs_per_sec\":%.0f,\"ns_per_msg\":%.2f,\"pool_empty_retries\":%lu}\n",
	       TPUT_MSGS, (double)TPUT_MSGS / secs, ns_per(ticks, TPUT_MSGS), retries);
	spio_thread_exit(g_consumer_thread);
	while (!spio_thread_is_exited(g_consumer_thread)) {
		spio_thread_poll(g_consumer_thread, 0, 0);
	}
	spio_thread_destroy(g_consumer_thread);
}

/* --- ping-pong -------------------------------------------------------------- */

#define PINGPONG_ROUNDS 1000000UL

static struct spio_thread *g_ping, *g_pong;
static uint64_t g_rounds;
static int g_stop;

static void ping(void *arg);

static void pong(void *arg)
{
	spio_thread_send_msg(g_ping, ping, NULL);
}

static uint64_t g_deadline;

static void ping(void *arg)
{
	/* Bounded in rounds and in time: on a loaded machine a round trip can
	 * take a scheduler time slice. */
	if (++g_rounds < PINGPONG_ROUNDS && ((g_rounds & 1023) || spio_get_ticks() < g_deadline)) {
		spio_thread_send_msg(g_pong, pong, NULL);
	} else {
		__atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
	}
}

static void *pong_loop(void *arg)
{
	pin(1);
	while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
		spio_thread_poll(g_pong, 0, 0);
	}
	return NULL;
}

static void bench_pingpong(void)
{
	pthread_t t;

	g_ping = spio_thread_create("ping", NULL);
	g_pong = spio_thread_create("pong", NULL);
	g_rounds = 0;
	g_stop = 0;
	pin(0);
	pthread_create(&t, NULL, pong_loop, NULL);
	uint64_t start = spio_get_ticks();
	g_deadline = start + 5 * spio_get_ticks_hz();
	spio_thread_send_msg(g_pong, pong, NULL);
	while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
		spio_thread_poll(g_ping, 0, 0);
	}
	uint64_t ticks = spio_get_ticks() - start;
	pthread_join(t, NULL);
	printf("{\"bench\":\"thread\",\"case\":\"msg_pingpong_rtt\",\"rounds\":%lu,"
	       "\"ns_per_round_trip\":%.1f}\n",
	       g_rounds, ns_per(ticks, g_rounds));
	struct spio_thread *ts[2] = {g_ping, g_pong};
	for (int i = 0; i < 2; i++) {
		spio_thread_exit(ts[i]);
		while (!spio_thread_is_exited(ts[i])) {
			spio_thread_poll(ts[i], 0, 0);
		}
		spio_thread_destroy(ts[i]);
	}
}

/* --- poll cost ------------------------------------------------------------------ */

static int idle_poller(void *arg)
{
	return SPIO_POLLER_IDLE;
}

static void bench_poll(int active, int timed)
{
	struct spio_thread *t = spio_thread_create("poll", NULL);
	struct spio_poller *pollers[200];
	const uint64_t iters = 2000000;
	int n = 0;

	spio_set_thread(t);
	for (int i = 0; i < active; i++) {
		pollers[n++] = spio_poller_register(idle_poller, NULL, 0);
	}
	for (int i = 0; i < timed; i++) {
		/* An hour: never due during the run. */
		pollers[n++] = spio_poller_register(idle_poller, NULL, 3600ULL * 1000000);
	}
	uint64_t best = UINT64_MAX;
	for (int rep = 0; rep < 3; rep++) {
		uint64_t start = spio_get_ticks();
		for (uint64_t i = 0; i < iters; i++) {
			spio_thread_poll(t, 0, 0);
		}
		uint64_t ticks = spio_get_ticks() - start;
		best = ticks < best ? ticks : best;
	}
	printf("{\"bench\":\"thread\",\"case\":\"poll_cost\",\"active_pollers\":%d,"
	       "\"timed_pollers_not_due\":%d,\"ns_per_poll\":%.2f}\n",
	       active, timed, ns_per(best, iters));
	for (int i = 0; i < n; i++) {
		spio_poller_unregister(&pollers[i]);
	}
	spio_thread_exit(t);
	while (!spio_thread_is_exited(t)) {
		spio_thread_poll(t, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(t);
}

/* --- io_channel get/put --------------------------------------------------------- */

static int dev_create(void *dev, void *ctx)
{
	return 0;
}

static void dev_destroy(void *dev, void *ctx)
{
}

static void bench_channel(void)
{
	static int dev;
	struct spio_thread *t = spio_thread_create("chan", NULL);
	const uint64_t iters = 10000000;

	spio_set_thread(t);
	spio_io_device_register(&dev, dev_create, dev_destroy, 64, "bench_dev");
	struct spio_io_channel *hold = spio_get_io_channel(&dev); /* keeps it warm */
	uint64_t start = spio_get_ticks();
	for (uint64_t i = 0; i < iters; i++) {
		spio_put_io_channel(spio_get_io_channel(&dev));
	}
	uint64_t ticks = spio_get_ticks() - start;
	printf("{\"bench\":\"thread\",\"case\":\"io_channel_get_put_warm\",\"ns_per_pair\":%.2f}\n",
	       ns_per(ticks, iters));
	spio_put_io_channel(hold);
	spio_io_device_unregister(&dev, NULL);
	spio_thread_exit(t);
	while (!spio_thread_is_exited(t)) {
		spio_thread_poll(t, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(t);
}

int main(void)
{
	if (spio_thread_lib_init(NULL, 0) != 0) {
		fprintf(stderr, "bench_thread: spio_thread_lib_init failed\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_ncores = (int)spio_env_get_core_count();
	spio_get_ticks_hz(); /* calibrate before timing anything */
	bench_throughput();
	bench_pingpong();
	bench_poll(0, 0);
	bench_poll(1, 0);
	bench_poll(10, 0);
	bench_poll(100, 0);
	bench_poll(0, 100);
	bench_channel();
	spio_thread_lib_fini();
	return 0;
}
