/*
 * Queue pairs, transport-neutral: command slots, submission, completion,
 * failing everything outstanding once when a connection is lost, and the
 * fabrics connect that follows the transport's own connection set-up.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "spio/env.h"
#include "spio/log.h"
#include "spio/task.h"

#include "nvme/nvme_fabric.h"
#include "nvme/nvme_internal.h"

uint8_t nvme_cmd_xfer(const struct spio_nvme_cmd *cmd)
{
	/* Fabrics commands carry their direction in fctype, not the opcode. */
	if (cmd->opc == SPIO_NVME_OPC_FABRIC) {
		const struct spio_nvmf_capsule_cmd *fc = (const void *)cmd;

		return fc->fctype & 3;
	}
	return cmd->opc & 3;
}

int nvme_qpair_init(struct spio_nvme_qpair *qpair, struct spio_nvme_ctrlr *ctrlr, uint16_t id,
		    uint32_t num_entries)
{
	qpair->ctrlr = ctrlr;
	qpair->ops = ctrlr->ops;
	qpair->thread = spio_get_thread();
	qpair->id = id;
	qpair->num_entries = num_entries;
	qpair->num_reqs = num_entries - 1;
	qpair->state = NVME_QPAIR_DISCONNECTED;
	TAILQ_INIT(&qpair->free_reqs);
	TAILQ_INIT(&qpair->outstanding);
	qpair->reqs = calloc(qpair->num_reqs, sizeof(*qpair->reqs));
	qpair->connect_data = calloc(1, sizeof(*qpair->connect_data));
	if (qpair->reqs == NULL || qpair->connect_data == NULL) {
		free(qpair->reqs);
		free(qpair->connect_data);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < qpair->num_reqs; i++) {
		qpair->reqs[i].cid = (uint16_t)i;
		TAILQ_INSERT_TAIL(&qpair->free_reqs, &qpair->reqs[i], link);
	}
	if (id == 0) {
		qpair->timeout_ticks = ctrlr->opts.admin_timeout_ms * spio_get_ticks_hz() / 1000;
	} else {
		qpair->timeout_ticks = ctrlr->opts.io_timeout_ms * spio_get_ticks_hz() / 1000;
	}
	return 0;
}

void nvme_qpair_fini(struct spio_nvme_qpair *qpair)
{
	for (uint32_t i = 0; qpair->reqs != NULL && i < qpair->num_reqs; i++) {
		free(qpair->reqs[i].dsm_ranges);
	}
	free(qpair->reqs);
	free(qpair->connect_data);
	qpair->reqs = NULL;
	qpair->connect_data = NULL;
}

struct nvme_request *nvme_qpair_get_request(struct spio_nvme_qpair *qpair)
{
	struct nvme_request *req = TAILQ_FIRST(&qpair->free_reqs);

	if (spio_unlikely(req == NULL)) {
		return NULL;
	}
	TAILQ_REMOVE(&qpair->free_reqs, req, link);
	return req;
}

void nvme_qpair_put_request(struct spio_nvme_qpair *qpair, struct nvme_request *req)
{
	req->state = NVME_REQ_FREE;
	TAILQ_INSERT_HEAD(&qpair->free_reqs, req, link);
}

int nvme_qpair_submit(struct spio_nvme_qpair *qpair, struct nvme_request *req)
{
	int rc;

	req->cmd.cid = req->cid;
	req->state = NVME_REQ_OUTSTANDING;
	if (qpair->timeout_ticks != 0) {
		req->submit_tick = spio_get_ticks();
	}
	TAILQ_INSERT_TAIL(&qpair->outstanding, req, link);
	qpair->num_outstanding++;
	rc = qpair->ops->qpair_submit(qpair, req);
	if (spio_unlikely(rc != 0)) {
		TAILQ_REMOVE(&qpair->outstanding, req, link);
		qpair->num_outstanding--;
		nvme_qpair_put_request(qpair, req);
		return rc;
	}
	if (!qpair->in_process) {
		qpair->ops->qpair_flush(qpair);
	}
	if (spio_unlikely(qpair->id == 0)) {
		nvme_ctrlr_admin_kick(qpair->ctrlr);
	}
	return 0;
}

