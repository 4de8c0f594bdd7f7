/*
 * Idle modes, measured: an idle two-core app in adaptive mode uses < 5 % CPU
 * (utime + stime from /proc/self/stat over 2 s); a message or an event wakes
 * a sleeping reactor in < 1 ms (median of many samples, sent from an OS
 * thread outside the app and timed with spio_get_ticks); timed pollers keep
 * their period while the reactor sleeps between them; a poller that reports
 * BUSY keeps its reactor awake, one that reports IDLE lets it sleep; poll mode
 * never sleeps; the RPC server answers while the main reactor sleeps, on new
 * and on open connections.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "helper_cores.h"
#include "spio/app.h"
#include "spio/env.h"
#include "spio/event.h"
#include "spio/thread.h"

TestSuite(idle, .timeout = 120);

static void base_opts(struct spio_app_opts *o)
{
	spio_app_opts_init(o, sizeof(*o));
	o->name = "test_idle";
	o->reactor_mask = "0x3";
	o->rpc_addr = NULL;
	o->no_huge = true;
	o->idle_mode = SPIO_APP_IDLE_ADAPTIVE;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = {.tv_sec = (time_t)(us / 1000000),
			      .tv_nsec = (long)(us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* utime + stime of this process, in clock ticks. */
static long process_cpu_ticks(void)
{
	char buf[1024], *p;
	unsigned long utime = 0, stime = 0;
	FILE *f = fopen("/proc/self/stat", "r");

	if (f == NULL) {
		return -1;
	}
	if (fgets(buf, sizeof(buf), f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Fields after the command name (which may hold spaces) start after ')'. */
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				&utime, &stime) != 2) {
		return -1;
	}
	return (long)(utime + stime);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Idle CPU
 */

static struct {
	pthread_t measurer;
	double cpu_percent;
	struct spio_reactor_stats st[2];
	int timer_fires;
	char sock[108];
} g_cpu;

static int idle_timer(void *arg)
{
	g_cpu.timer_fires++;
	return SPIO_POLLER_IDLE;
}

static struct spio_poller *g_idle_timer;
static struct spio_thread *g_idle_worker;

static void add_timer(void *arg)
{
	/* A realistic idle target: a thread with a slow timed poller. */
	g_idle_timer = spio_poller_register(idle_timer, NULL, 100 * 1000);
}

static void remove_timer(void *arg)
{
	(void)arg;
	spio_poller_unregister(&g_idle_timer);
}

static void *measure_cpu(void *arg)
{
	long before, after;
	uint64_t t0, t1;

	sleep_us(300 * 1000); /* settle: start-up work, first sleeps */
	t0 = spio_get_ticks();
	before = process_cpu_ticks();
	sleep_us(2 * 1000 * 1000);
	after = process_cpu_ticks();
	t1 = spio_get_ticks();
	g_cpu.cpu_percent = 100.0 * (double)(after - before) / (double)sysconf(_SC_CLK_TCK) /
			    ((double)spio_ticks_to_us(t1 - t0) / 1e6);
	spio_reactor_get_stats(0, &g_cpu.st[0]);
	spio_reactor_get_stats(1, &g_cpu.st[1]);
	spio_thread_send_msg(g_idle_worker, remove_timer, NULL);
	/* The stop comes from here, after the send returned: were it sent by
	 * remove_timer, the teardown could free the worker's wake-up slot while
	 * this thread is still inside spio_thread_send_msg (TSan saw it). The
	 * worker runs remove_timer before the exit the teardown sends it. */
	spio_app_stop(before < 0 || after < 0 ? -EIO : 0);
	return NULL;
}

static void start_cpu(void *arg)
{
	struct spio_cpuset on1;

	spio_cpuset_zero(&on1);
	spio_cpuset_set_cpu(&on1, 1, true);
	g_idle_worker = spio_thread_create("idle_worker", &on1);
	if (g_idle_worker == NULL) {
		spio_app_stop(-errno);
		return;
	}
	spio_thread_send_msg(g_idle_worker, add_timer, NULL);
	pthread_create(&g_cpu.measurer, NULL, measure_cpu, NULL);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static void run_idle_cpu(bool with_rpc, bool check_cpu)
{
	struct spio_app_opts o;
	int rc;

	base_opts(&o);
	if (with_rpc) {
		snprintf(g_cpu.sock, sizeof(g_cpu.sock), "/tmp/spio-idle-%d.sock", (int)getpid());
		o.rpc_addr = g_cpu.sock;
	}
	rc = spio_app_start(&o, start_cpu, NULL);
	pthread_join(g_cpu.measurer, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	fprintf(stderr,
		"idle CPU of a 2-core app%s: %.2f %% over 2 s; sleeps: core0 %lu core1 %lu\n",
		with_rpc ? " with the RPC server" : "", g_cpu.cpu_percent,
		(unsigned long)g_cpu.st[0].sleep_count, (unsigned long)g_cpu.st[1].sleep_count);
	if (check_cpu) {
		cr_assert_lt(g_cpu.cpu_percent, 5.0, "idle CPU: expected < 5 %%, got %.2f %%",
			     g_cpu.cpu_percent);
	}
	cr_assert_gt(g_cpu.st[0].sleep_count, 0, "reactor 0 never slept");
	/*
	 * Reactor 0 holds the app thread (and the RPC server): nothing there is
	 * timed, so it wakes for the framework's own rare timers only. An RPC
	 * server polling its socket (SPDK's 4 ms) would wake it 500 times in 2 s.
	 */
	cr_assert_lt(g_cpu.st[0].sleep_count, 100,
		     "reactor 0 woke %lu times in 2 s with nothing to do%s",
		     (unsigned long)g_cpu.st[0].sleep_count, with_rpc ? " (RPC server)" : "");
	cr_assert_gt(g_cpu.st[1].sleep_count, 0, "reactor 1 never slept");
	cr_assert_gt(g_cpu.st[1].sleep_tsc, g_cpu.st[1].busy_tsc,
		     "an idle reactor sleeps more than it works");
	cr_assert_geq(g_cpu.timer_fires, 15,
		      "the 100 ms poller must keep firing: %d fires in 2.3 s", g_cpu.timer_fires);
}

Test(idle, idle_two_core_app_uses_under_5_percent_cpu)
{
	NEED_TWO_CORES();
	run_idle_cpu(false, true);
}

/*
 * As spio_tgt runs: the RPC server sleeps on its epoll fd (the poller's
 * interrupt fd) while no client talks to it. CPU time under a sanitizer is
 * not representative: there only the wake-ups are counted.
 */
Test(idle, idle_two_core_app_with_rpc_uses_under_5_percent_cpu)
{
	NEED_TWO_CORES();
	run_idle_cpu(true, !SANITIZED);
}

/*
 * Wake-up latency
 */

#define N_WAKE 40

static struct {
	struct spio_thread *target;
	pthread_t sender;
	uint64_t sent;
	uint64_t lat[N_WAKE];
	int n;
	int asleep; /* samples where the reactor was asleep when sent */
	int done;
	bool use_event;
	int err;
} g_wk;

static void wake_recv(void *arg)
{
	g_wk.lat[g_wk.n] = spio_get_ticks() - __atomic_load_n(&g_wk.sent, __ATOMIC_ACQUIRE);
	g_wk.n++;
	__atomic_store_n(&g_wk.done, 1, __ATOMIC_RELEASE);
}

static void wake_recv_event(void *arg1, void *arg2)
{
	wake_recv(arg1);
}

static void *wake_sender(void *arg)
{
	for (int i = 0; i < N_WAKE; i++) {
		struct spio_reactor_stats st;
		int rc;

		sleep_us(5 * 1000); /* > the 1 ms threshold: the reactor goes to sleep */
		spio_reactor_get_stats(1, &st);
		g_wk.asleep += st.sleeping;
		__atomic_store_n(&g_wk.done, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&g_wk.sent, spio_get_ticks(), __ATOMIC_RELEASE);
		if (g_wk.use_event) {
			rc = spio_event_call(1, wake_recv_event, NULL, NULL);
		} else {
			rc = spio_thread_send_msg(g_wk.target, wake_recv, NULL);
		}
		if (rc != 0) {
			g_wk.err = rc;
			break;
		}
		while (!__atomic_load_n(&g_wk.done, __ATOMIC_ACQUIRE)) {
			sleep_us(50);
		}
	}
	spio_app_stop(g_wk.err);
	return NULL;
}

static void start_wake(void *arg)
{
	struct spio_cpuset on1;

	spio_cpuset_zero(&on1);
	spio_cpuset_set_cpu(&on1, 1, true);
	g_wk.target = spio_thread_create("sleeper", &on1);
	if (g_wk.target == NULL) {
		spio_app_stop(-errno);
		return;
	}
	pthread_create(&g_wk.sender, NULL, wake_sender, NULL);
}

static void run_wake(bool use_event)
{
	struct spio_app_opts o;
	uint64_t med_us, max_us, p90_us;
	int rc;

	g_wk.use_event = use_event;
	base_opts(&o);
	rc = spio_app_start(&o, start_wake, NULL);
	pthread_join(g_wk.sender, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d (send error %d)", rc, g_wk.err);
	cr_assert_eq(g_wk.n, N_WAKE, "expected %d samples, got %d", N_WAKE, g_wk.n);
	qsort(g_wk.lat, N_WAKE, sizeof(g_wk.lat[0]), cmp_u64);
	med_us = spio_ticks_to_us(g_wk.lat[N_WAKE / 2]);
	p90_us = spio_ticks_to_us(g_wk.lat[N_WAKE * 9 / 10]);
	max_us = spio_ticks_to_us(g_wk.lat[N_WAKE - 1]);
	fprintf(stderr,
		"%s wake-up of a sleeping reactor: median %lu us, p90 %lu us, max %lu us "
		"(%d of %d sent while asleep)\n",
		use_event ? "event" : "message", (unsigned long)med_us, (unsigned long)p90_us,
		(unsigned long)max_us, g_wk.asleep, N_WAKE);
	cr_assert_geq(g_wk.asleep, N_WAKE / 2,
		      "the reactor should be asleep before most sends: %d of %d", g_wk.asleep,
		      N_WAKE);
	cr_assert_lt(med_us, 1000, "wake-up latency: expected median < 1000 us, got %lu us",
		     (unsigned long)med_us);
}

Test(idle, message_wakes_sleeping_reactor_within_1ms)
{
	NEED_TWO_CORES();
	run_wake(false);
}

Test(idle, event_wakes_sleeping_reactor_within_1ms)
{
	NEED_TWO_CORES();
	run_wake(true);
}

/*
 * Timed pollers, honest pollers, poll mode
 */

static struct {
	struct spio_poller *timer;
	struct spio_poller *active;
	int fires;
	uint64_t start_tick, stop_tick; /* the timer's life, on its thread */
	uint64_t busy_until;
	uint64_t sleeps_at_setup;
	uint64_t sleeps_while_busy;
	struct spio_reactor_stats end;
	pthread_t waiter;
} g_tp;

static int tp_fire(void *arg)
{
	g_tp.fires++;
	return SPIO_POLLER_IDLE;
}

static int tp_active(void *arg)
{
	/* BUSY for a while (work outstanding), then honestly IDLE. */
	return spio_get_ticks() < g_tp.busy_until ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
}

static void tp_setup(void *arg)
{
	struct spio_reactor_stats st;

	spio_reactor_get_stats(1, &st);
	g_tp.sleeps_at_setup = st.sleep_count;
	g_tp.timer = spio_poller_register(tp_fire, NULL, 10 * 1000);
	g_tp.start_tick = spio_get_ticks();
	if (arg != NULL) {
		g_tp.busy_until = spio_get_ticks() + spio_us_to_ticks(150 * 1000);
		g_tp.active = spio_poller_register(tp_active, NULL, 0);
	}
}

static void tp_teardown(void *arg)
{
	g_tp.stop_tick = spio_get_ticks();
	spio_poller_unregister(&g_tp.timer);
	spio_poller_unregister(&g_tp.active);
}

static struct spio_thread *g_tp_thread;

static void *tp_wait(void *arg)
{
	struct spio_reactor_stats st;

	/* Sample the sleeps in the middle of the busy phase (0-150 ms)... */
	sleep_us(100 * 1000);
	spio_reactor_get_stats(1, &st);
	g_tp.sleeps_while_busy = st.sleep_count;
	/* ...and at the end. */
	sleep_us(200 * 1000);
	spio_reactor_get_stats(1, &g_tp.end);
	spio_thread_send_msg(g_tp_thread, tp_teardown, NULL);
	sleep_us(10 * 1000);
	spio_app_stop(0);
	return NULL;
}

/*
 * The 10 ms timer fired about once per period of its measured life: never
 * more than the periods that passed (plus one: a late timer fires once, it
 * does not catch up), and at least a tenth of them and once (a loaded
 * machine delays polls, sometimes by tens of milliseconds).
 */
static void expect_timer_kept_period(void)
{
	uint64_t life_us = (g_tp.stop_tick - g_tp.start_tick) * 1000000 / spio_get_ticks_hz();
	int periods = (int)(life_us / 10000);

	cr_assert(g_tp.fires <= periods + 1 && g_tp.fires >= 1 && g_tp.fires * 10 >= periods,
		  "10 ms poller alive %lu us: expected about %d fires, got %d",
		  (unsigned long)life_us, periods, g_tp.fires);
}

static void start_tp(void *arg)
{
	struct spio_cpuset on1;

	spio_cpuset_zero(&on1);
	spio_cpuset_set_cpu(&on1, 1, true);
	g_tp_thread = spio_thread_create("timed", &on1);
	if (g_tp_thread == NULL) {
		spio_app_stop(-errno);
		return;
	}
	spio_thread_send_msg(g_tp_thread, tp_setup, arg);
	pthread_create(&g_tp.waiter, NULL, tp_wait, NULL);
}

Test(idle, timed_poller_keeps_period_while_reactor_sleeps)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	base_opts(&o);
	rc = spio_app_start(&o, start_tp, NULL);
	pthread_join(g_tp.waiter, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	expect_timer_kept_period();
	cr_assert_geq(g_tp.end.sleep_count, 20,
		      "the reactor should sleep between fires: %lu sleeps",
		      (unsigned long)g_tp.end.sleep_count);
}

Test(idle, busy_poller_keeps_reactor_awake_idle_one_lets_it_sleep)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	base_opts(&o);
	rc = spio_app_start(&o, start_tp, (void *)1);
	pthread_join(g_tp.waiter, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_eq(g_tp.sleeps_while_busy, g_tp.sleeps_at_setup,
		     "a reactor whose poller reports BUSY must not sleep; slept %lu times",
		     (unsigned long)(g_tp.sleeps_while_busy - g_tp.sleeps_at_setup));
	cr_assert_geq(g_tp.end.sleep_count - g_tp.sleeps_while_busy, 5,
		      "once the poller reports IDLE the reactor sleeps: %lu sleeps",
		      (unsigned long)(g_tp.end.sleep_count - g_tp.sleeps_while_busy));
}

Test(idle, poll_mode_never_sleeps)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	base_opts(&o);
	o.idle_mode = SPIO_APP_IDLE_POLL;
	rc = spio_app_start(&o, start_tp, NULL);
	pthread_join(g_tp.waiter, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_eq(g_tp.end.sleep_count, 0, "poll mode: expected no sleep, got %lu",
		     (unsigned long)g_tp.end.sleep_count);
	expect_timer_kept_period();
}

/*
 * RPC while the main reactor sleeps
 */

static struct {
	char sock[108];
	pthread_t client;
	uint64_t lat_us[3];
	int err;
} g_rpc;

/* Send one request and read until a complete response line. 0 or -errno. */
static int rpc_roundtrip(int fd, uint64_t *us)
{
	static const char req[] =
	    "{\"jsonrpc\":\"2.0\",\"method\":\"framework_wait_init\",\"id\":1}";
	char buf[4096];
	size_t got = 0;
	uint64_t t0 = spio_get_ticks();

	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		return -errno;
	}
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

		if (n <= 0) {
			return n == 0 ? -ECONNRESET : -errno;
		}
		got += (size_t)n;
		buf[got] = '\0';
		if (strchr(buf, '\n') != NULL || strstr(buf, "\"result\"") != NULL) {
			break;
		}
	}
	*us = spio_ticks_to_us(spio_get_ticks() - t0);
	return strstr(buf, "true") != NULL ? 0 : -EPROTO;
}

static int rpc_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g_rpc.sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int err = -errno;

		if (fd >= 0) {
			close(fd);
		}
		return err;
	}
	return fd;
}

