/*
 * Fake NVMe/TCP target for tests (see helper_fake_target.h).
 *
 * One thread accepts, one thread per connection serves it: it blocks in
 * poll() on its socket and an eventfd other threads write to wake it (stop,
 * drop, an async event to deliver). Only that thread reads or writes its
 * socket; sends block with poll() on the same eventfd, so stop never waits
 * on a host that does not read. One mutex guards what threads share:
 * namespaces, controllers, faults, counters and the connection list.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nvme/nvme_fabric.h"
#include "nvme/nvme_tcp_pdu.h"

#include "helper_fake_target.h"

#define BLOCK_SIZE 512u
#define DEFAULT_NS_SIZE (64ull * 1024 * 1024)
#define DEFAULT_MAXH2CDATA 131072u
#define DEFAULT_C2H_MAX 131072u
#define DEFAULT_MQES 127
#define DEFAULT_IO_QUEUES 8
/* In-capsule data: what IOCCSZ says on I/O queues; hosts send admin data up to 8 KiB in-capsule. */
#define IO_ICD_SIZE 4096u
#define ADMIN_ICD_SIZE 8192u
#define AERL 3 /* 0's based: four AERs held at most */
#define RX_BUF_SIZE 65536u
/* Longest a connection waits in poll() before it looks at its state again. */
#define POLL_MAX_MS 1000
/* How long drop_connections waits for the sockets to close. */
#define DROP_TIMEOUT_MS 5000

static const char *const g_fault_names[FAULT_COUNT] = {
    [FAULT_BAD_HDGST] = "bad header digest",
    [FAULT_BAD_DDGST] = "bad data digest",
    [FAULT_TRUNCATE] = "truncated PDU",
    [FAULT_OVERSIZE_C2H] = "oversized C2HData",
    [FAULT_UNKNOWN_PDU_TYPE] = "unknown PDU type",
    [FAULT_C2H_UNKNOWN_CID] = "C2HData for an unknown cid",
    [FAULT_CLOSE_MID_DATA] = "close mid data",
    [FAULT_DROP_RESPONSE] = "dropped response",
    [FAULT_STATUS] = "error status",
    [FAULT_DELAY_MS] = "delay",
};

struct fake_ns {
	uint8_t *data; /* NULL: not there */
	uint64_t size;
};

struct conn;

/* A controller lives as long as its admin connection. */
struct fake_ctrlr {
	struct fake_ctrlr *next;
	struct conn *admin;
	uint16_t cntlid;
	bool discovery;
	char hostnqn[SPIO_NVMF_NQN_MAX_LEN + 1];
	/* Under the target's lock: other threads read or change them. */
	uint32_t cc;
	uint32_t csts;
	uint32_t feat[256];
	uint16_t aer_cids[AERL + 1];
	uint32_t aer_count;
	bool aen_pending; /* a namespace notice waits for an AER */
	bool aen_masked;  /* a notice went out and its log page was not read yet */
	uint64_t changed; /* bit n: namespace n changed since the log was read */
	/* The admin connection's thread only. */
	uint32_t kato_ms;
	uint64_t ka_deadline_ns;
};

/* A command that stays outstanding on a connection: waiting for its data, or dropped. */
enum slot_state { SLOT_FREE, SLOT_R2T, SLOT_DROPPED };

struct slot {
	enum slot_state state;
	bool ddgst_error;
	struct spio_nvme_cmd cmd;
	uint8_t *buf;
	uint32_t len;	  /* data the command carries */
	uint32_t got;	  /* received so far */
	uint32_t r2t_end; /* end of the range the current R2T asked for */
};

struct conn {
	struct conn *next;
	struct fake_target *ft;
	pthread_t thread;
	int fd; /* closed, under the lock, by the connection's thread */
	int wake_fd;
	atomic_bool drop;
	/* Under the lock: others look connections up by controller and queue. */
	bool done;
	bool connected;
	uint16_t qid;
	uint16_t cntlid;
	/* The rest belongs to the connection's thread. */
	struct fake_ctrlr *ctrlr; /* admin queue: the controller it made */
	bool closing;
	struct nvme_tcp_rx rx;
	struct nvme_tcp_tx_params tx;
	uint16_t sqsize;
	uint16_t sqhd;
	uint8_t *icd;
	uint32_t icd_len;
	struct iovec data_iov; /* where the PDU data being received goes */
	struct slot *slots;    /* sqsize + 1, indexed by the R2T transfer tag */
	uint32_t nslots;
	uint8_t rx_buf[RX_BUF_SIZE];
};

struct armed_fault {
	bool armed;
	uint32_t arg;
	int qid;
};

struct fake_target {
	struct fake_target_opts opts;
	char subnqn[SPIO_NVMF_NQN_MAX_LEN + 1];
	char **allowed; /* NULL: any host */
	size_t nallowed;
	int listen_fd;
	int wake_fd;
	uint16_t port;
	pthread_t acceptor;
	bool acceptor_started;
	atomic_bool stopping;
	pthread_mutex_t lock;
	pthread_cond_t cv; /* stats changed or a connection closed */
	struct fake_ns ns[FAKE_TARGET_MAX_NS + 1];
	struct fake_ctrlr *ctrlrs;
	uint16_t next_cntlid;
	struct conn *conns;
	struct armed_fault faults[FAULT_COUNT];
	struct fake_target_stats stats;
};

/* A command being answered. */
struct req {
	struct conn *c;
	struct spio_nvme_cmd cmd;
	enum spio_nvme_data_transfer xfer;
	uint8_t *data; /* host to controller: the host's data; else the buffer to fill */
	uint32_t len;  /* its length; a handler may lower it for what it returns */
	struct spio_nvme_cpl cpl;
	bool held; /* answered later (AER) */
};

static void vlog(const struct fake_target *ft, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void vlog(const struct fake_target *ft, const char *fmt, ...)
{
	va_list ap;

	if (!ft->opts.verbose) {
		return;
	}
	va_start(ap, fmt);
	fprintf(stderr, "fake_target %u: ", ft->port);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void lock(struct fake_target *ft)
{
	pthread_mutex_lock(&ft->lock);
}

static void unlock(struct fake_target *ft)
{
	pthread_mutex_unlock(&ft->lock);
}

/* Unlock after changing stats: waiters re-check their predicate. */
static void unlock_notify(struct fake_target *ft)
{
	pthread_cond_broadcast(&ft->cv);
	pthread_mutex_unlock(&ft->lock);
}

static void wake(int fd)
{
	uint64_t one = 1;
	ssize_t rc = write(fd, &one, sizeof(one));

	(void)rc; /* an eventfd that is already signalled is good enough */
}

static void drain(int fd)
{
	uint64_t v;
	ssize_t rc = read(fd, &v, sizeof(v));

	(void)rc;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v)); /* the header asserts a little-endian host */
}

/* Copy `s` into a space-padded text field without NUL, as Identify wants. */
static void pad_copy(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	memset(dst, ' ', size);
	memcpy(dst, s, n < size ? n : size);
}

static void set_status(struct spio_nvme_cpl *cpl, uint8_t sct, uint8_t sc)
{
	cpl->status.sct = sct;
	cpl->status.sc = sc;
	cpl->status.dnr = 1;
}

static void req_error(struct req *r, uint8_t sc)
{
	set_status(&r->cpl, SPIO_NVME_SCT_GENERIC, sc);
}

static bool req_ok(const struct req *r)
{
	return r->cpl.status.sct == 0 && r->cpl.status.sc == 0;
}

/*
 * Sending
 */

static bool conn_must_end(struct conn *c)
{
	return c->closing || atomic_load(&c->drop) || atomic_load(&c->ft->stopping);
}

/* Write all of `iov` (modified), waiting in poll() while the socket is full. */
static int conn_sendv(struct conn *c, struct iovec *iov, int iovcnt)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};

	while (msg.msg_iovlen > 0) {
		ssize_t n;

		if (conn_must_end(c)) {
			c->closing = true;
			return -1;
		}
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			struct pollfd p[2] = {{.fd = c->fd, .events = POLLOUT},
					      {.fd = c->wake_fd, .events = POLLIN}};

			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				c->closing = true;
				return -1;
			}
			if (poll(p, 2, POLL_MAX_MS) > 0 && p[1].revents != 0) {
				/* The main loop looks at everything a wake-up can mean anyway. */
				drain(c->wake_fd);
			}
			continue;
		}
		while (msg.msg_iovlen > 0 && (size_t)n >= msg.msg_iov->iov_len) {
			n -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen > 0) {
			msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + n;
			msg.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static bool qid_matches(int filter, uint16_t qid)
{
	return filter == FAKE_QID_ANY || (filter == FAKE_QID_IO && qid > 0) || filter == (int)qid;
}

/* Take the armed fault `f` if it applies to this connection. */
static bool fault_claim(struct conn *c, enum fake_fault f, uint32_t *arg)
{
	struct fake_target *ft = c->ft;
	struct armed_fault *a = &ft->faults[f];
	bool hit;

	lock(ft);
	hit = a->armed && c->connected && qid_matches(a->qid, c->qid);
	if (hit) {
		a->armed = false;
		*arg = a->arg;
		ft->stats.faults_fired[f]++;
	}
	unlock_notify(ft);
	if (hit) {
		vlog(ft, "cntlid %u qid %u: fault: %s (arg %u)\n", c->cntlid, c->qid,
		     g_fault_names[f], *arg);
	}
	return hit;
}

/*
 * Send a sealed PDU. `faultable`: the PDU answers a non-Fabrics command, so
 * the PDU-level faults may hit it.
 */
static int send_pdu(struct conn *c, struct nvme_tcp_tx_pdu *pdu, bool faultable)
{
	struct iovec iov[4];
	uint32_t arg, left;
	int n;

	if (faultable) {
		uint8_t type = pdu->hdr.common.pdu_type;

		if ((pdu->hdr.common.flags & SPIO_NVME_TCP_CH_FLAGS_HDGSTF) &&
		    fault_claim(c, FAULT_BAD_HDGST, &arg)) {
			pdu->hdr.raw[pdu->hdr.common.hlen] ^= 0xff;
		}
		if (pdu->has_ddgst && type == SPIO_NVME_TCP_PDU_TYPE_C2H_DATA &&
		    fault_claim(c, FAULT_BAD_DDGST, &arg)) {
			pdu->ddgst[0] ^= 0xff;
		}
	}
	n = nvme_tcp_tx_pdu_iov(pdu, iov, 4);
	if (n < 0) {
		c->closing = true;
		return -1;
	}
	if (!faultable || !fault_claim(c, FAULT_TRUNCATE, &arg)) {
		return conn_sendv(c, iov, n);
	}
	/* Half the PDU (at least a byte), then the connection ends. */
	left = nvme_tcp_tx_pdu_len(pdu) / 2;
	left = left > 0 ? left : 1;
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len >= left) {
			iov[i].iov_len = left;
			n = i + 1;
			break;
		}
		left -= (uint32_t)iov[i].iov_len;
	}
	conn_sendv(c, iov, n);
	c->closing = true;
	return -1;
}

