/*
 * The I/O side that the kernel-backed modules share: the channel's queue and
 * reset bookkeeping, bounce buffers for O_DIRECT, the blocking forms of
 * unmap / write_zeroes / flush, and error reporting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bdev_file.h"
#include "spio/dma.h"
#include "spio/log.h"
#include "spio/util.h"

/* Failed I/Os logged per bdev before only every ERROR_LOG_EVERY-th is. */
#define ERROR_LOG_FIRST 10
#define ERROR_LOG_EVERY 1000

/*
 * Channel bookkeeping
 */

bool bdev_file_channel_admit(struct bdev_file_channel *ch, struct bdev_file_io *fio)
{
	fio->seq = ch->next_seq++;
	fio->bounce.iov_base = NULL;
	if (ch->inflight < ch->depth && ch->queued_head == NULL) {
		ch->inflight++;
		return true;
	}
	fio->next = NULL;
	if (ch->queued_tail != NULL) {
		ch->queued_tail->next = fio;
	} else {
		ch->queued_head = fio;
	}
	ch->queued_tail = fio;
	ch->queued++;
	return false;
}

struct bdev_file_io *bdev_file_channel_next(struct bdev_file_channel *ch)
{
	struct bdev_file_io *fio = ch->queued_head;

	if (fio == NULL || ch->inflight >= ch->depth) {
		return NULL;
	}
	ch->queued_head = fio->next;
	if (ch->queued_head == NULL) {
		ch->queued_tail = NULL;
	}
	ch->queued--;
	ch->inflight++;
	return fio;
}

