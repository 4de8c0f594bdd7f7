/*
 * NVMe-oF TCP transport internals, shared by tcp.c (transport, listeners,
 * accept), tcp_group.c (poll groups: sockets, data buffer pool, batched
 * sends) and tcp_conn.c (the connection and request state machines).
 *
 * Threads: the transport and its listeners belong to the target thread; a
 * poll group and every connection it owns belong to the group's thread. The
 * only state both sides touch are the atomic counters (connections per
 * listener, connections not yet through their Connect) and the listener's
 * reference count.
 */
#ifndef SPIO_NVMF_TCP_INTERNAL_H
#define SPIO_NVMF_TCP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spio/util.h"

#include "nvme/nvme_tcp_pdu.h"
#include "nvmf/nvmf_internal.h"

/* Admin and fabrics commands may carry this much in-capsule data, whatever the ICD size. */
#define TCP_ADMIN_ICD_SIZE 8192u
/* I/O queues still take a Connect's data in the capsule. */
#define TCP_CONNECT_DATA_SIZE 1024u
/* SO_PRIORITY range SPDK accepts. */
#define TCP_MAX_SOCK_PRIORITY 16
/* Bytes read per recv() into the group's receive buffer. */
#define TCP_RX_BUF_SIZE (64u * 1024)
/* Most bytes taken from one connection per poll, so the others get their turn. */
#define TCP_RX_BUDGET (512u * 1024)
/* iovecs per sendmsg(). */
#define TCP_TX_IOV_MAX 64
/* Connections accepted but not through their Connect, across the transport. */
#define TCP_PRECONNECT_MAX 1024u
/* A connection that has not connected by then is closed (half-open clients). */
#define TCP_PRECONNECT_TIMEOUT_MS 10000u
/*
 * Read data of at least this many bytes goes out with MSG_ZEROCOPY (SPDK's
 * enable_zerocopy_send_server) where zero-copy is on: below it, pinning the
 * pages and reading the kernel's completion cost more than the copy saves.
 */
#define TCP_ZCOPY_REQ_MIN (32u * 1024)

struct tcp_transport;
struct tcp_group;
struct tcp_conn;

/* One address the transport listens on. */
struct tcp_listener {
	struct tcp_transport *tt;
	struct spio_nvme_transport_id trid;
	int fd;
	/* One reference while listening, one per connection accepted through it. */
	atomic_uint refs;
	atomic_uint nconns; /* live connections accepted through it */
	bool refusing;	    /* a refusal was logged and nothing was accepted since */
	TAILQ_ENTRY(tcp_listener) link;
};

struct tcp_transport {
	struct nvmf_transport base; /* first: the core's view */
	struct spio_thread *thread; /* the target thread */
	struct spio_poller *accept_poller;
	int accept_epfd; /* the listening sockets */
	TAILQ_HEAD(, tcp_listener) listeners;
	atomic_uint preconnect; /* connections not yet through their Connect */
	atomic_uint nconns;	/* live connections */
	/* Zero-copy sends of finished connections, and how many the kernel reported done. */
	atomic_uint_least64_t zc_sends, zc_done;
};

enum tcp_req_state {
	TCP_REQ_FREE,
	TCP_REQ_RX_DATA,   /* its in-capsule data is arriving */
	TCP_REQ_NEED_BUF,  /* waiting for data buffers of the group's pool */
	TCP_REQ_H2C,	   /* R2T queued or sent, H2CData arriving */
	TCP_REQ_EXECUTING, /* with the core */
	TCP_REQ_TX,	   /* its response PDUs are being sent */
};

struct tcp_req {
	struct nvmf_request req; /* the core's view */
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl rsp;
	struct tcp_conn *conn;
	enum tcp_req_state state;
	uint16_t ttag;			 /* index + 1: R2T's transfer tag */
	uint8_t pending_sends;		 /* its PDUs still in the send queue */
	bool pool_bufs;			 /* req.iov holds pool buffers */
	bool ddgst_error;		 /* some of its H2C data failed the data digest */
	bool zc;			 /* its read data goes zero-copy; the response waits */
	bool zc_pending;		 /* a zero-copy send of it is not reported done yet */
	uint32_t zc_seq;		 /* ... the last such send's number */
	uint32_t nbufs;			 /* pool buffers it needs / holds */
	uint32_t h2c_got;		 /* H2C data received (the next DATAO expected) */
	uint8_t *icd_buf;		 /* own buffer for in-capsule and small transfers */
	struct nvme_tcp_tx_pdu data_pdu; /* R2T or C2HData */
	struct nvme_tcp_tx_pdu rsp_pdu;	 /* CapsuleResp */
	TAILQ_ENTRY(tcp_req) link;	 /* free list, buffer waiters or zero-copy waiters */
};

enum tcp_conn_state {
	TCP_CONN_IC_WAIT, /* waiting for ICReq */
	TCP_CONN_RUNNING,
	TCP_CONN_CLOSING, /* socket shut; waiting for the core's qpair_fini */
	TCP_CONN_FINI,	  /* the core is done (memory is being freed) */
};