static int send_cpl(struct conn *c, struct spio_nvme_cpl *cpl, bool faultable)
{
	struct nvme_tcp_tx_pdu pdu;

	cpl->sqid = c->qid;
	cpl->sqhd = c->sqhd;
	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	pdu.hdr.capsule_resp.rccqe = *cpl;
	if (nvme_tcp_tx_pdu_seal(&pdu, &c->tx, NULL, 0, 0, 0) != 0) {
		c->closing = true;
		return -1;
	}
	return send_pdu(c, &pdu, faultable);
}

static void count_c2h(struct fake_target *ft)
{
	lock(ft);
	ft->stats.c2h_sent++;
	unlock_notify(ft);
}

/*
 * C2HData PDUs for bytes [0, len) of `buf`, at most `max` each. LAST_PDU
 * goes on the PDU that reaches `end` (the command's length; `len` < `end`
 * sends part of the data); SUCCESS with it when `success`.
 */
static int send_c2h(struct conn *c, uint16_t cid, uint8_t *buf, uint32_t len, uint32_t end,
		    uint32_t max, bool success)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	for (uint32_t off = 0; off < len;) {
		struct nvme_tcp_tx_pdu pdu;
		uint32_t chunk = len - off < max ? len - off : max;

		nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_C2H_DATA);
		pdu.hdr.c2h_data.cccid = cid;
		pdu.hdr.c2h_data.datao = off;
		pdu.hdr.c2h_data.datal = chunk;
		if (off + chunk == end) {
			pdu.hdr.common.flags |= SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU;
			if (success) {
				pdu.hdr.common.flags |= SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS;
			}
		}
		if (nvme_tcp_tx_pdu_seal(&pdu, &c->tx, &iov, 1, off, chunk) != 0 ||
		    send_pdu(c, &pdu, true) != 0) {
			c->closing = true;
			return -1;
		}
		count_c2h(c->ft);
		off += chunk;
	}
	return 0;
}

/* FAULT_OVERSIZE_C2H with arg N: a C2HData header claiming N bytes, and nothing after it. */
static void send_c2h_claim(struct conn *c, uint16_t cid, uint32_t claim)
{
	static const uint8_t zero[4];
	struct iovec iov = {.iov_base = (void *)(uintptr_t)zero, .iov_len = sizeof(zero)};
	struct nvme_tcp_tx_pdu pdu;
	struct iovec out = {.iov_base = pdu.hdr.raw};
	uint64_t plen;

	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_C2H_DATA);
	pdu.hdr.c2h_data.cccid = cid;
	pdu.hdr.common.flags |= SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU;
	/* Seal with a little real data for the layout, then make the header lie. */
	nvme_tcp_tx_pdu_seal(&pdu, &c->tx, &iov, 1, 0, sizeof(zero));
	plen = (uint64_t)pdu.hdr.common.pdo + claim + (pdu.has_ddgst ? 4 : 0);
	pdu.hdr.common.plen = plen > UINT32_MAX ? UINT32_MAX : (uint32_t)plen;
	pdu.hdr.c2h_data.datal = claim;
	if (pdu.hdr.common.flags & SPIO_NVME_TCP_CH_FLAGS_HDGSTF) {
		put_le32(pdu.hdr.raw + NVME_TCP_DATA_HLEN,
			 nvme_tcp_hdr_digest(pdu.hdr.raw, NVME_TCP_DATA_HLEN));
	}
	out.iov_len = pdu.hdr_len;
	conn_sendv(c, &out, 1);
	count_c2h(c->ft);
}

/* FAULT_OVERSIZE_C2H: one C2HData 512 bytes longer than the command, or a header claiming `arg`. */
static void send_c2h_oversize(struct conn *c, const struct req *r, uint32_t arg)
{
	uint32_t len = r->len + BLOCK_SIZE;
	uint8_t *big;

	if (arg != 0) {
		send_c2h_claim(c, r->cmd.cid, arg);
		return;
	}
	big = calloc(1, len);
	if (big != NULL) {
		memcpy(big, r->data, r->len);
		/* One PDU: its DATAL alone is beyond the command. */
		send_c2h(c, r->cmd.cid, big, len, len, UINT32_MAX, false);
		free(big);
	}
}

/* Send the data of a command that succeeded, with the data faults; false: no response follows. */
static bool send_read_data(struct conn *c, struct req *r, bool success_flag)
{
	uint16_t cid = r->cmd.cid;
	uint32_t arg;

	if (fault_claim(c, FAULT_OVERSIZE_C2H, &arg)) {
		send_c2h_oversize(c, r, arg);
		return false;
	}
	if (fault_claim(c, FAULT_CLOSE_MID_DATA, &arg)) {
		send_c2h(c, cid, r->data, r->len / 2, r->len, c->ft->opts.c2h_max, false);
		c->closing = true;
		return false;
	}
	if (send_c2h(c, cid, r->data, r->len, r->len, c->ft->opts.c2h_max, success_flag) != 0) {
		return false;
	}
	return !success_flag;
}

/* Answer a command: its data (commands that return data and succeeded), then its response. */
static void finish(struct req *r)
{
	struct conn *c = r->c;
	bool fabrics = r->cmd.opc == SPIO_NVME_OPC_FABRIC;

	if (r->held || c->closing) {
		return;
	}
	r->cpl.cid = r->cmd.cid;
	if (r->xfer == SPIO_NVME_DATA_CONTROLLER_TO_HOST && req_ok(r) && r->len > 0) {
		/* SUCCESS hides cdw0 / cdw1 from the host, so only when they are 0. */
		bool success_flag = c->ft->opts.c2h_success && r->cpl.cdw0 == 0 && r->cpl.cdw1 == 0;

		if (!send_read_data(c, r, success_flag)) {
			return;
		}
	}
	send_cpl(c, &r->cpl, !fabrics);
}

static int send_r2t(struct conn *c, uint32_t tag)
{
	struct slot *s = &c->slots[tag];
	uint32_t want = s->len - s->got;
	uint32_t max = c->ft->opts.r2t_max;
	struct nvme_tcp_tx_pdu pdu;

	if (max != 0 && want > max) {
		want = max;
	}
	s->r2t_end = s->got + want;
	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_R2T);
	pdu.hdr.r2t.cccid = s->cmd.cid;
	pdu.hdr.r2t.ttag = (uint16_t)tag;
	pdu.hdr.r2t.r2to = s->got;
	pdu.hdr.r2t.r2tl = want;
	if (nvme_tcp_tx_pdu_seal(&pdu, &c->tx, NULL, 0, 0, 0) != 0) {
		c->closing = true;
		return -1;
	}
	lock(c->ft);
	c->ft->stats.r2t_sent++;
	unlock_notify(c->ft);
	return send_pdu(c, &pdu, true);
}

/* Tell the host why its stream was refused, then end the connection. */
static void send_term_req(struct conn *c)
{
	struct fake_target *ft = c->ft;
	struct nvme_tcp_tx_pdu pdu;
	struct iovec iov[4];
	size_t len = 0;
	const void *hdr = nvme_tcp_rx_err_hdr(&c->rx, &len);
	int n;

	vlog(ft, "qid %u: bad stream from the host: %s (fes %u)\n", c->qid,
	     c->rx.err.reason != NULL ? c->rx.err.reason : "?", c->rx.err.fes);
	if (nvme_tcp_term_req_build(&pdu, SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ, c->rx.err.fes,
				    c->rx.err.fei, hdr, len) == 0) {
		n = nvme_tcp_tx_pdu_iov(&pdu, iov, 4);
		if (n > 0) {
			conn_sendv(c, iov, n);
		}
	}
	lock(ft);
	ft->stats.term_reqs_sent++;
	ft->stats.last_term_req_sent_fes = c->rx.err.fes;
	unlock_notify(ft);
	c->closing = true;
}

/*
 * Namespaces (callers hold the lock, except for ns_alloc / ns_free)
 */

/*
 * Anonymous mappings, not calloc: zero pages come lazily, and under ASan a
 * 64 MiB calloc / free costs some 80 ms per target. Bounds are checked in
 * each command.
 */
