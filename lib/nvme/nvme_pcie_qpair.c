/*
 * NVMe over PCIe, the queue pairs: rings in DMA memory, a command copied
 * into the SQ at its tail and the tail doorbell rung once per batch,
 * completions found by their phase bit and the CQ head doorbell rung once
 * per process call.
 *
 * I/O queues are created and deleted by admin commands, which only the
 * admin thread submits: the qpair's thread sends it an operation and polls
 * `queue->pending` until it is done. The rings are reference counted so
 * that they outlive a freed qpair until the device has let go of them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spio/dma.h"
#include "spio/log.h"
#include "spio/task.h"

#include "nvme/nvme_pcie_internal.h"

/* How often the admin queue reads CSTS to notice removal or a fatal status. */
#define HEALTH_CHECK_US 10000

enum pcie_connect_state {
	PCIE_CONN_NONE,
	PCIE_CONN_DISABLING,   /* admin: the connecting task disables the controller */
	PCIE_CONN_ADMIN_READY, /* admin: AQA/ASQ/ACQ written; report at the next process */
	PCIE_CONN_WAIT_IDLE,   /* I/O: an earlier delete still runs on the admin thread */
	PCIE_CONN_WAIT_CREATE, /* I/O: Create I/O CQ + SQ on the admin thread */
};

struct nvme_pcie_qpair {
	struct spio_nvme_qpair qpair; /* first: the core's view */
	struct nvme_pcie_queue *q;
	struct nvme_pcie_ctrlr *pctrlr;
	volatile uint32_t *sq_tdbl;
	volatile uint32_t *cq_hdbl;
	uint32_t sq_tail;
	uint32_t cq_head;
	uint16_t phase;
	bool sq_dirty;
	/* Identify SGLS for I/O commands; 0 on the admin queue (PRPs only). */
	uint32_t sgls;
	enum pcie_connect_state cstate;
	/* A create went to the admin thread since the last delete. */
	bool create_sent;
	uint64_t next_health_tick;
	/* Per command slot: its data went through the slot's list page (see bounce_in). */
	bool *bounced;
	/*
	 * Down with commands held: the disable count the queue lived in. Any
	 * disable after it (or removal, or Delete I/O SQ) ends them.
	 */
	uint64_t drain_epoch;
};

/* A create or delete of one queue's rings on the device, run on the admin thread. */
struct nvme_pcie_admin_op {
	struct nvme_pcie_queue *q;
	bool create;
	uint32_t generation;
	TAILQ_ENTRY(nvme_pcie_admin_op) link;
};

static void bounce_out(struct nvme_pcie_qpair *pq, struct nvme_request *req);

static struct nvme_pcie_qpair *pcie_qpair(const struct spio_nvme_qpair *qpair)
{
	return (struct nvme_pcie_qpair *)qpair;
}

static void queue_free(struct nvme_pcie_queue *q)
{
	spio_dma_free(q->sq);
	spio_dma_free(q->cq);
	spio_dma_free(q->lists);
	free(q->list_iova);
	free(q);
}

void nvme_pcie_queue_put(struct nvme_pcie_queue *q)
{
	if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) == 1) {
		queue_free(q);
	}
}

/* The IOVA of `len` bytes at `buf`, which the device must see contiguous. */
static uint64_t contiguous_iova(const void *buf, uint64_t len)
{
	uint64_t size = len;
	uint64_t iova = spio_vtophys(buf, &size);

	return iova == SPIO_VTOPHYS_ERROR || size < len ? SPIO_VTOPHYS_ERROR : iova;
}

