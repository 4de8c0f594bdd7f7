/*
 * What the stacked virtual bdevs (passthru, error, delay) share: a bdev of
 * the base's geometry on top of one claimed base bdev, per-thread channels
 * holding the base channel, forwarding of every I/O type with the -ENOMEM
 * wait queue, hot remove (the base goes, so does the vbdev), and teardown.
 *
 * Private to module/bdev (not installed). Thread rules: create on a spio
 * thread, which opens the base descriptor and must live until destruct has
 * closed it there.
 */
#ifndef SPIO_MODULE_VBDEV_STACK_H
#define SPIO_MODULE_VBDEV_STACK_H

#include "spio/bdev_module.h"

struct vbdev_stack;

/* Completion of a forwarded I/O: the base's status (miscompare kept). */
typedef void (*vbdev_stack_done_fn)(struct spio_bdev_io *io, enum spio_bdev_io_status status);

/* What a module tells the helper; static storage. */
struct vbdev_stack_ops {
	struct spio_bdev_module *module;
	/* The module's table: its destruct must end with vbdev_stack_destruct(). */
	const struct spio_bdev_fn_table *fn_table;
	/* Bytes of the module's own channel context (vbdev_stack_channel_ctx()). */
	size_t ch_size;
	/* Optional: set up / tear down the module's channel context. */
	int (*ch_create)(struct vbdev_stack *s, void *mod_ch);
	void (*ch_destroy)(struct vbdev_stack *s, void *mod_ch);
	/* Free the struct embedding the vbdev_stack: last call, no channel left. */
	void (*free)(struct vbdev_stack *s);
};

/* Embedded first in the module's per-bdev struct. */
struct vbdev_stack {
	struct spio_bdev bdev;
	struct spio_bdev *base;
	struct spio_bdev_desc *base_desc;
	struct spio_thread *desc_thread;
	const struct vbdev_stack_ops *ops;
	/* distinct address for the io_device: &bdev is the core's io_device */
	char io_device;
};

/* The per-I/O bytes the helper uses, at the start of the driver context. */
size_t vbdev_stack_io_ctx_size(void);

/* The module's own per-I/O context, after the helper's. */
void *vbdev_stack_io_ctx(struct spio_bdev_io *io);

/* The module's context of one of its channels (the submit_request channel). */
void *vbdev_stack_channel_ctx(struct spio_io_channel *ch);

/* The stack a channel belongs to. */
struct vbdev_stack *vbdev_stack_from_channel(struct spio_io_channel *ch);

/*
 * Open and claim `base_name`, give `s->bdev` its geometry, name (copied),
 * product_name (static) and uuid (NULL or all-zero: generated), and register
 * it. `s` is zeroed by the caller. On failure nothing is left registered or
 * claimed and ops->free is not called (the caller frees `s`).
 * \return 0; -EINVAL; -ENODEV (no base); -EEXIST (name or uuid taken);
 *         -EPERM (base claimed or open for writing); -ENOMEM.
 */
int vbdev_stack_create(struct vbdev_stack *s, const struct vbdev_stack_ops *ops,
		       const char *base_name, const char *name, const struct spio_uuid *uuid,
		       const char *product_name);

/*
 * Forward `io` unchanged (same type, range and buffers) to the base on the
 * thread's base channel; `done` runs once the base I/O completed, or with
 * FAILED if it could not be submitted. Parks the I/O on the wait queue when
 * the base has no bdev_io free. `ch` is the submit_request channel.
 */
void vbdev_stack_forward(struct spio_io_channel *ch, struct spio_bdev_io *io,
			 vbdev_stack_done_fn done);

/* A write of `buf` (`len` bytes, the io's range) in place of io's own data. */
void vbdev_stack_forward_write_buf(struct spio_io_channel *ch, struct spio_bdev_io *io, void *buf,
				   vbdev_stack_done_fn done);

/* io_type_supported for fn tables: whatever the base supports. */
bool vbdev_stack_io_type_supported(void *ctxt, enum spio_bdev_io_type type);

/* get_io_channel for fn tables. */
struct spio_io_channel *vbdev_stack_get_io_channel(void *ctxt);

/* The end of a destruct: release the claim, close the base on its thread,
 * free through ops->free once the io_device is gone. Returns 0. */
int vbdev_stack_destruct(struct vbdev_stack *s);

/* Free s->bdev.name (for ops->free). */
void vbdev_stack_free_name(struct vbdev_stack *s);

#endif /* SPIO_MODULE_VBDEV_STACK_H */
