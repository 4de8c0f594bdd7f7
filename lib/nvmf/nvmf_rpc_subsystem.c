/*
 * SPDK's nvmf_subsystem_* methods: namespaces, listeners, hosts and the
 * getters of one subsystem (controllers, queue pairs, listeners). Error
 * codes are SPDK's; the messages say more where spio knows more.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvmf_rpc.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/util.h"

/*
 * nvmf_subsystem_add_ns / _remove_ns
 */

struct add_ns_ctx {
	struct spio_jsonrpc_request *req;
	struct nvmf_rpc_ns_params p;
};

static void free_add_ns(struct add_ns_ctx *c)
{
	nvmf_rpc_ns_params_free(&c->p);
	free(c);
}

/* SPDK answers every refusal with -32602, a subsystem busy elsewhere with -32603. */
static void send_ns_error(struct spio_jsonrpc_request *req, const struct nvmf_rpc_ns_params *p,
			  int rc)
{
	const char *bdev = p->bdev_name;
	const char *nqn = p->nqn;

	switch (rc) {
	case -ENODEV:
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     "Unable to add namespace: no bdev named %s",
						     bdev);
		break;
	case -EEXIST:
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "Unable to add namespace: %s already has namespace %" PRIu32, nqn,
		    p->opts.nsid);
		break;
	case -ENOSPC:
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "Unable to add namespace: %s has no free namespace ID (max_namespaces)", nqn);
		break;
	case -EPERM:
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "Unable to add namespace: bdev %s is claimed or open for writing elsewhere",
		    bdev);
		break;
	case -EINVAL:
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "Unable to add namespace: invalid namespace ID %" PRIu32 " for %s",
		    p->opts.nsid, nqn);
		break;
	case -EBUSY:
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
		    "Unable to add namespace: another change of %s is under way", nqn);
		break;
	default:
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "Unable to add namespace: %s", strerror(-rc));
		break;
	}
}

static void ns_added(void *cb_arg, uint32_t nsid, int status)
{
	struct add_ns_ctx *c = cb_arg;
	struct spio_json_write_ctx *w;

	if (status != 0) {
		send_ns_error(c->req, &c->p, status);
	} else if ((w = spio_jsonrpc_begin_result(c->req)) != NULL) {
		spio_json_write_uint32(w, nsid);
		spio_jsonrpc_end_result(c->req, w);
	}
	free_add_ns(c);
}

static void add_ns_cont(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt, int status,
			void *ctx)
{
	struct add_ns_ctx *c = ctx;
	struct spio_nvmf_subsystem *s;
	int rc;

	if (status != 0) {
		nvmf_rpc_send_tgt_error(req, c->p.tgt_name, status);
		free_add_ns(c);
		return;
	}
	s = nvmf_rpc_find_subsystem(req, tgt, c->p.nqn);
	if (s == NULL) {
		free_add_ns(c);
		return;
	}
	rc = spio_nvmf_subsystem_add_ns(s, c->p.bdev_name, &c->p.opts, ns_added, c);
	if (rc != 0) {
		send_ns_error(req, &c->p, rc);
		free_add_ns(c);
	}
}

