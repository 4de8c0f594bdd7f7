/*
 * NVMe-oF TCP transport, per poll group: one poller serves every connection
 * of the group's thread. Their sockets sit in an epoll set that is the
 * poller's interrupt fd, so a thread whose hosts send nothing sleeps. Each
 * poll reads the sockets epoll reports, then sends what the connections
 * queued meanwhile, one sendmsg() per connection.
 *
 * Data buffers for transfers larger than a request's own buffer come from
 * the group's pool: up to num_shared_buffers buffers of io_unit_size, in DMA
 * memory (spio_dma_malloc) because an nvme bdev on PCIe hands them to the
 * controller as they are. SPDK's defaults (511 x 128 KiB) would lock 64 MiB
 * per poll group up front (hugepages, or mlocked pages without them), so the
 * pool grows in 2 MiB slabs when a request finds too few free buffers: the
 * first slabs, enough for one largest request, at creation; the rest on
 * demand, never freed before the group. A request that finds too few (the
 * pool at its size, or no DMA memory for another slab) waits in FIFO order
 * until others return theirs; it never fails for want of buffers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "spio/dma.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/util.h"

#include "nvmf/tcp_internal.h"

#define TCP_EVENTS_MAX 64
/* Buffers are page aligned: bdevs opened with O_DIRECT need it. */
#define TCP_BUF_ALIGN 4096u
/* How often the timeout poller looks at connections that have not connected. */
#define TCP_TIMEOUT_POLL_US 200000u
/* The pool grows by this much DMA memory at a time (one DMA segment). */
#define TCP_SLAB_BYTES (2u * 1024 * 1024)

static uint32_t g_preconnect_timeout_ms = TCP_PRECONNECT_TIMEOUT_MS;

void nvmf_tcp_set_preconnect_timeout_ms(uint32_t ms)
{
	__atomic_store_n(&g_preconnect_timeout_ms, ms != 0 ? ms : TCP_PRECONNECT_TIMEOUT_MS,
			 __ATOMIC_RELAXED);
}

uint32_t nvmf_tcp_get_preconnect_timeout_ms(void)
{
	return __atomic_load_n(&g_preconnect_timeout_ms, __ATOMIC_RELAXED);
}

static void flush_all(struct tcp_group *tg)
{
	while (!TAILQ_EMPTY(&tg->flush)) {
		struct tcp_conn *c = TAILQ_FIRST(&tg->flush);

		TAILQ_REMOVE(&tg->flush, c, flush_link);
		c->in_flush = false;
		nvmf_tcp_conn_flush(c);
	}
}

static int group_poll(void *arg)
{
	struct tcp_group *tg = arg;
	struct epoll_event ev[TCP_EVENTS_MAX];
	bool busy = false;
	int n;

	n = epoll_wait(tg->epfd, ev, TCP_EVENTS_MAX, 0);
	for (int i = 0; i < n; i++) {
		struct tcp_conn *c = ev[i].data.ptr;

		/* An earlier event of this batch may have closed it. */
		if (c->state >= TCP_CONN_CLOSING) {
			continue;
		}
		if (ev[i].events & EPOLLOUT) {
			c->tx_blocked = false;
			nvmf_tcp_group_want_flush(tg, c);
		}
		/* Zero-copy completions wait in the error queue, which raises EPOLLERR. */
		if ((ev[i].events & EPOLLERR) && nvmf_tcp_zcopy_reap(c)) {
			busy = true;
			/* Only that: no receive (a socket error would have left the queue empty).
			 */
			if (c->state >= TCP_CONN_CLOSING ||
			    !(ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))) {
				continue;
			}
		}
		if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
			busy |= nvmf_tcp_conn_recv(c);
		}
	}
	busy |= !TAILQ_EMPTY(&tg->flush);
	flush_all(tg);
	return busy || n > 0 ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
}

/* Close connections that did not get through their Connect in time. */
static int timeout_poll(void *arg)
{
	struct tcp_group *tg = arg;
	uint64_t limit =
	    (uint64_t)nvmf_tcp_get_preconnect_timeout_ms() * spio_get_ticks_hz() / 1000;
	uint64_t now = spio_get_ticks();
	struct tcp_conn *c, *next;
	int busy = SPIO_POLLER_IDLE;

	/* Closing leaves the connection on the list until qpair_fini. */
	for (c = TAILQ_FIRST(&tg->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->preconnect && c->state < TCP_CONN_CLOSING && now - c->accept_tsc > limit) {
			nvmf_tcp_conn_close(c, false, "no Connect within the pre-connect timeout");
			busy = SPIO_POLLER_BUSY;
		}
	}
	return busy;
}

