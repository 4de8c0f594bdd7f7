/*
 * spio_rpc's command line: -s, -t, -h, then METHOD with --KEY [VALUE] pairs
 * or the call form, and the JSON-RPC request built from them. Nothing here
 * exits: main() turns the result into the exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/rpc.h"

#include "opts.h"

const char *g_rpc_prog = "spio_rpc";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: %s [-s SOCKET] [-t TIMEOUT] METHOD [--KEY [VALUE]]...\n"
		"       %s [-s SOCKET] [-t TIMEOUT] call METHOD ['JSON PARAMS']\n"
		"       %s -h\n"
		"\n"
		"Call a JSON-RPC method of a running spdk-io application and print its\n"
		"result as JSON.\n"
		"\n"
		"  -s SOCKET   Unix socket of the server (default %s)\n"
		"  -t TIMEOUT  seconds to wait for the answer (default 60; 0 waits forever)\n"
		"  -h          show this help\n"
		"\n"
		"Parameters: each --KEY VALUE pair becomes a member of the params object.\n"
		"VALUE is taken as JSON when it parses as JSON (a number, true, false,\n"
		"null, an object, an array or a quoted \"string\"), otherwise as a plain\n"
		"string. --KEY without a value (last, or followed by another --KEY) means\n"
		"true. The call form sends its JSON PARAMS (an object or an array) as is.\n"
		"\n"
		"Examples:\n"
		"  %s rpc_get_methods --current\n"
		"  %s bdev_malloc_create --name Malloc0 --num_blocks 1024 --block_size 512\n"
		"  %s call bdev_get_bdevs '{\"name\": \"Malloc0\"}'\n"
		"\n"
		"Exit status: 0 success; 1 the method failed (the JSON-RPC error is printed\n"
		"on stderr); 2 cannot connect, timeout or bad answer; 64 usage error.\n",
		g_rpc_prog, g_rpc_prog, g_rpc_prog, SPIO_RPC_DEFAULT_SOCKET, g_rpc_prog, g_rpc_prog,
		g_rpc_prog);
}

static void short_usage(void)
{
	fprintf(stderr,
		"usage: %s [-s SOCKET] [-t TIMEOUT] METHOD [--KEY [VALUE]]...\n"
		"       %s [-s SOCKET] [-t TIMEOUT] call METHOD ['JSON PARAMS']\n"
		"Run '%s -h' for help.\n",
		g_rpc_prog, g_rpc_prog, g_rpc_prog);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", g_rpc_prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	short_usage();
	return RPC_EXIT_USAGE;
}

/* VALUE of --KEY VALUE: JSON if it parses as JSON, else the string itself. */
static json_t *param_value(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

	return v != NULL ? v : json_string(text);
}

/* Build params from --KEY [VALUE] pairs; returns NULL (and prints) on a usage error. */
static json_t *params_from_pairs(int argc, char **argv, int *rc)
{
	json_t *params = json_object(), *v;
	int i;

	for (i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			*rc = usage_error("expected --KEY, got '%s'", arg);
			json_decref(params);
			return NULL;
		}
		if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
			v = param_value(argv[i + 1]);
			i++;
		} else {
			v = json_true();
		}
		if (v == NULL || json_object_set_new(params, arg + 2, v) != 0) {
			*rc = usage_error("invalid parameter name or value for '%s' (not UTF-8?)",
					  arg);
			json_decref(params);
			return NULL;
		}
	}
	return params;
}

static bool parse(int argc, char **argv, struct rpc_args *args, json_t **params, int *exit_rc)
{
	json_error_t err;
	char *end;
	int opt, rc = 0;

	/* 0, not 1: glibc also forgets a half-read cluster of a previous parse */
	optind = 0;
	while ((opt = getopt(argc, argv, "+hs:t:")) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			*exit_rc = RPC_EXIT_OK;
			return false;
		case 's':
			if (optarg[0] == '\0') {
				*exit_rc = usage_error("-s needs a socket path%s", "");
				return false;
			}
			args->path = optarg;
			break;
		case 't':
			errno = 0;
			args->timeout = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(args->timeout >= 0) ||
			    args->timeout > 1e6) {
				*exit_rc = usage_error("-t: expected a number of seconds, got '%s'",
						       optarg);
				return false;
			}
			break;
		default:
			short_usage();
			*exit_rc = RPC_EXIT_USAGE;
			return false;
		}
	}
	if (optind >= argc) {
		*exit_rc = usage_error("missing METHOD%s", "");
		return false;
	}
	args->method = argv[optind++];
	if (strcmp(args->method, "call") == 0) {
		if (optind >= argc) {
			*exit_rc = usage_error("call: missing METHOD%s", "");
			return false;
		}
		args->method = argv[optind++];
		if (optind < argc) {
			*params = json_loads(argv[optind++], JSON_DECODE_ANY, &err);
			if (*params == NULL) {
				fprintf(stderr, "%s: call %s: params are not valid JSON: %s\n",
					g_rpc_prog, args->method, err.text);
				short_usage();
				*exit_rc = RPC_EXIT_USAGE;
				return false;
			}
			if (!json_is_object(*params) && !json_is_array(*params)) {
				*exit_rc =
				    usage_error("call: params must be a JSON object or array, "
						"got '%s'",
						argv[optind - 1]);
				return false;
			}
		}
		if (optind < argc) {
			*exit_rc = usage_error("call: unexpected argument '%s' after the params",
					       argv[optind]);
			return false;
		}
	} else if (optind < argc) {
		*params = params_from_pairs(argc - optind, argv + optind, &rc);
		if (*params == NULL) {
			*exit_rc = rc;
			return false;
		}
	}
	if (args->method[0] == '\0' || args->method[0] == '-') {
		*exit_rc = usage_error("invalid METHOD '%s'", args->method);
		return false;
	}
	return true;
}

bool rpc_parse_args(int argc, char **argv, struct rpc_args *args, int *exit_rc)
{
	json_t *params = NULL, *request;

	*args = (struct rpc_args){.path = SPIO_RPC_DEFAULT_SOCKET, .timeout = 60};
	g_rpc_prog = "spio_rpc";
	if (argc > 0 && argv[0] != NULL) {
		const char *slash = strrchr(argv[0], '/');

		g_rpc_prog = slash ? slash + 1 : argv[0];
	}
	if (!parse(argc, argv, args, &params, exit_rc)) {
		json_decref(params);
		return false;
	}

	request = json_pack("{s:s, s:s, s:i}", "jsonrpc", "2.0", "method", args->method, "id", 1);
	if (request == NULL) {
		/* json_object_set_new() takes params, even when it fails; here nobody did */
		json_decref(params);
	}
	if (request == NULL || (params != NULL && json_object_set_new(request, "params", params))) {
		fprintf(stderr, "%s: cannot build the request (method not UTF-8?)\n", g_rpc_prog);
		json_decref(request);
		*exit_rc = RPC_EXIT_USAGE;
		return false;
	}
	args->request = json_dumps(request, JSON_COMPACT);
	json_decref(request);
	if (args->request == NULL) {
		fprintf(stderr, "%s: out of memory\n", g_rpc_prog);
		*exit_rc = RPC_EXIT_CONN;
		return false;
	}
	return true;
}

void rpc_args_fini(struct rpc_args *args)
{
	free(args->request);
	args->request = NULL;
}
