/*
 * RPCs of the nvme module, as SPDK's: bdev_nvme_attach_controller,
 * bdev_nvme_detach_controller, bdev_nvme_get_controllers. Every parameter
 * SPDK's schema gives them is known; those describing what spio does not
 * do (TLS, authentication, protection information, more than one path)
 * are accepted at their default value and refused, by name, otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev.h"
#include "spio/json_val.h"
#include "spio/log.h"
#include "spio/rpc.h"
#include "spio/util.h"

#include "bdev_nvme_internal.h"

/* The strings of a transport ID as the RPCs name them. */
struct rpc_trid {
	char *trtype;
	char *traddr;
	char *adrfam;
	char *trsvcid;
	char *subnqn;
	char *hostaddr;
	char *hostsvcid;
};

struct rpc_attach {
	char *name;
	struct rpc_trid t;
	char *priority;
	char *hostnqn;
	bool prchk_reftag;
	bool prchk_guard;
	bool hdgst;
	bool ddgst;
	uint64_t fabrics_connect_timeout_us;
	char *multipath;
	uint32_t num_io_queues;
	int32_t ctrlr_loss_timeout_sec;
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;
	char *psk;
	uint32_t max_bdevs;
	char *dhchap_key;
	char *dhchap_ctrlr_key;
	bool allow_unrecognized_csi;
	const struct spio_json_val *multipath_opts;
	bool disable_sq_flow_control;
};

#define ATT(field) offsetof(struct rpc_attach, field)

/* SPDK's schema, in its order. */
static const struct spio_rpc_param g_attach_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, ATT(name), false},
    {"trtype", SPIO_RPC_PARAM_STRING, ATT(t.trtype), false},
    {"traddr", SPIO_RPC_PARAM_STRING, ATT(t.traddr), false},
    {"adrfam", SPIO_RPC_PARAM_STRING, ATT(t.adrfam), true},
    {"trsvcid", SPIO_RPC_PARAM_STRING, ATT(t.trsvcid), true},
    {"priority", SPIO_RPC_PARAM_STRING, ATT(priority), true},
    {"subnqn", SPIO_RPC_PARAM_STRING, ATT(t.subnqn), true},
    {"hostnqn", SPIO_RPC_PARAM_STRING, ATT(hostnqn), true},
    {"hostaddr", SPIO_RPC_PARAM_STRING, ATT(t.hostaddr), true},
    {"hostsvcid", SPIO_RPC_PARAM_STRING, ATT(t.hostsvcid), true},
    {"prchk_reftag", SPIO_RPC_PARAM_BOOL, ATT(prchk_reftag), true},
    {"prchk_guard", SPIO_RPC_PARAM_BOOL, ATT(prchk_guard), true},
    {"hdgst", SPIO_RPC_PARAM_BOOL, ATT(hdgst), true},
    {"ddgst", SPIO_RPC_PARAM_BOOL, ATT(ddgst), true},
    {"fabrics_connect_timeout_us", SPIO_RPC_PARAM_UINT64, ATT(fabrics_connect_timeout_us), true},
    {"multipath", SPIO_RPC_PARAM_STRING, ATT(multipath), true},
    {"num_io_queues", SPIO_RPC_PARAM_UINT32, ATT(num_io_queues), true},
    {"ctrlr_loss_timeout_sec", SPIO_RPC_PARAM_INT32, ATT(ctrlr_loss_timeout_sec), true},
    {"reconnect_delay_sec", SPIO_RPC_PARAM_UINT32, ATT(reconnect_delay_sec), true},
    {"fast_io_fail_timeout_sec", SPIO_RPC_PARAM_UINT32, ATT(fast_io_fail_timeout_sec), true},
    {"psk", SPIO_RPC_PARAM_STRING, ATT(psk), true},
    {"max_bdevs", SPIO_RPC_PARAM_UINT32, ATT(max_bdevs), true},
    {"dhchap_key", SPIO_RPC_PARAM_STRING, ATT(dhchap_key), true},
    {"dhchap_ctrlr_key", SPIO_RPC_PARAM_STRING, ATT(dhchap_ctrlr_key), true},
    {"allow_unrecognized_csi", SPIO_RPC_PARAM_BOOL, ATT(allow_unrecognized_csi), true},
    {"multipath_opts", SPIO_RPC_PARAM_OBJECT, ATT(multipath_opts), true},
    {"disable_sq_flow_control", SPIO_RPC_PARAM_BOOL, ATT(disable_sq_flow_control), true},
};

