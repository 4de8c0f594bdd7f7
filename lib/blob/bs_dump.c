/*
 * spio_bs_dump: SPDK's metadata dump (spdk_bs_dump), the same text line by
 * line, from reads alone. One read at a time on the calling thread: the
 * super block, the three masks, then every md page; what a corrupt image
 * breaks is reported on an "Error: " line and in the completion, and the
 * walk goes on where it safely can.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_format.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/log.h"
#include "spio/thread.h"

enum dump_step { STEP_SUPER, STEP_MASK, STEP_PAGE };

/* What the chain check needs of each md page. */
struct page_rec {
	uint64_t id;
	uint32_t seq;
	uint32_t next;
};

struct dump_ctx {
	struct spio_bs_dev *dev;
	struct spio_io_channel *ch;
	FILE *fp;
	spio_bs_dump_print_xattr print_xattr;
	spio_bs_op_complete cb_fn;
	void *cb_arg;
	struct spio_bs_dev_cb_args io;
	struct spio_msg msg;
	int err; /* the first problem found */

	enum dump_step step;
	uint8_t mask_type;
	uint64_t page;
	struct blob_super_block *super;
	struct blob_geometry geo;
	char bstype[BLOB_BSTYPE_LEN + 1];
	void *buf;
	uint8_t *masks[3];
	struct page_rec *recs;
	char name[BLOB_DESCS_SIZE + 1];
};

static void dump_step_done(struct spio_io_channel *ch, void *cb_arg, int bserrno);

static void note(struct dump_ctx *c, int rc)
{
	if (c->err == 0) {
		c->err = rc;
	}
}

static void report(struct dump_ctx *c, int rc, const struct blob_fmt_err *e)
{
	fprintf(c->fp, "Error: %s\n", e->msg);
	note(c, rc);
}

static void dump_deliver(void *arg)
{
	struct dump_ctx *c = arg;

	c->cb_fn(c->cb_arg, c->err);
	free(c->super);
	free(c->buf);
	for (int i = 0; i < 3; i++) {
		free(c->masks[i]);
	}
	free(c->recs);
	free(c);
}

static void dump_finish(struct dump_ctx *c, int rc)
{
	note(c, rc);
	fflush(c->fp);
	if (c->ch != NULL) {
		c->dev->destroy_channel(c->dev, c->ch);
	}
	c->dev->destroy(c->dev);
	if (spio_thread_send_msg_embedded(spio_get_thread(), &c->msg, dump_deliver, c) != 0) {
		SPIO_ERRLOG("bs_dump: thread exited before the dump completed\n");
	}
}

static void *io_buf(size_t size)
{
	void *p = NULL;

	/* Page-aligned, so any bs_dev (O_DIRECT files too) can read into it. */
	if (posix_memalign(&p, 4096, size) != 0) {
		return NULL;
	}
	memset(p, 0, size);
	return p;
}

/* Read `pages` md pages from md page `first` of the device (super block included) into `dst`. */
static void read_pages(struct dump_ctx *c, void *dst, uint64_t first, uint64_t pages)
{
	uint64_t per = c->geo.md_page_size / c->dev->blocklen;

	c->dev->read(c->dev, c->ch, dst, first * per, (uint32_t)(pages * per), &c->io);
}

