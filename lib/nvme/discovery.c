/*
 * Discovery: read a discovery controller's log page, and probe (attach
 * every NVM subsystem a discovery controller lists).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/log.h"
#include "spio/task.h"

#include "nvme/nvme_internal.h"

/* Re-reads allowed while the generation counter keeps changing. */
#define DISCOVERY_MAX_RETRIES 10

static int read_log(struct spio_nvme_ctrlr *ctrlr, void *buf, uint32_t size, uint64_t offset)
{
	struct spio_nvme_cmd cmd;

	nvme_get_log_page_cmd_init(&cmd, SPIO_NVME_LOG_DISCOVERY, 0, size, offset);
	return spio_nvme_ctrlr_cmd_admin_await(ctrlr, &cmd, buf, size, NULL);
}

int spio_nvme_discovery_get_log_await(struct spio_nvme_ctrlr *ctrlr,
				      struct spio_nvmf_discovery_log_page **log_out)
{
	struct spio_nvmf_discovery_log_page hdr;
	struct spio_nvmf_discovery_log_page *log = NULL;

	if (spio_task_current() == NULL) {
		return -EPERM;
	}
	if (ctrlr == NULL || log_out == NULL) {
		return -EINVAL;
	}
	if (!ctrlr->is_discovery) {
		return -ENOTSUP;
	}
	for (int attempt = 0; attempt < DISCOVERY_MAX_RETRIES; attempt++) {
		uint64_t numrec, genctr;
		size_t size;
		int rc = read_log(ctrlr, &hdr, sizeof(hdr), 0);

		if (rc != 0) {
			return rc;
		}
		numrec = hdr.numrec;
		genctr = hdr.genctr;
		/* A log of more than 1024 entries is not believable from a target. */
		if (numrec > 1024) {
			SPIO_ERRLOG("nvme %s: discovery log claims %lu entries\n",
				    ctrlr->trid.traddr, (unsigned long)numrec);
			return -EIO;
		}
		size = sizeof(hdr) + numrec * sizeof(struct spio_nvmf_discovery_log_page_entry);
		free(log);
		log = calloc(1, size);
		if (log == NULL) {
			return -ENOMEM;
		}
		*log = hdr;
		if (numrec > 0) {
			rc = read_log(ctrlr, log->entries,
				      (uint32_t)(numrec * sizeof(log->entries[0])), sizeof(hdr));
			if (rc == 0) {
				rc = read_log(ctrlr, &hdr, sizeof(hdr), 0);
			}
			if (rc != 0) {
				free(log);
				return rc;
			}
		}
		if (hdr.genctr == genctr) {
			log->numrec = numrec;
			*log_out = log;
			return 0;
		}
	}
	free(log);
	return -EAGAIN;
}

