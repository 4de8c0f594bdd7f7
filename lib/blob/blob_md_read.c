/*
 * Reading a blob's metadata from the device: its chain of md pages from the
 * page its id names, checked page by page (CRC, id, sequence, next in range,
 * no loop), parsed, then its extent pages, a batch at a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/dma.h"
#include "spio/log.h"

/* Extent pages read at once. */
#define MD_LOAD_EP_BATCH 32u

struct md_load {
	struct spio_blob *blob;
	bs_io_cpl cb_fn;
	void *cb_arg;

	uint8_t *chain; /* DMA, `cap` md pages */
	uint32_t cap;
	uint32_t n;    /* pages read */
	uint32_t *idx; /* md page index of each, `cap` entries */

	uint8_t *ep_buf; /* DMA, MD_LOAD_EP_BATCH md pages */
	uint64_t ep_slot[MD_LOAD_EP_BATCH];
	uint32_t ep_count;
	uint32_t ep_pending;
	uint64_t ep_next; /* next extent page index to look at */
	int ep_rc;
};

static size_t md_page_size(const struct md_load *l)
{
	return l->blob->bs->geo.md_page_size;
}

static struct blob_md_page *chain_page(const struct md_load *l, uint32_t i)
{
	return (struct blob_md_page *)(l->chain + (size_t)i * md_page_size(l));
}

static void load_done(struct md_load *l, int rc)
{
	bs_io_cpl cb_fn = l->cb_fn;
	void *cb_arg = l->cb_arg;

	spio_dma_free(l->chain);
	spio_dma_free(l->ep_buf);
	free(l->idx);
	free(l);
	cb_fn(cb_arg, rc);
}

static void load_fail(struct md_load *l, int rc, const struct blob_fmt_err *err)
{
	if (err != NULL) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": %s\n", l->blob->id, err->msg);
	}
	load_done(l, rc);
}

static void load_fail_deferred(void *arg, int rc)
{
	load_done(arg, rc);
}

/*
 * Extent pages
 */

static void ep_issue(struct md_load *l);

static void ep_read_done(void *arg, int rc)
{
	struct md_load *l = arg;
	struct spio_blob *blob = l->blob;
	struct blob_fmt_err err;

	if (rc != 0 && l->ep_rc == 0) {
		l->ep_rc = rc;
	}
	if (--l->ep_pending > 0) {
		return;
	}
	if (l->ep_rc != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": reading an extent page failed: %s\n", blob->id,
			    strerror(-l->ep_rc));
		load_done(l, l->ep_rc);
		return;
	}
	for (uint32_t i = 0; i < l->ep_count; i++) {
		rc = blob_ep_parse(blob, l->ep_slot[i], l->ep_buf + (size_t)i * md_page_size(l),
				   &err);
		if (rc != 0) {
			load_fail(l, rc, &err);
			return;
		}
	}
	ep_issue(l);
}

static void ep_finish(struct md_load *l)
{
	struct spio_blob *blob = l->blob;

	/* A short extent page leaves holes; a thick blob has none (SPDK's rule). */
	if (!blob_is_thin(blob) && blob->active.num_allocated != blob->active.num_clusters) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": thick, but %" PRIu64 " of its %" PRIu64
			    " clusters are unallocated\n",
			    blob->id, blob->active.num_clusters - blob->active.num_allocated,
			    blob->active.num_clusters);
		load_done(l, -EINVAL);
		return;
	}
	load_done(l, 0);
}

/* Read the next batch of extent pages, or finish. */
static void ep_issue(struct md_load *l)
{
	struct spio_blob *blob = l->blob;
	const struct blob_map *m = &blob->active;

	l->ep_count = 0;
	l->ep_rc = 0;
	while (l->ep_next < m->num_extent_pages && l->ep_count < MD_LOAD_EP_BATCH) {
		uint64_t e = l->ep_next++;

		if (m->extent_pages[e] != 0) {
			l->ep_slot[l->ep_count++] = e;
		}
	}
	if (l->ep_count == 0) {
		ep_finish(l);
		return;
	}
	if (l->ep_buf == NULL) {
		l->ep_buf = bs_md_buf_alloc(blob->bs, MD_LOAD_EP_BATCH);
		if (l->ep_buf == NULL) {
			load_done(l, -ENOMEM);
			return;
		}
	}
	/* Held while issuing, so a completion cannot end the batch early. */
	l->ep_pending = l->ep_count + 1;
	for (uint32_t i = 0; i < l->ep_count; i++) {
		bs_md_page_read(blob->bs, m->extent_pages[l->ep_slot[i]],
				l->ep_buf + (size_t)i * md_page_size(l), ep_read_done, l);
	}
	ep_read_done(l, 0);
}

/*
 * The chain
 */

/* The chain as the device holds it, unsealed: what blob_md_serialize() would give for it. */
static void keep_disk_chain(struct md_load *l)
{
	struct spio_blob *blob = l->blob;
	size_t psz = md_page_size(l);
	uint8_t *copy = malloc((size_t)l->n * psz);

	free(blob->disk_chain);
	blob->disk_chain = NULL;
	blob->disk_chain_pages = 0;
	if (copy == NULL) {
		return; /* only an optimization of the next sync */
	}
	memset(copy, 0, (size_t)l->n * psz);
	for (uint32_t i = 0; i < l->n; i++) {
		struct blob_md_page *p = (struct blob_md_page *)(copy + i * psz);

		memcpy(p, chain_page(l, i), sizeof(*p));
		p->next = BLOB_MD_PAGE_INVALID;
		p->crc = 0;
	}
	blob->disk_chain = copy;
	blob->disk_chain_pages = l->n;
}

