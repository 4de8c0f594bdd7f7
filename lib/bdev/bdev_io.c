/* bdev I/O: validation, submission, completion on the submitting thread,
 * the bdev_io pool and its wait queue, and the _await twins. */
#include <errno.h>
#include <string.h>

#include "bdev_internal.h"
#include "env/fault.h"
#include "spio/log.h"
#include "spio/task.h"

static bool iovs_valid(const struct spio_bdev *bdev, const struct iovec *iov, int iovcnt,
		       uint64_t len)
{
	/* spio_bdev_get_buf_align(), without the call */
	uintptr_t mask = bdev->required_alignment > 1 ? bdev->required_alignment - 1 : 0;
	uint64_t total = 0;

	if (iov == NULL || iovcnt <= 0) {
		return false;
	}
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len != 0 && iov[i].iov_base == NULL) {
			return false;
		}
		if (((uintptr_t)iov[i].iov_base & mask) != 0) {
			return false;
		}
		total += iov[i].iov_len;
	}
	return total == len;
}

struct io_args {
	enum spio_bdev_io_type type;
	/* one buffer of the I/O's length (submit_buf): no iovec is built for it,
	 * the io's own is filled from scalars (no store-to-load forwarding stall
	 * on a 16-byte copy of a just-written iovec) */
	void *buf;
	struct iovec *iovs;
	int iovcnt;
	struct iovec *fused_iovs;
	int fused_iovcnt;
	uint64_t offset_blocks;
	uint64_t num_blocks;
};

/*
 * The thread's bdev_io cache (struct bdev_mgmt_channel). A get from the cache
 * counts as a mempool get for fault injection, so that the tests that fail
 * mempool gets still reach every -ENOMEM path.
 */
static inline struct spio_bdev_io *bdev_io_get(struct bdev_mgmt_channel *mgmt)
{
	struct spio_bdev_io *io = mgmt->cache;

	if (spio_unlikely(io == NULL)) {
		return spio_mempool_get(g_bdev_mgr.io_pool);
	}
	if (spio_unlikely(fault_hit(FAULT_MEMPOOL_GET))) {
		return NULL;
	}
	mgmt->cache = io->internal.link_next;
	mgmt->cache_count--;
	return io;
}

static inline void bdev_io_put(struct bdev_mgmt_channel *mgmt, struct spio_bdev_io *io)
{
	if (spio_unlikely(mgmt->cache_count >= mgmt->cache_size)) {
		spio_mempool_put(g_bdev_mgr.io_pool, io);
		return;
	}
	io->internal.link_next = mgmt->cache;
	mgmt->cache = io;
	mgmt->cache_count++;
}