static void *rpc_client(void *arg)
{
	int fd, rc = 0;

	sleep_us(100 * 1000); /* the main reactor is asleep by now */
	fd = rpc_connect();
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	rc = rpc_roundtrip(fd, &g_rpc.lat_us[0]);
	/* Open connection, idle again: the reactor goes back to sleep. */
	for (int i = 1; rc == 0 && i < 3; i++) {
		sleep_us(100 * 1000);
		rc = rpc_roundtrip(fd, &g_rpc.lat_us[i]);
	}
	close(fd);
out:
	g_rpc.err = rc;
	spio_app_stop(rc);
	return NULL;
}

static void start_rpc(void *arg)
{
	pthread_create(&g_rpc.client, NULL, rpc_client, NULL);
}

Test(idle, rpc_answers_while_reactor_sleeps)
{
	struct spio_app_opts o;
	int rc;

	base_opts(&o);
	o.reactor_mask = "0x1";
	snprintf(g_rpc.sock, sizeof(g_rpc.sock), "/tmp/spio-idle-rpc-%d.sock", (int)getpid());
	o.rpc_addr = g_rpc.sock;
	rc = spio_app_start(&o, start_rpc, NULL);
	pthread_join(g_rpc.client, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d (client error %d)", rc, g_rpc.err);
	fprintf(stderr,
		"RPC latency while idle: new connection %lu us, open connection %lu, %lu us\n",
		(unsigned long)g_rpc.lat_us[0], (unsigned long)g_rpc.lat_us[1],
		(unsigned long)g_rpc.lat_us[2]);
	for (int i = 0; i < 3; i++) {
		cr_assert_lt(g_rpc.lat_us[i], 50 * 1000,
			     "request %d: expected an answer within 50 ms, got %lu us", i,
			     (unsigned long)g_rpc.lat_us[i]);
	}
	cr_assert_eq(access(g_rpc.sock, F_OK), -1, "the socket file must be removed at stop");
}
