/*
 * The helper the kernel-backed bdev modules (uring, aio) link against: opening
 * and probing a file or block device, capability detection, the per-I/O and
 * per-channel bookkeeping that does not depend on the kernel interface
 * (queueing when the channel is full, resets, bounce buffers, blocking
 * fallbacks), rescans, errors, and the JSON every such module writes.
 *
 * Not a module: it registers no module, names none and keeps no per-module
 * settings. A module passes what it is (its spio_bdev_module, product name,
 * fn_table, channel callbacks: struct bdev_file_module) and the options the
 * helper acts on (struct bdev_file_opts); queue depths, their defaults and
 * limits, and every option of the module's own stay in the module.
 *
 * Private to libspio (lib/ is on the library's private include path; not
 * installed). Modules include it as "bdev_file/bdev_file.h".
 */
#ifndef SPIO_BDEV_FILE_H
#define SPIO_BDEV_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bdev/bdev_error.h"
#include "spio/bdev_module.h"
#include "spio/rpc.h"
#include "spio/thread.h"
#include "spio/util.h"

/* The kernel's limit on iovecs per readv/writev (UIO_MAXIOV). */
#define BDEV_FILE_MAX_IOVS 1024

/*
 * A kernel-backed module as the helper sees it: static storage in the
 * module, passed as it is. Messages start with module->name.
 */
struct bdev_file_module {
	struct spio_bdev_module *module;
	/* The bdevs' product name ("AIO disk"). */
	const char *product_name;
	const struct spio_bdev_fn_table *fn_table;
	/* The module's per-channel context (its io_device's channels). */
	spio_io_channel_create_cb channel_create;
	spio_io_channel_destroy_cb channel_destroy;
	uint32_t channel_size;
};

/* What opening and probing the file needs: the module's options, translated once. */
struct bdev_file_opts {
	const char *name;      /* required */
	const char *filename;  /* required */
	uint32_t block_size;   /* 0: detect */
	struct spio_uuid uuid; /* all-zero: generate */
	bool direct;	       /* O_DIRECT */
	bool readonly;	       /* O_RDONLY; no writing I/O types */
	bool fallocate;	       /* unmap and write_zeroes where the file supports them */
};

/*
 * A kernel-backed bdev. Modules embed it first in their own device struct,
 * which they allocate with malloc: bdev_file_destruct() frees it.
 */
struct bdev_file {
	struct spio_bdev bdev;
	/* The module's io_device (the bdev's own address is the core's). */
	uint8_t io_device;
	char *filename;
	int fd;
	/* Which file it is (st_dev, st_ino; a block device: st_rdev, 0). */
	uint64_t file_dev;
	uint64_t file_ino;
	bool is_blockdev;
	bool direct;
	bool readonly;
	bool fallocate;
	bool can_unmap;
	bool can_write_zeroes;
	/* Learned at run time, any thread (relaxed atomics). */
	bool zero_range_unsupported; /* a file system without FALLOC_FL_ZERO_RANGE */
	/* Error reporting: how many I/Os failed, reported sparsely. */
	uint64_t errors;
};

/*
 * Per-I/O state a module keeps at the start of its driver context.
 */
struct bdev_file_io {
	struct spio_work work;	   /* a blocking fallback on a helper thread */
	struct iovec bounce;	   /* iov_base NULL: the caller's buffers are used */
	struct bdev_file_io *next; /* in the channel's queue or reset list */
	uint64_t seq;		   /* arrival order on the channel */
	uint32_t reset_waits;	   /* a reset: older I/Os still to finish */
};

/* The spio_bdev_io a bdev_file_io belongs to. */
static inline struct spio_bdev_io *bdev_file_io_to_bdev_io(struct bdev_file_io *fio)
{
	return spio_bdev_io_from_ctx(fio);
}

/*
 * Per-channel state a module keeps at the start of its channel context.
 * An I/O is "in flight" from the moment it is handed to the kernel (or to a
 * helper thread) until its completion was delivered.
 */
struct bdev_file_channel {
	uint32_t depth;	   /* most I/Os in flight at once */
	uint32_t inflight; /* handed to the kernel or a helper thread */
	uint32_t queued;
	uint64_t next_seq;
	/* Waiting for room (inflight == depth), in arrival order. */
	struct bdev_file_io *queued_head;
	struct bdev_file_io *queued_tail;
	/* Resets waiting for the channel's earlier I/O to finish, oldest first. */
	struct bdev_file_io *resets;
};

/*
 * Create a kernel-backed bdev in `f`, the start of the module's device
 * struct (malloc'ed; the module's own fields after `f` already set): open
 * `o->filename`, check and size it, fill the bdev (name, geometry,
 * alignment, UUID, and `m`'s product name, module and fn_table), register
 * the module's io_device (channels of m->channel_size bytes set up and torn
 * down by m's callbacks), then the bdev. `o` is only read during the call.
 * On error the device is freed and a one-line message naming the file is in
 * `err` (when not NULL) and the log. Never blocks in open(): anything but a
 * regular file or block device (a FIFO, /dev/null, a /proc file) is refused
 * before O_DIRECT is tried. A file another kernel-backed bdev already has
 * open, one of them writable, is logged as a warning (SPDK allows it).
 * \return 0; -EINVAL (bad options, empty file, size not a multiple of the
 *         block size, not a regular file or block device, O_DIRECT not
 *         supported); -EEXIST (name taken);
 *         -ENOENT; -EACCES/-EPERM/-EROFS; -EISDIR; -ENOMEM; other -errno;
 *         spio_bdev_register()'s errors.
 */
int bdev_file_create(struct bdev_file *f, const struct bdev_file_module *m,
		     const struct bdev_file_opts *o, char *err, size_t errlen);

