/*
 * NVMe/TCP host transport: one non-blocking socket per queue pair, PDUs
 * framed and checked by nvme_tcp_pdu, sends batched into one sendmsg per
 * poll, capsules with in-capsule data up to the controller's limit and
 * R2T / H2CData for larger writes.
 *
 * Nothing here allocates after the qpair is made: per-command state lives
 * in an array indexed by command id, and the send queue is a ring sized
 * for the most PDUs the commands can have queued at once.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spio/log.h"
#include "spio/util.h"

#include "env/fault.h"
#include "nvme/nvme_internal.h"
#include "nvme/nvme_tcp_pdu.h"

/* Largest transfer of one command (the controller's MDTS may lower it). */
#define TCP_MAX_XFER_SIZE (4u * 1024 * 1024)
/* Bytes read from the socket per recv. */
#define TCP_RX_BUF_SIZE (64u * 1024)
/* Stop receiving after this much in one poll, so other qpairs get a turn. */
#define TCP_RX_BUDGET (512u * 1024)
/* Data of one PDU from this size on is read straight into the command's buffers. */
#define TCP_ZCOPY_MIN (16u * 1024)
/* iovecs per sendmsg. */
#define TCP_TX_IOV_MAX 64

enum tcp_conn_state {
	TCP_CLOSED,
	TCP_SOCK_CONNECTING, /* connect() in progress */
	TCP_IC_WAIT,	     /* ICReq sent, waiting for ICResp */
	TCP_READY,
};

struct tcp_req {
	struct nvme_tcp_tx_pdu cmd_pdu;
	struct nvme_tcp_tx_pdu h2c_pdu;
	uint32_t c2h_got;    /* read data received so far (next datao expected) */
	uint32_t h2c_queued; /* write data handed to H2C PDUs so far */
	uint32_t r2t_end;    /* end of the data the current R2T asked for */
	uint16_t ttag;
	uint8_t pending_sends; /* PDUs of this command still in the send queue */
	bool in_capsule;
	bool ddgst_error;
};

struct tx_entry {
	struct nvme_tcp_tx_pdu *pdu;
	struct tcp_req *treq; /* NULL for connection PDUs (ICReq, term req) */
	bool is_h2c;
};

struct tcp_qpair {
	struct spio_nvme_qpair qpair; /* first: the core's view */
	int fd;
	enum tcp_conn_state conn;
	struct nvme_tcp_rx rx;
	struct nvme_tcp_tx_params tx_params;
	uint32_t maxh2cdata;
	uint32_t icd_limit; /* largest in-capsule write data */
	bool peer_terminated;
	struct tcp_req *treqs;
	struct tx_entry *txq;
	uint32_t txq_size, txq_head, txq_count;
	uint32_t tx_head_off; /* bytes of the head entry already sent */
	struct nvme_tcp_tx_pdu ic_pdu;
	struct nvme_tcp_tx_pdu term_pdu;
	uint8_t *rx_buf;
	uint32_t rx_off, rx_len; /* bytes of rx_buf read ahead and not parsed yet */
	uint32_t completions;	 /* during one process call */
};

static struct tcp_qpair *tcp_qp(struct spio_nvme_qpair *qpair)
{
	return SPIO_CONTAINEROF(qpair, struct tcp_qpair, qpair);
}

static const char *qp_addr(const struct tcp_qpair *tq)
{
	return tq->qpair.ctrlr->trid.traddr;
}

static struct spio_nvme_qpair *tcp_qpair_alloc(struct spio_nvme_ctrlr *ctrlr, uint32_t num_entries)
{
	struct tcp_qpair *tq = calloc(1, sizeof(*tq));

	if (tq == NULL) {
		return NULL;
	}
	tq->fd = -1;
	/* Per command at most its capsule and one H2C; plus ICReq and a term req. */
	tq->txq_size = 2 * num_entries + 2;
	tq->treqs = calloc(num_entries, sizeof(*tq->treqs));
	tq->txq = calloc(tq->txq_size, sizeof(*tq->txq));
	tq->rx_buf = malloc(TCP_RX_BUF_SIZE);
	if (tq->treqs == NULL || tq->txq == NULL || tq->rx_buf == NULL) {
		free(tq->treqs);
		free(tq->txq);
		free(tq->rx_buf);
		free(tq);
		return NULL;
	}
	return &tq->qpair;
}

