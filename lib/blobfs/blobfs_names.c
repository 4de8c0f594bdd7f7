/*
 * Delete, rename, stat and list.
 *
 * Rename over an existing name is atomic across a crash: the source's
 * metadata gets the new name together with BLOBFS_XATTR_REPLACES (the
 * target's blob id) in one sync_md; only then is the target deleted (or,
 * if open, marked "is_deleted"). A crash in between leaves two blobs with
 * the name, and load deletes the one the other replaces. A later rename
 * of the file rewrites or removes the mark; until then it is harmless
 * (load acts only when the replaced blob still has the same name).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blobfs_internal.h"
#include "spio/log.h"

static int ns_check(struct spio_filesystem *fs, const char *name)
{
	int rc = blobfs_check_name(name);

	if (rc != 0) {
		return rc;
	}
	if (fs == NULL) {
		return -EINVAL;
	}
	return blobfs_on_fs_thread(fs) ? 0 : -EXDEV;
}

/*
 * Delete
 */

struct delete_ctx {
	struct spio_filesystem *fs;
	struct blobfs_file *file;
	spio_fs_op_complete cb_fn;
	void *cb_arg;
	struct blobfs_waiter waiter;
	char name[SPIO_FILE_NAME_MAX + 1];
};

static void delete_finish(struct delete_ctx *ctx, int rc)
{
	spio_fs_op_complete cb_fn = ctx->cb_fn;
	void *cb_arg = ctx->cb_arg;

	free(ctx);
	blobfs_reply_later(cb_fn, cb_arg, rc);
}

static void delete_blob_done(void *arg, int bserrno)
{
	struct delete_ctx *ctx = arg;
	struct blobfs_file *file = ctx->file;

	if (bserrno != 0) {
		blobfs_file_unbusy(file);
		delete_finish(ctx, bserrno);
		return;
	}
	blobfs_table_remove(ctx->fs, file);
	blobfs_file_unbusy(file);
	blobfs_file_free(file);
	delete_finish(ctx, 0);
}

/* An open file leaves the namespace; its blob goes at the last close. */
static void delete_open_file_gone(struct spio_filesystem *fs, struct blobfs_file *file)
{
	blobfs_table_remove(fs, file);
	file->is_deleted = true;
	TAILQ_INSERT_TAIL(&fs->deleted_open, file, link);
}

static void delete_marked(void *arg, int bserrno)
{
	struct delete_ctx *ctx = arg;
	struct blobfs_file *file = ctx->file;

	if (bserrno != 0) {
		spio_blob_remove_xattr(file->blob, BLOBFS_XATTR_IS_DELETED);
		blobfs_file_unbusy(file);
		delete_finish(ctx, bserrno);
		return;
	}
	delete_open_file_gone(ctx->fs, file);
	blobfs_file_unbusy(file);
	delete_finish(ctx, 0);
}

static void delete_start(void *arg)
{
	struct delete_ctx *ctx = arg;
	struct blobfs_file *file = blobfs_table_find(ctx->fs, ctx->name);
	uint8_t one = 1;
	int rc;

	if (file == NULL) {
		delete_finish(ctx, -ENOENT);
		return;
	}
	if (file->busy) {
		blobfs_file_wait(file, &ctx->waiter, delete_start, ctx);
		return;
	}
	ctx->file = file;
	blobfs_file_busy(file);
	if (file->blob == NULL) {
		spio_bs_delete_blob(ctx->fs->bs, file->blobid, delete_blob_done, ctx);
		return;
	}
	/* SPDK's mark: one byte (a bool). */
	rc = spio_blob_set_xattr(file->blob, BLOBFS_XATTR_IS_DELETED, &one, sizeof(one));
	if (rc != 0) {
		blobfs_file_unbusy(file);
		delete_finish(ctx, rc);
		return;
	}
	spio_blob_sync_md(file->blob, delete_marked, ctx);
}

