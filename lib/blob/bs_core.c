/*
 * The blobstore's own state: the struct, its bit arrays (md pages,
 * clusters, blob ids), claims, and metadata I/O through the md thread's
 * device channel. Everything here runs on the md thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/dma.h"
#include "spio/log.h"

/*
 * Bit arrays
 */

int bs_bits_resize(struct bs_bits *b, uint64_t nbits)
{
	uint64_t old_bytes = blob_mask_bytes(b->nbits);
	uint64_t new_bytes = blob_mask_bytes(nbits);
	uint8_t *bits;

	if (new_bytes != old_bytes || b->bits == NULL) {
		bits = realloc(b->bits, new_bytes ? new_bytes : 1);
		if (bits == NULL) {
			return -ENOMEM;
		}
		if (new_bytes > old_bytes) {
			memset(bits + old_bytes, 0, new_bytes - old_bytes);
		}
		b->bits = bits;
	}
	if (nbits < b->nbits) {
		/* Bits past the new end are dropped: clear the tail of the last byte, recount. */
		for (uint64_t i = nbits; i < new_bytes * 8; i++) {
			b->bits[i / 8] &= (uint8_t) ~(1u << (i % 8));
		}
		b->nset = 0;
		for (uint64_t i = 0; i < new_bytes; i++) {
			b->nset += (uint64_t)__builtin_popcount(b->bits[i]);
		}
	}
	b->nbits = nbits;
	return 0;
}

void bs_bits_recount(struct bs_bits *b)
{
	uint64_t bytes = blob_mask_bytes(b->nbits);

	b->nset = 0;
	for (uint64_t i = 0; i < bytes; i++) {
		uint8_t byte = b->bits[i];

		if (i == bytes - 1 && b->nbits % 8 != 0) {
			byte &= (uint8_t)((1u << (b->nbits % 8)) - 1);
		}
		b->nset += (uint64_t)__builtin_popcount(byte);
	}
}

void bs_recount_free_clusters(struct spio_blob_store *bs)
{
	bs_bits_recount(&bs->used_clusters);
	__atomic_store_n(&bs->num_free_clusters, bs->geo.total_clusters - bs->used_clusters.nset,
			 __ATOMIC_RELAXED);
}

void bs_bits_free(struct bs_bits *b)
{
	free(b->bits);
	memset(b, 0, sizeof(*b));
}

bool bs_bits_test(const struct bs_bits *b, uint64_t i)
{
	return i < b->nbits && blob_mask_test(b->bits, i);
}

void bs_bits_set(struct bs_bits *b, uint64_t i)
{
	if (i < b->nbits && !blob_mask_test(b->bits, i)) {
		blob_mask_set(b->bits, i);
		b->nset++;
	}
}

void bs_bits_clear(struct bs_bits *b, uint64_t i)
{
	if (i < b->nbits && blob_mask_test(b->bits, i)) {
		b->bits[i / 8] &= (uint8_t) ~(1u << (i % 8));
		b->nset--;
	}
}

static uint64_t bits_find(const struct bs_bits *b, uint64_t from, bool want_set)
{
	uint64_t i = from;

	while (i < b->nbits) {
		uint8_t byte = b->bits[i / 8];

		/* Skip whole bytes that cannot match. */
		if (i % 8 == 0 && byte == (want_set ? 0x00 : 0xff)) {
			i += 8;
			continue;
		}
		if (((byte >> (i % 8)) & 1) == want_set) {
			return i;
		}
		i++;
	}
	return UINT64_MAX;
}

uint64_t bs_bits_find_clear(const struct bs_bits *b, uint64_t from)
{
	return bits_find(b, from, false);
}

uint64_t bs_bits_find_set(const struct bs_bits *b, uint64_t from)
{
	return bits_find(b, from, true);
}

/*
 * The store
 */

struct spio_blob_store *bs_alloc(struct spio_bs_dev *dev)
{
	struct spio_blob_store *bs = calloc(1, sizeof(*bs));

