/*
 * Fault injection (env/fault.h) under the NVMe/TCP host and the NVMe-oF TCP
 * target: our initiator connects to our target on 127.0.0.1 (a malloc
 * namespace) and writes and reads back a set of regions while sends fail
 * (every Nth, or at random with a seed) or mempool gets and DMA allocations
 * fail. For every cycle:
 *  - each submitted command completes exactly once; success only with the
 *    right data (a read returns, block by block, what a successful write put
 *    there, or what a failed write may have put there);
 *  - a connect that failed reports an error (and no controller);
 *  - with nothing injected, nothing fails;
 *  - after the host detached, the target has dropped every connection and
 *    its poll groups' buffer pools and the bdev I/O pool are full again;
 *  - with the faults disarmed, a new connection reads back the regions and
 *    writes them anew.
 * ASan finds what is leaked at the end.
 *
 * Everything runs on the test's OS thread: poll_all() polls the target
 * thread, the poll groups and the host thread in turn, so which send fails
 * is the same from run to run.
 *
 * The target set-up is the NVMe-oF tests' helper, compiled into this binary
 * (the helpers of tests/unit/nvmf are linked only into the tests there).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/env.h"
#include "spio/nvme.h"
#include "spio/nvmf.h"
#include "spio/thread.h"

#include "../nvmf/helper_nvmf_setup.c"
#include "bdev/bdev_internal.h"
#include "env/fault.h"
#include "nvmf/nvmf_core.h"
#include "nvmf/tcp_internal.h"

#define SUBNQN "nqn.2016-06.io.spdk-io:fault-nvmf"
#define WAIT_MS 20000
#define NS_BLOCKS 4096u
#define BS 512u
/* Regions: even ones 4 KiB (in the capsule), odd ones 32 KiB (R2T, pool buffers). */
#define NREG 12
#define REG_STRIDE 128u /* blocks */
#define MAX_MAYBE 64
/* Pool of 8 KiB buffers smaller than the writes in flight: some wait for buffers. */
#define POOL_BUFS 12u
#define IO_UNIT 8192u

static struct nvmf_transport *g_tr;
static uint64_t g_gen; /* generation of the last write submitted */
static uint64_t g_injected[FAULT_SITE_COUNT];
static size_t g_io_pool_full;
static int g_failed_cmds;     /* commands that failed under faults, in this case */
static int g_failed_connects; /* connects that failed under faults, in this case */

/* What each region may hold: `known`, or one of the failed writes since. */
struct region {
	uint64_t known;
	uint64_t maybe[MAX_MAYBE];
	int nmaybe;
};
static struct region g_reg[NREG];

static void poll_all(void)
{
	spio_thread_poll(g_nsu.tt, 0, 0);
	nsu_poll_groups();
	spio_thread_poll(g_nsu.ht, 0, 0);
}

static uint32_t reg_blocks(int r)
{
	return r % 2 ? 64 : 8;
}

static uint64_t reg_lba(int r)
{
	return (uint64_t)r * REG_STRIDE;
}

/* Block `b` of region `r` as written by generation `gen` (0: never written, zeros). */
static void fill_block(uint8_t *buf, int r, uint32_t b, uint64_t gen)
{
	if (gen == 0) {
		memset(buf, 0, BS);
		return;
	}
	for (uint32_t off = 0; off < BS; off += 8) {
		uint64_t x = (gen << 32) ^ ((uint64_t)r << 24) ^ ((uint64_t)b << 12) ^ off;

		x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ull;
		x ^= x >> 32;
		memcpy(buf + off, &x, 8);
	}
}

static bool block_is(const uint8_t *got, int r, uint32_t b, uint64_t gen)
{
	uint8_t want[BS];

	fill_block(want, r, b, gen);
	return memcmp(got, want, BS) == 0;
}

/* A successful read of region `r`: each block from the last good write or a failed one since. */
static void check_region(const uint8_t *buf, int r, const char *what)
{
	const struct region *g = &g_reg[r];

	for (uint32_t b = 0; b < reg_blocks(r); b++) {
		const uint8_t *blk = buf + (size_t)b * BS;
		bool ok = block_is(blk, r, b, g->known);

		for (int i = 0; !ok && i < g->nmaybe; i++) {
			ok = block_is(blk, r, b, g->maybe[i]);
		}
		cr_assert(ok,
			  "%s: region %d block %u read back successfully but holds neither "
			  "generation %" PRIu64
			  " (last good write) nor any of %d failed writes since",
			  what, r, b, g->known, g->nmaybe);
	}
}

/*
 * Target
 */

