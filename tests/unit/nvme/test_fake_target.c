/*
 * Tests of the fake NVMe/TCP target (helper_fake_target.h) with a raw,
 * blocking client built from the same PDU codec: no spio initiator, so a
 * failure here is the fake's. Every wait has a timeout of seconds; the only
 * short waits check that nothing arrives (a dropped response).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "nvme/nvme_fabric.h"
#include "nvme/nvme_tcp_pdu.h"

#include "helper_fake_target.h"

#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:7a1e5a0c-0000-4000-8000-000000000001"
#define TIMEOUT_MS 5000
#define MIB (1024u * 1024)

TestSuite(fake_target, .timeout = 60);

/*
 * The raw client
 */

enum { CL_PDU = 1, CL_TIMEOUT = 0, CL_EOF = -1, CL_PROTO = -2 };

struct client {
	int fd;
	struct nvme_tcp_rx rx;
	struct nvme_tcp_tx_params tx;
	uint32_t maxh2cdata;
	union nvme_tcp_pdu_hdr hdr; /* the last PDU received */
	bool got;
	bool ddgst_ok;
	uint8_t *dst; /* where C2HData goes; NULL: discarded */
	uint32_t dst_len;
	struct iovec dst_iov;
	uint16_t next_cid;
	bool corrupt_ddgst; /* send H2CData with a wrong data digest */
	/* What the last command's exchange had. */
	uint32_t r2ts, h2cs, c2hs, ddgst_errors;
	size_t in_off;
	size_t in_len;
	uint8_t in[65536];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int cl_on_header(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
			struct iovec **iov, int *iovcnt, uint32_t *iov_offset)
{
	struct client *cl = ctx;

	if (hdr->common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_C2H_DATA && cl->dst != NULL) {
		cl->dst_iov.iov_base = cl->dst;
		cl->dst_iov.iov_len = cl->dst_len;
		*iov = &cl->dst_iov;
		*iovcnt = 1;
		*iov_offset = hdr->c2h_data.datao;
	}
	return 0;
}

static int cl_on_pdu(void *ctx, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	struct client *cl = ctx;

	cl->hdr = *hdr;
	cl->ddgst_ok = ddgst_ok;
	cl->got = true;
	return NVME_TCP_RX_PAUSE; /* one PDU per cl_recv */
}

static const struct nvme_tcp_rx_ops g_cl_ops = {.on_header = cl_on_header, .on_pdu = cl_on_pdu};

/* Receive one PDU into cl->hdr: CL_PDU, CL_TIMEOUT, CL_EOF (closed or reset), CL_PROTO. */
static int cl_recv(struct client *cl, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	cl->got = false;
	for (;;) {
		struct pollfd p = {.fd = cl->fd, .events = POLLIN};
		uint64_t now;
		ssize_t n;

		if (cl->in_off < cl->in_len) {
			n = nvme_tcp_rx_feed(&cl->rx, cl->in + cl->in_off, cl->in_len - cl->in_off,
					     &g_cl_ops, cl);
			if (n < 0) {
				return CL_PROTO;
			}
			cl->in_off += (size_t)n;
			if (cl->got) {
				return CL_PDU;
			}
		}
		now = now_ms();
		if (now >= end || poll(&p, 1, (int)(end - now)) == 0) {
			return CL_TIMEOUT;
		}
		n = recv(cl->fd, cl->in, sizeof(cl->in), 0);
		if (n <= 0) {
			return CL_EOF;
		}
		cl->in_off = 0;
		cl->in_len = (size_t)n;
	}
}

static int cl_send(struct client *cl, const struct nvme_tcp_tx_pdu *pdu)
{
	struct iovec iov[8];
	int n = nvme_tcp_tx_pdu_iov(pdu, iov, 8);
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};

	cr_assert_gt(n, 0, "PDU iovecs: expected some, got %d", n);
	while (msg.msg_iovlen > 0) {
		ssize_t w = sendmsg(cl->fd, &msg, MSG_NOSIGNAL);

		if (w < 0) {
			return -errno;
		}
		while (msg.msg_iovlen > 0 && (size_t)w >= msg.msg_iov->iov_len) {
			w -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen > 0) {
			msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + w;
			msg.msg_iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int cl_send_raw(struct client *cl, const void *buf, size_t len)
{
	return send(cl->fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* A TCP connection to the fake, before any PDU. */
static struct client *cl_tcp(uint16_t port)
{
	struct client *cl = calloc(1, sizeof(*cl));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};

	cr_assert_not_null(cl);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cl->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(cl->fd, 0);
	cr_assert_eq(connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "connect to port %u: %s", port, strerror(errno));
	nvme_tcp_rx_init(&cl->rx, NVME_TCP_ROLE_HOST);
	return cl;
}

/* TCP connect and the IC exchange, asking for the given digests. */
static struct client *cl_open(uint16_t port, bool hdgst, bool ddgst)
{
	struct client *cl = cl_tcp(port);
	struct nvme_tcp_rx_params rxp = {.max_data_len = UINT32_MAX, .max_incapsule = UINT32_MAX};
	struct nvme_tcp_tx_pdu pdu;
	const struct spio_nvme_tcp_ic_resp *ic;

	cr_assert_eq(nvme_tcp_ic_req_build(&pdu, 0, hdgst, ddgst, 0), 0);
	cr_assert_eq(cl_send(cl, &pdu), 0);
	cr_assert_eq(cl_recv(cl, TIMEOUT_MS), CL_PDU, "ICResp: expected a PDU");
	cr_assert_eq(cl->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_IC_RESP,
		     "expected ICResp (1), got PDU type %u", cl->hdr.common.pdu_type);
	ic = &cl->hdr.ic_resp;
	cl->tx.hdgst = ic->dgst.bits.hdgst_enable;
	cl->tx.ddgst = ic->dgst.bits.ddgst_enable;
	cl->tx.pda = ic->cpda;
	rxp.hdgst = cl->tx.hdgst;
	rxp.ddgst = cl->tx.ddgst;
	cl->maxh2cdata = ic->maxh2cdata;
	cr_assert_eq(nvme_tcp_rx_set_params(&cl->rx, &rxp), 0);
	return cl;
}

static void cl_close(struct client *cl)
{
	if (cl != NULL) {
		close(cl->fd);
		free(cl);
	}
}

/*
 * Send `cmd` with a fresh cid: in-capsule data when `icd` is given, else a
 * transport SGL of `xfer_len` bytes (data by R2T or C2H). Returns the cid.
 */
static uint16_t cl_submit(struct client *cl, struct spio_nvme_cmd *cmd, const void *icd,
			  uint32_t icd_len, uint32_t xfer_len)
{
	struct spio_nvme_sgl_descriptor *sgl = &cmd->dptr.sgl1;
	struct iovec iov = {.iov_base = (void *)(uintptr_t)icd, .iov_len = icd_len};
	struct nvme_tcp_tx_pdu pdu;

	cmd->cid = cl->next_cid++;
	cmd->psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	memset(sgl, 0, sizeof(*sgl));
	if (icd != NULL) {
		sgl->unkeyed.type = SPIO_NVME_SGL_TYPE_DATA_BLOCK;
		sgl->unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_OFFSET;
		sgl->unkeyed.length = icd_len;
	} else {
		sgl->unkeyed.type = SPIO_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
		sgl->unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_TRANSPORT;
		sgl->unkeyed.length = xfer_len;
	}
	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD);
	pdu.hdr.capsule_cmd.ccsqe = *cmd;
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, &cl->tx, icd != NULL ? &iov : NULL, icd ? 1 : 0, 0,
					  icd != NULL ? icd_len : 0),
		     0);
	cr_assert_eq(cl_send(cl, &pdu), 0, "send the capsule");
	return cmd->cid;
}

/* Answer an R2T with H2CData PDUs of at most MAXH2CDATA bytes from `src`. */
static void cl_answer_r2t(struct client *cl, const struct spio_nvme_tcp_r2t_hdr *r2t,
			  const uint8_t *src, uint32_t src_len)
{
	struct iovec iov = {.iov_base = (void *)(uintptr_t)src, .iov_len = src_len};
	uint32_t end = r2t->r2to + r2t->r2tl;

	cr_assert_leq(end, src_len, "R2T [%u, %u) beyond the %u-byte write", r2t->r2to, end,
		      src_len);
	for (uint32_t off = r2t->r2to; off < end;) {
		struct nvme_tcp_tx_pdu pdu;
		uint32_t n = end - off < cl->maxh2cdata ? end - off : cl->maxh2cdata;

		nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_H2C_DATA);
		pdu.hdr.h2c_data.cccid = r2t->cccid;
		pdu.hdr.h2c_data.ttag = r2t->ttag;
		pdu.hdr.h2c_data.datao = off;
		pdu.hdr.h2c_data.datal = n;
		if (off + n == end) {
			pdu.hdr.common.flags |= SPIO_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU;
		}
		cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, &cl->tx, &iov, 1, off, n), 0);
		if (cl->corrupt_ddgst) {
			pdu.ddgst[0] ^= 0xFF;
		}
		if (cl_send(cl, &pdu) != 0) {
			return; /* the fake may refuse the stream mid-write */
		}
		cl->h2cs++;
		off += n;
	}
}

