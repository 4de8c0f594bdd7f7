/*
 * BlobFS data half: the per-file write-back cache and what the namespace
 * half calls of it. Internal to lib/blobfs. Owned by the data half; the
 * namespace half uses only the functions in the first part below.
 *
 * The model (docs/blobfs.md has the long form):
 * - A file's bytes live in cache buffers of `buffer_size` bytes, indexed by
 *   buffer number. A cached buffer holds the file's content for its whole
 *   range, zeroes past the file's length. Every byte of [0, length) that is
 *   not cached is on the blob as the file has it.
 * - Operations (struct blobfs_op) run on the fs thread as small state
 *   machines. Writes, truncates and syncs of one file run one at a time in
 *   arrival order (the file's queue); reads run beside them. An operation
 *   that waits for I/O or for cache budget parks on the cache's waiting
 *   list and is stepped again after the next I/O completion or release.
 * - Each operation takes its buffers (pins them against eviction), waits
 *   until they are loaded, then applies itself to all of them in one go.
 * - A read that does not continue the previous one (random) pins only the
 *   cached buffers and reads the rest straight from the blob (blobfs_rw.c):
 *   no whole-buffer loads, no eviction. It relies on the rule above, and on
 *   blob_gen to notice the blob changing under it.
 */
#ifndef SPIO_BLOBFS_DATA_H
#define SPIO_BLOBFS_DATA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spio/blob.h"
#include "spio/blobfs.h"
#include "spio/thread.h"

struct blobfs_file;
struct blobfs_buf;
struct blobfs_op;

TAILQ_HEAD(blobfs_buf_list, blobfs_buf);
TAILQ_HEAD(blobfs_op_list, blobfs_op);

/*
 * Blob I/Os of one filesystem in flight at most (blobfs_io.c): well under the
 * blob channel's default 512 operations, which would answer the rest with
 * -ENOMEM.
 */
#define BLOBFS_IO_MAX 256u

enum blobfs_io_type {
	BLOBFS_IO_READ,
	BLOBFS_IO_WRITE,
	BLOBFS_IO_ZEROES,
};

/* One blob I/O, embedded in the buffer or operation it is for: nothing allocated per I/O. */
struct blobfs_io {
	struct spio_filesystem *fs;
	struct spio_blob *blob;
	void *payload;
	uint64_t offset; /* io units */
	uint64_t length; /* io units */
	spio_blob_op_complete cb_fn;
	void *cb_arg;
	enum blobfs_io_type type;
	TAILQ_ENTRY(blobfs_io) link; /* the cache's io_queue while waiting */
};
TAILQ_HEAD(blobfs_io_list, blobfs_io);

/* Direct reads that are not whole aligned io units go through these (per filesystem). */
#define BLOBFS_BOUNCE_MAX 8u
#define BLOBFS_BOUNCE_SIZE (128u * 1024)

/* Per filesystem: the cache budget and what is in use. */
struct blobfs_cache {
	uint64_t budget;      /* bytes */
	uint64_t used;	      /* bytes of buffers attached to files (or orphaned, until freed) */
	uint32_t buffer_size; /* bytes per buffer, a power of two */
	uint32_t buffer_shift;
	struct blobfs_buf_list lru;  /* attached buffers, least recently used first */
	struct blobfs_buf_list free; /* spare buffers with their memory: no malloc per I/O */
	uint64_t free_count;
	struct blobfs_op_list waiting; /* operations parked until the next I/O or release */
	struct blobfs_op_list op_pool; /* spare operation contexts */
	uint64_t inflight;	       /* cache I/O in flight, every file */
	uint32_t evict_wb;	       /* write-backs in flight started to free budget */
	uint32_t depth;		       /* entry points running (see blobfs_cache_enter) */
	bool kick;		       /* something was released: step the waiting list */
	/* Bounce buffers of direct reads (blobfs_rw.c): bounce[0, bounce_free) are spare. */
	uint8_t *bounce[BLOBFS_BOUNCE_MAX];
	uint32_t bounce_free;
	uint32_t bounce_alloc; /* allocated so far (lazily), at most BLOBFS_BOUNCE_MAX */
	/* The blob I/O gate (blobfs_io.c). */
	struct blobfs_io_list io_queue; /* waiting for a slot, in submission order */
	uint32_t io_active;		/* handed to the blobstore, at most BLOBFS_IO_MAX */
	uint32_t io_peak;		/* most io_active seen (tests) */
	uint64_t io_enomem;		/* -ENOMEM answers retried (tests) */
	bool io_stalled;		/* after an -ENOMEM: wait for a completion or the retry */
	bool io_retry_sent;
	struct spio_msg io_retry_msg;
};

