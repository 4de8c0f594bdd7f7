/*
 * spio_bs_load: open the blobstore a device holds (made by spio or SPDK).
 *
 * Nothing is written until every check passed:
 *   1. the super block (signature, version, CRC, type, geometry);
 *   2. after a clean unload, the three masks, then every blob the blob id
 *      mask names is read and checked against them and against the others:
 *      each md page and cluster marked in use and owned by one blob only;
 *   3. otherwise (not clean, force_recover, or an old image without a blob
 *      id mask) every md page is scanned for blobs' first pages, those blobs
 *      are read (one whose metadata does not check is dropped) and the masks
 *      are rebuilt from what they hold;
 *   4. a snapshot caught half made or half removed by a crash (internal xattr
 *      SNAPTMP / SNAPRM naming the other blob) is settled as SPDK settles it,
 *      the only case where two blobs may share clusters.
 * Then the super block is written "not clean", the settled blobs are
 * written, the snapshot registry built and opts->iter_cb_fn shown every blob.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/dma.h"
#include "spio/log.h"
#include "spio/util.h"

#define OWNER_NONE UINT32_MAX
/* Bytes of md region read at once by the recovery scan. */
#define SCAN_CHUNK_BYTES (1u << 20)
/* Message rounds to wait for blobs to close after a failed iteration. */
#define CLOSE_WAIT_ROUNDS 100000

enum rec_pending {
	PENDING_NONE,
	PENDING_SNAPSHOT,     /* SNAPTMP: a snapshot being made */
	PENDING_SNAP_REMOVAL, /* SNAPRM: a snapshot being merged into its clone */
};

enum rec_fate {
	FATE_KEEP,
	FATE_SETTLE_KEEP, /* the other blob took the step: finish, keep as a snapshot */
	FATE_SETTLE_DROP, /* it did not: delete, leaving the shared clusters to it */
	FATE_GONE,
};

/* What the load keeps of each blob once read. */
struct load_rec {
	spio_blob_id id;
	spio_blob_id parent;
	spio_blob_id partner; /* the blob SNAPTMP / SNAPRM names */
	uint8_t pending;
	uint8_t fate;
};

/* Two blobs claiming one md page or cluster (the first example kept). */
struct load_conflict {
	uint32_t a, b; /* first pages: the earlier owner, the later claimant */
	bool cluster;
	uint64_t what;
};

struct load_ctx {
	struct spio_blob_store *bs;
	struct spio_bs_dev *dev;
	spio_bs_op_with_handle_complete cb_fn;
	void *cb_arg;
	uint8_t bstype[BLOB_BSTYPE_LEN];
	spio_blob_op_with_handle_complete iter_cb_fn;
	void *iter_cb_arg;
	bool force_recover;
	bool recover;
	bool channels;

	void *buf; /* a mask region, or a chunk of the md region */
	uint8_t mask_type;
	uint64_t scan_pos;
	uint32_t scan_chunk;
	struct bs_bits found; /* recovery: first pages found by the scan */

	uint64_t next_page;
	struct spio_blob *blob;
	struct spio_blob *partner;

	uint32_t *page_owner;	 /* md_len entries */
	uint32_t *cluster_owner; /* total_clusters entries */
	struct load_rec *recs;	 /* in id order */
	size_t nrecs, cap_recs;
	struct load_conflict *conf;
	size_t nconf, cap_conf;
	size_t settle_pos;
	uint32_t close_wait;
	int rc;
};

/*
 * Completion and failure
 */

static void ctx_free(struct load_ctx *ctx)
{
	blob_free(ctx->blob);
	blob_free(ctx->partner);
	spio_dma_free(ctx->buf);
	bs_bits_free(&ctx->found);
	free(ctx->page_owner);
	free(ctx->cluster_owner);
	free(ctx->recs);
	free(ctx->conf);
	free(ctx);
}

static void load_end(struct load_ctx *ctx)
{
	spio_bs_op_with_handle_complete cb_fn = ctx->cb_fn;
	void *cb_arg = ctx->cb_arg;
	struct spio_blob_store *bs = ctx->bs;
	struct spio_bs_dev *dev = ctx->dev;
	int rc = ctx->rc;

	ctx_free(ctx);
	if (rc != 0) {
		/* The device's channel goes with the store, then the device. */
		bs_free(bs);
		dev->destroy(dev);
		bs = NULL;
	}
	cb_fn(cb_arg, bs, rc);
}

static void channels_gone(void *arg, int rc)
{
	(void)rc;
	load_end(arg);
}

static void wait_blobs_closed(void *arg, int rc)
{
	struct load_ctx *ctx = arg;

	(void)rc;
	/* A failed open may still be closing its parents. */
	if (!TAILQ_EMPTY(&ctx->bs->open_blobs) && ctx->close_wait++ < CLOSE_WAIT_ROUNDS &&
	    bs_defer(ctx->bs, wait_blobs_closed, ctx, 0) == 0) {
		return;
	}
	if (!TAILQ_EMPTY(&ctx->bs->open_blobs)) {
		SPIO_ERRLOG("blobstore load: blobs still open after the failure\n");
	}
	bs_channels_unregister(ctx->bs, channels_gone, ctx);
}

