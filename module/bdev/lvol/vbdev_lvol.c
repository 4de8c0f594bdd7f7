/* The "lvol" bdev module (SPDK's vbdev_lvol): an lvstore on a base bdev
 * (claimed), one bdev per open lvol named by the lvol's UUID with the alias
 * "<lvstore>/<lvol>", I/O mapped onto the lvol's blob. Stores come back by
 * examine: every new bdev is tried as an lvstore and, if it is one, its
 * lvols are opened and registered. A hot-removed base bdev takes its lvol
 * bdevs and store with it. */
#include "vbdev_lvol.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/blob_bdev.h"
#include "spio/dma.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/thread.h"

/* SPDK's blobstore format, as far as the module looks at it: the super
 * block's first 4 KiB, its signature, its type; a mask's header (type and
 * length) before its bits. */
#define BS_SUPER_BYTES 4096u
#define BS_SIGNATURE "SPDKBLOB"
#define BS_TYPE_OFFSET 56
#define BS_TYPE_LEN 16
#define BS_MASK_HDR_BYTES 5

struct lvol_bdev {
	struct spio_bdev bdev; /* first: ctxt points here */
	struct spio_lvol *lvol;
	struct lvs_bdev *lvs_bdev;
	bool unregistering;
	/* Called once the lvol is closed after the bdev went (see lvol_bdev_unregister). */
	spio_lvol_op_complete closed_cb;
	void *closed_arg;
};

/* A channel of a store's io_device: the thread's blobstore channel and the
 * I/Os it refused for lack of room (-ENOMEM), resubmitted as others finish. */
struct lvs_channel {
	struct spio_io_channel *bs_ch;
	STAILQ_HEAD(, lvol_io) waiting;
	uint32_t inflight;
};

/* Per-I/O context. */
struct lvol_io {
	struct lvs_channel *ch;
	STAILQ_ENTRY(lvol_io) link;
};

static int vbdev_lvs_init(void);
static void vbdev_lvs_fini_start(void);
static void vbdev_lvs_fini(void);
static size_t vbdev_lvs_get_ctx_size(void);
static void vbdev_lvs_examine_disk(struct spio_bdev *bdev);

static struct spio_bdev_module g_lvol_if = {
    .name = "lvol",
    .module_init = vbdev_lvs_init,
    .fini_start = vbdev_lvs_fini_start,
    .async_fini_start = true,
    .module_fini = vbdev_lvs_fini,
    .async_fini = true,
    .get_ctx_size = vbdev_lvs_get_ctx_size,
    .examine_disk = vbdev_lvs_examine_disk,
};
SPIO_BDEV_MODULE_REGISTER(g_lvol_if)

static TAILQ_HEAD(, lvs_bdev) g_lvs_bdevs = TAILQ_HEAD_INITIALIZER(g_lvs_bdevs);
static bool g_shutdown_started;
static bool g_fini_waiting;

static void lvs_continue_removal(struct lvs_bdev *lvs_bdev);
static bool lvs_lvols_closed(struct spio_lvol_store *lvs);
static void lvs_start_removal(struct lvs_bdev *lvs_bdev, bool destroy, spio_lvs_op_complete cb_fn,
			      void *cb_arg);

/*
 * The list of stores
 */

struct lvs_bdev *vbdev_lvs_first(void)
{
	return TAILQ_FIRST(&g_lvs_bdevs);
}

struct lvs_bdev *vbdev_lvs_next(struct lvs_bdev *prev)
{
	return prev != NULL ? TAILQ_NEXT(prev, link) : NULL;
}

/* The first store for which match(store, key) holds, or NULL. */
static struct lvs_bdev *lvs_bdev_find(bool (*match)(const struct lvs_bdev *lb, const void *key),
				      const void *key)
{
	struct lvs_bdev *lb;

	TAILQ_FOREACH (lb, &g_lvs_bdevs, link) {
		if (match(lb, key)) {
			return lb;
		}
	}
	return NULL;
}

static bool match_lvs(const struct lvs_bdev *lb, const void *lvs)
{
	return lb->lvs == lvs;
}

static bool match_base(const struct lvs_bdev *lb, const void *bdev)
{
	return lb->bdev == bdev;
}

static bool match_uuid(const struct lvs_bdev *lb, const void *uuid)
{
	return spio_uuid_compare(spio_lvs_get_uuid(lb->lvs), uuid) == 0;
}

static bool match_name(const struct lvs_bdev *lb, const void *name)
{
	return strcmp(spio_lvs_get_name(lb->lvs), name) == 0;
}

struct lvs_bdev *vbdev_get_lvs_bdev_by_lvs(struct spio_lvol_store *lvs)
{
	struct lvs_bdev *lb = lvs_bdev_find(match_lvs, lvs);

	return lb != NULL && !lb->removal_in_progress ? lb : NULL;
}

struct spio_lvol_store *vbdev_get_lvol_store_by_uuid(const char *uuid_str)
{
	struct spio_uuid uuid;
	struct lvs_bdev *lb;

	if (uuid_str == NULL || spio_uuid_parse(&uuid, uuid_str) != 0) {
		return NULL;
	}
	lb = lvs_bdev_find(match_uuid, &uuid);
	return lb != NULL ? lb->lvs : NULL;
}

struct spio_lvol_store *vbdev_get_lvol_store_by_name(const char *name)
{
	struct lvs_bdev *lb = name != NULL ? lvs_bdev_find(match_name, name) : NULL;

	return lb != NULL ? lb->lvs : NULL;
}

struct spio_lvol *vbdev_lvol_get_from_bdev(struct spio_bdev *bdev)
{
	if (bdev == NULL || bdev->module != &g_lvol_if || bdev->ctxt == NULL) {
		return NULL;
	}
	return ((struct lvol_bdev *)bdev->ctxt)->lvol;
}

uint64_t vbdev_lvs_max_growable_size(struct lvs_bdev *lvs_bdev)
{
	struct spio_blob_store *bs = spio_lvs_get_bs(lvs_bdev->lvs);
	struct spio_bs_dev *dev = spio_lvs_get_bs_dev(lvs_bdev->lvs);
	uint64_t cluster = spio_bs_get_cluster_size(bs);
	uint64_t page = spio_bs_get_page_size(bs);
	/* SPDK sizes the mask by the md pages, one per cluster by default: the
	 * blob API does not give the md page count, so the default stands in */
	uint64_t md_len = dev->blockcnt * dev->blocklen / cluster;
	uint64_t pages = (BS_MASK_HDR_BYTES + (md_len + 7) / 8 + page - 1) / page;

	return (pages * page - BS_MASK_HDR_BYTES) * 8 * cluster;
}

/*
 * A store's channels: one blobstore channel per thread for its lvols' I/O
 */

