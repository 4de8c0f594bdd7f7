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
 *
 * The built-in modules have their own headers: spio/bdev_malloc.h,
 * spio/bdev_null.h, spio/bdev_uring.h, spio/bdev_aio.h.
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
	/**
	 * Examine every new bdev (default true). When false, modules examine
	 * only the bdevs named with spio_bdev_examine(), as SPDK's
	 * bdev_auto_examine.
	 */
	bool bdev_auto_examine;
};

/**
 * Fill `opts` with the defaults (pool 65535, cache 256, auto examine) for a
 * caller that knows `opts_size` bytes of the struct (sizeof(*opts)); fields
 * beyond it are not touched. NULL is ignored. Any thread.
 */
void spio_bdev_opts_init(struct spio_bdev_opts *opts, size_t opts_size);

/**
 * The options the next spio_bdev_initialize(NULL, ...) uses (the defaults
 * until spio_bdev_set_opts() changed them), for a caller that knows
 * `opts_size` bytes of the struct. NULL or size 0 is ignored. Any thread.
 */
void spio_bdev_get_opts(struct spio_bdev_opts *opts, size_t opts_size);

/**
 * Set the options of the bdev layer, as SPDK's spdk_bdev_set_opts (the
 * bdev_set_options RPC): they apply from the next spio_bdev_initialize()
 * called with NULL options (the "bdev" subsystem does so), and stay for the
 * life of the process. Fields beyond opts->opts_size keep their value. On
 * the app thread (or any one thread), while the layer is not initialised.
 * \return 0; -EINVAL (NULL, opts_size 0, pool 0, cache above
 *         SPIO_MEMPOOL_CACHE_MAX_SIZE, or a pool smaller than the cache
 *         times (threads + 1): every thread's cache must fit); -EBUSY while
 *         the layer is initialised.
 */
int spio_bdev_set_opts(const struct spio_bdev_opts *opts);

/**
 * Let modules examine the bdev called `name`, now if it exists, else when it
 * registers (SPDK's bdev_examine). Only while auto examine is off.
 * On the app thread, while the layer is initialised; `name` is copied.
 * \return 0; -EINVAL (NULL or empty name, auto examine on, layer not
 *         initialised); -EEXIST (already named); -ENOMEM.
 */
int spio_bdev_examine(const char *name);

/** Called when spio_bdev_initialize() finished: `rc` 0 or a negative errno. */
typedef void (*spio_bdev_init_cb)(void *cb_arg, int rc);

/**
 * Start the bdev layer: create the bdev_io pool and run every registered
 * module's init (in registration order), then every module's
 * init_complete. The "bdev" subsystem calls this; programs without the app
 * framework call it themselves, on a spio thread.
 *
 * When no module initialises asynchronously (async_init), everything is done
 * when this returns 0, and `cb` has already run (during the call). Otherwise
 * `cb` runs on this thread once the last module called
 * spio_bdev_module_init_done(); the layer is usable from then on.
 *
 * \param opts NULL for defaults; only read during the call (fields beyond
 *        opts->opts_size take the defaults).
 * \param cb optional completion, with the first failing module's error (the
 *        layer is then not initialised, and modules already initialised
 *        have been finished).
 * \return 0 (cb runs or has run); -EINVAL (bad options, no current spio
 *         thread); -EALREADY if initialised or initialising; -ENOMEM; or the
 *         first failing synchronous module init's error. On a negative
 *         return cb is not called.
 */
int spio_bdev_initialize(const struct spio_bdev_opts *opts, spio_bdev_init_cb cb, void *cb_arg);

/** Called when spio_bdev_finish() is done. */
typedef void (*spio_bdev_fini_cb)(void *cb_arg);

/**
 * Stop the bdev layer: every module's fini_start, then unregister every bdev
 * (newest first; each waits until its descriptors are closed), run the
 * modules' fini one after another (waiting for async_fini ones), free the
 * pool, then
 * call `cb` (optional) on the calling thread, never before this returns. On
 * the spio thread that initialised the layer, or any spio thread.
 * \return 0; -EINVAL (no current spio thread); -EALREADY (not initialised or
 *         already finishing).
 */
int spio_bdev_finish(spio_bdev_fini_cb cb, void *cb_arg);

/**
 * Called when a module's delete function (spio_bdev_malloc_delete(),
 * spio_bdev_uring_delete(), ...) finished: `rc` 0, or a negative errno.
 * Runs on the thread that called the delete function.
 */
typedef void (*spio_bdev_delete_cb)(void *cb_arg, int rc);

/*
 * Registry. Lookups are safe from any OS thread; the returned pointer stays
 * valid while the bdev is registered (hold an open descriptor to be sure).
 */

/**
 * Find a bdev by name, by one of its aliases or by its UUID string. Any
 * thread; `name` is only read during the call.
 * \return the bdev (owned by its module; see above for how long it stays
 *         valid) or NULL (NULL name, not found).
 */
struct spio_bdev *spio_bdev_get_by_name(const char *name);

/**
 * The first registered bdev (registration order), or NULL when there is
 * none. Any thread; the pointer is the module's, valid while registered.
 */
struct spio_bdev *spio_bdev_first(void);

/**
 * The bdev registered after `prev`, or NULL (the last one, or NULL `prev`).
 * Any thread; `prev` must still be registered.
 */
struct spio_bdev *spio_bdev_next(struct spio_bdev *prev);

/** Called once every examine in progress has finished. */
typedef void (*spio_bdev_wait_for_examine_cb)(void *cb_arg);

