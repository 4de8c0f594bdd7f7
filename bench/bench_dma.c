/*
 * bench_dma: DMA allocator and IOVA translation costs.
 *
 * The environment is initialised once per process: in no-huge mode (ordinary
 * locked pages) by default, in hugepage mode with --huge. When --huge is given
 * but the library falls back to no-huge (no free hugepages), one line with
 * "skipped":true is printed and the exit status is 0.
 *
 * Cases, one JSON object per line, best of 3 runs of about 0.5 s each:
 *   alloc_free_4k        spio_dma_malloc(4 KiB) + spio_dma_free, another
 *                        buffer alive in the same 2 MiB slot (steady state)
 *   alloc_free_4k_empty  the same with no other buffer alive: each pair splits
 *                        a whole slot and merges it back
 *   alloc_free_1m        1 MiB (largest buddy block below a slot)
 *   alloc_free_4m        4 MiB: a run of whole slots, mapped and unmapped each
 *                        time (the allocator returns large buffers' memory)
 *   alloc_1000x4k_free   1000 x 4 KiB allocated, then all freed, repeated;
 *                        reports ns per alloc, per free and per pair
 *   vtophys              spio_vtophys() inside a 4 KiB buffer, asking for the
 *                        rest of the buffer (length in/out)
 *   vtophys_4m           spio_vtophys() of a 4 MiB buffer, asking for all of it
 *                        (walks 2 slots' IOVAs for the contiguity length)
 * e.g. {"bench":"dma","mode":"nohuge","case":"alloc_free_4k","ops":...,
 *       "seconds":...,"ns_per_op":...}
 *
 * Usage: bench_dma [--huge] [-t ms_per_run]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/util.h"

#define RUNS 3
#define KIB 1024ULL
#define MIB (1024 * KIB)
#define BATCH_BUFS 1000

struct result {
	uint64_t ops;
	double seconds;
	double ns_per_op;
	/* alloc_1000x4k_free only */
	double ns_per_alloc;
	double ns_per_free;
};

struct bench_case {
	const char *name;
	int (*run)(uint64_t duration_ticks, struct result *res);
};

static const char *g_mode = "nohuge";
static volatile uint64_t g_sink; /* keeps results of timed calls alive */

static void finish(struct result *res, uint64_t ops, uint64_t ticks)
{
	res->ops = ops;
	res->seconds = bench_ticks_to_ns(ticks) / 1e9;
	res->ns_per_op = bench_ticks_to_ns(ticks) / (double)ops;
}

/* spio_dma_malloc + spio_dma_free of `size` bytes until the time is up. */
static int alloc_free_loop(size_t size, uint64_t duration_ticks, struct result *res)
{
	uint64_t ops = 0, start = spio_get_ticks(), now;

	do {
		for (int i = 0; i < 16; i++) {
			void *p = spio_dma_malloc(size, 0);

			if (p == NULL) {
				fprintf(stderr, "bench_dma: spio_dma_malloc(%zu): %s\n", size,
					strerror(errno));
				return -ENOMEM;
			}
			spio_dma_free(p);
		}
		ops += 16;
		now = spio_get_ticks();
	} while (now - start < duration_ticks);
	finish(res, ops, now - start);
	return 0;
}

/* Run `fn` with one 4 KiB buffer alive, so the slot it lives in stays split. */
static int with_anchor(size_t size, uint64_t duration_ticks, struct result *res)
{
	void *anchor = spio_dma_malloc(4 * KIB, 0);
	int rc;

	if (anchor == NULL) {
		fprintf(stderr, "bench_dma: anchor buffer: %s\n", strerror(errno));
		return -ENOMEM;
	}
	rc = alloc_free_loop(size, duration_ticks, res);
	spio_dma_free(anchor);
	return rc;
}

static int run_alloc_free_4k(uint64_t duration_ticks, struct result *res)
{
	return with_anchor(4 * KIB, duration_ticks, res);
}

