/*
 * SPDK's target-level nvmf_* methods: nvmf_create_transport,
 * nvmf_get_transports, nvmf_create_subsystem, nvmf_delete_subsystem,
 * nvmf_get_subsystems, nvmf_get_stats. Error codes are SPDK's; the messages
 * say more than SPDK's "Invalid parameters" where spio knows more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvmf_rpc.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/util.h"

/*
 * nvmf_create_transport
 */

static void create_transport_cont(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt,
				  int status, void *ctx)
{
	struct nvmf_rpc_transport_params *p = ctx;
	int rc;

	if (status != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Unable to find a target.");
		goto out;
	}
	if (spio_nvmf_tgt_get_transport(tgt, p->trtype) != NULL) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "Transport type '%s' already exists",
						     p->trtype);
		goto out;
	}
	rc = spio_nvmf_tgt_add_transport(tgt, p->trtype, &p->opts);
	if (rc != 0) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR, "Transport type '%s' create failed: %s",
		    p->trtype,
		    rc == -EINVAL ? "invalid options (see the target's log)" : strerror(-rc));
		goto out;
	}
	spio_jsonrpc_send_bool_response(req, true);
out:
	nvmf_rpc_transport_params_free(p);
	free(p);
}

static void rpc_nvmf_create_transport(struct spio_jsonrpc_request *req,
				      const struct spio_json_val *params)
{
	struct nvmf_rpc_transport_params *p = calloc(1, sizeof(*p));
	char err[256];

	if (p == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Out of memory");
		return;
	}
	if (nvmf_rpc_decode_create_transport(params, p, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		nvmf_rpc_transport_params_free(p);
		free(p);
		return;
	}
	nvmf_rpc_with_tgt(req, p->tgt_name, create_transport_cont, p);
}
SPIO_RPC_REGISTER("nvmf_create_transport", rpc_nvmf_create_transport, SPIO_RPC_RUNTIME)

/*
 * nvmf_get_transports
 */

struct get_transports_params {
	char *tgt_name;
	char *trtype;
};

static const struct spio_rpc_param g_get_transports_decoders[] = {
    {"tgt_name", SPIO_RPC_PARAM_STRING, offsetof(struct get_transports_params, tgt_name), true},
    {"trtype", SPIO_RPC_PARAM_STRING, offsetof(struct get_transports_params, trtype), true},
};

static void free_get_transports(struct get_transports_params *p)
{
	spio_rpc_params_free(g_get_transports_decoders, SPIO_COUNTOF(g_get_transports_decoders), p);
	free(p);
}

static void write_transport(struct spio_json_write_ctx *w, struct spio_nvmf_transport *t)
{
	spio_json_write_object_begin(w);
	nvmf_rpc_write_transport_opts(w, spio_nvmf_transport_get_name(t),
				      spio_nvmf_transport_get_opts(t));
	spio_json_write_object_end(w);
}

static void get_transports_cont(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt,
				int status, void *ctx)
{
	struct get_transports_params *p = ctx;
	struct spio_nvmf_transport *t = NULL;
	struct spio_json_write_ctx *w;

	if (status != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Unable to find a target.");
		goto out;
	}
	if (p->trtype != NULL) {
		t = spio_nvmf_tgt_get_transport(tgt, p->trtype);
		if (t == NULL) {
			/* SPDK answers with -ENODEV as the code. */
			spio_jsonrpc_send_error_response(req, -ENODEV, strerror(ENODEV));
			goto out;
		}
	}
	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		goto out;
	}
	spio_json_write_array_begin(w);
	if (t != NULL) {
		write_transport(w, t);
	} else {
		for (t = spio_nvmf_transport_get_first(tgt); t != NULL;
		     t = spio_nvmf_transport_get_next(t)) {
			write_transport(w, t);
		}
	}
	spio_json_write_array_end(w);
	spio_jsonrpc_end_result(req, w);
out:
	free_get_transports(p);
}

