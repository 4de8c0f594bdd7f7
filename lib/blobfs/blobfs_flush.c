/*
 * BlobFS sync and the data half's part of open and close.
 *
 * A sync takes its turn among the file's writers (so nothing changes the
 * file meanwhile), writes back every dirty buffer (a few in flight), waits
 * for write-backs already in flight, and then, when the length changed or
 * the blob holds clusters past it, writes the "length" xattr and the new
 * size in one metadata write. Only then does the file count as synced.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blobfs/blobfs_internal.h"
#include "spio/log.h"

/* Write-backs of one sync in flight at once. */
#define SYNC_WB_MAX 8

enum sync_state {
	SYNC_START,
	SYNC_WRITE_BACK,
	SYNC_RESIZED,
	SYNC_MD_DONE,
	SYNC_DRAIN,
};

/* Issue write-backs. \return true when every buffer is on the blob. */
static bool sync_write_back(struct blobfs_op *op)
{
	struct blobfs_file_data *fd = &op->file->data;
	uint32_t inflight = 0;

	for (uint64_t i = 0; i < fd->nbufs; i++) {
		if (fd->bufs[i] != NULL && fd->bufs[i]->wb_inflight) {
			inflight++;
		}
	}
	if (fd->wb_err != 0) {
		/* Report the failure once the rest has landed. */
		if (inflight == 0) {
			op->rc = fd->wb_err;
			fd->wb_err = 0;
			return true;
		}
		return false;
	}
	for (uint64_t i = 0; i < fd->nbufs && fd->dirty > 0 && inflight < SYNC_WB_MAX; i++) {
		struct blobfs_buf *b = fd->bufs[i];

		if (b != NULL && b->gen != b->clean_gen && !b->wb_inflight &&
		    b->state == BLOBFS_BUF_VALID) {
			blobfs_buf_write_back(b);
			inflight += b->wb_inflight ? 1 : 0;
		}
	}
	return inflight == 0 && fd->dirty == 0;
}

/* A deleted file's last close: its data goes nowhere. */
static void drop_dirty(struct blobfs_file *file)
{
	struct blobfs_file_data *fd = &file->data;

	for (uint64_t i = 0; i < fd->nbufs; i++) {
		struct blobfs_buf *b = fd->bufs[i];

		if (b != NULL && b->gen != b->clean_gen) {
			b->clean_gen = b->gen;
			fd->dirty--;
		}
	}
}

static void sync_step(struct blobfs_op *op)
{
	struct blobfs_file *file = op->file;
	uint64_t need;
	uint8_t le[8];
	int rc;

	if (op->rc != 0 && op->state != SYNC_DRAIN) {
		/* A failed flush still waits for the file's I/O before the blob closes. */
		if (op->type != BLOBFS_OP_FLUSH || op->state == SYNC_START) {
			goto done;
		}
		op->state = SYNC_DRAIN;
	}
	switch (op->state) {
	case SYNC_START:
		if (!blobfs_op_take_file(op)) {
			return;
		}
		op->state = SYNC_WRITE_BACK;
		if (op->type == BLOBFS_OP_FLUSH && file->is_deleted) {
			drop_dirty(file);
			op->state = SYNC_DRAIN;
			goto drain;
		}
		/* fallthrough */
	case SYNC_WRITE_BACK:
		if (!sync_write_back(op)) {
			blobfs_op_park(op);
			return;
		}
		if (op->rc != 0) {
			goto fail;
		}
		need = blobfs_clusters_for(file, file->length);
		if (file->length == file->length_synced &&
		    spio_blob_get_num_clusters(file->blob) <= need) {
			op->state = SYNC_DRAIN;
			goto drain;
		}
		op->old_length = file->length;
		for (int i = 0; i < 8; i++) {
			le[i] = (uint8_t)(file->length >> (8 * i));
		}
		rc = spio_blob_set_xattr(file->blob, BLOBFS_XATTR_LENGTH, le, sizeof(le));
		if (rc != 0) {
			op->rc = rc;
			goto fail;
		}
		op->state = SYNC_RESIZED;
		if (spio_blob_get_num_clusters(file->blob) > need) {
			/* Clusters go: a direct read still in flight there is redone. */
			blobfs_blob_changed(file);
			spio_blob_resize(file->blob, need, blobfs_op_step_cb, op);
			return;
		}
		/* fallthrough */
	case SYNC_RESIZED:
		op->state = SYNC_MD_DONE;
		spio_blob_sync_md(file->blob, blobfs_op_step_cb, op);
		return;
	case SYNC_MD_DONE:
		file->length_synced = op->old_length;
		op->state = SYNC_DRAIN;
		/* fallthrough */
	case SYNC_DRAIN:
	default:
		goto drain;
	}
fail:
	if (op->type != BLOBFS_OP_FLUSH) {
		goto done;
	}
	op->state = SYNC_DRAIN;
drain:
	/* The blob closes after a flush: no read-ahead or write-back of it may be in flight. */
	if (op->type == BLOBFS_OP_FLUSH && file->data.inflight > 0) {
		blobfs_op_park(op);
		return;
	}
done:
	if (op->rc != 0) {
		SPIO_ERRLOG("blobfs %s: sync failed: %d\n", file->name, op->rc);
	}
	blobfs_op_complete(op);
}

void spio_file_sync_async(struct spio_file *file, spio_fs_op_complete cb_fn, void *cb_arg)
{
	struct blobfs_op *op =
	    blobfs_op_begin(file, BLOBFS_OP_SYNC, sync_step, NULL, cb_fn, cb_arg);

	if (op != NULL) {
		blobfs_op_start(op);
	}
}

void blobfs_file_data_flush(struct blobfs_file *file, spio_fs_op_complete cb_fn, void *cb_arg)
{
	struct spio_file handle = {.file = file, .writable = true};
	struct blobfs_op *op =
	    blobfs_op_begin(&handle, BLOBFS_OP_FLUSH, sync_step, NULL, cb_fn, cb_arg);

	if (op != NULL) {
		blobfs_op_start(op);
	}
}

int blobfs_file_data_open(struct blobfs_file *file)
{
	struct blobfs_file_data *fd = &file->data;

	memset(fd, 0, sizeof(*fd));
	TAILQ_INIT(&fd->queue);
	return 0;
}

void blobfs_file_data_close(struct blobfs_file *file)
{
	struct blobfs_file_data *fd = &file->data;

	for (uint64_t i = 0; i < fd->nbufs; i++) {
		struct blobfs_buf *b = fd->bufs[i];

		if (b == NULL) {
			continue;
		}
		if (b->refs != 0 || b->state == BLOBFS_BUF_LOADING || b->wb_inflight) {
			SPIO_ERRLOG("blobfs %s: buffer %" PRIu64 " still busy at close\n",
				    file->name, b->index);
		}
		blobfs_buf_detach(b);
	}
	free(fd->bufs);
	memset(fd, 0, sizeof(*fd));
	TAILQ_INIT(&fd->queue);
}
