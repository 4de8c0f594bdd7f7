/*
 * The error injection bdev: I/O through EE_<base>, each error type for the
 * number of I/Os asked and then no more, corrupt data seen by the reader
 * and on the base, held I/O resumed or failed by a reset, creation before
 * the base exists, hot remove, bad input, and the RPCs with save_config.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "helper_bdev_io.h"
#include "helper_fixture.h"
#include "spio/bdev_error.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_module.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/thread.h"

#define BS 512
#define NB 64

static void setup(void)
{
	fx_init("test_vbdev_error");
}

static void teardown(void)
{
	fx_fini();
}

TestSuite(vbdev_error, .init = setup, .fini = teardown);

/* One block read or write of d->buf at `blk`; returns the status. */
static enum spio_bdev_io_status dev_io(struct fx_dev *d, bool write, uint64_t blk)
{
	struct test_io r = {0};
	int rc = write ? spio_bdev_write_blocks(d->desc, d->ch, d->buf, blk, 1, test_io_cb, &r)
		       : spio_bdev_read_blocks(d->desc, d->ch, d->buf, blk, 1, test_io_cb, &r);

	cr_assert_eq(rc, 0, "submit: expected 0, got %d", rc);
	cr_assert(fx_poll_until(&r.done, 1, 2000000), "I/O did not complete");
	return r.status;
}

/* Poll until no bdev is called `name` (at most 2 s). */
static bool poll_gone(const char *name)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(2000000);

	while (spio_bdev_get_by_name(name) != NULL && spio_get_ticks() < end) {
		fx_poll();
	}
	return spio_bdev_get_by_name(name) == NULL;
}

static void make_base(const char *name)
{
	struct spio_bdev *b;
	int rc = fx_malloc_create(name, NULL, NB, BS, &b);

	cr_assert_eq(rc, 0, "malloc %s: expected 0, got %d", name, rc);
}

static struct spio_bdev *make_ee(const char *base)
{
	struct spio_bdev *ee = NULL;
	int rc;

	make_base(base);
	rc = spio_bdev_error_create(base, NULL, &ee);
	cr_assert_eq(rc, 0, "error create on %s: expected 0, got %d", base, rc);
	cr_assert_not_null(ee);
	return ee;
}

static void inject(const char *name, enum spio_bdev_io_type t, enum spio_bdev_error_type e,
		   uint32_t num)
{
	struct spio_bdev_error_inject_opts o = {.io_type = t, .error_type = e, .num = num};
	int rc = spio_bdev_error_inject(name, &o);

	cr_assert_eq(rc, 0, "inject: expected 0, got %d", rc);
}

