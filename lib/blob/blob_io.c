/*
 * Blob I/O: the six spio_blob_io_* calls, thin allocation (claim, copy,
 * insert), and the two cluster helpers other operations share
 * (blob_copy_cluster, blob_insert_cluster).
 *
 * A request walks its range one piece at a time, a piece ending at a
 * cluster boundary (or earlier, when its iovecs do not fit one device
 * operation). Allocated pieces go to the device; unallocated reads go to
 * the blob's back device (zeroes, or the parent blob); unallocated writes
 * first allocate the cluster: the md thread claims one, this thread copies
 * the parent's cluster into it, the md thread inserts it into the map. The
 * request then runs the piece again and finds the cluster.
 *
 * Before each piece the request looks at the blob's freeze count: a frozen
 * blob's request waits in the channel until blob_unfreeze_io().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/dma.h"
#include "spio/log.h"
#include "spio/util.h"

static void req_run(struct blob_io_req *req);

/*
 * Deferred completions
 */

struct deferred_cpl {
	spio_blob_op_complete cb_fn;
	void *cb_arg;
	int rc;
};

static void deferred_cpl_run(void *arg)
{
	struct deferred_cpl d = *(struct deferred_cpl *)arg;

	free(arg);
	d.cb_fn(d.cb_arg, d.rc);
}

/* cb_fn(cb_arg, rc) later on this thread, for failures without a request to carry them. */
static void defer_cpl(spio_blob_op_complete cb_fn, void *cb_arg, int rc)
{
	struct deferred_cpl *d = malloc(sizeof(*d));

	if (d != NULL) {
		*d = (struct deferred_cpl){.cb_fn = cb_fn, .cb_arg = cb_arg, .rc = rc};
		if (spio_thread_send_msg(spio_get_thread(), deferred_cpl_run, d) == 0) {
			return;
		}
		free(d);
	}
	/* No memory and no message: calling back at once is better than never. */
	SPIO_ERRLOG("blob I/O: cannot defer a completion (%d), calling back at once\n", rc);
	cb_fn(cb_arg, rc);
}

/*
 * The caller's buffer: a position (iov_idx, iov_off) that moves as pieces finish
 */

static void pos_advance(struct blob_io_req *req, size_t bytes)
{
	while (req->iov_idx < req->iovcnt) {
		size_t avail = req->iov[req->iov_idx].iov_len - req->iov_off;

		if (bytes < avail) {
			req->iov_off += bytes;
			return;
		}
		bytes -= avail;
		req->iov_idx++;
		req->iov_off = 0;
		if (bytes == 0) {
			break;
		}
	}
}

/* Visit `bytes` bytes from the position as spans; fn(span, len, arg). */
static void pos_walk(const struct blob_io_req *req, size_t bytes,
		     void (*fn)(void *span, size_t len, void *arg), void *arg)
{
	int idx = req->iov_idx;
	size_t off = req->iov_off;

	while (bytes > 0 && idx < req->iovcnt) {
		size_t len = req->iov[idx].iov_len - off;

		if (len > bytes) {
			len = bytes;
		}
		fn((char *)req->iov[idx].iov_base + off, len, arg);
		bytes -= len;
		idx++;
		off = 0;
	}
}

static void span_zero(void *span, size_t len, void *arg)
{
	(void)arg;
	memset(span, 0, len);
}

static void span_to_buf(void *span, size_t len, void *arg)
{
	char **p = arg;

	memcpy(*p, span, len);
	*p += len;
}

static void span_from_buf(void *span, size_t len, void *arg)
{
	char **p = arg;

	memcpy(span, *p, len);
	*p += len;
}

/*
 * The iovecs of the next device operation: at most BLOB_IO_IOV_MAX entries
 * from the position, at most max_bytes, cut down to whole io units.
 * \return the bytes in req->sub[0..subcnt); 0 if not even one io unit fits.
 */
static size_t build_sub(struct blob_io_req *req, size_t max_bytes, size_t unit)
{
	int idx = req->iov_idx;
	size_t off = req->iov_off;
	size_t bytes = 0, drop;
	int n = 0;

	while (n < BLOB_IO_IOV_MAX && bytes < max_bytes && idx < req->iovcnt) {
		size_t len = req->iov[idx].iov_len - off;

		if (len > max_bytes - bytes) {
			len = max_bytes - bytes;
		}
		if (len > 0) {
			req->sub[n].iov_base = (char *)req->iov[idx].iov_base + off;
			req->sub[n].iov_len = len;
			n++;
			bytes += len;
		}
		idx++;
		off = 0;
	}
	drop = bytes % unit;
	bytes -= drop;
	while (drop > 0) {
		if (req->sub[n - 1].iov_len <= drop) {
			drop -= req->sub[n - 1].iov_len;
			n--;
		} else {
			req->sub[n - 1].iov_len -= drop;
			drop = 0;
		}
	}
	req->subcnt = n;
	return bytes;
}

