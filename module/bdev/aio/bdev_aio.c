/*
 * The "aio" bdev module: a file or block device driven through Linux native
 * AIO, one context per channel (per thread and bdev).
 *
 * submit_request only prepares an iocb; the channel's poller submits every
 * prepared iocb in one io_submit and reaps completions straight from the
 * context's completion ring, which the kernel maps into our address space
 * (no io_getevents call while the ring's layout is the one we know). Every
 * iocb signals the channel's eventfd, the poller's interrupt fd.
 *
 * AIO has no asynchronous fallocate or discard: unmap and write_zeroes run
 * on a helper thread (spio_work_submit). See spio/bdev_aio.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <libaio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bdev_file/bdev_file.h"
#include "spio/bdev_aio.h"
#include "spio/json.h"
#include "spio/log.h"

SPIO_LOG_REGISTER_COMPONENT(bdev_aio)

#define AIO_DEPTH_DEFAULT 512
#define AIO_DEPTH_MAX 65536u
#define AIO_EVENT_BATCH 64

/*
 * The kernel's completion ring header (fs/aio.c, struct aio_ring), at the
 * address of the io_context_t. Its layout is ABI; `magic` and
 * `incompat_features` tell us whether it is the one we know.
 */
#define AIO_RING_MAGIC 0xa10a10a1u

struct aio_ring_header {
	uint32_t id;
	uint32_t nr; /* events in the ring */
	uint32_t head;
	uint32_t tail;
	uint32_t magic;
	uint32_t compat_features;
	uint32_t incompat_features;
	uint32_t header_length;
	struct io_event events[];
};

struct aio_disk {
	struct bdev_file file; /* first: the bdev's ctxt */
	uint32_t queue_depth;  /* events per channel's AIO context */
	/* The file system refused IOCB_CMD_FDSYNC: fdatasync on a helper thread. */
	bool fdsync_unsupported;
};

struct aio_channel;

struct aio_io {
	struct bdev_file_io common; /* first: found from the driver context */
	struct aio_channel *ch;
	struct iocb iocb;
};

struct aio_channel {
	struct bdev_file_channel common;
	struct aio_disk *disk;
	io_context_t ctx;
	bool ctx_ready;
	int efd;
	struct spio_poller *poller;
	/* iocbs prepared since the last io_submit (at most depth) */
	struct iocb **pending;
	uint32_t npending;
};

static size_t aio_get_ctx_size(void)
{
	return sizeof(struct aio_io);
}

static struct spio_bdev_module g_aio_module = {
    .name = "aio",
    .get_ctx_size = aio_get_ctx_size,
};
SPIO_BDEV_MODULE_REGISTER(g_aio_module)

static struct aio_io *aio_io_of(struct spio_bdev_io *io)
{
	return (struct aio_io *)spio_bdev_io_get_driver_ctx(io);
}

static void aio_start(struct aio_channel *ch, struct spio_bdev_io *io);

static void aio_start_queued(struct aio_channel *ch)
{
	struct bdev_file_io *next;

	while ((next = bdev_file_channel_next(&ch->common)) != NULL) {
		aio_start(ch, bdev_file_io_to_bdev_io(next));
	}
}

/*
 * The helper-thread path: unmap, write_zeroes, and flush where the file
 * system has no IOCB_CMD_FDSYNC.
 */

static void aio_blocking_done(void *arg, int result)
{
	struct spio_bdev_io *io = arg;
	struct aio_io *aio = aio_io_of(io);
	struct aio_channel *ch = aio->ch;

	if (result != 0) {
		bdev_file_report_error(&ch->disk->file, io, result, 0);
	}
	bdev_file_channel_complete(&ch->common, &aio->common, result == 0);
	aio_start_queued(ch);
}

static void aio_start_blocking(struct aio_channel *ch, struct spio_bdev_io *io)
{
	struct aio_io *aio = aio_io_of(io);
	int rc = spio_work_submit(&aio->common.work, bdev_file_blocking_op, aio_blocking_done, io);

	if (rc != 0) {
		bdev_file_report_error(&ch->disk->file, io, rc, 0);
		bdev_file_channel_complete(&ch->common, &aio->common, false);
	}
}

/*
 * Submission
 */

