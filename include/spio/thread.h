/*
 * spdk-io thread runtime: lightweight threads, messages, pollers, io_devices
 * and io_channels.
 *
 * A spio_thread is a scheduling context, not an OS thread: a message queue, a
 * set of pollers and a cache of io_channels. Whatever OS thread calls
 * spio_thread_poll() runs it; at most one OS thread may poll a given thread at
 * a time, and state a thread owns is touched only from it. Threads talk only
 * by messages (spio_thread_send_msg), which any OS thread may send.
 *
 * Usable on its own: create threads and poll them from your own loop, or let
 * the app framework's reactors do it (spio/event.h).
 *
 * Thread rules, unless a function says otherwise: "on a spio thread" means
 * the calling OS thread is currently running a spio_thread (inside its poll,
 * or after spio_set_thread / spio_thread_enter).
 */
#ifndef SPIO_THREAD_H
#define SPIO_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/cpuset.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spio_thread;
struct spio_poller;
struct spio_io_channel;
struct spio_io_channel_iter;

/** What a poller (or a whole poll) did: feeds busy/idle statistics. */
enum spio_poller_status {
	SPIO_POLLER_IDLE = 0,
	SPIO_POLLER_BUSY = 1,
};

/** A message or deferred call. */
typedef void (*spio_msg_fn)(void *ctx);

/** A poller body; returns SPIO_POLLER_BUSY if it did work, else SPIO_POLLER_IDLE. */
typedef int (*spio_poller_fn)(void *ctx);

/**
 * Told about every new thread, on the creating OS thread, before
 * spio_thread_create() returns, so a scheduler can take it. Return 0 to
 * accept; an error makes spio_thread_create() fail.
 */
typedef int (*spio_new_thread_fn)(struct spio_thread *thread);

/** Called on the thread that gets a new channel, to set up its context area. 0 or -errno. */
typedef int (*spio_io_channel_create_cb)(void *io_device, void *ctx_buf);

/** Called on the channel's thread when its last reference is released. */
typedef void (*spio_io_channel_destroy_cb)(void *io_device, void *ctx_buf);

/** Called on the unregistering thread once the last channel is gone. */
typedef void (*spio_io_device_unregister_cb)(void *io_device);

/** Visits one channel during spio_for_each_channel(); must end with ..._continue(). */
typedef void (*spio_channel_msg)(struct spio_io_channel_iter *iter);

/** Ends a channel traversal, on the thread that started it. */
typedef void (*spio_channel_for_each_cpl)(struct spio_io_channel_iter *iter, int status);

/*
 * Library
 */

/**
 * Initialise the thread library.
 *
 * \param new_thread_fn optional scheduler hook (see spio_new_thread_fn),
 *        called for every thread created until spio_thread_lib_fini().
 * \param ctx_size bytes of per-thread context area (spio_thread_get_ctx),
 *        at most 1 MiB; 0 for none.
 * \return 0; -EALREADY if initialised; -EINVAL (ctx_size above 1 MiB);
 *         -ENOMEM (the message pool could not be allocated).
 * Call once, from one OS thread, before any other function here. Needs no
 * spio_env_init() (messages live in ordinary memory).
 */
int spio_thread_lib_init(spio_new_thread_fn new_thread_fn, size_t ctx_size);

/**
 * Tear the library down: join the helper threads of spio_work_submit()
 * (requests that never ran are reported and dropped), free the message pool,
 * and report leftover threads and io_devices (the io_devices are forgotten).
 * Every thread must be destroyed first. Call from one OS thread when no other
 * uses the library; nothing happens if it is not initialised. The library may
 * be initialised again afterwards.
 */
void spio_thread_lib_fini(void);

/**
 * Set how long spio_thread_exit() waits for pollers and channels before it
 * gives up, reports what was left and marks the thread exited anyway.
 * Default 5 s. Any OS thread, at any time; exits already in progress use the
 * new value from their next poll.
 */
void spio_thread_lib_set_exit_timeout_us(uint64_t timeout_us);

/*
 * Threads
 */

/**
 * Create a thread.
 *
 * \param name copied (cut to 63 characters); NULL gives "thread<id>".
 * \param cpumask cores the thread may run on (copied); NULL means any core.
 * \return the thread or NULL with errno: EINVAL (library not initialised,
 *         empty cpumask), ENOMEM, or the new_thread_fn's error.
 * Any OS thread; new_thread_fn runs on it before this returns. The caller
 * owns the thread: exit it (spio_thread_exit), poll it until exited, then
 * free it with spio_thread_destroy().
 */
