/*
 * The blobstore's operations one by one on fresh stores in memory, through
 * the public API only: init options and their errors, unload / load, the
 * super blob, create, open / close, delete, resize, sync, xattrs,
 * iteration, read-only, I/O errors, snapshots, clones, inflate, decouple,
 * snapshot deletion and unload refusals.
 *
 * Each test body runs in a spio task and uses the _await twins (the
 * callback forms are exercised by test_blob_images). The store sits on a
 * cut_ctl memory device, so a test can unload and load the same bytes, or
 * load a copy of them taken while the store is live (what a crash leaves).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helper_blob_task.h"
#include "helper_blob_thread.h"
#include "helper_cut_dev.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/env.h"
#include "spio/task.h"
#include "spio/thread.h"

#define KIB UINT64_C(1024)
#define MIB (UINT64_C(1024) * 1024)

/* The usual store: 16 MiB of 4 KiB blocks, 64 KiB clusters (16 io units each). */
#define DEV_SIZE (16 * MIB)
#define CLUSTER (64 * KIB)
#define IOU UINT64_C(4096)
#define UPC (CLUSTER / IOU)

static struct spio_thread *g_thread;

static void setup(void)
{
	struct spio_env_opts eo;

	spio_env_opts_init(&eo, sizeof(eo));
	eo.no_huge = true;
	eo.name = "test_blob_ops";
	cr_assert_eq(spio_env_init(&eo), 0);
	g_thread = blob_test_thread_start("blob_ops");
}

static void teardown(void)
{
	blob_test_thread_end(g_thread);
	spio_env_fini();
}

TestSuite(blob_ops, .init = setup, .fini = teardown);

/* A test whose body runs in a task (blob_task_run). */
#define BLOB_TEST(name)                                     \
	static void body_##name(void *arg);                 \
	Test(blob_ops, name)                                \
	{                                                   \
		blob_task_run(g_thread, body_##name, NULL); \
	}                                                   \
	static void body_##name(void *arg)

#define OK(call)                                                   \
	do {                                                       \
		int rc_ = (call);                                  \
		CHECK_EQ(rc_, 0, "%s: %s", #call, strerror(-rc_)); \
	} while (0)

#define FAILS(call, err)                                                          \
	do {                                                                      \
		int rc_ = (call);                                                 \
		CHECK_EQ(rc_, (err), "%s: expected %s", #call, strerror(-(err))); \
	} while (0)

/* Content: byte at blob byte offset `pos` of pattern `seed`; seed 0 is zeroes. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void pat_fill(uint8_t *buf, uint64_t pos, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++, pos++) {
		buf[i] =
		    seed == 0
			? 0
			: (uint8_t)(mix64(((uint64_t)seed << 40) ^ (pos >> 3)) >> ((pos & 7) * 8));
	}
}

/* A store on its own memory device, with a channel of this thread. */
struct fx {
	struct cut_ctl dev;
	struct spio_blob_store *bs;
	struct spio_io_channel *ch;
};

static void fx_load(struct fx *f, struct spio_bs_opts *o)
{
	OK(spio_bs_load_await(cut_dev_create(&f->dev), o, &f->bs));
	f->ch = spio_bs_alloc_io_channel(f->bs);
	CHECK_NOT_NULL(f->ch);
}

static void fx_init_opts(struct fx *f, uint64_t size, uint32_t blocklen, struct spio_bs_opts *o)
{
	cut_ctl_init(&f->dev, size / blocklen, blocklen);
	OK(spio_bs_init_await(cut_dev_create(&f->dev), o, &f->bs));
	f->ch = spio_bs_alloc_io_channel(f->bs);
	CHECK_NOT_NULL(f->ch);
}

static void fx_init(struct fx *f)
{
	struct spio_bs_opts o;

	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER;
	fx_init_opts(f, DEV_SIZE, 4096, &o);
}

static void fx_unload(struct fx *f)
{
	spio_bs_free_io_channel(f->ch);
	f->ch = NULL;
	OK(spio_bs_unload_await(f->bs));
	f->bs = NULL;
}

static void fx_reload(struct fx *f)
{
	fx_unload(f);
	fx_load(f, NULL);
}

static void fx_fini(struct fx *f)
{
	fx_unload(f);
	cut_ctl_fini(&f->dev);
}

/* Xattrs for creation from a table of names and values. */
struct xa_tab {
	size_t n;
	char *names[4];
	const void *vals[4];
	size_t lens[4];
};

static void xa_get(void *ctx, const char *name, const void **value, size_t *value_len)
{
	struct xa_tab *t = ctx;

	*value = NULL;
	*value_len = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->names[i], name) == 0) {
			*value = t->vals[i];
			*value_len = t->lens[i];
		}
	}
}

static struct spio_blob_xattr_opts xa_opts(struct xa_tab *t)
{
	return (struct spio_blob_xattr_opts){
	    .count = t->n, .names = t->names, .ctx = t, .get_value = xa_get};
}

static spio_blob_id create(struct fx *f, uint64_t clusters, bool thin)
{
	struct spio_blob_opts o;
	spio_blob_id id = SPIO_BLOBID_INVALID;

	spio_blob_opts_init(&o, sizeof(o));
	o.num_clusters = clusters;
	o.thin_provision = thin;
	OK(spio_bs_create_blob_await(f->bs, &o, &id));
	CHECK_NEQ(id, SPIO_BLOBID_INVALID, "create returned 0 but no id");
	return id;
}

static struct spio_blob *open_blob(struct fx *f, spio_blob_id id)
{
	struct spio_blob *b = NULL;

	OK(spio_bs_open_blob_await(f->bs, id, &b));
	CHECK_NOT_NULL(b);
	CHECK_EQ(spio_blob_get_id(b), id, "opened 0x%lx, handle says 0x%lx", id,
		 spio_blob_get_id(b));
	return b;
}

/* Write pattern `seed` over io units [off, off + n). */
static void wr(struct fx *f, struct spio_blob *b, uint64_t off, uint64_t n, uint32_t seed)
{
	uint8_t *buf = malloc(n * IOU);

	CHECK_NOT_NULL(buf);
	pat_fill(buf, off * IOU, n * IOU, seed);
	OK(spio_blob_io_write_await(b, f->ch, buf, off, n));
	free(buf);
}

/* Io units [off, off + n) must hold pattern `seed`. */
static void expect(struct fx *f, struct spio_blob *b, uint64_t off, uint64_t n, uint32_t seed,
		   const char *what)
{
	uint8_t *got = malloc(n * IOU), *want = malloc(n * IOU);
	size_t i;

	CHECK(got != NULL && want != NULL);
	memset(got, 0xcc, n * IOU);
	OK(spio_blob_io_read_await(b, f->ch, got, off, n));
	pat_fill(want, off * IOU, n * IOU, seed);
	for (i = 0; i < n * IOU && got[i] == want[i]; i++) {
	}
	if (i < n * IOU) {
		CHECK_FAIL("%s: blob 0x%lx io unit %lu byte %lu: expected 0x%02x (pattern %u), got "
			   "0x%02x",
			   what, spio_blob_get_id(b), off + i / IOU, i % IOU, want[i], seed,
			   got[i]);
	}
	free(got);
	free(want);
}

static void expect_xattr(struct spio_blob *b, const char *name, const void *val, size_t len)
{
	const void *v = NULL;
	size_t l = 0;

	OK(spio_blob_get_xattr_value(b, name, &v, &l));
	CHECK_EQ(l, len, "xattr %s: expected %zu bytes, got %zu", name, len, l);
	CHECK(memcmp(v, val, len) == 0, "xattr %s: value differs", name);
}

static uint64_t free_clusters(struct fx *f)
{
	return spio_bs_free_cluster_count(f->bs);
}

/* A copy of the device as it is now, loaded as after a crash. */
static void fx_load_copy(struct fx *copy, struct fx *f)
{
	cut_ctl_init(&copy->dev, f->dev.blockcnt, f->dev.blocklen);
	memcpy(copy->dev.bytes, f->dev.bytes, f->dev.blockcnt * f->dev.blocklen);
	fx_load(copy, NULL);
}

