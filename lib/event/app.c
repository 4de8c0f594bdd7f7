/*
 * The app framework: start-up sequence, orderly shutdown, signals.
 *
 * Everything after the reactors start runs on the app thread (a spio_thread
 * on the main core), one step per message:
 *
 *   start:    JSON config (STARTUP entries) -> subsystems init (in order)
 *             -> RPC state RUNTIME -> JSON config (RUNTIME entries)
 *             -> RPC server -> start_fn
 *   --wait-for-rpc (delay_subsystem_init): the RPC server starts after the
 *             STARTUP entries and the rest waits for framework_start_init.
 *   shutdown: RPC server stop -> subsystems fini (reverse) -> reactors stop
 *             (every thread exits, loops end) -> spio_app_start() tears down
 *             the reactors, the thread library and the environment.
 *
 * A stop requested while an asynchronous start-up step is pending is acted on
 * when that step finishes. Signals that stop the app (SIGINT, SIGTERM,
 * SIGHUP) only set a flag and write an eventfd in the handler; the main
 * reactor notices the flag on its next iteration (the eventfd wakes it if it
 * sleeps). SIGPIPE, SIGUSR1, SIGUSR2 and SIGALRM are ignored while the app
 * runs (include/spio/app.h says why).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "event_internal.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/rpc.h"

SPIO_LOG_REGISTER_COMPONENT(app)

enum app_phase {
	PHASE_NONE = 0,
	PHASE_INIT,   /* STARTUP config entries, subsystems initialising */
	PHASE_WAIT,   /* --wait-for-rpc: waiting for framework_start_init */
	PHASE_CONFIG, /* JSON config running */
	PHASE_RUNNING,
	PHASE_STOPPING,
};

static struct {
	struct spio_app_opts opts; /* caller's options, defaults filled in */
	spio_app_start_fn start_fn;
	void *start_arg;
	uint32_t main_core;
	struct spio_cpuset cores;
	cpu_set_t caller_affinity;
	bool have_caller_affinity;
	/* App thread only. */
	enum app_phase phase;
	bool rpc_started;
	/* framework_start_init, answered when start-up ends */
	void (*init_cb)(int rc, void *arg);
	void *init_cb_arg;
	struct json_config *config; /* loaded at start-up, freed when spio_app_start returns */
	/* Any thread (atomics). */
	int stop_requested;
	int shutdown_requested;
	int rc;
	/* Signals: the dispositions found at start, restored at the end. */
	struct sigaction old_sig[7];
	bool handlers_installed;
} g_app;

/* Stop the app cleanly; SIGHUP only if it was not ignored at start (nohup). */
static const int g_stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
/*
 * Ignored: SIGPIPE so that a closed stdout/stderr or socket fails writes with
 * EPIPE instead of killing the daemon; the others have no meaning here and
 * must not kill it silently.
 */
static const int g_ignored_signals[] = {SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM};

#define APP_NSIGNALS (SPIO_COUNTOF(g_stop_signals) + SPIO_COUNTOF(g_ignored_signals))

static int g_app_active; /* spio_app_start() in progress */
/* The app thread; atomic. Outside g_app, whose reset is a plain memset, because
 * any OS thread may read it at any time (spio_app_get_thread). */
static struct spio_thread *g_app_thread;
static int g_sig_fd = -1;    /* read by the signal handler */
static int g_signal_pending; /* signal number, set by the handler */

/*
 * Options
 */

#define OPT_HAS(size, field)                                                                   \
	(offsetof(struct spio_app_opts, field) + sizeof(((struct spio_app_opts *)0)->field) <= \
	 (size))

static void opts_defaults(struct spio_app_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->opts_size = sizeof(*o);
	o->name = "spio";
	o->reactor_mask = NULL;
	o->main_core = UINT32_MAX;
	o->rpc_addr = SPIO_RPC_DEFAULT_SOCKET;
	o->idle_mode = SPIO_APP_IDLE_ADAPTIVE;
	o->idle_threshold_us = SPIO_APP_DEFAULT_IDLE_THRESHOLD_US;
}

void spio_app_opts_init(struct spio_app_opts *opts, size_t opts_size)
{
	struct spio_app_opts def;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	opts_defaults(&def);
	def.opts_size = opts_size;
	memcpy(opts, &def, SPIO_MIN(opts_size, sizeof(def)));
}

