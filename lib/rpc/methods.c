/*
 * Methods of the RPC layer itself: rpc_get_methods, spdk_get_version,
 * spio_get_version. Registered from registry.c (not by constructors here) so
 * that a program linked with the static library always gets them.
 */
#include <stdio.h>

#include "rpc_internal.h"
#include "spio/util.h"

#ifndef SPIO_GIT_COMMIT
#define SPIO_GIT_COMMIT "" /* set by the build from git */
#endif

#ifndef SPIO_VERSION_STRING
#define SPIO_VERSION_STRING "0.0.0"
#endif

struct get_methods_params {
	bool current;
	bool include_aliases;
};

/* include_aliases (rpc.py always sends it) lists SPDK's deprecated method
 * names too; spio has none, so either value gives the same list. */
static const struct spio_rpc_param g_get_methods_decoders[] = {
    {"current", SPIO_RPC_PARAM_BOOL, offsetof(struct get_methods_params, current), true},
    {"include_aliases", SPIO_RPC_PARAM_BOOL, offsetof(struct get_methods_params, include_aliases),
     true},
};

struct get_methods_ctx {
	struct spio_json_write_ctx *w;
	bool current;
	uint32_t state;
};

static int write_method_name(const struct rpc_method *m, void *arg)
{
	struct get_methods_ctx *ctx = arg;

	if (!ctx->current || (m->state_mask & ctx->state) != 0) {
		spio_json_write_string(ctx->w, m->name);
	}
	return 0;
}

static void rpc_get_methods(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct get_methods_params p = {.current = false};
	struct get_methods_ctx ctx;
	char err[256];

	if (spio_rpc_decode_params(params, g_get_methods_decoders,
				   SPIO_COUNTOF(g_get_methods_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		return;
	}
	ctx.w = spio_jsonrpc_begin_result(req);
	if (ctx.w == NULL) {
		return;
	}
	ctx.current = p.current;
	ctx.state = spio_rpc_get_state();
	spio_json_write_array_begin(ctx.w);
	rpc_method_foreach(write_method_name, &ctx);
	spio_json_write_array_end(ctx.w);
	spio_jsonrpc_end_result(req, ctx.w);
}

static void get_version(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct spio_json_write_ctx *w;
	unsigned major = 0, minor = 0, patch = 0;
	char suffix[32] = "";
	int consumed = 0;

	if (spio_rpc_refuse_params(req, params)) {
		return;
	}
	/* "0.1.0" or "0.1.0-pre": the suffix is what follows the three numbers. */
	if (sscanf(SPIO_VERSION_STRING, "%u.%u.%u%n", &major, &minor, &patch, &consumed) == 3) {
		snprintf(suffix, sizeof(suffix), "%s", &SPIO_VERSION_STRING[consumed]);
	}

	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		return;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "version", "spdk-io v" SPIO_VERSION_STRING);
	spio_json_write_named_object_begin(w, "fields");
	spio_json_write_named_uint32(w, "major", major);
	spio_json_write_named_uint32(w, "minor", minor);
	spio_json_write_named_uint32(w, "patch", patch);
	spio_json_write_named_string(w, "suffix", suffix);
	if (SPIO_GIT_COMMIT[0] != '\0') {
		spio_json_write_named_string(w, "commit", SPIO_GIT_COMMIT);
	}
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
	spio_jsonrpc_end_result(req, w);
}

void rpc_register_builtin_methods(void)
{
	const uint32_t always = SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME;

	spio_rpc_register_method_at_load("rpc_get_methods", rpc_get_methods, always);
	spio_rpc_register_method_at_load("spdk_get_version", get_version, always);
	spio_rpc_register_method_at_load("spio_get_version", get_version, always);
}