/* spio_bs_iter_first / next inside a task (they have no _await twins). */
static void iter_cpl(void *cb_arg, struct spio_blob *blob, int bserrno)
{
	struct spio_completion *c = cb_arg;

	c->ptr = blob;
	spio_completion_done(c, bserrno);
}

static int iter_await(struct fx *f, struct spio_blob *prev, struct spio_blob **b)
{
	struct spio_completion c;
	int rc;

	spio_completion_init(&c);
	if (prev == NULL) {
		spio_bs_iter_first(f->bs, iter_cpl, &c);
	} else {
		spio_bs_iter_next(f->bs, prev, iter_cpl, &c);
	}
	rc = spio_await(&c);
	*b = c.ptr;
	return rc;
}

/*
 * Options and init
 */

Test(blob_ops, opts_defaults)
{
	struct spio_bs_opts o;
	struct spio_blob_opts bo;
	static const struct spio_bs_type zero;

	memset(&o, 0xa5, sizeof(o));
	spio_bs_opts_init(&o, sizeof(o));
	CHECK_EQ(o.cluster_sz, 1024 * 1024, "default cluster size: got %u", o.cluster_sz);
	CHECK_EQ(o.num_md_pages, UINT32_MAX, "default md pages: got %u", o.num_md_pages);
	CHECK_EQ(o.md_page_size, 4096, "default md page size: got %u", o.md_page_size);
	CHECK_EQ(o.max_channel_ops, 512, "default channel ops: got %u", o.max_channel_ops);
	CHECK_EQ(o.clear_method, SPIO_BS_CLEAR_WITH_UNMAP);
	CHECK(memcmp(&o.bstype, &zero, sizeof(zero)) == 0, "default bstype is all zero");
	CHECK_NULL(o.iter_cb_fn);
	CHECK_NOT(o.force_recover);
	CHECK_EQ(o.opts_size, sizeof(o));

	memset(&bo, 0xa5, sizeof(bo));
	spio_blob_opts_init(&bo, sizeof(bo));
	CHECK_EQ(bo.num_clusters, 0);
	CHECK_NOT(bo.thin_provision);
	CHECK_EQ(bo.clear_method, SPIO_BLOB_CLEAR_WITH_DEFAULT);
	CHECK(bo.use_extent_table, "extent table by default");
	CHECK_EQ(bo.xattrs.count, 0);
	CHECK_EQ(bo.opts_size, sizeof(bo));
}

BLOB_TEST(init_defaults)
{
	struct fx f;
	spio_blob_id super = 0;
	struct spio_bs_type t;
	static const struct spio_bs_type zero;

	fx_init_opts(&f, 64 * MIB, 4096, NULL);
	CHECK_EQ(spio_bs_get_cluster_size(f.bs), 1024 * 1024);
	CHECK_EQ(spio_bs_get_page_size(f.bs), 4096);
	CHECK_EQ(spio_bs_get_io_unit_size(f.bs), 4096);
	/* 64 clusters, the metadata (super, masks, 64 md pages) fits the first */
	CHECK_EQ(spio_bs_total_data_cluster_count(f.bs), 63, "data clusters: expected 63, got %lu",
		 spio_bs_total_data_cluster_count(f.bs));
	CHECK_EQ(free_clusters(&f), 63, "free clusters: expected 63, got %lu", free_clusters(&f));
	FAILS(spio_bs_get_super_await(f.bs, &super), -ENOENT);
	t = spio_bs_get_bstype(f.bs);
	CHECK(memcmp(&t, &zero, sizeof(t)) == 0, "bstype of a default store is all zero");
	CHECK_EQ(spio_bs_get_bs_dev(f.bs) != NULL, true);
	fx_fini(&f);

	/* 512-byte blocks: the io unit follows the block size */
	fx_init_opts(&f, 8 * MIB, 512, NULL);
	CHECK_EQ(spio_bs_get_io_unit_size(f.bs), 512, "io unit on 512-byte blocks: got %lu",
		 spio_bs_get_io_unit_size(f.bs));
	fx_fini(&f);
}

BLOB_TEST(init_options_and_bstype)
{
	struct fx f;
	struct spio_bs_opts o;
	struct spio_bs_type t;
	struct spio_blob_store *bs = NULL;
	int created = 0, rc = 0;

	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER;
	o.num_md_pages = 8;
	memcpy(o.bstype.bstype, "SPIOTEST", 8);
	fx_init_opts(&f, DEV_SIZE, 4096, &o);
	CHECK_EQ(spio_bs_get_cluster_size(f.bs), CLUSTER);
	t = spio_bs_get_bstype(f.bs);
	CHECK(memcmp(t.bstype, "SPIOTEST\0\0\0\0\0\0\0\0", 16) == 0, "bstype kept");

	/* 8 md pages: 8 empty blobs (one page each), then no page is left */
	for (int i = 0; i < 9; i++) {
		struct spio_blob_opts bo;
		spio_blob_id id;

		spio_blob_opts_init(&bo, sizeof(bo));
		bo.thin_provision = true;
		rc = spio_bs_create_blob_await(f.bs, &bo, &id);
		if (rc != 0) {
			break;
		}
		created++;
	}
	CHECK_EQ(created, 8, "8 md pages hold 8 empty blobs, got %d", created);
	CHECK_EQ(rc, -ENOSPC, "the 9th blob: expected -ENOSPC, got %d", rc);
	fx_unload(&f);

	/* load: any type with an all-zero bstype, the same type, not another one */
	fx_load(&f, NULL);
	t = spio_bs_get_bstype(f.bs);
	CHECK(memcmp(t.bstype, "SPIOTEST", 8) == 0, "bstype read back");
	fx_unload(&f);
	spio_bs_opts_init(&o, sizeof(o));
	memcpy(o.bstype.bstype, "OTHER", 5);
	FAILS(spio_bs_load_await(cut_dev_create(&f.dev), &o, &bs), -ENXIO);
	CHECK_NULL(bs);
	CHECK_EQ(f.dev.live, 0, "a refused load destroys the device");
	memset(&o.bstype, 0, sizeof(o.bstype));
	memcpy(o.bstype.bstype, "SPIOTEST", 8);
	fx_load(&f, &o);
	fx_fini(&f);

	/* 8 KiB md pages */
	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER;
	o.md_page_size = 8192;
	fx_init_opts(&f, DEV_SIZE, 4096, &o);
	CHECK_EQ(spio_bs_get_page_size(f.bs), 8192);
	{
		spio_blob_id id = create(&f, 2, false);
		struct spio_blob *b = open_blob(&f, id);

		wr(&f, b, 0, 2 * UPC, 7);
		OK(spio_blob_set_xattr(b, "k", "v", 1));
		OK(spio_blob_close_await(b));
		fx_reload(&f);
		CHECK_EQ(spio_bs_get_page_size(f.bs), 8192);
		b = open_blob(&f, id);
		expect(&f, b, 0, 2 * UPC, 7, "8 KiB md pages, after reload");
		expect_xattr(b, "k", "v", 1);
		OK(spio_blob_close_await(b));
	}
	fx_fini(&f);
}

/* Init must fail with `err` (or, if err2 != 0, with err2) and destroy the device. */
static void init_fails(uint64_t size, uint32_t blocklen, struct spio_bs_opts *o, int err, int err2,
		       const char *what)
{
	struct cut_ctl c;
	struct spio_blob_store *bs = NULL;
	int rc;

	cut_ctl_init(&c, size / blocklen, blocklen);
	rc = spio_bs_init_await(cut_dev_create(&c), o, &bs);
	CHECK(rc == err || (err2 != 0 && rc == err2), "%s: expected %d or %d, got %d", what, err,
	      err2, rc);
	CHECK_NULL(bs, "%s: no store on failure", what);
	CHECK_EQ(c.live, 0, "%s: the device is destroyed on failure", what);
	CHECK_EQ(c.destroyed, 1, "%s: destroyed once, got %d", what, c.destroyed);
	cut_ctl_fini(&c);
}

