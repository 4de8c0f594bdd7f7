/*
 * bench_blobfs: what BlobFS costs over the bdev under it, in the same run on
 * the same bdev, one JSON object per line. One spio thread (spio_app on core
 * 0, the bdevs from a JSON configuration).
 *
 * The bdev's content is destroyed: a new filesystem is made on it (mkfs),
 * and the raw cases write over it afterwards. Unless --mkfs is given, the
 * bench refuses a bdev whose first 4 KiB are not all zero (it may hold a
 * filesystem or a blobstore somebody wants).
 *
 * Cases, each through the API (one file of -s bytes, default 1 GiB) and then
 * on the raw bdev (spio_bdev_write/read at the same offsets and sizes, in
 * the region right after the blobstore's metadata, where a new store puts
 * the first file's clusters), queue depth 32 throughout:
 *   seq_write      the whole file in 128 KiB writes, then spio_file_sync,
 *                  timed together ("blobfs_sync_seconds": the sync's part) (raw: the writes;
 * neither flushes the device's write cache, see raw_case()) seq_read       the whole file in 128
 * KiB reads after unload + load randread_4k    4 KiB reads at random aligned offsets for -t seconds
 *   randread_128k  128 KiB reads, likewise
 * Every BlobFS case starts on a freshly loaded filesystem, so its cache is
 * cold (with the default 256 MiB budget a 1 GiB file mostly misses); the
 * random cases use the same offset sequence on both sides. Every 4 KiB of
 * data starts with its file offset, which every read checks: misplaced or
 * missing data fails the run instead of producing a figure.
 *
 *   {"bench":"blobfs","bdev":"Uring0","case":"randread_4k","io_size":4096,"qd":32,
 *    "file_size":...,"cache_size":...,"blobfs_ops":...,"blobfs_seconds":...,
 *    "blobfs_iops":...,"blobfs_mib_s":...,"raw_ops":...,...,"ratio":...}
 * "ratio" is blobfs_mib_s / raw_mib_s (below 1: BlobFS is slower).
 *
 * Usage: bench_blobfs [-c CONFIG.json -b BDEV] [-s SIZE] [-t SECONDS]
 *                     [--cache-size SIZE] [--cache-buffer SIZE] [--mkfs]
 * Without -c and -b: a uring bdev over a sparse file of its own in $TMPDIR
 * (default /tmp) of -s + 1/8 + 64 MiB, removed at the end.
 * Exit status 0, 1 when a case failed, 2 for bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/blobfs.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/task.h"
#include "spio/thread.h"
#include "spio/util.h"

#define QD 32
#define SEQ_IO (128u * 1024)
#define STAMP_UNIT 4096u /* every 4 KiB of data starts with its file offset */
#define STAMP_MAGIC 0x626c6f6266733031ULL
#define TASK_STACK (512u * 1024)
#define FILE_NAME "bench_blobfs.dat"
#define GUARD_BYTES 4096u

static struct {
	const char *config;
	const char *bdev;
	uint64_t file_size;
	uint64_t seconds;
	uint64_t cache_size;
	uint64_t cache_buffer;
	bool mkfs;
} g_opts = {.file_size = 1ull << 30,
	    .seconds = 10,
	    .cache_size = SPIO_BLOBFS_DEFAULT_CACHE_SIZE,
	    .cache_buffer = SPIO_BLOBFS_DEFAULT_CACHE_BUFFER_SIZE};

/* Ctrl-C / SIGTERM: jobs stop at their next I/O, the task unwinds, then the app stops. */
static volatile bool g_interrupted;
static int g_exit = 1;

enum case_id { CASE_SEQ_WRITE, CASE_SEQ_READ, CASE_RAND_4K, CASE_RAND_128K, CASE_COUNT };

static const struct {
	const char *name;
	uint32_t io_size;
	bool write;
	bool random;
} g_cases[CASE_COUNT] = {
    [CASE_SEQ_WRITE] = {"seq_write", SEQ_IO, true, false},
    [CASE_SEQ_READ] = {"seq_read", SEQ_IO, false, false},
    [CASE_RAND_4K] = {"randread_4k", 4096, false, true},
    [CASE_RAND_128K] = {"randread_128k", SEQ_IO, false, true},
};

struct result {
	uint64_t ops;
	uint64_t bytes;
	uint64_t ticks;
};

