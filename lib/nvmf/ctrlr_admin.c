/*
 * Admin commands (target thread): Identify, Get Log Page, Get / Set
 * Features, Asynchronous Event Request, Keep Alive and Abort, for NVM and
 * discovery controllers, with SPDK's values where the spec leaves a choice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/env.h"
#include "spio/log.h"
#include "spio/util.h"

#include "nvmf/nvmf_core.h"

#ifndef SPIO_VERSION_STRING
#define SPIO_VERSION_STRING "0.0.0"
#endif

/* SPDK reports Intel's PCI vendor ID and IEEE OUI. */
#define NVMF_VID 0x8086
#define NVMF_IEEE_OUI            \
	{                        \
		0xe4, 0xd2, 0x5c \
	}
/* Temperature thresholds SPDK reports (kelvin), and the temperature we report. */
#define NVMF_WCTEMP 0x0157
#define NVMF_CCTEMP 0x0175
#define NVMF_TEMPERATURE 296

/* Copy the C string `src` padded with `pad` into a fixed field of `size` bytes (no NUL). */
static void strcpy_pad(char *dst, const char *src, size_t size, char pad)
{
	/* strlen, not strnlen(size): a source buffer may be shorter than the field. */
	size_t len = SPIO_MIN(strlen(src), size);

	memcpy(dst, src, len);
	memset(dst + len, pad, size - len);
}

