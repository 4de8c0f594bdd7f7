/*
 * The bdev side of spio_dd: open by name, alias or UUID (the bdev layer's
 * lookup, so "lvs0/lvol0" works), one I/O channel on the app thread, reads
 * and writes of DMA buffers. A lack of bdev_io waits for one rather than
 * failing the copy.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spio/bdev.h"

#include "dd.h"

static const char *side_opt(const struct dd_target *t)
{
	return t->input ? "--ib" : "--ob";
}

static void dd_bdev_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	struct dd_target *t = ctx;

	if (type == SPIO_BDEV_EVENT_REMOVE) {
		fprintf(stderr, "spio_dd: %s %s: the bdev was removed during the copy\n",
			side_opt(t), t->name);
		dd_copy_fail(&g_dd, DD_EXIT_FAIL);
	}
}

int dd_bdev_open(struct dd_target *t, const char *name, bool input)
{
	struct spio_bdev *bdev;
	int rc;

	t->kind = DD_KIND_BDEV;
	t->input = input;
	t->name = name;
	t->fd = -1;
	t->fixed_index = -1;
	rc = spio_bdev_open_ext(name, !input, dd_bdev_event, t, &t->desc);
	if (rc != 0) {
		fprintf(stderr, "spio_dd: %s %s: cannot open bdev%s: %s\n", side_opt(t), name,
			input ? "" : " for writing",
			rc == -ENODEV ? "no such bdev (name, alias or UUID)" : strerror(-rc));
		return DD_EXIT_FAIL;
	}
	t->ch = spio_bdev_get_io_channel(t->desc);
	if (t->ch == NULL) {
		fprintf(stderr, "spio_dd: %s %s: no I/O channel: %s\n", side_opt(t), name,
			strerror(errno));
		return DD_EXIT_FAIL;
	}
	bdev = spio_bdev_desc_get_bdev(t->desc);
	t->block_size = spio_bdev_get_block_size(bdev);
	t->buf_align = spio_bdev_get_buf_align(bdev);
	t->size = spio_bdev_get_num_blocks(bdev) * t->block_size;
	t->size_known = true;
	return 0;
}

void dd_bdev_close(struct dd_target *t)
{
	if (t->kind != DD_KIND_BDEV) {
		return;
	}
	if (t->ch != NULL) {
		spio_put_io_channel(t->ch);
		t->ch = NULL;
	}
	if (t->desc != NULL) {
		spio_bdev_close(t->desc);
		t->desc = NULL;
	}
}

static void dd_bdev_done(struct spio_bdev_io *bdev_io, bool success, void *cb_arg)
{
	struct dd_slot *slot = cb_arg;

	spio_bdev_free_io(bdev_io);
	dd_io_done(slot, success ? (int64_t)slot->io_len : -EIO, slot->io_len);
}

/* A bdev_io is free again: submit what waited for it. */
static void dd_bdev_retry(void *arg)
{
	struct dd_slot *slot = arg;
	struct dd_target *t = slot->op == DD_OP_READ ? &g_dd.in : &g_dd.out;
	int rc;

	rc = dd_bdev_submit(t, slot, slot->io_buf, slot->io_off, slot->io_len);
	if (rc != 0) {
		dd_io_done(slot, rc, slot->io_len);
	}
}

int dd_bdev_submit(struct dd_target *t, struct dd_slot *slot, void *buf, uint64_t off, uint64_t len)
{
	int rc;

	slot->io_buf = buf;
	slot->io_off = off;
	slot->io_len = len;
	if (slot->op == DD_OP_WRITE) {
		rc = spio_bdev_write(t->desc, t->ch, buf, off, len, dd_bdev_done, slot);
	} else {
		rc = spio_bdev_read(t->desc, t->ch, buf, off, len, dd_bdev_done, slot);
	}
	if (rc != -ENOMEM) {
		return rc;
	}
	slot->wait.bdev = spio_bdev_desc_get_bdev(t->desc);
	slot->wait.cb_fn = dd_bdev_retry;
	slot->wait.cb_arg = slot;
	return spio_bdev_queue_io_wait(slot->wait.bdev, t->ch, &slot->wait);
}