/*
 * Finishing
 */

static void req_finish_now(struct blob_io_req *req)
{
	struct bs_channel *ch = req->ch;
	spio_blob_op_complete cb_fn = req->cb_fn;
	void *cb_arg = req->cb_arg;
	int rc = req->rc;

	if (!req->internal) {
		ch->user_ops--;
	}
	/* Back in the pool before the callback, which may submit again. */
	TAILQ_INSERT_HEAD(&ch->free_reqs, req, link);
	cb_fn(cb_arg, rc);
}

static void req_finish_msg(void *arg)
{
	req_finish_now(arg);
}

static void req_finish(struct blob_io_req *req)
{
	if (!req->in_submit) {
		req_finish_now(req);
		return;
	}
	if (spio_thread_send_msg_embedded(req->ch->thread, &req->msg, req_finish_msg, req) != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": thread exited, I/O completion lost\n",
			    req->blob->id);
	}
}

/*
 * Device operations of a piece
 */

static void bounce_release(struct bs_channel *ch)
{
	struct blob_io_req *w = TAILQ_FIRST(&ch->bounce_waiters);

	ch->bounce_busy = false;
	if (w != NULL) {
		TAILQ_REMOVE(&ch->bounce_waiters, w, link);
		req_run(w);
	}
}

static void piece_done(struct spio_io_channel *channel, void *cb_arg, int rc)
{
	struct blob_io_req *req = cb_arg;
	struct bs_channel *ch = req->ch;
	size_t iou = ch->bs->io_unit_size;
	bool bounced = req->bounced;

	(void)channel;
	if (bounced) {
		char *p = ch->bounce;

		req->bounced = false;
		if (rc == 0 && req->op == BLOB_IO_READ) {
			pos_walk(req, iou, span_from_buf, &p);
		}
	}
	if (rc != 0) {
		req->rc = rc;
	} else if (req->op == BLOB_IO_READ || req->op == BLOB_IO_WRITE) {
		pos_advance(req, req->piece * iou);
	}
	req->done += req->piece;
	req->piece = 0;
	if (bounced) {
		/* A waiter gets the bounce buffer before this request can take it again. */
		bounce_release(ch);
	}
	req_run(req);
}

/*
 * The iovecs for `units` io units from the position: req->sub, or the
 * channel's bounce buffer when the caller's iovecs are finer than an io unit.
 * \return io units the operation covers; 0 if it must wait for the bounce buffer.
 */
static uint64_t piece_iovs(struct blob_io_req *req, uint64_t units)
{
	struct bs_channel *ch = req->ch;
	size_t iou = ch->bs->io_unit_size;
	size_t bytes = build_sub(req, units * iou, iou);
	char *p;

	if (bytes > 0) {
		return bytes / iou;
	}
	if (ch->bounce_busy) {
		TAILQ_INSERT_TAIL(&ch->bounce_waiters, req, link);
		return 0;
	}
	ch->bounce_busy = true;
	req->bounced = true;
	if (req->op == BLOB_IO_WRITE) {
		p = ch->bounce;
		pos_walk(req, iou, span_to_buf, &p);
	}
	req->sub[0] = (struct iovec){.iov_base = ch->bounce, .iov_len = iou};
	req->subcnt = 1;
	return 1;
}

static void dev_args_set(struct blob_io_req *req, struct spio_io_channel *channel)
{
	req->dev_args =
	    (struct spio_bs_dev_cb_args){.cb_fn = piece_done, .channel = channel, .cb_arg = req};
}

/* Read or write `units` io units at device lba `lba` (of the store's device). \return 1. */
static int piece_dev_rw(struct blob_io_req *req, uint64_t lba, uint64_t units)
{
	struct spio_blob_store *bs = req->ch->bs;
	struct spio_bs_dev *dev = bs->dev;
	struct spio_io_channel *dch = req->ch->dev_channel;
	uint32_t count;

	units = piece_iovs(req, units);
	if (units == 0) {
		return 1;
	}
	req->piece = units;
	count = (uint32_t)bs_io_units_to_blocks(bs, units);
	dev_args_set(req, dch);
	if (req->op == BLOB_IO_READ) {
		if (req->subcnt == 1) {
			dev->read(dev, dch, req->sub[0].iov_base, lba, count, &req->dev_args);
		} else {
			dev->readv(dev, dch, req->sub, req->subcnt, lba, count, &req->dev_args);
		}
	} else {
		if (req->subcnt == 1) {
			dev->write(dev, dch, req->sub[0].iov_base, lba, count, &req->dev_args);
		} else {
			dev->writev(dev, dch, req->sub, req->subcnt, lba, count, &req->dev_args);
		}
	}
	return 1;
}

