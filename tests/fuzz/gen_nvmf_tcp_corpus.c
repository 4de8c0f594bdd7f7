/*
 * Writes the seed corpus of the nvmf_tcp fuzzer (tests/fuzz/corpus/nvmf_tcp/):
 * valid host streams built with the PDU codec, and the host-to-target
 * streams of SPDK's captures when their directory is given.
 *
 *   gen_nvmf_tcp_corpus OUT_DIR [CAPTURE_DIR]
 *
 * CAPTURE_DIR: ../shared/testdata/spdk/nvme-tcp (tcp-nodigest.pcap,
 * tcp-digest.pcap: SPDK's initiator against SPDK's target). Their I/O queue
 * Connect is changed to name the fuzzer's controller and host ID
 * (nvmf_tcp_input.h), and their digests recomputed.
 *
 * Each seed's chunks end where a host would wait for the target: after the
 * ICReq and after a Connect (until the Connect is answered a queue holds a
 * single command).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/nvme_spec.h"
#include "spio/util.h"

#include "nvme/nvme_fabric.h"
#include "nvme/nvme_tcp_pdu.h"
#include "nvmf_tcp_input.h"

#define GEN_MAX (256u * 1024)

struct gen {
	uint8_t buf[GEN_MAX];
	size_t len;
	struct nvme_tcp_tx_params tx;
	uint16_t chunk[FZ_MAX_CHUNKS];
	uint32_t nchunks;
	size_t cut; /* end of the last chunk */
	uint16_t cid;
};

static const char *g_out;
static int g_files;

static void fail(const char *what)
{
	fprintf(stderr, "gen_nvmf_tcp_corpus: %s\n", what);
	exit(1);
}

static void gen_start(struct gen *g)
{
	memset(g, 0, sizeof(*g));
	g->cid = 1;
}

static void put(struct gen *g, const void *p, size_t n)
{
	if (g->len + n > sizeof(g->buf)) {
		fail("seed too long");
	}
	memcpy(g->buf + g->len, p, n);
	g->len += n;
}

static void put_pdu(struct gen *g, const struct nvme_tcp_tx_pdu *pdu)
{
	struct iovec iov[8];
	int n = nvme_tcp_tx_pdu_iov(pdu, iov, SPIO_COUNTOF(iov));

	if (n < 0) {
		fail("PDU iovecs");
	}
	for (int i = 0; i < n; i++) {
		put(g, iov[i].iov_base, iov[i].iov_len);
	}
}

/* The host waits here for the target (a chunk ends). */
static void host_waits(struct gen *g)
{
	if (g->nchunks == FZ_MAX_CHUNKS || g->len - g->cut > UINT16_MAX) {
		fail("too many or too long chunks");
	}
	g->chunk[g->nchunks++] = (uint16_t)(g->len - g->cut);
	g->cut = g->len;
}

static void save_kept(struct gen *g, const char *name, enum fz_end end, uint8_t kept)
{
	uint8_t hdr[1 + 2 * FZ_MAX_CHUNKS];
	size_t hlen = fz_input_header_write(hdr, end, kept, g->chunk, g->nchunks);
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", g_out, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(hdr, 1, hlen, f) != hlen ||
	    fwrite(g->buf, 1, g->len, f) != g->len || fclose(f) != 0) {
		fprintf(stderr, "gen_nvmf_tcp_corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	g_files++;
}

static void save(struct gen *g, const char *name, enum fz_end end)
{
	save_kept(g, name, end, 0);
}

static void ic(struct gen *g, uint8_t hpda, bool hdgst, bool ddgst)
{
	struct nvme_tcp_tx_pdu pdu;

	nvme_tcp_ic_req_build(&pdu, hpda, hdgst, ddgst, 0);
	put_pdu(g, &pdu);
	/* The target's CPDA is 0: the host's PDUs need no alignment. */
	g->tx = (struct nvme_tcp_tx_params){.hdgst = hdgst, .ddgst = ddgst, .pda = 0};
	host_waits(g);
}

/*
 * A capsule: `len` bytes of `data` in it, or (data NULL) a transport SGL
 * of `len` bytes whose data follows an R2T or comes back as C2HData.
 * \return its CID.
 */
static uint16_t capsule(struct gen *g, struct spio_nvme_cmd *cmd, const void *data, uint32_t len)
{
	struct iovec iov = {.iov_base = (void *)(uintptr_t)data, .iov_len = len};
	struct spio_nvme_sgl_descriptor *sgl = &cmd->dptr.sgl1;
	struct nvme_tcp_tx_pdu pdu;

	cmd->cid = g->cid++;
	cmd->psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	memset(sgl, 0, sizeof(*sgl));
	sgl->unkeyed.length = len;
	if (data != NULL) {
		sgl->unkeyed.type = SPIO_NVME_SGL_TYPE_DATA_BLOCK;
		sgl->unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_OFFSET;
	} else {
		sgl->unkeyed.type = SPIO_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
		sgl->unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_TRANSPORT;
	}
	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD);
	pdu.hdr.capsule_cmd.ccsqe = *cmd;
	if (nvme_tcp_tx_pdu_seal(&pdu, &g->tx, data ? &iov : NULL, data ? 1 : 0, 0,
				 data ? len : 0) != 0) {
		fail("capsule");
	}
	put_pdu(g, &pdu);
	return cmd->cid;
}

