/* bdev_<module>_rescan, served the same way for every kernel-backed module. */
#include <errno.h>
#include <string.h>

#include "bdev_file.h"
#include "spio/rpc.h"
#include "spio/util.h"

struct rescan_req {
	char *name;
};

static const struct spio_rpc_param g_rescan_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct rescan_req, name), false},
};

void bdev_file_rpc_rescan(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			  int (*rescan)(const char *name))
{
	struct rescan_req r = {0};
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_rescan_decoders, SPIO_COUNTOF(g_rescan_decoders), &r,
				   err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = rescan(r.name)) != 0) {
		spio_jsonrpc_send_error_response_fmt(req, rc, "bdev %s: rescan failed: %s", r.name,
						     strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
	spio_rpc_params_free(g_rescan_decoders, SPIO_COUNTOF(g_rescan_decoders), &r);
}
