/*
 * spio_bs_load on SPDK's images: what a clean load finds (masks, super blob,
 * counts) against the manifests, the same from a forced or needed recovery,
 * corrupt images refused with the right errno and not a byte written, and
 * snapshots a crash left half made or half removed settled as SPDK does.
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
#include "helper_spy_dev.h"
#include "helper_blob_thread.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/env.h"
#include "spio/thread.h"
#include "spio/util.h"

#define PS 4096u

static struct spio_thread *g_thread;
/* Counts writes and its destruction, keeps the memory device (its bytes) after destroy() for
 * the test to look at. */
static struct spy_dev g_spy;
static json_t *g_manifest;

static void setup(void)
{
	blob_test_env_init("test_bs_load");
	g_thread = blob_test_thread_start("bs_load");
}

static void teardown(void)
{
	spy_dev_release(&g_spy);
	json_decref(g_manifest);
	g_manifest = NULL;
	blob_test_thread_end(g_thread);
	spio_env_fini();
}

TestSuite(bs_load, .init = setup, .fini = teardown);

static void poll_n(int n)
{
	blob_test_thread_poll(g_thread, n);
}

/* An empty memory device of `size` bytes behind the spy; its bytes in *data. */
static struct spio_bs_dev *spy_dev(uint64_t size, uint32_t blocklen, uint8_t **data)
{
	return spy_dev_init(&g_spy, size, blocklen, data);
}

static void need_image(const char *base, char *gz)
{
	char jname[64], path[PATH_MAX];
	json_error_t jerr;

	snprintf(gz, 64, "%s.img.gz", base);
	snprintf(jname, sizeof(jname), "%s.json", base);
	if (!bimg_path(gz, path) || !bimg_path(jname, path)) {
		cr_skip_test("test image %s/%s or its manifest missing (set SPIO_TESTDATA)",
			     bimg_dir(), gz);
	}
	json_decref(g_manifest);
	g_manifest = json_load_file(path, 0, &jerr);
	cr_assert_not_null(g_manifest, "manifest %s: %s", path, jerr.text);
}

/* SPDK's image `base` in a spy device of `blocklen` blocks. */
static struct spio_bs_dev *image_dev(const char *base, uint64_t size, uint32_t blocklen,
				     uint8_t **data)
{
	char gz[64], why[256];
	struct spio_bs_dev *d;
	long long got;

	need_image(base, gz);
	d = spy_dev(size, blocklen, data);
	got = bimg_gunzip(gz, *data, size, why);
	cr_assert_eq(got, (long long)size, "%s: expected %llu bytes, got %lld (%s)", gz,
		     (unsigned long long)size, got, got < 0 ? why : "wrong size");
	return d;
}

struct load_result {
	bool in_call;
	int done;
	int rc;
	int destroyed_at_cpl;
	struct spio_blob_store *bs;
};

static void load_cpl(void *cb_arg, struct spio_blob_store *bs, int bserrno)
{
	struct load_result *r = cb_arg;

	cr_assert_not(r->in_call, "completion inside spio_bs_load()");
	r->done++;
	r->rc = bserrno;
	r->bs = bs;
	r->destroyed_at_cpl = g_spy.destroyed;
}

static struct load_result run_load(struct spio_bs_dev *d, struct spio_bs_opts *opts)
{
	struct load_result r = {.in_call = true};
	int polls = 0;

	spio_bs_load(d, opts, load_cpl, &r);
	r.in_call = false;
	while (r.done == 0 && polls++ < 1000000) {
		poll_n(1);
	}
	poll_n(10);
	cr_assert_eq(r.done, 1, "load did not complete once in %d polls, got %d", polls, r.done);
	cr_assert_eq(r.rc == 0, r.bs != NULL, "rc %d with store %p", r.rc, (void *)r.bs);
	return r;
}

static void op_cpl(void *cb_arg, int bserrno)
{
	int *rc = cb_arg;

	*rc = bserrno;
}

static void unload(struct spio_blob_store *bs)
{
	int rc = 1, polls = 0;

	spio_bs_unload(bs, op_cpl, &rc);
	while (rc == 1 && polls++ < 1000000) {
		poll_n(1);
	}
	cr_assert_eq(rc, 0, "unload: %d", rc);
	cr_assert_eq(g_spy.destroyed, 1, "device destroyed once at unload, got %d",
		     g_spy.destroyed);
}

/* A refused load: the errno, no write, the device destroyed before the completion. */
static void expect_refused(struct spio_bs_dev *d, struct spio_bs_opts *opts, uint64_t size,
			   int want, const char *what)
{
	const uint8_t *data = spio_bs_dev_mem_data(g_spy.inner);
	uint32_t crc_before = spio_crc32c(data, size);
	struct load_result r = run_load(d, opts);

	cr_assert_eq(r.rc, want, "%s: expected %d (%s), got %d (%s)", what, want, strerror(-want),
		     r.rc, strerror(-r.rc));
	cr_assert_eq(g_spy.writes, 0, "%s: %d writes to a refused image", what, g_spy.writes);
	cr_assert_eq(r.destroyed_at_cpl, 1, "%s: device destroyed %d times before the completion",
		     what, r.destroyed_at_cpl);
	cr_assert_eq(spio_crc32c(data, size), crc_before, "%s: the device's bytes changed", what);
}

static struct blob_md_page *md_page(uint8_t *data, uint32_t idx)
{
	const struct blob_super_block *s = (const void *)data;