static void rpc_nvmf_get_transports(struct spio_jsonrpc_request *req,
				    const struct spio_json_val *params)
{
	struct get_transports_params *p = calloc(1, sizeof(*p));
	char err[256];

	if (p == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Out of memory");
		return;
	}
	if (spio_rpc_decode_params(params, g_get_transports_decoders,
				   SPIO_COUNTOF(g_get_transports_decoders), p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		free_get_transports(p);
		return;
	}
	nvmf_rpc_with_tgt(req, p->tgt_name, get_transports_cont, p);
}
SPIO_RPC_REGISTER("nvmf_get_transports", rpc_nvmf_get_transports, SPIO_RPC_RUNTIME)

/*
 * nvmf_create_subsystem
 */

static void free_subsystem_params(struct nvmf_rpc_subsystem_params *p)
{
	nvmf_rpc_subsystem_params_free(p);
	free(p);
}

static const char *create_error(int err)
{
	switch (err) {
	case EEXIST:
		return "a subsystem with that NQN exists";
	case EINVAL:
		return "invalid NQN";
	case ENOSPC:
		return "max_subsystems reached (nvmf_set_max_subsystems)";
	default:
		return strerror(err);
	}
}

static void create_subsystem_cont(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt,
				  int status, void *ctx)
{
	struct nvmf_rpc_subsystem_params *p = ctx;
	struct spio_nvmf_subsystem *s;

	if (status != 0) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "Unable to find target %s",
						     p->tgt_name != NULL ? p->tgt_name : "");
		goto out;
	}
	s = spio_nvmf_subsystem_create(tgt, p->nqn, p->max_namespaces);
	if (s == NULL) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "Unable to create subsystem %s: %s", p->nqn,
						     create_error(errno));
		goto out;
	}
	/* The decoder checked them as the core does: these do not fail. */
	if ((p->serial_number != NULL && spio_nvmf_subsystem_set_sn(s, p->serial_number) != 0) ||
	    (p->model_number != NULL && spio_nvmf_subsystem_set_mn(s, p->model_number) != 0) ||
	    spio_nvmf_subsystem_set_cntlid_range(s, p->min_cntlid, p->max_cntlid) != 0) {
		spio_nvmf_subsystem_destroy(s, NULL, NULL);
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						 "Invalid parameters");
		goto out;
	}
	spio_nvmf_subsystem_set_allow_any_host(s, p->allow_any_host);
	spio_jsonrpc_send_bool_response(req, true);
out:
	free_subsystem_params(p);
}

