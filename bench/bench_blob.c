/*
 * bench_blob: what the blobstore costs over the bdev under it, one JSON
 * object per line. One spio thread; a blobstore (1 MiB clusters) over a
 * bs_dev over a malloc bdev and over a uring bdev on a file (O_DIRECT,
 * written in full first so no read hits a hole).
 *
 * I/O cases, 4 KiB at queue depth 32, random offsets:
 *   raw_randread, raw_randwrite     spio_bdev_read/write on the region of
 *                                   the bdev that holds the thick blob
 *   thick_randread, thick_randwrite a thick blob filling 90% of the store,
 *                                   the same offset sequence as raw
 *   thin_first_write                a new thin blob of 90% of the free
 *                                   clusters: one write to every cluster,
 *                                   in random cluster order at a random
 *                                   4 KiB offset, so every write allocates
 *   thin_rewrite                    random writes over that blob afterwards
 * Each prints ops, seconds, iops and ns_per_op (elapsed time / ops: the
 * inverse throughput); the blob cases add "overhead", their ns_per_op over
 * raw's for the same direction.
 *
 * Metadata cases, one operation at a time, as ops_per_s and us_per_op:
 *   md_create_open_close_delete  one cycle of a thick one-cluster blob
 *   md_snapshot                  snapshot of a new thick blob of -n clusters
 *   md_snapshot_delete           deleting that snapshot: merged back into
 *                                its only clone (creating and deleting the
 *                                blob around the two is not timed)
 *   md_resize_up_sync            a thick blob 1 -> 65 clusters, then sync
 *   md_resize_down_sync          65 -> 1 clusters, then sync
 *
 * Every timed case runs a warm-up of a quarter of -t, then 3 runs of -t ms
 * (raw and blob runs alternate); the best run is printed. A thin_first_write
 * run is as many passes, each over a new blob, as fill its time. Blobs use
 * clear method none and the store is initialised without clearing, so no
 * unmap punches holes in the file between cases.
 *
 *   {"bench":"blob","dev":"malloc","case":"thick_randread","qd":32,"io_size":4096,
 *    "ops":...,"seconds":...,"iops":...,"ns_per_op":...,"overhead":...}
 *
 * Usage: bench_blob [-t ms] [-d dir] [-s MiB] [-b malloc|uring] [-c io|md] [-n clusters]
 *   -t  ms per timed run (default 300)       -d  dir of the uring file (default /tmp)
 *   -s  MiB of each bdev, >= 128 (default 1024)  -b  one bdev only  -c  one group only
 *   -n  clusters of the snapshotted blob (default 256)
 * Pin it to a core on a quiet machine for figures worth keeping (taskset -c N).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "spio/bdev.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_uring.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/task.h"
#include "spio/thread.h"
#include "spio/util.h"

#define RUNS 3
#define QD 32
#define IO_SIZE 4096u
#define CLUSTER_SIZE (1024u * 1024)
#define RESIZE_STEP 64 /* clusters added and removed by the resize cases */
#define TASK_STACK (256u * 1024)

enum dev_kind { DEV_MALLOC, DEV_URING };

static const char *const g_dev_names[] = {[DEV_MALLOC] = "malloc", [DEV_URING] = "uring"};

static struct {
	uint64_t ms;
	const char *dir;
	uint64_t size_mib;
	int only_dev; /* -1: both */
	const char *only_group;
	uint64_t snap_clusters;
} g_opts = {.ms = 300, .dir = "/tmp", .size_mib = 1024, .only_dev = -1, .snap_clusters = 256};

static struct spio_thread *g_thread;
static uint64_t g_run_ticks;
/* A blobstore could not be unloaded: its bdev never closes, so no orderly tear-down. */
static bool g_stuck;

/* One device under test: its bdev opened raw, and the blobstore over it. */
struct bench_dev {
	enum dev_kind kind;
	const char *bdev_name;
	char path[4096]; /* the uring bdev's file */
	bool file_made;
	bool bdev_made;
	struct spio_bdev_desc *desc;
	struct spio_io_channel *bdev_ch;
	struct spio_blob_store *bs;
	struct spio_io_channel *bs_ch;
	uint64_t io_unit;
	/* best raw ns per op, the denominators of "overhead" */
	double raw_read_ns;
	double raw_write_ns;
};

/*
 * Output
 */

struct result {
	uint64_t ops;
	uint64_t ticks;
};

static double ns_per_op(const struct result *r)
{
	return r->ops == 0 ? 0 : bench_ticks_to_ns(r->ticks) / (double)r->ops;
}

static void keep_best(struct result *best, const struct result *r)
{
	if (r->ops > 0 && (best->ops == 0 || ns_per_op(r) < ns_per_op(best))) {
		*best = *r;
	}
}

