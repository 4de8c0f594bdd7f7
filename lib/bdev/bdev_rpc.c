/* Generic bdev RPCs with SPDK's names, parameters and result shapes:
 * bdev_get_bdevs, bdev_get_iostat, bdev_reset_iostat, bdev_wait_for_examine;
 * and the answers of the modules' create and delete methods. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spio/json.h"
#include "spio/rpc.h"

struct name_param {
	char *name;
};

static void write_alias(const char *alias, void *ctx)
{
	spio_json_write_string(ctx, alias);
}

/* SPDK's I/O type names, in SPDK's order: bdev_get_bdevs lists every one of
 * them under supported_io_types, false for those spio has no I/O type for. */
static const char *const g_spdk_io_types[] = {
    "read",
    "write",
    "unmap",
    "flush",
    "reset",
    "nvme_admin",
    "nvme_io",
    "nvme_io_md",
    "write_zeroes",
    "zcopy",
    "get_zone_info",
    "zone_management",
    "zone_append",
    "compare",
    "compare_and_write",
    "abort",
    "seek_hole",
    "seek_data",
    "copy",
    "nvme_iov_md",
    "nvme_nssr",
    "write_uncorrectable",
};

static const char *const g_io_type_names[SPIO_BDEV_NUM_IO_TYPES] = {
    [SPIO_BDEV_IO_TYPE_READ] = "read",
    [SPIO_BDEV_IO_TYPE_WRITE] = "write",
    [SPIO_BDEV_IO_TYPE_UNMAP] = "unmap",
    [SPIO_BDEV_IO_TYPE_FLUSH] = "flush",
    [SPIO_BDEV_IO_TYPE_RESET] = "reset",
    [SPIO_BDEV_IO_TYPE_WRITE_ZEROES] = "write_zeroes",
    [SPIO_BDEV_IO_TYPE_COMPARE] = "compare",
    [SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE] = "compare_and_write",
};

static bool io_type_supported_by_name(struct spio_bdev *bdev, const char *name)
{
	for (int t = SPIO_BDEV_IO_TYPE_READ; t < SPIO_BDEV_NUM_IO_TYPES; t++) {
		if (strcmp(g_io_type_names[t], name) == 0) {
			return spio_bdev_io_type_supported(bdev, t);
		}
	}
	return false;
}

/* One bdev as SPDK's bdev_get_bdevs writes it (same keys, order and types);
 * spio's additions (write_unit_size, ...) come after SPDK's keys. */
static void write_bdev_info(struct spio_json_write_ctx *w, struct spio_bdev *bdev)
{
	uint64_t qos_limits[SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES];

	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "name", spio_bdev_get_name(bdev));
	spio_json_write_named_array_begin(w, "aliases");
	spio_bdev_foreach_alias(bdev, write_alias, w);
	spio_json_write_array_end(w);
	spio_json_write_named_string(w, "product_name", spio_bdev_get_product_name(bdev));
	spio_json_write_named_uint32(w, "block_size", spio_bdev_get_block_size(bdev));
	spio_json_write_named_uint64(w, "num_blocks", spio_bdev_get_num_blocks(bdev));
	spio_json_write_named_uint32(w, "preferred_write_alignment",
				     bdev->preferred_write_alignment);
	spio_json_write_named_uint32(w, "preferred_write_granularity",
				     bdev->preferred_write_granularity);
	spio_json_write_named_uint32(w, "optimal_write_size", bdev->optimal_write_size);
	spio_json_write_named_uint32(w, "preferred_unmap_alignment",
				     bdev->preferred_unmap_alignment);
	spio_json_write_named_uint32(w, "preferred_unmap_granularity",
				     bdev->preferred_unmap_granularity);
	spio_json_write_named_uuid(w, "uuid", spio_bdev_get_uuid(bdev));
	if (bdev->numa.id_valid) {
		spio_json_write_named_int32(w, "numa_id", bdev->numa.id);
	}
	/* SPDK's: every kind, 0 when not limited (IOPS, then MiB per second) */
	spio_bdev_get_qos_rate_limits(bdev, qos_limits);
	spio_json_write_named_object_begin(w, "assigned_rate_limits");
	for (int i = 0; i < SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		spio_json_write_named_uint64(w, spio_bdev_get_qos_rpc_type(i), qos_limits[i]);
	}
	spio_json_write_object_end(w);
	bdev_histogram_write_info_json(bdev, w);
	spio_json_write_named_bool(w, "claimed", spio_bdev_is_claimed(bdev));
	if (spio_bdev_is_claimed(bdev)) {
		/* spio's claims are SPDK's v1 claims: one module, exclusive writes */
		spio_json_write_named_string(w, "claim_type", "exclusive_write");
	}
	spio_json_write_named_bool(w, "zoned", false);
	spio_json_write_named_object_begin(w, "supported_io_types");
	for (size_t i = 0; i < SPIO_COUNTOF(g_spdk_io_types); i++) {
		spio_json_write_named_bool(w, g_spdk_io_types[i],
					   io_type_supported_by_name(bdev, g_spdk_io_types[i]));
	}
	spio_json_write_object_end(w);
	spio_json_write_named_object_begin(w, "driver_specific");
	if (bdev->fn_table->dump_info_json != NULL) {
		bdev->fn_table->dump_info_json(bdev->ctxt, w);
	}
	spio_json_write_object_end(w);
	/* spio's additions */
	spio_json_write_named_uint32(w, "physical_block_size",
				     spio_bdev_get_physical_block_size(bdev));
	spio_json_write_named_uint32(w, "write_unit_size", spio_bdev_get_write_unit_size(bdev));
	spio_json_write_named_uint64(w, "required_alignment", spio_bdev_get_buf_align(bdev));
	spio_json_write_named_uint32(w, "optimal_io_boundary", bdev->optimal_io_boundary);
	spio_json_write_object_end(w);
}

