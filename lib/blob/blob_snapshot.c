/*
 * Snapshots and clones, and the operations that undo sharing: inflate,
 * decouple parent, and deleting a snapshot into its only clone.
 *
 * Crash safety follows SPDK's markers, internal xattrs on the snapshot:
 * - snapshot: the new snapshot is written first with SNAPTMP (and the
 *   origin's clusters: owned twice on the device for a moment), then the
 *   origin without them and with the snapshot as parent (the commit), then
 *   the snapshot without SNAPTMP. Recovery keeps a SNAPTMP snapshot whose
 *   origin points at it and drops one whose origin does not (without its
 *   clusters, which are the origin's).
 * - delete into the clone: the snapshot is marked SNAPRM first, then the
 *   clone is written with the clusters it takes and its new parent (the
 *   commit), then the snapshot's metadata goes. Recovery keeps a SNAPRM
 *   snapshot that still has a clone and drops one that has none, freeing
 *   only clusters no other blob holds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/log.h"

int blob_set_parent(struct spio_blob *blob, spio_blob_id parent)
{
	int rc = 0;

	if (parent != SPIO_BLOBID_INVALID) {
		uint64_t le = parent; /* the format is little-endian, as is the host */

		rc = blob_xattr_set(blob, BLOB_XATTR_SNAPSHOT, &le, sizeof(le), true);
	} else if (blob_xattr_find(&blob->xattrs_internal, BLOB_XATTR_SNAPSHOT) != NULL) {
		rc = blob_xattr_remove(blob, BLOB_XATTR_SNAPSHOT, true);
	}
	if (rc == 0) {
		blob->parent_id = parent;
		blob->dirty = true;
	}
	return rc;
}

static int set_id_xattr(struct spio_blob *blob, const char *name, spio_blob_id id)
{
	uint64_t le = id;

	return blob_xattr_set(blob, name, &le, sizeof(le), true);
}

/* Forget every cluster of `m` without freeing any (they belong to someone else). */
static void map_disown(struct blob_map *m)
{
	for (uint64_t i = 0; i < m->num_clusters; i++) {
		m->clusters[i] = 0;
	}
	m->num_allocated = 0;
}

/*
 * What snapshot and clone share: a context whose first member is this, the
 * caller's xattrs copied at the call, and an id for the reply.
 */
struct derive_ctx {
	struct spio_blob_store *bs;
	struct blob_xattr_list xattrs;
	spio_blob_op_with_id_complete cb_fn;
	void *cb_arg;
	int rc;
};

/* Check the call and allocate a zeroed context of ctx_size bytes starting with a
 * struct derive_ctx; NULL when the call was refused (and answered, if it can be). */
static void *derive_start(struct spio_blob_store *bs, size_t ctx_size,
			  const struct spio_blob_xattr_opts *xo,
			  spio_blob_op_with_id_complete cb_fn, void *cb_arg, const char *what)
{
	struct derive_ctx *d;
	int rc;

	if (cb_fn == NULL || !bs_on_md_thread(bs, what)) {
		return NULL;
	}
	d = calloc(1, ctx_size);
	if (d == NULL) {
		blob_reply_id_later(bs, cb_fn, cb_arg, SPIO_BLOBID_INVALID, -ENOMEM);
		return NULL;
	}
	d->bs = bs;
	d->cb_fn = cb_fn;
	d->cb_arg = cb_arg;
	rc = blob_xattr_opts_copy(&d->xattrs, xo);
	if (rc != 0) {
		free(d);
		blob_reply_id_later(bs, cb_fn, cb_arg, SPIO_BLOBID_INVALID, rc);
		return NULL;
	}
	return d;
}

/*
 * Snapshot
 */

struct snap_ctx {
	struct derive_ctx d; /* first: derive_start() allocates it */
	spio_blob_id origin_id;
	struct spio_blob *origin;
	struct spio_blob *snap;
	spio_blob_id snap_id;
	struct blob_map saved; /* the origin's map before, for a rollback */
	spio_blob_id saved_parent;
	uint64_t saved_invalid;
};

static void snap_reply(struct snap_ctx *ctx)
{
	ctx->d.cb_fn(ctx->d.cb_arg, ctx->d.rc == 0 ? ctx->snap_id : SPIO_BLOBID_INVALID, ctx->d.rc);
	blob_map_free(&ctx->saved);
	blob_xattr_list_free(&ctx->d.xattrs);
	free(ctx);
}