/* Read `units` io units at the blob's io unit `pos` from its back device. \return 1 or < 0. */
static int piece_back_read(struct blob_io_req *req, struct spio_bs_dev *back, uint64_t pos,
			   uint64_t units)
{
	size_t iou = req->ch->bs->io_unit_size;

	if (back->blocklen > iou || iou % back->blocklen != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": back device block %" PRIu32
			    " does not divide the io unit %zu\n",
			    req->blob->id, back->blocklen, iou);
		return -EINVAL;
	}
	units = piece_iovs(req, units);
	if (units == 0) {
		return 1;
	}
	req->piece = units;
	/* A back device reads with this thread's blobstore channel (see blob_internal.h). */
	dev_args_set(req, spio_io_channel_from_ctx(req->ch));
	back->readv(back, req->dev_args.channel, req->sub, req->subcnt,
		    pos * (iou / back->blocklen), (uint32_t)(units * (iou / back->blocklen)),
		    &req->dev_args);
	return 1;
}

/*
 * Thin allocation. Runs on this thread and the md thread in turns, by the
 * request's embedded message:
 *   alloc_start -> [md] alloc_claim -> alloc_claimed -> (blob_copy_cluster)
 *   -> [md] alloc_insert -> [md] alloc_inserted -> alloc_end
 * A cluster the request cannot use is given back on the md thread, cleared
 * first (the blob's clear method) if data was copied into it.
 */

static void alloc_end(struct blob_io_req *req, int rc);
static void alloc_give_back(struct blob_io_req *req);

static void alloc_end_msg(void *arg)
{
	struct blob_io_req *req = arg;

	alloc_end(req, req->alloc_rc);
}

/* From the md thread back to the request's thread. */
static void alloc_reply(struct blob_io_req *req, int rc, spio_msg_fn fn)
{
	req->alloc_rc = rc;
	if (spio_thread_send_msg_embedded(req->ch->thread, &req->msg, fn, req) != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": I/O thread exited during an allocation\n",
			    req->blob->id);
	}
}

/* From the request's thread to the md thread; on failure the allocation ends with -EIO. */
static void alloc_to_md(struct blob_io_req *req, spio_msg_fn fn)
{
	if (spio_thread_send_msg_embedded(req->ch->bs->md_thread, &req->msg, fn, req) != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": blobstore md thread gone, allocation failed\n",
			    req->blob->id);
		alloc_end(req, -EIO);
	}
}

static void alloc_released(void *arg)
{
	struct blob_io_req *req = arg;

	bs_release_cluster(req->ch->bs, req->alloc_new);
	req->alloc_new = 0;
	alloc_reply(req, req->alloc_rc, alloc_end_msg);
}

static void alloc_cleared(struct spio_io_channel *channel, void *cb_arg, int rc)
{
	struct blob_io_req *req = cb_arg;

	(void)channel;
	if (rc != 0) {
		SPIO_WARNLOG("blob 0x%" PRIx64 ": clearing unused cluster %" PRIu64 " failed: %d\n",
			     req->blob->id, req->alloc_new, rc);
	}
	alloc_to_md(req, alloc_released);
}

static void alloc_give_back(struct blob_io_req *req)
{
	struct spio_blob_store *bs = req->ch->bs;
	struct spio_bs_dev *dev = bs->dev;
	uint64_t lba = bs_cluster_to_lba(bs, req->alloc_new);
	uint64_t count = bs->geo.cluster_size / dev->blocklen;

	req->dev_args = (struct spio_bs_dev_cb_args){
	    .cb_fn = alloc_cleared, .channel = req->ch->dev_channel, .cb_arg = req};
	if (!req->alloc_copied || req->blob->clear_method == SPIO_BLOB_CLEAR_WITH_NONE) {
		alloc_to_md(req, alloc_released);
	} else if (req->blob->clear_method == SPIO_BLOB_CLEAR_WITH_WRITE_ZEROES) {
		dev->write_zeroes(dev, req->ch->dev_channel, lba, count, &req->dev_args);
	} else {
		dev->unmap(dev, req->ch->dev_channel, lba, count, &req->dev_args);
	}
}

