/*
 * Writes the seed corpus of the nvmf_cmd fuzzer (format: nvmf_cmd_input.h):
 *
 *   gen_nvmf_cmd_corpus DIR
 *
 * One file per scenario: every Identify CNS, log pages with offsets,
 * features, keep-alive / abort / AERs, refused admin opcodes, properties,
 * reset and shutdown under I/O, reads / writes / compares on both
 * namespaces, write zeroes, flush, dataset management, invalid I/O,
 * pipelined commands beyond the queue depth, error injections, dropped
 * queues, namespace 2 removed and added back under I/O, and the inputs that connect queues
 * themselves (admin, I/O, discovery, refused connects).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/nvme_spec.h"
#include "spio/util.h"

#include "nvme/nvme_fabric.h"
#include "nvmf_cmd_input.h"

#define SEED_MAX 65536

struct seed {
	uint8_t buf[SEED_MAX];
	size_t len;
	uint16_t cid;
};

static const char *g_dir;
static unsigned g_files;

static void begin(struct seed *s, uint8_t flags, uint8_t split_seed)
{
	s->buf[0] = flags;
	s->buf[1] = split_seed;
	s->len = NC_HDR_LEN;
	s->cid = 1;
}

static void rec(struct seed *s, uint8_t rflags, struct spio_nvme_cmd *cmd, uint32_t len,
		const void *data, uint32_t data_len)
{
	uint16_t field = (uint16_t)len;

	if ((rflags & NC_R_QUEUE_MASK) != NC_Q_CTL) {
		cmd->cid = s->cid++;
	}
	if (len > UINT16_MAX) {
		rflags |= NC_R_UNITS;
		field = (uint16_t)(len / 512);
	}
	if (!nc_input_put(s->buf, sizeof(s->buf), &s->len, rflags, cmd, field, data,
			  (uint16_t)data_len)) {
		fprintf(stderr, "gen_nvmf_cmd_corpus: seed too long\n");
		exit(1);
	}
}

static void save(const struct seed *s, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0) {
		fprintf(stderr, "gen_nvmf_cmd_corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	g_files++;
}

/*
 * Commands
 */

static struct spio_nvme_cmd admin(uint8_t opc, uint32_t nsid, uint32_t cdw10, uint32_t cdw11)
{
	struct spio_nvme_cmd c;

	memset(&c, 0, sizeof(c));
	c.opc = opc;
	c.nsid = nsid;
	c.cdw10 = cdw10;
	c.cdw11 = cdw11;
	/* What a host puts there; the core must not care. */
	c.psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	c.dptr.sgl1.unkeyed.type = SPIO_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
	c.dptr.sgl1.unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_TRANSPORT;
	return c;
}

static struct spio_nvme_cmd io(uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb)
{
	struct spio_nvme_cmd c = admin(opc, nsid, (uint32_t)slba, (uint32_t)(slba >> 32));

	c.cdw12 = (nlb - 1) & 0xffff;
	return c;
}

static struct spio_nvme_cmd log_page(uint8_t lid, uint32_t len, uint64_t offset, bool rae)
{
	uint32_t numd = len / 4 - 1;
	struct spio_nvme_cmd c = admin(SPIO_NVME_OPC_GET_LOG_PAGE, 0,
				       lid | (rae ? 1u << 15 : 0) | (numd << 16), numd >> 16);

	c.cdw12 = (uint32_t)offset;
	c.cdw13 = (uint32_t)(offset >> 32);
	return c;
}

static struct spio_nvme_cmd ctl(uint8_t action, uint32_t a, uint32_t b, uint32_t c3, uint32_t d)
{
	struct spio_nvme_cmd c;

	memset(&c, 0, sizeof(c));
	c.opc = action;
	c.cdw10 = a;
	c.cdw11 = b;
	c.cdw12 = c3;
	c.cdw13 = d;
	c.cdw14 = 0x5a;
	return c;
}

static struct spio_nvme_cmd prop_get(uint32_t ofst, uint8_t size)
{
	struct spio_nvme_cmd c;

	nvme_fabric_prop_get_build(&c, ofst, size);
	return c;
}

static struct spio_nvme_cmd prop_set(uint32_t ofst, uint8_t size, uint64_t value)
{
	struct spio_nvme_cmd c;

	nvme_fabric_prop_set_build(&c, ofst, size, value);
	return c;
}

static uint32_t cc_enable(void)
{
	union spio_nvme_cc_register cc = {.raw = 0};

	cc.bits.en = 1;
	cc.bits.iosqes = 6;
	cc.bits.iocqes = 4;
	return cc.raw;
}

static void put(struct seed *s, uint8_t q, struct spio_nvme_cmd c, uint32_t len)
{
	rec(s, q, &c, len, NULL, 0);
}

static void put_data(struct seed *s, uint8_t q, struct spio_nvme_cmd c, uint32_t len,
		     const void *data, uint32_t data_len)
{
	rec(s, q, &c, len, data, data_len);
}

