/*
 * The app framework and reactors: start/stop on one and two cores, stop
 * codes, bad options, events across cores (right core, per-sender order),
 * for_each_reactor, thread placement (cpumask, round-robin, impossible
 * masks, threads created outside reactors), signal-driven shutdown, the
 * shutdown callback, event_call_await from a task, unaffinitized helper
 * threads, reactor statistics and shutdown with a thread that never lets go.
 *
 * spio_app_start() blocks, so each test drives the app from its start_fn and
 * callbacks; those record what they saw in globals and the test body checks
 * them after spio_app_start() returned (every reactor is joined by then).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper_cores.h"
#include "spio/app.h"
#include "spio/env.h"
#include "spio/event.h"
#include "spio/log.h"
#include "spio/task.h"
#include "spio/thread.h"

TestSuite(app, .timeout = 120);

static void base_opts(struct spio_app_opts *o, const char *mask)
{
	spio_app_opts_init(o, sizeof(*o));
	o->name = "test_app";
	o->reactor_mask = mask;
	o->rpc_addr = NULL;
	o->no_huge = true;
}

/*
 * Start and stop
 */

static struct {
	int start_calls;
	bool on_app_thread;
	int cpu;
	uint32_t reactor_core;
	uint32_t main_core;
	int second_start_rc;
	int ev_cpu;
	uint32_t ev_reactor;
	bool ev_no_thread;
} g_ss;

static void ev_where(void *arg1, void *arg2)
{
	g_ss.ev_cpu = sched_getcpu();
	g_ss.ev_reactor = spio_reactor_get_current_core();
	g_ss.ev_no_thread = spio_get_thread() == NULL;
	spio_app_stop((int)(intptr_t)arg1);
}

static void start_record(void *arg)
{
	struct spio_app_opts o;

	g_ss.start_calls++;
	g_ss.on_app_thread =
	    spio_get_thread() != NULL && spio_get_thread() == spio_app_get_thread();
	g_ss.cpu = sched_getcpu();
	g_ss.reactor_core = spio_reactor_get_current_core();
	g_ss.main_core = spio_app_get_main_core();
	base_opts(&o, "0x1");
	g_ss.second_start_rc = spio_app_start(&o, NULL, NULL);
	if (arg == NULL) {
		spio_app_stop(0);
	} else {
		/* Stop from another core, with the code given. */
		int rc = spio_event_call(1, ev_where, arg, NULL);

		if (rc != 0) {
			spio_app_stop(rc);
		}
	}
}

Test(app, start_stop_one_core)
{
	struct spio_app_opts o;
	int rc;

	base_opts(&o, "0x1");
	rc = spio_app_start(&o, start_record, NULL);
	cr_assert_eq(rc, 0, "spio_app_start: expected 0, got %d", rc);
	cr_assert_eq(g_ss.start_calls, 1, "start_fn: expected 1 call, got %d", g_ss.start_calls);
	cr_assert(g_ss.on_app_thread, "start_fn must run on the app thread");
	cr_assert_eq(g_ss.cpu, 0, "start_fn: expected cpu 0, got %d", g_ss.cpu);
	cr_assert_eq(g_ss.reactor_core, 0, "start_fn: expected reactor 0, got %u",
		     g_ss.reactor_core);
	cr_assert_eq(g_ss.main_core, 0, "main core: expected 0, got %u", g_ss.main_core);
	cr_assert_eq(g_ss.second_start_rc, -EALREADY,
		     "spio_app_start inside an app: expected -EALREADY, got %d",
		     g_ss.second_start_rc);
	cr_assert_null(spio_app_get_thread(), "no app thread after the app returned");
	cr_assert_eq(spio_app_get_main_core(), UINT32_MAX, "no main core after the app returned");
	cr_assert_eq(spio_thread_get_count(), 0, "threads left: %u", spio_thread_get_count());
	cr_assert_not(spio_env_is_initialized(), "the environment must be torn down");
}

