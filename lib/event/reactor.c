/*
 * Reactors: one OS thread per core, each pinned, running its spio_threads
 * round-robin and an event ring; adaptive idle (sleep in epoll_wait); thread
 * placement (round-robin over the reactors of a thread's cpumask); moving
 * threads between reactors and the scheduler's rounds (see below, "Moving
 * threads").
 *
 * Sleeping uses the same Dekker handshake as spio_thread_sleep_begin: the
 * reactor stores `sleeping` (seq_cst) and then looks at its ring; a sender
 * enqueues (the ring's claim is a seq_cst CAS) and then loads `sleeping`
 * (seq_cst). Either the reactor sees the event or the sender sees the flag and
 * writes the reactor's eventfd; an awake reactor costs senders no syscall.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "event_internal.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/ring.h"
#include "spio/scheduler.h"
#include "spio/task.h"
#include "spio/util.h"

SPIO_LOG_REGISTER_COMPONENT(reactor)

#define EVENT_POOL_SIZE (64 * 1024 - 1)
#define EVENT_CACHE_SIZE 128
#define EVENT_RING_SIZE (64 * 1024) /* >= the pool: a ring never overflows */
#define EVENT_BATCH 32
#define EPOLL_BATCH 16
/* While shutting down, a sleeping reactor looks again at least this often. */
#define EXITING_SLEEP_MS 1
/*
 * A sleeping reactor whose threads have active pollers without an interrupt
 * fd runs them at least this often: nothing could wake the reactor for them
 * (e.g. the RPC server while a client is connected), so this bounds their
 * latency while idle.
 */
#define ACTIVE_POLLER_MAX_SLEEP_MS 5

enum reactors_state {
	REACTORS_NONE = 0, /* no app: nothing allocated */
	REACTORS_INIT,	   /* allocated, events accepted, loops not started */
	REACTORS_RUNNING,
	REACTORS_EXITING, /* threads are being exited; loops end when none is left */
	REACTORS_STOPPED, /* loops ended: events refused */
};

struct event {
	spio_event_fn fn;
	void *arg1;
	void *arg2;
};

TAILQ_HEAD(lw_thread_list, lw_thread);

struct reactor {
	/* Written by senders. */
	int sleeping __attribute__((aligned(SPIO_CACHE_LINE_SIZE)));
	struct reactor_event *embedded; /* lock-free stack, newest first */

	/* Set up once. */
	uint32_t core __attribute__((aligned(SPIO_CACHE_LINE_SIZE)));
	bool is_main;
	struct spio_ring *events;
	int evfd;
	int epfd;
	pthread_t pthread;
	bool pthread_started;
	int tid; /* Linux thread id, set when the loop starts */

	/* Statistics: written by the reactor, read by anyone (relaxed atomics). */
	uint64_t busy_tsc __attribute__((aligned(SPIO_CACHE_LINE_SIZE)));
	uint64_t idle_tsc;
	uint64_t sleep_tsc;
	uint64_t sleep_count;
	uint64_t event_count;
	uint32_t thread_count;

	/* Owned by the reactor's OS thread. */
	struct lw_thread_list threads;
	uint64_t last_busy_tsc;
	/* Written by the main reactor's scheduler round (relaxed): with no
	 * threads, sleep also in poll mode (SPDK's interrupt mode of a core the
	 * dynamic scheduler emptied). */
	bool sched_intr;
};

/*
 * One scheduler round at a time, run by the main reactor: an event hops over
 * the reactors in core order gathering into `cores`, then back on the main
 * reactor the scheduler balances and the moves are sent. Allocated with the
 * reactors, so a round cut short by shutdown leaks nothing.
 */
struct sched_round {
	bool in_progress;  /* main reactor only */
	uint64_t last_tsc; /* main reactor only: start of the last round */
	uint32_t idx;	   /* next reactor to gather (the hops are sequential) */
	struct spio_scheduler_core_info *cores; /* one per reactor, ascending core */
	uint32_t *caps;				/* allocated thread_infos per core */
	struct reactor_event ev;
};

static struct reactor *g_reactors;
static uint32_t g_reactor_count;
static struct reactor *g_reactor_by_core[SPIO_CPUSET_MAX_CORES];
static struct spio_mempool *g_event_pool;
static int g_state;	    /* enum reactors_state */
static int g_event_callers; /* spio_event_call()s in progress (teardown waits for 0) */
static uint32_t g_live_threads;
static enum spio_app_idle_mode g_idle_mode;
static uint64_t g_idle_threshold_ticks;
static int g_main_wake_fd = -1;
static uint32_t g_main_core = UINT32_MAX;

static pthread_mutex_t g_place_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t g_place_next; /* round-robin cursor over g_reactors */
static struct sched_round g_round;
static int g_round_requested; /* reactors_sched_request_round() */

static __thread struct reactor *tls_reactor __attribute__((tls_model("initial-exec")));

static struct spio_thread *lw_to_thread(struct lw_thread *lw)
{
	return spio_thread_get_from_ctx(lw);
}

static inline void stat_add(uint64_t *p, uint64_t d)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + d, __ATOMIC_RELAXED);
}

static inline int state_get(void)
{
	return __atomic_load_n(&g_state, __ATOMIC_SEQ_CST);
}

static struct reactor *reactor_get(uint32_t core)
{
	return core < SPIO_CPUSET_MAX_CORES ? g_reactor_by_core[core] : NULL;
}

