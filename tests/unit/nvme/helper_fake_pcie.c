/*
 * The fake NVMe PCIe controller (see helper_fake_pcie.h): registers and
 * doorbells in a memory BAR, queues in the host's DMA memory, namespaces in
 * malloc'd memory, driven by a spio poller. Behaviour follows the NVMe base
 * specification 1.4 for a PCIe controller: CAP.CQR=1 (queues physically
 * contiguous), PRPs for admin commands, PRPs or SGLs (when SGLS says so)
 * for I/O.
 *
 * This file: registers, queue mechanics, the poll, the device operations,
 * life cycle and state. Commands: helper_fake_pcie_cmd.c; fault and
 * held-command controls: helper_fake_pcie_fault.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "spio/env.h"
#include "spio/thread.h"

#include "helper_fake_pcie_internal.h"

static struct fake_pcie *g_fakes[MAX_FAKES];

void fake_pcie_opts_init(struct fake_pcie_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->traddr = "0000:00:04.0";
	opts->mqes = 1023;
	opts->dstrd = 0;
	opts->to = 20;
	opts->mpsmax = 4;
	opts->mdts = 5;
	opts->sgls = 0;
	opts->max_io_queues = 16;
	opts->num_ns = 2;
	opts->ns_size = 8u << 20;
	opts->block_size = 512;
	opts->ready_delay = 2;
	opts->shutdown_delay = 1;
	opts->aerl = 3;
	opts->vwc = true;
	opts->msix_vectors = FAKE_PCIE_MAX_IOQ + 1;
	opts->poll_period_us = 0;
}

void fp_violation(struct fake_pcie *fp, const char *fmt, ...)
{
	va_list ap;

	fp->st.violations++;
	va_start(ap, fmt);
	vsnprintf(fp->st.last_violation, sizeof(fp->st.last_violation), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fake_pcie %s: host violation: %s\n", fp->traddr, fp->st.last_violation);
}

static uint32_t shadow32(const struct fake_pcie *fp, uint32_t off)
{
	uint32_t v;

	memcpy(&v, fp->shadow + off, 4);
	return v;
}

static uint64_t shadow64(const struct fake_pcie *fp, uint32_t off)
{
	uint64_t v;

	memcpy(&v, fp->shadow + off, 8);
	return v;
}

/* ---- queues ---- */

static void clear_doorbells(struct fake_pcie *fp, uint32_t qid)
{
	wr32(fp, sq_db(fp, qid), 0);
	wr32(fp, cq_db(fp, qid), 0);
}

static void drop_queues(struct fake_pcie *fp)
{
	fp_abort_held(fp, -1);
	for (uint32_t q = 0; q <= FAKE_PCIE_MAX_IOQ; q++) {
		memset(&fp->sq[q], 0, sizeof(fp->sq[q]));
		memset(&fp->cq[q], 0, sizeof(fp->cq[q]));
		clear_doorbells(fp, q);
	}
	fp->n_aers = 0;
}

static uint32_t cq_free(const struct fq *cq)
{
	return cq->size - 1 - (cq->tail + cq->size - cq->head) % cq->size;
}

void fp_post_cqe(struct fake_pcie *fp, uint16_t cqid, struct spio_nvme_cpl *cpl)
{
	struct fq *cq = &fp->cq[cqid];
	struct spio_nvme_cpl *e = (struct spio_nvme_cpl *)(cq->ring + cq->tail * CQE_SIZE);
	uint16_t status;

	e->cdw0 = cpl->cdw0;
	e->cdw1 = cpl->cdw1;
	e->sqhd = cpl->sqhd;
	e->sqid = cpl->sqid;
	e->cid = cpl->cid;
	cpl->status.p = cq->phase & 1;
	status = cpl->status_raw;
	/* The phase tag makes the entry the host's: write it last, after the rest. */
	__atomic_store_n(&e->status_raw, status, __ATOMIC_RELEASE);
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
		fp->st.phase_flips[cqid]++;
	}
	if (cqid == 0 || cq->ien) {
		fp->irq_pending[cqid == 0 ? 0 : cq->iv] = true;
	}
}

