/*
 * The app framework's "nvmf" subsystem: the target the nvmf_* methods
 * configure (started by the first of them, see nvmf_rpc.h), its start-up
 * settings (nvmf_set_config, nvmf_set_max_subsystems, nvmf_set_crdt) and
 * its save_config entries, in SPDK's layout and order:
 *
 *   nvmf_set_config, nvmf_set_max_subsystems, nvmf_set_crdt,
 *   nvmf_create_transport (each), nvmf_create_subsystem (each NVM one),
 *   nvmf_subsystem_add_host (each), nvmf_subsystem_add_ns (each),
 *   nvmf_subsystem_add_listener (each, the discovery subsystem's too).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "nvmf_rpc.h"
#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/util.h"

enum tgt_state {
	TGT_NONE,
	TGT_STARTING,
	TGT_RUNNING,
	TGT_STOPPING, /* the app is stopping: no new target */
};

/* A method waiting for the target to start. */
struct tgt_waiter {
	struct spio_jsonrpc_request *req;
	nvmf_rpc_tgt_fn fn;
	void *ctx;
	TAILQ_ENTRY(tgt_waiter) link;
};

static struct {
	struct nvmf_rpc_conf conf;
	bool max_subsystems_set; /* SPDK takes nvmf_set_max_subsystems once */
	enum tgt_state state;
	struct spio_nvmf_tgt *tgt;
	TAILQ_HEAD(, tgt_waiter) waiters;
	bool fini_pending; /* the subsystem finishes once the start ended */
} g_nvmf = {
    .waiters = TAILQ_HEAD_INITIALIZER(g_nvmf.waiters),
};

/*
 * The target
 */

static void tgt_fini_done(void);

static void tgt_destroyed(void *cb_arg, int status)
{
	(void)cb_arg;
	if (status != 0) {
		SPIO_ERRLOG("nvmf: target destroy failed: %s\n", strerror(-status));
	}
	g_nvmf.tgt = NULL;
	tgt_fini_done();
}

/*
 * The settings belong to one app run. (A start-up that fails before the
 * subsystems start never gets here and leaves them for the next app of the
 * process: there is no hook for that, and spio_tgt runs one app.)
 */
static void tgt_fini_done(void)
{
	memset(&g_nvmf.conf, 0, sizeof(g_nvmf.conf));
	g_nvmf.max_subsystems_set = false;
	spio_subsystem_fini_next();
}

/* The subsystem's fini, once no start is pending. */
static void tgt_fini(void)
{
	int rc;

	g_nvmf.state = TGT_STOPPING;
	if (g_nvmf.tgt == NULL) {
		tgt_fini_done();
		return;
	}
	rc = spio_nvmf_tgt_destroy(g_nvmf.tgt, tgt_destroyed, NULL);
	if (rc != 0) {
		SPIO_ERRLOG("nvmf: cannot destroy the target: %s\n", strerror(-rc));
		g_nvmf.tgt = NULL;
		tgt_fini_done();
	}
}

static void tgt_started(void *cb_arg, struct spio_nvmf_tgt *tgt, int status)
{
	TAILQ_HEAD(, tgt_waiter) waiters = TAILQ_HEAD_INITIALIZER(waiters);
	struct tgt_waiter *w;

	(void)cb_arg;
	if (status != 0) {
		SPIO_ERRLOG("nvmf: the target did not start: %s\n", strerror(-status));
		g_nvmf.state = TGT_NONE;
	} else if (g_nvmf.fini_pending) {
		g_nvmf.tgt = tgt;
		status = -ESHUTDOWN;
	} else {
		g_nvmf.tgt = tgt;
		g_nvmf.state = TGT_RUNNING;
	}
	TAILQ_CONCAT(&waiters, &g_nvmf.waiters, link);
	while ((w = TAILQ_FIRST(&waiters)) != NULL) {
		TAILQ_REMOVE(&waiters, w, link);
		w->fn(w->req, status == 0 ? tgt : NULL, status, w->ctx);
		free(w);
	}
	if (g_nvmf.fini_pending) {
		g_nvmf.fini_pending = false;
		tgt_fini();
	}
}

