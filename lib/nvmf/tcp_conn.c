/*
 * NVMe-oF TCP transport: one connection (a queue pair) and its requests.
 *
 * The receive side is nvme_tcp_rx in the controller role, which validates
 * every PDU; its callbacks here turn PDUs into requests. ICReq is answered
 * with ICResp (the digests the host asked for, CPDA 0, MAXH2CDATA =
 * max_io_size). A capsule takes a free request of the connection: its data
 * comes in the capsule (into the request's own buffer), or after an R2T for
 * the whole transfer (one per command) as H2CData into own or pool buffers;
 * then the core executes it. A read's data goes back as one C2HData PDU with
 * LAST_PDU, with SUCCESS and no CapsuleResp when c2h_success is on, the host
 * disabled SQ flow control and the completion carries nothing else.
 *
 * Request states: FREE -> [RX_DATA | NEED_BUF | H2C] -> EXECUTING -> TX ->
 * FREE, where a request returns to FREE once its last PDU left the socket
 * (the PDUs reference its buffers until then).
 *
 * Teardown: on EOF, a socket error or a malformed PDU (answered with a
 * C2HTermReq) the socket is shut, requests the transport holds are recycled,
 * and nvmf_qpair_disconnect() tells the core, which lets executing requests
 * finish (req_complete then only recycles) and calls qpair_fini, where the
 * connection is freed.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spio/dma.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/util.h"

#include "env/fault.h"
#include "nvmf/tcp_internal.h"

/* Request buffers are page aligned for bdevs opened with O_DIRECT. */
#define TCP_ICD_ALIGN 4096u

/* Byte offsets in a CapsuleCmd PDU, for the FEI of a C2HTermReq. */
#define FEI_PLEN 4u
#define FEI_OPCODE 8u
#define FEI_SGL_ADDRESS (8u + 24u)
#define FEI_SGL_TYPE (8u + 24u + 15u)

static const struct nvme_tcp_rx_ops g_rx_ops;

static void conn_grow(struct tcp_conn *c);

static const char *peer(const struct tcp_conn *c)
{
	return c->qpair.peer_trid.traddr;
}

static const char *peer_port(const struct tcp_conn *c)
{
	return c->qpair.peer_trid.trsvcid;
}

/*
 * Send queue
 */

static bool txq_push_zc(struct tcp_conn *c, struct nvme_tcp_tx_pdu *pdu, struct tcp_req *treq,
			bool zc)
{
	uint32_t tail;

	/* Sized for the worst case (two PDUs per request, two of the connection's). */
	if (spio_unlikely(c->txq_count == c->txq_size)) {
		SPIO_ERRLOG("TCP %s:%s: send queue overflow\n", peer(c), peer_port(c));
		return false;
	}
	tail = (c->txq_head + c->txq_count) % c->txq_size;
	c->txq[tail] = (struct tcp_tx_entry){.pdu = pdu, .treq = treq, .zc = zc};
	c->txq_count++;
	if (treq != NULL) {
		treq->pending_sends++;
	}
	nvmf_tcp_group_want_flush(c->tg, c);
	return true;
}

static bool txq_push(struct tcp_conn *c, struct nvme_tcp_tx_pdu *pdu, struct tcp_req *treq)
{
	return txq_push_zc(c, pdu, treq, false);
}

static void req_recycle(struct tcp_req *treq)
{
	struct tcp_conn *c = treq->conn;

	if (treq->pool_bufs) {
		nvmf_tcp_group_put_bufs(c->tg, treq);
	}
	treq->state = TCP_REQ_FREE;
	treq->pending_sends = 0;
	treq->zc = false;
	treq->zc_pending = false;
	treq->req.iovcnt = 0;
	treq->req.length = 0;
	TAILQ_INSERT_TAIL(&c->free_reqs, treq, link);
	/* The Connect's response is out: now the queue gets all its requests. */
	if (spio_unlikely(c->grow) && c->state < TCP_CONN_CLOSING) {
		conn_grow(c);
	}
}

static void req_send_resp(struct tcp_req *treq);

void nvmf_tcp_req_zcopy_done(struct tcp_req *treq)
{
	treq->zc = false;
	req_send_resp(treq);
}

void nvmf_tcp_req_zcopy_abandon(struct tcp_req *treq)
{
	req_recycle(treq);
}

/*
 * Its last PDU left. Zero-copy data: the response follows once the kernel
 * is done with it (now, if the send fell back to a copy). Else recycle.
 */
static void req_sent(struct tcp_conn *c, struct tcp_req *treq)
{
	if (treq->zc_pending) {
		TAILQ_INSERT_TAIL(&c->zc_wait, treq, link);
	} else if (treq->zc) {
		nvmf_tcp_req_zcopy_done(treq);
	} else {
		req_recycle(treq);
	}
}

/*
 * Entries fully written leave the queue; a request whose last PDU left is
 * done. `zc`: these bytes went in zero-copy send number `seq`, so every
 * request they touched waits for it.
 */