/* The MSI-X messages of one poll: the vectors whose CQs got entries, once each. */
static void signal_irqs(struct fake_pcie *fp)
{
	uint64_t one = 1;

	for (uint32_t v = 0; v < fp->n_irqs; v++) {
		if (!fp->irq_pending[v]) {
			continue;
		}
		fp->irq_pending[v] = false;
		if (write(fp->irq_fds[v], &one, sizeof(one)) == (ssize_t)sizeof(one)) {
			fp->st.irq_writes[v]++;
		}
	}
	/* Vectors not enabled drop their messages (MSI-X off, or a masked entry). */
	memset(fp->irq_pending, 0, sizeof(fp->irq_pending));
}

static void close_irqs(struct fake_pcie *fp)
{
	for (uint32_t v = 0; v < fp->n_irqs; v++) {
		close(fp->irq_fds[v]);
	}
	fp->n_irqs = 0;
	memset(fp->irq_pending, 0, sizeof(fp->irq_pending));
}

/* ---- the poll ---- */

static void log_reg(struct fake_pcie *fp, uint32_t off, uint64_t val)
{
	if (fp->nlog < FAKE_PCIE_REG_LOG_MAX) {
		fp->log[fp->nlog].poll = fp->st.polls;
		fp->log[fp->nlog].off = off;
		fp->log[fp->nlog].val = val;
		fp->nlog++;
	}
}

/* Record the host-writable registers that changed; guard the read-only ones. */
static void sample_registers(struct fake_pcie *fp)
{
	static const uint32_t regs32[] = {SPIO_NVME_REG_INTMS, SPIO_NVME_REG_INTMC,
					  SPIO_NVME_REG_CC, SPIO_NVME_REG_NSSR, SPIO_NVME_REG_AQA};
	static const uint32_t regs64[] = {SPIO_NVME_REG_ASQ, SPIO_NVME_REG_ACQ};

	for (size_t i = 0; i < sizeof(regs32) / sizeof(regs32[0]); i++) {
		uint32_t v = rd32(fp, regs32[i]);

		if (v != shadow32(fp, regs32[i])) {
			memcpy(fp->shadow + regs32[i], &v, 4);
			log_reg(fp, regs32[i], v);
		}
	}
	for (size_t i = 0; i < sizeof(regs64) / sizeof(regs64[0]); i++) {
		uint64_t v = rd64(fp, regs64[i]);

		if (v != shadow64(fp, regs64[i])) {
			memcpy(fp->shadow + regs64[i], &v, 8);
			log_reg(fp, regs64[i], v);
		}
	}
	if (rd64(fp, SPIO_NVME_REG_CAP) != fp->cap || rd32(fp, SPIO_NVME_REG_VS) != fp->vs ||
	    rd32(fp, SPIO_NVME_REG_CSTS) != fp->csts) {
		fp_violation(fp, "host wrote a read-only register (CAP, VS or CSTS)");
		wr64(fp, SPIO_NVME_REG_CAP, fp->cap);
		wr32(fp, SPIO_NVME_REG_VS, fp->vs);
		wr32(fp, SPIO_NVME_REG_CSTS, fp->csts);
	}
}

void fp_set_csts(struct fake_pcie *fp, uint32_t csts)
{
	fp->csts = csts;
	wr32(fp, SPIO_NVME_REG_CSTS, csts);
}