/* Copy `value` (if given) into a transport ID field, as SPDK refuses a too long one. */
static int copy_field(char *dst, size_t size, const char *value, const char *what, char *err,
		      size_t err_len)
{
	if (value == NULL) {
		return 0;
	}
	if (strlen(value) >= size) {
		snprintf(err, err_len, "%s too long: %s", what, value);
		return -EINVAL;
	}
	memcpy(dst, value, strlen(value) + 1);
	return 0;
}

/* SPDK's conversion of the transport ID strings, with its messages. */
static int trid_from_rpc(struct spio_nvme_transport_id *trid, const struct rpc_trid *t, char *err,
			 size_t err_len)
{
	enum spio_nvme_transport_type trtype;
	int rc;

	if (t->trtype != NULL) {
		if (spio_nvme_transport_id_parse_trtype(&trtype, t->trtype) != 0) {
			snprintf(err, err_len, "Failed to parse trtype: %s", t->trtype);
			return -EINVAL;
		}
		spio_nvme_transport_id_populate_trstring(trid, trtype);
	}
	if (t->adrfam != NULL &&
	    spio_nvme_transport_id_parse_adrfam(&trid->adrfam, t->adrfam) != 0) {
		snprintf(err, err_len, "Failed to parse adrfam: %s", t->adrfam);
		return -EINVAL;
	}
	if ((rc = copy_field(trid->traddr, sizeof(trid->traddr), t->traddr, "traddr", err,
			     err_len)) != 0 ||
	    (rc = copy_field(trid->trsvcid, sizeof(trid->trsvcid), t->trsvcid, "trsvcid", err,
			     err_len)) != 0 ||
	    (rc = copy_field(trid->subnqn, sizeof(trid->subnqn), t->subnqn, "subnqn", err,
			     err_len)) != 0 ||
	    (rc = copy_field(trid->hostaddr, sizeof(trid->hostaddr), t->hostaddr, "hostaddr", err,
			     err_len)) != 0 ||
	    (rc = copy_field(trid->hostsvcid, sizeof(trid->hostsvcid), t->hostsvcid, "hostsvcid",
			     err, err_len)) != 0) {
		return rc;
	}
	return 0;
}

static int multipath_from_rpc(enum spio_bdev_nvme_multipath *mode, const char *s, char *err,
			      size_t err_len)
{
	if (s == NULL) {
		return 0;
	}
	if (strcmp(s, "failover") == 0) {
		*mode = SPIO_BDEV_NVME_MULTIPATH_FAILOVER;
	} else if (strcmp(s, "multipath") == 0) {
		*mode = SPIO_BDEV_NVME_MULTIPATH_MULTIPATH;
	} else if (strcmp(s, "disable") == 0) {
		*mode = SPIO_BDEV_NVME_MULTIPATH_DISABLE;
	} else {
		snprintf(err, err_len,
			 "Invalid parameter 'multipath': expected failover, multipath or disable, "
			 "got '%s'",
			 s);
		return SPIO_JSONRPC_ERROR_INVALID_PARAMS;
	}
	return 0;
}

struct mp_check {
	char *err;
	size_t err_len;
};

