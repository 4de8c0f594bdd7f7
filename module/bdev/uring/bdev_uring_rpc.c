/* RPCs of the uring module: bdev_uring_create, bdev_uring_delete, bdev_uring_rescan. */
#include <errno.h>

#include "../file/bdev_file.h"
#include "spio/bdev_uring.h"
#include "spio/rpc.h"
#include "spio/util.h"

/* Ours, beyond SPDK's {name, filename, block_size, uuid}. */
static const struct spio_rpc_param g_uring_extra_decoders[] = {
    {"sqpoll", SPIO_RPC_PARAM_BOOL, offsetof(struct bdev_file_rpc_params, sqpoll), true},
    {"registered_buffers", SPIO_RPC_PARAM_BOOL,
     offsetof(struct bdev_file_rpc_params, registered_buffers), true},
    {"registered_files", SPIO_RPC_PARAM_BOOL,
     offsetof(struct bdev_file_rpc_params, registered_files), true},
};

static int uring_create_from_params(const struct bdev_file_rpc_params *p, struct spio_bdev **bdev,
				    char *err, size_t err_len)
{
	struct spio_bdev_uring_opts opts;

	spio_bdev_uring_opts_init(&opts, sizeof(opts));
	opts.name = p->name;
	opts.filename = p->filename;
	opts.block_size = p->block_size;
	opts.uuid = p->parsed_uuid;
	opts.direct = p->direct;
	opts.readonly = p->readonly;
	opts.queue_depth = p->queue_depth;
	opts.sqpoll = p->sqpoll;
	opts.registered_buffers = p->registered_buffers;
	opts.registered_files = p->registered_files;
	return spio_bdev_uring_create(&opts, bdev, err, err_len);
}

static void rpc_bdev_uring_create(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	struct spio_bdev_uring_opts d;

	spio_bdev_uring_opts_init(&d, sizeof(d));
	bdev_file_rpc_create(
	    req, params, g_uring_extra_decoders, SPIO_COUNTOF(g_uring_extra_decoders),
	    &(struct bdev_file_rpc_params){.direct = d.direct, .queue_depth = d.queue_depth},
	    uring_create_from_params);
}
SPIO_RPC_REGISTER("bdev_uring_create", rpc_bdev_uring_create, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

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
