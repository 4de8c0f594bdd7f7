/*
 * spio_perf: a bdevperf-like load generator. Creates bdevs from a JSON
 * configuration, runs one job per (core, bdev) keeping `depth` I/Os in
 * flight, prints a live line per second and a final table (or JSON) with
 * IOPS, bandwidth and latency percentiles. docs/spio_perf.md is the guide.
 *
 * Threads: the app thread parses nothing and owns the job list; each core
 * of the mask gets one spio_thread (cpumask = that core) that runs every job
 * of that core. Jobs own their counters; the app thread reads the live
 * counters with relaxed atomics and the rest only after the job reported
 * that it finished (a message, which orders the accesses).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/cpuset.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/histogram.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/thread.h"
#include "spio/util.h"

#include "opts.h"

/* Miscompare and I/O error messages printed per job; the rest are only counted. */
#define PERF_MAX_REPORTS 10

enum perf_op {
	OP_READ,
	OP_WRITE,
	OP_UNMAP,
	OP_FLUSH,
	OP_VERIFY_WRITE,
	OP_VERIFY_READ,
};

struct perf_job;

/* One I/O slot of a job: `depth` of them per job, reused for every I/O. */
struct perf_task {
	struct perf_job *job;
	void *buf;  /* data written or read */
	void *rbuf; /* verify: read-back buffer */
	uint64_t offset_blocks;
	enum perf_op op;
	struct spio_bdev_io_wait_entry wait;
};

struct perf_core {
	uint32_t core;
	struct spio_thread *thread;
	uint32_t njobs;
	uint32_t nfinished; /* touched only on `thread` */
};

struct perf_job {
	/* set by the app thread before the job starts */
	struct perf_core *pc;
	const char *bdev_name;
	uint32_t block_size;
	uint64_t io_blocks;
	uint64_t region_start; /* in units of io_blocks */
	uint64_t region_ios;
	uint32_t depth;
	uint64_t seed;

	/* owned by the job's thread */
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	struct perf_task *tasks;
	uint64_t rng;
	uint64_t next_io;
	uint64_t started; /* I/Os started (a verify write and its read-back: one) */
	uint64_t pass;
	uint32_t busy_tasks; /* in flight or waiting for a bdev_io */
	bool running;
	int setup_rc;

	/* live counters: written by the job only, read by the app thread */
	_Atomic uint64_t ios;
	_Atomic uint64_t bytes;

	/* results, read by the app thread after the job finished */
	uint64_t start_tick;
	uint64_t end_tick;
	uint64_t io_errors;
	uint64_t miscompares;
	struct spio_histogram lat; /* ticks */

	/* app thread: the job reported that it finished */
	bool finished;
};

enum perf_state {
	ST_INIT,
	ST_SETUP,
	ST_RUNNING,
	ST_STOPPING,
	ST_DONE,
};

static struct {
	struct spio_thread *app_thread;
	enum perf_state state;
	bool stop_requested;
	int exit_rc;
	struct perf_core *cores;
	uint32_t ncores;
	struct perf_job *jobs;
	uint32_t njobs;
	uint32_t nready;
	uint32_t nfinished;
	struct spio_poller *live_poller;
	struct spio_poller *end_poller;
	uint64_t start_tick;
	uint64_t last_tick;
	uint64_t last_ios;
	uint64_t last_bytes;
} g_perf;

/*
 * Random numbers and verify patterns
 */

static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/*
 * Verify pattern of one I/O: each block starts with its block index, the job
 * seed and the pass number (how many times the job went over its region), the
 * rest is a pseudo-random stream derived from those three, so a block
 * written by another job, at another offset or in an earlier pass differs.
 */
static void fill_pattern(uint64_t *buf, uint64_t first_block, uint64_t nblocks, uint32_t block_size,
			 uint64_t seed, uint64_t pass)
{
	uint64_t words = block_size / 8, b, w, s;

	for (b = 0; b < nblocks; b++) {
		uint64_t *blk = buf + b * words;

		blk[0] = first_block + b;
		blk[1] = seed;
		blk[2] = pass;
		s = splitmix64(seed ^ splitmix64(first_block + b) ^ (pass << 40)) | 1;
		for (w = 3; w < words; w++) {
			blk[w] = xorshift64(&s);
		}
	}
}

/*
 * Jobs (on their core's thread)
 */

static void task_issue(void *arg);
static void job_finish(struct perf_job *job);