static void snap_closed(void *arg, int rc)
{
	(void)rc;
	snap_reply(arg);
}

static void snap_unfrozen(void *arg, int rc)
{
	struct snap_ctx *ctx = arg;

	(void)rc;
	ctx->origin->locked_operation = false;
	spio_blob_close(ctx->origin, snap_closed, ctx);
}

static void snap_back_dev_ready(void *arg, int rc)
{
	struct snap_ctx *ctx = arg;

	if (rc != 0) {
		SPIO_ERRLOG("snapshot 0x%" PRIx64 " made, but blob 0x%" PRIx64
			    " cannot read through to it: %s\n",
			    ctx->snap_id, ctx->origin_id, strerror(-rc));
		ctx->d.rc = rc;
	}
	blob_unfreeze_io(ctx->origin, snap_unfrozen, ctx);
}

static void snap_final_written(void *arg, int rc)
{
	struct snap_ctx *ctx = arg;
	struct spio_blob_store *bs = ctx->d.bs;

	if (rc != 0) {
		/* The snapshot is complete on the device (the origin points at it);
		 * the next recovery drops the stale marker. */
		SPIO_ERRLOG("snapshot 0x%" PRIx64 ": clearing its in-progress mark failed: %s\n",
			    ctx->snap_id, strerror(-rc));
	}
	if (ctx->saved_parent != SPIO_BLOBID_INVALID) {
		bs_snapshot_remove_clone(bs, ctx->saved_parent, ctx->origin_id);
		bs_snapshot_add_clone(bs, ctx->saved_parent, ctx->snap_id);
	}
	if (bs_snapshot_add_clone(bs, ctx->snap_id, ctx->origin_id) != 0) {
		SPIO_ERRLOG("snapshot 0x%" PRIx64 ": out of memory for its clone list\n",
			    ctx->snap_id);
	}
	bs_bits_clear(&bs->open_blobids, blob_id_to_page(ctx->snap_id));
	blob_free(ctx->snap);
	ctx->snap = NULL;
	blob_setup_back_dev(ctx->origin, snap_back_dev_ready, ctx);
}

static void snap_undone(void *arg, int rc)
{
	struct snap_ctx *ctx = arg;

	if (rc != 0) {
		SPIO_ERRLOG("snapshot rollback: removing the half-made snapshot failed: %s\n",
			    strerror(-rc));
	}
	bs_bits_clear(&ctx->d.bs->open_blobids, blob_id_to_page(ctx->snap->id));
	blob_free(ctx->snap);
	ctx->snap = NULL;
	blob_unfreeze_io(ctx->origin, snap_unfrozen, ctx);
}

/* The origin keeps its clusters: restore it and drop the snapshot without them. */
static void snap_rollback(struct snap_ctx *ctx)
{
	struct spio_blob *o = ctx->origin;

	for (uint64_t i = 0; i < ctx->saved.num_clusters && i < o->active.num_clusters; i++) {
		if (o->active.clusters[i] == 0 && ctx->saved.clusters[i] != 0) {
			__atomic_store_n(&o->active.clusters[i], ctx->saved.clusters[i],
					 __ATOMIC_RELEASE);
			o->active.num_allocated++;
		}
	}
	o->invalid_flags = ctx->saved_invalid;
	blob_set_parent(o, ctx->saved_parent);
	o->dirty = true;
	map_disown(&ctx->snap->active);
	map_disown(&ctx->snap->disk);
	if (ctx->snap->num_md_pages == 0) {
		/* Never written: give back its id and memory. */
		blob_new_abandon(ctx->snap);
		ctx->snap = NULL;
		blob_unfreeze_io(o, snap_unfrozen, ctx);
		return;
	}
	blob_persist_delete(ctx->snap, snap_undone, ctx);
}

static void snap_origin_written(void *arg, int rc)
{
	struct snap_ctx *ctx = arg;

	if (rc != 0) {
		ctx->d.rc = rc;
		snap_rollback(ctx);
		return;
	}
	blob_xattr_remove(ctx->snap, BLOB_XATTR_SNAPSHOT_IN_PROGRESS, true);
	blob_persist(ctx->snap, snap_final_written, ctx);
}

