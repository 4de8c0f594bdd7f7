/*
 * spdk-io async tasks: completions, stackful tasks and the `_await` convention.
 *
 * Three levels, each built on the one before (docs/async.md has the guide):
 *
 * 1. Callbacks: every asynchronous spio function takes `(cb, cb_arg)`.
 * 2. Completions: `struct spio_completion` is a one-shot result slot that any
 *    callback can fill; spio_completion_cb() is a ready-made callback for
 *    operations that report `(void *cb_arg, int status)`.
 *    spio_completion_wait() polls the current thread until it is filled.
 * 3. Tasks: spio_task_spawn() runs a function on its own stack on the current
 *    spio_thread. Inside a task, spio_await() suspends the task until a
 *    completion is filled while the thread goes on with other work.
 *
 * Scheduling. Tasks of a spio_thread run only while that thread is polled, on
 * the OS thread that polls it, one at a time; a task never migrates to
 * another spio_thread. A task runs until it awaits, yields, sleeps, joins or
 * returns: there is no preemption. Runnable tasks (new, yielded, or woken by
 * another task) run in FIFO order from a poller the thread gets while it has
 * tasks; each poll resumes at most SPIO_TASK_POLL_BUDGET of them, so messages
 * and pollers are never starved. A task whose completion is filled by code
 * that is not a task (a poller, a message, an I/O callback) resumes at once,
 * inside that call, like a callback would run.
 *
 * Stacks. Each task has its own stack (default SPIO_TASK_DEFAULT_STACK_SIZE)
 * with an inaccessible guard page below it: an overflow faults instead of
 * corrupting memory. Stacks are cached per spio_thread, so spawning costs no
 * system call once the cache is warm. Switching between tasks is a few
 * instructions of assembly (x86-64 and AArch64), no system call.
 *
 * Per-thread state. The first spawn on a spio_thread creates its task
 * scheduler (ready queue, stack cache, poller), found through a small
 * registry keyed by the thread's id and cached per OS thread; the thread's
 * context area (spio_thread_get_ctx) stays the application's. The scheduler
 * unregisters its poller when the thread's last task ends, so
 * spio_thread_exit() completes normally once tasks are done; while tasks are
 * alive the thread cannot finish exiting. Cached stacks of a destroyed thread
 * are freed when another thread creates its scheduler.
 *
 * The `_await` convention, for every layer above this one: each asynchronous
 * operation that an application would use in sequence gets a twin
 *
 *     int spio_bdev_read_await(desc, ch, buf, offset, len);
 *
 * that starts the callback version with spio_completion_cb and a completion
 * on the task's stack, returns the start error if it fails to start, and
 * otherwise returns what spio_await() returns (the operation's status):
 *
 *     int spio_bdev_read_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
 *                              void *buf, uint64_t offset, uint64_t len)
 *     {
 *             struct spio_completion c;
 *
 *             if (spio_task_current() == NULL) {
 *                     return -EPERM;
 *             }
 *             spio_completion_init(&c);
 *             return spio_await_started(&c, spio_bdev_read(desc, ch, buf, offset, len,
 *                                                          spio_completion_cb, &c));
 *     }
 *
 * Rules of `_await` functions: called outside a task they return -EPERM and
 * start nothing; they return 0 or a negative errno; they never return before
 * the operation has finished, so buffers may live on the task's stack.
 * Operations whose callbacks carry more than a status use a small custom
 * callback (see spio_completion_done()).
 *
 * Thread rules, unless a function says otherwise: call on a spio thread; a
 * completion, a task and its handle belong to the spio_thread on which they
 * were initialised or spawned.
 */
#ifndef SPIO_TASK_H
#define SPIO_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/thread.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spio_task;

