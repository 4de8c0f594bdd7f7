/*
 * SPDK's log RPCs on top of lib/log: log_set_flag, log_clear_flag,
 * log_get_flags, log_set_print_level, log_get_print_level, log_set_level,
 * log_get_level, log_enable_timestamps.
 *
 * SPDK has two thresholds and so has lib/log: the print level (what reaches
 * the sink, stderr by default) is spio_log_set_level(); SPDK's "log level"
 * (what goes to syslog) is spio_log_set_syslog_level(), which really sends to
 * syslog(3). The app framework sets it to SPDK's NOTICE at start-up unless
 * the program set one (lib/log alone starts disabled). A disabled level has
 * no SPDK name, so the getters then answer an internal error, as SPDK's do
 * for that level; the message says why.
 *
 * Levels are SPDK's five names, matched case-insensitively as SPDK did before
 * its RPC code was generated; rpc.py offers the upper-case spellings only.
 * Malformed parameters get -32602 naming the key (docs/rpc.md), where SPDK
 * answers -32603 for some of these methods.
 *
 * Handlers run on the RPC server's thread and answer at once.
 */
#include <errno.h>
#include <stddef.h>
#include <strings.h>

#include "spio/log.h"
#include "spio/rpc.h"
#include "spio/util.h"

/* SPDK's spellings, indexed by enum spio_log_level. */
static const char *const g_spdk_level_names[] = {
    [SPIO_LOG_ERROR] = "ERROR", [SPIO_LOG_WARN] = "WARNING", [SPIO_LOG_NOTICE] = "NOTICE",
    [SPIO_LOG_INFO] = "INFO",	[SPIO_LOG_DEBUG] = "DEBUG",
};

static int spdk_level_from_name(const char *name)
{
	for (size_t i = 0; i < SPIO_COUNTOF(g_spdk_level_names); i++) {
		if (strcasecmp(name, g_spdk_level_names[i]) == 0) {
			return (int)i;
		}
	}
	return -EINVAL;
}

/*
 * log_set_flag, log_clear_flag, log_get_flags
 */

struct flag_params {
	char *flag;
};

static const struct spio_rpc_param g_flag_decoders[] = {
    {"flag", SPIO_RPC_PARAM_STRING, offsetof(struct flag_params, flag), false},
};

static void set_flag(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
		     bool enabled)
{
	struct flag_params p = {0};
	char err[256];
	int rc;

	if (spio_rpc_decode_params(params, g_flag_decoders, SPIO_COUNTOF(g_flag_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	rc = spio_log_set_flag(p.flag, enabled);
	if (rc != 0) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "invalid log flag '%s': expected \"all\" or a name from log_get_flags", p.flag);
		goto out;
	}
	spio_jsonrpc_send_bool_response(req, true);
out:
	spio_rpc_params_free(g_flag_decoders, SPIO_COUNTOF(g_flag_decoders), &p);
}

static void rpc_log_set_flag(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	set_flag(req, params, true);
}
SPIO_RPC_REGISTER("log_set_flag", rpc_log_set_flag, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void rpc_log_clear_flag(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	set_flag(req, params, false);
}
SPIO_RPC_REGISTER("log_clear_flag", rpc_log_clear_flag, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void write_flag(const char *name, bool enabled, void *ctx)
{
	spio_json_write_named_bool(ctx, name, enabled);
}

static void rpc_log_get_flags(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct spio_json_write_ctx *w;

	if (spio_rpc_refuse_params(req, params)) {
		return;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		return;
	}
	spio_json_write_object_begin(w);
	spio_log_foreach_flag(write_flag, w);
	spio_json_write_object_end(w);
	spio_jsonrpc_end_result(req, w);
}
SPIO_RPC_REGISTER("log_get_flags", rpc_log_get_flags, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/*
 * log_set_print_level, log_get_print_level, log_set_level, log_get_level
 */

struct level_params {
	char *level;
};

static const struct spio_rpc_param g_level_decoders[] = {
    {"level", SPIO_RPC_PARAM_STRING, offsetof(struct level_params, level), false},
};

static void set_level(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
		      int (*setter)(enum spio_log_level))
{
	struct level_params p = {0};
	char err[256];
	int level;

	if (spio_rpc_decode_params(params, g_level_decoders, SPIO_COUNTOF(g_level_decoders), &p,
				   err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		goto out;
	}
	level = spdk_level_from_name(p.level);
	if (level < 0) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "invalid log level '%s': expected ERROR, WARNING, NOTICE, INFO or DEBUG",
		    p.level);
		goto out;
	}
	/* Cannot fail: every SPDK level is in range. */
	setter((enum spio_log_level)level);
	spio_jsonrpc_send_bool_response(req, true);
out:
	spio_rpc_params_free(g_level_decoders, SPIO_COUNTOF(g_level_decoders), &p);
}

/* `which` names the level in the error for a level SPDK cannot name, `hint` follows it. */
static void get_level(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
		      const char *method, enum spio_log_level level, const char *which,
		      const char *hint)
{
	struct spio_json_write_ctx *w;

	if (spio_rpc_refuse_params(req, params)) {
		return;
	}
	if (level < SPIO_LOG_ERROR || level > SPIO_LOG_DEBUG) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "invalid log level: the %s level is %s%s",
						     which, spio_log_level_to_string(level), hint);
		return;
	}
	w = spio_jsonrpc_begin_result(req);
	if (w == NULL) {
		return;
	}
	spio_json_write_string(w, g_spdk_level_names[level]);
	spio_jsonrpc_end_result(req, w);
}

static void rpc_log_set_print_level(struct spio_jsonrpc_request *req,
				    const struct spio_json_val *params)
{
	set_level(req, params, spio_log_set_level);
}
SPIO_RPC_REGISTER("log_set_print_level", rpc_log_set_print_level,
		  SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void rpc_log_get_print_level(struct spio_jsonrpc_request *req,
				    const struct spio_json_val *params)
{
	get_level(req, params, "log_get_print_level", spio_log_get_level(), "print", "");
}
SPIO_RPC_REGISTER("log_get_print_level", rpc_log_get_print_level,
		  SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void rpc_log_set_level(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	set_level(req, params, spio_log_set_syslog_level);
}
SPIO_RPC_REGISTER("log_set_level", rpc_log_set_level, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void rpc_log_get_level(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	get_level(req, params, "log_get_level", spio_log_get_syslog_level(), "syslog",
		  " (nothing goes to syslog until log_set_level sets a level)");
}
SPIO_RPC_REGISTER("log_get_level", rpc_log_get_level, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/*
 * log_enable_timestamps
 */

struct timestamps_params {
	bool enabled;
};

static const struct spio_rpc_param g_timestamps_decoders[] = {
    {"enabled", SPIO_RPC_PARAM_BOOL, offsetof(struct timestamps_params, enabled), false},
};

static void rpc_log_enable_timestamps(struct spio_jsonrpc_request *req,
				      const struct spio_json_val *params)
{
	struct timestamps_params p = {0};
	char err[256];

	if (spio_rpc_decode_params(params, g_timestamps_decoders,
				   SPIO_COUNTOF(g_timestamps_decoders), &p, err,
				   sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		return;
	}
	spio_log_enable_timestamps(p.enabled);
	spio_jsonrpc_send_bool_response(req, true);
}
/* Runtime only, as in SPDK. */
SPIO_RPC_REGISTER("log_enable_timestamps", rpc_log_enable_timestamps, SPIO_RPC_RUNTIME)
