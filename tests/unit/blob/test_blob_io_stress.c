/*
 * Thin allocation under real concurrency: several OS threads, each polling
 * its own spio thread with its own blobstore channel, write the same
 * unallocated clusters of a thin blob at once (each thread its own io units
 * of every cluster, in two writes, so a thread's second write waits behind
 * its first's allocation while other threads race it). Afterwards: every
 * cluster allocated exactly once, every byte landed, and the store unloads
 * and loads (clean, then force_recover) with no cluster owned twice.
 * The same on a clone, where each allocation also copies the parent's
 * cluster and a lost race gives back a cluster holding data.
 * Meant to run under TSan as well (blob is in SPIO_TSAN_LAYERS).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob_internal.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/env.h"
#include "spio/thread.h"
#include "helper_blob_done.h"
#include "helper_blob_thread.h"

#define BLOCKLEN 512u
#define CLUSTER_SZ 16384u
#define UPC (CLUSTER_SZ / BLOCKLEN)
#define NTHREADS 4
/* Io units of each cluster per thread: the threads write half of every cluster. */
#define UNITS (UPC / (2 * NTHREADS))
#define NCLUSTERS 48
#define DEV_BLOCKS 8192u
#define POLL_LIMIT 2000000

static struct spio_thread *g_md;
static struct spio_bs_dev *g_mem; /* survives unloads: the store gets wrappers */
static uint8_t *g_data;

/*
 * A bs_dev forwarding to g_mem whose destroy frees only itself, so the
 * memory outlives an unload and can be loaded again.
 */
static struct spio_io_channel *fw_create_channel(struct spio_bs_dev *d)
{
	(void)d;
	return g_mem->create_channel(g_mem);
}

static void fw_destroy_channel(struct spio_bs_dev *d, struct spio_io_channel *ch)
{
	(void)d;
	g_mem->destroy_channel(g_mem, ch);
}

static void fw_destroy(struct spio_bs_dev *d)
{
	free(d);
}

static void fw_read(struct spio_bs_dev *d, struct spio_io_channel *ch, void *p, uint64_t lba,
		    uint32_t n, struct spio_bs_dev_cb_args *a)
{
	(void)d;
	g_mem->read(g_mem, ch, p, lba, n, a);
}

static void fw_write(struct spio_bs_dev *d, struct spio_io_channel *ch, void *p, uint64_t lba,
		     uint32_t n, struct spio_bs_dev_cb_args *a)
{
	(void)d;
	g_mem->write(g_mem, ch, p, lba, n, a);
}

static void fw_readv(struct spio_bs_dev *d, struct spio_io_channel *ch, struct iovec *iov, int cnt,
		     uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *a)
{
	(void)d;
	g_mem->readv(g_mem, ch, iov, cnt, lba, n, a);
}

static void fw_writev(struct spio_bs_dev *d, struct spio_io_channel *ch, struct iovec *iov, int cnt,
		      uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *a)
{
	(void)d;
	g_mem->writev(g_mem, ch, iov, cnt, lba, n, a);
}

static void fw_flush(struct spio_bs_dev *d, struct spio_io_channel *ch,
		     struct spio_bs_dev_cb_args *a)
{
	(void)d;
	g_mem->flush(g_mem, ch, a);
}

static void fw_write_zeroes(struct spio_bs_dev *d, struct spio_io_channel *ch, uint64_t lba,
			    uint64_t n, struct spio_bs_dev_cb_args *a)
{
	(void)d;
	g_mem->write_zeroes(g_mem, ch, lba, n, a);
}

static void fw_unmap(struct spio_bs_dev *d, struct spio_io_channel *ch, uint64_t lba, uint64_t n,
		     struct spio_bs_dev_cb_args *a)
{
	(void)d;
	g_mem->unmap(g_mem, ch, lba, n, a);
}

static struct spio_bs_dev *fw_dev(void)
{
	struct spio_bs_dev *d = calloc(1, sizeof(*d));