static void rpc_nvmf_subsystem_add_ns(struct spio_jsonrpc_request *req,
				      const struct spio_json_val *params)
{
	struct add_ns_ctx *c = calloc(1, sizeof(*c));
	char err[256];

	if (c == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Out of memory");
		return;
	}
	c->req = req;
	if (nvmf_rpc_decode_add_ns(params, &c->p, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		free_add_ns(c);
		return;
	}
	nvmf_rpc_with_tgt(req, c->p.tgt_name, add_ns_cont, c);
}
SPIO_RPC_REGISTER("nvmf_subsystem_add_ns", rpc_nvmf_subsystem_add_ns, SPIO_RPC_RUNTIME)

struct remove_ns_params {
	struct spio_jsonrpc_request *req;
	char *nqn;
	uint32_t nsid;
	char *tgt_name;
};

static const struct spio_rpc_param g_remove_ns_decoders[] = {
    {"nqn", SPIO_RPC_PARAM_STRING, offsetof(struct remove_ns_params, nqn), false},
    {"nsid", SPIO_RPC_PARAM_UINT32, offsetof(struct remove_ns_params, nsid), false},
    {"tgt_name", SPIO_RPC_PARAM_STRING, offsetof(struct remove_ns_params, tgt_name), true},
};

static void free_remove_ns(struct remove_ns_params *p)
{
	spio_rpc_params_free(g_remove_ns_decoders, SPIO_COUNTOF(g_remove_ns_decoders), p);
	free(p);
}

static void ns_removed(void *cb_arg, int status)
{
	struct remove_ns_params *p = cb_arg;

	if (status != 0) {
		spio_jsonrpc_send_error_response_fmt(p->req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "Unable to remove namespace %" PRIu32 ": %s",
						     p->nsid, strerror(-status));
	} else {
		spio_jsonrpc_send_bool_response(p->req, true);
	}
	free_remove_ns(p);
}

static void remove_ns_cont(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt, int status,
			   void *ctx)
{
	struct remove_ns_params *p = ctx;
	struct spio_nvmf_subsystem *s;
	int rc;

	if (status != 0) {
		nvmf_rpc_send_tgt_error(req, p->tgt_name, status);
		free_remove_ns(p);
		return;
	}
	s = nvmf_rpc_find_subsystem(req, tgt, p->nqn);
	if (s == NULL) {
		free_remove_ns(p);
		return;
	}
	rc = spio_nvmf_subsystem_remove_ns(s, p->nsid, ns_removed, p);
	if (rc == -EBUSY) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
		    "Unable to remove namespace: another change of %s is under way", p->nqn);
	} else if (rc != 0) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     "%s has no namespace %" PRIu32, p->nqn,
						     p->nsid);
	}
	if (rc != 0) {
		free_remove_ns(p);
	}
}

static void rpc_nvmf_subsystem_remove_ns(struct spio_jsonrpc_request *req,
					 const struct spio_json_val *params)
{
	struct remove_ns_params *p = calloc(1, sizeof(*p));
	char err[256];

	if (p == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Out of memory");
		return;
	}
	if (spio_rpc_decode_params(params, g_remove_ns_decoders, SPIO_COUNTOF(g_remove_ns_decoders),
				   p, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		free_remove_ns(p);
		return;
	}
	p->req = req;
	nvmf_rpc_with_tgt(req, p->tgt_name, remove_ns_cont, p);
}
SPIO_RPC_REGISTER("nvmf_subsystem_remove_ns", rpc_nvmf_subsystem_remove_ns, SPIO_RPC_RUNTIME)

/*
 * nvmf_subsystem_add_listener / _remove_listener
 */

struct listener_ctx {
	bool add;
	struct nvmf_rpc_listener_params p;
};

static void free_listener(struct listener_ctx *c)
{
	nvmf_rpc_listener_params_free(&c->p);
	free(c);
}

/* How to reach what now listens: the line spio_tgt users copy. */
static void log_listening(struct spio_nvmf_subsystem *s, const struct spio_nvme_transport_id *t)
{
	const char *nqn = spio_nvmf_subsystem_get_nqn(s);

	if (spio_nvmf_subsystem_get_type(s) == SPIO_NVMF_SUBTYPE_NVME_SUBSYS) {
		SPIO_NOTICELOG("nvmf: %s listens on %s %s port %s; connect with: nvme connect -t "
			       "tcp -a %s -s %s -n %s\n",
			       nqn, t->trstring, t->traddr, t->trsvcid, t->traddr, t->trsvcid, nqn);
	} else {
		SPIO_NOTICELOG(
		    "nvmf: discovery listens on %s %s port %s; list the subsystems with: "
		    "nvme discover -t tcp -a %s -s %s\n",
		    t->trstring, t->traddr, t->trsvcid, t->traddr, t->trsvcid);
	}
}

static void listener_cont(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt, int status,
			  void *ctx)
{
	struct listener_ctx *c = ctx;
	const struct spio_nvme_transport_id *t = &c->p.trid;
	struct spio_nvmf_subsystem *s;
	int rc;

	if (status != 0) {
		nvmf_rpc_send_tgt_error(req, c->p.tgt_name, status);
		goto out;
	}
	s = nvmf_rpc_find_subsystem(req, tgt, c->p.nqn);
	if (s == NULL) {
		goto out;
	}
	if (spio_nvmf_tgt_get_transport(tgt, t->trstring) == NULL) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "Unable to find %s transport: create it first (nvmf_create_transport)",
		    t->trstring);
		goto out;
	}
	rc = c->add ? spio_nvmf_subsystem_add_listener(s, t)
		    : spio_nvmf_subsystem_remove_listener(s, t);
	if (rc != 0) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, "%s %s %s port %s: %s", c->p.nqn,
		    c->add ? "cannot listen on" : "does not listen on", t->traddr, t->trsvcid,
		    rc == -EEXIST   ? "it listens there already"
		    : rc == -ENOENT ? "no such listener"
				    : strerror(-rc));
		goto out;
	}
	if (c->add) {
		log_listening(s, t);
	}
	spio_jsonrpc_send_bool_response(req, true);
