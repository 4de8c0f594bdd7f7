/*
 * Blob I/O (lib/blob/blob_io.c and friends) on a memory bs_dev: round trips
 * at and across cluster boundaries, iovecs split anywhere, unmap and
 * write_zeroes, bounds and read-only errors, thin allocation (one cluster
 * per first write, -ENOSPC, two writers of one cluster), clones reading
 * through to their parent and copying its cluster on write, freezes, the
 * channel's op limit. Every completion is checked to run on the submitting
 * thread and never inside the submitting call.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob_internal.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/env.h"
#include "spio/thread.h"
#include "spio/util.h"
#include "helper_blob_done.h"
#include "helper_blob_thread.h"

#define BLOCKLEN 512u
#define CLUSTER_SZ 16384u
#define UPC (CLUSTER_SZ / BLOCKLEN) /* io units per cluster */
#define DEV_BLOCKS 8192u	    /* 4 MiB */
#define POLL_LIMIT 200000
#define MAX_OPEN 16

static struct spio_thread *g_md;  /* the store's md thread, polled by the test's OS thread */
static struct spio_thread *g_t2;  /* a second spio thread, polled by the same OS thread */
static struct spio_bs_dev *g_dev; /* owned by g_bs */
static uint8_t *g_data;		  /* the memory device's bytes */
static struct spio_blob_store *g_bs;
static struct spio_io_channel *g_ch;
static struct spio_blob *g_open[MAX_OPEN];
static int g_nopen;

/* Set around every submit: a completion that sees it ran inside the call. */
static bool g_in_submit;

static void poll_all(int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(g_md, 0, 0);
		if (g_t2 != NULL) {
			spio_thread_poll(g_t2, 0, 0);
		}
	}
}

static void wait_n(struct blob_done *d, int want)
{
	for (int i = 0; i < POLL_LIMIT && d->n < want; i++) {
		poll_all(1);
	}
	cr_assert_eq(d->n, want, "expected %d completions, got %d", want, d->n);
}

static void op_cb(void *arg, int rc)
{
	struct blob_done *d = arg;

	cr_assert_not(g_in_submit, "a completion ran inside its submit call");
	d->n++;
	d->rc = rc;
	d->thread = spio_get_thread();
}

/*
 * Store and blobs
 */

static void store_up(uint32_t max_ops, uint64_t blocks)
{
	struct spio_bs_opts o;
	struct blob_done d = {0};

	g_dev = spio_bs_dev_mem_create(blocks, BLOCKLEN);
	cr_assert_not_null(g_dev);
	g_data = spio_bs_dev_mem_data(g_dev);
	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER_SZ;
	o.num_md_pages = 32;
	o.max_channel_ops = max_ops;
	spio_bs_init(g_dev, &o, blob_done_bs, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "spio_bs_init: expected 0, got %d", d.rc);
	g_bs = d.bs;
	cr_assert_eq(spio_bs_get_io_unit_size(g_bs), BLOCKLEN);
	g_ch = spio_bs_alloc_io_channel(g_bs);
	cr_assert_not_null(g_ch);
}

static void close_blob(struct spio_blob *b)
{
	struct blob_done d = {0};

	for (int i = 0; i < g_nopen; i++) {
		if (g_open[i] == b) {
			g_open[i] = g_open[--g_nopen];
			break;
		}
	}
	spio_blob_close(b, op_cb, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "close: expected 0, got %d", d.rc);
}

static void store_down(void)
{
	struct blob_done d = {0};

	if (g_bs == NULL) {
		return;
	}
	while (g_nopen > 0) {
		close_blob(g_open[g_nopen - 1]);
	}
	spio_bs_free_io_channel(g_ch);
	poll_all(10);
	spio_bs_unload(g_bs, op_cb, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "unload: expected 0, got %d", d.rc);
	g_bs = NULL;
}

static void setup(void)
{
	blob_test_env_init("test_blob_io");
	g_md = blob_test_thread_start("blob_io_md");
}

static void teardown(void)
{
	store_down();
	if (g_t2 != NULL) {
		struct spio_thread *prev = spio_thread_enter(g_t2);

		spio_thread_exit(g_t2);
		spio_thread_leave(prev);
		for (int i = 0; i < 1000 && !spio_thread_is_exited(g_t2); i++) {
			spio_thread_poll(g_t2, 0, 0);
		}
		cr_assert(spio_thread_is_exited(g_t2));
		spio_thread_destroy(g_t2);
		g_t2 = NULL;
	}
	blob_test_thread_end(g_md);
	spio_env_fini();
}

TestSuite(blob_io, .init = setup, .fini = teardown, .timeout = 120);

static struct spio_blob *open_blob_id(spio_blob_id id)
{
	struct blob_done d = {0};

	spio_bs_open_blob(g_bs, id, blob_done_blob, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "open 0x%lx: expected 0, got %d", (unsigned long)id, d.rc);
	cr_assert_lt(g_nopen, MAX_OPEN);
	g_open[g_nopen++] = d.blob;
	return d.blob;
}

static struct spio_blob *new_blob(uint64_t clusters, bool thin)
{
	struct spio_blob_opts o;
	struct blob_done d = {0};

	spio_blob_opts_init(&o, sizeof(o));
	o.num_clusters = clusters;
	o.thin_provision = thin;
	spio_bs_create_blob_ext(g_bs, &o, blob_done_id, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "create: expected 0, got %d", d.rc);
	return open_blob_id(d.id);
}

static spio_blob_id snapshot_of(struct spio_blob *b)
{
	struct blob_done d = {0};

	spio_bs_create_snapshot(g_bs, spio_blob_get_id(b), NULL, blob_done_id, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "snapshot: expected 0, got %d", d.rc);
	return d.id;
}

static spio_blob_id clone_of(spio_blob_id parent)
{
	struct blob_done d = {0};

	spio_bs_create_clone(g_bs, parent, NULL, blob_done_id, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "clone: expected 0, got %d", d.rc);
	return d.id;
}

/*
 * I/O through the public calls on a channel, waited for
 */

enum op { RD, WR, RDV, WRV, UNMAP, WZ };

