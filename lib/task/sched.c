/*
 * Per-spio_thread task scheduler: the registry that finds it, the ready
 * queue and its poller, task descriptors, and the context switches with
 * their sanitizer annotations.
 *
 * Control flow. A task is always entered from a "main" context, the OS
 * thread's own stack inside some call: the scheduler's poller (which resumes
 * queued tasks, up to a budget per poll) or a callback that fills a
 * completion (which resumes the waiter directly). When a task suspends it
 * switches back to that main context, or, inside the poller while budget is
 * left, straight to the next queued task, which inherits the main context:
 * a yield ping-pong then costs one switch per yield.
 *
 * A returning task cannot free the stack it runs on: it switches away and
 * whoever lands next (task or main) reaps it (g_task_reap).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spio/log.h"
#include "spio/util.h"
#include "task/task_internal.h"

SPIO_TASK_TLS struct spio_task *g_task_current;
SPIO_TASK_TLS struct spio_task *g_task_reap;
#ifdef SPIO_TASK_ASAN
SPIO_TASK_TLS struct task_ctx *g_task_switch_from;
#endif

/* Last scheduler looked up on this OS thread; the id guards against address reuse. */
static SPIO_TASK_TLS struct {
	const struct spio_thread *thread;
	uint64_t id;
	struct task_sched *sched;
} tls_lookup;

static pthread_mutex_t g_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct task_sched *g_registry;

/*
 * Context switches
 */

/* Build a fresh context whose first switch-in calls fn(arg) on `stack_top`. */
static void *ctx_make(void *stack_top, void (*fn)(void *), void *arg)
{
	/* 16-byte aligned, with 16 bytes of zeros above as the outermost "frame". */
	uintptr_t s = ((uintptr_t)stack_top & ~(uintptr_t)15) - 16;

	memset((void *)s, 0, 16);
#if defined(__x86_64__)
	/* Frame popped by spio_task_ctx_swap: mxcsr, fpucw, r15, r14, r13, r12, rbx, rbp, rip. */
	uint64_t *f = (uint64_t *)(s - 64);
	uint32_t mxcsr;
	uint16_t fpucw;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fpucw));
	memset(f, 0, 64);
	memcpy(f, &mxcsr, sizeof(mxcsr));
	memcpy((char *)f + 4, &fpucw, sizeof(fpucw));
	f[3] = (uintptr_t)fn;		       /* r13 */
	f[4] = (uintptr_t)arg;		       /* r12 */
	f[7] = (uintptr_t)spio_task_ctx_entry; /* return address */
	return f;
#elif defined(__aarch64__)
	/* Frame restored by spio_task_ctx_swap: x19..x30, d8..d15, fpcr, pad. */
	uint64_t *f = (uint64_t *)(s - 176);
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	memset(f, 0, 176);
	f[0] = (uintptr_t)arg;			/* x19 */
	f[1] = (uintptr_t)fn;			/* x20 */
	f[11] = (uintptr_t)spio_task_ctx_entry; /* x30 */
	f[20] = fpcr;
	return f;
#endif
}

/* First code of every task, on its own stack. */
static void task_entry(void *arg)
{
	struct spio_task *task = arg;

	task_ctx_landed(NULL);
	task->result = task->fn(task->arg);
	task_finish(task);
}

/*
 * Ready queue and poller
 */

/* Keep the poller active exactly while tasks are queued, registered while any live. */
static void sched_poller_update(struct task_sched *sched)
{
	if (sched->poller == NULL || sched->poll_ctx != NULL) {
		return; /* a running poll updates it when it ends */
	}
	if (sched->live == 0) {
		spio_poller_unregister(&sched->poller);
		sched->poller_paused = false;
	} else if (sched->ready_head == NULL && !sched->poller_paused) {
		spio_poller_pause(sched->poller);
		sched->poller_paused = true;
	} else if (sched->ready_head != NULL && sched->poller_paused) {
		spio_poller_resume(sched->poller);
		sched->poller_paused = false;
	}
}

/* The scheduler's poller: resume queued tasks, at most SPIO_TASK_POLL_BUDGET. */
static int sched_poll(void *arg)
{
	struct task_sched *sched = arg;
	struct task_ctx main_ctx;
	struct spio_task *task;
	int ran = 0;

	/* A task that polls its own thread must not run tasks from inside itself. */
	if (g_task_current != NULL || sched->poll_ctx != NULL) {
		return SPIO_POLLER_IDLE;
	}
	task_main_ctx_init(&main_ctx);
	sched->poll_ctx = &main_ctx;
	sched->budget = SPIO_TASK_POLL_BUDGET;
	while (sched->budget > 0 && (task = task_ready_pop(sched)) != NULL) {
		sched->budget--;
		task->resumer = &main_ctx;
		task->state = TASK_RUNNING;
		g_task_current = task;
		task_ctx_switch(&main_ctx, &task->ctx, false);
		ran = 1;
	}
	sched->poll_ctx = NULL;
	sched_poller_update(sched);
	return ran ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
}