/*
 * Run the exchange of command `cid` to its end: answer R2Ts from `src`,
 * take C2HData into cl->dst. 0 with `cpl`; -ETIMEDOUT, -ECONNRESET (closed),
 * -EPROTO (stream refused: cl->rx.err), -EPIPE (C2HTermReq: cl->hdr),
 * -EBADMSG (a PDU for another cid: cl->hdr).
 */
static int cl_complete(struct client *cl, uint16_t cid, const uint8_t *src, uint32_t src_len,
		       struct spio_nvme_cpl *cpl)
{
	for (;;) {
		int rc = cl_recv(cl, TIMEOUT_MS);
		const union nvme_tcp_pdu_hdr *h = &cl->hdr;

		if (rc != CL_PDU) {
			return rc == CL_TIMEOUT ? -ETIMEDOUT : rc == CL_EOF ? -ECONNRESET : -EPROTO;
		}
		switch (h->common.pdu_type) {
		case SPIO_NVME_TCP_PDU_TYPE_R2T:
			if (h->r2t.cccid != cid) {
				return -EBADMSG;
			}
			cl->r2ts++;
			cl_answer_r2t(cl, &h->r2t, src, src_len);
			break;
		case SPIO_NVME_TCP_PDU_TYPE_C2H_DATA:
			if (h->c2h_data.cccid != cid) {
				return -EBADMSG;
			}
			cl->c2hs++;
			cl->ddgst_errors += !cl->ddgst_ok;
			if (h->common.flags & SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS) {
				memset(cpl, 0, sizeof(*cpl));
				cpl->cid = cid;
				return 0;
			}
			break;
		case SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
			if (h->capsule_resp.rccqe.cid != cid) {
				return -EBADMSG;
			}
			*cpl = h->capsule_resp.rccqe;
			return 0;
		case SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
			return -EPIPE;
		default:
			return -EBADMSG;
		}
	}
}

/*
 * One command: `out` goes in-capsule when `in_capsule`, else by R2T; data
 * the controller returns lands in `in`. Returns what cl_complete does.
 */
static int cl_run(struct client *cl, struct spio_nvme_cmd cmd, const void *out, uint32_t out_len,
		  bool in_capsule, void *in, uint32_t in_len, struct spio_nvme_cpl *cpl)
{
	uint16_t cid;

	cl->r2ts = cl->h2cs = cl->c2hs = cl->ddgst_errors = 0;
	cl->dst = in;
	cl->dst_len = in_len;
	if (out != NULL && in_capsule) {
		cid = cl_submit(cl, &cmd, out, out_len, 0);
	} else {
		cid = cl_submit(cl, &cmd, NULL, 0, out != NULL ? out_len : in_len);
	}
	return cl_complete(cl, cid, out, out_len, cpl);
}

/* cl_run that must complete (with any status). */
static struct spio_nvme_cpl cl_cmd(struct client *cl, struct spio_nvme_cmd cmd, const void *out,
				   uint32_t out_len, void *in, uint32_t in_len)
{
	struct spio_nvme_cpl cpl;
	int rc = cl_run(cl, cmd, out, out_len, true, in, in_len, &cpl);

	cr_assert_eq(rc, 0, "opcode 0x%02x: expected a completion, got %d (%s)", cmd.opc, rc,
		     strerror(-rc));
	return cpl;
}

static void expect_status(const struct spio_nvme_cpl *cpl, unsigned sct, unsigned sc,
			  const char *what)
{
	cr_assert(cpl->status.sct == sct && cpl->status.sc == sc,
		  "%s: expected sct %u sc 0x%02x, got sct %u sc 0x%02x", what, sct, sc,
		  cpl->status.sct, cpl->status.sc);
}

/* Fabrics Connect; returns the response (status not checked). */
static struct spio_nvme_cpl cl_connect(struct client *cl, uint16_t qid, uint16_t cntlid,
				       const char *subnqn, const char *hostnqn, uint32_t kato)
{
	static const uint8_t hostid[16] = {0x7a, 0x1e};
	struct spio_nvmf_fabric_connect_data data;
	struct spio_nvme_cmd cmd;

	nvme_fabric_connect_cmd_build(&cmd, qid, 31, kato, 0);
	cr_assert_eq(nvme_fabric_connect_data_build(&data, hostid, cntlid, subnqn, hostnqn), 0);
	return cl_cmd(cl, cmd, &data, sizeof(data), NULL, 0);
}

static uint64_t cl_prop_get(struct client *cl, uint32_t ofst, uint8_t size)
{
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;

	cr_assert_eq(nvme_fabric_prop_get_build(&cmd, ofst, size), 0);
	cpl = cl_cmd(cl, cmd, NULL, 0, NULL, 0);
	expect_status(&cpl, 0, 0, "property get");
	return nvme_fabric_prop_get_rsp_value(&cpl, size);
}

static void cl_prop_set(struct client *cl, uint32_t ofst, uint32_t value)
{
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;

	cr_assert_eq(nvme_fabric_prop_set_build(&cmd, ofst, 4, value), 0);
	cpl = cl_cmd(cl, cmd, NULL, 0, NULL, 0);
	expect_status(&cpl, 0, 0, "property set");
}

/* Admin queue connected to the fake's subsystem and enabled; returns its cntlid. */
static uint16_t open_ctrlr(struct fake_target *ft, bool digests, struct client **out)
{
	struct client *cl = cl_open(fake_target_port(ft), digests, digests);
	struct spio_nvme_cpl cpl =
	    cl_connect(cl, 0, SPIO_NVMF_CNTLID_DYNAMIC, FAKE_TARGET_SUBNQN, HOSTNQN, 0);

	expect_status(&cpl, 0, 0, "admin connect");
	cl_prop_set(cl, SPIO_NVME_REG_CC, 1);
	*out = cl;
	return (uint16_t)cpl.cdw0;
}

static struct client *open_ioq(struct fake_target *ft, uint16_t cntlid, uint16_t qid, bool digests)
{
	struct client *cl = cl_open(fake_target_port(ft), digests, digests);
	struct spio_nvme_cpl cpl = cl_connect(cl, qid, cntlid, FAKE_TARGET_SUBNQN, HOSTNQN, 0);

	expect_status(&cpl, 0, 0, "I/O queue connect");
	return cl;
}

static struct spio_nvme_cmd rw_cmd(uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t blocks)
{
	struct spio_nvme_cmd cmd = {.opc = opc, .nsid = nsid};

	cmd.cdw10 = (uint32_t)slba;
	cmd.cdw11 = (uint32_t)(slba >> 32);
	cmd.cdw12 = blocks - 1;
	return cmd;
}

static struct spio_nvme_cmd identify_cmd(uint8_t cns, uint32_t nsid)
{
	struct spio_nvme_cmd cmd = {.opc = SPIO_NVME_OPC_IDENTIFY, .nsid = nsid};

	cmd.cdw10_bits.identify.cns = cns;
	return cmd;
}

static struct spio_nvme_cmd get_log_cmd(uint8_t lid, uint32_t bytes, uint64_t offset)
{
	struct spio_nvme_cmd cmd = {.opc = SPIO_NVME_OPC_GET_LOG_PAGE,
				    .nsid = SPIO_NVME_GLOBAL_NS_TAG};
	uint32_t numd = bytes / 4 - 1;

	cmd.cdw10 = lid | (numd & 0xFFFF) << 16;
	cmd.cdw11 = numd >> 16;
	cmd.cdw12 = (uint32_t)offset;
	cmd.cdw13 = (uint32_t)(offset >> 32);
	return cmd;
}

static struct fake_target *start(void (*adjust)(struct fake_target_opts *))
{
	struct fake_target_opts opts;
	struct fake_target *ft;

	fake_target_opts_init(&opts);
	if (adjust != NULL) {
		adjust(&opts);
	}
	ft = fake_target_start(&opts);
	cr_assert_not_null(ft, "fake_target_start failed");
	return ft;
}

static bool aers_held_is(const struct fake_target_stats *s, void *arg)
{
	return s->aers_held == *(uint32_t *)arg;
}

static bool connections_open_is(const struct fake_target_stats *s, void *arg)
{
	return s->connections_open == *(uint32_t *)arg;
}

static bool fault_fired(const struct fake_target_stats *s, void *arg)
{
	return s->faults_fired[*(enum fake_fault *)arg] > 0;
}

/* The connection ends without another PDU (closed or reset). */
static void expect_closed(struct client *cl, const char *what)
{
	int rc;

	do {
		rc = cl_recv(cl, TIMEOUT_MS);
	} while (rc == CL_PDU && cl->hdr.common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ);
	cr_assert_eq(rc, CL_EOF, "%s: expected the connection closed (%d), got %d", what, CL_EOF,
		     rc);
}

