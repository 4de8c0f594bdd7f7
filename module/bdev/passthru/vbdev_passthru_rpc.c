/* RPCs of the passthru module: bdev_passthru_create, bdev_passthru_delete. */
#include <errno.h>
#include <string.h>

#include "spio/bdev_module.h"
#include "spio/bdev_passthru.h"
#include "spio/json.h"
#include "spio/rpc.h"

struct pt_create_params {
	char *base_bdev_name;
	char *name;
	struct spio_uuid uuid;
};

#define P(field) offsetof(struct pt_create_params, field)

static const struct spio_rpc_param g_pt_create_decoders[] = {
    {"base_bdev_name", SPIO_RPC_PARAM_STRING, P(base_bdev_name), false},
    {"name", SPIO_RPC_PARAM_STRING, P(name), false},
    {"uuid", SPIO_RPC_PARAM_UUID, P(uuid), true},
};

/* Answers the name even when the base is not there yet, as SPDK does. */
static void rpc_bdev_passthru_create(struct spio_jsonrpc_request *req,
				     const struct spio_json_val *params)
{
	struct pt_create_params p = {0};
	struct spio_json_write_ctx *w;
	struct spio_bdev *bdev;
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_pt_create_decoders, SPIO_COUNTOF(g_pt_create_decoders),
				   &p, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = spio_bdev_passthru_create(p.base_bdev_name, p.name, &p.uuid, &bdev)) !=
		   0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	} else if ((w = spio_jsonrpc_begin_result(req)) != NULL) {
		spio_json_write_string(w, p.name);
		spio_jsonrpc_end_result(req, w);
	}
	spio_rpc_params_free(g_pt_create_decoders, SPIO_COUNTOF(g_pt_create_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_passthru_create", rpc_bdev_passthru_create, SPIO_RPC_RUNTIME)

static void rpc_bdev_passthru_delete(struct spio_jsonrpc_request *req,
				     const struct spio_json_val *params)
{
	spio_bdev_rpc_delete(req, params, spio_bdev_passthru_delete);
}
SPIO_RPC_REGISTER("bdev_passthru_delete", rpc_bdev_passthru_delete, SPIO_RPC_RUNTIME)
