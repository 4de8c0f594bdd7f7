/*
 * The "malloc" bdev module: a RAM disk in zeroed DMA memory.
 *
 * Every I/O type is supported and done inline with memcpy (the core defers
 * the completion): unmap and write_zeroes zero the range, compare and
 * compare_and_write are exact, and compare_and_write is atomic.
 *
 * RPCs (SPDK's names and parameters): bdev_malloc_create,
 * bdev_malloc_delete. SPDK's metadata and protection-information
 * parameters are part of the options so that every request SPDK's rpc.py
 * sends decodes; spio keeps neither, so they are accepted where they
 * describe none and refused otherwise (docs/bdev_module.md has the table).
 *
 * Thread rules: create and delete run on a spio thread after
 * spio_bdev_initialize() (the "bdev" subsystem does that in an app).
 */
#ifndef SPIO_BDEV_MALLOC_H
#define SPIO_BDEV_MALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/bdev.h"
#include "spio/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of spio_bdev_malloc_create(); fill with spio_bdev_malloc_opts_init() first. */
struct spio_bdev_malloc_opts {
	/** sizeof(struct spio_bdev_malloc_opts) as the caller knows it. */
	size_t opts_size;
	/**
	 * Name of the new bdev (copied); NULL (default): "MallocN" with the
	 * smallest N not taken.
	 */
	const char *name;
	/** UUID; all-zero (default): generated. */
	struct spio_uuid uuid;
	/** Number of blocks; required, > 0. */
	uint64_t num_blocks;
	/** Block size in bytes; required, a multiple of 512. */
	uint32_t block_size;
	/**
	 * Physical block size in bytes, a multiple of 512; 0 (default): the
	 * block size. Reported and saved; the RAM disk itself has no
	 * preferred write size.
	 */
	uint32_t physical_block_size;
	/**
	 * Optimal I/O boundary in blocks: reads and writes that cross a
	 * multiple of it are split by the core. 0 (default): none.
	 */
	uint32_t optimal_io_boundary;
	/** Metadata bytes per block: only 0 (default) is supported. */
	uint32_t md_size;
	/** Metadata interleaved with the data; with no metadata any value means the same. */
	bool md_interleave;
	/** Protection information type: only 0 (default, none) is supported. */
	uint32_t dif_type;
	/** Protection information at the head of the metadata; with none, any value. */
	bool dif_is_head_of_md;
	/** Protection information format 0, 1 or 2 (16, 32, 64-bit guard); with none, any of them.
	 */
	uint32_t dif_pi_format;
	/**
	 * NUMA node for the memory: -1 (default) any. spio does not place
	 * memory by node, so only a node that changes nothing is accepted: 0
	 * on a machine with a single node.
	 */
	int32_t numa_id;
};

/**
 * Fill `opts` with the defaults (every field 0 or false, numa_id -1) for a
 * caller that knows `opts_size` bytes of the struct (sizeof(*opts)). NULL
 * or a zero size is ignored. Any thread.
 */
void spio_bdev_malloc_opts_init(struct spio_bdev_malloc_opts *opts, size_t opts_size);

/**
 * Create and register a malloc bdev of opts->num_blocks blocks of
 * opts->block_size bytes, zero-filled.
 *
 * On a spio thread, after spio_bdev_initialize().
 *
 * \param opts filled by spio_bdev_malloc_opts_init(); only read during the
 *        call (the name is copied). Fields beyond opts->opts_size take the
 *        defaults, so a caller built against an older, smaller struct works.
 * \param bdev out: the new bdev, owned by the module; valid until it is
 *        deleted (spio_bdev_malloc_delete()) or spio_bdev_finish() runs.
 * \param err optional buffer (`err_len` bytes) for a one-line message
 *        naming the bdev, the parameter and its value; the message is also
 *        logged.
 * \return 0; -EINVAL (NULL opts or bdev, opts_size 0, empty name,
 *         num_blocks 0, block or physical block size not a multiple of 512,
 *         a size above INT64_MAX bytes, an unsupported metadata / protection information /
 *         NUMA value); -EEXIST (name or UUID taken); -ENOMEM; or
 *         spio_bdev_register()'s error. Nothing is left behind on error.
 */
int spio_bdev_malloc_create(const struct spio_bdev_malloc_opts *opts, struct spio_bdev **bdev,
			    char *err, size_t err_len);

/**
 * Delete the malloc bdev `name`: every descriptor gets
 * SPIO_BDEV_EVENT_REMOVE; once the last is closed the memory is freed and
 * `cb(cb_arg, rc)` (optional) runs on the calling thread, never before this
 * returns. On a spio thread.
 *
 * \param name borrowed for the call.
 * \return 0 (cb will run); -EINVAL (NULL name); -ENODEV (no malloc bdev of
 *         that name, including a bdev of another module); -EBUSY (already
 *         being removed). On error cb is not called.
 */
int spio_bdev_malloc_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BDEV_MALLOC_H */
