/*
 * Namespaces: adding a bdev (opened and claimed on the target thread, a
 * channel on every poll group), removing one (commands in flight finish
 * before the channel is put), hot remove and resize of the bdev, the
 * Identify Namespace data, and the accessors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev_module.h"
#include "spio/log.h"
#include "spio/util.h"

#include "nvmf/nvmf_core.h"

/* Holder of the claims on the namespaces' bdevs (never registered: only its name is shown). */
static struct spio_bdev_module g_nvmf_ns_module = {
    .name = "NVMe-oF Target",
};

/* An add or remove under way. */
struct ns_op {
	struct spio_nvmf_ns *ns;
	spio_nvmf_ns_add_cb add_cb;
	spio_nvmf_subsystem_cb remove_cb;
	void *cb_arg;
	int status;
	void (*all_done)(struct spio_nvmf_subsystem *subsystem);
	struct spio_nvmf_subsystem *subsystem;
};

void spio_nvmf_ns_opts_init(struct spio_nvmf_ns_opts *opts, size_t opts_size)
{
	struct spio_nvmf_ns_opts d;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	memset(&d, 0, sizeof(d));
	d.opts_size = opts_size;
	memcpy(opts, &d, SPIO_MIN(opts_size, sizeof(d)));
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0) {
			return false;
		}
	}
	return true;
}

/*
 * Poll group side
 */

static struct nvmf_subsystem_pg *pg_sgroup(struct nvmf_poll_group *group, uint32_t sid)
{
	return &group->sgroups[sid];
}

static void pg_ns_release(struct nvmf_pg_ns *pg_ns)
{
	if (pg_ns->ch != NULL) {
		spio_put_io_channel(pg_ns->ch);
	}
	memset(pg_ns, 0, sizeof(*pg_ns));
}

static void pg_sgroup_free_if_drained(struct nvmf_poll_group *group, struct nvmf_subsystem_pg *sg)
{
	struct nvmf_group_call *call = sg->free_call;

	if (call == NULL || sg->draining > 0) {
		return;
	}
	free(sg->ns);
	memset(sg, 0, sizeof(*sg));
	nvmf_group_call_done(call, 0);
}

void nvmf_pg_ns_idle(struct nvmf_poll_group *group, struct nvmf_pg_ns *pg_ns)
{
	struct nvmf_group_call *call = pg_ns->remove_call;
	struct nvmf_subsystem_pg *sg = pg_sgroup(group, pg_ns->sid);

	pg_ns_release(pg_ns);
	if (call != NULL) {
		nvmf_group_call_done(call, 0);
		return;
	}
	/* Part of the destruction of the whole subsystem. */
	sg->draining--;
	pg_sgroup_free_if_drained(group, sg);
}

static void pg_add_ns(struct nvmf_group_call *call)
{
	struct ns_op *op = call->op->ctx;
	struct spio_nvmf_ns *ns = op->ns;
	struct nvmf_subsystem_pg *sg = pg_sgroup(call->group, ns->subsystem->id);
	struct nvmf_pg_ns *pg_ns;

	if (sg->ns == NULL) {
		sg->ns = calloc(ns->subsystem->max_nsid, sizeof(*sg->ns));
		if (sg->ns == NULL) {
			nvmf_group_call_done(call, -ENOMEM);
			return;
		}
		sg->num_ns = ns->subsystem->max_nsid;
	}
	pg_ns = &sg->ns[ns->nsid - 1];
	pg_ns->ch = spio_bdev_get_io_channel(ns->desc);
	if (pg_ns->ch == NULL) {
		int rc = -errno;

		SPIO_ERRLOG("nvmf: subsystem %s nsid %u: no channel of bdev %s on %s: %d\n",
			    ns->subsystem->nqn, ns->nsid, spio_bdev_get_name(ns->bdev),
			    spio_thread_get_name(call->group->thread), rc);
		nvmf_group_call_done(call, rc != 0 ? rc : -ENOMEM);
		return;
	}
	pg_ns->desc = ns->desc;
	pg_ns->bdev = ns->bdev;
	pg_ns->sid = ns->subsystem->id;
	pg_ns->block_size = spio_bdev_get_block_size(ns->bdev);
	pg_ns->flush_supported = spio_bdev_io_type_supported(ns->bdev, SPIO_BDEV_IO_TYPE_FLUSH);
	pg_ns->state = NVMF_PG_NS_ACTIVE;
	nvmf_group_call_done(call, 0);
}