static void setup(void)
{
	struct spio_nvmf_transport_opts o;
	struct spio_nvmf_subsystem *s;

	fault_clear();
	nsu_init("test_fault_nvmf", poll_all, WAIT_MS);
	cr_assert_eq(spio_nvmf_transport_opts_init("TCP", &o, sizeof(o)), 0);
	o.max_io_size = 65536;
	o.io_unit_size = IO_UNIT;
	o.num_shared_buffers = POOL_BUFS;
	nsu_tgt_start(&o, 0);
	g_tr = (struct nvmf_transport *)spio_nvmf_tgt_get_transport(g_nsu.tgt, "TCP");
	cr_assert_not_null(g_tr);
	nsu_malloc("Malloc0", NS_BLOCKS, BS, NULL);
	s = nsu_subsys(SUBNQN, 0, true, false);
	cr_assert_eq(nsu_add_ns(s, "Malloc0", NULL), 1);
	nsu_listen(s);
	memset(g_reg, 0, sizeof(g_reg));
	memset(g_injected, 0, sizeof(g_injected));
	g_gen = 0;
	g_failed_cmds = 0;
	g_failed_connects = 0;
	g_io_pool_full = bdev_io_free_count();
}

static void teardown(void)
{
	fault_clear();
	nsu_fini();
}

TestSuite(fault_nvmf, .init = setup, .fini = teardown, .timeout = 120);

/* The TCP poll group of each of the target's poll groups. Test's OS thread, between polls. */
static uint32_t tcp_groups(struct tcp_group **out, uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < g_nsu.tgt->num_groups && n < max; i++) {
		struct nvmf_poll_group *pg = g_nsu.tgt->groups[i];

		for (uint32_t t = 0; pg != NULL && t < NVMF_MAX_TRANSPORTS; t++) {
			if (pg->tgroups[t].transport == g_tr && pg->tgroups[t].tgroup != NULL) {
				out[n++] = (struct tcp_group *)(void *)pg->tgroups[t].tgroup;
			}
		}
	}
	return n;
}

/* Whether the target is back at rest: no connection, every buffer and bdev_io free. */
static bool target_idle(void *arg)
{
	struct tcp_group *tg[8];
	uint32_t n = tcp_groups(tg, 8);

	(void)arg;
	if (nvmf_tcp_get_conn_count(g_tr) != 0) {
		return false;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!TAILQ_EMPTY(&tg[i]->conns) || tg[i]->nfree != POOL_BUFS ||
		    !TAILQ_EMPTY(&tg[i]->buf_waiters)) {
			return false;
		}
	}
	return bdev_io_free_count() == g_io_pool_full;
}

static void expect_target_idle(const char *what)
{
	if (!nsu_poll_until(target_idle, NULL, WAIT_MS)) {
		struct tcp_group *tg[8];
		uint32_t n = tcp_groups(tg, 8);

		for (uint32_t i = 0; i < n; i++) {
			fprintf(stderr, "poll group %u: connections %s, %u of %u buffers free\n", i,
				TAILQ_EMPTY(&tg[i]->conns) ? "none" : "left", tg[i]->nfree,
				POOL_BUFS);
		}
		cr_assert_fail("%s: target not at rest after the host detached: %u connections, "
			       "%zu of %zu bdev_io free",
			       what, nvmf_tcp_get_conn_count(g_tr), bdev_io_free_count(),
			       g_io_pool_full);
	}
}

/* On a hang: where each of the target's requests is. */
static void dump_target(void)
{
	struct tcp_group *tg[8];
	uint32_t n = tcp_groups(tg, 8);

	for (uint32_t i = 0; i < n; i++) {
		struct tcp_conn *c;

		fprintf(stderr,
			"poll group %u: %u of %u buffers free, %" PRIu64 " waited for a bdev_io\n",
			i, tg[i]->nfree, POOL_BUFS, tg[i]->group->stat.pending_bdev_io);
		TAILQ_FOREACH (c, &tg[i]->conns, link) {
			for (uint32_t k = 0; k < c->depth; k++) {
				if (c->reqs[k].state != TCP_REQ_FREE) {
					fprintf(
					    stderr,
					    "  conn qid %u state %d: request %u state %d opc %#x\n",
					    c->qid, c->state, k, c->reqs[k].state,
					    c->reqs[k].cmd.opc);
				}
			}
		}
	}
}

/*
 * Host
 */

struct host {
	struct spio_nvme_ctrlr *ctrlr;
	struct spio_nvme_ns *ns;
	struct spio_nvme_qpair *qp;
};

