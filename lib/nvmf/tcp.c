/*
 * NVMe-oF TCP transport: options, listeners and accepting connections.
 *
 * Listening sockets live in one epoll set that a poller of the target thread
 * watches (its interrupt fd, so an idle target sleeps). Each accepted socket
 * becomes a connection that is handed by message to the next poll group,
 * which owns it from then on (tcp_group.c, tcp_conn.c). A listener takes at
 * most the target's max_connections_per_listener connections and the
 * transport at most TCP_PRECONNECT_MAX that have not connected yet; beyond
 * that a new socket is accepted and closed at once. A connection holds a
 * few KiB until its Connect succeeds (one request, tcp_conn.c) and is
 * closed if that takes longer than TCP_PRECONNECT_TIMEOUT_MS, so a flood of
 * connections, half-open ones included, keeps memory flat.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spio/log.h"
#include "spio/util.h"

#include "nvmf/tcp_internal.h"

SPIO_LOG_REGISTER_COMPONENT(nvmf_tcp)

#define TCP_DEFAULT_MAX_QUEUE_DEPTH 128
#define TCP_DEFAULT_MAX_AQ_DEPTH 128
#define TCP_MIN_QUEUE_DEPTH 2
#define TCP_MAX_AQ_DEPTH 4096
#define TCP_MIN_IO_UNIT_SIZE 512u
#define TCP_MIN_MAX_IO_SIZE 8192u
#define TCP_LISTEN_BACKLOG 512
/* Sockets accepted per listener per poll; the epoll set reports the rest next time. */
#define TCP_ACCEPT_BATCH 64

static void tcp_opts_init(struct spio_nvmf_transport_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->opts_size = sizeof(*opts);
	opts->max_queue_depth = TCP_DEFAULT_MAX_QUEUE_DEPTH;
	opts->max_io_qpairs_per_ctrlr = 127;
	opts->in_capsule_data_size = 4096;
	opts->max_io_size = 131072;
	opts->io_unit_size = 131072;
	opts->max_aq_depth = TCP_DEFAULT_MAX_AQ_DEPTH;
	opts->num_shared_buffers = 511;
	opts->buf_cache_size = 32;
	opts->c2h_success = true;
	opts->dif_insert_or_strip = false;
	opts->abort_timeout_sec = 1;
	opts->sock_priority = 0;
	opts->control_msg_num = 32;
}

static uint32_t bufs_per_io(const struct spio_nvmf_transport_opts *o)
{
	return (o->max_io_size + o->io_unit_size - 1) / o->io_unit_size;
}

/*
 * SPDK's rules: values it refuses are refused (-EINVAL); values it corrects
 * with a warning (queue depths, io_unit_size or in-capsule size above
 * max_io_size) are corrected the same way, so its configurations load.
 */
