/*
 * Log-linear histogram: bucket boundaries over the whole 64-bit range,
 * percentiles of known distributions, merge, the empty histogram, values
 * near UINT64_MAX (the sum carries, nothing wraps), the report summary in
 * microseconds and its JSON, and bad arguments.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "spio/histogram.h"
#include "spio/json.h"

/* `expr` (an int or uint64_t) equals `want`; the message names the call. */
#define EXPECT_EQ(expr, want)                                                                 \
	do {                                                                                  \
		long long got_ = (long long)(expr), want_ = (long long)(want);                \
		cr_assert_eq(got_, want_, "%s: expected %lld, got %lld", #expr, want_, got_); \
	} while (0)

/* On the heap: 30 KiB each, too big to scatter over a test's stack. */
static struct spio_histogram *new_hist(void)
{
	struct spio_histogram *h = malloc(sizeof(*h));

	cr_assert_not_null(h, "out of memory");
	cr_assert_eq(spio_histogram_init(h), 0, "init: expected 0");
	return h;
}

struct bucket {
	uint64_t first, last, count;
};

struct walk {
	struct bucket b[SPIO_HISTOGRAM_NUM_BUCKETS];
	uint32_t n;
	uint32_t stop_after; /* 0: never */
};

static int collect(void *ctx, uint64_t first, uint64_t last, uint64_t count)
{
	struct walk *w = ctx;

	cr_assert_lt(w->n, SPIO_HISTOGRAM_NUM_BUCKETS, "more buckets than exist");
	w->b[w->n++] = (struct bucket){first, last, count};
	return w->stop_after != 0 && w->n == w->stop_after ? 42 : 0;
}

static struct walk *walk(const struct spio_histogram *h)
{
	struct walk *w = calloc(1, sizeof(*w));
	int rc;

	cr_assert_not_null(w, "out of memory");
	rc = spio_histogram_foreach_bucket(h, collect, w);
	cr_assert_eq(rc, 0, "foreach_bucket: expected 0, got %d", rc);
	return w;
}

/* The one bucket holding `v` spans [first, last]. */
static void expect_bucket(uint64_t v, uint64_t first, uint64_t last)
{
	struct spio_histogram *h = new_hist();
	struct walk *w;

	spio_histogram_add(h, v);
	w = walk(h);
	cr_assert_eq(w->n, 1, "value %" PRIu64 ": expected 1 non-empty bucket, got %u", v, w->n);
	cr_assert(w->b[0].first == first && w->b[0].last == last && w->b[0].count == 1,
		  "value %" PRIu64 ": expected bucket [%" PRIu64 ", %" PRIu64 "] x1, got [%" PRIu64
		  ", %" PRIu64 "] x%" PRIu64,
		  v, first, last, w->b[0].first, w->b[0].last, w->b[0].count);
	free(w);
	free(h);
}

static void expect_pct(const struct spio_histogram *h, double fraction, double want)
{
	double v = -1;
	int rc = spio_histogram_percentile(h, fraction, &v);

	cr_assert_eq(rc, 0, "percentile(%g): expected 0, got %d", fraction, rc);
	cr_assert(v == want, "percentile(%g): expected %.17g, got %.17g", fraction, want, v);
}

static void expect_pct_err(const struct spio_histogram *h, double fraction, int want_rc)
{
	double v = -1;
	int rc = spio_histogram_percentile(h, fraction, &v);

	cr_assert_eq(rc, want_rc, "percentile(%g): expected %d, got %d", fraction, want_rc, rc);
	cr_assert(v == -1, "percentile(%g) failed but wrote %g", fraction, v);
}

Test(histogram, bucket_boundaries_spot)
{
	static const struct {
		uint64_t value, first, last;
	} cases[] = {
	    {0, 0, 0},
	    {1, 1, 1},
	    {63, 63, 63},
	    /* 64..127: 64 buckets of one value each */
	    {64, 64, 64},
	    {127, 127, 127},
	    /* 128..255: 64 buckets of two */
	    {128, 128, 129},
	    {129, 128, 129},
	    {130, 130, 131},
	    {255, 254, 255},
	    {256, 256, 259},
	    {1000, 1000, 1007},
	    {1007, 1000, 1007},
	    {1008, 1008, 1015},
	    {1ull << 63, 1ull << 63, (1ull << 63) + (1ull << 57) - 1},
	    {UINT64_MAX - 1, 127ull << 57, UINT64_MAX},
	    {UINT64_MAX, 127ull << 57, UINT64_MAX},
	};
	uint32_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_bucket(cases[i].value, cases[i].first, cases[i].last);
	}
}