/*
 * Connection setup
 */

Test(fake_target, ic_connect_and_properties)
{
	struct fake_target *ft = start(NULL);
	struct client *a = cl_open(fake_target_port(ft), true, true);
	struct client *b;
	struct fake_target_stats st;
	union spio_nvme_cap_register cap;
	union spio_nvme_csts_register csts;
	struct spio_nvme_cpl cpl;

	/* Digests are not granted unless opts.digests. */
	cr_assert_eq(a->hdr.ic_resp.pfv, 0, "PFV: expected 0, got %u", a->hdr.ic_resp.pfv);
	cr_assert_eq(a->hdr.ic_resp.cpda, 0, "CPDA: expected 0, got %u", a->hdr.ic_resp.cpda);
	cr_assert_eq(a->maxh2cdata, 131072, "MAXH2CDATA: expected 131072, got %u", a->maxh2cdata);
	cr_assert_eq(a->hdr.ic_resp.dgst.raw, 0, "digests: expected none, got 0x%x",
		     a->hdr.ic_resp.dgst.raw);

	cpl = cl_connect(a, 0, SPIO_NVMF_CNTLID_DYNAMIC, FAKE_TARGET_SUBNQN, HOSTNQN, 0);
	expect_status(&cpl, 0, 0, "first admin connect");
	cr_assert_eq(cpl.cdw0 & 0xFFFF, 1, "first cntlid: expected 1, got %u", cpl.cdw0 & 0xFFFF);
	b = cl_open(fake_target_port(ft), false, false);
	cpl = cl_connect(b, 0, SPIO_NVMF_CNTLID_DYNAMIC, FAKE_TARGET_SUBNQN, HOSTNQN, 0);
	cr_assert_eq(cpl.cdw0 & 0xFFFF, 2, "second cntlid: expected 2, got %u", cpl.cdw0 & 0xFFFF);
	cpl = cl_connect(b, 0, SPIO_NVMF_CNTLID_DYNAMIC, FAKE_TARGET_SUBNQN, HOSTNQN, 0);
	expect_status(&cpl, 0, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR, "second connect on a queue");

	cap.raw = cl_prop_get(a, SPIO_NVME_REG_CAP, 8);
	cr_assert_eq(cap.bits.mqes, 127, "CAP.MQES: expected 127, got %u", (unsigned)cap.bits.mqes);
	cr_assert_eq(cap.bits.to, 1, "CAP.TO: expected 1, got %u", (unsigned)cap.bits.to);
	cr_assert_eq(cap.bits.cqr, 1, "CAP.CQR: expected 1");
	cr_assert_eq(cl_prop_get(a, SPIO_NVME_REG_VS, 4), SPIO_NVME_VERSION(1, 3, 0));
	csts.raw = (uint32_t)cl_prop_get(a, SPIO_NVME_REG_CSTS, 4);
	cr_assert_eq(csts.bits.rdy, 0, "CSTS.RDY before CC.EN: expected 0");
	cl_prop_set(a, SPIO_NVME_REG_CC, 1);
	csts.raw = (uint32_t)cl_prop_get(a, SPIO_NVME_REG_CSTS, 4);
	cr_assert_eq(csts.bits.rdy, 1, "CSTS.RDY after CC.EN: expected 1");
	cr_assert_eq(cl_prop_get(a, SPIO_NVME_REG_CC, 4), 1);
	cl_prop_set(a, SPIO_NVME_REG_CC, 1 | SPIO_NVME_SHN_NORMAL << 14);
	csts.raw = (uint32_t)cl_prop_get(a, SPIO_NVME_REG_CSTS, 4);
	cr_assert_eq(csts.bits.shst, SPIO_NVME_SHST_COMPLETE,
		     "CSTS.SHST after CC.SHN: expected 2, got %u", (unsigned)csts.bits.shst);

	fake_target_get_stats(ft, &st);
	cr_assert_eq(st.connections_accepted, 2, "accepted: expected 2, got %lu",
		     (unsigned long)st.connections_accepted);
	cr_assert_eq(st.controllers_created, 2);
	cr_assert_eq(st.fabrics_cmds[SPIO_NVMF_FABRIC_COMMAND_CONNECT], 3);
	cr_assert_eq(st.admin_cmds[SPIO_NVME_OPC_FABRIC], 3 + 8, "admin fabrics commands: got %lu",
		     (unsigned long)st.admin_cmds[SPIO_NVME_OPC_FABRIC]);
	cl_close(a);
	cl_close(b);
	fake_target_stop(ft);
}

static void allow_one_host(struct fake_target_opts *o)
{
	static const char *const hosts[] = {"nqn.2014-08.org.example:allowed", NULL};

	o->allowed_hosts = hosts;
}

Test(fake_target, connect_refusals)
{
	struct fake_target *ft = start(allow_one_host);
	struct client *cl = cl_open(fake_target_port(ft), false, false);
	struct client *io;
	struct spio_nvme_cpl cpl;
	const struct spio_nvmf_fabric_connect_rsp *rsp = (const void *)&cpl;
	uint16_t cntlid;

	cpl = cl_cmd(cl, identify_cmd(SPIO_NVME_IDENTIFY_CTRLR, 0), NULL, 0, NULL, 0);
	expect_status(&cpl, 0, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR, "identify before connect");
	cpl = cl_connect(cl, 0, SPIO_NVMF_CNTLID_DYNAMIC, "nqn.2016-06.io.spio:other",
			 "nqn.2014-08.org.example:allowed", 0);
	expect_status(&cpl, 1, SPIO_NVMF_FABRIC_SC_INVALID_PARAM, "unknown subsystem");
	cr_assert(rsp->status_code_specific.invalid.iattr == 1 &&
		      rsp->status_code_specific.invalid.ipo == 256,
		  "unknown subsystem: expected the subnqn field (data, 256), got %u/%u",
		  rsp->status_code_specific.invalid.iattr, rsp->status_code_specific.invalid.ipo);
	cpl = cl_connect(cl, 0, SPIO_NVMF_CNTLID_DYNAMIC, FAKE_TARGET_SUBNQN, HOSTNQN, 0);
	expect_status(&cpl, 1, SPIO_NVMF_FABRIC_SC_INVALID_HOST, "host not allowed");
	cpl = cl_connect(cl, 0, 5, FAKE_TARGET_SUBNQN, "nqn.2014-08.org.example:allowed", 0);
	expect_status(&cpl, 1, SPIO_NVMF_FABRIC_SC_INVALID_PARAM, "admin connect with a cntlid");
	cpl = cl_connect(cl, 0, SPIO_NVMF_CNTLID_DYNAMIC, FAKE_TARGET_SUBNQN,
			 "nqn.2014-08.org.example:allowed", 0);
	expect_status(&cpl, 0, 0, "allowed host");
	cntlid = (uint16_t)cpl.cdw0;

	io = cl_open(fake_target_port(ft), false, false);
	cpl = cl_connect(io, 1, cntlid, FAKE_TARGET_SUBNQN, "nqn.2014-08.org.example:allowed", 0);
	expect_status(&cpl, 0, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR, "I/O connect before CC.EN");
	cpl = cl_connect(io, 1, (uint16_t)(cntlid + 7), FAKE_TARGET_SUBNQN,
			 "nqn.2014-08.org.example:allowed", 0);
	expect_status(&cpl, 1, SPIO_NVMF_FABRIC_SC_INVALID_PARAM, "I/O connect, unknown cntlid");
	cr_assert_eq(rsp->status_code_specific.invalid.ipo, 16, "expected the cntlid field (16)");
	cl_prop_set(cl, SPIO_NVME_REG_CC, 1);
	cpl = cl_connect(io, 9, cntlid, FAKE_TARGET_SUBNQN, "nqn.2014-08.org.example:allowed", 0);
	expect_status(&cpl, 1, SPIO_NVMF_FABRIC_SC_INVALID_PARAM, "qid beyond the 8 granted");
	cpl = cl_connect(io, 1, cntlid, FAKE_TARGET_SUBNQN, "nqn.2014-08.org.example:allowed", 0);
	expect_status(&cpl, 0, 0, "I/O connect");
	cl_close(io);
	cl_close(cl);
	fake_target_stop(ft);
}

/*
 * Admin commands
 */

static void expect_text(const char *field, size_t size, const char *want, const char *what)
{
	char padded[64];

	memset(padded, ' ', size);
	memcpy(padded, want, strlen(want));
	cr_assert(memcmp(field, padded, size) == 0, "%s: expected '%s' space padded, got '%.*s'",
		  what, want, (int)size, field);
}