/* Poll the host's I/O qpair (if any) and every thread once. */
static void host_poll(struct host *h)
{
	if (h->qp != NULL) {
		struct spio_thread *prev = spio_thread_enter(g_nsu.ht);

		/* -ENXIO once it lost its connection: its commands were failed then. */
		(void)spio_nvme_qpair_process_completions(h->qp, 0);
		spio_thread_leave(prev);
	}
	poll_all();
}

/* Poll until the int at `flag` is set; false after WAIT_MS. */
static bool host_wait_flag(struct host *h, const int *flag)
{
	uint64_t limit = spio_get_ticks() + (uint64_t)WAIT_MS * spio_get_ticks_hz() / 1000;

	while (*(const volatile int *)flag == 0) {
		if (spio_get_ticks() > limit) {
			return false;
		}
		host_poll(h);
	}
	return true;
}

/*
 * Connect the controller and one I/O qpair. \return 0, or the error the host
 * reported (the controller, if any, still to be detached by host_detach).
 */
static int host_connect(struct host *h)
{
	struct spio_nvme_ctrlr_opts opts;
	struct spio_nvme_transport_id trid = g_nsu.trid;
	struct nsu_connect r = {0};
	struct spio_thread *prev;
	int rc;

	memset(h, 0, sizeof(*h));
	snprintf(trid.subnqn, sizeof(trid.subnqn), "%s", SUBNQN);
	spio_nvme_ctrlr_get_default_opts(&opts, sizeof(opts));
	prev = spio_thread_enter(g_nsu.ht);
	rc = spio_nvme_connect_async(&trid, &opts, nsu_ctrlr_connected, &r);
	spio_thread_leave(prev);
	if (rc != 0) {
		return rc;
	}
	cr_assert(host_wait_flag(h, &r.done), "controller connect did not finish");
	cr_assert((r.status == 0) == (r.ctrlr != NULL),
		  "controller connect: status %d with controller %p", r.status, (void *)r.ctrlr);
	cr_assert_eq(r.done, 1, "controller connect: callback ran %d times", r.done);
	if (r.status != 0) {
		cr_assert_lt(r.status, 0, "controller connect: failure as positive status %d",
			     r.status);
		return r.status;
	}
	h->ctrlr = r.ctrlr;

	prev = spio_thread_enter(g_nsu.ht);
	h->ns = spio_nvme_ctrlr_get_ns(h->ctrlr, 1);
	h->qp = spio_nvme_ctrlr_alloc_io_qpair(h->ctrlr, NULL, 0);
	rc = h->qp == NULL ? -errno : 0;
	spio_thread_leave(prev);
	cr_assert_not_null(h->ns, "connected, but namespace 1 is not active");
	if (rc != 0) {
		/* ENXIO: the controller failed since its connect. */
		cr_assert_eq(rc, -ENXIO, "alloc_io_qpair: expected success or -ENXIO, got %d", rc);
		return rc;
	}
	memset(&r, 0, sizeof(r));
	prev = spio_thread_enter(g_nsu.ht);
	rc = spio_nvme_qpair_connect_async(h->qp, nsu_qpair_connected, &r);
	spio_thread_leave(prev);
	if (rc != 0) {
		cr_assert_eq(rc, -ENXIO, "qpair connect: expected start or -ENXIO, got %d", rc);
		return rc;
	}
	cr_assert(host_wait_flag(h, &r.done), "I/O qpair connect did not finish");
	cr_assert_eq(r.done, 1, "qpair connect: callback ran %d times", r.done);
	cr_assert_leq(r.status, 0, "qpair connect: failure as positive status %d", r.status);
	return r.status;
}

static void host_detach(struct host *h)
{
	struct spio_thread *prev;
	int done = 0;
	int rc;

	if (h->ctrlr == NULL) {
		return;
	}
	prev = spio_thread_enter(g_nsu.ht);
	if (h->qp != NULL) {
		rc = spio_nvme_ctrlr_free_io_qpair(h->qp);
		cr_assert_eq(rc, 0, "free_io_qpair: %d", rc);
		h->qp = NULL;
	}
	rc = spio_nvme_detach_async(h->ctrlr, nsu_set_flag, &done);
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "detach: %d", rc);
	cr_assert(host_wait_flag(h, &done), "detach did not finish");
	memset(h, 0, sizeof(*h));
}

/* Commands of one phase: a buffer and a completion per region. */
struct batch {
	uint8_t *buf[NREG];
	struct nsu_io io[NREG];
	bool submitted[NREG];
	uint64_t gen[NREG];
};

