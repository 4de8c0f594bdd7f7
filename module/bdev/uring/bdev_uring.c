/*
 * The "uring" bdev module: a file or block device driven through one
 * io_uring per channel (per thread and bdev).
 *
 * submit_request only fills a submission queue entry. The channel's poller
 * reaps completions from the shared completion ring (no system call), lets
 * their callbacks submit more, then submits every entry filled since the
 * last poll in one io_uring_enter. The ring's eventfd is the poller's
 * interrupt fd, so a reactor with I/O outstanding can sleep until it ends.
 *
 * Unmap on a block device uses the kernel's io_uring discard command where
 * it exists (Linux 6.12+), else BLKDISCARD on a helper thread; everything
 * else is asynchronous in the ring. See spio/bdev_uring.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bdev_file/bdev_file.h"
#include "spio/bdev_uring.h"
#include "spio/dma.h"
#include "spio/json.h"
#include "spio/log.h"

SPIO_LOG_REGISTER_COMPONENT(bdev_uring)

#define URING_DEPTH_DEFAULT 512
#define URING_DEPTH_MAX 32768u
/* The kernel's cap on registered buffers (IORING_MAX_REG_BUFFERS). */
#define URING_MAX_FIXED_BUFFERS 16384
#define URING_CQE_BATCH 64
#define URING_SQPOLL_IDLE_MS 1000

/* The block layer's io_uring discard command (Linux 6.12, linux/blkdev.h). */
#ifndef BLOCK_URING_CMD_DISCARD
#define BLOCK_URING_CMD_DISCARD _IO(0x12, 0)
#endif

struct uring_disk {
	struct bdev_file file; /* first: the bdev's ctxt */
	uint32_t queue_depth;  /* SQ entries per channel, I/Os in flight per channel */
	bool sqpoll;
	bool registered_buffers;
	bool registered_files;
	/* The kernel has no io_uring discard: use BLKDISCARD (relaxed atomic). */
	bool cmd_discard_unsupported;
};

struct uring_channel;

struct uring_io {
	struct bdev_file_io common; /* first: found from the driver context */
	struct uring_channel *ch;
};

struct uring_channel {
	struct bdev_file_channel common;
	struct uring_disk *disk;
	struct io_uring ring;
	bool ring_ready;
	uint32_t in_kernel; /* SQEs filled whose completion was not reaped */
	int efd;
	struct spio_poller *poller;
	/* registered buffers: per DMA segment, the generation registered (0: none) */
	uint32_t *fixed_gen;
	uint32_t fixed_count;
};

static size_t uring_get_ctx_size(void)
{
	return sizeof(struct uring_io);
}

static struct spio_bdev_module g_uring_module = {
    .name = "uring",
    .get_ctx_size = uring_get_ctx_size,
};
SPIO_BDEV_MODULE_REGISTER(g_uring_module)

static struct uring_io *uring_io_of(struct spio_bdev_io *io)
{
	return (struct uring_io *)spio_bdev_io_get_driver_ctx(io);
}

static void uring_start(struct uring_channel *ch, struct spio_bdev_io *io);

/* Room was freed: hand on the I/Os that waited for it. */
static void uring_start_queued(struct uring_channel *ch)
{
	struct bdev_file_io *next;

	while ((next = bdev_file_channel_next(&ch->common)) != NULL) {
		uring_start(ch, bdev_file_io_to_bdev_io(next));
	}
}

/*
 * Registered buffers
 */

/* The fixed-buffer index for [base, base + len), registering its DMA
 * segment with this ring on first use; -1 to use a plain read/write. */
static int uring_fixed_index(struct uring_channel *ch, void *base, size_t len)
{
	struct spio_dma_segment seg;
	struct iovec iov;
	int rc;

	if (ch->fixed_gen == NULL || spio_dma_get_segment(base, len, &seg) != 0 ||
	    seg.index >= ch->fixed_count) {
		return -1;
	}
	if (spio_likely(ch->fixed_gen[seg.index] == seg.generation)) {
		return (int)seg.index;
	}
	iov.iov_base = seg.addr;
	iov.iov_len = seg.len;
	rc = io_uring_register_buffers_update_tag(&ch->ring, seg.index, &iov, NULL, 1);
	if (rc < 0) {
		SPIO_WARNLOG("uring bdev %s: cannot register DMA segment %" PRIu32
			     ": %s; using unregistered buffers\n",
			     ch->disk->file.bdev.name, seg.index, strerror(-rc));
		free(ch->fixed_gen);
		ch->fixed_gen = NULL;
		return -1;
	}
	ch->fixed_gen[seg.index] = seg.generation;
	return (int)seg.index;
}

