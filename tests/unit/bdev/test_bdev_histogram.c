/*
 * Latency histograms of a null bdev with two threads (one channel each): the
 * bucket a latency lands in follows SPDK's layout for several granularities
 * and ranges (values fed to the channel's tally directly), real I/O is
 * counted once per I/O on both channels and in released ones, the I/O type
 * filter, enabling again keeps or restarts the counts, disabled means
 * -EFAULT; the RPCs with SPDK's encoding decoded here (base64 of
 * little-endian buckets), bdev_get_histogram_borders, SPDK's errors and the
 * save_config entry.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/bdev_internal.h"
#include "helper_fixture.h"
#include "json/json_val_internal.h"
#include "spio/bdev.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/rpc.h"
#include "spio/thread.h"

#define NT 2

static struct spio_thread *g_t[NT];
static struct spio_bdev_desc *g_desc[NT];
static struct spio_io_channel *g_ch[NT];
static struct spio_bdev *g_bdev;
static uint8_t *g_buf;

static void on(int t)
{
	spio_set_thread(g_t[t]);
}

static void poll_all(void)
{
	for (int t = 0; t < NT; t++) {
		struct spio_thread *prev = spio_thread_enter(g_t[t]);

		spio_thread_poll(g_t[t], 0, 0);
		spio_thread_leave(prev);
	}
}

static void poll_rounds(int n)
{
	for (int i = 0; i < n; i++) {
		poll_all();
	}
}

static void ev(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void open_on(int t)
{
	on(t);
	cr_assert_eq(spio_bdev_open_ext("Null0", true, ev, NULL, &g_desc[t]), 0);
	g_ch[t] = spio_bdev_get_io_channel(g_desc[t]);
	cr_assert_not_null(g_ch[t]);
}

static void close_on(int t)
{
	on(t);
	spio_put_io_channel(g_ch[t]);
	spio_bdev_close(g_desc[t]);
	g_desc[t] = NULL;
	g_ch[t] = NULL;
}

static void setup(void)
{
	struct spio_env_opts eopts;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	cr_assert_eq(spio_env_init(&eopts), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_t[0] = spio_thread_create("h0", NULL);
	g_t[1] = spio_thread_create("h1", NULL);
	on(0);
	cr_assert_eq(spio_bdev_initialize(NULL, NULL, NULL), 0);
	cr_assert_eq(fx_null_create("Null0", NULL, 1024, 512, &g_bdev), 0);
	g_buf = aligned_alloc(4096, 4096);
	cr_assert_not_null(g_buf);
	open_on(0);
	open_on(1);
	on(0);
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
	for (int t = 0; t < NT; t++) {
		if (g_desc[t] != NULL) {
			close_on(t);
		}
	}
	poll_rounds(3);
	on(0);
	cr_assert_eq(spio_bdev_finish(fini_done, NULL), 0);
	for (int i = 0; i < 1000 && !g_fini_done; i++) {
		poll_all();
	}
	cr_assert(g_fini_done);
	for (int t = 0; t < NT; t++) {
		struct spio_thread *prev = spio_thread_enter(g_t[t]);

		spio_thread_exit(g_t[t]);
		spio_thread_leave(prev);
	}
	for (int i = 0; i < 1000; i++) {
		poll_all();
	}
	spio_set_thread(NULL);
	for (int t = 0; t < NT; t++) {
		spio_thread_destroy(g_t[t]);
	}
	free(g_buf);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(hist, .init = setup, .fini = teardown, .timeout = 120);

static int g_status;
static int g_calls;

static void status_done(void *arg, int status)
{
	(void)arg;
	g_status = status;
	g_calls++;
}

/* Enable (or disable) on thread 0 and wait: the callback's status or the call's error. */
static int enable(bool on_, const struct spio_bdev_histogram_opts *opts)
{
	int calls = g_calls, rc;

	on(0);
	rc = spio_bdev_histogram_enable(g_bdev, on_, opts, status_done, NULL);
	if (rc != 0) {
		return rc;
	}
	cr_assert_eq(g_calls, calls, "callback ran before the call returned");
	for (int i = 0; i < 100 && g_calls == calls; i++) {
		poll_all();
	}
	cr_assert_eq(g_calls, calls + 1, "histogram_enable: callback not called");
	return g_status;
}

/* The merged histogram, copied out. */
struct got {
	int status;
	int calls;
	struct spio_bdev_histogram_data d;
	uint64_t *bucket;
};

static struct got g_got;

