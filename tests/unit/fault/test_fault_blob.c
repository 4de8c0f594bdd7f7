/*
 * The blobstore and lvol stores under injected faults, on a memory device:
 * init, create, open, resize, write, sync, close, snapshot, clone, delete
 * and unload with DMA allocations or mempool gets (thread messages among
 * them) failing every Nth time or at random. Each operation must complete
 * exactly once, with an error or with success; then, with faults off, the
 * device must load and every blob whose sync succeeded must hold the data
 * written before it (a snapshot and its clone too); deletes that succeeded
 * stay done. lvstore and lvol creates likewise: what succeeded is there
 * after a reload.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/fault.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/lvol.h"
#include "spio/thread.h"

#define BLOCK 4096u
#define DEV_BLOCKS 2048u /* 8 MiB */
#define CLUSTER (64u * 1024)
#define NBLOBS 6
#define WUNITS 4 /* io units written to each blob */
#define WAIT_US (5ULL * 1000 * 1000)

static struct spio_thread *g_thread;

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
}

/*
 * A memory device that outlives the stores on it (as in tests/unit/lvol):
 * each store gets a wrapper whose destroy() frees only the wrapper.
 */
struct memdev {
	struct spio_bs_dev *mem;
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

static void memdev_init(struct memdev *md)
{
	md->mem = spio_bs_dev_mem_create(DEV_BLOCKS, BLOCK);
	cr_assert_not_null(md->mem, "memory device");
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

static void setup(void)
{
	struct spio_env_opts eo;

	fault_clear();
	spio_env_opts_init(&eo, sizeof(eo));
	eo.no_huge = true;
	eo.name = "test_fault_blob";
	cr_assert_eq(spio_env_init(&eo), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_thread = spio_thread_create("fault_blob", NULL);
	cr_assert_not_null(g_thread);
	spio_set_thread(g_thread);
}

static void teardown(void)
{
	fault_clear();
	spio_thread_exit(g_thread);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_thread); i++) {
		poll_n(1);
	}
	cr_assert(spio_thread_is_exited(g_thread), "thread still holds channels or messages");
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(fault_blob, .init = setup, .fini = teardown, .timeout = 60);

/*
 * Completions: each counts its calls; wait() wants exactly one.
 */

struct res {
	int n;
	int rc;
	struct spio_blob_store *bs;
	struct spio_blob *blob;
	spio_blob_id id;
	struct spio_lvol_store *lvs;
	struct spio_lvol *lvol;
};

static void bs_cb(void *arg, struct spio_blob_store *bs, int rc)
{
	struct res *r = arg;

	r->n++;
	r->bs = bs;
	r->rc = rc;
}

static void id_cb(void *arg, spio_blob_id id, int rc)
{
	struct res *r = arg;

	r->n++;
	r->id = id;
	r->rc = rc;
}

static void blob_cb(void *arg, struct spio_blob *blob, int rc)
{
	struct res *r = arg;

	r->n++;
	r->blob = blob;
	r->rc = rc;
}

static void op_cb(void *arg, int rc)
{
	struct res *r = arg;

	r->n++;
	r->rc = rc;
}

static void lvs_cb(void *arg, struct spio_lvol_store *lvs, int rc)
{
	struct res *r = arg;

	r->n++;
	r->lvs = lvs;
	r->rc = rc;
}

static void lvol_cb(void *arg, struct spio_lvol *lvol, int rc)
{
	struct res *r = arg;

	r->n++;
	r->lvol = lvol;
	r->rc = rc;
}

/* Wait for the one completion of `what`; returns its rc (0 or negative). */
static int wait(struct res *r, const char *what, int ctx)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(WAIT_US);

	while (r->n == 0 && spio_get_ticks() <= end) {
		poll_n(1);
	}
	cr_assert_eq(r->n, 1, "case %d: %s: no completion in 5 s", ctx, what);
	poll_n(20);
	cr_assert_eq(r->n, 1, "case %d: %s: %d completions", ctx, what, r->n);
	cr_assert_leq(r->rc, 0, "case %d: %s: rc %d, expected 0 or a negative errno", ctx, what,
		      r->rc);
	return r->rc;
}

struct fault_case {
	enum fault_site site;
	struct fault_rule rule;
	uint64_t seed;
};

static const struct fault_case g_cases[] = {
    {FAULT_DMA_ALLOC, {.every = 1}, 1},
    {FAULT_DMA_ALLOC, {.every = 2}, 1},
    {FAULT_DMA_ALLOC, {.every = 3}, 1},
    {FAULT_DMA_ALLOC, {.every = 5}, 1},
    {FAULT_DMA_ALLOC, {.per_million = 250000}, 1},
    {FAULT_DMA_ALLOC, {.per_million = 250000}, 2},
    {FAULT_MEMPOOL_GET, {.every = 1}, 1},
    {FAULT_MEMPOOL_GET, {.every = 2}, 1},
    {FAULT_MEMPOOL_GET, {.every = 3}, 1},
    {FAULT_MEMPOOL_GET, {.every = 7}, 1},
    {FAULT_MEMPOOL_GET, {.every = 13}, 1},
    {FAULT_MEMPOOL_GET, {.every = 4, .after = 40}, 1},
    {FAULT_MEMPOOL_GET, {.per_million = 100000}, 1},
    {FAULT_MEMPOOL_GET, {.per_million = 100000}, 2},
    {FAULT_MEMPOOL_GET, {.per_million = 300000}, 3},
};
#define NCASES (int)(sizeof(g_cases) / sizeof(g_cases[0]))

static uint64_t g_injected;

static void arm(const struct fault_case *fc)
{
	fault_set_seed(fc->seed);
	fault_set(fc->site, &fc->rule);
}

static void disarm(const struct fault_case *fc)
{
	g_injected += fault_count(fc->site);
	fault_clear();
}

/*
 * Blobstore
 */

struct blob_track {
	spio_blob_id id; /* SPIO_BLOBID_INVALID: create failed */
	uint32_t tag;
	bool committed; /* written and synced: the data must survive */
	bool deleted;	/* delete reported success */
};

static void fill(uint8_t *buf, size_t len, uint32_t tag)
{
	for (size_t i = 0; i + 4 <= len; i += 4) {
		memcpy(buf + i, &tag, 4);
	}
}

static void expect_tag(const uint8_t *buf, size_t len, uint32_t tag, const char *what, int ctx)
{
	uint32_t got;

	for (size_t i = 0; i + 4 <= len; i += 4) {
		memcpy(&got, buf + i, 4);
		cr_assert_eq(got, tag, "case %d: %s: byte %zu: expected tag %08x, got %08x", ctx,
			     what, i, tag, got);
	}
}

/* Open `id`, read the written units, close: the rc of the open. */
static int read_blob(struct spio_blob_store *bs, struct spio_io_channel *ch, spio_blob_id id,
		     uint8_t *buf, int ctx)
{
	struct res r = {0};

	spio_bs_open_blob(bs, id, blob_cb, &r);
	if (wait(&r, "open (disarmed)", ctx) != 0) {
		return r.rc;
	}
	struct spio_blob *blob = r.blob;
	r = (struct res){0};
	spio_blob_io_read(blob, ch, buf, 0, WUNITS, op_cb, &r);
	cr_assert_eq(wait(&r, "read (disarmed)", ctx), 0, "case %d: read failed, faults off", ctx);
	r = (struct res){0};
	spio_blob_close(blob, op_cb, &r);
	cr_assert_eq(wait(&r, "close (disarmed)", ctx), 0);
	return 0;
}

static struct spio_blob_store *init_store(struct memdev *md, const struct fault_case *fc, int ctx)
{
	struct spio_bs_opts o;
	struct res r = {0};

	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER;
	spio_bs_init(memdev_borrow(md), &o, bs_cb, &r);
	if (wait(&r, "bs_init", ctx) != 0) {
		cr_assert_null(r.bs, "case %d: failed init handed out a store", ctx);
		cr_assert_eq(md->live, 0, "case %d: failed init kept the device", ctx);
		/* with faults off it must work */
		disarm(fc);
		r = (struct res){0};
		spio_bs_init(memdev_borrow(md), &o, bs_cb, &r);
		cr_assert_eq(wait(&r, "bs_init (disarmed)", ctx), 0);
		arm(fc);
	}
	cr_assert_not_null(r.bs);
	return r.bs;
}

static void blob_case(const struct fault_case *fc, int ctx)
{
	struct blob_track bt[NBLOBS + 2];
	struct memdev md;
	struct spio_blob_store *bs;
	struct spio_io_channel *ch;
	struct res r;
	uint8_t *buf = spio_dma_malloc(WUNITS * BLOCK, 4096);
	uint8_t *rbuf = spio_dma_malloc(WUNITS * BLOCK, 4096);
	int snap = NBLOBS, clone = NBLOBS + 1;

	cr_assert(buf != NULL && rbuf != NULL);
	memdev_init(&md);
	arm(fc);
	bs = init_store(&md, fc, ctx);
	ch = spio_bs_alloc_io_channel(bs);
	if (ch == NULL) {
		disarm(fc);
		ch = spio_bs_alloc_io_channel(bs);
		cr_assert_not_null(ch, "case %d: no channel with faults off", ctx);
		arm(fc);
	}

	for (int i = 0; i < NBLOBS; i++) {
		struct spio_blob_opts bo;
		struct spio_blob *blob;

		bt[i] = (struct blob_track){.id = SPIO_BLOBID_INVALID,
					    .tag = 0xb0000000u + (uint32_t)i};
		spio_blob_opts_init(&bo, sizeof(bo));
		bo.num_clusters = 1;
		bo.thin_provision = i % 2 == 1;
		r = (struct res){0};
		spio_bs_create_blob_ext(bs, &bo, id_cb, &r);
		if (wait(&r, "create", ctx) != 0) {
			continue;
		}
		bt[i].id = r.id;
		r = (struct res){0};
		spio_bs_open_blob(bs, bt[i].id, blob_cb, &r);
		if (wait(&r, "open", ctx) != 0) {
			continue;
		}
		blob = r.blob;
		r = (struct res){0};
		spio_blob_resize(blob, 2, op_cb, &r);
		(void)wait(&r, "resize", ctx);
		fill(buf, WUNITS * BLOCK, bt[i].tag);
		r = (struct res){0};
		spio_blob_io_write(blob, ch, buf, 0, WUNITS, op_cb, &r);
		bool written = wait(&r, "write", ctx) == 0;
		r = (struct res){0};
		spio_blob_sync_md(blob, op_cb, &r);
		bt[i].committed = wait(&r, "sync", ctx) == 0 && written;
		r = (struct res){0};
		spio_blob_close(blob, op_cb, &r);
		(void)wait(&r, "close", ctx); /* the handle is freed either way */
	}

	/* snapshot of blob 0 and a clone of that snapshot */
	bt[snap] = (struct blob_track){.id = SPIO_BLOBID_INVALID, .tag = bt[0].tag};
	bt[clone] = bt[snap];
	if (bt[0].id != SPIO_BLOBID_INVALID) {
		r = (struct res){0};
		spio_bs_create_snapshot(bs, bt[0].id, NULL, id_cb, &r);
		if (wait(&r, "snapshot", ctx) == 0) {
			bt[snap].id = r.id;
			bt[snap].committed = bt[0].committed;
			r = (struct res){0};
			spio_bs_create_clone(bs, bt[snap].id, NULL, id_cb, &r);
			if (wait(&r, "clone", ctx) == 0) {
				bt[clone].id = r.id;
				bt[clone].committed = bt[0].committed;
			}
		}
	}
	/* delete two blobs */
	for (int i = 2; i <= 3; i++) {
		if (bt[i].id != SPIO_BLOBID_INVALID) {
			r = (struct res){0};
			spio_bs_delete_blob(bs, bt[i].id, op_cb, &r);
			bt[i].deleted = wait(&r, "delete", ctx) == 0;
		}
	}
	spio_bs_free_io_channel(ch);
	poll_n(20);

	/* odd cases unload with faults on: it may fail, the device must go either way */
	if (ctx % 2 == 0) {
		disarm(fc);
	}
	r = (struct res){0};
	spio_bs_unload(bs, op_cb, &r);
	int urc = wait(&r, "unload", ctx);
	if (ctx % 2 == 0) {
		cr_assert_eq(urc, 0, "case %d: unload with faults off: %d", ctx, urc);
	} else {
		disarm(fc);
	}
	cr_assert_eq(md.live, 0, "case %d: unload (rc %d) kept the device", ctx, urc);

	/* load with faults off: every synced blob has its data */
	r = (struct res){0};
	spio_bs_load(memdev_borrow(&md), NULL, bs_cb, &r);
	cr_assert_eq(wait(&r, "load (disarmed)", ctx), 0, "case %d: reload failed: %d", ctx, r.rc);
	bs = r.bs;
	ch = spio_bs_alloc_io_channel(bs);
	cr_assert_not_null(ch);
	for (int i = 0; i < NBLOBS + 2; i++) {
		if (bt[i].id == SPIO_BLOBID_INVALID) {
			continue;
		}
		memset(rbuf, 0xee, WUNITS * BLOCK);
		int orc = read_blob(bs, ch, bt[i].id, rbuf, ctx);
		if (bt[i].deleted) {
			cr_assert_eq(orc, -ENOENT, "case %d: blob %d deleted, open gave %d", ctx, i,
				     orc);
		} else if (bt[i].committed) {
			cr_assert_eq(orc, 0, "case %d: blob %d synced, open gave %d", ctx, i, orc);
			expect_tag(rbuf, WUNITS * BLOCK, bt[i].tag, "synced blob after reload",
				   ctx);
		}
	}

	/* the store works: a new blob, written, synced and read */
	struct spio_blob_opts bo;
	spio_blob_opts_init(&bo, sizeof(bo));
	bo.num_clusters = 1;
	r = (struct res){0};
	spio_bs_create_blob_ext(bs, &bo, id_cb, &r);
	cr_assert_eq(wait(&r, "create (disarmed)", ctx), 0, "case %d: create after reload", ctx);
	spio_blob_id nid = r.id;
	r = (struct res){0};
	spio_bs_open_blob(bs, nid, blob_cb, &r);
	cr_assert_eq(wait(&r, "open (disarmed)", ctx), 0);
	struct spio_blob *nb = r.blob;
	fill(buf, WUNITS * BLOCK, 0x5eed0000u + (uint32_t)ctx);
	r = (struct res){0};
	spio_blob_io_write(nb, ch, buf, 0, WUNITS, op_cb, &r);
	cr_assert_eq(wait(&r, "write (disarmed)", ctx), 0);
	r = (struct res){0};
	spio_blob_close(nb, op_cb, &r);
	cr_assert_eq(wait(&r, "close (disarmed)", ctx), 0);
	cr_assert_eq(read_blob(bs, ch, nid, rbuf, ctx), 0);
	expect_tag(rbuf, WUNITS * BLOCK, 0x5eed0000u + (uint32_t)ctx, "new blob", ctx);

	spio_bs_free_io_channel(ch);
	poll_n(20);
	r = (struct res){0};
	spio_bs_unload(bs, op_cb, &r);
	cr_assert_eq(wait(&r, "unload (disarmed)", ctx), 0);
	memdev_fini(&md);
	spio_dma_free(buf);
	spio_dma_free(rbuf);
}

Test(fault_blob, ops_then_reload)
{
	uint64_t per_site[FAULT_SITE_COUNT] = {0};

	for (int c = 0; c < NCASES; c++) {
		uint64_t before = g_injected;
		blob_case(&g_cases[c], c);
		per_site[g_cases[c].site] += g_injected - before;
	}
	cr_assert_gt(per_site[FAULT_DMA_ALLOC], 0, "no DMA fault injected");
	cr_assert_gt(per_site[FAULT_MEMPOOL_GET], 0, "no mempool fault injected");
}

/* Load itself under faults: it fails or succeeds; with faults off the device loads. */
Test(fault_blob, load_under_faults)
{
	struct memdev md;
	struct res r;
	uint64_t injected = 0;

	memdev_init(&md);
	r = (struct res){0};
	spio_bs_init(memdev_borrow(&md), NULL, bs_cb, &r);
	cr_assert_eq(wait(&r, "init", -1), 0);
	{
		struct spio_blob_opts bo;
		spio_blob_opts_init(&bo, sizeof(bo));
		bo.num_clusters = 2;
		struct res cr = {0};
		spio_bs_create_blob_ext(r.bs, &bo, id_cb, &cr);
		cr_assert_eq(wait(&cr, "create", -1), 0);
	}
	struct res u = {0};
	spio_bs_unload(r.bs, op_cb, &u);
	cr_assert_eq(wait(&u, "unload", -1), 0);

	for (int c = 0; c < NCASES; c++) {
		arm(&g_cases[c]);
		r = (struct res){0};
		spio_bs_load(memdev_borrow(&md), NULL, bs_cb, &r);
		int rc = wait(&r, "load", c);
		if (rc == 0) {
			u = (struct res){0};
			spio_bs_unload(r.bs, op_cb, &u);
			(void)wait(&u, "unload", c);
		} else {
			cr_assert_null(r.bs, "case %d: failed load handed out a store", c);
		}
		injected += fault_count(g_cases[c].site);
		fault_clear();
		cr_assert_eq(md.live, 0, "case %d: load / unload kept the device", c);
		r = (struct res){0};
		spio_bs_load(memdev_borrow(&md), NULL, bs_cb, &r);
		cr_assert_eq(wait(&r, "load (disarmed)", c), 0,
			     "case %d: device no longer loads: %d", c, r.rc);
		u = (struct res){0};
		spio_bs_unload(r.bs, op_cb, &u);
		cr_assert_eq(wait(&u, "unload (disarmed)", c), 0);
	}
	cr_assert_gt(injected, 0, "no fault injected");
	memdev_fini(&md);
}

/*
 * lvol store
 */

#define NLVOLS 4

static void lvol_destroy_cb(void *arg, int rc)
{
	op_cb(arg, rc);
}

/*
 * lvstore init and lvol creates under `fc`, then a reload with faults off.
 * A failed create deletes its blob again; only if that delete fails too
 * (faults still armed) may the lvol reappear at the load: `strict` says it
 * must not. Returns the faults injected.
 */
static uint64_t lvol_case(const struct fault_case *fc, int c, bool strict)
{
	struct spio_lvs_opts lo;
	struct spio_bs_dev *dev;
	struct memdev md;
	struct res r = {0};
	bool made[NLVOLS];
	char name[32];
	uint64_t injected;
	int rc;

	memdev_init(&md);
	spio_lvs_opts_init(&lo, sizeof(lo));
	lo.cluster_sz = CLUSTER;
	snprintf(lo.name, sizeof(lo.name), "flvs%d", c);
	arm(fc);
	dev = memdev_borrow(&md);
	rc = spio_lvs_init(dev, &lo, lvs_cb, &r);
	if (rc != 0) {
		cr_assert_eq(rc, -ENOMEM, "case %d: lvs_init: expected 0 or -ENOMEM, got %d", c,
			     rc);
		cr_assert_eq(r.n, 0, "case %d: callback after lvs_init returned %d", c, rc);
		dev->destroy(dev); /* not consumed on an error return */
	} else if (wait(&r, "lvs_init", c) != 0) {
		cr_assert_null(r.lvs);
		cr_assert_eq(md.live, 0, "case %d: failed lvs_init kept the device", c);
	}
	if (r.lvs == NULL) {
		cr_assert_null(spio_lvs_get_by_name(lo.name),
			       "case %d: failed lvs_init left the store registered", c);
		fault_clear();
		r = (struct res){0};
		cr_assert_eq(spio_lvs_init(memdev_borrow(&md), &lo, lvs_cb, &r), 0);
		cr_assert_eq(wait(&r, "lvs_init (disarmed)", c), 0);
		arm(fc);
	}
	struct spio_lvol_store *lvs = r.lvs;
	struct spio_lvol *lv[NLVOLS] = {0};

	for (int i = 0; i < NLVOLS; i++) {
		snprintf(name, sizeof(name), "lv%d", i);
		r = (struct res){0};
		rc = spio_lvol_create(lvs, name, CLUSTER, i % 2 == 1, SPIO_LVOL_CLEAR_WITH_DEFAULT,
				      lvol_cb, &r);
		if (rc != 0) {
			cr_assert_eq(rc, -ENOMEM, "case %d: lvol_create: got %d", c, rc);
			cr_assert_eq(r.n, 0);
			made[i] = false;
			continue;
		}
		made[i] = wait(&r, "lvol_create", c) == 0;
		lv[i] = r.lvol;
		cr_assert_eq(made[i], lv[i] != NULL, "case %d: lvol %d rc %d, lvol %p", c, i, r.rc,
			     (void *)lv[i]);
	}
	injected = fault_count(fc->site);
	fault_clear();
	for (int i = 0; i < NLVOLS; i++) {
		snprintf(name, sizeof(name), "lv%d", i);
		struct spio_lvol *found = spio_lvol_get_by_names(lo.name, name);
		cr_assert_eq(found != NULL, made[i],
			     "case %d: lvol %s create %s, but the lvol is %s", c, name,
			     made[i] ? "succeeded" : "failed", found ? "there" : "missing");
		if (lv[i] != NULL) {
			r = (struct res){0};
			spio_lvol_close(lv[i], op_cb, &r);
			cr_assert_eq(wait(&r, "lvol_close", c), 0);
		}
	}
	r = (struct res){0};
	cr_assert_eq(spio_lvs_unload(lvs, op_cb, &r), 0, "case %d: lvs_unload", c);
	cr_assert_eq(wait(&r, "lvs_unload", c), 0);
	cr_assert_eq(md.live, 0);

	r = (struct res){0};
	spio_lvs_load(memdev_borrow(&md), lvs_cb, &r);
	cr_assert_eq(wait(&r, "lvs_load (disarmed)", c), 0, "case %d: store does not load", c);
	lvs = r.lvs;
	for (int i = 0; i < NLVOLS; i++) {
		snprintf(name, sizeof(name), "lv%d", i);
		struct spio_lvol *found = spio_lvol_get_by_names(lo.name, name);
		if (made[i] || strict) {
			cr_assert_eq(found != NULL, made[i],
				     "case %d: create of %s %s, after reload the lvol is %s", c,
				     name, made[i] ? "succeeded" : "failed",
				     found ? "there" : "missing");
		}
		if (found != NULL && !made[i]) {
			/* a leftover of a failed create: it must at least go away cleanly */
			r = (struct res){0};
			spio_lvol_destroy(found, lvol_destroy_cb, &r);
			cr_assert_eq(wait(&r, "lvol_destroy of a leftover", c), 0);
		}
	}
	/* and it works: one more lvol */
	r = (struct res){0};
	cr_assert_eq(spio_lvol_create(lvs, "after", CLUSTER, false, SPIO_LVOL_CLEAR_WITH_DEFAULT,
				      lvol_cb, &r),
		     0);
	cr_assert_eq(wait(&r, "lvol_create (disarmed)", c), 0);
	struct res cl = {0};
	spio_lvol_close(r.lvol, op_cb, &cl);
	cr_assert_eq(wait(&cl, "lvol_close", c), 0);
	r = (struct res){0};
	cr_assert_eq(spio_lvs_unload(lvs, op_cb, &r), 0);
	cr_assert_eq(wait(&r, "lvs_unload", c), 0);
	memdev_fini(&md);
	return injected;
}

Test(fault_blob, lvstore_and_lvols)
{
	uint64_t injected = 0;

	for (int c = 0; c < NCASES; c++) {
		injected += lvol_case(&g_cases[c], c, false);
	}
	cr_assert_gt(injected, 0, "no fault injected");
}

/*
 * Found by the test above: an lvol whose blob was created but could not be
 * opened was reported failed and left on disk, to appear at the next load.
 * With DMA every:5 the opens of lv0 and lv2 fail and the deletes that undo
 * them pass.
 */
Test(fault_blob, failed_lvol_create_leaves_nothing)
{
	static const struct fault_case fc = {FAULT_DMA_ALLOC, {.every = 5}, 1};

	cr_assert_gt(lvol_case(&fc, 100, true), 0, "no fault injected");
}
