/*
 * NVMe over PCIe: the controller's registers and doorbells in BAR0, queues
 * in DMA memory, data described by PRPs or SGLs (nvme_pcie_prp.c).
 *
 * Threads: the controller's registers and the admin queue belong to the
 * admin thread (ctrlr->thread). An I/O qpair rings only its own doorbells;
 * the admin commands that create and delete its queues run on the admin
 * thread, and their result comes back through `struct nvme_pcie_queue`.
 */
#ifndef SPIO_NVME_PCIE_INTERNAL_H
#define SPIO_NVME_PCIE_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/uio.h>

#include "nvme/nvme_internal.h"
#include "nvme/nvme_pcie_dev.h"

/* Interrupt mode: at most this many I/O queues, one MSI-X vector each (as SPDK). */
#define NVME_PCIE_MAX_IRQ_QUEUES 256u

/* CC.MPS is always 0: the host memory page is 4 KiB. */
#define NVME_PCIE_PAGE_SIZE 4096u
/* One list page per command slot: this many PRP entries or SGL descriptors. */
#define NVME_PCIE_PRP_LIST_ENTRIES (NVME_PCIE_PAGE_SIZE / 8u)
#define NVME_PCIE_SGL_LIST_ENTRIES (NVME_PCIE_PAGE_SIZE / 16u)
/*
 * Largest transfer: a one-page PRP list covers 512 pages after the first
 * (which may be partial), so 2 MiB fits at any dword-aligned start; no list
 * chaining is needed. MDTS may lower it (ctrlr_init.c).
 */
#define NVME_PCIE_MAX_XFER_SIZE (NVME_PCIE_PRP_LIST_ENTRIES * NVME_PCIE_PAGE_SIZE)

/* IOVA of DMA memory: spio_vtophys, or a test's fake. */
typedef uint64_t (*nvme_pcie_vtophys_fn)(const void *buf, uint64_t *size);

/*
 * Fill the data pointer of `cmd` (PSDT, PRP1/PRP2 or SGL1) for `len` bytes
 * of `iov`. `list` is the command's 4 KiB list page at IOVA `list_iova`.
 * PRPs when the buffer's alignment allows them; else an SGL when `sgls`
 * (Identify SGLS; 0 for the admin queue) says the controller takes them.
 * \return 0; -EINVAL (alignment neither can describe, too many pages or
 *         elements, iov shorter than len); -EFAULT (not DMA memory). Logged.
 */
int nvme_pcie_build_data(struct spio_nvme_cmd *cmd, const struct iovec *iov, int iovcnt,
			 uint32_t len, void *list, uint64_t list_iova, uint32_t sgls,
			 nvme_pcie_vtophys_fn vtophys);
/* PRPs only: -ENOTSUP when an element's alignment needs an SGL. */
int nvme_pcie_build_prps(struct spio_nvme_cmd *cmd, const struct iovec *iov, int iovcnt,
			 uint32_t len, uint64_t *list, uint64_t list_iova,
			 nvme_pcie_vtophys_fn vtophys);
/* SGL only (data block descriptors, a last segment in `list` when several). */
int nvme_pcie_build_sgl(struct spio_nvme_cmd *cmd, const struct iovec *iov, int iovcnt,
			uint32_t len, struct spio_nvme_sgl_descriptor *list, uint64_t list_iova,
			uint32_t sgls, nvme_pcie_vtophys_fn vtophys);

struct nvme_pcie_ctrlr;
struct nvme_pcie_admin_op;

/*
 * The rings of one queue pair. It outlives its qpair while the device may
 * still use them (a Delete I/O SQ/CQ under way on the admin thread):
 * reference counted, the last holder frees.
 */
struct nvme_pcie_queue {
	_Atomic uint32_t refs;
	/*
	 * Create / delete operations sent to the admin thread and not finished
	 * (the qpair's thread waits for 0), and the status of the last create.
	 */
	_Atomic uint32_t pending;
	_Atomic int admin_status;
	struct nvme_pcie_ctrlr *pctrlr;
	uint16_t qid;
	uint32_t entries;
	struct spio_nvme_cmd *sq;
	struct spio_nvme_cpl *cq;
	uint64_t sq_iova;
	uint64_t cq_iova;
	/* One 4 KiB PRP list / SGL page per command slot (the device reads them too). */
	uint8_t *lists;
	uint64_t *list_iova;
	uint32_t num_lists;
	/* Admin thread only: the queue exists on the device since that disable count. */
	bool on_device;
	bool zombie;
	_Atomic uint64_t created_in; /* read by the qpair's thread while it drains */
	/*
	 * Admin thread, read by the qpair's thread: Delete I/O SQ succeeded (or
	 * was moot), so the device completed or aborted every command of the
	 * queue. Cleared when a create is sent.
	 */
	_Atomic bool released;
	TAILQ_ENTRY(nvme_pcie_queue) link; /* on pctrlr->zombies */
};

