/*
 * The delay bdev module with an injected clock: each read and write
 * completes exactly its latency after the base finished it, one read and
 * one write in every 100 get the p99 latency, latency updates, a reset ends
 * the delayed I/O, delete with I/O delayed, creation before the base
 * exists, hot remove, bad input, and the RPCs with save_config.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "../../../module/bdev/delay/vbdev_delay.h"
#include "helper_fixture.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_module.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/thread.h"

#define BS 512
#define NB 64

static uint64_t g_now;

static uint64_t fake_clock(void)
{
	return g_now;
}

static void setup(void)
{
	fx_init("test_vbdev_delay");
	g_now = 1000000;
	vbdev_delay_set_clock(fake_clock);
}

static void teardown(void)
{
	vbdev_delay_set_clock(NULL);
	fx_fini();
}

TestSuite(vbdev_delay, .init = setup, .fini = teardown);

struct io_res {
	int done;
	enum spio_bdev_io_status status;
};

static void io_cb(struct spio_bdev_io *io, bool success, void *arg)
{
	struct io_res *r = arg;

	(void)success;
	r->status = spio_bdev_io_get_status(io);
	r->done++;
	spio_bdev_free_io(io);
}

struct dev {
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	uint8_t *buf;
	int removed;
};

static void ev_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	struct dev *d = ctx;

	(void)bdev;
	if (type == SPIO_BDEV_EVENT_REMOVE) {
		d->removed++;
	}
}

static void dev_open(struct dev *d, const char *name)
{
	int rc;

	memset(d, 0, sizeof(*d));
	rc = spio_bdev_open_ext(name, true, ev_cb, d, &d->desc);
	cr_assert_eq(rc, 0, "open %s: expected 0, got %d", name, rc);
	d->ch = spio_bdev_get_io_channel(d->desc);
	cr_assert_not_null(d->ch);
	d->buf = spio_dma_zmalloc(BS, 4096);
	cr_assert_not_null(d->buf);
}

static void dev_close(struct dev *d)
{
	spio_put_io_channel(d->ch);
	spio_bdev_close(d->desc);
	spio_dma_free(d->buf);
	fx_poll_for(1000);
}

static void submit(struct dev *d, bool write, struct io_res *r)
{
	int rc = write ? spio_bdev_write_blocks(d->desc, d->ch, d->buf, 0, 1, io_cb, r)
		       : spio_bdev_read_blocks(d->desc, d->ch, d->buf, 0, 1, io_cb, r);

	cr_assert_eq(rc, 0, "submit: expected 0, got %d", rc);
	/* real time passes, the module's clock does not: the base finishes */
	fx_poll_for(500);
	for (int i = 0; i < 64; i++) {
		fx_poll();
	}
}

/* Advance the module's clock by `us` and poll a little. */
static void advance(uint64_t us)
{
	g_now += spio_us_to_ticks(us);
	for (int i = 0; i < 8; i++) {
		fx_poll();
	}
}

/*
 * Poll for `us` of real time with the module's clock running fast: other
 * modules examine every new bdev with reads, which the delay bdev holds
 * until its clock moves.
 */
static void pump(uint64_t us)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(us);

	while (spio_get_ticks() < end) {
		g_now += spio_us_to_ticks(10000);
		fx_poll();
	}
}