/* Submit without waiting; the completion must not have run yet. */
static void submit(struct blob_done *d, struct spio_io_channel *ch, enum op op, struct spio_blob *b,
		   void *buf, struct iovec *iov, int iovcnt, uint64_t off, uint64_t len)
{
	g_in_submit = true;
	switch (op) {
	case RD:
		spio_blob_io_read(b, ch, buf, off, len, op_cb, d);
		break;
	case WR:
		spio_blob_io_write(b, ch, buf, off, len, op_cb, d);
		break;
	case RDV:
		spio_blob_io_readv(b, ch, iov, iovcnt, off, len, op_cb, d);
		break;
	case WRV:
		spio_blob_io_writev(b, ch, iov, iovcnt, off, len, op_cb, d);
		break;
	case UNMAP:
		spio_blob_io_unmap(b, ch, off, len, op_cb, d);
		break;
	case WZ:
		spio_blob_io_write_zeroes(b, ch, off, len, op_cb, d);
		break;
	}
	g_in_submit = false;
	cr_assert_eq(d->n, 0, "completion before the thread was polled");
}

static int run_io(enum op op, struct spio_blob *b, void *buf, struct iovec *iov, int iovcnt,
		  uint64_t off, uint64_t len)
{
	struct blob_done d = {0};

	submit(&d, g_ch, op, b, buf, iov, iovcnt, off, len);
	wait_n(&d, 1);
	cr_assert_eq(d.thread, g_md, "completion on another thread");
	return d.rc;
}

static int rd(struct spio_blob *b, void *buf, uint64_t off, uint64_t len)
{
	return run_io(RD, b, buf, NULL, 0, off, len);
}

static int wr(struct spio_blob *b, void *buf, uint64_t off, uint64_t len)
{
	return run_io(WR, b, buf, NULL, 0, off, len);
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 9) + 1u);
	}
}

static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (a[i] != b[i]) {
			return i;
		}
	}
	return SIZE_MAX;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

/* Read the whole blob and compare with `model`. */
static void check_blob(struct spio_blob *b, const uint8_t *model, const char *what)
{
	uint64_t units = spio_blob_get_num_io_units(b);
	uint8_t *buf = malloc(units * BLOCKLEN);
	size_t at;
	int rc;

	cr_assert_not_null(buf);
	memset(buf, 0xee, units * BLOCKLEN);
	rc = rd(b, buf, 0, units);
	cr_assert_eq(rc, 0, "%s: read of the whole blob: expected 0, got %d", what, rc);
	at = first_diff(buf, model, units * BLOCKLEN);
	cr_assert_eq(at, SIZE_MAX, "%s: byte %zu (io unit %zu): expected 0x%02x, got 0x%02x", what,
		     at, at / BLOCKLEN, at == SIZE_MAX ? 0 : model[at],
		     at == SIZE_MAX ? 0 : buf[at]);
	free(buf);
}

/* The device bytes of the blob's io unit `u` (it must be allocated). */
static uint8_t *dev_bytes(struct spio_blob *b, uint64_t u)
{
	uint64_t c = blob_cluster_get(b, u / UPC);

	cr_assert_neq(c, 0, "io unit %lu: cluster not allocated", (unsigned long)u);
	return g_data + (bs_cluster_to_lba(g_bs, c) + u % UPC) * BLOCKLEN;
}

/*
 * Plain reads and writes
 */

Test(blob_io, write_read_round_trips)
{
	const uint64_t n = 4 * UPC;
	struct spio_blob *b;
	uint8_t *model, *buf;
	/* offset, length in io units: inside, ending at, starting at, across, spanning. */
	static const uint64_t cases[][2] = {{3, 5},	  {UPC - 4, 4},		  {UPC, 3},
					    {UPC - 2, 5}, {UPC + 1, 2 * UPC + 3}, {0, 4 * UPC}};

	store_up(512, DEV_BLOCKS);
	b = new_blob(4, false);
	model = calloc(n, BLOCKLEN);
	buf = malloc(n * BLOCKLEN);
	cr_assert(model != NULL && buf != NULL);
	check_blob(b, model, "fresh thick blob");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t off = cases[i][0], len = cases[i][1];

		fill(buf, len * BLOCKLEN, (unsigned)i + 1);
		cr_assert_eq(wr(b, buf, off, len), 0, "write %lu+%lu", (unsigned long)off,
			     (unsigned long)len);
		memcpy(model + off * BLOCKLEN, buf, len * BLOCKLEN);
		check_blob(b, model, "after a write");
		/* A read of just that range too (partial clusters at both ends). */
		memset(buf, 0, len * BLOCKLEN);
		cr_assert_eq(rd(b, buf, off, len), 0);
		cr_assert_eq(memcmp(buf, model + off * BLOCKLEN, len * BLOCKLEN), 0,
			     "read back of %lu+%lu differs", (unsigned long)off,
			     (unsigned long)len);
	}
	/* The bytes sit in the blob's clusters on the device, where its map says. */
	for (uint64_t u = 0; u < n; u += 7) {
		cr_assert_eq(memcmp(dev_bytes(b, u), model + u * BLOCKLEN, BLOCKLEN), 0,
			     "io unit %lu not at its cluster on the device", (unsigned long)u);
	}
	free(model);
	free(buf);
}

/*
 * Cut `bytes` bytes at `buf` into entries of sizes[n % nsizes] bytes (n: the entry's index, the
 * last one cut short), an empty entry after every `empty_every`th (0: none). \return the count.
 */
static int iovs_split(struct iovec *iov, uint8_t *buf, size_t bytes, const size_t *sizes,
		      size_t nsizes, int empty_every)
{
	size_t at = 0;
	int n = 0;

	while (at < bytes) {
		size_t s = sizes[(size_t)n % nsizes];

		if (s > bytes - at) {
			s = bytes - at;
		}
		iov[n].iov_base = buf + at;
		iov[n].iov_len = s;
		at += s;
		n++;
		if (empty_every != 0 && n % empty_every == 0) {
			iov[n].iov_base = NULL; /* an empty entry in the middle */
			iov[n].iov_len = 0;
			n++;
		}
	}
	return n;
}

/* Point the entries into `to` at the offsets they have in `from` (empty ones stay NULL). */
static void iovs_move(struct iovec *iov, int n, uint8_t *from, uint8_t *to)
{
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_base != NULL) {
			iov[i].iov_base = to + ((uint8_t *)iov[i].iov_base - from);
		}
	}
}

/*
 * Write `src` through the `n` entries of `iov` at io unit `off` (`len` io units), check the blob
 * against `model` updated with it, then read back through the same split into `dst`.
 */