static void pg_remove_ns(struct nvmf_group_call *call)
{
	struct ns_op *op = call->op->ctx;
	struct spio_nvmf_ns *ns = op->ns;
	struct nvmf_subsystem_pg *sg = pg_sgroup(call->group, ns->subsystem->id);
	struct nvmf_pg_ns *pg_ns;

	if (sg->ns == NULL || sg->ns[ns->nsid - 1].state == NVMF_PG_NS_NONE) {
		nvmf_group_call_done(call, 0);
		return;
	}
	pg_ns = &sg->ns[ns->nsid - 1];
	pg_ns->state = NVMF_PG_NS_REMOVING;
	pg_ns->remove_call = call;
	if (pg_ns->outstanding == 0) {
		nvmf_pg_ns_idle(call->group, pg_ns);
	}
}

static void pg_free_sgroup(struct nvmf_group_call *call)
{
	struct ns_op *op = call->op->ctx;
	struct nvmf_poll_group *group = call->group;
	struct nvmf_subsystem_pg *sg = pg_sgroup(group, op->subsystem->id);

	sg->free_call = call;
	for (uint32_t i = 0; i < sg->num_ns; i++) {
		struct nvmf_pg_ns *pg_ns = &sg->ns[i];

		if (pg_ns->state == NVMF_PG_NS_NONE) {
			continue;
		}
		if (pg_ns->outstanding == 0) {
			pg_ns_release(pg_ns);
		} else {
			pg_ns->state = NVMF_PG_NS_REMOVING;
			sg->draining++;
		}
	}
	pg_sgroup_free_if_drained(group, sg);
}

/*
 * Target thread side
 */

static void ns_close(struct spio_nvmf_ns *ns)
{
	spio_bdev_module_release_bdev(ns->bdev);
	spio_bdev_close(ns->desc);
	ns->subsystem->ns[ns->nsid - 1] = NULL;
	free(ns);
}

static void ns_notify_ctrlrs(struct spio_nvmf_subsystem *subsystem, uint32_t nsid)
{
	struct nvmf_ctrlr *ctrlr;

	TAILQ_FOREACH (ctrlr, &subsystem->ctrlrs, link) {
		nvmf_ctrlr_ns_changed(ctrlr, nsid);
	}
}

static void ns_event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	struct spio_nvmf_ns *ns = ctx;
	struct spio_nvmf_subsystem *subsystem = ns->subsystem;

	switch (type) {
	case SPIO_BDEV_EVENT_REMOVE:
		SPIO_NOTICELOG("nvmf: subsystem %s: bdev %s of nsid %u is going away\n",
			       subsystem->nqn, spio_bdev_get_name(bdev), ns->nsid);
		ns->hot_removed = true;
		if (subsystem->op == NVMF_SUBSYS_OP_NONE) {
			spio_nvmf_subsystem_remove_ns(subsystem, ns->nsid, NULL, NULL);
		}
		/* else the running operation's end (or the destruction) takes it */
		break;
	case SPIO_BDEV_EVENT_RESIZE:
		if (ns->active) {
			ns_notify_ctrlrs(subsystem, ns->nsid);
		}
		break;
	}
}

static void add_ns_rolled_back(struct nvmf_group_op *gop, int status)
{
	struct ns_op *op = gop->ctx;
	struct spio_nvmf_subsystem *subsystem = op->ns->subsystem;

	ns_close(op->ns);
	nvmf_subsystem_op_end(subsystem);
	op->add_cb(op->cb_arg, 0, op->status);
	free(op);
}

