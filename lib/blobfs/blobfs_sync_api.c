/*
 * BlobFS synchronous API: each call packs a request on the caller's stack,
 * hands it to the fs thread in an embedded message (no allocation, so it
 * cannot fail for lack of memory), where the async operation runs, and
 * sleeps on the context's semaphore until the operation's callback posted
 * it. One call per context at a time: the semaphore has one waiter.
 *
 * Only the public API is used here (spio/blobfs.h): this file is a client
 * of the async half, as SPDK's spdk_fs_*() synchronous wrappers were.
 */
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "spio/blobfs.h"
#include "spio/thread.h"

struct spio_fs_thread_ctx {
	struct spio_filesystem *fs;
	sem_t done;
};

/* One call in flight: lives on the caller's stack until done is posted. */
struct sync_req {
	struct spio_msg msg;
	struct spio_fs_thread_ctx *ctx;
	struct spio_filesystem *fs;
	struct spio_file *file;
	const char *name;
	const char *new_name;
	uint32_t flags;
	void *buf;
	const void *cbuf;
	uint64_t offset;
	uint64_t length;
	/* Outputs. */
	int64_t result;
	struct spio_file *file_out;
	struct spio_file_stat stat;
	struct spio_fs_stat fs_stat;
	struct spio_fs_dirent *ents;
	size_t count;
};

/* On the fs thread: record the result and wake the caller. */
static void req_done(struct sync_req *req, int64_t result)
{
	/* The caller may return (and reuse its stack) as soon as done is
	 * posted: read ctx first, touch req no more after the post. */
	struct spio_fs_thread_ctx *ctx = req->ctx;

	req->result = result;
	sem_post(&ctx->done);
}

static void cpl_status(void *arg, int fserrno)
{
	req_done(arg, fserrno);
}

/* Hand `fn(req)` to the fs thread and wait for req_done(). */
static int64_t sync_run(struct spio_fs_thread_ctx *ctx, struct sync_req *req, spio_msg_fn fn)
{
	int rc;

	if (ctx == NULL || ctx->fs == NULL) {
		return -EINVAL;
	}
	/* A spio thread waiting here would never poll the fs thread (or be it). */
	if (spio_get_thread() != NULL) {
		return -EDEADLK;
	}
	req->ctx = ctx;
	rc = spio_thread_send_msg_embedded(spio_fs_get_thread(ctx->fs), &req->msg, fn, req);
	if (rc != 0) {
		/* The fs thread exited: the message can never run. */
		return rc == -EIO ? -ENOMEM : rc;
	}
	while (sem_wait(&ctx->done) != 0) {
		/* EINTR: a signal handler ran; the operation is still in flight. */
	}
	return req->result;
}

struct spio_fs_thread_ctx *spio_fs_alloc_thread_ctx(struct spio_filesystem *fs)
{
	struct spio_fs_thread_ctx *ctx;

	if (fs == NULL) {
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return NULL;
	}
	if (sem_init(&ctx->done, 0, 0) != 0) {
		free(ctx);
		return NULL;
	}
	ctx->fs = fs;
	return ctx;
}

void spio_fs_free_thread_ctx(struct spio_fs_thread_ctx *ctx)
{
	if (ctx == NULL) {
		return;
	}
	sem_destroy(&ctx->done);
	free(ctx);
}

/* Namespace */

static void open_cpl(void *arg, struct spio_file *file, int fserrno)
{
	struct sync_req *req = arg;

	req->file_out = file;
	req_done(req, fserrno);
}

static void open_start(void *arg)
{
	struct sync_req *req = arg;

	spio_fs_open_file_async(req->fs, req->name, req->flags, open_cpl, req);
}

int spio_fs_open_file(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx, const char *name,
		      uint32_t flags, struct spio_file **file)
{
	struct sync_req req = {.fs = fs, .name = name, .flags = flags};
	int rc;

	if (fs == NULL || file == NULL) {
		return -EINVAL;
	}
	*file = NULL;
	rc = (int)sync_run(ctx, &req, open_start);
	if (rc == 0) {
		*file = req.file_out;
	}
	return rc;
}

static void create_start(void *arg)
{
	struct sync_req *req = arg;

	spio_fs_create_file_async(req->fs, req->name, cpl_status, req);
}

int spio_fs_create_file(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx,
			const char *name)
{
	struct sync_req req = {.fs = fs, .name = name};

	if (fs == NULL) {
		return -EINVAL;
	}
	return (int)sync_run(ctx, &req, create_start);
}

static void delete_start(void *arg)
{
	struct sync_req *req = arg;

	spio_fs_delete_file_async(req->fs, req->name, cpl_status, req);
}

int spio_fs_delete_file(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx,
			const char *name)
{
	struct sync_req req = {.fs = fs, .name = name};

	if (fs == NULL) {
		return -EINVAL;
	}
	return (int)sync_run(ctx, &req, delete_start);
}

static void rename_start(void *arg)
{
	struct sync_req *req = arg;

	spio_fs_rename_file_async(req->fs, req->name, req->new_name, cpl_status, req);
}

int spio_fs_rename_file(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx,
			const char *old_name, const char *new_name)
{
	struct sync_req req = {.fs = fs, .name = old_name, .new_name = new_name};

	if (fs == NULL) {
		return -EINVAL;
	}
	return (int)sync_run(ctx, &req, rename_start);
}

static void stat_cpl(void *arg, const struct spio_file_stat *stat, int fserrno)
{
	struct sync_req *req = arg;

	if (fserrno == 0 && stat != NULL) {
		req->stat = *stat;
	}
	req_done(req, fserrno);
}

