/*
 * Writes the seeds of the blob_md fuzzer (input format: blob_md_common.h):
 *
 *   gen_blob_md_corpus OUTDIR [TESTDATA_DIR]
 *
 * The base store as it is (clean, dirty, forced recovery, each change the
 * fuzzer makes after a load), patches that hit each kind of metadata of it
 * (super block fields, masks, md page headers, every descriptor type, an
 * interrupted snapshot or snapshot removal), and, when TESTDATA_DIR (or
 * $SPIO_TESTDATA) holds SPDK's images, their metadata regions as patches
 * over zeroes, clean and dirty.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob_format.h"
#include "blob_md_common.h"

#define SEED_MAX (64u << 10)

static const char *g_out;
static const uint8_t *g_img; /* the base image */
static uint32_t g_md_start;

struct seed {
	uint8_t b[SEED_MAX];
	size_t n;
};

static void seed_start(struct seed *s, uint8_t flags)
{
	s->b[0] = flags;
	s->n = 1;
}

static void patch(struct seed *s, uint32_t off, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		size_t n = len > 255 ? 255 : len;

		if (s->n + 4 + n > SEED_MAX) {
			bmd_die("seed too large");
		}
		s->b[s->n++] = (uint8_t)off;
		s->b[s->n++] = (uint8_t)(off >> 8);
		s->b[s->n++] = (uint8_t)(off >> 16);
		s->b[s->n++] = (uint8_t)n;
		memcpy(s->b + s->n, p, n);
		s->n += n;
		off += (uint32_t)n;
		p += n;
		len -= n;
	}
}

static void patch32(struct seed *s, uint32_t off, uint32_t v)
{
	patch(s, off, &v, 4);
}

static void patch64(struct seed *s, uint32_t off, uint64_t v)
{
	patch(s, off, &v, 8);
}

static void save(const struct seed *s, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", g_out, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(s->b, 1, s->n, f) != s->n || fclose(f) != 0) {
		bmd_die("cannot write %s", path);
	}
}

static void one(const char *name, uint8_t flags, uint32_t off, const void *data, size_t len)
{
	struct seed s;

	seed_start(&s, flags);
	patch(&s, off, data, len);
	save(&s, name);
}

static void one32(const char *name, uint8_t flags, uint32_t off, uint32_t v)
{
	one(name, flags, off, &v, 4);
}

/* Byte offset of md page `page` (an md index) in the base image. */
static uint32_t md_off(uint32_t page)
{
	return (g_md_start + page) * BMD_BLOCKLEN;
}

static uint32_t id_off(spio_blob_id id)
{
	return md_off(blob_id_to_page(id));
}

/* The first descriptor of `type` in the md page at byte offset `page_off`; UINT32_MAX if none. */
static uint32_t find_desc(uint32_t page_off, uint8_t type, uint32_t nth)
{
	const struct blob_md_page *page = (const void *)(g_img + page_off);
	struct blob_desc_iter it;
	struct blob_desc d;

	blob_desc_iter_init(&it, page, false);
	while (blob_desc_iter_next(&it, &d, NULL) == 1) {
		if (d.type == type && nth-- == 0) {
			return page_off + (uint32_t)offsetof(struct blob_md_page, descriptors) +
			       d.offset;
		}
	}
	return UINT32_MAX;
}

/* Where the descriptors of the page end (room for more). */
static uint32_t desc_end(uint32_t page_off)
{
	const struct blob_md_page *page = (const void *)(g_img + page_off);
	struct blob_desc_iter it;
	struct blob_desc d;
	uint32_t end = 0;

	blob_desc_iter_init(&it, page, false);
	while (blob_desc_iter_next(&it, &d, NULL) == 1) {
		end = d.offset + (uint32_t)sizeof(struct blob_desc_hdr) + d.length;
	}
	return page_off + (uint32_t)offsetof(struct blob_md_page, descriptors) + end;
}

static uint32_t rd32(uint32_t off)
{
	uint32_t v;

	memcpy(&v, g_img + off, 4);
	return v;
}

static uint32_t need(uint32_t off, const char *what)
{
	if (off == UINT32_MAX) {
		bmd_die("base store has no %s", what);
	}
	return off;
}