static void job_report_error(struct perf_job *job, const char *what, uint64_t offset_blocks)
{
	if (job->io_errors <= PERF_MAX_REPORTS) {
		fprintf(stderr, "spio_perf: core %u bdev %s: %s failed at offset %" PRIu64 "\n",
			job->pc->core, job->bdev_name, what, offset_blocks * job->block_size);
	}
}

static void hex_bytes(char *out, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		sprintf(out + 2 * i, "%02x", p[i]);
	}
}

static void task_verify(struct perf_task *t)
{
	struct perf_job *job = t->job;
	size_t len = job->io_blocks * job->block_size, i, at;
	const uint8_t *exp = t->buf, *act = t->rbuf;
	char ehex[33], ahex[33];

	if (memcmp(exp, act, len) == 0) {
		return;
	}
	job->miscompares++;
	if (job->miscompares > PERF_MAX_REPORTS) {
		return;
	}
	for (i = 0; i < len && exp[i] == act[i]; i++) {
	}
	at = i & ~(size_t)7;
	hex_bytes(ehex, exp + at, SPIO_MIN((size_t)16, len - at));
	hex_bytes(ahex, act + at, SPIO_MIN((size_t)16, len - at));
	fprintf(stderr,
		"spio_perf: miscompare: core %u bdev %s offset %" PRIu64
		" (first difference at byte %zu of the I/O): expected %s, got %s\n",
		job->pc->core, job->bdev_name, t->offset_blocks * job->block_size, i, ehex, ahex);
}

/* Pick the next operation and offset of a free task and submit it. */
static void task_start(struct perf_task *t)
{
	struct perf_job *job = t->job;
	uint64_t idx;
	bool random;

	random = g_perf_opts.workload == WL_RANDREAD || g_perf_opts.workload == WL_RANDWRITE ||
		 g_perf_opts.workload == WL_RANDRW;
	if (random) {
		idx =
		    (uint64_t)(((unsigned __int128)xorshift64(&job->rng) * job->region_ios) >> 64);
	} else {
		idx = job->next_io++;
		if (job->next_io == job->region_ios) {
			job->next_io = 0;
			job->pass++;
		}
	}
	t->offset_blocks = (job->region_start + idx) * job->io_blocks;

	switch (g_perf_opts.workload) {
	case WL_READ:
	case WL_RANDREAD:
		t->op = OP_READ;
		break;
	case WL_WRITE:
	case WL_RANDWRITE:
		t->op = OP_WRITE;
		break;
	case WL_RW:
	case WL_RANDRW:
		t->op = xorshift64(&job->rng) % 100 < g_perf_opts.read_pct ? OP_READ : OP_WRITE;
		break;
	case WL_VERIFY:
		t->op = OP_VERIFY_WRITE;
		fill_pattern(t->buf, t->offset_blocks, job->io_blocks, job->block_size, job->seed,
			     job->pass);
		break;
	case WL_UNMAP:
		t->op = OP_UNMAP;
		break;
	case WL_FLUSH:
		t->op = OP_FLUSH;
		break;
	}
	job->busy_tasks++;
	job->started++;
	task_issue(t);
}

/* May the job start another I/O? Not once stopped or its -n count is reached. */
static bool job_may_start(const struct perf_job *job)
{
	return job->running && (g_perf_opts.io_count == 0 || job->started < g_perf_opts.io_count);
}

/* The task is done: start the next I/O, or count it out when stopping. */
static void task_next(struct perf_task *t)
{
	struct perf_job *job = t->job;

	if (job_may_start(job)) {
		job->busy_tasks--;
		task_start(t);
		return;
	}
	if (--job->busy_tasks == 0) {
		job_finish(job);
	}
}

