/* Private structures of the bdev layer. */
#ifndef SPIO_BDEV_INTERNAL_H
#define SPIO_BDEV_INTERNAL_H

#include <pthread.h>

#include "spio/bdev_module.h"
#include "spio/env.h"
#include "spio/thread.h"
#include "spio/util.h"

struct spio_bdev_alias {
	char *name;
	struct spio_bdev_alias *next;
};

struct spio_bdev_desc {
	struct spio_bdev *bdev;
	struct spio_thread *thread;
	spio_bdev_event_cb event_cb;
	void *event_ctx;
	bool write;
	bool closed;
	/*
	 * Atomic: the open reference (kept after close while local_ios > 0), one
	 * per bdev channel of another thread that holds it for its I/O
	 * (spio_bdev_channel.held_desc), one per I/O in flight submitted on
	 * another thread whose channel holds another descriptor, one per pending
	 * event message. The last put frees the descriptor.
	 */
	uint32_t refs;
	/* I/O in flight submitted on the opener's thread: owner-only, no atomics. */
	uint32_t local_ios;
	struct spio_bdev_desc *next;
	/* Event messages live here so that none is lost; a resize already
	 * queued covers later ones (the handler reads the current size). */
	struct spio_msg remove_msg;
	struct spio_msg resize_msg;
	bool resize_queued; /* under g_bdev_mgr.lock */
};

/*
 * Per-thread state shared by every bdev: the queue of I/O waiters and the
 * thread's cache of free bdev_ios (SPDK's per_thread_cache). Only the owning
 * thread touches it, so getting and freeing a bdev_io is a pointer pop and
 * push, no atomics. The cache is filled with bdev_io_cache_size ios from the
 * pool when the channel is created (a channel that cannot fill it is
 * refused) and given back to the pool when it is destroyed; frees beyond its
 * size go to the pool.
 */
struct bdev_mgmt_channel {
	struct spio_bdev_io_wait_entry *wait_head;
	struct spio_bdev_io_wait_entry *wait_tail;
	/* retries the waiters while there are any (bdev_io.c, mgmt_wait_enqueue) */
	struct spio_poller *wait_poller;
	/* free bdev_ios, linked through internal.link_next */
	struct spio_bdev_io *cache;
	uint32_t cache_count;
	uint32_t cache_size;
	/* g_bdev_mgr.pool_gen of the pool the cached ios came from */
	uint64_t pool_gen;
	/* g_bdev_mgr.mgmt_channels (under its lock), for bdev_io_free_count() */
	struct bdev_mgmt_channel *next;
};

/* A lock request / held lock, one per spio_bdev_lock_lba_range() call. */
struct spio_bdev_lba_lock {
	struct spio_bdev *bdev;
	uint64_t offset;
	uint64_t length;
	struct spio_bdev_channel *owner_ch;
	struct spio_thread *thread;
	spio_bdev_lock_cb cb;
	void *cb_arg;
	bool granted;
	/* error of a failed acquisition, reported after its undo */
	int fail_status;
	struct spio_bdev_lba_lock *next;
	/* while its traversal waits for a channel's in-flight writes */
	struct spio_io_channel_iter *wait_iter;
	struct spio_bdev_lba_lock *wait_next;
	struct spio_msg retry_msg;
};

/* A channel's copy of a lock (the channel's thread reads it on every write). */
struct bdev_ch_range {
	struct spio_bdev_lba_lock *lock;
	uint64_t offset;
	uint64_t length;
	struct spio_bdev_channel *owner_ch;
	struct bdev_ch_range *next;
};

