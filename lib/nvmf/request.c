/*
 * The request path: where each command runs (I/O on the poll group,
 * admin and property commands on the target thread, connect on both) and
 * the completion handed back to the transport.
 */
#include <string.h>

#include "spio/log.h"
#include "spio/util.h"

#include "nvme/nvme_fabric.h"
#include "nvmf/nvmf_core.h"

static void admin_msg(void *arg)
{
	nvmf_ctrlr_admin_exec(arg);
}

static void property_msg(void *arg)
{
	nvmf_ctrlr_property(arg);
}

static void exec_fabrics(struct nvmf_request *req)
{
	struct nvmf_qpair *qpair = req->qpair;
	int type = nvme_fabric_cmd_type(req->cmd);

	/* Properties belong to the admin queue; a second connect is no command here. */
	if (qpair->qid == 0 && (type == SPIO_NVMF_FABRIC_COMMAND_PROPERTY_GET ||
				type == SPIO_NVMF_FABRIC_COMMAND_PROPERTY_SET)) {
		nvmf_send(qpair->group->tgt->thread, &req->msg, property_msg, req);
		return;
	}
	nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE);
	nvmf_request_complete(req);
}

static void exec_not_active(struct nvmf_request *req)
{
	struct nvmf_qpair *qpair = req->qpair;

	if (qpair->state == NVMF_QPAIR_UNINITIALIZED) {
		if (nvme_fabric_cmd_type(req->cmd) == SPIO_NVMF_FABRIC_COMMAND_CONNECT) {
			nvmf_ctrlr_connect(req);
			return;
		}
		SPIO_ERRLOG("nvmf: command %#x on a queue before its connect\n", req->cmd->opc);
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
	} else {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_ABORTED_SQ_DELETION);
	}
	nvmf_request_complete(req);
}

void nvmf_request_exec(struct nvmf_request *req)
{
	struct nvmf_qpair *qpair = req->qpair;

	req->core_flags = NVMF_REQ_EXECUTING;
	req->pg_ns = NULL;
	qpair->outstanding++;
	memset(req->rsp, 0, sizeof(*req->rsp));

	if (spio_unlikely(qpair->state != NVMF_QPAIR_ACTIVE)) {
		exec_not_active(req);
	} else if (spio_likely(qpair->qid != 0 && req->cmd->opc != SPIO_NVME_OPC_FABRIC)) {
		nvmf_io_exec(req);
	} else if (req->cmd->opc == SPIO_NVME_OPC_FABRIC) {
		exec_fabrics(req);
	} else {
		nvmf_send(qpair->group->tgt->thread, &req->msg, admin_msg, req);
	}
}

void nvmf_request_complete(struct nvmf_request *req)
{
	struct nvmf_qpair *qpair = req->qpair;
	struct spio_nvme_cpl *rsp = req->rsp;
	bool executing = (req->core_flags & NVMF_REQ_EXECUTING) != 0;
	bool deactivating;

	rsp->cid = req->cmd->cid;
	rsp->sqid = qpair->qid;
	rsp->status.p = 0;
	if (qpair->flags & NVMF_QPAIR_F_NO_SQFC) {
		rsp->sqhd = 0xffff;
	} else if (qpair->sq_size != 0) {
		if (++qpair->sq_head >= qpair->sq_size) {
			qpair->sq_head = 0;
		}
		rsp->sqhd = qpair->sq_head;
	}
	req->core_flags = 0;
	if (executing) {
		if (qpair->qid != 0) {
			qpair->group->stat.completed_nvme_io++;
		}
		qpair->outstanding--;
	}
	/* The transport may lose the connection inside req_complete: read this first. */
	deactivating = qpair->state == NVMF_QPAIR_DEACTIVATING;
	qpair->transport->ops->req_complete(req);
	if (executing && deactivating) {
		nvmf_qpair_check_fini(qpair);
	}
}