/*
 * Every bucket, from the definition: values below 64 alone, then each
 * [2^e, 2^(e+1)) in 64 buckets of 2^(e-6). Each bucket gets its first and
 * last value; an off-by-one anywhere moves a sample into a neighbour.
 */
Test(histogram, bucket_boundaries_all)
{
	struct spio_histogram *h = new_hist();
	struct bucket *want = calloc(SPIO_HISTOGRAM_NUM_BUCKETS, sizeof(*want));
	struct walk *w;
	uint32_t n = 0, i, e, sub;

	cr_assert_not_null(want);
	for (i = 0; i < 64; i++) {
		want[n++] = (struct bucket){i, i, 2};
	}
	for (e = 6; e < 64; e++) {
		uint64_t width = 1ull << (e - 6);

		for (sub = 0; sub < 64; sub++) {
			uint64_t first = (1ull << e) + sub * width;

			want[n++] = (struct bucket){first, first + width - 1, 2};
		}
	}
	cr_assert_eq(n, SPIO_HISTOGRAM_NUM_BUCKETS, "expected %u buckets by definition, got %u",
		     SPIO_HISTOGRAM_NUM_BUCKETS, n);
	cr_assert_eq(want[n - 1].last, UINT64_MAX, "the last bucket must end at UINT64_MAX");
	for (i = 0; i < n; i++) {
		spio_histogram_add(h, want[i].first);
		spio_histogram_add(h, want[i].last);
		cr_assert_eq(spio_histogram_bucket_index(want[i].first), i,
			     "index of %" PRIu64 ": expected %u, got %u", want[i].first, i,
			     spio_histogram_bucket_index(want[i].first));
		cr_assert_eq(spio_histogram_bucket_index(want[i].last), i,
			     "index of %" PRIu64 ": expected %u, got %u", want[i].last, i,
			     spio_histogram_bucket_index(want[i].last));
	}
	w = walk(h);
	cr_assert_eq(w->n, n, "expected %u non-empty buckets, got %u", n, w->n);
	for (i = 0; i < n; i++) {
		cr_assert(memcmp(&w->b[i], &want[i], sizeof(want[i])) == 0,
			  "bucket %u: expected [%" PRIu64 ", %" PRIu64 "] x%" PRIu64
			  ", got [%" PRIu64 ", %" PRIu64 "] x%" PRIu64,
			  i, want[i].first, want[i].last, want[i].count, w->b[i].first,
			  w->b[i].last, w->b[i].count);
	}
	cr_assert_eq(spio_histogram_count(h), 2ull * n, "expected %u samples, got %" PRIu64, 2 * n,
		     spio_histogram_count(h));
	free(w);
	free(want);
	free(h);
}

Test(histogram, empty)
{
	struct spio_histogram *h = new_hist();
	struct walk *w;

	cr_assert_eq(spio_histogram_count(h), 0, "empty: count %" PRIu64, spio_histogram_count(h));
	cr_assert_eq(spio_histogram_min(h), 0, "empty: min %" PRIu64, spio_histogram_min(h));
	cr_assert_eq(spio_histogram_max(h), 0, "empty: max %" PRIu64, spio_histogram_max(h));
	cr_assert(spio_histogram_mean(h) == 0.0, "empty: mean %g", spio_histogram_mean(h));
	expect_pct_err(h, 0.5, -ENODATA);
	expect_pct_err(h, 0.0, -ENODATA);
	w = walk(h);
	cr_assert_eq(w->n, 0, "empty: expected no bucket, got %u", w->n);
	free(w);
	free(h);
}

