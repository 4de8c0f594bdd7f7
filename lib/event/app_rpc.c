/*
 * RPC methods of the app framework, with SPDK's names and result shapes:
 * framework_start_init, framework_wait_init, framework_get_subsystems,
 * framework_get_config, framework_get_reactors, thread_get_stats, save_config,
 * spdk_kill_instance (thread_get_pollers and thread_get_io_channels are in
 * thread_rpc.c).
 *
 * Handlers run on the RPC server's thread (the app thread). Answers that need
 * data from every reactor or thread gather it into plain structures first
 * (by event or message hops) and write JSON only back on the request's
 * thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event_internal.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/rpc.h"

/*
 * framework_wait_init
 */

struct init_waiter {
	struct spio_jsonrpc_request *req;
	struct init_waiter *next;
};

static struct init_waiter *g_init_waiters;

static void rpc_framework_wait_init(struct spio_jsonrpc_request *req,
				    const struct spio_json_val *params)
{
	struct init_waiter *w;

	if (spio_rpc_refuse_params(req, params)) {
		return;
	}
	if (subsystems_init_done()) {
		spio_jsonrpc_send_bool_response(req, true);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "out of memory");
		return;
	}
	w->req = req;
	w->next = g_init_waiters;
	g_init_waiters = w;
}
SPIO_RPC_REGISTER("framework_wait_init", rpc_framework_wait_init,
		  SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void answer_waiters(bool ok)
{
	while (g_init_waiters != NULL) {
		struct init_waiter *w = g_init_waiters;

		g_init_waiters = w->next;
		if (ok) {
			spio_jsonrpc_send_bool_response(w->req, true);
		} else {
			spio_jsonrpc_send_error_response(w->req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
							 "the application is shutting down");
		}
		free(w);
	}
}

void app_rpc_init_done(void)
{
	answer_waiters(true);
}

void app_rpc_shutdown(void)
{
	answer_waiters(false);
}

/*
 * framework_start_init
 */

static void start_init_done(int rc, void *arg)
{
	struct spio_jsonrpc_request *req = arg;

	if (rc == 0) {
		spio_jsonrpc_send_bool_response(req, true);
	} else {
		/* SPDK's words */
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "framework_initialization failed");
	}
}

static void rpc_framework_start_init(struct spio_jsonrpc_request *req,
				     const struct spio_json_val *params)
{
	int rc;

	if (spio_rpc_refuse_params(req, params)) {
		return;
	}
	rc = app_start_init(start_init_done, req);
	if (rc == -EALREADY) {
		/* A second call while the first initialises: SPDK answers it once
		 * the first is done, with its runtime state error; spio at once. */
		spio_jsonrpc_send_error_response(
		    req, SPIO_JSONRPC_ERROR_INVALID_STATE,
		    "Method may only be called before framework is initialized. Use "
		    "--wait-for-rpc command line parameter and then issue this RPC before the "
		    "framework_start_init RPC.");
	} else if (rc != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "the application is shutting down");
	}
}
SPIO_RPC_REGISTER("framework_start_init", rpc_framework_start_init, SPIO_RPC_STARTUP)

/*
 * framework_get_subsystems, framework_get_config, save_config
 */

static void write_dep(const char *dep, void *ctx)
{
	spio_json_write_string(ctx, dep);
}

static void rpc_framework_get_subsystems(struct spio_jsonrpc_request *req,
					 const struct spio_json_val *params)
{
	struct spio_json_write_ctx *w;

	if (spio_rpc_refuse_params(req, params)) {
		return;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		return;
	}
	spio_json_write_array_begin(w);
	for (uint32_t i = 0; i < subsystems_count(); i++) {
		struct spio_subsystem *s = subsystems_at(i);

		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "subsystem", s->name);
		spio_json_write_named_array_begin(w, "depends_on");
		subsystems_for_each_depend(s->name, write_dep, w);
		spio_json_write_array_end(w);
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
	spio_jsonrpc_end_result(req, w);
}
SPIO_RPC_REGISTER("framework_get_subsystems", rpc_framework_get_subsystems,
		  SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

struct get_config_params {
	char *name;
	bool with_batches;
};

static const struct spio_rpc_param g_get_config_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct get_config_params, name), false},
    {"with_batches", SPIO_RPC_PARAM_BOOL, offsetof(struct get_config_params, with_batches), true},
};