/* One member of multipath_opts: SPDK's defaults only. */
static int check_multipath_member(const char *key, const struct spio_json_val *v, void *ctx)
{
	struct mp_check *c = ctx;
	const char *s = spio_json_string(v);
	int64_t i;
	bool ok;

	if (strcmp(key, "policy") == 0) {
		ok = s != NULL && strcmp(s, "active_passive") == 0;
	} else if (strcmp(key, "selector") == 0) {
		ok = s != NULL && strcmp(s, "round_robin") == 0;
	} else if (strcmp(key, "min_io") == 0) {
		ok = spio_json_integer(v, &i) == 0 && i == 1;
	} else {
		snprintf(c->err, c->err_len, "Unknown parameter 'multipath_opts.%s'", key);
		return -EINVAL;
	}
	if (!ok) {
		snprintf(c->err, c->err_len,
			 "multipath_opts.%s: only SPDK's defaults (policy active_passive, selector "
			 "round_robin, min_io 1) are supported: spio keeps one path per controller",
			 key);
		return -ENOTSUP;
	}
	return 0;
}

/* The parameters naming what spio does not do, each refused unless at its default. */
static int check_unsupported(const struct rpc_attach *a, char *err, size_t err_len)
{
	struct mp_check c = {.err = err, .err_len = err_len};

	if (a->psk != NULL) {
		snprintf(err, err_len, "psk '%s': TLS is not supported (spio has no keyring)",
			 a->psk);
		return -ENOTSUP;
	}
	if (a->dhchap_key != NULL || a->dhchap_ctrlr_key != NULL) {
		snprintf(err, err_len, "%s '%s': DH-HMAC-CHAP authentication is not supported",
			 a->dhchap_key != NULL ? "dhchap_key" : "dhchap_ctrlr_key",
			 a->dhchap_key != NULL ? a->dhchap_key : a->dhchap_ctrlr_key);
		return -ENOTSUP;
	}
	if (a->allow_unrecognized_csi) {
		snprintf(err, err_len,
			 "allow_unrecognized_csi true: namespaces of other command sets are not "
			 "supported (no NVMe passthrough)");
		return -ENOTSUP;
	}
	if (a->disable_sq_flow_control) {
		snprintf(err, err_len, "disable_sq_flow_control true: not supported");
		return -ENOTSUP;
	}
	return spio_json_object_foreach(a->multipath_opts, check_multipath_member, &c);
}

static int attach_opts_from_rpc(struct spio_bdev_nvme_opts *o, const struct rpc_attach *a,
				char *err, size_t err_len)
{
	uint64_t priority;
	int rc;

	rc = check_unsupported(a, err, err_len);
	if (rc != 0) {
		return rc;
	}
	o->name = a->name;
	rc = trid_from_rpc(&o->trid, &a->t, err, err_len);
	if (rc == 0) {
		rc = copy_field(o->trid.hostnqn, sizeof(o->trid.hostnqn), a->hostnqn, "hostnqn",
				err, err_len);
	}
	if (rc == 0) {
		rc = multipath_from_rpc(&o->multipath, a->multipath, err, err_len);
	}
	if (rc != 0) {
		return rc;
	}
	if (a->priority != NULL) {
		if (spio_parse_u64(a->priority, 10, &priority) != 0 || priority > INT32_MAX) {
			snprintf(err, err_len, "priority '%s': expected a number from 0",
				 a->priority);
			return -EINVAL;
		}
		o->trid.priority = (int)priority;
	}
	o->header_digest = a->hdgst;
	o->data_digest = a->ddgst;
	o->prchk_reftag = a->prchk_reftag;
	o->prchk_guard = a->prchk_guard;
	o->fabrics_connect_timeout_us = a->fabrics_connect_timeout_us;
	o->num_io_queues = a->num_io_queues;
	o->ctrlr_loss_timeout_sec = a->ctrlr_loss_timeout_sec;
	o->reconnect_delay_sec = a->reconnect_delay_sec;
	o->fast_io_fail_timeout_sec = a->fast_io_fail_timeout_sec;
	o->max_bdevs = a->max_bdevs;
	return 0;
}

