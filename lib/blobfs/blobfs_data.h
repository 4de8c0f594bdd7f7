/*
 * BlobFS data half: the per-file write-back cache and what the namespace
 * half calls of it. Internal to lib/blobfs. Owned by the data half; the
 * namespace half uses only the functions declared here.
 */
#ifndef SPIO_BLOBFS_DATA_H
#define SPIO_BLOBFS_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "spio/blobfs.h"

struct blobfs_file;

/* Per filesystem: the cache budget and what is in use. */
struct blobfs_cache {
	uint64_t budget;      /* bytes */
	uint64_t used;	      /* bytes of buffers allocated */
	uint32_t buffer_size; /* bytes per buffer, a power of two */
};

/* Per file: its cached buffers and read-ahead state. */
struct blobfs_file_data {
	void *impl; /* the data half's own structure; NULL when nothing is cached */
};

/*
 * Set up the filesystem's cache from the options (already validated by
 * blobfs_cache_check_opts()). Called once by init / load.
 */
void blobfs_cache_init(struct spio_filesystem *fs, const struct spio_blobfs_opts *opts);

/* 0, or -EINVAL for cache options spio_fs_init / spio_fs_load must refuse. */
int blobfs_cache_check_opts(const struct spio_blobfs_opts *opts, uint64_t io_unit_size);

/* Release what the cache holds for the filesystem at unload (no file open). */
void blobfs_cache_fini(struct spio_filesystem *fs);

/*
 * The file's first handle opened (its blob is open): set up its data state.
 * \return 0 or -ENOMEM.
 */
int blobfs_file_data_open(struct blobfs_file *file);

/*
 * The file's last handle is closing: write back every dirty buffer and the
 * length (as spio_file_sync_async()), then cb_fn. Called before the blob is
 * closed. A deleted file's data is dropped instead of written (cb_fn(0)).
 */
void blobfs_file_data_flush(struct blobfs_file *file, spio_fs_op_complete cb_fn, void *cb_arg);

/* The file's last handle closed: free every buffer it holds. */
void blobfs_file_data_close(struct blobfs_file *file);

#endif /* SPIO_BLOBFS_DATA_H */