struct get_bdevs_params {
	char *name;
	uint32_t timeout; /* ms to wait for `name` to appear */
};

static const struct spio_rpc_param g_get_bdevs_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct get_bdevs_params, name), true},
    {"timeout", SPIO_RPC_PARAM_UINT32, offsetof(struct get_bdevs_params, timeout), true},
};

/* A bdev_get_bdevs for a name that is not there yet, with a timeout. */
struct get_bdevs_wait {
	struct spio_jsonrpc_request *req;
	struct get_bdevs_params p;
	uint64_t deadline; /* ticks */
	struct spio_poller *poller;
};

/* `missing`: the error for a name not (or no longer, after a wait) there. */
static void get_bdevs_answer(struct spio_jsonrpc_request *req, const char *name, int missing)
{
	struct spio_json_write_ctx *w;
	struct spio_bdev *bdev;

	if (name != NULL && spio_bdev_get_by_name(name) == NULL) {
		spio_jsonrpc_send_error_response_fmt(req, missing, "%s: %s", name,
						     strerror(-missing));
		return;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		return;
	}
	spio_json_write_array_begin(w);
	if (name != NULL) {
		write_bdev_info(w, spio_bdev_get_by_name(name));
	} else {
		for (bdev = spio_bdev_first(); bdev != NULL; bdev = spio_bdev_next(bdev)) {
			write_bdev_info(w, bdev);
		}
	}
	spio_json_write_array_end(w);
	spio_jsonrpc_end_result(req, w);
}

static int get_bdevs_wait_poll(void *arg)
{
	struct get_bdevs_wait *wt = arg;

	if (spio_bdev_get_by_name(wt->p.name) == NULL && spio_get_ticks() < wt->deadline) {
		return SPIO_POLLER_IDLE;
	}
	spio_poller_unregister(&wt->poller);
	get_bdevs_answer(wt->req, wt->p.name, -ETIMEDOUT); /* SPDK's answer after a wait */
	spio_rpc_params_free(g_get_bdevs_decoders, SPIO_COUNTOF(g_get_bdevs_decoders), &wt->p);
	free(wt);
	return SPIO_POLLER_BUSY;
}

