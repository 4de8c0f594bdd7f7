/*
 * lib/lvol through its public API (spio/lvol.h) on memory devices: store
 * init and its option errors, the super blob's and lvols' xattrs byte for
 * byte (read back through the blob API), load after unload, unique store
 * names, lvol create (names, rounding, thick out of space, thin), open /
 * close references, destroy, I/O through a store channel, snapshot, clone,
 * rename (lvol and store), resize, read-only, inflate, decouple, refusals of
 * busy stores and lvols, stores that are not lvstores or are broken, and
 * SPDK's lvol-basic image (names, UUIDs and every byte of both lvols).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/env.h"
#include "spio/lvol.h"
#include "spio/thread.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)

/* The usual device: 64 MiB of 4 KiB blocks; stores on it get 1 MiB clusters. */
#define BLOCK 4096u
#define DEV_SIZE (64 * MIB)
#define CLUSTER (1 * MIB)

/* SPDK's lvol-basic image, raw size. */
#define LVOL_IMAGE_SIZE (128 * MIB)

static struct spio_thread *g_thread;

static void poll_thread(int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
}

/*
 * A memory device that outlives the blobstores using it: each store gets a
 * wrapper (memdev_borrow) whose destroy() frees only the wrapper, so a test
 * can unload and load the same bytes, or look at them.
 */
struct memdev {
	struct spio_bs_dev *mem;
	uint8_t *bytes;
	int live; /* wrappers not yet destroyed */
};

struct memdev_wrap {
	struct spio_bs_dev dev;
	struct memdev *md;
};

static struct spio_bs_dev *inner(struct spio_bs_dev *d)
{
	return ((struct memdev_wrap *)d)->md->mem;
}

static struct spio_io_channel *mw_create_channel(struct spio_bs_dev *d)
{
	return inner(d)->create_channel(inner(d));
}

static void mw_destroy_channel(struct spio_bs_dev *d, struct spio_io_channel *ch)
{
	inner(d)->destroy_channel(inner(d), ch);
}

static void mw_destroy(struct spio_bs_dev *d)
{
	((struct memdev_wrap *)d)->md->live--;
	free(d);
}

static void mw_read(struct spio_bs_dev *d, struct spio_io_channel *ch, void *buf, uint64_t lba,
		    uint32_t n, struct spio_bs_dev_cb_args *a)
{
	inner(d)->read(inner(d), ch, buf, lba, n, a);
}

static void mw_write(struct spio_bs_dev *d, struct spio_io_channel *ch, void *buf, uint64_t lba,
		     uint32_t n, struct spio_bs_dev_cb_args *a)
{
	inner(d)->write(inner(d), ch, buf, lba, n, a);
}

static void mw_readv(struct spio_bs_dev *d, struct spio_io_channel *ch, struct iovec *iov,
		     int iovcnt, uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *a)
{
	inner(d)->readv(inner(d), ch, iov, iovcnt, lba, n, a);
}

static void mw_writev(struct spio_bs_dev *d, struct spio_io_channel *ch, struct iovec *iov,
		      int iovcnt, uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *a)
{
	inner(d)->writev(inner(d), ch, iov, iovcnt, lba, n, a);
}

static void mw_flush(struct spio_bs_dev *d, struct spio_io_channel *ch,
		     struct spio_bs_dev_cb_args *a)
{
	inner(d)->flush(inner(d), ch, a);
}

static void mw_write_zeroes(struct spio_bs_dev *d, struct spio_io_channel *ch, uint64_t lba,
			    uint64_t n, struct spio_bs_dev_cb_args *a)
{
	inner(d)->write_zeroes(inner(d), ch, lba, n, a);
}

static void mw_unmap(struct spio_bs_dev *d, struct spio_io_channel *ch, uint64_t lba, uint64_t n,
		     struct spio_bs_dev_cb_args *a)
{
	inner(d)->unmap(inner(d), ch, lba, n, a);
}

static void memdev_init(struct memdev *md, uint64_t size)
{
	md->mem = spio_bs_dev_mem_create(size / BLOCK, BLOCK);
	cr_assert_not_null(md->mem, "memory device of %llu bytes", (unsigned long long)size);
	md->bytes = spio_bs_dev_mem_data(md->mem);
	md->live = 0;
}

static void memdev_fini(struct memdev *md)
{
	cr_assert_eq(md->live, 0, "%d device wrappers never destroyed", md->live);
	md->mem->destroy(md->mem);
}

static struct spio_bs_dev *memdev_borrow(struct memdev *md)
{
	struct memdev_wrap *w = calloc(1, sizeof(*w));

	cr_assert_not_null(w);
	w->md = md;
	w->dev = (struct spio_bs_dev){
	    .create_channel = mw_create_channel,
	    .destroy_channel = mw_destroy_channel,
	    .destroy = mw_destroy,
	    .read = mw_read,
	    .write = mw_write,
	    .readv = mw_readv,
	    .writev = mw_writev,
	    .flush = mw_flush,
	    .write_zeroes = mw_write_zeroes,
	    .unmap = mw_unmap,
	    .blockcnt = md->mem->blockcnt,
	    .blocklen = md->mem->blocklen,
	};
	md->live++;
	return &w->dev;
}

static struct memdev g_dev;