static void iovs_round_trip(struct spio_blob *b, struct iovec *iov, int n, uint8_t *src,
			    uint8_t *dst, uint8_t *model, uint64_t off, uint64_t len,
			    const char *what)
{
	const size_t bytes = len * BLOCKLEN;
	char after[96];
	size_t at;

	cr_assert_eq(run_io(WRV, b, NULL, iov, n, off, len), 0, "%s", what);
	memcpy(model + off * BLOCKLEN, src, bytes);
	snprintf(after, sizeof(after), "after a %s", what);
	check_blob(b, model, after);
	iovs_move(iov, n, src, dst);
	memset(dst, 0, bytes);
	cr_assert_eq(run_io(RDV, b, NULL, iov, n, off, len), 0, "readv after a %s", what);
	at = first_diff(dst, src, bytes);
	cr_assert_eq(at, SIZE_MAX, "readv after a %s: byte %zu differs", what, at);
}

/* Iovecs whose boundaries fall anywhere, against the same bytes written flat. */
Test(blob_io, readv_writev_odd_iovecs)
{
	const uint64_t off = UPC - 3, len = UPC + 6; /* three clusters */
	const size_t bytes = len * BLOCKLEN;
	static const size_t sizes[] = {1, 7, 511, 513, 1000, 3, 4096, 2, 777};
	struct iovec iov[64];
	struct spio_blob *b;
	uint8_t *src, *dst, *model;
	int n;

	store_up(512, DEV_BLOCKS);
	b = new_blob(3, false);
	src = malloc(bytes);
	dst = malloc(bytes);
	model = calloc(3 * UPC, BLOCKLEN);
	cr_assert(src && dst && model);
	fill(src, bytes, 9);
	n = iovs_split(iov, src, bytes, sizes, SPIO_COUNTOF(sizes), 5);
	cr_assert_lt(n, 64);
	cr_assert_gt(n, BLOB_IO_IOV_MAX, "the case must need more entries than one operation");
	iovs_round_trip(b, iov, n, src, dst, model, off, len, "writev of odd iovecs");
	free(src);
	free(dst);
	free(model);
}

/* More tiny entries than fit one device operation inside a single io unit. */
Test(blob_io, tiny_iovecs)
{
	const uint64_t off = UPC - 2, len = 4;
	const size_t bytes = len * BLOCKLEN;
	struct iovec *iov = calloc(bytes, sizeof(*iov));
	uint8_t *src = malloc(bytes), *dst = malloc(bytes), *model;
	struct spio_blob *b;
	int n;

	store_up(512, DEV_BLOCKS);
	b = new_blob(2, false);
	model = calloc(2 * UPC, BLOCKLEN);
	cr_assert(iov && src && dst && model);
	fill(src, bytes, 3);
	/* 1, 2, 3 bytes in turn: ~250 entries per io unit. */
	n = iovs_split(iov, src, bytes, (const size_t[]){1, 2, 3}, 3, 0);
	iovs_round_trip(b, iov, n, src, dst, model, off, len, "writev of tiny iovecs");

	/* Two at once on one channel share the bounce buffer, one after the other. */
	{
		uint8_t *dst2 = calloc(1, bytes);
		struct iovec *iov2 = calloc(bytes, sizeof(*iov2));
		struct blob_done d1 = {0}, d2 = {0};

		cr_assert(dst2 && iov2);
		for (int i = 0; i < n; i++) {
			iov2[i].iov_base = dst2 + ((uint8_t *)iov[i].iov_base - dst);
			iov2[i].iov_len = iov[i].iov_len;
		}
		memset(dst, 0, bytes);
		submit(&d1, g_ch, RDV, b, NULL, iov, n, off, len);
		submit(&d2, g_ch, RDV, b, NULL, iov2, n, off, len);
		wait_n(&d1, 1);
		wait_n(&d2, 1);
		cr_assert_eq(d1.rc, 0);
		cr_assert_eq(d2.rc, 0);
		cr_assert_eq(memcmp(dst, src, bytes), 0, "first of two bounced reads differs");
		cr_assert_eq(memcmp(dst2, src, bytes), 0, "second of two bounced reads differs");
		free(dst2);
		free(iov2);
	}
	free(iov);
	free(src);
	free(dst);
	free(model);
}

Test(blob_io, unmap_and_write_zeroes)
{
	const uint64_t n = 3 * UPC;
	struct spio_blob *b, *t;
	uint8_t *model = malloc(n * BLOCKLEN);
	uint64_t free0;

	store_up(512, DEV_BLOCKS);
	b = new_blob(3, false);
	cr_assert_not_null(model);
	fill(model, n * BLOCKLEN, 5);
	cr_assert_eq(wr(b, model, 0, n), 0);

	/* write_zeroes across a cluster boundary: zeroes there, the rest untouched. */
	cr_assert_eq(run_io(WZ, b, NULL, NULL, 0, UPC - 5, 9), 0);
	memset(model + (UPC - 5) * BLOCKLEN, 0, 9 * BLOCKLEN);
	check_blob(b, model, "after write_zeroes");

	/* unmap (the memory device zeroes what it unmaps); clusters stay the blob's. */
	cr_assert_eq(run_io(UNMAP, b, NULL, NULL, 0, 2 * UPC - 1, UPC + 1), 0);
	memset(model + (2 * UPC - 1) * BLOCKLEN, 0, (UPC + 1) * BLOCKLEN);
	check_blob(b, model, "after unmap");
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), 3);

	/* On a thin blob without parent, both are no-ops on unallocated clusters. */
	t = new_blob(4, true);
	free0 = spio_bs_free_cluster_count(g_bs);
	cr_assert_eq(run_io(UNMAP, t, NULL, NULL, 0, 0, 4 * UPC), 0);
	cr_assert_eq(run_io(WZ, t, NULL, NULL, 0, 3, 2 * UPC), 0);
	cr_assert_eq(spio_blob_get_num_allocated_clusters(t), 0,
		     "unmap / write_zeroes allocated %lu clusters",
		     (unsigned long)spio_blob_get_num_allocated_clusters(t));
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0);
	{
		uint8_t *z = calloc(4 * UPC, BLOCKLEN);

		cr_assert_not_null(z);
		check_blob(t, z, "thin blob after unmap / write_zeroes");
		free(z);
	}
	free(model);
}

