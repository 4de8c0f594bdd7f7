/*
 * spio_identify: read everything the report needs from a live controller.
 *
 * One task on the calling spio thread does it in sequence (connect, the
 * features, the log pages, the namespaces, detach) while the caller polls
 * the thread. Get Features go one at a time, as SPDK's tool sends them:
 * some controllers mishandle overlapping ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/nvme.h"
#include "spio/task.h"
#include "spio/thread.h"
#include "spio/util.h"

#include "identify.h"

struct collect {
	const struct spio_nvme_transport_id *trid;
	const struct spio_nvme_ctrlr_opts *opts;
	struct id_info *info;
	struct spio_nvme_ctrlr *ctrlr;
	int rc;
	bool done;
};

static int admin(struct spio_nvme_ctrlr *ctrlr, const struct spio_nvme_cmd *cmd, void *buf,
		 uint32_t len, uint32_t *cdw0)
{
	struct spio_nvme_cpl cpl;
	int rc;

	memset(&cpl, 0, sizeof(cpl));
	rc = spio_nvme_ctrlr_cmd_admin_await(ctrlr, cmd, buf, len, &cpl);
	if (rc == 0 && cdw0 != NULL) {
		*cdw0 = cpl.cdw0;
	}
	return rc;
}

static void get_feature(struct spio_nvme_ctrlr *ctrlr, uint8_t fid, uint32_t nsid,
			struct id_feature *f)
{
	struct spio_nvme_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = SPIO_NVME_OPC_GET_FEATURES;
	cmd.nsid = nsid;
	cmd.cdw10_bits.get_features.fid = fid;
	f->valid = admin(ctrlr, &cmd, NULL, 0, &f->value) == 0;
	if (!f->valid) {
		/* SPDK prints this on stdout; stdout here is the report alone */
		fprintf(stderr, "get_feature(0x%02X) failed\n", fid);
	}
}

static bool get_log_page(struct spio_nvme_ctrlr *ctrlr, uint8_t lid, void *buf, uint32_t size,
			 const char *what)
{
	struct spio_nvme_cmd cmd;
	uint32_t numd = size / 4 - 1; /* dwords, 0's based */

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = SPIO_NVME_OPC_GET_LOG_PAGE;
	cmd.nsid = SPIO_NVME_GLOBAL_NS_TAG;
	cmd.cdw10_bits.get_log_page.lid = lid;
	cmd.cdw10_bits.get_log_page.numdl = numd & 0xffff;
	cmd.cdw11_bits.get_log_page.numdu = numd >> 16;
	if (admin(ctrlr, &cmd, buf, size, NULL) != 0) {
		fprintf(stderr, "Get Log Page (%s) failed\n", what);
		return false;
	}
	return true;
}

static int identify(struct spio_nvme_ctrlr *ctrlr, uint8_t cns, uint32_t nsid, uint8_t csi,
		    void *buf)
{
	struct spio_nvme_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = SPIO_NVME_OPC_IDENTIFY;
	cmd.nsid = nsid;
	cmd.cdw10_bits.identify.cns = cns;
	cmd.cdw11_bits.identify.csi = csi;
	return admin(ctrlr, &cmd, buf, SPIO_NVME_IDENTIFY_BUFLEN, NULL);
}