static void h2c(struct gen *g, uint16_t cid, uint16_t ttag, uint32_t datao, const uint8_t *data,
		uint32_t len, bool last)
{
	struct iovec iov = {.iov_base = (void *)(uintptr_t)data, .iov_len = len};
	struct nvme_tcp_tx_pdu pdu;

	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_H2C_DATA);
	pdu.hdr.h2c_data.cccid = cid;
	pdu.hdr.h2c_data.ttag = ttag;
	pdu.hdr.h2c_data.datao = datao;
	pdu.hdr.h2c_data.datal = len;
	if (last) {
		pdu.hdr.common.flags |= SPIO_NVME_TCP_H2C_DATA_FLAGS_LAST_PDU;
	}
	if (nvme_tcp_tx_pdu_seal(&pdu, &g->tx, &iov, 1, 0, len) != 0) {
		fail("H2CData");
	}
	put_pdu(g, &pdu);
}

static void add_connect(struct gen *g, const char *subnqn, uint16_t qid, uint16_t entries,
			uint8_t cattr, uint32_t kato_ms)
{
	static const uint8_t hostid[16] = FZ_HOSTID;
	struct spio_nvmf_fabric_connect_data data;
	struct spio_nvme_cmd cmd;

	nvme_fabric_connect_cmd_build(&cmd, qid, (uint16_t)(entries - 1), kato_ms, cattr);
	if (nvme_fabric_connect_data_build(&data, hostid,
					   qid == 0 ? SPIO_NVMF_CNTLID_DYNAMIC : FZ_IO_CNTLID,
					   subnqn, FZ_HOSTNQN) != 0) {
		fail("connect data");
	}
	capsule(g, &cmd, &data, sizeof(data));
}

static void prop_set(struct gen *g, uint32_t ofst, uint64_t value)
{
	struct spio_nvme_cmd cmd;

	nvme_fabric_prop_set_build(&cmd, ofst, 4, value);
	capsule(g, &cmd, NULL, 0);
}

static void prop_get(struct gen *g, uint32_t ofst, uint8_t size)
{
	struct spio_nvme_cmd cmd;

	nvme_fabric_prop_get_build(&cmd, ofst, size);
	capsule(g, &cmd, NULL, 0);
}

static void admin(struct gen *g, uint8_t opc, uint32_t nsid, uint32_t cdw10, uint32_t cdw11,
		  uint32_t len)
{
	struct spio_nvme_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = opc;
	cmd.nsid = nsid;
	cmd.cdw10 = cdw10;
	cmd.cdw11 = cdw11;
	capsule(g, &cmd, NULL, len);
}

static void get_log(struct gen *g, uint8_t lid, uint32_t len)
{
	uint32_t numd = len / 4 - 1;

	admin(g, SPIO_NVME_OPC_GET_LOG_PAGE, SPIO_NVME_GLOBAL_NS_TAG, lid | (numd & 0xffff) << 16,
	      numd >> 16, len);
}

