/* A bs_dev over a bdev (spio/blob_bdev.h, SPDK's blob_bdev): each bs_dev
 * operation is one bdev block I/O whose cb_arg is the caller's cb_args, so
 * the common path allocates nothing. Only the rare paths need a context of
 * their own (a wait entry after -ENOMEM, a completion deferred out of the
 * submit call, the zero-buffer writes of write_zeroes): those come from a
 * per-thread pool, the channel context of an io_device keyed by the bs_dev.
 *
 * Thread rules: create, claim and destroy on the opener's thread (the bdev
 * descriptor belongs to it); channels and I/O on any spio thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev_module.h"
#include "spio/blob_bdev.h"
#include "spio/log.h"
#include "spio/thread.h"

/* Bytes of the zero buffer write_zeroes writes from when the bdev lacks the type. */
#define ZERO_BUF_BYTES (64u * 1024)
/* Op contexts a channel's pool gets at once (at its creation, then when empty). */
#define OPS_PER_SLAB 32

struct blob_bdev {
	struct spio_bs_dev bs_dev;
	struct spio_bdev *bdev;
	struct spio_bdev_desc *desc;
	spio_bdev_event_cb user_event_cb;
	void *user_event_ctx;
	bool write;
	bool claimed;
	/* Set on the opener's thread at hot remove, read by every I/O thread. */
	bool removed;
	/* write_zeroes fallback: zeroes, zero_blocks blocks (whole write units). */
	void *zero_buf;
	uint64_t zero_blocks;
};

enum op_kind {
	OP_READ,
	OP_WRITE,
	OP_READV,
	OP_WRITEV,
	OP_FLUSH,
	OP_WRITE_ZEROES,
	OP_UNMAP,
	/* write_zeroes done as writes of the zero buffer, one after another */
	OP_ZERO_FILL,
};

/* One operation as submitted; lives on the stack in the common path. */
struct op_req {
	enum op_kind kind;
	void *payload; /* buffer, or the iovec array for readv/writev */
	int iovcnt;
	uint64_t lba;
	uint64_t lba_count;
	struct spio_bs_dev_cb_args *cb_args;
};

struct op_pool;

/* The context of an operation on a rare path. */
struct op_ctx {
	struct op_req req;
	struct blob_bdev *b;
	struct spio_io_channel *ch;
	struct op_pool *pool;
	struct spio_bdev_io_wait_entry wait;
	struct spio_msg msg;
	int bserrno;
	uint64_t step_blocks; /* zero fill: blocks of the write in flight */
	struct op_ctx *next_free;
};

struct op_slab {
	struct op_slab *next;
	struct op_ctx ops[OPS_PER_SLAB];
};

/* A thread's pool: the channel context of the bs_dev's io_device. */
struct op_pool {
	struct op_ctx *free;
	struct op_slab *slabs;
	/* create_channel() references held on this thread: 0 means the pool
	 * was made by a lookup from a thread that has no channel. */
	uint32_t users;
};

static void op_retry(void *arg);

static inline struct blob_bdev *to_blob_bdev(struct spio_bs_dev *dev)
{
	return SPIO_CONTAINEROF(dev, struct blob_bdev, bs_dev);
}

static bool is_removed(struct blob_bdev *b)
{
	return __atomic_load_n(&b->removed, __ATOMIC_ACQUIRE);
}

/*
 * The per-thread pool of op contexts
 */

static bool pool_grow(struct op_pool *pool)
{
	struct op_slab *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		return false;
	}
	for (int i = 0; i < OPS_PER_SLAB; i++) {
		s->ops[i].pool = pool;
		s->ops[i].next_free = pool->free;
		pool->free = &s->ops[i];
	}
	s->next = pool->slabs;
	pool->slabs = s;
	return true;
}

static int pool_create(void *io_device, void *ctx_buf)
{
	(void)io_device;
	/* one slab up front: a first -ENOMEM must not need malloc */
	return pool_grow(ctx_buf) ? 0 : -ENOMEM;
}

