/*
 * The descriptors of an md page (see blob_format.h): a walk that never
 * leaves the page, a decoder per kind into plain views, and the writer the
 * blobstore fills pages with.
 */
#include "blob_format.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

bool blob_desc_type_known(uint8_t type)
{
	return type <= BLOB_DESC_EXTENT_PAGE;
}

void blob_desc_iter_init(struct blob_desc_iter *it, const struct blob_md_page *page, bool strict)
{
	it->area = page->descriptors;
	it->pos = 0;
	it->strict = strict;
	it->done = false;
}

/*
 * Body sizes of the known types: at least `min` bytes, a fixed part of
 * `fixed` bytes and then whole `unit`s; unit 0: exactly `min` bytes.
 */
static const struct {
	uint8_t min, fixed, unit;
} g_shapes[] = {
    [BLOB_DESC_PADDING] = {0, 0, 1},	    /* skipped */
    [BLOB_DESC_EXTENT_RLE] = {8, 0, 8},	    /* runs of (cluster, length) */
    [BLOB_DESC_XATTR] = {4, 4, 1},	    /* two lengths, then name and value */
    [BLOB_DESC_FLAGS] = {24, 24, 0},	    /* three u64 */
    [BLOB_DESC_XATTR_INTERNAL] = {4, 4, 1}, /* as XATTR */
    [BLOB_DESC_EXTENT_TABLE] = {8, 8, 8},   /* num_clusters, then (page, count) */
    [BLOB_DESC_EXTENT_PAGE] = {8, 4, 4},    /* first cluster, then at least one cluster */
};

static int desc_shape_check(uint8_t type, uint32_t len, uint32_t offset, struct blob_fmt_err *err)
{
	if (!blob_desc_type_known(type)) {
		return 0;
	}
	if (len < g_shapes[type].min ||
	    (g_shapes[type].unit == 0 ? len != g_shapes[type].min
				      : (len - g_shapes[type].fixed) % g_shapes[type].unit != 0)) {
		return blob_fmt_fail(err, -EINVAL,
				     "descriptor type %u at offset %" PRIu32 ": length %" PRIu32
				     " does not fit its type (at least %u)",
				     type, offset, len, g_shapes[type].min);
	}
	return 0;
}