/* The measured figures, printed once both sides ran. */
static struct result g_fs_res[CASE_COUNT];
static struct result g_raw_res[CASE_COUNT];
/* Of the BlobFS seq_write time, the final spio_file_sync's part. */
static uint64_t g_sync_ticks;

/*
 * The I/O engine: QD slots, each resubmitted from its completion until the
 * offsets (sequential) or the time (random) run out; the task awaits the last.
 */

enum target { TARGET_FS, TARGET_RAW };

struct job;

struct slot {
	struct job *job;
	char *buf;
	uint64_t off; /* file offset of the I/O in flight */
};

struct job {
	enum target target;
	enum case_id cid;
	uint32_t io_size;
	bool write;
	bool random;
	struct spio_file *file;
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	uint64_t raw_base; /* byte offset of file offset 0 on the bdev */

	uint64_t next; /* sequential: next file offset */
	uint64_t rng;
	uint64_t end; /* random: deadline in ticks */
	uint64_t ops;
	uint64_t bytes;
	uint32_t inflight;
	int error;
	bool stop;
	struct spio_completion *finished;
	struct slot slots[QD];
};

/* splitmix64: the same seed gives the BlobFS and the raw run the same offsets. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void stamp(char *buf, uint64_t off, uint32_t len)
{
	for (uint32_t i = 0; i < len; i += STAMP_UNIT) {
		uint64_t v[2] = {STAMP_MAGIC, off + i};

		memcpy(buf + i, v, sizeof(v));
	}
}

static int check_stamp(const struct job *job, const char *buf, uint64_t off, uint32_t len)
{
	for (uint32_t i = 0; i < len; i += STAMP_UNIT) {
		uint64_t v[2];

		memcpy(v, buf + i, sizeof(v));
		if (v[0] != STAMP_MAGIC || v[1] != off + i) {
			fprintf(stderr,
				"bench_blobfs: %s %s: wrong data at file offset %" PRIu64
				" (read %#" PRIx64 " %#" PRIx64 ")\n",
				job->target == TARGET_FS ? "blobfs" : "raw", g_cases[job->cid].name,
				off + i, v[0], v[1]);
			return -EILSEQ;
		}
	}
	return 0;
}

/* The next file offset of the job, or false when it is done. */
static bool job_next(struct job *job, uint64_t *off)
{
	if (job->stop || g_interrupted) {
		return false;
	}
	if (job->random) {
		if (spio_get_ticks() >= job->end) {
			return false;
		}
		*off = rng_next(&job->rng) % (g_opts.file_size / job->io_size) * job->io_size;
		return true;
	}
	if (job->next >= g_opts.file_size) {
		return false;
	}
	*off = job->next;
	job->next += job->io_size;
	return true;
}

static void job_submit(struct slot *s);

static void job_complete(struct slot *s, int status)
{
	struct job *job = s->job;

	job->inflight--;
	/* the first wrong block is reported; the rest of the job only drains */
	if (status == 0 && !job->write && job->error == 0) {
		status = check_stamp(job, s->buf, s->off, job->io_size);
	}
	if (status == 0) {
		job->ops++;
		job->bytes += job->io_size;
	} else if (job->error == 0) {
		job->error = status;
	}
	if (job->error != 0) {
		job->stop = true;
	}
	job_submit(s);
	if (job->inflight == 0) {
		spio_completion_done(job->finished, job->error);
	}
}

static void fs_write_done(void *cb_arg, int fserrno)
{
	job_complete(cb_arg, fserrno);
}

static void fs_read_done(void *cb_arg, int64_t result)
{
	struct slot *s = cb_arg;

	if (result >= 0 && (uint64_t)result != s->job->io_size) {
		fprintf(stderr, "bench_blobfs: short read at %" PRIu64 ": %" PRId64 " bytes\n",
			s->off, result);
		result = -EIO;
	}
	job_complete(s, result < 0 ? (int)result : 0);
}

static void raw_done(struct spio_bdev_io *bdev_io, bool success, void *cb_arg)
{
	spio_bdev_free_io(bdev_io);
	job_complete(cb_arg, success ? 0 : -EIO);
}

