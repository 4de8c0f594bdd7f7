/* bdev_set_qos_limit, with SPDK's parameters, answers and errors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spio/rpc.h"

struct set_qos_params {
	char *name;
	uint64_t limits[SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES];
};

#define SQ(f) offsetof(struct set_qos_params, f)
static const struct spio_rpc_param g_set_qos_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, SQ(name), false},
    {"rw_ios_per_sec", SPIO_RPC_PARAM_UINT64, SQ(limits[SPIO_BDEV_QOS_RW_IOPS_RATE_LIMIT]), true},
    {"rw_mbytes_per_sec", SPIO_RPC_PARAM_UINT64, SQ(limits[SPIO_BDEV_QOS_RW_BPS_RATE_LIMIT]), true},
    {"r_mbytes_per_sec", SPIO_RPC_PARAM_UINT64, SQ(limits[SPIO_BDEV_QOS_R_BPS_RATE_LIMIT]), true},
    {"w_mbytes_per_sec", SPIO_RPC_PARAM_UINT64, SQ(limits[SPIO_BDEV_QOS_W_BPS_RATE_LIMIT]), true},
};
#undef SQ

static void qos_event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void set_qos_done(void *cb_arg, int status)
{
	struct spio_jsonrpc_request *req = cb_arg;

	if (status != 0) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     "Failed to configure rate limit: %s",
						     strerror(-status));
		return;
	}
	spio_jsonrpc_send_bool_response(req, true);
}

static void rpc_bdev_set_qos_limit(struct spio_jsonrpc_request *req,
				   const struct spio_json_val *params)
{
	struct set_qos_params p = {0};
	struct spio_bdev_desc *desc;
	bool any = false;
	char err[256];
	int rc;

	for (int i = 0; i < SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		p.limits[i] = SPIO_BDEV_QOS_LIMIT_NOT_DEFINED; /* absent: keep that limit */
	}
	if (spio_rpc_decode_params(params, g_set_qos_decoders, SPIO_COUNTOF(g_set_qos_decoders), &p,
				   err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	/* SPDK opens the bdev for the call: a bdev being removed is not found */
	rc = spio_bdev_open_ext(p.name, false, qos_event_cb, NULL, &desc);
	if (rc != 0) {
		spio_jsonrpc_send_error_response_fmt(req, rc, "bdev %s: %s", p.name, strerror(-rc));
		goto out;
	}
	for (int i = 0; i < SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES; i++) {
		any |= p.limits[i] != SPIO_BDEV_QOS_LIMIT_NOT_DEFINED;
	}
	if (!any) {
		spio_jsonrpc_send_error_response(req, -EINVAL, "No rate limits specified");
	} else {
		rc = spio_bdev_set_qos_rate_limits(spio_bdev_desc_get_bdev(desc), p.limits,
						   set_qos_done, req);
		if (rc != 0) {
			set_qos_done(req, rc); /* SPDK reports -EAGAIN this way too */
		}
	}
	spio_bdev_close(desc);
out:
	spio_rpc_params_free(g_set_qos_decoders, SPIO_COUNTOF(g_set_qos_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_set_qos_limit", rpc_bdev_set_qos_limit, SPIO_RPC_RUNTIME)