int blob_desc_iter_next(struct blob_desc_iter *it, struct blob_desc *desc, struct blob_fmt_err *err)
{
	struct blob_desc_hdr h;
	int rc;

	while (!it->done) {
		/* SPDK stops where no header fits; a zero header ends the page. */
		if (it->pos + sizeof(h) > BLOB_DESCS_SIZE) {
			break;
		}
		memcpy(&h, it->area + it->pos, sizeof(h));
		if (h.type == BLOB_DESC_PADDING && h.length == 0) {
			break;
		}
		if (h.length > BLOB_DESCS_SIZE - it->pos - sizeof(h)) {
			it->done = true;
			return blob_fmt_fail(err, -EINVAL,
					     "descriptor type %u at offset %" PRIu32
					     ": length %" PRIu32 " past the page (%zu bytes left)",
					     h.type, it->pos, h.length,
					     BLOB_DESCS_SIZE - it->pos - sizeof(h));
		}
		rc = desc_shape_check(h.type, h.length, it->pos, err);
		if (rc != 0) {
			it->done = true;
			return rc;
		}
		desc->type = h.type;
		desc->length = h.length;
		desc->body = it->area + it->pos + sizeof(h);
		desc->offset = it->pos;
		/* The header always advances the walk, so no length makes it loop. */
		it->pos += sizeof(h) + h.length;
		if (h.type == BLOB_DESC_PADDING) {
			continue;
		}
		if (it->strict && !blob_desc_type_known(h.type)) {
			return blob_fmt_fail(err, -ENOTSUP,
					     "unknown descriptor type %u at offset %" PRIu32,
					     h.type, desc->offset);
		}
		return 1;
	}
	it->done = true;
	return 0;
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int desc_type_check(const struct blob_desc *desc, uint8_t type, uint8_t alt,
			   struct blob_fmt_err *err)
{
	if (desc->type != type && desc->type != alt) {
		return blob_fmt_fail(err, -EINVAL, "descriptor type %u where type %u was expected",
				     desc->type, type);
	}
	return desc_shape_check(desc->type, desc->length, desc->offset, err);
}

int blob_desc_xattr_decode(const struct blob_desc *desc, struct blob_xattr_view *x,
			   struct blob_fmt_err *err)
{
	uint16_t nl, vl;
	int rc = desc_type_check(desc, BLOB_DESC_XATTR, BLOB_DESC_XATTR_INTERNAL, err);

	if (rc != 0) {
		return rc;
	}
	memcpy(&nl, desc->body, sizeof(nl));
	memcpy(&vl, desc->body + 2, sizeof(vl));
	if ((uint32_t)nl + vl + 4 != desc->length) {
		return blob_fmt_fail(err, -EINVAL,
				     "xattr at offset %" PRIu32
				     ": name %u + value %u bytes, room for %" PRIu32,
				     desc->offset, nl, vl, desc->length - 4);
	}
	x->internal = desc->type == BLOB_DESC_XATTR_INTERNAL;
	x->name = (const char *)desc->body + 4;
	x->name_len = nl;
	x->value = desc->body + 4 + nl;
	x->value_len = vl;
	return 0;
}

int blob_desc_flags_decode(const struct blob_desc *desc, struct blob_flags *f,
			   struct blob_fmt_err *err)
{
	int rc = desc_type_check(desc, BLOB_DESC_FLAGS, BLOB_DESC_FLAGS, err);

	if (rc != 0) {
		return rc;
	}
	f->invalid = get_u64(desc->body);
	f->data_ro = get_u64(desc->body + 8);
	f->md_ro = get_u64(desc->body + 16);
	return 0;
}

int blob_flags_access(const struct blob_flags *f, bool *data_ro, bool *md_ro,
		      struct blob_fmt_err *err)
{
	if ((f->invalid & ~BLOB_INVALID_FLAGS_MASK) != 0) {
		return blob_fmt_fail(err, -ENOTSUP, "unknown invalid flags 0x%" PRIx64,
				     f->invalid & ~BLOB_INVALID_FLAGS_MASK);
	}
	*data_ro =
	    (f->data_ro & ~BLOB_DATA_RO_FLAGS_MASK) != 0 || (f->data_ro & BLOB_FLAG_READ_ONLY) != 0;
	*md_ro = *data_ro || (f->md_ro & ~BLOB_MD_RO_FLAGS_MASK) != 0;
	return 0;
}

int blob_desc_extent_rle_decode(const struct blob_desc *desc, uint64_t total_clusters,
				struct blob_extent_rle_view *v, struct blob_fmt_err *err)
{
	int rc = desc_type_check(desc, BLOB_DESC_EXTENT_RLE, BLOB_DESC_EXTENT_RLE, err);

	if (rc != 0) {
		return rc;
	}
	v->count = desc->length / sizeof(struct blob_extent_run);
	v->runs = desc->body;
	for (uint32_t i = 0; i < v->count; i++) {
		struct blob_extent_run r = blob_extent_rle_get(v, i);

		if (r.cluster_idx != 0 && (uint64_t)r.cluster_idx + r.length > total_clusters) {
			return blob_fmt_fail(err, -ERANGE,
					     "extent run %" PRIu32 ": clusters %" PRIu32
					     "..+%" PRIu32 " past the %" PRIu64 " clusters",
					     i, r.cluster_idx, r.length, total_clusters);
		}
	}
	return 0;
}

struct blob_extent_run blob_extent_rle_get(const struct blob_extent_rle_view *v, uint32_t i)
{
	struct blob_extent_run r;

	memcpy(&r, v->runs + (size_t)i * sizeof(r), sizeof(r));
	return r;
}

int blob_desc_extent_table_decode(const struct blob_desc *desc, uint64_t md_len,
				  struct blob_extent_table_view *v, struct blob_fmt_err *err)
{
	int rc = desc_type_check(desc, BLOB_DESC_EXTENT_TABLE, BLOB_DESC_EXTENT_TABLE, err);

	if (rc != 0) {
		return rc;
	}
	v->num_clusters = get_u64(desc->body);
	v->count = (desc->length - 8) / sizeof(struct blob_extent_table_entry);
	v->entries = desc->body + 8;
	for (uint32_t i = 0; i < v->count; i++) {
		struct blob_extent_table_entry e = blob_extent_table_get(v, i);

		if (e.page_idx == 0) {
			continue;
		}
		if (e.num_pages != 1) {
			return blob_fmt_fail(err, -EINVAL,
					     "extent table entry %" PRIu32 ": page %" PRIu32
					     " with length %" PRIu32 ", expected 1",
					     i, e.page_idx, e.num_pages);
		}
		if (e.page_idx >= md_len) {
			return blob_fmt_fail(err, -ERANGE,
					     "extent table entry %" PRIu32 ": page %" PRIu32
					     " outside the %" PRIu64 " md pages",
					     i, e.page_idx, md_len);
		}
	}
	return 0;
}

struct blob_extent_table_entry blob_extent_table_get(const struct blob_extent_table_view *v,
						     uint32_t i)
{
	struct blob_extent_table_entry e;

	memcpy(&e, v->entries + (size_t)i * sizeof(e), sizeof(e));
	return e;
}

int blob_desc_extent_page_decode(const struct blob_desc *desc, uint64_t total_clusters,
				 struct blob_extent_page_view *v, struct blob_fmt_err *err)
{
	int rc = desc_type_check(desc, BLOB_DESC_EXTENT_PAGE, BLOB_DESC_EXTENT_PAGE, err);

	if (rc != 0) {
		return rc;
	}
	v->start_cluster_idx = get_u32(desc->body);
	v->count = (desc->length - 4) / sizeof(uint32_t);
	v->clusters = desc->body + 4;
	if (v->count > BLOB_EXTENTS_PER_EP) {
		return blob_fmt_fail(err, -EINVAL,
				     "extent page of %" PRIu32 " clusters, at most %u", v->count,
				     BLOB_EXTENTS_PER_EP);
	}
	for (uint32_t i = 0; i < v->count; i++) {
		uint32_t c = blob_extent_page_get(v, i);

		if (c >= total_clusters) {
			return blob_fmt_fail(err, -ERANGE,
					     "extent page entry %" PRIu32 ": cluster %" PRIu32
					     " past the %" PRIu64 " clusters",
					     i, c, total_clusters);
		}
	}
	return 0;
}

uint32_t blob_extent_page_get(const struct blob_extent_page_view *v, uint32_t i)
{
	return get_u32(v->clusters + (size_t)i * sizeof(uint32_t));
}

void blob_md_writer_init(struct blob_md_writer *w, struct blob_md_page *page)
{
	w->page = page;
	w->used = 0;
}

/* Append a header and `n` body parts; -ENOSPC leaves the page untouched. */
static int md_add(struct blob_md_writer *w, uint8_t type, const void *const *parts,
		  const size_t *lens, int n)
{
	struct blob_desc_hdr h = {.type = type};
	size_t total = 0;
	uint8_t *p;

	for (int i = 0; i < n; i++) {
		total += lens[i];
	}
	if (total > BLOB_DESCS_SIZE || sizeof(h) + total > BLOB_DESCS_SIZE - w->used) {
		return -ENOSPC;
	}
	h.length = (uint32_t)total;
	p = w->page->descriptors + w->used;
	memcpy(p, &h, sizeof(h));
	p += sizeof(h);
	for (int i = 0; i < n; i++) {
		if (lens[i] > 0) {
			memcpy(p, parts[i], lens[i]);
		}
		p += lens[i];
	}
	w->used += sizeof(h) + h.length;
	return 0;
}

int blob_md_add_flags(struct blob_md_writer *w, const struct blob_flags *f)
{
	uint64_t v[3] = {f->invalid, f->data_ro, f->md_ro};
	const void *parts[] = {v};
	size_t lens[] = {sizeof(v)};

	return md_add(w, BLOB_DESC_FLAGS, parts, lens, 1);
}

int blob_md_add_xattr(struct blob_md_writer *w, bool internal, const char *name, size_t name_len,
		      const void *value, size_t value_len)
{
	uint16_t l[2] = {(uint16_t)name_len, (uint16_t)value_len};
	const void *parts[] = {l, name, value};
	size_t lens[] = {sizeof(l), name_len, value_len};

	if (name_len > UINT16_MAX || value_len > UINT16_MAX) {
		return -EINVAL;
	}
	return md_add(w, internal ? BLOB_DESC_XATTR_INTERNAL : BLOB_DESC_XATTR, parts, lens, 3);
}

int blob_md_add_extent_rle(struct blob_md_writer *w, const struct blob_extent_run *runs,
			   uint32_t count)
{
	const void *parts[] = {runs};
	size_t lens[] = {(size_t)count * sizeof(*runs)};

	if (count == 0) {
		return -EINVAL;
	}
	return md_add(w, BLOB_DESC_EXTENT_RLE, parts, lens, 1);
}

int blob_md_add_extent_table(struct blob_md_writer *w, uint64_t num_clusters,
			     const struct blob_extent_table_entry *entries, uint32_t count)
{
	const void *parts[] = {&num_clusters, entries};
	size_t lens[] = {sizeof(num_clusters), (size_t)count * sizeof(*entries)};

	return md_add(w, BLOB_DESC_EXTENT_TABLE, parts, lens, 2);
}

int blob_md_add_extent_page(struct blob_md_writer *w, uint32_t start_cluster_idx,
			    const uint32_t *clusters, uint32_t count)
{
	const void *parts[] = {&start_cluster_idx, clusters};
	size_t lens[] = {sizeof(start_cluster_idx), (size_t)count * sizeof(*clusters)};

	if (count == 0 || count > BLOB_EXTENTS_PER_EP) {
		return -EINVAL;
	}
	return md_add(w, BLOB_DESC_EXTENT_PAGE, parts, lens, 2);
}
