/*
 * A fake NVMe 1.4 controller in memory behind the PCIe transport's device
 * operations (lib/nvme/nvme_pcie_dev.h), for unit tests and the benchmark.
 *
 * The test creates a device for a PCI address and installs fake_pcie_ops()
 * with nvme_pcie_set_dev_ops(); connecting `trtype:PCIe traddr:<address>`
 * then opens it. BAR0 is ordinary memory: registers at 0x00-0x3F, doorbells
 * from 0x1000 with stride 4 << CAP.DSTRD. open() registers a spio poller on
 * the calling (admin) thread; each poll looks at what the host wrote (CC,
 * AQA/ASQ/ACQ, the doorbells), executes new commands and posts completions
 * with the right phase tag, SQ head and SQ id, as a controller would. Keep
 * every queue of one fake on that thread: the fake is single-threaded.
 *
 * The fake only sees the BAR when it polls: a register or doorbell written
 * twice between two polls is seen once, and the register log records the
 * changes each poll found (in register order within one poll, each with the
 * poll's number).
 *
 * Interrupts: enable_irqs() gives one eventfd per MSI-X vector. A poll that
 * posted to a CQ created with IEN=1 (and the admin CQ, always on vector 0)
 * writes that CQ's vector's eventfd once: no masking, no coalescing.
 *
 * DMA: the env must run in no-huge mode (IOVA = VA). Every address the host
 * gives (rings, PRP entries and lists, SGL descriptors, data) is checked with
 * a spio_vtophys() round trip before the fake touches it; a bad one fails
 * the command (Data Transfer Error) and counts as a violation. Every breach
 * of the spec's rules for the data pointer or the queues fails the command
 * with the spec's status and counts too: tests assert violations == 0.
 */
#ifndef SPIO_TEST_HELPER_FAKE_PCIE_H
#define SPIO_TEST_HELPER_FAKE_PCIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/nvme_spec.h"

#include "nvme/nvme_pcie_dev.h"

#define FAKE_PCIE_MAX_NS 4
/* Highest I/O queue id the fake can hold (and Set Features' upper limit). */
#define FAKE_PCIE_MAX_IOQ 64
#define FAKE_PCIE_MN "spio fake PCIe NVMe controller"
#define FAKE_PCIE_SN "FAKEPCIE0001"

struct fake_pcie_opts {
	const char *traddr;	 /* PCI address open() answers to; default 0000:00:04.0 */
	uint16_t mqes;		 /* CAP.MQES, 0's based; default 1023 */
	uint8_t dstrd;		 /* CAP.DSTRD; default 0 */
	uint8_t to;		 /* CAP.TO, 500 ms units; default 20 */
	uint8_t mpsmax;		 /* CAP.MPSMAX; default 4 (MPSMIN is 0) */
	uint8_t mdts;		 /* Identify MDTS; default 5 (128 KiB) */
	uint32_t sgls;		 /* Identify SGLS; default 0 (PRPs only) */
	uint32_t max_io_queues;	 /* limit of Set Features Number of Queues; default 16 */
	uint32_t num_ns;	 /* active namespaces 1..num_ns; default 2 */
	uint64_t ns_size;	 /* bytes per namespace; default 8 MiB */
	uint32_t block_size;	 /* 512 or 4096; default 512 */
	uint32_t ready_delay;	 /* polls from CC.EN=1 to CSTS.RDY=1; default 2 */
	uint32_t shutdown_delay; /* polls from CC.SHN to SHST=complete; default 1 */
	uint8_t aerl;		 /* Identify AERL, 0's based; default 3 */
	bool vwc;		 /* volatile write cache present; default true */
	/*
	 * MSI-X table size; default FAKE_PCIE_MAX_IOQ + 1; 0: no MSI-X
	 * (enable_irqs gives -ENOTSUP).
	 */
	uint32_t msix_vectors;
	/*
	 * Period of the fake's poller in us; default 0: an active poller. A
	 * timed one lets an interrupt-mode thread sleep between its runs.
	 */
	uint32_t poll_period_us;
};

/* One change of a host-writable register the fake saw. */
struct fake_pcie_reg_write {
	uint64_t poll; /* number of the poll that saw it */
	uint32_t off;  /* SPIO_NVME_REG_* */
	uint64_t val;
};

#define FAKE_PCIE_REG_LOG_MAX 256

struct fake_pcie_stats {
	uint64_t polls;
	uint64_t admin_cmds[256]; /* by opcode */
	uint64_t io_cmds[256];	  /* by opcode */
	uint64_t io_bytes;	  /* data moved by I/O commands */
	/* Doorbell value changes seen, per queue id: SQ tail, CQ head. */
	uint64_t sq_doorbells[FAKE_PCIE_MAX_IOQ + 1];
	uint64_t cq_doorbells[FAKE_PCIE_MAX_IOQ + 1];
	uint32_t max_sq_occupancy[FAKE_PCIE_MAX_IOQ + 1]; /* entries seen waiting at once */
	uint64_t phase_flips[FAKE_PCIE_MAX_IOQ + 1];	  /* CQ wrap-arounds */
	uint64_t cq_full_stalls; /* polls that left commands in an SQ for want of CQ room */
	uint64_t prp_lists;	 /* commands whose PRP2 was a list */
	uint64_t prp_chains;	 /* PRP list pages reached through a chain entry */
	uint64_t sgl_cmds;	 /* commands with an SGL */
	uint64_t enables, disables, shutdowns, opens, closes;
	uint64_t reorders;    /* batches completed in reverse */
	uint64_t irq_enables; /* enable_irqs() calls that succeeded */
	/* eventfd writes per MSI-X vector: one per poll that posted to its CQs */
	uint64_t irq_writes[FAKE_PCIE_MAX_IOQ + 1];
	uint64_t held_cmds;	  /* commands kept in the device by fake_pcie_hold_next */
	uint64_t held_aborted;	  /* of those, aborted by Delete I/O SQ or a disable */
	uint64_t violations;	  /* host broke a rule: must stay 0 in a correct run */
	char last_violation[160]; /* what the last one was */
};

