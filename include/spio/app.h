/*
 * spdk-io app framework: reactors on a core mask, subsystems, JSON
 * configuration, the RPC server and an orderly shutdown (the analogue of
 * SPDK's spdk_app_* and spdk_subsystem_*).
 *
 *     static void start(void *arg)          // runs on the app thread
 *     {
 *             ... create threads, register pollers, start work ...
 *     }
 *
 *     struct spio_app_opts opts;
 *     spio_app_opts_init(&opts, sizeof(opts));
 *     opts.name = "my_app";
 *     opts.reactor_mask = "0x3";
 *     rc = spio_app_start(&opts, start, NULL);   // blocks until spio_app_stop()
 *
 * spio_app_start() initialises the environment (spio/env.h) and the thread
 * library, starts one reactor per core of the mask (spio/event.h), creates the
 * app thread (a spio_thread on the main core), initialises the registered
 * subsystems in dependency order, runs the JSON configuration, starts the
 * JSON-RPC server and calls start_fn on the app thread. SIGINT and SIGTERM
 * start an orderly shutdown. docs/app.md is the guide.
 *
 * New spio_threads created while the app runs (from any OS thread) are placed
 * on a reactor whose core is in the thread's cpumask, round-robin among them;
 * a thread whose cpumask holds no reactor core cannot be created
 * (spio_thread_create() returns NULL with errno EINVAL). The spio_thread
 * context area (spio_thread_get_ctx) belongs to the framework while the app
 * runs.
 *
 * One app per process at a time.
 */
#ifndef SPIO_APP_H
#define SPIO_APP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/event.h"
#include "spio/json.h"
#include "spio/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What a reactor does when its threads have nothing to do. */
enum spio_app_idle_mode {
	/**
	 * Sleep in epoll_wait after idle_threshold_us of idleness; wake on
	 * messages, events and due timed pollers (the default).
	 */
	SPIO_APP_IDLE_ADAPTIVE = 0,
	/** Spin: lowest latency, one busy core per reactor. */
	SPIO_APP_IDLE_POLL = 1,
};

/** Default idle time before an adaptive reactor sleeps. */
#define SPIO_APP_DEFAULT_IDLE_THRESHOLD_US 1000

/** Called on the app thread when a shutdown starts (signal or spio_app_start_shutdown). */
typedef void (*spio_app_shutdown_cb)(void);

/** Called on the app thread once everything is up. */
typedef void (*spio_app_start_fn)(void *arg);

/** Options of spio_app_start(); fill with spio_app_opts_init() first. */
struct spio_app_opts {
	/** sizeof(struct spio_app_opts) as the caller knows it (ABI growth). */
	size_t opts_size;
	/** Name for log messages and the environment. Default "spio". */
	const char *name;
	/**
	 * Cores to run reactors on, in spio_cpuset_parse() syntax ("0x3",
	 * "[0-1]"). NULL: every core of the calling thread's affinity.
	 */
	const char *reactor_mask;
	/**
	 * Core of the main reactor (which runs on the thread that calls
	 * spio_app_start) and of the app thread. UINT32_MAX (default): the
	 * first core of the mask.
	 */
	uint32_t main_core;
	/** JSON configuration file (SPDK format); NULL for none. */
	const char *json_config_file;
	/** JSON configuration as text; NULL for none. At most one of file and text. */
	const char *json_config_text;
	/**
	 * Unix socket of the JSON-RPC server. Default SPIO_RPC_DEFAULT_SOCKET
	 * ("/var/tmp/spio.sock"); NULL or "" runs no server.
	 */
	const char *rpc_addr;
	/** DMA memory to reserve in MiB; 0 grows on demand (spio_env_opts). */
	uint64_t mem_size_mb;
	/** Use ordinary pages for DMA memory even when hugepages exist. */
	bool no_huge;
	/** Log print level name ("error" ... "debug"); NULL keeps the current one. */
	const char *log_level;
	/**
	 * Comma-separated debug flags to enable ("thread,app"); they also set the
	 * level to debug unless log_level says otherwise. NULL for none.
	 */
	const char *log_flags;
	/** Idle behaviour of the reactors. Default SPIO_APP_IDLE_ADAPTIVE. */
	enum spio_app_idle_mode idle_mode;
	/**
	 * Adaptive mode: how long (µs) a reactor's threads must have been idle
	 * before it sleeps. Default SPIO_APP_DEFAULT_IDLE_THRESHOLD_US.
	 */
	uint64_t idle_threshold_us;
	/**
	 * Called on the app thread when a shutdown is requested (SIGINT,
	 * SIGTERM, spio_app_start_shutdown); it must eventually call
	 * spio_app_stop(). NULL: spio_app_stop(0) is called.
	 */
	spio_app_shutdown_cb shutdown_cb;
};

