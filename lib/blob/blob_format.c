/*
 * Decoding and encoding of the blobstore's on-disk structures (see
 * blob_format.h). Everything read from a device is distrusted: every length
 * and index is checked against the buffer it lives in before it is used.
 */
#include "blob_format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spio/util.h"

int blob_fmt_fail(struct blob_fmt_err *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

static bool is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static uint64_t div_round_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

uint32_t blob_page_crc(const void *page)
{
	/* SPDK: CRC32C over all but the crc field itself, standard seed and final xor. */
	return spio_crc32c(page, BLOB_PAGE_SIZE - sizeof(uint32_t));
}

void blob_super_set_crc(struct blob_super_block *super)
{
	super->crc = blob_page_crc(super);
}

bool blob_super_crc_ok(const struct blob_super_block *super)
{
	return super->crc == blob_page_crc(super);
}

int blob_super_mask_region(const struct blob_super_block *super, uint8_t type, uint64_t *start,
			   uint64_t *len)
{
	switch (type) {
	case BLOB_MASK_USED_PAGES:
		*start = super->used_page_mask_start;
		*len = super->used_page_mask_len;
		return 0;
	case BLOB_MASK_USED_CLUSTERS:
		*start = super->used_cluster_mask_start;
		*len = super->used_cluster_mask_len;
		return 0;
	case BLOB_MASK_USED_BLOBIDS:
		*start = super->used_blobid_mask_start;
		*len = super->used_blobid_mask_len;
		return 0;
	default:
		return -EINVAL;
	}
}

static const char *const g_region_names[] = {"used page mask", "used cluster mask",
					     "used blob id mask", "md region"};

/* The super block's sizes, with the zeroes of old images read as SPDK does. */
static int geometry_sizes(const struct blob_super_block *super, uint64_t blockcnt,
			  uint32_t blocklen, struct blob_geometry *g, struct blob_fmt_err *err)
{
	uint64_t dev_bytes;

	if (!is_pow2(blocklen) || blocklen < 512 || blockcnt == 0 ||
	    blockcnt > UINT64_MAX / blocklen) {
		return blob_fmt_fail(err, -EINVAL,
				     "device of %" PRIu64 " blocks of %" PRIu32 " bytes", blockcnt,
				     blocklen);
	}
	dev_bytes = blockcnt * blocklen;
	if (super->length != sizeof(*super)) {
		return blob_fmt_fail(err, -EINVAL, "super block length %" PRIu32 ", expected %zu",
				     super->length, sizeof(*super));
	}
	g->blocklen = blocklen;
	g->md_page_size = super->md_page_size != 0 ? super->md_page_size : BLOB_PAGE_SIZE;
	g->io_unit_size = super->io_unit_size != 0 ? super->io_unit_size : BLOB_PAGE_SIZE;
	g->cluster_size = super->cluster_size;
	g->size = super->size != 0 ? super->size : dev_bytes;
	if (!is_pow2(g->md_page_size) || g->md_page_size < BLOB_PAGE_SIZE ||
	    g->md_page_size < blocklen) {
		return blob_fmt_fail(err, -EINVAL,
				     "md page size %" PRIu32
				     ": expected a power of two >= 4096 and >= "
				     "the block size %" PRIu32,
				     g->md_page_size, blocklen);
	}
	if (!is_pow2(g->io_unit_size) || g->io_unit_size < blocklen) {
		return blob_fmt_fail(err, -EINVAL,
				     "io unit size %" PRIu32
				     ": expected a power of two >= the block "
				     "size %" PRIu32,
				     g->io_unit_size, blocklen);
	}
	if (g->cluster_size == 0 || g->cluster_size % g->md_page_size != 0 ||
	    g->cluster_size % g->io_unit_size != 0) {
		return blob_fmt_fail(err, -EINVAL,
				     "cluster size %" PRIu32
				     ": expected a multiple of the md page size %" PRIu32
				     " and of the io unit size %" PRIu32,
				     g->cluster_size, g->md_page_size, g->io_unit_size);
	}
	if (g->size > dev_bytes) {
		return blob_fmt_fail(
		    err, -ERANGE, "blobstore size %" PRIu64 " bytes beyond the device's %" PRIu64,
		    g->size, dev_bytes);
	}
	g->total_clusters = g->size / g->cluster_size;
	if (g->total_clusters == 0) {
		return blob_fmt_fail(err, -EINVAL,
				     "blobstore size %" PRIu64 " below one cluster of %" PRIu32,
				     g->size, g->cluster_size);
	}
	g->pages_per_cluster = g->cluster_size / g->md_page_size;
	g->md_start = super->md_start;
	g->md_len = super->md_len;
	return 0;
}

int blob_super_check_geometry(const struct blob_super_block *super, uint64_t blockcnt,
			      uint32_t blocklen, struct blob_geometry *geo,
			      struct blob_fmt_err *err)
{
	struct blob_geometry g;
	uint64_t start[4], len[4], need[4], most[4], pages, end = 1, md_mask_pages;
	int rc;

	rc = geometry_sizes(super, blockcnt, blocklen, &g, err);
	if (rc != 0) {
		return rc;
	}
	/*
	 * A mask needs room for its bits; it may not be larger than SPDK ever
	 * makes it (the cluster mask may grow up to md_len bits), so a corrupt
	 * length cannot make a reader allocate the device.
	 */
	md_mask_pages =
	    div_round_up(sizeof(struct blob_mask_hdr) + blob_mask_bytes(g.md_len), g.md_page_size);
	for (uint8_t t = BLOB_MASK_USED_PAGES; t <= BLOB_MASK_USED_BLOBIDS; t++) {
		blob_super_mask_region(super, t, &start[t], &len[t]);
		need[t] =
		    sizeof(struct blob_mask_hdr) + blob_mask_bytes(blob_mask_expected_bits(&g, t));
		most[t] = SPIO_MAX(md_mask_pages, div_round_up(need[t], g.md_page_size));
	}
	start[3] = g.md_start;
	len[3] = g.md_len;
	need[3] = 1;
	most[3] = UINT32_MAX;
	pages = g.size / g.md_page_size;
	for (int i = 0; i < 4; i++) {
		/* Version 1 and 2 had no blob id mask: SPDK rebuilds it. */
		if (len[i] == 0 && i == BLOB_MASK_USED_BLOBIDS) {
			continue;
		}
		if (len[i] == 0 || start[i] == 0 || start[i] + len[i] > pages) {
			return blob_fmt_fail(err, -ERANGE,
					     "%s at md page %" PRIu64 " length %" PRIu64
					     ": expected a non-empty region in pages 1..%" PRIu64,
					     g_region_names[i], start[i], len[i], pages - 1);
		}
		if (len[i] * g.md_page_size < need[i] || len[i] > most[i]) {
			return blob_fmt_fail(err, -EINVAL,
					     "%s of %" PRIu64 " pages for its %" PRIu64
					     " bytes (at most %" PRIu64 " pages)",
					     g_region_names[i], len[i], need[i], most[i]);
		}
		for (int j = 0; j < i; j++) {
			if (len[j] != 0 && start[i] < start[j] + len[j] &&
			    start[j] < start[i] + len[i]) {
				return blob_fmt_fail(err, -EINVAL, "%s overlaps the %s",
						     g_region_names[i], g_region_names[j]);
			}
		}
		end = SPIO_MAX(end, start[i] + len[i]);
	}
	g.md_clusters = div_round_up(end, g.pages_per_cluster);
	if (g.md_clusters > g.total_clusters) {
		return blob_fmt_fail(err, -ERANGE,
				     "metadata takes %" PRIu64 " clusters of the %" PRIu64
				     " there are",
				     g.md_clusters, g.total_clusters);
	}
	if (geo != NULL) {
		*geo = g;
	}
	return 0;
}

int blob_super_validate(const struct blob_super_block *super, uint64_t blockcnt, uint32_t blocklen,
			const uint8_t *bstype, struct blob_geometry *geo, struct blob_fmt_err *err)
{
	static const uint8_t zeroes[BLOB_BSTYPE_LEN];

	if (memcmp(super->signature, BLOB_SIGNATURE, BLOB_SIGNATURE_LEN) != 0) {
		return blob_fmt_fail(err, -EILSEQ, "signature \"%.8s\": not a blobstore",
				     (const char *)super->signature);
	}
	if (super->version < BLOB_VERSION_MIN || super->version > BLOB_VERSION) {
		return blob_fmt_fail(err, -ENOTSUP, "version %" PRIu32 ", expected %d..%d",
				     super->version, BLOB_VERSION_MIN, BLOB_VERSION);
	}
	if (!blob_super_crc_ok(super)) {
		return blob_fmt_fail(err, -EBADMSG,
				     "super block CRC 0x%08" PRIx32 ", computed 0x%08" PRIx32,
				     super->crc, blob_page_crc(super));
	}
	/* SPDK: an all-zero type asked for loads any blobstore. */
	if (bstype != NULL && memcmp(bstype, zeroes, BLOB_BSTYPE_LEN) != 0 &&
	    memcmp(bstype, super->bstype, BLOB_BSTYPE_LEN) != 0) {
		return blob_fmt_fail(err, -ENXIO, "blobstore type \"%.16s\", expected \"%.16s\"",
				     (const char *)super->bstype, (const char *)bstype);
	}
	return blob_super_check_geometry(super, blockcnt, blocklen, geo, err);
}

int blob_super_build(struct blob_super_block *super, const struct blob_super_params *p,
		     struct blob_fmt_err *err)
{
	uint32_t mps = p->md_page_size != 0 ? p->md_page_size : BLOB_PAGE_SIZE;
	uint64_t size, total_clusters, md_len, pages, cluster_mask_len, max_cluster_mask_len;

	if (!is_pow2(p->blocklen) || p->blocklen < 512 || p->blockcnt == 0 ||
	    p->blockcnt > UINT64_MAX / p->blocklen) {
		return blob_fmt_fail(err, -EINVAL,
				     "device of %" PRIu64 " blocks of %" PRIu32 " bytes",
				     p->blockcnt, p->blocklen);
	}
	if (!is_pow2(mps) || mps < BLOB_PAGE_SIZE || mps < p->blocklen || p->cluster_size == 0 ||
	    p->cluster_size % mps != 0) {
		return blob_fmt_fail(err, -EINVAL,
				     "cluster size %" PRIu32 " / md page size %" PRIu32
				     " (block size %" PRIu32
				     "): expected a power-of-two page >= 4096 dividing the cluster",
				     p->cluster_size, mps, p->blocklen);
	}
	if (p->io_unit_size != 0 && (!is_pow2(p->io_unit_size) || p->io_unit_size < p->blocklen ||
				     p->cluster_size % p->io_unit_size != 0)) {
		return blob_fmt_fail(err, -EINVAL, "io unit size %" PRIu32, p->io_unit_size);
	}
	size = p->blockcnt * p->blocklen;
	total_clusters = size / p->cluster_size;
	md_len = p->num_md_pages != 0 ? p->num_md_pages : total_clusters;
	if (total_clusters == 0 || md_len == 0 || md_len > UINT32_MAX) {
		return blob_fmt_fail(err, -EINVAL, "%" PRIu64 " clusters, %" PRIu64 " md pages",
				     total_clusters, md_len);
	}

	memset(super, 0, sizeof(*super));
	memcpy(super->signature, BLOB_SIGNATURE, BLOB_SIGNATURE_LEN);
	super->version = BLOB_VERSION;
	super->length = sizeof(*super);
	super->super_blob = SPIO_BLOBID_INVALID;
	super->cluster_size = p->cluster_size;
	super->io_unit_size = p->io_unit_size != 0 ? p->io_unit_size : p->blocklen;
	super->md_page_size = mps;
	if (p->bstype != NULL) {
		memcpy(super->bstype, p->bstype, BLOB_BSTYPE_LEN);
	}

	/* SPDK's order: super block, page mask, cluster mask (room to grow to md_len clusters),
	 * blob id mask, md. */
	pages = 1;
	super->used_page_mask_start = pages;
	super->used_page_mask_len = div_round_up(5 + blob_mask_bytes(md_len), mps);
	pages += super->used_page_mask_len;
	cluster_mask_len = div_round_up(5 + blob_mask_bytes(total_clusters), mps);
	max_cluster_mask_len = div_round_up(5 + blob_mask_bytes(md_len), mps);
	super->used_cluster_mask_start = pages;
	super->used_cluster_mask_len = cluster_mask_len;
	pages += SPIO_MAX(cluster_mask_len, max_cluster_mask_len);
	super->used_blobid_mask_start = pages;
	super->used_blobid_mask_len = div_round_up(5 + blob_mask_bytes(md_len), mps);
	pages += super->used_blobid_mask_len;
	super->md_start = pages;
	super->md_len = md_len;
	pages += md_len;
	super->size = size;
	if (div_round_up(pages, p->cluster_size / mps) > total_clusters || pages > UINT32_MAX) {
		return blob_fmt_fail(err, -ENOSPC,
				     "metadata of %" PRIu64 " pages does not fit %" PRIu64
				     " clusters of %" PRIu32 " bytes",
				     pages, total_clusters, p->cluster_size);
	}
	blob_super_set_crc(super);
	return 0;
}

uint64_t blob_mask_expected_bits(const struct blob_geometry *geo, uint8_t type)
{
	return type == BLOB_MASK_USED_CLUSTERS ? geo->total_clusters : geo->md_len;
}

int blob_mask_decode(const void *buf, size_t buf_len, uint8_t type, uint64_t nbits, uint8_t *bits,
		     struct blob_fmt_err *err)
{
	struct blob_mask_hdr h;
	uint64_t nbytes = blob_mask_bytes(nbits);

	if (buf_len < sizeof(h)) {
		return blob_fmt_fail(err, -EINVAL, "mask region of %zu bytes", buf_len);
	}
	memcpy(&h, buf, sizeof(h));
	if (h.type != type) {
		return blob_fmt_fail(err, -EINVAL, "mask type %u, expected %u", h.type, type);
	}
	/* SPDK: a failed grow may leave the cluster mask longer; the rest is unused. */
	if (h.length < nbits || (h.length != nbits && type != BLOB_MASK_USED_CLUSTERS)) {
		return blob_fmt_fail(err, -EINVAL,
				     "mask type %u of %" PRIu32 " bits, expected %" PRIu64, type,
				     h.length, nbits);
	}
	if (blob_mask_bytes(h.length) > buf_len - sizeof(h)) {
		return blob_fmt_fail(err, -EINVAL,
				     "mask type %u of %" PRIu32 " bits past its %zu bytes", type,
				     h.length, buf_len);
	}
	if (nbytes > 0) {
		memcpy(bits, (const uint8_t *)buf + sizeof(h), nbytes);
		if (nbits % 8 != 0) {
			bits[nbytes - 1] &= (uint8_t)((1u << (nbits % 8)) - 1);
		}
	}
	return 0;
}

int blob_mask_encode(void *buf, size_t buf_len, uint8_t type, const uint8_t *bits, uint64_t nbits)
{
	struct blob_mask_hdr h = {.type = type, .length = (uint32_t)nbits};
	uint64_t nbytes = blob_mask_bytes(nbits);
	uint8_t *p = buf;

	if (nbits > UINT32_MAX) {
		return -EINVAL;
	}
	if (buf_len < sizeof(h) || nbytes > buf_len - sizeof(h)) {
		return -ENOSPC;
	}
	memset(buf, 0, buf_len);
	memcpy(p, &h, sizeof(h));
	if (nbytes > 0) {
		memcpy(p + sizeof(h), bits, nbytes);
		if (nbits % 8 != 0) {
			p[sizeof(h) + nbytes - 1] &= (uint8_t)((1u << (nbits % 8)) - 1);
		}
	}
	return 0;
}

bool blob_md_page_crc_ok(const struct blob_md_page *page)
{
	return page->crc == blob_page_crc(page);
}

int blob_md_page_check(const struct blob_md_page *page, uint32_t page_idx, spio_blob_id id,
		       uint32_t seq, uint64_t md_len, struct blob_fmt_err *err)
{
	if (!blob_md_page_crc_ok(page)) {
		return blob_fmt_fail(err, -EBADMSG,
				     "md page %" PRIu32 ": CRC 0x%08" PRIx32
				     ", computed 0x%08" PRIx32,
				     page_idx, page->crc, blob_page_crc(page));
	}
	if (page->id != id) {
		return blob_fmt_fail(
		    err, -EINVAL, "md page %" PRIu32 ": blob id 0x%" PRIx64 ", expected 0x%" PRIx64,
		    page_idx, page->id, id);
	}
	if (page->sequence_num != seq) {
		return blob_fmt_fail(err, -EINVAL,
				     "md page %" PRIu32 ": sequence %" PRIu32 ", expected %" PRIu32,
				     page_idx, page->sequence_num, seq);
	}
	if (page->next != BLOB_MD_PAGE_INVALID && page->next >= md_len) {
		return blob_fmt_fail(err, -ERANGE,
				     "md page %" PRIu32 ": next %" PRIu32 " outside the %" PRIu64
				     " md pages",
				     page_idx, page->next, md_len);
	}
	return 0;
}

void blob_md_page_init(struct blob_md_page *page, spio_blob_id id, uint32_t seq)
{
	memset(page, 0, sizeof(*page));
	page->id = id;
	page->sequence_num = seq;
	page->next = BLOB_MD_PAGE_INVALID;
}

void blob_md_page_seal(struct blob_md_page *page, uint32_t next)
{
	page->next = next;
	page->crc = blob_page_crc(page);
}