void nvmf_tcp_group_preconnect_changed(struct tcp_group *tg, int delta)
{
	tg->npreconnect += delta;
	if (tg->npreconnect == 0) {
		spio_poller_pause(tg->timeout_poller);
	} else if (delta > 0 && tg->npreconnect == 1) {
		spio_poller_resume(tg->timeout_poller);
	}
}

/* One more slab of buffers on the free stack: 0, or -ENOMEM (pool full, no DMA memory). */
static int pool_grow(struct tcp_group *tg)
{
	uint32_t n = SPIO_MIN(tg->slab_bufs, tg->max_bufs - tg->nbufs);
	uint8_t *mem;

	if (n == 0 || tg->grow_failed) {
		return -ENOMEM;
	}
	mem = spio_dma_malloc((size_t)n * tg->buf_stride, TCP_BUF_ALIGN);
	if (mem == NULL) {
		tg->grow_failed = true;
		SPIO_WARNLOG("TCP: no DMA memory for more data buffers; the poll group keeps "
			     "%" PRIu32 " of %" PRIu32 "\n",
			     tg->nbufs, tg->max_bufs);
		return -ENOMEM;
	}
	tg->slabs[tg->nslabs++] = mem;
	/* Lowest addresses on top of the stack. */
	for (uint32_t i = n; i-- > 0;) {
		tg->free_bufs[tg->nfree++] = mem + (size_t)i * tg->buf_stride;
	}
	tg->nbufs += n;
	return 0;
}

static int pool_init(struct tcp_group *tg, const struct spio_nvmf_transport_opts *o)
{
	uint32_t n = o->num_shared_buffers;
	uint32_t largest = (o->max_io_size + o->io_unit_size - 1) / o->io_unit_size;

	tg->buf_stride = spio_align_up(o->io_unit_size, TCP_BUF_ALIGN);
	tg->slab_bufs = (uint32_t)SPIO_MAX(1u, TCP_SLAB_BYTES / tg->buf_stride);
	tg->max_bufs = n;
	tg->slabs = calloc((n + tg->slab_bufs - 1) / tg->slab_bufs, sizeof(*tg->slabs));
	tg->free_bufs = calloc(n, sizeof(*tg->free_bufs));
	if (tg->slabs == NULL || tg->free_bufs == NULL) {
		return -ENOMEM;
	}
	/* Enough for the largest request now: then a waiting request always gets served. */
	while (tg->nbufs < SPIO_MIN(SPIO_MAX(largest, 1u), n)) {
		if (pool_grow(tg) != 0) {
			SPIO_ERRLOG("TCP: no DMA memory for %" PRIu32
				    " data buffers of %zu bytes\n",
				    largest, tg->buf_stride);
			return -ENOMEM;
		}
	}
	return 0;
}

static void group_free(struct tcp_group *tg)
{
	spio_poller_unregister(&tg->poller);
	spio_poller_unregister(&tg->timeout_poller);
	if (tg->epfd >= 0) {
		close(tg->epfd);
	}
	for (uint32_t i = 0; i < tg->nslabs; i++) {
		spio_dma_free(tg->slabs[i]);
	}
	free(tg->slabs);
	free(tg->free_bufs);
	free(tg->rx_buf);
	free(tg);
}

struct nvmf_transport_poll_group *nvmf_tcp_poll_group_create(struct nvmf_transport *transport,
							     struct nvmf_poll_group *group)
{
	struct tcp_group *tg = calloc(1, sizeof(*tg));

	if (tg == NULL) {
		return NULL;
	}
	tg->tt = tcp_transport(transport);
	tg->group = group;
	tg->thread = spio_get_thread();
	TAILQ_INIT(&tg->buf_waiters);
	TAILQ_INIT(&tg->conns);
	TAILQ_INIT(&tg->flush);
	tg->epfd = epoll_create1(EPOLL_CLOEXEC);
	tg->rx_buf = malloc(TCP_RX_BUF_SIZE);
	if (tg->thread == NULL || tg->epfd < 0 || tg->rx_buf == NULL ||
	    pool_init(tg, &transport->opts) != 0) {
		SPIO_ERRLOG("TCP: cannot set up a poll group\n");
		group_free(tg);
		return NULL;
	}
	tg->poller = spio_poller_register_named(group_poll, tg, 0, "nvmf_tcp_poll_group");
	tg->timeout_poller =
	    spio_poller_register_named(timeout_poll, tg, TCP_TIMEOUT_POLL_US, "nvmf_tcp_timeout");
	if (tg->poller == NULL || tg->timeout_poller == NULL ||
	    spio_poller_set_interrupt_fd(tg->poller, tg->epfd) != 0) {
		SPIO_ERRLOG("TCP: cannot register the poll group's pollers\n");
		group_free(tg);
		return NULL;
	}
	spio_poller_pause(tg->timeout_poller);
	return (struct nvmf_transport_poll_group *)(void *)tg;
}

