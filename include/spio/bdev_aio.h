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
	/** Offer unmap and write_zeroes where the file supports them (default false, as SPDK). */
	bool fallocate;
	/** Events per channel's AIO context, 1..65536 (default 512). */
	uint32_t queue_depth;
	/**
	 * SPDK's RWF_NOWAIT submission: not built, so only false (default) is
	 * accepted; true is refused with -EINVAL rather than ignored.
	 */
	bool nowait;
};

/**
 * Fill `opts` with the defaults (direct, no fallocate as in SPDK, queue depth 512,
 * everything else 0 or false) for a caller that knows `opts_size` bytes of
 * the struct (sizeof(*opts)); nothing beyond is written. NULL or a zero
 * size is ignored. Any thread.
 */
void spio_bdev_aio_opts_init(struct spio_bdev_aio_opts *opts, size_t opts_size);

/**
 * Open the file and register an aio bdev over it. On a spio thread, after
 * spio_bdev_initialize().
 *
 * \param opts see struct spio_bdev_aio_opts; only read during the call
 *        (name and filename are copied). Fields beyond opts->opts_size take
 *        the defaults.
 * \param bdev out: the new bdev (owned by the module; valid until
 *        spio_bdev_aio_delete() or spio_bdev_finish()).
 * \param err optional buffer (`err_len` bytes) for a one-line message
 *        naming the file and the problem (the message is also logged).
 * \return 0; -EINVAL (bad options, `nowait` true, an empty file, a size
 *         that is not a multiple of the block size, a block size below the
 *         device's with O_DIRECT, O_DIRECT not supported, not a regular file
 *         or block device); -EEXIST (name taken); -ENOENT; -EACCES, -EPERM,
 *         -EROFS; -EISDIR; -ENOMEM; or spio_bdev_register()'s error.
 *         Nothing is left open or registered on error. (An AIO context that
 *         cannot be set up, fs.aio-max-nr reached, fails the channel, not
 *         the create.)
 */
int spio_bdev_aio_create(const struct spio_bdev_aio_opts *opts, struct spio_bdev **bdev, char *err,
			 size_t err_len);

/**
 * Unregister an aio bdev; openers get SPIO_BDEV_EVENT_REMOVE, and once all
 * closed and their channels gone, the file is closed and `cb(cb_arg, rc)`
 * (optional) runs on the calling thread, never before this returns. On a
 * spio thread; `name` is only read during the call.
 * \return 0 (cb will run); -EINVAL (NULL name); -ENODEV (no aio bdev of
 *         that name); -EBUSY (already being removed). On error cb is not
 *         called.
 */
int spio_bdev_aio_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

/**
 * Read the file's or device's size again; if it grew (or shrank while
 * nobody has the bdev open), the bdev follows and every opener gets
 * SPIO_BDEV_EVENT_RESIZE on its thread. A partial last block is not
 * counted. On a spio thread; synchronous; `name` is only read.
 * \return 0 (also when unchanged); -EINVAL (NULL name, or shrank below one
 *         block); -ENODEV (no aio bdev of that name); -EIO (size
 *         unreadable); -EBUSY (shrank while open).
 */
int spio_bdev_aio_rescan(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BDEV_AIO_H */
