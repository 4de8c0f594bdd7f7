/*
 * RPC methods of the scheduler, with SPDK's names, parameters and answers:
 * framework_set_scheduler, framework_get_scheduler (both at start-up and at
 * runtime) and thread_set_cpumask (runtime).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_internal.h"
#include "spio/log.h"
#include "spio/rpc.h"
#include "spio/scheduler.h"
#include "spio/util.h"

/* SPDK's period when none was ever set: one second. */
#define DEFAULT_PERIOD_US (1000ULL * 1000)

struct set_scheduler_params {
	char *name;
	uint64_t period;
	uint32_t load_limit;
	uint32_t core_limit;
	uint32_t core_busy;
	char *mappings;
};

static const struct spio_rpc_param g_set_scheduler_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct set_scheduler_params, name), false},
    {"period", SPIO_RPC_PARAM_UINT64, offsetof(struct set_scheduler_params, period), true},
    {"load_limit", SPIO_RPC_PARAM_UINT32, offsetof(struct set_scheduler_params, load_limit), true},
    {"core_limit", SPIO_RPC_PARAM_UINT32, offsetof(struct set_scheduler_params, core_limit), true},
    {"core_busy", SPIO_RPC_PARAM_UINT32, offsetof(struct set_scheduler_params, core_busy), true},
    {"mappings", SPIO_RPC_PARAM_STRING, offsetof(struct set_scheduler_params, mappings), true},
};

static void rpc_framework_set_scheduler(struct spio_jsonrpc_request *req,
					const struct spio_json_val *params)
{
	struct set_scheduler_params p = {0};
	struct spio_scheduler *s;
	bool custom;
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_set_scheduler_decoders,
				   SPIO_COUNTOF(g_set_scheduler_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	/* SPDK decodes the three limits as uint8. */
	if (p.load_limit > UINT8_MAX || p.core_limit > UINT8_MAX || p.core_busy > UINT8_MAX) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						 "load_limit, core_limit and core_busy must be "
						 "0..255");
		goto out;
	}
	custom = p.load_limit != 0 || p.core_limit != 0 || p.core_busy != 0 || p.mappings != NULL;
	if (!scheduler_exists(p.name)) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "scheduler '%s' not found", p.name);
		goto out;
	}
	/* As SPDK: a period of 0 means "not given"; the first set defaults to 1 s. */
	if (p.period != 0) {
		spio_scheduler_set_period(p.period);
	} else if (spio_scheduler_get_period() == 0) {
		spio_scheduler_set_period(DEFAULT_PERIOD_US);
	}
	rc = spio_scheduler_set(p.name);
	if (rc != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 strerror(-rc));
		goto out;
	}
	s = spio_scheduler_get();
	if (s != NULL && s->set_opts != NULL) {
		rc = s->set_opts(params);
	} else if (custom) {
		rc = -EINVAL; /* options for a scheduler that takes none */
	}
	if (rc != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 strerror(-rc));
		goto out;
	}
	spio_jsonrpc_send_bool_response(req, true);
