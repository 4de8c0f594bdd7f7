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
#include "json/json_val_internal.h"
#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/rpc.h"
#include "spio/thread.h"

static struct spio_thread *g_thread;

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
}

static void setup(void)
{
	struct spio_env_opts eopts;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	cr_assert_eq(spio_env_init(&eopts), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_thread = spio_thread_create("bdev_rpc", NULL);
	spio_set_thread(g_thread);
	cr_assert_eq(spio_bdev_initialize(NULL), 0);
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
}

static bool g_fini_done;

static void fini_done(void *arg)
{
	(void)arg;
	g_fini_done = true;
}

static void teardown(void)
{
	cr_assert_eq(spio_bdev_finish(fini_done, NULL), 0);
	for (int i = 0; i < 1000 && !g_fini_done; i++) {
		poll_n(1);
	}
	cr_assert(g_fini_done);
	spio_thread_exit(g_thread);
	for (int i = 0; i < 1000 && !spio_thread_is_exited(g_thread); i++) {
		poll_n(1);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(bdev_rpc, .init = setup, .fini = teardown);

struct call_result {
	bool done;
	int code;
	char msg[256];
	json_t *result;
};

static void call_cb(void *ctx, int code, const char *msg, const struct spio_json_val *result_val)
{
	json_t *result = json_val_to_jansson(result_val);
	struct call_result *r = ctx;

	r->done = true;
	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", msg != NULL ? msg : "");
	r->result = result != NULL ? json_incref(result) : NULL;
}

/* Call `method` with params given as JSON text; returns the result (owned). */
static json_t *call(const char *method, const char *params_json, int expect_code)
{
	struct call_result r = {0};
	json_t *params = NULL;

	if (params_json != NULL) {
		params = json_loads(params_json, 0, NULL);
		cr_assert_not_null(params, "bad test JSON %s", params_json);
	}
	cr_assert_eq(spio_rpc_call(method, json_val_from_jansson(params), call_cb, &r), 0);
	for (int i = 0; i < 100 && !r.done; i++) {
		poll_n(1);
	}
	json_decref(params);
	cr_assert(r.done, "%s: no answer", method);
	cr_assert_eq(r.code, expect_code, "%s %s: expected code %d, got %d (%s)", method,
		     params_json ? params_json : "", expect_code, r.code, r.msg);
	return r.result;
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

	cr_assert_eq(spio_bdev_malloc_create("Malloc0", NULL, 16, 512, &bdev), 0);
	cr_assert_eq(spio_bdev_null_create("Null0", NULL, 16, 512, &bdev), 0);
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
	cr_assert_eq(json_integer_value(json_object_get(b, "num_read_ops")), 3);
	cr_assert_eq(json_integer_value(json_object_get(b, "bytes_read")), 3 * 1024);
	cr_assert_eq(json_integer_value(json_object_get(b, "num_write_ops")), 1);
	cr_assert_eq(json_integer_value(json_object_get(b, "bytes_written")), 4096);
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
	cr_assert_eq(spio_bdev_malloc_create("Malloc0", NULL, 16, 4096, &bdev), 0);
	cr_assert_eq(spio_bdev_null_create("Null0", NULL, 32, 512, &bdev), 0);
	w = spio_json_write_begin(fx_json_to_string, &text, 0);
	sub->write_config_json(w);
	cr_assert_eq(spio_json_write_end(w), 0);
	cfg = json_loads(text, 0, NULL);
	cr_assert_not_null(cfg, "config parses: %s", text);
	cr_assert_eq(json_array_size(cfg), 3, "two bdevs + wait_for_examine: %s", text);
	e = json_array_get(cfg, 0);
	cr_assert_str_eq(json_string_value(json_object_get(e, "method")), "bdev_malloc_create");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "params"), "name")),
			 "Malloc0");
	cr_assert_eq(
	    json_integer_value(json_object_get(json_object_get(e, "params"), "block_size")), 4096);
	e = json_array_get(cfg, 1);
	cr_assert_str_eq(json_string_value(json_object_get(e, "method")), "bdev_null_create");
	e = json_array_get(cfg, 2);
	cr_assert_str_eq(json_string_value(json_object_get(e, "method")), "bdev_wait_for_examine");

	/* the entries replay: delete everything, run them, get the same bdevs back */
	json_decref(call("bdev_malloc_delete", "{\"name\": \"Malloc0\"}", 0));
	json_decref(call("bdev_null_delete", "{\"name\": \"Null0\"}", 0));
	for (size_t i = 0; i < json_array_size(cfg); i++) {
		struct call_result r = {0};

		e = json_array_get(cfg, i);
		cr_assert_eq(spio_rpc_call(json_string_value(json_object_get(e, "method")),
					   json_val_from_jansson(json_object_get(e, "params")),
					   call_cb, &r),
			     0);
		poll_n(3);
		cr_assert(r.done && r.code == 0, "replay of entry %zu: code %d %s", i, r.code,
			  r.msg);
		json_decref(r.result);
	}
	bdev = spio_bdev_get_by_name("Null0");
	cr_assert_not_null(bdev);
	cr_assert_eq(spio_bdev_get_num_blocks(bdev), 32);
	json_decref(cfg);
	free(text);
}
