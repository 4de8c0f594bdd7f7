/*
 * The "bdev" subsystem's configuration output and the bdev RPCs, called
 * in-process with spio_rpc_call (no server, no app framework): create,
 * delete, bdev_get_bdevs shape, iostat totals, reset, wait_for_examine.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "helper_fixture.h"
#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/rpc.h"
#include "spio/thread.h"

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		fx_poll();
	}
}

static void setup(void)
{
	fx_init("bdev_rpc");
}

TestSuite(bdev_rpc, .init = setup, .fini = fx_fini);

/* Call `method` with params given as JSON text; returns the result (owned). */
static json_t *call(const char *method, const char *params_json, int expect_code)
{
	return fx_rpc_text(method, params_json, expect_code, NULL);
}

Test(bdev_rpc, create_get_delete)
{
	json_t *res, *b, *types;

	res = call("bdev_malloc_create",
		   "{\"name\": \"Malloc0\", \"num_blocks\": 128, \"block_size\": 4096, "
		   "\"uuid\": \"1b7ae8a2-2d47-4d5f-b5c6-4a2b8a8ed001\"}",
		   0);
	cr_assert_str_eq(json_string_value(res), "Malloc0", "result is the name");
	json_decref(res);
	res = call("bdev_null_create",
		   "{\"name\": \"Null0\", \"num_blocks\": 10, \"block_size\": 512}", 0);
	cr_assert_str_eq(json_string_value(res), "Null0");
	json_decref(res);
	res = call("bdev_malloc_create", "{\"num_blocks\": 8, \"block_size\": 512}", 0);
	cr_assert_str_eq(json_string_value(res), "Malloc1", "generated name, got %s",
			 json_string_value(res));
	json_decref(res);

	/* errors */
	json_decref(call("bdev_malloc_create",
			 "{\"name\": \"Malloc0\", \"num_blocks\": 8, "
			 "\"block_size\": 512}",
			 -EEXIST));
	json_decref(call("bdev_malloc_create", "{\"name\": \"X\", \"num_blocks\": 8}",
			 SPIO_JSONRPC_ERROR_INVALID_PARAMS));
	json_decref(
	    call("bdev_malloc_create",
		 "{\"name\": \"X\", \"num_blocks\": 8, \"block_size\": 512, \"uuid\": \"zz\"}",
		 SPIO_JSONRPC_ERROR_INVALID_PARAMS));
	json_decref(call("bdev_malloc_create",
			 "{\"name\": \"X\", \"num_blocks\": 8, \"block_size\": 513}", -EINVAL));
	json_decref(call("bdev_get_bdevs", "{\"name\": \"nope\"}", -ENODEV));

	res = call("bdev_get_bdevs", NULL, 0);
	cr_assert_eq(json_array_size(res), 3, "expected 3 bdevs, got %zu", json_array_size(res));
	json_decref(res);

	res = call("bdev_get_bdevs", "{\"name\": \"Malloc0\"}", 0);
	cr_assert_eq(json_array_size(res), 1);
	b = json_array_get(res, 0);
	cr_assert_str_eq(json_string_value(json_object_get(b, "name")), "Malloc0");
	cr_assert_str_eq(json_string_value(json_object_get(b, "product_name")), "Malloc disk");
	cr_assert_eq(json_integer_value(json_object_get(b, "block_size")), 4096);
	cr_assert_eq(json_integer_value(json_object_get(b, "num_blocks")), 128);
	cr_assert_str_eq(json_string_value(json_object_get(b, "uuid")),
			 "1b7ae8a2-2d47-4d5f-b5c6-4a2b8a8ed001");
	cr_assert(json_is_array(json_object_get(b, "aliases")));
	cr_assert(json_is_false(json_object_get(b, "claimed")));
	cr_assert(json_is_object(json_object_get(b, "driver_specific")));
	types = json_object_get(b, "supported_io_types");
	cr_assert(json_is_true(json_object_get(types, "read")));
	cr_assert(json_is_true(json_object_get(types, "compare_and_write")));
	json_decref(res);

	res = call("bdev_get_bdevs", "{\"name\": \"Null0\"}", 0);
	types = json_object_get(json_array_get(res, 0), "supported_io_types");
	cr_assert(json_is_false(json_object_get(types, "compare")), "null does not compare");
	json_decref(res);

	res = call("bdev_malloc_delete", "{\"name\": \"Malloc0\"}", 0);
	cr_assert(json_is_true(res));
	json_decref(res);
	json_decref(call("bdev_malloc_delete", "{\"name\": \"Malloc0\"}", -ENODEV));
	json_decref(call("bdev_malloc_delete", "{\"name\": \"Null0\"}", -ENODEV));
	json_decref(call("bdev_null_delete", "{\"name\": \"Null0\"}", 0));
	res = call("bdev_get_bdevs", NULL, 0);
	cr_assert_eq(json_array_size(res), 1, "one bdev left, got %zu", json_array_size(res));
	json_decref(res);

	res = call("bdev_wait_for_examine", NULL, 0);
	cr_assert(json_is_true(res));
	json_decref(res);
	json_decref(call("bdev_wait_for_examine", "{\"x\": 1}", SPIO_JSONRPC_ERROR_INVALID_PARAMS));
}

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	cr_assert(success);
	(*(int *)cb_arg)++;
	spio_bdev_free_io(io);
}

