/*
 * NVMe/TCP PDU codec against SPDK's captures (tests/README of the test data:
 * /work/shared/testdata/spdk/nvme-tcp/README.md): every captured stream
 * through the receive machine in one piece, byte by byte, in random chunks and
 * zero copy; our encoders reproduce the captured PDUs byte for byte; bad
 * input fails with the right FES; random bytes never crash.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/util.h"
#include "nvme/nvme_fabric.h"
#include "nvme/nvme_tcp_pdu.h"
#include "helper_pcap.h"

#define TARGET_PORT 4420
#define DEST_SIZE (256u * 1024)
#define DEST_SKIP 7u /* iov_offset the consumer gives, to exercise offsets */
#define DGST SPIO_NVME_TCP_DIGEST_LEN

#define T_ICREQ SPIO_NVME_TCP_PDU_TYPE_IC_REQ
#define T_ICRESP SPIO_NVME_TCP_PDU_TYPE_IC_RESP
#define T_H2C_TERM SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ
#define T_C2H_TERM SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ
#define T_CMD SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD
#define T_RESP SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP
#define T_H2C SPIO_NVME_TCP_PDU_TYPE_H2C_DATA
#define T_C2H SPIO_NVME_TCP_PDU_TYPE_C2H_DATA
#define T_R2T SPIO_NVME_TCP_PDU_TYPE_R2T

#define FES_HDR SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD
#define FES_SEQ SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR
#define FES_HDGST SPIO_NVME_TCP_TERM_REQ_FES_HDGST_ERROR
#define FES_RANGE SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_OUT_OF_RANGE
#define FES_LIMIT SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_LIMIT_EXCEEDED

/*
 * The consumer: counts what arrives, checks the facts of the README that a
 * single direction shows, and gives every PDU's data a destination.
 */
struct rec {
	struct nvme_tcp_rx rx;
	struct nvme_tcp_rx_params params; /* applied at IC, with the digests of the IC PDU */
	bool pause_on_header;
	bool strict_ddgst;	  /* fail the stream on a data digest error */
	int reject_c2h_cid;	  /* C2H for this cccid is "unknown"; -1 none */
	unsigned counts[10][256]; /* PDUs by type and flags */
	unsigned npdus;
	unsigned opc[256];
	unsigned hdgst_pdus, ddgst_ok, ddgst_bad;
	unsigned writes_4k_incapsule;
	unsigned read_seq_errors;    /* C2H without LAST_PDU, with SUCCESS, or a second one */
	unsigned c2h_pending;	     /* commands with their C2H in and their CapsuleResp not yet */
	uint8_t c2h_seen[65536 / 8]; /* by cccid */
	unsigned nfab;
	struct nvme_fabric_prop fab[16];
	uint32_t cur_data_len;
	uint32_t data_crc; /* CRC32C register over every PDU's data, in order */
	uint64_t data_bytes;
	unsigned term_reqs;
	union nvme_tcp_pdu_hdr last_hdr;
	struct iovec iov[3];
	uint8_t dest[DEST_SIZE];
};

static struct rec *rec_new(enum nvme_tcp_role role)
{
	struct rec *r = calloc(1, sizeof(*r));

	cr_assert_not_null(r, "calloc of the test consumer failed");
	nvme_tcp_rx_init(&r->rx, role);
	r->params.max_data_len = 131072;
	r->params.max_incapsule = 8192;
	r->reject_c2h_cid = -1;
	r->data_crc = ~0U;
	return r;
}

static int rec_on_header(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
			 struct iovec **iov, int *iovcnt, uint32_t *iov_offset)
{
	struct rec *r = ctx;

	if (hdr->common.pdu_type == T_C2H && hdr->c2h_data.cccid == r->reject_c2h_cid) {
		nvme_tcp_rx_fail(&r->rx, FES_HDR, 8, "unknown cccid");
		return -1;
	}
	if (data_len > DEST_SIZE - DEST_SKIP) {
		return -FES_RANGE;
	}
	/* Three pieces, one empty, to walk the destination across entries. */
	r->iov[0] = (struct iovec){r->dest, 1000};
	r->iov[1] = (struct iovec){r->dest + 1000, 0};
	r->iov[2] = (struct iovec){r->dest + 1000, DEST_SIZE - 1000};
	*iov = r->iov;
	*iovcnt = 3;
	*iov_offset = DEST_SKIP;
	r->cur_data_len = data_len;
	return r->pause_on_header ? NVME_TCP_RX_PAUSE : 0;
}

static void rec_ic(struct rec *r, const union nvme_tcp_pdu_hdr *hdr)
{
	struct nvme_tcp_rx_params p = r->params;
	int rc;

	/* ic_req and ic_resp share the placement of dgst. */
	p.hdgst = hdr->ic_req.dgst.bits.hdgst_enable;
	p.ddgst = hdr->ic_req.dgst.bits.ddgst_enable;
	rc = nvme_tcp_rx_set_params(&r->rx, &p);
	cr_assert_eq(rc, 0, "set_params at IC: expected 0, got %d", rc);
}

static void rec_cmd(struct rec *r, const struct spio_nvme_cmd *cmd)
{
	r->opc[cmd->opc]++;
	if (cmd->opc == SPIO_NVME_OPC_FABRIC &&
	    nvme_fabric_cmd_type(cmd) != SPIO_NVMF_FABRIC_COMMAND_CONNECT && r->nfab < 16) {
		int rc = nvme_fabric_prop_parse(cmd, &r->fab[r->nfab++]);

		cr_assert_eq(rc, 0, "captured property command must parse, got %d", rc);
	}
	if (cmd->opc == SPIO_NVME_OPC_WRITE && r->cur_data_len == 4096 &&
	    cmd->dptr.sgl1.unkeyed.length == 4096 &&
	    cmd->dptr.sgl1.unkeyed.type == SPIO_NVME_SGL_TYPE_DATA_BLOCK &&
	    cmd->dptr.sgl1.unkeyed.subtype == SPIO_NVME_SGL_SUBTYPE_OFFSET) {
		r->writes_4k_incapsule++;
	}
}

static bool cid_test_and_set(uint8_t *bits, uint16_t cid, bool set)
{
	bool was = bits[cid / 8] & (1u << (cid % 8));

	bits[cid / 8] =
	    (uint8_t)(set ? bits[cid / 8] | (1u << (cid % 8)) : bits[cid / 8] & ~(1u << (cid % 8)));
	return was;
}

/* One C2HData per read (all of its data, LAST_PDU, no SUCCESS), then its CapsuleResp. */
static void rec_c2h(struct rec *r, const union nvme_tcp_pdu_hdr *hdr)
{
	uint8_t f = hdr->common.flags;

	if (!(f & SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU) ||
	    (f & SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS) ||
	    cid_test_and_set(r->c2h_seen, hdr->c2h_data.cccid, true)) {
		r->read_seq_errors++;
		return;
	}
	r->c2h_pending++;
}

static void rec_resp(struct rec *r, const union nvme_tcp_pdu_hdr *hdr)
{
	if (cid_test_and_set(r->c2h_seen, hdr->capsule_resp.rccqe.cid, false)) {
		r->c2h_pending--;
	}
}

static int rec_on_pdu(void *ctx, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	struct rec *r = ctx;
	uint8_t type = hdr->common.pdu_type, flags = hdr->common.flags;

	r->npdus++;
	r->counts[type][flags]++;
	r->last_hdr = *hdr;
	r->hdgst_pdus += (flags & SPIO_NVME_TCP_CH_FLAGS_HDGSTF) != 0;
	if (flags & SPIO_NVME_TCP_CH_FLAGS_DDGSTF) {
		ddgst_ok ? r->ddgst_ok++ : r->ddgst_bad++;
	}
	if (r->cur_data_len > 0) {
		r->data_crc = spio_crc32c_update(r->dest + DEST_SKIP, r->cur_data_len, r->data_crc);
		r->data_bytes += r->cur_data_len;
	}
	switch (type) {
	case T_ICREQ:
	case T_ICRESP:
		rec_ic(r, hdr);
		break;
	case T_CMD:
		rec_cmd(r, &hdr->capsule_cmd.ccsqe);
		break;
	case T_C2H:
		rec_c2h(r, hdr);
		break;
	case T_RESP:
		rec_resp(r, hdr);
		break;
	case T_H2C_TERM:
	case T_C2H_TERM:
		r->term_reqs++;
		break;
	}
	r->cur_data_len = 0;
	if (!ddgst_ok && r->strict_ddgst) {
		return -FES_RANGE;
	}
	return 0;
}

static const struct nvme_tcp_rx_ops g_ops = {rec_on_header, rec_on_pdu};

/* xorshift32: the same pseudo-random sequence on every run. */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* A chunk size in [1, max], at most `left` (a function: SPIO_MIN evaluates twice). */
static size_t rnd_chunk(uint32_t *s, size_t left, uint32_t max)
{
	size_t n = rnd(s) % max + 1;

	return n < left ? n : left;
}

enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_RANDOM, FEED_ZERO_COPY };

static void feed_ok(struct rec *r, const uint8_t *buf, size_t len)
{
	ssize_t rc = nvme_tcp_rx_feed(&r->rx, buf, len, &g_ops, r);

	cr_assert_eq(rc, (ssize_t)len, "feed of %zu bytes: expected all consumed, got %zd (%s)",
		     len, rc, r->rx.err.reason ? r->rx.err.reason : "no error");
}