/* Copy a fixed-width, space- or NUL-padded log field into a C string. */
static void copy_field(char *dst, size_t dst_size, const char *src, size_t src_len)
{
	size_t n = strnlen(src, src_len);

	while (n > 0 && src[n - 1] == ' ') {
		n--;
	}
	n = SPIO_MIN(n, dst_size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void entry_to_trid(const struct spio_nvmf_discovery_log_page_entry *e,
			  const struct spio_nvme_transport_id *parent,
			  struct spio_nvme_transport_id *trid)
{
	memset(trid, 0, sizeof(*trid));
	spio_nvme_transport_id_populate_trstring(trid, (enum spio_nvme_transport_type)e->trtype);
	trid->adrfam = e->adrfam;
	copy_field(trid->traddr, sizeof(trid->traddr), (const char *)e->traddr, sizeof(e->traddr));
	copy_field(trid->trsvcid, sizeof(trid->trsvcid), (const char *)e->trsvcid,
		   sizeof(e->trsvcid));
	copy_field(trid->subnqn, sizeof(trid->subnqn), (const char *)e->subnqn, sizeof(e->subnqn));
	memcpy(trid->hostnqn, parent->hostnqn, sizeof(trid->hostnqn));
}

struct probe_ctx {
	struct spio_nvme_transport_id trid;
	struct spio_nvme_ctrlr_opts opts;
	bool has_opts;
	spio_nvme_probe_attach_cb attach_cb;
	void *attach_arg;
	spio_nvme_probe_done_cb done_cb;
	void *done_arg;
};

static int attach_listed(struct probe_ctx *pc, struct spio_nvme_ctrlr *disc)
{
	const struct spio_nvme_ctrlr_opts *opts = pc->has_opts ? &pc->opts : NULL;
	struct spio_nvmf_discovery_log_page *log;
	int rc = spio_nvme_discovery_get_log_await(disc, &log);

	if (rc != 0) {
		return rc;
	}
	for (uint64_t i = 0; i < log->numrec; i++) {
		const struct spio_nvmf_discovery_log_page_entry *e = &log->entries[i];
		struct spio_nvme_transport_id trid;
		struct spio_nvme_ctrlr *ctrlr = NULL;
		int arc;

		if (e->subtype != SPIO_NVMF_SUBTYPE_NVME) {
			continue; /* referrals to other discovery controllers are not followed */
		}
		entry_to_trid(e, &pc->trid, &trid);
		if (nvme_transport_get(trid.trtype) == NULL) {
			SPIO_NOTICELOG("nvme: discovery entry %s %s: transport not in this build\n",
				       trid.traddr, trid.subnqn);
			continue;
		}
		arc = spio_nvme_connect_await(&trid, opts, &ctrlr);
		pc->attach_cb(pc->attach_arg, &trid, ctrlr, arc);
	}
	free(log);
	return 0;
}

static int probe_task(void *arg)
{
	struct probe_ctx *pc = arg;
	const struct spio_nvme_ctrlr_opts *opts = pc->has_opts ? &pc->opts : NULL;
	struct spio_nvme_ctrlr *ctrlr = NULL;
	int rc = spio_nvme_connect_await(&pc->trid, opts, &ctrlr);

	if (rc != 0) {
		pc->attach_cb(pc->attach_arg, &pc->trid, NULL, rc);
	} else if (!ctrlr->is_discovery) {
		pc->attach_cb(pc->attach_arg, &pc->trid, ctrlr, 0);
	} else {
		rc = attach_listed(pc, ctrlr);
		spio_nvme_detach_await(ctrlr);
	}
	if (pc->done_cb != NULL) {
		pc->done_cb(pc->done_arg, rc);
	}
	free(pc);
	return rc;
}

static int probe_start(const struct spio_nvme_transport_id *trid,
		       const struct spio_nvme_ctrlr_opts *opts, spio_nvme_probe_attach_cb attach_cb,
		       void *attach_arg, spio_nvme_probe_done_cb done_cb, void *done_arg)
{
	struct probe_ctx *pc;
	int rc;

	if (trid == NULL || attach_cb == NULL || (opts != NULL && opts->opts_size == 0)) {
		return -EINVAL;
	}
	if (spio_get_thread() == NULL) {
		return -EPERM;
	}
	if (nvme_transport_get(trid->trtype) == NULL) {
		return -ENOTSUP;
	}
	pc = calloc(1, sizeof(*pc));
	if (pc == NULL) {
		return -ENOMEM;
	}
	pc->trid = *trid;
	if (opts != NULL) {
		memcpy(&pc->opts, opts, SPIO_MIN(opts->opts_size, sizeof(pc->opts)));
		pc->opts.opts_size = SPIO_MIN(opts->opts_size, sizeof(pc->opts));
		pc->has_opts = true;
	}
	pc->attach_cb = attach_cb;
	pc->attach_arg = attach_arg;
	pc->done_cb = done_cb;
	pc->done_arg = done_arg;
	rc = spio_task_spawn(probe_task, pc, NULL, NULL);
	if (rc != 0) {
		free(pc);
	}
	return rc;
}

int spio_nvme_probe_async(const struct spio_nvme_transport_id *trid,
			  const struct spio_nvme_ctrlr_opts *opts,
			  spio_nvme_probe_attach_cb attach_cb, spio_nvme_probe_done_cb done_cb,
			  void *cb_arg)
{
	return probe_start(trid, opts, attach_cb, cb_arg, done_cb, cb_arg);
}

static void probe_done(void *arg, int status)
{
	spio_completion_done(arg, status);
}

int spio_nvme_probe_await(const struct spio_nvme_transport_id *trid,
			  const struct spio_nvme_ctrlr_opts *opts,
			  spio_nvme_probe_attach_cb attach_cb, void *cb_arg)
{
	struct spio_completion c;

	if (spio_task_current() == NULL) {
		return -EPERM;
	}
	spio_completion_init(&c);
	/* The probe runs in its own task; this one waits for its end. */
	return spio_await_started(&c, probe_start(trid, opts, attach_cb, cb_arg, probe_done, &c));
}
