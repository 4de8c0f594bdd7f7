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
/* Ours: on a file renamed over another, the replaced file's blob id (uint64_t LE). At load,
 * the blob of that id is deleted if it still carries the same name (the rename finishes). */
#define BLOBFS_XATTR_REPLACES "spio_replaces"

/*
 * A namespace operation waiting for a busy file (see blobfs_file.busy): when the
 * file's operation ends, `fn(arg)` runs once and starts over from the name.
 */
struct blobfs_waiter {
	void (*fn)(void *arg);
	void *arg;
	TAILQ_ENTRY(blobfs_waiter) link;
};
TAILQ_HEAD(blobfs_waiter_list, blobfs_waiter);

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
	/*
	 * A namespace operation (create, first open, last close, delete, rename)
	 * runs on the file: others on it wait in `waiters` and start over after.
	 */
	bool busy;
	bool creating; /* in the table, its blob not made yet (blobid invalid) */
	struct blobfs_waiter_list waiters;
	struct blobfs_file *hnext; /* hash chain of fs->buckets */
	uint32_t hash;
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
	uint64_t file_count;		      /* in `files` (creating ones too) */
	/* Name -> file: chained hash, power-of-two bucket count (blobfs_table.c). */
	struct blobfs_file **buckets;
	uint64_t nbuckets;
	uint64_t busy_count; /* files with a namespace operation running */
	/* The data half's per-filesystem state (budget, LRU, buffers in use). */
	struct blobfs_cache cache;
	bool unloading;
};

/* Namespace half, for the data half. */

/* Whether the caller runs on the fs thread (else the operation fails with -EXDEV). */
bool blobfs_on_fs_thread(struct spio_filesystem *fs);

/*
 * Answer a callback later with a message to the calling thread (errors
 * found up front: never call back inside the call). Off any spio thread,
 * or when the message cannot be sent, at once.
 */
void blobfs_reply_later(spio_fs_op_complete cb_fn, void *cb_arg, int rc);

/* Any callback kind, answered later as blobfs_reply_later(). */
enum blobfs_reply_kind {
	BLOBFS_REPLY_OP,
	BLOBFS_REPLY_FS,
	BLOBFS_REPLY_FILE,
	BLOBFS_REPLY_STAT,
	BLOBFS_REPLY_LIST,
};
struct blobfs_reply {
	enum blobfs_reply_kind kind;
	union {
		spio_fs_op_complete op;
		spio_fs_op_with_handle_complete fs;
		spio_file_op_with_handle_complete file;
		spio_file_stat_op_complete stat;
		spio_fs_list_complete list;
	} fn;
	void *arg;
	int rc;
	void *ptr;		     /* FS / FILE: the handle */
	struct spio_file_stat st;    /* STAT (rc 0) */
	struct spio_fs_dirent *ents; /* LIST: malloc'ed, freed after the call */
	size_t count;
};
void blobfs_reply_send(const struct blobfs_reply *r);
/* Run `r` now (and free its ents). */
void blobfs_reply_run(const struct blobfs_reply *r);

/* Init and load share these (blobfs_fs.c). */
struct spio_filesystem *blobfs_fs_alloc(void);
/* The blobstore is up: channel and cache. 0 or -ENOMEM. */
int blobfs_fs_start(struct spio_filesystem *fs, const struct spio_blobfs_opts *opts);
/* Free the fs, its files and the table (the blobstore is gone). */
void blobfs_fs_free(struct spio_filesystem *fs);
/*
 * Init's and load's checks before the blobstore takes `dev` (thread, dev,
 * options into *o, the fs object). On failure `dev` is destroyed, the
 * callback answered, and NULL returned.
 */
struct spio_filesystem *blobfs_fs_begin(struct spio_bs_dev *dev,
					const struct spio_blobfs_opts *opts,
					struct spio_blobfs_opts *o,
					spio_fs_op_with_handle_complete cb_fn, void *cb_arg);
/* Defaults overlaid with the caller's opts_size bytes; -EINVAL for a bad opts_size. */
int blobfs_opts_copy(struct spio_blobfs_opts *dst, const struct spio_blobfs_opts *src);
/* The cache_size that spio_fs_opts_init() (and NULL opts) give filesystems initialised or
 * loaded from now on (the blobfs_set_cache_size RPC); any thread. Loaded ones keep theirs. */
void blobfs_set_default_cache_size(uint64_t cache_size);
uint64_t blobfs_get_default_cache_size(void);

/* Namespace half, between its own files. */

/* 0, -EINVAL (NULL or empty), -ENAMETOOLONG (over SPIO_FILE_NAME_MAX bytes). */
int blobfs_check_name(const char *name);

/* The table (blobfs_table.c). init: -ENOMEM. */
int blobfs_table_init(struct spio_filesystem *fs);
void blobfs_table_fini(struct spio_filesystem *fs);
struct blobfs_file *blobfs_table_find(struct spio_filesystem *fs, const char *name);
/* Add (file->name set) to the table and fs->files. Growth is best effort: never fails. */
void blobfs_table_insert(struct spio_filesystem *fs, struct blobfs_file *file);
/* Take out of the table and fs->files. */
void blobfs_table_remove(struct spio_filesystem *fs, struct blobfs_file *file);

/* A new file (not in any list), name copied; NULL on -ENOMEM. */
struct blobfs_file *blobfs_file_alloc(struct spio_filesystem *fs, const char *name,
				      spio_blob_id blobid, uint64_t length);
void blobfs_file_free(struct blobfs_file *file);
/* Mark busy / not busy; unbusy runs every waiter (each starts over). */
void blobfs_file_busy(struct blobfs_file *file);
void blobfs_file_unbusy(struct blobfs_file *file);
/* Queue `w` until the busy file's operation ends. */
void blobfs_file_wait(struct blobfs_file *file, struct blobfs_waiter *w, void (*fn)(void *),
		      void *arg);

/* Data half, for the namespace half (blobfs_data.h declares the rest). */

#endif /* SPIO_BLOBFS_INTERNAL_H */
