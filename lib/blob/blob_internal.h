/*
 * The blobstore's in-memory structures and the contracts between its files.
 * Internal to lib/blob.
 *
 * Files and who calls whom (arrows point down):
 *   blob_await.c                 _await twins over the public callbacks
 *   blob_snapshot.c              snapshot, clone, inflate, decouple, snapshot delete
 *   bs_init.c bs_load.c bs_unload.c   store lifecycle; bs_load.c also recovers
 *   blob_create.c blob_open.c blob_delete.c blob_resize.c blob_xattr.c bs_iter.c
 *   blob_sync.c                  writes a blob's metadata (blob_persist)
 *   blob_md_read.c               reads a blob's md chain and extent pages
 *   blob_codec.c                 blob <-> md pages (pure)
 *   blob_io.c blob_channel.c blob_back_dev.c blob_freeze.c   the I/O path
 *   bs_core.c                    store struct, masks, claims, super block I/O
 *   blob_format.c blob_desc.c    the on-disk format (pure)
 *
 * Threads: everything but the I/O path (blob_io.c, blob_channel.c,
 * blob_back_dev.c) runs on bs->md_thread and touches the store without
 * locks. The I/O path reads blob->clusters[] from any thread: the md thread
 * stores an entry with a release store only when it goes from 0 to a
 * cluster (thin allocation); every other change to the array (resize,
 * snapshot, inflate, delete) happens while the blob's I/O is frozen
 * (blob_freeze.c), which orders it against every channel by message.
 */
#ifndef SPIO_BLOB_INTERNAL_H
#define SPIO_BLOB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "blob_format.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/thread.h"

/* Internal xattrs SPDK keeps on blobs (names as on disk). */
#define BLOB_XATTR_SNAPSHOT "SNAP"		     /* on a clone: its parent's id (8 bytes) */
#define BLOB_XATTR_SNAPSHOT_IN_PROGRESS "SNAPTMP"    /* on a new snapshot: the origin's id */
#define BLOB_XATTR_SNAPSHOT_PENDING_REMOVAL "SNAPRM" /* on a snapshot being merged away */

#define BS_DEFAULT_CLUSTER_SZ (1024u * 1024u)
#define BS_DEFAULT_CHANNEL_OPS 512u

struct blob_xattr {
	TAILQ_ENTRY(blob_xattr) link;
	char *name; /* NUL-terminated copy */
	void *value;
	uint16_t value_len;
};
TAILQ_HEAD(blob_xattr_list, blob_xattr);

/* A growable bit array (md pages, clusters, blob ids); md thread only. */
struct bs_bits {
	uint8_t *bits;
	uint64_t nbits;
	uint64_t nset;
};

/*
 * A blob's cluster map. clusters[i] is the physical cluster index (from the
 * start of the device) of blob cluster i, 0 when not allocated (cluster 0
 * always holds the super block). extent_pages[e] is the md page index of the
 * extent page of clusters [e * BLOB_EXTENTS_PER_EP, ...), 0 when none.
 */
struct blob_map {
	uint64_t num_clusters;
	uint64_t *clusters;
	uint64_t num_allocated;
	uint64_t num_extent_pages; /* ceil(num_clusters / BLOB_EXTENTS_PER_EP) */
	uint32_t *extent_pages;
};

struct blob_sync_waiter;
struct blob_open_waiter;
struct blob_freeze_waiter;

struct spio_blob {
	struct spio_blob_store *bs;
	spio_blob_id id;
	uint32_t open_ref;
	TAILQ_ENTRY(spio_blob) link; /* bs->open_blobs */

	/* What the metadata says now (active) and what is on the device (disk). */
	struct blob_map active;
	struct blob_map disk;
	uint32_t *md_pages; /* the chain on the device; md_pages[0] == id's page */
	uint32_t num_md_pages;
	void *disk_chain; /* the chain's pages as last written, before sealing (NULL: unknown) */
	uint32_t disk_chain_pages;

	struct blob_xattr_list xattrs;
	struct blob_xattr_list xattrs_internal;

	uint64_t invalid_flags;
	uint64_t data_ro_flags;
	uint64_t md_ro_flags;
	bool data_ro; /* writes refused */
	bool md_ro;   /* metadata changes refused */
	bool use_extent_table;
	enum spio_blob_clear_method clear_method;
	spio_blob_id parent_id; /* from the SNAP internal xattr, else SPIO_BLOBID_INVALID */