/* Context of a bdev's io_channel. */
struct spio_bdev_channel {
	struct spio_bdev *bdev;
	struct spio_io_channel *module_ch;
	struct spio_io_channel *mgmt_ch;
	/* the context of mgmt_ch, and the channel's thread: read on every I/O */
	struct bdev_mgmt_channel *mgmt;
	struct spio_thread *thread;
	struct spio_bdev_io_stat stat;
	struct bdev_ch_range *ranges;
	/* I/O in flight (for lock acquisition) and writes blocked by a lock */
	struct spio_bdev_io *io_outstanding;
	struct spio_bdev_io *io_locked;
	/* locks whose acquisition waits for this channel's in-flight writes */
	struct spio_bdev_lba_lock *lock_waits;
	/* I/O the module completed inside its submit call, oldest first: run
	 * together by one message to this thread (bdev_io.c) */
	struct spio_bdev_io *cpl_head;
	struct spio_bdev_io *cpl_tail;
	struct spio_msg cpl_batch_msg;
	/* A descriptor opened on another thread that this channel holds one
	 * reference on for all its I/O here (no locked instruction per I/O), and
	 * how many of them are in flight; released when the channel goes. */
	struct spio_bdev_desc *held_desc;
	uint32_t held_desc_ios;
	/* QoS (bdev_qos.c): the bdev's limiter while it has limits, else NULL
	 * (one branch on submit); I/O over the limit waits here, oldest first */
	struct bdev_qos *qos;
	struct spio_bdev_io *qos_head;
	struct spio_bdev_io *qos_tail;
	struct spio_poller *qos_poller;
	/* fairness between channels: the slice last seen, and what this channel
	 * took beyond its share of each limit (paid off one share a slice) */
	uint64_t qos_slice;
	int64_t qos_debt[SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
	/* g_bdev_qos_gen when this channel last looked at its bdev's limits */
	uint64_t qos_gen;
	/* latency histogram while enabled (bdev_histogram.c), else NULL (one
	 * branch on completion); only this channel's thread touches it */
	struct bdev_histogram *hist;
};

struct bdev_mgr {
	pthread_mutex_t lock;
	struct spio_bdev_module *modules;
	struct spio_bdev *bdevs;
	struct spio_mempool *io_pool;
	/* bumped whenever io_pool is freed: a management channel destroyed
	 * later does not give its cache back to a pool that is gone (atomic) */
	uint64_t pool_gen;
	/* every thread's management channel (under lock): their caches */
	struct bdev_mgmt_channel *mgmt_channels;
	size_t max_ctx_size;
	struct spio_bdev_opts opts; /* in force since spio_bdev_initialize() */
	bool initialized;
	bool finishing;
	uint32_t examine_pending;
	struct examine_waiter *examine_waiters;
	/** Names spio_bdev_examine() allowed (auto examine off); freed at finish. */
	struct examine_allowed *examine_allowed;
};

struct examine_allowed {
	struct examine_allowed *next;
	char name[];
};

/* A spio_bdev_wait_for_examine() caller, answered on its thread. */
struct examine_waiter {
	spio_bdev_wait_for_examine_cb cb;
	void *cb_arg;
	struct spio_thread *thread;
	struct examine_waiter *next;
	struct spio_msg msg;
};

extern struct bdev_mgr g_bdev_mgr;

/* spio_bdev_module.internal_state_ */
enum bdev_module_state {
	BDEV_MODULE_NONE = 0, /* not initialised (or finished) */
	BDEV_MODULE_INITING,  /* async init started, init_done not yet called */
	BDEV_MODULE_READY,
	BDEV_MODULE_FAILED,    /* its init failed: no fini */
	BDEV_MODULE_FINISHING, /* async fini started, fini_done not yet called */
};

/* bdev.c: run the initialised modules' fini in turn, then `done` (optional). */
void bdev_fini_modules(void (*done)(void *cb_arg), void *cb_arg);

void bdev_stat_add(struct spio_bdev_io_stat *to, const struct spio_bdev_io_stat *from);
void bdev_stat_record(struct spio_bdev_io_stat *stat, struct spio_bdev_io *io, bool success,
		      uint64_t ticks);
void bdev_desc_put(struct spio_bdev_desc *desc);

/* How an I/O in flight holds its descriptor (spio_bdev_io.internal.desc_hold). */
enum bdev_desc_hold {
	BDEV_DESC_HOLD_LOCAL = 0, /* the opener's thread: desc->local_ios */
	BDEV_DESC_HOLD_CHANNEL,	  /* another thread: its channel's held_desc */
	BDEV_DESC_HOLD_REF,	  /* another thread, its channel holds another one: desc->refs */
};

/* Another thread's channel starts holding `desc` (bdev.c). */
void bdev_channel_hold_desc(struct spio_bdev_channel *ch, struct spio_bdev_desc *desc);

/*
 * An I/O in flight on `ch` (on the calling thread) holds the descriptor.
 * On the opener's thread this is a plain counter; on another thread the
 * channel's one reference covers every I/O of the descriptor it holds, so
 * a descriptor shared by many threads (the NVMe-oF target's namespace)
 * costs no locked instruction per I/O either.
 */
static inline void bdev_desc_get_io(struct spio_bdev_desc *desc, struct spio_bdev_channel *ch,
				    struct spio_bdev_io *io)
{
	if (spio_likely(ch->thread == desc->thread)) {
		desc->local_ios++;
		io->internal.desc_hold = BDEV_DESC_HOLD_LOCAL;
	} else if (spio_likely(ch->held_desc == desc)) {
		ch->held_desc_ios++;
		io->internal.desc_hold = BDEV_DESC_HOLD_CHANNEL;
	} else if (ch->held_desc_ios == 0) {
		bdev_channel_hold_desc(ch, desc);
		ch->held_desc_ios = 1;
		io->internal.desc_hold = BDEV_DESC_HOLD_CHANNEL;
	} else {
		__atomic_add_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
		io->internal.desc_hold = BDEV_DESC_HOLD_REF;
	}
}

/* `hold` and `ch` as the I/O had them (read before its callback freed it). */
static inline void bdev_desc_put_io(struct spio_bdev_desc *desc, struct spio_bdev_channel *ch,
				    uint8_t hold)
{
	switch (hold) {
	case BDEV_DESC_HOLD_LOCAL:
		if (--desc->local_ios == 0 && desc->closed) {
			bdev_desc_put(desc); /* the open reference close left for them */
		}
		break;
	case BDEV_DESC_HOLD_CHANNEL:
		ch->held_desc_ios--;
		break;
	default:
		bdev_desc_put(desc);
		break;
	}
}

static inline struct bdev_mgmt_channel *bdev_mgmt_from_bdev_channel(struct spio_bdev_channel *ch)
{
	return ch->mgmt;
}

/* bdev_io.c: the management channel's cache (create/destroy of the channel). */
int bdev_mgmt_cache_fill(struct bdev_mgmt_channel *mgmt, uint32_t size);
void bdev_mgmt_cache_drain(struct bdev_mgmt_channel *mgmt);

/*
 * Free bdev_ios: those in the pool plus those in every thread's cache (the
 * capacity when none is in use). Exact when no thread gets or frees one
 * (tests, between polls), a snapshot otherwise. Any thread.
 */
size_t bdev_io_free_count(void);

static inline bool bdev_io_type_writes(enum spio_bdev_io_type type)
{
	return type == SPIO_BDEV_IO_TYPE_WRITE || type == SPIO_BDEV_IO_TYPE_WRITE_ZEROES ||
	       type == SPIO_BDEV_IO_TYPE_UNMAP || type == SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE;
}

/* Range locks (bdev_lock.c) */
int bdev_channel_copy_ranges(struct spio_bdev_channel *ch);
void bdev_channel_free_ranges(struct spio_bdev_channel *ch);
bool bdev_io_blocked_by_lock(struct spio_bdev_channel *ch, struct spio_bdev_io *io);
void bdev_io_list_add(struct spio_bdev_io **head, struct spio_bdev_io *io);
void bdev_io_list_del(struct spio_bdev_io **head, struct spio_bdev_io *io);
void bdev_channel_io_done(struct spio_bdev_channel *ch);
void bdev_io_submit_to_module(struct spio_bdev_io *io);

/* bdev_io.c: start a validated I/O on its channel (lock check, in flight, module). */
void bdev_io_start(struct spio_bdev_channel *ch, struct spio_bdev_io *io);

/*
 * QoS (bdev_qos.c). The hooks run on the channel's thread, except
 * bdev_qos_bdev_removing() (the unregistering thread) and bdev_qos_bdev_gone()
 * (after the last channel is gone).
 */

/* Submit path with ch->qos set: true if QoS took the I/O (queued, or a reset
 * started after the queues were emptied), false to start it now. */
bool bdev_qos_queue_io(struct spio_bdev_channel *ch, struct spio_bdev_io *io);
/*
 * Bumped whenever any bdev's limits change. A channel created while limits
 * were being set may be missed by the traversal that applies them (it joins
 * its thread's list only after its create callback); its next submission
 * sees the generation moved and calls bdev_qos_resync(). Atomic.
 */
extern uint64_t g_bdev_qos_gen;
/* Attach the channel to its bdev's limiter or detach it, as the limits say now. */
void bdev_qos_resync(struct spio_bdev_channel *ch);
void bdev_qos_channel_create(struct spio_bdev_channel *ch);
/* Fails the channel's queued I/O (their callbacks run inside). */
void bdev_qos_channel_destroy(struct spio_bdev_channel *ch);
/* The bdev is being unregistered: fail every queued I/O, stop limiting. */
void bdev_qos_bdev_removing(struct spio_bdev *bdev);
void bdev_qos_bdev_gone(struct spio_bdev *bdev);
/* save_config: a bdev_set_qos_limit entry if the bdev has limits. */
void bdev_qos_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w);
/* Tests: the tick source of the limiter (NULL: spio_get_ticks); set it
 * before the first limit is set on a bdev, in spio_get_ticks_hz() units. */