/* Per file: its cached buffers, its queue of writers, read-ahead state. */
struct blobfs_file_data {
	struct blobfs_buf **bufs;    /* by buffer number; NULL: not cached */
	uint64_t nbufs;		     /* entries in bufs */
	uint64_t dirty;		     /* attached buffers not on the blob as cached */
	uint64_t inflight;	     /* I/O of this file in flight (flush waits for 0) */
	int wb_err;		     /* first write-back error since the last sync reported one */
	struct blobfs_op *active;    /* the write / truncate / sync running */
	struct blobfs_op_list queue; /* writers waiting for their turn */
	uint64_t last_read_end;	     /* where the last read ended: sequential detection */
	/*
	 * Bumped whenever BlobFS starts changing the file's blob (a write-back, a
	 * write of zeroes, a shrink): a direct read that saw it change while in
	 * flight is redone through the cache (blobfs_blob_changed()).
	 */
	uint64_t blob_gen;
};

/*
 * Set up the filesystem's cache from the options (already validated by
 * blobfs_cache_check_opts()). Called once by init / load.
 */
void blobfs_cache_init(struct spio_filesystem *fs, const struct spio_blobfs_opts *opts);

/* 0, or -EINVAL for cache options spio_fs_init / spio_fs_load must refuse. */
int blobfs_cache_check_opts(const struct spio_blobfs_opts *opts, uint64_t io_unit_size);

/* Release what the cache holds for the filesystem at unload (no file open). */
void blobfs_cache_fini(struct spio_filesystem *fs);

/*
 * The file's first handle opened (its blob is open): set up its data state.
 * \return 0 or -ENOMEM.
 */
int blobfs_file_data_open(struct blobfs_file *file);

/*
 * The file's last handle is closing: write back every dirty buffer and the
 * length (as spio_file_sync_async()), then cb_fn. Called before the blob is
 * closed; when cb_fn runs no I/O of the file is in flight. A deleted file's
 * data is dropped instead of written (cb_fn(0)).
 */
void blobfs_file_data_flush(struct blobfs_file *file, spio_fs_op_complete cb_fn, void *cb_arg);

/* The file's last handle closed: free every buffer it holds. */
void blobfs_file_data_close(struct blobfs_file *file);

/*
 * Data half internals (blobfs_cache*.c, blobfs_rw.c, blobfs_truncate.c,
 * blobfs_flush.c): nothing below is for the namespace half.
 */

enum blobfs_buf_state {
	BLOBFS_BUF_LOADING, /* a read from the blob is in flight; content undefined */
	BLOBFS_BUF_VALID,
	BLOBFS_BUF_ERROR, /* the load failed (err); dropped when its last pin goes */
};

/* One cache buffer. Its memory is `buffer_size` bytes of DMA memory. */
struct blobfs_buf {
	struct blobfs_file *file; /* owner (kept while orphaned, for its I/O) */
	uint64_t index;		  /* buffer number in the file */
	uint8_t *data;
	uint64_t gen;	    /* bumped by every change */
	uint64_t clean_gen; /* the generation on the blob: dirty when != gen */
	uint64_t wb_gen;    /* the generation a write-back in flight carries */
	uint32_t refs;	    /* pins of operations: not evictable */
	enum blobfs_buf_state state;
	int err;
	uint32_t io_len; /* bytes the load in flight reads */
	bool wb_inflight;
	bool evicting;		      /* the write-back in flight was started to free budget */
	bool orphan;		      /* out of the file's index (truncated): freed when idle */
	struct blobfs_io io;	      /* its load or write-back (never both at once) */
	TAILQ_ENTRY(blobfs_buf) link; /* cache lru, or cache free */
};