Test(blob_io, bounds_and_bad_arguments)
{
	uint8_t buf[4 * BLOCKLEN] = {0};
	struct iovec iov[2] = {{buf, BLOCKLEN}, {buf + BLOCKLEN, BLOCKLEN}};
	struct spio_blob *b;
	const uint64_t end = 2 * UPC;

	store_up(512, DEV_BLOCKS);
	b = new_blob(2, false);
	cr_assert_eq(rd(b, buf, end - 1, 2), -EINVAL, "read past the end");
	cr_assert_eq(wr(b, buf, end, 1), -EINVAL, "write at the end");
	cr_assert_eq(wr(b, buf, UINT64_MAX, 2), -EINVAL, "offset + length wraps");
	cr_assert_eq(rd(b, buf, 1, UINT64_MAX), -EINVAL, "huge length");
	cr_assert_eq(run_io(UNMAP, b, NULL, NULL, 0, end - 1, 2), -EINVAL, "unmap past the end");
	cr_assert_eq(run_io(WZ, b, NULL, NULL, 0, end + 5, 1), -EINVAL,
		     "write_zeroes past the end");
	cr_assert_eq(run_io(RDV, b, NULL, iov, 2, end - 1, 2), -EINVAL, "readv past the end");
	cr_assert_eq(run_io(RDV, b, NULL, iov, 2, 0, 3), -EINVAL, "iovecs shorter than length");
	cr_assert_eq(run_io(WRV, b, NULL, iov, 2, 0, 1), -EINVAL, "iovecs longer than length");
	cr_assert_eq(run_io(WRV, b, NULL, NULL, 1, 0, 1), -EINVAL, "NULL iovec array");
	cr_assert_eq(run_io(RDV, b, NULL, iov, -1, 0, 0), -EINVAL, "negative iovcnt");
	cr_assert_eq(wr(b, NULL, 0, 1), -EINVAL, "NULL payload");
	/* Nothing at all is fine, also at the very end. */
	cr_assert_eq(rd(b, buf, end, 0), 0);
	cr_assert_eq(wr(b, buf, 0, 0), 0);
	cr_assert_eq(run_io(RDV, b, NULL, NULL, 0, 3, 0), 0);
	/* Exactly up to the end works. */
	cr_assert_eq(wr(b, buf, end - 4, 4), 0);
	cr_assert_eq(rd(b, buf, end - 4, 4), 0);
}

Test(blob_io, read_only_refuses_writes)
{
	uint8_t buf[2 * BLOCKLEN], back[2 * BLOCKLEN];
	struct iovec iov = {buf, BLOCKLEN};
	struct spio_blob *b;
	struct blob_done d = {0};

	store_up(512, DEV_BLOCKS);
	b = new_blob(1, false);
	fill(buf, sizeof(buf), 2);
	cr_assert_eq(wr(b, buf, 4, 2), 0);
	cr_assert_eq(spio_blob_set_read_only(b), 0);
	/* As in SPDK, the flag takes effect with the sync. */
	spio_blob_sync_md(b, op_cb, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "sync: expected 0, got %d", d.rc);
	cr_assert(spio_blob_is_read_only(b));
	cr_assert_eq(wr(b, buf, 0, 1), -EPERM, "write to a read-only blob");
	cr_assert_eq(run_io(WRV, b, NULL, &iov, 1, 0, 1), -EPERM, "writev");
	cr_assert_eq(run_io(UNMAP, b, NULL, NULL, 0, 0, 1), -EPERM, "unmap");
	cr_assert_eq(run_io(WZ, b, NULL, NULL, 0, 0, 1), -EPERM, "write_zeroes");
	cr_assert_eq(rd(b, back, 4, 2), 0, "reads still work");
	cr_assert_eq(memcmp(back, buf, sizeof(buf)), 0);
}

/*
 * Thin allocation
 */

static struct spio_io_channel *t2_channel(void)
{
	struct spio_io_channel *ch;
	struct spio_thread *prev;

	g_t2 = spio_thread_create("blob_io_t2", NULL);
	cr_assert_not_null(g_t2);
	prev = spio_thread_enter(g_t2);
	ch = spio_bs_alloc_io_channel(g_bs);
	spio_thread_leave(prev);
	cr_assert_not_null(ch);
	return ch;
}

static void t2_free_channel(struct spio_io_channel *ch)
{
	struct spio_thread *prev = spio_thread_enter(g_t2);

	spio_bs_free_io_channel(ch);
	spio_thread_leave(prev);
	poll_all(10);
}

/* A store, a thin blob of `clusters` clusters, a channel of g_t2 in *ch2 (unless NULL), and the
 * store's free cluster count in *free0: the start of the thin allocation tests. */
static struct spio_blob *thin_start(uint64_t clusters, struct spio_io_channel **ch2,
				    uint64_t *free0)
{
	struct spio_blob *b;

	store_up(512, DEV_BLOCKS);
	b = new_blob(clusters, true);
	if (ch2 != NULL) {
		*ch2 = t2_channel();
	}
	*free0 = spio_bs_free_cluster_count(g_bs);
	return b;
}

static void t2_submit(struct blob_done *d, struct spio_io_channel *ch, enum op op,
		      struct spio_blob *b, void *buf, uint64_t off, uint64_t len)
{
	struct spio_thread *prev = spio_thread_enter(g_t2);

	submit(d, ch, op, b, buf, NULL, 0, off, len);
	spio_thread_leave(prev);
}

