/*
 * The blobstore's on-disk format, SPDK's byte for byte (lib/blob/blobstore.h
 * of SPDK v26.09-pre, version 3), and the safe decoding and encoding layer
 * over it. Internal to lib/blob: the blobstore, its loader and the dump use
 * it; nothing here touches a device.
 *
 * Layout of a blobstore, in md pages (md_page_size bytes, 4 KiB unless the
 * super block says otherwise) from the start of the device:
 *   page 0                      the super block
 *   used_page_mask_start..      bit per md page in use   (struct blob_mask_hdr + bits)
 *   used_cluster_mask_start..   bit per cluster in use
 *   used_blobid_mask_start..    bit per md page that starts a blob
 *   md_start .. md_start+md_len the md pages (struct blob_md_page), indexed from 0
 * followed by data clusters; cluster 0 .. N are taken by the above.
 *
 * Every multi-byte field is little-endian; the structs are read and written
 * in place, so this is for little-endian hosts only (asserted below).
 *
 * A blob's id is (1 << 32) | the md page index of its first md page. Its md
 * pages form a chain through `next` with sequence numbers 0, 1, 2, ...; each
 * page holds descriptors: a 1-byte type and 4-byte length, then `length`
 * bytes. A padding descriptor of length 0 (that is, zeroes) ends a page.
 *
 * Errors, used the same way everywhere in this layer (message in `err`):
 *   -EILSEQ   not a blobstore (signature)
 *   -ENOTSUP  a version or descriptor type this code does not know
 *   -EBADMSG  a CRC mismatch
 *   -EINVAL   fields inconsistent with each other or malformed
 *   -ERANGE   something points outside its region (device, md region, clusters)
 *   -ENXIO    the blobstore type is not the one asked for
 * All functions are pure (no I/O, no allocation) and may run on any thread.
 */
#ifndef SPIO_BLOB_FORMAT_H
#define SPIO_BLOB_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/blob.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the blobstore's structs are little-endian and used in place");

/* Version range SPDK loads: 1 (first) to 3 (current, what we write). */
#define BLOB_VERSION_MIN 1
#define BLOB_VERSION 3

#define BLOB_SIGNATURE "SPDKBLOB"
#define BLOB_SIGNATURE_LEN 8

/* The struct size of the super block and md pages; md_page_size may be larger. */
#define BLOB_PAGE_SIZE 4096u
#define BLOB_BSTYPE_LEN 16
#define BLOB_DESCS_SIZE 4072u

/* `next` of the last page of a chain. */
#define BLOB_MD_PAGE_INVALID UINT32_MAX
#define BLOB_ID_HIGH_BIT (UINT64_C(1) << 32)

/* Mask types, the first byte of each mask region. */
#define BLOB_MASK_USED_PAGES 0
#define BLOB_MASK_USED_CLUSTERS 1
#define BLOB_MASK_USED_BLOBIDS 2

/* Descriptor types. EXTENT_RLE never appears with EXTENT_TABLE / EXTENT_PAGE. */
#define BLOB_DESC_PADDING 0
#define BLOB_DESC_EXTENT_RLE 1
#define BLOB_DESC_XATTR 2
#define BLOB_DESC_FLAGS 3
#define BLOB_DESC_XATTR_INTERNAL 4
#define BLOB_DESC_EXTENT_TABLE 5
#define BLOB_DESC_EXTENT_PAGE 6

/* invalid_flags: a blob with a bit set that the reader does not know is not opened. */
#define BLOB_FLAG_THIN_PROV (UINT64_C(1) << 0)
#define BLOB_FLAG_INTERNAL_XATTR (UINT64_C(1) << 1)
#define BLOB_FLAG_EXTENT_TABLE (UINT64_C(1) << 2)
#define BLOB_FLAG_EXTERNAL_SNAPSHOT (UINT64_C(1) << 3)
#define BLOB_INVALID_FLAGS_MASK                                                    \
	(BLOB_FLAG_THIN_PROV | BLOB_FLAG_INTERNAL_XATTR | BLOB_FLAG_EXTENT_TABLE | \
	 BLOB_FLAG_EXTERNAL_SNAPSHOT)
