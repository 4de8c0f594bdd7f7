/*
 * bdev_enable_histogram, bdev_get_histogram and bdev_get_histogram_borders
 * with SPDK's parameters and answers. bdev_get_histogram's "histogram" is
 * SPDK's encoding: the buckets as little-endian uint64 values, in base64,
 * beside granularity, min_range, max_range and tsc_rate, which is what
 * SPDK's scripts/histogram.py decodes.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spio/json.h"
#include "spio/rpc.h"

/* SPDK's RPC defaults for the tracked range: 1 us .. 120 s */
#define RPC_HIST_MIN_NSEC 1000ull
#define RPC_HIST_MAX_NSEC 120000000000ull

static void hist_event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

/* Open `name` for the call as SPDK does (a bdev being removed is not found);
 * answers req itself on error. */
static int hist_open(struct spio_jsonrpc_request *req, const char *name,
		     struct spio_bdev_desc **desc)
{
	int rc = spio_bdev_open_ext(name, false, hist_event_cb, NULL, desc);

	if (rc != 0) {
		spio_jsonrpc_send_error_response_fmt(req, rc, "bdev %s: %s", name, strerror(-rc));
	}
	return rc;
}

/* SPDK's io type names that spio has (bdev_get_bdevs' supported_io_types). */
static int io_type_from_name(const char *name, enum spio_bdev_io_type *type)
{
	static const struct {
		const char *name;
		enum spio_bdev_io_type type;
	} types[] = {
	    {"read", SPIO_BDEV_IO_TYPE_READ},
	    {"write", SPIO_BDEV_IO_TYPE_WRITE},
	    {"unmap", SPIO_BDEV_IO_TYPE_UNMAP},
	    {"flush", SPIO_BDEV_IO_TYPE_FLUSH},
	    {"reset", SPIO_BDEV_IO_TYPE_RESET},
	    {"write_zeroes", SPIO_BDEV_IO_TYPE_WRITE_ZEROES},
	    {"compare", SPIO_BDEV_IO_TYPE_COMPARE},
	    {"compare_and_write", SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE},
	};

	for (size_t i = 0; i < SPIO_COUNTOF(types); i++) {
		if (strcmp(types[i].name, name) == 0) {
			*type = types[i].type;
			return 0;
		}
	}
	return -EINVAL;
}

struct enable_params {
	char *name;
	bool enable;
	char *opc;
	uint32_t granularity;
	uint64_t min_nsec;
	uint64_t max_nsec;
};

#define EP(f) offsetof(struct enable_params, f)
static const struct spio_rpc_param g_enable_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, EP(name), false},
    {"enable", SPIO_RPC_PARAM_BOOL, EP(enable), false},
    {"opc", SPIO_RPC_PARAM_STRING, EP(opc), true},
    {"granularity", SPIO_RPC_PARAM_UINT32, EP(granularity), true},
    {"min_nsec", SPIO_RPC_PARAM_UINT64, EP(min_nsec), true},
    {"max_nsec", SPIO_RPC_PARAM_UINT64, EP(max_nsec), true},
};
#undef EP

static void enable_done(void *cb_arg, int status)
{
	struct spio_jsonrpc_request *req = cb_arg;

	if (status != 0) {
		spio_jsonrpc_send_error_response(req, status, strerror(-status));
		return;
	}
	spio_jsonrpc_send_bool_response(req, true);
}