static void print_super(struct dump_ctx *c)
{
	const struct blob_super_block *s = c->super;

	fprintf(c->fp, "Version: %" PRIu32 "\n", s->version);
	fprintf(c->fp, "CRC: 0x%" PRIx32 " (%s)\n", s->crc,
		blob_super_crc_ok(s) ? "OK" : "Mismatch");
	fprintf(c->fp, "Blobstore Type: %s\n", c->bstype);
	fprintf(c->fp, "Cluster Size: %" PRIu32 "\n", s->cluster_size);
	if (s->super_blob == SPIO_BLOBID_INVALID) {
		fprintf(c->fp, "Super Blob ID: (None)\n");
	} else {
		fprintf(c->fp, "Super Blob ID: 0x%" PRIx64 "\n", s->super_blob);
	}
	fprintf(c->fp, "Clean: %" PRIu32 "\n", s->clean);
	fprintf(c->fp, "Used Metadata Page Mask Start: %" PRIu32 "\n", s->used_page_mask_start);
	fprintf(c->fp, "Used Metadata Page Mask Length: %" PRIu32 "\n", s->used_page_mask_len);
	fprintf(c->fp, "Used Cluster Mask Start: %" PRIu32 "\n", s->used_cluster_mask_start);
	fprintf(c->fp, "Used Cluster Mask Length: %" PRIu32 "\n", s->used_cluster_mask_len);
	fprintf(c->fp, "Used Blob ID Mask Start: %" PRIu32 "\n", s->used_blobid_mask_start);
	fprintf(c->fp, "Used Blob ID Mask Length: %" PRIu32 "\n", s->used_blobid_mask_len);
	fprintf(c->fp, "Metadata Start: %" PRIu32 "\n", s->md_start);
	fprintf(c->fp, "Metadata Length: %" PRIu32 "\n", s->md_len);
}

/* Read the mask of type `t` or, if the image has none (old versions), the next step. */
static void next_mask(struct dump_ctx *c, uint8_t t);

static void super_done(struct dump_ctx *c)
{
	struct blob_fmt_err e;
	int rc;

	fprintf(c->fp, "Signature: \"%.8s\" ", (const char *)c->super->signature);
	if (memcmp(c->super->signature, BLOB_SIGNATURE, BLOB_SIGNATURE_LEN) != 0) {
		fprintf(c->fp, "(Mismatch)\n");
		dump_finish(c, -EILSEQ);
		return;
	}
	fprintf(c->fp, "(OK)\n");
	memcpy(c->bstype, c->super->bstype, BLOB_BSTYPE_LEN);
	print_super(c);
	/* Dumped as SPDK does, but reported: its "(Mismatch)" says the rest. */
	if (!blob_super_crc_ok(c->super)) {
		note(c, -EBADMSG);
	}
	if (c->super->version < BLOB_VERSION_MIN || c->super->version > BLOB_VERSION) {
		blob_fmt_fail(&e, -ENOTSUP, "version %" PRIu32 " not supported (%d..%d)",
			      c->super->version, BLOB_VERSION_MIN, BLOB_VERSION);
		report(c, -ENOTSUP, &e);
	}
	/* Nothing the super block points at is read unless it lies on the device. */
	rc = blob_super_check_geometry(c->super, c->dev->blockcnt, c->dev->blocklen, &c->geo, &e);
	if (rc != 0) {
		report(c, rc, &e);
		dump_finish(c, rc);
		return;
	}
	for (int t = 0; t < 3; t++) {
		uint64_t bits = blob_mask_expected_bits(&c->geo, (uint8_t)t);

		c->masks[t] = calloc(1, blob_mask_bytes(bits) + 1);
		if (c->masks[t] == NULL) {
			dump_finish(c, -ENOMEM);
			return;
		}
	}
	next_mask(c, BLOB_MASK_USED_PAGES);
}

static void read_md_page(struct dump_ctx *c);

static void next_mask(struct dump_ctx *c, uint8_t t)
{
	uint64_t start, len;

	for (; t <= BLOB_MASK_USED_BLOBIDS; t++) {
		blob_super_mask_region(c->super, t, &start, &len);
		if (len == 0) {
			continue;
		}
		free(c->buf);
		c->buf = io_buf(len * c->geo.md_page_size);
		if (c->buf == NULL) {
			dump_finish(c, -ENOMEM);
			return;
		}
		c->step = STEP_MASK;
		c->mask_type = t;
		read_pages(c, c->buf, start, len);
		return;
	}
	free(c->buf);
	c->buf = io_buf(c->geo.md_page_size);
	c->recs = calloc(c->geo.md_len, sizeof(*c->recs));
	if (c->buf == NULL || c->recs == NULL) {
		dump_finish(c, -ENOMEM);
		return;
	}
	c->step = STEP_PAGE;
	c->page = 0;
	read_md_page(c);
}