Test(app, start_stop_two_cores_with_code)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	base_opts(&o, "0x3");
	rc = spio_app_start(&o, start_record, (void *)(intptr_t)7);
	cr_assert_eq(rc, 7, "spio_app_start: expected the stop code 7, got %d", rc);
	cr_assert_eq(g_ss.cpu, 0, "start_fn: expected cpu 0, got %d", g_ss.cpu);
	cr_assert_eq(g_ss.ev_cpu, 1, "event for core 1 ran on cpu %d", g_ss.ev_cpu);
	cr_assert_eq(g_ss.ev_reactor, 1, "event for core 1 ran on reactor %u", g_ss.ev_reactor);
	cr_assert(g_ss.ev_no_thread, "events run with no current spio_thread");
}

Test(app, restart_in_same_process)
{
	struct spio_app_opts o;

	for (int i = 0; i < 3; i++) {
		int rc;

		base_opts(&o, i % 2 ? "0x1" : "[0]");
		rc = spio_app_start(&o, start_record, NULL);
		cr_assert_eq(rc, 0, "run %d: expected 0, got %d", i, rc);
	}
	cr_assert_eq(g_ss.start_calls, 3, "start_fn: expected 3 calls, got %d", g_ss.start_calls);
}

static void start_main_core(void *arg)
{
	g_ss.cpu = sched_getcpu();
	g_ss.reactor_core = spio_reactor_get_current_core();
	spio_app_stop(0);
}

Test(app, main_core_option)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	base_opts(&o, "[0-1]");
	o.main_core = 1;
	rc = spio_app_start(&o, start_main_core, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_eq(g_ss.cpu, 1, "app thread with main_core 1: expected cpu 1, got %d", g_ss.cpu);
	cr_assert_eq(g_ss.reactor_core, 1, "expected reactor 1, got %u", g_ss.reactor_core);
}

static void start_stop_twice(void *arg)
{
	spio_app_stop(5);
	spio_app_stop(6);
}

Test(app, first_stop_code_wins)
{
	struct spio_app_opts o;
	int rc;

	base_opts(&o, "0x1");
	rc = spio_app_start(&o, start_stop_twice, NULL);
	cr_assert_eq(rc, 5, "expected the first stop code 5, got %d", rc);
}

static void start_never(void *arg)
{
	g_ss.start_calls++;
	spio_app_stop(0);
}

Test(app, bad_options)
{
	struct spio_app_opts o;
	int rc;

	rc = spio_app_start(NULL, start_never, NULL);
	cr_assert_eq(rc, -EINVAL, "NULL opts: expected -EINVAL, got %d", rc);

	base_opts(&o, "0x1");
	o.opts_size = 0;
	rc = spio_app_start(&o, start_never, NULL);
	cr_assert_eq(rc, -EINVAL, "opts_size 0: expected -EINVAL, got %d", rc);

	base_opts(&o, "0x1");
	o.json_config_file = "/nonexistent.json";
	o.json_config_text = "{}";
	rc = spio_app_start(&o, start_never, NULL);
	cr_assert_eq(rc, -EINVAL, "file and text: expected -EINVAL, got %d", rc);

	base_opts(&o, "0xz");
	rc = spio_app_start(&o, start_never, NULL);
	cr_assert_eq(rc, -EINVAL, "mask 0xz: expected -EINVAL, got %d", rc);

	base_opts(&o, "[1000]");
	rc = spio_app_start(&o, start_never, NULL);
	cr_assert_eq(rc, -EINVAL, "mask with a core outside the affinity: expected -EINVAL, got %d",
		     rc);

	base_opts(&o, "0x1");
	o.main_core = 1;
	rc = spio_app_start(&o, start_never, NULL);
	cr_assert_eq(rc, -EINVAL, "main core outside the mask: expected -EINVAL, got %d", rc);

	base_opts(&o, "0x1");
	o.log_flags = "no_such_flag_anywhere";
	rc = spio_app_start(&o, start_never, NULL);
	cr_assert_eq(rc, -EINVAL, "unknown log flag: expected -EINVAL, got %d", rc);

	base_opts(&o, "0x1");
	o.log_level = "loud";
	rc = spio_app_start(&o, start_never, NULL);
	cr_assert_eq(rc, -EINVAL, "bad log level: expected -EINVAL, got %d", rc);

	base_opts(&o, "0x1");
	o.idle_mode = (enum spio_app_idle_mode)9;
	rc = spio_app_start(&o, start_never, NULL);
	cr_assert_eq(rc, -EINVAL, "bad idle mode: expected -EINVAL, got %d", rc);

	cr_assert_eq(g_ss.start_calls, 0, "start_fn must not run after bad options, ran %d times",
		     g_ss.start_calls);
	cr_assert_not(spio_env_is_initialized(), "the environment must be torn down");

	/* Still usable afterwards. */
	base_opts(&o, "0x1");
	o.log_level = "notice";
	rc = spio_app_start(&o, start_never, NULL);
	cr_assert_eq(rc, 0, "good options after bad ones: expected 0, got %d", rc);
	cr_assert_eq(g_ss.start_calls, 1, "start_fn: expected 1 call, got %d", g_ss.start_calls);
}

