/*
 * The nvme bdev module's I/O side: one poll group per thread (shared by every
 * controller), one channel per thread and controller owning a queue pair,
 * the commands, and a channel's part in losing and regaining its connection.
 *
 * An I/O that cannot go out now (queue pair down, or all its command slots
 * busy) waits in the channel's pending list and goes out when the queue pair
 * is back or a command completes; when the controller says waiting is
 * pointless (bdev_nvme_io_must_fail) it fails instead.
 *
 * PCIe: a read, write or compare whose buffers the controller cannot reach
 * first takes chunks of the channel's bounce pool (bdev_nvme_bounce.c), or
 * waits for them in the channel's bounce FIFO; it gives them back when it
 * completes, which starts the waiters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spio/log.h"
#include "spio/util.h"

#include "bdev_nvme_internal.h"

/* Ranges one unmap command carries (built on the stack; the driver copies them). */
#define UNMAP_RANGES 16
/* Blocks one Write Zeroes command covers (NLB is 16 bits, 0's based). */
#define WRITE_ZEROES_MAX_BLOCKS 65536u

/* The poll groups' io_device: one channel (one spio_nvme_poll_group) per thread. */
static char g_groups_device;
static void (*g_groups_done)(void);

static struct bdev_nvme_io *nvme_io(struct spio_bdev_io *bdev_io)
{
	return spio_bdev_io_get_driver_ctx(bdev_io);
}

static void bounce_kick(struct bdev_nvme_channel *ch);

static void io_complete(struct bdev_nvme_io *nio, enum spio_bdev_io_status status)
{
	struct spio_bdev_io *bdev_io = spio_bdev_io_from_ctx(nio);
	struct bdev_nvme_channel *ch = nio->ch;
	bool bounced = nio->bounce_len != 0;

	free(nio->bounce);
	nio->bounce = NULL;
	if (spio_unlikely(bounced)) {
		bdev_nvme_bounce_put(ch, nio,
				     status == SPIO_BDEV_IO_STATUS_SUCCESS &&
					 bdev_io->type == SPIO_BDEV_IO_TYPE_READ);
	}
	spio_bdev_io_complete(bdev_io, status);
	if (spio_unlikely(bounced && !TAILQ_EMPTY(&ch->bounce.waiting))) {
		bounce_kick(ch);
	}
}

bool bdev_nvme_io_must_fail(const struct bdev_nvme_ctrlr *nc)
{
	/* With no reconnect delay SPDK fails I/O while the controller is down. */
	return atomic_load(&nc->io_fail) ||
	       (nc->opts.reconnect_delay_sec == 0 && spio_nvme_ctrlr_is_failed(nc->ctrlr));
}

static void fail_pending(struct bdev_nvme_channel *ch)
{
	struct bdev_nvme_io *nio;

	while ((nio = TAILQ_FIRST(&ch->pending)) != NULL) {
		TAILQ_REMOVE(&ch->pending, nio, link);
		io_complete(nio, SPIO_BDEV_IO_STATUS_FAILED);
	}
}

/* Keep the I/O for later, or fail it when nothing will take it later. */
static void hold(struct bdev_nvme_channel *ch, struct bdev_nvme_io *nio, bool down)
{
	if (ch->state == BDEV_NVME_CH_CLOSING || (down && bdev_nvme_io_must_fail(ch->nc))) {
		io_complete(nio, SPIO_BDEV_IO_STATUS_FAILED);
		return;
	}
	TAILQ_INSERT_TAIL(&ch->pending, nio, link);
}

static void io_done(void *arg, const struct spio_nvme_cpl *cpl);

static int issue_compare(struct bdev_nvme_io *nio, struct spio_bdev_io *bdev_io,
			 struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair)
{
	uint64_t len = bdev_io->u.num_blocks * bdev_io->bdev->blocklen;
	void *buf = bdev_io->u.iovs[0].iov_base;

	if (nio->bounce_len != 0) {
		buf = nio->bounce_buf; /* PCIe: already flat DMA memory */
	} else if (bdev_io->u.iovcnt > 1) {
		/* The driver compares a flat buffer only: gather a vector into one. */
		if (nio->bounce == NULL) {
			nio->bounce = malloc(len);
			if (nio->bounce == NULL) {
				return -EIO;
			}
			spio_copy_iovs_to_buf(nio->bounce, len, bdev_io->u.iovs, bdev_io->u.iovcnt);
		}
		buf = nio->bounce;
	}
	return spio_nvme_ns_cmd_compare(ns, qpair, buf, bdev_io->u.offset_blocks,
					(uint32_t)bdev_io->u.num_blocks, io_done, nio, 0);
}

