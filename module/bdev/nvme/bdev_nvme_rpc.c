/*
 * RPCs of the nvme module, as SPDK's: bdev_nvme_set_options,
 * bdev_nvme_attach_controller, bdev_nvme_detach_controller,
 * bdev_nvme_get_controllers. Every parameter SPDK's schema gives them is
 * known; those describing what spio does not do (TLS, authentication,
 * protection information, more than one path, ...) are accepted at their
 * default value and refused, by name, otherwise.
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
	/* bdev_nvme_set_options' values unless given here, as SPDK. */
	a.ctrlr_loss_timeout_sec = opts.ctrlr_loss_timeout_sec;
	a.reconnect_delay_sec = opts.reconnect_delay_sec;
	a.fast_io_fail_timeout_sec = opts.fast_io_fail_timeout_sec;
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

/* bdev_nvme_set_options' parameters: SPDK's uint8 / uint16 ones and bitmasks are checked here. */
struct rpc_set_options {
	char *action_on_timeout;
	uint64_t timeout_us;
	uint64_t timeout_admin_us;
	uint32_t keep_alive_timeout_ms;
	uint32_t arbitration_burst;
	uint32_t low_priority_weight;
	uint32_t medium_priority_weight;
	uint32_t high_priority_weight;
	uint64_t nvme_adminq_poll_period_us;
	uint64_t nvme_ioq_poll_period_us;
	uint32_t io_queue_requests;
	bool delay_cmd_submit;
	uint32_t transport_retry_count;
	int32_t bdev_retry_count;
	uint32_t transport_ack_timeout;
	int32_t ctrlr_loss_timeout_sec;
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;
	bool disable_auto_failback;
	bool generate_uuids;
	uint32_t transport_tos;
	bool nvme_error_stat;
	uint32_t rdma_srq_size;
	bool io_path_stat;
	bool allow_accel_sequence;
	uint32_t rdma_max_cq_size;
	uint32_t rdma_cm_event_timeout_ms;
	const struct spio_json_val *dhchap_digests;
	const struct spio_json_val *dhchap_dhgroups;
	bool rdma_umr_per_io;
	uint32_t tcp_connect_timeout_ms;
	bool enable_flush;
	const struct spio_json_val *multipath_opts;
};

#define SET(field) offsetof(struct rpc_set_options, field)

/* SPDK's schema, in its order. */
static const struct spio_rpc_param g_set_options_decoders[] = {
    {"action_on_timeout", SPIO_RPC_PARAM_STRING, SET(action_on_timeout), true},
    {"timeout_us", SPIO_RPC_PARAM_UINT64, SET(timeout_us), true},
    {"timeout_admin_us", SPIO_RPC_PARAM_UINT64, SET(timeout_admin_us), true},
    {"keep_alive_timeout_ms", SPIO_RPC_PARAM_UINT32, SET(keep_alive_timeout_ms), true},
    {"arbitration_burst", SPIO_RPC_PARAM_UINT32, SET(arbitration_burst), true},
    {"low_priority_weight", SPIO_RPC_PARAM_UINT32, SET(low_priority_weight), true},
    {"medium_priority_weight", SPIO_RPC_PARAM_UINT32, SET(medium_priority_weight), true},
    {"high_priority_weight", SPIO_RPC_PARAM_UINT32, SET(high_priority_weight), true},
    {"nvme_adminq_poll_period_us", SPIO_RPC_PARAM_UINT64, SET(nvme_adminq_poll_period_us), true},
    {"nvme_ioq_poll_period_us", SPIO_RPC_PARAM_UINT64, SET(nvme_ioq_poll_period_us), true},
    {"io_queue_requests", SPIO_RPC_PARAM_UINT32, SET(io_queue_requests), true},
    {"delay_cmd_submit", SPIO_RPC_PARAM_BOOL, SET(delay_cmd_submit), true},
    {"transport_retry_count", SPIO_RPC_PARAM_UINT32, SET(transport_retry_count), true},
    {"bdev_retry_count", SPIO_RPC_PARAM_INT32, SET(bdev_retry_count), true},
    {"transport_ack_timeout", SPIO_RPC_PARAM_UINT32, SET(transport_ack_timeout), true},
    {"ctrlr_loss_timeout_sec", SPIO_RPC_PARAM_INT32, SET(ctrlr_loss_timeout_sec), true},
    {"reconnect_delay_sec", SPIO_RPC_PARAM_UINT32, SET(reconnect_delay_sec), true},
    {"fast_io_fail_timeout_sec", SPIO_RPC_PARAM_UINT32, SET(fast_io_fail_timeout_sec), true},
    {"disable_auto_failback", SPIO_RPC_PARAM_BOOL, SET(disable_auto_failback), true},
    {"generate_uuids", SPIO_RPC_PARAM_BOOL, SET(generate_uuids), true},
    {"transport_tos", SPIO_RPC_PARAM_UINT32, SET(transport_tos), true},
    {"nvme_error_stat", SPIO_RPC_PARAM_BOOL, SET(nvme_error_stat), true},
    {"rdma_srq_size", SPIO_RPC_PARAM_UINT32, SET(rdma_srq_size), true},
    {"io_path_stat", SPIO_RPC_PARAM_BOOL, SET(io_path_stat), true},
    {"allow_accel_sequence", SPIO_RPC_PARAM_BOOL, SET(allow_accel_sequence), true},
    {"rdma_max_cq_size", SPIO_RPC_PARAM_UINT32, SET(rdma_max_cq_size), true},
    {"rdma_cm_event_timeout_ms", SPIO_RPC_PARAM_UINT32, SET(rdma_cm_event_timeout_ms), true},
    {"dhchap_digests", SPIO_RPC_PARAM_ARRAY, SET(dhchap_digests), true},
    {"dhchap_dhgroups", SPIO_RPC_PARAM_ARRAY, SET(dhchap_dhgroups), true},
    {"rdma_umr_per_io", SPIO_RPC_PARAM_BOOL, SET(rdma_umr_per_io), true},
    {"tcp_connect_timeout_ms", SPIO_RPC_PARAM_UINT32, SET(tcp_connect_timeout_ms), true},
    {"enable_flush", SPIO_RPC_PARAM_BOOL, SET(enable_flush), true},
    {"multipath_opts", SPIO_RPC_PARAM_OBJECT, SET(multipath_opts), true},
};