struct tcp_tx_entry {
	struct nvme_tcp_tx_pdu *pdu;
	struct tcp_req *treq; /* NULL for the connection's own PDUs */
	bool zc;	      /* sent on its own, with MSG_ZEROCOPY */
};

struct tcp_conn {
	struct nvmf_qpair qpair; /* first: the core's view */
	struct tcp_transport *tt;
	struct tcp_group *tg;
	struct tcp_listener *listener;
	int fd;
	enum tcp_conn_state state;
	uint32_t epoll_events; /* what the group's epoll set watches for it */
	bool connected;	       /* its Connect succeeded */
	bool grow;	       /* ... and its requests are to be sized for the queue */
	bool preconnect;       /* counted in tt->preconnect */
	bool sqfc_disabled;    /* its Connect disabled SQ flow control */
	bool tx_blocked;       /* the socket is full: wait for EPOLLOUT */
	bool in_flush;	       /* on the group's flush list */
	bool disconnecting;    /* nvmf_qpair_disconnect() was called */
	bool no_term_req;      /* the peer sent a term req: answer none */
	bool zcopy;	       /* large read data goes MSG_ZEROCOPY (SO_ZEROCOPY is on) */
	uint16_t qid;	       /* from its Connect */
	uint64_t accept_tsc;
	struct nvme_tcp_rx rx;
	struct nvme_tcp_tx_params tx_params;
	struct tcp_req *rx_req; /* whose data the current PDU carries */
	/* Requests: one from the first capsule, the queue's depth once connected. */
	struct tcp_req *reqs;
	uint32_t depth;
	uint32_t icd_size; /* bytes of each request's own buffer */
	uint8_t *icd_mem;
	TAILQ_HEAD(, tcp_req) free_reqs;
	/* Send queue: a ring of PDUs; `txq_small` until the requests exist. */
	struct tcp_tx_entry *txq;
	uint32_t txq_size, txq_head, txq_count;
	uint32_t tx_head_off; /* bytes of the head entry already sent */
	struct tcp_tx_entry txq_small[2];
	/*
	 * Zero-copy: the kernel numbers our MSG_ZEROCOPY sends from 0 and says
	 * which ones it is done with. A request whose data went that way waits
	 * here, its response not yet sent, until then: its PDU and buffers are
	 * still read, and the host must not see it complete (and reuse the
	 * queue slot) before the target can reuse the request.
	 */
	uint32_t zc_next; /* the number of the next zero-copy send */
	TAILQ_HEAD(, tcp_req) zc_wait;
	uint64_t zc_sends, zc_done;	  /* counts, for tests */
	struct nvme_tcp_tx_pdu ctl_pdu;	  /* ICResp */
	struct nvme_tcp_tx_pdu term_pdu;  /* C2HTermReq */
	TAILQ_ENTRY(tcp_conn) link;	  /* the group's connections */
	TAILQ_ENTRY(tcp_conn) flush_link; /* the group's flush list */
};

/* Per poll group state: the transport's nvmf_transport_poll_group. */
struct tcp_group {
	struct tcp_transport *tt;
	struct nvmf_poll_group *group;
	struct spio_thread *thread;
	struct spio_poller *poller;
	struct spio_poller *timeout_poller;
	int epfd; /* the connections' sockets; the poller's interrupt fd */
	uint8_t *rx_buf;
	/*
	 * Data buffer pool: up to num_shared_buffers buffers of io_unit_size in
	 * DMA memory (a PCIe bdev reaches only that), in slabs allocated when
	 * first needed (tcp_group.c).
	 */
	uint8_t **slabs;
	uint32_t nslabs;
	uint32_t slab_bufs; /* buffers per slab */
	uint32_t nbufs;	    /* buffers in the slabs */
	uint32_t max_bufs;  /* num_shared_buffers */
	bool grow_failed;   /* no DMA memory for another slab: stop trying */
	size_t buf_stride;
	void **free_bufs;
	uint32_t nfree;
	bool serving_waiters;
	TAILQ_HEAD(, tcp_req) buf_waiters;
	TAILQ_HEAD(, tcp_conn) conns;
	TAILQ_HEAD(, tcp_conn) flush;
	uint32_t npreconnect; /* its connections not yet connected */
};

static inline struct tcp_transport *tcp_transport(const struct nvmf_transport *t)
{
	return SPIO_CONTAINEROF(t, struct tcp_transport, base);
}

static inline struct tcp_conn *tcp_conn(const struct nvmf_qpair *q)
{
	return SPIO_CONTAINEROF(q, struct tcp_conn, qpair);
}

/* The core keeps the group state as an opaque pointer; it is our tcp_group. */
static inline struct tcp_group *tcp_group(struct nvmf_transport_poll_group *tgroup)
{
	return (struct tcp_group *)(void *)tgroup;
}

/*
 * tcp_group.c
 */
struct nvmf_transport_poll_group *nvmf_tcp_poll_group_create(struct nvmf_transport *transport,
							     struct nvmf_poll_group *group);
