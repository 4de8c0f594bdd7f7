/*
 * Controllers (target thread): fabrics connect of admin and I/O queues,
 * the controller's properties (CAP, VS, CC, CSTS) and their enable /
 * reset / shutdown transitions, keep-alive, asynchronous events and the
 * changed namespace list, and the controller's end once its queues have
 * gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/env.h"
#include "spio/log.h"
#include "spio/util.h"

#include "nvme/nvme_fabric.h"
#include "nvmf/nvmf_core.h"

#define CONNECT_CMD_IPO(field) ((uint16_t)offsetof(struct spio_nvmf_fabric_connect_cmd, field))
#define CONNECT_DATA_IPO(field) ((uint16_t)offsetof(struct spio_nvmf_fabric_connect_data, field))

/* The only SQE / CQE sizes over fabrics: 64 and 16 bytes (2^6, 2^4). */
#define IOSQES 6
#define IOCQES 4

bool nvmf_ctrlr_is_discovery(const struct nvmf_ctrlr *ctrlr)
{
	return ctrlr->subsys->subtype == SPIO_NVMF_SUBTYPE_DISCOVERY_SUBSYS;
}

static void remote_complete_msg(void *arg)
{
	nvmf_request_complete(arg);
}

void nvmf_request_complete_remote(struct nvmf_request *req)
{
	nvmf_send(req->qpair->group->thread, &req->msg, remote_complete_msg, req);
}

/*
 * Keep-alive
 */

uint32_t nvmf_ctrlr_round_kato(uint32_t kato_ms)
{
	/* Up to the granularity we report in KAS; no overflow near UINT32_MAX. */
	if (kato_ms > UINT32_MAX - NVMF_KAS_MS) {
		return UINT32_MAX / NVMF_KAS_MS * NVMF_KAS_MS;
	}
	return (kato_ms + NVMF_KAS_MS - 1) / NVMF_KAS_MS * NVMF_KAS_MS;
}

static int ka_poll(void *arg)
{
	struct nvmf_ctrlr *ctrlr = arg;
	uint64_t now = nvmf_get_ticks();
	uint64_t limit = (uint64_t)ctrlr->feat.keep_alive_timer * spio_get_ticks_hz() / 1000;

	if (now - ctrlr->last_keep_alive <= limit) {
		return SPIO_POLLER_IDLE;
	}
	SPIO_NOTICELOG("nvmf: subsystem %s: host %s (controller %u) sent no keep alive for %u ms: "
		       "disconnecting\n",
		       ctrlr->subsys->nqn, ctrlr->hostnqn, ctrlr->cntlid,
		       ctrlr->feat.keep_alive_timer);
	ctrlr->csts.bits.cfs = 1;
	nvmf_ctrlr_disconnect(ctrlr);
	return SPIO_POLLER_BUSY;
}

void nvmf_ctrlr_keep_alive(struct nvmf_ctrlr *ctrlr)
{
	ctrlr->last_keep_alive = nvmf_get_ticks();
}

void nvmf_ctrlr_set_kato(struct nvmf_ctrlr *ctrlr, uint32_t kato_ms)
{
	ctrlr->feat.keep_alive_timer = kato_ms;
	ctrlr->last_keep_alive = nvmf_get_ticks();
	if (kato_ms == 0 || ctrlr->disconnecting) {
		spio_poller_unregister(&ctrlr->ka_poller);
		return;
	}
	if (ctrlr->ka_poller == NULL) {
		/* Checked every KAS unit: a silent host goes within KATO + 100 ms. */
		ctrlr->ka_poller =
		    spio_poller_register_named(ka_poll, ctrlr, NVMF_KAS_MS * 1000, "nvmf_ka");
		if (ctrlr->ka_poller == NULL) {
			SPIO_ERRLOG("nvmf: controller %u: no keep-alive poller\n", ctrlr->cntlid);
		}
	}
}

/*
 * Asynchronous events
 */

static void ctrlr_event(struct nvmf_ctrlr *ctrlr, uint32_t cdw0)
{
	struct nvmf_request *req;

	if (ctrlr->disconnecting) {
		return;
	}
	if (ctrlr->nr_aer_reqs == 0) {
		if (ctrlr->nr_pending_events < NVMF_MAX_PENDING_EVENTS) {
			ctrlr->pending_events[ctrlr->nr_pending_events++] = cdw0;
		}
		return;
	}
	req = ctrlr->aer_reqs[0];
	ctrlr->nr_aer_reqs--;
	memmove(&ctrlr->aer_reqs[0], &ctrlr->aer_reqs[1],
		ctrlr->nr_aer_reqs * sizeof(ctrlr->aer_reqs[0]));
	req->rsp->cdw0 = cdw0;
	nvmf_request_complete_remote(req);
}

