/*
 * BlobFS read and write through the cache, read-ahead, and direct reads.
 *
 * A read pins the buffers of (a chunk of) its range, waits for the missing
 * ones to load, and copies out in one go, clipped to the length at that
 * moment. A read that does not continue the previous one reads the parts
 * whose buffers are not cached straight from the blob instead (see
 * read_step). A write waits for its turn among the file's writers, gives the
 * blob the clusters it needs (so a full device fails here), zeroes the gap
 * past the old end, then pins, fills and dirties its buffers in one go.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "blobfs/blobfs_internal.h"
#include "spio/log.h"

/* Read-ahead window: up to 1 MiB, at most this many buffers. */
#define RA_BYTES (1024u * 1024u)
#define RA_MAX_BUFFERS 16u

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t ra_buffers(struct blobfs_cache *c)
{
	uint64_t n = RA_BYTES >> c->buffer_shift;
	uint64_t half = (c->budget >> c->buffer_shift) / 2;

	n = n < 1 ? 1 : n;
	n = n > RA_MAX_BUFFERS ? RA_MAX_BUFFERS : n;
	return n > half ? half : n;
}

/* Copy bytes [pos, cend) of buffer `i` (held in `data`) to the read's payload. */
static void copy_part(struct blobfs_op *op, const uint8_t *data, uint64_t data_start, uint64_t i,
		      uint64_t pos, uint64_t cend)
{
	uint32_t shift = blobfs_file_cache(op->file)->buffer_shift;
	uint64_t bstart = i << shift;
	uint64_t lo = pos > bstart ? pos : bstart;
	uint64_t hi = min_u64(cend, bstart + (1ull << shift));

	if (lo < hi) {
		memcpy(op->payload + (lo - op->offset), data + (lo - data_start), hi - lo);
	}
}

static void read_step(struct blobfs_op *op);

static void direct_done(void *arg, int rc)
{
	struct blobfs_op *op = arg;
	struct blobfs_file *file = op->file;
	struct blobfs_cache *c = blobfs_file_cache(file);

	blobfs_cache_enter(c);
	c->inflight--;
	file->data.inflight--;
	c->kick = true;
	if (rc != 0) {
		SPIO_ERRLOG("blobfs %s: direct read at %" PRIu64 " failed: %d\n", file->name,
			    op->dio_lo, rc);
		op->rc = rc;
	} else if (file->data.blob_gen != op->dio_gen) {
		/* The blob changed under the read (write-back, zeroes, shrink): redo via the cache.
		 */
		op->no_direct = true;
	} else {
		for (uint64_t k = 0; op->bounce != NULL && k < BLOBFS_OP_PINS; k++) {
			if ((op->dio_mask >> k) & 1) {
				copy_part(op, op->bounce, op->dio_lo, op->dio_first + k,
					  op->dio_pos, op->dio_end);
			}
		}
		op->done += op->dio_end - op->dio_pos;
	}
	if (op->bounce != NULL) {
		blobfs_bounce_put(c, op->bounce);
		op->bounce = NULL;
	}
	read_step(op);
	blobfs_cache_leave(c);
}

/*
 * A chunk [first, last] of a direct read, its cached buffers pinned (and
 * loaded), the others not: copy the cached parts now and read the others
 * from the blob, in io units, in one I/O (so the chunk reads as of this
 * moment: the blob does not change under the I/O, or the chunk is redone).
 * What the blob holds for a buffer that is not cached is the file's content
 * (a gap was zeroed). The I/O goes straight into the payload when the chunk
 * is all uncached and whole aligned io units there, else through a bounce
 * buffer (the chunk cut to fit it). \return false when no bounce buffer is
 * free.
 */
