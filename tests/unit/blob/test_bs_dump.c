/*
 * spio_bs_dump against SPDK's own dumps of the same images, line by line,
 * and on corrupted copies: it must finish (no hang, no crash), report the
 * problem in its completion and never write to the device.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob_format.h"
#include "helper_blob_image.h"
#include "helper_spy_dev.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/thread.h"
#include "spio/util.h"
#include "helper_blob_thread.h"

static struct spio_thread *g_thread;
/* Counts what the dump does to the device: it must not write or flush. */
static struct spy_dev g_spy;

static void setup(void)
{
	g_thread = blob_test_thread_start("bs_dump");
}

static void poll_n(int n)
{
	blob_test_thread_poll(g_thread, n);
}

static void teardown(void)
{
	spy_dev_release(&g_spy);
	blob_test_thread_end(g_thread);
}

TestSuite(bs_dump, .init = setup, .fini = teardown);

/* A memory device of `size` bytes in `blocklen` blocks behind the spy; its bytes in *data. */
static struct spio_bs_dev *spy_dev(uint64_t size, uint32_t blocklen, uint8_t **data)
{
	return spy_dev_init(&g_spy, size, blocklen, data);
}

/* The image `base` in a spy device, or skip the test visibly. */
static struct spio_bs_dev *image_dev(const char *base, uint64_t size, uint8_t **data)
{
	char gz[64], path[PATH_MAX], why[256];
	struct spio_bs_dev *d;
	long long got;

	snprintf(gz, sizeof(gz), "%s.img.gz", base);
	if (!bimg_path(gz, path)) {
		cr_skip_test("test image %s missing (set SPIO_TESTDATA)", path);
	}
	d = spy_dev(size, 4096, data);
	got = bimg_gunzip(gz, *data, size, why);
	cr_assert_eq(got, (long long)size, "%s: expected %llu bytes, got %lld (%s)", gz,
		     (unsigned long long)size, got, got < 0 ? why : "wrong size");
	return d;
}

/* blobcli's xattr printer (examples/blob/cli): names and uuids of an lvstore, "?" otherwise. */
static void print_xattr(FILE *fp, const char *bstype, const char *name, const void *value,
			size_t value_len)
{
	char v[256];
	struct spio_uuid uuid;

	snprintf(v, sizeof(v), "%.*s", (int)SPIO_MIN(value_len, sizeof(v) - 1),
		 (const char *)value);
	if (strncmp(bstype, "LVOLSTORE", 16) != 0) {
		fprintf(fp, "?");
	} else if (strcmp(name, "name") == 0) {
		fprintf(fp, "%s", v);
	} else if (strcmp(name, "uuid") == 0) {
		fprintf(fp, "%s", spio_uuid_parse(&uuid, v) == 0 ? v : "? Invalid UUID");
	} else {
		fprintf(fp, "?");
	}
}

struct result {
	bool in_call;
	int done;
	int rc;
	int destroyed_at_cpl;
	char *text;
	size_t len;
};

static void dump_cpl(void *cb_arg, int bserrno)
{
	struct result *r = cb_arg;

	cr_assert_not(r->in_call, "completion inside spio_bs_dump()");
	r->done++;
	r->rc = bserrno;
	r->destroyed_at_cpl = g_spy.destroyed;
}

/* Dump `d` to a string; it must finish within a bounded number of polls. */
static struct result run_dump(struct spio_bs_dev *d)
{
	struct result r = {.in_call = true};
	FILE *fp = open_memstream(&r.text, &r.len);
	int polls = 0;

	cr_assert_not_null(fp);
	spio_bs_dump(d, fp, print_xattr, dump_cpl, &r);
	r.in_call = false;
	while (r.done == 0 && polls++ < 200000) {
		poll_n(1);
	}
	poll_n(10);
	cr_assert_eq(r.done, 1, "dump did not complete once in %d polls (hang?), got %d", polls,
		     r.done);
	fclose(fp);
	cr_assert_eq(g_spy.writes, 0, "the dump wrote to the device %d times", g_spy.writes);
	cr_assert_eq(g_spy.flushes, 0, "the dump flushed the device %d times", g_spy.flushes);
	cr_assert_eq(r.destroyed_at_cpl, 1, "device not destroyed (once) before the completion");
	return r;
}

