/*
 * Writing a blob's metadata (blob_persist) and removing it (blob_persist_delete).
 *
 * A persist is crash-safe by ordering, not by a journal:
 *   1. extent pages that only gained clusters are rewritten in place (an
 *      older chain reading them sees clusters it does not know yet past its
 *      size, which the parser ignores, or allocated clusters of a thin blob
 *      holding the parent's data: the same content); every other changed
 *      extent page and every chain page but the first go to new md pages;
 *   2. the first page is written: the commit point;
 *   3. the old pages are zeroed and released, and the clusters the blob gave
 *      up are cleared (its clear method) and released.
 * A crash before 2 leaves the old metadata whole; after it, the new.
 * Persists of one blob run one at a time; later requests wait and share
 * the next run.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/dma.h"
#include "spio/log.h"

struct blob_sync_waiter {
	TAILQ_ENTRY(blob_sync_waiter) link;
	bs_io_cpl cb_fn;
	void *cb_arg;
};

struct persist_run {
	struct spio_blob *blob;
	TAILQ_HEAD(, blob_sync_waiter) waiters;

	struct blob_map written; /* active at the start: what the device will say */
	uint32_t *old_eps;	 /* active.extent_pages before planning, for rollback */
	uint64_t old_num_eps;

	void *chain;	  /* serialized chain, sealed in place */
	void *chain_copy; /* unsealed copy, kept as disk_chain */
	uint32_t chain_pages;
	uint32_t *chain_idx; /* md page of each chain page */
	bool write_chain;

	void *ep_buf; /* extent pages to write, one md page each */
	uint32_t *ep_idx;
	uint32_t num_ep_writes;

	uint32_t *claimed; /* md pages claimed by this run (released on failure) */
	uint32_t num_claimed;
	uint32_t *to_free; /* md pages to zero and release after commit */
	uint32_t num_to_free;
	void *zero_page;

	uint64_t *clusters_to_free; /* taken from the blob's pending list */
	uint64_t num_clusters_to_free;

	uint32_t pending;
	int rc;
};

int blob_defer_cluster_free(struct spio_blob *blob, uint64_t cluster)
{
	if (blob->num_pending_free_clusters == blob->cap_pending_free_clusters) {
		uint64_t cap =
		    blob->cap_pending_free_clusters ? blob->cap_pending_free_clusters * 2 : 16;
		uint64_t *v = realloc(blob->pending_free_clusters, cap * sizeof(*v));

		if (v == NULL) {
			return -ENOMEM;
		}
		blob->pending_free_clusters = v;
		blob->cap_pending_free_clusters = cap;
	}
	blob->pending_free_clusters[blob->num_pending_free_clusters++] = cluster;
	blob->dirty = true;
	return 0;
}

static void run_free(struct persist_run *run)
{
	blob_map_free(&run->written);
	free(run->old_eps);
	spio_dma_free(run->chain);
	free(run->chain_copy);
	free(run->chain_idx);
	spio_dma_free(run->ep_buf);
	free(run->ep_idx);
	free(run->claimed);
	free(run->to_free);
	spio_dma_free(run->zero_page);
	free(run->clusters_to_free);
	free(run);
}

static void persist_start(struct spio_blob *blob);

static void run_complete(struct persist_run *run, int rc)
{
	struct spio_blob *blob = run->blob;
	struct blob_sync_waiter *w;

	blob->sync_running = false;
	/* Requests that came while this one ran share the next run, started before
	 * the callbacks: one of them may free the blob (a new blob, a last close). */
	if (!TAILQ_EMPTY(&blob->sync_waiters)) {
		persist_start(blob);
	}
	while ((w = TAILQ_FIRST(&run->waiters)) != NULL) {
		TAILQ_REMOVE(&run->waiters, w, link);
		w->cb_fn(w->cb_arg, rc);
		free(w);
	}
	run_free(run);
}

static void run_fail(struct persist_run *run, int rc)
{
	struct spio_blob *blob = run->blob;

	SPIO_ERRLOG("blob 0x%" PRIx64 ": metadata write failed: %s\n", blob->id, strerror(-rc));
	for (uint32_t i = 0; i < run->num_claimed; i++) {
		bs_release_md_page(blob->bs, run->claimed[i]);
	}
	/* Back to the table the device has; the next run plans again. */
	if (run->old_eps != NULL) {
		memcpy(blob->active.extent_pages, run->old_eps,
		       run->old_num_eps * sizeof(*run->old_eps));
	}
	/* Clusters stay pending for the next run. */
	for (uint64_t i = 0; i < run->num_clusters_to_free; i++) {
		blob_defer_cluster_free(blob, run->clusters_to_free[i]);
	}
	blob->dirty = true;
	run_complete(run, rc);
}

