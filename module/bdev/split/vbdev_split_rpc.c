/* RPCs of the split module: bdev_split_create, bdev_split_delete. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spio/json.h"
#include "spio/rpc.h"
#include "spio/util.h"
#include "vbdev_split.h"

struct split_params {
	char *base_bdev;
	uint32_t split_count;
	uint64_t split_size_mb;
};

#define P(field) offsetof(struct split_params, field)

static const struct spio_rpc_param g_split_create_decoders[] = {
    {"base_bdev", SPIO_RPC_PARAM_STRING, P(base_bdev), false},
    {"split_count", SPIO_RPC_PARAM_UINT32, P(split_count), false},
    {"split_size_mb", SPIO_RPC_PARAM_UINT64, P(split_size_mb), true},
};

/* Answers the parts' names; an empty array while the base is not there. */
static void rpc_bdev_split_create(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	struct split_params p = {0};
	struct spio_json_write_ctx *w;
	uint32_t n = 0;
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_split_create_decoders,
				   SPIO_COUNTOF(g_split_create_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = vbdev_split_create(p.base_bdev, p.split_count, p.split_size_mb, &n)) !=
		   0) {
		/* SPDK's code and message */
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     "Failed to create %" PRIu32
						     " split bdevs from '%s': %s",
						     p.split_count, p.base_bdev, strerror(-rc));
	} else if ((w = spio_jsonrpc_begin_result(req)) != NULL) {
		size_t len = strlen(p.base_bdev) + 16;
		char name[len];

		spio_json_write_array_begin(w);
		for (uint32_t i = 0; i < n; i++) {
			snprintf(name, len, "%sp%" PRIu32, p.base_bdev, i);
			spio_json_write_string(w, name);
		}
		spio_json_write_array_end(w);
		spio_jsonrpc_end_result(req, w);
	}
	spio_rpc_params_free(g_split_create_decoders, SPIO_COUNTOF(g_split_create_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_split_create", rpc_bdev_split_create, SPIO_RPC_RUNTIME)

static const struct spio_rpc_param g_split_delete_decoders[] = {
    {"base_bdev", SPIO_RPC_PARAM_STRING, P(base_bdev), false},
};

static void rpc_bdev_split_delete(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	struct split_params p = {0};
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_split_delete_decoders,
				   SPIO_COUNTOF(g_split_delete_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = vbdev_split_delete(p.base_bdev)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						 strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
	spio_rpc_params_free(g_split_delete_decoders, SPIO_COUNTOF(g_split_delete_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_split_delete", rpc_bdev_split_delete, SPIO_RPC_RUNTIME)
