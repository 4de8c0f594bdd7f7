/*
 * Private structures of the task layer (lib/task).
 *
 * sched.c   per-spio_thread scheduler: registry, ready queue, poller,
 *           context switches (with the sanitizer fiber hooks)
 * stack.c   guarded stacks and their per-thread cache
 * task.c    spawn, join, detach, yield, sleep
 * completion.c  completions and the awaits
 * call.c    spio_thread_call_await
 */
#ifndef SPIO_TASK_INTERNAL_H
#define SPIO_TASK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/task.h"
#include "spio/thread.h"
#include "spio/util.h"

#if defined(__SANITIZE_ADDRESS__)
#define SPIO_TASK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPIO_TASK_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define SPIO_TASK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPIO_TASK_TSAN 1
#endif
#endif

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "spio tasks need a context switch for this architecture (lib/task/switch_*.S)"
#endif

#ifdef SPIO_TASK_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef SPIO_TASK_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Hot thread-locals: initial-exec avoids a __tls_get_addr call per access. */
#define SPIO_TASK_TLS __thread __attribute__((tls_model("initial-exec")))

/* Library-internal symbols: direct calls, no PLT, not exported from libspio.so. */
#define SPIO_TASK_HIDDEN __attribute__((visibility("hidden")))

/*
 * A saved execution context: a task's, or the OS thread stack's while it has
 * switched into a task (a "main" context, which lives on that stack for the
 * duration of one resume).
 */
struct task_ctx {
	void *sp;
	bool is_main;
#ifdef SPIO_TASK_ASAN
	const void *asan_bottom; /* stack bounds for __sanitizer_start_switch_fiber */
	size_t asan_size;
	void *asan_fake_stack;
#endif
#ifdef SPIO_TASK_TSAN
	void *tsan_fiber;
#endif
};

/* One mmap'd stack: [map, map + page) is the PROT_NONE guard, the rest usable. */
struct task_stack {
	void *map;
	size_t map_size;
};

enum task_state {
	TASK_FREE,     /* descriptor on the free list */
	TASK_READY,    /* queued to run */
	TASK_RUNNING,  /* current on its OS thread */
	TASK_WAITING,  /* suspended on completions, a join or a sleep */
	TASK_FINISHED, /* returned; a joinable task stays so until joined or detached */
};

struct task_sched;

/*
 * A task descriptor. Descriptors come from per-scheduler chunks that live as
 * long as the scheduler, so a stale pointer to one (a completion's debug
 * owner) is never a pointer into unmapped memory; `serial` tells whether it
 * still describes the same task.
 */
struct spio_task {
	struct task_ctx ctx;
	struct task_ctx *resumer; /* main context to switch back to when suspending */
	struct task_sched *sched;
	struct spio_task *next; /* ready queue, free list */
	enum task_state state;
	bool joinable;
	spio_task_fn fn;
	void *arg;
	int result;
	struct spio_task *joiner;
	uint32_t wait_remaining; /* wake-ups still needed by the current await */
	uint32_t pending;	 /* debug builds: completions initialised here, not done */
	struct spio_poller *sleep_poller;
	struct task_stack stack; /* map == NULL once returned */
	uint64_t serial;	 /* unique per spawn on this scheduler; 0 when free */
	char name[SPIO_TASK_NAME_MAX];
};

#define TASK_CHUNK_SIZE 64	/* descriptors allocated at once */
#define TASK_STACK_BUCKETS 4	/* stack sizes cached per scheduler */
#define TASK_STACK_CACHE_MAX 64 /* cached stacks per size */

struct task_chunk {
	struct task_chunk *next;
	struct spio_task tasks[TASK_CHUNK_SIZE];
};

struct task_stack_bucket {
	size_t map_size; /* 0: unused bucket */
	uint32_t count;
	void *head; /* free stacks, linked through their top bytes */
};

/* Per-spio_thread scheduler, created by the first spawn on the thread. */
struct task_sched {
	struct spio_thread *thread;
	uint64_t thread_id;
	struct spio_poller *poller; /* registered while live > 0 */
	bool poller_paused;
	bool leak_reported;
	struct spio_task *ready_head;
	struct spio_task *ready_tail;
	uint32_t live;		   /* spawned and not returned */
	uint32_t zombies;	   /* returned, joinable, not yet joined or detached */
	struct task_ctx *poll_ctx; /* main context of the running poll, else NULL */
	int budget;		   /* resumptions left in this poll */
	uint64_t next_serial;
	struct spio_task *free_tasks;
	struct task_chunk *chunks;
	struct task_stack_bucket buckets[TASK_STACK_BUCKETS];
	struct task_sched *next; /* registry */
};

/* Current task of this OS thread (NULL on the OS thread's own stack). */
extern SPIO_TASK_HIDDEN SPIO_TASK_TLS struct spio_task *g_task_current;
/* A task that returned and waits to be reaped by the next context to run. */
extern SPIO_TASK_HIDDEN SPIO_TASK_TLS struct spio_task *g_task_reap;
#ifdef SPIO_TASK_ASAN
/* The context being left, so the landing side can learn a main stack's bounds. */
extern SPIO_TASK_HIDDEN SPIO_TASK_TLS struct task_ctx *g_task_switch_from;
#endif

/* sched.c */
SPIO_TASK_HIDDEN struct task_sched *task_sched_get(bool create);
SPIO_TASK_HIDDEN struct spio_task *task_alloc(struct task_sched *sched);
SPIO_TASK_HIDDEN void task_free(struct spio_task *task);
SPIO_TASK_HIDDEN int task_launch(struct task_sched *sched, struct spio_task *task);
SPIO_TASK_HIDDEN void task_reap(struct spio_task *task);
SPIO_TASK_HIDDEN void task_finish(struct spio_task *task) __attribute__((noreturn));