static struct spio_json_write_ctx *line_begin(const struct bench_dev *d, const char *name)
{
	struct spio_json_write_ctx *w = spio_json_write_begin(bench_file_write_cb, stdout, 0);

	if (w != NULL) {
		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "bench", "blob");
		spio_json_write_named_string(w, "dev", g_dev_names[d->kind]);
		spio_json_write_named_string(w, "case", name);
	}
	return w;
}

static void line_end(struct spio_json_write_ctx *w)
{
	spio_json_write_object_end(w);
	spio_json_write_end(w);
	fputc('\n', stdout);
	fflush(stdout);
}

/* An I/O case; `raw_ns` > 0 adds the overhead against it; `clusters` > 0 is printed. */
static void print_io(const struct bench_dev *d, const char *name, const struct result *r,
		     double raw_ns, uint64_t clusters)
{
	struct spio_json_write_ctx *w = line_begin(d, name);
	double ns = ns_per_op(r);

	if (w == NULL) {
		return;
	}
	spio_json_write_named_uint32(w, "qd", QD);
	spio_json_write_named_uint32(w, "io_size", IO_SIZE);
	if (clusters > 0) {
		spio_json_write_named_uint64(w, "clusters", clusters);
	}
	spio_json_write_named_uint64(w, "ops", r->ops);
	spio_json_write_named_double(w, "seconds",
				     bench_round_to(bench_ticks_to_ns(r->ticks) / 1e9, 4));
	spio_json_write_named_double(w, "iops", bench_round_to(1e9 / ns, 0));
	spio_json_write_named_double(w, "ns_per_op", bench_round_to(ns, 2));
	if (raw_ns > 0) {
		spio_json_write_named_double(w, "overhead", bench_round_to(ns / raw_ns, 3));
	}
	line_end(w);
}

static void print_md(const struct bench_dev *d, const char *name, const struct result *r,
		     uint64_t clusters)
{
	struct spio_json_write_ctx *w = line_begin(d, name);
	double ns = ns_per_op(r);

	if (w == NULL) {
		return;
	}
	if (clusters > 0) {
		spio_json_write_named_uint64(w, "clusters", clusters);
	}
	spio_json_write_named_uint64(w, "ops", r->ops);
	spio_json_write_named_double(w, "seconds",
				     bench_round_to(bench_ticks_to_ns(r->ticks) / 1e9, 4));
	spio_json_write_named_double(w, "ops_per_s", bench_round_to(1e9 / ns, 1));
	spio_json_write_named_double(w, "us_per_op", bench_round_to(ns / 1e3, 3));
	line_end(w);
}

/*
 * The I/O engine: QD slots, each resubmitted from its completion until the
 * deadline (or the cluster list) runs out; the task awaits the last one.
 */

enum job_target { JOB_RAW, JOB_BLOB };

struct job;

struct slot {
	struct job *job;
	void *buf;
};

struct job {
	enum job_target target;
	bool write;
	struct bench_dev *dev;
	struct spio_blob *blob;
	uint64_t region_start; /* raw: byte offset of the region */
	uint64_t region_ios;   /* size of the region in IO_SIZE units */
	uint64_t rng;
	/* first-write mode: one write per cluster, in this order */
	const uint32_t *order;
	uint64_t order_len;
	uint64_t next;
	uint64_t ios_per_cluster;

	uint64_t end;
	uint64_t done_ops;
	uint32_t inflight;
	int error;
	bool stop;
	struct spio_completion *finished;
	struct slot slots[QD];
};

