/*
 * The blob codec (lib/blob/blob_codec.c), pure: every blob of SPDK's images
 * parsed and written again byte for byte (chains and extent pages), round
 * trips of synthetic blobs where SPDK's layout rules show (page breaks,
 * extent tables spanning pages, extent lists, internal xattrs), and every
 * refusal of the parser.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob_internal.h"
#include "helper_blob_image.h"

#define PS 4096u

static struct spio_blob_store g_bs;
static uint8_t *g_data;
static size_t g_size;
static json_t *g_manifest;
static struct spio_blob *g_blobs[4];

static void fini(void)
{
	for (size_t i = 0; i < SPIO_COUNTOF(g_blobs); i++) {
		blob_free(g_blobs[i]);
		g_blobs[i] = NULL;
	}
	if (g_data != NULL) {
		bimg_unmap(g_data, g_size);
		g_data = NULL;
	}
	json_decref(g_manifest);
	g_manifest = NULL;
}

TestSuite(blob_codec, .fini = fini);

/* A store for the codec alone: only its geometry is looked at. */
static void fake_store(uint64_t total_clusters, uint64_t md_len, uint64_t md_clusters)
{
	memset(&g_bs, 0, sizeof(g_bs));
	g_bs.geo.md_page_size = PS;
	g_bs.geo.cluster_size = 1u << 20;
	g_bs.geo.total_clusters = total_clusters;
	g_bs.geo.md_len = md_len;
	g_bs.geo.md_clusters = md_clusters;
	TAILQ_INIT(&g_bs.open_blobs);
	TAILQ_INIT(&g_bs.snapshots);
}

/* A blob of the fake store, freed by the suite. */
static struct spio_blob *new_blob(int slot, uint32_t page)
{
	struct spio_blob *b = blob_alloc(&g_bs, blob_page_to_id(page));

	cr_assert_not_null(b);
	g_blobs[slot] = b;
	return b;
}

static struct blob_md_page *pg(void *buf, uint32_t i)
{
	return (struct blob_md_page *)((uint8_t *)buf + (size_t)i * PS);
}

static void *pages_alloc(uint32_t n)
{
	void *p = calloc(n, PS);

	cr_assert_not_null(p);
	return p;
}

/* Seal pages 0..n-1 as a chain through `idx`. */
static void seal_chain(void *pages, uint32_t n, const uint32_t *idx)
{
	for (uint32_t i = 0; i < n; i++) {
		blob_md_page_seal(pg(pages, i), i + 1 < n ? idx[i + 1] : BLOB_MD_PAGE_INVALID);
	}
}

/*
 * SPDK's images
 */

static void img_open(const char *base, size_t size)
{
	char gz[64], jname[64], path[PATH_MAX], why[256];
	struct blob_geometry geo;
	json_error_t jerr;
	long long got;

	snprintf(gz, sizeof(gz), "%s.img.gz", base);
	snprintf(jname, sizeof(jname), "%s.json", base);
	if (!bimg_path(gz, why) || !bimg_path(jname, path)) {
		cr_skip_test("test image %s/%s or its manifest missing (set SPIO_TESTDATA)",
			     bimg_dir(), gz);
	}
	g_manifest = json_load_file(path, 0, &jerr);
	cr_assert_not_null(g_manifest, "manifest %s: %s", path, jerr.text);
	g_size = size;
	g_data = bimg_map(size);
	got = bimg_gunzip(gz, g_data, size, why);
	cr_assert_eq(got, (long long)size, "%s: expected %zu bytes, got %lld (%s)", gz, size, got,
		     got < 0 ? why : "wrong size");
	cr_assert_eq(blob_super_validate((void *)g_data, size / PS, PS, NULL, &geo, NULL), 0);
	fake_store(geo.total_clusters, geo.md_len, geo.md_clusters);
	g_bs.geo = geo;
}

static const struct blob_md_page *img_page(uint32_t idx)
{
	return (const struct blob_md_page *)(g_data + (g_bs.geo.md_start + idx) * PS);
}

static uint64_t jhex(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	cr_assert_not_null(s, "manifest: %s missing", key);
	return strtoull(s, NULL, 16);
}

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;

	cr_assert_leq(n, cap);
	for (size_t i = 0; i < n; i++) {
		sscanf(s + 2 * i, "%2hhx", &out[i]);
	}
	return n;
}

/* The blob's xattrs in `list` are the manifest's `key` list, in order. */
static void check_xattrs(struct blob_xattr_list *list, json_t *want, uint64_t id)
{
	struct blob_xattr *x = TAILQ_FIRST(list);
	json_t *w;
	size_t i;

	json_array_foreach(want, i, w)
	{
		uint8_t v[4096];
		size_t n = unhex(json_string_value(json_object_get(w, "value_hex")), v, sizeof(v));
		const char *name = json_string_value(json_object_get(w, "name"));

		cr_assert_not_null(x, "blob 0x%lx: xattr %zu (%s) missing", id, i, name);
		cr_assert_str_eq(x->name, name, "blob 0x%lx xattr %zu", id, i);
		cr_assert_eq(x->value_len, n, "blob 0x%lx xattr %s: %u bytes, expected %zu", id,
			     name, x->value_len, n);
		cr_assert_arr_eq(x->value, v, n, "blob 0x%lx xattr %s value differs", id, name);
		x = TAILQ_NEXT(x, link);
	}
	cr_assert_null(x, "blob 0x%lx: more xattrs than the manifest's", id);
}