/* A value SPDK decodes as a narrower integer than the decoder's uint32. */
static int check_width(const char *name, uint32_t value, uint32_t max, char *err, size_t err_len)
{
	if (value > max) {
		snprintf(err, err_len,
			 "Invalid parameter '%s': expected 0..%" PRIu32 ", got %" PRIu32, name, max,
			 value);
		return SPIO_JSONRPC_ERROR_INVALID_PARAMS;
	}
	return 0;
}

/* SPDK's bitmask parameters: an array of names, each setting its bit. */
static int names_to_mask(const char *name, const struct spio_json_val *arr, bool digests,
			 uint32_t *mask, char *err, size_t err_len)
{
	uint32_t m = 0;

	if (arr == NULL) {
		return 0;
	}
	for (size_t i = 0; i < spio_json_array_size(arr); i++) {
		const char *s = spio_json_string(spio_json_array_get(arr, i));
		int bit = s != NULL ? bdev_nvme_dhchap_bit(digests, s) : -1;

		if (bit < 0) {
			snprintf(
			    err, err_len, "Invalid parameter '%s': element %zu is not one of %s",
			    name, i,
			    digests
				? "sha256, sha384, sha512"
				: "null, ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144, ffdhe8192");
			return SPIO_JSONRPC_ERROR_INVALID_PARAMS;
		}
		m |= 1u << bit;
	}
	*mask = m;
	return 0;
}

static int set_options_from_rpc(struct spio_bdev_nvme_module_opts *o,
				const struct rpc_set_options *r, char *err, size_t err_len)
{
	struct mp_check c = {.err = err, .err_len = err_len};
	int rc;

	if (r->action_on_timeout != NULL) {
		if (strcmp(r->action_on_timeout, "none") == 0) {
			o->action_on_timeout = SPIO_BDEV_NVME_TIMEOUT_ACTION_NONE;
		} else if (strcmp(r->action_on_timeout, "reset") == 0) {
			o->action_on_timeout = SPIO_BDEV_NVME_TIMEOUT_ACTION_RESET;
		} else if (strcmp(r->action_on_timeout, "abort") == 0) {
			o->action_on_timeout = SPIO_BDEV_NVME_TIMEOUT_ACTION_ABORT;
		} else {
			snprintf(err, err_len,
				 "Invalid parameter 'action_on_timeout': expected none, reset or "
				 "abort, got '%s'",
				 r->action_on_timeout);
			return SPIO_JSONRPC_ERROR_INVALID_PARAMS;
		}
	}
	if ((rc = check_width("transport_ack_timeout", r->transport_ack_timeout, UINT8_MAX, err,
			      err_len)) != 0 ||
	    (rc = check_width("transport_tos", r->transport_tos, UINT8_MAX, err, err_len)) != 0 ||
	    (rc = check_width("rdma_cm_event_timeout_ms", r->rdma_cm_event_timeout_ms, UINT16_MAX,
			      err, err_len)) != 0 ||
	    (rc = names_to_mask("dhchap_digests", r->dhchap_digests, true, &o->dhchap_digests, err,
				err_len)) != 0 ||
	    (rc = names_to_mask("dhchap_dhgroups", r->dhchap_dhgroups, false, &o->dhchap_dhgroups,
				err, err_len)) != 0 ||
	    (rc = spio_json_object_foreach(r->multipath_opts, check_multipath_member, &c)) != 0) {
		return rc;
	}
	o->timeout_us = r->timeout_us;
	o->timeout_admin_us = r->timeout_admin_us;
	o->keep_alive_timeout_ms = r->keep_alive_timeout_ms;
	o->arbitration_burst = r->arbitration_burst;
	o->low_priority_weight = r->low_priority_weight;
	o->medium_priority_weight = r->medium_priority_weight;
	o->high_priority_weight = r->high_priority_weight;
	o->nvme_adminq_poll_period_us = r->nvme_adminq_poll_period_us;
	o->nvme_ioq_poll_period_us = r->nvme_ioq_poll_period_us;
	o->io_queue_requests = r->io_queue_requests;
	o->delay_cmd_submit = r->delay_cmd_submit;
	o->transport_retry_count = r->transport_retry_count;
	o->bdev_retry_count = r->bdev_retry_count;
	o->transport_ack_timeout = (uint8_t)r->transport_ack_timeout;
	o->ctrlr_loss_timeout_sec = r->ctrlr_loss_timeout_sec;
	o->reconnect_delay_sec = r->reconnect_delay_sec;
	o->fast_io_fail_timeout_sec = r->fast_io_fail_timeout_sec;
	o->disable_auto_failback = r->disable_auto_failback;
	o->generate_uuids = r->generate_uuids;
	o->transport_tos = (uint8_t)r->transport_tos;
	o->nvme_error_stat = r->nvme_error_stat;
	o->rdma_srq_size = r->rdma_srq_size;
	o->io_path_stat = r->io_path_stat;
	o->allow_accel_sequence = r->allow_accel_sequence;
	o->rdma_max_cq_size = r->rdma_max_cq_size;
	o->rdma_cm_event_timeout_ms = (uint16_t)r->rdma_cm_event_timeout_ms;
	o->rdma_umr_per_io = r->rdma_umr_per_io;
	o->tcp_connect_timeout_ms = r->tcp_connect_timeout_ms;
	o->enable_flush = r->enable_flush;
	return 0;
}

