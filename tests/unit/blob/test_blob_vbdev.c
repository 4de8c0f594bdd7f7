/*
 * The blobstore over failing and slow devices: a store on an error bdev
 * (module/bdev/error) over malloc, with write, read and flush failures
 * injected into data I/O, metadata syncs, load and unload; and a store on a
 * delay bdev. Every failure must reach the caller as an error (never a
 * success, never a hang), the store must go on working once the device
 * does, and what was synced before a failure must load back intact.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev.h"
#include "spio/bdev_error.h"
#include "spio/bdev_malloc.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/task.h"
#include "spio/thread.h"

#include "../../../module/bdev/delay/vbdev_delay.h"
#include "helper_blob_task.h"
#include "helper_blob_thread.h"

#define BLOCK 4096u
#define NUM_BLOCKS 4096u /* 16 MiB */
#define CLUSTER (256u * 1024)
#define IO_UNITS_PER_CLUSTER (CLUSTER / BLOCK)
#define TIMEOUT_US (10ULL * 1000 * 1000)

static struct spio_thread *g_thread;
static struct spio_bdev *g_vbdev; /* the error or delay bdev of the test */

static void done_cb(void *arg)
{
	(*(int *)arg)++;
}

static void poll_until(const int *counter, int want, const char *what)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(TIMEOUT_US);

	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < want) {
		cr_assert_leq(spio_get_ticks(), end, "%s did not complete", what);
		spio_thread_poll(g_thread, 0, 0);
	}
}

static void setup(void)
{
	struct spio_bdev_opts bopts;
	struct spio_bdev_malloc_opts mopts;
	struct spio_bdev *bdev;
	char err[256];

	blob_test_env_init("test_blob_vbdev");
	g_thread = blob_test_thread_start("blob_vbdev");
	spio_bdev_opts_init(&bopts, sizeof(bopts));
	cr_assert_eq(spio_bdev_initialize(&bopts, NULL, NULL), 0);
	spio_bdev_malloc_opts_init(&mopts, sizeof(mopts));
	mopts.name = "M0";
	mopts.num_blocks = NUM_BLOCKS;
	mopts.block_size = BLOCK;
	cr_assert_eq(spio_bdev_malloc_create(&mopts, &bdev, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	int done = 0;

	spio_set_thread(g_thread);
	cr_assert_eq(spio_bdev_finish(done_cb, &done), 0);
	poll_until(&done, 1, "spio_bdev_finish");
	blob_test_thread_end(g_thread);
	spio_env_fini();
}

TestSuite(blob_vbdev, .init = setup, .fini = teardown, .timeout = 120);

static void inject(enum spio_bdev_io_type type, enum spio_bdev_error_type error, uint32_t num)
{
	struct spio_bdev_error_inject_opts o = {
	    .io_type = type,
	    .error_type = error,
	    .num = num,
	};

	CHECK_EQ(spio_bdev_error_inject("EE_M0", &o), 0);
}

static void inject_clear(void)
{
	inject(SPIO_BDEV_IO_TYPE_INVALID, SPIO_BDEV_ERROR_TYPE_FAILURE, 0);
}

static struct spio_bs_dev *open_dev(const char *name)
{
	struct spio_bs_dev *dev = NULL;

	CHECK_EQ(spio_bdev_create_bs_dev(name, true, NULL, NULL, &dev), 0, "bs_dev on %s", name);
	return dev;
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++) {
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 12));
	}
}

struct store {
	struct spio_blob_store *bs;
	struct spio_io_channel *ch;
	struct spio_blob *blob;
	spio_blob_id id;
};

static void store_init(struct store *s, const char *bdev)
{
	struct spio_bs_opts o;
	struct spio_blob_opts bo;

	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER;
	CHECK_EQ(spio_bs_init_await(open_dev(bdev), &o, &s->bs), 0, "init on %s", bdev);
	s->ch = spio_bs_alloc_io_channel(s->bs);
	CHECK_NOT_NULL(s->ch);
	spio_blob_opts_init(&bo, sizeof(bo));
	bo.num_clusters = 4;
	CHECK_EQ(spio_bs_create_blob_await(s->bs, &bo, &s->id), 0);
	CHECK_EQ(spio_bs_open_blob_await(s->bs, s->id, &s->blob), 0);
}