static struct nvme_pcie_queue *queue_alloc(uint32_t entries)
{
	struct nvme_pcie_queue *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		return NULL;
	}
	atomic_init(&q->refs, 1);
	q->entries = entries;
	q->num_lists = entries - 1; /* the core's command slots */
	q->sq = spio_dma_zmalloc((size_t)entries * sizeof(*q->sq), NVME_PCIE_PAGE_SIZE);
	q->cq = spio_dma_zmalloc((size_t)entries * sizeof(*q->cq), NVME_PCIE_PAGE_SIZE);
	q->lists =
	    spio_dma_zmalloc((size_t)q->num_lists * NVME_PCIE_PAGE_SIZE, NVME_PCIE_PAGE_SIZE);
	q->list_iova = calloc(q->num_lists, sizeof(*q->list_iova));
	if (q->sq == NULL || q->cq == NULL || q->lists == NULL || q->list_iova == NULL) {
		SPIO_ERRLOG("nvme pcie: no DMA memory for a queue of %u entries\n", entries);
		queue_free(q);
		return NULL;
	}
	q->sq_iova = contiguous_iova(q->sq, (uint64_t)entries * sizeof(*q->sq));
	q->cq_iova = contiguous_iova(q->cq, (uint64_t)entries * sizeof(*q->cq));
	for (uint32_t i = 0; i < q->num_lists; i++) {
		q->list_iova[i] = contiguous_iova(q->lists + (size_t)i * NVME_PCIE_PAGE_SIZE,
						  NVME_PCIE_PAGE_SIZE);
		if (q->list_iova[i] == SPIO_VTOPHYS_ERROR) {
			q->sq_iova = SPIO_VTOPHYS_ERROR;
		}
	}
	if (q->sq_iova == SPIO_VTOPHYS_ERROR || q->cq_iova == SPIO_VTOPHYS_ERROR) {
		SPIO_ERRLOG("nvme pcie: queue of %u entries is not contiguous in IOVA space\n",
			    entries);
		queue_free(q);
		return NULL;
	}
	return q;
}

struct spio_nvme_qpair *nvme_pcie_qpair_alloc(struct spio_nvme_ctrlr *ctrlr, uint32_t num_entries)
{
	struct nvme_pcie_qpair *pq = calloc(1, sizeof(*pq));

	if (pq == NULL) {
		return NULL;
	}
	pq->q = queue_alloc(num_entries);
	if (pq->q == NULL) {
		free(pq);
		return NULL;
	}
	pq->bounced = calloc(num_entries - 1, sizeof(*pq->bounced));
	if (pq->bounced == NULL) {
		nvme_pcie_queue_put(pq->q);
		free(pq);
		return NULL;
	}
	pq->pctrlr = nvme_pcie_ctrlr(ctrlr); /* NULL for the admin queue until connect */
	return &pq->qpair;
}

void nvme_pcie_qpair_free(struct spio_nvme_qpair *qpair)
{
	struct nvme_pcie_qpair *pq = pcie_qpair(qpair);

	nvme_pcie_queue_put(pq->q);
	free(pq->bounced);
	free(pq);
}

static void ring_reset(struct nvme_pcie_qpair *pq)
{
	memset(pq->q->cq, 0, (size_t)pq->q->entries * sizeof(*pq->q->cq));
	pq->sq_tail = 0;
	pq->cq_head = 0;
	pq->phase = 1;
	pq->sq_dirty = false;
}

static int set_doorbells(struct nvme_pcie_qpair *pq, struct nvme_pcie_ctrlr *p)
{
	uint64_t qid = pq->qpair.id;
	uint64_t sq_off = SPIO_NVME_REG_SQ0TDBL + 2 * qid * p->dstrd;
	uint64_t cq_off = sq_off + p->dstrd;

	if (cq_off + 4 > p->bar0_len) {
		SPIO_ERRLOG("nvme %s: doorbells of queue %u beyond BAR0 (%zu bytes)\n",
			    p->ctrlr->trid.traddr, pq->qpair.id, p->bar0_len);
		return -EINVAL;
	}
	pq->sq_tdbl = (volatile uint32_t *)(p->bar0 + sq_off);
	pq->cq_hdbl = (volatile uint32_t *)(p->bar0 + cq_off);
	pq->pctrlr = p;
	pq->q->pctrlr = p;
	pq->q->qid = pq->qpair.id;
	return 0;
}