/* Parse every blob of the image, check it against the manifest, write it again. */
static void image_round_trip(const char *base, size_t size)
{
	json_t *blobs, *jb;
	size_t bi;

	img_open(base, size);
	blobs = json_object_get(g_manifest, "blobs");
	cr_assert(json_array_size(blobs) > 0);
	json_array_foreach(blobs, bi, jb)
	{
		uint64_t id = jhex(jb, "blob_id");
		json_t *jmd = json_object_get(jb, "md_pages"),
		       *jmap = json_object_get(jb, "cluster_map");
		json_t *jeps = json_object_get(jb, "extent_pages"), *v;
		uint32_t n = (uint32_t)json_array_size(jmd), idx[64];
		void *chain = pages_alloc(n), *out = pages_alloc(n + 1);
		struct spio_blob *b = new_blob(0, blob_id_to_page(id));
		struct blob_fmt_err err;
		uint8_t ep_out[PS];
		size_t i;
		int rc;

		cr_assert_leq(n, SPIO_COUNTOF(idx));
		json_array_foreach(jmd, i, v)
		{
			idx[i] = (uint32_t)json_integer_value(v);
			memcpy(pg(chain, (uint32_t)i), img_page(idx[i]), PS);
		}
		rc = blob_md_parse(b, chain, n, &err);
		cr_assert_eq(rc, 0, "%s blob 0x%lx: parse: %d (%s)", base, id, rc, err.msg);
		cr_assert_eq(b->invalid_flags, jhex(json_object_get(jb, "flags"), "invalid"));
		cr_assert_eq(b->data_ro_flags, jhex(json_object_get(jb, "flags"), "data_ro"));
		cr_assert_eq(b->md_ro_flags, jhex(json_object_get(jb, "flags"), "md_ro"));
		cr_assert_eq(blob_is_thin(b),
			     json_is_true(json_object_get(jb, "thin_provisioned")));
		cr_assert_eq(b->data_ro, json_is_true(json_object_get(jb, "read_only")));
		cr_assert_eq(b->use_extent_table,
			     strcmp(json_string_value(json_object_get(jb, "extent_format")),
				    "extent_table") == 0);
		cr_assert_eq(b->active.num_clusters,
			     (uint64_t)json_integer_value(json_object_get(jb, "num_clusters")),
			     "blob 0x%lx: %lu clusters", id, b->active.num_clusters);
		check_xattrs(&b->xattrs, json_object_get(jb, "xattrs"), id);
		check_xattrs(&b->xattrs_internal, json_object_get(jb, "internal_xattrs"), id);

		/* Extent pages, in table order among the allocated ones. */
		i = 0;
		for (uint64_t e = 0; e < b->active.num_extent_pages; e++) {
			uint32_t p = b->active.extent_pages[e];

			if (p == 0) {
				continue;
			}
			cr_assert_eq(p, json_integer_value(json_array_get(jeps, i)),
				     "blob 0x%lx: extent page %lu is md page %u", id, e, p);
			i++;
			rc = blob_ep_parse(b, e, img_page(p), &err);
			cr_assert_eq(rc, 0, "blob 0x%lx ep %lu: %d (%s)", id, e, rc, err.msg);
		}
		cr_assert_eq(i, json_array_size(jeps), "blob 0x%lx: extent pages", id);
		json_array_foreach(jmap, i, v)
		{
			cr_assert_eq(b->active.clusters[i], (uint64_t)json_integer_value(v),
				     "blob 0x%lx cluster %zu: %lu, expected %lld", id, i,
				     b->active.clusters[i], json_integer_value(v));
			cr_assert_eq(b->disk.clusters[i], b->active.clusters[i]);
		}
		cr_assert_eq(b->active.num_allocated, (uint64_t)json_integer_value(json_object_get(
							  jb, "num_allocated_clusters")));

		/* Written again: the same bytes, page for page. */
		rc = blob_md_serialize(b, out, n + 1);
		cr_assert_eq(rc, (int)n, "blob 0x%lx: %d pages, expected %u", id, rc, n);
		cr_assert_geq(blob_md_count_pages(b), n);
		seal_chain(out, n, idx);
		for (uint32_t k = 0; k < n; k++) {
			cr_assert_arr_eq(pg(out, k), img_page(idx[k]), PS,
					 "%s blob 0x%lx: chain page %u differs from SPDK's", base,
					 id, k);
		}
		for (uint64_t e = 0; e < b->active.num_extent_pages; e++) {
			if (b->active.extent_pages[e] != 0) {
				blob_ep_serialize(b, e, ep_out);
				cr_assert_arr_eq(ep_out, img_page(b->active.extent_pages[e]), PS,
						 "%s blob 0x%lx: extent page %lu differs", base, id,
						 e);
			}
		}
		free(chain);
		free(out);
		blob_free(b);
		g_blobs[0] = NULL;
	}
}

Test(blob_codec, blobcli_round_trip)
{
	image_round_trip("blobcli-basic", BIMG_BLOBCLI_SIZE);
}

Test(blob_codec, lvol_round_trip)
{
	image_round_trip("lvol-basic", BIMG_LVOL_SIZE);
}

