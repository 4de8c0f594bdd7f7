/*
 * The interrupt hook: an epoll set per thread holding the thread's wake
 * eventfd (written by senders while the thread sleeps), a timerfd (armed
 * for the earliest timed poller when the thread goes to sleep) and the
 * pollers' interrupt fds (an io_uring's eventfd, a socket). Also the pool of
 * wake slots (see struct thread_wake).
 *
 * Pollers' fds are edge-triggered: the thread never reads them (a poller
 * finds its work by polling, and reading a socket would eat its data), so a
 * level-triggered entry would keep the set readable forever. sleep_end
 * consumes the edges with one epoll_wait of the set.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "spio/env.h"
#include "spio/log.h"
#include "spio/util.h"
#include "thread_internal.h"

static pthread_mutex_t g_wake_lock = PTHREAD_MUTEX_INITIALIZER;
static struct thread_wake *g_wake_free;
static struct thread_wake *g_wake_all;

struct thread_wake *wake_slot_get(void)
{
	struct thread_wake *w;

	pthread_mutex_lock(&g_wake_lock);
	w = g_wake_free;
	if (w) {
		g_wake_free = w->next_free;
	} else if ((w = calloc(1, sizeof(*w))) != NULL) {
		w->evfd = -1;
		w->next_all = g_wake_all;
		g_wake_all = w;
	}
	pthread_mutex_unlock(&g_wake_lock);
	return w;
}

void wake_slot_put(struct thread_wake *w)
{
	if (w == NULL) {
		return;
	}
	__atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
	pthread_mutex_lock(&g_wake_lock);
	w->next_free = g_wake_free;
	g_wake_free = w;
	pthread_mutex_unlock(&g_wake_lock);
}

/* At library fini: no thread, so no sender, is left. */
void wake_slots_free_all(void)
{
	pthread_mutex_lock(&g_wake_lock);
	while (g_wake_all) {
		struct thread_wake *w = g_wake_all;
		g_wake_all = w->next_all;
		if (w->evfd >= 0) {
			close(w->evfd);
		}
		free(w);
	}
	g_wake_free = NULL;
	pthread_mutex_unlock(&g_wake_lock);
}

void wake_slot_signal(struct thread_wake *w)
{
	int fd = __atomic_load_n(&w->evfd, __ATOMIC_RELAXED);
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
		SPIO_ERRLOG("thread wake-up: eventfd write failed: %d\n", errno);
	}
}

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0) {
	}
}

static int interrupt_create(struct spio_thread *t)
{
	struct thread_interrupt *in = calloc(1, sizeof(*in));
	struct epoll_event ev = {.events = EPOLLIN};
	int err;

	if (in == NULL) {
		return -ENOMEM;
	}
	if (t->wake->evfd < 0) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0) {
			err = errno;
			free(in);
			return -err;
		}
		/* Set once per slot, before any sleep makes senders read it. */
		__atomic_store_n(&t->wake->evfd, fd, __ATOMIC_RELAXED);
	}
	/* A recycled slot may carry wake-ups meant for its previous thread. */
	drain(t->wake->evfd);

	in->epfd = epoll_create1(EPOLL_CLOEXEC);
	in->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (in->epfd < 0 || in->tfd < 0) {
		goto fail;
	}
	ev.data.fd = t->wake->evfd;
	if (epoll_ctl(in->epfd, EPOLL_CTL_ADD, t->wake->evfd, &ev) != 0) {
		goto fail;
	}
	ev.data.fd = in->tfd;
	if (epoll_ctl(in->epfd, EPOLL_CTL_ADD, in->tfd, &ev) != 0) {
		goto fail;
	}
	t->intr = in;
	err = poller_add_intr_fds(t);
	if (err != 0) {
		t->intr = NULL;
		errno = -err;
		goto fail;
	}
	return 0;

fail:
	err = errno;
	if (in->epfd >= 0) {
		close(in->epfd);
	}
	if (in->tfd >= 0) {
		close(in->tfd);
	}
	free(in);
	return -err;
}

int spio_thread_get_interrupt_fd(struct spio_thread *t)
{
	if (t == NULL) {
		return -EINVAL;
	}
	if (t->intr == NULL) {
		int rc = interrupt_create(t);
		if (rc != 0) {
			return rc;
		}
	}
	return t->intr->epfd;
}

/* Arm the timerfd for `deadline` (ticks); 0 disarms. Only when it changed. */
static void arm_timer(struct thread_interrupt *in, uint64_t deadline)
{
	struct itimerspec its = {0};

	if (deadline == in->armed_deadline) {
		return;
	}
	if (deadline) {
		uint64_t now = spio_get_ticks();
		uint64_t us = deadline > now ? spio_ticks_to_us(deadline - now) : 0;
		/* A zero it_value disarms: round a due timer up to 1 us. */
		us = us ? us : 1;
		its.it_value.tv_sec = (time_t)(us / 1000000);
		its.it_value.tv_nsec = (long)(us % 1000000) * 1000;
	}
	if (timerfd_settime(in->tfd, 0, &its, NULL) == 0) {
		in->armed_deadline = deadline;
	}
}

bool spio_thread_sleep_begin(struct spio_thread *t)
{
	if (t == NULL || t->intr == NULL) {
		return false;
	}
	arm_timer(t->intr, spio_thread_next_poller_expiration(t));
	/* Dekker with send_msg (see there): after this store, a sender either
	 * sees `sleeping` and writes the eventfd, or we see its message here. */
	__atomic_store_n(&t->wake->sleeping, 1, __ATOMIC_SEQ_CST);
	if (thread_has_msgs(t)) {
		__atomic_store_n(&t->wake->sleeping, 0, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

/* Take the pending edges of the pollers' fds off the set's ready list. */
static void consume_edges(struct thread_interrupt *in)
{
	struct epoll_event evs[16];
	int n;

	do {
		n = epoll_wait(in->epfd, evs, (int)SPIO_COUNTOF(evs), 0);
	} while (n == (int)SPIO_COUNTOF(evs));
}

void spio_thread_sleep_end(struct spio_thread *t)
{
	uint64_t v;

	if (t == NULL || t->intr == NULL) {
		return;
	}
	__atomic_store_n(&t->wake->sleeping, 0, __ATOMIC_RELAXED);
	/* Drain both: the next sleep starts from "not readable". */
	drain(t->wake->evfd);
	if (read(t->intr->tfd, &v, sizeof(v)) > 0) {
		t->intr->armed_deadline = 0; /* it fired: disarmed now */
	}
	if (t->intr_fd_count != 0) {
		consume_edges(t->intr);
	}
}

int interrupt_add_fd(struct spio_thread *t, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = fd};

	if (t->intr == NULL) {
		return 0; /* added when the set is created */
	}
	return epoll_ctl(t->intr->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

void interrupt_del_fd(struct spio_thread *t, int fd)
{
	/* EBADF/ENOENT: the owner closed the fd first, which removed it already. */
	if (t->intr != NULL) {
		epoll_ctl(t->intr->epfd, EPOLL_CTL_DEL, fd, NULL);
	}
}

void interrupt_free(struct spio_thread *t)
{
	if (t->intr) {
		/* The eventfd belongs to the wake slot and outlives the thread. */
		close(t->intr->epfd);
		close(t->intr->tfd);
		free(t->intr);
		t->intr = NULL;
	}
}
