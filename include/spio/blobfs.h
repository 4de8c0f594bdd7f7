/*
 * BlobFS (SPDK's spdk/blobfs.h, removed from SPDK in v25.09): a flat file
 * system on a blobstore. Each file is one blob; its name is the blob's
 * "name" xattr (NUL included), its synced length the "length" xattr (8
 * bytes, little-endian), and a file deleted while open carries "is_deleted"
 * until its last close. The blobstore's type is "BLOBFS". These are SPDK's
 * own names and values, so a BlobFS made by SPDK v25.05 loads here and one
 * made here loads in SPDK (whose files are append-only: a file written here
 * at any offset still reads the same there).
 *
 * Beyond SPDK: writes at any offset (a gap reads as zeroes), truncate down
 * and up, exclusive create, read-only opens, one writer per file, and
 * rename over an existing name.
 *
 * Threads. A filesystem lives on the spio thread that called spio_fs_init()
 * or spio_fs_load() (its "fs thread", spio_fs_get_thread()). Every async
 * function below (`_async` suffix, and init/load/unload) runs on the fs
 * thread and calls its callback there, never from inside the call (so a
 * callback may start the next operation without growing the stack). Called
 * from another thread, it fails with -EXDEV through the callback. The
 * `_await` twins are the same calls from a spio task on the fs thread
 * (spio/task.h). The synchronous API (the functions taking a `struct
 * spio_fs_thread_ctx`) is for plain OS threads that are not running a spio
 * thread, such as FUSE's worker threads: each call hands the operation to
 * the fs thread and blocks until it is done. Called from inside a spio
 * thread it returns -EDEADLK (it would wait on itself).
 *
 * Caching. Each open file has a write-back cache of buffers
 * (`cache_buffer_size` bytes each, from a per-filesystem budget of
 * `cache_size` bytes). Writes land in the cache and reach the device on
 * spio_file_sync*(), on close, or when the budget needs the buffer; a
 * sequential reader gets read-ahead. Only data that a sync or close
 * reported as done survives a crash or power cut: after one, a file reads
 * back with its length and content as of its last completed sync.
 *
 * Memory. Names are copied. A `struct spio_file` is valid from the open
 * callback until its close callback; a `struct spio_filesystem` until its
 * unload callback. Payload buffers are the caller's, any memory (data is
 * copied into and out of the cache), and must stay valid until the
 * operation's callback (async) or return (sync).
 *
 * Errors (negative errno): -EINVAL (empty name, NULL argument, a flag this
 * header does not define), -ENAMETOOLONG (a name over SPIO_FILE_NAME_MAX
 * bytes), -ENOENT (no such file), -EEXIST (exclusive create of an existing
 * name), -EBADF (a write or truncate on a read-only open), -EBUSY (a second
 * writable open of a file, or unload with files open), -EFBIG (an offset or
 * length past what the device could ever hold), -ENOSPC (the device is
 * full), -ENOMEM, -EXDEV (wrong thread), -EIO (the device failed).
 */
#ifndef SPIO_BLOBFS_H
#define SPIO_BLOBFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/blob.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spio_bs_dev;
struct spio_thread;
struct spio_filesystem;
struct spio_file;
struct spio_fs_thread_ctx;

/** Longest file name in bytes, NUL not counted (SPDK's SPDK_FILE_NAME_MAX). */
#define SPIO_FILE_NAME_MAX 255
/** The blobstore type of a BlobFS (SPDK's "BLOBFS" signature). */
#define SPIO_BLOBFS_BSTYPE "BLOBFS"
/** Default cluster size of a new filesystem: 1 MiB, SPDK's. */
#define SPIO_BLOBFS_DEFAULT_CLUSTER_SZ (1024u * 1024u)
/** Default cache budget per filesystem: 256 MiB (SPDK's global default was 4 GiB). */
#define SPIO_BLOBFS_DEFAULT_CACHE_SIZE (256ull * 1024 * 1024)
/** Default cache buffer: 256 KiB, SPDK's (cache_buffer_shift 18). */
#define SPIO_BLOBFS_DEFAULT_CACHE_BUFFER_SIZE (256u * 1024u)