/* Called from a completion only: cb_fn never runs inside spio_bs_load(). */
static void load_fail(struct load_ctx *ctx, int rc)
{
	ctx->rc = rc;
	if (ctx->channels) {
		wait_blobs_closed(ctx, 0);
		return;
	}
	load_end(ctx);
}

struct early_fail {
	spio_bs_op_with_handle_complete cb_fn;
	void *cb_arg;
	int rc;
};

static void early_fail_run(void *arg)
{
	struct early_fail *e = arg;

	e->cb_fn(e->cb_arg, NULL, e->rc);
	free(e);
}

/* Before there is a store to defer with: a message to this thread. */
static void fail_early(struct spio_thread *thread, spio_bs_op_with_handle_complete cb_fn,
		       void *cb_arg, int rc)
{
	struct early_fail *e = malloc(sizeof(*e));

	if (e != NULL) {
		*e = (struct early_fail){.cb_fn = cb_fn, .cb_arg = cb_arg, .rc = rc};
		if (spio_thread_send_msg(thread, early_fail_run, e) == 0) {
			return;
		}
		free(e);
	}
	SPIO_ERRLOG("spio_bs_load: no message for the completion; completing inline\n");
	cb_fn(cb_arg, NULL, rc);
}

/*
 * The records of the blobs read
 */

static struct load_rec *rec_find(struct load_ctx *ctx, spio_blob_id id)
{
	size_t lo = 0, hi = ctx->nrecs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ctx->recs[mid].id == id) {
			return &ctx->recs[mid];
		}
		if (ctx->recs[mid].id < id) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return NULL;
}

static int rec_add(struct load_ctx *ctx, struct spio_blob *blob)
{
	static const struct {
		const char *name;
		uint8_t pending;
	} marks[] = {
	    /* SPDK looks at a pending removal first. */
	    {BLOB_XATTR_SNAPSHOT_PENDING_REMOVAL, PENDING_SNAP_REMOVAL},
	    {BLOB_XATTR_SNAPSHOT_IN_PROGRESS, PENDING_SNAPSHOT},
	};
	struct load_rec r = {.id = blob->id,
			     .parent = blob->parent_id,
			     .partner = SPIO_BLOBID_INVALID,
			     .pending = PENDING_NONE,
			     .fate = FATE_KEEP};

	for (size_t i = 0; i < SPIO_COUNTOF(marks); i++) {
		struct blob_xattr *x = blob_xattr_find(&blob->xattrs_internal, marks[i].name);

		if (x == NULL) {
			continue;
		}
		if (x->value_len != sizeof(r.partner)) {
			SPIO_ERRLOG("blob 0x%" PRIx64
				    ": internal xattr %s of %u bytes, expected %zu\n",
				    blob->id, marks[i].name, x->value_len, sizeof(r.partner));
			return -EINVAL;
		}
		memcpy(&r.partner, x->value, sizeof(r.partner));
		r.pending = marks[i].pending;
		break;
	}
	if (ctx->nrecs == ctx->cap_recs) {
		size_t cap = ctx->cap_recs ? ctx->cap_recs * 2 : 16;
		struct load_rec *v = realloc(ctx->recs, cap * sizeof(*v));

		if (v == NULL) {
			return -ENOMEM;
		}
		ctx->recs = v;
		ctx->cap_recs = cap;
	}
	/* Blobs are read in page order, so the array stays sorted by id. */
	ctx->recs[ctx->nrecs++] = r;
	return 0;
}

/*
 * Claims: every md page and cluster of a blob, against the masks (clean load)
 * and against the other blobs.
 */

static int conflict_add(struct load_ctx *ctx, uint32_t a, uint32_t b, bool cluster, uint64_t what)
{
	for (size_t i = ctx->nconf; i > 0; i--) {
		if (ctx->conf[i - 1].a == a && ctx->conf[i - 1].b == b) {
			return 0;
		}
	}
	if (ctx->nconf == ctx->cap_conf) {
		size_t cap = ctx->cap_conf ? ctx->cap_conf * 2 : 8;
		struct load_conflict *v = realloc(ctx->conf, cap * sizeof(*v));

		if (v == NULL) {
			return -ENOMEM;
		}
		ctx->conf = v;
		ctx->cap_conf = cap;
	}
	ctx->conf[ctx->nconf++] = (struct load_conflict){a, b, cluster, what};
	return 0;
}

