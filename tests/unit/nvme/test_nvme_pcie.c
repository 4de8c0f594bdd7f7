/*
 * The NVMe PCIe transport against the fake controller in memory
 * (helper_fake_pcie): first the fake itself driven by hand as a host would
 * (so its strictness is known to work), then the driver through the public
 * API: bring-up and register sequences, queue wrap-around with phase flips,
 * PRP and SGL data paths, limits, and every fault (timeout, fatal status,
 * surprise removal, reset during I/O, reconnect). In every correct run the
 * fake must count zero host violations.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/dma.h"
#include "spio/env.h"
#include "spio/nvme.h"
#include "spio/thread.h"

#include "helper_fake_pcie.h"
#include "helper_nvme_wait.h"
#include "helper_pcie_env.h"

#define TRADDR "0000:00:04.0"

static struct spio_thread *g_thread;
static struct fake_pcie *g_fp;
static struct spio_nvme_ctrlr *g_ctrlr;
static struct spio_nvme_qpair *g_qpair;
static struct spio_nvme_ns *g_ns;

static void setup_runtime(void)
{
	g_thread = pcie_env_start("test_nvme_pcie", "nvme_pcie_test", NULL);
	wait_set_qpair_thread(&g_qpair, g_thread);
}

/* Free what a case made (qpair, controller, fake), so that another case can follow. */
static void cleanup_case(void)
{
	pcie_env_free_case(&g_qpair, &g_ctrlr, &g_fp, true);
}

static void teardown_runtime(void)
{
	cleanup_case();
	pcie_env_stop(g_thread);
}

TestSuite(fake_pcie, .init = setup_runtime, .fini = teardown_runtime, .timeout = 60);
TestSuite(nvme_pcie, .init = setup_runtime, .fini = teardown_runtime, .timeout = 60);

static void make_fake(const struct fake_pcie_opts *opts)
{
	g_fp = fake_pcie_create(opts);
	cr_assert_not_null(g_fp, "fake_pcie_create");
}

static void assert_no_violation(void)
{
	const struct fake_pcie_stats *st = fake_pcie_get_stats(g_fp);

	cr_assert_eq(st->violations, 0, "the host broke a rule %lu time(s); last: %s",
		     (unsigned long)st->violations, st->last_violation);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
}

/* ------------------------------------------------------------------ */
/* The fake driven by hand                                             */
/* ------------------------------------------------------------------ */

struct raw_host {
	void *ctx;
	volatile uint8_t *bar;
	size_t bar_len;
	uint32_t stride;
	/* queue 0 = admin, 1 = one I/O queue pair */
	struct spio_nvme_cmd *sq[2];
	struct spio_nvme_cpl *cq[2];
	uint32_t entries[2];
	uint32_t sq_tail[2], cq_head[2];
	uint8_t phase[2];
	uint16_t cid;
};

static void raw_w32(struct raw_host *h, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(h->bar + off) = v;
}

static uint32_t raw_r32(struct raw_host *h, uint32_t off)
{
	return *(volatile uint32_t *)(h->bar + off);
}

static void raw_w64(struct raw_host *h, uint32_t off, uint64_t v)
{
	raw_w32(h, off, (uint32_t)v);
	raw_w32(h, off + 4, (uint32_t)(v >> 32));
}

static void *dma(size_t len)
{
	void *p = spio_dma_zmalloc(len, 4096);

	cr_assert_not_null(p, "spio_dma_zmalloc(%zu)", len);
	return p;
}

static uint64_t iova(const void *p)
{
	return spio_vtophys(p, NULL);
}

static void raw_poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		fake_pcie_poll(g_fp);
	}
}

/* Open the fake and enable it with a 16-entry admin queue. */
static void raw_enable(struct raw_host *h)
{
	union spio_nvme_cc_register cc = {.raw = 0};
	const struct nvme_pcie_dev_ops *ops = fake_pcie_ops();
	int i;

	memset(h, 0, sizeof(*h));
	cr_assert_eq(ops->open(TRADDR, &h->ctx, &h->bar, &h->bar_len), 0);
	h->stride = 4u << ((*(volatile uint64_t *)h->bar >> 32) & 0xf);
	h->entries[0] = 16;
	h->sq[0] = dma(4096);
	h->cq[0] = dma(4096);
	h->phase[0] = 1;
	raw_w32(h, SPIO_NVME_REG_AQA, (15u << 16) | 15u);
	raw_w64(h, SPIO_NVME_REG_ASQ, iova(h->sq[0]));
	raw_w64(h, SPIO_NVME_REG_ACQ, iova(h->cq[0]));
	cc.bits.en = 1;
	cc.bits.iosqes = 6;
	cc.bits.iocqes = 4;
	raw_w32(h, SPIO_NVME_REG_CC, cc.raw);
	for (i = 0; i < 100 && !(raw_r32(h, SPIO_NVME_REG_CSTS) & 1); i++) {
		fake_pcie_poll(g_fp);
	}
	cr_assert(raw_r32(h, SPIO_NVME_REG_CSTS) & 1, "CSTS.RDY not set");
}

static void raw_close(struct raw_host *h)
{
	fake_pcie_ops()->close(h->ctx);
	for (int q = 0; q < 2; q++) {
		spio_dma_free(h->sq[q]);
		spio_dma_free(h->cq[q]);
	}
}

/* Put `cmd` at the tail of queue q (not yet rung). \return its cid. */
static uint16_t raw_queue(struct raw_host *h, int q, struct spio_nvme_cmd *cmd)
{
	cmd->cid = ++h->cid;
	h->sq[q][h->sq_tail[q]] = *cmd;
	h->sq_tail[q] = (h->sq_tail[q] + 1) % h->entries[q];
	return cmd->cid;
}

static void raw_ring(struct raw_host *h, int q)
{
	raw_w32(h, SPIO_NVME_REG_SQ0TDBL + 2 * q * h->stride, h->sq_tail[q]);
}

/* Take the next completion of queue q, if its phase says it is new. */
static bool raw_reap(struct raw_host *h, int q, struct spio_nvme_cpl *out)
{
	volatile struct spio_nvme_cpl *e = &h->cq[q][h->cq_head[q]];

	if (e->status.p != h->phase[q]) {
		return false;
	}
	*out = *(struct spio_nvme_cpl *)e;
	if (++h->cq_head[q] == h->entries[q]) {
		h->cq_head[q] = 0;
		h->phase[q] ^= 1;
	}
	raw_w32(h, SPIO_NVME_REG_SQ0TDBL + (2 * q + 1) * h->stride, h->cq_head[q]);
	return true;
}

/* Submit one command, poll, return its completion's status (sct << 8 | sc). */
static uint16_t raw_cmd(struct raw_host *h, int q, struct spio_nvme_cmd *cmd,
			struct spio_nvme_cpl *cpl_out)
{
	struct spio_nvme_cpl cpl;
	uint16_t cid = raw_queue(h, q, cmd);

	raw_ring(h, q);
	raw_poll_n(1);
	cr_assert(raw_reap(h, q, &cpl), "no completion for cid %u on queue %d", cid, q);
	cr_assert_eq(cpl.cid, cid);
	cr_assert_eq(cpl.sqid, q);
	cr_assert_eq(cpl.sqhd, h->sq_tail[q], "SQ head %u, expected %u", cpl.sqhd, h->sq_tail[q]);
	if (cpl_out != NULL) {
		*cpl_out = cpl;
	}
	return (uint16_t)(cpl.status.sct << 8 | cpl.status.sc);
}

static void raw_create_ioq(struct raw_host *h, uint32_t entries)
{
	struct spio_nvme_cmd c = {.opc = SPIO_NVME_OPC_CREATE_IO_CQ};

	h->entries[1] = entries;
	h->sq[1] = dma(entries * 64);
	h->cq[1] = dma(entries * 16);
	h->phase[1] = 1;
	c.dptr.prp.prp1 = iova(h->cq[1]);
	c.cdw10 = ((entries - 1) << 16) | 1;
	c.cdw11 = 1; /* PC */
	cr_assert_eq(raw_cmd(h, 0, &c, NULL), 0, "create CQ 1");
	memset(&c, 0, sizeof(c));
	c.opc = SPIO_NVME_OPC_CREATE_IO_SQ;
	c.dptr.prp.prp1 = iova(h->sq[1]);
	c.cdw10 = ((entries - 1) << 16) | 1;
	c.cdw11 = (1u << 16) | 1; /* CQ 1, PC */
	cr_assert_eq(raw_cmd(h, 0, &c, NULL), 0, "create SQ 1");
}