static void tx_sent(struct tcp_conn *c, size_t n, bool zc, uint32_t seq)
{
	while (c->txq_count > 0 && n > 0) {
		struct tcp_tx_entry e = c->txq[c->txq_head];
		uint32_t left = nvme_tcp_tx_pdu_len(e.pdu) - c->tx_head_off;

		if (zc && e.treq != NULL) {
			e.treq->zc_pending = true;
			e.treq->zc_seq = seq;
		}
		if (n < left) {
			c->tx_head_off += (uint32_t)n;
			return;
		}
		n -= left;
		c->tx_head_off = 0;
		c->txq_head = (c->txq_head + 1) % c->txq_size;
		c->txq_count--;
		if (e.treq != NULL && --e.treq->pending_sends == 0 && e.treq->state == TCP_REQ_TX) {
			req_sent(c, e.treq);
		}
	}
}

/*
 * Gather up to TCP_TX_IOV_MAX iovecs from the queue, skipping what was sent.
 * A zero-copy entry goes alone (`*zc` set): MSG_ZEROCOPY pins every page of
 * the call, and only that request waits for the kernel.
 */
static int tx_gather(const struct tcp_conn *c, struct iovec *iov, bool *zc)
{
	int cnt = 0;

	*zc = c->txq_count > 0 && c->txq[c->txq_head].zc;
	for (uint32_t i = 0; i < c->txq_count && cnt < TCP_TX_IOV_MAX; i++) {
		const struct tcp_tx_entry *e = &c->txq[(c->txq_head + i) % c->txq_size];
		struct iovec piov[NVMF_REQ_MAX_IOV + 2];
		int n = nvme_tcp_tx_pdu_iov(e->pdu, piov, SPIO_COUNTOF(piov));
		size_t skip = i == 0 ? c->tx_head_off : 0;

		if (n < 0 || n > TCP_TX_IOV_MAX - cnt || (i > 0 && (*zc || e->zc))) {
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

void nvmf_tcp_conn_flush(struct tcp_conn *c)
{
	struct iovec iov[TCP_TX_IOV_MAX];

	while (c->txq_count > 0 && !c->tx_blocked && c->state < TCP_CONN_CLOSING) {
		struct msghdr msg = {.msg_iov = iov};
		bool zc;
		ssize_t n;

		msg.msg_iovlen = (size_t)tx_gather(c, iov, &zc);
		zc = zc && c->zcopy;
		n = fault_hit(FAULT_SOCK_SEND)
			? fault_fail(ECONNRESET)
			: sendmsg(c->fd, &msg,
				  MSG_DONTWAIT | MSG_NOSIGNAL | (zc ? MSG_ZEROCOPY : 0));
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (zc && errno == ENOBUFS) {
				c->zcopy = false; /* out of pinned-page budget: copy from now on */
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->tx_blocked = true;
				nvmf_tcp_group_watch_out(c->tg, c, true);
				return;
			}
			SPIO_DEBUGLOG(nvmf_tcp, "%s:%s: send failed: %s\n", peer(c), peer_port(c),
				      strerror(errno));
			nvmf_tcp_conn_close(c, false, "send failed");
			return;
		}
		/* The kernel numbers every zero-copy send that did not fail. */
		tx_sent(c, (size_t)n, zc, c->zc_next);
		if (zc) {
			c->zc_next++;
			c->zc_sends++;
		}
	}
	if (c->txq_count == 0 && (c->epoll_events & EPOLLOUT)) {
		nvmf_tcp_group_watch_out(c->tg, c, false);
	}
}

/*
 * Requests
 */

static uint8_t cmd_xfer(const struct spio_nvme_cmd *cmd)
{
	const struct spio_nvme_sgl_descriptor *sgl = &cmd->dptr.sgl1;
	uint8_t xfer;
	uint32_t len;

	if (cmd->opc == SPIO_NVME_OPC_FABRIC) {
		xfer = ((const struct spio_nvmf_capsule_cmd *)(const void *)cmd)->fctype & 3;
	} else {
		xfer = spio_nvme_opc_get_data_transfer((uint8_t)cmd->opc);
	}
	len = sgl->generic.type == SPIO_NVME_SGL_TYPE_KEYED_DATA_BLOCK ? (uint32_t)sgl->keyed.length
								       : sgl->unkeyed.length;
	/* A command that may move data but asks for none moves none. */
	return len == 0 ? SPIO_NVME_DATA_NONE : xfer;
}

static bool is_connect(const struct spio_nvme_cmd *cmd)
{
	return cmd->opc == SPIO_NVME_OPC_FABRIC &&
	       ((const struct spio_nvmf_capsule_cmd *)(const void *)cmd)->fctype ==
		   SPIO_NVMF_FABRIC_COMMAND_CONNECT;
}

static void req_send_resp(struct tcp_req *treq)
{
	struct tcp_conn *c = treq->conn;
	struct nvme_tcp_tx_pdu *pdu = &treq->rsp_pdu;

	treq->state = TCP_REQ_TX;
	nvme_tcp_tx_pdu_init(pdu, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	pdu->hdr.capsule_resp.rccqe = treq->rsp;
	if (nvme_tcp_tx_pdu_seal(pdu, &c->tx_params, NULL, 0, 0, 0) != 0 ||
	    !txq_push(c, pdu, treq)) {
		nvmf_tcp_conn_close(c, false, "cannot queue a response");
	}
}

/* Fail a command the core never saw; the core fills in cid, sqid and sqhd. */
static void req_fail(struct tcp_req *treq, uint8_t sct, uint8_t sc)
{
	memset(&treq->rsp, 0, sizeof(treq->rsp));
	treq->rsp.status.sct = sct;
	treq->rsp.status.sc = sc;
	treq->state = TCP_REQ_EXECUTING;
	nvmf_request_complete(&treq->req);
}

static void req_exec(struct tcp_req *treq)
{
	treq->state = TCP_REQ_EXECUTING;
	nvmf_request_exec(&treq->req);
}

static void req_send_r2t(struct tcp_req *treq)
{
	struct tcp_conn *c = treq->conn;
	struct nvme_tcp_tx_pdu *pdu = &treq->data_pdu;

	treq->state = TCP_REQ_H2C;
	treq->h2c_got = 0;
	nvme_tcp_tx_pdu_init(pdu, SPIO_NVME_TCP_PDU_TYPE_R2T);
	pdu->hdr.r2t.cccid = treq->cmd.cid;
	pdu->hdr.r2t.ttag = treq->ttag;
	pdu->hdr.r2t.r2to = 0;
	pdu->hdr.r2t.r2tl = treq->req.length;
	if (nvme_tcp_tx_pdu_seal(pdu, &c->tx_params, NULL, 0, 0, 0) != 0 ||
	    !txq_push(c, pdu, treq)) {
		nvmf_tcp_conn_close(c, false, "cannot queue an R2T");
	}
}

void nvmf_tcp_req_have_bufs(struct tcp_req *treq)
{
	if (treq->conn->state >= TCP_CONN_CLOSING) {
		req_recycle(treq);
	} else if (treq->req.xfer == SPIO_NVME_DATA_HOST_TO_CONTROLLER) {
		req_send_r2t(treq);
	} else {
		req_exec(treq);
	}
}

/* Give a request its data buffer: its own when the data fits, else from the pool. */
static void req_get_buffer(struct tcp_req *treq)
{
	struct tcp_conn *c = treq->conn;

	if (treq->req.length <= c->icd_size) {
		treq->req.iov[0].iov_base = treq->icd_buf;
		treq->req.iov[0].iov_len = treq->req.length;
		treq->req.iovcnt = 1;
		nvmf_tcp_req_have_bufs(treq);
	} else if (nvmf_tcp_group_get_bufs(c->tg, treq)) {
		nvmf_tcp_req_have_bufs(treq);
	}
}

static void send_c2h(struct tcp_req *treq)
{
	struct tcp_conn *c = treq->conn;
	struct nvme_tcp_tx_pdu *pdu = &treq->data_pdu;
	/* Zero-copy data: the response waits for the kernel, so no SUCCESS flag. */
	bool zc = c->zcopy && treq->req.length >= TCP_ZCOPY_REQ_MIN;
	bool success = !zc && c->tt->base.opts.c2h_success && c->sqfc_disabled &&
		       treq->rsp.cdw0 == 0 && treq->rsp.cdw1 == 0;

	treq->state = TCP_REQ_TX;
	treq->zc = zc;
	nvme_tcp_tx_pdu_init(pdu, SPIO_NVME_TCP_PDU_TYPE_C2H_DATA);
	pdu->hdr.c2h_data.cccid = treq->cmd.cid;
	pdu->hdr.c2h_data.datao = 0;
	pdu->hdr.c2h_data.datal = treq->req.length;
	pdu->hdr.common.flags = SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU |
				(success ? SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS : 0);
	if (nvme_tcp_tx_pdu_seal(pdu, &c->tx_params, treq->req.iov, treq->req.iovcnt, 0,
				 treq->req.length) != 0) {
		/* The core left a length its buffers do not hold. */
		SPIO_ERRLOG("TCP %s:%s: cid %u: read of %u bytes does not fit its buffers\n",
			    peer(c), peer_port(c), treq->cmd.cid, treq->req.length);
		req_fail(treq, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	if (!txq_push_zc(c, pdu, treq, zc)) {
		nvmf_tcp_conn_close(c, false, "cannot queue read data");
	} else if (!success && !zc) {
		req_send_resp(treq);
	}
}

/* A connection counts against the pre-connect bound until its Connect succeeds. */
static void conn_connected(struct tcp_conn *c)
{
	c->connected = true;
	c->grow = true;
	if (c->preconnect) {
		c->preconnect = false;
		atomic_fetch_sub(&c->tt->preconnect, 1);
		nvmf_tcp_group_preconnect_changed(c->tg, -1);
	}
}

void nvmf_tcp_req_complete(struct nvmf_request *req)
{
	struct tcp_req *treq = SPIO_CONTAINEROF(req, struct tcp_req, req);
	struct tcp_conn *c = treq->conn;
	bool ok = !spio_nvme_cpl_is_error(&treq->rsp);

	if (c->state >= TCP_CONN_CLOSING) {
		req_recycle(treq);
		return;
	}
	if (ok && !c->connected && is_connect(&treq->cmd)) {
		conn_connected(c);
	}
	if (ok && req->xfer == SPIO_NVME_DATA_CONTROLLER_TO_HOST && req->length > 0) {
		send_c2h(treq);
	} else {
		req_send_resp(treq);
	}
}

/*
 * Receiving
 */

/*
 * Give the connection `depth` requests with own buffers of `icd_size`
 * bytes (and a send ring to match), replacing the old ones, which must
 * all be free. \return 0 or -ENOMEM (nothing changed).
 */
static int conn_set_reqs(struct tcp_conn *c, uint32_t depth, uint32_t icd_size)
{
	size_t stride = spio_align_up(icd_size, TCP_ICD_ALIGN);
	struct tcp_req *reqs = calloc(depth, sizeof(*reqs));
	/* DMA memory: a PCIe nvme bdev hands in-capsule data to the controller as it is. */
	uint8_t *icd_mem = spio_dma_malloc(stride * depth, TCP_ICD_ALIGN);
	struct tcp_tx_entry *txq = calloc(2 * depth + 2, sizeof(*txq));
	struct nvme_tcp_rx_params rxp = c->rx.params;

	if (reqs == NULL || icd_mem == NULL || txq == NULL) {
		free(reqs);
		spio_dma_free(icd_mem);
		free(txq);
		return -ENOMEM;
	}
	/* What the old ring holds (the ICResp, say) keeps its order. */
	for (uint32_t i = 0; i < c->txq_count; i++) {
		txq[i] = c->txq[(c->txq_head + i) % c->txq_size];
	}
	if (c->txq != c->txq_small) {
		free(c->txq);
	}
	free(c->reqs);
	spio_dma_free(c->icd_mem);
	c->txq = txq;
	c->txq_head = 0;
	c->txq_size = 2 * depth + 2;
	c->reqs = reqs;
	c->icd_mem = icd_mem;
	c->depth = depth;
	c->icd_size = icd_size;
	TAILQ_INIT(&c->free_reqs);
	for (uint32_t i = 0; i < depth; i++) {
		struct tcp_req *treq = &reqs[i];

		treq->conn = c;
		treq->ttag = (uint16_t)(i + 1);
		treq->icd_buf = icd_mem + i * stride;
		treq->req.qpair = &c->qpair;
		treq->req.cmd = &treq->cmd;
		treq->req.rsp = &treq->rsp;
		TAILQ_INSERT_TAIL(&c->free_reqs, treq, link);
	}
	rxp.max_incapsule = icd_size;
	nvme_tcp_rx_set_params(&c->rx, &rxp);
	return 0;
}

/*
 * The first capsule: note what its Connect says. Until the Connect
 * succeeds the connection has a single request (with room for the
 * Connect's data), so connections that never get that far cost little.
 */
static int conn_first_capsule(struct tcp_conn *c, const struct spio_nvme_cmd *cmd)
{
	const struct spio_nvmf_fabric_connect_cmd *cc = (const void *)cmd;

	if (is_connect(cmd)) {
		c->qid = cc->qid;
		c->sqfc_disabled = (cc->cattr & SPIO_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW) != 0;
	}
	return conn_set_reqs(c, 1,
			     SPIO_MAX(c->tt->base.opts.in_capsule_data_size, TCP_ADMIN_ICD_SIZE));
}

/* Connected: the queue's full set of requests (max_aq_depth or max_queue_depth). */
static void conn_grow(struct tcp_conn *c)
{
	const struct spio_nvmf_transport_opts *o = &c->tt->base.opts;
	bool admin = c->qid == 0;

	c->grow = false;
	if (conn_set_reqs(c, admin ? o->max_aq_depth : o->max_queue_depth,
			  SPIO_MAX(o->in_capsule_data_size,
				   admin ? TCP_ADMIN_ICD_SIZE : TCP_CONNECT_DATA_SIZE)) != 0) {
		SPIO_ERRLOG("TCP %s:%s: no memory for the queue's requests\n", peer(c),
			    peer_port(c));
		nvmf_tcp_conn_close(c, false, "out of memory");
	}
}

static struct tcp_req *req_take(struct tcp_conn *c, const struct spio_nvme_cmd *cmd)
{
	struct tcp_req *treq;

	if (c->reqs == NULL && conn_first_capsule(c, cmd) != 0) {
		c->no_term_req = true;
		nvme_tcp_rx_fail(&c->rx, 0, 0, "out of memory for the queue's requests");
		return NULL;
	}
	treq = TAILQ_FIRST(&c->free_reqs);
	if (treq == NULL) {
		nvme_tcp_rx_fail(&c->rx, SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR, 0,
				 "more commands outstanding than the queue holds");
		return NULL;
	}
	TAILQ_REMOVE(&c->free_reqs, treq, link);
	treq->cmd = *cmd;
	memset(&treq->rsp, 0, sizeof(treq->rsp));
	treq->req.xfer = cmd_xfer(cmd);
	treq->req.length = 0;
	treq->req.iovcnt = 0;
	treq->req.bdev_io = NULL;
	treq->req.nsid = 0;
	treq->ddgst_error = false;
	treq->pool_bufs = false;
	treq->nbufs = 0;
	treq->h2c_got = 0;
	treq->pending_sends = 0;
	return treq;
}

static int rx_fail(struct tcp_conn *c, uint16_t fes, uint32_t fei, const char *reason)
{
	nvme_tcp_rx_fail(&c->rx, fes, fei, reason);
	return -1;
}

/* A CapsuleCmd with in-capsule data: it goes into the request's own buffer. */
static int capsule_header(struct tcp_conn *c, const struct spio_nvme_cmd *cmd, uint32_t data_len,
			  struct iovec **iov, int *iovcnt)
{
	const struct spio_nvme_sgl_descriptor *sgl = &cmd->dptr.sgl1;
	const struct spio_nvmf_transport_opts *o = &c->tt->base.opts;
	bool admin_or_fabric = c->qid == 0 || cmd->opc == SPIO_NVME_OPC_FABRIC;
	struct tcp_req *treq = req_take(c, cmd);

	if (treq == NULL) {
		return -1;
	}
	treq->state = TCP_REQ_RX_DATA;
	c->rx_req = treq;
	if (sgl->generic.type != SPIO_NVME_SGL_TYPE_DATA_BLOCK ||
	    sgl->generic.subtype != SPIO_NVME_SGL_SUBTYPE_OFFSET) {
		return rx_fail(c, SPIO_NVME_TCP_TERM_REQ_FES_UNSUPPORTED_PARAMETER, FEI_SGL_TYPE,
			       "in-capsule data without an in-capsule SGL");
	}
	if (sgl->unkeyed.length != data_len) {
		return rx_fail(c, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, FEI_PLEN,
			       "in-capsule data length differs from the SGL length");
	}
	if (sgl->address != 0) {
		return rx_fail(c, SPIO_NVME_TCP_TERM_REQ_FES_UNSUPPORTED_PARAMETER, FEI_SGL_ADDRESS,
			       "in-capsule data offset is not 0");
	}
	if (treq->req.xfer != SPIO_NVME_DATA_HOST_TO_CONTROLLER) {
		return rx_fail(c, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, FEI_OPCODE,
			       "in-capsule data for a command that takes none");
	}
	if (data_len > c->icd_size || (!admin_or_fabric && data_len > o->in_capsule_data_size)) {
		return rx_fail(c, SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0,
			       "in-capsule data above the in-capsule data size");
	}
	treq->req.length = data_len;
	treq->req.iov[0].iov_base = treq->icd_buf;
	treq->req.iov[0].iov_len = data_len;
	treq->req.iovcnt = 1;
	*iov = treq->req.iov;
	*iovcnt = 1;
	return 0;
}

/* A CapsuleCmd without data: execute, or fetch the data (R2T) or a buffer for it first. */
static int capsule_no_data(struct tcp_conn *c, const struct spio_nvme_cmd *cmd)
{
	const struct spio_nvme_sgl_descriptor *sgl = &cmd->dptr.sgl1;
	struct tcp_req *treq = req_take(c, cmd);

	if (treq == NULL) {
		return -1;
	}
	switch (treq->req.xfer) {
	case SPIO_NVME_DATA_NONE:
		req_exec(treq);
		return 0;
	case SPIO_NVME_DATA_BIDIRECTIONAL:
		req_fail(treq, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE);
		return 0;
	default:
		break;
	}
	/* Requests the rx has failed are recycled by the close that follows. */
	treq->state = TCP_REQ_RX_DATA;
	if (sgl->generic.type == SPIO_NVME_SGL_TYPE_DATA_BLOCK &&
	    sgl->generic.subtype == SPIO_NVME_SGL_SUBTYPE_OFFSET) {
		return rx_fail(c, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, FEI_PLEN,
			       "in-capsule SGL but no data in the capsule");
	}
	if (sgl->generic.type != SPIO_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK ||
	    sgl->generic.subtype != SPIO_NVME_SGL_SUBTYPE_TRANSPORT) {
		return rx_fail(c, SPIO_NVME_TCP_TERM_REQ_FES_UNSUPPORTED_PARAMETER, FEI_SGL_TYPE,
			       "SGL type not supported by NVMe/TCP");
	}
	if (sgl->unkeyed.length > c->tt->base.opts.max_io_size) {
		return rx_fail(c, SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0,
			       "transfer longer than max_io_size");
	}
	treq->req.length = sgl->unkeyed.length;
	req_get_buffer(treq);
	return 0;
}

static int capsule_done(struct tcp_conn *c, const struct spio_nvme_cmd *cmd, bool ddgst_ok)
{
	struct tcp_req *treq = c->rx_req;

	if (treq == NULL) {
		return capsule_no_data(c, cmd);
	}
	c->rx_req = NULL;
	if (!ddgst_ok) {
		SPIO_ERRLOG("TCP %s:%s: data digest error in the capsule of cid %u\n", peer(c),
			    peer_port(c), treq->cmd.cid);
		req_fail(treq, SPIO_NVME_SCT_GENERIC,
			 SPIO_NVME_SC_COMMAND_TRANSIENT_TRANSPORT_ERROR);
		return 0;
	}
	req_exec(treq);
	return 0;
}

static int h2c_header(struct tcp_conn *c, const struct spio_nvme_tcp_h2c_data_hdr *h,
		      uint32_t data_len, struct iovec **iov, int *iovcnt, uint32_t *iov_offset)
{
	struct tcp_req *treq;

	if (h->ttag == 0 || h->ttag > c->depth || c->reqs[h->ttag - 1].state != TCP_REQ_H2C) {
		return rx_fail(c, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD,
			       offsetof(struct spio_nvme_tcp_h2c_data_hdr, ttag),
			       "H2CData for no outstanding R2T");
	}
	treq = &c->reqs[h->ttag - 1];
	if (h->cccid != treq->cmd.cid) {
		return rx_fail(c, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD,
			       offsetof(struct spio_nvme_tcp_h2c_data_hdr, cccid),
			       "H2CData cccid does not match its R2T");
	}
	if (h->datao != treq->h2c_got || (uint64_t)h->datao + data_len > treq->req.length) {
		return rx_fail(c, SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
			       "H2CData offset or length outside the R2T");
	}
	c->rx_req = treq;
	*iov = treq->req.iov;
	*iovcnt = treq->req.iovcnt;
	*iov_offset = h->datao;
	return 0;
}

static int h2c_done(struct tcp_conn *c, const struct spio_nvme_tcp_h2c_data_hdr *h, bool ddgst_ok)
{
	struct tcp_req *treq = c->rx_req;

	c->rx_req = NULL;
	treq->h2c_got += h->datal;
	if (!ddgst_ok) {
		SPIO_ERRLOG("TCP %s:%s: data digest error in H2CData of cid %u\n", peer(c),
			    peer_port(c), treq->cmd.cid);
		treq->ddgst_error = true;
	}
	if (treq->h2c_got < treq->req.length) {
		return 0;
	}
	/* The stream is intact: fail only this command, as the specification allows. */
	if (treq->ddgst_error) {
		req_fail(treq, SPIO_NVME_SCT_GENERIC,
			 SPIO_NVME_SC_COMMAND_TRANSIENT_TRANSPORT_ERROR);
	} else {
		req_exec(treq);
	}
	return 0;
}

static int on_ic_req(struct tcp_conn *c, const struct spio_nvme_tcp_ic_req *ic)
{
	const struct spio_nvmf_transport_opts *o = &c->tt->base.opts;
	bool hdgst = ic->dgst.bits.hdgst_enable, ddgst = ic->dgst.bits.ddgst_enable;
	struct nvme_tcp_rx_params rxp = {
	    .hdgst = hdgst,
	    .ddgst = ddgst,
	    .pda = 0,
	    .max_data_len = o->max_io_size,
	    .max_incapsule = SPIO_MAX(o->in_capsule_data_size, TCP_ADMIN_ICD_SIZE),
	};

	/* The rx checked PFV and HPDA; we grant the digests asked for and need no alignment. */
	nvme_tcp_rx_set_params(&c->rx, &rxp);
	c->tx_params = (struct nvme_tcp_tx_params){.hdgst = hdgst, .ddgst = ddgst, .pda = ic->hpda};
	nvme_tcp_ic_resp_build(&c->ctl_pdu, 0, hdgst, ddgst, o->max_io_size);
	c->state = TCP_CONN_RUNNING;
	return txq_push(c, &c->ctl_pdu, NULL) ? 0 : -1;
}

static int on_header(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
		     struct iovec **iov, int *iovcnt, uint32_t *iov_offset)
{
	struct tcp_conn *c = ctx;

	*iov_offset = 0;
	if (hdr->common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD) {
		return capsule_header(c, &hdr->capsule_cmd.ccsqe, data_len, iov, iovcnt);
	}
	/* The controller-role rx passes no other type with data. */
	return h2c_header(c, &hdr->h2c_data, data_len, iov, iovcnt, iov_offset);
}

static int dispatch_pdu(struct tcp_conn *c, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	switch (hdr->common.pdu_type) {
	case SPIO_NVME_TCP_PDU_TYPE_IC_REQ:
		return on_ic_req(c, &hdr->ic_req);
	case SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		return capsule_done(c, &hdr->capsule_cmd.ccsqe, ddgst_ok);
	case SPIO_NVME_TCP_PDU_TYPE_H2C_DATA:
		return h2c_done(c, &hdr->h2c_data, ddgst_ok);
	case SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
		SPIO_ERRLOG("TCP %s:%s: host terminated the connection: fes %u\n", peer(c),
			    peer_port(c), hdr->term_req.fes);
		c->no_term_req = true;
		return rx_fail(c, hdr->term_req.fes, 0, "H2CTermReq received");
	default:
		return -1; /* the rx accepts no other type for a controller */
	}
}

static int on_pdu(void *ctx, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	struct tcp_conn *c = ctx;
	int rc = dispatch_pdu(c, hdr, ddgst_ok);

	/* The core may have closed the queue from inside a command: stop parsing. */
	if (rc == 0 && c->state >= TCP_CONN_CLOSING) {
		return NVME_TCP_RX_PAUSE;
	}
	return rc;
}

static const struct nvme_tcp_rx_ops g_rx_ops = {.on_header = on_header, .on_pdu = on_pdu};

static void conn_proto_error(struct tcp_conn *c)
{
	if (c->no_term_req) {
		nvmf_tcp_conn_close(c, false, c->rx.err.reason);
		return;
	}
	SPIO_ERRLOG("TCP %s:%s: protocol error: %s (fes %u, fei %u); closing the connection\n",
		    peer(c), peer_port(c), c->rx.err.reason, c->rx.err.fes, c->rx.err.fei);
	nvmf_tcp_conn_close(c, true, c->rx.err.reason);
}

bool nvmf_tcp_conn_recv(struct tcp_conn *c)
{
	uint32_t budget = TCP_RX_BUDGET;
	bool did = false;

	while (c->state < TCP_CONN_CLOSING) {
		struct iovec iov[NVMF_REQ_MAX_IOV];
		int niov = nvme_tcp_rx_data_iov(&c->rx, iov, SPIO_COUNTOF(iov));
		size_t want;
		ssize_t n;
		int rc;

		/* Data due now goes straight into the request's buffers. */
		if (niov > 0) {
			want = spio_iov_length(iov, niov);
			n = readv(c->fd, iov, niov);
		} else {
			want = TCP_RX_BUF_SIZE;
			n = recv(c->fd, c->tg->rx_buf, want, MSG_DONTWAIT);
		}
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				break;
			}
			SPIO_DEBUGLOG(nvmf_tcp, "%s:%s: receive failed: %s\n", peer(c),
				      peer_port(c), strerror(errno));
			nvmf_tcp_conn_close(c, false, "receive failed");
			return true;
		}
		if (n == 0) {
			nvmf_tcp_conn_close(c, false, "closed by the host");
			return true;
		}
		did = true;
		if (niov > 0) {
			rc = nvme_tcp_rx_data_advance(&c->rx, (size_t)n, &g_rx_ops, c);
		} else {
			rc = nvme_tcp_rx_feed(&c->rx, c->tg->rx_buf, (size_t)n, &g_rx_ops, c) < 0
				 ? -EPROTO
				 : 0;
		}
		if (rc != 0 || nvme_tcp_rx_failed(&c->rx)) {
			if (c->state < TCP_CONN_CLOSING) {
				conn_proto_error(c);
			}
			return true;
		}
		if ((size_t)n < want) {
			break; /* drained */
		}
		budget = (uint32_t)n >= budget ? 0 : budget - (uint32_t)n;
		if (budget == 0) {
			break; /* epoll reports the rest next poll */
		}
	}
	return did;
}

/*
 * Connection life
 */

/* Recycle every request the transport holds; those with the core come back later. */
static void conn_drop_requests(struct tcp_conn *c)
{
	/* Waiters first, so returned buffers do not go to this connection's own waiters. */
	for (uint32_t i = 0; i < c->depth; i++) {
		if (c->reqs[i].state == TCP_REQ_NEED_BUF) {
			nvmf_tcp_group_cancel_wait(c->tg, &c->reqs[i]);
			c->reqs[i].state = TCP_REQ_RX_DATA;
		}
	}
	c->txq_count = 0;
	c->txq_head = 0;
	c->tx_head_off = 0;
	c->rx_req = NULL;
	for (uint32_t i = 0; i < c->depth; i++) {
		struct tcp_req *treq = &c->reqs[i];

		if (treq->state == TCP_REQ_FREE || treq->state == TCP_REQ_EXECUTING) {
			continue;
		}
		if (treq->zc_pending) {
			/* The kernel may still read it: recycled at qpair_fini
			 * (nvmf_tcp_zcopy_abort). */
			if (treq->pending_sends > 0) {
				treq->pending_sends = 0;
				TAILQ_INSERT_TAIL(&c->zc_wait, treq, link);
			}
			continue;
		}
		req_recycle(treq);
	}
}

static void queue_term_req(struct tcp_conn *c)
{
	size_t err_len = 0;
	const void *err_hdr = nvme_tcp_rx_err_hdr(&c->rx, &err_len);
	struct nvme_tcp_tx_pdu *pdu = &c->term_pdu;

	if (nvme_tcp_term_req_build(pdu, SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ, c->rx.err.fes,
				    c->rx.err.fei, err_hdr, err_len) == 0) {
		txq_push(c, pdu, NULL);
	}
}

void nvmf_tcp_conn_close(struct tcp_conn *c, bool proto_error, const char *reason)
{
	if (c->state >= TCP_CONN_CLOSING) {
		return;
	}
	SPIO_DEBUGLOG(nvmf_tcp, "%s:%s: closing: %s\n", peer(c), peer_port(c), reason);
	if (proto_error) {
		/* Best effort: one non-blocking send, and the FIN follows it. */
		queue_term_req(c);
		c->tx_blocked = false;
		nvmf_tcp_conn_flush(c);
		if (c->state >= TCP_CONN_CLOSING) {
			return; /* the send failed and closed it */
		}
	}
	c->state = TCP_CONN_CLOSING;
	shutdown(c->fd, SHUT_RDWR);
	nvmf_tcp_group_remove_conn(c->tg, c);
	conn_drop_requests(c);
	/* Once: the core finishes the queue pair and calls qpair_fini. */
	if (!c->disconnecting) {
		c->disconnecting = true;
		nvmf_qpair_disconnect(&c->qpair);
	}
}

void nvmf_tcp_qpair_close(struct nvmf_qpair *qpair)
{
	nvmf_tcp_conn_close(tcp_conn(qpair), false, "closed by the target");
}

static void conn_free(struct tcp_conn *c)
{
	if (c->txq != c->txq_small) {
		free(c->txq);
	}
	free(c->reqs);
	spio_dma_free(c->icd_mem);
	free(c);
}

/* Give back what the connection counts in: listener, transport, pre-connect bound. */
static void conn_release(struct tcp_conn *c)
{
	if (c->preconnect) {
		c->preconnect = false;
		atomic_fetch_sub(&c->tt->preconnect, 1);
		if (c->tg != NULL) {
			nvmf_tcp_group_preconnect_changed(c->tg, -1);
		}
	}
	atomic_fetch_sub(&c->listener->nconns, 1);
	atomic_fetch_sub(&c->tt->nconns, 1);
	nvmf_tcp_listener_put(c->listener);
	c->listener = NULL;
}

void nvmf_tcp_qpair_fini(struct nvmf_qpair *qpair)
{
	struct tcp_conn *c = tcp_conn(qpair);

	if (c->state == TCP_CONN_FINI) {
		return;
	}
	/* The core may finish a queue pair the transport did not close (it dropped it). */
	c->disconnecting = true;
	nvmf_tcp_conn_close(c, false, "finished by the target");
	nvmf_tcp_zcopy_abort(c);
	for (uint32_t i = 0; i < c->depth; i++) {
		if (c->reqs[i].state != TCP_REQ_FREE) {
			SPIO_ERRLOG("TCP %s:%s: cid %u still executing at qpair_fini\n", peer(c),
				    peer_port(c), c->reqs[i].cmd.cid);
		}
	}
	c->state = TCP_CONN_FINI;
	TAILQ_REMOVE(&c->tg->conns, c, link);
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	conn_release(c);
	/* The core calls this from a message, never from inside a call of ours: free now. */
	conn_free(c);
}

static void fill_peer_trid(struct spio_nvme_transport_id *t, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	spio_nvme_transport_id_populate_trstring(t, SPIO_NVME_TRANSPORT_TCP);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
		return;
	}
	t->adrfam = ss.ss_family == AF_INET6 ? SPIO_NVMF_ADRFAM_IPV6 : SPIO_NVMF_ADRFAM_IPV4;
	getnameinfo((struct sockaddr *)&ss, len, t->traddr, sizeof(t->traddr), t->trsvcid,
		    sizeof(t->trsvcid), NI_NUMERICHOST | NI_NUMERICSERV);
}

/* A connection that never reached its group: undo nvmf_tcp_conn_new(). */
static void conn_abandon(struct tcp_conn *c)
{
	close(c->fd);
	conn_release(c);
	conn_free(c);
}

static void conn_arrive_msg(void *arg)
{
	struct tcp_conn *c = arg;
	struct nvmf_transport_poll_group *tgroup =
	    nvmf_poll_group_get_transport_group(c->qpair.group, &c->tt->base);
	struct tcp_group *tg = tcp_group(tgroup);

	if (tg == NULL || nvmf_tcp_group_add_conn(tg, c) != 0) {
		SPIO_ERRLOG("TCP %s:%s: the poll group cannot take the connection\n", peer(c),
			    peer_port(c));
		conn_abandon(c);
		return;
	}
	c->tg = tg;
	nvmf_tcp_group_preconnect_changed(tg, 1);
	nvmf_poll_group_add_qpair(c->qpair.group, &c->qpair);
}

struct tcp_conn *nvmf_tcp_conn_new(struct tcp_listener *l, int fd)
{
	struct tcp_transport *tt = l->tt;
	struct nvmf_poll_group *group = nvmf_tgt_next_poll_group(tt->base.tgt);
	struct spio_thread *thread = group != NULL ? nvmf_poll_group_get_thread(group) : NULL;
	struct tcp_conn *c;
	int one = 1, prio = tt->base.opts.sock_priority;

	if (thread == NULL) {
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (prio != 0) {
		setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio));
	}
	c->fd = fd;
	c->tt = tt;
	c->listener = l;
	c->state = TCP_CONN_IC_WAIT;
	c->accept_tsc = spio_get_ticks();
	c->txq = c->txq_small;
	c->txq_size = SPIO_COUNTOF(c->txq_small);
	nvme_tcp_rx_init(&c->rx, NVME_TCP_ROLE_CTRLR);
	c->qpair.transport = &tt->base;
	c->qpair.group = group;
	c->qpair.state = NVMF_QPAIR_UNINITIALIZED;
	c->qpair.listen_trid = l->trid;
	fill_peer_trid(&c->qpair.peer_trid, fd);
	TAILQ_INIT(&c->free_reqs);
	TAILQ_INIT(&c->zc_wait);
	c->zcopy = nvmf_tcp_zcopy_enable(fd);

	atomic_fetch_add(&l->refs, 1);
	atomic_fetch_add(&l->nconns, 1);
	atomic_fetch_add(&tt->nconns, 1);
	atomic_fetch_add(&tt->preconnect, 1);
	c->preconnect = true;
	if (spio_thread_send_msg(thread, conn_arrive_msg, c) != 0) {
		/* The caller closes the socket. */
		c->fd = -1;
		conn_release(c);
		conn_free(c);
		return NULL;
	}
	return c;
}