/* The next Dataset Management command of an unmap. */
static int issue_unmap(struct bdev_nvme_io *nio, struct spio_nvme_ns *ns,
		       struct spio_nvme_qpair *qpair)
{
	struct spio_nvme_dsm_range ranges[UNMAP_RANGES];
	uint64_t lba = nio->next_lba, left = nio->remaining;
	uint16_t n = 0;
	int rc;

	while (left > 0 && n < UNMAP_RANGES) {
		uint32_t len = (uint32_t)SPIO_MIN(left, (uint64_t)UINT32_MAX);

		ranges[n++] = (struct spio_nvme_dsm_range){.length = len, .starting_lba = lba};
		lba += len;
		left -= len;
	}
	rc = spio_nvme_ns_cmd_dataset_management(ns, qpair, SPIO_NVME_DSM_ATTR_DEALLOCATE, ranges,
						 n, io_done, nio);
	if (rc == 0) {
		nio->piece = nio->remaining - left;
		nio->next_lba = lba;
		nio->remaining = left;
	}
	return rc;
}

/* The next Write Zeroes command of a write_zeroes. */
static int issue_write_zeroes(struct bdev_nvme_io *nio, struct spio_nvme_ns *ns,
			      struct spio_nvme_qpair *qpair)
{
	uint32_t n = (uint32_t)SPIO_MIN(nio->remaining, (uint64_t)WRITE_ZEROES_MAX_BLOCKS);
	int rc;

	rc = spio_nvme_ns_cmd_write_zeroes(ns, qpair, nio->next_lba, n, io_done, nio, 0);
	if (rc == 0) {
		nio->piece = n;
		nio->next_lba += n;
		nio->remaining -= n;
	}
	return rc;
}

/* Send the I/O's (next) command: 0, or the driver's submit error. */
static int io_issue(struct bdev_nvme_channel *ch, struct bdev_nvme_io *nio)
{
	struct spio_bdev_io *bdev_io = spio_bdev_io_from_ctx(nio);
	struct bdev_nvme_ns *nns = bdev_io->bdev->ctxt;
	struct spio_nvme_qpair *qpair = ch->qpair;
	uint64_t lba = bdev_io->u.offset_blocks;
	/* Reads and writes are at most max_rw_size (<= 65536) blocks: the core splits. */
	uint32_t n = (uint32_t)bdev_io->u.num_blocks;
	struct iovec *iov = bdev_io->u.iovs;
	int iovcnt = bdev_io->u.iovcnt;
	struct iovec bounce_iov;

	if (spio_unlikely(nio->bounce_len != 0)) {
		/* The data lives in the channel's DMA bounce chunks (bdev_nvme_bounce.c). */
		bounce_iov.iov_base = nio->bounce_buf;
		bounce_iov.iov_len = nio->bounce_len;
		iov = &bounce_iov;
		iovcnt = 1;
	}
	switch (bdev_io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
		if (iovcnt == 1) {
			return spio_nvme_ns_cmd_read(nns->ns, qpair, iov[0].iov_base, lba, n,
						     io_done, nio, 0);
		}
		return spio_nvme_ns_cmd_readv(nns->ns, qpair, lba, n, iov, iovcnt, io_done, nio, 0);
	case SPIO_BDEV_IO_TYPE_WRITE:
		if (iovcnt == 1) {
			return spio_nvme_ns_cmd_write(nns->ns, qpair, iov[0].iov_base, lba, n,
						      io_done, nio, 0);
		}
		return spio_nvme_ns_cmd_writev(nns->ns, qpair, lba, n, iov, iovcnt, io_done, nio,
					       0);
	case SPIO_BDEV_IO_TYPE_COMPARE:
		return issue_compare(nio, bdev_io, nns->ns, qpair);
	case SPIO_BDEV_IO_TYPE_FLUSH:
		return spio_nvme_ns_cmd_flush(nns->ns, qpair, io_done, nio);
	case SPIO_BDEV_IO_TYPE_UNMAP:
		return issue_unmap(nio, nns->ns, qpair);
	case SPIO_BDEV_IO_TYPE_WRITE_ZEROES:
		return issue_write_zeroes(nio, nns->ns, qpair);
	default:
		return -ENOTSUP;
	}
}

