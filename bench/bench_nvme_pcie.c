/*
 * bench_nvme_pcie: CPU cost of the NVMe PCIe transport's submission and
 * completion path, against the fake controller in memory of the unit tests
 * (tests/unit/nvme/helper_fake_pcie.c), one JSON object per line.
 *
 *   read          reads of `bytes` at queue depth `qd` through the public API
 *                 (spio_nvme_ns_cmd_read + spio_nvme_qpair_process_completions),
 *                 the fake polled in the same loop: ns_per_io is everything;
 *                 a second run reads the clock around each call and splits it
 *                 into driver_ns_per_io (submit, completion polling, doorbells)
 *                 and fake_ns_per_io (the fake's poll, its data copy included);
 *                 each share then also carries about one clock read per call
 *   fake_alone    the fake driven by a minimal host (SQEs written by hand, one
 *                 doorbell per batch, phase-bit reaping): ns per command of the
 *                 fake plus that minimal host, to compare with fake_ns_per_io
 *
 * Cases: 4 KiB reads at qd 1, 32 and 128; 128 KiB reads (a PRP list) at qd 32.
 * Each runs about `-t` ms (default 300) after a warm-up.
 *   {"bench":"nvme_pcie","case":"read","bytes":4096,"qd":1,"ios":...,
 *    "seconds":...,"ns_per_io":...,"driver_ns_per_io":...,"fake_ns_per_io":...}
 *
 * The fake is not a device: the numbers are the host's CPU cost per I/O, not
 * a device's throughput. Usage: bench_nvme_pcie [-t ms_per_run]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/nvme.h"
#include "spio/thread.h"

#include "helper_fake_pcie.h"

#define TRADDR "0000:00:04.0"
#define RAW_TRADDR "0000:00:05.0"
#define MAX_QD 128
#define QUEUE_ENTRIES 256
#define CLOCK_EVERY 64 /* loop iterations between two clock reads */

static struct spio_thread *g_thread;
static uint64_t g_duration_ticks;
static struct fake_pcie *g_fp;

struct run;

struct slot {
	struct run *run;
	uint8_t *buf;
};

struct run {
	struct spio_nvme_ns *ns;
	struct spio_nvme_qpair *qp;
	struct slot slots[MAX_QD];
	uint32_t blocks;
	uint64_t lba_span;
	uint64_t next_lba;
	uint64_t completed;
	uint64_t driver_ticks;
	uint64_t fake_ticks;
	uint32_t outstanding;
	bool stop;
	int err;
};

static int submit(struct slot *s);

static void read_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct slot *s = arg;
	struct run *r = s->run;

	r->outstanding--;
	r->completed++;
	if (spio_nvme_cpl_is_error(cpl)) {
		r->err = -EIO;
		r->stop = true;
	}
	if (!r->stop && submit(s) != 0) {
		r->stop = true;
	}
}

static int submit(struct slot *s)
{
	struct run *r = s->run;
	int rc =
	    spio_nvme_ns_cmd_read(r->ns, r->qp, s->buf, r->next_lba, r->blocks, read_done, s, 0);

	if (rc != 0) {
		r->err = rc;
		return rc;
	}
	r->next_lba = (r->next_lba + r->blocks) % r->lba_span;
	r->outstanding++;
	return 0;
}

/*
 * Keep `qd` reads in flight for `ticks`; \return the ticks it took. With
 * `split`, also add the ticks spent in the driver's calls and in the fake's
 * poll to r->driver_ticks and r->fake_ticks (one clock read between the two:
 * the clock's own cost lands in both shares).
 */
static uint64_t drive(struct run *r, uint32_t qd, uint64_t ticks, bool split)
{
	uint64_t t0 = spio_get_ticks(), end = t0 + ticks;
	uint32_t n = 0;

	r->stop = false;
	r->completed = 0;
	r->driver_ticks = r->fake_ticks = 0;
	for (uint32_t i = 0; i < qd; i++) {
		if (submit(&r->slots[i]) != 0) {
			return 0;
		}
	}
	r->driver_ticks = spio_get_ticks() - t0;
	while (r->outstanding > 0) {
		if (split) {
			uint64_t a = spio_get_ticks(), b, c;

			spio_nvme_qpair_process_completions(r->qp, 0);
			b = spio_get_ticks();
			fake_pcie_poll(g_fp);
			c = spio_get_ticks();
			r->driver_ticks += b - a;
			r->fake_ticks += c - b;
		} else {
			spio_nvme_qpair_process_completions(r->qp, 0);
			fake_pcie_poll(g_fp);
		}
		if (++n % CLOCK_EVERY == 0 && !r->stop && spio_get_ticks() > end) {
			r->stop = true;
		}
	}
	return spio_get_ticks() - t0;
}

