/*
 * BlobFS cache: buffers, the per-filesystem budget, LRU eviction, loads and
 * write-backs of buffers, and the pins operations take on buffers
 * (blobfs_cache_op.c runs the operations themselves).
 *
 * Budget: a new buffer first evicts the least recently used clean buffer no
 * operation holds; with none, it starts write-backs of the oldest dirty
 * buffers and the operation waits for the next I/O completion. Only when
 * nothing is in flight and nothing can be freed (every buffer is pinned by
 * operations themselves waiting for budget) does it go over the budget: a
 * wait there would never end.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blobfs/blobfs_internal.h"
#include "spio/dma.h"
#include "spio/log.h"

/* Write-backs in flight at once to free budget. */
#define EVICT_WB_MAX 4
/* DMA alignment of a buffer (buffers are at least 4 KiB). */
#define BUF_ALIGN 4096u

struct blobfs_cache *blobfs_file_cache(struct blobfs_file *file)
{
	return &file->fs->cache;
}

uint64_t blobfs_io_unit(struct blobfs_file *file)
{
	return spio_bs_get_io_unit_size(file->fs->bs);
}

static uint64_t buf_start(const struct blobfs_buf *b)
{
	return b->index << b->file->fs->cache.buffer_shift;
}

static bool buf_is_dirty(const struct blobfs_buf *b)
{
	return b->gen != b->clean_gen;
}

static bool buf_idle(const struct blobfs_buf *b)
{
	return b->refs == 0 && b->state != BLOBFS_BUF_LOADING && !b->wb_inflight;
}

/* Take buffer memory from the spare list or the allocator; counts it as used. */
static struct blobfs_buf *buf_new(struct blobfs_cache *c)
{
	struct blobfs_buf *b = TAILQ_FIRST(&c->free);

	if (b != NULL) {
		TAILQ_REMOVE(&c->free, b, link);
		c->free_count--;
	} else {
		b = calloc(1, sizeof(*b));
		if (b == NULL) {
			return NULL;
		}
		b->data = spio_dma_malloc(c->buffer_size, BUF_ALIGN);
		if (b->data == NULL) {
			free(b);
			return NULL;
		}
	}
	c->used += c->buffer_size;
	return b;
}

/* Give buffer memory back: kept as a spare while buffers plus spares fit the budget. */
static void buf_release(struct blobfs_cache *c, struct blobfs_buf *b)
{
	c->used -= c->buffer_size;
	if (c->used + (c->free_count + 1) * c->buffer_size <= c->budget) {
		TAILQ_INSERT_HEAD(&c->free, b, link);
		c->free_count++;
	} else {
		spio_dma_free(b->data);
		free(b);
	}
	c->kick = true;
}

static void buf_maybe_free(struct blobfs_buf *b)
{
	if (b->orphan && buf_idle(b)) {
		buf_release(&b->file->fs->cache, b);
	}
}

/*
 * After a pin or an I/O of `b` ended: a failed load nobody holds is dropped
 * (the next access reads it again), an idle orphan freed. May free `b`.
 */
static void buf_settle(struct blobfs_buf *b)
{
	if (b->state == BLOBFS_BUF_ERROR && b->refs == 0 && !b->orphan) {
		blobfs_buf_detach(b);
		return;
	}
	buf_maybe_free(b);
}

struct blobfs_buf *blobfs_buf_lookup(struct blobfs_file *file, uint64_t index)
{
	struct blobfs_file_data *fd = &file->data;

	return index < fd->nbufs ? fd->bufs[index] : NULL;
}

/* Make room for buffer number `index` in the file's index. */
static int index_grow(struct blobfs_file_data *fd, uint64_t index)
{
	struct blobfs_buf **bufs;
	uint64_t n;

	if (index < fd->nbufs) {
		return 0;
	}
	n = fd->nbufs < 16 ? 16 : fd->nbufs * 2;
	while (n <= index) {
		n *= 2;
	}
	bufs = realloc(fd->bufs, n * sizeof(*bufs));
	if (bufs == NULL) {
		return -ENOMEM;
	}
	memset(bufs + fd->nbufs, 0, (n - fd->nbufs) * sizeof(*bufs));
	fd->bufs = bufs;
	fd->nbufs = n;
	return 0;
}

