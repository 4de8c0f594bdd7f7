/*
 * The blobstore's on-disk format against SPDK's own images: struct layout,
 * CRCs, the decoders' view of every blob (checked against the manifests),
 * re-encoding each structure byte for byte, and every corrupt case the
 * decoding layer must refuse with an error instead of a crash.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/util.h"

#include "blob/blob_format.h"
#include "helper_blob_image.h"

struct img {
	uint8_t *data;
	size_t size;
	json_t *manifest;
	const struct blob_super_block *super;
	struct blob_geometry geo;
};

static struct img g_img;

static void img_close(void)
{
	if (g_img.data != NULL) {
		bimg_unmap(g_img.data, g_img.size);
	}
	json_decref(g_img.manifest);
	memset(&g_img, 0, sizeof(g_img));
}

TestSuite(blob_format, .fini = img_close);

/* Image `base` (blobcli-basic, lvol-basic) and its manifest, or the test skips visibly. */
static struct img *img_open(const char *base, size_t size)
{
	char json[PATH_MAX], gz[64], jname[64], why[256];
	json_error_t jerr;
	long long got;
	int rc;

	snprintf(gz, sizeof(gz), "%s.img.gz", base);
	snprintf(jname, sizeof(jname), "%s.json", base);
	if (!bimg_path(gz, why) || !bimg_path(jname, json)) {
		cr_skip_test("test image %s/%s or its manifest missing (set SPIO_TESTDATA)",
			     bimg_dir(), gz);
	}
	g_img.manifest = json_load_file(json, 0, &jerr);
	cr_assert_not_null(g_img.manifest, "manifest %s: %s", json, jerr.text);
	g_img.size = size;
	g_img.data = bimg_map(size);
	got = bimg_gunzip(gz, g_img.data, size, why);
	cr_assert_eq(got, (long long)size, "%s: expected %zu bytes, got %lld (%s)", gz, size, got,
		     got < 0 ? why : "wrong size");
	g_img.super = (const struct blob_super_block *)g_img.data;
	rc = blob_super_validate(g_img.super, size / 4096, 4096, NULL, &g_img.geo, NULL);
	cr_assert_eq(rc, 0, "%s: super block refused with %d", base, rc);
	return &g_img;
}

static const struct blob_md_page *md_page(const struct img *im, uint64_t idx)
{
	return (const struct blob_md_page *)(im->data + (im->geo.md_start + idx) * 4096);
}

static uint64_t jhex(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	cr_assert_not_null(s, "manifest: %s missing", key);
	return strtoull(s, NULL, 16);
}

static uint64_t jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	cr_assert(json_is_integer(v), "manifest: %s is not an integer", key);
	return (uint64_t)json_integer_value(v);
}

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;

	cr_assert_leq(n, cap, "hex string of %zu bytes, room for %zu", n, cap);
	for (size_t i = 0; i < n; i++) {
		sscanf(s + 2 * i, "%2hhx", &out[i]);
	}
	return n;
}

Test(blob_format, struct_layout)
{
	size_t max = (BLOB_DESCS_SIZE - sizeof(struct blob_desc_extent_page)) / 4, per_ep = 1;

	cr_assert_eq(sizeof(struct blob_super_block), 4096);
	cr_assert_eq(sizeof(struct blob_md_page), 4096);
	cr_assert_eq(offsetof(struct blob_md_page, descriptors), 16);
	cr_assert_eq(offsetof(struct blob_md_page, next), 4088);
	cr_assert_eq(offsetof(struct blob_md_page, crc), 4092);
	cr_assert_eq(offsetof(struct blob_super_block, bstype), 56);
	cr_assert_eq(offsetof(struct blob_super_block, size), 80);
	cr_assert_eq(offsetof(struct blob_super_block, md_page_size), 92);
	cr_assert_eq(offsetof(struct blob_super_block, crc), 4092);
	cr_assert_eq(sizeof(struct blob_desc_flags), 29);
	cr_assert_eq(sizeof(struct blob_desc_xattr), 9);
	cr_assert_eq(sizeof(struct blob_desc_extent_table), 13);
	cr_assert_eq(sizeof(struct blob_mask_hdr), 5);
	/* SPDK_EXTENTS_PER_EP: the largest power of two not above what fits. */
	while (per_ep * 2 <= max) {
		per_ep *= 2;
	}
	cr_assert_eq(per_ep, BLOB_EXTENTS_PER_EP, "extents per page: expected %zu, got %u", per_ep,
		     BLOB_EXTENTS_PER_EP);
	cr_assert_eq(blob_page_to_id(6), 0x100000006ULL);
	cr_assert_eq(blob_id_to_page(0x100000006ULL), 6);
	cr_assert(blob_id_is_valid(0x100000006ULL, 64));
	cr_assert_not(blob_id_is_valid(0x100000040ULL, 64), "page 64 is past 64 md pages");
	cr_assert_not(blob_id_is_valid(6, 64), "an id without the high bit is not a blob id");
	cr_assert_not(blob_id_is_valid(SPIO_BLOBID_INVALID, 64));
}

