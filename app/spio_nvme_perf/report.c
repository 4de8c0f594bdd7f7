/*
 * spio_nvme_perf: latency histogram and the final report, in the layout of
 * spdk_nvme_perf's table (one row per namespace and core, then the total)
 * with three percentile columns added, or as one JSON object.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spio/env.h"
#include "spio/json.h"
#include "spio/util.h"

#include "perf.h"

/*
 * Histogram
 */

uint32_t hist_index(uint64_t v)
{
	uint32_t e;

	if (v < HIST_SUB) {
		return (uint32_t)v;
	}
	e = 63u - (uint32_t)__builtin_clzll(v); /* >= HIST_SUB_BITS */
	return (e - HIST_SUB_BITS + 1) * HIST_SUB +
	       (uint32_t)((v >> (e - HIST_SUB_BITS)) - HIST_SUB);
}

/* First value of bucket `i`, in ticks. */
static uint64_t hist_start(uint32_t i)
{
	uint32_t range = i / HIST_SUB, sub = i % HIST_SUB;

	if (range == 0) {
		return sub;
	}
	return (uint64_t)(HIST_SUB + sub) << (range - 1);
}

/* One past the last value of bucket `i` (saturating). */
static uint64_t hist_end(uint32_t i)
{
	return i + 1 < HIST_BUCKETS ? hist_start(i + 1) : UINT64_MAX;
}

/* Latency (ticks) at or below which a fraction `p` of the samples lie: a bucket's middle. */
static double hist_percentile(const struct perf_stats *s, double p)
{
	uint64_t rank, seen = 0;
	double v;
	uint32_t i;

	if (s->ios == 0) {
		return 0;
	}
	rank = (uint64_t)(p * (double)s->ios);
	if ((double)rank < p * (double)s->ios || rank == 0) {
		rank++;
	}
	for (i = 0; i < HIST_BUCKETS - 1; i++) {
		seen += s->hist[i];
		if (seen >= rank) {
			break;
		}
	}
	v = ((double)hist_start(i) + (double)hist_end(i) - 1) / 2;
	/* the bucket middle may lie outside what was seen */
	if (v < (double)s->lat_min) {
		v = (double)s->lat_min;
	}
	if (v > (double)s->lat_max) {
		v = (double)s->lat_max;
	}
	return v;
}

void stats_init(struct perf_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->lat_min = UINT64_MAX;
}

void stats_add(struct perf_stats *sum, const struct perf_stats *s)
{
	uint32_t i;

	sum->ios += s->ios;
	sum->reads += s->reads;
	sum->writes += s->writes;
	sum->io_errors += s->io_errors;
	sum->miscompares += s->miscompares;
	sum->lat_sum += s->lat_sum;
	sum->lat_min = SPIO_MIN(sum->lat_min, s->lat_min);
	sum->lat_max = SPIO_MAX(sum->lat_max, s->lat_max);
	for (i = 0; i < HIST_BUCKETS; i++) {
		sum->hist[i] += s->hist[i];
	}
}

/*
 * Results
 */

struct perf_result {
	double runtime_s;
	double iops;
	double mibps;
	double avg_us, min_us, max_us, p50_us, p99_us, p999_us;
};

static double ticks_us(double ticks)
{
	return ticks * 1e6 / (double)spio_get_ticks_hz();
}

static void result_latency(struct perf_result *r, const struct perf_stats *s)
{
	if (s->ios == 0) {
		return;
	}
	r->avg_us = ticks_us((double)s->lat_sum / (double)s->ios);
	r->min_us = ticks_us((double)s->lat_min);
	r->max_us = ticks_us((double)s->lat_max);
	r->p50_us = ticks_us(hist_percentile(s, 0.50));
	r->p99_us = ticks_us(hist_percentile(s, 0.99));
	r->p999_us = ticks_us(hist_percentile(s, 0.999));
}

static void ctx_result(const struct perf_ctx *ctx, struct perf_result *r)
{
	memset(r, 0, sizeof(*r));
	if (ctx->end_tick > ctx->start_tick && ctx->start_tick != 0) {
		r->runtime_s =
		    (double)(ctx->end_tick - ctx->start_tick) / (double)spio_get_ticks_hz();
		r->iops = (double)ctx->stats.ios / r->runtime_s;
		r->mibps = r->iops * g_opts.io_size / (1024.0 * 1024.0);
	}
	result_latency(r, &ctx->stats);
}