Test(fake_target, identify)
{
	struct fake_target *ft = start(NULL);
	struct client *cl = cl_open(fake_target_port(ft), false, false);
	static union {
		struct spio_nvme_ctrlr_data cdata;
		struct spio_nvme_ns_data nsdata;
		struct spio_nvme_ns_list list;
		uint8_t raw[4096];
	} buf;
	const struct spio_nvme_ns_id_desc *d;
	struct spio_nvme_cpl cpl;
	uint64_t nvmcap;
	uint16_t cntlid;

	cpl = cl_connect(cl, 0, SPIO_NVMF_CNTLID_DYNAMIC, FAKE_TARGET_SUBNQN, HOSTNQN, 0);
	cntlid = (uint16_t)cpl.cdw0;
	cpl = cl_cmd(cl, identify_cmd(SPIO_NVME_IDENTIFY_CTRLR, 0), NULL, 0, &buf, 4096);
	expect_status(&cpl, 0, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR, "identify before CC.EN");
	cl_prop_set(cl, SPIO_NVME_REG_CC, 1);

	cpl = cl_cmd(cl, identify_cmd(SPIO_NVME_IDENTIFY_CTRLR, 0), NULL, 0, &buf, 4096);
	expect_status(&cpl, 0, 0, "identify controller");
	expect_text(buf.cdata.sn, sizeof(buf.cdata.sn), "FAKE0001", "sn");
	expect_text(buf.cdata.mn, sizeof(buf.cdata.mn), "spio fake target", "mn");
	cr_assert_eq(buf.cdata.mdts, 5);
	cr_assert_eq(buf.cdata.cntlid, cntlid, "cntlid: expected %u, got %u", cntlid,
		     buf.cdata.cntlid);
	cr_assert_eq(buf.cdata.ver.raw, SPIO_NVME_VERSION(1, 3, 0));
	cr_assert(buf.cdata.oaes & SPIO_NVME_OAES_NS_ATTRIBUTE_NOTICES, "oaes: expected bit 8");
	cr_assert_eq(buf.cdata.aerl, 3);
	cr_assert_eq(buf.cdata.sqes, 0x66);
	cr_assert_eq(buf.cdata.cqes, 0x44);
	cr_assert_eq(buf.cdata.maxcmd, 128);
	cr_assert_eq(buf.cdata.nn, 32);
	cr_assert(buf.cdata.oncs.write_zeroes && buf.cdata.oncs.dsm && buf.cdata.oncs.compare,
		  "oncs: expected write zeroes, dsm and compare, got 0x%x", buf.cdata.oncs.raw);
	cr_assert(buf.cdata.sgls & SPIO_NVME_SGLS_SUPPORT_MASK, "sgls: expected SGL support");
	cr_assert_eq(buf.cdata.ioccsz, (4096 + 64) / 16, "ioccsz: got %u", buf.cdata.ioccsz);
	cr_assert_eq(buf.cdata.iorcsz, 1);
	cr_assert_neq(buf.cdata.kas, 0);
	cr_assert_str_eq(buf.cdata.subnqn, FAKE_TARGET_SUBNQN);
	cr_assert_eq(buf.cdata.cntrltype, SPIO_NVME_CTRLR_TYPE_IO);

	cpl = cl_cmd(cl, identify_cmd(SPIO_NVME_IDENTIFY_NS, 1), NULL, 0, &buf, 4096);
	expect_status(&cpl, 0, 0, "identify namespace 1");
	cr_assert_eq(buf.nsdata.nsze, 64 * MIB / 512, "nsze: expected %u, got %lu", 64 * MIB / 512,
		     (unsigned long)buf.nsdata.nsze);
	cr_assert_eq(buf.nsdata.lbaf[0].lbads, 9);
	cr_assert_eq(buf.nsdata.flbas.format, 0);
	cr_assert_neq(buf.nsdata.eui64, 0, "eui64: expected nonzero");
	cr_assert(memcmp(buf.nsdata.nguid, (uint8_t[16]){0}, 16) != 0, "nguid: expected nonzero");
	memcpy(&nvmcap, buf.nsdata.nvmcap, sizeof(nvmcap));
	cr_assert_eq(nvmcap, 64ull * MIB, "nvmcap: expected 64 MiB, got %lu",
		     (unsigned long)nvmcap);

	memset(&buf, 0xAA, sizeof(buf));
	cpl = cl_cmd(cl, identify_cmd(SPIO_NVME_IDENTIFY_NS, 2), NULL, 0, &buf, 4096);
	expect_status(&cpl, 0, 0, "identify inactive namespace 2");
	cr_assert_eq(buf.nsdata.nsze, 0, "inactive namespace: expected zeroes");
	cpl = cl_cmd(cl, identify_cmd(SPIO_NVME_IDENTIFY_NS, 33), NULL, 0, &buf, 4096);
	expect_status(&cpl, 0, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT, "identify nsid 33");

	cpl = cl_cmd(cl, identify_cmd(SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST, 0), NULL, 0, &buf, 4096);
	expect_status(&cpl, 0, 0, "active namespace list");
	cr_assert(buf.list.ns_list[0] == 1 && buf.list.ns_list[1] == 0,
		  "active list: expected [1], got [%u, %u]", buf.list.ns_list[0],
		  buf.list.ns_list[1]);

	cpl = cl_cmd(cl, identify_cmd(SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, 1), NULL, 0, &buf,
		     4096);
	expect_status(&cpl, 0, 0, "namespace identification descriptors");
	d = (const void *)buf.raw;
	cr_assert(d->nidt == SPIO_NVME_NIDT_EUI64 && d->nidl == 8, "first descriptor: EUI64");
	d = (const void *)(buf.raw + 4 + 8);
	cr_assert(d->nidt == SPIO_NVME_NIDT_NGUID && d->nidl == 16, "second descriptor: NGUID");
	d = (const void *)(buf.raw + 4 + 8 + 4 + 16);
	cr_assert(d->nidt == SPIO_NVME_NIDT_UUID && d->nidl == 16, "third descriptor: UUID");
	d = (const void *)(buf.raw + 4 + 8 + 4 + 16 + 4 + 16);
	cr_assert_eq(d->nidl, 0, "the list ends after three descriptors");

	cpl = cl_cmd(cl, identify_cmd(0x55, 0), NULL, 0, &buf, 4096);
	expect_status(&cpl, 0, SPIO_NVME_SC_INVALID_FIELD, "unknown CNS");
	cl_close(cl);
	fake_target_stop(ft);
}

Test(fake_target, features_logs_and_misc)
{
	struct fake_target *ft = start(NULL);
	struct client *cl;
	static uint8_t buf[4096];
	const struct spio_nvme_health_information_page *hp = (const void *)buf;
	struct spio_nvme_cmd cmd = {.opc = SPIO_NVME_OPC_SET_FEATURES};
	struct spio_nvme_cpl cpl;

	open_ctrlr(ft, false, &cl);
	cmd.cdw10 = SPIO_NVME_FEAT_NUMBER_OF_QUEUES;
	cmd.cdw11 = 63 | 63 << 16;
	cpl = cl_cmd(cl, cmd, NULL, 0, NULL, 0);
	expect_status(&cpl, 0, 0, "set number of queues");
	cr_assert_eq(cpl.cdw0, 7 | 7 << 16, "queues granted: expected 8 + 8 (0's based), got 0x%x",
		     cpl.cdw0);
	cmd.cdw10 = SPIO_NVME_FEAT_KEEP_ALIVE_TIMER;
	cmd.cdw11 = 15000;
	cpl = cl_cmd(cl, cmd, NULL, 0, NULL, 0);
	expect_status(&cpl, 0, 0, "set KATO");
	cmd.opc = SPIO_NVME_OPC_GET_FEATURES;
	cpl = cl_cmd(cl, cmd, NULL, 0, NULL, 0);
	cr_assert_eq(cpl.cdw0, 15000, "get KATO: expected 15000, got %u", cpl.cdw0);
	cmd.cdw10 = SPIO_NVME_FEAT_VOLATILE_WRITE_CACHE;
	cpl = cl_cmd(cl, cmd, NULL, 0, NULL, 0);
	expect_status(&cpl, 0, SPIO_NVME_SC_INVALID_FIELD, "get an unsupported feature");

	cpl = cl_cmd(cl, (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_KEEP_ALIVE}, NULL, 0, NULL, 0);
	expect_status(&cpl, 0, 0, "keep alive");
	cpl = cl_cmd(cl, (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_ABORT}, NULL, 0, NULL, 0);
	expect_status(&cpl, 0, 0, "abort");
	cr_assert_eq(cpl.cdw0 & 1, 1, "abort: expected 'not aborted' (cdw0 bit 0)");
	cpl = cl_cmd(cl, (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_FORMAT_NVM}, NULL, 0, NULL, 0);
	expect_status(&cpl, 0, SPIO_NVME_SC_INVALID_OPCODE, "format NVM");

	cpl = cl_cmd(cl, get_log_cmd(SPIO_NVME_LOG_HEALTH_INFORMATION, 512, 0), NULL, 0, buf, 512);
	expect_status(&cpl, 0, 0, "SMART log");
	cr_assert(hp->temperature > 273 && hp->available_spare == 100,
		  "SMART: expected a temperature in kelvin and 100%% spare, got %u / %u",
		  hp->temperature, hp->available_spare);
	cpl = cl_cmd(cl, get_log_cmd(SPIO_NVME_LOG_ERROR, 64, 0), NULL, 0, buf, 64);
	expect_status(&cpl, 0, 0, "error log");
	cpl =
	    cl_cmd(cl, get_log_cmd(SPIO_NVME_LOG_COMMAND_EFFECTS_LOG, 4096, 0), NULL, 0, buf, 4096);
	expect_status(&cpl, 1, SPIO_NVME_SC_INVALID_LOG_PAGE, "unsupported log page");
	cpl = cl_cmd(cl, get_log_cmd(SPIO_NVME_LOG_HEALTH_INFORMATION, 4, 1024), NULL, 0, buf, 4);
	expect_status(&cpl, 0, SPIO_NVME_SC_INVALID_FIELD, "log offset beyond the page");
	cpl = cl_cmd(cl, get_log_cmd(SPIO_NVME_LOG_DISCOVERY, 1024, 0), NULL, 0, buf, 1024);
	expect_status(&cpl, 1, SPIO_NVME_SC_INVALID_LOG_PAGE, "discovery log of an I/O controller");
	cl_close(cl);
	fake_target_stop(ft);
}