void spio_fs_delete_file_async(struct spio_filesystem *fs, const char *name,
			       spio_fs_op_complete cb_fn, void *cb_arg)
{
	struct delete_ctx *ctx;
	int rc;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("spio_fs_delete_file_async: no callback\n");
		return;
	}
	rc = ns_check(fs, name);
	ctx = rc == 0 ? calloc(1, sizeof(*ctx)) : NULL;
	if (ctx == NULL) {
		blobfs_reply_later(cb_fn, cb_arg, rc != 0 ? rc : -ENOMEM);
		return;
	}
	ctx->fs = fs;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	memcpy(ctx->name, name, strlen(name) + 1);
	delete_start(ctx);
}

/*
 * Rename
 */

struct rename_ctx {
	struct spio_filesystem *fs;
	struct blobfs_file *src;
	struct blobfs_file *dst; /* the file that had new_name, or NULL */
	struct spio_blob *blob;	 /* our reference on the source's blob */
	spio_fs_op_complete cb_fn;
	void *cb_arg;
	int rc;
	uint64_t replaces_le;
	struct blobfs_waiter waiter;
	char old_name[SPIO_FILE_NAME_MAX + 1];
	char new_name[SPIO_FILE_NAME_MAX + 1];
};

static void rename_finish(struct rename_ctx *ctx)
{
	spio_fs_op_complete cb_fn = ctx->cb_fn;
	void *cb_arg = ctx->cb_arg;
	int rc = ctx->rc;

	free(ctx);
	blobfs_reply_later(cb_fn, cb_arg, rc);
}

static void rename_unbusy(struct rename_ctx *ctx)
{
	if (ctx->dst != NULL) {
		blobfs_file_unbusy(ctx->dst);
	}
	blobfs_file_unbusy(ctx->src);
}

static void rename_closed(void *arg, int bserrno)
{
	struct rename_ctx *ctx = arg;

	if (bserrno != 0 && ctx->rc == 0) {
		SPIO_ERRLOG("blobfs rename: closing '%s' failed: %s\n", ctx->new_name,
			    strerror(-bserrno));
	}
	blobfs_file_unbusy(ctx->src);
	rename_finish(ctx);
}

/* The rename is done on disk; the target is gone or marked. Drop our blob reference. */
static void rename_close(struct rename_ctx *ctx)
{
	spio_blob_close(ctx->blob, rename_closed, ctx);
}

static void rename_dst_deleted(void *arg, int bserrno)
{
	struct rename_ctx *ctx = arg;
	struct blobfs_file *dst = ctx->dst;

	if (bserrno != 0) {
		/* The source replaces it on disk: the next load deletes it. */
		SPIO_ERRLOG("blobfs rename: deleting the replaced file failed: %s\n",
			    strerror(-bserrno));
	}
	ctx->dst = NULL;
	blobfs_file_unbusy(dst);
	blobfs_file_free(dst);
	rename_close(ctx);
}

static void rename_dst_marked(void *arg, int bserrno)
{
	struct rename_ctx *ctx = arg;
	struct blobfs_file *dst = ctx->dst;

	if (bserrno != 0) {
		/* Still gone: its last close deletes the blob, or the next load does. */
		SPIO_ERRLOG("blobfs rename: marking the replaced open file failed: %s\n",
			    strerror(-bserrno));
	}
	ctx->dst = NULL;
	blobfs_file_unbusy(dst);
	rename_close(ctx);
}

static void rename_revert_closed(void *arg, int bserrno)
{
	struct rename_ctx *ctx = arg;

	(void)bserrno;
	rename_unbusy(ctx);
	rename_finish(ctx);
}

/* Undo the in-memory xattrs after a failure, and close our reference. */
static void rename_revert(struct rename_ctx *ctx, int rc)
{
	ctx->rc = rc;
	spio_blob_set_xattr(ctx->blob, BLOBFS_XATTR_NAME, ctx->old_name,
			    (uint16_t)(strlen(ctx->old_name) + 1));
	spio_blob_remove_xattr(ctx->blob, BLOBFS_XATTR_REPLACES);
	spio_blob_close(ctx->blob, rename_revert_closed, ctx);
}