Test(histogram, reset_empties)
{
	struct spio_histogram *h = new_hist();

	spio_histogram_add(h, 5);
	spio_histogram_add(h, 5000);
	EXPECT_EQ(spio_histogram_reset(h), 0);
	cr_assert_eq(spio_histogram_count(h), 0, "after reset: count %" PRIu64,
		     spio_histogram_count(h));
	expect_pct_err(h, 0.5, -ENODATA);
	/* min starts over: a stale minimum of 5 would show here */
	spio_histogram_add(h, 70);
	cr_assert_eq(spio_histogram_min(h), 70, "after reset: min expected 70, got %" PRIu64,
		     spio_histogram_min(h));
	cr_assert_eq(spio_histogram_max(h), 70, "after reset: max expected 70, got %" PRIu64,
		     spio_histogram_max(h));
	free(h);
}

Test(histogram, stats_exact)
{
	struct spio_histogram *h = new_hist();

	spio_histogram_add(h, 1000);
	spio_histogram_add(h, 3);
	spio_histogram_add(h, 1001);
	spio_histogram_add(h, 4);
	EXPECT_EQ(spio_histogram_count(h), 4);
	cr_assert_eq(spio_histogram_min(h), 3, "min: expected 3, got %" PRIu64,
		     spio_histogram_min(h));
	cr_assert_eq(spio_histogram_max(h), 1001, "max: expected 1001, got %" PRIu64,
		     spio_histogram_max(h));
	/* exact, not bucketed: 1000 and 1001 share a bucket */
	cr_assert(spio_histogram_mean(h) == 502.0, "mean: expected 502, got %.17g",
		  spio_histogram_mean(h));
	free(h);
}

/* 1..100: every value below 128 has its own bucket, so percentiles are exact. */
Test(histogram, percentile_uniform_exact)
{
	struct spio_histogram *h = new_hist();
	uint64_t v;

	for (v = 100; v >= 1; v--) {
		spio_histogram_add(h, v);
	}
	expect_pct(h, 0.0, 1);
	expect_pct(h, 0.01, 1);
	expect_pct(h, 0.25, 25);
	expect_pct(h, 0.5, 50);
	expect_pct(h, 0.505, 51); /* rank ceil(50.5) = 51 */
	expect_pct(h, 0.99, 99);
	expect_pct(h, 0.999, 100);
	expect_pct(h, 1.0, 100);
	cr_assert(spio_histogram_mean(h) == 50.5, "mean: expected 50.5, got %.17g",
		  spio_histogram_mean(h));
	free(h);
}

Test(histogram, percentile_rank_rounds_up)
{
	struct spio_histogram *h = new_hist();

	spio_histogram_add(h, 10);
	spio_histogram_add(h, 20);
	spio_histogram_add(h, 30);
	expect_pct(h, 0.0, 10);
	expect_pct(h, 0.3, 10);	 /* 0.9 -> 1st */
	expect_pct(h, 0.34, 20); /* 1.02 -> 2nd */
	expect_pct(h, 0.5, 20);
	expect_pct(h, 0.67, 30); /* 2.01 -> 3rd */
	expect_pct(h, 1.0, 30);
	free(h);
}

/*
 * 900 x 100 and 50 each of 10000 and 10050: the tail shares the bucket
 * [9984, 10111], reported as its middle 10047.5.
 */
Test(histogram, percentile_bucket_middle)
{
	struct spio_histogram *h = new_hist();
	int i;

	for (i = 0; i < 900; i++) {
		spio_histogram_add(h, 100);
	}
	for (i = 0; i < 50; i++) {
		spio_histogram_add(h, 10000);
		spio_histogram_add(h, 10050);
	}
	expect_bucket(10000, 9984, 10111);
	expect_bucket(10050, 9984, 10111);
	expect_pct(h, 0.5, 100);
	expect_pct(h, 0.9, 100);
	expect_pct(h, 0.901, 10047.5);
	expect_pct(h, 0.99, 10047.5);
	expect_pct(h, 0.999, 10047.5);
	free(h);
}

