/*
 * Poll groups: one poller processes every qpair of a thread. The thread may
 * sleep: an epoll set of the qpairs' sockets (and, in interrupt mode, PCIe
 * MSI-X eventfds) is the poller's interrupt fd.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "spio/log.h"

#include "nvme/nvme_internal.h"

/* Ready sockets taken from the epoll set per poll; more: every qpair receives. */
#define GROUP_EVENTS_MAX 64

struct spio_nvme_poll_group {
	struct spio_thread *thread;
	struct spio_poller *poller;
	int epfd;
	/*
	 * Qpairs whose completions only polling finds (PCIe not in interrupt
	 * mode: no fd): while there is one, the poller has no interrupt fd, so
	 * the thread never sleeps on the epoll set with such a qpair in the group.
	 */
	uint32_t num_polled;
	/* Fds in the epoll set: none (polled PCIe only), no epoll_wait per poll. */
	uint32_t num_watched;
	TAILQ_HEAD(, spio_nvme_qpair) qpairs;
	spio_nvme_disconnected_qpair_cb disconnected_cb;
	void *disconnected_cb_arg;
};

/*
 * PCIe in interrupt mode has an fd (its MSI-X eventfd). The controller's
 * option is fixed before its first I/O qpair exists, so a qpair counts the
 * same when it leaves as when it came.
 */
static bool is_polled(const struct spio_nvme_qpair *qpair)
{
	return !qpair->ops->fabrics && !qpair->ctrlr->opts.enable_interrupts;
}

/* The poller sleeps on the epoll set only while no qpair needs polling. */
static void count_polled(struct spio_nvme_poll_group *group, struct spio_nvme_qpair *qpair,
			 int delta)
{
	uint32_t before = group->num_polled;

	if (!is_polled(qpair)) {
		return;
	}
	group->num_polled = (uint32_t)((int)before + delta);
	if (before == 0 && group->num_polled > 0) {
		spio_poller_set_interrupt_fd(group->poller, -1);
	} else if (before > 0 && group->num_polled == 0) {
		spio_poller_set_interrupt_fd(group->poller, group->epfd);
	}
}