static void snap_first_written(void *arg, int rc)
{
	struct snap_ctx *ctx = arg;
	struct spio_blob *o = ctx->origin;

	if (rc != 0) {
		ctx->d.rc = rc;
		snap_rollback(ctx);
		return;
	}
	/* The commit: the origin without its clusters, reading through the snapshot. */
	o->invalid_flags |= BLOB_FLAG_THIN_PROV;
	rc = blob_set_parent(o, ctx->snap_id);
	if (rc != 0) {
		ctx->d.rc = rc;
		snap_rollback(ctx);
		return;
	}
	blob_persist(o, snap_origin_written, ctx);
}

static int snap_build(struct snap_ctx *ctx)
{
	struct spio_blob *o = ctx->origin;
	struct spio_blob *s;
	int rc;

	s = blob_new(ctx->d.bs, &rc);
	if (s == NULL) {
		return rc;
	}
	ctx->snap = s;
	ctx->snap_id = s->id;
	s->use_extent_table = o->use_extent_table;
	if (!o->use_extent_table) {
		s->invalid_flags &= ~BLOB_FLAG_EXTENT_TABLE;
	}
	if (blob_is_thin(o)) {
		s->invalid_flags |= BLOB_FLAG_THIN_PROV;
	}
	blob_set_clear_method(s, o->clear_method);
	rc = blob_map_copy(&s->active, &o->active);
	if (rc == 0) {
		rc = blob_map_copy(&ctx->saved, &o->active);
	}
	if (rc != 0) {
		return rc;
	}
	/* The snapshot writes its own extent pages. */
	for (uint64_t e = 0; e < s->active.num_extent_pages; e++) {
		s->active.extent_pages[e] = 0;
	}
	rc = blob_xattr_list_apply(s, &ctx->d.xattrs, false);
	if (rc == 0) {
		rc = set_id_xattr(s, BLOB_XATTR_SNAPSHOT_IN_PROGRESS, o->id);
	}
	if (rc == 0 && o->parent_id != SPIO_BLOBID_INVALID) {
		rc = blob_set_parent(s, o->parent_id);
	}
	if (rc != 0) {
		return rc;
	}
	s->data_ro_flags |= BLOB_FLAG_READ_ONLY;
	s->data_ro = true;
	s->md_ro = true;
	/* From here the clusters are the snapshot's; the origin's map is emptied at
	 * the same moment so an allocation meanwhile lands in the origin only. */
	for (uint64_t i = 0; i < o->active.num_clusters; i++) {
		__atomic_store_n(&o->active.clusters[i], 0, __ATOMIC_RELAXED);
	}
	o->active.num_allocated = 0;
	o->dirty = true;
	return 0;
}

static void snap_frozen(void *arg, int rc)
{
	struct snap_ctx *ctx = arg;

	ctx->saved_parent = ctx->origin->parent_id;
	ctx->saved_invalid = ctx->origin->invalid_flags;
	if (rc == 0) {
		rc = snap_build(ctx);
	}
	if (rc != 0) {
		ctx->d.rc = rc;
		if (ctx->snap != NULL) {
			map_disown(&ctx->snap->active);
			blob_new_abandon(ctx->snap);
			ctx->snap = NULL;
		}
		blob_unfreeze_io(ctx->origin, snap_unfrozen, ctx);
		return;
	}
	blob_persist(ctx->snap, snap_first_written, ctx);
}

static void snap_origin_opened(void *arg, struct spio_blob *blob, int rc)
{
	struct snap_ctx *ctx = arg;

	if (rc != 0) {
		ctx->d.rc = rc;
		snap_reply(ctx);
		return;
	}
	ctx->origin = blob;
	if (blob->data_ro || blob->md_ro) {
		ctx->d.rc = -EINVAL;
	} else if (blob->locked_operation) {
		ctx->d.rc = -EBUSY;
	}
	if (ctx->d.rc != 0) {
		spio_blob_close(blob, snap_closed, ctx);
		return;
	}
	blob->locked_operation = true;
	blob_freeze_io(blob, snap_frozen, ctx);
}