struct spio_thread *spio_thread_create(const char *name, const struct spio_cpuset *cpumask);

/**
 * Start a graceful exit of `thread`: it keeps running messages and pollers
 * until every poller is unregistered, every channel it holds is released and
 * its message queue is empty; then it is exited (spio_thread_is_exited). If
 * that takes longer than the exit timeout, what is left is reported and the
 * thread exits anyway (its pollers and channels are then reclaimed by
 * spio_thread_destroy). On the thread itself. Returns 0 (also when the
 * thread is exiting or exited already) or -EINVAL for NULL.
 */
int spio_thread_exit(struct spio_thread *thread);

/**
 * True once an exiting thread has finished (then it runs nothing more and may
 * be destroyed); false for NULL. Any OS thread.
 */
bool spio_thread_is_exited(struct spio_thread *thread);

/** True while the thread has not started to exit; false for NULL. Any OS thread. */
bool spio_thread_is_running(struct spio_thread *thread);

/**
 * Free an exited thread and its context area; `thread` is invalid afterwards.
 * Must not be polled or current on another OS thread (it stops being current
 * on the calling one). Messages that raced in after the exit are dropped
 * (reported; their fn never runs); pollers and channels left by a timed-out
 * exit are freed, the channels' destroy callbacks running with `thread`
 * current. A thread that has not exited is forced to (an error is logged).
 * NULL is ignored. Any OS thread.
 */
void spio_thread_destroy(struct spio_thread *thread);

/**
 * Run one iteration of a thread: up to `max_msgs` messages (0: a default
 * batch), every active poller, and the timed pollers that are due.
 *
 * \param max_msgs most messages to run in this call; 0 for the default (32).
 * \param now the current spio_get_ticks(), or 0 to read it.
 * \return SPIO_POLLER_BUSY (1) if anything did work, SPIO_POLLER_IDLE (0;
 *         also for an exited thread, which runs nothing), or -EINVAL for NULL.
 *         A destroyed thread must not be passed.
 * Any OS thread, but at most one at a time per thread. The thread is current
 * for the duration; the previous current thread is restored after.
 */
int spio_thread_poll(struct spio_thread *thread, uint32_t max_msgs, uint64_t now);

/**
 * The spio_thread the calling OS thread is running (inside its poll, or set
 * by spio_set_thread / spio_thread_enter), or NULL. Any OS thread; the answer
 * is about the caller only.
 */
struct spio_thread *spio_get_thread(void);

/**
 * Make `thread` current on the calling OS thread (NULL clears), for code that
 * acts as that thread outside its poll. Only the calling OS thread is
 * affected; the caller must ensure no other OS thread polls `thread` meanwhile.
 */
void spio_set_thread(struct spio_thread *thread);

/**
 * Scoped switch (the CurrentThreadGuard): make `thread` current and return
 * the previous one, which spio_thread_leave() restores.
 *
 *     struct spio_thread *prev = spio_thread_enter(t);
 *     ... act as t ...
 *     spio_thread_leave(prev);
 *
 * Same rules as spio_set_thread(): calling OS thread only, and no other OS
 * thread may poll `thread` meanwhile. NULL makes no thread current.
 */
struct spio_thread *spio_thread_enter(struct spio_thread *thread);

/**
 * Restore `prev`, the value spio_thread_enter() returned, as the calling OS
 * thread's current thread. Call on the OS thread that called enter.
 */
void spio_thread_leave(struct spio_thread *prev);

/**
 * The per-thread context area: ctx_size bytes (from spio_thread_lib_init),
 * zeroed at create, cache-line aligned, valid until spio_thread_destroy().
 * NULL for a NULL thread or when ctx_size is 0. Any OS thread; its contents
 * are the application's to synchronise.
 */
void *spio_thread_get_ctx(struct spio_thread *thread);

/**
 * The thread whose context area is `ctx`, a pointer spio_thread_get_ctx()
 * returned (anything else gives a bogus thread); NULL for NULL. Any OS thread.
 */
struct spio_thread *spio_thread_get_from_ctx(void *ctx);

