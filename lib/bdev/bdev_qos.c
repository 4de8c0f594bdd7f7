/*
 * QoS: rate limits per bdev (SPDK's bdev_set_qos_limit), enforced per time
 * slice over all channels of the bdev.
 *
 * Design: SPDK once sent every I/O of a limited bdev to one thread; today it
 * lets each channel take from shared per-slice budgets with atomics and has
 * one poller refill them and walk every channel each slice. Here the budgets
 * are shared the same way, but no thread owns them: whichever channel first
 * sees that a slice has passed rolls the budgets over (a compare-and-swap on
 * the slice start), so no per-slice message or channel walk exists. I/O over
 * budget waits on its own channel's queue and is started by that channel:
 * on its next submission, or by a poller of the channel that runs once a
 * slice while limits are set. The cost when a bdev has no limits is the
 * NULL test of ch->qos and a compare with the limits' generation on submit;
 * with limits, an atomic per limit per I/O.
 * Unused budget is held for a few slices (QOS_BURST_SLICES); an I/O that
 * overdraws a slice's bytes is paid from the next ones.
 *
 * Fairness: first come, first served would let the channel whose poller
 * runs first after each slice boundary take every slice (SPDK's channel walk
 * has that bias too). So each channel with I/O waiting gets a share of each
 * limit, the budget divided by the number of such channels; what it takes
 * beyond its share is a debt it pays off one share per slice before it may
 * take again (deficit round robin). Channels without waiting I/O do not
 * count, so a lone busy channel gets the whole budget.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spio/json.h"
#include "spio/log.h"

#define QOS_NUM SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES
#define MIB (1024ull * 1024)
/* SPDK's floors: a slice allows at least one I/O or 512 bytes */
#define QOS_MIN_IOS_PER_SLICE 1
#define QOS_MIN_BYTES_PER_SLICE 512
/*
 * Unused budget is held for up to this many slices: a reactor that the OS
 * did not run for a few ms can still reach the limit, and over any time T at
 * most T x limit + 10 ms of budget passes. (SPDK holds nothing over; with
 * the 1 ms poller of a descheduled thread it then falls far below a limit.)
 */
#define QOS_BURST_SLICES 10
#define QOS_MAX_MBYTES_PER_SEC ((uint64_t)(UINT64_MAX / MIB))

static const char *const g_qos_rpc_type[QOS_NUM] = {
    "rw_ios_per_sec",
    "rw_mbytes_per_sec",
    "r_mbytes_per_sec",
    "w_mbytes_per_sec",
};

struct bdev_qos_limit {
	/* per second (I/Os or bytes); 0: none. Under g_bdev_mgr.lock. */
	uint64_t limit;
	/* budget of a slice; 0: none. Atomic: read on every limited I/O. */
	int64_t per_slice;
	/* what is left of the current slice; below 0 after an overdraw. Atomic. */
	int64_t remaining;
};

struct bdev_qos {
	struct bdev_qos_limit lim[QOS_NUM];
	/* start of the current slice, in ticks of the QoS clock. Atomic. */
	uint64_t slice_start;
	uint64_t slice_ticks;
	/* channels with I/O in their queue. Atomic. */
	uint32_t waiting;
	/* The rest is under g_bdev_mgr.lock. */
	struct spio_bdev *bdev;
	bool enabled; /* channels are to have ch->qos set */
	bool busy;    /* a change is in progress */
	bool removing;
};

static uint64_t (*g_qos_clock)(void) = spio_get_ticks;
uint64_t g_bdev_qos_gen;

/* Caller holds g_bdev_mgr.lock, having just changed a limiter's state. */
static void qos_gen_bump(void)
{
	__atomic_add_fetch(&g_bdev_qos_gen, 1, __ATOMIC_RELEASE);
}

void bdev_qos_set_clock(uint64_t (*now)(void))
{
	g_qos_clock = now != NULL ? now : spio_get_ticks;
}

