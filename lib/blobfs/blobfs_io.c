/*
 * BlobFS blob I/O gate: every blob read / write / write_zeroes the data half
 * submits (loads, write-backs, gap zeroing, direct reads, read-ahead) goes
 * through blobfs_io_submit().
 *
 * The blob channel holds a bounded number of operations (max_channel_ops)
 * and answers the rest with -ENOMEM. With small cache buffers one large
 * request becomes many blob I/Os, so a few requests in flight could exceed
 * it. Here at most BLOBFS_IO_MAX are in flight per filesystem; the others
 * wait in FIFO order on a list whose links live in the buffers and
 * operations (nothing is allocated per I/O). An -ENOMEM from the blobstore
 * all the same (the channel is shared with other users of the thread, or
 * has fewer slots) puts the I/O back at the head and retries it after the
 * next completion, or from a message when nothing is in flight: it is
 * never an error to the caller.
 *
 * Waiting I/Os already count in the cache's and the file's in-flight
 * counters (their submitters count them before submitting), so close and
 * unload wait for them as for the ones the blobstore holds.
 */
#include <errno.h>

#include "blobfs/blobfs_internal.h"
#include "spio/blob.h"
#include "spio/log.h"

static void io_pump(struct blobfs_cache *c);

static void io_retry_run(void *arg)
{
	struct blobfs_cache *c = arg;

	c->io_retry_sent = false;
	c->io_stalled = false;
	io_pump(c);
}

static void io_done(void *arg, int rc)
{
	struct blobfs_io *io = arg;
	struct blobfs_cache *c = &io->fs->cache;

	c->io_active--;
	if (rc == -ENOMEM) {
		/* No channel slot: first in line again, once something frees one. */
		TAILQ_INSERT_HEAD(&c->io_queue, io, link);
		c->io_stalled = true;
		c->io_enomem++;
		if (c->io_active == 0 && !c->io_retry_sent) {
			/* Nothing of ours will complete: retry from a message (never stalls). */
			int mrc = spio_thread_send_msg_embedded(io->fs->thread, &c->io_retry_msg,
								io_retry_run, c);

			if (mrc != 0) {
				SPIO_ERRLOG("blobfs: cannot retry blob I/O: %d\n", mrc);
			} else {
				c->io_retry_sent = true;
			}
		}
		return;
	}
	/* A slot is free: the waiting ones go first, then the callback may submit more. */
	c->io_stalled = false;
	io_pump(c);
	io->cb_fn(io->cb_arg, rc);
}

static void io_start(struct blobfs_cache *c, struct blobfs_io *io)
{
	struct spio_io_channel *ch = io->fs->channel;

	c->io_active++;
	if (c->io_active > c->io_peak) {
		c->io_peak = c->io_active;
	}
	switch (io->type) {
	case BLOBFS_IO_READ:
		spio_blob_io_read(io->blob, ch, io->payload, io->offset, io->length, io_done, io);
		break;
	case BLOBFS_IO_WRITE:
		spio_blob_io_write(io->blob, ch, io->payload, io->offset, io->length, io_done, io);
		break;
	case BLOBFS_IO_ZEROES:
		spio_blob_io_write_zeroes(io->blob, ch, io->offset, io->length, io_done, io);
		break;
	}
}

static void io_pump(struct blobfs_cache *c)
{
	struct blobfs_io *io;

	/* io_stalled is re-checked: a failed submit may call back (-ENOMEM) at once. */
	while (!c->io_stalled && c->io_active < BLOBFS_IO_MAX &&
	       (io = TAILQ_FIRST(&c->io_queue)) != NULL) {
		TAILQ_REMOVE(&c->io_queue, io, link);
		io_start(c, io);
	}
}

void blobfs_io_submit(struct blobfs_io *io, struct blobfs_file *file, enum blobfs_io_type type,
		      void *payload, uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn,
		      void *cb_arg)
{
	struct blobfs_cache *c = &file->fs->cache;

	io->fs = file->fs;
	io->blob = file->blob;
	io->type = type;
	io->payload = payload;
	io->offset = offset;
	io->length = length;
	io->cb_fn = cb_fn;
	io->cb_arg = cb_arg;
	TAILQ_INSERT_TAIL(&c->io_queue, io, link);
	io_pump(c);
}