	/* Where reads of unallocated clusters go: the parent blob, or zeroes. */
	struct spio_bs_dev *back_bs_dev;

	bool dirty; /* active differs from what was last written */
	/* The next persist writes changed extent pages to new md pages even when they
	 * only gained clusters: the clusters it adds are owned on the device by
	 * another blob until the commit (a snapshot merging into its clone). */
	bool ep_cow_next;
	bool sync_running; /* blob_persist in flight */
	TAILQ_HEAD(, blob_sync_waiter) sync_waiters;

	/* I/O freeze (blob_freeze.c): >0 holds new I/O in every channel. */
	uint32_t frozen_refcnt;
	TAILQ_HEAD(, blob_freeze_waiter) freeze_waiters;
	bool locked_operation; /* a snapshot / inflate / decouple / resize is running */

	/* Opening: the metadata is being read; later opens wait here. */
	bool loading;
	TAILQ_HEAD(, blob_open_waiter) open_waiters;

	/* Clusters and md pages released by the in-memory state, freed once it is on the device. */
	uint64_t *pending_free_clusters;
	uint64_t num_pending_free_clusters;
	uint64_t cap_pending_free_clusters;
};
TAILQ_HEAD(blob_list, spio_blob);

/* A snapshot and its clones, as the store knows them from every blob's metadata. */
struct bs_snapshot_entry {
	spio_blob_id id;
	TAILQ_ENTRY(bs_snapshot_entry) link;
	size_t clone_count;
	spio_blob_id *clones;
	size_t clones_cap;
};

struct spio_blob_store {
	struct spio_bs_dev *dev;
	struct spio_thread *md_thread;
	struct spio_io_channel *md_channel; /* the md thread's own blobstore channel */

	struct blob_geometry geo;
	struct blob_super_block *super; /* DMA copy of the on-device super block */
	uint32_t io_unit_size;
	uint64_t io_units_per_cluster;
	uint64_t blocks_per_io_unit; /* device blocks per io unit */
	uint64_t blocks_per_page;    /* device blocks per md page */
	uint32_t max_channel_ops;
	struct spio_bs_type bstype;
	spio_blob_id super_blob;
	bool clean; /* the super block on the device says clean */

	struct bs_bits used_md_pages;
	struct bs_bits used_clusters;
	struct bs_bits used_blobids;
	struct bs_bits open_blobids; /* ids being deleted or created: not openable */
	uint64_t num_free_clusters;

	struct blob_list open_blobs;
	TAILQ_HEAD(, bs_snapshot_entry) snapshots;
	uint32_t num_channels; /* for unload's -EBUSY */
	bool unloading;
};

/* Per-thread channel (blob_channel.c): the device channel and the op pool. */
struct bs_channel;

/*
 * bs_core.c
 */

int bs_bits_resize(struct bs_bits *b, uint64_t nbits);
void bs_bits_free(struct bs_bits *b);
bool bs_bits_test(const struct bs_bits *b, uint64_t i);
void bs_bits_set(struct bs_bits *b, uint64_t i);
void bs_bits_clear(struct bs_bits *b, uint64_t i);
/** First clear bit at or after `from`, or UINT64_MAX. */
uint64_t bs_bits_find_clear(const struct bs_bits *b, uint64_t from);
/** First set bit at or after `from`, or UINT64_MAX. */
uint64_t bs_bits_find_set(const struct bs_bits *b, uint64_t from);

/** Allocate a store for `dev` on the calling thread (which becomes md thread); NULL on ENOMEM. */
struct spio_blob_store *bs_alloc(struct spio_bs_dev *dev);
/** Free the store's memory (not the device, not open blobs). */
void bs_free(struct spio_blob_store *bs);
/** Fill bs->geo-derived fields and size the masks from bs->super. \return 0, -EINVAL, -ENOMEM. */
int bs_setup_from_super(struct spio_blob_store *bs);

/**
 * Claim a free md page at or after `from` (its bit set); UINT32_MAX if none.
 * Extent pages start at 1: an extent table entry of 0 means "none".
 */
