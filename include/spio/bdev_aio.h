/*
 * The "aio" bdev module: a bdev over a regular file or a block device, with
 * I/O through Linux native AIO (libaio), for kernels or sandboxes without
 * io_uring. It behaves as the uring module (spio/bdev_uring.h) does:
 *
 * - One AIO context per channel (per thread and bdev); submit_request only
 *   prepares an iocb, the channel's poller submits them in one io_submit per
 *   poll and reaps completions from the context's ring in user space (no
 *   io_getevents system call). Each iocb signals an eventfd that wakes a
 *   sleeping reactor.
 * - O_DIRECT by default, buffered as an option; block size and size
 *   detected as for uring; the size must be a whole number of blocks.
 * - read, write, flush (IOCB_CMD_FDSYNC), reset; unmap and write_zeroes
 *   (fallocate, BLKDISCARD) run on a helper thread, since AIO has no
 *   asynchronous form of them; `fallocate` false turns them off.
 * - Misaligned buffers: as for uring (address rejected by the core,
 *   partial-block segments bounced).
 *
 * RPCs (SPDK's names and parameters): bdev_aio_create, bdev_aio_delete,
 * bdev_aio_rescan. See docs/kernel_bdevs.md.
 *
 * Thread rules: create, delete and rescan on a spio thread after
 * spio_bdev_initialize().
 */
#ifndef SPIO_BDEV_AIO_H
#define SPIO_BDEV_AIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/bdev.h"
#include "spio/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of spio_bdev_aio_create(); fill with spio_bdev_aio_opts_init() first. */
struct spio_bdev_aio_opts {
	/** sizeof(struct spio_bdev_aio_opts) as the caller knows it. */
	size_t opts_size;
	/** Name of the new bdev (required; copied). */
	const char *name;
	/** Path of the file or block device (required; copied). */
	const char *filename;
	/** Block size in bytes, a power of two from 512 to 65536; 0 (default): the device's. */
	uint32_t block_size;
	/** UUID; all-zero (default): generated. */
	struct spio_uuid uuid;
	/** Open with O_DIRECT (default true); false: through the page cache. */
	bool direct;
	/** Open read-only: no write, unmap or write_zeroes. Default false. */
	bool readonly;
	/** Offer unmap and write_zeroes where the file supports them (default true). */
	bool fallocate;
	/** Events per channel's AIO context, 1..65536 (default 512). */
	uint32_t queue_depth;
};

/** Fill `opts` with defaults; `opts_size` is sizeof(*opts). NULL is ignored. */
void spio_bdev_aio_opts_init(struct spio_bdev_aio_opts *opts, size_t opts_size);

/**
 * Open the file and register an aio bdev over it.
 *
 * \param opts see struct spio_bdev_aio_opts.
 * \param bdev out: the new bdev (owned by the module; delete it with
 *        spio_bdev_aio_delete()).
 * \param err optional buffer for a one-line message naming the file and the
 *        problem (the message is also logged).
 * \return as spio_bdev_uring_create(), with -EINVAL also when an AIO
 *         context cannot be set up (fs.aio-max-nr reached).
 */
int spio_bdev_aio_create(const struct spio_bdev_aio_opts *opts, struct spio_bdev **bdev, char *err,
			 size_t err_len);

/** Delete an aio bdev; as spio_bdev_uring_delete(). */
int spio_bdev_aio_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

/** Rescan an aio bdev's size; as spio_bdev_uring_rescan(). */
int spio_bdev_aio_rescan(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BDEV_AIO_H */
