/* Private state of the event layer, shared by the files of lib/event. */
#ifndef SPIO_EVENT_INTERNAL_H
#define SPIO_EVENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spio/app.h"
#include "spio/event.h"
#include "spio/thread.h"

/*
 * reactor.c: reactors, events, thread placement.
 */

/** Per-spio_thread context area owned by the framework (spio_thread_get_ctx). */
/*
 * An event whose storage its sender provides (embedded in the object it
 * concerns): sending allocates nothing, so it cannot fail for lack of
 * memory. Owned by the runtime from the send until fn starts.
 */
struct reactor_event {
	spio_event_fn fn;
	void *arg1;
	void *arg2;
	struct reactor_event *next;
};

struct lw_thread {
	TAILQ_ENTRY(lw_thread) link;
	struct reactor *reactor;
	uint64_t tsc_start;  /* when the thread was created */
	int intr_fd;	     /* interrupt fd in the reactor's epoll set, -1 if none */
	bool exit_requested; /* spio_thread_exit() called during reactor shutdown */
	/* Leave this reactor after the current poll; near `link`, as the loop
	 * reads it after every poll. */
	bool resched;
	struct reactor_event add_ev; /* hands the thread to its reactor */
	/* Scheduling; owned by the reactor running the thread (handed over with it). */
	uint32_t initial_lcore; /* the core it was first placed on */
	uint32_t resched_core;	/* where to; UINT32_MAX: round-robin over the cpumask */
	struct spio_thread_stats sched_prev; /* the thread's totals at the previous round */
};

struct reactors_opts {
	const struct spio_cpuset *cores;
	uint32_t main_core;
	enum spio_app_idle_mode idle_mode;
	uint64_t idle_threshold_us;
	int main_wake_fd; /* extra fd the main reactor sleeps on (signals), -1 for none */
};

/** Create reactors (not running yet); spio_event_call works from now on. */
int reactors_init(const struct reactors_opts *opts);

/** The spio_new_thread_fn of the framework. */
int reactors_new_thread(struct spio_thread *thread);

/** Size of the per-thread context area the framework needs. */
size_t reactors_thread_ctx_size(void);

/**
 * Start the other reactors' OS threads, then run the main reactor on the
 * calling thread until reactors_stop() and every thread is gone; join the
 * others. Returns 0 or the error of starting a reactor thread.
 */
int reactors_run(void);

/** Ask every reactor to exit its threads and stop. Any thread. */
void reactors_stop(void);

/** Free everything reactors_init() made; the reactors must not run. */
void reactors_fini(void);

/** What framework_get_reactors reports about one thread of a reactor. */
struct reactor_thread_info {
	char name[64];
	uint64_t id;
	char cpumask[SPIO_CPUSET_STR_MAX];
	uint64_t elapsed_tsc; /* since the thread was created */
};

/** What framework_get_reactors reports about one reactor. */
struct reactor_info {
	uint32_t lcore;
	int tid;
	bool in_interrupt; /* adaptive idle mode: the reactor may sleep */
	struct spio_reactor_stats stats;
	uint32_t thread_count;
	struct reactor_thread_info *threads; /* malloc'ed, thread_count entries */
};

/** In an event: describe the reactor running it. 0 or -ENOMEM / -EINVAL. */
int reactor_describe_current(struct reactor_info *info, uint64_t now);

/** Number of reactors (0 when none). */
uint32_t reactors_count(void);

/*
 * reactor.c: a thread's cpumask as SPDK's RPCs write it: hex without "0x",
 * limited to the application's cores ("3").
 */
void reactor_fmt_thread_cpumask(const struct spio_thread *t, char *buf, size_t len);

/*
 * cpu_stat.c
 */

/** Remember every core's /proc/stat jiffies (at start-up). */
void cpu_stat_start(const struct spio_cpuset *cores);

/** Jiffies (user, system, irq + softirq) on `core` since cpu_stat_start(); -1 if unknown. */
int cpu_stat_since_start(uint32_t core, uint64_t *usr, uint64_t *sys, uint64_t *irq);

/** The NUMA node of `core` (0 without NUMA information). */
int32_t cpu_numa_id(uint32_t core);

/** Core of reactor `i` (0 .. count-1, ascending core order). */
uint32_t reactors_core_at(uint32_t i);

/*
 * Scheduling (reactor.c moves threads and runs the rounds; scheduler*.c).
 */

struct spio_scheduler_core_info;

/**
 * Ask the reactor of `src_core` to move thread `thread_id` to the reactor of
 * `dst_core` between two of its polls. Ignored (logged at debug level) if the
 * thread is no longer there, is the app thread, or the app is stopping.
 * \return 0 (sent); spio_event_call()'s error.
 */
int reactor_request_move(uint32_t src_core, uint64_t thread_id, uint32_t dst_core);

/** The balancing period changed: make the main reactor look at it now. */
void reactors_sched_period_changed(void);

/**
 * Run one scheduler round as soon as possible, whatever the period (the
 * static scheduler's restoring round). Any thread.
 */
void reactors_sched_request_round(void);

/** Core of the main reactor (UINT32_MAX when no app runs). */
uint32_t reactors_main_core(void);

/** True if a scheduler of that name is registered. */
bool scheduler_exists(const char *name);

/** The balancing period in ticks (0: none). Any thread. */
uint64_t scheduler_period_ticks(void);

/**
 * Run the current scheduler's balance() over a gathered round. On the main
 * reactor. \return false if there is no scheduler (nothing was changed).
 */