static struct spio_nvme_cmd rw_cmd(uint8_t opc, uint64_t lba, uint32_t nblocks)
{
	struct spio_nvme_cmd c = {.opc = opc, .nsid = 1};

	c.cdw10 = (uint32_t)lba;
	c.cdw11 = (uint32_t)(lba >> 32);
	c.cdw12 = nblocks - 1;
	return c;
}

#define ST(sct, sc) ((uint16_t)((sct) << 8 | (sc)))

static void case_raw_enable_identify(void)
{
	struct raw_host h;
	struct spio_nvme_cmd c = {.opc = SPIO_NVME_OPC_IDENTIFY, .cdw10 = SPIO_NVME_IDENTIFY_CTRLR};
	struct spio_nvme_ctrlr_data *cd = dma(4096);
	const struct fake_pcie_reg_write *log;
	uint32_t n;

	make_fake(NULL);
	raw_enable(&h);
	log = fake_pcie_reg_log(g_fp, &n);
	cr_assert_eq(n, 4, "AQA, ASQ, ACQ, CC expected; got %u", n);
	cr_assert_eq(log[0].off, SPIO_NVME_REG_CC, "within a poll the log is in register order");
	cr_assert_eq(log[1].off, SPIO_NVME_REG_AQA);
	cr_assert_eq(log[2].off, SPIO_NVME_REG_ASQ);
	cr_assert_eq(log[3].off, SPIO_NVME_REG_ACQ);
	cr_assert_eq(log[3].val, iova(h.cq[0]));
	c.dptr.prp.prp1 = iova(cd);
	cr_assert_eq(raw_cmd(&h, 0, &c, NULL), 0);
	cr_assert(strncmp(cd->mn, FAKE_PCIE_MN, strlen(FAKE_PCIE_MN)) == 0);
	cr_assert_eq(cd->mdts, 5);
	cr_assert_eq(cd->nn, FAKE_PCIE_MAX_NS);
	/* Unknown admin opcode. */
	memset(&c, 0, sizeof(c));
	c.opc = 0x7e;
	cr_assert_eq(raw_cmd(&h, 0, &c, NULL), ST(0, SPIO_NVME_SC_INVALID_OPCODE));
	assert_no_violation();
	/* Disable drops everything; RDY clears. */
	raw_w32(&h, SPIO_NVME_REG_CC, 0);
	raw_poll_n(1);
	cr_assert_eq(raw_r32(&h, SPIO_NVME_REG_CSTS) & 1, 0);
	cr_assert_eq(fake_pcie_get_stats(g_fp)->disables, 1);
	spio_dma_free(cd);
	raw_close(&h);
}

static void case_raw_wrap_and_cq_full(void)
{
	struct raw_host h;
	uint8_t *buf = dma(4096);
	struct spio_nvme_cpl cpl;
	const struct fake_pcie_stats *st;

	make_fake(NULL);
	raw_enable(&h);
	raw_create_ioq(&h, 4);
	/* 40 write+read pairs through a 4-entry queue: many wraps of both rings. */
	for (int i = 0; i < 40; i++) {
		struct spio_nvme_cmd c = rw_cmd(SPIO_NVME_OPC_WRITE, (uint64_t)i, 1);

		memset(buf, i, 512);
		c.dptr.prp.prp1 = iova(buf);
		cr_assert_eq(raw_cmd(&h, 1, &c, NULL), 0);
		memset(buf, 0xee, 512);
		c = rw_cmd(SPIO_NVME_OPC_READ, (uint64_t)i, 1);
		c.dptr.prp.prp1 = iova(buf);
		cr_assert_eq(raw_cmd(&h, 1, &c, NULL), 0);
		cr_assert_eq(buf[0], (uint8_t)i);
		cr_assert_eq(buf[511], (uint8_t)i);
	}
	st = fake_pcie_get_stats(g_fp);
	cr_assert_eq(st->phase_flips[1], 20, "80 completions on 4 entries: 20 wraps, got %lu",
		     (unsigned long)st->phase_flips[1]);
	cr_assert_eq(st->io_cmds[SPIO_NVME_OPC_WRITE], 40);
	/* CQ full: 3 commands fill the CQ (4 - 1 usable); 3 more wait in the SQ. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 3; i++) {
			struct spio_nvme_cmd c = {.opc = SPIO_NVME_OPC_FLUSH, .nsid = 1};

			raw_queue(&h, 1, &c);
		}
		raw_ring(&h, 1);
		raw_poll_n(2);
	}
	cr_assert_gt(st->cq_full_stalls, 0);
	cr_assert_eq(st->max_sq_occupancy[1], 3);
	for (int i = 0; i < 3; i++) {
		cr_assert(raw_reap(&h, 1, &cpl), "completion %d", i);
	}
	cr_assert(!raw_reap(&h, 1, &cpl), "a completion beyond the CQ's room");
	raw_poll_n(1); /* the head doorbell moved: the waiting three complete */
	for (int i = 0; i < 3; i++) {
		cr_assert(raw_reap(&h, 1, &cpl), "completion %d after the head moved", i);
	}
	assert_no_violation();
	/* Overfill: CQ full again, 3 waiting in the SQ, then a 4th: the tail passes the head. */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 3; i++) {
			struct spio_nvme_cmd c = {.opc = SPIO_NVME_OPC_FLUSH, .nsid = 1};

			raw_queue(&h, 1, &c);
		}
		raw_ring(&h, 1);
		raw_poll_n(1);
	}
	{
		struct spio_nvme_cmd c = {.opc = SPIO_NVME_OPC_FLUSH, .nsid = 1};

		raw_queue(&h, 1, &c);
	}
	raw_ring(&h, 1);
	raw_poll_n(1);
	cr_assert_eq(st->violations, 1, "an overfilled SQ must count");
	raw_w32(&h, SPIO_NVME_REG_SQ0TDBL + 2 * h.stride, 7); /* beyond the ring */
	raw_poll_n(1);
	cr_assert_eq(st->violations, 2, "a doorbell beyond the ring must count");
	spio_dma_free(buf);
	raw_close(&h);
}

