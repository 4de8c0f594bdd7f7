/*
 * spdk-io histogram: a log-linear histogram of 64-bit values, made for I/O
 * latencies in ticks (differences of spio_get_ticks()).
 *
 * Buckets: every value below 64 has a bucket of its own; above that, each
 * power of two [2^e, 2^(e+1)) is split into 64 equal buckets, so a bucket is
 * at most 1/64 of its values wide. 59 ranges of 64 buckets (3776 in all)
 * cover every uint64_t value. The buckets live inside the structure: nothing
 * is ever allocated, and adding a sample is a few instructions.
 *
 * Exact beside the buckets: the number of samples, their sum (128 bits, so it
 * never wraps), the minimum and the maximum. Percentiles come from the
 * buckets, so they are within a bucket's width of the true value.
 *
 * Thread rules: no locks, no atomics, not thread-safe. Each thread keeps its
 * own histogram (one per I/O job, say) and only that thread writes it. Once a
 * writer has finished and something that orders memory has passed (a
 * message, a thread join), any thread may read it or merge it into another
 * with spio_histogram_merge(). Nothing here keeps a pointer after the call.
 */
#ifndef SPIO_HISTOGRAM_H
#define SPIO_HISTOGRAM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** log2 of the buckets per power of two. */
#define SPIO_HISTOGRAM_SUB_BITS 6
/** Buckets per power of two (and the values below it that have a bucket each). */
#define SPIO_HISTOGRAM_SUB_BUCKETS (1u << SPIO_HISTOGRAM_SUB_BITS)
/** Buckets in all: ranges for exponents SUB_BITS..63, plus the exact values below. */
#define SPIO_HISTOGRAM_NUM_BUCKETS ((64 - SPIO_HISTOGRAM_SUB_BITS + 1) * SPIO_HISTOGRAM_SUB_BUCKETS)

/**
 * A histogram; about 30 KiB, embed it or allocate it once. The fields are
 * internal: use the functions, which keep them consistent.
 */
struct spio_histogram {
	uint64_t count;
	uint64_t min; /* UINT64_MAX while empty */
	uint64_t max;
	uint64_t sum_lo; /* the sum of the samples: sum_hi * 2^64 + sum_lo */
	uint64_t sum_hi;
	uint64_t bucket[SPIO_HISTOGRAM_NUM_BUCKETS];
};

/**
 * Empty the histogram: no samples, every bucket 0. Call it once before the
 * first spio_histogram_add(); a zero-filled structure is not initialised.
 *
 * \param h the caller's histogram (any memory: nothing is allocated).
 * \return 0, or -EINVAL if `h` is NULL.
 * Any thread that owns `h`.
 */
int spio_histogram_init(struct spio_histogram *h);

/**
 * Empty an initialised histogram again, to reuse it for another run (the
 * same as spio_histogram_init(), named for the purpose).
 *
 * \return 0, or -EINVAL if `h` is NULL.
 * The thread that writes `h`.
 */
int spio_histogram_reset(struct spio_histogram *h);

/**
 * Bucket of `value`: 0 .. SPIO_HISTOGRAM_NUM_BUCKETS - 1, ascending with the
 * value. Below 64 the bucket is the value; above, the top 7 significant bits
 * pick it.
 */
static inline uint32_t spio_histogram_bucket_index(uint64_t value)
{
	uint32_t e;

	if (value < SPIO_HISTOGRAM_SUB_BUCKETS) {
		return (uint32_t)value;
	}
	e = 63u - (uint32_t)__builtin_clzll(value); /* >= SPIO_HISTOGRAM_SUB_BITS */
	return (e - SPIO_HISTOGRAM_SUB_BITS + 1) * SPIO_HISTOGRAM_SUB_BUCKETS +
	       (uint32_t)((value >> (e - SPIO_HISTOGRAM_SUB_BITS)) - SPIO_HISTOGRAM_SUB_BUCKETS);
}

/**
 * Record one sample (any value, e.g. a latency in ticks). Inline and
 * unchecked because it runs once per I/O: `h` must be initialised. The
 * counts are 64-bit; 2^64 samples are out of reach, so they are not checked.
 * The thread that writes `h`.
 */
static inline void spio_histogram_add(struct spio_histogram *h, uint64_t value)
{
	h->bucket[spio_histogram_bucket_index(value)]++;
	h->count++;
	h->sum_lo += value;
	h->sum_hi += h->sum_lo < value; /* carry */
	if (value < h->min) {
		h->min = value;
	}
	if (value > h->max) {
		h->max = value;
	}
}

