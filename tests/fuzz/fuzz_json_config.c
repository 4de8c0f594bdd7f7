/*
 * Fuzzer: a JSON configuration file (SPDK's format, {"subsystems": [...]})
 * into the app's loader (lib/event/json_config.c), run as the app runs it
 * at start-up: check the document, run the STARTUP pass, initialise the
 * subsystems (bdev with its modules, nvmf), switch the RPC state to
 * RUNTIME, run the RUNTIME pass; then finish the subsystems (which deletes
 * every bdev and stops the nvmf target) as the app's shutdown does. A
 * failing step ends the sequence as in the app: the subsystems that were
 * initialised are finished. The input is the text (a NUL ends it, as for
 * json_config_text).
 *
 * One app (spio_app_start(), one reactor) runs on a thread of its own for
 * the whole process, since starting one costs about 150 ms under ASan (its
 * message, event and bdev_io pools); its start function finishes the
 * subsystems, so that every input starts with none initialised. Each input
 * is a message to the app thread, which runs the sequence above with the
 * app's internal steps (json_config_load / _run, subsystems_init_all /
 * _fini_all); the fuzzer's thread waits for it.
 *
 * Methods: those of the bdev layer and its modules, nvmf's that need no
 * network (no listener; transports with capped buffers) and the framework's
 * queries. The others are answered with an error by the fuzzer (-32601), so
 * an entry naming one fails the configuration as a failing method does; a
 * few parameters that size memory are capped (jsonrpc_methods.h).
 *
 * What aborts, besides sanitizer reports (leaks included):
 * - the sequence does not end within 8 s (a hang), or a step calls back
 *   twice;
 * - the loader accepts text that jansson cannot read (duplicate keys
 *   refused, as the loader reads it) or whose top level is not an object;
 * - afterwards the process is not as before: a file descriptor more or
 *   less, a bdev registered, a subsystem still initialised, the RPC state
 *   not STARTUP. The bdev layer's options (bdev_set_options keeps them for
 *   the next start, as SPDK does) are put back by the fuzzer.
 *
 * FUZZ_VERBOSE=1 in the environment turns the app's log on.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/bdev_nvme.h"
#include "spio/log.h"
#include "spio/rpc.h"
#include "spio/util.h"

#include "event/event_internal.h"
#include "jsonrpc_methods.h"
#include "jsonrpc_mutate.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

#define HANG_S 8
/* How long file descriptors may take to close after the subsystems finished. */
#define FD_SETTLE_MS 2000

static const char *const g_allowed[] = {
    /* framework queries */
    "rpc_get_methods",
    "spdk_get_version",
    "spio_get_version",
    "framework_get_subsystems",
    "framework_get_config",
    "framework_get_reactors",
    "framework_wait_init",
    "thread_get_stats",
    "save_config",
    /* the bdev layer and its modules */
    "bdev_set_options",
    "bdev_nvme_set_options",
    "bdev_get_bdevs",
    "bdev_get_iostat",
    "bdev_reset_iostat",
    "bdev_wait_for_examine",
    "bdev_malloc_create",
    "bdev_malloc_delete",
    "bdev_null_create",
    "bdev_null_delete",
    "bdev_null_resize",
    "bdev_error_create",
    "bdev_error_delete",
    "bdev_error_inject_error",
    "bdev_error_resume_pending",
    "bdev_passthru_create",
    "bdev_passthru_delete",
    "bdev_split_create",
    "bdev_split_delete",
    "bdev_delay_create",
    "bdev_delay_delete",
    "bdev_delay_update_latency",
    "bdev_lvol_create_lvstore",
    "bdev_lvol_rename_lvstore",
    "bdev_lvol_delete_lvstore",
    "bdev_lvol_get_lvstores",
    "bdev_lvol_get_lvols",
    "bdev_lvol_create",
    "bdev_lvol_snapshot",
    "bdev_lvol_clone",
    "bdev_lvol_rename",
    "bdev_lvol_inflate",
    "bdev_lvol_decouple_parent",
    "bdev_lvol_set_read_only",
    "bdev_lvol_resize",
    "bdev_lvol_delete",
    /* nvmf without the network */
    "nvmf_set_config",
    "nvmf_set_max_subsystems",
    "nvmf_set_crdt",
    "nvmf_create_transport",
    "nvmf_get_transports",
    "nvmf_create_subsystem",
    "nvmf_delete_subsystem",
    "nvmf_get_subsystems",
    "nvmf_subsystem_add_ns",
    "nvmf_subsystem_remove_ns",
    "nvmf_subsystem_add_host",
    "nvmf_subsystem_remove_host",
    "nvmf_subsystem_allow_any_host",
    "nvmf_subsystem_get_controllers",
    "nvmf_subsystem_get_qpairs",
    "nvmf_subsystem_get_listeners",
    "nvmf_get_stats",
};

