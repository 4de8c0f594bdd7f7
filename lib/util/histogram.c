/*
 * Log-linear histogram (see spio/histogram.h). Bucket i is in range
 * i / 64: range 0 holds the values 0..63 one each; range r >= 1 holds
 * [2^(r+5), 2^(r+6)) in 64 buckets of 2^(r-1) values each.
 */
#include <errno.h>
#include <string.h>

#include "spio/histogram.h"
#include "spio/json.h"

/* Smallest value of bucket `i`. */
static uint64_t bucket_first(uint32_t i)
{
	uint32_t range = i / SPIO_HISTOGRAM_SUB_BUCKETS, sub = i % SPIO_HISTOGRAM_SUB_BUCKETS;

	if (range == 0) {
		return sub;
	}
	return (uint64_t)(SPIO_HISTOGRAM_SUB_BUCKETS + sub) << (range - 1);
}

/* Largest value of bucket `i`: first + width - 1, which cannot wrap (the last ends at 2^64 - 1). */
static uint64_t bucket_last(uint32_t i)
{
	uint32_t range = i / SPIO_HISTOGRAM_SUB_BUCKETS;

	return bucket_first(i) + (range == 0 ? 0 : (1ull << (range - 1)) - 1);
}

int spio_histogram_init(struct spio_histogram *h)
{
	if (h == NULL) {
		return -EINVAL;
	}
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
	return 0;
}

int spio_histogram_reset(struct spio_histogram *h)
{
	return spio_histogram_init(h);
}

int spio_histogram_merge(struct spio_histogram *dst, const struct spio_histogram *src)
{
	uint64_t count, lo;
	uint32_t i;

	if (dst == NULL || src == NULL) {
		return -EINVAL;
	}
	/* no bucket can exceed the total, and the sum stays below count * 2^64 */
	if (__builtin_add_overflow(dst->count, src->count, &count)) {
		return -EOVERFLOW;
	}

	for (i = 0; i < SPIO_HISTOGRAM_NUM_BUCKETS; i++) {
		dst->bucket[i] += src->bucket[i];
	}
	lo = dst->sum_lo + src->sum_lo;
	dst->sum_hi += src->sum_hi + (lo < src->sum_lo);
	dst->sum_lo = lo;
	if (src->min < dst->min) {
		dst->min = src->min;
	}
	if (src->max > dst->max) {
		dst->max = src->max;
	}
	dst->count = count;
	return 0;
}

uint64_t spio_histogram_count(const struct spio_histogram *h)
{
	return h == NULL ? 0 : h->count;
}

uint64_t spio_histogram_min(const struct spio_histogram *h)
{
	return h == NULL || h->count == 0 ? 0 : h->min;
}

uint64_t spio_histogram_max(const struct spio_histogram *h)
{
	return h == NULL || h->count == 0 ? 0 : h->max;
}

double spio_histogram_mean(const struct spio_histogram *h)
{
	if (h == NULL || h->count == 0) {
		return 0.0;
	}
	return ((double)h->sum_hi * 18446744073709551616.0 + (double)h->sum_lo) / (double)h->count;
}

int spio_histogram_percentile(const struct spio_histogram *h, double fraction, double *value)
{
	uint64_t rank, seen = 0;
	double want, v;
	uint32_t i;

	/* the negated test also refuses NaN */
	if (h == NULL || value == NULL || !(fraction >= 0.0 && fraction <= 1.0)) {
		return -EINVAL;
	}
	if (h->count == 0) {
		return -ENODATA;
	}

	/* rank = ceil(fraction * count), at least 1; converting 2^64 to an integer is undefined */
	want = fraction * (double)h->count;
	if (want >= (double)h->count) {
		rank = h->count;
	} else {
		rank = (uint64_t)want;
		if ((double)rank < want || rank == 0) {
			rank++;
		}
	}

	for (i = 0; i < SPIO_HISTOGRAM_NUM_BUCKETS - 1; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			break;
		}
	}
	v = (double)bucket_first(i) + (double)(bucket_last(i) - bucket_first(i)) / 2;
	/* the bucket's middle may lie outside what was seen */
	if (v < (double)h->min) {
		v = (double)h->min;
	}
	if (v > (double)h->max) {
		v = (double)h->max;
	}
	*value = v;
	return 0;
}

static double ticks_us(double ticks, uint64_t ticks_hz)
{
	return ticks * 1e6 / (double)ticks_hz;
}

/* Percentile of a non-empty histogram, in us. */
static double percentile_us(const struct spio_histogram *h, double fraction, uint64_t ticks_hz)
{
	double v = 0;

	spio_histogram_percentile(h, fraction, &v);
	return ticks_us(v, ticks_hz);
}

int spio_histogram_summarize(const struct spio_histogram *h, uint64_t ticks_hz,
			     struct spio_histogram_summary *summary)
{
	if (h == NULL || summary == NULL || ticks_hz == 0) {
		return -EINVAL;
	}
	memset(summary, 0, sizeof(*summary));
	summary->count = h->count;
	if (h->count == 0) {
		return 0;
	}
	summary->mean_us = ticks_us(spio_histogram_mean(h), ticks_hz);
	summary->min_us = ticks_us((double)h->min, ticks_hz);
	summary->max_us = ticks_us((double)h->max, ticks_hz);
	summary->p50_us = percentile_us(h, 0.50, ticks_hz);
	summary->p99_us = percentile_us(h, 0.99, ticks_hz);
	summary->p999_us = percentile_us(h, 0.999, ticks_hz);
	return 0;
}

int spio_histogram_summary_write_json(struct spio_json_write_ctx *w,
				      const struct spio_histogram_summary *summary)
{
	if (w == NULL || summary == NULL) {
		return -EINVAL;
	}
	spio_json_write_named_double(w, "avg_lat_us", summary->mean_us);
	spio_json_write_named_double(w, "min_lat_us", summary->min_us);
	spio_json_write_named_double(w, "max_lat_us", summary->max_us);
	spio_json_write_named_double(w, "p50_lat_us", summary->p50_us);
	spio_json_write_named_double(w, "p99_lat_us", summary->p99_us);
	/* the context's error is sticky: the last call returns the first one */
	return spio_json_write_named_double(w, "p99_9_lat_us", summary->p999_us);
}

int spio_histogram_foreach_bucket(const struct spio_histogram *h, spio_histogram_bucket_fn fn,
				  void *ctx)
{
	uint32_t i;
	int rc;

	if (h == NULL || fn == NULL) {
		return -EINVAL;
	}
	for (i = 0; i < SPIO_HISTOGRAM_NUM_BUCKETS; i++) {
		if (h->bucket[i] == 0) {
			continue;
		}
		rc = fn(ctx, bucket_first(i), bucket_last(i), h->bucket[i]);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}