/**
 * Call `cb(cb_arg)` on the calling thread once no module is examining a bdev
 * (immediately, but never before returning, when none is). On a spio
 * thread; `cb_arg` is the caller's and only handed back.
 * \return 0 (cb will run); -EINVAL (NULL cb, no current spio thread);
 *         -ENOMEM. On error cb is not called.
 */
int spio_bdev_wait_for_examine(spio_bdev_wait_for_examine_cb cb, void *cb_arg);

/**
 * Iteration per module: the first bdev registered by the module called
 * `module_name` ("malloc", "null", ...), or NULL (none, or a NULL name).
 * Any thread; the name is only read during the call.
 */
struct spio_bdev *spio_bdev_first_of_module(const char *module_name);

/**
 * The next bdev after `prev` of the same module as `prev`, or NULL (no
 * more, or NULL `prev`). Any thread; `prev` must still be registered.
 */
struct spio_bdev *spio_bdev_next_of_module(struct spio_bdev *prev);

/**
 * The bdev's name: the module's string, valid while the bdev is registered
 * (copy it to keep it). Any thread; `bdev` must not be NULL.
 */
const char *spio_bdev_get_name(const struct spio_bdev *bdev);

/**
 * The product name given by the module ("Malloc disk", ...; "" if none):
 * static or the module's, valid while the bdev is registered. Any thread.
 */
const char *spio_bdev_get_product_name(const struct spio_bdev *bdev);

/**
 * The name of the module that registered the bdev ("malloc"), static
 * storage. Any thread; `bdev` must not be NULL.
 */
const char *spio_bdev_get_module_name(const struct spio_bdev *bdev);

/** Logical block size in bytes (fixed for the bdev's life). Any thread. */
uint32_t spio_bdev_get_block_size(const struct spio_bdev *bdev);

/**
 * Number of blocks. It changes when the module resizes the bdev (openers
 * get SPIO_BDEV_EVENT_RESIZE); reading it is safe from any thread.
 */
uint64_t spio_bdev_get_num_blocks(const struct spio_bdev *bdev);

/**
 * Physical block size in bytes: the unit the device writes atomically
 * (>= the logical block size; the logical block size unless the module
 * reported one). Any thread.
 */
uint32_t spio_bdev_get_physical_block_size(const struct spio_bdev *bdev);

/**
 * Writes must cover a multiple of this many blocks, aligned to it (>= 1).
 * Any thread.
 */
uint32_t spio_bdev_get_write_unit_size(const struct spio_bdev *bdev);

/**
 * Optimal I/O boundary in blocks (0: none). If the module asked for it,
 * reads and writes crossing it are split by the core into pieces that do
 * not (likewise for its maximum read/write size); the caller sees one I/O.
 * Any thread.
 */
uint32_t spio_bdev_get_optimal_io_boundary(const struct spio_bdev *bdev);

/**
 * Required data buffer alignment in bytes (a power of two, 1 means none):
 * submit functions refuse other buffers with -EINVAL. Any thread.
 */
size_t spio_bdev_get_buf_align(const struct spio_bdev *bdev);

/**
 * The bdev's UUID (generated at registration if the module gave none);
 * points into the bdev, valid while it is registered. Any thread.
 */
const struct spio_uuid *spio_bdev_get_uuid(const struct spio_bdev *bdev);

/**
 * True if a module claimed the bdev (spio_bdev_module_claim_bdev(), in
 * bdev_module.h): it can then not be opened for writing. Any thread.
 */
bool spio_bdev_is_claimed(const struct spio_bdev *bdev);

/**
 * True if the bdev's module accepts I/O of `type` (false for a NULL bdev or
 * a type out of range); a submit of another type fails with -ENOTSUP. Any
 * thread.
 */
bool spio_bdev_io_type_supported(struct spio_bdev *bdev, enum spio_bdev_io_type type);

/**
 * Visit the bdev's aliases: `fn(alias, ctx)` for each, synchronously on the
 * calling thread, under the registry lock (do not call registry functions
 * from `fn`). `alias` is valid only during its call. Any thread; NULL
 * arguments are ignored.
 */
void spio_bdev_foreach_alias(struct spio_bdev *bdev, void (*fn)(const char *alias, void *ctx),
			     void *ctx);

/*
 * Descriptors
 */

/**
 * Event callback of a descriptor: runs on the descriptor's thread with the
 * `event_ctx` given to spio_bdev_open_ext().
 */
typedef void (*spio_bdev_event_cb)(enum spio_bdev_event_type type, struct spio_bdev *bdev,
				   void *event_ctx);

/**
 * Open the bdev `name` (name, alias or UUID string). On a spio thread,
 * which then owns the descriptor: its events arrive there and it is closed
 * there.
 * \param name only read during the call.
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
 * some I/O is still in flight). No event callback runs after this returns.
 * NULL is ignored. On another thread than the opener's it is refused: an
 * error is logged and the descriptor stays open (its events still run on
 * the opener's thread, which must close it).
 */
void spio_bdev_close(struct spio_bdev_desc *desc);

/**
 * The bdev a descriptor is open on (NULL for NULL); valid at least until
 * the descriptor is closed. Any thread.
 */
struct spio_bdev *spio_bdev_desc_get_bdev(struct spio_bdev_desc *desc);