/* An internal xattr `name` = `id` appended to the blob's first page, its flag set. */
static void add_internal(struct seed *s, spio_blob_id blob, const char *name, spio_blob_id value)
{
	uint8_t d[64];
	uint16_t nl = (uint16_t)strlen(name), vl = 8;
	uint32_t len = 4u + nl + vl;
	uint32_t flags = need(find_desc(id_off(blob), BLOB_DESC_FLAGS, 0), "flags");
	uint64_t inv;

	d[0] = BLOB_DESC_XATTR_INTERNAL;
	memcpy(d + 1, &len, 4);
	memcpy(d + 5, &nl, 2);
	memcpy(d + 7, &vl, 2);
	memcpy(d + 9, name, nl);
	memcpy(d + 9 + nl, &value, 8);
	patch(s, desc_end(id_off(blob)), d, 9u + nl + vl);
	memcpy(&inv, g_img + flags + offsetof(struct blob_desc_flags, invalid_flags), 8);
	patch64(s, flags + (uint32_t)offsetof(struct blob_desc_flags, invalid_flags),
		inv | BLOB_FLAG_INTERNAL_XATTR);
}

static void base_seeds(void)
{
	const struct blob_super_block *sb = (const void *)g_img;
	struct seed s;
	uint32_t o;
	uint8_t zero[64] = {0};

	g_md_start = sb->md_start;
	seed_start(&s, 0);
	save(&s, "base-clean");
	seed_start(&s, BMD_DIRTY);
	save(&s, "base-dirty");
	seed_start(&s, BMD_FORCE);
	save(&s, "base-force-recover");
	seed_start(&s, BMD_SHRINK | BMD_DELETE | BMD_NO_SNAPSHOT);
	save(&s, "base-shrink-delete");
	seed_start(&s, BMD_NO_CREATE | BMD_DELETE | BMD_DIRTY);
	save(&s, "base-dirty-delete");
	seed_start(&s, BMD_NOCRC);
	patch32(&s, md_off(blob_id_to_page(bmd_ids.thick)) + 100, 0x12345678);
	save(&s, "base-md-crc-bad");

	/* Super block fields */
	one32("super-version-2", BMD_DIRTY, offsetof(struct blob_super_block, version), 2);
	one32("super-no-blobid-mask", 0, offsetof(struct blob_super_block, used_blobid_mask_len),
	      0);
	one32("super-md-len-plus", 0, offsetof(struct blob_super_block, md_len), sb->md_len + 1);
	one32("super-md-len-minus", BMD_DIRTY, offsetof(struct blob_super_block, md_len),
	      sb->md_len - 8);
	one32("super-cluster-size", 0, offsetof(struct blob_super_block, cluster_size),
	      sb->cluster_size / 2);
	one32("super-size-zero", 0, offsetof(struct blob_super_block, size), 0);
	one32("super-super-blob", 0, offsetof(struct blob_super_block, super_blob),
	      (uint32_t)bmd_ids.rle);
	one("super-bstype", 0, offsetof(struct blob_super_block, bstype), "LVOLSTORE", 9);

	/* Masks: a used cluster, md page and blob id shown free; a wrong length. */
	o = sb->used_cluster_mask_start * BMD_BLOCKLEN + 5;
	one("mask-clusters-cleared", 0, o, zero, 2);
	one("mask-clusters-cleared-dirty", BMD_DIRTY, o, zero, 2);
	one32("mask-clusters-length", 0, sb->used_cluster_mask_start * BMD_BLOCKLEN + 1, 1000);
	one("mask-pages-cleared", 0, sb->used_page_mask_start * BMD_BLOCKLEN + 5, zero, 1);
	one("mask-blobids-cleared", 0, sb->used_blobid_mask_start * BMD_BLOCKLEN + 5, zero, 1);
	one("mask-blobids-extra", 0, sb->used_blobid_mask_start * BMD_BLOCKLEN + 5 + 3, "\xff", 1);

	/* Md page headers: a chain's next, sequence and id. */
	o = id_off(bmd_ids.many);
	one32("page-next-self", 0, o + offsetof(struct blob_md_page, next),
	      blob_id_to_page(bmd_ids.many));
	one32("page-next-self-dirty", BMD_DIRTY, o + offsetof(struct blob_md_page, next),
	      blob_id_to_page(bmd_ids.many));
	one32("page-next-out", 0, o + offsetof(struct blob_md_page, next), 100000);
	one32("page-next-end", 0, o + offsetof(struct blob_md_page, next), BLOB_MD_PAGE_INVALID);
	one32("page-sequence", 0, o + offsetof(struct blob_md_page, sequence_num), 1);
	one32("page-id", BMD_DIRTY, id_off(bmd_ids.rle), (uint32_t)bmd_ids.thin);

	/* Descriptors: each type, a few ways. */
	o = need(find_desc(id_off(bmd_ids.rle), BLOB_DESC_EXTENT_RLE, 0), "extent rle");
	one32("desc-rle-length", 0, o + 1, 7);
	one32("desc-rle-cluster-shared", 0, o + 5,
	      rd32(need(find_desc(id_off(bmd_ids.thin_rle), BLOB_DESC_EXTENT_RLE, 0), "thin rle") +
		   5 + 8));
	one32("desc-rle-cluster-shared-dirty", BMD_DIRTY, o + 5, 3);
	one32("desc-rle-cluster-out", 0, o + 5, 1000);
	one32("desc-rle-run-long", 0, o + 9, 0x10000);
	one32("desc-rle-run-huge", BMD_DIRTY, o + 9, 0xffffffff);

	o = need(find_desc(id_off(bmd_ids.thin), BLOB_DESC_EXTENT_TABLE, 0), "extent table");
	one32("desc-table-length", 0, o + 1, 12);
	seed_start(&s, 0);
	patch64(&s, o + 5, 40);
	save(&s, "desc-table-num-clusters");
	seed_start(&s, BMD_DIRTY);
	patch64(&s, o + 5, UINT64_C(1) << 36);
	save(&s, "desc-table-num-clusters-huge");
	one32("desc-table-page-other", 0, o + 13, blob_id_to_page(bmd_ids.rle));
	one32("desc-table-page-zero", 0, o + 13, 0);
	one32("desc-table-run", 0, o + 17, 7);

	/* The thin blob's extent page: the page its table names. */
	{
		uint32_t ep = rd32(o + 13);
		uint32_t d = need(find_desc(md_off(ep), BLOB_DESC_EXTENT_PAGE, 0), "extent page");

		one32("desc-ep-start", 0, d + 5, 1);
		one32("desc-ep-cluster-out", 0, d + 9 + 8, 5000);
		one32("desc-ep-cluster-meta", 0, d + 9 + 8, 1);
		one32("desc-ep-length", 0, d + 1, 3);
		one32("ep-id", 0, md_off(ep), (uint32_t)bmd_ids.rle);
		one32("ep-sequence", BMD_DIRTY, md_off(ep) + 8, 1);
	}

	o = need(find_desc(id_off(bmd_ids.thick), BLOB_DESC_XATTR, 0), "xattr");
	one32("desc-xattr-length", 0, o + 1, 3);
	one("desc-xattr-name-len", 0, o + 5, "\xff\x00", 2);
	one("desc-xattr-value-len", 0, o + 7, "\x00\x10", 2);
	one("desc-xattr-type-unknown", 0, o, "\x09", 1);
	one("desc-xattr-type-padding", BMD_DIRTY, o, "\x00", 1);

	o = need(find_desc(id_off(bmd_ids.thick), BLOB_DESC_XATTR_INTERNAL, 0), "internal xattr");
	one32("desc-snap-parent-self", 0, o + 9 + 4, (uint32_t)bmd_ids.thick);
	one32("desc-snap-parent-free", 0, o + 9 + 4, 30);
	one32("desc-snap-parent-thin", BMD_DIRTY, o + 9 + 4, (uint32_t)bmd_ids.thin);
	one("desc-snap-len", 0, o + 7, "\x04\x00", 2);

	o = need(find_desc(id_off(bmd_ids.ro), BLOB_DESC_FLAGS, 0), "flags");
	seed_start(&s, 0);
	patch64(&s, o + 5, UINT64_C(1) << 9);
	save(&s, "desc-flags-invalid-unknown");
	seed_start(&s, 0);
	patch64(&s, o + 5, BLOB_FLAG_EXTENT_TABLE | BLOB_FLAG_THIN_PROV);
	save(&s, "desc-flags-table-thin");
	seed_start(&s, 0);
	patch64(&s, o + 13, UINT64_C(1) << 7);
	save(&s, "desc-flags-data-ro-unknown");
	seed_start(&s, 0);
	patch64(&s, o + 13, 0);
	save(&s, "desc-flags-ro-cleared");
	seed_start(&s, 0);
	patch64(&s, o + 21, 0x1c);
	save(&s, "desc-flags-md-ro-unknown");
	seed_start(&s, BMD_DIRTY);
	patch64(&s, o + 5, BLOB_FLAG_EXTERNAL_SNAPSHOT);
	save(&s, "desc-flags-esnap");

	/* The many-xattr chain: its second page's first xattr. */
	{
		uint32_t next = rd32(id_off(bmd_ids.many) + offsetof(struct blob_md_page, next));

		o = need(find_desc(md_off(next), BLOB_DESC_XATTR, 0), "chained xattr");
		one32("chain-xattr-length", 0, o + 1, 5000);
		one32("chain-page-id", BMD_DIRTY, md_off(next), (uint32_t)bmd_ids.thin);
		one32("chain-next-first", 0, md_off(next) + offsetof(struct blob_md_page, next),
		      blob_id_to_page(bmd_ids.many));
	}

	/* Snapshots a crash interrupted (recovery settles them). */
	seed_start(&s, BMD_DIRTY);
	add_internal(&s, bmd_ids.snap, "SNAPTMP", bmd_ids.thick);
	save(&s, "snaptmp-taken");
	seed_start(&s, BMD_DIRTY);
	add_internal(&s, bmd_ids.ro, "SNAPTMP", bmd_ids.rle);
	save(&s, "snaptmp-not-taken");
	seed_start(&s, BMD_DIRTY);
	add_internal(&s, bmd_ids.snap, "SNAPRM", bmd_ids.clone);
	save(&s, "snaprm-clone");
	seed_start(&s, BMD_DIRTY);
	add_internal(&s, bmd_ids.ro, "SNAPRM", bmd_ids.thin);
	save(&s, "snaprm-not-clone");
	seed_start(&s, 0);
	add_internal(&s, bmd_ids.snap, "SNAPTMP", bmd_ids.thick);
	save(&s, "snaptmp-clean");
}