/* Every subsystem, a bdev with a UUID, an nvmf target. */
static const char g_warm_up[] =
    "{\"subsystems\": [{\"subsystem\": \"bdev\", \"config\": [{\"method\": "
    "\"bdev_malloc_create\", \"params\": {\"name\": \"M0\", \"num_blocks\": 64, "
    "\"block_size\": 512}}]}, {\"subsystem\": \"nvmf\", \"config\": [{\"method\": "
    "\"nvmf_create_transport\", \"params\": {\"trtype\": \"TCP\"}}, {\"method\": "
    "\"nvmf_create_subsystem\", \"params\": {\"nqn\": \"nqn.2016-06.io.spdk:w\"}}]}]}";

static struct {
	bool ready;
	bool verbose;
	char core_mask[32];
	pthread_t app;
	sem_t app_ready; /* the app's start function ran (or the app ended) */
	int app_rc;
	sem_t done; /* an input's sequence ended */
	struct spio_bdev_opts bdev_opts;
	struct spio_bdev_nvme_module_opts nvme_opts;
} g;

/* One input's run on the app thread. */
static struct {
	const char *text;
	struct json_config *cfg;
	int load_rc, startup_rc, init_rc, runtime_rc;
	int startup_calls, init_calls, runtime_calls, fini_calls;
} g_run;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_json_config: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

/*
 * The sequence of one input, on the app thread: the app's start-up
 * (app_start_msg and what follows it in app.c), then its teardown.
 */

static void seq_end(void)
{
	spio_rpc_set_state(SPIO_RPC_STARTUP);
	sem_post(&g.done);
}

static void seq_reset_init_done(int rc)
{
	if (rc != 0) {
		die("the subsystems do not start with the default settings: %d", rc);
	}
	subsystems_fini_all(seq_end);
}

static void seq_fini_done(void)
{
	if (++g_run.fini_calls != 1) {
		die("subsystems_fini_all called back %d times", g_run.fini_calls);
	}
	/*
	 * Settings of a STARTUP pass (nvmf_set_config ...) last until the
	 * subsystems finish: if they never started, one start and finish with
	 * the default settings forgets them, so the next input starts clean.
	 */
	if (g_run.startup_calls > 0 && g_run.init_calls == 0) {
		json_config_free(g_run.cfg);
		g_run.cfg = NULL;
		if (spio_bdev_set_opts(&g.bdev_opts) != 0) {
			die("cannot put the bdev options back");
		}
		subsystems_init_all(seq_reset_init_done);
		return;
	}
	json_config_free(g_run.cfg);
	g_run.cfg = NULL;
	spio_rpc_set_state(SPIO_RPC_STARTUP);
	sem_post(&g.done);
}

static void seq_teardown(void)
{
	subsystems_fini_all(seq_fini_done);
}

static void seq_runtime_done(int rc)
{
	if (++g_run.runtime_calls != 1) {
		die("the RUNTIME pass called back %d times", g_run.runtime_calls);
	}
	g_run.runtime_rc = rc;
	seq_teardown();
}

static void seq_init_done(int rc)
{
	if (++g_run.init_calls != 1) {
		die("subsystems_init_all called back %d times", g_run.init_calls);
	}
	g_run.init_rc = rc;
	if (rc != 0) {
		seq_teardown();
		return;
	}
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
	json_config_run(g_run.cfg, seq_runtime_done);
}

static void seq_startup_done(int rc)
{
	if (++g_run.startup_calls != 1) {
		die("the STARTUP pass called back %d times", g_run.startup_calls);
	}
	g_run.startup_rc = rc;
	if (rc != 0) {
		seq_teardown();
		return;
	}
	subsystems_init_all(seq_init_done);
}