BLOB_TEST(init_bad_options)
{
	struct spio_bs_opts o;

	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = 0;
	init_fails(DEV_SIZE, 4096, &o, -EINVAL, 0, "cluster size 0");
	o.cluster_sz = 6000;
	init_fails(DEV_SIZE, 4096, &o, -EINVAL, 0, "cluster size not a multiple of the page");
	spio_bs_opts_init(&o, sizeof(o));
	o.num_md_pages = 0;
	init_fails(DEV_SIZE, 4096, &o, -EINVAL, 0, "0 md pages");
	spio_bs_opts_init(&o, sizeof(o));
	o.max_channel_ops = 0;
	init_fails(DEV_SIZE, 4096, &o, -EINVAL, 0, "0 channel ops");
	spio_bs_opts_init(&o, sizeof(o));
	o.md_page_size = 2048;
	init_fails(DEV_SIZE, 4096, &o, -EINVAL, 0, "md page of 2 KiB");
	o.md_page_size = 6144;
	o.cluster_sz = 6144 * 16;
	init_fails(DEV_SIZE, 4096, &o, -EINVAL, 0, "md page size not a power of two");
	o.md_page_size = 8192;
	o.cluster_sz = 12288;
	init_fails(DEV_SIZE, 4096, &o, -EINVAL, 0, "cluster not a multiple of the md page");
}

BLOB_TEST(init_device_too_small)
{
	struct spio_bs_opts o;

	/* 32 KiB: not even one 1 MiB cluster */
	init_fails(32 * KIB, 4096, NULL, -EINVAL, -ENOSPC, "32 KiB device");
	/* 1 MiB of 64 KiB clusters with 1000 md pages (4 MB of metadata) */
	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER;
	o.num_md_pages = 1000;
	init_fails(1 * MIB, 4096, &o, -EINVAL, -ENOSPC, "metadata larger than the device");
	/* blocks larger than the md page */
	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER;
	init_fails(DEV_SIZE, 8192, &o, -EINVAL, 0, "8 KiB blocks under 4 KiB md pages");
}

/*
 * Store lifecycle and the super blob
 */

BLOB_TEST(unload_load_roundtrip)
{
	struct fx f;
	spio_blob_id a, b;
	struct spio_blob *ba, *bb;
	uint64_t free0, total;

	fx_init(&f);
	total = spio_bs_total_data_cluster_count(f.bs);
	a = create(&f, 3, false);
	b = create(&f, 5, true);
	ba = open_blob(&f, a);
	bb = open_blob(&f, b);
	wr(&f, ba, 0, 3 * UPC, 11);
	wr(&f, bb, 2 * UPC + 3, 2, 12);
	OK(spio_blob_set_xattr(ba, "name", "alpha", 6));
	OK(spio_blob_close_await(ba));
	OK(spio_blob_close_await(bb));
	free0 = free_clusters(&f);
	CHECK_EQ(free0, total - 4, "3 thick + 1 thin cluster used: free %lu of %lu", free0, total);

	for (int round = 0; round < 2; round++) {
		fx_reload(&f);
		CHECK_EQ(free_clusters(&f), free0, "round %d: free clusters %lu, expected %lu",
			 round, free_clusters(&f), free0);
		CHECK_EQ(spio_bs_total_data_cluster_count(f.bs), total);
		CHECK_EQ(spio_bs_get_cluster_size(f.bs), CLUSTER);
		ba = open_blob(&f, a);
		bb = open_blob(&f, b);
		CHECK_EQ(spio_blob_get_num_clusters(ba), 3);
		CHECK_EQ(spio_blob_get_num_allocated_clusters(ba), 3);
		CHECK_NOT(spio_blob_is_thin_provisioned(ba));
		CHECK_EQ(spio_blob_get_num_clusters(bb), 5);
		CHECK_EQ(spio_blob_get_num_allocated_clusters(bb), 1);
		CHECK(spio_blob_is_thin_provisioned(bb));
		CHECK_EQ(spio_blob_get_num_io_units(bb), 5 * UPC);
		expect(&f, ba, 0, 3 * UPC, 11, "thick blob after reload");
		expect(&f, bb, 0, 2 * UPC + 3, 0, "thin blob before the write");
		expect(&f, bb, 2 * UPC + 3, 2, 12, "thin blob's write");
		expect(&f, bb, 2 * UPC + 5, 3 * UPC - 5, 0, "thin blob after the write");
		expect_xattr(ba, "name", "alpha", 6);
		OK(spio_blob_close_await(ba));
		OK(spio_blob_close_await(bb));
	}

	/* force_recover rebuilds the same masks from the metadata */
	fx_unload(&f);
	{
		struct spio_bs_opts o;

		spio_bs_opts_init(&o, sizeof(o));
		o.force_recover = true;
		fx_load(&f, &o);
	}
	CHECK_EQ(free_clusters(&f), free0, "force_recover: free clusters %lu, expected %lu",
		 free_clusters(&f), free0);
	fx_fini(&f);
}

BLOB_TEST(super_blob)
{
	struct fx f;
	spio_blob_id a, b, got = 0;

	fx_init(&f);
	FAILS(spio_bs_get_super_await(f.bs, &got), -ENOENT);
	a = create(&f, 0, false);
	b = create(&f, 1, false);
	FAILS(spio_bs_set_super_await(f.bs, b + 1000), -ENOENT);
	FAILS(spio_bs_get_super_await(f.bs, &got), -ENOENT);
	OK(spio_bs_set_super_await(f.bs, a));
	OK(spio_bs_get_super_await(f.bs, &got));
	CHECK_EQ(got, a, "super: expected 0x%lx, got 0x%lx", a, got);
	OK(spio_bs_set_super_await(f.bs, b));
	fx_reload(&f);
	got = 0;
	OK(spio_bs_get_super_await(f.bs, &got));
	CHECK_EQ(got, b, "super after reload: expected 0x%lx, got 0x%lx", b, got);
	fx_fini(&f);
}

/*
 * Blobs: create, open, close, delete, resize, sync
 */

BLOB_TEST(create_thick_thin_with_xattrs)
{
	struct fx f;
	struct xa_tab t = {
	    .n = 2, .names = {"name", "bin"}, .vals = {"thick", "\0\1\2\3"}, .lens = {6, 4}};
	struct spio_blob_opts o;
	spio_blob_id thick, thin, empty;
	struct spio_blob *b;
	uint64_t free0;

	fx_init(&f);
	free0 = free_clusters(&f);
	spio_blob_opts_init(&o, sizeof(o));
	o.num_clusters = 4;
	o.xattrs = xa_opts(&t);
	OK(spio_bs_create_blob_await(f.bs, &o, &thick));
	CHECK_EQ(free_clusters(&f), free0 - 4, "thick create takes 4 clusters at once");
	o.thin_provision = true;
	o.num_clusters = 100;
	t.vals[0] = "thin";
	t.lens[0] = 5;
	OK(spio_bs_create_blob_await(f.bs, &o, &thin));
	CHECK_EQ(free_clusters(&f), free0 - 4, "thin create takes no cluster");
	OK(spio_bs_create_blob_await(f.bs, NULL, &empty));
	CHECK(thick != thin && thin != empty && thick != empty, "ids differ");

	for (int round = 0; round < 2; round++) {
		b = open_blob(&f, thick);
		CHECK_EQ(spio_blob_get_num_clusters(b), 4);
		CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 4);
		CHECK_NOT(spio_blob_is_thin_provisioned(b));
		CHECK_NOT(spio_blob_is_read_only(b));
		CHECK_NOT(spio_blob_is_clone(b));
		CHECK_NOT(spio_blob_is_snapshot(b));
		expect_xattr(b, "name", "thick", 6);
		expect_xattr(b, "bin", "\0\1\2\3", 4);
		CHECK_EQ(spio_blob_get_next_allocated_io_unit(b, 0), 0);
		CHECK_EQ(spio_blob_get_next_unallocated_io_unit(b, 0), UINT64_MAX);
		OK(spio_blob_close_await(b));

		b = open_blob(&f, thin);
		CHECK_EQ(spio_blob_get_num_clusters(b), 100);
		CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 0);
		CHECK(spio_blob_is_thin_provisioned(b));
		expect_xattr(b, "name", "thin", 5);
		CHECK_EQ(spio_blob_get_next_allocated_io_unit(b, 0), UINT64_MAX);
		CHECK_EQ(spio_blob_get_next_unallocated_io_unit(b, 0), 0);
		OK(spio_blob_close_await(b));

		b = open_blob(&f, empty);
		CHECK_EQ(spio_blob_get_num_clusters(b), 0);
		CHECK_EQ(spio_blob_get_num_io_units(b), 0);
		OK(spio_blob_close_await(b));
		fx_reload(&f);
	}
	fx_fini(&f);
}