	if (bs == NULL) {
		return NULL;
	}
	bs->super = spio_dma_zmalloc(BLOB_PAGE_SIZE, BLOB_PAGE_SIZE);
	if (bs->super == NULL) {
		free(bs);
		return NULL;
	}
	bs->dev = dev;
	bs->md_thread = spio_get_thread();
	bs->md_channel = dev->create_channel(dev);
	if (bs->md_channel == NULL) {
		spio_dma_free(bs->super);
		free(bs);
		return NULL;
	}
	bs->max_channel_ops = BS_DEFAULT_CHANNEL_OPS;
	bs->super_blob = SPIO_BLOBID_INVALID;
	TAILQ_INIT(&bs->open_blobs);
	TAILQ_INIT(&bs->snapshots);
	return bs;
}

void bs_free(struct spio_blob_store *bs)
{
	if (bs == NULL) {
		return;
	}
	if (bs->md_channel != NULL) {
		bs->dev->destroy_channel(bs->dev, bs->md_channel);
		bs->md_channel = NULL;
	}
	bs_bits_free(&bs->used_md_pages);
	bs_bits_free(&bs->used_clusters);
	bs_bits_free(&bs->used_blobids);
	bs_bits_free(&bs->open_blobids);
	bs_snapshots_free(bs);
	spio_dma_free(bs->super);
	free(bs);
}

int bs_setup_from_super(struct spio_blob_store *bs)
{
	struct blob_fmt_err err;
	int rc;

	rc = blob_super_check_geometry(bs->super, bs->dev->blockcnt, bs->dev->blocklen, &bs->geo,
				       &err);
	if (rc != 0) {
		SPIO_ERRLOG("blobstore: %s\n", err.msg);
		return rc;
	}
	bs->io_unit_size = bs->geo.io_unit_size;
	bs->io_units_per_cluster = bs->geo.cluster_size / bs->io_unit_size;
	bs->blocks_per_io_unit = bs->io_unit_size / bs->dev->blocklen;
	bs->blocks_per_page = bs->geo.md_page_size / bs->dev->blocklen;
	if (bs->blocks_per_io_unit == 0 || bs->blocks_per_page == 0) {
		SPIO_ERRLOG("blobstore: device block size %" PRIu32
			    " is larger than the io unit or md page\n",
			    bs->dev->blocklen);
		return -EINVAL;
	}
	bs->super_blob = bs->super->super_blob;
	memcpy(bs->bstype.bstype, bs->super->bstype, sizeof(bs->bstype.bstype));
	bs->clean = bs->super->clean != 0;
	if (bs_bits_resize(&bs->used_md_pages, bs->geo.md_len) != 0 ||
	    bs_bits_resize(&bs->used_blobids, bs->geo.md_len) != 0 ||
	    bs_bits_resize(&bs->open_blobids, bs->geo.md_len) != 0 ||
	    bs_bits_resize(&bs->used_clusters, bs->geo.total_clusters) != 0) {
		return -ENOMEM;
	}
	bs->num_free_clusters = bs->geo.total_clusters - bs->used_clusters.nset;
	return 0;
}

uint32_t bs_claim_md_page(struct spio_blob_store *bs, uint32_t from)
{
	uint64_t page = bs_bits_find_clear(&bs->used_md_pages, from);

	if (page == UINT64_MAX) {
		return UINT32_MAX;
	}
	bs_bits_set(&bs->used_md_pages, page);
	return (uint32_t)page;
}

void bs_release_md_page(struct spio_blob_store *bs, uint32_t page)
{
	bs_bits_clear(&bs->used_md_pages, page);
}