out:
	free_listener(c);
}

static void listener_rpc(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			 bool add)
{
	struct listener_ctx *c = calloc(1, sizeof(*c));
	char err[256];

	if (c == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Out of memory");
		return;
	}
	c->add = add;
	if (nvmf_rpc_decode_listener(params, add, &c->p, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		free_listener(c);
		return;
	}
	nvmf_rpc_with_tgt(req, c->p.tgt_name, listener_cont, c);
}

static void rpc_nvmf_subsystem_add_listener(struct spio_jsonrpc_request *req,
					    const struct spio_json_val *params)
{
	listener_rpc(req, params, true);
}
SPIO_RPC_REGISTER("nvmf_subsystem_add_listener", rpc_nvmf_subsystem_add_listener, SPIO_RPC_RUNTIME)

static void rpc_nvmf_subsystem_remove_listener(struct spio_jsonrpc_request *req,
					       const struct spio_json_val *params)
{
	listener_rpc(req, params, false);
}
SPIO_RPC_REGISTER("nvmf_subsystem_remove_listener", rpc_nvmf_subsystem_remove_listener,
		  SPIO_RPC_RUNTIME)

/*
 * nvmf_subsystem_add_host / _remove_host / _allow_any_host
 */

enum host_op {
	HOST_ADD,
	HOST_REMOVE,
	HOST_ALLOW_ANY,
};

struct host_params {
	enum host_op op;
	char *nqn;
	char *host;
	char *tgt_name;
	char *psk;
	char *dhchap_key;
	char *dhchap_ctrlr_key;
	uint64_t timeout_ms;
	bool allow_any_host;
};

#define HP(f) offsetof(struct host_params, f)
static const struct spio_rpc_param g_add_host_decoders[] = {
    {"nqn", SPIO_RPC_PARAM_STRING, HP(nqn), false},
    {"host", SPIO_RPC_PARAM_STRING, HP(host), false},
    {"tgt_name", SPIO_RPC_PARAM_STRING, HP(tgt_name), true},
    {"psk", SPIO_RPC_PARAM_STRING, HP(psk), true},
    {"dhchap_key", SPIO_RPC_PARAM_STRING, HP(dhchap_key), true},
    {"dhchap_ctrlr_key", SPIO_RPC_PARAM_STRING, HP(dhchap_ctrlr_key), true},
};

/* timeout_ms bounds SPDK's wait for a removed host's I/O; spio's wait ends with the I/O. */
static const struct spio_rpc_param g_remove_host_decoders[] = {
    {"nqn", SPIO_RPC_PARAM_STRING, HP(nqn), false},
    {"host", SPIO_RPC_PARAM_STRING, HP(host), false},
    {"tgt_name", SPIO_RPC_PARAM_STRING, HP(tgt_name), true},
    {"timeout_ms", SPIO_RPC_PARAM_UINT64, HP(timeout_ms), true},
};

static const struct spio_rpc_param g_allow_any_host_decoders[] = {
    {"nqn", SPIO_RPC_PARAM_STRING, HP(nqn), false},
    {"allow_any_host", SPIO_RPC_PARAM_BOOL, HP(allow_any_host), false},
    {"tgt_name", SPIO_RPC_PARAM_STRING, HP(tgt_name), true},
};
#undef HP

static void free_host(struct host_params *p)
{
	/* g_add_host_decoders names every string of the struct. */
	spio_rpc_params_free(g_add_host_decoders, SPIO_COUNTOF(g_add_host_decoders), p);
	free(p);
}

static void host_cont(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt, int status,
		      void *ctx)
{
	struct host_params *p = ctx;
	struct spio_nvmf_subsystem *s;
	int rc = 0;

	if (status != 0) {
		nvmf_rpc_send_tgt_error(req, p->tgt_name, status);
		goto out;
	}
	s = nvmf_rpc_find_subsystem(req, tgt, p->nqn);
	if (s == NULL) {
		goto out;
	}
	switch (p->op) {
	case HOST_ADD:
		rc = spio_nvmf_subsystem_add_host(s, p->host);
		break;
	case HOST_REMOVE:
		rc = spio_nvmf_subsystem_remove_host(s, p->host);
		break;
	case HOST_ALLOW_ANY:
		spio_nvmf_subsystem_set_allow_any_host(s, p->allow_any_host);
		break;
	}
	if (rc != 0) {
		/* SPDK answers -32603 whatever went wrong. */
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "%s: host %s %s", p->nqn, p->host,
						     rc == -EEXIST   ? "is already allowed"
						     : rc == -ENOENT ? "is not in the allowed list"
						     : rc == -EINVAL ? "is not a valid NQN"
								     : strerror(-rc));
		goto out;
	}
	spio_jsonrpc_send_bool_response(req, true);
out:
	free_host(p);
}

