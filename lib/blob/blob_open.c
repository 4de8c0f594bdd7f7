/*
 * Open blobs: the in-memory blob, open (read and check the metadata, set up
 * the back device), close (sync if dirty, free), and the getters.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/log.h"

struct blob_open_waiter {
	TAILQ_ENTRY(blob_open_waiter) link;
	spio_blob_op_with_handle_complete cb_fn;
	void *cb_arg;
};

/*
 * Cluster maps
 */

int blob_map_resize(struct blob_map *m, uint64_t num_clusters)
{
	uint64_t eps = (num_clusters + BLOB_EXTENTS_PER_EP - 1) / BLOB_EXTENTS_PER_EP;

	if (num_clusters > m->num_clusters || m->clusters == NULL) {
		uint64_t *c = realloc(m->clusters, (num_clusters ? num_clusters : 1) * sizeof(*c));

		if (c == NULL) {
			return -ENOMEM;
		}
		memset(c + m->num_clusters, 0, (num_clusters - m->num_clusters) * sizeof(*c));
		m->clusters = c;
	}
	if (eps > m->num_extent_pages || m->extent_pages == NULL) {
		uint32_t *e = realloc(m->extent_pages, (eps ? eps : 1) * sizeof(*e));

		if (e == NULL) {
			return -ENOMEM;
		}
		memset(e + m->num_extent_pages, 0, (eps - m->num_extent_pages) * sizeof(*e));
		m->extent_pages = e;
	}
	/* Shrinking keeps the arrays; entries past the end are cleared for a later grow. */
	for (uint64_t i = num_clusters; i < m->num_clusters; i++) {
		if (m->clusters[i] != 0) {
			m->num_allocated--;
		}
		m->clusters[i] = 0;
	}
	for (uint64_t e = eps; e < m->num_extent_pages; e++) {
		m->extent_pages[e] = 0;
	}
	m->num_clusters = num_clusters;
	m->num_extent_pages = eps;
	return 0;
}

void blob_map_free(struct blob_map *m)
{
	free(m->clusters);
	free(m->extent_pages);
	memset(m, 0, sizeof(*m));
}

int blob_map_copy(struct blob_map *dst, const struct blob_map *src)
{
	uint64_t *c = malloc((src->num_clusters ? src->num_clusters : 1) * sizeof(*c));
	uint32_t *e = malloc((src->num_extent_pages ? src->num_extent_pages : 1) * sizeof(*e));

	if (c == NULL || e == NULL) {
		free(c);
		free(e);
		return -ENOMEM;
	}
	if (src->num_clusters) {
		memcpy(c, src->clusters, src->num_clusters * sizeof(*c));
	}
	if (src->num_extent_pages) {
		memcpy(e, src->extent_pages, src->num_extent_pages * sizeof(*e));
	}
	free(dst->clusters);
	free(dst->extent_pages);
	dst->clusters = c;
	dst->extent_pages = e;
	dst->num_clusters = src->num_clusters;
	dst->num_allocated = src->num_allocated;
	dst->num_extent_pages = src->num_extent_pages;
	return 0;
}

/*
 * The in-memory blob
 */

struct spio_blob *blob_alloc(struct spio_blob_store *bs, spio_blob_id id)
{
	struct spio_blob *blob = calloc(1, sizeof(*blob));

	if (blob == NULL) {
		return NULL;
	}
	blob->bs = bs;
	blob->id = id;
	blob->parent_id = SPIO_BLOBID_INVALID;
	blob->use_extent_table = true;
	TAILQ_INIT(&blob->xattrs);
	TAILQ_INIT(&blob->xattrs_internal);
	TAILQ_INIT(&blob->sync_waiters);
	TAILQ_INIT(&blob->freeze_waiters);
	TAILQ_INIT(&blob->open_waiters);
	if (blob_map_resize(&blob->active, 0) != 0 || blob_map_resize(&blob->disk, 0) != 0) {
		blob_free(blob);
		return NULL;
	}
	return blob;
}

void blob_free(struct spio_blob *blob)
{
	if (blob == NULL) {
		return;
	}
	blob_map_free(&blob->active);
	blob_map_free(&blob->disk);
	free(blob->md_pages);
	free(blob->disk_chain);
	free(blob->pending_free_clusters);
	blob_xattr_list_free(&blob->xattrs);
	blob_xattr_list_free(&blob->xattrs_internal);
	if (blob->back_bs_dev != NULL) {
		blob->back_bs_dev->destroy(blob->back_bs_dev);
	}
	free(blob);
}

/*
 * Back device: the parent blob, or zeroes for a thin blob, or zeroes for a
 * thick one too (its clusters are all allocated; unallocated ones appear only
 * transiently, e.g. while a snapshot takes them over).
 */

struct back_ctx {
	struct spio_blob *blob;
	bs_io_cpl cb_fn;
	void *cb_arg;
};