static int tgt_start(void)
{
	struct spio_nvmf_tgt_opts opts;
	int rc;

	spio_nvmf_tgt_opts_init(&opts, sizeof(opts));
	snprintf(opts.name, sizeof(opts.name), "%s", NVMF_RPC_TGT_NAME);
	if (g_nvmf.conf.max_subsystems != 0) {
		opts.max_subsystems = g_nvmf.conf.max_subsystems;
	}
	if (g_nvmf.conf.poll_groups_mask_set) {
		opts.cpumask = g_nvmf.conf.poll_groups_mask;
	}
	rc = spio_nvmf_tgt_create(&opts, tgt_started, NULL);
	if (rc == 0) {
		g_nvmf.state = TGT_STARTING;
	}
	return rc;
}

void nvmf_rpc_with_tgt(struct spio_jsonrpc_request *req, const char *tgt_name, nvmf_rpc_tgt_fn fn,
		       void *ctx)
{
	struct tgt_waiter *w;
	int rc;

	if (tgt_name != NULL && strcmp(tgt_name, NVMF_RPC_TGT_NAME) != 0) {
		struct spio_nvmf_tgt *tgt = spio_nvmf_get_tgt(tgt_name);

		fn(req, tgt, tgt != NULL ? 0 : -ENOENT, ctx);
		return;
	}
	switch (g_nvmf.state) {
	case TGT_RUNNING:
		fn(req, g_nvmf.tgt, 0, ctx);
		return;
	case TGT_STOPPING:
		fn(req, NULL, -ESHUTDOWN, ctx);
		return;
	case TGT_NONE:
		rc = tgt_start();
		if (rc != 0) {
			SPIO_ERRLOG("nvmf: cannot start the target: %s\n", strerror(-rc));
			fn(req, NULL, rc, ctx);
			return;
		}
		break;
	case TGT_STARTING:
		break;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		fn(req, NULL, -ENOMEM, ctx);
		return;
	}
	w->req = req;
	w->fn = fn;
	w->ctx = ctx;
	TAILQ_INSERT_TAIL(&g_nvmf.waiters, w, link);
}

void nvmf_rpc_send_tgt_error(struct spio_jsonrpc_request *req, const char *tgt_name, int status)
{
	if (status == -ENOENT) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     "NVMf target '%s' not found",
						     tgt_name != NULL ? tgt_name : "");
		return;
	}
	spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
					     "the NVMe-oF target cannot start: %s",
					     strerror(status < 0 ? -status : status));
}

struct spio_nvmf_subsystem *nvmf_rpc_find_subsystem(struct spio_jsonrpc_request *req,
						    struct spio_nvmf_tgt *tgt, const char *nqn)
{
	struct spio_nvmf_subsystem *subsystem = spio_nvmf_tgt_find_subsystem(tgt, nqn);

	if (subsystem == NULL) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     "Subsystem with NQN '%s' not found", nqn);
	}
	return subsystem;
}

/*
 * nvmf_set_config, nvmf_set_max_subsystems, nvmf_set_crdt (start-up only)
 */