static uint32_t notice_cdw0(uint8_t info, uint8_t lid)
{
	union spio_nvme_async_event_completion e = {.raw = 0};

	e.bits.async_event_type = SPIO_NVME_ASYNC_EVENT_TYPE_NOTICE;
	e.bits.async_event_info = info;
	e.bits.log_page_identifier = lid;
	return e.raw;
}

void nvmf_ctrlr_aer(struct nvmf_request *req)
{
	struct nvmf_ctrlr *ctrlr = req->qpair->ctrlr;

	if (ctrlr->nr_aer_reqs >= NVMF_MAX_ASYNC_EVENTS) {
		nvmf_req_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC,
				SPIO_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED);
		nvmf_request_complete_remote(req);
		return;
	}
	if (ctrlr->nr_pending_events > 0) {
		req->rsp->cdw0 = ctrlr->pending_events[0];
		ctrlr->nr_pending_events--;
		memmove(&ctrlr->pending_events[0], &ctrlr->pending_events[1],
			ctrlr->nr_pending_events * sizeof(ctrlr->pending_events[0]));
		nvmf_request_complete_remote(req);
		return;
	}
	ctrlr->aer_reqs[ctrlr->nr_aer_reqs++] = req;
}

void nvmf_ctrlr_unmask_aen(struct nvmf_ctrlr *ctrlr, uint32_t bit)
{
	ctrlr->aen_mask &= ~bit;
}

void nvmf_ctrlr_ns_changed(struct nvmf_ctrlr *ctrlr, uint32_t nsid)
{
	union spio_nvme_feat_async_event_configuration aec = {
	    .raw = ctrlr->feat.async_event_configuration};
	uint32_t max = SPIO_COUNTOF(ctrlr->changed_ns_list.ns_list);
	uint32_t i;

	for (i = 0; i < ctrlr->changed_ns_count; i++) {
		if (ctrlr->changed_ns_list.ns_list[i] == nsid) {
			break;
		}
	}
	if (i == ctrlr->changed_ns_count && ctrlr->changed_ns_list.ns_list[0] != UINT32_MAX) {
		if (ctrlr->changed_ns_count == max) {
			/* More than the list holds: FFFFFFFFh alone says "rescan them all". */
			memset(&ctrlr->changed_ns_list, 0, sizeof(ctrlr->changed_ns_list));
			ctrlr->changed_ns_list.ns_list[0] = UINT32_MAX;
		} else {
			/* Kept in increasing order, as the spec lays the list out. */
			uint32_t at = ctrlr->changed_ns_count;

			while (at > 0 && ctrlr->changed_ns_list.ns_list[at - 1] > nsid) {
				ctrlr->changed_ns_list.ns_list[at] =
				    ctrlr->changed_ns_list.ns_list[at - 1];
				at--;
			}
			ctrlr->changed_ns_list.ns_list[at] = nsid;
			ctrlr->changed_ns_count++;
		}
	}
	if (!aec.bits.ns_attr_notice || (ctrlr->aen_mask & NVMF_AEN_NS_ATTR)) {
		return;
	}
	ctrlr->aen_mask |= NVMF_AEN_NS_ATTR;
	ctrlr_event(ctrlr, notice_cdw0(SPIO_NVME_ASYNC_EVENT_NS_ATTR_CHANGED,
				       SPIO_NVME_LOG_CHANGED_NS_LIST));
}

void nvmf_ctrlr_discovery_changed(struct nvmf_ctrlr *ctrlr)
{
	union spio_nvme_feat_async_event_configuration aec = {
	    .raw = ctrlr->feat.async_event_configuration};

	if (!aec.bits.discovery_log_change_notice || (ctrlr->aen_mask & NVMF_AEN_DISCOVERY)) {
		return;
	}
	ctrlr->aen_mask |= NVMF_AEN_DISCOVERY;
	ctrlr_event(ctrlr, notice_cdw0(SPIO_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE,
				       SPIO_NVME_LOG_DISCOVERY));
}

/*
 * Controller life
 */