/* data_ro_flags: an unknown bit opens the blob read-only (data and md). */
#define BLOB_FLAG_READ_ONLY (UINT64_C(1) << 0)
#define BLOB_DATA_RO_FLAGS_MASK BLOB_FLAG_READ_ONLY
/* md_ro_flags: an unknown bit opens the blob with read-only metadata. */
#define BLOB_CLEAR_METHOD_SHIFT 0
#define BLOB_CLEAR_METHOD_MASK (UINT64_C(3) << BLOB_CLEAR_METHOD_SHIFT)
#define BLOB_MD_RO_FLAGS_MASK BLOB_CLEAR_METHOD_MASK
/* Values of the clear method field (SPDK's enum blob_clear_method). */
#define BLOB_CLEAR_WITH_DEFAULT 0
#define BLOB_CLEAR_WITH_NONE 1
#define BLOB_CLEAR_WITH_UNMAP 2
#define BLOB_CLEAR_WITH_WRITE_ZEROES 3

#pragma pack(push, 1)

struct blob_super_block {
	uint8_t signature[BLOB_SIGNATURE_LEN];
	uint32_t version;
	uint32_t length; /* sizeof(struct blob_super_block) */
	uint32_t clean;	 /* 1 after a clean unload */
	uint64_t super_blob;
	uint32_t cluster_size; /* bytes */
	/* regions: start and length in md pages from the start of the device */
	uint32_t used_page_mask_start;
	uint32_t used_page_mask_len;
	uint32_t used_cluster_mask_start;
	uint32_t used_cluster_mask_len;
	uint32_t md_start;
	uint32_t md_len;
	uint8_t bstype[BLOB_BSTYPE_LEN];
	uint32_t used_blobid_mask_start;
	uint32_t used_blobid_mask_len; /* 0 in version 1 and 2 images */
	uint64_t size;		       /* bytes; 0 in old images: the whole device */
	uint32_t io_unit_size;	       /* bytes; 0 in old images: 4096 */
	uint32_t md_page_size;	       /* bytes; 0 in old images: 4096 */
	uint8_t reserved[3996];
	uint32_t crc;
};

struct blob_mask_hdr {
	uint8_t type;
	uint32_t length; /* bits */
			 /* the bits follow, bit i in byte i / 8 at (1 << i % 8) */
};

struct blob_desc_hdr {
	uint8_t type;
	uint32_t length; /* bytes after this header */
};

struct blob_desc_xattr {
	uint8_t type;
	uint32_t length;
	uint16_t name_length;
	uint16_t value_length;
	/* name (not terminated), then value */
};

struct blob_extent_run {
	uint32_t cluster_idx; /* 0: unallocated */
	uint32_t length;      /* clusters */
};

struct blob_desc_extent_rle {
	uint8_t type;
	uint32_t length;
	/* struct blob_extent_run[length / 8] */
};

struct blob_extent_table_entry {
	uint32_t page_idx;  /* md page of an extent page; 0: unallocated */
	uint32_t num_pages; /* 1, or a run length of unallocated entries */
};

struct blob_desc_extent_table {
	uint8_t type;
	uint32_t length;
	uint64_t num_clusters;
	/* struct blob_extent_table_entry[(length - 8) / 8] */
};

struct blob_desc_extent_page {
	uint8_t type;
	uint32_t length;
	uint32_t start_cluster_idx;
	/* uint32_t cluster_idx[(length - 4) / 4]; 0: unallocated */
};

struct blob_desc_flags {
	uint8_t type;
	uint32_t length; /* 24 */
	uint64_t invalid_flags;
	uint64_t data_ro_flags;
	uint64_t md_ro_flags;
};

struct blob_md_page {
	uint64_t id;
	uint32_t sequence_num;
	uint32_t reserved0;
	uint8_t descriptors[BLOB_DESCS_SIZE];
	uint32_t next; /* md page index or BLOB_MD_PAGE_INVALID */
	uint32_t crc;
};

#pragma pack(pop)