/* A bucket's middle outside the samples is clamped to the exact min or max. */
Test(histogram, percentile_clamped)
{
	struct spio_histogram *h = new_hist();

	spio_histogram_add(h, 1000); /* bucket [1000, 1007], middle 1003.5 */
	expect_pct(h, 0.5, 1000);
	EXPECT_EQ(spio_histogram_reset(h), 0);
	spio_histogram_add(h, 1007);
	expect_pct(h, 0.5, 1007);
	EXPECT_EQ(spio_histogram_reset(h), 0);
	spio_histogram_add(h, 1002);
	spio_histogram_add(h, 1005);
	expect_pct(h, 0.0, 1003.5);
	expect_pct(h, 1.0, 1003.5);
	free(h);
}

static void expect_same(const struct spio_histogram *a, const struct spio_histogram *b)
{
	static const double fractions[] = {0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1};
	struct walk *wa, *wb;
	double va, vb;
	uint32_t i;

	cr_assert_eq(spio_histogram_count(a), spio_histogram_count(b),
		     "count: expected %" PRIu64 ", got %" PRIu64, spio_histogram_count(b),
		     spio_histogram_count(a));
	cr_assert_eq(spio_histogram_min(a), spio_histogram_min(b),
		     "min: expected %" PRIu64 ", got %" PRIu64, spio_histogram_min(b),
		     spio_histogram_min(a));
	cr_assert_eq(spio_histogram_max(a), spio_histogram_max(b),
		     "max: expected %" PRIu64 ", got %" PRIu64, spio_histogram_max(b),
		     spio_histogram_max(a));
	cr_assert(spio_histogram_mean(a) == spio_histogram_mean(b),
		  "mean: expected %.17g, got %.17g", spio_histogram_mean(b),
		  spio_histogram_mean(a));
	for (i = 0; i < sizeof(fractions) / sizeof(fractions[0]); i++) {
		EXPECT_EQ(spio_histogram_percentile(a, fractions[i], &va), 0);
		EXPECT_EQ(spio_histogram_percentile(b, fractions[i], &vb), 0);
		cr_assert(va == vb, "percentile(%g): expected %.17g, got %.17g", fractions[i], vb,
			  va);
	}
	wa = walk(a);
	wb = walk(b);
	cr_assert_eq(wa->n, wb->n, "buckets: expected %u, got %u", wb->n, wa->n);
	for (i = 0; i < wa->n; i++) {
		cr_assert(memcmp(&wa->b[i], &wb->b[i], sizeof(wa->b[i])) == 0,
			  "bucket %u: expected [%" PRIu64 ", %" PRIu64 "] x%" PRIu64
			  ", got [%" PRIu64 ", %" PRIu64 "] x%" PRIu64,
			  i, wb->b[i].first, wb->b[i].last, wb->b[i].count, wa->b[i].first,
			  wa->b[i].last, wa->b[i].count);
	}
	free(wa);
	free(wb);
}

/* Merging per-thread histograms equals one histogram of every sample. */
Test(histogram, merge_equals_all_samples)
{
	struct spio_histogram *a = new_hist(), *b = new_hist(), *all = new_hist();
	uint64_t v;

	for (v = 1; v <= 10; v++) {
		spio_histogram_add(a, v * 7);
		spio_histogram_add(all, v * 7);
	}
	for (v = 100; v <= 110; v++) {
		spio_histogram_add(b, v * 1000);
		spio_histogram_add(all, v * 1000);
	}
	spio_histogram_add(b, 3);
	spio_histogram_add(all, 3);
	EXPECT_EQ(spio_histogram_merge(a, b), 0);
	expect_same(a, all);
	cr_assert_eq(spio_histogram_count(b), 12, "merge changed its source: count %" PRIu64,
		     spio_histogram_count(b));
	free(a);
	free(b);
	free(all);
}