static void alloc_give_back_msg(void *arg)
{
	alloc_give_back(arg);
}

static void alloc_inserted(void *arg, int rc)
{
	struct blob_io_req *req = arg;
	struct spio_blob *blob = req->blob;
	bool published = req->alloc_cluster < blob->active.num_clusters &&
			 blob_cluster_get(blob, req->alloc_cluster) == req->alloc_new;

	if (rc == -EEXIST) {
		/* Another writer won: run again, the cluster is there now. */
		rc = 0;
	}
	if (published) {
		/* In the map even if its metadata write failed (the blob stays dirty). */
		req->alloc_new = 0;
		alloc_reply(req, rc, alloc_end_msg);
	} else if (req->alloc_copied) {
		alloc_reply(req, rc, alloc_give_back_msg);
	} else {
		bs_release_cluster(blob->bs, req->alloc_new);
		req->alloc_new = 0;
		alloc_reply(req, rc, alloc_end_msg);
	}
}

static void alloc_insert_now(struct blob_io_req *req)
{
	if (req->blob->parent_id != req->alloc_parent) {
		/* Snapshot, inflate or merge changed what the cluster reads through to while the
		 * blob was frozen: the copy may be stale. Start over. */
		alloc_inserted(req, -EEXIST);
		return;
	}
	blob_insert_cluster(req->blob, req->alloc_cluster, req->alloc_new, alloc_inserted, req);
}

static void alloc_insert_unfrozen(void *arg, int rc)
{
	(void)rc;
	alloc_insert_now(arg);
}

static void alloc_insert(void *arg)
{
	struct blob_io_req *req = arg;

	if (blob_is_frozen(req->blob)) {
		blob_run_when_unfrozen(req->blob, &req->alloc_unfrozen, alloc_insert_unfrozen, req);
		return;
	}
	alloc_insert_now(req);
}

static void alloc_copied(void *arg, int rc)
{
	struct blob_io_req *req = arg;

	if (rc != 0) {
		req->alloc_rc = rc;
		alloc_give_back(req);
		return;
	}
	alloc_to_md(req, alloc_insert);
}

static void alloc_claimed(void *arg)
{
	struct blob_io_req *req = arg;
	struct spio_blob *blob = req->blob;

	if (req->alloc_rc != 0 || req->alloc_new == 0) {
		/* -EEXIST (someone else's, run again) becomes 0 there. */
		alloc_end(req, req->alloc_rc == -EEXIST ? 0 : req->alloc_rc);
		return;
	}
	if (blob_is_frozen(blob)) {
		/* Its back device may change under the freeze: give the cluster back, and the
		 * request waits for the unfreeze and starts again. */
		alloc_give_back(req);
		return;
	}
	if (blob->back_bs_dev == NULL || bs_dev_is_zeroes(blob->back_bs_dev)) {
		/* A thin blob without parent: nothing to copy, and SPDK does not zero it. */
		alloc_to_md(req, alloc_insert);
		return;
	}
	req->alloc_copied = true;
	blob_copy_cluster(blob, spio_io_channel_from_ctx(req->ch), req->alloc_cluster,
			  req->alloc_new, alloc_copied, req);
}

static void alloc_claim(void *arg)
{
	struct blob_io_req *req = arg;
	struct spio_blob *blob = req->blob;
	int rc = 0;

	if (req->alloc_cluster >= blob->active.num_clusters) {
		rc = -EINVAL; /* shrunk meanwhile */
	} else if (blob_cluster_get(blob, req->alloc_cluster) != 0 || blob_is_frozen(blob)) {
		/* Someone else's now, or frozen: the request runs again (and waits). */
		rc = -EEXIST;
	} else {
		req->alloc_new = bs_claim_cluster(blob->bs);
		if (req->alloc_new == 0) {
			rc = -ENOSPC;
		}
		req->alloc_parent = blob->parent_id;
	}
	alloc_reply(req, rc, alloc_claimed);
}

static void alloc_end(struct blob_io_req *req, int rc)
{
	struct blob_io_req_list waiters = TAILQ_HEAD_INITIALIZER(waiters);
	struct blob_io_req *w;

	TAILQ_REMOVE(&req->ch->allocating, req, link);
	TAILQ_CONCAT(&waiters, &req->alloc_waiters, link);
	if (rc != 0) {
		req->rc = rc;
	}
	req_run(req);
	/* The waiters run their piece again: they find the cluster, or try themselves. */
	while ((w = TAILQ_FIRST(&waiters)) != NULL) {
		TAILQ_REMOVE(&waiters, w, link);
		req_run(w);
	}
}

