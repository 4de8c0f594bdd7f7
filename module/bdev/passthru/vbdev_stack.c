/* A virtual bdev on one claimed base bdev (vbdev_stack.h): the part shared by
 * passthru, error and delay. */
#include "vbdev_stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spio/log.h"
#include "spio/thread.h"
#include "spio/util.h"

struct stack_channel {
	struct vbdev_stack *s;
	struct spio_io_channel *base_ch;
	uint8_t mod[] __attribute__((aligned(16)));
};

/* At the start of every I/O's driver context: what a retry after -ENOMEM needs. */
struct stack_io {
	struct spio_io_channel *ch;
	vbdev_stack_done_fn done;
	void *write_buf; /* a write of this buffer instead of the io's iovecs */
	struct spio_bdev_io_wait_entry wait;
};

#define STACK_IO_SIZE ((sizeof(struct stack_io) + 15) & ~(size_t)15)

size_t vbdev_stack_io_ctx_size(void)
{
	return STACK_IO_SIZE;
}

void *vbdev_stack_io_ctx(struct spio_bdev_io *io)
{
	return (uint8_t *)spio_bdev_io_get_driver_ctx(io) + STACK_IO_SIZE;
}

void *vbdev_stack_channel_ctx(struct spio_io_channel *ch)
{
	struct stack_channel *sch = spio_io_channel_get_ctx(ch);

	return sch->mod;
}

struct vbdev_stack *vbdev_stack_from_channel(struct spio_io_channel *ch)
{
	struct stack_channel *sch = spio_io_channel_get_ctx(ch);

	return sch->s;
}

static void stack_base_done(struct spio_bdev_io *base_io, bool success, void *cb_arg)
{
	struct spio_bdev_io *io = cb_arg;
	struct stack_io *sio = spio_bdev_io_get_driver_ctx(io);
	enum spio_bdev_io_status status = spio_bdev_io_get_status(base_io);

	(void)success;
	spio_bdev_free_io(base_io);
	sio->done(io, status);
}

static void stack_submit(struct spio_bdev_io *io);

static void stack_retry(void *arg)
{
	stack_submit(arg);
}