/* Compare with SPDK's file line by line; lines blobcli itself printed are skipped. */
static void compare_with_spdk(const char *text, const char *base)
{
	char name[64], path[PATH_MAX], want[4096];
	const char *p = text;
	FILE *fp;
	int line = 0;

	snprintf(name, sizeof(name), "%s.bsdump.txt", base);
	if (!bimg_path(name, path)) {
		cr_skip_test("SPDK's dump %s missing (set SPIO_TESTDATA)", path);
	}
	fp = fopen(path, "r");
	cr_assert_not_null(fp);
	while (fgets(want, sizeof(want), fp) != NULL) {
		const char *nl = strchr(p, '\n');
		size_t got_len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		line++;
		if (strncmp(want, "Init blobstore using bdev", 25) == 0) {
			continue;
		}
		want[strcspn(want, "\n")] = '\0';
		cr_assert(*p != '\0', "%s line %d: expected \"%s\", got the end of the dump", name,
			  line, want);
		cr_assert(got_len == strlen(want) && memcmp(p, want, got_len) == 0,
			  "%s line %d differs:\n  SPDK: \"%s\"\n  spio: \"%.*s\"", name, line, want,
			  (int)got_len, p);
		p += got_len + (nl != NULL);
	}
	fclose(fp);
	cr_assert(*p == '\0', "%s: spio printed more after line %d: \"%.80s\"", name, line, p);
}

static int count(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, what)) != NULL; p++) {
		n++;
	}
	return n;
}

Test(bs_dump, blobcli_matches_spdk)
{
	uint8_t *data;
	struct result r = run_dump(image_dev("blobcli-basic", BIMG_BLOBCLI_SIZE, &data));

	cr_assert_eq(r.rc, 0, "dump of a good image: %d\n%s", r.rc, r.text);
	compare_with_spdk(r.text, "blobcli-basic");
	free(r.text);
}

Test(bs_dump, lvol_matches_spdk)
{
	uint8_t *data;
	struct result r = run_dump(image_dev("lvol-basic", BIMG_LVOL_SIZE, &data));

	cr_assert_eq(r.rc, 0, "dump of a good image: %d\n%s", r.rc, r.text);
	compare_with_spdk(r.text, "lvol-basic");
	free(r.text);
}

static struct blob_md_page *page_of(uint8_t *data, uint64_t idx)
{
	return (struct blob_md_page *)(data + (4 + idx) * 4096);
}

/* A flipped byte in a page: "(Mismatch)" as SPDK prints it, the other pages still dumped. */
static void bad_crc(const char *base, uint64_t size, int pages)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev(base, size, &data);
	struct result r;

	page_of(data, 0)->descriptors[40] ^= 0x20;
	r = run_dump(d);
	cr_assert_eq(r.rc, -EBADMSG, "expected -EBADMSG, got %d", r.rc);
	cr_assert_eq(count(r.text, "(Mismatch)"), 1, "one CRC mismatch shown:\n%s", r.text);
	cr_assert_eq(count(r.text, "=========\n"), pages, "expected %d pages dumped:\n%s", pages,
		     r.text);
	free(r.text);
}

Test(bs_dump, blobcli_bad_crc)
{
	bad_crc("blobcli-basic", BIMG_BLOBCLI_SIZE, 6);
}

Test(bs_dump, lvol_bad_crc)
{
	bad_crc("lvol-basic", BIMG_LVOL_SIZE, 5);
}