/* stack.c */
SPIO_TASK_HIDDEN int task_stack_get(struct task_sched *sched, size_t stack_size,
				    struct task_stack *out);
SPIO_TASK_HIDDEN void task_stack_put(struct task_sched *sched, const struct task_stack *stack);
SPIO_TASK_HIDDEN void task_stack_cache_drain(struct task_sched *sched);
SPIO_TASK_HIDDEN size_t task_stack_page_size(void);

/* task.c */
SPIO_TASK_HIDDEN void task_on_return(struct spio_task *task);

/* switch_*.S */
SPIO_TASK_HIDDEN void spio_task_ctx_swap(void **save_sp, void *load_sp);
SPIO_TASK_HIDDEN void spio_task_ctx_entry(void);

/*
 * The switching fast path, inline so that an await or a wake-up is one call
 * deep: every frame between the caller and the switch costs a mispredicted
 * return on the way back, since the return predictor was filled on the other
 * stack.
 */

static inline void task_ready_push(struct task_sched *sched, struct spio_task *task)
{
	task->next = NULL;
	if (sched->ready_tail != NULL) {
		sched->ready_tail->next = task;
	} else {
		sched->ready_head = task;
	}
	sched->ready_tail = task;
}

static inline struct spio_task *task_ready_pop(struct task_sched *sched)
{
	struct spio_task *task = sched->ready_head;

	if (task != NULL) {
		sched->ready_head = task->next;
		if (sched->ready_head == NULL) {
			sched->ready_tail = NULL;
		}
		task->next = NULL;
	}
	return task;
}

/* Runs first thing in whichever context a switch lands in (self: NULL in a new task). */
static inline void task_ctx_landed(struct task_ctx *self)
{
#ifdef SPIO_TASK_ASAN
	const void *bottom;
	size_t size;

	__sanitizer_finish_switch_fiber(self != NULL ? self->asan_fake_stack : NULL, &bottom,
					&size);
	if (g_task_switch_from->is_main) {
		g_task_switch_from->asan_bottom = bottom;
		g_task_switch_from->asan_size = size;
	}
#else
	(void)self;
#endif
	if (spio_unlikely(g_task_reap != NULL)) {
		struct spio_task *dead = g_task_reap;

		g_task_reap = NULL;
		task_reap(dead);
	}
}

/* Switch from `from` to `to`; returns when something switches back to `from`. */
static inline void task_ctx_switch(struct task_ctx *from, struct task_ctx *to, bool from_dying)
{
#ifdef SPIO_TASK_ASAN
	__sanitizer_start_switch_fiber(from_dying ? NULL : &from->asan_fake_stack, to->asan_bottom,
				       to->asan_size);
	g_task_switch_from = from;
#else
	(void)from_dying;
#endif
#ifdef SPIO_TASK_TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	spio_task_ctx_swap(&from->sp, to->sp);
	task_ctx_landed(from);
}

/* A main context: the OS thread's own stack, for the duration of one resume. */
static inline void task_main_ctx_init(struct task_ctx *ctx)
{
	ctx->sp = NULL;
	ctx->is_main = true;
#ifdef SPIO_TASK_ASAN
	ctx->asan_bottom = NULL;
	ctx->asan_size = 0;
	ctx->asan_fake_stack = NULL;
#endif
#ifdef SPIO_TASK_TSAN
	ctx->tsan_fiber = __tsan_get_current_fiber();
#endif
}

/* Queue a task to run from the scheduler's poller. */
static inline void task_ready(struct spio_task *task)
{
	struct task_sched *sched = task->sched;

	task->state = TASK_READY;
	task_ready_push(sched, task);
	if (sched->poller_paused && sched->poll_ctx == NULL) {
		spio_poller_resume(sched->poller);
		sched->poller_paused = false;
	}
}

/* Make a waiting task run again. */
static inline void task_wake(struct spio_task *task)
{
	struct task_sched *sched = task->sched;

	if (task->state != TASK_WAITING) {
		return;
	}
	/*
	 * From a callback on the thread's own stack, run the task right away, as
	 * the callback it replaces would have run. From a task (or while the
	 * poller is between tasks), queue it: tasks do not nest.
	 */
	if (g_task_current == NULL && sched->poll_ctx == NULL) {
		struct task_ctx main_ctx;

		task_main_ctx_init(&main_ctx);
		task->resumer = &main_ctx;
		task->state = TASK_RUNNING;
		g_task_current = task;
		task_ctx_switch(&main_ctx, &task->ctx, false);
	} else {
		task_ready(task);
	}
}

/*
 * Stop running `task` (its state says why) and run what comes next: inside
 * the poller with budget left, the next queued task, which inherits the
 * poller's main context; otherwise the main context that resumed `task`.
 */
static inline void task_switch_out(struct spio_task *task, bool dying)
{
	struct task_sched *sched = task->sched;
	struct task_ctx *main_ctx = task->resumer;
	struct spio_task *next;

	if (main_ctx == sched->poll_ctx && sched->budget > 0 &&
	    (next = task_ready_pop(sched)) != NULL) {
		sched->budget--;
		if (next == task) {
			/* a yield with nothing else to run: carry on */
			task->state = TASK_RUNNING;
			return;
		}
		next->resumer = main_ctx;
		next->state = TASK_RUNNING;
		g_task_current = next;
		task_ctx_switch(&task->ctx, &next->ctx, dying);
	} else {
		g_task_current = NULL;
		task_ctx_switch(&task->ctx, main_ctx, dying);
	}
}

/* Suspend the calling task; returns when it is resumed. */
static inline void task_suspend(struct spio_task *task)
{
	task_switch_out(task, false);
}

#endif /* SPIO_TASK_INTERNAL_H */
