/*
 * The fake NVMe PCIe controller's insides, shared by its three files (the
 * tests see only helper_fake_pcie.h): helper_fake_pcie.c, registers, queue
 * mechanics, the poll, device operations and life cycle;
 * helper_fake_pcie_cmd.c, command execution (admin and I/O, PRP and SGL
 * walking); helper_fake_pcie_fault.c, the fault and held-command controls.
 */
#ifndef SPIO_TEST_HELPER_FAKE_PCIE_INTERNAL_H
#define SPIO_TEST_HELPER_FAKE_PCIE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

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

/* ---- BAR access ---- */

static inline uint32_t rd32(struct fake_pcie *fp, uint32_t off)
{
	return *(volatile uint32_t *)(fp->bar + off);
}

static inline void wr32(struct fake_pcie *fp, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(fp->bar + off) = v;
}

static inline uint64_t rd64(struct fake_pcie *fp, uint32_t off)
{
	return (uint64_t)rd32(fp, off) | ((uint64_t)rd32(fp, off + 4) << 32);
}

static inline void wr64(struct fake_pcie *fp, uint32_t off, uint64_t v)
{
	wr32(fp, off, (uint32_t)v);
	wr32(fp, off + 4, (uint32_t)(v >> 32));
}

static inline uint32_t sq_db(const struct fake_pcie *fp, uint32_t qid)
{
	return SPIO_NVME_REG_SQ0TDBL + 2 * qid * fp->stride;
}

static inline uint32_t cq_db(const struct fake_pcie *fp, uint32_t qid)
{
	return SPIO_NVME_REG_SQ0TDBL + (2 * qid + 1) * fp->stride;
}

/* Does a fault armed for SQ `want` (-1: any I/O queue) match a command of SQ `qid`? */
static inline bool fault_matches(int want, uint16_t qid)
{
	return want < 0 ? qid != 0 : (int)qid == want;
}

/* helper_fake_pcie.c */

/* Count a host violation (fake_pcie_stats) and print it. */
void fp_violation(struct fake_pcie *fp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Post `cpl` (its phase tag set here) to CQ `cqid`; its vector fires at the poll's end. */
void fp_post_cqe(struct fake_pcie *fp, uint16_t cqid, struct spio_nvme_cpl *cpl);
/* Set CSTS, in the BAR and as the fake's own copy. */
void fp_set_csts(struct fake_pcie *fp, uint32_t csts);

/* helper_fake_pcie_cmd.c */

/* The host memory at `iova` for `len` bytes, or NULL when it is not live DMA memory. */
uint8_t *fp_dma_ptr(uint64_t iova, uint64_t len);
/* Execute a command of SQ `qid` (armed fail and drop faults included) into `r`. */
void fp_execute(struct fake_pcie *fp, uint16_t qid, const struct spio_nvme_cmd *cmd,
		struct result *r);

/* helper_fake_pcie_fault.c */

/* Held commands of SQ qid (every queue: -1) are aborted: no transfer, no completion. */
void fp_abort_held(struct fake_pcie *fp, int qid);
/* Keep the command "in the device" if a hold fault wants it. \return true if held. */
bool fp_hold(struct fake_pcie *fp, uint16_t qid, const struct spio_nvme_cmd *cmd);
/* Held commands whose time came: execute (the data moves now) and complete. \return how many. */
uint32_t fp_run_held(struct fake_pcie *fp);

#endif