	return (struct blob_md_page *)(data + ((uint64_t)s->md_start + idx) * PS);
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

/* The store's three masks are exactly the manifest's lists. */
static void check_masks(const struct spio_blob_store *bs, const char *what)
{
	static const char *const keys[] = {"used_md_pages", "used_cluster_indices",
					   "used_blobid_indices"};
	const struct bs_bits *bits[] = {&bs->used_md_pages, &bs->used_clusters, &bs->used_blobids};
	json_t *jbs = json_object_get(g_manifest, "blobstore");

	for (int t = 0; t < 3; t++) {
		json_t *list = json_object_get(jbs, keys[t]);
		uint64_t want_set = json_array_size(list), at = 0;
		json_t *v;
		size_t i;

		json_array_foreach(list, i, v)
		{
			uint64_t bit = (uint64_t)json_integer_value(v);

			cr_assert(bs_bits_test(bits[t], bit), "%s: %s bit %lu not set", what,
				  keys[t], bit);
		}
		for (uint64_t b = 0; b < bits[t]->nbits; b++) {
			at += bs_bits_test(bits[t], b);
		}
		cr_assert_eq(at, want_set, "%s: %s has %lu bits set, the manifest %lu", what,
			     keys[t], at, want_set);
		cr_assert_eq(bits[t]->nset, want_set, "%s: %s counts %lu set", what, keys[t],
			     bits[t]->nset);
	}
}

static void check_store(const struct load_result *r, const char *what)
{
	json_t *jbs = json_object_get(g_manifest, "blobstore");
	struct spio_bs_type t = spio_bs_get_bstype(r->bs);
	const char *bstype = json_string_value(json_object_get(jbs, "bstype"));

	cr_assert_eq(r->rc, 0, "%s: load failed with %d", what, r->rc);
	check_masks(r->bs, what);
	cr_assert_eq(r->bs->super_blob, jhex(jbs, "super_blob_id"));
	cr_assert_eq(spio_bs_get_cluster_size(r->bs), jint(jbs, "cluster_size"));
	cr_assert_eq(spio_bs_get_page_size(r->bs), jint(jbs, "md_page_size"));
	cr_assert_eq(spio_bs_get_io_unit_size(r->bs), jint(jbs, "io_unit_size"));
	cr_assert_eq(spio_bs_free_cluster_count(r->bs), jint(jbs, "free_clusters"),
		     "%s: %lu free clusters", what, spio_bs_free_cluster_count(r->bs));
	cr_assert_eq(r->bs->geo.total_clusters, jint(jbs, "total_clusters"));
	cr_assert_eq(strncmp(t.bstype, bstype, sizeof(t.bstype)), 0, "bstype \"%.16s\"", t.bstype);
	cr_assert(TAILQ_EMPTY(&r->bs->snapshots), "no snapshots in these images");
	cr_assert(TAILQ_EMPTY(&r->bs->open_blobs), "no blob left open by the load");
}

/* The image on the device says "not clean" with a good CRC, the rest unchanged. */
static void check_marked_dirty(uint8_t *data)
{
	const struct blob_super_block *s = (const void *)data;

	cr_assert_eq(s->clean, 0, "the super block written at load says clean %u", s->clean);
	cr_assert(blob_super_crc_ok(s));
}

static void ids_seen(void *cb_arg, struct spio_blob *blob, int bserrno)
{
	json_t *ids = cb_arg;

	cr_assert_eq(bserrno, 0);
	json_array_append_new(ids, json_integer((json_int_t)spio_blob_get_id(blob)));
}

static void clean_load(const char *base, uint64_t size)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev(base, size, PS, &data);
	json_t *seen = json_array(), *blobs, *jb;
	struct spio_bs_opts o;
	struct load_result r;
	size_t i;

	spio_bs_opts_init(&o, sizeof(o));
	o.iter_cb_fn = ids_seen;
	o.iter_cb_arg = seen;
	r = run_load(d, &o);
	check_store(&r, base);
	cr_assert_eq(g_spy.writes, 1, "only the super block written, got %d writes", g_spy.writes);
	check_marked_dirty(data);
	blobs = json_object_get(g_manifest, "blobs");
	cr_assert_eq(json_array_size(seen), json_array_size(blobs), "iter_cb_fn saw %zu blobs",
		     json_array_size(seen));
	json_array_foreach(blobs, i, jb)
	{
		cr_assert_eq((uint64_t)json_integer_value(json_array_get(seen, i)),
			     jhex(jb, "blob_id"), "blob %zu in id order", i);
	}
	json_decref(seen);
	unload(r.bs);
	cr_assert_eq(((struct blob_super_block *)data)->clean, 1, "clean after unload");
}

Test(bs_load, blobcli_clean)
{
	clean_load("blobcli-basic", BIMG_BLOBCLI_SIZE);
}

Test(bs_load, lvol_clean)
{
	clean_load("lvol-basic", BIMG_LVOL_SIZE);
}

static void forced_recovery(const char *base, uint64_t size)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev(base, size, PS, &data);
	struct spio_bs_opts o;
	struct load_result r;

	spio_bs_opts_init(&o, sizeof(o));
	o.force_recover = true;
	r = run_load(d, &o);
	check_store(&r, base);
	unload(r.bs);
}

Test(bs_load, blobcli_force_recover)
{
	forced_recovery("blobcli-basic", BIMG_BLOBCLI_SIZE);
}

Test(bs_load, lvol_force_recover)
{
	forced_recovery("lvol-basic", BIMG_LVOL_SIZE);
}