/**
 * The thread's cpumask (all cores if created with NULL), owned by the thread
 * and valid until it is destroyed; NULL for NULL. Any OS thread.
 */
const struct spio_cpuset *spio_thread_get_cpumask(const struct spio_thread *thread);

/** Unique id (>= 1, never reused in a process); 0 for NULL. Any OS thread. */
uint64_t spio_thread_get_id(const struct spio_thread *thread);

/**
 * The thread's name, owned by the thread and valid until it is destroyed;
 * NULL for NULL. Any OS thread.
 */
const char *spio_thread_get_name(const struct spio_thread *thread);

/**
 * Find a thread by id among those created and not yet destroyed (exiting and
 * exited ones included); NULL if none. Any OS thread. The result stays valid
 * only as long as the caller knows the thread is not destroyed meanwhile.
 */
struct spio_thread *spio_thread_get_by_id(uint64_t id);

/** Number of threads created and not yet destroyed. Any OS thread. */
uint32_t spio_thread_get_count(void);

/**
 * Run `fn(ctx)` on every running thread, one after another in creation order
 * (each on its own thread, by message), then `cpl(ctx)` on the calling thread.
 * Threads that exit meanwhile are skipped. Nothing runs before this returns.
 * `ctx` is the caller's and must stay valid until `cpl` ran.
 *
 * \return 0; -EINVAL (NULL fn or cpl, not on a spio thread); -ENOMEM (cpl is
 *         then not called).
 * On a spio thread, which must keep running until `cpl` ran.
 */
int spio_for_each_thread(spio_msg_fn fn, void *ctx, spio_msg_fn cpl);

/*
 * Messages
 */

/**
 * Queue `fn(ctx)` to run on `thread`. From any OS thread, spio thread or not.
 * Lock-free, no allocation (message objects come from a mempool with
 * per-OS-thread caches). Messages from one sender run in the order sent.
 *
 * `ctx` is handed to `fn` as is: the caller keeps owning what it points to
 * and keeps it valid until `fn` ran. A message still queued when the thread
 * is destroyed is dropped (fn never runs).
 *
 * \return 0; -EINVAL (NULL thread or fn); -EIO if the thread has exited;
 *         -ENOMEM if the thread's queue (32 Ki messages) is full or the
 *         message pool (256 Ki) is exhausted: the receiver is far behind,
 *         retry later. On error `fn` never runs.
 */
int spio_thread_send_msg(const struct spio_thread *thread, spio_msg_fn fn, void *ctx);

/**
 * A message whose storage its sender provides, usually embedded in the object
 * the message concerns (a bdev, a lock request, a work item). Sending one
 * allocates nothing, so it cannot fail for lack of memory: internal control
 * paths (unregister, completions, lock retries) use it where a lost message
 * would be a hang. Treat the members as private.
 */
struct spio_msg {
	spio_msg_fn fn;
	void *ctx;
	struct spio_msg *next_;
};

/**
 * Queue `fn(ctx)` to run on `thread`, using `msg` as the message's storage.
 * From any OS thread, spio thread or not. Lock-free, no allocation.
 *
 * `msg` belongs to the runtime from this call until `fn` starts running on
 * `thread`: it must stay valid and must not be sent again before then (fn
 * may send it again, or free it). Messages sent this way from one sender run
 * in the order sent; they are not ordered against spio_thread_send_msg()'s.
 * A thread sending to itself (a completion deferred out of its submit call)
 * costs no locked instruction: those run at its next poll, before the
 * embedded messages of other senders.
 *
 * \return 0; -EINVAL (NULL thread, msg or fn); -EIO if the thread has exited
 *         (msg is then untouched and may be reused at once).
 */
int spio_thread_send_msg_embedded(const struct spio_thread *thread, struct spio_msg *msg,
				  spio_msg_fn fn, void *ctx);

/*
 * Statistics
 */

struct spio_thread_stats {
	uint64_t busy_tsc; /**< ticks spent in polls that did work */
	uint64_t idle_tsc; /**< ticks spent in polls that did nothing */
};

/**
 * Copy the busy/idle tick counters of `thread` (NULL: the current one) into
 * `stats`. Returns 0, or -EINVAL (NULL stats; NULL thread with no current
 * one). Call on that thread, or while no OS thread polls it (to gather every
 * thread's stats, use spio_for_each_thread()).
 */
int spio_thread_get_stats(struct spio_thread *thread, struct spio_thread_stats *stats);

