/*
 * BlobFS lifecycle: options, init (mkfs), unload, the filesystem's getters,
 * and the deferred replies every namespace operation uses. Load (the scan of
 * an existing blobstore) is in blobfs_load.c.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "blobfs_internal.h"
#include "spio/blob_bdev.h"
#include "spio/log.h"
#include "spio/thread.h"

/*
 * Deferred replies
 */

void blobfs_reply_run(const struct blobfs_reply *r)
{
	switch (r->kind) {
	case BLOBFS_REPLY_OP:
		r->fn.op(r->arg, r->rc);
		break;
	case BLOBFS_REPLY_FS:
		r->fn.fs(r->arg, r->ptr, r->rc);
		break;
	case BLOBFS_REPLY_FILE:
		r->fn.file(r->arg, r->ptr, r->rc);
		break;
	case BLOBFS_REPLY_STAT:
		r->fn.stat(r->arg, r->rc == 0 ? &r->st : NULL, r->rc);
		break;
	case BLOBFS_REPLY_LIST:
		r->fn.list(r->arg, r->ents, r->count, r->rc);
		break;
	}
	free(r->ents);
}

static void reply_msg(void *arg)
{
	struct blobfs_reply *r = arg;

	blobfs_reply_run(r);
	free(r);
}

void blobfs_reply_send(const struct blobfs_reply *r)
{
	struct spio_thread *thread = spio_get_thread();
	struct blobfs_reply *copy;

	if (thread != NULL) {
		copy = malloc(sizeof(*copy));
		if (copy != NULL) {
			*copy = *r;
			if (spio_thread_send_msg(thread, reply_msg, copy) == 0) {
				return;
			}
			free(copy);
		}
	}
	/* No thread to come back on, or no memory for the message: answer now. */
	blobfs_reply_run(r);
}

void blobfs_reply_later(spio_fs_op_complete cb_fn, void *cb_arg, int rc)
{
	struct blobfs_reply r = {.kind = BLOBFS_REPLY_OP, .fn.op = cb_fn, .arg = cb_arg, .rc = rc};

	blobfs_reply_send(&r);
}

static void reply_fs_later(spio_fs_op_with_handle_complete cb_fn, void *cb_arg, int rc)
{
	struct blobfs_reply r = {.kind = BLOBFS_REPLY_FS, .fn.fs = cb_fn, .arg = cb_arg, .rc = rc};

	blobfs_reply_send(&r);
}

bool blobfs_on_fs_thread(struct spio_filesystem *fs)
{
	return fs != NULL && spio_get_thread() == fs->thread;
}

int blobfs_check_name(const char *name)
{
	size_t len;

	if (name == NULL) {
		return -EINVAL;
	}
	len = strnlen(name, SPIO_FILE_NAME_MAX + 1);
	if (len == 0) {
		return -EINVAL;
	}
	return len > SPIO_FILE_NAME_MAX ? -ENAMETOOLONG : 0;
}

/*
 * Options
 */

/* Atomic: the RPC sets it on the app thread while fs threads read it. */
static _Atomic uint64_t g_default_cache_size = SPIO_BLOBFS_DEFAULT_CACHE_SIZE;

void blobfs_set_default_cache_size(uint64_t cache_size)
{
	atomic_store(&g_default_cache_size, cache_size);
}

uint64_t blobfs_get_default_cache_size(void)
{
	return atomic_load(&g_default_cache_size);
}

static void opts_defaults(struct spio_blobfs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cluster_sz = SPIO_BLOBFS_DEFAULT_CLUSTER_SZ;
	o->cache_size = blobfs_get_default_cache_size();
	o->cache_buffer_size = SPIO_BLOBFS_DEFAULT_CACHE_BUFFER_SIZE;
	o->opts_size = sizeof(*o);
}

void spio_fs_opts_init(struct spio_blobfs_opts *opts, size_t opts_size)
{
	struct spio_blobfs_opts def;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	opts_defaults(&def);
	def.opts_size = opts_size;
	memcpy(opts, &def, opts_size < sizeof(def) ? opts_size : sizeof(def));
}

int blobfs_opts_copy(struct spio_blobfs_opts *dst, const struct spio_blobfs_opts *src)
{
	size_t n;

	opts_defaults(dst);
	if (src == NULL) {
		return 0;
	}
	/* Fields past what the caller knows keep their defaults. */
	if (src->opts_size == 0) {
		return -EINVAL;
	}
	n = src->opts_size < sizeof(*dst) ? src->opts_size : sizeof(*dst);
	memcpy(dst, src, n);
	dst->opts_size = sizeof(*dst);
	return 0;
}