uint32_t bs_claim_md_page(struct spio_blob_store *bs, uint32_t from);
void bs_release_md_page(struct spio_blob_store *bs, uint32_t page);
/** Claim a free data cluster; 0 if none (cluster 0 is never a data cluster). */
uint64_t bs_claim_cluster(struct spio_blob_store *bs);
void bs_release_cluster(struct spio_blob_store *bs, uint64_t cluster);

/** Device lba of md page `page` (an index into the md region) / of a physical cluster. */
uint64_t bs_md_page_to_lba(const struct spio_blob_store *bs, uint32_t page);
uint64_t bs_cluster_to_lba(const struct spio_blob_store *bs, uint64_t cluster);
/** Device blocks of `n` io units. */
uint64_t bs_io_units_to_blocks(const struct spio_blob_store *bs, uint64_t n);

/** DMA buffer of `n` md pages (md_page_size each), zeroed; NULL on ENOMEM. */
void *bs_md_buf_alloc(const struct spio_blob_store *bs, uint32_t n);

/*
 * Md I/O on the md thread through bs->md_channel: one operation, callback
 * later on the md thread with 0 or the device's errno. `buf` must stay valid
 * until then. These allocate a small context (-ENOMEM to cb_fn, deferred).
 */
typedef void (*bs_io_cpl)(void *cb_arg, int rc);
void bs_dev_read(struct spio_blob_store *bs, void *buf, uint64_t lba, uint32_t lba_count,
		 bs_io_cpl cb_fn, void *cb_arg);
void bs_dev_write(struct spio_blob_store *bs, void *buf, uint64_t lba, uint32_t lba_count,
		  bs_io_cpl cb_fn, void *cb_arg);
void bs_dev_write_zeroes(struct spio_blob_store *bs, uint64_t lba, uint64_t lba_count,
			 bs_io_cpl cb_fn, void *cb_arg);
void bs_dev_unmap(struct spio_blob_store *bs, uint64_t lba, uint64_t lba_count, bs_io_cpl cb_fn,
		  void *cb_arg);
void bs_dev_flush(struct spio_blob_store *bs, bs_io_cpl cb_fn, void *cb_arg);
/** Read / write md page `page` (one md page). */
void bs_md_page_read(struct spio_blob_store *bs, uint32_t page, void *buf, bs_io_cpl cb_fn,
		     void *cb_arg);
void bs_md_page_write(struct spio_blob_store *bs, uint32_t page, const void *buf, bs_io_cpl cb_fn,
		      void *cb_arg);

/** Write bs->super (after setting `clean` and the CRC). */
void bs_write_super(struct spio_blob_store *bs, bool clean, bs_io_cpl cb_fn, void *cb_arg);
/** Write the three masks from the in-memory bits. */
void bs_write_masks(struct spio_blob_store *bs, bs_io_cpl cb_fn, void *cb_arg);

/** Run cb_fn(cb_arg, rc) later on the md thread (never inline). -ENOMEM only if no message. */
int bs_defer(struct spio_blob_store *bs, bs_io_cpl cb_fn, void *cb_arg, int rc);

/** True on the store's md thread; logs `what` otherwise. */
bool bs_on_md_thread(const struct spio_blob_store *bs, const char *what);

/** The open blob with this id, or NULL. */
struct spio_blob *bs_find_open_blob(struct spio_blob_store *bs, spio_blob_id id);

/* Snapshot registry: rebuilt at load from every blob's parent, kept as clones come and go. */
int bs_snapshot_add_clone(struct spio_blob_store *bs, spio_blob_id snapshot, spio_blob_id clone);
void bs_snapshot_remove_clone(struct spio_blob_store *bs, spio_blob_id snapshot,
			      spio_blob_id clone);
struct bs_snapshot_entry *bs_snapshot_find(struct spio_blob_store *bs, spio_blob_id snapshot);
void bs_snapshots_free(struct spio_blob_store *bs);

/*
 * In-memory blobs (blob_open.c)
 */

/** A new in-memory blob (no metadata read), open_ref 0, not in open_blobs; NULL on ENOMEM. */
struct spio_blob *blob_alloc(struct spio_blob_store *bs, spio_blob_id id);
/** Free a blob's memory (xattrs, maps, back device). Not in open_blobs any more. */
void blob_free(struct spio_blob *blob);
/** Resize a map's arrays for `num_clusters` (new entries 0). \return 0 or -ENOMEM. */
int blob_map_resize(struct blob_map *m, uint64_t num_clusters);
void blob_map_free(struct blob_map *m);
/** Copy `src` into `dst` (dst's arrays resized). \return 0 or -ENOMEM. */
int blob_map_copy(struct blob_map *dst, const struct blob_map *src);