static void stat_start(void *arg)
{
	struct sync_req *req = arg;

	spio_fs_file_stat_async(req->fs, req->name, stat_cpl, req);
}

int spio_fs_file_stat(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx, const char *name,
		      struct spio_file_stat *stat)
{
	struct sync_req req = {.fs = fs, .name = name};
	int rc;

	if (fs == NULL || stat == NULL) {
		return -EINVAL;
	}
	rc = (int)sync_run(ctx, &req, stat_start);
	if (rc == 0) {
		*stat = req.stat;
	}
	return rc;
}

static void fs_stat_start(void *arg)
{
	struct sync_req *req = arg;

	spio_fs_get_stat(req->fs, &req->fs_stat);
	req_done(req, 0);
}

int spio_fs_stat(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx,
		 struct spio_fs_stat *st)
{
	struct sync_req req = {.fs = fs};
	int rc;

	if (fs == NULL || st == NULL) {
		return -EINVAL;
	}
	rc = (int)sync_run(ctx, &req, fs_stat_start);
	if (rc == 0) {
		*st = req.fs_stat;
	}
	return rc;
}

/* The entries live only during the callback: copy them out here, on the fs thread. */
static void list_cpl(void *arg, const struct spio_fs_dirent *ents, size_t count, int fserrno)
{
	struct sync_req *req = arg;

	if (fserrno == 0 && count > 0) {
		req->ents = malloc(count * sizeof(*ents));
		if (req->ents == NULL) {
			req_done(req, -ENOMEM);
			return;
		}
		memcpy(req->ents, ents, count * sizeof(*ents));
		req->count = count;
	}
	req_done(req, fserrno);
}

static void list_start(void *arg)
{
	struct sync_req *req = arg;

	spio_fs_list_async(req->fs, list_cpl, req);
}

int spio_fs_list(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx,
		 struct spio_fs_dirent **ents, size_t *count)
{
	struct sync_req req = {.fs = fs};
	int rc;

	if (fs == NULL || ents == NULL || count == NULL) {
		return -EINVAL;
	}
	*ents = NULL;
	*count = 0;
	rc = (int)sync_run(ctx, &req, list_start);
	if (rc != 0) {
		free(req.ents);
		return rc;
	}
	*ents = req.ents;
	*count = req.count;
	return 0;
}

/* Files */

static void read_cpl(void *arg, int64_t result)
{
	req_done(arg, result);
}

static void read_start(void *arg)
{
	struct sync_req *req = arg;

	spio_file_read_async(req->file, req->buf, req->offset, req->length, read_cpl, req);
}

int64_t spio_file_read(struct spio_file *file, struct spio_fs_thread_ctx *ctx, void *payload,
		       uint64_t offset, uint64_t length)
{
	struct sync_req req = {.file = file, .buf = payload, .offset = offset, .length = length};

	if (file == NULL) {
		return -EINVAL;
	}
	return sync_run(ctx, &req, read_start);
}

static void write_start(void *arg)
{
	struct sync_req *req = arg;

	spio_file_write_async(req->file, req->cbuf, req->offset, req->length, cpl_status, req);
}

int spio_file_write(struct spio_file *file, struct spio_fs_thread_ctx *ctx, const void *payload,
		    uint64_t offset, uint64_t length)
{
	struct sync_req req = {.file = file, .cbuf = payload, .offset = offset, .length = length};

	if (file == NULL) {
		return -EINVAL;
	}
	return (int)sync_run(ctx, &req, write_start);
}

static void truncate_start(void *arg)
{
	struct sync_req *req = arg;

	spio_file_truncate_async(req->file, req->length, cpl_status, req);
}

int spio_file_truncate(struct spio_file *file, struct spio_fs_thread_ctx *ctx, uint64_t length)
{
	struct sync_req req = {.file = file, .length = length};

	if (file == NULL) {
		return -EINVAL;
	}
	return (int)sync_run(ctx, &req, truncate_start);
}

static void sync_start(void *arg)
{
	struct sync_req *req = arg;

	spio_file_sync_async(req->file, cpl_status, req);
}

int spio_file_sync(struct spio_file *file, struct spio_fs_thread_ctx *ctx)
{
	struct sync_req req = {.file = file};

	if (file == NULL) {
		return -EINVAL;
	}
	return (int)sync_run(ctx, &req, sync_start);
}

static void fstat_start(void *arg)
{
	struct sync_req *req = arg;

	req->stat.size = spio_file_get_length(req->file);
	req->stat.blobid = spio_file_get_id(req->file);
	req_done(req, 0);
}

int spio_file_fstat(struct spio_file *file, struct spio_fs_thread_ctx *ctx,
		    struct spio_file_stat *stat)
{
	struct sync_req req = {.file = file};
	int rc;

	if (file == NULL || stat == NULL) {
		return -EINVAL;
	}
	rc = (int)sync_run(ctx, &req, fstat_start);
	if (rc == 0) {
		*stat = req.stat;
	}
	return rc;
}

static void close_start(void *arg)
{
	struct sync_req *req = arg;

	spio_file_close_async(req->file, cpl_status, req);
}

int spio_file_close(struct spio_file *file, struct spio_fs_thread_ctx *ctx)
{
	struct sync_req req = {.file = file};

	if (file == NULL) {
		return -EINVAL;
	}
	return (int)sync_run(ctx, &req, close_start);
}