/* Not clean, masks zeroed: recovery rebuilds them from the blobs' metadata. */
static void make_dirty(uint8_t *data, bool zero_masks)
{
	struct blob_super_block *s = (void *)data;

	if (zero_masks) {
		memset(data + (uint64_t)s->used_page_mask_start * PS, 0,
		       (uint64_t)(s->md_start - s->used_page_mask_start) * PS);
	}
	s->clean = 0;
	blob_super_set_crc(s);
}

static void dirty_recovery(const char *base, uint64_t size, uint32_t blocklen)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev(base, size, blocklen, &data);
	struct load_result r;

	make_dirty(data, true);
	r = run_load(d, NULL);
	check_store(&r, base);
	unload(r.bs);
	/* Unloaded, the masks on the device are SPDK's again: a clean load agrees. */
	g_spy.destroyed = 0;
	g_spy.writes = 0;
	r = run_load(&g_spy.base, NULL);
	check_store(&r, base);
	unload(r.bs);
}

Test(bs_load, blobcli_dirty_recovery)
{
	dirty_recovery("blobcli-basic", BIMG_BLOBCLI_SIZE, PS);
}

Test(bs_load, lvol_dirty_recovery)
{
	dirty_recovery("lvol-basic", BIMG_LVOL_SIZE, PS);
}

Test(bs_load, lvol_on_512_byte_blocks)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev("lvol-basic", BIMG_LVOL_SIZE, 512, &data);
	struct load_result r = run_load(d, NULL);

	check_store(&r, "lvol on 512-byte blocks");
	unload(r.bs);
}

/* Recovery drops a blob whose chain does not check, and its clusters are free again. */
Test(bs_load, recovery_drops_broken_blob)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev("blobcli-basic", BIMG_BLOBCLI_SIZE, PS, &data);
	struct load_result r;

	/* charlie (page 6, clusters 8..17): a flipped byte in its first page. */
	md_page(data, 6)->descriptors[40] ^= 0x20;
	make_dirty(data, false);
	r = run_load(d, NULL);
	cr_assert_eq(r.rc, 0, "%d", r.rc);
	cr_assert_not(bs_bits_test(&r.bs->used_blobids, 6));
	cr_assert_not(bs_bits_test(&r.bs->used_md_pages, 6));
	cr_assert_not(bs_bits_test(&r.bs->used_md_pages, 7), "its extent page is free");
	cr_assert_eq(r.bs->used_blobids.nset, 2);
	for (uint64_t c = 8; c < 18; c++) {
		cr_assert_not(bs_bits_test(&r.bs->used_clusters, c), "cluster %lu", c);
	}
	cr_assert_eq(spio_bs_free_cluster_count(r.bs), 48 + 10);
	unload(r.bs);
}

/*
 * Corrupt images: refused, untouched.
 */

static struct spio_bs_dev *blobcli(uint8_t **data)
{
	return image_dev("blobcli-basic", BIMG_BLOBCLI_SIZE, PS, data);
}

Test(bs_load, bad_super_crc)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	data[100] ^= 1;
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -EBADMSG, "bad super block CRC");
}

Test(bs_load, wrong_signature)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	data[0] = 'X';
	blob_super_set_crc((void *)data);
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -EILSEQ, "wrong signature");
}

Test(bs_load, foreign_bstype)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev("lvol-basic", BIMG_LVOL_SIZE, PS, &data);
	struct spio_bs_opts o;

	spio_bs_opts_init(&o, sizeof(o));
	memcpy(o.bstype.bstype, "BLOBFS", 6);
	expect_refused(d, &o, BIMG_LVOL_SIZE, -ENXIO, "a type other than LVOLSTORE");
}

Test(bs_load, matching_bstype)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev("lvol-basic", BIMG_LVOL_SIZE, PS, &data);
	struct spio_bs_opts o;
	struct load_result r;

	spio_bs_opts_init(&o, sizeof(o));
	memcpy(o.bstype.bstype, "LVOLSTORE", 9);
	r = run_load(d, &o);
	check_store(&r, "type asked for");
	unload(r.bs);
}

Test(bs_load, chain_page_bad_crc)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	md_page(data, 2)->descriptors[40] ^= 0x20;
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -EBADMSG, "md page CRC in a chain");
}

Test(bs_load, chain_loops)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	/* bravo (page 2) -> page 4 -> page 2 again, every page good on its own. */
	memcpy(md_page(data, 4), md_page(data, 2), PS);
	md_page(data, 4)->sequence_num = 1;
	blob_md_page_seal(md_page(data, 4), 2);
	blob_md_page_seal(md_page(data, 2), 4);
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -EINVAL, "a chain that loops");
}

Test(bs_load, chain_next_out_of_range)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	blob_md_page_seal(md_page(data, 2), 5000);
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -ERANGE, "next past the md region");
}

/* Entry `i` of the extent page at md page `ep` set to `cluster`, resealed. */
static void set_ep_cluster(uint8_t *data, uint32_t ep, uint32_t i, uint32_t cluster)
{
	memcpy(md_page(data, ep)->descriptors + 9 + 4 * i, &cluster, 4);
	blob_md_page_seal(md_page(data, ep), BLOB_MD_PAGE_INVALID);
}

Test(bs_load, cluster_out_of_range)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	set_ep_cluster(data, 3, 1, 1000);
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -ERANGE, "a cluster past the device");
}

Test(bs_load, two_blobs_one_cluster)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	/* bravo's first cluster becomes charlie's cluster 8. */
	set_ep_cluster(data, 3, 0, 8);
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -EINVAL, "two blobs owning one cluster");
}

Test(bs_load, two_blobs_one_cluster_dirty)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	set_ep_cluster(data, 3, 0, 8);
	make_dirty(data, true);
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -EINVAL, "two blobs, one cluster, recovery");
}