void bdev_qos_set_clock(uint64_t (*now)(void));

/* Latency histograms (bdev_histogram.c), hooks as for QoS. */
struct bdev_histogram;
void bdev_histogram_tally(struct bdev_histogram *h, const struct spio_bdev_io *io, uint64_t ticks);
void bdev_histogram_channel_create(struct spio_bdev_channel *ch);
void bdev_histogram_channel_destroy(struct spio_bdev_channel *ch);
void bdev_histogram_bdev_gone(struct spio_bdev *bdev);
/* save_config: a bdev_enable_histogram entry if the histogram is on. */
void bdev_histogram_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w);
/* bdev_get_bdevs: "spio_histogram": {"enabled", and while enabled "opc", the ranges} */
void bdev_histogram_write_info_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w);

/* bdev_opts.c */

/* The options in force (spio_bdev_set_opts() or the defaults). */
const struct spio_bdev_opts *bdev_opts_current(void);

/* True if modules may examine `bdev` now: auto examine, or its name was allowed. */
bool bdev_examine_allowed(const struct spio_bdev *bdev);

/* Forget the names spio_bdev_examine() allowed (at finish). */
void bdev_examine_allowed_clear(void);

/* bdev.c: count and run the examine of a registered bdev (spio_bdev_examine). */
void bdev_examine_registered(struct spio_bdev *bdev);

#endif /* SPIO_BDEV_INTERNAL_H */