/* ICReq, Connect to `subnqn` with a new controller, CC.EN. */
static void bringup(struct gen *g, const char *subnqn, bool hdgst, bool ddgst, uint8_t hpda)
{
	union spio_nvme_cc_register cc = {.raw = 0};

	ic(g, hpda, hdgst, ddgst);
	add_connect(g, subnqn, 0, FZ_MAX_AQ_DEPTH, 0, 0);
	host_waits(g);
	prop_get(g, SPIO_NVME_REG_CAP, 8);
	prop_get(g, SPIO_NVME_REG_VS, 4);
	cc.bits.en = 1;
	cc.bits.iosqes = 6;
	cc.bits.iocqes = 4;
	prop_set(g, SPIO_NVME_REG_CC, cc.raw);
	prop_get(g, SPIO_NVME_REG_CSTS, 4);
}

/* What a host asks a new controller: identify, logs, features, keep-alive, AER, abort. */
static void admin_commands(struct gen *g)
{
	uint16_t aer;

	admin(g, SPIO_NVME_OPC_IDENTIFY, 0, SPIO_NVME_IDENTIFY_CTRLR, 0, 4096);
	admin(g, SPIO_NVME_OPC_IDENTIFY, 0, SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST, 0, 4096);
	admin(g, SPIO_NVME_OPC_IDENTIFY, 1, SPIO_NVME_IDENTIFY_NS, 0, 4096);
	admin(g, SPIO_NVME_OPC_IDENTIFY, 1, SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, 0, 4096);
	get_log(g, SPIO_NVME_LOG_ERROR, 64);
	get_log(g, SPIO_NVME_LOG_HEALTH_INFORMATION, 512);
	get_log(g, SPIO_NVME_LOG_CHANGED_NS_LIST, 4096);
	admin(g, SPIO_NVME_OPC_GET_FEATURES, 0, SPIO_NVME_FEAT_NUMBER_OF_QUEUES, 0, 0);
	admin(g, SPIO_NVME_OPC_SET_FEATURES, 0, SPIO_NVME_FEAT_NUMBER_OF_QUEUES, 0x00030003, 0);
	admin(g, SPIO_NVME_OPC_SET_FEATURES, 0, SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION, 0x100, 0);
	admin(g, SPIO_NVME_OPC_GET_FEATURES, 0, SPIO_NVME_FEAT_KEEP_ALIVE_TIMER, 0, 0);
	admin(g, SPIO_NVME_OPC_SET_FEATURES, 0, SPIO_NVME_FEAT_KEEP_ALIVE_TIMER, 10000, 0);
	admin(g, SPIO_NVME_OPC_KEEP_ALIVE, 0, 0, 0, 0);
	admin(g, SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0, 0);
	aer = (uint16_t)(g->cid - 1);
	admin(g, SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0, 0);
	admin(g, SPIO_NVME_OPC_ABORT, 0, (uint32_t)aer << 16, 0, 0);
}

static void rw(struct gen *g, uint8_t opc, uint64_t slba, uint32_t nlb, const void *data,
	       uint32_t len)
{
	struct spio_nvme_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = opc;
	cmd.nsid = 1;
	cmd.cdw10 = (uint32_t)slba;
	cmd.cdw11 = (uint32_t)(slba >> 32);
	cmd.cdw12 = nlb - 1;
	capsule(g, &cmd, data, len);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
	}
}

/* ICReq and a Connect of I/O queue 1 to the fuzzer's controller. */
static void io_queue(struct gen *g, bool hdgst, bool ddgst, uint8_t cattr)
{
	ic(g, 0, hdgst, ddgst);
	add_connect(g, FZ_SUBNQN, 1, FZ_MAX_QUEUE_DEPTH, cattr, 0);
	host_waits(g);
}