static void check_super(const char *base, size_t size)
{
	struct img *im = img_open(base, size);
	json_t *bs = json_object_get(im->manifest, "blobstore");
	json_t *f = json_object_get(bs, "super_block_fields");
	const struct blob_super_block *s = im->super;
	uint8_t bstype[BLOB_BSTYPE_LEN];

	cr_assert(blob_super_crc_ok(s), "%s: super CRC 0x%08x, computed 0x%08x", base, s->crc,
		  blob_page_crc(s));
	cr_assert_eq(s->crc, jhex(f, "crc"));
	cr_assert_eq(s->version, jint(bs, "version"));
	cr_assert_eq(s->length, jint(f, "length"));
	cr_assert_eq(s->used_page_mask_start, jint(f, "used_page_mask_start"));
	cr_assert_eq(s->used_page_mask_len, jint(f, "used_page_mask_len"));
	cr_assert_eq(s->used_cluster_mask_start, jint(f, "used_cluster_mask_start"));
	cr_assert_eq(s->used_cluster_mask_len, jint(f, "used_cluster_mask_len"));
	cr_assert_eq(s->used_blobid_mask_start, jint(f, "used_blobid_mask_start"));
	cr_assert_eq(s->used_blobid_mask_len, jint(f, "used_blobid_mask_len"));
	cr_assert_eq(im->geo.md_start, jint(f, "md_start"));
	cr_assert_eq(im->geo.md_len, jint(f, "md_len"));
	cr_assert_eq(im->geo.cluster_size, jint(bs, "cluster_size"));
	cr_assert_eq(im->geo.md_page_size, jint(bs, "md_page_size"));
	cr_assert_eq(im->geo.io_unit_size, jint(bs, "io_unit_size"));
	cr_assert_eq(im->geo.total_clusters, jint(bs, "total_clusters"));
	cr_assert_eq(im->geo.size, jint(bs, "size_bytes"));
	cr_assert_eq(im->geo.md_clusters, 1, "metadata clusters: expected 1, got %lu",
		     (unsigned long)im->geo.md_clusters);
	cr_assert_eq(s->super_blob, jhex(bs, "super_blob_id"));
	cr_assert_eq(s->clean, json_is_true(json_object_get(bs, "clean")) ? 1u : 0u);
	unhex(json_string_value(json_object_get(bs, "bstype_hex")), bstype, sizeof(bstype));
	cr_assert_arr_eq(s->bstype, bstype, BLOB_BSTYPE_LEN, "%s: blobstore type differs", base);
	/* The type asked for must match; all zeroes matches any (SPDK's wildcard). */
	cr_assert_eq(blob_super_validate(s, size / 4096, 4096, bstype, NULL, NULL), 0);
	cr_assert_eq(blob_super_validate(s, size / 4096, 4096, (const uint8_t *)"0123456789abcdef",
					 NULL, NULL),
		     -ENXIO);
}

Test(blob_format, super_blobcli)
{
	check_super("blobcli-basic", BIMG_BLOBCLI_SIZE);
}

Test(blob_format, super_lvol)
{
	check_super("lvol-basic", BIMG_LVOL_SIZE);
}

/* Decode the three masks; each must have exactly the manifest's bits set. */
static void check_masks(const char *base, size_t size)
{
	static const char *const keys[] = {"used_md_pages", "used_cluster_indices",
					   "used_blobid_indices"};
	struct img *im = img_open(base, size);
	json_t *bs = json_object_get(im->manifest, "blobstore");

	for (uint8_t t = 0; t < 3; t++) {
		uint64_t start, len, nbits = blob_mask_expected_bits(&im->geo, t);
		uint8_t bits[4096] = {0}, want[4096] = {0}, again[4096];
		struct blob_fmt_err e;
		json_t *v;
		size_t i;
		int rc;

		cr_assert_eq(blob_super_mask_region(im->super, t, &start, &len), 0);
		rc = blob_mask_decode(im->data + start * 4096, len * 4096, t, nbits, bits, &e);
		cr_assert_eq(rc, 0, "%s mask %u: %d (%s)", base, t, rc, e.msg);
		json_array_foreach(json_object_get(bs, keys[t]), i, v)
		{
			blob_mask_set(want, (uint64_t)json_integer_value(v));
		}
		cr_assert_arr_eq(bits, want, blob_mask_bytes(nbits), "%s: %s differ", base,
				 keys[t]);
		/* Re-encoded, the region is the image's byte for byte. */
		cr_assert_eq(blob_mask_encode(again, len * 4096, t, bits, nbits), 0);
		cr_assert_arr_eq(again, im->data + start * 4096, len * 4096,
				 "%s: re-encoded mask %u differs", base, t);
	}
}

Test(blob_format, masks_blobcli)
{
	check_masks("blobcli-basic", BIMG_BLOBCLI_SIZE);
}

Test(blob_format, masks_lvol)
{
	check_masks("lvol-basic", BIMG_LVOL_SIZE);
}

/* Everything a blob's md pages say, decoded. */
struct blob_seen {
	struct blob_flags flags;
	int nflags;
	struct blob_xattr_view xattrs[8];
	int nxattrs;
	uint64_t num_clusters;
	uint32_t ext_pages[16];
	int next_pages;
	uint32_t clusters[64];
	uint64_t nclusters;
};

static void decode_page(const struct img *im, const struct blob_md_page *p, struct blob_seen *s)
{
	struct blob_desc_iter it;
	struct blob_desc d;
	struct blob_fmt_err e;
	int rc;

	blob_desc_iter_init(&it, p, true);
	while ((rc = blob_desc_iter_next(&it, &d, &e)) == 1) {
		if (d.type == BLOB_DESC_FLAGS) {
			cr_assert_eq(blob_desc_flags_decode(&d, &s->flags, &e), 0, "%s", e.msg);
			s->nflags++;
		} else if (d.type == BLOB_DESC_XATTR || d.type == BLOB_DESC_XATTR_INTERNAL) {
			cr_assert_lt(s->nxattrs, 8);
			rc = blob_desc_xattr_decode(&d, &s->xattrs[s->nxattrs++], &e);
			cr_assert_eq(rc, 0, "%s", e.msg);
		} else if (d.type == BLOB_DESC_EXTENT_TABLE) {
			struct blob_extent_table_view v;

			rc = blob_desc_extent_table_decode(&d, im->geo.md_len, &v, &e);
			cr_assert_eq(rc, 0, "%s", e.msg);
			s->num_clusters = v.num_clusters;
			for (uint32_t i = 0; i < v.count; i++) {
				struct blob_extent_table_entry t = blob_extent_table_get(&v, i);

				cr_assert_lt(s->next_pages, 16);
				s->ext_pages[s->next_pages++] = t.page_idx;
			}
		} else if (d.type == BLOB_DESC_EXTENT_PAGE) {
			struct blob_extent_page_view v;

			rc = blob_desc_extent_page_decode(&d, im->geo.total_clusters, &v, &e);
			cr_assert_eq(rc, 0, "%s", e.msg);
			cr_assert_eq(v.start_cluster_idx, s->nclusters,
				     "extent page starts at cluster %u, expected %lu",
				     v.start_cluster_idx, (unsigned long)s->nclusters);
			for (uint32_t i = 0; i < v.count && s->nclusters < s->num_clusters; i++) {
				cr_assert_lt(s->nclusters, 64);
				s->clusters[s->nclusters++] = blob_extent_page_get(&v, i);
			}
		} else {
			cr_assert_fail("unexpected descriptor type %u", d.type);
		}
	}
	cr_assert_eq(rc, 0, "descriptor walk: %d (%s)", rc, e.msg);
}