static void connect(struct seed *s, uint8_t q, uint16_t qid, uint16_t sqsize, uint16_t cntlid,
		    const char *subnqn, const char *hostnqn, uint32_t len)
{
	static const uint8_t hostid[16] = NC_HOSTID;
	struct spio_nvmf_fabric_connect_data data;
	struct spio_nvme_cmd c;

	nvme_fabric_connect_cmd_build(&c, qid, sqsize, qid == 0 ? 10000 : 0, 0);
	nvme_fabric_connect_data_build(&data, hostid, cntlid, subnqn, hostnqn);
	rec(s, q, &c, len, &data, SPIO_MIN(len, (uint32_t)sizeof(data)));
}

static uint8_t g_pattern[16384];

/*
 * Seeds
 */

static void seed_identify(struct seed *s)
{
	static const uint32_t nsids[] = {0, 1, 2, 3, 5, 0xfffffffeu, 0xffffffffu};

	begin(s, 0, 0);
	for (uint32_t cns = 0; cns <= 3; cns++) {
		for (size_t i = 0; i < SPIO_COUNTOF(nsids); i++) {
			put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, nsids[i], cns, 0), 4096);
		}
	}
	for (uint32_t cns = 4; cns <= 0x1c; cns += 3) {
		put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 1, cns, 0), 4096);
	}
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 512);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 8192);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 1, 0, 0), 4095);
	save(s, "admin-identify-all-cns");

	begin(s, NC_F_SPLIT, 7);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 4096);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 1, 0, 0), 6000);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 1, 3, 0), 4096);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 2, 0), 4096);
	save(s, "admin-identify-split-buffers");
}

static void seed_logs(struct seed *s)
{
	static const uint8_t lids[] = {0, 1, 2, 3, 4, 5, 6, 0x70, 0x80, 0xff};

	begin(s, 0, 0);
	for (size_t i = 0; i < SPIO_COUNTOF(lids); i++) {
		put(s, NC_Q_ADMIN, log_page(lids[i], 512, 0, false), 512);
	}
	put(s, NC_Q_ADMIN, log_page(2, 512, 508, false), 512);
	put(s, NC_Q_ADMIN, log_page(2, 64, 512, false), 64);
	put(s, NC_Q_ADMIN, log_page(2, 64, 2, false), 64);
	put(s, NC_Q_ADMIN, log_page(2, 1024, 0, false), 512);
	put(s, NC_Q_ADMIN, log_page(2, 4, 0, false), 4096);
	put(s, NC_Q_ADMIN, log_page(3, 512, 0x100000000ull, false), 512);
	put(s, NC_Q_ADMIN, log_page(4, 4096, 0, true), 4096);
	put(s, NC_Q_ADMIN, log_page(4, 4096, 4092, false), 8);
	put(s, NC_Q_ADMIN, log_page(5, 4096, 0, false), 4096);
	put(s, NC_Q_ADMIN, log_page(5, 1024, 3072, false), 4096);
	put(s, NC_Q_ADMIN, log_page(1, 65536, 0, false), 65536);
	put(s, NC_Q_ADMIN, log_page(1, 64, 0xfffffffffffffffcull, false), 64);
	put(s, NC_Q_ADMIN, log_page(2, 512, 0, false), 0);
	save(s, "admin-log-pages-offsets");

	/* Counters in the health log after I/O. */
	begin(s, 0, 0);
	put_data(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE, 1, 0, 16), 8192, g_pattern, 512);
	put(s, NC_Q_IO2, io(SPIO_NVME_OPC_READ, 1, 0, 16), 8192);
	put(s, NC_Q_ADMIN, log_page(2, 512, 0, false), 512);
	save(s, "admin-log-health-after-io");
}

static void seed_features(struct seed *s)
{
	static const uint8_t fids[] = {1, 2,	3,    4,    5,	  6,	7,   8,
				       9, 0x0a, 0x0b, 0x0f, 0x80, 0x81, 0xff};

	begin(s, 0, 0);
	for (size_t i = 0; i < SPIO_COUNTOF(fids); i++) {
		put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_GET_FEATURES, 0, fids[i], 0), 0);
	}
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_GET_FEATURES, 0, 0x81, 1), 16);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_GET_FEATURES, 0, 0x81, 1), 8);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_GET_FEATURES, 0, 4, 0x8f), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_GET_FEATURES, 9, 1, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_GET_FEATURES, 0xffffffffu, 7, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_GET_FEATURES, 0, 0x809, 0), 0);
	save(s, "admin-get-features");

	begin(s, 0, 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 1, 0xffffffffu), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 2, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 2, 1), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 4, 0x0150), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 4, 0x00a00000), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 5, 1u << 16), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 6, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 7, 0x00030003), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 7, 0xffffffffu), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 8, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 0x0a, 1), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 0x0b, 0x80000fffu), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 0x0f, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 0x0f, 0xffffffffu), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 0x0f, 150), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_GET_FEATURES, 0, 0x0f, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 0x81, 1), 16);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 0x80000001u, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 1, 0x0b, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 1, 0x05, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 0x42, 0), 0);
	save(s, "admin-set-features");
}

