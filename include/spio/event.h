/*
 * spdk-io reactors and events (the analogue of SPDK's spdk_event_* and
 * spdk_reactor_*).
 *
 * The app framework (spio/app.h) starts one reactor per core of its core
 * mask: an OS thread pinned to that core that runs, round-robin, the
 * spio_threads placed on it and an event ring (a lock-free multi-producer
 * queue). An event is a function call sent to a core rather than to a
 * spio_thread: it runs on the reactor itself, with no current spio_thread
 * (spio_get_thread() returns NULL inside it). Use events to reach a core;
 * use spio_thread_send_msg() to reach a thread.
 *
 * Everything here needs a running app (between spio_app_start() and the
 * return of it); before or after, the functions fail with -EINVAL or
 * -ESHUTDOWN.
 *
 * Thread rules: every function may be called from any OS thread, reactor or
 * not, unless it says otherwise.
 */
#ifndef SPIO_EVENT_H
#define SPIO_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct spio_completion;

/** An event body: runs on the target core's reactor. */
typedef void (*spio_event_fn)(void *arg1, void *arg2);

/**
 * Run `fn(arg1, arg2)` on the reactor of `core` (SPDK's spdk_event_call /
 * SpdkEvent::call_on). Lock-free; the event object comes from a mempool with
 * per-OS-thread caches. Events from one sender to one core run in the order
 * sent. A sleeping reactor is woken (its eventfd is written only when it
 * sleeps, so an awake reactor costs no system call). Nothing runs before this
 * returns when the caller is that core's reactor.
 *
 * `arg1` and `arg2` are handed to `fn` as is: the caller keeps owning what
 * they point to and keeps it valid until `fn` ran. An event still queued
 * when its reactor stops is dropped (reported; `fn` never runs).
 *
 * \return 0; -EINVAL (NULL fn, `core` not in the app's core mask, no app
 *         running); -ESHUTDOWN once the reactors have stopped; -ENOMEM when
 *         the event queue of that core or the event pool is full (retry
 *         later). On error `fn` never runs.
 */
int spio_event_call(uint32_t core, spio_event_fn fn, void *arg1, void *arg2);

/**
 * Work for spio_event_call_await(): runs on the target core's reactor (no
 * current spio_thread) and must fill `c` exactly once, now or later, with
 * spio_completion_done() (from any OS thread).
 */
typedef void (*spio_event_await_fn)(void *arg, struct spio_completion *c);

/**
 * From a task (spio/task.h), run `fn(arg, c)` on the reactor of `core` and
 * suspend the task until `fn` fills `c`; the task resumes on its own
 * spio_thread with the status `fn` gave. `arg` may point into the task's
 * stack: this does not return before `fn` filled `c`.
 *
 * \return the status; -EPERM outside a task; -EINVAL for NULL fn; or
 *         spio_event_call()'s error, in which case `fn` does not run.
 * In a task (on its spio_thread).
 */
int spio_event_call_await(uint32_t core, spio_event_await_fn fn, void *arg);

/**
 * Run `fn(arg1, arg2)` on every reactor, one after another in core order,
 * then `cpl(arg1, arg2)` on the reactor of the calling core (the main core's
 * reactor if the caller is not a reactor). Nothing runs before this returns
 * when the caller is the first reactor. `arg1` and `arg2` are the caller's
 * and must stay valid until `cpl` ran. Should a later hop fail (the app
 * stopping), the traversal ends there, reported, and `cpl` never runs.
 *
 * \return 0; -EINVAL (NULL fn or cpl, no app running); -ENOMEM; or
 *         spio_event_call()'s error for the first hop (nothing runs then).
 */
int spio_for_each_reactor(spio_event_fn fn, void *arg1, void *arg2, spio_event_fn cpl);

/** Statistics of one reactor (all in ticks of spio_get_ticks()). */
struct spio_reactor_stats {
	/** Time in loop iterations that did work (an event, a message, a busy poller). */
	uint64_t busy_tsc;
	/** Time in iterations that did nothing, time asleep included. */
	uint64_t idle_tsc;
	/** Part of idle_tsc spent asleep in epoll_wait (adaptive idle mode). */
	uint64_t sleep_tsc;
	/** How many times the reactor went to sleep. */
	uint64_t sleep_count;
	/** Events run. */
	uint64_t event_count;
	/** spio_threads the reactor runs now. */
	uint32_t thread_count;
	/** True while the reactor is asleep. */
	bool sleeping;
};

/**
 * Read the statistics of the reactor of `core` into the caller's `stats` (a
 * consistent-enough snapshot: each field is read atomically, not the set).
 * \return 0; -EINVAL (NULL stats, no app running, `core` not a reactor core).
 */
int spio_reactor_get_stats(uint32_t core, struct spio_reactor_stats *stats);

/**
 * The core of the reactor the calling OS thread is, or UINT32_MAX if the
 * caller is not a reactor thread. Works with or without a running app.
 */
uint32_t spio_reactor_get_current_core(void);

/** True if `core` has a reactor in the running app; false when no app runs. */
bool spio_reactor_is_core(uint32_t core);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_EVENT_H */