static bool enable_checks(struct fake_pcie *fp, union spio_nvme_cc_register cc)
{
	union spio_nvme_aqa_register aqa = {.raw = shadow32(fp, SPIO_NVME_REG_AQA)};
	uint64_t asq = shadow64(fp, SPIO_NVME_REG_ASQ), acq = shadow64(fp, SPIO_NVME_REG_ACQ);

	if (cc.bits.mps > fp->opts.mpsmax || cc.bits.css != SPIO_NVME_CC_CSS_NVM ||
	    cc.bits.ams != SPIO_NVME_CC_AMS_RR || cc.bits.iosqes != 6 || cc.bits.iocqes != 4 ||
	    cc.bits.shn != 0) {
		fp_violation(fp, "CC 0x%08x not valid for this controller", cc.raw);
		return false;
	}
	if (aqa.bits.asqs < 1 || aqa.bits.acqs < 1) {
		fp_violation(fp, "AQA 0x%08x: admin queues of fewer than 2 entries", aqa.raw);
		return false;
	}
	fp->page_size = 4096u << cc.bits.mps;
	if ((asq & (fp->page_size - 1)) || (acq & (fp->page_size - 1))) {
		fp_violation(fp, "ASQ 0x%" PRIx64 " / ACQ 0x%" PRIx64 " not page aligned", asq,
			     acq);
		return false;
	}
	fp->sq[0].ring = fp_dma_ptr(asq, (uint64_t)(aqa.bits.asqs + 1) * SQE_SIZE);
	fp->cq[0].ring = fp_dma_ptr(acq, (uint64_t)(aqa.bits.acqs + 1) * CQE_SIZE);
	if (fp->sq[0].ring == NULL || fp->cq[0].ring == NULL) {
		fp_violation(fp, "admin queues 0x%" PRIx64 " / 0x%" PRIx64 " not DMA memory", asq,
			     acq);
		return false;
	}
	fp->sq[0].size = aqa.bits.asqs + 1u;
	fp->cq[0].size = aqa.bits.acqs + 1u;
	return true;
}

static void controller_reset(struct fake_pcie *fp)
{
	drop_queues(fp);
	fp->enabled = false;
	fp->cfs = false;
	fp->shn_seen = false;
	fp->n_events = 0;
	fp->nq_set = false;
	fp_set_csts(fp, fp->csts & (3u << 2)); /* SHST stays until the next enable */
}

/* React to CC: enable, disable, shutdown. */
static void handle_cc(struct fake_pcie *fp)
{
	union spio_nvme_cc_register cc = {.raw = shadow32(fp, SPIO_NVME_REG_CC)};
	union spio_nvme_csts_register csts = {.raw = fp->csts};

	if (!fp->enabled && cc.bits.en) {
		fp->enabled = true;
		fp->st.enables++;
		csts.raw = 0;
		drop_queues(fp);
		if (!enable_checks(fp, cc)) {
			fp->cfs = true;
			csts.bits.cfs = 1;
		} else {
			fp->sq[0].live = fp->cq[0].live = true;
			fp->cq[0].phase = 1;
			fp->rdy_wait = fp->ready_delay;
		}
		fp_set_csts(fp, csts.raw);
	} else if (fp->enabled && !cc.bits.en) {
		fp->st.disables++;
		controller_reset(fp);
		return;
	}
	/* Shutdown is honoured enabled or not, as QEMU's controller does. */
	if (cc.bits.shn != 0 && !fp->shn_seen) {
		fp->shn_seen = true;
		fp->st.shutdowns++;
		fp->shn_wait = fp->opts.shutdown_delay;
		csts.bits.shst = SPIO_NVME_SHST_OCCURRING;
		fp_set_csts(fp, csts.raw);
	} else if (cc.bits.shn == 0 && fp->shn_seen) {
		fp->shn_seen = false;
		csts.bits.shst = SPIO_NVME_SHST_NORMAL;
		fp_set_csts(fp, csts.raw);
	}
	if (fp->shn_seen && csts.bits.shst == SPIO_NVME_SHST_OCCURRING) {
		if (fp->shn_wait > 0) {
			fp->shn_wait--;
		} else {
			csts.bits.shst = SPIO_NVME_SHST_COMPLETE;
			fp_set_csts(fp, csts.raw);
		}
	}
	if (fp->enabled && !csts.bits.rdy && !fp->cfs) {
		if (fp->rdy_wait > 0) {
			fp->rdy_wait--;
		} else {
			csts.bits.rdy = 1;
			fp_set_csts(fp, csts.raw);
		}
	}
}