static void rpc_nvmf_create_subsystem(struct spio_jsonrpc_request *req,
				      const struct spio_json_val *params)
{
	struct nvmf_rpc_subsystem_params *p = calloc(1, sizeof(*p));
	char err[256];

	if (p == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Out of memory");
		return;
	}
	if (nvmf_rpc_decode_create_subsystem(params, p, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		free_subsystem_params(p);
		return;
	}
	nvmf_rpc_with_tgt(req, p->tgt_name, create_subsystem_cont, p);
}
SPIO_RPC_REGISTER("nvmf_create_subsystem", rpc_nvmf_create_subsystem, SPIO_RPC_RUNTIME)

/*
 * nvmf_delete_subsystem, nvmf_get_subsystems: a subsystem NQN and a target
 */

struct nqn_params {
	struct spio_jsonrpc_request *req;
	char *nqn;
	char *tgt_name;
};

static const struct spio_rpc_param g_nqn_decoders[] = {
    {"nqn", SPIO_RPC_PARAM_STRING, offsetof(struct nqn_params, nqn), false},
    {"tgt_name", SPIO_RPC_PARAM_STRING, offsetof(struct nqn_params, tgt_name), true},
};

static void free_nqn_params(struct nqn_params *p)
{
	spio_rpc_params_free(g_nqn_decoders, SPIO_COUNTOF(g_nqn_decoders), p);
	free(p);
}

/* Decode {nqn, tgt_name}; `nqn_optional` for nvmf_get_subsystems. NULL: answered. */
static struct nqn_params *decode_nqn_params(struct spio_jsonrpc_request *req,
					    const struct spio_json_val *params, bool nqn_optional)
{
	struct spio_rpc_param decoders[SPIO_COUNTOF(g_nqn_decoders)];
	struct nqn_params *p = calloc(1, sizeof(*p));
	char err[256];

	if (p == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Out of memory");
		return NULL;
	}
	memcpy(decoders, g_nqn_decoders, sizeof(decoders));
	decoders[0].optional = nqn_optional;
	if (spio_rpc_decode_params(params, decoders, SPIO_COUNTOF(decoders), p, err, sizeof(err)) !=
	    0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		free_nqn_params(p);
		return NULL;
	}
	p->req = req;
	return p;
}

static void subsystem_deleted(void *cb_arg, int status)
{
	struct nqn_params *p = cb_arg;

	if (status != 0) {
		spio_jsonrpc_send_error_response_fmt(p->req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "Subsystem destruction failed, rc %d", status);
	} else {
		spio_jsonrpc_send_bool_response(p->req, true);
	}
	free_nqn_params(p);
}

static void delete_subsystem_cont(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt,
				  int status, void *ctx)
{
	struct nqn_params *p = ctx;
	struct spio_nvmf_subsystem *s;
	int rc;

	if (status != 0) {
		nvmf_rpc_send_tgt_error(req, p->tgt_name, status);
		free_nqn_params(p);
		return;
	}
	s = nvmf_rpc_find_subsystem(req, tgt, p->nqn);
	if (s == NULL) {
		free_nqn_params(p);
		return;
	}
	rc = spio_nvmf_subsystem_destroy(s, subsystem_deleted, p);
	if (rc != 0) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR, "%s",
		    rc == -EBUSY   ? "Subsystem is already being destroyed or changed."
		    : rc == -EPERM ? "The discovery subsystem cannot be deleted."
				   : strerror(-rc));
		free_nqn_params(p);
	}
}

static void rpc_nvmf_delete_subsystem(struct spio_jsonrpc_request *req,
				      const struct spio_json_val *params)
{
	struct nqn_params *p = decode_nqn_params(req, params, false);

	if (p != NULL) {
		nvmf_rpc_with_tgt(req, p->tgt_name, delete_subsystem_cont, p);
	}
}
SPIO_RPC_REGISTER("nvmf_delete_subsystem", rpc_nvmf_delete_subsystem, SPIO_RPC_RUNTIME)

static void get_subsystems_cont(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt,
				int status, void *ctx)
{
	struct nqn_params *p = ctx;
	struct spio_nvmf_subsystem *s = NULL;
	struct spio_json_write_ctx *w;

	if (status != 0) {
		nvmf_rpc_send_tgt_error(req, p->tgt_name, status);
		goto out;
	}
	if (p->nqn != NULL && (s = nvmf_rpc_find_subsystem(req, tgt, p->nqn)) == NULL) {
		goto out;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		goto out;
	}
	spio_json_write_array_begin(w);
	if (s != NULL) {
		spio_nvmf_subsystem_write_json(s, w);
	} else {
		for (s = spio_nvmf_subsystem_get_first(tgt); s != NULL;
		     s = spio_nvmf_subsystem_get_next(s)) {
			spio_nvmf_subsystem_write_json(s, w);
		}
	}
	spio_json_write_array_end(w);
	spio_jsonrpc_end_result(req, w);
out:
	free_nqn_params(p);
}

static void rpc_nvmf_get_subsystems(struct spio_jsonrpc_request *req,
				    const struct spio_json_val *params)
{
	struct nqn_params *p = decode_nqn_params(req, params, true);

	if (p != NULL) {
		nvmf_rpc_with_tgt(req, p->tgt_name, get_subsystems_cont, p);
	}
}
SPIO_RPC_REGISTER("nvmf_get_subsystems", rpc_nvmf_get_subsystems, SPIO_RPC_RUNTIME)

