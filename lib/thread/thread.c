/*
 * Threads: lifecycle, the current-thread pointer, messages, the poll loop,
 * statistics and graceful exit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/env.h"
#include "spio/log.h"
#include "spio/util.h"
#include "thread_internal.h"

SPIO_LOG_REGISTER_COMPONENT(thread)

#define MSG_POOL_SIZE (256 * 1024 - 1)
#define MSG_CACHE_SIZE 256
#define MSG_BATCH_DEFAULT 32
/* Per-thread backlog; a sender that finds it full gets -ENOMEM (retry). */
#define MSG_RING_SIZE (32 * 1024)
#define EXIT_TIMEOUT_US_DEFAULT (5ULL * 1000 * 1000)

pthread_mutex_t g_threads_lock = PTHREAD_MUTEX_INITIALIZER;
struct thread_list g_threads = TAILQ_HEAD_INITIALIZER(g_threads);

static bool g_initialized;
static spio_new_thread_fn g_new_thread_fn;
static size_t g_ctx_size;
static struct spio_mempool *g_msg_pool;
static uint64_t g_next_id = 1;
static uint32_t g_thread_count;
static uint64_t g_exit_timeout_us = EXIT_TIMEOUT_US_DEFAULT;

/* initial-exec: a single %fs-relative load on every poll and message. */
static __thread struct spio_thread *tls_thread __attribute__((tls_model("initial-exec")));

bool thread_lib_initialized(void)
{
	return __atomic_load_n(&g_initialized, __ATOMIC_ACQUIRE);
}

int spio_thread_lib_init(spio_new_thread_fn new_thread_fn, size_t ctx_size)
{
	if (g_initialized) {
		return -EALREADY;
	}
	if (ctx_size > (1u << 20)) {
		return -EINVAL;
	}
	g_msg_pool = spio_mempool_create("thread_msgs", MSG_POOL_SIZE, sizeof(struct thread_msg),
					 MSG_CACHE_SIZE, SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL);
	if (g_msg_pool == NULL) {
		return -ENOMEM;
	}
	g_new_thread_fn = new_thread_fn;
	g_ctx_size = ctx_size;
	__atomic_store_n(&g_initialized, true, __ATOMIC_RELEASE);
	return 0;
}

void spio_thread_lib_fini(void)
{
	if (!g_initialized) {
		return;
	}
	pthread_mutex_lock(&g_threads_lock);
	struct spio_thread *t;
	TAILQ_FOREACH (t, &g_threads, link) {
		SPIO_ERRLOG("thread %s (id %lu) was not destroyed before spio_thread_lib_fini\n",
			    t->name, (unsigned long)t->id);
	}
	pthread_mutex_unlock(&g_threads_lock);
	work_pool_stop();
	io_device_report_leftovers();
	wake_slots_free_all();
	spio_mempool_free(g_msg_pool);
	g_msg_pool = NULL;
	g_new_thread_fn = NULL;
	__atomic_store_n(&g_initialized, false, __ATOMIC_RELEASE);
}

void spio_thread_lib_set_exit_timeout_us(uint64_t timeout_us)
{
	__atomic_store_n(&g_exit_timeout_us, timeout_us, __ATOMIC_RELAXED);
}

struct spio_thread *spio_thread_create(const char *name, const struct spio_cpuset *cpumask)
{
	struct spio_thread *t;
	size_t size = sizeof(*t) + spio_align_up(g_ctx_size, SPIO_CACHE_LINE_SIZE);

