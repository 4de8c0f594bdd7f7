/*
 * NVMe over PCIe, the controller: the device opened through the dev ops
 * (VFIO unless a test put a fake in), registers in BAR0 read and written
 * 32 bits at a time (CAP as two halves), disable bounded by CAP.TO, and
 * hot-removal noticed from registers reading all ones.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "spio/log.h"
#include "spio/task.h"

#include "nvme/nvme_pcie_internal.h"

/* How long the destructor waits for create / delete commands still on the admin queue. */
#define DRAIN_WAIT_MS 5000

static const struct nvme_pcie_dev_ops *g_dev_ops;

void nvme_pcie_set_dev_ops(const struct nvme_pcie_dev_ops *ops)
{
	g_dev_ops = ops;
}

struct nvme_pcie_ctrlr *nvme_pcie_ctrlr(const struct spio_nvme_ctrlr *ctrlr)
{
	return ctrlr->transport_ctx;
}

uint32_t nvme_pcie_reg_read4(struct nvme_pcie_ctrlr *p, uint32_t off)
{
	return *(volatile uint32_t *)(p->bar0 + off);
}

void nvme_pcie_reg_write4(struct nvme_pcie_ctrlr *p, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(p->bar0 + off) = v;
}

void nvme_pcie_kick(struct nvme_pcie_ctrlr *p, uint32_t qid)
{
	uint64_t one = 1;

	if (qid < p->num_irqs && write(p->irq_fds[qid], &one, sizeof(one)) < 0 && errno != EAGAIN) {
		SPIO_ERRLOG("nvme %s: cannot signal vector %u: %d\n", p->ctrlr->trid.traddr, qid,
			    errno);
	}
}

void nvme_pcie_kick_all(struct nvme_pcie_ctrlr *p)
{
	for (uint32_t qid = 1; qid < p->num_irqs; qid++) {
		nvme_pcie_kick(p, qid);
	}
}

bool nvme_pcie_check_removed(struct nvme_pcie_ctrlr *p, uint32_t value)
{
	if (atomic_load_explicit(&p->gone, memory_order_relaxed)) {
		return true;
	}
	if (value != UINT32_MAX || !p->dev_ops->is_removed(p->dev)) {
		return false;
	}
	SPIO_ERRLOG("nvme %s: device removed\n", p->ctrlr->trid.traddr);
	atomic_store(&p->gone, true);
	nvme_ctrlr_set_failed(p->ctrlr, "device removed");
	/* No completion will come: sleeping I/O threads must look and fail their commands. */
	nvme_pcie_kick_all(p);
	return true;
}

static int pcie_get_reg(struct spio_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			uint64_t *value)
{
	struct nvme_pcie_ctrlr *p = nvme_pcie_ctrlr(ctrlr);
	uint32_t lo;

	if (p == NULL || (size != 4 && size != 8) || offset + size > p->bar0_len) {
		return -EINVAL;
	}
	lo = nvme_pcie_reg_read4(p, offset);
	*value = lo;
	if (size == 8) {
		uint32_t hi = nvme_pcie_reg_read4(p, offset + 4);

		*value |= (uint64_t)hi << 32;
		lo &= hi; /* all ones only if both halves are */
	}
	return nvme_pcie_check_removed(p, lo) ? -ENXIO : 0;
}

static int pcie_set_reg(struct spio_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			uint64_t value)
{
	struct nvme_pcie_ctrlr *p = nvme_pcie_ctrlr(ctrlr);

	if (p == NULL || (size != 4 && size != 8) || offset + size > p->bar0_len) {
		return -EINVAL;
	}
	if (atomic_load(&p->gone)) {
		return -ENXIO;
	}
	/* 64-bit registers (ASQ, ACQ) low half first, as two 32-bit writes. */
	nvme_pcie_reg_write4(p, offset, (uint32_t)value);
	if (size == 8) {
		nvme_pcie_reg_write4(p, offset + 4, (uint32_t)(value >> 32));
	}
	return 0;
}

/* CAP.TO (500 ms units) + 500 ms, and never longer than the connect timeout. */
static uint64_t ready_limit_ms(const struct nvme_pcie_ctrlr *p)
{
	return SPIO_MIN((uint64_t)p->cap.bits.to * 500 + 500,
			(uint64_t)p->ctrlr->opts.connect_timeout_ms);
}

void nvme_pcie_ctrlr_disabled(struct nvme_pcie_ctrlr *p)
{
	struct nvme_pcie_queue *q;

	p->disables++;
	while ((q = TAILQ_FIRST(&p->zombies)) != NULL) {
		TAILQ_REMOVE(&p->zombies, q, link);
		q->zombie = false;
		q->on_device = false;
		nvme_pcie_queue_put(q);
	}
}