/* The transport's zero-copy loop: read headers with feed, data straight into place. */
static size_t feed_zero_copy(struct rec *r, const uint8_t *buf, size_t len, uint32_t *seed)
{
	size_t pos = 0, direct = 0;

	r->pause_on_header = true;
	while (pos < len) {
		struct iovec out[8];
		int n = nvme_tcp_rx_data_iov(&r->rx, out, 8);
		size_t want = rnd_chunk(seed, len - pos, 6000);
		ssize_t rc;

		if (n > 0) {
			size_t got = spio_copy_buf_to_iovs(out, n, buf + pos, want);

			rc = nvme_tcp_rx_data_advance(&r->rx, got, &g_ops, r);
			cr_assert_eq(rc, 0, "data_advance(%zu): expected 0, got %zd", got, rc);
			pos += got;
			direct += got;
			continue;
		}
		rc = nvme_tcp_rx_feed(&r->rx, buf + pos, want, &g_ops, r);
		cr_assert(rc > 0, "zero-copy feed at %zu: expected progress, got %zd (%s)", pos, rc,
			  r->rx.err.reason ? r->rx.err.reason : "no error");
		pos += (size_t)rc;
	}
	return direct;
}

static void feed_stream(struct rec *r, const uint8_t *buf, size_t len, enum feed_mode mode)
{
	uint32_t seed = 0x2545F491u ^ (uint32_t)len;
	size_t pos = 0;

	if (mode == FEED_ZERO_COPY) {
		feed_zero_copy(r, buf, len, &seed);
		return;
	}
	while (pos < len) {
		size_t n = len - pos;

		if (mode == FEED_BYTES) {
			n = 1;
		} else if (mode == FEED_RANDOM) {
			n = rnd_chunk(&seed, n, 3000);
		}
		feed_ok(r, buf + pos, n);
		pos += n;
	}
}

/*
 * What the README says about each capture.
 */
struct type_count {
	uint8_t type, flags;
	unsigned n;
};

struct opc_count {
	uint8_t opc;
	unsigned n;
};

struct expect_stream {
	size_t bytes;
	struct type_count pdus[4];
};

struct expect_capture {
	const char *file;
	/* h2c, c2h of connection 1, then 2, then 3 */
	struct expect_stream streams[6];
	unsigned reads, writes;	 /* perf I/O queue */
	unsigned hdgsts, ddgsts; /* digests in the whole capture */
};

static const struct expect_capture g_nodigest = {
    "tcp-nodigest.pcap",
    {
	{3456, {{T_ICREQ, 0, 1}, {T_CMD, 0, 32}}},
	{34808, {{T_ICRESP, 0, 1}, {T_RESP, 0, 28}, {T_C2H, 4, 9}}},
	{2808, {{T_ICREQ, 0, 1}, {T_CMD, 0, 23}}},
	{21184, {{T_ICRESP, 0, 1}, {T_RESP, 0, 19}, {T_C2H, 4, 5}}},
	{205032, {{T_ICREQ, 0, 1}, {T_CMD, 0, 101}}},
	{216792, {{T_ICRESP, 0, 1}, {T_RESP, 0, 101}, {T_C2H, 4, 52}}},
    },
    52,
    48,
    0,
    0,
};

static const struct expect_capture g_digest = {
    "tcp-digest.pcap",
    {
	{3456, {{T_ICREQ, 0, 1}, {T_CMD, 0, 32}}},
	{34808, {{T_ICRESP, 0, 1}, {T_RESP, 0, 28}, {T_C2H, 4, 9}}},
	{2904, {{T_ICREQ, 0, 1}, {T_CMD, 3, 1}, {T_CMD, 1, 22}}},
	{21300, {{T_ICRESP, 0, 1}, {T_RESP, 1, 19}, {T_C2H, 7, 5}}},
	{209732, {{T_ICREQ, 0, 1}, {T_CMD, 3, 50}, {T_CMD, 1, 51}}},
	{213484, {{T_ICRESP, 0, 1}, {T_RESP, 1, 101}, {T_C2H, 7, 51}}},
    },
    51,
    49,
    300,
    107,
};

/* Opcodes per connection (README): identify admin, perf admin; perf I/O is built per capture. */
static const struct opc_count g_opc_identify[] = {{0x7f, 10}, {0x06, 5}, {0x09, 2}, {0x0c, 4},
						  {0x0a, 6},  {0x18, 1}, {0x02, 4}};
static const struct opc_count g_opc_perf_admin[] = {{0x7f, 10}, {0x06, 5}, {0x09, 2},
						    {0x0c, 4},	{0x0a, 1}, {0x18, 1}};

/* Controller bring-up on an admin queue: (set?, property offset), after Connect. */
static const struct {
	bool set;
	uint32_t ofst;
} g_bringup[] = {{false, 0x08}, {false, 0x00}, {false, 0x14}, {false, 0x1c}, {true, 0x14},
		 {false, 0x1c}, {false, 0x14}, {true, 0x14},  {false, 0x1c}};

static bool load_capture(const char *name, struct pcap_streams *s)
{
	const char *dir = getenv("SPIO_TESTDATA");
	char path[1024];
	int rc;

	snprintf(path, sizeof(path), "%s/nvme-tcp/%s",
		 dir != NULL && dir[0] != '\0' ? dir : SPIO_TESTDATA_DEFAULT, name);
	rc = pcap_read_streams(path, s);
	if (rc == -ENOENT) {
		return false;
	}
	cr_assert_eq(rc, 0, "reading %s: expected 0, got %d", path, rc);
	cr_assert_eq(s->count, 6, "%s: expected 6 TCP streams (3 connections), got %zu", name,
		     s->count);
	for (size_t i = 0; i < 6; i++) {
		bool h2c = i % 2 == 0;
		uint16_t port = h2c ? s->streams[i].dst_port : s->streams[i].src_port;

		cr_assert_eq(port, TARGET_PORT, "%s stream %zu: expected %s port 4420, got %u",
			     name, i, h2c ? "destination" : "source", port);
	}
	return true;
}

#define LOAD_OR_SKIP(name, s)                                                         \
	do {                                                                          \
		if (!load_capture((name), (s))) {                                     \
			cr_skip_test("capture %s not found (SPIO_TESTDATA)", (name)); \
		}                                                                     \
	} while (0)

static unsigned count_sum(const struct rec *r)
{
	unsigned n = 0;

	for (int t = 0; t < 10; t++) {
		for (int f = 0; f < 256; f++) {
			n += r->counts[t][f];
		}
	}
	return n;
}

static void check_counts(const struct rec *r, const struct expect_stream *e, const char *what)
{
	unsigned listed = 0;

	for (int i = 0; i < 4 && e->pdus[i].n > 0; i++) {
		const struct type_count *tc = &e->pdus[i];
		unsigned got = r->counts[tc->type][tc->flags];

		cr_assert_eq(got, tc->n, "%s: PDU type %u flags 0x%x: expected %u, got %u", what,
			     tc->type, tc->flags, tc->n, got);
		listed += tc->n;
	}
	cr_assert_eq(count_sum(r), listed, "%s: expected %u PDUs in all, got %u", what, listed,
		     count_sum(r));
}

static void check_opcodes(const struct rec *r, const struct opc_count *oc, size_t n,
			  const char *what)
{
	unsigned listed = 0, all = 0;

	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(r->opc[oc[i].opc], oc[i].n, "%s: opcode 0x%02x: expected %u, got %u",
			     what, oc[i].opc, oc[i].n, r->opc[oc[i].opc]);
		listed += oc[i].n;
	}
	for (int i = 0; i < 256; i++) {
		all += r->opc[i];
	}
	cr_assert_eq(all, listed, "%s: expected %u commands, got %u", what, listed, all);
}

static void check_bringup(const struct rec *r, const char *what)
{
	cr_assert_eq(r->nfab, SPIO_COUNTOF(g_bringup), "%s: expected %zu property commands, got %u",
		     what, SPIO_COUNTOF(g_bringup), r->nfab);
	for (size_t i = 0; i < SPIO_COUNTOF(g_bringup); i++) {
		cr_assert(r->fab[i].set == g_bringup[i].set && r->fab[i].ofst == g_bringup[i].ofst,
			  "%s: property command %zu: expected %s 0x%x, got %s 0x%x", what, i,
			  g_bringup[i].set ? "set" : "get", g_bringup[i].ofst,
			  r->fab[i].set ? "set" : "get", r->fab[i].ofst);
	}
}

/* Host -> controller stream `conn` (0..2): command facts. */
static void check_h2c(const struct rec *r, const struct expect_capture *e, int conn)
{
	struct opc_count io[] = {{0x7f, 1}, {0x02, e->reads}, {0x01, e->writes}};

	if (conn == 0) {
		check_opcodes(r, g_opc_identify, SPIO_COUNTOF(g_opc_identify), "identify admin");
	} else if (conn == 1) {
		check_opcodes(r, g_opc_perf_admin, SPIO_COUNTOF(g_opc_perf_admin), "perf admin");
	} else {
		check_opcodes(r, io, SPIO_COUNTOF(io), "perf I/O");
	}
	if (conn < 2) {
		check_bringup(r, conn == 0 ? "identify admin" : "perf admin");
	}
	cr_assert_eq(r->writes_4k_incapsule, conn == 2 ? e->writes : 0,
		     "connection %d: expected %u writes with 4096 bytes in-capsule, got %u",
		     conn + 1, conn == 2 ? e->writes : 0, r->writes_4k_incapsule);
}