static void no_value(void *ctx, const char *name, const void **value, size_t *value_len)
{
	*value = NULL;
	*value_len = 0;
}

BLOB_TEST(create_errors)
{
	struct fx f;
	struct spio_blob_opts o;
	char *names[] = {"n"};
	spio_blob_id id = 0;
	uint64_t free0;

	fx_init(&f);
	free0 = free_clusters(&f);
	spio_blob_opts_init(&o, sizeof(o));
	o.num_clusters = free0 + 1;
	FAILS(spio_bs_create_blob_await(f.bs, &o, &id), -ENOSPC);
	CHECK_EQ(free_clusters(&f), free0, "a failed create gives its clusters back");
	o.num_clusters = free0;
	OK(spio_bs_create_blob_await(f.bs, &o, &id));
	CHECK_EQ(free_clusters(&f), 0);
	OK(spio_bs_delete_blob_await(f.bs, id));
	CHECK_EQ(free_clusters(&f), free0);

	spio_blob_opts_init(&o, sizeof(o));
	o.xattrs = (struct spio_blob_xattr_opts){.count = 1, .names = names, .get_value = no_value};
	FAILS(spio_bs_create_blob_await(f.bs, &o, &id), -EINVAL);
	fx_fini(&f);
}

BLOB_TEST(open_close_refcount)
{
	struct fx f;
	spio_blob_id id;
	struct spio_blob *b1, *b2, *none = NULL;

	fx_init(&f);
	id = create(&f, 1, false);
	b1 = open_blob(&f, id);
	b2 = open_blob(&f, id);
	CHECK_EQ(b1, b2, "two opens of one blob share the handle");
	wr(&f, b1, 0, UPC, 3);
	OK(spio_blob_close_await(b1));
	/* one reference left: the handle still works */
	expect(&f, b2, 0, UPC, 3, "after the first close");
	FAILS(spio_bs_delete_blob_await(f.bs, id), -EBUSY);
	OK(spio_blob_close_await(b2));
	OK(spio_bs_delete_blob_await(f.bs, id));

	FAILS(spio_bs_open_blob_await(f.bs, id, &none), -ENOENT);
	CHECK_NULL(none);
	FAILS(spio_bs_open_blob_await(f.bs, 0, &none), -ENOENT);
	FAILS(spio_bs_open_blob_await(f.bs, SPIO_BLOBID_INVALID, &none), -ENOENT);
	fx_fini(&f);
}

BLOB_TEST(delete_blob)
{
	struct fx f;
	spio_blob_id a, b;
	struct spio_blob *h = NULL;
	uint64_t free0;

	fx_init(&f);
	free0 = free_clusters(&f);
	a = create(&f, 3, false);
	b = create(&f, 2, false);
	h = open_blob(&f, a);
	FAILS(spio_bs_delete_blob_await(f.bs, a), -EBUSY);
	OK(spio_blob_close_await(h));
	OK(spio_bs_delete_blob_await(f.bs, a));
	CHECK_EQ(free_clusters(&f), free0 - 2, "delete gives 3 clusters back: free %lu",
		 free_clusters(&f));
	h = NULL;
	FAILS(spio_bs_open_blob_await(f.bs, a, &h), -ENOENT);
	FAILS(spio_bs_delete_blob_await(f.bs, a), -ENOENT);
	/* b is untouched, and the deletion survives a reload */
	fx_reload(&f);
	FAILS(spio_bs_open_blob_await(f.bs, a, &h), -ENOENT);
	CHECK_EQ(free_clusters(&f), free0 - 2);
	h = open_blob(&f, b);
	CHECK_EQ(spio_blob_get_num_clusters(h), 2);
	OK(spio_blob_close_await(h));
	fx_fini(&f);
}

BLOB_TEST(resize_grow_shrink)
{
	struct fx f;
	spio_blob_id id, tid;
	struct spio_blob *b, *t;
	uint64_t free0;
	uint8_t buf[IOU];

	fx_init(&f);
	free0 = free_clusters(&f);
	id = create(&f, 2, false);
	b = open_blob(&f, id);
	wr(&f, b, 0, 2 * UPC, 21);
	OK(spio_blob_resize_await(b, 5));
	CHECK_EQ(spio_blob_get_num_clusters(b), 5);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 5);
	CHECK_EQ(free_clusters(&f), free0 - 5, "grow to 5: free %lu, expected %lu",
		 free_clusters(&f), free0 - 5);
	OK(spio_blob_sync_md_await(b));
	expect(&f, b, 0, 2 * UPC, 21, "data kept by a grow");

	OK(spio_blob_resize_await(b, 1));
	CHECK_EQ(spio_blob_get_num_clusters(b), 1);
	CHECK_EQ(spio_blob_get_num_io_units(b), UPC);
	OK(spio_blob_sync_md_await(b));
	CHECK_EQ(free_clusters(&f), free0 - 1, "shrink to 1 and sync: free %lu, expected %lu",
		 free_clusters(&f), free0 - 1);
	expect(&f, b, 0, UPC, 21, "data kept by a shrink");
	FAILS(spio_blob_io_read_await(b, f.ch, buf, UPC, 1), -EINVAL);
	FAILS(spio_blob_io_write_await(b, f.ch, buf, UPC - 1, 2), -EINVAL);

	FAILS(spio_blob_resize_await(b, free0 + 2), -ENOSPC);
	CHECK_EQ(spio_blob_get_num_clusters(b), 1, "a failed grow keeps the size");
	CHECK_EQ(free_clusters(&f), free0 - 1, "a failed grow keeps the free clusters");

	tid = create(&f, 0, true);
	t = open_blob(&f, tid);
	OK(spio_blob_resize_await(t, 1000));
	CHECK_EQ(spio_blob_get_num_clusters(t), 1000);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(t), 0);
	CHECK_EQ(free_clusters(&f), free0 - 1, "a thin grow takes no cluster");
	OK(spio_blob_sync_md_await(t));
	OK(spio_blob_resize_await(b, 0));
	OK(spio_blob_close_await(b));
	OK(spio_blob_close_await(t));
	CHECK_EQ(free_clusters(&f), free0, "resize to 0 and close: free %lu", free_clusters(&f));

	fx_reload(&f);
	b = open_blob(&f, id);
	t = open_blob(&f, tid);
	CHECK_EQ(spio_blob_get_num_clusters(b), 0);
	CHECK_EQ(spio_blob_get_num_clusters(t), 1000);
	CHECK_EQ(free_clusters(&f), free0);
	OK(spio_blob_close_await(b));
	OK(spio_blob_close_await(t));
	fx_fini(&f);
}

