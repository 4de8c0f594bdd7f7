/*
 * NVM I/O commands on a namespace and their task forms.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spio/task.h"
#include "spio/util.h"

#include "nvme/nvme_internal.h"

static int rw_check(const struct spio_nvme_ns *ns, const struct spio_nvme_qpair *qpair,
		    uint64_t lba, uint32_t lba_count)
{
	if (ns == NULL || qpair == NULL || qpair->ctrlr != ns->ctrlr || lba_count == 0 ||
	    lba_count > 65536) {
		return -EINVAL;
	}
	if (lba + lba_count < lba || lba + lba_count > ns->num_sectors) {
		return -EINVAL;
	}
	if ((uint64_t)lba_count * ns->extended_lba_size > ns->ctrlr->max_xfer_size) {
		return -EINVAL;
	}
	return 0;
}

static void rw_cmd_init(struct spio_nvme_cmd *cmd, uint8_t opc, const struct spio_nvme_ns *ns,
			uint64_t lba, uint32_t lba_count, uint32_t io_flags)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->opc = opc;
	cmd->nsid = ns->id;
	cmd->cdw10 = (uint32_t)lba;
	cmd->cdw11 = (uint32_t)(lba >> 32);
	cmd->cdw12 = (lba_count - 1) | (io_flags & 0xFFFF0000u);
}

static int rw_submit(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, uint8_t opc, void *buf,
		     uint64_t lba, uint32_t lba_count, const struct iovec *iov, int iovcnt,
		     spio_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags)
{
	struct spio_nvme_cmd cmd;
	uint32_t len;
	int rc = rw_check(ns, qpair, lba, lba_count);

	if (rc != 0) {
		return rc;
	}
	len = lba_count * ns->extended_lba_size;
	if (iov != NULL && (iovcnt <= 0 || spio_iov_length(iov, iovcnt) < len)) {
		return -EINVAL;
	}
	if (iov == NULL && buf == NULL) {
		return -EINVAL;
	}
	rw_cmd_init(&cmd, opc, ns, lba, lba_count, io_flags);
	return nvme_qpair_submit_cmd(qpair, &cmd, buf, len, iov, iovcnt, cb, cb_arg);
}

int spio_nvme_ns_cmd_read(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, void *buf,
			  uint64_t lba, uint32_t lba_count, spio_nvme_cmd_cb cb, void *cb_arg,
			  uint32_t io_flags)
{
	return rw_submit(ns, qpair, SPIO_NVME_OPC_READ, buf, lba, lba_count, NULL, 0, cb, cb_arg,
			 io_flags);
}

int spio_nvme_ns_cmd_write(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, void *buf,
			   uint64_t lba, uint32_t lba_count, spio_nvme_cmd_cb cb, void *cb_arg,
			   uint32_t io_flags)
{
	return rw_submit(ns, qpair, SPIO_NVME_OPC_WRITE, buf, lba, lba_count, NULL, 0, cb, cb_arg,
			 io_flags);
}

int spio_nvme_ns_cmd_readv(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, uint64_t lba,
			   uint32_t lba_count, const struct iovec *iov, int iovcnt,
			   spio_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags)
{
	if (iov == NULL) {
		return -EINVAL;
	}
	return rw_submit(ns, qpair, SPIO_NVME_OPC_READ, NULL, lba, lba_count, iov, iovcnt, cb,
			 cb_arg, io_flags);
}

int spio_nvme_ns_cmd_writev(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, uint64_t lba,
			    uint32_t lba_count, const struct iovec *iov, int iovcnt,
			    spio_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags)
{
	if (iov == NULL) {
		return -EINVAL;
	}
	return rw_submit(ns, qpair, SPIO_NVME_OPC_WRITE, NULL, lba, lba_count, iov, iovcnt, cb,
			 cb_arg, io_flags);
}

int spio_nvme_ns_cmd_compare(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, void *buf,
			     uint64_t lba, uint32_t lba_count, spio_nvme_cmd_cb cb, void *cb_arg,
			     uint32_t io_flags)
{
	return rw_submit(ns, qpair, SPIO_NVME_OPC_COMPARE, buf, lba, lba_count, NULL, 0, cb, cb_arg,
			 io_flags);
}

int spio_nvme_ns_cmd_flush(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
			   spio_nvme_cmd_cb cb, void *cb_arg)
{
	struct spio_nvme_cmd cmd = {.opc = SPIO_NVME_OPC_FLUSH};

	if (ns == NULL || qpair == NULL || qpair->ctrlr != ns->ctrlr) {
		return -EINVAL;
	}
	cmd.nsid = ns->id;
	return nvme_qpair_submit_cmd(qpair, &cmd, NULL, 0, NULL, 0, cb, cb_arg);
}

int spio_nvme_ns_cmd_write_zeroes(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
				  uint64_t lba, uint32_t lba_count, spio_nvme_cmd_cb cb,
				  void *cb_arg, uint32_t io_flags)
{
	struct spio_nvme_cmd cmd;

	/* No data moves: only the range is checked, not the transfer size. */
	if (ns == NULL || qpair == NULL || qpair->ctrlr != ns->ctrlr || lba_count == 0 ||
	    lba_count > 65536 || lba + lba_count < lba || lba + lba_count > ns->num_sectors) {
		return -EINVAL;
	}
	rw_cmd_init(&cmd, SPIO_NVME_OPC_WRITE_ZEROES, ns, lba, lba_count, io_flags);
	return nvme_qpair_submit_cmd(qpair, &cmd, NULL, 0, NULL, 0, cb, cb_arg);
}