static void seeds_built(void)
{
	static uint8_t data[16384];
	struct spio_nvme_dsm_range ranges[2];
	struct nvme_tcp_tx_pdu pdu;
	struct gen *g = malloc(sizeof(*g));
	uint16_t cid;

	if (g == NULL) {
		fail("no memory");
	}
	fill(data, sizeof(data), 7);

	gen_start(g);
	ic(g, 0, false, false);
	save(g, "icreq", FZ_END_SETTLE);

	gen_start(g);
	ic(g, 2, true, true);
	save(g, "icreq-hpda2-digests", FZ_END_SETTLE);

	gen_start(g);
	ic(g, 0, false, false);
	add_connect(g, FZ_SUBNQN, 0, FZ_MAX_AQ_DEPTH, 0, 30000);
	host_waits(g);
	save(g, "admin-connect", FZ_END_SETTLE);

	gen_start(g);
	bringup(g, FZ_SUBNQN, false, false, 0);
	admin_commands(g);
	save(g, "admin-identify-logs-features", FZ_END_SETTLE);

	gen_start(g);
	bringup(g, FZ_SUBNQN, true, true, 0);
	admin_commands(g);
	save(g, "admin-identify-digests", FZ_END_SETTLE);

	/* The target pads its PDUs to the host's alignment. */
	gen_start(g);
	bringup(g, FZ_SUBNQN, true, false, 3);
	admin(g, SPIO_NVME_OPC_IDENTIFY, 0, SPIO_NVME_IDENTIFY_CTRLR, 0, 4096);
	get_log(g, SPIO_NVME_LOG_HEALTH_INFORMATION, 512);
	save(g, "admin-hpda3-hdgst", FZ_END_SETTLE);

	/* Shutdown through CC.SHN, then a reset (CC.EN 0). */
	gen_start(g);
	bringup(g, FZ_SUBNQN, false, false, 0);
	admin(g, SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0, 0);
	prop_set(g, SPIO_NVME_REG_CC, 0x00460001 | 1u << 14);
	prop_get(g, SPIO_NVME_REG_CSTS, 4);
	prop_set(g, SPIO_NVME_REG_CC, 0);
	prop_get(g, SPIO_NVME_REG_CSTS, 4);
	save(g, "admin-shutdown-reset", FZ_END_SETTLE);

	gen_start(g);
	bringup(g, SPIO_NVMF_DISCOVERY_NQN, false, false, 0);
	admin(g, SPIO_NVME_OPC_IDENTIFY, 0, SPIO_NVME_IDENTIFY_CTRLR, 0, 4096);
	get_log(g, SPIO_NVME_LOG_DISCOVERY, 4096);
	admin(g, SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0, 0);
	save(g, "discovery-log", FZ_END_SETTLE);

	/* In-capsule write, read back, with and without digests. */
	for (int dg = 0; dg < 2; dg++) {
		gen_start(g);
		io_queue(g, dg, dg, 0);
		rw(g, SPIO_NVME_OPC_WRITE, 8, 8, data, 4096);
		rw(g, SPIO_NVME_OPC_READ, 8, 8, NULL, 4096);
		rw(g, SPIO_NVME_OPC_READ, 0, 1, NULL, 512);
		save(g, dg ? "io-write-icd-read-digests" : "io-write-icd-read", FZ_END_SETTLE);
	}

	/* R2T: the first command after the Connect has transfer tag 1. */
	gen_start(g);
	io_queue(g, false, false, 0);
	cid = g->cid;
	rw(g, SPIO_NVME_OPC_WRITE, 64, 32, NULL, 16384);
	h2c(g, cid, 1, 0, data, 8192, false);
	h2c(g, cid, 1, 8192, data + 8192, 8192, true);
	rw(g, SPIO_NVME_OPC_READ, 64, 32, NULL, 16384);
	save(g, "io-write-r2t-read", FZ_END_SETTLE);

	gen_start(g);
	io_queue(g, true, true, 0);
	cid = g->cid;
	rw(g, SPIO_NVME_OPC_WRITE, 128, 16, NULL, 8192);
	h2c(g, cid, 1, 0, data, 8192, true);
	rw(g, SPIO_NVME_OPC_READ, 128, 16, NULL, 8192);
	save(g, "io-write-r2t-digests", FZ_END_SETTLE);

	/* More 128 KiB reads than the buffer pool holds: some wait for buffers. */
	gen_start(g);
	io_queue(g, false, false, 0);
	for (int i = 0; i < 5; i++) {
		rw(g, SPIO_NVME_OPC_READ, (uint64_t)i * 256, 256, NULL, 131072);
	}
	save(g, "io-reads-wait-for-buffers", FZ_END_SETTLE);
	/* ... and more without reading the answers: the target's sends block. */
	gen_start(g);
	io_queue(g, false, false, 0);
	for (int i = 0; i < 8; i++) {
		rw(g, SPIO_NVME_OPC_READ, (uint64_t)i * 256, 256, NULL, 131072);
	}
	save(g, "io-reads-host-not-reading", FZ_END_NO_READ);

	/* Every other I/O command, and commands the namespace refuses. */
	gen_start(g);
	io_queue(g, false, false, 0);
	rw(g, SPIO_NVME_OPC_FLUSH, 0, 1, NULL, 0);
	rw(g, SPIO_NVME_OPC_WRITE_ZEROES, 16, 8, NULL, 0);
	memset(ranges, 0, sizeof(ranges));
	ranges[0].length = 8;
	ranges[0].starting_lba = 16;
	ranges[1].length = 16;
	ranges[1].starting_lba = 1024;
	{
		struct spio_nvme_cmd cmd;

		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = SPIO_NVME_OPC_DATASET_MANAGEMENT;
		cmd.nsid = 1;
		cmd.cdw10 = 1;	     /* two ranges, 0's based */
		cmd.cdw11 = 1u << 2; /* deallocate */
		capsule(g, &cmd, ranges, sizeof(ranges));
	}
	rw(g, SPIO_NVME_OPC_WRITE, 0, 1, data, 512);
	rw(g, SPIO_NVME_OPC_COMPARE, 0, 1, data, 512);
	rw(g, SPIO_NVME_OPC_COMPARE, 0, 1, data + 512, 512);
	rw(g, SPIO_NVME_OPC_READ, FZ_NS_BLOCKS - 1, 2, NULL, 1024);
	rw(g, SPIO_NVME_OPC_READ, 0, 2, NULL, 512);
	{
		struct spio_nvme_cmd cmd;

		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = SPIO_NVME_OPC_READ;
		cmd.nsid = 2;
		capsule(g, &cmd, NULL, 512);
		cmd.opc = 0x7e;
		cmd.nsid = 1;
		capsule(g, &cmd, NULL, 0);
	}
	save(g, "io-flush-zeroes-dsm-compare-errors", FZ_END_SETTLE);

	/* SQ flow control off: reads complete with C2HData SUCCESS alone. */
	gen_start(g);
	io_queue(g, false, false, SPIO_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW);
	rw(g, SPIO_NVME_OPC_WRITE, 32, 8, data, 4096);
	rw(g, SPIO_NVME_OPC_READ, 32, 8, NULL, 4096);
	save(g, "io-sqfc-disabled-c2h-success", FZ_END_SETTLE);

	/* The controller of the I/O queue resets or goes while commands run. */
	gen_start(g);
	io_queue(g, false, false, 0);
	cid = g->cid;
	rw(g, SPIO_NVME_OPC_WRITE, 64, 32, NULL, 16384);
	h2c(g, cid, 1, 0, data, 16384, true);
	for (int i = 0; i < 4; i++) {
		rw(g, SPIO_NVME_OPC_READ, (uint64_t)i * 256, 256, NULL, 131072);
	}
	rw(g, SPIO_NVME_OPC_WRITE, 8, 8, data, 4096);
	save_kept(g, "io-kept-ctrlr-reset", FZ_END_SETTLE, FZ_KEPT_RESET);
	save_kept(g, "io-kept-ctrlr-drop", FZ_END_SETTLE, FZ_KEPT_DROP);

	/* Hosts that leave: during commands, after a half-close, by a term req. */
	gen_start(g);
	io_queue(g, false, false, 0);
	cid = g->cid;
	rw(g, SPIO_NVME_OPC_WRITE, 64, 32, NULL, 16384);
	h2c(g, cid, 1, 0, data, 8192, false);
	rw(g, SPIO_NVME_OPC_READ, 0, 256, NULL, 131072);
	save(g, "io-close-mid-transfer", FZ_END_CLOSE);
	save(g, "io-shutdown-mid-transfer", FZ_END_SHUT_WR);

	gen_start(g);
	ic(g, 0, false, false);
	if (nvme_tcp_term_req_build(&pdu, SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ,
				    SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, 2, g->buf,
				    24) != 0) {
		fail("term req");
	}
	put_pdu(g, &pdu);
	save(g, "h2c-term-req", FZ_END_SETTLE);

	/* PDUs cut at odd places: the target reads partial headers and data. */
	gen_start(g);
	{
		size_t conn_end;

		nvme_tcp_ic_req_build(&pdu, 0, true, true, 0);
		put_pdu(g, &pdu);
		g->tx = (struct nvme_tcp_tx_params){.hdgst = true, .ddgst = true};
		add_connect(g, FZ_SUBNQN, 1, FZ_MAX_QUEUE_DEPTH, 0, 0);
		conn_end = g->len;
		rw(g, SPIO_NVME_OPC_WRITE, 8, 8, data, 4096);
		rw(g, SPIO_NVME_OPC_READ, 8, 8, NULL, 4096);
		/* Inside the ICReq's common header, its body, the Connect's header and data. */
		g->chunk[g->nchunks++] = 3;
		g->chunk[g->nchunks++] = 60;
		g->chunk[g->nchunks++] = 65;
		g->chunk[g->nchunks++] = 30;
		g->chunk[g->nchunks++] = 500;
		/* The rest of the Connect, answered before the write comes in pieces. */
		g->chunk[g->nchunks++] = (uint16_t)(conn_end - 128 - 530);
		g->chunk[g->nchunks++] = 37;
		g->chunk[g->nchunks++] = 2000;
	}
	save(g, "io-split-everywhere-digests", FZ_END_SETTLE);
	free(g);
}

