/* RPCs of the malloc module: bdev_malloc_create, bdev_malloc_delete. */
#include <errno.h>
#include <string.h>

#include "spio/bdev_module.h"
#include "spio/json.h"
#include "spio/rpc.h"

static void rpc_bdev_malloc_create(struct spio_jsonrpc_request *req,
				   const struct spio_json_val *params)
{
	spio_bdev_rpc_simple_create(req, params, spio_bdev_malloc_create);
}
SPIO_RPC_REGISTER("bdev_malloc_create", rpc_bdev_malloc_create, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void rpc_bdev_malloc_delete(struct spio_jsonrpc_request *req,
				   const struct spio_json_val *params)
{
	spio_bdev_rpc_delete(req, params, spio_bdev_malloc_delete);
}
SPIO_RPC_REGISTER("bdev_malloc_delete", rpc_bdev_malloc_delete, SPIO_RPC_RUNTIME)