/*
 * Synthetic blobs: written, read back into another blob, written again.
 */

static void set_xattr(struct spio_blob *b, const char *name, size_t len, uint8_t fill,
		      bool internal)
{
	uint8_t v[4096];

	memset(v, fill, len);
	cr_assert_eq(blob_xattr_set(b, name, v, (uint16_t)len, internal), 0);
}

/* Serialize `b`, parse into a fresh blob (slot 1), serialize that: same bytes. */
static struct spio_blob *round_trip(struct spio_blob *b, uint32_t want_pages, void **pages_out)
{
	uint32_t max = blob_md_count_pages(b), idx[512];
	void *a = pages_alloc(max + 1), *c = pages_alloc(max + 1);
	struct spio_blob *r;
	struct blob_fmt_err err;
	int n, m, rc;

	n = blob_md_serialize(b, a, max);
	cr_assert_gt(n, 0, "serialize: %d", n);
	cr_assert_eq((uint32_t)n, max, "count_pages said %u, serialize took %d", max, n);
	if (want_pages != 0) {
		cr_assert_eq((uint32_t)n, want_pages, "expected %u pages, got %d", want_pages, n);
	}
	cr_assert_eq(blob_md_serialize(b, a, (uint32_t)n - 1), -ENOSPC,
		     "one page short must be -ENOSPC");
	n = blob_md_serialize(b, a, max);
	for (int i = 0; i < n; i++) {
		idx[i] = blob_id_to_page(b->id) + 100 + (uint32_t)i;
		cr_assert_eq(pg(a, (uint32_t)i)->id, b->id);
		cr_assert_eq(pg(a, (uint32_t)i)->sequence_num, (uint32_t)i);
	}
	idx[0] = blob_id_to_page(b->id);
	seal_chain(a, (uint32_t)n, idx);
	r = new_blob(1, blob_id_to_page(b->id));
	rc = blob_md_parse(r, a, (uint32_t)n, &err);
	cr_assert_eq(rc, 0, "parse of our own pages: %d (%s)", rc, err.msg);
	m = blob_md_serialize(r, c, max + 1);
	cr_assert_eq(m, n);
	seal_chain(c, (uint32_t)m, idx);
	cr_assert_arr_eq(a, c, (size_t)n * PS, "written again, the pages differ");
	free(c);
	if (pages_out != NULL) {
		*pages_out = a;
	} else {
		free(a);
	}
	return r;
}

/* Bytes of descriptors used in a page (up to the terminating zero header). */
static uint32_t page_used(const struct blob_md_page *p)
{
	struct blob_desc_iter it;
	struct blob_desc d;
	uint32_t end = 0;

	blob_desc_iter_init(&it, p, false);
	while (blob_desc_iter_next(&it, &d, NULL) == 1) {
		end = d.offset + 5 + d.length;
	}
	return end;
}

static int first_desc(const struct blob_md_page *p, struct blob_desc *d)
{
	struct blob_desc_iter it;

	blob_desc_iter_init(&it, p, false);
	return blob_desc_iter_next(&it, d, NULL);
}

Test(blob_codec, xattrs_spill_to_pages)
{
	struct spio_blob *b, *r;
	void *pages;
	char name[32];
	struct blob_xattr *x, *y;

	fake_store(64, 64, 2);
	b = new_blob(0, 5);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "attr-%02d", i);
		set_xattr(b, name, 250 + (size_t)i * 7, (uint8_t)i, false);
	}
	r = round_trip(b, 0, &pages);
	cr_assert_eq(blob_md_count_pages(b), 5, "40 xattrs of ~390 bytes: 5 pages, got %u",
		     blob_md_count_pages(b));
	/* A page ends only where the next xattr does not fit (SPDK's rule). */
	for (uint32_t i = 0; i + 1 < 5; i++) {
		struct blob_desc d;

		cr_assert_eq(first_desc(pg(pages, i + 1), &d), 1);
		cr_assert_gt(page_used(pg(pages, i)) + 5 + d.length, BLOB_DESCS_SIZE,
			     "page %u ends early: %u used, the next xattr of %u would fit", i,
			     page_used(pg(pages, i)), d.length);
	}
	/* The flags come first, on the first page. */
	{
		struct blob_desc d;

		cr_assert_eq(first_desc(pg(pages, 0), &d), 1);
		cr_assert_eq(d.type, BLOB_DESC_FLAGS);
	}
	y = TAILQ_FIRST(&r->xattrs);
	TAILQ_FOREACH (x, &b->xattrs, link) {
		cr_assert_not_null(y);
		cr_assert_str_eq(x->name, y->name);
		cr_assert_eq(x->value_len, y->value_len);
		cr_assert_arr_eq(x->value, y->value, x->value_len);
		y = TAILQ_NEXT(y, link);
	}
	cr_assert_null(y);
	cr_assert(r->use_extent_table);
	cr_assert_eq(r->active.num_clusters, 0);
	free(pages);
}

Test(blob_codec, xattr_larger_than_a_page)
{
	struct spio_blob *b;
	void *pages = pages_alloc(4);
	struct blob_xattr *x;

	fake_store(64, 64, 2);
	b = new_blob(0, 5);
	/* blob_xattr_set refuses it, so put it in by hand: the codec must refuse too. */
	set_xattr(b, "big", 10, 1, false);
	x = TAILQ_FIRST(&b->xattrs);
	free(x->value);
	x->value = calloc(1, 4070);
	x->value_len = 4070;
	cr_assert_eq(blob_md_serialize(b, pages, 4), -EINVAL);
	free(pages);
}