/* Group thread: the target thread wants this connection gone. */
static void qpair_close_from_tgt(void *arg)
{
	struct nvmf_qpair *qpair = arg;

	if (qpair->state == NVMF_QPAIR_UNINITIALIZED || qpair->state == NVMF_QPAIR_ACTIVE) {
		qpair->transport->ops->qpair_close(qpair);
	}
}

static void ctrlr_close_qpair(struct nvmf_qpair *qpair)
{
	if (qpair->close_sent) {
		return;
	}
	qpair->close_sent = true;
	nvmf_send(qpair->group->thread, &qpair->close_msg, qpair_close_from_tgt, qpair);
}

static void ctrlr_close_io_qpairs(struct nvmf_ctrlr *ctrlr)
{
	struct nvmf_qpair *qpair;

	TAILQ_FOREACH (qpair, &ctrlr->io_qpairs, ctrlr_link) {
		ctrlr_close_qpair(qpair);
	}
}

void nvmf_ctrlr_disconnect(struct nvmf_ctrlr *ctrlr)
{
	if (ctrlr->disconnecting) {
		return;
	}
	SPIO_DEBUGLOG(nvmf, "subsystem %s: controller %u of %s disconnects\n", ctrlr->subsys->nqn,
		      ctrlr->cntlid, ctrlr->hostnqn);
	ctrlr->disconnecting = true;
	spio_poller_unregister(&ctrlr->ka_poller);
	if (ctrlr->admin_qpair != NULL) {
		ctrlr_close_qpair(ctrlr->admin_qpair);
	}
	ctrlr_close_io_qpairs(ctrlr);
}

static void ctrlr_free(struct nvmf_ctrlr *ctrlr)
{
	struct spio_nvmf_subsystem *subsystem = ctrlr->subsys;

	SPIO_DEBUGLOG(nvmf, "subsystem %s: controller %u freed\n", subsystem->nqn, ctrlr->cntlid);
	spio_poller_unregister(&ctrlr->ka_poller);
	TAILQ_REMOVE(&subsystem->ctrlrs, ctrlr, link);
	free(ctrlr->qid_map);
	free(ctrlr);
	nvmf_subsystem_ctrlr_gone(subsystem);
}

/* The I/O queues a CC reset or shutdown closed are all gone. */
static void ctrlr_cc_change_done(struct nvmf_ctrlr *ctrlr)
{
	if (ctrlr->cc_change == NVMF_CC_RESET) {
		/* A reset clears the registers; CFS stays until the association ends. */
		uint32_t cfs = ctrlr->csts.bits.cfs;

		ctrlr->cc.raw = 0;
		ctrlr->csts.raw = 0;
		ctrlr->csts.bits.cfs = cfs;
	} else if (ctrlr->cc_change == NVMF_CC_SHUTDOWN) {
		ctrlr->csts.bits.shst = SPIO_NVME_SHST_COMPLETE;
	}
	ctrlr->cc_change = NVMF_CC_NONE;
}

static void ctrlr_fold_counters(struct nvmf_smart_counters *sum, const struct nvmf_qpair *qpair)
{
	sum->read_cmds += __atomic_load_n(&qpair->stat_read_cmds, __ATOMIC_RELAXED);
	sum->write_cmds += __atomic_load_n(&qpair->stat_write_cmds, __ATOMIC_RELAXED);
	sum->read_blocks512 += __atomic_load_n(&qpair->stat_read_blocks512, __ATOMIC_RELAXED);
	sum->write_blocks512 += __atomic_load_n(&qpair->stat_write_blocks512, __ATOMIC_RELAXED);
}

void nvmf_ctrlr_get_smart_counters(const struct nvmf_ctrlr *ctrlr,
				   struct nvmf_smart_counters *counters)
{
	const struct nvmf_qpair *qpair;

	*counters = ctrlr->gone;
	/* Queues still attached count as they go (read racily: statistics). */
	TAILQ_FOREACH (qpair, &ctrlr->io_qpairs, ctrlr_link) {
		ctrlr_fold_counters(counters, qpair);
	}
}

static bool qid_test(const struct nvmf_ctrlr *ctrlr, uint16_t qid)
{
	return (ctrlr->qid_map[qid / 64] & (1ull << (qid % 64))) != 0;
}

static void qid_set(struct nvmf_ctrlr *ctrlr, uint16_t qid, bool on)
{
	if (on) {
		ctrlr->qid_map[qid / 64] |= 1ull << (qid % 64);
	} else {
		ctrlr->qid_map[qid / 64] &= ~(1ull << (qid % 64));
	}
}