static int tcp_opts_check(struct spio_nvmf_transport_opts *o)
{
	if (o->dif_insert_or_strip) {
		SPIO_ERRLOG("TCP: dif_insert_or_strip is not supported\n");
		return -EINVAL;
	}
	if (o->sock_priority < 0 || o->sock_priority > TCP_MAX_SOCK_PRIORITY) {
		SPIO_ERRLOG("TCP: sock_priority %d outside 0..%d\n", o->sock_priority,
			    TCP_MAX_SOCK_PRIORITY);
		return -EINVAL;
	}
	if (!spio_is_pow2(o->max_io_size) || o->max_io_size < TCP_MIN_MAX_IO_SIZE) {
		SPIO_ERRLOG("TCP: max_io_size %u must be a power of 2 and at least %u\n",
			    o->max_io_size, TCP_MIN_MAX_IO_SIZE);
		return -EINVAL;
	}
	if (o->io_unit_size < TCP_MIN_IO_UNIT_SIZE || o->io_unit_size % 16 != 0) {
		SPIO_ERRLOG("TCP: io_unit_size %u must be a multiple of 16 and at least %u\n",
			    o->io_unit_size, TCP_MIN_IO_UNIT_SIZE);
		return -EINVAL;
	}
	if (o->in_capsule_data_size % 16 != 0) {
		SPIO_ERRLOG("TCP: in_capsule_data_size %u must be a multiple of 16\n",
			    o->in_capsule_data_size);
		return -EINVAL;
	}
	if (o->io_unit_size > o->max_io_size) {
		SPIO_WARNLOG("TCP: io_unit_size %u above max_io_size %u: using %u\n",
			     o->io_unit_size, o->max_io_size, o->max_io_size);
		o->io_unit_size = o->max_io_size;
	}
	if (o->in_capsule_data_size > o->max_io_size) {
		SPIO_WARNLOG("TCP: in_capsule_data_size %u above max_io_size %u: using %u\n",
			     o->in_capsule_data_size, o->max_io_size, o->max_io_size);
		o->in_capsule_data_size = o->max_io_size;
	}
	if (o->max_queue_depth < TCP_MIN_QUEUE_DEPTH) {
		SPIO_WARNLOG("TCP: max_queue_depth %u below %u: using %u\n", o->max_queue_depth,
			     TCP_MIN_QUEUE_DEPTH, TCP_DEFAULT_MAX_QUEUE_DEPTH);
		o->max_queue_depth = TCP_DEFAULT_MAX_QUEUE_DEPTH;
	}
	if (o->max_aq_depth < TCP_MIN_QUEUE_DEPTH || o->max_aq_depth > TCP_MAX_AQ_DEPTH) {
		SPIO_WARNLOG("TCP: max_aq_depth %u outside %u..%u: using %u\n", o->max_aq_depth,
			     TCP_MIN_QUEUE_DEPTH, TCP_MAX_AQ_DEPTH, TCP_DEFAULT_MAX_AQ_DEPTH);
		o->max_aq_depth = TCP_DEFAULT_MAX_AQ_DEPTH;
	}
	/* One request of max_io_size must fit the iovec array and the pool. */
	if (bufs_per_io(o) > NVMF_REQ_MAX_IOV) {
		SPIO_ERRLOG("TCP: max_io_size %u needs more than %u buffers of io_unit_size %u\n",
			    o->max_io_size, NVMF_REQ_MAX_IOV, o->io_unit_size);
		return -EINVAL;
	}
	if (o->num_shared_buffers < bufs_per_io(o)) {
		SPIO_ERRLOG("TCP: num_shared_buffers %u cannot hold one I/O of %u bytes\n",
			    o->num_shared_buffers, o->max_io_size);
		return -EINVAL;
	}
	return 0;
}

static int accept_poll(void *arg);