struct attach_req {
	struct spio_jsonrpc_request *req;
	char **names;
	size_t count;
};

static void attach_req_free(struct attach_req *ar)
{
	for (size_t i = 0; ar->names != NULL && i < ar->count; i++) {
		free(ar->names[i]);
	}
	free(ar->names);
	free(ar);
}

/* As SPDK: the names once every module examined the new bdevs. */
static void attach_examined(void *arg)
{
	struct attach_req *ar = arg;
	struct spio_json_write_ctx *w = spio_jsonrpc_begin_result(ar->req);

	if (w != NULL) {
		spio_json_write_array_begin(w);
		for (size_t i = 0; i < ar->count; i++) {
			spio_json_write_string(w, ar->names[i]);
		}
		spio_json_write_array_end(w);
		spio_jsonrpc_end_result(ar->req, w);
	}
	attach_req_free(ar);
}

static void attach_done(void *arg, int rc, const char *msg, const char *const *names, size_t count)
{
	struct attach_req *ar = arg;

	if (rc == 0) {
		ar->names = calloc(count + 1, sizeof(*ar->names));
		for (size_t i = 0; ar->names != NULL && i < count; i++) {
			ar->names[i] = strdup(names[i]);
			if (ar->names[i] == NULL) {
				rc = -ENOMEM;
				break;
			}
			ar->count++;
		}
		if (ar->names == NULL) {
			rc = -ENOMEM;
		}
		msg = rc != 0 ? "out of memory" : NULL;
	}
	if (rc == 0) {
		rc = spio_bdev_wait_for_examine(attach_examined, ar);
		msg = rc != 0 ? strerror(-rc) : NULL;
	}
	if (rc != 0) {
		spio_jsonrpc_send_error_response(ar->req, rc, msg);
		attach_req_free(ar);
	}
}

static void rpc_bdev_nvme_attach_controller(struct spio_jsonrpc_request *req,
					    const struct spio_json_val *params)
{
	struct spio_bdev_nvme_opts opts;
	struct rpc_attach a = {0};
	struct attach_req *ar = NULL;
	char err[512] = "";
	int rc;

	spio_bdev_nvme_opts_init(&opts, sizeof(opts));
	a.num_io_queues = opts.num_io_queues;
	a.max_bdevs = opts.max_bdevs;
	rc = spio_rpc_decode_params(params, g_attach_decoders, SPIO_COUNTOF(g_attach_decoders), &a,
				    err, sizeof(err));
	if (rc != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	rc = attach_opts_from_rpc(&opts, &a, err, sizeof(err));
	if (rc != 0) {
		SPIO_ERRLOG("bdev_nvme_attach_controller: %s\n", err);
		spio_jsonrpc_send_error_response(req, rc, err);
		goto out;
	}
	ar = calloc(1, sizeof(*ar));
	if (ar == NULL) {
		spio_jsonrpc_send_error_response(req, -ENOMEM, strerror(ENOMEM));
		goto out;
	}
	ar->req = req;
	rc = spio_bdev_nvme_attach(&opts, attach_done, ar, err, sizeof(err));
	if (rc != 0) {
		spio_jsonrpc_send_error_response(req, rc, err);
		free(ar);
	}
out:
	spio_rpc_params_free(g_attach_decoders, SPIO_COUNTOF(g_attach_decoders), &a);
}
SPIO_RPC_REGISTER("bdev_nvme_attach_controller", rpc_bdev_nvme_attach_controller, SPIO_RPC_RUNTIME)

struct rpc_detach {
	char *name;
	struct rpc_trid t;
};

#define DET(field) offsetof(struct rpc_detach, field)

static const struct spio_rpc_param g_detach_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, DET(name), false},
    {"trtype", SPIO_RPC_PARAM_STRING, DET(t.trtype), true},
    {"traddr", SPIO_RPC_PARAM_STRING, DET(t.traddr), true},
    {"adrfam", SPIO_RPC_PARAM_STRING, DET(t.adrfam), true},
    {"trsvcid", SPIO_RPC_PARAM_STRING, DET(t.trsvcid), true},
    {"subnqn", SPIO_RPC_PARAM_STRING, DET(t.subnqn), true},
    {"hostaddr", SPIO_RPC_PARAM_STRING, DET(t.hostaddr), true},
    {"hostsvcid", SPIO_RPC_PARAM_STRING, DET(t.hostsvcid), true},
};

