/*
 * Thread runtime benchmarks; one JSON object per line:
 *  - message throughput, one producer OS thread -> one consumer OS thread,
 *    each pinned to its own core
 *  - message ping-pong round trip between two spio threads on two cores
 *  - cost of one spio_thread_poll with 0/1/10/100 idle active pollers and
 *    with 100 timed pollers none of which is due
 *  - SPDK's poller_perf measure: 100 pollers returning BUSY, period 0 and
 *    1 us, 3 s; the thread's busy ticks divided by the poller runs (compare
 *    `poller_perf -b 100 -l 0|1 -t 3`)
 *  - spio_get_io_channel + spio_put_io_channel on a warm channel
 *  - spio_work_submit round trip (an empty call on a helper thread, result
 *    back by message)
 *  - a sleeping thread woken by its poller's interrupt fd (an eventfd written
 *    by another OS thread): write -> poller ran
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

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

/* Exit the current spio thread `t`, poll it until it has, and destroy it. */
static void end_thread(struct spio_thread *t)
{
	spio_thread_exit(t);
	while (!spio_thread_is_exited(t)) {
		spio_thread_poll(t, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(t);
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
	end_thread(t);
}

/* --- SPDK's poller_perf --------------------------------------------------------- */

static uint64_t g_poller_runs;

static int busy_poller(void *arg)
{
	g_poller_runs++;
	return SPIO_POLLER_BUSY;
}

static void bench_poller_perf(int npollers, uint64_t period_us)
{
	struct spio_thread *t = spio_thread_create("poller_perf", NULL);
	struct spio_poller *pollers[100];
	struct spio_thread_stats before, after;
	uint64_t end;

	spio_set_thread(t);
	g_poller_runs = 0;
	for (int i = 0; i < npollers; i++) {
		pollers[i] = spio_poller_register(busy_poller, NULL, period_us);
	}
	spio_thread_get_stats(t, &before);
	end = spio_get_ticks() + 3 * spio_get_ticks_hz();
	while (spio_get_ticks() < end) {
		spio_thread_poll(t, 0, 0);
	}
	spio_thread_get_stats(t, &after);
	printf("{\"bench\":\"thread\",\"case\":\"poller_perf_like\",\"pollers\":%d,"
	       "\"period_us\":%lu,\"runs\":%lu,\"ns_per_poller_run\":%.2f}\n",
	       npollers, (unsigned long)period_us, (unsigned long)g_poller_runs,
	       ns_per(after.busy_tsc - before.busy_tsc, g_poller_runs));
	for (int i = 0; i < npollers; i++) {
		spio_poller_unregister(&pollers[i]);
	}
	end_thread(t);
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
	end_thread(t);
}

/* --- blocking work round trip --------------------------------------------------- */

static int empty_call(void *arg)
{
	return 0;
}

static void call_done(void *arg, int result)
{
	(*(int *)arg)++;
}

static void bench_work(void)
{
	struct spio_thread *t = spio_thread_create("work", NULL);
	struct spio_work w;
	const int iters = 20000;
	int done = 0;

	spio_set_thread(t);
	uint64_t start = spio_get_ticks();
	for (int i = 0; i < iters; i++) {
		int want = done + 1;

		spio_work_submit(&w, empty_call, call_done, &done);
		while (done < want) {
			spio_thread_poll(t, 0, 0);
		}
	}
	uint64_t ticks = spio_get_ticks() - start;
	printf("{\"bench\":\"thread\",\"case\":\"work_submit_round_trip\",\"calls\":%d,"
	       "\"us_per_call\":%.2f}\n",
	       iters, ns_per(ticks, (uint64_t)iters) / 1000.0);
	end_thread(t);
}

/* --- wake-up by a poller's interrupt fd ------------------------------------------- */

static int g_wake_efd;
static uint64_t g_wake_written; /* tick of the write */
static uint64_t g_wake_seen;	/* tick the poller saw it */

static int efd_poller(void *arg)
{
	uint64_t v;

	if (read(g_wake_efd, &v, sizeof(v)) == sizeof(v)) {
		__atomic_store_n(&g_wake_seen, spio_get_ticks(), __ATOMIC_RELEASE);
		return SPIO_POLLER_BUSY;
	}
	return SPIO_POLLER_IDLE;
}

static void *wake_writer(void *arg)
{
	int rounds = *(int *)arg;
	uint64_t one = 1;

	pin(1);
	for (int i = 0; i < rounds; i++) {
		usleep(2000); /* let the other side fall asleep */
		__atomic_store_n(&g_wake_written, spio_get_ticks(), __ATOMIC_RELEASE);
		if (write(g_wake_efd, &one, sizeof(one)) != sizeof(one)) {
			break;
		}
		while (__atomic_load_n(&g_wake_seen, __ATOMIC_ACQUIRE) <
		       __atomic_load_n(&g_wake_written, __ATOMIC_ACQUIRE)) {
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void bench_fd_wake(void)
{
	struct spio_thread *t = spio_thread_create("fdwake", NULL);
	struct spio_poller *p;
	int rounds = 500, fd;
	uint64_t lat[500];
	pthread_t writer;

	spio_set_thread(t);
	pin(0);
	g_wake_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p = spio_poller_register(efd_poller, NULL, 0);
	spio_poller_set_interrupt_fd(p, g_wake_efd);
	fd = spio_thread_get_interrupt_fd(t);
	g_wake_seen = g_wake_written = 0;
	pthread_create(&writer, NULL, wake_writer, &rounds);
	for (int i = 0; i < rounds; i++) {
		uint64_t prev = __atomic_load_n(&g_wake_seen, __ATOMIC_ACQUIRE);

		/* sleep until the fd fires; the poll that follows runs the poller */
		while (__atomic_load_n(&g_wake_seen, __ATOMIC_ACQUIRE) == prev) {
			if (spio_thread_sleep_begin(t)) {
				poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 1000);
			}
			spio_thread_sleep_end(t);
			spio_thread_poll(t, 0, 0);
		}
		lat[i] = __atomic_load_n(&g_wake_seen, __ATOMIC_ACQUIRE) -
			 __atomic_load_n(&g_wake_written, __ATOMIC_ACQUIRE);
	}
	pthread_join(writer, NULL);
	qsort(lat, (size_t)rounds, sizeof(lat[0]), cmp_u64);
	printf("{\"bench\":\"thread\",\"case\":\"poller_fd_wakes_sleeper\",\"rounds\":%d,"
	       "\"median_us\":%.1f,\"p99_us\":%.1f}\n",
	       rounds, ns_per(lat[rounds / 2], 1) / 1000.0,
	       ns_per(lat[rounds * 99 / 100], 1) / 1000.0);
	spio_poller_unregister(&p);
	close(g_wake_efd);
	end_thread(t);
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
	bench_poller_perf(100, 0);
	bench_poller_perf(100, 1);
	bench_channel();
	bench_work();
	bench_fd_wake();
	spio_thread_lib_fini();
	return 0;
}