/* Each manifest blob: its chain, flags, xattrs, extent pages and cluster map, from the pages. */
static void check_blobs(const char *base, size_t size)
{
	struct img *im = img_open(base, size);
	json_t *blobs = json_object_get(im->manifest, "blobs"), *b, *v;
	size_t bi, i;

	cr_assert_gt(json_array_size(blobs), 0);
	json_array_foreach(blobs, bi, b)
	{
		spio_blob_id id = jhex(b, "blob_id");
		struct blob_seen s = {0};
		uint32_t pg = blob_id_to_page(id);
		json_t *flags = json_object_get(b, "flags");
		struct blob_fmt_err e;
		int rc;

		cr_assert(blob_id_is_valid(id, im->geo.md_len));
		cr_assert_eq(pg,
			     json_integer_value(json_array_get(json_object_get(b, "md_pages"), 0)));
		/* The chain from the first page, each page checked as SPDK's loader does. */
		for (uint32_t seq = 0; pg != BLOB_MD_PAGE_INVALID; seq++) {
			cr_assert_lt(seq, 4, "blob 0x%lx: chain too long", (unsigned long)id);
			rc = blob_md_page_check(md_page(im, pg), pg, id, seq, im->geo.md_len, &e);
			cr_assert_eq(rc, 0, "blob 0x%lx page %u: %d (%s)", (unsigned long)id, pg,
				     rc, e.msg);
			decode_page(im, md_page(im, pg), &s);
			pg = md_page(im, pg)->next;
		}
		cr_assert_eq(s.nflags, 1);
		cr_assert_eq(s.flags.invalid, jhex(flags, "invalid"));
		cr_assert_eq(s.flags.data_ro, jhex(flags, "data_ro"));
		cr_assert_eq(s.flags.md_ro, jhex(flags, "md_ro"));
		cr_assert_eq((size_t)s.nxattrs, json_array_size(json_object_get(b, "xattrs")));
		json_array_foreach(json_object_get(b, "xattrs"), i, v)
		{
			const char *name = json_string_value(json_object_get(v, "name"));
			uint8_t want[256];
			size_t n = unhex(json_string_value(json_object_get(v, "value_hex")), want,
					 sizeof(want));

			cr_assert_not(s.xattrs[i].internal);
			cr_assert_eq(s.xattrs[i].name_len, strlen(name));
			cr_assert_arr_eq(s.xattrs[i].name, name, strlen(name), "xattr %zu name", i);
			cr_assert_eq(s.xattrs[i].value_len, n, "xattr %s: %u bytes, expected %zu",
				     name, s.xattrs[i].value_len, n);
			cr_assert_arr_eq(s.xattrs[i].value, want, n, "xattr %s value", name);
		}
		cr_assert_eq(s.num_clusters, jint(b, "num_clusters"));
		/* Extent pages are read as the table lists them (0: none yet, a thin blob's). */
		i = 0;
		for (int k = 0; k < s.next_pages; k++) {
			if (s.ext_pages[k] == 0) {
				continue;
			}
			cr_assert_eq(s.ext_pages[k], json_integer_value(json_array_get(
							 json_object_get(b, "extent_pages"), i++)));
			rc = blob_md_page_check(md_page(im, s.ext_pages[k]), s.ext_pages[k], id, 0,
						im->geo.md_len, &e);
			cr_assert_eq(rc, 0, "extent page %u: %s", s.ext_pages[k], e.msg);
			cr_assert_eq(md_page(im, s.ext_pages[k])->next, BLOB_MD_PAGE_INVALID);
			decode_page(im, md_page(im, s.ext_pages[k]), &s);
		}
		cr_assert_eq(i, json_array_size(json_object_get(b, "extent_pages")));
		cr_assert_eq(s.nclusters, s.num_clusters);
		json_array_foreach(json_object_get(b, "cluster_map"), i, v)
		{
			cr_assert_eq(s.clusters[i], json_integer_value(v),
				     "blob 0x%lx cluster %zu: at %u, expected %lld",
				     (unsigned long)id, i, s.clusters[i], json_integer_value(v));
		}
	}
}

Test(blob_format, blobs_blobcli)
{
	check_blobs("blobcli-basic", BIMG_BLOBCLI_SIZE);
}

Test(blob_format, blobs_lvol)
{
	check_blobs("lvol-basic", BIMG_LVOL_SIZE);
}

/* Rebuild a page from its decoded descriptors with the writer: the same bytes. */
static void reencode_page(const struct img *im, const struct blob_md_page *p, uint64_t idx)
{
	struct blob_md_page out;
	struct blob_md_writer w;
	struct blob_desc_iter it;
	struct blob_desc d;
	int rc;

	blob_md_page_init(&out, p->id, p->sequence_num);
	blob_md_writer_init(&w, &out);
	blob_desc_iter_init(&it, p, true);
	while ((rc = blob_desc_iter_next(&it, &d, NULL)) == 1) {
		if (d.type == BLOB_DESC_FLAGS) {
			struct blob_flags f;

			blob_desc_flags_decode(&d, &f, NULL);
			rc = blob_md_add_flags(&w, &f);
		} else if (d.type == BLOB_DESC_XATTR || d.type == BLOB_DESC_XATTR_INTERNAL) {
			struct blob_xattr_view x;

			blob_desc_xattr_decode(&d, &x, NULL);
			rc = blob_md_add_xattr(&w, x.internal, x.name, x.name_len, x.value,
					       x.value_len);
		} else if (d.type == BLOB_DESC_EXTENT_TABLE) {
			struct blob_extent_table_view v;
			struct blob_extent_table_entry e[64];

			blob_desc_extent_table_decode(&d, im->geo.md_len, &v, NULL);
			cr_assert_leq(v.count, 64);
			for (uint32_t i = 0; i < v.count; i++) {
				e[i] = blob_extent_table_get(&v, i);
			}
			rc = blob_md_add_extent_table(&w, v.num_clusters, e, v.count);
		} else {
			struct blob_extent_page_view v;
			uint32_t c[BLOB_EXTENTS_PER_EP];

			cr_assert_eq(d.type, BLOB_DESC_EXTENT_PAGE);
			blob_desc_extent_page_decode(&d, im->geo.total_clusters, &v, NULL);
			for (uint32_t i = 0; i < v.count; i++) {
				c[i] = blob_extent_page_get(&v, i);
			}
			rc = blob_md_add_extent_page(&w, v.start_cluster_idx, c, v.count);
		}
		cr_assert_eq(rc, 0, "md page %lu: re-adding type %u: %d", (unsigned long)idx,
			     d.type, rc);
	}
	blob_md_page_seal(&out, p->next);
	cr_assert_arr_eq(&out, p, sizeof(out), "md page %lu re-encoded differs",
			 (unsigned long)idx);
}