void spio_bs_create_snapshot(struct spio_blob_store *bs, spio_blob_id blobid,
			     const struct spio_blob_xattr_opts *snapshot_xattrs,
			     spio_blob_op_with_id_complete cb_fn, void *cb_arg)
{
	struct snap_ctx *ctx = derive_start(bs, sizeof(*ctx), snapshot_xattrs, cb_fn, cb_arg,
					    "spio_bs_create_snapshot");

	if (ctx != NULL) {
		ctx->origin_id = blobid;
		ctx->snap_id = SPIO_BLOBID_INVALID;
		spio_bs_open_blob(bs, blobid, snap_origin_opened, ctx);
	}
}

/*
 * Clone
 */

struct clone_ctx {
	struct derive_ctx d; /* first: derive_start() allocates it */
	struct spio_blob *src;
	spio_blob_id clone_id;
};

static void clone_src_closed(void *arg, int rc)
{
	struct clone_ctx *ctx = arg;

	(void)rc;
	ctx->d.cb_fn(ctx->d.cb_arg, ctx->d.rc == 0 ? ctx->clone_id : SPIO_BLOBID_INVALID,
		     ctx->d.rc);
	blob_xattr_list_free(&ctx->d.xattrs);
	free(ctx);
}

static void clone_written(void *arg, spio_blob_id id, int rc)
{
	struct clone_ctx *ctx = arg;

	ctx->d.rc = rc;
	ctx->clone_id = id;
	if (rc == 0) {
		ctx->d.rc = bs_snapshot_add_clone(ctx->d.bs, ctx->src->id, id);
	}
	spio_blob_close(ctx->src, clone_src_closed, ctx);
}

static void clone_src_opened(void *arg, struct spio_blob *src, int rc)
{
	struct clone_ctx *ctx = arg;
	struct spio_blob *c;

	if (rc != 0) {
		ctx->d.cb_fn(ctx->d.cb_arg, SPIO_BLOBID_INVALID, rc);
		blob_xattr_list_free(&ctx->d.xattrs);
		free(ctx);
		return;
	}
	ctx->src = src;
	if (!src->data_ro) {
		ctx->d.rc = -EINVAL;
		spio_blob_close(src, clone_src_closed, ctx);
		return;
	}
	c = blob_new(ctx->d.bs, &rc);
	if (c == NULL) {
		ctx->d.rc = rc;
		spio_blob_close(src, clone_src_closed, ctx);
		return;
	}
	c->invalid_flags |= BLOB_FLAG_THIN_PROV;
	rc = blob_map_resize(&c->active, src->active.num_clusters);
	if (rc == 0) {
		rc = blob_set_parent(c, src->id);
	}
	if (rc == 0) {
		rc = blob_xattr_list_apply(c, &ctx->d.xattrs, false);
	}
	if (rc != 0) {
		blob_new_abandon(c);
		ctx->d.rc = rc;
		spio_blob_close(src, clone_src_closed, ctx);
		return;
	}
	blob_write_new(c, clone_written, ctx);
}

void spio_bs_create_clone(struct spio_blob_store *bs, spio_blob_id blobid,
			  const struct spio_blob_xattr_opts *clone_xattrs,
			  spio_blob_op_with_id_complete cb_fn, void *cb_arg)
{
	struct clone_ctx *ctx =
	    derive_start(bs, sizeof(*ctx), clone_xattrs, cb_fn, cb_arg, "spio_bs_create_clone");

	if (ctx != NULL) {
		spio_bs_open_blob(bs, blobid, clone_src_opened, ctx);
	}
}

/*
 * Inflate and decouple: give the blob its own copy of clusters it reads
 * through, one cluster at a time, then cut (or shorten) the parent link.
 */

struct inflate_ctx {
	struct spio_blob_store *bs;
	struct spio_blob *blob;
	struct spio_io_channel *channel;
	bool decouple; /* only the parent's own clusters, then parent := grandparent */
	uint64_t next;
	uint64_t dst;
	spio_blob_id old_parent;
	spio_blob_id new_parent;
	spio_blob_op_complete cb_fn;
	void *cb_arg;
	int rc;
};

static void inflate_next(struct inflate_ctx *ctx);

static void inflate_closed(void *arg, int rc)
{
	struct inflate_ctx *ctx = arg;

	(void)rc;
	ctx->cb_fn(ctx->cb_arg, ctx->rc);
	free(ctx);
}