_Static_assert(sizeof(struct blob_super_block) == BLOB_PAGE_SIZE, "super block is one page");
_Static_assert(offsetof(struct blob_super_block, version) == 8, "super version");
_Static_assert(offsetof(struct blob_super_block, length) == 12, "super length");
_Static_assert(offsetof(struct blob_super_block, clean) == 16, "super clean");
_Static_assert(offsetof(struct blob_super_block, super_blob) == 20, "super super_blob");
_Static_assert(offsetof(struct blob_super_block, cluster_size) == 28, "super cluster_size");
_Static_assert(offsetof(struct blob_super_block, used_page_mask_start) == 32, "super page mask");
_Static_assert(offsetof(struct blob_super_block, used_page_mask_len) == 36, "super page mask");
_Static_assert(offsetof(struct blob_super_block, used_cluster_mask_start) == 40, "cluster mask");
_Static_assert(offsetof(struct blob_super_block, used_cluster_mask_len) == 44, "cluster mask");
_Static_assert(offsetof(struct blob_super_block, md_start) == 48, "super md_start");
_Static_assert(offsetof(struct blob_super_block, md_len) == 52, "super md_len");
_Static_assert(offsetof(struct blob_super_block, bstype) == 56, "super bstype");
_Static_assert(offsetof(struct blob_super_block, used_blobid_mask_start) == 72, "blobid mask");
_Static_assert(offsetof(struct blob_super_block, used_blobid_mask_len) == 76, "blobid mask");
_Static_assert(offsetof(struct blob_super_block, size) == 80, "super size");
_Static_assert(offsetof(struct blob_super_block, io_unit_size) == 88, "super io_unit_size");
_Static_assert(offsetof(struct blob_super_block, md_page_size) == 92, "super md_page_size");
_Static_assert(offsetof(struct blob_super_block, reserved) == 96, "super reserved");
_Static_assert(offsetof(struct blob_super_block, crc) == BLOB_PAGE_SIZE - 4, "super crc last");

_Static_assert(sizeof(struct blob_mask_hdr) == 5, "mask header");
_Static_assert(offsetof(struct blob_mask_hdr, length) == 1, "mask length");
_Static_assert(offsetof(struct blob_desc_hdr, length) == 1, "descriptor length");
_Static_assert(sizeof(struct blob_desc_hdr) == 5, "descriptor header");
_Static_assert(sizeof(struct blob_desc_xattr) == 9, "xattr descriptor");
_Static_assert(offsetof(struct blob_desc_xattr, name_length) == 5, "xattr name_length");
_Static_assert(offsetof(struct blob_desc_xattr, value_length) == 7, "xattr value_length");
_Static_assert(sizeof(struct blob_extent_run) == 8, "extent run");
_Static_assert(sizeof(struct blob_desc_extent_rle) == 5, "extent rle descriptor");
_Static_assert(sizeof(struct blob_extent_table_entry) == 8, "extent table entry");
_Static_assert(sizeof(struct blob_desc_extent_table) == 13, "extent table descriptor");
_Static_assert(offsetof(struct blob_desc_extent_table, num_clusters) == 5, "extent table count");
_Static_assert(sizeof(struct blob_desc_extent_page) == 9, "extent page descriptor");
_Static_assert(offsetof(struct blob_desc_extent_page, start_cluster_idx) == 5, "extent page start");
_Static_assert(sizeof(struct blob_desc_flags) == 29, "flags descriptor");
_Static_assert(offsetof(struct blob_desc_flags, invalid_flags) == 5, "flags invalid");
_Static_assert(offsetof(struct blob_desc_flags, data_ro_flags) == 13, "flags data_ro");
_Static_assert(offsetof(struct blob_desc_flags, md_ro_flags) == 21, "flags md_ro");

_Static_assert(sizeof(struct blob_md_page) == BLOB_PAGE_SIZE, "md page is one page");
_Static_assert(offsetof(struct blob_md_page, sequence_num) == 8, "md page sequence");
_Static_assert(offsetof(struct blob_md_page, descriptors) == 16, "md page descriptors");
_Static_assert(offsetof(struct blob_md_page, next) == BLOB_PAGE_SIZE - 8, "md page next");
_Static_assert(offsetof(struct blob_md_page, crc) == BLOB_PAGE_SIZE - 4, "md page crc");

/* Clusters one extent page holds: the largest power of two that fits (SPDK_EXTENTS_PER_EP). */
#define BLOB_EXTENTS_PER_EP 512u
_Static_assert(BLOB_EXTENTS_PER_EP * 4 + sizeof(struct blob_desc_extent_page) <= BLOB_DESCS_SIZE &&
		   BLOB_EXTENTS_PER_EP * 8 + sizeof(struct blob_desc_extent_page) > BLOB_DESCS_SIZE,
	       "extents per extent page");