static bool poll_gone(const char *name)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(2000000);

	while (spio_bdev_get_by_name(name) != NULL && spio_get_ticks() < end) {
		g_now += spio_us_to_ticks(10000);
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

static struct spio_bdev *make_delay(const char *base, const char *name, uint64_t avg_r,
				    uint64_t p99_r, uint64_t avg_w, uint64_t p99_w)
{
	const uint64_t lat[VBDEV_DELAY_NUM_LATENCIES] = {
	    [VBDEV_DELAY_AVG_READ] = avg_r,
	    [VBDEV_DELAY_P99_READ] = p99_r,
	    [VBDEV_DELAY_AVG_WRITE] = avg_w,
	    [VBDEV_DELAY_P99_WRITE] = p99_w,
	};
	struct spio_bdev *b = NULL;
	int rc = vbdev_delay_create(base, name, NULL, lat, &b);

	cr_assert_eq(rc, 0, "delay create %s: expected 0, got %d", name, rc);
	pump(5000);
	return b;
}

/* The I/O is not done one tick before `us`, and is done at `us`. */
static void expect_done_after(struct io_res *r, uint64_t us)
{
	g_now += spio_us_to_ticks(us) - 1;
	fx_poll_for(500);
	cr_assert_eq(r->done, 0, "completed before its %lu us", (unsigned long)us);
	advance(0);
	g_now += 1;
	for (int i = 0; i < 4 && r->done == 0; i++) {
		fx_poll();
	}
	cr_assert_eq(r->done, 1, "not completed right at its %lu us", (unsigned long)us);
}

Test(vbdev_delay, completes_exactly_after_latency)
{
	struct io_res r = {0};
	struct dev d;

	make_base("Malloc0");
	cr_assert_not_null(make_delay("Malloc0", "D0", 100, 100, 250, 250));
	cr_assert(spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc0")), "base not claimed");
	dev_open(&d, "D0");
	memset(d.buf, 0x6b, BS);
	submit(&d, true, &r);
	expect_done_after(&r, 250);
	cr_assert_eq(r.status, SPIO_BDEV_IO_STATUS_SUCCESS);
	memset(d.buf, 0, BS);
	r.done = 0;
	submit(&d, false, &r);
	expect_done_after(&r, 100);
	cr_assert_eq(r.status, SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert_eq(d.buf[BS - 1], 0x6b, "read back: expected 0x6b, got %#x", d.buf[BS - 1]);
	/* other types are not delayed */
	r.done = 0;
	cr_assert_eq(spio_bdev_flush_blocks(d.desc, d.ch, 0, 1, io_cb, &r), 0);
	cr_assert(fx_poll_until(&r.done, 1, 2000000), "flush waited for the clock");
	dev_close(&d);
}

/* Of 100 I/Os of one direction on a fresh channel, exactly one gets p99. */
static void count_p99(struct dev *d, bool write)
{
	int avg = 0, p99 = 0;

	for (int i = 0; i < 100; i++) {
		struct io_res r = {0};
		uint64_t t0 = g_now;

		submit(d, write, &r);
		g_now = t0 + spio_us_to_ticks(10) - 1;
		advance(0);
		cr_assert_eq(r.done, 0, "I/O %d completed before the average latency", i);
		g_now = t0 + spio_us_to_ticks(10);
		advance(0);
		if (r.done == 1) {
			avg++;
			continue;
		}
		g_now = t0 + spio_us_to_ticks(1000) - 1;
		advance(0);
		cr_assert_eq(r.done, 0, "I/O %d completed before the p99 latency", i);
		g_now = t0 + spio_us_to_ticks(1000);
		advance(0);
		cr_assert_eq(r.done, 1, "I/O %d not completed at the p99 latency", i);
		p99++;
	}
	cr_assert_eq(avg, 99, "%s: expected 99 I/Os at the average, got %d",
		     write ? "write" : "read", avg);
	cr_assert_eq(p99, 1, "%s: expected 1 I/O at p99, got %d", write ? "write" : "read", p99);
}

Test(vbdev_delay, one_in_100_gets_p99)
{
	struct dev d;

	make_base("Malloc0");
	make_delay("Malloc0", "D0", 10, 1000, 10, 1000);
	dev_open(&d, "D0");
	count_p99(&d, false);
	count_p99(&d, true);
	dev_close(&d);
}

Test(vbdev_delay, update_latency)
{
	struct io_res r = {0};
	struct dev d;

	make_base("Malloc0");
	make_delay("Malloc0", "D0", 100, 100, 100, 100);
	dev_open(&d, "D0");
	cr_assert_eq(vbdev_delay_update_latency("D0", VBDEV_DELAY_AVG_READ, 300), 0);
	cr_assert_eq(vbdev_delay_update_latency("D0", VBDEV_DELAY_P99_READ, 300), 0);
	submit(&d, false, &r);
	expect_done_after(&r, 300);
	/* SPDK checks p99 >= avg at create only: an update below is taken */
	cr_assert_eq(vbdev_delay_update_latency("D0", VBDEV_DELAY_P99_WRITE, 5), 0,
		     "p99 write below its average refused");
	cr_assert_eq(vbdev_delay_update_latency("D0", VBDEV_DELAY_AVG_WRITE, 5), 0);
	r.done = 0;
	submit(&d, true, &r);
	expect_done_after(&r, 5);
	cr_assert_eq(vbdev_delay_update_latency("nope", VBDEV_DELAY_AVG_READ, 1), -ENODEV);
	cr_assert_eq(vbdev_delay_update_latency("Malloc0", VBDEV_DELAY_AVG_READ, 1), -ENODEV,
		     "a malloc bdev taken for a delay bdev");
	cr_assert_eq(vbdev_delay_update_latency("D0", VBDEV_DELAY_NUM_LATENCIES, 1), -EINVAL);
	cr_assert_eq(vbdev_delay_update_latency(NULL, VBDEV_DELAY_AVG_READ, 1), -EINVAL);
	dev_close(&d);
}

Test(vbdev_delay, bad_input)
{
	const uint64_t lat[VBDEV_DELAY_NUM_LATENCIES] = {10, 20, 10, 20};
	uint64_t bad[VBDEV_DELAY_NUM_LATENCIES] = {10, 5, 10, 20};
	struct spio_bdev *b;

	make_base("Malloc0");
	cr_assert_eq(vbdev_delay_create("Malloc0", "D0", NULL, bad, &b), -EINVAL,
		     "p99 read below average accepted");
	bad[VBDEV_DELAY_P99_READ] = 10;
	bad[VBDEV_DELAY_P99_WRITE] = 9;
	cr_assert_eq(vbdev_delay_create("Malloc0", "D0", NULL, bad, &b), -EINVAL,
		     "p99 write below average accepted");
	cr_assert_eq(vbdev_delay_create("", "D0", NULL, lat, &b), -EINVAL);
	cr_assert_eq(vbdev_delay_create("Malloc0", "", NULL, lat, &b), -EINVAL);
	cr_assert_eq(vbdev_delay_create("Malloc0", "D0", NULL, NULL, &b), -EINVAL);
	cr_assert_not(spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc0")), "base left claimed");
	cr_assert_eq(vbdev_delay_create("Malloc0", "D0", NULL, lat, &b), 0);
	pump(5000);
	cr_assert_eq(vbdev_delay_create("Malloc0", "D0", NULL, lat, &b), -EEXIST);
	cr_assert_eq(vbdev_delay_create("Malloc0", "Malloc0", NULL, lat, &b), -EEXIST);
	cr_assert_eq(vbdev_delay_create("Malloc0", "D1", NULL, lat, &b), -EPERM,
		     "second delay bdev on a claimed base");
	cr_assert_null(spio_bdev_get_by_name("D1"));
	cr_assert_eq(vbdev_delay_delete("D1", NULL, NULL), -ENODEV, "refused create stayed");
	cr_assert_eq(vbdev_delay_delete("Malloc0", NULL, NULL), -ENODEV);
	cr_assert_eq(vbdev_delay_delete(NULL, NULL, NULL), -EINVAL);
}

static void delete_cb(void *arg, int rc)
{
	int *res = arg;

	*res = rc == 0 ? 1 : rc;
}

Test(vbdev_delay, delete_with_io_delayed)
{
	struct io_res r = {0};
	struct dev d;
	int deleted = 0;

	make_base("Malloc0");
	make_delay("Malloc0", "D0", 1000, 1000, 1000, 1000);
	dev_open(&d, "D0");
	submit(&d, false, &r);
	cr_assert_eq(vbdev_delay_delete("D0", delete_cb, &deleted), 0);
	fx_poll_for(1000);
	cr_assert_eq(d.removed, 1, "the opener did not hear of the removal");
	cr_assert_eq(r.done, 0, "the delayed read ended early");
	advance(1000);
	cr_assert_eq(r.done, 1, "the delayed read did not complete after delete");
	cr_assert_eq(r.status, SPIO_BDEV_IO_STATUS_SUCCESS);
	dev_close(&d);
	cr_assert(poll_gone("D0"), "D0 not deleted");
	cr_assert(fx_poll_until(&deleted, 1, 2000000), "delete callback: got %d", deleted);
	fx_poll_for(2000);
	cr_assert_not(spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc0")), "base still claimed");
	cr_assert_eq(vbdev_delay_delete("D0", NULL, NULL), -ENODEV);
	/* the base is free again */
	make_delay("Malloc0", "D0", 1, 1, 1, 1);
}

Test(vbdev_delay, reset_ends_delayed_io)
{
	struct io_res r = {0}, rr = {0};
	struct dev d;

	make_base("Malloc0");
	make_delay("Malloc0", "D0", 1000, 1000, 1000, 1000);
	dev_open(&d, "D0");
	submit(&d, true, &r);
	cr_assert_eq(r.done, 0);
	cr_assert_eq(spio_bdev_reset(d.desc, d.ch, io_cb, &rr), 0);
	cr_assert(fx_poll_until(&rr.done, 1, 2000000), "reset did not complete");
	cr_assert_eq(rr.status, SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert_eq(r.done, 1, "delayed write not ended by the reset");
	cr_assert_eq(r.status, SPIO_BDEV_IO_STATUS_FAILED);
	dev_close(&d);
}

Test(vbdev_delay, created_before_base_and_hot_remove)
{
	cr_assert_null(make_delay("Malloc0", "D0", 1, 2, 3, 4), "made without a base");
	make_base("Malloc0");
	pump(5000);
	cr_assert_not_null(spio_bdev_get_by_name("D0"), "D0 not made when its base came");
	cr_assert_str_eq(spio_bdev_get_module_name(spio_bdev_get_by_name("D0")), "delay");
	cr_assert_eq(spio_bdev_malloc_delete("Malloc0", NULL, NULL), 0);
	cr_assert(poll_gone("Malloc0"), "base not deleted");
	cr_assert_null(spio_bdev_get_by_name("D0"), "D0 outlived its base");
	/* as passthru: the configuration stays, the base's return brings it back */
	make_base("Malloc0");
	pump(5000);
	cr_assert_not_null(spio_bdev_get_by_name("D0"), "D0 not back with its base");
	/* delete of one still waiting for its base forgets it */
	make_delay("Malloc9", "D9", 1, 1, 1, 1);
	cr_assert_eq(vbdev_delay_delete("D9", NULL, NULL), 0);
	make_base("Malloc9");
	fx_poll_for(2000);
	cr_assert_null(spio_bdev_get_by_name("D9"), "a deleted delay bdev was made");
}

Test(vbdev_delay, rpcs_and_config)
{
	json_t *res, *cfg, *p;

	make_base("Malloc0");
	res = fx_rpc_text("bdev_delay_create",
			  "{\"base_bdev_name\": \"Malloc0\", \"name\": \"D0\","
			  " \"avg_read_latency\": 10, \"p99_read_latency\": 20,"
			  " \"avg_write_latency\": 30, \"p99_write_latency\": 40}",
			  0, NULL);
	cr_assert_str_eq(json_string_value(res), "D0");
	json_decref(res);
	pump(5000);
	fx_rpc_text("bdev_delay_create",
		    "{\"base_bdev_name\": \"Malloc0\", \"name\": \"D1\","
		    " \"avg_read_latency\": 10, \"p99_read_latency\": 5,"
		    " \"avg_write_latency\": 30, \"p99_write_latency\": 40}",
		    -EINVAL, NULL);
	fx_rpc_text("bdev_delay_create", "{\"base_bdev_name\": \"Malloc0\", \"name\": \"D1\"}",
		    -32602, "avg_read_latency");
	res = fx_rpc_text("bdev_delay_update_latency",
			  "{\"delay_bdev_name\": \"D0\", \"latency_type\": \"p99_write\","
			  " \"latency_us\": 77}",
			  0, NULL);
	cr_assert(json_is_true(res));
	json_decref(res);
	fx_rpc_text("bdev_delay_update_latency",
		    "{\"delay_bdev_name\": \"D0\", \"latency_type\": \"p50\", \"latency_us\": 1}",
		    -32602, "latency_type");
	fx_rpc_text(
	    "bdev_delay_update_latency",
	    "{\"delay_bdev_name\": \"Dx\", \"latency_type\": \"avg_read\", \"latency_us\": 1}",
	    -32602, "does not exist");

	cfg = fx_config_entry(spio_bdev_get_by_name("D0"));
	cr_assert_str_eq(json_string_value(json_object_get(cfg, "method")), "bdev_delay_create");
	p = json_object_get(cfg, "params");
	cr_assert_str_eq(json_string_value(json_object_get(p, "base_bdev_name")), "Malloc0");
	cr_assert_str_eq(json_string_value(json_object_get(p, "name")), "D0");
	cr_assert_not_null(json_object_get(p, "uuid"));
	cr_assert_eq(json_integer_value(json_object_get(p, "avg_read_latency")), 10);
	cr_assert_eq(json_integer_value(json_object_get(p, "p99_read_latency")), 20);
	cr_assert_eq(json_integer_value(json_object_get(p, "avg_write_latency")), 30);
	cr_assert_eq(json_integer_value(json_object_get(p, "p99_write_latency")), 77,
		     "the update is not in the saved config");
	json_decref(cfg);

	res = fx_rpc_text("bdev_delay_delete", "{\"name\": \"D0\"}", 0, NULL);
	cr_assert(json_is_true(res));
	json_decref(res);
	cr_assert_null(spio_bdev_get_by_name("D0"));
	fx_rpc_text("bdev_delay_delete", "{\"name\": \"D0\"}", -ENODEV, NULL);
}