static struct nvmf_transport *tcp_create(struct spio_nvmf_tgt *tgt,
					 const struct spio_nvmf_transport_opts *opts, int *rc)
{
	struct tcp_transport *tt;

	*rc = -EINVAL;
	if (opts == NULL || spio_get_thread() == NULL) {
		return NULL;
	}
	tt = calloc(1, sizeof(*tt));
	if (tt == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	tt->base.ops = &g_nvmf_tcp_ops;
	tt->base.tgt = tgt;
	tt->base.opts = *opts;
	tt->thread = spio_get_thread();
	TAILQ_INIT(&tt->listeners);
	*rc = tcp_opts_check(&tt->base.opts);
	if (*rc != 0) {
		free(tt);
		return NULL;
	}
	tt->accept_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (tt->accept_epfd < 0) {
		*rc = -errno;
		free(tt);
		return NULL;
	}
	tt->accept_poller = spio_poller_register_named(accept_poll, tt, 0, "nvmf_tcp_accept");
	if (tt->accept_poller == NULL ||
	    spio_poller_set_interrupt_fd(tt->accept_poller, tt->accept_epfd) != 0) {
		spio_poller_unregister(&tt->accept_poller);
		close(tt->accept_epfd);
		free(tt);
		*rc = -ENOMEM;
		return NULL;
	}
	/* Nothing to accept until the first listener. */
	spio_poller_pause(tt->accept_poller);
	SPIO_NOTICELOG("TCP transport: max_queue_depth %u, max_io_size %u, io_unit_size %u, "
		       "in_capsule_data_size %u, max_aq_depth %u, num_shared_buffers %u, "
		       "c2h_success %d, sock_priority %d\n",
		       tt->base.opts.max_queue_depth, tt->base.opts.max_io_size,
		       tt->base.opts.io_unit_size, tt->base.opts.in_capsule_data_size,
		       tt->base.opts.max_aq_depth, tt->base.opts.num_shared_buffers,
		       tt->base.opts.c2h_success, tt->base.opts.sock_priority);
	*rc = 0;
	return &tt->base;
}

void nvmf_tcp_listener_put(struct tcp_listener *l)
{
	if (atomic_fetch_sub(&l->refs, 1) == 1) {
		free(l);
	}
}

static void listener_close(struct tcp_transport *tt, struct tcp_listener *l)
{
	TAILQ_REMOVE(&tt->listeners, l, link);
	epoll_ctl(tt->accept_epfd, EPOLL_CTL_DEL, l->fd, NULL);
	close(l->fd);
	l->fd = -1;
	if (TAILQ_EMPTY(&tt->listeners)) {
		spio_poller_pause(tt->accept_poller);
	}
	nvmf_tcp_listener_put(l);
}

static void tcp_destroy(struct nvmf_transport *transport)
{
	struct tcp_transport *tt = tcp_transport(transport);

	while (!TAILQ_EMPTY(&tt->listeners)) {
		listener_close(tt, TAILQ_FIRST(&tt->listeners));
	}
	if (atomic_load(&tt->nconns) != 0) {
		/* The core disconnects every queue pair before; a leftover would touch freed
		 * memory. */
		SPIO_ERRLOG("TCP transport destroyed with %u connections left\n",
			    atomic_load(&tt->nconns));
	}
	spio_poller_unregister(&tt->accept_poller);
	close(tt->accept_epfd);
	free(tt);
}

static bool trid_same_address(const struct spio_nvme_transport_id *a,
			      const struct spio_nvme_transport_id *b)
{
	return a->adrfam == b->adrfam && strcasecmp(a->traddr, b->traddr) == 0 &&
	       strcmp(a->trsvcid, b->trsvcid) == 0;
}

static struct tcp_listener *find_listener(const struct tcp_transport *tt,
					  const struct spio_nvme_transport_id *trid)
{
	struct tcp_listener *l;

	TAILQ_FOREACH (l, &tt->listeners, link) {
		if (trid_same_address(&l->trid, trid)) {
			return l;
		}
	}
	return NULL;
}

/* A port as SPDK takes it: decimal 1..65535. */
static bool valid_port(const char *s)
{
	char *end = NULL;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9') {
		return false;
	}
	v = strtoul(s, &end, 10);
	return *end == '\0' && v >= 1 && v <= 65535;
}

static int open_listen_socket(const struct spio_nvme_transport_id *trid, int priority)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int one = 1, fd, rc;

	hints.ai_family = trid->adrfam == SPIO_NVMF_ADRFAM_IPV6 ? AF_INET6 : AF_INET;
	rc = getaddrinfo(trid->traddr, trid->trsvcid, &hints, &res);
	if (rc != 0 || res == NULL) {
		SPIO_ERRLOG("TCP: cannot resolve %s port %s: %s\n", trid->traddr, trid->trsvcid,
			    gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		freeaddrinfo(res);
		return rc;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* An IPv6 listener must not take the IPv4 port too: both may be listed. */
	if (res->ai_family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (priority != 0) {
		setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &priority, sizeof(priority));
	}
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, TCP_LISTEN_BACKLOG) != 0) {
		rc = -errno;
		SPIO_ERRLOG("TCP: cannot listen on %s port %s: %s\n", trid->traddr, trid->trsvcid,
			    strerror(errno));
		freeaddrinfo(res);
		close(fd);
		return rc;
	}
	freeaddrinfo(res);
	return fd;
}