static void rpc_bdev_enable_histogram(struct spio_jsonrpc_request *req,
				      const struct spio_json_val *params)
{
	struct enable_params p = {.granularity = SPIO_BDEV_HISTOGRAM_GRANULARITY_DEFAULT,
				  .min_nsec = RPC_HIST_MIN_NSEC,
				  .max_nsec = RPC_HIST_MAX_NSEC};
	struct spio_bdev_histogram_opts opts;
	struct spio_bdev_desc *desc = NULL;
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_enable_decoders, SPIO_COUNTOF(g_enable_decoders), &p,
				   err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	spio_bdev_histogram_opts_init(&opts, sizeof(opts));
	if (p.opc != NULL && io_type_from_name(p.opc, &opts.io_type) != 0) {
		/* SPDK's answer; spio has no nvme_io, zcopy, ... to count */
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "Invalid Io type: %s", p.opc);
		goto out;
	}
	if (p.enable &&
	    (p.granularity < 1 || p.granularity > SPIO_BDEV_HISTOGRAM_GRANULARITY_MAX)) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "granularity %u: expected 1 .. %u (2^granularity buckets per power of two)",
		    p.granularity, SPIO_BDEV_HISTOGRAM_GRANULARITY_MAX);
		goto out;
	}
	if (p.enable && p.min_nsec >= p.max_nsec) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "min_nsec %" PRIu64 " not below max_nsec %" PRIu64, p.min_nsec, p.max_nsec);
		goto out;
	}
	if (hist_open(req, p.name, &desc) != 0) {
		goto out;
	}
	opts.granularity = p.granularity;
	opts.min_nsec = p.min_nsec;
	opts.max_nsec = p.max_nsec;
	rc = spio_bdev_histogram_enable(spio_bdev_desc_get_bdev(desc), p.enable, &opts, enable_done,
					req);
	if (rc != 0) {
		enable_done(req, rc);
	}
	spio_bdev_close(desc);
out:
	spio_rpc_params_free(g_enable_decoders, SPIO_COUNTOF(g_enable_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_enable_histogram", rpc_bdev_enable_histogram, SPIO_RPC_RUNTIME)

/* Standard base64 (RFC 4648, padded) of `len` bytes into `out` (4/3 len + 1). */
static void base64_encode(char *out, const uint8_t *in, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*out++ = tab[v >> 18];
		*out++ = tab[v >> 12 & 63];
		*out++ = tab[v >> 6 & 63];
		*out++ = tab[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

		*out++ = tab[v >> 18];
		*out++ = tab[v >> 12 & 63];
		*out++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

struct get_ctx {
	struct spio_jsonrpc_request *req;
	uint64_t *borders; /* ticks; NULL for bdev_get_histogram */
	size_t nborders;
};

static void get_answer_error(struct spio_jsonrpc_request *req, int status)
{
	spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR, strerror(-status));
}

static void write_histogram(struct spio_jsonrpc_request *req,
			    const struct spio_bdev_histogram_data *h)
{
	size_t n = (size_t)h->num_buckets * sizeof(uint64_t);
	struct spio_json_write_ctx *w;
	uint64_t *le = malloc(n);
	char *text = malloc((n + 2) / 3 * 4 + 1);

	if (le == NULL || text == NULL) {
		free(le);
		free(text);
		get_answer_error(req, -ENOMEM);
		return;
	}
	for (uint64_t i = 0; i < h->num_buckets; i++) {
		le[i] = htole64(h->bucket[i]); /* SPDK's readers decode little-endian */
	}
	base64_encode(text, (const uint8_t *)le, n);
	w = spio_jsonrpc_begin_result(req);
	if (w != NULL) {
		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "histogram", text);
		spio_json_write_named_int64(w, "granularity", h->granularity);
		spio_json_write_named_uint32(w, "min_range", h->min_range);
		spio_json_write_named_uint32(w, "max_range", h->max_range);
		spio_json_write_named_int64(w, "tsc_rate", (int64_t)spio_get_ticks_hz());
		spio_json_write_object_end(w);
		spio_jsonrpc_end_result(req, w);
	}
	free(le);
	free(text);
}

/*
 * SPDK's borders count: walking the buckets in order with the running total,
 * each bucket's total goes to the first border not below the bucket's
 * start; the extra last entry is for buckets starting beyond every border.
 */
static void write_borders(struct get_ctx *ctx, const struct spio_bdev_histogram_data *h)
{
	uint64_t *count = calloc(ctx->nborders + 1, sizeof(uint64_t));
	uint64_t so_far = 0, start = 0, first, last;
	struct spio_json_write_ctx *w;
	size_t k = 0;

	if (count == NULL) {
		get_answer_error(ctx->req, -ENOMEM);
		return;
	}
	for (uint64_t i = 0; i < h->num_buckets; i++) {
		so_far += h->bucket[i];
		while (k < ctx->nborders && start > ctx->borders[k]) {
			count[k + 1] = count[k];
			k++;
		}
		count[k] = so_far;
		spio_bdev_histogram_bucket_bounds(h, i, &first, &last);
		start = last + 1; /* SPDK passes each bucket's end as the next one's start */
	}
	w = spio_jsonrpc_begin_result(ctx->req);
	if (w != NULL) {
		spio_json_write_object_begin(w);
		spio_json_write_named_array_begin(w, "borders_count");
		for (size_t i = 0; i <= ctx->nborders; i++) {
			spio_json_write_uint64(w, count[i]);
		}
		spio_json_write_array_end(w);
		spio_json_write_object_end(w);
		spio_jsonrpc_end_result(ctx->req, w);
	}
	free(count);
}

static void get_done(void *cb_arg, int status, const struct spio_bdev_histogram_data *h)
{
	struct get_ctx *ctx = cb_arg;

	if (status != 0) {
		get_answer_error(ctx->req, status);
	} else if (ctx->borders != NULL) {
		write_borders(ctx, h);
	} else {
		write_histogram(ctx->req, h);
	}
	free(ctx->borders);
	free(ctx);
}

/* Start the merge for `name`; owns ctx. */
static void get_start(struct spio_jsonrpc_request *req, const char *name, struct get_ctx *ctx)
{
	struct spio_bdev_desc *desc;
	int rc;

	if (hist_open(req, name, &desc) != 0) {
		free(ctx->borders);
		free(ctx);
		return;
	}
	rc = spio_bdev_histogram_get(spio_bdev_desc_get_bdev(desc), get_done, ctx);
	if (rc != 0) {
		get_done(ctx, rc, NULL);
	}
	spio_bdev_close(desc);
}

struct name_params {
	char *name;
};

static const struct spio_rpc_param g_get_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct name_params, name), false},
};

