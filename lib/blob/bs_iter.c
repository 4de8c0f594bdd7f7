/*
 * Iterating over every blob of a store, in id order, each one opened in turn.
 */
#include <errno.h>
#include <stdlib.h>

#include "blob_internal.h"
#include "spio/log.h"

struct iter_ctx {
	struct spio_blob_store *bs;
	uint64_t next_page;
	spio_blob_op_with_handle_complete cb_fn;
	void *cb_arg;
};

static void iter_open_next(struct iter_ctx *ctx);

static void iter_opened(void *arg, struct spio_blob *blob, int rc)
{
	struct iter_ctx *ctx = arg;

	if (rc == -ENOENT) {
		/* Deleted meanwhile: go on. */
		iter_open_next(ctx);
		return;
	}
	ctx->cb_fn(ctx->cb_arg, blob, rc);
	free(ctx);
}

static void iter_end(void *arg, int rc)
{
	struct iter_ctx *ctx = arg;

	(void)rc;
	ctx->cb_fn(ctx->cb_arg, NULL, -ENOENT);
	free(ctx);
}

static void iter_open_next(struct iter_ctx *ctx)
{
	struct spio_blob_store *bs = ctx->bs;
	uint64_t page = ctx->next_page;

	/* Skip ids being created or deleted. */
	while ((page = bs_bits_find_set(&bs->used_blobids, page)) != UINT64_MAX &&
	       bs_bits_test(&bs->open_blobids, page)) {
		page++;
	}
	if (page == UINT64_MAX) {
		if (bs_defer(bs, iter_end, ctx, 0) != 0) {
			iter_end(ctx, 0);
		}
		return;
	}
	ctx->next_page = page + 1;
	spio_bs_open_blob(bs, blob_page_to_id((uint32_t)page), iter_opened, ctx);
}

static void iter_start(struct spio_blob_store *bs, uint64_t from,
		       spio_blob_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct iter_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		SPIO_ERRLOG("blobstore iteration: out of memory\n");
		cb_fn(cb_arg, NULL, -ENOMEM);
		return;
	}
	ctx->bs = bs;
	ctx->next_page = from;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	iter_open_next(ctx);
}

void spio_bs_iter_first(struct spio_blob_store *bs, spio_blob_op_with_handle_complete cb_fn,
			void *cb_arg)
{
	if (cb_fn == NULL || !bs_on_md_thread(bs, "spio_bs_iter_first")) {
		return;
	}
	iter_start(bs, 0, cb_fn, cb_arg);
}

void spio_bs_iter_next(struct spio_blob_store *bs, struct spio_blob *blob,
		       spio_blob_op_with_handle_complete cb_fn, void *cb_arg)
{
	uint64_t from;

	if (cb_fn == NULL || blob == NULL || !bs_on_md_thread(bs, "spio_bs_iter_next")) {
		return;
	}
	from = (uint64_t)blob_id_to_page(blob->id) + 1;
	spio_blob_close(blob, NULL, NULL);
	iter_start(bs, from, cb_fn, cb_arg);
}