static void host_rpc(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
		     enum host_op op, const struct spio_rpc_param *decoders, size_t n)
{
	struct host_params *p = calloc(1, sizeof(*p));
	char err[256];

	if (p == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Out of memory");
		return;
	}
	p->op = op;
	if (spio_rpc_decode_params(params, decoders, n, p, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		free_host(p);
		return;
	}
	if (p->psk != NULL) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     "psk %s: spio has no TLS (no keyring)",
						     p->psk);
		free_host(p);
		return;
	}
	if (p->dhchap_key != NULL || p->dhchap_ctrlr_key != NULL) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "%s %s: spio has no DH-HMAC-CHAP authentication",
		    p->dhchap_key != NULL ? "dhchap_key" : "dhchap_ctrlr_key",
		    p->dhchap_key != NULL ? p->dhchap_key : p->dhchap_ctrlr_key);
		free_host(p);
		return;
	}
	nvmf_rpc_with_tgt(req, p->tgt_name, host_cont, p);
}

static void rpc_nvmf_subsystem_add_host(struct spio_jsonrpc_request *req,
					const struct spio_json_val *params)
{
	host_rpc(req, params, HOST_ADD, g_add_host_decoders, SPIO_COUNTOF(g_add_host_decoders));
}
SPIO_RPC_REGISTER("nvmf_subsystem_add_host", rpc_nvmf_subsystem_add_host, SPIO_RPC_RUNTIME)