static void aio_prep_rw(struct aio_io *aio, int fd, struct spio_bdev_io *io)
{
	const struct iovec *iov = aio->common.bounce.iov_base ? &aio->common.bounce : io->u.iovs;
	int iovcnt = aio->common.bounce.iov_base ? 1 : io->u.iovcnt;
	long long off = (long long)bdev_file_io_offset(io);
	bool read = io->type == SPIO_BDEV_IO_TYPE_READ;

	if (iovcnt == 1) {
		if (read) {
			io_prep_pread(&aio->iocb, fd, iov->iov_base, iov->iov_len, off);
		} else {
			io_prep_pwrite(&aio->iocb, fd, iov->iov_base, iov->iov_len, off);
		}
	} else if (read) {
		io_prep_preadv(&aio->iocb, fd, iov, iovcnt, off);
	} else {
		io_prep_pwritev(&aio->iocb, fd, iov, iovcnt, off);
	}
}

/* Hand an admitted I/O to the kernel (or to a helper thread). */
static void aio_start(struct aio_channel *ch, struct spio_bdev_io *io)
{
	struct aio_disk *disk = ch->disk;
	struct bdev_file *f = &disk->file;
	struct aio_io *aio = aio_io_of(io);

	aio->ch = ch;
	switch (io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
	case SPIO_BDEV_IO_TYPE_WRITE:
		if (spio_unlikely(bdev_file_needs_bounce(f, io)) &&
		    bdev_file_bounce_start(&aio->common, io) != 0) {
			bdev_file_channel_complete(&ch->common, &aio->common, false);
			return;
		}
		aio_prep_rw(aio, f->fd, io);
		break;
	case SPIO_BDEV_IO_TYPE_FLUSH:
		if (!__atomic_load_n(&disk->fdsync_unsupported, __ATOMIC_RELAXED)) {
			io_prep_fdsync(&aio->iocb, f->fd);
			break;
		}
		aio_start_blocking(ch, io);
		return;
	default: /* unmap, write_zeroes */
		aio_start_blocking(ch, io);
		return;
	}
	aio->iocb.data = aio;
	io_set_eventfd(&aio->iocb, ch->efd);
	ch->pending[ch->npending++] = &aio->iocb;
}

static void aio_submit_request(struct spio_io_channel *ioch, struct spio_bdev_io *io)
{
	struct aio_channel *ch = spio_io_channel_get_ctx(ioch);
	struct aio_io *aio = aio_io_of(io);

	if (spio_unlikely(io->type == SPIO_BDEV_IO_TYPE_RESET)) {
		bdev_file_channel_reset(&ch->common, &aio->common);
		return;
	}
	if (bdev_file_channel_admit(&ch->common, &aio->common)) {
		aio_start(ch, io);
	}
}

/* io_submit refused the first pending iocb: fall back or fail that one I/O. */
static void aio_submit_refused(struct aio_channel *ch, int rc)
{
	struct aio_io *aio = ch->pending[0]->data;
	struct spio_bdev_io *io = bdev_file_io_to_bdev_io(&aio->common);

	ch->npending--;
	memmove(ch->pending, ch->pending + 1, ch->npending * sizeof(*ch->pending));
	if (rc == -EINVAL && io->type == SPIO_BDEV_IO_TYPE_FLUSH) {
		if (!__atomic_exchange_n(&ch->disk->fdsync_unsupported, true, __ATOMIC_RELAXED)) {
			SPIO_NOTICELOG("aio bdev %s: no asynchronous fdatasync here; flushing on "
				       "a helper thread\n",
				       ch->disk->file.bdev.name);
		}
		aio_start_blocking(ch, io);
		return;
	}
	bdev_file_report_error(&ch->disk->file, io, rc, 0);
	bdev_file_channel_complete(&ch->common, &aio->common, false);
}

/* Submit what was prepared; returns true if anything was handed over. */
static bool aio_flush_pending(struct aio_channel *ch)
{
	bool any = false;

	while (ch->npending != 0) {
		int rc = io_submit(ch->ctx, (long)ch->npending, ch->pending);

		if (rc > 0) {
			any = true;
			ch->npending -= (uint32_t)rc;
			memmove(ch->pending, ch->pending + rc, ch->npending * sizeof(*ch->pending));
		} else if (rc == -EAGAIN || rc == -EINTR || rc == 0) {
			break; /* the kernel is short of something: next poll */
		} else {
			aio_submit_refused(ch, rc);
		}
	}
	return any;
}

/*
 * Completion
 */

static void aio_complete(struct aio_channel *ch, struct aio_io *aio, long res)
{
	struct spio_bdev_io *io = bdev_file_io_to_bdev_io(&aio->common);
	bool rw = io->type == SPIO_BDEV_IO_TYPE_READ || io->type == SPIO_BDEV_IO_TYPE_WRITE;
	uint64_t expected = rw ? bdev_file_io_len(io) : 0;

	if (spio_likely((uint64_t)(int64_t)res == expected)) {
		bdev_file_channel_complete(&ch->common, &aio->common, true);
		return;
	}
	bdev_file_report_error(&ch->disk->file, io, res, expected);
	bdev_file_channel_complete(&ch->common, &aio->common, false);
}