/* Keep the epoll set in step with the qpair's current socket. */
static void watch_fd(struct spio_nvme_poll_group *group, struct spio_nvme_qpair *qpair)
{
	int fd = qpair->ops->qpair_get_fd(qpair);
	/*
	 * A socket level-triggered: its data is read, which clears it. An
	 * MSI-X eventfd edge-triggered: nobody reads it (a read per interrupt
	 * would be a system call on the I/O path), each message is a new edge.
	 */
	struct epoll_event ev = {.events = EPOLLIN | (qpair->ops->fabrics ? 0u : (uint32_t)EPOLLET),
				 .data.ptr = qpair};

	if (fd == qpair->group_fd) {
		return;
	}
	nvme_poll_group_unwatch(qpair);
	if (fd >= 0 && epoll_ctl(group->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
		qpair->group_fd = fd;
		group->num_watched++;
	}
}

/*
 * Which sockets have something to read, from the epoll set: a qpair whose
 * socket has nothing is not asked to receive. An empty receive is a
 * syscall that also takes the socket's lock, which on loopback the sending
 * side needs to deliver; SPDK's socket groups ask epoll first for the same
 * reason. \return false when the set could not say (all may read).
 */
static bool mark_readable(struct spio_nvme_poll_group *group)
{
	struct epoll_event ev[GROUP_EVENTS_MAX];
	int n = epoll_wait(group->epfd, ev, GROUP_EVENTS_MAX, 0);

	if (n < 0 || n == GROUP_EVENTS_MAX) {
		return false;
	}
	for (int i = 0; i < n; i++) {
		((struct spio_nvme_qpair *)ev[i].data.ptr)->rx_ready = true;
	}
	return true;
}

void nvme_poll_group_unwatch(struct spio_nvme_qpair *qpair)
{
	if (qpair->group != NULL && qpair->group_fd >= 0) {
		epoll_ctl(qpair->group->epfd, EPOLL_CTL_DEL, qpair->group_fd, NULL);
		qpair->group->num_watched--;
	}
	qpair->group_fd = -1;
}

int64_t spio_nvme_poll_group_process_completions(struct spio_nvme_poll_group *group)
{
	struct spio_nvme_qpair *qpair, *tmp;
	int64_t total = 0;
	bool known;

	if (group == NULL) {
		return -EINVAL;
	}
	/* Nothing watched (only polled PCIe qpairs): no system call per poll. */
	known = group->num_watched == 0 || mark_readable(group);
	/* The next one is taken first: a disconnect callback may free this one. */
	for (qpair = TAILQ_FIRST(&group->qpairs); qpair != NULL; qpair = tmp) {
		tmp = TAILQ_NEXT(qpair, group_link);
		bool was_connected = qpair->state == NVME_QPAIR_CONNECTED;
		int32_t rc;

		if (qpair->state == NVME_QPAIR_DISCONNECTED) {
			qpair->rx_ready = false;
			/*
			 * Commands held until the device is done with them: fail
			 * them then. Interrupt mode: its queue's vector wakes the
			 * thread when the delete or a disable ends the wait.
			 */
			if (spio_unlikely(qpair->draining) && !nvme_qpair_drain(qpair) &&
			    qpair->group == group) {
				watch_fd(group, qpair);
			}
			continue;
		}
		qpair->rx_idle = known && qpair->group_fd >= 0 && !qpair->rx_ready;
		qpair->rx_ready = false;
		rc = nvme_qpair_process(qpair, 0);
		qpair->rx_idle = false;
		if (qpair->group == group) { /* a callback may have taken it out */
			watch_fd(group, qpair);
		}
		if (rc > 0) {
			total += rc;
		} else if (rc == -ENXIO && was_connected && group->disconnected_cb != NULL) {
			group->disconnected_cb(group->disconnected_cb_arg, qpair);
		}
	}
	return total;
}

static int group_poll(void *arg)
{
	return spio_nvme_poll_group_process_completions(arg) > 0 ? SPIO_POLLER_BUSY
								 : SPIO_POLLER_IDLE;
}

struct spio_nvme_poll_group *spio_nvme_poll_group_create(void)
{
	struct spio_nvme_poll_group *group;

	if (spio_get_thread() == NULL) {
		errno = EPERM;
		return NULL;
	}
	group = calloc(1, sizeof(*group));
	if (group == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	group->thread = spio_get_thread();
	TAILQ_INIT(&group->qpairs);
	group->epfd = epoll_create1(EPOLL_CLOEXEC);
	group->poller = spio_poller_register_named(group_poll, group, 0, "nvme_poll_group");
	if (group->epfd < 0 || group->poller == NULL ||
	    spio_poller_set_interrupt_fd(group->poller, group->epfd) != 0) {
		spio_poller_unregister(&group->poller);
		if (group->epfd >= 0) {
			close(group->epfd);
		}
		free(group);
		errno = ENOMEM;
		return NULL;
	}
	return group;
}

int spio_nvme_poll_group_add(struct spio_nvme_poll_group *group, struct spio_nvme_qpair *qpair)
{
	if (group == NULL || qpair == NULL || qpair->thread != group->thread ||
	    spio_get_thread() != group->thread) {
		return -EINVAL;
	}
	if (qpair->group != NULL) {
		return -EEXIST;
	}
	qpair->group = group;
	qpair->group_fd = -1;
	TAILQ_INSERT_TAIL(&group->qpairs, qpair, group_link);
	watch_fd(group, qpair);
	count_polled(group, qpair, 1);
	return 0;
}

int spio_nvme_poll_group_remove(struct spio_nvme_poll_group *group, struct spio_nvme_qpair *qpair)
{
	if (group == NULL || qpair == NULL) {
		return -EINVAL;
	}
	if (qpair->group != group) {
		return -ENOENT;
	}
	nvme_poll_group_unwatch(qpair);
	TAILQ_REMOVE(&group->qpairs, qpair, group_link);
	qpair->group = NULL;
	count_polled(group, qpair, -1);
	return 0;
}

void spio_nvme_poll_group_set_disconnected_cb(struct spio_nvme_poll_group *group,
					      spio_nvme_disconnected_qpair_cb cb, void *cb_arg)
{
	if (group != NULL) {
		group->disconnected_cb = cb;
		group->disconnected_cb_arg = cb_arg;
	}
}

int spio_nvme_poll_group_destroy(struct spio_nvme_poll_group *group)
{
	if (group == NULL || spio_get_thread() != group->thread) {
		return -EINVAL;
	}
	if (!TAILQ_EMPTY(&group->qpairs)) {
		return -EBUSY;
	}
	spio_poller_unregister(&group->poller);
	close(group->epfd);
	free(group);
	return 0;
}