/* Calls fn for every md page (chain and extent pages) of the blob; stops at an error. */
static int for_each_page(struct load_ctx *ctx, const struct spio_blob *blob,
			 int (*fn)(struct load_ctx *, const struct spio_blob *, uint64_t, bool))
{
	int rc = 0;

	for (uint32_t i = 0; i < blob->num_md_pages && rc == 0; i++) {
		rc = fn(ctx, blob, blob->md_pages[i], false);
	}
	for (uint64_t e = 0; e < blob->active.num_extent_pages && rc == 0; e++) {
		if (blob->active.extent_pages[e] != 0) {
			rc = fn(ctx, blob, blob->active.extent_pages[e], false);
		}
	}
	for (uint64_t i = 0; i < blob->active.num_clusters && rc == 0; i++) {
		if (blob->active.clusters[i] != 0) {
			rc = fn(ctx, blob, blob->active.clusters[i], true);
		}
	}
	return rc;
}

static int check_marked(struct load_ctx *ctx, const struct spio_blob *blob, uint64_t i,
			bool cluster)
{
	const struct spio_blob_store *bs = ctx->bs;

	if (cluster && (i < bs->geo.md_clusters || i >= bs->geo.total_clusters)) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": cluster %" PRIu64
			    " outside the data clusters %" PRIu64 "..%" PRIu64 "\n",
			    blob->id, i, bs->geo.md_clusters, bs->geo.total_clusters - 1);
		return -ERANGE;
	}
	if (ctx->recover) {
		return 0;
	}
	if (!bs_bits_test(cluster ? &bs->used_clusters : &bs->used_md_pages, i)) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": %s %" PRIu64
			    " in use but not marked in the used %s mask\n",
			    blob->id, cluster ? "cluster" : "md page", i,
			    cluster ? "cluster" : "md page");
		return -EINVAL;
	}
	return 0;
}

static int own(struct load_ctx *ctx, const struct spio_blob *blob, uint64_t i, bool cluster)
{
	uint32_t *owner = cluster ? &ctx->cluster_owner[i] : &ctx->page_owner[i];
	uint32_t self = blob_id_to_page(blob->id);

	if (*owner == OWNER_NONE) {
		*owner = self;
		return 0;
	}
	if (*owner == self) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": %s %" PRIu64 " listed twice\n", blob->id,
			    cluster ? "cluster" : "md page", i);
		return -EINVAL;
	}
	return conflict_add(ctx, *owner, self, cluster, i);
}

static int disown(struct load_ctx *ctx, const struct spio_blob *blob, uint64_t i, bool cluster)
{
	uint32_t *owner = cluster ? &ctx->cluster_owner[i] : &ctx->page_owner[i];

	if (*owner == blob_id_to_page(blob->id)) {
		*owner = OWNER_NONE;
	}
	return 0;
}

static int mark_used(struct load_ctx *ctx, const struct spio_blob *blob, uint64_t i, bool cluster)
{
	(void)blob;
	bs_bits_set(cluster ? &ctx->bs->used_clusters : &ctx->bs->used_md_pages, i);
	return 0;
}

static int claim(struct load_ctx *ctx, struct spio_blob *blob)
{
	uint32_t self = blob_id_to_page(blob->id);
	int rc;

	rc = for_each_page(ctx, blob, check_marked);
	if (rc != 0) {
		return rc;
	}
	rc = for_each_page(ctx, blob, own);
	if (rc == 0) {
		rc = rec_add(ctx, blob);
	}
	if (rc != 0) {
		/* As if never read: the blob may be dropped and the others go on. */
		for_each_page(ctx, blob, disown);
		while (ctx->nconf > 0 && ctx->conf[ctx->nconf - 1].b == self) {
			ctx->nconf--;
		}
		return rc;
	}
	if (ctx->recover) {
		for_each_page(ctx, blob, mark_used);
		bs_bits_set(&ctx->bs->used_blobids, self);
	}
	return 0;
}

/*
 * Settling interrupted snapshots, then the end of the load
 */

static void iter_next(struct load_ctx *ctx);

static void iter_closed(void *arg, int rc)
{
	struct load_ctx *ctx = arg;

	if (rc != 0) {
		SPIO_WARNLOG("blobstore load: closing a blob after iter_cb_fn: %s\n",
			     strerror(-rc));
	}
	iter_next(ctx);
}

static void iter_opened(void *arg, struct spio_blob *blob, int rc)
{
	struct load_ctx *ctx = arg;

	if (rc != 0) {
		SPIO_ERRLOG("blobstore load: opening blob 0x%" PRIx64 " for iter_cb_fn: %s\n",
			    blob_page_to_id((uint32_t)(ctx->next_page - 1)), strerror(-rc));
		load_fail(ctx, rc);
		return;
	}
	ctx->iter_cb_fn(ctx->iter_cb_arg, blob, 0);
	spio_blob_close(blob, iter_closed, ctx);
}

static void iter_next(struct load_ctx *ctx)
{
	uint64_t page = bs_bits_find_set(&ctx->bs->used_blobids, ctx->next_page);

	if (page == UINT64_MAX) {
		load_end(ctx);
		return;
	}
	ctx->next_page = page + 1;
	spio_bs_open_blob(ctx->bs, blob_page_to_id((uint32_t)page), iter_opened, ctx);
}

