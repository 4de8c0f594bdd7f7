/*
 * passthru: a worked example of a bdev module (see docs/bdev_module.md,
 * "The worked example").
 *
 * A passthru bdev sits on top of another bdev (the "base"): it has the same
 * geometry, forwards every I/O to the base unchanged, and counts what went
 * through it. It is the smallest useful *virtual* bdev and shows every piece
 * a real one (a cache, an encryption layer, a partition) needs:
 *
 *   1. a module, registered at load time with SPIO_BDEV_MODULE_REGISTER;
 *   2. opening the base bdev and claiming it, so nobody else can write to it
 *      behind our back (spio_bdev_module_claim_bdev);
 *   3. registering our own bdev (spio_bdev_register) with a fn_table;
 *   4. a per-thread channel: our own io_device whose channel context holds
 *      the calling thread's I/O channel to the base bdev;
 *   5. submit_request: forward the I/O on that base channel and complete
 *      ours when the base I/O completes (status copied, miscompare included);
 *   6. running out of bdev_io objects (-ENOMEM) handled with the wait queue,
 *      whose entry lives in the per-I/O driver context (get_ctx_size);
 *   7. hot remove: when the base goes away we unregister ourselves;
 *   8. destruct: release the claim, close the base, free our memory.
 *
 * This file has no main(): examples/bdev_module/main.c is the demo program
 * and tests/unit/bdev/test_passthru_example.c compiles this file into the
 * unit test. The module's public functions are declared in passthru.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "passthru.h"
#include "spio/bdev_module.h"
#include "spio/log.h"
#include "spio/thread.h"
#include "spio/util.h"

/* ---- Data structures ----------------------------------------------------- */

/*
 * One passthru bdev. The `struct spio_bdev` is embedded: the core hands us
 * `bdev.ctxt` (pointing back at this struct) in every fn_table callback.
 */
struct passthru_disk {
	struct spio_bdev bdev;
	/* The base, opened read-only then promoted to read-write by the claim. */
	struct spio_bdev *base_bdev;
	struct spio_bdev_desc *base_desc;
	/* The thread that opened base_desc: a descriptor is closed on its thread. */
	struct spio_thread *desc_thread;
	/*
	 * Counters. Two designs are common:
	 *  - per-channel counters (one set in each passthru_channel, plain
	 *    increments, no sharing between threads), summed on demand by
	 *    visiting every channel with spio_for_each_channel() and adding the
	 *    counts of channels already destroyed. This is what the bdev core
	 *    does for its own statistics: it scales, but reading is asynchronous.
	 *  - one set per bdev, updated with atomic adds.
	 * We use atomics (relaxed: the counters order nothing else) because
	 * passthru_get_stats() can then be a plain synchronous call from any
	 * thread, which keeps the example short. The price is a shared cache
	 * line bouncing between threads that submit to the same bdev at once:
	 * for a hot path device prefer the per-channel design.
	 */
	struct passthru_stats stats;
	/*
	 * Our io_device: any unique pointer will do, but not the disk itself.
	 * The core registers each `struct spio_bdev` as an io_device of its
	 * own, and `bdev` is the first member, so `disk == &disk->bdev`. This
	 * byte gives us a distinct address; SPIO_CONTAINEROF gets back to us.
	 */
	char io_device;
};

/*
 * Context of a passthru channel (one per thread using the passthru bdev):
 * the same thread's channel to the base bdev.
 */
struct passthru_channel {
	struct spio_io_channel *base_ch;
};

/*
 * Per-I/O driver context (get_ctx_size() bytes inside every bdev_io): room
 * to park an I/O that could not get a base bdev_io (-ENOMEM) until one is
 * freed on this thread.
 */
struct passthru_io {
	struct spio_io_channel *ch; /* our passthru channel, for the retry */
	struct spio_bdev_io_wait_entry wait;
};

/* ---- The module ---------------------------------------------------------- */

static size_t passthru_get_ctx_size(void)
{
	return sizeof(struct passthru_io);
}

static struct spio_bdev_module g_passthru_module = {
    .name = "passthru_example",
    .get_ctx_size = passthru_get_ctx_size,
};
SPIO_BDEV_MODULE_REGISTER(g_passthru_module)

/* ---- Counting ------------------------------------------------------------ */

static void passthru_count(struct passthru_disk *disk, enum spio_bdev_io_type type,
			   enum spio_bdev_io_status status)
{
	uint64_t *counter;