size_t bdev_io_free_count(void)
{
	size_t n;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	n = spio_mempool_count(g_bdev_mgr.io_pool);
	for (struct bdev_mgmt_channel *m = g_bdev_mgr.mgmt_channels; m != NULL; m = m->next) {
		n += __atomic_load_n(&m->cache_count, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return n;
}

int bdev_mgmt_cache_fill(struct bdev_mgmt_channel *mgmt, uint32_t size)
{
	mgmt->pool_gen = __atomic_load_n(&g_bdev_mgr.pool_gen, __ATOMIC_ACQUIRE);
	mgmt->cache_size = size;
	while (mgmt->cache_count < size) {
		struct spio_bdev_io *io = spio_mempool_get(g_bdev_mgr.io_pool);

		if (io == NULL) {
			SPIO_ERRLOG("bdev_io pool: %zu free, %u needed for a thread's cache "
				    "(bdev_io_pool_size too small for bdev_io_cache_size)",
				    spio_mempool_count(g_bdev_mgr.io_pool) + mgmt->cache_count,
				    size);
			bdev_mgmt_cache_drain(mgmt);
			return -ENOMEM;
		}
		io->internal.link_next = mgmt->cache;
		mgmt->cache = io;
		mgmt->cache_count++;
	}
	return 0;
}

void bdev_mgmt_cache_drain(struct bdev_mgmt_channel *mgmt)
{
	/* a pool freed since (a failed init) took the cached ios' memory with it */
	bool pool_alive = mgmt->pool_gen == __atomic_load_n(&g_bdev_mgr.pool_gen, __ATOMIC_ACQUIRE);

	while (mgmt->cache != NULL) {
		struct spio_bdev_io *io = mgmt->cache;

		mgmt->cache = io->internal.link_next;
		if (pool_alive) {
			spio_mempool_put(g_bdev_mgr.io_pool, io);
		}
	}
	mgmt->cache_count = 0;
}

/* Run the oldest waiter's callback (it may queue itself again). */
static void mgmt_wait_wake_one(struct bdev_mgmt_channel *mgmt)
{
	struct spio_bdev_io_wait_entry *e = mgmt->wait_head;

	if (e != NULL) {
		mgmt->wait_head = e->next_;
		if (mgmt->wait_head == NULL) {
			mgmt->wait_tail = NULL;
		}
		e->cb_fn(e->cb_arg);
	}
}

static int mgmt_wait_poll(void *arg)
{
	struct bdev_mgmt_channel *mgmt = arg;

	if (mgmt->wait_head == NULL) {
		spio_poller_unregister(&mgmt->wait_poller);
		return SPIO_POLLER_IDLE;
	}
	mgmt_wait_wake_one(mgmt);
	return SPIO_POLLER_BUSY;
}

/*
 * A waiter is woken by the next bdev_io freed on its thread. With none in
 * flight there (the pool emptied by other threads, or a get failed by fault
 * injection) that free never comes and the I/O would hang: a timed poller
 * also retries the waiters, one per run, until none is left. If it cannot be
 * registered, the frees still wake them.
 */
static void mgmt_wait_enqueue(struct bdev_mgmt_channel *mgmt, struct spio_bdev_io_wait_entry *e)
{
	e->next_ = NULL;
	if (mgmt->wait_tail != NULL) {
		mgmt->wait_tail->next_ = e;
	} else {
		mgmt->wait_head = e;
	}
	mgmt->wait_tail = e;
	if (mgmt->wait_poller == NULL) {
		mgmt->wait_poller =
		    spio_poller_register_named(mgmt_wait_poll, mgmt, 100, "bdev_io_wait");
	}
}

/*
 * Splitting: reads and writes that cross the optimal I/O boundary (when the
 * module asked for it) or exceed its maximum size are cut into children
 * issued one after another; the parent completes when the last one did, or
 * at the first failure.
 */

static uint64_t split_child_blocks(const struct spio_bdev_io *io, uint64_t offset,
				   uint64_t remaining)
{
	const struct spio_bdev *bdev = io->bdev;
	uint64_t n = remaining;

	if (bdev->split_on_optimal_io_boundary && bdev->optimal_io_boundary != 0) {
		n = SPIO_MIN(n, bdev->optimal_io_boundary - offset % bdev->optimal_io_boundary);
	}
	if (bdev->max_rw_size != 0) {
		n = SPIO_MIN(n, bdev->max_rw_size);
	}
	return n;
}

/* The module's segment limits: does the request's iovec list break them? */
static bool iovs_exceed_segment_limits(const struct spio_bdev_io *io)
{
	const struct spio_bdev *bdev = io->bdev;

	if (bdev->max_num_segments != 0 && (uint32_t)io->u.iovcnt > bdev->max_num_segments) {
		return true;
	}
	if (bdev->max_segment_size != 0) {
		for (int i = 0; i < io->u.iovcnt; i++) {
			if (io->u.iovs[i].iov_len > bdev->max_segment_size) {
				return true;
			}
		}
	}
	return false;
}

static bool bdev_io_needs_split(const struct spio_bdev_io *io)
{
	if (io->type != SPIO_BDEV_IO_TYPE_READ && io->type != SPIO_BDEV_IO_TYPE_WRITE) {
		return false;
	}
	return split_child_blocks(io, io->u.offset_blocks, io->u.num_blocks) < io->u.num_blocks ||
	       iovs_exceed_segment_limits(io);
}

/*
 * Point child->internal.child_iov at `len` bytes of the parent's iovecs from
 * byte `skip`: at most SPIO_BDEV_IO_CHILD_IOVS entries (or the module's
 * max_num_segments), each at most max_segment_size bytes, so fewer bytes may
 * be covered. Returns the bytes covered.
 */
static uint64_t split_slice_iovs(struct spio_bdev_io *parent, struct spio_bdev_io *child,
				 uint64_t skip, uint64_t len)
{
	const struct spio_bdev *bdev = parent->bdev;
	int max_n = SPIO_BDEV_IO_CHILD_IOVS;
	uint64_t max_seg = bdev->max_segment_size != 0 ? bdev->max_segment_size : UINT64_MAX;
	uint64_t covered = 0;
	int n = 0;

	if (bdev->max_num_segments != 0 && bdev->max_num_segments < (uint32_t)max_n) {
		max_n = (int)bdev->max_num_segments;
	}
	for (int i = 0; i < parent->u.iovcnt && covered < len; i++) {
		struct iovec *src = &parent->u.iovs[i];

		if (skip >= src->iov_len) {
			skip -= src->iov_len;
			continue;
		}
		/* One source iovec may become several segments. */
		while (skip < src->iov_len && covered < len) {
			uint64_t take =
			    SPIO_MIN(SPIO_MIN(src->iov_len - skip, len - covered), max_seg);

			if (n == max_n) {
				goto out;
			}
			child->internal.child_iov[n].iov_base = (uint8_t *)src->iov_base + skip;
			child->internal.child_iov[n].iov_len = take;
			n++;
			covered += take;
			skip += take;
		}
		skip = 0;
	}
out:
	child->u.iovs = child->internal.child_iov;
	child->u.iovcnt = n;
	return covered;
}

static void bdev_io_split_next(struct spio_bdev_io *parent);

static void split_child_done(struct spio_bdev_io *child, bool success, void *cb_arg)
{
	struct spio_bdev_io *parent = cb_arg;
	uint64_t blocks = child->u.num_blocks;

	spio_bdev_free_io(child);
	if (!success) {
		spio_bdev_io_complete(parent, SPIO_BDEV_IO_STATUS_FAILED);
		return;
	}
	parent->internal.split_done_blocks += blocks;
	if (parent->internal.split_done_blocks == parent->u.num_blocks) {
		spio_bdev_io_complete(parent, SPIO_BDEV_IO_STATUS_SUCCESS);
		return;
	}
	bdev_io_split_next(parent);
}

static void split_retry(void *arg)
{
	bdev_io_split_next(arg);
}

static void bdev_io_split_next(struct spio_bdev_io *parent)
{
	struct spio_bdev *bdev = parent->bdev;
	uint64_t done = parent->internal.split_done_blocks;
	uint64_t offset = parent->u.offset_blocks + done;
	uint64_t blocks = split_child_blocks(parent, offset, parent->u.num_blocks - done);
	uint64_t bytes, covered;
	struct bdev_mgmt_channel *mgmt = bdev_mgmt_from_bdev_channel(parent->internal.ch);
	struct spio_bdev_io *child;

	child = bdev_io_get(mgmt);
	if (child == NULL) {
		/* no bdev_io: go on when one is freed on this thread */
		struct spio_bdev_io_wait_entry *e = &parent->internal.split_wait;

		e->bdev = bdev;
		e->cb_fn = split_retry;
		e->cb_arg = parent;
		mgmt_wait_enqueue(mgmt, e);
		return;
	}
	bytes = blocks * bdev->blocklen;
	covered = split_slice_iovs(parent, child, done * bdev->blocklen, bytes);
	if (covered < bytes) {
		/* out of child iovecs: stop at the last whole block */
		blocks = covered / bdev->blocklen;
		if (blocks == 0) {
			SPIO_ERRLOG("bdev %s: one block spans more than %d iovecs", bdev->name,
				    SPIO_BDEV_IO_CHILD_IOVS);
			bdev_io_put(mgmt, child);
			spio_bdev_io_complete(parent, SPIO_BDEV_IO_STATUS_FAILED);
			return;
		}
		split_slice_iovs(parent, child, done * bdev->blocklen, blocks * bdev->blocklen);
	}

	child->bdev = bdev;
	child->type = parent->type;
	child->u.fused_iovs = NULL;
	child->u.fused_iovcnt = 0;
	child->u.offset_blocks = offset;
	child->u.num_blocks = blocks;
	child->internal.desc = parent->internal.desc;
	child->internal.ch = parent->internal.ch;
	child->internal.thread = parent->internal.thread;
	child->internal.cb = split_child_done;
	child->internal.cb_arg = parent;
	child->internal.status = SPIO_BDEV_IO_STATUS_PENDING;
	child->internal.submit_tsc = spio_get_ticks();
	child->internal.is_child = true;
	bdev_desc_get_io(child->internal.desc, child->internal.ch, child);

	child->internal.in_submit = true;
	bdev->fn_table->submit_request(parent->internal.ch->module_ch, child);
	child->internal.in_submit = false;
}

static int bdev_io_submit(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			  struct io_args *a, spio_bdev_io_completion_cb cb, void *cb_arg)
{
	struct spio_thread *thread = spio_get_thread();
	struct spio_bdev_channel *bch;
	struct spio_bdev *bdev;
	struct spio_bdev_io *io;
	uint64_t bytes = 0; /* the I/O's length; 0 for a reset */
	bool writes;

	if (desc == NULL || ch == NULL || cb == NULL || desc->closed || thread == NULL) {
		return -EINVAL;
	}
	bdev = desc->bdev;
	if (spio_io_channel_get_io_device(ch) != bdev) {
		return -EINVAL;
	}
	bch = spio_io_channel_get_ctx(ch);
	if (bch->thread != thread) {
		return -EINVAL;
	}
	/* spio_bdev_io_type_supported() without its checks: `type` comes from us */
	if (!bdev->fn_table->io_type_supported(bdev->ctxt, a->type)) {
		return -ENOTSUP;
	}
	writes = bdev_io_type_writes(a->type);
	if (writes && !desc->write) {
		return -EBADF;
	}
	if (a->type != SPIO_BDEV_IO_TYPE_RESET) {
		/* overflow: offset + num may wrap */
		uint64_t blockcnt = __atomic_load_n(&bdev->blockcnt, __ATOMIC_ACQUIRE);

		if (a->num_blocks == 0 || a->offset_blocks >= blockcnt ||
		    a->num_blocks > blockcnt - a->offset_blocks) {
			return -EINVAL;
		}
		/* overflow of the length in bytes (no division on the hot path) */
		if (__builtin_mul_overflow(a->num_blocks, (uint64_t)bdev->blocklen, &bytes)) {
			return -EINVAL;
		}
	}
	/* a write unit of 0 or 1 block (most bdevs) needs no division */
	if (writes && bdev->write_unit_size > 1 &&
	    (a->offset_blocks % bdev->write_unit_size != 0 ||
	     a->num_blocks % bdev->write_unit_size != 0)) {
		return -EINVAL;
	}
	if (a->buf != NULL) {
		/* non-NULL and of the right length by construction: only the alignment */
		if (bdev->required_alignment > 1 &&
		    ((uintptr_t)a->buf & (bdev->required_alignment - 1)) != 0) {
			return -EINVAL;
		}
	} else if (a->iovs != NULL || a->type == SPIO_BDEV_IO_TYPE_READ ||
		   a->type == SPIO_BDEV_IO_TYPE_WRITE || a->type == SPIO_BDEV_IO_TYPE_COMPARE ||
		   a->type == SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE) {
		if (!iovs_valid(bdev, a->iovs, a->iovcnt, bytes)) {
			return -EINVAL;
		}
	}
	if (a->type == SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE &&
	    !iovs_valid(bdev, a->fused_iovs, a->fused_iovcnt, bytes)) {
		return -EINVAL;
	}

	io = bdev_io_get(bch->mgmt);
	if (io == NULL) {
		return -ENOMEM;
	}
	io->bdev = bdev;
	io->type = a->type;
	/* single buffers were staged in caller-owned iovecs: move them into the io */
	if (a->buf != NULL) {
		io->internal.iov[0].iov_base = a->buf;
		io->internal.iov[0].iov_len = bytes;
		io->u.iovs = &io->internal.iov[0];
		io->u.iovcnt = 1;
	} else if (a->iovcnt == 1) {
		io->internal.iov[0] = a->iovs[0];
		io->u.iovs = &io->internal.iov[0];
		io->u.iovcnt = 1;
	} else {
		io->u.iovs = a->iovs;
		io->u.iovcnt = a->iovcnt;
	}
	if (a->fused_iovcnt == 1) {
		io->internal.iov[1] = a->fused_iovs[0];
		io->u.fused_iovs = &io->internal.iov[1];
	} else {
		io->u.fused_iovs = a->fused_iovs;
	}
	io->u.fused_iovcnt = a->fused_iovcnt;
	io->u.offset_blocks = a->offset_blocks;
	io->u.num_blocks = a->num_blocks;
	io->internal.desc = desc;
	io->internal.ch = bch;
	io->internal.thread = thread;
	io->internal.cb = cb;
	io->internal.cb_arg = cb_arg;
	io->internal.status = SPIO_BDEV_IO_STATUS_PENDING;
	io->internal.submit_tsc = spio_get_ticks();
	bdev_desc_get_io(desc, bch, io);

	io->internal.is_child = false;

	if (spio_unlikely(bch->qos_gen != __atomic_load_n(&g_bdev_qos_gen, __ATOMIC_RELAXED))) {
		bdev_qos_resync(bch);
	}
	if (spio_unlikely(bch->qos != NULL) && bdev_qos_queue_io(bch, io)) {
		return 0; /* over a rate limit: started in a later time slice */
	}
	bdev_io_start(bch, io);
	return 0;
}

void bdev_io_start(struct spio_bdev_channel *bch, struct spio_bdev_io *io)
{
	/* no range locked on the bdev (the common case): no lock check */
	if (spio_unlikely(bch->ranges != NULL) && bdev_io_blocked_by_lock(bch, io)) {
		/* submitted by the unlock traversal */
		bdev_io_list_add(&bch->io_locked, io);
		return;
	}
	bdev_io_list_add(&bch->io_outstanding, io);
	bdev_io_submit_to_module(io);
}

void bdev_io_submit_to_module(struct spio_bdev_io *io)
{
	io->internal.in_submit = true;
	if (bdev_io_needs_split(io)) {
		io->internal.split_done_blocks = 0;
		bdev_io_split_next(io);
	} else {
		io->bdev->fn_table->submit_request(io->internal.ch->module_ch, io);
	}
	io->internal.in_submit = false;
}

/* `now`: the clock when the completion is handed to the caller. */
static void bdev_io_complete_final(struct spio_bdev_io *io, uint64_t now)
{
	/* cb may free io */
	struct spio_bdev_desc *desc = io->internal.desc;
	struct spio_bdev_channel *ch = io->internal.ch;
	uint8_t hold = io->internal.desc_hold;
	bool success = io->internal.status == SPIO_BDEV_IO_STATUS_SUCCESS;

	if (!io->internal.is_child) {
		/* one clock reading serves the statistics and the caller */
		io->internal.complete_tsc = now;
		bdev_stat_record(&ch->stat, io, success, now - io->internal.submit_tsc);
		if (spio_unlikely(ch->hist != NULL)) {
			bdev_histogram_tally(ch->hist, io, now - io->internal.submit_tsc);
		}
		bdev_io_list_del(&ch->io_outstanding, io);
		if (spio_unlikely(ch->lock_waits != NULL)) {
			bdev_channel_io_done(ch);
		}
	}
	io->internal.cb(io, success, io->internal.cb_arg);
	bdev_desc_put_io(desc, ch, hold);
}

static void bdev_io_complete_msg(void *arg)
{
	bdev_io_complete_final(arg, spio_get_ticks());
}

/*
 * The completions a synchronous module (null, malloc) made inside its submit
 * calls since the last poll, in one pass: one message and one clock reading
 * for the batch, as SPDK's null bdev completes from a poller. The channel
 * outlives the pass: its destruction is itself a message to this thread,
 * and callbacks that complete more start a new list and a new message.
 */
static void bdev_channel_run_completions(void *arg)
{
	struct spio_bdev_channel *ch = arg;
	struct spio_bdev_io *io = ch->cpl_head, *next;
	uint64_t now = spio_get_ticks();

	ch->cpl_head = ch->cpl_tail = NULL;
	for (; io != NULL; io = next) {
		next = io->internal.cpl_next;
		bdev_io_complete_final(io, now);
	}
}

static void bdev_channel_defer_completion(struct spio_bdev_channel *ch, struct spio_bdev_io *io)
{
	io->internal.cpl_next = NULL;
	if (ch->cpl_tail != NULL) {
		ch->cpl_tail->internal.cpl_next = io;
		ch->cpl_tail = io;
		return;
	}
	ch->cpl_head = ch->cpl_tail = io;
	/* to this thread: cannot fail (it is running) */
	spio_thread_send_msg_embedded(ch->thread, &ch->cpl_batch_msg, bdev_channel_run_completions,
				      ch);
}

void spio_bdev_io_complete(struct spio_bdev_io *io, enum spio_bdev_io_status status)
{
	struct spio_thread *current;

	if (io == NULL) {
		return;
	}
	if (status == SPIO_BDEV_IO_STATUS_PENDING) {
		status = SPIO_BDEV_IO_STATUS_FAILED;
	}
	io->internal.status = status;
	current = spio_get_thread();
	if (spio_likely(current == io->internal.thread)) {
		if (io->internal.in_submit) {
			/* never complete inside the submit call */
			bdev_channel_defer_completion(io->internal.ch, io);
		} else {
			bdev_io_complete_final(io, spio_get_ticks());
		}
		return;
	}
	/* Never complete on a foreign thread. The message lives in the I/O, so
	 * it cannot be lost; the thread cannot have exited while its channel has
	 * I/O in flight. */
	spio_thread_send_msg_embedded(io->internal.thread, &io->internal.cpl_msg,
				      bdev_io_complete_msg, io);
}

uint64_t spio_bdev_io_get_latency_ticks(const struct spio_bdev_io *io)
{
	return io->internal.complete_tsc - io->internal.submit_tsc;
}

enum spio_bdev_io_status spio_bdev_io_get_status(const struct spio_bdev_io *io)
{
	return io != NULL ? io->internal.status : SPIO_BDEV_IO_STATUS_FAILED;
}

void *spio_bdev_io_get_driver_ctx(struct spio_bdev_io *io)
{
	return io->driver_ctx;
}

struct spio_bdev_io *spio_bdev_io_from_ctx(void *ctx)
{
	return SPIO_CONTAINEROF(ctx, struct spio_bdev_io, driver_ctx);
}

void spio_bdev_free_io(struct spio_bdev_io *io)
{
	struct bdev_mgmt_channel *mgmt;

	if (io == NULL) {
		return;
	}
	mgmt = bdev_mgmt_from_bdev_channel(io->internal.ch);
	bdev_io_put(mgmt, io);
	mgmt_wait_wake_one(mgmt);
}

int spio_bdev_queue_io_wait(struct spio_bdev *bdev, struct spio_io_channel *ch,
			    struct spio_bdev_io_wait_entry *entry)
{
	struct bdev_mgmt_channel *mgmt;

	if (bdev == NULL || ch == NULL || entry == NULL || entry->bdev != bdev ||
	    entry->cb_fn == NULL || spio_io_channel_get_io_device(ch) != bdev ||
	    spio_io_channel_get_thread(ch) != spio_get_thread()) {
		return -EINVAL;
	}
	mgmt = bdev_mgmt_from_bdev_channel(spio_io_channel_get_ctx(ch));
	mgmt_wait_enqueue(mgmt, entry);
	return 0;
}

/*
 * Submit functions
 */

static bool bytes_to_blocks(struct spio_bdev_desc *desc, uint64_t offset, uint64_t nbytes,
			    uint64_t *offset_blocks, uint64_t *num_blocks)
{
	uint32_t bl;

	if (desc == NULL) {
		return false;
	}
	bl = desc->bdev->blocklen;
	if (offset % bl != 0 || nbytes % bl != 0) {
		return false;
	}
	*offset_blocks = offset / bl;
	*num_blocks = nbytes / bl;
	return true;
}

static int submit_buf(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
		      enum spio_bdev_io_type type, void *buf, uint64_t offset_blocks,
		      uint64_t num_blocks, spio_bdev_io_completion_cb cb, void *cb_arg)
{
	struct io_args a = {
	    .type = type, .buf = buf, .offset_blocks = offset_blocks, .num_blocks = num_blocks};
	uint64_t len;

	if (desc == NULL || buf == NULL) {
		return -EINVAL;
	}
	/* overflow: the product is checked again in bdev_io_submit */
	if (__builtin_mul_overflow(num_blocks, (uint64_t)desc->bdev->blocklen, &len)) {
		return -EINVAL;
	}
	return bdev_io_submit(desc, ch, &a, cb, cb_arg);
}

static int submit_iov(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
		      enum spio_bdev_io_type type, struct iovec *iov, int iovcnt,
		      uint64_t offset_blocks, uint64_t num_blocks, spio_bdev_io_completion_cb cb,
		      void *cb_arg)
{
	struct io_args a = {.type = type,
			    .iovs = iov,
			    .iovcnt = iovcnt,
			    .offset_blocks = offset_blocks,
			    .num_blocks = num_blocks};

	if (iov == NULL || iovcnt <= 0) {
		return -EINVAL;
	}
	return bdev_io_submit(desc, ch, &a, cb, cb_arg);
}

static int submit_nodata(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			 enum spio_bdev_io_type type, uint64_t offset_blocks, uint64_t num_blocks,
			 spio_bdev_io_completion_cb cb, void *cb_arg)
{
	struct io_args a = {.type = type, .offset_blocks = offset_blocks, .num_blocks = num_blocks};

	return bdev_io_submit(desc, ch, &a, cb, cb_arg);
}

int spio_bdev_read_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			  uint64_t offset_blocks, uint64_t num_blocks,
			  spio_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_buf(desc, ch, SPIO_BDEV_IO_TYPE_READ, buf, offset_blocks, num_blocks, cb,
			  cb_arg);
}

int spio_bdev_read(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
		   uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return spio_bdev_read_blocks(desc, ch, buf, ob, nb, cb, cb_arg);
}

int spio_bdev_readv_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			   uint64_t num_blocks, spio_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_iov(desc, ch, SPIO_BDEV_IO_TYPE_READ, iov, iovcnt, offset_blocks, num_blocks,
			  cb, cb_arg);
}