static void setup(void)
{
	struct spio_env_opts eo;

	/* the blobstore's metadata buffers are DMA memory */
	spio_env_opts_init(&eo, sizeof(eo));
	eo.no_huge = true;
	eo.name = "test_lvol";
	cr_assert_eq(spio_env_init(&eo), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_thread = spio_thread_create("lvol", NULL);
	cr_assert_not_null(g_thread);
	spio_set_thread(g_thread);
	memdev_init(&g_dev, DEV_SIZE);
}

static void teardown(void)
{
	memdev_fini(&g_dev);
	spio_thread_exit(g_thread);
	for (int i = 0; i < 1000 && !spio_thread_is_exited(g_thread); i++) {
		poll_thread(1);
	}
	cr_assert(spio_thread_is_exited(g_thread), "thread still holds channels or messages");
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(lvol, .init = setup, .fini = teardown);

/*
 * Waiting for callbacks
 */

struct res {
	bool done;
	int rc;
	struct spio_lvol_store *lvs;
	struct spio_lvol *lvol;
	struct spio_blob_store *bs;
	struct spio_blob *blob;
	spio_blob_id id;
};

static void wait_done(struct res *r, const char *what)
{
	long polls = 0;

	while (!r->done && polls++ < 10000000) {
		poll_thread(1);
	}
	cr_assert(r->done, "%s: no completion after %ld polls", what, polls);
}

static void lvs_cb(void *arg, struct spio_lvol_store *lvs, int rc)
{
	struct res *r = arg;

	cr_assert(!r->done, "lvstore callback called twice");
	r->lvs = lvs;
	r->rc = rc;
	r->done = true;
}

static void lvol_cb(void *arg, struct spio_lvol *lvol, int rc)
{
	struct res *r = arg;

	cr_assert(!r->done, "lvol callback called twice");
	r->lvol = lvol;
	r->rc = rc;
	r->done = true;
}

static void op_cb(void *arg, int rc)
{
	struct res *r = arg;

	cr_assert(!r->done, "callback called twice");
	r->rc = rc;
	r->done = true;
}

static void bs_cb(void *arg, struct spio_blob_store *bs, int rc)
{
	struct res *r = arg;

	r->bs = bs;
	r->rc = rc;
	r->done = true;
}

static void blob_cb(void *arg, struct spio_blob *blob, int rc)
{
	struct res *r = arg;

	r->blob = blob;
	r->rc = rc;
	r->done = true;
}

static void id_cb(void *arg, spio_blob_id id, int rc)
{
	struct res *r = arg;

	r->id = id;
	r->rc = rc;
	r->done = true;
}

/*
 * Store and lvol steps that must succeed
 */

static struct spio_lvol_store *lvs_create_opts(const char *name, uint32_t cluster_sz)
{
	struct spio_lvs_opts o;
	struct res r = {0};

	spio_lvs_opts_init(&o, sizeof(o));
	snprintf(o.name, sizeof(o.name), "%s", name);
	o.cluster_sz = cluster_sz;
	cr_assert_eq(spio_lvs_init(memdev_borrow(&g_dev), &o, lvs_cb, &r), 0, "lvs_init %s", name);
	wait_done(&r, "lvs_init");
	cr_assert_eq(r.rc, 0, "lvs_init %s: expected 0, got %d", name, r.rc);
	cr_assert_not_null(r.lvs);
	return r.lvs;
}

static struct spio_lvol_store *lvs_create(const char *name)
{
	return lvs_create_opts(name, CLUSTER);
}

static int lvs_load_rc(struct spio_lvol_store **lvs)
{
	struct res r = {0};

	spio_lvs_load(memdev_borrow(&g_dev), lvs_cb, &r);
	wait_done(&r, "lvs_load");
	if (lvs != NULL) {
		*lvs = r.lvs;
	}
	cr_assert((r.rc == 0) == (r.lvs != NULL), "load: rc %d with lvs %p", r.rc, (void *)r.lvs);
	return r.rc;
}

static struct spio_lvol_store *lvs_load(void)
{
	struct spio_lvol_store *lvs;
	int rc = lvs_load_rc(&lvs);

	cr_assert_eq(rc, 0, "lvs_load: expected 0, got %d", rc);
	return lvs;
}

static void lvs_unload(struct spio_lvol_store *lvs)
{
	struct res r = {0};

	cr_assert_eq(spio_lvs_unload(lvs, op_cb, &r), 0);
	wait_done(&r, "lvs_unload");
	cr_assert_eq(r.rc, 0, "lvs_unload: got %d", r.rc);
}

static int lvol_create_rc(struct spio_lvol_store *lvs, const char *name, uint64_t sz, bool thin,
			  struct spio_lvol **out)
{
	struct res r = {0};
	int rc = spio_lvol_create(lvs, name, sz, thin, SPIO_LVOL_CLEAR_WITH_DEFAULT, lvol_cb, &r);

	if (rc != 0) {
		cr_assert(!r.done, "create returned %d and also called back", rc);
		return rc;
	}
	wait_done(&r, "lvol_create");
	if (out != NULL) {
		*out = r.lvol;
	}
	return r.rc;
}

static struct spio_lvol *lvol_create(struct spio_lvol_store *lvs, const char *name, uint64_t sz,
				     bool thin)
{
	struct spio_lvol *lvol = NULL;
	int rc = lvol_create_rc(lvs, name, sz, thin, &lvol);

	cr_assert_eq(rc, 0, "lvol_create %s: expected 0, got %d", name, rc);
	cr_assert_not_null(lvol);
	return lvol;
}

static int lvol_op(void (*fn)(struct spio_lvol *, spio_lvol_op_complete, void *),
		   struct spio_lvol *lvol, const char *what)
{
	struct res r = {0};

	fn(lvol, op_cb, &r);
	wait_done(&r, what);
	return r.rc;
}

static void lvol_close(struct spio_lvol *lvol)
{
	int rc = lvol_op(spio_lvol_close, lvol, "lvol_close");

	cr_assert_eq(rc, 0, "lvol_close: got %d", rc);
}

static struct spio_lvol *lvol_open(struct spio_lvol *lvol)
{
	struct res r = {0};

	spio_lvol_open(lvol, lvol_cb, &r);
	wait_done(&r, "lvol_open");
	cr_assert_eq(r.rc, 0, "lvol_open: got %d", r.rc);
	return r.lvol;
}

static struct spio_lvol *find_lvol(struct spio_lvol_store *lvs, const char *name)
{
	for (struct spio_lvol *l = spio_lvs_first_lvol(lvs); l != NULL; l = spio_lvs_next_lvol(l)) {
		if (strcmp(spio_lvol_get_name(l), name) == 0) {
			return l;
		}
	}
	return NULL;
}

static int count_lvols(struct spio_lvol_store *lvs)
{
	int n = 0;

	for (struct spio_lvol *l = spio_lvs_first_lvol(lvs); l != NULL; l = spio_lvs_next_lvol(l)) {
		n++;
	}
	return n;
}

/* Close every open lvol, then unload. */
static void lvs_close_all_unload(struct spio_lvol_store *lvs)
{
	for (struct spio_lvol *l = spio_lvs_first_lvol(lvs); l != NULL; l = spio_lvs_next_lvol(l)) {
		while (spio_lvol_is_open(l)) {
			lvol_close(l);
		}
	}
	lvs_unload(lvs);
}

/*
 * The blobstore underneath, opened directly (the store unloaded)
 */

static struct spio_blob_store *bs_load_raw(void)
{
	struct res r = {0};

	spio_bs_load(memdev_borrow(&g_dev), NULL, bs_cb, &r);
	wait_done(&r, "bs_load");
	cr_assert_eq(r.rc, 0, "bs_load: got %d", r.rc);
	return r.bs;
}

static struct spio_blob *blob_open_raw(struct spio_blob_store *bs, spio_blob_id id)
{
	struct res r = {0};

	spio_bs_open_blob(bs, id, blob_cb, &r);
	wait_done(&r, "open_blob");
	cr_assert_eq(r.rc, 0, "open blob 0x%llx: got %d", (unsigned long long)id, r.rc);
	return r.blob;
}

static void blob_close_raw(struct spio_blob *blob)
{
	struct res r = {0};

	spio_blob_close(blob, op_cb, &r);
	wait_done(&r, "blob_close");
	cr_assert_eq(r.rc, 0);
}

static void bs_unload_raw(struct spio_blob_store *bs)
{
	struct res r = {0};

	spio_bs_unload(bs, op_cb, &r);
	wait_done(&r, "bs_unload");
	cr_assert_eq(r.rc, 0, "bs_unload: got %d", r.rc);
}

/* The xattr `name` of `blob` must be exactly `len` bytes equal to `want`. */
static void expect_xattr(struct spio_blob *blob, const char *name, const void *want, size_t len)
{
	const void *value;
	size_t value_len;

	cr_assert_eq(spio_blob_get_xattr_value(blob, name, &value, &value_len), 0,
		     "xattr %s missing", name);
	cr_assert_eq(value_len, len, "xattr %s: expected %zu bytes, got %zu", name, len, value_len);
	cr_assert(memcmp(value, want, len) == 0, "xattr %s: bytes differ", name);
}

/*
 * Options and init errors
 */

Test(lvol, opts_defaults)
{
	struct spio_lvs_opts o;

	memset(&o, 0xa5, sizeof(o));
	spio_lvs_opts_init(&o, sizeof(o));
	cr_assert_eq(o.cluster_sz, 4 * MIB, "default cluster size: got %u", o.cluster_sz);
	cr_assert_eq(o.clear_method, SPIO_LVS_CLEAR_WITH_UNMAP);
	cr_assert_eq(o.num_md_pages_per_cluster_ratio, 100u);
	cr_assert_eq(o.md_page_size, 0u);
	cr_assert_eq(o.name[0], '\0');
	cr_assert_eq(o.opts_size, sizeof(o));
}

Test(lvol, init_refuses_bad_arguments)
{
	struct spio_bs_dev *dev = memdev_borrow(&g_dev);
	struct spio_lvs_opts o;
	struct res r = {0};

	spio_lvs_opts_init(&o, sizeof(o));
	strcpy(o.name, "lvs");
	cr_assert_eq(spio_lvs_init(NULL, &o, lvs_cb, &r), -ENODEV);
	cr_assert_eq(spio_lvs_init(dev, NULL, lvs_cb, &r), -EINVAL);
	o.name[0] = '\0';
	cr_assert_eq(spio_lvs_init(dev, &o, lvs_cb, &r), -EINVAL, "empty name");
	memset(o.name, 'x', sizeof(o.name));
	cr_assert_eq(spio_lvs_init(dev, &o, lvs_cb, &r), -EINVAL, "64-character name");
	memset(o.name, 'x', sizeof(o.name) - 1);
	o.name[sizeof(o.name) - 1] = '\0';
	o.cluster_sz = BLOCK + 512;
	cr_assert_eq(spio_lvs_init(dev, &o, lvs_cb, &r), -EINVAL, "cluster not whole blocks");
	o.cluster_sz = 512;
	cr_assert_eq(spio_lvs_init(dev, &o, lvs_cb, &r), -EINVAL, "cluster below a block");
	o.opts_size = 0;
	o.cluster_sz = CLUSTER;
	cr_assert_eq(spio_lvs_init(dev, &o, lvs_cb, &r), -EINVAL, "opts_size 0");
	poll_thread(10);
	cr_assert(!r.done, "a refused init must not call back");
	/* not consumed by a refused init */
	dev->destroy(dev);
	cr_assert_eq(g_dev.live, 0);
}

Test(lvol, init_63_character_name_and_default_cluster)
{
	char name[SPIO_LVS_NAME_MAX];
	struct spio_lvol_store *lvs;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	lvs = lvs_create_opts(name, SPIO_LVS_DEFAULT_CLUSTER_SZ);
	cr_assert_str_eq(spio_lvs_get_name(lvs), name);
	cr_assert_eq(spio_bs_get_cluster_size(spio_lvs_get_bs(lvs)), 4 * MIB);
	cr_assert_null(spio_lvs_first_lvol(lvs));
	lvs_unload(lvs);
	lvs = lvs_load();
	cr_assert_str_eq(spio_lvs_get_name(lvs), name);
	lvs_unload(lvs);
}

/*
 * On-disk format: SPDK's xattrs and type
 */

Test(lvol, super_blob_and_lvol_xattrs_byte_for_byte)
{
	struct spio_lvol_store *lvs = lvs_create("lvs0");
	struct spio_lvol *thick = lvol_create(lvs, "thick0", 3 * MIB, false);
	char lvs_uuid[SPIO_UUID_STRING_LEN], name64[SPIO_LVOL_NAME_MAX] = "thick0";
	char lvol_uuid[SPIO_UUID_STRING_LEN];
	spio_blob_id thick_id = spio_lvol_get_blob_id(thick);
	struct spio_blob_store *bs;
	struct spio_bs_type type;
	struct spio_blob *blob;
	struct res r = {0};

	spio_uuid_fmt_lower(lvs_uuid, sizeof(lvs_uuid), spio_lvs_get_uuid(lvs));
	memcpy(lvol_uuid, spio_lvol_get_uuid_str(thick), sizeof(lvol_uuid));
	cr_assert_str_eq(spio_lvol_get_unique_id(thick), lvol_uuid, "unique id is the uuid");
	lvs_close_all_unload(lvs);

	bs = bs_load_raw();
	type = spio_bs_get_bstype(bs);
	cr_assert(memcmp(type.bstype, "LVOLSTORE\0\0\0\0\0\0\0", 16) == 0, "bstype %.16s",
		  type.bstype);
	spio_bs_get_super(bs, id_cb, &r);
	wait_done(&r, "get_super");
	cr_assert_eq(r.rc, 0, "no super blob");
	blob = blob_open_raw(bs, r.id);
	/* super blob: "uuid" 36 characters and a NUL, "name" with its NUL */
	expect_xattr(blob, "uuid", lvs_uuid, SPIO_UUID_STRING_LEN);
	expect_xattr(blob, "name", "lvs0", 5);
	cr_assert_eq(spio_blob_get_num_clusters(blob), 0u);
	blob_close_raw(blob);

	blob = blob_open_raw(bs, thick_id);
	/* lvol: "name" 64 bytes NUL-padded, "uuid" 37 bytes */
	expect_xattr(blob, "name", name64, SPIO_LVOL_NAME_MAX);
	expect_xattr(blob, "uuid", lvol_uuid, SPIO_UUID_STRING_LEN);
	cr_assert_eq(spio_blob_get_num_clusters(blob), 3u, "3 MiB = 3 clusters");
	cr_assert_not(spio_blob_is_thin_provisioned(blob));
	cr_assert_eq(spio_blob_get_num_allocated_clusters(blob), 3u);
	blob_close_raw(blob);
	bs_unload_raw(bs);
}

Test(lvol, load_lists_every_lvol_with_names_and_uuids)
{
	struct spio_lvol_store *lvs = lvs_create("store");
	struct spio_uuid lvs_uuid = *spio_lvs_get_uuid(lvs);
	struct spio_lvol *a = lvol_create(lvs, "a", 1, false);
	struct spio_lvol *b = lvol_create(lvs, "b", 5 * MIB, true);
	char ua[SPIO_UUID_STRING_LEN], ub[SPIO_UUID_STRING_LEN];
	spio_blob_id ida = spio_lvol_get_blob_id(a), idb = spio_lvol_get_blob_id(b);

	memcpy(ua, spio_lvol_get_uuid_str(a), sizeof(ua));
	memcpy(ub, spio_lvol_get_uuid_str(b), sizeof(ub));
	cr_assert_str_neq(ua, ub, "each lvol gets its own uuid");
	lvs_close_all_unload(lvs);

	lvs = lvs_load();
	cr_assert_str_eq(spio_lvs_get_name(lvs), "store");
	cr_assert_eq(spio_uuid_compare(spio_lvs_get_uuid(lvs), &lvs_uuid), 0, "store uuid kept");
	cr_assert_eq(count_lvols(lvs), 2, "2 lvols (the super blob is not one), got %d",
		     count_lvols(lvs));
	a = find_lvol(lvs, "a");
	b = find_lvol(lvs, "b");
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_str_eq(spio_lvol_get_uuid_str(a), ua);
	cr_assert_str_eq(spio_lvol_get_unique_id(b), ub);
	cr_assert_eq(spio_lvol_get_blob_id(a), ida);
	cr_assert_eq(spio_lvol_get_blob_id(b), idb);
	cr_assert_not(spio_lvol_is_open(a), "lvols are listed closed after load");
	cr_assert_null(spio_lvol_get_blob(a));
	cr_assert_eq(spio_lvol_get_by_names("store", "b"), b);
	cr_assert_eq(spio_lvol_get_by_uuid(spio_lvol_get_uuid(a)), a);
	cr_assert_eq(spio_lvs_get_by_name("store"), lvs);
	cr_assert_eq(spio_lvs_get_by_uuid(&lvs_uuid), lvs);
	cr_assert_eq(spio_lvs_get_lvol_by_blob_id(lvs, idb), b);

	lvol_open(b);
	cr_assert(spio_blob_is_thin_provisioned(spio_lvol_get_blob(b)));
	cr_assert_eq(spio_blob_get_num_clusters(spio_lvol_get_blob(b)), 5u);
	lvol_open(a);
	cr_assert_eq(spio_blob_get_num_clusters(spio_lvol_get_blob(a)), 1u,
		     "1 byte rounds up to 1 cluster");
	lvs_close_all_unload(lvs);
	cr_assert_null(spio_lvs_get_by_name("store"), "unloaded store still listed");
}

Test(lvol, store_names_are_unique_in_the_process)
{
	struct spio_lvol_store *lvs = lvs_create("same");
	struct spio_lvol_store *other;
	struct spio_lvs_opts o;
	struct spio_bs_dev *dev;
	struct memdev second;
	struct res r = {0};

	/* a second store of that name, on another device */
	memdev_init(&second, DEV_SIZE);
	spio_lvs_opts_init(&o, sizeof(o));
	strcpy(o.name, "same");
	dev = memdev_borrow(&second);
	cr_assert_eq(spio_lvs_init(dev, &o, lvs_cb, &r), -EEXIST);
	dev->destroy(dev);

	/* a copy of the store's device cannot load beside it */
	lvs_unload(lvs);
	memcpy(second.bytes, g_dev.bytes, DEV_SIZE);
	lvs = lvs_load();
	r = (struct res){0};
	spio_lvs_load(memdev_borrow(&second), lvs_cb, &r);
	wait_done(&r, "load copy");
	cr_assert_eq(r.rc, -EEXIST, "same name loaded twice: expected -EEXIST, got %d", r.rc);
	cr_assert_eq(second.live, 0, "a failed load must release its device");

	/* renamed, the copy loads */
	r = (struct res){0};
	spio_lvs_rename(lvs, "renamed", op_cb, &r);
	wait_done(&r, "rename");
	cr_assert_eq(r.rc, 0);
	r = (struct res){0};
	spio_lvs_load(memdev_borrow(&second), lvs_cb, &r);
	wait_done(&r, "load copy after rename");
	cr_assert_eq(r.rc, 0, "got %d", r.rc);
	other = r.lvs;
	cr_assert_str_eq(spio_lvs_get_name(other), "same");
	cr_assert_eq(spio_uuid_compare(spio_lvs_get_uuid(other), spio_lvs_get_uuid(lvs)), 0,
		     "a copy has the same uuid");
	/* renaming onto a loaded name */
	r = (struct res){0};
	spio_lvs_rename(lvs, "same", op_cb, &r);
	cr_assert(r.done, "a taken name is refused at once");
	cr_assert_eq(r.rc, -EEXIST);
	lvs_unload(other);
	lvs_unload(lvs);
	memdev_fini(&second);

	/* the rename reached the device */
	lvs = lvs_load();
	cr_assert_str_eq(spio_lvs_get_name(lvs), "renamed");
	lvs_unload(lvs);
}

Test(lvol, rename_store_writes_name_and_nul)
{
	struct spio_lvol_store *lvs = lvs_create("old");
	struct spio_blob_store *bs;
	struct spio_blob *blob;
	struct res r = {0};

	spio_lvs_rename(lvs, "old", op_cb, &r);
	cr_assert(r.done && r.rc == 0, "same name: 0 at once");
	r = (struct res){0};
	spio_lvs_rename(lvs, "", op_cb, &r);
	cr_assert(r.done && r.rc == -EINVAL, "empty name: got %d", r.rc);
	r = (struct res){0};
	spio_lvs_rename(lvs, "a-new-name", op_cb, &r);
	wait_done(&r, "rename");
	cr_assert_eq(r.rc, 0);
	cr_assert_str_eq(spio_lvs_get_name(lvs), "a-new-name");
	lvs_unload(lvs);

	bs = bs_load_raw();
	r = (struct res){0};
	spio_bs_get_super(bs, id_cb, &r);
	wait_done(&r, "get_super");
	blob = blob_open_raw(bs, r.id);
	expect_xattr(blob, "name", "a-new-name", 11);
	blob_close_raw(blob);
	bs_unload_raw(bs);
}

/*
 * Lvols
 */

Test(lvol, create_refusals)
{
	struct spio_lvol_store *lvs = lvs_create("lvs");
	char long_name[SPIO_LVOL_NAME_MAX + 1];
	struct spio_lvol *lvol = NULL;
	int rc;

	lvol_create(lvs, "x", MIB, false);
	cr_assert_eq(lvol_create_rc(lvs, "x", MIB, true, NULL), -EEXIST);
	cr_assert_eq(lvol_create_rc(lvs, "", MIB, true, NULL), -EINVAL);
	cr_assert_eq(lvol_create_rc(lvs, NULL, MIB, true, NULL), -EINVAL);
	memset(long_name, 'l', SPIO_LVOL_NAME_MAX);
	long_name[SPIO_LVOL_NAME_MAX] = '\0';
	cr_assert_eq(lvol_create_rc(lvs, long_name, MIB, true, NULL), -EINVAL);
	long_name[SPIO_LVOL_NAME_MAX - 1] = '\0';
	lvol_create(lvs, long_name, MIB, true);
	cr_assert_eq(lvol_create_rc(NULL, "y", MIB, true, NULL), -EINVAL);
	/* thick beyond the free clusters: the blobstore's -ENOSPC, and no lvol left */
	rc = lvol_create_rc(lvs, "big", DEV_SIZE, false, &lvol);
	cr_assert_eq(rc, -ENOSPC, "thick 64 MiB on a 64 MiB device: expected -ENOSPC, got %d", rc);
	cr_assert_null(lvol);
	cr_assert_null(find_lvol(lvs, "big"));
	/* the name is free again */
	lvol = lvol_create(lvs, "big", 2 * MIB, false);
	/* thin: any size */
	lvol_create(lvs, "huge", 1024 * 1024 * MIB, true);
	cr_assert_eq(count_lvols(lvs), 4);
	lvs_close_all_unload(lvs);
}

Test(lvol, open_close_references_and_destroy)
{
	struct spio_lvol_store *lvs = lvs_create("lvs");
	struct spio_lvol *lvol = lvol_create(lvs, "v", 4 * MIB, false);
	uint64_t free_before;
	struct res r = {0};
	int rc;

	cr_assert(spio_lvol_is_open(lvol), "a new lvol is open");
	lvol_open(lvol);
	lvol_close(lvol);
	cr_assert(spio_lvol_is_open(lvol), "one reference left");
	spio_lvol_destroy(lvol, op_cb, &r);
	cr_assert(r.done && r.rc == -EBUSY, "destroy of an open lvol: got %d", r.rc);
	r = (struct res){0};
	cr_assert_eq(spio_lvs_unload(lvs, op_cb, &r), -EBUSY);
	cr_assert(r.done && r.rc == -EBUSY, "unload with an open lvol");
	lvol_close(lvol);
	cr_assert_not(spio_lvol_is_open(lvol));
	rc = lvol_op(spio_lvol_close, lvol, "close closed");
	cr_assert_eq(rc, -EINVAL, "closing a closed lvol: got %d", rc);

	free_before = spio_bs_free_cluster_count(spio_lvs_get_bs(lvs));
	rc = lvol_op(spio_lvol_destroy, lvol, "destroy");
	cr_assert_eq(rc, 0, "destroy: got %d", rc);
	cr_assert_null(spio_lvs_first_lvol(lvs));
	cr_assert_eq(spio_bs_free_cluster_count(spio_lvs_get_bs(lvs)), free_before + 4,
		     "4 clusters back");
	lvs_unload(lvs);
	lvs = lvs_load();
	cr_assert_null(spio_lvs_first_lvol(lvs), "the destroyed lvol came back");
	lvs_unload(lvs);
}

/* Write `len` bytes of `fill` at byte `off` of the lvol, or (!write) read them and expect each
 * to be `fill`. */
static void lvol_fill_io(struct spio_lvol *lvol, uint64_t off, size_t len, int fill, bool write)
{
	struct spio_io_channel *ch = spio_lvol_get_io_channel(lvol);
	struct spio_blob *blob = spio_lvol_get_blob(lvol);
	uint64_t iou = spio_bs_get_io_unit_size(spio_lvs_get_bs(spio_lvol_get_lvs(lvol)));
	uint8_t *buf = aligned_alloc(4096, len);
	const char *what = write ? "write" : "read";
	struct res r = {0};

	cr_assert_not_null(ch);
	memset(buf, write ? fill : ~fill, len);
	if (write) {
		spio_blob_io_write(blob, ch, buf, off / iou, len / iou, op_cb, &r);
	} else {
		spio_blob_io_read(blob, ch, buf, off / iou, len / iou, op_cb, &r);
	}
	wait_done(&r, what);
	cr_assert_eq(r.rc, 0, "%s: got %d", what, r.rc);
	for (size_t i = 0; !write && i < len; i++) {
		cr_assert_eq(buf[i], (uint8_t)fill, "%s: byte %llu: expected 0x%02x, got 0x%02x",
			     spio_lvol_get_name(lvol), (unsigned long long)(off + i), (uint8_t)fill,
			     buf[i]);
	}
	free(buf);
	spio_bs_free_io_channel(ch);
}

static void lvol_write_fill(struct spio_lvol *lvol, uint64_t off, size_t len, int fill)
{
	lvol_fill_io(lvol, off, len, fill, true);
}

/* The lvol's bytes [off, off + len) must all be `fill`. */
static void lvol_expect_fill(struct spio_lvol *lvol, uint64_t off, size_t len, int fill)
{
	lvol_fill_io(lvol, off, len, fill, false);
}

Test(lvol, data_survives_unload_and_load)
{
	struct spio_lvol_store *lvs = lvs_create("lvs");
	struct spio_lvol *thick = lvol_create(lvs, "thick", 2 * MIB, false);
	struct spio_lvol *thin = lvol_create(lvs, "thin", 4 * MIB, true);

	lvol_write_fill(thick, 0, 64 * KIB, 0x11);
	lvol_write_fill(thick, 2 * MIB - 8 * KIB, 8 * KIB, 0x22);
	lvol_write_fill(thin, 3 * MIB, 4 * KIB, 0x33);
	cr_assert_eq(spio_blob_get_num_allocated_clusters(spio_lvol_get_blob(thin)), 1u,
		     "a thin lvol allocates on write");
	lvs_close_all_unload(lvs);

	lvs = lvs_load();
	thick = lvol_open(find_lvol(lvs, "thick"));
	thin = lvol_open(find_lvol(lvs, "thin"));
	lvol_expect_fill(thick, 0, 64 * KIB, 0x11);
	lvol_expect_fill(thick, 2 * MIB - 8 * KIB, 8 * KIB, 0x22);
	lvol_expect_fill(thin, 3 * MIB, 4 * KIB, 0x33);
	lvol_expect_fill(thin, 0, 64 * KIB, 0);
	lvs_close_all_unload(lvs);
}

static struct spio_lvol *derive(void (*fn)(struct spio_lvol *, const char *,
					   spio_lvol_op_with_handle_complete, void *),
				struct spio_lvol *origin, const char *name, int *rc)
{
	struct res r = {0};

	fn(origin, name, lvol_cb, &r);
	wait_done(&r, name);
	*rc = r.rc;
	return r.lvol;
}

Test(lvol, snapshot_clone_and_their_rules)
{
	struct spio_lvol_store *lvs = lvs_create("lvs");
	struct spio_lvol *vol = lvol_create(lvs, "vol", 2 * MIB, false);
	struct spio_lvol *snap, *clone, *clone2;
	struct spio_blob *sblob;
	struct res r = {0};
	size_t count = 8;
	spio_blob_id ids[8];
	int rc;

	lvol_write_fill(vol, 0, 8 * KIB, 0x44);
	snap = derive(spio_lvol_create_snapshot, vol, "snap", &rc);
	cr_assert_eq(rc, 0, "snapshot: got %d", rc);
	sblob = spio_lvol_get_blob(snap);
	cr_assert(spio_blob_is_snapshot(sblob));
	cr_assert(spio_blob_is_read_only(sblob));
	cr_assert(spio_blob_is_clone(spio_lvol_get_blob(vol)), "the origin became a clone");
	cr_assert_eq(
	    spio_blob_get_parent_snapshot(spio_lvs_get_bs(lvs), spio_lvol_get_blob_id(vol)),
	    spio_lvol_get_blob_id(snap));
	cr_assert_not(spio_lvol_deletable(snap), "a snapshot with a clone");
	cr_assert(spio_lvol_deletable(vol));
	/* the snapshot keeps the old data, the origin takes new writes */
	lvol_write_fill(vol, 0, 4 * KIB, 0x55);
	lvol_expect_fill(snap, 0, 8 * KIB, 0x44);
	lvol_expect_fill(vol, 4 * KIB, 4 * KIB, 0x44);

	/* names */
	derive(spio_lvol_create_snapshot, vol, "vol", &rc);
	cr_assert_eq(rc, -EEXIST, "snapshot onto a taken name: got %d", rc);
	derive(spio_lvol_create_clone, snap, "", &rc);
	cr_assert_eq(rc, -EINVAL);
	/* a clone needs a read-only origin */
	derive(spio_lvol_create_clone, vol, "c", &rc);
	cr_assert_eq(rc, -EINVAL, "clone of a writable lvol: got %d", rc);
	cr_assert_null(find_lvol(lvs, "c"));

	clone = derive(spio_lvol_create_clone, snap, "clone", &rc);
	cr_assert_eq(rc, 0, "clone: got %d", rc);
	cr_assert(spio_blob_is_clone(spio_lvol_get_blob(clone)));
	cr_assert(spio_blob_is_thin_provisioned(spio_lvol_get_blob(clone)));
	lvol_expect_fill(clone, 0, 8 * KIB, 0x44);
	cr_assert_eq(
	    spio_blob_get_clones(spio_lvs_get_bs(lvs), spio_lvol_get_blob_id(snap), ids, &count),
	    0);
	cr_assert_eq(count, 2u, "snapshot clones: vol and clone, got %zu", count);

	/* a snapshot with two clones cannot go */
	lvol_close(snap);
	r = (struct res){0};
	spio_lvol_destroy(snap, op_cb, &r);
	cr_assert(r.done && r.rc == -EBUSY, "destroy of a snapshot with 2 clones: got %d", r.rc);

	/* after one clone goes, it merges into the other */
	lvol_close(clone);
	rc = lvol_op(spio_lvol_destroy, clone, "destroy clone");
	cr_assert_eq(rc, 0);
	rc = lvol_op(spio_lvol_destroy, snap, "destroy snapshot");
	cr_assert_eq(rc, 0, "snapshot with one clone: got %d", rc);
	cr_assert_not(spio_blob_is_clone(spio_lvol_get_blob(vol)), "merged: no parent left");
	lvol_expect_fill(vol, 0, 4 * KIB, 0x55);
	lvol_expect_fill(vol, 4 * KIB, 4 * KIB, 0x44);

	clone2 = derive(spio_lvol_create_snapshot, vol, "snap2", &rc);
	cr_assert_eq(rc, 0);
	lvs_close_all_unload(lvs);

	/* the family is on the device */
	lvs = lvs_load();
	cr_assert_eq(count_lvols(lvs), 2);
	vol = lvol_open(find_lvol(lvs, "vol"));
	snap = lvol_open(find_lvol(lvs, "snap2"));
	cr_assert(spio_blob_is_clone(spio_lvol_get_blob(vol)));
	cr_assert(spio_blob_is_snapshot(spio_lvol_get_blob(snap)));
	(void)clone2;
	lvs_close_all_unload(lvs);
}

Test(lvol, rename_writes_unpadded_name)
{
	struct spio_lvol_store *lvs = lvs_create("lvs");
	struct spio_lvol *a = lvol_create(lvs, "a", MIB, true);
	struct spio_lvol *b = lvol_create(lvs, "b", MIB, true);
	spio_blob_id ida = spio_lvol_get_blob_id(a);
	struct spio_blob_store *bs;
	struct spio_blob *blob;
	struct res r = {0};

	spio_lvol_rename(a, "b", op_cb, &r);
	cr_assert(r.done && r.rc == -EEXIST, "rename onto a sibling: got %d", r.rc);
	r = (struct res){0};
	spio_lvol_rename(a, "a", op_cb, &r);
	cr_assert(r.done && r.rc == 0, "same name");
	r = (struct res){0};
	spio_lvol_rename(a, "alpha", op_cb, &r);
	wait_done(&r, "rename");
	cr_assert_eq(r.rc, 0);
	cr_assert_str_eq(spio_lvol_get_name(a), "alpha");
	cr_assert_eq(spio_lvol_get_by_names("lvs", "alpha"), a);
	cr_assert_null(spio_lvol_get_by_names("lvs", "a"));
	(void)b;
	lvs_close_all_unload(lvs);

	bs = bs_load_raw();
	blob = blob_open_raw(bs, ida);
	/* SPDK's rename: the name and a NUL, no padding */
	expect_xattr(blob, "name", "alpha", 6);
	blob_close_raw(blob);
	bs_unload_raw(bs);
	lvs = lvs_load();
	cr_assert_not_null(find_lvol(lvs, "alpha"));
	lvs_unload(lvs);
}

Test(lvol, resize_read_only_inflate_decouple)
{
	struct spio_lvol_store *lvs = lvs_create("lvs");
	struct spio_lvol *vol = lvol_create(lvs, "vol", 2 * MIB, false);
	struct spio_lvol *snap, *clone, *snap2;
	struct spio_bs_dev *bs_dev = spio_lvs_get_bs_dev(lvs);
	uint64_t total = bs_dev->blockcnt * bs_dev->blocklen / CLUSTER;
	struct res r = {0};
	int rc;

	spio_lvol_resize(vol, 5 * MIB + 1, op_cb, &r);
	wait_done(&r, "resize");
	cr_assert_eq(r.rc, 0);
	cr_assert_eq(spio_blob_get_num_clusters(spio_lvol_get_blob(vol)), 6u, "rounded up");
	r = (struct res){0};
	spio_lvol_resize(vol, total * CLUSTER, op_cb, &r);
	wait_done(&r, "resize too large");
	cr_assert_eq(r.rc, -ENOSPC, "thick beyond the device: got %d", r.rc);
	r = (struct res){0};
	spio_lvol_resize(vol, MIB, op_cb, &r);
	wait_done(&r, "shrink");
	cr_assert_eq(r.rc, 0);
	cr_assert_eq(spio_blob_get_num_clusters(spio_lvol_get_blob(vol)), 1u);

	lvol_write_fill(vol, 0, 4 * KIB, 0x66);
	snap = derive(spio_lvol_create_snapshot, vol, "snap", &rc);
	cr_assert_eq(rc, 0);
	lvol_write_fill(vol, 4 * KIB, 4 * KIB, 0x77);
	snap2 = derive(spio_lvol_create_snapshot, vol, "snap2", &rc);
	cr_assert_eq(rc, 0);
	/* vol -> snap2 -> snap: decouple makes vol a clone of snap */
	rc = lvol_op(spio_lvol_decouple_parent, vol, "decouple");
	cr_assert_eq(rc, 0, "decouple: got %d", rc);
	cr_assert_eq(
	    spio_blob_get_parent_snapshot(spio_lvs_get_bs(lvs), spio_lvol_get_blob_id(vol)),
	    spio_lvol_get_blob_id(snap), "decoupled onto the grandparent");
	lvol_expect_fill(vol, 0, 4 * KIB, 0x66);
	lvol_expect_fill(vol, 4 * KIB, 4 * KIB, 0x77);

	clone = derive(spio_lvol_create_clone, snap, "clone", &rc);
	cr_assert_eq(rc, 0);
	rc = lvol_op(spio_lvol_inflate, clone, "inflate");
	cr_assert_eq(rc, 0, "inflate: got %d", rc);
	cr_assert_not(spio_blob_is_clone(spio_lvol_get_blob(clone)));
	cr_assert_not(spio_blob_is_thin_provisioned(spio_lvol_get_blob(clone)));
	cr_assert_eq(spio_blob_get_num_allocated_clusters(spio_lvol_get_blob(clone)), 1u);
	lvol_expect_fill(clone, 0, 4 * KIB, 0x66);

	/* read-only: set, kept across load, idempotent; a snapshot already is */
	rc = lvol_op(spio_lvol_set_read_only, clone, "set_read_only");
	cr_assert_eq(rc, 0);
	cr_assert(spio_blob_is_read_only(spio_lvol_get_blob(clone)));
	rc = lvol_op(spio_lvol_set_read_only, clone, "set_read_only again");
	cr_assert_eq(rc, 0, "again: got %d", rc);
	rc = lvol_op(spio_lvol_set_read_only, snap2, "set_read_only snapshot");
	cr_assert_eq(rc, 0, "snapshot: got %d", rc);
	r = (struct res){0};
	spio_lvol_resize(clone, 2 * MIB, op_cb, &r);
	wait_done(&r, "resize read-only");
	cr_assert_eq(r.rc, -EPERM, "resize of a read-only lvol: got %d", r.rc);
	lvs_close_all_unload(lvs);

	lvs = lvs_load();
	clone = lvol_open(find_lvol(lvs, "clone"));
	cr_assert(spio_blob_is_read_only(spio_lvol_get_blob(clone)));
	lvs_close_all_unload(lvs);
}

Test(lvol, closed_lvol_operations_refused)
{
	struct spio_lvol_store *lvs = lvs_create("lvs");
	struct spio_lvol *vol = lvol_create(lvs, "vol", MIB, true);
	struct res r = {0};
	int rc;

	lvol_close(vol);
	spio_lvol_resize(vol, 2 * MIB, op_cb, &r);
	cr_assert(r.done && r.rc == -EINVAL, "resize of a closed lvol: got %d", r.rc);
	r = (struct res){0};
	spio_lvol_rename(vol, "x", op_cb, &r);
	cr_assert(r.done && r.rc == -EINVAL);
	r = (struct res){0};
	spio_lvol_create_snapshot(vol, "s", lvol_cb, &r);
	cr_assert(r.done && r.rc == -EINVAL, "snapshot of a closed lvol: got %d", r.rc);
	rc = lvol_op(spio_lvol_inflate, NULL, "inflate NULL");
	cr_assert_eq(rc, -ENODEV);
	r = (struct res){0};
	spio_lvol_open(NULL, lvol_cb, &r);
	cr_assert(r.done && r.rc == -ENODEV);
	cr_assert_eq(spio_lvs_unload(NULL, op_cb, &r), -ENODEV);
	lvs_unload(lvs);
}

Test(lvol, destroy_store_removes_it)
{
	struct spio_lvol_store *lvs = lvs_create("doomed");
	struct spio_lvol *vol = lvol_create(lvs, "vol", MIB, false);
	struct res r = {0};

	cr_assert_eq(spio_lvs_destroy(lvs, op_cb, &r), -EBUSY, "destroy with an open lvol");
	cr_assert(r.done && r.rc == -EBUSY);
	lvol_close(vol);
	r = (struct res){0};
	cr_assert_eq(spio_lvs_destroy(lvs, op_cb, &r), 0);
	wait_done(&r, "destroy");
	cr_assert_eq(r.rc, 0, "destroy: got %d", r.rc);
	cr_assert_null(spio_lvs_get_by_name("doomed"));
	cr_assert_eq(g_dev.live, 0, "the device was released");
	cr_assert_neq(lvs_load_rc(NULL), 0, "a destroyed store loaded");
	cr_assert_eq(g_dev.live, 0);
}

/*
 * Devices that are not (good) lvstores
 */

static struct spio_blob_store *bs_init_raw(const char *bstype)
{
	struct spio_bs_opts o;
	struct res r = {0};

	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER;
	memset(&o.bstype, 0, sizeof(o.bstype));
	memcpy(o.bstype.bstype, bstype, strlen(bstype));
	spio_bs_init(memdev_borrow(&g_dev), &o, bs_cb, &r);
	wait_done(&r, "bs_init");
	cr_assert_eq(r.rc, 0, "bs_init: got %d", r.rc);
	return r.bs;
}

static spio_blob_id blob_create_raw(struct spio_blob_store *bs)
{
	struct res r = {0};

	spio_bs_create_blob(bs, id_cb, &r);
	wait_done(&r, "create_blob");
	cr_assert_eq(r.rc, 0);
	return r.id;
}

static void blob_sync_raw(struct spio_blob *blob)
{
	struct res r = {0};

	spio_blob_sync_md(blob, op_cb, &r);
	wait_done(&r, "sync");
	cr_assert_eq(r.rc, 0);
}

Test(lvol, load_refuses_what_is_not_an_lvstore)
{
	struct spio_blob_store *bs;
	int rc;

	rc = lvs_load_rc(NULL);
	cr_assert_eq(rc, -EILSEQ, "zeroes: expected the blobstore's -EILSEQ, got %d", rc);
	cr_assert_eq(g_dev.live, 0, "the device was released");

	bs = bs_init_raw("OTHER");
	bs_unload_raw(bs);
	rc = lvs_load_rc(NULL);
	cr_assert_eq(rc, -ENXIO, "another bstype: expected -ENXIO, got %d", rc);

	/* an LVOLSTORE blobstore without a super blob */
	bs = bs_init_raw("LVOLSTORE");
	bs_unload_raw(bs);
	rc = lvs_load_rc(NULL);
	cr_assert_eq(rc, -ENODEV, "no super blob: expected -ENODEV, got %d", rc);
	cr_assert_eq(g_dev.live, 0);
}

/* An LVOLSTORE with a super blob holding `uuid`, `name`, and one more blob
 * with the xattrs `lvol_name` (NULL: none). */
static void make_store(const char *uuid, size_t uuid_len, const char *name, const char *lvol_name,
		       size_t lvol_name_len)
{
	struct spio_blob_store *bs = bs_init_raw("LVOLSTORE");
	spio_blob_id super = blob_create_raw(bs), other = blob_create_raw(bs);
	struct spio_blob *blob = blob_open_raw(bs, super);
	struct res r = {0};

	if (uuid != NULL) {
		cr_assert_eq(spio_blob_set_xattr(blob, "uuid", uuid, (uint16_t)uuid_len), 0);
	}
	cr_assert_eq(spio_blob_set_xattr(blob, "name", name, (uint16_t)(strlen(name) + 1)), 0);
	blob_sync_raw(blob);
	blob_close_raw(blob);
	spio_bs_set_super(bs, super, op_cb, &r);
	wait_done(&r, "set_super");
	blob = blob_open_raw(bs, other);
	if (lvol_name != NULL) {
		cr_assert_eq(spio_blob_set_xattr(blob, "name", lvol_name, (uint16_t)lvol_name_len),
			     0);
	}
	blob_sync_raw(blob);
	blob_close_raw(blob);
	bs_unload_raw(bs);
}

#define GOOD_UUID "0e7f8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f6"

Test(lvol, load_of_broken_stores)
{
	char long_name[SPIO_LVOL_NAME_MAX + 1];
	struct spio_lvol_store *lvs;
	struct spio_lvol *lvol;
	int rc;

	/* an lvol without a name fails the whole load, as SPDK's */
	make_store(GOOD_UUID, sizeof(GOOD_UUID), "s", NULL, 0);
	rc = lvs_load_rc(NULL);
	cr_assert_eq(rc, -EINVAL, "blob without name: expected -EINVAL, got %d", rc);
	cr_assert_null(spio_lvs_get_by_name("s"), "a failed load left the store listed");
	cr_assert_eq(g_dev.live, 0);

	/* a name longer than 64 bytes */
	memset(long_name, 'q', sizeof(long_name));
	make_store(GOOD_UUID, sizeof(GOOD_UUID), "s", long_name, sizeof(long_name));
	cr_assert_eq(lvs_load_rc(NULL), -EINVAL);

	/* a super blob without a valid uuid */
	make_store(NULL, 0, "s", "v", 2);
	cr_assert_eq(lvs_load_rc(NULL), -EINVAL);
	make_store(GOOD_UUID, sizeof(GOOD_UUID) - 1, "s", "v", 2);
	cr_assert_eq(lvs_load_rc(NULL), -EINVAL, "uuid without its NUL");
	make_store("not-a-uuid-but-36-characters-long-xx", 37, "s", "v", 2);
	cr_assert_eq(lvs_load_rc(NULL), -EINVAL, "not a uuid");

	/* an lvol without uuid is kept, named by the store's uuid and its blob id */
	make_store(GOOD_UUID, sizeof(GOOD_UUID), "s", "v", 2);
	lvs = lvs_load();
	lvol = find_lvol(lvs, "v");
	cr_assert_not_null(lvol);
	cr_assert(spio_uuid_is_null(spio_lvol_get_uuid(lvol)));
	{
		char want[SPIO_LVOL_UNIQUE_ID_MAX];

		snprintf(want, sizeof(want), "%s_%llu", GOOD_UUID,
			 (unsigned long long)spio_lvol_get_blob_id(lvol));
		cr_assert_str_eq(spio_lvol_get_unique_id(lvol), want);
	}
	/* a 1-byte unterminated name is read up to its length */
	lvs_unload(lvs);
	make_store(GOOD_UUID, sizeof(GOOD_UUID), "s", "vw", 1);
	lvs = lvs_load();
	cr_assert_not_null(find_lvol(lvs, "v"));
	lvs_unload(lvs);
}

/*
 * SPDK's image
 */

/* The test data file `name`: $SPIO_TESTDATA, else the directory the build
 * found; true if it can be read. */
static bool image_path(const char *name, char *path)
{
	const char *dir = getenv("SPIO_TESTDATA");

	snprintf(path, PATH_MAX, "%s/%s", dir != NULL && *dir ? dir : SPIO_TESTDATA_DEFAULT, name);
	return access(path, R_OK) == 0;
}

/* `gzip -dc path` into the zeroed `dst` (all-zero blocks skipped, so the
 * memory stays sparse); the bytes uncompressed, or -1. */
static long long gunzip_into(const char *path, uint8_t *dst, size_t cap)
{
	static const uint8_t zero[4096];
	char cmd[PATH_MAX + 32];
	uint8_t block[4096];
	long long total = 0;
	size_t n;
	FILE *fp;

	snprintf(cmd, sizeof(cmd), "gzip -dc '%s'", path);
	fp = popen(cmd, "r");
	if (fp == NULL) {
		return -1;
	}
	while ((n = fread(block, 1, sizeof(block), fp)) > 0) {
		if ((size_t)total + n > cap) {
			total = -1;
			break;
		}
		if (memcmp(block, zero, n) != 0) {
			memcpy(dst + total, block, n);
		}
		total += (long long)n;
	}
	if (pclose(fp) != 0) {
		total = -1;
	}
	return total;
}

/* mkpat.py: each 4096-byte unit at byte offset o of the source file holds
 * the 64-byte line "<tag> off=<o, 12 digits>" padded with '.' to 63 and a
 * newline, 64 times. */
static void mkpat_unit(const char *tag, uint64_t o, uint8_t *unit)
{
	char line[65];
	int n = snprintf(line, sizeof(line), "%s off=%012llu", tag, (unsigned long long)o);

	memset(line + n, '.', 63 - (size_t)n);
	line[63] = '\n';
	for (int i = 0; i < 64; i++) {
		memcpy(unit + i * 64, line, 64);
	}
}

/* Read the whole lvol and compare each 4 KiB unit with what SPDK wrote:
 * mkpat(tag) at lvol bytes [from, to) (pattern offsets from 0), zeroes elsewhere. */
static void expect_image_lvol(struct spio_lvol *lvol, const char *tag, uint64_t from, uint64_t to)
{
	struct spio_blob *blob = spio_lvol_get_blob(lvol);
	struct spio_io_channel *ch = spio_lvol_get_io_channel(lvol);
	uint64_t size = spio_blob_get_num_io_units(blob) * 4096;
	uint8_t *buf = aligned_alloc(4096, MIB), want[4096];

	for (uint64_t off = 0; off < size; off += MIB) {
		struct res r = {0};

		spio_blob_io_read(blob, ch, buf, off / 4096, MIB / 4096, op_cb, &r);
		wait_done(&r, "read image lvol");
		cr_assert_eq(r.rc, 0);
		for (uint64_t u = 0; u < MIB; u += 4096) {
			uint64_t at = off + u;

			if (at >= from && at < to) {
				mkpat_unit(tag, at - from, want);
			} else {
				memset(want, 0, sizeof(want));
			}
			cr_assert(memcmp(buf + u, want, 4096) == 0,
				  "%s: 4 KiB at byte %llu differs", tag, (unsigned long long)at);
		}
	}
	free(buf);
	spio_bs_free_io_channel(ch);
}

Test(lvol, spdk_lvol_basic_image)
{
	char path[PATH_MAX];
	struct spio_lvol_store *lvs;
	struct spio_lvol *thick, *thin;
	struct memdev img;
	struct spio_uuid u;
	struct res r = {0};
	long long got;

	if (!image_path("lvol-basic.img.gz", path)) {
		cr_skip_test("test image %s missing (set SPIO_TESTDATA)", path);
	}
	memdev_init(&img, LVOL_IMAGE_SIZE);
	got = gunzip_into(path, img.bytes, LVOL_IMAGE_SIZE);
	cr_assert_eq(got, (long long)LVOL_IMAGE_SIZE, "gzip -dc %s: %lld bytes", path, got);

	spio_lvs_load(memdev_borrow(&img), lvs_cb, &r);
	wait_done(&r, "load SPDK image");
	cr_assert_eq(r.rc, 0, "SPDK's lvstore: got %d", r.rc);
	lvs = r.lvs;
	/* the manifest's lvstores_as_reported_by_spdk and lvols */
	cr_assert_str_eq(spio_lvs_get_name(lvs), "lvs0");
	spio_uuid_parse(&u, "ab735d52-5a68-451f-b2ca-74179c190846");
	cr_assert_eq(spio_uuid_compare(spio_lvs_get_uuid(lvs), &u), 0, "lvstore uuid");
	cr_assert_eq(spio_bs_get_cluster_size(spio_lvs_get_bs(lvs)), 4 * MIB);
	cr_assert_eq(spio_bs_total_data_cluster_count(spio_lvs_get_bs(lvs)), 31u);
	cr_assert_eq(spio_bs_free_cluster_count(spio_lvs_get_bs(lvs)), 25u);
	cr_assert_eq(count_lvols(lvs), 2);
	thick = find_lvol(lvs, "thick0");
	thin = find_lvol(lvs, "thin0");
	cr_assert_not_null(thick);
	cr_assert_not_null(thin);
	cr_assert_str_eq(spio_lvol_get_unique_id(thick), "d282c260-048f-45c0-816a-dc408ed58790");
	cr_assert_str_eq(spio_lvol_get_unique_id(thin), "25cea2bd-a247-42aa-9d0a-3e6fa87662cc");
	cr_assert_eq(spio_lvol_get_blob_id(thick), 0x100000001ull);
	cr_assert_eq(spio_lvol_get_blob_id(thin), 0x100000003ull);
	lvol_open(thick);
	lvol_open(thin);
	cr_assert_not(spio_blob_is_thin_provisioned(spio_lvol_get_blob(thick)));
	cr_assert(spio_blob_is_thin_provisioned(spio_lvol_get_blob(thin)));
	cr_assert_eq(spio_blob_get_num_allocated_clusters(spio_lvol_get_blob(thin)), 2u);
	expect_image_lvol(thick, "thick0", 0, 16 * MIB);
	expect_image_lvol(thin, "thin0", 6 * MIB, 11 * MIB);
	lvs_close_all_unload(lvs);
	memdev_fini(&img);
}