static int store_load(struct store *s, const char *bdev)
{
	struct spio_bs_dev *dev = open_dev(bdev);
	int rc;

	rc = spio_bs_load_await(dev, NULL, &s->bs);
	if (rc != 0) {
		return rc;
	}
	s->ch = spio_bs_alloc_io_channel(s->bs);
	CHECK_NOT_NULL(s->ch);
	CHECK_EQ(spio_bs_open_blob_await(s->bs, s->id, &s->blob), 0, "blob 0x%llx after load",
		 (unsigned long long)s->id);
	return 0;
}

static int store_unload(struct store *s)
{
	CHECK_EQ(spio_blob_close_await(s->blob), 0);
	spio_bs_free_io_channel(s->ch);
	return spio_bs_unload_await(s->bs);
}

/* Data writes fail and say so; the data synced before is untouched. */
static void data_write_failures(void *arg)
{
	uint8_t *a = spio_dma_malloc(CLUSTER, BLOCK), *b = spio_dma_malloc(CLUSTER, BLOCK);
	uint8_t *r = spio_dma_malloc(CLUSTER, BLOCK);
	struct store s = {0};
	int rc;

	(void)arg;
	CHECK_EQ(spio_bdev_error_create("M0", NULL, &g_vbdev), 0);
	store_init(&s, "EE_M0");
	fill(a, CLUSTER, 1);
	CHECK_EQ(spio_blob_io_write_await(s.blob, s.ch, a, 0, IO_UNITS_PER_CLUSTER), 0);
	CHECK_EQ(spio_blob_sync_md_await(s.blob), 0);

	/* Every write fails: a blob write over it, and a second one. */
	inject(SPIO_BDEV_IO_TYPE_WRITE, SPIO_BDEV_ERROR_TYPE_FAILURE, 2);
	fill(b, CLUSTER, 2);
	rc = spio_blob_io_write_await(s.blob, s.ch, b, 0, IO_UNITS_PER_CLUSTER);
	CHECK_NEQ(rc, 0, "a write onto a failing device must fail");
	rc = spio_blob_io_write_await(s.blob, s.ch, b, IO_UNITS_PER_CLUSTER, 8);
	CHECK_NEQ(rc, 0, "the second injected failure must fail too");
	/* The count is spent: the device works again, as does the store. */
	CHECK_EQ(
	    spio_blob_io_write_await(s.blob, s.ch, b, IO_UNITS_PER_CLUSTER, IO_UNITS_PER_CLUSTER),
	    0);
	CHECK_EQ(spio_blob_io_read_await(s.blob, s.ch, r, 0, IO_UNITS_PER_CLUSTER), 0);
	CHECK(memcmp(r, a, CLUSTER) == 0, "the failed write changed the first cluster");
	CHECK_EQ(
	    spio_blob_io_read_await(s.blob, s.ch, r, IO_UNITS_PER_CLUSTER, IO_UNITS_PER_CLUSTER),
	    0);
	CHECK(memcmp(r, b, CLUSTER) == 0, "the write after the failures");

	/* Reads: one fails, the next reads the data. */
	inject(SPIO_BDEV_IO_TYPE_READ, SPIO_BDEV_ERROR_TYPE_FAILURE, 1);
	CHECK_NEQ(spio_blob_io_read_await(s.blob, s.ch, r, 0, IO_UNITS_PER_CLUSTER), 0,
		  "a read from a failing device must fail");
	memset(r, 0, CLUSTER);
	CHECK_EQ(spio_blob_io_read_await(s.blob, s.ch, r, 0, IO_UNITS_PER_CLUSTER), 0);
	CHECK(memcmp(r, a, CLUSTER) == 0, "the read after the failure");

	CHECK_EQ(store_unload(&s), 0);
	CHECK_EQ(store_load(&s, "EE_M0"), 0, "a clean reload");
	CHECK_EQ(spio_blob_io_read_await(s.blob, s.ch, r, 0, IO_UNITS_PER_CLUSTER), 0);
	CHECK(memcmp(r, a, CLUSTER) == 0, "cluster 0 after the reload");
	CHECK_EQ(store_unload(&s), 0);
	spio_dma_free(a);
	spio_dma_free(b);
	spio_dma_free(r);
}