/* The super block from SPDK's layout rules, every md page, each CRC: as the image holds them. */
static void check_reencode(const char *base, size_t size, const char *bstype)
{
	struct img *im = img_open(base, size);
	struct blob_super_block sb;
	uint8_t type[BLOB_BSTYPE_LEN] = {0};
	struct blob_super_params p = {.blockcnt = size / 4096,
				      .blocklen = 4096,
				      .cluster_size = im->super->cluster_size,
				      .bstype = type};
	struct blob_fmt_err e;
	int pages = 0;

	/* A fixed-size field, not a C string: no terminating NUL when full. */
	memcpy(type, bstype, SPIO_MIN(strlen(bstype), sizeof(type)));
	cr_assert_eq(blob_super_build(&sb, &p, &e), 0, "%s", e.msg);
	cr_assert_eq(sb.clean, 0, "a new blobstore is not clean until unloaded");
	cr_assert_eq(sb.super_blob, SPIO_BLOBID_INVALID);
	sb.clean = 1;
	sb.super_blob = im->super->super_blob;
	blob_super_set_crc(&sb);
	cr_assert_arr_eq(&sb, im->super, sizeof(sb), "%s: built super block differs", base);

	for (uint64_t i = 0; i < im->geo.md_len; i++) {
		const struct blob_md_page *pg = md_page(im, i);

		if (pg->id == 0) {
			continue;
		}
		cr_assert(blob_md_page_crc_ok(pg), "%s md page %lu: CRC 0x%08x, computed 0x%08x",
			  base, (unsigned long)i, pg->crc, blob_page_crc(pg));
		reencode_page(im, pg, i);
		pages++;
	}
	cr_assert_eq((size_t)pages,
		     json_array_size(json_object_get(json_object_get(im->manifest, "blobstore"),
						     "used_md_pages")),
		     "%s: %d md pages in use", base, pages);
}

Test(blob_format, reencode_blobcli)
{
	check_reencode("blobcli-basic", BIMG_BLOBCLI_SIZE, "");
}

Test(blob_format, reencode_lvol)
{
	check_reencode("lvol-basic", BIMG_LVOL_SIZE, "LVOLSTORE");
}

/*
 * Corrupt super blocks: a good one (what SPDK makes for 64 MiB with 1 MiB
 * clusters) changed one field at a time, CRC fixed unless the CRC is the point.
 */
static struct blob_super_block good_super(void)
{
	struct blob_super_block s;
	struct blob_super_params p = {.blockcnt = 16384, .blocklen = 4096, .cluster_size = 1 << 20};

	cr_assert_eq(blob_super_build(&s, &p, NULL), 0);
	return s;
}

static void expect_super(struct blob_super_block *s, bool fix_crc, uint64_t blockcnt,
			 uint32_t blocklen, int want, const char *what)
{
	struct blob_fmt_err e = {{0}};
	int rc;

	if (fix_crc) {
		blob_super_set_crc(s);
	}
	rc = blob_super_validate(s, blockcnt, blocklen, NULL, NULL, &e);
	cr_assert_eq(rc, want, "%s: expected %d, got %d (%s)", what, want, rc, e.msg);
	if (want != 0) {
		cr_assert_neq(e.msg[0], '\0', "%s: no message", what);
	}
}

Test(blob_format, super_corrupt)
{
	struct blob_super_block s;

	s = good_super();
	expect_super(&s, false, 16384, 4096, 0, "good");
	s.crc ^= 1;
	expect_super(&s, false, 16384, 4096, -EBADMSG, "bad CRC");
	s = good_super();
	s.reserved[100] = 1;
	expect_super(&s, false, 16384, 4096, -EBADMSG, "changed byte, stale CRC");
	s = good_super();
	memcpy(s.signature, "SPDKBLOX", 8);
	expect_super(&s, true, 16384, 4096, -EILSEQ, "wrong signature");
	s = good_super();
	s.version = 4;
	expect_super(&s, true, 16384, 4096, -ENOTSUP, "version 4");
	s.version = 0;
	expect_super(&s, true, 16384, 4096, -ENOTSUP, "version 0");
	s.version = 2;
	expect_super(&s, true, 16384, 4096, 0, "version 2 loads");
	s = good_super();
	s.length = 100;
	expect_super(&s, true, 16384, 4096, -EINVAL, "length");
	s = good_super();
	s.cluster_size = 1000;
	expect_super(&s, true, 16384, 4096, -EINVAL, "cluster size not a page multiple");
	s.cluster_size = 0;
	expect_super(&s, true, 16384, 4096, -EINVAL, "cluster size 0");
	s = good_super();
	s.md_page_size = 1000;
	expect_super(&s, true, 16384, 4096, -EINVAL, "md page size 1000");
	s = good_super();
	s.io_unit_size = 3000;
	expect_super(&s, true, 16384, 4096, -EINVAL, "io unit size 3000");
	s = good_super();
	expect_super(&s, true, 8192, 8192, -EINVAL, "blocks larger than md pages");
	s = good_super();
	s.size = 128ULL << 20;
	expect_super(&s, true, 16384, 4096, -ERANGE, "blobstore larger than the device");
	s.size = 4096;
	expect_super(&s, true, 16384, 4096, -EINVAL, "blobstore smaller than a cluster");
	s = good_super();
	s.size = 0;
	expect_super(&s, true, 16384, 4096, 0, "size 0: the device (old images)");
	s.md_page_size = 0;
	s.io_unit_size = 0;
	expect_super(&s, true, 16384, 4096, 0, "sizes 0: 4 KiB (old images)");
	expect_super(&s, true, 0, 4096, -EINVAL, "empty device");
}