static void rpc_nvmf_set_config(struct spio_jsonrpc_request *req,
				const struct spio_json_val *params)
{
	char err[256];

	if (nvmf_rpc_decode_set_config(params, &g_nvmf.conf, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		return;
	}
	spio_jsonrpc_send_bool_response(req, true);
}
SPIO_RPC_REGISTER("nvmf_set_config", rpc_nvmf_set_config, SPIO_RPC_STARTUP)

struct max_subsystems_params {
	uint32_t max_subsystems;
};

static const struct spio_rpc_param g_max_subsystems_decoders[] = {
    {"max_subsystems", SPIO_RPC_PARAM_UINT32,
     offsetof(struct max_subsystems_params, max_subsystems), false},
};

static void rpc_nvmf_set_max_subsystems(struct spio_jsonrpc_request *req,
					const struct spio_json_val *params)
{
	struct max_subsystems_params p = {0};
	char err[256];

	if (g_nvmf.max_subsystems_set) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Must not call more than once");
		return;
	}
	if (spio_rpc_decode_params(params, g_max_subsystems_decoders,
				   SPIO_COUNTOF(g_max_subsystems_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		return;
	}
	if (p.max_subsystems == 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						 "Invalid parameter 'max_subsystems': 0");
		return;
	}
	g_nvmf.conf.max_subsystems = p.max_subsystems;
	g_nvmf.max_subsystems_set = true;
	spio_jsonrpc_send_bool_response(req, true);
}
SPIO_RPC_REGISTER("nvmf_set_max_subsystems", rpc_nvmf_set_max_subsystems, SPIO_RPC_STARTUP)

struct crdt_params {
	uint32_t crdt[3];
};

static const struct spio_rpc_param g_crdt_decoders[] = {
    {"crdt1", SPIO_RPC_PARAM_UINT32, offsetof(struct crdt_params, crdt[0]), true},
    {"crdt2", SPIO_RPC_PARAM_UINT32, offsetof(struct crdt_params, crdt[1]), true},
    {"crdt3", SPIO_RPC_PARAM_UINT32, offsetof(struct crdt_params, crdt[2]), true},
};

static void rpc_nvmf_set_crdt(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct crdt_params p = {0};
	char err[256];

	if (spio_rpc_decode_params(params, g_crdt_decoders, SPIO_COUNTOF(g_crdt_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		return;
	}
	for (int i = 0; i < 3; i++) {
		if (p.crdt[i] > UINT16_MAX) {
			spio_jsonrpc_send_error_response_fmt(
			    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
			    "Invalid parameter 'crdt%d': %u is above %u", i + 1, p.crdt[i],
			    UINT16_MAX);
			return;
		}
		/* spio never asks hosts to delay a retry (no DNR-less busy statuses). */
		if (p.crdt[i] != 0) {
			spio_jsonrpc_send_error_response_fmt(
			    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
			    "crdt%d %u: spio reports no command retry delay times (only SPDK's "
			    "default 0 is accepted)",
			    i + 1, p.crdt[i]);
			return;
		}
	}
	spio_jsonrpc_send_bool_response(req, true);
}
SPIO_RPC_REGISTER("nvmf_set_crdt", rpc_nvmf_set_crdt, SPIO_RPC_STARTUP)

/*
 * JSON
 */

static void write_set_config(struct spio_json_write_ctx *w)
{
	char mask[SPIO_CPUSET_STR_MAX];

	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "nvmf_set_config");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_array_begin(w, "discovery_filters");
	spio_json_write_array_end(w);
	spio_json_write_named_object_begin(w, "admin_cmd_passthru");
	for (size_t i = 0; i < NVMF_RPC_PASSTHRU_KEYS; i++) {
		spio_json_write_named_bool(w, g_nvmf_rpc_passthru_keys[i], false);
	}
	spio_json_write_object_end(w);
	if (g_nvmf.conf.poll_groups_mask_set) {
		/* SPDK writes the mask as bare hex digits. */
		spio_cpuset_fmt_hex(&g_nvmf.conf.poll_groups_mask, mask, sizeof(mask));
		spio_json_write_named_string(w, "poll_groups_mask",
					     strncmp(mask, "0x", 2) == 0 ? mask + 2 : mask);
	}
	spio_json_write_named_array_begin(w, "dhchap_digests");
	for (size_t i = 0; i < NVMF_RPC_DHCHAP_DIGESTS; i++) {
		spio_json_write_string(w, g_nvmf_rpc_dhchap_digests[i]);
	}
	spio_json_write_array_end(w);
	spio_json_write_named_array_begin(w, "dhchap_dhgroups");
	for (size_t i = 0; i < NVMF_RPC_DHCHAP_DHGROUPS; i++) {
		spio_json_write_string(w, g_nvmf_rpc_dhchap_dhgroups[i]);
	}
	spio_json_write_array_end(w);
	spio_json_write_named_string(w, "dup_host_policy", "allow");
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

static void write_target_settings(struct spio_json_write_ctx *w, uint32_t max_subsystems)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "nvmf_set_max_subsystems");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_uint32(w, "max_subsystems", max_subsystems);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);

	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "nvmf_set_crdt");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_uint32(w, "crdt1", 0);
	spio_json_write_named_uint32(w, "crdt2", 0);
	spio_json_write_named_uint32(w, "crdt3", 0);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