/**
 * spio_get_ticks() at the end of the thread's last poll (its creation time
 * before the first); 0 for NULL. On that thread, or while no OS thread polls it.
 */
uint64_t spio_thread_get_last_tsc(struct spio_thread *thread);

/**
 * True if the thread has registered, unpaused active (period 0) pollers;
 * false for NULL. On that thread, or while no OS thread polls it.
 */
bool spio_thread_has_active_pollers(struct spio_thread *thread);

/**
 * True if the thread has running active pollers without an interrupt fd
 * (spio_poller_set_interrupt_fd): work that only polling finds, so a sleeping
 * owner must look again soon. Reactors bound their sleep by this. False for
 * NULL. On that thread, or while no OS thread polls it.
 */
bool spio_thread_has_active_pollers_without_interrupt(struct spio_thread *thread);

/**
 * True if the thread has any poller (active, timed or paused); false for
 * NULL. On that thread, or while no OS thread polls it.
 */
bool spio_thread_has_pollers(struct spio_thread *thread);

/** Registered pollers of a thread by kind (thread_get_stats reports them). */
struct spio_thread_poller_counts {
	uint32_t active; /**< period 0, running */
	uint32_t timed;	 /**< with a period, running */
	uint32_t paused;
};

/**
 * Count `thread`'s pollers. On that thread, or while no OS thread polls it.
 * \return 0, or -EINVAL for NULL arguments.
 */
int spio_thread_get_poller_counts(struct spio_thread *thread,
				  struct spio_thread_poller_counts *counts);

/**
 * Tick (spio_get_ticks()) at which the earliest running timed poller is due,
 * or 0 if there is none or `thread` is NULL. On that thread, or while no OS
 * thread polls it.
 */
uint64_t spio_thread_next_poller_expiration(struct spio_thread *thread);

/*
 * Pollers. All poller functions run on the poller's thread.
 */

/**
 * Register `fn(arg)` to run on the current thread: every poll if `period_us`
 * is 0 (active poller), else about every `period_us` microseconds (timed; the
 * first run is one period from now). Its name, for statistics and messages,
 * is fn's address (see spio_poller_register_named).
 *
 * `arg` is the caller's and must stay valid until the poller is unregistered.
 * The poller belongs to the thread: unregister it (spio_poller_unregister)
 * before the thread can finish exiting.
 *
 * \return the poller, or NULL with errno EINVAL (no current thread, NULL fn,
 *         the thread is exiting) or ENOMEM.
 * On a spio thread.
 */
struct spio_poller *spio_poller_register(spio_poller_fn fn, void *arg, uint64_t period_us);

/**
 * As spio_poller_register(), with a name for statistics and messages: copied
 * (cut to 63 characters); NULL names it by fn's address. Same parameters,
 * errors and thread rule.
 */
struct spio_poller *spio_poller_register_named(spio_poller_fn fn, void *arg, uint64_t period_us,
					       const char *name);

/**
 * Unregister and free a poller, and set *poller to NULL. Legal from inside
 * the poller's own callback (it is freed when the callback returns) or any
 * other callback of the thread; `fn` does not run again after this returns
 * and its interrupt fd (if any) is no longer watched. NULL or *NULL is
 * ignored. On the poller's thread (from another an error is logged).
 */
void spio_poller_unregister(struct spio_poller **poller);

/**
 * Stop running a poller until resumed; legal from its own callback. A paused
 * poller still counts as registered (the thread cannot finish exiting). NULL,
 * or a poller that is not running, is ignored. On the poller's thread.
 */
void spio_poller_pause(struct spio_poller *poller);

/**
 * Resume a paused poller; a timed one is next due one period from now. NULL
 * or a running poller is ignored; should memory for the timer heap run out,
 * the poller stays paused and an error is logged. On the poller's thread.
 */
void spio_poller_resume(struct spio_poller *poller);

/**
 * The poller's name, owned by the poller and valid until it is unregistered;
 * NULL for NULL. Any OS thread while the poller is registered.
 */
const char *spio_poller_get_name(const struct spio_poller *poller);

/**
 * The poller's id: unique on its thread, 1 for the thread's first poller and
 * growing in registration order (SPDK's poller ids); 0 for NULL. Any OS
 * thread while the poller is registered.
 */
uint64_t spio_poller_get_id(const struct spio_poller *poller);

