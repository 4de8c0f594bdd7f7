/*
 * I/O commands (poll group thread): read, write, compare, flush, write
 * zeroes and dataset management mapped to bdev I/O on the group's channel
 * of the namespace, with the NVMe checks (namespace, LBA range, data
 * length) before and the bdev's status translated after. Nothing is
 * allocated per command: the request carries what a command needs.
 */
#include <errno.h>
#include <string.h>

#include "spio/log.h"
#include "spio/util.h"

#include "nvmf/nvmf_core.h"

static void io_submit(struct nvmf_request *req);
static void dsm_continue(void *arg);

static inline struct nvmf_pg_ns *req_pg_ns(const struct nvmf_request *req)
{
	return req->pg_ns;
}

/* The command is over: release its hold on the namespace entry and answer. */
static void io_finish(struct nvmf_request *req)
{
	struct nvmf_pg_ns *pg_ns = req_pg_ns(req);
	struct nvmf_poll_group *group = req->qpair->group;

	if (--pg_ns->outstanding == 0 && pg_ns->state == NVMF_PG_NS_REMOVING) {
		nvmf_pg_ns_idle(group, pg_ns);
	}
	nvmf_request_complete(req);
}

static void io_fail(struct nvmf_request *req, uint8_t sct, uint8_t sc)
{
	nvmf_req_status(req, sct, sc);
	io_finish(req);
}