static void rename_synced(void *arg, int bserrno)
{
	struct rename_ctx *ctx = arg;
	struct spio_filesystem *fs = ctx->fs;
	struct blobfs_file *src = ctx->src, *dst = ctx->dst;
	uint8_t one = 1;

	if (bserrno != 0) {
		rename_revert(ctx, bserrno);
		return;
	}
	/* On disk now: the namespace follows. */
	blobfs_table_remove(fs, src);
	memcpy(src->name, ctx->new_name, strlen(ctx->new_name) + 1);
	if (dst == NULL) {
		blobfs_table_insert(fs, src);
		rename_close(ctx);
		return;
	}
	blobfs_table_remove(fs, dst);
	blobfs_table_insert(fs, src);
	if (dst->blob == NULL) {
		spio_bs_delete_blob(fs->bs, dst->blobid, rename_dst_deleted, ctx);
		return;
	}
	dst->is_deleted = true;
	TAILQ_INSERT_TAIL(&fs->deleted_open, dst, link);
	if (spio_blob_set_xattr(dst->blob, BLOBFS_XATTR_IS_DELETED, &one, sizeof(one)) != 0) {
		rename_dst_marked(ctx, -ENOMEM);
		return;
	}
	spio_blob_sync_md(dst->blob, rename_dst_marked, ctx);
}

static void rename_src_opened(void *arg, struct spio_blob *blob, int bserrno)
{
	struct rename_ctx *ctx = arg;
	int rc;

	if (bserrno != 0) {
		ctx->rc = bserrno;
		rename_unbusy(ctx);
		rename_finish(ctx);
		return;
	}
	ctx->blob = blob;
	rc = spio_blob_set_xattr(blob, BLOBFS_XATTR_NAME, ctx->new_name,
				 (uint16_t)(strlen(ctx->new_name) + 1));
	if (rc == 0 && ctx->dst != NULL) {
		ctx->replaces_le = htole64(ctx->dst->blobid);
		rc = spio_blob_set_xattr(blob, BLOBFS_XATTR_REPLACES, &ctx->replaces_le,
					 sizeof(ctx->replaces_le));
	} else if (rc == 0) {
		/* A mark left by an earlier rename must not outlive this one. */
		(void)spio_blob_remove_xattr(blob, BLOBFS_XATTR_REPLACES);
	}
	if (rc != 0) {
		rename_revert(ctx, rc);
		return;
	}
	spio_blob_sync_md(blob, rename_synced, ctx);
}

static void rename_start(void *arg)
{
	struct rename_ctx *ctx = arg;
	struct blobfs_file *src = blobfs_table_find(ctx->fs, ctx->old_name);
	struct blobfs_file *dst;

	if (src == NULL) {
		ctx->rc = -ENOENT;
		rename_finish(ctx);
		return;
	}
	/* Wait for one busy file at a time, holding none: two renames never deadlock. */
	if (src->busy) {
		blobfs_file_wait(src, &ctx->waiter, rename_start, ctx);
		return;
	}
	if (strcmp(ctx->old_name, ctx->new_name) == 0) {
		rename_finish(ctx);
		return;
	}
	dst = blobfs_table_find(ctx->fs, ctx->new_name);
	if (dst != NULL && dst->busy) {
		blobfs_file_wait(dst, &ctx->waiter, rename_start, ctx);
		return;
	}
	ctx->src = src;
	ctx->dst = dst;
	blobfs_file_busy(src);
	if (dst != NULL) {
		blobfs_file_busy(dst);
	}
	/* Opening an open blob just takes another reference on it. */
	spio_bs_open_blob(ctx->fs->bs, src->blobid, rename_src_opened, ctx);
}