/** Default task stack: 64 KiB (plus one guard page). */
#define SPIO_TASK_DEFAULT_STACK_SIZE (64u * 1024)
/** Smallest accepted stack size. */
#define SPIO_TASK_MIN_STACK_SIZE (8u * 1024)
/** Largest accepted stack size. */
#define SPIO_TASK_MAX_STACK_SIZE (1024u * 1024 * 1024)
/** Most task resumptions one poll of a spio_thread performs. */
#define SPIO_TASK_POLL_BUDGET 128
/** Longest task name kept, including the terminating NUL (longer ones are cut). */
#define SPIO_TASK_NAME_MAX 32

/*
 * Completions
 */

/**
 * A one-shot result slot: an operation's callback fills it once
 * (spio_completion_done), and a task awaits it (spio_await) or a plain
 * program blocks on it (spio_completion_wait).
 *
 * Initialise with spio_completion_init() before handing it to an operation.
 * The public fields are the result; read them after the completion is done.
 * A completion may live anywhere (task stack, heap, a larger request
 * structure) but must stay valid until it is done. It may be reused after it
 * is done by initialising it again.
 */
struct spio_completion {
	/** The operation's status (0 or -errno), valid once done. */
	int status;
	/** Set when filled; read it with spio_completion_is_done() from other OS threads. */
	bool done;
	/** Optional extra result stored by a custom callback (a count, an id, ...). */
	uint64_t value;
	/** Optional extra result pointer stored by a custom callback. */
	void *ptr;
	/** Library-private bookkeeping: do not touch. */
	struct {
		struct spio_thread *thread; /* the thread it was initialised on */
		struct spio_task *waiter;   /* task suspended on it, if any */
		struct spio_task *owner;    /* debug builds: task it was initialised in */
		uint64_t owner_serial;	    /* debug builds: which run of that descriptor */
		struct spio_msg forward;    /* completed on another thread: wakes the waiter */
	} internal;
};

/**
 * Prepare `c` for one operation: not done, status 0, value 0, ptr NULL, and
 * bound to the current spio_thread (NULL if there is none). NULL is ignored.
 *
 * Debug builds (without NDEBUG) remember completions initialised inside a
 * task until they are done, and report (SPIO_ERRLOG) a task that returns
 * while some are still pending: an operation it started could later write
 * into its dead stack. Initialise a completion in the task that starts and
 * awaits the operation; use spio_await_started() so that a start failure is
 * not reported. Never re-initialise a completion that is still pending.
 */
void spio_completion_init(struct spio_completion *c);

/**
 * Fill `c` with `status` and wake whoever waits for it. Call exactly once per
 * spio_completion_init(); store `value` / `ptr` first if the operation
 * reports more than a status. NULL is ignored.
 *
 * Thread rules: any OS thread. Called on a thread other than the one `c` was
 * initialised on, it stores the status and forwards the rest by message
 * (spio_thread_send_msg) to that thread, which resumes the waiter there; a
 * task is never resumed on a foreign thread. Called from code that is not a
 * task, on the completion's thread, a waiting task resumes before this
 * returns; called from a task, the waiter is queued and runs later in the
 * same poll.
 *
 * Operations whose callbacks carry more than a status use a small callback
 * that stores the extra data, then calls this:
 *
 *     static void read_done(void *cb_arg, int status, uint64_t bytes)
 *     {
 *             struct spio_completion *c = cb_arg;
 *
 *             c->value = bytes;
 *             spio_completion_done(c, status);
 *     }
 */
void spio_completion_done(struct spio_completion *c, int status);

/**
 * Ready-made callback for operations that report `(void *cb_arg, int status)`:
 * pass it with the completion as cb_arg. Same as spio_completion_done(cb_arg,
 * status), with the same thread rules.
 */
void spio_completion_cb(void *cb_arg, int status);

/** True once `c` has been filled (acquire load, any OS thread). False for NULL. */
bool spio_completion_is_done(const struct spio_completion *c);

/**
 * Block-on for code that is not a task: poll the current spio_thread
 * (spio_thread_poll(spio_get_thread(), 0, 0)) until `c` is done, then return
 * its status. Other work of the thread, tasks included, goes on meanwhile.
 *
 * Do not call it from a callback of the thread being polled (pollers,
 * messages): the thread would be polled inside its own poll. Call it on the
 * OS thread that polls the current spio_thread, with `c` initialised on that
 * thread.
 *
 * \return the completion's status; -EDEADLK if called inside a task (it
 *         would stop the only OS thread that can fill the completion: use
 *         spio_await() there); -EINVAL for NULL or when the calling OS thread
 *         has no current spio_thread; or the error of spio_thread_poll().
 */