/* Controller -> host stream: every C2H has LAST_PDU, no SUCCESS, and its CapsuleResp later. */
static void check_c2h(const struct rec *r, const char *what)
{
	cr_assert_eq(r->read_seq_errors, 0,
		     "%s: expected one C2HData per command with LAST_PDU, no SUCCESS; "
		     "%u violations",
		     what, r->read_seq_errors);
	cr_assert_eq(r->c2h_pending, 0, "%s: %u commands got C2HData but no CapsuleResp", what,
		     r->c2h_pending);
}

/* The data of every PDU, from the capture directly: what the consumer must have received. */
static uint32_t capture_data_crc(const uint8_t *buf, size_t len, uint64_t *bytes)
{
	uint32_t crc = ~0U;

	*bytes = 0;
	for (size_t off = 0; off + 8 <= len;) {
		const struct spio_nvme_tcp_common_pdu_hdr *ch = (const void *)(buf + off);
		uint32_t tail = (ch->flags & SPIO_NVME_TCP_CH_FLAGS_DDGSTF) ? DGST : 0;

		if (ch->pdo != 0 && ch->pdu_type != T_ICREQ && ch->pdu_type != T_ICRESP) {
			crc =
			    spio_crc32c_update(buf + off + ch->pdo, ch->plen - ch->pdo - tail, crc);
			*bytes += ch->plen - ch->pdo - tail;
		}
		off += ch->plen;
	}
	return crc;
}

/* One stream through a fresh receiver; returns the consumer for more checks (caller frees). */
static struct rec *run_stream(const struct pcap_stream *st, enum feed_mode mode)
{
	bool h2c = st->dst_port == TARGET_PORT;
	struct rec *r = rec_new(h2c ? NVME_TCP_ROLE_CTRLR : NVME_TCP_ROLE_HOST);
	uint64_t want_bytes;
	uint32_t want_crc = capture_data_crc(st->data, st->len, &want_bytes);

	feed_stream(r, st->data, st->len, mode);
	cr_assert_eq(nvme_tcp_rx_need(&r->rx), 8, "stream %u->%u must end on a PDU boundary",
		     st->src_port, st->dst_port);
	cr_assert_eq(r->data_bytes, want_bytes, "stream %u->%u: expected %llu data bytes, got %llu",
		     st->src_port, st->dst_port, (unsigned long long)want_bytes,
		     (unsigned long long)r->data_bytes);
	cr_assert_eq(r->data_crc, want_crc, "stream %u->%u: data differs from the capture",
		     st->src_port, st->dst_port);
	cr_assert_eq(r->ddgst_bad, 0, "stream %u->%u: %u data digests failed", st->src_port,
		     st->dst_port, r->ddgst_bad);
	return r;
}

static void run_capture(const struct expect_capture *e, enum feed_mode mode)
{
	struct pcap_streams s;
	unsigned hdgsts = 0, ddgsts = 0;

	LOAD_OR_SKIP(e->file, &s);
	for (int i = 0; i < 6; i++) {
		const struct pcap_stream *st = &s.streams[i];
		char what[64];
		struct rec *r;

		snprintf(what, sizeof(what), "%s %u->%u", e->file, st->src_port, st->dst_port);
		cr_assert_eq(st->len, e->streams[i].bytes, "%s: expected %zu bytes, got %zu", what,
			     e->streams[i].bytes, st->len);
		r = run_stream(st, mode);
		check_counts(r, &e->streams[i], what);
		if (i % 2 == 0) {
			check_h2c(r, e, i / 2);
		} else {
			check_c2h(r, what);
		}
		hdgsts += r->hdgst_pdus;
		ddgsts += r->ddgst_ok;
		free(r);
	}
	cr_assert_eq(hdgsts, e->hdgsts, "%s: expected %u verified header digests, got %u", e->file,
		     e->hdgsts, hdgsts);
	cr_assert_eq(ddgsts, e->ddgsts, "%s: expected %u verified data digests, got %u", e->file,
		     e->ddgsts, ddgsts);
	pcap_streams_free(&s);
}

Test(tcp_capture, nodigest_whole)
{
	run_capture(&g_nodigest, FEED_WHOLE);
}

Test(tcp_capture, nodigest_bytewise)
{
	run_capture(&g_nodigest, FEED_BYTES);
}

Test(tcp_capture, nodigest_random_chunks)
{
	run_capture(&g_nodigest, FEED_RANDOM);
}

Test(tcp_capture, nodigest_zero_copy)
{
	run_capture(&g_nodigest, FEED_ZERO_COPY);
}

Test(tcp_capture, digest_whole)
{
	run_capture(&g_digest, FEED_WHOLE);
}

Test(tcp_capture, digest_bytewise)
{
	run_capture(&g_digest, FEED_BYTES);
}

Test(tcp_capture, digest_random_chunks)
{
	run_capture(&g_digest, FEED_RANDOM);
}

Test(tcp_capture, digest_zero_copy)
{
	run_capture(&g_digest, FEED_ZERO_COPY);
}

/* Zero copy really reads the C2H payloads straight into place, with the same outcome. */
Test(tcp_capture, zero_copy_reads_c2h_in_place)
{
	struct pcap_streams s;
	const struct pcap_stream *st;
	struct rec *a, *b;
	uint32_t seed = 77;
	size_t direct;

	LOAD_OR_SKIP("tcp-digest.pcap", &s);
	st = &s.streams[5];
	a = run_stream(st, FEED_WHOLE);
	b = rec_new(NVME_TCP_ROLE_HOST);
	direct = feed_zero_copy(b, st->data, st->len, &seed);
	cr_assert_eq(direct, a->data_bytes, "expected all %llu data bytes read in place, got %zu",
		     (unsigned long long)a->data_bytes, direct);
	cr_assert_eq(b->data_crc, a->data_crc, "zero copy delivered other data than feed");
	cr_assert_eq(memcmp(a->counts, b->counts, sizeof(a->counts)), 0,
		     "zero copy saw other PDUs than feed");
	cr_assert_eq(b->ddgst_ok, a->ddgst_ok, "data digests: expected %u verified, got %u",
		     a->ddgst_ok, b->ddgst_ok);
	free(a);
	free(b);
	pcap_streams_free(&s);
}

/*
 * Encoding: our bytes equal the captured ones.
 */