static void add_ns_done(struct nvmf_group_op *gop, int status)
{
	struct ns_op *op = gop->ctx;
	struct spio_nvmf_ns *ns = op->ns;
	struct spio_nvmf_subsystem *subsystem = ns->subsystem;

	if (status != 0) {
		/* Put the channels the other groups got. */
		op->status = status;
		if (nvmf_group_op_start(subsystem->tgt, pg_remove_ns, add_ns_rolled_back, op) ==
		    0) {
			return;
		}
		SPIO_ERRLOG("nvmf: subsystem %s nsid %u: out of memory rolling back\n",
			    subsystem->nqn, ns->nsid);
		nvmf_subsystem_op_end(subsystem);
		op->add_cb(op->cb_arg, 0, status);
		free(op);
		return;
	}
	ns->active = true;
	SPIO_NOTICELOG("nvmf: subsystem %s: bdev %s is namespace %u\n", subsystem->nqn,
		       spio_bdev_get_name(ns->bdev), ns->nsid);
	ns_notify_ctrlrs(subsystem, ns->nsid);
	nvmf_subsystem_op_end(subsystem);
	op->add_cb(op->cb_arg, ns->nsid, 0);
	free(op);
}

static int ns_resolve_nsid(struct spio_nvmf_subsystem *subsystem, uint32_t *nsid)
{
	if (*nsid == 0) {
		for (uint32_t i = 0; i < subsystem->max_nsid; i++) {
			if (subsystem->ns[i] == NULL) {
				*nsid = i + 1;
				return 0;
			}
		}
		return -ENOSPC;
	}
	if (*nsid == SPIO_NVME_GLOBAL_NS_TAG || *nsid > subsystem->max_nsid) {
		return -EINVAL;
	}
	return subsystem->ns[*nsid - 1] != NULL ? -EEXIST : 0;
}

int spio_nvmf_subsystem_add_ns(struct spio_nvmf_subsystem *subsystem, const char *bdev_name,
			       const struct spio_nvmf_ns_opts *opts, spio_nvmf_ns_add_cb cb,
			       void *cb_arg)
{
	struct spio_nvmf_ns_opts o;
	struct spio_nvmf_ns *ns;
	struct ns_op *op;
	int rc;

	if (subsystem == NULL || bdev_name == NULL || cb == NULL ||
	    subsystem->subtype != SPIO_NVMF_SUBTYPE_NVME_SUBSYS ||
	    (opts != NULL && opts->opts_size == 0)) {
		return -EINVAL;
	}
	if (subsystem->op != NVMF_SUBSYS_OP_NONE || subsystem->tgt->state != NVMF_TGT_RUNNING) {
		return -EBUSY;
	}
	spio_nvmf_ns_opts_init(&o, sizeof(o));
	if (opts != NULL) {
		memcpy(&o, opts, SPIO_MIN(opts->opts_size, sizeof(o)));
		o.opts_size = sizeof(o);
	}
	rc = ns_resolve_nsid(subsystem, &o.nsid);
	if (rc != 0) {
		SPIO_ERRLOG("nvmf: subsystem %s: nsid %u for bdev %s: %s\n", subsystem->nqn, o.nsid,
			    bdev_name, strerror(-rc));
		return rc;
	}
	ns = calloc(1, sizeof(*ns));
	op = calloc(1, sizeof(*op));
	if (ns == NULL || op == NULL) {
		free(ns);
		free(op);
		return -ENOMEM;
	}
	rc = spio_bdev_open_ext(bdev_name, true, ns_event_cb, ns, &ns->desc);
	if (rc != 0) {
		SPIO_ERRLOG("nvmf: subsystem %s: bdev %s cannot be opened: %d\n", subsystem->nqn,
			    bdev_name, rc);
		free(ns);
		free(op);
		return rc == -EINVAL ? -ENODEV : rc;
	}
	ns->bdev = spio_bdev_desc_get_bdev(ns->desc);
	rc = spio_bdev_module_claim_bdev(ns->bdev, ns->desc, &g_nvmf_ns_module);
	if (rc != 0) {
		SPIO_ERRLOG("nvmf: subsystem %s: bdev %s cannot be claimed: %d\n", subsystem->nqn,
			    bdev_name, rc);
		spio_bdev_close(ns->desc);
		free(ns);
		free(op);
		return rc;
	}
	if (spio_uuid_is_null(&o.uuid)) {
		o.uuid = *spio_bdev_get_uuid(ns->bdev);
	}
	if (all_zero(o.nguid, sizeof(o.nguid))) {
		memcpy(o.nguid, spio_bdev_get_uuid(ns->bdev), sizeof(o.nguid));
	}
	ns->subsystem = subsystem;
	ns->nsid = o.nsid;
	ns->opts = o;
	subsystem->ns[o.nsid - 1] = ns;
	op->ns = ns;
	op->add_cb = cb;
	op->cb_arg = cb_arg;
	rc = nvmf_group_op_start(subsystem->tgt, pg_add_ns, add_ns_done, op);
	if (rc != 0) {
		ns_close(ns);
		free(op);
		return rc;
	}
	subsystem->op = NVMF_SUBSYS_OP_ADD_NS;
	return 0;
}

