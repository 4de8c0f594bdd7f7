/*
 * BlobFS: the structs behind spio/blobfs.h and what its two halves share.
 * Internal to lib/blobfs.
 *
 * - The namespace half (blobfs_fs.c, blobfs_load.c, blobfs_open.c,
 *   blobfs_names.c, ...): init/load/unload, the file table, open/close,
 *   create/delete/rename/stat/list, deleted-while-open.
 * - The data half (blobfs_cache*.c, blobfs_rw.c, blobfs_sync.c, ...): the
 *   per-file write-back cache, read/write/truncate/sync, the cache budget.
 *   Its own state lives in struct blobfs_cache (per filesystem) and struct
 *   blobfs_file_data (per file), defined in blobfs_data.h.
 *
 * Everything here belongs to the fs thread; nothing is locked.
 */
#ifndef SPIO_BLOBFS_INTERNAL_H
#define SPIO_BLOBFS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spio/blobfs.h"

#include "blobfs/blobfs_data.h"

/* SPDK's xattr names, on every file's blob. */
#define BLOBFS_XATTR_NAME "name"	     /* the name, NUL included */
#define BLOBFS_XATTR_LENGTH "length"	     /* uint64_t, little-endian: the synced length */
#define BLOBFS_XATTR_IS_DELETED "is_deleted" /* present: delete at the next load */

/* One file of the namespace (or deleted but still open), shared by its handles. */
struct blobfs_file {
	struct spio_filesystem *fs;
	char name[SPIO_FILE_NAME_MAX + 1];
	spio_blob_id blobid;
	/* Open while any handle is open (and during namespace operations). */
	struct spio_blob *blob;
	uint32_t open_count; /* handles */
	uint32_t writers;    /* writable handles: 0 or 1 */
	bool is_deleted;     /* out of the namespace; the blob goes at the last close */
	/* Length with unsynced writes, and what the "length" xattr holds on disk. */
	uint64_t length;
	uint64_t length_synced;
	/* The data half's state (cache buffers, read-ahead, pending syncs). */
	struct blobfs_file_data data;
	TAILQ_ENTRY(blobfs_file) link; /* fs->files or fs->deleted_open */
};
TAILQ_HEAD(blobfs_file_list, blobfs_file);

/* An open handle (the user's struct spio_file). */
struct spio_file {
	struct blobfs_file *file;
	bool writable;
};

struct spio_filesystem {
	struct spio_blob_store *bs;
	struct spio_thread *thread;
	/* Blob I/O channel of the fs thread, for every file. */
	struct spio_io_channel *channel;
	struct blobfs_file_list files;	      /* the namespace */
	struct blobfs_file_list deleted_open; /* deleted, still open */
	uint64_t file_count;
	/* The data half's per-filesystem state (budget, LRU, buffers in use). */
	struct blobfs_cache cache;
	bool unloading;
};

/* Namespace half, for the data half. */

/* Whether the caller runs on the fs thread (else the operation fails with -EXDEV). */
bool blobfs_on_fs_thread(struct spio_filesystem *fs);

/* Data half, for the namespace half (blobfs_data.h declares the rest). */

#endif /* SPIO_BLOBFS_INTERNAL_H */