Test(app, opts_init_defaults)
{
	struct spio_app_opts o;

	memset(&o, 0xff, sizeof(o));
	spio_app_opts_init(&o, sizeof(o));
	cr_assert_eq(o.opts_size, sizeof(o), "opts_size: expected %zu, got %zu", sizeof(o),
		     o.opts_size);
	cr_assert_eq(o.main_core, UINT32_MAX, "main_core default: expected UINT32_MAX");
	cr_assert_str_eq(o.rpc_addr, "/var/tmp/spio.sock", "rpc_addr default: got %s", o.rpc_addr);
	cr_assert_eq(o.idle_mode, SPIO_APP_IDLE_ADAPTIVE, "idle mode default: expected adaptive");
	cr_assert_eq(o.idle_threshold_us, 1000, "idle threshold default: expected 1000, got %lu",
		     (unsigned long)o.idle_threshold_us);
	cr_assert_null(o.reactor_mask, "reactor_mask default: expected NULL");
	cr_assert_null(o.json_config_file, "json_config_file default: expected NULL");
	cr_assert_null(o.shutdown_cb, "shutdown_cb default: expected NULL");

	/* A shorter struct (older caller): only its prefix is written. */
	memset(&o, 0xab, sizeof(o));
	spio_app_opts_init(&o, offsetof(struct spio_app_opts, main_core));
	cr_assert_eq(o.main_core, 0xabababab, "bytes beyond opts_size must be untouched");
	spio_app_opts_init(NULL, sizeof(o)); /* ignored */
}

/*
 * Events
 */

#define N_EVENTS 2000

static struct {
	uint64_t next[2];
	bool wrong_core[2];
	bool out_of_order[2];
	int done;
	int send_rc;
} g_ev;

static void ev_count(void *arg1, void *arg2)
{
	uint32_t core = (uint32_t)(uintptr_t)arg1;
	uint64_t seq = (uint64_t)(uintptr_t)arg2;

	if (sched_getcpu() != (int)core || spio_reactor_get_current_core() != core) {
		g_ev.wrong_core[core] = true;
	}
	if (seq != g_ev.next[core]) {
		g_ev.out_of_order[core] = true;
	}
	g_ev.next[core]++;
	if (g_ev.next[core] == N_EVENTS &&
	    __atomic_add_fetch(&g_ev.done, 1, __ATOMIC_ACQ_REL) == 2) {
		spio_app_stop(0);
	}
}

static void start_events(void *arg)
{
	for (uint64_t i = 0; i < N_EVENTS; i++) {
		for (uint32_t core = 0; core < 2; core++) {
			int rc;

			while ((rc = spio_event_call(core, ev_count, (void *)(uintptr_t)core,
						     (void *)(uintptr_t)i)) == -ENOMEM) {
				sched_yield();
			}
			if (rc != 0) {
				g_ev.send_rc = rc;
				spio_app_stop(rc);
				return;
			}
		}
	}
}

