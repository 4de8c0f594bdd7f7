/*
 * The nvme bdev module's controller side: attach (connect, then one bdev
 * per active namespace), namespaces coming and going, the reset that brings
 * a lost controller back (SPDK's ctrlr_loss_timeout_sec, reconnect_delay_sec
 * and fast_io_fail_timeout_sec), detach, and what bdev_nvme_get_controllers
 * and save_config write. All of it on the admin thread, the bdev layer's.
 *
 * A reset: every channel disconnects its queue pair (their commands fail
 * once), the driver resets the controller, every channel connects again.
 * It starts when the health poller finds the controller failed, when a
 * channel could not bring its queue pair back alone, or for a RESET I/O.
 *
 * Detach: the bdevs are unregistered; when the last is destructed (every
 * channel gone), the controller's io_device is unregistered and the
 * controller detached.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/bdev_error.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/util.h"

#include "bdev_nvme_internal.h"

#define SPDK_MULTIPATH_POLICY "active_passive"

static TAILQ_HEAD(, bdev_nvme_ctrlr) g_ctrlrs = TAILQ_HEAD_INITIALIZER(g_ctrlrs);
/* The bdev layer's thread: every controller's admin thread. */
static struct spio_thread *g_thread;
/* spio_bdev_finish() started: no new controllers or bdevs. */
static bool g_finishing;
/* module_fini ran and waits for the controllers to go. */
static bool g_fini_waiting;

static int nvme_module_init(void);
static void nvme_module_fini_start(void);
static void nvme_module_fini(void);
static size_t nvme_get_ctx_size(void);
static void nvme_config_json(struct spio_json_write_ctx *w);

static struct spio_bdev_module g_nvme_module = {
    .name = "nvme",
    .module_init = nvme_module_init,
    .fini_start = nvme_module_fini_start,
    .module_fini = nvme_module_fini,
    .async_fini = true,
    .get_ctx_size = nvme_get_ctx_size,
    .config_json = nvme_config_json,
};
SPIO_BDEV_MODULE_REGISTER(g_nvme_module)

static void start_destruct(struct bdev_nvme_ctrlr *nc);
static void reset_finish(struct bdev_nvme_ctrlr *nc, int status);

static size_t nvme_get_ctx_size(void)
{
	return sizeof(struct bdev_nvme_io);
}

int bdev_nvme_opts_may_change(void)
{
	if (g_thread != NULL && spio_get_thread() != g_thread) {
		return -EXDEV;
	}
	/* One still connecting counts: it took the options already. */
	return TAILQ_EMPTY(&g_ctrlrs) ? 0 : -EPERM;
}

struct bdev_nvme_ctrlr *bdev_nvme_ctrlr_find(const char *name)
{
	struct bdev_nvme_ctrlr *nc;

	TAILQ_FOREACH (nc, &g_ctrlrs, link) {
		if (strcmp(nc->name, name) == 0) {
			return nc;
		}
	}
	return NULL;
}

/* Attached controllers only: one still connecting is not listed yet. */
static struct bdev_nvme_ctrlr *attached_from(struct bdev_nvme_ctrlr *nc)
{
	while (nc != NULL && nc->ctrlr == NULL) {
		nc = TAILQ_NEXT(nc, link);
	}
	return nc;
}

struct bdev_nvme_ctrlr *bdev_nvme_ctrlr_first(void)
{
	return attached_from(TAILQ_FIRST(&g_ctrlrs));
}

struct bdev_nvme_ctrlr *bdev_nvme_ctrlr_next(struct bdev_nvme_ctrlr *nc)
{
	return attached_from(TAILQ_NEXT(nc, link));
}

/*
 * Options
 */

void spio_bdev_nvme_opts_init(struct spio_bdev_nvme_opts *opts, size_t opts_size)
{
	struct spio_bdev_nvme_opts d = {
	    .opts_size = opts_size,
	    .num_io_queues = 1024,
	    .ctrlr_loss_timeout_sec = g_bdev_nvme_opts.ctrlr_loss_timeout_sec,
	    .reconnect_delay_sec = g_bdev_nvme_opts.reconnect_delay_sec,
	    .fast_io_fail_timeout_sec = g_bdev_nvme_opts.fast_io_fail_timeout_sec,
	    .multipath = SPIO_BDEV_NVME_MULTIPATH_MULTIPATH,
	    .max_bdevs = 128,
	};

	if (opts == NULL || opts_size == 0) {
		return;
	}
	memcpy(opts, &d, SPIO_MIN(opts_size, sizeof(d)));
}

/* "TCP 10.0.0.1:4420 nqn..." or "PCIe 0000:00:04.0" (a PCI address says it all), for logs. */
static const char *trid_where(char *buf, size_t size, const struct spio_nvme_transport_id *trid)
{
	if (trid->trtype == SPIO_NVME_TRANSPORT_PCIE) {
		snprintf(buf, size, "%s %s", trid->trstring, trid->traddr);
	} else {
		snprintf(buf, size, "%s %s:%s %s", trid->trstring, trid->traddr, trid->trsvcid,
			 trid->subnqn);
	}
	return buf;
}