	if (!thread_lib_initialized()) {
		errno = EINVAL;
		return NULL;
	}
	if (cpumask && spio_cpuset_count(cpumask) == 0) {
		errno = EINVAL;
		return NULL;
	}
	t = aligned_alloc(SPIO_CACHE_LINE_SIZE, spio_align_up(size, SPIO_CACHE_LINE_SIZE));
	if (t == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	memset(t, 0, size);
	t->msgs = spio_ring_create(MSG_RING_SIZE, SPIO_RING_MP);
	t->wake = wake_slot_get();
	if (t->msgs == NULL || t->wake == NULL) {
		spio_ring_free(t->msgs);
		wake_slot_put(t->wake);
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	TAILQ_INIT(&t->active_pollers);
	TAILQ_INIT(&t->paused_pollers);
	TAILQ_INIT(&t->channels);
	t->state = THREAD_RUNNING;
	t->id = __atomic_fetch_add(&g_next_id, 1, __ATOMIC_RELAXED);
	if (name) {
		snprintf(t->name, sizeof(t->name), "%s", name);
	} else {
		snprintf(t->name, sizeof(t->name), "thread%lu", (unsigned long)t->id);
	}
	if (cpumask) {
		spio_cpuset_copy(&t->cpumask, cpumask);
	} else {
		spio_cpuset_zero(&t->cpumask);
		spio_cpuset_negate(&t->cpumask);
	}
	t->last_tsc = spio_get_ticks();

	pthread_mutex_lock(&g_threads_lock);
	TAILQ_INSERT_TAIL(&g_threads, t, link);
	g_thread_count++;
	pthread_mutex_unlock(&g_threads_lock);

	if (g_new_thread_fn) {
		int rc = g_new_thread_fn(t);
		if (rc != 0) {
			t->state = THREAD_EXITED;
			spio_thread_destroy(t);
			errno = rc < 0 ? -rc : rc;
			return NULL;
		}
	}
	SPIO_DEBUGLOG(thread, "created thread %s (id %lu)\n", t->name, (unsigned long)t->id);
	return t;
}

int spio_thread_exit(struct spio_thread *thread)
{
	if (thread == NULL) {
		return -EINVAL;
	}
	int expected = THREAD_RUNNING;
	if (__atomic_compare_exchange_n(&thread->state, &expected, THREAD_EXITING, false,
					__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		thread->exit_start_tsc = spio_get_ticks();
		SPIO_DEBUGLOG(thread, "thread %s exiting\n", thread->name);
	}
	return 0;
}

bool spio_thread_is_exited(struct spio_thread *thread)
{
	return thread && __atomic_load_n(&thread->state, __ATOMIC_ACQUIRE) == THREAD_EXITED;
}

bool spio_thread_is_running(struct spio_thread *thread)
{
	return thread && __atomic_load_n(&thread->state, __ATOMIC_ACQUIRE) == THREAD_RUNNING;
}

static void drop_pending_msgs(struct spio_thread *t)
{
	void *m;
	unsigned dropped = 0;

	while ((m = spio_ring_dequeue(t->msgs)) != NULL) {
		spio_mempool_put(g_msg_pool, m);
		dropped++;
	}
	/* Embedded messages belong to their senders: just forget them. */
	for (struct spio_msg *e = __atomic_exchange_n(&t->embedded, NULL, __ATOMIC_ACQUIRE);
	     e != NULL; e = e->next_) {
		dropped++;
	}
	for (struct spio_msg *e = t->local_head; e != NULL; e = e->next_) {
		dropped++;
	}
	t->local_head = t->local_tail = NULL;
	if (dropped) {
		SPIO_WARNLOG("thread %s destroyed with %u unprocessed messages\n", t->name,
			     dropped);
	}
}

void spio_thread_destroy(struct spio_thread *thread)
{
	if (thread == NULL) {
		return;
	}
	if (!spio_thread_is_exited(thread)) {
		SPIO_ERRLOG("thread %s destroyed before it exited; forcing exit\n", thread->name);
		__atomic_store_n(&thread->state, THREAD_EXITED, __ATOMIC_RELEASE);
	}
	if (tls_thread == thread) {
		tls_thread = NULL;
	}
	pthread_mutex_lock(&g_threads_lock);
	TAILQ_REMOVE(&g_threads, thread, link);
	g_thread_count--;
	pthread_mutex_unlock(&g_threads_lock);

	drop_pending_msgs(thread);
	poller_free_all(thread);
	io_channel_free_all(thread);
	interrupt_free(thread);
	free(thread->timers);
	spio_ring_free(thread->msgs);
	wake_slot_put(thread->wake);
	SPIO_DEBUGLOG(thread, "destroyed thread %s\n", thread->name);
	free(thread);
}

struct spio_thread *spio_get_thread(void)
{
	return tls_thread;
}

void spio_set_thread(struct spio_thread *thread)
{
	tls_thread = thread;
}

struct spio_thread *spio_thread_enter(struct spio_thread *thread)
{
	struct spio_thread *prev = tls_thread;

	tls_thread = thread;
	return prev;
}

void spio_thread_leave(struct spio_thread *prev)
{
	tls_thread = prev;
}

void *spio_thread_get_ctx(struct spio_thread *thread)
{
	return thread && g_ctx_size ? thread->ctx : NULL;
}

struct spio_thread *spio_thread_get_from_ctx(void *ctx)
{
	return ctx ? SPIO_CONTAINEROF(ctx, struct spio_thread, ctx) : NULL;
}

const struct spio_cpuset *spio_thread_get_cpumask(const struct spio_thread *thread)
{
	return thread ? &thread->cpumask : NULL;
}

/*
 * The event layer's scheduler changes a thread's cpumask (spio_thread_set_cpumask
 * in spio/scheduler.h; declared in lib/event/event_internal.h). Under the list
 * lock, so a reader holding it sees a whole mask.
 */
void thread_set_cpumask(struct spio_thread *thread, const struct spio_cpuset *cpumask);
void thread_set_cpumask(struct spio_thread *thread, const struct spio_cpuset *cpumask)
{
	pthread_mutex_lock(&g_threads_lock);
	spio_cpuset_copy(&thread->cpumask, cpumask);
	pthread_mutex_unlock(&g_threads_lock);
}

/* The cpumask of thread `id` (0), or -ENOENT; declared next to thread_set_cpumask. */
int thread_get_cpumask_by_id(uint64_t id, struct spio_cpuset *out);
int thread_get_cpumask_by_id(uint64_t id, struct spio_cpuset *out)
{
	struct spio_thread *t;
	int rc = -ENOENT;

	pthread_mutex_lock(&g_threads_lock);
	TAILQ_FOREACH (t, &g_threads, link) {
		if (t->id == id) {
			spio_cpuset_copy(out, &t->cpumask);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g_threads_lock);
	return rc;
}

uint64_t spio_thread_get_id(const struct spio_thread *thread)
{
	return thread ? thread->id : 0;
}

const char *spio_thread_get_name(const struct spio_thread *thread)
{
	return thread ? thread->name : NULL;
}

struct spio_thread *spio_thread_get_by_id(uint64_t id)
{
	struct spio_thread *t, *found = NULL;

	pthread_mutex_lock(&g_threads_lock);
	TAILQ_FOREACH (t, &g_threads, link) {
		if (t->id == id) {
			found = t;
			break;
		}
	}
	pthread_mutex_unlock(&g_threads_lock);
	return found;
}

uint32_t spio_thread_get_count(void)
{
	uint32_t n;

	pthread_mutex_lock(&g_threads_lock);
	n = g_thread_count;
	pthread_mutex_unlock(&g_threads_lock);
	return n;
}

int spio_thread_send_msg(const struct spio_thread *thread, spio_msg_fn fn, void *ctx)
{
	struct spio_thread *t = (struct spio_thread *)thread;
	struct thread_wake *wake;
	struct thread_msg *m;

	if (spio_unlikely(t == NULL || fn == NULL)) {
		return -EINVAL;
	}
	/* Taken now: once the message is visible `t` may be destroyed. */
	wake = t->wake;
	if (spio_unlikely(__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == THREAD_EXITED)) {
		return -EIO;
	}
	m = spio_mempool_get(g_msg_pool);
	if (spio_unlikely(m == NULL)) {
		return -ENOMEM;
	}
	m->fn = fn;
	m->ctx = ctx;
	if (spio_unlikely(spio_ring_enqueue(t->msgs, m) != 0)) {
		spio_mempool_put(g_msg_pool, m);
		return -ENOMEM;
	}

	/* Dekker with sleep_begin, all accesses sequentially consistent (the
	 * ring's position CAS and this load; its store and its load of the ring
	 * position):
	 * either we see `sleeping` or the sleeper sees our message. Costs no
	 * syscall while the thread is awake. */
	if (spio_unlikely(__atomic_load_n(&wake->sleeping, __ATOMIC_SEQ_CST))) {
		wake_slot_signal(wake);
	}
	return 0;
}

int spio_thread_send_msg_embedded(const struct spio_thread *thread, struct spio_msg *msg,
				  spio_msg_fn fn, void *ctx)
{
	struct spio_thread *t = (struct spio_thread *)thread;
	struct thread_wake *wake;
	struct spio_msg *head;

	if (spio_unlikely(t == NULL || msg == NULL || fn == NULL)) {
		return -EINVAL;
	}
	wake = t->wake;
	if (spio_unlikely(__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == THREAD_EXITED)) {
		return -EIO;
	}
	msg->fn = fn;
	msg->ctx = ctx;
	if (t == tls_thread) {
		/* To itself (an I/O completed inside its submit call): the owner's
		 * FIFO, no locked instruction and no wake-up, the thread is awake. */
		msg->next_ = NULL;
		if (t->local_tail != NULL) {
			t->local_tail->next_ = msg;
		} else {
			t->local_head = msg;
		}
		t->local_tail = msg;
		return 0;
	}
	head = __atomic_load_n(&t->embedded, __ATOMIC_RELAXED);
	do {
		msg->next_ = head;
	} while (!__atomic_compare_exchange_n(&t->embedded, &head, msg, true, __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
	/* The same Dekker pairing as spio_thread_send_msg(). */
	if (spio_unlikely(__atomic_load_n(&wake->sleeping, __ATOMIC_SEQ_CST))) {
		wake_slot_signal(wake);
	}
	return 0;
}

bool thread_has_msgs(struct spio_thread *t)
{
	return spio_ring_count(t->msgs) != 0 || t->local_head != NULL ||
	       __atomic_load_n(&t->embedded, __ATOMIC_SEQ_CST) != NULL;
}

/* Run a list of embedded messages, oldest first; returns how many ran. */
static uint32_t run_msg_list(struct spio_msg *m)
{
	struct spio_msg *next;
	uint32_t n = 0;

	for (; m != NULL; m = next, n++) {
		/* fn may send `m` again or free it: read everything first. */
		spio_msg_fn fn = m->fn;
		void *ctx = m->ctx;

		next = m->next_;
		fn(ctx);
	}
	return n;
}

/* Run the messages the thread sent itself so far (not those they send). */
static uint32_t process_local_msgs(struct spio_thread *t)
{
	struct spio_msg *m = t->local_head;

	t->local_head = t->local_tail = NULL;
	return run_msg_list(m);
}

/* Run every embedded message queued so far, oldest first. */
static uint32_t process_embedded_msgs(struct spio_thread *t)
{
	struct spio_msg *m, *next, *fifo = NULL;

	m = __atomic_exchange_n(&t->embedded, NULL, __ATOMIC_ACQUIRE);
	for (; m != NULL; m = next) {
		next = m->next_;
		m->next_ = fifo;
		fifo = m;
	}
	return run_msg_list(fifo);
}

static uint32_t process_msgs(struct spio_thread *t, uint32_t max)
{
	struct thread_msg *batch[MSG_BATCH_DEFAULT];
	uint32_t done = 0, embedded = 0;

	/* A snapshot of the embedded list, which is therefore bounded; it does
	 * not count against `max`, so a steady stream of embedded messages
	 * (I/O completions) never starves the queue. */
	if (t->local_head != NULL) {
		embedded = process_local_msgs(t);
	}
	if (__atomic_load_n(&t->embedded, __ATOMIC_RELAXED) != NULL) {
		embedded += process_embedded_msgs(t);
	}
	while (done < max) {
		uint32_t want = SPIO_MIN(max - done, (uint32_t)MSG_BATCH_DEFAULT);
		uint32_t n = (uint32_t)spio_ring_dequeue_burst(t->msgs, (void **)batch, want);

		if (n == 0) {
			break;
		}
		/* The messages were written on other cores: start all the misses
		 * now rather than one per call. */
		for (uint32_t i = 0; i < n; i++) {
			__builtin_prefetch(batch[i]);
		}
		for (uint32_t i = 0; i < n; i++) {
			batch[i]->fn(batch[i]->ctx);
		}
		/* Return the batch in one call: one cache operation, not n. */
		spio_mempool_put_bulk(g_msg_pool, (void **)batch, n);
		done += n;
		if (n < want) {
			break;
		}
	}
	return done + embedded;
}

static void check_exit(struct spio_thread *t, uint64_t now)
{
	bool quiet = t->poller_count == 0 && t->channel_count == 0 && !thread_has_msgs(t);

	if (quiet) {
		__atomic_store_n(&t->state, THREAD_EXITED, __ATOMIC_RELEASE);
		SPIO_DEBUGLOG(thread, "thread %s exited\n", t->name);
		return;
	}
	uint64_t timeout = spio_us_to_ticks(__atomic_load_n(&g_exit_timeout_us, __ATOMIC_RELAXED));
	if (now - t->exit_start_tsc > timeout) {
		SPIO_ERRLOG(
		    "thread %s: exit timed out after %lu us with %u pollers and %u channels "
		    "left\n",
		    t->name, (unsigned long)spio_ticks_to_us(now - t->exit_start_tsc),
		    t->poller_count, t->channel_count);
		poller_report(t);
		io_channel_report(t);
		__atomic_store_n(&t->state, THREAD_EXITED, __ATOMIC_RELEASE);
	}
}

int spio_thread_poll(struct spio_thread *thread, uint32_t max_msgs, uint64_t now)
{
	struct spio_thread *prev;
	int rc;

	if (spio_unlikely(thread == NULL)) {
		return -EINVAL;
	}
	if (spio_unlikely(__atomic_load_n(&thread->state, __ATOMIC_RELAXED) == THREAD_EXITED)) {
		return SPIO_POLLER_IDLE;
	}
	prev = tls_thread;
	tls_thread = thread;
	if (now == 0) {
		now = spio_get_ticks();
	}

	rc = process_msgs(thread, max_msgs ? max_msgs : MSG_BATCH_DEFAULT) ? SPIO_POLLER_BUSY
									   : SPIO_POLLER_IDLE;
	rc |= poller_run_active(thread);
	if (thread->timer_count) {
		rc |= poller_run_timed(thread, now);
	}

	uint64_t end = spio_get_ticks();
	if (rc == SPIO_POLLER_BUSY) {
		thread->stats.busy_tsc += end - now;
	} else {
		thread->stats.idle_tsc += end - now;
	}
	thread->last_tsc = end;

	if (spio_unlikely(thread->state == THREAD_EXITING)) {
		check_exit(thread, end);
	}
	tls_thread = prev;
	return rc;
}

int spio_thread_get_stats(struct spio_thread *thread, struct spio_thread_stats *stats)
{
	if (thread == NULL) {
		thread = tls_thread;
	}
	if (thread == NULL || stats == NULL) {
		return -EINVAL;
	}
	*stats = thread->stats;
	return 0;
}

uint64_t spio_thread_get_last_tsc(struct spio_thread *thread)
{
	return thread ? thread->last_tsc : 0;
}

/*
 * spio_for_each_thread: a message hops from thread to thread in list order.
 */
struct thread_iter {
	struct spio_thread *origin;
	uint64_t cur_id;
	spio_msg_fn fn;
	spio_msg_fn cpl;
	void *ctx;
	struct spio_msg msg; /* one hop in flight at a time */
};

static void for_each_thread_done(void *arg)
{
	struct thread_iter *it = arg;

	it->cpl(it->ctx);
	free(it);
}

/* The running thread after `id` in the list, or NULL. Ids grow with creation
 * order and the list is in creation order, so "after" survives removals. */
static struct spio_thread *thread_after(uint64_t id)
{
	struct spio_thread *t, *next = NULL;

	pthread_mutex_lock(&g_threads_lock);
	TAILQ_FOREACH (t, &g_threads, link) {
		if (t->id > id && spio_thread_is_running(t)) {
			next = t;
			break;
		}
	}
	pthread_mutex_unlock(&g_threads_lock);
	return next;
}

static void for_each_thread_step(void *arg)
{
	struct thread_iter *it = arg;
	struct spio_thread *next;

	it->fn(it->ctx);
	for (;;) {
		next = thread_after(it->cur_id);
		if (next == NULL) {
			if (spio_thread_send_msg_embedded(it->origin, &it->msg,
							  for_each_thread_done, it) != 0) {
				SPIO_ERRLOG(
				    "for_each_thread: origin thread gone; completion lost\n");
				free(it);
			}
			return;
		}
		it->cur_id = next->id;
		if (spio_thread_send_msg_embedded(next, &it->msg, for_each_thread_step, it) == 0) {
			return;
		}
		/* That thread exited meanwhile: skip it. */
	}
}

int spio_for_each_thread(spio_msg_fn fn, void *ctx, spio_msg_fn cpl)
{
	struct thread_iter *it;
	struct spio_thread *first;

	if (fn == NULL || cpl == NULL || tls_thread == NULL) {
		return -EINVAL;
	}
	it = calloc(1, sizeof(*it));
	if (it == NULL) {
		return -ENOMEM;
	}
	*it = (struct thread_iter){.origin = tls_thread, .fn = fn, .cpl = cpl, .ctx = ctx};
	for (;;) {
		first = thread_after(it->cur_id);
		if (first == NULL) {
			/* Cannot fail: the origin is the running thread. */
			return spio_thread_send_msg_embedded(it->origin, &it->msg,
							     for_each_thread_done, it);
		}
		it->cur_id = first->id;
		if (spio_thread_send_msg_embedded(first, &it->msg, for_each_thread_step, it) == 0) {
			return 0;
		}
	}
}