int spio_bdev_readv(struct spio_bdev_desc *desc, struct spio_io_channel *ch, struct iovec *iov,
		    int iovcnt, uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb,
		    void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return spio_bdev_readv_blocks(desc, ch, iov, iovcnt, ob, nb, cb, cb_arg);
}

int spio_bdev_write_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   spio_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_buf(desc, ch, SPIO_BDEV_IO_TYPE_WRITE, buf, offset_blocks, num_blocks, cb,
			  cb_arg);
}

int spio_bdev_write(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
		    uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return spio_bdev_write_blocks(desc, ch, buf, ob, nb, cb, cb_arg);
}

int spio_bdev_writev_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			    struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			    uint64_t num_blocks, spio_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_iov(desc, ch, SPIO_BDEV_IO_TYPE_WRITE, iov, iovcnt, offset_blocks, num_blocks,
			  cb, cb_arg);
}

int spio_bdev_writev(struct spio_bdev_desc *desc, struct spio_io_channel *ch, struct iovec *iov,
		     int iovcnt, uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb,
		     void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return spio_bdev_writev_blocks(desc, ch, iov, iovcnt, ob, nb, cb, cb_arg);
}

int spio_bdev_write_zeroes_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				  uint64_t offset_blocks, uint64_t num_blocks,
				  spio_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_nodata(desc, ch, SPIO_BDEV_IO_TYPE_WRITE_ZEROES, offset_blocks, num_blocks,
			     cb, cb_arg);
}