static void back_parent_opened(void *arg, struct spio_blob *parent, int rc)
{
	struct back_ctx *ctx = arg;
	struct spio_blob *blob = ctx->blob;

	if (rc == 0) {
		blob->back_bs_dev = bs_create_blob_back_dev(parent);
		if (blob->back_bs_dev == NULL) {
			spio_blob_close(parent, NULL, NULL);
			rc = -ENOMEM;
		}
	} else {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": cannot open its parent 0x%" PRIx64 ": %s\n",
			    blob->id, blob->parent_id, strerror(-rc));
	}
	ctx->cb_fn(ctx->cb_arg, rc);
	free(ctx);
}

void blob_setup_back_dev(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg)
{
	struct back_ctx *ctx;
	int rc = 0;

	if (blob->back_bs_dev != NULL) {
		blob->back_bs_dev->destroy(blob->back_bs_dev);
		blob->back_bs_dev = NULL;
	}
	if (blob->parent_id == SPIO_BLOBID_INVALID) {
		blob->back_bs_dev = bs_create_zeroes_dev();
		rc = blob->back_bs_dev ? 0 : -ENOMEM;
		if (bs_defer(blob->bs, cb_fn, cb_arg, rc) != 0) {
			cb_fn(cb_arg, -ENOMEM);
		}
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		if (bs_defer(blob->bs, cb_fn, cb_arg, -ENOMEM) != 0) {
			cb_fn(cb_arg, -ENOMEM);
		}
		return;
	}
	ctx->blob = blob;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	spio_bs_open_blob(blob->bs, blob->parent_id, back_parent_opened, ctx);
}

/*
 * Open
 */

static void open_finish(struct spio_blob *blob, int rc)
{
	struct spio_blob_store *bs = blob->bs;
	struct blob_open_waiter *w;
	TAILQ_HEAD(, blob_open_waiter) waiters = TAILQ_HEAD_INITIALIZER(waiters);

	blob->loading = false;
	TAILQ_CONCAT(&waiters, &blob->open_waiters, link);
	if (rc != 0) {
		TAILQ_REMOVE(&bs->open_blobs, blob, link);
		blob_free(blob);
		blob = NULL;
	}
	while ((w = TAILQ_FIRST(&waiters)) != NULL) {
		TAILQ_REMOVE(&waiters, w, link);
		w->cb_fn(w->cb_arg, blob, rc);
		free(w);
	}
}

static void open_back_done(void *arg, int rc)
{
	open_finish(arg, rc);
}

static void open_md_loaded(void *arg, int rc)
{
	struct spio_blob *blob = arg;

	if (rc != 0) {
		open_finish(blob, rc);
		return;
	}
	blob_setup_back_dev(blob, open_back_done, blob);
}

struct open_defer {
	spio_blob_op_with_handle_complete cb_fn;
	void *cb_arg;
	struct spio_blob *blob;
};

static void open_deferred(void *arg, int rc)
{
	struct open_defer *d = arg;

	d->cb_fn(d->cb_arg, rc == 0 ? d->blob : NULL, rc);
	free(d);
}

/* Answer an open later on the md thread; the blob reference was taken already. */
static void open_reply_later(struct spio_blob_store *bs, struct spio_blob *blob, int rc,
			     spio_blob_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct open_defer *d = calloc(1, sizeof(*d));

	if (d != NULL) {
		d->cb_fn = cb_fn;
		d->cb_arg = cb_arg;
		d->blob = blob;
		if (bs_defer(bs, open_deferred, d, rc) == 0) {
			return;
		}
		free(d);
	}
	SPIO_ERRLOG("spio_bs_open_blob: out of memory for the reply\n");
	if (blob != NULL && rc == 0) {
		blob->open_ref--;
	}
	cb_fn(cb_arg, NULL, -ENOMEM);
}

void spio_bs_open_blob(struct spio_blob_store *bs, spio_blob_id blobid,
		       spio_blob_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct blob_open_waiter *w;
	struct spio_blob *blob;

	if (cb_fn == NULL || !bs_on_md_thread(bs, "spio_bs_open_blob")) {
		return;
	}
	if (!blob_id_is_valid(blobid, bs->geo.md_len) ||
	    !bs_bits_test(&bs->used_blobids, blob_id_to_page(blobid)) ||
	    bs_bits_test(&bs->open_blobids, blob_id_to_page(blobid))) {
		open_reply_later(bs, NULL, -ENOENT, cb_fn, cb_arg);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		open_reply_later(bs, NULL, -ENOMEM, cb_fn, cb_arg);
		return;
	}
	w->cb_fn = cb_fn;
	w->cb_arg = cb_arg;
	blob = bs_find_open_blob(bs, blobid);
	if (blob != NULL) {
		blob->open_ref++;
		if (blob->loading) {
			TAILQ_INSERT_TAIL(&blob->open_waiters, w, link);
			return;
		}
		free(w);
		open_reply_later(bs, blob, 0, cb_fn, cb_arg);
		return;
	}
	blob = blob_alloc(bs, blobid);
	if (blob == NULL) {
		free(w);
		open_reply_later(bs, NULL, -ENOMEM, cb_fn, cb_arg);
		return;
	}
	blob->open_ref = 1;
	blob->loading = true;
	TAILQ_INSERT_TAIL(&blob->open_waiters, w, link);
	TAILQ_INSERT_TAIL(&bs->open_blobs, blob, link);
	blob_md_load(blob, open_md_loaded, blob);
}

