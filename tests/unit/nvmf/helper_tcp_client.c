/*
 * Test helper: a raw NVMe/TCP host (see helper_tcp_client.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spio/env.h"
#include "spio/nvme.h"
#include "spio/util.h"

#include "helper_tcp_client.h"
#include "nvme/nvme_fabric.h"

#define TC_QLEN SPIO_COUNTOF(((struct tc *)NULL)->q)

static uint64_t now_ms(void)
{
	return spio_get_ticks() * 1000 / spio_get_ticks_hz();
}

static int on_header(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
		     struct iovec **iov, int *iovcnt, uint32_t *iov_offset)
{
	struct tc *tc = ctx;
	uint32_t slot = (tc->q_head + tc->q_count) % TC_QLEN;
	uint8_t *buf;

	if (tc->q_count == TC_QLEN || data_len > TC_MAX_DATA) {
		return -SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_LIMIT_EXCEEDED;
	}
	buf = realloc(tc->qdata[slot], data_len);
	if (buf == NULL) {
		return -SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_LIMIT_EXCEEDED;
	}
	tc->qdata[slot] = buf;
	tc->data_iov.iov_base = buf;
	tc->data_iov.iov_len = data_len;
	*iov = &tc->data_iov;
	*iovcnt = 1;
	*iov_offset = 0;
	(void)hdr;
	return 0;
}

static int on_pdu(void *ctx, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	struct tc *tc = ctx;
	uint32_t slot = (tc->q_head + tc->q_count) % TC_QLEN;
	struct tc_pdu *p = &tc->q[slot];

	if (tc->q_count == TC_QLEN) {
		return -SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR;
	}
	p->hdr = *hdr;
	p->ddgst_ok = ddgst_ok;
	p->data = NULL;
	p->data_len = 0;
	if (hdr->common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_C2H_DATA) {
		p->data = tc->qdata[slot];
		p->data_len = hdr->c2h_data.datal;
	}
	if (hdr->common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_IC_RESP) {
		struct nvme_tcp_rx_params rxp = {
		    .hdgst = hdr->ic_resp.dgst.bits.hdgst_enable,
		    .ddgst = hdr->ic_resp.dgst.bits.ddgst_enable,
		    .max_data_len = TC_MAX_DATA,
		};

		nvme_tcp_rx_set_params(&tc->rx, &rxp);
		tc->hdgst = rxp.hdgst;
		tc->ddgst = rxp.ddgst;
		tc->maxh2cdata = hdr->ic_resp.maxh2cdata;
		tc->tx = (struct nvme_tcp_tx_params){
		    .hdgst = rxp.hdgst, .ddgst = rxp.ddgst, .pda = hdr->ic_resp.cpda};
	}
	tc->q_count++;
	/* Full: the rest waits in `in` until the test takes PDUs. */
	return tc->q_count == TC_QLEN ? NVME_TCP_RX_PAUSE : 0;
}

static const struct nvme_tcp_rx_ops g_tc_ops = {.on_header = on_header, .on_pdu = on_pdu};

struct tc *tc_connect(uint16_t port, bool ipv6, tc_pump_fn pump, void *arg)
{
	struct tc *tc = calloc(1, sizeof(*tc));
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	uint64_t limit = now_ms() + TC_WAIT_MS;
	int one = 1, rc;