static void mask_done(struct dump_ctx *c)
{
	uint64_t start, len;
	struct blob_fmt_err e;
	uint8_t t = c->mask_type;
	int rc;

	blob_super_mask_region(c->super, t, &start, &len);
	rc = blob_mask_decode(c->buf, len * c->geo.md_page_size, t,
			      blob_mask_expected_bits(&c->geo, t), c->masks[t], &e);
	if (rc != 0) {
		/* Go on with an empty mask: the pages are still worth seeing. */
		report(c, rc, &e);
		memset(c->masks[t], 0, blob_mask_bytes(blob_mask_expected_bits(&c->geo, t)));
	}
	next_mask(c, t + 1);
}

static void read_md_page(struct dump_ctx *c)
{
	read_pages(c, c->buf, c->geo.md_start + c->page, 1);
}

static void print_xattr(struct dump_ctx *c, const struct blob_desc *d)
{
	struct blob_xattr_view x;
	struct blob_fmt_err e;
	uint32_t i;
	int rc;

	rc = blob_desc_xattr_decode(d, &x, &e);
	if (rc != 0) {
		report(c, rc, &e);
		return;
	}
	memcpy(c->name, x.name, x.name_len);
	c->name[x.name_len] = '\0';
	fprintf(c->fp, "%s: name = \"%s\"\n", x.internal ? "XATTR_INTERNAL" : "XATTR", c->name);
	fprintf(c->fp, "       value = \"");
	if (c->print_xattr != NULL) {
		c->print_xattr(c->fp, c->bstype, c->name, x.value, x.value_len);
	}
	fprintf(c->fp, "\"\n");
	for (i = 0; i < x.value_len; i++) {
		if (i % 16 == 0) {
			fprintf(c->fp, "               ");
		}
		fprintf(c->fp, "%02" PRIx8 " ", x.value[i]);
		if ((i + 1) % 16 == 0) {
			fprintf(c->fp, "\n");
		}
	}
	if (i % 16 != 0) {
		fprintf(c->fp, "\n");
	}
}

struct flag_name {
	uint64_t mask;
	uint64_t val;
	const char *name;
};

/* SPDK's names; note its list has no name for the external snapshot bit. */
static const struct flag_name g_invalid_names[] = {
    {BLOB_FLAG_THIN_PROV, BLOB_FLAG_THIN_PROV, "SPDK_BLOB_THIN_PROV"},
    {BLOB_FLAG_INTERNAL_XATTR, BLOB_FLAG_INTERNAL_XATTR, "SPDK_BLOB_INTERNAL_XATTR"},
    {BLOB_FLAG_EXTENT_TABLE, BLOB_FLAG_EXTENT_TABLE, "SPDK_BLOB_EXTENT_TABLE"},
};
static const struct flag_name g_data_ro_names[] = {
    {BLOB_FLAG_READ_ONLY, BLOB_FLAG_READ_ONLY, "SPDK_BLOB_READ_ONLY"},
};
static const struct flag_name g_md_ro_names[] = {
    {BLOB_MD_RO_FLAGS_MASK, BLOB_CLEAR_WITH_DEFAULT, "BLOB_CLEAR_WITH_DEFAULT"},
    {BLOB_MD_RO_FLAGS_MASK, BLOB_CLEAR_WITH_NONE, "BLOB_CLEAR_WITH_NONE"},
    {BLOB_MD_RO_FLAGS_MASK, BLOB_CLEAR_WITH_UNMAP, "BLOB_CLEAR_WITH_UNMAP"},
    {BLOB_MD_RO_FLAGS_MASK, BLOB_CLEAR_WITH_WRITE_ZEROES, "BLOB_CLEAR_WITH_WRITE_ZEROES"},
};

