/*
 * The fake NVMe PCIe controller (see helper_fake_pcie.h): registers and
 * doorbells in a memory BAR, queues in the host's DMA memory, namespaces in
 * malloc'd memory, driven by a spio poller. Behaviour follows the NVMe base
 * specification 1.4 for a PCIe controller: CAP.CQR=1 (queues physically
 * contiguous), PRPs for admin commands, PRPs or SGLs (when SGLS says so)
 * for I/O.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "spio/dma.h"
#include "spio/env.h"
#include "spio/thread.h"

#include "helper_fake_pcie.h"

#define MAX_FAKES 4
#define SQE_SIZE 64
#define CQE_SIZE 16
/* Commands taken from one SQ per poll: bounds the work of one poll. */
#define BATCH 64
/* Data segments of one command (pages or SGL data blocks). */
#define MAX_SEGS 1024
/* Segment hops of one SGL: a chain longer than this is refused. */
#define MAX_SGL_HOPS 16
#define MAX_HELD_AERS 16
#define MAX_PENDING_EVENTS 8
/* Commands kept "in the device" by fake_pcie_hold_next at once. */
#define MAX_HELD_CMDS 64
/* Largest transfer when MDTS is 0 ("no limit"): 2 MiB. */
#define NO_MDTS_LIMIT (2u << 20)

#define STATUS(sct, sc) ((uint16_t)(((sct) << 8) | (sc)))
#define GENERIC(sc) STATUS(SPIO_NVME_SCT_GENERIC, sc)
#define SPECIFIC(sc) STATUS(SPIO_NVME_SCT_COMMAND_SPECIFIC, sc)

struct fq {
	bool live;
	uint8_t *ring;
	uint32_t size;	  /* entries */
	uint32_t head;	  /* SQ: next entry the fake fetches; CQ: host's head (doorbell) */
	uint32_t tail;	  /* SQ: host's tail (doorbell); CQ: next entry the fake posts */
	uint32_t db_seen; /* doorbell value last seen */
	uint8_t phase;	  /* CQ: phase tag of the current pass */
	uint16_t cqid;	  /* SQ: its completion queue */
	bool ien;	  /* CQ: interrupts enabled (always for the admin CQ) */
	uint16_t iv;	  /* CQ: its MSI-X vector */
	uint32_t nsq;	  /* CQ: SQs posting to it */
};

struct seg {
	uint8_t *p;
	uint32_t len;
};

struct result {
	struct spio_nvme_cpl cpl;
	bool post;
};

/* A command fetched from its SQ and still executing (fake_pcie_hold_next). */
struct held_cmd {
	struct spio_nvme_cmd cmd;
	uint16_t qid;
	uint32_t polls; /* left before it transfers its data and completes */
};

struct fake_pcie {
	struct fake_pcie_opts opts;
	char traddr[32];
	volatile uint8_t *bar;
	size_t bar_len;
	uint32_t stride;
	bool open;
	int open_err;
	bool removed;
	struct spio_poller *poller;
	/* MSI-X: eventfds of vectors 0 .. n_irqs-1, and which to signal at the poll's end. */
	int irq_fds[FAKE_PCIE_MAX_IOQ + 1];
	uint32_t n_irqs;
	bool irq_pending[FAKE_PCIE_MAX_IOQ + 1];

	/* Host-writable registers as last seen (offsets 0x00-0x3f). */
	uint8_t shadow[0x40];
	uint64_t cap;
	uint32_t vs;
	uint32_t csts;

	bool enabled;
	uint32_t rdy_wait;
	uint32_t ready_delay;
	uint32_t shn_wait;
	bool shn_seen;
	bool cfs;
	uint32_t page_size;
	uint32_t nq_granted;
	bool nq_set;
	uint32_t aec;
	uint32_t vwce;
	struct fq sq[FAKE_PCIE_MAX_IOQ + 1];
	struct fq cq[FAKE_PCIE_MAX_IOQ + 1];
	uint16_t aer_cids[MAX_HELD_AERS];
	uint32_t n_aers;
	uint32_t events[MAX_PENDING_EVENTS];
	uint32_t n_events;
	uint32_t changed_ns[FAKE_PCIE_MAX_NS];
	uint32_t n_changed;

	bool fail_armed;
	int fail_qid;
	uint16_t fail_status;
	bool drop_armed;
	int drop_qid;
	bool reorder_armed;
	int hold_qid;
	uint32_t hold_count;
	uint32_t hold_polls;
	struct held_cmd held[MAX_HELD_CMDS];
	uint32_t n_held;

	uint8_t *ns[FAKE_PCIE_MAX_NS];
	uint32_t active_ns; /* namespaces 1..active_ns are active */
	uint64_t nblocks;
	uint32_t max_xfer;

	struct fake_pcie_stats st;
	struct fake_pcie_reg_write log[FAKE_PCIE_REG_LOG_MAX];
	uint32_t nlog;

	struct seg segs[MAX_SEGS];
	uint32_t nsegs;
	uint8_t page[4096] __attribute__((aligned(64))); /* admin data staging */
	struct spio_nvme_sgl_descriptor sgl[256];
};

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