Test(blob_format, super_regions_corrupt)
{
	struct blob_super_block s;
	struct blob_fmt_err e;

	s = good_super();
	s.used_cluster_mask_start = 100000;
	expect_super(&s, true, 16384, 4096, -ERANGE, "cluster mask past the device");
	s = good_super();
	s.used_page_mask_start = UINT32_MAX;
	expect_super(&s, true, 16384, 4096, -ERANGE, "page mask start wraps");
	s = good_super();
	s.md_len = 20000;
	expect_super(&s, true, 16384, 4096, -ERANGE, "md region past the device");
	s = good_super();
	s.md_start = 0;
	expect_super(&s, true, 16384, 4096, -ERANGE, "md region over the super block");
	s = good_super();
	s.used_page_mask_len = 0;
	expect_super(&s, true, 16384, 4096, -ERANGE, "empty page mask");
	s = good_super();
	s.used_blobid_mask_start = 2;
	expect_super(&s, true, 16384, 4096, -EINVAL, "blob id mask over the cluster mask");
	s = good_super();
	s.used_blobid_mask_start = 60;
	expect_super(&s, true, 16384, 4096, -EINVAL, "blob id mask inside the md region");
	s = good_super();
	s.md_start = 10;
	s.used_blobid_mask_len = 5;
	expect_super(&s, true, 16384, 4096, -EINVAL, "mask longer than SPDK ever makes it");
	s = good_super();
	s.used_blobid_mask_len = 0;
	expect_super(&s, true, 16384, 4096, 0, "no blob id mask (version 1 and 2)");
	/* 33000 md pages need more than the one page of used-page mask. */
	s = good_super();
	s.size = 256ULL << 20;
	s.md_len = 33000;
	expect_super(&s, true, 65536, 4096, -EINVAL, "page mask too small for md_len");
	/* Regions fit the pages but not the whole clusters of a ragged size. */
	s = good_super();
	s.size = (1 << 20) + 100 * 4096;
	s.md_len = 300;
	expect_super(&s, true, 16384, 4096, -ERANGE, "metadata beyond the clusters");
	s = good_super();
	s.used_cluster_mask_start = 100000;
	blob_super_set_crc(&s);
	blob_super_validate(&s, 16384, 4096, NULL, NULL, &e);
	cr_assert(strstr(e.msg, "used cluster mask") != NULL, "message names the region: %s",
		  e.msg);
}

Test(blob_format, super_build)
{
	struct blob_super_block s;
	struct blob_super_params p = {.blockcnt = 16384, .blocklen = 4096, .cluster_size = 1 << 20};
	struct blob_geometry g;

	cr_assert_eq(blob_super_build(&s, &p, NULL), 0);
	cr_assert_eq(blob_super_validate(&s, 16384, 4096, NULL, &g, NULL), 0);
	cr_assert_eq(g.md_start, 4);
	cr_assert_eq(g.md_len, 64);
	cr_assert_eq(s.io_unit_size, 4096, "io unit defaults to the block size");
	/* 512-byte blocks, explicit md pages, a cluster mask with room to grow. */
	p = (struct blob_super_params){
	    .blockcnt = 1 << 20, .blocklen = 512, .cluster_size = 1 << 20, .num_md_pages = 40000};
	cr_assert_eq(blob_super_build(&s, &p, NULL), 0);
	cr_assert_eq(s.io_unit_size, 512);
	cr_assert_eq(s.used_page_mask_len, 2);
	cr_assert_eq(s.used_cluster_mask_len, 1);
	cr_assert_eq(s.used_blobid_mask_start, 5, "cluster mask region sized for md_len clusters");
	cr_assert_eq(blob_super_validate(&s, 1 << 20, 512, NULL, NULL, NULL), 0);
	p.num_md_pages = 200000;
	cr_assert_eq(blob_super_build(&s, &p, NULL), -ENOSPC, "more md than the device");
	p.num_md_pages = 0;
	p.cluster_size = 1000;
	cr_assert_eq(blob_super_build(&s, &p, NULL), -EINVAL);
	p.cluster_size = 1 << 20;
	p.blocklen = 1000;
	cr_assert_eq(blob_super_build(&s, &p, NULL), -EINVAL);
	p.blocklen = 512;
	p.blockcnt = 100;
	cr_assert_eq(blob_super_build(&s, &p, NULL), -EINVAL, "smaller than a cluster");
}