static void reactor_kick(struct reactor *r)
{
	uint64_t one = 1;

	if (write(r->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
		SPIO_ERRLOG("reactor %u: eventfd write failed: %s\n", r->core, strerror(errno));
	}
}

/*
 * Events
 */

/*
 * Senders count themselves in g_event_callers so that reactors_fini() can
 * wait for those inside a call before it frees the rings and the pool. A
 * reactor's own OS thread, inside its loop, need not: reactors_fini() runs
 * only after every loop has returned (reactors_run() joins them), so it is
 * done by then. That spares the busiest senders two locked operations on a
 * line every core writes. Returns whether the caller must leave.
 */
static inline bool event_caller_enter(void)
{
	if (spio_likely(tls_reactor != NULL)) {
		return false;
	}
	__atomic_fetch_add(&g_event_callers, 1, __ATOMIC_SEQ_CST);
	return true;
}

static inline void event_caller_leave(bool counted)
{
	if (counted) {
		__atomic_fetch_sub(&g_event_callers, 1, __ATOMIC_RELEASE);
	}
}

int spio_event_call(uint32_t core, spio_event_fn fn, void *arg1, void *arg2)
{
	struct reactor *r;
	struct event *ev;
	int state, rc = 0;
	bool counted;

	if (spio_unlikely(fn == NULL)) {
		return -EINVAL;
	}
	/* Registered before looking at the state, so teardown can wait for us. */
	counted = event_caller_enter();
	state = state_get();
	if (spio_unlikely(state == REACTORS_NONE || state == REACTORS_STOPPED)) {
		rc = state == REACTORS_NONE ? -EINVAL : -ESHUTDOWN;
		goto out;
	}
	r = reactor_get(core);
	if (spio_unlikely(r == NULL)) {
		rc = -EINVAL;
		goto out;
	}
	ev = spio_mempool_get(g_event_pool);
	if (spio_unlikely(ev == NULL)) {
		rc = -ENOMEM;
		goto out;
	}
	ev->fn = fn;
	ev->arg1 = arg1;
	ev->arg2 = arg2;
	if (spio_unlikely(spio_ring_enqueue(r->events, ev) != 0)) {
		spio_mempool_put(g_event_pool, ev);
		rc = -ENOMEM;
		goto out;
	}
	/* Dekker with reactor_sleep(): the enqueue's claim is a seq_cst CAS. */
	if (spio_unlikely(__atomic_load_n(&r->sleeping, __ATOMIC_SEQ_CST))) {
		reactor_kick(r);
	}
out:
	event_caller_leave(counted);
	return rc;
}

int reactor_event_call_embedded(uint32_t core, struct reactor_event *ev, spio_event_fn fn,
				void *arg1, void *arg2)
{
	struct reactor_event *head;
	struct reactor *r;
	int state, rc = 0;
	bool counted;

	if (ev == NULL || fn == NULL) {
		return -EINVAL;
	}
	counted = event_caller_enter();
	state = state_get();
	if (state == REACTORS_NONE || state == REACTORS_STOPPED) {
		rc = state == REACTORS_NONE ? -EINVAL : -ESHUTDOWN;
		goto out;
	}
	r = reactor_get(core);
	if (r == NULL) {
		rc = -EINVAL;
		goto out;
	}
	ev->fn = fn;
	ev->arg1 = arg1;
	ev->arg2 = arg2;
	head = __atomic_load_n(&r->embedded, __ATOMIC_RELAXED);
	do {
		ev->next = head;
	} while (!__atomic_compare_exchange_n(&r->embedded, &head, ev, true, __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
	/* The same Dekker pairing with reactor_sleep() as spio_event_call(). */
	if (__atomic_load_n(&r->sleeping, __ATOMIC_SEQ_CST)) {
		reactor_kick(r);
	}
out:
	event_caller_leave(counted);
	return rc;
}

/* Run the embedded events queued so far, oldest first. */
static uint32_t reactor_process_embedded(struct reactor *r)
{
	struct reactor_event *ev, *next, *fifo = NULL;
	uint32_t n = 0;

	for (ev = __atomic_exchange_n(&r->embedded, NULL, __ATOMIC_ACQUIRE); ev != NULL;
	     ev = next) {
		next = ev->next;
		ev->next = fifo;
		fifo = ev;
	}
	for (ev = fifo; ev != NULL; ev = next, n++) {
		spio_event_fn fn = ev->fn;
		void *arg1 = ev->arg1, *arg2 = ev->arg2;

		next = ev->next; /* fn may reuse the storage */
		fn(arg1, arg2);
	}
	return n;
}

static uint32_t reactor_process_events(struct reactor *r)
{
	void *batch[EVENT_BATCH];
	size_t n;

	if (__atomic_load_n(&r->embedded, __ATOMIC_RELAXED) != NULL) {
		stat_add(&r->event_count, reactor_process_embedded(r));
	}
	n = spio_ring_dequeue_burst(r->events, batch, EVENT_BATCH);

	for (size_t i = 0; i < n; i++) {
		struct event *ev = batch[i];

		ev->fn(ev->arg1, ev->arg2);
	}
	if (n) {
		spio_mempool_put_bulk(g_event_pool, batch, n);
		stat_add(&r->event_count, n);
	}
	return (uint32_t)n;
}

struct event_await_ctx {
	spio_event_await_fn fn;
	void *arg;
	struct spio_completion c;
};

static void event_await_run(void *arg1, void *arg2)
{
	struct event_await_ctx *ctx = arg1;

	ctx->fn(ctx->arg, &ctx->c);
}

int spio_event_call_await(uint32_t core, spio_event_await_fn fn, void *arg)
{
	struct event_await_ctx ctx = {.fn = fn, .arg = arg};

	if (spio_task_current() == NULL) {
		return -EPERM;
	}
	if (fn == NULL) {
		return -EINVAL;
	}
	spio_completion_init(&ctx.c);
	return spio_await_started(&ctx.c, spio_event_call(core, event_await_run, &ctx, NULL));
}

struct reactor_iter {
	spio_event_fn fn;
	spio_event_fn cpl;
	void *arg1;
	void *arg2;
	uint32_t origin;
	uint32_t next;		 /* index in g_reactors */
	struct reactor_event ev; /* one hop in flight at a time */
};

static void reactor_iter_done(void *arg1, void *arg2)
{
	struct reactor_iter *it = arg1;

	it->cpl(it->arg1, it->arg2);
	free(it);
}

static void reactor_iter_step(void *arg1, void *arg2)
{
	struct reactor_iter *it = arg1;
	int rc;

	it->fn(it->arg1, it->arg2);
	it->next++;
	if (it->next < g_reactor_count) {
		rc = reactor_event_call_embedded(g_reactors[it->next].core, &it->ev,
						 reactor_iter_step, it, NULL);
	} else {
		rc = reactor_event_call_embedded(it->origin, &it->ev, reactor_iter_done, it, NULL);
	}
	if (rc != 0) {
		SPIO_ERRLOG("for_each_reactor: cannot reach the next reactor (%d); completion "
			    "lost\n",
			    rc);
		free(it);
	}
}

int spio_for_each_reactor(spio_event_fn fn, void *arg1, void *arg2, spio_event_fn cpl)
{
	struct reactor_iter *it;
	int rc;

	if (fn == NULL || cpl == NULL) {
		return -EINVAL;
	}
	if (state_get() == REACTORS_NONE) {
		return -EINVAL;
	}
	it = calloc(1, sizeof(*it));
	if (it == NULL) {
		return -ENOMEM;
	}
	*it = (struct reactor_iter){.fn = fn, .cpl = cpl, .arg1 = arg1, .arg2 = arg2};
	it->origin = tls_reactor ? tls_reactor->core : g_main_core;
	rc = spio_event_call(g_reactors[0].core, reactor_iter_step, it, NULL);
	if (rc != 0) {
		free(it);
	}
	return rc;
}

/*
 * Statistics and identity
 */

int spio_reactor_get_stats(uint32_t core, struct spio_reactor_stats *stats)
{
	struct reactor *r;
	int state = state_get();

	if (stats == NULL || state == REACTORS_NONE) {
		return -EINVAL;
	}
	r = reactor_get(core);
	if (r == NULL) {
		return -EINVAL;
	}
	stats->busy_tsc = __atomic_load_n(&r->busy_tsc, __ATOMIC_RELAXED);
	stats->idle_tsc = __atomic_load_n(&r->idle_tsc, __ATOMIC_RELAXED);
	stats->sleep_tsc = __atomic_load_n(&r->sleep_tsc, __ATOMIC_RELAXED);
	stats->sleep_count = __atomic_load_n(&r->sleep_count, __ATOMIC_RELAXED);
	stats->event_count = __atomic_load_n(&r->event_count, __ATOMIC_RELAXED);
	stats->thread_count = __atomic_load_n(&r->thread_count, __ATOMIC_RELAXED);
	stats->sleeping = __atomic_load_n(&r->sleeping, __ATOMIC_RELAXED) != 0;
	return 0;
}

uint32_t spio_reactor_get_current_core(void)
{
	return tls_reactor ? tls_reactor->core : UINT32_MAX;
}

bool spio_reactor_is_core(uint32_t core)
{
	int state = state_get();

	return state != REACTORS_NONE && reactor_get(core) != NULL;
}

void reactor_fmt_thread_cpumask(const struct spio_thread *t, char *buf, size_t len)
{
	struct spio_cpuset mask;

	spio_app_get_cpuset(&mask);
	spio_cpuset_and(&mask, spio_thread_get_cpumask(t));
	if (spio_cpuset_fmt_hex(&mask, buf, len) == 0 && strncmp(buf, "0x", 2) == 0) {
		memmove(buf, buf + 2, strlen(buf + 2) + 1);
	}
}

int reactor_describe_current(struct reactor_info *info, uint64_t now)
{
	struct reactor *r = tls_reactor;
	struct lw_thread *lw;
	uint32_t n = 0;

	if (r == NULL) {
		return -EINVAL;
	}
	memset(info, 0, sizeof(*info));
	info->lcore = r->core;
	info->tid = r->tid;
	info->in_interrupt =
	    g_idle_mode == SPIO_APP_IDLE_ADAPTIVE ||
	    (__atomic_load_n(&r->sched_intr, __ATOMIC_RELAXED) && TAILQ_EMPTY(&r->threads));
	spio_reactor_get_stats(r->core, &info->stats);
	TAILQ_FOREACH (lw, &r->threads, link) {
		n++;
	}
	info->threads = calloc(n ? n : 1, sizeof(*info->threads));
	if (info->threads == NULL) {
		return -ENOMEM;
	}
	TAILQ_FOREACH (lw, &r->threads, link) {
		struct reactor_thread_info *ti = &info->threads[info->thread_count++];
		struct spio_thread *t = lw_to_thread(lw);

		snprintf(ti->name, sizeof(ti->name), "%s", spio_thread_get_name(t));
		ti->id = spio_thread_get_id(t);
		reactor_fmt_thread_cpumask(t, ti->cpumask, sizeof(ti->cpumask));
		ti->elapsed_tsc = now > lw->tsc_start ? now - lw->tsc_start : 0;
	}
	return 0;
}

uint32_t reactors_count(void)
{
	return g_reactor_count;
}

uint32_t reactors_core_at(uint32_t i)
{
	return i < g_reactor_count ? g_reactors[i].core : UINT32_MAX;
}

/*
 * Threads on reactors
 */

size_t reactors_thread_ctx_size(void)
{
	return sizeof(struct lw_thread);
}

/* `lw` (a new thread, or one moving here) joins `r`, on r's OS thread. */
static void reactor_adopt(struct reactor *r, struct lw_thread *lw)
{
	struct spio_thread *t = lw_to_thread(lw);

	lw->reactor = r;
	if (lw->initial_lcore == UINT32_MAX) {
		lw->initial_lcore = r->core;
	}
	lw->intr_fd = -1;
	if (g_idle_mode == SPIO_APP_IDLE_ADAPTIVE) {
		int fd = spio_thread_get_interrupt_fd(t);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

		if (fd < 0) {
			SPIO_ERRLOG("thread %s: no interrupt fd (%d); reactor %u will not sleep\n",
				    spio_thread_get_name(t), fd, r->core);
		} else if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			SPIO_ERRLOG("thread %s: epoll_ctl failed: %s; reactor %u will not sleep\n",
				    spio_thread_get_name(t), strerror(errno), r->core);
		} else {
			lw->intr_fd = fd;
		}
	}
	TAILQ_INSERT_TAIL(&r->threads, lw, link);
	__atomic_fetch_add(&r->thread_count, 1, __ATOMIC_RELAXED);
	SPIO_DEBUGLOG(reactor, "thread %s joins reactor %u\n", spio_thread_get_name(t), r->core);
}

/* Event: `arg1` (a thread's lw_thread) joins this reactor. */
static void reactor_add_thread(void *arg1, void *arg2)
{
	reactor_adopt(tls_reactor, arg1);
}

static void reactor_remove_thread(struct reactor *r, struct lw_thread *lw)
{
	struct spio_thread *t = lw_to_thread(lw);

	TAILQ_REMOVE(&r->threads, lw, link);
	__atomic_fetch_sub(&r->thread_count, 1, __ATOMIC_RELAXED);
	if (lw->intr_fd >= 0) {
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, lw->intr_fd, NULL);
		lw->intr_fd = -1;
	}
	SPIO_DEBUGLOG(reactor, "thread %s leaves reactor %u\n", spio_thread_get_name(t), r->core);
	spio_thread_destroy(t);
	__atomic_fetch_sub(&g_live_threads, 1, __ATOMIC_SEQ_CST);
}

/*
 * RoundRobinCoreSelector: the next reactor, after the last one chosen, whose
 * core is in `mask`; NULL if none is.
 */
static struct reactor *reactor_pick(const struct spio_cpuset *mask)
{
	struct reactor *r = NULL;

	pthread_mutex_lock(&g_place_lock);
	for (uint32_t i = 0; i < g_reactor_count; i++) {
		uint32_t idx = (g_place_next + i) % g_reactor_count;

		if (spio_cpuset_get_cpu(mask, g_reactors[idx].core)) {
			r = &g_reactors[idx];
			g_place_next = idx + 1;
			break;
		}
	}
	pthread_mutex_unlock(&g_place_lock);
	return r;
}

int reactors_new_thread(struct spio_thread *thread)
{
	struct lw_thread *lw = spio_thread_get_ctx(thread);
	const struct spio_cpuset *mask = spio_thread_get_cpumask(thread);
	struct reactor *r = reactor_pick(mask);
	int state, rc;

	if (r == NULL) {
		char buf[SPIO_CPUSET_STR_MAX];

		spio_cpuset_fmt_hex(mask, buf, sizeof(buf));
		SPIO_ERRLOG("thread %s: cpumask %s holds no reactor core\n",
			    spio_thread_get_name(thread), buf);
		return -EINVAL;
	}

	memset(lw, 0, sizeof(*lw));
	lw->reactor = r;
	lw->tsc_start = spio_get_ticks();
	lw->intr_fd = -1;
	lw->initial_lcore = UINT32_MAX;
	lw->resched_core = UINT32_MAX;
	/* Counted before the state is checked (Dekker with reactors_stop() and
	 * the loops' exit test): either we see the stop and back out, or the
	 * reactors see this thread and wait for it. */
	__atomic_fetch_add(&g_live_threads, 1, __ATOMIC_SEQ_CST);
	state = state_get();
	if (state != REACTORS_INIT && state != REACTORS_RUNNING) {
		rc = -ESHUTDOWN;
	} else {
		rc =
		    reactor_event_call_embedded(r->core, &lw->add_ev, reactor_add_thread, lw, NULL);
	}
	if (rc != 0) {
		__atomic_fetch_sub(&g_live_threads, 1, __ATOMIC_SEQ_CST);
		return rc;
	}
	return 0;
}

/*
 * Moving threads
 *
 * A thread moves only between two of its polls, on the reactor running it:
 * after a poll in which it asked to (spio_thread_set_cpumask), or from an
 * event (a scheduler round's decision), since events never run inside a
 * poll. The source stops running it (takes it off its list and its thread's
 * interrupt fd off its epoll set), then hands the lw_thread to the
 * destination in its own embedded event; the destination adopts it (its
 * epoll set now watches the fd) and polls it from its next iteration. The
 * thread's message ring, pollers, channels and interrupt fds are the
 * thread's own and simply come along. Senders meanwhile see the thread
 * awake (sleep_end ran before the poll that ends on the source), so they
 * write no eventfd; the destination, woken by the hand-over event, finds
 * their messages on its first poll. A thread in transit is still counted in
 * g_live_threads, so no reactor stops while one is on its way.
 */

static bool lw_is_app_thread(struct lw_thread *lw)
{
	return lw_to_thread(lw) == spio_app_get_thread();
}

/* On r's OS thread, between polls of `lw`'s thread: act on lw->resched. */
static void reactor_migrate(struct reactor *r, struct lw_thread *lw)
{
	struct spio_thread *t = lw_to_thread(lw);
	const struct spio_cpuset *mask = spio_thread_get_cpumask(t);
	struct reactor *dst;
	int rc;

	lw->resched = false;
	if (lw->resched_core != UINT32_MAX) {
		dst = reactor_get(lw->resched_core);
	} else if (spio_cpuset_get_cpu(mask, r->core)) {
		dst = r; /* its new mask still holds this core: no need to move */
	} else {
		dst = reactor_pick(mask);
	}
	lw->resched_core = UINT32_MAX;
	if (dst == NULL || dst == r) {
		return;
	}
	TAILQ_REMOVE(&r->threads, lw, link);
	__atomic_fetch_sub(&r->thread_count, 1, __ATOMIC_RELAXED);
	if (lw->intr_fd >= 0) {
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, lw->intr_fd, NULL);
		lw->intr_fd = -1;
	}
	lw->tsc_start = spio_get_ticks(); /* "elapsed" counts on the new reactor, as SPDK's */
	SPIO_DEBUGLOG(reactor, "thread %s moves from reactor %u to %u\n", spio_thread_get_name(t),
		      r->core, dst->core);
	rc = reactor_event_call_embedded(dst->core, &lw->add_ev, reactor_add_thread, lw, NULL);
	if (rc != 0) {
		SPIO_ERRLOG("thread %s: cannot move to reactor %u (%s); it stays on %u\n",
			    spio_thread_get_name(t), dst->core, strerror(-rc), r->core);
		reactor_adopt(r, lw);
	}
}