/*
 * Step 3: clear and release what the old metadata held.
 */

static void release_done(void *arg, int rc)
{
	struct persist_run *run = arg;
	struct spio_blob_store *bs = run->blob->bs;

	if (rc != 0 && run->rc == 0) {
		run->rc = rc;
	}
	if (--run->pending > 0) {
		return;
	}
	if (run->rc != 0) {
		/* The commit is done; a failed clear only leaks until the next recovery. */
		SPIO_ERRLOG("blob 0x%" PRIx64 ": clearing freed space failed: %s\n", run->blob->id,
			    strerror(-run->rc));
	}
	for (uint32_t i = 0; i < run->num_to_free; i++) {
		bs_release_md_page(bs, run->to_free[i]);
	}
	for (uint64_t i = 0; i < run->num_clusters_to_free; i++) {
		bs_release_cluster(bs, run->clusters_to_free[i]);
	}
	run_complete(run, 0);
}

static void clear_clusters(struct persist_run *run)
{
	struct spio_blob *blob = run->blob;
	struct spio_blob_store *bs = blob->bs;
	uint64_t blocks = bs->geo.cluster_size / bs->dev->blocklen;

	if (blob->clear_method == SPIO_BLOB_CLEAR_WITH_NONE) {
		return;
	}
	for (uint64_t i = 0; i < run->num_clusters_to_free; i++) {
		uint64_t lba = bs_cluster_to_lba(bs, run->clusters_to_free[i]);

		run->pending++;
		if (blob->clear_method == SPIO_BLOB_CLEAR_WITH_WRITE_ZEROES) {
			bs_dev_write_zeroes(bs, lba, blocks, release_done, run);
		} else {
			bs_dev_unmap(bs, lba, blocks, release_done, run);
		}
	}
}

static void commit_done(void *arg, int rc)
{
	struct persist_run *run = arg;
	struct spio_blob *blob = run->blob;

	if (rc != 0) {
		run_fail(run, rc);
		return;
	}
	/* The device now holds the new metadata. */
	if (blob->data_ro_flags & BLOB_FLAG_READ_ONLY) {
		blob->data_ro = true;
		blob->md_ro = true;
	}
	blob_map_free(&blob->disk);
	blob->disk = run->written;
	memset(&run->written, 0, sizeof(run->written));
	if (run->write_chain) {
		free(blob->md_pages);
		blob->md_pages = run->chain_idx;
		blob->num_md_pages = run->chain_pages;
		run->chain_idx = NULL;
		free(blob->disk_chain);
		blob->disk_chain = run->chain_copy;
		blob->disk_chain_pages = run->chain_pages;
		run->chain_copy = NULL;
	}

	run->pending = 1; /* held until every clear is issued */
	for (uint32_t i = 0; i < run->num_to_free; i++) {
		run->pending++;
		bs_md_page_write(blob->bs, run->to_free[i], run->zero_page, release_done, run);
	}
	clear_clusters(run);
	release_done(run, 0);
}

/*
 * Step 2: the first page.
 */

static void precommit_done(void *arg, int rc)
{
	struct persist_run *run = arg;
	struct spio_blob *blob = run->blob;

	if (rc != 0 && run->rc == 0) {
		run->rc = rc;
	}
	if (--run->pending > 0) {
		return;
	}
	if (run->rc != 0) {
		run_fail(run, run->rc);
		return;
	}
	if (!run->write_chain) {
		commit_done(run, 0);
		return;
	}
	bs_md_page_write(blob->bs, run->chain_idx[0], run->chain, commit_done, run);
}

/*
 * Step 1: plan and write everything but the first page.
 */

static int run_claim(struct persist_run *run, uint32_t from, uint32_t *page)
{
	uint32_t p = bs_claim_md_page(run->blob->bs, from);

	if (p == UINT32_MAX) {
		return -ENOSPC;
	}
	run->claimed[run->num_claimed++] = p;
	*page = p;
	return 0;
}

static uint64_t disk_cluster(const struct blob_map *disk, uint64_t i)
{
	return i < disk->num_clusters ? disk->clusters[i] : 0;
}