void spio_fs_rename_file_async(struct spio_filesystem *fs, const char *old_name,
			       const char *new_name, spio_fs_op_complete cb_fn, void *cb_arg)
{
	struct rename_ctx *ctx;
	int rc;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("spio_fs_rename_file_async: no callback\n");
		return;
	}
	rc = ns_check(fs, old_name);
	if (rc == 0) {
		rc = ns_check(fs, new_name);
	}
	ctx = rc == 0 ? calloc(1, sizeof(*ctx)) : NULL;
	if (ctx == NULL) {
		blobfs_reply_later(cb_fn, cb_arg, rc != 0 ? rc : -ENOMEM);
		return;
	}
	ctx->fs = fs;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	memcpy(ctx->old_name, old_name, strlen(old_name) + 1);
	memcpy(ctx->new_name, new_name, strlen(new_name) + 1);
	rename_start(ctx);
}

/*
 * Stat and list
 */

struct stat_ctx {
	struct spio_filesystem *fs;
	spio_file_stat_op_complete cb_fn;
	void *cb_arg;
	struct blobfs_waiter waiter;
	char name[SPIO_FILE_NAME_MAX + 1];
};

static void stat_start(void *arg)
{
	struct stat_ctx *ctx = arg;
	struct blobfs_file *file = blobfs_table_find(ctx->fs, ctx->name);
	struct blobfs_reply r = {
	    .kind = BLOBFS_REPLY_STAT, .fn.stat = ctx->cb_fn, .arg = ctx->cb_arg};

	if (file != NULL && file->creating) {
		/* Its blob id is not known yet. */
		blobfs_file_wait(file, &ctx->waiter, stat_start, ctx);
		return;
	}
	if (file == NULL) {
		r.rc = -ENOENT;
	} else {
		r.st.blobid = file->blobid;
		r.st.size = file->length;
	}
	free(ctx);
	blobfs_reply_send(&r);
}

void spio_fs_file_stat_async(struct spio_filesystem *fs, const char *name,
			     spio_file_stat_op_complete cb_fn, void *cb_arg)
{
	struct stat_ctx *ctx;
	int rc;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("spio_fs_file_stat_async: no callback\n");
		return;
	}
	rc = ns_check(fs, name);
	ctx = rc == 0 ? calloc(1, sizeof(*ctx)) : NULL;
	if (ctx == NULL) {
		blobfs_reply_send(&(struct blobfs_reply){.kind = BLOBFS_REPLY_STAT,
							 .fn.stat = cb_fn,
							 .arg = cb_arg,
							 .rc = rc != 0 ? rc : -ENOMEM});
		return;
	}
	ctx->fs = fs;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	memcpy(ctx->name, name, strlen(name) + 1);
	stat_start(ctx);
}

void spio_fs_list_async(struct spio_filesystem *fs, spio_fs_list_complete cb_fn, void *cb_arg)
{
	struct blobfs_reply r = {.kind = BLOBFS_REPLY_LIST, .fn.list = cb_fn, .arg = cb_arg};
	struct blobfs_file *file;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("spio_fs_list_async: no callback\n");
		return;
	}
	if (fs == NULL) {
		r.rc = -EINVAL;
	} else if (!blobfs_on_fs_thread(fs)) {
		r.rc = -EXDEV;
	} else if (fs->file_count > 0) {
		r.ents = calloc(fs->file_count, sizeof(*r.ents));
		if (r.ents == NULL) {
			r.rc = -ENOMEM;
		} else {
			TAILQ_FOREACH (file, &fs->files, link) {
				struct spio_fs_dirent *e = &r.ents[r.count];

				if (file->creating) {
					continue;
				}
				r.count++;
				memcpy(e->name, file->name, sizeof(e->name));
				e->size = file->length;
				e->blobid = file->blobid;
			}
		}
	}
	blobfs_reply_send(&r);
}