/* Send it now if the queue pair takes it, else hold it. */
static void io_start(struct bdev_nvme_channel *ch, struct bdev_nvme_io *nio)
{
	int rc;

	if (ch->state != BDEV_NVME_CH_CONNECTED) {
		hold(ch, nio, true);
		return;
	}
	if (!TAILQ_EMPTY(&ch->pending)) {
		/* Behind the ones already waiting for a free command slot. */
		TAILQ_INSERT_TAIL(&ch->pending, nio, link);
		return;
	}
	rc = io_issue(ch, nio);
	if (spio_likely(rc == 0)) {
		return;
	}
	if (rc == -ENOMEM || rc == -ENXIO) {
		/* Out of slots, or lost a moment ago (the group reports it next). */
		hold(ch, nio, rc == -ENXIO);
		return;
	}
	io_complete(nio, SPIO_BDEV_IO_STATUS_FAILED);
}

/* Send what waits, oldest first, while the queue pair takes it. */
static void drain_pending(struct bdev_nvme_channel *ch)
{
	struct bdev_nvme_io *nio;
	int rc;

	while (ch->state == BDEV_NVME_CH_CONNECTED && (nio = TAILQ_FIRST(&ch->pending)) != NULL) {
		rc = io_issue(ch, nio);
		if (rc == -ENOMEM || rc == -ENXIO) {
			return;
		}
		TAILQ_REMOVE(&ch->pending, nio, link);
		if (rc != 0) {
			io_complete(nio, SPIO_BDEV_IO_STATUS_FAILED);
		}
	}
}

static bool cpl_is_lost(const struct spio_nvme_cpl *cpl)
{
	return cpl->status.sct == SPIO_NVME_SCT_GENERIC &&
	       cpl->status.sc == SPIO_NVME_SC_ABORTED_SQ_DELETION;
}

/*
 * SPDK's retries, at most bdev_retry_count (-1: no limit): a command lost
 * with its connection when the controller is coming back (a reconnect
 * delay), or an error status without DNR that no abort asked for. Unlike
 * SPDK the first kind counts too, and the Command Retry Delay is not
 * waited for: the I/O goes out again as soon as the queue pair takes it.
 */
static bool may_retry(const struct bdev_nvme_io *nio, const struct spio_nvme_cpl *cpl)
{
	const struct bdev_nvme_channel *ch = nio->ch;
	int32_t limit = ch->nc->bdev_retry_count;

	if (ch->state == BDEV_NVME_CH_CLOSING || atomic_load(&ch->nc->io_fail) ||
	    (limit != -1 && nio->retries >= (uint32_t)limit)) {
		return false;
	}
	if (cpl_is_lost(cpl)) {
		return ch->nc->opts.reconnect_delay_sec != 0;
	}
	return !cpl->status.dnr && !(cpl->status.sct == SPIO_NVME_SCT_GENERIC &&
				     cpl->status.sc == SPIO_NVME_SC_ABORTED_BY_REQUEST);
}

