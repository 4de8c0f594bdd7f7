/* RPCs of the null module: bdev_null_create, bdev_null_delete. */
#include <errno.h>
#include <string.h>

#include "spio/bdev_module.h"
#include "spio/json.h"
#include "spio/rpc.h"

static void rpc_bdev_null_create(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	spio_bdev_rpc_simple_create(req, params, spio_bdev_null_create);
}
SPIO_RPC_REGISTER("bdev_null_create", rpc_bdev_null_create, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void rpc_bdev_null_delete(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	spio_bdev_rpc_delete(req, params, spio_bdev_null_delete);
}
SPIO_RPC_REGISTER("bdev_null_delete", rpc_bdev_null_delete, SPIO_RPC_RUNTIME)

struct null_resize_params {
	char *name;
	uint64_t new_size;
};

static const struct spio_rpc_param g_null_resize_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct null_resize_params, name), false},
    {"new_size", SPIO_RPC_PARAM_UINT64, offsetof(struct null_resize_params, new_size), false},
};

/* SPDK's bdev_null_resize: {"name", "new_size" (MiB)} -> true. */
static void rpc_bdev_null_resize(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	struct null_resize_params p = {0};
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_null_resize_decoders,
				   SPIO_COUNTOF(g_null_resize_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = spio_bdev_null_resize(p.name, p.new_size)) != 0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
	spio_rpc_params_free(g_null_resize_decoders, SPIO_COUNTOF(g_null_resize_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_null_resize", rpc_bdev_null_resize, SPIO_RPC_RUNTIME)