static void pool_destroy(void *io_device, void *ctx_buf)
{
	struct op_pool *pool = ctx_buf;
	struct op_slab *s;

	(void)io_device;
	while ((s = pool->slabs) != NULL) {
		pool->slabs = s->next;
		free(s);
	}
}

/* The calling thread's pool; NULL if it has no channel of this bs_dev. */
static struct op_pool *pool_lookup(struct blob_bdev *b)
{
	struct spio_io_channel *pch = spio_get_io_channel(b);
	struct op_pool *pool;

	if (pch == NULL) {
		return NULL;
	}
	pool = spio_io_channel_get_ctx(pch);
	/* not the last reference when a create_channel() holds one */
	spio_put_io_channel(pch);
	return pool->users > 0 ? pool : NULL;
}

static struct op_ctx *op_get(struct blob_bdev *b, struct spio_io_channel *ch,
			     const struct op_req *req)
{
	struct op_pool *pool = pool_lookup(b);
	struct op_ctx *op;

	if (pool == NULL || (pool->free == NULL && !pool_grow(pool))) {
		return NULL;
	}
	op = pool->free;
	pool->free = op->next_free;
	op->req = *req;
	op->b = b;
	op->ch = ch;
	op->bserrno = 0;
	op->step_blocks = 0;
	return op;
}

static void op_put(struct op_ctx *op)
{
	op->next_free = op->pool->free;
	op->pool->free = op;
}

/*
 * Completions
 */

/* Common path: the bdev_io's cb_arg is the caller's cb_args itself. */
static void io_done(struct spio_bdev_io *bdev_io, bool success, void *arg)
{
	struct spio_bs_dev_cb_args *cb_args = arg;

	/* freed first: a waiting operation may take it at once */
	spio_bdev_free_io(bdev_io);
	cb_args->cb_fn(cb_args->channel, cb_args->cb_arg, success ? 0 : -EIO);
}

/* End an operation that has a context; never inside the caller's submit. */
static void op_finish(struct op_ctx *op, int bserrno)
{
	struct spio_bs_dev_cb_args *cb_args = op->req.cb_args;

	/* back to the pool before the callback, which may submit again */
	op_put(op);
	cb_args->cb_fn(cb_args->channel, cb_args->cb_arg, bserrno);
}

static void op_deferred_msg(void *arg)
{
	struct op_ctx *op = arg;

	op_finish(op, op->bserrno);
}

/* Complete from the next poll of this thread: the message lives in the op,
 * and the current thread cannot have exited, so this cannot fail. */
static void op_defer(struct op_ctx *op, int bserrno)
{
	op->bserrno = bserrno;
	spio_thread_send_msg_embedded(spio_get_thread(), &op->msg, op_deferred_msg, op);
}

static void nomem_msg(void *arg)
{
	struct spio_bs_dev_cb_args *cb_args = arg;

	cb_args->cb_fn(cb_args->channel, cb_args->cb_arg, -ENOMEM);
}

/* No context could be had (no memory, or no channel on this thread): the
 * one case the contract lets fail with -ENOMEM. */
static void fail_without_ctx(struct spio_bs_dev_cb_args *cb_args, int rc)
{
	SPIO_ERRLOG("blob_bdev: no memory to queue or defer an operation (error %d)", rc);
	if (spio_thread_send_msg(spio_get_thread(), nomem_msg, cb_args) != 0) {
		/* the message pool is exhausted too: nothing left but inline */
		nomem_msg(cb_args);
	}
}

/*
 * Submission
 */