/*
 * Take up to `max` events from the ring in user space. The kernel writes
 * events then publishes `tail`; we read them, then publish `head`, which
 * frees their slots. Returns -1 if the ring is not one we know.
 */
static int aio_ring_take(struct aio_channel *ch, struct io_event *out, int max)
{
	struct aio_ring_header *ring = (struct aio_ring_header *)ch->ctx;
	uint32_t head, tail, n = 0;

	if (spio_unlikely(ring->magic != AIO_RING_MAGIC || ring->incompat_features != 0)) {
		return -1;
	}
	head = ring->head;
	tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
	while (head != tail && n < (uint32_t)max) {
		out[n++] = ring->events[head];
		head = head + 1 == ring->nr ? 0 : head + 1;
	}
	__atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
	return (int)n;
}

static int aio_get_events(struct aio_channel *ch, struct io_event *out, int max)
{
	struct timespec zero = {0, 0};
	int n = aio_ring_take(ch, out, max);

	if (spio_likely(n >= 0)) {
		return n;
	}
	n = io_getevents(ch->ctx, 0, max, out, &zero);
	return n > 0 ? n : 0;
}

static unsigned aio_reap(struct aio_channel *ch)
{
	struct io_event events[AIO_EVENT_BATCH];
	unsigned total = 0;
	int n;

	do {
		n = aio_get_events(ch, events, AIO_EVENT_BATCH);
		for (int i = 0; i < n; i++) {
			aio_complete(ch, events[i].data, (long)events[i].res);
		}
		total += (unsigned)n;
	} while (n == AIO_EVENT_BATCH);
	return total;
}

static int aio_poll(void *arg)
{
	struct aio_channel *ch = arg;
	unsigned reaped = aio_reap(ch);
	bool submitted;

	aio_start_queued(ch);
	submitted = aio_flush_pending(ch);
	return reaped || submitted || ch->npending ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
}

/*
 * Channels
 */

static void aio_channel_release(struct aio_channel *ch)
{
	spio_poller_unregister(&ch->poller);
	if (ch->ctx_ready) {
		io_destroy(ch->ctx);
		ch->ctx_ready = false;
	}
	if (ch->efd >= 0) {
		close(ch->efd);
		ch->efd = -1;
	}
	free(ch->pending);
	ch->pending = NULL;
}

static int aio_channel_create(void *io_device, void *ctx)
{
	struct aio_channel *ch = ctx;
	struct aio_disk *disk = (struct aio_disk *)bdev_file_from_io_device(io_device);
	int rc;

	memset(ch, 0, sizeof(*ch));
	ch->disk = disk;
	ch->efd = -1;
	ch->common.depth = disk->queue_depth;
	ch->pending = calloc(disk->queue_depth, sizeof(*ch->pending));
	if (ch->pending == NULL) {
		return -ENOMEM;
	}
	rc = io_setup((int)disk->queue_depth, &ch->ctx);
	if (rc < 0) {
		SPIO_ERRLOG("aio bdev %s: io_setup(%" PRIu32 "): %s%s\n", disk->file.bdev.name,
			    disk->queue_depth, strerror(-rc),
			    rc == -EAGAIN ? " (fs.aio-max-nr reached)" : "");
		goto fail;
	}
	ch->ctx_ready = true;
	ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->efd < 0) {
		rc = -errno;
		goto fail;
	}
	ch->poller = spio_poller_register_named(aio_poll, ch, 0, "bdev_aio");
	if (ch->poller == NULL) {
		rc = -errno;
		goto fail;
	}
	rc = spio_poller_set_interrupt_fd(ch->poller, ch->efd);
	if (rc != 0) {
		goto fail;
	}
	return 0;

fail:
	aio_channel_release(ch);
	return rc;
}

static void aio_channel_destroy(void *io_device, void *ctx)
{
	struct aio_channel *ch = ctx;

	(void)io_device;
	/* Channels go only after their I/O finished. If not (a caller's bug), say
	 * so; io_destroy waits for what the kernel has before the context goes. */
	if (spio_unlikely(ch->common.inflight != 0 || ch->common.queued != 0)) {
		SPIO_ERRLOG("aio bdev %s: channel released with %" PRIu32 " I/Os in flight\n",
			    ch->disk->file.bdev.name, ch->common.inflight + ch->common.queued);
	}
	aio_channel_release(ch);
}

/*
 * The bdev
 */