static void batch_alloc(struct batch *b)
{
	memset(b, 0, sizeof(*b));
	for (int r = 0; r < NREG; r++) {
		b->buf[r] = calloc(reg_blocks(r), BS);
		cr_assert_not_null(b->buf[r]);
	}
}

static void batch_free(struct batch *b)
{
	for (int r = 0; r < NREG; r++) {
		free(b->buf[r]);
	}
}

/*
 * Submit a write (new generations) or a read of every region at once and
 * wait for each completion. \return how many failed (submit or completion).
 */
static int batch_run(struct host *h, struct batch *b, bool write, const char *what)
{
	uint64_t limit = spio_get_ticks() + (uint64_t)WAIT_MS * spio_get_ticks_hz() / 1000;
	struct spio_thread *prev = spio_thread_enter(g_nsu.ht);
	int failed = 0;

	for (int r = 0; r < NREG; r++) {
		int rc;

		memset(&b->io[r], 0, sizeof(b->io[r]));
		if (write) {
			b->gen[r] = ++g_gen;
			for (uint32_t k = 0; k < reg_blocks(r); k++) {
				fill_block(b->buf[r] + (size_t)k * BS, r, k, b->gen[r]);
			}
			rc = spio_nvme_ns_cmd_write(h->ns, h->qp, b->buf[r], reg_lba(r),
						    reg_blocks(r), nsu_io_done, &b->io[r], 0);
		} else {
			memset(b->buf[r], 0xa5, (size_t)reg_blocks(r) * BS);
			rc = spio_nvme_ns_cmd_read(h->ns, h->qp, b->buf[r], reg_lba(r),
						   reg_blocks(r), nsu_io_done, &b->io[r], 0);
		}
		/* -ENXIO: the qpair lost its connection already; nothing was queued. */
		cr_assert(rc == 0 || rc == -ENXIO, "%s: %s of region %d: submit %d", what,
			  write ? "write" : "read", r, rc);
		b->submitted[r] = rc == 0;
	}
	spio_thread_leave(prev);

	for (;;) {
		int pending = 0;

		for (int r = 0; r < NREG; r++) {
			pending += b->submitted[r] && b->io[r].done == 0;
		}
		if (pending == 0) {
			break;
		}
		if (spio_get_ticks() >= limit) {
			dump_target();
			cr_assert_fail("%s: %d commands never completed", what, pending);
		}
		host_poll(h);
	}
	/* More polls: a second completion of a command would show now. */
	for (int i = 0; i < 50; i++) {
		host_poll(h);
	}
	for (int r = 0; r < NREG; r++) {
		bool ok;

		if (!b->submitted[r]) {
			cr_assert_eq(b->io[r].done, 0,
				     "%s: region %d: rejected at submit, yet completed", what, r);
			failed++;
			continue;
		}
		cr_assert_eq(b->io[r].done, 1, "%s: region %d: completed %d times", what, r,
			     b->io[r].done);
		ok = !spio_nvme_cpl_is_error(&b->io[r].cpl);
		failed += !ok;
		if (write) {
			struct region *g = &g_reg[r];

			if (ok) {
				g->known = b->gen[r];
				g->nmaybe = 0;
			} else {
				cr_assert_lt(g->nmaybe, MAX_MAYBE,
					     "region %d: too many failed writes", r);
				g->maybe[g->nmaybe++] = b->gen[r];
			}
		} else if (ok) {
			check_region(b->buf[r], r, what);
		}
	}
	return failed;
}

/* Every region read back and written anew, with nothing armed: all must succeed. */
static void clean_pass(const char *what)
{
	struct host h;
	struct batch b;
	int rc, failed;

	batch_alloc(&b);
	rc = host_connect(&h);
	cr_assert_eq(rc, 0, "%s: connect with faults disarmed: %d", what, rc);
	failed = batch_run(&h, &b, false, what);
	cr_assert_eq(failed, 0, "%s: %d reads failed with faults disarmed", what, failed);
	failed = batch_run(&h, &b, true, what);
	cr_assert_eq(failed, 0, "%s: %d writes failed with faults disarmed", what, failed);
	failed = batch_run(&h, &b, false, what);
	cr_assert_eq(failed, 0, "%s: %d reads failed with faults disarmed", what, failed);
	host_detach(&h);
	expect_target_idle(what);
	batch_free(&b);
}

/*
 * One cycle under `spec`: connect, write every region, read every region,
 * detach; then, disarmed, the target must be at rest and a clean pass work.
 */
