/*
 * spio_rpc: command-line JSON-RPC client for spdk-io applications.
 *
 *   spio_rpc [-s SOCKET] [-t TIMEOUT] METHOD [--KEY [VALUE]]...
 *   spio_rpc [-s SOCKET] [-t TIMEOUT] call METHOD ['JSON PARAMS']
 *
 * Sends one request, prints the result as indented JSON on stdout. Exit
 * status: 0 success, 1 the server answered with an error (printed on stderr),
 * 2 connection or protocol failure (no server, timeout, closed, bad answer),
 * 64 usage error. See docs/rpc.md.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "spio/rpc.h"

#define EXIT_RPC_ERROR 1
#define EXIT_CONN 2
#define EXIT_USAGE 64

static const char *g_prog = "spio_rpc";

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
		g_prog, g_prog, g_prog, SPIO_RPC_DEFAULT_SOCKET, g_prog, g_prog, g_prog);
}

static void short_usage(void)
{
	fprintf(stderr,
		"usage: %s [-s SOCKET] [-t TIMEOUT] METHOD [--KEY [VALUE]]...\n"
		"       %s [-s SOCKET] [-t TIMEOUT] call METHOD ['JSON PARAMS']\n"
		"Run '%s -h' for help.\n",
		g_prog, g_prog, g_prog);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", g_prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	short_usage();
	return EXIT_USAGE;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static int connect_socket(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "%s: socket path %s is too long (limit %zu bytes)\n", g_prog, path,
			sizeof(addr.sun_path) - 1);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "%s: socket: %s\n", g_prog, strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		fprintf(stderr,
			"%s: cannot connect to %s: %s (is the application running? -s selects "
			"the socket)\n",
			g_prog, path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Wait for `events` on fd until `deadline` (0: forever). 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, double deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int ms, rc;

	for (;;) {
		ms = -1;
		if (deadline > 0) {
			double left = deadline - now_s();

			if (left <= 0) {
				return 0;
			}
			ms = (int)ceil(left * 1000);
		}
		rc = poll(&pfd, 1, ms);
		if (rc < 0 && errno == EINTR) {
			continue;
		}
		return rc < 0 ? -1 : rc;
	}
}

static int send_all(int fd, const char *data, size_t len, double deadline, const char *path)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		int rc = wait_fd(fd, POLLOUT, deadline);

		if (rc <= 0) {
			fprintf(stderr, "%s: %s while sending to %s\n", g_prog,
				rc == 0 ? "timeout" : strerror(errno), path);
			return -1;
		}
		n = send(fd, data + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				continue;
			}
			fprintf(stderr, "%s: cannot send to %s: %s\n", g_prog, path,
				strerror(errno));
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/* Read one JSON value from fd; NULL (printed) on failure. */
static json_t *recv_response(int fd, double deadline, const char *path, double timeout)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	json_error_t err;
	json_t *v = NULL;
	ssize_t n;
	int rc;

	if (buf == NULL) {
		fprintf(stderr, "%s: out of memory\n", g_prog);
		return NULL;
	}
	for (;;) {
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc == 0) {
			fprintf(stderr, "%s: no response from %s within %g s\n", g_prog, path,
				timeout);
			break;
		}
		if (rc < 0) {
			fprintf(stderr, "%s: poll: %s\n", g_prog, strerror(errno));
			break;
		}
		if (len == cap) {
			char *p = realloc(buf, cap * 2);

			if (p == NULL) {
				fprintf(stderr, "%s: out of memory\n", g_prog);
				break;
			}
			buf = p;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				continue;
			}
			fprintf(stderr, "%s: cannot read from %s: %s\n", g_prog, path,
				strerror(errno));
			break;
		}
		if (n == 0) {
			fprintf(stderr, "%s: %s closed the connection without %s\n", g_prog, path,
				len ? "a complete response" : "a response");
			break;
		}
		len += (size_t)n;
		/* a value can only end with '}' (optionally followed by blanks) */
		{
			size_t end = len;

			while (end > 0 && strchr(" \t\r\n", buf[end - 1]) != NULL) {
				end--;
			}
			if (end == 0 || buf[end - 1] != '}') {
				continue;
			}
		}
		v = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &err);
		if (v != NULL) {
			break;
		}
		if (json_error_code(&err) != json_error_premature_end_of_input) {
			fprintf(stderr, "%s: invalid response from %s: %s\n", g_prog, path,
				err.text);
			break;
		}
	}
	free(buf);
	return v;
}