int spio_bdev_unmap_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   spio_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_nodata(desc, ch, SPIO_BDEV_IO_TYPE_UNMAP, offset_blocks, num_blocks, cb,
			     cb_arg);
}

int spio_bdev_write_zeroes(struct spio_bdev_desc *desc, struct spio_io_channel *ch, uint64_t offset,
			   uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return spio_bdev_write_zeroes_blocks(desc, ch, ob, nb, cb, cb_arg);
}

int spio_bdev_unmap(struct spio_bdev_desc *desc, struct spio_io_channel *ch, uint64_t offset,
		    uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return spio_bdev_unmap_blocks(desc, ch, ob, nb, cb, cb_arg);
}

int spio_bdev_flush(struct spio_bdev_desc *desc, struct spio_io_channel *ch, uint64_t offset,
		    uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return spio_bdev_flush_blocks(desc, ch, ob, nb, cb, cb_arg);
}

int spio_bdev_compare(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
		      uint64_t offset, uint64_t nbytes, spio_bdev_io_completion_cb cb, void *cb_arg)
{
	uint64_t ob, nb;

	if (!bytes_to_blocks(desc, offset, nbytes, &ob, &nb)) {
		return -EINVAL;
	}
	return spio_bdev_compare_blocks(desc, ch, buf, ob, nb, cb, cb_arg);
}