static void read_cq_doorbells(struct fake_pcie *fp)
{
	for (uint32_t q = 0; q <= FAKE_PCIE_MAX_IOQ; q++) {
		struct fq *cq = &fp->cq[q];
		uint32_t v;

		if (!cq->live) {
			continue;
		}
		v = rd32(fp, cq_db(fp, q));
		if (v == cq->db_seen) {
			continue;
		}
		cq->db_seen = v;
		fp->st.cq_doorbells[q]++;
		if (v >= cq->size) {
			fp_violation(fp, "CQ %u head doorbell %u beyond its %u entries", q, v,
				     cq->size);
			continue;
		}
		/* The host may only consume entries the controller posted. */
		if ((v + cq->size - cq->head) % cq->size >
		    (cq->tail + cq->size - cq->head) % cq->size) {
			fp_violation(fp, "CQ %u head doorbell %u passes the tail %u", q, v,
				     cq->tail);
			continue;
		}
		cq->head = v;
	}
}

static void post_pending_events(struct fake_pcie *fp)
{
	while (fp->n_events > 0 && fp->n_aers > 0 && cq_free(&fp->cq[0]) > 0) {
		struct spio_nvme_cpl cpl = {.cdw0 = fp->events[0],
					    .sqhd = (uint16_t)fp->sq[0].head,
					    .cid = fp->aer_cids[0]};

		memmove(fp->events, fp->events + 1, --fp->n_events * sizeof(fp->events[0]));
		memmove(fp->aer_cids, fp->aer_cids + 1, --fp->n_aers * sizeof(fp->aer_cids[0]));
		fp_post_cqe(fp, 0, &cpl);
	}
}

static uint32_t process_sq(struct fake_pcie *fp, uint16_t qid)
{
	struct fq *sq = &fp->sq[qid];
	struct fq *cq = &fp->cq[sq->cqid];
	struct result res[BATCH];
	uint32_t avail = (sq->tail + sq->size - sq->head) % sq->size;
	uint32_t room = cq_free(cq), n = 0, nres;

	if (avail > room) {
		fp->st.cq_full_stalls++;
	}
	nres = 0;
	while (n < avail && nres < room && n < BATCH) {
		struct spio_nvme_cmd cmd;

		memcpy(&cmd, sq->ring + sq->head * SQE_SIZE, sizeof(cmd));
		sq->head = (sq->head + 1) % sq->size;
		n++;
		/* No hold armed (the common case): no call per command. */
		if (fp->hold_count > 0 && fp_hold(fp, qid, &cmd)) {
			continue;
		}
		fp_execute(fp, qid, &cmd, &res[nres++]);
		if (!fp->sq[qid].live) {
			break; /* the command deleted a queue (never its own: checked) */
		}
	}
	if (fp->reorder_armed && nres >= 2) {
		fp->reorder_armed = false;
		fp->st.reorders++;
		for (uint32_t i = 0; i < nres / 2; i++) {
			struct result t = res[i];

			res[i] = res[nres - 1 - i];
			res[nres - 1 - i] = t;
		}
	}
	for (uint32_t i = 0; i < nres; i++) {
		if (res[i].post && fp->cq[sq->cqid].live) {
			res[i].cpl.sqhd = (uint16_t)sq->head;
			fp_post_cqe(fp, sq->cqid, &res[i].cpl);
		}
	}
	return n;
}