static int print_json(FILE *out, const json_t *v)
{
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (text == NULL) {
		return -1;
	}
	fprintf(out, "%s\n", text);
	free(text);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = SPIO_RPC_DEFAULT_SOCKET, *method;
	double timeout = 60, deadline;
	json_t *params = NULL, *request, *resp, *error, *result;
	char *text, *end;
	int opt, fd, rc = 0;

	if (argc > 0 && argv[0] != NULL) {
		const char *slash = strrchr(argv[0], '/');

		g_prog = slash ? slash + 1 : argv[0];
	}
	while ((opt = getopt(argc, argv, "+hs:t:")) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 0;
		case 's':
			if (optarg[0] == '\0') {
				return usage_error("-s needs a socket path%s", "");
			}
			path = optarg;
			break;
		case 't':
			errno = 0;
			timeout = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(timeout >= 0) ||
			    timeout > 1e6) {
				return usage_error("-t: expected a number of seconds, got '%s'",
						   optarg);
			}
			break;
		default:
			short_usage();
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		return usage_error("missing METHOD%s", "");
	}
	method = argv[optind++];
	if (strcmp(method, "call") == 0) {
		json_error_t err;

		if (optind >= argc) {
			return usage_error("call: missing METHOD%s", "");
		}
		method = argv[optind++];
		if (optind < argc) {
			params = json_loads(argv[optind++], JSON_DECODE_ANY, &err);
			if (params == NULL) {
				fprintf(stderr, "%s: call %s: params are not valid JSON: %s\n",
					g_prog, method, err.text);
				short_usage();
				return EXIT_USAGE;
			}
			if (!json_is_object(params) && !json_is_array(params)) {
				json_decref(params);
				return usage_error("call: params must be a JSON object or array, "
						   "got '%s'",
						   argv[optind - 1]);
			}
		}
		if (optind < argc) {
			json_decref(params);
			return usage_error("call: unexpected argument '%s' after the params",
					   argv[optind]);
		}
	} else if (optind < argc) {
		params = params_from_pairs(argc - optind, argv + optind, &rc);
		if (params == NULL) {
			return rc;
		}
	}
	if (method[0] == '\0' || method[0] == '-') {
		json_decref(params);
		return usage_error("invalid METHOD '%s'", method);
	}

	request = json_pack("{s:s, s:s, s:i}", "jsonrpc", "2.0", "method", method, "id", 1);
	if (request == NULL || (params != NULL && json_object_set_new(request, "params", params))) {
		fprintf(stderr, "%s: cannot build the request (method not UTF-8?)\n", g_prog);
		json_decref(request);
		return EXIT_USAGE;
	}
	text = json_dumps(request, JSON_COMPACT);
	json_decref(request);
	if (text == NULL) {
		fprintf(stderr, "%s: out of memory\n", g_prog);
		return EXIT_CONN;
	}

	fd = connect_socket(path);
	if (fd < 0) {
		free(text);
		return EXIT_CONN;
	}
	deadline = timeout > 0 ? now_s() + timeout : 0;
	if (send_all(fd, text, strlen(text), deadline, path) != 0) {
		free(text);
		close(fd);
		return EXIT_CONN;
	}
	free(text);
	resp = recv_response(fd, deadline, path, timeout);
	close(fd);
	if (resp == NULL) {
		return EXIT_CONN;
	}

	error = json_object_get(resp, "error");
	result = json_object_get(resp, "result");
	if (json_is_object(error)) {
		print_json(stderr, error);
		rc = EXIT_RPC_ERROR;
	} else if (result != NULL && json_integer_value(json_object_get(resp, "id")) == 1) {
		rc = print_json(stdout, result) == 0 ? 0 : EXIT_CONN;
	} else {
		fprintf(stderr, "%s: invalid response from %s (no result for id 1): ", g_prog,
			path);
		print_json(stderr, resp);
		rc = EXIT_CONN;
	}
	json_decref(resp);
	return rc;
}