/* xattrs (blob_xattr.c) */
struct blob_xattr *blob_xattr_find(struct blob_xattr_list *list, const char *name);
/** Set name = value in `list` (internal or not), copying both. \return 0, -EINVAL, -ENOMEM. */
int blob_xattr_set(struct spio_blob *blob, const char *name, const void *value, uint16_t len,
		   bool internal);
int blob_xattr_remove(struct spio_blob *blob, const char *name, bool internal);
void blob_xattr_list_free(struct blob_xattr_list *list);

/*
 * blob_codec.c: the blob's metadata chain and its extent pages as bytes.
 * Pure; md pages are md_page_size bytes of which the first BLOB_PAGE_SIZE
 * hold the page (the rest zero).
 */

/**
 * Lay the blob's metadata (flags, xattrs, internal xattrs, and either the
 * extent table or the extent list, in SPDK's order) out into pages: fills
 * `pages` (a buffer of `max_pages` md pages) with ids and sequence numbers
 * set, `next` and CRC not yet (blob_md_page_seal() does those once the page
 * indices are known). Uses blob->active for sizes and blob->active.extent_pages
 * for the extent table.
 * \return the number of pages (>= 1); -ENOSPC if more than max_pages are
 *         needed; -EINVAL if a single xattr cannot fit a page.
 */
int blob_md_serialize(const struct spio_blob *blob, void *pages, uint32_t max_pages);

/** Pages blob_md_serialize() needs for the blob now (an upper bound is fine). */
uint32_t blob_md_count_pages(const struct spio_blob *blob);

/**
 * Fill the extent page `ep` of the blob (clusters ep * BLOB_EXTENTS_PER_EP
 * ... of blob->active, stopping at num_clusters) into `page`, sealed (no
 * next, CRC set).
 */
void blob_ep_serialize(const struct spio_blob *blob, uint64_t ep, void *page);

/**
 * Fill a freshly allocated blob (blob_alloc) from its chain `pages`
 * (`npages` md pages, already checked with blob_md_page_check): flags,
 * xattrs, size, and the cluster map of an extent list, or the extent table
 * (active.extent_pages; the clusters then come from blob_ep_parse()).
 * Checks what SPDK's loader checks: known invalid flags (-ENOTSUP), an
 * extent list and table not both (-EINVAL), clusters inside the store
 * (-ERANGE), xattrs well formed (-EINVAL), the SNAP xattr 8 bytes (-EINVAL).
 * Also fills blob->disk from the result. \return 0 or the error, in `err`.
 */
int blob_md_parse(struct spio_blob *blob, const void *pages, uint32_t npages,
		  struct blob_fmt_err *err);

/**
 * Read the extent page at md page active.extent_pages[ep] into the blob's
 * cluster map (entries past num_clusters ignored). Checks the page's CRC,
 * id (any valid blob id: a snapshot SPDK made took over its origin's extent
 * pages, which keep the origin's id), sequence 0, and that it starts at
 * ep's first cluster.
 * Also updates blob->disk. \return 0, -EBADMSG, -EINVAL, -ERANGE.
 */
int blob_ep_parse(struct spio_blob *blob, uint64_t ep, const void *page, struct blob_fmt_err *err);

/*
 * blob_md_read.c: read a blob's metadata from the device into a blob
 */

/**
 * Read the chain starting at the blob's id page (at most md_len pages, so a
 * loop ends), parse it (blob_md_parse), then read and parse every extent
 * page, and set blob->md_pages. cb_fn gets 0, -ENOENT (the first page is
 * not a blob's first page: free, or another blob's), a format error (logged
 * with the blob id and page), -ENOMEM, or an I/O error. md thread.
 */
void blob_md_load(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg);

/*
 * blob_sync.c
 */

/**
 * Write blob->active to the device: extent pages that only gained clusters
 * in place, every other changed extent page and every chain page but the
 * first to new md pages, then the first page (the commit point), then free
 * what the old metadata held (md pages, pending clusters with the blob's
 * clear method). Queued behind a running sync of the same blob. A blob
 * that is not dirty completes at once (deferred). md thread.
 * cb_fn: 0, -ENOSPC, -ENOMEM, or an I/O error (the blob stays dirty).
 */