static void load_finish(struct load_ctx *ctx)
{
	struct spio_blob_store *bs = ctx->bs;
	int rc;

	for (size_t i = 0; i < ctx->nrecs; i++) {
		const struct load_rec *r = &ctx->recs[i];

		if (r->fate != FATE_GONE && r->parent != SPIO_BLOBID_INVALID) {
			rc = bs_snapshot_add_clone(bs, r->parent, r->id);
			if (rc != 0) {
				load_fail(ctx, rc);
				return;
			}
		}
	}
	rc = bs_channels_register(bs);
	if (rc != 0) {
		SPIO_ERRLOG("blobstore load: cannot register the channels: %s\n", strerror(-rc));
		load_fail(ctx, rc);
		return;
	}
	ctx->channels = true;
	if (ctx->iter_cb_fn == NULL) {
		load_end(ctx);
		return;
	}
	ctx->next_page = 0;
	iter_next(ctx);
}

static void settle_next(struct load_ctx *ctx);

static void settle_freed(void *arg, int rc)
{
	struct load_ctx *ctx = arg;
	struct load_rec *r = &ctx->recs[ctx->settle_pos];

	(void)rc;
	blob_free(ctx->blob);
	blob_free(ctx->partner);
	ctx->blob = NULL;
	ctx->partner = NULL;
	r->fate = r->fate == FATE_SETTLE_DROP ? FATE_GONE : FATE_KEEP;
	ctx->settle_pos++;
	settle_next(ctx);
}

static void settle_written(void *arg, int rc)
{
	struct load_ctx *ctx = arg;

	if (rc != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": writing its settled metadata failed: %s\n",
			    ctx->blob->id, strerror(-rc));
		ctx->rc = rc;
	}
	/* The write may still look at the blob after this callback: free it later. */
	if (bs_defer(ctx->bs, settle_freed, ctx, 0) != 0) {
		SPIO_ERRLOG("blobstore load: no message to go on with; blob 0x%" PRIx64 " leaked\n",
			    ctx->blob->id);
		ctx->blob = NULL;
		ctx->rc = -ENOMEM;
		settle_freed(ctx, 0);
	}
}

static void settle_failed(void *arg, int rc)
{
	load_fail(arg, rc);
}

/* A snapshot left unfinished, whose origin (or clone) never took the step: it goes. */
static int unshare(struct load_ctx *ctx, struct spio_blob *x, const struct spio_blob *y)
{
	struct bs_bits yc = {0}, yp = {0};
	struct blob_map *maps[] = {&x->active, &x->disk};
	int rc;

	rc = bs_bits_resize(&yc, ctx->bs->geo.total_clusters);
	if (rc == 0) {
		rc = bs_bits_resize(&yp, ctx->bs->geo.md_len);
	}
	if (rc != 0) {
		bs_bits_free(&yc);
		bs_bits_free(&yp);
		return rc;
	}
	for (uint64_t i = 0; i < y->active.num_clusters; i++) {
		bs_bits_set(&yc, y->active.clusters[i]);
	}
	for (uint64_t e = 0; e < y->active.num_extent_pages; e++) {
		bs_bits_set(&yp, y->active.extent_pages[e]);
	}
	/* What the other blob holds too is its own now: not freed, not zeroed. */
	for (size_t m = 0; m < SPIO_COUNTOF(maps); m++) {
		for (uint64_t i = 0; i < maps[m]->num_clusters; i++) {
			if (maps[m]->clusters[i] != 0 && bs_bits_test(&yc, maps[m]->clusters[i])) {
				maps[m]->clusters[i] = 0;
				maps[m]->num_allocated--;
			}
		}
		for (uint64_t e = 0; e < maps[m]->num_extent_pages; e++) {
			if (maps[m]->extent_pages[e] != 0 &&
			    bs_bits_test(&yp, maps[m]->extent_pages[e])) {
				maps[m]->extent_pages[e] = 0;
			}
		}
	}
	bs_bits_free(&yc);
	bs_bits_free(&yp);
	return 0;
}

static void settle_partner_loaded(void *arg, int rc)
{
	struct load_ctx *ctx = arg;
	const struct load_rec *r = &ctx->recs[ctx->settle_pos];

	if (rc == 0) {
		rc = unshare(ctx, ctx->blob, ctx->partner);
	}
	if (rc != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": cannot settle it: %s\n", r->id, strerror(-rc));
		settle_failed(ctx, rc);
		return;
	}
	SPIO_NOTICELOG("blob 0x%" PRIx64 ": removing the %s left by a crash (blob 0x%" PRIx64
		       " did not take the step)\n",
		       r->id,
		       r->pending == PENDING_SNAPSHOT ? "unfinished snapshot"
						      : "snapshot pending removal",
		       r->partner);
	blob_persist_delete(ctx->blob, settle_written, ctx);
}

