/*
 * The split bdev module: parts at the right base offsets with I/O past a
 * part's end refused, sizes given in MiB or derived from the count, counts
 * clamped and sizes refused as SPDK does, the base claimed and released,
 * creation before the base exists, hot remove of the base, delete, and the
 * RPCs with save_config.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../../module/bdev/split/vbdev_split.h"
#include "helper_bdev_io.h"
#include "helper_fixture.h"
#include "spio/bdev_error.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_module.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/thread.h"

#define BS 512
#define NB 64

static void setup(void)
{
	fx_init("test_vbdev_split");
}

static void teardown(void)
{
	fx_fini();
}

TestSuite(vbdev_split, .init = setup, .fini = teardown);

/* One block read or write of d->buf at `blk`; the submit error or the status. */
static int dev_io(struct fx_dev *d, bool write, uint64_t blk)
{
	struct test_io r = {0};
	int rc = write ? spio_bdev_write_blocks(d->desc, d->ch, d->buf, blk, 1, test_io_cb, &r)
		       : spio_bdev_read_blocks(d->desc, d->ch, d->buf, blk, 1, test_io_cb, &r);

	if (rc != 0) {
		return rc;
	}
	cr_assert(fx_poll_until(&r.done, 1, 2000000), "I/O did not complete");
	return r.status == SPIO_BDEV_IO_STATUS_SUCCESS ? 0 : -EIO;
}

static bool poll_gone(const char *name)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(2000000);

	while (spio_bdev_get_by_name(name) != NULL && spio_get_ticks() < end) {
		fx_poll();
	}
	return spio_bdev_get_by_name(name) == NULL;
}

static void make_base(const char *name, uint64_t nb)
{
	struct spio_bdev *b;
	int rc = fx_malloc_create(name, NULL, nb, BS, &b);

	cr_assert_eq(rc, 0, "malloc %s: expected 0, got %d", name, rc);
}

static void split(const char *base, uint32_t count, uint64_t mb, uint32_t want_parts)
{
	uint32_t n = 99;
	int rc = vbdev_split_create(base, count, mb, &n);

	cr_assert_eq(rc, 0, "split %s %u x %lu MiB: expected 0, got %d", base, count,
		     (unsigned long)mb, rc);
	cr_assert_eq(n, want_parts, "split %s: expected %u parts, got %u", base, want_parts, n);
}

static void expect_part(const char *name, uint64_t blocks)
{
	struct spio_bdev *b = spio_bdev_get_by_name(name);

	cr_assert_not_null(b, "part %s missing", name);
	cr_assert_eq(spio_bdev_get_num_blocks(b), blocks, "%s: expected %lu blocks, got %lu", name,
		     (unsigned long)blocks, (unsigned long)spio_bdev_get_num_blocks(b));
	cr_assert_str_eq(spio_bdev_get_module_name(b), "split");
}