void task_finish(struct spio_task *task)
{
	task_on_return(task);
	task->state = TASK_FINISHED;
	g_task_reap = task;
	task_switch_out(task, true);
	__builtin_unreachable();
}

/* On the next context after `task` returned: release what a returned task no longer needs. */
void task_reap(struct spio_task *task)
{
	struct task_sched *sched = task->sched;

#ifdef SPIO_TASK_TSAN
	__tsan_destroy_fiber(task->ctx.tsan_fiber);
	task->ctx.tsan_fiber = NULL;
#endif
	task_stack_put(sched, &task->stack);
	task->stack.map = NULL;
	sched->live--;
	if (task->joinable) {
		sched->zombies++;
	} else {
		task_free(task);
	}
	sched_poller_update(sched);
}

/*
 * Descriptors
 */

struct spio_task *task_alloc(struct task_sched *sched)
{
	struct spio_task *task = sched->free_tasks;

	if (task == NULL) {
		struct task_chunk *chunk = calloc(1, sizeof(*chunk));

		if (chunk == NULL) {
			return NULL;
		}
		chunk->next = sched->chunks;
		sched->chunks = chunk;
		for (int i = TASK_CHUNK_SIZE - 1; i >= 0; i--) {
			chunk->tasks[i].sched = sched;
			chunk->tasks[i].next = sched->free_tasks;
			sched->free_tasks = &chunk->tasks[i];
		}
		task = sched->free_tasks;
	}
	sched->free_tasks = task->next;
	task->next = NULL;
	task->serial = ++sched->next_serial;
	return task;
}

void task_free(struct spio_task *task)
{
	struct task_sched *sched = task->sched;

	task->state = TASK_FREE;
	task->serial = 0;
	task->next = sched->free_tasks;
	sched->free_tasks = task;
}

int task_launch(struct task_sched *sched, struct spio_task *task)
{
	if (sched->poller == NULL) {
		sched->poller = spio_poller_register_named(sched_poll, sched, 0, "task_sched");
		if (sched->poller == NULL) {
			return -ENOMEM;
		}
		sched->poller_paused = false;
	}
	memset(&task->ctx, 0, sizeof(task->ctx));
	task->ctx.sp = ctx_make((char *)task->stack.map + task->stack.map_size, task_entry, task);
#ifdef SPIO_TASK_ASAN
	task->ctx.asan_bottom = (char *)task->stack.map + task_stack_page_size();
	task->ctx.asan_size = task->stack.map_size - task_stack_page_size();
#endif
#ifdef SPIO_TASK_TSAN
	task->ctx.tsan_fiber = __tsan_create_fiber(0);
	__tsan_set_fiber_name(task->ctx.tsan_fiber, task->name);
#endif
	sched->live++;
	task_ready(task);
	return 0;
}

/*
 * Registry
 */

static void sched_free(struct task_sched *sched)
{
	task_stack_cache_drain(sched);
	while (sched->chunks != NULL) {
		struct task_chunk *chunk = sched->chunks;

		sched->chunks = chunk->next;
		free(chunk);
	}
	free(sched);
}

/* Free schedulers of destroyed threads. Called with the registry lock held. */
static void registry_collect(void)
{
	struct task_sched **p = &g_registry;

	while (*p != NULL) {
		struct task_sched *sched = *p;

		if (spio_thread_get_by_id(sched->thread_id) != NULL) {
			p = &sched->next;
			continue;
		}
		if (sched->live != 0 || sched->zombies != 0) {
			/* Their stacks may still be referenced: leak them, but say so once. */
			if (!sched->leak_reported) {
				SPIO_ERRLOG("thread %" PRIu64 " was destroyed with %u live and %u "
					    "unjoined task(s); their memory is leaked",
					    sched->thread_id, sched->live, sched->zombies);
				sched->leak_reported = true;
			}
			p = &sched->next;
			continue;
		}
		*p = sched->next;
		sched_free(sched);
	}
}

struct task_sched *task_sched_get(bool create)
{
	struct spio_thread *thread;
	struct task_sched *sched;
	uint64_t id;

	if (g_task_current != NULL) {
		return g_task_current->sched;
	}
	thread = spio_get_thread();
	if (thread == NULL) {
		return NULL;
	}
	id = spio_thread_get_id(thread);
	if (tls_lookup.thread == thread && tls_lookup.id == id) {
		return tls_lookup.sched;
	}

	pthread_mutex_lock(&g_registry_lock);
	for (sched = g_registry; sched != NULL; sched = sched->next) {
		if (sched->thread_id == id) {
			break;
		}
	}
	if (sched == NULL && create) {
		registry_collect();
		sched = calloc(1, sizeof(*sched));
		if (sched != NULL) {
			sched->thread = thread;
			sched->thread_id = id;
			sched->next = g_registry;
			g_registry = sched;
		}
	}
	pthread_mutex_unlock(&g_registry_lock);

	if (sched != NULL) {
		tls_lookup.thread = thread;
		tls_lookup.id = id;
		tls_lookup.sched = sched;
	}
	return sched;
}
