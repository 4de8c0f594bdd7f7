/*
 * Deleting a blob. A snapshot with one clone is merged into the clone first
 * (blob_snapshot.c); the blob's id is kept from being opened meanwhile.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/log.h"

struct delete_ctx {
	struct spio_blob_store *bs;
	struct spio_blob *blob;
	struct spio_blob *clone; /* a snapshot's only clone, open for the merge */
	spio_blob_op_complete cb_fn;
	void *cb_arg;
};

static void delete_done(void *arg, int rc)
{
	struct delete_ctx *ctx = arg;
	struct spio_blob_store *bs = ctx->bs;
	struct spio_blob *blob = ctx->blob;

	if (rc == 0) {
		if (blob->parent_id != SPIO_BLOBID_INVALID) {
			bs_snapshot_remove_clone(bs, blob->parent_id, blob->id);
		}
		if (bs->super_blob == blob->id) {
			/* Written with the next super block (SPDK does the same). */
			bs->super_blob = SPIO_BLOBID_INVALID;
		}
	} else {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": delete failed: %s\n", blob->id, strerror(-rc));
	}
	bs_bits_clear(&bs->open_blobids, blob_id_to_page(blob->id));
	blob_free(blob);
	ctx->cb_fn(ctx->cb_arg, rc);
	free(ctx);
}

static void delete_md_loaded(void *arg, int rc)
{
	struct delete_ctx *ctx = arg;

	if (rc != 0) {
		delete_done(ctx, rc);
		return;
	}
	if (ctx->clone != NULL) {
		blob_snapshot_merge_into_clone(ctx->blob, ctx->clone, delete_done, ctx);
		return;
	}
	blob_persist_delete(ctx->blob, delete_done, ctx);
}

static void delete_load(struct delete_ctx *ctx)
{
	/* Nobody opens it from now on. */
	bs_bits_set(&ctx->bs->open_blobids, blob_id_to_page(ctx->blob->id));
	blob_md_load(ctx->blob, delete_md_loaded, ctx);
}

static void delete_clone_opened(void *arg, struct spio_blob *clone, int rc)
{
	struct delete_ctx *ctx = arg;

	if (rc != 0) {
		blob_free(ctx->blob);
		ctx->cb_fn(ctx->cb_arg, rc);
		free(ctx);
		return;
	}
	ctx->clone = clone;
	delete_load(ctx);
}

/* A blob may be deleted while open only as the parent of its open clone (its back
 * device holds the reference); the merge then moves that clone off it. */
static bool delete_allowed_open(struct spio_blob_store *bs, spio_blob_id id)
{
	struct spio_blob *blob = bs_find_open_blob(bs, id);
	struct spio_blob *other;
	uint32_t held_by_clones = 0;

	if (blob == NULL) {
		return true;
	}
	TAILQ_FOREACH (other, &bs->open_blobs, link) {
		if (other->parent_id == id && other->back_bs_dev != NULL &&
		    !bs_dev_is_zeroes(other->back_bs_dev)) {
			held_by_clones++;
		}
	}
	return blob->open_ref == held_by_clones;
}

void spio_bs_delete_blob(struct spio_blob_store *bs, spio_blob_id blobid,
			 spio_blob_op_complete cb_fn, void *cb_arg)
{
	struct bs_snapshot_entry *snap;
	struct delete_ctx *ctx;

	if (cb_fn == NULL || !bs_on_md_thread(bs, "spio_bs_delete_blob")) {
		return;
	}
	if (!blob_id_is_valid(blobid, bs->geo.md_len) ||
	    !bs_bits_test(&bs->used_blobids, blob_id_to_page(blobid)) ||
	    bs_bits_test(&bs->open_blobids, blob_id_to_page(blobid))) {
		blob_reply_later(bs, cb_fn, cb_arg, -ENOENT);
		return;
	}
	snap = bs_snapshot_find(bs, blobid);
	if ((snap != NULL && snap->clone_count > 1) || !delete_allowed_open(bs, blobid)) {
		blob_reply_later(bs, cb_fn, cb_arg, -EBUSY);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx != NULL) {
		ctx->blob = blob_alloc(bs, blobid);
	}
	if (ctx == NULL || ctx->blob == NULL) {
		free(ctx);
		blob_reply_later(bs, cb_fn, cb_arg, -ENOMEM);
		return;
	}
	ctx->bs = bs;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	if (snap != NULL && snap->clone_count == 1) {
		/* The clone is opened first: opening it opens this snapshot too. */
		spio_bs_open_blob(bs, snap->clones[0], delete_clone_opened, ctx);
		return;
	}
	delete_load(ctx);
}