/*
 * The filesystem object
 */

struct spio_filesystem *blobfs_fs_alloc(void)
{
	struct spio_filesystem *fs = calloc(1, sizeof(*fs));

	if (fs == NULL) {
		return NULL;
	}
	TAILQ_INIT(&fs->files);
	TAILQ_INIT(&fs->deleted_open);
	fs->thread = spio_get_thread();
	if (blobfs_table_init(fs) != 0) {
		free(fs);
		return NULL;
	}
	return fs;
}

int blobfs_fs_start(struct spio_filesystem *fs, const struct spio_blobfs_opts *opts)
{
	fs->channel = spio_bs_alloc_io_channel(fs->bs);
	if (fs->channel == NULL) {
		return -ENOMEM;
	}
	blobfs_cache_init(fs, opts);
	return 0;
}

void blobfs_fs_free(struct spio_filesystem *fs)
{
	struct blobfs_file *file;

	while ((file = TAILQ_FIRST(&fs->files)) != NULL) {
		blobfs_table_remove(fs, file);
		blobfs_file_free(file);
	}
	while ((file = TAILQ_FIRST(&fs->deleted_open)) != NULL) {
		TAILQ_REMOVE(&fs->deleted_open, file, link);
		blobfs_file_free(file);
	}
	blobfs_table_fini(fs);
	free(fs);
}

/*
 * Init
 */

struct init_ctx {
	struct spio_filesystem *fs;
	struct spio_blobfs_opts opts;
	spio_fs_op_with_handle_complete cb_fn;
	void *cb_arg;
	int rc;
};

static void init_failed_unloaded(void *arg, int bserrno)
{
	struct init_ctx *ctx = arg;

	if (bserrno != 0) {
		SPIO_ERRLOG("blobfs init: unloading the new blobstore failed: %s\n",
			    strerror(-bserrno));
	}
	blobfs_fs_free(ctx->fs);
	ctx->cb_fn(ctx->cb_arg, NULL, ctx->rc);
	free(ctx);
}

static void init_bs_done(void *arg, struct spio_blob_store *bs, int bserrno)
{
	struct init_ctx *ctx = arg;
	struct spio_filesystem *fs = ctx->fs;

	if (bserrno != 0) {
		/* The blobstore destroyed the device. */
		blobfs_fs_free(fs);
		ctx->cb_fn(ctx->cb_arg, NULL, bserrno);
		free(ctx);
		return;
	}
	fs->bs = bs;
	ctx->rc = blobfs_fs_start(fs, &ctx->opts);
	if (ctx->rc != 0) {
		spio_bs_unload(bs, init_failed_unloaded, ctx);
		return;
	}
	ctx->cb_fn(ctx->cb_arg, fs, 0);
	free(ctx);
}

static void bs_opts_blobfs(struct spio_bs_opts *bo)
{
	spio_bs_opts_init(bo, sizeof(*bo));
	memset(&bo->bstype, 0, sizeof(bo->bstype));
	memcpy(bo->bstype.bstype, SPIO_BLOBFS_BSTYPE, strlen(SPIO_BLOBFS_BSTYPE));
}

/*
 * The checks init and load share before the blobstore takes `dev`. On
 * failure `dev` is destroyed and the callback answered; returns NULL.
 */
struct spio_filesystem *blobfs_fs_begin(struct spio_bs_dev *dev,
					const struct spio_blobfs_opts *opts,
					struct spio_blobfs_opts *o,
					spio_fs_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct spio_filesystem *fs;
	int rc;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("blobfs init/load: no callback\n");
		if (dev != NULL) {
			dev->destroy(dev);
		}
		return NULL;
	}
	if (spio_get_thread() == NULL) {
		/* No spio thread to call back on later: answer at once. */
		if (dev != NULL) {
			dev->destroy(dev);
		}
		cb_fn(cb_arg, NULL, -EXDEV);
		return NULL;
	}
	if (dev == NULL) {
		reply_fs_later(cb_fn, cb_arg, -EINVAL);
		return NULL;
	}
	rc = blobfs_opts_copy(o, opts);
	if (rc == 0) {
		rc = blobfs_cache_check_opts(o, dev->blocklen);
	}
	fs = NULL;
	if (rc == 0) {
		fs = blobfs_fs_alloc();
		rc = fs == NULL ? -ENOMEM : 0;
	}
	if (rc != 0) {
		dev->destroy(dev);
		reply_fs_later(cb_fn, cb_arg, rc);
		return NULL;
	}
	return fs;
}