/** Room for the reason of a failed check. */
struct blob_fmt_err {
	char msg[192];
};

/** Format the reason into `err` (may be NULL) and return `rc`. */
__attribute__((format(printf, 3, 4))) int blob_fmt_fail(struct blob_fmt_err *err, int rc,
							const char *fmt, ...);

/*
 * Blob ids
 */

/** The md page index of a blob id (its low 32 bits). */
static inline uint32_t blob_id_to_page(spio_blob_id id)
{
	return (uint32_t)id;
}

/** The blob id whose first md page is `page_idx`. */
static inline spio_blob_id blob_page_to_id(uint32_t page_idx)
{
	return BLOB_ID_HIGH_BIT | page_idx;
}

/** True if `id` is a blob id of this format with its first page in an md region of md_len pages. */
static inline bool blob_id_is_valid(spio_blob_id id, uint64_t md_len)
{
	return (id >> 32) == 1 && blob_id_to_page(id) < md_len;
}

/*
 * Super block
 */

/** What a valid super block says, with the defaults of old images filled in. */
struct blob_geometry {
	uint64_t size;		 /* bytes of the blobstore */
	uint32_t cluster_size;	 /* bytes */
	uint32_t md_page_size;	 /* bytes */
	uint32_t io_unit_size;	 /* bytes */
	uint32_t blocklen;	 /* of the device */
	uint64_t total_clusters; /* size / cluster_size */
	uint64_t pages_per_cluster;
	uint64_t md_start; /* in md pages */
	uint64_t md_len;
	uint64_t md_clusters; /* clusters the metadata takes (all regions), from 0 */
};

/** SPDK's CRC of a super block or md page: CRC32C of its first 4092 bytes. */
uint32_t blob_page_crc(const void *page);

/** Store blob_page_crc() of the super block in its crc field. */
void blob_super_set_crc(struct blob_super_block *super);

/** True if the super block's crc field matches its content. */
bool blob_super_crc_ok(const struct blob_super_block *super);

/**
 * Check a super block read from a device of `blockcnt` blocks of `blocklen`
 * bytes: signature (-EILSEQ), version 1..3 (-ENOTSUP), CRC (-EBADMSG),
 * `bstype` if not NULL and not all zero (-ENXIO, SPDK's rule), then the
 * geometry (blob_super_check_geometry()). Fills `geo` (may be NULL) on success.
 * \return 0 or the negative errno of the first check that failed, `err` (may be NULL) saying which.
 */
int blob_super_validate(const struct blob_super_block *super, uint64_t blockcnt, uint32_t blocklen,
			const uint8_t *bstype, struct blob_geometry *geo, struct blob_fmt_err *err);

/**
 * Only the geometry of a super block: length, page / io unit / cluster
 * sizes consistent with each other and the device (-EINVAL), the blobstore no
 * larger than the device (-ERANGE), every region inside the blobstore (-ERANGE),
 * masks large enough for what they cover and no two regions overlapping
 * (-EINVAL). What the dump needs before it reads anything the super block points at.
 */
int blob_super_check_geometry(const struct blob_super_block *super, uint64_t blockcnt,
			      uint32_t blocklen, struct blob_geometry *geo,
			      struct blob_fmt_err *err);

/** Parameters of a new blobstore (SPDK's spdk_bs_init options that shape the layout). */
struct blob_super_params {
	uint64_t blockcnt;     /* device */
	uint32_t blocklen;     /* device */
	uint32_t cluster_size; /* bytes, a multiple of md_page_size */
	uint32_t md_page_size; /* 0: 4096 */
	uint32_t io_unit_size; /* 0: blocklen */
	uint32_t num_md_pages; /* 0: one per cluster, SPDK's default */
	const uint8_t *bstype; /* BLOB_BSTYPE_LEN bytes or NULL for none */
};

/**
 * Lay a new blobstore out as spdk_bs_init() does and write its super block:
 * version 3, not clean, no super blob, CRC set.
 * \return 0; -EINVAL (bad parameters); -ENOSPC (the metadata would not fit
 *         the clusters of the device).
 */
int blob_super_build(struct blob_super_block *super, const struct blob_super_params *p,
		     struct blob_fmt_err *err);