void nvmf_ctrlr_detach_qpair(struct nvmf_qpair *qpair)
{
	struct nvmf_ctrlr *ctrlr = qpair->ctrlr;

	if (qpair == ctrlr->admin_qpair) {
		/* Held AERs end with their queue. */
		for (uint32_t i = 0; i < ctrlr->nr_aer_reqs; i++) {
			nvmf_req_status(ctrlr->aer_reqs[i], SPIO_NVME_SCT_GENERIC,
					SPIO_NVME_SC_ABORTED_SQ_DELETION);
			nvmf_request_complete_remote(ctrlr->aer_reqs[i]);
		}
		ctrlr->nr_aer_reqs = 0;
		ctrlr->admin_qpair = NULL;
		/* The association ends with its admin queue. */
		nvmf_ctrlr_disconnect(ctrlr);
	} else {
		TAILQ_REMOVE(&ctrlr->io_qpairs, qpair, ctrlr_link);
		ctrlr->num_io_qpairs--;
		qid_set(ctrlr, qpair->qid, false);
		ctrlr_fold_counters(&ctrlr->gone, qpair);
		if (ctrlr->cc_change != NVMF_CC_NONE && ctrlr->num_io_qpairs == 0) {
			ctrlr_cc_change_done(ctrlr);
		}
	}
	if (ctrlr->admin_qpair == NULL && TAILQ_EMPTY(&ctrlr->io_qpairs)) {
		ctrlr_free(ctrlr);
	}
}

/*
 * Connect
 */

static void connect_invalid(struct nvmf_request *req, uint8_t iattr, uint16_t ipo)
{
	struct nvme_fabric_connect_error err = {
	    .sct = SPIO_NVME_SCT_COMMAND_SPECIFIC,
	    .sc = SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
	    .iattr = iattr,
	    .ipo = ipo,
	};

	nvme_fabric_connect_rsp_fail(req->rsp, &err);
}

static void connect_status(struct nvmf_request *req, uint8_t sct, uint8_t sc)
{
	struct nvme_fabric_connect_error err = {.sct = sct, .sc = sc};

	nvme_fabric_connect_rsp_fail(req->rsp, &err);
}

static void ctrlr_init_regs(struct nvmf_ctrlr *ctrlr, const struct spio_nvmf_transport_opts *o)
{
	ctrlr->cap.raw = 0;
	ctrlr->cap.bits.mqes = o->max_queue_depth - 1;
	ctrlr->cap.bits.cqr = 1; /* required over fabrics */
	ctrlr->cap.bits.to = NVMF_CAP_TO;
	ctrlr->cap.bits.css = SPIO_NVME_CAP_CSS_NVM;
	ctrlr->vs.raw = SPIO_NVME_VERSION(1, 3, 0);
	ctrlr->cc.raw = 0;
	ctrlr->csts.raw = 0;
}