/* The bytes a sealed PDU sends, flattened. */
static size_t flatten(const struct nvme_tcp_tx_pdu *pdu, uint8_t *out, size_t cap)
{
	struct iovec iov[8];
	int n = nvme_tcp_tx_pdu_iov(pdu, iov, 8);
	size_t len = 0;

	cr_assert(n > 0, "tx_pdu_iov: expected entries, got %d", n);
	for (int i = 0; i < n; i++) {
		cr_assert(len + iov[i].iov_len <= cap, "PDU larger than %zu bytes", cap);
		memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	cr_assert_eq(len, nvme_tcp_tx_pdu_len(pdu), "iovecs total %zu, PLEN %u", len,
		     nvme_tcp_tx_pdu_len(pdu));
	return len;
}

static void expect_same(const struct nvme_tcp_tx_pdu *pdu, const uint8_t *want, size_t want_len,
			const char *what)
{
	static uint8_t got[160 * 1024];
	size_t len = flatten(pdu, got, sizeof(got));

	cr_assert_eq(len, want_len, "%s: expected %zu bytes, got %zu", what, want_len, len);
	for (size_t i = 0; i < len; i++) {
		cr_assert_eq(got[i], want[i], "%s: byte %zu: expected 0x%02x, got 0x%02x", what, i,
			     want[i], got[i]);
	}
}

static void encode_ic(const uint8_t *p, const char *what)
{
	const struct spio_nvme_tcp_ic_req *req = (const void *)p;
	const struct spio_nvme_tcp_ic_resp *resp = (const void *)p;
	struct nvme_tcp_tx_pdu pdu;
	int rc;

	if (p[0] == T_ICREQ) {
		rc = nvme_tcp_ic_req_build(&pdu, req->hpda, req->dgst.bits.hdgst_enable,
					   req->dgst.bits.ddgst_enable, req->maxr2t);
	} else {
		rc = nvme_tcp_ic_resp_build(&pdu, resp->cpda, resp->dgst.bits.hdgst_enable,
					    resp->dgst.bits.ddgst_enable, resp->maxh2cdata);
	}
	cr_assert_eq(rc, 0, "%s: IC build: expected 0, got %d", what, rc);
	expect_same(&pdu, p, NVME_TCP_IC_HLEN, what);
}

/* Re-encode a captured PDU from its typed fields and data, through two iovecs at an offset. */
static void encode_pdu(const uint8_t *p, const struct nvme_tcp_tx_params *params, const char *what)
{
	static uint8_t data[160 * 1024];
	const struct spio_nvme_tcp_common_pdu_hdr *ch = (const void *)p;
	uint32_t tail = (ch->flags & SPIO_NVME_TCP_CH_FLAGS_DDGSTF) ? DGST : 0;
	uint32_t len = ch->pdo ? ch->plen - ch->pdo - tail : 0;
	struct iovec iov[2] = {{data, 5 + len / 3}, {data + 5 + len / 3, len - len / 3}};
	struct nvme_tcp_tx_pdu pdu;
	int rc;

	memcpy(data + 5, p + ch->pdo, len);
	cr_assert_eq(nvme_tcp_tx_pdu_init(&pdu, ch->pdu_type), 0, "%s: init", what);
	memcpy(pdu.hdr.raw + 8, p + 8, ch->hlen - 8u);
	pdu.hdr.common.flags =
	    ch->flags & (uint8_t) ~(SPIO_NVME_TCP_CH_FLAGS_HDGSTF | SPIO_NVME_TCP_CH_FLAGS_DDGSTF);
	rc = nvme_tcp_tx_pdu_seal(&pdu, params, iov, 2, 5, len);
	cr_assert_eq(rc, 0, "%s: seal: expected 0, got %d", what, rc);
	expect_same(&pdu, p, ch->plen, what);
}

static void encode_stream(const struct pcap_stream *st, const char *file)
{
	const struct spio_nvme_tcp_ic_req *ic = (const void *)st->data;
	struct nvme_tcp_tx_params params = {ic->dgst.bits.hdgst_enable, ic->dgst.bits.ddgst_enable,
					    0};
	unsigned n = 0;

	for (size_t off = 0; off < st->len; n++) {
		const struct spio_nvme_tcp_common_pdu_hdr *ch = (const void *)(st->data + off);
		char what[96];

		snprintf(what, sizeof(what), "%s %u->%u PDU %u (type %u)", file, st->src_port,
			 st->dst_port, n, ch->pdu_type);
		if (off == 0) {
			encode_ic(st->data, what);
		} else {
			encode_pdu(st->data + off, &params, what);
		}
		off += ch->plen;
	}
}

Test(tcp_encode, every_captured_pdu)
{
	static const char *files[] = {"tcp-nodigest.pcap", "tcp-digest.pcap"};

	for (size_t f = 0; f < 2; f++) {
		struct pcap_streams s;

		LOAD_OR_SKIP(files[f], &s);
		for (size_t i = 0; i < s.count; i++) {
			encode_stream(&s.streams[i], files[f]);
		}
		pcap_streams_free(&s);
	}
}

/* A captured Connect capsule, rebuilt from its decoded fields with the fabric builders. */
static void encode_connect(const uint8_t *p, const struct nvme_tcp_tx_params *params,
			   const char *what)
{
	const struct spio_nvme_tcp_common_pdu_hdr *ch = (const void *)p;
	const struct spio_nvmf_fabric_connect_cmd *cc = (const void *)(p + 8);
	const struct spio_nvmf_fabric_connect_data *cd = (const void *)(p + ch->pdo);
	struct spio_nvmf_fabric_connect_data data;
	struct iovec iov = {&data, sizeof(data)};
	struct nvme_tcp_tx_pdu pdu;
	struct spio_nvme_cmd cmd;
	int rc;

	nvme_fabric_connect_cmd_build(&cmd, cc->qid, cc->sqsize, cc->kato, cc->cattr);
	cmd.cid = cc->cid;
	rc = nvme_fabric_connect_data_build(&data, cd->hostid, cd->cntlid, cd->subnqn, cd->hostnqn);
	cr_assert_eq(rc, 0, "%s: connect data build: expected 0, got %d", what, rc);
	nvme_tcp_tx_pdu_init(&pdu, T_CMD);
	pdu.hdr.capsule_cmd.ccsqe = cmd;
	rc = nvme_tcp_tx_pdu_seal(&pdu, params, &iov, 1, 0, sizeof(data));
	cr_assert_eq(rc, 0, "%s: seal: expected 0, got %d", what, rc);
	cr_assert_eq(ch->plen, params->hdgst ? 1104u : 1096u, "%s: captured PLEN %u", what,
		     ch->plen);
	expect_same(&pdu, p, ch->plen, what);
}

Test(tcp_encode, connect_capsules)
{
	static const char *files[] = {"tcp-nodigest.pcap", "tcp-digest.pcap"};
	unsigned found = 0, io_queue = 0;

	for (size_t f = 0; f < 2; f++) {
		struct pcap_streams s;

		LOAD_OR_SKIP(files[f], &s);
		for (size_t i = 0; i < s.count; i += 2) {
			const struct pcap_stream *st = &s.streams[i];
			const struct spio_nvme_tcp_ic_req *ic = (const void *)st->data;
			struct nvme_tcp_tx_params params = {ic->dgst.bits.hdgst_enable,
							    ic->dgst.bits.ddgst_enable, 0};
			const uint8_t *p = st->data + NVME_TCP_IC_HLEN; /* the first capsule */
			const struct spio_nvme_cmd *cmd = (const void *)(p + 8);
			char what[64];

			snprintf(what, sizeof(what), "%s connect of %u->%u", files[f], st->src_port,
				 st->dst_port);
			cr_assert(cmd->opc == SPIO_NVME_OPC_FABRIC &&
				      nvme_fabric_cmd_type(cmd) == SPIO_NVMF_FABRIC_COMMAND_CONNECT,
				  "%s: expected Connect first", what);
			encode_connect(p, &params, what);
			io_queue += ((const struct spio_nvmf_fabric_connect_cmd *)cmd)->qid == 1;
			found++;
		}
		pcap_streams_free(&s);
	}
	cr_assert_eq(found, 6, "expected 6 Connect capsules, got %u", found);
	cr_assert_eq(io_queue, 2, "expected 2 I/O queue Connects, got %u", io_queue);
}

/*
 * Synthetic streams and bad input
 */

struct bytes {
	uint8_t buf[64 * 1024];
	size_t len;
};

static void put(struct bytes *b, const struct nvme_tcp_tx_pdu *pdu)
{
	b->len += flatten(pdu, b->buf + b->len, sizeof(b->buf) - b->len);
}

static size_t put_ic(struct bytes *b, uint8_t type, bool hdgst, bool ddgst)
{
	struct nvme_tcp_tx_pdu pdu;
	size_t at = b->len;

	if (type == T_ICREQ) {
		nvme_tcp_ic_req_build(&pdu, 0, hdgst, ddgst, 0);
	} else {
		nvme_tcp_ic_resp_build(&pdu, 0, hdgst, ddgst, 131072);
	}
	put(b, &pdu);
	return at;
}

static size_t put_resp(struct bytes *b, uint16_t cid, const struct nvme_tcp_tx_params *p)
{
	struct nvme_tcp_tx_pdu pdu;
	size_t at = b->len;

	nvme_tcp_tx_pdu_init(&pdu, T_RESP);
	pdu.hdr.capsule_resp.rccqe.cid = cid;
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, p, NULL, 0, 0, 0), 0, "seal CapsuleResp");
	put(b, &pdu);
	return at;
}

static size_t put_data(struct bytes *b, uint8_t type, uint16_t cid, uint32_t len,
		       const struct nvme_tcp_tx_params *p)
{
	static uint8_t payload[32 * 1024];
	struct iovec iov = {payload, len};
	struct nvme_tcp_tx_pdu pdu;
	size_t at = b->len;

	for (uint32_t i = 0; i < len; i++) {
		payload[i] = (uint8_t)(i * 13 + cid);
	}
	nvme_tcp_tx_pdu_init(&pdu, type);
	if (type == T_C2H) {
		pdu.hdr.c2h_data.cccid = cid;
		pdu.hdr.c2h_data.datal = len;
		pdu.hdr.common.flags = SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU;
	} else if (type == T_H2C) {
		pdu.hdr.h2c_data.cccid = cid;
		pdu.hdr.h2c_data.datal = len;
	} else {
		pdu.hdr.capsule_cmd.ccsqe.opc = SPIO_NVME_OPC_WRITE;
		pdu.hdr.capsule_cmd.ccsqe.cid = cid;
	}
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, p, &iov, 1, 0, len), 0, "seal type %u", type);
	put(b, &pdu);
	return at;
}

/* Feed `b` whole and expect the stream to fail with `fes` / `fei`, and stay failed. */
static void expect_fail(struct rec *r, const struct bytes *b, uint16_t fes, uint32_t fei,
			const char *what)
{
	ssize_t rc = nvme_tcp_rx_feed(&r->rx, b->buf, b->len, &g_ops, r);
	uint8_t byte = 0;

	cr_assert_eq(rc, -EPROTO, "%s: expected -EPROTO, got %zd", what, rc);
	cr_assert_eq(r->rx.err.fes, fes, "%s: expected FES %u, got %u (%s)", what, fes,
		     r->rx.err.fes, r->rx.err.reason);
	cr_assert_eq(r->rx.err.fei, fei, "%s: expected FEI %u, got %u (%s)", what, fei,
		     r->rx.err.fei, r->rx.err.reason);
	cr_assert_not_null(r->rx.err.reason, "%s: a failure must say why", what);
	cr_assert(nvme_tcp_rx_failed(&r->rx), "%s: rx must report failed", what);
	rc = nvme_tcp_rx_feed(&r->rx, &byte, 1, &g_ops, r);
	cr_assert_eq(rc, -EPROTO, "%s: feed after failure: expected -EPROTO, got %zd", what, rc);
	cr_assert_eq(nvme_tcp_rx_need(&r->rx), 0, "%s: a failed rx needs nothing", what);
}

static const struct nvme_tcp_tx_params g_plain = {false, false, 0};
static const struct nvme_tcp_tx_params g_dgst = {true, true, 0};
static const struct nvme_tcp_tx_params g_ddgst_only = {false, true, 0};