void blob_persist(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg);

/**
 * Remove a blob's metadata from the device: zero its md pages and extent
 * pages, free them, its id and its clusters (cleared per clear method).
 * The blob must be unreachable (not open elsewhere). md thread.
 */
void blob_persist_delete(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg);

/** Remember `cluster` to be freed after the next successful persist. \return 0, -ENOMEM. */
int blob_defer_cluster_free(struct spio_blob *blob, uint64_t cluster);

/*
 * The I/O path: blob_channel.c, blob_io.c, blob_freeze.c, blob_back_dev.c
 */

/** Register the store as an io_device (channels of struct bs_channel). \return 0, -ENOMEM. */
int bs_channels_register(struct spio_blob_store *bs);
/** Unregister; cb_fn on the md thread once every channel is gone. */
void bs_channels_unregister(struct spio_blob_store *bs, bs_io_cpl cb_fn, void *cb_arg);

/**
 * Hold new I/O to `blob` in every channel (queued, not failed) and call
 * cb_fn once every channel has seen the freeze. Nests. md thread.
 */
void blob_freeze_io(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg);
/** Undo one blob_freeze_io(); at zero, every channel resubmits its held I/O. */
void blob_unfreeze_io(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg);

/** A bs_dev that reads zeroes and refuses writes (the back device of thin blobs). */
struct spio_bs_dev *bs_create_zeroes_dev(void);
/**
 * A read-only bs_dev over an open blob (the back device of its clones). It
 * takes over one open reference the caller holds on `parent` and gives it
 * back with spio_blob_close() at destroy() (called on the md thread). Its
 * blocks are the parent's io units. NULL on ENOMEM (the reference stays the caller's).
 */
struct spio_bs_dev *bs_create_blob_back_dev(struct spio_blob *parent);
/** True if `dev` is the zeroes device. */
bool bs_dev_is_zeroes(const struct spio_bs_dev *dev);

/**
 * Copy cluster `blob_cluster` of the blob from its back device into the
 * physical cluster `dst` (zero-fill when the back device reads zeroes:
 * nothing to copy, the caller decides whether to write zeroes). Uses the
 * calling thread's channel `channel`. cb_fn on that thread.
 */
void blob_copy_cluster(struct spio_blob *blob, struct spio_io_channel *channel,
		       uint64_t blob_cluster, uint64_t dst, bs_io_cpl cb_fn, void *cb_arg);

/**
 * On the md thread: give blob cluster `blob_cluster` the physical cluster
 * `cluster` if it has none yet, and persist the change (the extent page, or
 * the whole metadata). cb_fn: 0; -EEXIST if it got one meanwhile (the caller
 * frees `cluster` with bs_release_cluster and retries its I/O); an I/O error.
 */
void blob_insert_cluster(struct spio_blob *blob, uint64_t blob_cluster, uint64_t cluster,
			 bs_io_cpl cb_fn, void *cb_arg);

/* Helpers shared by the operations */

/** Build back_bs_dev from parent_id / thin flag (opening the parent if needed). md thread. */
void blob_setup_back_dev(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg);

/** The blob's thin flag as stored. */
static inline bool blob_is_thin(const struct spio_blob *blob)
{
	return (blob->invalid_flags & BLOB_FLAG_THIN_PROV) != 0;
}

/** Cluster index (physical) of the blob's cluster i, or 0; any thread (acquire load). */
static inline uint64_t blob_cluster_get(const struct spio_blob *blob, uint64_t i)
{
	return __atomic_load_n(&blob->active.clusters[i], __ATOMIC_ACQUIRE);
}

/*
 * Additions by the people writing each part go below, in their own section
 * (declarations only; nothing above changes without the lead).
 */

/* == md codec and load (blob_codec.c, blob_md_read.c, bs_load.c) == */

/* == I/O path (blob_channel.c, blob_io.c, blob_freeze.c, blob_back_dev.c) == */

/* Iovec entries one device operation of a request carries; a piece needing more is cut in parts. */
#define BLOB_IO_IOV_MAX 16

enum blob_io_op {
	BLOB_IO_READ,
	BLOB_IO_WRITE,
	BLOB_IO_UNMAP,
	BLOB_IO_WRITE_ZEROES,
};

