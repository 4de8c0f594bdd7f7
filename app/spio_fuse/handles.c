/*
 * The open files of the mount. The library allows one writable handle per
 * file, while any number of processes may open it for writing: writers of
 * one file share a single writable spio_file, counted, keyed by blob id (a
 * name may be renamed or deleted and reused while open). Read-only opens
 * get their own handle. One mutex orders the opens, closes, unlinks and
 * renames of the FUSE threads (a close of the last writer syncs under it, so
 * a new writer cannot race the old one's close into -EBUSY); reads and
 * writes take no lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "fusefs.h"

struct fh_writer {
	spio_blob_id id;
	struct spio_file *file;
	unsigned refs;
	LIST_ENTRY(fh_writer) link;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, fh_writer) g_writers = LIST_HEAD_INITIALIZER(g_writers);
static LIST_HEAD(, fuse_fh) g_open = LIST_HEAD_INITIALIZER(g_open);

static struct fh_writer *writer_find(spio_blob_id id)
{
	struct fh_writer *w;

	LIST_FOREACH (w, &g_writers, link) {
		if (w->id == id) {
			return w;
		}
	}
	return NULL;
}

/* Under g_lock: the file's writer, opened or shared. */
static int writer_get(struct spio_fs_thread_ctx *ctx, const char *name, uint32_t flags,
		      struct fh_writer **out)
{
	struct spio_file_stat st;
	struct spio_file *file;
	struct fh_writer *w;
	int rc;

	rc = spio_fs_file_stat(g_fuse_fs, ctx, name, &st);
	if (rc == 0 && (w = writer_find(st.blobid)) != NULL) {
		if ((flags & SPIO_BLOBFS_OPEN_EXCL) != 0) {
			return -EEXIST;
		}
		w->refs++;
		*out = w;
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return -ENOMEM;
	}
	rc = spio_fs_open_file(g_fuse_fs, ctx, name, flags, &file);
	if (rc != 0) {
		free(w);
		return rc;
	}
	w->file = file;
	w->id = spio_file_get_id(file);
	w->refs = 1;
	LIST_INSERT_HEAD(&g_writers, w, link);
	*out = w;
	return 0;
}

int fh_open(struct spio_fs_thread_ctx *ctx, const char *name, uint32_t flags, bool writable,
	    struct fuse_fh **out)
{
	struct fuse_fh *fh = calloc(1, sizeof(*fh));
	int rc;

	if (fh == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_lock);
	if (writable) {
		rc = writer_get(ctx, name, flags, &fh->w);
		if (rc == 0) {
			fh->file = fh->w->file;
		}
	} else {
		rc = spio_fs_open_file(g_fuse_fs, ctx, name, flags | SPIO_BLOBFS_OPEN_RDONLY,
				       &fh->file);
	}
	if (rc == 0) {
		LIST_INSERT_HEAD(&g_open, fh, link);
	}
	pthread_mutex_unlock(&g_lock);
	if (rc != 0) {
		free(fh);
		return rc;
	}
	*out = fh;
	return 0;
}

/* Under g_lock. */
static int release_locked(struct spio_fs_thread_ctx *ctx, struct fuse_fh *fh)
{
	struct fh_writer *w = fh->w;
	int rc = 0;

	LIST_REMOVE(fh, link);
	if (w == NULL) {
		rc = spio_file_close(fh->file, ctx);
	} else if (--w->refs == 0) {
		LIST_REMOVE(w, link);
		rc = spio_file_close(w->file, ctx);
		free(w);
	}
	free(fh);
	return rc;
}

int fh_release(struct spio_fs_thread_ctx *ctx, struct fuse_fh *fh)
{
	int rc;

	pthread_mutex_lock(&g_lock);
	rc = release_locked(ctx, fh);
	pthread_mutex_unlock(&g_lock);
	return rc;
}

int fh_fsync(struct spio_fs_thread_ctx *ctx, struct fuse_fh *fh)
{
	struct fh_writer *w;
	int rc = 0;

	/* Our reference keeps the writer open. */
	if (fh->w != NULL) {
		return spio_file_sync(fh->file, ctx);
	}
	/* `sync FILE` opens read-only: what needs writing is the writer's. Under
	 * the lock, so its last release cannot close it meanwhile. Without a
	 * writer the last one's close synced everything. */
	pthread_mutex_lock(&g_lock);
	w = writer_find(spio_file_get_id(fh->file));
	if (w != NULL) {
		rc = spio_file_sync(w->file, ctx);
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

int fh_unlink(struct spio_fs_thread_ctx *ctx, const char *name)
{
	int rc;

	pthread_mutex_lock(&g_lock);
	rc = spio_fs_delete_file(g_fuse_fs, ctx, name);
	pthread_mutex_unlock(&g_lock);
	return rc;
}

int fh_rename(struct spio_fs_thread_ctx *ctx, const char *from, const char *to, bool noreplace)
{
	struct spio_file_stat st;
	int rc;

	pthread_mutex_lock(&g_lock);
	if (noreplace && spio_fs_file_stat(g_fuse_fs, ctx, to, &st) == 0) {
		rc = -EEXIST;
	} else {
		rc = spio_fs_rename_file(g_fuse_fs, ctx, from, to);
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

unsigned fh_close_all(struct spio_fs_thread_ctx *ctx)
{
	unsigned n = 0;

	pthread_mutex_lock(&g_lock);
	while (!LIST_EMPTY(&g_open)) {
		release_locked(ctx, LIST_FIRST(&g_open));
		n++;
	}
	pthread_mutex_unlock(&g_lock);
	return n;
}