Test(blob_format, masks_corrupt)
{
	uint8_t buf[4096] = {0}, bits[16] = {0}, src[16];
	struct blob_mask_hdr h = {.type = BLOB_MASK_USED_PAGES, .length = 64};
	struct blob_fmt_err e;

	memcpy(buf, &h, sizeof(h));
	buf[5] = 0xff;
	cr_assert_eq(blob_mask_decode(buf, sizeof(buf), BLOB_MASK_USED_PAGES, 64, bits, &e), 0);
	cr_assert_eq(blob_mask_decode(buf, sizeof(buf), BLOB_MASK_USED_CLUSTERS, 64, bits, &e),
		     -EINVAL, "wrong type");
	cr_assert_eq(blob_mask_decode(buf, sizeof(buf), BLOB_MASK_USED_PAGES, 63, bits, &e),
		     -EINVAL, "pages mask must be exactly md_len bits");
	cr_assert_eq(blob_mask_decode(buf, 3, BLOB_MASK_USED_PAGES, 64, bits, &e), -EINVAL,
		     "no room for the header");
	h.length = 100000;
	memcpy(buf, &h, sizeof(h));
	cr_assert_eq(blob_mask_decode(buf, sizeof(buf), BLOB_MASK_USED_PAGES, 100000, bits, &e),
		     -EINVAL, "bits past the region");
	/* A longer cluster mask (a failed grow) is accepted, its extra bits dropped. */
	h = (struct blob_mask_hdr){.type = BLOB_MASK_USED_CLUSTERS, .length = 100};
	memcpy(buf, &h, sizeof(h));
	memset(buf + 5, 0xff, 13);
	memset(bits, 0, sizeof(bits));
	cr_assert_eq(blob_mask_decode(buf, sizeof(buf), BLOB_MASK_USED_CLUSTERS, 10, bits, &e), 0,
		     "%s", e.msg);
	cr_assert_eq(bits[0], 0xff);
	cr_assert_eq(bits[1], 0x03, "bits past 10 cleared, got 0x%02x", bits[1]);
	cr_assert_eq(blob_mask_decode(buf, sizeof(buf), BLOB_MASK_USED_CLUSTERS, 101, bits, &e),
		     -EINVAL, "shorter than the clusters");
	/* Encode: round trip, no stray bits, no room. */
	for (int i = 0; i < 16; i++) {
		src[i] = (uint8_t)(i * 37 + 1);
	}
	cr_assert_eq(blob_mask_encode(buf, sizeof(buf), BLOB_MASK_USED_BLOBIDS, src, 123), 0);
	cr_assert_eq(buf[5 + 15], src[15] & 0x07, "bits past nbits are zero");
	cr_assert_eq(blob_mask_decode(buf, sizeof(buf), BLOB_MASK_USED_BLOBIDS, 123, bits, &e), 0);
	cr_assert_arr_eq(bits, src, 15);
	cr_assert_eq(blob_mask_encode(buf, 10, BLOB_MASK_USED_BLOBIDS, src, 123), -ENOSPC);
}

Test(blob_format, md_page_checks)
{
	struct blob_md_page p;
	struct blob_fmt_err e;

	blob_md_page_init(&p, 0x100000002ULL, 1);
	blob_md_page_seal(&p, 5);
	cr_assert_eq(blob_md_page_check(&p, 3, 0x100000002ULL, 1, 64, &e), 0, "%s", e.msg);
	cr_assert_eq(blob_md_page_check(&p, 3, 0x100000004ULL, 1, 64, &e), -EINVAL, "wrong blob");
	cr_assert_eq(blob_md_page_check(&p, 3, 0x100000002ULL, 0, 64, &e), -EINVAL,
		     "wrong sequence");
	cr_assert_eq(blob_md_page_check(&p, 3, 0x100000002ULL, 1, 5, &e), -ERANGE,
		     "next 5 outside 5 md pages");
	blob_md_page_seal(&p, BLOB_MD_PAGE_INVALID);
	cr_assert_eq(blob_md_page_check(&p, 3, 0x100000002ULL, 1, 5, &e), 0, "no next page");
	p.descriptors[7] ^= 0x40;
	cr_assert_eq(blob_md_page_check(&p, 3, 0x100000002ULL, 1, 64, &e), -EBADMSG, "bad CRC");
	cr_assert(strstr(e.msg, "CRC") != NULL, "message: %s", e.msg);
}

/* Write a raw descriptor header at `off` of the page's descriptor area. */
static void put_desc(struct blob_md_page *p, uint32_t off, uint8_t type, uint32_t len)
{
	struct blob_desc_hdr h = {.type = type, .length = len};

	memcpy(p->descriptors + off, &h, sizeof(h));
}

static int walk(const struct blob_md_page *p, bool strict, int *count)
{
	struct blob_desc_iter it;
	struct blob_desc d;
	int rc;

	*count = 0;
	blob_desc_iter_init(&it, p, strict);
	for (int guard = 0; guard < 5000; guard++) {
		rc = blob_desc_iter_next(&it, &d, NULL);
		if (rc == 0 || rc == -EINVAL) {
			return rc;
		}
		cr_assert_leq(d.offset + 5 + d.length, BLOB_DESCS_SIZE,
			      "descriptor inside the page");
		(*count)++;
	}
	cr_assert_fail("descriptor walk did not end");
	return 0;
}

Test(blob_format, descriptors_corrupt)
{
	struct blob_md_page p;
	int n;

	blob_md_page_init(&p, 0x100000000ULL, 0);
	put_desc(&p, 0, BLOB_DESC_XATTR, 5000);
	cr_assert_eq(walk(&p, false, &n), -EINVAL, "length past the page");
	blob_md_page_init(&p, 0x100000000ULL, 0);
	put_desc(&p, 4060, BLOB_DESC_XATTR, 10);
	p.descriptors[0] = 0;
	put_desc(&p, 0, 7, 4055); /* unknown type running up to offset 4060 */
	cr_assert_eq(walk(&p, false, &n), -EINVAL, "last descriptor ends 3 bytes past the page");
	cr_assert_eq(n, 1);
	blob_md_page_init(&p, 0x100000000ULL, 0);
	put_desc(&p, 0, BLOB_DESC_FLAGS, 0);
	cr_assert_eq(walk(&p, false, &n), -EINVAL, "zero-length flags");
	put_desc(&p, 0, BLOB_DESC_XATTR, 0);
	cr_assert_eq(walk(&p, false, &n), -EINVAL, "zero-length xattr");
	put_desc(&p, 0, BLOB_DESC_EXTENT_PAGE, 4);
	cr_assert_eq(walk(&p, false, &n), -EINVAL, "extent page without clusters");
	put_desc(&p, 0, BLOB_DESC_EXTENT_RLE, 12);
	cr_assert_eq(walk(&p, false, &n), -EINVAL, "half an extent run");
	put_desc(&p, 0, BLOB_DESC_EXTENT_TABLE, 4);
	cr_assert_eq(walk(&p, false, &n), -EINVAL, "extent table shorter than its count");
	/* Zero-length descriptors of an unknown type: the walk ends at the page's end. */
	for (uint32_t off = 0; off + 5 <= BLOB_DESCS_SIZE; off += 5) {
		put_desc(&p, off, 9, 0);
	}
	cr_assert_eq(walk(&p, false, &n), 0);
	cr_assert_eq(n, BLOB_DESCS_SIZE / 5, "expected %u descriptors, got %d", BLOB_DESCS_SIZE / 5,
		     n);
	/* Padding with a length is skipped; a zero header ends the page. */
	blob_md_page_init(&p, 0x100000000ULL, 0);
	put_desc(&p, 0, BLOB_DESC_PADDING, 3);
	put_desc(&p, 8, BLOB_DESC_FLAGS, 24);
	put_desc(&p, 100, BLOB_DESC_FLAGS, 24);
	cr_assert_eq(walk(&p, true, &n), 0);
	cr_assert_eq(n, 1, "expected the flags only, got %d descriptors", n);
}

