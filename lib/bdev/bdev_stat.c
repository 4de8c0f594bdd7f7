/* Per-channel I/O statistics, gathered and reset across channels. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"

static void lat_record(uint64_t *sum, uint64_t *min, uint64_t *max, uint64_t ticks)
{
	*sum += ticks;
	/* min 0 means "no op yet" */
	if (*min == 0 || ticks < *min) {
		*min = ticks != 0 ? ticks : 1;
	}
	if (ticks > *max) {
		*max = ticks;
	}
}

void bdev_stat_record(struct spio_bdev_io_stat *s, struct spio_bdev_io *io, bool success,
		      uint64_t ticks)
{
	uint64_t bytes = io->u.num_blocks * io->bdev->blocklen;

	if (!success) {
		s->num_io_errors++;
		if (io->internal.status == SPIO_BDEV_IO_STATUS_MISCOMPARE) {
			s->num_miscompare_errors++;
		}
		if (io->type < SPIO_BDEV_NUM_IO_TYPES) {
			s->io_errors_by_type[io->type]++;
		}
		return;
	}
	switch (io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
		s->num_read_ops++;
		s->bytes_read += bytes;
		lat_record(&s->read_latency_ticks, &s->min_read_latency_ticks,
			   &s->max_read_latency_ticks, ticks);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE:
		s->num_write_ops++;
		s->bytes_written += bytes;
		lat_record(&s->write_latency_ticks, &s->min_write_latency_ticks,
			   &s->max_write_latency_ticks, ticks);
		break;
	case SPIO_BDEV_IO_TYPE_UNMAP:
		s->num_unmap_ops++;
		s->bytes_unmapped += bytes;
		lat_record(&s->unmap_latency_ticks, &s->min_unmap_latency_ticks,
			   &s->max_unmap_latency_ticks, ticks);
		break;
	default:
		s->num_other_ops++;
		break;
	}
}

static void min_merge(uint64_t *to, uint64_t from)
{
	if (from != 0 && (*to == 0 || from < *to)) {
		*to = from;
	}
}

void bdev_stat_add(struct spio_bdev_io_stat *to, const struct spio_bdev_io_stat *from)
{
	to->bytes_read += from->bytes_read;
	to->num_read_ops += from->num_read_ops;
	to->bytes_written += from->bytes_written;
	to->num_write_ops += from->num_write_ops;
	to->bytes_unmapped += from->bytes_unmapped;
	to->num_unmap_ops += from->num_unmap_ops;
	to->num_other_ops += from->num_other_ops;
	to->read_latency_ticks += from->read_latency_ticks;
	min_merge(&to->min_read_latency_ticks, from->min_read_latency_ticks);
	to->max_read_latency_ticks =
	    SPIO_MAX(to->max_read_latency_ticks, from->max_read_latency_ticks);
	to->write_latency_ticks += from->write_latency_ticks;
	min_merge(&to->min_write_latency_ticks, from->min_write_latency_ticks);
	to->max_write_latency_ticks =
	    SPIO_MAX(to->max_write_latency_ticks, from->max_write_latency_ticks);
	to->unmap_latency_ticks += from->unmap_latency_ticks;
	min_merge(&to->min_unmap_latency_ticks, from->min_unmap_latency_ticks);
	to->max_unmap_latency_ticks =
	    SPIO_MAX(to->max_unmap_latency_ticks, from->max_unmap_latency_ticks);
	to->num_io_errors += from->num_io_errors;
	to->num_miscompare_errors += from->num_miscompare_errors;
	for (int t = 0; t < SPIO_BDEV_NUM_IO_TYPES; t++) {
		to->io_errors_by_type[t] += from->io_errors_by_type[t];
	}
}

static bool reset_mode_valid(enum spio_bdev_reset_stat_mode mode)
{
	return mode == SPIO_BDEV_RESET_STAT_NONE || mode == SPIO_BDEV_RESET_STAT_ALL ||
	       mode == SPIO_BDEV_RESET_STAT_MAXMIN || mode == SPIO_BDEV_RESET_STAT_ERROR;
}

static void stat_reset(struct spio_bdev_io_stat *s, enum spio_bdev_reset_stat_mode mode)
{
	switch (mode) {
	case SPIO_BDEV_RESET_STAT_ALL:
		memset(s, 0, sizeof(*s));
		break;
	case SPIO_BDEV_RESET_STAT_MAXMIN:
		s->min_read_latency_ticks = s->max_read_latency_ticks = 0;
		s->min_write_latency_ticks = s->max_write_latency_ticks = 0;
		s->min_unmap_latency_ticks = s->max_unmap_latency_ticks = 0;
		break;
	case SPIO_BDEV_RESET_STAT_ERROR:
		s->num_io_errors = 0;
		s->num_miscompare_errors = 0;
		memset(s->io_errors_by_type, 0, sizeof(s->io_errors_by_type));
		break;
	case SPIO_BDEV_RESET_STAT_NONE:
		break;
	}
}

struct stat_ctx {
	struct spio_bdev *bdev;
	struct spio_bdev_io_stat *stat;
	enum spio_bdev_reset_stat_mode mode;
	spio_bdev_get_device_stat_cb get_cb;
	spio_bdev_reset_device_stat_cb reset_cb;
	spio_bdev_channel_stat_fn channel_fn;
	spio_bdev_channel_stats_done_fn channel_done;
	void *cb_arg;
};