/* Start the slot's next I/O, if the job has one. */
static void job_submit(struct slot *s)
{
	struct job *job = s->job;
	uint64_t off;
	int rc = 0;

	if (!job_next(job, &off)) {
		return;
	}
	s->off = off;
	if (job->write) {
		stamp(s->buf, off, job->io_size);
	}
	if (job->target == TARGET_FS) {
		/* the callback never runs inside the call */
		if (job->write) {
			spio_file_write_async(job->file, s->buf, off, job->io_size, fs_write_done,
					      s);
		} else {
			spio_file_read_async(job->file, s->buf, off, job->io_size, fs_read_done, s);
		}
	} else {
		uint64_t at = job->raw_base + off;

		rc =
		    job->write
			? spio_bdev_write(job->desc, job->ch, s->buf, at, job->io_size, raw_done, s)
			: spio_bdev_read(job->desc, job->ch, s->buf, at, job->io_size, raw_done, s);
	}
	if (rc != 0) {
		fprintf(stderr, "bench_blobfs: raw %s: submit failed: %s\n", g_cases[job->cid].name,
			strerror(-rc));
		job->error = rc;
		job->stop = true;
		return;
	}
	job->inflight++;
}

/* Run the job over QD slots of `bufs` (each SEQ_IO bytes) and account it in *r. */
static int job_run(struct job *job, char *bufs, struct result *r)
{
	struct spio_completion finished;
	uint64_t start;
	int rc;

	spio_completion_init(&finished);
	job->finished = &finished;
	job->io_size = g_cases[job->cid].io_size;
	job->write = g_cases[job->cid].write;
	job->random = g_cases[job->cid].random;
	job->rng = 0x5eed + (uint64_t)job->cid;
	start = spio_get_ticks();
	job->end = start + spio_us_to_ticks(g_opts.seconds * 1000000);
	for (int i = 0; i < QD; i++) {
		job->slots[i].job = job;
		job->slots[i].buf = bufs + (size_t)i * SEQ_IO;
		job_submit(&job->slots[i]);
	}
	if (job->inflight == 0) {
		rc = job->error != 0 ? job->error : (g_interrupted ? -EINTR : -EINVAL);
		spio_await_started(&finished, rc);
		return rc;
	}
	rc = spio_await(&finished);
	r->ticks += spio_get_ticks() - start;
	r->ops += job->ops;
	r->bytes += job->bytes;
	if (rc == 0 && g_interrupted) {
		rc = -EINTR;
	}
	if (rc != 0 && rc != -EILSEQ && rc != -EINTR) {
		fprintf(stderr, "bench_blobfs: %s %s: %s\n",
			job->target == TARGET_FS ? "blobfs" : "raw", g_cases[job->cid].name,
			strerror(-rc));
	}
	return rc;
}

/*
 * Output
 */

static void write_side(struct spio_json_write_ctx *w, const char *side, const struct result *r)
{
	char name[32];
	double s = bench_ticks_to_ns(r->ticks) / 1e9;

	snprintf(name, sizeof(name), "%s_ops", side);
	spio_json_write_named_uint64(w, name, r->ops);
	snprintf(name, sizeof(name), "%s_seconds", side);
	spio_json_write_named_double(w, name, bench_round_to(s, 4));
	snprintf(name, sizeof(name), "%s_iops", side);
	spio_json_write_named_uint64(w, name, s > 0 ? (uint64_t)(r->ops / s + 0.5) : 0);
	snprintf(name, sizeof(name), "%s_mib_s", side);
	spio_json_write_named_double(
	    w, name, bench_round_to(s > 0 ? (double)r->bytes / (1024.0 * 1024.0) / s : 0, 1));
}

static double mib_s(const struct result *r)
{
	double s = bench_ticks_to_ns(r->ticks) / 1e9;

	return s > 0 ? (double)r->bytes / (1024.0 * 1024.0) / s : 0;
}