static void remove_ns_done(struct nvmf_group_op *gop, int status)
{
	struct ns_op *op = gop->ctx;
	struct spio_nvmf_ns *ns = op->ns;
	struct spio_nvmf_subsystem *subsystem = ns->subsystem;
	uint32_t nsid = ns->nsid;

	ns_close(ns);
	SPIO_NOTICELOG("nvmf: subsystem %s: namespace %u removed\n", subsystem->nqn, nsid);
	ns_notify_ctrlrs(subsystem, nsid);
	nvmf_subsystem_op_end(subsystem);
	if (op->remove_cb != NULL) {
		op->remove_cb(op->cb_arg, status);
	}
	free(op);
}

int spio_nvmf_subsystem_remove_ns(struct spio_nvmf_subsystem *subsystem, uint32_t nsid,
				  spio_nvmf_subsystem_cb cb, void *cb_arg)
{
	struct spio_nvmf_ns *ns;
	struct ns_op *op;
	int rc;

	if (subsystem == NULL) {
		return -EINVAL;
	}
	if (nsid == 0 || nsid > subsystem->max_nsid || subsystem->ns[nsid - 1] == NULL ||
	    !subsystem->ns[nsid - 1]->active) {
		return -ENOENT;
	}
	if (subsystem->op != NVMF_SUBSYS_OP_NONE) {
		return -EBUSY;
	}
	ns = subsystem->ns[nsid - 1];
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		return -ENOMEM;
	}
	op->ns = ns;
	op->remove_cb = cb;
	op->cb_arg = cb_arg;
	rc = nvmf_group_op_start(subsystem->tgt, pg_remove_ns, remove_ns_done, op);
	if (rc != 0) {
		free(op);
		return rc;
	}
	/* Gone for hosts from now: Identify and new commands see no namespace. */
	ns->active = false;
	subsystem->op = NVMF_SUBSYS_OP_REMOVE_NS;
	return 0;
}

static void remove_all_done(struct nvmf_group_op *gop, int status)
{
	struct ns_op *op = gop->ctx;
	struct spio_nvmf_subsystem *subsystem = op->subsystem;

	for (uint32_t i = 0; i < subsystem->max_nsid; i++) {
		if (subsystem->ns[i] != NULL) {
			ns_close(subsystem->ns[i]);
		}
	}
	op->all_done(subsystem);
	free(op);
}

void nvmf_subsystem_remove_all_ns(struct spio_nvmf_subsystem *subsystem,
				  void (*done)(struct spio_nvmf_subsystem *subsystem))
{
	struct ns_op *op = calloc(1, sizeof(*op));

	for (uint32_t i = 0; i < subsystem->max_nsid; i++) {
		if (subsystem->ns[i] != NULL) {
			subsystem->ns[i]->active = false;
		}
	}
	if (op != NULL) {
		op->subsystem = subsystem;
		op->all_done = done;
	}
	if (op == NULL ||
	    nvmf_group_op_start(subsystem->tgt, pg_free_sgroup, remove_all_done, op) != 0) {
		/* Leaks the groups' tables rather than freeing them under their feet. */
		SPIO_ERRLOG("nvmf: subsystem %s: out of memory removing its namespaces\n",
			    subsystem->nqn);
		free(op);
		done(subsystem);
	}
}

/*
 * Identify Namespace
 */

