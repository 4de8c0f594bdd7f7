/*
 * The passthru bdev module: data through to the base, every I/O type the
 * base supports, the claim, duplicate names, creation before the base
 * exists, hot remove and re-creation when the base comes back, delete of a
 * waiting one, and the RPCs with save_config.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "helper_fixture.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_module.h"
#include "spio/bdev_passthru.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/thread.h"

#define BS 512
#define NB 64

static void setup(void)
{
	fx_init("test_vbdev_passthru");
}

static void teardown(void)
{
	fx_fini();
}

TestSuite(vbdev_passthru, .init = setup, .fini = teardown);

static bool poll_gone(const char *name)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(2000000);

	while (spio_bdev_get_by_name(name) != NULL && spio_get_ticks() < end) {
		fx_poll();
	}
	return spio_bdev_get_by_name(name) == NULL;
}

static void ev_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)bdev;
	if (type == SPIO_BDEV_EVENT_REMOVE) {
		(*(int *)ctx)++;
	}
}

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

/* Submit with `call` (which names `r`), wait, give the status. */
#define IO(call)                                                                           \
	({                                                                                 \
		struct io_res r = {0};                                                     \
		int rc_ = (call);                                                          \
		cr_assert_eq(rc_, 0, "%s: expected 0, got %d", #call, rc_);                \
		cr_assert(fx_poll_until(&r.done, 1, 2000000), "%s: no completion", #call); \
		r.status;                                                                  \
	})
#define OK SPIO_BDEV_IO_STATUS_SUCCESS

static void make_base(const char *name)
{
	struct spio_bdev *b;
	int rc = fx_malloc_create(name, NULL, NB, BS, &b);

	cr_assert_eq(rc, 0, "malloc %s: expected 0, got %d", name, rc);
}

Test(vbdev_passthru, data_and_io_types_through)
{
	struct spio_bdev *pt, *base;
	struct spio_bdev_desc *desc, *bdesc;
	struct spio_io_channel *ch, *bch;
	uint8_t *buf = spio_dma_zmalloc(BS * 2, 4096);
	int removed = 0;

	make_base("Malloc0");
	cr_assert_eq(spio_bdev_passthru_create("Malloc0", "PT0", NULL, &pt), 0);
	cr_assert_not_null(pt);
	base = spio_bdev_get_by_name("Malloc0");
	cr_assert(spio_bdev_is_claimed(base));
	cr_assert_eq(spio_bdev_get_num_blocks(pt), NB);
	cr_assert_eq(spio_bdev_get_block_size(pt), BS);
	for (int t = SPIO_BDEV_IO_TYPE_READ; t < SPIO_BDEV_NUM_IO_TYPES; t++) {
		cr_assert_eq(spio_bdev_io_type_supported(pt, t),
			     spio_bdev_io_type_supported(base, t),
			     "io type %d: passthru and base differ", t);
	}
	cr_assert_eq(spio_bdev_open_ext("PT0", true, ev_cb, &removed, &desc), 0);
	ch = spio_bdev_get_io_channel(desc);
	memset(buf, 0xa5, BS * 2);
	cr_assert_eq(IO(spio_bdev_write_blocks(desc, ch, buf, 10, 2, io_cb, &r)), OK);
	cr_assert_eq(IO(spio_bdev_compare_blocks(desc, ch, buf, 10, 2, io_cb, &r)), OK);
	cr_assert_eq(IO(spio_bdev_write_zeroes_blocks(desc, ch, 11, 1, io_cb, &r)), OK);
	cr_assert_eq(IO(spio_bdev_flush_blocks(desc, ch, 0, NB, io_cb, &r)), OK);
	cr_assert_eq(IO(spio_bdev_unmap_blocks(desc, ch, 20, 1, io_cb, &r)), OK);
	cr_assert_eq(IO(spio_bdev_reset(desc, ch, io_cb, &r)), OK);
	/* the base holds what went through */
	cr_assert_eq(spio_bdev_open_ext("Malloc0", false, ev_cb, &removed, &bdesc), 0);
	bch = spio_bdev_get_io_channel(bdesc);
	memset(buf, 0, BS * 2);
	cr_assert_eq(IO(spio_bdev_read_blocks(bdesc, bch, buf, 10, 2, io_cb, &r)), OK);
	cr_assert_eq(buf[0], 0xa5, "base block 10: expected 0xa5, got %#x", buf[0]);
	cr_assert_eq(buf[BS], 0, "base block 11: expected zeroes, got %#x", buf[BS]);
	/* a miscompare stays a miscompare through the passthru */
	buf[0] = 0;
	cr_assert_eq(IO(spio_bdev_compare_blocks(desc, ch, buf, 10, 1, io_cb, &r)),
		     SPIO_BDEV_IO_STATUS_MISCOMPARE);
	spio_put_io_channel(bch);
	spio_bdev_close(bdesc);
	spio_put_io_channel(ch);
	spio_bdev_close(desc);
	spio_dma_free(buf);
}

Test(vbdev_passthru, bad_and_duplicate)
{
	struct spio_bdev *pt;

	make_base("Malloc0");
	make_base("Malloc1");
	cr_assert_eq(spio_bdev_passthru_create("Malloc0", "PT0", NULL, &pt), 0);
	cr_assert_eq(spio_bdev_passthru_create("Malloc1", "PT0", NULL, &pt), -EEXIST);
	cr_assert_eq(spio_bdev_passthru_create("Malloc1", "Malloc0", NULL, &pt), -EEXIST);
	cr_assert_eq(spio_bdev_passthru_create("Malloc0", "PT1", NULL, &pt), -EPERM,
		     "a claimed base must be refused");
	cr_assert_null(spio_bdev_get_by_name("PT1"));
	cr_assert_eq(spio_bdev_passthru_create("", "PT2", NULL, &pt), -EINVAL);
	cr_assert_eq(spio_bdev_passthru_create("Malloc1", "", NULL, &pt), -EINVAL);
	cr_assert_eq(spio_bdev_passthru_delete("Malloc1", NULL, NULL), -ENODEV);
	cr_assert_eq(spio_bdev_passthru_delete("nope", NULL, NULL), -ENODEV);
	cr_assert_eq(spio_bdev_passthru_delete("PT0", NULL, NULL), 0);
	cr_assert(poll_gone("PT0"));
	cr_assert(!spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc0")), "claim not released");
}

Test(vbdev_passthru, deferred_hot_remove_and_back)
{
	struct spio_bdev *pt = (void *)1;

	cr_assert_eq(spio_bdev_passthru_create("Late", "PTL", NULL, &pt), 0);
	cr_assert_null(pt);
	make_base("Late");
	cr_assert_not_null(spio_bdev_get_by_name("PTL"), "PTL not made when its base came");
	cr_assert_eq(spio_bdev_malloc_delete("Late", NULL, NULL), 0);
	cr_assert(poll_gone("PTL"), "PTL outlived its base");
	cr_assert(poll_gone("Late"));
	/* as SPDK: the configuration stays, the base's return brings it back */
	make_base("Late");
	cr_assert_not_null(spio_bdev_get_by_name("PTL"), "PTL not back with its base");
}

static int g_del_rc = 1;

static void del_cb(void *arg, int rc)
{
	(void)arg;
	g_del_rc = rc;
}

Test(vbdev_passthru, delete_while_waiting)
{
	struct spio_bdev *pt;

	cr_assert_eq(spio_bdev_passthru_create("Later", "PTW", NULL, &pt), 0);
	cr_assert_eq(spio_bdev_passthru_delete("PTW", del_cb, NULL), 0);
	for (int i = 0; i < 100000 && g_del_rc == 1; i++) {
		fx_poll();
	}
	cr_assert_eq(g_del_rc, 0, "delete callback: expected 0, got %d", g_del_rc);
	make_base("Later");
	cr_assert_null(spio_bdev_get_by_name("PTW"), "a deleted passthru came back");
}

Test(vbdev_passthru, rpcs_and_config)
{
	json_t *res, *cfg, *params;

	make_base("Malloc0");
	res = fx_rpc_text("bdev_passthru_create",
			  "{\"base_bdev_name\": \"Malloc0\", \"name\": \"PT0\", \"uuid\": "
			  "\"9b2c3f7e-1d2a-4c5b-8e6f-0a1b2c3d4e5f\"}",
			  0, NULL);
	cr_assert_str_eq(json_string_value(res), "PT0");
	json_decref(res);
	fx_rpc_text("bdev_passthru_create", "{\"base_bdev_name\": \"Malloc0\", \"name\": \"PT0\"}",
		    -EEXIST, NULL);
	fx_rpc_text("bdev_passthru_create", "{\"name\": \"PT9\"}", -32602, "base_bdev_name");
	res = fx_rpc_text("bdev_passthru_create", "{\"base_bdev_name\": \"Nx\", \"name\": \"PT9\"}",
			  0, NULL);
	cr_assert_str_eq(json_string_value(res), "PT9", "deferred create answers the name");
	json_decref(res);
	cfg = fx_config_entry(spio_bdev_get_by_name("PT0"));
	params = json_object_get(cfg, "params");
	cr_assert_str_eq(json_string_value(json_object_get(cfg, "method")), "bdev_passthru_create");
	cr_assert_str_eq(json_string_value(json_object_get(params, "base_bdev_name")), "Malloc0");
	cr_assert_str_eq(json_string_value(json_object_get(params, "name")), "PT0");
	cr_assert_str_eq(json_string_value(json_object_get(params, "uuid")),
			 "9b2c3f7e-1d2a-4c5b-8e6f-0a1b2c3d4e5f");
	json_decref(cfg);
	res = fx_rpc_text("bdev_passthru_delete", "{\"name\": \"PT0\"}", 0, NULL);
	cr_assert(json_is_true(res));
	json_decref(res);
	res = fx_rpc_text("bdev_passthru_delete", "{\"name\": \"PT9\"}", 0, NULL);
	json_decref(res);
	fx_rpc_text("bdev_passthru_delete", "{\"name\": \"PT0\"}", -ENODEV, NULL);
}