static void case_raw_prp_rules(void)
{
	struct fake_pcie_opts o;
	struct raw_host h;
	uint8_t *data = dma(64 * 4096);
	uint64_t *list = dma(2 * 4096);
	uint8_t *heap = malloc(8192);
	const struct fake_pcie_stats *st;
	struct spio_nvme_cmd c;

	fake_pcie_opts_init(&o);
	o.mdts = 0; /* no limit: 2 MiB in the fake */
	make_fake(&o);
	st = fake_pcie_get_stats(g_fp);
	raw_enable(&h);
	raw_create_ioq(&h, 8);
	fill(data, 64 * 4096, 7);

	/* Two pages from an offset: PRP1 + PRP2 (page aligned). */
	c = rw_cmd(SPIO_NVME_OPC_WRITE, 0, 8);
	c.dptr.prp.prp1 = iova(data) + 2048;
	c.dptr.prp.prp2 = iova(data) + 4096;
	cr_assert_eq(raw_cmd(&h, 1, &c, NULL), 0);
	cr_assert(memcmp(fake_pcie_ns_data(g_fp, 1), data + 2048, 4096) == 0);
	/* PRP2 with an offset. */
	c = rw_cmd(SPIO_NVME_OPC_WRITE, 0, 16);
	c.dptr.prp.prp1 = iova(data);
	c.dptr.prp.prp2 = iova(data) + 4096 + 512;
	cr_assert_eq(raw_cmd(&h, 1, &c, NULL), ST(0, SPIO_NVME_SC_INVALID_PRP_OFFSET));
	cr_assert_eq(st->violations, 1);
	/* PRP1 not dword aligned. */
	c = rw_cmd(SPIO_NVME_OPC_READ, 0, 1);
	c.dptr.prp.prp1 = iova(data) + 2;
	cr_assert_eq(raw_cmd(&h, 1, &c, NULL), ST(0, SPIO_NVME_SC_INVALID_PRP_OFFSET));
	cr_assert_eq(st->violations, 2);
	/* Memory that is not DMA memory: refused, untouched. */
	c = rw_cmd(SPIO_NVME_OPC_READ, 0, 1);
	c.dptr.prp.prp1 = (uint64_t)(uintptr_t)heap;
	cr_assert_eq(raw_cmd(&h, 1, &c, NULL), ST(0, SPIO_NVME_SC_DATA_TRANSFER_ERROR));
	cr_assert_eq(st->violations, 3);
	/* A PRP list that starts 16 bytes before a page end: one entry, then a chain. */
	{
		uint64_t *l0 = (uint64_t *)((uint8_t *)list + 4096 - 16);
		uint32_t pages = 40;

		c = rw_cmd(SPIO_NVME_OPC_WRITE, 64, pages * 8);
		c.dptr.prp.prp1 = iova(data);
		c.dptr.prp.prp2 = iova(l0);
		l0[0] = iova(data + 4096);
		l0[1] = iova(list + 512); /* the second page of `list` */
		for (uint32_t i = 2; i < pages; i++) {
			list[512 + i - 2] = iova(data + (size_t)i * 4096);
		}
		cr_assert_eq(raw_cmd(&h, 1, &c, NULL), 0, "chained PRP list");
		cr_assert(memcmp(fake_pcie_ns_data(g_fp, 1) + 64 * 512, data, pages * 4096) == 0);
		cr_assert_eq(st->prp_chains, 1);
		/* A list entry with an offset. */
		list[512 + 5] += 8;
		cr_assert_eq(raw_cmd(&h, 1, &c, NULL), ST(0, SPIO_NVME_SC_INVALID_PRP_OFFSET));
		cr_assert_eq(st->violations, 4);
	}
	/* SGL while SGLS = 0. */
	c = rw_cmd(SPIO_NVME_OPC_READ, 0, 1);
	c.psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	c.dptr.sgl1.address = iova(data);
	c.dptr.sgl1.unkeyed.length = 512;
	cr_assert_eq(raw_cmd(&h, 1, &c, NULL), ST(0, SPIO_NVME_SC_INVALID_FIELD));
	cr_assert_eq(st->violations, 5);
	/* Above MDTS (2 MiB here). */
	c = rw_cmd(SPIO_NVME_OPC_READ, 0, 4097);
	c.dptr.prp.prp1 = iova(data);
	cr_assert_eq(raw_cmd(&h, 1, &c, NULL), ST(0, SPIO_NVME_SC_INVALID_FIELD));
	/* Out of range. */
	c = rw_cmd(SPIO_NVME_OPC_READ, (8u << 20) / 512, 1);
	c.dptr.prp.prp1 = iova(data);
	cr_assert_eq(raw_cmd(&h, 1, &c, NULL), ST(0, SPIO_NVME_SC_LBA_OUT_OF_RANGE));
	free(heap);
	spio_dma_free(list);
	spio_dma_free(data);
	raw_close(&h);
}

static void case_raw_sgl_and_queue_checks(void)
{
	struct fake_pcie_opts o;
	struct raw_host h;
	uint8_t *data = dma(8 * 4096);
	struct spio_nvme_sgl_descriptor *seg = dma(4096);
	const struct fake_pcie_stats *st;
	struct spio_nvme_cmd c;
	uint8_t *ns;

	fake_pcie_opts_init(&o);
	o.sgls = SPIO_NVME_SGLS_SUPPORTED;
	o.mqes = 63;
	make_fake(&o);
	st = fake_pcie_get_stats(g_fp);
	raw_enable(&h);

	/* Queue creation checks. */
	c = (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_CREATE_IO_CQ};
	c.dptr.prp.prp1 = iova(data);
	c.cdw10 = (3u << 16) | 0; /* qid 0 */
	c.cdw11 = 1;
	cr_assert_eq(raw_cmd(&h, 0, &c, NULL), ST(1, SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER));
	c.cdw10 = (64u << 16) | 1; /* 65 entries > MQES + 1 */
	cr_assert_eq(raw_cmd(&h, 0, &c, NULL), ST(1, SPIO_NVME_SC_INVALID_QUEUE_SIZE));
	c.cdw10 = (3u << 16) | 1;
	c.cdw11 = 0; /* PC = 0 */
	cr_assert_eq(raw_cmd(&h, 0, &c, NULL), ST(0, SPIO_NVME_SC_INVALID_FIELD));
	cr_assert_eq(st->violations, 1);
	c = (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_CREATE_IO_SQ};
	c.dptr.prp.prp1 = iova(data);
	c.cdw10 = (3u << 16) | 1;
	c.cdw11 = (2u << 16) | 1; /* CQ 2 does not exist */
	cr_assert_eq(raw_cmd(&h, 0, &c, NULL), ST(1, SPIO_NVME_SC_COMPLETION_QUEUE_INVALID));
	raw_create_ioq(&h, 8);
	c = (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_DELETE_IO_CQ, .cdw10 = 1};
	cr_assert_eq(raw_cmd(&h, 0, &c, NULL), ST(1, SPIO_NVME_SC_INVALID_QUEUE_DELETION));

	/* One data block. */
	fill(data, 8 * 4096, 3);
	ns = fake_pcie_ns_data(g_fp, 1);
	c = rw_cmd(SPIO_NVME_OPC_WRITE, 0, 2);
	c.psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	c.dptr.sgl1.address = iova(data) + 7;
	c.dptr.sgl1.unkeyed.length = 1024;
	cr_assert_eq(raw_cmd(&h, 1, &c, NULL), 0);
	cr_assert(memcmp(ns, data + 7, 1024) == 0);
	/* A last segment of three odd blocks. */
	memset(seg, 0, 4096);
	seg[0].address = iova(data) + 1;
	seg[0].unkeyed.length = 100;
	seg[1].address = iova(data) + 5000;
	seg[1].unkeyed.length = 1000;
	seg[2].address = iova(data) + 20000;
	seg[2].unkeyed.length = 436;
	c = rw_cmd(SPIO_NVME_OPC_WRITE, 10, 3);
	c.psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	c.dptr.sgl1.address = iova(seg);
	c.dptr.sgl1.unkeyed.length = 48;
	c.dptr.sgl1.unkeyed.type = SPIO_NVME_SGL_TYPE_LAST_SEGMENT;
	cr_assert_eq(raw_cmd(&h, 1, &c, NULL), 0);
	cr_assert(memcmp(ns + 5120, data + 1, 100) == 0);
	cr_assert(memcmp(ns + 5120 + 100, data + 5000, 1000) == 0);
	cr_assert(memcmp(ns + 5120 + 1100, data + 20000, 436) == 0);
	cr_assert_eq(st->violations, 1, "only the PC=0 queue so far");
	/* Lengths that do not add up. */
	seg[2].unkeyed.length = 400;
	cr_assert_eq(raw_cmd(&h, 1, &c, NULL), ST(0, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID));
	cr_assert_eq(st->violations, 2);
	/* A bad descriptor type. */
	seg[2].unkeyed.length = 436;
	seg[1].unkeyed.type = SPIO_NVME_SGL_TYPE_BIT_BUCKET;
	cr_assert_eq(raw_cmd(&h, 1, &c, NULL), ST(0, SPIO_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR));
	cr_assert_eq(st->violations, 3);
	/* SGL in an admin command. */
	c = (struct spio_nvme_cmd){.opc = SPIO_NVME_OPC_IDENTIFY, .cdw10 = 1};
	c.psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	c.dptr.sgl1.address = iova(data);
	c.dptr.sgl1.unkeyed.length = 4096;
	cr_assert_eq(raw_cmd(&h, 0, &c, NULL), ST(0, SPIO_NVME_SC_INVALID_FIELD));
	cr_assert_eq(st->violations, 4);
	spio_dma_free(seg);
	spio_dma_free(data);
	raw_close(&h);
}