static void buf_attach(struct blobfs_file *file, struct blobfs_buf *b, uint64_t index)
{
	struct blobfs_cache *c = &file->fs->cache;

	b->file = file;
	b->index = index;
	b->gen = 0;
	b->clean_gen = 0;
	b->wb_gen = 0;
	b->refs = 0;
	b->state = BLOBFS_BUF_VALID;
	b->err = 0;
	b->io_len = 0;
	b->wb_inflight = false;
	b->evicting = false;
	b->orphan = false;
	file->data.bufs[index] = b;
	TAILQ_INSERT_TAIL(&c->lru, b, link);
}

void blobfs_buf_detach(struct blobfs_buf *b)
{
	struct blobfs_file_data *fd = &b->file->data;

	if (b->orphan) {
		return;
	}
	fd->bufs[b->index] = NULL;
	if (buf_is_dirty(b)) {
		fd->dirty--;
	}
	TAILQ_REMOVE(&b->file->fs->cache.lru, b, link);
	b->orphan = true;
	buf_maybe_free(b);
}

void blobfs_buf_dirty(struct blobfs_buf *b)
{
	if (!buf_is_dirty(b) && !b->orphan) {
		b->file->data.dirty++;
	}
	b->gen++;
}

void blobfs_buf_touch(struct blobfs_buf *b)
{
	struct blobfs_cache *c = &b->file->fs->cache;

	if (!b->orphan) {
		TAILQ_REMOVE(&c->lru, b, link);
		TAILQ_INSERT_TAIL(&c->lru, b, link);
	}
}

/* Bytes of blob I/O for buffer `b` of a file of `length`: up to the length, in io units. */
static uint32_t buf_io_len(const struct blobfs_buf *b, uint64_t length)
{
	uint64_t start = buf_start(b);
	uint64_t iou = blobfs_io_unit(b->file);
	uint64_t len = length - start;

	len = (len + iou - 1) / iou * iou;
	return (uint32_t)(len < b->file->fs->cache.buffer_size ? len
							       : b->file->fs->cache.buffer_size);
}

static void wb_done(void *arg, int rc)
{
	struct blobfs_buf *b = arg;
	struct blobfs_file_data *fd = &b->file->data;
	struct blobfs_cache *c = &b->file->fs->cache;

	blobfs_cache_enter(c);
	b->wb_inflight = false;
	c->inflight--;
	fd->inflight--;
	if (b->evicting) {
		b->evicting = false;
		c->evict_wb--;
	}
	if (rc == 0) {
		bool was_dirty = buf_is_dirty(b);

		b->clean_gen = b->wb_gen;
		b->err = 0;
		if (was_dirty && !buf_is_dirty(b) && !b->orphan) {
			fd->dirty--;
		}
	} else {
		SPIO_ERRLOG("blobfs %s: write-back of buffer %" PRIu64 " failed: %d\n",
			    b->file->name, b->index, rc);
		/* Eviction skips it from now on (no loop on a failing device); a sync retries. */
		b->err = rc;
		if (fd->wb_err == 0) {
			fd->wb_err = rc;
		}
	}
	buf_maybe_free(b);
	c->kick = true;
	blobfs_cache_leave(c);
}

void blobfs_buf_write_back(struct blobfs_buf *b)
{
	struct blobfs_file *file = b->file;
	struct blobfs_cache *c = &file->fs->cache;
	uint64_t iou = blobfs_io_unit(file);
	uint64_t start = buf_start(b);

	if (start >= file->length) {
		/* Past the end: nothing of the file is in it (a truncate drops these). */
		if (buf_is_dirty(b) && !b->orphan) {
			file->data.dirty--;
		}
		b->clean_gen = b->gen;
		return;
	}
	blobfs_blob_changed(file);
	b->wb_inflight = true;
	b->wb_gen = b->gen;
	c->inflight++;
	file->data.inflight++;
	blobfs_io_submit(&b->io, file, BLOBFS_IO_WRITE, b->data, start / iou,
			 buf_io_len(b, file->length) / iou, wb_done, b);
}

static void load_done(void *arg, int rc)
{
	struct blobfs_buf *b = arg;
	struct blobfs_file *file = b->file;
	struct blobfs_cache *c = &file->fs->cache;
	uint64_t start = buf_start(b);

	blobfs_cache_enter(c);
	c->inflight--;
	file->data.inflight--;
	if (rc != 0) {
		SPIO_ERRLOG("blobfs %s: read of buffer %" PRIu64 " failed: %d\n", file->name,
			    b->index, rc);
		b->state = BLOBFS_BUF_ERROR;
		b->err = rc;
	} else {
		uint64_t keep = b->io_len;

		/* Past the length the file reads zeroes, whatever the blob holds there. */
		if (file->length < start + keep) {
			keep = file->length > start ? file->length - start : 0;
		}
		memset(b->data + keep, 0, c->buffer_size - keep);
		b->state = BLOBFS_BUF_VALID;
	}
	buf_settle(b);
	c->kick = true;
	blobfs_cache_leave(c);
}