/* splitmix64: the same seed gives raw and blob runs the same offsets. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void job_submit(struct slot *s);

static void job_complete(struct slot *s, bool ok)
{
	struct job *job = s->job;

	job->inflight--;
	job->done_ops++;
	if (!ok && job->error == 0) {
		job->error = -EIO;
	}
	if (job->error != 0 || spio_get_ticks() >= job->end) {
		job->stop = true;
	}
	if (!job->stop) {
		job_submit(s);
	}
	if (job->inflight == 0) {
		spio_completion_done(job->finished, job->error);
	}
}

static void raw_done(struct spio_bdev_io *bdev_io, bool success, void *cb_arg)
{
	spio_bdev_free_io(bdev_io);
	job_complete(cb_arg, success);
}

static void blob_done(void *cb_arg, int bserrno)
{
	struct slot *s = cb_arg;

	if (bserrno != 0 && s->job->error == 0) {
		s->job->error = bserrno;
	}
	job_complete(s, bserrno == 0);
}

/* Start one I/O on `s`; on a start error or an empty cluster list the job stops. */
static void job_submit(struct slot *s)
{
	struct job *job = s->job;
	struct bench_dev *d = job->dev;
	uint64_t io;
	int rc;

	if (job->order != NULL) {
		if (job->next == job->order_len) {
			job->stop = true;
			return;
		}
		io = job->order[job->next++] * job->ios_per_cluster +
		     rng_next(&job->rng) % job->ios_per_cluster;
	} else {
		io = rng_next(&job->rng) % job->region_ios;
	}

	if (job->target == JOB_RAW) {
		uint64_t off = job->region_start + io * IO_SIZE;

		rc = job->write
			 ? spio_bdev_write(d->desc, d->bdev_ch, s->buf, off, IO_SIZE, raw_done, s)
			 : spio_bdev_read(d->desc, d->bdev_ch, s->buf, off, IO_SIZE, raw_done, s);
	} else {
		uint64_t units = IO_SIZE / d->io_unit;

		if (job->write) {
			spio_blob_io_write(job->blob, d->bs_ch, s->buf, io * units, units,
					   blob_done, s);
		} else {
			spio_blob_io_read(job->blob, d->bs_ch, s->buf, io * units, units, blob_done,
					  s);
		}
		rc = 0;
	}
	if (rc != 0) {
		fprintf(stderr, "bench_blob: %s: submit failed: %s\n", d->bdev_name, strerror(-rc));
		job->error = rc;
		job->stop = true;
		return;
	}
	job->inflight++;
}

/* Run `job` (QD slots from `bufs`) until it stops; its op count and elapsed ticks into *r. */
static int job_run(struct job *job, void *bufs, uint64_t ticks, struct result *r)
{
	struct spio_completion finished;
	uint64_t start;
	int rc;

	spio_completion_init(&finished);
	job->finished = &finished;
	job->done_ops = 0;
	job->inflight = 0;
	job->error = 0;
	job->stop = false;
	job->next = 0;
	job->rng = 0x5eed;
	start = spio_get_ticks();
	job->end = start + ticks;
	for (int i = 0; i < QD && !job->stop; i++) {
		job->slots[i].job = job;
		job->slots[i].buf = (char *)bufs + (size_t)i * IO_SIZE;
		job_submit(&job->slots[i]);
	}
	if (job->inflight == 0) {
		/* nothing started: nobody will fill the completion */
		spio_await_started(&finished, job->error != 0 ? job->error : -EINVAL);
		return job->error != 0 ? job->error : -EINVAL;
	}
	rc = spio_await(&finished);
	r->ticks = spio_get_ticks() - start;
	r->ops = job->done_ops;
	return rc;
}

/*
 * Set-up and tear-down of a device
 */

static void bdev_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
}

/* The uring bdev's file: `size` bytes of non-zero data on disk, so reads never hit holes. */
static int make_file(struct bench_dev *d, uint64_t size)
{
	size_t chunk = 1024 * 1024;
	char *buf = malloc(chunk);
	int fd, rc = 0;

	if (buf == NULL) {
		return -ENOMEM;
	}
	memset(buf, 0xa5, chunk);
	snprintf(d->path, sizeof(d->path), "%s/bench_blob.%d.img", g_opts.dir, (int)getpid());
	fd = open(d->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "bench_blob: cannot create %s: %s\n", d->path, strerror(errno));
		free(buf);
		return rc;
	}
	d->file_made = true;
	for (uint64_t off = 0; off < size && rc == 0; off += chunk) {
		if (pwrite(fd, buf, chunk, (off_t)off) != (ssize_t)chunk) {
			rc = errno != 0 ? -errno : -EIO;
		}
	}
	if (rc == 0 && fsync(fd) != 0) {
		rc = -errno;
	}
	if (rc != 0) {
		fprintf(stderr, "bench_blob: writing %s: %s\n", d->path, strerror(-rc));
	}
	close(fd);
	free(buf);
	return rc;
}

static int make_bdev(struct bench_dev *d)
{
	uint64_t size = g_opts.size_mib * 1024 * 1024;
	struct spio_bdev *bdev = NULL;
	char err[256] = "";
	int rc;

	if (d->kind == DEV_MALLOC) {
		struct spio_bdev_malloc_opts o;

		spio_bdev_malloc_opts_init(&o, sizeof(o));
		o.name = d->bdev_name;
		o.num_blocks = size / IO_SIZE;
		o.block_size = IO_SIZE;
		rc = spio_bdev_malloc_create(&o, &bdev, err, sizeof(err));
	} else {
		struct spio_bdev_uring_opts o;

		rc = make_file(d, size);
		if (rc != 0) {
			return rc;
		}
		spio_bdev_uring_opts_init(&o, sizeof(o));
		o.name = d->bdev_name;
		o.filename = d->path;
		o.block_size = IO_SIZE;
		rc = spio_bdev_uring_create(&o, &bdev, err, sizeof(err));
	}
	if (rc != 0) {
		fprintf(stderr, "bench_blob: cannot create %s: %s %s\n", d->bdev_name,
			strerror(-rc), err);
		return rc;
	}
	d->bdev_made = true;
	return 0;
}