static int check_opts(const struct spio_bdev_nvme_opts *o, char *err, size_t err_len)
{
	const struct spio_nvme_transport_id *trid = &o->trid;
	const char *trtype = spio_nvme_transport_id_trtype_str(trid->trtype);

	if (o->name == NULL || o->name[0] == '\0') {
		return bdev_create_error(err, err_len, -EINVAL,
					 "nvme controller: the name is missing or empty");
	}
	if (trid->trtype != SPIO_NVME_TRANSPORT_TCP && trid->trtype != SPIO_NVME_TRANSPORT_PCIE) {
		return bdev_create_error(err, err_len, -ENOTSUP,
					 "nvme controller %s: trtype %s is not supported (only TCP "
					 "and PCIe)",
					 o->name, trtype != NULL ? trtype : "(none)");
	}
	if (trid->traddr[0] == '\0') {
		return bdev_create_error(err, err_len, -EINVAL,
					 "nvme controller %s: traddr is missing", o->name);
	}
	/* A PCIe controller is named by its PCI address alone (SPDK's -t PCIe -a BDF). */
	if (trid->trtype == SPIO_NVME_TRANSPORT_TCP &&
	    (trid->subnqn[0] == '\0' || strcmp(trid->subnqn, SPIO_NVMF_DISCOVERY_NQN) == 0)) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "nvme controller %s: subnqn '%s': an NVM subsystem's NQN "
					 "is needed (discovery controllers are not attached)",
					 o->name, trid->subnqn);
	}
	if (o->num_io_queues == 0 || o->num_io_queues > UINT16_MAX + 1u) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "num_io_queues out of bounds, min: %u max: %u", 1,
					 UINT16_MAX + 1u);
	}
	if (o->max_bdevs == 0) {
		return bdev_create_error(err, err_len, -EINVAL, "max_bdevs cannot be zero");
	}
	if (o->prchk_reftag || o->prchk_guard) {
		return bdev_create_error(err, err_len, -ENOTSUP,
					 "nvme controller %s: %s true: protection information "
					 "checks are not supported (spio keeps no protection "
					 "information)",
					 o->name, o->prchk_reftag ? "prchk_reftag" : "prchk_guard");
	}
	if (o->multipath > SPIO_BDEV_NVME_MULTIPATH_DISABLE) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "nvme controller %s: multipath mode %d unknown", o->name,
					 (int)o->multipath);
	}
	return bdev_nvme_check_resiliency(o->ctrlr_loss_timeout_sec, o->reconnect_delay_sec,
					  o->fast_io_fail_timeout_sec, err, err_len);
}

/* A second path under an existing name: SPDK's answers, and spio's refusal of multipath. */
static int check_name_free(const struct spio_bdev_nvme_opts *o, char *err, size_t err_len)
{
	struct bdev_nvme_ctrlr *nc = bdev_nvme_ctrlr_find(o->name);

	if (nc == NULL) {
		return 0;
	}
	if (o->multipath == SPIO_BDEV_NVME_MULTIPATH_DISABLE) {
		return bdev_create_error(err, err_len, -EALREADY,
					 "A controller named %s already exists and multipath is "
					 "disabled",
					 o->name);
	}
	if (strcasecmp(nc->opts.trid.traddr, o->trid.traddr) == 0 &&
	    strcasecmp(nc->opts.trid.trsvcid, o->trid.trsvcid) == 0 &&
	    strcmp(nc->opts.trid.hostaddr, o->trid.hostaddr) == 0 &&
	    strcmp(nc->opts.trid.hostsvcid, o->trid.hostsvcid) == 0) {
		return bdev_create_error(err, err_len, -EALREADY,
					 "A controller named %s already exists with the specified "
					 "network path",
					 o->name);
	}
	return bdev_create_error(err, err_len, -EALREADY,
				 "A controller named %s already exists: a second path "
				 "(multipath) is not supported",
				 o->name);
}

/*
 * Namespace bdevs
 */

static struct bdev_nvme_ns *ns_find(struct bdev_nvme_ctrlr *nc, uint32_t nsid)
{
	struct bdev_nvme_ns *nns;

	TAILQ_FOREACH (nns, &nc->namespaces, link) {
		if (nns->nsid == nsid) {
			return nns;
		}
	}
	return NULL;
}

static void destruct_check(struct bdev_nvme_ctrlr *nc);

static int ns_destruct(void *ctxt)
{
	struct bdev_nvme_ns *nns = ctxt;
	struct bdev_nvme_ctrlr *nc = nns->nc;

	TAILQ_REMOVE(&nc->namespaces, nns, link);
	free(nns->bdev.name);
	free(nns);
	nc->num_bdevs--;
	destruct_check(nc);
	return 0;
}

static bool ns_io_type_supported(void *ctxt, enum spio_bdev_io_type type)
{
	const struct bdev_nvme_ns *nns = ctxt;

	return type > SPIO_BDEV_IO_TYPE_INVALID && type < SPIO_BDEV_NUM_IO_TYPES &&
	       (nns->io_types & (1u << type)) != 0;
}

static struct spio_io_channel *ns_get_io_channel(void *ctxt)
{
	struct bdev_nvme_ns *nns = ctxt;

	return spio_get_io_channel(nns->nc);
}

/* Space-padded identify strings, trimmed. */
static void write_padded(struct spio_json_write_ctx *w, const char *name, const char *s, size_t len)
{
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\0')) {
		len--;
	}
	while (len > 0 && *s == ' ') {
		s++;
		len--;
	}
	spio_json_write_named_string_len(w, name, s, len);
}

/* SPDK's trid members (trtype, adrfam, traddr, trsvcid, subnqn), those that are set. */
static void trid_json(const struct spio_nvme_transport_id *trid, struct spio_json_write_ctx *w)
{
	const char *trtype = spio_nvme_transport_id_trtype_str(trid->trtype);
	const char *adrfam = spio_nvme_transport_id_adrfam_str(trid->adrfam);

	if (trtype != NULL) {
		spio_json_write_named_string(w, "trtype", trtype);
	}
	if (adrfam != NULL) {
		spio_json_write_named_string(w, "adrfam", adrfam);
	}
	if (trid->traddr[0] != '\0') {
		spio_json_write_named_string(w, "traddr", trid->traddr);
	}
	if (trid->trsvcid[0] != '\0') {
		spio_json_write_named_string(w, "trsvcid", trid->trsvcid);
	}
	if (trid->subnqn[0] != '\0') {
		spio_json_write_named_string(w, "subnqn", trid->subnqn);
	}
}