static bool direct_start(struct blobfs_op *op, uint64_t first, uint64_t pos, uint64_t end)
{
	struct blobfs_file *file = op->file;
	struct blobfs_cache *c = blobfs_file_cache(file);
	uint32_t shift = c->buffer_shift;
	uint64_t iou = blobfs_io_unit(file);
	uint64_t all = op->npins >= 64 ? UINT64_MAX : (1ull << op->npins) - 1;
	uint64_t mask = 0;
	uint32_t ufirst = UINT32_MAX;
	uint32_t ulast = 0;
	uint64_t cend = min_u64(end, (first + op->npins) << shift);
	uint64_t ulo;
	uint64_t uend;
	uint64_t lo;
	uint8_t *dst = op->payload + (pos - op->offset);

	for (uint32_t k = 0; k < op->npins; k++) {
		if (op->pins[k] == NULL) {
			mask |= 1ull << k;
			ufirst = ufirst == UINT32_MAX ? k : ufirst;
			ulast = k;
		}
	}
	ulo = (first + ufirst) << shift;
	ulo = ulo > pos ? ulo : pos;
	lo = ulo / iou * iou;
	uend = min_u64(cend, (first + ulast + 1) << shift);
	op->bounce = NULL;
	if (mask == all && pos % iou == 0 && (uintptr_t)dst % iou == 0 &&
	    (cend % iou == 0 || cend - pos > BLOBFS_BOUNCE_SIZE)) {
		cend = pos + (cend - pos) / iou * iou;
		uend = cend;
	} else {
		if (iou > BLOBFS_BOUNCE_SIZE) {
			return false;
		}
		if (uend > lo + BLOBFS_BOUNCE_SIZE) {
			uend = lo + BLOBFS_BOUNCE_SIZE;
			cend = uend;
		}
		op->bounce = blobfs_bounce_get(c);
		if (op->bounce == NULL) {
			return false;
		}
	}
	for (uint32_t k = 0; k < op->npins; k++) {
		if (op->pins[k] != NULL) {
			copy_part(op, op->pins[k]->data, (first + k) << shift, first + k, pos,
				  cend);
		}
	}
	blobfs_unpin_all(op);
	op->dio_first = first;
	op->dio_mask = mask;
	op->dio_pos = pos;
	op->dio_end = cend;
	op->dio_lo = lo;
	op->dio_gen = file->data.blob_gen;
	c->inflight++;
	file->data.inflight++;
	blobfs_io_submit(&op->io, file, BLOBFS_IO_READ,
			 op->bounce != NULL ? op->bounce : op->payload + (lo - op->offset),
			 lo / iou, ((uend + iou - 1) / iou * iou - lo) / iou, direct_done, op);
	return true;
}

/*
 * A read goes chunk by chunk, each read in one go. A sequential read (one
 * that starts where the previous read of the file ended) reads through the
 * cache and reads ahead. Any other read takes the buffers that are cached
 * (loading, dirty) from the cache and reads the rest straight from the
 * blob: a random reader neither loads whole buffers nor evicts any.
 */
static void read_step(struct blobfs_op *op)
{
	struct blobfs_file *file = op->file;
	struct blobfs_cache *c = blobfs_file_cache(file);
	uint32_t shift = c->buffer_shift;

	while (op->rc == 0) {
		uint64_t pos = op->offset + op->done;
		uint64_t end = min_u64(op->offset + op->length, file->length);
		uint64_t first;
		uint64_t last;
		uint64_t cend;
		bool missing = true;
		int rc;

		if (pos >= end) {
			break;
		}
		first = pos >> shift;
		last = min_u64((end - 1) >> shift, first + blobfs_chunk_buffers(c) - 1);
		if (!op->seq && !op->no_direct) {
			rc = blobfs_acquire_cached(op, first, last);
			if (rc == BLOBFS_WAIT) {
				return;
			}
			if (rc < 0) {
				op->rc = rc;
				break;
			}
			missing = false;
			for (uint32_t k = 0; k < op->npins; k++) {
				missing = missing || op->pins[k] == NULL;
			}
			if (missing && direct_start(op, first, pos, end)) {
				return;
			}
			/* No bounce buffer free: the rest of this read goes through the cache. */
			op->no_direct = op->no_direct || missing;
		}
		if (missing) {
			rc = blobfs_acquire(op, first, last, UINT64_MAX, 0, 0);
			if (rc == BLOBFS_WAIT) {
				return;
			}
			if (rc < 0) {
				op->rc = rc;
				break;
			}
		}
		cend = min_u64(end, (last + 1) << shift);
		for (uint64_t i = first; i <= last; i++) {
			copy_part(op, op->pins[i - first]->data, i << shift, i, pos, cend);
		}
		op->done += cend - pos;
		blobfs_unpin_all(op);
	}
	if (op->rc == 0 && op->seq && op->done > 0) {
		blobfs_read_ahead(file, ((op->offset + op->done - 1) >> shift) + 1, ra_buffers(c));
	}
	blobfs_op_complete(op);
}

void spio_file_read_async(struct spio_file *file, void *payload, uint64_t offset, uint64_t length,
			  spio_file_read_complete cb_fn, void *cb_arg)
{
	struct blobfs_op *op =
	    blobfs_op_begin(file, BLOBFS_OP_READ, read_step, cb_fn, NULL, cb_arg);
	struct blobfs_file_data *fd;

	if (op == NULL) {
		return;
	}
	fd = &op->file->data;
	/* Clamp: offset + length must not wrap. */
	if (length > UINT64_MAX - offset) {
		length = UINT64_MAX - offset;
	}
	op->payload = payload;
	op->offset = offset;
	op->length = length;
	if (payload == NULL && length > 0) {
		op->rc = -EINVAL;
	}
	op->seq = offset == fd->last_read_end;
	fd->last_read_end = offset + length;
	blobfs_op_start(op);
}

enum write_state {
	WRITE_START,
	WRITE_RESIZED,
	WRITE_ZEROED,
};