static void rpc_bdev_get_bdevs(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct get_bdevs_params p = {0};
	struct get_bdevs_wait *wt;
	char err[256];

	if (spio_rpc_decode_params(params, g_get_bdevs_decoders, SPIO_COUNTOF(g_get_bdevs_decoders),
				   &p, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	if (p.name == NULL || p.timeout == 0 || spio_bdev_get_by_name(p.name) != NULL) {
		get_bdevs_answer(req, p.name, -ENODEV);
		goto out;
	}
	/* SPDK's timeout: wait up to `timeout` ms for the bdev to be registered */
	wt = calloc(1, sizeof(*wt));
	if (wt == NULL) {
		spio_jsonrpc_send_error_response(req, -ENOMEM, strerror(ENOMEM));
		goto out;
	}
	wt->req = req;
	wt->p = p;
	wt->deadline = spio_get_ticks() + (uint64_t)p.timeout * spio_get_ticks_hz() / 1000;
	wt->poller = spio_poller_register(get_bdevs_wait_poll, wt, 1000);
	if (wt->poller == NULL) {
		free(wt);
		spio_jsonrpc_send_error_response(req, -ENOMEM, strerror(ENOMEM));
		goto out;
	}
	return; /* the parameters now belong to wt */
out:
	spio_rpc_params_free(g_get_bdevs_decoders, SPIO_COUNTOF(g_get_bdevs_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_get_bdevs", rpc_bdev_get_bdevs, SPIO_RPC_RUNTIME)

/* SPDK's reset modes by their RPC names. */
static int reset_mode_from_name(const char *name, enum spio_bdev_reset_stat_mode *mode)
{
	static const struct {
		const char *name;
		enum spio_bdev_reset_stat_mode mode;
	} modes[] = {
	    {"all", SPIO_BDEV_RESET_STAT_ALL},
	    {"maxmin", SPIO_BDEV_RESET_STAT_MAXMIN},
	    {"error", SPIO_BDEV_RESET_STAT_ERROR},
	    {"none", SPIO_BDEV_RESET_STAT_NONE},
	};

	for (size_t i = 0; i < SPIO_COUNTOF(modes); i++) {
		if (strcmp(modes[i].name, name) == 0) {
			*mode = modes[i].mode;
			return 0;
		}
	}
	return -EINVAL;
}

/* The members SPDK writes for one set of statistics, then spio's additions. */
static void iostat_write_stat(struct spio_json_write_ctx *w, const struct spio_bdev_io_stat *s)
{
	spio_json_write_named_uint64(w, "bytes_read", s->bytes_read);
	spio_json_write_named_uint64(w, "num_read_ops", s->num_read_ops);
	spio_json_write_named_uint64(w, "bytes_written", s->bytes_written);
	spio_json_write_named_uint64(w, "num_write_ops", s->num_write_ops);
	spio_json_write_named_uint64(w, "bytes_unmapped", s->bytes_unmapped);
	spio_json_write_named_uint64(w, "num_unmap_ops", s->num_unmap_ops);
	/* spio has no copy I/O type: SPDK's copy members are always 0 */
	spio_json_write_named_uint64(w, "bytes_copied", 0);
	spio_json_write_named_uint64(w, "num_copy_ops", 0);
	spio_json_write_named_uint64(w, "read_latency_ticks", s->read_latency_ticks);
	spio_json_write_named_uint64(w, "max_read_latency_ticks", s->max_read_latency_ticks);
	spio_json_write_named_uint64(w, "min_read_latency_ticks", s->min_read_latency_ticks);
	spio_json_write_named_uint64(w, "write_latency_ticks", s->write_latency_ticks);
	spio_json_write_named_uint64(w, "max_write_latency_ticks", s->max_write_latency_ticks);
	spio_json_write_named_uint64(w, "min_write_latency_ticks", s->min_write_latency_ticks);
	spio_json_write_named_uint64(w, "unmap_latency_ticks", s->unmap_latency_ticks);
	spio_json_write_named_uint64(w, "max_unmap_latency_ticks", s->max_unmap_latency_ticks);
	spio_json_write_named_uint64(w, "min_unmap_latency_ticks", s->min_unmap_latency_ticks);
	spio_json_write_named_uint64(w, "copy_latency_ticks", 0);
	spio_json_write_named_uint64(w, "max_copy_latency_ticks", 0);
	spio_json_write_named_uint64(w, "min_copy_latency_ticks", 0);
	/* SPDK: failed I/O by completion status, non-zero counts only */
	spio_json_write_named_object_begin(w, "io_error");
	if (s->num_io_errors > s->num_miscompare_errors) {
		spio_json_write_named_uint64(w, "failed",
					     s->num_io_errors - s->num_miscompare_errors);
	}
	if (s->num_miscompare_errors != 0) {
		spio_json_write_named_uint64(w, "miscompare", s->num_miscompare_errors);
	}
	spio_json_write_object_end(w);
	/* spio's additions */
	spio_json_write_named_uint64(w, "num_other_ops", s->num_other_ops);
	spio_json_write_named_uint64(w, "num_io_errors", s->num_io_errors);
	spio_json_write_named_object_begin(w, "io_error_by_type");
	for (int t = SPIO_BDEV_IO_TYPE_READ; t < SPIO_BDEV_NUM_IO_TYPES; t++) {
		spio_json_write_named_uint64(w, g_io_type_names[t], s->io_errors_by_type[t]);
	}
	spio_json_write_object_end(w);
}

/* bdev_get_iostat visits the bdevs one after another, by name, so a bdev
 * removed meanwhile is skipped instead of touched. */
struct iostat_ctx {
	struct spio_jsonrpc_request *req;
	struct spio_json_write_ctx *w;
	char **names;
	size_t count;
	size_t next;
	enum spio_bdev_reset_stat_mode mode;
	struct spio_bdev_io_stat stat;
};

static void iostat_next(struct iostat_ctx *ctx);

static void iostat_free(struct iostat_ctx *ctx)
{
	for (size_t i = 0; i < ctx->count; i++) {
		free(ctx->names[i]);
	}
	free(ctx->names);
	free(ctx);
}

static void iostat_done(struct spio_bdev *bdev, struct spio_bdev_io_stat *stat, void *cb_arg,
			int rc)
{
	struct iostat_ctx *ctx = cb_arg;

	if (rc == 0) {
		spio_json_write_object_begin(ctx->w);
		spio_json_write_named_string(ctx->w, "name", spio_bdev_get_name(bdev));
		iostat_write_stat(ctx->w, stat);
		spio_json_write_object_end(ctx->w);
	}
	iostat_next(ctx);
}

static void iostat_next(struct iostat_ctx *ctx)
{
	struct spio_bdev *bdev;

	while (ctx->next < ctx->count) {
		bdev = spio_bdev_get_by_name(ctx->names[ctx->next++]);
		if (bdev != NULL &&
		    spio_bdev_get_device_stat(bdev, &ctx->stat, ctx->mode, iostat_done, ctx) == 0) {
			return;
		}
	}
	spio_json_write_array_end(ctx->w);
	spio_json_write_object_end(ctx->w);
	spio_jsonrpc_end_result(ctx->req, ctx->w);
	iostat_free(ctx);
}

/* per_channel: one bdev, one entry per open channel with its thread's id. */
static void iostat_channel(struct spio_bdev *bdev, uint64_t thread_id,
			   const struct spio_bdev_io_stat *stat, void *cb_arg)
{
	struct iostat_ctx *ctx = cb_arg;

	(void)bdev;
	spio_json_write_object_begin(ctx->w);
	spio_json_write_named_uint64(ctx->w, "thread_id", thread_id);
	iostat_write_stat(ctx->w, stat);
	spio_json_write_object_end(ctx->w);
}

static void iostat_channels_done(struct spio_bdev *bdev, void *cb_arg, int rc)
{
	struct iostat_ctx *ctx = cb_arg;

	(void)bdev;
	(void)rc; /* the channels visited are written; there is no error path after that */
	ctx->next = ctx->count;
	iostat_next(ctx);
}

struct iostat_params {
	char *name; /* older SPDK's single name */
	const struct spio_json_val *names;
	bool per_channel;
	char *reset_mode;
};

static const struct spio_rpc_param g_iostat_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct iostat_params, name), true},
    {"names", SPIO_RPC_PARAM_ARRAY, offsetof(struct iostat_params, names), true},
    {"per_channel", SPIO_RPC_PARAM_BOOL, offsetof(struct iostat_params, per_channel), true},
    {"reset_mode", SPIO_RPC_PARAM_STRING, offsetof(struct iostat_params, reset_mode), true},
};

/* Append the bdev called (or aliased) `name` to ctx->names; answers req itself on error. */
static int iostat_add_name(struct spio_jsonrpc_request *req, struct iostat_ctx *ctx,
			   const char *name)
{
	struct spio_bdev *bdev = spio_bdev_get_by_name(name);

	if (bdev == NULL) {
		/* SPDK's answer: -19, for the whole request */
		spio_jsonrpc_send_error_response_fmt(req, -ENODEV, "%s: %s", name,
						     strerror(ENODEV));
		return -ENODEV;
	}
	ctx->names[ctx->count] = strdup(bdev->name);
	if (ctx->names[ctx->count] == NULL) {
		spio_jsonrpc_send_error_response(req, -ENOMEM, strerror(ENOMEM));
		return -ENOMEM;
	}
	ctx->count++;
	return 0;
}

/* The bdev names asked for (all bdevs if none), copied; answers req itself on error. */
static int iostat_collect_names(struct spio_jsonrpc_request *req, const struct iostat_params *ip,
				struct iostat_ctx *ctx)
{
	struct spio_bdev *bdev;
	size_t n = 0;
	int rc = 0;

	if (ip->names != NULL) {
		n = spio_json_array_size(ip->names);
	} else if (ip->name != NULL) {
		n = 1;
	} else {
		for (bdev = spio_bdev_first(); bdev != NULL; bdev = spio_bdev_next(bdev)) {
			n++;
		}
	}
	ctx->names = calloc(n + 1, sizeof(char *));
	if (ctx->names == NULL) {
		spio_jsonrpc_send_error_response(req, -ENOMEM, strerror(ENOMEM));
		return -ENOMEM;
	}
	if (ip->name != NULL) {
		return iostat_add_name(req, ctx, ip->name);
	}
	if (ip->names == NULL) {
		for (bdev = spio_bdev_first(); bdev != NULL && ctx->count < n && rc == 0;
		     bdev = spio_bdev_next(bdev)) {
			rc = iostat_add_name(req, ctx, bdev->name);
		}
		return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *name = spio_json_string(spio_json_array_get(ip->names, i));

		if (name == NULL) {
			spio_jsonrpc_send_error_response_fmt(
			    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
			    "names[%zu]: expected a bdev name (string)", i);
			return -EINVAL;
		}
		rc = iostat_add_name(req, ctx, name);
	}
	return rc;
}

static void rpc_bdev_get_iostat(struct spio_jsonrpc_request *req,
				const struct spio_json_val *params)
{
	struct iostat_params ip = {0};
	struct iostat_ctx *ctx = NULL;
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_iostat_decoders, SPIO_COUNTOF(g_iostat_decoders), &ip,
				   err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		spio_jsonrpc_send_error_response(req, -ENOMEM, strerror(ENOMEM));
		goto out;
	}
	if (ip.reset_mode != NULL && reset_mode_from_name(ip.reset_mode, &ctx->mode) != 0) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "reset_mode '%s': expected all, maxmin, error or none", ip.reset_mode);
		goto out;
	}
	if (ip.names != NULL && ip.name != NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						 "name and names: give one of them");
		goto out;
	}
	if (ip.names != NULL && !spio_json_is_array(ip.names)) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						 "names: expected an array of bdev names");
		goto out;
	}
	if (iostat_collect_names(req, &ip, ctx) != 0) {
		goto out;
	}
	if (ip.per_channel && ctx->count != 1) {
		/* SPDK's answer: per-channel statistics are for exactly one bdev */
		spio_jsonrpc_send_error_response(
		    req, -EINVAL, "per_channel: name exactly one bdev (names with one element)");
		goto out;
	}
	ctx->req = req;
	ctx->w = spio_jsonrpc_begin_result(req);
	if (ctx->w == NULL) {
		goto out;
	}
	spio_json_write_object_begin(ctx->w);
	spio_json_write_named_uint64(ctx->w, "tick_rate", spio_get_ticks_hz());
	spio_json_write_named_uint64(ctx->w, "ticks", spio_get_ticks());
	if (ip.per_channel) {
		spio_json_write_named_string(ctx->w, "name", ctx->names[0]);
		spio_json_write_named_array_begin(ctx->w, "channels");
		rc = spio_bdev_get_channel_stats(spio_bdev_get_by_name(ctx->names[0]), ctx->mode,
						 iostat_channel, iostat_channels_done, ctx);
		if (rc != 0) {
			ctx->next = ctx->count; /* written as an empty list */
			iostat_next(ctx);
		}
	} else {
		spio_json_write_named_array_begin(ctx->w, "bdevs");
		iostat_next(ctx);
	}
	ctx = NULL; /* owned by the iteration */