/* Clear bit `bit` of the mask whose region starts at page `start`. */
static void clear_mask_bit(uint8_t *data, uint32_t start, uint64_t bit)
{
	uint8_t *bits = data + (uint64_t)start * PS + sizeof(struct blob_mask_hdr);

	bits[bit / 8] &= (uint8_t) ~(1u << (bit % 8));
}

Test(bs_load, cluster_not_marked)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	clear_mask_bit(data, ((struct blob_super_block *)data)->used_cluster_mask_start, 17);
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -EINVAL, "a used cluster not in the mask");
}

Test(bs_load, md_page_not_marked)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	clear_mask_bit(data, ((struct blob_super_block *)data)->used_page_mask_start, 7);
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -EINVAL, "an extent page not in the mask");
}

Test(bs_load, blobid_without_blob)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);
	uint8_t *bits = data +
			(uint64_t)((struct blob_super_block *)data)->used_blobid_mask_start * PS +
			sizeof(struct blob_mask_hdr);

	bits[0] |= 1u << 4; /* page 4: deleted, zeroed */
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -EINVAL, "a blob id with no blob");
}

Test(bs_load, bad_mask_header)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	data[(uint64_t)((struct blob_super_block *)data)->used_cluster_mask_start * PS] = 7;
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -EINVAL, "a mask of the wrong type");
}

Test(bs_load, xattr_length_past_page)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);
	struct blob_desc_hdr h = {.type = BLOB_DESC_XATTR, .length = 5000};

	memcpy(md_page(data, 2)->descriptors + 29, &h, sizeof(h));
	blob_md_page_seal(md_page(data, 2), BLOB_MD_PAGE_INVALID);
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -EINVAL, "xattr length past the page");
}

Test(bs_load, unknown_invalid_flag)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);
	uint64_t f = 1u << 12;

	memcpy(md_page(data, 2)->descriptors + 5, &f, 8);
	blob_md_page_seal(md_page(data, 2), BLOB_MD_PAGE_INVALID);
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE, -ENOTSUP, "a flag this code does not know");
}

Test(bs_load, truncated_device)
{
	uint8_t *data, *full = bimg_map(BIMG_BLOBCLI_SIZE);
	char gz[64], why[256];
	struct spio_bs_dev *d;

	need_image("blobcli-basic", gz);
	cr_assert_eq(bimg_gunzip(gz, full, BIMG_BLOBCLI_SIZE, why), (long long)BIMG_BLOBCLI_SIZE);
	d = spy_dev(BIMG_BLOBCLI_SIZE / 2, PS, &data);
	memcpy(data, full, BIMG_BLOBCLI_SIZE / 2);
	bimg_unmap(full, BIMG_BLOBCLI_SIZE);
	expect_refused(d, NULL, BIMG_BLOBCLI_SIZE / 2, -ERANGE, "half the device");
}

Test(bs_load, block_larger_than_md_page)
{
	uint8_t *data;
	struct spio_bs_dev *d = spy_dev(1u << 20, 8192, &data);

	expect_refused(d, NULL, 1u << 20, -EINVAL, "8 KiB blocks");
}

Test(bs_load, bad_options)
{
	uint8_t *data;
	struct spio_bs_opts o;
	struct spio_bs_dev *d = blobcli(&data);

	spio_bs_opts_init(&o, sizeof(o));
	o.max_channel_ops = 0;
	expect_refused(d, &o, BIMG_BLOBCLI_SIZE, -EINVAL, "max_channel_ops 0");
	g_spy.destroyed = 0;
	spio_bs_opts_init(&o, sizeof(o));
	o.opts_size = 0;
	expect_refused(&g_spy.base, &o, BIMG_BLOBCLI_SIZE, -EINVAL, "opts_size 0");
}

Test(bs_load, opts_init)
{
	struct spio_bs_opts o;
	struct spio_blob_opts bo;
	uint8_t raw[sizeof(o)];

	memset(&o, 0xa5, sizeof(o));
	spio_bs_opts_init(&o, sizeof(o));
	cr_assert_eq(o.cluster_sz, 1u << 20);
	cr_assert_eq(o.num_md_pages, UINT32_MAX);
	cr_assert_eq(o.max_channel_ops, 512);
	cr_assert_eq(o.clear_method, SPIO_BS_CLEAR_WITH_UNMAP);
	cr_assert_eq(o.md_page_size, 4096);
	cr_assert_null(o.iter_cb_fn);
	cr_assert_not(o.force_recover);
	cr_assert_eq(o.opts_size, sizeof(o));
	for (int i = 0; i < SPIO_BLOBSTORE_TYPE_LENGTH; i++) {
		cr_assert_eq(o.bstype.bstype[i], 0);
	}
	/* An older caller's shorter struct: nothing past its size is touched. */
	memset(raw, 0xa5, sizeof(raw));
	spio_bs_opts_init((struct spio_bs_opts *)raw, offsetof(struct spio_bs_opts, clear_method));
	cr_assert_eq(((struct spio_bs_opts *)raw)->max_channel_ops, 512);
	for (size_t i = offsetof(struct spio_bs_opts, clear_method); i < sizeof(raw); i++) {
		cr_assert_eq(raw[i], 0xa5, "byte %zu past the caller's struct written", i);
	}

	memset(&bo, 0xa5, sizeof(bo));
	spio_blob_opts_init(&bo, sizeof(bo));
	cr_assert_eq(bo.num_clusters, 0);
	cr_assert_not(bo.thin_provision);
	cr_assert_eq(bo.clear_method, SPIO_BLOB_CLEAR_WITH_DEFAULT);
	cr_assert(bo.use_extent_table);
	cr_assert_eq(bo.xattrs.count, 0);
	cr_assert_null(bo.xattrs.names);
	cr_assert_eq(bo.opts_size, sizeof(bo));
}