void nvmf_tcp_poll_group_destroy(struct nvmf_transport_poll_group *tgroup)
{
	struct tcp_group *tg = tcp_group(tgroup);

	if (tg == NULL) {
		return;
	}
	if (!TAILQ_EMPTY(&tg->conns)) {
		/* The core finishes every queue pair first; say so if it did not. */
		SPIO_ERRLOG("TCP: poll group destroyed with connections left\n");
	}
	group_free(tg);
}

int nvmf_tcp_group_add_conn(struct tcp_group *tg, struct tcp_conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};

	if (epoll_ctl(tg->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		return -errno;
	}
	c->epoll_events = ev.events;
	TAILQ_INSERT_TAIL(&tg->conns, c, link);
	return 0;
}

void nvmf_tcp_group_remove_conn(struct tcp_group *tg, struct tcp_conn *c)
{
	if (c->epoll_events != 0) {
		epoll_ctl(tg->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->epoll_events = 0;
	}
	if (c->in_flush) {
		TAILQ_REMOVE(&tg->flush, c, flush_link);
		c->in_flush = false;
	}
}

void nvmf_tcp_group_want_flush(struct tcp_group *tg, struct tcp_conn *c)
{
	if (!c->in_flush && !c->tx_blocked && c->state < TCP_CONN_CLOSING) {
		TAILQ_INSERT_TAIL(&tg->flush, c, flush_link);
		c->in_flush = true;
	}
}

void nvmf_tcp_group_watch_out(struct tcp_group *tg, struct tcp_conn *c, bool on)
{
	uint32_t want = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0);
	struct epoll_event ev = {.events = want, .data.ptr = c};

	if (c->epoll_events == 0 || c->epoll_events == want) {
		return;
	}
	if (epoll_ctl(tg->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) {
		c->epoll_events = want;
	}
}

static void take_bufs(struct tcp_group *tg, struct tcp_req *treq)
{
	uint32_t left = treq->req.length;

	for (uint32_t i = 0; i < treq->nbufs; i++) {
		uint32_t len = SPIO_MIN(left, tg->tt->base.opts.io_unit_size);

		treq->req.iov[i].iov_base = tg->free_bufs[--tg->nfree];
		treq->req.iov[i].iov_len = len;
		left -= len;
	}
	treq->req.iovcnt = (int)treq->nbufs;
	treq->pool_bufs = true;
}

bool nvmf_tcp_group_get_bufs(struct tcp_group *tg, struct tcp_req *treq)
{
	uint32_t unit = tg->tt->base.opts.io_unit_size;

	treq->nbufs = (treq->req.length + unit - 1) / unit;
	/* First come, first served: a large request is not starved by small ones. */
	if (TAILQ_EMPTY(&tg->buf_waiters)) {
		while (tg->nfree < treq->nbufs && pool_grow(tg) == 0) {
		}
		if (tg->nfree >= treq->nbufs) {
			take_bufs(tg, treq);
			return true;
		}
	}
	treq->state = TCP_REQ_NEED_BUF;
	TAILQ_INSERT_TAIL(&tg->buf_waiters, treq, link);
	return false;
}

void nvmf_tcp_group_cancel_wait(struct tcp_group *tg, struct tcp_req *treq)
{
	TAILQ_REMOVE(&tg->buf_waiters, treq, link);
}

static void serve_waiters(struct tcp_group *tg)
{
	/* A served request may finish at once and return buffers: no recursion. */
	if (tg->serving_waiters) {
		return;
	}
	tg->serving_waiters = true;
	while (!TAILQ_EMPTY(&tg->buf_waiters)) {
		struct tcp_req *treq = TAILQ_FIRST(&tg->buf_waiters);

		while (tg->nfree < treq->nbufs && pool_grow(tg) == 0) {
		}
		if (tg->nfree < treq->nbufs) {
			break;
		}
		TAILQ_REMOVE(&tg->buf_waiters, treq, link);
		take_bufs(tg, treq);
		nvmf_tcp_req_have_bufs(treq);
	}
	tg->serving_waiters = false;
}

void nvmf_tcp_group_put_bufs(struct tcp_group *tg, struct tcp_req *treq)
{
	for (int i = 0; i < treq->req.iovcnt; i++) {
		tg->free_bufs[tg->nfree++] = treq->req.iov[i].iov_base;
	}
	treq->req.iovcnt = 0;
	treq->pool_bufs = false;
	serve_waiters(tg);
}