static void print_bits(struct dump_ctx *c, uint64_t flags, const struct flag_name *n, size_t cnt)
{
	uint64_t covered = 0;

	for (size_t i = 0; i < cnt; i++) {
		if ((n[i].mask & flags) != n[i].val) {
			continue;
		}
		fprintf(c->fp, "\t\t 0x%016" PRIx64 " %s", n[i].val, n[i].name);
		if (n[i].mask != n[i].val) {
			fprintf(c->fp, " (mask 0x%" PRIx64 " value 0x%" PRIx64 ")", n[i].mask,
				n[i].val);
		}
		fprintf(c->fp, "\n");
		covered |= n[i].mask;
	}
	if ((flags & ~covered) != 0) {
		fprintf(c->fp, "\t\t 0x%016" PRIx64 " Unknown\n", flags & ~covered);
	}
}

static void print_flags(struct dump_ctx *c, const struct blob_desc *d)
{
	struct blob_flags f;
	struct blob_fmt_err e;
	int rc = blob_desc_flags_decode(d, &f, &e);

	if (rc != 0) {
		report(c, rc, &e);
		return;
	}
	fprintf(c->fp, "Flags:\n");
	fprintf(c->fp, "\tinvalid: 0x%016" PRIx64 "\n", f.invalid);
	print_bits(c, f.invalid, g_invalid_names,
		   sizeof(g_invalid_names) / sizeof(*g_invalid_names));
	fprintf(c->fp, "\tdata_ro: 0x%016" PRIx64 "\n", f.data_ro);
	print_bits(c, f.data_ro, g_data_ro_names,
		   sizeof(g_data_ro_names) / sizeof(*g_data_ro_names));
	fprintf(c->fp, "\t  md_ro: 0x%016" PRIx64 "\n", f.md_ro);
	print_bits(c, f.md_ro, g_md_ro_names, sizeof(g_md_ro_names) / sizeof(*g_md_ro_names));
}

static void print_extents(struct dump_ctx *c, const struct blob_desc *d)
{
	struct blob_fmt_err e;
	int rc;

	if (d->type == BLOB_DESC_EXTENT_RLE) {
		struct blob_extent_rle_view v;

		rc = blob_desc_extent_rle_decode(d, c->geo.total_clusters, &v, &e);
		for (uint32_t i = 0; rc == 0 && i < v.count; i++) {
			struct blob_extent_run r = blob_extent_rle_get(&v, i);

			if (r.cluster_idx != 0) {
				fprintf(c->fp, "Allocated Extent - Start: %" PRIu32, r.cluster_idx);
			} else {
				fprintf(c->fp, "Unallocated Extent - ");
			}
			fprintf(c->fp, " Length: %" PRIu32 "\n", r.length);
		}
	} else if (d->type == BLOB_DESC_EXTENT_PAGE) {
		struct blob_extent_page_view v;

		rc = blob_desc_extent_page_decode(d, c->geo.total_clusters, &v, &e);
		for (uint32_t i = 0; rc == 0 && i < v.count; i++) {
			uint32_t cl = blob_extent_page_get(&v, i);

			if (cl != 0) {
				fprintf(c->fp, "Allocated Extent - Start: %" PRIu32 "\n", cl);
			} else {
				fprintf(c->fp, "Unallocated Extent\n");
			}
		}
	} else {
		struct blob_extent_table_view v;
		uint64_t per = c->geo.md_page_size / c->dev->blocklen;

		rc = blob_desc_extent_table_decode(d, c->geo.md_len, &v, &e);
		if (rc == 0) {
			fprintf(c->fp, "Extent table:\n");
		}
		for (uint32_t i = 0; rc == 0 && i < v.count; i++) {
			struct blob_extent_table_entry t = blob_extent_table_get(&v, i);

			/* Zeroes are runs of unallocated extent pages. */
			if (t.page_idx == 0) {
				continue;
			}
			fprintf(c->fp,
				"\tExtent page: %5" PRIu32 " length %3" PRIu32 " at LBA %" PRIu64
				"\n",
				t.page_idx, t.num_pages, (c->geo.md_start + t.page_idx) * per);
		}
	}
	if (rc != 0) {
		report(c, rc, &e);
	}
}