static uint32_t log2_u32(uint32_t v)
{
	uint32_t n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

/* Copy [offset, offset + len) of a page into the request's buffer (already zeroed). */
static int copy_page(struct nvmf_request *req, const void *page, size_t page_size, uint64_t offset,
		     uint64_t len)
{
	if (offset >= page_size) {
		return -EINVAL;
	}
	len = SPIO_MIN(len, page_size - offset);
	spio_copy_buf_to_iovs(req->iov, req->iovcnt, (const uint8_t *)page + offset, len);
	return 0;
}

/* True if every namespace's bdev supports `type` (true for none, as SPDK). */
static bool subsystem_io_type_supported(const struct spio_nvmf_subsystem *subsystem,
					enum spio_bdev_io_type type)
{
	for (uint32_t i = 0; i < subsystem->max_nsid; i++) {
		const struct spio_nvmf_ns *ns = subsystem->ns[i];

		if (ns != NULL && ns->active && !spio_bdev_io_type_supported(ns->bdev, type)) {
			return false;
		}
	}
	return true;
}

/*
 * Identify
 */

void nvmf_ctrlr_identify_ctrlr(const struct nvmf_ctrlr *ctrlr, struct spio_nvme_ctrlr_data *cdata)
{
	const struct spio_nvmf_subsystem *subsystem = ctrlr->subsys;
	const struct nvmf_transport *transport = ctrlr->transport;
	const struct spio_nvmf_transport_opts *o = &transport->opts;
	static const uint8_t ieee[3] = NVMF_IEEE_OUI;
	uint32_t icdsz;

	memset(cdata, 0, sizeof(*cdata));
	/* Common to NVM and discovery controllers. */
	strcpy_pad(cdata->fr, SPIO_VERSION_STRING, sizeof(cdata->fr), ' ');
	cdata->mdts = (uint8_t)log2_u32(o->max_io_size / 4096);
	cdata->cntlid = ctrlr->cntlid;
	cdata->ver = ctrlr->vs;
	cdata->aerl = NVMF_MAX_ASYNC_EVENTS - 1;
	cdata->lpa.edlp = 1;
	cdata->elpe = 127;
	cdata->maxcmd = o->max_queue_depth;
	cdata->sgls = SPIO_NVME_SGLS_SUPPORTED | SPIO_NVME_SGLS_KEYED | SPIO_NVME_SGLS_OFFSET;
	cdata->wctemp = NVMF_WCTEMP;
	cdata->cctemp = NVMF_CCTEMP;
	strcpy_pad(cdata->subnqn, subsystem->nqn, sizeof(cdata->subnqn), '\0');
	if (nvmf_ctrlr_is_discovery(ctrlr)) {
		cdata->oaes = SPIO_NVME_OAES_DISCOVERY_LOG_CHANGE_NOTICES;
		cdata->cntrltype = SPIO_NVME_CTRLR_TYPE_DISCOVERY;
		return;
	}

	cdata->vid = NVMF_VID;
	cdata->ssvid = NVMF_VID;
	memcpy(cdata->ieee, ieee, sizeof(cdata->ieee));
	strcpy_pad(cdata->sn, subsystem->sn, sizeof(cdata->sn), ' ');
	strcpy_pad(cdata->mn, subsystem->mn, sizeof(cdata->mn), ' ');
	cdata->kas = NVMF_KAS;
	cdata->rab = 6;
	cdata->cmic.multi_port = 1;
	cdata->cmic.multi_ctrlr = 1;
	cdata->oaes = SPIO_NVME_OAES_NS_ATTRIBUTE_NOTICES;
	cdata->ctratt = SPIO_NVME_CTRATT_HOST_ID_128;
	cdata->cntrltype = SPIO_NVME_CTRLR_TYPE_IO;
	cdata->acl = NVMF_ABORT_COMMAND_LIMIT;
	cdata->frmw.slot1_ro = 1;
	cdata->frmw.num_slots = 1;
	cdata->lpa.celp = 1;
	cdata->sqes = (6 << 4) | 6;
	cdata->cqes = (4 << 4) | 4;
	cdata->nn = subsystem->max_nsid;
	cdata->vwc.present = 1;
	cdata->vwc.flush_broadcast = SPIO_NVME_FLUSH_BROADCAST_NOT_SUPPORTED;
	cdata->oncs.compare = subsystem_io_type_supported(subsystem, SPIO_BDEV_IO_TYPE_COMPARE);
	cdata->oncs.dsm = subsystem_io_type_supported(subsystem, SPIO_BDEV_IO_TYPE_UNMAP);
	cdata->oncs.write_zeroes =
	    subsystem_io_type_supported(subsystem, SPIO_BDEV_IO_TYPE_WRITE_ZEROES);
	icdsz = transport->ops->get_icdsz != NULL ? transport->ops->get_icdsz(transport)
						  : o->in_capsule_data_size;
	cdata->ioccsz = (uint32_t)(sizeof(struct spio_nvme_cmd) + icdsz) / 16;
	cdata->iorcsz = sizeof(struct spio_nvme_cpl) / 16;
	cdata->icdoff = 0;
	cdata->fcatt = 0; /* dynamic controller model */
	cdata->msdbd = 1;
}

static void identify_ns(struct nvmf_request *req, struct nvmf_ctrlr *ctrlr, void *buf)
{
	const struct spio_nvmf_subsystem *subsystem = ctrlr->subsys;
	uint32_t nsid = req->cmd->nsid;
	const struct spio_nvmf_ns *ns;

	if (nsid == 0 || nsid > subsystem->max_nsid) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC,
				SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		return;
	}
	ns = subsystem->ns[nsid - 1];
	if (ns == NULL || !ns->active) {
		/* An inactive namespace reads as zeroes. */
		return;
	}
	nvmf_ns_fill_identify(ns, buf, ctrlr->transport->opts.max_io_size);
}

static void identify_active_ns_list(struct nvmf_request *req, struct nvmf_ctrlr *ctrlr,
				    struct spio_nvme_ns_list *list)
{
	const struct spio_nvmf_subsystem *subsystem = ctrlr->subsys;
	uint32_t after = req->cmd->nsid, n = 0;

	if (after >= 0xfffffffeu) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC,
				SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		return;
	}
	for (uint32_t nsid = after + 1; nsid <= subsystem->max_nsid && n < SPIO_NVME_NS_LIST_MAX;
	     nsid++) {
		const struct spio_nvmf_ns *ns = subsystem->ns[nsid - 1];

		if (ns != NULL && ns->active) {
			list->ns_list[n++] = nsid;
		}
	}
}