void fake_pcie_opts_init(struct fake_pcie_opts *opts);

/*
 * Create a powered, disabled controller (zeroed namespaces) that open() will
 * find by its address. At most 4 at a time. NULL opts: defaults.
 * \return the fake, or NULL (bad options, no memory, address taken).
 */
struct fake_pcie *fake_pcie_create(const struct fake_pcie_opts *opts);
/* Destroy a fake that is not open. */
void fake_pcie_destroy(struct fake_pcie *fp);

/* The device operations for nvme_pcie_set_dev_ops(). */
const struct nvme_pcie_dev_ops *fake_pcie_ops(void);

/* Run one poll by hand (open() also registers a poller doing this). */
int fake_pcie_poll(struct fake_pcie *fp);

bool fake_pcie_is_open(const struct fake_pcie *fp);
const struct fake_pcie_stats *fake_pcie_get_stats(const struct fake_pcie *fp);
void fake_pcie_reset_stats(struct fake_pcie *fp);
/* The register log (oldest first) and its length; cleared by fake_pcie_clear_reg_log. */
const struct fake_pcie_reg_write *fake_pcie_reg_log(const struct fake_pcie *fp, uint32_t *n);
void fake_pcie_clear_reg_log(struct fake_pcie *fp);
/* Namespace nsid's backing store (ns_size bytes), for checking data; NULL if none. */
uint8_t *fake_pcie_ns_data(struct fake_pcie *fp, uint32_t nsid);
/* Live I/O submission and completion queues. */
uint32_t fake_pcie_num_io_sqs(const struct fake_pcie *fp);
uint32_t fake_pcie_num_io_cqs(const struct fake_pcie *fp);
/* Commands executed but not completed (held AERs, dropped completions). */
uint32_t fake_pcie_held_aers(const struct fake_pcie *fp);
/* The eventfd of MSI-X vector `v`, or -1 while it is not enabled. */
int fake_pcie_irq_fd(const struct fake_pcie *fp, uint32_t v);
/* Interrupt vector of live I/O CQ `qid`, or -1 when it has IEN=0 or is not live. */
int fake_pcie_cq_vector(const struct fake_pcie *fp, uint32_t qid);
/* True while CC.EN=1 and CSTS.RDY=1. */
bool fake_pcie_is_ready(const struct fake_pcie *fp);

/*
 * Faults. Each applies to the next command that matches and then clears.
 * qid: the SQ id the command must come from, or -1 for any I/O queue.
 */
void fake_pcie_fail_next(struct fake_pcie *fp, int qid, uint8_t sct, uint8_t sc);
/* Execute the next command but never post its completion. */
void fake_pcie_drop_next(struct fake_pcie *fp, int qid);
/*
 * Keep the next n commands of I/O SQ qid (-1: any I/O queue) in the device:
 * fetched, not executed, for `polls` polls; then they execute (a read writes
 * the host's buffer then) and complete. Deleting their SQ or disabling the
 * controller first aborts them (no transfer, no completion), as a real
 * controller does. Not cleared by one command: by n.
 */
void fake_pcie_hold_next(struct fake_pcie *fp, int qid, uint32_t n, uint32_t polls);
/* Commands held now of SQ qid (-1: all). */
uint32_t fake_pcie_held_cmds(const struct fake_pcie *fp, int qid);
/* Is command cid of SQ qid held (may the device still move its data)? */
bool fake_pcie_holds(const struct fake_pcie *fp, uint16_t qid, uint16_t cid);
/* Complete the next batch of two or more commands of one SQ in reverse order. */
void fake_pcie_reorder_next(struct fake_pcie *fp);
/* Set CSTS.CFS: the controller stops executing until CC.EN goes 1 -> 0. */
void fake_pcie_set_cfs(struct fake_pcie *fp);
/* Surprise removal: BAR reads all ones, is_removed() true, nothing more happens. */
void fake_pcie_hot_remove(struct fake_pcie *fp);
/* Polls between CC.EN=1 and CSTS.RDY for the next enables. */
void fake_pcie_set_ready_delay(struct fake_pcie *fp, uint32_t polls);
/* Make open() fail with `err` (negative errno) until set back to 0. */
void fake_pcie_set_open_error(struct fake_pcie *fp, int err);
/* Complete one held AER with this cdw0 (kept until an AER is outstanding). */
void fake_pcie_fire_aer(struct fake_pcie *fp, uint32_t cdw0);
/*
 * Make namespaces 1..n active (n <= opts.num_ns; the others identify as
 * inactive, their data kept). \return 0 or -EINVAL.
 */
int fake_pcie_set_active_ns(struct fake_pcie *fp, uint32_t n);
/* Add nsid to the changed namespace list (Get Log Page 04h). */
void fake_pcie_ns_changed(struct fake_pcie *fp, uint32_t nsid);

#endif /* SPIO_TEST_HELPER_FAKE_PCIE_H */