/*
 * SPDK's captures
 */

struct seg {
	uint32_t seq;
	uint32_t len;
	const uint8_t *data;
};

struct flow {
	uint16_t sport;
	uint32_t isn;
	struct seg *segs;
	size_t nsegs;
};

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL) {
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fail("cannot read a capture");
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static int seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return (int32_t)(x->seq - y->seq) < 0 ? -1 : x->seq != y->seq;
}

/*
 * The host-to-port-4420 TCP streams of a classic pcap (Ethernet, IPv4), in
 * the order the connections opened. \return the number of flows.
 */
static size_t pcap_flows(const uint8_t *p, size_t len, struct flow *flows, size_t max)
{
	size_t n = 0;

	if (len < 24 || p[0] != 0xd4 || p[1] != 0xc3 || p[2] != 0xb2 || p[3] != 0xa1) {
		fail("not a little-endian classic pcap");
	}
	for (size_t off = 24; off + 16 <= len;) {
		uint32_t incl =
		    p[off + 8] | p[off + 9] << 8 | p[off + 10] << 16 | (uint32_t)p[off + 11] << 24;
		const uint8_t *pkt = p + off + 16, *ip, *tcp;
		uint32_t ihl, tot, doff, seq;
		uint16_t sport, dport;
		struct flow *fl = NULL;

		off += 16 + incl;
		if (off > len || incl < 14 + 20 + 20 || be16(pkt + 12) != 0x0800) {
			continue;
		}
		ip = pkt + 14;
		ihl = (ip[0] & 15u) * 4;
		tot = be16(ip + 2);
		if (ip[9] != 6 || tot > incl - 14 || tot < ihl + 20) {
			continue;
		}
		tcp = ip + ihl;
		sport = be16(tcp);
		dport = be16(tcp + 2);
		seq = be32(tcp + 4);
		doff = (tcp[12] >> 4) * 4u;
		if (dport != 4420 || doff > tot - ihl) {
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			if (flows[i].sport == sport) {
				fl = &flows[i];
			}
		}
		if (tcp[13] & 2) { /* SYN */
			if (fl == NULL && n < max) {
				fl = &flows[n++];
				memset(fl, 0, sizeof(*fl));
				fl->sport = sport;
			}
			if (fl != NULL) {
				fl->isn = seq + 1;
			}
			continue;
		}
		if (fl == NULL || tot - ihl - doff == 0) {
			continue;
		}
		fl->segs = realloc(fl->segs, (fl->nsegs + 1) * sizeof(*fl->segs));
		fl->segs[fl->nsegs++] =
		    (struct seg){.seq = seq, .len = tot - ihl - doff, .data = tcp + doff};
	}
	return n;
}

