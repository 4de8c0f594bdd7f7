/*
 * Blobstore channels: the store is an io_device whose per-thread channel
 * (struct bs_channel) holds the device channel and a preallocated pool of
 * I/O requests, so blob I/O allocates nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "blob_internal.h"
#include "spio/dma.h"
#include "spio/log.h"

/*
 * Requests for back devices' reads (a clone reading its parent) come on top
 * of the caller's max_channel_ops, so a full channel of clone reads does not
 * starve its own reads of the parent.
 */
static uint32_t pool_reserve(uint32_t max_ops)
{
	return max_ops / 2 > 16 ? max_ops / 2 : 16;
}

static int bs_channel_create(void *io_device, void *ctx_buf)
{
	struct spio_blob_store *bs = io_device;
	struct bs_channel *ch = ctx_buf;
	uint32_t max_ops = bs->max_channel_ops ? bs->max_channel_ops : BS_DEFAULT_CHANNEL_OPS;

	ch->bs = bs;
	ch->thread = spio_get_thread();
	ch->max_user_ops = max_ops;
	TAILQ_INIT(&ch->free_reqs);
	TAILQ_INIT(&ch->held);
	TAILQ_INIT(&ch->allocating);
	TAILQ_INIT(&ch->bounce_waiters);
	ch->num_reqs = max_ops + pool_reserve(max_ops);
	ch->reqs = calloc(ch->num_reqs, sizeof(*ch->reqs));
	ch->bounce = spio_dma_malloc(bs->io_unit_size, 0);
	if (ch->reqs == NULL || ch->bounce == NULL) {
		SPIO_ERRLOG("blobstore %p: no memory for a channel of %" PRIu32 " requests\n",
			    io_device, ch->num_reqs);
		free(ch->reqs);
		spio_dma_free(ch->bounce);
		return -ENOMEM;
	}
	ch->dev_channel = bs->dev->create_channel(bs->dev);
	if (ch->dev_channel == NULL) {
		SPIO_ERRLOG("blobstore %p: the device gave no channel\n", io_device);
		free(ch->reqs);
		spio_dma_free(ch->bounce);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < ch->num_reqs; i++) {
		ch->reqs[i].ch = ch;
		TAILQ_INSERT_TAIL(&ch->free_reqs, &ch->reqs[i], link);
	}
	return 0;
}

static void bs_channel_destroy(void *io_device, void *ctx_buf)
{
	struct bs_channel *ch = ctx_buf;
	uint32_t free_count = 0;
	struct blob_io_req *req;

	TAILQ_FOREACH (req, &ch->free_reqs, link) {
		free_count++;
	}
	if (free_count != ch->num_reqs) {
		/* Their callbacks can never run: the requests live in this channel. */
		SPIO_ERRLOG("blobstore %p: channel released with %" PRIu32 " I/Os in flight\n",
			    io_device, ch->num_reqs - free_count);
	}
	ch->bs->dev->destroy_channel(ch->bs->dev, ch->dev_channel);
	free(ch->reqs);
	spio_dma_free(ch->bounce);
}

int bs_channels_register(struct spio_blob_store *bs)
{
	return spio_io_device_register(bs, bs_channel_create, bs_channel_destroy,
				       sizeof(struct bs_channel), "blobstore");
}

/*
 * The unregister callback gets only the io_device (the store), so the
 * caller's completion waits in this list, keyed by the store, meanwhile.
 */
struct unregister_ctx {
	LIST_ENTRY(unregister_ctx) link;
	struct spio_blob_store *bs;
	bs_io_cpl cb_fn;
	void *cb_arg;
};

static pthread_mutex_t g_unregister_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, unregister_ctx) g_unregistering = LIST_HEAD_INITIALIZER(g_unregistering);

static void channels_gone(void *io_device)
{
	struct unregister_ctx *ctx;

	pthread_mutex_lock(&g_unregister_lock);
	LIST_FOREACH (ctx, &g_unregistering, link) {
		if (ctx->bs == io_device) {
			LIST_REMOVE(ctx, link);
			break;
		}
	}
	pthread_mutex_unlock(&g_unregister_lock);
	if (ctx == NULL) {
		SPIO_ERRLOG("blobstore %p: channels gone, but nobody waits\n", io_device);
		return;
	}
	ctx->cb_fn(ctx->cb_arg, 0);
	free(ctx);
}

void bs_channels_unregister(struct spio_blob_store *bs, bs_io_cpl cb_fn, void *cb_arg)
{
	struct unregister_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (ctx == NULL) {
		if (bs_defer(bs, cb_fn, cb_arg, -ENOMEM) != 0) {
			cb_fn(cb_arg, -ENOMEM);
		}
		return;
	}
	ctx->bs = bs;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	pthread_mutex_lock(&g_unregister_lock);
	LIST_INSERT_HEAD(&g_unregistering, ctx, link);
	pthread_mutex_unlock(&g_unregister_lock);
	rc = spio_io_device_unregister(bs, channels_gone);
	if (rc != 0) {
		pthread_mutex_lock(&g_unregister_lock);
		LIST_REMOVE(ctx, link);
		pthread_mutex_unlock(&g_unregister_lock);
		free(ctx);
		SPIO_ERRLOG("blobstore %p: unregistering its channels failed: %d\n", (void *)bs,
			    rc);
		if (bs_defer(bs, cb_fn, cb_arg, rc) != 0) {
			cb_fn(cb_arg, rc);
		}
	}
}

struct spio_io_channel *spio_bs_alloc_io_channel(struct spio_blob_store *bs)
{
	struct spio_io_channel *channel;

	if (bs == NULL) {
		SPIO_ERRLOG("spio_bs_alloc_io_channel: NULL blobstore\n");
		return NULL;
	}
	channel = spio_get_io_channel(bs);
	if (channel == NULL) {
		SPIO_ERRLOG("blobstore %p: no channel for this thread: %s\n", (void *)bs,
			    strerror(errno));
		return NULL;
	}
	/* Any thread allocates, the md thread reads it at unload. */
	__atomic_fetch_add(&bs->num_channels, 1, __ATOMIC_RELAXED);
	return channel;
}

void spio_bs_free_io_channel(struct spio_io_channel *channel)
{
	struct spio_blob_store *bs;

	if (channel == NULL) {
		SPIO_ERRLOG("spio_bs_free_io_channel: NULL channel\n");
		return;
	}
	bs = spio_io_channel_get_io_device(channel);
	if (spio_put_io_channel(channel) == 0) {
		__atomic_fetch_sub(&bs->num_channels, 1, __ATOMIC_RELAXED);
	}
}