static void ev(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

Test(bdev_rpc, iostat)
{
	struct spio_bdev *bdev;
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	uint8_t *buf = spio_dma_zmalloc(4096, 4096);
	int done = 0;
	json_t *res, *b;
	json_int_t base_reads, base_read_bytes, base_writes, base_written;

	cr_assert_eq(fx_malloc_create("Malloc0", NULL, 16, 512, &bdev), 0);
	cr_assert_eq(fx_null_create("Null0", NULL, 16, 512, &bdev), 0);
	/* examine reads each new bdev (as in SPDK, whose fresh Malloc0 shows
	 * reads): counts below are deltas from what it left */
	json_decref(call("bdev_wait_for_examine", NULL, 0));
	res = call("bdev_get_iostat", "{\"name\": \"Malloc0\"}", 0);
	b = json_array_get(json_object_get(res, "bdevs"), 0);
	cr_assert_not_null(b, "bdev_get_iostat Malloc0: expected one entry");
	base_reads = json_integer_value(json_object_get(b, "num_read_ops"));
	base_read_bytes = json_integer_value(json_object_get(b, "bytes_read"));
	base_writes = json_integer_value(json_object_get(b, "num_write_ops"));
	base_written = json_integer_value(json_object_get(b, "bytes_written"));
	json_decref(res);
	cr_assert_eq(spio_bdev_open_ext("Malloc0", true, ev, NULL, &desc), 0);
	ch = spio_bdev_get_io_channel(desc);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(spio_bdev_read_blocks(desc, ch, buf, 0, 2, io_done, &done), 0);
	}
	cr_assert_eq(spio_bdev_write_blocks(desc, ch, buf, 0, 8, io_done, &done), 0);
	poll_n(5);
	cr_assert_eq(done, 4);

	res = call("bdev_get_iostat", "{\"name\": \"Malloc0\"}", 0);
	cr_assert(json_integer_value(json_object_get(res, "tick_rate")) > 0);
	cr_assert_eq(json_array_size(json_object_get(res, "bdevs")), 1);
	b = json_array_get(json_object_get(res, "bdevs"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(b, "name")), "Malloc0");
	cr_assert_eq(json_integer_value(json_object_get(b, "num_read_ops")) - base_reads, 3,
		     "reads: expected 3 more than examine's %lld, got %lld", (long long)base_reads,
		     (long long)json_integer_value(json_object_get(b, "num_read_ops")));
	cr_assert_eq(json_integer_value(json_object_get(b, "bytes_read")) - base_read_bytes,
		     3 * 1024);
	cr_assert_eq(json_integer_value(json_object_get(b, "num_write_ops")) - base_writes, 1);
	cr_assert_eq(json_integer_value(json_object_get(b, "bytes_written")) - base_written, 4096);
	json_decref(res);

	res = call("bdev_get_iostat", NULL, 0);
	cr_assert_eq(json_array_size(json_object_get(res, "bdevs")), 2);
	json_decref(res);

	res = call("bdev_reset_iostat", "{\"name\": \"Malloc0\"}", 0);
	cr_assert(json_is_true(res));
	json_decref(res);
	res = call("bdev_get_iostat", "{\"name\": \"Malloc0\"}", 0);
	b = json_array_get(json_object_get(res, "bdevs"), 0);
	cr_assert_eq(json_integer_value(json_object_get(b, "num_read_ops")), 0, "reset");
	json_decref(res);
	json_decref(call("bdev_reset_iostat", NULL, 0));
	json_decref(call("bdev_get_iostat", "{\"name\": \"zz\"}", -ENODEV));

	spio_put_io_channel(ch);
	spio_bdev_close(desc);
	spio_dma_free(buf);
	poll_n(3);
}