static void print_descriptors(struct dump_ctx *c, const struct blob_md_page *p, uint64_t idx)
{
	struct blob_desc_iter it;
	struct blob_desc d;
	struct blob_fmt_err e;
	int rc;

	blob_desc_iter_init(&it, p, false);
	while ((rc = blob_desc_iter_next(&it, &d, &e)) == 1) {
		switch (d.type) {
		case BLOB_DESC_XATTR:
		case BLOB_DESC_XATTR_INTERNAL:
			print_xattr(c, &d);
			break;
		case BLOB_DESC_FLAGS:
			print_flags(c, &d);
			break;
		case BLOB_DESC_EXTENT_RLE:
		case BLOB_DESC_EXTENT_PAGE:
		case BLOB_DESC_EXTENT_TABLE:
			print_extents(c, &d);
			break;
		default:
			/* SPDK skips these too: a flag marks features a reader must know. */
			fprintf(c->fp, "Unknown descriptor type %" PRIu8 "\n", d.type);
			break;
		}
	}
	if (rc < 0) {
		fprintf(c->fp, "Error: md page %" PRIu64 ": %s\n", idx, e.msg);
		note(c, rc);
	}
}

static void print_page(struct dump_ctx *c, const struct blob_md_page *p, uint64_t idx)
{
	uint64_t per = c->geo.md_page_size / c->dev->blocklen;
	bool crc_ok = blob_md_page_crc_ok(p);

	fprintf(c->fp, "=========\n");
	fprintf(c->fp, "Metadata Page Index: %" PRIu64 " (0x%" PRIx64 ")\n", idx, idx);
	fprintf(c->fp, "Start LBA: %" PRIu64 "\n", (c->geo.md_start + idx) * per);
	fprintf(c->fp, "Blob ID: 0x%" PRIx64 "\n", p->id);
	fprintf(c->fp, "Sequence: %" PRIu32 "\n", p->sequence_num);
	if (p->next == BLOB_MD_PAGE_INVALID) {
		fprintf(c->fp, "Next: None\n");
	} else {
		fprintf(c->fp, "Next: %" PRIu32 "\n", p->next);
	}
	fprintf(c->fp, "In used bit array%s:", c->super->clean ? "" : " (not clean: dubious)");
	if (blob_mask_test(c->masks[BLOB_MASK_USED_PAGES], idx)) {
		fprintf(c->fp, " md");
	}
	if (blob_mask_test(c->masks[BLOB_MASK_USED_BLOBIDS], idx)) {
		fprintf(c->fp, " blob");
	}
	fprintf(c->fp, "\n");
	fprintf(c->fp, "CRC: 0x%" PRIx32 " (%s)\n", p->crc, crc_ok ? "OK" : "Mismatch");
	if (!crc_ok) {
		note(c, -EBADMSG);
	}
	print_descriptors(c, p, idx);
}

/*
 * Follow every chain from its first page: each next page must be in the md
 * region and carry the same blob id and the next sequence number. Sequence
 * numbers only grow along a good chain, so a loop shows as a step back.
 */
static void check_chains(struct dump_ctx *c)
{
	struct blob_fmt_err e;

	for (uint64_t i = 0; i < c->geo.md_len; i++) {
		uint64_t id = c->recs[i].id, cur = i, steps = 0;

		if (id == 0 || c->recs[i].seq != 0 || blob_id_to_page(id) != i) {
			continue;
		}
		while (c->recs[cur].next != BLOB_MD_PAGE_INVALID) {
			const struct page_rec *p = &c->recs[cur], *n;
			int rc = 0;

			if (p->next >= c->geo.md_len) {
				rc = blob_fmt_fail(&e, -ERANGE,
						   "blob 0x%" PRIx64 ": md page %" PRIu64
						   ": next %" PRIu32 " outside the %" PRIu64
						   " md pages",
						   id, cur, p->next, c->geo.md_len);
			} else if ((n = &c->recs[p->next])->id == id && n->seq <= p->seq) {
				rc = blob_fmt_fail(&e, -EINVAL,
						   "blob 0x%" PRIx64 ": md page %" PRIu64
						   ": next %" PRIu32
						   " goes back to sequence %" PRIu32 " (a loop)",
						   id, cur, p->next, n->seq);
			} else if (n->id != id || n->seq != p->seq + 1 ||
				   ++steps >= c->geo.md_len) {
				rc = blob_fmt_fail(&e, -EINVAL,
						   "blob 0x%" PRIx64 ": md page %" PRIu64
						   ": next %" PRIu32 " holds blob 0x%" PRIx64
						   " sequence %" PRIu32
						   ", expected sequence %" PRIu32,
						   id, cur, p->next, n->id, n->seq, p->seq + 1);
			}
			if (rc != 0) {
				report(c, rc, &e);
				break;
			}
			cur = p->next;
		}
	}
}