Test(blob_io, thin_allocates_on_first_write)
{
	const uint64_t n = 4 * UPC;
	uint8_t *model = calloc(n, BLOCKLEN), buf[3 * BLOCKLEN];
	struct spio_blob *b;
	uint64_t free0;

	store_up(512, DEV_BLOCKS);
	b = new_blob(4, true);
	cr_assert_not_null(model);
	free0 = spio_bs_free_cluster_count(g_bs);
	check_blob(b, model, "fresh thin blob reads zeroes");
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), 0, "reads allocated clusters");

	fill(buf, sizeof(buf), 7);
	cr_assert_eq(wr(b, buf, UPC + 5, 3), 0);
	memcpy(model + (UPC + 5) * BLOCKLEN, buf, sizeof(buf));
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 1,
		     "first write: expected one cluster taken, free %lu -> %lu",
		     (unsigned long)free0, (unsigned long)spio_bs_free_cluster_count(g_bs));
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), 1);
	cr_assert_eq(blob_cluster_get(b, 0), 0, "cluster 0 allocated by a write to cluster 1");
	cr_assert_neq(blob_cluster_get(b, 1), 0);

	/* Another write to the same cluster takes nothing. */
	cr_assert_eq(wr(b, buf, UPC + 20, 1), 0);
	memcpy(model + (UPC + 20) * BLOCKLEN, buf, BLOCKLEN);
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 1);

	/* A write across two unallocated clusters takes both. */
	cr_assert_eq(wr(b, buf, 3 * UPC - 1, 2), 0);
	memcpy(model + (3 * UPC - 1) * BLOCKLEN, buf, 2 * BLOCKLEN);
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 3);
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), 3);
	/* Unwritten parts of a new cluster of a thin blob are not zeroed (SPDK doesn't); this
	 * device was unmapped at init, so they read zeroes here. */
	check_blob(b, model, "thin blob after writes");
	free(model);
}

Test(blob_io, zero_length_write_allocates_like_spdk)
{
	struct spio_blob *b;
	uint64_t free0;

	b = thin_start(2, NULL, &free0);
	cr_assert_eq(wr(b, NULL, UPC + 3, 0), 0);
	cr_assert_neq(blob_cluster_get(b, 1), 0, "a 0-length write allocates its cluster");
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 1);
	cr_assert_eq(wr(b, NULL, 2 * UPC, 0), 0, "at the end: nothing to allocate");
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 1);
}

Test(blob_io, thin_no_space)
{
	uint8_t buf[BLOCKLEN];
	struct spio_blob *b;
	uint64_t free0, i;

	/* A small device: few data clusters. */
	store_up(512, 2048);
	free0 = spio_bs_free_cluster_count(g_bs);
	b = new_blob(free0 + 4, true);
	fill(buf, sizeof(buf), 1);
	for (i = 0; i + 1 < free0; i++) {
		int rc = wr(b, buf, i * UPC + i % UPC, 1);

		cr_assert_eq(rc, 0, "write %lu of %lu: expected 0, got %d", (unsigned long)i,
			     (unsigned long)free0, rc);
	}
	/* One cluster left, two writes for it on one channel: the second waits for the first's
	 * allocation instead of claiming one of its own (which would fail). */
	{
		struct blob_done d1 = {0}, d2 = {0};

		cr_assert_eq(spio_bs_free_cluster_count(g_bs), 1);
		submit(&d1, g_ch, WR, b, buf, NULL, 0, i * UPC, 1);
		submit(&d2, g_ch, WR, b, buf, NULL, 0, i * UPC + 5, 1);
		wait_n(&d1, 1);
		wait_n(&d2, 1);
		cr_assert_eq(d1.rc, 0, "first write for the last cluster: expected 0, got %d",
			     d1.rc);
		cr_assert_eq(d2.rc, 0, "second write for the last cluster: expected 0, got %d",
			     d2.rc);
	}
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), 0);
	cr_assert_eq(wr(b, buf, free0 * UPC, 1), -ENOSPC, "write with no cluster left");
	cr_assert_eq(run_io(WRV, b, NULL, &(struct iovec){buf, BLOCKLEN}, 1, (free0 + 1) * UPC, 1),
		     -ENOSPC);
	/* Allocated clusters still take writes. */
	cr_assert_eq(wr(b, buf, 3, 1), 0);
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), free0);
}

/* Two writes to one unallocated cluster on one channel: one allocation, both land. */
Test(blob_io, thin_same_cluster_same_channel)
{
	uint8_t a[2 * BLOCKLEN], c[2 * BLOCKLEN], back[UPC * BLOCKLEN];
	struct blob_done d1 = {0}, d2 = {0}, d3 = {0};
	struct spio_blob *b;
	uint64_t free0;

	b = thin_start(2, NULL, &free0);
	fill(a, sizeof(a), 1);
	fill(c, sizeof(c), 2);
	submit(&d1, g_ch, WR, b, a, NULL, 0, 0, 2);
	submit(&d2, g_ch, WR, b, c, NULL, 0, 10, 2);
	submit(&d3, g_ch, WR, b, c, NULL, 0, UPC, 1); /* another cluster: its own allocation */
	wait_n(&d1, 1);
	wait_n(&d2, 1);
	wait_n(&d3, 1);
	cr_assert_eq(d1.rc, 0);
	cr_assert_eq(d2.rc, 0);
	cr_assert_eq(d3.rc, 0);
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 2,
		     "expected two clusters taken, free %lu -> %lu", (unsigned long)free0,
		     (unsigned long)spio_bs_free_cluster_count(g_bs));
	cr_assert_eq(rd(b, back, 0, UPC), 0);
	cr_assert_eq(memcmp(back, a, sizeof(a)), 0, "first write lost");
	cr_assert_eq(memcmp(back + 10 * BLOCKLEN, c, sizeof(c)), 0, "second write lost");
}

/*
 * Every cluster the store does not use reads zeroes on the device (init unmapped it, and a
 * cluster given back after a lost race is cleared first).
 */
static void check_free_clusters_zero(void)
{
	uint64_t total = g_bs->geo.total_clusters;

	for (uint64_t c = g_bs->geo.md_clusters; c < total; c++) {
		if (!bs_bits_test(&g_bs->used_clusters, c)) {
			cr_assert(
			    all_zero(g_data + bs_cluster_to_lba(g_bs, c) * BLOCKLEN, CLUSTER_SZ),
			    "free cluster %lu holds data", (unsigned long)c);
		}
	}
}

/* Two channels race for one cluster: the loser gives its cluster back and writes to the
 * winner's; both writes land, one cluster is taken. */