static void settle_loaded(void *arg, int rc)
{
	struct load_ctx *ctx = arg;
	const struct load_rec *r = &ctx->recs[ctx->settle_pos];
	struct spio_blob *x = ctx->blob;

	if (rc != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": cannot read it again to settle it: %s\n", r->id,
			    strerror(-rc));
		settle_failed(ctx, rc);
		return;
	}
	if (r->fate == FATE_SETTLE_DROP) {
		ctx->partner = blob_alloc(ctx->bs, r->partner);
		if (ctx->partner == NULL) {
			settle_failed(ctx, -ENOMEM);
			return;
		}
		blob_md_load(ctx->partner, settle_partner_loaded, ctx);
		return;
	}
	SPIO_NOTICELOG(
	    "blob 0x%" PRIx64 ": finishing the %s left by a crash (blob 0x%" PRIx64 " %s)\n", r->id,
	    r->pending == PENDING_SNAPSHOT ? "snapshot" : "cancelled snapshot removal", r->partner,
	    rec_find(ctx, r->partner) != NULL ? "took the step" : "does not exist");
	/* As SPDK: both marks go and the blob stays, read-only, a snapshot. */
	x->md_ro = false;
	blob_xattr_remove(x, BLOB_XATTR_SNAPSHOT_PENDING_REMOVAL, true);
	blob_xattr_remove(x, BLOB_XATTR_SNAPSHOT_IN_PROGRESS, true);
	x->data_ro_flags |= BLOB_FLAG_READ_ONLY;
	x->data_ro = true;
	x->md_ro = true;
	x->dirty = true;
	blob_persist(x, settle_written, ctx);
}

static void settle_next(struct load_ctx *ctx)
{
	if (ctx->rc != 0) {
		load_fail(ctx, ctx->rc);
		return;
	}
	while (ctx->settle_pos < ctx->nrecs &&
	       ctx->recs[ctx->settle_pos].fate != FATE_SETTLE_KEEP &&
	       ctx->recs[ctx->settle_pos].fate != FATE_SETTLE_DROP) {
		ctx->settle_pos++;
	}
	if (ctx->settle_pos == ctx->nrecs) {
		load_finish(ctx);
		return;
	}
	ctx->blob = blob_alloc(ctx->bs, ctx->recs[ctx->settle_pos].id);
	if (ctx->blob == NULL) {
		load_fail(ctx, -ENOMEM);
		return;
	}
	blob_md_load(ctx->blob, settle_loaded, ctx);
}

static void super_written(void *arg, int rc)
{
	struct load_ctx *ctx = arg;

	if (rc != 0) {
		SPIO_ERRLOG("blobstore load: writing the super block failed: %s\n", strerror(-rc));
		load_fail(ctx, rc);
		return;
	}
	ctx->settle_pos = 0;
	settle_next(ctx);
}

static const char *pending_name(uint8_t pending)
{
	return pending == PENDING_SNAPSHOT ? BLOB_XATTR_SNAPSHOT_IN_PROGRESS
					   : BLOB_XATTR_SNAPSHOT_PENDING_REMOVAL;
}

/* Shared clusters or pages are allowed only between a blob and the one its mark names. */
static int check_conflicts(struct load_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nconf; i++) {
		const struct load_conflict *c = &ctx->conf[i];
		const struct load_rec *a = rec_find(ctx, blob_page_to_id(c->a));
		const struct load_rec *b = rec_find(ctx, blob_page_to_id(c->b));

		if ((a->pending != PENDING_NONE && a->partner == b->id) ||
		    (b->pending != PENDING_NONE && b->partner == a->id)) {
			continue;
		}
		SPIO_ERRLOG("blobs 0x%" PRIx64 " and 0x%" PRIx64 " both own %s %" PRIu64 "\n",
			    a->id, b->id, c->cluster ? "cluster" : "md page", c->what);
		return -EINVAL;
	}
	return 0;
}

/* What to do with each marked blob (SPDK's bs_examine_clone), then parents must exist. */
static int decide(struct load_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nrecs; i++) {
		struct load_rec *r = &ctx->recs[i];
		const struct load_rec *p;

		if (r->pending == PENDING_NONE) {
			continue;
		}
		p = rec_find(ctx, r->partner);
		if (p == NULL) {
			/*
			 * Kept, and the mark removed: left marked, it would be settled
			 * against whatever blob takes that id later, and dropping it
			 * then orphans its clones (the store no longer loads).
			 */
			SPIO_WARNLOG("blob 0x%" PRIx64 ": %s names blob 0x%" PRIx64
				     ", which does not exist; kept as a snapshot\n",
				     r->id, pending_name(r->pending), r->partner);
			r->fate = FATE_SETTLE_KEEP;
			continue;
		}
		r->fate = p->parent == r->id ? FATE_SETTLE_KEEP : FATE_SETTLE_DROP;
	}
	for (size_t i = 0; i < ctx->nrecs; i++) {
		const struct load_rec *r = &ctx->recs[i];
		const struct load_rec *p;

		if (r->fate == FATE_SETTLE_DROP || r->parent == SPIO_BLOBID_INVALID) {
			continue;
		}
		p = rec_find(ctx, r->parent);
		if (p == NULL || p->fate == FATE_SETTLE_DROP) {
			SPIO_ERRLOG("blob 0x%" PRIx64 ": its parent snapshot 0x%" PRIx64
				    " does not exist\n",
				    r->id, r->parent);
			return -EINVAL;
		}
	}
	return 0;
}