/* A thin blob with extent pages every other 512 clusters: an extent table over 3 pages. */
Test(blob_codec, big_extent_table)
{
	struct spio_blob *b, *r;
	uint64_t neps = 1400, covered = 0;
	void *pages;
	struct blob_desc d;

	fake_store(1u << 20, 1u << 16, 4);
	b = new_blob(0, 9);
	b->invalid_flags = BLOB_FLAG_THIN_PROV;
	cr_assert_eq(blob_map_resize(&b->active, neps * BLOB_EXTENTS_PER_EP - 100), 0);
	cr_assert_eq(b->active.num_extent_pages, neps);
	for (uint64_t e = 0; e < neps; e++) {
		/* Some runs of holes, so the run-length encoding shows. */
		b->active.extent_pages[e] = (e % 3 == 0) ? (uint32_t)(1000 + e) : 0;
	}
	r = round_trip(b, 0, &pages);
	cr_assert_eq(r->active.num_clusters, b->active.num_clusters);
	cr_assert_eq(r->active.num_extent_pages, neps);
	cr_assert_arr_eq(r->active.extent_pages, b->active.extent_pages, neps * 4);
	cr_assert(blob_is_thin(r));
	/*
	 * Each page's table says the same num_clusters; holes are runs (0, 2),
	 * but the last (0, 1); the entries cover every extent page once.
	 */
	for (uint32_t i = 0; i < blob_md_count_pages(b); i++) {
		struct blob_desc_iter it;
		struct blob_extent_table_view v;

		blob_desc_iter_init(&it, pg(pages, i), false);
		while (blob_desc_iter_next(&it, &d, NULL) == 1) {
			if (d.type != BLOB_DESC_EXTENT_TABLE) {
				continue;
			}
			cr_assert_eq(blob_desc_extent_table_decode(&d, 1u << 16, &v, NULL), 0);
			cr_assert_eq(v.num_clusters, b->active.num_clusters);
			for (uint32_t k = 0; k < v.count; k++) {
				struct blob_extent_table_entry en = blob_extent_table_get(&v, k);
				bool last = covered + en.num_pages == neps;

				cr_assert(en.page_idx != 0 ? en.num_pages == 1
							   : en.num_pages == (last ? 1u : 2u),
					  "entry (%u, %u) at extent page %lu", en.page_idx,
					  en.num_pages, covered);
				covered += en.num_pages;
			}
		}
	}
	cr_assert_eq(covered, neps, "the table covers %lu extent pages", covered);
	cr_assert_gt(blob_md_count_pages(b), 1, "1400 extent pages need more than one page");
	free(pages);
}

/* Room for a table's header but not one entry: SPDK still writes the empty header there. */
Test(blob_codec, extent_table_header_at_page_end)
{
	struct spio_blob *b;
	void *pages;
	struct blob_desc_iter it;
	struct blob_desc d, last = {0};
	uint32_t used;

	fake_store(4096, 4096, 2);
	b = new_blob(0, 3);
	b->invalid_flags = BLOB_FLAG_THIN_PROV;
	cr_assert_eq(blob_map_resize(&b->active, 3 * BLOB_EXTENTS_PER_EP), 0);
	b->active.extent_pages[0] = 7;
	b->active.extent_pages[2] = 8;
	/* flags 29 + xattr (9 + 1 + v) leave 15 bytes: v = 4072 - 29 - 10 - 15. */
	set_xattr(b, "x", BLOB_DESCS_SIZE - 29 - 10 - 15, 0xab, false);
	round_trip(b, 2, &pages);
	blob_desc_iter_init(&it, pg(pages, 0), false);
	while (blob_desc_iter_next(&it, &d, NULL) == 1) {
		last = d;
	}
	used = page_used(pg(pages, 0));
	cr_assert_eq(last.type, BLOB_DESC_EXTENT_TABLE, "page 0 ends with a table header");
	cr_assert_eq(last.length, 8, "an empty table: only num_clusters, got %u bytes",
		     last.length);
	cr_assert_eq(used, BLOB_DESCS_SIZE - 2, "2 bytes left after the header, got %u used", used);
	cr_assert_eq(first_desc(pg(pages, 1), &d), 1);
	cr_assert_eq(d.type, BLOB_DESC_EXTENT_TABLE);
	cr_assert_eq(d.length, 8 + 3 * 8, "(7,1) (0,1) (8,1) on page 1, got %u bytes", d.length);
	free(pages);
}

