/* RPCs of the aio module: bdev_aio_create, bdev_aio_delete, bdev_aio_rescan. */
#include <errno.h>

#include "bdev_file/bdev_file.h"
#include "spio/bdev_aio.h"
#include "spio/rpc.h"
#include "spio/util.h"

#define OPT(field) offsetof(struct spio_bdev_aio_opts, field)

/* SPDK's parameters (rpc.py always sends readonly, fallocate, nowait), then ours. */
static const struct spio_rpc_param g_aio_create_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, OPT(name), false},
    {"filename", SPIO_RPC_PARAM_STRING, OPT(filename), false},
    {"block_size", SPIO_RPC_PARAM_UINT32, OPT(block_size), true},
    {"uuid", SPIO_RPC_PARAM_UUID, OPT(uuid), true},
    {"readonly", SPIO_RPC_PARAM_BOOL, OPT(readonly), true},
    {"fallocate", SPIO_RPC_PARAM_BOOL, OPT(fallocate), true},
    {"nowait", SPIO_RPC_PARAM_BOOL, OPT(nowait), true},
    {"direct", SPIO_RPC_PARAM_BOOL, OPT(direct), true},
    {"queue_depth", SPIO_RPC_PARAM_UINT32, OPT(queue_depth), true},
};

static int aio_create(const void *opts, struct spio_bdev **bdev, char *err, size_t err_len)
{
	return spio_bdev_aio_create(opts, bdev, err, err_len);
}

static void rpc_bdev_aio_create(struct spio_jsonrpc_request *req,
				const struct spio_json_val *params)
{
	struct spio_bdev_aio_opts opts;

	spio_bdev_aio_opts_init(&opts, sizeof(opts));
	spio_bdev_rpc_create(req, params, g_aio_create_decoders,
			     SPIO_COUNTOF(g_aio_create_decoders), &opts, aio_create);
}
SPIO_RPC_REGISTER("bdev_aio_create", rpc_bdev_aio_create, SPIO_RPC_RUNTIME)

static void rpc_bdev_aio_delete(struct spio_jsonrpc_request *req,
				const struct spio_json_val *params)
{
	spio_bdev_rpc_delete(req, params, spio_bdev_aio_delete);
}
SPIO_RPC_REGISTER("bdev_aio_delete", rpc_bdev_aio_delete, SPIO_RPC_RUNTIME)

static void rpc_bdev_aio_rescan(struct spio_jsonrpc_request *req,
				const struct spio_json_val *params)
{
	bdev_file_rpc_rescan(req, params, spio_bdev_aio_rescan);
}
SPIO_RPC_REGISTER("bdev_aio_rescan", rpc_bdev_aio_rescan, SPIO_RPC_RUNTIME)