static void violation(struct fake_pcie *fp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(struct fake_pcie *fp, const char *fmt, ...)
{
	va_list ap;

	fp->st.violations++;
	va_start(ap, fmt);
	vsnprintf(fp->st.last_violation, sizeof(fp->st.last_violation), fmt, ap);
	va_end(ap);
	fprintf(stderr, "fake_pcie %s: host violation: %s\n", fp->traddr, fp->st.last_violation);
}

/* ---- BAR access ---- */

static uint32_t rd32(struct fake_pcie *fp, uint32_t off)
{
	return *(volatile uint32_t *)(fp->bar + off);
}

static void wr32(struct fake_pcie *fp, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(fp->bar + off) = v;
}

static uint64_t rd64(struct fake_pcie *fp, uint32_t off)
{
	return (uint64_t)rd32(fp, off) | ((uint64_t)rd32(fp, off + 4) << 32);
}

static void wr64(struct fake_pcie *fp, uint32_t off, uint64_t v)
{
	wr32(fp, off, (uint32_t)v);
	wr32(fp, off + 4, (uint32_t)(v >> 32));
}

static uint32_t sq_db(const struct fake_pcie *fp, uint32_t qid)
{
	return SPIO_NVME_REG_SQ0TDBL + 2 * qid * fp->stride;
}

static uint32_t cq_db(const struct fake_pcie *fp, uint32_t qid)
{
	return SPIO_NVME_REG_SQ0TDBL + (2 * qid + 1) * fp->stride;
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

/* ---- DMA checks ---- */

/* The host memory at `iova` for `len` bytes, or NULL when it is not live DMA memory. */
static uint8_t *dma_ptr(uint64_t iova, uint64_t len)
{
	uint64_t sz = len;

	if (iova == 0 || len == 0) {
		return NULL;
	}
	if (spio_vtophys((const void *)(uintptr_t)iova, &sz) != iova || sz < len) {
		return NULL;
	}
	return (uint8_t *)(uintptr_t)iova;
}

static uint16_t add_seg(struct fake_pcie *fp, uint64_t iova, uint32_t len)
{
	uint8_t *p = dma_ptr(iova, len);

	if (p == NULL) {
		violation(fp, "data address 0x%" PRIx64 " (+%u) is not DMA memory", iova, len);
		return GENERIC(SPIO_NVME_SC_DATA_TRANSFER_ERROR);
	}
	if (fp->nsegs == MAX_SEGS) {
		violation(fp, "more than %u data segments", MAX_SEGS);
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	fp->segs[fp->nsegs].p = p;
	fp->segs[fp->nsegs].len = len;
	fp->nsegs++;
	return 0;
}

/* ---- PRP and SGL walking ---- */

static uint16_t walk_prp_list(struct fake_pcie *fp, uint64_t list, uint32_t rem)
{
	uint32_t ps = fp->page_size;

	fp->st.prp_lists++;
	if (list & 7) {
		violation(fp, "PRP list pointer 0x%" PRIx64 " not qword aligned", list);
		return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
	}
	while (rem > 0) {
		uint32_t slots = (ps - (uint32_t)(list & (ps - 1))) / 8;
		const uint64_t *e = (const uint64_t *)dma_ptr(list, (uint64_t)slots * 8);

		if (e == NULL) {
			violation(fp, "PRP list 0x%" PRIx64 " is not DMA memory", list);
			return GENERIC(SPIO_NVME_SC_DATA_TRANSFER_ERROR);
		}
		for (uint32_t i = 0; i < slots && rem > 0; i++) {
			if (i == slots - 1 && rem > ps) {
				/* The last entry of a full list page points to the next page. */
				if (e[i] & (ps - 1)) {
					violation(fp,
						  "chained PRP list 0x%" PRIx64 " not page aligned",
						  e[i]);
					return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
				}
				list = e[i];
				fp->st.prp_chains++;
				break;
			}
			if (e[i] & (ps - 1)) {
				violation(fp, "PRP list entry %u = 0x%" PRIx64 " has an offset", i,
					  e[i]);
				return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
			}
			uint32_t chunk = rem < ps ? rem : ps;
			uint16_t s = add_seg(fp, e[i], chunk);
			if (s != 0) {
				return s;
			}
			rem -= chunk;
		}
	}
	return 0;
}

static uint16_t walk_prp(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t len)
{
	uint64_t prp1 = cmd->dptr.prp.prp1, prp2 = cmd->dptr.prp.prp2;
	uint32_t ps = fp->page_size;
	uint32_t first, rem;
	uint16_t s;

	if (prp1 & 3) {
		violation(fp, "PRP1 0x%" PRIx64 " not dword aligned", prp1);
		return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
	}
	first = ps - (uint32_t)(prp1 & (ps - 1));
	first = first < len ? first : len;
	s = add_seg(fp, prp1, first);
	if (s != 0) {
		return s;
	}
	rem = len - first;
	if (rem == 0) {
		return 0;
	}
	if (rem <= ps) {
		if (prp2 & (ps - 1)) {
			violation(fp, "PRP2 0x%" PRIx64 " (second page) has an offset", prp2);
			return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
		}
		return add_seg(fp, prp2, rem);
	}
	return walk_prp_list(fp, prp2, rem);
}

static uint16_t sgl_data_block(struct fake_pcie *fp, const struct spio_nvme_sgl_descriptor *d,
			       uint32_t len, uint32_t *total)
{
	uint32_t dl = d->unkeyed.length;

	if (d->unkeyed.subtype != SPIO_NVME_SGL_SUBTYPE_ADDRESS) {
		violation(fp, "SGL data block subtype %u", d->unkeyed.subtype);
		return GENERIC(SPIO_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
	}
	if ((fp->opts.sgls & SPIO_NVME_SGLS_SUPPORT_MASK) == SPIO_NVME_SGLS_DWORD_ALIGNED &&
	    ((d->address & 3) || (dl & 3))) {
		violation(fp, "SGL data block 0x%" PRIx64 "+%u not dword aligned", d->address, dl);
		return GENERIC(SPIO_NVME_SC_SGL_DATA_BLOCK_GRANULARITY_INVALID);
	}
	if (dl > len - *total) {
		violation(fp, "SGL longer than the transfer (%u bytes)", len);
		return GENERIC(SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
	}
	if (dl == 0) {
		return 0;
	}
	*total += dl;
	return add_seg(fp, d->address, dl);
}

static uint16_t walk_sgl(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t len)
{
	struct spio_nvme_sgl_descriptor d = cmd->dptr.sgl1;
	uint32_t total = 0;
	uint16_t s;

	fp->st.sgl_cmds++;
	if ((fp->opts.sgls & SPIO_NVME_SGLS_SUPPORT_MASK) == 0) {
		violation(fp, "SGL in a command, but Identify SGLS says none");
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	for (uint32_t hop = 0;; hop++) {
		uint32_t type = d.generic.type, nd;
		bool last_seg = type == SPIO_NVME_SGL_TYPE_LAST_SEGMENT;

		if (type == SPIO_NVME_SGL_TYPE_DATA_BLOCK) {
			s = sgl_data_block(fp, &d, len, &total);
			if (s != 0) {
				return s;
			}
			break;
		}
		if (type != SPIO_NVME_SGL_TYPE_SEGMENT && !last_seg) {
			violation(fp, "SGL descriptor type %u", type);
			return GENERIC(SPIO_NVME_SC_SGL_DESCRIPTOR_TYPE_INVALID);
		}
		if (hop == MAX_SGL_HOPS) {
			violation(fp, "SGL with more than %u segments", MAX_SGL_HOPS);
			return GENERIC(SPIO_NVME_SC_INVALID_NUM_SGL_DESCRIPTORS);
		}
		if (d.unkeyed.subtype != SPIO_NVME_SGL_SUBTYPE_ADDRESS || d.unkeyed.length == 0 ||
		    d.unkeyed.length % 16 != 0 || d.unkeyed.length > sizeof(fp->sgl) ||
		    (d.address & 0xf) != 0) {
			violation(fp, "SGL segment descriptor 0x%" PRIx64 "+%u", d.address,
				  d.unkeyed.length);
			return GENERIC(SPIO_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR);
		}
		const uint8_t *list = dma_ptr(d.address, d.unkeyed.length);
		if (list == NULL) {
			violation(fp, "SGL segment 0x%" PRIx64 " is not DMA memory", d.address);
			return GENERIC(SPIO_NVME_SC_DATA_TRANSFER_ERROR);
		}
		nd = d.unkeyed.length / 16;
		memcpy(fp->sgl, list, d.unkeyed.length);
		for (uint32_t i = 0; i < nd; i++) {
			uint32_t t = fp->sgl[i].generic.type;

			if (t == SPIO_NVME_SGL_TYPE_DATA_BLOCK) {
				if (i == nd - 1 && !last_seg) {
					violation(fp,
						  "SGL segment not ended by a segment descriptor");
					return GENERIC(SPIO_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR);
				}
				s = sgl_data_block(fp, &fp->sgl[i], len, &total);
				if (s != 0) {
					return s;
				}
			} else if ((t == SPIO_NVME_SGL_TYPE_SEGMENT ||
				    t == SPIO_NVME_SGL_TYPE_LAST_SEGMENT) &&
				   i == nd - 1 && !last_seg) {
				d = fp->sgl[i];
			} else {
				violation(fp, "SGL descriptor type %u at %u of %u in a segment", t,
					  i, nd);
				return GENERIC(SPIO_NVME_SC_INVALID_SGL_SEG_DESCRIPTOR);
			}
		}
		if (last_seg) {
			break;
		}
	}
	if (total != len) {
		violation(fp, "SGL describes %u bytes, the command moves %u", total, len);
		return GENERIC(SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
	}
	return 0;
}

static uint16_t map_data(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t len,
			 bool admin)
{
	fp->nsegs = 0;
	if (len == 0) {
		return 0;
	}
	switch (cmd->psdt) {
	case SPIO_NVME_PSDT_PRP:
		return walk_prp(fp, cmd, len);
	case SPIO_NVME_PSDT_SGL_MPTR_CONTIG:
	case SPIO_NVME_PSDT_SGL_MPTR_SGL:
		if (admin) {
			violation(fp, "SGL in an admin command (PCIe admin commands use PRPs)");
			return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
		}
		return walk_sgl(fp, cmd, len);
	default:
		violation(fp, "PSDT %u", cmd->psdt);
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
}

static void copy_to_host(struct fake_pcie *fp, const uint8_t *src)
{
	for (uint32_t i = 0; i < fp->nsegs; i++) {
		memcpy(fp->segs[i].p, src, fp->segs[i].len);
		src += fp->segs[i].len;
	}
}

static void copy_from_host(struct fake_pcie *fp, uint8_t *dst)
{
	for (uint32_t i = 0; i < fp->nsegs; i++) {
		memcpy(dst, fp->segs[i].p, fp->segs[i].len);
		dst += fp->segs[i].len;
	}
}

static bool same_as_host(struct fake_pcie *fp, const uint8_t *data)
{
	for (uint32_t i = 0; i < fp->nsegs; i++) {
		if (memcmp(data, fp->segs[i].p, fp->segs[i].len) != 0) {
			return false;
		}
		data += fp->segs[i].len;
	}
	return true;
}

/* Send `len` bytes of fp->page to the host through the command's data pointer. */
static uint16_t send_page(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t len)
{
	uint16_t s = map_data(fp, cmd, len, true);

	if (s == 0) {
		copy_to_host(fp, fp->page);
	}
	return s;
}

/* ---- queues ---- */

static void clear_doorbells(struct fake_pcie *fp, uint32_t qid)
{
	wr32(fp, sq_db(fp, qid), 0);
	wr32(fp, cq_db(fp, qid), 0);
}

/* Held commands of SQ qid (every queue: -1) are aborted: no transfer, no completion. */
static void abort_held(struct fake_pcie *fp, int qid)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < fp->n_held; i++) {
		if (qid < 0 || fp->held[i].qid == qid) {
			fp->st.held_aborted++;
		} else {
			fp->held[kept++] = fp->held[i];
		}
	}
	fp->n_held = kept;
}

static void drop_queues(struct fake_pcie *fp)
{
	abort_held(fp, -1);
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

static void post_cqe(struct fake_pcie *fp, uint16_t cqid, struct spio_nvme_cpl *cpl)
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

static uint32_t granted_queues(const struct fake_pcie *fp)
{
	uint32_t n = fp->nq_set ? fp->nq_granted : fp->opts.max_io_queues;

	return n < FAKE_PCIE_MAX_IOQ ? n : FAKE_PCIE_MAX_IOQ;
}

static bool any_io_queue(const struct fake_pcie *fp)
{
	for (uint32_t q = 1; q <= FAKE_PCIE_MAX_IOQ; q++) {
		if (fp->sq[q].live || fp->cq[q].live) {
			return true;
		}
	}
	return false;
}

static uint16_t create_queue(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, bool is_cq)
{
	uint32_t qid = cmd->cdw10_bits.create_io_q.qid;
	uint32_t size = (uint32_t)cmd->cdw10_bits.create_io_q.qsize + 1;
	uint32_t esize = is_cq ? CQE_SIZE : SQE_SIZE;
	uint64_t base = cmd->dptr.prp.prp1;
	struct fq *q = is_cq ? &fp->cq[qid] : &fp->sq[qid];
	bool pc = is_cq ? cmd->cdw11_bits.create_io_cq.pc : cmd->cdw11_bits.create_io_sq.pc;
	uint32_t cqid = cmd->cdw11_bits.create_io_sq.cqid;
	bool ien = is_cq && cmd->cdw11_bits.create_io_cq.ien;
	uint32_t iv = cmd->cdw11_bits.create_io_cq.iv;

	if (qid == 0 || qid > granted_queues(fp) || q->live) {
		return SPECIFIC(SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER);
	}
	if (size < 2 || size > (uint32_t)fp->opts.mqes + 1) {
		return SPECIFIC(SPIO_NVME_SC_INVALID_QUEUE_SIZE);
	}
	if (!pc) {
		/* CAP.CQR=1: the controller takes only physically contiguous queues. */
		violation(fp, "create queue %u with PC=0 while CAP.CQR=1", qid);
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	/* The vector must exist in the MSI-X table (enabled or not). */
	if (is_cq && ien && iv >= fp->opts.msix_vectors) {
		return SPECIFIC(SPIO_NVME_SC_INVALID_INTERRUPT_VECTOR);
	}
	if (!is_cq && (cqid == 0 || cqid > FAKE_PCIE_MAX_IOQ || !fp->cq[cqid].live)) {
		return SPECIFIC(SPIO_NVME_SC_COMPLETION_QUEUE_INVALID);
	}
	if (base == 0 || (base & (fp->page_size - 1))) {
		violation(fp, "queue %u base 0x%" PRIx64 " not page aligned", qid, base);
		return GENERIC(SPIO_NVME_SC_INVALID_PRP_OFFSET);
	}
	uint8_t *ring = dma_ptr(base, (uint64_t)size * esize);
	if (ring == NULL) {
		violation(fp, "queue %u ring 0x%" PRIx64 " is not DMA memory", qid, base);
		return GENERIC(SPIO_NVME_SC_DATA_TRANSFER_ERROR);
	}
	memset(q, 0, sizeof(*q));
	q->live = true;
	q->ring = ring;
	q->size = size;
	q->phase = 1;
	if (is_cq) {
		q->ien = ien;
		q->iv = (uint16_t)iv;
		wr32(fp, cq_db(fp, qid), 0);
	} else {
		q->cqid = (uint16_t)cqid;
		fp->cq[cqid].nsq++;
		wr32(fp, sq_db(fp, qid), 0);
	}
	return 0;
}

static uint16_t delete_queue(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, bool is_cq)
{
	uint32_t qid = cmd->cdw10_bits.delete_io_q.qid;
	struct fq *q;

	if (qid == 0 || qid > FAKE_PCIE_MAX_IOQ) {
		return SPECIFIC(SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER);
	}
	q = is_cq ? &fp->cq[qid] : &fp->sq[qid];
	if (!q->live) {
		return SPECIFIC(SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER);
	}
	if (is_cq) {
		if (q->nsq > 0) {
			return SPECIFIC(SPIO_NVME_SC_INVALID_QUEUE_DELETION);
		}
		wr32(fp, cq_db(fp, qid), 0);
	} else {
		fp->cq[q->cqid].nsq--;
		wr32(fp, sq_db(fp, qid), 0);
		/* Its commands are all completed or aborted when the delete completes. */
		abort_held(fp, (int)qid);
	}
	memset(q, 0, sizeof(*q));
	return 0;
}

/* ---- admin commands ---- */

static void pad_copy(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, l < n ? l : n);
}

static void build_cdata(struct fake_pcie *fp)
{
	struct spio_nvme_ctrlr_data *cd = (struct spio_nvme_ctrlr_data *)fp->page;

	memset(cd, 0, sizeof(*cd));
	cd->vid = 0x1b36;
	cd->ssvid = 0x1af4;
	pad_copy(cd->sn, sizeof(cd->sn), FAKE_PCIE_SN);
	pad_copy(cd->mn, sizeof(cd->mn), FAKE_PCIE_MN);
	pad_copy(cd->fr, sizeof(cd->fr), "1.0");
	cd->rab = 6;
	cd->mdts = fp->opts.mdts;
	cd->cntlid = 1;
	cd->ver.raw = fp->vs;
	cd->oaes = SPIO_NVME_OAES_NS_ATTRIBUTE_NOTICES;
	cd->acl = 3;
	cd->aerl = fp->opts.aerl;
	cd->frmw.num_slots = 1;
	cd->elpe = 3;
	cd->sqes = 0x66;
	cd->cqes = 0x44;
	cd->nn = FAKE_PCIE_MAX_NS;
	cd->oncs.compare = 1;
	cd->oncs.dsm = 1;
	cd->oncs.write_zeroes = 1;
	cd->vwc.present = fp->opts.vwc;
	cd->sgls = fp->opts.sgls;
	snprintf(cd->subnqn, sizeof(cd->subnqn), "nqn.2019-08.org.qemu:%s", FAKE_PCIE_SN);
}

static bool ns_active(const struct fake_pcie *fp, uint32_t nsid)
{
	return nsid >= 1 && nsid <= fp->active_ns;
}

static void build_nsdata(struct fake_pcie *fp, uint32_t nsid)
{
	struct spio_nvme_ns_data *nd = (struct spio_nvme_ns_data *)fp->page;

	memset(nd, 0, sizeof(*nd));
	if (!ns_active(fp, nsid)) {
		return; /* an inactive namespace identifies as zeros */
	}
	nd->nsze = nd->ncap = nd->nuse = fp->nblocks;
	nd->nlbaf = 1;
	nd->flbas.format = fp->opts.block_size == 4096 ? 1 : 0;
	nd->dlfeat.read_value = 1; /* deallocated blocks read as zeros */
	nd->lbaf[0].lbads = 9;
	nd->lbaf[1].lbads = 12;
	nd->nguid[0] = 0xfa;
	nd->nguid[15] = (uint8_t)nsid;
}

static uint16_t identify(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd)
{
	uint32_t nsid = cmd->nsid;

	switch (cmd->cdw10_bits.identify.cns) {
	case SPIO_NVME_IDENTIFY_CTRLR:
		build_cdata(fp);
		break;
	case SPIO_NVME_IDENTIFY_NS:
		if (nsid == 0 || (nsid > FAKE_PCIE_MAX_NS && nsid != SPIO_NVME_GLOBAL_NS_TAG)) {
			return GENERIC(SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		}
		build_nsdata(fp, nsid);
		break;
	case SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST: {
		uint32_t *list = (uint32_t *)fp->page, n = 0;

		if (nsid >= 0xfffffffeu) {
			return GENERIC(SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		}
		memset(fp->page, 0, sizeof(fp->page));
		for (uint32_t id = nsid + 1; id <= fp->active_ns; id++) {
			list[n++] = id;
		}
		break;
	}
	case SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST: {
		struct spio_nvme_ns_id_desc *d = (struct spio_nvme_ns_id_desc *)fp->page;

		if (!ns_active(fp, nsid)) {
			return GENERIC(SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		}
		memset(fp->page, 0, sizeof(fp->page));
		d->nidt = SPIO_NVME_NIDT_UUID;
		d->nidl = SPIO_NVME_NIDT_UUID_LEN;
		memset(d->nid, 0x5a, SPIO_NVME_NIDT_UUID_LEN);
		d->nid[15] = (uint8_t)nsid;
		break;
	}
	default:
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	return send_page(fp, cmd, SPIO_NVME_IDENTIFY_BUFLEN);
}

/* Features the fake accepts and ignores: Set Features succeeds, Get Features reads 0. */
static bool feature_ignored(unsigned fid)
{
	switch (fid) {
	case SPIO_NVME_FEAT_ARBITRATION:
	case SPIO_NVME_FEAT_POWER_MANAGEMENT:
	case SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD:
	case SPIO_NVME_FEAT_ERROR_RECOVERY:
	case SPIO_NVME_FEAT_INTERRUPT_COALESCING:
		return true;
	default:
		return false;
	}
}

static uint16_t set_features(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t *cdw0)
{
	switch (cmd->cdw10_bits.set_features.fid) {
	case SPIO_NVME_FEAT_NUMBER_OF_QUEUES: {
		uint32_t nsq = (cmd->cdw11 & 0xffff) + 1, ncq = (cmd->cdw11 >> 16) + 1;
		uint32_t lim = fp->opts.max_io_queues;

		if (any_io_queue(fp)) {
			return GENERIC(SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
		}
		if (nsq == 0x10000 || ncq == 0x10000) {
			return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
		}
		nsq = nsq < lim ? nsq : lim;
		ncq = ncq < lim ? ncq : lim;
		fp->nq_granted = nsq < ncq ? nsq : ncq;
		fp->nq_set = true;
		*cdw0 = (nsq - 1) | ((ncq - 1) << 16);
		return 0;
	}
	case SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		fp->aec = cmd->cdw11;
		return 0;
	case SPIO_NVME_FEAT_VOLATILE_WRITE_CACHE:
		if (!fp->opts.vwc) {
			return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
		}
		fp->vwce = cmd->cdw11 & 1;
		return 0;
	default:
		if (feature_ignored(cmd->cdw10_bits.set_features.fid)) {
			return 0;
		}
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
}

static uint16_t get_features(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint32_t *cdw0)
{
	switch (cmd->cdw10_bits.get_features.fid) {
	case SPIO_NVME_FEAT_NUMBER_OF_QUEUES: {
		uint32_t n = granted_queues(fp);

		*cdw0 = (n - 1) | ((n - 1) << 16);
		return 0;
	}
	case SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		*cdw0 = fp->aec;
		return 0;
	case SPIO_NVME_FEAT_VOLATILE_WRITE_CACHE:
		*cdw0 = fp->vwce;
		return 0;
	default:
		if (feature_ignored(cmd->cdw10_bits.get_features.fid)) {
			*cdw0 = 0;
			return 0;
		}
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
}

static uint16_t get_log_page(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd)
{
	uint32_t numd = ((cmd->cdw11 & 0xffff) << 16 | (cmd->cdw10 >> 16)) + 1;
	uint64_t off = cmd->cdw12 | ((uint64_t)cmd->cdw13 << 32);
	uint64_t len = (uint64_t)numd * 4;
	uint32_t size;
	uint16_t s;

	memset(fp->page, 0, sizeof(fp->page));
	switch (cmd->cdw10_bits.get_log_page.lid) {
	case SPIO_NVME_LOG_ERROR:
		size = 64 * 4;
		break;
	case SPIO_NVME_LOG_HEALTH_INFORMATION: {
		struct spio_nvme_health_information_page *h = (void *)fp->page;

		h->temperature = 300;
		h->available_spare = 100;
		h->available_spare_threshold = 10;
		size = sizeof(*h);
		break;
	}
	case SPIO_NVME_LOG_FIRMWARE_SLOT:
		fp->page[0] = 1;
		memcpy(fp->page + 8, "1.0     ", 8);
		size = 512;
		break;
	case SPIO_NVME_LOG_CHANGED_NS_LIST:
		/* Reading the list clears it (and re-arms the notice). */
		memcpy(fp->page, fp->changed_ns, fp->n_changed * 4);
		fp->n_changed = 0;
		size = 4096;
		break;
	default:
		return SPECIFIC(SPIO_NVME_SC_INVALID_LOG_PAGE);
	}
	if (off % 4 != 0 || off + len > size) {
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	s = map_data(fp, cmd, (uint32_t)len, true);
	if (s == 0) {
		copy_to_host(fp, fp->page + off);
	}
	return s;
}

static uint16_t admin_cmd(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, struct result *r)
{
	fp->st.admin_cmds[cmd->opc]++;
	if (cmd->psdt != SPIO_NVME_PSDT_PRP) {
		violation(fp, "admin opcode 0x%x with PSDT %u", cmd->opc, cmd->psdt);
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	switch (cmd->opc) {
	case SPIO_NVME_OPC_IDENTIFY:
		return identify(fp, cmd);
	case SPIO_NVME_OPC_SET_FEATURES:
		return set_features(fp, cmd, &r->cpl.cdw0);
	case SPIO_NVME_OPC_GET_FEATURES:
		return get_features(fp, cmd, &r->cpl.cdw0);
	case SPIO_NVME_OPC_GET_LOG_PAGE:
		return get_log_page(fp, cmd);
	case SPIO_NVME_OPC_CREATE_IO_CQ:
		return create_queue(fp, cmd, true);
	case SPIO_NVME_OPC_CREATE_IO_SQ:
		return create_queue(fp, cmd, false);
	case SPIO_NVME_OPC_DELETE_IO_SQ:
		return delete_queue(fp, cmd, false);
	case SPIO_NVME_OPC_DELETE_IO_CQ:
		return delete_queue(fp, cmd, true);
	case SPIO_NVME_OPC_ABORT:
		/* Commands complete as soon as they are fetched: nothing to abort. */
		r->cpl.cdw0 = 1;
		return 0;
	case SPIO_NVME_OPC_ASYNC_EVENT_REQUEST:
		if (fp->n_aers > fp->opts.aerl || fp->n_aers == MAX_HELD_AERS) {
			return SPECIFIC(SPIO_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED);
		}
		fp->aer_cids[fp->n_aers++] = cmd->cid;
		r->post = false;
		return 0;
	default:
		return GENERIC(SPIO_NVME_SC_INVALID_OPCODE);
	}
}

/* ---- I/O commands ---- */

static uint16_t lba_range(const struct fake_pcie *fp, uint64_t slba, uint64_t nlb)
{
	if (slba >= fp->nblocks || nlb > fp->nblocks - slba) {
		return GENERIC(SPIO_NVME_SC_LBA_OUT_OF_RANGE);
	}
	return 0;
}

static uint16_t io_rw(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint8_t *ns)
{
	uint64_t slba = cmd->cdw10 | ((uint64_t)cmd->cdw11 << 32);
	uint64_t nlb = (uint64_t)cmd->cdw12_bits.rw.nlb + 1;
	uint64_t bytes = nlb * fp->opts.block_size;
	uint8_t *data = ns + slba * fp->opts.block_size;
	uint16_t s = lba_range(fp, slba, nlb);

	if (s != 0) {
		return s;
	}
	if (bytes > fp->max_xfer) {
		violation(fp, "transfer of %" PRIu64 " bytes above MDTS (%u)", bytes, fp->max_xfer);
		return GENERIC(SPIO_NVME_SC_INVALID_FIELD);
	}
	s = map_data(fp, cmd, (uint32_t)bytes, false);
	if (s != 0) {
		return s;
	}
	fp->st.io_bytes += bytes;
	switch (cmd->opc) {
	case SPIO_NVME_OPC_READ:
		copy_to_host(fp, data);
		return 0;
	case SPIO_NVME_OPC_WRITE:
		copy_from_host(fp, data);
		return 0;
	default:
		return same_as_host(fp, data)
			   ? 0
			   : STATUS(SPIO_NVME_SCT_MEDIA_ERROR, SPIO_NVME_SC_COMPARE_FAILURE);
	}
}

static uint16_t io_dsm(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd, uint8_t *ns)
{
	uint32_t nr = (cmd->cdw10 & 0xff) + 1;
	const struct spio_nvme_dsm_range *r = (const struct spio_nvme_dsm_range *)fp->page;
	uint16_t s = map_data(fp, cmd, nr * 16, false);

	if (s != 0) {
		return s;
	}
	copy_from_host(fp, fp->page);
	for (uint32_t i = 0; i < nr; i++) {
		s = lba_range(fp, r[i].starting_lba, r[i].length);
		if (s != 0) {
			return s;
		}
	}
	if (cmd->cdw11 & SPIO_NVME_DSM_ATTR_DEALLOCATE) {
		for (uint32_t i = 0; i < nr; i++) {
			memset(ns + r[i].starting_lba * fp->opts.block_size, 0,
			       (size_t)r[i].length * fp->opts.block_size);
		}
	}
	return 0;
}

static uint16_t io_cmd(struct fake_pcie *fp, const struct spio_nvme_cmd *cmd)
{
	uint8_t *ns = ns_active(fp, cmd->nsid) ? fp->ns[cmd->nsid - 1] : NULL;

	fp->st.io_cmds[cmd->opc]++;
	if (cmd->opc == SPIO_NVME_OPC_FLUSH && cmd->nsid == SPIO_NVME_GLOBAL_NS_TAG) {
		return 0;
	}
	if (ns == NULL) {
		return GENERIC(SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
	}
	switch (cmd->opc) {
	case SPIO_NVME_OPC_READ:
	case SPIO_NVME_OPC_WRITE:
	case SPIO_NVME_OPC_COMPARE:
		return io_rw(fp, cmd, ns);
	case SPIO_NVME_OPC_FLUSH:
		return 0;
	case SPIO_NVME_OPC_WRITE_ZEROES: {
		uint64_t slba = cmd->cdw10 | ((uint64_t)cmd->cdw11 << 32);
		uint64_t nlb = (uint64_t)cmd->cdw12_bits.write_zeroes.nlb + 1;
		uint16_t s = lba_range(fp, slba, nlb);

		if (s == 0) {
			memset(ns + slba * fp->opts.block_size, 0, nlb * fp->opts.block_size);
		}
		return s;
	}
	case SPIO_NVME_OPC_DATASET_MANAGEMENT:
		return io_dsm(fp, cmd, ns);
	default:
		return GENERIC(SPIO_NVME_SC_INVALID_OPCODE);
	}
}

static bool fault_matches(int want, uint16_t qid)
{
	return want < 0 ? qid != 0 : (int)qid == want;
}

static void execute(struct fake_pcie *fp, uint16_t qid, const struct spio_nvme_cmd *cmd,
		    struct result *r)
{
	uint16_t s;

	memset(r, 0, sizeof(*r));
	r->post = true;
	r->cpl.cid = cmd->cid;
	r->cpl.sqid = qid;
	if (fp->fail_armed && fault_matches(fp->fail_qid, qid)) {
		fp->fail_armed = false;
		s = fp->fail_status;
	} else if (qid == 0) {
		s = admin_cmd(fp, cmd, r);
	} else {
		s = io_cmd(fp, cmd);
	}
	r->cpl.status.sct = s >> 8;
	r->cpl.status.sc = s & 0xff;
	if (s != 0) {
		r->cpl.status.dnr = 1;
	}
	if (fp->drop_armed && fault_matches(fp->drop_qid, qid)) {
		fp->drop_armed = false;
		r->post = false;
	}
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
		violation(fp, "host wrote a read-only register (CAP, VS or CSTS)");
		wr64(fp, SPIO_NVME_REG_CAP, fp->cap);
		wr32(fp, SPIO_NVME_REG_VS, fp->vs);
		wr32(fp, SPIO_NVME_REG_CSTS, fp->csts);
	}
}

static void set_csts(struct fake_pcie *fp, uint32_t csts)
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
		violation(fp, "CC 0x%08x not valid for this controller", cc.raw);
		return false;
	}
	if (aqa.bits.asqs < 1 || aqa.bits.acqs < 1) {
		violation(fp, "AQA 0x%08x: admin queues of fewer than 2 entries", aqa.raw);
		return false;
	}
	fp->page_size = 4096u << cc.bits.mps;
	if ((asq & (fp->page_size - 1)) || (acq & (fp->page_size - 1))) {
		violation(fp, "ASQ 0x%" PRIx64 " / ACQ 0x%" PRIx64 " not page aligned", asq, acq);
		return false;
	}
	fp->sq[0].ring = dma_ptr(asq, (uint64_t)(aqa.bits.asqs + 1) * SQE_SIZE);
	fp->cq[0].ring = dma_ptr(acq, (uint64_t)(aqa.bits.acqs + 1) * CQE_SIZE);
	if (fp->sq[0].ring == NULL || fp->cq[0].ring == NULL) {
		violation(fp, "admin queues 0x%" PRIx64 " / 0x%" PRIx64 " not DMA memory", asq,
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
	set_csts(fp, fp->csts & (3u << 2)); /* SHST stays until the next enable */
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
		set_csts(fp, csts.raw);
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
		set_csts(fp, csts.raw);
	} else if (cc.bits.shn == 0 && fp->shn_seen) {
		fp->shn_seen = false;
		csts.bits.shst = SPIO_NVME_SHST_NORMAL;
		set_csts(fp, csts.raw);
	}
	if (fp->shn_seen && csts.bits.shst == SPIO_NVME_SHST_OCCURRING) {
		if (fp->shn_wait > 0) {
			fp->shn_wait--;
		} else {
			csts.bits.shst = SPIO_NVME_SHST_COMPLETE;
			set_csts(fp, csts.raw);
		}
	}
	if (fp->enabled && !csts.bits.rdy && !fp->cfs) {
		if (fp->rdy_wait > 0) {
			fp->rdy_wait--;
		} else {
			csts.bits.rdy = 1;
			set_csts(fp, csts.raw);
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
			violation(fp, "CQ %u head doorbell %u beyond its %u entries", q, v,
				  cq->size);
			continue;
		}
		/* The host may only consume entries the controller posted. */
		if ((v + cq->size - cq->head) % cq->size >
		    (cq->tail + cq->size - cq->head) % cq->size) {
			violation(fp, "CQ %u head doorbell %u passes the tail %u", q, v, cq->tail);
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
		post_cqe(fp, 0, &cpl);
	}
}

/* Keep the command "in the device" if a hold fault wants it. */
static bool hold(struct fake_pcie *fp, uint16_t qid, const struct spio_nvme_cmd *cmd)
{
	struct held_cmd *h;

	if (fp->hold_count == 0 || !fault_matches(fp->hold_qid, qid) || qid == 0 ||
	    fp->n_held == MAX_HELD_CMDS) {
		return false;
	}
	fp->hold_count--;
	h = &fp->held[fp->n_held++];
	h->cmd = *cmd;
	h->qid = qid;
	h->polls = fp->hold_polls;
	fp->st.held_cmds++;
	return true;
}

/* Held commands whose time came: execute (the data moves now) and complete. */
static uint32_t run_held(struct fake_pcie *fp)
{
	uint32_t kept = 0, done = 0;

	for (uint32_t i = 0; i < fp->n_held; i++) {
		struct held_cmd h = fp->held[i];
		struct fq *sq = &fp->sq[h.qid];
		struct result r;

		if (h.polls > 0) {
			fp->held[i].polls--;
			fp->held[kept++] = fp->held[i];
			continue;
		}
		execute(fp, h.qid, &h.cmd, &r);
		if (r.post && fp->cq[sq->cqid].live) {
			r.cpl.sqhd = (uint16_t)sq->head;
			post_cqe(fp, sq->cqid, &r.cpl);
		}
		done++;
	}
	fp->n_held = kept;
	return done;
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
		if (hold(fp, qid, &cmd)) {
			continue;
		}
		execute(fp, qid, &cmd, &res[nres++]);
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
			post_cqe(fp, sq->cqid, &res[i].cpl);
		}
	}
	return n;
}

static uint32_t process_queues(struct fake_pcie *fp)
{
	uint32_t done = 0;

	read_cq_doorbells(fp);
	done += run_held(fp);
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
				violation(fp, "SQ %u tail doorbell %u beyond its %u entries", q, v,
					  sq->size);
				continue;
			}
			before = (sq->tail + sq->size - sq->head) % sq->size;
			after = (v + sq->size - sq->head) % sq->size;
			if (after < before) {
				violation(fp, "SQ %u overfilled: tail %u passed the head %u", q, v,
					  sq->head);
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
	set_csts(fp, 0);
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

void fake_pcie_fail_next(struct fake_pcie *fp, int qid, uint8_t sct, uint8_t sc)
{
	fp->fail_armed = true;
	fp->fail_qid = qid;
	fp->fail_status = STATUS(sct, sc);
}

void fake_pcie_drop_next(struct fake_pcie *fp, int qid)
{
	fp->drop_armed = true;
	fp->drop_qid = qid;
}

void fake_pcie_hold_next(struct fake_pcie *fp, int qid, uint32_t n, uint32_t polls)
{
	fp->hold_qid = qid;
	fp->hold_count = n;
	fp->hold_polls = polls;
}

uint32_t fake_pcie_held_cmds(const struct fake_pcie *fp, int qid)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < fp->n_held; i++) {
		n += qid < 0 || fp->held[i].qid == qid;
	}
	return n;
}

bool fake_pcie_holds(const struct fake_pcie *fp, uint16_t qid, uint16_t cid)
{
	for (uint32_t i = 0; i < fp->n_held; i++) {
		if (fp->held[i].qid == qid && fp->held[i].cmd.cid == cid) {
			return true;
		}
	}
	return false;
}

void fake_pcie_reorder_next(struct fake_pcie *fp)
{
	fp->reorder_armed = true;
}

void fake_pcie_set_cfs(struct fake_pcie *fp)
{
	fp->cfs = true;
	if (fp->open && !fp->removed) {
		set_csts(fp, fp->csts | 2u);
	}
}

void fake_pcie_hot_remove(struct fake_pcie *fp)
{
	fp->removed = true;
	if (fp->open) {
		memset((void *)fp->bar, 0xff, fp->bar_len);
	}
}

void fake_pcie_set_ready_delay(struct fake_pcie *fp, uint32_t polls)
{
	fp->ready_delay = polls;
}

void fake_pcie_set_open_error(struct fake_pcie *fp, int err)
{
	fp->open_err = err;
}

void fake_pcie_fire_aer(struct fake_pcie *fp, uint32_t cdw0)
{
	if (fp->n_events < MAX_PENDING_EVENTS) {
		fp->events[fp->n_events++] = cdw0;
	}
}

void fake_pcie_ns_changed(struct fake_pcie *fp, uint32_t nsid)
{
	if (fp->n_changed < FAKE_PCIE_MAX_NS) {
		fp->changed_ns[fp->n_changed++] = nsid;
	}
}