static void io_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct bdev_nvme_io *nio = arg;
	struct bdev_nvme_channel *ch = nio->ch;
	int rc;

	if (spio_unlikely(spio_nvme_cpl_is_error(cpl))) {
		if (may_retry(nio, cpl)) {
			/* Behind what waits already; goes out when the queue pair takes it. */
			nio->retries++;
			nio->next_lba -= nio->piece;
			nio->remaining += nio->piece;
			nio->piece = 0;
			TAILQ_INSERT_TAIL(&ch->pending, nio, link);
			if (cpl_is_lost(cpl)) {
				return; /* the queue pair is going down: it drains once back */
			}
		} else {
			io_complete(nio, cpl->status.sct == SPIO_NVME_SCT_MEDIA_ERROR &&
						 cpl->status.sc == SPIO_NVME_SC_COMPARE_FAILURE
					     ? SPIO_BDEV_IO_STATUS_MISCOMPARE
					     : SPIO_BDEV_IO_STATUS_FAILED);
		}
	} else if (nio->remaining > 0) {
		/* The next piece of an unmap or write_zeroes. */
		rc = io_issue(ch, nio);
		if (rc == -ENOMEM || rc == -ENXIO) {
			hold(ch, nio, rc == -ENXIO);
		} else if (rc != 0) {
			io_complete(nio, SPIO_BDEV_IO_STATUS_FAILED);
		}
	} else {
		io_complete(nio, SPIO_BDEV_IO_STATUS_SUCCESS);
	}
	/* A command slot is free again. */
	if (spio_unlikely(!TAILQ_EMPTY(&ch->pending))) {
		drain_pending(ch);
	}
}

/*
 * Bounced I/O (PCIe, data not in DMA memory): chunks of the channel's pool,
 * or a place in its FIFO until enough come back. Never -ENOMEM to the user.
 */
static void bounce_start(struct bdev_nvme_channel *ch, struct bdev_nvme_io *nio)
{
	int rc = -EAGAIN;

	if (TAILQ_EMPTY(&ch->bounce.waiting)) {
		rc = bdev_nvme_bounce_get(ch, nio);
	}
	if (rc == 0) {
		io_start(ch, nio);
	} else if (rc == -EAGAIN) {
		/* First come, first served: a large I/O is not starved by small ones. */
		ch->bounce.waited++;
		atomic_fetch_add_explicit(&ch->nc->bounce_waits, 1, memory_order_relaxed);
		TAILQ_INSERT_TAIL(&ch->bounce.waiting, nio, link);
	} else {
		io_complete(nio, SPIO_BDEV_IO_STATUS_FAILED);
	}
}

/* Chunks came back: start the waiting I/Os, oldest first, while they fit. */
static void bounce_kick(struct bdev_nvme_channel *ch)
{
	struct bdev_nvme_io *nio;
	int rc;

	/* A started I/O may complete at once and return its chunks: no recursion. */
	if (ch->bounce.kicking) {
		return;
	}
	ch->bounce.kicking = true;
	while ((nio = TAILQ_FIRST(&ch->bounce.waiting)) != NULL) {
		rc = bdev_nvme_bounce_get(ch, nio);
		if (rc == -EAGAIN) {
			break;
		}
		TAILQ_REMOVE(&ch->bounce.waiting, nio, link);
		if (rc == 0) {
			io_start(ch, nio);
		} else {
			io_complete(nio, SPIO_BDEV_IO_STATUS_FAILED);
		}
	}
	ch->bounce.kicking = false;
}

static void fail_bounce_waiting(struct bdev_nvme_channel *ch)
{
	struct bdev_nvme_io *nio;

	while ((nio = TAILQ_FIRST(&ch->bounce.waiting)) != NULL) {
		TAILQ_REMOVE(&ch->bounce.waiting, nio, link);
		io_complete(nio, SPIO_BDEV_IO_STATUS_FAILED);
	}
}

void bdev_nvme_submit_request(struct spio_io_channel *io_ch, struct spio_bdev_io *bdev_io)
{
	struct bdev_nvme_channel *ch = spio_io_channel_get_ctx(io_ch);
	struct bdev_nvme_ns *nns = bdev_io->bdev->ctxt;
	struct bdev_nvme_io *nio = nvme_io(bdev_io);

	nio->ch = ch;
	nio->bounce = NULL;
	nio->bounce_len = 0;
	nio->retries = 0;
	nio->remaining = 0;
	nio->piece = 0;
	switch (bdev_io->type) {
	case SPIO_BDEV_IO_TYPE_RESET:
		bdev_nvme_reset_io(ch->nc, bdev_io);
		return;
	case SPIO_BDEV_IO_TYPE_FLUSH:
		if (!nns->flush_needed) {
			/* No volatile write cache, or no enable_flush: done at once, as SPDK. */
			io_complete(nio, SPIO_BDEV_IO_STATUS_SUCCESS);
			return;
		}
		break;
	case SPIO_BDEV_IO_TYPE_UNMAP:
	case SPIO_BDEV_IO_TYPE_WRITE_ZEROES:
		nio->next_lba = bdev_io->u.offset_blocks;
		nio->remaining = bdev_io->u.num_blocks;
		break;
	default:
		break;
	}
	if (spio_unlikely(atomic_load_explicit(&nns->removed, memory_order_relaxed))) {
		io_complete(nio, SPIO_BDEV_IO_STATUS_FAILED);
		return;
	}
	if (spio_unlikely(ch->bounce.mem != NULL) && bdev_nvme_bounce_needed(ch, bdev_io)) {
		bounce_start(ch, nio);
		return;
	}
	io_start(ch, nio);
}

