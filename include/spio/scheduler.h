/*
 * spdk-io thread scheduler (the analogue of SPDK's spdk/scheduler.h).
 *
 * Under the app framework (spio/app.h), spio_threads can move between
 * reactors while the app runs. A move happens only between two polls of the
 * thread, never while one of its messages or pollers runs; the thread keeps
 * its pollers, io_channels, pending messages and interrupt fds.
 *
 * A scheduler decides the placement. Every period the main reactor gathers,
 * from each reactor in turn, the busy and idle ticks of the reactor and of
 * each of its threads since the previous round, hands them to the current
 * scheduler's balance() and moves each thread whose `lcore` it changed.
 * Two schedulers are built in, with SPDK's names and behaviour:
 *   - "static" (the default): no moves. Switching back to it after another
 *     scheduler returns every thread to the core it was first placed on.
 *   - "dynamic": idle threads are gathered on the main core, busy ones are
 *     spread over cores with room, and cores left without threads sleep
 *     (options load_limit, core_limit, core_busy, as SPDK's).
 *
 * Thread rules: spio_scheduler_set(), spio_scheduler_set_period() and the
 * scheduler callbacks run on the app thread (which never leaves the main
 * core) or while no app runs; the getters from any OS thread.
 */
#ifndef SPIO_SCHEDULER_H
#define SPIO_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "spio/cpuset.h"
#include "spio/json.h"
#include "spio/json_val.h"
#include "spio/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One thread as balance() sees it. */
struct spio_scheduler_thread_info {
	/** spio_thread_get_id() of the thread. */
	uint64_t thread_id;
	/** In: the core the thread runs on. Out: the core it should run on. */
	uint32_t lcore;
	/** The core the thread was first placed on. */
	uint32_t initial_lcore;
	/** Busy / idle ticks of the thread since the previous round. */
	struct spio_thread_stats current_stats;
	/** Busy / idle ticks of the thread since it was created. */
	struct spio_thread_stats total_stats;
	/** The thread's cpumask when the round gathered it. */
	struct spio_cpuset cpumask;
};

/** One reactor as balance() sees it. */
struct spio_scheduler_core_info {
	uint32_t lcore;
	/** Busy / idle ticks of the reactor since the previous round. */
	uint64_t current_busy_tsc;
	uint64_t current_idle_tsc;
	/** Busy / idle ticks of the reactor since it started. */
	uint64_t total_busy_tsc;
	uint64_t total_idle_tsc;
	/**
	 * Out: true lets the reactor sleep whenever it has no threads, also in
	 * SPIO_APP_IDLE_POLL mode (in the adaptive mode an idle reactor sleeps
	 * anyway). In: the value of the previous round (false at first).
	 */
	bool interrupt_mode;
	/** Excluded from scheduling (always false today). */
	bool isolated;
	/** The reactor's threads when the round gathered them. */
	uint32_t threads_count;
	struct spio_scheduler_thread_info *thread_infos;
};

/**
 * A scheduler. Define one with static storage and register it with
 * SPIO_SCHEDULER_REGISTER. Callbacks run on the app thread.
 */
struct spio_scheduler {
	/** Unique name, as framework_set_scheduler takes it. */
	const char *name;
	/** Called when the scheduler becomes the current one; 0 or -errno (then it is not). */
	int (*init)(void);
	/** Called when another scheduler (or none) replaces it. */
	void (*deinit)(void);
	/**
	 * Decide the placement: set each thread_info's lcore (and each core's
	 * interrupt_mode). `cores` has `core_count` entries in ascending core
	 * order. Must not block.
	 */
	void (*balance)(struct spio_scheduler_core_info *cores, uint32_t core_count);
	/**
	 * Apply the scheduler's options from framework_set_scheduler's params
	 * (an object holding also "name" and "period", which it ignores).
	 * NULL: the scheduler takes no options. 0 or -errno.
	 */
	int (*set_opts)(const struct spio_json_val *params);
	/** Write the options as members of the open object `w`. NULL: none. */
	void (*get_opts)(struct spio_json_write_ctx *w);
	/** Private: registry link. */
	struct spio_scheduler *next_;
};

/**
 * Register a scheduler (usually at load time, through SPIO_SCHEDULER_REGISTER).
 * `s` must stay valid for the life of the process.
 * \return 0; -EINVAL (NULL, no name or no balance); -EEXIST (that name is taken).
 */
int spio_scheduler_register(struct spio_scheduler *s);

/** Register the `struct spio_scheduler` variable `s` when the program is loaded. */
#define SPIO_SCHEDULER_REGISTER(s)                                                      \
	__attribute__((constructor(212))) static void spio_scheduler_register_##s(void) \
	{                                                                               \
		spio_scheduler_register(&(s));                                          \
	}

/**
 * Make the scheduler called `name` the current one (deinit of the old, init
 * of the new; setting the current one again does nothing). NULL: no
 * scheduler. If the new one's init fails, the old one is initialised again.
 * \return 0; -ENOENT (no such scheduler); init's error.
 */
int spio_scheduler_set(const char *name);

/** The current scheduler, or NULL (before the app's "scheduler" subsystem set the default). */
struct spio_scheduler *spio_scheduler_get(void);

/** The balancing period in microseconds; 0 when no balancing runs. */
uint64_t spio_scheduler_get_period(void);

/**
 * Set the balancing period in microseconds (0 stops balancing). A running
 * app's main reactor uses it from its next loop iteration.
 */
void spio_scheduler_set_period(uint64_t period_us);

/**
 * Set the cpumask of the current thread (SPDK's spdk_thread_set_cpumask). If
 * the thread's reactor is not in the new mask, the thread moves, after the
 * poll that called this, to a reactor of the mask (round-robin, as new
 * threads are placed). A later balance of the "dynamic" scheduler may still
 * gather the thread on the main core while it is idle, as SPDK's does.
 *
 * \param cpumask copied.
 * \return 0; -EINVAL (NULL mask, not on a spio thread run by the app's
 *         reactors, no reactor core in the mask); -EPERM (the app thread,
 *         which stays on the main core, and the mask does not hold it).
 * On the thread itself.
 */
int spio_thread_set_cpumask(const struct spio_cpuset *cpumask);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_SCHEDULER_H */