uint64_t bs_claim_cluster(struct spio_blob_store *bs)
{
	uint64_t c = bs_bits_find_clear(&bs->used_clusters, bs->geo.md_clusters);

	if (c == UINT64_MAX || c == 0) {
		return 0;
	}
	bs_bits_set(&bs->used_clusters, c);
	/* Other threads read the count (spio_bs_free_cluster_count). */
	__atomic_fetch_sub(&bs->num_free_clusters, 1, __ATOMIC_RELAXED);
	return c;
}

void bs_release_cluster(struct spio_blob_store *bs, uint64_t cluster)
{
	if (cluster >= bs->geo.md_clusters && bs_bits_test(&bs->used_clusters, cluster)) {
		bs_bits_clear(&bs->used_clusters, cluster);
		__atomic_fetch_add(&bs->num_free_clusters, 1, __ATOMIC_RELAXED);
	}
}

uint64_t bs_md_page_to_lba(const struct spio_blob_store *bs, uint32_t page)
{
	return (bs->geo.md_start + page) * bs->blocks_per_page;
}

uint64_t bs_cluster_to_lba(const struct spio_blob_store *bs, uint64_t cluster)
{
	return cluster * (bs->geo.cluster_size / bs->dev->blocklen);
}

uint64_t bs_io_units_to_blocks(const struct spio_blob_store *bs, uint64_t n)
{
	return n * bs->blocks_per_io_unit;
}

void *bs_md_buf_alloc(const struct spio_blob_store *bs, uint32_t n)
{
	size_t page = bs->geo.md_page_size ? bs->geo.md_page_size : BLOB_PAGE_SIZE;

	return spio_dma_zmalloc((size_t)n * page, BLOB_PAGE_SIZE);
}

bool bs_on_md_thread(const struct spio_blob_store *bs, const char *what)
{
	if (bs == NULL) {
		SPIO_ERRLOG("%s: NULL blobstore\n", what);
		return false;
	}
	if (spio_get_thread() != bs->md_thread) {
		SPIO_ERRLOG("%s: called off the blobstore's metadata thread\n", what);
		return false;
	}
	return true;
}

struct spio_blob *bs_find_open_blob(struct spio_blob_store *bs, spio_blob_id id)
{
	struct spio_blob *blob;

	TAILQ_FOREACH (blob, &bs->open_blobs, link) {
		if (blob->id == id) {
			return blob;
		}
	}
	return NULL;
}

/*
 * Metadata I/O
 */

struct bs_io_ctx {
	struct spio_bs_dev_cb_args args;
	bs_io_cpl cb_fn;
	void *cb_arg;
	struct spio_msg msg;
	int rc;
};

static void bs_io_done(struct spio_io_channel *channel, void *cb_arg, int rc)
{
	struct bs_io_ctx *ctx = cb_arg;
	bs_io_cpl cb_fn = ctx->cb_fn;
	void *arg = ctx->cb_arg;

	(void)channel;
	free(ctx);
	cb_fn(arg, rc);
}

static void bs_defer_run(void *arg)
{
	struct bs_io_ctx *ctx = arg;

	bs_io_done(NULL, ctx, ctx->rc);
}

int bs_defer(struct spio_blob_store *bs, bs_io_cpl cb_fn, void *cb_arg, int rc)
{
	struct bs_io_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	ctx->rc = rc;
	if (spio_thread_send_msg(bs->md_thread, bs_defer_run, ctx) != 0) {
		free(ctx);
		return -ENOMEM;
	}
	return 0;
}

/* A context for one device operation; on ENOMEM the failure is deferred (or, if even that
 * fails, reported inline as the last resort: a message could not be sent). */
static struct bs_io_ctx *bs_io_ctx_new(struct spio_blob_store *bs, bs_io_cpl cb_fn, void *cb_arg)
{
	struct bs_io_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		if (bs_defer(bs, cb_fn, cb_arg, -ENOMEM) != 0) {
			cb_fn(cb_arg, -ENOMEM);
		}
		return NULL;
	}
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	ctx->args.cb_fn = bs_io_done;
	ctx->args.channel = bs->md_channel;
	ctx->args.cb_arg = ctx;
	return ctx;
}