/* Wait until CSTS.RDY is `want` (or CFS when waiting for 1), until `deadline`; from a task. */
static int wait_rdy(struct nvme_pcie_ctrlr *p, bool want, uint64_t deadline, uint64_t limit_ms)
{
	union spio_nvme_csts_register csts;

	for (;;) {
		csts.raw = nvme_pcie_reg_read4(p, SPIO_NVME_REG_CSTS);
		if (nvme_pcie_check_removed(p, csts.raw)) {
			return -ENXIO;
		}
		if (csts.bits.rdy == want || (want && csts.bits.cfs)) {
			return 0;
		}
		if (spio_get_ticks() > deadline) {
			SPIO_ERRLOG("nvme %s: CSTS.RDY not %u after %lu ms\n",
				    p->ctrlr->trid.traddr, want, (unsigned long)limit_ms);
			return -ETIMEDOUT;
		}
		if (spio_task_current() == NULL) {
			return -EAGAIN; /* not in a task: cannot wait */
		}
		spio_task_sleep_us(1000);
	}
}

int nvme_pcie_ctrlr_disable_await(struct nvme_pcie_ctrlr *p)
{
	uint64_t limit_ms = ready_limit_ms(p);
	uint64_t deadline = spio_get_ticks() + limit_ms * spio_get_ticks_hz() / 1000;
	union spio_nvme_cc_register cc;
	int rc;

	cc.raw = nvme_pcie_reg_read4(p, SPIO_NVME_REG_CC);
	if (nvme_pcie_check_removed(p, cc.raw)) {
		return -ENXIO;
	}
	if (cc.bits.en) {
		/* Clearing EN while an enable is under way (RDY still 0) is undefined: let it end.
		 */
		rc = wait_rdy(p, true, deadline, limit_ms);
		if (rc == -ENXIO || rc == -EAGAIN) {
			return rc;
		}
		cc.bits.en = 0;
		nvme_pcie_reg_write4(p, SPIO_NVME_REG_CC, cc.raw);
		deadline = spio_get_ticks() + limit_ms * spio_get_ticks_hz() / 1000;
	}
	rc = wait_rdy(p, false, deadline, limit_ms);
	if (rc != 0) {
		return rc;
	}
	nvme_pcie_ctrlr_disabled(p);
	/* Draining qpairs may now fail what they held: wake their threads. */
	nvme_pcie_kick_all(p);
	return 0;
}

/*
 * Interrupt mode: one MSI-X vector for the admin queue and one per I/O
 * queue. Fewer vectors than asked cap the I/O queues asked for in Set
 * Features (as SPDK): a queue never shares its vector, so a poll group never
 * watches one eventfd twice. No MSI-X: polled mode. A single vector: the
 * admin queue keeps it (its idle poller wakes on it), the I/O queues poll.
 */
static void enable_interrupts(struct nvme_pcie_ctrlr *p)
{
	struct spio_nvme_ctrlr *ctrlr = p->ctrlr;
	uint32_t want = 1 + SPIO_MIN(ctrlr->opts.num_io_queues, NVME_PCIE_MAX_IRQ_QUEUES);
	int rc;

	p->irq_fds = calloc(want, sizeof(*p->irq_fds));
	rc = p->irq_fds == NULL ? -ENOMEM : p->dev_ops->enable_irqs(p->dev, want, p->irq_fds);
	if (rc < 1) {
		SPIO_ERRLOG("nvme %s: cannot enable MSI-X (%d); polling instead\n",
			    ctrlr->trid.traddr, rc);
		free(p->irq_fds);
		p->irq_fds = NULL;
		ctrlr->opts.enable_interrupts = false;
		return;
	}
	p->num_irqs = (uint32_t)rc;
	if (p->num_irqs == 1) {
		SPIO_ERRLOG("nvme %s: one MSI-X vector, none for I/O queues: they poll\n",
			    ctrlr->trid.traddr);
		ctrlr->opts.enable_interrupts = false;
	} else if (ctrlr->opts.num_io_queues > p->num_irqs - 1) {
		SPIO_NOTICELOG("nvme %s: %u MSI-X vectors: at most %u I/O queues\n",
			       ctrlr->trid.traddr, p->num_irqs, p->num_irqs - 1);
		ctrlr->opts.num_io_queues = p->num_irqs - 1;
	}
}

