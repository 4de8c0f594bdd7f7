/* RPCs of the uring module: bdev_uring_create, bdev_uring_delete, bdev_uring_rescan. */
#include <errno.h>

#include "bdev_file/bdev_file.h"
#include "spio/bdev_uring.h"
#include "spio/rpc.h"
#include "spio/util.h"

#define OPT(field) offsetof(struct spio_bdev_uring_opts, field)

/* SPDK's {name, filename, block_size, uuid} (all rpc.py sends), then ours. */
static const struct spio_rpc_param g_uring_create_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, OPT(name), false},
    {"filename", SPIO_RPC_PARAM_STRING, OPT(filename), false},
    {"block_size", SPIO_RPC_PARAM_UINT32, OPT(block_size), true},
    {"uuid", SPIO_RPC_PARAM_UUID, OPT(uuid), true},
    {"direct", SPIO_RPC_PARAM_BOOL, OPT(direct), true},
    {"readonly", SPIO_RPC_PARAM_BOOL, OPT(readonly), true},
    {"queue_depth", SPIO_RPC_PARAM_UINT32, OPT(queue_depth), true},
    {"sqpoll", SPIO_RPC_PARAM_BOOL, OPT(sqpoll), true},
    {"registered_buffers", SPIO_RPC_PARAM_BOOL, OPT(registered_buffers), true},
    {"registered_files", SPIO_RPC_PARAM_BOOL, OPT(registered_files), true},
};

static int uring_create(const void *opts, struct spio_bdev **bdev, char *err, size_t err_len)
{
	return spio_bdev_uring_create(opts, bdev, err, err_len);
}

static void rpc_bdev_uring_create(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	struct spio_bdev_uring_opts opts;

	spio_bdev_uring_opts_init(&opts, sizeof(opts));
	spio_bdev_rpc_create(req, params, g_uring_create_decoders,
			     SPIO_COUNTOF(g_uring_create_decoders), &opts, uring_create);
}
SPIO_RPC_REGISTER("bdev_uring_create", rpc_bdev_uring_create, SPIO_RPC_RUNTIME)

static void rpc_bdev_uring_delete(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	spio_bdev_rpc_delete(req, params, spio_bdev_uring_delete);
}
SPIO_RPC_REGISTER("bdev_uring_delete", rpc_bdev_uring_delete, SPIO_RPC_RUNTIME)

static void rpc_bdev_uring_rescan(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	bdev_file_rpc_rescan(req, params, spio_bdev_uring_rescan);
}
SPIO_RPC_REGISTER("bdev_uring_rescan", rpc_bdev_uring_rescan, SPIO_RPC_RUNTIME)