static void detach_done(void *arg, int rc)
{
	struct spio_jsonrpc_request *req = arg;

	if (rc == 0) {
		spio_jsonrpc_send_bool_response(req, true);
	} else {
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	}
}

static void rpc_bdev_nvme_detach_controller(struct spio_jsonrpc_request *req,
					    const struct spio_json_val *params)
{
	struct spio_nvme_transport_id path = {0};
	struct rpc_detach d = {0};
	char err[512] = "";
	int rc;

	rc = spio_rpc_decode_params(params, g_detach_decoders, SPIO_COUNTOF(g_detach_decoders), &d,
				    err, sizeof(err));
	if (rc != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	rc = trid_from_rpc(&path, &d.t, err, sizeof(err));
	if (rc != 0) {
		spio_jsonrpc_send_error_response(req, rc, err);
		goto out;
	}
	rc = spio_bdev_nvme_detach(d.name, &path, detach_done, req);
	if (rc != 0) {
		/* SPDK answers the errno's text ("No such device" for an unknown name). */
		spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
	}
out:
	spio_rpc_params_free(g_detach_decoders, SPIO_COUNTOF(g_detach_decoders), &d);
}
SPIO_RPC_REGISTER("bdev_nvme_detach_controller", rpc_bdev_nvme_detach_controller, SPIO_RPC_RUNTIME)

struct rpc_get_controllers {
	char *name;
};

static const struct spio_rpc_param g_get_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct rpc_get_controllers, name), true},
};

static void write_controller(struct bdev_nvme_ctrlr *nc, struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "name", nc->name);
	spio_json_write_named_array_begin(w, "ctrlrs");
	bdev_nvme_ctrlr_info_json(nc, w);
	spio_json_write_array_end(w);
	spio_json_write_object_end(w);
}

static void rpc_bdev_nvme_get_controllers(struct spio_jsonrpc_request *req,
					  const struct spio_json_val *params)
{
	struct rpc_get_controllers g = {0};
	struct spio_json_write_ctx *w;
	struct bdev_nvme_ctrlr *nc = NULL;
	char err[512] = "";

	if (spio_rpc_decode_params(params, g_get_decoders, SPIO_COUNTOF(g_get_decoders), &g, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	if (g.name != NULL) {
		nc = bdev_nvme_ctrlr_find(g.name);
		if (nc == NULL || nc->ctrlr == NULL) {
			spio_jsonrpc_send_error_response_fmt(
			    req, -EINVAL, "Controller %s does not exist", g.name);
			goto out;
		}
	}
	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		goto out;
	}
	spio_json_write_array_begin(w);
	if (nc != NULL) {
		write_controller(nc, w);
	} else {
		for (nc = bdev_nvme_ctrlr_first(); nc != NULL; nc = bdev_nvme_ctrlr_next(nc)) {
			write_controller(nc, w);
		}
	}
	spio_json_write_array_end(w);
	spio_jsonrpc_end_result(req, w);
out:
	spio_rpc_params_free(g_get_decoders, SPIO_COUNTOF(g_get_decoders), &g);
}
SPIO_RPC_REGISTER("bdev_nvme_get_controllers", rpc_bdev_nvme_get_controllers, SPIO_RPC_RUNTIME)