int spio_bdev_flush_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   uint64_t offset_blocks, uint64_t num_blocks,
			   spio_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_nodata(desc, ch, SPIO_BDEV_IO_TYPE_FLUSH, offset_blocks, num_blocks, cb,
			     cb_arg);
}

int spio_bdev_reset(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
		    spio_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_nodata(desc, ch, SPIO_BDEV_IO_TYPE_RESET, 0, 0, cb, cb_arg);
}

int spio_bdev_compare_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			     uint64_t offset_blocks, uint64_t num_blocks,
			     spio_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_buf(desc, ch, SPIO_BDEV_IO_TYPE_COMPARE, buf, offset_blocks, num_blocks, cb,
			  cb_arg);
}

int spio_bdev_comparev_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			      struct iovec *iov, int iovcnt, uint64_t offset_blocks,
			      uint64_t num_blocks, spio_bdev_io_completion_cb cb, void *cb_arg)
{
	return submit_iov(desc, ch, SPIO_BDEV_IO_TYPE_COMPARE, iov, iovcnt, offset_blocks,
			  num_blocks, cb, cb_arg);
}

int spio_bdev_compare_and_write_blocks(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				       void *cmp_buf, void *write_buf, uint64_t offset_blocks,
				       uint64_t num_blocks, spio_bdev_io_completion_cb cb,
				       void *cb_arg)
{
	struct iovec iov[2];
	struct io_args a = {.type = SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE,
			    .iovs = &iov[0],
			    .iovcnt = 1,
			    .fused_iovs = &iov[1],
			    .fused_iovcnt = 1,
			    .offset_blocks = offset_blocks,
			    .num_blocks = num_blocks};

	if (desc == NULL || cmp_buf == NULL || write_buf == NULL ||
	    num_blocks > UINT64_MAX / desc->bdev->blocklen) {
		return -EINVAL;
	}
	iov[0].iov_base = cmp_buf;
	iov[0].iov_len = num_blocks * desc->bdev->blocklen;
	iov[1].iov_base = write_buf;
	iov[1].iov_len = iov[0].iov_len;
	return bdev_io_submit(desc, ch, &a, cb, cb_arg);
}

