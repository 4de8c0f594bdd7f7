/*
 * The nvme bdev module's internals, shared by its controller side
 * (bdev_nvme.c: attach, namespaces, reset, detach, configuration), its I/O
 * side (bdev_nvme_io.c: channels, poll groups, commands) and its RPCs.
 *
 * Threads. Everything in struct bdev_nvme_ctrlr belongs to the admin thread
 * (the bdev layer's thread) except the atomics, which I/O threads read.
 * A channel (struct bdev_nvme_channel) belongs to its thread; the admin
 * thread reaches channels only through spio_for_each_channel().
 */
#ifndef SPIO_MODULE_BDEV_NVME_INTERNAL_H
#define SPIO_MODULE_BDEV_NVME_INTERNAL_H

#include <stdatomic.h>
#include <sys/queue.h>

#include "spio/bdev_module.h"
#include "spio/bdev_nvme.h"
#include "spio/nvme.h"
#include "spio/thread.h"

/* How often a channel whose queue pair is down checks whether it may reconnect. */
#define BDEV_NVME_RECONNECT_PERIOD_US 1000

struct bdev_nvme_ctrlr;
struct bdev_nvme_channel;

/* One namespace's bdev; freed by its destruct. */
struct bdev_nvme_ns {
	struct spio_bdev bdev; /* first: the bdev's ctxt */
	struct bdev_nvme_ctrlr *nc;
	struct spio_nvme_ns *ns;
	uint32_t nsid;
	/* Bit per enum spio_bdev_io_type, fixed at creation (any thread reads it). */
	uint32_t io_types;
	/* The controller has a volatile write cache: flush goes to it. */
	bool flush_needed;
	/* The namespace went away: its I/O fails without reaching the controller. */
	atomic_bool removed;
	/* spio_bdev_unregister() was called for it. */
	bool unregistering;
	TAILQ_ENTRY(bdev_nvme_ns) link;
};

/* Per-I/O context (spio_bdev_io driver context). */
struct bdev_nvme_io {
	struct bdev_nvme_channel *ch;
	TAILQ_ENTRY(bdev_nvme_io) link; /* channel's pending list, or the controller's resets */
	/* Unmap and write_zeroes go out in pieces, one after another. */
	uint64_t next_lba;
	uint64_t remaining;
	/* Blocks of the piece in flight: a lost piece goes out again. */
	uint64_t piece;
	/* A multi-iovec compare's flat copy (plain memory; TCP only). */
	void *bounce;
	/* PCIe: the channel's DMA bounce chunks it holds (bounce_len 0: none). */
	uint8_t *bounce_buf;
	uint32_t bounce_len;
	uint8_t bounce_first, bounce_chunks;
	/* Times it went out again after its connection was lost. */
	uint32_t retries;
	/* Hands a reset to the admin thread without allocating. */
	struct spio_msg msg;
};

TAILQ_HEAD(bdev_nvme_io_list, bdev_nvme_io);

enum bdev_nvme_channel_state {
	BDEV_NVME_CH_CONNECTING, /* connect in flight: I/O waits */
	BDEV_NVME_CH_CONNECTED,
	BDEV_NVME_CH_RECONNECT,	 /* lost alone: its poller reconnects it */
	BDEV_NVME_CH_WAIT_RESET, /* lost with the controller: reconnected after the reset */
	BDEV_NVME_CH_CLOSING,	 /* being destroyed */
};

/* One thread's poll group (the context of the "poll groups" io_device's channel). */
struct bdev_nvme_group {
	struct spio_nvme_poll_group *group;
	TAILQ_HEAD(, bdev_nvme_channel) channels;
};

/* Chunks of a channel's bounce pool: one bit each of a 64-bit mask. */
#define BDEV_NVME_BOUNCE_CHUNKS 64
/* The pool is at least this large (more when one command can move more). */
#define BDEV_NVME_BOUNCE_MIN_POOL (1024u * 1024)

/*
 * PCIe only: a channel's DMA memory for I/O whose buffers the controller
 * cannot reach (bdev_nvme_bounce.c). One region split into 64 chunks; an
 * I/O takes a run of adjacent chunks, so its bounce buffer is flat.
 */