static void task_done(struct spio_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct perf_task *t = cb_arg;
	struct perf_job *job = t->job;
	uint64_t lat = spio_bdev_io_get_latency_ticks(bdev_io);

	spio_bdev_free_io(bdev_io);

	spio_histogram_add(&job->lat, lat);
	/* single writer: a plain load and store, no locked instruction */
	atomic_store_explicit(&job->ios, atomic_load_explicit(&job->ios, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&job->bytes,
			      atomic_load_explicit(&job->bytes, memory_order_relaxed) +
				  job->io_blocks * job->block_size,
			      memory_order_relaxed);

	if (!success) {
		job->io_errors++;
		job_report_error(job, g_perf_workload_names[g_perf_opts.workload],
				 t->offset_blocks);
	} else if (t->op == OP_VERIFY_WRITE) {
		/* read the block back, even when stopping, so every write is checked */
		t->op = OP_VERIFY_READ;
		task_issue(t);
		return;
	} else if (t->op == OP_VERIFY_READ) {
		task_verify(t);
	}
	task_next(t);
}

static void task_issue(void *arg)
{
	struct perf_task *t = arg;
	struct perf_job *job = t->job;
	uint64_t off = t->offset_blocks, n = job->io_blocks;
	int rc = -EINVAL;

	switch (t->op) {
	case OP_READ:
		rc = spio_bdev_read_blocks(job->desc, job->ch, t->buf, off, n, task_done, t);
		break;
	case OP_WRITE:
	case OP_VERIFY_WRITE:
		rc = spio_bdev_write_blocks(job->desc, job->ch, t->buf, off, n, task_done, t);
		break;
	case OP_VERIFY_READ:
		rc = spio_bdev_read_blocks(job->desc, job->ch, t->rbuf, off, n, task_done, t);
		break;
	case OP_UNMAP:
		rc = spio_bdev_unmap_blocks(job->desc, job->ch, off, n, task_done, t);
		break;
	case OP_FLUSH:
		rc = spio_bdev_flush_blocks(job->desc, job->ch, off, n, task_done, t);
		break;
	}
	if (spio_likely(rc == 0)) {
		return;
	}
	if (rc == -ENOMEM) {
		t->wait.bdev = spio_bdev_desc_get_bdev(job->desc);
		t->wait.cb_fn = task_issue;
		t->wait.cb_arg = t;
		rc = spio_bdev_queue_io_wait(t->wait.bdev, job->ch, &t->wait);
		if (rc == 0) {
			return;
		}
	}
	/* a submit error would repeat forever: count it and stop the job */
	job->io_errors++;
	if (job->io_errors <= PERF_MAX_REPORTS) {
		fprintf(stderr, "spio_perf: core %u bdev %s: submit failed: %s\n", job->pc->core,
			job->bdev_name, strerror(-rc));
	}
	job->running = false;
	task_next(t);
}

static void job_free_tasks(struct perf_job *job)
{
	uint32_t i;

	if (job->tasks == NULL) {
		return;
	}
	for (i = 0; i < job->depth; i++) {
		spio_dma_free(job->tasks[i].buf);
		spio_dma_free(job->tasks[i].rbuf);
	}
	free(job->tasks);
	job->tasks = NULL;
}

static void app_job_finished(void *arg);
static void app_job_ready(void *arg);

static void send_to_app(spio_msg_fn fn, struct perf_job *job)
{
	int rc = spio_thread_send_msg(g_perf.app_thread, fn, job);

	if (rc != 0) {
		SPIO_ERRLOG("cannot message the app thread: %d", rc);
	}
}

/* Release everything of the job on its thread, then tell the app thread. */
static void job_release(struct perf_job *job)
{
	struct perf_core *pc = job->pc;

	if (job->ch != NULL) {
		spio_put_io_channel(job->ch);
		job->ch = NULL;
	}
	if (job->desc != NULL) {
		spio_bdev_close(job->desc);
		job->desc = NULL;
	}
	job_free_tasks(job);
	if (++pc->nfinished == pc->njobs) {
		spio_thread_exit(pc->thread);
	}
}

static void job_finish(struct perf_job *job)
{
	job->end_tick = spio_get_ticks();
	job_release(job);
	send_to_app(app_job_finished, job);
}

static void job_event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	struct perf_job *job = ctx;

	if (type == SPIO_BDEV_EVENT_REMOVE) {
		fprintf(stderr, "spio_perf: bdev %s removed, stopping its job on core %u\n",
			job->bdev_name, job->pc->core);
		job->running = false;
	}
}