/* Something to run on the md thread when a blob's I/O is unfrozen (blob->freeze_waiters). */
struct blob_freeze_waiter {
	TAILQ_ENTRY(blob_freeze_waiter) link;
	bs_io_cpl cb_fn;
	void *cb_arg;
};

struct bs_channel;

/*
 * One blob I/O, from a channel's pool (blob_io.c). It works through its
 * range one piece at a time (a piece never crosses a cluster), so at most
 * one device operation of it is in flight.
 */
struct blob_io_req {
	TAILQ_ENTRY(blob_io_req) link; /* free, held, allocating, alloc_waiters or bounce_waiters */
	struct bs_channel *ch;
	struct spio_blob *blob;
	enum blob_io_op op;
	bool internal;	/* a back device's read: not counted against max_channel_ops */
	bool in_submit; /* inside the submitting call: the completion is deferred */
	bool bounced;	/* the piece in flight goes through ch->bounce */
	bool touch;	/* a 0-length write: allocate the cluster at offset, as SPDK does */
	int rc;
	spio_blob_op_complete cb_fn;
	void *cb_arg;
	uint64_t offset; /* io units */
	uint64_t length;
	uint64_t done;	/* io units finished */
	uint64_t piece; /* io units of the device operation in flight */
	/* The caller's buffer, and where `done` is in it. */
	struct iovec *iov;
	int iovcnt;
	int iov_idx;
	size_t iov_off;
	struct iovec one; /* the payload of read / write */
	struct iovec sub[BLOB_IO_IOV_MAX];
	int subcnt;
	struct spio_bs_dev_cb_args dev_args;
	struct spio_msg msg;
	/* Allocation of the blob's cluster alloc_cluster (a write where it has none). */
	uint64_t alloc_cluster;
	uint64_t alloc_new; /* the physical cluster claimed, 0 if none */
	int alloc_rc;
	bool alloc_copied;	   /* alloc_new holds data: clear it before releasing it */
	spio_blob_id alloc_parent; /* the blob's parent at the claim: the copy's source */
	struct blob_freeze_waiter alloc_unfrozen; /* the insert waiting for an unfreeze */
	TAILQ_HEAD(, blob_io_req) alloc_waiters;  /* same (blob, cluster), this channel */
};
TAILQ_HEAD(blob_io_req_list, blob_io_req);

/* A thread's blobstore channel: the context of the store's io_device (blob_channel.c). */
struct bs_channel {
	struct spio_blob_store *bs;
	struct spio_thread *thread;
	struct spio_io_channel *dev_channel;
	struct blob_io_req *reqs; /* the pool: max_user_ops + a reserve for back devices' reads */
	uint32_t num_reqs;
	uint32_t max_user_ops; /* bs->max_channel_ops */
	uint32_t user_ops;     /* requests of callers now; -ENOMEM beyond max_user_ops */
	struct blob_io_req_list free_reqs;
	struct blob_io_req_list held;	    /* I/O of frozen blobs, resumed at unfreeze */
	struct blob_io_req_list allocating; /* requests allocating a cluster */
	void *bounce; /* one io unit (DMA), for iovecs finer than an io unit */
	bool bounce_busy;
	struct blob_io_req_list bounce_waiters;
};

/** True while the blob's I/O is frozen; any thread (acquire: pairs with blob_unfreeze_io). */
static inline bool blob_is_frozen(const struct spio_blob *blob)
{
	return __atomic_load_n(&blob->frozen_refcnt, __ATOMIC_ACQUIRE) != 0;
}

/**
 * Read for back devices (blob_back_dev.c): as spio_blob_io_readv() (or
 * spio_blob_io_read() into `payload` when `iov` is NULL) on the calling
 * thread's blobstore channel `channel`, but `iov` may hold more than
 * `length` io units (the rest is left alone) and the request comes from the
 * channel's reserve, not from the caller's max_channel_ops. cb_fn later, on
 * this thread.
 */
void blob_io_read_internal(struct spio_blob *blob, struct spio_io_channel *channel, void *payload,
			   struct iovec *iov, int iovcnt, uint64_t offset, uint64_t length,
			   spio_blob_op_complete cb_fn, void *cb_arg);

/** Resubmit the I/O of `blob` held in `ch` once the blob is not frozen. On ch's thread. */
void blob_io_resume_held(struct bs_channel *ch, struct spio_blob *blob);