BLOB_TEST(sync_persists_and_close_syncs)
{
	struct fx f, c1, c2;
	spio_blob_id id;
	struct spio_blob *b;

	fx_init(&f);
	id = create(&f, 1, false);
	b = open_blob(&f, id);
	OK(spio_blob_sync_md_await(b)); /* nothing changed: fine */
	OK(spio_blob_set_xattr(b, "k", "before-sync", 12));
	OK(spio_blob_resize_await(b, 3));

	/* a crash now keeps the old metadata */
	fx_load_copy(&c1, &f);
	{
		struct spio_blob *cb = open_blob(&c1, id);
		const void *v;
		size_t l;

		CHECK_EQ(spio_blob_get_num_clusters(cb), 1, "unsynced resize not on the device");
		FAILS(spio_blob_get_xattr_value(cb, "k", &v, &l), -ENOENT);
		OK(spio_blob_close_await(cb));
	}
	fx_fini(&c1);

	OK(spio_blob_sync_md_await(b));
	fx_load_copy(&c2, &f);
	{
		struct spio_blob *cb = open_blob(&c2, id);

		CHECK_EQ(spio_blob_get_num_clusters(cb), 3, "synced resize on the device");
		CHECK_EQ(spio_blob_get_num_allocated_clusters(cb), 3);
		expect_xattr(cb, "k", "before-sync", 12);
		OK(spio_blob_close_await(cb));
	}
	fx_fini(&c2);

	/* the last close syncs */
	OK(spio_blob_set_xattr(b, "k", "by-close", 9));
	OK(spio_blob_close_await(b));
	fx_reload(&f);
	b = open_blob(&f, id);
	expect_xattr(b, "k", "by-close", 9);
	OK(spio_blob_close_await(b));
	fx_fini(&f);
}

/*
 * The extent table writes 0 for "no extent page", so md page 0 must never
 * hold one: once the blob whose first page it was is deleted, a rewritten
 * extent page must go elsewhere (SPDK starts that search at page 1).
 */
BLOB_TEST(extent_page_never_on_md_page_0)
{
	struct fx f;
	spio_blob_id a, b;
	struct spio_blob *h;

	fx_init(&f);
	a = create(&f, 0, true);
	CHECK_EQ(a, (1ull << 32) | 0, "the first blob takes md page 0");
	b = create(&f, 2, false);
	h = open_blob(&f, b);
	wr(&f, h, 0, 2 * UPC, 51);
	OK(spio_blob_close_await(h));
	OK(spio_bs_delete_blob_await(f.bs, a));
	h = open_blob(&f, b);
	OK(spio_blob_resize_await(h, 1));
	OK(spio_blob_sync_md_await(h));
	OK(spio_blob_close_await(h));
	fx_reload(&f);
	h = open_blob(&f, b);
	CHECK_EQ(spio_blob_get_num_clusters(h), 1);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(h), 1);
	expect(&f, h, 0, UPC, 51, "after the extent page moved");
	OK(spio_blob_close_await(h));
	fx_fini(&f);
}

/*
 * A thick blob shrunk to 0 clusters has no extent page left: the sync must
 * free the one on the device, or every grow / shrink cycle leaks an md page
 * (found by fuzz_blob_md: shrink to 0, sync, snapshot, unload).
 */
BLOB_TEST(shrink_to_zero_frees_extent_page)
{
	struct fx f;
	struct spio_bs_opts o;
	spio_blob_id id, sid;
	struct spio_blob *b;
	int created = 0, rc = 0;

	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER;
	o.num_md_pages = 4;
	fx_init_opts(&f, DEV_SIZE, 4096, &o);
	id = create(&f, 1, false);
	b = open_blob(&f, id);
	/* 4 md pages: the blob's and its extent page, so 2 leaks would end this loop */
	for (int i = 0; i < 8; i++) {
		OK(spio_blob_resize_await(b, 0));
		rc = spio_blob_sync_md_await(b);
		CHECK_EQ(rc, 0, "cycle %d: sync after the shrink to 0: %s", i, strerror(-rc));
		OK(spio_blob_resize_await(b, 1));
		rc = spio_blob_sync_md_await(b);
		CHECK_EQ(rc, 0, "cycle %d: sync after the grow to 1 (a leaked md page?): %s", i,
			 strerror(-rc));
	}
	/* The fuzzer's sequence */
	OK(spio_blob_resize_await(b, 0));
	OK(spio_blob_sync_md_await(b));
	OK(spio_bs_create_snapshot_await(f.bs, id, NULL, &sid));
	OK(spio_blob_close_await(b));
	fx_reload(&f);

	/* The blob and the snapshot hold one page each: 2 left for empty blobs */
	for (int i = 0; i < 3; i++) {
		struct spio_blob_opts bo;
		spio_blob_id nid;

		spio_blob_opts_init(&bo, sizeof(bo));
		bo.thin_provision = true;
		rc = spio_bs_create_blob_await(f.bs, &bo, &nid);
		if (rc != 0) {
			break;
		}
		created++;
	}
	CHECK_EQ(created, 2, "free md pages after the reload: expected 2, got %d", created);
	CHECK_EQ(rc, -ENOSPC, "a 3rd empty blob: expected -ENOSPC, got %d", rc);
	b = open_blob(&f, id);
	CHECK_EQ(spio_blob_get_num_clusters(b), 0);
	OK(spio_blob_close_await(b));
	fx_fini(&f);
}

/*
 * Xattrs
 */

BLOB_TEST(xattrs)
{
	struct fx f;
	spio_blob_id id;
	struct spio_blob *b;
	struct spio_xattr_names *names = NULL;
	const void *v;
	size_t l;
	uint8_t *big = malloc(65535);
	char *long_name = malloc(70000);
	bool seen[3] = {false, false, false};

	CHECK(big != NULL && long_name != NULL);
	pat_fill(big, 0, 65535, 5);
	memset(long_name, 'n', 69999);
	long_name[69999] = '\0';

	fx_init(&f);
	id = create(&f, 1, false);
	b = open_blob(&f, id);
	FAILS(spio_blob_get_xattr_value(b, "a", &v, &l), -ENOENT);
	OK(spio_blob_set_xattr(b, "a", "1", 1));
	OK(spio_blob_set_xattr(b, "b", "two", 3));
	OK(spio_blob_set_xattr(b, "c", "", 0));
	expect_xattr(b, "a", "1", 1);
	OK(spio_blob_set_xattr(b, "a", "22", 2));
	expect_xattr(b, "a", "22", 2);
	expect_xattr(b, "c", "", 0);

	OK(spio_blob_get_xattr_names(b, &names));
	CHECK_EQ(spio_xattr_names_get_count(names), 3, "3 names, got %u",
		 spio_xattr_names_get_count(names));
	for (uint32_t i = 0; i < 3; i++) {
		const char *n = spio_xattr_names_get_name(names, i);

		CHECK_NOT_NULL(n);
		CHECK(strlen(n) == 1 && n[0] >= 'a' && n[0] <= 'c', "unexpected name %s", n);
		CHECK_NOT(seen[n[0] - 'a'], "name %s listed twice", n);
		seen[n[0] - 'a'] = true;
	}
	CHECK_NULL(spio_xattr_names_get_name(names, 3));
	spio_xattr_names_free(names);

	OK(spio_blob_remove_xattr(b, "b"));
	FAILS(spio_blob_remove_xattr(b, "b"), -ENOENT);
	FAILS(spio_blob_get_xattr_value(b, "b", &v, &l), -ENOENT);

	/* the largest value that fits a page with its descriptor: 4072 - 9 - strlen("big") */
	FAILS(spio_blob_set_xattr(b, "big", big, 65535), -EINVAL);
	FAILS(spio_blob_set_xattr(b, "big", big, 4061), -EINVAL);
	FAILS(spio_blob_set_xattr(b, long_name, "x", 1), -EINVAL);
	FAILS(spio_blob_get_xattr_value(b, "big", &v, &l), -ENOENT);
	OK(spio_blob_set_xattr(b, "big", big, 4060));
	/* more than a page in all: the metadata needs a chain */
	for (int i = 0; i < 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "m%d", i);
		OK(spio_blob_set_xattr(b, name, big + 100 * i, 2000));
	}
	OK(spio_blob_close_await(b));

	fx_reload(&f);
	b = open_blob(&f, id);
	expect_xattr(b, "a", "22", 2);
	expect_xattr(b, "c", "", 0);
	expect_xattr(b, "big", big, 4060);
	for (int i = 0; i < 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "m%d", i);
		expect_xattr(b, name, big + 100 * i, 2000);
	}
	FAILS(spio_blob_get_xattr_value(b, "b", &v, &l), -ENOENT);
	/* shrink the chain again */
	OK(spio_blob_remove_xattr(b, "big"));
	OK(spio_blob_remove_xattr(b, "m1"));
	OK(spio_blob_remove_xattr(b, "m2"));
	OK(spio_blob_close_await(b));

	fx_reload(&f);
	b = open_blob(&f, id);
	OK(spio_blob_get_xattr_names(b, &names));
	CHECK_EQ(spio_xattr_names_get_count(names), 4, "a, c, m0, m3: got %u names",
		 spio_xattr_names_get_count(names));
	spio_xattr_names_free(names);
	expect_xattr(b, "m3", big + 300, 2000);
	FAILS(spio_blob_get_xattr_value(b, "m1", &v, &l), -ENOENT);
	OK(spio_blob_close_await(b));
	fx_fini(&f);
	free(big);
	free(long_name);
}