static void tcp_qpair_close(struct spio_nvme_qpair *qpair)
{
	struct tcp_qpair *tq = tcp_qp(qpair);

	if (tq->fd >= 0) {
		close(tq->fd);
		tq->fd = -1;
	}
	tq->conn = TCP_CLOSED;
	tq->rx_off = 0;
	tq->rx_len = 0;
	tq->txq_head = 0;
	tq->txq_count = 0;
	tq->tx_head_off = 0;
	tq->peer_terminated = false;
	memset(tq->treqs, 0, qpair->num_entries * sizeof(*tq->treqs));
}

static void tcp_qpair_free(struct spio_nvme_qpair *qpair)
{
	struct tcp_qpair *tq = tcp_qp(qpair);

	tcp_qpair_close(qpair);
	free(tq->treqs);
	free(tq->txq);
	free(tq->rx_buf);
	free(tq);
}

static int tcp_qpair_get_fd(const struct spio_nvme_qpair *qpair)
{
	return SPIO_CONTAINEROF(qpair, const struct tcp_qpair, qpair)->fd;
}

static void txq_push(struct tcp_qpair *tq, struct nvme_tcp_tx_pdu *pdu, struct tcp_req *treq,
		     bool is_h2c)
{
	uint32_t tail = (tq->txq_head + tq->txq_count) % tq->txq_size;

	/* Sized for the worst case at alloc: cannot overflow. */
	tq->txq[tail] = (struct tx_entry){.pdu = pdu, .treq = treq, .is_h2c = is_h2c};
	tq->txq_count++;
	if (treq != NULL) {
		treq->pending_sends++;
	}
}

static struct nvme_request *treq_request(struct tcp_qpair *tq, struct tcp_req *treq)
{
	return &tq->qpair.reqs[treq - tq->treqs];
}

/* Queue the next H2CData PDU of the data the current R2T asked for. */
static int queue_h2c(struct tcp_qpair *tq, struct tcp_req *treq)
{
	struct nvme_request *req = treq_request(tq, treq);
	struct nvme_tcp_tx_pdu *pdu = &treq->h2c_pdu;
	uint32_t len = SPIO_MIN(tq->maxh2cdata, treq->r2t_end - treq->h2c_queued);
	int rc;

	nvme_tcp_tx_pdu_init(pdu, SPIO_NVME_TCP_PDU_TYPE_H2C_DATA);
	pdu->hdr.h2c_data.cccid = req->cid;
	pdu->hdr.h2c_data.ttag = treq->ttag;
	pdu->hdr.h2c_data.datao = treq->h2c_queued;
	pdu->hdr.h2c_data.datal = len;
	if (treq->h2c_queued + len == treq->r2t_end) {
		pdu->hdr.common.flags |= SPIO_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU;
	}
	rc =
	    nvme_tcp_tx_pdu_seal(pdu, &tq->tx_params, req->iov, req->iovcnt, treq->h2c_queued, len);
	if (rc != 0) {
		return rc;
	}
	treq->h2c_queued += len;
	txq_push(tq, pdu, treq, true);
	return 0;
}

/* Entries fully written leave the queue; a finished H2C may start the next. */
static int tx_sent(struct tcp_qpair *tq, size_t n)
{
	while (tq->txq_count > 0) {
		struct tx_entry *e = &tq->txq[tq->txq_head];
		uint32_t left = nvme_tcp_tx_pdu_len(e->pdu) - tq->tx_head_off;

		if (n < left) {
			tq->tx_head_off += (uint32_t)n;
			return 0;
		}
		n -= left;
		tq->tx_head_off = 0;
		tq->txq_head = (tq->txq_head + 1) % tq->txq_size;
		tq->txq_count--;
		if (e->treq != NULL) {
			e->treq->pending_sends--;
			if (e->is_h2c && e->treq->h2c_queued < e->treq->r2t_end) {
				int rc = queue_h2c(tq, e->treq);

				if (rc != 0) {
					return rc;
				}
			}
		}
	}
	return 0;
}