static void case_raw_faults(void)
{
	struct raw_host h;
	struct spio_nvme_cpl cpl[4];
	uint16_t cids[4];
	void *ctx;
	volatile uint8_t *bar;
	size_t len;

	make_fake(NULL);
	raw_enable(&h);
	raw_create_ioq(&h, 8);
	for (int i = 0; i < 4; i++) {
		struct spio_nvme_cmd c = {.opc = SPIO_NVME_OPC_FLUSH, .nsid = 1};

		cids[i] = raw_queue(&h, 1, &c);
	}
	fake_pcie_reorder_next(g_fp);
	raw_ring(&h, 1);
	raw_poll_n(1);
	for (int i = 0; i < 4; i++) {
		cr_assert(raw_reap(&h, 1, &cpl[i]));
		cr_assert_eq(cpl[i].cid, cids[3 - i], "reversed batch");
	}
	/* Fail the next, drop the one after. */
	fake_pcie_fail_next(g_fp, 1, SPIO_NVME_SCT_MEDIA_ERROR,
			    SPIO_NVME_SC_UNRECOVERED_READ_ERROR);
	{
		struct spio_nvme_cmd c = {.opc = SPIO_NVME_OPC_FLUSH, .nsid = 1};

		cr_assert_eq(raw_cmd(&h, 1, &c, NULL),
			     ST(SPIO_NVME_SCT_MEDIA_ERROR, SPIO_NVME_SC_UNRECOVERED_READ_ERROR));
		fake_pcie_drop_next(g_fp, -1);
		raw_queue(&h, 1, &c);
		raw_ring(&h, 1);
		raw_poll_n(3);
		cr_assert(!raw_reap(&h, 1, &cpl[0]), "the dropped completion appeared");
	}
	/* Opening twice: busy. */
	cr_assert_eq(fake_pcie_ops()->open(TRADDR, &ctx, &bar, &len), -EBUSY);
	cr_assert_eq(fake_pcie_ops()->open("0000:00:05.0", &ctx, &bar, &len), -ENODEV);
	/* CFS stops execution. */
	fake_pcie_set_cfs(g_fp);
	cr_assert(raw_r32(&h, SPIO_NVME_REG_CSTS) & 2);
	/* Removal: all ones. */
	fake_pcie_hot_remove(g_fp);
	cr_assert_eq(raw_r32(&h, SPIO_NVME_REG_CSTS), UINT32_MAX);
	cr_assert(fake_pcie_ops()->is_removed(h.ctx));
	assert_no_violation();
	raw_close(&h);
}

/* ------------------------------------------------------------------ */
/* The driver through the public API                                   */
/* ------------------------------------------------------------------ */

/*
 * Results of the multi-command tests: static, so that a failed assertion
 * (which leaves the test early) cannot leave the driver completing into a
 * dead stack frame when the teardown frees the qpair.
 */
static struct io_result g_r[8];

static void make_trid(struct spio_nvme_transport_id *trid, const char *traddr)
{
	char str[128];

	snprintf(str, sizeof(str), "trtype:PCIe traddr:%s", traddr);
	cr_assert_eq(spio_nvme_transport_id_parse(trid, str), 0, "parse %s", str);
}

static void connect_ctrlr(const struct spio_nvme_ctrlr_opts *opts)
{
	struct spio_nvme_transport_id trid;

	make_trid(&trid, TRADDR);
	g_ctrlr = spio_nvme_connect(&trid, opts);
	cr_assert_not_null(g_ctrlr, "connect failed: errno %d", errno);
	g_ns = spio_nvme_ctrlr_get_ns(g_ctrlr, 1);
	cr_assert_not_null(g_ns, "namespace 1 not active");
}

static void connect_io(uint32_t entries)
{
	struct spio_nvme_io_qpair_opts qo;

	spio_nvme_ctrlr_get_default_io_qpair_opts(g_ctrlr, &qo, sizeof(qo));
	if (entries != 0) {
		qo.io_queue_size = entries;
	}
	g_qpair = spio_nvme_ctrlr_alloc_io_qpair(g_ctrlr, &qo, sizeof(qo));
	cr_assert_not_null(g_qpair, "alloc_io_qpair: errno %d", errno);
	cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair), 0, "I/O queue connect");
}

static void setup_io(const struct fake_pcie_opts *fo, const struct spio_nvme_ctrlr_opts *co,
		     uint32_t entries)
{
	make_fake(fo);
	connect_ctrlr(co);
	connect_io(entries);
}

static void do_io(bool write, struct spio_nvme_ns *ns, void *buf, uint64_t lba, uint32_t n)
{
	struct io_result r = {0};
	int rc = write ? spio_nvme_ns_cmd_write(ns, g_qpair, buf, lba, n, io_done, &r, 0)
		       : spio_nvme_ns_cmd_read(ns, g_qpair, buf, lba, n, io_done, &r, 0);

	cr_assert_eq(rc, 0, "%s submit: %d", write ? "write" : "read", rc);
	wait_result(&r, write ? "write" : "read");
	expect_success(&r, write ? "write" : "read");
}

/* Find the first log entry at or after `from` for `off` (and value mask/match). */
static int find_reg(const struct fake_pcie_reg_write *log, uint32_t n, uint32_t from, uint32_t off,
		    uint64_t mask, uint64_t match)
{
	for (uint32_t i = from; i < n; i++) {
		if (log[i].off == off && (log[i].val & mask) == match) {
			return (int)i;
		}
	}
	return -1;
}