void nvmf_rpc_write_trid(struct spio_json_write_ctx *w, const struct spio_nvme_transport_id *trid)
{
	const char *adrfam = spio_nvme_transport_id_adrfam_str(trid->adrfam);

	spio_json_write_named_string(w, "trtype", trid->trstring);
	spio_json_write_named_string(w, "adrfam", adrfam != NULL ? adrfam : "unknown");
	spio_json_write_named_string(w, "traddr", trid->traddr);
	spio_json_write_named_string(w, "trsvcid", trid->trsvcid);
}

void nvmf_rpc_write_transport_opts(struct spio_json_write_ctx *w, const char *trtype,
				   const struct spio_nvmf_transport_opts *opts)
{
	struct spio_nvmf_transport_opts def;

	/* SPDK's members in SPDK's order; spio's own after, where not at their default. */
	spio_json_write_named_string(w, "trtype", trtype);
	spio_json_write_named_uint32(w, "max_queue_depth", opts->max_queue_depth);
	spio_json_write_named_uint32(w, "max_io_qpairs_per_ctrlr", opts->max_io_qpairs_per_ctrlr);
	spio_json_write_named_uint32(w, "in_capsule_data_size", opts->in_capsule_data_size);
	spio_json_write_named_uint32(w, "max_io_size", opts->max_io_size);
	spio_json_write_named_uint32(w, "max_aq_depth", opts->max_aq_depth);
	spio_json_write_named_uint32(w, "iobuf_small_cache_size", NVMF_RPC_IOBUF_CACHE_DEFAULT);
	spio_json_write_named_uint32(w, "iobuf_large_cache_size", NVMF_RPC_IOBUF_CACHE_DEFAULT);
	spio_json_write_named_bool(w, "dif_insert_or_strip", opts->dif_insert_or_strip);
	spio_json_write_named_bool(w, "zcopy", false);
	spio_json_write_named_bool(w, "c2h_success", opts->c2h_success);
	spio_json_write_named_uint32(w, "sock_priority", (uint32_t)opts->sock_priority);
	spio_json_write_named_uint32(w, "abort_timeout_sec", opts->abort_timeout_sec);
	spio_json_write_named_uint32(w, "ack_timeout", 0);
	spio_json_write_named_uint32(w, "data_wr_pool_size", 0);
	spio_json_write_named_bool(w, "disable_command_passthru", false);
	spio_json_write_named_uint32(w, "kas", NVMF_RPC_KAS_DEFAULT);
	spio_json_write_named_uint32(w, "min_kato", NVMF_RPC_MIN_KATO_DEFAULT);
	/*
	 * SPDK takes these (deprecated, for its iobuf pools) but writes none:
	 * spio's TCP transport sizes its buffers with them, so they are kept
	 * when changed.
	 */
	if (spio_nvmf_transport_opts_init(trtype, &def, sizeof(def)) != 0) {
		return;
	}
	if (opts->io_unit_size != def.io_unit_size) {
		spio_json_write_named_uint32(w, "io_unit_size", opts->io_unit_size);
	}
	if (opts->num_shared_buffers != def.num_shared_buffers) {
		spio_json_write_named_uint32(w, "num_shared_buffers", opts->num_shared_buffers);
	}
	if (opts->control_msg_num != def.control_msg_num) {
		spio_json_write_named_uint32(w, "control_msg_num", opts->control_msg_num);
	}
}

