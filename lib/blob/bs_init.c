/*
 * A new blobstore (spio_bs_init): lay it out, clear the device, write the
 * masks and then the super block (the last write: until it lands, the
 * device is not a blobstore).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/log.h"

struct init_ctx {
	struct spio_blob_store *bs;
	struct spio_bs_dev *dev;
	enum spio_bs_clear_method clear_method;
	spio_bs_op_with_handle_complete cb_fn;
	void *cb_arg;
	uint32_t pending;
	int rc;
};

static void init_finish(struct init_ctx *ctx, int rc)
{
	struct spio_blob_store *bs = ctx->bs;

	if (rc == 0) {
		rc = bs_channels_register(bs);
	}
	if (rc != 0) {
		struct spio_bs_dev *dev = bs->dev;

		bs_free(bs);
		dev->destroy(dev);
		ctx->cb_fn(ctx->cb_arg, NULL, rc);
	} else {
		ctx->cb_fn(ctx->cb_arg, bs, 0);
	}
	free(ctx);
}

static void init_super_written(void *arg, int rc)
{
	init_finish(arg, rc);
}

static void init_masks_written(void *arg, int rc)
{
	struct init_ctx *ctx = arg;

	if (rc != 0) {
		init_finish(ctx, rc);
		return;
	}
	bs_write_super(ctx->bs, false, init_super_written, ctx);
}

static void init_cleared(void *arg, int rc)
{
	struct init_ctx *ctx = arg;

	if (rc != 0 && ctx->rc == 0) {
		ctx->rc = rc;
	}
	if (--ctx->pending > 0) {
		return;
	}
	if (ctx->rc != 0) {
		init_finish(ctx, ctx->rc);
		return;
	}
	bs_write_masks(ctx->bs, init_masks_written, ctx);
}

void spio_bs_opts_init(struct spio_bs_opts *opts, size_t opts_size)
{
	struct spio_bs_opts def = {
	    .cluster_sz = BS_DEFAULT_CLUSTER_SZ,
	    .num_md_pages = UINT32_MAX,
	    .max_md_ops = 32,
	    .max_channel_ops = BS_DEFAULT_CHANNEL_OPS,
	    .clear_method = SPIO_BS_CLEAR_WITH_UNMAP,
	    .md_page_size = BLOB_PAGE_SIZE,
	    .opts_size = sizeof(def),
	};

	bs_opts_fill(opts, opts_size, &def, sizeof(def), offsetof(struct spio_bs_opts, opts_size));
}

/* The caller's options over the defaults, as far as the caller's struct goes. */
void bs_opts_copy(struct spio_bs_opts *dst, const struct spio_bs_opts *src)
{
	size_t n;

	spio_bs_opts_init(dst, sizeof(*dst));
	if (src == NULL) {
		return;
	}
	n = src->opts_size && src->opts_size < sizeof(*dst) ? src->opts_size : sizeof(*dst);
	memcpy(dst, src, n);
	dst->opts_size = sizeof(*dst);
}

static void init_fail_deferred(void *arg)
{
	struct init_ctx *ctx = arg;

	ctx->dev->destroy(ctx->dev);
	ctx->cb_fn(ctx->cb_arg, NULL, ctx->rc);
	free(ctx);
}

/* Fail before a store exists: destroy the device and answer later. */
static void init_fail_now(struct spio_bs_dev *dev, spio_bs_op_with_handle_complete cb_fn,
			  void *cb_arg, int rc)
{
	struct init_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx != NULL) {
		ctx->dev = dev;
		ctx->cb_fn = cb_fn;
		ctx->cb_arg = cb_arg;
		ctx->rc = rc;
		if (spio_thread_send_msg(spio_get_thread(), init_fail_deferred, ctx) == 0) {
			return;
		}
		free(ctx);
	}
	dev->destroy(dev);
	cb_fn(cb_arg, NULL, rc);
}

void spio_bs_init(struct spio_bs_dev *dev, struct spio_bs_opts *opts,
		  spio_bs_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct blob_super_params p = {0};
	struct blob_fmt_err err = {{0}};
	struct spio_bs_opts o;
	struct init_ctx *ctx;
	struct spio_blob_store *bs;
	uint64_t md_end;
	int rc;

	if (dev == NULL || cb_fn == NULL || spio_get_thread() == NULL) {
		SPIO_ERRLOG("spio_bs_init: needs a device, a callback and a spio thread\n");
		return;
	}
	bs_opts_copy(&o, opts);
	/* SPDK refuses zeroes in these too. */
	if (o.max_channel_ops == 0 || o.max_md_ops == 0 || o.num_md_pages == 0 ||
	    o.cluster_sz == 0 || (unsigned)o.clear_method > SPIO_BS_CLEAR_WITH_NONE ||
	    o.md_page_size < BLOB_PAGE_SIZE || (o.md_page_size & (o.md_page_size - 1)) != 0 ||
	    dev->blocklen > o.md_page_size) {
		SPIO_ERRLOG("spio_bs_init: invalid options\n");
		init_fail_now(dev, cb_fn, cb_arg, -EINVAL);
		return;
	}
	bs = bs_alloc(dev);
	ctx = calloc(1, sizeof(*ctx));
	if (bs == NULL || ctx == NULL) {
		free(ctx);
		bs_free(bs);
		init_fail_now(dev, cb_fn, cb_arg, -ENOMEM);
		return;
	}
	p.blockcnt = dev->blockcnt;
	p.blocklen = dev->blocklen;
	p.cluster_size = o.cluster_sz;
	p.md_page_size = o.md_page_size;
	p.io_unit_size = 0;
	p.num_md_pages = o.num_md_pages == UINT32_MAX ? 0 : o.num_md_pages;
	p.bstype = (const uint8_t *)o.bstype.bstype;
	rc = blob_super_build(bs->super, &p, &err);
	if (rc == 0) {
		rc = bs_setup_from_super(bs);
	} else {
		SPIO_ERRLOG("spio_bs_init: %s\n", err.msg);
	}
	if (rc != 0) {
		bs_free(bs);
		free(ctx);
		init_fail_now(dev, cb_fn, cb_arg, rc);
		return;
	}
	bs->max_channel_ops = o.max_channel_ops;
	/* The metadata's own clusters are used from the start. */
	for (uint64_t c = 0; c < bs->geo.md_clusters; c++) {
		bs_bits_set(&bs->used_clusters, c);
	}
	bs_recount_free_clusters(bs);

	ctx->bs = bs;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	ctx->pending = 1;
	md_end = (bs->geo.md_start + bs->geo.md_len) * bs->blocks_per_page;
	/* The whole metadata area reads as zeroes: no stale page can look like a blob. */
	ctx->pending++;
	bs_dev_write_zeroes(bs, 0, md_end, init_cleared, ctx);
	if (md_end < dev->blockcnt && o.clear_method != SPIO_BS_CLEAR_WITH_NONE) {
		ctx->pending++;
		if (o.clear_method == SPIO_BS_CLEAR_WITH_UNMAP) {
			bs_dev_unmap(bs, md_end, dev->blockcnt - md_end, init_cleared, ctx);
		} else {
			bs_dev_write_zeroes(bs, md_end, dev->blockcnt - md_end, init_cleared, ctx);
		}
	}
	/* Drop the hold later, so no callback runs inside this call. */
	if (bs_defer(bs, init_cleared, ctx, 0) != 0) {
		init_cleared(ctx, 0);
	}
}