/* Caller holds g_bdev_mgr.lock. */
static struct bdev_qos *qos_find(const struct spio_bdev *bdev)
{
	return bdev->internal.qos;
}

/* The limits an I/O is subject to, as a mask of limit kinds. */
static uint32_t qos_io_mask(const struct spio_bdev_io *io)
{
	const uint32_t rw =
	    1u << SPIO_BDEV_QOS_RW_IOPS_RATE_LIMIT | 1u << SPIO_BDEV_QOS_RW_BPS_RATE_LIMIT;

	switch (io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
		return rw | 1u << SPIO_BDEV_QOS_R_BPS_RATE_LIMIT;
	case SPIO_BDEV_IO_TYPE_WRITE:
		return rw | 1u << SPIO_BDEV_QOS_W_BPS_RATE_LIMIT;
	default:
		return 0; /* as SPDK: only reads and writes are limited */
	}
}

static uint32_t qos_active_mask(struct bdev_qos *q)
{
	uint32_t m = 0;

	for (int i = 0; i < QOS_NUM; i++) {
		if (__atomic_load_n(&q->lim[i].per_slice, __ATOMIC_RELAXED) != 0) {
			m |= 1u << i;
		}
	}
	return m;
}

/* Budget left after `k` more slices: debts are paid first; unused budget is
 * held up to QOS_BURST_SLICES slices' worth. */
static int64_t qos_refill(int64_t remaining, int64_t per_slice, uint64_t k)
{
	int64_t cap = per_slice * QOS_BURST_SLICES;

	/* k may be huge after an idle period: compare before multiplying */
	if (remaining >= cap || k > (uint64_t)((cap - remaining) / per_slice)) {
		return cap;
	}
	return remaining + (int64_t)k * per_slice;
}