/* The caller's options over the defaults, field by field up to its opts_size. */
static void opts_copy(struct spio_app_opts *dst, const struct spio_app_opts *src)
{
	size_t n = src->opts_size;

	opts_defaults(dst);
#define COPY(field)                              \
	do {                                     \
		if (OPT_HAS(n, field)) {         \
			dst->field = src->field; \
		}                                \
	} while (0)
	COPY(name);
	COPY(reactor_mask);
	COPY(main_core);
	COPY(json_config_file);
	COPY(json_config_text);
	COPY(rpc_addr);
	COPY(mem_size_mb);
	COPY(no_huge);
	COPY(log_level);
	COPY(log_flags);
	COPY(idle_mode);
	COPY(idle_threshold_us);
	COPY(shutdown_cb);
	COPY(delay_subsystem_init);
	COPY(pci_allowed);
	COPY(num_pci_allowed);
	COPY(pci_blocked);
	COPY(num_pci_blocked);
	COPY(iova_mode);
	COPY(no_pci);
#undef COPY
}

static int apply_log_opts(const struct spio_app_opts *o)
{
	enum spio_log_level old_level = spio_log_get_level();
	int rc;

	if (o->log_flags != NULL && o->log_flags[0] != '\0') {
		if (strchr(o->log_flags, ':') != NULL) {
			rc = -EINVAL; /* flags only: the level has its own option */
		} else {
			rc = spio_log_apply_spec(o->log_flags);
		}
		if (rc != 0) {
			/* The spec raised the level to debug: undo that. */
			spio_log_set_level(old_level);
			SPIO_ERRLOG("log flags '%s': %s\n", o->log_flags,
				    rc == -ENOENT ? "unknown flag"
						  : "expected a comma-separated list of flags");
			return -EINVAL;
		}
	}
	if (o->log_level != NULL) {
		rc = spio_log_level_from_string(o->log_level);
		if (rc < SPIO_LOG_DISABLED) {
			SPIO_ERRLOG("log level '%s': expected error, warn, notice, info or debug\n",
				    o->log_level);
			return -EINVAL;
		}
		spio_log_set_level((enum spio_log_level)rc);
	}
	return 0;
}

/*
 * State queries
 */

bool app_stop_requested(void)
{
	return __atomic_load_n(&g_app.stop_requested, __ATOMIC_ACQUIRE) != 0;
}

bool app_is_running(void)
{
	return __atomic_load_n(&g_app_active, __ATOMIC_ACQUIRE) != 0;
}

struct spio_thread *spio_app_get_thread(void)
{
	return __atomic_load_n(&g_app_thread, __ATOMIC_ACQUIRE);
}

uint32_t spio_app_get_main_core(void)
{
	return app_is_running() ? g_app.main_core : UINT32_MAX;
}

void spio_app_get_cpuset(struct spio_cpuset *set)
{
	if (set == NULL) {
		return;
	}
	if (app_is_running()) {
		spio_cpuset_copy(set, &g_app.cores);
	} else {
		spio_cpuset_zero(set);
	}
}

/*
 * Shutdown
 */

static void app_msg_run(void *ctx)
{
	struct app_msg *m = ctx;
	spio_msg_fn fn = m->fn;
	void *arg = m->arg;

	__atomic_store_n(&m->in_flight, 0, __ATOMIC_RELEASE);
	fn(arg);
}

/* On the main reactor: hand the message to the app thread. */
static void app_msg_event(void *arg1, void *arg2)
{
	struct app_msg *m = arg1;
	struct spio_thread *t = spio_app_get_thread();

	(void)arg2;
	if (t == NULL || spio_thread_send_msg_embedded(t, &m->msg, app_msg_run, m) != 0) {
		__atomic_store_n(&m->in_flight, 0, __ATOMIC_RELEASE);
		SPIO_ERRLOG("the app thread is gone; message dropped\n");
	}
}

/*
 * Send `fn(arg)` to the app thread from any OS thread. Only the main reactor's
 * OS thread sends the message itself: that is the OS thread that destroys the
 * app thread at the end, so a sender never touches the thread while it is
 * being freed. Everyone else goes through an event to the main core (the
 * reactors outlive every sender, see reactors_fini()). Both use `m`'s own
 * storage, so nothing can be lost for lack of memory.
 */