/* bdev_get_bdevs' driver_specific: SPDK's "nvme" array (one namespace) and mp_policy. */
static void ns_dump_info_json(void *ctxt, struct spio_json_write_ctx *w)
{
	struct bdev_nvme_ns *nns = ctxt;
	const struct spio_nvme_ctrlr_data *cdata = spio_nvme_ctrlr_get_data(nns->nc->ctrlr);
	union spio_nvme_vs_register vs = spio_nvme_ctrlr_get_regs_vs(nns->nc->ctrlr);

	spio_json_write_named_array_begin(w, "nvme");
	spio_json_write_object_begin(w);
	spio_json_write_named_object_begin(w, "trid");
	trid_json(spio_nvme_ctrlr_get_transport_id(nns->nc->ctrlr), w);
	spio_json_write_object_end(w);
	spio_json_write_named_object_begin(w, "ctrlr_data");
	spio_json_write_named_uint32(w, "cntlid", cdata->cntlid);
	spio_json_write_named_string_fmt(w, "vendor_id", "0x%04x", cdata->vid);
	write_padded(w, "model_number", cdata->mn, sizeof(cdata->mn));
	write_padded(w, "serial_number", cdata->sn, sizeof(cdata->sn));
	write_padded(w, "firmware_revision", cdata->fr, sizeof(cdata->fr));
	if (cdata->subnqn[0] != '\0') {
		spio_json_write_named_string_len(
		    w, "subnqn", (const char *)cdata->subnqn,
		    strnlen((const char *)cdata->subnqn, sizeof(cdata->subnqn)));
	}
	spio_json_write_named_object_begin(w, "oacs");
	spio_json_write_named_uint32(w, "security", cdata->oacs.security);
	spio_json_write_named_uint32(w, "format", cdata->oacs.format);
	spio_json_write_named_uint32(w, "firmware", cdata->oacs.firmware);
	spio_json_write_named_uint32(w, "ns_manage", cdata->oacs.ns_manage);
	spio_json_write_object_end(w);
	spio_json_write_named_bool(w, "multi_ctrlr", cdata->cmic.multi_ctrlr);
	spio_json_write_named_bool(w, "ana_reporting", cdata->cmic.ana_reporting);
	spio_json_write_object_end(w);
	spio_json_write_named_object_begin(w, "vs");
	if (vs.bits.ter != 0) {
		spio_json_write_named_string_fmt(w, "nvme_version", "%u.%u.%u", vs.bits.mjr,
						 vs.bits.mnr, vs.bits.ter);
	} else {
		spio_json_write_named_string_fmt(w, "nvme_version", "%u.%u", vs.bits.mjr,
						 vs.bits.mnr);
	}
	spio_json_write_object_end(w);
	spio_json_write_named_object_begin(w, "ns_data");
	spio_json_write_named_uint32(w, "id", nns->nsid);
	spio_json_write_named_bool(w, "can_share", spio_nvme_ns_get_data(nns->ns)->nmic.can_share);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
	spio_json_write_array_end(w);
	spio_json_write_named_string(w, "mp_policy", SPDK_MULTIPATH_POLICY);
	bdev_nvme_bounce_info_json(nns->nc, w);
}

static const struct spio_bdev_fn_table g_ns_fn_table = {
    .destruct = ns_destruct,
    .submit_request = bdev_nvme_submit_request,
    .io_type_supported = ns_io_type_supported,
    .get_io_channel = ns_get_io_channel,
    .dump_info_json = ns_dump_info_json,
};

/* SPDK's geometry: physical block from the preferred write granularity and atomic unit. */
static void ns_set_hints(struct bdev_nvme_ns *nns, const struct spio_nvme_ctrlr_data *cdata)
{
	const struct spio_nvme_ns_data *d = spio_nvme_ns_get_data(nns->ns);
	uint32_t bs = nns->bdev.blocklen, atomic_bs = bs, phys_bs = bs;

	if (d->nabo == 0) {
		atomic_bs =
		    bs * (1u + (d->nsfeat.ns_atomic_write_unit && d->nawupf != 0 ? d->nawupf
										 : cdata->awupf));
	}
	if (d->nsfeat.optperf) {
		phys_bs = bs * (1u + d->npwg);
		nns->bdev.preferred_write_granularity = d->npwg + 1u;
		nns->bdev.preferred_write_alignment = d->npwa + 1u;
		nns->bdev.optimal_write_size = d->nows + 1u;
		nns->bdev.preferred_unmap_granularity = d->npdg + 1u;
		nns->bdev.preferred_unmap_alignment = d->npda + 1u;
	}
	nns->bdev.phys_blocklen = SPIO_MIN(phys_bs, atomic_bs);
	nns->bdev.optimal_io_boundary = spio_nvme_ns_get_optimal_io_boundary(nns->ns);
}

/* Register namespace `nsid`'s bdev. \return 0, or why it has none (logged). */
static int ns_create(struct bdev_nvme_ctrlr *nc, uint32_t nsid)
{
	struct spio_nvme_ns *ns = spio_nvme_ctrlr_get_ns(nc->ctrlr, nsid);
	const struct spio_nvme_ctrlr_data *cdata = spio_nvme_ctrlr_get_data(nc->ctrlr);
	struct bdev_nvme_ns *nns;
	const uint8_t *id;
	uint32_t max_blocks;
	int rc;

	if (ns == NULL) {
		return -ENODEV;
	}
	if (spio_nvme_ns_get_md_size(ns) != 0) {
		SPIO_ERRLOG("nvme controller %s: namespace %" PRIu32 " has %" PRIu32
			    " metadata bytes per block: metadata is not supported, no bdev\n",
			    nc->name, nsid, spio_nvme_ns_get_md_size(ns));
		return -ENOTSUP;
	}
	if (spio_nvme_ns_get_num_sectors(ns) == 0) {
		SPIO_ERRLOG("nvme controller %s: namespace %" PRIu32 " has no blocks, no bdev\n",
			    nc->name, nsid);
		return -EINVAL;
	}
	nns = calloc(1, sizeof(*nns));
	if (nns == NULL || asprintf(&nns->bdev.name, "%sn%" PRIu32, nc->name, nsid) < 0) {
		free(nns);
		return -ENOMEM;
	}
	nns->nc = nc;
	nns->ns = ns;
	nns->nsid = nsid;
	/* As SPDK: without enable_flush a flush completes at once even with a write cache. */
	nns->flush_needed = cdata->vwc.present && nc->enable_flush;
	nns->io_types = 1u << SPIO_BDEV_IO_TYPE_READ | 1u << SPIO_BDEV_IO_TYPE_WRITE |
			1u << SPIO_BDEV_IO_TYPE_FLUSH | 1u << SPIO_BDEV_IO_TYPE_RESET;
	if (cdata->oncs.dsm) {
		nns->io_types |= 1u << SPIO_BDEV_IO_TYPE_UNMAP;
	}
	if (cdata->oncs.write_zeroes) {
		nns->io_types |= 1u << SPIO_BDEV_IO_TYPE_WRITE_ZEROES;
	}
	if (cdata->oncs.compare) {
		nns->io_types |= 1u << SPIO_BDEV_IO_TYPE_COMPARE;
	}
	nns->bdev.ctxt = nns;
	nns->bdev.product_name = "NVMe disk";
	nns->bdev.blocklen = spio_nvme_ns_get_extended_sector_size(ns);
	nns->bdev.blockcnt = spio_nvme_ns_get_num_sectors(ns);
	nns->bdev.write_unit_size = 1;
	/* One command's worth (MDTS, the transport, NLB's 16 bits): the core splits the rest. */
	max_blocks = spio_nvme_ns_get_max_io_xfer_size(ns) / nns->bdev.blocklen;
	nns->bdev.max_rw_size = SPIO_MAX(1u, SPIO_MIN(max_blocks, 65536u));
	ns_set_hints(nns, cdata);
	/* SPDK's order: the NGUID, else the namespace UUID, else one is generated. */
	id = spio_nvme_ns_get_nguid(ns);
	if (id == NULL) {
		id = spio_nvme_ns_get_uuid(ns);
	}
	if (id != NULL) {
		memcpy(nns->bdev.uuid.u, id, sizeof(nns->bdev.uuid.u));
	} else if (g_bdev_nvme_opts.generate_uuids) {
		/* SPDK's stable UUID; else the bdev layer makes a random one. */
		bdev_nvme_generate_uuid(cdata->sn, sizeof(cdata->sn), nsid, &nns->bdev.uuid);
	}
	nns->bdev.numa.id = -1;
	nns->bdev.module = &g_nvme_module;
	nns->bdev.fn_table = &g_ns_fn_table;
	rc = spio_bdev_register(&nns->bdev);
	if (rc != 0) {
		SPIO_ERRLOG("nvme controller %s: namespace %" PRIu32
			    ": cannot register bdev %s: %s\n",
			    nc->name, nsid, nns->bdev.name, strerror(-rc));
		free(nns->bdev.name);
		free(nns);
		return rc;
	}
	TAILQ_INSERT_TAIL(&nc->namespaces, nns, link);
	nc->num_bdevs++;
	return 0;
}