static uint32_t process_queues(struct fake_pcie *fp)
{
	uint32_t done = 0;

	read_cq_doorbells(fp);
	if (fp->n_held > 0) {
		done += fp_run_held(fp);
	}
	for (uint16_t q = 0; q <= FAKE_PCIE_MAX_IOQ; q++) {
		struct fq *sq = &fp->sq[q];
		uint32_t v, before, after;

		if (!sq->live) {
			continue;
		}
		v = rd32(fp, sq_db(fp, q));
		if (v != sq->db_seen) {
			sq->db_seen = v;
			fp->st.sq_doorbells[q]++;
			if (v >= sq->size) {
				fp_violation(fp, "SQ %u tail doorbell %u beyond its %u entries", q,
					     v, sq->size);
				continue;
			}
			before = (sq->tail + sq->size - sq->head) % sq->size;
			after = (v + sq->size - sq->head) % sq->size;
			if (after < before) {
				fp_violation(fp, "SQ %u overfilled: tail %u passed the head %u", q,
					     v, sq->head);
			}
			sq->tail = v;
			if (after > fp->st.max_sq_occupancy[q]) {
				fp->st.max_sq_occupancy[q] = after;
			}
		}
		if (sq->head != sq->tail) {
			done += process_sq(fp, q);
		}
	}
	post_pending_events(fp);
	return done;
}

static int poll_once(struct fake_pcie *fp)
{
	union spio_nvme_csts_register csts;
	int n;

	fp->st.polls++;
	sample_registers(fp);
	handle_cc(fp);
	csts.raw = fp->csts;
	if (!fp->enabled || fp->cfs || !csts.bits.rdy || csts.bits.shst != 0) {
		return 0;
	}
	n = (int)process_queues(fp);
	signal_irqs(fp);
	return n;
}

int fake_pcie_poll(struct fake_pcie *fp)
{
	if (!fp->open || fp->removed) {
		return SPIO_POLLER_IDLE;
	}
	return poll_once(fp) > 0 ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
}

static int fake_poller(void *arg)
{
	return fake_pcie_poll(arg);
}

/* ---- device operations ---- */

static struct fake_pcie *find(const char *traddr)
{
	for (int i = 0; i < MAX_FAKES; i++) {
		if (g_fakes[i] != NULL && strcmp(g_fakes[i]->traddr, traddr) == 0) {
			return g_fakes[i];
		}
	}
	return NULL;
}

static int dev_open(const char *traddr, void **ctx, volatile uint8_t **bar0, size_t *bar0_len)
{
	struct fake_pcie *fp = traddr != NULL ? find(traddr) : NULL;
	uint8_t *bar;

	if (fp == NULL || fp->removed) {
		return -ENODEV;
	}
	if (fp->open_err != 0) {
		return fp->open_err;
	}
	if (fp->open) {
		return -EBUSY;
	}
	/* A new BAR per open: a host touching it after close() trips ASan. */
	bar = aligned_alloc(4096, fp->bar_len);
	if (bar == NULL) {
		return -ENOMEM;
	}
	memset(bar, 0, fp->bar_len);
	fp->bar = bar;
	fp->poller = spio_poller_register(fake_poller, fp, fp->opts.poll_period_us);
	if (fp->poller == NULL) {
		free(bar);
		fp->bar = NULL;
		return -ENOMEM;
	}
	memset(fp->shadow, 0, sizeof(fp->shadow));
	fp->csts = 0;
	wr64(fp, SPIO_NVME_REG_CAP, fp->cap);
	wr32(fp, SPIO_NVME_REG_VS, fp->vs);
	fp->enabled = false;
	controller_reset(fp);
	fp_set_csts(fp, 0);
	fp->open = true;
	fp->st.opens++;
	*ctx = fp;
	*bar0 = fp->bar;
	*bar0_len = fp->bar_len;
	return 0;
}