/* Old blobs: the extent list, runs of contiguous clusters and holes, over several pages. */
Test(blob_codec, extent_list_round_trip)
{
	struct spio_blob *b, *r;
	void *pages;
	uint64_t n = 1500;

	fake_store(8192, 256, 2);
	b = new_blob(0, 4);
	b->invalid_flags = BLOB_FLAG_THIN_PROV;
	b->use_extent_table = false;
	cr_assert_eq(blob_map_resize(&b->active, n), 0);
	for (uint64_t i = 0; i < n; i++) {
		/* Pairs of contiguous clusters, a hole every 5th, a jump in between. */
		b->active.clusters[i] = i % 5 == 4 ? 0 : 10 + i * 2 - (i % 2);
		b->active.num_allocated += b->active.clusters[i] != 0;
	}
	r = round_trip(b, 0, &pages);
	cr_assert_gt(blob_md_count_pages(b), 1);
	cr_assert_not(r->use_extent_table);
	cr_assert_eq(r->active.num_clusters, n);
	cr_assert_arr_eq(r->active.clusters, b->active.clusters, n * 8);
	cr_assert_eq(r->active.num_allocated, b->active.num_allocated);
	cr_assert_eq(r->invalid_flags & BLOB_FLAG_EXTENT_TABLE, 0,
		     "no extent table flag on a list blob");
	free(pages);

	/* A thick list blob: one run. */
	blob_free(r);
	g_blobs[1] = NULL;
	b->invalid_flags = 0;
	for (uint64_t i = 0; i < n; i++) {
		b->active.clusters[i] = 100 + i;
	}
	r = round_trip(b, 1, NULL);
	cr_assert_arr_eq(r->active.clusters, b->active.clusters, n * 8);
	cr_assert_eq(r->active.num_allocated, n);
}

Test(blob_codec, thin_internal_xattrs_and_flags)
{
	struct spio_blob *b, *r;
	spio_blob_id parent = blob_page_to_id(2);
	void *pages;
	struct blob_flags f;
	struct blob_desc d;

	fake_store(64, 64, 2);
	b = new_blob(0, 6);
	b->invalid_flags = BLOB_FLAG_THIN_PROV;
	b->md_ro_flags = BLOB_CLEAR_WITH_WRITE_ZEROES;
	cr_assert_eq(blob_map_resize(&b->active, 3), 0);
	set_xattr(b, "user", 3, 'u', false);
	cr_assert_eq(blob_xattr_set(b, BLOB_XATTR_SNAPSHOT, &parent, sizeof(parent), true), 0);
	r = round_trip(b, 1, &pages);
	cr_assert_eq(first_desc(pg(pages, 0), &d), 1);
	cr_assert_eq(blob_desc_flags_decode(&d, &f, NULL), 0);
	cr_assert_eq(f.invalid,
		     BLOB_FLAG_THIN_PROV | BLOB_FLAG_INTERNAL_XATTR | BLOB_FLAG_EXTENT_TABLE,
		     "invalid flags 0x%lx", f.invalid);
	cr_assert_eq(r->parent_id, parent, "parent 0x%lx", r->parent_id);
	cr_assert_eq(r->clear_method, SPIO_BLOB_CLEAR_WITH_WRITE_ZEROES);
	cr_assert_not(r->data_ro);
	cr_assert_not(r->md_ro);
	cr_assert_not_null(blob_xattr_find(&r->xattrs_internal, BLOB_XATTR_SNAPSHOT));
	cr_assert_null(blob_xattr_find(&r->xattrs, BLOB_XATTR_SNAPSHOT));
	free(pages);

	/* Without internal xattrs the flag goes, whatever invalid_flags said. */
	blob_xattr_list_free(&b->xattrs_internal);
	b->invalid_flags |= BLOB_FLAG_INTERNAL_XATTR;
	blob_free(r);
	g_blobs[1] = NULL;
	r = round_trip(b, 1, &pages);
	cr_assert_eq(first_desc(pg(pages, 0), &d), 1);
	cr_assert_eq(blob_desc_flags_decode(&d, &f, NULL), 0);
	cr_assert_eq(f.invalid, BLOB_FLAG_THIN_PROV | BLOB_FLAG_EXTENT_TABLE);
	cr_assert_eq(r->parent_id, SPIO_BLOBID_INVALID);
	free(pages);
}

Test(blob_codec, read_only_flags)
{
	struct spio_blob *b, *r;

	fake_store(64, 64, 2);
	b = new_blob(0, 6);
	b->data_ro_flags = BLOB_FLAG_READ_ONLY;
	r = round_trip(b, 1, NULL);
	cr_assert(r->data_ro && r->md_ro, "read-only: data and md");
	blob_free(r);

	/* An unknown data_ro bit: read-only; an unknown md_ro bit: md only. */
	b->data_ro_flags = 1u << 5;
	r = round_trip(b, 1, NULL);
	cr_assert(r->data_ro && r->md_ro);
	blob_free(r);
	b->data_ro_flags = 0;
	b->md_ro_flags = 1u << 7 | BLOB_CLEAR_WITH_NONE;
	r = round_trip(b, 1, NULL);
	cr_assert(!r->data_ro && r->md_ro, "unknown md_ro bit: data %d md %d", r->data_ro,
		  r->md_ro);
	cr_assert_eq(r->clear_method, SPIO_BLOB_CLEAR_WITH_NONE);
	blob_free(r);
	g_blobs[1] = NULL;
}