/** Fill `opts` with defaults. `opts_size` is the caller's sizeof(*opts). NULL is ignored. */
void spio_app_opts_init(struct spio_app_opts *opts, size_t opts_size);

/**
 * Start the app and run it on the calling OS thread until spio_app_stop().
 *
 * Sequence: environment (spio_env_init with the mask, memory options), thread
 * library, reactors (the main one on this thread, pinned to main_core; one
 * pinned OS thread per other core), the app thread, subsystems (in
 * dependency order, on the app thread), the JSON configuration (each entry an
 * RPC call in file order, RPC state SPIO_RPC_STARTUP), RPC state
 * SPIO_RPC_RUNTIME, the RPC server, then `start_fn(arg)` on the app thread.
 * A failure at any step is logged (naming the file, position, subsystem or
 * config entry) and unwinds what was started.
 *
 * Shutdown (spio_app_stop): the RPC server stops, subsystems are finished in
 * reverse order, every spio_thread is asked to exit and destroyed, the
 * reactors are joined, the environment is torn down; the calling thread's
 * affinity and the signal handlers are restored.
 *
 * \param opts options (required).
 * \param start_fn called on the app thread when start-up is complete (may be NULL).
 * \return the code given to spio_app_stop(); -EINVAL for bad options (NULL
 *         opts, opts_size 0, both config file and text, a bad mask or log
 *         spec, main_core not in the mask); -EALREADY if an app runs; a
 *         negative errno from the step that failed (env, RPC server, a
 *         subsystem's init, the config: -EINVAL for a malformed config or a
 *         failing entry).
 * Call from a thread that is not a spio thread; the calling thread's affinity
 * is changed while the app runs.
 */
int spio_app_start(const struct spio_app_opts *opts, spio_app_start_fn start_fn, void *arg);

/**
 * Stop the app: spio_app_start() returns `rc` once everything is torn down.
 * The first call wins; later calls are ignored. Any OS thread, including
 * signal-free contexts; not from a signal handler.
 */
void spio_app_stop(int rc);

/**
 * Request an orderly shutdown: the shutdown_cb of the options runs on the app
 * thread, or spio_app_stop(0) if there is none. What SIGINT and SIGTERM do.
 * Only the first request runs the callback. Any OS thread.
 */
void spio_app_start_shutdown(void);

/** The app thread (on the main core), or NULL when no app runs. */
struct spio_thread *spio_app_get_thread(void);

/** The main core, or UINT32_MAX when no app runs. */
uint32_t spio_app_get_main_core(void);

/** The reactor cores (the app's core mask); empty when no app runs. */
void spio_app_get_cpuset(struct spio_cpuset *set);

/**
 * Start an OS thread for blocking work, whose affinity excludes the app's
 * reactor cores (or allows every core of the process if the reactors cover
 * them all), so it never competes with a reactor for its core. The thread is
 * joinable (pthread_join it).
 *
 * \return 0; -EINVAL (NULL fn or out, no app running); or pthread_create's
 *         error negated.
 */
int spio_app_spawn_unaffinitized(void *(*fn)(void *), void *arg, pthread_t *out);

/*
 * Subsystems: parts of the application initialised before start_fn and
 * finished at shutdown, in dependency order (bdev after accel, nvmf after
 * bdev, ...).
 */

