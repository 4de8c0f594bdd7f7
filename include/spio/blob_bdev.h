/*
 * Block devices under a blobstore (SPDK's struct spdk_bs_dev and
 * spdk_bdev_create_bs_dev): the blobstore reads and writes its metadata
 * and blob data through a `struct spio_bs_dev`, a table of functions over
 * some storage addressed in blocks of `blocklen` bytes.
 *
 * Two are provided: one over any bdev (spio_bdev_create_bs_dev(), which a
 * blobstore user may claim so nothing else writes the bdev) and one in
 * memory (spio_bs_dev_mem_create(), for tests and tools). A user may write
 * another by filling the table.
 *
 * Rules every bs_dev keeps, and the blobstore relies on:
 * - I/O is submitted on a spio thread with that thread's channel
 *   (create_channel() on the thread, destroy_channel() on the same thread).
 * - Completion: `cb_args->cb_fn(cb_args->channel, cb_args->cb_arg, errno)`
 *   is called exactly once per submitted operation, on the submitting
 *   thread, and never from inside the submitting call (so a callback may
 *   submit again without growing the stack). 0 is success; a negative errno
 *   is failure (-EIO a device error, -EINVAL a range past the end, -ENOMEM
 *   only if the device cannot queue the operation for later).
 * - `cb_args` is the caller's and must stay valid until its callback ran;
 *   so must the payload buffers and the iovec arrays.
 * - A bs_dev is destroyed through its destroy() by its owner (the blobstore
 *   after unload, or whoever created it if it never gave it away), once
 *   every channel is gone.
 */
#ifndef SPIO_BLOB_BDEV_H
#define SPIO_BLOB_BDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "spio/bdev.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spio_io_channel;
struct spio_bdev_module;
struct spio_bs_dev;

/** Completion of a bs_dev operation: 0 or a negative errno (see above). */
typedef void (*spio_bs_dev_cpl)(struct spio_io_channel *channel, void *cb_arg, int bserrno);

/** Where a bs_dev operation reports back; owned by the caller (see above). */
struct spio_bs_dev_cb_args {
	spio_bs_dev_cpl cb_fn;
	struct spio_io_channel *channel;
	void *cb_arg;
};

/**
 * A block device as the blobstore sees it. All function pointers but
 * get_base_bdev and is_zeroes are required. Block addresses (lba) and
 * counts are in units of `blocklen`.
 */
struct spio_bs_dev {
	/** A channel for the calling thread; NULL on failure (no memory). */
	struct spio_io_channel *(*create_channel)(struct spio_bs_dev *dev);
	/** Release a channel from create_channel(), on the thread that made it. */
	void (*destroy_channel)(struct spio_bs_dev *dev, struct spio_io_channel *channel);
	/** Free the device; no channel may remain. */
	void (*destroy)(struct spio_bs_dev *dev);

	void (*read)(struct spio_bs_dev *dev, struct spio_io_channel *channel, void *payload,
		     uint64_t lba, uint32_t lba_count, struct spio_bs_dev_cb_args *cb_args);
	void (*write)(struct spio_bs_dev *dev, struct spio_io_channel *channel, void *payload,
		      uint64_t lba, uint32_t lba_count, struct spio_bs_dev_cb_args *cb_args);
	void (*readv)(struct spio_bs_dev *dev, struct spio_io_channel *channel, struct iovec *iov,
		      int iovcnt, uint64_t lba, uint32_t lba_count,
		      struct spio_bs_dev_cb_args *cb_args);
	void (*writev)(struct spio_bs_dev *dev, struct spio_io_channel *channel, struct iovec *iov,
		       int iovcnt, uint64_t lba, uint32_t lba_count,
		       struct spio_bs_dev_cb_args *cb_args);
	/** Make completed writes durable. */
	void (*flush)(struct spio_bs_dev *dev, struct spio_io_channel *channel,
		      struct spio_bs_dev_cb_args *cb_args);
	/** The range reads back as zeroes afterwards. */
	void (*write_zeroes)(struct spio_bs_dev *dev, struct spio_io_channel *channel, uint64_t lba,
			     uint64_t lba_count, struct spio_bs_dev_cb_args *cb_args);
	/** The range's content is undefined afterwards (it may read as zeroes). */
	void (*unmap)(struct spio_bs_dev *dev, struct spio_io_channel *channel, uint64_t lba,
		      uint64_t lba_count, struct spio_bs_dev_cb_args *cb_args);

