/*
 * Load: open the blobstore, check its type, read every blob's xattrs into
 * the file table, then finish what a crash left half done: delete the
 * blobs marked "is_deleted" (deleted while open) and the targets of
 * interrupted renames over an existing name (see BLOBFS_XATTR_REPLACES).
 * The scan reads everything before it deletes anything, so a refused
 * filesystem (-EINVAL, -EILSEQ) loses nothing: the blobstore is unloaded.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blobfs_internal.h"
#include "spio/blob_bdev.h"
#include "spio/log.h"

/* What the scan found on one blob. */
struct load_rec {
	spio_blob_id id;
	spio_blob_id replaces;
	uint64_t length;
	bool has_replaces;
	bool drop; /* delete its blob; not a file */
	char name[SPIO_FILE_NAME_MAX + 1];
};

struct load_ctx {
	struct spio_filesystem *fs;
	struct spio_blobfs_opts opts;
	spio_fs_op_with_handle_complete cb_fn;
	void *cb_arg;
	int rc;
	struct load_rec *recs; /* in blob id order (the iteration's) */
	size_t nrecs;
	size_t caprecs;
	size_t next_drop; /* the deletion pass's position in recs */
};

static void load_ctx_free(struct load_ctx *ctx)
{
	free(ctx->recs);
	free(ctx);
}

static void load_failed_unloaded(void *arg, int bserrno)
{
	struct load_ctx *ctx = arg;

	if (bserrno != 0) {
		SPIO_ERRLOG("blobfs load: unloading the blobstore failed: %s\n",
			    strerror(-bserrno));
	}
	blobfs_fs_free(ctx->fs);
	ctx->cb_fn(ctx->cb_arg, NULL, ctx->rc);
	load_ctx_free(ctx);
}

/* After the blobstore loaded: give it back (unload, nothing destroyed). */
static void load_fail(struct load_ctx *ctx, int rc)
{
	ctx->rc = rc;
	spio_bs_unload(ctx->fs->bs, load_failed_unloaded, ctx);
}

static void load_fail_closed(void *arg, int bserrno)
{
	struct load_ctx *ctx = arg;

	(void)bserrno;
	load_fail(ctx, ctx->rc);
}

/* -EILSEQ unless the blob carries a valid name and length. */
static int parse_blob(struct spio_blob *blob, struct load_rec *rec)
{
	const void *value;
	size_t len;
	uint64_t v;

	memset(rec, 0, sizeof(*rec));
	rec->id = spio_blob_get_id(blob);
	/* "name": 1..255 bytes then its NUL, no NUL inside. */
	if (spio_blob_get_xattr_value(blob, BLOBFS_XATTR_NAME, &value, &len) != 0 || len < 2 ||
	    len > SPIO_FILE_NAME_MAX + 1 || ((const char *)value)[len - 1] != '\0' ||
	    strlen(value) != len - 1) {
		return -EILSEQ;
	}
	memcpy(rec->name, value, len);
	if (spio_blob_get_xattr_value(blob, BLOBFS_XATTR_LENGTH, &value, &len) != 0 ||
	    len != sizeof(uint64_t)) {
		return -EILSEQ;
	}
	memcpy(&v, value, sizeof(v));
	rec->length = le64toh(v);
	/* SPDK writes one byte (a bool); presence is what counts. */
	rec->drop = spio_blob_get_xattr_value(blob, BLOBFS_XATTR_IS_DELETED, &value, &len) == 0;
	if (spio_blob_get_xattr_value(blob, BLOBFS_XATTR_REPLACES, &value, &len) == 0 &&
	    len == sizeof(uint64_t)) {
		memcpy(&v, value, sizeof(v));
		rec->replaces = le64toh(v);
		rec->has_replaces = true;
	}
	return 0;
}

static struct load_rec *find_rec(struct load_ctx *ctx, spio_blob_id id)
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

/* Decide which blobs go and fill the table. 0, -EILSEQ (a name twice), -ENOMEM. */
static int load_build(struct load_ctx *ctx)
{
	struct spio_filesystem *fs = ctx->fs;

	/*
	 * A rename over an existing name wrote the source with the new name
	 * and the target's id first; a crash before the target went leaves two
	 * blobs with the name: the target is the one to go.
	 */
	for (size_t i = 0; i < ctx->nrecs; i++) {
		struct load_rec *r = &ctx->recs[i];
		struct load_rec *t;

		if (r->drop || !r->has_replaces) {
			continue;
		}
		t = find_rec(ctx, r->replaces);
		if (t != NULL && t != r && strcmp(t->name, r->name) == 0) {
			t->drop = true;
		}
	}
	for (size_t i = 0; i < ctx->nrecs; i++) {
		struct load_rec *r = &ctx->recs[i];
		struct blobfs_file *file;

		if (r->drop) {
			continue;
		}
		if (blobfs_table_find(fs, r->name) != NULL) {
			SPIO_ERRLOG("blobfs load: two files named '%s' (blob 0x%" PRIx64 ")\n",
				    r->name, r->id);
			return -EILSEQ;
		}
		file = blobfs_file_alloc(fs, r->name, r->id, r->length);
		if (file == NULL) {
			return -ENOMEM;
		}
		blobfs_table_insert(fs, file);
	}
	return 0;
}

