/*
 * Block devices: the application's view.
 *
 * A bdev is a named array of fixed-size blocks provided by a module (malloc,
 * null, ...). Applications find one by name, open a descriptor on it, get a
 * per-thread I/O channel from the descriptor and submit I/O through the
 * descriptor and channel. Each I/O completes by calling
 * `cb(bdev_io, success, cb_arg)` exactly once, on the submitting thread and
 * never before the submit function returned 0; the callback (or later code
 * on the same thread) releases the bdev_io with spio_bdev_free_io().
 *
 * Thread rules: spio_bdev_initialize/finish, open/close, channels and I/O run
 * on spio threads. A descriptor belongs to the thread that opened it: close
 * it there, and its event callback runs there. Its I/O channels may be got on
 * any thread; I/O is submitted on the channel's thread.
 *
 * Every `_await` function is the twin of the callback function of the same
 * name: call it from a task (spio/task.h); it returns 0 on success, -EIO if
 * the device failed the I/O, -EILSEQ on a compare mismatch, the submit
 * function's error if it could not start, or -EPERM outside a task. The
 * bdev_io is freed inside.
 */
#ifndef SPIO_BDEV_H
#define SPIO_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "spio/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spio_bdev;
struct spio_bdev_desc;
struct spio_bdev_io;
struct spio_io_channel;
struct spio_json_write_ctx;

/** I/O types; also the argument of spio_bdev_io_type_supported(). */
enum spio_bdev_io_type {
	SPIO_BDEV_IO_TYPE_INVALID = 0,
	SPIO_BDEV_IO_TYPE_READ,
	SPIO_BDEV_IO_TYPE_WRITE,
	SPIO_BDEV_IO_TYPE_UNMAP,
	SPIO_BDEV_IO_TYPE_FLUSH,
	SPIO_BDEV_IO_TYPE_RESET,
	SPIO_BDEV_IO_TYPE_WRITE_ZEROES,
	SPIO_BDEV_IO_TYPE_COMPARE,
	SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE,
	SPIO_BDEV_NUM_IO_TYPES
};

/** Events delivered to a descriptor's event callback. */
enum spio_bdev_event_type {
	/**
	 * The bdev is being unregistered (hot remove). The descriptor stays
	 * usable (I/O in flight completes) until the owner closes it; the bdev
	 * goes away once every descriptor is closed.
	 */
	SPIO_BDEV_EVENT_REMOVE = 1,
	/**
	 * The bdev's size changed (spio_bdev_get_num_blocks() has the new one);
	 * delivered on the opener's thread after the change took effect.
	 */
	SPIO_BDEV_EVENT_RESIZE = 2,
};

/** Options of spio_bdev_initialize(); fill with spio_bdev_opts_init() first. */
struct spio_bdev_opts {
	/** sizeof(struct spio_bdev_opts) as the caller knows it. */
	size_t opts_size;
	/** Number of bdev_io objects shared by all bdevs and threads (default 65535). */
	uint32_t bdev_io_pool_size;
	/** Per-thread cache of bdev_io objects (default 256, at most 512, <= pool size). */
	uint32_t bdev_io_cache_size;
};

/** Fill `opts` with defaults. NULL is ignored. */
void spio_bdev_opts_init(struct spio_bdev_opts *opts, size_t opts_size);

/**
 * Start the bdev layer: create the bdev_io pool and run every registered
 * module's init (in registration order). The "bdev" subsystem calls this;
 * programs without the app framework call it themselves, on a spio thread.
 * \param opts NULL for defaults.
 * \return 0; -EINVAL (bad options, no current spio thread); -EALREADY if
 *         initialised; -ENOMEM; or the first failing module's error (the
 *         layer is then not initialised).
 */
int spio_bdev_initialize(const struct spio_bdev_opts *opts);

/** Called when spio_bdev_finish() is done. */
typedef void (*spio_bdev_fini_cb)(void *cb_arg);

