/*
 * spio_fuse: a BlobFS mounted with libfuse3. main.c runs the app (bdev,
 * load, mount, shutdown), ops.c answers FUSE's requests on its worker
 * threads through the synchronous BlobFS API, handles.c keeps the open
 * files (one shared writable handle per file, as the library allows one
 * writer). docs/blobfs.md is the guide.
 */
#ifndef SPIO_FUSE_FUSEFS_H
#define SPIO_FUSE_FUSEFS_H

#define FUSE_USE_VERSION 31

#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spio/blobfs.h"

/* An open FUSE file (fuse_file_info.fh). */
struct fh_writer;
struct fuse_fh {
	/* Its own read-only handle, or the file's shared writable one. */
	struct spio_file *file;
	/* The shared writer, NULL for a read-only open. */
	struct fh_writer *w;
	LIST_ENTRY(fuse_fh) link; /* every open file, for the close at unmount */
};

/* The mounted filesystem (set before the mount, read-only after). */
extern struct spio_filesystem *g_fuse_fs;

/* The calling FUSE thread's sync API context (made on first use), or NULL on -ENOMEM. */
struct spio_fs_thread_ctx *fuse_ctx(void);
/* Set up / tear down the per-thread contexts: before the loop / after it, on the mount thread. */
int fuse_ctx_init(void);
void fuse_ctx_fini(void);

/* Open `name` (writable: share the file's writer, else a read-only handle). */
int fh_open(struct spio_fs_thread_ctx *ctx, const char *name, uint32_t flags, bool writable,
	    struct fuse_fh **out);
/* Close `fh` (the last user of a writer closes it, which syncs). */
int fh_release(struct spio_fs_thread_ctx *ctx, struct fuse_fh *fh);
/* fsync: the file's writer syncs (also from a read-only fd, as `sync FILE` opens one). */
int fh_fsync(struct spio_fs_thread_ctx *ctx, struct fuse_fh *fh);
/* Delete / rename under the open table's lock (they change what a name means). */
int fh_unlink(struct spio_fs_thread_ctx *ctx, const char *name);
int fh_rename(struct spio_fs_thread_ctx *ctx, const char *from, const char *to, bool noreplace);
/* After the loop: close every file still open; returns how many. */
unsigned fh_close_all(struct spio_fs_thread_ctx *ctx);

/* The FUSE operations (ops.c). */
extern const struct fuse_operations g_fuse_ops;

#endif /* SPIO_FUSE_FUSEFS_H */