static void rpc_bdev_get_histogram(struct spio_jsonrpc_request *req,
				   const struct spio_json_val *params)
{
	struct name_params p = {0};
	struct get_ctx *ctx;
	char err[256];

	if (spio_rpc_decode_params(params, g_get_decoders, SPIO_COUNTOF(g_get_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		get_answer_error(req, -ENOMEM);
		goto out;
	}
	ctx->req = req;
	get_start(req, p.name, ctx);
out:
	spio_rpc_params_free(g_get_decoders, SPIO_COUNTOF(g_get_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_get_histogram", rpc_bdev_get_histogram, SPIO_RPC_RUNTIME)

struct borders_params {
	char *name;
	const struct spio_json_val *borders;
};

static const struct spio_rpc_param g_borders_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct borders_params, name), false},
    {"borders", SPIO_RPC_PARAM_ARRAY, offsetof(struct borders_params, borders), false},
};

static void rpc_bdev_get_histogram_borders(struct spio_jsonrpc_request *req,
					   const struct spio_json_val *params)
{
	struct borders_params p = {0};
	struct get_ctx *ctx = NULL;
	/* SPDK scales by whole ticks per us */
	uint64_t ticks_per_us = spio_get_ticks_hz() / 1000000;
	char err[256];
	int64_t prev = 0;
	size_t n;

	if (spio_rpc_decode_params(params, g_borders_decoders, SPIO_COUNTOF(g_borders_decoders), &p,
				   err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	n = spio_json_array_size(p.borders);
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL || (n > 0 && (ctx->borders = calloc(n, sizeof(uint64_t))) == NULL)) {
		get_answer_error(req, -ENOMEM);
		goto out;
	}
	/* an empty list gets the whole histogram, as from SPDK */
	for (size_t i = 0; i < n; i++) {
		int64_t v;

		if (spio_json_integer(spio_json_array_get(p.borders, i), &v) != 0 || v < 0 ||
		    (i > 0 && v < prev)) {
			spio_jsonrpc_send_error_response_fmt(
			    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
			    "borders[%zu]: expected microseconds (integers, ascending)", i);
			goto out;
		}
		prev = v;
		ctx->borders[i] = (uint64_t)v * ticks_per_us;
	}
	ctx->req = req;
	ctx->nborders = n;
	get_start(req, p.name, ctx);
	ctx = NULL;
out:
	if (ctx != NULL) {
		free(ctx->borders);
		free(ctx);
	}
	spio_rpc_params_free(g_borders_decoders, SPIO_COUNTOF(g_borders_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_get_histogram_borders", rpc_bdev_get_histogram_borders, SPIO_RPC_RUNTIME)
