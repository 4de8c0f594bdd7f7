/*
 * Blocking work: calls that may sleep in the kernel (fallocate, discard
 * ioctls, fsync on file systems without an async form) run on a small pool
 * of helper OS threads, and their result comes back to the submitting spio
 * thread as a message, so a reactor never blocks.
 *
 * This is a slow path by design (each call is a system call that may take
 * milliseconds), so a mutex and a condition variable guard the queue; the
 * request itself is the caller's memory, so submitting allocates nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include "spio/log.h"
#include "spio/thread.h"
#include "thread_internal.h"

/* Enough for a few slow calls to overlap; they sleep, they do not spin. */
#define WORK_THREADS 4

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct spio_work *head;
	struct spio_work *tail;
	pthread_t threads[WORK_THREADS];
	uint32_t nthreads;
	bool stop;
} g_work = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void work_done_msg(void *arg)
{
	struct spio_work *w = arg;

	w->done_(w->arg_, w->result_);
}

static void work_deliver(struct spio_work *w)
{
	/* The message lives in the work item: delivery needs no memory. */
	int rc = spio_thread_send_msg_embedded(w->thread_, &w->msg_, work_done_msg, w);

	if (rc != 0) {
		SPIO_ERRLOG("blocking work: thread exited before its result (%d) arrived\n",
			    w->result_);
	}
}

static void *work_thread_main(void *unused)
{
	sigset_t all;

	(void)unused;
	/* Signals are the application's main thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	pthread_mutex_lock(&g_work.lock);
	for (;;) {
		struct spio_work *w;

		while (!g_work.stop && g_work.head == NULL) {
			pthread_cond_wait(&g_work.cond, &g_work.lock);
		}
		if (g_work.stop) {
			break;
		}
		w = g_work.head;
		g_work.head = w->next_;
		if (g_work.head == NULL) {
			g_work.tail = NULL;
		}
		pthread_mutex_unlock(&g_work.lock);

		w->result_ = w->fn_(w->arg_);
		work_deliver(w);

		pthread_mutex_lock(&g_work.lock);
	}
	pthread_mutex_unlock(&g_work.lock);
	return NULL;
}

/* Start the pool on first use; called with the lock held. */
static int work_pool_start_locked(void)
{
	while (g_work.nthreads < WORK_THREADS) {
		int rc =
		    pthread_create(&g_work.threads[g_work.nthreads], NULL, work_thread_main, NULL);
		if (rc != 0) {
			/* One thread is enough to make progress. */
			return g_work.nthreads > 0 ? 0 : -rc;
		}
		pthread_setname_np(g_work.threads[g_work.nthreads], "spio_work");
		g_work.nthreads++;
	}
	return 0;
}

int spio_work_submit(struct spio_work *work, spio_work_fn fn, spio_work_done_fn done, void *arg)
{
	struct spio_thread *thread = spio_get_thread();
	int rc;

	if (work == NULL || fn == NULL || done == NULL || thread == NULL ||
	    !thread_lib_initialized()) {
		return -EINVAL;
	}
	work->fn_ = fn;
	work->done_ = done;
	work->arg_ = arg;
	work->result_ = 0;
	work->thread_ = thread;
	work->next_ = NULL;

	pthread_mutex_lock(&g_work.lock);
	if (g_work.stop) {
		pthread_mutex_unlock(&g_work.lock);
		return -EINVAL;
	}
	rc = work_pool_start_locked();
	if (rc != 0) {
		pthread_mutex_unlock(&g_work.lock);
		return rc == -EAGAIN ? -ENOMEM : rc;
	}
	if (g_work.tail != NULL) {
		g_work.tail->next_ = work;
	} else {
		g_work.head = work;
	}
	g_work.tail = work;
	pthread_cond_signal(&g_work.cond);
	pthread_mutex_unlock(&g_work.lock);
	return 0;
}

void work_pool_stop(void)
{
	uint32_t dropped = 0, n;

	pthread_mutex_lock(&g_work.lock);
	g_work.stop = true;
	pthread_cond_broadcast(&g_work.cond);
	n = g_work.nthreads;
	pthread_mutex_unlock(&g_work.lock);

	for (uint32_t i = 0; i < n; i++) {
		pthread_join(g_work.threads[i], NULL);
	}

	pthread_mutex_lock(&g_work.lock);
	for (struct spio_work *w = g_work.head; w != NULL; w = w->next_) {
		dropped++;
	}
	if (dropped != 0) {
		SPIO_ERRLOG("blocking work: %u requests never ran (their threads are gone)\n",
			    dropped);
	}
	g_work.head = g_work.tail = NULL;
	g_work.nthreads = 0;
	/* The library may be initialised again. */
	g_work.stop = false;
	pthread_mutex_unlock(&g_work.lock);
}