static size_t add_ns_id_desc(uint8_t *buf, size_t at, uint8_t nidt, const void *nid, uint8_t nidl)
{
	struct spio_nvme_ns_id_desc *desc = (struct spio_nvme_ns_id_desc *)(buf + at);
	static const uint8_t zero[16];

	/* An all-zero identifier is not reported. */
	if (memcmp(nid, zero, nidl) == 0) {
		return at;
	}
	desc->nidt = nidt;
	desc->nidl = nidl;
	memcpy(desc->nid, nid, nidl);
	return at + sizeof(*desc) + nidl;
}

static void identify_ns_id_descs(struct nvmf_request *req, struct nvmf_ctrlr *ctrlr, uint8_t *buf)
{
	const struct spio_nvmf_subsystem *subsystem = ctrlr->subsys;
	uint32_t nsid = req->cmd->nsid;
	const struct spio_nvmf_ns *ns;
	uint64_t eui64;
	size_t at = 0;

	if (nsid == 0 || nsid > subsystem->max_nsid) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC,
				SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		return;
	}
	ns = subsystem->ns[nsid - 1];
	if (ns == NULL || !ns->active) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		return;
	}
	eui64 = __builtin_bswap64(ns->opts.eui64);
	at = add_ns_id_desc(buf, at, SPIO_NVME_NIDT_EUI64, &eui64, SPIO_NVME_NIDT_EUI64_LEN);
	at =
	    add_ns_id_desc(buf, at, SPIO_NVME_NIDT_NGUID, ns->opts.nguid, SPIO_NVME_NIDT_NGUID_LEN);
	add_ns_id_desc(buf, at, SPIO_NVME_NIDT_UUID, &ns->opts.uuid, SPIO_NVME_NIDT_UUID_LEN);
}

static void admin_identify(struct nvmf_request *req, struct nvmf_ctrlr *ctrlr)
{
	uint8_t cns = req->cmd->cdw10_bits.identify.cns;
	uint8_t *buf;

	if (req->iovcnt < 1 || req->length < SPIO_NVME_IDENTIFY_BUFLEN ||
	    (nvmf_ctrlr_is_discovery(ctrlr) && cns != SPIO_NVME_IDENTIFY_CTRLR)) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		return;
	}
	buf = calloc(1, SPIO_NVME_IDENTIFY_BUFLEN);
	if (buf == NULL) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	switch (cns) {
	case SPIO_NVME_IDENTIFY_NS:
		identify_ns(req, ctrlr, buf);
		break;
	case SPIO_NVME_IDENTIFY_CTRLR:
		nvmf_ctrlr_identify_ctrlr(ctrlr, (struct spio_nvme_ctrlr_data *)buf);
		break;
	case SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST:
		identify_active_ns_list(req, ctrlr, (struct spio_nvme_ns_list *)buf);
		break;
	case SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST:
		identify_ns_id_descs(req, ctrlr, buf);
		break;
	default:
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		break;
	}
	if (req->rsp->status.sc == SPIO_NVME_SC_SUCCESS && req->rsp->status.sct == 0) {
		spio_copy_buf_to_iovs(req->iov, req->iovcnt, buf, SPIO_NVME_IDENTIFY_BUFLEN);
	}
	free(buf);
}

/*
 * Log pages
 */

static void log_health(struct nvmf_request *req, struct nvmf_ctrlr *ctrlr, uint64_t offset,
		       uint64_t len)
{
	struct spio_nvme_health_information_page page;
	struct nvmf_smart_counters c;
	uint64_t hours = (spio_get_ticks() - ctrlr->tgt->start_tick) / spio_get_ticks_hz() / 3600;

	memset(&page, 0, sizeof(page));
	nvmf_ctrlr_get_smart_counters(ctrlr, &c);
	page.temperature = NVMF_TEMPERATURE;
	page.available_spare = 100;
	page.available_spare_threshold = 10;
	/* Thousands of 512-byte units, rounded up. */
	page.data_units_read[0] = (c.read_blocks512 + 999) / 1000;
	page.data_units_written[0] = (c.write_blocks512 + 999) / 1000;
	page.host_read_commands[0] = c.read_cmds;
	page.host_write_commands[0] = c.write_cmds;
	page.power_cycles[0] = 1;
	page.power_on_hours[0] = hours;
	if (copy_page(req, &page, sizeof(page), offset, len) != 0) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
	}
}