enum blobfs_op_type {
	BLOBFS_OP_READ,
	BLOBFS_OP_WRITE,
	BLOBFS_OP_TRUNCATE,
	BLOBFS_OP_SYNC,
	BLOBFS_OP_FLUSH,
};

/* Most buffers one step of an operation pins (a larger request goes in chunks). */
#define BLOBFS_OP_PINS 64

typedef void (*blobfs_op_step_fn)(struct blobfs_op *op);

/* An operation in progress. */
struct blobfs_op {
	enum blobfs_op_type type;
	struct blobfs_file *file;
	blobfs_op_step_fn step;
	uint8_t *payload;
	uint64_t offset;
	uint64_t length;
	uint64_t done; /* bytes read / written so far */
	union {
		spio_file_read_complete read;
		spio_fs_op_complete op;
	} cb;
	void *cb_arg;
	int rc;
	int state;	/* the step function's own */
	bool seq;	/* a read that continues the previous one */
	bool no_direct; /* a read: the rest via the cache (direct read overtaken, no bounce free) */
	/*
	 * A read's direct read in flight: bytes [dio_pos, dio_end) of the chunk from
	 * buffer dio_first, of which the buffers in dio_mask come from the I/O (from
	 * byte dio_lo); the others were copied from the cache when it started.
	 */
	uint8_t *bounce; /* NULL: the I/O reads into the payload */
	uint64_t dio_first;
	uint64_t dio_mask;
	uint64_t dio_pos;
	uint64_t dio_end;
	uint64_t dio_lo;
	uint64_t dio_gen;
	uint64_t old_length; /* the length before a write / truncate */
	/* Pinned buffers: pins[k] is buffer pin_first + k; pins[npins - 1] may be the edge. */
	uint64_t pin_first;
	uint32_t npins;
	struct blobfs_buf *pins[BLOBFS_OP_PINS + 1];
	struct spio_msg msg;
	struct blobfs_io io; /* its direct read or write of zeroes (one at a time) */
	TAILQ_ENTRY(blobfs_op) link;
};

/* The filesystem of a file, its cache, buffer geometry. */
struct blobfs_cache *blobfs_file_cache(struct blobfs_file *file);
uint64_t blobfs_io_unit(struct blobfs_file *file);

/*
 * Operations (blobfs_cache_op.c). blobfs_op_get() takes a context (NULL on
 * -ENOMEM); blobfs_op_start() runs op->step from a message (never inside
 * the caller's call). blobfs_op_park() puts the operation on the waiting
 * list; blobfs_op_complete() unpins, lets the file's next writer run,
 * recycles the context and calls the callback with op->rc (a read: its
 * byte count when rc is 0).
 */
struct blobfs_op *blobfs_op_get(struct blobfs_file *file, enum blobfs_op_type type,
				blobfs_op_step_fn step);
void blobfs_op_start(struct blobfs_op *op);
/*
 * A blobstore callback (resize, sync_md) for an operation: keeps the first
 * error in op->rc, then runs op->step.
 */
void blobfs_op_step_cb(void *arg, int rc);
/*
 * The checks of every file call (callback, handle, thread), then a context
 * with the callback set (one of read_cb / op_cb); NULL when the call was
 * answered already (blobfs_reply_late).
 */
struct blobfs_op *blobfs_op_begin(struct spio_file *handle, enum blobfs_op_type type,
				  blobfs_op_step_fn step, spio_file_read_complete read_cb,
				  spio_fs_op_complete op_cb, void *cb_arg);
void blobfs_op_park(struct blobfs_op *op);
void blobfs_op_complete(struct blobfs_op *op);
/* Writers: true when `op` may run now, else it is queued behind the file's running writer. */
bool blobfs_op_take_file(struct blobfs_op *op);

/*
 * Answer a call that cannot become an operation (wrong thread, no memory):
 * on the calling spio thread by message; inside the call only when there
 * is none or the message cannot be sent. One of read_cb / op_cb.
 */