static void inflate_unfrozen(void *arg, int rc)
{
	struct inflate_ctx *ctx = arg;

	(void)rc;
	ctx->blob->locked_operation = false;
	spio_blob_close(ctx->blob, inflate_closed, ctx);
}

static void inflate_back_dev_ready(void *arg, int rc)
{
	struct inflate_ctx *ctx = arg;

	if (rc != 0 && ctx->rc == 0) {
		ctx->rc = rc;
	}
	blob_unfreeze_io(ctx->blob, inflate_unfrozen, ctx);
}

static void inflate_relinked(void *arg, int rc)
{
	struct inflate_ctx *ctx = arg;
	struct spio_blob_store *bs = ctx->bs;

	if (rc != 0) {
		ctx->rc = rc;
		blob_unfreeze_io(ctx->blob, inflate_unfrozen, ctx);
		return;
	}
	bs_snapshot_remove_clone(bs, ctx->old_parent, ctx->blob->id);
	if (ctx->new_parent != SPIO_BLOBID_INVALID) {
		bs_snapshot_add_clone(bs, ctx->new_parent, ctx->blob->id);
	}
	blob_setup_back_dev(ctx->blob, inflate_back_dev_ready, ctx);
}

static void inflate_frozen(void *arg, int rc)
{
	struct inflate_ctx *ctx = arg;
	struct spio_blob *blob = ctx->blob;

	if (rc == 0) {
		rc = blob_set_parent(blob, ctx->new_parent);
	}
	if (rc != 0) {
		ctx->rc = rc;
		blob_unfreeze_io(blob, inflate_unfrozen, ctx);
		return;
	}
	if (!ctx->decouple) {
		/* Every cluster is its own now. */
		blob->invalid_flags &= ~BLOB_FLAG_THIN_PROV;
	}
	blob_persist(blob, inflate_relinked, ctx);
}

static void inflate_fail(struct inflate_ctx *ctx, int rc)
{
	ctx->rc = rc;
	ctx->blob->locked_operation = false;
	spio_blob_close(ctx->blob, inflate_closed, ctx);
}

static void inflate_inserted(void *arg, int rc)
{
	struct inflate_ctx *ctx = arg;

	if (rc == -EEXIST) {
		/* A write allocated it meanwhile. */
		bs_release_cluster(ctx->bs, ctx->dst);
		rc = 0;
	}
	if (rc != 0) {
		bs_release_cluster(ctx->bs, ctx->dst);
		inflate_fail(ctx, rc);
		return;
	}
	ctx->next++;
	inflate_next(ctx);
}

static void inflate_copied(void *arg, int rc)
{
	struct inflate_ctx *ctx = arg;

	if (rc != 0) {
		bs_release_cluster(ctx->bs, ctx->dst);
		inflate_fail(ctx, rc);
		return;
	}
	blob_insert_cluster(ctx->blob, ctx->next, ctx->dst, inflate_inserted, ctx);
}

/* Does the blob need its own copy of cluster i? */
static bool inflate_wants(struct inflate_ctx *ctx, uint64_t i)
{
	struct spio_blob *parent;

	if (blob_cluster_get(ctx->blob, i) != 0) {
		return false;
	}
	if (!ctx->decouple) {
		return true;
	}
	parent = bs_find_open_blob(ctx->bs, ctx->old_parent);
	return parent != NULL && i < parent->active.num_clusters &&
	       blob_cluster_get(parent, i) != 0;
}

static void inflate_next(struct inflate_ctx *ctx)
{
	struct spio_blob *blob = ctx->blob;
	struct spio_blob_store *bs = ctx->bs;

	while (ctx->next < blob->active.num_clusters && !inflate_wants(ctx, ctx->next)) {
		ctx->next++;
	}
	if (ctx->next >= blob->active.num_clusters) {
		blob_freeze_io(blob, inflate_frozen, ctx);
		return;
	}
	ctx->dst = bs_claim_cluster(bs);
	if (ctx->dst == 0) {
		inflate_fail(ctx, -ENOSPC);
		return;
	}
	if (blob->back_bs_dev != NULL && bs_dev_is_zeroes(blob->back_bs_dev)) {
		/* Nothing to copy, but the cluster must read as the zeroes it read before. */
		bs_dev_write_zeroes(bs, bs_cluster_to_lba(bs, ctx->dst),
				    bs->geo.cluster_size / bs->dev->blocklen, inflate_copied, ctx);
		return;
	}
	blob_copy_cluster(blob, ctx->channel, ctx->next, ctx->dst, inflate_copied, ctx);
}