static void print_line(const char *name, uint32_t bytes, uint32_t qd, uint64_t ios, uint64_t ticks,
		       double driver_ns, double fake_ns)
{
	struct spio_json_write_ctx *w = spio_json_write_begin(bench_file_write_cb, stdout, 0);
	double ns = bench_ticks_to_ns(ticks) / (double)ios;

	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "bench", "nvme_pcie");
	spio_json_write_named_string(w, "case", name);
	spio_json_write_named_uint32(w, "bytes", bytes);
	spio_json_write_named_uint32(w, "qd", qd);
	spio_json_write_named_uint64(w, "ios", ios);
	spio_json_write_named_double(w, "seconds",
				     bench_round_to(bench_ticks_to_ns(ticks) / 1e9, 4));
	spio_json_write_named_double(w, "ns_per_io", bench_round_to(ns, 1));
	if (driver_ns >= 0) {
		spio_json_write_named_double(w, "driver_ns_per_io", bench_round_to(driver_ns, 1));
		spio_json_write_named_double(w, "fake_ns_per_io", bench_round_to(fake_ns, 1));
	}
	spio_json_write_object_end(w);
	spio_json_write_end(w);
	fputc('\n', stdout);
	fflush(stdout);
}

static int bench_read(struct spio_nvme_ctrlr *ctrlr, struct spio_nvme_qpair *qp, uint32_t bytes,
		      uint32_t qd)
{
	struct run r = {.qp = qp};
	const struct fake_pcie_stats *st = fake_pcie_get_stats(g_fp);
	uint64_t ticks, ios;
	int rc = 0;

	r.ns = spio_nvme_ctrlr_get_ns(ctrlr, 1);
	r.blocks = bytes / spio_nvme_ns_get_sector_size(r.ns);
	r.lba_span = spio_nvme_ns_get_num_sectors(r.ns) - r.blocks;
	for (uint32_t i = 0; i < qd; i++) {
		r.slots[i].run = &r;
		r.slots[i].buf = spio_dma_malloc(bytes, 4096);
		if (r.slots[i].buf == NULL) {
			rc = -ENOMEM;
			goto out;
		}
	}
	/* Warm-up, then the measured run, then one split into driver and fake. */
	drive(&r, qd, g_duration_ticks / 4, false);
	ticks = drive(&r, qd, g_duration_ticks, false);
	ios = r.completed;
	if (r.err == 0 && ticks != 0) {
		drive(&r, qd, g_duration_ticks / 2, true);
	}
	if (r.err != 0 || ticks == 0 || r.completed == 0 || st->violations != 0) {
		fprintf(stderr,
			"bench_nvme_pcie: read %u bytes qd %u failed (%d; %lu violations%s%s)\n",
			bytes, qd, r.err, (unsigned long)st->violations, st->violations ? ": " : "",
			st->last_violation);
		rc = -EIO;
		goto out;
	}
	print_line("read", bytes, qd, ios, ticks,
		   bench_ticks_to_ns(r.driver_ticks) / (double)r.completed,
		   bench_ticks_to_ns(r.fake_ticks) / (double)r.completed);
out:
	for (uint32_t i = 0; i < qd; i++) {
		spio_dma_free(r.slots[i].buf);
	}
	return rc;
}

/* ---- the fake with a minimal host ---- */

struct raw {
	void *ctx;
	volatile uint8_t *bar;
	struct spio_nvme_cmd *sq[2];
	struct spio_nvme_cpl *cq[2];
	uint32_t sq_tail[2], cq_head[2];
	uint8_t phase[2];
	uint32_t entries[2];
	uint16_t cid;
};

static void raw_w32(struct raw *h, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(h->bar + off) = v;
}

static void raw_submit(struct raw *h, int q, struct spio_nvme_cmd *c)
{
	c->cid = h->cid++;
	h->sq[q][h->sq_tail[q]] = *c;
	h->sq_tail[q] = (h->sq_tail[q] + 1) % h->entries[q];
}

static uint32_t raw_reap(struct raw *h, int q, uint32_t *errors)
{
	uint32_t n = 0;

	for (;;) {
		volatile struct spio_nvme_cpl *e = &h->cq[q][h->cq_head[q]];

		if (e->status.p != h->phase[q]) {
			break;
		}
		if (e->status.sc != 0 || e->status.sct != 0) {
			(*errors)++;
		}
		n++;
		if (++h->cq_head[q] == h->entries[q]) {
			h->cq_head[q] = 0;
			h->phase[q] ^= 1;
		}
	}
	if (n > 0) {
		raw_w32(h, SPIO_NVME_REG_SQ0TDBL + (2 * q + 1) * 4, h->cq_head[q]);
	}
	return n;
}

