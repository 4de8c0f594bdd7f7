/* RPCs of the aio module: bdev_aio_create, bdev_aio_delete, bdev_aio_rescan. */
#include <errno.h>

#include "../file/bdev_file.h"
#include "spio/bdev_aio.h"
#include "spio/rpc.h"
#include "spio/util.h"

/* SPDK's "fallocate" and "nowait", beyond the common parameters. */
static const struct spio_rpc_param g_aio_extra_decoders[] = {
    {"fallocate", SPIO_RPC_PARAM_BOOL, offsetof(struct bdev_file_rpc_params, fallocate), true},
    {"nowait", SPIO_RPC_PARAM_BOOL, offsetof(struct bdev_file_rpc_params, nowait), true},
};

static int aio_create_from_params(const struct bdev_file_rpc_params *p, struct spio_bdev **bdev,
				  char *err, size_t err_len)
{
	struct spio_bdev_aio_opts opts;

	if (p->nowait) {
		/* SPDK's RWF_NOWAIT retry scheme: not built; say so rather than ignore it. */
		return bdev_file_error(err, err_len, -ENOTSUP,
				       "nowait: RWF_NOWAIT submission is not supported");
	}
	spio_bdev_aio_opts_init(&opts, sizeof(opts));
	opts.name = p->name;
	opts.filename = p->filename;
	opts.block_size = p->block_size;
	opts.uuid = p->parsed_uuid;
	opts.direct = p->direct;
	opts.readonly = p->readonly;
	opts.fallocate = p->fallocate;
	opts.queue_depth = p->queue_depth;
	return spio_bdev_aio_create(&opts, bdev, err, err_len);
}

static void rpc_bdev_aio_create(struct spio_jsonrpc_request *req,
				const struct spio_json_val *params)
{
	struct spio_bdev_aio_opts d;

	spio_bdev_aio_opts_init(&d, sizeof(d));
	bdev_file_rpc_create(req, params, g_aio_extra_decoders, SPIO_COUNTOF(g_aio_extra_decoders),
			     &(struct bdev_file_rpc_params){.direct = d.direct,
							    .fallocate = d.fallocate,
							    .queue_depth = d.queue_depth},
			     aio_create_from_params);
}
SPIO_RPC_REGISTER("bdev_aio_create", rpc_bdev_aio_create, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

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