static void inflate_opened(void *arg, struct spio_blob *blob, int rc)
{
	struct inflate_ctx *ctx = arg;
	struct spio_blob *parent;

	if (rc != 0) {
		ctx->cb_fn(ctx->cb_arg, rc);
		free(ctx);
		return;
	}
	ctx->blob = blob;
	ctx->old_parent = blob->parent_id;
	if (ctx->decouple && blob->parent_id == SPIO_BLOBID_INVALID) {
		ctx->rc = -EINVAL;
	} else if (blob->data_ro || blob->md_ro) {
		ctx->rc = -EPERM;
	} else if (blob->locked_operation) {
		ctx->rc = -EBUSY;
	}
	if (ctx->rc != 0) {
		spio_blob_close(blob, inflate_closed, ctx);
		return;
	}
	ctx->new_parent = SPIO_BLOBID_INVALID;
	if (ctx->decouple) {
		parent = bs_find_open_blob(ctx->bs, blob->parent_id);
		ctx->new_parent = parent != NULL ? parent->parent_id : SPIO_BLOBID_INVALID;
	} else if (!blob_is_thin(blob) && blob->parent_id == SPIO_BLOBID_INVALID) {
		/* A thick blob owns everything already. */
		spio_blob_close(blob, inflate_closed, ctx);
		return;
	}
	blob->locked_operation = true;
	inflate_next(ctx);
}

static void inflate_start(struct spio_blob_store *bs, struct spio_io_channel *channel,
			  spio_blob_id blobid, bool decouple, spio_blob_op_complete cb_fn,
			  void *cb_arg, const char *what)
{
	struct inflate_ctx *ctx;

	if (cb_fn == NULL || !bs_on_md_thread(bs, what)) {
		return;
	}
	if (channel == NULL) {
		blob_reply_later(bs, cb_fn, cb_arg, -EINVAL);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		blob_reply_later(bs, cb_fn, cb_arg, -ENOMEM);
		return;
	}
	ctx->bs = bs;
	ctx->channel = channel;
	ctx->decouple = decouple;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	spio_bs_open_blob(bs, blobid, inflate_opened, ctx);
}

void spio_bs_inflate_blob(struct spio_blob_store *bs, struct spio_io_channel *channel,
			  spio_blob_id blobid, spio_blob_op_complete cb_fn, void *cb_arg)
{
	inflate_start(bs, channel, blobid, false, cb_fn, cb_arg, "spio_bs_inflate_blob");
}

void spio_bs_blob_decouple_parent(struct spio_blob_store *bs, struct spio_io_channel *channel,
				  spio_blob_id blobid, spio_blob_op_complete cb_fn, void *cb_arg)
{
	inflate_start(bs, channel, blobid, true, cb_fn, cb_arg, "spio_bs_blob_decouple_parent");
}

/*
 * Deleting a snapshot into its only clone
 */

struct merge_ctx {
	struct spio_blob_store *bs;
	struct spio_blob *snap; /* loaded, not openable */
	struct spio_blob *clone;
	spio_blob_id clone_id;
	uint8_t *moved; /* per snapshot cluster: now the clone's */
	bs_io_cpl cb_fn;
	void *cb_arg;
	int rc;
};

static void merge_finish(struct merge_ctx *ctx, int rc)
{
	ctx->cb_fn(ctx->cb_arg, rc);
	free(ctx->moved);
	free(ctx);
}

static void merge_snap_deleted(void *arg, int rc)
{
	merge_finish(arg, rc);
}

static void merge_clone_closed(void *arg, int rc)
{
	struct merge_ctx *ctx = arg;
	struct spio_blob *s = ctx->snap;

	(void)rc;
	if (ctx->rc != 0) {
		merge_finish(ctx, ctx->rc);
		return;
	}
	/* The clusters the clone took are not the snapshot's to free any more. */
	for (uint64_t i = 0; i < s->disk.num_clusters; i++) {
		if (ctx->moved[i]) {
			s->disk.clusters[i] = 0;
		}
	}
	blob_persist_delete(s, merge_snap_deleted, ctx);
}