void app_send_msg(struct app_msg *m, spio_msg_fn fn, void *arg)
{
	int rc;

	if (__atomic_exchange_n(&m->in_flight, 1, __ATOMIC_ACQ_REL) != 0) {
		/* A second step before the first ran: a caller's bug, not a race to lose. */
		SPIO_ERRLOG("app thread message already pending; this one is dropped\n");
		return;
	}
	m->fn = fn;
	m->arg = arg;
	if (spio_reactor_get_current_core() == g_app.main_core) {
		struct spio_thread *t = spio_app_get_thread();

		rc =
		    t != NULL ? spio_thread_send_msg_embedded(t, &m->msg, app_msg_run, m) : -EINVAL;
	} else {
		rc = reactor_event_call_embedded(g_app.main_core, &m->ev, app_msg_event, m, NULL);
	}
	if (rc != 0) {
		__atomic_store_n(&m->in_flight, 0, __ATOMIC_RELEASE);
		SPIO_ERRLOG("cannot reach the app thread: %s\n", strerror(-rc));
	}
}

/* Answer a pending framework_start_init (once). */
static void app_init_cb_call(int rc)
{
	void (*cb)(int rc, void *arg) = g_app.init_cb;

	g_app.init_cb = NULL;
	if (cb != NULL) {
		cb(rc, g_app.init_cb_arg);
	}
}

static void app_fini_done(void)
{
	SPIO_DEBUGLOG(app, "subsystems finished; stopping reactors\n");
	reactors_stop();
}

/* On the app thread: begin the orderly teardown (once). */
static void app_teardown(void)
{
	if (g_app.phase == PHASE_STOPPING) {
		return;
	}
	g_app.phase = PHASE_STOPPING;
	app_init_cb_call(-ESHUTDOWN);
	app_rpc_shutdown();
	if (g_app.rpc_started) {
		spio_rpc_server_stop();
		g_app.rpc_started = false;
	}
	subsystems_fini_all(app_fini_done);
}

static void app_stop_msg(void *arg)
{
	/* During an asynchronous start-up step, the step's end acts on the stop. */
	if (g_app.phase == PHASE_RUNNING || g_app.phase == PHASE_WAIT) {
		app_teardown();
	}
}