static void log_firmware_slot(struct nvmf_request *req, uint64_t offset, uint64_t len)
{
	struct spio_nvme_firmware_page page;

	memset(&page, 0, sizeof(page));
	page.afi.active_slot = 1;
	strcpy_pad(page.revision[0], SPIO_VERSION_STRING, sizeof(page.revision[0]), ' ');
	if (copy_page(req, &page, sizeof(page), offset, len) != 0) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
	}
}

static void log_changed_ns(struct nvmf_request *req, struct nvmf_ctrlr *ctrlr, uint64_t offset,
			   uint64_t len, bool rae)
{
	if (copy_page(req, &ctrlr->changed_ns_list, sizeof(ctrlr->changed_ns_list), offset, len) !=
	    0) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		return;
	}
	/* Read clears it; without RAE the event can come again. */
	memset(&ctrlr->changed_ns_list, 0, sizeof(ctrlr->changed_ns_list));
	ctrlr->changed_ns_count = 0;
	if (!rae) {
		nvmf_ctrlr_unmask_aen(ctrlr, NVMF_AEN_NS_ATTR);
	}
}

static void log_cmd_effects(struct nvmf_request *req, uint64_t offset, uint64_t len)
{
	static const uint8_t admin[] = {
	    SPIO_NVME_OPC_GET_LOG_PAGE, SPIO_NVME_OPC_IDENTIFY,
	    SPIO_NVME_OPC_ABORT,	SPIO_NVME_OPC_SET_FEATURES,
	    SPIO_NVME_OPC_GET_FEATURES, SPIO_NVME_OPC_ASYNC_EVENT_REQUEST,
	    SPIO_NVME_OPC_KEEP_ALIVE,
	};
	static const struct {
		uint8_t opc;
		bool lbcc;
	} io[] = {
	    {SPIO_NVME_OPC_FLUSH, true},
	    {SPIO_NVME_OPC_WRITE, true},
	    {SPIO_NVME_OPC_READ, false},
	    {SPIO_NVME_OPC_WRITE_ZEROES, true},
	    {SPIO_NVME_OPC_DATASET_MANAGEMENT, true},
	    {SPIO_NVME_OPC_COMPARE, false},
	};
	struct spio_nvme_cmds_and_effect_log_page *page = calloc(1, sizeof(*page));

	if (page == NULL) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	for (size_t i = 0; i < SPIO_COUNTOF(admin); i++) {
		page->admin_cmds_supported[admin[i]].bits.csupp = 1;
	}
	for (size_t i = 0; i < SPIO_COUNTOF(io); i++) {
		page->io_cmds_supported[io[i].opc].bits.csupp = 1;
		page->io_cmds_supported[io[i].opc].bits.lbcc = io[i].lbcc;
	}
	if (copy_page(req, page, sizeof(*page), offset, len) != 0) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
	}
	free(page);
}

static void log_discovery(struct nvmf_request *req, struct nvmf_ctrlr *ctrlr, uint64_t offset,
			  uint64_t len, bool rae)
{
	size_t size;
	void *page = nvmf_discovery_log_build(ctrlr->tgt, ctrlr->hostnqn, &size);

	if (page == NULL) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
		return;
	}
	if (copy_page(req, page, size, offset, len) != 0) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
	} else if (!rae) {
		nvmf_ctrlr_unmask_aen(ctrlr, NVMF_AEN_DISCOVERY);
	}
	free(page);
}

