/*
 * The nvme_tcp_host fuzzer's engine (nvme_tcp_host_engine.h): the initiator
 * of lib/nvme on one spio thread against a target served here, on loopback
 * TCP, from the input's bytes.
 *
 * Two parsers watch the connections: an observer (controller role) parses
 * what the initiator sends, which must always be valid NVMe/TCP, and drives
 * the engine's own answers where the engine answers; a shadow (host role)
 * parses what the target sends, as the initiator must, and keeps per
 * command ID the first response and the read data in order, so that a
 * command the initiator reports as successful can be checked against what
 * really arrived.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include "spio/env.h"
#include "spio/log.h"
#include "spio/nvme.h"
#include "spio/thread.h"
#include "spio/util.h"

#include "nvme/nvme_fabric.h"
#include "nvme/nvme_tcp_pdu.h"
#include "nvme_tcp_host_engine.h"

/* How long the initiator may stay busy, or take to finish something, before it is a hang. */
#define HANG_MS 5000
/* Idle rounds in a row that make the initiator quiet. */
#define QUIET_POLLS 4
/* Command IDs the engine follows (the I/O queue has IO_QUEUE_SIZE - 1 slots). */
#define MAX_CID 64
#define IO_QUEUE_SIZE 16
#define SHADOW_MAX (32u * 1024)
#define BLOCK 512u
#define NS_BLOCKS (1u << 20)
#define SUBNQN "nqn.2016-06.io.spdk:cnode1"
#define AUTO_MAXH2CDATA 8192u

/* Per command ID: what the target's stream said, in the initiator's order. */
struct shadow_cid {
	uint32_t got;	/* C2HData bytes in order so far */
	bool broken;	/* a C2HData out of order */
	bool ddgst_bad; /* a C2HData with a wrong data digest */
	bool done;	/* first CapsuleResp (or C2H SUCCESS) seen */
	bool ok;	/* ... and it said success, with all data in order */
	uint32_t got_at_done;
	uint8_t buf[SHADOW_MAX];
};

/* What the engine's target tracks of a write it answers itself. */
struct auto_cmd {
	uint32_t len;
	uint32_t got;
	uint32_t r2t_end;
};

struct tconn {
	int fd;
	bool is_io;
	bool auto_mode;	   /* the engine answers the initiator */
	bool auto_io;	   /* ... also I/O commands (recording) */
	bool recording;	   /* what is sent goes to g.rec */
	bool shadow_ready; /* the I/O queue's Connect response went out */
	bool host_term;	   /* the initiator sent an H2CTermReq */
	uint8_t hpda;
	bool want_hdgst, want_ddgst;
	struct nvme_tcp_tx_params tx; /* for the engine's PDUs */
	struct nvme_tcp_rx obs;	      /* the initiator's bytes, controller role */
	struct nvme_tcp_rx shadow;    /* the target's bytes, host role */
	struct iovec shadow_iov;
	int cur_cid; /* the C2HData the shadow places, or -1 */
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	struct auto_cmd ac[MAX_CID];
	struct shadow_cid *sc; /* MAX_CID entries, I/O connection only */
};

struct io_cmd {
	const char *name;
	uint8_t opc;
	uint32_t lba, nlb;
	int iovcnt; /* 0: flat buffer */
	struct iovec iov[2];
	uint8_t *buf;
	bool submitted;
	int ncpl;
	struct spio_nvme_cpl cpl;
};

static struct {
	bool ready;
	bool verbose;
	struct spio_thread *thread;
	int lfd;
	uint16_t port;
	uint32_t cc; /* the engine's controller's CC */
	struct tconn conns[2];
	uint32_t nconns;
	uint8_t flags;
	struct fh_auto_opts ao;
	struct fh_record *rec;
	int connect_calls, connect_status;
	struct spio_nvme_ctrlr *ctrlr;
	struct spio_nvme_qpair *qpair;
	struct spio_nvme_ns *ns;
	int qp_calls, qp_status;
	int detached;
	struct io_cmd cmds[8];
	uint32_t ncmds;
} g;

static struct shadow_cid g_shadow[MAX_CID];
static uint8_t g_rx_buf[65536];
static uint8_t g_data[128 * 1024];

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_nvme_tcp_host: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

static uint64_t deadline(uint64_t ms)
{
	return spio_get_ticks() + ms * spio_get_ticks_hz() / 1000;
}

size_t fh_header_write(uint8_t *out, uint8_t flags, const uint16_t *chunk, uint32_t nchunks)
{
	if (nchunks > FH_MAX_CHUNKS) {
		nchunks = FH_MAX_CHUNKS;
	}
	out[0] = (uint8_t)((flags & 0xf0) | nchunks);
	for (uint32_t i = 0; i < nchunks; i++) {
		out[1 + 2 * i] = (uint8_t)chunk[i];
		out[2 + 2 * i] = (uint8_t)(chunk[i] >> 8);
	}
	return 1 + 2 * (size_t)nchunks;
}