/**
 * Stop the bdev layer: unregister every bdev (newest first; each waits until
 * its descriptors are closed), run the modules' fini, free the pool, then
 * call `cb` on the calling thread (never before this returns).
 * \return 0; -EINVAL (no current spio thread); -EALREADY (not initialised or
 *         already finishing).
 */
int spio_bdev_finish(spio_bdev_fini_cb cb, void *cb_arg);

/*
 * Registry. Lookups are safe from any OS thread; the returned pointer stays
 * valid while the bdev is registered (hold an open descriptor to be sure).
 */

/**
 * Find a bdev by name, by one of its aliases or by its UUID string.
 * \return the bdev or NULL (NULL name, not found).
 */
struct spio_bdev *spio_bdev_get_by_name(const char *name);

/** First registered bdev (registration order), or NULL. */
struct spio_bdev *spio_bdev_first(void);

/** The bdev registered after `prev`, or NULL. */
struct spio_bdev *spio_bdev_next(struct spio_bdev *prev);

/** Called once every examine in progress has finished. */
typedef void (*spio_bdev_wait_for_examine_cb)(void *cb_arg);

/**
 * Call `cb(cb_arg)` on the calling thread once no module is examining a bdev
 * (immediately, but never before returning, when none is).
 * \return 0; -EINVAL (NULL cb, no current spio thread); -ENOMEM.
 */
int spio_bdev_wait_for_examine(spio_bdev_wait_for_examine_cb cb, void *cb_arg);

/**
 * Iteration per module: the first bdev registered by the module called
 * `module_name` ("malloc", "null", ...), or NULL (also for a NULL name).
 */
struct spio_bdev *spio_bdev_first_of_module(const char *module_name);

/** The next bdev after `prev` of the same module as `prev`, or NULL. */
struct spio_bdev *spio_bdev_next_of_module(struct spio_bdev *prev);

/** The bdev's name. */
const char *spio_bdev_get_name(const struct spio_bdev *bdev);

/** The product name given by the module ("Malloc disk", ...). */
const char *spio_bdev_get_product_name(const struct spio_bdev *bdev);

/** The name of the module that registered the bdev. */
const char *spio_bdev_get_module_name(const struct spio_bdev *bdev);

/** Logical block size in bytes. */
uint32_t spio_bdev_get_block_size(const struct spio_bdev *bdev);

/** Number of blocks. */
uint64_t spio_bdev_get_num_blocks(const struct spio_bdev *bdev);

/** Writes must cover a multiple of this many blocks, aligned to it (>= 1). */
uint32_t spio_bdev_get_write_unit_size(const struct spio_bdev *bdev);

/**
 * Optimal I/O boundary in blocks (0: none). If the module asked for it,
 * reads and writes crossing it are split by the core into pieces that do
 * not (likewise for its maximum read/write size); the caller sees one I/O.
 */
uint32_t spio_bdev_get_optimal_io_boundary(const struct spio_bdev *bdev);

/** Required data buffer alignment in bytes (a power of two, 1 means none). */
size_t spio_bdev_get_buf_align(const struct spio_bdev *bdev);

/** The bdev's UUID (generated at registration if the module gave none). */
const struct spio_uuid *spio_bdev_get_uuid(const struct spio_bdev *bdev);

/** True if a module claimed the bdev (spio_bdev_module_claim_bdev(), in bdev_module.h). */
bool spio_bdev_is_claimed(const struct spio_bdev *bdev);

/** True if the bdev's module accepts I/O of `type`. */
bool spio_bdev_io_type_supported(struct spio_bdev *bdev, enum spio_bdev_io_type type);

/**
 * Visit the bdev's aliases: `fn(alias, ctx)` for each, under the registry
 * lock (do not call registry functions from `fn`).
 */
void spio_bdev_foreach_alias(struct spio_bdev *bdev, void (*fn)(const char *alias, void *ctx),
			     void *ctx);

/*
 * Descriptors
 */