/* Read buffer `b` (start below the length) from the blob. */
static void buf_load(struct blobfs_buf *b)
{
	struct blobfs_file *file = b->file;
	struct blobfs_cache *c = &file->fs->cache;
	uint64_t iou = blobfs_io_unit(file);

	b->state = BLOBFS_BUF_LOADING;
	b->io_len = buf_io_len(b, file->length);
	c->inflight++;
	file->data.inflight++;
	blobfs_io_submit(&b->io, file, BLOBFS_IO_READ, b->data, buf_start(b) / iou, b->io_len / iou,
			 load_done, b);
}

/* Evict the least recently used clean buffer nobody holds. */
static bool evict_one(struct blobfs_cache *c)
{
	struct blobfs_buf *b;

	TAILQ_FOREACH (b, &c->lru, link) {
		if (!buf_is_dirty(b) && buf_idle(b)) {
			blobfs_buf_detach(b);
			return true;
		}
	}
	return false;
}

/* Start write-backs of the oldest dirty buffers. \return true if one became clean at once. */
static bool evict_write_back(struct blobfs_cache *c)
{
	struct blobfs_buf *b;
	struct blobfs_buf *next;
	bool cleaned = false;

	for (b = TAILQ_FIRST(&c->lru); b != NULL && c->evict_wb < EVICT_WB_MAX; b = next) {
		next = TAILQ_NEXT(b, link);
		if (!buf_is_dirty(b) || b->wb_inflight || b->state != BLOBFS_BUF_VALID ||
		    b->err != 0) {
			continue;
		}
		blobfs_buf_write_back(b);
		if (b->wb_inflight) {
			b->evicting = true;
			c->evict_wb++;
		} else {
			cleaned = true;
		}
	}
	return cleaned;
}

/*
 * A buffer within the budget. may_wait false (read-ahead): NULL when the
 * budget is full of buffers that cannot be evicted. Else NULL with *rc
 * BLOBFS_WAIT (wait for an I/O completion) or -ENOMEM.
 */
static struct blobfs_buf *buf_alloc(struct blobfs_cache *c, bool may_wait, int *rc)
{
	struct blobfs_buf *b;

	*rc = 0;
	for (;;) {
		if (c->used + c->buffer_size <= c->budget) {
			break;
		}
		if (evict_one(c)) {
			continue;
		}
		if (!may_wait) {
			return NULL;
		}
		if (evict_write_back(c)) {
			continue;
		}
		if (c->inflight > 0) {
			*rc = BLOBFS_WAIT;
			return NULL;
		}
		/* Everything is held by operations waiting for budget: over it, not a deadlock. */
		break;
	}
	b = buf_new(c);
	if (b == NULL) {
		*rc = -ENOMEM;
	}
	return b;
}

void blobfs_blob_changed(struct blobfs_file *file)
{
	file->data.blob_gen++;
}

uint8_t *blobfs_bounce_get(struct blobfs_cache *c)
{
	uint8_t *p;

	if (c->bounce_free > 0) {
		return c->bounce[--c->bounce_free];
	}
	if (c->bounce_alloc == BLOBFS_BOUNCE_MAX) {
		return NULL;
	}
	p = spio_dma_malloc(BLOBFS_BOUNCE_SIZE, BUF_ALIGN);
	if (p != NULL) {
		c->bounce_alloc++;
	}
	return p;
}

void blobfs_bounce_put(struct blobfs_cache *c, uint8_t *bounce)
{
	c->bounce[c->bounce_free++] = bounce;
}

void blobfs_read_ahead(struct blobfs_file *file, uint64_t first, uint64_t count)
{
	struct blobfs_cache *c = &file->fs->cache;

	for (uint64_t i = first; i < first + count; i++) {
		struct blobfs_buf *b;
		int rc;

		if ((i << c->buffer_shift) >= file->length) {
			break;
		}
		if (blobfs_buf_lookup(file, i) != NULL) {
			continue;
		}
		if (index_grow(&file->data, i) != 0) {
			break;
		}
		b = buf_alloc(c, false, &rc);
		if (b == NULL) {
			break;
		}
		buf_attach(file, b, i);
		buf_load(b);
	}
}

