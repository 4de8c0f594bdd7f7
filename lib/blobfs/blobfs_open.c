/*
 * Open, create and close. A file's blob is opened at its first handle and
 * closed at its last close (after the data half wrote back the cache); a
 * file deleted while open loses its blob at that last close.
 *
 * A create puts the file into the table at once, marked busy and
 * "creating", so a second operation on the same name waits for it (and
 * then sees the file, or no file if the create failed) instead of making
 * a second blob. First opens and last closes are busy the same way.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blobfs_internal.h"
#include "spio/log.h"

#define OPEN_FLAGS_KNOWN (SPIO_BLOBFS_OPEN_CREATE | SPIO_BLOBFS_OPEN_EXCL | SPIO_BLOBFS_OPEN_RDONLY)

struct open_ctx {
	struct spio_filesystem *fs;
	uint32_t flags;
	bool create_only; /* spio_fs_create_file_async: no handle */
	union {
		spio_file_op_with_handle_complete open;
		spio_fs_op_complete create;
	} cb_fn;
	void *cb_arg;
	struct spio_file *handle; /* allocated up front, freed on failure */
	struct blobfs_file *file;
	struct blobfs_waiter waiter;
	char name[SPIO_FILE_NAME_MAX + 1];
	uint64_t zero_length; /* the new file's "length" xattr */
	int rc;		      /* kept while the blob closes after a failure */
};

static void open_finish(struct open_ctx *ctx, int rc)
{
	struct blobfs_reply r = {.arg = ctx->cb_arg, .rc = rc};

	if (ctx->create_only) {
		r.kind = BLOBFS_REPLY_OP;
		r.fn.op = ctx->cb_fn.create;
	} else {
		r.kind = BLOBFS_REPLY_FILE;
		r.fn.file = ctx->cb_fn.open;
		r.ptr = rc == 0 ? ctx->handle : NULL;
	}
	if (rc != 0) {
		free(ctx->handle);
	}
	free(ctx);
	/* Also from blob callbacks: a message costs little and keeps one path. */
	blobfs_reply_send(&r);
}

static void handle_attach(struct open_ctx *ctx, struct blobfs_file *file)
{
	struct spio_file *h = ctx->handle;

	h->file = file;
	h->writable = (ctx->flags & SPIO_BLOBFS_OPEN_RDONLY) == 0;
	file->open_count++;
	if (h->writable) {
		file->writers++;
	}
}

static void open_blob_closed(void *arg, int bserrno)
{
	struct open_ctx *ctx = arg;
	(void)bserrno;
	ctx->file->blob = NULL;
	blobfs_file_unbusy(ctx->file);
	open_finish(ctx, ctx->rc);
}

static void open_blob_done(void *arg, struct spio_blob *blob, int bserrno)
{
	struct open_ctx *ctx = arg;
	struct blobfs_file *file = ctx->file;
	int rc;

	if (bserrno != 0) {
		blobfs_file_unbusy(file);
		open_finish(ctx, bserrno);
		return;
	}
	file->blob = blob;
	rc = blobfs_file_data_open(file);
	if (rc != 0) {
		ctx->rc = rc;
		spio_blob_close(blob, open_blob_closed, ctx);
		return;
	}
	handle_attach(ctx, file);
	blobfs_file_unbusy(file);
	open_finish(ctx, 0);
}

/* The file is busy (ours): open its blob for the first handle. */
static void open_blob(struct open_ctx *ctx)
{
	spio_bs_open_blob(ctx->fs->bs, ctx->file->blobid, open_blob_done, ctx);
}

static void create_get_xattr(void *xctx, const char *name, const void **value, size_t *len)
{
	struct open_ctx *ctx = xctx;

	if (strcmp(name, BLOBFS_XATTR_NAME) == 0) {
		*value = ctx->name;
		*len = strlen(ctx->name) + 1;
	} else {
		*value = &ctx->zero_length;
		*len = sizeof(ctx->zero_length);
	}
}

static void create_done(void *arg, spio_blob_id blobid, int bserrno)
{
	struct open_ctx *ctx = arg;
	struct blobfs_file *file = ctx->file;

	if (bserrno != 0) {
		/* Out of the table before the waiters start over: they see no file. */
		blobfs_table_remove(ctx->fs, file);
		blobfs_file_unbusy(file);
		blobfs_file_free(file);
		open_finish(ctx, bserrno);
		return;
	}
	file->blobid = blobid;
	file->creating = false;
	if (ctx->create_only) {
		blobfs_file_unbusy(file);
		open_finish(ctx, 0);
		return;
	}
	open_blob(ctx);
}

