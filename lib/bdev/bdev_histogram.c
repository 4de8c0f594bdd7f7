/*
 * Latency histograms per bdev (SPDK's bdev_enable_histogram and
 * bdev_get_histogram), in SPDK's bucket layout so that its tools read ours.
 *
 * spio/histogram.h is the same log-linear scheme with 2^6 buckets per power
 * of two over the whole 64-bit range: SPDK's granularity 6 with no range
 * cut. SPDK's default is granularity 7 and its RPC cuts the ranges below
 * 1 us and above 120 s, so the bdev keeps SPDK's geometry (any granularity,
 * min_range .. max_range) here instead.
 *
 * Each channel counts into its own buckets on its thread (no atomics);
 * reading merges them on each channel's thread. Counts of released channels
 * are added to a per-bdev histogram, so closing a channel loses nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spio/json.h"
#include "spio/log.h"

struct bdev_histogram {
	struct spio_bdev_histogram_data d;
	enum spio_bdev_io_type io_type; /* INVALID: every type */
	uint32_t generation;		/* of the settings it was made for */
	uint64_t bucket[];
};

/* A bdev's settings; under g_bdev_mgr.lock. */
struct bdev_hist_cfg {
	struct spio_bdev *bdev;
	bool enabled;
	bool busy; /* a change is in progress */
	enum spio_bdev_io_type io_type;
	uint32_t granularity;
	uint32_t min_range;
	uint32_t max_range;
	/* the settings as given, to tell a repeated enable from a new one */
	uint64_t min_nsec;
	uint64_t max_nsec;
	/* bumped when the counts restart: channels with another one start over */
	uint32_t generation;
	/* counts of the channels released since */
	struct bdev_histogram *closed;
};

/* SPDK's range of a value: 0 below 2^g, else one per power of two above. */
static uint32_t hist_range(uint32_t granularity, uint64_t v)
{
	uint32_t lsb = 64 - granularity;
	uint32_t clz = v != 0 ? (uint32_t)__builtin_clzll(v) : 64;

	return clz <= lsb ? lsb - clz : 0;
}

void bdev_histogram_tally(struct bdev_histogram *h, const struct spio_bdev_io *io, uint64_t ticks)
{
	uint32_t g = h->d.granularity, range, index;

	if (h->io_type != SPIO_BDEV_IO_TYPE_INVALID && h->io_type != io->type) {
		return;
	}
	range = hist_range(g, ticks);
	if (range < h->d.min_range) {
		range = h->d.min_range;
		index = 0;
	} else if (range > h->d.max_range) {
		range = h->d.max_range;
		index = (1u << g) - 1;
	} else {
		/* within a range, the g bits below the leading one pick the bucket */
		index = (uint32_t)(ticks >> (range != 0 ? range - 1 : 0)) & ((1u << g) - 1);
	}
	h->bucket[((uint64_t)(range - h->d.min_range) << g) + index]++;
}

int spio_bdev_histogram_bucket_bounds(const struct spio_bdev_histogram_data *data, uint64_t index,
				      uint64_t *first, uint64_t *last)
{
	uint32_t g, range;
	uint64_t sub, width, start;

	if (data == NULL || first == NULL || last == NULL || index >= data->num_buckets) {
		return -EINVAL;
	}
	g = data->granularity;
	range = data->min_range + (uint32_t)(index >> g);
	sub = index & ((1ull << g) - 1);
	if (range == 0) {
		*first = *last = sub;
		return 0;
	}
	width = 1ull << (range - 1);
	start = (1ull << (range + g - 1)) + sub * width;
	*first = start;
	*last = start + (width - 1); /* the last bucket ends at UINT64_MAX exactly */
	return 0;
}

/* Caller holds g_bdev_mgr.lock. */
static struct bdev_hist_cfg *cfg_find(const struct spio_bdev *bdev)
{
	return bdev->internal.hist;
}

/* Empty buckets for the settings of `c`; caller holds g_bdev_mgr.lock. */
static struct bdev_histogram *hist_new(const struct bdev_hist_cfg *c)
{
	uint64_t n = (uint64_t)(c->max_range - c->min_range + 1) << c->granularity;
	struct bdev_histogram *h = calloc(1, sizeof(*h) + n * sizeof(uint64_t));

	if (h == NULL) {
		return NULL;
	}
	h->d.granularity = c->granularity;
	h->d.min_range = c->min_range;
	h->d.max_range = c->max_range;
	h->d.num_buckets = n;
	h->d.bucket = h->bucket;
	h->io_type = c->io_type;
	h->generation = c->generation;
	return h;
}