static int job_setup(struct perf_job *job)
{
	bool write = g_perf_opts.workload != WL_READ && g_perf_opts.workload != WL_RANDREAD;
	bool needs_buf = g_perf_opts.workload != WL_UNMAP && g_perf_opts.workload != WL_FLUSH;
	size_t len = job->io_blocks * job->block_size, align;
	uint32_t i;
	int rc;

	rc = spio_bdev_open_ext(job->bdev_name, write, job_event_cb, job, &job->desc);
	if (rc != 0) {
		fprintf(stderr, "spio_perf: cannot open bdev %s%s: %s\n", job->bdev_name,
			write ? " for writing" : "", strerror(-rc));
		return rc;
	}
	job->ch = spio_bdev_get_io_channel(job->desc);
	if (job->ch == NULL) {
		rc = -errno;
		fprintf(stderr, "spio_perf: bdev %s: no I/O channel on core %u: %s\n",
			job->bdev_name, job->pc->core, strerror(errno));
		return rc;
	}
	align = spio_bdev_get_buf_align(spio_bdev_desc_get_bdev(job->desc));
	job->tasks = calloc(job->depth, sizeof(*job->tasks));
	if (job->tasks == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < job->depth; i++) {
		struct perf_task *t = &job->tasks[i];

		t->job = job;
		if (!needs_buf) {
			continue;
		}
		t->buf = spio_dma_malloc(len, align);
		if (t->buf == NULL) {
			goto nomem;
		}
		/* writes carry a recognisable pattern rather than stale memory */
		fill_pattern(t->buf, 0, job->io_blocks, job->block_size, job->seed, 0);
		if (g_perf_opts.workload == WL_VERIFY) {
			t->rbuf = spio_dma_zmalloc(len, align);
			if (t->rbuf == NULL) {
				goto nomem;
			}
		}
	}
	return 0;
nomem:
	fprintf(stderr, "spio_perf: bdev %s: cannot allocate %u DMA buffers of %zu bytes\n",
		job->bdev_name, job->depth, len);
	return -ENOMEM;
}

static void job_setup_msg(void *arg)
{
	struct perf_job *job = arg;

	job->setup_rc = job_setup(job);
	if (job->setup_rc != 0) {
		job_release(job);
	}
	send_to_app(app_job_ready, job);
}

static void job_go_msg(void *arg)
{
	struct perf_job *job = arg;
	uint32_t i;

	job->running = true;
	job->start_tick = spio_get_ticks();
	/* hold a count so a submit error in the loop cannot finish the job under us */
	job->busy_tasks++;
	for (i = 0; i < job->depth && job_may_start(job); i++) {
		task_start(&job->tasks[i]);
	}
	if (--job->busy_tasks == 0) {
		job_finish(job);
	}
}

static void job_stop_msg(void *arg)
{
	struct perf_job *job = arg;

	if (job->start_tick == 0) {
		/* set up but never started */
		job->start_tick = spio_get_ticks();
		job_finish(job);
		return;
	}
	job->running = false;
	/* busy_tasks == 0 here means the job already finished on its own */
}

/*
 * Results (app thread)
 */

struct perf_result {
	double runtime_s;
	uint64_t ios;
	uint64_t bytes;
	double iops;
	double mibps;
	uint64_t io_errors;
	uint64_t miscompares;
	struct spio_histogram_summary lat;
};

static void job_result(const struct perf_job *job, struct perf_result *r)
{
	memset(r, 0, sizeof(*r));
	r->ios = atomic_load_explicit(&job->ios, memory_order_relaxed);
	r->bytes = atomic_load_explicit(&job->bytes, memory_order_relaxed);
	r->io_errors = job->io_errors;
	r->miscompares = job->miscompares;
	if (job->end_tick > job->start_tick && job->start_tick != 0) {
		r->runtime_s =
		    (double)(job->end_tick - job->start_tick) / (double)spio_get_ticks_hz();
		r->iops = (double)r->ios / r->runtime_s;
		r->mibps = (double)r->bytes / r->runtime_s / (1024.0 * 1024.0);
	}
	spio_histogram_summarize(&job->lat, spio_get_ticks_hz(), &r->lat);
}

/* The sum over jobs: IOPS and bandwidth add up, latencies merge. */
static void total_result(struct perf_result *r)
{
	static struct spio_histogram lat; /* 30 KiB: not on the stack */
	struct perf_result jr;
	uint32_t i;

	memset(r, 0, sizeof(*r));
	spio_histogram_init(&lat);
	for (i = 0; i < g_perf.njobs; i++) {
		const struct perf_job *job = &g_perf.jobs[i];

		job_result(job, &jr);
		r->ios += jr.ios;
		r->bytes += jr.bytes;
		r->iops += jr.iops;
		r->mibps += jr.mibps;
		r->io_errors += jr.io_errors;
		r->miscompares += jr.miscompares;
		r->runtime_s = SPIO_MAX(r->runtime_s, jr.runtime_s);
		spio_histogram_merge(&lat, &job->lat);
	}
	spio_histogram_summarize(&lat, spio_get_ticks_hz(), &r->lat);
}

static void print_row(const char *label, const struct perf_result *r)
{
	printf("%-24s %12.2f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f\n", label, r->iops,
	       r->mibps, r->lat.mean_us, r->lat.min_us, r->lat.max_us, r->lat.p50_us, r->lat.p99_us,
	       r->lat.p999_us);
}