/* An SPDK image's metadata region, as patches over zeroes. */
static void image_seeds(const char *dir, const char *base)
{
	char path[4096], cmd[4200], name[128];
	uint8_t *img = calloc(1, BMD_META_BYTES);
	struct seed *s = malloc(sizeof(*s));
	size_t got = 0, n;
	FILE *p;

	snprintf(path, sizeof(path), "%s/%s.img.gz", dir, base);
	snprintf(cmd, sizeof(cmd), "gzip -dc '%s'", path);
	p = popen(cmd, "r");
	if (img == NULL || s == NULL || p == NULL) {
		bmd_die("cannot read %s", path);
	}
	while (got < BMD_META_BYTES && (n = fread(img + got, 1, BMD_META_BYTES - got, p)) > 0) {
		got += n;
	}
	/* The rest is data: not needed (and the pipe may complain about being closed). */
	pclose(p);
	if (got < BMD_META_BYTES) {
		fprintf(stderr, "gen_blob_md_corpus: %s: short, skipped\n", path);
		free(img);
		free(s);
		return;
	}
	for (int dirty = 0; dirty < 2; dirty++) {
		seed_start(s, BMD_ZERO | (dirty ? BMD_DIRTY : 0));
		for (uint32_t off = 0; off < BMD_META_BYTES;) {
			uint32_t end;

			if (img[off] == 0) {
				off++;
				continue;
			}
			/* A run ends where 8 zero bytes in a row start. */
			end = off;
			while (end < BMD_META_BYTES) {
				uint32_t z = 0;

				while (end + z < BMD_META_BYTES && z < 8 && img[end + z] == 0) {
					z++;
				}
				if (z == 8 || end + z == BMD_META_BYTES) {
					break;
				}
				end += z + 1;
			}
			patch(s, off, img + off, end - off);
			off = end;
		}
		snprintf(name, sizeof(name), "spdk-%s%s", base, dirty ? "-dirty" : "");
		save(s, name);
	}
	free(img);
	free(s);
}

int main(int argc, char **argv)
{
	const char *data = argc > 2 ? argv[2] : getenv("SPIO_TESTDATA");

	if (argc < 2) {
		fprintf(stderr, "usage: %s OUTDIR [TESTDATA_DIR]\n", argv[0]);
		return 2;
	}
	g_out = argv[1];
	bmd_env_init("gen_blob_md_corpus", false);
	bmd_base_build();
	g_img = bmd_base();
	base_seeds();
	if (data != NULL && data[0] != '\0') {
		image_seeds(data, "blobcli-basic");
		image_seeds(data, "lvol-basic");
	} else {
		fprintf(stderr,
			"gen_blob_md_corpus: no test data directory: SPDK images skipped\n");
	}
	return 0;
}