static void collect_logs(struct spio_nvme_ctrlr *ctrlr, struct id_info *info)
{
	const struct spio_nvme_ctrlr_data *cd = &info->cdata;
	uint32_t nsid, active = 0;

	info->have_error_log = get_log_page(ctrlr, SPIO_NVME_LOG_ERROR, info->error_log,
					    (uint32_t)sizeof(info->error_log[0]) * (cd->elpe + 1u),
					    "Error Information");
	info->have_health = get_log_page(ctrlr, SPIO_NVME_LOG_HEALTH_INFORMATION, &info->health,
					 sizeof(info->health), "SMART/health");
	info->have_firmware = get_log_page(ctrlr, SPIO_NVME_LOG_FIRMWARE_SLOT, &info->firmware,
					   sizeof(info->firmware), "Firmware Slot Information");
	if (cd->cmic.ana_reporting) {
		/* groups holding our namespaces only: one descriptor per group, one nsid each */
		for (nsid = spio_nvme_ctrlr_get_first_active_ns(ctrlr); nsid != 0;
		     nsid = spio_nvme_ctrlr_get_next_active_ns(ctrlr, nsid)) {
			active++;
		}
		info->ana_size =
		    (uint32_t)(sizeof(struct spio_nvme_ana_page) +
			       cd->nanagrpid * sizeof(struct spio_nvme_ana_group_descriptor) +
			       active * sizeof(uint32_t));
		info->ana = calloc(1, info->ana_size);
		if (info->ana != NULL &&
		    !get_log_page(ctrlr, SPIO_NVME_LOG_ASYMMETRIC_NAMESPACE_ACCESS, info->ana,
				  info->ana_size, "Asymmetric Namespace Access")) {
			free(info->ana);
			info->ana = NULL;
		}
	}
	if (cd->lpa.celp) {
		info->have_effects =
		    get_log_page(ctrlr, SPIO_NVME_LOG_COMMAND_EFFECTS_LOG, &info->effects,
				 sizeof(info->effects), "Commands Supported and Effects");
	}
}

static int collect_namespaces(struct spio_nvme_ctrlr *ctrlr, struct id_info *info)
{
	uint32_t nsid, n = 0, i = 0;

	for (nsid = spio_nvme_ctrlr_get_first_active_ns(ctrlr); nsid != 0;
	     nsid = spio_nvme_ctrlr_get_next_active_ns(ctrlr, nsid)) {
		n++;
	}
	if (n == 0) {
		return 0;
	}
	info->ns = calloc(n, sizeof(*info->ns));
	if (info->ns == NULL) {
		return -ENOMEM;
	}
	for (nsid = spio_nvme_ctrlr_get_first_active_ns(ctrlr); nsid != 0 && i < n;
	     nsid = spio_nvme_ctrlr_get_next_active_ns(ctrlr, nsid)) {
		struct spio_nvme_ns *ns = spio_nvme_ctrlr_get_ns(ctrlr, nsid);
		struct id_ns *ins = &info->ns[i];
		const uint8_t *uuid;

		if (ns == NULL) {
			continue;
		}
		ins->nsid = nsid;
		ins->data = *spio_nvme_ns_get_data(ns);
		/* the driver keeps the UUID but not the CSI: read the list ourselves */
		ins->have_desc = identify(ctrlr, SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, nsid, 0,
					  ins->desc) == 0;
		uuid = spio_nvme_ns_get_uuid(ns);
		if (!ins->have_desc && uuid != NULL) {
			ins->have_uuid = true;
			memcpy(ins->uuid, uuid, sizeof(ins->uuid));
		}
		if ((info->cdata.ctratt & SPIO_NVME_CTRATT_EXTENDED_LBA_FORMATS) &&
		    id_ns_csi(ins) == SPIO_NVME_CSI_NVM) {
			ins->have_nvm = identify(ctrlr, SPIO_NVME_IDENTIFY_NS_IOCS, nsid,
						 SPIO_NVME_CSI_NVM, ins->nvm) == 0;
		}
		get_feature(ctrlr, SPIO_NVME_FEAT_ERROR_RECOVERY, nsid, &ins->err_rec);
		i++;
	}
	info->num_ns = i;
	return 0;
}

static void build_name(struct id_info *info, const struct spio_nvme_transport_id *trid)
{
	switch (trid->trtype) {
	case SPIO_NVME_TRANSPORT_PCIE:
		snprintf(info->name, sizeof(info->name), "PCIE (%s)", trid->traddr);
		break;
	case SPIO_NVME_TRANSPORT_TCP:
	case SPIO_NVME_TRANSPORT_RDMA:
		snprintf(info->name, sizeof(info->name), "%s (addr:%s subnqn:%s)",
			 trid->trtype == SPIO_NVME_TRANSPORT_TCP ? "TCP" : "RDMA", trid->traddr,
			 trid->subnqn);
		break;
	default:
		snprintf(info->name, sizeof(info->name), "%s (%s)", trid->trstring, trid->traddr);
		break;
	}
	info->fabrics = trid->trtype != SPIO_NVME_TRANSPORT_PCIE;
}