static void admin_get_log_page(struct nvmf_request *req, struct nvmf_ctrlr *ctrlr)
{
	const struct spio_nvme_cmd *cmd = req->cmd;
	uint8_t lid = cmd->cdw10_bits.get_log_page.lid;
	bool rae = cmd->cdw10_bits.get_log_page.rae;
	uint64_t offset = (uint64_t)cmd->cdw12 | ((uint64_t)cmd->cdw13 << 32);
	uint64_t len = (((uint64_t)cmd->cdw11_bits.get_log_page.numdu << 16) +
			cmd->cdw10_bits.get_log_page.numdl + 1) *
		       4;

	if (req->iovcnt < 1 || (offset & 3) != 0 || len > req->length) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		return;
	}
	if (nvmf_ctrlr_is_discovery(ctrlr)) {
		if (lid == SPIO_NVME_LOG_DISCOVERY) {
			log_discovery(req, ctrlr, offset, len, rae);
		} else {
			nvmf_req_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC,
					SPIO_NVME_SC_INVALID_LOG_PAGE);
		}
		return;
	}
	switch (lid) {
	case SPIO_NVME_LOG_ERROR:
		/* No error entries are kept: the page reads as zeroes. */
		break;
	case SPIO_NVME_LOG_HEALTH_INFORMATION:
		log_health(req, ctrlr, offset, len);
		break;
	case SPIO_NVME_LOG_FIRMWARE_SLOT:
		log_firmware_slot(req, offset, len);
		break;
	case SPIO_NVME_LOG_CHANGED_NS_LIST:
		log_changed_ns(req, ctrlr, offset, len, rae);
		break;
	case SPIO_NVME_LOG_COMMAND_EFFECTS_LOG:
		log_cmd_effects(req, offset, len);
		break;
	default:
		nvmf_req_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVME_SC_INVALID_LOG_PAGE);
		break;
	}
}

/*
 * Features
 */

static bool temp_threshold_valid(uint32_t cdw11)
{
	union spio_nvme_feat_temperature_threshold t = {.raw = cdw11};

	/* Sensors 0-8 or all (15); over (0) or under (1) threshold. */
	return (t.bits.tmpsel <= 8 || t.bits.tmpsel == 15) && t.bits.thsel <= 1;
}

static void admin_get_features(struct nvmf_request *req, struct nvmf_ctrlr *ctrlr)
{
	const struct spio_nvme_cmd *cmd = req->cmd;
	uint8_t fid = cmd->cdw10_bits.get_features.fid;
	uint32_t *cdw0 = &req->rsp->cdw0;

	if (cmd->nsid > ctrlr->subsys->max_nsid && cmd->nsid != SPIO_NVME_GLOBAL_NS_TAG) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC,
				SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		return;
	}
	if (nvmf_ctrlr_is_discovery(ctrlr) && fid != SPIO_NVME_FEAT_KEEP_ALIVE_TIMER &&
	    fid != SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		return;
	}
	switch (fid) {
	case SPIO_NVME_FEAT_ARBITRATION:
		*cdw0 = ctrlr->feat.arbitration;
		break;
	case SPIO_NVME_FEAT_POWER_MANAGEMENT:
		*cdw0 = ctrlr->feat.power_management;
		break;
	case SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD:
		/* No sensors: every threshold reads 0. */
		if (!temp_threshold_valid(cmd->cdw11)) {
			nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		}
		break;
	case SPIO_NVME_FEAT_ERROR_RECOVERY:
		*cdw0 = ctrlr->feat.error_recovery;
		break;
	case SPIO_NVME_FEAT_VOLATILE_WRITE_CACHE:
		*cdw0 = ctrlr->feat.volatile_write_cache;
		break;
	case SPIO_NVME_FEAT_NUMBER_OF_QUEUES:
		*cdw0 = ctrlr->feat.number_of_queues;
		break;
	case SPIO_NVME_FEAT_INTERRUPT_COALESCING:
		*cdw0 = ctrlr->feat.interrupt_coalescing;
		break;
	case SPIO_NVME_FEAT_INTERRUPT_VECTOR_CONFIGURATION:
		/* The vector asked for, coalescing disabled (CD, bit 16). */
		*cdw0 = (cmd->cdw11 & 0xffff) | (1u << 16);
		break;
	case SPIO_NVME_FEAT_WRITE_ATOMICITY:
		*cdw0 = ctrlr->feat.write_atomicity;
		break;
	case SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		*cdw0 = ctrlr->feat.async_event_configuration;
		break;
	case SPIO_NVME_FEAT_KEEP_ALIVE_TIMER:
		*cdw0 = ctrlr->feat.keep_alive_timer;
		break;
	case SPIO_NVME_FEAT_HOST_IDENTIFIER:
		/* Fabrics hosts have 128-bit identifiers only (EXHID). */
		if ((cmd->cdw11 & 1) == 0 || req->length < sizeof(ctrlr->hostid)) {
			nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
			break;
		}
		spio_copy_buf_to_iovs(req->iov, req->iovcnt, ctrlr->hostid, sizeof(ctrlr->hostid));
		break;
	default:
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		break;
	}
}

