/*
 * bdev_set_options and bdev_examine, with SPDK's parameters. SPDK's iobuf
 * cache sizes have no meaning in spio (no shared iobuf pools): SPDK's
 * defaults are accepted, anything else is refused by name.
 */
#include <errno.h>
#include <string.h>

#include "bdev_internal.h"
#include "spio/rpc.h"

#define SPDK_IOBUF_SMALL_CACHE_DEFAULT 128
#define SPDK_IOBUF_LARGE_CACHE_DEFAULT 16

struct set_options_params {
	struct spio_bdev_opts opts;
	uint32_t iobuf_small_cache_size;
	uint32_t iobuf_large_cache_size;
};

#define SO(f) offsetof(struct set_options_params, f)
static const struct spio_rpc_param g_set_options_decoders[] = {
    {"bdev_io_pool_size", SPIO_RPC_PARAM_UINT32, SO(opts.bdev_io_pool_size), true},
    {"bdev_io_cache_size", SPIO_RPC_PARAM_UINT32, SO(opts.bdev_io_cache_size), true},
    {"bdev_auto_examine", SPIO_RPC_PARAM_BOOL, SO(opts.bdev_auto_examine), true},
    {"iobuf_small_cache_size", SPIO_RPC_PARAM_UINT32, SO(iobuf_small_cache_size), true},
    {"iobuf_large_cache_size", SPIO_RPC_PARAM_UINT32, SO(iobuf_large_cache_size), true},
};
#undef SO

static void rpc_bdev_set_options(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	struct set_options_params p = {
	    .iobuf_small_cache_size = SPDK_IOBUF_SMALL_CACHE_DEFAULT,
	    .iobuf_large_cache_size = SPDK_IOBUF_LARGE_CACHE_DEFAULT,
	};
	char err[256];
	int rc;

	spio_bdev_get_opts(&p.opts, sizeof(p.opts));
	if (spio_rpc_decode_params(params, g_set_options_decoders,
				   SPIO_COUNTOF(g_set_options_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		return;
	}
	if (p.iobuf_small_cache_size != SPDK_IOBUF_SMALL_CACHE_DEFAULT ||
	    p.iobuf_large_cache_size != SPDK_IOBUF_LARGE_CACHE_DEFAULT) {
		bool small = p.iobuf_small_cache_size != SPDK_IOBUF_SMALL_CACHE_DEFAULT;

		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "%s %u: spio has no iobuf buffer pools (only SPDK's default %u is accepted)",
		    small ? "iobuf_small_cache_size" : "iobuf_large_cache_size",
		    small ? p.iobuf_small_cache_size : p.iobuf_large_cache_size,
		    small ? SPDK_IOBUF_SMALL_CACHE_DEFAULT : SPDK_IOBUF_LARGE_CACHE_DEFAULT);
		return;
	}
	rc = spio_bdev_set_opts(&p.opts);
	if (rc == -EBUSY) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_STATE,
						 "bdev_set_options: the bdev layer has started");
		return;
	}
	if (rc != 0) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "bdev_io_pool_size %u too small for bdev_io_cache_size %u on %u threads "
		    "(at least cache x (threads + 1), cache at most %u)",
		    p.opts.bdev_io_pool_size, p.opts.bdev_io_cache_size, spio_thread_get_count(),
		    SPIO_MEMPOOL_CACHE_MAX_SIZE);
		return;
	}
	spio_jsonrpc_send_bool_response(req, true);
}
SPIO_RPC_REGISTER("bdev_set_options", rpc_bdev_set_options, SPIO_RPC_STARTUP)

struct examine_params {
	char *name;
};

static const struct spio_rpc_param g_examine_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct examine_params, name), false},
};

static void rpc_bdev_examine(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct examine_params p = {0};
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_examine_decoders, SPIO_COUNTOF(g_examine_decoders), &p,
				   err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = spio_bdev_examine(p.name)) != 0) {
		spio_jsonrpc_send_error_response_fmt(
		    req, rc, "bdev_examine %s: %s", p.name,
		    rc == -EINVAL ? "only while bdev_auto_examine is off (bdev_set_options)"
				  : strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
	spio_rpc_params_free(g_examine_decoders, SPIO_COUNTOF(g_examine_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_examine", rpc_bdev_examine, SPIO_RPC_RUNTIME)