Test(app, events_arrive_on_their_core_in_order)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	base_opts(&o, "0x3");
	rc = spio_app_start(&o, start_events, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d (send rc %d)", rc, g_ev.send_rc);
	for (int c = 0; c < 2; c++) {
		cr_assert_eq(g_ev.next[c], N_EVENTS, "core %d: expected %d events, got %lu", c,
			     N_EVENTS, (unsigned long)g_ev.next[c]);
		cr_assert_not(g_ev.wrong_core[c], "core %d: an event ran on another core", c);
		cr_assert_not(g_ev.out_of_order[c], "core %d: events from one sender out of order",
			      c);
	}
}

static struct {
	int bad_core_rc, null_fn_rc;
	uint32_t visited[4];
	int nvisited;
	uint32_t cpl_core;
	int feach_rc;
} g_eb;

static void ev_nop(void *arg1, void *arg2)
{
}

static void feach_visit(void *arg1, void *arg2)
{
	if (g_eb.nvisited < 4) {
		g_eb.visited[g_eb.nvisited] = spio_reactor_get_current_core();
	}
	g_eb.nvisited++;
}

static void feach_done(void *arg1, void *arg2)
{
	g_eb.cpl_core = spio_reactor_get_current_core();
	spio_app_stop(0);
}

static void start_event_errors(void *arg)
{
	g_eb.bad_core_rc = spio_event_call(5, ev_nop, NULL, NULL);
	g_eb.null_fn_rc = spio_event_call(0, NULL, NULL, NULL);
	g_eb.feach_rc = spio_for_each_reactor(feach_visit, NULL, NULL, feach_done);
	if (g_eb.feach_rc != 0) {
		spio_app_stop(g_eb.feach_rc);
	}
}

Test(app, event_errors_and_for_each_reactor)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	rc = spio_event_call(0, ev_nop, NULL, NULL);
	cr_assert_eq(rc, -EINVAL, "spio_event_call without an app: expected -EINVAL, got %d", rc);
	base_opts(&o, "0x3");
	rc = spio_app_start(&o, start_event_errors, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_eq(g_eb.bad_core_rc, -EINVAL, "core 5 not in the mask: expected -EINVAL, got %d",
		     g_eb.bad_core_rc);
	cr_assert_eq(g_eb.null_fn_rc, -EINVAL, "NULL fn: expected -EINVAL, got %d",
		     g_eb.null_fn_rc);
	cr_assert_eq(g_eb.feach_rc, 0, "for_each_reactor: expected 0, got %d", g_eb.feach_rc);
	cr_assert_eq(g_eb.nvisited, 2, "for_each_reactor: expected 2 visits, got %d",
		     g_eb.nvisited);
	cr_assert(g_eb.visited[0] == 0 && g_eb.visited[1] == 1,
		  "for_each_reactor: expected cores 0 then 1, got %u then %u", g_eb.visited[0],
		  g_eb.visited[1]);
	cr_assert_eq(g_eb.cpl_core, 0, "completion on the caller's core 0, got %u", g_eb.cpl_core);
	rc = spio_event_call(0, ev_nop, NULL, NULL);
	cr_assert_eq(rc, -EINVAL, "spio_event_call after the app: expected -EINVAL, got %d", rc);
}

/*
 * Placement
 */

#define N_PLACED 8

struct placed {
	int cpu;
	uint32_t reactor;
	bool ran;
};

static struct {
	struct placed p[N_PLACED + 1];
	int done;
	int bad_errno;
	bool bad_null;
	pthread_t ext;
	bool ext_joined;
	int ext_create_errno;
} g_pl;

/* The external sender may still be inside spio_thread_send_msg() when its
 * message runs: join it before the app (and the thread library) shut down,
 * as the library requires no sender to outlive spio_thread_lib_fini(). */
static void join_ext_and_stop(void *arg)
{
	pthread_join(g_pl.ext, NULL);
	g_pl.ext_joined = true;
	spio_app_stop(0);
}

