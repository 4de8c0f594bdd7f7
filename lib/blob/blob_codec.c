/*
 * A blob's metadata as md pages and back (see blob_internal.h), laid out
 * exactly as SPDK's blob_serialize() does so that an image SPDK wrote reads
 * back and writes again byte for byte: the flags first, then the xattrs, the
 * internal xattrs, then the extent table (or the extent list of old blobs),
 * each descriptor whole in one page and a new page of the chain begun only
 * when the next one does not fit.
 *
 * Everything parsed is distrusted: lengths and indices are checked before
 * use and sizes are bounded before anything is allocated for them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"

/* SPDK keeps cluster counts and extent page starts in 32 bits on disk. */
#define BLOB_MAX_CLUSTERS UINT32_MAX

static uint64_t div_round_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/*
 * Serialization
 */

/* Where the pages go: the caller's buffer, or one scratch page when only counting. */
struct md_out {
	const struct spio_blob *blob;
	uint8_t *base; /* NULL: count only */
	size_t stride;
	uint32_t max;
	uint32_t count;
	struct blob_md_writer w;
	struct blob_md_page scratch;
};

static int out_new_page(struct md_out *o)
{
	struct blob_md_page *page;

	if (o->count == o->max) {
		return -ENOSPC;
	}
	if (o->base != NULL) {
		page = (struct blob_md_page *)(o->base + (size_t)o->count * o->stride);
		memset(page, 0, o->stride);
	} else {
		page = &o->scratch;
	}
	blob_md_page_init(page, o->blob->id, o->count);
	blob_md_writer_init(&o->w, page);
	o->count++;
	return 0;
}

static uint32_t out_room(const struct md_out *o)
{
	return BLOB_DESCS_SIZE - o->w.used;
}

/* The flags as SPDK stores them: the feature bits follow what the blob holds. */
static struct blob_flags blob_flags_of(const struct spio_blob *blob)
{
	struct blob_flags f = {
	    .invalid = blob->invalid_flags & ~(BLOB_FLAG_INTERNAL_XATTR | BLOB_FLAG_EXTENT_TABLE),
	    .data_ro = blob->data_ro_flags,
	    .md_ro = blob->md_ro_flags,
	};

	if (!TAILQ_EMPTY(&blob->xattrs_internal)) {
		f.invalid |= BLOB_FLAG_INTERNAL_XATTR;
	}
	if (blob->use_extent_table) {
		f.invalid |= BLOB_FLAG_EXTENT_TABLE;
	}
	return f;
}