/**
 * The calling thread's I/O channel to the descriptor's bdev (one per
 * thread, reference-counted); release with spio_put_io_channel() before
 * closing the descriptor, and not while I/O on it is in flight. On a spio
 * thread (any thread, not only the descriptor's).
 * \return the channel, owned by the calling thread; or NULL with errno set
 *         (EINVAL: NULL or closed descriptor, no spio thread; ENODEV;
 *         ENOMEM).
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
 * Submit functions. What every one of them checks before the module sees
 * the I/O (each function's own comment lists which of these apply):
 *
 * - `desc`, `ch` and `cb` are required; `ch` is a channel of the
 *   descriptor's bdev owned by the calling thread, which must be a spio
 *   thread (-EINVAL otherwise, also for a descriptor already closed).
 * - Ranges are in blocks (`_blocks`) or in bytes (multiples of the block
 *   size); they must be non-empty and inside the bdev (-EINVAL).
 * - Data buffers must be aligned to spio_bdev_get_buf_align(); the vector
 *   forms' iovecs must add up to exactly the I/O's length (-EINVAL).
 * - Writing types (write, write_zeroes, unmap, compare_and_write) need a
 *   descriptor opened for writing (-EBADF) and must cover whole write
 *   units, spio_bdev_get_write_unit_size() (-EINVAL).
 * - A type the bdev does not support gives -ENOTSUP; no free bdev_io gives
 *   -ENOMEM (queue a spio_bdev_io_wait_entry and submit again).
 *
 * On 0, `cb(bdev_io, success, cb_arg)` runs exactly once, on the calling
 * thread and never inside the submit call; release the bdev_io there with
 * spio_bdev_free_io(). On an error `cb` is not called and nothing stays
 * referenced. Data buffers belong to the caller and must stay valid (and,
 * for reads, unread) until `cb` runs.
 */

/**
 * Read `nbytes` bytes from byte `offset` into `buf`.
 *
 * \param desc descriptor of the bdev.
 * \param ch the calling thread's channel of the bdev (spio_bdev_get_io_channel()).
 * \param buf destination, aligned to spio_bdev_get_buf_align(), at least
 *        `nbytes` long; caller-owned, valid until `cb` runs.
 * \param offset, nbytes multiples of the block size; the range non-empty
 *        and inside the bdev.
 * \param cb, cb_arg completion, on the calling thread (the other submit
 *        functions take desc, ch, cb and cb_arg the same way).
 * \return 0; -EINVAL (NULL argument, range or alignment, foreign or closed
 *         channel/descriptor); -ENOTSUP; -ENOMEM (no bdev_io free).
 *         Thread: the channel's spio thread.
 */