static uint8_t *ns_alloc(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void ns_free(uint8_t *data, uint64_t size)
{
	if (data != NULL) {
		munmap(data, size);
	}
}

static struct fake_ns *ns_get(struct fake_target *ft, uint32_t nsid)
{
	if (nsid == 0 || nsid > FAKE_TARGET_MAX_NS || ft->ns[nsid].data == NULL) {
		return NULL;
	}
	return &ft->ns[nsid];
}

/* Identifiers of a namespace: fixed per nsid, distinct, nonzero. */
static void ns_ids(uint32_t nsid, uint8_t nguid[16], uint8_t eui64[8], uint8_t uuid[16])
{
	static const uint8_t nguid_base[16] = {'s', 'p', 'i', 'o', 'f', 'a', 'k', 'e'};
	static const uint8_t eui_base[8] = {0x02, 'S', 'P', 'I', 'O'};
	static const uint8_t uuid_base[16] = {0x5f, 0xa6, 0xe0, 0x01, 0x3c, 0x1d, 0x40, 0x00,
					      0x80, 0x00, 0x5e, 0x10, 0x00, 0x00, 0x00, 0x00};

	memcpy(nguid, nguid_base, 16);
	memcpy(eui64, eui_base, 8);
	memcpy(uuid, uuid_base, 16);
	for (int i = 0; i < 4; i++) {
		uint8_t b = (uint8_t)(nsid >> (24 - 8 * i));

		nguid[12 + i] = b;
		uuid[12 + i] = b;
		if (i > 0) {
			eui64[4 + i] = b;
		}
	}
}

/* Record a namespace change in every I/O controller; notice it where enabled. */
static void ns_changed(struct fake_target *ft, uint32_t nsid)
{
	for (struct fake_ctrlr *ctrlr = ft->ctrlrs; ctrlr != NULL; ctrlr = ctrlr->next) {
		if (ctrlr->discovery) {
			continue;
		}
		ctrlr->changed |= 1ull << nsid;
		if ((ctrlr->feat[SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION] &
		     SPIO_NVME_OAES_NS_ATTRIBUTE_NOTICES) &&
		    !ctrlr->aen_masked) {
			ctrlr->aen_pending = true;
			wake(ctrlr->admin->wake_fd);
		}
	}
}

/*
 * Admin commands
 */

static void fill_cdata(struct fake_target *ft, const struct fake_ctrlr *ctrlr,
		       struct spio_nvme_ctrlr_data *cd)
{
	memset(cd, 0, sizeof(*cd));
	pad_copy(cd->sn, sizeof(cd->sn), "FAKE0001");
	pad_copy(cd->mn, sizeof(cd->mn), "spio fake target");
	pad_copy(cd->fr, sizeof(cd->fr), "0.1");
	cd->rab = 6;
	cd->cmic.multi_ctrlr = 1;
	cd->mdts = 5;
	cd->cntlid = ctrlr->cntlid;
	cd->ver.raw = SPIO_NVME_VERSION(1, 3, 0);
	cd->ctratt = SPIO_NVME_CTRATT_HOST_ID_128;
	cd->acl = 3;
	cd->aerl = AERL;
	cd->frmw.slot1_ro = 1;
	cd->frmw.num_slots = 1;
	cd->lpa.edlp = 1;
	cd->kas = 10; /* 100 ms units */
	cd->sqes = 0x66;
	cd->cqes = 0x44;
	cd->maxcmd = (uint16_t)(ft->opts.mqes + 1);
	cd->sgls = SPIO_NVME_SGLS_SUPPORTED | SPIO_NVME_SGLS_OFFSET | SPIO_NVME_SGLS_TRANSPORT;
	cd->ioccsz = (IO_ICD_SIZE + sizeof(struct spio_nvme_cmd)) / 16;
	cd->iorcsz = sizeof(struct spio_nvme_cpl) / 16;
	cd->msdbd = 1;
	if (ctrlr->discovery) {
		cd->cntrltype = SPIO_NVME_CTRLR_TYPE_DISCOVERY;
		snprintf(cd->subnqn, sizeof(cd->subnqn), "%s", SPIO_NVMF_DISCOVERY_NQN);
		return;
	}
	cd->cntrltype = SPIO_NVME_CTRLR_TYPE_IO;
	snprintf(cd->subnqn, sizeof(cd->subnqn), "%s", ft->subnqn);
	cd->oaes = SPIO_NVME_OAES_NS_ATTRIBUTE_NOTICES;
	cd->wctemp = 343;
	cd->cctemp = 373;
	cd->nn = FAKE_TARGET_MAX_NS;
	cd->oncs.compare = 1;
	cd->oncs.dsm = 1;
	cd->oncs.write_zeroes = 1;
}

static void fill_nsdata(uint32_t nsid, const struct fake_ns *ns, struct spio_nvme_ns_data *nd)
{
	uint8_t eui64[8];

	memset(nd, 0, sizeof(*nd));
	nd->nsze = ns->size / BLOCK_SIZE;
	nd->ncap = nd->nsze;
	nd->nuse = nd->nsze;
	nd->nmic.can_share = 1;
	nd->dlfeat.read_value = 1; /* deallocated blocks read as zeroes */
	nd->dlfeat.write_zero_deallocate = 1;
	memcpy(nd->nvmcap, &ns->size, sizeof(ns->size)); /* low 64 of 128 bits */
	nd->lbaf[0].lbads = 9;
	ns_ids(nsid, nd->nguid, eui64, (uint8_t[16]){0});
	memcpy(&nd->eui64, eui64, sizeof(eui64));
}

static size_t put_ns_desc(uint8_t *p, uint8_t type, const uint8_t *id, uint8_t len)
{
	struct spio_nvme_ns_id_desc *d = (struct spio_nvme_ns_id_desc *)p;

	d->nidt = type;
	d->nidl = len;
	memcpy(d->nid, id, len);
	return sizeof(*d) + len;
}

static void copy_out(struct req *r, const void *src, uint32_t size)
{
	memcpy(r->data, src, size < r->len ? size : r->len);
}

static void identify(struct req *r)
{
	struct fake_target *ft = r->c->ft;
	struct fake_ctrlr *ctrlr = r->c->ctrlr;
	uint32_t nsid = r->cmd.nsid;
	uint8_t cns = r->cmd.cdw10_bits.identify.cns;
	union {
		struct spio_nvme_ctrlr_data cdata;
		struct spio_nvme_ns_data nsdata;
		struct spio_nvme_ns_list list;
		uint8_t raw[SPIO_NVME_IDENTIFY_BUFLEN];
	} *buf = calloc(1, sizeof(*buf));
	struct fake_ns *ns;

	if (buf == NULL) {
		req_error(r, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	if (ctrlr->discovery && cns != SPIO_NVME_IDENTIFY_CTRLR) {
		req_error(r, SPIO_NVME_SC_INVALID_FIELD);
		free(buf);
		return;
	}
	lock(ft);
	switch (cns) {
	case SPIO_NVME_IDENTIFY_CTRLR:
		fill_cdata(ft, ctrlr, &buf->cdata);
		break;
	case SPIO_NVME_IDENTIFY_NS:
		if (nsid == 0 || nsid > FAKE_TARGET_MAX_NS) {
			req_error(r, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		} else if ((ns = ns_get(ft, nsid)) != NULL) {
			fill_nsdata(nsid, ns, &buf->nsdata);
		} /* else: an inactive nsid reads as zeroes */
		break;
	case SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST:
		if (nsid >= 0xFFFFFFFEu) {
			req_error(r, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
			break;
		}
		for (uint32_t id = nsid + 1, n = 0; id <= FAKE_TARGET_MAX_NS; id++) {
			if (ns_get(ft, id) != NULL) {
				buf->list.ns_list[n++] = id;
			}
		}
		break;
	case SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST:
		if (ns_get(ft, nsid) == NULL) {
			req_error(r, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		} else {
			uint8_t nguid[16], eui64[8], uuid[16];
			size_t off = 0;

			ns_ids(nsid, nguid, eui64, uuid);
			off += put_ns_desc(buf->raw + off, SPIO_NVME_NIDT_EUI64, eui64, 8);
			off += put_ns_desc(buf->raw + off, SPIO_NVME_NIDT_NGUID, nguid, 16);
			put_ns_desc(buf->raw + off, SPIO_NVME_NIDT_UUID, uuid, 16);
		}
		break;
	default:
		req_error(r, SPIO_NVME_SC_INVALID_FIELD);
		break;
	}
	unlock(ft);
	if (req_ok(r)) {
		copy_out(r, buf, sizeof(*buf));
	}
	free(buf);
}

static void fill_discovery_log(struct fake_target *ft, struct spio_nvmf_discovery_log_page *lp)
{
	struct spio_nvmf_discovery_log_page_entry *e = &lp->entries[0];
	char port[16];

	lp->genctr = 1;
	lp->numrec = 1;
	e->trtype = SPIO_NVMF_TRTYPE_TCP;
	e->adrfam = SPIO_NVMF_ADRFAM_IPV4;
	e->subtype = SPIO_NVMF_SUBTYPE_NVME;
	e->treq.secure_channel = SPIO_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED;
	e->portid = 1;
	e->cntlid = SPIO_NVMF_CNTLID_DYNAMIC;
	e->asqsz = (uint16_t)(ft->opts.mqes + 1);
	snprintf(port, sizeof(port), "%u", ft->port);
	pad_copy(e->trsvcid, sizeof(e->trsvcid), port);
	pad_copy(e->traddr, sizeof(e->traddr), "127.0.0.1");
	snprintf(e->subnqn, sizeof(e->subnqn), "%s", ft->subnqn);
	e->tsas.tcp.sectype = SPIO_NVMF_TCP_SECTYPE_NONE;
}

static void fill_health(struct fake_target *ft, struct spio_nvme_health_information_page *hp)
{
	hp->temperature = 300;
	hp->available_spare = 100;
	hp->available_spare_threshold = 10;
	/* Thousands of 512-byte units, rounded up. */
	hp->data_units_read[0] = (ft->stats.bytes_read / BLOCK_SIZE + 999) / 1000;
	hp->data_units_written[0] = (ft->stats.bytes_written / BLOCK_SIZE + 999) / 1000;
	hp->host_read_commands[0] = ft->stats.io_cmds[SPIO_NVME_OPC_READ];
	hp->host_write_commands[0] = ft->stats.io_cmds[SPIO_NVME_OPC_WRITE];
	hp->power_cycles[0] = 1;
	hp->power_on_hours[0] = 1;
}

/* Build log page `lid` into `page` (4096 bytes, zeroed); its size, or 0 for an unknown page. */
static uint32_t build_log(struct req *r, uint8_t lid, bool rae, uint8_t *page)
{
	struct fake_target *ft = r->c->ft;
	struct fake_ctrlr *ctrlr = r->c->ctrlr;

	if (ctrlr->discovery != (lid == SPIO_NVME_LOG_DISCOVERY)) {
		return 0;
	}
	switch (lid) {
	case SPIO_NVME_LOG_ERROR:
		return sizeof(struct spio_nvme_error_information_entry); /* elpe 0: one, empty */
	case SPIO_NVME_LOG_HEALTH_INFORMATION:
		fill_health(ft, (struct spio_nvme_health_information_page *)page);
		return sizeof(struct spio_nvme_health_information_page);
	case SPIO_NVME_LOG_FIRMWARE_SLOT: {
		struct spio_nvme_firmware_page *fw = (struct spio_nvme_firmware_page *)page;

		fw->afi.active_slot = 1;
		pad_copy(fw->revision[0], sizeof(fw->revision[0]), "0.1");
		return sizeof(*fw);
	}
	case SPIO_NVME_LOG_CHANGED_NS_LIST: {
		struct spio_nvme_ns_list *list = (struct spio_nvme_ns_list *)page;

		for (uint32_t id = 1, n = 0; id <= FAKE_TARGET_MAX_NS; id++) {
			if (ctrlr->changed & (1ull << id)) {
				list->ns_list[n++] = id;
			}
		}
		if (!rae) {
			ctrlr->changed = 0;
			ctrlr->aen_masked = false;
		}
		return sizeof(*list);
	}
	case SPIO_NVME_LOG_DISCOVERY:
		fill_discovery_log(ft, (struct spio_nvmf_discovery_log_page *)page);
		return sizeof(struct spio_nvmf_discovery_log_page) +
		       sizeof(struct spio_nvmf_discovery_log_page_entry);
	default:
		return 0;
	}
}

static void get_log_page(struct req *r)
{
	struct fake_target *ft = r->c->ft;
	uint8_t lid = r->cmd.cdw10_bits.get_log_page.lid;
	bool rae = r->cmd.cdw10_bits.get_log_page.rae;
	uint64_t numd = ((uint64_t)(r->cmd.cdw11 & 0xFFFF) << 16 | r->cmd.cdw10 >> 16) + 1;
	uint64_t offset = r->cmd.cdw12 | (uint64_t)r->cmd.cdw13 << 32;
	uint8_t *page = calloc(1, SPIO_NVME_IDENTIFY_BUFLEN);
	uint32_t size;

	if (page == NULL) {
		req_error(r, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	if (numd * 4 < r->len) {
		r->len = (uint32_t)(numd * 4);
	}
	lock(ft);
	size = build_log(r, lid, rae, page);
	unlock(ft);
	if (size == 0) {
		set_status(&r->cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVME_SC_INVALID_LOG_PAGE);
	} else if (offset % 4 != 0 || offset > size) {
		req_error(r, SPIO_NVME_SC_INVALID_FIELD);
	} else {
		uint64_t n = size - offset < r->len ? size - offset : r->len;

		memcpy(r->data, page + offset, n);
	}
	free(page);
}

static bool feature_supported(uint8_t fid)
{
	switch (fid) {
	case SPIO_NVME_FEAT_ARBITRATION:
	case SPIO_NVME_FEAT_POWER_MANAGEMENT:
	case SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD:
	case SPIO_NVME_FEAT_ERROR_RECOVERY:
	case SPIO_NVME_FEAT_NUMBER_OF_QUEUES:
	case SPIO_NVME_FEAT_INTERRUPT_COALESCING:
	case SPIO_NVME_FEAT_WRITE_ATOMICITY:
	case SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
	case SPIO_NVME_FEAT_KEEP_ALIVE_TIMER:
		return true;
	default:
		return false;
	}
}

static void ka_touch(struct fake_ctrlr *ctrlr)
{
	ctrlr->ka_deadline_ns = now_ns() + (uint64_t)ctrlr->kato_ms * 1000000u;
}

static void set_features(struct req *r)
{
	struct fake_target *ft = r->c->ft;
	struct fake_ctrlr *ctrlr = r->c->ctrlr;
	uint8_t fid = r->cmd.cdw10_bits.set_features.fid;
	uint32_t v = r->cmd.cdw11;

	if (!feature_supported(fid)) {
		req_error(r, SPIO_NVME_SC_INVALID_FIELD);
		return;
	}
	if (r->cmd.cdw10_bits.set_features.sv) {
		set_status(&r->cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC,
			   SPIO_NVME_SC_FEATURE_ID_NOT_SAVEABLE);
		return;
	}
	lock(ft);
	switch (fid) {
	case SPIO_NVME_FEAT_NUMBER_OF_QUEUES:
		/* The counts are fixed: answer with what the controller has. */
		if ((v & 0xFFFF) == 0xFFFF || (v >> 16) == 0xFFFF) {
			req_error(r, SPIO_NVME_SC_INVALID_FIELD);
		}
		r->cpl.cdw0 = ctrlr->feat[fid];
		break;
	case SPIO_NVME_FEAT_KEEP_ALIVE_TIMER:
		ctrlr->feat[fid] = v;
		ctrlr->kato_ms = v;
		ka_touch(ctrlr);
		break;
	default:
		ctrlr->feat[fid] = v;
		break;
	}
	unlock(ft);
}

static void get_features(struct req *r)
{
	struct fake_target *ft = r->c->ft;
	uint8_t fid = r->cmd.cdw10_bits.get_features.fid;

	if (!feature_supported(fid)) {
		req_error(r, SPIO_NVME_SC_INVALID_FIELD);
		return;
	}
	if (r->cmd.cdw10_bits.get_features.sel == SPIO_NVME_FEAT_SEL_SUPPORTED) {
		r->cpl.cdw0 = 1u << 2; /* changeable, not saveable, not per namespace */
		return;
	}
	lock(ft);
	r->cpl.cdw0 = r->c->ctrlr->feat[fid];
	unlock(ft);
}

static void async_event_request(struct req *r)
{
	struct fake_target *ft = r->c->ft;
	struct fake_ctrlr *ctrlr = r->c->ctrlr;

	lock(ft);
	if (ctrlr->aer_count > AERL) {
		set_status(&r->cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC,
			   SPIO_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED);
	} else {
		ctrlr->aer_cids[ctrlr->aer_count++] = r->cmd.cid;
		ft->stats.aers_held++;
		r->held = true;
	}
	unlock_notify(ft);
}

/* Complete the oldest held AER with the pending namespace notice, if both are there. */
static void deliver_aen(struct conn *c)
{
	struct fake_target *ft = c->ft;
	struct fake_ctrlr *ctrlr = c->ctrlr;
	union spio_nvme_async_event_completion ev = {.raw = 0};
	struct spio_nvme_cpl cpl = {0};
	bool send = false;

	lock(ft);
	if (ctrlr->aen_pending && ctrlr->aer_count > 0) {
		cpl.cid = ctrlr->aer_cids[0];
		ctrlr->aer_count--;
		memmove(&ctrlr->aer_cids[0], &ctrlr->aer_cids[1],
			ctrlr->aer_count * sizeof(ctrlr->aer_cids[0]));
		ctrlr->aen_pending = false;
		ctrlr->aen_masked = true;
		ft->stats.aers_held--;
		ft->stats.aens_sent++;
		send = true;
	}
	unlock_notify(ft);
	if (send) {
		ev.bits.async_event_type = SPIO_NVME_ASYNC_EVENT_TYPE_NOTICE;
		ev.bits.async_event_info = SPIO_NVME_ASYNC_EVENT_NS_ATTR_CHANGED;
		ev.bits.log_page_identifier = SPIO_NVME_LOG_CHANGED_NS_LIST;
		cpl.cdw0 = ev.raw;
		vlog(ft, "cntlid %u: namespace notice on AER cid %u\n", ctrlr->cntlid, cpl.cid);
		send_cpl(c, &cpl, true);
	}
}

static void admin_cmd(struct req *r)
{
	struct fake_ctrlr *ctrlr = r->c->ctrlr;
	bool enabled;

	lock(r->c->ft);
	enabled = ctrlr->cc & 1;
	unlock(r->c->ft);
	/* Before CC.EN only Fabrics commands: a host that skips enabling learns it here. */
	if (!enabled) {
		req_error(r, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	switch (r->cmd.opc) {
	case SPIO_NVME_OPC_IDENTIFY:
		identify(r);
		break;
	case SPIO_NVME_OPC_GET_LOG_PAGE:
		get_log_page(r);
		break;
	case SPIO_NVME_OPC_SET_FEATURES:
		set_features(r);
		break;
	case SPIO_NVME_OPC_GET_FEATURES:
		get_features(r);
		break;
	case SPIO_NVME_OPC_ASYNC_EVENT_REQUEST:
		async_event_request(r);
		break;
	case SPIO_NVME_OPC_KEEP_ALIVE:
		break;
	case SPIO_NVME_OPC_ABORT:
		r->cpl.cdw0 = 1; /* not aborted */
		break;
	default:
		req_error(r, SPIO_NVME_SC_INVALID_OPCODE);
		break;
	}
}

/*
 * I/O commands
 */

/*
 * Read, Write, Compare, Write Zeroes: check the namespace and range and,
 * unless `check_only`, move the data. Called with the lock held.
 */
static void rw(struct req *r, struct fake_ns *ns, bool check_only)
{
	struct fake_target *ft = r->c->ft;
	uint64_t slba = r->cmd.cdw10 | (uint64_t)r->cmd.cdw11 << 32;
	uint64_t nlb = (uint64_t)r->cmd.cdw12_bits.rw.nlb + 1;
	uint64_t blocks = ns->size / BLOCK_SIZE;
	uint64_t off = slba * BLOCK_SIZE;
	uint32_t bytes = (uint32_t)(nlb * BLOCK_SIZE);
	uint8_t opc = r->cmd.opc;

	if (slba >= blocks || nlb > blocks - slba) {
		req_error(r, SPIO_NVME_SC_LBA_OUT_OF_RANGE);
		return;
	}
	if (opc != SPIO_NVME_OPC_WRITE_ZEROES && r->len < bytes) {
		req_error(r, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
		return;
	}
	if (check_only) {
		return;
	}
	switch (opc) {
	case SPIO_NVME_OPC_READ:
		memcpy(r->data, ns->data + off, bytes);
		r->len = bytes;
		ft->stats.bytes_read += bytes;
		break;
	case SPIO_NVME_OPC_WRITE:
		memcpy(ns->data + off, r->data, bytes);
		ft->stats.bytes_written += bytes;
		break;
	case SPIO_NVME_OPC_COMPARE:
		if (memcmp(ns->data + off, r->data, bytes) != 0) {
			set_status(&r->cpl, SPIO_NVME_SCT_MEDIA_ERROR,
				   SPIO_NVME_SC_COMPARE_FAILURE);
		}
		break;
	default:
		memset(ns->data + off, 0, bytes);
		break;
	}
}

/* Dataset Management: deallocate (zero) the ranges, all checked first. Lock held. */
static void dsm(struct req *r, struct fake_ns *ns)
{
	uint32_t nr = (r->cmd.cdw10 & 0xFF) + 1;
	uint64_t blocks = ns->size / BLOCK_SIZE;
	struct spio_nvme_dsm_range range;

	if (r->len < nr * sizeof(range)) {
		req_error(r, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
		return;
	}
	if (!(r->cmd.cdw11 & SPIO_NVME_DSM_ATTR_DEALLOCATE)) {
		return; /* hints only */
	}
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < nr; i++) {
			memcpy(&range, r->data + i * sizeof(range), sizeof(range));
			if (pass == 0 && (range.starting_lba > blocks ||
					  range.length > blocks - range.starting_lba)) {
				req_error(r, SPIO_NVME_SC_LBA_OUT_OF_RANGE);
				return;
			}
			if (pass == 1) {
				memset(ns->data + range.starting_lba * BLOCK_SIZE, 0,
				       (size_t)range.length * BLOCK_SIZE);
			}
		}
	}
}

static void io_cmd(struct req *r, bool check_only)
{
	struct fake_target *ft = r->c->ft;
	struct fake_ns *ns;

	lock(ft);
	ns = ns_get(ft, r->cmd.nsid);
	switch (r->cmd.opc) {
	case SPIO_NVME_OPC_FLUSH:
		if (ns == NULL && r->cmd.nsid != SPIO_NVME_GLOBAL_NS_TAG) {
			req_error(r, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		}
		break;
	case SPIO_NVME_OPC_READ:
	case SPIO_NVME_OPC_WRITE:
	case SPIO_NVME_OPC_COMPARE:
	case SPIO_NVME_OPC_WRITE_ZEROES:
		if (ns == NULL) {
			req_error(r, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		} else {
			rw(r, ns, check_only);
		}
		break;
	case SPIO_NVME_OPC_DATASET_MANAGEMENT:
		if (ns == NULL) {
			req_error(r, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		} else if (!check_only) {
			dsm(r, ns);
		}
		break;
	default:
		req_error(r, SPIO_NVME_SC_INVALID_OPCODE);
		break;
	}
	unlock_notify(ft);
}

static void execute(struct req *r)
{
	if (r->c->qid == 0) {
		admin_cmd(r);
	} else {
		io_cmd(r, false);
	}
}

/*
 * Fabrics commands
 */

static bool host_allowed(const struct fake_target *ft, const char *hostnqn)
{
	if (ft->allowed == NULL) {
		return true;
	}
	for (size_t i = 0; i < ft->nallowed; i++) {
		if (strcmp(ft->allowed[i], hostnqn) == 0) {
			return true;
		}
	}
	return false;
}

static void connect_invalid(struct req *r, uint8_t iattr, size_t ipo)
{
	struct nvme_fabric_connect_error err = {.sct = SPIO_NVME_SCT_COMMAND_SPECIFIC,
						.sc = SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
						.iattr = iattr,
						.ipo = (uint16_t)ipo};

	nvme_fabric_connect_rsp_fail(&r->cpl, &err);
}

static int conn_alloc_slots(struct conn *c, uint16_t sqsize)
{
	c->slots = calloc((size_t)sqsize + 1, sizeof(*c->slots));
	if (c->slots == NULL) {
		return -1;
	}
	c->nslots = (uint32_t)sqsize + 1;
	c->sqsize = sqsize;
	return 0;
}

static void connect_admin(struct req *r, const struct nvme_fabric_connect *cn, bool discovery)
{
	struct conn *c = r->c;
	struct fake_target *ft = c->ft;
	uint16_t nq = (uint16_t)(ft->opts.num_io_queues - 1);
	struct fake_ctrlr *ctrlr;

	if (cn->cntlid != SPIO_NVMF_CNTLID_DYNAMIC) {
		connect_invalid(r, 1, offsetof(struct spio_nvmf_fabric_connect_data, cntlid));
		return;
	}
	ctrlr = calloc(1, sizeof(*ctrlr));
	if (ctrlr == NULL || conn_alloc_slots(c, cn->sqsize) != 0) {
		free(ctrlr);
		req_error(r, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	ctrlr->admin = c;
	ctrlr->discovery = discovery;
	snprintf(ctrlr->hostnqn, sizeof(ctrlr->hostnqn), "%s", cn->hostnqn);
	ctrlr->kato_ms = cn->kato_ms;
	ka_touch(ctrlr);
	ctrlr->feat[SPIO_NVME_FEAT_NUMBER_OF_QUEUES] = nq | (uint32_t)nq << 16;
	ctrlr->feat[SPIO_NVME_FEAT_KEEP_ALIVE_TIMER] = cn->kato_ms;
	ctrlr->feat[SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD] = 343;

	lock(ft);
	/* Dynamic controllers: 1, 2, ... wrapping before the reserved FFF0h-FFFFh. */
	ctrlr->cntlid = ft->next_cntlid;
	ft->next_cntlid = ft->next_cntlid >= 0xFFEF ? 1 : ft->next_cntlid + 1;
	ctrlr->next = ft->ctrlrs;
	ft->ctrlrs = ctrlr;
	ft->stats.controllers_created++;
	c->ctrlr = ctrlr;
	c->connected = true;
	c->qid = 0;
	c->cntlid = ctrlr->cntlid;
	unlock_notify(ft);
	nvme_fabric_connect_rsp_build(&r->cpl, ctrlr->cntlid);
	vlog(ft, "cntlid %u: admin queue connected (%s, host %s, kato %u ms)\n", ctrlr->cntlid,
	     discovery ? "discovery" : "nvm", cn->hostnqn, cn->kato_ms);
}

static void connect_io(struct req *r, const struct nvme_fabric_connect *cn)
{
	struct conn *c = r->c;
	struct fake_target *ft = c->ft;
	struct fake_ctrlr *ctrlr;
	bool dup = false;

	lock(ft);
	for (ctrlr = ft->ctrlrs; ctrlr != NULL; ctrlr = ctrlr->next) {
		if (ctrlr->cntlid == cn->cntlid) {
			break;
		}
	}
	for (struct conn *o = ft->conns; o != NULL && ctrlr != NULL; o = o->next) {
		dup |= !o->done && o->connected && o->cntlid == cn->cntlid && o->qid == cn->qid;
	}
	if (ctrlr == NULL || ctrlr->discovery) {
		connect_invalid(r, 1, offsetof(struct spio_nvmf_fabric_connect_data, cntlid));
	} else if (strcmp(ctrlr->hostnqn, cn->hostnqn) != 0) {
		connect_invalid(r, 1, offsetof(struct spio_nvmf_fabric_connect_data, hostnqn));
	} else if (cn->qid > ft->opts.num_io_queues || dup) {
		connect_invalid(r, 0, offsetof(struct spio_nvmf_fabric_connect_cmd, qid));
	} else if (!(ctrlr->csts & 1)) {
		req_error(r, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR); /* controller not ready */
	} else if (conn_alloc_slots(c, cn->sqsize) != 0) {
		req_error(r, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
	} else {
		c->connected = true;
		c->qid = cn->qid;
		c->cntlid = cn->cntlid;
		nvme_fabric_connect_rsp_build(&r->cpl, cn->cntlid);
	}
	unlock(ft);
	if (c->connected) {
		struct nvme_tcp_rx_params p = c->rx.params;

		p.max_incapsule = IO_ICD_SIZE;
		nvme_tcp_rx_set_params(&c->rx, &p);
		vlog(ft, "cntlid %u: I/O queue %u connected (sqsize %u)\n", cn->cntlid, cn->qid,
		     cn->sqsize);
	}
}

static void do_connect(struct req *r, uint8_t *icd, uint32_t icd_len)
{
	struct fake_target *ft = r->c->ft;
	struct nvme_fabric_connect cn;
	struct nvme_fabric_connect_error err;
	uint64_t icd_off = r->cmd.dptr.sgl1.address;
	bool discovery;

	if (icd_off > icd_len) {
		icd_off = icd_len;
	}
	if (nvme_fabric_connect_parse(&r->cmd, icd_len > 0 ? icd + icd_off : NULL,
				      icd_len - (uint32_t)icd_off, &cn, &err) != 0) {
		nvme_fabric_connect_rsp_fail(&r->cpl, &err);
		vlog(ft, "bad connect: sct %u sc 0x%x, field at %u of the %s\n", err.sct, err.sc,
		     err.ipo, err.iattr ? "data" : "command");
		return;
	}
	discovery = strcmp(cn.subnqn, SPIO_NVMF_DISCOVERY_NQN) == 0;
	if (!discovery && strcmp(cn.subnqn, ft->subnqn) != 0) {
		connect_invalid(r, 1, offsetof(struct spio_nvmf_fabric_connect_data, subnqn));
	} else if (!host_allowed(ft, cn.hostnqn)) {
		struct nvme_fabric_connect_error deny = {.sct = SPIO_NVME_SCT_COMMAND_SPECIFIC,
							 .sc = SPIO_NVMF_FABRIC_SC_INVALID_HOST};

		nvme_fabric_connect_rsp_fail(&r->cpl, &deny);
	} else if (cn.sqsize > ft->opts.mqes) {
		connect_invalid(r, 0, offsetof(struct spio_nvmf_fabric_connect_cmd, sqsize));
	} else if (cn.qid == 0) {
		connect_admin(r, &cn, discovery);
	} else {
		connect_io(r, &cn);
	}
	if (r->cpl.status.sct != 0 || r->cpl.status.sc != 0) {
		vlog(ft, "connect qid %u to %s from %s refused: sct %u sc 0x%x\n", cn.qid,
		     cn.subnqn, cn.hostnqn, r->cpl.status.sct, r->cpl.status.sc);
	}
}

/* Drop the queues of controller `cntlid`: all, or its I/O queues only (the lock is held). */
static void drop_ctrlr_queues(struct fake_target *ft, uint16_t cntlid, bool io_only)
{
	for (struct conn *o = ft->conns; o != NULL; o = o->next) {
		if (!o->done && o->connected && o->cntlid == cntlid && (!io_only || o->qid != 0)) {
			atomic_store(&o->drop, true);
			wake(o->wake_fd);
		}
	}
}

static void set_cc(struct fake_target *ft, struct fake_ctrlr *ctrlr, uint32_t value)
{
	union spio_nvme_cc_register cc = {.raw = value};
	union spio_nvme_csts_register csts = {.raw = ctrlr->csts};

	if (cc.bits.en && !csts.bits.rdy) {
		csts.bits.rdy = 1;
		csts.bits.shst = SPIO_NVME_SHST_NORMAL;
	} else if (!cc.bits.en && csts.bits.rdy) {
		/* A controller reset ends the I/O queues, as a real target's does. */
		csts.bits.rdy = 0;
		drop_ctrlr_queues(ft, ctrlr->cntlid, true);
	}
	if (cc.bits.shn != 0) {
		csts.bits.shst = SPIO_NVME_SHST_COMPLETE;
	}
	ctrlr->cc = cc.raw;
	ctrlr->csts = csts.raw;
}

static void property(struct req *r)
{
	struct fake_target *ft = r->c->ft;
	struct fake_ctrlr *ctrlr = r->c->ctrlr;
	union spio_nvme_cap_register cap = {.raw = 0};
	struct nvme_fabric_prop p;
	uint64_t v = 0;

	if (nvme_fabric_prop_parse(&r->cmd, &p) != 0) {
		req_error(r, SPIO_NVME_SC_INVALID_FIELD);
		return;
	}
	cap.bits.mqes = ft->opts.mqes;
	cap.bits.cqr = 1;
	cap.bits.to = 1;
	cap.bits.css = SPIO_NVME_CAP_CSS_NVM;
	lock(ft);
	if (p.set) {
		if (p.ofst == SPIO_NVME_REG_CC && p.size == 4) {
			set_cc(ft, ctrlr, (uint32_t)p.value);
		} else {
			req_error(r, SPIO_NVME_SC_INVALID_FIELD);
		}
	} else {
		switch (p.ofst) {
		case SPIO_NVME_REG_CAP:
			v = cap.raw;
			break;
		case SPIO_NVME_REG_VS:
			v = SPIO_NVME_VERSION(1, 3, 0);
			break;
		case SPIO_NVME_REG_CC:
			v = ctrlr->cc;
			break;
		case SPIO_NVME_REG_CSTS:
			v = ctrlr->csts;
			break;
		default:
			req_error(r, SPIO_NVME_SC_INVALID_FIELD);
			break;
		}
		if (req_ok(r)) {
			nvme_fabric_prop_get_rsp_build(&r->cpl, p.size == 4 ? (uint32_t)v : v);
		}
	}
	unlock(ft);
}

static void fabrics_cmd(struct req *r, uint8_t *icd, uint32_t icd_len)
{
	struct conn *c = r->c;

	switch (nvme_fabric_cmd_type(&r->cmd)) {
	case SPIO_NVMF_FABRIC_COMMAND_CONNECT:
		if (c->connected) {
			req_error(r, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
		} else {
			do_connect(r, icd, icd_len);
			c->sqhd = c->connected ? (uint16_t)(1 % (c->sqsize + 1)) : 0;
		}
		break;
	case SPIO_NVMF_FABRIC_COMMAND_PROPERTY_GET:
	case SPIO_NVMF_FABRIC_COMMAND_PROPERTY_SET:
		if (!c->connected) {
			req_error(r, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
		} else if (c->qid != 0) {
			req_error(r, SPIO_NVME_SC_INVALID_FIELD);
		} else {
			property(r);
		}
		break;
	default:
		req_error(r, SPIO_NVME_SC_INVALID_OPCODE);
		break;
	}
	r->cpl.cid = r->cmd.cid;
	send_cpl(c, &r->cpl, false);
}

/*
 * Command intake
 */

static bool cid_outstanding(struct conn *c, uint16_t cid)
{
	bool busy = false;

	for (uint32_t i = 0; i < c->nslots; i++) {
		busy |= c->slots[i].state != SLOT_FREE && c->slots[i].cmd.cid == cid;
	}
	if (c->ctrlr != NULL) {
		lock(c->ft);
		for (uint32_t i = 0; i < c->ctrlr->aer_count; i++) {
			busy |= c->ctrlr->aer_cids[i] == cid;
		}
		unlock(c->ft);
	}
	return busy;
}

/* A slot for a command that stays outstanding; -1 (status set) when there is none. */
static int slot_get(struct req *r)
{
	struct conn *c = r->c;
	int free_idx = -1;

	for (uint32_t i = 0; i < c->nslots; i++) {
		struct slot *s = &c->slots[i];

		if (s->state == SLOT_R2T && s->cmd.cid == r->cmd.cid) {
			req_error(r, SPIO_NVME_SC_COMMAND_ID_CONFLICT);
			return -1;
		}
		/* The host gave up on a dropped command when it reuses its cid. */
		if (s->state == SLOT_DROPPED && s->cmd.cid == r->cmd.cid) {
			s->state = SLOT_FREE;
		}
		if (s->state == SLOT_FREE && free_idx < 0) {
			free_idx = (int)i;
		}
	}
	if (free_idx < 0) {
		/* More commands than the queue has entries: the host's bug. */
		req_error(r, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
	}
	return free_idx;
}

static void slot_release(struct slot *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

/* Wait `ms` unless the connection must end first. */
static void conn_sleep(struct conn *c, uint32_t ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;

	for (uint64_t now = now_ns(); now < end && !conn_must_end(c); now = now_ns()) {
		struct pollfd p = {.fd = c->wake_fd, .events = POLLIN};
		uint64_t left_ms = (end - now + 999999) / 1000000;

		if (poll(&p, 1, left_ms < POLL_MAX_MS ? (int)left_ms : POLL_MAX_MS) > 0) {
			drain(c->wake_fd);
		}
	}
}

static void send_unknown_pdu(struct conn *c)
{
	uint8_t hdr[24] = {0x0F, 0, sizeof(hdr), 0, sizeof(hdr)};
	struct iovec iov = {.iov_base = hdr, .iov_len = sizeof(hdr)};

	conn_sendv(c, &iov, 1);
}

static void send_stray_c2h(struct conn *c, uint16_t cid)
{
	uint8_t data[BLOCK_SIZE] = {0};
	uint16_t stray = (uint16_t)(cid + 0x8000);

	while (stray == cid || cid_outstanding(c, stray)) {
		stray++;
	}
	send_c2h(c, stray, data, sizeof(data), sizeof(data), sizeof(data), false);
}

/* The command-level faults; true when the command is consumed. */
static bool command_faults(struct req *r)
{
	struct conn *c = r->c;
	uint32_t arg;

	if (fault_claim(c, FAULT_DROP_RESPONSE, &arg)) {
		int idx = slot_get(r);

		/* Remember the cid: a stray C2H must not hit it. */
		if (idx >= 0) {
			c->slots[idx].state = SLOT_DROPPED;
			c->slots[idx].cmd = r->cmd;
		}
		return true;
	}
	if (fault_claim(c, FAULT_DELAY_MS, &arg)) {
		conn_sleep(c, arg);
	}
	if (fault_claim(c, FAULT_UNKNOWN_PDU_TYPE, &arg)) {
		send_unknown_pdu(c);
	}
	if (fault_claim(c, FAULT_C2H_UNKNOWN_CID, &arg)) {
		send_stray_c2h(c, r->cmd.cid);
	}
	if (fault_claim(c, FAULT_STATUS, &arg)) {
		r->cpl.status.sct = (arg >> 8) & 0x7;
		r->cpl.status.sc = arg & 0xFF;
		r->cpl.status.dnr = (arg >> 16) & 1;
		r->cpl.cid = r->cmd.cid;
		send_cpl(c, &r->cpl, true);
		return true;
	}
	return conn_must_end(c);
}

/* A write too big for the capsule: keep it in a slot and ask for its data. */
static void start_r2t(struct req *r, uint32_t len)
{
	struct conn *c = r->c;
	int idx;

	/* Refuse before asking for data the command cannot use. */
	r->len = len;
	if (c->qid != 0) {
		io_cmd(r, true);
	}
	if (!req_ok(r) || (idx = slot_get(r)) < 0) {
		finish(r);
		return;
	}
	c->slots[idx].buf = malloc(len);
	if (c->slots[idx].buf == NULL) {
		req_error(r, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
		finish(r);
		return;
	}
	c->slots[idx].state = SLOT_R2T;
	c->slots[idx].cmd = r->cmd;
	c->slots[idx].len = len;
	send_r2t(c, (uint32_t)idx);
}

static void count_cmd(struct conn *c, const struct spio_nvme_cmd *cmd)
{
	struct fake_target *ft = c->ft;
	const struct spio_nvmf_fabric_connect_cmd *cc =
	    (const struct spio_nvmf_fabric_connect_cmd *)cmd;
	bool fabrics = cmd->opc == SPIO_NVME_OPC_FABRIC;
	bool io = c->connected ? c->qid != 0 : fabrics && cc->qid != 0;

	lock(ft);
	if (io) {
		ft->stats.io_cmds[cmd->opc]++;
	} else {
		ft->stats.admin_cmds[cmd->opc]++;
	}
	if (fabrics) {
		ft->stats.fabrics_cmds[cc->fctype]++;
	}
	unlock_notify(ft);
}

static void handle_capsule(struct conn *c, const struct spio_nvme_cmd *cmd, bool ddgst_ok)
{
	struct req r = {.c = c, .cmd = *cmd};
	const struct spio_nvme_sgl_descriptor *sgl = &cmd->dptr.sgl1;
	uint32_t len = sgl->unkeyed.length;
	uint8_t type = sgl->generic.type, subtype = sgl->generic.subtype;

	count_cmd(c, cmd);
	if (c->connected) {
		c->sqhd = (uint16_t)((c->sqhd + 1) % (c->sqsize + 1));
		if (c->ctrlr != NULL) {
			ka_touch(c->ctrlr);
		}
	}
	if (!ddgst_ok) {
		set_status(&r.cpl, SPIO_NVME_SCT_GENERIC,
			   SPIO_NVME_SC_COMMAND_TRANSIENT_TRANSPORT_ERROR);
		r.cpl.status.dnr = 0;
		r.cpl.cid = cmd->cid;
		send_cpl(c, &r.cpl, false);
		return;
	}
	if (cmd->opc == SPIO_NVME_OPC_FABRIC) {
		fabrics_cmd(&r, c->icd, c->icd_len);
		return;
	}
	if (!c->connected) {
		req_error(&r, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
		finish(&r);
		return;
	}
	if (command_faults(&r)) {
		return;
	}
	r.xfer = spio_nvme_opc_get_data_transfer(cmd->opc);
	if (r.xfer == SPIO_NVME_DATA_NONE) {
		execute(&r);
	} else if (r.xfer == SPIO_NVME_DATA_BIDIRECTIONAL) {
		req_error(&r, SPIO_NVME_SC_INVALID_OPCODE);
	} else if (len > FAKE_TARGET_MAX_XFER) {
		req_error(&r, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
	} else if (r.xfer == SPIO_NVME_DATA_HOST_TO_CONTROLLER &&
		   type == SPIO_NVME_SGL_TYPE_DATA_BLOCK &&
		   subtype == SPIO_NVME_SGL_SUBTYPE_OFFSET) {
		if (sgl->address > c->icd_len) {
			req_error(&r, SPIO_NVME_SC_INVALID_SGL_OFFSET);
		} else if (len > c->icd_len - sgl->address) {
			req_error(&r, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
		} else {
			r.data = c->icd + sgl->address;
			r.len = len;
			execute(&r);
		}
	} else if (type != SPIO_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK ||
		   subtype != SPIO_NVME_SGL_SUBTYPE_TRANSPORT) {
		req_error(&r, SPIO_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
	} else if (r.xfer == SPIO_NVME_DATA_HOST_TO_CONTROLLER && len > 0) {
		start_r2t(&r, len);
		return;
	} else {
		r.data = calloc(1, len > 0 ? len : 1);
		r.len = len;
		if (r.data == NULL) {
			req_error(&r, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
		} else {
			execute(&r);
		}
		finish(&r);
		free(r.data);
		return;
	}
	finish(&r);
}

/*
 * Receiving
 */

static int on_h2c_header(struct conn *c, const struct spio_nvme_tcp_h2c_data_hdr *h,
			 uint32_t data_len, struct iovec **iov, int *iovcnt, uint32_t *iov_offset)
{
	struct slot *s = h->ttag < c->nslots ? &c->slots[h->ttag] : NULL;

	if (s == NULL || s->state != SLOT_R2T) {
		nvme_tcp_rx_fail(&c->rx, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD,
				 offsetof(struct spio_nvme_tcp_h2c_data_hdr, ttag),
				 "H2CData for no R2T");
		return -1;
	}
	if (s->cmd.cid != h->cccid) {
		nvme_tcp_rx_fail(&c->rx, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD,
				 offsetof(struct spio_nvme_tcp_h2c_data_hdr, cccid),
				 "H2CData cccid does not match its R2T");
		return -1;
	}
	if (h->datao != s->got || data_len > s->r2t_end - s->got) {
		nvme_tcp_rx_fail(&c->rx, SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
				 "H2CData outside the range its R2T asked for");
		return -1;
	}
	c->data_iov.iov_base = s->buf;
	c->data_iov.iov_len = s->len;
	*iov = &c->data_iov;
	*iovcnt = 1;
	*iov_offset = h->datao;
	return 0;
}

static int on_header(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
		     struct iovec **iov, int *iovcnt, uint32_t *iov_offset)
{
	struct conn *c = ctx;

	if (hdr->common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_H2C_DATA) {
		return on_h2c_header(c, &hdr->h2c_data, data_len, iov, iovcnt, iov_offset);
	}
	/* In-capsule data: the rx already held it to max_incapsule (<= the buffer). */
	c->data_iov.iov_base = c->icd;
	c->data_iov.iov_len = data_len;
	c->icd_len = data_len;
	*iov = &c->data_iov;
	*iovcnt = 1;
	*iov_offset = 0;
	return 0;
}

static int on_h2c_done(struct conn *c, const struct spio_nvme_tcp_h2c_data_hdr *h, bool ddgst_ok)
{
	struct slot *s = &c->slots[h->ttag];
	bool last = h->common.flags & SPIO_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU;
	struct req r = {.c = c, .xfer = SPIO_NVME_DATA_HOST_TO_CONTROLLER};

	s->got += h->datal;
	s->ddgst_error |= !ddgst_ok;
	lock(c->ft);
	c->ft->stats.h2c_received++;
	unlock_notify(c->ft);
	if ((s->got == s->r2t_end) != last) {
		nvme_tcp_rx_fail(&c->rx, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD,
				 offsetof(struct spio_nvme_tcp_common_pdu_hdr, flags),
				 "H2CData LAST_PDU flag does not match the end of its R2T");
		return -1;
	}
	if (s->got < s->r2t_end) {
		return 0;
	}
	if (s->got < s->len) {
		send_r2t(c, h->ttag);
		return 0;
	}
	r.cmd = s->cmd;
	r.data = s->buf;
	r.len = s->len;
	if (s->ddgst_error) {
		set_status(&r.cpl, SPIO_NVME_SCT_GENERIC,
			   SPIO_NVME_SC_COMMAND_TRANSIENT_TRANSPORT_ERROR);
		r.cpl.status.dnr = 0;
	} else {
		execute(&r);
	}
	finish(&r);
	slot_release(s);
	return 0;
}

static int on_ic_req(struct conn *c, const struct spio_nvme_tcp_ic_req *ic)
{
	const struct fake_target_opts *o = &c->ft->opts;
	bool hd = o->digests && ic->dgst.bits.hdgst_enable;
	bool dd = o->digests && ic->dgst.bits.ddgst_enable;
	struct nvme_tcp_rx_params p = {.hdgst = hd,
				       .ddgst = dd,
				       .max_data_len = o->maxh2cdata,
				       .max_incapsule = ADMIN_ICD_SIZE};
	struct nvme_tcp_tx_pdu pdu;

	c->tx = (struct nvme_tcp_tx_params){.hdgst = hd, .ddgst = dd, .pda = ic->hpda};
	nvme_tcp_rx_set_params(&c->rx, &p);
	nvme_tcp_ic_resp_build(&pdu, 0, hd, dd, o->maxh2cdata);
	return send_pdu(c, &pdu, false);
}

static int on_pdu(void *ctx, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	struct conn *c = ctx;
	struct fake_target *ft = c->ft;
	int rc = 0;

	switch (hdr->common.pdu_type) {
	case SPIO_NVME_TCP_PDU_TYPE_IC_REQ:
		rc = on_ic_req(c, &hdr->ic_req);
		break;
	case SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		handle_capsule(c, &hdr->capsule_cmd.ccsqe, ddgst_ok);
		c->icd_len = 0;
		break;
	case SPIO_NVME_TCP_PDU_TYPE_H2C_DATA:
		rc = on_h2c_done(c, &hdr->h2c_data, ddgst_ok);
		break;
	case SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
		lock(ft);
		ft->stats.term_reqs_received++;
		ft->stats.last_term_req_fes = hdr->term_req.fes;
		unlock_notify(ft);
		vlog(ft, "qid %u: host terminated the connection: fes %u\n", c->qid,
		     hdr->term_req.fes);
		c->closing = true;
		break;
	default:
		break; /* the rx lets no other type through */
	}
	return c->closing ? NVME_TCP_RX_PAUSE : rc;
}

static const struct nvme_tcp_rx_ops g_rx_ops = {.on_header = on_header, .on_pdu = on_pdu};

/* Read what the socket has and feed it; <0: the connection ends. */
static int conn_recv(struct conn *c)
{
	ssize_t n = recv(c->fd, c->rx_buf, sizeof(c->rx_buf), MSG_DONTWAIT);
	size_t off = 0;

	if (n == 0) {
		return -1;
	}
	if (n < 0) {
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	}
	while (off < (size_t)n && !c->closing) {
		ssize_t fed =
		    nvme_tcp_rx_feed(&c->rx, c->rx_buf + off, (size_t)n - off, &g_rx_ops, c);

		if (fed < 0) {
			send_term_req(c);
			return -1;
		}
		if (fed == 0) {
			break;
		}
		off += (size_t)fed;
	}
	return c->closing ? -1 : 0;
}

/* Admin queue duties between PDUs: events, keep alive. Returns the poll timeout. */
static int admin_tick(struct conn *c)
{
	struct fake_ctrlr *ctrlr = c->ctrlr;
	uint64_t now;

	deliver_aen(c);
	if (!c->ft->opts.kato_enforce || ctrlr->kato_ms == 0) {
		return POLL_MAX_MS;
	}
	now = now_ns();
	if (now >= ctrlr->ka_deadline_ns) {
		vlog(c->ft, "cntlid %u: keep alive timeout (%u ms)\n", ctrlr->cntlid,
		     ctrlr->kato_ms);
		lock(c->ft);
		c->ft->stats.kato_expired++;
		drop_ctrlr_queues(c->ft, ctrlr->cntlid, false);
		unlock_notify(c->ft);
		return 0;
	}
	now = (ctrlr->ka_deadline_ns - now + 999999) / 1000000;
	return now < POLL_MAX_MS ? (int)now : POLL_MAX_MS;
}

static void conn_teardown(struct conn *c)
{
	struct fake_target *ft = c->ft;
	struct fake_ctrlr *ctrlr = c->ctrlr;

	for (uint32_t i = 0; i < c->nslots; i++) {
		slot_release(&c->slots[i]);
	}
	lock(ft);
	if (ctrlr != NULL) {
		/* The association ends with its admin queue: so do its I/O queues. */
		for (struct fake_ctrlr **p = &ft->ctrlrs; *p != NULL; p = &(*p)->next) {
			if (*p == ctrlr) {
				*p = ctrlr->next;
				break;
			}
		}
		ft->stats.aers_held -= ctrlr->aer_count;
		drop_ctrlr_queues(ft, ctrlr->cntlid, false);
	}
	if (atomic_load(&c->drop)) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		/* Close with a reset, as a target that died would. */
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd);
	c->fd = -1;
	c->done = true;
	ft->stats.connections_open--;
	unlock_notify(ft);
	free(ctrlr);
	c->ctrlr = NULL;
	vlog(ft, "cntlid %u qid %u: connection closed\n", c->cntlid, c->qid);
	wake(ft->wake_fd); /* the acceptor joins finished connections */
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;

	nvme_tcp_rx_init(&c->rx, NVME_TCP_ROLE_CTRLR);
	while (!conn_must_end(c)) {
		struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
				      {.fd = c->wake_fd, .events = POLLIN}};
		int timeout = c->ctrlr != NULL ? admin_tick(c) : POLL_MAX_MS;

		if (conn_must_end(c) || (poll(p, 2, timeout) < 0 && errno != EINTR)) {
			break;
		}
		if (p[1].revents != 0) {
			drain(c->wake_fd);
		}
		if (p[0].revents != 0 && conn_recv(c) != 0) {
			break;
		}
	}
	conn_teardown(c);
	return NULL;
}

/*
 * Accepting
 */

static void conn_free(struct conn *c)
{
	if (c->wake_fd >= 0) {
		close(c->wake_fd);
	}
	free(c->icd);
	free(c->slots);
	free(c);
}

static void conn_start(struct fake_target *ft, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (c == NULL) {
		close(fd);
		return;
	}
	c->ft = ft;
	c->fd = fd;
	c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->icd = malloc(ADMIN_ICD_SIZE);
	if (c->wake_fd < 0 || c->icd == NULL) {
		close(fd);
		conn_free(c);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	lock(ft);
	c->next = ft->conns;
	ft->conns = c;
	ft->stats.connections_accepted++;
	ft->stats.connections_open++;
	if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
		ft->conns = c->next;
		ft->stats.connections_open--;
		close(fd);
		conn_free(c);
	}
	unlock_notify(ft);
	vlog(ft, "connection accepted\n");
}

/* Join and free the connections whose thread has finished (all of them when `all`). */
static void reap(struct fake_target *ft, bool all)
{
	struct conn *dead = NULL;

	lock(ft);
	for (struct conn **p = &ft->conns; *p != NULL;) {
		struct conn *c = *p;

		if (all || c->done) {
			*p = c->next;
			c->next = dead;
			dead = c;
		} else {
			p = &c->next;
		}
	}
	unlock(ft);
	while (dead != NULL) {
		struct conn *c = dead;

		dead = c->next;
		pthread_join(c->thread, NULL);
		conn_free(c);
	}
}

static void *accept_main(void *arg)
{
	struct fake_target *ft = arg;

	while (!atomic_load(&ft->stopping)) {
		struct pollfd p[2] = {{.fd = ft->listen_fd, .events = POLLIN},
				      {.fd = ft->wake_fd, .events = POLLIN}};

		if (poll(p, 2, POLL_MAX_MS) < 0 && errno != EINTR) {
			break;
		}
		if (p[1].revents != 0) {
			drain(ft->wake_fd);
		}
		reap(ft, false);
		if (p[0].revents != 0 && !atomic_load(&ft->stopping)) {
			int fd = accept4(ft->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd >= 0) {
				conn_start(ft, fd);
			}
		}
	}
	return NULL;
}

/*
 * Public functions
 */

void fake_target_opts_init(struct fake_target_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->num_namespaces = 1;
	opts->ns_size = DEFAULT_NS_SIZE;
	opts->maxh2cdata = DEFAULT_MAXH2CDATA;
	opts->c2h_max = DEFAULT_C2H_MAX;
	opts->mqes = DEFAULT_MQES;
	opts->num_io_queues = DEFAULT_IO_QUEUES;
}

static const char *check_opts(struct fake_target_opts *o)
{
	o->ns_size = o->ns_size != 0 ? o->ns_size : DEFAULT_NS_SIZE;
	o->maxh2cdata = o->maxh2cdata != 0 ? o->maxh2cdata : DEFAULT_MAXH2CDATA;
	o->c2h_max = o->c2h_max != 0 ? o->c2h_max : DEFAULT_C2H_MAX;
	o->mqes = o->mqes != 0 ? o->mqes : DEFAULT_MQES;
	o->num_io_queues = o->num_io_queues != 0 ? o->num_io_queues : DEFAULT_IO_QUEUES;
	if (o->ns_size % BLOCK_SIZE != 0) {
		return "ns_size is not a multiple of 512";
	}
	if (o->num_namespaces > FAKE_TARGET_MAX_NS) {
		return "more than 32 namespaces";
	}
	if (o->maxh2cdata < SPIO_NVME_TCP_MIN_MAXH2CDATA || o->maxh2cdata % 4 != 0) {
		return "maxh2cdata below 4096 or not a multiple of 4";
	}
	if (o->subnqn != NULL &&
	    (o->subnqn[0] == '\0' || strlen(o->subnqn) > SPIO_NVMF_NQN_MAX_LEN)) {
		return "subnqn empty or longer than 223 bytes";
	}
	return NULL;
}

static void target_free(struct fake_target *ft)
{
	for (uint32_t i = 0; i <= FAKE_TARGET_MAX_NS; i++) {
		ns_free(ft->ns[i].data, ft->ns[i].size);
	}
	for (size_t i = 0; i < ft->nallowed; i++) {
		free(ft->allowed[i]);
	}
	free(ft->allowed);
	if (ft->listen_fd >= 0) {
		close(ft->listen_fd);
	}
	if (ft->wake_fd >= 0) {
		close(ft->wake_fd);
	}
	pthread_cond_destroy(&ft->cv);
	pthread_mutex_destroy(&ft->lock);
	free(ft);
}

static int copy_allowed(struct fake_target *ft, const char *const *hosts)
{
	size_t n = 0;

	while (hosts[n] != NULL) {
		n++;
	}
	ft->allowed = calloc(n + 1, sizeof(char *));
	if (ft->allowed == NULL) {
		return -1;
	}
	for (; ft->nallowed < n; ft->nallowed++) {
		ft->allowed[ft->nallowed] = strdup(hosts[ft->nallowed]);
		if (ft->allowed[ft->nallowed] == NULL) {
			return -1;
		}
	}
	return 0;
}

static int open_listener(struct fake_target *ft)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ft->opts.port)};
	socklen_t len = sizeof(sa);
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ft->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ft->listen_fd < 0) {
		return -1;
	}
	setsockopt(ft->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ft->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(ft->listen_fd, 64) != 0 ||
	    getsockname(ft->listen_fd, (struct sockaddr *)&sa, &len) != 0) {
		return -1;
	}
	ft->port = ntohs(sa.sin_port);
	return 0;
}

struct fake_target *fake_target_start(const struct fake_target_opts *opts)
{
	struct fake_target *ft = calloc(1, sizeof(*ft));
	pthread_condattr_t ca;
	const char *why;

	if (ft == NULL) {
		fprintf(stderr, "fake_target: no memory\n");
		return NULL;
	}
	if (opts != NULL) {
		ft->opts = *opts;
	} else {
		fake_target_opts_init(&ft->opts);
	}
	ft->listen_fd = -1;
	ft->wake_fd = -1;
	ft->next_cntlid = 1;
	pthread_mutex_init(&ft->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ft->cv, &ca);
	pthread_condattr_destroy(&ca);

	why = check_opts(&ft->opts);
	if (why != NULL) {
		fprintf(stderr, "fake_target: bad options: %s\n", why);
		target_free(ft);
		return NULL;
	}
	snprintf(ft->subnqn, sizeof(ft->subnqn), "%s",
		 ft->opts.subnqn != NULL ? ft->opts.subnqn : FAKE_TARGET_SUBNQN);
	ft->opts.subnqn = NULL; /* the caller's strings are not kept */
	if (ft->opts.allowed_hosts != NULL && copy_allowed(ft, ft->opts.allowed_hosts) != 0) {
		why = "no memory";
	}
	ft->opts.allowed_hosts = NULL;
	for (uint32_t i = 1; why == NULL && i <= ft->opts.num_namespaces; i++) {
		ft->ns[i].size = ft->opts.ns_size;
		ft->ns[i].data = ns_alloc(ft->opts.ns_size);
		why = ft->ns[i].data == NULL ? "no memory for the namespaces" : NULL;
	}
	if (why == NULL && open_listener(ft) != 0) {
		why = strerror(errno);
	}
	ft->wake_fd = why == NULL ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : -1;
	if (why == NULL && ft->wake_fd < 0) {
		why = strerror(errno);
	}
	if (why == NULL && pthread_create(&ft->acceptor, NULL, accept_main, ft) != 0) {
		why = "cannot create a thread";
	}
	if (why != NULL) {
		fprintf(stderr, "fake_target: cannot start on port %u: %s\n", ft->opts.port, why);
		target_free(ft);
		return NULL;
	}
	ft->acceptor_started = true;
	vlog(ft, "listening on 127.0.0.1 port %u, subsystem %s\n", ft->port, ft->subnqn);
	return ft;
}

uint16_t fake_target_port(const struct fake_target *ft)
{
	return ft->port;
}

void fake_target_stop(struct fake_target *ft)
{
	if (ft == NULL) {
		return;
	}
	atomic_store(&ft->stopping, true);
	wake(ft->wake_fd);
	pthread_join(ft->acceptor, NULL);
	/* No new connections now; every wait in a connection thread watches its eventfd. */
	lock(ft);
	for (struct conn *c = ft->conns; c != NULL; c = c->next) {
		if (!c->done) {
			wake(c->wake_fd);
		}
	}
	unlock(ft);
	reap(ft, true);
	target_free(ft);
}

int fake_target_add_ns(struct fake_target *ft, uint32_t nsid, uint64_t size)
{
	uint8_t *data;

	if (nsid == 0 || nsid > FAKE_TARGET_MAX_NS || size == 0 || size % BLOCK_SIZE != 0) {
		return -EINVAL;
	}
	data = ns_alloc(size);
	if (data == NULL) {
		return -ENOMEM;
	}
	lock(ft);
	if (ft->ns[nsid].data != NULL) {
		unlock(ft);
		ns_free(data, size);
		return -EEXIST;
	}
	ft->ns[nsid].data = data;
	ft->ns[nsid].size = size;
	ns_changed(ft, nsid);
	unlock(ft);
	vlog(ft, "namespace %u added (%llu bytes)\n", nsid, (unsigned long long)size);
	return 0;
}

int fake_target_remove_ns(struct fake_target *ft, uint32_t nsid)
{
	uint8_t *data;
	uint64_t size;

	lock(ft);
	if (ns_get(ft, nsid) == NULL) {
		unlock(ft);
		return -ENOENT;
	}
	data = ft->ns[nsid].data;
	size = ft->ns[nsid].size;
	ft->ns[nsid].data = NULL;
	ft->ns[nsid].size = 0;
	ns_changed(ft, nsid);
	unlock(ft);
	ns_free(data, size);
	vlog(ft, "namespace %u removed\n", nsid);
	return 0;
}

/* Namespace `nsid` when [offset, offset + len) is inside it; NULL with *rc set if not. Lock held.
 */
static struct fake_ns *ns_range(struct fake_target *ft, uint32_t nsid, uint64_t offset,
				uint64_t len, int *rc)
{
	struct fake_ns *ns = ns_get(ft, nsid);

	*rc = 0;
	if (ns == NULL) {
		*rc = -ENOENT;
	} else if (offset > ns->size || len > ns->size - offset) {
		*rc = -ERANGE;
		ns = NULL;
	}
	return ns;
}

int fake_target_ns_read(struct fake_target *ft, uint32_t nsid, uint64_t offset, void *buf,
			uint64_t len)
{
	struct fake_ns *ns;
	int rc;

	lock(ft);
	ns = ns_range(ft, nsid, offset, len, &rc);
	if (ns != NULL) {
		memcpy(buf, ns->data + offset, len);
	}
	unlock(ft);
	return rc;
}

int fake_target_ns_write(struct fake_target *ft, uint32_t nsid, uint64_t offset, const void *buf,
			 uint64_t len)
{
	struct fake_ns *ns;
	int rc;

	lock(ft);
	ns = ns_range(ft, nsid, offset, len, &rc);
	if (ns != NULL) {
		memcpy(ns->data + offset, buf, len);
	}
	unlock(ft);
	return rc;
}

int fake_target_drop_connections(struct fake_target *ft)
{
	struct timespec deadline;
	int count = 0, rc = 0;

	deadline_after(&deadline, DROP_TIMEOUT_MS);
	lock(ft);
	for (struct conn *c = ft->conns; c != NULL; c = c->next) {
		if (!c->done) {
			atomic_store(&c->drop, true);
			wake(c->wake_fd);
			count++;
		}
	}
	for (;;) {
		bool open = false;

		for (struct conn *c = ft->conns; c != NULL; c = c->next) {
			open |= !c->done && atomic_load(&c->drop);
		}
		if (!open) {
			break;
		}
		if (pthread_cond_timedwait(&ft->cv, &ft->lock, &deadline) == ETIMEDOUT) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	unlock(ft);
	vlog(ft, "dropped %d connections\n", count);
	return rc != 0 ? rc : count;
}

int fake_target_inject(struct fake_target *ft, enum fake_fault fault, uint32_t arg)
{
	return fake_target_inject_qid(ft, fault, arg, FAKE_QID_IO);
}

int fake_target_inject_qid(struct fake_target *ft, enum fake_fault fault, uint32_t arg, int qid)
{
	if ((unsigned)fault >= FAULT_COUNT || qid < FAKE_QID_IO || qid > 0xFFFF) {
		return -EINVAL;
	}
	lock(ft);
	ft->faults[fault] = (struct armed_fault){.armed = true, .arg = arg, .qid = qid};
	unlock(ft);
	return 0;
}

void fake_target_clear_faults(struct fake_target *ft)
{
	lock(ft);
	memset(ft->faults, 0, sizeof(ft->faults));
	unlock(ft);
}

void fake_target_get_stats(struct fake_target *ft, struct fake_target_stats *out)
{
	lock(ft);
	*out = ft->stats;
	unlock(ft);
}

bool fake_target_wait(struct fake_target *ft,
		      bool (*pred)(const struct fake_target_stats *stats, void *arg), void *arg,
		      int timeout_ms)
{
	struct timespec deadline;
	bool ok;

	deadline_after(&deadline, timeout_ms);
	lock(ft);
	while (!(ok = pred(&ft->stats, arg))) {
		if (pthread_cond_timedwait(&ft->cv, &ft->lock, &deadline) == ETIMEDOUT) {
			ok = pred(&ft->stats, arg);
			break;
		}
	}
	unlock(ft);
	return ok;
}