/*
 * nvmf_get_stats
 */

struct get_stats_params {
	struct spio_jsonrpc_request *req;
	struct spio_nvmf_tgt *tgt;
	char *tgt_name;
};

static const struct spio_rpc_param g_get_stats_decoders[] = {
    {"tgt_name", SPIO_RPC_PARAM_STRING, offsetof(struct get_stats_params, tgt_name), true},
};

static void free_get_stats(struct get_stats_params *p)
{
	spio_rpc_params_free(g_get_stats_decoders, SPIO_COUNTOF(g_get_stats_decoders), p);
	free(p);
}

static void write_poll_group_stat(struct spio_json_write_ctx *w, struct spio_nvmf_tgt *tgt,
				  const struct spio_nvmf_poll_group_stat *st)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "name", st->name);
	spio_json_write_named_uint32(w, "admin_qpairs", st->admin_qpairs);
	spio_json_write_named_uint32(w, "io_qpairs", st->io_qpairs);
	spio_json_write_named_uint32(w, "current_admin_qpairs", st->current_admin_qpairs);
	spio_json_write_named_uint32(w, "current_io_qpairs", st->current_io_qpairs);
	spio_json_write_named_uint32(w, "current_unassociated_qpairs",
				     st->current_unassociated_qpairs);
	spio_json_write_named_uint64(w, "pending_bdev_io", st->pending_bdev_io);
	spio_json_write_named_uint64(w, "completed_nvme_io", st->completed_nvme_io);
	spio_json_write_named_array_begin(w, "transports");
	for (struct spio_nvmf_transport *t = spio_nvmf_transport_get_first(tgt); t != NULL;
	     t = spio_nvmf_transport_get_next(t)) {
		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "trtype", spio_nvmf_transport_get_name(t));
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
	spio_json_write_object_end(w);
}

static void stats_gathered(void *cb_arg, const struct spio_nvmf_poll_group_stat *stats,
			   uint32_t count, int status)
{
	struct get_stats_params *p = cb_arg;
	struct spio_json_write_ctx *w;

	if (status != 0) {
		spio_jsonrpc_send_error_response_fmt(
		    p->req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
		    "Cannot gather the poll groups' statistics: %s", strerror(-status));
		goto out;
	}
	w = spio_jsonrpc_begin_result(p->req);
	if (w == NULL) {
		goto out;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_uint64(w, "tick_rate", spio_get_ticks_hz());
	spio_json_write_named_array_begin(w, "poll_groups");
	for (uint32_t i = 0; i < count; i++) {
		write_poll_group_stat(w, p->tgt, &stats[i]);
	}
	spio_json_write_array_end(w);
	spio_json_write_object_end(w);
	spio_jsonrpc_end_result(p->req, w);
out:
	free_get_stats(p);
}

static void get_stats_cont(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt, int status,
			   void *ctx)
{
	struct get_stats_params *p = ctx;
	int rc;

	if (status != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Unable to find a target.");
		free_get_stats(p);
		return;
	}
	p->tgt = tgt;
	rc = spio_nvmf_tgt_get_stats(tgt, stats_gathered, p);
	if (rc != 0) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
		    "Cannot gather the poll groups' statistics: %s", strerror(-rc));
		free_get_stats(p);
	}
}

static void rpc_nvmf_get_stats(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct get_stats_params *p = calloc(1, sizeof(*p));
	char err[256];

	if (p == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Memory allocation error");
		return;
	}
	if (spio_rpc_decode_params(params, g_get_stats_decoders, SPIO_COUNTOF(g_get_stats_decoders),
				   p, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		free_get_stats(p);
		return;
	}
	p->req = req;
	nvmf_rpc_with_tgt(req, p->tgt_name, get_stats_cont, p);
}
SPIO_RPC_REGISTER("nvmf_get_stats", rpc_nvmf_get_stats, SPIO_RPC_RUNTIME)