int nvme_qpair_submit_cmd(struct spio_nvme_qpair *qpair, const struct spio_nvme_cmd *cmd, void *buf,
			  uint32_t len, const struct iovec *iov, int iovcnt, spio_nvme_cmd_cb cb,
			  void *cb_arg)
{
	struct nvme_request *req;
	bool is_connect =
	    cmd->opc == SPIO_NVME_OPC_FABRIC &&
	    ((const struct spio_nvmf_capsule_cmd *)cmd)->fctype == SPIO_NVMF_FABRIC_COMMAND_CONNECT;

	if (qpair->state != NVME_QPAIR_CONNECTED &&
	    !(is_connect && qpair->state == NVME_QPAIR_CONNECTING)) {
		return -ENXIO;
	}
	/* Reset since it connected: its controller is gone, send nothing more. */
	if (qpair->id != 0 && qpair->state == NVME_QPAIR_CONNECTED &&
	    spio_unlikely(atomic_load_explicit(&qpair->ctrlr->generation, memory_order_relaxed) !=
			  qpair->generation)) {
		return -ENXIO;
	}
	req = nvme_qpair_get_request(qpair);
	if (req == NULL) {
		return -ENOMEM;
	}
	req->cmd = *cmd;
	req->cb = cb;
	req->cb_arg = cb_arg;
	if (iov != NULL) {
		req->iov = iov;
		req->iovcnt = iovcnt;
	} else {
		req->iov_single.iov_base = buf;
		req->iov_single.iov_len = len;
		req->iov = &req->iov_single;
		req->iovcnt = len > 0 ? 1 : 0;
	}
	req->payload_size = len;
	req->xfer = len > 0 ? nvme_cmd_xfer(cmd) : SPIO_NVME_DATA_NONE;
	return nvme_qpair_submit(qpair, req);
}

struct nvme_request *nvme_qpair_find_outstanding(struct spio_nvme_qpair *qpair, uint16_t cid)
{
	struct nvme_request *req;

	if (cid >= qpair->num_reqs) {
		return NULL;
	}
	req = &qpair->reqs[cid];
	return req->state == NVME_REQ_OUTSTANDING ? req : NULL;
}

void nvme_qpair_complete(struct spio_nvme_qpair *qpair, struct nvme_request *req,
			 const struct spio_nvme_cpl *cpl)
{
	spio_nvme_cmd_cb cb = req->cb;
	void *cb_arg = req->cb_arg;

	TAILQ_REMOVE(&qpair->outstanding, req, link);
	qpair->num_outstanding--;
	/* Free the slot first: the callback may submit into it. */
	nvme_qpair_put_request(qpair, req);
	if (cb != NULL) {
		qpair->in_callback++;
		cb(cb_arg, cpl);
		qpair->in_callback--;
	}
}

void nvme_cpl_set_aborted(struct spio_nvme_cpl *cpl, uint16_t cid, uint8_t sc)
{
	memset(cpl, 0, sizeof(*cpl));
	cpl->cid = cid;
	cpl->status.sct = SPIO_NVME_SCT_GENERIC;
	cpl->status.sc = sc;
	cpl->status.dnr = 0;
}

int nvme_cpl_to_errno(const struct spio_nvme_cpl *cpl)
{
	if (!spio_nvme_cpl_is_error(cpl)) {
		return 0;
	}
	if (cpl->status.sct == SPIO_NVME_SCT_GENERIC &&
	    cpl->status.sc == SPIO_NVME_SC_ABORTED_SQ_DELETION) {
		return -ENXIO;
	}
	if (cpl->status.sct == SPIO_NVME_SCT_MEDIA_ERROR &&
	    cpl->status.sc == SPIO_NVME_SC_COMPARE_FAILURE) {
		return -EILSEQ;
	}
	return -EIO;
}