Test(blob_io, thin_race_two_channels)
{
	uint8_t a[BLOCKLEN], c[BLOCKLEN], back[2 * BLOCKLEN];
	struct blob_done d1 = {0}, d2 = {0};
	struct spio_io_channel *ch2;
	struct spio_blob *b;
	uint64_t free0;

	b = thin_start(2, &ch2, &free0);
	fill(a, sizeof(a), 1);
	fill(c, sizeof(c), 2);
	/* Both claim before either inserts: their claims are queued to the md thread now. */
	submit(&d1, g_ch, WR, b, a, NULL, 0, 0, 1);
	t2_submit(&d2, ch2, WR, b, c, 1, 1);
	wait_n(&d1, 1);
	wait_n(&d2, 1);
	cr_assert_eq(d1.rc, 0);
	cr_assert_eq(d2.rc, 0);
	cr_assert_eq(d2.thread, g_t2, "completion on another thread than the submitter's");
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 1,
		     "expected one cluster taken, free %lu -> %lu", (unsigned long)free0,
		     (unsigned long)spio_bs_free_cluster_count(g_bs));
	cr_assert_eq(rd(b, back, 0, 2), 0);
	cr_assert_eq(memcmp(back, a, BLOCKLEN), 0, "first channel's write lost");
	cr_assert_eq(memcmp(back + BLOCKLEN, c, BLOCKLEN), 0, "second channel's write lost");
	check_free_clusters_zero();
	t2_free_channel(ch2);
}

/*
 * Clones
 */

Test(blob_io, clone_reads_parent_and_copies_on_write)
{
	const uint64_t n = 3 * UPC;
	uint8_t *model = malloc(n * BLOCKLEN), *cmodel = malloc(n * BLOCKLEN), buf[4 * BLOCKLEN];
	struct spio_blob *b, *snap, *clone;
	spio_blob_id snap_id;
	uint64_t free0;

	store_up(512, DEV_BLOCKS);
	cr_assert(model && cmodel);
	b = new_blob(3, false);
	fill(model, n * BLOCKLEN, 11);
	cr_assert_eq(wr(b, model, 0, n), 0);
	snap_id = snapshot_of(b);
	snap = open_blob_id(snap_id);
	cr_assert(spio_blob_is_clone(b), "the snapshotted blob reads through its snapshot");
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), 0);
	check_blob(b, model, "blob after snapshot (all through its parent)");
	check_blob(snap, model, "snapshot");

	/* A write to the clone copies the parent's cluster; the rest of it keeps the data. */
	clone = open_blob_id(clone_of(snap_id));
	memcpy(cmodel, model, n * BLOCKLEN);
	check_blob(clone, cmodel, "new clone");
	free0 = spio_bs_free_cluster_count(g_bs);
	fill(buf, sizeof(buf), 12);
	cr_assert_eq(wr(clone, buf, UPC + 9, 4), 0);
	memcpy(cmodel + (UPC + 9) * BLOCKLEN, buf, sizeof(buf));
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 1);
	cr_assert_eq(spio_blob_get_num_allocated_clusters(clone), 1);
	check_blob(clone, cmodel, "clone after a write");
	check_blob(snap, model, "snapshot after the clone's write");
	check_blob(b, model, "the other clone after the clone's write");
	/* The copy is on the device in the clone's own cluster. */
	cr_assert_eq(memcmp(dev_bytes(clone, UPC), model + UPC * BLOCKLEN, 9 * BLOCKLEN), 0);

	/* write_zeroes on an unallocated cluster of a clone allocates (it read the parent). */
	cr_assert_eq(run_io(WZ, clone, NULL, NULL, 0, 2 * UPC + 1, 2), 0);
	memset(cmodel + (2 * UPC + 1) * BLOCKLEN, 0, 2 * BLOCKLEN);
	cr_assert_eq(spio_blob_get_num_allocated_clusters(clone), 2);
	check_blob(clone, cmodel, "clone after write_zeroes");
	/* unmap of an unallocated cluster does nothing (reads the parent still). */
	cr_assert_eq(run_io(UNMAP, clone, NULL, NULL, 0, 0, 4), 0);
	cr_assert_eq(spio_blob_get_num_allocated_clusters(clone), 2);
	check_blob(clone, cmodel, "clone after unmap of a cluster it does not hold");
	free(model);
	free(cmodel);
}

/* A clone of a clone's snapshot reads down the chain; a clone grown past its parent reads
 * zeroes there and copies zeroes on write. */
Test(blob_io, clone_chain_and_grown_clone)
{
	const uint64_t n = 2 * UPC;
	uint8_t *model = malloc(4 * UPC * BLOCKLEN), buf[BLOCKLEN];
	struct spio_blob *b;
	struct blob_done d = {0};

	store_up(512, DEV_BLOCKS);
	cr_assert_not_null(model);
	memset(model, 0, 4 * UPC * BLOCKLEN);
	b = new_blob(2, false);
	fill(model, n * BLOCKLEN, 21);
	cr_assert_eq(wr(b, model, 0, n), 0);
	(void)snapshot_of(b); /* b -> s1 */
	fill(buf, sizeof(buf), 22);
	cr_assert_eq(wr(b, buf, UPC + 2, 1), 0); /* b owns cluster 1 now */
	memcpy(model + (UPC + 2) * BLOCKLEN, buf, BLOCKLEN);
	(void)snapshot_of(b); /* b -> s2 -> s1 */
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), 0);
	check_blob(b, model, "blob over two snapshots");

	spio_blob_resize(b, 4, op_cb, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "resize: expected 0, got %d", d.rc);
	check_blob(b, model, "grown clone reads zeroes past its parent");
	cr_assert_eq(wr(b, buf, 3 * UPC + 1, 1), 0);
	memcpy(model + (3 * UPC + 1) * BLOCKLEN, buf, BLOCKLEN);
	check_blob(b, model, "grown clone after a write past its parent");
	cr_assert_eq(wr(b, buf, 0, 1), 0);
	memcpy(model, buf, BLOCKLEN);
	check_blob(b, model, "after a write copying from the grandparent");
	free(model);
}

/*
 * Freezing
 */

static void md_cb(void *arg, int rc)
{
	struct blob_done *d = arg;

	d->n++;
	d->rc = rc;
}

static void freeze(struct spio_blob *b, bool on)
{
	struct blob_done d = {0};

	if (on) {
		blob_freeze_io(b, md_cb, &d);
	} else {
		blob_unfreeze_io(b, md_cb, &d);
	}
	cr_assert_eq(d.n, 0, "freeze completed inside the call");
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "%s: expected 0, got %d", on ? "freeze" : "unfreeze", d.rc);
}