/*
 * Pinning
 */

static void unpin(struct blobfs_buf *b)
{
	struct blobfs_cache *c = &b->file->fs->cache;

	b->refs--;
	if (b->refs == 0) {
		c->kick = true;
		buf_settle(b);
	}
}

void blobfs_unpin_all(struct blobfs_op *op)
{
	for (uint32_t k = 0; k < op->npins; k++) {
		if (op->pins[k] != NULL) {
			unpin(op->pins[k]);
			op->pins[k] = NULL;
		}
	}
	op->npins = 0;
}

uint64_t blobfs_chunk_buffers(struct blobfs_cache *cache)
{
	uint64_t n = (cache->budget >> cache->buffer_shift) / 2;

	if (n < 1) {
		n = 1;
	}
	return n > BLOBFS_OP_PINS ? BLOBFS_OP_PINS : n;
}

/* Whether a new buffer must be read: the part the write leaves holds file data. */
static bool needs_load(struct blobfs_file *file, uint64_t index, uint64_t wlo, uint64_t whi)
{
	uint64_t bs = file->fs->cache.buffer_size;
	uint64_t start = index * bs;
	uint64_t len = file->length;

	if (start >= len) {
		return false;
	}
	if (whi <= wlo) {
		return true;
	}
	return (wlo > start) || (whi < start + bs && whi < len);
}

/* A new buffer `index`: loaded or zero. \return 0, BLOBFS_WAIT (parked) or -errno. */
static int new_buf(struct blobfs_op *op, uint64_t index, uint64_t wlo, uint64_t whi,
		   struct blobfs_buf **out)
{
	struct blobfs_file *file = op->file;
	struct blobfs_cache *c = &file->fs->cache;
	struct blobfs_buf *b;
	int rc = index_grow(&file->data, index);

	if (rc != 0) {
		return rc;
	}
	b = buf_alloc(c, true, &rc);
	if (b == NULL) {
		if (rc == BLOBFS_WAIT) {
			blobfs_op_park(op);
		}
		return rc;
	}
	buf_attach(file, b, index);
	if (needs_load(file, index, wlo, whi)) {
		buf_load(b);
	} else {
		memset(b->data, 0, c->buffer_size);
	}
	*out = b;
	return 0;
}

static int acquire(struct blobfs_op *op, uint64_t first, uint64_t last, uint64_t edge,
		   uint64_t write_lo, uint64_t write_hi, bool cached_only)
{
	uint32_t n = (uint32_t)(last - first + 1);
	uint32_t total = n + (edge != UINT64_MAX ? 1 : 0);
	bool loading = false;

	if (op->npins != total || op->pin_first != first) {
		blobfs_unpin_all(op);
		op->pin_first = first;
		op->npins = total;
		memset(op->pins, 0, sizeof(op->pins[0]) * total);
	}
	for (uint32_t k = 0; k < total; k++) {
		uint64_t index = k < n ? first + k : edge;
		struct blobfs_buf *b = op->pins[k];

		if (b != NULL && (b->orphan || b->index != index)) {
			/* Truncated away meanwhile: take what the index holds now. */
			unpin(b);
			op->pins[k] = NULL;
			b = NULL;
		}
		if (b == NULL) {
			b = blobfs_buf_lookup(op->file, index);
			if (b == NULL && cached_only) {
				continue;
			}
			if (b == NULL) {
				int rc = new_buf(op, index, k < n ? write_lo : 0,
						 k < n ? write_hi : 0, &b);

				if (rc != 0) {
					return rc;
				}
			}
			b->refs++;
			op->pins[k] = b;
		}
		blobfs_buf_touch(b);
	}
	for (uint32_t k = 0; k < total; k++) {
		if (op->pins[k] == NULL) {
			continue;
		}
		if (op->pins[k]->state == BLOBFS_BUF_ERROR) {
			return op->pins[k]->err;
		}
		if (op->pins[k]->state == BLOBFS_BUF_LOADING) {
			loading = true;
		}
	}
	if (loading) {
		blobfs_op_park(op);
		return BLOBFS_WAIT;
	}
	return BLOBFS_READY;
}

int blobfs_acquire(struct blobfs_op *op, uint64_t first, uint64_t last, uint64_t edge,
		   uint64_t write_lo, uint64_t write_hi)
{
	return acquire(op, first, last, edge, write_lo, write_hi, false);
}