/* Decide each extent page's fate and serialize the ones to write. */
static int plan_extent_pages(struct persist_run *run)
{
	struct spio_blob *blob = run->blob;
	const struct blob_map *act = &blob->active;
	const struct blob_map *disk = &blob->disk;
	size_t psz = blob->bs->geo.md_page_size;

	for (uint64_t e = 0; e < act->num_extent_pages; e++) {
		uint64_t first = e * BLOB_EXTENTS_PER_EP;
		uint64_t end = first + BLOB_EXTENTS_PER_EP;
		uint32_t disk_page = e < disk->num_extent_pages ? disk->extent_pages[e] : 0;
		bool any = false, changed = false, additions_only = true;
		uint32_t page;
		int rc;

		if (end > act->num_clusters) {
			end = act->num_clusters;
		}
		for (uint64_t i = first; i < end; i++) {
			uint64_t a = act->clusters[i], d = disk_cluster(disk, i);

			any |= a != 0;
			if (a != d) {
				changed = true;
				additions_only &= d == 0;
			}
		}
		/* The old size may have listed clusters in this page past the new end. */
		for (uint64_t i = end; i < first + BLOB_EXTENTS_PER_EP && i < disk->num_clusters;
		     i++) {
			if (disk->clusters[i] != 0) {
				changed = true;
				additions_only = false;
			}
		}
		if (!any) {
			blob->active.extent_pages[e] = 0;
			if (disk_page != 0) {
				run->to_free[run->num_to_free++] = disk_page;
			}
			continue;
		}
		if (!changed && disk_page != 0) {
			blob->active.extent_pages[e] = disk_page;
			continue;
		}
		if (additions_only && disk_page != 0 && !blob->ep_cow_next) {
			page = disk_page;
		} else {
			rc = run_claim(run, 1, &page);
			if (rc != 0) {
				return rc;
			}
			if (disk_page != 0) {
				run->to_free[run->num_to_free++] = disk_page;
			}
		}
		blob->active.extent_pages[e] = page;
		blob_ep_serialize(blob, e, (uint8_t *)run->ep_buf + run->num_ep_writes * psz);
		run->ep_idx[run->num_ep_writes++] = page;
	}
	/* Extent pages past the new size. */
	for (uint64_t e = act->num_extent_pages; e < disk->num_extent_pages; e++) {
		if (disk->extent_pages[e] != 0) {
			run->to_free[run->num_to_free++] = disk->extent_pages[e];
		}
	}
	return 0;
}

static int plan_chain(struct persist_run *run)
{
	struct spio_blob *blob = run->blob;
	size_t psz = blob->bs->geo.md_page_size;
	uint32_t max = blob_md_count_pages(blob);
	int n;

	run->chain = bs_md_buf_alloc(blob->bs, max);
	if (run->chain == NULL) {
		return -ENOMEM;
	}
	n = blob_md_serialize(blob, run->chain, max);
	if (n < 0) {
		return n;
	}
	run->chain_pages = (uint32_t)n;
	if (blob->disk_chain != NULL && blob->disk_chain_pages == (uint32_t)n &&
	    memcmp(blob->disk_chain, run->chain, (size_t)n * psz) == 0) {
		run->write_chain = false;
		return 0;
	}
	run->write_chain = true;
	run->chain_copy = malloc((size_t)n * psz);
	run->chain_idx = calloc((size_t)n, sizeof(*run->chain_idx));
	if (run->chain_copy == NULL || run->chain_idx == NULL) {
		return -ENOMEM;
	}
	memcpy(run->chain_copy, run->chain, (size_t)n * psz);
	run->chain_idx[0] = blob_id_to_page(blob->id);
	for (uint32_t i = 1; i < (uint32_t)n; i++) {
		int rc = run_claim(run, 0, &run->chain_idx[i]);

		if (rc != 0) {
			return rc;
		}
	}
	for (uint32_t i = 0; i < (uint32_t)n; i++) {
		uint32_t next = i + 1 < (uint32_t)n ? run->chain_idx[i + 1] : BLOB_MD_PAGE_INVALID;

		blob_md_page_seal((struct blob_md_page *)((uint8_t *)run->chain + i * psz), next);
	}
	/* The old chain's pages but the first go once the new one is in. */
	for (uint32_t i = 1; i < blob->num_md_pages; i++) {
		run->to_free[run->num_to_free++] = blob->md_pages[i];
	}
	return 0;
}

