/*
 * A bs_dev in memory (spio_bs_dev_mem_create): one anonymous private
 * mapping, so blocks never written cost nothing and unmap / write_zeroes
 * give whole pages back to the kernel.
 *
 * Every operation is done at once with memcpy; its completion is queued on
 * the submitting thread's channel and delivered by one message per batch
 * (embedded in the channel, so delivering cannot fail for lack of messages).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spio/blob_bdev.h"
#include "spio/log.h"
#include "spio/thread.h"
#include "spio/util.h"

struct mem_dev {
	struct spio_bs_dev base;
	uint8_t *data;
	size_t size;
};

struct mem_cpl {
	struct spio_bs_dev_cb_args *cb_args;
	int rc;
};

/* A growable array of completions. */
struct cpl_queue {
	struct mem_cpl *v;
	uint32_t n;
	uint32_t cap;
};

struct mem_channel {
	struct cpl_queue pending;  /* appended by submissions */
	struct cpl_queue draining; /* being delivered by the message */
	struct spio_msg msg;
	bool scheduled;
};

#define CPL_QUEUE_INITIAL 64

static int mem_channel_create(void *io_device, void *ctx_buf)
{
	struct mem_channel *mc = ctx_buf;

	mc->pending.v = calloc(CPL_QUEUE_INITIAL, sizeof(*mc->pending.v));
	if (mc->pending.v == NULL) {
		return -ENOMEM;
	}
	mc->pending.cap = CPL_QUEUE_INITIAL;
	return 0;
}

static void mem_channel_destroy(void *io_device, void *ctx_buf)
{
	struct mem_channel *mc = ctx_buf;

	if (mc->pending.n != 0 || mc->scheduled) {
		SPIO_ERRLOG("memory bs_dev %p: channel released with %" PRIu32
			    " completions not delivered\n",
			    io_device, mc->pending.n);
	}
	free(mc->pending.v);
	free(mc->draining.v);
}

/* Deliver what was queued when the message was sent; later completions wait for the next one. */
static void mem_deliver(void *ctx)
{
	struct mem_channel *mc = ctx;
	struct cpl_queue q = mc->pending;

	mc->pending = mc->draining;
	mc->draining = q;
	mc->scheduled = false;
	for (uint32_t i = 0; i < mc->draining.n; i++) {
		struct spio_bs_dev_cb_args *a = mc->draining.v[i].cb_args;

		a->cb_fn(a->channel, a->cb_arg, mc->draining.v[i].rc);
	}
	mc->draining.n = 0;
}

/* A completion whose queue could not grow: -ENOMEM through an ordinary message. */
static void mem_deliver_enomem(void *ctx)
{
	struct spio_bs_dev_cb_args *a = ctx;

	a->cb_fn(a->channel, a->cb_arg, -ENOMEM);
}

/* Reserve a completion slot first: an operation that cannot be completed is not done. */
static bool mem_reserve(struct mem_channel *mc)
{
	struct mem_cpl *v;
	uint32_t cap;

	if (mc->pending.n < mc->pending.cap) {
		return true;
	}
	cap = mc->pending.cap != 0 ? mc->pending.cap * 2 : CPL_QUEUE_INITIAL;
	v = cap > mc->pending.cap ? realloc(mc->pending.v, (size_t)cap * sizeof(*v)) : NULL;
	if (v == NULL) {
		return false;
	}
	mc->pending.v = v;
	mc->pending.cap = cap;
	return true;
}

static void mem_complete(struct spio_io_channel *ch, struct spio_bs_dev_cb_args *cb_args, int rc)
{
	struct mem_channel *mc = spio_io_channel_get_ctx(ch);

	mc->pending.v[mc->pending.n++] = (struct mem_cpl){.cb_args = cb_args, .rc = rc};
	if (!mc->scheduled) {
		mc->scheduled = true;
		if (spio_thread_send_msg_embedded(spio_get_thread(), &mc->msg, mem_deliver, mc) !=
		    0) {
			SPIO_ERRLOG("memory bs_dev: thread exited, completions lost\n");
		}
	}
}