static void seq_start(void *arg)
{
	(void)arg;
	spio_rpc_set_state(SPIO_RPC_STARTUP);
	g_run.load_rc = json_config_load(NULL, g_run.text, &g_run.cfg);
	if (g_run.load_rc != 0) {
		g_run.cfg = NULL;
		seq_teardown();
		return;
	}
	json_config_run(g_run.cfg, seq_startup_done);
}

/*
 * The app
 */

static void app_fini_done(void)
{
	spio_rpc_set_state(SPIO_RPC_STARTUP);
	sem_post(&g.app_ready);
}

/* The app started its subsystems: finish them, so that each input starts them itself. */
static void app_started(void *arg)
{
	(void)arg;
	/* The app turned syslog on (SPDK's NOTICE): the fuzzer's errors stay out of it. */
	spio_log_set_syslog_level(SPIO_LOG_DISABLED);
	subsystems_fini_all(app_fini_done);
}

static void *app_main(void *arg)
{
	struct spio_app_opts o;

	(void)arg;
	spio_app_opts_init(&o, sizeof(o));
	o.name = "fuzz_json_config";
	o.reactor_mask = g.core_mask;
	o.rpc_addr = NULL;
	o.no_huge = true;
	g.app_rc = spio_app_start(&o, app_started, NULL);
	sem_post(&g.app_ready);
	return NULL;
}

static void fini(void)
{
	if (g.ready) {
		g.ready = false;
		spio_app_stop(0);
		pthread_join(g.app, NULL);
	}
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL) {
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		n += e->d_name[0] != '.';
	}
	closedir(d);
	return n - 1; /* the directory's own */
}

/* What each open descriptor is, for the message of a leak. */
static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		char path[300], target[256];
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (e->d_name[0] != '.' && n > 0) {
			target[n] = '\0';
			fprintf(stderr, "fuzz_json_config: fd %s: %s\n", e->d_name, target);
		}
	}
	if (d != NULL) {
		closedir(d);
	}
}