Test(blob_io, freeze_holds_and_releases)
{
	uint8_t old[BLOCKLEN], neu[BLOCKLEN], back[BLOCKLEN], other[BLOCKLEN];
	struct blob_done w = {0}, r = {0}, o = {0};
	struct spio_blob *b, *b2;
	struct spio_io_channel *ch2;

	store_up(512, DEV_BLOCKS);
	b = new_blob(1, false);
	b2 = new_blob(1, false);
	ch2 = t2_channel();
	fill(old, sizeof(old), 1);
	fill(neu, sizeof(neu), 2);
	cr_assert_eq(wr(b, old, 0, 1), 0);

	freeze(b, true);
	freeze(b, true); /* nested */
	submit(&w, g_ch, WR, b, neu, NULL, 0, 0, 1);
	t2_submit(&r, ch2, RD, b, back, 0, 1);
	submit(&o, g_ch, WR, b2, other, NULL, 0, 0, 1);
	poll_all(2000);
	cr_assert_eq(w.n + r.n, 0, "I/O of a frozen blob completed");
	cr_assert_eq(o.n, 1, "I/O of another blob was held");
	freeze(b, false);
	poll_all(2000);
	cr_assert_eq(w.n + r.n, 0, "I/O completed with the blob still frozen once");
	freeze(b, false);
	wait_n(&w, 1);
	wait_n(&r, 1);
	cr_assert_eq(w.rc, 0);
	cr_assert_eq(r.rc, 0);
	cr_assert_eq(r.thread, g_t2);
	cr_assert_eq(memcmp(back, neu, BLOCKLEN), 0, "the held read ran before the held write");
	cr_assert_eq(rd(b, back, 0, 1), 0);
	cr_assert_eq(memcmp(back, neu, BLOCKLEN), 0);
	t2_free_channel(ch2);
}

/* A freeze that comes while a thin allocation waits for its claim: the claimed cluster goes
 * back, the write waits for the unfreeze and allocates then. */
Test(blob_io, freeze_during_claim)
{
	uint8_t buf[BLOCKLEN], back[BLOCKLEN];
	struct blob_done w = {0}, f = {0};
	struct spio_blob *b;
	uint64_t free0;

	b = thin_start(1, NULL, &free0);
	fill(buf, sizeof(buf), 4);
	submit(&w, g_ch, WR, b, buf, NULL, 0, 2, 1);
	blob_freeze_io(b, md_cb, &f);
	wait_n(&f, 1);
	poll_all(2000);
	cr_assert_eq(w.n, 0, "write to a frozen blob completed");
	cr_assert_eq(blob_cluster_get(b, 0), 0, "the map changed while frozen");
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0,
		     "the claimed cluster was not given back");
	freeze(b, false);
	wait_n(&w, 1);
	cr_assert_eq(w.rc, 0);
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), 1);
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 1);
	cr_assert_eq(rd(b, back, 2, 1), 0);
	cr_assert_eq(memcmp(back, buf, BLOCKLEN), 0);
}

/* A freeze that comes after the claim, before the insert: the insert waits for the unfreeze
 * (the frozen blob's map changes only through the operation that froze it). */
Test(blob_io, freeze_defers_thin_insert)
{
	uint8_t buf[BLOCKLEN], back[BLOCKLEN];
	struct blob_done w = {0}, f = {0};
	struct spio_io_channel *ch2;
	struct spio_blob *b;
	uint64_t free0;

	b = thin_start(1, &ch2, &free0);
	fill(buf, sizeof(buf), 4);
	t2_submit(&w, ch2, WR, b, buf, 2, 1);
	/* The md thread claims; then t2 takes the reply and sends the insert. */
	for (int i = 0; i < 100 && spio_bs_free_cluster_count(g_bs) == free0; i++) {
		spio_thread_poll(g_md, 0, 0);
	}
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 1, "no claim");
	spio_thread_poll(g_t2, 0, 0);
	blob_freeze_io(b, md_cb, &f);
	wait_n(&f, 1);
	poll_all(2000);
	cr_assert_eq(w.n, 0, "write to a frozen blob completed");
	cr_assert_eq(blob_cluster_get(b, 0), 0, "the map changed while frozen");
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), 0);
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 1,
		     "the claim should wait, not go back");
	freeze(b, false);
	wait_n(&w, 1);
	cr_assert_eq(w.rc, 0);
	cr_assert_eq(w.thread, g_t2);
	cr_assert_eq(spio_blob_get_num_allocated_clusters(b), 1);
	cr_assert_eq(spio_bs_free_cluster_count(g_bs), free0 - 1);
	cr_assert_eq(rd(b, back, 2, 1), 0);
	cr_assert_eq(memcmp(back, buf, BLOCKLEN), 0);
	t2_free_channel(ch2);
}

/*
 * Channel limits and channels
 */

Test(blob_io, channel_ops_limit)
{
	uint8_t buf[6][BLOCKLEN];
	struct blob_done d[6] = {{0}};
	struct spio_blob *b;

	store_up(4, DEV_BLOCKS);
	b = new_blob(1, false);
	for (int i = 0; i < 5; i++) {
		submit(&d[i], g_ch, RD, b, buf[i], NULL, 0, (uint64_t)i, 1);
	}
	poll_all(100);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(d[i].n, 1);
		cr_assert_eq(d[i].rc, 0, "read %d within the limit: expected 0, got %d", i,
			     d[i].rc);
	}
	cr_assert_eq(d[4].n, 1);
	cr_assert_eq(d[4].rc, -ENOMEM, "5th read with 4 ops: expected -ENOMEM, got %d", d[4].rc);
	cr_assert_eq(rd(b, buf[5], 0, 1), 0, "a read after the others finished");

	/* Reads of a clone that go to its parent do not count twice against the limit. */
	(void)snapshot_of(b);
	cr_assert(spio_blob_is_clone(b));
	memset(d, 0, sizeof(d));
	for (int i = 0; i < 4; i++) {
		submit(&d[i], g_ch, RD, b, buf[i], NULL, 0, (uint64_t)i * 3, 1);
	}
	for (int i = 0; i < 4; i++) {
		wait_n(&d[i], 1);
		cr_assert_eq(d[i].rc, 0, "clone read %d: expected 0, got %d", i, d[i].rc);
	}
}

Test(blob_io, channels_counted)
{
	struct spio_io_channel *again;

	store_up(512, DEV_BLOCKS);
	cr_assert_eq(g_bs->num_channels, 1);
	again = spio_bs_alloc_io_channel(g_bs);
	cr_assert_eq(again, g_ch, "one channel per thread");
	cr_assert_eq(g_bs->num_channels, 2, "each alloc counts until freed");
	spio_bs_free_io_channel(again);
	cr_assert_eq(g_bs->num_channels, 1);
}

