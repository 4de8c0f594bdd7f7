/* Bdev parts (spio/bdev_module.h): a claimed base bdev cut into ranges, each
 * a bdev whose I/O is forwarded to the base at its offset. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spio/json.h"
#include "spio/log.h"

struct spio_bdev_part_base {
	struct spio_bdev *bdev;
	struct spio_bdev_desc *desc;
	struct spio_bdev_module *module;
	struct spio_thread *thread;
	spio_bdev_part_base_remove_cb remove_cb;
	spio_bdev_part_base_free_cb free_cb;
	void *ctx;
	uint32_t refs; /* creator + one per part; atomic */
	bool removing; /* base thread only */
	pthread_mutex_t lock;
	struct spio_bdev_part *parts; /* under lock */
	struct spio_msg free_msg;
};

struct spio_bdev_part {
	struct spio_bdev bdev;
	struct spio_bdev_part_base *base;
	uint64_t offset_blocks;
	uint8_t io_device; /* the part's own io_device: channels hold a base channel */
	struct spio_bdev_part *next;
};

struct part_channel {
	struct spio_io_channel *base_ch;
};

/* Per-I/O forwarding state, in the module's driver context. */
struct part_io {
	struct spio_io_channel *ch;
	struct spio_bdev_io_wait_entry wait;
};

size_t spio_bdev_part_io_ctx_size(void)
{
	return sizeof(struct part_io);
}

static void base_free_msg(void *arg)
{
	struct spio_bdev_part_base *base = arg;

	spio_bdev_module_release_bdev(base->bdev);
	spio_bdev_close(base->desc);
	if (base->free_cb != NULL) {
		base->free_cb(base->ctx);
	}
	pthread_mutex_destroy(&base->lock);
	free(base);
}

static void base_unref(struct spio_bdev_part_base *base)
{
	if (__atomic_sub_fetch(&base->refs, 1, __ATOMIC_ACQ_REL) != 0) {
		return;
	}
	/* The descriptor is closed on its own thread; the message lives in the base. */
	if (spio_thread_send_msg_embedded(base->thread, &base->free_msg, base_free_msg, base) !=
	    0) {
		SPIO_ERRLOG("part base %s: its thread has exited; base not freed",
			    base->bdev->name);
	}
}

/* The base is going away: every part goes first, then the module hears of it. */
static void base_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	struct spio_bdev_part_base *base = ctx;
	struct spio_bdev_part *p, *list;
	uint32_t n = 0;

	if (type != SPIO_BDEV_EVENT_REMOVE || base->removing) {
		return;
	}
	base->removing = true;
	pthread_mutex_lock(&base->lock);
	for (p = base->parts; p != NULL; p = p->next) {
		n++;
	}
	list = base->parts;
	pthread_mutex_unlock(&base->lock);
	SPIO_NOTICELOG("base bdev %s removed: unregistering its %u parts", bdev->name, n);
	/* Parts leave the list only in their destruct, which runs later. */
	for (p = list; p != NULL; p = p->next) {
		int rc = spio_bdev_unregister(&p->bdev, NULL, NULL);

		if (rc != 0 && rc != -EBUSY) {
			SPIO_ERRLOG("part %s: unregister failed: %s", p->bdev.name, strerror(-rc));
		}
	}
	if (base->remove_cb != NULL) {
		base->remove_cb(base, base->ctx);
	}
}

int spio_bdev_part_base_create(const char *base_name, struct spio_bdev_module *module,
			       spio_bdev_part_base_remove_cb remove_cb,
			       spio_bdev_part_base_free_cb free_cb, void *ctx,
			       struct spio_bdev_part_base **out)
{
	struct spio_bdev_part_base *base;
	size_t ctx_size;
	int rc;