static void stack_submit(struct spio_bdev_io *io)
{
	struct stack_io *sio = spio_bdev_io_get_driver_ctx(io);
	struct stack_channel *sch = spio_io_channel_get_ctx(sio->ch);
	struct vbdev_stack *s = sch->s;
	struct spio_bdev_desc *d = s->base_desc;
	struct spio_io_channel *bch = sch->base_ch;
	uint64_t off = io->u.offset_blocks, num = io->u.num_blocks;
	int rc;

	switch (io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
		rc = spio_bdev_readv_blocks(d, bch, io->u.iovs, io->u.iovcnt, off, num,
					    stack_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE:
		rc = sio->write_buf != NULL
			 ? spio_bdev_write_blocks(d, bch, sio->write_buf, off, num, stack_base_done,
						  io)
			 : spio_bdev_writev_blocks(d, bch, io->u.iovs, io->u.iovcnt, off, num,
						   stack_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_UNMAP:
		rc = spio_bdev_unmap_blocks(d, bch, off, num, stack_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_FLUSH:
		rc = spio_bdev_flush_blocks(d, bch, off, num, stack_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_RESET:
		rc = spio_bdev_reset(d, bch, stack_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE_ZEROES:
		rc = spio_bdev_write_zeroes_blocks(d, bch, off, num, stack_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_COMPARE:
		rc = spio_bdev_comparev_blocks(d, bch, io->u.iovs, io->u.iovcnt, off, num,
					       stack_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		/* the public API takes one buffer per half */
		rc = io->u.iovcnt == 1 && io->u.fused_iovcnt == 1
			 ? spio_bdev_compare_and_write_blocks(d, bch, io->u.iovs[0].iov_base,
							      io->u.fused_iovs[0].iov_base, off,
							      num, stack_base_done, io)
			 : -EINVAL;
		break;
	default:
		rc = -ENOTSUP;
		break;
	}
	if (rc == -ENOMEM) {
		sio->wait.bdev = s->base;
		sio->wait.cb_fn = stack_retry;
		sio->wait.cb_arg = io;
		rc = spio_bdev_queue_io_wait(s->base, bch, &sio->wait);
	}
	if (rc != 0) {
		SPIO_ERRLOG("%s: cannot forward I/O type %d to %s: %s", s->bdev.name, (int)io->type,
			    s->base->name, strerror(-rc));
		sio->done(io, SPIO_BDEV_IO_STATUS_FAILED);
	}
}

void vbdev_stack_forward(struct spio_io_channel *ch, struct spio_bdev_io *io,
			 vbdev_stack_done_fn done)
{
	vbdev_stack_forward_write_buf(ch, io, NULL, done);
}

void vbdev_stack_forward_write_buf(struct spio_io_channel *ch, struct spio_bdev_io *io, void *buf,
				   vbdev_stack_done_fn done)
{
	struct stack_io *sio = spio_bdev_io_get_driver_ctx(io);

	sio->ch = ch;
	sio->done = done;
	sio->write_buf = buf;
	stack_submit(io);
}

bool vbdev_stack_io_type_supported(void *ctxt, enum spio_bdev_io_type type)
{
	struct vbdev_stack *s = ctxt;

	return spio_bdev_io_type_supported(s->base, type);
}

static int stack_channel_create(void *io_device, void *ctx_buf)
{
	struct vbdev_stack *s = SPIO_CONTAINEROF(io_device, struct vbdev_stack, io_device);
	struct stack_channel *sch = ctx_buf;
	int rc;

	sch->s = s;
	sch->base_ch = spio_bdev_get_io_channel(s->base_desc);
	if (sch->base_ch == NULL) {
		return errno != 0 ? -errno : -ENOMEM;
	}
	if (s->ops->ch_create != NULL && (rc = s->ops->ch_create(s, sch->mod)) != 0) {
		spio_put_io_channel(sch->base_ch);
		return rc;
	}
	return 0;
}

static void stack_channel_destroy(void *io_device, void *ctx_buf)
{
	struct vbdev_stack *s = SPIO_CONTAINEROF(io_device, struct vbdev_stack, io_device);
	struct stack_channel *sch = ctx_buf;

	if (s->ops->ch_destroy != NULL) {
		s->ops->ch_destroy(s, sch->mod);
	}
	spio_put_io_channel(sch->base_ch);
}

struct spio_io_channel *vbdev_stack_get_io_channel(void *ctxt)
{
	struct vbdev_stack *s = ctxt;

	return spio_get_io_channel(&s->io_device);
}

static void stack_io_device_gone(void *io_device)
{
	struct vbdev_stack *s = SPIO_CONTAINEROF(io_device, struct vbdev_stack, io_device);

	s->ops->free(s);
}

static void stack_close_msg(void *desc)
{
	spio_bdev_close(desc);
}

static void stack_close_base(struct vbdev_stack *s)
{
	spio_bdev_module_release_bdev(s->base);
	if (spio_get_thread() == s->desc_thread) {
		spio_bdev_close(s->base_desc);
	} else if (spio_thread_send_msg(s->desc_thread, stack_close_msg, s->base_desc) != 0) {
		SPIO_ERRLOG("%s: cannot close base %s: its thread is gone", s->bdev.name,
			    s->base->name);
	}
}

int vbdev_stack_destruct(struct vbdev_stack *s)
{
	stack_close_base(s);
	if (spio_io_device_unregister(&s->io_device, stack_io_device_gone) != 0) {
		s->ops->free(s);
	}
	return 0;
}

void vbdev_stack_free_name(struct vbdev_stack *s)
{
	free(s->bdev.name);
	s->bdev.name = NULL;
}

/* The base goes: so do we (our openers get their REMOVE); a resize is passed on. */
static void stack_base_event(enum spio_bdev_event_type type, struct spio_bdev *base, void *ctx)
{
	struct vbdev_stack *s = ctx;
	int rc;

	if (type == SPIO_BDEV_EVENT_RESIZE) {
		rc = spio_bdev_notify_blockcnt_change(&s->bdev, base->blockcnt);
		if (rc != 0) {
			SPIO_ERRLOG("%s: base %s resized to %lu blocks: %s", s->bdev.name,
				    base->name, (unsigned long)base->blockcnt, strerror(-rc));
		}
		return;
	}
	if (type != SPIO_BDEV_EVENT_REMOVE) {
		return;
	}
	rc = spio_bdev_unregister(&s->bdev, NULL, NULL);
	if (rc != 0 && rc != -EBUSY) {
		SPIO_ERRLOG("%s: unregister on removal of base %s: %s", s->bdev.name, base->name,
			    strerror(-rc));
	}
}

int vbdev_stack_create(struct vbdev_stack *s, const struct vbdev_stack_ops *ops,
		       const char *base_name, const char *name, const struct spio_uuid *uuid,
		       const char *product_name)
{
	struct spio_bdev *base;
	int rc;

	if (s == NULL || ops == NULL || base_name == NULL || name == NULL || name[0] == '\0') {
		return -EINVAL;
	}
	if (spio_bdev_get_by_name(name) != NULL) {
		return -EEXIST;
	}
	s->ops = ops;
	s->bdev.name = strdup(name);
	if (s->bdev.name == NULL) {
		return -ENOMEM;
	}
	/* read-only, promoted to read-write by the claim: no window for another writer */
	rc = spio_bdev_open_ext(base_name, false, stack_base_event, s, &s->base_desc);
	if (rc != 0) {
		goto err_name;
	}
	s->desc_thread = spio_get_thread();
	base = spio_bdev_desc_get_bdev(s->base_desc);
	s->base = base;
	rc = spio_bdev_module_claim_bdev(base, s->base_desc, ops->module);
	if (rc != 0) {
		SPIO_ERRLOG("%s: base %s is already claimed or open for writing", name, base_name);
		goto err_close;
	}
	s->bdev.ctxt = s;
	s->bdev.product_name = (char *)product_name;
	s->bdev.blocklen = base->blocklen;
	s->bdev.blockcnt = base->blockcnt;
	s->bdev.write_unit_size = base->write_unit_size;
	s->bdev.phys_blocklen = base->phys_blocklen;
	s->bdev.optimal_io_boundary = base->optimal_io_boundary;
	s->bdev.split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	s->bdev.max_rw_size = base->max_rw_size;
	s->bdev.max_num_segments = base->max_num_segments;
	s->bdev.max_segment_size = base->max_segment_size;
	s->bdev.required_alignment = base->required_alignment;
	s->bdev.numa = base->numa;
	if (uuid != NULL) {
		s->bdev.uuid = *uuid;
	}
	s->bdev.module = ops->module;
	s->bdev.fn_table = ops->fn_table;
	/* before the bdev: a channel may be asked for as soon as it is registered */
	rc = spio_io_device_register(&s->io_device, stack_channel_create, stack_channel_destroy,
				     sizeof(struct stack_channel) + ops->ch_size, name);
	if (rc != 0) {
		goto err_release;
	}
	rc = spio_bdev_register(&s->bdev);
	if (rc != 0) {
		/* no channel yet: the io_device goes at once; the caller frees s */
		spio_io_device_unregister(&s->io_device, NULL);
		goto err_release;
	}
	return 0;

err_release:
	spio_bdev_module_release_bdev(base);
err_close:
	spio_bdev_close(s->base_desc);
err_name:
	vbdev_stack_free_name(s);
	return rc;
}