static void seed_misc_admin(struct seed *s)
{
	static const uint8_t refused[] = {
	    SPIO_NVME_OPC_DELETE_IO_SQ,
	    SPIO_NVME_OPC_CREATE_IO_SQ,
	    SPIO_NVME_OPC_DELETE_IO_CQ,
	    SPIO_NVME_OPC_CREATE_IO_CQ,
	    SPIO_NVME_OPC_NS_MANAGEMENT,
	    SPIO_NVME_OPC_FIRMWARE_COMMIT,
	    SPIO_NVME_OPC_FIRMWARE_IMAGE_DOWNLOAD,
	    SPIO_NVME_OPC_DEVICE_SELF_TEST,
	    SPIO_NVME_OPC_NS_ATTACHMENT,
	    SPIO_NVME_OPC_DIRECTIVE_SEND,
	    SPIO_NVME_OPC_DIRECTIVE_RECEIVE,
	    SPIO_NVME_OPC_VIRTUALIZATION_MANAGEMENT,
	    SPIO_NVME_OPC_DOORBELL_BUFFER_CONFIG,
	    SPIO_NVME_OPC_FORMAT_NVM,
	    SPIO_NVME_OPC_SECURITY_SEND,
	    SPIO_NVME_OPC_SECURITY_RECEIVE,
	    SPIO_NVME_OPC_SANITIZE,
	    SPIO_NVME_OPC_GET_LBA_STATUS,
	    0xc1,
	    0xff,
	};
	struct spio_nvme_cmd c;

	begin(s, 0, 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_KEEP_ALIVE, 0, 0, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_KEEP_ALIVE, 1, 0, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_ABORT, 0, 0x00010001, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_ABORT, 1, 0x00050000, 0), 0);
	for (int i = 0; i < 6; i++) {
		put(s, NC_Q_ADMIN | NC_R_NOWAIT, admin(SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0),
		    0);
	}
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 1, 0, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 4096);
	save(s, "admin-keepalive-abort-aer");

	begin(s, 0, 0);
	for (size_t i = 0; i < SPIO_COUNTOF(refused); i++) {
		put(s, NC_Q_ADMIN, admin(refused[i], 1, 0, 0), (refused[i] & 3) != 0 ? 4096 : 0);
	}
	c = admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0);
	c.fuse = SPIO_NVME_CMD_FUSE_FIRST;
	put(s, NC_Q_ADMIN, c, 4096);
	/* Bidirectional: refused by the transport. */
	put(s, NC_Q_ADMIN, admin(0x0f, 0, 0, 0), 512);
	save(s, "admin-refused-opcodes");

	begin(s, 0, 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CAP, 8), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CAP, 4), 0);
	put(s, NC_Q_ADMIN, prop_get(4, 4), 0);
	put(s, NC_Q_ADMIN, prop_get(2, 4), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_VS, 4), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_VS, 8), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CC, 4), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CSTS, 4), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_NSSR, 4), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_AQA, 4), 0);
	put(s, NC_Q_ADMIN, prop_get(0xfffffffcu, 8), 0);
	c = prop_get(SPIO_NVME_REG_CC, 4);
	((struct spio_nvmf_fabric_prop_get_cmd *)&c)->attrib.size = 3;
	put(s, NC_Q_ADMIN, c, 0);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_VS, 4, 0), 0);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_CAP, 8, 0), 0);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_CSTS, 4, 0x10), 0);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_NSSR, 4, 0x4e564d65), 0);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_CC, 4, cc_enable() | (1u << 7)), 0);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_CC, 4, cc_enable() | (3u << 14)), 0);
	/* Fabrics commands that are no property: Connect again, Disconnect, unknown. */
	c = prop_get(0, 4);
	((struct spio_nvmf_capsule_cmd *)&c)->fctype = SPIO_NVMF_FABRIC_COMMAND_CONNECT;
	put(s, NC_Q_ADMIN, c, 1024);
	((struct spio_nvmf_capsule_cmd *)&c)->fctype = SPIO_NVMF_FABRIC_COMMAND_DISCONNECT;
	put(s, NC_Q_ADMIN, c, 0);
	((struct spio_nvmf_capsule_cmd *)&c)->fctype = 0xc3;
	put(s, NC_Q_ADMIN, c, 64);
	save(s, "admin-properties");
}