/* The device whose io_device is `io_device` (in a channel callback). */
static inline struct bdev_file *bdev_file_from_io_device(void *io_device)
{
	return SPIO_CONTAINEROF(io_device, struct bdev_file, io_device);
}

/*
 * fn_table entries a module uses as they are: destruct (unregisters the
 * io_device; the file is closed and the device freed after its last
 * channel), io_type_supported, get_io_channel.
 */
int bdev_file_destruct(void *ctxt);
bool bdev_file_io_type_supported(void *ctxt, enum spio_bdev_io_type type);
struct spio_io_channel *bdev_file_get_io_channel(void *ctxt);

/*
 * Read the size again and tell the core if it changed (openers get a
 * RESIZE event). `name` must be a bdev of `module`.
 * \return 0; -EINVAL (NULL); -ENODEV (no such bdev of the module); -EIO
 *         (the size cannot be read); -EBUSY (it shrank while open, see
 *         spio_bdev_notify_blockcnt_change).
 */
int bdev_file_rescan(const char *name, struct spio_bdev_module *module);

/* Byte offset and length of an I/O. */
static inline uint64_t bdev_file_io_offset(const struct spio_bdev_io *io)
{
	return io->u.offset_blocks * io->bdev->blocklen;
}

static inline uint64_t bdev_file_io_len(const struct spio_bdev_io *io)
{
	return io->u.num_blocks * io->bdev->blocklen;
}

/*
 * Bounce buffers: with O_DIRECT the kernel wants every segment a whole
 * number of blocks; the core already checked the addresses. A request whose
 * segments are not gets one aligned DMA buffer instead (a slow path).
 */
bool bdev_file_needs_bounce(const struct bdev_file *f, const struct spio_bdev_io *io);

/* Allocate the bounce buffer (a write copies the data in). 0 or -ENOMEM. */
int bdev_file_bounce_start(struct bdev_file_io *fio, struct spio_bdev_io *io);

/* Release it; a successful read copies the data out first. */
void bdev_file_bounce_finish(struct bdev_file_io *fio, struct spio_bdev_io *io, bool success);

/*
 * The blocking form of unmap, write_zeroes and flush (fallocate, the
 * BLKDISCARD ioctl, fdatasync), for spio_work_submit(): `arg` is the
 * spio_bdev_io. Returns 0 or -errno.
 */
int bdev_file_blocking_op(void *arg);

/*
 * fallocate() mode that implements `type` (unmap or write_zeroes) on `f`
 * now: write_zeroes falls back to punching a hole on file systems without
 * FALLOC_FL_ZERO_RANGE (after bdev_file_zero_range_failed()).
 */
int bdev_file_fallocate_mode(const struct bdev_file *f, enum spio_bdev_io_type type);

/* The file system refused FALLOC_FL_ZERO_RANGE: punch holes from now on. */
void bdev_file_zero_range_failed(struct bdev_file *f);

/*
 * Log a failed I/O (the first few per bdev, then every 1000th, so a dying
 * disk cannot flood the log). `res` is the kernel's negative errno, or the
 * short byte count it returned.
 */
void bdev_file_report_error(struct bdev_file *f, const struct spio_bdev_io *io, int64_t res,
			    uint64_t expected);

/*
 * Channel bookkeeping
 */

/*
 * Admit an I/O (any type but reset): true if it may go to the kernel now
 * (it is counted in flight), false if the channel is full and it was queued
 * (bdev_file_channel_next() hands it on later).
 */
bool bdev_file_channel_admit(struct bdev_file_channel *ch, struct bdev_file_io *fio);

/* The oldest queued I/O if there is room for it now (counted in flight), else NULL. */
struct bdev_file_io *bdev_file_channel_next(struct bdev_file_channel *ch);

/*
 * A reset: completes once every I/O the channel had in flight or queued when
 * it arrived has completed (at once if none). Later I/O does not delay it.
 */
void bdev_file_channel_reset(struct bdev_file_channel *ch, struct bdev_file_io *fio);

/*
 * Deliver one in-flight I/O's completion: release its bounce buffer,
 * update the counts, complete it, and complete resets that waited for it.
 */
void bdev_file_channel_complete(struct bdev_file_channel *ch, struct bdev_file_io *fio,
				bool success);

/*
 * JSON
 */

/*
 * The file's members of bdev_get_bdevs' driver_specific object (filename,
 * block_device, direct, readonly, fallocate), inside the {"<module>": {...}}
 * the module opened; the module adds its own.
 */
void bdev_file_dump_info_json(const struct bdev_file *f, struct spio_json_write_ctx *w);

/*
 * Begin `{"method": method, "params": {` with the members SPDK's aio and
 * uring entries start with: name, block_size, filename. The module adds the
 * rest of SPDK's members in SPDK's order, then its own (each only when it
 * differs from the default, so a default entry stays loadable by SPDK; see
 * bdev_file_write_config_ours()), and calls bdev_file_write_config_end().
 */
void bdev_file_write_config_begin(const struct bdev_file *f, const char *method,
				  struct spio_json_write_ctx *w);

/* spio's members both modules share: direct, only when false. */
void bdev_file_write_config_ours(const struct bdev_file *f, struct spio_json_write_ctx *w);
/* Close what bdev_file_write_config_begin() opened. */
void bdev_file_write_config_end(struct spio_json_write_ctx *w);

/*
 * RPC
 */
struct spio_jsonrpc_request;

/*
 * Serve bdev_<module>_rescan: params {"name"}, call `rescan(name)`, answer
 * true, -32602 for bad parameters, or the rescan error with a message.
 */
void bdev_file_rpc_rescan(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			  int (*rescan)(const char *name));

#endif /* SPIO_BDEV_FILE_H */