/** The three lists of thread_get_pollers (SPDK's active, timed and paused pollers). */
enum spio_poller_list {
	SPIO_POLLER_LIST_ACTIVE = 0, /**< period 0, not paused */
	SPIO_POLLER_LIST_TIMED,	     /**< with a period, not paused */
	SPIO_POLLER_LIST_PAUSED,
};

/** One poller as spio_thread_for_each_poller() reports it. */
struct spio_poller_info {
	/** The poller's name; valid during the callback only. */
	const char *name;
	/** spio_poller_get_id(). */
	uint64_t id;
	/**
	 * SPDK's state names: "waiting" (registered, not running now),
	 * "running" (the caller is inside this poller's call), "paused".
	 * A static string.
	 */
	const char *state;
	/** Calls so far. */
	uint64_t run_count;
	/** Calls that returned SPIO_POLLER_BUSY. */
	uint64_t busy_count;
	/** Period in spio_get_ticks() ticks; 0 for an active poller. */
	uint64_t period_ticks;
};

/** Receives one poller of spio_thread_for_each_poller(). */
typedef void (*spio_poller_info_fn)(enum spio_poller_list list, const struct spio_poller_info *info,
				    void *ctx);

/**
 * Report every registered poller of `thread` to `fn`: the active ones in
 * registration order, then the timed ones (in no particular order), then the
 * paused ones. Unregistered pollers are left out. A poller paused while not
 * running counts as paused at once (as in spio_thread_get_poller_counts()).
 * `fn` must not register, unregister, pause or resume pollers of `thread`.
 *
 * \return 0; -EINVAL for NULL thread or fn.
 * On that thread, or while no OS thread polls it (to visit every thread, use
 * spio_for_each_thread(), as thread_get_pollers does).
 */
int spio_thread_for_each_poller(struct spio_thread *thread, spio_poller_info_fn fn, void *ctx);

/**
 * Let `fd` wake the poller's thread from a sleep: while the thread sleeps
 * (between spio_thread_sleep_begin and _end; a reactor in adaptive idle),
 * `fd` becoming readable makes the thread's interrupt fd readable, and the
 * next poll runs the poller, which finds its work by polling as usual. Use
 * it for an io_uring's or libaio's eventfd, or a socket.
 *
 * The fd is watched edge-triggered and never read by the thread: each new
 * event wakes a sleeper once, and the poller must consume what it polls.
 * An active poller with an interrupt fd no longer keeps a sleeping reactor
 * on a short timer (spio_thread_has_active_pollers_without_interrupt), so a
 * thread whose only work arrives through such fds sleeps until it comes.
 *
 * \param fd the fd to watch (the caller keeps owning it), or -1 to stop
 *        watching. A poller watches at most one fd; a new one replaces the
 *        old. Unregister the poller (or set -1) before closing the fd.
 *
 * \return 0; -EINVAL (NULL or unregistered poller, fd < -1, not on the
 *         poller's thread); or epoll_ctl's -errno (-EBADF, -EPERM for a
 *         regular file, -ENOMEM). On error the poller watches nothing.
 */
int spio_poller_set_interrupt_fd(struct spio_poller *poller, int fd);

/*
 * io_devices and io_channels
 */

/**
 * Register `io_device` (any unique pointer) as a device with per-thread
 * channels of `ctx_size` bytes of context.
 *
 * \param io_device the key of the device, never dereferenced; it is handed
 *        to the callbacks, so what it points to must stay valid until the
 *        device is unregistered and unregister_cb ran.
 * \param create_cb sets up a new channel's context (zeroed) on its thread.
 * \param destroy_cb tears it down when the channel's last reference goes.
 * \param ctx_size bytes of context per channel (spio_io_channel_get_ctx).
 * \param name for messages; copied (cut to 63 characters); NULL: "io_device".
 * \return 0; -EINVAL (NULL device or callbacks); -EEXIST if already
 *         registered; -ENOMEM. Any OS thread.
 */
int spio_io_device_register(void *io_device, spio_io_channel_create_cb create_cb,
			    spio_io_channel_destroy_cb destroy_cb, uint32_t ctx_size,
			    const char *name);