static void write_ns(struct spio_json_write_ctx *w, struct spio_nvmf_ns *ns, bool config)
{
	struct spio_nvmf_ns_opts opts;
	char hex[33];
	uint8_t eui[8];

	spio_nvmf_ns_get_opts(ns, &opts, sizeof(opts));
	if (config) {
		spio_json_write_named_uint32(w, "nsid", spio_nvmf_ns_get_id(ns));
	} else {
		spio_json_write_named_int32(w, "nsid", (int32_t)spio_nvmf_ns_get_id(ns));
	}
	spio_json_write_named_string(w, "bdev_name", spio_bdev_get_name(spio_nvmf_ns_get_bdev(ns)));
	if (!config) {
		/* SPDK keeps "name" beside bdev_name for old clients. */
		spio_json_write_named_string(w, "name",
					     spio_bdev_get_name(spio_nvmf_ns_get_bdev(ns)));
	}
	if (memcmp(opts.nguid, (uint8_t[sizeof(opts.nguid)]){0}, sizeof(opts.nguid)) != 0) {
		nvmf_rpc_fmt_hex(hex, opts.nguid, sizeof(opts.nguid));
		spio_json_write_named_string(w, "nguid", hex);
	}
	if (opts.eui64 != 0) {
		for (size_t i = 0; i < sizeof(eui); i++) {
			eui[i] = (uint8_t)(opts.eui64 >> (56 - 8 * i));
		}
		nvmf_rpc_fmt_hex(hex, eui, sizeof(eui));
		spio_json_write_named_string(w, "eui64", hex);
	}
	if (!spio_uuid_is_null(&opts.uuid)) {
		spio_json_write_named_uuid(w, "uuid", &opts.uuid);
	}
	if (config) {
		spio_json_write_named_bool(w, "no_auto_visible", false);
	}
}

void spio_nvmf_subsystem_write_json(const struct spio_nvmf_subsystem *csubsystem,
				    struct spio_json_write_ctx *w)
{
	/* The iterators take the subsystem as they hand out its parts; nothing changes. */
	struct spio_nvmf_subsystem *subsystem = (struct spio_nvmf_subsystem *)csubsystem;
	bool nvm = spio_nvmf_subsystem_get_type(subsystem) == SPIO_NVMF_SUBTYPE_NVME_SUBSYS;

	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "nqn", spio_nvmf_subsystem_get_nqn(subsystem));
	spio_json_write_named_string(w, "subtype", nvm ? "NVMe" : "Discovery");
	spio_json_write_named_array_begin(w, "listen_addresses");
	for (struct spio_nvmf_subsystem_listener *l =
		 spio_nvmf_subsystem_get_first_listener(subsystem);
	     l != NULL; l = spio_nvmf_subsystem_get_next_listener(subsystem, l)) {
		spio_json_write_object_begin(w);
		nvmf_rpc_write_trid(w, spio_nvmf_subsystem_listener_get_trid(l));
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
	spio_json_write_named_bool(w, "allow_any_host",
				   spio_nvmf_subsystem_get_allow_any_host(subsystem));
	spio_json_write_named_array_begin(w, "hosts");
	for (struct spio_nvmf_host *h = spio_nvmf_subsystem_get_first_host(subsystem); h != NULL;
	     h = spio_nvmf_subsystem_get_next_host(subsystem, h)) {
		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "nqn", spio_nvmf_host_get_nqn(h));
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
	if (nvm) {
		spio_json_write_named_string(w, "serial_number",
					     spio_nvmf_subsystem_get_sn(subsystem));
		spio_json_write_named_string(w, "model_number",
					     spio_nvmf_subsystem_get_mn(subsystem));
		spio_json_write_named_uint32(w, "max_namespaces",
					     spio_nvmf_subsystem_get_max_namespaces(subsystem));
		spio_json_write_named_bool(w, "passthrough", false);
		spio_json_write_named_uint32(w, "min_cntlid",
					     spio_nvmf_subsystem_get_min_cntlid(subsystem));
		spio_json_write_named_uint32(w, "max_cntlid",
					     spio_nvmf_subsystem_get_max_cntlid(subsystem));
		spio_json_write_named_uint32(w, "dmrsl", NVMF_RPC_DMRSL_DEFAULT);
		spio_json_write_named_uint32(w, "wzsl", NVMF_RPC_WZSL_DEFAULT);
		spio_json_write_named_array_begin(w, "namespaces");
		for (struct spio_nvmf_ns *ns = spio_nvmf_subsystem_get_first_ns(subsystem);
		     ns != NULL; ns = spio_nvmf_subsystem_get_next_ns(subsystem, ns)) {
			spio_json_write_object_begin(w);
			write_ns(w, ns, false);
			spio_json_write_object_end(w);
		}
		spio_json_write_array_end(w);
	}
	spio_json_write_object_end(w);
}