/*
 * Iteration
 */

BLOB_TEST(iteration)
{
	struct fx f;
	spio_blob_id ids[6];
	bool seen[6] = {false};
	struct spio_blob *b = NULL, *held;
	spio_blob_id last = 0;
	int n = 0, rc;

	fx_init(&f);
	FAILS(iter_await(&f, NULL, &b), -ENOENT);
	CHECK_NULL(b);
	for (int i = 0; i < 6; i++) {
		ids[i] = create(&f, i % 2, i % 3 == 0);
	}
	OK(spio_bs_delete_blob_await(f.bs, ids[1]));
	OK(spio_bs_delete_blob_await(f.bs, ids[4]));
	held = open_blob(&f, ids[3]);

	for (rc = iter_await(&f, NULL, &b); rc == 0; rc = iter_await(&f, b, &b)) {
		spio_blob_id id = spio_blob_get_id(b);
		int k = -1;

		for (int i = 0; i < 6; i++) {
			k = ids[i] == id ? i : k;
		}
		CHECK(k >= 0 && k != 1 && k != 4, "iteration gave blob 0x%lx", id);
		CHECK_NOT(seen[k], "blob 0x%lx visited twice", id);
		CHECK(n == 0 || id > last, "ids ascend: 0x%lx after 0x%lx", id, last);
		seen[k] = true;
		last = id;
		n++;
		CHECK(n <= 4, "more blobs than there are");
	}
	CHECK_EQ(rc, -ENOENT, "end of iteration: expected -ENOENT, got %d", rc);
	CHECK_EQ(n, 4, "4 blobs visited, got %d", n);
	/* our own reference outlived the iteration's */
	CHECK_EQ(spio_blob_get_id(held), ids[3]);
	OK(spio_blob_close_await(held));
	fx_fini(&f);
}

/*
 * Read-only and I/O
 */

BLOB_TEST(read_only_persists)
{
	struct fx f;
	spio_blob_id id, cid;
	struct spio_blob *b, *c;
	uint8_t buf[IOU];

	fx_init(&f);
	id = create(&f, 2, false);
	b = open_blob(&f, id);
	wr(&f, b, 0, 2 * UPC, 31);
	OK(spio_blob_set_read_only(b));
	OK(spio_blob_sync_md_await(b));
	CHECK(spio_blob_is_read_only(b));
	FAILS(spio_blob_io_write_await(b, f.ch, buf, 0, 1), -EPERM);
	FAILS(spio_blob_set_xattr(b, "k", "v", 1), -EPERM);
	FAILS(spio_blob_resize_await(b, 4), -EPERM);
	FAILS(spio_blob_set_read_only(b), -EPERM);
	OK(spio_blob_close_await(b));

	fx_reload(&f);
	b = open_blob(&f, id);
	CHECK(spio_blob_is_read_only(b), "read-only after reload");
	FAILS(spio_blob_io_write_await(b, f.ch, buf, 0, 1), -EPERM);
	FAILS(spio_blob_remove_xattr(b, "k"), -EPERM);
	expect(&f, b, 0, 2 * UPC, 31, "read-only blob's data");
	/* a read-only blob can be cloned */
	OK(spio_bs_create_clone_await(f.bs, id, NULL, &cid));
	c = open_blob(&f, cid);
	CHECK(spio_blob_is_clone(c));
	CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, cid), id);
	expect(&f, c, 0, 2 * UPC, 31, "clone of a read-only blob");
	OK(spio_blob_close_await(c));
	OK(spio_blob_close_await(b));
	fx_fini(&f);
}

BLOB_TEST(io_vectors_zeroes_and_errors)
{
	struct fx f;
	spio_blob_id id, tid;
	struct spio_blob *b, *t;
	uint8_t *a = malloc(3 * IOU), *c = malloc(3 * IOU), *z = calloc(1, 3 * IOU);
	struct iovec iov[3];

	CHECK(a != NULL && c != NULL && z != NULL);
	fx_init(&f);
	id = create(&f, 2, false);
	b = open_blob(&f, id);
	CHECK_EQ(spio_blob_get_num_io_units(b), 2 * UPC);

	/* writev of 3 units in 3 pieces across the cluster boundary, readv in 2 */
	pat_fill(a, (UPC - 1) * IOU, 3 * IOU, 41);
	iov[0] = (struct iovec){a, 100};
	iov[1] = (struct iovec){a + 100, 2 * IOU};
	iov[2] = (struct iovec){a + 100 + 2 * IOU, IOU - 100};
	OK(spio_blob_io_writev_await(b, f.ch, iov, 3, UPC - 1, 3));
	iov[0] = (struct iovec){c, IOU + 7};
	iov[1] = (struct iovec){c + IOU + 7, 2 * IOU - 7};
	OK(spio_blob_io_readv_await(b, f.ch, iov, 2, UPC - 1, 3));
	CHECK(memcmp(a, c, 3 * IOU) == 0, "readv returns what writev wrote");
	expect(&f, b, UPC - 1, 3, 41, "writev as seen by read");

	/* iovecs that do not add up to the length */
	iov[0] = (struct iovec){c, IOU};
	FAILS(spio_blob_io_readv_await(b, f.ch, iov, 1, 0, 2), -EINVAL);
	FAILS(spio_blob_io_writev_await(b, f.ch, iov, 1, 0, 2), -EINVAL);
	/* past the end */
	FAILS(spio_blob_io_read_await(b, f.ch, c, 2 * UPC, 1), -EINVAL);
	FAILS(spio_blob_io_write_await(b, f.ch, c, 2 * UPC - 1, 2), -EINVAL);
	FAILS(spio_blob_io_write_zeroes_await(b, f.ch, 2 * UPC - 1, 2), -EINVAL);
	FAILS(spio_blob_io_unmap_await(b, f.ch, 2 * UPC, 1), -EINVAL);

	/* write_zeroes reads back as zeroes; unmap keeps the clusters */
	OK(spio_blob_io_write_zeroes_await(b, f.ch, UPC, 2));
	expect(&f, b, UPC - 1, 1, 41, "before the zeroed range");
	expect(&f, b, UPC, 2, 0, "zeroed range");
	OK(spio_blob_io_unmap_await(b, f.ch, 0, UPC));
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 2, "unmap keeps the clusters");

	/* a thin blob reads zeroes where it holds no cluster; a write allocates one */
	tid = create(&f, 4, true);
	t = open_blob(&f, tid);
	expect(&f, t, 0, 4 * UPC, 0, "unwritten thin blob");
	wr(&f, t, 2 * UPC + 5, 1, 42);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(t), 1);
	CHECK_EQ(spio_blob_get_next_allocated_io_unit(t, 0), 2 * UPC);
	CHECK_EQ(spio_blob_get_next_unallocated_io_unit(t, 2 * UPC), 3 * UPC);
	CHECK_EQ(spio_blob_get_next_unallocated_io_unit(t, 0), 0);
	expect(&f, t, 2 * UPC + 5, 1, 42, "thin write");
	expect(&f, t, 0, 2 * UPC + 5, 0, "thin blob before the write");
	OK(spio_blob_close_await(t));
	OK(spio_blob_close_await(b));
	fx_fini(&f);
	free(a);
	free(c);
	free(z);
}