static int lvs_channel_create(void *io_device, void *ctx_buf)
{
	struct lvs_bdev *lvs_bdev = io_device;
	struct lvs_channel *ch = ctx_buf;

	ch->bs_ch = spio_bs_alloc_io_channel(spio_lvs_get_bs(lvs_bdev->lvs));
	if (ch->bs_ch == NULL) {
		return -ENOMEM;
	}
	STAILQ_INIT(&ch->waiting);
	return 0;
}

static void lvs_channel_destroy(void *io_device, void *ctx_buf)
{
	struct lvs_channel *ch = ctx_buf;

	(void)io_device;
	spio_bs_free_io_channel(ch->bs_ch);
}

static struct lvs_bdev *lvs_bdev_create(struct spio_lvol_store *lvs, struct spio_bdev *base)
{
	struct lvs_bdev *lb = calloc(1, sizeof(*lb));

	if (lb == NULL) {
		return NULL;
	}
	lb->lvs = lvs;
	lb->bdev = base;
	lb->base_name = strdup(spio_bdev_get_name(base));
	if (lb->base_name == NULL ||
	    spio_io_device_register(lb, lvs_channel_create, lvs_channel_destroy,
				    sizeof(struct lvs_channel), "lvol_store") != 0) {
		free(lb->base_name);
		free(lb);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&g_lvs_bdevs, lb, link);
	return lb;
}

static void lvs_bdev_free(struct lvs_bdev *lb, int rc)
{
	spio_lvs_op_complete cb_fn = lb->remove_cb;
	void *cb_arg = lb->remove_arg;

	TAILQ_REMOVE(&g_lvs_bdevs, lb, link);
	free(lb->base_name);
	free(lb);
	if (cb_fn != NULL) {
		cb_fn(cb_arg, rc);
	}
	if (g_fini_waiting && TAILQ_EMPTY(&g_lvs_bdevs)) {
		g_fini_waiting = false;
		spio_bdev_module_fini_done(&g_lvol_if);
	}
}

/*
 * I/O
 */

static void lvol_io_start(struct lvol_io *io);

static void lvol_io_done(void *cb_arg, int bserrno)
{
	struct lvol_io *io = cb_arg;
	struct lvs_channel *ch = io->ch;
	struct lvol_io *next;

	ch->inflight--;
	if (bserrno == -ENOMEM) {
		/* the channel's blob ops are all in flight: wait for one to end */
		STAILQ_INSERT_TAIL(&ch->waiting, io, link);
	} else {
		spio_bdev_io_complete(spio_bdev_io_from_ctx(io), bserrno == 0
								     ? SPIO_BDEV_IO_STATUS_SUCCESS
								     : SPIO_BDEV_IO_STATUS_FAILED);
	}
	next = STAILQ_FIRST(&ch->waiting);
	if (next != NULL && (next != io || ch->inflight == 0)) {
		STAILQ_REMOVE_HEAD(&ch->waiting, link);
		lvol_io_start(next);
	}
}