/* Hot remove: openers get SPIO_BDEV_EVENT_REMOVE; ns_destruct follows. */
static void ns_remove(struct bdev_nvme_ns *nns)
{
	int rc;

	if (nns->unregistering) {
		return;
	}
	nns->unregistering = true;
	atomic_store(&nns->removed, true);
	rc = spio_bdev_unregister(&nns->bdev, NULL, NULL);
	if (rc != 0 && rc != -EBUSY) {
		SPIO_ERRLOG("nvme controller %s: cannot unregister bdev %s: %s\n", nns->nc->name,
			    nns->bdev.name, strerror(-rc));
	}
}

static void ns_changed(void *arg, struct spio_nvme_ctrlr *ctrlr, uint32_t nsid,
		       enum spio_nvme_ns_event event)
{
	struct bdev_nvme_ctrlr *nc = arg;
	struct bdev_nvme_ns *nns = ns_find(nc, nsid);
	int rc;

	if (nc->destructing || g_finishing) {
		return;
	}
	switch (event) {
	case SPIO_NVME_NS_ADDED:
		if (nns != NULL) {
			SPIO_ERRLOG("nvme controller %s: namespace %" PRIu32
				    " is back while its old bdev %s is still open; no new bdev\n",
				    nc->name, nsid, nns->bdev.name);
			return;
		}
		if (ns_create(nc, nsid) == 0) {
			SPIO_NOTICELOG("nvme controller %s: namespace %" PRIu32
				       " added: bdev %sn%" PRIu32 "\n",
				       nc->name, nsid, nc->name, nsid);
		}
		return;
	case SPIO_NVME_NS_REMOVED:
		if (nns != NULL && !nns->unregistering) {
			SPIO_NOTICELOG("nvme controller %s: namespace %" PRIu32
				       " removed: removing bdev %s\n",
				       nc->name, nsid, nns->bdev.name);
			ns_remove(nns);
		}
		return;
	case SPIO_NVME_NS_RESIZED:
		if (nns != NULL && !nns->unregistering) {
			uint64_t blocks = spio_nvme_ns_get_num_sectors(nns->ns);

			rc = spio_bdev_notify_blockcnt_change(&nns->bdev, blocks);
			if (rc != 0) {
				SPIO_ERRLOG("nvme controller %s: bdev %s: cannot follow the "
					    "namespace to %" PRIu64 " blocks: %s\n",
					    nc->name, nns->bdev.name, blocks, strerror(-rc));
			}
		}
		return;
	}
	(void)ctrlr;
}

/*
 * Reset and reconnect
 */

static void for_each_done(struct spio_io_channel_iter *iter, int status)
{
	(void)iter;
	(void)status;
}

/*
 * Whether I/O that cannot go out now fails at once: always while deleting,
 * after fast_io_fail_timeout_sec, once the controller is given up, and
 * (SPDK) while it is down with no reconnect delay. The channels drop what
 * they hold when it becomes true.
 */
static void update_io_fail(struct bdev_nvme_ctrlr *nc)
{
	bool fail = nc->destructing || nc->fast_io_fail_timedout || nc->gave_up ||
		    (nc->opts.reconnect_delay_sec == 0 && nc->resetting);

	if (fail && !atomic_exchange(&nc->io_fail, fail) && nc->io_device_registered) {
		spio_for_each_channel(nc, bdev_nvme_channel_fail_pending, nc, for_each_done);
	} else {
		atomic_store(&nc->io_fail, fail);
	}
}

static void complete_resets(struct bdev_nvme_ctrlr *nc, bool success)
{
	struct bdev_nvme_io *nio;

	while ((nio = TAILQ_FIRST(&nc->pending_resets)) != NULL) {
		TAILQ_REMOVE(&nc->pending_resets, nio, link);
		spio_bdev_io_complete(spio_bdev_io_from_ctx(nio), success
								      ? SPIO_BDEV_IO_STATUS_SUCCESS
								      : SPIO_BDEV_IO_STATUS_FAILED);
	}
}

static void reset_reconnected(struct spio_io_channel_iter *iter, int status)
{
	reset_finish(spio_io_channel_iter_get_ctx(iter), status);
}