static struct nvmf_ctrlr *ctrlr_create(struct nvmf_request *req,
				       struct spio_nvmf_subsystem *subsystem,
				       const struct nvme_fabric_connect *c)
{
	struct nvmf_qpair *qpair = req->qpair;
	const struct spio_nvmf_transport_opts *o = &qpair->transport->opts;
	union spio_nvme_feat_async_event_configuration aec = {.raw = 0};
	union spio_nvme_feat_number_of_queues nq = {.raw = 0};
	union spio_nvme_feat_volatile_write_cache vwc = {.raw = 0};
	struct nvmf_ctrlr *ctrlr;
	uint32_t kato;

	ctrlr = calloc(1, sizeof(*ctrlr));
	if (ctrlr == NULL) {
		return NULL;
	}
	ctrlr->max_qid = o->max_io_qpairs_per_ctrlr;
	ctrlr->qid_map = calloc(ctrlr->max_qid / 64 + 1, sizeof(uint64_t));
	if (ctrlr->qid_map == NULL) {
		free(ctrlr);
		return NULL;
	}
	ctrlr->cntlid = nvmf_subsystem_gen_cntlid(subsystem);
	if (ctrlr->cntlid == SPIO_NVMF_CNTLID_DYNAMIC) {
		SPIO_ERRLOG("nvmf: subsystem %s: every controller ID of %u-%u is in use\n",
			    subsystem->nqn, subsystem->min_cntlid, subsystem->max_cntlid);
		free(ctrlr->qid_map);
		free(ctrlr);
		return NULL;
	}
	ctrlr->subsys = subsystem;
	ctrlr->tgt = subsystem->tgt;
	ctrlr->transport = qpair->transport;
	snprintf(ctrlr->hostnqn, sizeof(ctrlr->hostnqn), "%s", c->hostnqn);
	memcpy(ctrlr->hostid, c->hostid, sizeof(ctrlr->hostid));
	ctrlr->listen_trid = qpair->listen_trid;
	ctrlr->admin_qpair = qpair;
	TAILQ_INIT(&ctrlr->io_qpairs);
	ctrlr_init_regs(ctrlr, o);

	nq.bits.nsqr = o->max_io_qpairs_per_ctrlr - 1;
	nq.bits.ncqr = o->max_io_qpairs_per_ctrlr - 1;
	ctrlr->feat.number_of_queues = nq.raw;
	vwc.bits.wce = 1;
	ctrlr->feat.volatile_write_cache = vwc.raw;
	aec.bits.ns_attr_notice = 1;
	kato = nvmf_ctrlr_round_kato(c->kato_ms);
	if (subsystem->subtype == SPIO_NVMF_SUBTYPE_DISCOVERY_SUBSYS) {
		/* A host that asked for a persistent connection (KATO) gets log change events. */
		aec.bits.ns_attr_notice = 0;
		aec.bits.discovery_log_change_notice = kato != 0;
		if (kato == 0) {
			kato = NVMF_DISC_KATO_MS;
		}
	}
	ctrlr->feat.async_event_configuration = aec.raw;
	TAILQ_INSERT_TAIL(&subsystem->ctrlrs, ctrlr, link);
	nvmf_ctrlr_set_kato(ctrlr, kato);
	SPIO_NOTICELOG("nvmf: subsystem %s: host %s connected as controller %u (KATO %u ms)\n",
		       subsystem->nqn, ctrlr->hostnqn, ctrlr->cntlid, kato);
	return ctrlr;
}

/* An I/O queue joins controller c->cntlid; the response is set on refusal. */
static struct nvmf_ctrlr *ctrlr_add_io_qpair(struct nvmf_request *req,
					     struct spio_nvmf_subsystem *subsystem,
					     const struct nvme_fabric_connect *c)
{
	struct nvmf_qpair *qpair = req->qpair;
	struct nvmf_ctrlr *ctrlr = nvmf_subsystem_find_ctrlr(subsystem, c->cntlid);

	if (ctrlr == NULL) {
		SPIO_ERRLOG("nvmf: subsystem %s: I/O connect for unknown controller %u\n",
			    subsystem->nqn, c->cntlid);
		connect_invalid(req, 1, CONNECT_DATA_IPO(cntlid));
		return NULL;
	}
	if (strcmp(ctrlr->hostnqn, c->hostnqn) != 0) {
		SPIO_ERRLOG("nvmf: subsystem %s: I/O connect of host %s for controller %u of %s\n",
			    subsystem->nqn, c->hostnqn, ctrlr->cntlid, ctrlr->hostnqn);
		connect_invalid(req, 1, CONNECT_DATA_IPO(hostnqn));
		return NULL;
	}
	if (memcmp(ctrlr->hostid, c->hostid, sizeof(ctrlr->hostid)) != 0) {
		SPIO_ERRLOG("nvmf: subsystem %s: I/O connect for controller %u with another host "
			    "ID\n",
			    subsystem->nqn, ctrlr->cntlid);
		connect_invalid(req, 1, CONNECT_DATA_IPO(hostid));
		return NULL;
	}
	if (ctrlr->disconnecting || ctrlr->admin_qpair == NULL || nvmf_ctrlr_is_discovery(ctrlr) ||
	    !ctrlr->cc.bits.en || ctrlr->cc.bits.iosqes != IOSQES ||
	    ctrlr->cc.bits.iocqes != IOCQES) {
		SPIO_ERRLOG("nvmf: subsystem %s: controller %u takes no I/O queue now (CC %#x)\n",
			    subsystem->nqn, ctrlr->cntlid, ctrlr->cc.raw);
		connect_invalid(req, 0, CONNECT_CMD_IPO(qid));
		return NULL;
	}
	/*
	 * A host may reuse the id of a queue whose connection the target has
	 * not yet seen close (SPDK's host takes the lowest free id): as SPDK's
	 * target, look again once a moment later before refusing.
	 */
	if (c->qid <= ctrlr->max_qid && qid_test(ctrlr, c->qid) &&
	    !(req->core_flags & NVMF_REQ_CONNECT_RETRIED)) {
		SPIO_WARNLOG("nvmf: subsystem %s: controller %u: qid %u in use, checking again in "
			     "%u us\n",
			     subsystem->nqn, ctrlr->cntlid, c->qid, NVMF_DUP_QID_RETRY_US);
		req->core_flags |= NVMF_REQ_CONNECT_RETRY;
		return NULL;
	}
	if (c->qid > ctrlr->max_qid || qid_test(ctrlr, c->qid)) {
		SPIO_ERRLOG("nvmf: subsystem %s: controller %u: qid %u %s\n", subsystem->nqn,
			    ctrlr->cntlid, c->qid,
			    c->qid > ctrlr->max_qid ? "beyond the limit" : "in use");
		connect_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC,
			       SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER);
		return NULL;
	}
	qid_set(ctrlr, c->qid, true);
	TAILQ_INSERT_TAIL(&ctrlr->io_qpairs, qpair, ctrlr_link);
	ctrlr->num_io_qpairs++;
	return ctrlr;
}