int spio_bdev_read(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
		   uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Read `num_blocks` blocks from block `offset_blocks` into `buf`.
 *
 * \param buf destination, aligned to spio_bdev_get_buf_align(), at least
 *        num_blocks * block size long; caller-owned, valid until `cb` runs.
 * \param offset_blocks, num_blocks a non-empty range inside the bdev.
 * \return 0; -EINVAL (NULL argument, range or alignment, foreign or closed
 *         channel/descriptor); -ENOTSUP; -ENOMEM.
 *         Thread: the channel's spio thread.
 */
int spio_bdev_read_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			  uint64_t offset_blocks, uint64_t num_blocks,
			  spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Read `nbytes` bytes from byte `offset` into the `iovcnt` buffers of `iov`
 * (scatter).
 *
 * Lifetime: the iovec array and the buffers it points to must stay valid
 * and unchanged until `cb` runs; the core keeps pointers into the caller's
 * array instead of copying it.
 *
 * \param iov, iovcnt buffers (each aligned to spio_bdev_get_buf_align())
 *        adding up to exactly `nbytes`; iovcnt > 0.
 * \param offset, nbytes multiples of the block size, a non-empty range
 *        inside the bdev.
 * \return 0; -EINVAL (NULL argument, iovecs not adding up, range or
 *         alignment, foreign or closed channel/descriptor); -ENOTSUP;
 *         -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_readv(struct spio_bdev_desc *desc, struct spio_io_channel *ch, struct iovec *iov,
		    int iovcnt, uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb,
		    void *cb_arg);

/**
 * Read `num_blocks` blocks from block `offset_blocks` into the buffers of
 * `iov`.
 *
 * Lifetime: the iovec array and the buffers it points to must stay valid
 * and unchanged until `cb` runs; the core keeps pointers into the caller's
 * array instead of copying it.
 *
 * \param iov, iovcnt aligned buffers adding up to exactly num_blocks *
 *        block size; iovcnt > 0.
 * \return 0; -EINVAL (NULL argument, iovecs not adding up, range or
 *         alignment, foreign or closed channel/descriptor); -ENOTSUP;
 *         -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_readv_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			   uint64_t num_blocks, spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Write `nbytes` bytes from `buf` at byte `offset`.
 *
 * \param buf source, aligned to spio_bdev_get_buf_align(); caller-owned,
 *        valid and unchanged until `cb` runs (the module may read it late).
 * \param offset, nbytes multiples of the block size covering whole write
 *        units, a non-empty range inside the bdev.
 * \return 0; -EINVAL (NULL argument, range, alignment or write unit,
 *         foreign or closed channel/descriptor); -EBADF (read-only
 *         descriptor); -ENOTSUP; -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_write(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
		    uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Write `num_blocks` blocks from `buf` at block `offset_blocks`.
 *
 * \param buf source, aligned, num_blocks * block size long; caller-owned,
 *        valid and unchanged until `cb` runs.
 * \param offset_blocks, num_blocks whole write units, a non-empty range
 *        inside the bdev.
 * \return 0; -EINVAL (NULL argument, range, alignment or write unit,
 *         foreign or closed channel/descriptor); -EBADF (read-only
 *         descriptor); -ENOTSUP; -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_write_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Write `nbytes` bytes gathered from the buffers of `iov` at byte `offset`.
 *
 * Lifetime: the iovec array and the buffers it points to must stay valid
 * and unchanged until `cb` runs; the core keeps pointers into the caller's
 * array instead of copying it.
 *
 * \param iov, iovcnt aligned buffers adding up to exactly `nbytes`;
 *        iovcnt > 0.
 * \param offset, nbytes multiples of the block size covering whole write
 *        units, inside the bdev.
 * \return 0; -EINVAL (NULL argument, iovecs not adding up, range,
 *         alignment or write unit, foreign or closed channel/descriptor);
 *         -EBADF (read-only descriptor); -ENOTSUP; -ENOMEM.
 *         Thread: the channel's spio thread.
 */
int spio_bdev_writev(struct spio_bdev_desc *desc, struct spio_io_channel *ch, struct iovec *iov,
		     int iovcnt, uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb,
		     void *cb_arg);

/**
 * Write `num_blocks` blocks gathered from the buffers of `iov` at block
 * `offset_blocks`.
 *
 * Lifetime: the iovec array and the buffers it points to must stay valid
 * and unchanged until `cb` runs; the core keeps pointers into the caller's
 * array instead of copying it.
 *
 * \param iov, iovcnt aligned buffers adding up to exactly num_blocks *
 *        block size; iovcnt > 0.
 * \return 0; -EINVAL (NULL argument, iovecs not adding up, range,
 *         alignment or write unit, foreign or closed channel/descriptor);
 *         -EBADF (read-only descriptor); -ENOTSUP; -ENOMEM.
 *         Thread: the channel's spio thread.
 */
int spio_bdev_writev_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			    struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			    uint64_t num_blocks, spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Make blocks [offset_blocks, offset_blocks + num_blocks) read back as
 * zeroes. No data buffer.
 *
 * \return 0; -EINVAL (NULL argument, range or write unit, foreign or
 *         closed channel/descriptor); -EBADF (read-only descriptor);
 *         -ENOTSUP (the module has no write_zeroes); -ENOMEM.
 *         Thread: the channel's spio thread.
 */
int spio_bdev_write_zeroes_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				  uint64_t offset_blocks, uint64_t num_blocks,
				  spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Deallocate blocks [offset_blocks, offset_blocks + num_blocks): their
 * content is undefined afterwards (malloc reads back zeroes). No data
 * buffer.
 *
 * \return 0; -EINVAL (NULL argument, range or write unit, foreign or
 *         closed channel/descriptor); -EBADF (read-only descriptor);
 *         -ENOTSUP; -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_unmap_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * spio_bdev_write_zeroes_blocks() with a byte range: `offset` and `nbytes`
 * must be multiples of the block size.
 *
 * \return 0; -EINVAL (not whole blocks, or as the _blocks form); -EBADF;
 *         -ENOTSUP; -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_write_zeroes(struct spio_bdev_desc *desc, struct spio_io_channel *ch, uint64_t offset,
			   uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * spio_bdev_unmap_blocks() with a byte range: `offset` and `nbytes` must be
 * multiples of the block size.
 *
 * \return 0; -EINVAL (not whole blocks, or as the _blocks form); -EBADF;
 *         -ENOTSUP; -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_unmap(struct spio_bdev_desc *desc, struct spio_io_channel *ch, uint64_t offset,
		    uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * spio_bdev_flush_blocks() with a byte range: `offset` and `nbytes` must be
 * multiples of the block size.
 *
 * \return 0; -EINVAL (not whole blocks, or as the _blocks form); -ENOTSUP;
 *         -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_flush(struct spio_bdev_desc *desc, struct spio_io_channel *ch, uint64_t offset,
		    uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * spio_bdev_compare_blocks() with a byte range: `offset` and `nbytes` must
 * be multiples of the block size.
 *
 * \param buf data to compare with, aligned; caller-owned, valid and
 *        unchanged until `cb` runs.
 * \return 0; -EINVAL (not whole blocks, or as the _blocks form); -ENOTSUP;
 *         -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_compare(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
		      uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb,
		      void *cb_arg);

/**
 * Make writes of blocks [offset_blocks, offset_blocks + num_blocks) that
 * completed before this call durable (a volatile cache is written back).
 * No data buffer; allowed on a read-only descriptor.
 *
 * \return 0; -EINVAL (NULL argument, range, foreign or closed
 *         channel/descriptor); -ENOTSUP; -ENOMEM.
 *         Thread: the channel's spio thread.
 */
int spio_bdev_flush_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Reset the device. The core hands the reset to the module and neither
 * drains nor aborts other I/O itself: what happens to I/O in flight is the
 * module's choice (malloc and null complete everything at once anyway; the
 * kernel-backed modules complete the reset after the channel's earlier
 * I/O).
 *
 * \return 0; -EINVAL (NULL argument, foreign or closed channel/descriptor);
 *         -ENOTSUP; -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_reset(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
		    spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Compare blocks [offset_blocks, offset_blocks + num_blocks) with `buf`:
 * `success` is false and the status SPIO_BDEV_IO_STATUS_MISCOMPARE if they
 * differ.
 *
 * \param buf data to compare with, aligned, num_blocks * block size long;
 *        caller-owned, valid and unchanged until `cb` runs.
 * \return 0; -EINVAL (NULL argument, range or alignment, foreign or closed
 *         channel/descriptor); -ENOTSUP (null, kernel-backed bdevs);
 *         -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_compare_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			     uint64_t offset_blocks, uint64_t num_blocks,
			     spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * spio_bdev_compare_blocks() with the data in the buffers of `iov`.
 *
 * Lifetime: the iovec array and the buffers it points to must stay valid
 * and unchanged until `cb` runs; the core keeps pointers into the caller's
 * array instead of copying it.
 *
 * \param iov, iovcnt aligned buffers adding up to exactly num_blocks *
 *        block size; iovcnt > 0.
 * \return 0; -EINVAL (NULL argument, iovecs not adding up, range or
 *         alignment, foreign or closed channel/descriptor); -ENOTSUP;
 *         -ENOMEM. Thread: the channel's spio thread.
 */
int spio_bdev_comparev_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			      struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			      uint64_t num_blocks, spio_bdev_io_completion_cb cb, void *cb_arg);

/**
 * Atomically compare blocks [offset_blocks, offset_blocks + num_blocks)
 * with `cmp_buf` and, only if they are equal, write `write_buf` over them;
 * a mismatch completes with status MISCOMPARE and writes nothing.
 *
 * \param cmp_buf, write_buf aligned, num_blocks * block size long each;
 *        caller-owned, valid and unchanged until `cb` runs.
 * \return 0; -EINVAL (NULL argument, range, alignment or write unit,
 *         foreign or closed channel/descriptor); -EBADF (read-only
 *         descriptor); -ENOTSUP; -ENOMEM. Thread: the channel's spio thread.
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

/**
 * The status a completed I/O ended with (SPIO_BDEV_IO_STATUS_PENDING before
 * its completion). On the submitting thread, between the completion
 * callback and spio_bdev_free_io().
 */
enum spio_bdev_io_status spio_bdev_io_get_status(const struct spio_bdev_io *bdev_io);

/**
 * Ticks (spio_get_ticks_hz() per second) from the I/O's submission to its
 * completion, as the bdev layer measured them for its statistics: a caller
 * that reports latency reads it here instead of taking two clock readings of
 * its own per I/O. In the completion callback, until spio_bdev_free_io().
 */
uint64_t spio_bdev_io_get_latency_ticks(const struct spio_bdev_io *bdev_io);

/**
 * Release a completed I/O to the pool, on its submitting thread (in its
 * callback or later); the pointer is invalid afterwards. The oldest
 * spio_bdev_queue_io_wait() entry of this thread, if any, is called back
 * before this returns. NULL is ignored.
 */
void spio_bdev_free_io(struct spio_bdev_io *bdev_io);

/** Called when a bdev_io may be available again (on the waiting thread). */
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
 * freed bdev_io, and, while any wait, one every 100 us by a poller (with no
 * bdev_io in flight on this thread no free would come: the pool emptied by
 * other threads' caches). A callback may find the pool still empty and
 * queue itself again. On the channel's spio thread.
 * \param entry the caller's, linked in (not copied): it must stay valid and
 *        untouched until its callback ran.
 * \return 0; -EINVAL (NULL, entry->bdev not `bdev`, no cb_fn, `ch` not a
 *         channel of `bdev` on this thread).
 */
int spio_bdev_queue_io_wait(struct spio_bdev *bdev, struct spio_io_channel *ch,
			    struct spio_bdev_io_wait_entry *entry);

/*
 * LBA range locks
 */

/**
 * Called when a range lock or unlock finished (`status` 0 or negative
 * errno), on the thread that asked.
 */
typedef void (*spio_bdev_lock_cb)(void *cb_arg, int status);

/**
 * Lock blocks [offset_blocks, offset_blocks + num_blocks) against writes
 * (write, write_zeroes, unmap, compare_and_write) from every channel but
 * `ch`: such writes submitted meanwhile wait (their submit returns 0) and
 * run at unlock. `cb` runs on this thread once no overlapping write is in
 * flight anywhere; a lock overlapping another one waits for it. Reads are
 * never blocked. On the channel's spio thread; the core keeps its own
 * record of the range (nothing of the caller's is referenced but `cb_arg`).
 * \return 0 (cb will run); -EINVAL (NULL arguments, empty or out-of-range
 *         range, `ch` not a channel of the bdev on this thread); -ENOMEM.
 *         On error cb is not called.
 */
int spio_bdev_lock_lba_range(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			     uint64_t offset_blocks, uint64_t num_blocks, spio_bdev_lock_cb cb,
			     void *cb_arg);

/**
 * Release a lock taken by spio_bdev_lock_lba_range() with the same channel
 * and range; blocked writes are submitted, then `cb` runs on this thread
 * (never before this returns). On the channel's spio thread.
 * \return 0 (cb will run); -EINVAL (arguments, no such lock held through
 *         `ch`, lock not yet granted). On error cb is not called.
 */
int spio_bdev_unlock_lba_range(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			       uint64_t offset_blocks, uint64_t num_blocks, spio_bdev_lock_cb cb,
			       void *cb_arg);

/*
 * _await twins: each starts the I/O of the callback function of the same
 * name and suspends the calling task (spio/task.h) until it completes; the
 * bdev_io is freed inside. Call them from a task on a spio thread; the
 * buffers and iovecs only need to live until the call returns, which is
 * when the I/O is over. Results: 0; -EIO (the device failed the I/O);
 * -EILSEQ (a compare found a mismatch); the submit function's error if the
 * I/O could not start (nothing was done then); -EPERM outside a task.
 */

/**
 * Task form of spio_bdev_read(): read `nbytes` bytes at byte `offset` into `buf`.
 * \return 0; -EIO; spio_bdev_read()'s errors; -EPERM outside a task.
 */
int spio_bdev_read_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			 uint64_t offset, uint64_t nbytes);

/**
 * Task form of spio_bdev_read_blocks().
 * \return 0; -EIO; spio_bdev_read_blocks()'s errors; -EPERM outside a task.
 */
int spio_bdev_read_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
				uint64_t offset_blocks, uint64_t num_blocks);

/**
 * Task form of spio_bdev_readv(). The iovec array and its buffers must stay
 * valid until this returns (the core keeps pointers into the array while
 * the I/O runs).
 * \return 0; -EIO; spio_bdev_readv()'s errors; -EPERM outside a task.
 */
int spio_bdev_readv_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			  struct iovec *iov, int iovcnt, uint64_t offset, uint64_t nbytes);

/**
 * Task form of spio_bdev_write().
 * \return 0; -EIO; spio_bdev_write()'s errors; -EPERM outside a task.
 */
int spio_bdev_write_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			  uint64_t offset, uint64_t nbytes);