void nvme_qpair_fail_all(struct spio_nvme_qpair *qpair)
{
	struct nvme_request *req;
	struct spio_nvme_cpl cpl;

	/* Each callback may submit (refused: the qpair is down) or complete others. */
	while ((req = TAILQ_FIRST(&qpair->outstanding)) != NULL) {
		nvme_cpl_set_aborted(&cpl, req->cid, SPIO_NVME_SC_ABORTED_SQ_DELETION);
		cpl.sqid = qpair->id;
		nvme_qpair_complete(qpair, req, &cpl);
	}
}

bool nvme_qpair_drain(struct spio_nvme_qpair *qpair)
{
	if (!qpair->draining) {
		return true;
	}
	if (qpair->ops->qpair_device_done != NULL && !qpair->ops->qpair_device_done(qpair)) {
		return false;
	}
	qpair->draining = false;
	nvme_qpair_fail_all(qpair);
	return true;
}

int nvme_qpair_wait_until(struct spio_nvme_qpair *qpair,
			  bool (*done)(struct spio_nvme_qpair *qpair, void *arg), void *arg,
			  uint64_t deadline)
{
	/*
	 * The admin thread does the work waited for: when it is this one, let
	 * it run (from a task: yield; else poll it); another thread only needs
	 * time.
	 */
	while (!done(qpair, arg)) {
		if (spio_get_ticks() > deadline) {
			return -ETIMEDOUT;
		}
		if (spio_task_current() != NULL) {
			spio_task_yield();
		} else if (qpair->ctrlr->thread != spio_get_thread() ||
			   spio_thread_poll(spio_get_thread(), 0, 0) < 0) {
			sched_yield();
		}
	}
	return 0;
}

static bool drained(struct spio_nvme_qpair *qpair, void *arg)
{
	(void)arg;
	return nvme_qpair_drain(qpair);
}

int nvme_qpair_drain_wait(struct spio_nvme_qpair *qpair, uint64_t timeout_ms)
{
	uint64_t deadline = spio_get_ticks() + timeout_ms * spio_get_ticks_hz() / 1000;

	/* The admin thread deletes the queue. */
	return nvme_qpair_wait_until(qpair, drained, NULL, deadline);
}

/*
 * Stop watching the qpair's socket before the transport closes or replaces
 * it: the kernel drops a closed fd from an epoll set by itself, so a new
 * socket with the same number would look watched and never be.
 */
static void qpair_unwatch(struct spio_nvme_qpair *qpair)
{
	if (qpair->id == 0) {
		nvme_ctrlr_admin_unwatch(qpair->ctrlr);
	} else {
		nvme_poll_group_unwatch(qpair);
	}
}

/*
 * Down: no more sends; every outstanding command fails once, as soon as the
 * device is done with it (at once over TCP; over PCIe once its queue was
 * deleted, the controller disabled or the device removed: failing it
 * earlier would let the user reuse a buffer the device still writes).
 */
static void qpair_down(struct spio_nvme_qpair *qpair)
{
	qpair->state = NVME_QPAIR_DISCONNECTED;
	qpair_unwatch(qpair);
	qpair->ops->qpair_close(qpair);
	if (!TAILQ_EMPTY(&qpair->outstanding)) {
		qpair->draining = true;
		nvme_qpair_drain(qpair);
	}
}

static void connect_finish(struct spio_nvme_qpair *qpair, int status)
{
	spio_nvme_qpair_connect_cb cb = qpair->connect_cb;
	void *cb_arg = qpair->connect_cb_arg;

	qpair->connect_cb = NULL;
	if (status != 0) {
		qpair_down(qpair);
	} else {
		qpair->state = NVME_QPAIR_CONNECTED;
	}
	if (cb != NULL) {
		cb(cb_arg, qpair, status);
	}
}

