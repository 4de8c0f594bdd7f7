/*
 * Admin commands: the public submit functions and their task forms.
 */
#include <errno.h>
#include <string.h>

#include "spio/task.h"

#include "nvme/nvme_internal.h"

static int admin_check(const struct spio_nvme_ctrlr *ctrlr)
{
	if (ctrlr == NULL) {
		return -EINVAL;
	}
	if (spio_get_thread() != ctrlr->thread) {
		return -EXDEV;
	}
	if (ctrlr->state != NVME_CTRLR_READY) {
		return -ENXIO;
	}
	return 0;
}

int spio_nvme_ctrlr_cmd_admin_raw(struct spio_nvme_ctrlr *ctrlr, const struct spio_nvme_cmd *cmd,
				  void *buf, uint32_t len, spio_nvme_cmd_cb cb, void *cb_arg)
{
	int rc = admin_check(ctrlr);

	if (rc != 0) {
		return rc;
	}
	if (cmd == NULL || (len > 0 && buf == NULL) || len > ctrlr->max_xfer_size) {
		return -EINVAL;
	}
	return nvme_qpair_submit_cmd(ctrlr->adminq, cmd, buf, len, NULL, 0, cb, cb_arg);
}

void nvme_identify_cmd_init(struct spio_nvme_cmd *cmd, uint8_t cns, uint16_t cntid, uint32_t nsid)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = SPIO_NVME_OPC_IDENTIFY;
	cmd->nsid = nsid;
	cmd->cdw10 = cns | ((uint32_t)cntid << 16);
}

int spio_nvme_ctrlr_cmd_identify(struct spio_nvme_ctrlr *ctrlr, uint8_t cns, uint16_t cntid,
				 uint32_t nsid, void *payload, uint32_t size, spio_nvme_cmd_cb cb,
				 void *cb_arg)
{
	struct spio_nvme_cmd cmd;

	nvme_identify_cmd_init(&cmd, cns, cntid, nsid);
	if (size > 4096) {
		return -EINVAL;
	}
	return spio_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, payload, size, cb, cb_arg);
}

void nvme_get_log_page_cmd_init(struct spio_nvme_cmd *cmd, uint8_t lid, uint32_t nsid,
				uint32_t size, uint64_t offset)
{
	uint32_t numd = size / 4 - 1; /* 0's based dword count, split over cdw10 and cdw11 */

	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = SPIO_NVME_OPC_GET_LOG_PAGE;
	cmd->nsid = nsid;
	cmd->cdw10 = lid | ((numd & 0xFFFF) << 16);
	cmd->cdw11 = numd >> 16;
	cmd->cdw12 = (uint32_t)offset;
	cmd->cdw13 = (uint32_t)(offset >> 32);
}

int spio_nvme_ctrlr_cmd_get_log_page(struct spio_nvme_ctrlr *ctrlr, uint8_t lid, uint32_t nsid,
				     void *payload, uint32_t size, uint64_t offset,
				     spio_nvme_cmd_cb cb, void *cb_arg)
{
	struct spio_nvme_cmd cmd;

	if (size == 0 || size % 4 != 0 || offset % 4 != 0) {
		return -EINVAL;
	}
	nvme_get_log_page_cmd_init(&cmd, lid, nsid, size, offset);
	return spio_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, payload, size, cb, cb_arg);
}

int spio_nvme_ctrlr_cmd_get_feature(struct spio_nvme_ctrlr *ctrlr, uint8_t fid, uint32_t cdw11,
				    void *payload, uint32_t size, spio_nvme_cmd_cb cb, void *cb_arg)
{
	struct spio_nvme_cmd cmd = {
	    .opc = SPIO_NVME_OPC_GET_FEATURES, .cdw10 = fid, .cdw11 = cdw11};

	return spio_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, payload, size, cb, cb_arg);
}

int spio_nvme_ctrlr_cmd_set_feature(struct spio_nvme_ctrlr *ctrlr, uint8_t fid, uint32_t cdw11,
				    uint32_t cdw12, void *payload, uint32_t size,
				    spio_nvme_cmd_cb cb, void *cb_arg)
{
	struct spio_nvme_cmd cmd = {
	    .opc = SPIO_NVME_OPC_SET_FEATURES, .cdw10 = fid, .cdw11 = cdw11, .cdw12 = cdw12};

	return spio_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, payload, size, cb, cb_arg);
}

int spio_nvme_ctrlr_cmd_abort(struct spio_nvme_ctrlr *ctrlr, struct spio_nvme_qpair *qpair,
			      uint16_t cid, spio_nvme_cmd_cb cb, void *cb_arg)
{
	uint16_t sqid = qpair != NULL ? qpair->id : 0;
	struct spio_nvme_cmd cmd = {.opc = SPIO_NVME_OPC_ABORT,
				    .cdw10 = sqid | ((uint32_t)cid << 16)};

	return spio_nvme_ctrlr_cmd_admin_raw(ctrlr, &cmd, NULL, 0, cb, cb_arg);
}

int nvme_admin_await(struct spio_nvme_ctrlr *ctrlr, const struct spio_nvme_cmd *cmd, void *buf,
		     uint32_t len, struct spio_nvme_cpl *cpl)
{
	struct nvme_cmd_wait w;

	nvme_cmd_wait_init(&w, cpl);
	return spio_await_started(&w.done, nvme_qpair_submit_cmd(ctrlr->adminq, cmd, buf, len, NULL,
								 0, nvme_cmd_wait_cb, &w));
}

int spio_nvme_ctrlr_cmd_admin_await(struct spio_nvme_ctrlr *ctrlr, const struct spio_nvme_cmd *cmd,
				    void *buf, uint32_t len, struct spio_nvme_cpl *cpl)
{
	struct nvme_cmd_wait w;

	if (spio_task_current() == NULL) {
		return -EPERM;
	}
	nvme_cmd_wait_init(&w, cpl);
	return spio_await_started(
	    &w.done, spio_nvme_ctrlr_cmd_admin_raw(ctrlr, cmd, buf, len, nvme_cmd_wait_cb, &w));
}

/* Every _await twin waits the same way: a completion and an optional CQE copy. */
void nvme_cmd_wait_init(struct nvme_cmd_wait *w, struct spio_nvme_cpl *cpl)
{
	w->cpl = cpl;
	spio_completion_init(&w->done);
}

void nvme_cmd_wait_cb(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct nvme_cmd_wait *w = arg;

	if (w->cpl != NULL) {
		*w->cpl = *cpl;
	}
	spio_completion_done(&w->done, nvme_cpl_to_errno(cpl));
}