Test(fake_target, discovery_controller)
{
	struct fake_target *ft = start(NULL);
	struct client *cl = cl_open(fake_target_port(ft), false, false);
	struct client *io;
	static union {
		struct spio_nvme_ctrlr_data cdata;
		struct spio_nvmf_discovery_log_page log;
		struct spio_nvmf_discovery_log_page_entry entry;
		uint8_t raw[4096];
	} buf;
	struct spio_nvme_cpl cpl;
	char port[32];
	uint16_t cntlid;

	cpl = cl_connect(cl, 0, SPIO_NVMF_CNTLID_DYNAMIC, SPIO_NVMF_DISCOVERY_NQN, HOSTNQN, 0);
	expect_status(&cpl, 0, 0, "discovery connect");
	cntlid = (uint16_t)cpl.cdw0;
	cl_prop_set(cl, SPIO_NVME_REG_CC, 1);
	cpl = cl_cmd(cl, identify_cmd(SPIO_NVME_IDENTIFY_CTRLR, 0), NULL, 0, &buf, 4096);
	expect_status(&cpl, 0, 0, "identify discovery controller");
	cr_assert_eq(buf.cdata.cntrltype, SPIO_NVME_CTRLR_TYPE_DISCOVERY);
	cr_assert_str_eq(buf.cdata.subnqn, SPIO_NVMF_DISCOVERY_NQN);

	cpl = cl_cmd(cl, get_log_cmd(SPIO_NVME_LOG_DISCOVERY, 1024, 0), NULL, 0, &buf, 1024);
	expect_status(&cpl, 0, 0, "discovery log header");
	cr_assert_eq(buf.log.numrec, 1, "numrec: expected 1, got %lu",
		     (unsigned long)buf.log.numrec);
	cpl = cl_cmd(cl, get_log_cmd(SPIO_NVME_LOG_DISCOVERY, 1024, 1024), NULL, 0, &buf, 1024);
	expect_status(&cpl, 0, 0, "discovery log entry (offset 1024)");
	cr_assert_eq(buf.entry.trtype, SPIO_NVMF_TRTYPE_TCP);
	cr_assert_eq(buf.entry.adrfam, SPIO_NVMF_ADRFAM_IPV4);
	cr_assert_eq(buf.entry.subtype, SPIO_NVMF_SUBTYPE_NVME);
	cr_assert_str_eq(buf.entry.subnqn, FAKE_TARGET_SUBNQN);
	snprintf(port, sizeof(port), "%u", fake_target_port(ft));
	expect_text(buf.entry.trsvcid, sizeof(buf.entry.trsvcid), port, "trsvcid");
	expect_text(buf.entry.traddr, 32, "127.0.0.1", "traddr");

	io = cl_open(fake_target_port(ft), false, false);
	cpl = cl_connect(io, 1, cntlid, SPIO_NVMF_DISCOVERY_NQN, HOSTNQN, 0);
	expect_status(&cpl, 1, SPIO_NVMF_FABRIC_SC_INVALID_PARAM, "I/O queue on discovery");
	cl_close(io);
	cl_close(cl);
	fake_target_stop(ft);
}

/*
 * I/O
 */

static void split_transfers(struct fake_target_opts *o)
{
	o->digests = true;
	o->r2t_max = 256 * 1024;
	o->c2h_max = 64 * 1024;
	o->maxh2cdata = 64 * 1024;
}

Test(fake_target, write_read_1mib_with_digests)
{
	struct fake_target *ft = start(split_transfers);
	struct client *admin, *io;
	uint8_t *out = malloc(MIB), *in = malloc(MIB), small[4096], back[4096];
	struct fake_target_stats st;
	struct spio_nvme_cpl cpl;
	uint16_t cntlid;
	int rc;

	cr_assert(out != NULL && in != NULL);
	for (uint32_t i = 0; i < MIB; i++) {
		out[i] = (uint8_t)(i * 7 + (i >> 12));
	}
	cntlid = open_ctrlr(ft, true, &admin);
	io = open_ioq(ft, cntlid, 1, true);
	cr_assert(io->tx.hdgst && io->tx.ddgst, "digests: expected both granted");

	rc = cl_run(io, rw_cmd(SPIO_NVME_OPC_WRITE, 1, 8, MIB / 512), out, MIB, false, NULL, 0,
		    &cpl);
	cr_assert_eq(rc, 0, "1 MiB write: got %d", rc);
	expect_status(&cpl, 0, 0, "1 MiB write");
	cr_assert_eq(io->r2ts, 4, "R2Ts of 256 KiB: expected 4, got %u", io->r2ts);
	cr_assert_eq(io->h2cs, 16, "H2CData of 64 KiB: expected 16, got %u", io->h2cs);

	rc = cl_run(io, rw_cmd(SPIO_NVME_OPC_READ, 1, 8, MIB / 512), NULL, 0, false, in, MIB, &cpl);
	cr_assert_eq(rc, 0, "1 MiB read: got %d", rc);
	expect_status(&cpl, 0, 0, "1 MiB read");
	cr_assert_eq(io->c2hs, 16, "C2HData of 64 KiB: expected 16, got %u", io->c2hs);
	cr_assert_eq(io->ddgst_errors, 0);
	cr_assert(memcmp(in, out, MIB) == 0, "read back: expected the bytes written");

	/* In-capsule write, checked through the back door. */
	memset(small, 0x5A, sizeof(small));
	rc = cl_run(io, rw_cmd(SPIO_NVME_OPC_WRITE, 1, 0, 8), small, sizeof(small), true, NULL, 0,
		    &cpl);
	cr_assert_eq(rc, 0);
	expect_status(&cpl, 0, 0, "in-capsule write");
	cr_assert_eq(io->r2ts, 0, "in-capsule write: expected no R2T, got %u", io->r2ts);
	cr_assert_eq(fake_target_ns_read(ft, 1, 0, back, sizeof(back)), 0);
	cr_assert(memcmp(back, small, sizeof(back)) == 0, "namespace: expected the 0x5A block");

	fake_target_get_stats(ft, &st);
	cr_assert_eq(st.bytes_written, MIB + 4096, "bytes written: got %lu",
		     (unsigned long)st.bytes_written);
	cr_assert_eq(st.bytes_read, MIB, "bytes read: got %lu", (unsigned long)st.bytes_read);
	cr_assert_eq(st.io_cmds[SPIO_NVME_OPC_WRITE], 2);
	cr_assert_eq(st.io_cmds[SPIO_NVME_OPC_READ], 1);
	cr_assert_eq(st.r2t_sent, 4);
	cr_assert_eq(st.h2c_received, 16);
	cr_assert_eq(st.c2h_sent, 16);
	free(out);
	free(in);
	cl_close(io);
	cl_close(admin);
	fake_target_stop(ft);
}

static void c2h_success(struct fake_target_opts *o)
{
	o->c2h_success = true;
	o->ns_size = 1 * MIB;
	o->num_namespaces = 2;
}