/* Admin thread: the operations run one after the other (see pctrlr->ops). */
static void op_start(struct nvme_pcie_admin_op *op);

/* Start queued operations until one waits for the controller (a loop, not recursion). */
static void run_ops(struct nvme_pcie_ctrlr *p)
{
	struct nvme_pcie_admin_op *op;

	if (p->in_run_ops) {
		return;
	}
	p->in_run_ops = true;
	while (!p->op_running && (op = TAILQ_FIRST(&p->ops)) != NULL) {
		p->op_running = true;
		op_start(op);
	}
	p->in_run_ops = false;
}

static void op_finish(struct nvme_pcie_admin_op *op, int status)
{
	struct nvme_pcie_queue *q = op->q;
	struct nvme_pcie_ctrlr *p = q->pctrlr;

	if (op->create) {
		atomic_store_explicit(&q->admin_status, status, memory_order_relaxed);
	}
	TAILQ_REMOVE(&p->ops, op, link);
	free(op);
	p->op_running = false;
	atomic_fetch_sub_explicit(&q->pending, 1, memory_order_release);
	/* The qpair's thread may sleep while its queue is created or deleted here. */
	nvme_pcie_kick(p, q->qid);
	nvme_pcie_queue_put(q); /* the op's reference */
	atomic_fetch_sub(&p->inflight, 1);
	run_ops(p);
}

static bool op_stale(const struct nvme_pcie_admin_op *op);

/* The device may still use the rings: keep them until it is disabled or closed. */
static void op_zombie(struct nvme_pcie_admin_op *op)
{
	struct nvme_pcie_queue *q = op->q;

	/* A disable since the queue was created (a reset's): the device forgot it. */
	if (q->created_in != q->pctrlr->disables) {
		q->on_device = false;
		atomic_store(&q->released, true);
		op_finish(op, 0);
		return;
	}
	/* A reset or removal under way makes the delete moot: its disable frees the rings. */
	if (!op_stale(op)) {
		SPIO_WARNLOG("nvme %s: queue %u could not be deleted; its memory is kept until "
			     "the controller is disabled\n",
			     q->pctrlr->ctrlr->trid.traddr, q->qid);
	}
	if (!q->zombie) {
		q->zombie = true;
		atomic_fetch_add(&q->refs, 1);
		TAILQ_INSERT_TAIL(&q->pctrlr->zombies, q, link);
	}
	op_finish(op, -EIO);
}

static bool op_stale(const struct nvme_pcie_admin_op *op)
{
	const struct nvme_pcie_ctrlr *p = op->q->pctrlr;

	return atomic_load(&p->gone) || atomic_load(&p->ctrlr->generation) != op->generation;
}

static int submit_queue_cmd(struct nvme_pcie_admin_op *op, uint8_t opc, spio_nvme_cmd_cb cb)
{
	struct nvme_pcie_queue *q = op->q;
	struct spio_nvme_cmd cmd = {.opc = opc, .cdw10 = q->qid};

	if (opc == SPIO_NVME_OPC_CREATE_IO_CQ) {
		cmd.cdw10 |= (q->entries - 1) << 16;
		cmd.cdw11 = 1; /* PC: physically contiguous */
		if (q->pctrlr->num_irqs > q->qid) {
			/* Interrupt mode: IEN, and the vector numbered as the queue. */
			cmd.cdw11 |= 2u | (uint32_t)q->qid << 16;
		}
		cmd.dptr.prp.prp1 = q->cq_iova;
	} else if (opc == SPIO_NVME_OPC_CREATE_IO_SQ) {
		cmd.cdw10 |= (q->entries - 1) << 16;
		cmd.cdw11 = 1 | ((uint32_t)q->qid << 16); /* PC, QPRIO 0, CQID = our own CQ */
		cmd.dptr.prp.prp1 = q->sq_iova;
	}
	return nvme_qpair_submit_cmd(q->pctrlr->ctrlr->adminq, &cmd, NULL, 0, NULL, 0, cb, op);
}