/*
 * Snapshots, clones, inflate, decouple
 */

BLOB_TEST(snapshot)
{
	struct fx f;
	struct xa_tab t = {.n = 1, .names = {"snap"}, .vals = {"yes"}, .lens = {3}};
	struct spio_blob_xattr_opts xo = xa_opts(&t);
	spio_blob_id id, sid, sid2, ro, clones[4];
	struct spio_blob *b, *s;
	size_t count;
	uint64_t free0;
	uint8_t buf[IOU];

	fx_init(&f);
	id = create(&f, 4, false);
	b = open_blob(&f, id);
	wr(&f, b, 0, 4 * UPC, 1);
	free0 = free_clusters(&f);

	OK(spio_bs_create_snapshot_await(f.bs, id, &xo, &sid));
	CHECK_EQ(free_clusters(&f), free0, "a snapshot moves clusters, takes none");
	CHECK(spio_blob_is_clone(b), "the origin became a clone");
	CHECK(spio_blob_is_thin_provisioned(b), "the origin became thin");
	CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, id), sid);
	CHECK_EQ(spio_blob_get_num_clusters(b), 4);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 0);
	CHECK_NOT(spio_blob_is_read_only(b));
	s = open_blob(&f, sid);
	CHECK(spio_blob_is_read_only(s));
	CHECK(spio_blob_is_snapshot(s));
	CHECK_NOT(spio_blob_is_clone(s));
	CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, sid), SPIO_BLOBID_INVALID);
	CHECK_EQ(spio_blob_get_num_clusters(s), 4);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(s), 4);
	expect_xattr(s, "snap", "yes", 3);
	count = 4;
	OK(spio_blob_get_clones(f.bs, sid, clones, &count));
	CHECK(count == 1 && clones[0] == id, "the snapshot's clone is the origin");
	count = 4;
	FAILS(spio_blob_get_clones(f.bs, id, clones, &count), -ENOENT);
	CHECK_EQ(count, 0);

	/* the origin is rewritten (across a cluster boundary), the snapshot keeps its data */
	wr(&f, b, UPC / 2, UPC, 2);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 2);
	CHECK_EQ(free_clusters(&f), free0 - 2);
	for (int round = 0; round < 2; round++) {
		expect(&f, s, 0, 4 * UPC, 1, "snapshot");
		expect(&f, b, 0, UPC / 2, 1, "origin before its write");
		expect(&f, b, UPC / 2, UPC, 2, "origin's write");
		expect(&f, b, UPC / 2 + UPC, 4 * UPC - UPC / 2 - UPC, 1, "origin after its write");
		if (round == 0) {
			OK(spio_blob_close_await(b));
			OK(spio_blob_close_await(s));
			fx_reload(&f);
			b = open_blob(&f, id);
			s = open_blob(&f, sid);
			CHECK(spio_blob_is_clone(b), "clone after reload");
			CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, id), sid);
			CHECK(spio_blob_is_snapshot(s), "snapshot after reload");
			CHECK(spio_blob_is_read_only(s), "snapshot read-only after reload");
			CHECK_EQ(free_clusters(&f), free0 - 2);
		}
	}

	/* a snapshot refuses data and metadata changes and cannot be snapshotted */
	FAILS(spio_blob_io_write_await(s, f.ch, buf, 0, 1), -EPERM);
	FAILS(spio_blob_resize_await(s, 8), -EPERM);
	FAILS(spio_blob_set_xattr(s, "k", "v", 1), -EPERM);
	FAILS(spio_bs_create_snapshot_await(f.bs, sid, NULL, &ro), -EINVAL);
	FAILS(spio_bs_create_snapshot_await(f.bs, sid + 1000, NULL, &ro), -ENOENT);

	/* a snapshot of the clone: chained */
	OK(spio_bs_create_snapshot_await(f.bs, id, NULL, &sid2));
	CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, id), sid2);
	CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, sid2), sid);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 0);
	expect(&f, b, UPC / 2, UPC, 2, "origin after the second snapshot");
	expect(&f, b, 0, UPC / 2, 1, "origin reads through two snapshots");
	OK(spio_blob_close_await(s));
	OK(spio_blob_close_await(b));
	fx_fini(&f);
}

BLOB_TEST(clone)
{
	struct fx f;
	spio_blob_id id, sid, c1, c2, x, ids[4];
	struct spio_blob *b, *c;
	size_t count;
	uint64_t free0;

	fx_init(&f);
	id = create(&f, 2, false);
	b = open_blob(&f, id);
	wr(&f, b, 0, 2 * UPC, 3);
	FAILS(spio_bs_create_clone_await(f.bs, id, NULL, &x), -EINVAL);
	FAILS(spio_bs_create_clone_await(f.bs, id + 1000, NULL, &x), -ENOENT);
	OK(spio_bs_create_snapshot_await(f.bs, id, NULL, &sid));
	free0 = free_clusters(&f);
	OK(spio_bs_create_clone_await(f.bs, sid, NULL, &c1));
	OK(spio_bs_create_clone_await(f.bs, sid, NULL, &c2));
	CHECK_EQ(free_clusters(&f), free0, "clones take no cluster");

	count = 1;
	FAILS(spio_blob_get_clones(f.bs, sid, ids, &count), -ENOMEM);
	CHECK_EQ(count, 3, "3 clones needed, got %zu", count);
	count = 4;
	OK(spio_blob_get_clones(f.bs, sid, ids, &count));
	CHECK_EQ(count, 3);
	for (size_t i = 0; i < 3; i++) {
		CHECK(ids[i] == id || ids[i] == c1 || ids[i] == c2, "clone 0x%lx", ids[i]);
	}

	c = open_blob(&f, c1);
	CHECK(spio_blob_is_clone(c));
	CHECK(spio_blob_is_thin_provisioned(c));
	CHECK_EQ(spio_blob_get_num_clusters(c), 2);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(c), 0);
	CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, c1), sid);
	expect(&f, c, 0, 2 * UPC, 3, "a new clone reads its snapshot");
	wr(&f, c, UPC + 1, 2, 4);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(c), 1);
	expect(&f, c, 0, UPC + 1, 3, "clone before its write");
	expect(&f, c, UPC + 1, 2, 4, "clone's write");
	expect(&f, c, UPC + 3, UPC - 3, 3, "clone after its write");
	expect(&f, b, 0, 2 * UPC, 3, "another clone of the snapshot is untouched");
	OK(spio_blob_close_await(c));
	OK(spio_blob_close_await(b));
	fx_fini(&f);
}

