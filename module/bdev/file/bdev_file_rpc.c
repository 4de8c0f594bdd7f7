/*
 * RPC pieces the kernel-backed modules share: decoding the create methods'
 * parameters, answering them, and bdev_<module>_rescan.
 */
#include <errno.h>
#include <string.h>

#include "bdev_file.h"
#include "spio/json.h"
#include "spio/rpc.h"
#include "spio/util.h"

#define EXTRA_MAX 8

static const struct spio_rpc_param g_common_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct bdev_file_rpc_params, name), false},
    {"filename", SPIO_RPC_PARAM_STRING, offsetof(struct bdev_file_rpc_params, filename), false},
    {"block_size", SPIO_RPC_PARAM_UINT32, offsetof(struct bdev_file_rpc_params, block_size), true},
    {"uuid", SPIO_RPC_PARAM_STRING, offsetof(struct bdev_file_rpc_params, uuid), true},
    {"direct", SPIO_RPC_PARAM_BOOL, offsetof(struct bdev_file_rpc_params, direct), true},
    {"readonly", SPIO_RPC_PARAM_BOOL, offsetof(struct bdev_file_rpc_params, readonly), true},
    {"queue_depth", SPIO_RPC_PARAM_UINT32, offsetof(struct bdev_file_rpc_params, queue_depth),
     true},
};

/* Decode over the defaults in `p`; on error answer and return -EINVAL. */
static int rpc_decode(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
		      const struct spio_rpc_param *extra, size_t n_extra,
		      struct bdev_file_rpc_params *p)
{
	struct spio_rpc_param all[SPIO_COUNTOF(g_common_decoders) + EXTRA_MAX];
	size_t n = SPIO_COUNTOF(g_common_decoders);
	char err[256];

	if (n_extra > EXTRA_MAX) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "too many module parameters");
		return -EINVAL;
	}
	memcpy(all, g_common_decoders, sizeof(g_common_decoders));
	memcpy(all + n, extra, n_extra * sizeof(*extra));
	n += n_extra;
	if (spio_rpc_decode_params(params, all, n, p, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		return -EINVAL;
	}
	if (p->uuid != NULL && spio_uuid_parse(&p->parsed_uuid, p->uuid) != 0) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     "uuid: '%s' is not a UUID", p->uuid);
		return -EINVAL;
	}
	return 0;
}

void bdev_file_rpc_create(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			  const struct spio_rpc_param *extra, size_t n_extra,
			  const struct bdev_file_rpc_params *defaults,
			  bdev_file_rpc_create_fn create)
{
	struct bdev_file_rpc_params p = *defaults;
	struct spio_bdev *bdev = NULL;
	char err[256] = "";
	int rc;

	if (rpc_decode(req, params, extra, n_extra, &p) != 0) {
		goto out;
	}
	rc = create(&p, &bdev, err, sizeof(err));
	spio_bdev_rpc_send_create_result(req, rc, bdev, err);
out:
	/* the strings are the common ones */
	spio_rpc_params_free(g_common_decoders, SPIO_COUNTOF(g_common_decoders), &p);
}

struct rescan_params {
	char *name;
};

static const struct spio_rpc_param g_rescan_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct rescan_params, name), false},
};

void bdev_file_rpc_rescan(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			  int (*rescan)(const char *name))
{
	struct rescan_params p = {0};
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_rescan_decoders, SPIO_COUNTOF(g_rescan_decoders), &p,
				   err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = rescan(p.name)) != 0) {
		spio_jsonrpc_send_error_response_fmt(req, rc, "bdev %s: rescan failed: %s", p.name,
						     strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
	spio_rpc_params_free(g_rescan_decoders, SPIO_COUNTOF(g_rescan_decoders), &p);
}
