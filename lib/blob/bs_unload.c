/*
 * Closing a blobstore: unload (masks, then a clean super block) or destroy
 * (the super block zeroed); and the super blob.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/dma.h"
#include "spio/log.h"

struct unload_ctx {
	struct spio_blob_store *bs;
	spio_bs_op_complete cb_fn;
	void *cb_arg;
	int rc;
};

static void unload_channels_gone(void *arg, int rc)
{
	struct unload_ctx *ctx = arg;
	struct spio_blob_store *bs = ctx->bs;
	struct spio_bs_dev *dev = bs->dev;

	(void)rc;
	bs_free(bs);
	dev->destroy(dev);
	if (ctx->cb_fn != NULL) {
		ctx->cb_fn(ctx->cb_arg, ctx->rc);
	}
	free(ctx);
}

static void unload_super_written(void *arg, int rc)
{
	struct unload_ctx *ctx = arg;

	if (rc != 0) {
		SPIO_ERRLOG("blobstore unload: super block write failed: %s\n", strerror(-rc));
		ctx->rc = rc;
	}
	bs_channels_unregister(ctx->bs, unload_channels_gone, ctx);
}

static void unload_masks_written(void *arg, int rc)
{
	struct unload_ctx *ctx = arg;

	if (rc != 0) {
		/* Leave the store marked unclean: the next load recovers from the metadata. */
		SPIO_ERRLOG("blobstore unload: mask write failed: %s\n", strerror(-rc));
		ctx->rc = rc;
		bs_channels_unregister(ctx->bs, unload_channels_gone, ctx);
		return;
	}
	bs_write_super(ctx->bs, true, unload_super_written, ctx);
}

static void destroy_flushed(void *arg, int rc)
{
	unload_super_written(arg, rc);
}

static void destroy_super_zeroed(void *arg, int rc)
{
	struct unload_ctx *ctx = arg;

	if (rc != 0) {
		unload_super_written(ctx, rc);
		return;
	}
	bs_dev_flush(ctx->bs, destroy_flushed, ctx);
}

/* A blob whose last reference is gone but whose close has not finished: a
 * closed clone closes its parent after its own callback ran, and that parent
 * may hold the next one. While one is closing, the answer may still change. */
static bool closing_blobs(struct spio_blob_store *bs)
{
	struct spio_blob *blob;

	TAILQ_FOREACH (blob, &bs->open_blobs, link) {
		if (blob->open_ref == 0 && !blob->loading) {
			return true;
		}
	}
	return false;
}

struct unload_retry {
	struct spio_blob_store *bs;
	bool destroy;
	spio_bs_op_complete cb_fn;
	void *cb_arg;
};

static void unload_retry(void *arg, int rc)
{
	struct unload_retry *r = arg;

	(void)rc;
	if (r->destroy) {
		spio_bs_destroy(r->bs, r->cb_fn, r->cb_arg);
	} else {
		spio_bs_unload(r->bs, r->cb_fn, r->cb_arg);
	}
	free(r);
}

/* Try again once the closes in flight are done (each takes a message or an I/O). */
static bool unload_later(struct spio_blob_store *bs, bool destroy, spio_bs_op_complete cb_fn,
			 void *cb_arg)
{
	struct unload_retry *r;

	if (!closing_blobs(bs) || (r = calloc(1, sizeof(*r))) == NULL) {
		return false;
	}
	r->bs = bs;
	r->destroy = destroy;
	r->cb_fn = cb_fn;
	r->cb_arg = cb_arg;
	if (bs_defer(bs, unload_retry, r, 0) != 0) {
		free(r);
		return false;
	}
	return true;
}