/* As SPDK: what is not given keeps its current value. */
static void rpc_bdev_nvme_set_options(struct spio_jsonrpc_request *req,
				      const struct spio_json_val *params)
{
	struct spio_bdev_nvme_module_opts o;
	struct rpc_set_options r;
	char err[512] = "";
	int rc;

	spio_bdev_nvme_get_module_opts(&o, sizeof(o));
	r = (struct rpc_set_options){
	    .timeout_us = o.timeout_us,
	    .timeout_admin_us = o.timeout_admin_us,
	    .keep_alive_timeout_ms = o.keep_alive_timeout_ms,
	    .arbitration_burst = o.arbitration_burst,
	    .low_priority_weight = o.low_priority_weight,
	    .medium_priority_weight = o.medium_priority_weight,
	    .high_priority_weight = o.high_priority_weight,
	    .nvme_adminq_poll_period_us = o.nvme_adminq_poll_period_us,
	    .nvme_ioq_poll_period_us = o.nvme_ioq_poll_period_us,
	    .io_queue_requests = o.io_queue_requests,
	    .delay_cmd_submit = o.delay_cmd_submit,
	    .transport_retry_count = o.transport_retry_count,
	    .bdev_retry_count = o.bdev_retry_count,
	    .transport_ack_timeout = o.transport_ack_timeout,
	    .ctrlr_loss_timeout_sec = o.ctrlr_loss_timeout_sec,
	    .reconnect_delay_sec = o.reconnect_delay_sec,
	    .fast_io_fail_timeout_sec = o.fast_io_fail_timeout_sec,
	    .disable_auto_failback = o.disable_auto_failback,
	    .generate_uuids = o.generate_uuids,
	    .transport_tos = o.transport_tos,
	    .nvme_error_stat = o.nvme_error_stat,
	    .rdma_srq_size = o.rdma_srq_size,
	    .io_path_stat = o.io_path_stat,
	    .allow_accel_sequence = o.allow_accel_sequence,
	    .rdma_max_cq_size = o.rdma_max_cq_size,
	    .rdma_cm_event_timeout_ms = o.rdma_cm_event_timeout_ms,
	    .rdma_umr_per_io = o.rdma_umr_per_io,
	    .tcp_connect_timeout_ms = o.tcp_connect_timeout_ms,
	    .enable_flush = o.enable_flush,
	};
	rc = spio_rpc_decode_params(params, g_set_options_decoders,
				    SPIO_COUNTOF(g_set_options_decoders), &r, err, sizeof(err));
	if (rc != 0) {
		rc = SPIO_JSONRPC_ERROR_INVALID_PARAMS;
	} else {
		rc = set_options_from_rpc(&o, &r, err, sizeof(err));
	}
	if (rc == 0) {
		rc = spio_bdev_nvme_set_module_opts(&o, err, sizeof(err));
	}
	if (rc != 0) {
		spio_jsonrpc_send_error_response(req, rc, err);
	} else {
		spio_jsonrpc_send_bool_response(req, true);
	}
	spio_rpc_params_free(g_set_options_decoders, SPIO_COUNTOF(g_set_options_decoders), &r);
}
SPIO_RPC_REGISTER("bdev_nvme_set_options", rpc_bdev_nvme_set_options,
		  SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

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