/* If the current slice is over, move to the one `now` is in and refill. */
static void qos_roll(struct bdev_qos *q, uint64_t now)
{
	uint64_t start = __atomic_load_n(&q->slice_start, __ATOMIC_ACQUIRE);
	uint64_t k;

	if (now < start + q->slice_ticks) {
		return;
	}
	k = (now - start) / q->slice_ticks;
	/* one channel wins the roll; the others find the new slice */
	if (!__atomic_compare_exchange_n(&q->slice_start, &start, start + k * q->slice_ticks, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		return;
	}
	for (int i = 0; i < QOS_NUM; i++) {
		struct bdev_qos_limit *l = &q->lim[i];
		int64_t per = __atomic_load_n(&l->per_slice, __ATOMIC_RELAXED);
		int64_t r = __atomic_load_n(&l->remaining, __ATOMIC_RELAXED);

		if (per == 0) {
			continue;
		}
		/* concurrent takes and give-backs are additive: apply to the latest */
		while (!__atomic_compare_exchange_n(&l->remaining, &r, qos_refill(r, per, k), true,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		}
	}
}

static int64_t qos_io_amount(const struct spio_bdev_io *io, int kind)
{
	if (kind == SPIO_BDEV_QOS_RW_IOPS_RATE_LIMIT) {
		return 1;
	}
	return (int64_t)(io->u.num_blocks * io->bdev->blocklen);
}

/*
 * Take the I/O's share of every limit in `mask`. Returns -1 if taken, else
 * the kind that had no budget left (what was taken is given back). A limit
 * with some budget left admits an I/O larger than that budget (SPDK's rule).
 */
static int qos_take(struct bdev_qos *q, const struct spio_bdev_io *io, uint32_t mask)
{
	for (int i = 0; i < QOS_NUM; i++) {
		struct bdev_qos_limit *l = &q->lim[i];
		int64_t amount;

		if (!(mask & 1u << i)) {
			continue;
		}
		amount = qos_io_amount(io, i);
		if (__atomic_sub_fetch(&l->remaining, amount, __ATOMIC_RELAXED) + amount > 0) {
			continue;
		}
		__atomic_add_fetch(&l->remaining, amount, __ATOMIC_RELAXED);
		for (int j = 0; j < i; j++) {
			if (mask & 1u << j) {
				__atomic_add_fetch(&q->lim[j].remaining, qos_io_amount(io, j),
						   __ATOMIC_RELAXED);
			}
		}
		return i;
	}
	return -1;
}

/*
 * The channel's queue: I/O waiting for budget, oldest first, linked through
 * the links the in-flight list uses (an I/O is in one of them at a time).
 */

static void qos_queue_append(struct spio_bdev_channel *ch, struct spio_bdev_io *io)
{
	io->internal.link_next = NULL;
	io->internal.link_prev = ch->qos_tail;
	if (ch->qos_tail != NULL) {
		ch->qos_tail->internal.link_next = io;
	} else {
		ch->qos_head = io;
		__atomic_add_fetch(&ch->qos->waiting, 1, __ATOMIC_RELAXED);
	}
	ch->qos_tail = io;
}

/* Take the whole queue off the channel (returns its head). */
static struct spio_bdev_io *qos_queue_take_all(struct spio_bdev_channel *ch)
{
	struct spio_bdev_io *io = ch->qos_head;

	if (io != NULL) {
		__atomic_sub_fetch(&ch->qos->waiting, 1, __ATOMIC_RELAXED);
	}
	ch->qos_head = ch->qos_tail = NULL;
	return io;
}

static void qos_queue_remove(struct spio_bdev_channel *ch, struct spio_bdev_io *io)
{
	if (io->internal.link_prev != NULL) {
		io->internal.link_prev->internal.link_next = io->internal.link_next;
	} else {
		ch->qos_head = io->internal.link_next;
	}
	if (io->internal.link_next != NULL) {
		io->internal.link_next->internal.link_prev = io->internal.link_prev;
	} else {
		ch->qos_tail = io->internal.link_prev;
	}
	io->internal.link_prev = io->internal.link_next = NULL;
	if (ch->qos_head == NULL) {
		__atomic_sub_fetch(&ch->qos->waiting, 1, __ATOMIC_RELAXED);
	}
}

/*
 * This channel's share of each limit per slice (the budget over the channels
 * waiting, at least one of them), with its debt paid off for the slices
 * passed since it last looked.
 */
static void qos_shares(struct spio_bdev_channel *ch, int64_t *share)
{
	struct bdev_qos *q = ch->qos;
	uint32_t n = SPIO_MAX(__atomic_load_n(&q->waiting, __ATOMIC_RELAXED), 1u);
	uint64_t start = __atomic_load_n(&q->slice_start, __ATOMIC_ACQUIRE);
	uint64_t k = start > ch->qos_slice ? (start - ch->qos_slice) / q->slice_ticks : 0;

	if (start != ch->qos_slice && k == 0) {
		k = UINT64_MAX; /* limits were set again: the slices restarted */
	}
	ch->qos_slice = start;
	for (int i = 0; i < QOS_NUM; i++) {
		int64_t per = __atomic_load_n(&q->lim[i].per_slice, __ATOMIC_RELAXED);

		share[i] = (per + n - 1) / n;
		if (k != 0 && share[i] != 0) {
			/* a credit of up to the burst's shares may build up (a
			 * negative debt); clamp: k shares may exceed it many times */
			int64_t floor = -(int64_t)(QOS_BURST_SLICES - 1) * share[i];
			uint64_t room = (uint64_t)(ch->qos_debt[i] - floor) / (uint64_t)share[i];

			ch->qos_debt[i] = ch->qos_debt[i] <= floor || k > room
					      ? floor
					      : ch->qos_debt[i] - (int64_t)k * share[i];
		}
	}
}

/* Kinds of `mask` in which the channel owes its share or more. */
static uint32_t qos_owed(const struct spio_bdev_channel *ch, const int64_t *share, uint32_t mask)
{
	uint32_t owed = 0;

	for (int i = 0; i < QOS_NUM; i++) {
		if ((mask & 1u << i) && ch->qos_debt[i] >= share[i]) {
			owed |= 1u << i;
		}
	}
	return owed;
}

static void qos_charge(struct spio_bdev_channel *ch, const struct spio_bdev_io *io, uint32_t mask)
{
	for (int i = 0; i < QOS_NUM; i++) {
		if (mask & 1u << i) {
			ch->qos_debt[i] += qos_io_amount(io, i);
		}
	}
}

/*
 * Start what the budgets allow, oldest first. An I/O that finds a limit
 * spent marks it, so the rest of the walk skips what that limit holds back
 * without touching the shared budgets (a later read may still pass a spent
 * write limit). Returns the number started.
 */
static int qos_drain(struct spio_bdev_channel *ch)
{
	struct bdev_qos *q = ch->qos;
	uint32_t active = qos_active_mask(q), spent = 0;
	struct spio_bdev_io *io, *next;
	int64_t share[QOS_NUM];
	int started = 0;

	qos_roll(q, g_qos_clock());
	qos_shares(ch, share);
	for (io = ch->qos_head; io != NULL; io = next) {
		uint32_t mask = qos_io_mask(io) & active;
		int kind;

		next = io->internal.link_next;
		spent |= qos_owed(ch, share, mask);
		if (mask & spent) {
			continue;
		}
		if (mask != 0 && (kind = qos_take(q, io, mask)) >= 0) {
			spent |= 1u << kind;
			continue;
		}
		qos_charge(ch, io, mask);
		qos_queue_remove(ch, io);
		bdev_io_start(ch, io);
		started++;
	}
	return started;
}

/* Once a slice while limits are set: the queue's I/O may start now. */
static int qos_poll(void *arg)
{
	struct spio_bdev_channel *ch = arg;

	if (ch->qos_head == NULL) {
		return SPIO_POLLER_IDLE;
	}
	return qos_drain(ch) > 0 ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
}

/* Fail the I/O of a list taken off the queue; their callbacks run inside
 * and may submit again. */
static void qos_fail_list(struct spio_bdev_channel *ch, struct spio_bdev_io *io)
{
	struct spio_bdev_io *next;

	for (; io != NULL; io = next) {
		next = io->internal.link_next;
		/* in flight for the completion path, which takes it off again */
		bdev_io_list_add(&ch->io_outstanding, io);
		io->internal.in_submit = false;
		spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_FAILED);
	}
}

static int qos_attach(struct spio_bdev_channel *ch, struct bdev_qos *q)
{
	if (ch->qos != NULL) {
		return 0;
	}
	ch->qos_poller =
	    spio_poller_register_named(qos_poll, ch, SPIO_BDEV_QOS_TIMESLICE_US, "bdev_qos");
	if (ch->qos_poller == NULL) {
		SPIO_ERRLOG("bdev %s: no QoS poller for a channel: its I/O is not limited",
			    ch->bdev->name);
		return -ENOMEM;
	}
	ch->qos = q;
	ch->qos_slice = 0;
	memset(ch->qos_debt, 0, sizeof(ch->qos_debt));
	return 0;
}

/* Stop limiting the channel; its queued I/O fails (`fail`) or starts now. */
static void qos_detach(struct spio_bdev_channel *ch, bool fail)
{
	struct spio_bdev_io *io, *next;

	if (ch->qos == NULL) {
		return;
	}
	spio_poller_unregister(&ch->qos_poller);
	io = qos_queue_take_all(ch);
	ch->qos = NULL; /* before the callbacks below, which may submit again */
	if (fail) {
		qos_fail_list(ch, io);
		return;
	}
	for (; io != NULL; io = next) {
		next = io->internal.link_next;
		bdev_io_start(ch, io);
	}
}

static struct spio_bdev_channel *iter_bdev_channel(struct spio_io_channel_iter *iter)
{
	return spio_io_channel_get_ctx(spio_io_channel_iter_get_channel(iter));
}

/*
 * Reset: like SPDK, the I/O queued by QoS on every channel of the bdev fails
 * before the reset reaches the module.
 */

static void qos_reset_visit(struct spio_io_channel_iter *iter)
{
	struct spio_bdev_channel *ch = iter_bdev_channel(iter);

	qos_fail_list(ch, qos_queue_take_all(ch));
	spio_for_each_channel_continue(iter, 0);
}

static void qos_reset_done(struct spio_io_channel_iter *iter, int status)
{
	struct spio_bdev_io *io = spio_io_channel_iter_get_ctx(iter);

	(void)status;
	bdev_io_start(io->internal.ch, io);
}

bool bdev_qos_queue_io(struct spio_bdev_channel *ch, struct spio_bdev_io *io)
{
	struct bdev_qos *q = ch->qos;
	uint32_t mask;

	if (spio_unlikely(io->type == SPIO_BDEV_IO_TYPE_RESET)) {
		if (spio_for_each_channel(ch->bdev, qos_reset_visit, io, qos_reset_done) != 0) {
			SPIO_ERRLOG("bdev %s: reset starts with QoS-queued I/O left (no memory)",
				    ch->bdev->name);
			return false;
		}
		return true;
	}
	mask = qos_io_mask(io) & qos_active_mask(q);
	if (mask == 0) {
		return false;
	}
	if (ch->qos_head == NULL) {
		int64_t share[QOS_NUM];

		qos_roll(q, g_qos_clock());
		qos_shares(ch, share);
		if (qos_owed(ch, share, mask) == 0 && qos_take(q, io, mask) < 0) {
			qos_charge(ch, io, mask);
			return false;
		}
		qos_queue_append(ch, io);
		return true;
	}
	/* behind older ones; as in SPDK they get the budget first */
	qos_queue_append(ch, io);
	qos_drain(ch);
	return true;
}

/*
 * Channels and the bdev's life
 */

/* Caller holds g_bdev_mgr.lock. */
static bool qos_wanted(const struct bdev_qos *q)
{
	return q != NULL && q->enabled && !q->removing;
}

void bdev_qos_channel_create(struct spio_bdev_channel *ch)
{
	struct bdev_qos *q;
	bool want;

	/* before the state is read: a change after this read moves the generation */
	ch->qos_gen = __atomic_load_n(&g_bdev_qos_gen, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&g_bdev_mgr.lock);
	q = qos_find(ch->bdev);
	want = qos_wanted(q);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (want) {
		qos_attach(ch, q); /* reported inside */
	}
}

void bdev_qos_resync(struct spio_bdev_channel *ch)
{
	struct bdev_qos *q;
	bool want, removing;

	ch->qos_gen = __atomic_load_n(&g_bdev_qos_gen, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&g_bdev_mgr.lock);
	q = qos_find(ch->bdev);
	want = qos_wanted(q);
	removing = q != NULL && q->removing;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (want) {
		(void)qos_attach(ch, q); /* reported inside */
	} else {
		qos_detach(ch, removing);
	}
}

void bdev_qos_channel_destroy(struct spio_bdev_channel *ch)
{
	qos_detach(ch, true);
}

static void qos_remove_visit(struct spio_io_channel_iter *iter)
{
	qos_detach(iter_bdev_channel(iter), true);
	spio_for_each_channel_continue(iter, 0);
}

static void qos_remove_done(struct spio_io_channel_iter *iter, int status)
{
	(void)iter;
	(void)status;
}

void bdev_qos_bdev_removing(struct spio_bdev *bdev)
{
	struct bdev_qos *q;
	bool attached;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	q = qos_find(bdev);
	attached = q != NULL && q->enabled;
	if (q != NULL) {
		q->removing = true;
		qos_gen_bump();
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	/* the traversal holds the unregistration until every channel was visited */
	if (attached && spio_for_each_channel(bdev, qos_remove_visit, NULL, qos_remove_done) != 0) {
		SPIO_ERRLOG("bdev %s: QoS-queued I/O fails only when its channel is released "
			    "(no memory)",
			    bdev->name);
	}
}

void bdev_qos_bdev_gone(struct spio_bdev *bdev)
{
	struct bdev_qos *q;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	q = bdev->internal.qos;
	bdev->internal.qos = NULL;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	free(q);
}

/*
 * Setting and reading the limits
 */

struct qos_set_ctx {
	struct bdev_qos *q;
	spio_bdev_qos_cb cb;
	void *cb_arg;
};

static void qos_apply_visit(struct spio_io_channel_iter *iter)
{
	struct qos_set_ctx *ctx = spio_io_channel_iter_get_ctx(iter);
	struct spio_bdev_channel *ch = iter_bdev_channel(iter);
	bool want, removing;
	int rc = 0;

	/* the state now, not at the start: a removal may have come in between */
	pthread_mutex_lock(&g_bdev_mgr.lock);
	want = qos_wanted(ctx->q);
	removing = ctx->q->removing;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (want) {
		rc = qos_attach(ch, ctx->q);
	} else {
		qos_detach(ch, removing);
	}
	spio_for_each_channel_continue(iter, rc);
}

static void qos_set_done(struct spio_io_channel_iter *iter, int status)
{
	struct qos_set_ctx *ctx = spio_io_channel_iter_get_ctx(iter);

	pthread_mutex_lock(&g_bdev_mgr.lock);
	ctx->q->busy = false;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	ctx->cb(ctx->cb_arg, status);
	free(ctx);
}

/* SPDK's units and rounding to bytes or I/Os per second; UINT64_MAX passes. */
static uint64_t qos_normalize(const struct spio_bdev *bdev, int kind, uint64_t v)
{
	uint64_t rest;

	if (v == SPIO_BDEV_QOS_LIMIT_NOT_DEFINED || v == 0) {
		return v;
	}
	if (kind != SPIO_BDEV_QOS_RW_IOPS_RATE_LIMIT) {
		if (v > QOS_MAX_MBYTES_PER_SEC) {
			SPIO_WARNLOG("bdev %s: %s %" PRIu64 " would overflow; set to %" PRIu64,
				     bdev->name, g_qos_rpc_type[kind], v, QOS_MAX_MBYTES_PER_SEC);
			v = QOS_MAX_MBYTES_PER_SEC;
		}
		return v * MIB;
	}
	rest = v % SPIO_BDEV_QOS_MIN_IOS_PER_SEC;
	if (rest != 0) {
		/* clamp: rounding up near UINT64_MAX would wrap */
		uint64_t up = v > UINT64_MAX - SPIO_BDEV_QOS_MIN_IOS_PER_SEC
				  ? v - rest
				  : v + SPIO_BDEV_QOS_MIN_IOS_PER_SEC - rest;

		SPIO_WARNLOG("bdev %s: rw_ios_per_sec %" PRIu64 " is not a multiple of %u; "
			     "rounded to %" PRIu64,
			     bdev->name, v, SPIO_BDEV_QOS_MIN_IOS_PER_SEC, up);
		v = up;
	}
	return v;
}

/* Caller holds g_bdev_mgr.lock. Budgets follow the limits; a new slice starts. */
static void qos_apply_limits(struct bdev_qos *q)
{
	bool enabled = false;

	for (int i = 0; i < QOS_NUM; i++) {
		struct bdev_qos_limit *l = &q->lim[i];
		int64_t per = 0;

		if (l->limit != 0) {
			uint64_t floor = i == SPIO_BDEV_QOS_RW_IOPS_RATE_LIMIT
					     ? QOS_MIN_IOS_PER_SLICE
					     : QOS_MIN_BYTES_PER_SLICE;

			per = (int64_t)SPIO_MAX(l->limit / (1000000 / SPIO_BDEV_QOS_TIMESLICE_US),
						floor);
			enabled = true;
		}
		__atomic_store_n(&l->per_slice, per, __ATOMIC_RELAXED);
		__atomic_store_n(&l->remaining, per, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&q->slice_start, g_qos_clock(), __ATOMIC_RELEASE);
	q->enabled = enabled;
}

int spio_bdev_set_qos_rate_limits(struct spio_bdev *bdev, const uint64_t *limits,
				  spio_bdev_qos_cb cb, void *cb_arg)
{
	uint64_t want[QOS_NUM], old[QOS_NUM];
	struct bdev_qos *q, *fresh;
	struct qos_set_ctx *ctx;
	bool any = false, was;
	int rc;

	if (bdev == NULL || limits == NULL || cb == NULL || spio_get_thread() == NULL) {
		return -EINVAL;
	}
	for (int i = 0; i < QOS_NUM; i++) {
		want[i] = qos_normalize(bdev, i, limits[i]);
		any |= want[i] != SPIO_BDEV_QOS_LIMIT_NOT_DEFINED;
	}
	if (!any) {
		return -EINVAL;
	}
	ctx = calloc(1, sizeof(*ctx));
	fresh = calloc(1, sizeof(*fresh));
	if (ctx == NULL || fresh == NULL) {
		free(ctx);
		free(fresh);
		return -ENOMEM;
	}

	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bdev->internal.status != SPIO_BDEV_STATUS_READY) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(ctx);
		free(fresh);
		return -ENODEV;
	}
	q = qos_find(bdev);
	if (q == NULL) {
		q = fresh;
		fresh = NULL;
		q->bdev = bdev;
		q->slice_ticks = SPIO_MAX(
		    spio_get_ticks_hz() / (1000000 / SPIO_BDEV_QOS_TIMESLICE_US), (uint64_t)1);
		bdev->internal.qos = q;
	}
	if (q->busy) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(ctx);
		free(fresh);
		return -EAGAIN;
	}
	was = q->enabled;
	for (int i = 0; i < QOS_NUM; i++) {
		old[i] = q->lim[i].limit;
		if (want[i] != SPIO_BDEV_QOS_LIMIT_NOT_DEFINED) {
			q->lim[i].limit = want[i];
		}
	}
	qos_apply_limits(q);
	qos_gen_bump();
	q->busy = true;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	free(fresh);

	ctx->q = q;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	/* also when only the values change: the traversal holds the bdev until cb */
	rc = spio_for_each_channel(bdev, qos_apply_visit, ctx, qos_set_done);
	if (rc != 0) {
		pthread_mutex_lock(&g_bdev_mgr.lock);
		for (int i = 0; i < QOS_NUM; i++) {
			q->lim[i].limit = old[i];
		}
		qos_apply_limits(q);
		q->enabled = was;
		qos_gen_bump();
		q->busy = false;
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(ctx);
	}
	return rc;
}