Test(fake_target, io_commands_and_errors)
{
	struct fake_target *ft = start(c2h_success);
	struct client *admin, *io;
	uint8_t blk[1024], rd[1024];
	struct spio_nvme_dsm_range range = {.length = 2, .starting_lba = 4};
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;
	uint16_t cntlid = open_ctrlr(ft, false, &admin);

	io = open_ioq(ft, cntlid, 2, false);
	memset(blk, 0xC3, sizeof(blk));
	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_WRITE, 1, 4, 2), blk, sizeof(blk), NULL, 0);
	expect_status(&cpl, 0, 0, "write");
	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_READ, 1, 4, 2), NULL, 0, rd, sizeof(rd));
	expect_status(&cpl, 0, 0, "read");
	cr_assert_eq(io->c2hs, 1);
	cr_assert(io->hdr.common.flags & SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS,
		  "c2h_success: expected SUCCESS on the last C2HData, no CapsuleResp");
	cr_assert(memcmp(rd, blk, sizeof(rd)) == 0, "read: expected the written bytes");

	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_COMPARE, 1, 4, 2), blk, sizeof(blk), NULL, 0);
	expect_status(&cpl, 0, 0, "compare, same data");
	blk[700] ^= 1;
	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_COMPARE, 1, 4, 2), blk, sizeof(blk), NULL, 0);
	expect_status(&cpl, SPIO_NVME_SCT_MEDIA_ERROR, SPIO_NVME_SC_COMPARE_FAILURE,
		      "compare, other data");

	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_WRITE_ZEROES, 1, 5, 1), NULL, 0, NULL, 0);
	expect_status(&cpl, 0, 0, "write zeroes");
	cr_assert_eq(fake_target_ns_read(ft, 1, 4 * 512, rd, sizeof(rd)), 0);
	cr_assert(rd[511] == 0xC3 && rd[512] == 0 && rd[1023] == 0,
		  "write zeroes: expected block 4 kept, block 5 zeroed");
	cr_assert_eq(fake_target_ns_write(ft, 1, 4 * 512, blk, sizeof(blk)), 0);
	cmd = (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_DATASET_MANAGEMENT, .nsid = 1};
	cmd.cdw11 = SPIO_NVME_DSM_ATTR_DEALLOCATE;
	cpl = cl_cmd(io, cmd, &range, sizeof(range), NULL, 0);
	expect_status(&cpl, 0, 0, "deallocate");
	cr_assert_eq(fake_target_ns_read(ft, 1, 4 * 512, rd, sizeof(rd)), 0);
	cr_assert(memcmp(rd, (uint8_t[1024]){0}, sizeof(rd)) == 0, "deallocate: expected zeroes");
	range.starting_lba = 2047;
	cpl = cl_cmd(io, cmd, &range, sizeof(range), NULL, 0);
	expect_status(&cpl, 0, SPIO_NVME_SC_LBA_OUT_OF_RANGE, "deallocate past the end");
	cpl = cl_cmd(io, (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_FLUSH, .nsid = 1}, NULL, 0,
		     NULL, 0);
	expect_status(&cpl, 0, 0, "flush");

	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_READ, 1, 2047, 2), NULL, 0, rd, sizeof(rd));
	expect_status(&cpl, 0, SPIO_NVME_SC_LBA_OUT_OF_RANGE, "read past the end");
	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_WRITE, 1, UINT64_MAX - 1, 2), blk, sizeof(blk), NULL,
		     0);
	expect_status(&cpl, 0, SPIO_NVME_SC_LBA_OUT_OF_RANGE, "write at a huge LBA");
	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_READ, 3, 0, 1), NULL, 0, rd, 512);
	expect_status(&cpl, 0, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT, "read namespace 3");
	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_READ, 2, 0, 2), NULL, 0, rd, 512);
	expect_status(&cpl, 0, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID, "read into a short buffer");
	cpl = cl_cmd(io, (struct spio_nvme_cmd){.opc = 0x7e, .nsid = 1}, NULL, 0, NULL, 0);
	expect_status(&cpl, 0, SPIO_NVME_SC_INVALID_OPCODE, "unknown I/O opcode");
	cl_close(io);
	cl_close(admin);
	fake_target_stop(ft);
}

/*
 * Faults
 */

static void digests_on(struct fake_target_opts *o)
{
	o->digests = true;
}

Test(fake_target, faults_on_the_wire)
{
	struct fake_target *ft = start(digests_on);
	struct client *admin, *io;
	static uint8_t rd[8192];
	struct spio_nvme_cpl cpl;
	enum fake_fault f = FAULT_BAD_HDGST;
	uint16_t cntlid = open_ctrlr(ft, true, &admin), cid;
	int rc;

	io = open_ioq(ft, cntlid, 1, true);
	/* Data digest: the data arrives, its digest does not match. */
	cr_assert_eq(fake_target_inject(ft, FAULT_BAD_DDGST, 0), 0);
	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 16), NULL, 0, rd, sizeof(rd));
	expect_status(&cpl, 0, 0, "read with a bad data digest");
	cr_assert_eq(io->ddgst_errors, 1, "data digest errors: expected 1, got %u",
		     io->ddgst_errors);

	/* Status, once. */
	cr_assert_eq(fake_target_inject(ft, FAULT_STATUS, 2 << 8 | 0x81), 0);
	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 1), NULL, 0, rd, 512);
	expect_status(&cpl, 2, 0x81, "injected status");
	cpl = cl_cmd(io, rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 1), NULL, 0, rd, 512);
	expect_status(&cpl, 0, 0, "the read after the injected status");

	/* A stray C2HData first, then the real answer. */
	cr_assert_eq(fake_target_inject(ft, FAULT_C2H_UNKNOWN_CID, 0), 0);
	io->dst = rd;
	io->dst_len = 512;
	cid = cl_submit(io, &(struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_FLUSH, .nsid = 1}, NULL, 0,
			0);
	rc = cl_complete(io, cid, NULL, 0, &cpl);
	cr_assert_eq(rc, -EBADMSG, "expected a PDU for another cid, got %d", rc);
	cr_assert(io->hdr.common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_C2H_DATA &&
		      io->hdr.c2h_data.cccid != cid,
		  "expected C2HData for a cid other than %u, got type %u cid %u", cid,
		  io->hdr.common.pdu_type, io->hdr.c2h_data.cccid);
	cr_assert_eq(cl_complete(io, cid, NULL, 0, &cpl), 0);
	expect_status(&cpl, 0, 0, "flush after the stray C2HData");

	/* Admin queue untouched by an I/O fault; the I/O queue sees the bad header digest. */
	cr_assert_eq(fake_target_inject(ft, FAULT_BAD_HDGST, 0), 0);
	cpl = cl_cmd(admin, (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_KEEP_ALIVE}, NULL, 0, NULL,
		     0);
	expect_status(&cpl, 0, 0, "keep alive while an I/O fault is armed");
	rc = cl_run(io, rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 1), NULL, 0, false, rd, 512, &cpl);
	cr_assert(rc == -EPROTO && io->rx.err.fes == SPIO_NVME_TCP_TERM_REQ_FES_HDGST_ERROR,
		  "expected a header digest error (fes 3), got rc %d fes %u", rc, io->rx.err.fes);
	cr_assert(fake_target_wait(ft, fault_fired, &f, TIMEOUT_MS));
	cl_close(io);

	/* Unknown PDU type. */
	io = open_ioq(ft, cntlid, 2, true);
	cr_assert_eq(fake_target_inject(ft, FAULT_UNKNOWN_PDU_TYPE, 0), 0);
	rc = cl_run(io, rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 1), NULL, 0, false, rd, 512, &cpl);
	cr_assert(rc == -EPROTO &&
		      io->rx.err.fes == SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD &&
		      io->rx.err.fei == 0,
		  "expected Invalid Header Field at byte 0, got rc %d fes %u fei %u", rc,
		  io->rx.err.fes, io->rx.err.fei);
	cl_close(io);

	/* C2HData longer than the read. */
	io = open_ioq(ft, cntlid, 3, true);
	cr_assert_eq(fake_target_inject(ft, FAULT_OVERSIZE_C2H, 0), 0);
	rc = cl_run(io, rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 2), NULL, 0, false, rd, 1024, &cpl);
	cr_assert(rc == -EPROTO &&
		      io->rx.err.fes == SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_OUT_OF_RANGE,
		  "oversized C2HData: expected fes 4, got rc %d fes %u", rc, io->rx.err.fes);
	cl_close(io);

	/* A header claiming far more than any limit: refused at the header. */
	io = open_ioq(ft, cntlid, 4, true);
	cr_assert_eq(nvme_tcp_rx_set_params(
			 &io->rx, &(struct nvme_tcp_rx_params){.hdgst = true,
							       .ddgst = true,
							       .max_data_len = 4 * MIB,
							       .max_incapsule = UINT32_MAX}),
		     0);
	cr_assert_eq(fake_target_inject(ft, FAULT_OVERSIZE_C2H, 0xFFFFFF00u), 0);
	rc = cl_run(io, rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 2), NULL, 0, false, rd, 1024, &cpl);
	cr_assert(rc == -EPROTO &&
		      io->rx.err.fes == SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_LIMIT_EXCEEDED,
		  "C2HData claiming 4 GiB: expected fes 5, got rc %d fes %u", rc, io->rx.err.fes);
	cl_close(io);
	cl_close(admin);
	fake_target_stop(ft);
}