/*
 * Sending: everything the target sends goes through the shadow first and
 * then into the connection's out buffer, which pump() writes as the
 * socket takes it.
 */

static void record_bytes(const void *buf, size_t len)
{
	struct fh_record *r = g.rec;

	if (r->len + len > r->cap) {
		size_t cap = SPIO_MAX(r->cap * 2, r->len + len + 4096);
		uint8_t *nb = realloc(r->buf, cap);

		if (nb == NULL) {
			die("out of memory");
		}
		r->buf = nb;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, buf, len);
	r->len += len;
}

static const struct nvme_tcp_rx_ops g_shadow_ops;

static void out_append(struct tconn *c, const void *buf, size_t len)
{
	if (len == 0) {
		return;
	}
	if (c->recording) {
		record_bytes(buf, len);
	}
	(void)nvme_tcp_rx_feed(&c->shadow, buf, len, &g_shadow_ops, c);
	if (c->out_len + len > c->out_cap) {
		size_t cap = SPIO_MAX(c->out_cap * 2, c->out_len + len + 4096);
		uint8_t *nb = realloc(c->out, cap);

		if (nb == NULL) {
			die("out of memory");
		}
		c->out = nb;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
}

static void send_pdu(struct tconn *c, const struct nvme_tcp_tx_pdu *pdu)
{
	struct iovec iov[8];
	int n = nvme_tcp_tx_pdu_iov(pdu, iov, SPIO_COUNTOF(iov));

	if (n < 0) {
		die("cannot lay out a PDU");
	}
	for (int i = 0; i < n; i++) {
		out_append(c, iov[i].iov_base, iov[i].iov_len);
	}
}

static void send_cpl(struct tconn *c, const struct spio_nvme_cpl *cpl)
{
	struct nvme_tcp_tx_pdu pdu;

	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	pdu.hdr.capsule_resp.rccqe = *cpl;
	if (nvme_tcp_tx_pdu_seal(&pdu, &c->tx, NULL, 0, 0, 0) != 0) {
		die("cannot build a CapsuleResp");
	}
	send_pdu(c, &pdu);
}

static void send_ok(struct tconn *c, uint16_t cid, uint32_t cdw0)
{
	struct spio_nvme_cpl cpl = {.cid = cid, .cdw0 = cdw0};

	send_cpl(c, &cpl);
}

/* The data of a read, as C2HData PDUs of at most c2h_max bytes; then the response. */
static void send_read(struct tconn *c, uint16_t cid, const void *data, uint32_t len)
{
	struct iovec iov = {.iov_base = (void *)(uintptr_t)data, .iov_len = len};
	uint32_t max = g.ao.c2h_max ? g.ao.c2h_max : 8192;

	for (uint32_t off = 0; off < len;) {
		struct nvme_tcp_tx_pdu pdu;
		uint32_t n = SPIO_MIN(max, len - off);

		nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_C2H_DATA);
		pdu.hdr.c2h_data.cccid = cid;
		pdu.hdr.c2h_data.datao = off;
		pdu.hdr.c2h_data.datal = n;
		if (off + n == len) {
			pdu.hdr.common.flags |= SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU;
			if (g.ao.c2h_success) {
				pdu.hdr.common.flags |= SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS;
			}
		}
		if (nvme_tcp_tx_pdu_seal(&pdu, &c->tx, &iov, 1, off, n) != 0) {
			die("cannot build a C2HData");
		}
		send_pdu(c, &pdu);
		off += n;
	}
	if (len == 0 || !g.ao.c2h_success) {
		send_ok(c, cid, 0);
	}
}

static void send_r2t(struct tconn *c, uint16_t cid, struct auto_cmd *ac)
{
	struct nvme_tcp_tx_pdu pdu;
	uint32_t n = ac->len - ac->got;

	if (g.ao.r2t_max != 0) {
		n = SPIO_MIN(n, g.ao.r2t_max);
	}
	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_R2T);
	pdu.hdr.r2t.cccid = cid;
	pdu.hdr.r2t.ttag = (uint16_t)(cid + 1);
	pdu.hdr.r2t.r2to = ac->got;
	pdu.hdr.r2t.r2tl = n;
	ac->r2t_end = ac->got + n;
	if (nvme_tcp_tx_pdu_seal(&pdu, &c->tx, NULL, 0, 0, 0) != 0) {
		die("cannot build an R2T");
	}
	send_pdu(c, &pdu);
}

/*
 * The engine's target
 */