/* A submit function's error as the NVMe status it means. */
static void io_submit_failed(struct nvmf_request *req, int rc)
{
	if (rc == -ENOTSUP) {
		req->rsp->status.dnr = 1;
		io_fail(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE);
		return;
	}
	SPIO_ERRLOG("nvmf: opcode %#x on bdev %s: submit failed: %d\n", req->cmd->opc,
		    spio_bdev_get_name(req_pg_ns(req)->bdev), rc);
	io_fail(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
}

/* No bdev_io free: try again when one is. \return false if it cannot wait. */
static bool io_queue_wait(struct nvmf_request *req, spio_bdev_io_wait_cb cb)
{
	struct nvmf_pg_ns *pg_ns = req_pg_ns(req);

	req->io_wait.bdev = pg_ns->bdev;
	req->io_wait.cb_fn = cb;
	req->io_wait.cb_arg = req;
	req->qpair->group->stat.pending_bdev_io++;
	return spio_bdev_queue_io_wait(pg_ns->bdev, pg_ns->ch, &req->io_wait) == 0;
}

static void io_resubmit(void *arg)
{
	io_submit(arg);
}

static void set_bdev_status(struct nvmf_request *req, const struct spio_bdev_io *bdev_io)
{
	if (spio_bdev_io_get_status(bdev_io) == SPIO_BDEV_IO_STATUS_MISCOMPARE) {
		nvmf_req_status(req, SPIO_NVME_SCT_MEDIA_ERROR, SPIO_NVME_SC_COMPARE_FAILURE);
	} else {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
	}
}

static void count_add(uint64_t *counter, uint64_t n)
{
	/* Only this thread writes; the target thread reads (SMART log). */
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static void account(struct nvmf_request *req)
{
	struct nvmf_qpair *qpair = req->qpair;
	uint64_t blocks512 = req->length / 512;

	if (req->cmd->opc == SPIO_NVME_OPC_READ) {
		count_add(&qpair->stat_read_cmds, 1);
		count_add(&qpair->stat_read_blocks512, blocks512);
	} else if (req->cmd->opc == SPIO_NVME_OPC_WRITE) {
		count_add(&qpair->stat_write_cmds, 1);
		count_add(&qpair->stat_write_blocks512, blocks512);
	}
}

static void fua_flush_done(struct spio_bdev_io *bdev_io, bool success, void *arg)
{
	struct nvmf_request *req = arg;

	if (!success) {
		set_bdev_status(req, bdev_io);
	}
	/* Free last: it may run a waiting request's resubmission at once. */
	spio_bdev_free_io(bdev_io);
	io_finish(req);
}

static void fua_flush(void *arg)
{
	struct nvmf_request *req = arg;
	struct nvmf_pg_ns *pg_ns = req_pg_ns(req);
	const struct spio_nvme_cmd *cmd = req->cmd;
	uint64_t slba = (uint64_t)cmd->cdw10 | ((uint64_t)cmd->cdw11 << 32);
	int rc;

	rc = spio_bdev_flush_blocks(pg_ns->desc, pg_ns->ch, slba,
				    (uint64_t)cmd->cdw12_bits.rw.nlb + 1, fua_flush_done, req);
	if (rc == -ENOMEM && io_queue_wait(req, fua_flush)) {
		return;
	}
	if (rc != 0) {
		io_submit_failed(req, rc);
	}
}

static void io_done(struct spio_bdev_io *bdev_io, bool success, void *arg)
{
	struct nvmf_request *req = arg;
	bool flush = false;

	if (success) {
		account(req);
		flush = (req->core_flags & NVMF_REQ_FUA_FLUSH) != 0;
	} else {
		set_bdev_status(req, bdev_io);
	}
	spio_bdev_free_io(bdev_io);
	if (flush) {
		/* FUA: the data is on stable media before the command completes. */
		req->core_flags &= ~NVMF_REQ_FUA_FLUSH;
		fua_flush(req);
		return;
	}
	io_finish(req);
}

/*
 * Dataset management: one unmap per range with the deallocate attribute,
 * submitted in a row; the command completes when the last one did.
 */

static void dsm_read_range(const struct nvmf_request *req, uint32_t i,
			   struct spio_nvme_dsm_range *range)
{
	struct iovec iov[NVMF_REQ_MAX_IOV];
	struct iovec *p = iov;
	int cnt = req->iovcnt;

	memcpy(iov, req->iov, (size_t)cnt * sizeof(iov[0]));
	spio_iov_advance(&p, &cnt, (size_t)i * sizeof(*range));
	spio_copy_iovs_to_buf(range, sizeof(*range), p, cnt);
}

static uint32_t dsm_num_ranges(const struct nvmf_request *req)
{
	return (uint32_t)req->cmd->cdw10_bits.dsm.nr + 1;
}

static void dsm_done(struct spio_bdev_io *bdev_io, bool success, void *arg)
{
	struct nvmf_request *req = arg;
	bool finish;

	if (!success && req->rsp->status.sc == SPIO_NVME_SC_SUCCESS &&
	    req->rsp->status.sct == SPIO_NVME_SCT_GENERIC) {
		set_bdev_status(req, bdev_io);
	}
	req->dsm_pending--;
	finish = req->dsm_pending == 0 && req->dsm_next >= dsm_num_ranges(req);
	/* Free before finishing; a waiting range of this command resumes in there otherwise. */
	spio_bdev_free_io(bdev_io);
	if (finish) {
		io_finish(req);
	}
}

static void dsm_continue(void *arg)
{
	struct nvmf_request *req = arg;
	struct nvmf_pg_ns *pg_ns = req_pg_ns(req);
	uint32_t nr = dsm_num_ranges(req);
	struct spio_nvme_dsm_range range;
	int rc;

	while (req->dsm_next < nr) {
		dsm_read_range(req, req->dsm_next, &range);
		if (range.length == 0) {
			req->dsm_next++;
			continue;
		}
		rc = spio_bdev_unmap_blocks(pg_ns->desc, pg_ns->ch, range.starting_lba,
					    range.length, dsm_done, req);
		if (rc == -ENOMEM && io_queue_wait(req, dsm_continue)) {
			return;
		}
		if (rc != 0) {
			/* Stop here; ranges in flight still complete. */
			nvmf_req_status(req, SPIO_NVME_SCT_GENERIC,
					rc == -ENOTSUP ? SPIO_NVME_SC_INVALID_OPCODE
						       : SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
			req->dsm_next = (uint16_t)nr;
			break;
		}
		req->dsm_pending++;
		req->dsm_next++;
	}
	if (req->dsm_pending == 0) {
		io_finish(req);
	}
}

static void dsm_start(struct nvmf_request *req)
{
	struct nvmf_pg_ns *pg_ns = req_pg_ns(req);
	uint64_t num_blocks = spio_bdev_get_num_blocks(pg_ns->bdev);
	uint32_t nr = dsm_num_ranges(req);
	struct spio_nvme_dsm_range range;

	if (!(req->cmd->cdw11 & SPIO_NVME_DSM_ATTR_DEALLOCATE)) {
		/* Only hints (integral read / write): nothing to do. */
		io_finish(req);
		return;
	}
	if ((uint64_t)nr * sizeof(range) > req->length) {
		io_fail(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
		return;
	}
	/* Every range is checked before any is deallocated. */
	for (uint32_t i = 0; i < nr; i++) {
		dsm_read_range(req, i, &range);
		if (range.starting_lba > num_blocks ||
		    range.length > num_blocks - range.starting_lba) {
			io_fail(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_LBA_OUT_OF_RANGE);
			return;
		}
	}
	req->dsm_next = 0;
	req->dsm_pending = 0;
	dsm_continue(req);
}

/*
 * Read, write, compare, write zeroes, flush
 */

/* SLBA and NLB of a read / write / compare / write zeroes; false if beyond the namespace. */
static bool io_range(const struct nvmf_request *req, uint64_t *slba, uint64_t *nlb)
{
	const struct spio_nvme_cmd *cmd = req->cmd;
	uint64_t num_blocks = spio_bdev_get_num_blocks(req_pg_ns(req)->bdev);

	*slba = (uint64_t)cmd->cdw10 | ((uint64_t)cmd->cdw11 << 32);
	*nlb = (uint64_t)cmd->cdw12_bits.rw.nlb + 1;
	return *slba < num_blocks && *nlb <= num_blocks - *slba;
}

static void io_submit(struct nvmf_request *req)
{
	struct nvmf_pg_ns *pg_ns = req_pg_ns(req);
	const struct spio_nvme_cmd *cmd = req->cmd;
	uint64_t slba, nlb;
	int rc;

	switch (cmd->opc) {
	case SPIO_NVME_OPC_READ:
	case SPIO_NVME_OPC_WRITE:
	case SPIO_NVME_OPC_COMPARE:
		if (!io_range(req, &slba, &nlb)) {
			io_fail(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_LBA_OUT_OF_RANGE);
			return;
		}
		/* The SGL must describe exactly the data: no "oversized" SGL support. */
		if (nlb * pg_ns->block_size != req->length || req->iovcnt < 1) {
			io_fail(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID);
			return;
		}
		if (cmd->opc == SPIO_NVME_OPC_READ) {
			rc = spio_bdev_readv_blocks(pg_ns->desc, pg_ns->ch, req->iov, req->iovcnt,
						    slba, nlb, io_done, req);
		} else if (cmd->opc == SPIO_NVME_OPC_WRITE) {
			if (cmd->cdw12_bits.rw.fua && pg_ns->flush_supported) {
				req->core_flags |= NVMF_REQ_FUA_FLUSH;
			}
			rc = spio_bdev_writev_blocks(pg_ns->desc, pg_ns->ch, req->iov, req->iovcnt,
						     slba, nlb, io_done, req);
		} else {
			rc = spio_bdev_comparev_blocks(pg_ns->desc, pg_ns->ch, req->iov,
						       req->iovcnt, slba, nlb, io_done, req);
		}
		break;
	case SPIO_NVME_OPC_WRITE_ZEROES:
		if (!io_range(req, &slba, &nlb)) {
			io_fail(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_LBA_OUT_OF_RANGE);
			return;
		}
		if (cmd->cdw12_bits.write_zeroes.deac) {
			/* Deallocating write zeroes is not offered (DLFEAT 0), as SPDK. */
			io_fail(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
			return;
		}
		rc = spio_bdev_write_zeroes_blocks(pg_ns->desc, pg_ns->ch, slba, nlb, io_done, req);
		break;
	case SPIO_NVME_OPC_FLUSH:
		if (!pg_ns->flush_supported) {
			/* No cache to write back: done (VWC is reported present, as SPDK). */
			io_finish(req);
			return;
		}
		rc = spio_bdev_flush_blocks(pg_ns->desc, pg_ns->ch, 0,
					    spio_bdev_get_num_blocks(pg_ns->bdev), io_done, req);
		break;
	case SPIO_NVME_OPC_DATASET_MANAGEMENT:
		dsm_start(req);
		return;
	default:
		req->rsp->status.dnr = 1;
		io_fail(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE);
		return;
	}
	if (spio_likely(rc == 0)) {
		return;
	}
	req->core_flags &= ~NVMF_REQ_FUA_FLUSH;
	if (rc == -ENOMEM && io_queue_wait(req, io_resubmit)) {
		return;
	}
	io_submit_failed(req, rc);
}

void nvmf_io_exec(struct nvmf_request *req)
{
	struct nvmf_qpair *qpair = req->qpair;
	const struct spio_nvme_cmd *cmd = req->cmd;
	struct nvmf_subsystem_pg *sg = &qpair->group->sgroups[qpair->ctrlr->subsys->id];
	struct nvmf_pg_ns *pg_ns;
	uint32_t nsid = cmd->nsid;

	/* nsid 0 wraps to UINT32_MAX: out of the table too. */
	if (spio_unlikely(nsid - 1 >= sg->num_ns || sg->ns[nsid - 1].state != NVMF_PG_NS_ACTIVE)) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC,
				SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		req->rsp->status.dnr = 1;
		nvmf_request_complete(req);
		return;
	}
	if (spio_unlikely(cmd->fuse != SPIO_NVME_CMD_FUSE_NONE)) {
		/* Fused compare and write is not offered (FUSES 0). */
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		nvmf_request_complete(req);
		return;
	}
	pg_ns = &sg->ns[nsid - 1];
	pg_ns->outstanding++;
	req->pg_ns = pg_ns;
	io_submit(req);
}
