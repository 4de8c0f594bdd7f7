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

#include "opts.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_socket(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "%s: socket path %s is too long (limit %zu bytes)\n", g_rpc_prog,
			path, sizeof(addr.sun_path) - 1);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "%s: socket: %s\n", g_rpc_prog, strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		fprintf(stderr,
			"%s: cannot connect to %s: %s (is the application running? -s selects "
			"the socket)\n",
			g_rpc_prog, path, strerror(errno));
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
			fprintf(stderr, "%s: %s while sending to %s\n", g_rpc_prog,
				rc == 0 ? "timeout" : strerror(errno), path);
			return -1;
		}
		n = send(fd, data + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				continue;
			}
			fprintf(stderr, "%s: cannot send to %s: %s\n", g_rpc_prog, path,
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
		fprintf(stderr, "%s: out of memory\n", g_rpc_prog);
		return NULL;
	}
	for (;;) {
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc == 0) {
			fprintf(stderr, "%s: no response from %s within %g s\n", g_rpc_prog, path,
				timeout);
			break;
		}
		if (rc < 0) {
			fprintf(stderr, "%s: poll: %s\n", g_rpc_prog, strerror(errno));
			break;
		}
		if (len == cap) {
			char *p = realloc(buf, cap * 2);

			if (p == NULL) {
				fprintf(stderr, "%s: out of memory\n", g_rpc_prog);
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
			fprintf(stderr, "%s: cannot read from %s: %s\n", g_rpc_prog, path,
				strerror(errno));
			break;
		}
		if (n == 0) {
			fprintf(stderr, "%s: %s closed the connection without %s\n", g_rpc_prog,
				path, len ? "a complete response" : "a response");
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
			fprintf(stderr, "%s: invalid response from %s: %s\n", g_rpc_prog, path,
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
	json_t *resp, *error, *result;
	struct rpc_args args;
	double deadline;
	int fd, rc;

	if (!rpc_parse_args(argc, argv, &args, &rc)) {
		rpc_args_fini(&args);
		return rc;
	}

	fd = connect_socket(args.path);
	if (fd < 0) {
		rpc_args_fini(&args);
		return RPC_EXIT_CONN;
	}
	deadline = args.timeout > 0 ? now_s() + args.timeout : 0;
	if (send_all(fd, args.request, strlen(args.request), deadline, args.path) != 0) {
		rpc_args_fini(&args);
		close(fd);
		return RPC_EXIT_CONN;
	}
	rpc_args_fini(&args);
	resp = recv_response(fd, deadline, args.path, args.timeout);
	close(fd);
	if (resp == NULL) {
		return RPC_EXIT_CONN;
	}

	error = json_object_get(resp, "error");
	result = json_object_get(resp, "result");
	if (json_is_object(error)) {
		print_json(stderr, error);
		rc = RPC_EXIT_ERROR;
	} else if (result != NULL && json_integer_value(json_object_get(resp, "id")) == 1) {
		rc = print_json(stdout, result) == 0 ? RPC_EXIT_OK : RPC_EXIT_CONN;
	} else {
		fprintf(stderr, "%s: invalid response from %s (no result for id 1): ", g_rpc_prog,
			args.path);
		print_json(stderr, resp);
		rc = RPC_EXIT_CONN;
	}
	json_decref(resp);
	return rc;
}