	cr_assert_not_null(d);
	*d = (struct spio_bs_dev){.create_channel = fw_create_channel,
				  .destroy_channel = fw_destroy_channel,
				  .destroy = fw_destroy,
				  .read = fw_read,
				  .write = fw_write,
				  .readv = fw_readv,
				  .writev = fw_writev,
				  .flush = fw_flush,
				  .write_zeroes = fw_write_zeroes,
				  .unmap = fw_unmap,
				  .blockcnt = g_mem->blockcnt,
				  .blocklen = g_mem->blocklen};
	return d;
}

/*
 * Md-thread helpers (the test's OS thread polls g_md)
 */

static void wait_n(struct blob_done *d, int want)
{
	for (int i = 0; i < POLL_LIMIT && d->n < want; i++) {
		spio_thread_poll(g_md, 0, 0);
	}
	cr_assert_eq(d->n, want, "expected %d completions, got %d", want, d->n);
}

static void op_cb(void *arg, int rc)
{
	struct blob_done *d = arg;

	d->n++;
	d->rc = rc;
}

static struct spio_blob_store *store_init(void)
{
	struct spio_bs_opts o;
	struct blob_done d = {0};

	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER_SZ;
	o.num_md_pages = 32;
	spio_bs_init(fw_dev(), &o, blob_done_bs, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "init: expected 0, got %d", d.rc);
	return d.bs;
}

static struct spio_blob_store *store_load(bool force_recover)
{
	struct spio_bs_opts o;
	struct blob_done d = {0};

	spio_bs_opts_init(&o, sizeof(o));
	o.force_recover = force_recover;
	spio_bs_load(fw_dev(), &o, blob_done_bs, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "load (force_recover %d): expected 0, got %d", force_recover, d.rc);
	return d.bs;
}

static void store_unload(struct spio_blob_store *bs)
{
	struct blob_done d = {0};

	spio_bs_unload(bs, op_cb, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "unload: expected 0, got %d", d.rc);
}

static struct spio_blob *open_blob(struct spio_blob_store *bs, spio_blob_id id)
{
	struct blob_done d = {0};

	spio_bs_open_blob(bs, id, blob_done_blob, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "open: expected 0, got %d", d.rc);
	return d.blob;
}

static void close_blob(struct spio_blob *b)
{
	struct blob_done d = {0};

	spio_blob_close(b, op_cb, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "close: expected 0, got %d", d.rc);
}

static spio_blob_id create_blob(struct spio_blob_store *bs, uint64_t clusters, bool thin)
{
	struct spio_blob_opts o;
	struct blob_done d = {0};

	spio_blob_opts_init(&o, sizeof(o));
	o.num_clusters = clusters;
	o.thin_provision = thin;
	spio_bs_create_blob_ext(bs, &o, blob_done_id, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "create: expected 0, got %d", d.rc);
	return d.id;
}

/* Blocking I/O on the md thread's own channel (setup and checks). */
static int md_io(struct spio_blob *b, struct spio_io_channel *ch, bool write, void *buf,
		 uint64_t off, uint64_t len)
{
	struct blob_done d = {0};

	if (write) {
		spio_blob_io_write(b, ch, buf, off, len, op_cb, &d);
	} else {
		spio_blob_io_read(b, ch, buf, off, len, op_cb, &d);
	}
	wait_n(&d, 1);
	return d.rc;
}

/*
 * Workers
 */

static uint8_t pattern(int t, uint64_t unit, size_t i)
{
	return (uint8_t)(0x40 + t * 37 + unit * 11 + i * 3);
}

struct worker {
	int idx;
	struct spio_thread *t;
	struct spio_blob *blob;
	struct spio_blob_store *bs;
	uint8_t *bufs; /* NCLUSTERS * UNITS io units */
	int submitted;
	int completed;
	int failed;
	int first_rc;
	int wrong_thread;
	int bad_data;
};

static pthread_barrier_t g_start;
static int g_finished;