void spio_app_stop(int rc)
{
	int expected = 0;

	if (!app_is_running()) {
		return;
	}
	if (!__atomic_compare_exchange_n(&g_app.stop_requested, &expected, 1, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		return;
	}
	__atomic_store_n(&g_app.rc, rc, __ATOMIC_RELAXED);
	SPIO_DEBUGLOG(app, "stop requested (rc %d)\n", rc);
	static struct app_msg stop_msg;

	app_send_msg(&stop_msg, app_stop_msg, NULL);
}

/* Start-up failed on the app thread. */
static void app_fail(int rc)
{
	spio_app_stop(rc);
	app_teardown();
}

static void app_shutdown_msg(void *arg)
{
	if (g_app.phase == PHASE_RUNNING && g_app.opts.shutdown_cb != NULL) {
		g_app.opts.shutdown_cb();
	} else {
		spio_app_stop(0);
	}
}

void spio_app_start_shutdown(void)
{
	int expected = 0;

	if (!app_is_running()) {
		return;
	}
	if (!__atomic_compare_exchange_n(&g_app.shutdown_requested, &expected, 1, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		return;
	}
	static struct app_msg shutdown_msg;

	app_send_msg(&shutdown_msg, app_shutdown_msg, NULL);
}

/*
 * Signals
 */

static void app_signal_handler(int sig)
{
	int saved = errno;
	uint64_t one = 1;

	__atomic_store_n(&g_signal_pending, sig, __ATOMIC_RELAXED);
	if (write(__atomic_load_n(&g_sig_fd, __ATOMIC_RELAXED), &one, sizeof(one)) < 0) {
		/* Nothing to do: the flag is set and the reactor polls it. */
	}
	errno = saved;
}

void app_check_signals(void)
{
	int sig;

	if (spio_likely(__atomic_load_n(&g_signal_pending, __ATOMIC_RELAXED) == 0)) {
		return;
	}
	sig = __atomic_exchange_n(&g_signal_pending, 0, __ATOMIC_RELAXED);
	SPIO_NOTICELOG("%s: caught %s, shutting down\n", g_app.opts.name, strsignal(sig));
	spio_app_start_shutdown();
}

/* Signal number i of the stop list followed by the ignore list. */
static int app_signal(size_t i)
{
	size_t nstop = SPIO_COUNTOF(g_stop_signals);

	return i < nstop ? g_stop_signals[i] : g_ignored_signals[i - nstop];
}

static int signals_install(void)
{
	struct sigaction handle, ignore, cur;
	size_t i;
	int sig;

	_Static_assert(APP_NSIGNALS == SPIO_COUNTOF(g_app.old_sig), "one old_sig per signal");
	g_sig_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g_sig_fd < 0) {
		return -errno;
	}
	memset(&handle, 0, sizeof(handle));
	handle.sa_handler = app_signal_handler;
	handle.sa_flags = SA_RESTART;
	sigemptyset(&handle.sa_mask);
	memset(&ignore, 0, sizeof(ignore));
	ignore.sa_handler = SIG_IGN;
	sigemptyset(&ignore.sa_mask);

	for (i = 0; i < APP_NSIGNALS; i++) {
		sig = app_signal(i);
		if (sigaction(sig, NULL, &cur) != 0) {
			goto fail;
		}
		g_app.old_sig[i] = cur;
		if (sig == SIGHUP && cur.sa_handler == SIG_IGN) {
			continue; /* started under nohup: stay immune to hang-ups */
		}
		if (sigaction(sig, i < SPIO_COUNTOF(g_stop_signals) ? &handle : &ignore, NULL) !=
		    0) {
			goto fail;
		}
	}
	g_app.handlers_installed = true;
	return 0;

fail:
	sig = -errno;
	while (i-- > 0) {
		sigaction(app_signal(i), &g_app.old_sig[i], NULL);
	}
	close(g_sig_fd);
	g_sig_fd = -1;
	return sig;
}

static void signals_restore(void)
{
	if (g_app.handlers_installed) {
		for (size_t i = 0; i < APP_NSIGNALS; i++) {
			sigaction(app_signal(i), &g_app.old_sig[i], NULL);
		}
		g_app.handlers_installed = false;
	}
	if (g_sig_fd >= 0) {
		close(g_sig_fd);
		g_sig_fd = -1;
	}
	__atomic_store_n(&g_signal_pending, 0, __ATOMIC_RELAXED);
}

/*
 * Start-up, on the app thread
 */

/* Start the RPC server if there is one and it does not run yet. */
static int app_rpc_start(void)
{
	const char *addr = g_app.opts.rpc_addr;
	int rc;

	if (g_app.rpc_started || addr == NULL || addr[0] == '\0') {
		return 0;
	}
	rc = spio_rpc_server_start(addr);
	if (rc != 0) {
		SPIO_ERRLOG("%s: cannot start the RPC server on %s: %s\n", g_app.opts.name, addr,
			    strerror(-rc));
		return rc;
	}
	g_app.rpc_started = true;
	return 0;
}

static void app_config_done(int rc)
{
	if (app_stop_requested()) {
		app_teardown();
		return;
	}
	if (rc != 0) {
		SPIO_ERRLOG("%s: configuration failed; stopping\n", g_app.opts.name);
		app_fail(rc);
		return;
	}
	rc = app_rpc_start();
	if (rc != 0) {
		app_fail(rc);
		return;
	}
	g_app.phase = PHASE_RUNNING;
	SPIO_DEBUGLOG(app, "start-up complete\n");
	if (g_app.start_fn) {
		g_app.start_fn(g_app.start_arg);
	}
	app_init_cb_call(0);
}

/* Subsystems are up: the RUNTIME pass of the configuration (SPDK's second). */
static void app_init_done(int rc)
{
	if (app_stop_requested()) {
		app_teardown();
		return;
	}
	if (rc != 0) {
		app_fail(rc);
		return;
	}
	app_rpc_init_done();
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
	if (g_app.config == NULL) {
		app_config_done(0);
		return;
	}
	g_app.phase = PHASE_CONFIG;
	json_config_run(g_app.config, app_config_done);
}

/* framework_start_init was called: initialise the subsystems. */
static void app_start_init_msg(void *arg)
{
	if (app_stop_requested()) {
		app_teardown();
		return;
	}
	subsystems_init_all(app_init_done);
}

int app_start_init(void (*cb)(int rc, void *arg), void *arg)
{
	static struct app_msg init_msg;

	if (g_app.phase == PHASE_STOPPING || app_stop_requested()) {
		return -ESHUTDOWN;
	}
	if (g_app.phase != PHASE_WAIT) {
		return -EALREADY;
	}
	g_app.phase = PHASE_INIT;
	g_app.init_cb = cb;
	g_app.init_cb_arg = arg;
	/* By message: the subsystems do not start inside the RPC handler's call. */
	app_send_msg(&init_msg, app_start_init_msg, NULL);
	return 0;
}

/* The STARTUP pass ran (bdev_set_options, ...): start the subsystems, or wait. */
static void app_startup_config_done(int rc)
{
	if (app_stop_requested() || rc != 0) {
		app_config_done(rc); /* tears down, with the reason */
		return;
	}
	if (!g_app.opts.delay_subsystem_init) {
		subsystems_init_all(app_init_done);
		return;
	}
	rc = app_rpc_start();
	if (rc != 0) {
		app_fail(rc);
		return;
	}
	g_app.phase = PHASE_WAIT;
	SPIO_NOTICELOG("%s: waiting for the framework_start_init RPC on %s\n", g_app.opts.name,
		       g_app.opts.rpc_addr);
}

static void app_start_msg(void *arg)
{
	int rc;

	g_app.phase = PHASE_INIT;
	if (g_app.opts.json_config_file == NULL && g_app.opts.json_config_text == NULL) {
		app_startup_config_done(0);
		return;
	}
	rc = json_config_load(g_app.opts.json_config_file, g_app.opts.json_config_text,
			      &g_app.config);
	if (rc != 0) {
		app_fail(rc);
		return;
	}
	json_config_run(g_app.config, app_startup_config_done);
}

/*
 * spio_app_start
 */

static int app_env_init(void)
{
	struct spio_env_opts env;

	spio_env_opts_init(&env, sizeof(env));
	env.name = g_app.opts.name;
	env.no_huge = g_app.opts.no_huge;
	env.mem_size_mb = g_app.opts.mem_size_mb;
	env.core_mask = g_app.opts.reactor_mask;
	env.pci_allowed = g_app.opts.pci_allowed;
	env.num_pci_allowed = g_app.opts.num_pci_allowed;
	env.pci_blocked = g_app.opts.pci_blocked;
	env.num_pci_blocked = g_app.opts.num_pci_blocked;
	env.iova_mode = g_app.opts.iova_mode;
	env.no_pci = g_app.opts.no_pci;
	return spio_env_init(&env);
}

static int check_opts(const struct spio_app_opts *o)
{
	if (o->json_config_file != NULL && o->json_config_text != NULL) {
		SPIO_ERRLOG("json_config_file and json_config_text are exclusive\n");
		return -EINVAL;
	}
	if (o->idle_mode != SPIO_APP_IDLE_ADAPTIVE && o->idle_mode != SPIO_APP_IDLE_POLL) {
		SPIO_ERRLOG("idle mode %d: expected SPIO_APP_IDLE_ADAPTIVE or SPIO_APP_IDLE_POLL\n",
			    (int)o->idle_mode);
		return -EINVAL;
	}
	if (o->name == NULL) {
		return -EINVAL;
	}
	if (o->delay_subsystem_init && (o->rpc_addr == NULL || o->rpc_addr[0] == '\0')) {
		/* SPDK's words */
		SPIO_ERRLOG(
		    "Cannot use '--wait-for-rpc' if no RPC server is going to be started.\n");
		return -EINVAL;
	}
	return 0;
}

static void app_reset(void)
{
	memset(&g_app, 0, sizeof(g_app));
	g_app.main_core = UINT32_MAX;
}

int spio_app_start(const struct spio_app_opts *opts, spio_app_start_fn start_fn, void *arg)
{
	struct reactors_opts ropts;
	struct spio_cpuset app_mask;
	struct spio_thread *app_thread;
	int expected = 0, rc;
	bool env_up = false, lib_up = false, reactors_up = false, ran = false;

	if (opts == NULL || opts->opts_size == 0) {
		return -EINVAL;
	}
	if (!__atomic_compare_exchange_n(&g_app_active, &expected, 1, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED)) {
		return -EALREADY;
	}
	app_reset();
	opts_copy(&g_app.opts, opts);
	g_app.start_fn = start_fn;
	g_app.start_arg = arg;
	rc = check_opts(&g_app.opts);
	if (rc == 0) {
		rc = apply_log_opts(&g_app.opts);
	}
	if (rc != 0) {
		goto out;
	}
	g_app.have_caller_affinity =
	    pthread_getaffinity_np(pthread_self(), sizeof(g_app.caller_affinity),
				   &g_app.caller_affinity) == 0;
	/* SPDK's applications send notices and worse to syslog; so do spio's, unless set */
	if (spio_log_get_syslog_level() == SPIO_LOG_DISABLED) {
		spio_log_set_syslog_level(SPIO_LOG_NOTICE);
	}

	rc = app_env_init();
	if (rc != 0) {
		SPIO_ERRLOG("%s: environment initialisation failed: %s\n", g_app.opts.name,
			    strerror(-rc));
		goto out;
	}
	env_up = true;
	spio_env_get_cpuset(&g_app.cores);
	cpu_stat_start(&g_app.cores);
	g_app.main_core = g_app.opts.main_core;
	if (g_app.main_core == UINT32_MAX) {
		g_app.main_core = (uint32_t)spio_cpuset_first(&g_app.cores);
	} else if (!spio_cpuset_get_cpu(&g_app.cores, g_app.main_core)) {
		SPIO_ERRLOG("%s: main core %u is not in the reactor mask\n", g_app.opts.name,
			    g_app.opts.main_core);
		rc = -EINVAL;
		goto out;
	}

	subsystems_set_locked(true);
	rc = subsystems_prepare();
	if (rc != 0) {
		goto out;
	}
	rc = signals_install();
	if (rc != 0) {
		goto out;
	}

	ropts = (struct reactors_opts){.cores = &g_app.cores,
				       .main_core = g_app.main_core,
				       .idle_mode = g_app.opts.idle_mode,
				       .idle_threshold_us = g_app.opts.idle_threshold_us,
				       .main_wake_fd = g_sig_fd};
	rc = reactors_init(&ropts);
	if (rc != 0) {
		goto out;
	}
	reactors_up = true;
	rc = spio_thread_lib_init(reactors_new_thread, reactors_thread_ctx_size());
	if (rc != 0) {
		SPIO_ERRLOG("%s: thread library initialisation failed: %s\n", g_app.opts.name,
			    strerror(-rc));
		goto out;
	}
	lib_up = true;
	rc = spio_env_thread_set_affinity(g_app.main_core);
	if (rc != 0) {
		SPIO_ERRLOG("%s: cannot pin the main reactor to core %u: %s\n", g_app.opts.name,
			    g_app.main_core, strerror(-rc));
		goto out;
	}
	spio_rpc_set_state(SPIO_RPC_STARTUP);

	spio_cpuset_zero(&app_mask);
	spio_cpuset_set_cpu(&app_mask, g_app.main_core, true);
	app_thread = spio_thread_create("app_thread", &app_mask);
	if (app_thread == NULL) {
		rc = -errno;
		goto out;
	}
	__atomic_store_n(&g_app_thread, app_thread, __ATOMIC_RELEASE);
	rc = spio_thread_send_msg(app_thread, app_start_msg, NULL);
	if (rc != 0) {
		goto out;
	}

	reactors_run();
	ran = true;
	rc = __atomic_load_n(&g_app.rc, __ATOMIC_RELAXED);

out:
	/* Every spio_thread is gone once reactors_run() returned. A failure
	 * before it leaves at most the app thread, which never ran. */
	if (lib_up) {
		if (!ran && spio_app_get_thread() != NULL) {
			/* Failed after the app thread was placed: let the reactors
			 * take it in and exit it. */
			reactors_stop();
			reactors_run();
		}
		__atomic_store_n(&g_app_thread, NULL, __ATOMIC_RELEASE);
		spio_thread_lib_fini();
	}
	if (reactors_up) {
		reactors_fini();
	}
	signals_restore();
	subsystems_release();
	subsystems_set_locked(false);
	spio_rpc_set_state(SPIO_RPC_STARTUP);
	if (env_up) {
		spio_env_fini();
	}
	if (g_app.have_caller_affinity) {
		pthread_setaffinity_np(pthread_self(), sizeof(g_app.caller_affinity),
				       &g_app.caller_affinity);
	}
	/* every path out of start-up ends here, failures included */
	json_config_free(g_app.config);
	app_reset();
	__atomic_store_n(&g_app_active, 0, __ATOMIC_RELEASE);
	return rc;
}

int spio_app_spawn_unaffinitized(void *(*fn)(void *), void *arg, pthread_t *out)
{
	pthread_attr_t attr;
	cpu_set_t set;
	int core, rc;

	if (fn == NULL || out == NULL || !app_is_running() || !g_app.have_caller_affinity) {
		return -EINVAL;
	}
	set = g_app.caller_affinity;
	SPIO_CPUSET_FOREACH (core, &g_app.cores) {
		CPU_CLR(core, &set);
	}
	if (CPU_COUNT(&set) == 0) {
		set = g_app.caller_affinity; /* the reactors cover every core */
	}
	rc = pthread_attr_init(&attr);
	if (rc != 0) {
		return -rc;
	}
	rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (rc == 0) {
		rc = pthread_create(out, &attr, fn, arg);
	}
	pthread_attr_destroy(&attr);
	return -rc;
}