static int dev_open(struct bench_dev *d)
{
	struct spio_bs_dev *bs_dev = NULL;
	struct spio_bs_opts bo;
	int rc;

	rc = make_bdev(d);
	if (rc != 0) {
		return rc;
	}
	rc = spio_bdev_open_ext(d->bdev_name, true, bdev_event, NULL, &d->desc);
	if (rc != 0) {
		fprintf(stderr, "bench_blob: open %s: %s\n", d->bdev_name, strerror(-rc));
		return rc;
	}
	d->bdev_ch = spio_bdev_get_io_channel(d->desc);
	if (d->bdev_ch == NULL) {
		fprintf(stderr, "bench_blob: %s: no channel: %s\n", d->bdev_name, strerror(errno));
		return -ENOMEM;
	}
	rc = spio_bdev_create_bs_dev(d->bdev_name, true, NULL, NULL, &bs_dev);
	if (rc != 0) {
		fprintf(stderr, "bench_blob: bs_dev over %s: %s\n", d->bdev_name, strerror(-rc));
		return rc;
	}
	spio_bs_opts_init(&bo, sizeof(bo));
	bo.cluster_sz = CLUSTER_SIZE;
	bo.clear_method = SPIO_BS_CLEAR_WITH_NONE;
	rc = spio_bs_init_await(bs_dev, &bo, &d->bs);
	if (rc != 0) {
		fprintf(stderr, "bench_blob: spio_bs_init on %s: %s\n", d->bdev_name,
			strerror(-rc));
		return rc;
	}
	d->bs_ch = spio_bs_alloc_io_channel(d->bs);
	if (d->bs_ch == NULL) {
		fprintf(stderr, "bench_blob: %s: no blobstore channel\n", d->bdev_name);
		return -ENOMEM;
	}
	d->io_unit = spio_bs_get_io_unit_size(d->bs);
	if (d->io_unit == 0 || IO_SIZE % d->io_unit != 0) {
		fprintf(stderr, "bench_blob: io unit %" PRIu64 " does not divide %u\n", d->io_unit,
			IO_SIZE);
		return -EINVAL;
	}
	return 0;
}

static void delete_done(void *cb_arg, int rc)
{
	spio_completion_done(cb_arg, rc);
}

/* Undo what dev_open() did, as far as it got. */
static int dev_close(struct bench_dev *d)
{
	struct spio_completion c;
	int rc = 0, r;

	if (d->bs_ch != NULL) {
		spio_bs_free_io_channel(d->bs_ch);
	}
	if (d->bs != NULL) {
		r = spio_bs_unload_await(d->bs);
		if (r != 0) {
			fprintf(stderr, "bench_blob: unload on %s: %s\n", d->bdev_name,
				strerror(-r));
			g_stuck = true;
			rc = r;
		}
	}
	if (d->bdev_ch != NULL) {
		spio_put_io_channel(d->bdev_ch);
	}
	spio_bdev_close(d->desc);
	if (d->bdev_made && !g_stuck) {
		spio_completion_init(&c);
		r = d->kind == DEV_MALLOC ? spio_bdev_malloc_delete(d->bdev_name, delete_done, &c)
					  : spio_bdev_uring_delete(d->bdev_name, delete_done, &c);
		r = spio_await_started(&c, r);
		if (r != 0) {
			fprintf(stderr, "bench_blob: delete %s: %s\n", d->bdev_name, strerror(-r));
			rc = rc != 0 ? rc : r;
		}
	}
	if (d->file_made) {
		unlink(d->path);
	}
	return rc;
}

/*
 * Blobs
 */

/* A new blob of `clusters` (thick unless `thin`, never cleared when freed), opened. */
static int blob_make(struct bench_dev *d, uint64_t clusters, bool thin, spio_blob_id *id,
		     struct spio_blob **blob)
{
	struct spio_blob_opts o;
	int rc;