static uint64_t prop_value(uint32_t ofst)
{
	switch (ofst) {
	case SPIO_NVME_REG_CAP:
		/* MQES 127, CQR, TO 500 ms. */
		return 127u | 1u << 16 | 1u << 24;
	case SPIO_NVME_REG_VS:
		return 0x00010200; /* 1.2: no namespace descriptor list to read */
	case SPIO_NVME_REG_CC:
		return g.cc;
	case SPIO_NVME_REG_CSTS:
		/* RDY follows EN; a shutdown completes at once. */
		return (g.cc & 1) | (((g.cc >> 14) & 3) != 0 ? 2u << 2 : 0);
	default:
		return 0;
	}
}

static void identify(uint32_t cns, uint8_t *buf, uint32_t len)
{
	memset(buf, 0, len);
	if (len < 4096) {
		return;
	}
	if (cns == SPIO_NVME_IDENTIFY_CTRLR) {
		struct spio_nvme_ctrlr_data *cd = (void *)buf;

		cd->mdts = 5;
		cd->nn = 1;
		cd->ioccsz = (4096 + 64) / 16;
		cd->iorcsz = 1;
		cd->maxcmd = 128;
		cd->cntlid = 1;
		memcpy(cd->subnqn, SUBNQN, sizeof(SUBNQN));
	} else if (cns == SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST) {
		buf[0] = 1;
	} else if (cns == SPIO_NVME_IDENTIFY_NS) {
		struct spio_nvme_ns_data *nd = (void *)buf;

		nd->nsze = NS_BLOCKS;
		nd->ncap = NS_BLOCKS;
		nd->nuse = NS_BLOCKS;
		nd->lbaf[0].lbads = 9;
	}
}

static void read_pattern(uint8_t *buf, uint32_t len, uint16_t cid)
{
	for (uint32_t i = 0; i < len; i++) {
		buf[i] = (uint8_t)(i * 7 + cid * 13 + 1);
	}
}

static void auto_command(struct tconn *c, const struct spio_nvme_cmd *cmd, bool in_capsule)
{
	uint32_t len = cmd->dptr.sgl1.unkeyed.length;
	int fct = nvme_fabric_cmd_type(cmd);
	struct spio_nvme_cpl cpl = {0};

	if (fct == SPIO_NVMF_FABRIC_COMMAND_CONNECT) {
		nvme_fabric_connect_rsp_build(&cpl, 1);
		cpl.cid = cmd->cid;
		send_cpl(c, &cpl);
		if (c->is_io) {
			c->auto_mode = c->auto_io;
			c->recording = g.rec != NULL && !(g.flags & FH_RAW_ADMIN);
		}
		return;
	}
	if (fct >= 0) {
		struct nvme_fabric_prop p;

		if (nvme_fabric_prop_parse(cmd, &p) != 0) {
			send_ok(c, cmd->cid, 0);
			return;
		}
		if (p.set) {
			if (p.ofst == SPIO_NVME_REG_CC) {
				g.cc = (uint32_t)p.value;
			}
			send_ok(c, cmd->cid, 0);
			return;
		}
		nvme_fabric_prop_get_rsp_build(&cpl, prop_value(p.ofst));
		cpl.cid = cmd->cid;
		send_cpl(c, &cpl);
		return;
	}
	if (!c->is_io) {
		switch (cmd->opc) {
		case SPIO_NVME_OPC_ASYNC_EVENT_REQUEST:
			return; /* held: no event ever comes */
		case SPIO_NVME_OPC_IDENTIFY:
			len = SPIO_MIN(len, 4096u);
			identify(cmd->cdw10 & 0xff, g_data, len);
			send_read(c, cmd->cid, g_data, len);
			return;
		case SPIO_NVME_OPC_SET_FEATURES:
			send_ok(c, cmd->cid,
				(cmd->cdw10 & 0xff) == SPIO_NVME_FEAT_NUMBER_OF_QUEUES
				    ? 1u | 1u << 16
				    : 0);
			return;
		default:
			break;
		}
	}
	if ((cmd->opc & 3) == SPIO_NVME_DATA_CONTROLLER_TO_HOST && len > 0) {
		len = SPIO_MIN(len, (uint32_t)sizeof(g_data));
		read_pattern(g_data, len, cmd->cid);
		send_read(c, cmd->cid, g_data, len);
	} else if ((cmd->opc & 3) == SPIO_NVME_DATA_HOST_TO_CONTROLLER && !in_capsule && len > 0 &&
		   cmd->cid < MAX_CID) {
		struct auto_cmd *ac = &c->ac[cmd->cid];

		*ac = (struct auto_cmd){.len = len};
		send_r2t(c, cmd->cid, ac);
	} else {
		send_ok(c, cmd->cid, 0);
	}
}

/*
 * The observer: what the initiator sends
 */

static int obs_header(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
		      struct iovec **iov, int *iovcnt, uint32_t *iov_offset)
{
	(void)ctx;
	(void)hdr;
	(void)data_len;
	*iov = NULL; /* the engine keeps no written data; the codec checks it all the same */
	*iovcnt = 0;
	*iov_offset = 0;
	return 0;
}