/**
 * A subsystem. Define one with static storage and register it with
 * SPIO_SUBSYSTEM_REGISTER; all callbacks run on the app thread.
 */
struct spio_subsystem {
	/** Unique name, as used in the JSON configuration ("bdev"). */
	const char *name;
	/**
	 * Start the subsystem; when done (now or later) call
	 * spio_subsystem_init_next(rc). NULL: nothing to do.
	 */
	void (*init)(void);
	/**
	 * Finish the subsystem; when done call spio_subsystem_fini_next().
	 * Only called if init succeeded. NULL: nothing to do.
	 */
	void (*fini)(void);
	/**
	 * Write the subsystem's configuration: exactly one JSON value, an array
	 * of {"method": ..., "params": {...}} entries that, run in order,
	 * recreate the current state. NULL: the configuration is null.
	 */
	void (*write_config_json)(struct spio_json_write_ctx *w);
	/** Private: registry link. */
	struct spio_subsystem *next_;
	/** Private: init completed. */
	bool initialized_;
};

/** A dependency: subsystem `name` is initialised after `depends_on`. */
struct spio_subsystem_depend {
	const char *name;
	const char *depends_on;
	/** Private: registry link. */
	struct spio_subsystem_depend *next_;
};

/**
 * Register a subsystem (usually at load time, through SPIO_SUBSYSTEM_REGISTER).
 * `sub` must stay valid for the life of the process.
 * \return 0; -EINVAL (NULL, NULL/empty name); -EEXIST (a subsystem of that name,
 *         or `sub` itself, is registered); -EBUSY while an app runs.
 */
int spio_subsystem_register(struct spio_subsystem *sub);

/**
 * Register a dependency (usually at load time, through SPIO_SUBSYSTEM_DEPEND).
 * Names are checked when the app starts: an unknown name or a cycle stops
 * start-up with a message naming them.
 * \return 0; -EINVAL (NULL or empty names); -EBUSY while an app runs.
 */
int spio_subsystem_add_depend(struct spio_subsystem_depend *dep);

/** Register the `struct spio_subsystem` variable `sub` when the program is loaded. */
#define SPIO_SUBSYSTEM_REGISTER(sub)                                                      \
	__attribute__((constructor(210))) static void spio_subsystem_register_##sub(void) \
	{                                                                                 \
		spio_subsystem_register(&(sub));                                          \
	}

/**
 * Declare that subsystem `name` depends on subsystem `depends_on` (both
 * identifiers: SPIO_SUBSYSTEM_DEPEND(bdev, accel)).
 */
#define SPIO_SUBSYSTEM_DEPEND(name, depends_on)                                                  \
	static struct spio_subsystem_depend spio_subsystem_depend_##name##_##depends_on = {      \
	    #name, #depends_on, NULL};                                                           \
	__attribute__((                                                                          \
	    constructor(211))) static void spio_subsystem_depend_reg_##name##_##depends_on(void) \
	{                                                                                        \
		spio_subsystem_add_depend(&spio_subsystem_depend_##name##_##depends_on);         \
	}

/**
 * Report the end of the current subsystem's init: 0 moves on to the next
 * subsystem; an error stops start-up (spio_app_start returns it). Any thread.
 */
void spio_subsystem_init_next(int rc);

/** Report the end of the current subsystem's fini. Any thread. */
void spio_subsystem_fini_next(void);

/** Find a registered subsystem by name; NULL if none. */
struct spio_subsystem *spio_subsystem_find(const char *name);

/**
 * Write the whole configuration, {"subsystems": [{"subsystem": name,
 * "config": ...}, ...]} in initialisation order, as one JSON value into `w`
 * (what save_config answers; spio_app_opts.json_config_file loads it back).
 * On the app thread while the app runs.
 * \return 0; -EINVAL (NULL w, no app running, not on the app thread); a
 *         writer error.
 */
int spio_app_write_config_json(struct spio_json_write_ctx *w);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_APP_H */