/*
 * Snapshots a crash interrupted. The lvol image has thick0 (page 1, extent
 * page 2, clusters 1..4). A snapshot S of it is made by hand at page 5 the
 * way SPDK lays one out: thick0's flags and extent table (the same extent
 * page), and the internal xattr naming thick0.
 */

static struct spio_blob_store g_fake;

/* Blob `page` of the image, parsed with a store of the image's geometry. */
static struct spio_blob *img_blob(uint8_t *data, uint32_t page)
{
	struct spio_blob *b;
	struct blob_fmt_err err;
	int rc;

	memset(&g_fake, 0, sizeof(g_fake));
	cr_assert_eq(
	    blob_super_validate((void *)data, BIMG_LVOL_SIZE / PS, PS, NULL, &g_fake.geo, NULL), 0);
	b = blob_alloc(&g_fake, blob_page_to_id(page));
	cr_assert_not_null(b);
	rc = blob_md_parse(b, md_page(data, page), 1, &err);
	cr_assert_eq(rc, 0, "%d %s", rc, err.msg);
	return b;
}

/* Write the blob's (one page) chain to its page of the image. */
static void img_put(uint8_t *data, struct spio_blob *b)
{
	uint8_t page[PS];

	cr_assert_eq(blob_md_serialize(b, page, 1), 1);
	blob_md_page_seal((void *)page, BLOB_MD_PAGE_INVALID);
	memcpy(md_page(data, blob_id_to_page(b->id)), page, PS);
}

static void set_mark(struct spio_blob *b, const char *name, spio_blob_id v)
{
	cr_assert_eq(blob_xattr_set(b, name, &v, sizeof(v), true), 0);
}

/* thick0 made a thin clone of `parent` holding no cluster of its own. */
static void origin_took_step(uint8_t *data, spio_blob_id parent)
{
	struct spio_blob *o = img_blob(data, 1);

	o->invalid_flags |= BLOB_FLAG_THIN_PROV;
	memset(o->active.clusters, 0, o->active.num_clusters * 8);
	memset(o->active.extent_pages, 0, o->active.num_extent_pages * 4);
	set_mark(o, BLOB_XATTR_SNAPSHOT, parent);
	img_put(data, o);
	blob_free(o);
}

static struct spio_bs_dev *with_snapshot(uint8_t **data, const char *mark, bool origin_done)
{
	struct spio_bs_dev *d = image_dev("lvol-basic", BIMG_LVOL_SIZE, PS, data);
	struct spio_blob *s = img_blob(*data, 1);
	spio_blob_id sid = blob_page_to_id(5);

	s->id = sid;
	if (mark != NULL) {
		set_mark(s, mark, blob_page_to_id(1));
	}
	img_put(*data, s);
	blob_free(s);
	if (origin_done) {
		origin_took_step(*data, sid);
	}
	make_dirty(*data, true);
	return d;
}

static struct blob_xattr *internal(struct spio_blob *b, const char *name)
{
	return blob_xattr_find(&b->xattrs_internal, name);
}

/* Before the origin was written: the snapshot goes, its clusters stay with thick0. */
static void snapshot_rolled_back(const char *mark)
{
	uint8_t *data, ep_before[PS];
	struct spio_bs_dev *d = with_snapshot(&data, mark, false);
	struct load_result r;

	memcpy(ep_before, md_page(data, 2), PS);
	r = run_load(d, NULL);
	check_store(&r, "snapshot rolled back");
	cr_assert_not(bs_bits_test(&r.bs->used_blobids, 5));
	unload(r.bs);
	for (size_t i = 0; i < PS; i++) {
		cr_assert_eq(((uint8_t *)md_page(data, 5))[i], 0, "the snapshot's page zeroed");
	}
	cr_assert_arr_eq(md_page(data, 2), ep_before, PS, "the shared extent page untouched");
	/* And the result loads clean, thick0 whole. */
	g_spy.destroyed = 0;
	r = run_load(&g_spy.base, NULL);
	check_store(&r, "after the roll back");
	unload(r.bs);
}

Test(bs_load, unfinished_snapshot_rolled_back)
{
	snapshot_rolled_back(BLOB_XATTR_SNAPSHOT_IN_PROGRESS);
}

Test(bs_load, snapshot_removal_done_by_clone)
{
	/* SNAPRM on S naming thick0, which has S's clusters and no parent: S goes. */
	snapshot_rolled_back(BLOB_XATTR_SNAPSHOT_PENDING_REMOVAL);
}

