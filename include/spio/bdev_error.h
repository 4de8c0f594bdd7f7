/*
 * The error injection virtual bdev (SPDK's bdev_error): "EE_<base>" on a
 * claimed base bdev forwards I/O and, when told to, fails, holds, corrupts
 * or delays the next I/O of a type. For tests of the layers above the bdev.
 * See docs/vbdevs.md.
 */
#ifndef SPIO_BDEV_ERROR_H
#define SPIO_BDEV_ERROR_H

#include "spio/bdev.h"
#include "spio/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What an injected error does (SPDK's error_type names). */
enum spio_bdev_error_type {
	SPIO_BDEV_ERROR_TYPE_NONE = 0,
	/** Completes the I/O as failed without touching the base. */
	SPIO_BDEV_ERROR_TYPE_FAILURE,
	/** Holds the I/O until spio_bdev_error_resume_pending() or a reset (which fails it). */
	SPIO_BDEV_ERROR_TYPE_PENDING,
	/** Reads: the data read gets a byte XORed; writes: the data written does. */
	SPIO_BDEV_ERROR_TYPE_CORRUPT_DATA,
	/** As SPDK's NOMEM status: the I/O is retried later (from a message) and then done. */
	SPIO_BDEV_ERROR_TYPE_NOMEM,
	/** SPDK's NVMe status completion; spio's bdev has no NVMe status: fails the I/O. */
	SPIO_BDEV_ERROR_TYPE_NVME_FAILURE,
};

/** What to inject (spio_bdev_error_inject()). */
struct spio_bdev_error_inject_opts {
	/**
	 * SPIO_BDEV_IO_TYPE_READ, _WRITE, _UNMAP or _FLUSH; SPIO_BDEV_NUM_IO_TYPES
	 * for all four ("all"); SPIO_BDEV_IO_TYPE_INVALID clears every count
	 * ("clear").
	 */
	enum spio_bdev_io_type io_type;
	enum spio_bdev_error_type error_type;
	/** How many I/Os get it; 0 disables the injection. */
	uint32_t num;
	/** Inject only while at least this many I/Os are in flight on the channel. */
	uint64_t queue_depth;
	/** corrupt_data: byte offset in the I/O's data, and the XOR value (non-zero). */
	uint64_t corrupt_offset;
	uint8_t corrupt_value;
	/** nvme_failure: the status wanted (kept for bdev_get_bdevs; the I/O fails). */
	uint32_t nvme_sct;
	uint32_t nvme_sc;
};

/**
 * Create "EE_<base_name>" on `base_name`, or remember it and create it when
 * the base is registered. On a spio thread (the base's descriptor lives on it).
 * \param uuid NULL or all-zero: generated.
 * \param bdev receives the new bdev, or NULL when creation was deferred.
 * \return 0; -EINVAL (NULL or empty name); -EEXIST (configured already, or
 *         the name is taken); -EPERM (base claimed or open for writing); -ENOMEM.
 */
int spio_bdev_error_create(const char *base_name, const struct spio_uuid *uuid,
			   struct spio_bdev **bdev);

/**
 * Delete the error bdev `name` ("EE_..."), forgetting its configuration;
 * `cb` runs on this thread once it is gone. On a spio thread.
 * \return 0; -EINVAL; -ENODEV (no error bdev of that name).
 */
int spio_bdev_error_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

/**
 * Arm (or clear) an injection on the error bdev `name`. Any thread.
 * \return 0; -EINVAL (NULL, io_type or error_type unknown, corrupt_data with
 *         corrupt_value 0); -ENODEV (no error bdev of that name).
 */
int spio_bdev_error_inject(const char *name, const struct spio_bdev_error_inject_opts *opts);

/**
 * Send every I/O held by a pending injection on to the base, and stop the
 * pending injections. On a spio thread; asynchronous (per channel).
 * \return 0; -EINVAL; -ENODEV (no error bdev of that name).
 */
int spio_bdev_error_resume_pending(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BDEV_ERROR_H */