static void seed_reset(struct seed *s)
{
	/* CC.EN 0 with writes in flight on both I/O queues, then enabled again. */
	begin(s, 0, 0);
	put(s, NC_Q_ADMIN | NC_R_NOWAIT, admin(SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0), 0);
	for (uint32_t i = 0; i < 4; i++) {
		put_data(s, NC_Q_IO1 | NC_R_NOWAIT, io(SPIO_NVME_OPC_WRITE, 1, i * 8, 8), 4096,
			 g_pattern, 512);
		put(s, NC_Q_IO2 | NC_R_NOWAIT, io(SPIO_NVME_OPC_READ, 2, i, 1), 4096);
	}
	put(s, NC_Q_ADMIN | NC_R_NOWAIT, prop_set(SPIO_NVME_REG_CC, 4, 0), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CSTS, 4), 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0, 1), 512);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 4096);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_CC, 4, cc_enable()), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 4096);
	save(s, "admin-reset-under-io");

	/* Shutdown with I/O in flight; commands after it. */
	begin(s, 0, 0);
	for (uint32_t i = 0; i < 3; i++) {
		put(s, NC_Q_IO1 | NC_R_NOWAIT, io(SPIO_NVME_OPC_READ, 1, i, 2), 1024);
	}
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_CC, 4, cc_enable() | (1u << 14)), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CSTS, 4), 0);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_CC, 4, cc_enable()), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_KEEP_ALIVE, 0, 0, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 7, 0), 0);
	save(s, "admin-shutdown-under-io");

	/* Number of Queues with I/O queues present: refused. */
	begin(s, 0, 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 7, 0x00010001), 0);
	save(s, "admin-number-of-queues-late");
}

static void seed_io(struct seed *s)
{
	struct spio_nvme_cmd c;
	uint8_t ranges[64] = {0};
	struct spio_nvme_dsm_range r[4];

	begin(s, 0, 0);
	put_data(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE, 1, 0, 8), 4096, g_pattern, 4096);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0, 8), 4096);
	put_data(s, NC_Q_IO2, io(SPIO_NVME_OPC_COMPARE, 1, 0, 8), 4096, g_pattern, 4096);
	put_data(s, NC_Q_IO2, io(SPIO_NVME_OPC_COMPARE, 1, 0, 8), 4096, g_pattern + 1, 4096);
	put_data(s, NC_Q_IO1, io(SPIO_NVME_OPC_COMPARE, 1, 100, 2), 1024, NULL, 0);
	c = io(SPIO_NVME_OPC_WRITE, 1, 8, 4);
	c.cdw12 |= 1u << 30; /* FUA */
	put_data(s, NC_Q_IO1, c, 2048, g_pattern + 100, 2048);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 4, 8), 4096);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 255, 1), 512);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 255, 2), 1024);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 256, 1), 512);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0xffffffffffffffffull, 2), 1024);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0, 8), 2048);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0, 8), 8192);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0, 8), 0);
	put_data(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE, 1, 250, 8), 4096, g_pattern, 16);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0, 256), 131072);
	save(s, "io-read-write-compare-ns1");

	begin(s, NC_F_SPLIT, 3);
	put_data(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE, 1, 3, 20), 10240, g_pattern, 2048);
	put(s, NC_Q_IO2, io(SPIO_NVME_OPC_READ, 1, 0, 32), 16384);
	put_data(s, NC_Q_IO1, io(SPIO_NVME_OPC_COMPARE, 1, 3, 20), 10240, g_pattern, 2048);
	put_data(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE, 2, 1, 2), 8192, g_pattern, 512);
	put(s, NC_Q_IO2, io(SPIO_NVME_OPC_READ, 2, 0, 4), 16384);
	save(s, "io-split-buffers");

	begin(s, 0, 0);
	put_data(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE, 2, 0, 1), 4096, g_pattern, 256);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 2, 0, 1), 4096);
	put_data(s, NC_Q_IO1, io(SPIO_NVME_OPC_COMPARE, 2, 0, 1), 4096, g_pattern, 256);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 2, 63, 2), 8192);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 2, 0, 1), 512);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE_ZEROES, 2, 0, 64), 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_FLUSH, 2, 0, 1), 0);
	save(s, "io-ns2-4k-blocks");

	begin(s, 0, 0);
	put_data(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE, 1, 0, 16), 8192, g_pattern, 1024);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE_ZEROES, 1, 2, 4), 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0, 16), 8192);
	c = io(SPIO_NVME_OPC_WRITE_ZEROES, 1, 0, 1);
	c.cdw12 |= 1u << 25;
	put(s, NC_Q_IO1, c, 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE_ZEROES, 1, 200, 100), 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_FLUSH, 1, 0, 1), 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_FLUSH, 1, 0, 1), 512);
	memset(r, 0, sizeof(r));
	r[0].starting_lba = 0;
	r[0].length = 4;
	r[1].starting_lba = 10;
	r[1].length = 0;
	r[2].starting_lba = 250;
	r[2].length = 6;
	memcpy(ranges, r, 48);
	c = admin(SPIO_NVME_OPC_DATASET_MANAGEMENT, 1, 2, SPIO_NVME_DSM_ATTR_DEALLOCATE);
	put_data(s, NC_Q_IO1, c, 48, ranges, 48);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0, 8), 4096);
	c = admin(SPIO_NVME_OPC_DATASET_MANAGEMENT, 1, 0, 1);
	put_data(s, NC_Q_IO1, c, 16, ranges, 16);
	r[0].starting_lba = 255;
	r[0].length = 2;
	memcpy(ranges, r, 16);
	c = admin(SPIO_NVME_OPC_DATASET_MANAGEMENT, 1, 0, SPIO_NVME_DSM_ATTR_DEALLOCATE);
	put_data(s, NC_Q_IO1, c, 16, ranges, 16);
	c = admin(SPIO_NVME_OPC_DATASET_MANAGEMENT, 1, 255, SPIO_NVME_DSM_ATTR_DEALLOCATE);
	put_data(s, NC_Q_IO1, c, 64, ranges, 64);
	c = admin(SPIO_NVME_OPC_DATASET_MANAGEMENT, 2, 0, SPIO_NVME_DSM_ATTR_DEALLOCATE);
	r[0].starting_lba = 1;
	r[0].length = 63;
	memcpy(ranges, r, 16);
	put_data(s, NC_Q_IO2, c, 16, ranges, 16);
	save(s, "io-write-zeroes-flush-dsm");

	begin(s, 0, 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 0, 0, 1), 512);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 3, 0, 1), 512);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 0xffffffffu, 0, 1), 512);
	c = io(SPIO_NVME_OPC_COMPARE, 1, 0, 1);
	c.fuse = SPIO_NVME_CMD_FUSE_FIRST;
	put(s, NC_Q_IO1, c, 512);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE_UNCORRECTABLE, 1, 0, 1), 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_VERIFY, 1, 0, 1), 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_RESERVATION_REGISTER, 1, 0, 1), 512);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_COPY, 1, 0, 1), 512);
	put(s, NC_Q_IO1, io(0x81, 1, 0, 1), 512);
	put(s, NC_Q_IO1, io(0x03, 1, 0, 1), 512);
	put(s, NC_Q_IO1, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 4096);
	put(s, NC_Q_IO1, prop_get(SPIO_NVME_REG_CAP, 8), 0);
	put(s, NC_Q_IO1, prop_set(SPIO_NVME_REG_CC, 4, 0), 0);
	c = io(SPIO_NVME_OPC_READ, 1, 0, 1);
	memset(&c.dptr, 0xee, sizeof(c.dptr));
	c.mptr = 0xdeadbeef;
	c.psdt = 1;
	put(s, NC_Q_IO1, c, 512);
	save(s, "io-invalid-and-garbage-sgl");

	/* More than the queue depth in flight on both queues. */
	begin(s, NC_F_NO_SQFC, 0);
	for (uint32_t i = 0; i < 40; i++) {
		uint8_t q = (i & 1) ? NC_Q_IO2 : NC_Q_IO1;

		if (i % 3 == 0) {
			put_data(s, q | NC_R_NOWAIT, io(SPIO_NVME_OPC_WRITE, 1, i * 4, 4), 2048,
				 g_pattern + i, 64);
		} else {
			put(s, q | NC_R_NOWAIT, io(SPIO_NVME_OPC_READ, 1, i, 4), 2048);
		}
	}
	put(s, NC_Q_CTL, ctl(NC_CTL_SETTLE, 0, 0, 0, 0), 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0, 128), 65536);
	save(s, "io-pipeline-beyond-depth");
}