int spio_nvme_ns_cmd_dataset_management(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
					uint32_t type, const struct spio_nvme_dsm_range *ranges,
					uint16_t num_ranges, spio_nvme_cmd_cb cb, void *cb_arg)
{
	struct spio_nvme_cmd cmd = {.opc = SPIO_NVME_OPC_DATASET_MANAGEMENT};
	struct nvme_request *req;
	uint32_t len = num_ranges * sizeof(*ranges);

	if (ns == NULL || qpair == NULL || qpair->ctrlr != ns->ctrlr || ranges == NULL ||
	    num_ranges == 0 || num_ranges > SPIO_NVME_DATASET_MANAGEMENT_MAX_RANGES) {
		return -EINVAL;
	}
	for (uint16_t i = 0; i < num_ranges; i++) {
		uint64_t end = ranges[i].starting_lba + ranges[i].length;

		if (end < ranges[i].starting_lba || end > ns->num_sectors) {
			return -EINVAL;
		}
	}
	if (qpair->state != NVME_QPAIR_CONNECTED) {
		return -ENXIO;
	}
	/* The ranges travel in the slot's own buffer: the caller's may go away. */
	req = nvme_qpair_get_request(qpair);
	if (req == NULL) {
		return -ENOMEM;
	}
	if (req->dsm_ranges == NULL) {
		/* Kept with the slot for later deallocations; freed with the qpair. */
		req->dsm_ranges = malloc(SPIO_NVME_DATASET_MANAGEMENT_MAX_RANGES * sizeof(*ranges));
		if (req->dsm_ranges == NULL) {
			nvme_qpair_put_request(qpair, req);
			return -ENOMEM;
		}
	}
	memcpy(req->dsm_ranges, ranges, len);
	cmd.nsid = ns->id;
	cmd.cdw10 = num_ranges - 1u;
	cmd.cdw11 = type;
	req->cmd = cmd;
	req->cb = cb;
	req->cb_arg = cb_arg;
	req->iov_single.iov_base = req->dsm_ranges;
	req->iov_single.iov_len = len;
	req->iov = &req->iov_single;
	req->iovcnt = 1;
	req->payload_size = len;
	req->xfer = SPIO_NVME_DATA_HOST_TO_CONTROLLER;
	return nvme_qpair_submit(qpair, req);
}