/*
 * Start an operation: the byte range of [lba, lba + count) or an error.
 * \return 0 to go on (the range in *off / *len), 1 if the completion is
 *         already arranged (a range error, or no room to queue one).
 */
static int mem_start(struct spio_bs_dev *dev, struct spio_io_channel *ch, uint64_t lba,
		     uint64_t count, struct spio_bs_dev_cb_args *cb_args, size_t *off, size_t *len)
{
	struct mem_channel *mc = spio_io_channel_get_ctx(ch);

	if (!mem_reserve(mc)) {
		SPIO_ERRLOG("memory bs_dev %p: no memory to queue a completion\n", (void *)dev);
		if (spio_thread_send_msg(spio_get_thread(), mem_deliver_enomem, cb_args) != 0) {
			SPIO_ERRLOG("memory bs_dev %p: completion lost\n", (void *)dev);
		}
		return 1;
	}
	if (lba > dev->blockcnt || count > dev->blockcnt - lba) {
		SPIO_ERRLOG("memory bs_dev %p: blocks %" PRIu64 "+%" PRIu64 " beyond %" PRIu64 "\n",
			    (void *)dev, lba, count, dev->blockcnt);
		mem_complete(ch, cb_args, -EINVAL);
		return 1;
	}
	*off = lba * dev->blocklen;
	*len = count * dev->blocklen;
	return 0;
}

static void mem_read(struct spio_bs_dev *dev, struct spio_io_channel *ch, void *payload,
		     uint64_t lba, uint32_t lba_count, struct spio_bs_dev_cb_args *cb_args)
{
	struct mem_dev *m = (struct mem_dev *)dev;
	size_t off, len;

	if (mem_start(dev, ch, lba, lba_count, cb_args, &off, &len) == 0) {
		if (payload == NULL && len != 0) {
			mem_complete(ch, cb_args, -EINVAL);
			return;
		}
		if (len != 0) {
			memcpy(payload, m->data + off, len);
		}
		mem_complete(ch, cb_args, 0);
	}
}

static void mem_write(struct spio_bs_dev *dev, struct spio_io_channel *ch, void *payload,
		      uint64_t lba, uint32_t lba_count, struct spio_bs_dev_cb_args *cb_args)
{
	struct mem_dev *m = (struct mem_dev *)dev;
	size_t off, len;

	if (mem_start(dev, ch, lba, lba_count, cb_args, &off, &len) == 0) {
		if (payload == NULL && len != 0) {
			mem_complete(ch, cb_args, -EINVAL);
			return;
		}
		if (len != 0) {
			memcpy(m->data + off, payload, len);
		}
		mem_complete(ch, cb_args, 0);
	}
}

/* The iovecs must hold at least the range; -EINVAL otherwise. */
static bool mem_iov_ok(struct spio_bs_dev *dev, struct iovec *iov, int iovcnt, size_t len)
{
	if (len == 0) {
		return true;
	}
	if (iov == NULL || iovcnt <= 0 || spio_iov_length(iov, iovcnt) < len) {
		SPIO_ERRLOG("memory bs_dev %p: %d iovecs do not hold %zu bytes\n", (void *)dev,
			    iovcnt, len);
		return false;
	}
	return true;
}

static void mem_readv(struct spio_bs_dev *dev, struct spio_io_channel *ch, struct iovec *iov,
		      int iovcnt, uint64_t lba, uint32_t lba_count,
		      struct spio_bs_dev_cb_args *cb_args)
{
	struct mem_dev *m = (struct mem_dev *)dev;
	size_t off, len;

	if (mem_start(dev, ch, lba, lba_count, cb_args, &off, &len) != 0) {
		return;
	}
	if (!mem_iov_ok(dev, iov, iovcnt, len)) {
		mem_complete(ch, cb_args, -EINVAL);
		return;
	}
	spio_copy_buf_to_iovs(iov, iovcnt, m->data + off, len);
	mem_complete(ch, cb_args, 0);
}

static void mem_writev(struct spio_bs_dev *dev, struct spio_io_channel *ch, struct iovec *iov,
		       int iovcnt, uint64_t lba, uint32_t lba_count,
		       struct spio_bs_dev_cb_args *cb_args)
{
	struct mem_dev *m = (struct mem_dev *)dev;
	size_t off, len;