static void open_create(struct open_ctx *ctx)
{
	static char *names[] = {BLOBFS_XATTR_NAME, BLOBFS_XATTR_LENGTH};
	struct spio_blob_opts bo;
	struct blobfs_file *file;

	file = blobfs_file_alloc(ctx->fs, ctx->name, SPIO_BLOBID_INVALID, 0);
	if (file == NULL) {
		open_finish(ctx, -ENOMEM);
		return;
	}
	file->creating = true;
	blobfs_table_insert(ctx->fs, file);
	blobfs_file_busy(file);
	ctx->file = file;
	ctx->zero_length = htole64(0);
	spio_blob_opts_init(&bo, sizeof(bo));
	bo.num_clusters = 0;
	bo.thin_provision = false;
	bo.xattrs.count = 2;
	bo.xattrs.names = names;
	bo.xattrs.ctx = ctx;
	bo.xattrs.get_value = create_get_xattr;
	spio_bs_create_blob_ext(ctx->fs->bs, &bo, create_done, ctx);
}

static void open_start(void *arg)
{
	struct open_ctx *ctx = arg;
	struct blobfs_file *file = blobfs_table_find(ctx->fs, ctx->name);

	if (file == NULL) {
		if ((ctx->flags & SPIO_BLOBFS_OPEN_CREATE) == 0) {
			open_finish(ctx, -ENOENT);
			return;
		}
		open_create(ctx);
		return;
	}
	if (file->busy) {
		blobfs_file_wait(file, &ctx->waiter, open_start, ctx);
		return;
	}
	if (ctx->create_only || ((ctx->flags & SPIO_BLOBFS_OPEN_CREATE) != 0 &&
				 (ctx->flags & SPIO_BLOBFS_OPEN_EXCL) != 0)) {
		open_finish(ctx, -EEXIST);
		return;
	}
	if ((ctx->flags & SPIO_BLOBFS_OPEN_RDONLY) == 0 && file->writers > 0) {
		open_finish(ctx, -EBUSY);
		return;
	}
	ctx->file = file;
	if (file->blob != NULL) {
		handle_attach(ctx, file);
		open_finish(ctx, 0);
		return;
	}
	blobfs_file_busy(file);
	open_blob(ctx);
}

static int open_check(struct spio_filesystem *fs, const char *name, uint32_t flags)
{
	int rc = blobfs_check_name(name);

	if (rc != 0) {
		return rc;
	}
	if (fs == NULL || (flags & ~(uint32_t)OPEN_FLAGS_KNOWN) != 0) {
		return -EINVAL;
	}
	if (!blobfs_on_fs_thread(fs)) {
		return -EXDEV;
	}
	return fs->unloading ? -EBUSY : 0;
}

static struct open_ctx *open_ctx_alloc(struct spio_filesystem *fs, const char *name, uint32_t flags,
				       bool create_only)
{
	struct open_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		return NULL;
	}
	if (!create_only) {
		ctx->handle = calloc(1, sizeof(*ctx->handle));
		if (ctx->handle == NULL) {
			free(ctx);
			return NULL;
		}
	}
	ctx->fs = fs;
	ctx->flags = flags;
	ctx->create_only = create_only;
	memcpy(ctx->name, name, strlen(name) + 1);
	return ctx;
}

void spio_fs_open_file_async(struct spio_filesystem *fs, const char *name, uint32_t flags,
			     spio_file_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct open_ctx *ctx;
	int rc;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("spio_fs_open_file_async: no callback\n");
		return;
	}
	rc = open_check(fs, name, flags);
	ctx = rc == 0 ? open_ctx_alloc(fs, name, flags, false) : NULL;
	if (ctx == NULL) {
		blobfs_reply_send(&(struct blobfs_reply){.kind = BLOBFS_REPLY_FILE,
							 .fn.file = cb_fn,
							 .arg = cb_arg,
							 .rc = rc != 0 ? rc : -ENOMEM});
		return;
	}
	ctx->cb_fn.open = cb_fn;
	ctx->cb_arg = cb_arg;
	open_start(ctx);
}

void spio_fs_create_file_async(struct spio_filesystem *fs, const char *name,
			       spio_fs_op_complete cb_fn, void *cb_arg)
{
	uint32_t flags = SPIO_BLOBFS_OPEN_CREATE | SPIO_BLOBFS_OPEN_EXCL;
	struct open_ctx *ctx;
	int rc;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("spio_fs_create_file_async: no callback\n");
		return;
	}
	rc = open_check(fs, name, flags);
	ctx = rc == 0 ? open_ctx_alloc(fs, name, flags, true) : NULL;
	if (ctx == NULL) {
		blobfs_reply_later(cb_fn, cb_arg, rc != 0 ? rc : -ENOMEM);
		return;
	}
	ctx->cb_fn.create = cb_fn;
	ctx->cb_arg = cb_arg;
	open_start(ctx);
}