static int obs_pdu(void *ctx, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	struct tconn *c = ctx;

	if (!ddgst_ok) {
		die("the initiator sent PDU type %u with a wrong data digest",
		    hdr->common.pdu_type);
	}
	switch (hdr->common.pdu_type) {
	case SPIO_NVME_TCP_PDU_TYPE_IC_REQ:
		c->hpda = hdr->ic_req.hpda;
		c->want_hdgst = hdr->ic_req.dgst.bits.hdgst_enable;
		c->want_ddgst = hdr->ic_req.dgst.bits.ddgst_enable;
		if (c->auto_mode) {
			struct nvme_tcp_tx_pdu pdu;

			if (nvme_tcp_ic_resp_build(&pdu, g.ao.hpda_cpda, c->want_hdgst,
						   c->want_ddgst, AUTO_MAXH2CDATA) != 0) {
				die("cannot build an ICResp");
			}
			send_pdu(c, &pdu);
		}
		break;
	case SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
		if (c->auto_mode) {
			const struct spio_nvme_sgl_descriptor *sgl =
			    &hdr->capsule_cmd.ccsqe.dptr.sgl1;

			auto_command(c, &hdr->capsule_cmd.ccsqe,
				     sgl->unkeyed.type == SPIO_NVME_SGL_TYPE_DATA_BLOCK);
		}
		break;
	case SPIO_NVME_TCP_PDU_TYPE_H2C_DATA: {
		uint16_t cid = hdr->h2c_data.cccid;

		if (c->auto_mode && cid < MAX_CID && c->ac[cid].len > 0) {
			struct auto_cmd *ac = &c->ac[cid];

			ac->got += hdr->h2c_data.datal;
			if (ac->got >= ac->len) {
				ac->len = 0;
				send_ok(c, cid, 0);
			} else if (ac->got >= ac->r2t_end) {
				send_r2t(c, cid, ac);
			}
		}
		break;
	}
	case SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
		c->host_term = true;
		break;
	default:
		break;
	}
	return 0;
}

static const struct nvme_tcp_rx_ops g_obs_ops = {.on_header = obs_header, .on_pdu = obs_pdu};

/*
 * The shadow: what the target sends, read as the initiator must
 */

static int shadow_header(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
			 struct iovec **iov, int *iovcnt, uint32_t *iov_offset)
{
	struct tconn *c = ctx;
	const struct spio_nvme_tcp_c2h_data_hdr *c2h = &hdr->c2h_data;
	struct shadow_cid *s;

	*iov = NULL;
	*iovcnt = 0;
	*iov_offset = 0;
	c->cur_cid = -1;
	if (hdr->common.pdu_type != SPIO_NVME_TCP_PDU_TYPE_C2H_DATA || !c->shadow_ready ||
	    c2h->cccid >= MAX_CID) {
		return 0;
	}
	s = &c->sc[c2h->cccid];
	if (s->done || s->broken) {
		return 0;
	}
	if (c2h->datao != s->got || (uint64_t)c2h->datao + data_len > SHADOW_MAX) {
		s->broken = true;
		return 0;
	}
	c->shadow_iov.iov_base = s->buf;
	c->shadow_iov.iov_len = SHADOW_MAX;
	*iov = &c->shadow_iov;
	*iovcnt = 1;
	*iov_offset = c2h->datao;
	c->cur_cid = c2h->cccid;
	return 0;
}

static void shadow_done(struct shadow_cid *s, bool ok)
{
	s->done = true;
	s->ok = ok && !s->broken && !s->ddgst_bad;
	s->got_at_done = s->got;
}

static int shadow_pdu(void *ctx, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	struct tconn *c = ctx;

	switch (hdr->common.pdu_type) {
	case SPIO_NVME_TCP_PDU_TYPE_IC_RESP: {
		const struct spio_nvme_tcp_ic_resp *ic = &hdr->ic_resp;
		struct nvme_tcp_rx_params sp = {.hdgst = ic->dgst.bits.hdgst_enable,
						.ddgst = ic->dgst.bits.ddgst_enable,
						.pda = c->hpda,
						.max_data_len = 4u * 1024 * 1024};
		struct nvme_tcp_rx_params op = {.hdgst = sp.hdgst,
						.ddgst = sp.ddgst,
						.pda = ic->cpda <= 31 ? ic->cpda : 0,
						.max_data_len = ic->maxh2cdata,
						.max_incapsule = 1u << 20};

		nvme_tcp_rx_set_params(&c->shadow, &sp);
		nvme_tcp_rx_set_params(&c->obs, &op);
		c->tx = (struct nvme_tcp_tx_params){
		    .hdgst = sp.hdgst, .ddgst = sp.ddgst, .pda = c->hpda};
		break;
	}
	case SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP: {
		uint16_t cid = hdr->capsule_resp.rccqe.cid;

		if (!c->is_io) {
			break;
		}
		if (!c->shadow_ready) {
			/* The first response answers the Connect; commands come after it. */
			c->shadow_ready = true;
			break;
		}
		if (cid < MAX_CID && !c->sc[cid].done) {
			shadow_done(&c->sc[cid], !spio_nvme_cpl_is_error(&hdr->capsule_resp.rccqe));
		}
		break;
	}
	case SPIO_NVME_TCP_PDU_TYPE_C2H_DATA: {
		struct shadow_cid *s;

		if (c->cur_cid < 0) {
			break;
		}
		s = &c->sc[c->cur_cid];
		c->cur_cid = -1;
		s->got += hdr->c2h_data.datal;
		s->ddgst_bad |= !ddgst_ok;
		if (hdr->common.flags & SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS) {
			shadow_done(s, true);
		}
		break;
	}
	default:
		break;
	}
	return 0;
}