/* Event on the source reactor: arg1 the thread id, arg2 the destination core. */
static void reactor_move_event(void *arg1, void *arg2)
{
	uint64_t id = (uint64_t)(uintptr_t)arg1;
	uint32_t dst = (uint32_t)(uintptr_t)arg2;
	struct reactor *r = tls_reactor;
	struct lw_thread *lw;

	if (state_get() != REACTORS_RUNNING) {
		return;
	}
	TAILQ_FOREACH (lw, &r->threads, link) {
		if (spio_thread_get_id(lw_to_thread(lw)) == id) {
			break;
		}
	}
	if (lw == NULL || lw_is_app_thread(lw) || lw->exit_requested) {
		SPIO_DEBUGLOG(reactor,
			      "move of thread %lu to %u: not on reactor %u or not movable\n",
			      (unsigned long)id, dst, r->core);
		return;
	}
	lw->resched = true;
	lw->resched_core = dst;
	reactor_migrate(r, lw);
}

int reactor_request_move(uint32_t src_core, uint64_t thread_id, uint32_t dst_core)
{
	if (reactor_get(dst_core) == NULL) {
		return -EINVAL;
	}
	return spio_event_call(src_core, reactor_move_event, (void *)(uintptr_t)thread_id,
			       (void *)(uintptr_t)dst_core);
}