static bool feature_is_ctrlr_scope(uint8_t fid)
{
	switch (fid) {
	case SPIO_NVME_FEAT_ARBITRATION:
	case SPIO_NVME_FEAT_POWER_MANAGEMENT:
	case SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD:
	case SPIO_NVME_FEAT_VOLATILE_WRITE_CACHE:
	case SPIO_NVME_FEAT_NUMBER_OF_QUEUES:
	case SPIO_NVME_FEAT_INTERRUPT_COALESCING:
	case SPIO_NVME_FEAT_INTERRUPT_VECTOR_CONFIGURATION:
	case SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
	case SPIO_NVME_FEAT_KEEP_ALIVE_TIMER:
	case SPIO_NVME_FEAT_HOST_IDENTIFIER:
		return true;
	default:
		return false;
	}
}

static void set_kato(struct nvmf_request *req, struct nvmf_ctrlr *ctrlr)
{
	uint32_t kato = req->cmd->cdw11;

	/* The timer cannot be turned off once on. */
	if (kato == 0) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_KEEP_ALIVE_INVALID);
		return;
	}
	nvmf_ctrlr_set_kato(ctrlr, nvmf_ctrlr_round_kato(kato));
}

static void admin_set_features(struct nvmf_request *req, struct nvmf_ctrlr *ctrlr)
{
	const struct spio_nvme_cmd *cmd = req->cmd;
	uint8_t fid = cmd->cdw10_bits.set_features.fid;
	uint32_t cdw11 = cmd->cdw11;

	if (cmd->cdw10_bits.set_features.sv) {
		nvmf_req_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC,
				SPIO_NVME_SC_FEATURE_ID_NOT_SAVEABLE);
		return;
	}
	if (cmd->nsid > ctrlr->subsys->max_nsid && cmd->nsid != SPIO_NVME_GLOBAL_NS_TAG) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC,
				SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT);
		return;
	}
	if (nvmf_ctrlr_is_discovery(ctrlr) && fid != SPIO_NVME_FEAT_KEEP_ALIVE_TIMER &&
	    fid != SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		return;
	}
	if (cmd->nsid != 0 && cmd->nsid != SPIO_NVME_GLOBAL_NS_TAG && feature_is_ctrlr_scope(fid)) {
		nvmf_req_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC,
				SPIO_NVME_SC_FEATURE_NOT_NAMESPACE_SPECIFIC);
		return;
	}
	switch (fid) {
	case SPIO_NVME_FEAT_ARBITRATION:
		ctrlr->feat.arbitration = cdw11 & ~0xf8u; /* bits 7:3 reserved */
		break;
	case SPIO_NVME_FEAT_POWER_MANAGEMENT:
		/* One power state (NPSS 0): only PS 0. */
		if ((cdw11 & 0x1f) != 0) {
			nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
			break;
		}
		ctrlr->feat.power_management = cdw11 & 0xff;
		break;
	case SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD:
		/* No sensors: valid values are accepted and ignored. */
		if (!temp_threshold_valid(cdw11)) {
			nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		}
		break;
	case SPIO_NVME_FEAT_ERROR_RECOVERY:
		/* DULBE is not offered in Identify Namespace. */
		if (cdw11 & (1u << 16)) {
			nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
			break;
		}
		ctrlr->feat.error_recovery = cdw11 & 0xffff;
		break;
	case SPIO_NVME_FEAT_VOLATILE_WRITE_CACHE:
		/* The bdevs' caches cannot be turned off. */
		if ((cdw11 & 1) == 0) {
			nvmf_req_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC,
					SPIO_NVME_SC_FEATURE_NOT_CHANGEABLE);
		}
		break;
	case SPIO_NVME_FEAT_NUMBER_OF_QUEUES: {
		union spio_nvme_feat_number_of_queues nq = {.raw = cdw11};

		if (nq.bits.nsqr == UINT16_MAX || nq.bits.ncqr == UINT16_MAX) {
			nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		} else if (ctrlr->num_io_qpairs > 0) {
			nvmf_req_status(req, SPIO_NVME_SCT_GENERIC,
					SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
		} else {
			/* What the transport allows, whatever was asked. */
			req->rsp->cdw0 = ctrlr->feat.number_of_queues;
		}
		break;
	}
	case SPIO_NVME_FEAT_INTERRUPT_COALESCING:
		nvmf_req_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC,
				SPIO_NVME_SC_FEATURE_NOT_CHANGEABLE);
		break;
	case SPIO_NVME_FEAT_WRITE_ATOMICITY:
		ctrlr->feat.write_atomicity = cdw11 & 1;
		break;
	case SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION:
		/* SMART warnings and notices 11:8, discovery log change (31). */
		ctrlr->feat.async_event_configuration = cdw11 & 0x80000fffu;
		break;
	case SPIO_NVME_FEAT_KEEP_ALIVE_TIMER:
		set_kato(req, ctrlr);
		break;
	case SPIO_NVME_FEAT_HOST_IDENTIFIER:
		/* Fixed by the connect. */
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
		break;
	default:
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		break;
	}
}