static void chain_complete(struct md_load *l)
{
	struct spio_blob *blob = l->blob;
	struct blob_fmt_err err;
	int rc;

	rc = blob_md_parse(blob, l->chain, l->n, &err);
	if (rc != 0) {
		load_fail(l, rc, rc == -ENOMEM ? NULL : &err);
		return;
	}
	free(blob->md_pages);
	blob->md_pages = l->idx;
	blob->num_md_pages = l->n;
	l->idx = NULL;
	keep_disk_chain(l);
	if (blob->use_extent_table) {
		ep_issue(l);
		return;
	}
	ep_finish(l);
}

static bool page_all_zero(const struct blob_md_page *p)
{
	const uint8_t *b = (const uint8_t *)p;

	for (size_t i = 0; i < sizeof(*p); i++) {
		if (b[i] != 0) {
			return false;
		}
	}
	return true;
}

static int chain_grow(struct md_load *l)
{
	uint64_t cap = (uint64_t)l->cap * 2;
	uint8_t *chain;
	uint32_t *idx;

	if (cap > l->blob->bs->geo.md_len) {
		cap = l->blob->bs->geo.md_len;
	}
	chain = bs_md_buf_alloc(l->blob->bs, (uint32_t)cap);
	idx = realloc(l->idx, (size_t)cap * sizeof(*idx));
	if (chain == NULL || idx == NULL) {
		spio_dma_free(chain);
		if (idx != NULL) {
			l->idx = idx;
		}
		return -ENOMEM;
	}
	memcpy(chain, l->chain, (size_t)l->n * md_page_size(l));
	spio_dma_free(l->chain);
	l->chain = chain;
	l->idx = idx;
	l->cap = (uint32_t)cap;
	return 0;
}

static void chain_read_done(void *arg, int rc)
{
	struct md_load *l = arg;
	struct spio_blob *blob = l->blob;
	uint32_t seq = l->n - 1, page_idx = l->idx[seq];
	const struct blob_md_page *p = chain_page(l, seq);
	uint64_t md_len = blob->bs->geo.md_len;
	struct blob_fmt_err err;

	if (rc != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": reading md page %" PRIu32 " failed: %s\n",
			    blob->id, page_idx, strerror(-rc));
		load_done(l, rc);
		return;
	}
	/* The page the id names but no blob starts there: no such blob. */
	if (seq == 0 && (page_all_zero(p) ||
			 (blob_md_page_crc_ok(p) && (p->id != blob->id || p->sequence_num != 0)))) {
		load_done(l, -ENOENT);
		return;
	}
	rc = blob_md_page_check(p, page_idx, blob->id, seq, md_len, &err);
	if (rc != 0) {
		/*
		 * A page seen before has a smaller sequence number, so a loop
		 * always ends here; say so rather than "wrong sequence".
		 */
		for (uint32_t i = 0; i < seq && rc == -EINVAL; i++) {
			if (l->idx[i] == page_idx) {
				blob_fmt_fail(&err, -EINVAL,
					      "chain page %" PRIu32
					      " loops back to md page %" PRIu32
					      " (chain page %" PRIu32 ")",
					      seq, page_idx, i);
				break;
			}
		}
		load_fail(l, rc, &err);
		return;
	}
	if (p->next == BLOB_MD_PAGE_INVALID) {
		chain_complete(l);
		return;
	}
	/* The pages read are distinct (their sequence numbers): md_len of them end it. */
	if (l->n == md_len) {
		blob_fmt_fail(&err, -EINVAL,
			      "md page %" PRIu32 ": the chain goes on past all %" PRIu64
			      " md pages",
			      page_idx, md_len);
		load_fail(l, -EINVAL, &err);
		return;
	}
	if (l->n == l->cap && chain_grow(l) != 0) {
		load_done(l, -ENOMEM);
		return;
	}
	l->idx[l->n] = chain_page(l, l->n - 1)->next;
	l->n++;
	bs_md_page_read(blob->bs, l->idx[l->n - 1], chain_page(l, l->n - 1), chain_read_done, l);
}

void blob_md_load(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg)
{
	struct spio_blob_store *bs = blob->bs;
	struct md_load *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		if (bs_defer(bs, cb_fn, cb_arg, -ENOMEM) != 0) {
			cb_fn(cb_arg, -ENOMEM);
		}
		return;
	}
	l->blob = blob;
	l->cb_fn = cb_fn;
	l->cb_arg = cb_arg;
	l->cap = bs->geo.md_len < 4 ? (uint32_t)bs->geo.md_len : 4;
	if (!blob_id_is_valid(blob->id, bs->geo.md_len)) {
		if (bs_defer(bs, load_fail_deferred, l, -ENOENT) != 0) {
			load_done(l, -ENOENT);
		}
		return;
	}
	l->chain = bs_md_buf_alloc(bs, l->cap);
	l->idx = calloc(l->cap, sizeof(*l->idx));
	if (l->chain == NULL || l->idx == NULL) {
		if (bs_defer(bs, load_fail_deferred, l, -ENOMEM) != 0) {
			load_done(l, -ENOMEM);
		}
		return;
	}
	l->idx[0] = blob_id_to_page(blob->id);
	l->n = 1;
	bs_md_page_read(bs, l->idx[0], l->chain, chain_read_done, l);
}