static void rpc_framework_get_config(struct spio_jsonrpc_request *req,
				     const struct spio_json_val *params)
{
	struct get_config_params p = {0};
	struct spio_json_write_ctx *w;
	struct spio_subsystem *s = NULL;
	char err[256];

	if (spio_rpc_decode_params(params, g_get_config_decoders,
				   SPIO_COUNTOF(g_get_config_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	if (p.with_batches) {
		/* rpc.py sends false; true asks for SPDK's batched entries, which
		 * spio does not write: refuse rather than answer something else. */
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						 "with_batches true: batched configuration entries "
						 "are not supported");
		goto out;
	}
	for (uint32_t i = 0; i < subsystems_count(); i++) {
		if (strcmp(subsystems_at(i)->name, p.name) == 0) {
			s = subsystems_at(i);
		}
	}
	if (s == NULL) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     "subsystem '%s' not found", p.name);
		goto out;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w != NULL) {
		subsystem_write_config(s, w);
		spio_jsonrpc_end_result(req, w);
	}
out:
	spio_rpc_params_free(g_get_config_decoders, SPIO_COUNTOF(g_get_config_decoders), &p);
}
SPIO_RPC_REGISTER("framework_get_config", rpc_framework_get_config,
		  SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void rpc_save_config(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct spio_json_write_ctx *w;

	if (spio_rpc_refuse_params(req, params)) {
		return;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		return;
	}
	/* A failure leaves the writer incomplete: end_result answers an internal error. */
	spio_app_write_config_json(w);
	spio_jsonrpc_end_result(req, w);
}
SPIO_RPC_REGISTER("save_config", rpc_save_config, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/*
 * framework_get_reactors
 */

struct get_reactors_ctx {
	struct spio_jsonrpc_request *req;
	struct spio_thread *origin;
	uint64_t now;
	uint32_t count;
	struct reactor_info *infos;
	int rc;
	struct spio_msg reply_msg;
};

static void get_reactors_reply(void *arg)
{
	struct get_reactors_ctx *ctx = arg;
	struct spio_json_write_ctx *w;

	if (ctx->rc != 0) {
		spio_jsonrpc_send_error_response_fmt(ctx->req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "cannot describe the reactors: %s",
						     strerror(-ctx->rc));
		goto out;
	}
	w = spio_jsonrpc_begin_result(ctx->req);
	if (w == NULL) {
		goto out;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_uint64(w, "tick_rate", spio_get_ticks_hz());
	spio_json_write_named_uint64(w, "pid", (uint64_t)getpid());
	spio_json_write_named_array_begin(w, "reactors");
	for (uint32_t i = 0; i < ctx->count; i++) {
		struct reactor_info *ri = &ctx->infos[i];
		uint64_t usr, sys, irq;

		if (cpu_stat_since_start(ri->lcore, &usr, &sys, &irq) != 0) {
			usr = sys = irq = 0; /* as SPDK: 0 when /proc/stat cannot tell */
		}
		spio_json_write_object_begin(w);
		spio_json_write_named_uint32(w, "lcore", ri->lcore);
		spio_json_write_named_int32(w, "numa_id", cpu_numa_id(ri->lcore));
		spio_json_write_named_int32(w, "tid", ri->tid);
		spio_json_write_named_uint64(w, "busy", ri->stats.busy_tsc);
		spio_json_write_named_uint64(w, "idle", ri->stats.idle_tsc);
		spio_json_write_named_bool(w, "in_interrupt", ri->in_interrupt);
		spio_json_write_named_uint64(w, "irq", irq);
		spio_json_write_named_uint64(w, "sys", sys);
		spio_json_write_named_uint64(w, "usr", usr);
		/* spio's additions */
		spio_json_write_named_uint64(w, "sleep", ri->stats.sleep_tsc);
		spio_json_write_named_uint64(w, "sleep_count", ri->stats.sleep_count);
		spio_json_write_named_uint64(w, "event_count", ri->stats.event_count);
		spio_json_write_named_array_begin(w, "lw_threads");
		for (uint32_t j = 0; j < ri->thread_count; j++) {
			struct reactor_thread_info *ti = &ri->threads[j];

			spio_json_write_object_begin(w);
			spio_json_write_named_string(w, "name", ti->name);
			spio_json_write_named_uint64(w, "id", ti->id);
			spio_json_write_named_string(w, "cpumask", ti->cpumask);
			spio_json_write_named_uint64(w, "elapsed", ti->elapsed_tsc);
			spio_json_write_object_end(w);
		}
		spio_json_write_array_end(w);
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
	spio_json_write_object_end(w);
	spio_jsonrpc_end_result(ctx->req, w);
out:
	for (uint32_t i = 0; i < ctx->count; i++) {
		free(ctx->infos[i].threads);
	}
	free(ctx->infos);
	free(ctx);
}

/* On each reactor, in core order. */
static void get_reactors_collect(void *arg1, void *arg2)
{
	struct get_reactors_ctx *ctx = arg1;
	uint32_t i = ctx->count;
	int rc;

	if (i >= reactors_count()) {
		return;
	}
	rc = reactor_describe_current(&ctx->infos[i], ctx->now);
	if (rc != 0 && ctx->rc == 0) {
		ctx->rc = rc;
	}
	ctx->count++;
}

static void get_reactors_done(void *arg1, void *arg2)
{
	struct get_reactors_ctx *ctx = arg1;

	if (spio_thread_send_msg_embedded(ctx->origin, &ctx->reply_msg, get_reactors_reply, ctx) !=
	    0) {
		SPIO_ERRLOG("framework_get_reactors: the request's thread is gone\n");
	}
}

static void rpc_framework_get_reactors(struct spio_jsonrpc_request *req,
				       const struct spio_json_val *params)
{
	struct get_reactors_ctx *ctx;
	int rc;

	if (spio_rpc_refuse_params(req, params)) {
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx != NULL) {
		ctx->infos = calloc(reactors_count() ? reactors_count() : 1, sizeof(*ctx->infos));
	}
	if (ctx == NULL || ctx->infos == NULL) {
		free(ctx);
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "out of memory");
		return;
	}
	ctx->req = req;
	ctx->origin = spio_get_thread();
	ctx->now = spio_get_ticks();
	rc = spio_for_each_reactor(get_reactors_collect, ctx, NULL, get_reactors_done);
	if (rc != 0) {
		ctx->rc = rc;
		get_reactors_reply(ctx);
	}
}
SPIO_RPC_REGISTER("framework_get_reactors", rpc_framework_get_reactors, SPIO_RPC_RUNTIME)

/*
 * spdk_kill_instance
 */

struct kill_params {
	char *sig_name;
};

static const struct spio_rpc_param g_kill_decoders[] = {
    {"sig_name", SPIO_RPC_PARAM_STRING, offsetof(struct kill_params, sig_name), false},
};

static void rpc_spdk_kill_instance(struct spio_jsonrpc_request *req,
				   const struct spio_json_val *params)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {{"SIGINT", SIGINT}, {"SIGTERM", SIGTERM}, {"SIGQUIT", SIGQUIT},
		    {"SIGHUP", SIGHUP}, {"SIGKILL", SIGKILL}, {"SIGUSR1", SIGUSR1}};
	struct kill_params p = {0};
	char err[256];
	int sig = 0;

	if (spio_rpc_decode_params(params, g_kill_decoders, SPIO_COUNTOF(g_kill_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	for (size_t i = 0; i < SPIO_COUNTOF(sigs); i++) {
		if (strcmp(p.sig_name, sigs[i].name) == 0 || atoi(p.sig_name) == sigs[i].sig) {
			sig = sigs[i].sig;
			break;
		}
	}
	if (sig == 0) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "sig_name '%s': expected SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGKILL or SIGUSR1",
		    p.sig_name);
		goto out;
	}
	/* Answer first: SIGTERM starts a shutdown that closes this connection. */
	spio_jsonrpc_send_bool_response(req, true);
	kill(getpid(), sig);
out:
	spio_rpc_params_free(g_kill_decoders, SPIO_COUNTOF(g_kill_decoders), &p);
}
SPIO_RPC_REGISTER("spdk_kill_instance", rpc_spdk_kill_instance, SPIO_RPC_RUNTIME)
