/*
 * The discovery log page: for each subsystem a host may use, one entry per
 * listener of it, the discovery subsystem's own listeners included (as
 * "current discovery subsystem" entries), as SPDK lays them out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvmf/nvmf_core.h"

static void pad_copy(char *dst, const char *src, size_t size)
{
	size_t len = strnlen(src, size);

	memcpy(dst, src, len);
	memset(dst + len, ' ', size - len);
}

static void fill_entry(struct spio_nvmf_discovery_log_page_entry *e,
		       const struct spio_nvmf_subsystem *subsystem, const struct nvmf_listener *l)
{
	const struct spio_nvme_transport_id *trid = &l->trid;

	memset(e, 0, sizeof(*e));
	e->trtype = trid->trtype == SPIO_NVME_TRANSPORT_CUSTOM ? 0 : (uint8_t)trid->trtype;
	e->adrfam = (uint8_t)trid->adrfam;
	e->subtype = (uint8_t)subsystem->subtype;
	e->treq.secure_channel = SPIO_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED;
	e->portid = l->portid;
	e->cntlid = SPIO_NVMF_CNTLID_DYNAMIC;
	e->asqsz = (uint16_t)SPIO_MIN(l->transport->opts.max_aq_depth, UINT16_MAX);
	if (subsystem->subtype == SPIO_NVMF_SUBTYPE_DISCOVERY_SUBSYS) {
		/* Every listener of it leads to the same log; it keeps AERs on a persistent link.
		 */
		e->eflags = SPIO_NVMF_DISCOVERY_LOG_EFLAGS_DUPRETINFO |
			    SPIO_NVMF_DISCOVERY_LOG_EFLAGS_EPCSD;
	}
	pad_copy(e->trsvcid, trid->trsvcid, sizeof(e->trsvcid));
	snprintf(e->subnqn, sizeof(e->subnqn), "%s", subsystem->nqn);
	pad_copy(e->traddr, trid->traddr, sizeof(e->traddr));
	e->tsas.tcp.sectype = SPIO_NVMF_TCP_SECTYPE_NONE;
}

void *nvmf_discovery_log_build(struct spio_nvmf_tgt *tgt, const char *hostnqn, size_t *size)
{
	struct spio_nvmf_discovery_log_page *log;
	struct spio_nvmf_subsystem *subsystem;
	struct spio_nvmf_subsystem_listener *sl;
	uint64_t n = 0;

	TAILQ_FOREACH (subsystem, &tgt->subsystems, link) {
		if (subsystem->op == NVMF_SUBSYS_OP_DESTROY ||
		    !spio_nvmf_subsystem_host_allowed(subsystem, hostnqn)) {
			continue;
		}
		TAILQ_FOREACH (sl, &subsystem->listeners, link) {
			n++;
		}
	}
	*size = sizeof(*log) + n * sizeof(log->entries[0]);
	log = calloc(1, *size);
	if (log == NULL) {
		return NULL;
	}
	log->genctr = tgt->discovery_genctr;
	log->numrec = n;
	log->recfmt = 0;
	n = 0;
	TAILQ_FOREACH (subsystem, &tgt->subsystems, link) {
		if (subsystem->op == NVMF_SUBSYS_OP_DESTROY ||
		    !spio_nvmf_subsystem_host_allowed(subsystem, hostnqn)) {
			continue;
		}
		TAILQ_FOREACH (sl, &subsystem->listeners, link) {
			fill_entry(&log->entries[n++], subsystem, sl->listener);
		}
	}
	return log;
}