Test(histogram, merge_empty)
{
	struct spio_histogram *a = new_hist(), *empty = new_hist(), *copy = new_hist();

	spio_histogram_add(a, 500);
	spio_histogram_add(a, 9);
	spio_histogram_add(copy, 500);
	spio_histogram_add(copy, 9);
	/* an empty source keeps min: its internal "no minimum" must not win */
	EXPECT_EQ(spio_histogram_merge(a, empty), 0);
	expect_same(a, copy);
	/* into an empty one: a copy */
	EXPECT_EQ(spio_histogram_merge(empty, a), 0);
	expect_same(empty, copy);
	free(a);
	free(empty);
	free(copy);
}

Test(histogram, merge_self_doubles)
{
	struct spio_histogram *a = new_hist(), *twice = new_hist();

	spio_histogram_add(a, 1);
	spio_histogram_add(a, 300);
	spio_histogram_add(twice, 1);
	spio_histogram_add(twice, 300);
	spio_histogram_add(twice, 1);
	spio_histogram_add(twice, 300);
	EXPECT_EQ(spio_histogram_merge(a, a), 0);
	expect_same(a, twice);
	free(a);
	free(twice);
}

Test(histogram, huge_values)
{
	struct spio_histogram *h = new_hist(), *o = new_hist();
	double v;

	spio_histogram_add(h, UINT64_MAX);
	spio_histogram_add(h, UINT64_MAX);
	spio_histogram_add(h, UINT64_MAX);
	EXPECT_EQ(spio_histogram_min(h), UINT64_MAX);
	EXPECT_EQ(spio_histogram_max(h), UINT64_MAX);
	/* a 64-bit sum would have wrapped to 2^64 - 3 */
	cr_assert(spio_histogram_mean(h) == 18446744073709551616.0,
		  "mean of 3 x UINT64_MAX: expected 2^64 as a double, got %.17g",
		  spio_histogram_mean(h));
	expect_pct(h, 0.5, (double)UINT64_MAX);
	expect_pct(h, 1.0, (double)UINT64_MAX);

	/* the carry: 2^63 + 2^63 = 2^64, mean 2^63 (a wrapped sum gives 0) */
	EXPECT_EQ(spio_histogram_reset(h), 0);
	spio_histogram_add(h, 1ull << 63);
	spio_histogram_add(h, 1ull << 63);
	cr_assert(spio_histogram_mean(h) == 9223372036854775808.0,
		  "mean of 2 x 2^63: expected 2^63, got %.17g", spio_histogram_mean(h));

	/* the carry of a merge: UINT64_MAX + 1 = 2^64 */
	EXPECT_EQ(spio_histogram_reset(h), 0);
	spio_histogram_add(h, UINT64_MAX);
	spio_histogram_add(o, 1);
	EXPECT_EQ(spio_histogram_merge(h, o), 0);
	cr_assert(spio_histogram_mean(h) == 9223372036854775808.0,
		  "merged mean of UINT64_MAX and 1: expected 2^63, got %.17g",
		  spio_histogram_mean(h));
	EXPECT_EQ(spio_histogram_percentile(h, 0.5, &v), 0);
	cr_assert(v == 1, "p50 of {1, UINT64_MAX}: expected 1, got %.17g", v);
	/* the middle of the last bucket [2^64 - 2^57, 2^64 - 1]: 2^64 - 2^56 */
	expect_pct(h, 1.0, 18374686479671623680.0);
	free(h);
	free(o);
}

Test(histogram, merge_count_overflow)
{
	struct spio_histogram *a = new_hist(), *b = new_hist(), *before = malloc(sizeof(*a));
	int rc;

	cr_assert_not_null(before);
	spio_histogram_add(a, 10);
	spio_histogram_add(b, 20);
	/* 2^64 samples cannot be added in a test: fake the count of the destination */
	a->count = UINT64_MAX;
	memcpy(before, a, sizeof(*a));
	rc = spio_histogram_merge(a, b);
	cr_assert_eq(rc, -EOVERFLOW, "merge past UINT64_MAX samples: expected %d, got %d",
		     -EOVERFLOW, rc);
	cr_assert(memcmp(a, before, sizeof(*a)) == 0, "a failed merge changed the destination");
	free(a);
	free(b);
	free(before);
}