/* A host stream: ICResp, then `body`; run it and expect failure. */
static void host_expect_fail(struct bytes *b, uint16_t fes, uint32_t fei, const char *what)
{
	struct rec *r = rec_new(NVME_TCP_ROLE_HOST);

	expect_fail(r, b, fes, fei, what);
	free(r);
}

Test(tcp_rx_bad, header_digest_mismatch)
{
	static struct bytes b;
	size_t at;

	put_ic(&b, T_ICRESP, true, true);
	put_resp(&b, 1, &g_dgst);
	at = put_resp(&b, 2, &g_dgst);
	b.buf[at + 10] ^= 0x10; /* inside the CQE, covered by the header digest */
	host_expect_fail(&b, FES_HDGST, 0, "flipped CQE bit");

	b.len = 0;
	put_ic(&b, T_ICRESP, true, true);
	at = put_resp(&b, 2, &g_dgst);
	b.buf[at + 24] ^= 0x01; /* the digest itself */
	host_expect_fail(&b, FES_HDGST, 0, "flipped digest bit");
}

Test(tcp_rx_bad, data_digest_mismatch)
{
	static struct bytes b;
	struct rec *r = rec_new(NVME_TCP_ROLE_HOST);
	size_t at;

	put_ic(&b, T_ICRESP, true, true);
	at = put_data(&b, T_C2H, 5, 512, &g_dgst);
	put_resp(&b, 5, &g_dgst);
	b.buf[at + 28 + 100] ^= 0x80; /* a data byte */
	/* Tolerated by the consumer: the command fails, the connection goes on. */
	feed_ok(r, b.buf, b.len);
	cr_assert_eq(r->ddgst_bad, 1, "expected 1 data digest error reported, got %u",
		     r->ddgst_bad);
	cr_assert_eq(r->counts[T_RESP][SPIO_NVME_TCP_CH_FLAGS_HDGSTF], 1,
		     "the CapsuleResp after the bad data must still arrive");
	free(r);

	/* A consumer that fails the connection for it. */
	r = rec_new(NVME_TCP_ROLE_HOST);
	r->strict_ddgst = true;
	expect_fail(r, &b, FES_RANGE, 0, "strict data digest");
	free(r);
}

Test(tcp_rx_bad, truncated_then_bogus)
{
	static struct bytes b;
	struct rec *r = rec_new(NVME_TCP_ROLE_HOST);
	size_t at, cut;
	ssize_t rc;

	put_ic(&b, T_ICRESP, false, false);
	at = put_data(&b, T_C2H, 9, 2000, &g_plain);
	/* Ends mid-header, then mid-data: no error, no PDU, waiting. */
	feed_ok(r, b.buf, at + 3);
	cr_assert_eq(r->npdus, 1, "expected only the ICResp so far, got %u PDUs", r->npdus);
	feed_ok(r, b.buf + at + 3, 24 + 100 - 3);
	cr_assert_eq(nvme_tcp_rx_need(&r->rx), 1900, "expected 1900 data bytes due, got %u",
		     nvme_tcp_rx_need(&r->rx));
	cr_assert_eq(r->npdus, 1, "a PDU half in must not be delivered");
	free(r);

	/* A bogus continuation of a header cut after 3 bytes. */
	r = rec_new(NVME_TCP_ROLE_HOST);
	cut = at + 3;
	feed_ok(r, b.buf, cut);
	memcpy(b.buf + cut, "\x18\x10\x00\x00\x00", 5); /* PDO 24, PLEN 16 */
	rc = nvme_tcp_rx_feed(&r->rx, b.buf + cut, 5, &g_ops, r);
	cr_assert_eq(rc, -EPROTO, "bogus PLEN: expected -EPROTO, got %zd", rc);
	cr_assert(r->rx.err.fes == FES_HDR && r->rx.err.fei == 4,
		  "bogus PLEN: expected FES 1 FEI 4, got FES %u FEI %u", r->rx.err.fes,
		  r->rx.err.fei);
	free(r);
}

Test(tcp_rx_bad, data_beyond_maximum)
{
	static struct bytes b;
	struct rec *r = rec_new(NVME_TCP_ROLE_CTRLR);

	/* H2CData longer than MAXH2CDATA. */
	r->params.max_data_len = 4096;
	put_ic(&b, T_ICREQ, false, false);
	put_data(&b, T_H2C, 1, 4096, &g_plain);
	put_data(&b, T_H2C, 1, 4100, &g_plain);
	expect_fail(r, &b, FES_LIMIT, 0, "H2CData over MAXH2CDATA");
	cr_assert_eq(r->counts[T_H2C][0], 1, "the PDU at the limit must pass, got %u",
		     r->counts[T_H2C][0]);
	free(r);

	/* In-capsule data longer than the controller takes. */
	b.len = 0;
	r = rec_new(NVME_TCP_ROLE_CTRLR);
	r->params.max_incapsule = 4096;
	put_ic(&b, T_ICREQ, false, false);
	put_data(&b, T_CMD, 1, 8192, &g_plain);
	expect_fail(r, &b, FES_LIMIT, 0, "in-capsule data over the limit");
	free(r);

	/* C2HData longer than the host allows. */
	b.len = 0;
	r = rec_new(NVME_TCP_ROLE_HOST);
	r->params.max_data_len = 1024;
	put_ic(&b, T_ICRESP, false, false);
	put_data(&b, T_C2H, 1, 1028, &g_plain);
	expect_fail(r, &b, FES_LIMIT, 0, "C2HData over the host's limit");
	free(r);
}

/* A host stream whose second PDU (after ICResp) is `hdr`, `len` bytes. */
static void host_raw_fail(const void *hdr, size_t len, bool digests, uint16_t fes, uint32_t fei,
			  const char *what)
{
	static struct bytes b;

	b.len = 0;
	put_ic(&b, T_ICRESP, digests, digests);
	memcpy(b.buf + b.len, hdr, len);
	b.len += len;
	host_expect_fail(&b, fes, fei, what);
}

Test(tcp_rx_bad, unknown_and_wrong_direction_types)
{
	uint8_t pdu[24] = {0};
	static const uint8_t bad_types[] = {0x08, 0x0a, 0x7f, 0xff};
	static const uint8_t ctrlr_types[] = {T_ICREQ, T_H2C_TERM, T_CMD, T_H2C};

	pdu[2] = 24;
	pdu[4] = 24;
	for (size_t i = 0; i < sizeof(bad_types); i++) {
		pdu[0] = bad_types[i];
		host_raw_fail(pdu, sizeof(pdu), false, FES_HDR, 0, "unknown type");
	}
	for (size_t i = 0; i < sizeof(ctrlr_types); i++) {
		pdu[0] = ctrlr_types[i];
		host_raw_fail(pdu, sizeof(pdu), false, FES_HDR, 0, "controller-bound type at host");
	}
}

Test(tcp_rx_bad, host_types_at_controller)
{
	static struct bytes b;
	static const uint8_t host_types[] = {T_ICRESP, T_C2H_TERM, T_RESP, T_C2H, T_R2T};

	for (size_t i = 0; i < sizeof(host_types); i++) {
		struct rec *r = rec_new(NVME_TCP_ROLE_CTRLR);

		b.len = 0;
		put_ic(&b, T_ICREQ, false, false);
		memset(b.buf + b.len, 0, 24);
		b.buf[b.len] = host_types[i];
		b.buf[b.len + 2] = 24;
		b.buf[b.len + 4] = 24;
		b.len += 24;
		expect_fail(r, &b, FES_HDR, 0, "host-bound type at controller");
		free(r);
	}
}

Test(tcp_rx_bad, ic_sequence)
{
	static struct bytes b;
	struct rec *r = rec_new(NVME_TCP_ROLE_HOST);

	put_ic(&b, T_ICRESP, false, false);
	put_ic(&b, T_ICRESP, false, false);
	expect_fail(r, &b, FES_SEQ, 0, "second ICResp");
	free(r);

	b.len = 0;
	r = rec_new(NVME_TCP_ROLE_HOST);
	put_resp(&b, 1, &g_plain);
	expect_fail(r, &b, FES_SEQ, 0, "CapsuleResp before ICResp");
	free(r);

	b.len = 0;
	r = rec_new(NVME_TCP_ROLE_CTRLR);
	put_ic(&b, T_ICREQ, false, false);
	put_ic(&b, T_ICREQ, false, false);
	expect_fail(r, &b, FES_SEQ, 0, "second ICReq");
	free(r);
}

Test(tcp_rx_bad, ic_fields)
{
	static struct bytes b;
	struct rec *r;
	uint32_t small = 1024;

	put_ic(&b, T_ICRESP, false, false);
	b.buf[8] = 1; /* PFV */
	host_expect_fail(&b, FES_HDR, 8, "PFV 1");
	b.len = 0;
	put_ic(&b, T_ICRESP, false, false);
	b.buf[10] = 32; /* CPDA */
	host_expect_fail(&b, FES_HDR, 10, "CPDA 32");
	b.len = 0;
	put_ic(&b, T_ICRESP, false, false);
	memcpy(b.buf + 12, &small, 4);
	host_expect_fail(&b, FES_HDR, 12, "MAXH2CDATA 1024");
	b.len = 0;
	put_ic(&b, T_ICRESP, false, false);
	b.buf[4] = 129; /* PLEN */
	host_expect_fail(&b, FES_HDR, 4, "IC PLEN 129");
	b.len = 0;
	put_ic(&b, T_ICRESP, false, false);
	b.buf[1] = SPIO_NVME_TCP_CH_FLAGS_HDGSTF;
	host_expect_fail(&b, FES_HDR, 1, "HDGSTF on ICResp");

	b.len = 0;
	r = rec_new(NVME_TCP_ROLE_CTRLR);
	put_ic(&b, T_ICREQ, false, false);
	b.buf[10] = 40; /* HPDA */
	expect_fail(r, &b, FES_HDR, 10, "HPDA 40");
	free(r);
}