/*
 * Submission
 */

static void uring_prep_rw(struct uring_channel *ch, struct io_uring_sqe *sqe, int fd,
			  struct spio_bdev_io *io)
{
	struct uring_io *uio = uring_io_of(io);
	const struct iovec *iov = uio->common.bounce.iov_base ? &uio->common.bounce : io->u.iovs;
	int iovcnt = uio->common.bounce.iov_base ? 1 : io->u.iovcnt;
	uint64_t off = bdev_file_io_offset(io);
	bool read = io->type == SPIO_BDEV_IO_TYPE_READ;
	int index;

	if (iovcnt > 1) {
		if (read) {
			io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, off);
		} else {
			io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, off);
		}
		return;
	}
	index = uring_fixed_index(ch, iov->iov_base, iov->iov_len);
	if (index >= 0) {
		if (read) {
			io_uring_prep_read_fixed(sqe, fd, iov->iov_base, (unsigned)iov->iov_len,
						 off, index);
		} else {
			io_uring_prep_write_fixed(sqe, fd, iov->iov_base, (unsigned)iov->iov_len,
						  off, index);
		}
	} else if (read) {
		io_uring_prep_read(sqe, fd, iov->iov_base, (unsigned)iov->iov_len, off);
	} else {
		io_uring_prep_write(sqe, fd, iov->iov_base, (unsigned)iov->iov_len, off);
	}
}

/* The block layer's discard command: addr is the start, addr3 the length. */
static void uring_prep_discard(struct io_uring_sqe *sqe, int fd, uint64_t off, uint64_t len)
{
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = BLOCK_URING_CMD_DISCARD;
	sqe->addr = off;
	sqe->addr3 = len;
}

static bool uring_discard_in_ring(const struct uring_disk *disk)
{
	return !__atomic_load_n(&disk->cmd_discard_unsupported, __ATOMIC_RELAXED);
}

/* A free SQE: there always is one (in flight <= depth = SQ size), but a
 * kernel thread (SQPOLL) may not have consumed them yet. */
static struct io_uring_sqe *uring_get_sqe(struct uring_channel *ch)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ch->ring);

	if (spio_unlikely(sqe == NULL)) {
		io_uring_submit(&ch->ring);
		sqe = io_uring_get_sqe(&ch->ring);
	}
	return sqe;
}

static void uring_blocking_done(void *arg, int result)
{
	struct spio_bdev_io *io = arg;
	struct uring_io *uio = uring_io_of(io);
	struct uring_channel *ch = uio->ch;

	if (result != 0) {
		bdev_file_report_error(&ch->disk->file, io, result, 0);
	}
	bdev_file_channel_complete(&ch->common, &uio->common, result == 0);
	uring_start_queued(ch);
}

static void uring_start_blocking(struct uring_channel *ch, struct spio_bdev_io *io)
{
	struct uring_io *uio = uring_io_of(io);
	int rc =
	    spio_work_submit(&uio->common.work, bdev_file_blocking_op, uring_blocking_done, io);

	if (rc != 0) {
		bdev_file_report_error(&ch->disk->file, io, rc, 0);
		bdev_file_channel_complete(&ch->common, &uio->common, false);
	}
}

