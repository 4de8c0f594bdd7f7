/*
 * The "null" bdev module: a bdev that stores nothing, for measuring the
 * layers above it.
 *
 * Writes, write_zeroes, unmap, flush and reset succeed without doing
 * anything; reads succeed and leave the caller's buffers untouched (no zero
 * fill, so a read costs nothing). compare and compare_and_write are not
 * supported (-ENOTSUP at submit).
 *
 * RPCs (SPDK's names and parameters): bdev_null_create, bdev_null_delete,
 * bdev_null_resize. As for malloc (spio/bdev_malloc.h), SPDK's metadata and
 * protection-information parameters are accepted where they describe none
 * and refused otherwise.
 *
 * Thread rules: create, delete and resize run on a spio thread after
 * spio_bdev_initialize().
 */
#ifndef SPIO_BDEV_NULL_H
#define SPIO_BDEV_NULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/bdev.h"
#include "spio/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of spio_bdev_null_create(); fill with spio_bdev_null_opts_init() first. */
struct spio_bdev_null_opts {
	/** sizeof(struct spio_bdev_null_opts) as the caller knows it. */
	size_t opts_size;
	/**
	 * Name of the new bdev (copied); NULL (default): "NullN" with the
	 * smallest N not taken (SPDK requires a name; spio does not).
	 */
	const char *name;
	/** UUID; all-zero (default): generated. */
	struct spio_uuid uuid;
	/** Number of blocks; required, > 0. */
	uint64_t num_blocks;
	/** Block size in bytes; required, a multiple of 512. */
	uint32_t block_size;
	/** Physical block size in bytes, a multiple of 512; 0 (default): the block size. */
	uint32_t physical_block_size;
	/** Metadata bytes per block: only 0 (default) is supported. */
	uint32_t md_size;
	/** Protection information type: only 0 (default, none) is supported. */
	uint32_t dif_type;
	/** Protection information at the head of the metadata; with none, any value. */
	bool dif_is_head_of_md;
	/** Protection information format 0, 1 or 2; with none, any of them. */
	uint32_t dif_pi_format;
	/*
	 * Hints in blocks for the users of the bdev (SPDK advertises them
	 * through NVMe-oF): recorded, reported in bdev_get_bdevs'
	 * driver_specific and saved; 0 (default): none.
	 */
	/** Preferred write alignment in blocks. */
	uint32_t preferred_write_alignment;
	/** Preferred write granularity in blocks. */
	uint32_t preferred_write_granularity;
	/** Optimal write size in blocks. */
	uint32_t optimal_write_size;
	/** Preferred unmap alignment in blocks. */
	uint32_t preferred_unmap_alignment;
	/** Preferred unmap granularity in blocks. */
	uint32_t preferred_unmap_granularity;
};

/**
 * Fill `opts` with the defaults (every field 0 or false) for a caller that
 * knows `opts_size` bytes of the struct (sizeof(*opts)). NULL or a zero
 * size is ignored. Any thread.
 */
void spio_bdev_null_opts_init(struct spio_bdev_null_opts *opts, size_t opts_size);

/**
 * Create and register a null bdev of opts->num_blocks blocks of
 * opts->block_size bytes.
 *
 * On a spio thread, after spio_bdev_initialize().
 *
 * \param opts filled by spio_bdev_null_opts_init(); only read during the
 *        call (the name is copied). Fields beyond opts->opts_size take the
 *        defaults.
 * \param bdev out: the new bdev, owned by the module; valid until it is
 *        deleted (spio_bdev_null_delete()) or spio_bdev_finish() runs.
 * \param err optional buffer (`err_len` bytes) for a one-line message
 *        naming the bdev, the parameter and its value; also logged.
 * \return 0; -EINVAL (NULL opts or bdev, opts_size 0, empty name,
 *         num_blocks 0, block or physical block size not a multiple of 512,
 *         a size (num_blocks * block_size) above INT64_MAX bytes, an
 *         unsupported metadata or protection information value);
 *         -EEXIST (name or UUID taken); -ENOMEM; or spio_bdev_register()'s
 *         error. Nothing is left behind on error.
 */
int spio_bdev_null_create(const struct spio_bdev_null_opts *opts, struct spio_bdev **bdev,
			  char *err, size_t err_len);

/**
 * Delete the null bdev `name`: descriptors get SPIO_BDEV_EVENT_REMOVE; once
 * the last is closed the bdev is freed and `cb(cb_arg, rc)` (optional) runs
 * on the calling thread, never before this returns. On a spio thread.
 *
 * \param name borrowed for the call.
 * \return 0 (cb will run); -EINVAL (NULL name); -ENODEV (no null bdev of
 *         that name); -EBUSY (already being removed). On error cb is not
 *         called.
 */
int spio_bdev_null_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

/**
 * Resize the null bdev `name` to `new_size_mb` MiB (SPDK's
 * bdev_null_resize). Growing is always allowed; shrinking only while no
 * descriptor is open (unlike SPDK, which never shrinks). Every open
 * descriptor gets SPIO_BDEV_EVENT_RESIZE on its own thread. On a spio
 * thread; synchronous.
 *
 * \param name borrowed for the call.
 * \return 0; -EINVAL (NULL name, size 0, above INT64_MAX bytes or not a
 *         whole number of blocks, or `name` is a bdev of another module, as
 *         SPDK answers); -ENODEV
 *         (no bdev of that name); -EBUSY (shrinking while open, or the bdev
 *         is being removed).
 */
int spio_bdev_null_resize(const char *name, uint64_t new_size_mb);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BDEV_NULL_H */