Test(blob_format, unknown_type)
{
	struct blob_md_page p;
	struct blob_desc_iter it;
	struct blob_desc d;
	struct blob_fmt_err e;

	blob_md_page_init(&p, 0x100000000ULL, 0);
	put_desc(&p, 0, 42, 3);
	put_desc(&p, 8, BLOB_DESC_FLAGS, 24);
	blob_desc_iter_init(&it, &p, true);
	cr_assert_eq(blob_desc_iter_next(&it, &d, &e), -ENOTSUP, "strict: unknown type");
	cr_assert_eq(d.type, 42);
	cr_assert_eq(blob_desc_iter_next(&it, &d, &e), 1, "the walk goes on past it");
	cr_assert_eq(d.type, BLOB_DESC_FLAGS);
	cr_assert_eq(blob_desc_iter_next(&it, &d, &e), 0);
	blob_desc_iter_init(&it, &p, false);
	cr_assert_eq(blob_desc_iter_next(&it, &d, &e), 1, "lenient: handed out");
	cr_assert_eq(d.type, 42);
	cr_assert_not(blob_desc_type_known(42));
	cr_assert(blob_desc_type_known(BLOB_DESC_EXTENT_PAGE));
}

/* A page holding one descriptor of `type` with `body`, and that descriptor. */
static struct blob_desc one_desc(struct blob_md_page *p, uint8_t type, const void *body,
				 uint32_t len)
{
	struct blob_desc_iter it;
	struct blob_desc d;

	blob_md_page_init(p, 0x100000000ULL, 0);
	put_desc(p, 0, type, len);
	memcpy(p->descriptors + 5, body, len);
	blob_desc_iter_init(&it, p, true);
	cr_assert_eq(blob_desc_iter_next(&it, &d, NULL), 1);
	return d;
}

Test(blob_format, decoders_corrupt)
{
	struct blob_md_page p;
	struct blob_desc d;
	struct blob_fmt_err e;
	uint8_t body[64] = {0};
	uint16_t l[2];
	uint32_t u[4];

	/* xattr: name and value lengths must add up to the descriptor. */
	struct blob_xattr_view x;
	l[0] = 5;
	l[1] = 5;
	memcpy(body, l, 4);
	d = one_desc(&p, BLOB_DESC_XATTR, body, 10);
	cr_assert_eq(blob_desc_xattr_decode(&d, &x, &e), -EINVAL, "value past the descriptor");
	l[0] = 60000;
	l[1] = 0;
	memcpy(body, l, 4);
	d = one_desc(&p, BLOB_DESC_XATTR, body, 10);
	cr_assert_eq(blob_desc_xattr_decode(&d, &x, &e), -EINVAL, "name past the descriptor");
	l[0] = 3;
	l[1] = 3;
	memcpy(body, l, 4);
	d = one_desc(&p, BLOB_DESC_XATTR, body, 10);
	cr_assert_eq(blob_desc_xattr_decode(&d, &x, &e), 0, "%s", e.msg);
	cr_assert_eq(blob_desc_xattr_decode(&d, &x, &e), 0);
	/* extent runs past the device's clusters */
	struct blob_extent_rle_view rv;
	u[0] = 60;
	u[1] = 10;
	d = one_desc(&p, BLOB_DESC_EXTENT_RLE, u, 8);
	cr_assert_eq(blob_desc_extent_rle_decode(&d, 64, &rv, &e), -ERANGE, "run past 64 clusters");
	cr_assert_eq(blob_desc_extent_rle_decode(&d, 70, &rv, &e), 0, "%s", e.msg);
	u[0] = UINT32_MAX;
	u[1] = UINT32_MAX;
	d = one_desc(&p, BLOB_DESC_EXTENT_RLE, u, 8);
	cr_assert_eq(blob_desc_extent_rle_decode(&d, 64, &rv, &e), -ERANGE, "run wraps");
	u[0] = 0;
	d = one_desc(&p, BLOB_DESC_EXTENT_RLE, u, 8);
	cr_assert_eq(blob_desc_extent_rle_decode(&d, 64, &rv, &e), 0,
		     "unallocated run of any size");
	cr_assert_eq(blob_desc_flags_decode(&d, &(struct blob_flags){0}, &e), -EINVAL,
		     "decoding a descriptor as the wrong type");
	/* extent page: clusters past the device, too many clusters */
	struct blob_extent_page_view pv;
	u[0] = 0;
	u[1] = 5;
	u[2] = 64;
	d = one_desc(&p, BLOB_DESC_EXTENT_PAGE, u, 12);
	cr_assert_eq(blob_desc_extent_page_decode(&d, 64, &pv, &e), -ERANGE, "cluster 64 of 64");
	cr_assert_eq(blob_desc_extent_page_decode(&d, 65, &pv, &e), 0, "%s", e.msg);
	cr_assert_eq(pv.count, 2);
	uint32_t many[514] = {0};
	d = one_desc(&p, BLOB_DESC_EXTENT_PAGE, many, sizeof(many));
	cr_assert_eq(blob_desc_extent_page_decode(&d, 64, &pv, &e), -EINVAL, "513 clusters");
	/* extent table: page outside the md region, a run length on an allocated page */
	struct blob_extent_table_view tv;
	uint32_t t[4] = {8, 0, 64, 1};
	d = one_desc(&p, BLOB_DESC_EXTENT_TABLE, t, 16);
	cr_assert_eq(blob_desc_extent_table_decode(&d, 64, &tv, &e), -ERANGE, "page 64 of 64");
	t[2] = 5;
	t[3] = 2;
	d = one_desc(&p, BLOB_DESC_EXTENT_TABLE, t, 16);
	cr_assert_eq(blob_desc_extent_table_decode(&d, 64, &tv, &e), -EINVAL, "page run of 2");
	t[2] = 0;
	d = one_desc(&p, BLOB_DESC_EXTENT_TABLE, t, 16);
	cr_assert_eq(blob_desc_extent_table_decode(&d, 64, &tv, &e), 0, "unallocated run");
	cr_assert_eq(tv.num_clusters, 8);
}