int spio_thread_set_cpumask(const struct spio_cpuset *cpumask)
{
	struct spio_thread *t = spio_get_thread();
	struct reactor *r = tls_reactor;
	struct lw_thread *lw;
	bool any = false;

	if (cpumask == NULL || t == NULL || r == NULL || state_get() == REACTORS_NONE) {
		return -EINVAL;
	}
	lw = spio_thread_get_ctx(t);
	if (lw == NULL || lw->reactor != r) {
		return -EINVAL; /* not a thread these reactors run */
	}
	for (uint32_t i = 0; i < g_reactor_count && !any; i++) {
		any = spio_cpuset_get_cpu(cpumask, g_reactors[i].core);
	}
	if (!any) {
		return -EINVAL;
	}
	if (lw_is_app_thread(lw) && !spio_cpuset_get_cpu(cpumask, g_main_core)) {
		return -EPERM;
	}
	thread_set_cpumask(t, cpumask);
	if (!spio_cpuset_get_cpu(cpumask, r->core)) {
		/* Acted on by the reactor right after this poll. */
		lw->resched = true;
		lw->resched_core = UINT32_MAX;
	}
	return 0;
}

/* Event, on each reactor in turn: gather this reactor's part of the round. */
static void sched_gather(void *arg1, void *arg2);