static void worker_cb(void *arg, int rc)
{
	struct worker *w = arg;

	w->completed++;
	if (spio_get_thread() != w->t) {
		w->wrong_thread++;
	}
	if (rc != 0) {
		if (w->failed++ == 0) {
			w->first_rc = rc;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct spio_io_channel *ch;
	uint8_t *back;

	spio_set_thread(w->t);
	ch = spio_bs_alloc_io_channel(w->bs);
	pthread_barrier_wait(&g_start);
	if (ch == NULL) {
		w->failed = 1;
		goto out;
	}
	/* Thread t starts at a different cluster, so the threads meet everywhere. */
	for (uint64_t k = 0; k < NCLUSTERS; k++) {
		uint64_t c = (k + (uint64_t)w->idx * 5) % NCLUSTERS;
		uint64_t first = c * UPC + (uint64_t)w->idx * UNITS;
		uint8_t *buf = w->bufs + c * UNITS * BLOCKLEN;

		for (int half = 0; half < 2; half++) {
			uint64_t off = first + (uint64_t)half * (UNITS / 2);

			spio_blob_io_write(w->blob, ch, buf + (size_t)half * (UNITS / 2) * BLOCKLEN,
					   off, UNITS / 2, worker_cb, w);
			w->submitted++;
		}
	}
	while (w->completed < w->submitted) {
		spio_thread_poll(w->t, 0, 0);
	}
	/* Read back this thread's units through its own channel. */
	back = malloc(UNITS * BLOCKLEN);
	for (uint64_t c = 0; back != NULL && c < NCLUSTERS; c++) {
		w->submitted++;
		spio_blob_io_read(w->blob, ch, back, c * UPC + (uint64_t)w->idx * UNITS, UNITS,
				  worker_cb, w);
		while (w->completed < w->submitted) {
			spio_thread_poll(w->t, 0, 0);
		}
		if (memcmp(back, w->bufs + c * UNITS * BLOCKLEN, UNITS * BLOCKLEN) != 0) {
			w->bad_data++;
		}
	}
	free(back);
	spio_bs_free_io_channel(ch);
	for (int i = 0; i < 10; i++) {
		spio_thread_poll(w->t, 0, 0);
	}
out:
	__atomic_fetch_add(&g_finished, 1, __ATOMIC_RELEASE);
	spio_set_thread(NULL);
	return NULL;
}

/* Run the workers on `blob` while this OS thread polls the md thread. */
static void race(struct spio_blob_store *bs, struct spio_blob *blob, struct worker *w)
{
	pthread_t tid[NTHREADS];

	g_finished = 0;
	cr_assert_eq(pthread_barrier_init(&g_start, NULL, NTHREADS), 0);
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.idx = i, .blob = blob, .bs = bs};
		w[i].t = spio_thread_create("blob_io_worker", NULL);
		cr_assert_not_null(w[i].t);
		w[i].bufs = malloc((size_t)NCLUSTERS * UNITS * BLOCKLEN);
		cr_assert_not_null(w[i].bufs);
		for (uint64_t c = 0; c < NCLUSTERS; c++) {
			for (size_t j = 0; j < UNITS * BLOCKLEN; j++) {
				w[i].bufs[c * UNITS * BLOCKLEN + j] = pattern(i, c, j);
			}
		}
	}
	for (int i = 0; i < NTHREADS; i++) {
		cr_assert_eq(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
	}
	while (__atomic_load_n(&g_finished, __ATOMIC_ACQUIRE) < NTHREADS) {
		spio_thread_poll(g_md, 0, 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(tid[i], NULL);
	}
	pthread_barrier_destroy(&g_start);
	for (int i = 0; i < NTHREADS; i++) {
		struct spio_thread *prev = spio_thread_enter(w[i].t);

		spio_thread_exit(w[i].t);
		spio_thread_leave(prev);
		for (int k = 0; k < 1000 && !spio_thread_is_exited(w[i].t); k++) {
			spio_thread_poll(w[i].t, 0, 0);
		}
		cr_assert(spio_thread_is_exited(w[i].t), "worker thread %d did not exit", i);
		spio_thread_destroy(w[i].t);
		cr_assert_eq(w[i].failed, 0, "worker %d: %d I/Os failed, first with %d", i,
			     w[i].failed, w[i].first_rc);
		cr_assert_eq(w[i].wrong_thread, 0, "worker %d: completions on another thread", i);
		cr_assert_eq(w[i].bad_data, 0, "worker %d: %d clusters read back wrong", i,
			     w[i].bad_data);
	}
}

/* No cluster twice in the blob's map, every one marked used. */
static void check_map(struct spio_blob_store *bs, struct spio_blob *b, uint64_t want_allocated)
{
	uint8_t *seen = calloc(bs->geo.total_clusters, 1);
	uint64_t allocated = 0;

	cr_assert_not_null(seen);
	for (uint64_t i = 0; i < b->active.num_clusters; i++) {
		uint64_t c = blob_cluster_get(b, i);

		if (c == 0) {
			continue;
		}
		allocated++;
		cr_assert_lt(c, bs->geo.total_clusters);
		cr_assert_eq(seen[c], 0, "cluster %lu owned twice", (unsigned long)c);
		seen[c] = 1;
		cr_assert(bs_bits_test(&bs->used_clusters, c), "cluster %lu not marked used",
			  (unsigned long)c);
	}
	free(seen);
	cr_assert_eq(allocated, want_allocated, "expected %lu clusters allocated, got %lu",
		     (unsigned long)want_allocated, (unsigned long)allocated);
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), want_allocated);
}