/** Event callback of a descriptor; runs on the descriptor's thread. */
typedef void (*spio_bdev_event_cb)(enum spio_bdev_event_type type, struct spio_bdev *bdev,
				   void *event_ctx);

/**
 * Open the bdev `name` (name, alias or UUID string).
 * \param write true for a read-write descriptor.
 * \param event_cb required: receives SPIO_BDEV_EVENT_REMOVE on this thread.
 * \param desc out: the descriptor, owned by the calling thread.
 * \return 0; -EINVAL (NULL arguments, no current spio thread, layer not
 *         initialised); -ENODEV (no such bdev, or it is being removed); -EPERM
 *         (`write` on a bdev claimed by a module); -ENOMEM.
 */
int spio_bdev_open_ext(const char *name, bool write, spio_bdev_event_cb event_cb, void *event_ctx,
		       struct spio_bdev_desc **desc);

/**
 * Close a descriptor on the thread that opened it. Put its I/O channels
 * first. I/O still in flight completes normally; the handle is invalid once
 * its last I/O completed (submitting on it after close returns -EINVAL while
 * some I/O is still in flight). NULL is ignored.
 */
void spio_bdev_close(struct spio_bdev_desc *desc);

/** The bdev a descriptor is open on (NULL for NULL). */
struct spio_bdev *spio_bdev_desc_get_bdev(struct spio_bdev_desc *desc);

/**
 * The calling thread's I/O channel to the descriptor's bdev (one per
 * thread, reference-counted); release with spio_put_io_channel() before
 * closing the descriptor, and not while I/O on it is in flight.
 * \return the channel, or NULL with errno set (EINVAL, ENODEV, ENOMEM).
 */
struct spio_io_channel *spio_bdev_get_io_channel(struct spio_bdev_desc *desc);

/*
 * I/O
 */

/**
 * I/O completion: `success` false when the device failed the I/O or a
 * compare found a mismatch (see spio_bdev_io_get_status()). Release the I/O
 * with spio_bdev_free_io() (here or later, on this thread).
 */
typedef void (*spio_bdev_io_completion_cb)(struct spio_bdev_io *bdev_io, bool success,
					   void *cb_arg);

/*
 * Submit functions. Common rules:
 * - `desc`, `ch` and `cb` are required; `ch` must be a channel of the
 *   descriptor's bdev, owned by the calling thread.
 * - Offsets and lengths in blocks (`_blocks`) or in bytes (multiples of the
 *   block size). The range must be non-empty and inside the bdev.
 * - Data buffers must be aligned to spio_bdev_get_buf_align() and, for the
 *   vector forms, describe exactly the I/O's length.
 * - Writes (write, write_zeroes, unmap, compare_and_write) must cover whole
 *   write units (spio_bdev_get_write_unit_size()).
 *
 * \return 0 (cb will be called); -EINVAL (an argument breaks a rule above,
 *         or the descriptor is closed); -EBADF (a writing I/O on a read-only
 *         descriptor); -ENOTSUP (the module does not support the type);
 *         -ENOMEM (no bdev_io free: retry later, see spio_bdev_queue_io_wait()).
 *         On error cb is not called.
 */

int spio_bdev_read(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
		   uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg);
int spio_bdev_read_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			  uint64_t offset_blocks, uint64_t num_blocks,
			  spio_bdev_io_completion_cb cb, void *cb_arg);
int spio_bdev_readv(struct spio_bdev_desc *desc, struct spio_io_channel *ch, struct iovec *iov,
		    int iovcnt, uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb,
		    void *cb_arg);
int spio_bdev_readv_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			   uint64_t num_blocks, spio_bdev_io_completion_cb cb, void *cb_arg);
int spio_bdev_write(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
		    uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg);
int spio_bdev_write_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   spio_bdev_io_completion_cb cb, void *cb_arg);
int spio_bdev_writev(struct spio_bdev_desc *desc, struct spio_io_channel *ch, struct iovec *iov,
		     int iovcnt, uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb,
		     void *cb_arg);
