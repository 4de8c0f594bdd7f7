/* RPCs of the malloc module: bdev_malloc_create, bdev_malloc_delete. */
#include <errno.h>

#include "spio/bdev_malloc.h"
#include "spio/bdev_module.h"
#include "spio/rpc.h"

#define OPT(field) offsetof(struct spio_bdev_malloc_opts, field)

/* Every parameter SPDK's rpc.py sends (bdev_malloc_create -h). */
static const struct spio_rpc_param g_malloc_create_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, OPT(name), true},
    {"uuid", SPIO_RPC_PARAM_UUID, OPT(uuid), true},
    {"num_blocks", SPIO_RPC_PARAM_UINT64, OPT(num_blocks), false},
    {"block_size", SPIO_RPC_PARAM_UINT32, OPT(block_size), false},
    {"physical_block_size", SPIO_RPC_PARAM_UINT32, OPT(physical_block_size), true},
    {"optimal_io_boundary", SPIO_RPC_PARAM_UINT32, OPT(optimal_io_boundary), true},
    {"md_size", SPIO_RPC_PARAM_UINT32, OPT(md_size), true},
    {"md_interleave", SPIO_RPC_PARAM_BOOL, OPT(md_interleave), true},
    {"dif_type", SPIO_RPC_PARAM_UINT32, OPT(dif_type), true},
    {"dif_is_head_of_md", SPIO_RPC_PARAM_BOOL, OPT(dif_is_head_of_md), true},
    {"dif_pi_format", SPIO_RPC_PARAM_UINT32, OPT(dif_pi_format), true},
    {"numa_id", SPIO_RPC_PARAM_INT32, OPT(numa_id), true},
};

static int malloc_create(const void *opts, struct spio_bdev **bdev, char *err, size_t err_len)
{
	return spio_bdev_malloc_create(opts, bdev, err, err_len);
}

static void rpc_bdev_malloc_create(struct spio_jsonrpc_request *req,
				   const struct spio_json_val *params)
{
	struct spio_bdev_malloc_opts opts;

	spio_bdev_malloc_opts_init(&opts, sizeof(opts));
	spio_bdev_rpc_create(req, params, g_malloc_create_decoders,
			     SPIO_COUNTOF(g_malloc_create_decoders), &opts, malloc_create);
}
SPIO_RPC_REGISTER("bdev_malloc_create", rpc_bdev_malloc_create, SPIO_RPC_RUNTIME)

static void rpc_bdev_malloc_delete(struct spio_jsonrpc_request *req,
				   const struct spio_json_val *params)
{
	spio_bdev_rpc_delete(req, params, spio_bdev_malloc_delete);
}
SPIO_RPC_REGISTER("bdev_malloc_delete", rpc_bdev_malloc_delete, SPIO_RPC_RUNTIME)