static void load_finish(struct load_ctx *ctx)
{
	struct spio_filesystem *fs = ctx->fs;
	int rc = blobfs_fs_start(fs, &ctx->opts);

	if (rc != 0) {
		load_fail(ctx, rc);
		return;
	}
	ctx->cb_fn(ctx->cb_arg, fs, 0);
	load_ctx_free(ctx);
}

static void drop_next(struct load_ctx *ctx);

static void drop_done(void *arg, int bserrno)
{
	struct load_ctx *ctx = arg;

	if (bserrno != 0) {
		SPIO_ERRLOG("blobfs load: deleting blob 0x%" PRIx64 " failed: %s\n",
			    ctx->recs[ctx->next_drop].id, strerror(-bserrno));
		load_fail(ctx, bserrno);
		return;
	}
	ctx->next_drop++;
	drop_next(ctx);
}

static void drop_next(struct load_ctx *ctx)
{
	while (ctx->next_drop < ctx->nrecs && !ctx->recs[ctx->next_drop].drop) {
		ctx->next_drop++;
	}
	if (ctx->next_drop == ctx->nrecs) {
		load_finish(ctx);
		return;
	}
	spio_bs_delete_blob(ctx->fs->bs, ctx->recs[ctx->next_drop].id, drop_done, ctx);
}

static void iter_cb(void *arg, struct spio_blob *blob, int bserrno)
{
	struct load_ctx *ctx = arg;
	int rc;

	if (bserrno == -ENOENT) {
		rc = load_build(ctx);
		if (rc != 0) {
			load_fail(ctx, rc);
			return;
		}
		drop_next(ctx);
		return;
	}
	if (bserrno != 0) {
		load_fail(ctx, bserrno);
		return;
	}
	if (ctx->nrecs == ctx->caprecs) {
		size_t cap = ctx->caprecs == 0 ? 64 : ctx->caprecs * 2;
		struct load_rec *r = realloc(ctx->recs, cap * sizeof(*r));

		if (r == NULL) {
			ctx->rc = -ENOMEM;
			spio_blob_close(blob, load_fail_closed, ctx);
			return;
		}
		ctx->recs = r;
		ctx->caprecs = cap;
	}
	rc = parse_blob(blob, &ctx->recs[ctx->nrecs]);
	if (rc != 0) {
		SPIO_ERRLOG("blobfs load: blob 0x%" PRIx64 " has no valid name or length\n",
			    spio_blob_get_id(blob));
		ctx->rc = rc;
		spio_blob_close(blob, load_fail_closed, ctx);
		return;
	}
	ctx->nrecs++;
	spio_bs_iter_next(ctx->fs->bs, blob, iter_cb, ctx);
}

static void load_bs_done(void *arg, struct spio_blob_store *bs, int bserrno)
{
	struct load_ctx *ctx = arg;
	struct spio_bs_type want = {{0}}, zero = {{0}}, got;

	if (bserrno != 0) {
		/* The blobstore destroyed the device. */
		blobfs_fs_free(ctx->fs);
		ctx->cb_fn(ctx->cb_arg, NULL, bserrno);
		load_ctx_free(ctx);
		return;
	}
	ctx->fs->bs = bs;
	memcpy(want.bstype, SPIO_BLOBFS_BSTYPE, strlen(SPIO_BLOBFS_BSTYPE));
	got = spio_bs_get_bstype(bs);
	if (memcmp(&got, &zero, sizeof(got)) == 0) {
		/* As SPDK: an untyped blobstore becomes a BlobFS (written at unload). */
		spio_bs_set_bstype(bs, want);
	} else if (memcmp(&got, &want, sizeof(got)) != 0) {
		SPIO_ERRLOG("blobfs load: the blobstore is of another type\n");
		load_fail(ctx, -EINVAL);
		return;
	}
	spio_bs_iter_first(bs, iter_cb, ctx);
}

void spio_fs_load(struct spio_bs_dev *dev, const struct spio_blobfs_opts *opts,
		  spio_fs_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct spio_blobfs_opts o;
	struct spio_bs_opts bo;
	struct spio_filesystem *fs;
	struct load_ctx *ctx;

	fs = blobfs_fs_begin(dev, opts, &o, cb_fn, cb_arg);
	if (fs == NULL) {
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		blobfs_fs_free(fs);
		dev->destroy(dev);
		blobfs_reply_send(&(struct blobfs_reply){
		    .kind = BLOBFS_REPLY_FS, .fn.fs = cb_fn, .arg = cb_arg, .rc = -ENOMEM});
		return;
	}
	ctx->fs = fs;
	ctx->opts = o;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	/* Any type loads; the type is checked (and an empty one set) afterwards. */
	spio_bs_opts_init(&bo, sizeof(bo));
	memset(&bo.bstype, 0, sizeof(bo.bstype));
	spio_bs_load(dev, &bo, load_bs_done, ctx);
}