/**
 * Task form of spio_bdev_write_blocks().
 * \return 0; -EIO; spio_bdev_write_blocks()'s errors; -EPERM outside a task.
 */
int spio_bdev_write_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
				 uint64_t offset_blocks, uint64_t num_blocks);

/**
 * Task form of spio_bdev_writev(). The iovec array and its buffers must
 * stay valid and unchanged until this returns (the core keeps pointers into
 * the array while the I/O runs).
 * \return 0; -EIO; spio_bdev_writev()'s errors; -EPERM outside a task.
 */
int spio_bdev_writev_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset, uint64_t nbytes);

/**
 * Task form of spio_bdev_write_zeroes_blocks().
 * \return 0; -EIO; spio_bdev_write_zeroes_blocks()'s errors; -EPERM outside a task.
 */
int spio_bdev_write_zeroes_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
					uint64_t offset_blocks, uint64_t num_blocks);

/**
 * Task form of spio_bdev_unmap_blocks().
 * \return 0; -EIO; spio_bdev_unmap_blocks()'s errors; -EPERM outside a task.
 */
int spio_bdev_unmap_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				 uint64_t offset_blocks, uint64_t num_blocks);

/**
 * Task form of spio_bdev_flush_blocks().
 * \return 0; -EIO; spio_bdev_flush_blocks()'s errors; -EPERM outside a task.
 */
