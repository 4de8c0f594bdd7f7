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

static void rpc_bdev_aio_create(struct spio_jsonrpc_request *req, const json_t *params)
{
	struct spio_bdev_aio_opts opts;
	struct bdev_file_rpc_params p = {0};
	struct spio_bdev *bdev = NULL;
	char err[256] = "";
	int rc;

	spio_bdev_aio_opts_init(&opts, sizeof(opts));
	p.direct = opts.direct;
	p.fallocate = opts.fallocate;
	p.queue_depth = opts.queue_depth;
	if (bdev_file_rpc_decode(req, params, g_aio_extra_decoders,
				 SPIO_COUNTOF(g_aio_extra_decoders), &p) != 0) {
		goto out;
	}
	if (p.nowait) {
		/* SPDK's RWF_NOWAIT retry scheme: not built; say so rather than ignore it. */
		spio_jsonrpc_send_error_response(req, -ENOTSUP,
						 "nowait: RWF_NOWAIT submission is not supported");
		goto out;
	}
	opts.name = p.name;
	opts.filename = p.filename;
	opts.block_size = p.block_size;
	opts.uuid = p.parsed_uuid;
	opts.direct = p.direct;
	opts.readonly = p.readonly;
	opts.fallocate = p.fallocate;
	opts.queue_depth = p.queue_depth;
	rc = spio_bdev_aio_create(&opts, &bdev, err, sizeof(err));
	bdev_file_rpc_answer_create(req, rc, bdev, err);
out:
	bdev_file_rpc_params_free(&p);
}
SPIO_RPC_REGISTER("bdev_aio_create", rpc_bdev_aio_create, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void rpc_bdev_aio_delete(struct spio_jsonrpc_request *req, const json_t *params)
{
	spio_bdev_rpc_delete(req, params, spio_bdev_aio_delete);
}
SPIO_RPC_REGISTER("bdev_aio_delete", rpc_bdev_aio_delete, SPIO_RPC_RUNTIME)

static void rpc_bdev_aio_rescan(struct spio_jsonrpc_request *req, const json_t *params)
{
	bdev_file_rpc_rescan(req, params, spio_bdev_aio_rescan);
}
SPIO_RPC_REGISTER("bdev_aio_rescan", rpc_bdev_aio_rescan, SPIO_RPC_RUNTIME)
