/* See helper_fixture.h. */
#include "helper_fixture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json_val_internal.h"
#include "spio/bdev.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_module.h"
#include "spio/bdev_null.h"
#include "spio/json.h"
#include "spio/rpc.h"
#include "spio/env.h"
#include "spio/thread.h"

struct spio_thread *g_fx_thread;

void fx_init(const char *name)
{
	struct spio_env_opts eopts;
	int rc;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	eopts.name = name;
	rc = spio_env_init(&eopts);
	cr_assert_eq(rc, 0, "spio_env_init: expected 0, got %d", rc);
	rc = spio_thread_lib_init(NULL, 0);
	cr_assert_eq(rc, 0, "spio_thread_lib_init: expected 0, got %d", rc);
	g_fx_thread = spio_thread_create(name, NULL);
	cr_assert_not_null(g_fx_thread);
	spio_set_thread(g_fx_thread);
	rc = spio_bdev_initialize(NULL, NULL, NULL);
	cr_assert_eq(rc, 0, "spio_bdev_initialize: expected 0, got %d", rc);
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
}

void fx_poll(void)
{
	spio_thread_poll(g_fx_thread, 0, 0);
}

bool fx_poll_until(const int *counter, int want, uint64_t timeout_us)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(timeout_us);

	while (*(volatile const int *)counter < want) {
		if (spio_get_ticks() > end) {
			return false;
		}
		fx_poll();
	}
	return true;
}

void fx_poll_for(uint64_t us)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(us);

	while (spio_get_ticks() < end) {
		fx_poll();
	}
}

static void examine_finished(void *arg)
{
	(*(int *)arg)++;
}

void fx_wait_for_examine(void)
{
	struct spio_thread *t = spio_get_thread();
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(10000000);
	int done = 0, rc;

	cr_assert_not_null(t, "fx_wait_for_examine: no current spio thread");
	rc = spio_bdev_wait_for_examine(examine_finished, &done);
	cr_assert_eq(rc, 0, "spio_bdev_wait_for_examine: expected 0, got %d", rc);
	while (*(volatile int *)&done == 0 && spio_get_ticks() <= end) {
		spio_thread_poll(t, 0, 0);
	}
	cr_assert_eq(done, 1, "examine of the new bdevs did not finish within 10 s");
}

static void finish_done(void *arg)
{
	(*(int *)arg)++;
}

void fx_fini(void)
{
	int done = 0;

	spio_set_thread(g_fx_thread);
	cr_assert_eq(spio_bdev_finish(finish_done, &done), 0);
	cr_assert(fx_poll_until(&done, 1, 10000000), "spio_bdev_finish did not complete");
	spio_thread_exit(g_fx_thread);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_fx_thread); i++) {
		fx_poll();
	}
	cr_assert(spio_thread_is_exited(g_fx_thread), "thread did not exit");
	spio_set_thread(NULL);
	spio_thread_destroy(g_fx_thread);
	g_fx_thread = NULL;
	spio_thread_lib_fini();
	spio_env_fini();
}

int fx_json_to_string(void *ctx, const void *data, size_t size)
{
	char **s = ctx;
	size_t old = *s != NULL ? strlen(*s) : 0;
	char *n = realloc(*s, old + size + 1);

	if (n == NULL) {
		return -ENOMEM;
	}
	memcpy(n + old, data, size);
	n[old + size] = '\0';
	*s = n;
	return 0;
}

int fx_malloc_create(const char *name, const struct spio_uuid *uuid, uint64_t num_blocks,
		     uint32_t block_size, struct spio_bdev **bdev)
{
	struct spio_bdev_malloc_opts opts;

	spio_bdev_malloc_opts_init(&opts, sizeof(opts));
	opts.name = name;
	if (uuid != NULL) {
		opts.uuid = *uuid;
	}
	opts.num_blocks = num_blocks;
	opts.block_size = block_size;
	return spio_bdev_malloc_create(&opts, bdev, NULL, 0);
}

int fx_null_create(const char *name, const struct spio_uuid *uuid, uint64_t num_blocks,
		   uint32_t block_size, struct spio_bdev **bdev)
{
	struct spio_bdev_null_opts opts;

	spio_bdev_null_opts_init(&opts, sizeof(opts));
	opts.name = name;
	if (uuid != NULL) {
		opts.uuid = *uuid;
	}
	opts.num_blocks = num_blocks;
	opts.block_size = block_size;
	return spio_bdev_null_create(&opts, bdev, NULL, 0);
}

struct rpc_result {
	int done;
	int code;
	char msg[512];
	json_t *result;
};

static void rpc_cb(void *ctx, int code, const char *msg, const struct spio_json_val *result_val)
{
	json_t *result = json_val_to_jansson(result_val);
	struct rpc_result *r = ctx;

	r->done++;
	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", msg != NULL ? msg : "");
	r->result = result != NULL ? json_incref(result) : NULL;
}

json_t *fx_rpc(const char *method, json_t *params, int code, const char *want_text)
{
	struct rpc_result r = {0};
	char *text = params != NULL ? json_dumps(params, JSON_COMPACT) : NULL;

	cr_assert_eq(spio_rpc_call(method, json_val_from_jansson(params), rpc_cb, &r), 0);
	cr_assert(fx_poll_until(&r.done, 1, FX_RPC_TIMEOUT_US), "%s: no answer", method);
	cr_assert_eq(r.code, code, "%s %s: expected code %d, got %d (%s)", method,
		     text != NULL ? text : "", code, r.code, r.msg);
	if (want_text != NULL) {
		cr_assert(strstr(r.msg, want_text) != NULL,
			  "%s %s: message '%s' should mention '%s'", method,
			  text != NULL ? text : "", r.msg, want_text);
	}
	free(text);
	json_decref(params);
	return r.result;
}

json_t *fx_rpc_text(const char *method, const char *params_json, int code, const char *want_text)
{
	json_t *params = NULL;

	if (params_json != NULL) {
		params = json_loads(params_json, 0, NULL);
		cr_assert_not_null(params, "bad test JSON %s", params_json);
	}
	return fx_rpc(method, params, code, want_text);
}

json_t *fx_config_entry(struct spio_bdev *bdev)
{
	char *text = NULL;
	struct spio_json_write_ctx *w = spio_json_write_begin(fx_json_to_string, &text, 0);
	json_t *e;

	bdev->fn_table->write_config_json(bdev, w);
	cr_assert_eq(spio_json_write_end(w), 0);
	e = json_loads(text, 0, NULL);
	cr_assert_not_null(e, "config entry parses: %s", text);
	free(text);
	return e;
}
