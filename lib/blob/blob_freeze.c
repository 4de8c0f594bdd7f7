/*
 * Freezing a blob's I/O: the md thread raises the blob's freeze count, then
 * visits every blobstore channel by message, so each has seen it before the
 * caller goes on (from then on a channel holds the blob's I/O before its
 * next piece). Unfreezing lowers the count and, at zero, runs what waited
 * for it (thin allocations' map inserts) and resubmits every channel's held
 * I/O. Pieces already at the device finish normally.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "blob_internal.h"
#include "spio/log.h"

struct freeze_ctx {
	struct spio_blob *blob;
	bs_io_cpl cb_fn;
	void *cb_arg;
};

static void reply_later(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg, int rc)
{
	if (bs_defer(blob->bs, cb_fn, cb_arg, rc) != 0) {
		cb_fn(cb_arg, rc);
	}
}

static void traversal_done(struct spio_io_channel_iter *iter, int status)
{
	struct freeze_ctx *ctx = spio_io_channel_iter_get_ctx(iter);

	ctx->cb_fn(ctx->cb_arg, status);
	free(ctx);
}

static void freeze_visit(struct spio_io_channel_iter *iter)
{
	/* The message itself is the point: this thread now sees the count. */
	spio_for_each_channel_continue(iter, 0);
}

static void unfreeze_visit(struct spio_io_channel_iter *iter)
{
	struct freeze_ctx *ctx = spio_io_channel_iter_get_ctx(iter);
	struct spio_io_channel *channel = spio_io_channel_iter_get_channel(iter);

	blob_io_resume_held(spio_io_channel_get_ctx(channel), ctx->blob);
	spio_for_each_channel_continue(iter, 0);
}

/* Visit every channel with `fn`, then cb_fn. \return 0 or the traversal's error. */
static int traverse(struct spio_blob *blob, spio_channel_msg fn, bs_io_cpl cb_fn, void *cb_arg)
{
	struct freeze_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->blob = blob;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	rc = spio_for_each_channel(blob->bs, fn, ctx, traversal_done);
	if (rc == -ENODEV) {
		/* No channels registered (yet, or any more): nothing to tell. */
		free(ctx);
		reply_later(blob, cb_fn, cb_arg, 0);
		return 0;
	}
	if (rc != 0) {
		free(ctx);
	}
	return rc;
}

static void freeze_undone(void *arg, int rc)
{
	struct freeze_ctx *ctx = arg;

	(void)rc;
	ctx->cb_fn(ctx->cb_arg, -ENOMEM);
	free(ctx);
}

void blob_freeze_io(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg)
{
	struct freeze_ctx *undo;

	__atomic_add_fetch(&blob->frozen_refcnt, 1, __ATOMIC_SEQ_CST);
	if (traverse(blob, freeze_visit, cb_fn, cb_arg) == 0) {
		return;
	}
	/* A channel may have held I/O already: undo through a real unfreeze. */
	SPIO_ERRLOG("blob 0x%" PRIx64 ": no memory to freeze its I/O\n", blob->id);
	undo = calloc(1, sizeof(*undo));
	if (undo == NULL) {
		__atomic_sub_fetch(&blob->frozen_refcnt, 1, __ATOMIC_SEQ_CST);
		reply_later(blob, cb_fn, cb_arg, -ENOMEM);
		return;
	}
	undo->cb_fn = cb_fn;
	undo->cb_arg = cb_arg;
	blob_unfreeze_io(blob, freeze_undone, undo);
}

void blob_unfreeze_io(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg)
{
	struct blob_freeze_waiter *w;
	int rc;

	if (blob->frozen_refcnt == 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": unfreeze without freeze\n", blob->id);
		reply_later(blob, cb_fn, cb_arg, -EINVAL);
		return;
	}
	/* Release: a channel that sees 0 also sees the map changes made while frozen. */
	if (__atomic_sub_fetch(&blob->frozen_refcnt, 1, __ATOMIC_RELEASE) != 0) {
		reply_later(blob, cb_fn, cb_arg, 0);
		return;
	}
	while (blob->frozen_refcnt == 0 && (w = TAILQ_FIRST(&blob->freeze_waiters)) != NULL) {
		TAILQ_REMOVE(&blob->freeze_waiters, w, link);
		w->cb_fn(w->cb_arg, 0);
	}
	rc = traverse(blob, unfreeze_visit, cb_fn, cb_arg);
	if (rc != 0) {
		/* Held I/O stays held until the next unfreeze of this blob. */
		SPIO_ERRLOG("blob 0x%" PRIx64 ": cannot visit the channels to resume its I/O: %d\n",
			    blob->id, rc);
		reply_later(blob, cb_fn, cb_arg, rc);
	}
}

void blob_run_when_unfrozen(struct spio_blob *blob, struct blob_freeze_waiter *w, bs_io_cpl cb_fn,
			    void *cb_arg)
{
	w->cb_fn = cb_fn;
	w->cb_arg = cb_arg;
	TAILQ_INSERT_TAIL(&blob->freeze_waiters, w, link);
}