/* Run the sequence for `text` on the app thread. \return 0, or -ETIMEDOUT after HANG_S. */
static int run_text(const char *text)
{
	struct timespec deadline;
	int rc;

	memset(&g_run, 0, sizeof(g_run));
	g_run.text = text;
	rc = spio_thread_send_msg(spio_app_get_thread(), seq_start, NULL);
	if (rc != 0) {
		die("cannot reach the app thread: %d", rc);
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += HANG_S;
	while ((rc = sem_timedwait(&g.done, &deadline)) != 0 && errno == EINTR) {
	}
	return rc != 0 ? -ETIMEDOUT : 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *verbose = getenv("FUZZ_VERBOSE");
	cpu_set_t set;
	int core = 0;

	(void)argc;
	(void)argv;
	if (g.ready) {
		return 0;
	}
	g.verbose = verbose != NULL && verbose[0] == '1';
	spio_log_set_level(g.verbose ? SPIO_LOG_INFO : SPIO_LOG_DISABLED);
	jf_methods_restrict(g_allowed, SPIO_COUNTOF(g_allowed), JF_REFUSE_BY_ERROR);
	/* The first core this process may run on: the app's only reactor. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		while (core < CPU_SETSIZE - 1 && !CPU_ISSET(core, &set)) {
			core++;
		}
	}
	snprintf(g.core_mask, sizeof(g.core_mask), "[%d]", core);
	/* A smaller bdev_io pool than the default 65 535: each input creates it anew. */
	spio_bdev_get_opts(&g.bdev_opts, sizeof(g.bdev_opts));
	g.bdev_opts.bdev_io_pool_size = 2048;
	g.bdev_opts.bdev_io_cache_size = 16;
	if (spio_bdev_set_opts(&g.bdev_opts) != 0) {
		die("cannot set the fuzzer's bdev options");
	}
	spio_bdev_nvme_get_module_opts(&g.nvme_opts, sizeof(g.nvme_opts));
	if (sem_init(&g.app_ready, 0, 0) != 0 || sem_init(&g.done, 0, 0) != 0 ||
	    pthread_create(&g.app, NULL, app_main, NULL) != 0) {
		die("cannot start the app thread");
	}
	sem_wait(&g.app_ready);
	if (!app_is_running() || spio_app_get_thread() == NULL) {
		die("the app did not start: %d", g.app_rc);
	}
	g.ready = true;
	atexit(fini);
	/*
	 * What opens a descriptor for good on first use (libuuid's random
	 * source, ...) does it now, not in the first input.
	 */
	if (run_text(g_warm_up) != 0 || g_run.runtime_rc != 0) {
		die("the warm-up configuration failed: %d", g_run.runtime_rc);
	}
	return 0;
}

/* What the loader reads: \return true if jansson accepts the text as it does. */
static bool loader_can_read(const char *text)
{
	json_error_t err;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	bool ok = json_is_object(root);

	json_decref(root);
	return ok;
}

static bool any_subsystem_initialized(void)
{
	for (uint32_t i = 0; i < subsystems_count(); i++) {
		if (subsystems_at(i)->initialized_) {
			return true;
		}
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	int nfds, rc;

	if (!g.ready) {
		LLVMFuzzerInitialize(NULL, NULL);
	}
	text = strndup((const char *)data, size);
	if (text == NULL) {
		die("out of memory");
	}
	nfds = count_fds();
	if (run_text(text) != 0) {
		die("the configuration did not finish within %d s (load %d, STARTUP pass %d/%d "
		    "calls, init %d/%d, RUNTIME pass %d/%d, fini %d)",
		    HANG_S, g_run.load_rc, g_run.startup_rc, g_run.startup_calls, g_run.init_rc,
		    g_run.init_calls, g_run.runtime_rc, g_run.runtime_calls, g_run.fini_calls);
	}
	if (g.verbose) {
		fprintf(stderr,
			"fuzz_json_config: load %d, STARTUP pass %d, init %d, RUNTIME pass %d\n",
			g_run.load_rc, g_run.startup_rc, g_run.init_rc, g_run.runtime_rc);
	}
	if (g_run.load_rc == 0 && !loader_can_read(text)) {
		die("the loader accepted a text that is not one JSON object without duplicate "
		    "keys");
	}
	if (g_run.load_rc > 0 || g_run.startup_rc > 0 || g_run.init_rc > 0 ||
	    g_run.runtime_rc > 0) {
		die("a step returned a positive code: load %d, STARTUP %d, init %d, RUNTIME %d",
		    g_run.load_rc, g_run.startup_rc, g_run.init_rc, g_run.runtime_rc);
	}
	/* Threads the nvmf target started exit after the subsystems finished: give them time. */
	for (int i = 0; (rc = count_fds()) != nfds && i < FD_SETTLE_MS; i++) {
		usleep(1000);
	}
	if (rc != nfds) {
		list_fds();
		die("%d file descriptors open %d ms after the configuration, %d before", rc,
		    FD_SETTLE_MS, nfds);
	}
	if (spio_rpc_get_state() != SPIO_RPC_STARTUP || any_subsystem_initialized()) {
		die("not back where it started: RPC state %u, a subsystem initialised %d",
		    spio_rpc_get_state(), any_subsystem_initialized());
	}
	if (spio_bdev_first() != NULL) {
		die("bdev %s still registered after the subsystems finished",
		    spio_bdev_get_name(spio_bdev_first()));
	}
	/* bdev_set_options and bdev_nvme_set_options hold for the next start: back to defaults. */
	if (spio_bdev_set_opts(&g.bdev_opts) != 0 ||
	    spio_bdev_nvme_set_module_opts(&g.nvme_opts, NULL, 0) != 0) {
		die("cannot put the bdev options back");
	}
	free(text);
	return 0;
}

/*
 * Mutations: half of the time libFuzzer's (or the replay program's) on the
 * bytes, which mostly break the syntax and so test the refusals; the other
 * half, when the input parses, one change to its tree that keeps it valid
 * JSON (jsonrpc_mutate.h), so that configurations reach the passes.
 */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	uint64_t r = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1;
	json_error_t err;
	json_t *root;
	char *text;
	size_t len;

	if (jf_rnd(&r) % 2 == 0 ||
	    (root = json_loadb((const char *)data, size, JSON_DECODE_ANY, &err)) == NULL) {
		return LLVMFuzzerMutate(data, size, max_size);
	}
	jf_json_mutate(root, &r);
	text = json_dumps(root, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(root);
	len = text != NULL ? strlen(text) : 0;
	if (text == NULL || len > max_size) {
		free(text);
		return LLVMFuzzerMutate(data, size, max_size);
	}
	memcpy(data, text, len);
	free(text);
	return len;
}
