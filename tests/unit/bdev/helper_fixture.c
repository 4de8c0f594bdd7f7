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
#include "spio/dma.h"
#include "spio/json.h"
#include "spio/rpc.h"
#include "spio/env.h"
#include "spio/thread.h"
#include "helper_spio_thread.h"

struct spio_thread *g_fx_thread;

void fx_init(const char *name)
{
	int rc;

	test_env_init(name);
	g_fx_thread = test_thread_start(name);
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

void fx_bdev_finish(void)
{
	int done = 0;

	cr_assert_eq(spio_bdev_finish(finish_done, &done), 0);
	cr_assert(fx_poll_until(&done, 1, 10000000), "spio_bdev_finish did not complete");
}

void fx_fini(void)
{
	spio_set_thread(g_fx_thread);
	fx_bdev_finish();
	test_thread_end(g_fx_thread, 100000);
	g_fx_thread = NULL;
	spio_env_fini();
}

void fx_threads_init(const char *name, struct spio_thread **t, int n)
{
	test_env_init(name);
	t[0] = test_thread_start(name);
	for (int i = 1; i < n; i++) {
		t[i] = spio_thread_create(name, NULL);
		cr_assert_not_null(t[i], "spio_thread_create(%s) #%d failed", name, i);
	}
	spio_set_thread(t[0]);
}

void fx_threads_poll(struct spio_thread **t, int n)
{
	for (int i = 0; i < n; i++) {
		struct spio_thread *prev = spio_thread_enter(t[i]);

		spio_thread_poll(t[i], 0, 0);
		spio_thread_leave(prev);
	}
}

static bool threads_exited(struct spio_thread **t, int n)
{
	for (int i = 0; i < n; i++) {
		if (!spio_thread_is_exited(t[i])) {
			return false;
		}
	}
	return true;
}

void fx_threads_fini(struct spio_thread **t, int n)
{
	int done = 0;

	spio_set_thread(t[0]);
	cr_assert_eq(spio_bdev_finish(finish_done, &done), 0);
	for (int i = 0; i < 200000 && *(volatile int *)&done == 0; i++) {
		fx_threads_poll(t, n);
	}
	cr_assert_eq(done, 1, "spio_bdev_finish did not complete");
	for (int i = 0; i < n; i++) {
		struct spio_thread *prev = spio_thread_enter(t[i]);

		spio_thread_exit(t[i]);
		spio_thread_leave(prev);
	}
	for (int i = 0; i < 100000 && !threads_exited(t, n); i++) {
		fx_threads_poll(t, n);
	}
	for (int i = 0; i < n; i++) {
		cr_assert(spio_thread_is_exited(t[i]), "thread %d did not exit", i);
		spio_thread_destroy(t[i]);
	}
	spio_set_thread(NULL);
	spio_thread_lib_fini();
	spio_env_fini();
}

void fx_dev_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

void fx_dev_open(struct fx_dev *d, const char *name, bool write, size_t buf_size)
{
	int rc = spio_bdev_open_ext(name, write, fx_dev_event, NULL, &d->desc);

	cr_assert_eq(rc, 0, "open %s: expected 0, got %d", name, rc);
	d->ch = spio_bdev_get_io_channel(d->desc);
	cr_assert_not_null(d->ch, "no I/O channel for %s", name);
	d->buf = spio_dma_zmalloc(buf_size, 4096);
	cr_assert_not_null(d->buf, "no DMA buffer of %zu bytes", buf_size);
}

void fx_dev_close(struct fx_dev *d)
{
	if (d->ch != NULL) {
		spio_put_io_channel(d->ch);
	}
	spio_bdev_close(d->desc);
	spio_dma_free(d->buf);
	fx_poll_for(1000);
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