static void lvol_io_start(struct lvol_io *io)
{
	struct spio_bdev_io *bdev_io = spio_bdev_io_from_ctx(io);
	struct lvol_bdev *lb = bdev_io->bdev->ctxt;
	struct spio_blob *blob = spio_lvol_get_blob(lb->lvol);
	struct spio_io_channel *bs_ch = io->ch->bs_ch;
	uint64_t off = bdev_io->u.offset_blocks, n = bdev_io->u.num_blocks;

	io->ch->inflight++;
	switch (bdev_io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
		spio_blob_io_readv(blob, bs_ch, bdev_io->u.iovs, bdev_io->u.iovcnt, off, n,
				   lvol_io_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE:
		spio_blob_io_writev(blob, bs_ch, bdev_io->u.iovs, bdev_io->u.iovcnt, off, n,
				    lvol_io_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_UNMAP:
		spio_blob_io_unmap(blob, bs_ch, off, n, lvol_io_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE_ZEROES:
		spio_blob_io_write_zeroes(blob, bs_ch, off, n, lvol_io_done, io);
		break;
	default:
		io->ch->inflight--;
		spio_bdev_io_complete(bdev_io, SPIO_BDEV_IO_STATUS_FAILED);
		break;
	}
}

static void vbdev_lvol_submit(struct spio_io_channel *ch, struct spio_bdev_io *bdev_io)
{
	struct lvol_io *io = spio_bdev_io_get_driver_ctx(bdev_io);

	if (bdev_io->type == SPIO_BDEV_IO_TYPE_RESET) {
		/* blob I/O cannot be cancelled; what is in flight completes */
		spio_bdev_io_complete(bdev_io, SPIO_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	io->ch = spio_io_channel_get_ctx(ch);
	lvol_io_start(io);
}

static bool vbdev_lvol_io_type_supported(void *ctxt, enum spio_bdev_io_type type)
{
	struct lvol_bdev *lb = ctxt;

	switch (type) {
	case SPIO_BDEV_IO_TYPE_WRITE:
	case SPIO_BDEV_IO_TYPE_UNMAP:
	case SPIO_BDEV_IO_TYPE_WRITE_ZEROES:
		return !spio_blob_is_read_only(spio_lvol_get_blob(lb->lvol));
	case SPIO_BDEV_IO_TYPE_READ:
	case SPIO_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

static struct spio_io_channel *vbdev_lvol_get_io_channel(void *ctxt)
{
	struct lvol_bdev *lb = ctxt;

	return spio_get_io_channel(lb->lvs_bdev);
}

static size_t vbdev_lvs_get_ctx_size(void)
{
	return sizeof(struct lvol_io);
}

/*
 * bdev_get_bdevs' driver_specific.lvol, SPDK's members
 */

static void dump_lvol_name(struct spio_lvol_store *lvs, spio_blob_id id,
			   struct spio_json_write_ctx *w, const char *key)
{
	struct spio_lvol *other = spio_lvs_get_lvol_by_blob_id(lvs, id);

	if (other == NULL) {
		SPIO_ERRLOG("lvstore %s: no lvol for blob 0x%" PRIx64, spio_lvs_get_name(lvs), id);
		return;
	}
	if (key != NULL) {
		spio_json_write_named_string(w, key, spio_lvol_get_name(other));
	} else {
		spio_json_write_string(w, spio_lvol_get_name(other));
	}
}

static void dump_clones(struct spio_lvol *lvol, struct spio_json_write_ctx *w)
{
	struct spio_lvol_store *lvs = spio_lvol_get_lvs(lvol);
	struct spio_blob_store *bs = spio_lvs_get_bs(lvs);
	spio_blob_id *ids;
	size_t count = 0;

	if (spio_blob_get_clones(bs, spio_lvol_get_blob_id(lvol), NULL, &count) != -ENOMEM ||
	    count == 0) {
		return;
	}
	ids = calloc(count, sizeof(*ids));
	if (ids == NULL) {
		return;
	}
	if (spio_blob_get_clones(bs, spio_lvol_get_blob_id(lvol), ids, &count) == 0) {
		spio_json_write_named_array_begin(w, "clones");
		for (size_t i = 0; i < count; i++) {
			dump_lvol_name(lvs, ids[i], w, NULL);
		}
		spio_json_write_array_end(w);
	}
	free(ids);
}

static void vbdev_lvol_dump_info_json(void *ctxt, struct spio_json_write_ctx *w)
{
	struct lvol_bdev *lb = ctxt;
	struct spio_lvol *lvol = lb->lvol;
	struct spio_lvol_store *lvs = spio_lvol_get_lvs(lvol);
	struct spio_blob *blob = spio_lvol_get_blob(lvol);
	spio_blob_id parent;

	spio_json_write_named_object_begin(w, "lvol");
	spio_json_write_named_uuid(w, "lvol_store_uuid", spio_lvs_get_uuid(lvs));
	spio_json_write_named_string(w, "base_bdev", spio_bdev_get_name(lb->lvs_bdev->bdev));
	spio_json_write_named_bool(w, "thin_provision", spio_blob_is_thin_provisioned(blob));
	spio_json_write_named_uint64(w, "num_allocated_clusters",
				     spio_blob_get_num_allocated_clusters(blob));
	spio_json_write_named_bool(w, "snapshot", spio_blob_is_snapshot(blob));
	spio_json_write_named_bool(w, "clone", spio_blob_is_clone(blob));
	if (spio_blob_is_clone(blob)) {
		parent = spio_blob_get_parent_snapshot(spio_lvs_get_bs(lvs),
						       spio_lvol_get_blob_id(lvol));
		if (parent != SPIO_BLOBID_INVALID) {
			dump_lvol_name(lvs, parent, w, "base_snapshot");
		}
	}
	if (spio_blob_is_snapshot(blob)) {
		dump_clones(lvol, w);
	}
	/* external snapshots are not supported: never one */
	spio_json_write_named_bool(w, "esnap_clone", false);
	spio_json_write_object_end(w);
}

/*
 * An lvol's bdev
 */

static void lvol_bdev_closed(void *cb_arg, int rc)
{
	struct lvol_bdev *lb = cb_arg;
	struct lvs_bdev *lvs_bdev = lb->lvs_bdev;
	spio_lvol_op_complete cb_fn = lb->closed_cb;
	void *cb_arg2 = lb->closed_arg;

	spio_lvol_set_ctx(lb->lvol, NULL);
	free(lb->bdev.name);
	free(lb);
	if (cb_fn != NULL) {
		cb_fn(cb_arg2, rc);
	}
	/* lvs_bdev goes only after its io_device, by message: still valid here */
	if (lvs_bdev->removal_in_progress) {
		if (!lvs_bdev->destroy) {
			lvs_continue_removal(lvs_bdev);
		}
	} else if (g_shutdown_started && lvs_lvols_closed(lvs_bdev->lvs)) {
		/* the last lvol bdev of the store went: unload it before its base goes */
		lvs_start_removal(lvs_bdev, false, NULL, NULL);
	}
}

/* Once every descriptor and channel is gone: close the lvol (the blob),
 * which ends in lvol_bdev_closed. */
static int vbdev_lvol_destruct(void *ctxt)
{
	struct lvol_bdev *lb = ctxt;

	lb->unregistering = true;
	spio_lvol_close(lb->lvol, lvol_bdev_closed, lb);
	return 0;
}

static const struct spio_bdev_fn_table g_lvol_fn_table = {
    .destruct = vbdev_lvol_destruct,
    .submit_request = vbdev_lvol_submit,
    .io_type_supported = vbdev_lvol_io_type_supported,
    .get_io_channel = vbdev_lvol_get_io_channel,
    .dump_info_json = vbdev_lvol_dump_info_json,
    /* nothing in save_config: the lvols are on the device and come back by examine */
};

/*
 * Unregister the lvol's bdev; `cb_fn` runs once the lvol is closed after
 * it (the bdev layer's own callback runs before the close ends).
 * \return 0; -EBUSY (already going); spio_bdev_unregister()'s errors.
 */
static int lvol_bdev_unregister(struct lvol_bdev *lb, spio_lvol_op_complete cb_fn, void *cb_arg)
{
	int rc;

	if (lb->unregistering) {
		return -EBUSY;
	}
	lb->unregistering = true;
	lb->closed_cb = cb_fn;
	lb->closed_arg = cb_arg;
	rc = spio_bdev_unregister(&lb->bdev, NULL, NULL);
	if (rc != 0) {
		lb->unregistering = false;
		lb->closed_cb = NULL;
		lb->closed_arg = NULL;
	}
	return rc;
}

static void lvol_noop_done(void *cb_arg, int rc)
{
	(void)cb_arg;
	(void)rc;
}

static void lvol_closed_then_destroy(void *cb_arg, int rc)
{
	struct spio_lvol *lvol = cb_arg;

	(void)rc;
	spio_lvol_destroy(lvol, lvol_noop_done, NULL);
}

/* After a failed registration: close the open lvol, and destroy it if it
 * was just created (as SPDK does), so no lvol is left without a bdev. */
static void lvol_disk_cleanup(struct spio_lvol *lvol, bool destroy)
{
	spio_lvol_close(lvol, destroy ? lvol_closed_then_destroy : lvol_noop_done,
			destroy ? lvol : NULL);
}

/*
 * Register the bdev of an open lvol: name = its unique id (UUID), alias
 * "<lvstore>/<lvol>". On failure the lvol is closed (and destroyed with
 * `destroy`). \return 0 or the error.
 */
static int lvol_disk_create(struct spio_lvol *lvol, struct lvs_bdev *lvs_bdev, bool destroy)
{
	struct spio_lvol_store *lvs = spio_lvol_get_lvs(lvol);
	struct spio_blob_store *bs = spio_lvs_get_bs(lvs);
	struct spio_bdev *base = lvs_bdev->bdev;
	struct spio_blob *blob = spio_lvol_get_blob(lvol);
	uint64_t cluster = spio_bs_get_cluster_size(bs);
	uint32_t blocklen = (uint32_t)spio_bs_get_io_unit_size(bs);
	uint32_t phys = spio_bdev_get_physical_block_size(base);
	size_t align = spio_bdev_get_buf_align(base);
	struct lvol_bdev *lb;
	char alias[SPIO_LVS_NAME_MAX + SPIO_LVOL_NAME_MAX + 1];
	int rc;

	lb = calloc(1, sizeof(*lb));
	if (lb == NULL || (lb->bdev.name = strdup(spio_lvol_get_unique_id(lvol))) == NULL) {
		free(lb);
		lvol_disk_cleanup(lvol, destroy);
		return -ENOMEM;
	}
	lb->lvol = lvol;
	lb->lvs_bdev = lvs_bdev;
	lb->bdev.ctxt = lb;
	lb->bdev.product_name = "Logical Volume";
	lb->bdev.blocklen = blocklen;
	lb->bdev.blockcnt = spio_blob_get_num_clusters(blob) * cluster / blocklen;
	lb->bdev.uuid = *spio_lvol_get_uuid(lvol);
	lb->bdev.required_alignment = align > 1 ? (uint32_t)align : 0;
	/* a cluster is contiguous on the device: split I/O at cluster ends */
	lb->bdev.split_on_optimal_io_boundary = true;
	lb->bdev.optimal_io_boundary = (uint32_t)(cluster / blocklen);
	lb->bdev.phys_blocklen = phys > blocklen && phys % blocklen == 0 ? phys : 0;
	lb->bdev.numa = base->numa;
	lb->bdev.module = &g_lvol_if;
	lb->bdev.fn_table = &g_lvol_fn_table;

	rc = spio_bdev_register(&lb->bdev);
	if (rc != 0) {
		SPIO_ERRLOG("lvol %s/%s: cannot register bdev %s: %s", spio_lvs_get_name(lvs),
			    spio_lvol_get_name(lvol), lb->bdev.name, strerror(-rc));
		free(lb->bdev.name);
		free(lb);
		lvol_disk_cleanup(lvol, destroy);
		return rc;
	}
	spio_lvol_set_ctx(lvol, lb);
	snprintf(alias, sizeof(alias), "%s/%s", spio_lvs_get_name(lvs), spio_lvol_get_name(lvol));
	rc = spio_bdev_alias_add(&lb->bdev, alias);
	if (rc != 0) {
		SPIO_ERRLOG("lvol bdev %s: cannot add alias %s: %s", lb->bdev.name, alias,
			    strerror(-rc));
		if (lvol_bdev_unregister(lb, destroy ? lvol_closed_then_destroy : NULL,
					 destroy ? lvol : NULL) != 0) {
			SPIO_ERRLOG("lvol bdev %s: cannot unregister", lb->bdev.name);
		}
		return rc;
	}
	return 0;
}

/*
 * Removing a store: its lvol bdevs go (and with destroy, the lvols), then
 * its io_device, then the store is unloaded or destroyed.
 */

static void lvs_removed(void *cb_arg, int rc)
{
	struct lvs_bdev *lvs_bdev = cb_arg;

	if (rc == -ENODEV) {
		/* the base bdev went first (hot remove, or shutdown's order) */
		SPIO_NOTICELOG("lvstore on %s: unloaded after its bdev went; it stays marked in "
			       "use and its next load recovers it",
			       lvs_bdev->base_name);
	} else if (rc != 0) {
		SPIO_ERRLOG("lvstore on %s: removal ended with %s", lvs_bdev->base_name,
			    strerror(-rc));
	}
	lvs_bdev_free(lvs_bdev, rc);
}

static void lvs_io_device_gone(void *io_device)
{
	struct lvs_bdev *lvs_bdev = io_device;
	int rc;

	if (lvs_bdev->destroy) {
		rc = spio_lvs_destroy(lvs_bdev->lvs, lvs_removed, lvs_bdev);
	} else {
		rc = spio_lvs_unload(lvs_bdev->lvs, lvs_removed, lvs_bdev);
	}
	/* -EBUSY has been reported through the callback already */
	if (rc != 0 && rc != -EBUSY) {
		lvs_removed(lvs_bdev, rc);
	}
}

static bool lvs_lvols_closed(struct spio_lvol_store *lvs)
{
	for (struct spio_lvol *l = spio_lvs_first_lvol(lvs); l != NULL; l = spio_lvs_next_lvol(l)) {
		if (spio_lvol_is_open(l)) {
			return false;
		}
	}
	return true;
}

static void lvs_finish_removal(struct lvs_bdev *lvs_bdev)
{
	if (spio_io_device_unregister(lvs_bdev, lvs_io_device_gone) != 0) {
		SPIO_ERRLOG("lvstore %s: io_device not registered",
			    spio_lvs_get_name(lvs_bdev->lvs));
		lvs_io_device_gone(lvs_bdev);
	}
}

static void _vbdev_lvol_destroy(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg);

static void lvs_remove_lvol_done(void *cb_arg, int rc)
{
	struct lvs_bdev *lvs_bdev = cb_arg;

	if (rc != 0) {
		SPIO_INFOLOG("lvstore %s: an lvol went with %s", spio_lvs_get_name(lvs_bdev->lvs),
			     strerror(-rc));
	}
	lvs_continue_removal(lvs_bdev);
}

static void lvs_continue_removal(struct lvs_bdev *lvs_bdev)
{
	struct spio_lvol_store *lvs = lvs_bdev->lvs;
	struct spio_lvol *lvol;
	struct lvol_bdev *lb;

	if (lvs_bdev->destroy) {
		/* one at a time, leaves first: a snapshot goes after its clones */
		for (lvol = spio_lvs_first_lvol(lvs); lvol != NULL;
		     lvol = spio_lvs_next_lvol(lvol)) {
			if (spio_lvol_deletable(lvol)) {
				_vbdev_lvol_destroy(lvol, lvs_remove_lvol_done, lvs_bdev);
				return;
			}
		}
		if (spio_lvs_first_lvol(lvs) != NULL) {
			SPIO_ERRLOG("lvstore %s: lvols left that cannot be deleted",
				    spio_lvs_get_name(lvs));
		}
		lvs_finish_removal(lvs_bdev);
		return;
	}
	if (lvs_lvols_closed(lvs)) {
		lvs_finish_removal(lvs_bdev);
		return;
	}
	for (lvol = spio_lvs_first_lvol(lvs); lvol != NULL; lvol = spio_lvs_next_lvol(lvol)) {
		lb = spio_lvol_get_ctx(lvol);
		if (lb != NULL && !lb->unregistering) {
			/* lvol_bdev_closed() comes back here */
			if (lvol_bdev_unregister(lb, NULL, NULL) != 0) {
				SPIO_ERRLOG("lvol bdev %s: cannot unregister", lb->bdev.name);
			}
		}
	}
}

static void lvs_start_removal(struct lvs_bdev *lvs_bdev, bool destroy, spio_lvs_op_complete cb_fn,
			      void *cb_arg)
{
	lvs_bdev->removal_in_progress = true;
	lvs_bdev->destroy = destroy;
	lvs_bdev->remove_cb = cb_fn;
	lvs_bdev->remove_arg = cb_arg;
	lvs_continue_removal(lvs_bdev);
}

void vbdev_lvs_destruct(struct spio_lvol_store *lvs, spio_lvs_op_complete cb_fn, void *cb_arg)
{
	struct lvs_bdev *lvs_bdev = vbdev_get_lvs_bdev_by_lvs(lvs);

	if (lvs_bdev == NULL) {
		SPIO_ERRLOG("lvstore: not loaded, or being removed");
		cb_fn(cb_arg, -ENODEV);
		return;
	}
	lvs_start_removal(lvs_bdev, true, cb_fn, cb_arg);
}

/* The base bdev's events: a removal unloads the store (its writes fail by then). */
static void lvs_base_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	struct lvs_bdev *lvs_bdev;

	(void)ctx;
	if (type != SPIO_BDEV_EVENT_REMOVE) {
		SPIO_NOTICELOG("bdev %s: event %d ignored by the lvstore on it",
			       spio_bdev_get_name(bdev), (int)type);
		return;
	}
	lvs_bdev = lvs_bdev_find(match_base, bdev);
	if (lvs_bdev != NULL && !lvs_bdev->removal_in_progress) {
		SPIO_NOTICELOG("bdev %s being removed: closing lvstore %s",
			       spio_bdev_get_name(bdev), spio_lvs_get_name(lvs_bdev->lvs));
		lvs_start_removal(lvs_bdev, false, NULL, NULL);
	}
}

/*
 * Creating a store
 */

struct lvs_create_req {
	struct spio_bdev *base;
	spio_lvs_op_with_handle_complete cb_fn;
	void *cb_arg;
	int rc;
};

static void lvs_create_undone(void *cb_arg, int rc)
{
	struct lvs_create_req *req = cb_arg;

	(void)rc;
	req->cb_fn(req->cb_arg, NULL, req->rc);
	free(req);
}

static void lvs_created(void *cb_arg, struct spio_lvol_store *lvs, int rc)
{
	struct lvs_create_req *req = cb_arg;

	if (rc != 0) {
		req->cb_fn(req->cb_arg, NULL, rc);
		free(req);
		return;
	}
	if (lvs_bdev_create(lvs, req->base) == NULL) {
		req->rc = -ENOMEM;
		if (spio_lvs_destroy(lvs, lvs_create_undone, req) != 0) {
			lvs_create_undone(req, 0);
		}
		return;
	}
	req->cb_fn(req->cb_arg, lvs, 0);
	free(req);
}

int vbdev_lvs_create(const char *base_bdev_name, const char *name, uint32_t cluster_sz,
		     enum spio_lvs_clear_method clear_method,
		     uint32_t num_md_pages_per_cluster_ratio, uint32_t md_page_size,
		     spio_lvs_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct spio_lvs_opts opts;
	struct spio_bs_dev *bs_dev;
	struct lvs_create_req *req;
	size_t len;
	int rc;

	if (base_bdev_name == NULL || name == NULL) {
		return -EINVAL;
	}
	len = strnlen(name, SPIO_LVS_NAME_MAX);
	if (len == 0 || len == SPIO_LVS_NAME_MAX) {
		SPIO_ERRLOG("lvstore name '%s': must have 1 to %d characters", name,
			    SPIO_LVS_NAME_MAX - 1);
		return -EINVAL;
	}
	if (md_page_size != 0 &&
	    (md_page_size < 4096 || md_page_size > 65536 || (md_page_size & (md_page_size - 1)))) {
		SPIO_ERRLOG("lvstore %s: md_page_size %" PRIu32
			    ": must be a power of two from 4096 to 65536",
			    name, md_page_size);
		return -EINVAL;
	}
	spio_lvs_opts_init(&opts, sizeof(opts));
	if (cluster_sz != 0) {
		opts.cluster_sz = cluster_sz;
	}
	opts.clear_method = clear_method;
	if (num_md_pages_per_cluster_ratio != 0) {
		opts.num_md_pages_per_cluster_ratio = num_md_pages_per_cluster_ratio;
	}
	opts.md_page_size = md_page_size;
	snprintf(opts.name, sizeof(opts.name), "%s", name);

	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		return -ENOMEM;
	}
	rc = spio_bdev_create_bs_dev(base_bdev_name, true, lvs_base_event, NULL, &bs_dev);
	if (rc != 0) {
		SPIO_ERRLOG("lvstore %s: cannot open bdev %s: %s", name, base_bdev_name,
			    strerror(-rc));
		free(req);
		return rc;
	}
	/* claimed before the first write, so nobody else writes it meanwhile */
	rc = spio_bs_bdev_claim(bs_dev, &g_lvol_if);
	if (rc != 0) {
		SPIO_ERRLOG("lvstore %s: bdev %s is claimed", name, base_bdev_name);
		bs_dev->destroy(bs_dev);
		free(req);
		return rc;
	}
	req->base = spio_bs_dev_get_bdev(bs_dev);
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	rc = spio_lvs_init(bs_dev, &opts, lvs_created, req);
	if (rc != 0) {
		bs_dev->destroy(bs_dev);
		free(req);
		return rc;
	}
	return 0;
}

/*
 * Rename a store
 */

struct lvs_rename_req {
	struct spio_lvol_store *lvs;
	char old_name[SPIO_LVS_NAME_MAX];
	spio_lvs_op_complete cb_fn;
	void *cb_arg;
};

/* Move the bdev's alias from "<old store>/<lvol>" to "<new store>/<lvol>". */
static void lvol_bdev_move_alias(struct lvol_bdev *lb, const char *old_lvs, const char *old_lvol)
{
	char old_alias[SPIO_LVS_NAME_MAX + SPIO_LVOL_NAME_MAX + 1];
	char new_alias[SPIO_LVS_NAME_MAX + SPIO_LVOL_NAME_MAX + 1];
	struct spio_lvol *lvol = lb->lvol;
	int rc;

	snprintf(old_alias, sizeof(old_alias), "%s/%s", old_lvs, old_lvol);
	snprintf(new_alias, sizeof(new_alias), "%s/%s", spio_lvs_get_name(spio_lvol_get_lvs(lvol)),
		 spio_lvol_get_name(lvol));
	rc = spio_bdev_alias_add(&lb->bdev, new_alias);
	if (rc != 0) {
		SPIO_ERRLOG("lvol bdev %s: cannot add alias %s: %s", lb->bdev.name, new_alias,
			    strerror(-rc));
		return;
	}
	spio_bdev_alias_del(&lb->bdev, old_alias);
}

static void lvs_renamed(void *cb_arg, int rc)
{
	struct lvs_rename_req *req = cb_arg;
	struct spio_lvol *lvol;
	struct lvol_bdev *lb;

	if (rc == 0) {
		for (lvol = spio_lvs_first_lvol(req->lvs); lvol != NULL;
		     lvol = spio_lvs_next_lvol(lvol)) {
			lb = spio_lvol_get_ctx(lvol);
			if (lb != NULL) {
				lvol_bdev_move_alias(lb, req->old_name, spio_lvol_get_name(lvol));
			}
		}
	}
	req->cb_fn(req->cb_arg, rc);
	free(req);
}

void vbdev_lvs_rename(struct spio_lvol_store *lvs, const char *new_name, spio_lvs_op_complete cb_fn,
		      void *cb_arg)
{
	struct lvs_rename_req *req;

	if (vbdev_get_lvs_bdev_by_lvs(lvs) == NULL) {
		cb_fn(cb_arg, -ENODEV);
		return;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		cb_fn(cb_arg, -ENOMEM);
		return;
	}
	req->lvs = lvs;
	snprintf(req->old_name, sizeof(req->old_name), "%s", spio_lvs_get_name(lvs));
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	spio_lvs_rename(lvs, new_name, lvs_renamed, req);
}

/*
 * Creating lvols: create / snapshot / clone, then the bdev
 */

struct lvol_create_req {
	struct lvs_bdev *lvs_bdev;
	spio_lvol_op_with_handle_complete cb_fn;
	void *cb_arg;
};

static void lvol_created(void *cb_arg, struct spio_lvol *lvol, int rc)
{
	struct lvol_create_req *req = cb_arg;

	if (rc == 0) {
		rc = lvol_disk_create(lvol, req->lvs_bdev, true);
		if (rc != 0) {
			lvol = NULL;
		}
	}
	req->cb_fn(req->cb_arg, lvol, rc);
	free(req);
}

static struct lvol_create_req *lvol_create_req(struct spio_lvol_store *lvs,
					       spio_lvol_op_with_handle_complete cb_fn,
					       void *cb_arg, int *rc)
{
	struct lvs_bdev *lvs_bdev = vbdev_get_lvs_bdev_by_lvs(lvs);
	struct lvol_create_req *req;

	if (lvs_bdev == NULL) {
		*rc = -ENODEV;
		return NULL;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	req->lvs_bdev = lvs_bdev;
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	return req;
}

int vbdev_lvol_create(struct spio_lvol_store *lvs, const char *name, uint64_t sz,
		      bool thin_provision, enum spio_lvol_clear_method clear_method,
		      spio_lvol_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct lvol_create_req *req;
	int rc;

	if (sz == 0) {
		SPIO_ERRLOG("lvol %s: size 0: an lvol needs at least one cluster",
			    name != NULL ? name : "(null)");
		return -EINVAL;
	}
	req = lvol_create_req(lvs, cb_fn, cb_arg, &rc);
	if (req == NULL) {
		return rc;
	}
	rc = spio_lvol_create(lvs, name, sz, thin_provision, clear_method, lvol_created, req);
	if (rc != 0) {
		free(req);
	}
	return rc;
}

/* A snapshot of `lvol`, or (`clone`) a clone of the snapshot `lvol`, then its bdev. */
static void lvol_derive(struct spio_lvol *lvol, const char *name, bool clone,
			spio_lvol_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct lvol_create_req *req;
	int rc;

	req = lvol_create_req(spio_lvol_get_lvs(lvol), cb_fn, cb_arg, &rc);
	if (req == NULL) {
		cb_fn(cb_arg, NULL, rc);
		return;
	}
	if (clone) {
		spio_lvol_create_clone(lvol, name, lvol_created, req);
	} else {
		spio_lvol_create_snapshot(lvol, name, lvol_created, req);
	}
}

void vbdev_lvol_create_snapshot(struct spio_lvol *lvol, const char *snapshot_name,
				spio_lvol_op_with_handle_complete cb_fn, void *cb_arg)
{
	lvol_derive(lvol, snapshot_name, false, cb_fn, cb_arg);
}

void vbdev_lvol_create_clone(struct spio_lvol *lvol, const char *clone_name,
			     spio_lvol_op_with_handle_complete cb_fn, void *cb_arg)
{
	lvol_derive(lvol, clone_name, true, cb_fn, cb_arg);
}

/*
 * Deleting an lvol: its bdev first, then the blob
 */

struct lvol_destroy_req {
	struct spio_lvol *lvol;
	spio_lvol_op_complete cb_fn;
	void *cb_arg;
};

static void lvol_destroy_closed(void *cb_arg, int rc)
{
	struct lvol_destroy_req *req = cb_arg;

	/* a failed last sync still closed the blob: go on as SPDK does */
	if (rc != 0) {
		SPIO_ERRLOG("lvol %s: closed with %s", spio_lvol_get_unique_id(req->lvol),
			    strerror(-rc));
	}
	spio_lvol_destroy(req->lvol, req->cb_fn, req->cb_arg);
	free(req);
}

static void _vbdev_lvol_destroy(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg)
{
	struct spio_blob_store *bs = spio_lvs_get_bs(spio_lvol_get_lvs(lvol));
	struct lvol_bdev *lb = spio_lvol_get_ctx(lvol);
	struct lvol_destroy_req *req;
	size_t count = 0;
	int rc;

	spio_blob_get_clones(bs, spio_lvol_get_blob_id(lvol), NULL, &count);
	if (count > 1) {
		SPIO_ERRLOG("lvol %s: cannot delete a snapshot with %zu clones",
			    spio_lvol_get_unique_id(lvol), count);
		cb_fn(cb_arg, -EPERM);
		return;
	}
	if (lb == NULL && !spio_lvol_is_open(lvol)) {
		spio_lvol_destroy(lvol, cb_fn, cb_arg);
		return;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		cb_fn(cb_arg, -ENOMEM);
		return;
	}
	req->lvol = lvol;
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	if (lb == NULL) {
		spio_lvol_close(lvol, lvol_destroy_closed, req);
		return;
	}
	rc = lvol_bdev_unregister(lb, lvol_destroy_closed, req);
	if (rc != 0) {
		SPIO_ERRLOG("lvol %s: cannot unregister its bdev: %s",
			    spio_lvol_get_unique_id(lvol), strerror(-rc));
		free(req);
		cb_fn(cb_arg, rc);
	}
}

void vbdev_lvol_destroy(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg)
{
	if (vbdev_get_lvs_bdev_by_lvs(spio_lvol_get_lvs(lvol)) == NULL) {
		cb_fn(cb_arg, -ENODEV);
		return;
	}
	_vbdev_lvol_destroy(lvol, cb_fn, cb_arg);
}

/*
 * Rename, resize
 */

/* The head of a rename or resize request: the lvol's bdev and the caller's callback. */
struct lvol_op_req {
	struct lvol_bdev *lb;
	spio_lvol_op_complete cb_fn;
	void *cb_arg;
};

/* A zeroed request of `size` bytes that starts with a struct lvol_op_req, filled in; NULL after
 * answering -ENOMEM. */
static void *lvol_op_req_new(size_t size, struct lvol_bdev *lb, spio_lvol_op_complete cb_fn,
			     void *cb_arg)
{
	struct lvol_op_req *op = calloc(1, size);

	if (op == NULL) {
		cb_fn(cb_arg, -ENOMEM);
		return NULL;
	}
	op->lb = lb;
	op->cb_fn = cb_fn;
	op->cb_arg = cb_arg;
	return op;
}

/* Answer the caller and free the request. */
static void lvol_op_req_done(struct lvol_op_req *op, int rc)
{
	op->cb_fn(op->cb_arg, rc);
	free(op);
}

struct lvol_rename_req {
	struct lvol_op_req op; /* first: lvol_op_req_new */
	char old_alias[SPIO_LVS_NAME_MAX + SPIO_LVOL_NAME_MAX + 1];
	char new_alias[SPIO_LVS_NAME_MAX + SPIO_LVOL_NAME_MAX + 1];
};

static void lvol_renamed(void *cb_arg, int rc)
{
	struct lvol_rename_req *req = cb_arg;

	/* both aliases were there meanwhile: drop the one that no longer names it */
	spio_bdev_alias_del(&req->op.lb->bdev, rc == 0 ? req->old_alias : req->new_alias);
	lvol_op_req_done(&req->op, rc);
}

void vbdev_lvol_rename(struct spio_lvol *lvol, const char *new_name, spio_lvol_op_complete cb_fn,
		       void *cb_arg)
{
	struct lvol_bdev *lb = spio_lvol_get_ctx(lvol);
	const char *lvs_name = spio_lvs_get_name(spio_lvol_get_lvs(lvol));
	struct lvol_rename_req *req;
	int rc;

	if (lb == NULL) {
		cb_fn(cb_arg, -ENODEV);
		return;
	}
	if (strcmp(spio_lvol_get_name(lvol), new_name) == 0) {
		cb_fn(cb_arg, 0);
		return;
	}
	req = lvol_op_req_new(sizeof(*req), lb, cb_fn, cb_arg);
	if (req == NULL) {
		return;
	}
	snprintf(req->old_alias, sizeof(req->old_alias), "%s/%s", lvs_name,
		 spio_lvol_get_name(lvol));
	snprintf(req->new_alias, sizeof(req->new_alias), "%s/%s", lvs_name, new_name);
	/* the alias is the store-wide name check too: a taken name is -EEXIST */
	rc = spio_bdev_alias_add(&lb->bdev, req->new_alias);
	if (rc != 0) {
		SPIO_ERRLOG("lvol bdev %s: cannot rename to %s: %s", lb->bdev.name, req->new_alias,
			    strerror(-rc));
		free(req);
		cb_fn(cb_arg, rc);
		return;
	}
	spio_lvol_rename(lvol, new_name, lvol_renamed, req);
}

struct lvol_resize_req {
	struct lvol_op_req op; /* first: lvol_op_req_new */
	uint64_t old_blockcnt;
	uint64_t new_blockcnt;
};

static void lvol_resized(void *cb_arg, int rc)
{
	struct lvol_resize_req *req = cb_arg;
	struct spio_bdev *bdev = &req->op.lb->bdev;
	int nrc;

	if (rc != 0) {
		SPIO_ERRLOG("lvol bdev %s: resize failed: %s", bdev->name, strerror(-rc));
		if (req->new_blockcnt < req->old_blockcnt) {
			/* the bdev shrank first: give the blocks back */
			spio_bdev_notify_blockcnt_change(bdev, req->old_blockcnt);
		}
	} else if (req->new_blockcnt > req->old_blockcnt) {
		nrc = spio_bdev_notify_blockcnt_change(bdev, req->new_blockcnt);
		if (nrc != 0) {
			SPIO_ERRLOG("lvol bdev %s: cannot grow to %" PRIu64 " blocks: %s",
				    bdev->name, req->new_blockcnt, strerror(-nrc));
			rc = nrc;
		}
	}
	lvol_op_req_done(&req->op, rc);
}

void vbdev_lvol_resize(struct spio_lvol *lvol, uint64_t sz, spio_lvol_op_complete cb_fn,
		       void *cb_arg)
{
	struct lvol_bdev *lb = spio_lvol_get_ctx(lvol);
	struct spio_blob_store *bs = spio_lvs_get_bs(spio_lvol_get_lvs(lvol));
	uint64_t cluster = spio_bs_get_cluster_size(bs);
	struct lvol_resize_req *req;
	uint64_t clusters;
	int rc;

	if (lb == NULL) {
		cb_fn(cb_arg, -ENODEV);
		return;
	}
	clusters = sz / cluster + (sz % cluster != 0);
	if (clusters == 0) {
		SPIO_ERRLOG("lvol bdev %s: size 0: an lvol needs at least one cluster",
			    lb->bdev.name);
		cb_fn(cb_arg, -EINVAL);
		return;
	}
	req = lvol_op_req_new(sizeof(*req), lb, cb_fn, cb_arg);
	if (req == NULL) {
		return;
	}
	req->old_blockcnt = spio_bdev_get_num_blocks(&lb->bdev);
	req->new_blockcnt = clusters * cluster / lb->bdev.blocklen;
	if (req->new_blockcnt < req->old_blockcnt) {
		/* smaller bdev first, so no I/O reaches the clusters being freed */
		rc = spio_bdev_notify_blockcnt_change(&lb->bdev, req->new_blockcnt);
		if (rc != 0) {
			SPIO_ERRLOG("lvol bdev %s: cannot shrink while open: %s", lb->bdev.name,
				    strerror(-rc));
			free(req);
			cb_fn(cb_arg, rc);
			return;
		}
	}
	spio_lvol_resize(lvol, sz, lvol_resized, req);
}

/*
 * Examine: load the store on a new bdev and bring its lvols up
 */

struct examine_ctx {
	struct spio_bdev *bdev;
	struct lvs_bdev *lvs_bdev;
	int pending;
	/* the look at the super block */
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	uint8_t *buf;
};

static void examine_done(struct examine_ctx *ctx)
{
	free(ctx);
	spio_bdev_module_examine_done(&g_lvol_if);
}

static void examine_unloaded(void *cb_arg, int rc)
{
	(void)rc;
	examine_done(cb_arg);
}

static void examine_lvol_opened(void *cb_arg, struct spio_lvol *lvol, int rc)
{
	struct examine_ctx *ctx = cb_arg;

	if (rc == 0) {
		lvol_disk_create(lvol, ctx->lvs_bdev, false);
	} else {
		SPIO_ERRLOG("lvstore on %s: cannot open lvol %s: %s", spio_bdev_get_name(ctx->bdev),
			    lvol != NULL ? spio_lvol_get_unique_id(lvol) : "?", strerror(-rc));
	}
	if (--ctx->pending == 0) {
		examine_done(ctx);
	}
}

static void examine_loaded(void *cb_arg, struct spio_lvol_store *lvs, int rc)
{
	struct examine_ctx *ctx = cb_arg;
	struct spio_lvol *lvol, *next;

	if (rc != 0) {
		SPIO_ERRLOG("bdev %s: cannot load its lvstore: %s", spio_bdev_get_name(ctx->bdev),
			    strerror(-rc));
		examine_done(ctx);
		return;
	}
	rc = spio_bs_bdev_claim(spio_lvs_get_bs_dev(lvs), &g_lvol_if);
	if (rc == 0) {
		ctx->lvs_bdev = lvs_bdev_create(lvs, ctx->bdev);
		rc = ctx->lvs_bdev == NULL ? -ENOMEM : 0;
	}
	if (rc != 0) {
		SPIO_ERRLOG("bdev %s: cannot take lvstore %s: %s", spio_bdev_get_name(ctx->bdev),
			    spio_lvs_get_name(lvs), strerror(-rc));
		if (spio_lvs_unload(lvs, examine_unloaded, ctx) != 0) {
			examine_done(ctx);
		}
		return;
	}
	SPIO_NOTICELOG("bdev %s: lvstore %s loaded", spio_bdev_get_name(ctx->bdev),
		       spio_lvs_get_name(lvs));
	/* one for the loop, so an open completing at once cannot end the examine */
	ctx->pending = 1;
	for (lvol = spio_lvs_first_lvol(lvs); lvol != NULL; lvol = next) {
		next = spio_lvs_next_lvol(lvol);
		ctx->pending++;
		spio_lvol_open(lvol, examine_lvol_opened, ctx);
	}
	if (--ctx->pending == 0) {
		examine_done(ctx);
	}
}

/* True if `super` starts a blobstore of type LVOLSTORE: SPDK's super block
 * has its signature at byte 0 and its type (16 bytes, zero-padded) at 56. */
static bool looks_like_lvstore(const uint8_t *super)
{
	static const char type[BS_TYPE_LEN] = "LVOLSTORE";

	return memcmp(super, BS_SIGNATURE, strlen(BS_SIGNATURE)) == 0 &&
	       memcmp(super + BS_TYPE_OFFSET, type, BS_TYPE_LEN) == 0;
}

static void examine_super_read(struct spio_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct examine_ctx *ctx = cb_arg;
	bool lvstore = success && looks_like_lvstore(ctx->buf);
	struct spio_bs_dev *bs_dev;
	int rc;

	spio_bdev_free_io(bdev_io);
	spio_put_io_channel(ctx->ch);
	spio_bdev_close(ctx->desc);
	spio_dma_free(ctx->buf);
	if (!lvstore) {
		examine_done(ctx);
		return;
	}
	rc = spio_bdev_create_bs_dev(spio_bdev_get_name(ctx->bdev), true, lvs_base_event, NULL,
				     &bs_dev);
	if (rc != 0) {
		SPIO_ERRLOG("bdev %s holds an lvstore but cannot be opened for it: %s",
			    spio_bdev_get_name(ctx->bdev), strerror(-rc));
		examine_done(ctx);
		return;
	}
	spio_lvs_load(bs_dev, examine_loaded, ctx);
}

static void examine_desc_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	/* the look takes one read; the descriptor closes right after it */
	(void)type;
	(void)bdev;
	(void)ctx;
}

/*
 * Examine a new bdev: a look at its first 4 KiB first, so bdevs without an
 * lvstore (most) cost one read and no blobstore load errors in the log.
 */
static void vbdev_lvs_examine_disk(struct spio_bdev *bdev)
{
	uint32_t blocklen = spio_bdev_get_block_size(bdev);
	uint64_t blocks = (BS_SUPER_BYTES + blocklen - 1) / blocklen;
	size_t align = SPIO_MAX(spio_bdev_get_buf_align(bdev), (size_t)BS_SUPER_BYTES);
	struct examine_ctx *ctx;
	int rc;

	if (spio_bdev_get_num_blocks(bdev) < blocks) {
		spio_bdev_module_examine_done(&g_lvol_if);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		spio_bdev_module_examine_done(&g_lvol_if);
		return;
	}
	ctx->bdev = bdev;
	rc = spio_bdev_open_ext(spio_bdev_get_name(bdev), false, examine_desc_event, NULL,
				&ctx->desc);
	if (rc != 0) {
		examine_done(ctx);
		return;
	}
	ctx->ch = spio_bdev_get_io_channel(ctx->desc);
	ctx->buf = spio_dma_zmalloc(blocks * blocklen, align);
	rc = ctx->ch == NULL || ctx->buf == NULL
		 ? -ENOMEM
		 : spio_bdev_read_blocks(ctx->desc, ctx->ch, ctx->buf, 0, blocks,
					 examine_super_read, ctx);
	if (rc != 0) {
		SPIO_ERRLOG("bdev %s: cannot read it for an lvstore: %s", spio_bdev_get_name(bdev),
			    strerror(-rc));
		if (ctx->ch != NULL) {
			spio_put_io_channel(ctx->ch);
		}
		spio_bdev_close(ctx->desc);
		spio_dma_free(ctx->buf);
		examine_done(ctx);
	}
}

/*
 * Module life cycle
 */

static int vbdev_lvs_init(void)
{
	g_shutdown_started = false;
	g_fini_waiting = false;
	return 0;
}

static uint32_t g_fini_start_pending;

static void fini_start_store_gone(void *cb_arg, int rc)
{
	(void)cb_arg;
	(void)rc;
	if (--g_fini_start_pending == 0) {
		spio_bdev_module_fini_start_done();
	}
}

/* At shutdown every store goes (its lvol bdevs first, then a clean unload)
 * before the bdev layer unregisters anything else, so the base bdevs are
 * still there for the unload's writes (SPDK's async fini_start). */
static void vbdev_lvs_fini_start(void)
{
	struct lvs_bdev *lvs_bdev;

	g_shutdown_started = true;
	g_fini_start_pending = 1;
	/* a removal starts here but frees the entry only later, by message */
	TAILQ_FOREACH (lvs_bdev, &g_lvs_bdevs, link) {
		if (!lvs_bdev->removal_in_progress) {
			g_fini_start_pending++;
			lvs_start_removal(lvs_bdev, false, fini_start_store_gone, NULL);
		}
	}
	fini_start_store_gone(NULL, 0);
}

static void vbdev_lvs_fini(void)
{
	if (TAILQ_EMPTY(&g_lvs_bdevs)) {
		spio_bdev_module_fini_done(&g_lvol_if);
		return;
	}
	g_fini_waiting = true;
}