static const struct nvme_tcp_rx_ops g_shadow_ops = {.on_header = shadow_header,
						    .on_pdu = shadow_pdu};

/*
 * Connections and polling
 */

static void conn_close(struct tconn *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (c->fd < 0) {
		return;
	}
	/* A reset: no TIME_WAIT left behind by a fuzzer that connects thousands of times. */
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->fd = -1;
}

static void conn_init(struct tconn *c, int fd, bool is_io)
{
	uint8_t *out = c->out;
	size_t cap = c->out_cap;

	memset(c, 0, sizeof(*c));
	c->out = out;
	c->out_cap = cap;
	c->fd = fd;
	c->is_io = is_io;
	c->cur_cid = -1;
	nvme_tcp_rx_init(&c->obs, NVME_TCP_ROLE_CTRLR);
	nvme_tcp_rx_init(&c->shadow, NVME_TCP_ROLE_HOST);
	if (is_io) {
		memset(g_shadow, 0, sizeof(g_shadow));
		c->sc = g_shadow;
	}
}

static bool conn_service(struct tconn *c)
{
	bool busy = false;

	if (c->fd < 0) {
		return false;
	}
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				c->out_off = c->out_len; /* the initiator closed: drop the rest */
			}
			break;
		}
		c->out_off += (size_t)n;
		busy = true;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
	}
	for (;;) {
		ssize_t n = recv(c->fd, g_rx_buf, sizeof(g_rx_buf), MSG_DONTWAIT);
		size_t before = g.rec != NULL ? g.rec->len : 0;

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break; /* EAGAIN; EOF and errors: the initiator closed, nothing more comes
				*/
		}
		busy = true;
		if (nvme_tcp_rx_feed(&c->obs, g_rx_buf, (size_t)n, &g_obs_ops, c) < 0) {
			die("the initiator sent invalid NVMe/TCP on queue %s: %s (fes %u)",
			    c->is_io ? "I/O" : "admin", c->obs.err.reason, c->obs.err.fes);
		}
		/* Recording: what answers one read of the initiator's bytes is one chunk. */
		if (g.rec != NULL && g.rec->len > before) {
			struct fh_record *r = g.rec;

			if (r->nchunks < FH_MAX_CHUNKS) {
				r->chunk[r->nchunks++] =
				    (uint16_t)SPIO_MIN(r->len - r->chunk_start, UINT16_MAX);
			}
			r->chunk_start = r->len;
		}
	}
	return busy;
}

