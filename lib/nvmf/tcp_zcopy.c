/*
 * MSG_ZEROCOPY for the target's large read data (SPDK's posix socket option
 * enable_zerocopy_send_server).
 *
 * The kernel sends straight from our pages and later tells, through the
 * socket's error queue, which of our zero-copy sendmsg() calls it no longer
 * reads (numbered from 0 per socket). Until then the request's C2H PDU and
 * data buffers must not be reused, and the host must not see the request
 * complete either (it would send a new command into a slot the target
 * cannot give yet): so such a request's data goes without the SUCCESS flag,
 * the request waits on the connection's zc_wait list once its data is out,
 * and its response capsule is sent when the kernel reports the send done.
 * The error queue makes the socket's epoll entry report EPOLLERR, which
 * wakes the group's poller.
 *
 * Only for peers on other hosts by default: on loopback the kernel copies
 * anyway and holds the pages until the reader has read them, which halved
 * 128 KiB reads here (docs/nvmf.md).
 */
#include <errno.h>
#include <time.h> /* before linux/errqueue.h, which uses struct timespec */
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp_internal.h"

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif

static _Atomic int g_zcopy_mode = NVMF_TCP_ZCOPY_REMOTE;

void nvmf_tcp_set_zcopy(enum nvmf_tcp_zcopy_mode mode)
{
	atomic_store_explicit(&g_zcopy_mode, (int)mode, memory_order_relaxed);
}

/* Does the connection stay on this host (loopback, or our own address)? */
static bool peer_is_local(int fd)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof(local), plen = sizeof(peer);

	if (getsockname(fd, (struct sockaddr *)&local, &llen) != 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) != 0) {
		return true; /* unknown: the cheap choice */
	}
	if (peer.ss_family == AF_INET) {
		const struct sockaddr_in *p = (const struct sockaddr_in *)&peer;
		const struct sockaddr_in *l = (const struct sockaddr_in *)&local;

		return (ntohl(p->sin_addr.s_addr) >> 24) == 127 ||
		       p->sin_addr.s_addr == l->sin_addr.s_addr;
	}
	if (peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)&peer;
		const struct sockaddr_in6 *l = (const struct sockaddr_in6 *)&local;

		return IN6_IS_ADDR_LOOPBACK(&p->sin6_addr) ||
		       memcmp(&p->sin6_addr, &l->sin6_addr, sizeof(p->sin6_addr)) == 0;
	}
	return true;
}

bool nvmf_tcp_zcopy_enable(int fd)
{
	int mode = atomic_load_explicit(&g_zcopy_mode, memory_order_relaxed);
	int one = 1;

	if (mode == NVMF_TCP_ZCOPY_OFF || (mode == NVMF_TCP_ZCOPY_REMOTE && peer_is_local(fd))) {
		return false;
	}
	/* Kernels before 4.14, or sockets that cannot: plain sends. */
	return setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) == 0;
}

/* Is `seq` within [lo, hi], counting modulo 2^32? */
static bool seq_within(uint32_t seq, uint32_t lo, uint32_t hi)
{
	return seq - lo <= hi - lo;
}

static void release_range(struct tcp_conn *c, uint32_t lo, uint32_t hi)
{
	struct tcp_req *treq, *next;

	c->zc_done += (uint64_t)(hi - lo) + 1;
	for (treq = TAILQ_FIRST(&c->zc_wait); treq != NULL; treq = next) {
		next = TAILQ_NEXT(treq, link);
		if (seq_within(treq->zc_seq, lo, hi)) {
			TAILQ_REMOVE(&c->zc_wait, treq, link);
			treq->zc_pending = false;
			nvmf_tcp_req_zcopy_done(treq);
		}
	}
}

bool nvmf_tcp_zcopy_reap(struct tcp_conn *c)
{
	bool got = false;

	while (c->state < TCP_CONN_CLOSING) {
		union {
			char buf[CMSG_SPACE(sizeof(struct sock_extended_err) +
					    sizeof(struct sockaddr_in6))];
			struct cmsghdr align;
		} control;
		struct msghdr msg = {.msg_control = control.buf, .msg_controllen = sizeof(control)};
		struct cmsghdr *cm;

		if (recvmsg(c->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
			return got; /* EAGAIN: nothing more; a socket error shows on recv */
		}
		got = true;
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
			const struct sock_extended_err *ee;

			if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
			      (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR))) {
				continue;
			}
			ee = (const struct sock_extended_err *)(const void *)CMSG_DATA(cm);
			if (ee->ee_origin == SO_EE_ORIGIN_ZEROCOPY && ee->ee_errno == 0) {
				release_range(c, ee->ee_info, ee->ee_data);
			}
		}
	}
	return got;
}

void nvmf_tcp_get_zcopy_counts(const struct nvmf_transport *transport, uint64_t *sends,
			       uint64_t *done)
{
	const struct tcp_transport *tt = tcp_transport(transport);

	*sends = atomic_load(&tt->zc_sends);
	*done = atomic_load(&tt->zc_done);
}

void nvmf_tcp_zcopy_abort(struct tcp_conn *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct tcp_req *treq;

	/* One update per connection, not per send: the transport is shared by every group. */
	atomic_fetch_add(&c->tt->zc_sends, c->zc_sends);
	atomic_fetch_add(&c->tt->zc_done, c->zc_done);
	if (TAILQ_EMPTY(&c->zc_wait)) {
		return;
	}
	/*
	 * Unsent bytes may still sit in the socket's queue, read from pages
	 * that are about to be reused: a reset makes the kernel drop them.
	 */
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->fd = -1;
	while ((treq = TAILQ_FIRST(&c->zc_wait)) != NULL) {
		TAILQ_REMOVE(&c->zc_wait, treq, link);
		treq->zc_pending = false;
		nvmf_tcp_req_zcopy_abandon(treq);
	}
}