/* Target thread: decide a connect; set the response and req->connect_ctrlr. */
static void connect_decide(struct nvmf_request *req)
{
	struct nvmf_qpair *qpair = req->qpair;
	struct spio_nvmf_tgt *tgt = qpair->group->tgt;
	const struct spio_nvmf_transport_opts *o = &qpair->transport->opts;
	struct spio_nvmf_fabric_connect_data data;
	struct nvme_fabric_connect c;
	struct nvme_fabric_connect_error err;
	struct spio_nvmf_subsystem *subsystem;
	struct nvmf_ctrlr *ctrlr;
	uint32_t len = SPIO_MIN(req->length, (uint32_t)sizeof(data));

	memset(&data, 0, sizeof(data));
	if (req->iovcnt > 0) {
		len = (uint32_t)spio_copy_iovs_to_buf(&data, len, req->iov, req->iovcnt);
	} else {
		len = 0;
	}
	if (nvme_fabric_connect_parse(req->cmd, len > 0 ? &data : NULL, len, &c, &err) != 0) {
		nvme_fabric_connect_rsp_fail(req->rsp, &err);
		return;
	}
	subsystem = spio_nvmf_tgt_find_subsystem(tgt, c.subnqn);
	if (subsystem == NULL || subsystem->op == NVMF_SUBSYS_OP_DESTROY ||
	    tgt->state != NVMF_TGT_RUNNING) {
		SPIO_ERRLOG("nvmf: connect of host %s to unknown subsystem %s\n", c.hostnqn,
			    c.subnqn);
		connect_invalid(req, 1, CONNECT_DATA_IPO(subnqn));
		return;
	}
	/* Refused hosts get Invalid Host and nothing else is done. */
	if (!spio_nvmf_subsystem_host_allowed(subsystem, c.hostnqn)) {
		SPIO_ERRLOG("nvmf: subsystem %s does not allow host %s\n", subsystem->nqn,
			    c.hostnqn);
		connect_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC,
			       SPIO_NVMF_FABRIC_SC_INVALID_HOST);
		return;
	}
	/* The discovery subsystem answers on every address the target listens on (SPDK). */
	if (subsystem->subtype != SPIO_NVMF_SUBTYPE_DISCOVERY_SUBSYS &&
	    !nvmf_subsystem_listens_on(subsystem, &qpair->listen_trid)) {
		SPIO_ERRLOG("nvmf: subsystem %s does not listen on %s:%s (host %s)\n",
			    subsystem->nqn, qpair->listen_trid.traddr, qpair->listen_trid.trsvcid,
			    c.hostnqn);
		connect_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC,
			       SPIO_NVMF_FABRIC_SC_INVALID_HOST);
		return;
	}
	if (c.sqsize >= (c.qid == 0 ? o->max_aq_depth : o->max_queue_depth)) {
		SPIO_ERRLOG("nvmf: subsystem %s: qid %u SQSIZE %u above the limit %u\n",
			    subsystem->nqn, c.qid, c.sqsize,
			    (c.qid == 0 ? o->max_aq_depth : o->max_queue_depth) - 1);
		connect_invalid(req, 0, CONNECT_CMD_IPO(sqsize));
		return;
	}
	if (c.qid == 0) {
		if (c.cntlid != SPIO_NVMF_CNTLID_DYNAMIC) {
			SPIO_ERRLOG("nvmf: subsystem %s: admin connect for static controller %u\n",
				    subsystem->nqn, c.cntlid);
			connect_invalid(req, 1, CONNECT_DATA_IPO(cntlid));
			return;
		}
		ctrlr = ctrlr_create(req, subsystem, &c);
		if (ctrlr == NULL) {
			connect_status(req, SPIO_NVME_SCT_GENERIC,
				       SPIO_NVME_SC_INTERNAL_DEVICE_ERROR);
			return;
		}
	} else {
		ctrlr = ctrlr_add_io_qpair(req, subsystem, &c);
		if (ctrlr == NULL) {
			return;
		}
	}
	req->connect_ctrlr = ctrlr;
	nvme_fabric_connect_rsp_build(req->rsp, ctrlr->cntlid);
}