	spio_blob_opts_init(&o, sizeof(o));
	o.num_clusters = clusters;
	o.thin_provision = thin;
	o.clear_method = SPIO_BLOB_CLEAR_WITH_NONE;
	rc = spio_bs_create_blob_await(d->bs, &o, id);
	if (rc != 0) {
		fprintf(stderr, "bench_blob: %s: create blob of %" PRIu64 " clusters: %s\n",
			d->bdev_name, clusters, strerror(-rc));
		return rc;
	}
	if (blob == NULL) {
		return 0;
	}
	rc = spio_bs_open_blob_await(d->bs, *id, blob);
	if (rc != 0) {
		fprintf(stderr, "bench_blob: %s: open blob: %s\n", d->bdev_name, strerror(-rc));
	}
	return rc;
}

/* Close (if open) and delete a blob; reports failures. */
static int blob_drop(struct bench_dev *d, spio_blob_id id, struct spio_blob *blob)
{
	int rc = 0;

	if (blob != NULL) {
		rc = spio_blob_close_await(blob);
	}
	if (rc == 0) {
		rc = spio_bs_delete_blob_await(d->bs, id);
	}
	if (rc != 0) {
		fprintf(stderr, "bench_blob: %s: close/delete blob: %s\n", d->bdev_name,
			strerror(-rc));
	}
	return rc;
}

/*
 * I/O cases
 */

static uint64_t run_ticks(int run)
{
	return run == 0 ? g_run_ticks / 4 : g_run_ticks;
}

/* raw and thick, read and write, alternating per run. */
static int io_thick(struct bench_dev *d, void *bufs)
{
	struct result best[4] = {0};
	struct spio_blob *blob = NULL;
	spio_blob_id id;
	uint64_t n, total, md_clusters;
	int rc;

	n = spio_bs_free_cluster_count(d->bs) * 9 / 10;
	total = g_opts.size_mib * 1024 * 1024 / CLUSTER_SIZE;
	md_clusters = total - spio_bs_total_data_cluster_count(d->bs);
	if (n == 0) {
		fprintf(stderr, "bench_blob: %s: no free cluster\n", d->bdev_name);
		return -ENOSPC;
	}
	rc = blob_make(d, n, false, &id, &blob);
	if (rc != 0) {
		return rc;
	}

	/* The allocator hands out the lowest free clusters, so a new store's
	 * thick blob sits right after the metadata clusters. */
	struct job jobs[4] = {
	    {.target = JOB_RAW, .write = false},
	    {.target = JOB_BLOB, .write = false},
	    {.target = JOB_RAW, .write = true},
	    {.target = JOB_BLOB, .write = true},
	};
	for (int run = 0; run <= RUNS && rc == 0; run++) {
		for (int j = 0; j < 4 && rc == 0; j++) {
			struct result r;

			jobs[j].dev = d;
			jobs[j].blob = blob;
			jobs[j].region_start = md_clusters * CLUSTER_SIZE;
			jobs[j].region_ios = n * (CLUSTER_SIZE / IO_SIZE);
			rc = job_run(&jobs[j], bufs, run_ticks(run), &r);
			if (rc != 0) {
				fprintf(stderr, "bench_blob: %s: I/O failed: %s\n", d->bdev_name,
					strerror(-rc));
			} else if (run > 0) {
				keep_best(&best[j], &r);
			}
		}
	}
	if (rc == 0) {
		d->raw_read_ns = ns_per_op(&best[0]);
		d->raw_write_ns = ns_per_op(&best[2]);
		print_io(d, "raw_randread", &best[0], 0, 0);
		print_io(d, "thick_randread", &best[1], d->raw_read_ns, n);
		print_io(d, "raw_randwrite", &best[2], 0, 0);
		print_io(d, "thick_randwrite", &best[3], d->raw_write_ns, n);
	}
	return blob_drop(d, id, blob) != 0 && rc == 0 ? -EIO : rc;
}

/* A random order of 0 .. n-1 (Fisher-Yates). */
static uint32_t *shuffled(uint64_t n, uint64_t seed)
{
	uint32_t *a = malloc(n * sizeof(*a));

	if (a == NULL) {
		return NULL;
	}
	for (uint64_t i = 0; i < n; i++) {
		a[i] = (uint32_t)i;
	}
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rng_next(&seed) % (i + 1);
		uint32_t t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
	return a;
}

/* One first-write pass over a new thin blob (left open in *blob), added to *acc. */
static int thin_pass(struct bench_dev *d, struct job *fw, void *bufs, spio_blob_id *id,
		     struct spio_blob **blob, struct result *acc)
{
	struct result r;
	uint64_t got;
	int rc;