static void case_connect_identify(void)
{
	const struct spio_nvme_ctrlr_data *cd;
	const struct fake_pcie_reg_write *log;
	const struct fake_pcie_stats *st;
	int aqa, asq, acq, en;
	uint32_t n;

	make_fake(NULL);
	connect_ctrlr(NULL);
	st = fake_pcie_get_stats(g_fp);
	cd = spio_nvme_ctrlr_get_data(g_ctrlr);
	cr_assert(strncmp(cd->mn, FAKE_PCIE_MN, strlen(FAKE_PCIE_MN)) == 0, "model: %.40s", cd->mn);
	cr_assert(strncmp(cd->sn, FAKE_PCIE_SN, strlen(FAKE_PCIE_SN)) == 0);
	cr_assert_eq(spio_nvme_ctrlr_get_regs_csts(g_ctrlr).bits.rdy, 1);
	cr_assert_eq(spio_nvme_ctrlr_get_regs_vs(g_ctrlr).raw, SPIO_NVME_VERSION(1, 4, 0));
	cr_assert_eq(spio_nvme_ctrlr_get_regs_cap(g_ctrlr).bits.cqr, 1);
	cr_assert_eq(spio_nvme_ctrlr_get_num_io_queues(g_ctrlr), 16, "granted %u",
		     spio_nvme_ctrlr_get_num_io_queues(g_ctrlr));
	cr_assert_eq(spio_nvme_ctrlr_get_first_active_ns(g_ctrlr), 1);
	cr_assert_eq(spio_nvme_ctrlr_get_next_active_ns(g_ctrlr, 1), 2);
	cr_assert_eq(spio_nvme_ctrlr_get_next_active_ns(g_ctrlr, 2), 0);
	cr_assert_eq(spio_nvme_ns_get_sector_size(g_ns), 512);
	cr_assert_eq(spio_nvme_ns_get_size(g_ns), 8ull << 20);
	cr_assert_not_null(spio_nvme_ns_get_uuid(g_ns), "UUID from the descriptor list");
	/* MDTS 5 with 4 KiB pages. */
	cr_assert_eq(spio_nvme_ctrlr_get_max_xfer_size(g_ctrlr), 128 * 1024);
	cr_assert_eq(st->enables, 1);
	cr_assert_eq(st->admin_cmds[SPIO_NVME_OPC_IDENTIFY] > 0, 1);
	cr_assert_eq(st->admin_cmds[SPIO_NVME_OPC_KEEP_ALIVE], 0, "no keep alive over PCIe");
	/* The AERs go out last in bring-up: the fake sees them at its next poll. */
	for (int i = 0; i < 100 && fake_pcie_held_aers(g_fp) == 0; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert_eq(fake_pcie_held_aers(g_fp), 4, "AERL 3: 4 AERs outstanding, got %u",
		     fake_pcie_held_aers(g_fp));
	/* AQA, ASQ, ACQ set no later than the poll that saw CC.EN = 1, which comes last. */
	log = fake_pcie_reg_log(g_fp, &n);
	aqa = find_reg(log, n, 0, SPIO_NVME_REG_AQA, 0, 0);
	asq = find_reg(log, n, 0, SPIO_NVME_REG_ASQ, 0, 0);
	acq = find_reg(log, n, 0, SPIO_NVME_REG_ACQ, 0, 0);
	en = find_reg(log, n, 0, SPIO_NVME_REG_CC, 1, 1);
	cr_assert(aqa >= 0 && asq >= 0 && acq >= 0 && en >= 0, "AQA %d ASQ %d ACQ %d EN %d", aqa,
		  asq, acq, en);
	cr_assert(log[aqa].poll <= log[en].poll && log[asq].poll <= log[en].poll &&
		  log[acq].poll <= log[en].poll);
	cr_assert_eq(find_reg(log, n, (uint32_t)en + 1, SPIO_NVME_REG_CC, 1, 0), -1,
		     "CC.EN went back to 0 after the enable");
	{
		union spio_nvme_cc_register cc = {.raw = (uint32_t)log[en].val};

		cr_assert_eq(cc.bits.mps, 0);
		cr_assert_eq(cc.bits.iosqes, 6);
		cr_assert_eq(cc.bits.iocqes, 4);
		cr_assert_eq(cc.bits.css, 0);
	}
	assert_no_violation();
}

static void case_detach_shutdown(void)
{
	const struct fake_pcie_reg_write *log;
	uint32_t n;

	make_fake(NULL);
	connect_ctrlr(NULL);
	fake_pcie_clear_reg_log(g_fp);
	cr_assert_eq(spio_nvme_detach(g_ctrlr), 0);
	g_ctrlr = NULL;
	log = fake_pcie_reg_log(g_fp, &n);
	cr_assert_eq(fake_pcie_get_stats(g_fp)->shutdowns, 1, "CC.SHN seen");
	cr_assert(find_reg(log, n, 0, SPIO_NVME_REG_CC, 3u << 14, SPIO_NVME_SHN_NORMAL << 14) >= 0,
		  "normal shutdown notification");
	cr_assert(!fake_pcie_is_open(g_fp), "closed after detach");
	assert_no_violation();
}

Test(nvme_pcie, tiny_queue_wraps_many_times)
{
	uint8_t *wbuf, *rbuf;
	const struct fake_pcie_stats *st;
	uint32_t done_ios = 0;
	struct fake_pcie_opts fo;

	fake_pcie_opts_init(&fo);
	fo.dstrd = 2; /* doorbells 16 bytes apart: the driver must use CAP.DSTRD */
	setup_io(&fo, NULL, 4);
	st = fake_pcie_get_stats(g_fp);
	wbuf = dma(3 * 4096);
	rbuf = dma(3 * 4096);
	/* 600 writes and 600 reads, up to 3 in flight, verified. */
	for (uint32_t round = 0; round < 200; round++) {
		struct io_result *r = g_r;

		memset(g_r, 0, sizeof(g_r));

		for (int i = 0; i < 3; i++) {
			fill(wbuf + i * 4096, 4096, round * 3 + (unsigned)i);
			cr_assert_eq(spio_nvme_ns_cmd_write(g_ns, g_qpair, wbuf + i * 4096,
							    (round * 3 + (uint32_t)i) * 8 % 16000,
							    8, io_done, &r[i], 0),
				     0);
		}
		for (int i = 0; i < 3; i++) {
			wait_result(&r[i], "write");
			expect_success(&r[i], "write");
		}
		memset(g_r, 0, sizeof(g_r));
		for (int i = 0; i < 3; i++) {
			cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, rbuf + i * 4096,
							   (round * 3 + (uint32_t)i) * 8 % 16000, 8,
							   io_done, &r[i], 0),
				     0);
		}
		for (int i = 0; i < 3; i++) {
			wait_result(&r[i], "read");
			expect_success(&r[i], "read");
		}
		cr_assert(memcmp(wbuf, rbuf, 3 * 4096) == 0, "round %u: data differs", round);
		done_ios += 6;
	}
	cr_assert_geq(done_ios, 1200);
	cr_assert_geq(st->phase_flips[1], 250, "phase flips on CQ 1: %lu",
		      (unsigned long)st->phase_flips[1]);
	cr_assert_leq(st->max_sq_occupancy[1], 3, "SQ of 4 entries held %u",
		      st->max_sq_occupancy[1]);
	cr_assert_eq(spio_nvme_qpair_get_num_outstanding(g_qpair), 0);
	/* A fourth command while three are out: refused or held back, never overfilling. */
	{
		struct io_result *r = g_r;
		int rc[4];

		memset(g_r, 0, sizeof(g_r));

		for (int i = 0; i < 4; i++) {
			rc[i] = spio_nvme_ns_cmd_read(g_ns, g_qpair, rbuf, 0, 1, io_done, &r[i], 0);
			cr_assert(rc[i] == 0 || (i == 3 && rc[i] == -ENOMEM), "submit %d: %d", i,
				  rc[i]);
		}
		for (int i = 0; i < 4; i++) {
			if (rc[i] == 0) {
				wait_result(&r[i], "read");
				expect_success(&r[i], "read");
			}
		}
		cr_assert_leq(st->max_sq_occupancy[1], 3);
	}
	assert_no_violation();
	spio_dma_free(wbuf);
	spio_dma_free(rbuf);
}

/* Write through `wiov`, read back through `riov`, compare with the fake's memory. */
static void vec_roundtrip(const struct iovec *wiov, int wcnt, const struct iovec *riov, int rcnt,
			  uint64_t lba, uint32_t nblocks)
{
	struct io_result r = {0};
	uint8_t *ns = fake_pcie_ns_data(g_fp, 1) + lba * 512;
	size_t off = 0;

	for (int i = 0; i < wcnt; i++) {
		fill(wiov[i].iov_base, wiov[i].iov_len, 100 + (unsigned)i);
	}
	cr_assert_eq(
	    spio_nvme_ns_cmd_writev(g_ns, g_qpair, lba, nblocks, wiov, wcnt, io_done, &r, 0), 0);
	wait_result(&r, "writev");
	expect_success(&r, "writev");
	for (int i = 0; i < wcnt; i++) {
		cr_assert(memcmp(ns + off, wiov[i].iov_base, wiov[i].iov_len) == 0,
			  "element %d differs in the namespace", i);
		off += wiov[i].iov_len;
	}
	for (int i = 0; i < rcnt; i++) {
		memset(riov[i].iov_base, 0xa5, riov[i].iov_len);
	}
	memset(&r, 0, sizeof(r));
	cr_assert_eq(
	    spio_nvme_ns_cmd_readv(g_ns, g_qpair, lba, nblocks, riov, rcnt, io_done, &r, 0), 0);
	wait_result(&r, "readv");
	expect_success(&r, "readv");
	off = 0;
	for (int i = 0; i < rcnt; i++) {
		cr_assert(memcmp(ns + off, riov[i].iov_base, riov[i].iov_len) == 0,
			  "read element %d differs", i);
		off += riov[i].iov_len;
	}
}

static void case_iovecs_prps(void)
{
	uint8_t *a = dma(8 * 4096), *b = dma(8 * 4096), *c = dma(8 * 4096);
	/* Offset first element, page-multiple middle, odd last: PRP-describable. */
	struct iovec w[3] = {{a + 3072, 1024}, {b, 2 * 4096}, {c, 1536}};
	struct iovec rd[3] = {{c + 512, 3584}, {a + 4096, 4096}, {b, 3072}};

	setup_io(NULL, NULL, 0);
	vec_roundtrip(w, 3, w, 3, 40, (1024 + 8192 + 1536) / 512);
	vec_roundtrip(w, 3, rd, 3, 80, (1024 + 8192 + 1536) / 512);
	/* A buffer crossing a page at an odd (sector-multiple) offset: PRP1 + PRP2. */
	{
		struct iovec one = {a + 512, 4096};

		vec_roundtrip(&one, 1, &one, 1, 200, 8);
	}
	/* A PRP list: 128 KiB from a page offset, then exactly MDTS from a page start. */
	{
		struct iovec big = {a + 0, 8 * 4096};
		struct iovec big2[3] = {{b + 2048, 6 * 4096 + 2048}, {c, 8 * 4096}, {a, 2048}};

		vec_roundtrip(&big, 1, &big, 1, 300, 64);
		vec_roundtrip(big2, 3, big2, 3, 400, (6 * 4096 + 4096 + 8 * 4096) / 512);
	}
	cr_assert_gt(fake_pcie_get_stats(g_fp)->prp_lists, 0);
	cr_assert_eq(fake_pcie_get_stats(g_fp)->sgl_cmds, 0, "PRPs are enough for these");
	assert_no_violation();
	spio_dma_free(a);
	spio_dma_free(b);
	spio_dma_free(c);
}