static bool pump(void)
{
	bool busy = spio_thread_poll(g.thread, 0, 0) > 0;

	if (g.qpair != NULL) {
		busy |= spio_nvme_qpair_process_completions(g.qpair, 0) > 0;
	}
	for (;;) {
		int fd = accept4(g.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct tconn *c;

		if (fd < 0) {
			break;
		}
		busy = true;
		if (g.nconns == (uint32_t)SPIO_COUNTOF(g.conns)) {
			close(fd); /* more connections than the engine serves: refused */
			continue;
		}
		c = &g.conns[g.nconns];
		conn_init(c, fd, g.nconns == 1);
		g.nconns++;
		if (c->is_io) {
			c->auto_mode = !(g.flags & FH_RAW_IO_CONNECT) || g.rec != NULL;
			c->auto_io = g.rec != NULL;
			c->recording = g.rec != NULL && (g.flags & FH_RAW_IO_CONNECT) &&
				       !(g.flags & FH_RAW_ADMIN);
		} else {
			c->auto_mode = !(g.flags & FH_RAW_ADMIN) || g.rec != NULL;
			c->recording = g.rec != NULL && (g.flags & FH_RAW_ADMIN);
		}
	}
	for (uint32_t i = 0; i < g.nconns; i++) {
		busy |= conn_service(&g.conns[i]);
	}
	return busy;
}

/* Poll until the initiator does nothing more and has nothing more to say. */
static void settle(void)
{
	uint64_t limit = deadline(HANG_MS);
	int quiet = 0;

	while (quiet < QUIET_POLLS) {
		quiet = pump() ? 0 : quiet + 1;
		if (quiet == 0 && spio_get_ticks() > limit) {
			die("the initiator stayed busy for %u ms", HANG_MS);
		}
	}
}

static void wait_for(const int *flag, const char *what)
{
	uint64_t limit = deadline(HANG_MS);

	while (*flag == 0) {
		if (spio_get_ticks() > limit) {
			die("%s did not happen within %u ms", what, HANG_MS);
		}
		pump();
	}
}

/*
 * The I/O commands
 */

static void io_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct io_cmd *ic = arg;
	const struct shadow_cid *s;
	uint32_t len = ic->nlb * BLOCK;

	ic->ncpl++;
	ic->cpl = *cpl;
	if (ic->ncpl > 1) {
		die("%s completed %d times", ic->name, ic->ncpl);
	}
	if (spio_nvme_cpl_is_error(cpl)) {
		return;
	}
	if (cpl->cid >= MAX_CID || g.nconns < 2) {
		die("%s succeeded with cid %u and no I/O connection", ic->name, cpl->cid);
	}
	s = &g.conns[1].sc[cpl->cid];
	if (!s->done || !s->ok) {
		die("%s (cid %u) succeeded, but the target sent %s", ic->name, cpl->cid,
		    !s->done ? "no response for it" : "a failure or broken data for it");
	}
	if (ic->opc == SPIO_NVME_OPC_READ) {
		uint32_t off = 0;

		if (s->got_at_done != len) {
			die("%s (cid %u) succeeded with %u of %u bytes sent", ic->name, cpl->cid,
			    s->got_at_done, len);
		}
		for (int i = 0; i < (ic->iovcnt ? ic->iovcnt : 1); i++) {
			const void *p = ic->iovcnt ? ic->iov[i].iov_base : ic->buf;
			size_t n = ic->iovcnt ? ic->iov[i].iov_len : len;

			if (memcmp(p, s->buf + off, n) != 0) {
				die("%s (cid %u) succeeded, but its data is not what was sent",
				    ic->name, cpl->cid);
			}
			off += (uint32_t)n;
		}
	}
}

static void add_cmd(const char *name, uint8_t opc, uint32_t lba, uint32_t nlb, uint32_t split)
{
	struct io_cmd *ic = &g.cmds[g.ncmds++];
	uint32_t len = nlb * BLOCK;

	*ic = (struct io_cmd){.name = name, .opc = opc, .lba = lba, .nlb = nlb};
	if (len > 0) {
		ic->buf = malloc(len);
		if (ic->buf == NULL) {
			die("out of memory");
		}
		read_pattern(ic->buf, len, 0xa5);
	}
	if (split != 0) {
		ic->iovcnt = 2;
		ic->iov[0] = (struct iovec){.iov_base = ic->buf, .iov_len = split};
		ic->iov[1] = (struct iovec){.iov_base = ic->buf + split, .iov_len = len - split};
	}
}

/* Reads and writes of several sizes: in-capsule, R2T with several H2C, zero-copy reads. */
static void make_cmds(void)
{
	g.ncmds = 0;
	add_cmd("read 512", SPIO_NVME_OPC_READ, 0, 1, 0);
	add_cmd("read 8K", SPIO_NVME_OPC_READ, 8, 16, 0);
	add_cmd("read 16K", SPIO_NVME_OPC_READ, 64, 32, 0);
	add_cmd("write 512", SPIO_NVME_OPC_WRITE, 1, 1, 0);
	add_cmd("write 8K", SPIO_NVME_OPC_WRITE, 200, 16, 0);
	add_cmd("write 24K", SPIO_NVME_OPC_WRITE, 300, 48, 0);
	add_cmd("flush", SPIO_NVME_OPC_FLUSH, 0, 0, 0);
	add_cmd("readv 1536", SPIO_NVME_OPC_READ, 500, 3, 700);
}

static void submit_cmds(void)
{
	for (uint32_t i = 0; i < g.ncmds; i++) {
		struct io_cmd *ic = &g.cmds[i];
		int rc;

		if (ic->opc == SPIO_NVME_OPC_FLUSH) {
			rc = spio_nvme_ns_cmd_flush(g.ns, g.qpair, io_done, ic);
		} else if (ic->iovcnt != 0) {
			rc = spio_nvme_ns_cmd_readv(g.ns, g.qpair, ic->lba, ic->nlb, ic->iov,
						    ic->iovcnt, io_done, ic, 0);
		} else if (ic->opc == SPIO_NVME_OPC_READ) {
			rc = spio_nvme_ns_cmd_read(g.ns, g.qpair, ic->buf, ic->lba, ic->nlb,
						   io_done, ic, 0);
		} else {
			rc = spio_nvme_ns_cmd_write(g.ns, g.qpair, ic->buf, ic->lba, ic->nlb,
						    io_done, ic, 0);
		}
		if (rc != 0 && rc != -ENXIO) {
			die("submitting %s: %d", ic->name, rc);
		}
		ic->submitted = rc == 0;
	}
}