int spio_bdev_flush_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				 uint64_t offset_blocks, uint64_t num_blocks);

/**
 * Task form of spio_bdev_reset().
 * \return 0; -EIO; spio_bdev_reset()'s errors; -EPERM outside a task.
 */
int spio_bdev_reset_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch);

/**
 * Task form of spio_bdev_compare_blocks().
 * \return 0 (equal); -EILSEQ (they differ); -EIO; spio_bdev_compare_blocks()'s
 *         errors; -EPERM outside a task.
 */
int spio_bdev_compare_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				   void *buf, uint64_t offset_blocks, uint64_t num_blocks);

/**
 * Task form of spio_bdev_compare_and_write_blocks().
 * \return 0 (equal, written); -EILSEQ (they differ, nothing written); -EIO;
 *         spio_bdev_compare_and_write_blocks()'s errors; -EPERM outside a task.
 */
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
	/** Of those, the ones that ended with SPIO_BDEV_IO_STATUS_MISCOMPARE. */
	uint64_t num_miscompare_errors;
	/** num_io_errors by I/O type (index: enum spio_bdev_io_type). */
	uint64_t io_errors_by_type[SPIO_BDEV_NUM_IO_TYPES];
};

/** What to zero after the statistics were read (SPDK's reset modes). */
enum spio_bdev_reset_stat_mode {
	/** Nothing. */
	SPIO_BDEV_RESET_STAT_NONE = 0,
	/** Everything. */
	SPIO_BDEV_RESET_STAT_ALL,
	/** Only the minimum and maximum latencies. */
	SPIO_BDEV_RESET_STAT_MAXMIN,
	/** Only the error counters. */
	SPIO_BDEV_RESET_STAT_ERROR,
};

/**
 * Called with the gathered statistics (`rc` 0 or a negative errno), on the
 * thread that asked; `stat` is the caller's buffer.
 */
typedef void (*spio_bdev_get_device_stat_cb)(struct spio_bdev *bdev, struct spio_bdev_io_stat *stat,
					     void *cb_arg, int rc);

/**
 * Gather the bdev's statistics into `stat` (visiting every channel on its
 * thread), then call `cb` on the calling thread, never before this
 * returns. On a spio thread. `stat` is the caller's and must stay valid
 * until `cb` ran.
 * \param reset_mode what each channel zeroes right after it was read, on
 *        its own thread, so that no I/O is counted twice or lost between
 *        the read and the reset (SPIO_BDEV_RESET_STAT_NONE: nothing).
 * \return 0 (cb will run); -EINVAL (NULL arguments, a bad mode, no current
 *         spio thread); -ENOMEM. On error cb is not called.
 */
int spio_bdev_get_device_stat(struct spio_bdev *bdev, struct spio_bdev_io_stat *stat,
			      enum spio_bdev_reset_stat_mode reset_mode,
			      spio_bdev_get_device_stat_cb cb, void *cb_arg);

/**
 * Called once per channel of the bdev by spio_bdev_get_channel_stats(), on
 * the channel's thread (`thread_id` is spio_thread_get_id() of it), with
 * that channel's statistics (valid during the call only).
 */
typedef void (*spio_bdev_channel_stat_fn)(struct spio_bdev *bdev, uint64_t thread_id,
					  const struct spio_bdev_io_stat *stat, void *cb_arg);

/** Called after the last channel was visited (`rc` 0 or a negative errno), on the thread that
 * asked. */