static void got_cb(void *arg, int status, const struct spio_bdev_histogram_data *data)
{
	(void)arg;
	free(g_got.bucket);
	memset(&g_got, 0, sizeof(g_got));
	g_got.status = status;
	g_got.calls = 1;
	if (data != NULL) {
		g_got.d = *data;
		g_got.bucket = malloc(data->num_buckets * sizeof(uint64_t));
		memcpy(g_got.bucket, data->bucket, data->num_buckets * sizeof(uint64_t));
		g_got.d.bucket = g_got.bucket;
	}
}

static int get(void)
{
	int rc;

	on(0);
	g_got.calls = 0;
	rc = spio_bdev_histogram_get(g_bdev, got_cb, NULL);
	if (rc != 0) {
		return rc;
	}
	for (int i = 0; i < 100 && g_got.calls == 0; i++) {
		poll_all();
	}
	cr_assert_eq(g_got.calls, 1, "histogram_get: callback not called");
	return g_got.status;
}

static uint64_t total(void)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < g_got.d.num_buckets; i++) {
		n += g_got.bucket[i];
	}
	return n;
}

static struct spio_bdev_channel *bch(int t)
{
	return spio_io_channel_get_ctx(g_ch[t]);
}

/* Feed `v` to channel t's histogram as the latency of a read. */
static void tally(int t, uint64_t v)
{
	struct spio_bdev_io io = {.bdev = g_bdev, .type = SPIO_BDEV_IO_TYPE_READ};

	cr_assert_not_null(bch(t)->hist, "channel %d has no histogram", t);
	bdev_histogram_tally(bch(t)->hist, &io, v);
}

/* SPDK's bucket of `v` for granularity g and ranges min..max, computed from
 * the layout's definition (not the code under test). */
static uint64_t spdk_index(uint32_t g, uint32_t min_r, uint32_t max_r, uint64_t v)
{
	uint32_t r = 0;
	uint64_t sub;

	/* the range: 0 below 2^g, else the power of two above 2^(g-1) */
	for (uint32_t e = 63; e >= g; e--) {
		if (v >> e) {
			r = e - g + 1;
			break;
		}
	}
	if (r < min_r) {
		return 0;
	}
	if (r > max_r) {
		return ((uint64_t)(max_r - min_r) << g) + (1u << g) - 1;
	}
	sub = r == 0 ? v : (v - (1ull << (r + g - 1))) >> (r - 1);
	return ((uint64_t)(r - min_r) << g) + sub;
}

static void check_layout(uint32_t g, uint64_t min_nsec, uint64_t max_nsec)
{
	static const uint64_t values[] = {0,
					  1,
					  2,
					  63,
					  64,
					  127,
					  128,
					  129,
					  255,
					  256,
					  1000,
					  4095,
					  4096,
					  12345,
					  65535,
					  1u << 20,
					  999999,
					  123456789,
					  1ull << 40,
					  (1ull << 40) + 12345,
					  UINT64_MAX / 3,
					  UINT64_MAX};
	struct spio_bdev_histogram_opts o;

	spio_bdev_histogram_opts_init(&o, sizeof(o));
	o.granularity = g;
	o.min_nsec = min_nsec;
	o.max_nsec = max_nsec;
	cr_assert_eq(enable(true, &o), 0);
	for (size_t i = 0; i < SPIO_COUNTOF(values); i++) {
		tally(0, values[i]);
	}
	cr_assert_eq(get(), 0);
	cr_assert_eq(g_got.d.granularity, g);
	cr_assert_eq(g_got.d.num_buckets, (uint64_t)(g_got.d.max_range - g_got.d.min_range + 1)
					      << g);
	cr_assert_eq(total(), SPIO_COUNTOF(values));
	for (size_t i = 0; i < SPIO_COUNTOF(values); i++) {
		uint64_t want = spdk_index(g, g_got.d.min_range, g_got.d.max_range, values[i]);
		uint64_t first, last;

		cr_assert_geq(g_got.bucket[want], 1,
			      "g %u ranges %u..%u: %" PRIu64 " expected in bucket %" PRIu64
			      ", which is empty",
			      g, g_got.d.min_range, g_got.d.max_range, values[i], want);
		cr_assert_eq(spio_bdev_histogram_bucket_bounds(&g_got.d, want, &first, &last), 0);
		if (want != 0 && want != g_got.d.num_buckets - 1) {
			cr_assert(values[i] >= first && values[i] <= last,
				  "bucket %" PRIu64 " bounds %" PRIu64 "..%" PRIu64
				  " should hold %" PRIu64,
				  want, first, last, values[i]);
		}
	}
	cr_assert_eq(enable(false, NULL), 0);
}