Test(tcp_rx_bad, hlen_wrong)
{
	uint8_t pdu[28] = {T_RESP, 0, 28, 0, 28};

	host_raw_fail(pdu, sizeof(pdu), false, FES_HDR, 2, "CapsuleResp HLEN 28");
	pdu[2] = 20;
	host_raw_fail(pdu, sizeof(pdu), false, FES_HDR, 2, "CapsuleResp HLEN 20");
}

/* A C2HData header with the given PDO / PLEN / DATAL (no digests). */
static void c2h_hdr(uint8_t *p, uint8_t pdo, uint32_t plen, uint32_t datal)
{
	memset(p, 0, 24);
	p[0] = T_C2H;
	p[1] = SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU;
	p[2] = 24;
	p[3] = pdo;
	memcpy(p + 4, &plen, 4);
	memcpy(p + 16, &datal, 4);
}

Test(tcp_rx_bad, pdo_and_plen)
{
	static struct bytes b;
	uint8_t p[24];
	struct rec *r;

	c2h_hdr(p, 20, 120, 100);
	host_raw_fail(p, 24, false, FES_HDR, 3, "PDO inside the header");
	c2h_hdr(p, 26, 126, 100);
	host_raw_fail(p, 24, false, FES_HDR, 3, "PDO not a multiple of 4");
	c2h_hdr(p, 24, 20, 100);
	host_raw_fail(p, 24, false, FES_HDR, 4, "PLEN below PDO");
	c2h_hdr(p, 24, 24, 0);
	host_raw_fail(p, 24, false, FES_HDR, 4, "C2HData without data");
	c2h_hdr(p, 24, 124, 99);
	host_raw_fail(p, 24, false, FES_HDR, 16, "DATAL does not match PLEN");

	/* The host asked for 16-byte alignment (HPDA 3): PDO 24 is misaligned, 32 fine. */
	b.len = 0;
	r = rec_new(NVME_TCP_ROLE_HOST);
	r->params.pda = 3;
	put_ic(&b, T_ICRESP, false, false);
	c2h_hdr(b.buf + b.len, 32, 132, 100);
	b.len += 132;
	feed_ok(r, b.buf, b.len);
	cr_assert_eq(r->counts[T_C2H][4], 1, "PDO 32 with HPDA 3 must pass");
	c2h_hdr(b.buf, 24, 124, 100);
	b.len = 124;
	expect_fail(r, &b, FES_HDR, 3, "PDO 24 with HPDA 3");
	free(r);
}

Test(tcp_rx_bad, plen_without_data_types)
{
	uint8_t resp[24] = {T_RESP, 0, 24, 0, 20};
	uint8_t r2t[28] = {T_R2T, 0, 24, 0, 28};

	host_raw_fail(resp, sizeof(resp), false, FES_HDR, 4, "CapsuleResp PLEN 20");
	resp[4] = 28;
	host_raw_fail(resp, sizeof(resp), false, FES_HDR, 4, "CapsuleResp PLEN 28");
	host_raw_fail(r2t, sizeof(r2t), false, FES_HDR, 4, "R2T PLEN 28 without digest");
	r2t[4] = 24;
	host_raw_fail(r2t, sizeof(r2t), false, FES_HDR, 16, "R2T of 0 bytes");
}

Test(tcp_rx_bad, digest_flags)
{
	uint8_t resp[28] = {T_RESP, SPIO_NVME_TCP_CH_FLAGS_HDGSTF, 24, 0, 28};
	uint8_t p[24];

	host_raw_fail(resp, sizeof(resp), false, FES_HDR, 1, "HDGSTF not negotiated");
	resp[1] = 0;
	resp[4] = 24;
	host_raw_fail(resp, 24, true, FES_HDR, 1, "HDGSTF missing though negotiated");
	resp[1] = SPIO_NVME_TCP_CH_FLAGS_DDGSTF;
	host_raw_fail(resp, 24, false, FES_HDR, 1, "DDGSTF on a PDU without data");
	c2h_hdr(p, 24, 128, 100);
	p[1] |= SPIO_NVME_TCP_CH_FLAGS_DDGSTF;
	host_raw_fail(p, 24, false, FES_HDR, 1, "DDGSTF not negotiated");
	c2h_hdr(p, 24, 124, 100);
	p[1] = SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS;
	host_raw_fail(p, 24, false, FES_HDR, 1, "SUCCESS without LAST_PDU");
}

Test(tcp_rx_bad, term_req_too_long)
{
	uint8_t term[24] = {T_C2H_TERM, 0, 24, 0, 153};

	host_raw_fail(term, sizeof(term), false, FES_HDR, 4, "term req PLEN 153");
	term[4] = 23;
	host_raw_fail(term, sizeof(term), false, FES_HDR, 4, "term req PLEN 23");
}

Test(tcp_rx_bad, c2h_unknown_cccid)
{
	static struct bytes b;
	struct rec *r = rec_new(NVME_TCP_ROLE_HOST);

	r->reject_c2h_cid = 0x42;
	put_ic(&b, T_ICRESP, true, true);
	put_data(&b, T_C2H, 0x41, 64, &g_dgst);
	put_resp(&b, 0x41, &g_dgst);
	put_data(&b, T_C2H, 0x42, 64, &g_dgst);
	expect_fail(r, &b, FES_HDR, 8, "C2HData for unknown cccid");
	cr_assert_eq(r->counts[T_C2H][7], 1, "the known C2HData before must pass, got %u",
		     r->counts[T_C2H][7]);
	cr_assert_str_eq(r->rx.err.reason, "unknown cccid", "the consumer's reason must be kept");
	free(r);
}

Test(tcp_rx_bad, consumer_returns_negative_fes)
{
	static struct bytes b;
	struct rec *r = rec_new(NVME_TCP_ROLE_HOST);

	/* Data longer than the consumer's buffer: it returns -FES itself. */
	r->params.max_data_len = UINT32_MAX;
	put_ic(&b, T_ICRESP, false, false);
	c2h_hdr(b.buf + b.len, 24, 24 + DEST_SIZE, DEST_SIZE);
	b.len += 24;
	expect_fail(r, &b, FES_RANGE, 0, "data larger than the consumer's buffer");
	cr_assert_str_eq(r->rx.err.reason, "rejected by the consumer", "reason: got %s",
			 r->rx.err.reason);
	free(r);
}

/* A consumer whose destination is too short for the PDU: the rx catches it. */
static int short_dest(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
		      struct iovec **iov, int *iovcnt, uint32_t *off)
{
	static uint8_t small[100];
	static struct iovec v = {small, sizeof(small)};

	*iov = &v;
	*iovcnt = 1;
	*off = 1;
	return 0;
}

Test(tcp_rx_bad, destination_shorter_than_data)
{
	static struct bytes b;
	struct rec *r = rec_new(NVME_TCP_ROLE_HOST);
	struct nvme_tcp_rx_ops ops = {short_dest, rec_on_pdu};
	ssize_t rc;

	put_ic(&b, T_ICRESP, false, false);
	put_data(&b, T_C2H, 1, 100, &g_plain);
	rc = nvme_tcp_rx_feed(&r->rx, b.buf, b.len, &ops, r);
	cr_assert_eq(rc, -EPROTO, "expected -EPROTO, got %zd", rc);
	cr_assert_eq(r->rx.err.fes, FES_RANGE, "expected FES 4, got %u", r->rx.err.fes);
	free(r);
}

/*
 * Good synthetic streams
 */

Test(tcp_rx, term_req_round_trip)
{
	static struct bytes b;
	struct rec *bad = rec_new(NVME_TCP_ROLE_CTRLR);
	struct rec *host = rec_new(NVME_TCP_ROLE_HOST);
	static const uint8_t bad_hdr[8] = {T_CMD, 0, 70, 0, 72, 0, 0, 0};
	struct nvme_tcp_tx_pdu term;
	const void *err_hdr;
	size_t err_len;

	/* The controller sees a bad CapsuleCmd (HLEN 70) ... */
	put_ic(&b, T_ICREQ, false, false);
	memset(b.buf + b.len, 0, 72);
	memcpy(b.buf + b.len, bad_hdr, sizeof(bad_hdr));
	b.len += 72;
	expect_fail(bad, &b, FES_HDR, 2, "CapsuleCmd HLEN 70");
	err_hdr = nvme_tcp_rx_err_hdr(&bad->rx, &err_len);
	cr_assert_eq(err_len, 8, "expected the 8 header bytes received, got %zu", err_len);

	/* ... and tells the host, which receives the C2HTermReq intact. */
	cr_assert_eq(nvme_tcp_term_req_build(&term, T_C2H_TERM, bad->rx.err.fes, bad->rx.err.fei,
					     err_hdr, err_len),
		     0, "term req build");
	b.len = 0;
	put_ic(&b, T_ICRESP, false, false);
	put(&b, &term);
	feed_ok(host, b.buf, b.len);
	cr_assert_eq(host->term_reqs, 1, "expected the term req delivered");
	cr_assert_eq(host->last_hdr.term_req.fes, FES_HDR, "FES: got %u",
		     host->last_hdr.term_req.fes);
	cr_assert_eq(host->last_hdr.term_req.fei[0], 2, "FEI: expected 2, got %u",
		     host->last_hdr.term_req.fei[0]);
	cr_assert_eq(host->last_hdr.common.plen, 32, "PLEN: expected 24 + 8, got %u",
		     host->last_hdr.common.plen);
	cr_assert_eq(memcmp(host->last_hdr.raw + 24, bad_hdr, 8), 0,
		     "term req data must carry the offending header");
	free(bad);
	free(host);
}