/* Allocate the blob's cluster `c` for this request. \return 1 (in progress) or < 0. */
static int alloc_start(struct blob_io_req *req, uint64_t c)
{
	struct bs_channel *ch = req->ch;
	struct blob_io_req *a;

	TAILQ_FOREACH (a, &ch->allocating, link) {
		if (a->blob == req->blob && a->alloc_cluster == c) {
			TAILQ_INSERT_TAIL(&a->alloc_waiters, req, link);
			return 1;
		}
	}
	req->alloc_cluster = c;
	req->alloc_new = 0;
	req->alloc_rc = 0;
	req->alloc_copied = false;
	TAILQ_INIT(&req->alloc_waiters);
	TAILQ_INSERT_TAIL(&ch->allocating, req, link);
	if (spio_thread_send_msg_embedded(ch->bs->md_thread, &req->msg, alloc_claim, req) != 0) {
		TAILQ_REMOVE(&ch->allocating, req, link);
		SPIO_ERRLOG("blob 0x%" PRIx64 ": blobstore md thread gone, cannot allocate\n",
			    req->blob->id);
		return -EIO;
	}
	return 1;
}

/*
 * Running a request
 */

/* \return 1 if a device operation (or an allocation, or a wait) is in flight, 0 if the piece
 * was done at once, < 0 on error. */
static int req_piece(struct blob_io_req *req)
{
	struct spio_blob *blob = req->blob;
	struct spio_blob_store *bs = req->ch->bs;
	uint64_t upc = bs->io_units_per_cluster;
	uint64_t pos = req->offset + req->done;
	uint64_t c = pos / upc, in = pos % upc;
	uint64_t units = req->length - req->done;
	uint64_t pc = blob_cluster_get(blob, c);
	struct spio_bs_dev *back = blob->back_bs_dev;
	bool back_zeroes = back == NULL || bs_dev_is_zeroes(back);
	uint64_t lba;

	if (units > upc - in) {
		units = upc - in;
	}
	lba = pc != 0 ? bs_cluster_to_lba(bs, pc) + bs_io_units_to_blocks(bs, in) : 0;
	switch (req->op) {
	case BLOB_IO_READ:
		if (pc != 0) {
			return piece_dev_rw(req, lba, units);
		}
		if (!back_zeroes) {
			return piece_back_read(req, back, pos, units);
		}
		pos_walk(req, units * bs->io_unit_size, span_zero, NULL);
		pos_advance(req, units * bs->io_unit_size);
		break;
	case BLOB_IO_WRITE:
		if (pc != 0) {
			return piece_dev_rw(req, lba, units);
		}
		return alloc_start(req, c);
	case BLOB_IO_UNMAP:
		if (pc != 0) {
			req->piece = units;
			dev_args_set(req, req->ch->dev_channel);
			bs->dev->unmap(bs->dev, req->ch->dev_channel, lba,
				       bs_io_units_to_blocks(bs, units), &req->dev_args);
			return 1;
		}
		break;
	case BLOB_IO_WRITE_ZEROES:
		if (pc != 0) {
			req->piece = units;
			dev_args_set(req, req->ch->dev_channel);
			bs->dev->write_zeroes(bs->dev, req->ch->dev_channel, lba,
					      bs_io_units_to_blocks(bs, units), &req->dev_args);
			return 1;
		}
		if (!back_zeroes) {
			/* It reads the parent's data now: it needs its own cluster. */
			return alloc_start(req, c);
		}
		break;
	}
	/* Nothing to do for an unallocated cluster that reads zeroes already. */
	req->done += units;
	return 0;
}

/* A 0-length write allocates the cluster at offset (SPDK's way to touch a cluster). */
static int req_touch(struct blob_io_req *req)
{
	uint64_t c = req->offset / req->ch->bs->io_units_per_cluster;

	if (req->offset == spio_blob_get_num_io_units(req->blob) ||
	    blob_cluster_get(req->blob, c) != 0) {
		req->touch = false;
		return 0;
	}
	return alloc_start(req, c);
}

/* Checks that depend on the blob's state, made again before every piece. */
static int req_check(struct blob_io_req *req)
{
	uint64_t size = spio_blob_get_num_io_units(req->blob);

	if (req->offset > size || req->length > size - req->offset) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": io units %" PRIu64 "+%" PRIu64
			    " beyond its %" PRIu64 "\n",
			    req->blob->id, req->offset, req->length, size);
		return -EINVAL;
	}
	if (req->op != BLOB_IO_READ && __atomic_load_n(&req->blob->data_ro, __ATOMIC_RELAXED)) {
		return -EPERM;
	}
	return 0;
}