Test(hist, spdk_bucket_layout)
{
	check_layout(7, 0, UINT64_MAX); /* SPDK's C defaults: 58 ranges */
	cr_assert_eq(g_got.d.min_range, 0);
	cr_assert_eq(g_got.d.max_range, 57, "granularity 7, full range: expected ranges 0..57");
	check_layout(6, 0, UINT64_MAX); /* spio/histogram.h's layout */
	cr_assert_eq(g_got.d.max_range, 58);
	check_layout(3, 0, UINT64_MAX);
	check_layout(7, 1000, 120000000000ull); /* the RPC's defaults: cut ranges */
	cr_assert_gt(g_got.d.min_range, 0, "1 us is above range 0 at any tick rate over 128 MHz");
	check_layout(12, 5000, 1000000);
}

Test(hist, bucket_bounds_cover_every_value_once)
{
	struct spio_bdev_histogram_opts o;
	uint64_t prev_last = 0, first, last;

	spio_bdev_histogram_opts_init(&o, sizeof(o));
	o.granularity = 4;
	cr_assert_eq(enable(true, &o), 0);
	cr_assert_eq(get(), 0);
	for (uint64_t i = 0; i < g_got.d.num_buckets; i++) {
		cr_assert_eq(spio_bdev_histogram_bucket_bounds(&g_got.d, i, &first, &last), 0);
		cr_assert_eq(first, i == 0 ? 0 : prev_last + 1,
			     "bucket %" PRIu64 " starts at %" PRIu64 ", expected %" PRIu64, i,
			     first, prev_last + 1);
		cr_assert_geq(last, first);
		prev_last = last;
	}
	cr_assert_eq(prev_last, UINT64_MAX, "the last bucket ends at UINT64_MAX");
	cr_assert_eq(
	    spio_bdev_histogram_bucket_bounds(&g_got.d, g_got.d.num_buckets, &first, &last),
	    -EINVAL);
}

static int g_done;

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	(void)cb_arg;
	cr_assert(success);
	g_done++;
	spio_bdev_free_io(io);
}

static void do_io(int t, int reads, int writes)
{
	int want = g_done + reads + writes;

	on(t);
	for (int i = 0; i < reads; i++) {
		cr_assert_eq(spio_bdev_read_blocks(g_desc[t], g_ch[t], g_buf, 0, 1, io_done, NULL),
			     0);
	}
	for (int i = 0; i < writes; i++) {
		cr_assert_eq(spio_bdev_write_blocks(g_desc[t], g_ch[t], g_buf, 0, 1, io_done, NULL),
			     0);
	}
	for (int i = 0; i < 100 && g_done < want; i++) {
		poll_all();
	}
	cr_assert_eq(g_done, want);
}

Test(hist, real_io_counted_on_every_channel_and_after_close)
{
	cr_assert_eq(get(), -EFAULT, "off by default: SPDK's -EFAULT");
	cr_assert_not(spio_bdev_histogram_is_enabled(g_bdev));
	do_io(0, 5, 0);
	cr_assert_eq(enable(true, NULL), 0);
	cr_assert(spio_bdev_histogram_is_enabled(g_bdev));
	do_io(0, 10, 3);
	do_io(1, 7, 0);
	cr_assert_eq(get(), 0);
	cr_assert_eq(total(), 20, "I/O since enabling on both channels: expected 20, got %" PRIu64,
		     total());
	close_on(1);
	poll_rounds(3);
	cr_assert_eq(get(), 0);
	cr_assert_eq(total(), 20, "a released channel's counts are kept: expected 20, got %" PRIu64,
		     total());
	open_on(1);
	do_io(1, 2, 0);
	cr_assert_eq(get(), 0);
	cr_assert_eq(total(), 22);

	/* enabling again with the same options keeps the counts ... */
	cr_assert_eq(enable(true, NULL), 0);
	cr_assert_eq(get(), 0);
	cr_assert_eq(total(), 22, "re-enabled alike: expected the 22 kept, got %" PRIu64, total());
	/* ... disabling drops them */
	cr_assert_eq(enable(false, NULL), 0);
	cr_assert_eq(get(), -EFAULT);
	cr_assert_null(bch(0)->hist, "a disabled histogram has no buckets on the channel");
	do_io(0, 3, 0);
	cr_assert_eq(enable(true, NULL), 0);
	cr_assert_eq(get(), 0);
	cr_assert_eq(total(), 0, "enabled anew: expected 0, got %" PRIu64, total());
}