static int collect(struct collect *c)
{
	struct id_info *info = c->info;
	struct spio_nvme_ctrlr *ctrlr;
	static const uint8_t ctrlr_features[] = {
	    SPIO_NVME_FEAT_ARBITRATION,
	    SPIO_NVME_FEAT_POWER_MANAGEMENT,
	    SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD,
	    SPIO_NVME_FEAT_NUMBER_OF_QUEUES,
	};
	size_t i;
	int rc;

	rc = spio_nvme_connect_await(c->trid, c->opts, &c->ctrlr);
	if (rc != 0) {
		fprintf(stderr, "spio_identify: cannot connect to %s:%s (%s): %s\n",
			c->trid->traddr, c->trid->trsvcid,
			c->trid->subnqn[0] ? c->trid->subnqn : "discovery", strerror(-rc));
		return rc;
	}
	ctrlr = c->ctrlr;
	info->live = true;
	build_name(info, spio_nvme_ctrlr_get_transport_id(ctrlr));
	info->cdata = *spio_nvme_ctrlr_get_data(ctrlr);
	info->cap = spio_nvme_ctrlr_get_regs_cap(ctrlr);
	info->vs = spio_nvme_ctrlr_get_regs_vs(ctrlr);
	info->have_cap = info->have_vs = true;
	info->discovery = spio_nvme_ctrlr_is_discovery(ctrlr);
	/* as SPDK: what was asked for, lowered to what the controller granted (none to
	 * a discovery controller, which has no I/O queues to negotiate) */
	info->num_io_queues = info->discovery ? spio_nvme_ctrlr_get_opts(ctrlr)->num_io_queues
					      : spio_nvme_ctrlr_get_num_io_queues(ctrlr);
	info->have_num_io_queues = true;

	if (info->discovery) {
		/* a discovery controller answers Identify and the discovery log only */
		rc = spio_nvme_discovery_get_log_await(ctrlr, &info->discovery_log);
		if (rc != 0) {
			fprintf(stderr, "spio_identify: get discovery log page failed: %s\n",
				strerror(-rc));
			return rc;
		}
		return 0;
	}
	for (i = 0; i < SPIO_COUNTOF(ctrlr_features); i++) {
		get_feature(ctrlr, ctrlr_features[i], 0, &info->feat[ctrlr_features[i]]);
	}
	collect_logs(ctrlr, info);
	return collect_namespaces(ctrlr, info);
}

static int collect_task(void *arg)
{
	struct collect *c = arg;

	c->rc = collect(c);
	if (c->ctrlr != NULL) {
		spio_nvme_detach_await(c->ctrlr);
	}
	c->done = true;
	return 0;
}

int id_collect(const struct spio_nvme_transport_id *trid, const struct spio_nvme_ctrlr_opts *opts,
	       struct id_info *info)
{
	struct spio_thread *thread = spio_get_thread();
	struct collect c = {.trid = trid, .opts = opts, .info = info};
	struct spio_task_opts topts;
	int rc;

	spio_task_opts_init(&topts, sizeof(topts));
	topts.name = "identify";
	/* room for the driver's await chains under sanitizers too */
	topts.stack_size = 256 * 1024;
	rc = spio_task_spawn(collect_task, &c, &topts, NULL);
	if (rc != 0) {
		fprintf(stderr, "spio_identify: cannot start: %s\n", strerror(-rc));
		return rc;
	}
	while (!c.done) {
		spio_thread_poll(thread, 0, 0);
	}
	return c.rc;
}

void id_info_free(struct id_info *info)
{
	free(info->ana);
	free(info->discovery_log);
	free(info->ns);
	info->ana = NULL;
	info->discovery_log = NULL;
	info->ns = NULL;
	info->num_ns = 0;
}
