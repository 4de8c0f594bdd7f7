/*
 * Controller bring-up, run from a task on the admin thread by connect and
 * by reset: connect the admin queue, enable the controller through its
 * properties, identify it, negotiate queues and events, find namespaces.
 */
#include <errno.h>
#include <string.h>

#include "spio/env.h"
#include "spio/log.h"
#include "spio/task.h"

#include "nvme/nvme_internal.h"

/* How often CSTS is read while waiting for the controller to become ready. */
#define CSTS_POLL_US 1000

static void qpair_connected(void *arg, struct spio_nvme_qpair *qpair, int status)
{
	spio_completion_done(arg, status);
}

static int connect_adminq(struct spio_nvme_ctrlr *ctrlr)
{
	struct spio_completion c;

	spio_completion_init(&c);
	return spio_await_started(&c, nvme_qpair_connect(ctrlr->adminq, qpair_connected, &c));
}

static int wait_ready(struct spio_nvme_ctrlr *ctrlr)
{
	/* CAP.TO is in 500 ms units; the connect timeout bounds it too. */
	uint64_t limit_ms = SPIO_MIN((uint64_t)ctrlr->cap.bits.to * 500 + 500,
				     (uint64_t)ctrlr->opts.connect_timeout_ms);
	uint64_t deadline = spio_get_ticks() + limit_ms * spio_get_ticks_hz() / 1000;
	uint64_t v;
	int rc;

	for (;;) {
		rc = nvme_ctrlr_prop_get_await(ctrlr, SPIO_NVME_REG_CSTS, 4, &v);
		if (rc != 0) {
			return rc;
		}
		ctrlr->csts.raw = (uint32_t)v;
		if (ctrlr->csts.bits.cfs) {
			SPIO_ERRLOG("nvme %s: controller fatal status while enabling\n",
				    ctrlr->trid.traddr);
			return -EIO;
		}
		if (ctrlr->csts.bits.rdy) {
			return 0;
		}
		if (spio_get_ticks() > deadline) {
			SPIO_ERRLOG("nvme %s: controller not ready after %lu ms\n",
				    ctrlr->trid.traddr, (unsigned long)limit_ms);
			return -ETIMEDOUT;
		}
		spio_task_sleep_us(CSTS_POLL_US);
	}
}

static int enable(struct spio_nvme_ctrlr *ctrlr)
{
	union spio_nvme_cc_register cc;
	uint64_t v;
	int rc;

	rc = nvme_ctrlr_prop_get_await(ctrlr, SPIO_NVME_REG_VS, 4, &v);
	if (rc != 0) {
		return rc;
	}
	ctrlr->vs.raw = (uint32_t)v;
	rc = nvme_ctrlr_prop_get_await(ctrlr, SPIO_NVME_REG_CAP, 8, &v);
	if (rc != 0) {
		return rc;
	}
	ctrlr->cap.raw = v;
	/* As SPDK: the default I/O queue size never exceeds what CAP.MQES allows. */
	ctrlr->opts.io_queue_size =
	    SPIO_MIN(ctrlr->opts.io_queue_size, (uint32_t)ctrlr->cap.bits.mqes + 1);
	rc = nvme_ctrlr_prop_get_await(ctrlr, SPIO_NVME_REG_CC, 4, &v);
	if (rc != 0) {
		return rc;
	}
	cc.raw = (uint32_t)v;
	cc.bits.en = 1;
	cc.bits.css = 0;
	cc.bits.mps = 0; /* 4 KiB pages */
	cc.bits.ams = 0;
	cc.bits.shn = 0;
	cc.bits.iosqes = 6; /* 64-byte SQEs */
	cc.bits.iocqes = 4; /* 16-byte CQEs */
	rc = nvme_ctrlr_prop_set_await(ctrlr, SPIO_NVME_REG_CC, 4, cc.raw);
	if (rc != 0) {
		return rc;
	}
	return wait_ready(ctrlr);
}

static int identify(struct spio_nvme_ctrlr *ctrlr)
{
	struct spio_nvme_cmd cmd;
	uint32_t mdts_bytes;
	int rc;

	nvme_identify_cmd_init(&cmd, SPIO_NVME_IDENTIFY_CTRLR, 0, 0);
	rc = nvme_admin_await(ctrlr, &cmd, &ctrlr->cdata, sizeof(ctrlr->cdata), NULL);
	if (rc != 0) {
		SPIO_ERRLOG("nvme %s: identify controller failed: %d\n", ctrlr->trid.traddr, rc);
		return rc;
	}
	ctrlr->max_xfer_size = ctrlr->ops->max_xfer_size;
	if (ctrlr->cdata.mdts != 0 && ctrlr->cdata.mdts < 20) {
		mdts_bytes = (1u << ctrlr->cdata.mdts) * (1u << (12 + ctrlr->cap.bits.mpsmin));
		ctrlr->max_xfer_size = SPIO_MIN(ctrlr->max_xfer_size, mdts_bytes);
	}
	return 0;
}

static int set_num_queues(struct spio_nvme_ctrlr *ctrlr)
{
	uint32_t want = SPIO_MIN(ctrlr->opts.num_io_queues, 65535u);
	struct spio_nvme_cmd cmd = {.opc = SPIO_NVME_OPC_SET_FEATURES,
				    .cdw10 = SPIO_NVME_FEAT_NUMBER_OF_QUEUES,
				    .cdw11 = (want - 1) | ((want - 1) << 16)};
	struct spio_nvme_cpl cpl;
	int rc;

	rc = nvme_admin_await(ctrlr, &cmd, NULL, 0, &cpl);
	if (rc != 0) {
		SPIO_ERRLOG("nvme %s: set number of queues failed: %d\n", ctrlr->trid.traddr, rc);
		return rc;
	}
	/* Both counts are 0's based; use the smaller of submission and completion. */
	ctrlr->num_io_queues = SPIO_MIN(SPIO_MIN(cpl.cdw0 & 0xFFFF, cpl.cdw0 >> 16) + 1, want);
	return 0;
}

static int configure_events(struct spio_nvme_ctrlr *ctrlr)
{
	/* Only notices the controller says it supports: others are refused. */
	uint32_t notices = ctrlr->cdata.oaes & ((1u << 8) | (1u << 9) | (1u << 11));
	struct spio_nvme_cmd cmd = {.opc = SPIO_NVME_OPC_SET_FEATURES,
				    .cdw10 = SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION,
				    .cdw11 = notices};
	int rc;

	if (notices == 0) {
		return 0;
	}
	rc = nvme_admin_await(ctrlr, &cmd, NULL, 0, NULL);
	if (rc != 0) {
		SPIO_WARNLOG("nvme %s: async event configuration refused (%d); continuing\n",
			     ctrlr->trid.traddr, rc);
	}
	return 0;
}

int nvme_ctrlr_bring_up(struct spio_nvme_ctrlr *ctrlr)
{
	int rc;

	rc = connect_adminq(ctrlr);
	if (rc == 0) {
		rc = enable(ctrlr);
	}
	if (rc == 0) {
		rc = identify(ctrlr);
	}
	if (rc == 0 && !ctrlr->is_discovery) {
		rc = set_num_queues(ctrlr);
		if (rc == 0) {
			rc = configure_events(ctrlr);
		}
		if (rc == 0) {
			rc = nvme_ctrlr_refresh_namespaces(ctrlr,
							   ctrlr->state == NVME_CTRLR_RESETTING);
		}
	}
	if (rc != 0) {
		nvme_qpair_disconnect(ctrlr->adminq);
		return rc;
	}
	nvme_ctrlr_submit_aers(ctrlr);
	return 0;
}