static void print_table(void)
{
	struct perf_result r;
	char label[64];
	uint32_t i;

	printf("\n%-24s %12s %10s %10s %10s %10s %10s %10s %10s\n", "Job (core, bdev)", "IOPS",
	       "MiB/s", "avg(us)", "min(us)", "max(us)", "p50(us)", "p99(us)", "p99.9(us)");
	for (i = 0; i < g_perf.njobs; i++) {
		const struct perf_job *job = &g_perf.jobs[i];

		job_result(job, &r);
		snprintf(label, sizeof(label), "core %u %s", job->pc->core, job->bdev_name);
		print_row(label, &r);
		if (r.io_errors != 0 || r.miscompares != 0) {
			printf("%-24s io_errors %" PRIu64 ", miscompares %" PRIu64 "\n", "",
			       r.io_errors, r.miscompares);
		}
	}
	total_result(&r);
	print_row("Total", &r);
	printf("\nworkload %s, io size %" PRIu64 ", queue depth %u, %.2f s, %" PRIu64
	       " I/Os, %" PRIu64 " I/O errors, %" PRIu64 " miscompares\n",
	       g_perf_workload_names[g_perf_opts.workload], g_perf_opts.io_size, g_perf_opts.depth,
	       r.runtime_s, r.ios, r.io_errors, r.miscompares);
}

static int json_out(void *ctx, const void *data, size_t size)
{
	return fwrite(data, 1, size, stdout) == size ? 0 : -EIO;
}

static void json_result(struct spio_json_write_ctx *w, const struct perf_result *r)
{
	spio_json_write_named_double(w, "runtime_s", r->runtime_s);
	spio_json_write_named_uint64(w, "ios", r->ios);
	spio_json_write_named_double(w, "iops", r->iops);
	spio_json_write_named_double(w, "mib_per_s", r->mibps);
	spio_histogram_summary_write_json(w, &r->lat);
	spio_json_write_named_uint64(w, "io_errors", r->io_errors);
	spio_json_write_named_uint64(w, "miscompares", r->miscompares);
}