Test(fake_target, host_data_violations)
{
	struct fake_target *ft = start(digests_on);
	struct client *admin, *io;
	static uint8_t wr[256 * 1024];
	struct iovec one = {.iov_base = wr, .iov_len = 512};
	struct nvme_tcp_tx_pdu pdu;
	struct spio_nvme_cpl cpl;
	uint16_t cntlid = open_ctrlr(ft, true, &admin);
	int rc;

	/* A wrong data digest on H2CData: the write fails, transiently; the queue goes on. */
	io = open_ioq(ft, cntlid, 1, true);
	io->corrupt_ddgst = true;
	rc = cl_run(io, rw_cmd(SPIO_NVME_OPC_WRITE, 1, 0, 16), wr, 8192, false, NULL, 0, &cpl);
	cr_assert_eq(rc, 0, "write with a bad data digest: got %d", rc);
	expect_status(&cpl, 0, SPIO_NVME_SC_COMMAND_TRANSIENT_TRANSPORT_ERROR, "bad H2C digest");
	cr_assert_eq(cpl.status.dnr, 0, "transient error: expected DNR clear");
	io->corrupt_ddgst = false;
	rc = cl_run(io, rw_cmd(SPIO_NVME_OPC_WRITE, 1, 0, 16), wr, 8192, false, NULL, 0, &cpl);
	cr_assert_eq(rc, 0);
	expect_status(&cpl, 0, 0, "the write after");
	cl_close(io);

	/* H2CData beyond MAXH2CDATA: a C2HTermReq with Data Transfer Limit Exceeded. */
	io = open_ioq(ft, cntlid, 2, true);
	io->maxh2cdata *= 2;
	rc = cl_run(io, rw_cmd(SPIO_NVME_OPC_WRITE, 1, 0, 512), wr, sizeof(wr), false, NULL, 0,
		    &cpl);
	cr_assert(rc == -EPIPE && io->hdr.term_req.fes ==
				      SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_LIMIT_EXCEEDED,
		  "H2CData over MAXH2CDATA: expected a term req with fes 5, got rc %d fes %u", rc,
		  io->hdr.term_req.fes);
	cl_close(io);

	/* H2CData for a transfer tag no R2T gave. */
	io = open_ioq(ft, cntlid, 3, true);
	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_H2C_DATA);
	pdu.hdr.h2c_data.ttag = 77;
	pdu.hdr.h2c_data.datal = 512;
	pdu.hdr.common.flags |= SPIO_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU;
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, &io->tx, &one, 1, 0, 512), 0);
	cr_assert_eq(cl_send(io, &pdu), 0);
	cr_assert_eq(cl_recv(io, TIMEOUT_MS), CL_PDU, "expected a C2HTermReq");
	cr_assert(
	    io->hdr.common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ &&
		io->hdr.term_req.fes == SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD &&
		io->hdr.term_req.fei[0] == 10,
	    "H2CData with an unknown ttag: expected fes 1 at byte 10, got type %u fes %u fei %u",
	    io->hdr.common.pdu_type, io->hdr.term_req.fes, io->hdr.term_req.fei[0]);
	expect_closed(io, "after the C2HTermReq");
	cl_close(io);
	cl_close(admin);
	fake_target_stop(ft);
}

Test(fake_target, faults_that_close_or_stall)
{
	struct fake_target *ft = start(NULL);
	struct client *admin, *io;
	static uint8_t rd[8192];
	struct spio_nvme_cpl cpl;
	enum fake_fault f = FAULT_DROP_RESPONSE;
	uint16_t cntlid = open_ctrlr(ft, false, &admin), cid;
	uint64_t t0;
	int rc;

	/* Half of the read's data, then the connection closes. */
	io = open_ioq(ft, cntlid, 1, false);
	cr_assert_eq(fake_target_inject(ft, FAULT_CLOSE_MID_DATA, 0), 0);
	rc = cl_run(io, rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 16), NULL, 0, false, rd, sizeof(rd), &cpl);
	cr_assert_eq(rc, -ECONNRESET, "close mid data: expected the connection closed, got %d", rc);
	cr_assert_eq(io->c2hs, 1, "close mid data: expected one C2HData, got %u", io->c2hs);
	cr_assert(io->hdr.c2h_data.datal == 4096 &&
		      !(io->hdr.common.flags & SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU),
		  "close mid data: expected 4096 bytes without LAST_PDU, got %u flags 0x%x",
		  io->hdr.c2h_data.datal, io->hdr.common.flags);
	cl_close(io);

	/* Half a response PDU, then the connection closes. */
	io = open_ioq(ft, cntlid, 1, false);
	cr_assert_eq(fake_target_inject(ft, FAULT_TRUNCATE, 0), 0);
	rc = cl_run(io, (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_FLUSH, .nsid = 1}, NULL, 0,
		    false, NULL, 0, &cpl);
	cr_assert_eq(rc, -ECONNRESET, "truncated PDU: expected the connection closed, got %d", rc);
	cr_assert_eq(nvme_tcp_rx_need(&io->rx), 12,
		     "truncated CapsuleResp: expected 12 of its 24 bytes missing, got %u",
		     nvme_tcp_rx_need(&io->rx));
	cl_close(io);

	/* No answer at all, then the queue serves the next command. */
	io = open_ioq(ft, cntlid, 1, false);
	cr_assert_eq(fake_target_inject(ft, FAULT_DROP_RESPONSE, 0), 0);
	cid = cl_submit(io, &(struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_FLUSH, .nsid = 1}, NULL, 0,
			0);
	cr_assert(fake_target_wait(ft, fault_fired, &f, TIMEOUT_MS), "drop fault never fired");
	cr_assert_eq(cl_recv(io, 100), CL_TIMEOUT, "dropped command: expected no PDU");
	cpl = cl_cmd(io, (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_FLUSH, .nsid = 1}, NULL, 0,
		     NULL, 0);
	expect_status(&cpl, 0, 0, "flush after a dropped one");
	cr_assert_neq(cpl.cid, cid);

	/* Delay: the answer comes, later. */
	cr_assert_eq(fake_target_inject_qid(ft, FAULT_DELAY_MS, 150, 0), 0);
	t0 = now_ms();
	cpl = cl_cmd(admin, (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_KEEP_ALIVE}, NULL, 0, NULL,
		     0);
	expect_status(&cpl, 0, 0, "delayed keep alive");
	cr_assert_geq(now_ms() - t0, 150, "delay: expected >= 150 ms, got %lu ms",
		      (unsigned long)(now_ms() - t0));

	cr_assert_eq(fake_target_inject(ft, FAULT_COUNT, 0), -EINVAL);
	cr_assert_eq(fake_target_inject_qid(ft, FAULT_STATUS, 0, -3), -EINVAL);
	cl_close(io);
	cl_close(admin);
	fake_target_stop(ft);
}

/*
 * Events, keep alive, teardown
 */

Test(fake_target, namespace_change_completes_held_aer)
{
	struct fake_target *ft = start(NULL);
	struct client *cl;
	static union {
		struct spio_nvme_ns_list list;
		struct spio_nvme_ns_data nsdata;
	} buf;
	struct spio_nvme_cmd aec = {.opc = SPIO_NVME_OPC_SET_FEATURES};
	union spio_nvme_async_event_completion ev;
	struct spio_nvme_cpl cpl;
	uint32_t one = 1;
	uint16_t cid;
	int rc;

	open_ctrlr(ft, false, &cl);
	aec.cdw10 = SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION;
	aec.cdw11 = SPIO_NVME_OAES_NS_ATTRIBUTE_NOTICES;
	cpl = cl_cmd(cl, aec, NULL, 0, NULL, 0);
	expect_status(&cpl, 0, 0, "async event configuration");
	cid = cl_submit(cl, &(struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_ASYNC_EVENT_REQUEST}, NULL,
			0, 0);
	cr_assert(fake_target_wait(ft, aers_held_is, &one, TIMEOUT_MS), "AER never held");

	cr_assert_eq(fake_target_remove_ns(ft, 1), 0);
	cr_assert_eq(fake_target_remove_ns(ft, 1), -ENOENT);
	rc = cl_complete(cl, cid, NULL, 0, &cpl);
	cr_assert_eq(rc, 0, "AER: expected a completion, got %d", rc);
	ev.raw = cpl.cdw0;
	cr_assert(ev.bits.async_event_type == SPIO_NVME_ASYNC_EVENT_TYPE_NOTICE &&
		      ev.bits.async_event_info == SPIO_NVME_ASYNC_EVENT_NS_ATTR_CHANGED &&
		      ev.bits.log_page_identifier == SPIO_NVME_LOG_CHANGED_NS_LIST,
		  "AER cdw0: expected notice / ns attr changed / log 4, got 0x%08x", cpl.cdw0);

	cpl = cl_cmd(cl, identify_cmd(SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST, 0), NULL, 0, &buf, 4096);
	cr_assert_eq(buf.list.ns_list[0], 0, "active list after removal: expected empty");

	/* Another change before the log is read: no second notice, the log lists both. */
	cid = cl_submit(cl, &(struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_ASYNC_EVENT_REQUEST}, NULL,
			0, 0);
	cr_assert(fake_target_wait(ft, aers_held_is, &one, TIMEOUT_MS));
	cr_assert_eq(fake_target_add_ns(ft, 3, 1 * MIB), 0);
	cr_assert_eq(fake_target_add_ns(ft, 3, 1 * MIB), -EEXIST);
	cr_assert_eq(fake_target_add_ns(ft, 33, 1 * MIB), -EINVAL);
	cr_assert_eq(fake_target_add_ns(ft, 4, 1000), -EINVAL);
	cpl = cl_cmd(cl, get_log_cmd(SPIO_NVME_LOG_CHANGED_NS_LIST, 4096, 0), NULL, 0, &buf, 4096);
	expect_status(&cpl, 0, 0, "changed namespace log");
	cr_assert(buf.list.ns_list[0] == 1 && buf.list.ns_list[1] == 3 && buf.list.ns_list[2] == 0,
		  "changed list: expected [1, 3], got [%u, %u, %u]", buf.list.ns_list[0],
		  buf.list.ns_list[1], buf.list.ns_list[2]);

	/* Log read (RAE 0): the next change completes the AER held since. */
	cr_assert_eq(fake_target_remove_ns(ft, 3), 0);
	rc = cl_complete(cl, cid, NULL, 0, &cpl);
	cr_assert_eq(rc, 0, "second AER: expected a completion, got %d", rc);
	cr_assert_eq(cpl.cdw0, ev.raw);
	cl_close(cl);
	fake_target_stop(ft);
}