static void reset_ctrlr_done(void *arg, int status)
{
	struct bdev_nvme_ctrlr *nc = arg;
	int rc;

	if (status != 0) {
		reset_finish(nc, status);
		return;
	}
	rc = spio_for_each_channel(nc, bdev_nvme_channel_reconnect, nc, reset_reconnected);
	if (rc != 0) {
		reset_finish(nc, rc);
	}
}

static void reset_ctrlr(struct bdev_nvme_ctrlr *nc)
{
	int rc = spio_nvme_ctrlr_reset_async(nc->ctrlr, reset_ctrlr_done, nc);

	if (rc == -EBUSY) {
		/* The driver is busy (reading namespaces): the health poller asks again. */
		nc->reset_retry = true;
	} else if (rc != 0) {
		reset_finish(nc, rc);
	}
}

static void reset_disconnected(struct spio_io_channel_iter *iter, int status)
{
	(void)status;
	reset_ctrlr(spio_io_channel_iter_get_ctx(iter));
}

static void start_reset(struct bdev_nvme_ctrlr *nc)
{
	int rc;

	nc->resetting = true;
	atomic_store(&nc->down, true);
	atomic_store(&nc->reset_requested, false);
	if (nc->reset_start_tsc == 0) {
		nc->reset_start_tsc = spio_get_ticks();
	}
	update_io_fail(nc);
	rc = spio_for_each_channel(nc, bdev_nvme_channel_disconnect, nc, reset_disconnected);
	if (rc != 0) {
		reset_finish(nc, rc);
	}
}

static int delay_expired(void *arg)
{
	struct bdev_nvme_ctrlr *nc = arg;

	spio_poller_unregister(&nc->delay_timer);
	nc->reconnect_delayed = false;
	if (!nc->destructing) {
		start_reset(nc);
	}
	return SPIO_POLLER_BUSY;
}

static uint32_t seconds_down(const struct bdev_nvme_ctrlr *nc)
{
	return (uint32_t)((spio_get_ticks() - nc->reset_start_tsc) / spio_get_ticks_hz());
}

/* What SPDK does after a failed reset: give up, delete, or try again later. */
static void after_failed_reset(struct bdev_nvme_ctrlr *nc, int status)
{
	const struct spio_bdev_nvme_opts *o = &nc->opts;
	uint32_t down = seconds_down(nc);

	if (o->reconnect_delay_sec == 0) {
		nc->gave_up = true;
		SPIO_ERRLOG("nvme controller %s: reset failed: %s; not reconnecting "
			    "(ctrlr_loss_timeout_sec 0): detach it, or reset one of its bdevs to "
			    "try again\n",
			    nc->name, strerror(-status));
		return;
	}
	if (o->ctrlr_loss_timeout_sec != -1 && down >= (uint32_t)o->ctrlr_loss_timeout_sec) {
		SPIO_ERRLOG("nvme controller %s: lost for %" PRIu32
			    " s (ctrlr_loss_timeout_sec %" PRId32 "): deleting it and its bdevs\n",
			    nc->name, down, o->ctrlr_loss_timeout_sec);
		start_destruct(nc);
		return;
	}
	if (o->fast_io_fail_timeout_sec != 0 && down >= o->fast_io_fail_timeout_sec) {
		nc->fast_io_fail_timedout = true;
	}
	if (nc->failed_resets == 1) {
		SPIO_ERRLOG("nvme controller %s: reset failed: %s; reconnecting every %" PRIu32
			    " s\n",
			    nc->name, strerror(-status), o->reconnect_delay_sec);
	}
	nc->delay_timer = spio_poller_register_named(
	    delay_expired, nc, (uint64_t)o->reconnect_delay_sec * 1000 * 1000, "bdev_nvme_delay");
	if (nc->delay_timer == NULL) {
		nc->gave_up = true;
		SPIO_ERRLOG("nvme controller %s: cannot schedule a reconnect: giving up\n",
			    nc->name);
		return;
	}
	nc->reconnect_delayed = true;
}

static void reset_finish(struct bdev_nvme_ctrlr *nc, int status)
{
	nc->resetting = false;
	nc->reset_retry = false;
	if (status == 0) {
		if (nc->failed_resets > 0) {
			SPIO_NOTICELOG("nvme controller %s: reconnected after %" PRIu32
				       " failed resets\n",
				       nc->name, nc->failed_resets);
		}
		nc->failed_resets = 0;
		nc->reset_start_tsc = 0;
		nc->fast_io_fail_timedout = false;
		nc->gave_up = false;
		atomic_store(&nc->down, false);
	} else {
		nc->failed_resets++;
	}
	complete_resets(nc, status == 0);
	if (nc->destructing) {
		/* A detach waited for this reset. */
		start_destruct(nc);
		return;
	}
	if (status != 0) {
		after_failed_reset(nc, status);
		if (nc->destructing) {
			return; /* lost for good: start_destruct() took over */
		}
	}
	update_io_fail(nc);
}

static int health_poll(void *arg)
{
	struct bdev_nvme_ctrlr *nc = arg;

	if (nc->destructing) {
		return SPIO_POLLER_IDLE;
	}
	if (nc->resetting) {
		if (nc->reset_retry) {
			nc->reset_retry = false;
			reset_ctrlr(nc);
			return SPIO_POLLER_BUSY;
		}
		return SPIO_POLLER_IDLE;
	}
	if (nc->reconnect_delayed || nc->gave_up) {
		return SPIO_POLLER_IDLE;
	}
	if (atomic_exchange(&nc->reset_requested, false) || spio_nvme_ctrlr_is_failed(nc->ctrlr)) {
		start_reset(nc);
		return SPIO_POLLER_BUSY;
	}
	return SPIO_POLLER_IDLE;
}

static void reset_io_msg(void *arg)
{
	struct bdev_nvme_io *nio = arg;
	struct bdev_nvme_ns *nns = spio_bdev_io_from_ctx(nio)->bdev->ctxt;
	struct bdev_nvme_ctrlr *nc = nns->nc;

	if (nc->destructing) {
		spio_bdev_io_complete(spio_bdev_io_from_ctx(nio), SPIO_BDEV_IO_STATUS_FAILED);
		return;
	}
	TAILQ_INSERT_TAIL(&nc->pending_resets, nio, link);
	if (nc->resetting) {
		return; /* completes with the running one, as SPDK */
	}
	/* Asked for explicitly: now, whatever the schedule. */
	spio_poller_unregister(&nc->delay_timer);
	nc->reconnect_delayed = false;
	nc->gave_up = false;
	start_reset(nc);
}