Test(blob_vbdev, data_write_and_read_failures_are_reported)
{
	blob_task_run(g_thread, data_write_failures, NULL);
}

/*
 * Metadata: a sync whose page writes fail reports the failure and leaves the
 * synced state as it was; a later sync succeeds; a load that cannot read is
 * refused and a retry loads; an unload that cannot write still lets go of
 * the store, and the dirty store then loads with what was synced.
 */
static void md_failures(void *arg)
{
	struct store s = {0};
	uint64_t n;
	int rc;

	(void)arg;
	CHECK_EQ(spio_bdev_error_create("M0", NULL, &g_vbdev), 0);
	store_init(&s, "EE_M0");
	CHECK_EQ(spio_blob_set_xattr(s.blob, "name", "first", 6), 0);
	CHECK_EQ(spio_blob_sync_md_await(s.blob), 0);

	CHECK_EQ(spio_blob_resize_await(s.blob, 8), 0);
	CHECK_EQ(spio_blob_set_xattr(s.blob, "name", "second", 7), 0);
	inject(SPIO_BDEV_NUM_IO_TYPES, SPIO_BDEV_ERROR_TYPE_FAILURE, 1000);
	rc = spio_blob_sync_md_await(s.blob);
	CHECK_NEQ(rc, 0, "a sync onto a failing device must fail");
	inject_clear();
	CHECK_EQ(spio_blob_sync_md_await(s.blob), 0, "the same sync once the device works");

	/* An unload whose writes fail: reported, and the store is gone all the same. */
	inject(SPIO_BDEV_NUM_IO_TYPES, SPIO_BDEV_ERROR_TYPE_FAILURE, 1000);
	CHECK_NEQ(store_unload(&s), 0, "an unload that cannot write must fail");
	inject_clear();

	/* A load that cannot read is refused; then it loads (dirty) with the synced blob. */
	inject(SPIO_BDEV_IO_TYPE_READ, SPIO_BDEV_ERROR_TYPE_FAILURE, 1);
	CHECK_NEQ(store_load(&s, "EE_M0"), 0, "a load that cannot read must fail");
	inject_clear();
	CHECK_EQ(store_load(&s, "EE_M0"), 0, "the load once the device works");
	n = spio_blob_get_num_clusters(s.blob);
	CHECK_EQ(n, 8, "the synced size");
	{
		const void *v = NULL;
		size_t len = 0;

		CHECK_EQ(spio_blob_get_xattr_value(s.blob, "name", &v, &len), 0);
		CHECK(len == 7 && memcmp(v, "second", 7) == 0, "the synced xattr");
	}
	CHECK_EQ(store_unload(&s), 0);
}

Test(blob_vbdev, metadata_sync_load_and_unload_failures)
{
	blob_task_run(g_thread, md_failures, NULL);
}

/* Pending I/O on the device: a write held by the error bdev completes when resumed. */
struct held {
	int done;
	int rc;
};

static void held_done(void *arg, int rc)
{
	struct held *h = arg;

	h->rc = rc;
	h->done++;
}