struct bdev_nvme_bounce {
	uint8_t *mem; /* NULL: the controller takes any memory (TCP) */
	uint32_t chunk;
	uint32_t sgls;	    /* the controller's SGL support (SPIO_NVME_SGLS_SUPPORT_MASK bits) */
	uint64_t free_mask; /* bit i: chunk i free */
	/* I/O waiting for chunks, oldest first (their link field). */
	struct bdev_nvme_io_list waiting;
	bool kicking;
	/* Chunks were in commands when the queue pair was freed: the device may still write. */
	bool device_owned;
	/* I/Os bounced, and those of them that had to wait for chunks. */
	uint64_t bounced, waited;
};

/* One thread's channel to a controller (the controller's io_device): its queue pair. */
struct bdev_nvme_channel {
	struct bdev_nvme_ctrlr *nc;
	struct spio_io_channel *group_ch;
	struct bdev_nvme_group *group;
	struct spio_nvme_qpair *qpair; /* NULL until the controller lets one be allocated */
	enum bdev_nvme_channel_state state;
	/* I/O waiting for the queue pair (down, or out of command slots), oldest first. */
	struct bdev_nvme_io_list pending;
	/* Reconnects a lost queue pair; paused while connected or connecting. */
	struct spio_poller *poller;
	/* A reset waiting for this channel's connect. */
	struct spio_io_channel_iter *reset_iter;
	struct bdev_nvme_bounce bounce;
	TAILQ_ENTRY(bdev_nvme_channel) link;
};

/* A caller waiting for a detach to end. */
struct bdev_nvme_waiter {
	spio_bdev_delete_cb cb;
	void *cb_arg;
	struct bdev_nvme_waiter *next;
};

struct bdev_nvme_ctrlr {
	char *name;
	/* The options as given (name points at `name`), for replies and save_config. */
	struct spio_bdev_nvme_opts opts;
	/* The module options it needs, as they were at attach (I/O threads read them). */
	int32_t bdev_retry_count;
	bool enable_flush;
	/* PCIe: data must be DMA memory, else it is bounced (totals of all channels). */
	bool pcie;
	atomic_uint_fast64_t bounced_ios, bounce_waits;
	struct spio_nvme_ctrlr *ctrlr; /* NULL while attaching */
	struct spio_thread *thread;
	TAILQ_HEAD(, bdev_nvme_ns) namespaces;
	/* Namespace bdevs not yet destructed. */
	uint32_t num_bdevs;
	bool io_device_registered;

	/* A reset is running (disconnect, controller reset, reconnect). */
	bool resetting;
	/*
	 * From a reset's start until one succeeds (through failed resets and
	 * reconnect delays) and while destructing: channels must not reconnect
	 * on their own.
	 */
	atomic_bool down;
	/* A thread saw its queue pair fail to come back: reset at the next health check. */
	atomic_bool reset_requested;
	/* I/O that cannot go out now fails instead of waiting (see update_io_fail in bdev_nvme.c).
	 */
	atomic_bool io_fail;
	/* spio_nvme_ctrlr_reset_async() was busy: try again at the next health check. */
	bool reset_retry;
	bool reconnect_delayed;
	bool fast_io_fail_timedout;
	/* ctrlr_loss_timeout_sec 0 and the reset failed: no more automatic resets. */
	bool gave_up;
	bool destructing;
	/* The io_device is being unregistered and the controller detached. */
	bool detaching;
	/* Resets that failed in a row (for the log). */
	uint32_t failed_resets;
	/* When the controller was lost (0: it is not). */
	uint64_t reset_start_tsc;
	struct spio_poller *health_poller;
	struct spio_poller *delay_timer;
	/* Reset I/Os waiting for the running or next reset. */
	struct bdev_nvme_io_list pending_resets;
	struct bdev_nvme_waiter *waiters;
	TAILQ_ENTRY(bdev_nvme_ctrlr) link;
};

/* bdev_nvme_opts.c */
/* The module options in effect; changed only while no controller exists. */
extern struct spio_bdev_nvme_module_opts g_bdev_nvme_opts;
/* SPDK's rules tying the three reconnect options together: 0, or -EINVAL with a message. */
int bdev_nvme_check_resiliency(int32_t loss, uint32_t delay, uint32_t fast, char *err,
			       size_t err_len);