/*
 * Dispatch
 */

/* Commands about the controller itself, which must not name a namespace. */
static bool admin_cmd_ctrlr_scope(uint8_t opc)
{
	return opc == SPIO_NVME_OPC_ABORT || opc == SPIO_NVME_OPC_ASYNC_EVENT_REQUEST ||
	       opc == SPIO_NVME_OPC_KEEP_ALIVE;
}

static bool discovery_allows(uint8_t opc)
{
	return opc == SPIO_NVME_OPC_IDENTIFY || opc == SPIO_NVME_OPC_GET_LOG_PAGE ||
	       opc == SPIO_NVME_OPC_KEEP_ALIVE || opc == SPIO_NVME_OPC_SET_FEATURES ||
	       opc == SPIO_NVME_OPC_GET_FEATURES || opc == SPIO_NVME_OPC_ASYNC_EVENT_REQUEST;
}

void nvmf_ctrlr_admin_exec(struct nvmf_request *req)
{
	struct nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	const struct spio_nvme_cmd *cmd = req->cmd;
	uint8_t opc = cmd->opc;

	if (cmd->fuse != 0 || (admin_cmd_ctrlr_scope(opc) && cmd->nsid != 0)) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD);
		goto complete;
	}
	if (!ctrlr->cc.bits.en) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
		goto complete;
	}
	if (nvmf_ctrlr_is_discovery(ctrlr) && !discovery_allows(opc)) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE);
		goto complete;
	}
	if (req->iovcnt > 0 &&
	    spio_nvme_opc_get_data_transfer(opc) == SPIO_NVME_DATA_CONTROLLER_TO_HOST) {
		/* What a command leaves unwritten reads as zeroes. */
		spio_iov_memset(req->iov, req->iovcnt, 0, req->length);
	}
	switch (opc) {
	case SPIO_NVME_OPC_IDENTIFY:
		admin_identify(req, ctrlr);
		break;
	case SPIO_NVME_OPC_GET_LOG_PAGE:
		admin_get_log_page(req, ctrlr);
		break;
	case SPIO_NVME_OPC_GET_FEATURES:
		admin_get_features(req, ctrlr);
		break;
	case SPIO_NVME_OPC_SET_FEATURES:
		admin_set_features(req, ctrlr);
		break;
	case SPIO_NVME_OPC_ASYNC_EVENT_REQUEST:
		nvmf_ctrlr_aer(req); /* held, or completed there */
		return;
	case SPIO_NVME_OPC_KEEP_ALIVE:
		nvmf_ctrlr_keep_alive(ctrlr);
		break;
	case SPIO_NVME_OPC_ABORT:
		/* Commands run to completion here: report "not aborted" (cdw0 bit 0). */
		req->rsp->cdw0 = 1;
		break;
	default:
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE);
		break;
	}
complete:
	nvmf_request_complete_remote(req);
}