static void merge_unfrozen(void *arg, int rc)
{
	struct merge_ctx *ctx = arg;

	(void)rc;
	ctx->clone->locked_operation = false;
	spio_blob_close(ctx->clone, merge_clone_closed, ctx);
}

static void merge_back_dev_ready(void *arg, int rc)
{
	struct merge_ctx *ctx = arg;

	if (rc != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": cannot read through to its new parent: %s\n",
			    ctx->clone_id, strerror(-rc));
	}
	blob_unfreeze_io(ctx->clone, merge_unfrozen, ctx);
}

static void merge_clone_written(void *arg, int rc)
{
	struct merge_ctx *ctx = arg;
	struct spio_blob_store *bs = ctx->bs;
	struct spio_blob *s = ctx->snap;

	if (rc != 0) {
		/* Not committed: the clone on the device still reads through the snapshot.
		 * Put the clone's memory back the same way. */
		struct spio_blob *c = ctx->clone;

		for (uint64_t i = 0; i < s->active.num_clusters && i < c->active.num_clusters;
		     i++) {
			if (ctx->moved[i]) {
				__atomic_store_n(&c->active.clusters[i], 0, __ATOMIC_RELAXED);
				c->active.num_allocated--;
			}
		}
		blob_set_parent(c, s->id);
		ctx->rc = rc;
		blob_unfreeze_io(c, merge_unfrozen, ctx);
		return;
	}
	bs_snapshot_remove_clone(bs, s->id, ctx->clone_id);
	if (s->parent_id != SPIO_BLOBID_INVALID) {
		bs_snapshot_add_clone(bs, s->parent_id, ctx->clone_id);
	}
	blob_setup_back_dev(ctx->clone, merge_back_dev_ready, ctx);
}

static void merge_clone_frozen(void *arg, int rc)
{
	struct merge_ctx *ctx = arg;
	struct spio_blob *s = ctx->snap;
	struct spio_blob *c = ctx->clone;

	if (rc == 0) {
		ctx->moved = calloc(s->active.num_clusters ? s->active.num_clusters : 1, 1);
		rc = ctx->moved ? 0 : -ENOMEM;
	}
	if (rc == 0) {
		rc = blob_set_parent(c, s->parent_id);
	}
	if (rc != 0) {
		ctx->rc = rc;
		blob_unfreeze_io(c, merge_unfrozen, ctx);
		return;
	}
	for (uint64_t i = 0; i < s->active.num_clusters && i < c->active.num_clusters; i++) {
		if (c->active.clusters[i] == 0 && s->active.clusters[i] != 0) {
			__atomic_store_n(&c->active.clusters[i], s->active.clusters[i],
					 __ATOMIC_RELEASE);
			c->active.num_allocated++;
			ctx->moved[i] = 1;
		}
	}
	c->dirty = true;
	c->ep_cow_next = true;
	blob_persist(c, merge_clone_written, ctx);
}

static void merge_marked(void *arg, int rc)
{
	struct merge_ctx *ctx = arg;

	if (rc != 0) {
		ctx->rc = rc;
		spio_blob_close(ctx->clone, merge_clone_closed, ctx);
		return;
	}
	if (ctx->clone->locked_operation) {
		ctx->rc = -EBUSY;
		spio_blob_close(ctx->clone, merge_clone_closed, ctx);
		return;
	}
	ctx->clone->locked_operation = true;
	blob_freeze_io(ctx->clone, merge_clone_frozen, ctx);
}

void blob_snapshot_merge_into_clone(struct spio_blob *snapshot, struct spio_blob *clone,
				    bs_io_cpl cb_fn, void *cb_arg)
{
	struct merge_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc = ctx ? 0 : -ENOMEM;

	if (rc == 0) {
		ctx->bs = snapshot->bs;
		ctx->snap = snapshot;
		ctx->clone = clone;
		ctx->clone_id = clone->id;
		ctx->cb_fn = cb_fn;
		ctx->cb_arg = cb_arg;
		rc = set_id_xattr(snapshot, BLOB_XATTR_SNAPSHOT_PENDING_REMOVAL, clone->id);
	}
	if (rc != 0) {
		free(ctx);
		spio_blob_close(clone, NULL, NULL);
		blob_reply_later(snapshot->bs, cb_fn, cb_arg, rc);
		return;
	}
	blob_persist(snapshot, merge_marked, ctx);
}