static int run_alloc_free_4k_empty(uint64_t duration_ticks, struct result *res)
{
	return alloc_free_loop(4 * KIB, duration_ticks, res);
}

static int run_alloc_free_1m(uint64_t duration_ticks, struct result *res)
{
	return with_anchor(MIB, duration_ticks, res);
}

static int run_alloc_free_4m(uint64_t duration_ticks, struct result *res)
{
	return with_anchor(4 * MIB, duration_ticks, res);
}

static int run_alloc_1000x4k_free(uint64_t duration_ticks, struct result *res)
{
	static void *bufs[BATCH_BUFS];
	uint64_t rounds = 0, alloc_ticks = 0, free_ticks = 0, t0, t1, t2;
	int rc = 0;

	do {
		int n;

		t0 = spio_get_ticks();
		for (n = 0; n < BATCH_BUFS; n++) {
			bufs[n] = spio_dma_malloc(4 * KIB, 0);
			if (bufs[n] == NULL) {
				break;
			}
		}
		t1 = spio_get_ticks();
		for (int i = 0; i < n; i++) {
			spio_dma_free(bufs[i]);
		}
		t2 = spio_get_ticks();
		if (n < BATCH_BUFS) {
			fprintf(stderr, "bench_dma: buffer %d of %d x 4 KiB: %s\n", n + 1,
				BATCH_BUFS, strerror(ENOMEM));
			rc = -ENOMEM;
			break;
		}
		alloc_ticks += t1 - t0;
		free_ticks += t2 - t1;
		rounds++;
	} while (alloc_ticks + free_ticks < duration_ticks);
	if (rc != 0) {
		return rc;
	}
	finish(res, rounds * BATCH_BUFS, alloc_ticks + free_ticks);
	res->ns_per_alloc = bench_ticks_to_ns(alloc_ticks) / (double)res->ops;
	res->ns_per_free = bench_ticks_to_ns(free_ticks) / (double)res->ops;
	return 0;
}

static int vtophys_loop(size_t size, bool walk_offsets, uint64_t duration_ticks, struct result *res)
{
	uint8_t *buf = spio_dma_malloc(size, 0);
	uint64_t ops = 0, sum = 0, start, now;

	if (buf == NULL) {
		fprintf(stderr, "bench_dma: spio_dma_malloc(%zu): %s\n", size, strerror(errno));
		return -ENOMEM;
	}
	start = spio_get_ticks();
	do {
		for (uint64_t i = 0; i < 64; i++) {
			uint64_t off = walk_offsets ? ((ops + i) * 64) % size : 0;
			uint64_t len = size - off;
			uint64_t iova = spio_vtophys(buf + off, &len);

			if (iova == SPIO_VTOPHYS_ERROR) {
				fprintf(stderr, "bench_dma: spio_vtophys(%p) failed\n", buf + off);
				spio_dma_free(buf);
				return -EFAULT;
			}
			sum += iova + len;
		}
		ops += 64;
		now = spio_get_ticks();
	} while (now - start < duration_ticks);
	g_sink = sum;
	spio_dma_free(buf);
	finish(res, ops, now - start);
	return 0;
}

static int run_vtophys(uint64_t duration_ticks, struct result *res)
{
	return vtophys_loop(4 * KIB, true, duration_ticks, res);
}

static int run_vtophys_4m(uint64_t duration_ticks, struct result *res)
{
	return vtophys_loop(4 * MIB, false, duration_ticks, res);
}