static void print_case(enum case_id cid)
{
	struct spio_json_write_ctx *w = spio_json_write_begin(bench_file_write_cb, stdout, 0);
	double raw = mib_s(&g_raw_res[cid]);

	if (w == NULL) {
		return;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "bench", "blobfs");
	spio_json_write_named_string(w, "bdev", g_opts.bdev);
	spio_json_write_named_string(w, "case", g_cases[cid].name);
	spio_json_write_named_uint32(w, "io_size", g_cases[cid].io_size);
	spio_json_write_named_uint32(w, "qd", QD);
	spio_json_write_named_uint64(w, "file_size", g_opts.file_size);
	spio_json_write_named_uint64(w, "cache_size", g_opts.cache_size);
	spio_json_write_named_uint64(w, "cache_buffer_size", g_opts.cache_buffer);
	write_side(w, "blobfs", &g_fs_res[cid]);
	if (cid == CASE_SEQ_WRITE) {
		spio_json_write_named_double(
		    w, "blobfs_sync_seconds",
		    bench_round_to(bench_ticks_to_ns(g_sync_ticks) / 1e9, 4));
	}
	write_side(w, "raw", &g_raw_res[cid]);
	spio_json_write_named_double(w, "ratio",
				     bench_round_to(raw > 0 ? mib_s(&g_fs_res[cid]) / raw : 0, 3));
	spio_json_write_object_end(w);
	spio_json_write_end(w);
	fputc('\n', stdout);
	fflush(stdout);
}

/*
 * The raw bdev
 */

static void bdev_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
}

struct raw {
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	uint64_t size;
	uint32_t block_size;
	size_t align;
};

static int raw_open(struct raw *raw)
{
	struct spio_bdev *bdev;
	int rc;

	rc = spio_bdev_open_ext(g_opts.bdev, true, bdev_event, NULL, &raw->desc);
	if (rc != 0) {
		fprintf(stderr, "bench_blobfs: cannot open bdev %s: %s\n", g_opts.bdev,
			strerror(-rc));
		return rc;
	}
	bdev = spio_bdev_desc_get_bdev(raw->desc);
	raw->block_size = spio_bdev_get_block_size(bdev);
	raw->size = spio_bdev_get_num_blocks(bdev) * raw->block_size;
	raw->align = spio_bdev_get_buf_align(bdev);
	raw->ch = spio_bdev_get_io_channel(raw->desc);
	if (raw->ch == NULL) {
		fprintf(stderr, "bench_blobfs: %s: no I/O channel\n", g_opts.bdev);
		return -ENOMEM;
	}
	return 0;
}

static void raw_close(struct raw *raw)
{
	if (raw->ch != NULL) {
		spio_put_io_channel(raw->ch);
		raw->ch = NULL;
	}
	if (raw->desc != NULL) {
		spio_bdev_close(raw->desc);
		raw->desc = NULL;
	}
}

/* Without --mkfs, a bdev whose first 4 KiB hold anything is left alone. */
static int guard_check(struct raw *raw)
{
	uint64_t len = raw->block_size > GUARD_BYTES ? raw->block_size : GUARD_BYTES;
	char *buf;
	int rc;

	if (g_opts.mkfs) {
		return 0;
	}
	buf = spio_dma_malloc(len, raw->align > 0 ? raw->align : 4096);
	if (buf == NULL) {
		return -ENOMEM;
	}
	rc = spio_bdev_read_await(raw->desc, raw->ch, buf, 0, len);
	if (rc == 0) {
		for (uint64_t i = 0; i < GUARD_BYTES; i++) {
			if (buf[i] != 0) {
				fprintf(stderr,
					"bench_blobfs: bdev %s is not empty (its first 4 KiB are "
					"not zero); the bench destroys its content: give --mkfs "
					"to go ahead\n",
					g_opts.bdev);
				rc = -EEXIST;
				break;
			}
		}
	} else {
		fprintf(stderr, "bench_blobfs: reading %s: %s\n", g_opts.bdev, strerror(-rc));
	}
	spio_dma_free(buf);
	return rc;
}

/*
 * BlobFS side
 */

static void fs_opts(struct spio_blobfs_opts *o)
{
	spio_fs_opts_init(o, sizeof(*o));
	o->cache_size = g_opts.cache_size;
	o->cache_buffer_size = (uint32_t)g_opts.cache_buffer;
}

/* Init (mkfs) or load the filesystem on the bdev. */
static int fs_start(bool init, struct spio_filesystem **fs)
{
	struct spio_blobfs_opts o;
	struct spio_bs_dev *dev = NULL;
	int rc;

	rc = spio_bdev_create_bs_dev(g_opts.bdev, true, NULL, NULL, &dev);
	if (rc != 0) {
		fprintf(stderr, "bench_blobfs: bs_dev over %s: %s\n", g_opts.bdev, strerror(-rc));
		return rc;
	}
	fs_opts(&o);
	rc = init ? spio_fs_init_await(dev, &o, fs) : spio_fs_load_await(dev, &o, fs);
	if (rc != 0) {
		fprintf(stderr, "bench_blobfs: spio_fs_%s on %s: %s\n", init ? "init" : "load",
			g_opts.bdev, strerror(-rc));
	}
	return rc;
}