static void req_run(struct blob_io_req *req)
{
	int rc;

	while (req->rc == 0 && (req->done < req->length || req->touch)) {
		if (blob_is_frozen(req->blob)) {
			TAILQ_INSERT_TAIL(&req->ch->held, req, link);
			return;
		}
		rc = req_check(req);
		if (rc == 0) {
			rc = req->touch ? req_touch(req) : req_piece(req);
		}
		if (rc > 0) {
			return;
		}
		if (rc < 0) {
			req->rc = rc;
		}
	}
	req_finish(req);
}

void blob_io_resume_held(struct bs_channel *ch, struct spio_blob *blob)
{
	struct blob_io_req_list resume = TAILQ_HEAD_INITIALIZER(resume);
	struct blob_io_req *req, *next;

	if (blob_is_frozen(blob)) {
		return;
	}
	for (req = TAILQ_FIRST(&ch->held); req != NULL; req = next) {
		next = TAILQ_NEXT(req, link);
		if (req->blob == blob) {
			TAILQ_REMOVE(&ch->held, req, link);
			TAILQ_INSERT_TAIL(&resume, req, link);
		}
	}
	while ((req = TAILQ_FIRST(&resume)) != NULL) {
		TAILQ_REMOVE(&resume, req, link);
		req_run(req);
	}
}

/*
 * Submission
 */

/* The caller's buffer: one payload, or iovecs (readv / writev, and the internal read). */
struct io_buf {
	void *payload;
	bool vectored;
	struct iovec *iov;
	int iovcnt;
};

/* Argument checks that need no look at the blob's state. \return 0 or -EINVAL. */
static int io_check_buffer(enum blob_io_op op, const struct io_buf *buf, uint64_t length,
			   bool internal, const char *what, size_t iou)
{
	size_t total;

	if (length > SIZE_MAX / iou) {
		return -EINVAL;
	}
	if (buf->vectored) {
		if (buf->iovcnt < 0 || (buf->iovcnt > 0 && buf->iov == NULL)) {
			return -EINVAL;
		}
		total = spio_iov_length(buf->iov, buf->iovcnt);
		if (internal ? total < length * iou : total != length * iou) {
			SPIO_ERRLOG("%s: iovecs hold %zu bytes, not %" PRIu64 " io units of %zu\n",
				    what, total, length, iou);
			return -EINVAL;
		}
	} else if ((op == BLOB_IO_READ || op == BLOB_IO_WRITE) && buf->payload == NULL &&
		   length != 0) {
		return -EINVAL;
	}
	return 0;
}

/* The one submission path: the public calls and the internal read differ only in op, buffer,
 * whether the request counts against the channel's user ops, and the name in messages. */
static void io_submit(enum blob_io_op op, struct spio_blob *blob, struct spio_io_channel *channel,
		      const struct io_buf *buf, uint64_t offset, uint64_t length,
		      spio_blob_op_complete cb_fn, void *cb_arg, bool internal, const char *what)
{
	struct bs_channel *ch;
	struct blob_io_req *req;

	if (blob == NULL || channel == NULL || cb_fn == NULL) {
		SPIO_ERRLOG("%s: NULL blob, channel or callback\n", what);
		return;
	}
	if (spio_io_channel_get_thread(channel) != spio_get_thread()) {
		SPIO_ERRLOG("%s: blob 0x%" PRIx64 ": channel of another thread\n", what, blob->id);
		return;
	}
	if (spio_io_channel_get_io_device(channel) != blob->bs) {
		SPIO_ERRLOG("%s: blob 0x%" PRIx64 ": not a channel of its blobstore\n", what,
			    blob->id);
		defer_cpl(cb_fn, cb_arg, -EINVAL);
		return;
	}
	ch = spio_io_channel_get_ctx(channel);
	req = TAILQ_FIRST(&ch->free_reqs);
	if (req == NULL || (!internal && ch->user_ops >= ch->max_user_ops)) {
		defer_cpl(cb_fn, cb_arg, -ENOMEM);
		return;
	}
	TAILQ_REMOVE(&ch->free_reqs, req, link);
	if (!internal) {
		ch->user_ops++;
	}
	req->blob = blob;
	req->op = op;
	req->internal = internal;
	req->bounced = false;
	req->touch = op == BLOB_IO_WRITE && length == 0;
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	req->offset = offset;
	req->length = length;
	req->done = 0;
	req->piece = 0;
	req->iov_idx = 0;
	req->iov_off = 0;
	if (buf->vectored) {
		req->iov = buf->iov;
		req->iovcnt = buf->iovcnt;
	} else {
		req->one = (struct iovec){.iov_base = buf->payload,
					  .iov_len = length * ch->bs->io_unit_size};
		req->iov = &req->one;
		req->iovcnt = 1;
	}
	req->rc = io_check_buffer(op, buf, length, internal, what, ch->bs->io_unit_size);
	req->in_submit = true;
	req_run(req);
	/* Still ours: a completion found during the call was deferred, not delivered. */
	req->in_submit = false;
}