static void connect_reply_msg(void *arg)
{
	struct nvmf_request *req = arg;
	const struct spio_nvmf_fabric_connect_cmd *cc =
	    (const struct spio_nvmf_fabric_connect_cmd *)req->cmd;

	nvmf_qpair_connected(req->qpair, req->connect_ctrlr, cc->qid, (uint32_t)cc->sqsize + 1);
	if (req->connect_ctrlr != NULL && (cc->cattr & SPIO_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW)) {
		req->qpair->flags |= NVMF_QPAIR_F_NO_SQFC;
	}
	nvmf_request_complete(req);
}

static void connect_msg(void *arg);

static int connect_retry_poll(void *arg)
{
	struct nvmf_request *req = arg;

	if (nvmf_get_ticks() < req->connect_retry_at) {
		return SPIO_POLLER_IDLE;
	}
	spio_poller_unregister(&req->connect_retry);
	connect_msg(req);
	return SPIO_POLLER_BUSY;
}

static void connect_msg(void *arg)
{
	struct nvmf_request *req = arg;

	connect_decide(req);
	if (req->core_flags & NVMF_REQ_CONNECT_RETRY) {
		req->core_flags &= (uint8_t)~NVMF_REQ_CONNECT_RETRY;
		req->core_flags |= NVMF_REQ_CONNECT_RETRIED;
		req->connect_retry_at =
		    nvmf_get_ticks() + NVMF_DUP_QID_RETRY_US * spio_get_ticks_hz() / 1000000;
		req->connect_retry = spio_poller_register_named(
		    connect_retry_poll, req, NVMF_DUP_QID_RETRY_US / 10, "nvmf_connect_retry");
		if (req->connect_retry != NULL) {
			return;
		}
		connect_decide(req); /* no poller: decide now, which refuses */
	}
	nvmf_send(req->qpair->group->thread, &req->msg, connect_reply_msg, req);
}

void nvmf_ctrlr_connect(struct nvmf_request *req)
{
	struct nvmf_qpair *qpair = req->qpair;

	if (qpair->flags & NVMF_QPAIR_F_CONNECTING) {
		nvmf_req_status(req, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR);
		nvmf_request_complete(req);
		return;
	}
	qpair->flags |= NVMF_QPAIR_F_CONNECTING;
	req->connect_ctrlr = NULL;
	req->core_flags &= (uint8_t) ~(NVMF_REQ_CONNECT_RETRY | NVMF_REQ_CONNECT_RETRIED);
	nvmf_send(qpair->group->tgt->thread, &req->msg, connect_msg, req);
}

/*
 * Properties
 */

struct prop {
	uint32_t ofst;
	uint8_t size;
};

/* The properties of a fabrics controller (AQA / ASQ / ACQ are PCIe's). */
static const struct prop g_props[] = {
    {SPIO_NVME_REG_CAP, 8},  {SPIO_NVME_REG_VS, 4},   {SPIO_NVME_REG_CC, 4},
    {SPIO_NVME_REG_CSTS, 4}, {SPIO_NVME_REG_NSSR, 4},
};

static const struct prop *find_prop(uint32_t ofst, uint8_t size)
{
	for (size_t i = 0; i < SPIO_COUNTOF(g_props); i++) {
		if (ofst >= g_props[i].ofst &&
		    (uint64_t)ofst + size <= g_props[i].ofst + g_props[i].size) {
			return &g_props[i];
		}
	}
	return NULL;
}