static void aio_dump_info_json(void *ctxt, struct spio_json_write_ctx *w)
{
	struct aio_disk *disk = ctxt;

	spio_json_write_named_object_begin(w, "aio");
	bdev_file_dump_info_json(&disk->file, w);
	spio_json_write_named_uint32(w, "queue_depth", disk->queue_depth);
	spio_json_write_object_end(w);
}

static void aio_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	struct aio_disk *disk = bdev->ctxt;

	bdev_file_write_config_begin(&disk->file, "bdev_aio_create", w);
	/* SPDK's members, in SPDK's order; nowait is always false here */
	spio_json_write_named_bool(w, "readonly", disk->file.readonly);
	spio_json_write_named_bool(w, "fallocate", disk->file.fallocate);
	spio_json_write_named_uuid(w, "uuid", &disk->file.bdev.uuid);
	spio_json_write_named_bool(w, "nowait", false);
	/* ours, only when they differ from the default (see bdev_file.h) */
	bdev_file_write_config_ours(&disk->file, w);
	if (disk->queue_depth != AIO_DEPTH_DEFAULT) {
		spio_json_write_named_uint32(w, "queue_depth", disk->queue_depth);
	}
	bdev_file_write_config_end(w);
}

static const struct spio_bdev_fn_table g_aio_fn_table = {
    .destruct = bdev_file_destruct,
    .submit_request = aio_submit_request,
    .io_type_supported = bdev_file_io_type_supported,
    .get_io_channel = bdev_file_get_io_channel,
    .dump_info_json = aio_dump_info_json,
    .write_config_json = aio_write_config_json,
};

static void aio_opts_defaults(struct spio_bdev_aio_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->opts_size = sizeof(*o);
	o->direct = true;
	o->fallocate = false; /* SPDK's default */
	o->queue_depth = AIO_DEPTH_DEFAULT;
}

void spio_bdev_aio_opts_init(struct spio_bdev_aio_opts *opts, size_t opts_size)
{
	struct spio_bdev_aio_opts def;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	aio_opts_defaults(&def);
	def.opts_size = opts_size;
	memcpy(opts, &def, SPIO_MIN(opts_size, sizeof(def)));
}

static const struct bdev_file_module g_aio_file_module = {
    .module = &g_aio_module,
    .product_name = "AIO disk",
    .fn_table = &g_aio_fn_table,
    .channel_create = aio_channel_create,
    .channel_destroy = aio_channel_destroy,
    .channel_size = sizeof(struct aio_channel),
};

int spio_bdev_aio_create(const struct spio_bdev_aio_opts *user_opts, struct spio_bdev **bdev_out,
			 char *err, size_t err_len)
{
	struct spio_bdev_aio_opts o;
	struct aio_disk *disk;
	int rc;

	if (user_opts == NULL || bdev_out == NULL || user_opts->opts_size == 0) {
		return bdev_create_error(err, err_len, -EINVAL, "aio bdev: invalid arguments");
	}
	/* The caller's fields over the defaults: older callers know fewer fields. */
	aio_opts_defaults(&o);
	memcpy(&o, user_opts, SPIO_MIN(user_opts->opts_size, sizeof(o)));
	if (o.nowait) {
		/* SPDK's RWF_NOWAIT retry scheme is not built: say so rather than ignore it. */
		return bdev_create_error(err, err_len, -EINVAL,
					 "aio bdev %s: nowait true: RWF_NOWAIT submission is not "
					 "supported (only false)",
					 o.name != NULL ? o.name : "");
	}
	if (o.queue_depth == 0 || o.queue_depth > AIO_DEPTH_MAX) {
		return bdev_create_error(
		    err, err_len, -EINVAL, "aio bdev %s: queue_depth %" PRIu32 ": expected 1..%u",
		    o.name != NULL ? o.name : "", o.queue_depth, AIO_DEPTH_MAX);
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		return bdev_create_error(err, err_len, -ENOMEM, "aio bdev: out of memory");
	}
	disk->queue_depth = o.queue_depth;
	rc = bdev_file_create(&disk->file, &g_aio_file_module,
			      &(struct bdev_file_opts){
				  .name = o.name,
				  .filename = o.filename,
				  .block_size = o.block_size,
				  .uuid = o.uuid,
				  .direct = o.direct,
				  .readonly = o.readonly,
				  .fallocate = o.fallocate,
			      },
			      err, err_len);
	if (rc == 0) {
		*bdev_out = &disk->file.bdev;
	}
	return rc;
}

int spio_bdev_aio_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg)
{
	return spio_bdev_unregister_by_name(name, &g_aio_module, cb, cb_arg);
}

int spio_bdev_aio_rescan(const char *name)
{
	return bdev_file_rescan(name, &g_aio_module);
}