/* After the origin was written: the snapshot is kept, marks gone, read-only. */
static void snapshot_kept(const char *mark)
{
	uint8_t *data;
	struct spio_bs_dev *d = with_snapshot(&data, mark, true);
	spio_blob_id sid = blob_page_to_id(5), oid = blob_page_to_id(1);
	struct spio_blob *s;
	struct bs_snapshot_entry *e;
	struct load_result r;

	r = run_load(d, NULL);
	cr_assert_eq(r.rc, 0, "%d", r.rc);
	cr_assert(bs_bits_test(&r.bs->used_blobids, 5));
	cr_assert(bs_bits_test(&r.bs->used_md_pages, 2), "the extent page is S's now");
	for (uint64_t c = 1; c <= 4; c++) {
		cr_assert(bs_bits_test(&r.bs->used_clusters, c));
	}
	e = bs_snapshot_find(r.bs, sid);
	cr_assert_not_null(e, "S is registered as a snapshot");
	cr_assert_eq(e->clone_count, 1);
	cr_assert_eq(e->clones[0], oid);
	cr_assert_eq(spio_blob_get_parent_snapshot(r.bs, oid), sid);
	unload(r.bs);

	s = img_blob(data, 5);
	cr_assert_null(internal(s, BLOB_XATTR_SNAPSHOT_IN_PROGRESS), "SNAPTMP removed");
	cr_assert_null(internal(s, BLOB_XATTR_SNAPSHOT_PENDING_REMOVAL), "SNAPRM removed");
	cr_assert(s->data_ro && s->md_ro, "the kept snapshot is read-only");
	cr_assert_eq(s->active.extent_pages[0], 2, "S keeps the extent page");
	cr_assert_eq(blob_ep_parse(s, 0, md_page(data, 2), NULL), 0);
	cr_assert_eq(s->active.num_allocated, 4, "S holds thick0's 4 clusters");
	blob_free(s);
}

Test(bs_load, finished_snapshot_kept)
{
	snapshot_kept(BLOB_XATTR_SNAPSHOT_IN_PROGRESS);
}

Test(bs_load, snapshot_removal_undone)
{
	snapshot_kept(BLOB_XATTR_SNAPSHOT_PENDING_REMOVAL);
}

Test(bs_load, shared_clusters_without_mark)
{
	uint8_t *data;
	struct spio_bs_dev *d = with_snapshot(&data, NULL, false);

	expect_refused(d, NULL, BIMG_LVOL_SIZE, -EINVAL, "S and thick0 share clusters, no mark");
}

Test(bs_load, clone_of_missing_parent)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev("lvol-basic", BIMG_LVOL_SIZE, PS, &data);

	origin_took_step(data, blob_page_to_id(9));
	make_dirty(data, true);
	expect_refused(d, NULL, BIMG_LVOL_SIZE, -EINVAL, "a clone whose parent does not exist");
}

/* Clean image with S marked in the masks: the clean path settles S the same way. */
Test(bs_load, unfinished_snapshot_in_clean_image)
{
	uint8_t *data;
	struct spio_bs_dev *d = image_dev("lvol-basic", BIMG_LVOL_SIZE, PS, &data);
	struct blob_super_block *sb = (void *)data;
	struct spio_blob *s = img_blob(data, 1);
	struct load_result r;

	s->id = blob_page_to_id(5);
	set_mark(s, BLOB_XATTR_SNAPSHOT_IN_PROGRESS, blob_page_to_id(1));
	img_put(data, s);
	blob_free(s);
	data[(uint64_t)sb->used_page_mask_start * PS + sizeof(struct blob_mask_hdr)] |= 1u << 5;
	data[(uint64_t)sb->used_blobid_mask_start * PS + sizeof(struct blob_mask_hdr)] |= 1u << 5;
	r = run_load(d, NULL);
	check_store(&r, "S settled at a clean load");
	unload(r.bs);
}

/* A read error anywhere in the load: refused with it, nothing written, nothing leaked. */
static void read_errors(bool dirty)
{
	uint8_t *data;
	int reads;
	struct load_result r;

	blobcli(&data);
	if (dirty) {
		make_dirty(data, true);
	}
	/* Count the reads of a good load first: it writes only the super block. */
	r = run_load(&g_spy.base, NULL);
	cr_assert_eq(r.rc, 0);
	reads = g_spy.reads;
	spio_bs_unload(r.bs, NULL, NULL);
	poll_n(1000);
	cr_assert_geq(reads, dirty ? 4 : 8, "%d reads", reads);
	if (dirty) {
		make_dirty(data, true);
	}
	/* A refused load leaves the device as it was: the same one serves every case. */
	for (int n = 1; n <= reads; n++) {
		g_spy.reads = 0;
		g_spy.writes = 0;
		g_spy.destroyed = 0;
		g_spy.fail_read = n;
		expect_refused(&g_spy.base, NULL, BIMG_BLOBCLI_SIZE, -EIO, "a failed read");
	}
}

Test(bs_load, read_errors)
{
	read_errors(false);
}

Test(bs_load, read_errors_in_recovery)
{
	read_errors(true);
}

static void never(void *cb_arg, struct spio_blob_store *bs, int bserrno)
{
	(void)cb_arg;
	(void)bs;
	cr_assert_fail("completion %d for a call that must do nothing", bserrno);
}

Test(bs_load, null_arguments)
{
	uint8_t *data;
	struct spio_bs_dev *d = blobcli(&data);

	spio_bs_load(NULL, NULL, never, NULL);
	spio_bs_load(d, NULL, NULL, NULL);
	poll_n(100);
	cr_assert_eq(g_spy.destroyed, 0, "the device is not consumed by a call that does nothing");
	cr_assert_eq(g_spy.reads, 0);
}

/*
 * A store made here: a thick blob of 20000 clusters has 40 extent pages,
 * read in batches at load.
 */

struct op {
	int done;
	int rc;
	spio_blob_id id;
	struct spio_blob_store *bs;
	struct spio_blob *blob;
};

static void op_id_cpl(void *cb_arg, spio_blob_id id, int bserrno)
{
	struct op *o = cb_arg;

	o->done++;
	o->rc = bserrno;
	o->id = id;
}

static void op_bs_cpl(void *cb_arg, struct spio_blob_store *bs, int bserrno)
{
	struct op *o = cb_arg;

	o->done++;
	o->rc = bserrno;
	o->bs = bs;
}