static void rpc_nvmf_subsystem_remove_host(struct spio_jsonrpc_request *req,
					   const struct spio_json_val *params)
{
	host_rpc(req, params, HOST_REMOVE, g_remove_host_decoders,
		 SPIO_COUNTOF(g_remove_host_decoders));
}
SPIO_RPC_REGISTER("nvmf_subsystem_remove_host", rpc_nvmf_subsystem_remove_host, SPIO_RPC_RUNTIME)

static void rpc_nvmf_subsystem_allow_any_host(struct spio_jsonrpc_request *req,
					      const struct spio_json_val *params)
{
	host_rpc(req, params, HOST_ALLOW_ANY, g_allow_any_host_decoders,
		 SPIO_COUNTOF(g_allow_any_host_decoders));
}
SPIO_RPC_REGISTER("nvmf_subsystem_allow_any_host", rpc_nvmf_subsystem_allow_any_host,
		  SPIO_RPC_RUNTIME)

/*
 * nvmf_subsystem_get_controllers / _get_qpairs / _get_listeners
 */

enum get_what {
	GET_CONTROLLERS,
	GET_QPAIRS,
	GET_LISTENERS,
};

struct get_params {
	struct spio_jsonrpc_request *req;
	enum get_what what;
	char *nqn;
	char *tgt_name;
};

static const struct spio_rpc_param g_get_decoders[] = {
    {"nqn", SPIO_RPC_PARAM_STRING, offsetof(struct get_params, nqn), false},
    {"tgt_name", SPIO_RPC_PARAM_STRING, offsetof(struct get_params, tgt_name), true},
};

static void free_get(struct get_params *p)
{
	spio_rpc_params_free(g_get_decoders, SPIO_COUNTOF(g_get_decoders), p);
	free(p);
}