void blobfs_reply_late(spio_file_read_complete read_cb, spio_fs_op_complete op_cb, void *cb_arg,
		       int rc);

/* Entry points (messages, I/O callbacks) bracket their work with these. */
void blobfs_cache_enter(struct blobfs_cache *cache);
void blobfs_cache_leave(struct blobfs_cache *cache);

/* Acquire results. */
#define BLOBFS_READY 0
#define BLOBFS_WAIT 1

/*
 * Pin buffers [first, last] of op's file (and `edge`, UINT64_MAX for none),
 * allocating and loading missing ones (a write: only where the part it does
 * not cover holds file data; write_lo/write_hi its byte range, or 0/0).
 * \return BLOBFS_READY (all valid), BLOBFS_WAIT (parked), or a negative errno.
 */
int blobfs_acquire(struct blobfs_op *op, uint64_t first, uint64_t last, uint64_t edge,
		   uint64_t write_lo, uint64_t write_hi);
/*
 * As blobfs_acquire() for a read, but only the buffers that are cached (in
 * any state): pins[k] stays NULL for the others (a later blobfs_acquire()
 * of the same range fills them in).
 */
int blobfs_acquire_cached(struct blobfs_op *op, uint64_t first, uint64_t last);
/* Drop the op's pins. */
void blobfs_unpin_all(struct blobfs_op *op);
/* How many buffers one step pins now (from the budget). */
uint64_t blobfs_chunk_buffers(struct blobfs_cache *cache);

/* Record a change of `b` (dirty). */
void blobfs_buf_dirty(struct blobfs_buf *b);
/* Move `b` to the most recently used end. */
void blobfs_buf_touch(struct blobfs_buf *b);
/* Take `b` out of its file's index (truncate); freed once idle. */
void blobfs_buf_detach(struct blobfs_buf *b);
/* The attached buffer `index` of the file, or NULL. */
struct blobfs_buf *blobfs_buf_lookup(struct blobfs_file *file, uint64_t index);
/* Start writing `b` back (it is dirty and has no write-back in flight). */
void blobfs_buf_write_back(struct blobfs_buf *b);
/* Record that the file's blob is about to change (see blob_gen). */
void blobfs_blob_changed(struct blobfs_file *file);
/* A spare bounce buffer (BLOBFS_BOUNCE_SIZE bytes), or NULL when all are in use. */
uint8_t *blobfs_bounce_get(struct blobfs_cache *cache);
void blobfs_bounce_put(struct blobfs_cache *cache, uint8_t *bounce);
/*
 * Submit a blob I/O of `file` (offset / length in io units) through the
 * filesystem's gate: started now, or when a slot frees. -ENOMEM from the
 * blobstore is retried, never passed to cb_fn. The caller counts it in
 * flight (cache and file) before the call, as for any I/O.
 */
void blobfs_io_submit(struct blobfs_io *io, struct blobfs_file *file, enum blobfs_io_type type,
		      void *payload, uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn,
		      void *cb_arg);
/* Read-ahead of buffers [first, first + count) where the budget allows. */
void blobfs_read_ahead(struct blobfs_file *file, uint64_t first, uint64_t count);

/*
 * Extending a file (blobfs_truncate.c), for writes and truncates: give the
 * blob the clusters for `end` bytes (-EFBIG past the device, -ENOSPC), then
 * zero the uncached whole buffers [first, last) on the blob. Both step the
 * op again when done (op->rc holds the error).
 * \return true when the op must wait (it will be stepped), false when done.
 */
bool blobfs_extend_resize(struct blobfs_op *op, uint64_t end);
bool blobfs_extend_zero(struct blobfs_op *op, uint64_t first, uint64_t last);
/* -EFBIG when `end` is past what the device could ever hold, else 0. */
int blobfs_check_capacity(struct blobfs_file *file, uint64_t end);
/* Clusters needed for `length` bytes. */
uint64_t blobfs_clusters_for(struct blobfs_file *file, uint64_t length);

#endif /* SPIO_BLOBFS_DATA_H */