static void page_done(struct dump_ctx *c)
{
	const struct blob_md_page *p = c->buf;

	if (p->id != 0) {
		print_page(c, p, c->page);
		c->recs[c->page] = (struct page_rec){p->id, p->sequence_num, p->next};
	}
	if (++c->page < c->geo.md_len) {
		read_md_page(c);
		return;
	}
	check_chains(c);
	dump_finish(c, 0);
}

static void dump_step_done(struct spio_io_channel *ch, void *cb_arg, int bserrno)
{
	struct dump_ctx *c = cb_arg;

	if (bserrno != 0) {
		fprintf(c->fp, "Error: read failed (%d)\n", bserrno);
		dump_finish(c, bserrno);
		return;
	}
	switch (c->step) {
	case STEP_SUPER:
		super_done(c);
		break;
	case STEP_MASK:
		mask_done(c);
		break;
	case STEP_PAGE:
		page_done(c);
		break;
	}
}

void spio_bs_dump(struct spio_bs_dev *dev, FILE *fp, spio_bs_dump_print_xattr print_xattr_fn,
		  spio_bs_op_complete cb_fn, void *cb_arg)
{
	struct dump_ctx *c;
	uint64_t super_blocks;

	if (dev == NULL || cb_fn == NULL || spio_get_thread() == NULL) {
		SPIO_ERRLOG("bs_dump: %s\n", dev == NULL     ? "no device"
					     : cb_fn == NULL ? "no callback"
							     : "not on a spio thread");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		/* Not even room to defer: the one completion that runs inside the call. */
		SPIO_ERRLOG("bs_dump: out of memory\n");
		dev->destroy(dev);
		cb_fn(cb_arg, -ENOMEM);
		return;
	}
	*c = (struct dump_ctx){
	    .dev = dev, .fp = fp, .print_xattr = print_xattr_fn, .cb_fn = cb_fn, .cb_arg = cb_arg};
	c->io = (struct spio_bs_dev_cb_args){.cb_fn = dump_step_done, .cb_arg = c};
	if (fp == NULL) {
		SPIO_ERRLOG("bs_dump: no output stream\n");
		c->fp = stderr;
		dump_finish(c, -EINVAL);
		return;
	}
	/* The super block is one 4 KiB page, or one block if blocks are larger. */
	super_blocks =
	    dev->blocklen != 0 ? (BLOB_PAGE_SIZE + dev->blocklen - 1) / dev->blocklen : 0;
	c->geo.md_page_size = (uint32_t)(super_blocks * dev->blocklen);
	if (super_blocks == 0 || dev->blockcnt < super_blocks) {
		fprintf(fp,
			"Error: device of %" PRIu64 " blocks of %" PRIu32
			" bytes cannot hold a super block\n",
			dev->blockcnt, dev->blocklen);
		dump_finish(c, -ERANGE);
		return;
	}
	c->super = io_buf(c->geo.md_page_size);
	c->ch = dev->create_channel(dev);
	if (c->super == NULL || c->ch == NULL) {
		dump_finish(c, -ENOMEM);
		return;
	}
	c->step = STEP_SUPER;
	read_pages(c, c->super, 0, 1);
}