Test(nvme_pcie, unaligned_middle_uses_sgl_when_supported)
{
	struct fake_pcie_opts fo;
	uint8_t *a = dma(4 * 4096), *b = dma(4 * 4096);
	/* The middle element starts mid-page: PRPs cannot describe this. */
	struct iovec w[3] = {{a, 512}, {b + 512, 1024}, {a + 8192, 512}};

	fake_pcie_opts_init(&fo);
	fo.sgls = SPIO_NVME_SGLS_SUPPORTED;
	setup_io(&fo, NULL, 0);
	vec_roundtrip(w, 3, w, 3, 8, 4);
	cr_assert_gt(fake_pcie_get_stats(g_fp)->sgl_cmds, 0, "an SGL was used");
	assert_no_violation();
	spio_dma_free(a);
	spio_dma_free(b);
}

static void case_unaligned_no_sgl(void)
{
	uint8_t *a = dma(4 * 4096), *b = dma(4 * 4096);
	struct iovec w[3] = {{a, 512}, {b + 512, 1024}, {a + 8192, 512}};
	struct io_result r = {0};
	int rc;

	setup_io(NULL, NULL, 0);
	rc = spio_nvme_ns_cmd_writev(g_ns, g_qpair, 8, 4, w, 3, io_done, &r, 0);
	if (rc == 0) {
		/* Accepted: it must then fail once, never reach the fake malformed. */
		wait_result(&r, "writev");
		cr_assert_eq(r.count, 1);
		cr_assert(spio_nvme_cpl_is_error(&r.cpl), "an unaligned middle element succeeded");
	} else {
		cr_assert_eq(rc, -EINVAL, "submit: %d", rc);
		cr_assert_eq(r.count, 0);
	}
	assert_no_violation();
	/* The queue still works. */
	{
		uint8_t *buf = dma(4096);

		do_io(true, g_ns, buf, 0, 8);
		spio_dma_free(buf);
	}
	spio_dma_free(a);
	spio_dma_free(b);
}

static void case_mdts(void)
{
	uint8_t *buf = dma(256 * 1024);
	struct io_result r = {0};
	int rc;

	setup_io(NULL, NULL, 0);
	fill(buf, 128 * 1024, 9);
	do_io(true, g_ns, buf, 1000, 256); /* exactly MDTS: 128 KiB */
	cr_assert(memcmp(fake_pcie_ns_data(g_fp, 1) + 1000 * 512, buf, 128 * 1024) == 0);
	/* Above MDTS: refused at submit (nvme.h: -EINVAL for a transfer beyond the maximum). */
	rc = spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, 257, io_done, &r, 0);
	if (rc == 0) {
		wait_result(&r, "read above MDTS");
		expect_success(&r, "read above MDTS (split)");
	} else {
		cr_assert_eq(rc, -EINVAL, "read above MDTS: %d", rc);
	}
	assert_no_violation();
	spio_dma_free(buf);
}

Test(nvme_pcie, write_zeroes_deallocate_and_two_namespaces)
{
	uint8_t *buf = dma(8192);
	struct spio_nvme_ns *ns2;
	struct spio_nvme_dsm_range range = {.length = 8, .starting_lba = 8};
	struct io_result r = {0};

	setup_io(NULL, NULL, 0);
	ns2 = spio_nvme_ctrlr_get_ns(g_ctrlr, 2);
	cr_assert_not_null(ns2);
	memset(buf, 0x11, 8192);
	do_io(true, g_ns, buf, 0, 16);
	memset(buf, 0x22, 8192);
	do_io(true, ns2, buf, 0, 16);
	cr_assert_eq(fake_pcie_ns_data(g_fp, 1)[0], 0x11);
	cr_assert_eq(fake_pcie_ns_data(g_fp, 2)[0], 0x22);
	cr_assert_eq(spio_nvme_ns_cmd_write_zeroes(g_ns, g_qpair, 0, 4, io_done, &r, 0), 0);
	wait_result(&r, "write zeroes");
	expect_success(&r, "write zeroes");
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_nvme_ns_cmd_dataset_management(
			 ns2, g_qpair, SPIO_NVME_DSM_ATTR_DEALLOCATE, &range, 1, io_done, &r),
		     0);
	wait_result(&r, "deallocate");
	expect_success(&r, "deallocate");
	do_io(false, g_ns, buf, 0, 16);
	for (int i = 0; i < 8192; i++) {
		cr_assert_eq(buf[i], i < 2048 ? 0 : 0x11, "ns1 byte %d", i);
	}
	do_io(false, ns2, buf, 0, 16);
	for (int i = 0; i < 8192; i++) {
		cr_assert_eq(buf[i], i < 4096 ? 0x22 : 0, "ns2 byte %d", i);
	}
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_nvme_ns_cmd_flush(g_ns, g_qpair, io_done, &r), 0);
	wait_result(&r, "flush");
	expect_success(&r, "flush");
	assert_no_violation();
	spio_dma_free(buf);
}

static void case_non_dma(void)
{
	uint8_t *heap = malloc(4096);
	struct io_result r = {0};
	int rc;

	setup_io(NULL, NULL, 0);
	rc = spio_nvme_ns_cmd_read(g_ns, g_qpair, heap, 0, 8, io_done, &r, 0);
	if (rc == 0) {
		wait_result(&r, "read into heap memory");
		cr_assert(spio_nvme_cpl_is_error(&r.cpl), "heap memory accepted");
	} else {
		cr_assert(rc == -EINVAL || rc == -EFAULT, "submit: %d", rc);
	}
	assert_no_violation();
	free(heap);
}

Test(nvme_pcie, bad_traddr_and_open_failure)
{
	struct spio_nvme_transport_id trid;
	struct spio_nvme_ctrlr *c;

	make_fake(NULL);
	make_trid(&trid, "0000:00:05.0");
	errno = 0;
	c = spio_nvme_connect(&trid, NULL);
	cr_assert_null(c);
	cr_assert_eq(errno, ENODEV, "no such device: errno %d", errno);
	fake_pcie_set_open_error(g_fp, -EACCES);
	make_trid(&trid, TRADDR);
	errno = 0;
	c = spio_nvme_connect(&trid, NULL);
	cr_assert_null(c);
	cr_assert_eq(errno, EACCES, "open error: errno %d", errno);
	cr_assert(!fake_pcie_is_open(g_fp));
	/* A controller that never becomes ready: bounded by CAP.TO / connect timeout. */
	fake_pcie_set_open_error(g_fp, 0);
	fake_pcie_set_ready_delay(g_fp, UINT32_MAX);
	{
		struct spio_nvme_ctrlr_opts o;

		spio_nvme_ctrlr_get_default_opts(&o, sizeof(o));
		o.connect_timeout_ms = 100;
		errno = 0;
		c = spio_nvme_connect(&trid, &o);
		cr_assert_null(c);
		cr_assert_eq(errno, ETIMEDOUT, "never ready: errno %d", errno);
		cr_assert(!fake_pcie_is_open(g_fp), "device left open after a failed connect");
	}
	fake_pcie_set_ready_delay(g_fp, 2);
	connect_ctrlr(NULL);
	assert_no_violation();
}