/*
 * Connecting a channel's queue pair
 */

static void request_reset(struct bdev_nvme_ctrlr *nc)
{
	atomic_store(&nc->reset_requested, true);
}

/* The controller is up and nobody else is about to reconnect this channel. */
static bool may_reconnect(const struct bdev_nvme_ctrlr *nc)
{
	return !atomic_load(&nc->down) && !spio_nvme_ctrlr_is_failed(nc->ctrlr);
}

/* Lost with the controller (or unable to come back alone): wait for a reset. */
static void wait_reset(struct bdev_nvme_channel *ch)
{
	ch->state = BDEV_NVME_CH_WAIT_RESET;
	spio_poller_resume(ch->poller);
	if (bdev_nvme_io_must_fail(ch->nc)) {
		fail_pending(ch);
	}
}

static void channel_connected(void *arg, struct spio_nvme_qpair *qpair, int status)
{
	struct bdev_nvme_channel *ch = arg;
	struct spio_io_channel_iter *iter = ch->reset_iter;

	(void)qpair;
	ch->reset_iter = NULL;
	if (ch->state == BDEV_NVME_CH_CONNECTING) {
		if (status == 0) {
			ch->state = BDEV_NVME_CH_CONNECTED;
			drain_pending(ch);
		} else {
			SPIO_WARNLOG("nvme controller %s: queue pair of thread %s did not connect: "
				     "%s\n",
				     ch->nc->name, spio_thread_get_name(spio_get_thread()),
				     strerror(-status));
			if (iter == NULL) {
				request_reset(ch->nc);
			}
			wait_reset(ch);
		}
	}
	if (iter != NULL) {
		spio_for_each_channel_continue(iter, status);
	}
}

/*
 * Start connecting the queue pair (allocated first if needed). `iter`: the
 * reset that asked, continued with the result; NULL: the channel's own
 * reconnect, which asks for a reset when it cannot start.
 */
static void channel_connect(struct bdev_nvme_channel *ch, struct spio_io_channel_iter *iter)
{
	int rc;

	if (ch->qpair == NULL) {
		ch->qpair = spio_nvme_ctrlr_alloc_io_qpair(ch->nc->ctrlr, NULL, 0);
		rc = ch->qpair != NULL ? spio_nvme_poll_group_add(ch->group->group, ch->qpair)
				       : -errno;
		if (rc != 0) {
			if (ch->qpair != NULL) {
				spio_nvme_ctrlr_free_io_qpair(ch->qpair);
				ch->qpair = NULL;
			}
			goto fail;
		}
	}
	rc = spio_nvme_qpair_connect_async(ch->qpair, channel_connected, ch);
	if (rc == 0) {
		ch->state = BDEV_NVME_CH_CONNECTING;
		ch->reset_iter = iter;
		spio_poller_pause(ch->poller);
		return;
	}
	if (rc == -EALREADY && spio_nvme_qpair_is_connected(ch->qpair)) {
		ch->state = BDEV_NVME_CH_CONNECTED;
		drain_pending(ch);
		if (iter != NULL) {
			spio_for_each_channel_continue(iter, 0);
		}
		return;
	}
fail:
	if (iter == NULL) {
		request_reset(ch->nc);
	}
	wait_reset(ch);
	if (iter != NULL) {
		spio_for_each_channel_continue(iter, rc);
	}
}