/* Hand an admitted I/O to the kernel. */
static void uring_start(struct uring_channel *ch, struct spio_bdev_io *io)
{
	struct uring_disk *disk = ch->disk;
	struct bdev_file *f = &disk->file;
	struct uring_io *uio = uring_io_of(io);
	struct io_uring_sqe *sqe;
	int fd = disk->registered_files ? 0 : f->fd;

	uio->ch = ch;
	if (spio_unlikely(io->type == SPIO_BDEV_IO_TYPE_UNMAP && f->is_blockdev &&
			  !uring_discard_in_ring(disk))) {
		uring_start_blocking(ch, io);
		return;
	}
	if (spio_unlikely(bdev_file_needs_bounce(f, io)) &&
	    bdev_file_bounce_start(&uio->common, io) != 0) {
		bdev_file_channel_complete(&ch->common, &uio->common, false);
		return;
	}
	sqe = uring_get_sqe(ch);
	if (spio_unlikely(sqe == NULL)) {
		SPIO_ERRLOG("uring bdev %s: submission queue full\n", f->bdev.name);
		bdev_file_channel_complete(&ch->common, &uio->common, false);
		return;
	}
	switch (io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
	case SPIO_BDEV_IO_TYPE_WRITE:
		uring_prep_rw(ch, sqe, fd, io);
		break;
	case SPIO_BDEV_IO_TYPE_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	case SPIO_BDEV_IO_TYPE_UNMAP:
		if (f->is_blockdev) {
			uring_prep_discard(sqe, fd, bdev_file_io_offset(io), bdev_file_io_len(io));
			break;
		}
		/* a file's unmap: punch a hole */
		__attribute__((fallthrough));
	default: /* write_zeroes */
		io_uring_prep_fallocate(sqe, fd, bdev_file_fallocate_mode(f, io->type),
					(off_t)bdev_file_io_offset(io),
					(off_t)bdev_file_io_len(io));
		break;
	}
	if (disk->registered_files) {
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	io_uring_sqe_set_data(sqe, uio);
	ch->in_kernel++;
}

static void uring_submit_request(struct spio_io_channel *ioch, struct spio_bdev_io *io)
{
	struct uring_channel *ch = spio_io_channel_get_ctx(ioch);
	struct uring_io *uio = uring_io_of(io);

	if (spio_unlikely(io->type == SPIO_BDEV_IO_TYPE_RESET)) {
		bdev_file_channel_reset(&ch->common, &uio->common);
		return;
	}
	if (bdev_file_channel_admit(&ch->common, &uio->common)) {
		uring_start(ch, io);
	}
}

/*
 * Completion
 */

/* A kernel without what we asked for: retry the same I/O another way. */
static bool uring_retry_unsupported(struct uring_channel *ch, struct spio_bdev_io *io, int res)
{
	struct bdev_file *f = &ch->disk->file;

	if (res != -EOPNOTSUPP) {
		return false;
	}
	if (io->type == SPIO_BDEV_IO_TYPE_UNMAP && f->is_blockdev) {
		if (!__atomic_exchange_n(&ch->disk->cmd_discard_unsupported, true,
					 __ATOMIC_RELAXED)) {
			SPIO_NOTICELOG("uring bdev %s: no io_uring discard in this kernel; using "
				       "BLKDISCARD on a helper thread\n",
				       f->bdev.name);
		}
		uring_start_blocking(ch, io);
		return true;
	}
	if (io->type == SPIO_BDEV_IO_TYPE_WRITE_ZEROES && !f->is_blockdev &&
	    (bdev_file_fallocate_mode(f, io->type) & FALLOC_FL_ZERO_RANGE)) {
		bdev_file_zero_range_failed(f);
		uring_start(ch, io);
		return true;
	}
	return false;
}

static void uring_complete(struct uring_channel *ch, struct uring_io *uio, int res)
{
	struct spio_bdev_io *io = bdev_file_io_to_bdev_io(&uio->common);
	bool rw = io->type == SPIO_BDEV_IO_TYPE_READ || io->type == SPIO_BDEV_IO_TYPE_WRITE;
	uint64_t expected = rw ? bdev_file_io_len(io) : 0;

	if (spio_likely((uint64_t)(int64_t)res == expected)) {
		bdev_file_channel_complete(&ch->common, &uio->common, true);
		return;
	}
	if (uring_retry_unsupported(ch, io, res)) {
		return;
	}
	bdev_file_report_error(&ch->disk->file, io, res, expected);
	bdev_file_channel_complete(&ch->common, &uio->common, false);
}

/* Reap what completed; returns how many. */
static unsigned uring_reap(struct uring_channel *ch)
{
	struct io_uring_cqe *cqes[URING_CQE_BATCH];
	struct uring_io *uios[URING_CQE_BATCH];
	int res[URING_CQE_BATCH];
	unsigned n, total = 0;

	do {
		n = io_uring_peek_batch_cqe(&ch->ring, cqes, URING_CQE_BATCH);
		/* Copy out and release the entries first: callbacks submit more. */
		for (unsigned i = 0; i < n; i++) {
			uios[i] = io_uring_cqe_get_data(cqes[i]);
			res[i] = cqes[i]->res;
		}
		io_uring_cq_advance(&ch->ring, n);
		ch->in_kernel -= n;
		for (unsigned i = 0; i < n; i++) {
			uring_complete(ch, uios[i], res[i]);
		}
		total += n;
	} while (n == URING_CQE_BATCH);
	return total;
}

static int uring_poll(void *arg)
{
	struct uring_channel *ch = arg;
	unsigned reaped = uring_reap(ch);
	int rc;

	uring_start_queued(ch);
	if (io_uring_sq_ready(&ch->ring) == 0) {
		return reaped ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
	}
	rc = io_uring_submit(&ch->ring);
	if (spio_unlikely(rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR)) {
		SPIO_ERRLOG("uring bdev %s: io_uring_submit: %s\n", ch->disk->file.bdev.name,
			    strerror(-rc));
	}
	return SPIO_POLLER_BUSY;
}

/*
 * Channels
 */

static int uring_ring_init(struct uring_channel *ch)
{
	struct uring_disk *disk = ch->disk;
	struct io_uring_params p;
	int rc;

	memset(&p, 0, sizeof(p));
	if (disk->sqpoll) {
		p.flags |= IORING_SETUP_SQPOLL;
		p.sq_thread_idle = URING_SQPOLL_IDLE_MS;
	} else {
		/* Completions are run when we enter the kernel anyway (we submit
		 * every poll while busy): no inter-processor interrupt per I/O. */
		p.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	}
	rc = io_uring_queue_init_params(disk->queue_depth, &ch->ring, &p);
	if (rc == -EINVAL && (p.flags & IORING_SETUP_COOP_TASKRUN)) {
		/* before Linux 5.19 */
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(disk->queue_depth, &ch->ring, &p);
	}
	return rc;
}

/*
 * io-wq workers (the kernel's threads for work that cannot be issued without
 * blocking: fsync, fallocate, reads from some file systems) inherit the
 * affinity of the thread that made the ring. Pinned to a polling reactor's
 * core they get the CPU only when the scheduler preempts the reactor, and
 * every I/O they serve waits milliseconds. Keep them off a pinned thread's
 * core when the process has others.
 */
static void uring_keep_workers_off_this_core(struct uring_channel *ch)
{
	cpu_set_t mine, others;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	int rc;

	if (pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine) != 0 ||
	    CPU_COUNT(&mine) != 1 || n <= 1) {
		return;
	}
	CPU_ZERO(&others);
	for (long cpu = 0; cpu < n && cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &mine)) {
			CPU_SET(cpu, &others);
		}
	}
	rc = io_uring_register_iowq_aff(&ch->ring, sizeof(others), &others);
	if (rc < 0) {
		SPIO_DEBUGLOG(bdev_uring, "io_uring_register_iowq_aff: %s\n", strerror(-rc));
	}
}