/* One admin command, polled to its completion. */
static int raw_admin(struct raw *h, struct fake_pcie *fp, struct spio_nvme_cmd *c)
{
	uint32_t errors = 0;

	raw_submit(h, 0, c);
	raw_w32(h, SPIO_NVME_REG_SQ0TDBL, h->sq_tail[0]);
	for (int i = 0; i < 10; i++) {
		fake_pcie_poll(fp);
		if (raw_reap(h, 0, &errors) > 0) {
			return errors == 0 ? 0 : -EIO;
		}
	}
	return -ETIMEDOUT;
}

static int raw_setup(struct raw *h, struct fake_pcie *fp)
{
	union spio_nvme_cc_register cc = {.raw = 0};
	size_t len;
	struct spio_nvme_cmd c;

	memset(h, 0, sizeof(*h));
	if (fake_pcie_ops()->open(RAW_TRADDR, &h->ctx, &h->bar, &len) != 0) {
		return -ENODEV;
	}
	h->entries[0] = 16;
	h->entries[1] = QUEUE_ENTRIES;
	for (int q = 0; q < 2; q++) {
		h->sq[q] = spio_dma_zmalloc(h->entries[q] * 64, 4096);
		h->cq[q] = spio_dma_zmalloc(h->entries[q] * 16, 4096);
		h->phase[q] = 1;
		if (h->sq[q] == NULL || h->cq[q] == NULL) {
			return -ENOMEM;
		}
	}
	raw_w32(h, SPIO_NVME_REG_AQA, (15u << 16) | 15u);
	raw_w32(h, SPIO_NVME_REG_ASQ, (uint32_t)spio_vtophys(h->sq[0], NULL));
	raw_w32(h, SPIO_NVME_REG_ASQ + 4, (uint32_t)(spio_vtophys(h->sq[0], NULL) >> 32));
	raw_w32(h, SPIO_NVME_REG_ACQ, (uint32_t)spio_vtophys(h->cq[0], NULL));
	raw_w32(h, SPIO_NVME_REG_ACQ + 4, (uint32_t)(spio_vtophys(h->cq[0], NULL) >> 32));
	cc.bits.en = 1;
	cc.bits.iosqes = 6;
	cc.bits.iocqes = 4;
	raw_w32(h, SPIO_NVME_REG_CC, cc.raw);
	for (int i = 0; i < 100 && !fake_pcie_is_ready(fp); i++) {
		fake_pcie_poll(fp);
	}
	memset(&c, 0, sizeof(c));
	c.opc = SPIO_NVME_OPC_CREATE_IO_CQ;
	c.dptr.prp.prp1 = spio_vtophys(h->cq[1], NULL);
	c.cdw10 = ((QUEUE_ENTRIES - 1u) << 16) | 1;
	c.cdw11 = 1;
	if (raw_admin(h, fp, &c) != 0) {
		return -EIO;
	}
	memset(&c, 0, sizeof(c));
	c.opc = SPIO_NVME_OPC_CREATE_IO_SQ;
	c.dptr.prp.prp1 = spio_vtophys(h->sq[1], NULL);
	c.cdw10 = ((QUEUE_ENTRIES - 1u) << 16) | 1;
	c.cdw11 = (1u << 16) | 1;
	return raw_admin(h, fp, &c);
}

static void raw_teardown(struct raw *h)
{
	if (h->ctx != NULL) {
		fake_pcie_ops()->close(h->ctx);
	}
	for (int q = 0; q < 2; q++) {
		spio_dma_free(h->sq[q]);
		spio_dma_free(h->cq[q]);
	}
}

static int bench_fake_alone(uint32_t qd)
{
	struct fake_pcie_opts fo;
	struct fake_pcie *fp;
	struct raw h;
	uint8_t *buf = NULL;
	uint64_t done = 0, t0, lba = 0;
	uint32_t errors = 0, inflight = 0;
	int rc;

	fake_pcie_opts_init(&fo);
	fo.traddr = RAW_TRADDR;
	fo.num_ns = 1;
	fp = fake_pcie_create(&fo);
	if (fp == NULL) {
		return -ENOMEM;
	}
	rc = raw_setup(&h, fp);
	buf = spio_dma_malloc((size_t)qd * 4096, 4096);
	if (rc != 0 || buf == NULL) {
		rc = rc != 0 ? rc : -ENOMEM;
		goto out;
	}
	for (int pass = 0; pass < 2; pass++) {
		uint64_t end, ticks = pass == 0 ? g_duration_ticks / 4 : g_duration_ticks;

		done = 0;
		t0 = spio_get_ticks();
		end = t0 + ticks;
		while (spio_get_ticks() < end) {
			for (uint32_t k = 0; k < CLOCK_EVERY; k++) {
				while (inflight < qd) {
					struct spio_nvme_cmd c = {.opc = SPIO_NVME_OPC_READ,
								  .nsid = 1};

					c.cdw10 = (uint32_t)lba;
					c.cdw12 = 7;
					c.dptr.prp.prp1 =
					    spio_vtophys(buf + (size_t)inflight * 4096, NULL);
					lba = (lba + 8) % 16000;
					raw_submit(&h, 1, &c);
					inflight++;
				}
				raw_w32(&h, SPIO_NVME_REG_SQ0TDBL + 8, h.sq_tail[1]);
				fake_pcie_poll(fp);
				uint32_t n = raw_reap(&h, 1, &errors);
				inflight -= n;
				done += n;
			}
		}
	}
	if (errors != 0 || fake_pcie_get_stats(fp)->violations != 0) {
		rc = -EIO;
		goto out;
	}
	print_line("fake_alone", 4096, qd, done, spio_get_ticks() - t0, -1, -1);
out:
	raw_teardown(&h);
	spio_dma_free(buf);
	fake_pcie_destroy(fp);
	return rc;
}