/* A lost queue pair's way back: alone, or after the controller's reset. */
static int channel_poll(void *arg)
{
	struct bdev_nvme_channel *ch = arg;

	switch (ch->state) {
	case BDEV_NVME_CH_RECONNECT:
		if (!may_reconnect(ch->nc)) {
			wait_reset(ch);
			return SPIO_POLLER_IDLE;
		}
		channel_connect(ch, NULL);
		return SPIO_POLLER_BUSY;
	case BDEV_NVME_CH_WAIT_RESET:
		/* Normally the reset reconnects it; this catches a channel it did not visit. */
		if (!may_reconnect(ch->nc)) {
			return SPIO_POLLER_IDLE;
		}
		channel_connect(ch, NULL);
		return SPIO_POLLER_BUSY;
	default:
		spio_poller_pause(ch->poller);
		return SPIO_POLLER_IDLE;
	}
}

/* The group saw one of its queue pairs lose its connection (its commands already failed). */
static void group_disconnected(void *arg, struct spio_nvme_qpair *qpair)
{
	struct bdev_nvme_group *group = arg;
	struct bdev_nvme_channel *ch;

	TAILQ_FOREACH (ch, &group->channels, link) {
		if (ch->qpair == qpair) {
			break;
		}
	}
	if (ch == NULL || ch->state != BDEV_NVME_CH_CONNECTED) {
		return;
	}
	if (!may_reconnect(ch->nc)) {
		wait_reset(ch);
		return;
	}
	/* The controller looks fine: try this queue pair alone first. */
	ch->state = BDEV_NVME_CH_RECONNECT;
	spio_poller_resume(ch->poller);
}

int bdev_nvme_channel_create(void *io_device, void *ctx)
{
	struct bdev_nvme_ctrlr *nc = io_device;
	struct bdev_nvme_channel *ch = ctx;

	ch->nc = nc;
	TAILQ_INIT(&ch->pending);
	if (bdev_nvme_bounce_init(ch) != 0) {
		return -ENOMEM;
	}
	ch->group_ch = spio_get_io_channel(&g_groups_device);
	if (ch->group_ch == NULL) {
		int rc = -errno;

		bdev_nvme_bounce_fini(ch);
		return rc;
	}
	ch->group = spio_io_channel_get_ctx(ch->group_ch);
	ch->poller = spio_poller_register_named(channel_poll, ch, BDEV_NVME_RECONNECT_PERIOD_US,
						"bdev_nvme_reconnect");
	if (ch->poller == NULL) {
		spio_put_io_channel(ch->group_ch);
		bdev_nvme_bounce_fini(ch);
		return -ENOMEM;
	}
	TAILQ_INSERT_TAIL(&ch->group->channels, ch, link);
	ch->state = BDEV_NVME_CH_WAIT_RESET;
	if (!may_reconnect(nc)) {
		/* Down now: the reset (or the poller once it is over) connects it. */
		return 0;
	}
	ch->qpair = spio_nvme_ctrlr_alloc_io_qpair(nc->ctrlr, NULL, 0);
	if (ch->qpair == NULL && errno != ENXIO) {
		int rc = -errno;

		SPIO_ERRLOG("nvme controller %s: no I/O queue pair for thread %s: %s\n", nc->name,
			    spio_thread_get_name(spio_get_thread()), strerror(-rc));
		TAILQ_REMOVE(&ch->group->channels, ch, link);
		spio_poller_unregister(&ch->poller);
		spio_put_io_channel(ch->group_ch);
		bdev_nvme_bounce_fini(ch);
		return rc;
	}
	if (ch->qpair != NULL && spio_nvme_poll_group_add(ch->group->group, ch->qpair) != 0) {
		spio_nvme_ctrlr_free_io_qpair(ch->qpair);
		ch->qpair = NULL;
	}
	channel_connect(ch, NULL);
	return 0;
}