BLOB_TEST(inflate)
{
	struct fx f;
	spio_blob_id id, sid, tid;
	struct spio_blob *b, *t;
	spio_blob_id ids[2];
	size_t count = 2;
	uint64_t free0;

	fx_init(&f);
	id = create(&f, 4, false);
	b = open_blob(&f, id);
	wr(&f, b, 0, 4 * UPC, 4);
	OK(spio_bs_create_snapshot_await(f.bs, id, NULL, &sid));
	wr(&f, b, 0, 4, 5);
	free0 = free_clusters(&f);
	OK(spio_bs_inflate_blob_await(f.bs, f.ch, id));
	CHECK_NOT(spio_blob_is_clone(b), "an inflated blob has no parent");
	CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, id), SPIO_BLOBID_INVALID);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 4);
	CHECK_EQ(free_clusters(&f), free0 - 3, "inflate allocated 3 clusters: free %lu",
		 free_clusters(&f));
	FAILS(spio_blob_get_clones(f.bs, sid, ids, &count), -ENOENT);
	expect(&f, b, 0, 4, 5, "inflated: own data");
	expect(&f, b, 4, 4 * UPC - 4, 4, "inflated: the snapshot's data");
	OK(spio_blob_close_await(b));
	fx_reload(&f);
	b = open_blob(&f, id);
	CHECK_NOT(spio_blob_is_clone(b));
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 4);
	expect(&f, b, 0, 4, 5, "inflated after reload");
	expect(&f, b, 4, 4 * UPC - 4, 4, "inflated after reload");
	OK(spio_blob_close_await(b));

	/* a thin blob without parent: every cluster allocated, zeroes kept */
	tid = create(&f, 3, true);
	t = open_blob(&f, tid);
	wr(&f, t, UPC, 1, 6);
	OK(spio_bs_inflate_blob_await(f.bs, f.ch, tid));
	CHECK_EQ(spio_blob_get_num_allocated_clusters(t), 3);
	expect(&f, t, 0, UPC, 0, "inflated thin blob");
	expect(&f, t, UPC, 1, 6, "inflated thin blob");
	expect(&f, t, UPC + 1, 2 * UPC - 1, 0, "inflated thin blob");
	OK(spio_blob_close_await(t));
	FAILS(spio_bs_inflate_blob_await(f.bs, f.ch, tid + 1000), -ENOENT);
	fx_fini(&f);
}

BLOB_TEST(decouple_parent)
{
	struct fx f;
	spio_blob_id id, s1, s2;
	struct spio_blob *b;
	spio_blob_id ids[4];
	size_t count = 4;
	bool has_s2 = false, has_b = false;

	fx_init(&f);
	id = create(&f, 4, false);
	b = open_blob(&f, id);
	wr(&f, b, 0, 4 * UPC, 6);
	OK(spio_bs_create_snapshot_await(f.bs, id, NULL, &s1));
	wr(&f, b, UPC, 1, 7);
	OK(spio_bs_create_snapshot_await(f.bs, id, NULL, &s2));
	wr(&f, b, 3 * UPC, 1, 8);
	CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, s2), s1);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 1);

	FAILS(spio_bs_blob_decouple_parent_await(f.bs, f.ch, s1), -EINVAL);
	OK(spio_bs_blob_decouple_parent_await(f.bs, f.ch, id));
	CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, id), s1, "the parent's parent is the parent");
	CHECK(spio_blob_is_clone(b));
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 2,
		 "s2's own cluster copied: expected 2 allocated, got %lu",
		 spio_blob_get_num_allocated_clusters(b));
	OK(spio_blob_get_clones(f.bs, s1, ids, &count));
	for (size_t i = 0; i < count; i++) {
		has_s2 |= ids[i] == s2;
		has_b |= ids[i] == id;
	}
	CHECK(has_s2 && has_b, "s1's clones: s2 and the blob (%zu listed)", count);
	for (int round = 0; round < 2; round++) {
		expect(&f, b, 0, UPC, 6, "decoupled blob");
		expect(&f, b, UPC, 1, 7, "decoupled blob: s2's data, copied");
		expect(&f, b, UPC + 1, 2 * UPC - 1, 6, "decoupled blob");
		expect(&f, b, 3 * UPC, 1, 8, "decoupled blob: its own data");
		expect(&f, b, 3 * UPC + 1, UPC - 1, 6, "decoupled blob");
		OK(spio_blob_close_await(b));
		fx_reload(&f);
		b = open_blob(&f, id);
		CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, id), s1);
	}
	OK(spio_blob_close_await(b));
	fx_fini(&f);
}

BLOB_TEST(delete_snapshot_with_one_clone)
{
	struct fx f;
	spio_blob_id id, sid;
	struct spio_blob *b, *s = NULL;
	uint64_t free0;

	fx_init(&f);
	id = create(&f, 3, false);
	b = open_blob(&f, id);
	wr(&f, b, 0, 3 * UPC, 9);
	OK(spio_bs_create_snapshot_await(f.bs, id, NULL, &sid));
	wr(&f, b, 0, 1, 10);
	free0 = free_clusters(&f);
	/* the clone stays open: its content must not change under it */
	OK(spio_bs_delete_blob_await(f.bs, sid));
	FAILS(spio_bs_open_blob_await(f.bs, sid, &s), -ENOENT);
	CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, id), SPIO_BLOBID_INVALID);
	CHECK_NOT(spio_blob_is_clone(b), "no parent left");
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), 3, "the clone took the clusters");
	CHECK_EQ(free_clusters(&f), free0 + 1,
		 "the snapshot's copy of cluster 0 is freed: free %lu, expected %lu",
		 free_clusters(&f), free0 + 1);
	for (int round = 0; round < 2; round++) {
		expect(&f, b, 0, 1, 10, "former clone: own data");
		expect(&f, b, 1, 3 * UPC - 1, 9, "former clone: the snapshot's data");
		OK(spio_blob_close_await(b));
		fx_reload(&f);
		b = open_blob(&f, id);
		FAILS(spio_bs_open_blob_await(f.bs, sid, &s), -ENOENT);
		CHECK_EQ(free_clusters(&f), free0 + 1);
	}
	OK(spio_blob_close_await(b));
	fx_fini(&f);
}

BLOB_TEST(delete_snapshot_with_two_clones)
{
	struct fx f;
	spio_blob_id id, sid, cid;
	struct spio_blob *s;

	fx_init(&f);
	id = create(&f, 2, false);
	OK(spio_bs_create_snapshot_await(f.bs, id, NULL, &sid));
	OK(spio_bs_create_clone_await(f.bs, sid, NULL, &cid));
	FAILS(spio_bs_delete_blob_await(f.bs, sid), -EBUSY);
	s = open_blob(&f, sid);
	CHECK(spio_blob_is_snapshot(s), "still there after the refusal");
	OK(spio_blob_close_await(s));
	/* with one clone left it goes */
	OK(spio_bs_delete_blob_await(f.bs, cid));
	OK(spio_bs_delete_blob_await(f.bs, sid));
	CHECK_EQ(spio_blob_get_parent_snapshot(f.bs, id), SPIO_BLOBID_INVALID);
	fx_fini(&f);
}

/*
 * Refusals of the store
 */

BLOB_TEST(unload_busy)
{
	struct fx f;
	spio_blob_id id, id2;
	struct spio_blob *b;

	fx_init(&f);
	id = create(&f, 1, false);
	b = open_blob(&f, id);
	spio_bs_free_io_channel(f.ch);
	f.ch = NULL;
	FAILS(spio_bs_unload_await(f.bs), -EBUSY);
	/* nothing was done: the store still works */
	id2 = create(&f, 1, false);
	CHECK_NEQ(id2, id);
	OK(spio_blob_close_await(b));

	/* a channel still held */
	f.ch = spio_bs_alloc_io_channel(f.bs);
	CHECK_NOT_NULL(f.ch);
	FAILS(spio_bs_unload_await(f.bs), -EBUSY);
	fx_fini(&f);
}

struct outside {
	struct fx f;
	spio_blob_id id;
};

static struct outside g_outside;

static void outside_init(void *arg)
{
	fx_init(&g_outside.f);
}

static void outside_fini(void *arg)
{
	fx_fini(&g_outside.f);
}

Test(blob_ops, await_outside_a_task)
{
	spio_blob_id id = 7;
	struct spio_blob_store *bs = NULL;

	blob_task_run(g_thread, outside_init, NULL);
	CHECK_EQ(spio_bs_get_super_await(g_outside.f.bs, &id), -EPERM);
	CHECK_EQ(id, 7, "nothing written outside a task");
	CHECK_EQ(spio_bs_create_blob_await(g_outside.f.bs, NULL, &id), -EPERM);
	CHECK_EQ(spio_bs_init_await(NULL, NULL, &bs), -EPERM);
	CHECK_EQ(spio_bs_unload_await(g_outside.f.bs), -EPERM);
	blob_task_run(g_thread, outside_fini, NULL);
}