static int run_prepare(struct persist_run *run)
{
	struct spio_blob *blob = run->blob;
	uint64_t eps = blob->active.num_extent_pages;
	uint64_t max_free = blob->num_md_pages + blob->disk.num_extent_pages + eps + 1;
	uint32_t max_chain = blob_md_count_pages(blob);
	int rc;

	rc = blob_map_copy(&run->written, &blob->active);
	if (rc != 0) {
		return rc;
	}
	run->old_num_eps = eps;
	run->old_eps = malloc((eps ? eps : 1) * sizeof(*run->old_eps));
	run->ep_idx = calloc(eps ? eps : 1, sizeof(*run->ep_idx));
	run->claimed = calloc(eps + max_chain + 1, sizeof(*run->claimed));
	run->to_free = calloc(max_free, sizeof(*run->to_free));
	run->zero_page = bs_md_buf_alloc(blob->bs, 1);
	if (run->old_eps == NULL || run->ep_idx == NULL || run->claimed == NULL ||
	    run->to_free == NULL || run->zero_page == NULL) {
		return -ENOMEM;
	}
	memcpy(run->old_eps, blob->active.extent_pages, eps * sizeof(*run->old_eps));

	/* Also at no extent pages left (a resize to 0): the device's old ones must go. */
	if (blob->use_extent_table && (eps > 0 || blob->disk.num_extent_pages > 0)) {
		if (eps > 0) {
			run->ep_buf = bs_md_buf_alloc(blob->bs, (uint32_t)eps);
			if (run->ep_buf == NULL) {
				return -ENOMEM;
			}
		}
		rc = plan_extent_pages(run);
		if (rc != 0) {
			return rc;
		}
	}
	rc = plan_chain(run);
	if (rc != 0) {
		return rc;
	}
	/* The written table is the planned one. */
	if (eps > 0) {
		memcpy(run->written.extent_pages, blob->active.extent_pages,
		       eps * sizeof(*run->written.extent_pages));
	}
	blob->ep_cow_next = false;
	run->clusters_to_free = blob->pending_free_clusters;
	run->num_clusters_to_free = blob->num_pending_free_clusters;
	blob->pending_free_clusters = NULL;
	blob->num_pending_free_clusters = 0;
	blob->cap_pending_free_clusters = 0;
	return 0;
}

static void persist_start(struct spio_blob *blob)
{
	struct persist_run *run = calloc(1, sizeof(*run));
	size_t psz = blob->bs->geo.md_page_size;
	int rc;

	if (run == NULL) {
		struct blob_sync_waiter *w;

		while ((w = TAILQ_FIRST(&blob->sync_waiters)) != NULL) {
			TAILQ_REMOVE(&blob->sync_waiters, w, link);
			if (bs_defer(blob->bs, w->cb_fn, w->cb_arg, -ENOMEM) != 0) {
				w->cb_fn(w->cb_arg, -ENOMEM);
			}
			free(w);
		}
		return;
	}
	run->blob = blob;
	TAILQ_INIT(&run->waiters);
	TAILQ_CONCAT(&run->waiters, &blob->sync_waiters, link);
	blob->sync_running = true;

	if (!blob->dirty) {
		/* Nothing to write; still answer later, never inline. */
		run->pending = 1;
		if (bs_defer(blob->bs, release_done, run, 0) != 0) {
			run_complete(run, -ENOMEM);
		}
		return;
	}
	/* Changes from now on belong to the next run. */
	blob->dirty = false;
	rc = run_prepare(run);
	if (rc != 0) {
		/* Keep the failure deferred: callers never see their callback inline. */
		run->rc = rc;
		run->pending = 1;
		if (bs_defer(blob->bs, precommit_done, run, rc) != 0) {
			run_fail(run, rc);
		}
		return;
	}
	run->pending = 1;
	for (uint32_t i = 0; i < run->num_ep_writes; i++) {
		run->pending++;
		bs_md_page_write(blob->bs, run->ep_idx[i], (uint8_t *)run->ep_buf + i * psz,
				 precommit_done, run);
	}
	if (run->write_chain) {
		for (uint32_t i = 1; i < run->chain_pages; i++) {
			run->pending++;
			bs_md_page_write(blob->bs, run->chain_idx[i],
					 (uint8_t *)run->chain + i * psz, precommit_done, run);
		}
	}
	/* Drop the hold through a deferral so nothing completes inside this call. */
	if (bs_defer(blob->bs, precommit_done, run, 0) != 0) {
		precommit_done(run, 0);
	}
}

void blob_persist(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg)
{
	struct blob_sync_waiter *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		if (bs_defer(blob->bs, cb_fn, cb_arg, -ENOMEM) != 0) {
			cb_fn(cb_arg, -ENOMEM);
		}
		return;
	}
	w->cb_fn = cb_fn;
	w->cb_arg = cb_arg;
	TAILQ_INSERT_TAIL(&blob->sync_waiters, w, link);
	if (!blob->sync_running) {
		persist_start(blob);
	}
}

/*
 * Delete: the first page goes first (the blob is gone), then the rest.
 */