/* Event on the main reactor: the round is gathered; balance and move. */
static void sched_balance(void *arg1, void *arg2)
{
	struct spio_scheduler_core_info *cores = g_round.cores;

	if (state_get() == REACTORS_RUNNING && scheduler_balance(cores, g_reactor_count)) {
		for (uint32_t i = 0; i < g_reactor_count; i++) {
			for (uint32_t j = 0; j < cores[i].threads_count; j++) {
				struct spio_scheduler_thread_info *ti = &cores[i].thread_infos[j];
				int rc;

				if (ti->lcore == cores[i].lcore || reactor_get(ti->lcore) == NULL) {
					continue;
				}
				rc = reactor_request_move(cores[i].lcore, ti->thread_id, ti->lcore);
				if (rc != 0) {
					SPIO_ERRLOG("scheduler: cannot move thread %lu to core %u: "
						    "%s\n",
						    (unsigned long)ti->thread_id, ti->lcore,
						    strerror(-rc));
				}
			}
			__atomic_store_n(&g_reactors[i].sched_intr, cores[i].interrupt_mode,
					 __ATOMIC_RELAXED);
		}
	}
	g_round.in_progress = false;
}

static void sched_gather(void *arg1, void *arg2)
{
	struct reactor *r = tls_reactor;
	struct spio_scheduler_core_info *ci = &g_round.cores[g_round.idx];
	uint64_t busy = __atomic_load_n(&r->busy_tsc, __ATOMIC_RELAXED);
	uint64_t idle = __atomic_load_n(&r->idle_tsc, __ATOMIC_RELAXED);
	struct lw_thread *lw;
	uint32_t n = 0;
	int rc;

	ci->lcore = r->core;
	ci->current_busy_tsc = busy - ci->total_busy_tsc;
	ci->current_idle_tsc = idle - ci->total_idle_tsc;
	ci->total_busy_tsc = busy;
	ci->total_idle_tsc = idle;
	ci->threads_count = 0;
	TAILQ_FOREACH (lw, &r->threads, link) {
		n++;
	}
	if (n > g_round.caps[g_round.idx]) {
		void *p = realloc(ci->thread_infos, n * sizeof(*ci->thread_infos));

		if (p == NULL) {
			SPIO_ERRLOG("scheduler: out of memory on reactor %u; its threads are "
				    "left out of this round\n",
				    r->core);
			n = 0;
		} else {
			ci->thread_infos = p;
			g_round.caps[g_round.idx] = n;
		}
	}
	TAILQ_FOREACH (lw, &r->threads, link) {
		struct spio_scheduler_thread_info *ti;
		struct spio_thread *t = lw_to_thread(lw);
		struct spio_thread_stats st;

		if (ci->threads_count == n) {
			break;
		}
		ti = &ci->thread_infos[ci->threads_count++];
		spio_thread_get_stats(t, &st);
		ti->thread_id = spio_thread_get_id(t);
		ti->lcore = r->core;
		ti->initial_lcore = lw->initial_lcore;
		ti->total_stats = st;
		ti->current_stats.busy_tsc = st.busy_tsc - lw->sched_prev.busy_tsc;
		ti->current_stats.idle_tsc = st.idle_tsc - lw->sched_prev.idle_tsc;
		lw->sched_prev = st;
		spio_cpuset_copy(&ti->cpumask, spio_thread_get_cpumask(t));
	}
	g_round.idx++;
	if (state_get() != REACTORS_RUNNING) {
		/* Stopping: no balance would run; do not send hops the stopping
		 * reactors may drop. No round starts again in this app. */
		return;
	}
	if (g_round.idx < g_reactor_count) {
		rc = reactor_event_call_embedded(g_reactors[g_round.idx].core, &g_round.ev,
						 sched_gather, NULL, NULL);
	} else {
		rc = reactor_event_call_embedded(g_main_core, &g_round.ev, sched_balance, NULL,
						 NULL);
	}
	if (rc != 0) {
		SPIO_DEBUGLOG(reactor, "scheduler round cut short: %d\n", rc);
	}
}