/* Extent pages: written, read back; entries past the blob's end ignored. */
Test(blob_codec, extent_pages)
{
	struct spio_blob *b, *r;
	uint8_t page[PS];
	struct blob_fmt_err err;
	uint64_t n = 700;
	int rc;

	fake_store(4096, 64, 2);
	b = new_blob(0, 1);
	cr_assert_eq(blob_map_resize(&b->active, n), 0);
	for (uint64_t i = 0; i < n; i++) {
		b->active.clusters[i] = 2 + i;
	}
	b->active.extent_pages[0] = 10;
	b->active.extent_pages[1] = 11;
	r = new_blob(1, 1);
	cr_assert_eq(blob_map_resize(&r->active, n), 0);
	cr_assert_eq(blob_map_resize(&r->disk, n), 0);
	r->active.extent_pages[0] = 10;
	r->active.extent_pages[1] = 11;
	for (uint64_t e = 0; e < 2; e++) {
		blob_ep_serialize(b, e, page);
		cr_assert(blob_md_page_crc_ok((void *)page));
		rc = blob_ep_parse(r, e, page, &err);
		cr_assert_eq(rc, 0, "ep %lu: %d (%s)", e, rc, err.msg);
	}
	cr_assert_arr_eq(r->active.clusters, b->active.clusters, n * 8);
	cr_assert_arr_eq(r->disk.clusters, b->active.clusters, n * 8);
	cr_assert_eq(r->active.num_allocated, n);

	/* The last page lists 188 clusters; read into a blob of 600, the rest is ignored. */
	blob_map_resize(&r->active, 600);
	memset(r->active.clusters, 0, 600 * 8);
	r->active.num_allocated = 0;
	blob_ep_serialize(b, 1, page);
	rc = blob_ep_parse(r, 1, page, &err);
	cr_assert_eq(rc, 0, "%d (%s)", rc, err.msg);
	cr_assert_eq(r->active.num_allocated, 600 - 512);
}

/*
 * Refusals
 */

/* A first page with flags `f` and whatever `add` puts after them. */
static void *bad_chain(uint32_t page, const struct blob_flags *f)
{
	void *p = pages_alloc(2);
	struct blob_md_writer w;

	blob_md_page_init(pg(p, 0), blob_page_to_id(page), 0);
	blob_md_writer_init(&w, pg(p, 0));
	cr_assert_eq(blob_md_add_flags(&w, f), 0);
	return p;
}

static struct blob_md_writer writer_at_end(void *p)
{
	struct blob_md_writer w;

	blob_md_writer_init(&w, pg(p, 0));
	w.used = page_used(pg(p, 0));
	return w;
}

static void expect_parse(void *p, uint32_t n, int want, const char *what)
{
	struct spio_blob *b = new_blob(2, blob_id_to_page(pg(p, 0)->id));
	struct blob_fmt_err err = {{0}};
	int rc;

	rc = blob_md_parse(b, p, n, &err);
	cr_assert_eq(rc, want, "%s: expected %d, got %d (%s)", what, want, rc, err.msg);
	if (want != 0) {
		cr_assert(err.msg[0] != '\0', "%s: no reason given", what);
	}
	blob_free(b);
	g_blobs[2] = NULL;
	free(p);
}

Test(blob_codec, bad_xattr_lengths)
{
	struct blob_flags f = {0};
	struct blob_desc_xattr x = {.type = BLOB_DESC_XATTR};
	void *p;

	fake_store(64, 64, 2);
	/* Length past the page. */
	p = bad_chain(3, &f);
	x.length = 5000;
	memcpy(pg(p, 0)->descriptors + 29, &x, sizeof(x));
	expect_parse(p, 1, -EINVAL, "xattr length past the page");
	/* Name and value longer than the descriptor. */
	p = bad_chain(3, &f);
	x = (struct blob_desc_xattr){
	    .type = BLOB_DESC_XATTR_INTERNAL, .length = 10, .name_length = 4, .value_length = 40};
	memcpy(pg(p, 0)->descriptors + 29, &x, sizeof(x));
	expect_parse(p, 1, -EINVAL, "xattr name + value past its descriptor");
}

Test(blob_codec, bad_flags)
{
	struct blob_flags f = {.invalid = 1u << 9};

	fake_store(64, 64, 2);
	expect_parse(bad_chain(3, &f), 1, -ENOTSUP, "unknown invalid flag");
	f.invalid = BLOB_FLAG_EXTERNAL_SNAPSHOT | BLOB_FLAG_THIN_PROV;
	expect_parse(bad_chain(3, &f), 1, -ENOTSUP, "external snapshot clone");
}

Test(blob_codec, extent_list_and_table_together)
{
	struct blob_flags f = {.invalid = BLOB_FLAG_THIN_PROV};
	struct blob_extent_run run = {.cluster_idx = 5, .length = 2};
	struct blob_extent_table_entry e = {.page_idx = 0, .num_pages = 1};
	struct blob_md_writer w;
	void *p;

	fake_store(64, 64, 2);
	p = bad_chain(3, &f);
	w = writer_at_end(p);
	cr_assert_eq(blob_md_add_extent_rle(&w, &run, 1), 0);
	cr_assert_eq(blob_md_add_extent_table(&w, 2, &e, 1), 0);
	expect_parse(p, 1, -EINVAL, "list then table");
	p = bad_chain(3, &f);
	w = writer_at_end(p);
	cr_assert_eq(blob_md_add_extent_table(&w, 2, &e, 1), 0);
	cr_assert_eq(blob_md_add_extent_rle(&w, &run, 1), 0);
	expect_parse(p, 1, -EINVAL, "table then list");
}