static struct unload_ctx *unload_begin(struct spio_blob_store *bs, bool destroy,
				       spio_bs_op_complete cb_fn, void *cb_arg)
{
	const char *what = destroy ? "spio_bs_destroy" : "spio_bs_unload";
	struct unload_ctx *ctx;

	if (!bs_on_md_thread(bs, what)) {
		return NULL;
	}
	if (!bs->unloading && unload_later(bs, destroy, cb_fn, cb_arg)) {
		return NULL;
	}
	if (bs->unloading || !TAILQ_EMPTY(&bs->open_blobs) ||
	    __atomic_load_n(&bs->num_channels, __ATOMIC_ACQUIRE) > 0) {
		struct spio_blob *blob;

		SPIO_ERRLOG("%s: blobs still open or channels not freed (%u channels)\n", what,
			    __atomic_load_n(&bs->num_channels, __ATOMIC_ACQUIRE));
		TAILQ_FOREACH (blob, &bs->open_blobs, link) {
			SPIO_ERRLOG("%s: blob 0x%" PRIx64 " is open (%u references)\n", what,
				    blob->id, blob->open_ref);
		}
		if (cb_fn != NULL) {
			blob_reply_later(bs, cb_fn, cb_arg, -EBUSY);
		}
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		if (cb_fn != NULL) {
			blob_reply_later(bs, cb_fn, cb_arg, -ENOMEM);
		}
		return NULL;
	}
	bs->unloading = true;
	ctx->bs = bs;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	return ctx;
}

void spio_bs_unload(struct spio_blob_store *bs, spio_bs_op_complete cb_fn, void *cb_arg)
{
	struct unload_ctx *ctx = unload_begin(bs, false, cb_fn, cb_arg);

	if (ctx != NULL) {
		bs_write_masks(bs, unload_masks_written, ctx);
	}
}

void spio_bs_destroy(struct spio_blob_store *bs, spio_bs_op_complete cb_fn, void *cb_arg)
{
	struct unload_ctx *ctx = unload_begin(bs, true, cb_fn, cb_arg);

	if (ctx != NULL) {
		memset(bs->super, 0, BLOB_PAGE_SIZE);
		bs_dev_write(bs, bs->super, 0, BLOB_PAGE_SIZE / bs->dev->blocklen,
			     destroy_super_zeroed, ctx);
	}
}

/*
 * Super blob
 */

struct super_ctx {
	struct spio_blob_store *bs;
	spio_blob_id old;
	spio_bs_op_complete cb_fn;
	void *cb_arg;
};

static void super_written(void *arg, int rc)
{
	struct super_ctx *ctx = arg;

	if (rc != 0) {
		ctx->bs->super_blob = ctx->old;
	}
	ctx->cb_fn(ctx->cb_arg, rc);
	free(ctx);
}

void spio_bs_set_super(struct spio_blob_store *bs, spio_blob_id blobid, spio_bs_op_complete cb_fn,
		       void *cb_arg)
{
	struct super_ctx *ctx;

	if (cb_fn == NULL || !bs_on_md_thread(bs, "spio_bs_set_super")) {
		return;
	}
	if (!blob_id_is_valid(blobid, bs->geo.md_len) ||
	    !bs_bits_test(&bs->used_blobids, blob_id_to_page(blobid))) {
		blob_reply_later(bs, cb_fn, cb_arg, -ENOENT);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		blob_reply_later(bs, cb_fn, cb_arg, -ENOMEM);
		return;
	}
	ctx->bs = bs;
	ctx->old = bs->super_blob;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	bs->super_blob = blobid;
	bs_write_super(bs, bs->clean, super_written, ctx);
}

struct get_super_ctx {
	spio_blob_op_with_id_complete cb_fn;
	void *cb_arg;
	spio_blob_id id;
};

static void get_super_reply(void *arg, int rc)
{
	struct get_super_ctx *ctx = arg;

	(void)rc;
	ctx->cb_fn(ctx->cb_arg, ctx->id, ctx->id == SPIO_BLOBID_INVALID ? -ENOENT : 0);
	free(ctx);
}

void spio_bs_get_super(struct spio_blob_store *bs, spio_blob_op_with_id_complete cb_fn,
		       void *cb_arg)
{
	struct get_super_ctx *ctx;

	if (cb_fn == NULL || !bs_on_md_thread(bs, "spio_bs_get_super")) {
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		blob_reply_id_later(bs, cb_fn, cb_arg, SPIO_BLOBID_INVALID, -ENOMEM);
		return;
	}
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	ctx->id = bs->super_blob;
	if (bs_defer(bs, get_super_reply, ctx, 0) != 0) {
		free(ctx);
		cb_fn(cb_arg, SPIO_BLOBID_INVALID, -ENOMEM);
	}
}