/* Hand the request to the bdev layer; its error, untouched. */
static int req_start(struct blob_bdev *b, struct spio_io_channel *ch, const struct op_req *r)
{
	struct spio_bdev_desc *d = b->desc;
	void *a = r->cb_args;

	switch (r->kind) {
	case OP_READ:
		return spio_bdev_read_blocks(d, ch, r->payload, r->lba, r->lba_count, io_done, a);
	case OP_WRITE:
		return spio_bdev_write_blocks(d, ch, r->payload, r->lba, r->lba_count, io_done, a);
	case OP_READV:
		return spio_bdev_readv_blocks(d, ch, r->payload, r->iovcnt, r->lba, r->lba_count,
					      io_done, a);
	case OP_WRITEV:
		return spio_bdev_writev_blocks(d, ch, r->payload, r->iovcnt, r->lba, r->lba_count,
					       io_done, a);
	case OP_FLUSH:
		return spio_bdev_flush_blocks(d, ch, 0, spio_bdev_get_num_blocks(b->bdev), io_done,
					      a);
	case OP_WRITE_ZEROES:
		return spio_bdev_write_zeroes_blocks(d, ch, r->lba, r->lba_count, io_done, a);
	case OP_UNMAP:
		return spio_bdev_unmap_blocks(d, ch, r->lba, r->lba_count, io_done, a);
	case OP_ZERO_FILL:
		break;
	}
	return -EINVAL;
}

/* -ENOMEM: wait for a bdev_io freed on this thread, then op_retry(). */
static void op_wait(struct op_ctx *op)
{
	int rc;

	op->wait.bdev = op->b->bdev;
	op->wait.cb_fn = op_retry;
	op->wait.cb_arg = op;
	rc = spio_bdev_queue_io_wait(op->b->bdev, op->ch, &op->wait);
	if (rc != 0) {
		/* only a channel not of this bdev and thread gets here */
		op_defer(op, rc);
	}
}

/* An operation not handed to the bdev layer now: on -ENOMEM it waits and is
 * submitted again, else it completes with `rc` (0 too) from the next poll,
 * never inside the caller's submit call. */
static void req_later(struct blob_bdev *b, struct spio_io_channel *ch, const struct op_req *r,
		      int rc)
{
	struct op_ctx *op = op_get(b, ch, r);

	if (op == NULL) {
		fail_without_ctx(r->cb_args, rc);
		return;
	}
	if (rc == -ENOMEM) {
		op_wait(op);
	} else {
		op_defer(op, rc);
	}
}

static void req_submit(struct blob_bdev *b, struct spio_io_channel *ch, const struct op_req *r)
{
	int rc = spio_unlikely(is_removed(b)) ? -ENODEV : req_start(b, ch, r);

	if (spio_unlikely(rc != 0)) {
		req_later(b, ch, r, rc);
	}
}

static void zero_step(struct op_ctx *op);

static void zero_step_done(struct spio_bdev_io *bdev_io, bool success, void *arg)
{
	struct op_ctx *op = arg;

	spio_bdev_free_io(bdev_io);
	if (!success) {
		op_finish(op, -EIO);
		return;
	}
	op->req.lba += op->step_blocks;
	op->req.lba_count -= op->step_blocks;
	if (op->req.lba_count == 0) {
		op_finish(op, 0);
		return;
	}
	zero_step(op);
}

/* Write the next piece of a zero fill from the shared zero buffer. */
static void zero_step(struct op_ctx *op)
{
	struct blob_bdev *b = op->b;
	int rc;

	op->step_blocks = SPIO_MIN(op->req.lba_count, b->zero_blocks);
	rc = is_removed(b) ? -ENODEV
			   : spio_bdev_write_blocks(b->desc, op->ch, b->zero_buf, op->req.lba,
						    op->step_blocks, zero_step_done, op);
	if (rc == -ENOMEM) {
		op_wait(op);
	} else if (rc != 0) {
		op_defer(op, rc);
	}
}

/* A bdev_io was freed on this thread: submit the waiting operation again. */
static void op_retry(void *arg)
{
	struct op_ctx *op = arg;
	int rc;

	if (op->req.kind == OP_ZERO_FILL) {
		zero_step(op);
		return;
	}
	rc = is_removed(op->b) ? -ENODEV : req_start(op->b, op->ch, &op->req);
	if (rc == 0) {
		op_put(op);
	} else if (rc == -ENOMEM) {
		op_wait(op);
	} else {
		/* deferred too: free_io may run inside anybody's call */
		op_defer(op, rc);
	}
}