void blob_io_read_internal(struct spio_blob *blob, struct spio_io_channel *channel, void *payload,
			   struct iovec *iov, int iovcnt, uint64_t offset, uint64_t length,
			   spio_blob_op_complete cb_fn, void *cb_arg)
{
	struct io_buf buf = {
	    .payload = payload, .vectored = iov != NULL, .iov = iov, .iovcnt = iovcnt};

	io_submit(BLOB_IO_READ, blob, channel, &buf, offset, length, cb_fn, cb_arg, true,
		  "blob back device read");
}

void spio_blob_io_read(struct spio_blob *blob, struct spio_io_channel *channel, void *payload,
		       uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn, void *cb_arg)
{
	io_submit(BLOB_IO_READ, blob, channel, &(struct io_buf){.payload = payload}, offset, length,
		  cb_fn, cb_arg, false, __func__);
}

void spio_blob_io_write(struct spio_blob *blob, struct spio_io_channel *channel, void *payload,
			uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn, void *cb_arg)
{
	io_submit(BLOB_IO_WRITE, blob, channel, &(struct io_buf){.payload = payload}, offset,
		  length, cb_fn, cb_arg, false, __func__);
}

void spio_blob_io_readv(struct spio_blob *blob, struct spio_io_channel *channel, struct iovec *iov,
			int iovcnt, uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn,
			void *cb_arg)
{
	struct io_buf buf = {.vectored = true, .iov = iov, .iovcnt = iovcnt};

	io_submit(BLOB_IO_READ, blob, channel, &buf, offset, length, cb_fn, cb_arg, false,
		  __func__);
}

void spio_blob_io_writev(struct spio_blob *blob, struct spio_io_channel *channel, struct iovec *iov,
			 int iovcnt, uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn,
			 void *cb_arg)
{
	struct io_buf buf = {.vectored = true, .iov = iov, .iovcnt = iovcnt};

	io_submit(BLOB_IO_WRITE, blob, channel, &buf, offset, length, cb_fn, cb_arg, false,
		  __func__);
}

void spio_blob_io_unmap(struct spio_blob *blob, struct spio_io_channel *channel, uint64_t offset,
			uint64_t length, spio_blob_op_complete cb_fn, void *cb_arg)
{
	io_submit(BLOB_IO_UNMAP, blob, channel, &(struct io_buf){.payload = NULL}, offset, length,
		  cb_fn, cb_arg, false, __func__);
}

void spio_blob_io_write_zeroes(struct spio_blob *blob, struct spio_io_channel *channel,
			       uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn,
			       void *cb_arg)
{
	io_submit(BLOB_IO_WRITE_ZEROES, blob, channel, &(struct io_buf){.payload = NULL}, offset,
		  length, cb_fn, cb_arg, false, __func__);
}

/*
 * blob_copy_cluster: the back device's cluster through a DMA buffer into the new one
 */

struct copy_ctx {
	struct spio_blob *blob;
	struct bs_channel *ch;
	uint64_t dst;
	void *buf;
	struct spio_bs_dev_cb_args args;
	bs_io_cpl cb_fn;
	void *cb_arg;
};

static void copy_finish(struct copy_ctx *ctx, int rc)
{
	bs_io_cpl cb_fn = ctx->cb_fn;
	void *cb_arg = ctx->cb_arg;

	spio_dma_free(ctx->buf);
	free(ctx);
	cb_fn(cb_arg, rc);
}

static void copy_written(struct spio_io_channel *channel, void *cb_arg, int rc)
{
	(void)channel;
	copy_finish(cb_arg, rc);
}

static void copy_read(struct spio_io_channel *channel, void *cb_arg, int rc)
{
	struct copy_ctx *ctx = cb_arg;
	struct spio_blob_store *bs = ctx->blob->bs;

	(void)channel;
	if (rc != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": reading its parent's cluster failed: %d\n",
			    ctx->blob->id, rc);
		copy_finish(ctx, rc);
		return;
	}
	ctx->args = (struct spio_bs_dev_cb_args){
	    .cb_fn = copy_written, .channel = ctx->ch->dev_channel, .cb_arg = ctx};
	bs->dev->write(bs->dev, ctx->ch->dev_channel, ctx->buf, bs_cluster_to_lba(bs, ctx->dst),
		       (uint32_t)(bs->geo.cluster_size / bs->dev->blocklen), &ctx->args);
}