out:
	if (ctx != NULL) {
		iostat_free(ctx);
	}
	spio_rpc_params_free(g_iostat_decoders, SPIO_COUNTOF(g_iostat_decoders), &ip);
}
SPIO_RPC_REGISTER("bdev_get_iostat", rpc_bdev_get_iostat, SPIO_RPC_RUNTIME)

/* bdev_reset_iostat: resets one bdev or all of them, one after another. */
struct reset_ctx {
	struct spio_jsonrpc_request *req;
	struct spio_bdev *only;
	struct spio_bdev *cur;
	enum spio_bdev_reset_stat_mode mode;
};

static void reset_next(struct reset_ctx *ctx);

static void reset_done(struct spio_bdev *bdev, void *cb_arg, int rc)
{
	struct reset_ctx *ctx = cb_arg;

	(void)bdev;
	(void)rc;
	reset_next(ctx);
}

static void reset_next(struct reset_ctx *ctx)
{
	while (ctx->cur != NULL) {
		struct spio_bdev *bdev = ctx->cur;

		ctx->cur = ctx->only != NULL ? NULL : spio_bdev_next(bdev);
		if (spio_bdev_reset_device_stat(bdev, ctx->mode, reset_done, ctx) == 0) {
			return;
		}
	}
	spio_jsonrpc_send_bool_response(ctx->req, true);
	free(ctx);
}