/* On the main reactor, every iteration: start a round when one is due. */
static void reactor_sched_check(uint64_t now)
{
	uint64_t period = scheduler_period_ticks();
	bool asked = __atomic_load_n(&g_round_requested, __ATOMIC_RELAXED) != 0;

	if (spio_likely(period == 0 && !asked) || g_round.in_progress ||
	    (!asked && now - g_round.last_tsc < period) || state_get() != REACTORS_RUNNING) {
		return;
	}
	__atomic_store_n(&g_round_requested, 0, __ATOMIC_RELAXED);
	g_round.in_progress = true;
	g_round.last_tsc = now;
	g_round.idx = 0;
	if (reactor_event_call_embedded(g_reactors[0].core, &g_round.ev, sched_gather, NULL,
					NULL) != 0) {
		g_round.in_progress = false;
	}
}

/* When the main reactor must wake for the next round (0: no round due). */
static uint64_t reactor_sched_deadline(void)
{
	uint64_t period = scheduler_period_ticks();

	if (g_round.in_progress) {
		return 0;
	}
	if (__atomic_load_n(&g_round_requested, __ATOMIC_RELAXED)) {
		return g_round.last_tsc; /* due already */
	}
	return period == 0 ? 0 : g_round.last_tsc + period;
}

void reactors_sched_period_changed(void)
{
	struct reactor *m;

	if (state_get() == REACTORS_NONE || (m = reactor_get(g_main_core)) == NULL) {
		return;
	}
	/* It may be asleep with a timeout computed from the old period. */
	if (tls_reactor != m) {
		reactor_kick(m);
	}
}

void reactors_sched_request_round(void)
{
	__atomic_store_n(&g_round_requested, 1, __ATOMIC_RELAXED);
	reactors_sched_period_changed();
}

uint32_t reactors_main_core(void)
{
	return g_main_core;
}

/*
 * The loop
 */

static void reactor_exit_threads(struct reactor *r)
{
	struct lw_thread *lw;

	TAILQ_FOREACH (lw, &r->threads, link) {
		if (!lw->exit_requested) {
			struct spio_thread *t = lw_to_thread(lw);
			struct spio_thread *prev = spio_thread_enter(t);

			spio_thread_exit(t);
			spio_thread_leave(prev);
			lw->exit_requested = true;
		}
	}
}

/*
 * Sleep until an event, a message, a due timed poller or (main reactor) a
 * signal. Called when every thread has been idle for the threshold. A thread
 * without an interrupt fd, or with messages already pending, keeps the
 * reactor awake.
 */