void blob_copy_cluster(struct spio_blob *blob, struct spio_io_channel *channel,
		       uint64_t blob_cluster, uint64_t dst, bs_io_cpl cb_fn, void *cb_arg)
{
	struct spio_blob_store *bs = blob->bs;
	struct spio_bs_dev *back = blob->back_bs_dev;
	uint64_t csz = bs->geo.cluster_size;
	struct copy_ctx *ctx;

	if (back == NULL || bs_dev_is_zeroes(back)) {
		defer_cpl(cb_fn, cb_arg, 0);
		return;
	}
	if (csz % back->blocklen != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": back device block %" PRIu32
			    " does not divide the cluster\n",
			    blob->id, back->blocklen);
		defer_cpl(cb_fn, cb_arg, -EINVAL);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx != NULL) {
		ctx->buf = spio_dma_malloc(csz, 0x1000);
	}
	if (ctx == NULL || ctx->buf == NULL) {
		free(ctx);
		defer_cpl(cb_fn, cb_arg, -ENOMEM);
		return;
	}
	ctx->blob = blob;
	ctx->ch = spio_io_channel_get_ctx(channel);
	ctx->dst = dst;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	ctx->args =
	    (struct spio_bs_dev_cb_args){.cb_fn = copy_read, .channel = channel, .cb_arg = ctx};
	/* A parent's cluster it does not hold reads as its own parent's, or zeroes: the copy
	 * keeps what the blob read there. */
	back->read(back, channel, ctx->buf, blob_cluster * (csz / back->blocklen),
		   (uint32_t)(csz / back->blocklen), &ctx->args);
}

/*
 * blob_insert_cluster (md thread)
 */

struct insert_ctx {
	struct spio_blob *blob;
	uint64_t blob_cluster;
	uint64_t cluster;
	bs_io_cpl cb_fn;
	void *cb_arg;
	struct blob_freeze_waiter waiter;
};

static void insert_done(void *arg, int rc)
{
	struct insert_ctx *ctx = arg;
	bs_io_cpl cb_fn = ctx->cb_fn;
	void *cb_arg = ctx->cb_arg;

	free(ctx);
	cb_fn(cb_arg, rc);
}

static void insert_reply_later(struct insert_ctx *ctx, int rc)
{
	if (bs_defer(ctx->blob->bs, insert_done, ctx, rc) != 0) {
		insert_done(ctx, rc);
	}
}

static void insert_now(struct insert_ctx *ctx)
{
	struct spio_blob *blob = ctx->blob;

	if (ctx->blob_cluster >= blob->active.num_clusters) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": cluster %" PRIu64 " to insert beyond its %" PRIu64
			    "\n",
			    blob->id, ctx->blob_cluster, blob->active.num_clusters);
		insert_reply_later(ctx, -EINVAL);
		return;
	}
	if (blob->active.clusters[ctx->blob_cluster] != 0) {
		insert_reply_later(ctx, -EEXIST);
		return;
	}
	/* Readers on other threads take it with an acquire load (blob_cluster_get). */
	__atomic_store_n(&blob->active.clusters[ctx->blob_cluster], ctx->cluster, __ATOMIC_RELEASE);
	__atomic_fetch_add(&blob->active.num_allocated, 1, __ATOMIC_RELAXED);
	blob->dirty = true;
	blob_persist(blob, insert_done, ctx);
}

static void insert_unfrozen(void *arg, int rc)
{
	(void)rc;
	insert_now(arg);
}

void blob_insert_cluster(struct spio_blob *blob, uint64_t blob_cluster, uint64_t cluster,
			 bs_io_cpl cb_fn, void *cb_arg)
{
	struct insert_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		if (bs_defer(blob->bs, cb_fn, cb_arg, -ENOMEM) != 0) {
			cb_fn(cb_arg, -ENOMEM);
		}
		return;
	}
	ctx->blob = blob;
	ctx->blob_cluster = blob_cluster;
	ctx->cluster = cluster;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	if (blob_is_frozen(blob)) {
		/* The operation that froze the blob owns its map until it unfreezes. */
		blob_run_when_unfrozen(blob, &ctx->waiter, insert_unfrozen, ctx);
		return;
	}
	insert_now(ctx);
}