static void log_cmd_error(const struct nvme_pcie_queue *q, const char *what,
			  const struct spio_nvme_cpl *cpl)
{
	SPIO_ERRLOG("nvme %s: %s of queue %u failed: sct %u sc 0x%02x\n",
		    q->pctrlr->ctrlr->trid.traddr, what, q->qid, cpl->status.sct, cpl->status.sc);
}

static void create_sq_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct nvme_pcie_admin_op *op = arg;
	struct nvme_pcie_queue *q = op->q;

	/* The CQ exists either way: a later delete removes it. */
	q->on_device = true;
	q->created_in = q->pctrlr->disables;
	if (spio_nvme_cpl_is_error(cpl)) {
		log_cmd_error(q, "Create I/O SQ", cpl);
		op_finish(op, nvme_cpl_to_errno(cpl));
		return;
	}
	op_finish(op, op_stale(op) ? -ECONNRESET : 0);
}

static void create_cq_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct nvme_pcie_admin_op *op = arg;
	struct nvme_pcie_queue *q = op->q;
	int rc;

	if (spio_nvme_cpl_is_error(cpl)) {
		log_cmd_error(q, "Create I/O CQ", cpl);
		/* Aborted by the driver (admin queue lost): the device may have made it. */
		if (cpl->status.sct == SPIO_NVME_SCT_GENERIC &&
		    cpl->status.sc == SPIO_NVME_SC_ABORTED_SQ_DELETION) {
			q->on_device = true;
			q->created_in = q->pctrlr->disables;
		}
		op_finish(op, nvme_cpl_to_errno(cpl));
		return;
	}
	rc = submit_queue_cmd(op, SPIO_NVME_OPC_CREATE_IO_SQ, create_sq_done);
	if (rc != 0) {
		q->on_device = true;
		q->created_in = q->pctrlr->disables;
		op_finish(op, rc);
	}
}

static void delete_cq_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct nvme_pcie_admin_op *op = arg;

	if (spio_nvme_cpl_is_error(cpl)) {
		/* A reset or removal under way aborted it: no news, just keep the rings. */
		if (!op_stale(op)) {
			log_cmd_error(op->q, "Delete I/O CQ", cpl);
		}
		op_zombie(op); /* freed at the next disable or at close */
		return;
	}
	op->q->on_device = false;
	op_finish(op, 0);
}

static void delete_sq_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct nvme_pcie_admin_op *op = arg;

	if (spio_nvme_cpl_is_error(cpl)) {
		/*
		 * Aborted by a reset or removal under way: moot (the disable
		 * forgets the queue), not an error. Else the CQ delete still tries.
		 */
		if (op_stale(op)) {
			op_zombie(op);
			return;
		}
		log_cmd_error(op->q, "Delete I/O SQ", cpl);
	} else {
		/* By the spec every command of the SQ is now completed or aborted. */
		atomic_store(&op->q->released, true);
	}
	if (submit_queue_cmd(op, SPIO_NVME_OPC_DELETE_IO_CQ, delete_cq_done) != 0) {
		op_zombie(op);
	}
}

static void op_start(struct nvme_pcie_admin_op *op)
{
	struct nvme_pcie_queue *q = op->q;
	struct nvme_pcie_ctrlr *p = q->pctrlr;
	int rc;

	if (op->create) {
		if (op_stale(op)) {
			op_finish(op, -ECONNRESET);
			return;
		}
		rc = submit_queue_cmd(op, SPIO_NVME_OPC_CREATE_IO_CQ, create_cq_done);
		if (rc != 0) {
			op_finish(op, rc);
		}
		return;
	}
	/* Gone from the device already: removed, or disabled since it was created. */
	if (!q->on_device || atomic_load(&p->gone) || q->created_in != p->disables) {
		q->on_device = false;
		atomic_store(&q->released, true);
		op_finish(op, 0);
		return;
	}
	if (submit_queue_cmd(op, SPIO_NVME_OPC_DELETE_IO_SQ, delete_sq_done) != 0) {
		op_zombie(op);
	}
}