Test(histogram, bad_arguments)
{
	struct spio_histogram *h = new_hist();
	int rc;

	EXPECT_EQ(spio_histogram_init(NULL), -EINVAL);
	EXPECT_EQ(spio_histogram_reset(NULL), -EINVAL);
	EXPECT_EQ(spio_histogram_merge(NULL, h), -EINVAL);
	EXPECT_EQ(spio_histogram_merge(h, NULL), -EINVAL);
	EXPECT_EQ(spio_histogram_count(NULL), 0);
	EXPECT_EQ(spio_histogram_min(NULL), 0);
	EXPECT_EQ(spio_histogram_max(NULL), 0);
	cr_assert(spio_histogram_mean(NULL) == 0.0, "mean(NULL): expected 0, got %g",
		  spio_histogram_mean(NULL));
	EXPECT_EQ(spio_histogram_foreach_bucket(NULL, collect, NULL), -EINVAL);
	EXPECT_EQ(spio_histogram_foreach_bucket(h, NULL, NULL), -EINVAL);

	spio_histogram_add(h, 5);
	expect_pct_err(h, -0.001, -EINVAL);
	expect_pct_err(h, 1.001, -EINVAL);
	expect_pct_err(h, NAN, -EINVAL);
	expect_pct_err(h, INFINITY, -EINVAL);
	expect_pct_err(h, -INFINITY, -EINVAL);
	expect_pct_err(NULL, 0.5, -EINVAL);
	rc = spio_histogram_percentile(h, 0.5, NULL);
	cr_assert_eq(rc, -EINVAL, "percentile into NULL: expected %d, got %d", -EINVAL, rc);
	free(h);
}

/* A non-zero return of the callback stops the walk and comes back. */
Test(histogram, foreach_stops)
{
	struct spio_histogram *h = new_hist();
	struct walk *w = calloc(1, sizeof(*w));
	int rc;

	cr_assert_not_null(w);
	spio_histogram_add(h, 1);
	spio_histogram_add(h, 2);
	spio_histogram_add(h, 2);
	spio_histogram_add(h, 3000);
	w->stop_after = 2;
	rc = spio_histogram_foreach_bucket(h, collect, w);
	cr_assert_eq(rc, 42, "expected the callback's 42, got %d", rc);
	cr_assert_eq(w->n, 2, "expected 2 calls before the stop, got %u", w->n);
	cr_assert(w->b[1].first == 2 && w->b[1].count == 2,
		  "second bucket: expected [2, 2] x2, got [%" PRIu64 ", %" PRIu64 "] x%" PRIu64,
		  w->b[1].first, w->b[1].last, w->b[1].count);
	free(w);
	free(h);
}

static void expect_us(const char *what, double got, double want)
{
	cr_assert(got == want, "%s: expected %.17g us, got %.17g", what, want, got);
}

/* 1000 and 3000 ticks at 1 GHz: 1 and 3 us; the percentiles are bucket middles. */
Test(histogram, summarize_us)
{
	struct spio_histogram *h = new_hist();
	struct spio_histogram_summary s;
	int rc;

	spio_histogram_add(h, 3000);
	spio_histogram_add(h, 1000);
	rc = spio_histogram_summarize(h, 1000000000, &s);
	cr_assert_eq(rc, 0, "summarize: expected 0, got %d", rc);
	cr_assert_eq(s.count, 2, "count: expected 2, got %" PRIu64, s.count);
	expect_us("mean", s.mean_us, 2.0);
	expect_us("min", s.min_us, 1.0);
	expect_us("max", s.max_us, 3.0);
	expect_us("p50", s.p50_us, 1.0035); /* [1000, 1007] */
	expect_us("p99", s.p99_us, 2.9915); /* [2976, 3007] */
	expect_us("p99.9", s.p999_us, 2.9915);

	/* a slower clock: the same ticks are longer */
	rc = spio_histogram_summarize(h, 500000000, &s);
	cr_assert_eq(rc, 0, "summarize: expected 0, got %d", rc);
	expect_us("mean at 500 MHz", s.mean_us, 4.0);
	expect_us("p50 at 500 MHz", s.p50_us, 2.007);
	free(h);
}

