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
 * JSON-RPC server and calls start_fn on the app thread. docs/app.md is the
 * guide.
 *
 * Signals, while spio_app_start() runs (the previous dispositions are restored
 * when it returns), chosen as a daemon needs them:
 *  - SIGINT, SIGTERM: orderly shutdown (spio_app_start_shutdown()); the RPC
 *    server stops and removes its socket file.
 *  - SIGHUP: orderly shutdown too (the terminal or session that owned the
 *    daemon is gone; there are no log files to reopen), unless SIGHUP was
 *    ignored when the app started (nohup): then it stays ignored.
 *  - SIGPIPE: ignored. Writes to a closed pipe or socket (stdout or stderr
 *    piped into a reader that left, an RPC client gone) fail with EPIPE; the
 *    log keeps trying each line and drops what cannot be written.
 *  - SIGUSR1, SIGUSR2, SIGALRM: ignored (spio uses none of them; their default
 *    would kill the daemon without a shutdown). spdk_kill_instance with
 *    SIGUSR1 is therefore a no-op.
 *  - SIGQUIT and the rest keep their defaults (SIGQUIT: core dump, for
 *    debugging a hung daemon).
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

#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "spio/event.h"
#include "spio/json.h"
#include "spio/thread.h"

struct spio_pci_addr; /* spio/pci.h */

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
	 * SIGTERM, SIGHUP, spio_app_start_shutdown); it must eventually call
	 * spio_app_stop(). NULL: spio_app_stop(0) is called.
	 */
	spio_app_shutdown_cb shutdown_cb;
	/**
	 * Wait for the framework_start_init RPC before initialising the
	 * subsystems (SPDK's --wait-for-rpc and delay_subsystem_init): the
	 * STARTUP entries of the JSON configuration run, the RPC server starts
	 * in state SPIO_RPC_STARTUP (bdev_set_options and other start-up-only
	 * methods are accepted, runtime ones refused), and start-up goes on
	 * when framework_start_init is called. Needs an RPC server (rpc_addr).
	 * Default false.
	 */
	bool delay_subsystem_init;
	/**
	 * PCI devices the process may attach (SPDK's -A / --pci-allowed) or
	 * must not (-B / --pci-blocked), and SPDK's --iova-mode: passed to
	 * spio_env_opts (see there); the lists are exclusive. Read during
	 * spio_app_start() only. Default none and NULL.
	 */
	const struct spio_pci_addr *pci_allowed;
	size_t num_pci_allowed;
	const struct spio_pci_addr *pci_blocked;
	size_t num_pci_blocked;
	const char *iova_mode;
	/** SPDK's -u / --no-pci: spio_env_opts no_pci. Default false. */
	bool no_pci;
};

/** Fill `opts` with defaults. `opts_size` is the caller's sizeof(*opts). NULL is ignored. */
void spio_app_opts_init(struct spio_app_opts *opts, size_t opts_size);

/**
 * Start the app and run it on the calling OS thread until spio_app_stop().
 *
 * Sequence: environment (spio_env_init with the mask, memory options), thread
 * library, reactors (the main one on this thread, pinned to main_core; one
 * pinned OS thread per other core), the app thread, the entries of the JSON
 * configuration that belong to start-up (each an RPC call in file order, RPC
 * state SPIO_RPC_STARTUP: bdev_set_options, ...), subsystems (in dependency
 * order, on the app thread), RPC state SPIO_RPC_RUNTIME, the runtime entries
 * of the configuration, the RPC server, then `start_fn(arg)` on the app
 * thread. With delay_subsystem_init the RPC server starts right after the
 * start-up entries and everything from the subsystems on waits for the
 * framework_start_init RPC, which is answered once start_fn has run.
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
 *         spec, main_core not in the mask, delay_subsystem_init without an
 *         RPC server); -EALREADY if an app runs; a
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
 * thread, or spio_app_stop(0) if there is none. What SIGINT, SIGTERM and
 * SIGHUP do.
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
 * Command line: one parser for the options every spdk-io program shares
 * (SPDK's names: -c, -m, -p, -r, -s, -L, --no-huge, ...), with the
 * program's own options added by the caller. docs/app.md has the option
 * table, including the SPDK options that spdk-io accepts without effect or
 * refuses.
 *
 *     static int my_parse(int ch, char *arg)      // the app's own options
 *     {
 *             if (ch == 'b') { g_bdev = arg; return 0; }
 *             return -EINVAL;
 *     }
 *
 *     static void my_usage(FILE *out)
 *     {
 *             fprintf(out, "\nmy_app options:\n  -b, --bdev NAME   bdev to use\n");
 *     }
 *
 *     static const struct option my_longopts[] = {
 *             {"bdev", required_argument, NULL, 'b'}, {NULL, 0, NULL, 0}};
 *
 *     spio_app_opts_init(&opts, sizeof(opts));
 *     opts.name = "my_app";
 *     rc = spio_app_parse_args(argc, argv, &opts, "b:", my_longopts, my_parse, my_usage);
 *     if (rc != SPIO_APP_PARSE_ARGS_SUCCESS)
 *             return rc == SPIO_APP_PARSE_ARGS_HELP ? 0 : 2;
 */