	if (base_name == NULL || module == NULL || out == NULL || spio_get_thread() == NULL) {
		return -EINVAL;
	}
	ctx_size = module->get_ctx_size != NULL ? module->get_ctx_size() : 0;
	if (ctx_size < sizeof(struct part_io)) {
		SPIO_ERRLOG("module %s: get_ctx_size %zu is below spio_bdev_part_io_ctx_size() %zu",
			    module->name, ctx_size, sizeof(struct part_io));
		return -EINVAL;
	}
	base = calloc(1, sizeof(*base));
	if (base == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_init(&base->lock, NULL);
	base->module = module;
	base->thread = spio_get_thread();
	base->remove_cb = remove_cb;
	base->free_cb = free_cb;
	base->ctx = ctx;
	base->refs = 1;
	/* Read-only, then promoted to read-write by the claim: no window in
	 * which another writer could slip in. */
	rc = spio_bdev_open_ext(base_name, false, base_event, base, &base->desc);
	if (rc != 0) {
		pthread_mutex_destroy(&base->lock);
		free(base);
		return rc;
	}
	base->bdev = spio_bdev_desc_get_bdev(base->desc);
	rc = spio_bdev_module_claim_bdev(base->bdev, base->desc, module);
	if (rc != 0) {
		spio_bdev_close(base->desc);
		pthread_mutex_destroy(&base->lock);
		free(base);
		return rc;
	}
	*out = base;
	return 0;
}

void spio_bdev_part_base_release(struct spio_bdev_part_base *base)
{
	if (base != NULL) {
		base_unref(base);
	}
}

struct spio_bdev *spio_bdev_part_base_get_bdev(const struct spio_bdev_part_base *base)
{
	return base != NULL ? base->bdev : NULL;
}

/*
 * The I/O path
 */

static void part_base_done(struct spio_bdev_io *base_io, bool success, void *cb_arg)
{
	enum spio_bdev_io_status status = spio_bdev_io_get_status(base_io);

	(void)success;
	spio_bdev_free_io(base_io);
	/* keep a compare's MISCOMPARE a miscompare */
	spio_bdev_io_complete(cb_arg, status);
}

static void part_submit(struct spio_io_channel *ch, struct spio_bdev_io *io);

static void part_retry(void *cb_arg)
{
	struct spio_bdev_io *io = cb_arg;
	struct part_io *pio = spio_bdev_io_get_driver_ctx(io);

	part_submit(pio->ch, io);
}

static void part_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	struct spio_bdev_part *part = io->bdev->ctxt;
	struct spio_bdev_part_base *base = part->base;
	struct part_channel *pch = spio_io_channel_get_ctx(ch);
	struct part_io *pio = spio_bdev_io_get_driver_ctx(io);
	struct spio_bdev_desc *d = base->desc;
	struct spio_io_channel *bch = pch->base_ch;
	/* The core validated the range against the part: it fits the base. */
	uint64_t off = io->u.offset_blocks + part->offset_blocks, num = io->u.num_blocks;
	int rc;