static void op_msg(void *arg)
{
	struct nvme_pcie_admin_op *op = arg;
	struct nvme_pcie_ctrlr *p = op->q->pctrlr;

	TAILQ_INSERT_TAIL(&p->ops, op, link);
	run_ops(p);
}

/* The qpair's thread hands a create or delete to the admin thread. */
static int send_op(struct nvme_pcie_qpair *pq, bool create)
{
	struct spio_nvme_ctrlr *ctrlr = pq->qpair.ctrlr;
	struct nvme_pcie_queue *q = pq->q;
	struct nvme_pcie_admin_op *op = calloc(1, sizeof(*op));
	int rc = 0;

	if (op == NULL) {
		return -ENOMEM;
	}
	*op = (struct nvme_pcie_admin_op){
	    .q = q, .create = create, .generation = pq->qpair.generation};
	if (create) {
		atomic_store(&q->released, false);
	}
	atomic_fetch_add(&q->refs, 1);
	atomic_fetch_add(&q->pending, 1);
	atomic_fetch_add(&pq->pctrlr->inflight, 1);
	if (spio_get_thread() == ctrlr->thread) {
		op_msg(op);
	} else {
		rc = spio_thread_send_msg(ctrlr->thread, op_msg, op);
	}
	if (rc != 0) {
		atomic_fetch_sub(&pq->pctrlr->inflight, 1);
		atomic_fetch_sub(&q->pending, 1);
		atomic_fetch_sub(&q->refs, 1);
		free(op);
		return rc;
	}
	pq->create_sent = create;
	return 0;
}

static int admin_connect(struct nvme_pcie_qpair *pq)
{
	struct spio_nvme_qpair *qpair = &pq->qpair;
	struct nvme_pcie_ctrlr *p = nvme_pcie_ctrlr(qpair->ctrlr);
	uint32_t n = pq->q->entries - 1;
	int rc;

	if (p == NULL) {
		return -ENODEV;
	}
	if (spio_task_current() == NULL) {
		return -EPERM; /* bring-up runs in a task: the disable waits */
	}
	rc = set_doorbells(pq, p);
	if (rc != 0) {
		return rc;
	}
	/*
	 * A reset: the I/O queues are about to vanish without a completion.
	 * Threads sleeping on them wake, see the new generation, and fail
	 * what they have.
	 */
	if (qpair->ctrlr->state == NVME_CTRLR_RESETTING) {
		nvme_pcie_kick_all(p);
	}
	pq->cstate = PCIE_CONN_DISABLING;
	rc = nvme_pcie_ctrlr_disable_await(p);
	if (rc != 0) {
		pq->cstate = PCIE_CONN_NONE;
		return rc;
	}
	ring_reset(pq);
	pq->q->created_in = p->disables; /* the admin queue lives until the next disable */
	nvme_pcie_reg_write4(p, SPIO_NVME_REG_AQA, n | (n << 16));
	nvme_pcie_reg_write4(p, SPIO_NVME_REG_ASQ, (uint32_t)pq->q->sq_iova);
	nvme_pcie_reg_write4(p, SPIO_NVME_REG_ASQ + 4, (uint32_t)(pq->q->sq_iova >> 32));
	nvme_pcie_reg_write4(p, SPIO_NVME_REG_ACQ, (uint32_t)pq->q->cq_iova);
	nvme_pcie_reg_write4(p, SPIO_NVME_REG_ACQ + 4, (uint32_t)(pq->q->cq_iova >> 32));
	/* The core enables next (CC.EN = 1, wait RDY); report from the admin poller. */
	pq->cstate = qpair->state == NVME_QPAIR_CONNECTING ? PCIE_CONN_ADMIN_READY : PCIE_CONN_NONE;
	return 0;
}