/* Reassemble a flow (retransmissions dropped). \return bytes, or 0 on a gap. */
static size_t flow_bytes(struct flow *fl, uint8_t *out, size_t max)
{
	uint32_t next = fl->isn;
	size_t len = 0;

	qsort(fl->segs, fl->nsegs, sizeof(*fl->segs), seg_cmp);
	for (size_t i = 0; i < fl->nsegs; i++) {
		const struct seg *s = &fl->segs[i];
		uint32_t skip = next - s->seq;

		if ((int32_t)(s->seq - next) > 0) {
			return 0;
		}
		if (skip >= s->len) {
			continue;
		}
		if (len + s->len - skip > max) {
			break;
		}
		memcpy(out + len, s->data + skip, s->len - skip);
		len += s->len - skip;
		next = s->seq + s->len;
	}
	return len;
}

/*
 * A captured stream as a seed: chunks after the ICReq and the Connect, at
 * most `max_pdus` PDUs, an I/O queue's Connect pointed at the fuzzer's
 * controller (with a queue size it takes).
 */
static void capture_seed(const uint8_t *s, size_t len, size_t max_pdus, const char *name)
{
	static const uint8_t hostid[16] = FZ_HOSTID;
	struct gen *g = malloc(sizeof(*g));
	size_t offs[1024];
	size_t n = fz_stream_pdus(s, len, offs, SPIO_COUNTOF(offs));
	size_t end = len;

	if (g == NULL || n < 2) {
		fail("capture stream without PDUs");
	}
	gen_start(g);
	if (n > max_pdus) {
		end = offs[max_pdus];
	}
	put(g, s, end);
	for (size_t i = 0; i < n && offs[i] < end; i++) {
		uint8_t *p = g->buf + offs[i];
		struct spio_nvmf_fabric_connect_cmd cc;
		struct spio_nvmf_fabric_connect_data d;

		/* Copies: a PDU in the stream has no alignment. */
		memcpy(&cc, p + 8, sizeof(cc));
		if (p[0] != SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD ||
		    cc.opcode != SPIO_NVME_OPC_FABRIC ||
		    cc.fctype != SPIO_NVMF_FABRIC_COMMAND_CONNECT || p[3] == 0 ||
		    offs[i] + p[3] + sizeof(d) > end) {
			continue;
		}
		if (cc.qid != 0) {
			cc.sqsize = FZ_MAX_QUEUE_DEPTH - 1;
			memcpy(p + 8, &cc, sizeof(cc));
			memcpy(&d, p + p[3], sizeof(d));
			d.cntlid = FZ_IO_CNTLID;
			memcpy(d.hostid, hostid, sizeof(hostid));
			memset(d.hostnqn, 0, sizeof(d.hostnqn));
			memcpy(d.hostnqn, FZ_HOSTNQN, strlen(FZ_HOSTNQN));
			memcpy(p + p[3], &d, sizeof(d));
		}
		/* Wait after the ICReq and after the Connect. */
		g->len = offs[i];
		host_waits(g);
		g->len = i + 1 < n && offs[i + 1] < end ? offs[i + 1] : end;
		host_waits(g);
		g->len = end;
	}
	fz_stream_fix_digests(g->buf, g->len);
	save(g, name, FZ_END_SETTLE);
	free(g);
}