Test(blob_format, flags_access)
{
	struct blob_flags f = {.invalid = BLOB_FLAG_THIN_PROV | BLOB_FLAG_EXTENT_TABLE};
	bool dro, mro;

	cr_assert_eq(blob_flags_access(&f, &dro, &mro, NULL), 0);
	cr_assert_not(dro || mro);
	f.invalid |= 1ULL << 10;
	cr_assert_eq(blob_flags_access(&f, &dro, &mro, NULL), -ENOTSUP, "unknown invalid flag");
	f.invalid = 0;
	f.data_ro = BLOB_FLAG_READ_ONLY;
	cr_assert_eq(blob_flags_access(&f, &dro, &mro, NULL), 0);
	cr_assert(dro && mro, "read-only blob");
	f.data_ro = 1ULL << 5;
	cr_assert_eq(blob_flags_access(&f, &dro, &mro, NULL), 0);
	cr_assert(dro && mro, "unknown data_ro flag");
	f.data_ro = 0;
	f.md_ro = BLOB_CLEAR_WITH_UNMAP;
	cr_assert_eq(blob_flags_access(&f, &dro, &mro, NULL), 0);
	cr_assert(!dro && !mro, "a clear method is known");
	f.md_ro = 1ULL << 7;
	cr_assert_eq(blob_flags_access(&f, &dro, &mro, NULL), 0);
	cr_assert(!dro && mro, "unknown md_ro flag");
}

Test(blob_format, writer_round_trip)
{
	struct blob_md_page p, before;
	struct blob_md_writer w;
	struct blob_desc_iter it;
	struct blob_desc d;
	struct blob_flags f = {.invalid = BLOB_FLAG_THIN_PROV, .md_ro = BLOB_CLEAR_WITH_NONE}, g;
	struct blob_extent_run runs[3] = {{0, 4}, {10, 2}, {20, 1}};
	struct blob_xattr_view x;
	struct blob_extent_rle_view rv;
	char big[3000];
	int rc, n = 0;

	blob_md_page_init(&p, 0x100000007ULL, 0);
	blob_md_writer_init(&w, &p);
	cr_assert_eq(blob_md_add_flags(&w, &f), 0);
	cr_assert_eq(blob_md_add_xattr(&w, true, "SNAP", 4, "\x01\x02", 2), 0);
	cr_assert_eq(blob_md_add_extent_rle(&w, runs, 3), 0);
	cr_assert_eq(blob_md_add_extent_rle(&w, runs, 0), -EINVAL);
	cr_assert_eq(blob_md_add_xattr(&w, false, "n", 70000, "", 0), -EINVAL);
	memset(big, 'b', sizeof(big));
	cr_assert_eq(blob_md_add_xattr(&w, false, "big", 3, big, sizeof(big)), 0);
	/* Full: the next add fails and leaves the page as it was. */
	before = p;
	cr_assert_eq(blob_md_add_xattr(&w, false, "big", 3, big, 1000), -ENOSPC);
	cr_assert_arr_eq(&p, &before, sizeof(p), "a failed add changed the page");
	blob_md_page_seal(&p, 9);
	cr_assert(blob_md_page_crc_ok(&p));
	cr_assert_eq(p.next, 9);

	blob_desc_iter_init(&it, &p, true);
	while ((rc = blob_desc_iter_next(&it, &d, NULL)) == 1) {
		switch (n++) {
		case 0:
			cr_assert_eq(blob_desc_flags_decode(&d, &g, NULL), 0);
			cr_assert_arr_eq(&g, &f, sizeof(f));
			break;
		case 1:
			cr_assert_eq(blob_desc_xattr_decode(&d, &x, NULL), 0);
			cr_assert(x.internal);
			cr_assert_eq(x.name_len, 4);
			cr_assert_arr_eq(x.name, "SNAP", 4);
			cr_assert_eq(x.value_len, 2);
			break;
		case 2:
			cr_assert_eq(blob_desc_extent_rle_decode(&d, 64, &rv, NULL), 0);
			cr_assert_eq(rv.count, 3);
			cr_assert_eq(blob_extent_rle_get(&rv, 1).cluster_idx, 10);
			cr_assert_eq(blob_extent_rle_get(&rv, 1).length, 2);
			break;
		default:
			cr_assert_eq(blob_desc_xattr_decode(&d, &x, NULL), 0);
			cr_assert_eq(x.value_len, sizeof(big));
			break;
		}
	}
	cr_assert_eq(rc, 0);
	cr_assert_eq(n, 4, "expected 4 descriptors, got %d", n);
	/* An extent page is limited to 512 clusters, and needs one. */
	uint32_t cl[513] = {0};
	blob_md_page_init(&p, 0x100000007ULL, 0);
	blob_md_writer_init(&w, &p);
	cr_assert_eq(blob_md_add_extent_page(&w, 0, cl, 513), -EINVAL);
	cr_assert_eq(blob_md_add_extent_page(&w, 0, cl, 0), -EINVAL);
	cr_assert_eq(blob_md_add_extent_page(&w, 512, cl, 512), 0);
	cr_assert_eq(blob_md_add_extent_table(&w, 0, NULL, 0), 0, "an empty table (0 clusters)");
}