static struct stat_ctx *stat_ctx_new(struct spio_bdev *bdev, enum spio_bdev_reset_stat_mode mode,
				     void *cb_arg)
{
	struct stat_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx != NULL) {
		ctx->bdev = bdev;
		ctx->mode = mode;
		ctx->cb_arg = cb_arg;
	}
	return ctx;
}

static struct spio_bdev_channel *iter_channel(struct spio_io_channel_iter *iter)
{
	return spio_io_channel_get_ctx(spio_io_channel_iter_get_channel(iter));
}

/* Add the statistics of closed channels (then reset them) under the manager's lock. */
static void stat_closed_take(struct stat_ctx *ctx, struct spio_bdev_io_stat *into)
{
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (into != NULL) {
		bdev_stat_add(into, &ctx->bdev->internal.stat_closed);
	}
	stat_reset(&ctx->bdev->internal.stat_closed, ctx->mode);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
}

static void stat_get_visit(struct spio_io_channel_iter *iter)
{
	struct stat_ctx *ctx = spio_io_channel_iter_get_ctx(iter);
	struct spio_bdev_channel *ch = iter_channel(iter);

	bdev_stat_add(ctx->stat, &ch->stat);
	stat_reset(&ch->stat, ctx->mode);
	spio_for_each_channel_continue(iter, 0);
}

static void stat_get_done(struct spio_io_channel_iter *iter, int status)
{
	struct stat_ctx *ctx = spio_io_channel_iter_get_ctx(iter);

	ctx->get_cb(ctx->bdev, ctx->stat, ctx->cb_arg, status);
	free(ctx);
}

int spio_bdev_get_device_stat(struct spio_bdev *bdev, struct spio_bdev_io_stat *stat,
			      enum spio_bdev_reset_stat_mode reset_mode,
			      spio_bdev_get_device_stat_cb cb, void *cb_arg)
{
	struct stat_ctx *ctx;
	int rc;

	if (bdev == NULL || stat == NULL || cb == NULL || !reset_mode_valid(reset_mode) ||
	    spio_get_thread() == NULL) {
		return -EINVAL;
	}
	ctx = stat_ctx_new(bdev, reset_mode, cb_arg);
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->stat = stat;
	ctx->get_cb = cb;
	memset(stat, 0, sizeof(*stat));
	stat_closed_take(ctx, stat);
	rc = spio_for_each_channel(bdev, stat_get_visit, ctx, stat_get_done);
	if (rc != 0) {
		free(ctx);
	}
	return rc;
}

static void stat_channel_visit(struct spio_io_channel_iter *iter)
{
	struct stat_ctx *ctx = spio_io_channel_iter_get_ctx(iter);
	struct spio_bdev_channel *ch = iter_channel(iter);

	ctx->channel_fn(ctx->bdev, spio_thread_get_id(spio_get_thread()), &ch->stat, ctx->cb_arg);
	stat_reset(&ch->stat, ctx->mode);
	spio_for_each_channel_continue(iter, 0);
}

static void stat_channel_done(struct spio_io_channel_iter *iter, int status)
{
	struct stat_ctx *ctx = spio_io_channel_iter_get_ctx(iter);

	ctx->channel_done(ctx->bdev, ctx->cb_arg, status);
	free(ctx);
}

int spio_bdev_get_channel_stats(struct spio_bdev *bdev, enum spio_bdev_reset_stat_mode reset_mode,
				spio_bdev_channel_stat_fn fn, spio_bdev_channel_stats_done_fn done,
				void *cb_arg)
{
	struct stat_ctx *ctx;
	int rc;

	if (bdev == NULL || fn == NULL || done == NULL || !reset_mode_valid(reset_mode) ||
	    spio_get_thread() == NULL) {
		return -EINVAL;
	}
	ctx = stat_ctx_new(bdev, reset_mode, cb_arg);
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->channel_fn = fn;
	ctx->channel_done = done;
	rc = spio_for_each_channel(bdev, stat_channel_visit, ctx, stat_channel_done);
	if (rc != 0) {
		free(ctx);
	}
	return rc;
}

static void stat_reset_visit(struct spio_io_channel_iter *iter)
{
	struct stat_ctx *ctx = spio_io_channel_iter_get_ctx(iter);

	stat_reset(&iter_channel(iter)->stat, ctx->mode);
	spio_for_each_channel_continue(iter, 0);
}

static void stat_reset_done(struct spio_io_channel_iter *iter, int status)
{
	struct stat_ctx *ctx = spio_io_channel_iter_get_ctx(iter);

	if (ctx->reset_cb != NULL) {
		ctx->reset_cb(ctx->bdev, ctx->cb_arg, status);
	}
	free(ctx);
}

int spio_bdev_reset_device_stat(struct spio_bdev *bdev, enum spio_bdev_reset_stat_mode mode,
				spio_bdev_reset_device_stat_cb cb, void *cb_arg)
{
	struct stat_ctx *ctx;
	int rc;

	if (bdev == NULL || !reset_mode_valid(mode) || spio_get_thread() == NULL) {
		return -EINVAL;
	}
	ctx = stat_ctx_new(bdev, mode, cb_arg);
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->reset_cb = cb;
	stat_closed_take(ctx, NULL);
	rc = spio_for_each_channel(bdev, stat_reset_visit, ctx, stat_reset_done);
	if (rc != 0) {
		free(ctx);
	}
	return rc;
}