/* Gather up to TCP_TX_IOV_MAX iovecs from the queue, skipping what was sent. */
static int tx_gather(struct tcp_qpair *tq, struct iovec *iov)
{
	int cnt = 0;

	for (uint32_t i = 0; i < tq->txq_count && cnt < TCP_TX_IOV_MAX; i++) {
		struct tx_entry *e = &tq->txq[(tq->txq_head + i) % tq->txq_size];
		struct iovec piov[TCP_TX_IOV_MAX];
		int n = nvme_tcp_tx_pdu_iov(e->pdu, piov, TCP_TX_IOV_MAX);
		size_t skip = i == 0 ? tq->tx_head_off : 0;

		if (n < 0 || n > TCP_TX_IOV_MAX - cnt) {
			break; /* the rest goes next time */
		}
		for (int k = 0; k < n; k++) {
			if (skip >= piov[k].iov_len) {
				skip -= piov[k].iov_len;
				continue;
			}
			iov[cnt].iov_base = (uint8_t *)piov[k].iov_base + skip;
			iov[cnt].iov_len = piov[k].iov_len - skip;
			skip = 0;
			cnt++;
		}
	}
	return cnt;
}

/* Write as much of the queue as the socket takes. <0: connection lost. */
static int tx_flush(struct tcp_qpair *tq)
{
	struct iovec iov[TCP_TX_IOV_MAX];

	while (tq->txq_count > 0 && tq->conn != TCP_SOCK_CONNECTING && tq->fd >= 0) {
		struct msghdr msg = {.msg_iov = iov};
		ssize_t n;
		int rc;

		msg.msg_iovlen = (size_t)tx_gather(tq, iov);
		if (msg.msg_iovlen == 0) {
			return 0;
		}
		n = fault_hit(FAULT_SOCK_SEND) ? fault_fail(ECONNRESET)
					       : sendmsg(tq->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				return 0;
			}
			SPIO_ERRLOG("nvme/tcp %s: queue %u: send failed: %s\n", qp_addr(tq),
				    tq->qpair.id, strerror(errno));
			return -errno;
		}
		rc = tx_sent(tq, (size_t)n);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

static void tcp_qpair_flush(struct spio_nvme_qpair *qpair)
{
	struct tcp_qpair *tq = tcp_qp(qpair);

	if (tq->txq_count > 0 && tx_flush(tq) != 0) {
		/* The next process sees the dead socket and fails the queue. */
		shutdown(tq->fd, SHUT_RDWR);
	}
}

static int tcp_qpair_submit(struct spio_nvme_qpair *qpair, struct nvme_request *req)
{
	struct tcp_qpair *tq = tcp_qp(qpair);
	struct tcp_req *treq = &tq->treqs[req->cid];
	struct spio_nvme_sgl_descriptor *sgl = &req->cmd.dptr.sgl1;
	bool fabrics = req->cmd.opc == SPIO_NVME_OPC_FABRIC;
	uint32_t icd_len;
	int rc;

	if (spio_unlikely(tq->conn != TCP_READY)) {
		return -ENXIO;
	}
	treq->c2h_got = 0;
	treq->h2c_queued = 0;
	treq->r2t_end = 0;
	treq->pending_sends = 0;
	treq->ddgst_error = false;
	treq->in_capsule = req->xfer == SPIO_NVME_DATA_HOST_TO_CONTROLLER &&
			   (fabrics || req->payload_size <= tq->icd_limit);
	icd_len = treq->in_capsule ? req->payload_size : 0;

	req->cmd.psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	memset(sgl, 0, sizeof(*sgl));
	sgl->unkeyed.length = req->payload_size;
	if (treq->in_capsule) {
		sgl->unkeyed.type = SPIO_NVME_SGL_TYPE_DATA_BLOCK;
		sgl->unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_OFFSET;
	} else {
		sgl->unkeyed.type = SPIO_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
		sgl->unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_TRANSPORT;
	}
	nvme_tcp_tx_pdu_init(&treq->cmd_pdu, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD);
	treq->cmd_pdu.hdr.capsule_cmd.ccsqe = req->cmd;
	rc = nvme_tcp_tx_pdu_seal(&treq->cmd_pdu, &tq->tx_params, icd_len ? req->iov : NULL,
				  icd_len ? req->iovcnt : 0, 0, icd_len);
	if (spio_unlikely(rc != 0)) {
		return rc;
	}
	txq_push(tq, &treq->cmd_pdu, treq, false);
	return 0;
}

/* Connect from the trid's hostaddr / hostsvcid. */
static int bind_local(int fd, const struct spio_nvme_transport_id *trid)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *res = NULL;
	int rc;

	rc = getaddrinfo(trid->hostaddr, trid->hostsvcid[0] ? trid->hostsvcid : NULL, &hints, &res);
	if (rc != 0 || res == NULL) {
		SPIO_ERRLOG("nvme/tcp: bad hostaddr %s / hostsvcid %s: %s\n", trid->hostaddr,
			    trid->hostsvcid, gai_strerror(rc));
		return -EINVAL;
	}
	rc = bind(fd, res->ai_addr, res->ai_addrlen) == 0 ? 0 : -errno;
	if (rc != 0) {
		SPIO_ERRLOG("nvme/tcp: cannot bind to %s port %s: %s\n", trid->hostaddr,
			    trid->hostsvcid, strerror(-rc));
	}
	freeaddrinfo(res);
	return rc;
}

