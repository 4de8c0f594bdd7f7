/*
 * BlobFS data half: read / write / truncate / sync through the write-back
 * cache. A seeded random model against a shadow copy (tiny and large cache
 * budgets, close / reopen, unload / reload), zeroes in gaps and over stale
 * clusters after a shrink, -ENOSPC exactly at a full device and space coming
 * back, -EFBIG, -EBADF, reads at and past the end, many reads in flight,
 * mixed writes / truncates / syncs / reads in flight, reads never seeing
 * half a write, a write racing its own write-back, read-ahead (device reads
 * counted with helper_spy_dev), direct reads of what is not cached (device
 * reads and blocks counted; coherent with dirty data, gaps, a write-back
 * racing them), device read and write errors, the blob I/O gate (4 KiB
 * buffers: ~1024 blob I/Os from 32 requests in flight, and a blob channel
 * full of another user's reads: -ENOMEM waited out), and crash
 * consistency: with helper_cut_dev's log, the device as every prefix of a
 * workload's writes left it loads with each file as of its last sync.
 * Devices: memory, 4 KiB blocks, 64 KiB clusters, 16 KiB cache buffers (4 KiB
 * where a test says).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blobfs/blobfs_internal.h"
#include "helper_blob_task.h"
#include "helper_blob_thread.h"
#include "helper_cut_dev.h"
#include "helper_spy_dev.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/blobfs.h"
#include "spio/env.h"
#include "spio/task.h"
#include "spio/thread.h"

#define BLK 4096u
#define DEV_BLOCKS 4096u /* 16 MiB */
#define CLUSTER (64u * 1024)
#define BUF (16u * 1024)
#define SMALL_CACHE (3u * BUF)
#define LARGE_CACHE (8u * 1024 * 1024)

static struct spio_thread *g_thread;

static void setup(void)
{
	blob_test_env_init("test_blobfs_data");
	g_thread = blob_test_thread_start("blobfs_data");
}

static void teardown(void)
{
	blob_test_thread_end(g_thread);
	spio_env_fini();
}

TestSuite(blobfs_data, .init = setup, .fini = teardown);

/* A body run in a task, with a cut_ctl device of `blocks` blocks. */
#define TASK_TEST_DEV(name, blocks)                      \
	static void body_##name(struct cut_ctl *c);      \
	static void run_##name(void *arg)                \
	{                                                \
		body_##name(arg);                        \
	}                                                \
	Test(blobfs_data, name)                          \
	{                                                \
		struct cut_ctl c;                        \
		cut_ctl_init(&c, (blocks), BLK);         \
		blob_task_run(g_thread, run_##name, &c); \
		cut_ctl_fini(&c);                        \
	}                                                \
	static void body_##name(struct cut_ctl *c)

#define TASK_TEST(name) TASK_TEST_DEV(name, DEV_BLOCKS)

/* The cache buffer size of the filesystems a test makes (BUF unless the test says). */
static uint32_t g_buf_size = BUF;

static void fs_opts(struct spio_blobfs_opts *o, uint64_t cache)
{
	spio_fs_opts_init(o, sizeof(*o));
	o->cluster_sz = CLUSTER;
	o->cache_buffer_size = g_buf_size;
	o->cache_size = cache;
}

static struct spio_filesystem *mkfs_dev(struct spio_bs_dev *dev, uint64_t cache)
{
	struct spio_blobfs_opts o;
	struct spio_filesystem *fs = NULL;

	fs_opts(&o, cache);
	CHECK_EQ(spio_fs_init_await(dev, &o, &fs), 0);
	CHECK_NOT_NULL(fs);
	return fs;
}

static struct spio_filesystem *mkfs(struct cut_ctl *c, uint64_t cache)
{
	return mkfs_dev(cut_dev_create(c), cache);
}

static struct spio_filesystem *load(struct cut_ctl *c, uint64_t cache)
{
	struct spio_blobfs_opts o;
	struct spio_filesystem *fs = NULL;

	fs_opts(&o, cache);
	CHECK_EQ(spio_fs_load_await(cut_dev_create(c), &o, &fs), 0);
	CHECK_NOT_NULL(fs);
	return fs;
}

static struct spio_filesystem *reload(struct cut_ctl *c, struct spio_filesystem *fs, uint64_t cache)
{
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	return load(c, cache);
}

static struct spio_file *open_file(struct spio_filesystem *fs, const char *name, uint32_t flags)
{
	struct spio_file *f = NULL;

	CHECK_EQ(spio_fs_open_file_await(fs, name, flags, &f), 0, "open %s", name);
	CHECK_NOT_NULL(f);
	return f;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		p[i] = (uint8_t)(rnd(&s) >> 24);
	}
}

/* The first byte where got and want differ, or n. */
static size_t first_diff(const uint8_t *got, const uint8_t *want, size_t n)
{
	size_t i = 0;

	if (memcmp(got, want, n) == 0) {
		return n;
	}
	while (got[i] == want[i]) {
		i++;
	}
	return i;
}

/* The whole file reads back as `want` (len bytes). */
static void check_file(struct spio_file *f, const uint8_t *want, uint64_t len)
{
	uint8_t *got = malloc(len + 1);
	size_t d;

	CHECK_NOT_NULL(got);
	CHECK_EQ(spio_file_get_length(f), len, "length of %s", spio_file_get_name(f));
	CHECK_EQ(spio_file_read_await(f, got, 0, len + 1), (int64_t)len);
	d = first_diff(got, want, len);
	CHECK(d == len, "%s: byte %zu is %u, want %u", spio_file_get_name(f), d,
	      d < len ? got[d] : 0, d < len ? want[d] : 0);
	free(got);
}

/*
 * The random model: two files, writes anywhere (past the end too), reads,
 * truncates, syncs, close / reopen and unload / reload, against shadows.
 */
#define MODEL_MAX (1024u * 1024)
#define MODEL_FILES 2

struct model_file {
	const char *name;
	struct spio_file *f;
	uint8_t *shadow; /* zero past len */
	uint64_t len;
};