static void seed_inject(struct seed *s)
{
	/* Each error type on each I/O type of namespace 2. */
	for (uint32_t err = 0; err < 4; err++) {
		char name[64];

		begin(s, 0, 0);
		for (uint32_t type = 0; type < 5; type++) {
			uint8_t range[16] = {0};

			range[0] = 2;
			put(s, NC_Q_CTL, ctl(NC_CTL_INJECT, type, err, 1, 7), 0);
			put(s, NC_Q_IO1 | NC_R_NOWAIT, io(SPIO_NVME_OPC_READ, 2, 1, 1), 4096);
			put_data(s, NC_Q_IO2 | NC_R_NOWAIT, io(SPIO_NVME_OPC_WRITE, 2, 2, 1), 4096,
				 g_pattern, 64);
			put_data(s, NC_Q_IO1 | NC_R_NOWAIT,
				 admin(SPIO_NVME_OPC_DATASET_MANAGEMENT, 2, 0,
				       SPIO_NVME_DSM_ATTR_DEALLOCATE),
				 16, range, 16);
			put(s, NC_Q_IO2 | NC_R_NOWAIT, io(SPIO_NVME_OPC_FLUSH, 2, 0, 1), 0);
			put_data(s, NC_Q_IO1 | NC_R_NOWAIT, io(SPIO_NVME_OPC_COMPARE, 2, 2, 1),
				 4096, g_pattern, 64);
			put(s, NC_Q_CTL, ctl(NC_CTL_SETTLE, 0, 0, 0, 0), 0);
		}
		put(s, NC_Q_CTL, ctl(NC_CTL_RESUME, 0, 0, 0, 0), 0);
		put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 2, 0, 4), 16384);
		snprintf(name, sizeof(name), "inject-%s",
			 err == 0   ? "failure"
			 : err == 1 ? "pending"
			 : err == 2 ? "corrupt"
				    : "nomem");
		save(s, name);
	}

	/* Held I/O while its queue, then the admin queue, go. */
	begin(s, 0, 0);
	put(s, NC_Q_CTL, ctl(NC_CTL_INJECT, 4, 1, 7, 0), 0);
	for (uint32_t i = 0; i < 4; i++) {
		put(s, NC_Q_IO1 | NC_R_NOWAIT, io(SPIO_NVME_OPC_READ, 2, i, 1), 4096);
	}
	put(s, NC_Q_IO2 | NC_R_NOWAIT, io(SPIO_NVME_OPC_READ, 1, 0, 1), 512);
	put(s, NC_Q_CTL, ctl(NC_CTL_DROP, 1, 0, 0, 0), 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0, 1), 512);
	put(s, NC_Q_ADMIN | NC_R_NOWAIT, admin(SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0), 0);
	put(s, NC_Q_CTL, ctl(NC_CTL_DROP, 0, 0, 0, 0), 0);
	put(s, NC_Q_IO2, io(SPIO_NVME_OPC_READ, 1, 0, 1), 512);
	save(s, "drop-queues-with-held-io");

	begin(s, 0, 0);
	for (uint32_t i = 0; i < 8; i++) {
		put_data(s, NC_Q_IO1 | NC_R_NOWAIT, io(SPIO_NVME_OPC_WRITE, 1, i, 1), 512,
			 g_pattern, 512);
	}
	put(s, NC_Q_ADMIN | NC_R_NOWAIT, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 4096);
	put(s, NC_Q_CTL, ctl(NC_CTL_DROP, 0, 0, 0, 0), 0);
	save(s, "drop-admin-under-io");
}