/**
 * Unregister a device. No new channels can be got; `unregister_cb` (optional)
 * runs on the calling thread, by message (so never before this returns), once
 * every existing channel has been released and traversals have finished. The
 * calling thread must keep running until then, or the callback is dropped.
 * On a spio thread.
 * \return 0, -EINVAL (NULL device, not on a spio thread) or -ENOENT (not
 *         registered, or already being unregistered).
 */
int spio_io_device_unregister(void *io_device, spio_io_device_unregister_cb unregister_cb);

/**
 * The current thread's channel to `io_device`, created on first use
 * (create_cb runs now) and reference-counted after: each successful call
 * takes a reference that spio_put_io_channel() releases on the same thread.
 * The channel belongs to the runtime and stays valid while a reference is held.
 * On a spio thread.
 * \return the channel, or NULL with errno ENODEV (not registered or being
 *         unregistered), EINVAL (no current thread), ENOMEM, or create_cb's error.
 */
struct spio_io_channel *spio_get_io_channel(void *io_device);

/**
 * Drop a reference. The last one destroys the channel from a message, after
 * the current callback returns, so a callback may put its own channel. On the
 * channel's thread.
 * \return 0; -EINVAL (NULL channel, or called on another thread than the
 *         channel's: nothing is changed and an error is logged); -EALREADY
 *         (no reference left to drop).
 */
int spio_put_io_channel(struct spio_io_channel *ch);

/**
 * The channel's context area (ctx_size bytes from spio_io_device_register,
 * cache-line aligned), valid while a reference is held; NULL for NULL. On the
 * channel's thread.
 */
void *spio_io_channel_get_ctx(struct spio_io_channel *ch);

/**
 * The channel whose context area is `ctx`, a pointer spio_io_channel_get_ctx()
 * returned (anything else gives a bogus channel); NULL for NULL.
 */
struct spio_io_channel *spio_io_channel_from_ctx(void *ctx);

/** The thread the channel belongs to; NULL for NULL. While a reference is held. */
struct spio_thread *spio_io_channel_get_thread(struct spio_io_channel *ch);

/**
 * The device (the io_device pointer given at register) of the channel; NULL for
 * NULL. While a reference is held.
 */
void *spio_io_channel_get_io_device(struct spio_io_channel *ch);

/** One io_channel as spio_thread_for_each_io_channel() reports it. */
struct spio_io_channel_info {
	/** The io_device's name (given at register); valid during the callback only. */
	const char *name;
	/** References held (spio_get_io_channel() calls not yet put). */
	uint32_t ref;
};

/** Receives one channel of spio_thread_for_each_io_channel(). */
typedef void (*spio_io_channel_info_fn)(const struct spio_io_channel_info *info, void *ctx);

/**
 * Report every io_channel `thread` holds to `fn`, oldest first. A channel
 * whose last reference was put (its destroy is pending) is left out. `fn`
 * must not get or put channels of `thread`.
 *
 * \return 0; -EINVAL for NULL thread or fn.
 * On that thread, or while no OS thread polls it (to visit every thread, use
 * spio_for_each_thread(), as thread_get_io_channels does).
 */
int spio_thread_for_each_io_channel(struct spio_thread *thread, spio_io_channel_info_fn fn,
				    void *ctx);

/**
 * Visit every channel of `io_device`, each on its own thread, one after
 * another; each visit must call spio_for_each_channel_continue(). Then
 * `cpl(iter, status)` runs on the calling thread. Channels created during
 * the traversal may or may not be visited; released ones are not. Nothing runs
 * before this returns, and the device cannot finish unregistering until `cpl`
 * ran. `ctx` is the caller's and must stay valid until then; the iterator is
 * the runtime's and is freed when `cpl` returns.
 * On a spio thread, which must keep running until `cpl` ran.
 * \return 0; -EINVAL (NULL fn or cpl, not on a spio thread); -ENODEV
 *         (io_device not registered); -ENOMEM. On error cpl is not called.
 */
int spio_for_each_channel(void *io_device, spio_channel_msg fn, void *ctx,
			  spio_channel_for_each_cpl cpl);

/**
 * Finish the visit of the current channel: 0 moves on, anything else stops
 * the traversal and is handed to cpl (which gets 0 when every channel was
 * visited). Call exactly once per visit, on the visited channel's thread,
 * from `fn` or later; `iter` must not be used afterwards. NULL is ignored.
 */
void spio_for_each_channel_continue(struct spio_io_channel_iter *iter, int status);