static void model_run(struct cut_ctl *c, uint64_t cache, uint64_t seed, int ops)
{
	struct model_file m[MODEL_FILES] = {{.name = "alpha"}, {.name = "beta"}};
	uint8_t *buf = malloc(MODEL_MAX);
	struct spio_filesystem *fs = mkfs(c, cache);
	/* BLOBFS_MODEL_SEED=n runs other workloads by hand. */
	const char *env = getenv("BLOBFS_MODEL_SEED");
	uint64_t s = seed ^ (env != NULL ? strtoull(env, NULL, 0) * 0x9e3779b97f4a7c15ull : 0);

	CHECK_NOT_NULL(buf);
	for (int i = 0; i < MODEL_FILES; i++) {
		m[i].shadow = calloc(1, MODEL_MAX);
		CHECK_NOT_NULL(m[i].shadow);
		m[i].f = open_file(fs, m[i].name, SPIO_BLOBFS_OPEN_CREATE);
	}
	for (int op = 0; op < ops; op++) {
		struct model_file *mf = &m[rnd(&s) % MODEL_FILES];
		uint64_t r = rnd(&s) % 100;
		uint64_t off, len, want;

		if (r < 40) {
			/* Write; a third of them at or just past the end. */
			off =
			    rnd(&s) % 3 == 0 ? mf->len + rnd(&s) % (3 * BUF) : rnd(&s) % MODEL_MAX;
			len = 1 + rnd(&s) % (3 * BUF);
			off = off >= MODEL_MAX ? MODEL_MAX - 1 : off;
			len = off + len > MODEL_MAX ? MODEL_MAX - off : len;
			fill(buf, len, rnd(&s));
			CHECK_EQ(spio_file_write_await(mf->f, buf, off, len), 0, "op %d write", op);
			memcpy(mf->shadow + off, buf, len);
			mf->len = off + len > mf->len ? off + len : mf->len;
		} else if (r < 70) {
			off = rnd(&s) % (mf->len + 2 * BUF);
			len = 1 + rnd(&s) % (4 * BUF);
			want = off >= mf->len ? 0 : (len < mf->len - off ? len : mf->len - off);
			CHECK_EQ(spio_file_read_await(mf->f, buf, off, len), (int64_t)want,
				 "op %d read %lu+%lu of %lu", op, (unsigned long)off,
				 (unsigned long)len, (unsigned long)mf->len);
			CHECK(memcmp(buf, mf->shadow + off, want) == 0,
			      "op %d read %lu+%lu differs", op, (unsigned long)off,
			      (unsigned long)len);
		} else if (r < 80) {
			len = rnd(&s) % 2 == 0 ? rnd(&s) % (mf->len + 1) : rnd(&s) % MODEL_MAX;
			CHECK_EQ(spio_file_truncate_await(mf->f, len), 0, "op %d truncate", op);
			if (len < mf->len) {
				memset(mf->shadow + len, 0, mf->len - len);
			}
			mf->len = len;
		} else if (r < 88) {
			CHECK_EQ(spio_file_sync_await(mf->f), 0, "op %d sync", op);
		} else if (r < 93) {
			CHECK_EQ(spio_file_get_length(mf->f), mf->len, "op %d length", op);
		} else if (r < 97) {
			CHECK_EQ(spio_file_close_await(mf->f), 0, "op %d close", op);
			mf->f = open_file(fs, mf->name, 0);
		} else {
			for (int i = 0; i < MODEL_FILES; i++) {
				CHECK_EQ(spio_file_close_await(m[i].f), 0);
			}
			fs = reload(c, fs, cache);
			for (int i = 0; i < MODEL_FILES; i++) {
				m[i].f = open_file(fs, m[i].name, 0);
				check_file(m[i].f, m[i].shadow, m[i].len);
			}
		}
	}
	for (int i = 0; i < MODEL_FILES; i++) {
		check_file(m[i].f, m[i].shadow, m[i].len);
		CHECK_EQ(spio_file_close_await(m[i].f), 0);
	}
	fs = reload(c, fs, cache);
	for (int i = 0; i < MODEL_FILES; i++) {
		m[i].f = open_file(fs, m[i].name, SPIO_BLOBFS_OPEN_RDONLY);
		check_file(m[i].f, m[i].shadow, m[i].len);
		CHECK_EQ(spio_file_close_await(m[i].f), 0);
		free(m[i].shadow);
	}
	CHECK_EQ(fs->cache.used, 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(buf);
}

TASK_TEST(model_small_cache)
{
	model_run(c, SMALL_CACHE, 0x5eed1, 1000);
}

TASK_TEST(model_large_cache)
{
	model_run(c, LARGE_CACHE, 0x5eed2, 1000);
}

/* The model with 4 KiB buffers: many more blob I/Os per request (the I/O gate). */
TASK_TEST(model_small_buffers)
{
	g_buf_size = 4096;
	model_run(c, SMALL_CACHE, 0x5eed3, 300);
	model_run(c, LARGE_CACHE, 0x5eed4, 300);
	g_buf_size = BUF;
}

/*
 * Zeroes: a gap past the end and a file grown again after a shrink read
 * zeroes, also where the blob's clusters still hold the old pattern.
 */
TASK_TEST(gap_and_shrink_zeroes)
{
	struct spio_filesystem *fs = mkfs(c, 2 * BUF);
	uint64_t n = 5 * CLUSTER;
	uint8_t *pat = malloc(n);
	uint8_t *want = calloc(1, 2 * n);
	struct spio_file *f;

	CHECK_NOT_NULL(pat);
	CHECK_NOT_NULL(want);
	memset(pat, 0xab, n);
	f = open_file(fs, "z", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(f, pat, 0, n), 0);
	CHECK_EQ(spio_file_sync_await(f), 0);
	/* Shrink to a partial buffer, sync (clusters freed), grow by truncate. */
	CHECK_EQ(spio_file_truncate_await(f, 1000), 0);
	CHECK_EQ(spio_file_sync_await(f), 0);
	CHECK_EQ(spio_file_truncate_await(f, 3 * CLUSTER + 5), 0);
	memset(want, 0xab, 1000);
	check_file(f, want, 3 * CLUSTER + 5);
	/* Shrink without sync, then write past the end: the gap over old data reads zeroes. */
	CHECK_EQ(spio_file_truncate_await(f, 500), 0);
	memset(want + 500, 0, 500);
	CHECK_EQ(spio_file_write_await(f, pat, 4 * CLUSTER + 7, 100), 0);
	memset(want + 4 * CLUSTER + 7, 0xab, 100);
	check_file(f, want, 4 * CLUSTER + 107);
	CHECK_EQ(spio_file_close_await(f), 0);
	/* Cold: nothing cached, everything from the blob. */
	f = open_file(fs, "z", 0);
	check_file(f, want, 4 * CLUSTER + 107);
	/* A write far past the end of a cold file, through a tiny cache. */
	CHECK_EQ(spio_file_write_await(f, pat, 9 * CLUSTER + 3, 10), 0);
	memset(want + 9 * CLUSTER + 3, 0xab, 10);
	CHECK_EQ(spio_file_close_await(f), 0);
	fs = reload(c, fs, 2 * BUF);
	f = open_file(fs, "z", 0);
	check_file(f, want, 9 * CLUSTER + 13);
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(pat);
	free(want);
}

/* A full device fails writes with -ENOSPC, exactly; freed space makes them work again. */
TASK_TEST_DEV(enospc, 2048)
{
	struct spio_filesystem *fs = mkfs(c, LARGE_CACHE);
	struct spio_blob_store *bs = spio_fs_get_bs(fs);
	struct spio_file *a, *b, *d;
	uint8_t byte = 7;
	uint64_t free_clusters, full;

	b = open_file(fs, "b", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_truncate_await(b, CLUSTER + 1), 0); /* two clusters */
	CHECK_EQ(spio_file_sync_await(b), 0);
	d = open_file(fs, "d", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(d, &byte, CLUSTER - 1, 1), 0);
	CHECK_EQ(spio_file_close_await(d), 0);
	a = open_file(fs, "a", SPIO_BLOBFS_OPEN_CREATE);
	free_clusters = spio_bs_free_cluster_count(bs);
	CHECK(free_clusters > 4);
	full = free_clusters * CLUSTER;
	CHECK_EQ(spio_file_truncate_await(a, full - 10), 0);
	CHECK_EQ(spio_file_write_await(a, &byte, full - 1, 1), 0);
	CHECK_EQ(spio_bs_free_cluster_count(bs), 0);
	CHECK_EQ(spio_file_write_await(a, &byte, full, 1), -ENOSPC);
	CHECK_EQ(spio_file_truncate_await(a, full + 1), -ENOSPC);
	CHECK_EQ(spio_file_get_length(a), full);
	/* Deleting a file frees its cluster. */
	CHECK_EQ(spio_fs_delete_file_await(fs, "d"), 0);
	CHECK_EQ(spio_file_write_await(a, &byte, full + CLUSTER - 1, 1), 0);
	CHECK_EQ(spio_file_write_await(a, &byte, full + CLUSTER, 1), -ENOSPC);
	/* A truncate frees clusters at its sync. */
	CHECK_EQ(spio_file_truncate_await(b, 0), 0);
	CHECK_EQ(spio_file_write_await(a, &byte, full + CLUSTER, 1), -ENOSPC);
	CHECK_EQ(spio_file_sync_await(b), 0);
	CHECK_EQ(spio_bs_free_cluster_count(bs), 2);
	CHECK_EQ(spio_file_write_await(a, &byte, full + 3 * CLUSTER - 1, 1), 0);
	CHECK_EQ(spio_file_sync_await(a), 0);
	CHECK_EQ(spio_file_close_await(a), 0);
	CHECK_EQ(spio_file_close_await(b), 0);
	fs = reload(c, fs, LARGE_CACHE);
	a = open_file(fs, "a", SPIO_BLOBFS_OPEN_RDONLY);
	CHECK_EQ(spio_file_get_length(a), full + 3 * CLUSTER);
	byte = 0;
	CHECK_EQ(spio_file_read_await(a, &byte, full + 3 * CLUSTER - 1, 1), 1);
	CHECK_EQ(byte, 7);
	CHECK_EQ(spio_file_read_await(a, &byte, full + 3 * CLUSTER - 2, 1), 1);
	CHECK_EQ(byte, 0);
	CHECK_EQ(spio_file_close_await(a), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

/* -EFBIG, -EBADF, reads at and past the end. */
TASK_TEST(errors_and_eof)
{
	struct spio_filesystem *fs = mkfs(c, LARGE_CACHE);
	struct spio_blob_store *bs = spio_fs_get_bs(fs);
	uint64_t cap = spio_bs_total_data_cluster_count(bs) * CLUSTER;
	uint8_t buf[8192];
	struct spio_file *f, *ro;

	memset(buf, 0x5a, sizeof(buf));
	f = open_file(fs, "e", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(f, buf, cap, 1), -EFBIG);
	CHECK_EQ(spio_file_write_await(f, buf, UINT64_MAX - 2, 4), -EFBIG);
	CHECK_EQ(spio_file_truncate_await(f, cap + 1), -EFBIG);
	CHECK_EQ(spio_file_get_length(f), 0);
	CHECK_EQ(spio_file_write_await(f, buf, 0, 10000 > sizeof(buf) ? sizeof(buf) : 10000), 0);
	CHECK_EQ(spio_file_write_await(f, buf, 8192, 10000 - 8192), 0);
	CHECK_EQ(spio_file_read_await(f, buf, 9000, 4096), 1000);
	CHECK_EQ(spio_file_read_await(f, buf, 10000, 10), 0);
	CHECK_EQ(spio_file_read_await(f, buf, 20000, 10), 0);
	CHECK_EQ(spio_file_read_await(f, buf, UINT64_MAX - 5, 10), 0);
	CHECK_EQ(spio_file_write_await(f, buf, 5, 0), 0);
	CHECK_EQ(spio_file_write_await(f, buf, 50000, 0), 0);
	CHECK_EQ(spio_file_get_length(f), 10000);
	CHECK_EQ(spio_file_write_await(f, NULL, 0, 1), -EINVAL);
	CHECK_EQ(spio_file_sync_await(f), 0);
	ro = open_file(fs, "e", SPIO_BLOBFS_OPEN_RDONLY);
	CHECK_EQ(spio_file_write_await(ro, buf, 0, 1), -EBADF);
	CHECK_EQ(spio_file_truncate_await(ro, 0), -EBADF);
	CHECK_EQ(spio_file_sync_await(ro), 0);
	CHECK_EQ(spio_file_read_await(ro, buf, 0, 100), 100);
	CHECK_EQ(buf[99], 0x5a);
	CHECK_EQ(spio_file_read_await(NULL, buf, 0, 1), -EINVAL);
	CHECK_EQ(spio_file_close_await(ro), 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_fs_set_cache_size(fs, BUF), -EINVAL);
	CHECK_EQ(spio_fs_set_cache_size(fs, 2 * BUF), 0);
	CHECK_EQ(spio_fs_get_cache_size(fs), 2 * BUF);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

/* Many reads of one file in flight at once, and writes between them. */
struct rd {
	uint64_t off, len;
	int64_t result;
	bool done;
	uint8_t *buf;
};

static int g_pending;

static void rd_done(void *arg, int64_t result)
{
	struct rd *r = arg;

	r->result = result;
	r->done = true;
	g_pending--;
}

static void wr_done(void *arg, int rc)
{
	int *out = arg;

	*out = rc;
	g_pending--;
}

static void wait_pending(void)
{
	for (int i = 0; g_pending > 0; i++) {
		CHECK(i < 10000000, "operations hang");
		spio_task_yield();
	}
}

#define NREADS 64
#define FILE_SZ (1024u * 1024)

static void many_reads(struct cut_ctl *c, uint64_t cache)
{
	struct spio_filesystem *fs = mkfs(c, cache);
	uint8_t *data = malloc(FILE_SZ);
	struct rd r[NREADS];
	uint64_t s = 77;
	struct spio_file *f;

	CHECK_NOT_NULL(data);
	fill(data, FILE_SZ, 3);
	f = open_file(fs, "r", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(f, data, 0, FILE_SZ), 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	f = open_file(fs, "r", SPIO_BLOBFS_OPEN_RDONLY);
	g_pending = NREADS;
	for (int i = 0; i < NREADS; i++) {
		r[i].off = rnd(&s) % (FILE_SZ + BUF);
		r[i].len = 1 + rnd(&s) % (5 * BUF);
		r[i].done = false;
		r[i].buf = malloc(r[i].len);
		CHECK_NOT_NULL(r[i].buf);
		spio_file_read_async(f, r[i].buf, r[i].off, r[i].len, rd_done, &r[i]);
	}
	wait_pending();
	for (int i = 0; i < NREADS; i++) {
		uint64_t want =
		    r[i].off >= FILE_SZ
			? 0
			: (r[i].len < FILE_SZ - r[i].off ? r[i].len : FILE_SZ - r[i].off);

		CHECK_EQ(r[i].result, (int64_t)want, "read %d", i);
		CHECK(memcmp(r[i].buf, data + r[i].off, want) == 0, "read %d differs", i);
		free(r[i].buf);
	}
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(data);
}

/* With room for everything, and with a budget of two buffers (reads wait for each other). */
TASK_TEST(many_reads_in_flight)
{
	many_reads(c, LARGE_CACHE);
	many_reads(c, 2 * BUF);
}

/*
 * Records of 40 KiB (three buffers, unaligned) rewritten with one byte
 * value each time while reads of whole records are in flight: a read sees
 * one value, never parts of two writes.
 */
#define REC (40u * 1024)
#define NREC 8

TASK_TEST(reads_see_whole_writes)
{
	struct spio_filesystem *fs = mkfs(c, 64 * BUF);
	uint8_t *w = malloc((size_t)REC * 32);
	struct rd r[32];
	int wrc[32];
	struct spio_file *f;
	uint64_t s = 99;

	CHECK_NOT_NULL(w);
	f = open_file(fs, "rec", SPIO_BLOBFS_OPEN_CREATE);
	memset(w, 1, (size_t)REC * NREC);
	CHECK_EQ(spio_file_write_await(f, w, 5000, (uint64_t)REC * NREC), 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	f = open_file(fs, "rec", 0);
	for (int round = 0; round < 20; round++) {
		g_pending = 64;
		for (int i = 0; i < 32; i++) {
			uint64_t rec = rnd(&s) % NREC;

			r[i].off = 5000 + rec * REC;
			r[i].len = REC;
			r[i].buf = malloc(REC);
			CHECK_NOT_NULL(r[i].buf);
			spio_file_read_async(f, r[i].buf, r[i].off, REC, rd_done, &r[i]);
			rec = rnd(&s) % NREC;
			memset(w + (size_t)i * REC, 2 + (round * 32 + i) % 250, REC);
			spio_file_write_async(f, w + (size_t)i * REC, 5000 + rec * REC, REC,
					      wr_done, &wrc[i]);
		}
		wait_pending();
		for (int i = 0; i < 32; i++) {
			CHECK_EQ(wrc[i], 0);
			CHECK_EQ(r[i].result, REC);
			/* One value: every byte equals the next. */
			CHECK(first_diff(r[i].buf, r[i].buf + 1, REC - 1) == REC - 1,
			      "round %d read %d mixes two writes", round, i);
			free(r[i].buf);
		}
		if (round % 5 == 4) {
			/* Cold again: reads and writes wait for loads. */
			CHECK_EQ(spio_file_close_await(f), 0);
			f = open_file(fs, "rec", 0);
		}
	}
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(w);
}

/*
 * Writes, truncates, syncs and reads of one file all in flight at once,
 * through a budget of four buffers: writes and truncates apply in the order
 * issued, so after each round the file equals the model that applies them
 * in that order; reads return a count within bounds.
 */
#define MIX_OPS 24
#define MIX_MAX (256u * 1024)

TASK_TEST(mixed_ops_in_flight)
{
	struct spio_filesystem *fs = mkfs(c, 4 * BUF);
	uint8_t *model = calloc(1, MIX_MAX);
	uint8_t *wbuf = malloc((size_t)MIX_OPS * 3 * BUF);
	struct rd r[MIX_OPS];
	int rc[MIX_OPS];
	uint64_t len = 0, s = 31337;
	struct spio_file *f;

	CHECK_NOT_NULL(model);
	CHECK_NOT_NULL(wbuf);
	f = open_file(fs, "mix", SPIO_BLOBFS_OPEN_CREATE);
	for (int round = 0; round < 12; round++) {
		g_pending = MIX_OPS;
		for (int i = 0; i < MIX_OPS; i++) {
			uint64_t kind = rnd(&s) % 10;
			uint64_t off = rnd(&s) % (MIX_MAX - 3 * BUF);
			uint64_t n = 1 + rnd(&s) % (3 * BUF);

			rc[i] = 1;
			r[i].buf = NULL;
			if (kind < 4) {
				uint8_t *p = wbuf + (size_t)i * 3 * BUF;

				fill(p, n, rnd(&s));
				spio_file_write_async(f, p, off, n, wr_done, &rc[i]);
				memcpy(model + off, p, n);
				len = off + n > len ? off + n : len;
			} else if (kind < 6) {
				spio_file_truncate_async(f, off, wr_done, &rc[i]);
				if (off < len) {
					memset(model + off, 0, len - off);
				}
				len = off;
			} else if (kind < 7) {
				spio_file_sync_async(f, wr_done, &rc[i]);
			} else {
				rc[i] = 0;
				r[i].len = n;
				r[i].buf = malloc(n);
				CHECK_NOT_NULL(r[i].buf);
				spio_file_read_async(f, r[i].buf, off, n, rd_done, &r[i]);
			}
		}
		wait_pending();
		for (int i = 0; i < MIX_OPS; i++) {
			CHECK_EQ(rc[i], 0, "round %d op %d", round, i);
			if (r[i].buf != NULL) {
				CHECK(r[i].result >= 0 && (uint64_t)r[i].result <= r[i].len,
				      "round %d read %d: %ld", round, i, (long)r[i].result);
				free(r[i].buf);
			}
		}
		check_file(f, model, len);
		if (round % 4 == 3) {
			CHECK_EQ(spio_file_close_await(f), 0);
			fs = reload(c, fs, 4 * BUF);
			f = open_file(fs, "mix", 0);
			check_file(f, model, len);
		}
	}
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(fs->cache.used, 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(model);
	free(wbuf);
}

/*
 * A write to a buffer whose write-back is in flight: the buffer stays dirty
 * and the later data reaches the device.
 */
static bool g_raced;
static struct spio_file *g_race_file;

static void race_wr_done(void *arg, int rc)
{
	struct blobfs_buf *b = blobfs_buf_lookup(g_race_file->file, 0);

	g_raced = b != NULL && b->wb_inflight && b->gen != b->wb_gen;
	wr_done(arg, rc);
}

TASK_TEST(write_races_write_back)
{
	struct spio_filesystem *fs = mkfs(c, 2 * BUF);
	uint8_t *data = malloc(6 * BUF);
	uint8_t *newer = malloc(BUF);
	struct spio_file *f;
	struct rd r = {.off = 3 * BUF, .len = 100};
	int wrc = 1;

	CHECK_NOT_NULL(data);
	CHECK_NOT_NULL(newer);
	fill(data, 6 * BUF, 11);
	fill(newer, BUF, 12);
	f = open_file(fs, "wb", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(f, data, 0, 6 * BUF), 0);
	CHECK_EQ(spio_file_sync_await(f), 0);
	/* Buffers 0 and 1 dirty: the whole budget. */
	CHECK_EQ(spio_file_write_await(f, data, 0, 2 * BUF), 0);
	CHECK_EQ(fs->cache.used, 2 * BUF);
	CHECK_EQ(f->file->data.dirty, 2);
	/* The read needs a buffer: it writes 0 and 1 back; the write lands on 0 meanwhile. */
	r.buf = malloc(r.len);
	CHECK_NOT_NULL(r.buf);
	/* An empty read ending at r.off: the read continues it, so it goes through the cache. */
	CHECK_EQ(spio_file_read_await(f, r.buf, r.off, 0), 0);
	g_pending = 2;
	g_race_file = f;
	spio_file_read_async(f, r.buf, r.off, r.len, rd_done, &r);
	spio_file_write_async(f, newer, 0, BUF, race_wr_done, &wrc);
	wait_pending();
	CHECK(g_raced, "the write did not meet a write-back in flight");
	CHECK_EQ(wrc, 0);
	CHECK_EQ(r.result, 100);
	CHECK(memcmp(r.buf, data + 3 * BUF, 100) == 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	memcpy(data, newer, BUF);
	fs = reload(c, fs, 2 * BUF);
	f = open_file(fs, "wb", 0);
	check_file(f, data, 6 * BUF);
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(r.buf);
	free(data);
	free(newer);
}

/* Sequential 4 KiB reads: whole-buffer device reads, read ahead of the reader. */
static void read_ahead_body(void *arg)
{
	struct spy_dev *s = arg;
	struct spio_filesystem *fs = mkfs_dev(&s->base, 16 * BUF);
	uint8_t *data = malloc(FILE_SZ);
	uint8_t chunk[4096];
	struct spio_file *f;
	int reads;

	CHECK_NOT_NULL(data);
	fill(data, FILE_SZ, 5);
	f = open_file(fs, "seq", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(f, data, 0, FILE_SZ), 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	f = open_file(fs, "seq", SPIO_BLOBFS_OPEN_RDONLY);
	reads = s->reads;
	CHECK_EQ(spio_file_read_await(f, chunk, 0, sizeof(chunk)), (int64_t)sizeof(chunk));
	/* The reader continued from 0: the next buffers are on their way already. */
	CHECK_NOT_NULL(blobfs_buf_lookup(f->file, 1));
	CHECK_NOT_NULL(blobfs_buf_lookup(f->file, 4));
	for (uint64_t off = sizeof(chunk); off < FILE_SZ; off += sizeof(chunk)) {
		CHECK_EQ(spio_file_read_await(f, chunk, off, sizeof(chunk)),
			 (int64_t)sizeof(chunk));
		CHECK(memcmp(chunk, data + off, sizeof(chunk)) == 0, "at %lu", (unsigned long)off);
	}
	reads = s->reads - reads;
	/* 256 reads of 4 KiB: one device read per 16 KiB buffer at most. */
	CHECK(reads <= (int)(FILE_SZ / BUF), "%d device reads", reads);
	CHECK(reads >= (int)(FILE_SZ / BUF) / 2, "%d device reads", reads);
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(data);
}

Test(blobfs_data, read_ahead)
{
	struct spy_dev s;
	uint8_t *bytes;

	memset(&s, 0, sizeof(s));
	spy_dev_init(&s, (uint64_t)DEV_BLOCKS * BLK, BLK, &bytes);
	blob_task_run(g_thread, read_ahead_body, &s);
	cr_assert_eq(s.destroyed, 1);
	spy_dev_release(&s);
}

/*
 * Direct reads: a read that does not continue the previous one reads what
 * is not cached straight from the blob, in io units (device blocks here),
 * and loads nothing into the cache. The spy device's reads are wrapped to
 * count their blocks too.
 */
static int g_dev_reads;
static uint64_t g_dev_read_blocks;
static void (*g_orig_read)(struct spio_bs_dev *dev, struct spio_io_channel *channel, void *payload,
			   uint64_t lba, uint32_t lba_count, struct spio_bs_dev_cb_args *cb_args);

static void counting_read(struct spio_bs_dev *dev, struct spio_io_channel *ch, void *payload,
			  uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *args)
{
	g_dev_reads++;
	g_dev_read_blocks += n;
	g_orig_read(dev, ch, payload, lba, n, args);
}

#define DIRECT_SZ (4u * 1024 * 1024)

/* One read of `len` at `off`: right bytes, `calls` device reads of `blocks` blocks in all. */
static void direct_read_check(struct spio_file *f, const uint8_t *data, uint8_t *buf, uint64_t off,
			      uint64_t len, int calls, uint64_t blocks)
{
	int r0 = g_dev_reads;
	uint64_t b0 = g_dev_read_blocks;

	CHECK_EQ(spio_file_read_await(f, buf, off, len), (int64_t)len, "read %lu+%lu",
		 (unsigned long)off, (unsigned long)len);
	CHECK(memcmp(buf, data + off, len) == 0, "read %lu+%lu differs", (unsigned long)off,
	      (unsigned long)len);
	CHECK_EQ(g_dev_reads - r0, calls, "read %lu+%lu: device reads", (unsigned long)off,
		 (unsigned long)len);
	CHECK_EQ(g_dev_read_blocks - b0, blocks, "read %lu+%lu: device blocks", (unsigned long)off,
		 (unsigned long)len);
}

static void direct_reads_body(void *arg)
{
	struct spy_dev *s = arg;
	struct spio_filesystem *fs = mkfs_dev(&s->base, 16 * BUF);
	uint8_t *data = malloc(DIRECT_SZ);
	uint8_t *aligned = aligned_alloc(BLK, 4 * BUF);
	uint8_t chunk[4096];
	struct spio_file *f;
	uint64_t seed = 31;
	uint64_t prev_end = 0;

	CHECK_NOT_NULL(data);
	CHECK_NOT_NULL(aligned);
	fill(data, DIRECT_SZ, 6);
	f = open_file(fs, "rand", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(f, data, 0, DIRECT_SZ), 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	f = open_file(fs, "rand", SPIO_BLOBFS_OPEN_RDONLY);
	CHECK_EQ(fs->cache.used, 0);
	/* Cold random 4 KiB reads: one block each, none of them cached. */
	for (int i = 0; i < 64; i++) {
		uint64_t off = (1 + rnd(&seed) % (DIRECT_SZ / BLK - 1)) * BLK;

		if (off == prev_end) {
			continue;
		}
		direct_read_check(f, data, chunk, off, sizeof(chunk), 1, 1);
		prev_end = off + sizeof(chunk);
	}
	CHECK_EQ(fs->cache.used, 0, "random reads loaded buffers");
	/* Unaligned, in one block: one block through a bounce buffer. */
	direct_read_check(f, data, chunk, 5000, 100, 1, 1);
	/* Unaligned across a block and a buffer boundary: the two blocks, one read. */
	direct_read_check(f, data, chunk, BUF - 100, 300, 1, 2);
	/* Aligned into an aligned payload, three buffers: one read of just those blocks. */
	direct_read_check(f, data, aligned, 40 * BUF, 3 * BUF, 1, 3 * BUF / BLK);
	/* The same, misaligned payload (three buffers in one cluster, so one blob I/O too). */
	direct_read_check(f, data, aligned + 1, 48 * BUF, 3 * BUF, 1, 3 * BUF / BLK);
	CHECK_EQ(fs->cache.used, 0);
	/* A sequential reader still gets whole buffers and read-ahead. */
	CHECK_EQ(spio_file_read_await(f, chunk, 51 * BUF, sizeof(chunk)), (int64_t)sizeof(chunk));
	CHECK(memcmp(chunk, data + 51 * BUF, sizeof(chunk)) == 0);
	CHECK_NOT_NULL(blobfs_buf_lookup(f->file, 51));
	CHECK_NOT_NULL(blobfs_buf_lookup(f->file, 52));
	/* Cached buffers serve a random read there without the device. */
	direct_read_check(f, data, chunk, 52 * BUF + 7, 1000, 0, 0);
	/* A read spanning uncached 50 and cached 51: one block of 50 from the device. */
	direct_read_check(f, data, aligned, 51 * BUF - 10, BUF, 1, 1);
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(aligned);
	free(data);
}

Test(blobfs_data, direct_reads)
{
	struct spy_dev s;
	uint8_t *bytes;

	memset(&s, 0, sizeof(s));
	spy_dev_init(&s, (uint64_t)DEV_BLOCKS * BLK, BLK, &bytes);
	g_orig_read = s.base.read;
	s.base.read = counting_read;
	blob_task_run(g_thread, direct_reads_body, &s);
	cr_assert_eq(s.destroyed, 1);
	spy_dev_release(&s);
}

/*
 * Direct reads see every completed write: unsynced (dirty) data, zeroes of
 * a gap after a truncate up (synced or not, cold or cached, over clusters
 * that held older data), reads spanning cached and uncached buffers.
 */
TASK_TEST(direct_reads_coherent)
{
	struct spio_filesystem *fs = mkfs(c, 8 * BUF);
	uint64_t n = 64 * BUF + 5000;
	uint8_t *want = calloc(1, 2 * n);
	uint8_t *newer = malloc(3 * BUF);
	uint8_t *buf = malloc(4 * BUF);
	struct spio_file *f;
	uint64_t seed = 8;

	CHECK_NOT_NULL(want);
	CHECK_NOT_NULL(newer);
	CHECK_NOT_NULL(buf);
	fill(want, n, 41);
	fill(newer, 3 * BUF, 42);
	f = open_file(fs, "coh", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(f, want, 0, n), 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	f = open_file(fs, "coh", 0);
	/* Dirty, unsynced, then read around and inside it at random. */
	CHECK_EQ(spio_file_write_await(f, newer, 20 * BUF + 333, 2 * BUF), 0);
	memcpy(want + 20 * BUF + 333, newer, 2 * BUF);
	for (int i = 0; i < 40; i++) {
		uint64_t off = 18 * BUF + rnd(&seed) % (6 * BUF);
		uint64_t len = 1 + rnd(&seed) % (4 * BUF);

		len = off + len > n ? n - off : len;
		CHECK_EQ(spio_file_read_await(f, buf, off, len), (int64_t)len);
		CHECK(memcmp(buf, want + off, len) == 0, "read %lu+%lu", (unsigned long)off,
		      (unsigned long)len);
	}
	/* Shrink (no sync: the clusters keep the old bytes), grow again: zeroes. */
	CHECK_EQ(spio_file_truncate_await(f, 30 * BUF + 77), 0);
	memset(want + 30 * BUF + 77, 0, n - (30 * BUF + 77));
	CHECK_EQ(spio_file_truncate_await(f, n + 3 * BUF), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 40; i++) {
			uint64_t off = 28 * BUF + rnd(&seed) % (n + 3 * BUF - 28 * BUF);
			uint64_t len = 1 + rnd(&seed) % (3 * BUF);
			uint64_t end = n + 3 * BUF;
			int64_t got = spio_file_read_await(f, buf, off, len);

			len = off + len > end ? end - off : len;
			CHECK_EQ(got, (int64_t)len);
			CHECK(memcmp(buf, want + off, len) == 0, "round %d read %lu+%lu", round,
			      (unsigned long)off, (unsigned long)len);
		}
		/* Again cold, after the sync of the close. */
		CHECK_EQ(spio_file_close_await(f), 0);
		f = open_file(fs, "coh", 0);
	}
	/* Past the end: only up to it. */
	CHECK_EQ(spio_file_read_await(f, buf, n + 3 * BUF - 10, 4 * BUF), 10);
	CHECK(memcmp(buf, want + n + 3 * BUF - 10, 10) == 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(want);
	free(newer);
	free(buf);
}

/*
 * A direct read in flight when a write-back of its range starts (a write
 * and a sync issued right after it) reads either all old or all new bytes,
 * and more reads than bounce buffers in flight at once all complete.
 */
TASK_TEST(direct_read_races_write_back)
{
	struct spio_filesystem *fs = mkfs(c, 8 * BUF);
	uint8_t *old = malloc(8 * BUF);
	uint8_t *newer = malloc(BUF);
	struct rd r[24];
	struct spio_file *f;
	int wrc = 1;
	int src = 1;

	CHECK_NOT_NULL(old);
	CHECK_NOT_NULL(newer);
	fill(old, 8 * BUF, 51);
	fill(newer, BUF, 52);
	f = open_file(fs, "race", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(f, old, 0, 8 * BUF), 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	f = open_file(fs, "race", 0);
	g_pending = 24 + 2;
	for (int i = 0; i < 24; i++) {
		r[i].off = 2 * BUF + 1 + (uint64_t)(i % 3) * 100;
		r[i].len = BUF - 500;
		r[i].buf = malloc(r[i].len);
		CHECK_NOT_NULL(r[i].buf);
		spio_file_read_async(f, r[i].buf, r[i].off, r[i].len, rd_done, &r[i]);
	}
	spio_file_write_async(f, newer, 2 * BUF, BUF, wr_done, &wrc);
	spio_file_sync_async(f, wr_done, &src);
	wait_pending();
	CHECK_EQ(wrc, 0);
	CHECK_EQ(src, 0);
	for (int i = 0; i < 24; i++) {
		uint64_t at = r[i].off - 2 * BUF;

		CHECK_EQ(r[i].result, (int64_t)r[i].len);
		CHECK(memcmp(r[i].buf, old + r[i].off, r[i].len) == 0 ||
			  memcmp(r[i].buf, newer + at, r[i].len) == 0,
		      "read %d mixes old and new bytes", i);
		free(r[i].buf);
	}
	/* Every bounce buffer was taken (the other reads went through the cache), all back. */
	CHECK_EQ(fs->cache.bounce_alloc, BLOBFS_BOUNCE_MAX);
	CHECK_EQ(fs->cache.bounce_free, fs->cache.bounce_alloc);
	memcpy(old + 2 * BUF, newer, BUF);
	check_file(f, old, 8 * BUF);
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(old);
	free(newer);
}

/*
 * A direct read held at the device (its bytes read only when released)
 * while its file is shrunk and synced (clusters freed) and another file
 * takes the clusters and writes them: the read must not return the other
 * file's bytes (it is redone through the cache: the file is empty by then).
 */
static bool g_hold;
static struct {
	struct spio_bs_dev *dev;
	struct spio_io_channel *ch;
	void *payload;
	uint64_t lba;
	uint32_t n;
	struct spio_bs_dev_cb_args *args;
} g_held;
static int g_nheld;

static void holding_read(struct spio_bs_dev *dev, struct spio_io_channel *ch, void *payload,
			 uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *args)
{
	if (!g_hold) {
		g_orig_read(dev, ch, payload, lba, n, args);
		return;
	}
	g_hold = false;
	g_nheld++;
	g_held.dev = dev;
	g_held.ch = ch;
	g_held.payload = payload;
	g_held.lba = lba;
	g_held.n = n;
	g_held.args = args;
}

static void direct_read_vs_free_body(void *arg)
{
	struct spy_dev *s = arg;
	struct spio_filesystem *fs = mkfs_dev(&s->base, 8 * BUF);
	uint8_t *old = malloc(4 * BUF);
	uint8_t *other = malloc(4 * BUF);
	struct rd r = {.off = BUF + 1, .len = 2 * BUF};
	struct spio_file *f;
	struct spio_file *g;

	CHECK_NOT_NULL(old);
	CHECK_NOT_NULL(other);
	r.buf = malloc(r.len);
	CHECK_NOT_NULL(r.buf);
	fill(old, 4 * BUF, 61);
	memset(other, 0xee, 4 * BUF);
	f = open_file(fs, "a", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(f, old, 0, 4 * BUF), 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	f = open_file(fs, "a", 0);
	g_nheld = 0;
	g_hold = true;
	g_pending = 1;
	spio_file_read_async(f, r.buf, r.off, r.len, rd_done, &r);
	for (int i = 0; g_nheld == 0; i++) {
		CHECK(i < 1000000, "the direct read never reached the device");
		spio_task_yield();
	}
	CHECK_EQ(spio_file_truncate_await(f, 0), 0);
	CHECK_EQ(spio_file_sync_await(f), 0);
	g = open_file(fs, "b", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(g, other, 0, 4 * BUF), 0);
	CHECK_EQ(spio_file_sync_await(g), 0);
	/* The freed clusters are b's now: the held read sees b's bytes on the device. */
	g_orig_read(g_held.dev, g_held.ch, g_held.payload, g_held.lba, g_held.n, g_held.args);
	wait_pending();
	CHECK(r.result == 0 ||
		  (r.result == (int64_t)r.len && memcmp(r.buf, old + r.off, r.len) == 0),
	      "the read returned %ld bytes of another file", (long)r.result);
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_file_close_await(g), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(r.buf);
	free(old);
	free(other);
}

Test(blobfs_data, direct_read_vs_free)
{
	struct spy_dev s;
	uint8_t *bytes;

	memset(&s, 0, sizeof(s));
	spy_dev_init(&s, (uint64_t)DEV_BLOCKS * BLK, BLK, &bytes);
	g_orig_read = s.base.read;
	s.base.read = holding_read;
	blob_task_run(g_thread, direct_read_vs_free_body, &s);
	cr_assert_eq(s.destroyed, 1);
	spy_dev_release(&s);
}

/*
 * Device errors: a failed read fails the read and is read again next time;
 * failed write-backs (the spy device's writes made to report -EIO) fail the
 * sync, never hang a writer short of budget, and the next sync writes the
 * data again.
 */
struct wfail {
	struct spio_bs_dev_cb_args own;
	struct spio_bs_dev_cb_args *orig;
};

static bool g_fail_writes;
static int g_failed_writes;
static void (*g_orig_write)(struct spio_bs_dev *dev, struct spio_io_channel *channel, void *payload,
			    uint64_t lba, uint32_t lba_count, struct spio_bs_dev_cb_args *cb_args);

static void wfail_done(struct spio_io_channel *ch, void *arg, int rc)
{
	struct wfail *w = arg;
	struct spio_bs_dev_cb_args *o = w->orig;

	(void)rc;
	free(w);
	o->cb_fn(ch, o->cb_arg, -EIO);
}

static void failing_write(struct spio_bs_dev *dev, struct spio_io_channel *ch, void *payload,
			  uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *args)
{
	struct wfail *w;

	if (!g_fail_writes) {
		g_orig_write(dev, ch, payload, lba, n, args);
		return;
	}
	w = malloc(sizeof(*w));
	cr_assert_not_null(w);
	w->own = (struct spio_bs_dev_cb_args){wfail_done, args->channel, w};
	w->orig = args;
	g_failed_writes++;
	g_orig_write(dev, ch, payload, lba, n, &w->own);
}

static void io_errors_body(void *arg)
{
	struct spy_dev *s = arg;
	struct spio_filesystem *fs = mkfs_dev(&s->base, 2 * BUF);
	uint8_t *data = malloc(8 * BUF);
	uint8_t *newer = malloc(5 * BUF);
	uint8_t chunk[4096];
	struct spio_file *f;

	CHECK_NOT_NULL(data);
	CHECK_NOT_NULL(newer);
	fill(data, 8 * BUF, 21);
	fill(newer, 5 * BUF, 22);
	f = open_file(fs, "err", SPIO_BLOBFS_OPEN_CREATE);
	CHECK_EQ(spio_file_write_await(f, data, 0, 8 * BUF), 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	f = open_file(fs, "err", 0);
	s->fail_read = s->reads + 1;
	CHECK_EQ(spio_file_read_await(f, chunk, 5 * BUF, sizeof(chunk)), -EIO);
	CHECK_EQ(spio_file_read_await(f, chunk, 5 * BUF, sizeof(chunk)), (int64_t)sizeof(chunk));
	CHECK(memcmp(chunk, data + 5 * BUF, sizeof(chunk)) == 0);
	/* The same through the cache (a read continuing an empty one): the buffer is read again. */
	CHECK_EQ(spio_file_read_await(f, chunk, 6 * BUF, 0), 0);
	s->fail_read = s->reads + 1;
	CHECK_EQ(spio_file_read_await(f, chunk, 6 * BUF, sizeof(chunk)), -EIO);
	CHECK_EQ(spio_file_read_await(f, chunk, 6 * BUF, 0), 0);
	CHECK_EQ(spio_file_read_await(f, chunk, 6 * BUF, sizeof(chunk)), (int64_t)sizeof(chunk));
	CHECK(memcmp(chunk, data + 6 * BUF, sizeof(chunk)) == 0);
	/* Five dirty buffers through a budget of two while every write fails. */
	g_fail_writes = true;
	CHECK_EQ(spio_file_write_await(f, newer, BUF, 5 * BUF), 0);
	CHECK(g_failed_writes > 0, "no write-back was tried");
	CHECK_EQ(spio_file_sync_await(f), -EIO);
	g_fail_writes = false;
	CHECK_EQ(spio_file_sync_await(f), 0);
	CHECK_EQ(spio_file_close_await(f), 0);
	memcpy(data + BUF, newer, 5 * BUF);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	fs = NULL;
	{
		struct spio_blobfs_opts o;

		fs_opts(&o, 2 * BUF);
		CHECK_EQ(spio_fs_load_await(&s->base, &o, &fs), 0);
	}
	f = open_file(fs, "err", SPIO_BLOBFS_OPEN_RDONLY);
	check_file(f, data, 8 * BUF);
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(data);
	free(newer);
}

Test(blobfs_data, io_errors)
{
	struct spy_dev s;
	uint8_t *bytes;

	memset(&s, 0, sizeof(s));
	spy_dev_init(&s, (uint64_t)DEV_BLOCKS * BLK, BLK, &bytes);
	g_orig_write = s.base.write;
	s.base.write = failing_write;
	blob_task_run(g_thread, io_errors_body, &s);
	cr_assert_eq(s.destroyed, 2);
	spy_dev_release(&s);
}

/*
 * Crash consistency: a workload of rounds (open a file, writes / truncates,
 * sync, close) logged by helper_cut_dev; the device is rebuilt as every
 * prefix of its writes left it and loaded: a file whose last sync completed
 * before the cut and that no later round touched reads back exactly as at
 * that sync; the file of the round in progress has the length of its last
 * or next sync.
 */
#define CRASH_BLOCKS 1024u /* 4 MiB */
#define CRASH_FILES 3
#define CRASH_ROUNDS 12
#define CRASH_MAX (256u * 1024)
#define CRASH_CUTS 120

struct crash_state {
	size_t synced_at;  /* log entries when the sync completed */
	size_t next_start; /* log entries when the next round of the file began, SIZE_MAX: none */
	uint64_t len;
	uint64_t next_len;
	uint8_t *data;
};

struct crash {
	struct crash_state st[CRASH_ROUNDS];
	int file[CRASH_ROUNDS]; /* the file of each round */
	uint8_t *start;		/* the device after mkfs */
};

static const char *crash_name(int i)
{
	static const char *names[CRASH_FILES] = {"c0", "c1", "c2"};

	return names[i];
}

static void crash_workload(struct cut_ctl *wk, struct crash *cr)
{
	struct spio_filesystem *fs = mkfs(wk, 3 * BUF);
	uint8_t *shadow[CRASH_FILES];
	uint64_t len[CRASH_FILES] = {0};
	int last_round[CRASH_FILES] = {-1, -1, -1};
	uint8_t *buf = malloc(CRASH_MAX);
	uint64_t s = 4242;

	CHECK_NOT_NULL(buf);
	for (int i = 0; i < CRASH_FILES; i++) {
		shadow[i] = calloc(1, CRASH_MAX);
		CHECK_NOT_NULL(shadow[i]);
		CHECK_EQ(spio_fs_create_file_await(fs, crash_name(i)), 0);
	}
	/* The image every cut starts from: the files exist, empty. */
	cr->start = malloc((size_t)CRASH_BLOCKS * BLK);
	CHECK_NOT_NULL(cr->start);
	memcpy(cr->start, wk->bytes, (size_t)CRASH_BLOCKS * BLK);
	wk->mode = CUT_LOG_DATA;
	cut_log_clear(wk);
	for (int r = 0; r < CRASH_ROUNDS; r++) {
		int fi = (int)(rnd(&s) % CRASH_FILES);
		struct spio_file *f;

		cr->file[r] = fi;
		if (last_round[fi] >= 0) {
			cr->st[last_round[fi]].next_start = wk->nlog;
		}
		f = open_file(fs, crash_name(fi), 0);
		for (int k = 0; k < 4; k++) {
			uint64_t off = rnd(&s) % (CRASH_MAX / 2);
			uint64_t n = 1 + rnd(&s) % (CRASH_MAX / 2);

			if (rnd(&s) % 4 == 0) {
				CHECK_EQ(spio_file_truncate_await(f, off), 0);
				if (off < len[fi]) {
					memset(shadow[fi] + off, 0, len[fi] - off);
				}
				len[fi] = off;
				continue;
			}
			fill(buf, n, rnd(&s));
			CHECK_EQ(spio_file_write_await(f, buf, off, n), 0);
			memcpy(shadow[fi] + off, buf, n);
			len[fi] = off + n > len[fi] ? off + n : len[fi];
		}
		CHECK_EQ(spio_file_sync_await(f), 0);
		cr->st[r].synced_at = wk->nlog;
		cr->st[r].next_start = SIZE_MAX;
		cr->st[r].len = len[fi];
		cr->st[r].data = malloc(len[fi] + 1);
		CHECK_NOT_NULL(cr->st[r].data);
		memcpy(cr->st[r].data, shadow[fi], len[fi]);
		if (last_round[fi] >= 0) {
			cr->st[last_round[fi]].next_len = len[fi];
		}
		last_round[fi] = r;
		CHECK_EQ(spio_file_close_await(f), 0);
	}
	wk->mode = CUT_LOG_OFF;
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	for (int i = 0; i < CRASH_FILES; i++) {
		free(shadow[i]);
	}
	free(buf);
}

/* Check every file of the filesystem on `ck` against the cut after `k` writes. */
static void crash_check_cut(struct cut_ctl *ck, struct crash *cr, size_t k)
{
	struct spio_filesystem *fs = load(ck, LARGE_CACHE);
	uint8_t *got = malloc(CRASH_MAX + 1);

	CHECK_NOT_NULL(got);
	for (int fi = 0; fi < CRASH_FILES; fi++) {
		struct spio_file *f = open_file(fs, crash_name(fi), SPIO_BLOBFS_OPEN_RDONLY);
		int last = -1;
		int64_t n;

		for (int r = 0; r < CRASH_ROUNDS; r++) {
			if (cr->file[r] == fi && cr->st[r].synced_at <= k) {
				last = r;
			}
		}
		n = spio_file_read_await(f, got, 0, CRASH_MAX + 1);
		CHECK_EQ(n, (int64_t)spio_file_get_length(f), "cut %zu file %d", k, fi);
		if (last < 0) {
			/* Before its first sync: empty, or what that sync wrote (its md landed). */
			CHECK_EQ(spio_file_close_await(f), 0);
			continue;
		}
		if (cr->st[last].next_start > k) {
			CHECK_EQ(n, (int64_t)cr->st[last].len, "cut %zu file %d round %d", k, fi,
				 last);
			CHECK(memcmp(got, cr->st[last].data, (size_t)n) == 0,
			      "cut %zu file %d differs from round %d", k, fi, last);
		} else {
			CHECK(n == (int64_t)cr->st[last].len || n == (int64_t)cr->st[last].next_len,
			      "cut %zu file %d: length %ld", k, fi, (long)n);
		}
		CHECK_EQ(spio_file_close_await(f), 0);
	}
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(got);
}

TASK_TEST_DEV(crash_consistency, CRASH_BLOCKS)
{
	struct crash cr;
	struct cut_ctl ck;
	size_t size = (size_t)CRASH_BLOCKS * BLK;
	uint8_t *img;
	size_t applied = 0;
	size_t step;

	memset(&cr, 0, sizeof(cr));
	crash_workload(c, &cr);
	CHECK(c->nlog > 10, "%zu writes", c->nlog);
	step = c->nlog / CRASH_CUTS + 1;
	img = malloc(size);
	CHECK_NOT_NULL(img);
	memcpy(img, cr.start, size);
	cut_ctl_init(&ck, CRASH_BLOCKS, BLK);
	ck.mode = CUT_LOG_RANGES;
	memcpy(ck.bytes, img, size);
	for (size_t k = 0;; k += step) {
		k = k > c->nlog ? c->nlog : k;
		cut_log_apply(c, applied, k, img);
		cut_log_apply(c, applied, k, ck.bytes);
		applied = k;
		crash_check_cut(&ck, &cr, k);
		cut_log_restore(&ck, ck.bytes, img);
		cut_log_clear(&ck);
		if (k == c->nlog) {
			break;
		}
	}
	fprintf(stderr, "crash check: %zu writes, cut every %zu\n", c->nlog, step);
	cut_ctl_fini(&ck);
	for (int r = 0; r < CRASH_ROUNDS; r++) {
		free(cr.st[r].data);
	}
	free(cr.start);
	free(img);
}

/*
 * The blob I/O gate: with 4 KiB buffers, 32 requests of 128 KiB in flight
 * are ~1024 blob I/Os, past the blob channel's 512 operations. BlobFS keeps
 * at most BLOBFS_IO_MAX in flight and queues the rest, and an -ENOMEM of
 * the channel (its slots taken by another user of the thread) is retried:
 * every request succeeds with the right data.
 */
#define WIDE_N 32
#define WIDE_REQ (128u * 1024)
#define WIDE_FILE (WIDE_N * WIDE_REQ)
#define WIDE_HOG 512

static int g_hog_pending;
static uint8_t *g_hog_buf; /* the hog's reads (only those) are held at the device */
static void (*g_hog_orig_read)(struct spio_bs_dev *dev, struct spio_io_channel *channel,
			       void *payload, uint64_t lba, uint32_t lba_count,
			       struct spio_bs_dev_cb_args *cb_args);
static struct {
	struct spio_bs_dev *dev;
	struct spio_io_channel *ch;
	uint64_t lba;
	uint32_t n;
	struct spio_bs_dev_cb_args *args;
} g_hog_held[WIDE_HOG];
static int g_hog_nheld;

static void hog_read(struct spio_bs_dev *dev, struct spio_io_channel *ch, void *payload,
		     uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *args)
{
	if (payload != g_hog_buf || g_hog_nheld == WIDE_HOG) {
		g_hog_orig_read(dev, ch, payload, lba, n, args);
		return;
	}
	g_hog_held[g_hog_nheld].dev = dev;
	g_hog_held[g_hog_nheld].ch = ch;
	g_hog_held[g_hog_nheld].lba = lba;
	g_hog_held[g_hog_nheld].n = n;
	g_hog_held[g_hog_nheld].args = args;
	g_hog_nheld++;
}

static void hog_done(void *arg, int rc)
{
	(void)arg;
	CHECK_EQ(rc, 0);
	g_hog_pending--;
}

/*
 * Take every slot of the fs thread's blob channel with reads of the file's
 * blob that the device holds: blobfs's next blob I/Os get -ENOMEM, with
 * nothing of its own in flight.
 */
static void hog_channel(struct spio_filesystem *fs, struct spio_file *f)
{
	struct spio_io_channel *ch = spio_bs_alloc_io_channel(fs->bs);

	CHECK_NOT_NULL(ch);
	g_hog_nheld = 0;
	g_hog_pending = WIDE_HOG;
	for (int i = 0; i < WIDE_HOG; i++) {
		spio_blob_io_read(f->file->blob, ch, g_hog_buf, 0, 1, hog_done, NULL);
	}
	spio_bs_free_io_channel(ch);
	for (int i = 0; g_hog_nheld < WIDE_HOG; i++) {
		CHECK(i < 100000, "the channel's reads never reached the device");
		spio_task_yield();
	}
}

/* Let blobfs spin on the full channel for a while, then free it. */
static void hog_release(void)
{
	for (int i = 0; i < 200; i++) {
		spio_task_yield();
	}
	for (int i = 0; i < g_hog_nheld; i++) {
		g_hog_orig_read(g_hog_held[i].dev, g_hog_held[i].ch, g_hog_buf, g_hog_held[i].lba,
				g_hog_held[i].n, g_hog_held[i].args);
	}
	g_hog_nheld = 0;
	for (int i = 0; g_hog_pending > 0; i++) {
		CHECK(i < 10000000, "channel reads hang");
		spio_task_yield();
	}
}

static void wide_reads(struct spio_filesystem *fs, struct spio_file *f, const uint8_t *data,
		       uint8_t *bufs, bool seq, bool hog, uint64_t *s)
{
	struct rd r[WIDE_N];

	if (hog) {
		hog_channel(fs, f);
	}
	g_pending = WIDE_N;
	for (int i = 0; i < WIDE_N; i++) {
		uint64_t off = seq ? (uint64_t)i * WIDE_REQ : rnd(s) % (WIDE_FILE - WIDE_REQ);

		r[i].off = off;
		r[i].len = WIDE_REQ;
		r[i].buf = bufs + (size_t)i * WIDE_REQ;
		r[i].done = false;
		spio_file_read_async(f, r[i].buf, off, WIDE_REQ, rd_done, &r[i]);
	}
	if (hog) {
		hog_release();
	}
	wait_pending();
	for (int i = 0; i < WIDE_N; i++) {
		CHECK_EQ(r[i].result, (int64_t)WIDE_REQ, "%s read %d", seq ? "seq" : "random", i);
		CHECK(first_diff(r[i].buf, data + r[i].off, WIDE_REQ) == WIDE_REQ,
		      "%s read %d at %" PRIu64 " differs", seq ? "seq" : "random", i, r[i].off);
	}
}

TASK_TEST_DEV(io_gate, 8192)
{
	struct spio_filesystem *fs;
	struct spio_bs_dev *dev;
	uint8_t *data = malloc(WIDE_FILE);
	uint8_t *bufs = aligned_alloc(BLK, (size_t)(WIDE_N + 1) * WIDE_REQ);
	int rc[WIDE_N];
	uint64_t s = 4242;
	struct spio_file *f;

	CHECK_NOT_NULL(data);
	CHECK_NOT_NULL(bufs);
	g_buf_size = 4096;
	g_hog_buf = bufs + (size_t)WIDE_N * WIDE_REQ;
	dev = cut_dev_create(c);
	g_hog_orig_read = dev->read;
	dev->read = hog_read;
	fs = mkfs_dev(dev, 16u * 1024 * 1024);
	fill(data, WIDE_FILE, 21);
	f = open_file(fs, "wide", SPIO_BLOBFS_OPEN_CREATE);
	/* 32 writes of 128 KiB in flight, then sync. */
	for (uint64_t base = 0; base < WIDE_FILE; base += (uint64_t)WIDE_N * WIDE_REQ) {
		g_pending = WIDE_N;
		for (int i = 0; i < WIDE_N; i++) {
			rc[i] = 1;
			spio_file_write_async(f, data + base + (size_t)i * WIDE_REQ,
					      base + (uint64_t)i * WIDE_REQ, WIDE_REQ, wr_done,
					      &rc[i]);
		}
		wait_pending();
		for (int i = 0; i < WIDE_N; i++) {
			CHECK_EQ(rc[i], 0, "write %d at %" PRIu64, i, base);
		}
	}
	CHECK_EQ(spio_file_sync_await(f), 0);
	CHECK(fs->cache.io_peak <= BLOBFS_IO_MAX, "%u blob I/Os in flight", fs->cache.io_peak);
	CHECK_EQ(spio_file_close_await(f), 0);

	/* Cold: 32 sequential reads of 128 KiB load 1024 buffers at once. */
	f = open_file(fs, "wide", SPIO_BLOBFS_OPEN_RDONLY);
	fs->cache.io_peak = 0;
	wide_reads(fs, f, data, bufs, true, false, &s);
	CHECK_EQ(fs->cache.io_peak, BLOBFS_IO_MAX, "the gate queued nothing");
	CHECK_EQ(spio_file_close_await(f), 0);
	f = open_file(fs, "wide", SPIO_BLOBFS_OPEN_RDONLY);
	wide_reads(fs, f, data, bufs, false, false, &s);
	CHECK_EQ(spio_file_close_await(f), 0);

	/* The channel full of someone else's reads: -ENOMEM is waited out, never returned. */
	f = open_file(fs, "wide", SPIO_BLOBFS_OPEN_RDONLY);
	wide_reads(fs, f, data, bufs, true, true, &s);
	CHECK(fs->cache.io_enomem > 0, "no -ENOMEM seen: the channel was not full");
	CHECK_EQ(spio_file_close_await(f), 0);
	f = open_file(fs, "wide", SPIO_BLOBFS_OPEN_RDONLY);
	wide_reads(fs, f, data, bufs, false, true, &s);
	CHECK_EQ(spio_file_close_await(f), 0);

	/* Writes racing a full channel: write-backs wait too; the data reloads intact. */
	f = open_file(fs, "wide", 0);
	fill(data, WIDE_FILE, 22);
	g_pending = WIDE_N;
	for (int i = 0; i < WIDE_N; i++) {
		rc[i] = 1;
		spio_file_write_async(f, data + (size_t)i * WIDE_REQ, (uint64_t)i * WIDE_REQ,
				      WIDE_REQ, wr_done, &rc[i]);
	}
	wait_pending();
	for (int i = 0; i < WIDE_N; i++) {
		CHECK_EQ(rc[i], 0, "write %d", i);
	}
	fs->cache.io_enomem = 0;
	hog_channel(fs, f);
	g_pending = 1;
	spio_file_sync_async(f, wr_done, &rc[0]);
	hog_release();
	wait_pending();
	CHECK_EQ(rc[0], 0);
	CHECK(fs->cache.io_enomem > 0, "the sync's write-backs saw no full channel");
	CHECK_EQ(spio_file_close_await(f), 0);
	fs = reload(c, fs, 1024u * 1024);
	f = open_file(fs, "wide", SPIO_BLOBFS_OPEN_RDONLY);
	check_file(f, data, WIDE_FILE);
	CHECK_EQ(spio_file_close_await(f), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	g_buf_size = BUF;
	free(data);
	free(bufs);
}