Test(blob_codec, extent_list_refusals)
{
	struct blob_flags thick = {0}, thin = {.invalid = BLOB_FLAG_THIN_PROV};
	struct blob_extent_run r;
	struct blob_md_writer w;
	void *p;

	fake_store(64, 64, 2);
	/* Past the store's 64 clusters. */
	p = bad_chain(3, &thick);
	w = writer_at_end(p);
	r = (struct blob_extent_run){.cluster_idx = 60, .length = 5};
	cr_assert_eq(blob_md_add_extent_rle(&w, &r, 1), 0);
	expect_parse(p, 1, -ERANGE, "run past the clusters");
	/* In the metadata's clusters. */
	p = bad_chain(3, &thick);
	w = writer_at_end(p);
	r = (struct blob_extent_run){.cluster_idx = 1, .length = 3};
	cr_assert_eq(blob_md_add_extent_rle(&w, &r, 1), 0);
	expect_parse(p, 1, -ERANGE, "run in the md clusters");
	/* A hole in a thick blob. */
	p = bad_chain(3, &thick);
	w = writer_at_end(p);
	r = (struct blob_extent_run){.cluster_idx = 0, .length = 3};
	cr_assert_eq(blob_md_add_extent_rle(&w, &r, 1), 0);
	expect_parse(p, 1, -EINVAL, "hole in a thick list");
	/* The same hole in a thin blob is fine. */
	p = bad_chain(3, &thin);
	w = writer_at_end(p);
	cr_assert_eq(blob_md_add_extent_rle(&w, &r, 1), 0);
	expect_parse(p, 1, 0, "hole in a thin list");
	/* A list of no clusters. */
	p = bad_chain(3, &thin);
	w = writer_at_end(p);
	r = (struct blob_extent_run){.cluster_idx = 9, .length = 0};
	cr_assert_eq(blob_md_add_extent_rle(&w, &r, 1), 0);
	expect_parse(p, 1, -EINVAL, "empty list");
}

Test(blob_codec, extent_table_refusals)
{
	struct blob_flags thick = {0}, thin = {.invalid = BLOB_FLAG_THIN_PROV};
	struct blob_extent_table_entry e[2] = {{.page_idx = 7, .num_pages = 1},
					       {.page_idx = 0, .num_pages = 1}};
	struct blob_md_writer w;
	void *p;

	fake_store(4096, 64, 2);
	/* Two extent pages listed for 10 clusters. */
	p = bad_chain(3, &thin);
	w = writer_at_end(p);
	cr_assert_eq(blob_md_add_extent_table(&w, 10, e, 2), 0);
	expect_parse(p, 1, -EINVAL, "more entries than clusters need");
	/* One listed for 600 clusters. */
	p = bad_chain(3, &thin);
	w = writer_at_end(p);
	cr_assert_eq(blob_md_add_extent_table(&w, 600, e, 1), 0);
	expect_parse(p, 1, -EINVAL, "fewer entries than clusters need");
	/* A missing extent page in a thick blob. */
	p = bad_chain(3, &thick);
	w = writer_at_end(p);
	cr_assert_eq(blob_md_add_extent_table(&w, 600, e, 2), 0);
	expect_parse(p, 1, -EINVAL, "hole in a thick table");
	/* Past the md region. */
	p = bad_chain(3, &thin);
	w = writer_at_end(p);
	e[0].page_idx = 64;
	cr_assert_eq(blob_md_add_extent_table(&w, 600, e, 2), 0);
	expect_parse(p, 1, -ERANGE, "extent page outside the md region");
	/* Two pages of a table that disagree on num_clusters. */
	p = bad_chain(3, &thin);
	e[0].page_idx = 7;
	w = writer_at_end(p);
	cr_assert_eq(blob_md_add_extent_table(&w, 600, e, 1), 0);
	blob_md_page_init(pg(p, 1), blob_page_to_id(3), 1);
	blob_md_writer_init(&w, pg(p, 1));
	cr_assert_eq(blob_md_add_extent_table(&w, 700, &e[1], 1), 0);
	expect_parse(p, 2, -EINVAL, "tables of different sizes");
	/* An extent page descriptor in the chain. */
	p = bad_chain(3, &thin);
	w = writer_at_end(p);
	{
		uint32_t c = 5;

		cr_assert_eq(blob_md_add_extent_page(&w, 0, &c, 1), 0);
	}
	expect_parse(p, 1, -EINVAL, "extent page descriptor in a chain");
}

Test(blob_codec, snap_xattr_length)
{
	struct blob_flags thin = {.invalid = BLOB_FLAG_THIN_PROV | BLOB_FLAG_INTERNAL_XATTR};
	struct blob_flags thick = {.invalid = BLOB_FLAG_INTERNAL_XATTR};
	uint8_t v[8] = {1, 2, 3, 4};
	spio_blob_id self = blob_page_to_id(3);
	struct blob_md_writer w;
	void *p;

	fake_store(64, 64, 2);
	p = bad_chain(3, &thin);
	w = writer_at_end(p);
	cr_assert_eq(blob_md_add_xattr(&w, true, "SNAP", 4, v, 4), 0);
	expect_parse(p, 1, -EINVAL, "SNAP of 4 bytes");
	p = bad_chain(3, &thin);
	w = writer_at_end(p);
	cr_assert_eq(blob_md_add_xattr(&w, true, "SNAP", 4, &self, 8), 0);
	expect_parse(p, 1, -EINVAL, "SNAP naming the blob itself");
	/* SPDK looks at SNAP only for thin blobs. */
	p = bad_chain(3, &thick);
	w = writer_at_end(p);
	cr_assert_eq(blob_md_add_xattr(&w, true, "SNAP", 4, v, 4), 0);
	expect_parse(p, 1, 0, "SNAP of a thick blob");
}