/* Copy one chunk into its pinned buffers; the file grows to its end. */
static void write_apply(struct blobfs_op *op, uint64_t first, uint64_t last, uint64_t pos,
			uint64_t cend)
{
	struct blobfs_file *file = op->file;
	struct blobfs_cache *c = blobfs_file_cache(file);
	uint32_t shift = c->buffer_shift;

	for (uint64_t i = first; i <= last; i++) {
		struct blobfs_buf *b = op->pins[i - first];
		uint64_t bstart = i << shift;
		uint64_t lo = pos > bstart ? pos : bstart;
		uint64_t hi = min_u64(cend, bstart + c->buffer_size);

		memcpy(b->data + (lo - bstart), op->payload + (lo - op->offset), hi - lo);
		blobfs_buf_dirty(b);
	}
	if (op->npins > last - first + 1) {
		/* The buffer of the old end: its zeroes past it become file data. */
		blobfs_buf_dirty(op->pins[op->npins - 1]);
	}
	if (cend > file->length) {
		file->length = cend;
	}
}

/* A failed write leaves no buffer past the end (they would hide the blob's zeroes). */
static void write_fail(struct blobfs_op *op)
{
	struct blobfs_cache *c = blobfs_file_cache(op->file);
	struct blobfs_buf *drop[BLOBFS_OP_PINS + 1];
	uint32_t n = 0;

	for (uint32_t k = 0; k < op->npins; k++) {
		struct blobfs_buf *b = op->pins[k];

		if (b != NULL && (b->index << c->buffer_shift) >= op->file->length) {
			drop[n++] = b;
		}
	}
	blobfs_unpin_all(op);
	for (uint32_t k = 0; k < n; k++) {
		blobfs_buf_detach(drop[k]);
	}
}

static void write_step(struct blobfs_op *op)
{
	struct blobfs_file *file = op->file;
	struct blobfs_cache *c = blobfs_file_cache(file);
	uint32_t shift = c->buffer_shift;
	uint64_t end = op->offset + op->length;

	if (op->rc != 0 || op->length == 0) {
		goto done;
	}
	switch (op->state) {
	case WRITE_START:
		if (!blobfs_op_take_file(op)) {
			return;
		}
		op->old_length = file->length;
		op->state = WRITE_RESIZED;
		if (blobfs_extend_resize(op, end)) {
			return;
		}
		if (op->rc != 0) {
			goto done;
		}
		/* fallthrough */
	case WRITE_RESIZED:
		op->state = WRITE_ZEROED;
		if (op->offset > op->old_length) {
			uint64_t zfirst = (op->old_length + c->buffer_size - 1) >> shift;
			uint64_t zlast = op->offset >> shift;

			if (zfirst < zlast && blobfs_extend_zero(op, zfirst, zlast)) {
				return;
			}
			if (op->rc != 0) {
				goto done;
			}
		}
		/* fallthrough */
	case WRITE_ZEROED:
	default:
		break;
	}
	for (;;) {
		uint64_t pos = op->offset + op->done;
		uint64_t first;
		uint64_t last;
		uint64_t edge = UINT64_MAX;
		uint64_t old = op->old_length;
		uint64_t cend;
		int rc;

		if (pos >= end) {
			break;
		}
		first = pos >> shift;
		last = min_u64((end - 1) >> shift, first + blobfs_chunk_buffers(c) - 1);
		cend = min_u64(end, (last + 1) << shift);
		if (op->done == 0 && old < pos && (old & (c->buffer_size - 1)) != 0 &&
		    (old >> shift) < first) {
			edge = old >> shift;
		}
		rc = blobfs_acquire(op, first, last, edge, pos, cend);
		if (rc == BLOBFS_WAIT) {
			return;
		}
		if (rc < 0) {
			op->rc = rc;
			goto done;
		}
		write_apply(op, first, last, pos, cend);
		op->done += cend - pos;
		blobfs_unpin_all(op);
	}
done:
	if (op->rc != 0) {
		write_fail(op);
	}
	blobfs_op_complete(op);
}

void spio_file_write_async(struct spio_file *file, const void *payload, uint64_t offset,
			   uint64_t length, spio_fs_op_complete cb_fn, void *cb_arg)
{
	struct blobfs_op *op =
	    blobfs_op_begin(file, BLOBFS_OP_WRITE, write_step, NULL, cb_fn, cb_arg);

	if (op == NULL) {
		return;
	}
	/* The payload is only read: the context's pointer is shared with reads. */
	op->payload = (uint8_t *)(uintptr_t)payload;
	op->offset = offset;
	op->length = length;
	if (!file->writable) {
		op->rc = -EBADF;
	} else if (payload == NULL && length > 0) {
		op->rc = -EINVAL;
	} else if (length > UINT64_MAX - offset) {
		op->rc = -EFBIG;
	} else if (length > 0) {
		op->rc = blobfs_check_capacity(op->file, offset + length);
	}
	blobfs_op_start(op);
}