bool scheduler_balance(struct spio_scheduler_core_info *cores, uint32_t count);

/** SPDK's defaults of the dynamic scheduler's options. */
#define SCHED_DYNAMIC_LOAD_LIMIT 20
#define SCHED_DYNAMIC_CORE_LIMIT 80
#define SCHED_DYNAMIC_CORE_BUSY 95

struct scheduler_dynamic_opts {
	uint8_t load_limit; /* % busy from which a thread is active */
	uint8_t core_limit; /* % busy a core is filled to, not beyond */
	uint8_t core_busy;  /* % busy from which a core counts as overloaded */
};

/**
 * The dynamic scheduler's policy, a pure function of the numbers: reads the
 * threads' current_stats, the cores' current ticks and the threads' lcore and
 * cpumask; writes each thread_info's lcore and each core's interrupt_mode.
 * `cores` in ascending core order; `main_core` should be one of them.
 * \return 0; -ENOMEM (nothing changed).
 */
int scheduler_dynamic_policy(struct spio_scheduler_core_info *cores, uint32_t count,
			     const struct scheduler_dynamic_opts *opts, uint32_t main_core);

/*
 * lib/thread/thread.c: the framework's write access to a thread's cpumask,
 * under the thread list lock. On the thread, or while nothing polls it.
 */
void thread_set_cpumask(struct spio_thread *thread, const struct spio_cpuset *cpumask);

/** A copy of the cpumask of the thread with that id, under the same lock. 0 or -ENOENT. Any thread.
 */
int thread_get_cpumask_by_id(uint64_t id, struct spio_cpuset *out);

/*
 * app.c
 */

/** Called by the main reactor on every iteration: turns a caught signal into a shutdown. */
void app_check_signals(void);

/**
 * spio_event_call() with caller-provided storage. Any OS thread.
 * \return 0; -EINVAL (no reactors, bad core, NULL); -ESHUTDOWN (stopped).
 */
int reactor_event_call_embedded(uint32_t core, struct reactor_event *ev, spio_event_fn fn,
				void *arg1, void *arg2);

/*
 * A message to the app thread that cannot be lost: one per purpose (stop,
 * shutdown, subsystem steps), at most one in flight at a time.
 */
struct app_msg {
	spio_msg_fn fn;
	void *arg;
	int in_flight;
	struct spio_msg msg;
	struct reactor_event ev;
};

/** Send `fn(arg)` to the app thread from any OS thread, using `m`'s storage. */
void app_send_msg(struct app_msg *m, spio_msg_fn fn, void *arg);

/** True once spio_app_stop() was called. */
bool app_stop_requested(void);

/**
 * framework_start_init: end the --wait-for-rpc wait and initialise the
 * subsystems (from a message, not inside this call). `cb(rc, arg)` runs on
 * the app thread once start-up finished (0, after start_fn) or failed or was
 * stopped (a negative errno). On the app thread.
 * \return 0 (cb will be called); -EALREADY when the app is not waiting (no
 *         --wait-for-rpc, or initialisation began); -ESHUTDOWN when it stops.
 */
int app_start_init(void (*cb)(int rc, void *arg), void *arg);

/** True while the app runs (between reactors start and teardown). */
bool app_is_running(void);

/*
 * subsystem.c: all on the app thread.
 */

/** Check dependencies (unknown names, cycles) and compute the init order. 0 or -EINVAL. */
int subsystems_prepare(void);

/** Forget the init order (end of the app). */
void subsystems_release(void);

/** Initialise every subsystem in order; `done(rc)` on the app thread. */
void subsystems_init_all(void (*done)(int rc));

/** Finish the initialised subsystems in reverse order; `done()` on the app thread. */
void subsystems_fini_all(void (*done)(void));

/** True once every subsystem's init succeeded. */
bool subsystems_init_done(void);

/** Number of subsystems in init order, and the i-th. */
uint32_t subsystems_count(void);
struct spio_subsystem *subsystems_at(uint32_t i);

/** Visit the names `name` depends on, in registration order. */
void subsystems_for_each_depend(const char *name, void (*fn)(const char *dep, void *ctx),
				void *ctx);

/** Registry lock: refuse (un)registration while an app runs. */
void subsystems_set_locked(bool locked);

/**
 * Write one subsystem's configuration value (its write_config_json output, or
 * null) into `w`. 0 or a negative errno.
 */
int subsystem_write_config(struct spio_subsystem *sub, struct spio_json_write_ctx *w);

/*
 * json_config.c: on the app thread.
 */

struct json_config;

/**
 * Parse and check the configuration (file or text) into *out. A malformed
 * config, or one with settings spio cannot honour, is reported and refused
 * here; entries for what spio lacks that hold SPDK's defaults are reported
 * as skipped.
 * \return 0 or -EINVAL / -ENOMEM.
 */
int json_config_load(const char *file, const char *text, struct json_config **out);

/**
 * Run the entries that belong to the current RPC state's pass (STARTUP:
 * methods allowed at startup; RUNTIME: runtime-only ones) as RPC calls in
 * order; `done(rc)` on this thread. The config stays the caller's (it is
 * run once per pass, then freed with json_config_free()).
 * \return 0 (done will be called).
 */
int json_config_run(struct json_config *cfg, void (*done)(int rc));

void json_config_free(struct json_config *cfg);

/*
 * app_rpc.c
 */

/** Subsystem init finished: answer pending framework_wait_init requests. */
void app_rpc_init_done(void);

/** The app is stopping: fail pending framework_wait_init requests. */
void app_rpc_shutdown(void);

#endif