Test(blob_codec, unknown_descriptor_skipped)
{
	struct blob_flags f = {0};
	struct blob_desc_hdr h = {.type = 77, .length = 6};
	void *p;

	fake_store(64, 64, 2);
	p = bad_chain(3, &f);
	memcpy(pg(p, 0)->descriptors + 29, &h, sizeof(h));
	expect_parse(p, 1, 0, "an unknown descriptor type");
}

/* An extent page of blob slot 0 (thin or not) for clusters 0.. of a 600-cluster blob. */
static void ep_case(bool thin, void (*mutate)(struct blob_md_page *), int want, const char *what)
{
	struct spio_blob *b = new_blob(0, 3);
	uint8_t page[PS];
	struct blob_fmt_err err = {{0}};
	int rc;

	b->invalid_flags = thin ? BLOB_FLAG_THIN_PROV : 0;
	cr_assert_eq(blob_map_resize(&b->active, 600), 0);
	cr_assert_eq(blob_map_resize(&b->disk, 600), 0);
	for (uint64_t i = 0; i < 600; i++) {
		b->active.clusters[i] = 10 + i;
	}
	b->active.extent_pages[0] = 20;
	blob_ep_serialize(b, 0, page);
	memset(b->active.clusters, 0, 600 * 8);
	mutate((struct blob_md_page *)page);
	rc = blob_ep_parse(b, 0, page, &err);
	cr_assert_eq(rc, want, "%s: expected %d, got %d (%s)", what, want, rc, err.msg);
	blob_free(b);
	g_blobs[0] = NULL;
}

static void m_crc(struct blob_md_page *p)
{
	p->descriptors[20] ^= 1;
}

static void m_seq(struct blob_md_page *p)
{
	p->sequence_num = 1;
	blob_md_page_seal(p, BLOB_MD_PAGE_INVALID);
}

static void m_next(struct blob_md_page *p)
{
	blob_md_page_seal(p, 5);
}

static void m_id(struct blob_md_page *p)
{
	p->id = 7;
	blob_md_page_seal(p, BLOB_MD_PAGE_INVALID);
}

static void m_other_blob(struct blob_md_page *p)
{
	p->id = blob_page_to_id(9);
	blob_md_page_seal(p, BLOB_MD_PAGE_INVALID);
}

static void m_start(struct blob_md_page *p)
{
	uint32_t s = 512;

	memcpy(p->descriptors + 5, &s, 4);
	blob_md_page_seal(p, BLOB_MD_PAGE_INVALID);
}

static void m_range(struct blob_md_page *p)
{
	uint32_t c = 4096;

	memcpy(p->descriptors + 9 + 4 * 3, &c, 4);
	blob_md_page_seal(p, BLOB_MD_PAGE_INVALID);
}

static void m_md_cluster(struct blob_md_page *p)
{
	uint32_t c = 1;

	memcpy(p->descriptors + 9, &c, 4);
	blob_md_page_seal(p, BLOB_MD_PAGE_INVALID);
}

static void m_hole(struct blob_md_page *p)
{
	memset(p->descriptors + 9 + 4 * 7, 0, 4);
	blob_md_page_seal(p, BLOB_MD_PAGE_INVALID);
}

static void m_second_desc(struct blob_md_page *p)
{
	struct blob_desc_hdr h = {.type = BLOB_DESC_XATTR, .length = 4};

	/* 512 clusters: the descriptor takes 9 + 2048 bytes. */
	memcpy(p->descriptors + 9 + 2048, &h, sizeof(h));
	blob_md_page_seal(p, BLOB_MD_PAGE_INVALID);
}

static void m_type(struct blob_md_page *p)
{
	p->descriptors[0] = BLOB_DESC_EXTENT_RLE;
	blob_md_page_seal(p, BLOB_MD_PAGE_INVALID);
}

static void m_none(struct blob_md_page *p)
{
	(void)p;
}

Test(blob_codec, extent_page_refusals)
{
	fake_store(4096, 64, 2);
	ep_case(false, m_none, 0, "a good extent page");
	ep_case(false, m_crc, -EBADMSG, "bad CRC");
	ep_case(false, m_seq, -EINVAL, "sequence 1");
	ep_case(false, m_next, -EINVAL, "a next page");
	ep_case(false, m_id, -EINVAL, "an id that is no blob id");
	ep_case(false, m_other_blob, 0, "another blob's id (SPDK's snapshots keep the origin's)");
	ep_case(false, m_start, -EINVAL, "starting at the wrong cluster");
	ep_case(false, m_range, -ERANGE, "cluster past the store");
	ep_case(false, m_md_cluster, -ERANGE, "cluster in the metadata");
	ep_case(false, m_hole, -EINVAL, "hole in a thick blob");
	ep_case(true, m_hole, 0, "hole in a thin blob");
	ep_case(false, m_second_desc, -EINVAL, "a second descriptor");
	ep_case(false, m_type, -EINVAL, "not an extent page descriptor");
}