int spio_completion_wait(struct spio_completion *c);

/*
 * Tasks
 */

/** A task body; its return value is the task's result (see spio_task_join()). */
typedef int (*spio_task_fn)(void *arg);

/** Options of spio_task_spawn(); fill with spio_task_opts_init() first. */
struct spio_task_opts {
	/** sizeof(struct spio_task_opts) as the caller knows it (ABI growth). */
	size_t opts_size;
	/**
	 * Usable stack bytes, SPIO_TASK_MIN_STACK_SIZE .. SPIO_TASK_MAX_STACK_SIZE,
	 * rounded up to whole pages; a guard page is added below. Default
	 * SPIO_TASK_DEFAULT_STACK_SIZE. Sanitizer builds need more than plain ones.
	 */
	size_t stack_size;
	/** Name for debugging (copied, cut to SPIO_TASK_NAME_MAX - 1); NULL: "task<n>". */
	const char *name;
};

/**
 * Fill `opts` with defaults (SPIO_TASK_DEFAULT_STACK_SIZE, no name). `opts_size`
 * is the caller's sizeof(*opts); only that many bytes are written. NULL or
 * `opts_size` 0 is ignored. Any OS thread.
 */
void spio_task_opts_init(struct spio_task_opts *opts, size_t opts_size);

/**
 * Create a task that runs `fn(arg)` on its own stack on the current
 * spio_thread. The task does not start before this returns: it is queued
 * and starts from the thread's poll (FIFO with other runnable tasks).
 *
 * Detach semantics: with `task_out` NULL the task is detached: everything it
 * holds is reclaimed when it returns and its result is dropped. With
 * `task_out` the task is joinable: its stack is recycled when it returns, but
 * a small descriptor holding the result stays until spio_task_join() collects
 * it or spio_task_detach() gives it up; exactly one of the two must be
 * called, once. Until then the handle stays valid even after the task returned.
 *
 * `arg` is handed to `fn` as is and stays the caller's: keep what it points
 * to valid for as long as the task uses it.
 *
 * \param opts NULL for defaults; read during the call only (the name is copied).
 * \return 0; -EINVAL (NULL fn, no current spio_thread, opts_size 0, stack
 *         size out of range); -ENOMEM (no memory or no mappings left).
 *         Nothing is created on error and *task_out is untouched.
 */
int spio_task_spawn(spio_task_fn fn, void *arg, const struct spio_task_opts *opts,
		    struct spio_task **task_out);

/**
 * From a task, wait until `task` has returned and return its result. The
 * handle is invalid afterwards: a task is joined at most once.
 *
 * \return the task's result; -EPERM outside a task; -EINVAL (NULL, the
 *         calling task itself, a detached task, a task another task is
 *         already joining); -EXDEV if `task` belongs to another spio_thread.
 *         Errors leave `task` untouched. Error codes and results share the
 *         return value: give results that cannot be mistaken for them if
 *         that matters.
 */
int spio_task_join(struct spio_task *task);

/**
 * Give up joining `task`: if it has returned it is reclaimed now, otherwise
 * when it returns. The handle is invalid afterwards. Need not be in a task;
 * on the task's thread.
 * \return 0; -EINVAL (NULL, already detached, being joined); -EXDEV (another thread).
 */
int spio_task_detach(struct spio_task *task);

/** The task running on the calling OS thread, or NULL outside tasks. Any OS thread. */
struct spio_task *spio_task_current(void);

/**
 * The task's name (a copy made at spawn), valid as long as the handle is;
 * NULL for NULL. On the task's thread.
 */
const char *spio_task_get_name(const struct spio_task *task);