static void held_io(void *arg)
{
	uint8_t *a = spio_dma_malloc(CLUSTER, BLOCK), *r = spio_dma_malloc(CLUSTER, BLOCK);
	struct store s = {0};
	struct held h = {0};

	(void)arg;
	CHECK_EQ(spio_bdev_error_create("M0", NULL, &g_vbdev), 0);
	store_init(&s, "EE_M0");
	inject(SPIO_BDEV_IO_TYPE_WRITE, SPIO_BDEV_ERROR_TYPE_PENDING, 1);
	fill(a, CLUSTER, 9);
	spio_blob_io_write(s.blob, s.ch, a, 0, IO_UNITS_PER_CLUSTER, held_done, &h);
	for (int i = 0; i < 1000; i++) {
		spio_task_yield();
	}
	CHECK_EQ(h.done, 0, "a held write must not complete before it is resumed");
	CHECK_EQ(spio_bdev_error_resume_pending("EE_M0"), 0);
	for (int i = 0; i < 100000 && h.done == 0; i++) {
		spio_task_yield();
	}
	CHECK_EQ(h.done, 1, "the resumed write completes once");
	CHECK_EQ(h.rc, 0);
	CHECK_EQ(spio_blob_io_read_await(s.blob, s.ch, r, 0, IO_UNITS_PER_CLUSTER), 0);
	CHECK(memcmp(r, a, CLUSTER) == 0, "the resumed write's data");
	CHECK_EQ(store_unload(&s), 0);
	spio_dma_free(a);
	spio_dma_free(r);
}

Test(blob_vbdev, held_write_completes_when_resumed)
{
	blob_task_run(g_thread, held_io, NULL);
}

/* A slow device: many writes in flight at once, each completing late, all land. */
struct wave {
	int done;
	int failed;
};

static void wave_done(void *arg, int rc)
{
	struct wave *w = arg;

	w->failed += rc != 0;
	w->done++;
}

static void slow_device(void *arg)
{
	enum { N = 32 };
	const uint64_t lat[VBDEV_DELAY_NUM_LATENCIES] = {100, 400, 200, 800};
	uint8_t *bufs = spio_dma_malloc((size_t)N * BLOCK, BLOCK);
	uint8_t *r = spio_dma_malloc(BLOCK, BLOCK);
	struct store s = {0};
	struct wave w = {0};
	uint64_t start;

	(void)arg;
	CHECK_EQ(vbdev_delay_create("M0", "D0", NULL, lat, &g_vbdev), 0);
	store_init(&s, "D0");
	start = spio_get_ticks();
	for (int i = 0; i < N; i++) {
		fill(bufs + (size_t)i * BLOCK, BLOCK, (uint8_t)(40 + i));
		/* every other unit of the thick blob: writes to every cluster at once */
		spio_blob_io_write(s.blob, s.ch, bufs + (size_t)i * BLOCK, (uint64_t)i * 2, 1,
				   wave_done, &w);
	}
	for (int i = 0; i < 1000000 && w.done < N; i++) {
		spio_task_yield();
	}
	CHECK_EQ(w.done, N, "every delayed write completes");
	CHECK_EQ(w.failed, 0);
	CHECK(spio_get_ticks() - start >= spio_us_to_ticks(200),
	      "the writes took at least the delay's average write latency");
	CHECK_EQ(spio_blob_sync_md_await(s.blob), 0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(spio_blob_io_read_await(s.blob, s.ch, r, (uint64_t)i * 2, 1), 0);
		CHECK(memcmp(r, bufs + (size_t)i * BLOCK, BLOCK) == 0, "unit %d", i * 2);
	}
	CHECK_EQ(store_unload(&s), 0);
	CHECK_EQ(store_load(&s, "D0"), 0, "the store on the slow device loads again");
	CHECK_EQ(spio_blob_io_read_await(s.blob, s.ch, r, 2, 1), 0);
	CHECK(memcmp(r, bufs + BLOCK, BLOCK) == 0, "unit 2 after the reload");
	CHECK_EQ(store_unload(&s), 0);
	spio_dma_free(bufs);
	spio_dma_free(r);
}

Test(blob_vbdev, store_on_a_slow_device)
{
	blob_task_run(g_thread, slow_device, NULL);
}