/** Open flags (SPDK's SPDK_BLOBFS_OPEN_CREATE plus POSIX-like extras). */
enum spio_blobfs_open_flags {
	/** Create the file when it does not exist. */
	SPIO_BLOBFS_OPEN_CREATE = 1u << 0,
	/** With CREATE: fail with -EEXIST when the file exists (O_EXCL). */
	SPIO_BLOBFS_OPEN_EXCL = 1u << 1,
	/** Read only: writes, truncates fail with -EBADF; any number may be open. */
	SPIO_BLOBFS_OPEN_RDONLY = 1u << 2,
};

/** Options of spio_fs_init() and spio_fs_load() (SPDK's struct spdk_blobfs_opts). */
struct spio_blobfs_opts {
	/** Cluster size in bytes of a new filesystem (init only; load reads it). */
	uint32_t cluster_sz;
	/** Cache budget in bytes for all open files (SPDK's spdk_fs_set_cache_size). */
	uint64_t cache_size;
	/** Bytes per cache buffer: a power of two, 4 KiB to 4 MiB, a multiple of the io unit. */
	uint32_t cache_buffer_size;
	/** sizeof(struct spio_blobfs_opts) as the caller knows it. */
	size_t opts_size;
};

/** What spio_fs_file_stat*() reports (SPDK's struct spdk_file_stat). */
struct spio_file_stat {
	/** The file's blob id. */
	spio_blob_id blobid;
	/** Length in bytes, unsynced writes included. */
	uint64_t size;
};

/** One entry of spio_fs_list*(). */
struct spio_fs_dirent {
	/** The name, NUL-terminated. */
	char name[SPIO_FILE_NAME_MAX + 1];
	/** Length in bytes, unsynced writes included. */
	uint64_t size;
	/** The file's blob id. */
	spio_blob_id blobid;
};

/** What spio_fs_get_stat*() reports (for statfs / df). */
struct spio_fs_stat {
	uint64_t cluster_size;
	uint64_t total_clusters;
	uint64_t free_clusters;
	/** The smallest unit of device I/O (the blobstore's io unit). */
	uint64_t io_unit_size;
	/** Number of files in the namespace (deleted-but-open ones not counted). */
	uint64_t files;
	/** Cache bytes in use now, and the budget. */
	uint64_t cache_used;
	uint64_t cache_size;
};

/** Completion of a filesystem or file operation: 0 or a negative errno. */
typedef void (*spio_fs_op_complete)(void *cb_arg, int fserrno);
/** Completion of init / load: the filesystem, or NULL and a negative errno. */
typedef void (*spio_fs_op_with_handle_complete)(void *cb_arg, struct spio_filesystem *fs,
						int fserrno);
/** Completion of an open: the file, or NULL and a negative errno. */
typedef void (*spio_file_op_with_handle_complete)(void *cb_arg, struct spio_file *file,
						  int fserrno);
/** Completion of a stat: *stat valid only during the call; NULL on error. */
typedef void (*spio_file_stat_op_complete)(void *cb_arg, const struct spio_file_stat *stat,
					   int fserrno);
/** Completion of a list: `ents[0..count)` valid only during the call. */
typedef void (*spio_fs_list_complete)(void *cb_arg, const struct spio_fs_dirent *ents, size_t count,
				      int fserrno);
/** Completion of a read: bytes read (short only at end of file, 0 at or past it), or a negative
 * errno. */
typedef void (*spio_file_read_complete)(void *cb_arg, int64_t result);

/**
 * Fill `opts` with the defaults: cluster_sz SPIO_BLOBFS_DEFAULT_CLUSTER_SZ,
 * cache_size SPIO_BLOBFS_DEFAULT_CACHE_SIZE (or what the RPC
 * blobfs_set_cache_size last set), cache_buffer_size
 * SPIO_BLOBFS_DEFAULT_CACHE_BUFFER_SIZE. Any thread.
 */