int nvme_pcie_qpair_connect(struct spio_nvme_qpair *qpair)
{
	struct nvme_pcie_qpair *pq = pcie_qpair(qpair);
	struct nvme_pcie_ctrlr *p = nvme_pcie_ctrlr(qpair->ctrlr);
	int rc;

	if (qpair->id == 0) {
		return admin_connect(pq);
	}
	if (p == NULL || atomic_load(&p->gone)) {
		return -ENXIO;
	}
	rc = set_doorbells(pq, p);
	if (rc != 0) {
		return rc;
	}
	pq->sgls = qpair->ctrlr->cdata.sgls;
	/* The generation the queues are created in: a reset after it makes them stale. */
	qpair->generation = atomic_load(&qpair->ctrlr->generation);
	pq->cstate = PCIE_CONN_WAIT_IDLE;
	return 0;
}

void nvme_pcie_qpair_close(struct spio_nvme_qpair *qpair)
{
	struct nvme_pcie_qpair *pq = pcie_qpair(qpair);
	int rc;

	pq->cstate = PCIE_CONN_NONE;
	/* Commands held from an earlier close keep that close's epoch. */
	if (!qpair->draining) {
		pq->drain_epoch = pq->q->created_in;
	}
	/* The admin rings stay on the device until the next connect's or close's disable. */
	if (qpair->id == 0 || !pq->create_sent) {
		return;
	}
	rc = send_op(pq, false);
	if (rc != 0) {
		/* The device may keep the queue: never free its rings (logged leak). */
		SPIO_ERRLOG("nvme %s: cannot delete queue %u (%d); its memory is leaked\n",
			    qpair->ctrlr->trid.traddr, qpair->id, rc);
		atomic_fetch_add(&pq->q->refs, 1);
		pq->create_sent = false;
	}
}

/*
 * Is the device done with the commands outstanding when the qpair went
 * down? Removed; closed; disabled since the queue was made; or (I/O) its
 * Delete I/O SQ completed. Until then the core holds them: the device may
 * still write a read's buffer or read a write's.
 */
bool nvme_pcie_qpair_device_done(struct spio_nvme_qpair *qpair)
{
	struct nvme_pcie_qpair *pq = pcie_qpair(qpair);
	struct nvme_pcie_ctrlr *p = nvme_pcie_ctrlr(qpair->ctrlr);

	if (p == NULL || atomic_load(&p->gone)) {
		return true; /* closed or removed */
	}
	if (qpair->id != 0 && atomic_load(&pq->q->released)) {
		return true;
	}
	return atomic_load(&p->disables) > pq->drain_epoch;
}

static int32_t connect_poll(struct nvme_pcie_qpair *pq)
{
	struct spio_nvme_qpair *qpair = &pq->qpair;
	int rc;

	switch (pq->cstate) {
	case PCIE_CONN_ADMIN_READY:
		pq->cstate = PCIE_CONN_NONE;
		nvme_qpair_transport_ready(qpair, 0);
		return 0;
	case PCIE_CONN_WAIT_IDLE:
		/* Also until the old queue's commands are over (a zombie: the next disable). */
		if (atomic_load_explicit(&pq->q->pending, memory_order_acquire) != 0 ||
		    qpair->draining) {
			return 0;
		}
		ring_reset(pq);
		rc = send_op(pq, true);
		if (rc != 0) {
			pq->cstate = PCIE_CONN_NONE;
			return rc;
		}
		pq->cstate = PCIE_CONN_WAIT_CREATE;
		return 0;
	case PCIE_CONN_WAIT_CREATE:
		if (atomic_load_explicit(&pq->q->pending, memory_order_acquire) != 0) {
			return 0;
		}
		pq->cstate = PCIE_CONN_NONE;
		nvme_qpair_transport_ready(qpair, atomic_load(&pq->q->admin_status));
		return 0;
	default:
		return 0;
	}
}