/** The traversed device; NULL for NULL. From `fn` or `cpl` of the traversal. */
void *spio_io_channel_iter_get_io_device(struct spio_io_channel_iter *iter);

/**
 * The channel being visited, held by the visited thread; NULL in `cpl` or for
 * NULL. From `fn` of the traversal, until spio_for_each_channel_continue().
 */
struct spio_io_channel *spio_io_channel_iter_get_channel(struct spio_io_channel_iter *iter);

/** The ctx given to spio_for_each_channel(); NULL for NULL. From `fn` or `cpl`. */
void *spio_io_channel_iter_get_ctx(struct spio_io_channel_iter *iter);

/*
 * Blocking work
 */

/** A call that may block (a system call that sleeps); returns 0 or -errno. */
typedef int (*spio_work_fn)(void *arg);

/** Receives a blocking call's result on the submitting thread. */
typedef void (*spio_work_done_fn)(void *arg, int result);

/**
 * A request for spio_work_submit(). The caller owns the storage (embed it
 * in a per-I/O context) and keeps it valid until `done` ran. The fields are
 * private.
 */
struct spio_work {
	spio_work_fn fn_;
	spio_work_done_fn done_;
	void *arg_;
	int result_;
	struct spio_thread *thread_;
	struct spio_work *next_;
	struct spio_msg msg_;
};

/**
 * Run `fn(arg)` on a helper OS thread (a pool of a few, started on first
 * use and joined by spio_thread_lib_fini), then `done(arg, result)` on the
 * calling spio thread, as a message: never before this returns. For calls
 * that may sleep in the kernel, so a poller never blocks its reactor. Calls
 * run in submission order when the pool has a free thread, and may overlap.
 * Not for hot paths: each call costs a hand-off to another thread and back.
 *
 * `fn` runs on a thread that is not a spio thread (spio_get_thread() is
 * NULL there) with every signal blocked; it must not touch state owned by
 * spio threads. The calling thread must stay alive until `done` ran.
 *
 * \return 0; -EINVAL (NULL work, fn or done; not on a spio thread; library
 *         not initialised or finishing); -ENOMEM (no helper thread could be
 *         started; another pthread_create() failure is returned as its
 *         -errno). On error `done` is never called and `work` is not kept.
 */
int spio_work_submit(struct spio_work *work, spio_work_fn fn, spio_work_done_fn done, void *arg);

/*
 * Integration with other event loops (interrupt hook)
 */

/**
 * A file descriptor that becomes readable when `thread` has messages or a
 * timed poller is due: an epoll set holding the thread's message eventfd and
 * a timerfd for its earliest timed poller, so a program can sleep in
 * poll/epoll instead of spinning. Created on first call; owned by the thread
 * (closed by spio_thread_destroy).
 *
 * Protocol, on the OS thread that polls `thread`:
 *
 *     if (spio_thread_sleep_begin(t)) {   // no work pending: safe to sleep
 *             poll(&(struct pollfd){fd, POLLIN}, 1, -1);
 *     }
 *     spio_thread_sleep_end(t);           // drains the fd
 *     spio_thread_poll(t, 0, 0);
 *
 * Senders write the eventfd only while the thread is between sleep_begin and
 * sleep_end, so a busy thread costs no system call per message.
 *
 * Do not close or read the fd: the thread owns it. Call on the OS thread
 * that polls `thread`.
 *
 * \return the fd; -EINVAL for NULL; or the -errno of creating it (-ENOMEM,
 *         -EMFILE, ...).
 */
int spio_thread_get_interrupt_fd(struct spio_thread *thread);

/**
 * Announce that the polling OS thread is about to sleep on the interrupt fd.
 * Arms the timerfd for the next timed poller. Returns false if messages are
 * already pending (then do not sleep), and for NULL or a thread whose
 * interrupt fd was never got (spio_thread_get_interrupt_fd). Call
 * spio_thread_sleep_end() either way. On the OS thread that polls `thread`.
 */
bool spio_thread_sleep_begin(struct spio_thread *thread);

/**
 * End a sleep begun by spio_thread_sleep_begin(): senders stop writing the
 * eventfd, and the wake-up fds are drained so the next sleep starts from
 * "not readable". NULL, or a thread without an interrupt fd, is ignored. On
 * the OS thread that polls `thread`.
 */
void spio_thread_sleep_end(struct spio_thread *thread);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_THREAD_H */