static int uring_register_options(struct uring_channel *ch)
{
	struct uring_disk *disk = ch->disk;
	int rc;

	if (disk->registered_files) {
		rc = io_uring_register_files(&ch->ring, &disk->file.fd, 1);
		if (rc < 0) {
			SPIO_ERRLOG("uring bdev %s: cannot register the file: %s\n",
				    disk->file.bdev.name, strerror(-rc));
			return rc;
		}
	}
	if (disk->registered_buffers) {
		ch->fixed_count = SPIO_MIN(spio_dma_get_segment_count(), URING_MAX_FIXED_BUFFERS);
		ch->fixed_gen = calloc(ch->fixed_count ? ch->fixed_count : 1, sizeof(uint32_t));
		if (ch->fixed_gen == NULL) {
			return -ENOMEM;
		}
		rc = io_uring_register_buffers_sparse(&ch->ring, ch->fixed_count);
		if (rc < 0) {
			/* Slower, not wrong: carry on with plain reads and writes. */
			SPIO_WARNLOG("uring bdev %s: no sparse buffer table (%s); buffers stay "
				     "unregistered\n",
				     disk->file.bdev.name, strerror(-rc));
			free(ch->fixed_gen);
			ch->fixed_gen = NULL;
		}
	}
	return 0;
}