/**
 * Run cb_fn(cb_arg, 0) on the md thread when the blob's freeze count drops
 * to 0 (before its held I/O resumes). The blob must be frozen. `w` is the
 * caller's until cb_fn runs. md thread. Thin allocation uses it so a frozen
 * blob's cluster map changes only through the operation that froze it.
 */
void blob_run_when_unfrozen(struct spio_blob *blob, struct blob_freeze_waiter *w, bs_io_cpl cb_fn,
			    void *cb_arg);

/*
 * Back devices take the calling thread's blobstore channel as their channel
 * (a blob back device reads its parent through it); the zeroes device needs
 * none: its create_channel returns NULL and any channel may be passed.
 */

/* == lead (bs_core.c, bs_init.c, bs_unload.c, blob ops, snapshot, await) == */

/** Recount b->nset after its bytes were written directly (mask decode). */
void bs_bits_recount(struct bs_bits *b);
/** num_free_clusters from used_clusters (after the masks were decoded or rebuilt). */
void bs_recount_free_clusters(struct spio_blob_store *bs);

/**
 * Defaults `def` (def_size bytes) into the caller's options struct of
 * opts_size bytes, as far as it goes, and its size_t field at `size_field`
 * (opts_size) if the caller's struct has it. NULL `opts`: nothing.
 */
void bs_opts_fill(void *opts, size_t opts_size, const void *def, size_t def_size,
		  size_t size_field);
/** bs_init.c: the caller's options over the defaults, as far as the caller's struct goes. */
void bs_opts_copy(struct spio_bs_opts *dst, const struct spio_bs_opts *src);

/* blob_create.c: building new blobs (create, snapshot, clone) */
/** A new blob in memory with a claimed id (not openable until written); NULL + *rc. */
struct spio_blob *blob_new(struct spio_blob_store *bs, int *rc);
/** Undo blob_new() and anything claimed for it in active (never written). */
void blob_new_abandon(struct spio_blob *blob);
/** Persist a new blob, make it openable, free the in-memory copy, answer with its id. */
void blob_write_new(struct spio_blob *blob, spio_blob_op_with_id_complete cb_fn, void *cb_arg);
/** Copy the xattrs of `xo` (read now) into `dst` (initialised here). \return 0, -EINVAL, -ENOMEM.
 */
int blob_xattr_opts_copy(struct blob_xattr_list *dst, const struct spio_blob_xattr_opts *xo);
/** Set every xattr of `src` on the blob. */
int blob_xattr_list_apply(struct spio_blob *blob, const struct blob_xattr_list *src, bool internal);
void blob_set_clear_method(struct spio_blob *blob, enum spio_blob_clear_method m);
/** Claim clusters for unallocated entries [from, to) of active; -ENOSPC undoes this call's claims.
 */
int blob_claim_clusters(struct spio_blob *blob, uint64_t from, uint64_t to);
/** Answer an id-returning operation later on the md thread. */
void blob_reply_id_later(struct spio_blob_store *bs, spio_blob_op_with_id_complete cb_fn,
			 void *cb_arg, spio_blob_id id, int rc);
/** blob_resize.c: change the size in memory; the caller holds the blob's I/O. */
int blob_resize_frozen(struct spio_blob *blob, uint64_t sz);
/**
 * blob_snapshot.c: delete snapshot `snapshot` (loaded, not openable) into
 * its only clone `clone` (open; this takes over that reference and closes
 * it): the clone takes the clusters it lacks and the snapshot's parent, then
 * the snapshot's metadata goes (crash-safe through the SNAPRM xattr, see
 * blob_snapshot.c). cb_fn: 0 or the error.
 */
void blob_snapshot_merge_into_clone(struct spio_blob *snapshot, struct spio_blob *clone,
				    bs_io_cpl cb_fn, void *cb_arg);
/** Set or clear the blob's parent: the SNAP xattr, parent_id, the thin flag kept. \return 0,
 * -ENOMEM. */
int blob_set_parent(struct spio_blob *blob, spio_blob_id parent);

/** Answer a status-returning operation later on the md thread (or inline if no memory). */
void blob_reply_later(struct spio_blob_store *bs, spio_blob_op_complete cb_fn, void *cb_arg,
		      int rc);

#endif /* SPIO_BLOB_INTERNAL_H */