static void seeds_captured(const char *dir)
{
	static const char *const caps[] = {"tcp-nodigest", "tcp-digest"};
	static const char *const conns[] = {"identify-admin", "perf-admin", "perf-io"};
	static uint8_t stream[1u << 20];

	for (size_t c = 0; c < SPIO_COUNTOF(caps); c++) {
		struct flow flows[8];
		char path[4096];
		size_t plen, n;
		uint8_t *pcap;

		snprintf(path, sizeof(path), "%s/%s.pcap", dir, caps[c]);
		pcap = read_file(path, &plen);
		if (pcap == NULL) {
			fprintf(stderr, "gen_nvmf_tcp_corpus: %s: %s (skipped)\n", path,
				strerror(errno));
			continue;
		}
		n = pcap_flows(pcap, plen, flows, SPIO_COUNTOF(flows));
		/* spdk_nvme_identify has no digest option: its stream is in both captures. */
		for (size_t i = c > 0 ? 1 : 0; i < n && i < SPIO_COUNTOF(conns); i++) {
			size_t len = flow_bytes(&flows[i], stream, sizeof(stream));
			char name[128];

			snprintf(name, sizeof(name), "spdk-%s-%s", caps[c] + 4, conns[i]);
			if (len == 0) {
				fprintf(stderr, "gen_nvmf_tcp_corpus: %s: gap in a stream\n", name);
				continue;
			}
			/* The I/O queue: the Connect and the first dozen reads and writes. */
			capture_seed(stream, len, i == 2 ? 10 : 64, name);
		}
		for (size_t i = 0; i < n; i++) {
			free(flows[i].segs);
		}
		free(pcap);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s OUT_DIR [CAPTURE_DIR]\n", argv[0]);
		return 2;
	}
	g_out = argv[1];
	seeds_built();
	if (argc > 2) {
		seeds_captured(argv[2]);
	}
	printf("gen_nvmf_tcp_corpus: %d seeds written to %s\n", g_files, g_out);
	return 0;
}