static uint64_t prop_value(const struct nvmf_ctrlr *ctrlr, uint32_t ofst)
{
	switch (ofst) {
	case SPIO_NVME_REG_CAP:
		return ctrlr->cap.raw;
	case SPIO_NVME_REG_VS:
		return ctrlr->vs.raw;
	case SPIO_NVME_REG_CC:
		return ctrlr->cc.raw;
	case SPIO_NVME_REG_CSTS:
		return ctrlr->csts.raw;
	default:
		return 0;
	}
}

/* Begin a reset or shutdown: close the I/O queues, finish when they are gone. */
static void ctrlr_start_cc_change(struct nvmf_ctrlr *ctrlr, enum nvmf_cc_change change)
{
	ctrlr->cc_change = change;
	if (ctrlr->num_io_qpairs == 0) {
		ctrlr_cc_change_done(ctrlr);
		return;
	}
	ctrlr_close_io_qpairs(ctrlr);
}

static bool prop_set_cc(struct nvmf_ctrlr *ctrlr, uint32_t value)
{
	union spio_nvme_cc_register cc = {.raw = value}, diff;

	diff.raw = cc.raw ^ ctrlr->cc.raw;
	if (diff.bits.ams || diff.bits.mps || cc.bits.css > SPIO_NVME_CC_CSS_IOCS ||
	    (diff.bits.shn && cc.bits.shn == 3)) {
		SPIO_ERRLOG("nvmf: controller %u: CC %#x not supported (was %#x)\n", ctrlr->cntlid,
			    cc.raw, ctrlr->cc.raw);
		return false;
	}
	ctrlr->cc.bits.iosqes = cc.bits.iosqes;
	ctrlr->cc.bits.iocqes = cc.bits.iocqes;
	ctrlr->cc.bits.css = cc.bits.css;
	if (diff.bits.en) {
		if (cc.bits.en) {
			ctrlr->cc.bits.en = 1;
			ctrlr->csts.bits.rdy = 1;
		} else if (ctrlr->cc_change == NVMF_CC_NONE) {
			ctrlr->cc.bits.en = 0;
			ctrlr_start_cc_change(ctrlr, NVMF_CC_RESET);
		}
	}
	if (diff.bits.shn) {
		if (cc.bits.shn == 0) {
			ctrlr->cc.bits.shn = 0;
		} else if (ctrlr->cc_change == NVMF_CC_NONE) {
			ctrlr->cc.bits.shn = cc.bits.shn;
			ctrlr->csts.bits.shst = SPIO_NVME_SHST_OCCURRING;
			/* From a shutdown on, keep-alive is no longer checked (as SPDK). */
			spio_poller_unregister(&ctrlr->ka_poller);
			ctrlr_start_cc_change(ctrlr, NVMF_CC_SHUTDOWN);
		}
	}
	return true;
}

static bool prop_set(struct nvmf_ctrlr *ctrlr, uint32_t ofst, uint64_t value)
{
	switch (ofst) {
	case SPIO_NVME_REG_CC:
		return prop_set_cc(ctrlr, (uint32_t)value);
	case SPIO_NVME_REG_CSTS:
		/* Only NSSRO is writable (1 clears), and it is never set here. */
		return true;
	default:
		/* NSSR without subsystem reset support, read-only CAP / VS. */
		return false;
	}
}

void nvmf_ctrlr_property(struct nvmf_request *req)
{
	struct nvmf_ctrlr *ctrlr = req->qpair->ctrlr;
	struct nvme_fabric_prop p;
	const struct prop *prop;
	uint64_t value;

	if (nvme_fabric_prop_parse(req->cmd, &p) != 0 ||
	    (prop = find_prop(p.ofst, p.size)) == NULL) {
		nvmf_req_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC,
				SPIO_NVMF_FABRIC_SC_INVALID_PARAM);
		nvmf_request_complete_remote(req);
		return;
	}
	if (!p.set) {
		value = prop_value(ctrlr, prop->ofst);
		if (p.size < prop->size) {
			/* 4 bytes of an 8-byte property: the half at ofst. */
			value = p.ofst == prop->ofst ? (uint32_t)value : value >> 32;
		}
		nvme_fabric_prop_get_rsp_build(req->rsp, value);
	} else if (p.size != 4 || p.ofst != prop->ofst || !prop_set(ctrlr, prop->ofst, p.value)) {
		/* Every writable property here is 4 bytes. */
		nvmf_req_status(req, SPIO_NVME_SCT_COMMAND_SPECIFIC,
				SPIO_NVMF_FABRIC_SC_INVALID_PARAM);
	}
	nvmf_request_complete_remote(req);
}