static int pcie_ctrlr_construct(struct spio_nvme_ctrlr *ctrlr)
{
	const struct nvme_pcie_dev_ops *ops = g_dev_ops != NULL ? g_dev_ops : &g_nvme_pcie_vfio_ops;
	struct nvme_pcie_ctrlr *p = calloc(1, sizeof(*p));
	uint32_t lo, hi;
	int rc;

	if (p == NULL) {
		return -ENOMEM;
	}
	p->ctrlr = ctrlr;
	p->dev_ops = ops;
	TAILQ_INIT(&p->zombies);
	TAILQ_INIT(&p->ops);
	rc = ops->open(ctrlr->trid.traddr, &p->dev, &p->bar0, &p->bar0_len);
	if (rc != 0) {
		SPIO_ERRLOG("nvme %s: cannot open the PCI device: %d\n", ctrlr->trid.traddr, rc);
		free(p);
		return rc;
	}
	ctrlr->transport_ctx = p;
	if (p->bar0_len < SPIO_NVME_REG_SQ0TDBL + 8) {
		SPIO_ERRLOG("nvme %s: BAR0 of %zu bytes is too small for NVMe registers\n",
			    ctrlr->trid.traddr, p->bar0_len);
		return -ENODEV; /* the destructor closes */
	}
	lo = nvme_pcie_reg_read4(p, SPIO_NVME_REG_CAP);
	hi = nvme_pcie_reg_read4(p, SPIO_NVME_REG_CAP + 4);
	if (nvme_pcie_check_removed(p, lo & hi)) {
		return -ENODEV;
	}
	p->cap.raw = lo | (uint64_t)hi << 32;
	p->dstrd = 4u << p->cap.bits.dstrd;
	if (p->cap.bits.mpsmin != 0) {
		SPIO_ERRLOG("nvme %s: smallest memory page %u KiB (CAP.MPSMIN); only 4 KiB host "
			    "pages are supported\n",
			    ctrlr->trid.traddr, 4u << p->cap.bits.mpsmin);
		return -ENOTSUP;
	}
	if (ctrlr->opts.enable_interrupts) {
		enable_interrupts(p);
	}
	return 0;
}

static void pcie_ctrlr_drain(struct spio_nvme_ctrlr *ctrlr)
{
	struct nvme_pcie_ctrlr *p = nvme_pcie_ctrlr(ctrlr);
	uint64_t deadline = spio_get_ticks() + DRAIN_WAIT_MS * spio_get_ticks_hz() / 1000;

	/* Queue deletes sent by I/O threads land on this thread: let them finish. */
	while (p != NULL && atomic_load(&p->inflight) > 0 && spio_task_current() != NULL &&
	       spio_get_ticks() < deadline) {
		spio_task_sleep_us(1000);
	}
}

static void pcie_ctrlr_destruct(struct spio_nvme_ctrlr *ctrlr)
{
	struct nvme_pcie_ctrlr *p = nvme_pcie_ctrlr(ctrlr);
	union spio_nvme_cc_register cc;
	union spio_nvme_csts_register csts;

	if (p == NULL) {
		return;
	}
	pcie_ctrlr_drain(ctrlr);
	if (atomic_load(&p->inflight) > 0) {
		/* Their messages would find a freed controller: keep it (a leak, logged). */
		SPIO_ERRLOG("nvme %s: %u queue operations still running at close; leaking the "
			    "controller's state\n",
			    ctrlr->trid.traddr, (unsigned)atomic_load(&p->inflight));
		ctrlr->transport_ctx = NULL;
		return;
	}
	if (p->bar0_len >= SPIO_NVME_REG_SQ0TDBL && !atomic_load(&p->gone)) {
		/* The rings are freed next: the device must stop using them (unless shut down). */
		cc.raw = nvme_pcie_reg_read4(p, SPIO_NVME_REG_CC);
		csts.raw = nvme_pcie_reg_read4(p, SPIO_NVME_REG_CSTS);
		if (cc.raw != UINT32_MAX && cc.bits.en &&
		    csts.bits.shst != SPIO_NVME_SHST_COMPLETE) {
			nvme_pcie_ctrlr_disable_await(p);
		}
	}
	p->dev_ops->close(p->dev);   /* closes the eventfds too */
	nvme_pcie_ctrlr_disabled(p); /* the zombies' device is closed */
	ctrlr->transport_ctx = NULL;
	free(p->irq_fds);
	free(p);
}

const struct nvme_transport_ops g_nvme_pcie_ops = {
    .trtype = SPIO_NVME_TRANSPORT_PCIE,
    .fabrics = false,
    .ctrlr_construct = pcie_ctrlr_construct,
    .ctrlr_destruct = pcie_ctrlr_destruct,
    .ctrlr_drain = pcie_ctrlr_drain,
    .ctrlr_get_reg = pcie_get_reg,
    .ctrlr_set_reg = pcie_set_reg,
    .qpair_alloc = nvme_pcie_qpair_alloc,
    .qpair_free = nvme_pcie_qpair_free,
    .qpair_connect = nvme_pcie_qpair_connect,
    .qpair_close = nvme_pcie_qpair_close,
    .qpair_device_done = nvme_pcie_qpair_device_done,
    .qpair_submit = nvme_pcie_qpair_submit,
    .qpair_process = nvme_pcie_qpair_process,
    .qpair_flush = nvme_pcie_qpair_flush,
    .qpair_get_fd = nvme_pcie_qpair_get_fd,
    .max_xfer_size = NVME_PCIE_MAX_XFER_SIZE,
};