/*
 * Close
 */

struct close_ctx {
	struct spio_file *handle;
	struct blobfs_file *file;
	spio_fs_op_complete cb_fn;
	void *cb_arg;
	int rc;
	bool synced;
	struct blobfs_waiter waiter;
};

static void handle_drop(struct spio_file *h)
{
	struct blobfs_file *file = h->file;

	file->open_count--;
	if (h->writable) {
		file->writers--;
	}
	free(h);
}

static void close_finish(struct close_ctx *ctx)
{
	spio_fs_op_complete cb_fn = ctx->cb_fn;
	void *cb_arg = ctx->cb_arg;
	int rc = ctx->rc;

	free(ctx);
	blobfs_reply_later(cb_fn, cb_arg, rc);
}

static void close_keep_rc(struct close_ctx *ctx, int rc)
{
	if (ctx->rc == 0 && rc != 0) {
		ctx->rc = rc;
	}
}

static void close_blob_deleted(void *arg, int bserrno)
{
	struct close_ctx *ctx = arg;
	struct blobfs_file *file = ctx->file;

	if (bserrno != 0) {
		/* Its "is_deleted" mark stays: the next load deletes it. */
		SPIO_ERRLOG("blobfs: deleting the blob of a deleted file failed: %s\n",
			    strerror(-bserrno));
	}
	TAILQ_REMOVE(&file->fs->deleted_open, file, link);
	blobfs_file_unbusy(file);
	blobfs_file_free(file);
	close_finish(ctx);
}

static void close_blob_closed(void *arg, int bserrno)
{
	struct close_ctx *ctx = arg;
	struct blobfs_file *file = ctx->file;

	close_keep_rc(ctx, bserrno);
	file->blob = NULL;
	if (file->is_deleted) {
		spio_bs_delete_blob(file->fs->bs, file->blobid, close_blob_deleted, ctx);
		return;
	}
	blobfs_file_unbusy(file);
	close_finish(ctx);
}

static void close_flushed(void *arg, int fserrno)
{
	struct close_ctx *ctx = arg;
	struct blobfs_file *file = ctx->file;

	close_keep_rc(ctx, fserrno);
	blobfs_file_data_close(file);
	handle_drop(ctx->handle);
	ctx->handle = NULL;
	spio_blob_close(file->blob, close_blob_closed, ctx);
}

static void close_start(void *arg);

static void close_synced(void *arg, int fserrno)
{
	struct close_ctx *ctx = arg;

	close_keep_rc(ctx, fserrno);
	ctx->synced = true;
	close_start(ctx);
}

static void close_start(void *arg)
{
	struct close_ctx *ctx = arg;
	struct blobfs_file *file = ctx->file;

	if (file->open_count == 1) {
		/* The last handle: write back, close the blob (and delete it if deleted). */
		if (file->busy) {
			blobfs_file_wait(file, &ctx->waiter, close_start, ctx);
			return;
		}
		blobfs_file_busy(file);
		blobfs_file_data_flush(file, close_flushed, ctx);
		return;
	}
	if (ctx->handle->writable && !ctx->synced) {
		/* Others keep the file open: only this handle's writes need to reach the disk. */
		spio_file_sync_async(ctx->handle, close_synced, ctx);
		return;
	}
	handle_drop(ctx->handle);
	ctx->handle = NULL;
	close_finish(ctx);
}

void spio_file_close_async(struct spio_file *file, spio_fs_op_complete cb_fn, void *cb_arg)
{
	struct close_ctx *ctx;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("spio_file_close_async: no callback\n");
		return;
	}
	if (file == NULL) {
		blobfs_reply_later(cb_fn, cb_arg, -EINVAL);
		return;
	}
	if (!blobfs_on_fs_thread(file->file->fs)) {
		blobfs_reply_later(cb_fn, cb_arg, -EXDEV);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		blobfs_reply_later(cb_fn, cb_arg, -ENOMEM);
		return;
	}
	ctx->handle = file;
	ctx->file = file->file;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	close_start(ctx);
}

/*
 * Getters
 */

const char *spio_file_get_name(struct spio_file *file)
{
	return file != NULL ? file->file->name : NULL;
}

uint64_t spio_file_get_length(struct spio_file *file)
{
	return file != NULL ? file->file->length : 0;
}

spio_blob_id spio_file_get_id(struct spio_file *file)
{
	return file != NULL ? file->file->blobid : SPIO_BLOBID_INVALID;
}