static void hist_add(struct bdev_histogram *to, const struct bdev_histogram *from)
{
	for (uint64_t i = 0; i < to->d.num_buckets; i++) {
		to->bucket[i] += from->bucket[i];
	}
}

/* Caller holds g_bdev_mgr.lock: does `h` count for the current settings? */
static bool hist_current(const struct bdev_hist_cfg *c, const struct bdev_histogram *h)
{
	return c != NULL && c->enabled && h != NULL && h->generation == c->generation;
}

void bdev_histogram_channel_create(struct spio_bdev_channel *ch)
{
	struct bdev_hist_cfg *c;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	c = cfg_find(ch->bdev);
	if (c != NULL && c->enabled) {
		ch->hist = hist_new(c);
		if (ch->hist == NULL) {
			SPIO_ERRLOG("bdev %s: no memory for a channel's histogram: its I/O is "
				    "not counted",
				    ch->bdev->name);
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
}

void bdev_histogram_channel_destroy(struct spio_bdev_channel *ch)
{
	struct bdev_hist_cfg *c;

	if (ch->hist == NULL) {
		return;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	c = cfg_find(ch->bdev);
	if (hist_current(c, ch->hist)) {
		if (c->closed == NULL) {
			c->closed = ch->hist; /* the first one is kept as it is */
			ch->hist = NULL;
		} else {
			hist_add(c->closed, ch->hist);
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	free(ch->hist);
	ch->hist = NULL;
}

void bdev_histogram_bdev_gone(struct spio_bdev *bdev)
{
	struct bdev_hist_cfg *c;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	c = bdev->internal.hist;
	bdev->internal.hist = NULL;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (c != NULL) {
		free(c->closed);
		free(c);
	}
}

bool spio_bdev_histogram_is_enabled(struct spio_bdev *bdev)
{
	struct bdev_hist_cfg *c;
	bool on;

	if (bdev == NULL) {
		return false;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	c = cfg_find(bdev);
	on = c != NULL && c->enabled;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return on;
}

/*
 * Enable / disable
 */

struct hist_enable_ctx {
	struct bdev_hist_cfg *c;
	spio_bdev_histogram_status_cb cb;
	void *cb_arg;
	int status; /* the failure being undone */
};

static struct spio_bdev_channel *iter_bdev_channel(struct spio_io_channel_iter *iter)
{
	return spio_io_channel_get_ctx(spio_io_channel_iter_get_channel(iter));
}

/* On the channel's thread: make its buckets match the settings. */
static int hist_channel_sync(struct spio_bdev_channel *ch, struct bdev_hist_cfg *c)
{
	struct bdev_histogram *fresh = NULL;
	bool want, keep;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	want = c->enabled;
	keep = hist_current(c, ch->hist);
	if (want && !keep) {
		fresh = hist_new(c);
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (keep) {
		return 0;
	}
	free(ch->hist);
	ch->hist = fresh;
	return want && fresh == NULL ? -ENOMEM : 0;
}

static void hist_enable_visit(struct spio_io_channel_iter *iter)
{
	struct hist_enable_ctx *ctx = spio_io_channel_iter_get_ctx(iter);

	spio_for_each_channel_continue(iter, hist_channel_sync(iter_bdev_channel(iter), ctx->c));
}

static void hist_enable_done(struct spio_io_channel_iter *iter, int status)
{
	struct hist_enable_ctx *ctx = spio_io_channel_iter_get_ctx(iter);
	struct spio_bdev *bdev = spio_io_channel_iter_get_io_device(iter);

	if (status != 0 && ctx->status == 0) {
		/* as SPDK: a channel without buckets turns the histogram off again */
		SPIO_ERRLOG("bdev %s: histogram not enabled: %s", bdev->name, strerror(-status));
		ctx->status = status;
		pthread_mutex_lock(&g_bdev_mgr.lock);
		ctx->c->enabled = false;
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		if (spio_for_each_channel(bdev, hist_enable_visit, ctx, hist_enable_done) == 0) {
			return;
		}
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	ctx->c->busy = false;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	ctx->cb(ctx->cb_arg, ctx->status);
	free(ctx);
}

void spio_bdev_histogram_opts_init(struct spio_bdev_histogram_opts *opts, size_t opts_size)
{
	struct spio_bdev_histogram_opts d = {
	    .opts_size = opts_size,
	    .io_type = SPIO_BDEV_IO_TYPE_INVALID,
	    .granularity = SPIO_BDEV_HISTOGRAM_GRANULARITY_DEFAULT,
	    .min_nsec = 0,
	    .max_nsec = UINT64_MAX,
	};

	if (opts == NULL) {
		return;
	}
	memcpy(opts, &d, SPIO_MIN(opts_size, sizeof(d)));
}

/* ns to ticks, saturating (the product may not fit 64 bits). */
static uint64_t ns_to_ticks(uint64_t ns)
{
	unsigned __int128 t = (unsigned __int128)ns * spio_get_ticks_hz() / 1000000000u;

	return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

int spio_bdev_histogram_enable(struct spio_bdev *bdev, bool enable,
			       const struct spio_bdev_histogram_opts *opts,
			       spio_bdev_histogram_status_cb cb, void *cb_arg)
{
	struct spio_bdev_histogram_opts o;
	struct hist_enable_ctx *ctx;
	struct bdev_hist_cfg *c, *fresh;
	uint64_t min_val, max_val;
	int rc;

	if (bdev == NULL || cb == NULL || spio_get_thread() == NULL) {
		return -EINVAL;
	}
	spio_bdev_histogram_opts_init(&o, sizeof(o));
	if (enable && opts != NULL) {
		if (opts->opts_size == 0) {
			return -EINVAL;
		}
		/* fields beyond the caller's opts_size keep the defaults */
		memcpy(&o, opts, SPIO_MIN(opts->opts_size, sizeof(o)));
	}
	if (o.granularity < 1 || o.granularity > SPIO_BDEV_HISTOGRAM_GRANULARITY_MAX ||
	    (unsigned)o.io_type >= SPIO_BDEV_NUM_IO_TYPES || o.min_nsec >= o.max_nsec) {
		return -EINVAL;
	}
	min_val = ns_to_ticks(o.min_nsec);
	max_val = o.max_nsec == UINT64_MAX ? UINT64_MAX : ns_to_ticks(o.max_nsec);
	if (min_val >= max_val) {
		return -EINVAL; /* a range shorter than a tick */
	}

	ctx = calloc(1, sizeof(*ctx));
	fresh = calloc(1, sizeof(*fresh));
	if (ctx == NULL || fresh == NULL) {
		free(ctx);
		free(fresh);
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bdev->internal.status != SPIO_BDEV_STATUS_READY) {
		rc = -ENODEV;
		goto unlock;
	}
	c = cfg_find(bdev);
	if (c == NULL) {
		c = fresh;
		fresh = NULL;
		c->bdev = bdev;
		bdev->internal.hist = c;
	}
	if (c->busy) {
		rc = -EAGAIN;
		goto unlock;
	}
	if (!enable || !c->enabled || c->io_type != o.io_type || c->granularity != o.granularity ||
	    c->min_nsec != o.min_nsec || c->max_nsec != o.max_nsec) {
		/* off, or new settings: the counts start again */
		c->generation++;
		free(c->closed);
		c->closed = NULL;
	}
	c->enabled = enable;
	c->io_type = o.io_type;
	c->granularity = o.granularity;
	c->min_nsec = o.min_nsec;
	c->max_nsec = o.max_nsec;
	c->min_range = hist_range(o.granularity, min_val);
	c->max_range = hist_range(o.granularity, max_val - 1);
	c->busy = true;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	free(fresh);

	ctx->c = c;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	rc = spio_for_each_channel(bdev, hist_enable_visit, ctx, hist_enable_done);
	if (rc != 0) {
		/* channels may keep stale buckets: they are not counted (generation) */
		pthread_mutex_lock(&g_bdev_mgr.lock);
		c->enabled = false;
		c->generation++;
		c->busy = false;
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(ctx);
	}
	return rc;

unlock:
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	free(ctx);
	free(fresh);
	return rc;
}

/*
 * Reading
 */

struct hist_get_ctx {
	struct bdev_hist_cfg *c;
	struct bdev_histogram *sum;
	spio_bdev_histogram_data_cb cb;
	void *cb_arg;
};

static void hist_get_visit(struct spio_io_channel_iter *iter)
{
	struct hist_get_ctx *ctx = spio_io_channel_iter_get_ctx(iter);
	struct spio_bdev_channel *ch = iter_bdev_channel(iter);
	int rc = 0;

	if (ctx->sum != NULL) {
		/* a channel made while the settings changed may hold old buckets */
		rc = hist_channel_sync(ch, ctx->c);
		if (ch->hist != NULL && ch->hist->generation == ctx->sum->generation) {
			hist_add(ctx->sum, ch->hist);
		}
	}
	spio_for_each_channel_continue(iter, rc);
}

static void hist_get_done(struct spio_io_channel_iter *iter, int status)
{
	struct hist_get_ctx *ctx = spio_io_channel_iter_get_ctx(iter);

	if (ctx->sum == NULL) {
		status = -EFAULT; /* SPDK's answer for a histogram that is off */
	}
	ctx->cb(ctx->cb_arg, status, status == 0 ? &ctx->sum->d : NULL);
	free(ctx->sum);
	free(ctx);
}

int spio_bdev_histogram_get(struct spio_bdev *bdev, spio_bdev_histogram_data_cb cb, void *cb_arg)
{
	struct hist_get_ctx *ctx;
	struct bdev_hist_cfg *c;
	int rc;

	if (bdev == NULL || cb == NULL || spio_get_thread() == NULL) {
		return -EINVAL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	pthread_mutex_lock(&g_bdev_mgr.lock);
	c = cfg_find(bdev);
	if (c != NULL && c->enabled) {
		ctx->c = c;
		ctx->sum = hist_new(c);
		if (ctx->sum == NULL) {
			pthread_mutex_unlock(&g_bdev_mgr.lock);
			free(ctx);
			return -ENOMEM;
		}
		if (c->closed != NULL && c->closed->generation == c->generation) {
			hist_add(ctx->sum, c->closed);
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	/* also when off: the answer comes after the call, as always */
	rc = spio_for_each_channel(bdev, hist_get_visit, ctx, hist_get_done);
	if (rc != 0) {
		free(ctx->sum);
		free(ctx);
	}
	return rc;
}

/* SPDK's io type names for the settings' io_type (bdev_enable_histogram's opc). */
static const char *const g_opc_names[SPIO_BDEV_NUM_IO_TYPES] = {
    [SPIO_BDEV_IO_TYPE_READ] = "read",
    [SPIO_BDEV_IO_TYPE_WRITE] = "write",
    [SPIO_BDEV_IO_TYPE_UNMAP] = "unmap",
    [SPIO_BDEV_IO_TYPE_FLUSH] = "flush",
    [SPIO_BDEV_IO_TYPE_RESET] = "reset",
    [SPIO_BDEV_IO_TYPE_WRITE_ZEROES] = "write_zeroes",
    [SPIO_BDEV_IO_TYPE_COMPARE] = "compare",
    [SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE] = "compare_and_write",
};

/* The bdev's histogram setting as it is now (zeroed: never set). */
static struct bdev_hist_cfg cfg_snapshot(struct spio_bdev *bdev)
{
	struct bdev_hist_cfg *c, copy = {0};

	pthread_mutex_lock(&g_bdev_mgr.lock);
	c = cfg_find(bdev);
	if (c != NULL) {
		copy = *c;
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return copy;
}

void bdev_histogram_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	struct bdev_hist_cfg c = cfg_snapshot(bdev);

	if (!c.enabled) {
		return;
	}
	/* SPDK's entry: name, enable and opc (its granularity and range are not saved) */
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_enable_histogram");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_string(w, "name", bdev->name);
	spio_json_write_named_bool(w, "enable", true);
	if (c.io_type != SPIO_BDEV_IO_TYPE_INVALID) {
		spio_json_write_named_string(w, "opc", g_opc_names[c.io_type]);
	}
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

void bdev_histogram_write_info_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	struct bdev_hist_cfg copy = cfg_snapshot(bdev);

	/* SPDK's bdev_get_bdevs has no histogram state; this key is spio's */
	spio_json_write_named_object_begin(w, "spio_histogram");
	spio_json_write_named_bool(w, "enabled", copy.enabled);
	if (copy.enabled) {
		spio_json_write_named_string(
		    w, "opc",
		    copy.io_type != SPIO_BDEV_IO_TYPE_INVALID ? g_opc_names[copy.io_type] : "all");
		spio_json_write_named_uint32(w, "granularity", copy.granularity);
		spio_json_write_named_uint32(w, "min_range", copy.min_range);
		spio_json_write_named_uint32(w, "max_range", copy.max_range);
	}
	spio_json_write_object_end(w);
}