/* 0 if blocks [lba, lba + count) may be written, else the bdev layer's errno. */
static int check_write_range(struct blob_bdev *b, uint64_t lba, uint64_t count)
{
	uint64_t blockcnt = spio_bdev_get_num_blocks(b->bdev);
	uint32_t wus = spio_bdev_get_write_unit_size(b->bdev);

	if (!b->write) {
		return -EBADF;
	}
	/* overflow: lba + count may wrap */
	if (count == 0 || lba >= blockcnt || count > blockcnt - lba || lba % wus != 0 ||
	    count % wus != 0) {
		return -EINVAL;
	}
	return 0;
}

/*
 * The function table
 */

static void bb_read(struct spio_bs_dev *dev, struct spio_io_channel *ch, void *payload,
		    uint64_t lba, uint32_t lba_count, struct spio_bs_dev_cb_args *cb_args)
{
	struct op_req r = {.kind = OP_READ,
			   .payload = payload,
			   .lba = lba,
			   .lba_count = lba_count,
			   .cb_args = cb_args};

	req_submit(to_blob_bdev(dev), ch, &r);
}

static void bb_write(struct spio_bs_dev *dev, struct spio_io_channel *ch, void *payload,
		     uint64_t lba, uint32_t lba_count, struct spio_bs_dev_cb_args *cb_args)
{
	struct op_req r = {.kind = OP_WRITE,
			   .payload = payload,
			   .lba = lba,
			   .lba_count = lba_count,
			   .cb_args = cb_args};

	req_submit(to_blob_bdev(dev), ch, &r);
}

static void bb_readv(struct spio_bs_dev *dev, struct spio_io_channel *ch, struct iovec *iov,
		     int iovcnt, uint64_t lba, uint32_t lba_count,
		     struct spio_bs_dev_cb_args *cb_args)
{
	struct op_req r = {.kind = OP_READV,
			   .payload = iov,
			   .iovcnt = iovcnt,
			   .lba = lba,
			   .lba_count = lba_count,
			   .cb_args = cb_args};

	req_submit(to_blob_bdev(dev), ch, &r);
}

static void bb_writev(struct spio_bs_dev *dev, struct spio_io_channel *ch, struct iovec *iov,
		      int iovcnt, uint64_t lba, uint32_t lba_count,
		      struct spio_bs_dev_cb_args *cb_args)
{
	struct op_req r = {.kind = OP_WRITEV,
			   .payload = iov,
			   .iovcnt = iovcnt,
			   .lba = lba,
			   .lba_count = lba_count,
			   .cb_args = cb_args};

	req_submit(to_blob_bdev(dev), ch, &r);
}

static void bb_flush(struct spio_bs_dev *dev, struct spio_io_channel *ch,
		     struct spio_bs_dev_cb_args *cb_args)
{
	struct blob_bdev *b = to_blob_bdev(dev);
	struct op_req r = {.kind = OP_FLUSH, .cb_args = cb_args};

	if (!is_removed(b) && !spio_bdev_io_type_supported(b->bdev, SPIO_BDEV_IO_TYPE_FLUSH)) {
		/* nothing cached to write back: done, but not inline */
		req_later(b, ch, &r, 0);
		return;
	}
	req_submit(b, ch, &r);
}

static void bb_write_zeroes(struct spio_bs_dev *dev, struct spio_io_channel *ch, uint64_t lba,
			    uint64_t lba_count, struct spio_bs_dev_cb_args *cb_args)
{
	struct blob_bdev *b = to_blob_bdev(dev);
	struct op_req r = {
	    .kind = OP_WRITE_ZEROES, .lba = lba, .lba_count = lba_count, .cb_args = cb_args};
	struct op_ctx *op;
	int rc;

	if (is_removed(b) || spio_bdev_io_type_supported(b->bdev, SPIO_BDEV_IO_TYPE_WRITE_ZEROES)) {
		req_submit(b, ch, &r);
		return;
	}
	rc = check_write_range(b, lba, lba_count);
	if (rc != 0) {
		req_later(b, ch, &r, rc);
		return;
	}
	r.kind = OP_ZERO_FILL;
	op = op_get(b, ch, &r);
	if (op == NULL) {
		fail_without_ctx(cb_args, -ENOMEM);
		return;
	}
	/* the first write's completion is deferred by the bdev layer already */
	zero_step(op);
}