static int fs_stop(struct spio_filesystem *fs)
{
	int rc = spio_fs_unload_await(fs);

	if (rc != 0) {
		fprintf(stderr, "bench_blobfs: spio_fs_unload: %s\n", strerror(-rc));
	}
	return rc;
}

/*
 * Make the filesystem, check it has room, and find where the file's data
 * will sit on the bdev: a new blobstore hands out the lowest free clusters,
 * right after its metadata, and the file is its only blob.
 */
static int fs_mkfs(uint64_t bdev_size, uint64_t *raw_base)
{
	struct spio_filesystem *fs = NULL;
	struct spio_blob_store *bs;
	uint64_t cluster, need, md_clusters;
	int rc, r;

	rc = fs_start(true, &fs);
	if (rc != 0) {
		return rc;
	}
	bs = spio_fs_get_bs(fs);
	cluster = spio_bs_get_cluster_size(bs);
	need = (g_opts.file_size + cluster - 1) / cluster;
	md_clusters = bdev_size / cluster - spio_bs_total_data_cluster_count(bs);
	*raw_base = md_clusters * cluster;
	if (need > spio_bs_free_cluster_count(bs)) {
		fprintf(stderr,
			"bench_blobfs: a %" PRIu64 "-byte file needs %" PRIu64
			" clusters, %s has %" PRIu64 " free: give a smaller -s\n",
			g_opts.file_size, need, g_opts.bdev, spio_bs_free_cluster_count(bs));
		rc = -ENOSPC;
	}
	r = fs_stop(fs);
	return rc != 0 ? rc : r;
}

/* One BlobFS case on a freshly loaded filesystem (cold cache). */
static int fs_case(enum case_id cid, char *bufs)
{
	uint32_t flags = cid == CASE_SEQ_WRITE ? SPIO_BLOBFS_OPEN_CREATE | SPIO_BLOBFS_OPEN_EXCL
					       : SPIO_BLOBFS_OPEN_RDONLY;
	struct spio_filesystem *fs = NULL;
	struct spio_file *file = NULL;
	struct job job = {.target = TARGET_FS, .cid = cid};
	int rc, r;

	rc = fs_start(false, &fs);
	if (rc != 0) {
		return rc;
	}
	rc = spio_fs_open_file_await(fs, FILE_NAME, flags, &file);
	if (rc != 0) {
		fprintf(stderr, "bench_blobfs: open %s: %s\n", FILE_NAME, strerror(-rc));
	} else {
		job.file = file;
		rc = job_run(&job, bufs, &g_fs_res[cid]);
		if (rc == 0 && cid == CASE_SEQ_WRITE) {
			/* the write is done when it is durable: the sync is part of it */
			uint64_t start = spio_get_ticks();

			rc = spio_file_sync_await(file);
			g_sync_ticks = spio_get_ticks() - start;
			g_fs_res[cid].ticks += g_sync_ticks;
			if (rc != 0) {
				fprintf(stderr, "bench_blobfs: sync: %s\n", strerror(-rc));
			} else if (spio_file_get_length(file) != g_opts.file_size) {
				fprintf(stderr,
					"bench_blobfs: file length %" PRIu64
					" after writing %" PRIu64 " bytes\n",
					spio_file_get_length(file), g_opts.file_size);
				rc = -EIO;
			}
		}
		r = spio_file_close_await(file);
		if (r != 0) {
			fprintf(stderr, "bench_blobfs: close: %s\n", strerror(-r));
			rc = rc != 0 ? rc : r;
		}
	}
	r = fs_stop(fs);
	return rc != 0 ? rc : r;
}

/* One raw case on the bdev region of the file. */
static int raw_case(struct raw *raw, enum case_id cid, uint64_t base, char *bufs)
{
	struct job job = {
	    .target = TARGET_RAW, .cid = cid, .desc = raw->desc, .ch = raw->ch, .raw_base = base};
	/*
	 * No flush after the raw writes: spio_file_sync makes data durable the
	 * blobstore's way, as completed writes (the device's write cache is
	 * flushed only at unload), so the raw side stops at completion too.
	 */
	return job_run(&job, bufs, &g_raw_res[cid]);
}