	if (tc == NULL) {
		return NULL;
	}
	tc->pump = pump;
	tc->pump_arg = arg;
	tc->fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (tc->fd < 0) {
		free(tc);
		return NULL;
	}
	setsockopt(tc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a6.sin6_addr = in6addr_loopback;
	rc = ipv6 ? connect(tc->fd, (struct sockaddr *)&a6, sizeof(a6))
		  : connect(tc->fd, (struct sockaddr *)&a4, sizeof(a4));
	if (rc != 0 && errno != EINPROGRESS) {
		close(tc->fd);
		free(tc);
		return NULL;
	}
	/* Loopback connects at once, but the target must run for the handshake to finish. */
	while (rc != 0) {
		int err = 0;
		socklen_t len = sizeof(err);
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (getpeername(tc->fd, (struct sockaddr *)&ss, &sl) == 0) {
			break;
		}
		getsockopt(tc->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if ((err != 0 && err != EINPROGRESS) || now_ms() > limit) {
			close(tc->fd);
			free(tc);
			return NULL;
		}
		tc->pump(tc->pump_arg);
	}
	nvme_tcp_rx_init(&tc->rx, NVME_TCP_ROLE_HOST);
	return tc;
}

void tc_close(struct tc *tc, bool reset)
{
	if (tc == NULL) {
		return;
	}
	if (reset) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(tc->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(tc->fd);
	for (size_t i = 0; i < TC_QLEN; i++) {
		free(tc->qdata[i]);
	}
	free(tc);
}

int tc_send_raw(struct tc *tc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t limit = now_ms() + TC_WAIT_MS;

	while (len > 0) {
		ssize_t n = send(tc->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				return -errno;
			}
			if (now_ms() > limit) {
				return -ETIMEDOUT;
			}
			tc->pump(tc->pump_arg);
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int tc_send_pdu(struct tc *tc, const struct nvme_tcp_tx_pdu *pdu)
{
	struct iovec iov[8];
	int n = nvme_tcp_tx_pdu_iov(pdu, iov, SPIO_COUNTOF(iov));

	if (n < 0) {
		return n;
	}
	for (int i = 0; i < n; i++) {
		int rc = tc_send_raw(tc, iov[i].iov_base, iov[i].iov_len);

		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

/* Feed what was read, else read. \return 1 if bytes were fed, 0 if none came, <0 on close/error. */
static int tc_read_some(struct tc *tc)
{
	ssize_t fed;

	if (tc->in_off == tc->in_len) {
		ssize_t n = recv(tc->fd, tc->in, sizeof(tc->in), MSG_DONTWAIT);

		if (n == 0 ||
		    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			tc->closed = true;
			return -ECONNRESET;
		}
		if (n < 0) {
			return 0;
		}
		tc->in_off = 0;
		tc->in_len = (uint32_t)n;
	}
	fed =
	    nvme_tcp_rx_feed(&tc->rx, tc->in + tc->in_off, tc->in_len - tc->in_off, &g_tc_ops, tc);
	if (fed < 0) {
		tc->rx_error = -EPROTO;
		return -EPROTO;
	}
	tc->in_off += (uint32_t)fed;
	return 1;
}

int tc_recv(struct tc *tc, struct tc_pdu **out)
{
	uint64_t limit = now_ms() + TC_WAIT_MS;

	while (tc->q_count == 0) {
		int rc;

		if (tc->rx_error != 0) {
			return tc->rx_error;
		}
		if (tc->closed) {
			return -ECONNRESET;
		}
		rc = tc_read_some(tc);
		if (rc < 0) {
			if (tc->q_count > 0) {
				break;
			}
			return rc;
		}
		if (rc == 0) {
			if (now_ms() > limit) {
				return -ETIMEDOUT;
			}
			tc->pump(tc->pump_arg);
		}
	}
	*out = &tc->q[tc->q_head];
	tc->q_head = (tc->q_head + 1) % TC_QLEN;
	tc->q_count--;
	return 0;
}

bool tc_wait_closed(struct tc *tc, int ms)
{
	uint64_t limit = now_ms() + (uint64_t)ms;

	while (!tc->closed && now_ms() <= limit) {
		int rc = tc_read_some(tc);

		if (rc == -EPROTO) {
			/* Bytes after a term req are not PDUs; only the close matters here. */
			tc->rx_error = 0;
			tc->in_off = tc->in_len;
			nvme_tcp_rx_init(&tc->rx, NVME_TCP_ROLE_HOST);
		}
		if (tc->q_count == TC_QLEN) {
			tc->q_count = 0; /* nobody will read them */
		}
		if (rc == 0) {
			tc->pump(tc->pump_arg);
		}
	}
	return tc->closed;
}

int tc_ic(struct tc *tc, uint8_t hpda, bool hdgst, bool ddgst, struct spio_nvme_tcp_ic_resp *resp)
{
	struct nvme_tcp_tx_pdu pdu;
	struct tc_pdu *p;
	int rc;

	nvme_tcp_ic_req_build(&pdu, hpda, hdgst, ddgst, 0);
	rc = tc_send_pdu(tc, &pdu);
	if (rc == 0) {
		rc = tc_recv(tc, &p);
	}
	if (rc != 0) {
		return rc;
	}
	if (p->hdr.common.pdu_type != SPIO_NVME_TCP_PDU_TYPE_IC_RESP) {
		return -EPROTO;
	}
	*resp = p->hdr.ic_resp;
	return 0;
}

int tc_send_cmd(struct tc *tc, const struct spio_nvme_cmd *cmd, const void *data, uint32_t len)
{
	struct nvme_tcp_tx_pdu pdu;
	struct spio_nvme_sgl_descriptor *sgl;
	struct iovec iov = {.iov_base = (void *)(uintptr_t)data, .iov_len = len};
	int rc;

	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD);
	pdu.hdr.capsule_cmd.ccsqe = *cmd;
	pdu.hdr.capsule_cmd.ccsqe.psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	sgl = &pdu.hdr.capsule_cmd.ccsqe.dptr.sgl1;
	memset(sgl, 0, sizeof(*sgl));
	sgl->unkeyed.length = len;
	if (data != NULL) {
		sgl->unkeyed.type = SPIO_NVME_SGL_TYPE_DATA_BLOCK;
		sgl->unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_OFFSET;
	} else {
		sgl->unkeyed.type = SPIO_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
		sgl->unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_TRANSPORT;
	}
	rc = nvme_tcp_tx_pdu_seal(&pdu, &tc->tx, data != NULL ? &iov : NULL, data != NULL ? 1 : 0,
				  0, data != NULL ? len : 0);
	return rc != 0 ? rc : tc_send_pdu(tc, &pdu);
}

int tc_send_h2c(struct tc *tc, uint16_t cid, uint16_t ttag, uint32_t datao, const void *data,
		uint32_t len, bool last)
{
	struct nvme_tcp_tx_pdu pdu;
	struct iovec iov = {.iov_base = (void *)(uintptr_t)data, .iov_len = len};
	int rc;

	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_H2C_DATA);
	pdu.hdr.h2c_data.cccid = cid;
	pdu.hdr.h2c_data.ttag = ttag;
	pdu.hdr.h2c_data.datao = datao;
	pdu.hdr.h2c_data.datal = len;
	if (last) {
		pdu.hdr.common.flags |= SPIO_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU;
	}
	rc = nvme_tcp_tx_pdu_seal(&pdu, &tc->tx, &iov, 1, 0, len);
	return rc != 0 ? rc : tc_send_pdu(tc, &pdu);
}

int tc_send_connect(struct tc *tc, uint16_t cid, uint16_t qid, uint16_t entries, uint8_t cattr,
		    uint16_t cntlid, const char *subnqn, const char *hostnqn)
{
	static const uint8_t hostid[16] = {0x5a, 0x10, 0x2c};
	struct spio_nvmf_fabric_connect_data data;
	struct spio_nvme_cmd cmd;

	nvme_fabric_connect_cmd_build(&cmd, qid, (uint16_t)(entries - 1), qid == 0 ? 30000 : 0,
				      cattr);
	cmd.cid = cid;
	if (nvme_fabric_connect_data_build(&data, hostid, cntlid, subnqn, hostnqn) != 0) {
		return -EINVAL;
	}
	return tc_send_cmd(tc, &cmd, &data, sizeof(data));
}

/* Answer an R2T with H2CData PDUs of at most `chunk` bytes. */
static int tc_answer_r2t(struct tc *tc, const struct spio_nvme_tcp_r2t_hdr *r2t, const uint8_t *w,
			 uint32_t len, uint32_t chunk)
{
	uint32_t end = r2t->r2to + r2t->r2tl;

	if (w == NULL || end > len) {
		return -EPROTO;
	}
	chunk = SPIO_MIN(chunk != 0 ? chunk : r2t->r2tl, tc->maxh2cdata);
	for (uint32_t off = r2t->r2to; off < end; off += chunk) {
		uint32_t n = SPIO_MIN(chunk, end - off);
		int rc = tc_send_h2c(tc, r2t->cccid, r2t->ttag, off, w + off, n, off + n == end);

		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

int tc_run_cmd(struct tc *tc, const struct spio_nvme_cmd *cmd, const void *wbuf, void *rbuf,
	       uint32_t len, bool icd, uint32_t h2c_chunk, struct spio_nvme_cpl *cpl,
	       bool *c2h_success)
{
	int rc = tc_send_cmd(tc, cmd, icd ? wbuf : NULL, len);

	if (c2h_success != NULL) {
		*c2h_success = false;
	}
	while (rc == 0) {
		struct tc_pdu *p;

		rc = tc_recv(tc, &p);
		if (rc != 0) {
			break;
		}
		switch (p->hdr.common.pdu_type) {
		case SPIO_NVME_TCP_PDU_TYPE_R2T:
			if (p->hdr.r2t.cccid != cmd->cid) {
				return -EPROTO;
			}
			rc = tc_answer_r2t(tc, &p->hdr.r2t, wbuf, len, h2c_chunk);
			break;
		case SPIO_NVME_TCP_PDU_TYPE_C2H_DATA:
			if (p->hdr.c2h_data.cccid != cmd->cid || rbuf == NULL ||
			    p->hdr.c2h_data.datao + p->data_len > len) {
				return -EPROTO;
			}
			memcpy((uint8_t *)rbuf + p->hdr.c2h_data.datao, p->data, p->data_len);
			if (p->hdr.common.flags & SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS) {
				memset(cpl, 0, sizeof(*cpl));
				cpl->cid = cmd->cid;
				if (c2h_success != NULL) {
					*c2h_success = true;
				}
				return 0;
			}
			break;
		case SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
			*cpl = p->hdr.capsule_resp.rccqe;
			return cpl->cid == cmd->cid ? 0 : -EPROTO;
		default:
			return -EPROTO;
		}
	}
	return rc;
}

void tc_rw_cmd(struct spio_nvme_cmd *cmd, bool write, uint16_t cid, uint32_t nsid, uint64_t slba,
	       uint32_t nlb)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = write ? SPIO_NVME_OPC_WRITE : SPIO_NVME_OPC_READ;
	cmd->cid = cid;
	cmd->nsid = nsid;
	cmd->cdw10 = (uint32_t)slba;
	cmd->cdw11 = (uint32_t)(slba >> 32);
	cmd->cdw12 = nlb - 1;
}

int tc_admin_bringup(struct tc *tc, uint16_t entries, const char *subnqn, const char *hostnqn)
{
	union spio_nvme_cc_register cc = {.raw = 0};
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;
	struct tc_pdu *p;
	uint16_t cntlid;
	int rc;

	rc = tc_send_connect(tc, 1, 0, entries, 0, SPIO_NVMF_CNTLID_DYNAMIC, subnqn, hostnqn);
	if (rc == 0) {
		rc = tc_recv(tc, &p);
	}
	if (rc != 0) {
		return rc;
	}
	if (p->hdr.common.pdu_type != SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP) {
		return -EPROTO;
	}
	if (spio_nvme_cpl_is_error(&p->hdr.capsule_resp.rccqe)) {
		return -EIO;
	}
	cntlid = (uint16_t)p->hdr.capsule_resp.rccqe.cdw0;
	cc.bits.en = 1;
	cc.bits.iosqes = 6;
	cc.bits.iocqes = 4;
	nvme_fabric_prop_set_build(&cmd, SPIO_NVME_REG_CC, 4, cc.raw);
	cmd.cid = 2;
	rc = tc_run_cmd(tc, &cmd, NULL, NULL, 0, false, 0, &cpl, NULL);
	if (rc != 0 || spio_nvme_cpl_is_error(&cpl)) {
		return rc != 0 ? rc : -EIO;
	}
	for (uint64_t limit = now_ms() + TC_WAIT_MS; now_ms() < limit;) {
		nvme_fabric_prop_get_build(&cmd, SPIO_NVME_REG_CSTS, 4);
		cmd.cid = 3;
		rc = tc_run_cmd(tc, &cmd, NULL, NULL, 0, false, 0, &cpl, NULL);
		if (rc != 0 || spio_nvme_cpl_is_error(&cpl)) {
			return rc != 0 ? rc : -EIO;
		}
		if (nvme_fabric_prop_get_rsp_value(&cpl, 4) & 1) {
			return cntlid;
		}
		tc->pump(tc->pump_arg);
	}
	return -ETIMEDOUT;
}