static void write_controllers(struct spio_json_write_ctx *w, struct spio_nvmf_subsystem *s)
{
	struct spio_nvmf_ctrlr_info *infos = NULL;
	uint32_t n = spio_nvmf_subsystem_get_ctrlrs(s, NULL, 0);

	if (n != 0) {
		infos = calloc(n, sizeof(*infos));
		/* The count cannot grow in between: same thread, no await. */
		n = infos != NULL ? spio_nvmf_subsystem_get_ctrlrs(s, infos, n) : 0;
	}
	spio_json_write_array_begin(w);
	for (uint32_t i = 0; i < n; i++) {
		spio_json_write_object_begin(w);
		spio_json_write_named_uint32(w, "cntlid", infos[i].cntlid);
		spio_json_write_named_string(w, "cntrltype", infos[i].cntrltype);
		spio_json_write_named_string(w, "hostnqn", infos[i].hostnqn);
		spio_json_write_named_uuid(w, "hostid", &infos[i].hostid);
		/* SPDK counts every connected queue here, the admin queue too. */
		spio_json_write_named_uint32(w, "num_io_qpairs", infos[i].num_io_qpairs + 1);
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
	free(infos);
}

static void write_listeners(struct spio_json_write_ctx *w, struct spio_nvmf_subsystem *s)
{
	spio_json_write_array_begin(w);
	for (struct spio_nvmf_subsystem_listener *l = spio_nvmf_subsystem_get_first_listener(s);
	     l != NULL; l = spio_nvmf_subsystem_get_next_listener(s, l)) {
		spio_json_write_object_begin(w);
		spio_json_write_named_object_begin(w, "address");
		nvmf_rpc_write_trid(w, spio_nvmf_subsystem_listener_get_trid(l));
		spio_json_write_object_end(w);
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
}

static void qpairs_gathered(void *cb_arg, const struct spio_nvmf_qpair_info *qpairs, uint32_t count,
			    int status)
{
	struct get_params *p = cb_arg;
	struct spio_json_write_ctx *w;

	if (status != 0) {
		spio_jsonrpc_send_error_response_fmt(p->req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "Cannot gather the queue pairs of %s: %s",
						     p->nqn, strerror(-status));
		goto out;
	}
	w = spio_jsonrpc_begin_result(p->req);
	if (w == NULL) {
		goto out;
	}
	spio_json_write_array_begin(w);
	for (uint32_t i = 0; i < count; i++) {
		const struct spio_nvmf_qpair_info *q = &qpairs[i];

		spio_json_write_object_begin(w);
		spio_json_write_named_uint32(w, "cntlid", q->cntlid);
		spio_json_write_named_uint32(w, "qid", q->qid);
		spio_json_write_named_string(w, "state", q->state);
		spio_json_write_named_string(w, "thread", q->thread);
		spio_json_write_named_string(w, "hostnqn", q->hostnqn);
		spio_json_write_named_object_begin(w, "listen_address");
		nvmf_rpc_write_trid(w, &q->listen_trid);
		spio_json_write_object_end(w);
		spio_json_write_named_object_begin(w, "peer_address");
		nvmf_rpc_write_trid(w, &q->peer_trid);
		spio_json_write_object_end(w);
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
	spio_jsonrpc_end_result(p->req, w);
out:
	free_get(p);
}

static void get_cont(struct spio_jsonrpc_request *req, struct spio_nvmf_tgt *tgt, int status,
		     void *ctx)
{
	struct get_params *p = ctx;
	struct spio_json_write_ctx *w;
	struct spio_nvmf_subsystem *s;
	int rc;

	if (status != 0) {
		nvmf_rpc_send_tgt_error(req, p->tgt_name, status);
		goto out;
	}
	s = nvmf_rpc_find_subsystem(req, tgt, p->nqn);
	if (s == NULL) {
		goto out;
	}
	if (p->what == GET_QPAIRS) {
		rc = spio_nvmf_subsystem_get_qpairs(s, qpairs_gathered, p);
		if (rc == 0) {
			return;
		}
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "Cannot gather the queue pairs of %s: %s",
						     p->nqn, strerror(-rc));
		goto out;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		goto out;
	}
	if (p->what == GET_CONTROLLERS) {
		write_controllers(w, s);
	} else {
		write_listeners(w, s);
	}
	spio_jsonrpc_end_result(req, w);
out:
	free_get(p);
}

static void get_rpc(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
		    enum get_what what)
{
	struct get_params *p = calloc(1, sizeof(*p));
	char err[256];

	if (p == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Out of memory");
		return;
	}
	if (spio_rpc_decode_params(params, g_get_decoders, SPIO_COUNTOF(g_get_decoders), p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		free_get(p);
		return;
	}
	p->req = req;
	p->what = what;
	nvmf_rpc_with_tgt(req, p->tgt_name, get_cont, p);
}

static void rpc_nvmf_subsystem_get_controllers(struct spio_jsonrpc_request *req,
					       const struct spio_json_val *params)
{
	get_rpc(req, params, GET_CONTROLLERS);
}
SPIO_RPC_REGISTER("nvmf_subsystem_get_controllers", rpc_nvmf_subsystem_get_controllers,
		  SPIO_RPC_RUNTIME)

static void rpc_nvmf_subsystem_get_qpairs(struct spio_jsonrpc_request *req,
					  const struct spio_json_val *params)
{
	get_rpc(req, params, GET_QPAIRS);
}
SPIO_RPC_REGISTER("nvmf_subsystem_get_qpairs", rpc_nvmf_subsystem_get_qpairs, SPIO_RPC_RUNTIME)

static void rpc_nvmf_subsystem_get_listeners(struct spio_jsonrpc_request *req,
					     const struct spio_json_val *params)
{
	get_rpc(req, params, GET_LISTENERS);
}
SPIO_RPC_REGISTER("nvmf_subsystem_get_listeners", rpc_nvmf_subsystem_get_listeners,
		  SPIO_RPC_RUNTIME)