static void free_cmds(void)
{
	for (uint32_t i = 0; i < g.ncmds; i++) {
		struct io_cmd *ic = &g.cmds[i];

		if (g.verbose) {
			fprintf(stderr, "fuzz_nvme_tcp_host: %s: %s, status %u/0x%x\n", ic->name,
				ic->submitted ? "submitted" : "refused", ic->cpl.status.sct,
				ic->cpl.status.sc);
		}
		if (ic->ncpl != (ic->submitted ? 1 : 0)) {
			die("%s: %s, completed %d times", ic->name,
			    ic->submitted ? "submitted" : "refused", ic->ncpl);
		}
		free(ic->buf);
	}
	g.ncmds = 0;
}

static void qp_connected(void *arg, struct spio_nvme_qpair *qpair, int status)
{
	(void)arg;
	(void)qpair;
	g.qp_calls++;
	g.qp_status = status;
	/* Right away, so that responses right behind the Connect's find their commands. */
	if (status == 0) {
		submit_cmds();
	}
}

static void connected(void *arg, struct spio_nvme_ctrlr *ctrlr, int status)
{
	(void)arg;
	g.connect_calls++;
	g.connect_status = status;
	g.ctrlr = ctrlr;
	if ((status == 0) != (ctrlr != NULL)) {
		die("connect result %d with controller %p", status, (void *)ctrlr);
	}
}

static void detached(void *arg)
{
	(void)arg;
	g.detached = 1;
}

/*
 * One input
 */

static int lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd >= 0) {
		close(fd);
	}
	return fd;
}

void fh_init(void)
{
	struct spio_env_opts eo;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	const char *verbose = getenv("FUZZ_VERBOSE");

	if (g.ready) {
		return;
	}
	g.verbose = verbose != NULL && verbose[0] == '1';
	spio_log_set_level(g.verbose ? SPIO_LOG_INFO : SPIO_LOG_DISABLED);
	spio_env_opts_init(&eo, sizeof(eo));
	eo.name = "fuzz_nvme_tcp_host";
	eo.no_huge = true;
	if (spio_env_init(&eo) != 0 || spio_thread_lib_init(NULL, 0) != 0) {
		die("environment set-up failed");
	}
	g.thread = spio_thread_create("fuzz_nvme_host", NULL);
	if (g.thread == NULL) {
		die("no spio thread");
	}
	spio_set_thread(g.thread);
	g.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g.lfd < 0 || bind(g.lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(g.lfd, 16) != 0 || getsockname(g.lfd, (struct sockaddr *)&a, &alen) != 0) {
		die("no listener on 127.0.0.1: %s", strerror(errno));
	}
	g.port = ntohs(a.sin_port);
	g.ready = true;
}

static void start_connect(void)
{
	struct spio_nvme_transport_id trid;
	struct spio_nvme_ctrlr_opts opts;
	char str[256];

	snprintf(str, sizeof(str), "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%u subnqn:%s",
		 g.port, SUBNQN);
	if (spio_nvme_transport_id_parse(&trid, str) != 0) {
		die("bad transport ID %s", str);
	}
	spio_nvme_ctrlr_get_default_opts(&opts, sizeof(opts));
	opts.num_io_queues = 2;
	opts.io_queue_size = IO_QUEUE_SIZE;
	/* No timers: everything ends because the target closes, the same way every run. */
	opts.keep_alive_timeout_ms = 0;
	opts.admin_timeout_ms = 0;
	opts.io_timeout_ms = 0;
	opts.header_digest = (g.flags & FH_DIGESTS) != 0;
	opts.data_digest = (g.flags & FH_DIGESTS) != 0;
	if (spio_nvme_connect_async(&trid, &opts, connected, NULL) != 0) {
		die("spio_nvme_connect_async refused");
	}
}

/* Send the stream on `c`: each chunk once the initiator is quiet, then the rest. */
static void play(struct tconn *c, const uint8_t *data, size_t size)
{
	uint32_t nchunks = size > 0 ? data[0] & 0xf : 0;
	size_t off = 1 + 2 * (size_t)nchunks;
	const uint8_t *hdr = data + 1;

	if (off > size) {
		nchunks = size > 1 ? (uint32_t)(size - 1) / 2 : 0;
		off = size;
	}
	for (uint32_t i = 0; i < nchunks && off < size; i++) {
		size_t n = SPIO_MIN((size_t)(hdr[2 * i] | hdr[2 * i + 1] << 8), size - off);

		out_append(c, data + off, n);
		off += n;
		settle();
	}
	out_append(c, data + off, size - off);
	if (g.flags & FH_CLOSE_NOW) {
		while (c->out_len > 0 && conn_service(c)) {
		}
	} else {
		settle();
	}
}

