/* RPCs of the delay module: bdev_delay_create, bdev_delay_delete,
 * bdev_delay_update_latency. */
#include <errno.h>
#include <string.h>

#include "spio/json.h"
#include "spio/rpc.h"
#include "spio/util.h"
#include "vbdev_delay.h"

struct delay_create_params {
	char *base_bdev_name;
	char *name;
	struct spio_uuid uuid;
	uint64_t latency_us[VBDEV_DELAY_NUM_LATENCIES];
};

#define P(field) offsetof(struct delay_create_params, field)
#define L(k) (P(latency_us) + (k) * sizeof(uint64_t))

static const struct spio_rpc_param g_delay_create_decoders[] = {
    {"base_bdev_name", SPIO_RPC_PARAM_STRING, P(base_bdev_name), false},
    {"name", SPIO_RPC_PARAM_STRING, P(name), false},
    {"uuid", SPIO_RPC_PARAM_UUID, P(uuid), true},
    {"avg_read_latency", SPIO_RPC_PARAM_UINT64, L(VBDEV_DELAY_AVG_READ), false},
    {"p99_read_latency", SPIO_RPC_PARAM_UINT64, L(VBDEV_DELAY_P99_READ), false},
    {"avg_write_latency", SPIO_RPC_PARAM_UINT64, L(VBDEV_DELAY_AVG_WRITE), false},
    {"p99_write_latency", SPIO_RPC_PARAM_UINT64, L(VBDEV_DELAY_P99_WRITE), false},
};

/* Answers the name even when the base is not there yet, as SPDK does. */
static void rpc_bdev_delay_create(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	struct delay_create_params p = {0};
	struct spio_json_write_ctx *w;
	struct spio_bdev *bdev;
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_delay_create_decoders,
				   SPIO_COUNTOF(g_delay_create_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = vbdev_delay_create(p.base_bdev_name, p.name, &p.uuid, p.latency_us,
					    &bdev)) != 0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	} else if ((w = spio_jsonrpc_begin_result(req)) != NULL) {
		spio_json_write_string(w, p.name);
		spio_jsonrpc_end_result(req, w);
	}
	spio_rpc_params_free(g_delay_create_decoders, SPIO_COUNTOF(g_delay_create_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_delay_create", rpc_bdev_delay_create, SPIO_RPC_RUNTIME)

static int delay_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg)
{
	return vbdev_delay_delete(name, cb, cb_arg);
}

static void rpc_bdev_delay_delete(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	spio_bdev_rpc_delete(req, params, delay_delete);
}
SPIO_RPC_REGISTER("bdev_delay_delete", rpc_bdev_delay_delete, SPIO_RPC_RUNTIME)

struct delay_update_params {
	char *delay_bdev_name;
	char *latency_type;
	uint64_t latency_us;
};

#define U(field) offsetof(struct delay_update_params, field)

static const struct spio_rpc_param g_delay_update_decoders[] = {
    {"delay_bdev_name", SPIO_RPC_PARAM_STRING, U(delay_bdev_name), false},
    {"latency_type", SPIO_RPC_PARAM_STRING, U(latency_type), false},
    {"latency_us", SPIO_RPC_PARAM_UINT64, U(latency_us), false},
};

static const char *const g_latency_names[VBDEV_DELAY_NUM_LATENCIES] = {
    [VBDEV_DELAY_AVG_READ] = "avg_read",
    [VBDEV_DELAY_P99_READ] = "p99_read",
    [VBDEV_DELAY_AVG_WRITE] = "avg_write",
    [VBDEV_DELAY_P99_WRITE] = "p99_write",
};

static void rpc_bdev_delay_update_latency(struct spio_jsonrpc_request *req,
					  const struct spio_json_val *params)
{
	struct delay_update_params p = {0};
	char err[256];
	int type = -1;
	int rc;

	if (spio_rpc_decode_params(params, g_delay_update_decoders,
				   SPIO_COUNTOF(g_delay_update_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	for (int k = 0; k < VBDEV_DELAY_NUM_LATENCIES; k++) {
		if (strcmp(p.latency_type, g_latency_names[k]) == 0) {
			type = k;
		}
	}
	if (type < 0) {
		spio_jsonrpc_send_error_response(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "latency_type: expected avg_read, p99_read, avg_write or p99_write");
		goto out;
	}
	rc = vbdev_delay_update_latency(p.delay_bdev_name, (enum vbdev_delay_latency)type,
					p.latency_us);
	if (rc == -ENODEV) {
		/* SPDK's answer */
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						 "The requested bdev does not exist.");
	} else if (rc != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						 strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
out:
	spio_rpc_params_free(g_delay_update_decoders, SPIO_COUNTOF(g_delay_update_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_delay_update_latency", rpc_bdev_delay_update_latency, SPIO_RPC_RUNTIME)