static int bench_run(void)
{
	struct raw raw = {0};
	uint64_t base = 0;
	char *bufs;
	int rc;

	rc = raw_open(&raw);
	if (rc == 0) {
		rc = guard_check(&raw);
	}
	if (rc == 0 && g_opts.file_size % raw.block_size != 0) {
		fprintf(stderr,
			"bench_blobfs: -s %" PRIu64 " is not a multiple of %s's %u-byte blocks\n",
			g_opts.file_size, g_opts.bdev, raw.block_size);
		rc = -EINVAL;
	}
	/* the filesystem opens the bdev itself: no raw descriptor while it runs */
	raw_close(&raw);
	if (rc != 0) {
		return rc;
	}
	bufs = spio_dma_malloc((size_t)QD * SEQ_IO, raw.align > 4096 ? raw.align : 4096);
	if (bufs == NULL) {
		fprintf(stderr, "bench_blobfs: no DMA memory for %u buffers\n", QD);
		return -ENOMEM;
	}
	memset(bufs, 0x5a, (size_t)QD * SEQ_IO);

	rc = fs_mkfs(raw.size, &base);
	for (int c = 0; c < CASE_COUNT && rc == 0; c++) {
		rc = fs_case((enum case_id)c, bufs);
	}
	if (rc == 0) {
		rc = raw_open(&raw);
	}
	for (int c = 0; c < CASE_COUNT && rc == 0; c++) {
		rc = raw_case(&raw, (enum case_id)c, base, bufs);
	}
	raw_close(&raw);
	spio_dma_free(bufs);
	if (rc == 0) {
		for (int c = 0; c < CASE_COUNT; c++) {
			print_case((enum case_id)c);
		}
	} else if (rc == -EINTR) {
		fprintf(stderr, "bench_blobfs: interrupted\n");
	}
	return rc;
}

/*
 * Driver: spio_app on one core; the bench runs in a task on the app thread
 * once the configuration's bdevs are examined.
 */

static int bench_task(void *arg)
{
	int rc = bench_run();

	g_exit = rc == 0 ? 0 : 1;
	spio_app_stop(g_exit);
	return 0;
}

static void bench_examined(void *arg)
{
	struct spio_task_opts topts;
	int rc;

	spio_task_opts_init(&topts, sizeof(topts));
	topts.stack_size = TASK_STACK;
	topts.name = "bench_blobfs";
	rc = spio_task_spawn(bench_task, NULL, &topts, NULL);
	if (rc != 0) {
		fprintf(stderr, "bench_blobfs: spio_task_spawn: %s\n", strerror(-rc));
		spio_app_stop(1);
	}
}

static void bench_start(void *arg)
{
	int rc = spio_bdev_wait_for_examine(bench_examined, NULL);

	if (rc != 0) {
		fprintf(stderr, "bench_blobfs: spio_bdev_wait_for_examine: %s\n", strerror(-rc));
		spio_app_stop(1);
	}
}