/*
 * Close
 */

struct close_ctx {
	struct spio_blob *blob;
	bool last; /* this close dropped the last reference */
	spio_blob_op_complete cb_fn;
	void *cb_arg;
};

static void close_finish(void *arg, int rc)
{
	struct close_ctx *ctx = arg;
	struct spio_blob *blob = ctx->blob;

	if (rc != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": metadata not written at close: %s\n", blob->id,
			    strerror(-rc));
	}
	/* Another reference's close may have freed it already; a reopen while the
	 * last close synced keeps it. */
	if (ctx->last && blob->open_ref == 0) {
		TAILQ_REMOVE(&blob->bs->open_blobs, blob, link);
		blob_free(blob);
	}
	if (ctx->cb_fn != NULL) {
		ctx->cb_fn(ctx->cb_arg, rc);
	}
	free(ctx);
}

void spio_blob_close(struct spio_blob *blob, spio_blob_op_complete cb_fn, void *cb_arg)
{
	struct close_ctx *ctx;

	if (blob == NULL || !bs_on_md_thread(blob->bs, "spio_blob_close")) {
		return;
	}
	if (blob->open_ref == 0) {
		SPIO_ERRLOG("spio_blob_close: blob 0x%" PRIx64 " is not open\n", blob->id);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		/* Drop the reference anyway; the metadata stays as last synced. */
		SPIO_ERRLOG("spio_blob_close: out of memory\n");
		blob->open_ref--;
		return;
	}
	ctx->blob = blob;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	blob->open_ref--;
	ctx->last = blob->open_ref == 0;
	if (blob->open_ref > 0) {
		if (bs_defer(blob->bs, close_finish, ctx, 0) != 0) {
			close_finish(ctx, 0);
		}
		return;
	}
	if (blob->dirty && !blob->md_ro) {
		blob_persist(blob, close_finish, ctx);
		return;
	}
	if (bs_defer(blob->bs, close_finish, ctx, 0) != 0) {
		close_finish(ctx, 0);
	}
}

/*
 * Getters
 */

spio_blob_id spio_blob_get_id(struct spio_blob *blob)
{
	return blob ? blob->id : SPIO_BLOBID_INVALID;
}

uint64_t spio_blob_get_num_io_units(struct spio_blob *blob)
{
	return blob ? blob->active.num_clusters * blob->bs->io_units_per_cluster : 0;
}

uint64_t spio_blob_get_num_clusters(struct spio_blob *blob)
{
	return blob ? blob->active.num_clusters : 0;
}

uint64_t spio_blob_get_num_allocated_clusters(struct spio_blob *blob)
{
	return blob ? __atomic_load_n(&blob->active.num_allocated, __ATOMIC_RELAXED) : 0;
}

static uint64_t next_io_unit(struct spio_blob *blob, uint64_t offset, bool allocated)
{
	uint64_t per = blob->bs->io_units_per_cluster;

	for (uint64_t c = offset / per; c < blob->active.num_clusters; c++) {
		if ((blob_cluster_get(blob, c) != 0) == allocated) {
			return c == offset / per ? offset : c * per;
		}
	}
	return UINT64_MAX;
}

uint64_t spio_blob_get_next_allocated_io_unit(struct spio_blob *blob, uint64_t offset)
{
	return blob ? next_io_unit(blob, offset, true) : UINT64_MAX;
}

uint64_t spio_blob_get_next_unallocated_io_unit(struct spio_blob *blob, uint64_t offset)
{
	return blob ? next_io_unit(blob, offset, false) : UINT64_MAX;
}

bool spio_blob_is_read_only(struct spio_blob *blob)
{
	return blob != NULL && blob->data_ro;
}

bool spio_blob_is_snapshot(struct spio_blob *blob)
{
	return blob != NULL && bs_snapshot_find(blob->bs, blob->id) != NULL;
}

bool spio_blob_is_clone(struct spio_blob *blob)
{
	return blob != NULL && blob->parent_id != SPIO_BLOBID_INVALID;
}

bool spio_blob_is_thin_provisioned(struct spio_blob *blob)
{
	return blob != NULL && blob_is_thin(blob);
}

int spio_blob_set_read_only(struct spio_blob *blob)
{
	if (blob == NULL || !bs_on_md_thread(blob->bs, "spio_blob_set_read_only")) {
		return -EINVAL;
	}
	if (blob->md_ro) {
		return -EPERM;
	}
	/* As SPDK: the blob turns read-only (data and metadata) once this is synced. */
	blob->data_ro_flags |= BLOB_FLAG_READ_ONLY;
	blob->dirty = true;
	return 0;
}