Test(nvme_pcie, reset_and_qpair_reconnect)
{
	const struct fake_pcie_stats *st;
	const struct fake_pcie_reg_write *log;
	uint8_t *buf = dma(4096);
	uint32_t n;
	int dis, en;

	setup_io(NULL, NULL, 0);
	st = fake_pcie_get_stats(g_fp);
	memset(buf, 0x5c, 4096);
	do_io(true, g_ns, buf, 0, 8);
	/* Disconnect + reconnect: the queues are deleted (SQ then CQ) before re-creation. */
	spio_nvme_ctrlr_disconnect_io_qpair(g_qpair);
	cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair), 0, "reconnect");
	cr_assert_eq(st->admin_cmds[SPIO_NVME_OPC_DELETE_IO_SQ], 1);
	cr_assert_eq(st->admin_cmds[SPIO_NVME_OPC_DELETE_IO_CQ], 1);
	cr_assert_eq(st->admin_cmds[SPIO_NVME_OPC_CREATE_IO_SQ], 2);
	cr_assert_eq(fake_pcie_num_io_sqs(g_fp), 1);
	do_io(false, g_ns, buf, 0, 8);
	/* Reset: CC.EN 1 -> 0, RDY 0, then a new enable; I/O queue reconnected. */
	fake_pcie_clear_reg_log(g_fp);
	cr_assert_eq(spio_nvme_ctrlr_reset(g_ctrlr), 0);
	log = fake_pcie_reg_log(g_fp, &n);
	dis = find_reg(log, n, 0, SPIO_NVME_REG_CC, 1, 0);
	en = dis >= 0 ? find_reg(log, n, (uint32_t)dis + 1, SPIO_NVME_REG_CC, 1, 1) : -1;
	cr_assert(dis >= 0 && en > dis, "reset: CC.EN 0 (%d) then 1 (%d)", dis, en);
	cr_assert_eq(st->disables, 1);
	cr_assert_eq(st->enables, 2);
	cr_assert_eq(fake_pcie_num_io_sqs(g_fp), 0, "the reset dropped the I/O queues");
	{
		struct io_result r = {0};
		int rc = spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, 8, io_done, &r, 0);

		if (rc == 0) {
			wait_result(&r, "read after reset");
		}
		spio_nvme_qpair_process_completions(g_qpair, 0);
	}
	if (!spio_nvme_qpair_is_connected(g_qpair)) {
		cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair), 0, "reconnect");
	}
	memset(buf, 0, 4096);
	do_io(false, g_ns, buf, 0, 8);
	cr_assert_eq(buf[4095], 0x5c);
	assert_no_violation();
	spio_dma_free(buf);
}

/* Submit `n` reads of one block each into buf (n * 512 bytes). */
static void submit_reads(uint8_t *buf, struct io_result *r, int n)
{
	for (int i = 0; i < n; i++) {
		cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf + i * 512, (uint64_t)i, 1,
						   io_done, &r[i], 0),
			     0);
	}
}

static bool all_in(void *arg)
{
	struct io_result *r = arg;

	for (int i = 0; i < 8; i++) {
		if (r[i].count == 0) {
			return false;
		}
	}
	return true;
}

static bool ctrlr_failed(void *arg)
{
	(void)arg;
	return spio_nvme_ctrlr_is_failed(g_ctrlr);
}

/* After a fault: every one of the 8 commands completed exactly once. */
static void expect_all_once(struct io_result *r, const char *what)
{
	cr_assert(poll_until(all_in, r), "%s: commands still outstanding", what);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(r[i].count, 1, "%s: command %d completed %d times", what, i,
			     r[i].count);
	}
}

/* A batch of up to 8 one-block commands: results zeroed, a controller with a qpair. */
static uint8_t *start_batch(void)
{
	uint8_t *buf = dma(8 * 512);

	memset(g_r, 0, sizeof(g_r));
	setup_io(NULL, NULL, 0);
	return buf;
}

/* Submit `n` reads the fake never answers: they stay in the device. */
static void submit_reads_held(uint8_t *buf, struct io_result *r, int n)
{
	for (int i = 0; i < n; i++) {
		fake_pcie_drop_next(g_fp, -1);
		cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf + i * 512, (uint64_t)i, 1,
						   io_done, &r[i], 0),
			     0);
		for (int k = 0; k < 10; k++) {
			spio_nvme_qpair_process_completions(g_qpair, 0);
			spio_thread_poll(g_thread, 0, 0);
		}
	}
}

/* After a fault: the qpair reconnected if it went down, `n` blocks read, no violation. */
static void expect_recovered(uint8_t *buf, uint32_t n)
{
	if (!spio_nvme_qpair_is_connected(g_qpair)) {
		cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair), 0, "reconnect");
	}
	do_io(false, g_ns, buf, 0, n);
	assert_no_violation();
}

Test(nvme_pcie, dropped_completion_times_out_once)
{
	struct spio_nvme_ctrlr_opts co;
	uint8_t *buf = dma(4096);
	struct io_result r = {0};

	spio_nvme_ctrlr_get_default_opts(&co, sizeof(co));
	co.io_timeout_ms = 100;
	setup_io(NULL, &co, 0);
	fake_pcie_drop_next(g_fp, -1);
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, 1, io_done, &r, 0), 0);
	wait_result(&r, "read whose completion was dropped");
	cr_assert_eq(r.count, 1);
	cr_assert(spio_nvme_cpl_is_error(&r.cpl), "timed-out read reported success");
	/* Poll on a little: no second completion. */
	for (int i = 0; i < 1000; i++) {
		spio_nvme_qpair_process_completions(g_qpair, 0);
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert_eq(r.count, 1, "completed twice");
	expect_recovered(buf, 1);
	spio_dma_free(buf);
}

Test(nvme_pcie, fatal_status_fails_everything_once_and_reset_recovers)
{
	uint8_t *buf = start_batch();
	struct io_result *r = g_r;

	fake_pcie_set_cfs(g_fp);
	submit_reads(buf, r, 8);
	cr_assert(poll_until(ctrlr_failed, NULL), "CSTS.CFS not noticed");
	/* Like SPDK, commands in the device may wait for the reset: none may succeed. */
	for (int i = 0; i < 8; i++) {
		cr_assert(r[i].count == 0 || spio_nvme_cpl_is_error(&r[i].cpl),
			  "command %d succeeded under CFS", i);
	}
	cr_assert_eq(spio_nvme_ctrlr_reset(g_ctrlr), 0, "reset after CFS");
	cr_assert(!spio_nvme_ctrlr_is_failed(g_ctrlr));
	expect_all_once(r, "CFS then reset");
	for (int i = 0; i < 8; i++) {
		cr_assert(spio_nvme_cpl_is_error(&r[i].cpl), "command %d succeeded under CFS", i);
	}
	spio_nvme_qpair_process_completions(g_qpair, 0);
	expect_recovered(buf, 8);
	spio_dma_free(buf);
}

static void case_hot_remove_queued(void)
{
	uint8_t *buf = start_batch();
	struct io_result *r = g_r;

	submit_reads(buf, r, 8);
	fake_pcie_hot_remove(g_fp);
	/* Whether each failed or had completed first, it completed once. */
	expect_all_once(r, "hot remove");
	spio_nvme_ctrlr_free_io_qpair(g_qpair);
	g_qpair = NULL;
	cr_assert_eq(spio_nvme_detach(g_ctrlr), 0, "detach after removal");
	g_ctrlr = NULL;
	cr_assert(!fake_pcie_is_open(g_fp));
	spio_dma_free(buf);
}

static void case_hot_remove_in_device(void)
{
	uint8_t *buf = start_batch();
	struct io_result *r = g_r;
	int failed = 0;

	/* The fake never answers these: they are in the device when it goes. */
	submit_reads_held(buf, r, 8);
	fake_pcie_hot_remove(g_fp);
	expect_all_once(r, "hot remove");
	for (int i = 0; i < 8; i++) {
		failed += spio_nvme_cpl_is_error(&r[i].cpl);
	}
	cr_assert_eq(failed, 8, "only %d of 8 commands failed", failed);
	cr_assert(spio_nvme_ctrlr_is_failed(g_ctrlr));
	spio_nvme_ctrlr_free_io_qpair(g_qpair);
	g_qpair = NULL;
	cr_assert_eq(spio_nvme_detach(g_ctrlr), 0, "detach after removal");
	g_ctrlr = NULL;
	spio_dma_free(buf);
}

Test(nvme_pcie, reset_during_io)
{
	uint8_t *buf = start_batch();
	struct io_result *r = g_r;

	/* Keep commands in the device so the reset finds them outstanding. */
	submit_reads_held(buf, r, 8);
	cr_assert_eq(spio_nvme_ctrlr_reset(g_ctrlr), 0, "reset");
	expect_all_once(r, "reset");
	for (int i = 0; i < 8; i++) {
		cr_assert(r[i].cpl.status.sct == SPIO_NVME_SCT_GENERIC &&
			      r[i].cpl.status.sc == SPIO_NVME_SC_ABORTED_SQ_DELETION,
			  "command %d: sct %u sc 0x%x", i, r[i].cpl.status.sct, r[i].cpl.status.sc);
	}
	expect_recovered(buf, 8);
	spio_dma_free(buf);
}