Test(tcp_rx, term_req_build_limits)
{
	struct nvme_tcp_tx_pdu pdu;
	uint8_t big[200];

	memset(big, 0xAB, sizeof(big));
	cr_assert_eq(nvme_tcp_term_req_build(&pdu, T_H2C_TERM, FES_HDGST, 77, big, sizeof(big)), 0,
		     "build");
	cr_assert_eq(pdu.hdr.common.plen, 152, "expected PLEN capped at 152, got %u",
		     pdu.hdr.common.plen);
	cr_assert_eq(pdu.hdr.term_req.fei[0], 0, "FEI is reserved for a header digest error");
	cr_assert_eq(nvme_tcp_term_req_build(&pdu, T_CMD, FES_HDR, 0, NULL, 0), -EINVAL,
		     "another type must be refused");
	cr_assert_eq(nvme_tcp_term_req_build(&pdu, T_C2H_TERM, FES_HDR, 0, NULL, 4), -EINVAL,
		     "NULL data with a length must be refused");
}

Test(tcp_rx, h2c_data_and_r2t)
{
	static struct bytes b;
	struct rec *ctrlr = rec_new(NVME_TCP_ROLE_CTRLR);
	struct rec *host = rec_new(NVME_TCP_ROLE_HOST);
	struct nvme_tcp_tx_pdu pdu;

	put_ic(&b, T_ICREQ, true, true);
	put_data(&b, T_H2C, 3, 3000, &g_dgst);
	put_data(&b, T_CMD, 4, 100, &g_dgst);
	feed_stream(ctrlr, b.buf, b.len, FEED_BYTES);
	cr_assert_eq(ctrlr->ddgst_ok, 2, "expected 2 data digests verified, got %u",
		     ctrlr->ddgst_ok);
	cr_assert_eq(ctrlr->data_bytes, 3100, "expected 3100 data bytes, got %llu",
		     (unsigned long long)ctrlr->data_bytes);
	cr_assert_eq(ctrlr->dest[DEST_SKIP + 99], (uint8_t)(99 * 13 + 4), "data not in place");

	b.len = 0;
	put_ic(&b, T_ICRESP, true, false);
	nvme_tcp_tx_pdu_init(&pdu, T_R2T);
	pdu.hdr.r2t.cccid = 3;
	pdu.hdr.r2t.r2tl = 8192;
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, &g_dgst, NULL, 0, 0, 0), 0, "seal R2T");
	cr_assert_eq(pdu.hdr.common.plen, 28, "R2T with header digest: PLEN 28, got %u",
		     pdu.hdr.common.plen);
	put(&b, &pdu);
	feed_ok(host, b.buf, b.len);
	cr_assert_eq(host->counts[T_R2T][SPIO_NVME_TCP_CH_FLAGS_HDGSTF], 1, "R2T not delivered");
	free(ctrlr);
	free(host);
}

/* A consumer that discards data: the digest is still checked. */
static int discard(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
		   struct iovec **iov, int *iovcnt, uint32_t *off)
{
	return 0;
}

Test(tcp_rx, discarded_data_still_digested)
{
	static struct bytes b;
	struct rec *r = rec_new(NVME_TCP_ROLE_HOST);
	struct nvme_tcp_rx_ops ops = {discard, rec_on_pdu};
	struct iovec out[2];
	size_t at;
	ssize_t rc;

	put_ic(&b, T_ICRESP, false, true);
	at = put_data(&b, T_C2H, 1, 300, &g_ddgst_only);
	rc = nvme_tcp_rx_feed(&r->rx, b.buf, at + 30, &ops, r);
	cr_assert_eq(rc, (ssize_t)(at + 30), "feed: got %zd", rc);
	cr_assert_eq(nvme_tcp_rx_data_iov(&r->rx, out, 2), 0,
		     "discarding: no destination for zero copy");
	cr_assert_eq(nvme_tcp_rx_data_advance(&r->rx, 1, &ops, r), -EINVAL,
		     "advance without a destination must be refused");
	b.buf[at + 24 + 50] ^= 1;
	rc = nvme_tcp_rx_feed(&r->rx, b.buf + at + 30, b.len - at - 30, &ops, r);
	cr_assert_eq(rc, (ssize_t)(b.len - at - 30), "feed: got %zd", rc);
	cr_assert_eq(r->ddgst_bad, 1, "discarded data with a bad digest: expected 1 error, got %u",
		     r->ddgst_bad);
	free(r);
}

Test(tcp_rx, pause_stops_feed)
{
	static struct bytes b;
	struct rec *r = rec_new(NVME_TCP_ROLE_HOST);
	ssize_t rc;
	size_t at;

	put_ic(&b, T_ICRESP, false, false);
	at = put_data(&b, T_C2H, 1, 100, &g_plain);
	put_resp(&b, 1, &g_plain);
	r->pause_on_header = true;
	rc = nvme_tcp_rx_feed(&r->rx, b.buf, b.len, &g_ops, r);
	cr_assert_eq(rc, (ssize_t)(at + 24), "expected a stop after the C2H header (%zu), got %zd",
		     at + 24, rc);
	cr_assert_eq(nvme_tcp_rx_need(&r->rx), 100, "expected 100 data bytes due, got %u",
		     nvme_tcp_rx_need(&r->rx));
	rc = nvme_tcp_rx_feed(&r->rx, b.buf + rc, b.len - (size_t)rc, &g_ops, r);
	cr_assert_eq(rc, (ssize_t)(b.len - at - 24), "the rest: got %zd", rc);
	cr_assert_eq(r->npdus, 3, "expected 3 PDUs, got %u", r->npdus);
	free(r);
}

/*
 * Sending
 */

Test(tcp_tx, seal_refuses_bad_layouts)
{
	struct nvme_tcp_tx_pdu pdu;
	uint8_t data[64];
	struct iovec iov = {data, sizeof(data)};
	struct nvme_tcp_tx_params bad_pda = {false, false, 32};

	cr_assert_eq(nvme_tcp_tx_pdu_init(&pdu, 0x08), -EINVAL, "type 8 is not a PDU type");
	nvme_tcp_tx_pdu_init(&pdu, T_RESP);
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, NULL, &iov, 1, 0, 4), -EINVAL, "data on a resp");
	nvme_tcp_tx_pdu_init(&pdu, T_C2H);
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, NULL, &iov, 1, 0, 0), -EINVAL, "C2H without data");
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, NULL, &iov, 1, 60, 8), -EINVAL,
		     "data beyond the iovecs");
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, NULL, NULL, 0, 0, 8), -EINVAL, "NULL iovecs");
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, &bad_pda, &iov, 1, 0, 8), -EINVAL, "PDA 32");
	nvme_tcp_tx_pdu_init(&pdu, T_H2C_TERM);
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, NULL, NULL, 0, 0, 0), -EINVAL,
		     "term reqs are built with term_req_build");
	cr_assert_eq(nvme_tcp_ic_req_build(&pdu, 32, false, false, 0), -EINVAL, "HPDA 32");
	cr_assert_eq(nvme_tcp_ic_resp_build(&pdu, 0, false, false, 4094), -EINVAL,
		     "MAXH2CDATA below 4096");
	cr_assert_eq(nvme_tcp_ic_resp_build(&pdu, 0, false, false, 4098), -EINVAL,
		     "MAXH2CDATA not a multiple of 4");
}