	rc = blob_make(d, fw->order_len, true, id, blob);
	if (rc != 0) {
		return rc;
	}
	fw->blob = *blob;
	rc = job_run(fw, bufs, UINT64_MAX / 2, &r);
	if (rc != 0) {
		fprintf(stderr, "bench_blob: %s: thin first write: %s\n", d->bdev_name,
			strerror(-rc));
		return rc;
	}
	/* every write must have allocated its own cluster, or this measured nothing */
	got = spio_blob_get_num_allocated_clusters(*blob);
	if (got != fw->order_len || r.ops != fw->order_len) {
		fprintf(stderr,
			"bench_blob: %s: thin pass: expected %" PRIu64
			" writes allocating as many clusters, got %" PRIu64 " writes and %" PRIu64
			" clusters\n",
			d->bdev_name, fw->order_len, r.ops, got);
		return -EIO;
	}
	acc->ops += r.ops;
	acc->ticks += r.ticks;
	return 0;
}

/* thin_first_write: passes over new blobs; then thin_rewrite on the last one. */
static int io_thin(struct bench_dev *d, void *bufs)
{
	struct result first = {0}, rewrite = {0};
	struct spio_blob *blob = NULL;
	spio_blob_id id = SPIO_BLOBID_INVALID;
	uint64_t n = spio_bs_free_cluster_count(d->bs) * 9 / 10;
	uint32_t *order;
	int rc = 0;

	if (n == 0) {
		fprintf(stderr, "bench_blob: %s: no free cluster\n", d->bdev_name);
		return -ENOSPC;
	}
	order = shuffled(n, 42);
	if (order == NULL) {
		return -ENOMEM;
	}
	struct job fw = {.target = JOB_BLOB,
			 .write = true,
			 .dev = d,
			 .order = order,
			 .order_len = n,
			 .ios_per_cluster = CLUSTER_SIZE / IO_SIZE};

	for (int run = 0; run <= RUNS && rc == 0; run++) {
		struct result acc = {0};

		while (rc == 0 && acc.ticks < run_ticks(run)) {
			if (blob != NULL) {
				rc = blob_drop(d, id, blob);
				blob = NULL;
			}
			if (rc == 0) {
				rc = thin_pass(d, &fw, bufs, &id, &blob, &acc);
			}
		}
		if (rc == 0 && run > 0) {
			keep_best(&first, &acc);
		}
	}

	struct job rw = {.target = JOB_BLOB,
			 .write = true,
			 .dev = d,
			 .blob = blob,
			 .region_ios = n * (CLUSTER_SIZE / IO_SIZE)};

	for (int run = 0; run <= RUNS && rc == 0; run++) {
		struct result r;

		rc = job_run(&rw, bufs, run_ticks(run), &r);
		if (rc != 0) {
			fprintf(stderr, "bench_blob: %s: thin rewrite: %s\n", d->bdev_name,
				strerror(-rc));
		} else if (run > 0) {
			keep_best(&rewrite, &r);
		}
	}
	if (rc == 0) {
		print_io(d, "thin_first_write", &first, d->raw_write_ns, n);
		print_io(d, "thin_rewrite", &rewrite, d->raw_write_ns, n);
	}
	free(order);
	if (blob != NULL && blob_drop(d, id, blob) != 0 && rc == 0) {
		rc = -EIO;
	}
	return rc;
}

static int io_cases(struct bench_dev *d)
{
	void *bufs = spio_dma_malloc((size_t)QD * IO_SIZE, IO_SIZE);
	int rc;

	if (bufs == NULL) {
		fprintf(stderr, "bench_blob: no DMA memory for the buffers\n");
		return -ENOMEM;
	}
	memset(bufs, 0x5a, (size_t)QD * IO_SIZE);
	rc = io_thick(d, bufs);
	if (rc == 0) {
		rc = io_thin(d, bufs);
	}
	spio_dma_free(bufs);
	return rc;
}

/*
 * Metadata cases: each run loops until its time is up; a cycle may time
 * two operations (t[0], t[1]) and untimed work between them.
 */

struct md_case {
	const char *name[2];
	uint64_t clusters;
	/* one cycle: adds to r[0] (and r[1]) the ticks of the timed parts */
	int (*cycle)(struct bench_dev *d, void *ctx, struct result r[2]);
	void *ctx;
};

static int md_run(struct bench_dev *d, const struct md_case *mc)
{
	struct result best[2] = {0};
	int rc = 0;

	for (int run = 0; run <= RUNS && rc == 0; run++) {
		struct result r[2] = {0};
		uint64_t end = spio_get_ticks() + run_ticks(run);

		while (rc == 0 && spio_get_ticks() < end) {
			rc = mc->cycle(d, mc->ctx, r);
		}
		if (run > 0) {
			keep_best(&best[0], &r[0]);
			keep_best(&best[1], &r[1]);
		}
	}
	if (rc != 0) {
		fprintf(stderr, "bench_blob: %s: %s: %s\n", d->bdev_name, mc->name[0],
			strerror(-rc));
		return rc;
	}
	for (int i = 0; i < 2; i++) {
		if (mc->name[i] != NULL) {
			print_md(d, mc->name[i], &best[i], mc->clusters);
		}
	}
	return 0;
}