	switch (io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
		rc = spio_bdev_readv_blocks(d, bch, io->u.iovs, io->u.iovcnt, off, num,
					    part_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE:
		rc = spio_bdev_writev_blocks(d, bch, io->u.iovs, io->u.iovcnt, off, num,
					     part_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_UNMAP:
		rc = spio_bdev_unmap_blocks(d, bch, off, num, part_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_FLUSH:
		rc = spio_bdev_flush_blocks(d, bch, off, num, part_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE_ZEROES:
		rc = spio_bdev_write_zeroes_blocks(d, bch, off, num, part_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_COMPARE:
		rc = spio_bdev_comparev_blocks(d, bch, io->u.iovs, io->u.iovcnt, off, num,
					       part_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		/* the public API's compare_and_write takes one buffer per half */
		rc = io->u.iovcnt == 1 && io->u.fused_iovcnt == 1
			 ? spio_bdev_compare_and_write_blocks(d, bch, io->u.iovs[0].iov_base,
							      io->u.fused_iovs[0].iov_base, off,
							      num, part_base_done, io)
			 : -EINVAL;
		break;
	case SPIO_BDEV_IO_TYPE_RESET:
		/* a reset of one range resets the device under it, as in SPDK */
		rc = spio_bdev_reset(d, bch, part_base_done, io);
		break;
	default:
		rc = -ENOTSUP;
		break;
	}
	if (rc == -ENOMEM) {
		/* No bdev_io free for the base: wait for one on this thread. */
		pio->ch = ch;
		pio->wait.bdev = base->bdev;
		pio->wait.cb_fn = part_retry;
		pio->wait.cb_arg = io;
		rc = spio_bdev_queue_io_wait(base->bdev, bch, &pio->wait);
	}
	if (rc != 0) {
		SPIO_ERRLOG("part %s: cannot forward I/O type %d to %s: %s", part->bdev.name,
			    (int)io->type, base->bdev->name, strerror(-rc));
		spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_FAILED);
	}
}

static bool part_io_type_supported(void *ctxt, enum spio_bdev_io_type type)
{
	struct spio_bdev_part *part = ctxt;

	return spio_bdev_io_type_supported(part->base->bdev, type);
}

static int part_channel_create(void *io_device, void *ctx_buf)
{
	struct spio_bdev_part *part = SPIO_CONTAINEROF(io_device, struct spio_bdev_part, io_device);
	struct part_channel *pch = ctx_buf;

	pch->base_ch = spio_bdev_get_io_channel(part->base->desc);
	return pch->base_ch != NULL ? 0 : -errno;
}

static void part_channel_destroy(void *io_device, void *ctx_buf)
{
	struct part_channel *pch = ctx_buf;

	(void)io_device;
	spio_put_io_channel(pch->base_ch);
}

static struct spio_io_channel *part_get_io_channel(void *ctxt)
{
	struct spio_bdev_part *part = ctxt;

	return spio_get_io_channel(&part->io_device);
}

static void part_dump_info_json(void *ctxt, struct spio_json_write_ctx *w)
{
	struct spio_bdev_part *part = ctxt;

	/* Under the module's name, as SPDK's split writes "split": {...}. */
	spio_json_write_named_object_begin(w, part->base->module->name);
	spio_json_write_named_string(w, "base_bdev", part->base->bdev->name);
	spio_json_write_named_uint64(w, "offset_blocks", part->offset_blocks);
	spio_json_write_object_end(w);
}

static void part_free(struct spio_bdev_part *part)
{
	free(part->bdev.name);
	free(part->bdev.product_name);
	free(part);
}

static void part_io_device_gone(void *io_device)
{
	struct spio_bdev_part *part = SPIO_CONTAINEROF(io_device, struct spio_bdev_part, io_device);
	struct spio_bdev_part_base *base = part->base;

	part_free(part);
	base_unref(base);
}

static int part_destruct(void *ctxt)
{
	struct spio_bdev_part *part = ctxt;
	struct spio_bdev_part_base *base = part->base;
	struct spio_bdev_part **p;

	pthread_mutex_lock(&base->lock);
	for (p = &base->parts; *p != NULL; p = &(*p)->next) {
		if (*p == part) {
			*p = part->next;
			break;
		}
	}
	pthread_mutex_unlock(&base->lock);
	/* Freed once its io_device (the channels' base channels) is gone. */
	return spio_io_device_unregister(&part->io_device, part_io_device_gone);
}

static const struct spio_bdev_fn_table g_part_fn_table = {
    .destruct = part_destruct,
    .submit_request = part_submit,
    .io_type_supported = part_io_type_supported,
    .get_io_channel = part_get_io_channel,
    .dump_info_json = part_dump_info_json,
};

int spio_bdev_part_create(struct spio_bdev_part_base *base, const char *name,
			  uint64_t offset_blocks, uint64_t num_blocks, const char *product_name,
			  struct spio_bdev_part **out)
{
	struct spio_bdev_part *part;
	struct spio_bdev *b;
	int rc;

	if (base == NULL || name == NULL || product_name == NULL || out == NULL ||
	    num_blocks == 0 || base->removing) {
		return -EINVAL;
	}
	b = base->bdev;
	if (offset_blocks >= b->blockcnt || num_blocks > b->blockcnt - offset_blocks) {
		SPIO_ERRLOG("part %s: blocks %lu + %lu beyond %s's %lu", name,
			    (unsigned long)offset_blocks, (unsigned long)num_blocks, b->name,
			    (unsigned long)b->blockcnt);
		return -EINVAL;
	}
	part = calloc(1, sizeof(*part));
	if (part == NULL || (part->bdev.name = strdup(name)) == NULL ||
	    (part->bdev.product_name = strdup(product_name)) == NULL) {
		if (part != NULL) {
			part_free(part);
		}
		return -ENOMEM;
	}
	part->base = base;
	part->offset_blocks = offset_blocks;
	part->bdev.ctxt = part;
	part->bdev.blocklen = b->blocklen;
	part->bdev.blockcnt = num_blocks;
	part->bdev.write_unit_size = b->write_unit_size;
	part->bdev.required_alignment = b->required_alignment;
	/* the base's limits, so the core splits once, for the part */
	part->bdev.max_rw_size = b->max_rw_size;
	part->bdev.max_num_segments = b->max_num_segments;
	part->bdev.max_segment_size = b->max_segment_size;
	part->bdev.module = base->module;
	part->bdev.fn_table = &g_part_fn_table;
	rc = spio_io_device_register(&part->io_device, part_channel_create, part_channel_destroy,
				     sizeof(struct part_channel), name);
	if (rc != 0) {
		part_free(part);
		return rc;
	}
	__atomic_add_fetch(&base->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_lock(&base->lock);
	part->next = base->parts;
	base->parts = part;
	pthread_mutex_unlock(&base->lock);
	rc = spio_bdev_register(&part->bdev);
	if (rc != 0) {
		/* not registered: no destruct will run, undo here */
		part_destruct(part);
		return rc;
	}
	*out = part;
	return 0;
}

int spio_bdev_part_delete(struct spio_bdev_part *part, spio_bdev_unregister_cb cb, void *cb_arg)
{
	if (part == NULL) {
		return -EINVAL;
	}
	return spio_bdev_unregister(&part->bdev, cb, cb_arg);
}

struct spio_bdev *spio_bdev_part_get_bdev(struct spio_bdev_part *part)
{
	return part != NULL ? &part->bdev : NULL;
}

uint64_t spio_bdev_part_get_offset_blocks(const struct spio_bdev_part *part)
{
	return part != NULL ? part->offset_blocks : 0;
}

struct spio_bdev_part_base *spio_bdev_part_get_base(const struct spio_bdev_part *part)
{
	return part != NULL ? part->base : NULL;
}