static int print_result(const char *name, const struct result *r)
{
	struct spio_json_write_ctx *w = spio_json_write_begin(bench_file_write_cb, stdout, 0);
	int rc;

	if (w == NULL) {
		return -errno;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "bench", "dma");
	spio_json_write_named_string(w, "mode", g_mode);
	spio_json_write_named_string(w, "case", name);
	spio_json_write_named_uint64(w, "ops", r->ops);
	spio_json_write_named_double(w, "seconds", bench_round_to(r->seconds, 4));
	spio_json_write_named_double(w, "ns_per_op", bench_round_to(r->ns_per_op, 2));
	if (r->ns_per_alloc > 0) {
		spio_json_write_named_double(w, "ns_per_alloc", bench_round_to(r->ns_per_alloc, 2));
		spio_json_write_named_double(w, "ns_per_free", bench_round_to(r->ns_per_free, 2));
	}
	spio_json_write_object_end(w);
	rc = spio_json_write_end(w);
	fputc('\n', stdout);
	fflush(stdout);
	return rc;
}

static int print_skipped(const char *reason)
{
	struct spio_json_write_ctx *w = spio_json_write_begin(bench_file_write_cb, stdout, 0);
	int rc;

	if (w == NULL) {
		return -errno;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "bench", "dma");
	spio_json_write_named_string(w, "mode", g_mode);
	spio_json_write_named_bool(w, "skipped", true);
	spio_json_write_named_string(w, "reason", reason);
	spio_json_write_object_end(w);
	rc = spio_json_write_end(w);
	fputc('\n', stdout);
	fflush(stdout);
	return rc;
}

static int run_case(const struct bench_case *c, uint64_t duration_ticks)
{
	struct result best = {0}, r;
	struct spio_dma_stats st;
	int rc = 0;

	for (int i = 0; i < RUNS && rc == 0; i++) {
		memset(&r, 0, sizeof(r));
		rc = c->run(duration_ticks, &r);
		if (rc == 0 && (i == 0 || r.ns_per_op < best.ns_per_op)) {
			best = r;
		}
	}
	if (rc == 0 && (spio_dma_get_stats(&st) != 0 || st.allocations != 0)) {
		fprintf(stderr, "bench_dma: %s: %llu buffers still allocated after the runs\n",
			c->name, (unsigned long long)st.allocations);
		rc = -EIO;
	}
	return rc == 0 ? print_result(c->name, &best) : rc;
}

static int parse_args(int argc, char **argv, bool *huge, uint64_t *ms)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--huge") == 0) {
			*huge = true;
		} else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			if (bench_parse_ms(argv[0], argv[++i], ms) != 0) {
				return -EINVAL;
			}
		} else {
			fprintf(stderr,
				"usage: %s [--huge] [-t ms_per_run]  (unknown argument '%s')\n",
				argv[0], argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct bench_case cases[] = {
	    {"alloc_free_4k", run_alloc_free_4k},
	    {"alloc_free_4k_empty", run_alloc_free_4k_empty},
	    {"alloc_free_1m", run_alloc_free_1m},
	    {"alloc_free_4m", run_alloc_free_4m},
	    {"alloc_1000x4k_free", run_alloc_1000x4k_free},
	    {"vtophys", run_vtophys},
	    {"vtophys_4m", run_vtophys_4m},
	};
	struct spio_env_opts opts;
	bool huge = false;
	uint64_t ms = 500;
	int rc, failed = 0;

	if (parse_args(argc, argv, &huge, &ms) != 0) {
		return 2;
	}
	g_mode = huge ? "huge" : "nohuge";
	spio_env_opts_init(&opts, sizeof(opts));
	opts.name = "bench_dma";
	opts.no_huge = !huge;
	rc = spio_env_init(&opts);
	if (rc != 0) {
		fprintf(stderr, "bench_dma: spio_env_init (%s): %s\n", g_mode, strerror(-rc));
		return 1;
	}
	if (huge && !spio_env_hugepages_enabled()) {
		rc = print_skipped("no free 2 MiB hugepages: the env fell back to no-huge mode");
		spio_env_fini();
		return rc == 0 ? 0 : 1;
	}

	for (size_t i = 0; i < SPIO_COUNTOF(cases); i++) {
		if (run_case(&cases[i], spio_get_ticks_hz() / 1000 * ms) != 0) {
			failed = 1;
		}
	}
	spio_env_fini();
	return failed;
}