static void write_method_begin(struct spio_json_write_ctx *w, const char *method)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", method);
	spio_json_write_named_object_begin(w, "params");
}

static void write_method_end(struct spio_json_write_ctx *w)
{
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

static void write_create_subsystem(struct spio_json_write_ctx *w,
				   struct spio_nvmf_subsystem *subsystem)
{
	write_method_begin(w, "nvmf_create_subsystem");
	spio_json_write_named_string(w, "nqn", spio_nvmf_subsystem_get_nqn(subsystem));
	spio_json_write_named_bool(w, "allow_any_host",
				   spio_nvmf_subsystem_get_allow_any_host(subsystem));
	spio_json_write_named_string(w, "serial_number", spio_nvmf_subsystem_get_sn(subsystem));
	spio_json_write_named_string(w, "model_number", spio_nvmf_subsystem_get_mn(subsystem));
	spio_json_write_named_uint32(w, "max_namespaces",
				     spio_nvmf_subsystem_get_max_namespaces(subsystem));
	spio_json_write_named_uint32(w, "min_cntlid",
				     spio_nvmf_subsystem_get_min_cntlid(subsystem));
	spio_json_write_named_uint32(w, "max_cntlid",
				     spio_nvmf_subsystem_get_max_cntlid(subsystem));
	spio_json_write_named_bool(w, "ana_reporting", false);
	spio_json_write_named_uint32(w, "dmrsl", NVMF_RPC_DMRSL_DEFAULT);
	spio_json_write_named_uint32(w, "wzsl", NVMF_RPC_WZSL_DEFAULT);
	spio_json_write_named_bool(w, "passthrough", false);
	spio_json_write_named_bool(w, "enable_nssr", false);
	write_method_end(w);
}

static bool is_nvm(const struct spio_nvmf_subsystem *subsystem)
{
	return spio_nvmf_subsystem_get_type(subsystem) == SPIO_NVMF_SUBTYPE_NVME_SUBSYS;
}

void spio_nvmf_tgt_write_config_json(const struct spio_nvmf_tgt *ctgt,
				     struct spio_json_write_ctx *w)
{
	/* The iterators take the target as they hand out its parts; nothing changes. */
	struct spio_nvmf_tgt *tgt = (struct spio_nvmf_tgt *)ctgt;
	struct spio_nvmf_subsystem *s;

	write_target_settings(w, spio_nvmf_tgt_get_opts(tgt)->max_subsystems);
	for (struct spio_nvmf_transport *t = spio_nvmf_transport_get_first(tgt); t != NULL;
	     t = spio_nvmf_transport_get_next(t)) {
		write_method_begin(w, "nvmf_create_transport");
		nvmf_rpc_write_transport_opts(w, spio_nvmf_transport_get_name(t),
					      spio_nvmf_transport_get_opts(t));
		write_method_end(w);
	}
	for (s = spio_nvmf_subsystem_get_first(tgt); s != NULL;
	     s = spio_nvmf_subsystem_get_next(s)) {
		if (is_nvm(s)) {
			write_create_subsystem(w, s);
		}
	}
	for (s = spio_nvmf_subsystem_get_first(tgt); s != NULL;
	     s = spio_nvmf_subsystem_get_next(s)) {
		if (!is_nvm(s)) {
			continue;
		}
		for (struct spio_nvmf_host *h = spio_nvmf_subsystem_get_first_host(s); h != NULL;
		     h = spio_nvmf_subsystem_get_next_host(s, h)) {
			write_method_begin(w, "nvmf_subsystem_add_host");
			spio_json_write_named_string(w, "nqn", spio_nvmf_subsystem_get_nqn(s));
			spio_json_write_named_string(w, "host", spio_nvmf_host_get_nqn(h));
			write_method_end(w);
		}
	}
	for (s = spio_nvmf_subsystem_get_first(tgt); s != NULL;
	     s = spio_nvmf_subsystem_get_next(s)) {
		if (!is_nvm(s)) {
			continue;
		}
		for (struct spio_nvmf_ns *ns = spio_nvmf_subsystem_get_first_ns(s); ns != NULL;
		     ns = spio_nvmf_subsystem_get_next_ns(s, ns)) {
			write_method_begin(w, "nvmf_subsystem_add_ns");
			spio_json_write_named_string(w, "nqn", spio_nvmf_subsystem_get_nqn(s));
			spio_json_write_named_object_begin(w, "namespace");
			write_ns(w, ns, true);
			spio_json_write_object_end(w);
			write_method_end(w);
		}
	}
	for (s = spio_nvmf_subsystem_get_first(tgt); s != NULL;
	     s = spio_nvmf_subsystem_get_next(s)) {
		for (struct spio_nvmf_subsystem_listener *l =
			 spio_nvmf_subsystem_get_first_listener(s);
		     l != NULL; l = spio_nvmf_subsystem_get_next_listener(s, l)) {
			write_method_begin(w, "nvmf_subsystem_add_listener");
			spio_json_write_named_string(w, "nqn", spio_nvmf_subsystem_get_nqn(s));
			spio_json_write_named_object_begin(w, "listen_address");
			nvmf_rpc_write_trid(w, spio_nvmf_subsystem_listener_get_trid(l));
			spio_json_write_object_end(w);
			spio_json_write_named_bool(w, "secure_channel", false);
			write_method_end(w);
		}
	}
}

/*
 * The "nvmf" subsystem
 */

static void nvmf_subsystem_init(void)
{
	/* A new app in this process: nvmf_set_* of its start-up pass are kept. */
	g_nvmf.state = TGT_NONE;
	spio_subsystem_init_next(0);
}

static void nvmf_subsystem_fini(void)
{
	if (g_nvmf.state == TGT_STARTING) {
		g_nvmf.fini_pending = true;
		return;
	}
	tgt_fini();
}

static void nvmf_subsystem_write_config_json(struct spio_json_write_ctx *w)
{
	uint32_t max = g_nvmf.conf.max_subsystems != 0 ? g_nvmf.conf.max_subsystems
						       : NVMF_RPC_DEFAULT_MAX_SUBSYSTEMS;

	spio_json_write_array_begin(w);
	write_set_config(w);
	if (g_nvmf.state == TGT_RUNNING) {
		spio_nvmf_tgt_write_config_json(g_nvmf.tgt, w);
	} else {
		write_target_settings(w, max);
	}
	spio_json_write_array_end(w);
}

static struct spio_subsystem g_nvmf_subsystem = {
    .name = "nvmf",
    .init = nvmf_subsystem_init,
    .fini = nvmf_subsystem_fini,
    .write_config_json = nvmf_subsystem_write_config_json,
};
SPIO_SUBSYSTEM_REGISTER(g_nvmf_subsystem)
SPIO_SUBSYSTEM_DEPEND(nvmf, bdev)