static void seed_ns_change(struct seed *s)
{
	/* Namespace 2 goes under I/O and comes back: events, changed list, inactive NSID. */
	begin(s, 0, 0);
	put(s, NC_Q_ADMIN | NC_R_NOWAIT, admin(SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0), 0);
	put(s, NC_Q_ADMIN | NC_R_NOWAIT, admin(SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0), 0);
	for (uint32_t i = 0; i < 4; i++) {
		put(s, NC_Q_IO1 | NC_R_NOWAIT, io(SPIO_NVME_OPC_READ, 2, i, 1), 4096);
	}
	put(s, NC_Q_CTL, ctl(NC_CTL_NS, 0, 0, 0, 0), 0);
	put(s, NC_Q_IO2, io(SPIO_NVME_OPC_READ, 2, 0, 1), 4096);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 2, 0, 0), 4096);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 2, 0), 4096);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 2, 3, 0), 4096);
	put(s, NC_Q_CTL, ctl(NC_CTL_SETTLE, 0, 0, 0, 0), 0);
	put(s, NC_Q_ADMIN, log_page(SPIO_NVME_LOG_CHANGED_NS_LIST, 4096, 0, false), 4096);
	put(s, NC_Q_CTL, ctl(NC_CTL_NS, 1, 0, 0, 0), 0);
	put(s, NC_Q_IO1 | NC_R_NOWAIT, io(SPIO_NVME_OPC_READ, 2, 0, 1), 4096);
	put(s, NC_Q_CTL, ctl(NC_CTL_SETTLE, 0, 0, 0, 0), 0);
	put(s, NC_Q_ADMIN | NC_R_NOWAIT, admin(SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0), 0);
	put(s, NC_Q_ADMIN, log_page(SPIO_NVME_LOG_CHANGED_NS_LIST, 8, 0, true), 8);
	put(s, NC_Q_IO2, io(SPIO_NVME_OPC_READ, 2, 0, 1), 4096);
	save(s, "ns-remove-and-add-under-io");

	/* Removal waiting for I/O a pending injection holds; the removal left to the end. */
	begin(s, 0, 0);
	put(s, NC_Q_CTL, ctl(NC_CTL_INJECT, 0, 1, 3, 0), 0);
	for (uint32_t i = 0; i < 3; i++) {
		put(s, NC_Q_IO1 | NC_R_NOWAIT, io(SPIO_NVME_OPC_READ, 2, i, 1), 4096);
	}
	put(s, NC_Q_CTL, ctl(NC_CTL_NS, 0, 0, 0, 0), 0);
	put(s, NC_Q_CTL, ctl(NC_CTL_NS, 1, 0, 0, 0), 0);
	put(s, NC_Q_IO2 | NC_R_NOWAIT, io(SPIO_NVME_OPC_WRITE, 2, 0, 1), 4096);
	put(s, NC_Q_ADMIN | NC_R_NOWAIT, admin(SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0), 0);
	put(s, NC_Q_CTL, ctl(NC_CTL_SETTLE, 0, 0, 0, 0), 0);
	save(s, "ns-remove-with-held-io");
}