/* Adds the ticks since `start` as one op to *r. */
static void account(struct result *r, uint64_t start)
{
	r->ticks += spio_get_ticks() - start;
	r->ops++;
}

static int cycle_create_delete(struct bench_dev *d, void *ctx, struct result r[2])
{
	struct spio_blob *blob = NULL;
	uint64_t start = spio_get_ticks();
	spio_blob_id id;
	int rc;

	rc = blob_make(d, 1, false, &id, &blob);
	if (rc == 0) {
		rc = blob_drop(d, id, blob);
	}
	if (rc == 0) {
		account(&r[0], start);
	}
	return rc;
}

static int cycle_snapshot(struct bench_dev *d, void *ctx, struct result r[2])
{
	uint64_t n = *(uint64_t *)ctx, start;
	spio_blob_id id, snap;
	int rc, r2;

	rc = blob_make(d, n, false, &id, NULL);
	if (rc != 0) {
		return rc;
	}
	start = spio_get_ticks();
	rc = spio_bs_create_snapshot_await(d->bs, id, NULL, &snap);
	if (rc == 0) {
		account(&r[0], start);
		start = spio_get_ticks();
		rc = spio_bs_delete_blob_await(d->bs, snap);
		if (rc == 0) {
			account(&r[1], start);
		}
	}
	r2 = spio_bs_delete_blob_await(d->bs, id);
	return rc != 0 ? rc : r2;
}

static int cycle_resize(struct bench_dev *d, void *ctx, struct result r[2])
{
	struct spio_blob *blob = ctx;
	uint64_t start = spio_get_ticks();
	int rc;

	rc = spio_blob_resize_await(blob, 1 + RESIZE_STEP);
	if (rc == 0) {
		rc = spio_blob_sync_md_await(blob);
	}
	if (rc != 0) {
		return rc;
	}
	account(&r[0], start);
	start = spio_get_ticks();
	rc = spio_blob_resize_await(blob, 1);
	if (rc == 0) {
		rc = spio_blob_sync_md_await(blob);
	}
	if (rc == 0) {
		account(&r[1], start);
	}
	return rc;
}

static int md_cases(struct bench_dev *d)
{
	struct spio_blob *blob = NULL;
	uint64_t n = g_opts.snap_clusters;
	spio_blob_id id;
	int rc, r;

	struct md_case create = {.name = {"md_create_open_close_delete"},
				 .cycle = cycle_create_delete};
	rc = md_run(d, &create);
	if (rc != 0) {
		return rc;
	}

	if (n > spio_bs_free_cluster_count(d->bs) / 2) {
		n = spio_bs_free_cluster_count(d->bs) / 2;
	}
	struct md_case snap = {.name = {"md_snapshot", "md_snapshot_delete"},
			       .clusters = n,
			       .cycle = cycle_snapshot,
			       .ctx = &n};
	rc = md_run(d, &snap);
	if (rc != 0) {
		return rc;
	}

	rc = blob_make(d, 1, false, &id, &blob);
	if (rc != 0) {
		return rc;
	}
	struct md_case resize = {.name = {"md_resize_up_sync", "md_resize_down_sync"},
				 .clusters = RESIZE_STEP,
				 .cycle = cycle_resize,
				 .ctx = blob};
	rc = md_run(d, &resize);
	r = blob_drop(d, id, blob);
	return rc != 0 ? rc : r;
}

/*
 * Driver
 */

static int run_dev(enum dev_kind kind)
{
	struct bench_dev d = {.kind = kind, .bdev_name = kind == DEV_MALLOC ? "Malloc0" : "Uring0"};
	int rc, r;

	rc = dev_open(&d);
	if (rc == 0 && (g_opts.only_group == NULL || strcmp(g_opts.only_group, "io") == 0)) {
		rc = io_cases(&d);
	}
	if (rc == 0 && (g_opts.only_group == NULL || strcmp(g_opts.only_group, "md") == 0)) {
		rc = md_cases(&d);
	}
	r = dev_close(&d);
	return rc != 0 ? rc : r;
}

static void layer_done(void *cb_arg, int rc)
{
	spio_completion_done(cb_arg, rc);
}

static void layer_fini_done(void *cb_arg)
{
	spio_completion_done(cb_arg, 0);
}