static void bench_shutdown(void)
{
	g_interrupted = true;
}

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [-c CONFIG.json -b BDEV] [-s SIZE] [-t SECONDS] [--cache-size SIZE] "
		"[--cache-buffer SIZE] [--mkfs]\n"
		"  (without -c and -b: a uring bdev over a file of its own in $TMPDIR)\n"
		"  -c, --config FILE     JSON configuration that creates the bdev\n"
		"  -b, --bdev NAME       the bdev (its content is destroyed)\n"
		"  -s, --size SIZE       file size, a multiple of 128 KiB (default 1G)\n"
		"  -t, --time SECONDS    per random-read case (default 10)\n"
		"      --cache-size SIZE the filesystem's cache budget (default 256M)\n"
		"      --cache-buffer SIZE bytes per cache buffer (default 256k)\n"
		"      --mkfs            go ahead on a bdev that is not empty\n",
		prog);
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
						 {"bdev", required_argument, NULL, 'b'},
						 {"size", required_argument, NULL, 's'},
						 {"time", required_argument, NULL, 't'},
						 {"cache-size", required_argument, NULL, 'C'},
						 {"cache-buffer", required_argument, NULL, 'B'},
						 {"mkfs", no_argument, NULL, 'M'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:b:s:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			g_opts.config = optarg;
			break;
		case 'b':
			g_opts.bdev = optarg;
			break;
		case 's':
			if (spio_parse_capacity(optarg, &g_opts.file_size) != 0 ||
			    g_opts.file_size == 0 || g_opts.file_size % SEQ_IO != 0) {
				fprintf(stderr,
					"bench_blobfs: -s %s: expected a multiple of 128k\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 't':
			if (spio_parse_u64(optarg, 10, &g_opts.seconds) != 0 ||
			    g_opts.seconds == 0 || g_opts.seconds > 3600) {
				fprintf(stderr, "bench_blobfs: -t %s: expected 1 .. 3600 seconds\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'C':
			if (spio_parse_capacity(optarg, &g_opts.cache_size) != 0) {
				fprintf(stderr, "bench_blobfs: --cache-size %s: expected a size\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'B':
			/* spio_fs_load checks the rest (power of two, io unit) */
			if (spio_parse_capacity(optarg, &g_opts.cache_buffer) != 0 ||
			    g_opts.cache_buffer == 0 || g_opts.cache_buffer > UINT32_MAX) {
				fprintf(stderr,
					"bench_blobfs: --cache-buffer %s: expected a size\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'M':
			g_opts.mkfs = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (optind != argc || (g_opts.config == NULL) != (g_opts.bdev == NULL)) {
		fprintf(stderr, "bench_blobfs: -c CONFIG.json and -b BDEV go together\n");
		return -EINVAL;
	}
	return 0;
}

/*
 * No -c / -b (bench/run.sh runs unknown benches without arguments): a uring
 * bdev over a sparse file of our own in $TMPDIR, removed at the end.
 */
static int own_file(char *path, size_t path_size, char *config, size_t config_size)
{
	const char *dir = getenv("TMPDIR");
	/* the file, the blobstore's metadata, and slack */
	uint64_t size = g_opts.file_size + g_opts.file_size / 8 + 64ull * 1024 * 1024;
	int fd;

	snprintf(path, path_size, "%s/bench_blobfs.XXXXXX",
		 dir != NULL && dir[0] != '\0' ? dir : "/tmp");
	if (strpbrk(path, "\"\\") != NULL) {
		fprintf(stderr, "bench_blobfs: TMPDIR %s: no quotes or backslashes, please\n", dir);
		return -EINVAL;
	}
	fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "bench_blobfs: cannot create %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (ftruncate(fd, (off_t)size) != 0) {
		int rc = -errno;

		fprintf(stderr, "bench_blobfs: cannot size %s: %s\n", path, strerror(errno));
		close(fd);
		unlink(path);
		return rc;
	}
	close(fd);
	snprintf(config, config_size,
		 "{\"subsystems\": [{\"subsystem\": \"bdev\", \"config\": [{\"method\": "
		 "\"bdev_uring_create\", \"params\": {\"name\": \"Uring0\", \"filename\": "
		 "\"%s\", \"block_size\": 4096}}]}]}",
		 path);
	g_opts.bdev = "Uring0";
	g_opts.mkfs = true;
	return 0;
}

int main(int argc, char **argv)
{
	struct spio_app_opts opts;
	char path[4096] = "", config[4096 + 256];
	int rc;

	if (parse_args(argc, argv) != 0) {
		usage(stderr, argv[0]);
		return 2;
	}
	spio_app_opts_init(&opts, sizeof(opts));
	opts.name = "bench_blobfs";
	opts.reactor_mask = "0x1";
	opts.rpc_addr = NULL;
	if (g_opts.config != NULL) {
		opts.json_config_file = g_opts.config;
	} else if (own_file(path, sizeof(path), config, sizeof(config)) == 0) {
		opts.json_config_text = config;
	} else {
		return 1;
	}
	opts.idle_mode = SPIO_APP_IDLE_POLL;
	opts.log_level = "warn";
	opts.shutdown_cb = bench_shutdown;
	rc = spio_app_start(&opts, bench_start, NULL);
	if (path[0] != '\0') {
		unlink(path);
	}
	if (rc < 0) {
		fprintf(stderr, "bench_blobfs: start-up failed: %s\n", strerror(-rc));
		return 1;
	}
	return g_exit;
}
