/* RPCs of the null module: bdev_null_create, bdev_null_delete, bdev_null_resize. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "spio/bdev_module.h"
#include "spio/bdev_null.h"
#include "spio/rpc.h"

#define OPT(field) offsetof(struct spio_bdev_null_opts, field)

/* Every parameter SPDK's rpc.py sends (bdev_null_create -h). */
static const struct spio_rpc_param g_null_create_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, OPT(name), true},
    {"uuid", SPIO_RPC_PARAM_UUID, OPT(uuid), true},
    {"num_blocks", SPIO_RPC_PARAM_UINT64, OPT(num_blocks), false},
    {"block_size", SPIO_RPC_PARAM_UINT32, OPT(block_size), false},
    {"physical_block_size", SPIO_RPC_PARAM_UINT32, OPT(physical_block_size), true},
    {"md_size", SPIO_RPC_PARAM_UINT32, OPT(md_size), true},
    {"dif_type", SPIO_RPC_PARAM_UINT32, OPT(dif_type), true},
    {"dif_is_head_of_md", SPIO_RPC_PARAM_BOOL, OPT(dif_is_head_of_md), true},
    {"dif_pi_format", SPIO_RPC_PARAM_UINT32, OPT(dif_pi_format), true},
    {"preferred_write_alignment", SPIO_RPC_PARAM_UINT32, OPT(preferred_write_alignment), true},
    {"preferred_write_granularity", SPIO_RPC_PARAM_UINT32, OPT(preferred_write_granularity), true},
    {"optimal_write_size", SPIO_RPC_PARAM_UINT32, OPT(optimal_write_size), true},
    {"preferred_unmap_alignment", SPIO_RPC_PARAM_UINT32, OPT(preferred_unmap_alignment), true},
    {"preferred_unmap_granularity", SPIO_RPC_PARAM_UINT32, OPT(preferred_unmap_granularity), true},
};

static int null_create(const void *opts, struct spio_bdev **bdev, char *err, size_t err_len)
{
	return spio_bdev_null_create(opts, bdev, err, err_len);
}

static void rpc_bdev_null_create(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	struct spio_bdev_null_opts opts;

	spio_bdev_null_opts_init(&opts, sizeof(opts));
	spio_bdev_rpc_create(req, params, g_null_create_decoders,
			     SPIO_COUNTOF(g_null_create_decoders), &opts, null_create);
}
SPIO_RPC_REGISTER("bdev_null_create", rpc_bdev_null_create, SPIO_RPC_RUNTIME)

static void rpc_bdev_null_delete(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	spio_bdev_rpc_delete(req, params, spio_bdev_null_delete);
}
SPIO_RPC_REGISTER("bdev_null_delete", rpc_bdev_null_delete, SPIO_RPC_RUNTIME)

struct null_resize_req {
	char *name;
	uint64_t new_size;
};

static const struct spio_rpc_param g_null_resize_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct null_resize_req, name), false},
    {"new_size", SPIO_RPC_PARAM_UINT64, offsetof(struct null_resize_req, new_size), false},
};

/* SPDK's bdev_null_resize: {"name", "new_size" (MiB)} -> true. */
static void rpc_bdev_null_resize(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	struct null_resize_req r = {0};
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_null_resize_decoders,
				   SPIO_COUNTOF(g_null_resize_decoders), &r, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = spio_bdev_null_resize(r.name, r.new_size)) != 0) {
		spio_jsonrpc_send_error_response_fmt(req, rc,
						     "null bdev %s: resize to %" PRIu64 " MiB: %s",
						     r.name, r.new_size, strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
	spio_rpc_params_free(g_null_resize_decoders, SPIO_COUNTOF(g_null_resize_decoders), &r);
}
SPIO_RPC_REGISTER("bdev_null_resize", rpc_bdev_null_resize, SPIO_RPC_RUNTIME)
