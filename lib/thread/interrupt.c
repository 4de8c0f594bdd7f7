/*
 * The interrupt hook: an epoll set per thread holding an eventfd (written by
 * senders while the thread sleeps) and a timerfd (armed for the earliest
 * timed poller when the thread goes to sleep).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "spio/env.h"
#include "spio/log.h"
#include "thread_internal.h"

static int interrupt_create(struct spio_thread *t)
{
	struct thread_interrupt *in = calloc(1, sizeof(*in));
	struct epoll_event ev = {.events = EPOLLIN};

	if (in == NULL) {
		return -ENOMEM;
	}
	in->epfd = epoll_create1(EPOLL_CLOEXEC);
	in->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	in->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (in->epfd < 0 || in->evfd < 0 || in->tfd < 0) {
		goto fail;
	}
	ev.data.fd = in->evfd;
	if (epoll_ctl(in->epfd, EPOLL_CTL_ADD, in->evfd, &ev) != 0) {
		goto fail;
	}
	ev.data.fd = in->tfd;
	if (epoll_ctl(in->epfd, EPOLL_CTL_ADD, in->tfd, &ev) != 0) {
		goto fail;
	}
	/* Published with release: senders check it only after seeing `sleeping`. */
	__atomic_store_n(&t->intr, in, __ATOMIC_RELEASE);
	return 0;

fail:;
	int err = errno;
	if (in->epfd >= 0) {
		close(in->epfd);
	}
	if (in->evfd >= 0) {
		close(in->evfd);
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

void interrupt_wake(struct spio_thread *t)
{
	struct thread_interrupt *in = __atomic_load_n(&t->intr, __ATOMIC_ACQUIRE);
	uint64_t one = 1;

	if (in && write(in->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
		SPIO_ERRLOG("thread %s: eventfd write failed: %d\n", t->name, errno);
	}
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
	__atomic_store_n(&t->sleeping, 1, __ATOMIC_SEQ_CST);
	if (spio_ring_count(t->msgs) != 0) {
		__atomic_store_n(&t->sleeping, 0, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

void spio_thread_sleep_end(struct spio_thread *t)
{
	uint64_t v;

	if (t == NULL || t->intr == NULL) {
		return;
	}
	__atomic_store_n(&t->sleeping, 0, __ATOMIC_RELAXED);
	/* Drain both: the next sleep starts from "not readable". */
	while (read(t->intr->evfd, &v, sizeof(v)) > 0) {
	}
	if (read(t->intr->tfd, &v, sizeof(v)) > 0) {
		t->intr->armed_deadline = 0; /* it fired: disarmed now */
	}
}

void interrupt_free(struct spio_thread *t)
{
	if (t->intr) {
		close(t->intr->epfd);
		close(t->intr->evfd);
		close(t->intr->tfd);
		free(t->intr);
		t->intr = NULL;
	}
}