static void placed_record(void *arg)
{
	struct placed *p = arg;

	p->cpu = sched_getcpu();
	p->reactor = spio_reactor_get_current_core();
	p->ran = true;
	if (__atomic_add_fetch(&g_pl.done, 1, __ATOMIC_ACQ_REL) == N_PLACED + 1) {
		spio_thread_send_msg(spio_app_get_thread(), join_ext_and_stop, NULL);
	}
}

static void *ext_thread_main(void *arg)
{
	struct spio_thread *t = spio_thread_create("external", NULL);

	if (t == NULL) {
		g_pl.ext_create_errno = errno;
		spio_app_stop(-errno);
		return NULL;
	}
	spio_thread_send_msg(t, placed_record, &g_pl.p[N_PLACED]);
	return NULL;
}

static void start_placement(void *arg)
{
	struct spio_cpuset on1, on5;
	char name[32];

	spio_cpuset_zero(&on1);
	spio_cpuset_set_cpu(&on1, 1, true);
	spio_cpuset_zero(&on5);
	spio_cpuset_set_cpu(&on5, 5, true);

	errno = 0;
	g_pl.bad_null = spio_thread_create("on5", &on5) == NULL;
	g_pl.bad_errno = errno;

	for (int i = 0; i < N_PLACED; i++) {
		struct spio_thread *t;

		snprintf(name, sizeof(name), "placed%d", i);
		t = spio_thread_create(name, i < N_PLACED / 2 ? &on1 : NULL);
		if (t == NULL) {
			spio_app_stop(-errno);
			return;
		}
		spio_thread_send_msg(t, placed_record, &g_pl.p[i]);
	}
	/* A thread created by an OS thread that is not a reactor. */
	pthread_create(&g_pl.ext, NULL, ext_thread_main, NULL);
}

Test(app, placement_respects_cpumask_round_robin)
{
	struct spio_app_opts o;
	int rc, on_core[2] = {0, 0};

	NEED_TWO_CORES();
	base_opts(&o, "0x3");
	rc = spio_app_start(&o, start_placement, NULL);
	if (!g_pl.ext_joined) {
		pthread_join(g_pl.ext, NULL);
	}
	cr_assert_eq(rc, 0, "expected 0, got %d (external create errno %d)", rc,
		     g_pl.ext_create_errno);
	cr_assert(g_pl.bad_null, "a thread whose mask holds no reactor core must not be created");
	cr_assert_eq(g_pl.bad_errno, EINVAL, "mask [5]: expected errno EINVAL, got %d",
		     g_pl.bad_errno);
	for (int i = 0; i <= N_PLACED; i++) {
		cr_assert(g_pl.p[i].ran, "thread %d never ran its message", i);
		cr_assert_eq((uint32_t)g_pl.p[i].cpu, g_pl.p[i].reactor,
			     "thread %d: cpu %d but reactor %u", i, g_pl.p[i].cpu,
			     g_pl.p[i].reactor);
	}
	for (int i = 0; i < N_PLACED / 2; i++) {
		cr_assert_eq(g_pl.p[i].reactor, 1, "thread %d with cpumask [1] ran on reactor %u",
			     i, g_pl.p[i].reactor);
	}
	for (int i = N_PLACED / 2; i < N_PLACED; i++) {
		on_core[g_pl.p[i].reactor]++;
	}
	cr_assert(on_core[0] == N_PLACED / 4 && on_core[1] == N_PLACED / 4,
		  "threads with any core: expected round-robin %d + %d, got %d on core 0 and %d "
		  "on core 1",
		  N_PLACED / 4, N_PLACED / 4, on_core[0], on_core[1]);
	cr_assert_eq(spio_thread_get_count(), 0, "threads left after the app: %u",
		     spio_thread_get_count());
}

/*
 * Shutdown: signals, callback, stubborn threads
 */

static struct {
	char order[8];
	int n;
	pthread_t helper;
	int shutdown_cb_calls;
	bool cb_on_app_thread;
	int sig;
} g_sd;

static void sub_a_fini(void)
{
	g_sd.order[g_sd.n++] = 'a';
	spio_subsystem_fini_next();
}