/** The spio_thread the task runs on; NULL for NULL. On the task's thread. */
struct spio_thread *spio_task_get_thread(const struct spio_task *task);

/**
 * Number of tasks on the current spio_thread that have been spawned and have
 * not returned yet (0 without a current thread or before its first spawn).
 */
uint32_t spio_task_get_count(void);

/**
 * Let the thread run other work: the calling task goes to the back of the
 * runnable queue and continues later in this or a following poll.
 * \return 0, or -EPERM outside a task.
 */
int spio_task_yield(void);

/**
 * Suspend the calling task for at least `us` microseconds (a timed poller of
 * the thread wakes it; the thread keeps running other work). 0 yields.
 * \return 0; -EPERM outside a task; -ENOMEM if no poller could be registered.
 */
int spio_task_sleep_us(uint64_t us);

/*
 * Awaiting
 */

/**
 * Suspend the calling task until `c` is done and return its status. Returns
 * at once if `c` is done already.
 * \return the completion's status; -EPERM outside a task; -EINVAL for NULL;
 *         -EXDEV if `c` was initialised on another spio_thread; -EBUSY if
 *         another task already awaits `c`.
 */
int spio_await(struct spio_completion *c);

/**
 * The tail of every `_await` function: `start_rc` is what starting the
 * callback version returned. If it is an error, `c` will never be filled:
 * forget it (debug builds stop tracking it) and return `start_rc`; otherwise
 * return spio_await(c), with its errors.
 */
int spio_await_started(struct spio_completion *c, int start_rc);

/**
 * Suspend the calling task until all `n` completions are done; they may be
 * filled in any order. One task can so keep many operations in flight.
 * A completion listed twice is awaited once. The array is the caller's and
 * must stay valid until this returns (the task's stack is fine).
 * \return 0 if every status is 0, else the first non-zero status in array
 *         order; 0 for n == 0; -EPERM outside a task; -EINVAL (NULL array
 *         with n > 0, a NULL entry); -EXDEV / -EBUSY as spio_await(). On an
 *         argument error nothing is awaited.
 */
int spio_await_all(struct spio_completion **cs, size_t n);

/**
 * Suspend the calling task until at least one of `n` completions is done.
 * The others stay pending (await them later or keep them valid until done);
 * the array itself is needed only until this returns.
 * \return the lowest index of a done completion (>= 0); -EPERM outside a
 *         task; -EINVAL (NULL array, n == 0, a NULL entry); -EXDEV / -EBUSY
 *         as spio_await().
 */
int spio_await_any(struct spio_completion **cs, size_t n);

/*
 * Cross-thread calls
 */

/**
 * Work for spio_thread_call_await(): runs on the target thread and must fill
 * `c` exactly once, now or later (from a callback of that thread), with
 * spio_completion_done().
 */
typedef void (*spio_thread_call_fn)(void *arg, struct spio_completion *c);

/**
 * From a task, run `fn(arg, c)` on `thread` (by message) and suspend until
 * `fn` fills `c`; the result travels back by message and the task resumes on
 * its own thread. `thread` may be the task's own thread. `arg` may point into
 * the task's stack: this does not return before `fn` filled `c`.
 *
 * \return the status `fn` gave; -EPERM outside a task; -EINVAL (NULL thread
 *         or fn); or spio_thread_send_msg()'s error (-EIO: thread exited,
 *         -ENOMEM), in which case `fn` does not run.
 */
int spio_thread_call_await(struct spio_thread *thread, spio_thread_call_fn fn, void *arg);

/**
 * From a task, run the blocking call `fn(arg)` on a helper OS thread (see
 * spio_work_submit() in spio/thread.h) and suspend until it returned; the
 * task's thread runs other work meanwhile. `fn` runs outside any spio
 * thread, with every signal blocked; `arg` may point into the task's stack.
 *
 * \return what `fn` returned; -EPERM outside a task; -EINVAL (NULL fn);
 *         or spio_work_submit()'s error, in which case `fn` does not run.
 */
int spio_work_submit_await(spio_work_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_TASK_H */