Test(histogram, summarize_empty_and_bad)
{
	struct spio_histogram *h = new_hist();
	struct spio_histogram_summary s, untouched;
	int rc;

	memset(&s, 0xA5, sizeof(s));
	rc = spio_histogram_summarize(h, 1000000, &s);
	cr_assert_eq(rc, 0, "empty: expected 0, got %d", rc);
	cr_assert_eq(s.count, 0, "empty: count %" PRIu64, s.count);
	cr_assert(s.mean_us == 0 && s.min_us == 0 && s.max_us == 0 && s.p50_us == 0 &&
		      s.p99_us == 0 && s.p999_us == 0,
		  "empty: expected every value 0, got mean %g min %g max %g p50 %g p99 %g p99.9 %g",
		  s.mean_us, s.min_us, s.max_us, s.p50_us, s.p99_us, s.p999_us);

	spio_histogram_add(h, 7);
	memset(&s, 0xA5, sizeof(s));
	memcpy(&untouched, &s, sizeof(s));
	cr_assert_eq(spio_histogram_summarize(h, 0, &s), -EINVAL, "0 Hz must be refused");
	EXPECT_EQ(spio_histogram_summarize(NULL, 1000000, &s), -EINVAL);
	EXPECT_EQ(spio_histogram_summarize(h, 1000000, NULL), -EINVAL);
	cr_assert(memcmp(&s, &untouched, sizeof(s)) == 0, "a refused summarize wrote its output");
	free(h);
}

struct text {
	char buf[512];
	size_t len;
};

static int append(void *ctx, const void *data, size_t size)
{
	struct text *t = ctx;

	if (t->len + size >= sizeof(t->buf)) {
		return -ENOSPC;
	}
	memcpy(t->buf + t->len, data, size);
	t->len += size;
	t->buf[t->len] = '\0';
	return 0;
}

Test(histogram, summary_json)
{
	static const char want[] = "{\"avg_lat_us\":1.5,\"min_lat_us\":1.0,\"max_lat_us\":2.0,"
				   "\"p50_lat_us\":1.0,\"p99_lat_us\":2.0,\"p99_9_lat_us\":2.0}";
	struct spio_histogram *h = new_hist();
	struct spio_histogram_summary s;
	struct spio_json_write_ctx *w;
	struct text t = {.len = 0};
	int rc;

	spio_histogram_add(h, 1);
	spio_histogram_add(h, 2);
	spio_histogram_add(h, 1);
	spio_histogram_add(h, 2);
	cr_assert_eq(spio_histogram_summarize(h, 1000000, &s), 0); /* 1 tick = 1 us */
	w = spio_json_write_begin(append, &t, 0);
	cr_assert_not_null(w);
	spio_json_write_object_begin(w);
	rc = spio_histogram_summary_write_json(w, &s);
	cr_assert_eq(rc, 0, "summary_write_json: expected 0, got %d", rc);
	spio_json_write_object_end(w);
	EXPECT_EQ(spio_json_write_end(w), 0);
	cr_assert_str_eq(t.buf, want, "expected %s, got %s", want, t.buf);

	EXPECT_EQ(spio_histogram_summary_write_json(NULL, &s), -EINVAL);
	w = spio_json_write_begin(append, &t, 0);
	cr_assert_not_null(w);
	EXPECT_EQ(spio_histogram_summary_write_json(w, NULL), -EINVAL);
	spio_json_write_end(w);
	free(h);
}