void spio_fs_opts_init(struct spio_blobfs_opts *opts, size_t opts_size);

/*
 * Filesystem lifecycle (fs thread = the calling spio thread)
 */

/**
 * Make a new, empty filesystem on `dev` (mkfs): a blobstore of type
 * "BLOBFS" with opts->cluster_sz (NULL opts: the defaults). The filesystem
 * owns `dev` from this call on, also on failure (it destroys it).
 * Errors: the blobstore's (-EINVAL bad cluster size, -ENOSPC device too
 * small, -EIO), -ENOMEM.
 */
void spio_fs_init(struct spio_bs_dev *dev, const struct spio_blobfs_opts *opts,
		  spio_fs_op_with_handle_complete cb_fn, void *cb_arg);

/**
 * Load the filesystem on `dev`. A blobstore with an empty type becomes
 * "BLOBFS" (as SPDK does); any other type fails with -EINVAL. Files left
 * marked deleted by a crash are removed. Ownership of `dev` as spio_fs_init().
 * Errors: -EINVAL (not a BlobFS), -EILSEQ (a file's xattrs are malformed),
 * the blobstore's load errors, -ENOMEM.
 */
void spio_fs_load(struct spio_bs_dev *dev, const struct spio_blobfs_opts *opts,
		  spio_fs_op_with_handle_complete cb_fn, void *cb_arg);

/**
 * Unload: write back the blobstore's metadata and release everything
 * (the device too). Every file must be closed first: -EBUSY otherwise,
 * and nothing changes.
 */
void spio_fs_unload(struct spio_filesystem *fs, spio_fs_op_complete cb_fn, void *cb_arg);

/** The fs thread. Any thread. */
struct spio_thread *spio_fs_get_thread(struct spio_filesystem *fs);

/** The blobstore under the filesystem (read its geometry; do not unload it). Any thread. */
struct spio_blob_store *spio_fs_get_bs(struct spio_filesystem *fs);

/**
 * Change the cache budget (bytes, at least two cache buffers: -EINVAL
 * otherwise). Lowering it writes back and drops buffers as they are next
 * needed. Fs thread. \return 0 or a negative errno.
 */
int spio_fs_set_cache_size(struct spio_filesystem *fs, uint64_t cache_size);

/** The cache budget in bytes. Any thread. */
uint64_t spio_fs_get_cache_size(struct spio_filesystem *fs);

/** Fill `st` (geometry, free space, file count, cache use). Fs thread. */
void spio_fs_get_stat(struct spio_filesystem *fs, struct spio_fs_stat *st);

/*
 * Namespace, async (fs thread)
 */

/**
 * Open `name` with `flags` (enum spio_blobfs_open_flags). Opening a file
 * again gives another handle on the same file (same data, same cache).
 * A file deleted while open cannot be opened again (-ENOENT).
 * Errors: -EINVAL, -ENAMETOOLONG, -ENOENT (no CREATE), -EEXIST (EXCL),
 * -EBUSY (a writable open while another writable handle is open),
 * -ENOSPC (no metadata page for a new file), -ENOMEM, -EIO.
 */
void spio_fs_open_file_async(struct spio_filesystem *fs, const char *name, uint32_t flags,
			     spio_file_op_with_handle_complete cb_fn, void *cb_arg);

/** Create an empty file, persisted before cb_fn. Errors as open; -EEXIST when it exists. */
void spio_fs_create_file_async(struct spio_filesystem *fs, const char *name,
			       spio_fs_op_complete cb_fn, void *cb_arg);

/**
 * Delete `name`. When the file is open, its name goes at once (and may be
 * reused), the open handles keep reading and writing it, and its blob is
 * deleted at the last close (or at the next load after a crash).
 * Errors: -EINVAL, -ENAMETOOLONG, -ENOENT, -EIO.
 */