struct nvme_pcie_ctrlr {
	struct spio_nvme_ctrlr *ctrlr;
	const struct nvme_pcie_dev_ops *dev_ops;
	void *dev;
	volatile uint8_t *bar0;
	size_t bar0_len;
	union spio_nvme_cap_register cap;
	uint32_t dstrd; /* doorbell stride in bytes */
	/*
	 * Interrupt mode: MSI-X vector v's eventfd (owned by the device, closed
	 * by close()), v = queue id; 0 vectors when polled. Set at construct,
	 * before any I/O qpair exists, and fixed until the controller is freed.
	 */
	int *irq_fds;
	uint32_t num_irqs;
	/* Removed: every qpair stops and fails what it has. */
	_Atomic bool gone;
	/* Queue create / delete operations sent to the admin thread and not finished. */
	_Atomic uint32_t inflight;
	/*
	 * Completed disables (RDY went 0) and closes: the device forgot its
	 * queues and their commands. Written by the admin thread, read by
	 * draining qpairs on any thread.
	 */
	_Atomic uint64_t disables;
	/* Admin thread: rings whose delete failed; freed at the next disable or at close. */
	TAILQ_HEAD(, nvme_pcie_queue) zombies;
	/*
	 * Admin thread: queue creates and deletes, the running one first. One
	 * at a time for the whole controller: a freed qpair's id may be handed
	 * out again while its queues are still being deleted.
	 */
	TAILQ_HEAD(, nvme_pcie_admin_op) ops;
	bool op_running;
	bool in_run_ops;
};

struct nvme_pcie_ctrlr *nvme_pcie_ctrlr(const struct spio_nvme_ctrlr *ctrlr);
uint32_t nvme_pcie_reg_read4(struct nvme_pcie_ctrlr *p, uint32_t off);
void nvme_pcie_reg_write4(struct nvme_pcie_ctrlr *p, uint32_t off, uint32_t v);
/* An all-ones read: is the device gone? Marks it so (once, logged). */
bool nvme_pcie_check_removed(struct nvme_pcie_ctrlr *p, uint32_t value);
/*
 * Interrupt mode: a software MSI-X message on queue qid's vector, or on every
 * I/O queue's (kick_all), to wake a thread sleeping on it when something
 * other than a completion needs its attention (its queue created or deleted
 * on the admin thread, a reset, removal). A no-op when polled.
 */
void nvme_pcie_kick(struct nvme_pcie_ctrlr *p, uint32_t qid);
void nvme_pcie_kick_all(struct nvme_pcie_ctrlr *p);
/* Disable (CC.EN = 0) and wait RDY = 0 bounded by CAP.TO, from a task. */
int nvme_pcie_ctrlr_disable_await(struct nvme_pcie_ctrlr *p);
/* The device forgot its queues: free the zombie rings (admin thread). */
void nvme_pcie_ctrlr_disabled(struct nvme_pcie_ctrlr *p);

/* nvme_pcie_qpair.c: the transport's qpair ops. */
void nvme_pcie_queue_put(struct nvme_pcie_queue *q);
struct spio_nvme_qpair *nvme_pcie_qpair_alloc(struct spio_nvme_ctrlr *ctrlr, uint32_t num_entries);
void nvme_pcie_qpair_free(struct spio_nvme_qpair *qpair);
int nvme_pcie_qpair_connect(struct spio_nvme_qpair *qpair);
void nvme_pcie_qpair_close(struct spio_nvme_qpair *qpair);
bool nvme_pcie_qpair_device_done(struct spio_nvme_qpair *qpair);
int nvme_pcie_qpair_submit(struct spio_nvme_qpair *qpair, struct nvme_request *req);
int32_t nvme_pcie_qpair_process(struct spio_nvme_qpair *qpair, uint32_t max);
void nvme_pcie_qpair_flush(struct spio_nvme_qpair *qpair);
int nvme_pcie_qpair_get_fd(const struct spio_nvme_qpair *qpair);

/* nvme_pcie_vfio.c */
extern const struct nvme_pcie_dev_ops g_nvme_pcie_vfio_ops;

#endif /* SPIO_NVME_PCIE_INTERNAL_H */