	if (status != SPIO_BDEV_IO_STATUS_SUCCESS) {
		counter = &disk->stats.errors;
	} else {
		switch (type) {
		case SPIO_BDEV_IO_TYPE_READ:
			counter = &disk->stats.reads;
			break;
		case SPIO_BDEV_IO_TYPE_WRITE:
			counter = &disk->stats.writes;
			break;
		case SPIO_BDEV_IO_TYPE_UNMAP:
			counter = &disk->stats.unmaps;
			break;
		case SPIO_BDEV_IO_TYPE_FLUSH:
			counter = &disk->stats.flushes;
			break;
		default:
			counter = &disk->stats.other;
			break;
		}
	}
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

/* Complete our I/O with `status` and count it: the only exit of every I/O. */
static void passthru_io_done(struct spio_bdev_io *io, enum spio_bdev_io_status status)
{
	passthru_count(io->bdev->ctxt, io->type, status);
	spio_bdev_io_complete(io, status);
}

/* ---- The I/O path -------------------------------------------------------- */

/*
 * The base I/O completed (on this thread: we submitted it here). Copy its
 * status to our I/O (so a compare's MISCOMPARE stays a MISCOMPARE rather
 * than a plain failure), free the base bdev_io, complete ours.
 */
static void passthru_base_done(struct spio_bdev_io *base_io, bool success, void *cb_arg)
{
	struct spio_bdev_io *io = cb_arg;
	enum spio_bdev_io_status status = spio_bdev_io_get_status(base_io);

	(void)success;
	spio_bdev_free_io(base_io);
	passthru_io_done(io, status);
}

static void passthru_submit(struct spio_io_channel *ch, struct spio_bdev_io *io);

/* A bdev_io was freed on this thread: try the parked I/O again. */
static void passthru_retry(void *cb_arg)
{
	struct spio_bdev_io *io = cb_arg;
	struct passthru_io *pio = spio_bdev_io_get_driver_ctx(io);

	passthru_submit(pio->ch, io);
}

/*
 * Forward `io` to the base. The core has already validated the I/O against
 * our geometry, which is the base's, so the base accepts the same arguments.
 */
static void passthru_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	struct passthru_disk *disk = io->bdev->ctxt;
	struct passthru_channel *pch = spio_io_channel_get_ctx(ch);
	struct passthru_io *pio = spio_bdev_io_get_driver_ctx(io);
	struct spio_bdev_desc *d = disk->base_desc;
	struct spio_io_channel *bch = pch->base_ch;
	uint64_t off = io->u.offset_blocks, num = io->u.num_blocks;
	int rc;