/* Admin queue only, every HEALTH_CHECK_US: removal or controller fatal status. */
static int health_check(struct nvme_pcie_qpair *pq)
{
	struct nvme_pcie_ctrlr *p = pq->pctrlr;
	uint64_t now = spio_get_ticks();
	union spio_nvme_csts_register csts;

	if (now < pq->next_health_tick) {
		return 0;
	}
	pq->next_health_tick = now + HEALTH_CHECK_US * spio_get_ticks_hz() / 1000000;
	csts.raw = nvme_pcie_reg_read4(p, SPIO_NVME_REG_CSTS);
	if (nvme_pcie_check_removed(p, csts.raw)) {
		return -ENXIO;
	}
	if (csts.raw != UINT32_MAX && csts.bits.cfs) {
		SPIO_ERRLOG("nvme %s: controller fatal status (CSTS.CFS)\n", p->ctrlr->trid.traddr);
		return -EIO;
	}
	return 0;
}

int32_t nvme_pcie_qpair_process(struct spio_nvme_qpair *qpair, uint32_t max)
{
	struct nvme_pcie_qpair *pq = pcie_qpair(qpair);
	struct nvme_pcie_queue *q = pq->q;
	uint32_t limit = max != 0 ? max : q->entries;
	int32_t n = 0;

	if (spio_unlikely(qpair->state == NVME_QPAIR_CONNECTING)) {
		return connect_poll(pq);
	}
	if (spio_unlikely(atomic_load_explicit(&pq->pctrlr->gone, memory_order_relaxed))) {
		return -ENXIO;
	}
	if (spio_unlikely(qpair->id == 0) && health_check(pq) != 0) {
		return -ENXIO;
	}
	while ((uint32_t)n < limit) {
		volatile struct spio_nvme_cpl *vc = &q->cq[pq->cq_head];
		struct spio_nvme_cpl cpl;
		struct nvme_request *req;

		if ((vc->status_raw & 1u) != pq->phase) {
			break;
		}
		/* The rest of the entry is read after its phase bit. */
		atomic_thread_fence(memory_order_acquire);
		cpl = q->cq[pq->cq_head];
		if (++pq->cq_head == q->entries) {
			pq->cq_head = 0;
			pq->phase ^= 1;
		}
		n++;
		req = nvme_qpair_find_outstanding(qpair, cpl.cid);
		if (spio_unlikely(req == NULL)) {
			SPIO_ERRLOG("nvme %s: queue %u: completion for cid %u, which is not "
				    "outstanding\n",
				    qpair->ctrlr->trid.traddr, qpair->id, cpl.cid);
			continue;
		}
		if (spio_unlikely(pq->bounced[req->cid])) {
			bounce_out(pq, req);
		}
		nvme_qpair_complete(qpair, req, &cpl);
		if (spio_unlikely(qpair->state != NVME_QPAIR_CONNECTED)) {
			return n; /* a callback disconnected it: its queue is being deleted */
		}
	}
	if (n > 0) {
		/* Entries are consumed before the controller may reuse them. */
		atomic_thread_fence(memory_order_release);
		*pq->cq_hdbl = pq->cq_head;
	}
	return n;
}

/*
 * The driver's own small buffers are ordinary memory: admin payloads
 * (Identify data, log pages) and the Dataset Management ranges the core
 * copies per slot. Up to one page, they travel through the slot's list page,
 * which such a command does not need. Any other buffer must be DMA memory.
 */
static bool needs_bounce(const struct spio_nvme_qpair *qpair, const struct nvme_request *req)
{
	uint64_t size = req->payload_size;

	if (req->payload_size == 0 || req->payload_size > NVME_PCIE_PAGE_SIZE || req->iovcnt != 1 ||
	    (qpair->id != 0 && req->cmd.opc != SPIO_NVME_OPC_DATASET_MANAGEMENT)) {
		return false;
	}
	return spio_vtophys(req->iov[0].iov_base, &size) == SPIO_VTOPHYS_ERROR;
}