void nvme_qpair_disconnect(struct spio_nvme_qpair *qpair)
{
	/* A connect under way still gets its answer: it was aborted. */
	if (qpair->state == NVME_QPAIR_CONNECTING) {
		connect_finish(qpair, -ECONNABORTED);
		return;
	}
	qpair_down(qpair);
}

static void fabric_connect_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct spio_nvme_qpair *qpair = arg;
	struct spio_nvme_ctrlr *ctrlr = qpair->ctrlr;
	const struct spio_nvmf_fabric_connect_rsp *rsp = (const void *)cpl;

	if (qpair->state != NVME_QPAIR_CONNECTING) {
		return; /* lost with its connection: connect_finish already ran */
	}
	if (spio_nvme_cpl_is_error(cpl)) {
		bool refused = cpl->status.sct == SPIO_NVME_SCT_COMMAND_SPECIFIC &&
			       cpl->status.sc == SPIO_NVMF_FABRIC_SC_INVALID_HOST;

		SPIO_ERRLOG("nvme %s: connect of queue %u refused: sct %u sc 0x%02x%s\n",
			    ctrlr->trid.traddr, qpair->id, cpl->status.sct, cpl->status.sc,
			    refused ? " (host not allowed)" : "");
		connect_finish(qpair, refused ? -EACCES : -EIO);
		return;
	}
	if (qpair->id == 0) {
		ctrlr->cntlid = rsp->status_code_specific.success.cntlid;
	}
	qpair->generation = atomic_load_explicit(&ctrlr->generation, memory_order_acquire);
	connect_finish(qpair, 0);
}

void nvme_qpair_transport_ready(struct spio_nvme_qpair *qpair, int status)
{
	struct spio_nvme_ctrlr *ctrlr = qpair->ctrlr;
	struct spio_nvme_cmd cmd;
	const char *hostnqn = ctrlr->opts.hostnqn;
	uint16_t cntlid = qpair->id == 0 ? 0xFFFF : ctrlr->cntlid;
	uint32_t kato = qpair->id == 0 ? ctrlr->opts.keep_alive_timeout_ms : 0;
	int rc;

	if (status != 0 || !ctrlr->ops->fabrics) {
		connect_finish(qpair, status); /* no Fabrics Connect over PCIe */
		return;
	}
	nvme_fabric_connect_cmd_build(&cmd, qpair->id, (uint16_t)(qpair->num_entries - 1), kato, 0);
	rc = nvme_fabric_connect_data_build(qpair->connect_data, ctrlr->opts.extended_host_id,
					    cntlid, ctrlr->trid.subnqn, hostnqn);
	if (rc == 0) {
		rc = nvme_qpair_submit_cmd(qpair, &cmd, qpair->connect_data,
					   sizeof(*qpair->connect_data), NULL, 0,
					   fabric_connect_done, qpair);
	}
	if (rc != 0) {
		connect_finish(qpair, rc);
	}
}

int nvme_qpair_connect(struct spio_nvme_qpair *qpair, spio_nvme_qpair_connect_cb cb, void *cb_arg)
{
	int rc;

	if (qpair->state != NVME_QPAIR_DISCONNECTED) {
		return -EALREADY;
	}
	qpair->connect_cb = cb;
	qpair->connect_cb_arg = cb_arg;
	qpair->state = NVME_QPAIR_CONNECTING;
	qpair->connect_deadline =
	    spio_get_ticks() + qpair->ctrlr->opts.connect_timeout_ms * spio_get_ticks_hz() / 1000;
	if (qpair->id == 0) {
		nvme_ctrlr_admin_kick(qpair->ctrlr);
	}
	qpair_unwatch(qpair); /* the transport replaces its socket */
	rc = qpair->ops->qpair_connect(qpair);
	/* The admin queue's connect disables the controller: what it held is done. */
	if (spio_unlikely(qpair->draining)) {
		nvme_qpair_drain(qpair);
	}
	if (rc != 0) {
		qpair->state = NVME_QPAIR_DISCONNECTED;
		qpair->connect_cb = NULL;
	}
	return rc;
}