	switch (io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
		rc = spio_bdev_readv_blocks(d, bch, io->u.iovs, io->u.iovcnt, off, num,
					    passthru_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE:
		rc = spio_bdev_writev_blocks(d, bch, io->u.iovs, io->u.iovcnt, off, num,
					     passthru_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_UNMAP:
		rc = spio_bdev_unmap_blocks(d, bch, off, num, passthru_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_FLUSH:
		rc = spio_bdev_flush_blocks(d, bch, off, num, passthru_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_RESET:
		rc = spio_bdev_reset(d, bch, passthru_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE_ZEROES:
		rc = spio_bdev_write_zeroes_blocks(d, bch, off, num, passthru_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_COMPARE:
		rc = spio_bdev_comparev_blocks(d, bch, io->u.iovs, io->u.iovcnt, off, num,
					       passthru_base_done, io);
		break;
	case SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		/*
		 * The public API has only a buffer form of compare_and_write, so
		 * its halves arrive as one iovec each; anything else we refuse.
		 */
		if (io->u.iovcnt != 1 || io->u.fused_iovcnt != 1) {
			rc = -EINVAL;
			break;
		}
		rc = spio_bdev_compare_and_write_blocks(d, bch, io->u.iovs[0].iov_base,
							io->u.fused_iovs[0].iov_base, off, num,
							passthru_base_done, io);
		break;
	default:
		rc = -ENOTSUP;
		break;
	}

	if (rc == -ENOMEM) {
		/*
		 * No bdev_io free for the base I/O. The core does not retry I/O a
		 * module fails, so park this one in the wait queue: the entry lives
		 * in our per-I/O context, which stays valid until we complete it.
		 */
		pio->ch = ch;
		pio->wait.bdev = disk->base_bdev;
		pio->wait.cb_fn = passthru_retry;
		pio->wait.cb_arg = io;
		rc = spio_bdev_queue_io_wait(disk->base_bdev, bch, &pio->wait);
	}
	if (rc != 0) {
		SPIO_ERRLOG("passthru %s: cannot forward I/O type %d: %s", disk->bdev.name,
			    (int)io->type, strerror(-rc));
		passthru_io_done(io, SPIO_BDEV_IO_STATUS_FAILED);
	}
}

/*
 * We support exactly what the base supports: the core then rejects the
 * rest with -ENOTSUP before it reaches passthru_submit().
 */
static bool passthru_io_type_supported(void *ctxt, enum spio_bdev_io_type type)
{
	struct passthru_disk *disk = ctxt;

	return spio_bdev_io_type_supported(disk->base_bdev, type);
}

/* ---- Channels ------------------------------------------------------------ */

/*
 * Our io_device is &disk->io_device. The first time a thread asks
 * for a channel to it, this creates the context: that thread's channel to
 * the base bdev (descriptor channels may be got on any thread).
 */
static int passthru_channel_create(void *io_device, void *ctx_buf)
{
	struct passthru_disk *disk = SPIO_CONTAINEROF(io_device, struct passthru_disk, io_device);
	struct passthru_channel *pch = ctx_buf;

	pch->base_ch = spio_bdev_get_io_channel(disk->base_desc);
	return pch->base_ch != NULL ? 0 : -errno;
}

/* The last reference to the thread's channel went: drop the base channel. */
static void passthru_channel_destroy(void *io_device, void *ctx_buf)
{
	struct passthru_channel *pch = ctx_buf;

	(void)io_device;
	spio_put_io_channel(pch->base_ch);
}

/* The core asks once per thread (per bdev channel) and puts it for us. */
static struct spio_io_channel *passthru_get_io_channel(void *ctxt)
{
	struct passthru_disk *disk = ctxt;

	return spio_get_io_channel(&disk->io_device);
}

/* ---- Teardown ------------------------------------------------------------ */

static void passthru_free(struct passthru_disk *disk)
{
	free(disk->bdev.name);
	free(disk);
}

/* The io_device is gone (no channel left): the memory can go too. */
static void passthru_io_device_gone(void *io_device)
{
	passthru_free(SPIO_CONTAINEROF(io_device, struct passthru_disk, io_device));
}

static void passthru_close_base_msg(void *ctx)
{
	spio_bdev_close(ctx);
}

/*
 * Every descriptor and channel of our bdev is gone. Release the claim (the
 * base is writable by others again as soon as this returns), close our base
 * descriptor on the thread that opened it, and unregister our io_device;
 * the memory is freed once that finished.
 */
static int passthru_destruct(void *ctxt)
{
	struct passthru_disk *disk = ctxt;

	spio_bdev_module_release_bdev(disk->base_bdev);
	if (spio_get_thread() == disk->desc_thread) {
		spio_bdev_close(disk->base_desc);
	} else if (spio_thread_send_msg(disk->desc_thread, passthru_close_base_msg,
					disk->base_desc) != 0) {
		SPIO_ERRLOG("passthru %s: cannot close the base descriptor", disk->bdev.name);
	}
	if (spio_io_device_unregister(&disk->io_device, passthru_io_device_gone) != 0) {
		passthru_free(disk);
	}
	return 0;
}

/*
 * Hot remove: the base is being unregistered. We unregister ourselves; our
 * users get their own REMOVE event, and when they have closed, destruct
 * closes the base descriptor, which lets the base's removal finish.
 */
static void passthru_base_event(enum spio_bdev_event_type type, struct spio_bdev *base,
				void *event_ctx)
{
	struct passthru_disk *disk = event_ctx;
	int rc;

	(void)base;
	if (type != SPIO_BDEV_EVENT_REMOVE) {
		return;
	}
	rc = spio_bdev_unregister(&disk->bdev, NULL, NULL);
	if (rc != 0 && rc != -EBUSY) { /* -EBUSY: already on its way out */
		SPIO_ERRLOG("passthru %s: unregister on base removal: %s", disk->bdev.name,
			    strerror(-rc));
	}
}

static const struct spio_bdev_fn_table g_passthru_fn_table = {
    .destruct = passthru_destruct,
    .submit_request = passthru_submit,
    .io_type_supported = passthru_io_type_supported,
    .get_io_channel = passthru_get_io_channel,
};

/* ---- Public functions ---------------------------------------------------- */

int passthru_create(const char *base_name, const char *name, struct spio_bdev **bdev_out)
{
	struct passthru_disk *disk;
	struct spio_bdev *base;
	int rc;

	if (base_name == NULL || name == NULL || bdev_out == NULL || base_name[0] == '\0' ||
	    name[0] == '\0') {
		return -EINVAL;
	}
	if (spio_bdev_get_by_name(name) != NULL) {
		return -EEXIST;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		return -ENOMEM;
	}
	disk->bdev.name = strdup(name);
	if (disk->bdev.name == NULL) {
		free(disk);
		return -ENOMEM;
	}

	/*
	 * Open the base read-only: the claim below promotes this descriptor to
	 * read-write. (Opening it for writing first would work too, but the
	 * claim must then accept that writer as ours; passing the descriptor to
	 * the claim says exactly that.)
	 */
	rc = spio_bdev_open_ext(base_name, false, passthru_base_event, disk, &disk->base_desc);
	if (rc != 0) {
		passthru_free(disk);
		return rc;
	}
	disk->desc_thread = spio_get_thread();
	base = spio_bdev_desc_get_bdev(disk->base_desc);
	disk->base_bdev = base;
	rc = spio_bdev_module_claim_bdev(base, disk->base_desc, &g_passthru_module);
	if (rc != 0) {
		goto err_close;
	}

	/* Same geometry and constraints as the base; the UUID is left all-zero
	 * so the core generates a new one (two bdevs cannot share a UUID). */
	disk->bdev.ctxt = disk;
	disk->bdev.product_name = "passthru disk";
	disk->bdev.blocklen = base->blocklen;
	disk->bdev.blockcnt = base->blockcnt;
	disk->bdev.write_unit_size = base->write_unit_size;
	disk->bdev.optimal_io_boundary = base->optimal_io_boundary;
	disk->bdev.split_on_optimal_io_boundary = base->split_on_optimal_io_boundary;
	disk->bdev.max_rw_size = base->max_rw_size;
	disk->bdev.required_alignment = base->required_alignment;
	disk->bdev.module = &g_passthru_module;
	disk->bdev.fn_table = &g_passthru_fn_table;

	/* The io_device must exist before the bdev: a channel may be asked for
	 * as soon as spio_bdev_register() returns. */
	rc = spio_io_device_register(&disk->io_device, passthru_channel_create,
				     passthru_channel_destroy, sizeof(struct passthru_channel),
				     name);
	if (rc != 0) {
		goto err_release;
	}
	rc = spio_bdev_register(&disk->bdev);
	if (rc != 0) {
		/* No channel exists yet, so the unregister callback frees the disk. */
		spio_bdev_module_release_bdev(base);
		spio_bdev_close(disk->base_desc);
		spio_io_device_unregister(&disk->io_device, passthru_io_device_gone);
		return rc;
	}
	*bdev_out = &disk->bdev;
	return 0;

err_release:
	spio_bdev_module_release_bdev(base);
err_close:
	spio_bdev_close(disk->base_desc);
	passthru_free(disk);
	return rc;
}

int passthru_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg)
{
	return spio_bdev_unregister_by_name(name, &g_passthru_module, cb, cb_arg);
}

int passthru_get_stats(const char *name, struct passthru_stats *stats)
{
	struct spio_bdev *bdev;
	struct passthru_disk *disk;

	if (name == NULL || stats == NULL) {
		return -EINVAL;
	}
	/* Only valid while the bdev is registered: callers hold a descriptor
	 * or call this on the thread that deletes it. */
	bdev = spio_bdev_get_by_name(name);
	if (bdev == NULL || bdev->module != &g_passthru_module) {
		return -ENODEV;
	}
	disk = bdev->ctxt;
	stats->reads = __atomic_load_n(&disk->stats.reads, __ATOMIC_RELAXED);
	stats->writes = __atomic_load_n(&disk->stats.writes, __ATOMIC_RELAXED);
	stats->unmaps = __atomic_load_n(&disk->stats.unmaps, __ATOMIC_RELAXED);
	stats->flushes = __atomic_load_n(&disk->stats.flushes, __ATOMIC_RELAXED);
	stats->other = __atomic_load_n(&disk->stats.other, __ATOMIC_RELAXED);
	stats->errors = __atomic_load_n(&disk->stats.errors, __ATOMIC_RELAXED);
	return 0;
}