static void bounce_in(struct nvme_pcie_qpair *pq, struct nvme_request *req)
{
	uint8_t *page = pq->q->lists + (size_t)req->cid * NVME_PCIE_PAGE_SIZE;

	if (req->xfer & SPIO_NVME_DATA_HOST_TO_CONTROLLER) {
		memcpy(page, req->iov[0].iov_base, req->payload_size);
	}
	req->cmd.psdt = SPIO_NVME_PSDT_PRP;
	req->cmd.dptr.prp.prp1 = pq->q->list_iova[req->cid];
	req->cmd.dptr.prp.prp2 = 0;
	pq->bounced[req->cid] = true;
}

static void bounce_out(struct nvme_pcie_qpair *pq, struct nvme_request *req)
{
	const uint8_t *page = pq->q->lists + (size_t)req->cid * NVME_PCIE_PAGE_SIZE;

	if (req->xfer & SPIO_NVME_DATA_CONTROLLER_TO_HOST) {
		memcpy(req->iov[0].iov_base, page, req->payload_size);
	}
	pq->bounced[req->cid] = false;
}

int nvme_pcie_qpair_submit(struct spio_nvme_qpair *qpair, struct nvme_request *req)
{
	struct nvme_pcie_qpair *pq = pcie_qpair(qpair);
	struct nvme_pcie_queue *q = pq->q;
	int rc;

	if (spio_unlikely(atomic_load_explicit(&pq->pctrlr->gone, memory_order_relaxed))) {
		return -ENXIO;
	}
	pq->bounced[req->cid] = false;
	/* Commands without data keep their own DPTR (Create I/O CQ/SQ carry the rings'). */
	if (spio_unlikely(needs_bounce(qpair, req))) {
		bounce_in(pq, req);
	} else if (req->payload_size > 0) {
		rc = nvme_pcie_build_data(&req->cmd, req->iov, req->iovcnt, req->payload_size,
					  q->lists + (size_t)req->cid * NVME_PCIE_PAGE_SIZE,
					  q->list_iova[req->cid], pq->sgls, spio_vtophys);
		if (spio_unlikely(rc != 0)) {
			return rc;
		}
	}
	/*
	 * No fullness check: the core has num_entries - 1 command slots, and a
	 * command's SQ entry is consumed before its completion frees the slot.
	 */
	q->sq[pq->sq_tail] = req->cmd;
	if (++pq->sq_tail == q->entries) {
		pq->sq_tail = 0;
	}
	pq->sq_dirty = true;
	return 0;
}

void nvme_pcie_qpair_flush(struct spio_nvme_qpair *qpair)
{
	struct nvme_pcie_qpair *pq = pcie_qpair(qpair);

	if (pq->sq_dirty && qpair->state != NVME_QPAIR_DISCONNECTED) {
		/* The entries reach memory before the controller is told to fetch them. */
		atomic_thread_fence(memory_order_release);
		*pq->sq_tdbl = pq->sq_tail;
		pq->sq_dirty = false;
	}
}

/*
 * Interrupt mode: the eventfd of the queue's MSI-X vector, which the device
 * signals when it posts to the queue's CQ. It is only a wake-up: the process
 * call still finds completions by their phase bit, and nothing reads the
 * eventfd (its watchers are edge-triggered: every message is a new edge, so
 * a count left in it never keeps a sleeper awake). Polled: -1.
 */
int nvme_pcie_qpair_get_fd(const struct spio_nvme_qpair *qpair)
{
	const struct nvme_pcie_ctrlr *p = nvme_pcie_ctrlr(qpair->ctrlr);

	if (p == NULL || qpair->id >= p->num_irqs) {
		return -1;
	}
	return p->irq_fds[qpair->id];
}