int blobfs_acquire_cached(struct blobfs_op *op, uint64_t first, uint64_t last)
{
	return acquire(op, first, last, UINT64_MAX, 0, 0, true);
}

/*
 * Set up and tear down
 */

int blobfs_cache_check_opts(const struct spio_blobfs_opts *opts, uint64_t io_unit_size)
{
	uint32_t bs;

	if (opts == NULL) {
		return 0;
	}
	bs = opts->cache_buffer_size;
	if (bs < 4096 || bs > 4u * 1024 * 1024 || (bs & (bs - 1)) != 0) {
		SPIO_ERRLOG("blobfs: cache_buffer_size %" PRIu32
			    " is not a power of two from 4 KiB to 4 MiB\n",
			    bs);
		return -EINVAL;
	}
	if (io_unit_size == 0 || bs % io_unit_size != 0) {
		SPIO_ERRLOG("blobfs: cache_buffer_size %" PRIu32
			    " is not a multiple of the io unit %" PRIu64 "\n",
			    bs, io_unit_size);
		return -EINVAL;
	}
	if (opts->cache_size < 2ull * bs) {
		SPIO_ERRLOG("blobfs: cache_size %" PRIu64 " is below two buffers of %" PRIu32 "\n",
			    opts->cache_size, bs);
		return -EINVAL;
	}
	return 0;
}

void blobfs_cache_init(struct spio_filesystem *fs, const struct spio_blobfs_opts *opts)
{
	struct blobfs_cache *c = &fs->cache;

	memset(c, 0, sizeof(*c));
	c->budget = opts != NULL ? opts->cache_size : SPIO_BLOBFS_DEFAULT_CACHE_SIZE;
	c->buffer_size =
	    opts != NULL ? opts->cache_buffer_size : SPIO_BLOBFS_DEFAULT_CACHE_BUFFER_SIZE;
	c->buffer_shift = (uint32_t)__builtin_ctz(c->buffer_size);
	TAILQ_INIT(&c->lru);
	TAILQ_INIT(&c->free);
	TAILQ_INIT(&c->waiting);
	TAILQ_INIT(&c->op_pool);
	TAILQ_INIT(&c->io_queue);
}

void blobfs_cache_fini(struct spio_filesystem *fs)
{
	struct blobfs_cache *c = &fs->cache;
	struct blobfs_buf *b;
	struct blobfs_op *op;

	if (c->used != 0 || !TAILQ_EMPTY(&c->waiting)) {
		SPIO_ERRLOG("blobfs: cache still holds %" PRIu64 " bytes at unload\n", c->used);
	}
	while ((b = TAILQ_FIRST(&c->free)) != NULL) {
		TAILQ_REMOVE(&c->free, b, link);
		spio_dma_free(b->data);
		free(b);
	}
	c->free_count = 0;
	if (c->io_active != 0 || !TAILQ_EMPTY(&c->io_queue) || c->io_retry_sent) {
		SPIO_ERRLOG("blobfs: blob I/O still in flight or waiting at unload\n");
	}
	if (c->bounce_free != c->bounce_alloc) {
		SPIO_ERRLOG("blobfs: a direct read still in flight at unload\n");
	}
	while (c->bounce_free > 0) {
		spio_dma_free(c->bounce[--c->bounce_free]);
	}
	c->bounce_alloc = 0;
	while ((op = TAILQ_FIRST(&c->op_pool)) != NULL) {
		TAILQ_REMOVE(&c->op_pool, op, link);
		free(op);
	}
}

int spio_fs_set_cache_size(struct spio_filesystem *fs, uint64_t cache_size)
{
	struct blobfs_cache *c;
	struct blobfs_buf *b;

	if (fs == NULL) {
		return -EINVAL;
	}
	if (!blobfs_on_fs_thread(fs)) {
		return -EXDEV;
	}
	c = &fs->cache;
	if (cache_size < 2ull * c->buffer_size) {
		return -EINVAL;
	}
	c->budget = cache_size;
	/* Spares past the budget go now; buffers in use go as new ones are needed. */
	while (c->used + c->free_count * c->buffer_size > c->budget &&
	       (b = TAILQ_FIRST(&c->free)) != NULL) {
		TAILQ_REMOVE(&c->free, b, link);
		c->free_count--;
		spio_dma_free(b->data);
		free(b);
	}
	return 0;
}

uint64_t spio_fs_get_cache_size(struct spio_filesystem *fs)
{
	return fs != NULL ? fs->cache.budget : 0;
}