Test(vbdev_split, parts_land_at_base_offsets)
{
	struct fx_dev p, base;
	char pn[16];

	make_base("Malloc0", NB);
	split("Malloc0", 4, 0, 4);
	cr_assert(spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc0")), "base not claimed");
	for (int i = 0; i < 4; i++) {
		snprintf(pn, sizeof(pn), "Malloc0p%d", i);
		expect_part(pn, NB / 4);
	}
	cr_assert_null(spio_bdev_get_by_name("Malloc0p4"), "a fifth part exists");
	/* first and last block of each part, tagged with the part and block */
	for (int i = 0; i < 4; i++) {
		snprintf(pn, sizeof(pn), "Malloc0p%d", i);
		fx_dev_open(&p, pn, true, BS);
		p.buf[0] = (uint8_t)(0x10 + i);
		cr_assert_eq(dev_io(&p, true, 0), 0, "%s first block write", pn);
		p.buf[0] = (uint8_t)(0x80 + i);
		cr_assert_eq(dev_io(&p, true, NB / 4 - 1), 0, "%s last block write", pn);
		/* one past the end: refused, not sent to the next part */
		cr_assert_neq(dev_io(&p, true, NB / 4), 0, "%s: write past its end accepted", pn);
		cr_assert_neq(dev_io(&p, false, NB / 4), 0, "%s: read past its end accepted", pn);
		fx_dev_close(&p);
	}
	fx_dev_open(&base, "Malloc0", false, BS);
	for (int i = 0; i < 4; i++) {
		uint64_t first = (uint64_t)i * (NB / 4), last = first + NB / 4 - 1;

		cr_assert_eq(dev_io(&base, false, first), 0);
		cr_assert_eq(base.buf[0], 0x10 + i, "base block %lu: expected %#x, got %#x",
			     (unsigned long)first, 0x10 + i, base.buf[0]);
		cr_assert_eq(dev_io(&base, false, last), 0);
		cr_assert_eq(base.buf[0], 0x80 + i, "base block %lu: expected %#x, got %#x",
			     (unsigned long)last, 0x80 + i, base.buf[0]);
	}
	fx_dev_close(&base);
}

Test(vbdev_split, size_in_mib_and_clamped_count)
{
	/* 4 MiB base: 3 parts of 1 MiB leave the last MiB unused */
	make_base("Malloc0", 8192);
	split("Malloc0", 3, 1, 3);
	expect_part("Malloc0p0", 2048);
	expect_part("Malloc0p2", 2048);
	cr_assert_null(spio_bdev_get_by_name("Malloc0p3"));
	/* SPDK clamps a count that does not fit: 8 x 1 MiB on 4 MiB is 4 parts */
	make_base("Malloc1", 8192);
	split("Malloc1", 8, 1, 4);
	expect_part("Malloc1p3", 2048);
	cr_assert_null(spio_bdev_get_by_name("Malloc1p4"), "the count was not clamped");
}

Test(vbdev_split, bad_sizes_and_input)
{
	make_base("Malloc0", NB);
	cr_assert_eq(vbdev_split_create("Malloc0", 0, 0, NULL), -EINVAL, "0 parts accepted");
	cr_assert_eq(vbdev_split_create("Malloc0", 2, 1, NULL), -EINVAL,
		     "1 MiB parts of a 32 KiB base accepted");
	cr_assert_eq(vbdev_split_create("Malloc0", NB + 1, 0, NULL), -EINVAL,
		     "more parts than blocks accepted");
	cr_assert_eq(vbdev_split_create("Malloc0", 2, UINT64_MAX / 2, NULL), -EINVAL,
		     "an overflowing size accepted");
	cr_assert_eq(vbdev_split_create("", 2, 0, NULL), -EINVAL);
	cr_assert_eq(vbdev_split_create(NULL, 2, 0, NULL), -EINVAL);
	/* the failures left nothing: neither a claim nor a configuration */
	cr_assert_not(spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc0")), "base left claimed");
	cr_assert_eq(vbdev_split_delete("Malloc0"), -ENOENT, "a failed split stayed configured");
	split("Malloc0", 2, 0, 2);
	cr_assert_eq(vbdev_split_create("Malloc0", 2, 0, NULL), -EEXIST, "second split of a base");
	cr_assert_eq(vbdev_split_delete("nope"), -ENOENT);
	cr_assert_eq(vbdev_split_delete(NULL), -EINVAL);
}

Test(vbdev_split, claimed_base_and_taken_name)
{
	struct spio_bdev *ee = NULL;

	make_base("Malloc0", NB);
	cr_assert_eq(spio_bdev_error_create("Malloc0", NULL, &ee), 0);
	cr_assert_eq(vbdev_split_create("Malloc0", 2, 0, NULL), -EPERM,
		     "split of a base claimed by another module");
	cr_assert_eq(vbdev_split_delete("Malloc0"), -ENOENT);
	/* a part's name already in use: refused before the base is claimed */
	make_base("Malloc1", NB);
	make_base("Malloc1p1", NB);
	cr_assert_eq(vbdev_split_create("Malloc1", 2, 0, NULL), -EEXIST);
	cr_assert_not(spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc1")), "base left claimed");
	cr_assert_null(spio_bdev_get_by_name("Malloc1p0"), "a part of a refused split exists");
}

Test(vbdev_split, delete_releases_base)
{
	struct fx_dev p;

	make_base("Malloc0", NB);
	split("Malloc0", 2, 0, 2);
	fx_dev_open(&p, "Malloc0p1", false, BS);
	cr_assert_eq(vbdev_split_delete("Malloc0"), 0);
	cr_assert_eq(vbdev_split_delete("Malloc0"), -ENOENT, "deleted split still configured");
	cr_assert(poll_gone("Malloc0p0"), "Malloc0p0 not deleted");
	/* an open part goes once its opener closes it */
	fx_dev_close(&p);
	cr_assert(poll_gone("Malloc0p1"), "Malloc0p1 not deleted");
	fx_poll_for(2000);
	cr_assert_not(spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc0")), "base still claimed");
	split("Malloc0", 4, 0, 4);
}

Test(vbdev_split, created_before_base)
{
	split("Malloc0", 2, 0, 0);
	cr_assert_null(spio_bdev_get_by_name("Malloc0p0"));
	make_base("Malloc0", NB);
	fx_poll_for(2000);
	expect_part("Malloc0p0", NB / 2);
	expect_part("Malloc0p1", NB / 2);
	cr_assert(spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc0")), "base not claimed");
	/* deleting a split still waiting for its base forgets it */
	split("Malloc9", 2, 0, 0);
	cr_assert_eq(vbdev_split_delete("Malloc9"), 0);
	make_base("Malloc9", NB);
	fx_poll_for(2000);
	cr_assert_null(spio_bdev_get_by_name("Malloc9p0"), "a deleted split was made");
}

Test(vbdev_split, hot_remove_of_base)
{
	make_base("Malloc0", NB);
	split("Malloc0", 2, 0, 2);
	cr_assert_eq(spio_bdev_malloc_delete("Malloc0", NULL, NULL), 0);
	cr_assert(poll_gone("Malloc0"), "base not deleted");
	cr_assert_null(spio_bdev_get_by_name("Malloc0p0"), "part outlived its base");
	cr_assert_null(spio_bdev_get_by_name("Malloc0p1"), "part outlived its base");
	/* as SPDK: the split goes with its base */
	cr_assert_eq(vbdev_split_delete("Malloc0"), -ENOENT, "split of a removed base kept");
	make_base("Malloc0", NB);
	fx_poll_for(2000);
	cr_assert_null(spio_bdev_get_by_name("Malloc0p0"), "a forgotten split came back");
}

static json_t *module_config(void)
{
	struct spio_bdev_module *m = spio_bdev_module_find("split");
	char *text = NULL;
	struct spio_json_write_ctx *w;
	json_t *arr;

	cr_assert_not_null(m, "no split module");
	w = spio_json_write_begin(fx_json_to_string, &text, 0);
	spio_json_write_array_begin(w);
	m->config_json(w);
	spio_json_write_array_end(w);
	cr_assert_eq(spio_json_write_end(w), 0);
	arr = json_loads(text, 0, NULL);
	cr_assert_not_null(arr, "config parses: %s", text);
	free(text);
	return arr;
}

Test(vbdev_split, rpcs_and_config)
{
	json_t *res, *cfg, *e;

	make_base("Malloc0", 8192);
	res = fx_rpc_text("bdev_split_create",
			  "{\"base_bdev\": \"Malloc0\", \"split_count\": 2, \"split_size_mb\": 1}",
			  0, NULL);
	cr_assert(json_is_array(res) && json_array_size(res) == 2, "expected 2 names");
	cr_assert_str_eq(json_string_value(json_array_get(res, 0)), "Malloc0p0");
	cr_assert_str_eq(json_string_value(json_array_get(res, 1)), "Malloc0p1");
	json_decref(res);
	res = fx_rpc_text("bdev_split_create", "{\"base_bdev\": \"Later\", \"split_count\": 3}", 0,
			  NULL);
	cr_assert(json_is_array(res) && json_array_size(res) == 0,
		  "a waiting split answers an empty array");
	json_decref(res);
	fx_rpc_text("bdev_split_create", "{\"base_bdev\": \"Malloc0\", \"split_count\": 2}", -32602,
		    "Failed to create 2 split bdevs from 'Malloc0'");
	fx_rpc_text("bdev_split_create", "{\"base_bdev\": \"Malloc0\"}", -32602, "split_count");
	fx_rpc_text("bdev_split_create", "{\"split_count\": 2}", -32602, "base_bdev");

	cfg = module_config();
	cr_assert_eq(json_array_size(cfg), 2, "expected 2 config entries, got %zu",
		     json_array_size(cfg));
	for (size_t i = 0; i < 2; i++) {
		e = json_array_get(cfg, i);
		cr_assert_str_eq(json_string_value(json_object_get(e, "method")),
				 "bdev_split_create");
		e = json_object_get(e, "params");
		if (strcmp(json_string_value(json_object_get(e, "base_bdev")), "Malloc0") == 0) {
			cr_assert_eq(json_integer_value(json_object_get(e, "split_count")), 2);
			cr_assert_eq(json_integer_value(json_object_get(e, "split_size_mb")), 1);
		} else {
			cr_assert_str_eq(json_string_value(json_object_get(e, "base_bdev")),
					 "Later");
			cr_assert_eq(json_integer_value(json_object_get(e, "split_count")), 3);
		}
	}
	json_decref(cfg);

	res = fx_rpc_text("bdev_split_delete", "{\"base_bdev\": \"Malloc0\"}", 0, NULL);
	cr_assert(json_is_true(res));
	json_decref(res);
	cr_assert(poll_gone("Malloc0p0"));
	fx_rpc_text("bdev_split_delete", "{\"base_bdev\": \"Malloc0\"}", -32602, NULL);
	res = fx_rpc_text("bdev_split_delete", "{\"base_bdev\": \"Later\"}", 0, NULL);
	json_decref(res);
	cfg = module_config();
	cr_assert_eq(json_array_size(cfg), 0, "deleted splits still in the config");
	json_decref(cfg);
}