static void case_reordered(void)
{
	uint8_t *buf = start_batch();
	struct io_result *r = g_r;

	fake_pcie_reorder_next(g_fp);
	submit_reads(buf, r, 8);
	expect_all_once(r, "reordered batch");
	for (int i = 0; i < 8; i++) {
		expect_success(&r[i], "reordered read");
	}
	assert_no_violation();
	spio_dma_free(buf);
}

struct aer_seen {
	int events;
	uint32_t cdw0;
	int removed_nsid;
};

static void aer_cb(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct aer_seen *a = arg;

	a->events++;
	a->cdw0 = cpl->cdw0;
}

static void ns_change_cb(void *arg, struct spio_nvme_ctrlr *ctrlr, uint32_t nsid,
			 enum spio_nvme_ns_event ev)
{
	struct aer_seen *a = arg;

	if (ev == SPIO_NVME_NS_REMOVED) {
		a->removed_nsid = (int)nsid;
	}
}

static bool aer_in(void *arg)
{
	return ((struct aer_seen *)arg)->events > 0;
}

/* A namespace attribute notice: the driver reads the changed list and drops namespace 2. */
static void case_aer_ns_removed(void)
{
	static struct aer_seen seen;
	/* Notice (type 2), namespace attribute changed (info 0), log page 04h. */
	uint32_t cdw0 = 2u | (0u << 8) | (4u << 16);

	memset(&seen, 0, sizeof(seen));
	make_fake(NULL);
	connect_ctrlr(NULL);
	spio_nvme_ctrlr_register_aer_callback(g_ctrlr, aer_cb, &seen);
	spio_nvme_ctrlr_register_ns_change_callback(g_ctrlr, ns_change_cb, &seen);
	cr_assert(spio_nvme_ctrlr_is_active_ns(g_ctrlr, 2));
	cr_assert_eq(fake_pcie_set_active_ns(g_fp, 1), 0);
	fake_pcie_ns_changed(g_fp, 2);
	fake_pcie_fire_aer(g_fp, cdw0);
	cr_assert(poll_until(aer_in, &seen), "no asynchronous event");
	cr_assert_eq(seen.cdw0, cdw0);
	cr_assert_eq(seen.removed_nsid, 2, "namespace 2 not reported removed");
	cr_assert(!spio_nvme_ctrlr_is_active_ns(g_ctrlr, 2));
	cr_assert_eq(fake_pcie_get_stats(g_fp)->admin_cmds[SPIO_NVME_OPC_GET_LOG_PAGE], 1);
	/* The driver armed another AER in place of the one that fired. */
	for (int i = 0; i < 100 && fake_pcie_held_aers(g_fp) < 4; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert_eq(fake_pcie_held_aers(g_fp), 4);
	assert_no_violation();
}

/* CAP.MQES and the granted number of queues bound what the driver asks for. */
static void case_queue_limits(void)
{
	struct fake_pcie_opts fo;
	struct spio_nvme_io_qpair_opts qo;
	struct spio_nvme_qpair *q2, *q3;

	fake_pcie_opts_init(&fo);
	fo.mqes = 7;	      /* 8 entries at most */
	fo.max_io_queues = 2; /* Set Features grants 2 */
	make_fake(&fo);
	connect_ctrlr(NULL);
	cr_assert_eq(spio_nvme_ctrlr_get_num_io_queues(g_ctrlr), 2);
	spio_nvme_ctrlr_get_default_io_qpair_opts(g_ctrlr, &qo, sizeof(qo));
	cr_assert_eq(qo.io_queue_size, 8, "default queue size clamped to MQES + 1: %u",
		     qo.io_queue_size);
	qo.io_queue_size = 64;
	errno = 0;
	cr_assert_null(spio_nvme_ctrlr_alloc_io_qpair(g_ctrlr, &qo, sizeof(qo)), "64 entries");
	cr_assert_eq(errno, EINVAL, "64 entries > MQES + 1: errno %d", errno);
	/* The defaults (NULL options) fit the controller. */
	g_qpair = spio_nvme_ctrlr_alloc_io_qpair(g_ctrlr, NULL, 0);
	cr_assert_not_null(g_qpair, "default size: errno %d", errno);
	cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair), 0, "connect");
	qo.io_queue_size = 8;
	q2 = spio_nvme_ctrlr_alloc_io_qpair(g_ctrlr, &qo, sizeof(qo));
	cr_assert_not_null(q2, "second qpair: errno %d", errno);
	errno = 0;
	q3 = spio_nvme_ctrlr_alloc_io_qpair(g_ctrlr, &qo, sizeof(qo));
	cr_assert_null(q3, "a third qpair with 2 queues granted");
	cr_assert_eq(errno, EBUSY, "third qpair: errno %d", errno);
	cr_assert_eq(spio_nvme_ctrlr_free_io_qpair(q2), 0);
	assert_no_violation();
}

/* Admin payloads may be any memory (nvme.h): the driver bounces them. */
static void case_admin_payload_in_heap(void)
{
	struct spio_nvme_health_information_page *h = calloc(1, sizeof(*h));
	struct io_result r = {0};

	make_fake(NULL);
	connect_ctrlr(NULL);
	cr_assert_eq(spio_nvme_ctrlr_cmd_get_log_page(g_ctrlr, SPIO_NVME_LOG_HEALTH_INFORMATION,
						      SPIO_NVME_GLOBAL_NS_TAG, h, sizeof(*h), 0,
						      io_done, &r),
		     0);
	wait_result(&r, "get log page");
	expect_success(&r, "get log page");
	cr_assert_eq(h->temperature, 300, "SMART temperature %u", h->temperature);
	cr_assert_eq(h->available_spare, 100);
	free(h);
	assert_no_violation();
}

/* A namespace of 4096-byte blocks. */
static void case_4k_blocks(void)
{
	struct fake_pcie_opts fo;
	uint8_t *buf = dma(3 * 4096);

	fake_pcie_opts_init(&fo);
	fo.block_size = 4096;
	setup_io(&fo, NULL, 0);
	cr_assert_eq(spio_nvme_ns_get_sector_size(g_ns), 4096);
	cr_assert_eq(spio_nvme_ns_get_num_sectors(g_ns), (8u << 20) / 4096);
	fill(buf, 3 * 4096, 77);
	do_io(true, g_ns, buf, 100, 3);
	cr_assert(memcmp(fake_pcie_ns_data(g_fp, 1) + 100 * 4096, buf, 3 * 4096) == 0);
	memset(buf, 0, 3 * 4096);
	do_io(false, g_ns, buf, 100, 3);
	cr_assert(memcmp(fake_pcie_ns_data(g_fp, 1) + 100 * 4096, buf, 3 * 4096) == 0);
	assert_no_violation();
	spio_dma_free(buf);
}

/* Several cases per test: each Criterion test is a process (~0.3 s under ASan). */

Test(fake_pcie, enable_identify_wrap_cq_full_and_faults)
{
	case_raw_enable_identify();
	cleanup_case();
	case_raw_wrap_and_cq_full();
	cleanup_case();
	case_raw_faults();
}

Test(nvme_pcie, connect_identify_enable_sequence_detach_shutdown_and_aer)
{
	case_connect_identify();
	cleanup_case();
	case_admin_payload_in_heap();
	cleanup_case();
	case_detach_shutdown();
	cleanup_case();
	case_aer_ns_removed();
}

Test(nvme_pcie, refusals_mdts_non_dma_unaligned_and_queue_limits)
{
	case_mdts();
	cleanup_case();
	case_non_dma();
	cleanup_case();
	case_unaligned_no_sgl();
	cleanup_case();
	case_queue_limits();
}

Test(nvme_pcie, iovecs_of_odd_shapes_4k_blocks_and_reordered_completions)
{
	case_iovecs_prps();
	cleanup_case();
	case_4k_blocks();
	cleanup_case();
	case_reordered();
}

Test(nvme_pcie, hot_remove_fails_everything_once_and_detach_returns)
{
	case_hot_remove_queued();
	cleanup_case();
	case_hot_remove_in_device();
}

Test(fake_pcie, prp_sgl_and_queue_rules_are_enforced)
{
	case_raw_prp_rules();
	cleanup_case();
	case_raw_sgl_and_queue_checks();
}