	if (mem_start(dev, ch, lba, lba_count, cb_args, &off, &len) != 0) {
		return;
	}
	if (!mem_iov_ok(dev, iov, iovcnt, len)) {
		mem_complete(ch, cb_args, -EINVAL);
		return;
	}
	spio_copy_iovs_to_buf(m->data + off, len, iov, iovcnt);
	mem_complete(ch, cb_args, 0);
}

static void mem_flush(struct spio_bs_dev *dev, struct spio_io_channel *ch,
		      struct spio_bs_dev_cb_args *cb_args)
{
	size_t off, len;

	if (mem_start(dev, ch, 0, 0, cb_args, &off, &len) == 0) {
		mem_complete(ch, cb_args, 0);
	}
}

/* Zero a range: whole pages go back to the kernel (they read as zeroes again), the edges are
 * cleared. */
static void mem_zero(struct mem_dev *m, size_t off, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t first = (off + pg - 1) / pg * pg;
	size_t last = (off + len) / pg * pg;

	if (first >= last || madvise(m->data + first, last - first, MADV_DONTNEED) != 0) {
		memset(m->data + off, 0, len);
		return;
	}
	memset(m->data + off, 0, first - off);
	memset(m->data + last, 0, off + len - last);
}

static void mem_write_zeroes(struct spio_bs_dev *dev, struct spio_io_channel *ch, uint64_t lba,
			     uint64_t lba_count, struct spio_bs_dev_cb_args *cb_args)
{
	size_t off, len;

	if (mem_start(dev, ch, lba, lba_count, cb_args, &off, &len) == 0) {
		mem_zero((struct mem_dev *)dev, off, len);
		mem_complete(ch, cb_args, 0);
	}
}

static struct spio_io_channel *mem_create_channel(struct spio_bs_dev *dev)
{
	return spio_get_io_channel(dev);
}

static void mem_destroy_channel(struct spio_bs_dev *dev, struct spio_io_channel *channel)
{
	spio_put_io_channel(channel);
}

static void mem_free(void *io_device)
{
	struct mem_dev *m = io_device;

	munmap(m->data, m->size);
	free(m);
}

static void mem_destroy(struct spio_bs_dev *dev)
{
	int rc = spio_io_device_unregister(dev, mem_free);

	if (rc != 0) {
		/* Not on a spio thread: no channel can be left, so free now. */
		SPIO_ERRLOG("memory bs_dev %p: unregister failed (%d), freeing at once\n",
			    (void *)dev, rc);
		mem_free(dev);
	}
}

struct spio_bs_dev *spio_bs_dev_mem_create(uint64_t blockcnt, uint32_t blocklen)
{
	struct mem_dev *m;
	int rc;

	if (blocklen < 512 || (blocklen & (blocklen - 1)) != 0 || blockcnt == 0 ||
	    blockcnt > SIZE_MAX / blocklen) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	m->size = blockcnt * blocklen;
	/* NORESERVE: a large device that is mostly never written must not need that much memory. */
	m->data = mmap(NULL, m->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->data == MAP_FAILED) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	m->base = (struct spio_bs_dev){
	    .create_channel = mem_create_channel,
	    .destroy_channel = mem_destroy_channel,
	    .destroy = mem_destroy,
	    .read = mem_read,
	    .write = mem_write,
	    .readv = mem_readv,
	    .writev = mem_writev,
	    .flush = mem_flush,
	    .write_zeroes = mem_write_zeroes,
	    .unmap = mem_write_zeroes,
	    .blockcnt = blockcnt,
	    .blocklen = blocklen,
	};
	rc = spio_io_device_register(m, mem_channel_create, mem_channel_destroy,
				     sizeof(struct mem_channel), "bs_dev_mem");
	if (rc != 0) {
		munmap(m->data, m->size);
		free(m);
		errno = -rc;
		return NULL;
	}
	return &m->base;
}

void *spio_bs_dev_mem_data(struct spio_bs_dev *bs_dev)
{
	if (bs_dev == NULL || bs_dev->destroy != mem_destroy) {
		return NULL;
	}
	return ((struct mem_dev *)bs_dev)->data;
}