int spio_bdev_writev_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			    struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			    uint64_t num_blocks, spio_bdev_io_completion_cb cb, void *cb_arg);
/** Make the range read back as zeroes. */
int spio_bdev_write_zeroes_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				  uint64_t offset_blocks, uint64_t num_blocks,
				  spio_bdev_io_completion_cb cb, void *cb_arg);
/** Deallocate the range (malloc: reads back zeroes; in general the content is undefined). */
int spio_bdev_unmap_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   spio_bdev_io_completion_cb cb, void *cb_arg);
/**
 * Byte-offset forms of write_zeroes, unmap, flush and compare: `offset` and
 * `nbytes` must be multiples of the block size (-EINVAL otherwise); then as
 * the _blocks forms.
 */
int spio_bdev_write_zeroes(struct spio_bdev_desc *desc, struct spio_io_channel *ch, uint64_t offset,
			   uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg);
int spio_bdev_unmap(struct spio_bdev_desc *desc, struct spio_io_channel *ch, uint64_t offset,
		    uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg);
int spio_bdev_flush(struct spio_bdev_desc *desc, struct spio_io_channel *ch, uint64_t offset,
		    uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg);
int spio_bdev_compare(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
		      uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb,
		      void *cb_arg);
/** Make completed writes of the range durable. */
int spio_bdev_flush_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   spio_bdev_io_completion_cb cb, void *cb_arg);
/**
 * Reset the device. The core passes the reset to the module and does not
 * drain or abort other I/O itself: what happens to I/O in flight is the
 * module's choice (malloc and null complete everything immediately anyway).
 */
int spio_bdev_reset(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
		    spio_bdev_io_completion_cb cb, void *cb_arg);
/** Compare the range with `buf`: success false (status MISCOMPARE) if they differ. */
int spio_bdev_compare_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			     uint64_t offset_blocks, uint64_t num_blocks,
			     spio_bdev_io_completion_cb cb, void *cb_arg);
int spio_bdev_comparev_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			      struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			      uint64_t num_blocks, spio_bdev_io_completion_cb cb, void *cb_arg);
/**
 * Atomically compare the range with `cmp_buf` and, only if equal, write
 * `write_buf` over it; a mismatch completes with status MISCOMPARE and
 * writes nothing.
 */
int spio_bdev_compare_and_write_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				       void *cmp_buf, void *write_buf, uint64_t offset_blocks,
				       uint64_t num_blocks, spio_bdev_io_completion_cb cb,
				       void *cb_arg);

/** Status of a completed I/O. */
enum spio_bdev_io_status {
	SPIO_BDEV_IO_STATUS_MISCOMPARE = -5,
	SPIO_BDEV_IO_STATUS_FAILED = -1,
	SPIO_BDEV_IO_STATUS_PENDING = 0,
	SPIO_BDEV_IO_STATUS_SUCCESS = 1,
};

/** The status a completed I/O ended with. */
enum spio_bdev_io_status spio_bdev_io_get_status(const struct spio_bdev_io *bdev_io);

/** Release a completed I/O, on its submitting thread. NULL is ignored. */
void spio_bdev_free_io(struct spio_bdev_io *bdev_io);

/** Called when a bdev_io may be available again. */
typedef void (*spio_bdev_io_wait_cb)(void *cb_arg);

/**
 * A wait-queue entry for spio_bdev_queue_io_wait(); owned by the caller,
 * valid until its callback ran. Fill bdev, cb_fn and cb_arg.
 */
struct spio_bdev_io_wait_entry {
	struct spio_bdev *bdev;
	spio_bdev_io_wait_cb cb_fn;
	void *cb_arg;
	/** Private: queue link. */
	struct spio_bdev_io_wait_entry *next_;
};