static int open_socket(struct tcp_qpair *tq)
{
	const struct spio_nvme_transport_id *trid = &tq->qpair.ctrlr->trid;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int one = 1, fd, rc;

	hints.ai_family = trid->adrfam == SPIO_NVMF_ADRFAM_IPV6	  ? AF_INET6
			  : trid->adrfam == SPIO_NVMF_ADRFAM_IPV4 ? AF_INET
								  : AF_UNSPEC;
	rc = getaddrinfo(trid->traddr, trid->trsvcid[0] ? trid->trsvcid : "4420", &hints, &res);
	if (rc != 0 || res == NULL) {
		SPIO_ERRLOG("nvme/tcp: cannot resolve %s port %s: %s\n", trid->traddr,
			    trid->trsvcid, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		freeaddrinfo(res);
		return rc;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (trid->hostaddr[0] != '\0' && (rc = bind_local(fd, trid)) != 0) {
		freeaddrinfo(res);
		close(fd);
		return rc;
	}
	if (trid->priority != 0) {
		setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &trid->priority, sizeof(trid->priority));
	}
	if (connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) {
		rc = -errno;
		SPIO_ERRLOG("nvme/tcp: connect to %s port %s failed: %s\n", trid->traddr,
			    trid->trsvcid, strerror(errno));
		freeaddrinfo(res);
		close(fd);
		return rc;
	}
	freeaddrinfo(res);
	tq->fd = fd;
	tq->conn = TCP_SOCK_CONNECTING;
	return 0;
}

static int tcp_qpair_connect(struct spio_nvme_qpair *qpair)
{
	struct tcp_qpair *tq = tcp_qp(qpair);
	const struct spio_nvme_ctrlr_opts *opts = &qpair->ctrlr->opts;
	const struct spio_nvme_ctrlr_data *cdata = &qpair->ctrlr->cdata;
	struct nvme_tcp_rx_params rxp = {.max_data_len = TCP_MAX_XFER_SIZE};
	int rc;

	tcp_qpair_close(qpair);
	nvme_tcp_rx_init(&tq->rx, NVME_TCP_ROLE_HOST);
	nvme_tcp_rx_set_params(&tq->rx, &rxp);
	tq->tx_params = (struct nvme_tcp_tx_params){0};
	/* I/O queues take what Identify says (IOCCSZ counts the 64-byte SQE). */
	if (qpair->id == 0) {
		tq->icd_limit = NVME_ADMIN_ICD_SIZE;
	} else {
		tq->icd_limit = cdata->ioccsz >= 4 ? cdata->ioccsz * 16 - 64 : 0;
	}
	rc = open_socket(tq);
	if (rc != 0) {
		return rc;
	}
	rc = nvme_tcp_ic_req_build(&tq->ic_pdu, 0, opts->header_digest, opts->data_digest, 0);
	if (rc == 0) {
		txq_push(tq, &tq->ic_pdu, NULL, false);
	}
	return rc;
}

/* The socket finished connecting (or failed): send the ICReq. */
static int check_sock_connected(struct tcp_qpair *tq)
{
	struct pollfd pfd = {.fd = tq->fd, .events = POLLOUT};
	int err = 0;
	socklen_t len = sizeof(err);

	if (poll(&pfd, 1, 0) <= 0) {
		return 0; /* still connecting */
	}
	if (getsockopt(tq->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
		err = errno;
	}
	if (err != 0) {
		SPIO_ERRLOG("nvme/tcp %s port %s: connect failed: %s\n", qp_addr(tq),
			    tq->qpair.ctrlr->trid.trsvcid, strerror(err));
		return -err;
	}
	tq->conn = TCP_IC_WAIT;
	return tx_flush(tq);
}

static struct nvme_request *find_req(struct tcp_qpair *tq, uint16_t cid)
{
	return nvme_qpair_find_outstanding(&tq->qpair, cid);
}

static int on_header(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
		     struct iovec **iov, int *iovcnt, uint32_t *iov_offset)
{
	struct tcp_qpair *tq = ctx;
	const struct spio_nvme_tcp_c2h_data_hdr *c2h = &hdr->c2h_data;
	struct nvme_request *req;
	struct tcp_req *treq;

	if (hdr->common.pdu_type != SPIO_NVME_TCP_PDU_TYPE_C2H_DATA) {
		nvme_tcp_rx_fail(&tq->rx, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, 0,
				 "unexpected data PDU");
		return -1;
	}
	req = find_req(tq, c2h->cccid);
	if (req == NULL || req->xfer != SPIO_NVME_DATA_CONTROLLER_TO_HOST) {
		nvme_tcp_rx_fail(&tq->rx, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD,
				 offsetof(struct spio_nvme_tcp_c2h_data_hdr, cccid),
				 "C2HData for no outstanding read");
		return -1;
	}
	treq = &tq->treqs[req->cid];
	if (c2h->datao != treq->c2h_got || (uint64_t)c2h->datao + data_len > req->payload_size) {
		nvme_tcp_rx_fail(&tq->rx, SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
				 "C2HData offset or length outside the read");
		return -1;
	}
	*iov = (struct iovec *)req->iov;
	*iovcnt = req->iovcnt;
	*iov_offset = c2h->datao;
	/* Large data: stop parsing the read-ahead so the rest comes straight from the socket. */
	return data_len >= TCP_ZCOPY_MIN ? NVME_TCP_RX_PAUSE : 0;
}

static void complete(struct tcp_qpair *tq, struct nvme_request *req, struct spio_nvme_cpl *cpl)
{
	cpl->cid = req->cid;
	if (tq->treqs[req->cid].ddgst_error && !spio_nvme_cpl_is_error(cpl)) {
		cpl->status.sct = SPIO_NVME_SCT_GENERIC;
		cpl->status.sc = SPIO_NVME_SC_COMMAND_TRANSIENT_TRANSPORT_ERROR;
	}
	tq->completions++;
	nvme_qpair_complete(&tq->qpair, req, cpl);
}

static int on_c2h_done(struct tcp_qpair *tq, const struct spio_nvme_tcp_c2h_data_hdr *c2h,
		       bool ddgst_ok)
{
	struct nvme_request *req = find_req(tq, c2h->cccid);
	struct tcp_req *treq = &tq->treqs[c2h->cccid];
	struct spio_nvme_cpl cpl = {0};

	treq->c2h_got += c2h->datal;
	if (!ddgst_ok) {
		SPIO_ERRLOG("nvme/tcp %s: queue %u: data digest error on cid %u\n", qp_addr(tq),
			    tq->qpair.id, c2h->cccid);
		treq->ddgst_error = true;
	}
	if (!(c2h->common.flags & SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS)) {
		return 0;
	}
	/* SUCCESS: no CapsuleResp follows; only legal on the last PDU with all the data. */
	if (!(c2h->common.flags & SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU) ||
	    treq->c2h_got != req->payload_size) {
		nvme_tcp_rx_fail(&tq->rx, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD,
				 offsetof(struct spio_nvme_tcp_common_pdu_hdr, flags),
				 "C2HData SUCCESS before all data");
		return -1;
	}
	complete(tq, req, &cpl);
	return 0;
}

static int on_capsule_resp(struct tcp_qpair *tq, const struct spio_nvme_cpl *rcqe)
{
	struct nvme_request *req = find_req(tq, rcqe->cid);
	struct spio_nvme_cpl cpl = *rcqe;
	struct tcp_req *treq;

	if (req == NULL) {
		nvme_tcp_rx_fail(&tq->rx, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD,
				 8 + offsetof(struct spio_nvme_cpl, cid),
				 "CapsuleResp for no outstanding command");
		return -1;
	}
	treq = &tq->treqs[req->cid];
	if (treq->pending_sends > 0) {
		/* Answered before we finished sending it: the buffers are still in use. */
		nvme_tcp_rx_fail(&tq->rx, SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR, 0,
				 "CapsuleResp before the command was sent");
		return -1;
	}
	if (!spio_nvme_cpl_is_error(&cpl) && req->xfer == SPIO_NVME_DATA_CONTROLLER_TO_HOST &&
	    treq->c2h_got != req->payload_size) {
		SPIO_ERRLOG("nvme/tcp %s: queue %u: cid %u succeeded with %u of %u bytes read\n",
			    qp_addr(tq), tq->qpair.id, req->cid, treq->c2h_got, req->payload_size);
		cpl.status.sct = SPIO_NVME_SCT_GENERIC;
		cpl.status.sc = SPIO_NVME_SC_DATA_TRANSFER_ERROR;
	}
	complete(tq, req, &cpl);
	return 0;
}

static int on_r2t(struct tcp_qpair *tq, const struct spio_nvme_tcp_r2t_hdr *r2t)
{
	struct nvme_request *req = find_req(tq, r2t->cccid);
	struct tcp_req *treq;

	if (req == NULL || req->xfer != SPIO_NVME_DATA_HOST_TO_CONTROLLER ||
	    tq->treqs[req->cid].in_capsule) {
		nvme_tcp_rx_fail(&tq->rx, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD,
				 offsetof(struct spio_nvme_tcp_r2t_hdr, cccid),
				 "R2T for no outstanding write");
		return -1;
	}
	treq = &tq->treqs[req->cid];
	if (treq->h2c_queued < treq->r2t_end) {
		nvme_tcp_rx_fail(&tq->rx, SPIO_NVME_TCP_TERM_REQ_FES_R2T_LIMIT_EXCEEDED, 0,
				 "R2T while the previous one is being served");
		return -1;
	}
	if (r2t->r2to != treq->h2c_queued || r2t->r2tl == 0 ||
	    (uint64_t)r2t->r2to + r2t->r2tl > req->payload_size) {
		nvme_tcp_rx_fail(&tq->rx, SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
				 "R2T offset or length outside the write");
		return -1;
	}
	treq->ttag = r2t->ttag;
	treq->r2t_end = r2t->r2to + r2t->r2tl;
	return queue_h2c(tq, treq) == 0 ? 0 : -1;
}

static int on_ic_resp(struct tcp_qpair *tq, const struct spio_nvme_tcp_ic_resp *ic)
{
	const struct spio_nvme_ctrlr_opts *opts = &tq->qpair.ctrlr->opts;
	struct nvme_tcp_rx_params rxp = {.max_data_len = TCP_MAX_XFER_SIZE};
	bool hdgst = ic->dgst.bits.hdgst_enable, ddgst = ic->dgst.bits.ddgst_enable;

	if (tq->conn != TCP_IC_WAIT || ic->pfv != SPIO_NVME_TCP_PFV_1_0 || ic->cpda > 31 ||
	    ic->maxh2cdata < 4096 || ic->maxh2cdata % 4 != 0 || (hdgst && !opts->header_digest) ||
	    (ddgst && !opts->data_digest)) {
		nvme_tcp_rx_fail(&tq->rx, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, 0,
				 "ICResp with values we did not offer");
		return -1;
	}
	tq->maxh2cdata = ic->maxh2cdata;
	tq->tx_params =
	    (struct nvme_tcp_tx_params){.hdgst = hdgst, .ddgst = ddgst, .pda = ic->cpda};
	rxp.hdgst = hdgst;
	rxp.ddgst = ddgst;
	nvme_tcp_rx_set_params(&tq->rx, &rxp);
	tq->conn = TCP_READY;
	nvme_qpair_transport_ready(&tq->qpair, 0);
	return 0;
}

static int dispatch_pdu(struct tcp_qpair *tq, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	switch (hdr->common.pdu_type) {
	case SPIO_NVME_TCP_PDU_TYPE_IC_RESP:
		return on_ic_resp(tq, &hdr->ic_resp);
	case SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
		return on_capsule_resp(tq, &hdr->capsule_resp.rccqe);
	case SPIO_NVME_TCP_PDU_TYPE_C2H_DATA:
		return on_c2h_done(tq, &hdr->c2h_data, ddgst_ok);
	case SPIO_NVME_TCP_PDU_TYPE_R2T:
		return on_r2t(tq, &hdr->r2t);
	case SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
		SPIO_ERRLOG("nvme/tcp %s: queue %u: controller terminated the connection: fes %u\n",
			    qp_addr(tq), tq->qpair.id, hdr->term_req.fes);
		tq->peer_terminated = true;
		nvme_tcp_rx_fail(&tq->rx, hdr->term_req.fes, 0, "C2HTermReq received");
		return -1;
	default:
		return -1; /* the rx accepts no other type for a host */
	}
}

static int on_pdu(void *ctx, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	struct tcp_qpair *tq = ctx;
	int rc = dispatch_pdu(tq, hdr, ddgst_ok);

	/* A completion callback dropped the queue: stop parsing what is left. */
	if (rc == 0 && tq->qpair.state == NVME_QPAIR_DISCONNECTED) {
		return NVME_TCP_RX_PAUSE;
	}
	return rc;
}

static const struct nvme_tcp_rx_ops g_rx_ops = {.on_header = on_header, .on_pdu = on_pdu};

/* Tell the controller why we drop the connection (best effort, never blocks). */
static void send_term_req(struct tcp_qpair *tq)
{
	struct iovec iov[4];
	size_t err_len = 0;
	const void *err_hdr = nvme_tcp_rx_err_hdr(&tq->rx, &err_len);
	int n;

	if (tq->peer_terminated || tq->conn != TCP_READY ||
	    nvme_tcp_term_req_build(&tq->term_pdu, SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ,
				    tq->rx.err.fes, tq->rx.err.fei, err_hdr, err_len) != 0) {
		return;
	}
	n = nvme_tcp_tx_pdu_iov(&tq->term_pdu, iov, SPIO_COUNTOF(iov));
	if (n > 0 && tq->txq_count == 0) {
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};

		(void)sendmsg(tq->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

static int rx_failed(struct tcp_qpair *tq)
{
	SPIO_ERRLOG("nvme/tcp %s: queue %u: protocol error: %s (fes %u)\n", qp_addr(tq),
		    tq->qpair.id, tq->rx.err.reason, tq->rx.err.fes);
	send_term_req(tq);
	return -ENXIO;
}

/* Bytes from the socket: >0 read, 0 nothing now, <0 the connection is gone. */
static ssize_t sock_read(struct tcp_qpair *tq, struct iovec *iov, int iovcnt)
{
	ssize_t n = readv(tq->fd, iov, iovcnt);

	if (n > 0) {
		return n;
	}
	if (n == 0) {
		SPIO_ERRLOG("nvme/tcp %s: queue %u: connection closed by the controller\n",
			    qp_addr(tq), tq->qpair.id);
		return -ENXIO;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		return 0;
	}
	SPIO_ERRLOG("nvme/tcp %s: queue %u: receive failed: %s\n", qp_addr(tq), tq->qpair.id,
		    strerror(errno));
	return -ENXIO;
}

/*
 * Receive: bytes read ahead into rx_buf are parsed first; a large PDU's data
 * (the parser pauses after its header, see on_header) is then read from
 * the socket straight into the command's buffers, SPDK's way, so a 128 KiB
 * read is copied at most for the part that came with its header.
 */
static int32_t receive(struct tcp_qpair *tq, uint32_t max)
{
	uint32_t budget = TCP_RX_BUDGET;

	while (budget > 0 && (max == 0 || tq->completions < max)) {
		struct iovec iov[8];
		int iovcnt;
		ssize_t n;

		if (tq->rx_len > 0) {
			n = nvme_tcp_rx_feed(&tq->rx, tq->rx_buf + tq->rx_off, tq->rx_len,
					     &g_rx_ops, tq);
			if (n < 0) {
				return rx_failed(tq);
			}
			if (tq->qpair.state == NVME_QPAIR_DISCONNECTED) {
				return -ENXIO;
			}
			tq->rx_off += (uint32_t)n;
			tq->rx_len -= (uint32_t)n;
			if (n == 0) {
				break; /* nothing consumable now: never spin */
			}
			continue;
		}
		iovcnt = nvme_tcp_rx_data_iov(&tq->rx, iov, SPIO_COUNTOF(iov));
		if (iovcnt > 0 && nvme_tcp_rx_need(&tq->rx) >= TCP_ZCOPY_MIN) {
			n = sock_read(tq, iov, iovcnt);
			if (n <= 0) {
				return n < 0 ? -ENXIO : 0;
			}
			if (nvme_tcp_rx_data_advance(&tq->rx, (size_t)n, &g_rx_ops, tq) != 0) {
				return rx_failed(tq);
			}
		} else {
			struct iovec buf = {.iov_base = tq->rx_buf, .iov_len = TCP_RX_BUF_SIZE};

			n = sock_read(tq, &buf, 1);
			if (n <= 0) {
				return n < 0 ? -ENXIO : 0;
			}
			tq->rx_off = 0;
			tq->rx_len = (uint32_t)n;
		}
		if (tq->qpair.state == NVME_QPAIR_DISCONNECTED) {
			return -ENXIO;
		}
		budget = (uint32_t)n >= budget ? 0 : budget - (uint32_t)n;
	}
	return 0;
}

static int32_t tcp_qpair_process(struct spio_nvme_qpair *qpair, uint32_t max)
{
	struct tcp_qpair *tq = tcp_qp(qpair);
	int32_t rc;

	if (tq->fd < 0) {
		return -ENXIO;
	}
	tq->completions = 0;
	if (tq->conn == TCP_SOCK_CONNECTING) {
		rc = check_sock_connected(tq);
		if (rc != 0 || tq->conn == TCP_SOCK_CONNECTING) {
			return rc;
		}
	}
	rc = tx_flush(tq);
	/* Bytes read ahead are parsed even when the socket itself has nothing. */
	if (rc == 0 && (!qpair->rx_idle || tq->rx_len > 0)) {
		rc = receive(tq, max);
	}
	return rc < 0 ? -ENXIO : (int32_t)tq->completions;
}

const struct nvme_transport_ops g_nvme_tcp_ops = {
    .trtype = SPIO_NVME_TRANSPORT_TCP,
    .qpair_alloc = tcp_qpair_alloc,
    .qpair_free = tcp_qpair_free,
    .qpair_connect = tcp_qpair_connect,
    .qpair_close = tcp_qpair_close,
    .qpair_submit = tcp_qpair_submit,
    .qpair_process = tcp_qpair_process,
    .fabrics = true,
    .qpair_flush = tcp_qpair_flush,
    .qpair_get_fd = tcp_qpair_get_fd,
    .max_xfer_size = TCP_MAX_XFER_SIZE,
};