void bdev_nvme_reset_io(struct bdev_nvme_ctrlr *nc, struct spio_bdev_io *bdev_io)
{
	struct bdev_nvme_io *nio = spio_bdev_io_get_driver_ctx(bdev_io);

	if (spio_thread_send_msg_embedded(nc->thread, &nio->msg, reset_io_msg, nio) != 0) {
		spio_bdev_io_complete(bdev_io, SPIO_BDEV_IO_STATUS_FAILED);
	}
}

/*
 * Detach
 */

static void module_fini_check(void);

static void ctrlr_detached(void *arg)
{
	struct bdev_nvme_ctrlr *nc = arg;
	struct bdev_nvme_waiter *w;

	TAILQ_REMOVE(&g_ctrlrs, nc, link);
	while ((w = nc->waiters) != NULL) {
		nc->waiters = w->next;
		w->cb(w->cb_arg, 0);
		free(w);
	}
	free(nc->name);
	free(nc);
	module_fini_check();
}

static void io_device_gone(void *io_device)
{
	struct bdev_nvme_ctrlr *nc = io_device;
	int rc;

	if (nc->ctrlr != NULL) {
		rc = spio_nvme_detach_async(nc->ctrlr, ctrlr_detached, nc);
		if (rc == 0) {
			return;
		}
		SPIO_ERRLOG("nvme controller %s: detach failed: %s; dropping it\n", nc->name,
			    strerror(-rc));
	}
	ctrlr_detached(nc);
}

/*
 * The end of a destruct, once its reset is over and every bdev destructed
 * (so every channel is gone too): unregister the io_device, then detach.
 */
static void destruct_check(struct bdev_nvme_ctrlr *nc)
{
	if (!nc->destructing || nc->resetting || nc->num_bdevs > 0 || nc->detaching) {
		return;
	}
	nc->detaching = true;
	if (nc->io_device_registered) {
		nc->io_device_registered = false;
		if (spio_io_device_unregister(nc, io_device_gone) == 0) {
			return;
		}
	}
	io_device_gone(nc);
}

/* Unregister every bdev; the rest follows the last one's destruct. Idempotent. */
static void start_destruct(struct bdev_nvme_ctrlr *nc)
{
	struct bdev_nvme_ns *nns, *tmp;

	if (!nc->destructing) {
		nc->destructing = true;
		atomic_store(&nc->down, true);
		spio_poller_unregister(&nc->health_poller);
		spio_poller_unregister(&nc->delay_timer);
		nc->reconnect_delayed = false;
		update_io_fail(nc);
	}
	if (nc->resetting) {
		if (nc->reset_retry) {
			/* Its retry was the health poller's, which is gone. */
			reset_finish(nc, -ECANCELED);
		}
		return; /* reset_finish() comes back here */
	}
	for (nns = TAILQ_FIRST(&nc->namespaces); nns != NULL; nns = tmp) {
		tmp = TAILQ_NEXT(nns, link);
		ns_remove(nns);
	}
	destruct_check(nc);
}

static bool path_matches(const struct spio_nvme_transport_id *have,
			 const struct spio_nvme_transport_id *want)
{
	if (want == NULL) {
		return true;
	}
	return (want->trtype == 0 || want->trtype == have->trtype) &&
	       (want->adrfam == 0 || want->adrfam == have->adrfam) &&
	       (want->traddr[0] == '\0' || strcasecmp(want->traddr, have->traddr) == 0) &&
	       (want->trsvcid[0] == '\0' || strcasecmp(want->trsvcid, have->trsvcid) == 0) &&
	       (want->subnqn[0] == '\0' || strcmp(want->subnqn, have->subnqn) == 0) &&
	       (want->hostaddr[0] == '\0' || strcmp(want->hostaddr, have->hostaddr) == 0) &&
	       (want->hostsvcid[0] == '\0' || strcmp(want->hostsvcid, have->hostsvcid) == 0);
}

int spio_bdev_nvme_detach(const char *name, const struct spio_nvme_transport_id *path,
			  spio_bdev_delete_cb cb, void *cb_arg)
{
	struct bdev_nvme_ctrlr *nc;
	struct bdev_nvme_waiter *w;

	if (name == NULL) {
		return -EINVAL;
	}
	if (g_thread == NULL || spio_get_thread() != g_thread) {
		return -EXDEV;
	}
	nc = bdev_nvme_ctrlr_find(name);
	if (nc == NULL || nc->ctrlr == NULL) {
		return -ENODEV;
	}
	if (!path_matches(&nc->opts.trid, path)) {
		return -ENXIO;
	}
	if (cb != NULL) {
		w = calloc(1, sizeof(*w));
		if (w == NULL) {
			return -ENOMEM;
		}
		*w = (struct bdev_nvme_waiter){.cb = cb, .cb_arg = cb_arg, .next = nc->waiters};
		nc->waiters = w;
	}
	SPIO_NOTICELOG("nvme controller %s: detaching\n", nc->name);
	start_destruct(nc);
	return 0;
}

/*
 * Attach
 */

struct attach_ctx {
	struct bdev_nvme_ctrlr *nc;
	spio_bdev_nvme_attach_cb cb;
	void *cb_arg;
};

static void nc_free(struct bdev_nvme_ctrlr *nc)
{
	free(nc->name);
	free(nc);
}

/* The controller is up: its io_device, pollers, callbacks and bdevs. */
static int attach_finish(struct bdev_nvme_ctrlr *nc)
{
	uint32_t nsid;
	int rc;

	rc = spio_io_device_register(nc, bdev_nvme_channel_create, bdev_nvme_channel_destroy,
				     sizeof(struct bdev_nvme_channel), nc->name);
	if (rc != 0) {
		return rc;
	}
	nc->io_device_registered = true;
	/* SPDK's nvme_adminq_poll_period_us: its admin poller is where it notices a failure. */
	nc->health_poller = spio_poller_register_named(
	    health_poll, nc, g_bdev_nvme_opts.nvme_adminq_poll_period_us, "bdev_nvme_health");
	if (nc->health_poller == NULL) {
		return -ENOMEM;
	}
	spio_nvme_ctrlr_register_ns_change_callback(nc->ctrlr, ns_changed, nc);
	for (nsid = spio_nvme_ctrlr_get_first_active_ns(nc->ctrlr); nsid != 0;
	     nsid = spio_nvme_ctrlr_get_next_active_ns(nc->ctrlr, nsid)) {
		ns_create(nc, nsid);
	}
	return 0;
}