static void blobs_checked(struct load_ctx *ctx)
{
	struct spio_blob_store *bs = ctx->bs;
	struct blob_super_block *s = bs->super;
	int rc;

	/* The metadata's own clusters are always in use. */
	for (uint64_t c = 0; c < bs->geo.md_clusters; c++) {
		bs_bits_set(&bs->used_clusters, c);
	}
	bs_recount_free_clusters(bs);
	rc = check_conflicts(ctx);
	if (rc == 0) {
		rc = decide(ctx);
	}
	if (rc != 0) {
		load_fail(ctx, rc);
		return;
	}
	if (ctx->recover) {
		SPIO_NOTICELOG("blobstore recovered: %" PRIu64 " blobs, %" PRIu64
			       " md pages and %" PRIu64 " clusters in use\n",
			       bs->used_blobids.nset, bs->used_md_pages.nset,
			       bs->used_clusters.nset);
	}
	free(ctx->page_owner);
	free(ctx->cluster_owner);
	ctx->page_owner = NULL;
	ctx->cluster_owner = NULL;
	/* What SPDK fills in for old images, written with the next super block. */
	s->size = bs->geo.size;
	s->io_unit_size = bs->geo.io_unit_size;
	s->md_page_size = bs->geo.md_page_size;
	bs_write_super(bs, false, super_written, ctx);
}

/*
 * Reading every blob
 */

static void next_blob(struct load_ctx *ctx);

static bool droppable(int rc)
{
	return rc == -EBADMSG || rc == -EINVAL || rc == -ERANGE || rc == -ENOENT;
}

static void blob_loaded(void *arg, int rc)
{
	struct load_ctx *ctx = arg;
	struct spio_blob *blob = ctx->blob;

	if (rc == 0) {
		rc = claim(ctx, blob);
	}
	if (rc != 0 && ctx->recover && droppable(rc)) {
		SPIO_NOTICELOG("blobstore recovery: blob 0x%" PRIx64
			       " dropped: its metadata does not check (%s)\n",
			       blob->id, strerror(-rc));
		rc = 0;
	} else if (rc != 0) {
		if (rc == -ENOENT) {
			SPIO_ERRLOG(
			    "blob 0x%" PRIx64
			    ": marked in the used blob id mask, but its page holds no blob\n",
			    blob->id);
			rc = -EINVAL;
		}
		SPIO_ERRLOG("blobstore load refused: blob 0x%" PRIx64 ": %s\n", blob->id,
			    strerror(-rc));
		load_fail(ctx, rc);
		return;
	}
	blob_free(blob);
	ctx->blob = NULL;
	next_blob(ctx);
}

static void next_blob(struct load_ctx *ctx)
{
	const struct bs_bits *ids = ctx->recover ? &ctx->found : &ctx->bs->used_blobids;
	uint64_t page = bs_bits_find_set(ids, ctx->next_page);

	if (page == UINT64_MAX) {
		blobs_checked(ctx);
		return;
	}
	ctx->next_page = page + 1;
	ctx->blob = blob_alloc(ctx->bs, blob_page_to_id((uint32_t)page));
	if (ctx->blob == NULL) {
		load_fail(ctx, -ENOMEM);
		return;
	}
	blob_md_load(ctx->blob, blob_loaded, ctx);
}

static void start_blobs(struct load_ctx *ctx)
{
	const struct blob_geometry *g = &ctx->bs->geo;

	ctx->page_owner = malloc(g->md_len * sizeof(*ctx->page_owner));
	ctx->cluster_owner = malloc(g->total_clusters * sizeof(*ctx->cluster_owner));
	if (ctx->page_owner == NULL || ctx->cluster_owner == NULL) {
		load_fail(ctx, -ENOMEM);
		return;
	}
	memset(ctx->page_owner, 0xff, g->md_len * sizeof(*ctx->page_owner));
	memset(ctx->cluster_owner, 0xff, g->total_clusters * sizeof(*ctx->cluster_owner));
	ctx->next_page = 0;
	next_blob(ctx);
}

/*
 * Recovery: find the blobs' first pages
 */

static void scan_next(struct load_ctx *ctx);