static void seed_raw(struct seed *s)
{
	/* The host's own bring-up: admin Connect, CC.EN, both I/O queues, I/O. */
	begin(s, NC_F_RAW_ADMIN, 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 4096);
	connect(s, NC_Q_ADMIN, 0, 31, SPIO_NVMF_CNTLID_DYNAMIC, NC_SUBNQN, NC_HOSTNQN, 1024);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CAP, 8), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 4096);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_CC, 4, cc_enable()), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CSTS, 4), 0);
	connect(s, NC_Q_IO1, 1, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	connect(s, NC_Q_IO2, 2, 15, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	put_data(s, NC_Q_IO1, io(SPIO_NVME_OPC_WRITE, 1, 0, 1), 512, g_pattern, 512);
	put(s, NC_Q_IO2, io(SPIO_NVME_OPC_READ, 1, 0, 1), 512);
	save(s, "raw-connect-admin-and-io");

	/* CC.EN 1 again while the reset still waits for a held I/O queue to go. */
	begin(s, NC_F_RAW_IO, 0);
	connect(s, NC_Q_IO1, 1, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	put(s, NC_Q_CTL, ctl(NC_CTL_INJECT, 0, 1, 0, 0), 0);
	put(s, NC_Q_IO1 | NC_R_NOWAIT, io(SPIO_NVME_OPC_READ, 2, 0, 1), 4096);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_CC, 4, cc_enable() & ~1u), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CSTS, 4), 0);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_CC, 4, cc_enable()), 0);
	connect(s, NC_Q_IO2, 2, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	put(s, NC_Q_IO2, io(SPIO_NVME_OPC_READ, 1, 0, 1), 512);
	put(s, NC_Q_CTL, ctl(NC_CTL_RESUME, 0, 0, 0, 0), 0);
	put(s, NC_Q_CTL, ctl(NC_CTL_SETTLE, 0, 0, 0, 0), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CC, 4), 0);
	put(s, NC_Q_CTL, ctl(NC_CTL_DROP, 2, 0, 0, 0), 0);
	put(s, NC_Q_CTL, ctl(NC_CTL_SETTLE, 0, 0, 0, 0), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CC, 4), 0);
	put(s, NC_Q_ADMIN, prop_get(SPIO_NVME_REG_CSTS, 4), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 4096);
	save(s, "raw-enable-during-reset");

	/* Refused connects, then one that works, on the I/O queues. */
	begin(s, NC_F_RAW_IO, 0);
	put(s, NC_Q_IO1, io(SPIO_NVME_OPC_READ, 1, 0, 1), 512);
	connect(s, NC_Q_IO1, 1, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 512);
	connect(s, NC_Q_IO1, 1, 32, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	connect(s, NC_Q_IO1, 5, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	connect(s, NC_Q_IO1, 1, 31, 7, NC_SUBNQN, NC_HOSTNQN, 1024);
	connect(s, NC_Q_IO1, 1, 31, NC_CNTLID, NC_SUBNQN, "nqn.2014-08.org.other:host", 1024);
	connect(s, NC_Q_IO1, 1, 31, NC_CNTLID, "nqn.2016-06.io.spdk:nope", NC_HOSTNQN, 1024);
	connect(s, NC_Q_IO1, 1, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	/* Same qid on the other queue: in use, looked at again, refused. */
	connect(s, NC_Q_IO2, 1, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	connect(s, NC_Q_IO2, 4, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	put(s, NC_Q_IO2, io(SPIO_NVME_OPC_READ, 1, 0, 1), 512);
	save(s, "raw-connect-io-refusals");

	/* Two connects at once on one queue; the second controller on an "I/O" queue. */
	begin(s, NC_F_RAW_ADMIN, 0);
	connect(s, NC_Q_ADMIN | NC_R_NOWAIT, 0, 31, SPIO_NVMF_CNTLID_DYNAMIC, NC_SUBNQN, NC_HOSTNQN,
		1024);
	connect(s, NC_Q_ADMIN, 0, 31, SPIO_NVMF_CNTLID_DYNAMIC, NC_SUBNQN, NC_HOSTNQN, 1024);
	connect(s, NC_Q_IO1, 0, 7, SPIO_NVMF_CNTLID_DYNAMIC, NC_SUBNQN, NC_HOSTNQN, 1024);
	connect(s, NC_Q_IO2 | NC_R_NOWAIT, 1, 7, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	put(s, NC_Q_IO1, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 4096);
	put(s, NC_Q_IO1, admin(SPIO_NVME_OPC_KEEP_ALIVE, 0, 0, 0), 0);
	put(s, NC_Q_CTL, ctl(NC_CTL_DROP, 0, 0, 0, 0), 0);
	save(s, "raw-connect-twice-two-controllers");

	/* Queues that go while their Connect is at the target thread. */
	begin(s, NC_F_RAW_ADMIN, 0);
	connect(s, NC_Q_ADMIN | NC_R_NOWAIT, 0, 31, SPIO_NVMF_CNTLID_DYNAMIC, NC_SUBNQN, NC_HOSTNQN,
		1024);
	put(s, NC_Q_CTL, ctl(NC_CTL_DROP, 0, 0, 0, 0), 0);
	connect(s, NC_Q_IO1, 0, 31, SPIO_NVMF_CNTLID_DYNAMIC, NC_SUBNQN, NC_HOSTNQN, 1024);
	put(s, NC_Q_IO1, prop_set(SPIO_NVME_REG_CC, 4, cc_enable()), 0);
	connect(s, NC_Q_IO2 | NC_R_NOWAIT, 1, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	put(s, NC_Q_CTL, ctl(NC_CTL_DROP, 1, 0, 0, 0), 0);
	put(s, NC_Q_IO2, io(SPIO_NVME_OPC_READ, 1, 0, 1), 512);
	save(s, "raw-drop-during-connect");

	/* A duplicate qid waits for its re-check; its queue, then the first one, go. */
	begin(s, NC_F_RAW_IO, 0);
	connect(s, NC_Q_IO1, 1, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	connect(s, NC_Q_IO2 | NC_R_NOWAIT, 1, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	put(s, NC_Q_CTL, ctl(NC_CTL_DROP, 1, 0, 0, 0), 0);
	put(s, NC_Q_IO2 | NC_R_NOWAIT, io(SPIO_NVME_OPC_READ, 1, 0, 1), 512);
	put(s, NC_Q_CTL, ctl(NC_CTL_SETTLE, 0, 0, 0, 0), 0);
	put(s, NC_Q_IO2, io(SPIO_NVME_OPC_READ, 1, 0, 1), 512);
	save(s, "raw-duplicate-qid-recheck");

	begin(s, NC_F_RAW_IO, 0);
	connect(s, NC_Q_IO1, 1, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	connect(s, NC_Q_IO2 | NC_R_NOWAIT, 1, 31, NC_CNTLID, NC_SUBNQN, NC_HOSTNQN, 1024);
	put(s, NC_Q_CTL, ctl(NC_CTL_DROP, 2, 0, 0, 0), 0);
	put(s, NC_Q_CTL, ctl(NC_CTL_DROP, 0, 0, 0, 0), 0);
	save(s, "raw-duplicate-qid-dropped");

	/* A discovery controller. */
	begin(s, NC_F_RAW_ADMIN, 0);
	connect(s, NC_Q_ADMIN, 0, 31, SPIO_NVMF_CNTLID_DYNAMIC, SPIO_NVMF_DISCOVERY_NQN, NC_HOSTNQN,
		1024);
	put(s, NC_Q_ADMIN, prop_set(SPIO_NVME_REG_CC, 4, cc_enable()), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0), 4096);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_IDENTIFY, 1, 0, 0), 4096);
	put(s, NC_Q_ADMIN, log_page(SPIO_NVME_LOG_DISCOVERY, 4096, 0, false), 4096);
	put(s, NC_Q_ADMIN, log_page(SPIO_NVME_LOG_DISCOVERY, 16, 1024, true), 16);
	put(s, NC_Q_ADMIN, log_page(SPIO_NVME_LOG_DISCOVERY, 16, 1u << 20, false), 16);
	put(s, NC_Q_ADMIN, log_page(2, 512, 0, false), 512);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_GET_FEATURES, 0, 0x0f, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_SET_FEATURES, 0, 0x0b, 0x80000000u), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_GET_FEATURES, 0, 0x07, 0), 0);
	put(s, NC_Q_ADMIN, admin(SPIO_NVME_OPC_ABORT, 0, 0, 0), 0);
	put(s, NC_Q_ADMIN | NC_R_NOWAIT, admin(SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0), 0);
	connect(s, NC_Q_IO1, 1, 31, NC_CNTLID, SPIO_NVMF_DISCOVERY_NQN, NC_HOSTNQN, 1024);
	save(s, "raw-discovery-controller");
}

int main(int argc, char **argv)
{
	static struct seed s;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	g_dir = argv[1];
	for (size_t i = 0; i < sizeof(g_pattern); i++) {
		g_pattern[i] = (uint8_t)(i * 7 + (i >> 8));
	}
	seed_identify(&s);
	seed_logs(&s);
	seed_features(&s);
	seed_misc_admin(&s);
	seed_reset(&s);
	seed_io(&s);
	seed_inject(&s);
	seed_ns_change(&s);
	seed_raw(&s);
	printf("gen_nvmf_cmd_corpus: %u seeds in %s\n", g_files, g_dir);
	return 0;
}