static void uring_channel_release(struct uring_channel *ch)
{
	spio_poller_unregister(&ch->poller);
	if (ch->ring_ready) {
		io_uring_queue_exit(&ch->ring);
		ch->ring_ready = false;
	}
	if (ch->efd >= 0) {
		close(ch->efd);
		ch->efd = -1;
	}
	free(ch->fixed_gen);
	ch->fixed_gen = NULL;
}

static int uring_channel_create(void *io_device, void *ctx)
{
	struct uring_channel *ch = ctx;
	struct uring_disk *disk = (struct uring_disk *)bdev_file_from_io_device(io_device);
	int rc;

	memset(ch, 0, sizeof(*ch));
	ch->disk = disk;
	ch->efd = -1;
	ch->common.depth = disk->queue_depth;
	rc = uring_ring_init(ch);
	if (rc < 0) {
		SPIO_ERRLOG("uring bdev %s: io_uring_queue_init(%" PRIu32 "): %s\n",
			    disk->file.bdev.name, disk->queue_depth, strerror(-rc));
		return rc;
	}
	ch->ring_ready = true;
	uring_keep_workers_off_this_core(ch);
	if ((rc = uring_register_options(ch)) != 0) {
		goto fail;
	}
	ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->efd < 0 || io_uring_register_eventfd(&ch->ring, ch->efd) < 0) {
		rc = -errno;
		SPIO_ERRLOG("uring bdev %s: no eventfd for the ring: %s\n", disk->file.bdev.name,
			    strerror(errno));
		goto fail;
	}
	ch->poller = spio_poller_register_named(uring_poll, ch, 0, "bdev_uring");
	if (ch->poller == NULL) {
		rc = -errno;
		goto fail;
	}
	rc = spio_poller_set_interrupt_fd(ch->poller, ch->efd);
	if (rc != 0) {
		goto fail;
	}
	return 0;

fail:
	uring_channel_release(ch);
	return rc;
}

static void uring_channel_destroy(void *io_device, void *ctx)
{
	struct uring_channel *ch = ctx;

	(void)io_device;
	/* Channels go only after their I/O finished. If not (a caller's bug), say
	 * so, and let the kernel finish with the buffers before the ring goes. */
	if (spio_unlikely(ch->common.inflight != 0 || ch->common.queued != 0)) {
		SPIO_ERRLOG("uring bdev %s: channel released with %" PRIu32 " I/Os in flight\n",
			    ch->disk->file.bdev.name, ch->common.inflight + ch->common.queued);
		while (ch->in_kernel != 0 && io_uring_submit_and_wait(&ch->ring, 1) >= 0) {
			uring_reap(ch);
		}
	}
	uring_channel_release(ch);
}

/*
 * The bdev
 */

static void uring_dump_info_json(void *ctxt, struct spio_json_write_ctx *w)
{
	struct uring_disk *disk = ctxt;

	spio_json_write_named_object_begin(w, "uring");
	bdev_file_dump_info_json(&disk->file, w);
	spio_json_write_named_uint32(w, "queue_depth", disk->queue_depth);
	spio_json_write_named_bool(w, "sqpoll", disk->sqpoll);
	spio_json_write_named_bool(w, "registered_buffers", disk->registered_buffers);
	spio_json_write_named_bool(w, "registered_files", disk->registered_files);
	spio_json_write_object_end(w);
}

static void uring_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	struct uring_disk *disk = bdev->ctxt;

	bdev_file_write_config_begin(&disk->file, "bdev_uring_create", w);
	spio_json_write_named_uuid(w, "uuid", &disk->file.bdev.uuid);
	/* Ours, each only when it differs from the default (see bdev_file.h). */
	bdev_file_write_config_ours(&disk->file, w);
	if (disk->queue_depth != URING_DEPTH_DEFAULT) {
		spio_json_write_named_uint32(w, "queue_depth", disk->queue_depth);
	}
	if (disk->file.readonly) {
		spio_json_write_named_bool(w, "readonly", true);
	}
	if (disk->sqpoll) {
		spio_json_write_named_bool(w, "sqpoll", true);
	}
	if (disk->registered_buffers) {
		spio_json_write_named_bool(w, "registered_buffers", true);
	}
	if (disk->registered_files) {
		spio_json_write_named_bool(w, "registered_files", true);
	}
	bdev_file_write_config_end(w);
}