struct delete_run {
	struct spio_blob *blob;
	bs_io_cpl cb_fn;
	void *cb_arg;
	void *zero_page;
	uint32_t pending;
	int rc;
};

static void delete_released(void *arg, int rc)
{
	struct delete_run *d = arg;
	struct spio_blob *blob = d->blob;
	struct spio_blob_store *bs = blob->bs;

	if (rc != 0 && d->rc == 0) {
		d->rc = rc;
	}
	if (--d->pending > 0) {
		return;
	}
	if (d->rc != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": clearing a deleted blob's space failed: %s\n",
			    blob->id, strerror(-d->rc));
	}
	for (uint32_t i = 1; i < blob->num_md_pages; i++) {
		bs_release_md_page(bs, blob->md_pages[i]);
	}
	for (uint64_t e = 0; e < blob->disk.num_extent_pages; e++) {
		if (blob->disk.extent_pages[e] != 0) {
			bs_release_md_page(bs, blob->disk.extent_pages[e]);
		}
	}
	for (uint64_t i = 0; i < blob->disk.num_clusters; i++) {
		if (blob->disk.clusters[i] != 0) {
			bs_release_cluster(bs, blob->disk.clusters[i]);
		}
	}
	for (uint64_t i = 0; i < blob->num_pending_free_clusters; i++) {
		bs_release_cluster(bs, blob->pending_free_clusters[i]);
	}
	blob->num_pending_free_clusters = 0;
	bs_release_md_page(bs, blob_id_to_page(blob->id));
	bs_bits_clear(&bs->used_blobids, blob_id_to_page(blob->id));
	spio_dma_free(d->zero_page);
	d->cb_fn(d->cb_arg, 0);
	free(d);
}

static void delete_clear_cluster(struct delete_run *d, uint64_t cluster)
{
	struct spio_blob *blob = d->blob;
	struct spio_blob_store *bs = blob->bs;
	uint64_t blocks = bs->geo.cluster_size / bs->dev->blocklen;

	if (blob->clear_method == SPIO_BLOB_CLEAR_WITH_NONE) {
		return;
	}
	d->pending++;
	if (blob->clear_method == SPIO_BLOB_CLEAR_WITH_WRITE_ZEROES) {
		bs_dev_write_zeroes(bs, bs_cluster_to_lba(bs, cluster), blocks, delete_released, d);
	} else {
		bs_dev_unmap(bs, bs_cluster_to_lba(bs, cluster), blocks, delete_released, d);
	}
}

static void delete_root_zeroed(void *arg, int rc)
{
	struct delete_run *d = arg;
	struct spio_blob *blob = d->blob;

	if (rc != 0) {
		SPIO_ERRLOG("blob 0x%" PRIx64 ": delete failed writing its first page: %s\n",
			    blob->id, strerror(-rc));
		spio_dma_free(d->zero_page);
		d->cb_fn(d->cb_arg, rc);
		free(d);
		return;
	}
	d->pending = 1;
	for (uint32_t i = 1; i < blob->num_md_pages; i++) {
		d->pending++;
		bs_md_page_write(blob->bs, blob->md_pages[i], d->zero_page, delete_released, d);
	}
	for (uint64_t e = 0; e < blob->disk.num_extent_pages; e++) {
		if (blob->disk.extent_pages[e] != 0) {
			d->pending++;
			bs_md_page_write(blob->bs, blob->disk.extent_pages[e], d->zero_page,
					 delete_released, d);
		}
	}
	for (uint64_t i = 0; i < blob->disk.num_clusters; i++) {
		if (blob->disk.clusters[i] != 0) {
			delete_clear_cluster(d, blob->disk.clusters[i]);
		}
	}
	for (uint64_t i = 0; i < blob->num_pending_free_clusters; i++) {
		delete_clear_cluster(d, blob->pending_free_clusters[i]);
	}
	delete_released(d, 0);
}

void blob_persist_delete(struct spio_blob *blob, bs_io_cpl cb_fn, void *cb_arg)
{
	struct delete_run *d = calloc(1, sizeof(*d));

	if (d != NULL) {
		d->zero_page = bs_md_buf_alloc(blob->bs, 1);
	}
	if (d == NULL || d->zero_page == NULL) {
		free(d);
		if (bs_defer(blob->bs, cb_fn, cb_arg, -ENOMEM) != 0) {
			cb_fn(cb_arg, -ENOMEM);
		}
		return;
	}
	d->blob = blob;
	d->cb_fn = cb_fn;
	d->cb_arg = cb_arg;
	bs_md_page_write(blob->bs, blob_id_to_page(blob->id), d->zero_page, delete_root_zeroed, d);
}