static void kato_enforced(struct fake_target_opts *o)
{
	o->kato_enforce = true;
}

Test(fake_target, keep_alive_timeout_drops_the_controller)
{
	struct fake_target *ft = start(kato_enforced);
	struct client *admin = cl_open(fake_target_port(ft), false, false);
	struct client *io;
	struct fake_target_stats st;
	struct spio_nvme_cpl cpl;
	uint32_t zero = 0;

	cpl = cl_connect(admin, 0, SPIO_NVMF_CNTLID_DYNAMIC, FAKE_TARGET_SUBNQN, HOSTNQN, 500);
	expect_status(&cpl, 0, 0, "admin connect with KATO 500 ms");
	cl_prop_set(admin, SPIO_NVME_REG_CC, 1);
	io = open_ioq(ft, (uint16_t)cpl.cdw0, 1, false);
	expect_closed(admin, "admin queue after KATO");
	expect_closed(io, "I/O queue after KATO");
	cr_assert(fake_target_wait(ft, connections_open_is, &zero, TIMEOUT_MS));
	fake_target_get_stats(ft, &st);
	cr_assert_eq(st.kato_expired, 1, "KATO expiries: expected 1, got %lu",
		     (unsigned long)st.kato_expired);
	cl_close(io);
	cl_close(admin);
	fake_target_stop(ft);
}

Test(fake_target, bad_streams_from_the_host)
{
	struct fake_target *ft = start(NULL);
	struct client *cl = cl_open(fake_target_port(ft), false, false);
	struct nvme_tcp_tx_pdu term;
	struct fake_target_stats st;
	uint8_t junk[72];
	uint32_t zero = 0;

	/* A capsule header with a bad HLEN: a C2HTermReq, then the close. */
	memset(junk, 0xFF, sizeof(junk));
	junk[0] = SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD;
	cr_assert_eq(cl_send_raw(cl, junk, sizeof(junk)), 0);
	cr_assert_eq(cl_recv(cl, TIMEOUT_MS), CL_PDU, "expected a C2HTermReq");
	cr_assert_eq(cl->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ);
	cr_assert_eq(cl->hdr.term_req.fes, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD,
		     "fes: expected 1, got %u", cl->hdr.term_req.fes);
	expect_closed(cl, "after the C2HTermReq");
	cl_close(cl);

	/* The host's own term req is counted with its FES. */
	cl = cl_open(fake_target_port(ft), false, false);
	cr_assert_eq(nvme_tcp_term_req_build(&term, SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ,
					     SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR, 0, NULL,
					     0),
		     0);
	cr_assert_eq(cl_send(cl, &term), 0);
	expect_closed(cl, "after the H2CTermReq");
	cl_close(cl);
	cr_assert(fake_target_wait(ft, connections_open_is, &zero, TIMEOUT_MS));
	fake_target_get_stats(ft, &st);
	cr_assert_eq(st.term_reqs_sent, 1);
	cr_assert_eq(st.last_term_req_sent_fes, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD);
	cr_assert_eq(st.term_reqs_received, 1);
	cr_assert_eq(st.last_term_req_fes, SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR);

	/* Garbage before the IC exchange; the fake goes on serving. */
	cl = cl_tcp(fake_target_port(ft));
	cr_assert_eq(cl_send_raw(cl, junk, sizeof(junk)), 0);
	cr_assert_eq(cl_recv(cl, TIMEOUT_MS), CL_PDU, "expected a C2HTermReq before IC");
	cr_assert_eq(cl->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ);
	expect_closed(cl, "garbage before IC");
	cl_close(cl);
	cl_close(cl_open(fake_target_port(ft), false, false));
	fake_target_stop(ft);
}

Test(fake_target, drop_connections_then_reconnect)
{
	struct fake_target *ft = start(NULL);
	struct client *admin, *io;
	struct fake_target_stats st;
	uint16_t cntlid = open_ctrlr(ft, false, &admin), cntlid2;

	io = open_ioq(ft, cntlid, 1, false);
	cr_assert_eq(fake_target_drop_connections(ft), 2, "expected 2 connections dropped");
	fake_target_get_stats(ft, &st);
	cr_assert_eq(st.connections_open, 0, "open after drop: expected 0, got %u",
		     st.connections_open);
	expect_closed(admin, "admin queue after drop");
	expect_closed(io, "I/O queue after drop");
	cl_close(io);
	cl_close(admin);

	cntlid2 = open_ctrlr(ft, false, &admin);
	cr_assert_neq(cntlid2, cntlid, "expected a new controller after the drop");
	io = open_ioq(ft, cntlid2, 1, false);
	/* A controller reset (CC.EN 1 -> 0) ends its I/O queues, not the admin queue. */
	cl_prop_set(admin, SPIO_NVME_REG_CC, 0);
	expect_closed(io, "I/O queue after CC.EN = 0");
	cr_assert_eq(cl_prop_get(admin, SPIO_NVME_REG_CSTS, 4) & 1, 0, "CSTS.RDY after reset");
	cl_close(io);
	cl_close(admin);
	fake_target_stop(ft);
}

static bool c2h_sent_2(const struct fake_target_stats *s, void *arg)
{
	return s->c2h_sent >= 2;
}

Test(fake_target, stop_with_clients_connected)
{
	struct fake_target *ft = start(NULL);
	struct client *admin, *half, *stuck;
	uint8_t part[40] = {SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD, 0, 72, 0, 72};
	uint16_t cntlid = open_ctrlr(ft, false, &admin);
	uint64_t t0;

	/* One client stops in the middle of a capsule... */
	half = cl_open(fake_target_port(ft), false, false);
	cr_assert_eq(cl_send_raw(half, part, sizeof(part)), 0);
	/* ...another asks for 8 MiB and never reads: the fake blocks sending. */
	stuck = open_ioq(ft, cntlid, 1, false);
	cl_submit(stuck,
		  &(struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_READ, .nsid = 1, .cdw12 = 16383},
		  NULL, 0, FAKE_TARGET_MAX_XFER);
	cr_assert(fake_target_wait(ft, c2h_sent_2, NULL, TIMEOUT_MS), "the read never started");
	t0 = now_ms();
	fake_target_stop(ft);
	cr_assert_lt(now_ms() - t0, 3000, "stop: expected < 3 s, took %lu ms",
		     (unsigned long)(now_ms() - t0));
	expect_closed(admin, "admin queue after stop");
	expect_closed(half, "half-sent capsule after stop");
	cl_close(stuck);
	cl_close(half);
	cl_close(admin);
}

Test(fake_target, bad_options)
{
	struct fake_target_opts o;

	fake_target_opts_init(&o);
	o.maxh2cdata = 1000;
	cr_assert_null(fake_target_start(&o), "maxh2cdata 1000: expected refusal");
	fake_target_opts_init(&o);
	o.ns_size = 1000;
	cr_assert_null(fake_target_start(&o), "ns_size 1000: expected refusal");
	fake_target_opts_init(&o);
	o.num_namespaces = 33;
	cr_assert_null(fake_target_start(&o), "33 namespaces: expected refusal");
	fake_target_stop(NULL);
}