/**
 * Add every sample of `src` to `dst` (the histogram of both sample sets).
 * `src` is not changed; `dst` == `src` doubles every count.
 *
 * \return 0; -EINVAL if either is NULL; -EOVERFLOW if the sample count
 *         would exceed UINT64_MAX (`dst` unchanged).
 * A thread that may read `src` and write `dst` (see the thread rules).
 */
int spio_histogram_merge(struct spio_histogram *dst, const struct spio_histogram *src);

/** Number of samples; 0 for NULL. */
uint64_t spio_histogram_count(const struct spio_histogram *h);

/** Smallest sample, exact; 0 when empty or NULL. */
uint64_t spio_histogram_min(const struct spio_histogram *h);

/** Largest sample, exact; 0 when empty or NULL. */
uint64_t spio_histogram_max(const struct spio_histogram *h);

/**
 * Mean of the samples: the exact sum divided by the count, rounded once to a
 * double; 0.0 when empty or NULL.
 */
double spio_histogram_mean(const struct spio_histogram *h);

/**
 * The value at or below which a share `fraction` of the samples lie (0.5:
 * the median, 0.999: p99.9).
 *
 * The sample of rank ceil(fraction * count) (at least 1) is found in the
 * buckets and reported as the middle of its bucket, clamped to the exact
 * minimum and maximum: exact below 64, otherwise within half a bucket
 * (1/128 of the value). Fraction 0 gives the smallest sample's bucket.
 *
 * \param fraction 0.0 .. 1.0.
 * \param value out: the percentile, in the samples' unit (a bucket middle may
 *        be x.5); untouched on error.
 * \return 0; -EINVAL if a pointer is NULL or `fraction` is not in 0..1 (NaN
 *         included); -ENODATA if the histogram is empty.
 */
int spio_histogram_percentile(const struct spio_histogram *h, double fraction, double *value);

/** What a latency report prints of a histogram of ticks, in microseconds. */
struct spio_histogram_summary {
	uint64_t count; /* samples */
	double mean_us;
	double min_us;
	double max_us;
	double p50_us;
	double p99_us;
	double p999_us; /* p99.9 */
};

/**
 * Summarise a histogram of latencies in ticks: each value v (the exact mean,
 * minimum and maximum, and the percentiles of spio_histogram_percentile())
 * is reported as v * 1e6 / ticks_hz microseconds.
 *
 * \param ticks_hz ticks per second (spio_get_ticks_hz() for spio_get_ticks() deltas).
 * \param summary out: filled in; an empty histogram gives count 0 and every
 *        value 0.0. Untouched on error.
 * \return 0, or -EINVAL if a pointer is NULL or `ticks_hz` is 0.
 */
int spio_histogram_summarize(const struct spio_histogram *h, uint64_t ticks_hz,
			     struct spio_histogram_summary *summary);

struct spio_json_write_ctx;

/**
 * Write a summary as six numbers into the JSON object being written, under
 * the names the spio tools' reports use: avg_lat_us, min_lat_us, max_lat_us,
 * p50_lat_us, p99_lat_us and p99_9_lat_us (in that order).
 *
 * \param w a write context (spio/json.h) inside an object.
 * \return 0; -EINVAL if a pointer is NULL; otherwise the first error of the
 *         writes (the context keeps it: spio_json_write_end() reports it too).
 * The thread that uses `w`.
 */
int spio_histogram_summary_write_json(struct spio_json_write_ctx *w,
				      const struct spio_histogram_summary *summary);

/**
 * Called by spio_histogram_foreach_bucket() for a non-empty bucket.
 *
 * \param first smallest value of the bucket.
 * \param last largest value of the bucket (inclusive: the last bucket ends at
 *        UINT64_MAX, so `last + 1` may wrap).
 * \param count samples in the bucket (> 0).
 * \return 0 to go on; anything else stops the walk and is returned by it.
 */
typedef int (*spio_histogram_bucket_fn)(void *ctx, uint64_t first, uint64_t last, uint64_t count);

/**
 * Call `fn` for every non-empty bucket, in ascending order of value. The
 * histogram must not change during the walk.
 *
 * \return 0 after the last bucket; -EINVAL if `h` or `fn` is NULL; otherwise
 *         the first non-zero value `fn` returned.
 */
int spio_histogram_foreach_bucket(const struct spio_histogram *h, spio_histogram_bucket_fn fn,
				  void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_HISTOGRAM_H */