/*
 * The whole blob: each thread's units, and the half of every cluster nobody
 * wrote as `parent` had it (NULL: zeroes; a thin blob's new clusters are not
 * zeroed, but this device was unmapped at init).
 */
static void check_data(struct spio_blob *b, struct spio_io_channel *ch, struct worker *w,
		       const uint8_t *parent)
{
	const size_t rest = (UPC - NTHREADS * UNITS) * BLOCKLEN;
	uint8_t *buf = malloc(UPC * BLOCKLEN);
	uint8_t *zero = calloc(1, rest);

	cr_assert(buf && zero);
	for (uint64_t c = 0; c < NCLUSTERS; c++) {
		const uint8_t *want =
		    parent ? parent + (c * UPC + NTHREADS * UNITS) * BLOCKLEN : zero;

		cr_assert_eq(md_io(b, ch, false, buf, c * UPC, UPC), 0);
		for (int t = 0; t < NTHREADS; t++) {
			cr_assert_eq(memcmp(buf + (size_t)t * UNITS * BLOCKLEN,
					    w[t].bufs + c * UNITS * BLOCKLEN, UNITS * BLOCKLEN),
				     0, "cluster %lu: thread %d's write is not there",
				     (unsigned long)c, t);
		}
		cr_assert_eq(memcmp(buf + NTHREADS * UNITS * BLOCKLEN, want, rest), 0,
			     "cluster %lu: the part nobody wrote changed", (unsigned long)c);
	}
	free(buf);
	free(zero);
}

/* Load the store again (clean, then force_recover) and check the blob each time. */
static void reload_and_check(spio_blob_id id, struct worker *w, const uint8_t *parent,
			     uint64_t blobs_clusters)
{
	for (int pass = 0; pass < 2; pass++) {
		struct spio_blob_store *bs = store_load(pass == 1);
		struct spio_blob *b = open_blob(bs, id);
		struct spio_io_channel *ch = spio_bs_alloc_io_channel(bs);
		uint64_t used = bs->geo.total_clusters - spio_bs_free_cluster_count(bs);

		cr_assert_not_null(ch);
		check_map(bs, b, NCLUSTERS);
		cr_assert_eq(used, bs->geo.md_clusters + blobs_clusters,
			     "pass %d: expected %lu clusters used, got %lu", pass,
			     (unsigned long)(bs->geo.md_clusters + blobs_clusters),
			     (unsigned long)used);
		check_data(b, ch, w, parent);
		spio_bs_free_io_channel(ch);
		close_blob(b);
		for (int i = 0; i < 10; i++) {
			spio_thread_poll(g_md, 0, 0);
		}
		store_unload(bs);
	}
}

static void setup(void)
{
	blob_test_env_init("test_blob_io_stress");
	g_md = blob_test_thread_start("blob_io_stress_md");
	g_mem = spio_bs_dev_mem_create(DEV_BLOCKS, BLOCKLEN);
	cr_assert_not_null(g_mem);
	g_data = spio_bs_dev_mem_data(g_mem);
}