void spio_fs_init(struct spio_bs_dev *dev, const struct spio_blobfs_opts *opts,
		  spio_fs_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct spio_blobfs_opts o;
	struct spio_bs_opts bo;
	struct spio_filesystem *fs;
	struct init_ctx *ctx;

	fs = blobfs_fs_begin(dev, opts, &o, cb_fn, cb_arg);
	if (fs == NULL) {
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		blobfs_fs_free(fs);
		dev->destroy(dev);
		reply_fs_later(cb_fn, cb_arg, -ENOMEM);
		return;
	}
	ctx->fs = fs;
	ctx->opts = o;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	bs_opts_blobfs(&bo);
	bo.cluster_sz = o.cluster_sz;
	spio_bs_init(dev, &bo, init_bs_done, ctx);
}

/*
 * Unload
 */

struct unload_ctx {
	struct spio_filesystem *fs;
	spio_fs_op_complete cb_fn;
	void *cb_arg;
};

static void unload_bs_done(void *arg, int bserrno)
{
	struct unload_ctx *ctx = arg;

	if (bserrno != 0) {
		SPIO_ERRLOG("blobfs unload: blobstore unload failed: %s\n", strerror(-bserrno));
	}
	blobfs_fs_free(ctx->fs);
	ctx->cb_fn(ctx->cb_arg, bserrno);
	free(ctx);
}

static bool fs_in_use(struct spio_filesystem *fs)
{
	struct blobfs_file *file;

	if (fs->busy_count > 0 || !TAILQ_EMPTY(&fs->deleted_open)) {
		return true;
	}
	TAILQ_FOREACH (file, &fs->files, link) {
		if (file->open_count > 0 || file->blob != NULL) {
			return true;
		}
	}
	return false;
}

void spio_fs_unload(struct spio_filesystem *fs, spio_fs_op_complete cb_fn, void *cb_arg)
{
	struct unload_ctx *ctx;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("spio_fs_unload: no callback\n");
		return;
	}
	if (fs == NULL) {
		blobfs_reply_later(cb_fn, cb_arg, -EINVAL);
		return;
	}
	if (!blobfs_on_fs_thread(fs)) {
		blobfs_reply_later(cb_fn, cb_arg, -EXDEV);
		return;
	}
	if (fs->unloading || fs_in_use(fs)) {
		blobfs_reply_later(cb_fn, cb_arg, -EBUSY);
		return;
	}
	ctx = malloc(sizeof(*ctx));
	if (ctx == NULL) {
		blobfs_reply_later(cb_fn, cb_arg, -ENOMEM);
		return;
	}
	*ctx = (struct unload_ctx){.fs = fs, .cb_fn = cb_fn, .cb_arg = cb_arg};
	fs->unloading = true;
	spio_bs_free_io_channel(fs->channel);
	fs->channel = NULL;
	blobfs_cache_fini(fs);
	spio_bs_unload(fs->bs, unload_bs_done, ctx);
}

/*
 * Getters
 */

struct spio_thread *spio_fs_get_thread(struct spio_filesystem *fs)
{
	return fs != NULL ? fs->thread : NULL;
}

struct spio_blob_store *spio_fs_get_bs(struct spio_filesystem *fs)
{
	return fs != NULL ? fs->bs : NULL;
}

void spio_fs_get_stat(struct spio_filesystem *fs, struct spio_fs_stat *st)
{
	if (fs == NULL || st == NULL) {
		return;
	}
	memset(st, 0, sizeof(*st));
	st->cluster_size = spio_bs_get_cluster_size(fs->bs);
	st->total_clusters = spio_bs_total_data_cluster_count(fs->bs);
	st->free_clusters = spio_bs_free_cluster_count(fs->bs);
	st->io_unit_size = spio_bs_get_io_unit_size(fs->bs);
	st->files = fs->file_count;
	st->cache_used = fs->cache.used;
	st->cache_size = spio_fs_get_cache_size(fs);
}