struct reset_params {
	char *name;
	char *mode;
};

static const struct spio_rpc_param g_reset_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct reset_params, name), true},
    {"mode", SPIO_RPC_PARAM_STRING, offsetof(struct reset_params, mode), true},
};

static void rpc_bdev_reset_iostat(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	struct reset_params p = {0};
	struct reset_ctx *ctx = NULL;
	enum spio_bdev_reset_stat_mode mode = SPIO_BDEV_RESET_STAT_ALL;
	char err[256];

	if (spio_rpc_decode_params(params, g_reset_decoders, SPIO_COUNTOF(g_reset_decoders), &p,
				   err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	if (p.mode != NULL && reset_mode_from_name(p.mode, &mode) != 0) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "mode '%s': expected all, maxmin, error or none", p.mode);
		goto out;
	}
	if (p.name != NULL && spio_bdev_get_by_name(p.name) == NULL) {
		spio_jsonrpc_send_error_response_fmt(req, -ENODEV, "%s: %s", p.name,
						     strerror(ENODEV));
		goto out;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		spio_jsonrpc_send_error_response(req, -ENOMEM, strerror(ENOMEM));
		goto out;
	}
	ctx->req = req;
	ctx->mode = mode;
	ctx->only = p.name != NULL ? spio_bdev_get_by_name(p.name) : NULL;
	ctx->cur = ctx->only != NULL ? ctx->only : spio_bdev_first();
	reset_next(ctx);
out:
	spio_rpc_params_free(g_reset_decoders, SPIO_COUNTOF(g_reset_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_reset_iostat", rpc_bdev_reset_iostat, SPIO_RPC_RUNTIME)

static void examine_finished(void *arg)
{
	spio_jsonrpc_send_bool_response(arg, true);
}

/* Answers true once no module is examining a bdev any more. */
static void rpc_bdev_wait_for_examine(struct spio_jsonrpc_request *req,
				      const struct spio_json_val *params)
{
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, NULL, 0, err, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		return;
	}
	rc = spio_bdev_wait_for_examine(examine_finished, req);
	if (rc != 0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	}
}
SPIO_RPC_REGISTER("bdev_wait_for_examine", rpc_bdev_wait_for_examine, SPIO_RPC_RUNTIME)

/*
 * Answers every module's create and delete methods share.
 */

void spio_bdev_rpc_send_create_result(struct spio_jsonrpc_request *req, int rc,
				      const struct spio_bdev *bdev, const char *msg)
{
	struct spio_json_write_ctx *w;

	if (rc != 0) {
		spio_jsonrpc_send_error_response(
		    req, rc, msg != NULL && msg[0] != '\0' ? msg : strerror(-rc));
		return;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w != NULL) {
		spio_json_write_string(w, spio_bdev_get_name(bdev));
		spio_jsonrpc_end_result(req, w);
	}
}

void spio_bdev_rpc_create(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			  const struct spio_rpc_param *decoders, size_t n, void *opts,
			  spio_bdev_opts_create_fn create)
{
	struct spio_bdev *bdev = NULL;
	char err[256] = "";
	int rc;

	if (spio_rpc_decode_params(params, decoders, n, opts, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else {
		rc = create(opts, &bdev, err, sizeof(err));
		spio_bdev_rpc_send_create_result(req, rc, bdev, err);
	}
	spio_rpc_params_free(decoders, n, opts);
}

static const struct spio_rpc_param g_delete_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct name_param, name), false},
};

static void delete_done(void *cb_arg, int rc)
{
	struct spio_jsonrpc_request *req = cb_arg;

	if (rc != 0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
}

void spio_bdev_rpc_delete(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			  spio_bdev_delete_fn del)
{
	struct name_param p = {0};
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_delete_decoders, SPIO_COUNTOF(g_delete_decoders), &p,
				   err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = del(p.name, delete_done, req)) != 0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	}
	spio_rpc_params_free(g_delete_decoders, SPIO_COUNTOF(g_delete_decoders), &p);
}
