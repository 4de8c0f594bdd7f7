/*
 * Asynchronous event requests: kept outstanding on the admin queue; a
 * namespace attribute notice reads the changed namespace log (which
 * re-arms the event at the controller) and refreshes the namespaces, in a
 * task, before the application's callback hears of it.
 */
#include <errno.h>
#include <stdlib.h>

#include "spio/log.h"
#include "spio/task.h"

#include "nvme/nvme_internal.h"

static void aer_done(void *arg, const struct spio_nvme_cpl *cpl);

static int submit_one(struct spio_nvme_ctrlr *ctrlr)
{
	struct spio_nvme_cmd cmd = {.opc = SPIO_NVME_OPC_ASYNC_EVENT_REQUEST};

	return nvme_qpair_submit_cmd(ctrlr->adminq, &cmd, NULL, 0, NULL, 0, aer_done, ctrlr);
}

void nvme_ctrlr_submit_aers(struct spio_nvme_ctrlr *ctrlr)
{
	uint32_t want = SPIO_MIN((uint32_t)ctrlr->cdata.aerl + 1, NVME_MAX_AERS);

	ctrlr->num_aers = 0;
	while (ctrlr->num_aers < want && submit_one(ctrlr) == 0) {
		ctrlr->num_aers++;
	}
}

struct ns_event {
	struct spio_nvme_ctrlr *ctrlr;
	struct spio_nvme_cpl cpl;
};

static void tell_application(struct spio_nvme_ctrlr *ctrlr, const struct spio_nvme_cpl *cpl)
{
	if (ctrlr->aer_cb != NULL) {
		ctrlr->aer_cb(ctrlr->aer_cb_arg, cpl);
	}
}

static int ns_change_task(void *arg)
{
	struct ns_event *ev = arg;
	struct spio_nvme_ctrlr *ctrlr = ev->ctrlr;
	struct spio_nvme_ns_list *changed = malloc(sizeof(*changed));
	struct spio_nvme_cmd cmd;

	nvme_get_log_page_cmd_init(&cmd, SPIO_NVME_LOG_CHANGED_NS_LIST, SPIO_NVME_GLOBAL_NS_TAG,
				   sizeof(*changed), 0);

	do {
		ctrlr->ns_refresh_pending = false;
		if (changed != NULL) {
			/* Reading it is what re-arms the notice; its content is advisory. */
			nvme_admin_await(ctrlr, &cmd, changed, sizeof(*changed), NULL);
		}
		if (ctrlr->state == NVME_CTRLR_READY) {
			nvme_ctrlr_refresh_namespaces(ctrlr, true);
		}
	} while (ctrlr->ns_refresh_pending && ctrlr->state == NVME_CTRLR_READY);
	free(changed);
	ctrlr->busy = false;
	tell_application(ctrlr, &ev->cpl);
	free(ev);
	return 0;
}

static void start_ns_change(struct spio_nvme_ctrlr *ctrlr, const struct spio_nvme_cpl *cpl)
{
	struct ns_event *ev;

	if (ctrlr->busy) {
		/* The running control task (refresh or reset) reads namespaces again. */
		ctrlr->ns_refresh_pending = true;
		tell_application(ctrlr, cpl);
		return;
	}
	ev = malloc(sizeof(*ev));
	if (ev == NULL) {
		SPIO_ERRLOG("nvme %s: no memory to handle a namespace change\n",
			    ctrlr->trid.traddr);
		return;
	}
	ev->ctrlr = ctrlr;
	ev->cpl = *cpl;
	ctrlr->busy = true;
	if (spio_task_spawn(ns_change_task, ev, NULL, NULL) != 0) {
		ctrlr->busy = false;
		free(ev);
		SPIO_ERRLOG("nvme %s: cannot start the namespace refresh\n", ctrlr->trid.traddr);
	}
}

static void aer_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct spio_nvme_ctrlr *ctrlr = arg;
	union spio_nvme_async_event_completion ev = {.raw = cpl->cdw0};

	if (spio_nvme_cpl_is_error(cpl)) {
		/* Lost with the connection, or the controller has no more to give. */
		ctrlr->num_aers--;
		return;
	}
	if (submit_one(ctrlr) != 0) {
		ctrlr->num_aers--;
	}
	if (ev.bits.async_event_type == SPIO_NVME_ASYNC_EVENT_TYPE_NOTICE &&
	    ev.bits.async_event_info == SPIO_NVME_ASYNC_EVENT_NS_ATTR_CHANGED) {
		start_ns_change(ctrlr, cpl);
		return;
	}
	tell_application(ctrlr, cpl);
}