Test(bdev_rpc, subsystem_config)
{
	struct spio_subsystem *sub = spio_subsystem_find("bdev");
	struct spio_json_write_ctx *w;
	struct spio_bdev *bdev;
	char *text = NULL;
	json_t *cfg, *e;

	cr_assert_not_null(sub, "bdev subsystem registered");
	cr_assert_eq(fx_malloc_create("Malloc0", NULL, 16, 4096, &bdev), 0);
	cr_assert_eq(fx_null_create("Null0", NULL, 32, 512, &bdev), 0);
	w = spio_json_write_begin(fx_json_to_string, &text, 0);
	sub->write_config_json(w);
	cr_assert_eq(spio_json_write_end(w), 0);
	cfg = json_loads(text, 0, NULL);
	cr_assert_not_null(cfg, "config parses: %s", text);
	cr_assert_eq(json_array_size(cfg), 4, "options, two bdevs, wait_for_examine: %s", text);
	e = json_array_get(cfg, 0);
	cr_assert_str_eq(json_string_value(json_object_get(e, "method")), "bdev_set_options");
	cr_assert_eq(
	    json_integer_value(json_object_get(json_object_get(e, "params"), "bdev_io_pool_size")),
	    65535);
	e = json_array_get(cfg, 1);
	cr_assert_str_eq(json_string_value(json_object_get(e, "method")), "bdev_malloc_create");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "params"), "name")),
			 "Malloc0");
	cr_assert_eq(
	    json_integer_value(json_object_get(json_object_get(e, "params"), "block_size")), 4096);
	e = json_array_get(cfg, 2);
	cr_assert_str_eq(json_string_value(json_object_get(e, "method")), "bdev_null_create");
	e = json_array_get(cfg, 3);
	cr_assert_str_eq(json_string_value(json_object_get(e, "method")), "bdev_wait_for_examine");

	/* the entries replay: delete everything, run them, get the same bdevs back */
	json_decref(call("bdev_malloc_delete", "{\"name\": \"Malloc0\"}", 0));
	json_decref(call("bdev_null_delete", "{\"name\": \"Null0\"}", 0));
	for (size_t i = 1; i < json_array_size(cfg); i++) { /* options: startup only */
		e = json_array_get(cfg, i);
		json_decref(fx_rpc(json_string_value(json_object_get(e, "method")),
				   json_incref(json_object_get(e, "params")), 0, NULL));
	}
	bdev = spio_bdev_get_by_name("Null0");
	cr_assert_not_null(bdev);
	cr_assert_eq(spio_bdev_get_num_blocks(bdev), 32);
	json_decref(cfg);
	free(text);
}