Test(vbdev_error, create_name_claim_and_data_through)
{
	struct spio_bdev *ee = make_ee("Malloc0");
	struct fx_dev d;

	cr_assert_str_eq(spio_bdev_get_name(ee), "EE_Malloc0");
	cr_assert_eq(spio_bdev_get_num_blocks(ee), NB);
	cr_assert(spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc0")), "base not claimed");
	fx_dev_open(&d, "EE_Malloc0", true, BS * 4);
	memset(d.buf, 0x5a, BS);
	cr_assert_eq(dev_io(&d, true, 3), SPIO_BDEV_IO_STATUS_SUCCESS);
	memset(d.buf, 0, BS);
	cr_assert_eq(dev_io(&d, false, 3), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert_eq(d.buf[0], 0x5a, "read back: expected 0x5a, got %#x", d.buf[0]);
	fx_dev_close(&d);
}

Test(vbdev_error, failure_n_times_then_stops)
{
	struct fx_dev d;

	make_ee("Malloc0");
	fx_dev_open(&d, "EE_Malloc0", true, BS * 4);
	inject("EE_Malloc0", SPIO_BDEV_IO_TYPE_READ, SPIO_BDEV_ERROR_TYPE_FAILURE, 2);
	cr_assert_eq(dev_io(&d, true, 0), SPIO_BDEV_IO_STATUS_SUCCESS, "write must not fail");
	for (int i = 0; i < 2; i++) {
		enum spio_bdev_io_status s = dev_io(&d, false, 0);

		cr_assert_eq(s, SPIO_BDEV_IO_STATUS_FAILED, "read %d: expected failure, got %d", i,
			     s);
	}
	cr_assert_eq(dev_io(&d, false, 0), SPIO_BDEV_IO_STATUS_SUCCESS,
		     "third read: expected success once the 2 injections are used");
	fx_dev_close(&d);
}

Test(vbdev_error, all_types_and_clear)
{
	struct fx_dev d;

	make_ee("Malloc0");
	fx_dev_open(&d, "EE_Malloc0", true, BS * 4);
	inject("EE_Malloc0", SPIO_BDEV_NUM_IO_TYPES, SPIO_BDEV_ERROR_TYPE_FAILURE, 1);
	cr_assert_eq(dev_io(&d, true, 0), SPIO_BDEV_IO_STATUS_FAILED);
	cr_assert_eq(dev_io(&d, false, 0), SPIO_BDEV_IO_STATUS_FAILED);
	cr_assert_eq(dev_io(&d, false, 0), SPIO_BDEV_IO_STATUS_SUCCESS);
	inject("EE_Malloc0", SPIO_BDEV_NUM_IO_TYPES, SPIO_BDEV_ERROR_TYPE_FAILURE, 5);
	inject("EE_Malloc0", SPIO_BDEV_IO_TYPE_INVALID, SPIO_BDEV_ERROR_TYPE_FAILURE, 0);
	cr_assert_eq(dev_io(&d, true, 0), SPIO_BDEV_IO_STATUS_SUCCESS, "clear left an injection");
	cr_assert_eq(dev_io(&d, false, 0), SPIO_BDEV_IO_STATUS_SUCCESS, "clear left an injection");
	fx_dev_close(&d);
}

Test(vbdev_error, corrupt_read_and_write)
{
	struct spio_bdev_error_inject_opts o = {.io_type = SPIO_BDEV_IO_TYPE_READ,
						.error_type = SPIO_BDEV_ERROR_TYPE_CORRUPT_DATA,
						.num = 1,
						.corrupt_offset = 7,
						.corrupt_value = 0xff};
	struct fx_dev d, base;

	make_ee("Malloc0");
	fx_dev_open(&d, "EE_Malloc0", true, BS * 4);
	memset(d.buf, 0x11, BS);
	cr_assert_eq(dev_io(&d, true, 1), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert_eq(spio_bdev_error_inject("EE_Malloc0", &o), 0);
	memset(d.buf, 0, BS);
	cr_assert_eq(dev_io(&d, false, 1), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert_eq(d.buf[7], 0x11 ^ 0xff, "byte 7: expected %#x, got %#x", 0x11 ^ 0xff, d.buf[7]);
	cr_assert_eq(d.buf[6], 0x11, "byte 6 must be intact, got %#x", d.buf[6]);
	cr_assert_eq(dev_io(&d, false, 1), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert_eq(d.buf[7], 0x11, "second read: expected clean data, got %#x", d.buf[7]);

	/* write: the base gets corrupted data, the caller's buffer is intact */
	o.io_type = SPIO_BDEV_IO_TYPE_WRITE;
	o.corrupt_offset = BS + 2; /* past one block: nothing */
	cr_assert_eq(spio_bdev_error_inject("EE_Malloc0", &o), 0);
	memset(d.buf, 0x22, BS);
	cr_assert_eq(dev_io(&d, true, 2), SPIO_BDEV_IO_STATUS_SUCCESS);
	o.corrupt_offset = 2;
	cr_assert_eq(spio_bdev_error_inject("EE_Malloc0", &o), 0);
	cr_assert_eq(dev_io(&d, true, 1), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert_eq(d.buf[2], 0x22, "caller's buffer changed: %#x", d.buf[2]);
	fx_dev_close(&d);
	/* read the base through a fresh EE: delete, check on the base itself */
	cr_assert_eq(spio_bdev_error_delete("EE_Malloc0", NULL, NULL), 0);
	cr_assert(poll_gone("EE_Malloc0"), "EE_Malloc0 not deleted");
	fx_dev_open(&base, "Malloc0", true, BS * 4);
	cr_assert_eq(dev_io(&base, false, 1), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert_eq(base.buf[2], 0x22 ^ 0xff, "base byte 2: expected %#x, got %#x", 0x22 ^ 0xff,
		     base.buf[2]);
	cr_assert_eq(base.buf[3], 0x22, "base byte 3: expected 0x22, got %#x", base.buf[3]);
	cr_assert_eq(dev_io(&base, false, 2), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert_eq(base.buf[2], 0x22, "offset past the I/O corrupted: %#x", base.buf[2]);
	fx_dev_close(&base);
}

Test(vbdev_error, pending_resume_and_reset)
{
	struct test_io r = {0}, r2 = {0}, rr = {0};
	struct fx_dev d;

	make_ee("Malloc0");
	fx_dev_open(&d, "EE_Malloc0", true, BS * 4);
	inject("EE_Malloc0", SPIO_BDEV_IO_TYPE_READ, SPIO_BDEV_ERROR_TYPE_PENDING, 1);
	cr_assert_eq(spio_bdev_read_blocks(d.desc, d.ch, d.buf, 0, 1, test_io_cb, &r), 0);
	fx_poll_for(2000);
	cr_assert_eq(r.done, 0, "a pending read completed");
	cr_assert_eq(spio_bdev_error_resume_pending("EE_Malloc0"), 0);
	cr_assert(fx_poll_until(&r.done, 1, 2000000), "resumed read did not complete");
	cr_assert_eq(r.status, SPIO_BDEV_IO_STATUS_SUCCESS);

	inject("EE_Malloc0", SPIO_BDEV_IO_TYPE_READ, SPIO_BDEV_ERROR_TYPE_PENDING, 1);
	cr_assert_eq(spio_bdev_read_blocks(d.desc, d.ch, d.buf, 0, 1, test_io_cb, &r2), 0);
	fx_poll_for(1000);
	cr_assert_eq(r2.done, 0);
	cr_assert_eq(spio_bdev_reset(d.desc, d.ch, test_io_cb, &rr), 0);
	cr_assert(fx_poll_until(&rr.done, 1, 2000000), "reset did not complete");
	cr_assert_eq(r2.done, 1, "held read not ended by the reset");
	cr_assert_eq(r2.status, SPIO_BDEV_IO_STATUS_FAILED);
	cr_assert_eq(rr.status, SPIO_BDEV_IO_STATUS_SUCCESS);
	fx_dev_close(&d);
}

Test(vbdev_error, nomem_is_retried)
{
	struct fx_dev d;

	make_ee("Malloc0");
	fx_dev_open(&d, "EE_Malloc0", true, BS * 4);
	inject("EE_Malloc0", SPIO_BDEV_IO_TYPE_WRITE, SPIO_BDEV_ERROR_TYPE_NOMEM, 3);
	cr_assert_eq(dev_io(&d, true, 0), SPIO_BDEV_IO_STATUS_SUCCESS,
		     "nomem must end in success after the retries");
	fx_dev_close(&d);
}

Test(vbdev_error, bad_input)
{
	struct spio_bdev_error_inject_opts o = {.io_type = SPIO_BDEV_IO_TYPE_READ,
						.error_type = SPIO_BDEV_ERROR_TYPE_CORRUPT_DATA,
						.num = 1};
	struct spio_bdev *ee;

	make_ee("Malloc0");
	cr_assert_eq(spio_bdev_error_inject("EE_Malloc0", &o), -EINVAL, "corrupt_value 0");
	o.error_type = SPIO_BDEV_ERROR_TYPE_FAILURE;
	cr_assert_eq(spio_bdev_error_inject("nope", &o), -ENODEV);
	cr_assert_eq(spio_bdev_error_inject("Malloc0", &o), -ENODEV, "not an error bdev");
	o.io_type = SPIO_BDEV_IO_TYPE_RESET;
	cr_assert_eq(spio_bdev_error_inject("EE_Malloc0", &o), -EINVAL);
	cr_assert_eq(spio_bdev_error_create("Malloc0", NULL, &ee), -EEXIST);
	cr_assert_eq(spio_bdev_error_create("", NULL, &ee), -EINVAL);
	cr_assert_eq(spio_bdev_error_delete("Malloc0", NULL, NULL), -ENODEV);
	cr_assert_eq(spio_bdev_error_delete("EE_nope", NULL, NULL), -ENODEV);
}

Test(vbdev_error, base_claimed_elsewhere_refused)
{
	struct spio_bdev *ee;

	make_base("Malloc0");
	cr_assert_eq(spio_bdev_module_claim_bdev(spio_bdev_get_by_name("Malloc0"), NULL,
						 spio_bdev_module_find("malloc")),
		     0);
	cr_assert_eq(spio_bdev_error_create("Malloc0", NULL, &ee), -EPERM);
	cr_assert_null(spio_bdev_get_by_name("EE_Malloc0"));
	spio_bdev_module_release_bdev(spio_bdev_get_by_name("Malloc0"));
	/* the refused create left no configuration behind */
	cr_assert_eq(spio_bdev_error_create("Malloc0", NULL, &ee), 0);
	cr_assert_not_null(ee);
}

Test(vbdev_error, created_before_base_and_hot_remove)
{
	struct spio_bdev *ee = (void *)1;

	cr_assert_eq(spio_bdev_error_create("Late", NULL, &ee), 0);
	cr_assert_null(ee, "deferred create must give NULL");
	cr_assert_null(spio_bdev_get_by_name("EE_Late"));
	make_base("Late");
	cr_assert_not_null(spio_bdev_get_by_name("EE_Late"), "EE_Late not made at examine");
	cr_assert_eq(spio_bdev_malloc_delete("Late", NULL, NULL), 0);
	cr_assert(poll_gone("EE_Late"), "EE_Late outlived its base");
	cr_assert(poll_gone("Late"), "base Late not removed");
	cr_assert_null(spio_bdev_get_by_name("Late"));
	/* forgotten, as SPDK: a new base of that name gets no error bdev */
	make_base("Late");
	cr_assert_null(spio_bdev_get_by_name("EE_Late"));
}

Test(vbdev_error, rpcs_and_config)
{
	json_t *res, *cfg;

	make_base("Malloc0");
	res = fx_rpc_text("bdev_error_create", "{\"base_name\": \"Malloc0\"}", 0, NULL);
	cr_assert(json_is_true(res), "bdev_error_create: expected true");
	json_decref(res);
	fx_rpc_text("bdev_error_create", "{\"base_name\": \"Malloc0\"}", -EEXIST, NULL);
	fx_rpc_text("bdev_error_create", "{}", -32602, "base_name");
	res = fx_rpc_text("bdev_error_inject_error",
			  "{\"name\": \"EE_Malloc0\", \"io_type\": \"read\", \"error_type\": "
			  "\"failure\", \"num\": 3}",
			  0, NULL);
	json_decref(res);
	fx_rpc_text(
	    "bdev_error_inject_error",
	    "{\"name\": \"EE_Malloc0\", \"io_type\": \"bogus\", \"error_type\": \"failure\"}",
	    -EINVAL, "io_type");
	fx_rpc_text(
	    "bdev_error_inject_error",
	    "{\"name\": \"EE_Malloc0\", \"io_type\": \"read\", \"error_type\": \"nvme_failure\"}",
	    -EINVAL, "nvme_sct");
	fx_rpc_text("bdev_error_inject_error",
		    "{\"name\": \"EE_x\", \"io_type\": \"read\", \"error_type\": \"failure\"}",
		    -ENODEV, NULL);
	fx_rpc_text("bdev_error_inject_error",
		    "{\"name\": \"EE_Malloc0\", \"io_type\": \"read\", \"error_type\": "
		    "\"corrupt_data\", \"corrupt_value\": 256}",
		    -EINVAL, "corrupt_value");
	cfg = fx_config_entry(spio_bdev_get_by_name("EE_Malloc0"));
	cr_assert_str_eq(json_string_value(json_object_get(cfg, "method")), "bdev_error_create");
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(cfg, "params"), "base_name")),
	    "Malloc0");
	json_decref(cfg);
	res = fx_rpc_text("bdev_error_resume_pending", "{\"name\": \"EE_Malloc0\"}", 0, NULL);
	json_decref(res);
	res = fx_rpc_text("bdev_error_delete", "{\"name\": \"EE_Malloc0\"}", 0, NULL);
	cr_assert(json_is_true(res));
	json_decref(res);
	cr_assert_null(spio_bdev_get_by_name("EE_Malloc0"));
	fx_rpc_text("bdev_error_delete", "{\"name\": \"EE_Malloc0\"}", -ENODEV, NULL);
}