/* IOPS and bandwidth add up over contexts; latencies merge. */
static void total_result(struct perf_worker *workers, uint32_t nworkers, struct perf_result *r,
			 struct perf_stats *sum)
{
	struct perf_result cr;
	uint32_t i, j;

	memset(r, 0, sizeof(*r));
	stats_init(sum);
	for (i = 0; i < nworkers; i++) {
		for (j = 0; j < workers[i].nctxs; j++) {
			const struct perf_ctx *ctx = &workers[i].ctxs[j];

			ctx_result(ctx, &cr);
			r->iops += cr.iops;
			r->mibps += cr.mibps;
			r->runtime_s = SPIO_MAX(r->runtime_s, cr.runtime_s);
			stats_add(sum, &ctx->stats);
		}
	}
	result_latency(r, sum);
}

/* Print the cumulative share at SPDK's cutoffs (-L). */
static void print_cutoffs(const struct perf_stats *s)
{
	static const double cutoffs[] = {0.01, 0.10, 0.25,  0.50,  0.75,   0.90,   0.95,
					 0.98, 0.99, 0.995, 0.999, 0.9999, 0.99999};
	uint64_t so_far = 0;
	uint32_t i, c = 0;

	for (i = 0; i < HIST_BUCKETS && c < SPIO_COUNTOF(cutoffs); i++) {
		if (s->hist[i] == 0) {
			continue;
		}
		so_far += s->hist[i];
		while (c < SPIO_COUNTOF(cutoffs) && (double)so_far / (double)s->ios >= cutoffs[c]) {
			printf("%9.5f%% : %9.3fus\n", cutoffs[c] * 100,
			       ticks_us((double)hist_end(i)));
			c++;
		}
	}
}

/* Every non-empty bucket with the cumulative share (-LL). */
static void print_buckets(const struct perf_stats *s)
{
	uint64_t so_far = 0;
	uint32_t i;

	printf("       Range in us     Cumulative    IO count\n");
	for (i = 0; i < HIST_BUCKETS; i++) {
		if (s->hist[i] == 0) {
			continue;
		}
		so_far += s->hist[i];
		printf("%9.3f - %9.3f: %9.4f%%  (%9" PRIu64 ")\n", ticks_us((double)hist_start(i)),
		       ticks_us((double)hist_end(i)), (double)so_far * 100 / (double)s->ios,
		       s->hist[i]);
	}
}

static void print_latency_details(struct perf_worker *workers, uint32_t nworkers)
{
	uint32_t i, j, level;

	for (level = 1; level <= g_opts.latency_level && level <= 2; level++) {
		for (i = 0; i < nworkers; i++) {
			for (j = 0; j < workers[i].nctxs; j++) {
				const struct perf_ctx *ctx = &workers[i].ctxs[j];

				if (ctx->stats.ios == 0) {
					continue;
				}
				if (level == 1) {
					printf("Summary latency data for %-43.43s from core %u:\n",
					       ctx->pns->name, workers[i].core);
					printf("==========================================="
					       "======================================\n");
					print_cutoffs(&ctx->stats);
				} else {
					printf("Latency histogram for %-43.43s from core %u:\n",
					       ctx->pns->name, workers[i].core);
					printf("==========================================="
					       "===================================\n");
					print_buckets(&ctx->stats);
				}
				printf("\n");
			}
		}
	}
}

static void print_table(struct perf_worker *workers, uint32_t nworkers)
{
	struct perf_result r;
	struct perf_stats sum;
	int w = 0;
	uint32_t i, j;

	for (i = 0; i < nworkers; i++) {
		for (j = 0; j < workers[i].nctxs; j++) {
			w = SPIO_MAX(w, (int)strlen(workers[i].ctxs[j].pns->name));
		}
	}
	printf("========================================================\n");
	printf("%*s\n", w + 60, "Latency(us)");
	printf("%-*s: %10s %10s %10s %10s %10s %10s %10s %10s\n", w + 13, "Device Information",
	       "IOPS", "MiB/s", "Average", "min", "max", "p50", "p99", "p99.9");
	for (i = 0; i < nworkers; i++) {
		for (j = 0; j < workers[i].nctxs; j++) {
			const struct perf_ctx *ctx = &workers[i].ctxs[j];

			if (ctx->stats.ios == 0) {
				continue;
			}
			ctx_result(ctx, &r);
			printf("%-*.*s from core %2u: %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f "
			       "%10.2f "
			       "%10.2f\n",
			       w, w, ctx->pns->name, workers[i].core, r.iops, r.mibps, r.avg_us,
			       r.min_us, r.max_us, r.p50_us, r.p99_us, r.p999_us);
		}
	}
	total_result(workers, nworkers, &r, &sum);
	if (sum.ios != 0) {
		printf("========================================================\n");
		printf("%-*s: %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f\n", w + 13,
		       "Total", r.iops, r.mibps, r.avg_us, r.min_us, r.max_us, r.p50_us, r.p99_us,
		       r.p999_us);
		printf("\n");
	}
	if (sum.io_errors != 0 || sum.miscompares != 0) {
		printf("I/O errors: %" PRIu64 ", miscompares: %" PRIu64 "\n\n", sum.io_errors,
		       sum.miscompares);
	}
	print_latency_details(workers, nworkers);
}