void bdev_nvme_channel_destroy(void *io_device, void *ctx)
{
	struct bdev_nvme_channel *ch = ctx;
	int rc;

	(void)io_device;
	ch->state = BDEV_NVME_CH_CLOSING;
	spio_poller_unregister(&ch->poller);
	fail_bounce_waiting(ch);
	fail_pending(ch);
	bdev_nvme_bounce_detach(ch);
	if (ch->qpair != NULL) {
		/* Fails what is still outstanding, once. */
		rc = spio_nvme_ctrlr_free_io_qpair(ch->qpair);
		if (rc != 0) {
			SPIO_ERRLOG("nvme controller %s: freeing a queue pair failed: %s\n",
				    ch->nc->name, strerror(-rc));
		}
		ch->qpair = NULL;
	}
	fail_pending(ch);
	/* Completions above may have started waiters (they failed: CLOSING). */
	fail_bounce_waiting(ch);
	bdev_nvme_bounce_fini(ch);
	TAILQ_REMOVE(&ch->group->channels, ch, link);
	spio_put_io_channel(ch->group_ch);
}

/*
 * The controller's reset, one channel at a time
 */

void bdev_nvme_channel_disconnect(struct spio_io_channel_iter *iter)
{
	struct bdev_nvme_channel *ch =
	    spio_io_channel_get_ctx(spio_io_channel_iter_get_channel(iter));

	if (ch->state != BDEV_NVME_CH_CLOSING) {
		/* Set first: the I/O failed below must not go out again on this qpair. */
		ch->state = BDEV_NVME_CH_WAIT_RESET;
		spio_poller_resume(ch->poller);
		if (ch->qpair != NULL) {
			spio_nvme_ctrlr_disconnect_io_qpair(ch->qpair);
		}
		if (bdev_nvme_io_must_fail(ch->nc)) {
			fail_pending(ch);
		}
	}
	spio_for_each_channel_continue(iter, 0);
}

void bdev_nvme_channel_reconnect(struct spio_io_channel_iter *iter)
{
	struct bdev_nvme_channel *ch =
	    spio_io_channel_get_ctx(spio_io_channel_iter_get_channel(iter));

	switch (ch->state) {
	case BDEV_NVME_CH_CLOSING:
		spio_for_each_channel_continue(iter, 0);
		return;
	case BDEV_NVME_CH_CONNECTED:
		if (spio_nvme_qpair_is_connected(ch->qpair)) {
			spio_for_each_channel_continue(iter, 0);
			return;
		}
		break;
	case BDEV_NVME_CH_CONNECTING:
		/* Its own connect is under way: the reset takes its result. */
		ch->reset_iter = iter;
		return;
	default:
		break;
	}
	channel_connect(ch, iter);
}

void bdev_nvme_channel_fail_pending(struct spio_io_channel_iter *iter)
{
	struct bdev_nvme_channel *ch =
	    spio_io_channel_get_ctx(spio_io_channel_iter_get_channel(iter));

	if (ch->state != BDEV_NVME_CH_CONNECTED && bdev_nvme_io_must_fail(ch->nc)) {
		fail_pending(ch);
	}
	spio_for_each_channel_continue(iter, 0);
}

/*
 * Poll groups
 */

static int group_create(void *io_device, void *ctx)
{
	struct bdev_nvme_group *group = ctx;

	(void)io_device;
	group->group = spio_nvme_poll_group_create();
	if (group->group == NULL) {
		return -errno;
	}
	TAILQ_INIT(&group->channels);
	spio_nvme_poll_group_set_disconnected_cb(group->group, group_disconnected, group);
	return 0;
}

static void group_destroy(void *io_device, void *ctx)
{
	struct bdev_nvme_group *group = ctx;
	int rc;

	(void)io_device;
	rc = spio_nvme_poll_group_destroy(group->group);
	if (rc != 0) {
		SPIO_ERRLOG("nvme bdev: destroying a poll group failed: %s\n", strerror(-rc));
	}
}

int bdev_nvme_groups_init(void)
{
	return spio_io_device_register(&g_groups_device, group_create, group_destroy,
				       sizeof(struct bdev_nvme_group), "bdev_nvme_poll_groups");
}

static void groups_unregistered(void *io_device)
{
	(void)io_device;
	g_groups_done();
}

void bdev_nvme_groups_fini(void (*done)(void))
{
	g_groups_done = done;
	if (spio_io_device_unregister(&g_groups_device, groups_unregistered) != 0) {
		done();
	}
}