/**
 * After a submit function returned -ENOMEM, ask to be called back (on this
 * thread) when a bdev_io is freed on this thread; the callback then submits
 * again. One call per -ENOMEM; entries are served in FIFO order, one per
 * freed bdev_io.
 * \return 0; -EINVAL (NULL, entry->bdev not `bdev`, no cb_fn, `ch` not a
 *         channel of `bdev` on this thread).
 */
int spio_bdev_queue_io_wait(struct spio_bdev *bdev, struct spio_io_channel *ch,
			    struct spio_bdev_io_wait_entry *entry);

/*
 * LBA range locks
 */

/** Called when a range lock or unlock finished (`status` 0 or negative errno). */
typedef void (*spio_bdev_lock_cb)(void *cb_arg, int status);

/**
 * Lock blocks [offset_blocks, offset_blocks + num_blocks) against writes
 * (write, write_zeroes, unmap, compare_and_write) from every channel but
 * `ch`: such writes submitted meanwhile wait (their submit returns 0) and
 * run at unlock. `cb` runs on this thread once no overlapping write is in
 * flight anywhere; a lock overlapping another one waits for it. Reads are
 * never blocked.
 * \return 0; -EINVAL (NULL arguments, empty or out-of-range range, `ch` not
 *         a channel of the bdev on this thread); -ENOMEM.
 */
int spio_bdev_lock_lba_range(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			     uint64_t offset_blocks, uint64_t num_blocks, spio_bdev_lock_cb cb,
			     void *cb_arg);

/**
 * Release a lock taken by spio_bdev_lock_lba_range() with the same channel
 * and range; blocked writes are submitted, then `cb` runs on this thread.
 * \return 0; -EINVAL (arguments, no such lock held through `ch`, lock not
 *         yet granted).
 */
int spio_bdev_unlock_lba_range(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			       uint64_t offset_blocks, uint64_t num_blocks, spio_bdev_lock_cb cb,
			       void *cb_arg);

/*
 * _await twins (see the top of this file).
 */

int spio_bdev_read_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			 uint64_t offset, uint64_t nbytes);
int spio_bdev_read_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
				uint64_t offset_blocks, uint64_t num_blocks);
int spio_bdev_readv_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			  struct iovec *iov, int iovcnt, uint64_t offset, uint64_t nbytes);
int spio_bdev_write_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			  uint64_t offset, uint64_t nbytes);
int spio_bdev_write_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
				 uint64_t offset_blocks, uint64_t num_blocks);
int spio_bdev_writev_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset, uint64_t nbytes);
int spio_bdev_write_zeroes_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
					uint64_t offset_blocks, uint64_t num_blocks);
int spio_bdev_unmap_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				 uint64_t offset_blocks, uint64_t num_blocks);
int spio_bdev_flush_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				 uint64_t offset_blocks, uint64_t num_blocks);
int spio_bdev_reset_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch);
int spio_bdev_compare_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				   void *buf, uint64_t offset_blocks, uint64_t num_blocks);
int spio_bdev_compare_and_write_blocks_await(struct spio_bdev_desc *desc,
					     struct spio_io_channel *ch, void *cmp_buf,
					     void *write_buf, uint64_t offset_blocks,
					     uint64_t num_blocks);

/*
 * Statistics
 */

/** I/O statistics of a bdev (sum over its channels, including closed ones). */
struct spio_bdev_io_stat {
	uint64_t bytes_read;
	uint64_t num_read_ops;
	uint64_t bytes_written;
	uint64_t num_write_ops;
	uint64_t bytes_unmapped;
	uint64_t num_unmap_ops;
	/** Other successful I/O (flush, reset, write_zeroes, compare, ...). */
	uint64_t num_other_ops;
	/** Latencies in ticks (spio_get_ticks_hz()); min is 0 when there was no op. */
	uint64_t read_latency_ticks;
	uint64_t min_read_latency_ticks;
	uint64_t max_read_latency_ticks;
	uint64_t write_latency_ticks;
	uint64_t min_write_latency_ticks;
	uint64_t max_write_latency_ticks;
	uint64_t unmap_latency_ticks;
	uint64_t min_unmap_latency_ticks;
	uint64_t max_unmap_latency_ticks;
	/** I/O that completed without success (failures and miscompares). */
	uint64_t num_io_errors;
	/** The same, by I/O type (index: enum spio_bdev_io_type). */
	uint64_t io_errors_by_type[SPIO_BDEV_NUM_IO_TYPES];
};