static int tcp_listen(struct nvmf_transport *transport, const struct spio_nvme_transport_id *trid)
{
	struct tcp_transport *tt = tcp_transport(transport);
	struct epoll_event ev = {.events = EPOLLIN};
	struct tcp_listener *l;
	int fd;

	if (trid == NULL || trid->trtype != SPIO_NVME_TRANSPORT_TCP ||
	    (trid->adrfam != SPIO_NVMF_ADRFAM_IPV4 && trid->adrfam != SPIO_NVMF_ADRFAM_IPV6) ||
	    trid->traddr[0] == '\0' || !valid_port(trid->trsvcid)) {
		return -EINVAL;
	}
	if (find_listener(tt, trid) != NULL) {
		return -EEXIST;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		return -ENOMEM;
	}
	fd = open_listen_socket(trid, transport->opts.sock_priority);
	if (fd < 0) {
		free(l);
		return fd;
	}
	l->tt = tt;
	l->trid = *trid;
	l->fd = fd;
	atomic_init(&l->refs, 1);
	ev.data.ptr = l;
	if (epoll_ctl(tt->accept_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		int rc = -errno;

		close(fd);
		free(l);
		return rc;
	}
	TAILQ_INSERT_TAIL(&tt->listeners, l, link);
	spio_poller_resume(tt->accept_poller);
	SPIO_NOTICELOG("NVMe/TCP target listening on %s port %s\n", trid->traddr, trid->trsvcid);
	return 0;
}

static void tcp_stop_listen(struct nvmf_transport *transport,
			    const struct spio_nvme_transport_id *trid)
{
	struct tcp_transport *tt = tcp_transport(transport);
	struct tcp_listener *l = trid != NULL ? find_listener(tt, trid) : NULL;

	if (l != NULL) {
		/* Connections made through it stay: the core decides about them. */
		listener_close(tt, l);
	}
}

/* Refuse a socket beyond a limit; one line per burst of refusals. */
static void refuse(struct tcp_listener *l, int fd, const char *why)
{
	close(fd);
	if (!l->refusing) {
		l->refusing = true;
		SPIO_WARNLOG("TCP %s port %s: refusing new connections: %s\n", l->trid.traddr,
			     l->trid.trsvcid, why);
	}
}

static uint32_t max_conns_per_listener(const struct tcp_transport *tt)
{
	uint32_t max = nvmf_tgt_get_max_connections_per_listener(tt->base.tgt);

	return max != 0 ? max : UINT32_MAX;
}

/* Accept up to a batch from one listener. \return sockets taken. */
static int accept_some(struct tcp_transport *tt, struct tcp_listener *l)
{
	uint32_t limit = max_conns_per_listener(tt);
	int n = 0;

	while (n < TCP_ACCEPT_BATCH) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct tcp_conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK && !l->refusing) {
				/* EMFILE and the like: the level-triggered set retries next poll.
				 */
				l->refusing = true;
				SPIO_ERRLOG("TCP %s port %s: accept failed: %s\n", l->trid.traddr,
					    l->trid.trsvcid, strerror(errno));
			}
			break;
		}
		n++;
		if (atomic_load(&l->nconns) >= limit) {
			refuse(l, fd, "max_connections_per_listener reached");
			continue;
		}
		if (atomic_load(&tt->preconnect) >= TCP_PRECONNECT_MAX) {
			refuse(l, fd, "too many connections not yet connected");
			continue;
		}
		c = nvmf_tcp_conn_new(l, fd);
		if (c == NULL) {
			refuse(l, fd, "out of memory");
			continue;
		}
		l->refusing = false;
	}
	return n;
}

static int accept_poll(void *arg)
{
	struct tcp_transport *tt = arg;
	struct epoll_event ev[8];
	int n, busy = 0;

	n = epoll_wait(tt->accept_epfd, ev, SPIO_COUNTOF(ev), 0);
	for (int i = 0; i < n; i++) {
		busy += accept_some(tt, ev[i].data.ptr);
	}
	return busy > 0 ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
}

static uint32_t tcp_get_icdsz(const struct nvmf_transport *transport)
{
	return transport->opts.in_capsule_data_size;
}

uint32_t nvmf_tcp_get_conn_count(const struct nvmf_transport *transport)
{
	return atomic_load(&tcp_transport(transport)->nconns);
}

uint32_t nvmf_tcp_get_listener_conn_count(const struct nvmf_transport *transport,
					  const struct spio_nvme_transport_id *trid)
{
	const struct tcp_listener *l = find_listener(tcp_transport(transport), trid);

	return l != NULL ? atomic_load(&l->nconns) : UINT32_MAX;
}

const struct nvmf_transport_ops g_nvmf_tcp_ops = {
    .name = "TCP",
    .trtype = SPIO_NVME_TRANSPORT_TCP,
    .opts_init = tcp_opts_init,
    .create = tcp_create,
    .destroy = tcp_destroy,
    .listen = tcp_listen,
    .stop_listen = tcp_stop_listen,
    .poll_group_create = nvmf_tcp_poll_group_create,
    .poll_group_destroy = nvmf_tcp_poll_group_destroy,
    .req_complete = nvmf_tcp_req_complete,
    .qpair_fini = nvmf_tcp_qpair_fini,
    .qpair_close = nvmf_tcp_qpair_close,
    .get_icdsz = tcp_get_icdsz,
};