void bs_dev_read(struct spio_blob_store *bs, void *buf, uint64_t lba, uint32_t lba_count,
		 bs_io_cpl cb_fn, void *cb_arg)
{
	struct bs_io_ctx *ctx = bs_io_ctx_new(bs, cb_fn, cb_arg);

	if (ctx != NULL) {
		bs->dev->read(bs->dev, bs->md_channel, buf, lba, lba_count, &ctx->args);
	}
}

void bs_dev_write(struct spio_blob_store *bs, void *buf, uint64_t lba, uint32_t lba_count,
		  bs_io_cpl cb_fn, void *cb_arg)
{
	struct bs_io_ctx *ctx = bs_io_ctx_new(bs, cb_fn, cb_arg);

	if (ctx != NULL) {
		bs->dev->write(bs->dev, bs->md_channel, buf, lba, lba_count, &ctx->args);
	}
}

void bs_dev_write_zeroes(struct spio_blob_store *bs, uint64_t lba, uint64_t lba_count,
			 bs_io_cpl cb_fn, void *cb_arg)
{
	struct bs_io_ctx *ctx = bs_io_ctx_new(bs, cb_fn, cb_arg);

	if (ctx != NULL) {
		bs->dev->write_zeroes(bs->dev, bs->md_channel, lba, lba_count, &ctx->args);
	}
}

void bs_dev_unmap(struct spio_blob_store *bs, uint64_t lba, uint64_t lba_count, bs_io_cpl cb_fn,
		  void *cb_arg)
{
	struct bs_io_ctx *ctx = bs_io_ctx_new(bs, cb_fn, cb_arg);

	if (ctx != NULL) {
		bs->dev->unmap(bs->dev, bs->md_channel, lba, lba_count, &ctx->args);
	}
}

void bs_dev_flush(struct spio_blob_store *bs, bs_io_cpl cb_fn, void *cb_arg)
{
	struct bs_io_ctx *ctx = bs_io_ctx_new(bs, cb_fn, cb_arg);

	if (ctx != NULL) {
		bs->dev->flush(bs->dev, bs->md_channel, &ctx->args);
	}
}

void bs_md_page_read(struct spio_blob_store *bs, uint32_t page, void *buf, bs_io_cpl cb_fn,
		     void *cb_arg)
{
	bs_dev_read(bs, buf, bs_md_page_to_lba(bs, page), (uint32_t)bs->blocks_per_page, cb_fn,
		    cb_arg);
}

void bs_md_page_write(struct spio_blob_store *bs, uint32_t page, const void *buf, bs_io_cpl cb_fn,
		      void *cb_arg)
{
	bs_dev_write(bs, (void *)buf, bs_md_page_to_lba(bs, page), (uint32_t)bs->blocks_per_page,
		     cb_fn, cb_arg);
}

/*
 * Super block and masks
 */

void bs_write_super(struct spio_blob_store *bs, bool clean, bs_io_cpl cb_fn, void *cb_arg)
{
	bs->super->clean = clean ? 1 : 0;
	bs->super->super_blob = bs->super_blob;
	memcpy(bs->super->bstype, bs->bstype.bstype, sizeof(bs->super->bstype));
	blob_super_set_crc(bs->super);
	bs->clean = clean;
	/* The super block is one 4 KiB struct at lba 0, whatever the md page size. */
	bs_dev_write(bs, bs->super, 0, BLOB_PAGE_SIZE / bs->dev->blocklen, cb_fn, cb_arg);
}

struct masks_ctx {
	struct spio_blob_store *bs;
	void *buf;
	int pending;
	int rc;
	bs_io_cpl cb_fn;
	void *cb_arg;
};