static void cycle(const char *spec)
{
	uint64_t injected = 0;
	struct host h;
	struct batch b;
	char err[128] = "";
	int rc, failed = 0;

	batch_alloc(&b);
	cr_assert_eq(fault_configure(spec, err, sizeof(err)), 0, "spec %s: %s", spec, err);
	rc = host_connect(&h);
	if (rc == 0) {
		failed += batch_run(&h, &b, true, spec);
		failed += batch_run(&h, &b, false, spec);
	}
	host_detach(&h);
	g_failed_cmds += failed;
	g_failed_connects += rc != 0;
	for (int s = 0; s < FAULT_SITE_COUNT; s++) {
		injected += fault_count((enum fault_site)s);
		g_injected[s] += fault_count((enum fault_site)s);
	}
	fault_clear();
	if (injected == 0) {
		cr_assert(rc == 0 && failed == 0,
			  "%s: nothing injected, yet connect %d and %d commands failed", spec, rc,
			  failed);
	}
	expect_target_idle(spec);
	clean_pass(spec);
	batch_free(&b);
}

Test(fault_nvmf, send_every_n_sweep)
{
	static const int ns[] = {1,  2,	 3,  4,	 5,  6,	 7,  8,	 9,  10, 11, 12, 13,
				 14, 15, 16, 17, 19, 21, 24, 27, 31, 36, 42, 50, 64};
	char spec[64];

	for (size_t i = 0; i < SPIO_COUNTOF(ns); i++) {
		snprintf(spec, sizeof(spec), "send=every:%d", ns[i]);
		cycle(spec);
	}
	cr_assert_gt(g_injected[FAULT_SOCK_SEND], 0, "no send failed in the whole sweep");
	cr_assert_gt(g_failed_connects, 0, "no connect failed in the whole sweep");
	cr_assert_gt(g_failed_cmds, 0, "no command failed in the whole sweep");
}

Test(fault_nvmf, send_every_n_after_connect)
{
	char spec[64];

	/* The connect's sends pass: the faults land among the commands and R2Ts. */
	for (int n = 1; n <= 12; n++) {
		snprintf(spec, sizeof(spec), "send=every:%d:after:%d", n, 10 + 3 * n);
		cycle(spec);
	}
	cr_assert_gt(g_injected[FAULT_SOCK_SEND], 0, "no send failed in the whole sweep");
	cr_assert_gt(g_failed_cmds, 0, "no command failed in the whole sweep");
}

Test(fault_nvmf, send_rate_seeds)
{
	char spec[64];

	for (int seed = 1; seed <= 12; seed++) {
		snprintf(spec, sizeof(spec), "send=rate:0.03,seed=%d", seed);
		cycle(spec);
	}
	cr_assert_gt(g_injected[FAULT_SOCK_SEND], 0, "no send failed with any seed");
	cr_assert_gt(g_failed_cmds, 0, "no command failed with any seed");
}

/*
 * Found a hang (docs/reliability.md, "Fault injection"): a bdev_io get that
 * failed while the poll group's thread had no other bdev_io in flight parked
 * the command on spio_bdev_queue_io_wait(), which only a free on that thread
 * woke; the bdev layer now also retries waiters from a poller.
 */
Test(fault_nvmf, mempool_and_dma_every_n_sweep)
{
	char spec[64];

	for (int n = 1; n <= 24; n++) {
		snprintf(spec, sizeof(spec), "mempool=every:%d,dma=every:%d", n, n);
		cycle(spec);
	}
	cr_assert_gt(g_injected[FAULT_MEMPOOL_GET], 0, "no mempool get failed in the sweep");
}

Test(fault_nvmf, mempool_and_dma_rate_seeds)
{
	char spec[64];

	for (int seed = 1; seed <= 12; seed++) {
		snprintf(spec, sizeof(spec), "mempool=rate:0.05,dma=rate:0.05,seed=%d", seed);
		cycle(spec);
	}
	cr_assert_gt(g_injected[FAULT_MEMPOOL_GET], 0, "no mempool get failed with any seed");
	cr_log_info("mempool rate: %d connects and %d commands failed, %" PRIu64
		    " DMA allocations failed",
		    g_failed_connects, g_failed_cmds, g_injected[FAULT_DMA_ALLOC]);
}

Test(fault_nvmf, all_sites_rate_seeds)
{
	char spec[96];

	for (int seed = 1; seed <= 8; seed++) {
		snprintf(spec, sizeof(spec),
			 "send=rate:0.02,mempool=rate:0.02,dma=rate:0.02,seed=%d", seed + 100);
		cycle(spec);
	}
	cr_assert_gt(g_injected[FAULT_SOCK_SEND] + g_injected[FAULT_MEMPOOL_GET], 0,
		     "nothing injected with any seed");
}