Test(tcp_tx, pdo_alignment_and_pad)
{
	static struct bytes b;
	struct nvme_tcp_tx_params p = {true, true, 31};
	struct nvme_tcp_tx_pdu pdu;
	uint8_t data[40];
	struct iovec iov = {data, sizeof(data)}, out[2];
	struct rec *r = rec_new(NVME_TCP_ROLE_HOST);

	memset(data, 0x5C, sizeof(data));
	nvme_tcp_tx_pdu_init(&pdu, T_C2H);
	pdu.hdr.c2h_data.datal = 40;
	memset(pdu.hdr.raw + 24, 0xEE, 100); /* stale bytes where the digest and pad go */
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, &p, &iov, 1, 0, 40), 0, "seal");
	cr_assert_eq(pdu.hdr.common.pdo, 128, "PDA 31: expected PDO 128, got %u",
		     pdu.hdr.common.pdo);
	cr_assert_eq(pdu.hdr.common.plen, 128 + 40 + 4, "PLEN: got %u", pdu.hdr.common.plen);
	for (int i = 28; i < 128; i++) {
		cr_assert_eq(pdu.hdr.raw[i], 0, "pad byte %d: expected 0, got 0x%02x", i,
			     pdu.hdr.raw[i]);
	}
	cr_assert_eq(nvme_tcp_tx_pdu_iov(&pdu, out, 2), -ENOSPC, "3 entries do not fit in 2");

	p.pda = 2; /* 12-byte alignment: not a power of two */
	nvme_tcp_tx_pdu_init(&pdu, T_CMD);
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, &p, &iov, 1, 0, 40), 0, "seal");
	cr_assert_eq(pdu.hdr.common.pdo, 84, "72 + 4 rounded up to 12: expected 84, got %u",
		     pdu.hdr.common.pdo);
	p.pda = 17; /* the largest PDO there is: 76 rounded up to 72 */
	nvme_tcp_tx_pdu_init(&pdu, T_CMD);
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, &p, &iov, 1, 0, 40), 0, "seal");
	cr_assert_eq(pdu.hdr.common.pdo, 144, "expected PDO 144, got %u", pdu.hdr.common.pdo);
	cr_assert_eq(pdu.hdr_len, 144, "expected 144 header bytes to send, got %u", pdu.hdr_len);

	/* The receiver with that PDA takes the padded PDU. */
	p.pda = 31;
	r->params.pda = 31;
	put_ic(&b, T_ICRESP, true, true);
	nvme_tcp_tx_pdu_init(&pdu, T_C2H);
	pdu.hdr.c2h_data.datal = 40;
	pdu.hdr.common.flags = SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU;
	nvme_tcp_tx_pdu_seal(&pdu, &p, &iov, 1, 0, 40);
	put(&b, &pdu);
	feed_stream(r, b.buf, b.len, FEED_BYTES);
	cr_assert_eq(r->ddgst_ok, 1, "padded C2H: expected 1 good data digest, got %u",
		     r->ddgst_ok);
	cr_assert_eq(r->dest[DEST_SKIP], 0x5C, "padded C2H data not in place");
	free(r);
}

Test(tcp_tx, data_digest_over_iovecs)
{
	uint8_t buf[1000];
	struct iovec iov[4];

	for (size_t i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)(i * 31 + 7);
	}
	iov[0] = (struct iovec){buf, 10};
	iov[1] = (struct iovec){buf + 10, 0};
	iov[2] = (struct iovec){buf + 10, 500};
	iov[3] = (struct iovec){buf + 510, 490};
	for (uint32_t off = 0; off < 600; off += 97) {
		uint32_t want = spio_crc32c(buf + off, 300);
		uint32_t got = nvme_tcp_data_digest(iov, 4, off, 300);

		cr_assert_eq(got, want, "offset %u: expected 0x%08x, got 0x%08x", off, want, got);
	}
	cr_assert_eq(nvme_tcp_data_digest(NULL, 3, 0, 10), 0, "no data: CRC of nothing is 0");
	cr_assert_eq(nvme_tcp_hdr_digest("123456789", 9), 0xE3069283u, "CRC32C check value");
}

/*
 * Random input never crashes and fails cleanly.
 */

struct fuzz {
	uint32_t seed;
	unsigned headers; /* data PDUs that reached on_header */
	unsigned pdus;	  /* PDUs after IC delivered */
};

static int fuzz_on_header(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
			  struct iovec **iov, int *iovcnt, uint32_t *off)
{
	static uint8_t sink[4096];
	static struct iovec v[2] = {{sink, 100}, {sink + 100, sizeof(sink) - 100}};
	struct fuzz *f = ctx;
	uint32_t *seed = &f->seed;

	f->headers++;
	switch (rnd(seed) % 4) {
	case 0:
		return -(int)(rnd(seed) % 6 + 1);
	case 1:
		return 0; /* discard */
	default:
		if (data_len > sizeof(sink)) {
			return 0;
		}
		*iov = v;
		*iovcnt = 2;
		*off = 0;
		return (int)(rnd(seed) % 2);
	}
}

static int fuzz_on_pdu(void *ctx, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	struct fuzz *f = ctx;

	f->pdus += hdr->common.pdu_type != T_ICREQ && hdr->common.pdu_type != T_ICRESP;
	return rnd(&f->seed) % 8 == 0 ? NVME_TCP_RX_PAUSE : 0;
}

/* One valid PDU the peer of `role` may send, with random data, appended at `len`. */
static size_t fuzz_valid_pdu(uint8_t *buf, size_t len, size_t cap, enum nvme_tcp_role role,
			     const struct nvme_tcp_tx_params *tp, uint32_t *seed)
{
	static const uint8_t to_host[] = {T_RESP, T_C2H, T_R2T, T_C2H_TERM};
	static const uint8_t to_ctrlr[] = {T_CMD, T_CMD, T_H2C, T_H2C_TERM};
	static uint8_t payload[600];
	uint8_t type =
	    role == NVME_TCP_ROLE_HOST ? to_host[rnd(seed) % 4] : to_ctrlr[rnd(seed) % 4];
	uint32_t dlen = type == T_RESP || type == T_R2T || (type == T_CMD && rnd(seed) % 2)
			    ? 0
			    : rnd(seed) % sizeof(payload) + 1;
	struct iovec iov = {payload, dlen};
	struct nvme_tcp_tx_pdu pdu;
	uint8_t hdr[24];

	if (type == T_H2C_TERM || type == T_C2H_TERM) {
		nvme_tcp_term_req_build(&pdu, type, (uint16_t)(rnd(seed) % 7), rnd(seed), hdr,
					rnd(seed) % 25);
	} else {
		nvme_tcp_tx_pdu_init(&pdu, type);
		pdu.hdr.c2h_data.datal = dlen; /* same place in H2C; harmless in others */
		pdu.hdr.r2t.r2tl = type == T_R2T ? 4096 : pdu.hdr.r2t.r2tl;
		pdu.hdr.common.flags = type == T_C2H ? SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU : 0;
		nvme_tcp_tx_pdu_seal(&pdu, tp, &iov, 1, 0, dlen);
	}
	if (len + nvme_tcp_tx_pdu_len(&pdu) > cap) {
		return len;
	}
	return len + flatten(&pdu, buf + len, cap - len);
}

/* A valid stream (IC and a few PDUs) for the rx's params, then a few random mutations. */
static size_t fuzz_input(uint8_t *buf, size_t cap, enum nvme_tcp_role role,
			 const struct nvme_tcp_rx_params *p, uint32_t *seed)
{
	struct nvme_tcp_tx_params tp = {p->hdgst, p->ddgst, p->pda};
	struct nvme_tcp_tx_pdu ic;
	size_t len = NVME_TCP_IC_HLEN, npdus = rnd(seed) % 5, nmut = rnd(seed) % 4;

	if (role == NVME_TCP_ROLE_HOST) {
		nvme_tcp_ic_resp_build(&ic, 0, p->hdgst, p->ddgst, 8192);
	} else {
		nvme_tcp_ic_req_build(&ic, 0, p->hdgst, p->ddgst, 0);
	}
	memcpy(buf, ic.hdr.raw, NVME_TCP_IC_HLEN);
	for (size_t i = 0; i < npdus; i++) {
		len = fuzz_valid_pdu(buf, len, cap, role, &tp, seed);
	}
	for (size_t i = 0; i < nmut; i++) {
		buf[rnd(seed) % len] = (uint8_t)rnd(seed);
	}
	if (rnd(seed) % 8 == 0) {
		/* Pure noise after the IC PDU. */
		len = NVME_TCP_IC_HLEN + rnd(seed) % (cap - NVME_TCP_IC_HLEN);
		for (size_t i = NVME_TCP_IC_HLEN; i < len; i++) {
			buf[i] = (uint8_t)rnd(seed);
		}
	}
	return len;
}

Test(tcp_rx, random_bytes_never_crash)
{
	static const struct nvme_tcp_rx_ops ops = {fuzz_on_header, fuzz_on_pdu};
	static uint8_t buf[4096];
	struct fuzz f = {0xC0FFEE, 0, 0};
	uint32_t *seed = &f.seed;
	unsigned failed = 0;

	for (int it = 0; it < 5000; it++) {
		enum nvme_tcp_role role = it % 2 ? NVME_TCP_ROLE_HOST : NVME_TCP_ROLE_CTRLR;
		struct nvme_tcp_rx_params p = {rnd(seed) & 1, rnd(seed) & 1, rnd(seed) % 32,
					       rnd(seed) % 700, rnd(seed) % 700};
		size_t len = fuzz_input(buf, sizeof(buf), role, &p, seed), pos = 0;
		struct nvme_tcp_rx rx;
		ssize_t rc = 0;

		nvme_tcp_rx_init(&rx, role);
		nvme_tcp_rx_set_params(&rx, &p);
		while (pos < len) {
			size_t chunk = rnd_chunk(seed, len - pos, 64);

			rc = nvme_tcp_rx_feed(&rx, buf + pos, chunk, &ops, &f);
			if (rc < 0) {
				break;
			}
			cr_assert(rc > 0 && rc <= (ssize_t)chunk, "consumed %zd of %zu", rc, chunk);
			pos += (size_t)rc;
		}
		if (rc < 0) {
			cr_assert_eq(rc, -EPROTO, "iteration %d: expected -EPROTO, got %zd", it,
				     rc);
			cr_assert(rx.err.fes >= 1 && rx.err.fes <= 6 && rx.err.reason != NULL,
				  "iteration %d: FES %u must be 1..6 with a reason", it,
				  rx.err.fes);
			failed++;
		}
	}
	/* The input must reach past the first checks, not only fail there. */
	cr_assert(failed > 500 && f.headers > 1000 && f.pdus > 1000,
		  "expected deep coverage: %u failed, %u data headers, %u PDUs", failed, f.headers,
		  f.pdus);
}