static uint32_t log2_u32(uint32_t v)
{
	uint32_t n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

void nvmf_ns_fill_identify(const struct spio_nvmf_ns *ns, struct spio_nvme_ns_data *nsdata,
			   uint32_t max_io_size)
{
	struct spio_bdev *bdev = ns->bdev;
	uint64_t num_blocks = spio_bdev_get_num_blocks(bdev);
	uint32_t block_size = spio_bdev_get_block_size(bdev);
	uint32_t phys_blocks = spio_bdev_get_physical_block_size(bdev) / block_size;
	uint32_t write_unit = spio_bdev_get_write_unit_size(bdev);
	uint32_t max_io_blocks = SPIO_MAX(max_io_size / block_size, 1u);
	uint32_t gran = SPIO_MAX(SPIO_MAX(phys_blocks, write_unit), 1u);

	memset(nsdata, 0, sizeof(*nsdata));
	nsdata->nsze = num_blocks;
	nsdata->ncap = num_blocks;
	nsdata->nuse = num_blocks;
	nsdata->nlbaf = 0;
	nsdata->flbas.format = 0;
	nsdata->lbaf[0].lbads = (uint8_t)log2_u32(block_size);
	nsdata->nmic.can_share = 1;
	/* The preferred sizes are 0's based; Linux takes its physical block size from them. */
	nsdata->nsfeat.optperf = 1;
	nsdata->nsfeat.ns_atomic_write_unit = 1;
	nsdata->npwg = (uint16_t)SPIO_MIN(gran - 1, UINT16_MAX);
	nsdata->npwa = nsdata->npwg;
	nsdata->npdg = nsdata->npwg;
	nsdata->npda = nsdata->npwg;
	nsdata->nawun = nsdata->npwg;
	nsdata->nawupf = nsdata->npwg;
	nsdata->nows = (uint16_t)SPIO_MIN(max_io_blocks - 1, UINT16_MAX);
	if (write_unit == 1) {
		/* No larger than MDTS: Linux mishandles a bigger NOIOB. */
		nsdata->noiob = (uint16_t)SPIO_MIN(
		    SPIO_MIN(spio_bdev_get_optimal_io_boundary(bdev), max_io_blocks), UINT16_MAX);
	}
	memcpy(nsdata->nguid, ns->opts.nguid, sizeof(nsdata->nguid));
	nsdata->eui64 = __builtin_bswap64(ns->opts.eui64);
}

/*
 * Accessors
 */

struct spio_nvmf_ns *spio_nvmf_subsystem_get_ns(const struct spio_nvmf_subsystem *subsystem,
						uint32_t nsid)
{
	struct spio_nvmf_ns *ns;

	if (subsystem == NULL || nsid == 0 || nsid > subsystem->max_nsid) {
		return NULL;
	}
	ns = subsystem->ns[nsid - 1];
	return ns != NULL && ns->active ? ns : NULL;
}

static struct spio_nvmf_ns *ns_next_from(const struct spio_nvmf_subsystem *subsystem, uint32_t nsid)
{
	for (; nsid <= subsystem->max_nsid; nsid++) {
		struct spio_nvmf_ns *ns = subsystem->ns[nsid - 1];

		if (ns != NULL && ns->active) {
			return ns;
		}
	}
	return NULL;
}

struct spio_nvmf_ns *spio_nvmf_subsystem_get_first_ns(const struct spio_nvmf_subsystem *subsystem)
{
	return subsystem != NULL ? ns_next_from(subsystem, 1) : NULL;
}

struct spio_nvmf_ns *spio_nvmf_subsystem_get_next_ns(const struct spio_nvmf_subsystem *subsystem,
						     const struct spio_nvmf_ns *ns)
{
	return subsystem != NULL && ns != NULL ? ns_next_from(subsystem, ns->nsid + 1) : NULL;
}

uint32_t spio_nvmf_ns_get_id(const struct spio_nvmf_ns *ns)
{
	return ns->nsid;
}

struct spio_bdev *spio_nvmf_ns_get_bdev(const struct spio_nvmf_ns *ns)
{
	return ns->bdev;
}

void spio_nvmf_ns_get_opts(const struct spio_nvmf_ns *ns, struct spio_nvmf_ns_opts *opts,
			   size_t opts_size)
{
	struct spio_nvmf_ns_opts o = ns->opts;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	o.opts_size = opts_size;
	memcpy(opts, &o, SPIO_MIN(opts_size, sizeof(o)));
}