/* A command past its timeout: the queue's connection is dropped, which
 * fails every outstanding command exactly once (a late completion can then
 * never arrive for a slot that was reused). */
/* Asynchronous event requests wait for events, not for the controller: no timeout. */
static bool never_times_out(const struct spio_nvme_qpair *qpair, const struct nvme_request *req)
{
	return qpair->id == 0 && req->cmd.opc == SPIO_NVME_OPC_ASYNC_EVENT_REQUEST;
}

static bool check_timeout(struct spio_nvme_qpair *qpair)
{
	struct nvme_request *oldest = TAILQ_FIRST(&qpair->outstanding);

	/* Oldest first: at most NVME_MAX_AERS entries are skipped. */
	while (oldest != NULL && never_times_out(qpair, oldest)) {
		oldest = TAILQ_NEXT(oldest, link);
	}
	if (oldest == NULL || spio_get_ticks() - oldest->submit_tick < qpair->timeout_ticks) {
		return false;
	}
	SPIO_ERRLOG("nvme %s: command cid %u opc 0x%02x on queue %u timed out; dropping the "
		    "queue's connection\n",
		    qpair->ctrlr->trid.traddr, oldest->cid, oldest->cmd.opc, qpair->id);
	return true;
}

int32_t nvme_qpair_process(struct spio_nvme_qpair *qpair, uint32_t max)
{
	struct spio_nvme_ctrlr *ctrlr = qpair->ctrlr;
	int32_t rc;

	if (spio_unlikely(qpair->draining)) {
		nvme_qpair_drain(qpair);
	}
	if (qpair->state == NVME_QPAIR_DISCONNECTED) {
		return -ENXIO;
	}
	/* A controller reset since this qpair connected: its controller is gone. */
	if (qpair->id != 0 && qpair->state == NVME_QPAIR_CONNECTED &&
	    spio_unlikely(atomic_load_explicit(&ctrlr->generation, memory_order_relaxed) !=
			  qpair->generation)) {
		nvme_qpair_disconnect(qpair);
		return -ENXIO;
	}
	qpair->in_process = true;
	rc = qpair->ops->qpair_process(qpair, max);
	qpair->in_process = false;
	if (qpair->state == NVME_QPAIR_DISCONNECTED) {
		return -ENXIO; /* a callback disconnected it */
	}
	if (rc < 0) {
		if (qpair->state == NVME_QPAIR_CONNECTING) {
			connect_finish(qpair, rc == -ENXIO ? -ECONNRESET : rc);
		} else {
			nvme_qpair_disconnect(qpair);
		}
		return -ENXIO;
	}
	qpair->ops->qpair_flush(qpair);
	if (qpair->state == NVME_QPAIR_CONNECTING && spio_get_ticks() > qpair->connect_deadline) {
		SPIO_ERRLOG("nvme %s: queue %u not connected within %u ms\n", ctrlr->trid.traddr,
			    qpair->id, ctrlr->opts.connect_timeout_ms);
		connect_finish(qpair, -ETIMEDOUT);
		return -ENXIO;
	}
	if (qpair->timeout_ticks != 0 && spio_unlikely(check_timeout(qpair))) {
		if (qpair->state == NVME_QPAIR_CONNECTING) {
			connect_finish(qpair, -ETIMEDOUT);
		} else {
			nvme_qpair_disconnect(qpair);
		}
		return -ENXIO;
	}
	return rc;
}

void nvme_qpair_free(struct spio_nvme_qpair *qpair)
{
	nvme_qpair_disconnect(qpair);
	nvme_qpair_fini(qpair);
	qpair->ops->qpair_free(qpair);
}