typedef void (*spio_bdev_channel_stats_done_fn)(struct spio_bdev *bdev, void *cb_arg, int rc);

/**
 * Visit the bdev's open channels one after another, each on its thread,
 * calling `fn` with its statistics, then reset them as `reset_mode` says;
 * then `done` on the calling thread, never before this returns. Channels
 * already closed are not visited (spio_bdev_get_device_stat() includes
 * them). On a spio thread.
 * \return 0 (done will run); -EINVAL (NULL arguments, a bad mode, no
 *         current spio thread); -ENOMEM. On error nothing is called.
 */
int spio_bdev_get_channel_stats(struct spio_bdev *bdev, enum spio_bdev_reset_stat_mode reset_mode,
				spio_bdev_channel_stat_fn fn, spio_bdev_channel_stats_done_fn done,
				void *cb_arg);

/** Called when statistics were reset (`rc` 0 or negative errno), on the thread that asked. */
typedef void (*spio_bdev_reset_device_stat_cb)(struct spio_bdev *bdev, void *cb_arg, int rc);

/**
 * Zero the bdev's statistics as `mode` says on every channel (visiting each
 * on its thread) and those of channels already closed, then call `cb` (if
 * not NULL) on the calling thread, never before this returns. On a spio
 * thread.
 * \return 0 (cb will run); -EINVAL (NULL bdev, a bad mode, no current spio
 *         thread); -ENOMEM. On error cb is not called.
 */
int spio_bdev_reset_device_stat(struct spio_bdev *bdev, enum spio_bdev_reset_stat_mode mode,
				spio_bdev_reset_device_stat_cb cb, void *cb_arg);

/*
 * Quality of service: rate limits per bdev
 */

/** The kinds of rate limit, in SPDK's order (the index into a limits array). */
enum spio_bdev_qos_rate_limit_type {
	SPIO_BDEV_QOS_RW_IOPS_RATE_LIMIT = 0, /**< reads + writes per second */
	SPIO_BDEV_QOS_RW_BPS_RATE_LIMIT,      /**< read + written MiB per second */
	SPIO_BDEV_QOS_R_BPS_RATE_LIMIT,	      /**< read MiB per second */
	SPIO_BDEV_QOS_W_BPS_RATE_LIMIT,	      /**< written MiB per second */
	SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES
};

/** In a limits array given to spio_bdev_set_qos_rate_limits(): keep that limit as it is. */
#define SPIO_BDEV_QOS_LIMIT_NOT_DEFINED UINT64_MAX

/** Time slice over which the limits are enforced (SPDK's: 1 ms). */
#define SPIO_BDEV_QOS_TIMESLICE_US 1000

/** Smallest IOPS limit, and the multiple every IOPS limit is rounded up to. */
#define SPIO_BDEV_QOS_MIN_IOS_PER_SEC 1000

/** Ends spio_bdev_set_qos_rate_limits(): `status` 0 or a negative errno. */
typedef void (*spio_bdev_qos_cb)(void *cb_arg, int status);

/**
 * Set, change or remove the rate limits of a bdev, as SPDK's
 * spdk_bdev_set_qos_rate_limits() and its RPC bdev_set_qos_limit do.
 *
 * Only reads and writes are limited; other I/O passes at once. Each limit is
 * enforced per time slice of SPIO_BDEV_QOS_TIMESLICE_US over all channels of
 * the bdev together: I/O over a limit is queued on its channel (not failed)
 * and started in a later slice, oldest first; an I/O larger than what is
 * left of a slice's bytes may start while some are left, the excess is taken
 * from the next slices. Queued I/O fails (SPIO_BDEV_IO_STATUS_FAILED) when a
 * reset is submitted on any channel of the bdev, when the bdev is
 * unregistered, or when its channel is released; removing the last limit
 * starts the queued I/O.
 *
 * \param limits SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES values indexed by
 *        enum spio_bdev_qos_rate_limit_type: I/Os per second for the IOPS
 *        limit, MiB (2^20 bytes) per second for the others;
 *        SPIO_BDEV_QOS_LIMIT_NOT_DEFINED keeps a limit, 0 removes it. Like
 *        SPDK, an IOPS limit is rounded up to a multiple of
 *        SPIO_BDEV_QOS_MIN_IOS_PER_SEC (with a warning), and a MiB limit
 *        above UINT64_MAX / 2^20 is clamped. Read only during the call.
 * \param cb called once the channels apply the new limits (0), or with a
 *        negative errno (-ENOMEM: a channel could not start its queue
 *        poller); on the calling thread, never before this returns.
 * \return 0 (cb will run); -EINVAL (NULL bdev, limits or cb; not on a spio
 *         thread; every limit SPIO_BDEV_QOS_LIMIT_NOT_DEFINED); -ENODEV (not
 *         registered, or being unregistered); -EAGAIN (a change of this bdev's
 *         limits is still in progress, as in SPDK); -ENOMEM. On error cb is
 *         not called and nothing changed.
 * On a spio thread.
 */
int spio_bdev_set_qos_rate_limits(struct spio_bdev *bdev, const uint64_t *limits,
				  spio_bdev_qos_cb cb, void *cb_arg);

/**
 * The bdev's rate limits in the units of spio_bdev_set_qos_rate_limits()
 * (I/Os per second, MiB per second); 0 for a kind that is not limited.
 *
 * \param limits out: SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES values (all 0 for a
 *        NULL bdev).
 * Any thread.
 */
void spio_bdev_get_qos_rate_limits(struct spio_bdev *bdev, uint64_t *limits);