static void reactor_sleep(struct reactor *r, bool exiting)
{
	struct epoll_event evs[EPOLL_BATCH];
	struct lw_thread *lw, *end_at = NULL; /* threads before end_at got sleep_begin */
	uint64_t next = 0, start, end;
	bool can_sleep = true, active_pollers = false;
	int timeout = -1, n = 0;

	TAILQ_FOREACH (lw, &r->threads, link) {
		struct spio_thread *t = lw_to_thread(lw);
		uint64_t exp;

		if (lw->intr_fd < 0) {
			can_sleep = false;
			end_at = lw;
			break;
		}
		if (!spio_thread_sleep_begin(t)) {
			can_sleep = false;
			end_at = TAILQ_NEXT(lw, link); /* sleep_end is due either way */
			break;
		}
		exp = spio_thread_next_poller_expiration(t);
		if (exp != 0 && (next == 0 || exp < next)) {
			next = exp;
		}
		active_pollers |= spio_thread_has_active_pollers_without_interrupt(t);
	}
	if (r->is_main) {
		uint64_t due = reactor_sched_deadline();

		if (due != 0 && (next == 0 || due < next)) {
			next = due;
		}
	}

	if (can_sleep) {
		__atomic_store_n(&r->sleeping, 1, __ATOMIC_SEQ_CST);
		if (spio_ring_count(r->events) == 0 &&
		    __atomic_load_n(&r->embedded, __ATOMIC_SEQ_CST) == NULL) {
			start = spio_get_ticks();
			if (next != 0) {
				/* A backstop: each thread's timerfd is armed for its next poller.
				 */
				uint64_t us = next > start ? spio_ticks_to_us(next - start) : 0;

				timeout = (int)SPIO_MIN((us + 999) / 1000, (uint64_t)INT32_MAX);
			}
			if (active_pollers &&
			    (timeout < 0 || timeout > ACTIVE_POLLER_MAX_SLEEP_MS)) {
				timeout = ACTIVE_POLLER_MAX_SLEEP_MS;
			}
			if (exiting && (timeout < 0 || timeout > EXITING_SLEEP_MS)) {
				timeout = EXITING_SLEEP_MS;
			}
			stat_add(&r->sleep_count, 1);
			n = epoll_wait(r->epfd, evs, EPOLL_BATCH, timeout);
			end = spio_get_ticks();
			stat_add(&r->sleep_tsc, end - start);
			stat_add(&r->idle_tsc, end - start);
		}
		__atomic_store_n(&r->sleeping, 0, __ATOMIC_RELAXED);
	}

	for (int i = 0; i < n; i++) {
		uint64_t v;

		if (evs[i].data.ptr == NULL) {
			continue; /* a thread's fd: its sleep_end drains it */
		}
		/* The reactor's eventfd or the main reactor's signal fd. */
		while (read(*(int *)evs[i].data.ptr, &v, sizeof(v)) > 0) {
		}
	}
	TAILQ_FOREACH (lw, &r->threads, link) {
		if (lw == end_at) {
			break;
		}
		spio_thread_sleep_end(lw_to_thread(lw));
	}
}

static void reactor_run(struct reactor *r)
{
	tls_reactor = r;
	r->tid = (int)gettid();
	r->last_busy_tsc = spio_get_ticks();
	if (r->is_main) {
		g_round.last_tsc = r->last_busy_tsc;
	}

	for (;;) {
		uint64_t start = spio_get_ticks(), end;
		bool busy = reactor_process_events(r) > 0;
		struct lw_thread *lw = TAILQ_FIRST(&r->threads), *next;
		int state;

		while (lw != NULL) {
			struct spio_thread *t = lw_to_thread(lw);

			next = TAILQ_NEXT(lw, link);
			if (spio_thread_poll(t, 0, 0) == SPIO_POLLER_BUSY) {
				busy = true;
			}
			if (spio_unlikely(spio_thread_is_exited(t))) {
				reactor_remove_thread(r, lw);
			} else if (spio_unlikely(lw->resched)) {
				reactor_migrate(r, lw);
			}
			lw = next;
		}
		end = spio_get_ticks();
		if (r->is_main) {
			app_check_signals();
			reactor_sched_check(end);
		}
		if (busy) {
			stat_add(&r->busy_tsc, end - start);
			r->last_busy_tsc = end;
		} else {
			stat_add(&r->idle_tsc, end - start);
		}

		state = state_get();
		if (spio_unlikely(state == REACTORS_EXITING)) {
			reactor_exit_threads(r);
			if (TAILQ_EMPTY(&r->threads) &&
			    __atomic_load_n(&g_live_threads, __ATOMIC_SEQ_CST) == 0) {
				break;
			}
		}
		if (!busy && end - r->last_busy_tsc >= g_idle_threshold_ticks &&
		    (g_idle_mode == SPIO_APP_IDLE_ADAPTIVE ||
		     (__atomic_load_n(&r->sched_intr, __ATOMIC_RELAXED) &&
		      TAILQ_EMPTY(&r->threads)))) {
			reactor_sleep(r, state == REACTORS_EXITING);
		}
	}
	tls_reactor = NULL;
}

static void *reactor_thread_main(void *arg)
{
	struct reactor *r = arg;
	char name[16];
	int rc;

	snprintf(name, sizeof(name), "reactor_%u", r->core);
	pthread_setname_np(pthread_self(), name);
	rc = spio_env_thread_set_affinity(r->core);
	if (rc != 0) {
		SPIO_ERRLOG("reactor %u: cannot pin to its core: %s\n", r->core, strerror(-rc));
	}
	reactor_run(r);
	return NULL;
}

/*
 * Set-up and teardown
 */

static int reactor_setup(struct reactor *r, uint32_t core)
{
	struct epoll_event ev = {.events = EPOLLIN};

	r->core = core;
	r->evfd = -1;
	r->epfd = -1;
	TAILQ_INIT(&r->threads);
	r->events = spio_ring_create(EVENT_RING_SIZE, SPIO_RING_MP);
	if (r->events == NULL) {
		return -ENOMEM;
	}
	r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->evfd < 0 || r->epfd < 0) {
		return -errno;
	}
	ev.data.ptr = &r->evfd;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) != 0) {
		return -errno;
	}
	return 0;
}