static int bench_main(void *arg)
{
	struct spio_completion c;
	int *status = arg;
	int rc, r;

	spio_completion_init(&c);
	rc = spio_await_started(&c, spio_bdev_initialize(NULL, layer_done, &c));
	if (rc != 0) {
		fprintf(stderr, "bench_blob: spio_bdev_initialize: %s\n", strerror(-rc));
		*status = rc;
		return rc;
	}
	for (int k = DEV_MALLOC; k <= DEV_URING; k++) {
		if (g_opts.only_dev < 0 || g_opts.only_dev == k) {
			r = run_dev((enum dev_kind)k);
			rc = rc != 0 ? rc : r;
		}
	}
	if (g_stuck) {
		*status = rc;
		return 0;
	}
	spio_completion_init(&c);
	r = spio_await_started(&c, spio_bdev_finish(layer_fini_done, &c));
	*status = rc != 0 ? rc : r;
	return 0;
}

static int usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-t ms] [-d dir] [-s MiB] [-b malloc|uring] [-c io|md] [-n clusters]\n",
		prog);
	return 2;
}

static int parse_u64_arg(const char *opt, const char *arg, uint64_t min, uint64_t max,
			 uint64_t *out)
{
	uint64_t v;

	if (spio_parse_u64(arg, 10, &v) != 0 || v < min || v > max) {
		fprintf(stderr, "bench_blob: %s %s: expected %" PRIu64 " .. %" PRIu64 "\n", opt,
			arg, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "t:d:s:b:c:n:")) != -1) {
		switch (opt) {
		case 't':
			if (bench_parse_ms(argv[0], optarg, &g_opts.ms) != 0) {
				return -EINVAL;
			}
			break;
		case 'd':
			g_opts.dir = optarg;
			break;
		case 's':
			/* room for the metadata and the resize cases' 1 + RESIZE_STEP clusters */
			if (parse_u64_arg("-s", optarg, 128, 1024 * 1024, &g_opts.size_mib) != 0) {
				return -EINVAL;
			}
			break;
		case 'b':
			if (strcmp(optarg, "malloc") == 0) {
				g_opts.only_dev = DEV_MALLOC;
			} else if (strcmp(optarg, "uring") == 0) {
				g_opts.only_dev = DEV_URING;
			} else {
				fprintf(stderr, "bench_blob: -b %s: expected malloc or uring\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'c':
			if (strcmp(optarg, "io") != 0 && strcmp(optarg, "md") != 0) {
				fprintf(stderr, "bench_blob: -c %s: expected io or md\n", optarg);
				return -EINVAL;
			}
			g_opts.only_group = optarg;
			break;
		case 'n':
			if (parse_u64_arg("-n", optarg, 1, 1u << 20, &g_opts.snap_clusters) != 0) {
				return -EINVAL;
			}
			break;
		default:
			return -EINVAL;
		}
	}
	return optind == argc ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	struct spio_env_opts eopts;
	struct spio_task_opts topts;
	int status = 1, rc;

	if (parse_args(argc, argv) != 0) {
		return usage(argv[0]);
	}
	g_run_ticks = spio_us_to_ticks(g_opts.ms * 1000);

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.name = "bench_blob";
	rc = spio_env_init(&eopts);
	if (rc != 0) {
		fprintf(stderr, "bench_blob: spio_env_init: %s\n", strerror(-rc));
		return 1;
	}
	rc = spio_thread_lib_init(NULL, 0);
	if (rc != 0) {
		fprintf(stderr, "bench_blob: spio_thread_lib_init: %s\n", strerror(-rc));
		spio_env_fini();
		return 1;
	}
	g_thread = spio_thread_create("bench_blob", NULL);
	if (g_thread == NULL) {
		fprintf(stderr, "bench_blob: spio_thread_create: %s\n", strerror(errno));
		spio_thread_lib_fini();
		spio_env_fini();
		return 1;
	}
	spio_set_thread(g_thread);

	spio_task_opts_init(&topts, sizeof(topts));
	topts.stack_size = TASK_STACK;
	topts.name = "bench_blob";
	rc = spio_task_spawn(bench_main, &status, &topts, NULL);
	if (rc != 0) {
		fprintf(stderr, "bench_blob: spio_task_spawn: %s\n", strerror(-rc));
	}
	/* the task ends with the thread's last task; nothing else runs here */
	while (rc == 0 && spio_task_get_count() > 0) {
		spio_thread_poll(g_thread, 0, 0);
	}
	if (g_stuck) {
		fprintf(stderr, "bench_blob: exiting without tear-down\n");
		return 1;
	}

	spio_thread_exit(g_thread);
	while (!spio_thread_is_exited(g_thread)) {
		spio_thread_poll(g_thread, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
	return rc == 0 && status == 0 ? 0 : 1;
}