/*
 * The zeroes device on its own: the bs_dev contract
 */

struct dev_op {
	struct spio_bs_dev_cb_args args;
	int n;
	int rc;
};

static void dev_cpl(struct spio_io_channel *ch, void *arg, int rc)
{
	struct dev_op *o = arg;

	(void)ch;
	cr_assert_not(g_in_submit, "zeroes device completed inside the call");
	o->n++;
	o->rc = rc;
}

Test(blob_io, zeroes_device)
{
	struct spio_bs_dev *z = bs_create_zeroes_dev();
	uint8_t buf[1024];
	struct iovec iov[2] = {{buf, 100}, {buf + 100, 924}};
	struct dev_op r = {0}, rv = {0}, w = {0};

	cr_assert(bs_dev_is_zeroes(z));
	memset(buf, 0xaa, sizeof(buf));
	r.args = (struct spio_bs_dev_cb_args){dev_cpl, NULL, &r};
	rv.args = (struct spio_bs_dev_cb_args){dev_cpl, NULL, &rv};
	w.args = (struct spio_bs_dev_cb_args){dev_cpl, NULL, &w};
	g_in_submit = true;
	z->read(z, NULL, buf, 7, 1, &r.args);
	z->write(z, NULL, buf, 0, 1, &w.args);
	g_in_submit = false;
	cr_assert(all_zero(buf, 512));
	cr_assert_eq(buf[512], 0xaa, "read past its count");
	g_in_submit = true;
	z->readv(z, NULL, iov, 2, 0, 2, &rv.args);
	g_in_submit = false;
	poll_all(5);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.rc, 0);
	cr_assert_eq(rv.n, 1);
	cr_assert_eq(rv.rc, 0);
	cr_assert(all_zero(buf, sizeof(buf)));
	cr_assert_eq(w.n, 1);
	cr_assert_eq(w.rc, -EPERM, "write to the zeroes device: expected -EPERM, got %d", w.rc);
	z->destroy(z); /* shared: nothing happens */
	cr_assert(bs_dev_is_zeroes(bs_create_zeroes_dev()));
}

/* A parent blob as a device: its io units as blocks, zeroes past its end, no writes, and
 * destroy gives back the open reference it took over. */
Test(blob_io, blob_back_dev)
{
	const uint64_t n = 2 * UPC;
	uint8_t *model = malloc(n * BLOCKLEN), buf[3 * BLOCKLEN];
	struct iovec iov[2] = {{buf, 700}, {buf + 700, 3 * BLOCKLEN - 700}};
	struct dev_op r = {0}, rv = {0}, past = {0}, w = {0}, u = {0}, f = {0};
	struct spio_io_channel *ch;
	struct spio_bs_dev *dev;
	struct spio_blob *b;
	struct blob_done d = {0};

	store_up(512, DEV_BLOCKS);
	cr_assert_not_null(model);
	b = new_blob(2, false);
	fill(model, n * BLOCKLEN, 31);
	cr_assert_eq(wr(b, model, 0, n), 0);
	spio_bs_open_blob(g_bs, spio_blob_get_id(b), blob_done_blob,
			  &d); /* the reference dev takes */
	wait_n(&d, 1);
	cr_assert_eq(d.blob, b);
	cr_assert_eq(b->open_ref, 2);
	dev = bs_create_blob_back_dev(b);
	cr_assert_not_null(dev);
	cr_assert_not(bs_dev_is_zeroes(dev));
	cr_assert_eq(dev->blocklen, BLOCKLEN);
	cr_assert_eq(dev->blockcnt, n);
	ch = dev->create_channel(dev);
	cr_assert_eq(ch, g_ch, "a blob back device's channel is the thread's blobstore channel");

	r.args = (struct spio_bs_dev_cb_args){dev_cpl, ch, &r};
	rv.args = (struct spio_bs_dev_cb_args){dev_cpl, ch, &rv};
	past.args = (struct spio_bs_dev_cb_args){dev_cpl, ch, &past};
	w.args = (struct spio_bs_dev_cb_args){dev_cpl, ch, &w};
	u.args = (struct spio_bs_dev_cb_args){dev_cpl, ch, &u};
	f.args = (struct spio_bs_dev_cb_args){dev_cpl, ch, &f};
	g_in_submit = true;
	dev->read(dev, ch, buf, UPC - 1, 2, &r.args);
	g_in_submit = false;
	poll_all(50);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.rc, 0);
	cr_assert_eq(memcmp(buf, model + (UPC - 1) * BLOCKLEN, 2 * BLOCKLEN), 0);

	memset(buf, 0xaa, sizeof(buf));
	g_in_submit = true;
	dev->readv(dev, ch, iov, 2, n - 1, 3, &rv.args); /* one unit inside, two past the end */
	g_in_submit = false;
	poll_all(50);
	cr_assert_eq(rv.n, 1);
	cr_assert_eq(rv.rc, 0);
	cr_assert_eq(memcmp(buf, model + (n - 1) * BLOCKLEN, BLOCKLEN), 0);
	cr_assert(all_zero(buf + BLOCKLEN, 2 * BLOCKLEN), "past the parent's end reads zeroes");

	memset(buf, 0xaa, sizeof(buf));
	g_in_submit = true;
	dev->read(dev, ch, buf, n + 5, 1, &past.args);
	dev->write(dev, ch, buf, 0, 1, &w.args);
	dev->unmap(dev, ch, 0, 1, &u.args);
	dev->flush(dev, ch, &f.args);
	g_in_submit = false;
	poll_all(50);
	cr_assert_eq(past.n, 1);
	cr_assert_eq(past.rc, 0);
	cr_assert(all_zero(buf, BLOCKLEN));
	cr_assert_eq(w.rc, -EPERM, "write: expected -EPERM, got %d", w.rc);
	cr_assert_eq(u.rc, -EPERM, "unmap: expected -EPERM, got %d", u.rc);
	cr_assert_eq(f.n, 1);
	cr_assert_eq(f.rc, 0);
	dev->destroy_channel(dev, ch);
	dev->destroy(dev);
	poll_all(50);
	cr_assert_eq(b->open_ref, 1, "destroy gives back the reference");
	free(model);
}