	/** The bdev underneath, or NULL (optional). */
	struct spio_bdev *(*get_base_bdev)(struct spio_bs_dev *dev);
	/** True if the range is known to read as zeroes without I/O (optional). */
	bool (*is_zeroes)(struct spio_bs_dev *dev, uint64_t lba, uint64_t lba_count);

	/** Size in blocks. */
	uint64_t blockcnt;
	/** Block size in bytes (a power of two, at least 512). */
	uint32_t blocklen;
};

/**
 * Open the bdev `bdev_name` as a bs_dev (SPDK's spdk_bdev_create_bs_dev).
 * Every operation maps to the bdev's block I/O; an operation the bdev
 * cannot take now (-ENOMEM from the bdev layer) waits for a free bdev_io and
 * is submitted again, never failed. write_zeroes on a bdev without that I/O
 * type writes zero buffers; unmap on a bdev without unmap completes at once
 * (unmap promises nothing about content); flush likewise.
 * On the thread that initialised the bdev layer.
 * \param write open for writing (needed for a blobstore that is written).
 * \param event_cb called for the bdev's events (hot remove, resize) on this
 *        thread; may be NULL, and then a hot-removed bdev's bs_dev fails I/O
 *        with -ENODEV after the removal.
 * \param bs_dev set to the new device; the caller owns it and frees it with
 *        (*bs_dev)->destroy() (which closes the bdev and drops a claim).
 * \return 0; -EINVAL (NULL arguments); -ENODEV (no such bdev); -EPERM (the
 *         bdev is claimed by a module and `write` is set); -ENOMEM.
 */
int spio_bdev_create_bs_dev(const char *bdev_name, bool write, spio_bdev_event_cb event_cb,
			    void *event_ctx, struct spio_bs_dev **bs_dev);

/**
 * Claim the bdev under a bs_dev from spio_bdev_create_bs_dev() for
 * `module` (SPDK's spdk_bs_bdev_claim), so no other module or writer can
 * open it for writing; the claim ends at destroy(). On the thread that
 * created it.
 * \return 0; -EINVAL (NULL, or not a bdev bs_dev); -EPERM (already claimed).
 */
int spio_bs_bdev_claim(struct spio_bs_dev *bs_dev, struct spio_bdev_module *module);

/**
 * The bdev under a bs_dev from spio_bdev_create_bs_dev(), or NULL for any
 * other bs_dev. Valid while the bs_dev lives.
 */
struct spio_bdev *spio_bs_dev_get_bdev(struct spio_bs_dev *bs_dev);

/**
 * A bs_dev in memory: `blockcnt` blocks of `blocklen` bytes, zero-filled
 * (large sizes cost only the pages written: the kernel maps zero pages). For tests
 * and tools; the data lives until destroy(). Operations may be submitted
 * from any spio thread with a channel of that thread; completions are
 * deferred with a message to the submitting thread.
 * \return the device, owned by the caller; NULL on -EINVAL (blocklen not a
 *         power of two >= 512, blockcnt 0, or the size overflows) or
 *         -ENOMEM, with errno set.
 */
struct spio_bs_dev *spio_bs_dev_mem_create(uint64_t blockcnt, uint32_t blocklen);

/**
 * The bytes of a memory bs_dev (blockcnt * blocklen of them), for a test or
 * tool to fill with an image or inspect; NULL for any other bs_dev. Valid
 * until destroy(); not to be touched while I/O is in flight.
 */
void *spio_bs_dev_mem_data(struct spio_bs_dev *bs_dev);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BLOB_BDEV_H */