static void attach_connected(void *arg, struct spio_nvme_ctrlr *ctrlr, int status)
{
	struct attach_ctx *ac = arg;
	struct bdev_nvme_ctrlr *nc = ac->nc;
	const char **names = NULL;
	size_t count = 0;
	char msg[1024];
	char where[640]; /* every field of a trid, spaced */
	struct bdev_nvme_ns *nns;
	int rc;

	if (status != 0) {
		snprintf(msg, sizeof(msg), "nvme controller %s: cannot connect to %s: %s", nc->name,
			 trid_where(where, sizeof(where), &nc->opts.trid), strerror(-status));
		SPIO_ERRLOG("%s\n", msg);
		TAILQ_REMOVE(&g_ctrlrs, nc, link);
		nc_free(nc);
		ac->cb(ac->cb_arg, status, msg, NULL, 0);
		free(ac);
		module_fini_check();
		return;
	}
	nc->ctrlr = ctrlr;
	rc = g_finishing ? -ENODEV : attach_finish(nc);
	if (rc != 0) {
		snprintf(msg, sizeof(msg), "nvme controller %s: %s", nc->name,
			 g_finishing ? "the bdev layer is finishing" : strerror(-rc));
		SPIO_ERRLOG("%s\n", msg);
		start_destruct(nc);
		ac->cb(ac->cb_arg, rc, msg, NULL, 0);
		free(ac);
		return;
	}
	names = calloc(nc->num_bdevs + 1, sizeof(*names));
	TAILQ_FOREACH (nns, &nc->namespaces, link) {
		if (names != NULL && count < nc->num_bdevs) {
			names[count++] = nns->bdev.name;
		}
	}
	SPIO_NOTICELOG("nvme controller %s: attached %s, %zu bdevs\n", nc->name,
		       trid_where(where, sizeof(where), &nc->opts.trid), count);
	if (names == NULL) {
		ac->cb(ac->cb_arg, -ENOMEM, "out of memory", NULL, 0);
	} else if (count > nc->opts.max_bdevs) {
		/* SPDK keeps the controller and reports the error. */
		snprintf(msg, sizeof(msg),
			 "Maximum number of namespaces supported per NVMe controller is %" PRIu32
			 ". Unable to return all names of created bdevs",
			 nc->opts.max_bdevs);
		ac->cb(ac->cb_arg, -ERANGE, msg, NULL, 0);
	} else {
		ac->cb(ac->cb_arg, 0, NULL, names, count);
	}
	free(names);
	free(ac);
}

/* Microseconds to the driver's milliseconds, rounded up. */
static uint32_t us_to_ms(uint64_t us)
{
	return (uint32_t)SPIO_MIN(us / 1000 + (us % 1000 != 0), (uint64_t)UINT32_MAX);
}

int spio_bdev_nvme_attach(const struct spio_bdev_nvme_opts *user, spio_bdev_nvme_attach_cb cb,
			  void *cb_arg, char *err, size_t err_len)
{
	struct spio_nvme_ctrlr_opts copts;
	struct spio_bdev_nvme_opts o;
	struct bdev_nvme_ctrlr *nc;
	struct attach_ctx *ac;
	int rc;

	if (user == NULL || cb == NULL || user->opts_size == 0) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "nvme controller: invalid arguments");
	}
	if (g_thread == NULL || spio_get_thread() != g_thread) {
		return bdev_create_error(err, err_len, -EXDEV,
					 "nvme controller: attach runs on the bdev layer's thread");
	}
	if (g_finishing) {
		return bdev_create_error(err, err_len, -ENODEV,
					 "nvme controller: the bdev layer is finishing");
	}
	spio_bdev_nvme_opts_init(&o, sizeof(o));
	memcpy(&o, user, SPIO_MIN(user->opts_size, sizeof(o)));
	o.opts_size = sizeof(o);
	rc = check_opts(&o, err, err_len);
	if (rc == 0) {
		rc = check_name_free(&o, err, err_len);
	}
	if (rc != 0) {
		return rc;
	}
	nc = calloc(1, sizeof(*nc));
	ac = calloc(1, sizeof(*ac));
	if (nc == NULL || ac == NULL || (nc->name = strdup(o.name)) == NULL) {
		free(nc);
		free(ac);
		return bdev_create_error(err, err_len, -ENOMEM, "nvme controller %s: out of memory",
					 o.name);
	}
	nc->opts = o;
	nc->opts.name = nc->name;
	spio_nvme_transport_id_populate_trstring(&nc->opts.trid, o.trid.trtype);
	nc->thread = g_thread;
	nc->bdev_retry_count = g_bdev_nvme_opts.bdev_retry_count;
	nc->enable_flush = g_bdev_nvme_opts.enable_flush;
	nc->pcie = o.trid.trtype == SPIO_NVME_TRANSPORT_PCIE;
	TAILQ_INIT(&nc->namespaces);
	TAILQ_INIT(&nc->pending_resets);
	*ac = (struct attach_ctx){.nc = nc, .cb = cb, .cb_arg = cb_arg};

	spio_nvme_ctrlr_get_default_opts(&copts, sizeof(copts));
	copts.num_io_queues = o.num_io_queues;
	copts.header_digest = o.header_digest;
	copts.data_digest = o.data_digest;
	if (o.fabrics_connect_timeout_us != 0) {
		copts.connect_timeout_ms = us_to_ms(o.fabrics_connect_timeout_us);
	}
	copts.keep_alive_timeout_ms = g_bdev_nvme_opts.keep_alive_timeout_ms;
	if (g_bdev_nvme_opts.timeout_us != 0) {
		/* Only with action_on_timeout reset: the driver drops the queue's connection. */
		copts.io_timeout_ms = us_to_ms(g_bdev_nvme_opts.timeout_us);
		copts.admin_timeout_ms = us_to_ms(g_bdev_nvme_opts.timeout_admin_us != 0
						      ? g_bdev_nvme_opts.timeout_admin_us
						      : g_bdev_nvme_opts.timeout_us);
	}
	/* Listed while connecting, so that the name stays taken. */
	TAILQ_INSERT_TAIL(&g_ctrlrs, nc, link);
	rc = spio_nvme_connect_async(&nc->opts.trid, &copts, attach_connected, ac);
	if (rc != 0) {
		TAILQ_REMOVE(&g_ctrlrs, nc, link);
		nc_free(nc);
		free(ac);
		return bdev_create_error(err, err_len, rc, "nvme controller %s: cannot connect: %s",
					 o.name, strerror(-rc));
	}
	return 0;
}