/* Page `a` (a blob's first) -> `b` -> `a`, sequence numbers and CRCs made plausible. */
static void next_loop(const char *base, uint64_t size, uint32_t a, uint32_t b, int pages)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev(base, size, &data);
	struct result r;

	page_of(data, b)->sequence_num = 1;
	blob_md_page_seal(page_of(data, a), b);
	blob_md_page_seal(page_of(data, b), a);
	r = run_dump(d);
	cr_assert_eq(r.rc, -EINVAL, "expected -EINVAL, got %d", r.rc);
	cr_assert_eq(count(r.text, "(a loop)"), 1, "the loop reported once:\n%s", r.text);
	cr_assert_eq(count(r.text, "(Mismatch)"), 0);
	cr_assert_eq(count(r.text, "=========\n"), pages);
	free(r.text);
}

Test(bs_dump, blobcli_next_loop)
{
	next_loop("blobcli-basic", BIMG_BLOBCLI_SIZE, 2, 3, 6);
}

Test(bs_dump, lvol_next_loop)
{
	next_loop("lvol-basic", BIMG_LVOL_SIZE, 3, 4, 5);
}

Test(bs_dump, self_loop_and_next_out_of_range)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev("blobcli-basic", BIMG_BLOBCLI_SIZE, &data);
	struct result r;

	blob_md_page_seal(page_of(data, 0), 0);
	blob_md_page_seal(page_of(data, 2), 5000);
	r = run_dump(d);
	cr_assert_eq(r.rc, -EINVAL, "the first problem (the loop): got %d", r.rc);
	cr_assert_eq(count(r.text, "(a loop)"), 1, "%s", r.text);
	cr_assert_eq(count(r.text, "next 5000 outside the 64 md pages"), 1, "%s", r.text);
	free(r.text);
}

Test(bs_dump, descriptor_past_page)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev("blobcli-basic", BIMG_BLOBCLI_SIZE, &data);
	struct blob_desc_hdr h = {.type = BLOB_DESC_XATTR, .length = 5000};
	struct result r;

	memcpy(page_of(data, 2)->descriptors + 29, &h, sizeof(h));
	blob_md_page_seal(page_of(data, 2), BLOB_MD_PAGE_INVALID);
	r = run_dump(d);
	cr_assert_eq(r.rc, -EINVAL, "got %d", r.rc);
	cr_assert_eq(count(r.text, "Error: md page 2: descriptor type 2 at offset 29: length 5000"),
		     1, "%s", r.text);
	cr_assert_eq(count(r.text, "=========\n"), 6);
	free(r.text);
}

Test(bs_dump, bad_mask)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev("blobcli-basic", BIMG_BLOBCLI_SIZE, &data);
	struct result r;

	data[1 * 4096] = BLOB_MASK_USED_CLUSTERS; /* the used-page mask's type */
	r = run_dump(d);
	cr_assert_eq(r.rc, -EINVAL, "got %d", r.rc);
	cr_assert_eq(count(r.text, "Error: mask type 1, expected 0"), 1, "%s", r.text);
	cr_assert_eq(count(r.text, "In used bit array: blob\n"), 3, "no md bits:\n%s", r.text);
	free(r.text);
}

/* A fresh blobstore as SPDK lays it out, written into the memory device. */
static struct blob_super_block *fresh(uint8_t *data, uint64_t blockcnt)
{
	struct blob_super_params p = {
	    .blockcnt = blockcnt, .blocklen = 4096, .cluster_size = 1 << 20};
	struct blob_super_block *s = (struct blob_super_block *)data;
	uint8_t bits[64] = {1};
	uint64_t start, len;

	cr_assert_eq(blob_super_build(s, &p, NULL), 0);
	for (uint8_t t = 0; t < 3; t++) {
		blob_super_mask_region(s, t, &start, &len);
		cr_assert_eq(blob_mask_encode(data + start * 4096, len * 4096, t,
					      t == BLOB_MASK_USED_CLUSTERS ? bits : bits + 1,
					      blockcnt / 256),
			     0);
	}
	return s;
}