/*
 * Masks
 */

/** Bytes of a bitmap of `nbits` bits. */
static inline uint64_t blob_mask_bytes(uint64_t nbits)
{
	return (nbits + 7) / 8;
}

static inline bool blob_mask_test(const uint8_t *bits, uint64_t i)
{
	return (bits[i / 8] >> (i % 8)) & 1;
}

static inline void blob_mask_set(uint8_t *bits, uint64_t i)
{
	bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

/** The region (md pages) of a mask type in a super block; -EINVAL for an unknown type. */
int blob_super_mask_region(const struct blob_super_block *super, uint8_t type, uint64_t *start,
			   uint64_t *len);

/** Bits the super block requires of a mask: md_len for pages and blob ids, total_clusters for
 * clusters. */
uint64_t blob_mask_expected_bits(const struct blob_geometry *geo, uint8_t type);

/**
 * Decode a mask region `buf` of `buf_len` bytes (its md pages as read) into
 * `bits` (blob_mask_bytes(nbits) bytes), `nbits` being
 * blob_mask_expected_bits(). The stored type must be `type` and the stored
 * length exactly nbits (pages, blob ids), or at least nbits for clusters
 * (a failed grow leaves it longer: the rest is ignored), and the bits must fit the buffer.
 * \return 0; -EINVAL with `err` saying which.
 */
int blob_mask_decode(const void *buf, size_t buf_len, uint8_t type, uint64_t nbits, uint8_t *bits,
		     struct blob_fmt_err *err);

/**
 * Write a mask region: header, `nbits` bits from `bits`, zeroes to buf_len.
 * \return 0; -ENOSPC if it does not fit buf_len; -EINVAL (nbits above UINT32_MAX).
 */
int blob_mask_encode(void *buf, size_t buf_len, uint8_t type, const uint8_t *bits, uint64_t nbits);

/*
 * Md pages
 */

/** True if the page's crc field matches its content. */
bool blob_md_page_crc_ok(const struct blob_md_page *page);

/**
 * Check a page read at md index `page_idx` as a member of blob `id`'s chain
 * with sequence number `seq`: CRC (-EBADMSG), id and sequence (-EINVAL),
 * next inside the md region of md_len pages (-ERANGE).
 */
int blob_md_page_check(const struct blob_md_page *page, uint32_t page_idx, spio_blob_id id,
		       uint32_t seq, uint64_t md_len, struct blob_fmt_err *err);

/** A zeroed page of blob `id` with sequence number `seq`, no next page. */
void blob_md_page_init(struct blob_md_page *page, spio_blob_id id, uint32_t seq);

/** Set the page's next pointer and CRC: the last step before it is written. */
void blob_md_page_seal(struct blob_md_page *page, uint32_t next);

/*
 * Descriptors
 */

/** One descriptor of a page: its type, its body (length bytes inside the page) and where it is. */
struct blob_desc {
	uint8_t type;
	uint32_t length;
	const uint8_t *body;
	uint32_t offset; /* of the header in the descriptors area */
};

/** Walks the descriptors of one page; never reads outside it. */
struct blob_desc_iter {
	const uint8_t *area;
	uint32_t pos;
	bool strict;
	bool done;
};

/**
 * Start at the first descriptor of `page`. `strict`: an unknown type is an
 * error; otherwise it is handed out like the others (SPDK's loader skips
 * those: flags guard new features).
 */
void blob_desc_iter_init(struct blob_desc_iter *it, const struct blob_md_page *page, bool strict);

/**
 * The next descriptor, skipping padding.
 * \return 1 and `desc` set; 0 at the end (a zero header, or no room for
 *         one); -EINVAL for a descriptor whose length runs past the page or
 *         is too short for its type (the walk ends); -ENOTSUP for an unknown
 *         type in strict mode (`desc` is set and the walk may go on past it).
 */
int blob_desc_iter_next(struct blob_desc_iter *it, struct blob_desc *desc,
			struct blob_fmt_err *err);

/** True for the types this format defines (padding included). */
bool blob_desc_type_known(uint8_t type);

/** An xattr, pointing into the page. */
struct blob_xattr_view {
	bool internal;
	const char *name; /* not terminated */
	uint16_t name_len;
	const uint8_t *value;
	uint16_t value_len;
};

/** Decode an XATTR or XATTR_INTERNAL descriptor; -EINVAL if the lengths do not add up. */
int blob_desc_xattr_decode(const struct blob_desc *desc, struct blob_xattr_view *x,
			   struct blob_fmt_err *err);

struct blob_flags {
	uint64_t invalid;
	uint64_t data_ro;
	uint64_t md_ro;
};

/** Decode a FLAGS descriptor. */
int blob_desc_flags_decode(const struct blob_desc *desc, struct blob_flags *f,
			   struct blob_fmt_err *err);

/**
 * How a blob with these flags may be opened (SPDK's rules): -ENOTSUP if an
 * invalid flag is unknown; else 0 with data_ro / md_ro set for unknown or
 * read-only bits.
 */
int blob_flags_access(const struct blob_flags *f, bool *data_ro, bool *md_ro,
		      struct blob_fmt_err *err);

/** An EXTENT_RLE descriptor: runs of clusters, cluster_idx 0 meaning unallocated. */
struct blob_extent_rle_view {
	uint32_t count;
	const uint8_t *runs;
};

/**
 * Decode an EXTENT_RLE descriptor and check every allocated run lies in
 * clusters [1, total_clusters) (-ERANGE).
 */
int blob_desc_extent_rle_decode(const struct blob_desc *desc, uint64_t total_clusters,
				struct blob_extent_rle_view *v, struct blob_fmt_err *err);

struct blob_extent_run blob_extent_rle_get(const struct blob_extent_rle_view *v, uint32_t i);

/** An EXTENT_TABLE descriptor. */
struct blob_extent_table_view {
	uint64_t num_clusters;
	uint32_t count;
	const uint8_t *entries;
};

/**
 * Decode an EXTENT_TABLE descriptor: an allocated entry (page_idx not 0)
 * must cover one page (-EINVAL) inside the md region of md_len pages (-ERANGE).
 */
int blob_desc_extent_table_decode(const struct blob_desc *desc, uint64_t md_len,
				  struct blob_extent_table_view *v, struct blob_fmt_err *err);

struct blob_extent_table_entry blob_extent_table_get(const struct blob_extent_table_view *v,
						     uint32_t i);

/** An EXTENT_PAGE descriptor: the clusters of a blob from start_cluster_idx on. */
struct blob_extent_page_view {
	uint32_t start_cluster_idx;
	uint32_t count;
	const uint8_t *clusters;
};

/**
 * Decode an EXTENT_PAGE descriptor: at most BLOB_EXTENTS_PER_EP clusters
 * (-EINVAL), each 0 or in [1, total_clusters) (-ERANGE).
 */
int blob_desc_extent_page_decode(const struct blob_desc *desc, uint64_t total_clusters,
				 struct blob_extent_page_view *v, struct blob_fmt_err *err);

uint32_t blob_extent_page_get(const struct blob_extent_page_view *v, uint32_t i);

/*
 * Building a page's descriptors. Each add either appends the whole
 * descriptor or returns -ENOSPC and leaves the page as it was (the caller
 * starts a new page of the chain, as SPDK does).
 */
struct blob_md_writer {
	struct blob_md_page *page;
	uint32_t used; /* bytes of the descriptors area taken */
};

void blob_md_writer_init(struct blob_md_writer *w, struct blob_md_page *page);

int blob_md_add_flags(struct blob_md_writer *w, const struct blob_flags *f);

/** -EINVAL if name_len or value_len is above UINT16_MAX. */
int blob_md_add_xattr(struct blob_md_writer *w, bool internal, const char *name, size_t name_len,
		      const void *value, size_t value_len);

/** -EINVAL for count 0 (SPDK refuses an empty run list). */
int blob_md_add_extent_rle(struct blob_md_writer *w, const struct blob_extent_run *runs,
			   uint32_t count);

int blob_md_add_extent_table(struct blob_md_writer *w, uint64_t num_clusters,
			     const struct blob_extent_table_entry *entries, uint32_t count);

/** -EINVAL for count 0 or above BLOB_EXTENTS_PER_EP. */
int blob_md_add_extent_page(struct blob_md_writer *w, uint32_t start_cluster_idx,
			    const uint32_t *clusters, uint32_t count);

#endif /* SPIO_BLOB_FORMAT_H */