static void teardown(void)
{
	g_mem->destroy(g_mem);
	for (int i = 0; i < 10; i++) {
		spio_thread_poll(g_md, 0, 0);
	}
	blob_test_thread_end(g_md);
	spio_env_fini();
}

TestSuite(blob_io_stress, .init = setup, .fini = teardown, .timeout = 300);

Test(blob_io_stress, racing_thin_writes)
{
	struct spio_blob_store *bs = store_init();
	spio_blob_id id = create_blob(bs, NCLUSTERS, true);
	struct spio_blob *b = open_blob(bs, id);
	uint64_t free0 = spio_bs_free_cluster_count(bs);
	struct worker w[NTHREADS];
	struct spio_io_channel *ch;

	race(bs, b, w);
	cr_assert_eq(spio_bs_free_cluster_count(bs), free0 - NCLUSTERS,
		     "expected %d clusters taken, free %lu -> %lu", NCLUSTERS, (unsigned long)free0,
		     (unsigned long)spio_bs_free_cluster_count(bs));
	check_map(bs, b, NCLUSTERS);
	ch = spio_bs_alloc_io_channel(bs);
	check_data(b, ch, w, NULL);
	spio_bs_free_io_channel(ch);
	close_blob(b);
	for (int i = 0; i < 10; i++) {
		spio_thread_poll(g_md, 0, 0);
	}
	store_unload(bs);
	reload_and_check(id, w, NULL, NCLUSTERS);
	for (int i = 0; i < NTHREADS; i++) {
		free(w[i].bufs);
	}
}

Test(blob_io_stress, racing_clone_writes)
{
	struct spio_blob_store *bs = store_init();
	spio_blob_id id = create_blob(bs, NCLUSTERS, false);
	struct spio_blob *b = open_blob(bs, id);
	struct spio_io_channel *ch = spio_bs_alloc_io_channel(bs);
	uint8_t *parent = malloc((size_t)NCLUSTERS * UPC * BLOCKLEN);
	struct worker w[NTHREADS];
	struct blob_done d = {0};
	uint64_t free0;

	cr_assert(ch && parent);
	for (size_t i = 0; i < (size_t)NCLUSTERS * UPC * BLOCKLEN; i++) {
		parent[i] = (uint8_t)(i * 13 + 5);
	}
	cr_assert_eq(md_io(b, ch, true, parent, 0, NCLUSTERS * UPC), 0);
	/* The blob becomes a clone of its snapshot: every cluster reads through to it. */
	spio_bs_create_snapshot(bs, id, NULL, blob_done_id, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "snapshot: expected 0, got %d", d.rc);
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), 0);
	free0 = spio_bs_free_cluster_count(bs);

	race(bs, b, w);
	cr_assert_eq(spio_bs_free_cluster_count(bs), free0 - NCLUSTERS,
		     "expected %d clusters taken, free %lu -> %lu", NCLUSTERS, (unsigned long)free0,
		     (unsigned long)spio_bs_free_cluster_count(bs));
	check_map(bs, b, NCLUSTERS);
	check_data(b, ch, w, parent);
	/* Clusters given back after lost races were cleared: every free cluster is zeroes. */
	for (uint64_t c = bs->geo.md_clusters; c < bs->geo.total_clusters; c++) {
		const uint8_t *p = g_data + bs_cluster_to_lba(bs, c) * BLOCKLEN;

		if (bs_bits_test(&bs->used_clusters, c)) {
			continue;
		}
		for (size_t i = 0; i < CLUSTER_SZ; i++) {
			cr_assert_eq(p[i], 0, "free cluster %lu byte %zu holds data",
				     (unsigned long)c, i);
		}
	}
	spio_bs_free_io_channel(ch);
	close_blob(b);
	for (int i = 0; i < 10; i++) {
		spio_thread_poll(g_md, 0, 0);
	}
	store_unload(bs);
	/* The blob's own clusters plus the snapshot's. */
	reload_and_check(id, w, parent, 2 * NCLUSTERS);
	free(parent);
	for (int i = 0; i < NTHREADS; i++) {
		free(w[i].bufs);
	}
}