/** Called with the gathered statistics (`rc` 0 or a negative errno). */
typedef void (*spio_bdev_get_device_stat_cb)(struct spio_bdev *bdev, struct spio_bdev_io_stat *stat,
					     void *cb_arg, int rc);

/**
 * Gather the bdev's statistics into `stat` (visiting every channel on its
 * thread), then call `cb` on the calling thread. `stat` must stay valid
 * until then.
 * \return 0; -EINVAL (NULL arguments, no current spio thread); -ENOMEM.
 */
int spio_bdev_get_device_stat(struct spio_bdev *bdev, struct spio_bdev_io_stat *stat,
			      spio_bdev_get_device_stat_cb cb, void *cb_arg);

/** Called when statistics were reset. */
typedef void (*spio_bdev_reset_device_stat_cb)(struct spio_bdev *bdev, void *cb_arg, int rc);

/**
 * Zero the bdev's statistics on every channel, then call `cb` on the calling thread.
 * \return 0; -EINVAL; -ENOMEM.
 */
int spio_bdev_reset_device_stat(struct spio_bdev *bdev, spio_bdev_reset_device_stat_cb cb,
				void *cb_arg);

/*
 * Built-in modules
 */

/**
 * Create a RAM bdev ("malloc" module) of `num_blocks` blocks of `block_size`
 * (512 or 4096) bytes in zeroed DMA memory. Supports every I/O type;
 * unmap and write_zeroes zero the range.
 * \param name NULL for a generated "MallocN".
 * \param uuid NULL to generate one.
 * \return 0; -EINVAL (bad sizes, size overflow); -EEXIST (name or UUID
 *         taken); -ENOMEM; or spio_bdev_register()'s error.
 */
int spio_bdev_malloc_create(const char *name, const struct spio_uuid *uuid, uint64_t num_blocks,
			    uint32_t block_size, struct spio_bdev **bdev);

/** Called when a delete finished (`rc` 0 or negative errno). */
typedef void (*spio_bdev_delete_cb)(void *cb_arg, int rc);

/**
 * Unregister and free a malloc bdev; `cb` runs on the calling thread once
 * every descriptor was closed (see spio_bdev_unregister()).
 * \return 0; -EINVAL (NULL name); -ENODEV (no malloc bdev of that name);
 *         -EBUSY (already being removed).
 */
int spio_bdev_malloc_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

/**
 * Create a "null" bdev: writes, write_zeroes, unmap, flush and reset succeed
 * without doing anything; reads succeed and leave the buffers untouched.
 * `block_size` is a multiple of 512 (at most 64 KiB).
 * \return as spio_bdev_malloc_create(); name NULL gives "NullN".
 */
int spio_bdev_null_create(const char *name, const struct spio_uuid *uuid, uint64_t num_blocks,
			  uint32_t block_size, struct spio_bdev **bdev);

/** Delete a null bdev; as spio_bdev_malloc_delete(). */
int spio_bdev_null_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

/**
 * Resize the null bdev `name` to `new_size_mb` MiB (SPDK's bdev_null_resize);
 * openers get SPIO_BDEV_EVENT_RESIZE. On a spio thread.
 * \return 0; -EINVAL (NULL, 0, or not a whole number of blocks); -ENODEV (no
 *         null bdev of that name); spio_bdev_notify_blockcnt_change()'s errors.
 */
int spio_bdev_null_resize(const char *name, uint64_t new_size_mb);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BDEV_H */