static void op_blob_cpl(void *cb_arg, struct spio_blob *blob, int bserrno)
{
	struct op *o = cb_arg;

	o->done++;
	o->rc = bserrno;
	o->blob = blob;
}

static void op_rc_cpl(void *cb_arg, int bserrno)
{
	struct op *o = cb_arg;

	o->done++;
	o->rc = bserrno;
}

static void wait_op(struct op *o, const char *what)
{
	for (int i = 0; i < 1000000 && o->done == 0; i++) {
		poll_n(1);
	}
	cr_assert_eq(o->done, 1, "%s did not complete", what);
	cr_assert_eq(o->rc, 0, "%s: %d", what, o->rc);
}

Test(bs_load, many_extent_pages)
{
	uint8_t *data;
	struct spio_bs_dev *d = spy_dev(96ull << 20, PS, &data);
	struct spio_bs_opts bo;
	struct spio_blob_opts opts;
	struct op o = {0}, c = {0}, b = {0}, x = {0}, u = {0};
	struct spio_blob_store *bs;
	spio_blob_id id;
	uint64_t *map, n = 20000;

	spio_bs_opts_init(&bo, sizeof(bo));
	bo.cluster_sz = PS;
	bo.num_md_pages = 256;
	spio_bs_init(d, &bo, op_bs_cpl, &o);
	wait_op(&o, "init");
	bs = o.bs;
	spio_blob_opts_init(&opts, sizeof(opts));
	opts.num_clusters = n;
	spio_bs_create_blob_ext(bs, &opts, op_id_cpl, &c);
	wait_op(&c, "create");
	id = c.id;
	spio_bs_open_blob(bs, id, op_blob_cpl, &b);
	wait_op(&b, "open");
	cr_assert_eq(b.blob->active.num_extent_pages, 40);
	map = malloc(n * sizeof(*map));
	cr_assert_not_null(map);
	memcpy(map, b.blob->active.clusters, n * sizeof(*map));
	spio_blob_close(b.blob, op_rc_cpl, &x);
	wait_op(&x, "close");
	spio_bs_unload(bs, op_rc_cpl, &u);
	wait_op(&u, "unload");

	for (int pass = 0; pass < 2; pass++) {
		struct spio_bs_opts lo;
		struct load_result r;

		g_spy.destroyed = 0;
		spio_bs_opts_init(&lo, sizeof(lo));
		lo.force_recover = pass == 1;
		r = run_load(&g_spy.base, &lo);
		cr_assert_eq(r.rc, 0, "load %d: %d", pass, r.rc);
		cr_assert_eq(spio_bs_free_cluster_count(r.bs),
			     r.bs->geo.total_clusters - r.bs->geo.md_clusters - n);
		cr_assert_eq(r.bs->used_md_pages.nset, 41, "the blob's page and 40 extent pages");
		b = (struct op){0};
		spio_bs_open_blob(r.bs, id, op_blob_cpl, &b);
		wait_op(&b, "open after load");
		cr_assert_eq(b.blob->active.num_allocated, n);
		cr_assert_arr_eq(b.blob->active.clusters, map, n * sizeof(*map),
				 "the cluster map read back differs");
		x = (struct op){0};
		spio_blob_close(b.blob, op_rc_cpl, &x);
		wait_op(&x, "close");
		unload(r.bs);
	}
	free(map);
}

/* The same shape written by hand into a fresh store: recovery, then a clean load, read it. */
Test(bs_load, many_extent_pages_by_hand)
{
	const uint64_t size = 96ull << 20, n = 20000;
	uint8_t *data, page[PS];
	struct spio_bs_dev *d = spy_dev(size, PS, &data);
	struct spio_bs_opts bo;
	struct op o = {0}, u = {0};
	struct spio_blob *b;
	uint64_t *map = malloc(n * sizeof(*map));

	cr_assert_not_null(map);
	spio_bs_opts_init(&bo, sizeof(bo));
	bo.cluster_sz = PS;
	bo.num_md_pages = 256;
	spio_bs_init(d, &bo, op_bs_cpl, &o);
	wait_op(&o, "init");
	spio_bs_unload(o.bs, op_rc_cpl, &u);
	wait_op(&u, "unload");

	memset(&g_fake, 0, sizeof(g_fake));
	cr_assert_eq(blob_super_validate((void *)data, size / PS, PS, NULL, &g_fake.geo, NULL), 0);
	b = blob_alloc(&g_fake, blob_page_to_id(0));
	cr_assert_not_null(b);
	cr_assert_eq(blob_map_resize(&b->active, n), 0);
	for (uint64_t i = 0; i < n; i++) {
		/* A permutation, so each entry is checked where it lands. */
		map[i] = g_fake.geo.md_clusters + (i * 7919) % n;
		b->active.clusters[i] = map[i];
	}
	b->active.num_allocated = n;
	for (uint64_t e = 0; e < b->active.num_extent_pages; e++) {
		b->active.extent_pages[e] = (uint32_t)(1 + e);
		blob_ep_serialize(b, e, page);
		memcpy(md_page(data, (uint32_t)(1 + e)), page, PS);
	}
	img_put(data, b);
	blob_free(b);
	make_dirty(data, false);

	for (int pass = 0; pass < 2; pass++) {
		struct load_result r;
		struct op x = {0};

		g_spy.destroyed = 0;
		r = run_load(&g_spy.base, NULL);
		cr_assert_eq(r.rc, 0, "load %d: %d", pass, r.rc);
		cr_assert_eq(r.bs->used_md_pages.nset, 41, "the blob's page and 40 extent pages");
		cr_assert_eq(spio_bs_free_cluster_count(r.bs),
			     r.bs->geo.total_clusters - r.bs->geo.md_clusters - n);
		o = (struct op){0};
		spio_bs_open_blob(r.bs, blob_page_to_id(0), op_blob_cpl, &o);
		wait_op(&o, "open");
		cr_assert_eq(o.blob->active.num_allocated, n);
		cr_assert_arr_eq(o.blob->active.clusters, map, n * sizeof(*map),
				 "load %d: the cluster map read back differs", pass);
		spio_blob_close(o.blob, op_rc_cpl, &x);
		wait_op(&x, "close");
		unload(r.bs);
	}
	free(map);
}