static void scan_read_done(void *arg, int rc)
{
	struct load_ctx *ctx = arg;
	struct spio_blob_store *bs = ctx->bs;
	uint64_t n = SPIO_MIN((uint64_t)ctx->scan_chunk, bs->geo.md_len - ctx->scan_pos);

	if (rc != 0) {
		SPIO_ERRLOG("blobstore recovery: reading md pages from %" PRIu64 " failed: %s\n",
			    ctx->scan_pos, strerror(-rc));
		load_fail(ctx, rc);
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		const struct blob_md_page *p =
		    (const struct blob_md_page *)((uint8_t *)ctx->buf + i * bs->geo.md_page_size);
		uint32_t idx = (uint32_t)(ctx->scan_pos + i);

		if (p->sequence_num == 0 && p->id == blob_page_to_id(idx) &&
		    blob_md_page_crc_ok(p)) {
			bs_bits_set(&ctx->found, idx);
		}
	}
	ctx->scan_pos += n;
	scan_next(ctx);
}

static void scan_next(struct load_ctx *ctx)
{
	struct spio_blob_store *bs = ctx->bs;
	uint64_t n = SPIO_MIN((uint64_t)ctx->scan_chunk, bs->geo.md_len - ctx->scan_pos);

	if (n == 0) {
		spio_dma_free(ctx->buf);
		ctx->buf = NULL;
		start_blobs(ctx);
		return;
	}
	bs_dev_read(bs, ctx->buf, bs_md_page_to_lba(bs, (uint32_t)ctx->scan_pos),
		    (uint32_t)(n * bs->blocks_per_page), scan_read_done, ctx);
}

static void start_recovery(struct load_ctx *ctx)
{
	struct spio_blob_store *bs = ctx->bs;
	uint64_t chunk = SPIO_MAX(1u, SCAN_CHUNK_BYTES / bs->geo.md_page_size);

	SPIO_NOTICELOG("blobstore: %s: rebuilding the masks from the metadata\n",
		       ctx->force_recover      ? "recovery forced"
		       : bs->super->clean == 0 ? "not unloaded cleanly"
					       : "no blob id mask (old format)");
	ctx->scan_chunk = (uint32_t)SPIO_MIN(chunk, bs->geo.md_len);
	ctx->buf = bs_md_buf_alloc(bs, ctx->scan_chunk);
	if (ctx->buf == NULL || bs_bits_resize(&ctx->found, bs->geo.md_len) != 0) {
		load_fail(ctx, -ENOMEM);
		return;
	}
	ctx->scan_pos = 0;
	scan_next(ctx);
}

/*
 * Clean load: the masks as written at unload
 */

static const uint8_t g_mask_types[] = {BLOB_MASK_USED_PAGES, BLOB_MASK_USED_CLUSTERS,
				       BLOB_MASK_USED_BLOBIDS};

static struct bs_bits *mask_bits(struct spio_blob_store *bs, uint8_t type)
{
	return type == BLOB_MASK_USED_PAGES	 ? &bs->used_md_pages
	       : type == BLOB_MASK_USED_CLUSTERS ? &bs->used_clusters
						 : &bs->used_blobids;
}

static void mask_read_next(struct load_ctx *ctx);

static void mask_read_done(void *arg, int rc)
{
	struct load_ctx *ctx = arg;
	struct spio_blob_store *bs = ctx->bs;
	uint8_t type = g_mask_types[ctx->mask_type];
	struct bs_bits *bits = mask_bits(bs, type);
	struct blob_fmt_err err;
	uint64_t start, len;

	if (rc != 0) {
		SPIO_ERRLOG("blobstore load: reading mask %u failed: %s\n", type, strerror(-rc));
		load_fail(ctx, rc);
		return;
	}
	blob_super_mask_region(bs->super, type, &start, &len);
	rc = blob_mask_decode(ctx->buf, len * bs->geo.md_page_size, type, bits->nbits, bits->bits,
			      &err);
	if (rc != 0) {
		SPIO_ERRLOG("blobstore load refused: %s\n", err.msg);
		load_fail(ctx, rc);
		return;
	}
	bs_bits_recount(bits);
	ctx->mask_type++;
	mask_read_next(ctx);
}

static void mask_read_next(struct load_ctx *ctx)
{
	struct spio_blob_store *bs = ctx->bs;
	uint64_t start, len;

	if (ctx->mask_type == SPIO_COUNTOF(g_mask_types)) {
		spio_dma_free(ctx->buf);
		ctx->buf = NULL;
		start_blobs(ctx);
		return;
	}
	blob_super_mask_region(bs->super, g_mask_types[ctx->mask_type], &start, &len);
	bs_dev_read(bs, ctx->buf, start * bs->blocks_per_page,
		    (uint32_t)(len * bs->blocks_per_page), mask_read_done, ctx);
}

static void start_masks(struct load_ctx *ctx)
{
	struct spio_blob_store *bs = ctx->bs;
	uint64_t start, len, most = 0;

	for (size_t i = 0; i < SPIO_COUNTOF(g_mask_types); i++) {
		blob_super_mask_region(bs->super, g_mask_types[i], &start, &len);
		most = SPIO_MAX(most, len);
	}
	ctx->buf = bs_md_buf_alloc(bs, (uint32_t)most);
	if (ctx->buf == NULL) {
		load_fail(ctx, -ENOMEM);
		return;
	}
	ctx->mask_type = 0;
	mask_read_next(ctx);
}