void nvmf_tcp_poll_group_destroy(struct nvmf_transport_poll_group *tgroup);
/* Start watching a new connection's socket. \return 0 or -errno. */
int nvmf_tcp_group_add_conn(struct tcp_group *tg, struct tcp_conn *c);
/* Stop watching it (closing). */
void nvmf_tcp_group_remove_conn(struct tcp_group *tg, struct tcp_conn *c);
/* The connection has PDUs to send: flush it at the end of this poll. */
void nvmf_tcp_group_want_flush(struct tcp_group *tg, struct tcp_conn *c);
/* Watch for the socket becoming writable (or stop). */
void nvmf_tcp_group_watch_out(struct tcp_group *tg, struct tcp_conn *c, bool on);
/*
 * Give `treq` the pool buffers for `treq->req.length` bytes, or queue it
 * behind the requests already waiting. \return true if it has them now.
 */
bool nvmf_tcp_group_get_bufs(struct tcp_group *tg, struct tcp_req *treq);
/* Return its buffers and serve the waiters that can now be served. */
void nvmf_tcp_group_put_bufs(struct tcp_group *tg, struct tcp_req *treq);
/* Take a waiting request off the queue (its connection closes). */
void nvmf_tcp_group_cancel_wait(struct tcp_group *tg, struct tcp_req *treq);
/* A pre-connect connection arrived or left: run the timeout poller while there are any. */
void nvmf_tcp_group_preconnect_changed(struct tcp_group *tg, int delta);

/*
 * tcp_conn.c
 */
/* Set up a just accepted connection (target thread). \return it, or NULL. */
struct tcp_conn *nvmf_tcp_conn_new(struct tcp_listener *l, int fd);
/* Read and handle what the socket has. \return true if it did anything. */
bool nvmf_tcp_conn_recv(struct tcp_conn *c);
/* Send what the queue holds, as far as the socket takes it. */
void nvmf_tcp_conn_flush(struct tcp_conn *c);
/* Close it: C2HTermReq when `proto_error`, then the core's disconnect. */
void nvmf_tcp_conn_close(struct tcp_conn *c, bool proto_error, const char *reason);
/* Pool buffers became available for a waiting request. */
void nvmf_tcp_req_have_bufs(struct tcp_req *treq);
/* The kernel is done with a request's zero-copy data: send its response. */
void nvmf_tcp_req_zcopy_done(struct tcp_req *treq);
/* Its connection is gone: recycle a request that waited for the kernel. */
void nvmf_tcp_req_zcopy_abandon(struct tcp_req *treq);

/*
 * tcp_zcopy.c: MSG_ZEROCOPY for a connection's large sends.
 */
/*
 * Ask for zero-copy sends on a new connection's socket: by default only
 * when the peer is on another host (on loopback the kernel copies anyway and
 * holds the pages until the reader has read). \return whether they are on.
 */
bool nvmf_tcp_zcopy_enable(int fd);
/*
 * Read the socket's zero-copy completions and release the requests they
 * cover. \return whether the error queue held any.
 */
bool nvmf_tcp_zcopy_reap(struct tcp_conn *c);
/*
 * At qpair_fini: add the connection's counts to the transport's and, if
 * requests still wait, close the socket with a reset (so nothing more is
 * read from their memory) and recycle them.
 */
void nvmf_tcp_zcopy_abort(struct tcp_conn *c);
/* The transport ops the core calls for requests and queue pairs. */
void nvmf_tcp_req_complete(struct nvmf_request *req);
void nvmf_tcp_qpair_fini(struct nvmf_qpair *qpair);
void nvmf_tcp_qpair_close(struct nvmf_qpair *qpair);
/* Drop a listener reference (any thread); the last one frees it. */
void nvmf_tcp_listener_put(struct tcp_listener *l);

/*
 * Test hooks
 */
/* Zero-copy on connections accepted from now on. Any thread. */
enum nvmf_tcp_zcopy_mode {
	NVMF_TCP_ZCOPY_REMOTE, /* the default: peers on other hosts only */
	NVMF_TCP_ZCOPY_OFF,
	NVMF_TCP_ZCOPY_ALWAYS, /* loopback too (tests) */
};
void nvmf_tcp_set_zcopy(enum nvmf_tcp_zcopy_mode mode);
/* Change the pre-connect timeout (ms; 0 restores the default). Any thread, before connections. */
void nvmf_tcp_set_preconnect_timeout_ms(uint32_t ms);
uint32_t nvmf_tcp_get_preconnect_timeout_ms(void);
/* Zero-copy sends of the transport's finished connections, and those reported done. */
void nvmf_tcp_get_zcopy_counts(const struct nvmf_transport *transport, uint64_t *sends,
			       uint64_t *done);
/* Live connections of the transport, and of its listener on `trid` (UINT32_MAX: none). */
uint32_t nvmf_tcp_get_conn_count(const struct nvmf_transport *transport);
uint32_t nvmf_tcp_get_listener_conn_count(const struct nvmf_transport *transport,
					  const struct spio_nvme_transport_id *trid);

#endif /* SPIO_NVMF_TCP_INTERNAL_H */