static void bb_unmap(struct spio_bs_dev *dev, struct spio_io_channel *ch, uint64_t lba,
		     uint64_t lba_count, struct spio_bs_dev_cb_args *cb_args)
{
	struct blob_bdev *b = to_blob_bdev(dev);
	struct op_req r = {
	    .kind = OP_UNMAP, .lba = lba, .lba_count = lba_count, .cb_args = cb_args};

	if (!is_removed(b) && !spio_bdev_io_type_supported(b->bdev, SPIO_BDEV_IO_TYPE_UNMAP)) {
		/* unmap promises nothing about the content: done once checked */
		req_later(b, ch, &r, check_write_range(b, lba, lba_count));
		return;
	}
	req_submit(b, ch, &r);
}

static struct spio_io_channel *bb_create_channel(struct spio_bs_dev *dev)
{
	struct blob_bdev *b = to_blob_bdev(dev);
	struct spio_io_channel *ch, *pch;

	ch = spio_bdev_get_io_channel(b->desc);
	if (ch == NULL) {
		return NULL;
	}
	/* this thread's op pool lives as long as its channel */
	pch = spio_get_io_channel(b);
	if (pch == NULL) {
		spio_put_io_channel(ch);
		return NULL;
	}
	((struct op_pool *)spio_io_channel_get_ctx(pch))->users++;
	return ch;
}

static void bb_destroy_channel(struct spio_bs_dev *dev, struct spio_io_channel *ch)
{
	struct blob_bdev *b = to_blob_bdev(dev);
	struct spio_io_channel *pch = spio_get_io_channel(b);

	if (pch != NULL) {
		struct op_pool *pool = spio_io_channel_get_ctx(pch);

		if (pool->users > 0) {
			pool->users--;
			spio_put_io_channel(pch); /* create_channel()'s reference */
		}
		spio_put_io_channel(pch);
	}
	spio_put_io_channel(ch);
}

static void bb_free(void *io_device)
{
	struct blob_bdev *b = io_device;

	free(b->zero_buf);
	free(b);
}

static void bb_destroy(struct spio_bs_dev *dev)
{
	struct blob_bdev *b = to_blob_bdev(dev);

	if (b->claimed) {
		spio_bdev_module_release_bdev(b->bdev);
	}
	spio_bdev_close(b->desc);
	/* the io_device (and so b) goes once the last pool channel did */
	if (spio_io_device_unregister(b, bb_free) != 0) {
		bb_free(b);
	}
}

static struct spio_bdev *bb_get_base_bdev(struct spio_bs_dev *dev)
{
	return to_blob_bdev(dev)->bdev;
}

static bool bb_is_zeroes(struct spio_bs_dev *dev, uint64_t lba, uint64_t lba_count)
{
	(void)dev;
	(void)lba;
	(void)lba_count;
	return false;
}

static void bb_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	struct blob_bdev *b = ctx;

	if (type == SPIO_BDEV_EVENT_REMOVE) {
		__atomic_store_n(&b->removed, true, __ATOMIC_RELEASE);
	}
	if (b->user_event_cb != NULL) {
		b->user_event_cb(type, bdev, b->user_event_ctx);
	}
}

/* The zero buffer of the write_zeroes fallback: whole write units, aligned
 * as the bdev wants its buffers. */