static const struct spio_bdev_fn_table g_uring_fn_table = {
    .destruct = bdev_file_destruct,
    .submit_request = uring_submit_request,
    .io_type_supported = bdev_file_io_type_supported,
    .get_io_channel = bdev_file_get_io_channel,
    .dump_info_json = uring_dump_info_json,
    .write_config_json = uring_write_config_json,
};

static void uring_opts_defaults(struct spio_bdev_uring_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->opts_size = sizeof(*o);
	o->direct = true;
	o->queue_depth = URING_DEPTH_DEFAULT;
}

void spio_bdev_uring_opts_init(struct spio_bdev_uring_opts *opts, size_t opts_size)
{
	struct spio_bdev_uring_opts def;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	uring_opts_defaults(&def);
	def.opts_size = opts_size;
	memcpy(opts, &def, SPIO_MIN(opts_size, sizeof(def)));
}

/* io_uring may be disabled (kernel.io_uring_disabled, seccomp): say so at create. */
static int uring_check_available(const char *name, char *err, size_t err_len)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(2, &ring, 0);

	if (rc < 0) {
		return bdev_create_error(err, err_len, rc == -ENOSYS || rc == -EPERM ? -EINVAL : rc,
					 "uring bdev %s: io_uring is not available: %s", name,
					 strerror(-rc));
	}
	io_uring_queue_exit(&ring);
	return 0;
}

static const struct bdev_file_module g_uring_file_module = {
    .module = &g_uring_module,
    .product_name = "URING bdev",
    .fn_table = &g_uring_fn_table,
    .channel_create = uring_channel_create,
    .channel_destroy = uring_channel_destroy,
    .channel_size = sizeof(struct uring_channel),
};

int spio_bdev_uring_create(const struct spio_bdev_uring_opts *user_opts,
			   struct spio_bdev **bdev_out, char *err, size_t err_len)
{
	struct spio_bdev_uring_opts o;
	struct uring_disk *disk;
	int rc;

	if (user_opts == NULL || bdev_out == NULL || user_opts->opts_size == 0) {
		return bdev_create_error(err, err_len, -EINVAL, "uring bdev: invalid arguments");
	}
	/* The caller's fields over the defaults: older callers know fewer fields. */
	uring_opts_defaults(&o);
	memcpy(&o, user_opts, SPIO_MIN(user_opts->opts_size, sizeof(o)));
	if (o.queue_depth == 0 || o.queue_depth > URING_DEPTH_MAX) {
		return bdev_create_error(
		    err, err_len, -EINVAL, "uring bdev %s: queue_depth %" PRIu32 ": expected 1..%u",
		    o.name != NULL ? o.name : "", o.queue_depth, URING_DEPTH_MAX);
	}
	if ((rc = uring_check_available(o.name != NULL ? o.name : "", err, err_len)) != 0) {
		return rc;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		return bdev_create_error(err, err_len, -ENOMEM, "uring bdev: out of memory");
	}
	disk->queue_depth = o.queue_depth;
	disk->sqpoll = o.sqpoll;
	disk->registered_buffers = o.registered_buffers;
	disk->registered_files = o.registered_files;
	rc = bdev_file_create(&disk->file, &g_uring_file_module,
			      &(struct bdev_file_opts){
				  .name = o.name,
				  .filename = o.filename,
				  .block_size = o.block_size,
				  .uuid = o.uuid,
				  .direct = o.direct,
				  .readonly = o.readonly,
				  /* unmap and write_zeroes wherever the file has them */
				  .fallocate = true,
			      },
			      err, err_len);
	if (rc == 0) {
		*bdev_out = &disk->file.bdev;
	}
	return rc;
}

int spio_bdev_uring_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg)
{
	return spio_bdev_unregister_by_name(name, &g_uring_module, cb, cb_arg);
}

int spio_bdev_uring_rescan(const char *name)
{
	return bdev_file_rescan(name, &g_uring_module);
}
