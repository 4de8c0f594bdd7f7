/* RPCs of the error module, SPDK's names and parameters: bdev_error_create,
 * bdev_error_delete, bdev_error_inject_error, bdev_error_resume_pending. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "spio/bdev_error.h"
#include "spio/bdev_module.h"
#include "spio/rpc.h"

struct err_create_params {
	char *base_name;
	struct spio_uuid uuid;
};

static const struct spio_rpc_param g_err_create_decoders[] = {
    {"base_name", SPIO_RPC_PARAM_STRING, offsetof(struct err_create_params, base_name), false},
    {"uuid", SPIO_RPC_PARAM_UUID, offsetof(struct err_create_params, uuid), true},
};

/* Answers true, as SPDK does (the name is "EE_<base_name>"). */
static void rpc_bdev_error_create(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	struct err_create_params p = {0};
	struct spio_bdev *bdev;
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_err_create_decoders,
				   SPIO_COUNTOF(g_err_create_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = spio_bdev_error_create(p.base_name, &p.uuid, &bdev)) != 0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
	spio_rpc_params_free(g_err_create_decoders, SPIO_COUNTOF(g_err_create_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_error_create", rpc_bdev_error_create, SPIO_RPC_RUNTIME)

static void rpc_bdev_error_delete(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	spio_bdev_rpc_delete(req, params, spio_bdev_error_delete);
}
SPIO_RPC_REGISTER("bdev_error_delete", rpc_bdev_error_delete, SPIO_RPC_RUNTIME)

struct err_inject_params {
	char *name;
	char *io_type;
	char *error_type;
	uint32_t nvme_sct;
	uint32_t nvme_sc;
	uint32_t num;
	uint64_t queue_depth;
	uint64_t corrupt_offset;
	uint32_t corrupt_value;
};

#define P(field) offsetof(struct err_inject_params, field)

static const struct spio_rpc_param g_err_inject_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, P(name), false},
    {"io_type", SPIO_RPC_PARAM_STRING, P(io_type), false},
    {"error_type", SPIO_RPC_PARAM_STRING, P(error_type), false},
    {"nvme_sct", SPIO_RPC_PARAM_UINT32, P(nvme_sct), true},
    {"nvme_sc", SPIO_RPC_PARAM_UINT32, P(nvme_sc), true},
    {"num", SPIO_RPC_PARAM_UINT32, P(num), true},
    {"queue_depth", SPIO_RPC_PARAM_UINT64, P(queue_depth), true},
    {"corrupt_offset", SPIO_RPC_PARAM_UINT64, P(corrupt_offset), true},
    {"corrupt_value", SPIO_RPC_PARAM_UINT32, P(corrupt_value), true},
};

static const struct {
	const char *name;
	enum spio_bdev_io_type type;
} g_io_types[] = {
    {"clear", SPIO_BDEV_IO_TYPE_INVALID}, {"read", SPIO_BDEV_IO_TYPE_READ},
    {"write", SPIO_BDEV_IO_TYPE_WRITE},	  {"unmap", SPIO_BDEV_IO_TYPE_UNMAP},
    {"flush", SPIO_BDEV_IO_TYPE_FLUSH},	  {"all", SPIO_BDEV_NUM_IO_TYPES},
};

static const char *const g_error_types[] = {
    [SPIO_BDEV_ERROR_TYPE_FAILURE] = "failure",
    [SPIO_BDEV_ERROR_TYPE_PENDING] = "pending",
    [SPIO_BDEV_ERROR_TYPE_CORRUPT_DATA] = "corrupt_data",
    [SPIO_BDEV_ERROR_TYPE_NOMEM] = "nomem",
    [SPIO_BDEV_ERROR_TYPE_NVME_FAILURE] = "nvme_failure",
};

static int err_parse(const struct err_inject_params *p, struct spio_bdev_error_inject_opts *o,
		     char *err, size_t len)
{
	size_t i;

	for (i = 0; i < SPIO_COUNTOF(g_io_types) && strcmp(g_io_types[i].name, p->io_type); i++) {
	}
	if (i == SPIO_COUNTOF(g_io_types)) {
		snprintf(err, len, "io_type '%s': expected clear, read, write, unmap, flush or all",
			 p->io_type);
		return -EINVAL;
	}
	o->io_type = g_io_types[i].type;
	for (i = 1; i < SPIO_COUNTOF(g_error_types) && strcmp(g_error_types[i], p->error_type);
	     i++) {
	}
	if (i == SPIO_COUNTOF(g_error_types)) {
		snprintf(err, len,
			 "error_type '%s': expected failure, nvme_failure, pending, corrupt_data "
			 "or nomem",
			 p->error_type);
		return -EINVAL;
	}
	o->error_type = (enum spio_bdev_error_type)i;
	if (p->corrupt_value > UINT8_MAX) {
		snprintf(err, len, "corrupt_value %u: expected 1..255", p->corrupt_value);
		return -EINVAL;
	}
	/* SPDK's rule: an NVMe status exactly for nvme_failure */
	if ((o->error_type == SPIO_BDEV_ERROR_TYPE_NVME_FAILURE) !=
	    (p->nvme_sct != 0 || p->nvme_sc != 0)) {
		snprintf(err, len,
			 "nvme_sct or nvme_sc should be specified for NVMe error injection");
		return -EINVAL;
	}
	o->num = p->num;
	o->queue_depth = p->queue_depth;
	o->corrupt_offset = p->corrupt_offset;
	o->corrupt_value = (uint8_t)p->corrupt_value;
	o->nvme_sct = p->nvme_sct;
	o->nvme_sc = p->nvme_sc;
	return 0;
}

static void rpc_bdev_error_inject_error(struct spio_jsonrpc_request *req,
					const struct spio_json_val *params)
{
	struct err_inject_params p = {.num = 1};
	struct spio_bdev_error_inject_opts o = {0};
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_err_inject_decoders,
				   SPIO_COUNTOF(g_err_inject_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if (err_parse(&p, &o, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, -EINVAL, err);
	} else if ((rc = spio_bdev_error_inject(p.name, &o)) != 0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
	spio_rpc_params_free(g_err_inject_decoders, SPIO_COUNTOF(g_err_inject_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_error_inject_error", rpc_bdev_error_inject_error, SPIO_RPC_RUNTIME)

struct name_params {
	char *name;
};

static const struct spio_rpc_param g_name_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct name_params, name), false},
};

static void rpc_bdev_error_resume_pending(struct spio_jsonrpc_request *req,
					  const struct spio_json_val *params)
{
	struct name_params p = {0};
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_name_decoders, SPIO_COUNTOF(g_name_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else if ((rc = spio_bdev_error_resume_pending(p.name)) != 0) {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
	spio_rpc_params_free(g_name_decoders, SPIO_COUNTOF(g_name_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_error_resume_pending", rpc_bdev_error_resume_pending, SPIO_RPC_RUNTIME)