static void print_json(void)
{
	struct spio_json_write_ctx *w;
	struct perf_result r;
	uint32_t i;

	w = spio_json_write_begin(json_out, NULL, SPIO_JSON_WRITE_FLAG_FORMATTED);
	if (w == NULL) {
		fprintf(stderr, "spio_perf: cannot write JSON: %s\n", strerror(errno));
		return;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "workload", g_perf_workload_names[g_perf_opts.workload]);
	spio_json_write_named_uint64(w, "io_size", g_perf_opts.io_size);
	spio_json_write_named_uint32(w, "queue_depth", g_perf_opts.depth);
	if (g_perf_opts.workload == WL_RW || g_perf_opts.workload == WL_RANDRW) {
		spio_json_write_named_uint32(w, "read_pct", g_perf_opts.read_pct);
	}
	spio_json_write_named_uint64(w, "time_s", g_perf_opts.time_s);
	if (g_perf_opts.io_count != 0) {
		spio_json_write_named_uint64(w, "io_count", g_perf_opts.io_count);
	}
	spio_json_write_named_array_begin(w, "jobs");
	for (i = 0; i < g_perf.njobs; i++) {
		const struct perf_job *job = &g_perf.jobs[i];

		job_result(job, &r);
		spio_json_write_object_begin(w);
		spio_json_write_named_uint32(w, "core", job->pc->core);
		spio_json_write_named_string(w, "bdev", job->bdev_name);
		json_result(w, &r);
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
	total_result(&r);
	spio_json_write_named_object_begin(w, "total");
	json_result(w, &r);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
	if (spio_json_write_end(w) != 0) {
		fprintf(stderr, "spio_perf: writing the JSON result failed\n");
	}
}

/*
 * Orchestration (app thread)
 */

static void perf_cleanup(void)
{
	free(g_perf.jobs);
	free(g_perf.cores);
	g_perf.jobs = NULL;
	g_perf.cores = NULL;
}

static void perf_done(void)
{
	struct perf_result r;

	g_perf.state = ST_DONE;
	spio_poller_unregister(&g_perf.live_poller);
	spio_poller_unregister(&g_perf.end_poller);
	if (g_perf.exit_rc == PERF_EXIT_OK) {
		total_result(&r);
		if (r.io_errors != 0 || r.miscompares != 0) {
			g_perf.exit_rc = PERF_EXIT_FAIL;
		}
		if (g_perf_opts.json) {
			print_json();
		} else {
			print_table();
		}
		fflush(stdout);
	}
	perf_cleanup();
	spio_app_stop(g_perf.exit_rc);
}

static void perf_stop_jobs(void)
{
	uint32_t i;

	g_perf.state = ST_STOPPING;
	spio_poller_unregister(&g_perf.end_poller);
	for (i = 0; i < g_perf.njobs; i++) {
		struct perf_job *job = &g_perf.jobs[i];

		if (job->setup_rc == 0 && !job->finished &&
		    spio_thread_send_msg(job->pc->thread, job_stop_msg, job) != 0) {
			SPIO_ERRLOG("cannot stop the job on core %u", job->pc->core);
		}
	}
}

static void app_job_finished(void *arg)
{
	struct perf_job *job = arg;

	job->finished = true;
	if (++g_perf.nfinished == g_perf.njobs) {
		perf_done();
	}
}

static int live_poll(void *arg)
{
	uint64_t now = spio_get_ticks(), ios = 0, bytes = 0;
	double dt;
	uint32_t i;

	for (i = 0; i < g_perf.njobs; i++) {
		ios += atomic_load_explicit(&g_perf.jobs[i].ios, memory_order_relaxed);
		bytes += atomic_load_explicit(&g_perf.jobs[i].bytes, memory_order_relaxed);
	}
	dt = (double)(now - g_perf.last_tick) / (double)spio_get_ticks_hz();
	if (dt > 0) {
		fprintf(stderr, "%6.2f s: %.0f IOPS, %.1f MiB/s\n",
			(double)(now - g_perf.start_tick) / (double)spio_get_ticks_hz(),
			(double)(ios - g_perf.last_ios) / dt,
			(double)(bytes - g_perf.last_bytes) / dt / (1024.0 * 1024.0));
	}
	g_perf.last_tick = now;
	g_perf.last_ios = ios;
	g_perf.last_bytes = bytes;
	return SPIO_POLLER_BUSY;
}

static int end_poll(void *arg)
{
	if (g_perf.state == ST_RUNNING) {
		perf_stop_jobs();
	}
	return SPIO_POLLER_BUSY;
}

static void perf_go(void)
{
	uint32_t i;

	g_perf.state = ST_RUNNING;
	g_perf.start_tick = g_perf.last_tick = spio_get_ticks();
	g_perf.live_poller = spio_poller_register_named(live_poll, NULL, 1000000, "perf_live");
	g_perf.end_poller =
	    spio_poller_register_named(end_poll, NULL, g_perf_opts.time_s * 1000000, "perf_end");
	if (g_perf.live_poller == NULL || g_perf.end_poller == NULL) {
		fprintf(stderr, "spio_perf: cannot register the timers\n");
		g_perf.exit_rc = PERF_EXIT_FAIL;
	}
	for (i = 0; i < g_perf.njobs; i++) {
		struct perf_job *job = &g_perf.jobs[i];

		if (spio_thread_send_msg(job->pc->thread, job_go_msg, job) != 0) {
			SPIO_ERRLOG("cannot start the job on core %u", job->pc->core);
		}
	}
	if (g_perf.exit_rc != PERF_EXIT_OK) {
		perf_stop_jobs();
	}
}

static void app_job_ready(void *arg)
{
	struct perf_job *job = arg;

	if (job->setup_rc != 0) {
		g_perf.exit_rc = PERF_EXIT_FAIL;
		g_perf.nfinished++;
	}
	if (++g_perf.nready < g_perf.njobs) {
		return;
	}
	if (g_perf.nfinished == g_perf.njobs) {
		perf_done();
		return;
	}
	if (g_perf.exit_rc != PERF_EXIT_OK || g_perf.stop_requested) {
		perf_stop_jobs();
		return;
	}
	perf_go();
}

static void perf_shutdown(void)
{
	g_perf.stop_requested = true;
	switch (g_perf.state) {
	case ST_INIT:
		spio_app_stop(PERF_EXIT_FAIL);
		break;
	case ST_SETUP: /* stopped once every job is set up */
		break;
	case ST_RUNNING:
		perf_stop_jobs();
		break;
	case ST_STOPPING:
	case ST_DONE:
		break;
	}
}

/* Check that the workload can run on `bdev`; print why not. */
static int perf_check_bdev(struct spio_bdev *bdev)
{
	const char *name = spio_bdev_get_name(bdev);
	uint32_t bs = spio_bdev_get_block_size(bdev);
	uint64_t size = spio_bdev_get_num_blocks(bdev) * bs;
	enum spio_bdev_io_type need[2] = {SPIO_BDEV_IO_TYPE_READ, SPIO_BDEV_IO_TYPE_INVALID};
	uint32_t i;

	if (g_perf_opts.io_size % bs != 0) {
		fprintf(stderr,
			"spio_perf: bdev %s: io size %" PRIu64
			" is not a multiple of its block size %u\n",
			name, g_perf_opts.io_size, bs);
		return PERF_EXIT_USAGE;
	}
	if (g_perf_opts.io_size > size) {
		fprintf(stderr,
			"spio_perf: bdev %s: io size %" PRIu64 " beyond its %" PRIu64 " bytes\n",
			name, g_perf_opts.io_size, size);
		return PERF_EXIT_USAGE;
	}
	switch (g_perf_opts.workload) {
	case WL_READ:
	case WL_RANDREAD:
		break;
	case WL_UNMAP:
		need[0] = SPIO_BDEV_IO_TYPE_UNMAP;
		break;
	case WL_FLUSH:
		need[0] = SPIO_BDEV_IO_TYPE_FLUSH;
		break;
	default:
		need[1] = SPIO_BDEV_IO_TYPE_WRITE;
		break;
	}
	for (i = 0; i < 2; i++) {
		if (need[i] != SPIO_BDEV_IO_TYPE_INVALID &&
		    !spio_bdev_io_type_supported(bdev, need[i])) {
			fprintf(stderr,
				"spio_perf: bdev %s does not support the I/O of workload %s\n",
				name, g_perf_workload_names[g_perf_opts.workload]);
			return PERF_EXIT_USAGE;
		}
	}
	return 0;
}

/* The bdevs to run on: the -b names, or every unclaimed bdev. */
static int perf_pick_bdevs(struct spio_bdev ***out, uint32_t *count)
{
	struct spio_bdev **bdevs = NULL, *b;
	uint32_t n = 0, i;

	if (g_perf_opts.num_bdev_names > 0) {
		bdevs = calloc(g_perf_opts.num_bdev_names, sizeof(*bdevs));
		if (bdevs == NULL) {
			return PERF_EXIT_FAIL;
		}
		for (i = 0; i < g_perf_opts.num_bdev_names; i++) {
			uint32_t j;

			bdevs[n] = spio_bdev_get_by_name(g_perf_opts.bdev_names[i]);
			if (bdevs[n] == NULL) {
				fprintf(stderr, "spio_perf: -b %s: no such bdev\n",
					g_perf_opts.bdev_names[i]);
				free(bdevs);
				return PERF_EXIT_FAIL;
			}
			/* two jobs of one core on one bdev would break verify's ranges */
			for (j = 0; j < n && bdevs[j] != bdevs[n]; j++) {
			}
			if (j < n) {
				fprintf(stderr, "spio_perf: -b %s: bdev %s given twice\n",
					g_perf_opts.bdev_names[i], spio_bdev_get_name(bdevs[n]));
				free(bdevs);
				return PERF_EXIT_USAGE;
			}
			n++;
		}
	} else {
		for (b = spio_bdev_first(); b != NULL; b = spio_bdev_next(b)) {
			struct spio_bdev **nb;

			if (spio_bdev_is_claimed(b)) {
				continue;
			}
			nb = realloc(bdevs, (n + 1) * sizeof(*bdevs));
			if (nb == NULL) {
				free(bdevs);
				return PERF_EXIT_FAIL;
			}
			bdevs = nb;
			bdevs[n++] = b;
		}
		if (n == 0) {
			fprintf(stderr, "spio_perf: no bdev to run on (create some with -c "
					"config.json)\n");
			return PERF_EXIT_FAIL;
		}
	}
	*out = bdevs;
	*count = n;
	return 0;
}

static int perf_create_jobs(struct spio_bdev **bdevs, uint32_t nbdevs)
{
	struct spio_cpuset mask, one;
	uint32_t c, b;
	int core, rc;
	char name[32];

	spio_app_get_cpuset(&mask);
	g_perf.ncores = spio_cpuset_count(&mask);
	g_perf.cores = calloc(g_perf.ncores, sizeof(*g_perf.cores));
	g_perf.jobs = calloc((size_t)g_perf.ncores * nbdevs, sizeof(*g_perf.jobs));
	if (g_perf.cores == NULL || g_perf.jobs == NULL) {
		return PERF_EXIT_FAIL;
	}
	if ((uint64_t)g_perf_opts.depth * nbdevs > PERF_MAX_INFLIGHT_PER_CORE) {
		fprintf(stderr,
			"spio_perf: -q %u x %u bdevs: more than %u I/Os in flight per core\n",
			g_perf_opts.depth, nbdevs, PERF_MAX_INFLIGHT_PER_CORE);
		return PERF_EXIT_USAGE;
	}
	for (b = 0; b < nbdevs; b++) {
		rc = perf_check_bdev(bdevs[b]);
		if (rc != 0) {
			return rc;
		}
	}

	c = 0;
	SPIO_CPUSET_FOREACH (core, &mask) {
		struct perf_core *pc = &g_perf.cores[c];

		spio_cpuset_zero(&one);
		spio_cpuset_set_cpu(&one, (uint32_t)core, true);
		snprintf(name, sizeof(name), "perf_core%d", core);
		pc->core = (uint32_t)core;
		pc->njobs = nbdevs;
		pc->thread = spio_thread_create(name, &one);
		if (pc->thread == NULL) {
			fprintf(stderr, "spio_perf: cannot create a thread on core %d: %s\n", core,
				strerror(errno));
			return PERF_EXIT_FAIL;
		}
		for (b = 0; b < nbdevs; b++) {
			struct perf_job *job = &g_perf.jobs[g_perf.njobs];
			uint32_t bs = spio_bdev_get_block_size(bdevs[b]);
			uint64_t total_ios;

			job->pc = pc;
			job->bdev_name = spio_bdev_get_name(bdevs[b]);
			job->block_size = bs;
			job->io_blocks = g_perf_opts.io_size / bs;
			total_ios = spio_bdev_get_num_blocks(bdevs[b]) / job->io_blocks;
			job->region_start = 0;
			job->region_ios = total_ios;
			job->depth = g_perf_opts.depth;
			if (g_perf_opts.workload == WL_VERIFY) {
				/* a region per job, no two I/Os in flight on one block */
				job->region_start = total_ios * c / g_perf.ncores;
				job->region_ios =
				    total_ios * (c + 1) / g_perf.ncores - job->region_start;
				if (job->region_ios == 0) {
					fprintf(stderr,
						"spio_perf: bdev %s too small for %u verify jobs "
						"of %" PRIu64 " bytes\n",
						job->bdev_name, g_perf.ncores, g_perf_opts.io_size);
					return PERF_EXIT_USAGE;
				}
				job->depth = (uint32_t)SPIO_MIN(job->depth, job->region_ios);
			}
			job->seed = splitmix64(((uint64_t)core << 32) | b);
			job->rng = job->seed | 1;
			spio_histogram_init(&job->lat);
			g_perf.njobs++;
		}
		c++;
	}
	return 0;
}

static void perf_start(void *arg)
{
	struct spio_bdev **bdevs = NULL;
	uint32_t nbdevs = 0, i;
	int rc;

	g_perf.app_thread = spio_get_thread();
	g_perf.state = ST_SETUP;
	rc = perf_pick_bdevs(&bdevs, &nbdevs);
	if (rc == 0) {
		rc = perf_create_jobs(bdevs, nbdevs);
	}
	free(bdevs);
	if (rc != 0) {
		/* threads already created are exited by spio_app_stop() */
		g_perf.state = ST_DONE;
		perf_cleanup();
		spio_app_stop(rc);
		return;
	}
	for (i = 0; i < g_perf.njobs; i++) {
		struct perf_job *job = &g_perf.jobs[i];

		if (spio_thread_send_msg(job->pc->thread, job_setup_msg, job) != 0) {
			/* the app stops; the threads are reclaimed by the framework */
			fprintf(stderr, "spio_perf: cannot start the job on core %u\n",
				job->pc->core);
			spio_app_stop(PERF_EXIT_FAIL);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	struct spio_app_opts opts;
	int rc;

	perf_app_opts_init(&opts);
	opts.shutdown_cb = perf_shutdown;
	if (!perf_parse_args(argc, argv, &opts, &rc)) {
		perf_opts_fini();
		return rc;
	}
	rc = spio_app_start(&opts, perf_start, NULL);
	perf_opts_fini();
	if (rc < 0) {
		fprintf(stderr, "spio_perf: start-up failed: %s\n", strerror(-rc));
		return PERF_EXIT_FAIL;
	}
	return rc;
}
