/*
 * spio_top's JSON-RPC client: one Unix stream connection, one request at a
 * time. The server ends each response with a newline; a response is taken as
 * complete when the text up to a newline parses as one JSON value.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "top.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int top_rpc_connect(struct top_rpc *c, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int rc;

	c->fd = -1;
	c->path = path;
	c->len = 0;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "socket path %s is too long (limit %zu bytes)", path,
			 sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		rc = -errno;
		snprintf(err, errlen,
			 "cannot connect to %s: %s (is spio_tgt running? -r selects the socket)",
			 path, strerror(errno));
		close(c->fd);
		c->fd = -1;
		return rc;
	}
	return 0;
}

void top_rpc_close(struct top_rpc *c)
{
	if (c->fd >= 0) {
		close(c->fd);
	}
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

static int send_all(int fd, const char *p, size_t len, int64_t deadline)
{
	while (len > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			return -ETIMEDOUT;
		}
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (n < 0) {
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read until a whole JSON value ends at a newline; *out is parsed. */
static int recv_value(struct top_rpc *c, int64_t deadline, struct spio_json_val **out)
{
	size_t scan = 0;

	for (;;) {
		char *nl = c->len > scan ? memchr(c->buf + scan, '\n', c->len - scan) : NULL;

		if (nl != NULL) {
			size_t end = (size_t)(nl - c->buf);

			*out = spio_json_parse(c->buf, end, NULL, 0);
			if (*out != NULL) {
				memmove(c->buf, nl + 1, c->len - end - 1);
				c->len -= end + 1;
				return 0;
			}
			scan = end + 1; /* a newline inside the value: read on */
			continue;
		}
		if (c->len + 65536 > c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *p;

			if (cap > 256u * 1024 * 1024) {
				return -EMSGSIZE;
			}
			p = realloc(c->buf, cap);
			if (p == NULL) {
				return -ENOMEM;
			}
			c->buf = p;
			c->cap = cap;
		}
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			return -ETIMEDOUT;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (n < 0) {
			return -errno;
		}
		if (n == 0) {
			return -ECONNRESET;
		}
		c->len += (size_t)n;
	}
}

int top_rpc_call(struct top_rpc *c, const char *method, int timeout_ms,
		 struct spio_json_val **result, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct spio_json_val *resp = NULL;
	const struct spio_json_val *e;
	char req[256];
	int n, rc;

	*result = NULL;
	for (int attempt = 0;; attempt++) {
		bool reused = c->fd >= 0;

		if (!reused) {
			rc = top_rpc_connect(c, c->path, err, errlen);
			if (rc != 0) {
				return rc;
			}
		}
		n = snprintf(req, sizeof(req),
			     "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"id\":%" PRIu64 "}\n", method,
			     ++c->next_id);
		rc = send_all(c->fd, req, (size_t)n, deadline);
		if (rc == 0) {
			rc = recv_value(c, deadline, &resp);
		}
		/* The server closes connections idle for a minute: once more on a new one. */
		if (attempt == 0 && reused && (rc == -ECONNRESET || rc == -EPIPE)) {
			top_rpc_close(c);
			continue;
		}
		break;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s on %s: %s", method, c->path,
			 rc == -ECONNRESET ? "the target closed the connection" : strerror(-rc));
		top_rpc_close(c);
		return rc;
	}
	e = spio_json_object_get(resp, "error");
	if (e != NULL) {
		const char *msg = spio_json_string(spio_json_object_get(e, "message"));
		int64_t code = 0;

		spio_json_integer(spio_json_object_get(e, "code"), &code);
		snprintf(err, errlen, "%s: error %" PRId64 ": %s", method, code,
			 msg != NULL ? msg : "");
		spio_json_val_free(resp);
		return 1;
	}
	if (spio_json_object_get(resp, "result") == NULL) {
		snprintf(err, errlen, "%s: the answer has neither result nor error", method);
		spio_json_val_free(resp);
		return 1;
	}
	*result = spio_json_val_ref(spio_json_object_get(resp, "result"));
	spio_json_val_free(resp);
	return *result != NULL ? 0 : -ENOMEM;
}