/*
 * _await twins
 */

static void await_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	int rc = 0;

	if (!success) {
		rc = spio_bdev_io_get_status(io) == SPIO_BDEV_IO_STATUS_MISCOMPARE ? -EILSEQ : -EIO;
	}
	spio_bdev_free_io(io);
	spio_completion_done(cb_arg, rc);
}

/* Start `call` (a submit expression using await_done and &c) and await it. */
#define BDEV_AWAIT(call)                               \
	do {                                           \
		struct spio_completion c;              \
		if (spio_task_current() == NULL) {     \
			return -EPERM;                 \
		}                                      \
		spio_completion_init(&c);              \
		return spio_await_started(&c, (call)); \
	} while (0)

int spio_bdev_read_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			 uint64_t offset, uint64_t nbytes)
{
	BDEV_AWAIT(spio_bdev_read(desc, ch, buf, offset, nbytes, await_done, &c));
}

int spio_bdev_read_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
				uint64_t offset_blocks, uint64_t num_blocks)
{
	BDEV_AWAIT(spio_bdev_read_blocks(desc, ch, buf, offset_blocks, num_blocks, await_done, &c));
}

int spio_bdev_readv_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			  struct iovec *iov, int iovcnt, uint64_t offset, uint64_t nbytes)
{
	BDEV_AWAIT(spio_bdev_readv(desc, ch, iov, iovcnt, offset, nbytes, await_done, &c));
}

