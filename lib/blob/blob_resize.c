/*
 * Resizing a blob: thick blobs claim clusters for the new part or hand the
 * cut part to the next persist to free; I/O is held meanwhile, since the
 * cluster map may move.
 */
#include <errno.h>
#include <stdlib.h>

#include "blob_internal.h"
#include "spio/log.h"

struct resize_ctx {
	struct spio_blob *blob;
	uint64_t sz;
	spio_blob_op_complete cb_fn;
	void *cb_arg;
	int rc;
};

static void resize_unfrozen(void *arg, int rc)
{
	struct resize_ctx *ctx = arg;

	(void)rc;
	ctx->blob->locked_operation = false;
	ctx->cb_fn(ctx->cb_arg, ctx->rc);
	free(ctx);
}

/* Change the in-memory size; the caller holds the blob's I/O. */
int blob_resize_frozen(struct spio_blob *blob, uint64_t sz)
{
	uint64_t old = blob->active.num_clusters;
	int rc;

	if (sz > old) {
		rc = blob_map_resize(&blob->active, sz);
		if (rc != 0) {
			return rc;
		}
		if (!blob_is_thin(blob)) {
			rc = blob_claim_clusters(blob, old, sz);
			if (rc != 0) {
				/* Back to the old size; the arrays stay large, which is harmless.
				 */
				blob_map_resize(&blob->active, old);
				return rc;
			}
		}
	} else if (sz < old) {
		for (uint64_t i = sz; i < old; i++) {
			uint64_t c = blob->active.clusters[i];

			if (c == 0) {
				continue;
			}
			if (i < blob->disk.num_clusters && blob->disk.clusters[i] == c) {
				/* On the device: freed once the new size is. */
				rc = blob_defer_cluster_free(blob, c);
				if (rc != 0) {
					return rc;
				}
			} else {
				/* Never written: free now. */
				bs_release_cluster(blob->bs, c);
			}
		}
		rc = blob_map_resize(&blob->active, sz);
		if (rc != 0) {
			return rc;
		}
	}
	blob->dirty = true;
	return 0;
}

static void resize_frozen(void *arg, int rc)
{
	struct resize_ctx *ctx = arg;

	ctx->rc = rc != 0 ? rc : blob_resize_frozen(ctx->blob, ctx->sz);
	blob_unfreeze_io(ctx->blob, resize_unfrozen, ctx);
}

void spio_blob_resize(struct spio_blob *blob, uint64_t sz, spio_blob_op_complete cb_fn,
		      void *cb_arg)
{
	struct resize_ctx *ctx;

	if (blob == NULL || cb_fn == NULL || !bs_on_md_thread(blob->bs, "spio_blob_resize")) {
		return;
	}
	if (blob->md_ro) {
		blob_reply_later(blob->bs, cb_fn, cb_arg, -EPERM);
		return;
	}
	if (sz > UINT32_MAX) {
		blob_reply_later(blob->bs, cb_fn, cb_arg, -EINVAL);
		return;
	}
	if (blob->locked_operation) {
		blob_reply_later(blob->bs, cb_fn, cb_arg, -EBUSY);
		return;
	}
	if (sz == blob->active.num_clusters) {
		blob_reply_later(blob->bs, cb_fn, cb_arg, 0);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		blob_reply_later(blob->bs, cb_fn, cb_arg, -ENOMEM);
		return;
	}
	ctx->blob = blob;
	ctx->sz = sz;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	blob->locked_operation = true;
	blob_freeze_io(blob, resize_frozen, ctx);
}

void spio_blob_sync_md(struct spio_blob *blob, spio_blob_op_complete cb_fn, void *cb_arg)
{
	if (blob == NULL || cb_fn == NULL || !bs_on_md_thread(blob->bs, "spio_blob_sync_md")) {
		return;
	}
	if (blob->md_ro && blob->dirty) {
		blob_reply_later(blob->bs, cb_fn, cb_arg, -EPERM);
		return;
	}
	blob_persist(blob, cb_fn, cb_arg);
}