Test(bs_dump, empty_blobstore)
{
	uint8_t *data;
	struct spio_bs_dev *d = spy_dev(64 << 20, 4096, &data);
	struct result r;

	fresh(data, 16384);
	r = run_dump(d);
	cr_assert_eq(r.rc, 0, "%s", r.text);
	cr_assert(strstr(r.text, "Super Blob ID: (None)\nClean: 0\n") != NULL, "%s", r.text);
	cr_assert(strstr(r.text, "Metadata Length: 64\n") != NULL);
	cr_assert_eq(count(r.text, "========="), 0, "no md page in use");
	cr_assert_eq(g_spy.reads, 1 + 3 + 64, "super, 3 masks, 64 md pages: %d reads", g_spy.reads);
	free(r.text);
}

Test(bs_dump, not_a_blobstore)
{
	uint8_t *data;
	struct spio_bs_dev *d = spy_dev(1 << 20, 4096, &data);
	struct result r;

	memcpy(data, "NOTABLOBSTORE", 13);
	r = run_dump(d);
	cr_assert_eq(r.rc, -EILSEQ);
	cr_assert_str_eq(r.text, "Signature: \"NOTABLOB\" (Mismatch)\n");
	free(r.text);
}

Test(bs_dump, regions_past_device)
{
	uint8_t *data;
	struct spio_bs_dev *d = spy_dev(64 << 20, 4096, &data);
	struct blob_super_block *s = fresh(data, 16384);
	struct result r;

	s->md_start = 20000;
	blob_super_set_crc(s);
	r = run_dump(d);
	cr_assert_eq(r.rc, -ERANGE, "got %d", r.rc);
	cr_assert(strstr(r.text, "Metadata Length: 64\nError: md region at md page 20000") != NULL,
		  "%s", r.text);
	cr_assert_eq(g_spy.reads, 1, "nothing read past the super block");
	free(r.text);
}

Test(bs_dump, super_crc_and_version)
{
	uint8_t *data;
	struct spio_bs_dev *d = spy_dev(64 << 20, 4096, &data);
	struct blob_super_block *s = fresh(data, 16384);
	struct result r;

	s->version = 9;
	r = run_dump(d);
	cr_assert_eq(r.rc, -EBADMSG, "the stale CRC first: got %d", r.rc);
	cr_assert(strstr(r.text, "Version: 9\nCRC: ") != NULL);
	cr_assert_eq(count(r.text, "(Mismatch)"), 1, "%s", r.text);
	cr_assert_eq(count(r.text, "Error: version 9 not supported"), 1, "%s", r.text);
	free(r.text);
}

Test(bs_dump, read_error)
{
	uint8_t *data;
	struct spio_bs_dev *d = spy_dev(64 << 20, 4096, &data);
	struct result r;

	fresh(data, 16384);
	g_spy.fail_read = 3;
	r = run_dump(d);
	cr_assert_eq(r.rc, -EIO, "got %d", r.rc);
	cr_assert_eq(g_spy.reads, 3, "stopped at the failed read");
	cr_assert(strstr(r.text, "Error: read failed (-5)\n") != NULL, "%s", r.text);
	free(r.text);
}

Test(bs_dump, device_too_small)
{
	uint8_t *data;
	struct spio_bs_dev *d = spy_dev(1024, 512, &data);
	struct result r = run_dump(d);

	cr_assert_eq(r.rc, -ERANGE, "got %d", r.rc);
	cr_assert_eq(g_spy.reads, 0);
	free(r.text);
}

Test(bs_dump, no_stream)
{
	uint8_t *data;
	struct result r = {.in_call = true};
	int polls = 0;

	spio_bs_dump(spy_dev(1 << 20, 4096, &data), NULL, NULL, dump_cpl, &r);
	r.in_call = false;
	while (r.done == 0 && polls++ < 1000) {
		poll_n(1);
	}
	poll_n(10);
	cr_assert_eq(r.done, 1);
	cr_assert_eq(r.rc, -EINVAL);
	cr_assert_eq(g_spy.destroyed, 1, "the device is consumed even so");
}