/**
 * SPDK's RPC parameter name of a kind of limit ("rw_ios_per_sec",
 * "rw_mbytes_per_sec", "r_mbytes_per_sec", "w_mbytes_per_sec"); NULL for a
 * value out of range. A static string.
 */
const char *spio_bdev_get_qos_rpc_type(enum spio_bdev_qos_rate_limit_type type);

/*
 * Latency histograms, in SPDK's bucket layout
 */

/** SPDK's default granularity: 2^7 buckets per power of two. */
#define SPIO_BDEV_HISTOGRAM_GRANULARITY_DEFAULT 7
/** The largest granularity accepted (2^12 buckets per power of two, 8 B each). */
#define SPIO_BDEV_HISTOGRAM_GRANULARITY_MAX 12

/** What a bdev's latency histogram records (spio_bdev_histogram_enable()). */
struct spio_bdev_histogram_opts {
	/** sizeof the structure, set by spio_bdev_histogram_opts_init(). */
	size_t opts_size;
	/** Record only this I/O type; SPIO_BDEV_IO_TYPE_INVALID (0): every type. */
	enum spio_bdev_io_type io_type;
	/** log2 of the buckets per power of two: 1 .. SPIO_BDEV_HISTOGRAM_GRANULARITY_MAX. */
	uint32_t granularity;
	/** Smallest latency with buckets of its own, in ns; below it counts in the first bucket. */
	uint64_t min_nsec;
	/** Latencies from here (ns) count in the last bucket; UINT64_MAX: no bound. */
	uint64_t max_nsec;
};

/**
 * Fill `opts` with the defaults of SPDK's C API: every I/O type, granularity
 * 7, min_nsec 0, max_nsec UINT64_MAX (the RPC's defaults are 1000 ns and
 * 120 s). Fields beyond `opts_size` are not touched. NULL is ignored.
 */
void spio_bdev_histogram_opts_init(struct spio_bdev_histogram_opts *opts, size_t opts_size);

/** Ends spio_bdev_histogram_enable(): `status` 0 or a negative errno. */
typedef void (*spio_bdev_histogram_status_cb)(void *cb_arg, int status);

/**
 * Start or stop recording the latency (submission to completion, in ticks)
 * of every I/O completed on the bdev, per channel: no lock or atomic on the
 * I/O path; a disabled histogram costs one branch per completion. Enabling
 * again with the same options keeps the counts; with other options (or after
 * disabling) the counts start from zero. Histograms of released channels are
 * kept until the histogram is disabled.
 *
 * \param opts NULL: spio_bdev_histogram_opts_init()'s defaults; ignored
 *        when disabling. Read only during the call.
 * \param cb called when every channel records (or stopped), on the calling
 *        thread, never before this returns: 0, or -ENOMEM (a channel could
 *        not allocate its buckets: the histogram is then disabled again).
 * \return 0 (cb will run); -EINVAL (NULL bdev or cb, not on a spio thread,
 *         granularity out of range, min_nsec not below max_nsec, an io_type
 *         out of range); -ENODEV (not registered or being removed); -EAGAIN
 *         (a change is still in progress, as in SPDK); -ENOMEM. On error cb
 *         is not called and nothing changed.
 * On a spio thread.
 */
int spio_bdev_histogram_enable(struct spio_bdev *bdev, bool enable,
			       const struct spio_bdev_histogram_opts *opts,
			       spio_bdev_histogram_status_cb cb, void *cb_arg);

/** True while the bdev's histogram is enabled; false for NULL. Any thread. */
bool spio_bdev_histogram_is_enabled(struct spio_bdev *bdev);

/**
 * A latency histogram in SPDK's layout (struct spdk_histogram_data): ranges
 * min_range .. max_range of 2^granularity buckets each, stored range after
 * range. Range 0 holds the values 0 .. 2^g - 1 one per bucket; range r >= 1
 * holds [2^(r+g-1), 2^(r+g)) in buckets 2^(r-1) wide. Values below the first
 * range count in its first bucket, values beyond the last in its last one.
 * The values are ticks (spio_get_ticks_hz() per second).
 */
struct spio_bdev_histogram_data {
	uint32_t granularity;
	uint32_t min_range;
	uint32_t max_range;
	/** (max_range - min_range + 1) << granularity */
	uint64_t num_buckets;
	/** The counts, in ascending order of value. */
	const uint64_t *bucket;
};

/**
 * The histogram a bdev's data is given in: `data` is valid only during the
 * call (the library frees it after); NULL unless `status` is 0.
 */
typedef void (*spio_bdev_histogram_data_cb)(void *cb_arg, int status,
					    const struct spio_bdev_histogram_data *data);

/**
 * Merge the histograms of every channel of the bdev (each read on its
 * thread) and of released channels, and hand the sum to `cb`.
 *
 * \param cb on the calling thread, never before this returns: status 0, or
 *        -EFAULT (the histogram is not enabled, SPDK's answer), -ENOMEM.
 * \return 0 (cb will run); -EINVAL (NULL bdev or cb, not on a spio thread);
 *         -ENODEV (not registered); -ENOMEM. On error cb is not called.
 * On a spio thread.
 */
int spio_bdev_histogram_get(struct spio_bdev *bdev, spio_bdev_histogram_data_cb cb, void *cb_arg);

/**
 * The values bucket `index` of `data` counts: first .. last inclusive (the
 * first bucket also counts everything below, the last everything above).
 * \return 0; -EINVAL (NULL, index >= num_buckets).
 */
int spio_bdev_histogram_bucket_bounds(const struct spio_bdev_histogram_data *data, uint64_t index,
				      uint64_t *first, uint64_t *last);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BDEV_H */