int spio_bdev_write_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
			  uint64_t offset, uint64_t nbytes)
{
	BDEV_AWAIT(spio_bdev_write(desc, ch, buf, offset, nbytes, await_done, &c));
}

int spio_bdev_write_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch, void *buf,
				 uint64_t offset_blocks, uint64_t num_blocks)
{
	BDEV_AWAIT(
	    spio_bdev_write_blocks(desc, ch, buf, offset_blocks, num_blocks, await_done, &c));
}

int spio_bdev_writev_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			   struct iovec *iov, int iovcnt, uint64_t offset, uint64_t nbytes)
{
	BDEV_AWAIT(spio_bdev_writev(desc, ch, iov, iovcnt, offset, nbytes, await_done, &c));
}

int spio_bdev_write_zeroes_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
					uint64_t offset_blocks, uint64_t num_blocks)
{
	BDEV_AWAIT(
	    spio_bdev_write_zeroes_blocks(desc, ch, offset_blocks, num_blocks, await_done, &c));
}

int spio_bdev_unmap_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				 uint64_t offset_blocks, uint64_t num_blocks)
{
	BDEV_AWAIT(spio_bdev_unmap_blocks(desc, ch, offset_blocks, num_blocks, await_done, &c));
}

int spio_bdev_flush_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				 uint64_t offset_blocks, uint64_t num_blocks)
{
	BDEV_AWAIT(spio_bdev_flush_blocks(desc, ch, offset_blocks, num_blocks, await_done, &c));
}

int spio_bdev_reset_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch)
{
	BDEV_AWAIT(spio_bdev_reset(desc, ch, await_done, &c));
}

int spio_bdev_compare_blocks_await(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
				   void *buf, uint64_t offset_blocks, uint64_t num_blocks)
{
	BDEV_AWAIT(
	    spio_bdev_compare_blocks(desc, ch, buf, offset_blocks, num_blocks, await_done, &c));
}

int spio_bdev_compare_and_write_blocks_await(struct spio_bdev_desc *desc,
					     struct spio_io_channel *ch, void *cmp_buf,
					     void *write_buf, uint64_t offset_blocks,
					     uint64_t num_blocks)
{
	BDEV_AWAIT(spio_bdev_compare_and_write_blocks(desc, ch, cmp_buf, write_buf, offset_blocks,
						      num_blocks, await_done, &c));
}