static void masks_written(void *arg, int rc)
{
	struct masks_ctx *ctx = arg;

	if (rc != 0 && ctx->rc == 0) {
		ctx->rc = rc;
	}
	if (--ctx->pending > 0) {
		return;
	}
	spio_dma_free(ctx->buf);
	ctx->cb_fn(ctx->cb_arg, ctx->rc);
	free(ctx);
}

void bs_write_masks(struct spio_blob_store *bs, bs_io_cpl cb_fn, void *cb_arg)
{
	static const uint8_t types[] = {BLOB_MASK_USED_PAGES, BLOB_MASK_USED_CLUSTERS,
					BLOB_MASK_USED_BLOBIDS};
	const struct bs_bits *bits[] = {&bs->used_md_pages, &bs->used_clusters, &bs->used_blobids};
	uint64_t start[3], len[3], total = 0, off = 0;
	struct masks_ctx *ctx;

	for (int i = 0; i < 3; i++) {
		blob_super_mask_region(bs->super, types[i], &start[i], &len[i]);
		total += len[i];
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx != NULL) {
		ctx->buf = bs_md_buf_alloc(bs, (uint32_t)total);
	}
	if (ctx == NULL || ctx->buf == NULL) {
		free(ctx);
		if (bs_defer(bs, cb_fn, cb_arg, -ENOMEM) != 0) {
			cb_fn(cb_arg, -ENOMEM);
		}
		return;
	}
	ctx->bs = bs;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	ctx->pending = 1;
	for (int i = 0; i < 3; i++) {
		uint8_t *region = (uint8_t *)ctx->buf + off * bs->geo.md_page_size;
		size_t bytes = len[i] * bs->geo.md_page_size;

		if (len[i] == 0) {
			/* Version 1 and 2 stores have no blob id mask. */
			continue;
		}
		ctx->pending++;

		/* Sizes were checked at setup: the region holds the bits. */
		blob_mask_encode(region, bytes, types[i], bits[i]->bits, bits[i]->nbits);
		bs_dev_write(bs, region, start[i] * bs->blocks_per_page,
			     (uint32_t)(len[i] * bs->blocks_per_page), masks_written, ctx);
		off += len[i];
	}
	masks_written(ctx, 0);
}

/*
 * Snapshot registry
 */

struct bs_snapshot_entry *bs_snapshot_find(struct spio_blob_store *bs, spio_blob_id snapshot)
{
	struct bs_snapshot_entry *e;

	TAILQ_FOREACH (e, &bs->snapshots, link) {
		if (e->id == snapshot) {
			return e;
		}
	}
	return NULL;
}

int bs_snapshot_add_clone(struct spio_blob_store *bs, spio_blob_id snapshot, spio_blob_id clone)
{
	struct bs_snapshot_entry *e = bs_snapshot_find(bs, snapshot);

	if (e == NULL) {
		e = calloc(1, sizeof(*e));
		if (e == NULL) {
			return -ENOMEM;
		}
		e->id = snapshot;
		TAILQ_INSERT_TAIL(&bs->snapshots, e, link);
	}
	for (size_t i = 0; i < e->clone_count; i++) {
		if (e->clones[i] == clone) {
			return 0;
		}
	}
	if (e->clone_count == e->clones_cap) {
		size_t cap = e->clones_cap ? e->clones_cap * 2 : 4;
		spio_blob_id *v = realloc(e->clones, cap * sizeof(*v));

		if (v == NULL) {
			return -ENOMEM;
		}
		e->clones = v;
		e->clones_cap = cap;
	}
	e->clones[e->clone_count++] = clone;
	return 0;
}

void bs_snapshot_remove_clone(struct spio_blob_store *bs, spio_blob_id snapshot, spio_blob_id clone)
{
	struct bs_snapshot_entry *e = bs_snapshot_find(bs, snapshot);

	if (e == NULL) {
		return;
	}
	for (size_t i = 0; i < e->clone_count; i++) {
		if (e->clones[i] == clone) {
			e->clones[i] = e->clones[--e->clone_count];
			break;
		}
	}
	if (e->clone_count == 0) {
		TAILQ_REMOVE(&bs->snapshots, e, link);
		free(e->clones);
		free(e);
	}
}