void spio_fs_delete_file_async(struct spio_filesystem *fs, const char *name,
			       spio_fs_op_complete cb_fn, void *cb_arg);

/**
 * Rename `old_name` to `new_name`, persisted before cb_fn. An existing
 * `new_name` is deleted first (as spio_fs_delete_file_async()); renaming a
 * name to itself does nothing. Open handles follow the file.
 * Errors: -EINVAL, -ENAMETOOLONG, -ENOENT (no old_name), -EIO.
 */
void spio_fs_rename_file_async(struct spio_filesystem *fs, const char *old_name,
			       const char *new_name, spio_fs_op_complete cb_fn, void *cb_arg);

/** Stat `name`. Errors: -EINVAL, -ENAMETOOLONG, -ENOENT. */
void spio_fs_file_stat_async(struct spio_filesystem *fs, const char *name,
			     spio_file_stat_op_complete cb_fn, void *cb_arg);

/** Every file, in no set order (a snapshot). Errors: -ENOMEM. */
void spio_fs_list_async(struct spio_filesystem *fs, spio_fs_list_complete cb_fn, void *cb_arg);

/*
 * Files, async (fs thread)
 */

/**
 * Read up to `length` bytes at `offset` into `payload`. Bytes never
 * written below the length (a gap) read as zeroes. Result: bytes read.
 */
void spio_file_read_async(struct spio_file *file, void *payload, uint64_t offset, uint64_t length,
			  spio_file_read_complete cb_fn, void *cb_arg);

/**
 * Write `length` bytes at `offset` (any offset: past the end leaves a gap
 * of zeroes). Done when the data is in the cache; space on the device is
 * taken at this call, so a full device fails here with -ENOSPC, not later.
 * Errors: -EBADF (read-only handle), -EFBIG, -ENOSPC, -ENOMEM, -EIO.
 */
void spio_file_write_async(struct spio_file *file, const void *payload, uint64_t offset,
			   uint64_t length, spio_fs_op_complete cb_fn, void *cb_arg);

/**
 * Set the length to `length`: shorter drops the tail (its space is freed
 * at the next sync), longer adds zeroes. Errors: -EBADF, -EFBIG (past the
 * device's capacity), -ENOSPC, -EIO.
 */
void spio_file_truncate_async(struct spio_file *file, uint64_t length, spio_fs_op_complete cb_fn,
			      void *cb_arg);

/**
 * Write back the file's cached data and then its length: when cb_fn gets
 * 0, the file as it was at this call survives a crash. Errors: -EIO, -ENOSPC.
 */
void spio_file_sync_async(struct spio_file *file, spio_fs_op_complete cb_fn, void *cb_arg);

/**
 * Close the handle: a writable handle syncs first (as spio_file_sync_async());
 * the last close of a deleted file deletes its blob. The handle is gone
 * when cb_fn runs, even if the sync failed (its error is returned).
 */
void spio_file_close_async(struct spio_file *file, spio_fs_op_complete cb_fn, void *cb_arg);

/** The file's current name (valid until the next rename or delete of it). Fs thread. */
const char *spio_file_get_name(struct spio_file *file);

/** The file's length in bytes, unsynced writes included. Fs thread. */
uint64_t spio_file_get_length(struct spio_file *file);

/** The file's blob id. Any thread. */
spio_blob_id spio_file_get_id(struct spio_file *file);

/*
 * _await twins: inside a spio task on the fs thread, start the operation of
 * the same name and suspend the task until it completes; return its status
 * (0, or a read's byte count, or the negative errno), results through
 * out-parameters. Outside a task they return -EPERM and do nothing.
 */
int spio_fs_init_await(struct spio_bs_dev *dev, const struct spio_blobfs_opts *opts,
		       struct spio_filesystem **fs);
int spio_fs_load_await(struct spio_bs_dev *dev, const struct spio_blobfs_opts *opts,
		       struct spio_filesystem **fs);