static int out_xattrs(struct md_out *o, const struct blob_xattr_list *list, bool internal)
{
	const struct blob_xattr *x;
	int rc;

	TAILQ_FOREACH (x, list, link) {
		size_t nl = strlen(x->name);

		rc = blob_md_add_xattr(&o->w, internal, x->name, nl, x->value, x->value_len);
		if (rc == -ENOSPC) {
			/* SPDK: the xattr goes whole to the next page. */
			rc = out_new_page(o);
			if (rc != 0) {
				return rc;
			}
			rc =
			    blob_md_add_xattr(&o->w, internal, x->name, nl, x->value, x->value_len);
			if (rc == -ENOSPC) {
				rc = -EINVAL; /* larger than a whole page */
			}
		}
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

/*
 * The extent table: (page, 1) for an extent page, (0, n) for a run of n
 * missing ones. Like SPDK, a table that does not fit goes on in the next
 * page with the same num_clusters, and a page with room for the header but
 * not one entry still gets an empty table descriptor.
 */
static int out_extent_table(struct md_out *o)
{
	const struct blob_map *m = &o->blob->active;
	struct blob_extent_table_entry e[BLOB_DESCS_SIZE / sizeof(struct blob_extent_table_entry)];
	const uint32_t hdr = sizeof(struct blob_desc_extent_table);
	uint64_t start = 0, next;
	int rc;

	for (;;) {
		next = start;
		if (out_room(o) >= hdr) {
			uint32_t room = (out_room(o) - hdr) / sizeof(e[0]), n = 0, run = 1;
			uint64_t i;

			for (i = start; i < m->num_extent_pages && n < room; i++) {
				uint32_t page = m->extent_pages[i];

				if (page == 0 && i + 1 < m->num_extent_pages &&
				    m->extent_pages[i + 1] == 0) {
					run++;
					continue;
				}
				e[n].page_idx = page;
				e[n].num_pages = run;
				n++;
				run = 1;
			}
			rc = blob_md_add_extent_table(&o->w, m->num_clusters, e, n);
			if (rc != 0) {
				return rc;
			}
			next = i;
		}
		if (next == m->num_extent_pages) {
			return 0;
		}
		rc = out_new_page(o);
		if (rc != 0) {
			return rc;
		}
		start = next;
	}
}

/* The extent list of a blob without an extent table: runs of contiguous clusters or holes. */
static int out_extent_rle(struct md_out *o)
{
	const struct blob_map *m = &o->blob->active;
	struct blob_extent_run r[BLOB_DESCS_SIZE / sizeof(struct blob_extent_run)];
	const uint32_t hdr = sizeof(struct blob_desc_extent_rle);
	uint64_t start = 0;
	int rc;

	while (start < m->num_clusters) {
		uint64_t i = start;

		if (out_room(o) >= hdr + sizeof(r[0])) {
			uint32_t room = (out_room(o) - hdr) / sizeof(r[0]), n = 0;

			while (i < m->num_clusters && n < room) {
				uint64_t c = m->clusters[i], len = 1;

				while (i + len < m->num_clusters &&
				       (c == 0 ? m->clusters[i + len] == 0
					       : m->clusters[i + len] == c + len)) {
					len++;
				}
				r[n].cluster_idx = (uint32_t)c;
				r[n].length = (uint32_t)len;
				n++;
				i += len;
			}
			rc = blob_md_add_extent_rle(&o->w, r, n);
			if (rc != 0) {
				return rc;
			}
		}
		if (i == m->num_clusters) {
			return 0;
		}
		rc = out_new_page(o);
		if (rc != 0) {
			return rc;
		}
		start = i;
	}
	return 0;
}

static int md_layout(struct md_out *o)
{
	struct blob_flags f = blob_flags_of(o->blob);
	int rc;

	rc = out_new_page(o);
	if (rc != 0) {
		return rc;
	}
	/* The first descriptor of an empty page always fits. */
	blob_md_add_flags(&o->w, &f);
	rc = out_xattrs(o, &o->blob->xattrs, false);
	if (rc == 0) {
		rc = out_xattrs(o, &o->blob->xattrs_internal, true);
	}
	if (rc == 0) {
		rc = o->blob->use_extent_table ? out_extent_table(o) : out_extent_rle(o);
	}
	return rc;
}

int blob_md_serialize(const struct spio_blob *blob, void *pages, uint32_t max_pages)
{
	struct md_out *o;
	int rc;

	if (blob->active.num_clusters > BLOB_MAX_CLUSTERS) {
		return -EINVAL;
	}
	o = calloc(1, sizeof(*o));
	if (o == NULL) {
		return -ENOMEM;
	}
	o->blob = blob;
	o->base = pages;
	o->stride = blob->bs->geo.md_page_size;
	o->max = max_pages;
	rc = md_layout(o);
	if (rc == 0) {
		rc = (int)o->count;
	}
	free(o);
	return rc;
}

uint32_t blob_md_count_pages(const struct spio_blob *blob)
{
	struct md_out *o = calloc(1, sizeof(*o));
	uint32_t n;

	if (o == NULL) {
		return 1;
	}
	o->blob = blob;
	o->max = UINT32_MAX;
	md_layout(o);
	/* On failure serialize fails the same way; one page is enough to find out. */
	n = o->count > 0 ? o->count : 1;
	free(o);
	return n;
}

void blob_ep_serialize(const struct spio_blob *blob, uint64_t ep, void *page)
{
	const struct blob_map *m = &blob->active;
	uint32_t c[BLOB_EXTENTS_PER_EP];
	uint64_t first = ep * BLOB_EXTENTS_PER_EP;
	struct blob_md_writer w;
	uint32_t n = 0;

	memset(page, 0, blob->bs->geo.md_page_size);
	blob_md_page_init(page, blob->id, 0);
	blob_md_writer_init(&w, page);
	for (uint64_t i = first; i < m->num_clusters && n < BLOB_EXTENTS_PER_EP; i++) {
		c[n++] = (uint32_t)m->clusters[i];
	}
	/* An extent page past the end has nothing to say: no descriptor (SPDK never writes one). */
	if (n > 0) {
		blob_md_add_extent_page(&w, (uint32_t)first, c, n);
	}
	blob_md_page_seal(page, BLOB_MD_PAGE_INVALID);
}

/*
 * Parsing
 */

/* What the first pass over the chain found. */
struct md_scan {
	struct blob_flags flags;
	bool et_found;
	bool rle_found;
	bool hole; /* an unallocated extent page or run of clusters */
	uint64_t et_num_clusters;
	uint64_t et_entries; /* extent pages the table lists, holes expanded */
	uint64_t rle_clusters;
};

/* Say which page of the chain the reason in `err` is about. */
static int chain_fail(struct blob_fmt_err *err, int rc, uint32_t seq)
{
	char why[sizeof(err->msg)];

	if (err == NULL || rc == -ENOMEM) {
		return rc;
	}
	memcpy(why, err->msg, sizeof(why));
	return blob_fmt_fail(err, rc, "chain page %" PRIu32 ": %s", seq, why);
}

static int xattr_add(struct spio_blob *blob, const struct blob_xattr_view *v)
{
	struct blob_xattr *x = calloc(1, sizeof(*x));

	if (x == NULL) {
		return -ENOMEM;
	}
	x->name = malloc((size_t)v->name_len + 1);
	x->value = malloc(v->value_len ? v->value_len : 1);
	if (x->name == NULL || x->value == NULL) {
		free(x->name);
		free(x->value);
		free(x);
		return -ENOMEM;
	}
	memcpy(x->name, v->name, v->name_len);
	x->name[v->name_len] = '\0';
	if (v->value_len > 0) {
		memcpy(x->value, v->value, v->value_len);
	}
	x->value_len = v->value_len;
	/* Kept in stored order, duplicates too, as SPDK does: written back the same. */
	TAILQ_INSERT_TAIL(v->internal ? &blob->xattrs_internal : &blob->xattrs, x, link);
	return 0;
}

/* First pass over one descriptor: check it, count what it holds, keep the xattrs. */
static int scan_desc(struct spio_blob *blob, const struct blob_desc *d, struct md_scan *s,
		     struct blob_fmt_err *err)
{
	const struct blob_geometry *g = &blob->bs->geo;
	struct blob_xattr_view x;
	struct blob_extent_rle_view rv;
	struct blob_extent_table_view tv;
	int rc;

	switch (d->type) {
	case BLOB_DESC_FLAGS:
		/* The last flags descriptor counts, as in SPDK. */
		return blob_desc_flags_decode(d, &s->flags, err);
	case BLOB_DESC_XATTR:
	case BLOB_DESC_XATTR_INTERNAL:
		rc = blob_desc_xattr_decode(d, &x, err);
		return rc != 0 ? rc : xattr_add(blob, &x);
	case BLOB_DESC_EXTENT_RLE:
		if (s->et_found) {
			return blob_fmt_fail(err, -EINVAL, "an extent list after an extent table");
		}
		s->rle_found = true;
		rc = blob_desc_extent_rle_decode(d, g->total_clusters, &rv, err);
		if (rc != 0) {
			return rc;
		}
		for (uint32_t i = 0; i < rv.count; i++) {
			struct blob_extent_run r = blob_extent_rle_get(&rv, i);

			if (r.cluster_idx != 0 && r.length != 0 && r.cluster_idx < g->md_clusters) {
				return blob_fmt_fail(err, -ERANGE,
						     "extent run %" PRIu32 ": cluster %" PRIu32
						     " is in the metadata's %" PRIu64 " clusters",
						     i, r.cluster_idx, g->md_clusters);
			}
			s->hole |= r.cluster_idx == 0 && r.length != 0;
			s->rle_clusters += r.length;
			if (s->rle_clusters > BLOB_MAX_CLUSTERS) {
				return blob_fmt_fail(err, -EINVAL,
						     "extent list of more than %u clusters",
						     BLOB_MAX_CLUSTERS);
			}
		}
		/* SPDK refuses a list that has brought no cluster so far. */
		if (s->rle_clusters == 0) {
			return blob_fmt_fail(err, -EINVAL, "an extent list of no clusters");
		}
		return 0;
	case BLOB_DESC_EXTENT_TABLE:
		if (s->rle_found) {
			return blob_fmt_fail(err, -EINVAL, "an extent table after an extent list");
		}
		rc = blob_desc_extent_table_decode(d, g->md_len, &tv, err);
		if (rc != 0) {
			return rc;
		}
		if (s->et_found && tv.num_clusters != s->et_num_clusters) {
			return blob_fmt_fail(err, -EINVAL,
					     "extent table of %" PRIu64
					     " clusters continuing one of %" PRIu64,
					     tv.num_clusters, s->et_num_clusters);
		}
		if (tv.num_clusters > BLOB_MAX_CLUSTERS) {
			return blob_fmt_fail(err, -EINVAL,
					     "extent table of %" PRIu64 " clusters, at most %u",
					     tv.num_clusters, BLOB_MAX_CLUSTERS);
		}
		s->et_found = true;
		s->et_num_clusters = tv.num_clusters;
		for (uint32_t i = 0; i < tv.count; i++) {
			struct blob_extent_table_entry e = blob_extent_table_get(&tv, i);

			s->hole |= e.page_idx == 0 && e.num_pages != 0;
			s->et_entries += e.page_idx != 0 ? 1 : e.num_pages;
		}
		if (s->et_entries > div_round_up(s->et_num_clusters, BLOB_EXTENTS_PER_EP)) {
			return blob_fmt_fail(err, -EINVAL,
					     "extent table lists %" PRIu64
					     " extent pages for %" PRIu64 " clusters",
					     s->et_entries, s->et_num_clusters);
		}
		return 0;
	case BLOB_DESC_EXTENT_PAGE:
		return blob_fmt_fail(err, -EINVAL, "an extent page descriptor in a blob's chain");
	default:
		/* Unknown types are skipped: a flag, checked below, guards any new feature. */
		return 0;
	}
}

/* Second pass: the extent table's pages or the extent list's clusters into the map. */
static void fill_desc(struct spio_blob *blob, const struct blob_desc *d, uint64_t *pos)
{
	const struct blob_geometry *g = &blob->bs->geo;
	struct blob_map *m = &blob->active;
	struct blob_extent_rle_view rv;
	struct blob_extent_table_view tv;

	if (d->type == BLOB_DESC_EXTENT_TABLE &&
	    blob_desc_extent_table_decode(d, g->md_len, &tv, NULL) == 0) {
		for (uint32_t i = 0; i < tv.count; i++) {
			struct blob_extent_table_entry e = blob_extent_table_get(&tv, i);

			if (e.page_idx != 0) {
				m->extent_pages[(*pos)++] = e.page_idx;
			} else {
				*pos += e.num_pages; /* already zero */
			}
		}
	} else if (d->type == BLOB_DESC_EXTENT_RLE &&
		   blob_desc_extent_rle_decode(d, g->total_clusters, &rv, NULL) == 0) {
		for (uint32_t i = 0; i < rv.count; i++) {
			struct blob_extent_run r = blob_extent_rle_get(&rv, i);

			for (uint32_t j = 0; j < r.length; j++) {
				if (r.cluster_idx != 0) {
					m->clusters[*pos] = (uint64_t)r.cluster_idx + j;
					m->num_allocated++;
				}
				(*pos)++;
			}
		}
	}
}

static const struct blob_md_page *page_at(const struct spio_blob *blob, const void *pages,
					  uint32_t i)
{
	return (const struct blob_md_page *)((const uint8_t *)pages +
					     (size_t)i * blob->bs->geo.md_page_size);
}

/* The parent of a thin blob, from its SNAP internal xattr (SPDK reads it for thin blobs only). */
static int parse_parent(struct spio_blob *blob, struct blob_fmt_err *err)
{
	struct blob_xattr *x = blob_xattr_find(&blob->xattrs_internal, BLOB_XATTR_SNAPSHOT);
	spio_blob_id parent;

	blob->parent_id = SPIO_BLOBID_INVALID;
	if (x == NULL || !blob_is_thin(blob)) {
		return 0;
	}
	if (x->value_len != sizeof(parent)) {
		return blob_fmt_fail(err, -EINVAL, "parent xattr \"%s\" of %u bytes, expected %zu",
				     BLOB_XATTR_SNAPSHOT, x->value_len, sizeof(parent));
	}
	memcpy(&parent, x->value, sizeof(parent));
	if (!blob_id_is_valid(parent, blob->bs->geo.md_len) || parent == blob->id) {
		return blob_fmt_fail(err, -EINVAL, "parent 0x%" PRIx64 " is not another blob's id",
				     parent);
	}
	blob->parent_id = parent;
	return 0;
}

int blob_md_parse(struct spio_blob *blob, const void *pages, uint32_t npages,
		  struct blob_fmt_err *err)
{
	struct md_scan s = {0};
	struct blob_desc_iter it;
	struct blob_desc d;
	uint64_t num_clusters, pos = 0;
	bool data_ro, md_ro;
	int rc;

	if (npages == 0) {
		return blob_fmt_fail(err, -EINVAL, "no md pages");
	}
	for (uint32_t i = 0; i < npages; i++) {
		blob_desc_iter_init(&it, page_at(blob, pages, i), false);
		while ((rc = blob_desc_iter_next(&it, &d, err)) == 1) {
			rc = scan_desc(blob, &d, &s, err);
			if (rc != 0) {
				break;
			}
		}
		if (rc != 0) {
			return chain_fail(err, rc, i);
		}
	}

	rc = blob_flags_access(&s.flags, &data_ro, &md_ro, err);
	if (rc != 0) {
		return rc;
	}
	if (s.flags.invalid & BLOB_FLAG_EXTERNAL_SNAPSHOT) {
		return blob_fmt_fail(err, -ENOTSUP,
				     "a clone of an external snapshot (not supported)");
	}
	blob->invalid_flags = s.flags.invalid;
	blob->data_ro_flags = s.flags.data_ro;
	blob->md_ro_flags = s.flags.md_ro;
	blob->data_ro = data_ro;
	blob->md_ro = md_ro;
	blob->clear_method = (enum spio_blob_clear_method)(
	    (s.flags.md_ro & BLOB_CLEAR_METHOD_MASK) >> BLOB_CLEAR_METHOD_SHIFT);
	/* As SPDK: the table's presence, not the flag, says how the clusters are kept. */
	blob->use_extent_table = s.et_found;

	if (s.hole && !blob_is_thin(blob)) {
		return blob_fmt_fail(err, -EINVAL, "a thick blob with unallocated clusters");
	}
	num_clusters = s.et_found ? s.et_num_clusters : s.rle_clusters;
	if (s.et_found && s.et_entries != div_round_up(num_clusters, BLOB_EXTENTS_PER_EP)) {
		return blob_fmt_fail(err, -EINVAL,
				     "extent table lists %" PRIu64 " extent pages for %" PRIu64
				     " clusters",
				     s.et_entries, num_clusters);
	}
	rc = blob_map_resize(&blob->active, num_clusters);
	if (rc != 0) {
		return rc;
	}
	for (uint32_t i = 0; i < npages; i++) {
		blob_desc_iter_init(&it, page_at(blob, pages, i), false);
		while (blob_desc_iter_next(&it, &d, NULL) == 1) {
			fill_desc(blob, &d, &pos);
		}
	}
	rc = parse_parent(blob, err);
	if (rc != 0) {
		return rc;
	}
	blob->dirty = false;
	return blob_map_copy(&blob->disk, &blob->active);
}

/* SPDK's extent page: sequence 0, no next page, one EXTENT_PAGE descriptor and nothing else. */
static int ep_check(const struct spio_blob *blob, uint32_t page_idx,
		    const struct blob_md_page *page, struct blob_fmt_err *err)
{
	if (!blob_md_page_crc_ok(page)) {
		return blob_fmt_fail(err, -EBADMSG,
				     "extent page %" PRIu32 ": CRC 0x%08" PRIx32
				     ", computed 0x%08" PRIx32,
				     page_idx, page->crc, blob_page_crc(page));
	}
	/*
	 * The id is any blob's, not necessarily this one's: a snapshot SPDK made
	 * took over its origin's extent pages, which keep the origin's id.
	 */
	if (!blob_id_is_valid(page->id, blob->bs->geo.md_len)) {
		return blob_fmt_fail(err, -EINVAL,
				     "extent page %" PRIu32 ": blob id 0x%" PRIx64 " is not an id",
				     page_idx, page->id);
	}
	if (page->sequence_num != 0 || page->next != BLOB_MD_PAGE_INVALID) {
		return blob_fmt_fail(err, -EINVAL,
				     "extent page %" PRIu32 ": sequence %" PRIu32 " next %" PRIu32
				     ", expected 0 and none",
				     page_idx, page->sequence_num, page->next);
	}
	return 0;
}

int blob_ep_parse(struct spio_blob *blob, uint64_t ep, const void *page, struct blob_fmt_err *err)
{
	const struct blob_geometry *g = &blob->bs->geo;
	const struct blob_md_page *p = page;
	uint32_t page_idx = ep < blob->active.num_extent_pages ? blob->active.extent_pages[ep] : 0;
	uint64_t first = ep * BLOB_EXTENTS_PER_EP;
	struct blob_extent_page_view v;
	struct blob_desc_iter it;
	struct blob_desc d;
	int rc;

	rc = ep_check(blob, page_idx, p, err);
	if (rc != 0) {
		return rc;
	}
	blob_desc_iter_init(&it, p, false);
	rc = blob_desc_iter_next(&it, &d, err);
	if (rc < 0) {
		return rc;
	}
	if (rc == 0 || d.type != BLOB_DESC_EXTENT_PAGE) {
		return blob_fmt_fail(err, -EINVAL,
				     "extent page %" PRIu32 ": no extent page descriptor first",
				     page_idx);
	}
	rc = blob_desc_extent_page_decode(&d, g->total_clusters, &v, err);
	if (rc != 0) {
		return rc;
	}
	if (blob_desc_iter_next(&it, &d, NULL) != 0) {
		return blob_fmt_fail(err, -EINVAL,
				     "extent page %" PRIu32 ": more than one descriptor", page_idx);
	}
	if (v.start_cluster_idx != first) {
		return blob_fmt_fail(err, -EINVAL,
				     "extent page %" PRIu32 ": starts at cluster %" PRIu32
				     ", expected %" PRIu64,
				     page_idx, v.start_cluster_idx, first);
	}
	/* Entries past the blob's size are left from a larger size: ignored. */
	for (uint32_t i = 0; i < v.count && first + i < blob->active.num_clusters; i++) {
		uint32_t c = blob_extent_page_get(&v, i);

		if (c == 0) {
			if (!blob_is_thin(blob)) {
				return blob_fmt_fail(err, -EINVAL,
						     "extent page %" PRIu32 ": cluster %" PRIu64
						     " unallocated in a thick blob",
						     page_idx, first + i);
			}
			continue;
		}
		if (c < g->md_clusters) {
			return blob_fmt_fail(err, -ERANGE,
					     "extent page %" PRIu32 ": cluster %" PRIu32
					     " is in the metadata's %" PRIu64 " clusters",
					     page_idx, c, g->md_clusters);
		}
		if (blob->active.clusters[first + i] == 0) {
			blob->active.num_allocated++;
		}
		blob->active.clusters[first + i] = c;
		if (first + i < blob->disk.num_clusters) {
			if (blob->disk.clusters[first + i] == 0) {
				blob->disk.num_allocated++;
			}
			blob->disk.clusters[first + i] = c;
		}
	}
	return 0;
}