static int json_out(void *ctx, const void *data, size_t size)
{
	return fwrite(data, 1, size, stdout) == size ? 0 : -EIO;
}

static void json_result(struct spio_json_write_ctx *w, const struct perf_result *r,
			const struct perf_stats *s)
{
	spio_json_write_named_double(w, "runtime_s", r->runtime_s);
	spio_json_write_named_uint64(w, "ios", s->ios);
	spio_json_write_named_uint64(w, "reads", s->reads);
	spio_json_write_named_uint64(w, "writes", s->writes);
	spio_json_write_named_double(w, "iops", r->iops);
	spio_json_write_named_double(w, "mib_per_s", r->mibps);
	spio_json_write_named_double(w, "avg_lat_us", r->avg_us);
	spio_json_write_named_double(w, "min_lat_us", r->min_us);
	spio_json_write_named_double(w, "max_lat_us", r->max_us);
	spio_json_write_named_double(w, "p50_lat_us", r->p50_us);
	spio_json_write_named_double(w, "p99_lat_us", r->p99_us);
	spio_json_write_named_double(w, "p99_9_lat_us", r->p999_us);
	spio_json_write_named_uint64(w, "io_errors", s->io_errors);
	spio_json_write_named_uint64(w, "miscompares", s->miscompares);
}

static void print_json(struct perf_worker *workers, uint32_t nworkers)
{
	struct spio_json_write_ctx *w;
	struct perf_result r;
	struct perf_stats sum;
	uint32_t i, j;

	w = spio_json_write_begin(json_out, NULL, SPIO_JSON_WRITE_FLAG_FORMATTED);
	if (w == NULL) {
		fprintf(stderr, "spio_nvme_perf: cannot write JSON: %s\n", strerror(errno));
		return;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "workload", g_opts.workload);
	spio_json_write_named_uint32(w, "io_size", g_opts.io_size);
	spio_json_write_named_uint32(w, "queue_depth", g_opts.queue_depth);
	spio_json_write_named_int32(w, "read_pct", g_opts.read_pct);
	spio_json_write_named_uint32(w, "time_s", g_opts.time_s);
	spio_json_write_named_uint64(w, "number_ios", g_opts.number_ios);
	spio_json_write_named_string(w, "core_mask", g_opts.core_mask);
	spio_json_write_named_uint32(w, "qpairs_per_ns", g_opts.qpairs_per_ns);
	spio_json_write_named_bool(w, "header_digest", g_opts.header_digest);
	spio_json_write_named_bool(w, "data_digest", g_opts.data_digest);
	spio_json_write_named_bool(w, "verify", g_opts.verify);
	spio_json_write_named_array_begin(w, "devices");
	for (i = 0; i < nworkers; i++) {
		for (j = 0; j < workers[i].nctxs; j++) {
			const struct perf_ctx *ctx = &workers[i].ctxs[j];

			ctx_result(ctx, &r);
			spio_json_write_object_begin(w);
			spio_json_write_named_string(w, "name", ctx->pns->name);
			spio_json_write_named_uint32(w, "nsid", ctx->pns->nsid);
			spio_json_write_named_uint32(w, "core", workers[i].core);
			json_result(w, &r, &ctx->stats);
			spio_json_write_object_end(w);
		}
	}
	spio_json_write_array_end(w);
	total_result(workers, nworkers, &r, &sum);
	spio_json_write_named_object_begin(w, "total");
	json_result(w, &r, &sum);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
	if (spio_json_write_end(w) != 0) {
		fprintf(stderr, "spio_nvme_perf: writing the JSON result failed\n");
	}
}

void report_print(struct perf_worker *workers, uint32_t nworkers)
{
	if (g_opts.json) {
		print_json(workers, nworkers);
	} else {
		print_table(workers, nworkers);
	}
	fflush(stdout);
}