static void dev_close(void *ctx)
{
	struct fake_pcie *fp = ctx;

	if (fp == NULL || !fp->open) {
		return;
	}
	/* Releasing the device resets it (VFIO does a function reset). */
	spio_poller_unregister(&fp->poller);
	close_irqs(fp);
	memset(fp->sq, 0, sizeof(fp->sq));
	memset(fp->cq, 0, sizeof(fp->cq));
	fp->enabled = false;
	fp->n_aers = 0;
	free((void *)fp->bar);
	fp->bar = NULL;
	fp->open = false;
	fp->st.closes++;
}

static bool dev_is_removed(void *ctx)
{
	return ((struct fake_pcie *)ctx)->removed;
}

/* As the VFIO provider: at most the table's vectors; a new call replaces the eventfds. */
static int dev_enable_irqs(void *ctx, uint32_t n, int *fds)
{
	struct fake_pcie *fp = ctx;

	if (fp->opts.msix_vectors == 0) {
		return -ENOTSUP;
	}
	if (n == 0 || fds == NULL) {
		return -EINVAL;
	}
	n = n < fp->opts.msix_vectors ? n : fp->opts.msix_vectors;
	close_irqs(fp);
	for (uint32_t v = 0; v < n; v++) {
		fp->irq_fds[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fp->irq_fds[v] < 0) {
			int err = -errno;

			fp->n_irqs = v;
			close_irqs(fp);
			return err;
		}
		fds[v] = fp->irq_fds[v];
	}
	fp->n_irqs = n;
	fp->st.irq_enables++;
	return (int)n;
}

static const struct nvme_pcie_dev_ops g_fake_ops = {
    .open = dev_open,
    .close = dev_close,
    .is_removed = dev_is_removed,
    .enable_irqs = dev_enable_irqs,
};

const struct nvme_pcie_dev_ops *fake_pcie_ops(void)
{
	return &g_fake_ops;
}

/* ---- life cycle and test controls ---- */

struct fake_pcie *fake_pcie_create(const struct fake_pcie_opts *opts)
{
	struct fake_pcie_opts defaults;
	struct fake_pcie *fp;
	int slot = -1;

	if (opts == NULL) {
		fake_pcie_opts_init(&defaults);
		opts = &defaults;
	}
	if (opts->traddr == NULL || strlen(opts->traddr) >= sizeof(fp->traddr) ||
	    find(opts->traddr) != NULL || opts->num_ns > FAKE_PCIE_MAX_NS ||
	    (opts->block_size != 512 && opts->block_size != 4096) ||
	    opts->ns_size % opts->block_size != 0 || opts->mqes < 1 || opts->dstrd > 8 ||
	    opts->mpsmax > 15 || opts->max_io_queues < 1 || opts->mdts > 20 ||
	    opts->msix_vectors > FAKE_PCIE_MAX_IOQ + 1) {
		return NULL;
	}
	for (int i = 0; i < MAX_FAKES; i++) {
		if (g_fakes[i] == NULL) {
			slot = i;
			break;
		}
	}
	if (slot < 0) {
		return NULL;
	}
	fp = calloc(1, sizeof(*fp));
	if (fp == NULL) {
		return NULL;
	}
	fp->opts = *opts;
	snprintf(fp->traddr, sizeof(fp->traddr), "%s", opts->traddr);
	fp->opts.traddr = fp->traddr;
	fp->nblocks = opts->ns_size / opts->block_size;
	fp->active_ns = opts->num_ns;
	fp->max_xfer = opts->mdts == 0 ? NO_MDTS_LIMIT : 4096u << opts->mdts;
	fp->ready_delay = opts->ready_delay;
	fp->stride = 4u << opts->dstrd;
	fp->bar_len = (SPIO_NVME_REG_SQ0TDBL + 2u * (FAKE_PCIE_MAX_IOQ + 1) * fp->stride + 4095) &
		      ~(size_t)4095;
	fp->cap = (uint64_t)opts->mqes | (1ull << 16) | ((uint64_t)opts->to << 24) |
		  ((uint64_t)opts->dstrd << 32) | ((uint64_t)SPIO_NVME_CAP_CSS_NVM << 37) |
		  ((uint64_t)opts->mpsmax << 52);
	fp->vs = SPIO_NVME_VERSION(1, 4, 0);
	fp->page_size = 4096;
	for (uint32_t i = 0; i < opts->num_ns; i++) {
		fp->ns[i] = calloc(1, opts->ns_size);
		if (fp->ns[i] == NULL) {
			for (uint32_t j = 0; j < i; j++) {
				free(fp->ns[j]);
			}
			free(fp);
			return NULL;
		}
		/* Touch every page now: first-touch faults would distort the benchmark. */
		for (uint64_t off = 0; off < opts->ns_size; off += 4096) {
			((volatile uint8_t *)fp->ns[i])[off] = 0;
		}
	}
	g_fakes[slot] = fp;
	return fp;
}