static void sub_b_fini(void)
{
	g_sd.order[g_sd.n++] = 'b';
	spio_subsystem_fini_next();
}

static struct spio_subsystem g_sub_a = {.name = "a", .fini = sub_a_fini};
static struct spio_subsystem g_sub_b = {.name = "b", .fini = sub_b_fini};
static struct spio_subsystem_depend g_dep_b_a = {.name = "b", .depends_on = "a"};

static void register_ab(void)
{
	int rc = spio_subsystem_register(&g_sub_b);

	cr_assert_eq(rc, 0, "register b: expected 0, got %d", rc);
	rc = spio_subsystem_register(&g_sub_a);
	cr_assert_eq(rc, 0, "register a: expected 0, got %d", rc);
	rc = spio_subsystem_add_depend(&g_dep_b_a);
	cr_assert_eq(rc, 0, "depend b -> a: expected 0, got %d", rc);
}

static void *raise_sig(void *arg)
{
	usleep(50 * 1000);
	raise(g_sd.sig);
	return NULL;
}

static void start_signal(void *arg)
{
	pthread_create(&g_sd.helper, NULL, raise_sig, NULL);
}

Test(app, sigterm_shuts_down_in_order)
{
	struct spio_app_opts o;
	int rc;

	register_ab();
	g_sd.sig = SIGTERM;
	base_opts(&o, test_have_two_cores() ? "0x3" : "0x1");
	rc = spio_app_start(&o, start_signal, NULL);
	pthread_join(g_sd.helper, NULL);
	cr_assert_eq(rc, 0, "SIGTERM: expected 0, got %d", rc);
	cr_assert_eq(g_sd.n, 2, "expected 2 fini calls, got %d", g_sd.n);
	cr_assert(g_sd.order[0] == 'b' && g_sd.order[1] == 'a',
		  "fini order: expected b then a (reverse of init), got %c then %c", g_sd.order[0],
		  g_sd.order[1]);
	/* The handlers are restored: SIGTERM's default is to terminate. */
	struct sigaction sa;
	sigaction(SIGTERM, NULL, &sa);
	cr_assert_eq(sa.sa_handler, SIG_DFL, "SIGTERM handler must be restored");
}

static void on_shutdown(void)
{
	g_sd.shutdown_cb_calls++;
	g_sd.cb_on_app_thread = spio_get_thread() == spio_app_get_thread();
	spio_app_stop(3);
}

Test(app, sigint_calls_shutdown_cb)
{
	struct spio_app_opts o;
	int rc;

	register_ab();
	g_sd.sig = SIGINT;
	base_opts(&o, "0x1");
	o.shutdown_cb = on_shutdown;
	rc = spio_app_start(&o, start_signal, NULL);
	pthread_join(g_sd.helper, NULL);
	cr_assert_eq(rc, 3, "shutdown_cb stops with 3: expected 3, got %d", rc);
	cr_assert_eq(g_sd.shutdown_cb_calls, 1, "shutdown_cb: expected 1 call, got %d",
		     g_sd.shutdown_cb_calls);
	cr_assert(g_sd.cb_on_app_thread, "shutdown_cb must run on the app thread");
	cr_assert_eq(g_sd.n, 2, "expected 2 fini calls, got %d", g_sd.n);
}

static void start_shutdown_twice(void *arg)
{
	spio_app_start_shutdown();
	spio_app_start_shutdown();
}

Test(app, start_shutdown_without_cb)
{
	struct spio_app_opts o;
	int rc;

	base_opts(&o, "0x1");
	rc = spio_app_start(&o, start_shutdown_twice, NULL);
	cr_assert_eq(rc, 0, "start_shutdown without shutdown_cb: expected 0, got %d", rc);
	spio_app_start_shutdown(); /* no app: ignored */
	spio_app_stop(1);	   /* no app: ignored */
}

static int stubborn_poll(void *arg)
{
	return SPIO_POLLER_IDLE;
}

static void stubborn_setup(void *arg)
{
	/* Never unregistered: the exit timeout must reclaim it. */
	spio_poller_register(stubborn_poll, NULL, 0);
}