void bdev_file_channel_reset(struct bdev_file_channel *ch, struct bdev_file_io *fio)
{
	struct bdev_file_io **tail = &ch->resets;

	fio->seq = ch->next_seq; /* everything older has a smaller seq */
	fio->reset_waits = ch->inflight + ch->queued;
	if (fio->reset_waits == 0) {
		/* The core defers the callback: completing inside submit is fine. */
		spio_bdev_io_complete(bdev_file_io_to_bdev_io(fio), SPIO_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	while (*tail != NULL) {
		tail = &(*tail)->next;
	}
	fio->next = NULL;
	*tail = fio;
}

/* An I/O finished: resets that waited for it may be done (they end in order). */
static void resets_account(struct bdev_file_channel *ch, uint64_t seq)
{
	for (struct bdev_file_io *r = ch->resets; r != NULL; r = r->next) {
		if (seq < r->seq) {
			r->reset_waits--;
		}
	}
	while (ch->resets != NULL && ch->resets->reset_waits == 0) {
		struct bdev_file_io *r = ch->resets;

		ch->resets = r->next;
		spio_bdev_io_complete(bdev_file_io_to_bdev_io(r), SPIO_BDEV_IO_STATUS_SUCCESS);
	}
}

void bdev_file_channel_complete(struct bdev_file_channel *ch, struct bdev_file_io *fio,
				bool success)
{
	struct spio_bdev_io *io = bdev_file_io_to_bdev_io(fio);
	uint64_t seq = fio->seq;

	bdev_file_bounce_finish(fio, io, success);
	ch->inflight--;
	spio_bdev_io_complete(io,
			      success ? SPIO_BDEV_IO_STATUS_SUCCESS : SPIO_BDEV_IO_STATUS_FAILED);
	if (spio_unlikely(ch->resets != NULL)) {
		resets_account(ch, seq);
	}
}

/*
 * Bounce buffers
 */

bool bdev_file_needs_bounce(const struct bdev_file *f, const struct spio_bdev_io *io)
{
	uint32_t block = io->bdev->blocklen;

	if (!f->direct) {
		return false;
	}
	for (int i = 0; i < io->u.iovcnt; i++) {
		if (io->u.iovs[i].iov_len % block != 0) {
			return true;
		}
	}
	return false;
}

int bdev_file_bounce_start(struct bdev_file_io *fio, struct spio_bdev_io *io)
{
	uint64_t len = bdev_file_io_len(io);
	void *buf = spio_dma_malloc(len, io->bdev->blocklen);

	if (buf == NULL) {
		SPIO_ERRLOG("bdev %s: no memory for a %" PRIu64 "-byte bounce buffer\n",
			    io->bdev->name, len);
		return -ENOMEM;
	}
	if (io->type == SPIO_BDEV_IO_TYPE_WRITE) {
		spio_copy_iovs_to_buf(buf, len, io->u.iovs, io->u.iovcnt);
	}
	fio->bounce.iov_base = buf;
	fio->bounce.iov_len = len;
	return 0;
}

void bdev_file_bounce_finish(struct bdev_file_io *fio, struct spio_bdev_io *io, bool success)
{
	if (spio_likely(fio->bounce.iov_base == NULL)) {
		return;
	}
	if (success && io->type == SPIO_BDEV_IO_TYPE_READ) {
		spio_copy_buf_to_iovs(io->u.iovs, io->u.iovcnt, fio->bounce.iov_base,
				      fio->bounce.iov_len);
	}
	spio_dma_free(fio->bounce.iov_base);
	fio->bounce.iov_base = NULL;
}

/*
 * Unmap, write_zeroes and flush
 */

int bdev_file_fallocate_mode(const struct bdev_file *f, enum spio_bdev_io_type type)
{
	if (type == SPIO_BDEV_IO_TYPE_WRITE_ZEROES &&
	    (f->is_blockdev || !__atomic_load_n(&f->zero_range_unsupported, __ATOMIC_RELAXED))) {
		/* keeps the blocks allocated; on a block device: zero-out */
		return FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	}
	/* a hole reads back as zeroes, so it serves write_zeroes too */
	return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
}

void bdev_file_zero_range_failed(struct bdev_file *f)
{
	if (!__atomic_exchange_n(&f->zero_range_unsupported, true, __ATOMIC_RELAXED)) {
		SPIO_NOTICELOG("bdev %s: %s has no FALLOC_FL_ZERO_RANGE; write_zeroes punches "
			       "holes instead\n",
			       f->bdev.name, f->filename);
	}
}

int bdev_file_blocking_op(void *arg)
{
	struct spio_bdev_io *io = arg;
	struct bdev_file *f = io->bdev->ctxt;
	uint64_t off = bdev_file_io_offset(io), len = bdev_file_io_len(io);
	int mode;

	switch (io->type) {
	case SPIO_BDEV_IO_TYPE_FLUSH:
		return fdatasync(f->fd) == 0 ? 0 : -errno;
	case SPIO_BDEV_IO_TYPE_UNMAP:
		if (f->is_blockdev) {
			uint64_t range[2] = {off, len};

			return ioctl(f->fd, BLKDISCARD, range) == 0 ? 0 : -errno;
		}
		/* a file's unmap: a punched hole */
		__attribute__((fallthrough));
	case SPIO_BDEV_IO_TYPE_WRITE_ZEROES:
		mode = bdev_file_fallocate_mode(f, io->type);
		if (fallocate(f->fd, mode, (off_t)off, (off_t)len) == 0) {
			return 0;
		}
		if (errno == EOPNOTSUPP && (mode & FALLOC_FL_ZERO_RANGE) && !f->is_blockdev) {
			bdev_file_zero_range_failed(f);
			mode = bdev_file_fallocate_mode(f, io->type);
			return fallocate(f->fd, mode, (off_t)off, (off_t)len) == 0 ? 0 : -errno;
		}
		return -errno;
	default:
		return -EINVAL;
	}
}

/*
 * Errors
 */

static const char *const g_type_names[SPIO_BDEV_NUM_IO_TYPES] = {
    [SPIO_BDEV_IO_TYPE_READ] = "read",	 [SPIO_BDEV_IO_TYPE_WRITE] = "write",
    [SPIO_BDEV_IO_TYPE_UNMAP] = "unmap", [SPIO_BDEV_IO_TYPE_FLUSH] = "flush",
    [SPIO_BDEV_IO_TYPE_RESET] = "reset", [SPIO_BDEV_IO_TYPE_WRITE_ZEROES] = "write_zeroes",
};

void bdev_file_report_error(struct bdev_file *f, const struct spio_bdev_io *io, int64_t res,
			    uint64_t expected)
{
	uint64_t n = __atomic_add_fetch(&f->errors, 1, __ATOMIC_RELAXED);
	const char *type = g_type_names[io->type] ? g_type_names[io->type] : "I/O";

	if (n > ERROR_LOG_FIRST && n % ERROR_LOG_EVERY != 0) {
		return;
	}
	if (res < 0) {
		SPIO_ERRLOG("bdev %s: %s of %" PRIu64 " bytes at offset %" PRIu64
			    " failed: %s (%" PRIu64 " errors so far)\n",
			    f->bdev.name, type, bdev_file_io_len(io), bdev_file_io_offset(io),
			    strerror((int)-res), n);
	} else {
		SPIO_ERRLOG("bdev %s: short %s at offset %" PRIu64 ": %" PRId64 " of %" PRIu64
			    " bytes (%" PRIu64 " errors so far)\n",
			    f->bdev.name, type, bdev_file_io_offset(io), res, expected, n);
	}
}