static int run_all(void)
{
	static const uint32_t qds[] = {1, 32, 128};
	struct spio_nvme_transport_id trid;
	struct spio_nvme_io_qpair_opts qo;
	struct spio_nvme_ctrlr *ctrlr;
	struct spio_nvme_qpair *qp;
	struct fake_pcie_opts fo;
	int rc = 0;

	fake_pcie_opts_init(&fo);
	fo.num_ns = 1;
	fo.ns_size = 64u << 20;
	g_fp = fake_pcie_create(&fo);
	if (g_fp == NULL) {
		return -ENOMEM;
	}
	nvme_pcie_set_dev_ops(fake_pcie_ops());
	spio_nvme_transport_id_parse(&trid, "trtype:PCIe traddr:" TRADDR);
	ctrlr = spio_nvme_connect(&trid, NULL);
	if (ctrlr == NULL) {
		fprintf(stderr, "bench_nvme_pcie: connect: %s\n", strerror(errno));
		rc = -errno;
		goto out_fake;
	}
	spio_nvme_ctrlr_get_default_io_qpair_opts(ctrlr, &qo, sizeof(qo));
	qo.io_queue_size = QUEUE_ENTRIES;
	qp = spio_nvme_ctrlr_alloc_io_qpair(ctrlr, &qo, sizeof(qo));
	if (qp == NULL || spio_nvme_ctrlr_connect_io_qpair(ctrlr, qp) != 0) {
		fprintf(stderr, "bench_nvme_pcie: I/O qpair: %s\n", strerror(errno));
		rc = -EIO;
		goto out_ctrlr;
	}
	for (size_t i = 0; i < sizeof(qds) / sizeof(qds[0]) && rc == 0; i++) {
		rc = bench_read(ctrlr, qp, 4096, qds[i]);
	}
	if (rc == 0) {
		rc = bench_read(ctrlr, qp, 128 * 1024, 32);
	}
	spio_nvme_ctrlr_free_io_qpair(qp);
out_ctrlr:
	spio_nvme_detach(ctrlr);
out_fake:
	nvme_pcie_set_dev_ops(NULL);
	fake_pcie_destroy(g_fp);
	if (rc == 0) {
		rc = bench_fake_alone(1);
	}
	if (rc == 0) {
		rc = bench_fake_alone(32);
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct spio_env_opts eo;
	uint64_t ms = 300;
	int rc;

	if (argc > 1 && bench_parse_args(argc, argv, &ms) != 0) {
		return 2;
	}
	spio_env_opts_init(&eo, sizeof(eo));
	eo.name = "bench_nvme_pcie";
	eo.no_huge = true; /* IOVA = VA: the fake reads host memory directly */
	if (spio_env_init(&eo) != 0) {
		fprintf(stderr, "bench_nvme_pcie: spio_env_init failed\n");
		return 1;
	}
	g_duration_ticks = ms * spio_get_ticks_hz() / 1000;
	rc = spio_thread_lib_init(NULL, 0);
	if (rc != 0) {
		fprintf(stderr, "bench_nvme_pcie: spio_thread_lib_init: %s\n", strerror(-rc));
		return 1;
	}
	g_thread = spio_thread_create("bench_nvme_pcie", NULL);
	if (g_thread == NULL) {
		return 1;
	}
	spio_set_thread(g_thread);
	rc = run_all();
	if (rc != 0) {
		fprintf(stderr, "bench_nvme_pcie: %s\n", strerror(-rc));
	}
	spio_thread_exit(g_thread);
	while (!spio_thread_is_exited(g_thread)) {
		spio_thread_poll(g_thread, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
	return rc == 0 ? 0 : 1;
}