out:
	spio_rpc_params_free(g_set_scheduler_decoders, SPIO_COUNTOF(g_set_scheduler_decoders), &p);
}
SPIO_RPC_REGISTER("framework_set_scheduler", rpc_framework_set_scheduler,
		  SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void rpc_framework_get_scheduler(struct spio_jsonrpc_request *req,
					const struct spio_json_val *params)
{
	struct spio_scheduler *s = spio_scheduler_get();
	struct spio_json_write_ctx *w;

	if (spio_rpc_refuse_params(req, params)) {
		return;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		return;
	}
	spio_json_write_object_begin(w);
	if (s != NULL) {
		spio_json_write_named_string(w, "scheduler_name", s->name);
	}
	spio_json_write_named_uint64(w, "scheduler_period", spio_scheduler_get_period());
	/* spio isolates no core from scheduling (SPDK's empty mask reads "0"). */
	spio_json_write_named_string(w, "isolated_core_mask", "0");
	spio_json_write_named_uint32(w, "scheduling_core", reactors_main_core());
	if (s != NULL && s->get_opts != NULL) {
		s->get_opts(w);
	}
	spio_json_write_object_end(w);
	spio_jsonrpc_end_result(req, w);
}
SPIO_RPC_REGISTER("framework_get_scheduler", rpc_framework_get_scheduler,
		  SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/*
 * thread_set_cpumask: runs spio_thread_set_cpumask() on the thread named by
 * id, as SPDK does. The thread is reached by a message hop over the running
 * threads (spio_for_each_thread), not through a pointer looked up here that
 * could be freed meanwhile.
 */

struct set_cpumask_params {
	uint64_t id;
	char *cpumask;
};

static const struct spio_rpc_param g_set_cpumask_decoders[] = {
    {"id", SPIO_RPC_PARAM_UINT64, offsetof(struct set_cpumask_params, id), false},
    {"cpumask", SPIO_RPC_PARAM_STRING, offsetof(struct set_cpumask_params, cpumask), false},
};

struct set_cpumask_ctx {
	struct spio_jsonrpc_request *req;
	uint64_t id;
	struct spio_cpuset mask;
	bool found;
	int rc;
};

static void set_cpumask_visit(void *arg)
{
	struct set_cpumask_ctx *ctx = arg;

	if (spio_thread_get_id(spio_get_thread()) != ctx->id) {
		return;
	}
	ctx->found = true;
	ctx->rc = spio_thread_set_cpumask(&ctx->mask);
}

static void set_cpumask_done(void *arg)
{
	struct set_cpumask_ctx *ctx = arg;

	if (!ctx->found) {
		spio_jsonrpc_send_error_response_fmt(ctx->req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     "Thread %lu does not exist",
						     (unsigned long)ctx->id);
	} else if (ctx->rc == -EPERM) {
		spio_jsonrpc_send_error_response_fmt(
		    ctx->req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
		    "thread %lu is the app thread, which stays on the main core %u",
		    (unsigned long)ctx->id, reactors_main_core());
	} else if (ctx->rc != 0) {
		spio_jsonrpc_send_error_response(ctx->req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 strerror(-ctx->rc));
	} else {
		spio_jsonrpc_send_bool_response(ctx->req, true);
	}
	free(ctx);
}

static void rpc_thread_set_cpumask(struct spio_jsonrpc_request *req,
				   const struct spio_json_val *params)
{
	struct set_cpumask_params p = {0};
	struct set_cpumask_ctx *ctx = NULL;
	struct spio_cpuset app;
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_set_cpumask_decoders,
				   SPIO_COUNTOF(g_set_cpumask_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Memory allocation failed");
		goto out;
	}
	/* SPDK's checks and messages: the mask is cut to the app's cores. */
	if (spio_cpuset_parse(&ctx->mask, p.cpumask) != 0) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "Invalid cpumask %s", p.cpumask);
		goto out;
	}
	spio_app_get_cpuset(&app);
	spio_cpuset_and(&ctx->mask, &app);
	if (spio_cpuset_count(&ctx->mask) == 0) {
		char buf[SPIO_CPUSET_STR_MAX];

		spio_cpuset_fmt_hex(&app, buf, sizeof(buf));
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "No CPU is selected from reactor mask %s",
						     strncmp(buf, "0x", 2) == 0 ? buf + 2 : buf);
		goto out;
	}
	ctx->req = req;
	ctx->id = p.id;
	rc = spio_for_each_thread(set_cpumask_visit, ctx, set_cpumask_done);
	if (rc != 0) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "cannot visit the threads: %s", strerror(-rc));
		goto out;
	}
	ctx = NULL; /* set_cpumask_done answers and frees it */
out:
	free(ctx);
	spio_rpc_params_free(g_set_cpumask_decoders, SPIO_COUNTOF(g_set_cpumask_decoders), &p);
}
SPIO_RPC_REGISTER("thread_set_cpumask", rpc_thread_set_cpumask, SPIO_RPC_RUNTIME)
