/*
 * BlobFS truncate, and the two steps of growing a file that writes share.
 *
 * Growing: the blob gets its clusters at once (in memory; the next sync
 * persists them), and the new range reads as zeroes: new clusters hold
 * whatever was on the device, so whole buffers of the gap are zeroed on the
 * blob and the buffer of the old end is dirtied with its zero tail.
 * Shrinking: the buffer of the new end gets a zero tail, the buffers past it
 * are dropped (after any write-back of theirs in flight, which must not land
 * after a later write of the same range); clusters are freed at the next
 * sync, in the same metadata write as the new length.
 */
#include <errno.h>
#include <string.h>

#include "blobfs/blobfs_internal.h"

int blobfs_check_capacity(struct blobfs_file *file, uint64_t end)
{
	struct spio_blob_store *bs = file->fs->bs;
	uint64_t cap = spio_bs_total_data_cluster_count(bs) * spio_bs_get_cluster_size(bs);

	return end > cap ? -EFBIG : 0;
}

uint64_t blobfs_clusters_for(struct blobfs_file *file, uint64_t length)
{
	uint64_t cs = spio_bs_get_cluster_size(file->fs->bs);

	return length / cs + (length % cs != 0 ? 1 : 0);
}

bool blobfs_extend_resize(struct blobfs_op *op, uint64_t end)
{
	struct blobfs_file *file = op->file;
	uint64_t need;
	int rc = blobfs_check_capacity(file, end);

	if (rc != 0) {
		op->rc = rc;
		return false;
	}
	need = blobfs_clusters_for(file, end);
	if (need <= spio_blob_get_num_clusters(file->blob)) {
		return false;
	}
	spio_blob_resize(file->blob, need, blobfs_op_step_cb, op);
	return true;
}

static void zero_done(void *arg, int rc)
{
	struct blobfs_op *op = arg;
	struct blobfs_cache *c = blobfs_file_cache(op->file);

	c->inflight--;
	op->file->data.inflight--;
	c->kick = true;
	blobfs_op_step_cb(op, rc);
}

bool blobfs_extend_zero(struct blobfs_op *op, uint64_t first, uint64_t last)
{
	struct blobfs_file *file = op->file;
	struct blobfs_cache *c = blobfs_file_cache(file);
	uint64_t iou = blobfs_io_unit(file);
	uint64_t blob_bytes =
	    spio_blob_get_num_clusters(file->blob) * spio_bs_get_cluster_size(file->fs->bs);
	uint64_t start = first << c->buffer_shift;
	uint64_t stop = last << c->buffer_shift;

	/* Nothing past the end is cached but by a failed writer; such a buffer only holds zeroes.
	 */
	for (uint64_t i = first; i < last && i < file->data.nbufs; i++) {
		struct blobfs_buf *b = blobfs_buf_lookup(file, i);

		if (b != NULL) {
			blobfs_buf_detach(b);
		}
	}
	stop = stop < blob_bytes ? stop : blob_bytes;
	if (start >= stop) {
		return false;
	}
	blobfs_blob_changed(file);
	c->inflight++;
	file->data.inflight++;
	blobfs_io_submit(&op->io, file, BLOBFS_IO_ZEROES, NULL, start / iou, (stop - start) / iou,
			 zero_done, op);
	return true;
}

enum truncate_state {
	TRUNC_START,
	TRUNC_RESIZED,
	TRUNC_ZEROED,
};

/* Shrink: the new end's buffer gets zeroes past it, the buffers after it go. */
static int truncate_down(struct blobfs_op *op, uint64_t new_len)
{
	struct blobfs_file *file = op->file;
	struct blobfs_file_data *fd = &file->data;
	struct blobfs_cache *c = blobfs_file_cache(file);
	uint64_t keep = (new_len + c->buffer_size - 1) >> c->buffer_shift;
	uint64_t tail = new_len & (c->buffer_size - 1);

	if (tail != 0) {
		int rc = blobfs_acquire(op, new_len >> c->buffer_shift, new_len >> c->buffer_shift,
					UINT64_MAX, 0, 0);

		if (rc != BLOBFS_READY) {
			return rc;
		}
	}
	for (uint64_t i = keep; i < fd->nbufs; i++) {
		if (fd->bufs[i] != NULL && fd->bufs[i]->wb_inflight) {
			/* Its write must land before anything later can write that range. */
			blobfs_op_park(op);
			return BLOBFS_WAIT;
		}
	}
	if (tail != 0) {
		struct blobfs_buf *b = op->pins[0];

		memset(b->data + tail, 0, c->buffer_size - tail);
		blobfs_buf_dirty(b);
	}
	for (uint64_t i = keep; i < fd->nbufs; i++) {
		if (fd->bufs[i] != NULL) {
			blobfs_buf_detach(fd->bufs[i]);
		}
	}
	file->length = new_len;
	return BLOBFS_READY;
}

static void truncate_step(struct blobfs_op *op)
{
	struct blobfs_file *file = op->file;
	struct blobfs_cache *c = blobfs_file_cache(file);
	uint64_t new_len = op->offset;
	int rc;

	if (op->rc != 0) {
		goto done;
	}
	switch (op->state) {
	case TRUNC_START:
		if (!blobfs_op_take_file(op)) {
			return;
		}
		op->old_length = file->length;
		op->state = TRUNC_RESIZED;
		if (new_len > op->old_length && blobfs_extend_resize(op, new_len)) {
			return;
		}
		if (op->rc != 0) {
			goto done;
		}
		/* fallthrough */
	case TRUNC_RESIZED:
		op->state = TRUNC_ZEROED;
		if (new_len > op->old_length) {
			uint64_t zfirst = (op->old_length + c->buffer_size - 1) >> c->buffer_shift;
			uint64_t zlast = (new_len + c->buffer_size - 1) >> c->buffer_shift;

			if (zfirst < zlast && blobfs_extend_zero(op, zfirst, zlast)) {
				return;
			}
			if (op->rc != 0) {
				goto done;
			}
		}
		/* fallthrough */
	case TRUNC_ZEROED:
	default:
		break;
	}
	if (new_len < op->old_length) {
		rc = truncate_down(op, new_len);
	} else if (new_len > op->old_length && (op->old_length & (c->buffer_size - 1)) != 0) {
		uint64_t edge = op->old_length >> c->buffer_shift;

		rc = blobfs_acquire(op, edge, edge, UINT64_MAX, 0, 0);
		if (rc == BLOBFS_READY) {
			/* Its zeroes past the old end become file data. */
			blobfs_buf_dirty(op->pins[0]);
			file->length = new_len;
		}
	} else {
		file->length = new_len;
		rc = 0;
	}
	if (rc == BLOBFS_WAIT) {
		return;
	}
	op->rc = rc < 0 ? rc : 0;
done:
	blobfs_op_complete(op);
}

void spio_file_truncate_async(struct spio_file *file, uint64_t length, spio_fs_op_complete cb_fn,
			      void *cb_arg)
{
	struct blobfs_op *op =
	    blobfs_op_begin(file, BLOBFS_OP_TRUNCATE, truncate_step, NULL, cb_fn, cb_arg);

	if (op == NULL) {
		return;
	}
	op->offset = length;
	if (!file->writable) {
		op->rc = -EBADF;
	} else {
		op->rc = blobfs_check_capacity(op->file, length);
	}
	blobfs_op_start(op);
}