Test(hist, io_type_filter_and_new_options_restart)
{
	struct spio_bdev_histogram_opts o;

	spio_bdev_histogram_opts_init(&o, sizeof(o));
	o.io_type = SPIO_BDEV_IO_TYPE_WRITE;
	cr_assert_eq(enable(true, &o), 0);
	do_io(0, 6, 4);
	do_io(1, 2, 1);
	cr_assert_eq(get(), 0);
	cr_assert_eq(total(), 5, "writes only: expected 5, got %" PRIu64, total());
	o.io_type = SPIO_BDEV_IO_TYPE_INVALID;
	cr_assert_eq(enable(true, &o), 0);
	cr_assert_eq(get(), 0);
	cr_assert_eq(total(), 0, "new options restart the counts: got %" PRIu64, total());
	do_io(1, 2, 1);
	cr_assert_eq(get(), 0);
	cr_assert_eq(total(), 3);
}

Test(hist, argument_errors)
{
	struct spio_bdev_histogram_opts o;

	on(0);
	cr_assert_eq(spio_bdev_histogram_enable(NULL, true, NULL, status_done, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_histogram_enable(g_bdev, true, NULL, NULL, NULL), -EINVAL);
	spio_bdev_histogram_opts_init(&o, sizeof(o));
	o.granularity = 0;
	cr_assert_eq(enable(true, &o), -EINVAL, "granularity 0");
	o.granularity = SPIO_BDEV_HISTOGRAM_GRANULARITY_MAX + 1;
	cr_assert_eq(enable(true, &o), -EINVAL, "granularity above the maximum");
	spio_bdev_histogram_opts_init(&o, sizeof(o));
	o.min_nsec = 100;
	o.max_nsec = 100;
	cr_assert_eq(enable(true, &o), -EINVAL, "min_nsec not below max_nsec");
	spio_bdev_histogram_opts_init(&o, sizeof(o));
	o.io_type = SPIO_BDEV_NUM_IO_TYPES;
	cr_assert_eq(enable(true, &o), -EINVAL, "io_type out of range");
	o.opts_size = 0;
	cr_assert_eq(enable(true, &o), -EINVAL, "opts_size 0");
	/* a short opts_size keeps the defaults beyond it */
	spio_bdev_histogram_opts_init(&o, sizeof(o));
	o.granularity = 99;
	o.opts_size = offsetof(struct spio_bdev_histogram_opts, granularity);
	cr_assert_eq(enable(true, &o), 0, "granularity beyond opts_size is not read");
	/* SPDK's -EAGAIN while a change is in progress */
	cr_assert_eq(spio_bdev_histogram_enable(g_bdev, false, NULL, status_done, NULL), 0);
	cr_assert_eq(spio_bdev_histogram_enable(g_bdev, true, NULL, status_done, NULL), -EAGAIN);
	poll_rounds(10);
	cr_assert_eq(spio_bdev_histogram_get(NULL, got_cb, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_histogram_get(g_bdev, NULL, NULL), -EINVAL);
	cr_assert_not(spio_bdev_histogram_is_enabled(NULL));
}

/*
 * RPCs
 */

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

/* fx_rpc_text() polling every thread (the methods visit their channels). */
static json_t *rpc_text(const char *method, const char *params_json, int code,
			const char *want_text)
{
	struct rpc_result r = {0};
	json_t *params = params_json != NULL ? json_loads(params_json, 0, NULL) : NULL;

	on(0);
	cr_assert_eq(spio_rpc_call(method, json_val_from_jansson(params), rpc_cb, &r), 0);
	for (int i = 0; i < 1000 && r.done == 0; i++) {
		poll_all();
	}
	cr_assert_eq(r.done, 1, "%s: no answer", method);
	cr_assert_eq(r.code, code, "%s %s: expected code %d, got %d (%s)", method,
		     params_json != NULL ? params_json : "", code, r.code, r.msg);
	if (want_text != NULL) {
		cr_assert(strstr(r.msg, want_text) != NULL, "%s: message '%s' should mention '%s'",
			  method, r.msg, want_text);
	}
	json_decref(params);
	return r.result;
}

/* Decode base64 (what Python's base64.b64decode accepts from SPDK). */
static size_t b64_decode(const char *s, uint8_t *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;

	for (; *s != '\0' && *s != '='; s++) {
		const char *p = strchr(tab, *s);

		cr_assert_not_null(p, "not base64: '%c'", *s);
		acc = acc << 6 | (uint32_t)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n;
}

Test(hist, rpc_spdk_encoding_borders_errors_and_config)
{
	json_t *r;
	const char *b64;
	uint8_t *raw;
	size_t n;
	uint64_t sum = 0, nb;
	char *text = NULL;
	struct spio_json_write_ctx *w;

	r = rpc_text("bdev_enable_histogram", "{\"name\": \"Null0\", \"enable\": true}", 0, NULL);
	cr_assert(json_is_true(r));
	json_decref(r);
	do_io(0, 9, 0);
	do_io(1, 0, 4);

	r = rpc_text("bdev_get_histogram", "{\"name\": \"Null0\"}", 0, NULL);
	cr_assert_eq(json_integer_value(json_object_get(r, "granularity")), 7);
	cr_assert_eq(json_integer_value(json_object_get(r, "tsc_rate")),
		     (json_int_t)spio_get_ticks_hz());
	nb = (uint64_t)(json_integer_value(json_object_get(r, "max_range")) -
			json_integer_value(json_object_get(r, "min_range")) + 1)
	     << 7;
	b64 = json_string_value(json_object_get(r, "histogram"));
	cr_assert_not_null(b64);
	raw = malloc(strlen(b64));
	n = b64_decode(b64, raw);
	cr_assert_eq(n, nb * 8, "decoded %zu bytes, expected %" PRIu64 " buckets of 8", n, nb);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = 0;

		for (int b = 7; b >= 0; b--) {
			v = v << 8 | raw[i + (size_t)b]; /* little-endian, as SPDK's tools read */
		}
		sum += v;
	}
	cr_assert_eq(sum, 13, "buckets decoded from the answer: expected 13 I/Os, got %" PRIu64,
		     sum);
	free(raw);
	json_decref(r);

	/* borders: every latency is below 10 s, none below 0 us */
	r = rpc_text("bdev_get_histogram_borders",
		     "{\"name\": \"Null0\", \"borders\": [0, 10000000]}", 0, NULL);
	cr_assert_eq(json_array_size(json_object_get(r, "borders_count")), 3,
		     "two borders give three counts");
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(r, "borders_count"), 1)),
		     13);
	json_decref(r);

	/* SPDK's errors */
	json_decref(rpc_text("bdev_enable_histogram", "{\"name\": \"nope\", \"enable\": true}",
			     -ENODEV, NULL));
	json_decref(rpc_text("bdev_enable_histogram",
			     "{\"name\": \"Null0\", \"enable\": true, \"opc\": \"zcopy\"}",
			     SPIO_JSONRPC_ERROR_INTERNAL_ERROR, "Invalid Io type"));
	json_decref(rpc_text("bdev_enable_histogram",
			     "{\"name\": \"Null0\", \"enable\": true, \"granularity\": 40}",
			     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "granularity"));
	json_decref(rpc_text("bdev_enable_histogram", "{\"name\": \"Null0\"}",
			     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "enable"));
	json_decref(rpc_text("bdev_get_histogram", "{\"name\": \"nope\"}", -ENODEV, NULL));
	json_decref(rpc_text("bdev_get_histogram_borders",
			     "{\"name\": \"Null0\", \"borders\": [5, 1]}",
			     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "borders[1]"));

	/* save_config: SPDK's entry with opc */
	json_decref(rpc_text("bdev_enable_histogram",
			     "{\"name\": \"Null0\", \"enable\": true, \"opc\": \"write\"}", 0,
			     NULL));
	w = spio_json_write_begin(fx_json_to_string, &text, 0);
	bdev_histogram_write_config_json(g_bdev, w);
	cr_assert_eq(spio_json_write_end(w), 0);
	r = json_loads(text, 0, NULL);
	cr_assert_not_null(r, "config entry parses: %s", text);
	cr_assert_str_eq(json_string_value(json_object_get(r, "method")), "bdev_enable_histogram");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "params"), "opc")),
			 "write");
	cr_assert(json_is_true(json_object_get(json_object_get(r, "params"), "enable")));
	json_decref(r);
	free(text);

	/* off: SPDK's internal error "Bad address", and no config entry */
	json_decref(
	    rpc_text("bdev_enable_histogram", "{\"name\": \"Null0\", \"enable\": false}", 0, NULL));
	json_decref(rpc_text("bdev_get_histogram", "{\"name\": \"Null0\"}",
			     SPIO_JSONRPC_ERROR_INTERNAL_ERROR, "Bad address"));
	text = NULL;
	w = spio_json_write_begin(fx_json_to_string, &text, 0);
	bdev_histogram_write_config_json(g_bdev, w);
	cr_assert_eq(spio_json_write_end(w), 0);
	cr_assert(text == NULL || text[0] == '\0', "disabled: no entry, got %s", text);
	free(text);
}