/* 8 KiB md pages, a chain of several pages (xattrs), a thin blob: clean load and recovery. */
Test(bs_load, large_md_pages_long_chain)
{
	const uint64_t size = 64ull << 20;
	uint8_t *data, v[1000];
	struct spio_bs_dev *d = spy_dev(size, 512, &data);
	struct spio_bs_opts bo;
	struct spio_blob_opts opts;
	struct op o = {0}, c = {0}, b = {0}, x = {0}, u = {0};
	char name[16];
	spio_blob_id id;

	spio_bs_opts_init(&bo, sizeof(bo));
	bo.cluster_sz = 64u << 10;
	bo.md_page_size = 8192;
	spio_bs_init(d, &bo, op_bs_cpl, &o);
	wait_op(&o, "init");
	spio_blob_opts_init(&opts, sizeof(opts));
	opts.num_clusters = 3000;
	opts.thin_provision = true;
	spio_bs_create_blob_ext(o.bs, &opts, op_id_cpl, &c);
	wait_op(&c, "create");
	id = c.id;
	spio_bs_open_blob(o.bs, id, op_blob_cpl, &b);
	wait_op(&b, "open");
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "x%02d", i);
		memset(v, i, sizeof(v));
		cr_assert_eq(spio_blob_set_xattr(b.blob, name, v, sizeof(v)), 0);
	}
	spio_blob_close(b.blob, op_rc_cpl, &x);
	wait_op(&x, "close");
	spio_bs_unload(o.bs, op_rc_cpl, &u);
	wait_op(&u, "unload");

	for (int pass = 0; pass < 2; pass++) {
		struct spio_bs_opts lo;
		struct load_result r;
		const void *val;
		size_t len;

		g_spy.destroyed = 0;
		spio_bs_opts_init(&lo, sizeof(lo));
		lo.force_recover = pass == 1;
		r = run_load(&g_spy.base, &lo);
		cr_assert_eq(r.rc, 0, "load %d: %d", pass, r.rc);
		cr_assert_eq(spio_bs_get_page_size(r.bs), 8192);
		b = (struct op){0};
		spio_bs_open_blob(r.bs, id, op_blob_cpl, &b);
		wait_op(&b, "open after load");
		cr_assert_gt(b.blob->num_md_pages, 4,
			     "20 xattrs of 1000 bytes: a chain of %u pages", b.blob->num_md_pages);
		cr_assert_eq(r.bs->used_md_pages.nset, b.blob->num_md_pages,
			     "only the chain's pages are in use (no extent page)");
		cr_assert_eq(spio_blob_get_num_clusters(b.blob), 3000);
		cr_assert(spio_blob_is_thin_provisioned(b.blob));
		for (int i = 0; i < 20; i++) {
			snprintf(name, sizeof(name), "x%02d", i);
			memset(v, i, sizeof(v));
			cr_assert_eq(spio_blob_get_xattr_value(b.blob, name, &val, &len), 0, "%s",
				     name);
			cr_assert_eq(len, sizeof(v));
			cr_assert_arr_eq(val, v, sizeof(v), "xattr %s", name);
		}
		x = (struct op){0};
		spio_blob_close(b.blob, op_rc_cpl, &x);
		wait_op(&x, "close");
		unload(r.bs);
	}
}

/* A chain through all md pages whose last page points back to the first: refused. */
Test(bs_load, chain_through_every_md_page)
{
	const uint64_t size = 16ull << 20;
	uint8_t *data;
	struct spio_bs_dev *d = spy_dev(size, PS, &data);
	struct blob_super_block *sb = (void *)data;
	struct spio_bs_opts bo;
	struct op o = {0}, u = {0};
	struct blob_flags f = {0};
	struct blob_md_writer w;

	spio_bs_opts_init(&bo, sizeof(bo));
	bo.num_md_pages = 8;
	spio_bs_init(d, &bo, op_bs_cpl, &o);
	wait_op(&o, "init");
	spio_bs_unload(o.bs, op_rc_cpl, &u);
	wait_op(&u, "unload");
	for (uint32_t i = 0; i < 8; i++) {
		blob_md_page_init(md_page(data, i), blob_page_to_id(0), i);
		if (i == 0) {
			blob_md_writer_init(&w, md_page(data, 0));
			cr_assert_eq(blob_md_add_flags(&w, &f), 0);
		}
		blob_md_page_seal(md_page(data, i), (i + 1) % 8);
	}
	data[(uint64_t)sb->used_page_mask_start * PS + sizeof(struct blob_mask_hdr)] = 0xff;
	data[(uint64_t)sb->used_blobid_mask_start * PS + sizeof(struct blob_mask_hdr)] = 0x01;
	g_spy.destroyed = 0;
	g_spy.writes = 0;
	expect_refused(&g_spy.base, NULL, size, -EINVAL, "a chain through every md page");
}
