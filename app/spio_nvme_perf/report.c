/*
 * spio_nvme_perf: statistics and the final report, in the layout of
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
 * Statistics
 */

void stats_init(struct perf_stats *s)
{
	memset(s, 0, sizeof(*s));
	spio_histogram_init(&s->lat);
}

void stats_add(struct perf_stats *sum, const struct perf_stats *s)
{
	sum->reads += s->reads;
	sum->writes += s->writes;
	sum->io_errors += s->io_errors;
	sum->miscompares += s->miscompares;
	spio_histogram_merge(&sum->lat, &s->lat);
}

static uint64_t stats_ios(const struct perf_stats *s)
{
	return spio_histogram_count(&s->lat);
}

/*
 * Results
 */

struct perf_result {
	double runtime_s;
	double iops;
	double mibps;
	struct spio_histogram_summary lat;
};

static double ticks_us(double ticks)
{
	return ticks * 1e6 / (double)spio_get_ticks_hz();
}

static void ctx_result(const struct perf_ctx *ctx, struct perf_result *r)
{
	memset(r, 0, sizeof(*r));
	if (ctx->end_tick > ctx->start_tick && ctx->start_tick != 0) {
		r->runtime_s =
		    (double)(ctx->end_tick - ctx->start_tick) / (double)spio_get_ticks_hz();
		r->iops = (double)stats_ios(&ctx->stats) / r->runtime_s;
		r->mibps = r->iops * g_opts.io_size / (1024.0 * 1024.0);
	}
	spio_histogram_summarize(&ctx->stats.lat, spio_get_ticks_hz(), &r->lat);
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
	spio_histogram_summarize(&sum->lat, spio_get_ticks_hz(), &r->lat);
}

/* One past a bucket's last value (saturating), as SPDK's tool prints ranges. */
static uint64_t bucket_end(uint64_t last)
{
	return last == UINT64_MAX ? last : last + 1;
}

static const double g_cutoffs[] = {0.01, 0.10, 0.25,  0.50,  0.75,   0.90,   0.95,
				   0.98, 0.99, 0.995, 0.999, 0.9999, 0.99999};

struct cumulative {
	uint64_t so_far;
	uint64_t total;
	uint32_t next_cutoff;
};

static int print_cutoff_bucket(void *arg, uint64_t first, uint64_t last, uint64_t count)
{
	struct cumulative *cu = arg;

	cu->so_far += count;
	while (cu->next_cutoff < SPIO_COUNTOF(g_cutoffs) &&
	       (double)cu->so_far / (double)cu->total >= g_cutoffs[cu->next_cutoff]) {
		printf("%9.5f%% : %9.3fus\n", g_cutoffs[cu->next_cutoff] * 100,
		       ticks_us((double)bucket_end(last)));
		cu->next_cutoff++;
	}
	return cu->next_cutoff == SPIO_COUNTOF(g_cutoffs); /* all printed: stop */
}

static int print_bucket(void *arg, uint64_t first, uint64_t last, uint64_t count)
{
	struct cumulative *cu = arg;

	cu->so_far += count;
	printf("%9.3f - %9.3f: %9.4f%%  (%9" PRIu64 ")\n", ticks_us((double)first),
	       ticks_us((double)bucket_end(last)), (double)cu->so_far * 100 / (double)cu->total,
	       count);
	return 0;
}

/* The cumulative share at SPDK's cutoffs (-L), or every non-empty bucket (-LL). */
static void print_cumulative(const struct perf_stats *s, bool buckets)
{
	struct cumulative cu = {.total = stats_ios(s)};

	if (buckets) {
		printf("       Range in us     Cumulative    IO count\n");
	}
	spio_histogram_foreach_bucket(&s->lat, buckets ? print_bucket : print_cutoff_bucket, &cu);
}

static void print_latency_details(struct perf_worker *workers, uint32_t nworkers)
{
	uint32_t i, j, level;

	for (level = 1; level <= g_opts.latency_level && level <= 2; level++) {
		for (i = 0; i < nworkers; i++) {
			for (j = 0; j < workers[i].nctxs; j++) {
				const struct perf_ctx *ctx = &workers[i].ctxs[j];

				if (stats_ios(&ctx->stats) == 0) {
					continue;
				}
				if (level == 1) {
					printf("Summary latency data for %-43.43s from core %u:\n",
					       ctx->pns->name, workers[i].core);
					printf("==========================================="
					       "======================================\n");
					print_cumulative(&ctx->stats, false);
				} else {
					printf("Latency histogram for %-43.43s from core %u:\n",
					       ctx->pns->name, workers[i].core);
					printf("==========================================="
					       "===================================\n");
					print_cumulative(&ctx->stats, true);
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

			if (stats_ios(&ctx->stats) == 0) {
				continue;
			}
			ctx_result(ctx, &r);
			printf("%-*.*s from core %2u: %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f "
			       "%10.2f "
			       "%10.2f\n",
			       w, w, ctx->pns->name, workers[i].core, r.iops, r.mibps,
			       r.lat.mean_us, r.lat.min_us, r.lat.max_us, r.lat.p50_us,
			       r.lat.p99_us, r.lat.p999_us);
		}
	}
	total_result(workers, nworkers, &r, &sum);
	if (stats_ios(&sum) != 0) {
		printf("========================================================\n");
		printf("%-*s: %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f\n", w + 13,
		       "Total", r.iops, r.mibps, r.lat.mean_us, r.lat.min_us, r.lat.max_us,
		       r.lat.p50_us, r.lat.p99_us, r.lat.p999_us);
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
	spio_json_write_named_uint64(w, "ios", stats_ios(s));
	spio_json_write_named_uint64(w, "reads", s->reads);
	spio_json_write_named_uint64(w, "writes", s->writes);
	spio_json_write_named_double(w, "iops", r->iops);
	spio_json_write_named_double(w, "mib_per_s", r->mibps);
	spio_histogram_summary_write_json(w, &r->lat);
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