int spio_nvme_ctrlr_cmd_io_raw(struct spio_nvme_ctrlr *ctrlr, struct spio_nvme_qpair *qpair,
			       const struct spio_nvme_cmd *cmd, void *buf, uint32_t len,
			       spio_nvme_cmd_cb cb, void *cb_arg)
{
	if (ctrlr == NULL || qpair == NULL || qpair->ctrlr != ctrlr || cmd == NULL ||
	    (len > 0 && buf == NULL) || len > ctrlr->max_xfer_size) {
		return -EINVAL;
	}
	return nvme_qpair_submit_cmd(qpair, cmd, buf, len, NULL, 0, cb, cb_arg);
}

/* Each twin: a completion on the task's stack, the command, the wait. */
#define AWAIT_CMD(cpl, submit_expr)                                \
	do {                                                       \
		struct nvme_cmd_wait w;                            \
		if (spio_task_current() == NULL) {                 \
			return -EPERM;                             \
		}                                                  \
		nvme_cmd_wait_init(&w, (cpl));                     \
		return spio_await_started(&w.done, (submit_expr)); \
	} while (0)

int spio_nvme_ns_cmd_read_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, void *buf,
				uint64_t lba, uint32_t lba_count, uint32_t io_flags,
				struct spio_nvme_cpl *cpl)
{
	AWAIT_CMD(cpl, spio_nvme_ns_cmd_read(ns, qpair, buf, lba, lba_count, nvme_cmd_wait_cb, &w,
					     io_flags));
}

int spio_nvme_ns_cmd_write_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, void *buf,
				 uint64_t lba, uint32_t lba_count, uint32_t io_flags,
				 struct spio_nvme_cpl *cpl)
{
	AWAIT_CMD(cpl, spio_nvme_ns_cmd_write(ns, qpair, buf, lba, lba_count, nvme_cmd_wait_cb, &w,
					      io_flags));
}

int spio_nvme_ns_cmd_readv_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
				 uint64_t lba, uint32_t lba_count, const struct iovec *iov,
				 int iovcnt, uint32_t io_flags, struct spio_nvme_cpl *cpl)
{
	AWAIT_CMD(cpl, spio_nvme_ns_cmd_readv(ns, qpair, lba, lba_count, iov, iovcnt,
					      nvme_cmd_wait_cb, &w, io_flags));
}

int spio_nvme_ns_cmd_writev_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
				  uint64_t lba, uint32_t lba_count, const struct iovec *iov,
				  int iovcnt, uint32_t io_flags, struct spio_nvme_cpl *cpl)
{
	AWAIT_CMD(cpl, spio_nvme_ns_cmd_writev(ns, qpair, lba, lba_count, iov, iovcnt,
					       nvme_cmd_wait_cb, &w, io_flags));
}

int spio_nvme_ns_cmd_compare_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
				   void *buf, uint64_t lba, uint32_t lba_count, uint32_t io_flags,
				   struct spio_nvme_cpl *cpl)
{
	AWAIT_CMD(cpl, spio_nvme_ns_cmd_compare(ns, qpair, buf, lba, lba_count, nvme_cmd_wait_cb,
						&w, io_flags));
}

int spio_nvme_ns_cmd_flush_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
				 struct spio_nvme_cpl *cpl)
{
	AWAIT_CMD(cpl, spio_nvme_ns_cmd_flush(ns, qpair, nvme_cmd_wait_cb, &w));
}

int spio_nvme_ns_cmd_write_zeroes_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
					uint64_t lba, uint32_t lba_count, uint32_t io_flags,
					struct spio_nvme_cpl *cpl)
{
	AWAIT_CMD(cpl, spio_nvme_ns_cmd_write_zeroes(ns, qpair, lba, lba_count, nvme_cmd_wait_cb,
						     &w, io_flags));
}

int spio_nvme_ns_cmd_dataset_management_await(struct spio_nvme_ns *ns,
					      struct spio_nvme_qpair *qpair, uint32_t type,
					      const struct spio_nvme_dsm_range *ranges,
					      uint16_t num_ranges, struct spio_nvme_cpl *cpl)
{
	AWAIT_CMD(cpl, spio_nvme_ns_cmd_dataset_management(ns, qpair, type, ranges, num_ranges,
							   nvme_cmd_wait_cb, &w));
}