/*
 * bdev_nvme_get_controllers and save_config
 */

/* SPDK's states, as its controller would show them (its failed flag clears while it resets). */
static const char *state_str(const struct bdev_nvme_ctrlr *nc)
{
	if (nc->destructing) {
		return "deleting";
	}
	if (nc->resetting) {
		return "resetting";
	}
	if (nc->reconnect_delayed) {
		return "reconnect_is_delayed";
	}
	if (nc->gave_up || spio_nvme_ctrlr_is_failed(nc->ctrlr)) {
		return "failed";
	}
	return "enabled";
}

void bdev_nvme_ctrlr_info_json(struct bdev_nvme_ctrlr *nc, struct spio_json_write_ctx *w)
{
	const struct spio_nvme_ctrlr_opts *copts = spio_nvme_ctrlr_get_opts(nc->ctrlr);

	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "state", state_str(nc));
	spio_json_write_named_object_begin(w, "trid");
	trid_json(&nc->opts.trid, w);
	spio_json_write_object_end(w);
	spio_json_write_named_uint32(w, "cntlid", spio_nvme_ctrlr_get_data(nc->ctrlr)->cntlid);
	spio_json_write_named_object_begin(w, "host");
	spio_json_write_named_string(w, "nqn", copts->hostnqn);
	spio_json_write_named_string(w, "addr", nc->opts.trid.hostaddr);
	spio_json_write_named_string(w, "svcid", nc->opts.trid.hostsvcid);
	spio_json_write_named_bool(w, "no_shn_notification", false);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

/* SPDK's bdev_nvme_attach_controller entry, member for member, in its order. */
static void ctrlr_config_json(struct bdev_nvme_ctrlr *nc, struct spio_json_write_ctx *w)
{
	const struct spio_bdev_nvme_opts *o = &nc->opts;

	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_nvme_attach_controller");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_string(w, "name", nc->name);
	trid_json(&o->trid, w);
	spio_json_write_named_bool(w, "prchk_reftag", false);
	spio_json_write_named_bool(w, "prchk_guard", false);
	spio_json_write_named_int32(w, "ctrlr_loss_timeout_sec", o->ctrlr_loss_timeout_sec);
	spio_json_write_named_uint32(w, "reconnect_delay_sec", o->reconnect_delay_sec);
	spio_json_write_named_uint32(w, "fast_io_fail_timeout_sec", o->fast_io_fail_timeout_sec);
	spio_json_write_named_string(w, "hostnqn", spio_nvme_ctrlr_get_opts(nc->ctrlr)->hostnqn);
	spio_json_write_named_bool(w, "hdgst", o->header_digest);
	spio_json_write_named_bool(w, "ddgst", o->data_digest);
	if (o->trid.hostaddr[0] != '\0') {
		spio_json_write_named_string(w, "hostaddr", o->trid.hostaddr);
	}
	if (o->trid.hostsvcid[0] != '\0') {
		spio_json_write_named_string(w, "hostsvcid", o->trid.hostsvcid);
	}
	if (o->multipath == SPIO_BDEV_NVME_MULTIPATH_MULTIPATH) {
		spio_json_write_named_string(w, "multipath", "multipath");
	}
	spio_json_write_named_uint64(w, "fabrics_connect_timeout_us",
				     o->fabrics_connect_timeout_us);
	spio_json_write_named_uint32(w, "num_io_queues", o->num_io_queues);
	spio_json_write_named_bool(w, "disable_sq_flow_control", false);
	spio_json_write_named_object_begin(w, "multipath_opts");
	spio_json_write_named_string(w, "policy", SPDK_MULTIPATH_POLICY);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

static void nvme_config_json(struct spio_json_write_ctx *w)
{
	struct bdev_nvme_ctrlr *nc;

	/*
	 * First, as SPDK: the attaches below depend on it. Left out when it
	 * would say nothing (SPDK's defaults, no controller).
	 */
	if (bdev_nvme_ctrlr_first() != NULL || !bdev_nvme_opts_are_default()) {
		bdev_nvme_opts_config_json(w);
	}
	for (nc = bdev_nvme_ctrlr_first(); nc != NULL; nc = bdev_nvme_ctrlr_next(nc)) {
		if (!nc->destructing) {
			ctrlr_config_json(nc, w);
		}
	}
}

/*
 * Module life cycle
 */

static int nvme_module_init(void)
{
	g_thread = spio_get_thread();
	g_finishing = false;
	g_fini_waiting = false;
	return bdev_nvme_groups_init();
}

static void nvme_module_fini_start(void)
{
	g_finishing = true;
}

static void groups_gone(void)
{
	g_thread = NULL;
	spio_bdev_module_fini_done(&g_nvme_module);
}

/* The last controller went (or none was left): the poll groups follow. */
static void module_fini_check(void)
{
	if (g_fini_waiting && TAILQ_EMPTY(&g_ctrlrs)) {
		g_fini_waiting = false;
		bdev_nvme_groups_fini(groups_gone);
	}
}

static void nvme_module_fini(void)
{
	struct bdev_nvme_ctrlr *nc, *tmp;

	g_fini_waiting = true;
	/* Their bdevs are gone already; a controller still connecting ends in attach_connected. */
	for (nc = TAILQ_FIRST(&g_ctrlrs); nc != NULL; nc = tmp) {
		tmp = TAILQ_NEXT(nc, link);
		if (nc->ctrlr != NULL) {
			start_destruct(nc);
		}
	}
	module_fini_check();
}