/* The bit of a DH-HMAC-CHAP digest (`digests`) or group name, SPDK's numbering; -1: unknown. */
int bdev_nvme_dhchap_bit(bool digests, const char *name);
/* The options hold SPDK's defaults (save_config may leave them out). */
bool bdev_nvme_opts_are_default(void);
/* save_config's bdev_nvme_set_options entry: SPDK's members, in SPDK's order. */
void bdev_nvme_opts_config_json(struct spio_json_write_ctx *w);
/*
 * SPDK's UUID for a namespace without NGUID or UUID (generate_uuids): version 5,
 * in SPDK's namespace, of the serial number (`sn`, `sn_len` bytes, up to a NUL) and nsid.
 */
void bdev_nvme_generate_uuid(const char *sn, size_t sn_len, uint32_t nsid, struct spio_uuid *uuid);

/* bdev_nvme.c */
/* Options may change now: 0; -EXDEV (not the bdev layer's thread); -EPERM (a controller exists). */
int bdev_nvme_opts_may_change(void);
struct bdev_nvme_ctrlr *bdev_nvme_ctrlr_find(const char *name);
struct bdev_nvme_ctrlr *bdev_nvme_ctrlr_first(void);
struct bdev_nvme_ctrlr *bdev_nvme_ctrlr_next(struct bdev_nvme_ctrlr *nc);
/* SPDK's nvme_ctrlr_info_json: one element of bdev_nvme_get_controllers' ctrlrs[]. */
void bdev_nvme_ctrlr_info_json(struct bdev_nvme_ctrlr *nc, struct spio_json_write_ctx *w);
/* Hand a RESET bdev_io to the admin thread: it completes when the controller reset ends. */
void bdev_nvme_reset_io(struct bdev_nvme_ctrlr *nc, struct spio_bdev_io *bdev_io);

/* bdev_nvme_io.c */
/* The per-thread poll group device; registered at module init. */
int bdev_nvme_groups_init(void);
void bdev_nvme_groups_fini(void (*done)(void));
int bdev_nvme_channel_create(void *io_device, void *ctx);
void bdev_nvme_channel_destroy(void *io_device, void *ctx);
void bdev_nvme_submit_request(struct spio_io_channel *ch, struct spio_bdev_io *bdev_io);
/* Reset steps, per channel (spio_for_each_channel functions). */
void bdev_nvme_channel_disconnect(struct spio_io_channel_iter *iter);
void bdev_nvme_channel_reconnect(struct spio_io_channel_iter *iter);
/* Fail the I/O a channel holds back when the controller says so (io_fail). */
void bdev_nvme_channel_fail_pending(struct spio_io_channel_iter *iter);
/* I/O that cannot go out now must fail (rather than wait for a reconnect). */
bool bdev_nvme_io_must_fail(const struct bdev_nvme_ctrlr *nc);

/* bdev_nvme_bounce.c (PCIe controllers; no-ops for the others) */
/* The channel's pool, at channel create: 0 or -ENOMEM (logged). */
int bdev_nvme_bounce_init(struct bdev_nvme_channel *ch);
/* Before the channel's queue pair is freed: note chunks still in the device's commands. */
void bdev_nvme_bounce_detach(struct bdev_nvme_channel *ch);
/*
 * Free the pool; it is kept instead (and that is logged) when a chunk is not
 * back or was in the device when the queue pair was freed.
 */
void bdev_nvme_bounce_fini(struct bdev_nvme_channel *ch);
/* The read, write or compare must go through the bounce pool (memory or shape). */
bool bdev_nvme_bounce_needed(const struct bdev_nvme_channel *ch,
			     const struct spio_bdev_io *bdev_io);
/*
 * Take chunks for the I/O and copy a write's or compare's data in: 0;
 * -EAGAIN (not enough adjacent free chunks now: wait); -E2BIG (larger than
 * the pool: it never fits, logged).
 */
int bdev_nvme_bounce_get(struct bdev_nvme_channel *ch, struct bdev_nvme_io *nio);
/* Give the chunks back, first copying a successful read's data out. */
void bdev_nvme_bounce_put(struct bdev_nvme_channel *ch, struct bdev_nvme_io *nio, bool copy_out);
/* bdev_get_bdevs' driver_specific "spio_bounce" object of a PCIe controller. */
void bdev_nvme_bounce_info_json(struct bdev_nvme_ctrlr *nc, struct spio_json_write_ctx *w);

#endif /* SPIO_MODULE_BDEV_NVME_INTERNAL_H */