static void wait_accept(uint32_t n)
{
	uint64_t limit = deadline(HANG_MS);

	while (g.nconns < n) {
		if (spio_get_ticks() > limit) {
			die("the initiator did not connect");
		}
		pump();
	}
}

static void detach(void)
{
	int rc;

	g.detached = 0;
	rc = spio_nvme_detach_async(g.ctrlr, detached, NULL);
	if (rc != 0) {
		die("spio_nvme_detach_async: %d", rc);
	}
	wait_for(&g.detached, "detach");
	g.ctrlr = NULL;
}

static void end_io(void)
{
	uint64_t limit = deadline(HANG_MS);
	int rc;

	conn_close(&g.conns[1]);
	/* The initiator must notice the close and fail what is outstanding by itself. */
	while (spio_nvme_qpair_is_connected(g.qpair)) {
		if (spio_get_ticks() > limit) {
			die("the I/O queue still connected %u ms after the target closed", HANG_MS);
		}
		pump();
	}
	rc = spio_nvme_ctrlr_free_io_qpair(g.qpair);
	if (rc != 0) {
		die("spio_nvme_ctrlr_free_io_qpair: %d", rc);
	}
	g.qpair = NULL;
	if (g.qp_calls != 1) {
		die("the I/O queue connect called back %d times", g.qp_calls);
	}
	free_cmds();
}

static void run(const uint8_t *data, size_t size)
{
	struct spio_nvme_io_qpair_opts qo;
	int fd_mark = lowest_free_fd();
	int fd;

	g.cc = 0;
	g.nconns = 0;
	g.connect_calls = 0;
	g.qp_calls = 0;
	g.ctrlr = NULL;
	g.qpair = NULL;
	g.flags = size > 0 ? data[0] : 0;
	if (g.rec != NULL) {
		g.flags &= (uint8_t)~FH_CLOSE_NOW;
	}
	start_connect();
	wait_accept(1);
	settle();
	if ((g.flags & FH_RAW_ADMIN) && g.rec == NULL) {
		play(&g.conns[0], data, size);
		conn_close(&g.conns[0]);
		wait_for(&g.connect_calls, "the connect's result");
		if (g.verbose) {
			fprintf(stderr, "fuzz_nvme_tcp_host: connect: %d\n", g.connect_status);
		}
		if (g.ctrlr != NULL) {
			detach();
		}
	} else {
		wait_for(&g.connect_calls, "the connect's result");
		if (g.ctrlr == NULL) {
			die("bring-up against the engine's own target failed: %d",
			    g.connect_status);
		}
		if (!(g.flags & FH_RAW_ADMIN)) {
			g.ns = spio_nvme_ctrlr_get_ns(g.ctrlr, 1);
			if (g.ns == NULL) {
				die("no namespace 1");
			}
			spio_nvme_ctrlr_get_default_io_qpair_opts(g.ctrlr, &qo, sizeof(qo));
			qo.io_queue_size = IO_QUEUE_SIZE;
			g.qpair = spio_nvme_ctrlr_alloc_io_qpair(g.ctrlr, &qo, sizeof(qo));
			if (g.qpair == NULL) {
				die("spio_nvme_ctrlr_alloc_io_qpair: errno %d", errno);
			}
			make_cmds();
			if (spio_nvme_qpair_connect_async(g.qpair, qp_connected, NULL) != 0) {
				die("spio_nvme_qpair_connect_async refused");
			}
			wait_accept(2);
			settle();
			if (g.rec == NULL) {
				play(&g.conns[1], data, size);
			}
			end_io();
		}
		detach();
	}
	for (uint32_t i = 0; i < g.nconns; i++) {
		conn_close(&g.conns[i]);
	}
	settle();
	if (g.connect_calls != 1) {
		die("the connect called back %d times", g.connect_calls);
	}
	fd = lowest_free_fd();
	if (fd != fd_mark) {
		die("a file descriptor was left open (lowest free %d, expected %d)", fd, fd_mark);
	}
}

void fh_run(const uint8_t *data, size_t size)
{
	fh_init();
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	g.rec = NULL;
	memset(&g.ao, 0, sizeof(g.ao));
	run(data, size);
	if (g.verbose) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		fprintf(
		    stderr, "fuzz_nvme_tcp_host: input of %zu bytes, flags 0x%x: %ld ms\n", size,
		    size > 0 ? data[0] : 0,
		    (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	}
}

void fh_record(uint8_t flags, const struct fh_auto_opts *ao, struct fh_record *rec)
{
	uint8_t hdr = flags;

	fh_init();
	g.rec = rec;
	g.ao = *ao;
	run(&hdr, 1);
	g.rec = NULL;
	memset(&g.ao, 0, sizeof(g.ao));
}