/** Outcome of spio_app_parse_args() (SPDK's enum spdk_app_parse_args_rvals, same values). */
enum spio_app_parse_args_rvals {
	/** -h/--help or -v/--version: the text went to stdout; the program should exit 0. */
	SPIO_APP_PARSE_ARGS_HELP = 0,
	/** Every option was valid and is in the options; optind is the first operand. */
	SPIO_APP_PARSE_ARGS_SUCCESS = 1,
	/**
	 * Bad command line: one line naming the option and the value, then the
	 * usage, went to stderr; the program should exit 2.
	 */
	SPIO_APP_PARSE_ARGS_FAIL = 2,
};

/**
 * Called by spio_app_parse_args() for each of the app's own options, in
 * command-line order, on the parsing thread.
 *
 * \param ch the option's letter, or the `val` of its entry in the app's
 *        long options (entries with a non-NULL `flag` are handled by getopt
 *        and not passed here).
 * \param arg its argument (a string of argv), or NULL for an option without one.
 * \return 0; anything else fails the parse (SPIO_APP_PARSE_ARGS_FAIL). On
 *         failure the callback prints one line to stderr naming the option
 *         and the value; the parser then prints the usage.
 */
typedef int (*spio_app_parse_cb)(int ch, char *arg);

/**
 * Prints the app's own options; spio_app_parse_args() calls it after the
 * common options' help, with stdout for --help and stderr after an error.
 */
typedef void (*spio_app_usage_cb)(FILE *out);

/**
 * Parse the command line into `opts`: the common options (the analogue of
 * SPDK's spdk_app_parse_args) plus the app's own, given like getopt_long's
 * (`app_getopt_str` letters, `app_long_opts` entries) and handed to
 * `app_parse_cb`.
 *
 * Common options set the fields of `opts`; whatever the command line does
 * not name keeps the value the caller put there, so set the app's defaults
 * (opts.reactor_mask = "0x1", ...) before the call; they are also the
 * defaults --help shows. Repeated options: the last wins, except -L, whose
 * flags add up (after any flags already in opts->log_flags).
 *
 * Letters and long names: a common option that spdk-io honours (-c -m -p -r
 * -s -L -v -h and their long names, --no-huge, --log-level, --idle, ...)
 * cannot be redefined by the app: that is a programmer error, logged, and
 * -EINVAL is returned before argv is looked at. The SPDK compatibility
 * options (accepted without effect or refused: -d -e -g -i -n -u -A -B -R,
 * --json, ...) give way to an app option with the same letter or long name
 * (spio_perf's -n and --json); their other spelling stays.
 *
 * Errors: an unknown option, a missing argument, a value that does not
 * parse (-m 0xz, -p x, -s 12q, --idle sometimes), an SPDK option spdk-io
 * refuses or a failing app_parse_cb print one line to stderr ("<name>: -m
 * 0xz: expected a hex core mask (0x3) or a list ([0-1])", <name> being
 * opts->name) and the usage, and return SPIO_APP_PARSE_ARGS_FAIL. Log flag
 * names (-L) are checked by spio_app_start().
 *
 * Operands: argv is permuted as by GNU getopt_long, so on
 * SPIO_APP_PARSE_ARGS_SUCCESS the operands are argv[optind] .. argv[argc -
 * 1] ("--" ends the options); the parser does not reject them, the app
 * decides. getopt's state is reset on entry (optind = 0), so the parser can
 * be called more than once; opterr is restored on return.
 *
 * Memory: the strings the parser stores in `opts` (reactor_mask,
 * json_config_file, rpc_addr, log_level) point into argv, which must
 * therefore outlive spio_app_start() (main's argv does). log_flags, when -L
 * is given, points to a buffer of the library that stays valid until the
 * next call of spio_app_parse_args(). Nothing is left for the caller to free.
 *
 * Threads: call before spio_app_start(), from any OS thread, one call at a
 * time in the process (getopt's state and the parser's own are global).
 *
 * \param argc, argv as given to main(); argv[0] names the program in the usage.
 * \param opts initialised with spio_app_opts_init() (its opts_size must
 *        cover idle_mode).
 * \param app_getopt_str the app's letters in getopt syntax ("b:q:n:"):
 *        letters and digits, each followed by ':' (argument) or '::'
 *        (optional argument); NULL or "" for none.
 * \param app_long_opts the app's long options, ended by an all-zero entry;
 *        NULL for none.
 * \param app_parse_cb receives the app's options; required when the app has any.
 * \param app_usage_cb prints the app's options after the common ones; may be NULL.
 * \return SPIO_APP_PARSE_ARGS_SUCCESS, _HELP or _FAIL; -EINVAL for a
 *         programmer error (NULL argv or opts, argc < 1, opts_size too small,
 *         a malformed app_getopt_str, app options without app_parse_cb, an
 *         app letter or long name that clashes with a common option), with a
 *         log message; -ENOMEM.
 */
int spio_app_parse_args(int argc, char **argv, struct spio_app_opts *opts,
			const char *app_getopt_str, const struct option *app_long_opts,
			spio_app_parse_cb app_parse_cb, spio_app_usage_cb app_usage_cb);

/**
 * Print "Usage: <program> [options]" and the help of the common options to
 * `out` (stdout if NULL), the analogue of SPDK's spdk_app_usage(). The
 * program name, the defaults shown and the compatibility options left out
 * (those an app redefined) come from the last spio_app_parse_args() call; before
 * any, the program is "spio" with spio_app_opts_init()'s defaults. The app
 * prints its own options after it. Same thread rules as spio_app_parse_args().
 */
void spio_app_usage(FILE *out);

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