/*
 * The super block
 */

static void super_read_done(void *arg, int rc)
{
	struct load_ctx *ctx = arg;
	struct spio_blob_store *bs = ctx->bs;
	struct blob_fmt_err err;

	if (rc != 0) {
		SPIO_ERRLOG("blobstore load: reading the super block failed: %s\n", strerror(-rc));
		load_fail(ctx, rc);
		return;
	}
	rc = blob_super_validate(bs->super, ctx->dev->blockcnt, ctx->dev->blocklen, ctx->bstype,
				 NULL, &err);
	if (rc == -EILSEQ || rc == -ENXIO) {
		/* Not a blobstore, or another kind: the answer examine expects of most
		 * bdevs, not a failure worth an error line (SPDK is silent too). */
		SPIO_INFOLOG("blobstore load refused: %s\n", err.msg);
		load_fail(ctx, rc);
		return;
	}
	if (rc != 0) {
		SPIO_ERRLOG("blobstore load refused: %s\n", err.msg);
		load_fail(ctx, rc);
		return;
	}
	rc = bs_setup_from_super(bs);
	if (rc != 0) {
		load_fail(ctx, rc);
		return;
	}
	ctx->recover =
	    ctx->force_recover || bs->super->clean == 0 || bs->super->used_blobid_mask_len == 0;
	if (ctx->recover) {
		start_recovery(ctx);
	} else {
		start_masks(ctx);
	}
}

/* The options load uses, from the fields the caller's struct has. */
static int copy_opts(struct load_ctx *ctx, const struct spio_bs_opts *o)
{
	ctx->bs->max_channel_ops = BS_DEFAULT_CHANNEL_OPS;
	if (o == NULL) {
		return 0;
	}
#define OPT_OK(field) (offsetof(struct spio_bs_opts, field) + sizeof(o->field) <= o->opts_size)
	if (o->opts_size == 0) {
		SPIO_ERRLOG("spio_bs_load: opts_size is 0\n");
		return -EINVAL;
	}
	if (OPT_OK(max_channel_ops)) {
		if (o->max_channel_ops == 0) {
			SPIO_ERRLOG("spio_bs_load: max_channel_ops is 0\n");
			return -EINVAL;
		}
		ctx->bs->max_channel_ops = o->max_channel_ops;
	}
	if (OPT_OK(bstype)) {
		memcpy(ctx->bstype, o->bstype.bstype, sizeof(ctx->bstype));
	}
	if (OPT_OK(iter_cb_fn) && OPT_OK(iter_cb_arg)) {
		ctx->iter_cb_fn = o->iter_cb_fn;
		ctx->iter_cb_arg = o->iter_cb_arg;
	}
	if (OPT_OK(force_recover)) {
		ctx->force_recover = o->force_recover;
	}
#undef OPT_OK
	return 0;
}

static bool blocklen_ok(const struct spio_bs_dev *dev)
{
	/* The super block is read and written as one 4 KiB unit of whole blocks. */
	return dev->blocklen >= 512 && dev->blocklen <= BLOB_PAGE_SIZE &&
	       (dev->blocklen & (dev->blocklen - 1)) == 0 &&
	       dev->blockcnt >= BLOB_PAGE_SIZE / dev->blocklen;
}

void spio_bs_load(struct spio_bs_dev *dev, struct spio_bs_opts *opts,
		  spio_bs_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct spio_thread *thread = spio_get_thread();
	struct load_ctx *ctx;
	int rc = -ENOMEM;

	if (dev == NULL || cb_fn == NULL || thread == NULL) {
		SPIO_ERRLOG("spio_bs_load: %s\n", dev == NULL	  ? "NULL device"
						  : cb_fn == NULL ? "NULL callback"
								  : "not called on a spio thread");
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx != NULL) {
		ctx->dev = dev;
		ctx->cb_fn = cb_fn;
		ctx->cb_arg = cb_arg;
		ctx->bs = bs_alloc(dev);
	}
	if (ctx != NULL && ctx->bs != NULL) {
		rc = copy_opts(ctx, opts);
		if (rc == 0 && !blocklen_ok(dev)) {
			SPIO_ERRLOG("spio_bs_load: device of %" PRIu64 " blocks of %" PRIu32
				    " bytes: expected blocks of 512..4096 bytes, 4096 bytes at "
				    "least\n",
				    dev->blockcnt, dev->blocklen);
			rc = -EINVAL;
		}
	}
	if (rc != 0) {
		if (ctx != NULL) {
			bs_free(ctx->bs);
			free(ctx);
		}
		dev->destroy(dev);
		fail_early(thread, cb_fn, cb_arg, rc);
		return;
	}
	bs_dev_read(ctx->bs, ctx->bs->super, 0, BLOB_PAGE_SIZE / dev->blocklen, super_read_done,
		    ctx);
}
