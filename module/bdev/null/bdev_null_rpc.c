/* RPCs of the null module: bdev_null_create, bdev_null_delete. */
#include <errno.h>
#include <string.h>

#include "spio/bdev.h"
#include "spio/json.h"
#include "spio/rpc.h"

struct null_create_params {
	char *name;
	char *uuid;
	uint64_t num_blocks;
	uint32_t block_size;
};

static const struct spio_rpc_param g_null_create_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct null_create_params, name), true},
    {"uuid", SPIO_RPC_PARAM_STRING, offsetof(struct null_create_params, uuid), true},
    {"num_blocks", SPIO_RPC_PARAM_UINT64, offsetof(struct null_create_params, num_blocks), false},
    {"block_size", SPIO_RPC_PARAM_UINT32, offsetof(struct null_create_params, block_size), false},
};

static void rpc_bdev_null_create(struct spio_jsonrpc_request *req, const json_t *params)
{
	struct null_create_params p = {0};
	struct spio_json_write_ctx *w;
	struct spio_uuid uuid;
	struct spio_bdev *bdev;
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_null_create_decoders,
				   SPIO_COUNTOF(g_null_create_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	if (p.uuid != NULL && spio_uuid_parse(&uuid, p.uuid) != 0) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     "uuid: '%s' is not a UUID", p.uuid);
		goto out;
	}
	rc = spio_bdev_null_create(p.name, p.uuid != NULL ? &uuid : NULL, p.num_blocks,
				   p.block_size, &bdev);
	if (rc != 0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
		goto out;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w != NULL) {
		spio_json_write_string(w, spio_bdev_get_name(bdev));
		spio_jsonrpc_end_result(req, w);
	}
out:
	spio_rpc_params_free(g_null_create_decoders, SPIO_COUNTOF(g_null_create_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_null_create", rpc_bdev_null_create, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

struct null_delete_params {
	char *name;
};

static const struct spio_rpc_param g_null_delete_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct null_delete_params, name), false},
};

static void null_delete_done(void *cb_arg, int rc)
{
	struct spio_jsonrpc_request *req = cb_arg;

	if (rc != 0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
}

static void rpc_bdev_null_delete(struct spio_jsonrpc_request *req, const json_t *params)
{
	struct null_delete_params p = {0};
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_null_delete_decoders,
				   SPIO_COUNTOF(g_null_delete_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = spio_bdev_null_delete(p.name, null_delete_done, req)) != 0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	}
	spio_rpc_params_free(g_null_delete_decoders, SPIO_COUNTOF(g_null_delete_decoders), &p);
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
static void rpc_bdev_null_resize(struct spio_jsonrpc_request *req, const json_t *params)
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