void fake_pcie_destroy(struct fake_pcie *fp)
{
	if (fp == NULL) {
		return;
	}
	if (fp->open) {
		dev_close(fp);
	}
	for (int i = 0; i < MAX_FAKES; i++) {
		if (g_fakes[i] == fp) {
			g_fakes[i] = NULL;
		}
	}
	for (uint32_t i = 0; i < FAKE_PCIE_MAX_NS; i++) {
		free(fp->ns[i]);
	}
	free(fp);
}

bool fake_pcie_is_open(const struct fake_pcie *fp)
{
	return fp->open;
}

const struct fake_pcie_stats *fake_pcie_get_stats(const struct fake_pcie *fp)
{
	return &fp->st;
}

void fake_pcie_reset_stats(struct fake_pcie *fp)
{
	memset(&fp->st, 0, sizeof(fp->st));
}

const struct fake_pcie_reg_write *fake_pcie_reg_log(const struct fake_pcie *fp, uint32_t *n)
{
	*n = fp->nlog;
	return fp->log;
}

void fake_pcie_clear_reg_log(struct fake_pcie *fp)
{
	fp->nlog = 0;
}

uint8_t *fake_pcie_ns_data(struct fake_pcie *fp, uint32_t nsid)
{
	return nsid >= 1 && nsid <= fp->opts.num_ns ? fp->ns[nsid - 1] : NULL;
}

int fake_pcie_set_active_ns(struct fake_pcie *fp, uint32_t n)
{
	if (n > fp->opts.num_ns) {
		return -EINVAL;
	}
	fp->active_ns = n;
	return 0;
}

uint32_t fake_pcie_num_io_sqs(const struct fake_pcie *fp)
{
	uint32_t n = 0;

	for (uint32_t q = 1; q <= FAKE_PCIE_MAX_IOQ; q++) {
		n += fp->sq[q].live;
	}
	return n;
}

uint32_t fake_pcie_num_io_cqs(const struct fake_pcie *fp)
{
	uint32_t n = 0;

	for (uint32_t q = 1; q <= FAKE_PCIE_MAX_IOQ; q++) {
		n += fp->cq[q].live;
	}
	return n;
}

uint32_t fake_pcie_held_aers(const struct fake_pcie *fp)
{
	return fp->n_aers;
}

int fake_pcie_irq_fd(const struct fake_pcie *fp, uint32_t v)
{
	return v < fp->n_irqs ? fp->irq_fds[v] : -1;
}

int fake_pcie_cq_vector(const struct fake_pcie *fp, uint32_t qid)
{
	if (qid == 0 || qid > FAKE_PCIE_MAX_IOQ || !fp->cq[qid].live || !fp->cq[qid].ien) {
		return -1;
	}
	return fp->cq[qid].iv;
}

bool fake_pcie_is_ready(const struct fake_pcie *fp)
{
	return fp->open && fp->enabled && (fp->csts & 1) && !fp->removed;
}