static void start_stubborn(void *arg)
{
	struct spio_thread *t = spio_thread_create("stubborn", NULL);

	spio_thread_lib_set_exit_timeout_us(100 * 1000);
	if (t == NULL) {
		spio_app_stop(-errno);
		return;
	}
	spio_thread_send_msg(t, stubborn_setup, NULL);
	spio_app_stop(0);
}

Test(app, shutdown_reclaims_threads_that_do_not_exit)
{
	struct spio_app_opts o;
	int rc;

	base_opts(&o, test_have_two_cores() ? "0x3" : "0x1");
	rc = spio_app_start(&o, start_stubborn, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_eq(spio_thread_get_count(), 0, "threads left: %u", spio_thread_get_count());
}

/*
 * event_call_await
 */

static struct {
	int outside_rc;
	int await_rc;
	int await_async_rc;
	int bad_core_rc;
	int fn_cpu;
	uint32_t fn_reactor;
	bool resumed_on_app_thread;
	int resumed_cpu;
} g_aw;

static void await_fn(void *arg, struct spio_completion *c)
{
	g_aw.fn_cpu = sched_getcpu();
	g_aw.fn_reactor = spio_reactor_get_current_core();
	spio_completion_done(c, 42);
}

static void complete_later(void *arg1, void *arg2)
{
	spio_completion_done(arg1, -ETIMEDOUT);
}

static void await_fn_async(void *arg, struct spio_completion *c)
{
	/* Filled later, from another core's reactor. */
	spio_event_call(0, complete_later, c, NULL);
}

static int await_task(void *arg)
{
	g_aw.await_rc = spio_event_call_await(1, await_fn, NULL);
	g_aw.resumed_on_app_thread = spio_get_thread() == spio_app_get_thread();
	g_aw.resumed_cpu = sched_getcpu();
	g_aw.await_async_rc = spio_event_call_await(1, await_fn_async, NULL);
	g_aw.bad_core_rc = spio_event_call_await(9, await_fn, NULL);
	spio_app_stop(0);
	return 0;
}

static void start_await(void *arg)
{
	struct spio_task_opts to;
	int rc;

	g_aw.outside_rc = spio_event_call_await(1, await_fn, NULL);
	spio_task_opts_init(&to, sizeof(to));
	to.stack_size = 256 * 1024;
	rc = spio_task_spawn(await_task, NULL, &to, NULL);
	if (rc != 0) {
		spio_app_stop(rc);
	}
}

Test(app, event_call_await_from_task)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	base_opts(&o, "0x3");
	rc = spio_app_start(&o, start_await, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_eq(g_aw.outside_rc, -EPERM, "outside a task: expected -EPERM, got %d",
		     g_aw.outside_rc);
	cr_assert_eq(g_aw.await_rc, 42, "expected the status 42 from fn, got %d", g_aw.await_rc);
	cr_assert_eq(g_aw.fn_cpu, 1, "fn: expected cpu 1, got %d", g_aw.fn_cpu);
	cr_assert_eq(g_aw.fn_reactor, 1, "fn: expected reactor 1, got %u", g_aw.fn_reactor);
	cr_assert(g_aw.resumed_on_app_thread, "the task must resume on its own thread");
	cr_assert_eq(g_aw.resumed_cpu, 0, "the task must resume on cpu 0, got %d",
		     g_aw.resumed_cpu);
	cr_assert_eq(g_aw.await_async_rc, -ETIMEDOUT,
		     "completion filled later from core 0: expected -ETIMEDOUT, got %d",
		     g_aw.await_async_rc);
	cr_assert_eq(g_aw.bad_core_rc, -EINVAL, "core 9: expected -EINVAL, got %d",
		     g_aw.bad_core_rc);
}

/*
 * Helper threads and statistics
 */

static struct {
	pthread_t th;
	int spawn_rc;
	int cpu0, cpu1;
	int null_rc;
	struct spio_reactor_stats st0;
	int stats_rc, stats_bad_rc, stats_null_rc;
} g_hs;

static void *aff_fn(void *arg)
{
	cpu_set_t set;

	pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
	g_hs.cpu0 = CPU_ISSET(0, &set);
	g_hs.cpu1 = CPU_ISSET(1, &set);
	return NULL;
}

static struct spio_poller *g_stats_poller;

/* A few iterations after start: the reactor has counted some time by now. */
static int stats_later(void *arg)
{
	g_hs.stats_rc = spio_reactor_get_stats(0, &g_hs.st0);
	g_hs.stats_bad_rc = spio_reactor_get_stats(7, &g_hs.st0);
	g_hs.stats_null_rc = spio_reactor_get_stats(0, NULL);
	spio_poller_unregister(&g_stats_poller);
	spio_app_stop(0);
	return SPIO_POLLER_BUSY;
}

static void start_spawn(void *arg)
{
	g_hs.null_rc = spio_app_spawn_unaffinitized(NULL, NULL, &g_hs.th);
	g_hs.spawn_rc = spio_app_spawn_unaffinitized(aff_fn, NULL, &g_hs.th);
	g_stats_poller = spio_poller_register(stats_later, NULL, 10 * 1000);
	if (g_stats_poller == NULL) {
		spio_app_stop(-errno);
	}
}

Test(app, spawn_unaffinitized_excludes_reactor_cores)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	base_opts(&o, "0x1");
	rc = spio_app_start(&o, start_spawn, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_eq(g_hs.null_rc, -EINVAL, "NULL fn: expected -EINVAL, got %d", g_hs.null_rc);
	cr_assert_eq(g_hs.spawn_rc, 0, "spawn: expected 0, got %d", g_hs.spawn_rc);
	pthread_join(g_hs.th, NULL);
	cr_assert(!g_hs.cpu0 && g_hs.cpu1,
		  "reactors on [0]: helper affinity expected {1}, got cpu0=%d cpu1=%d", g_hs.cpu0,
		  g_hs.cpu1);

	base_opts(&o, "0x3");
	rc = spio_app_start(&o, start_spawn, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	pthread_join(g_hs.th, NULL);
	cr_assert(g_hs.cpu0 && g_hs.cpu1,
		  "reactors on every core: helper may run anywhere, got cpu0=%d cpu1=%d", g_hs.cpu0,
		  g_hs.cpu1);
	rc = spio_app_spawn_unaffinitized(aff_fn, NULL, &g_hs.th);
	cr_assert_eq(rc, -EINVAL, "without an app: expected -EINVAL, got %d", rc);
}

Test(app, reactor_stats)
{
	struct spio_app_opts o;
	struct spio_reactor_stats st;
	int rc;

	base_opts(&o, "0x1");
	rc = spio_app_start(&o, start_spawn, NULL);
	pthread_join(g_hs.th, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_eq(g_hs.stats_rc, 0, "stats of core 0: expected 0, got %d", g_hs.stats_rc);
	cr_assert_eq(g_hs.stats_bad_rc, -EINVAL, "stats of core 7: expected -EINVAL, got %d",
		     g_hs.stats_bad_rc);
	cr_assert_eq(g_hs.stats_null_rc, -EINVAL, "NULL stats: expected -EINVAL, got %d",
		     g_hs.stats_null_rc);
	cr_assert_eq(g_hs.st0.thread_count, 1, "core 0 runs the app thread: expected 1, got %u",
		     g_hs.st0.thread_count);
	cr_assert_gt(g_hs.st0.busy_tsc + g_hs.st0.idle_tsc, 0,
		     "the reactor must have counted time");
	cr_assert_gt(g_hs.st0.event_count, 0, "placing the app thread is an event");
	rc = spio_reactor_get_stats(0, &st);
	cr_assert_eq(rc, -EINVAL, "stats without an app: expected -EINVAL, got %d", rc);
	cr_assert_eq(spio_reactor_get_current_core(), UINT32_MAX,
		     "the test thread is not a reactor");
	cr_assert_not(spio_reactor_is_core(0), "no reactor without an app");
}