static void reactor_teardown(struct reactor *r)
{
	void *ev;
	unsigned dropped = 0;

	if (r->events) {
		while ((ev = spio_ring_dequeue(r->events)) != NULL) {
			spio_mempool_put(g_event_pool, ev);
			dropped++;
		}
		/* embedded ones belong to their senders: just forget them */
		for (struct reactor_event *e = r->embedded; e != NULL; e = e->next) {
			dropped++;
		}
		r->embedded = NULL;
		if (dropped) {
			SPIO_WARNLOG("reactor %u: %u events sent after it stopped were dropped\n",
				     r->core, dropped);
		}
		spio_ring_free(r->events);
		r->events = NULL;
	}
	if (r->evfd >= 0) {
		close(r->evfd);
	}
	if (r->epfd >= 0) {
		close(r->epfd);
	}
	r->evfd = r->epfd = -1;
}

int reactors_init(const struct reactors_opts *opts)
{
	uint32_t n = spio_cpuset_count(opts->cores), i = 0;
	int core, rc;

	if (n == 0 || !spio_cpuset_get_cpu(opts->cores, opts->main_core)) {
		return -EINVAL;
	}
	g_event_pool = spio_mempool_create("events", EVENT_POOL_SIZE, sizeof(struct event),
					   EVENT_CACHE_SIZE, SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL);
	if (g_event_pool == NULL) {
		return -ENOMEM;
	}
	g_reactors = aligned_alloc(SPIO_CACHE_LINE_SIZE,
				   spio_align_up(n * sizeof(*g_reactors), SPIO_CACHE_LINE_SIZE));
	if (g_reactors == NULL) {
		spio_mempool_free(g_event_pool);
		g_event_pool = NULL;
		return -ENOMEM;
	}
	memset(g_reactors, 0, n * sizeof(*g_reactors));
	g_reactor_count = n;
	SPIO_CPUSET_FOREACH (core, opts->cores) {
		struct reactor *r = &g_reactors[i++];

		rc = reactor_setup(r, (uint32_t)core);
		if (rc != 0) {
			SPIO_ERRLOG("reactor %d: set-up failed: %s\n", core, strerror(-rc));
			reactors_fini();
			return rc;
		}
		r->is_main = (uint32_t)core == opts->main_core;
		g_reactor_by_core[core] = r;
	}
	g_main_core = opts->main_core;
	g_idle_mode = opts->idle_mode;
	g_idle_threshold_ticks = spio_us_to_ticks(opts->idle_threshold_us);
	g_main_wake_fd = opts->main_wake_fd;
	if (g_main_wake_fd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &g_main_wake_fd};
		struct reactor *m = reactor_get(g_main_core);

		if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, g_main_wake_fd, &ev) != 0) {
			rc = -errno;
			reactors_fini();
			return rc;
		}
	}
	g_round = (struct sched_round){0};
	__atomic_store_n(&g_round_requested, 0, __ATOMIC_RELAXED);
	g_round.cores = calloc(n, sizeof(*g_round.cores));
	g_round.caps = calloc(n, sizeof(*g_round.caps));
	if (g_round.cores == NULL || g_round.caps == NULL) {
		reactors_fini();
		return -ENOMEM;
	}
	g_place_next = 0;
	__atomic_store_n(&g_live_threads, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&g_state, REACTORS_INIT, __ATOMIC_SEQ_CST);
	return 0;
}

int reactors_run(void)
{
	struct reactor *main_r = reactor_get(g_main_core);
	int rc = 0;

	int expected = REACTORS_INIT;

	/* Not if a stop came first: then the loops only wind down. */
	__atomic_compare_exchange_n(&g_state, &expected, REACTORS_RUNNING, false, __ATOMIC_SEQ_CST,
				    __ATOMIC_SEQ_CST);
	for (uint32_t i = 0; i < g_reactor_count; i++) {
		struct reactor *r = &g_reactors[i];

		if (r == main_r) {
			continue;
		}
		rc = -pthread_create(&r->pthread, NULL, reactor_thread_main, r);
		if (rc != 0) {
			SPIO_ERRLOG("reactor %u: cannot start its thread: %s\n", r->core,
				    strerror(-rc));
			/* Let whatever started wind down; the app reports the error. */
			spio_app_stop(rc);
			break;
		}
		r->pthread_started = true;
	}
	reactor_run(main_r);
	for (uint32_t i = 0; i < g_reactor_count; i++) {
		if (g_reactors[i].pthread_started) {
			pthread_join(g_reactors[i].pthread, NULL);
			g_reactors[i].pthread_started = false;
		}
	}
	return rc;
}

void reactors_stop(void)
{
	if (state_get() == REACTORS_NONE) {
		return;
	}
	__atomic_store_n(&g_state, REACTORS_EXITING, __ATOMIC_SEQ_CST);
	for (uint32_t i = 0; i < g_reactor_count; i++) {
		reactor_kick(&g_reactors[i]);
	}
}

void reactors_fini(void)
{
	if (g_reactors == NULL) {
		return;
	}
	/* Refuse new events, then wait for senders already inside spio_event_call
	 * (the reactors' own threads are done: see event_caller_enter()). */
	__atomic_store_n(&g_state, REACTORS_STOPPED, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&g_event_callers, __ATOMIC_SEQ_CST) != 0) {
		sched_yield();
	}
	for (uint32_t i = 0; i < g_reactor_count; i++) {
		struct reactor *r = &g_reactors[i];

		reactor_teardown(r);
		g_reactor_by_core[r->core] = NULL;
	}
	free(g_reactors);
	g_reactors = NULL;
	if (g_round.cores != NULL) {
		for (uint32_t i = 0; i < g_reactor_count; i++) {
			free(g_round.cores[i].thread_infos);
		}
	}
	free(g_round.cores);
	free(g_round.caps);
	g_round = (struct sched_round){0};
	g_reactor_count = 0;
	spio_mempool_free(g_event_pool);
	g_event_pool = NULL;
	g_main_wake_fd = -1;
	g_main_core = UINT32_MAX;
	__atomic_store_n(&g_state, REACTORS_NONE, __ATOMIC_SEQ_CST);
}
