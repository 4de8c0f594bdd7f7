/*
 * The "uring" bdev module: a bdev over a regular file or a block device,
 * with I/O through io_uring.
 *
 * Each thread that uses the bdev gets its own io_uring (the bdev's io
 * channel). submit_request only fills submission queue entries; the
 * channel's poller submits them in one system call per poll and reaps
 * completions from the shared ring without one. The ring's eventfd wakes a
 * sleeping reactor, so an idle thread does not spin.
 *
 * - O_DIRECT by default (`direct`), buffered as an option.
 * - Block size from the device (BLKSSZGET; a file's O_DIRECT alignment from
 *   statx), or given; size from BLKGETSIZE64 or the file's size, which must
 *   be a whole number of blocks.
 * - read, write (and their vector forms), flush (fdatasync), unmap (punched
 *   hole on a file, discard on a block device), write_zeroes (zeroed range)
 *   and reset (waits for the channel's earlier I/O). Unmap is offered where
 *   the file system punches holes or the device discards.
 * - With O_DIRECT, data buffers must be aligned to the block size
 *   (spio_bdev_get_buf_align(); the core rejects others with -EINVAL);
 *   segments that are not whole blocks long are bounced through an aligned
 *   buffer, never handed to the kernel to fail.
 * - Options: queue depth per channel, SQPOLL (a kernel thread polls the
 *   submission queue: no system call per submission), registered files and
 *   registered buffers (DMA memory is registered with each ring, segment by
 *   segment, on first use).
 *
 * RPCs (SPDK's names): bdev_uring_create, bdev_uring_delete,
 * bdev_uring_rescan. See docs/kernel_bdevs.md.
 *
 * Thread rules: create, delete and rescan on a spio thread after
 * spio_bdev_initialize() (the "bdev" subsystem).
 */
#ifndef SPIO_BDEV_URING_H
#define SPIO_BDEV_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/bdev.h"
#include "spio/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of spio_bdev_uring_create(); fill with spio_bdev_uring_opts_init() first. */
struct spio_bdev_uring_opts {
	/** sizeof(struct spio_bdev_uring_opts) as the caller knows it. */
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
	/** Submission queue entries per channel, 1..32768 (default 512). */
	uint32_t queue_depth;
	/** A kernel thread polls each channel's submission queue. Default false. */
	bool sqpoll;
	/** Register DMA memory with each ring (READ_FIXED / WRITE_FIXED). Default false. */
	bool registered_buffers;
	/** Register the file with each ring (IOSQE_FIXED_FILE). Default false. */
	bool registered_files;
};

/**
 * Fill `opts` with the defaults (direct, queue depth 512, everything else 0
 * or false) for a caller that knows `opts_size` bytes of the struct
 * (sizeof(*opts)); nothing beyond is written. NULL or a zero size is
 * ignored. Any thread.
 */
void spio_bdev_uring_opts_init(struct spio_bdev_uring_opts *opts, size_t opts_size);

/**
 * Open the file and register a uring bdev over it. On a spio thread, after
 * spio_bdev_initialize().
 *
 * \param opts see struct spio_bdev_uring_opts; only read during the call
 *        (name and filename are copied). Fields beyond opts->opts_size take
 *        the defaults.
 * \param bdev out: the new bdev (owned by the module; valid until
 *        spio_bdev_uring_delete() or spio_bdev_finish()).
 * \param err optional buffer (`err_len` bytes) for a one-line message
 *        naming the file and the problem (the message is also logged).
 * \return 0; -EINVAL (bad options; an empty file; a size that is not a
 *         multiple of the block size; a block size below the device's with
 *         O_DIRECT; O_DIRECT not supported by the file system; not a
 *         regular file or block device; io_uring unavailable); -EEXIST
 *         (name taken); -ENOENT; -EACCES, -EPERM, -EROFS (no permission);
 *         -EISDIR; -ENOMEM; or spio_bdev_register()'s error. Nothing is
 *         left open or registered on error.
 */
int spio_bdev_uring_create(const struct spio_bdev_uring_opts *opts, struct spio_bdev **bdev,
			   char *err, size_t err_len);

/**
 * Unregister a uring bdev; openers get SPIO_BDEV_EVENT_REMOVE, and once all
 * closed and their channels gone, the file is closed and `cb(cb_arg, rc)`
 * (optional) runs on the calling thread, never before this returns. On a
 * spio thread; `name` is only read during the call.
 * \return 0 (cb will run); -EINVAL (NULL name); -ENODEV (no uring bdev of
 *         that name); -EBUSY (already being removed). On error cb is not
 *         called.
 */
int spio_bdev_uring_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

/**
 * Read the file's or device's size again; if it grew (or shrank while
 * nobody has the bdev open), the bdev's size follows and every opener gets
 * SPIO_BDEV_EVENT_RESIZE (on their threads). A partial last block is not
 * counted. On a spio thread; synchronous (one fstat or ioctl); `name` is
 * only read during the call.
 * \return 0 (also when unchanged); -EINVAL (NULL name, or shrank below one
 *         block); -ENODEV (no uring bdev of that name); -EIO (size
 *         unreadable); -EBUSY (shrank while open).
 */
int spio_bdev_uring_rescan(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BDEV_URING_H */