void bs_snapshots_free(struct spio_blob_store *bs)
{
	struct bs_snapshot_entry *e;

	while ((e = TAILQ_FIRST(&bs->snapshots)) != NULL) {
		TAILQ_REMOVE(&bs->snapshots, e, link);
		free(e->clones);
		free(e);
	}
}

/*
 * Small public getters
 */

uint64_t spio_bs_get_cluster_size(struct spio_blob_store *bs)
{
	return bs ? bs->geo.cluster_size : 0;
}

uint64_t spio_bs_get_page_size(struct spio_blob_store *bs)
{
	return bs ? bs->geo.md_page_size : 0;
}

uint64_t spio_bs_get_io_unit_size(struct spio_blob_store *bs)
{
	return bs ? bs->io_unit_size : 0;
}

uint64_t spio_bs_free_cluster_count(struct spio_blob_store *bs)
{
	return bs ? __atomic_load_n(&bs->num_free_clusters, __ATOMIC_RELAXED) : 0;
}

uint64_t spio_bs_total_data_cluster_count(struct spio_blob_store *bs)
{
	return bs ? bs->geo.total_clusters - bs->geo.md_clusters : 0;
}

struct spio_bs_type spio_bs_get_bstype(struct spio_blob_store *bs)
{
	struct spio_bs_type t = {{0}};

	if (bs != NULL) {
		t = bs->bstype;
	}
	return t;
}

void spio_bs_set_bstype(struct spio_blob_store *bs, struct spio_bs_type bstype)
{
	if (bs_on_md_thread(bs, "spio_bs_set_bstype")) {
		bs->bstype = bstype;
	}
}

struct spio_bs_dev *spio_bs_get_bs_dev(struct spio_blob_store *bs)
{
	return bs ? bs->dev : NULL;
}

void blob_reply_later(struct spio_blob_store *bs, spio_blob_op_complete cb_fn, void *cb_arg, int rc)
{
	if (bs_defer(bs, cb_fn, cb_arg, rc) != 0) {
		cb_fn(cb_arg, -ENOMEM);
	}
}

int spio_blob_get_clones(struct spio_blob_store *bs, spio_blob_id blobid, spio_blob_id *ids,
			 size_t *count)
{
	struct bs_snapshot_entry *e;

	if (bs == NULL || count == NULL) {
		return -EINVAL;
	}
	e = bs_snapshot_find(bs, blobid);
	if (e == NULL || e->clone_count == 0) {
		*count = 0;
		return -ENOENT;
	}
	if (ids == NULL || *count < e->clone_count) {
		*count = e->clone_count;
		return -ENOMEM;
	}
	memcpy(ids, e->clones, e->clone_count * sizeof(*ids));
	*count = e->clone_count;
	return 0;
}

spio_blob_id spio_blob_get_parent_snapshot(struct spio_blob_store *bs, spio_blob_id blobid)
{
	struct bs_snapshot_entry *e;

	if (bs == NULL) {
		return SPIO_BLOBID_INVALID;
	}
	TAILQ_FOREACH (e, &bs->snapshots, link) {
		for (size_t i = 0; i < e->clone_count; i++) {
			if (e->clones[i] == blobid) {
				return e->id;
			}
		}
	}
	return SPIO_BLOBID_INVALID;
}

void bs_opts_fill(void *opts, size_t opts_size, const void *def, size_t def_size, size_t size_field)
{
	size_t n = opts_size < def_size ? opts_size : def_size;

	if (opts == NULL) {
		return;
	}
	memcpy(opts, def, n);
	/* The caller's struct records how much of it there is, if it has the field. */
	if (size_field + sizeof(size_t) <= n) {
		memcpy((uint8_t *)opts + size_field, &n, sizeof(n));
	}
}