void spio_bdev_get_qos_rate_limits(struct spio_bdev *bdev, uint64_t *limits)
{
	struct bdev_qos *q;

	if (limits == NULL) {
		return;
	}
	memset(limits, 0, sizeof(*limits) * QOS_NUM);
	if (bdev == NULL) {
		return;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	q = qos_find(bdev);
	for (int i = 0; q != NULL && i < QOS_NUM; i++) {
		limits[i] = q->lim[i].limit;
		if (i != SPIO_BDEV_QOS_RW_IOPS_RATE_LIMIT) {
			limits[i] /= MIB; /* users see MiB per second */
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
}

const char *spio_bdev_get_qos_rpc_type(enum spio_bdev_qos_rate_limit_type type)
{
	return (unsigned)type < QOS_NUM ? g_qos_rpc_type[type] : NULL;
}

void bdev_qos_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	uint64_t limits[QOS_NUM];
	bool any = false;

	spio_bdev_get_qos_rate_limits(bdev, limits);
	for (int i = 0; i < QOS_NUM; i++) {
		any |= limits[i] != 0;
	}
	/* SPDK writes an entry for a bdev whose limits were all removed too,
	 * which its own loader refuses ("No rate limits specified"): not here */
	if (!any) {
		return;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_set_qos_limit");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_string(w, "name", bdev->name);
	for (int i = 0; i < QOS_NUM; i++) {
		if (limits[i] != 0) {
			spio_json_write_named_uint64(w, g_qos_rpc_type[i], limits[i]);
		}
	}
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}