int spio_fs_unload_await(struct spio_filesystem *fs);
int spio_fs_open_file_await(struct spio_filesystem *fs, const char *name, uint32_t flags,
			    struct spio_file **file);
int spio_fs_create_file_await(struct spio_filesystem *fs, const char *name);
int spio_fs_delete_file_await(struct spio_filesystem *fs, const char *name);
int spio_fs_rename_file_await(struct spio_filesystem *fs, const char *old_name,
			      const char *new_name);
int spio_fs_file_stat_await(struct spio_filesystem *fs, const char *name,
			    struct spio_file_stat *stat);
/**
 * Every file (as spio_fs_list_async()): *ents becomes a malloc'ed array of
 * *count entries (NULL when there are none) that the caller frees with free().
 */
int spio_fs_list_await(struct spio_filesystem *fs, struct spio_fs_dirent **ents, size_t *count);
int64_t spio_file_read_await(struct spio_file *file, void *payload, uint64_t offset,
			     uint64_t length);
int spio_file_write_await(struct spio_file *file, const void *payload, uint64_t offset,
			  uint64_t length);
int spio_file_truncate_await(struct spio_file *file, uint64_t length);
int spio_file_sync_await(struct spio_file *file);
int spio_file_close_await(struct spio_file *file);

/*
 * Synchronous API, for OS threads that do not run a spio thread (see the
 * top of this file). Each OS thread that calls it holds its own context.
 * Every call blocks until the operation finished on the fs thread and
 * returns what the async operation reports (0, a byte count for reads, or
 * a negative errno); -EDEADLK from inside a spio thread; -ENOMEM when the
 * message to the fs thread cannot be sent.
 */

/**
 * A context for the calling OS thread (SPDK's spdk_fs_alloc_thread_ctx);
 * NULL on -ENOMEM. Use it from one OS thread at a time; free it with
 * spio_fs_free_thread_ctx() before the filesystem is unloaded.
 */
struct spio_fs_thread_ctx *spio_fs_alloc_thread_ctx(struct spio_filesystem *fs);

/** Free a context (no call of it in progress). NULL is ignored. */
void spio_fs_free_thread_ctx(struct spio_fs_thread_ctx *ctx);

int spio_fs_open_file(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx, const char *name,
		      uint32_t flags, struct spio_file **file);
int spio_fs_create_file(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx,
			const char *name);
int spio_fs_delete_file(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx,
			const char *name);
int spio_fs_rename_file(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx,
			const char *old_name, const char *new_name);
int spio_fs_file_stat(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx, const char *name,
		      struct spio_file_stat *stat);
/** The statfs figures of spio_fs_get_stat(), taken on the fs thread. */
int spio_fs_stat(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx,
		 struct spio_fs_stat *st);
/**
 * Every file: *ents becomes a malloc'ed array of *count entries (NULL when
 * there are none) that the caller frees with free().
 */
int spio_fs_list(struct spio_filesystem *fs, struct spio_fs_thread_ctx *ctx,
		 struct spio_fs_dirent **ents, size_t *count);
int64_t spio_file_read(struct spio_file *file, struct spio_fs_thread_ctx *ctx, void *payload,
		       uint64_t offset, uint64_t length);
int spio_file_write(struct spio_file *file, struct spio_fs_thread_ctx *ctx, const void *payload,
		    uint64_t offset, uint64_t length);
int spio_file_truncate(struct spio_file *file, struct spio_fs_thread_ctx *ctx, uint64_t length);
int spio_file_sync(struct spio_file *file, struct spio_fs_thread_ctx *ctx);
/** Length and blob id of an open file, read on the fs thread. */
int spio_file_fstat(struct spio_file *file, struct spio_fs_thread_ctx *ctx,
		    struct spio_file_stat *stat);
/** Close (as spio_file_close_async()); the handle is gone on return, whatever the result. */
int spio_file_close(struct spio_file *file, struct spio_fs_thread_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BLOBFS_H */