static int zero_buf_alloc(struct blob_bdev *b)
{
	uint32_t bl = spio_bdev_get_block_size(b->bdev);
	uint32_t wus = spio_bdev_get_write_unit_size(b->bdev);
	size_t align = SPIO_MAX(spio_bdev_get_buf_align(b->bdev), (size_t)64);
	uint64_t units = SPIO_MAX(ZERO_BUF_BYTES / ((uint64_t)bl * wus), (uint64_t)1);
	size_t len;

	b->zero_blocks = units * wus;
	len = (size_t)(b->zero_blocks * bl);
	/* aligned_alloc wants a multiple of the alignment */
	b->zero_buf = aligned_alloc(align, (len + align - 1) / align * align);
	if (b->zero_buf == NULL) {
		return -ENOMEM;
	}
	memset(b->zero_buf, 0, len);
	return 0;
}

int spio_bdev_create_bs_dev(const char *bdev_name, bool write, spio_bdev_event_cb event_cb,
			    void *event_ctx, struct spio_bs_dev **bs_dev)
{
	struct blob_bdev *b;
	int rc;

	if (bdev_name == NULL || bs_dev == NULL) {
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		return -ENOMEM;
	}
	b->user_event_cb = event_cb;
	b->user_event_ctx = event_ctx;
	b->write = write;
	rc = spio_bdev_open_ext(bdev_name, write, bb_event, b, &b->desc);
	if (rc != 0) {
		free(b);
		return rc;
	}
	b->bdev = spio_bdev_desc_get_bdev(b->desc);
	if (write && !spio_bdev_io_type_supported(b->bdev, SPIO_BDEV_IO_TYPE_WRITE_ZEROES)) {
		rc = zero_buf_alloc(b);
		if (rc != 0) {
			goto fail_close;
		}
	}
	rc = spio_io_device_register(b, pool_create, pool_destroy, sizeof(struct op_pool),
				     "blob_bdev");
	if (rc != 0) {
		goto fail_close;
	}

	b->bs_dev = (struct spio_bs_dev){
	    .create_channel = bb_create_channel,
	    .destroy_channel = bb_destroy_channel,
	    .destroy = bb_destroy,
	    .read = bb_read,
	    .write = bb_write,
	    .readv = bb_readv,
	    .writev = bb_writev,
	    .flush = bb_flush,
	    .write_zeroes = bb_write_zeroes,
	    .unmap = bb_unmap,
	    .get_base_bdev = bb_get_base_bdev,
	    .is_zeroes = bb_is_zeroes,
	    .blockcnt = spio_bdev_get_num_blocks(b->bdev),
	    .blocklen = spio_bdev_get_block_size(b->bdev),
	};
	*bs_dev = &b->bs_dev;
	return 0;

fail_close:
	spio_bdev_close(b->desc);
	free(b->zero_buf);
	free(b);
	return rc;
}

/* The blob_bdev behind `bs_dev`, or NULL if it is some other bs_dev. */
static struct blob_bdev *blob_bdev_of(struct spio_bs_dev *bs_dev)
{
	return bs_dev != NULL && bs_dev->destroy == bb_destroy ? to_blob_bdev(bs_dev) : NULL;
}

int spio_bs_bdev_claim(struct spio_bs_dev *bs_dev, struct spio_bdev_module *module)
{
	struct blob_bdev *b = blob_bdev_of(bs_dev);
	int rc;

	if (b == NULL || module == NULL) {
		return -EINVAL;
	}
	if (b->claimed) {
		SPIO_ERRLOG("bdev %s: already claimed through this bs_dev",
			    spio_bdev_get_name(b->bdev));
		return -EPERM;
	}
	/* our own read-write descriptor must not count as another writer; a
	 * read-only one stays read-only */
	rc = spio_bdev_module_claim_bdev(b->bdev, b->write ? b->desc : NULL, module);
	if (rc != 0) {
		return rc;
	}
	b->claimed = true;
	return 0;
}

struct spio_bdev *spio_bs_dev_get_bdev(struct spio_bs_dev *bs_dev)
{
	struct blob_bdev *b = blob_bdev_of(bs_dev);

	return b != NULL ? b->bdev : NULL;
}
