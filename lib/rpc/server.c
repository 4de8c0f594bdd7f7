/*
 * The JSON-RPC server: a non-blocking Unix stream socket and its connections,
 * served by one poller on the thread that started it.
 *
 * One epoll set holds the listener and every connection, so a poll costs one
 * epoll_wait(timeout 0) whatever the number of clients. The poller runs every
 * poll and hands that epoll fd to its thread as its interrupt fd
 * (spio_poller_set_interrupt_fd): a reactor in adaptive idle sleeps until a
 * client connects, sends or can take output, where SPDK polls its socket every
 * 4 ms. While connections are open a second, timed poller (once a second)
 * wakes the thread for the idle and write timeouts. Where the fd cannot be
 * watched, the poller falls back to active while a connection is open and
 * timed (idle_poll_period_us) while none is. It reports BUSY only when it
 * accepted, read, wrote or answered.
 *
 * Each connection has an input buffer holding at most one incomplete request
 * (at most SPIO_RPC_MAX_REQUEST_SIZE bytes plus one read) and a scanner that
 * finds where each JSON value of the stream ends: a container ends at its
 * matching bracket (brackets inside strings do not count), a string at its
 * closing quote, a number or literal at the next delimiter. Only the complete
 * value is then parsed with jansson (duplicate object keys refused, as the
 * config loader refuses them).
 *
 * The requests of one connection run one at a time, in order: the next is not
 * parsed until the one before has answered (an asynchronous method included),
 * so `create X; delete X; create X` sent at once behaves as sent one by one.
 * Responses are appended to an output buffer that is written without
 * blocking. A connection stops being read while a request runs or it has
 * out_high_water bytes of unsent output (back-pressure), and is closed when
 * its output grows beyond out_max, the client has not accepted any of it for
 * write_timeout_us, or it has sent no complete request for idle_timeout_us.
 *
 * Fairness: a connection starts at most RPC_MAX_REQUESTS_PER_POLL requests
 * per poll and reads at most one chunk; one with more input waiting is served
 * again on the next poll, after the others. Connections beyond max_conns are
 * accepted and closed at once (the backlog must not fill with them), and
 * logged at most once per RPC_REFUSAL_LOG_PERIOD_US with the count since the
 * last line.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "env/fault.h"
#include "rpc_internal.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/thread.h"

SPIO_LOG_REGISTER_COMPONENT(rpc)

#define RPC_READ_CHUNK (64u * 1024)
#define RPC_KEEP_BUF (64u * 1024) /* buffers larger than this are freed when empty */
#define RPC_EPOLL_BATCH 64
#define RPC_ACCEPT_BATCH 16
#define RPC_STALL_CHECK_US 10000
/* Period of the timeouts poller that wakes a sleeping thread while connections are open. */
#define RPC_TIMER_PERIOD_US (1000ull * 1000)

enum scan_kind {
	SCAN_NONE = 0,	/* between values */
	SCAN_CONTAINER, /* object or array */
	SCAN_STRING,
	SCAN_SCALAR, /* number or literal */
};

enum scan_result {
	SCAN_MORE = 0,	/* no complete value yet */
	SCAN_VALUE,	/* a value at [in_off, scan_end) */
	SCAN_TOO_LARGE, /* the current value exceeds SPIO_RPC_MAX_REQUEST_SIZE */
	SCAN_GARBAGE,	/* a byte that cannot start a JSON value */
};

struct rpc_conn {
	int fd;
	bool dead;	 /* fd closed; freed once no request refers to it */
	bool in_use;	 /* being serviced by the poller: do not free */
	bool closing;	 /* no more input; close once the output is sent */
	bool eof;	 /* the client shut its side down */
	bool on_pending; /* in g_server.pending */
	bool registered; /* fd in the epoll set */
	uint32_t events; /* epoll interest while registered */
	TAILQ_ENTRY(rpc_conn) link;
	TAILQ_ENTRY(rpc_conn) pending_link;

	TAILQ_HEAD(, spio_jsonrpc_request) reqs; /* unanswered and waiting, in order */
	uint32_t nreqs;

	/* Input: bytes [in_off, in_len) of `in` are unconsumed. */
	char *in;
	size_t in_off, in_len, in_cap;
	size_t scan_pos; /* next byte to scan */
	enum scan_kind kind;
	uint32_t depth;
	bool in_str, esc;

	/* Output: bytes [out.off, out.len) are unsent. */
	struct rpc_buf out;
	size_t out_off;
	uint64_t stall_start; /* ticks since the output has waited for the client, 0 if not */
	uint64_t idle_since;  /* ticks of the connect or the last response */
	uint64_t id;
};

TAILQ_HEAD(rpc_conn_list, rpc_conn);

struct rpc_server {
	bool running;
	uint64_t generation; /* bumped by stop: pollers in flight must not go on */
	struct spio_thread *thread;
	struct spio_poller *poller;
	bool poller_active;
	bool poller_intr;	   /* the poller wakes the thread through epfd */
	struct spio_poller *timer; /* timeouts while asleep (poller_intr, connections open) */
	int listen_fd;
	int epfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t sock_dev;
	ino_t sock_ino;
	struct rpc_conn_list conns;
	struct rpc_conn_list pending; /* need service without an epoll event */
	uint32_t nconns;
	uint32_t npending; /* entries of `pending` */
	uint64_t next_conn_id;
	uint64_t next_stall_check;
	uint64_t refused;	 /* connections refused since the last log line */
	uint64_t refusal_log_at; /* ticks of that line */
	bool refusal_logged;	 /* a line has been written */
};

static struct rpc_server g_server = {.listen_fd = -1, .epfd = -1};

static struct rpc_server_limits g_limits = {
    .max_conns = 128,
    .out_high_water = 1024 * 1024,
    .out_max = 2 * RPC_MAX_RESPONSE_SIZE,
    .write_timeout_us = 30 * 1000 * 1000,
    .idle_timeout_us = RPC_IDLE_TIMEOUT_US,
    .idle_poll_period_us = 4000, /* as SPDK polls its RPC socket */
};

static uint64_t (*g_ticks_fn)(void);

uint64_t rpc_get_ticks(void)
{
	uint64_t (*fn)(void) = __atomic_load_n(&g_ticks_fn, __ATOMIC_RELAXED);

	return fn != NULL ? fn() : spio_get_ticks();
}

void rpc_set_ticks_fn(uint64_t (*fn)(void))
{
	__atomic_store_n(&g_ticks_fn, fn, __ATOMIC_RELAXED);
}

void rpc_server_get_limits(struct rpc_server_limits *limits)
{
	*limits = g_limits;
}

void rpc_server_set_limits(const struct rpc_server_limits *limits)
{
	g_limits = *limits;
}

bool rpc_server_thread_ok(void)
{
	struct spio_thread *t = spio_get_thread();

	if (t == NULL) {
		return false;
	}
	return !g_server.running || t == g_server.thread;
}

const char *spio_rpc_server_get_path(void)
{
	return g_server.running ? g_server.path : NULL;
}

/* --- connections ---------------------------------------------------------- */

static size_t out_pending(const struct rpc_conn *c)
{
	return c->out.len - c->out_off;
}

/* No request may start now: one is running (requests run in order) or output backs up. */
static bool conn_throttled(const struct rpc_conn *c)
{
	return c->nreqs > 0 || out_pending(c) >= g_limits.out_high_water;
}

static void conn_free(struct rpc_conn *c)
{
	free(c->in);
	rpc_buf_free(&c->out);
	free(c);
}

/* Free a closed connection once nothing refers to it any more. */
static void conn_release(struct rpc_conn *c)
{
	if (c->dead && !c->in_use && c->nreqs == 0) {
		conn_free(c);
	}
}

static void pending_add(struct rpc_conn *c)
{
	if (!c->on_pending && !c->dead) {
		TAILQ_INSERT_TAIL(&g_server.pending, c, pending_link);
		c->on_pending = true;
		g_server.npending++;
	}
}

static void pending_remove(struct rpc_conn *c)
{
	if (c->on_pending) {
		TAILQ_REMOVE(&g_server.pending, c, pending_link);
		c->on_pending = false;
		g_server.npending--;
	}
}

/*
 * Close the socket now. Requests still running keep the structure alive; their
 * responses are dropped. Never frees: callers end with conn_release().
 */
static void conn_close(struct rpc_conn *c, const char *why)
{
	struct spio_jsonrpc_request *req, *tmp;

	if (c->dead) {
		return;
	}
	SPIO_DEBUGLOG(rpc, "RPC connection %llu closed: %s", (unsigned long long)c->id, why);
	if (c->registered) {
		epoll_ctl(g_server.epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->registered = false;
	}
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	pending_remove(c);
	TAILQ_REMOVE(&g_server.conns, c, link);
	g_server.nconns--;

	/* Answered requests waiting for an earlier one can go now. */
	for (req = TAILQ_FIRST(&c->reqs); req != NULL; req = tmp) {
		tmp = TAILQ_NEXT(req, link);
		if (req->done) {
			TAILQ_REMOVE(&c->reqs, req, link);
			c->nreqs--;
			rpc_request_free(req);
		}
	}
	free(c->in);
	c->in = NULL;
	c->in_off = c->in_len = c->in_cap = 0;
	rpc_buf_free(&c->out);
	c->out_off = 0;
}

static void conn_update_events(struct rpc_conn *c)
{
	uint32_t want = 0;
	struct epoll_event ev;
	int rc;

	if (c->dead) {
		return;
	}
	if (!c->closing && !c->eof && !conn_throttled(c)) {
		want |= EPOLLIN;
	}
	if (out_pending(c) > 0) {
		want |= EPOLLOUT;
	}
	/* Nothing wanted: leave the set, or a hung-up peer would wake every poll. */
	if (want == 0) {
		if (c->registered) {
			epoll_ctl(g_server.epfd, EPOLL_CTL_DEL, c->fd, NULL);
			c->registered = false;
		}
		return;
	}
	if (c->registered && want == c->events) {
		return;
	}
	ev.events = want;
	ev.data.ptr = c;
	rc = epoll_ctl(g_server.epfd, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev);
	if (rc != 0) {
		SPIO_ERRLOG("RPC connection %llu: epoll_ctl failed: %s", (unsigned long long)c->id,
			    strerror(errno));
		conn_close(c, "epoll_ctl failed");
		return;
	}
	c->registered = true;
	c->events = want;
}

/* Queue an error for the stream position reached (no request id is known). */
static void conn_stream_error(struct rpc_conn *c, int code, const char *msg)
{
	struct spio_jsonrpc_request *req = rpc_request_new(c);

	if (req == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	TAILQ_INSERT_TAIL(&c->reqs, req, link);
	c->nreqs++;
	spio_jsonrpc_send_error_response(req, code, msg);
}

static void scan_reset(struct rpc_conn *c)
{
	c->kind = SCAN_NONE;
	c->depth = 0;
	c->in_str = false;
	c->esc = false;
}

/* Find the end of the JSON value that starts at c->in_off (after blanks). */
static enum scan_result conn_scan(struct rpc_conn *c, size_t *end)
{
	const char *buf = c->in;
	size_t i;

	for (i = c->scan_pos; i < c->in_len; i++) {
		char ch = buf[i];

		switch (c->kind) {
		case SCAN_NONE:
			if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
				c->in_off = i + 1; /* blanks between values are dropped */
				continue;
			}
			if (ch == '{' || ch == '[') {
				c->kind = SCAN_CONTAINER;
				c->depth = 1;
			} else if (ch == '"') {
				c->kind = SCAN_STRING;
				c->in_str = true;
			} else if (ch == '-' || (ch >= '0' && ch <= '9') || ch == 't' ||
				   ch == 'f' || ch == 'n') {
				c->kind = SCAN_SCALAR;
			} else {
				c->scan_pos = i;
				return SCAN_GARBAGE;
			}
			continue;
		case SCAN_SCALAR:
			if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '{' ||
			    ch == '}' || ch == '[' || ch == ']' || ch == ',' || ch == ':' ||
			    ch == '"') {
				c->scan_pos = i;
				*end = i;
				return SCAN_VALUE;
			}
			continue;
		case SCAN_STRING:
		case SCAN_CONTAINER:
			if (c->in_str) {
				if (c->esc) {
					c->esc = false;
				} else if (ch == '\\') {
					c->esc = true;
				} else if (ch == '"') {
					c->in_str = false;
					if (c->kind == SCAN_STRING) {
						c->scan_pos = i + 1;
						*end = i + 1;
						return SCAN_VALUE;
					}
				}
			} else if (ch == '"') {
				c->in_str = true;
			} else if (ch == '{' || ch == '[') {
				c->depth++;
			} else if (ch == '}' || ch == ']') {
				if (--c->depth == 0) {
					c->scan_pos = i + 1;
					*end = i + 1;
					return SCAN_VALUE;
				}
			}
			continue;
		}
	}
	c->scan_pos = i;
	if (c->kind == SCAN_SCALAR && c->eof) {
		*end = i; /* the end of the stream ends a number or literal too */
		return SCAN_VALUE;
	}
	if (c->kind != SCAN_NONE && c->in_len - c->in_off > SPIO_RPC_MAX_REQUEST_SIZE) {
		return SCAN_TOO_LARGE;
	}
	return SCAN_MORE;
}

/* Nesting depth (objects and arrays) at byte `pos` of the JSON text `p`. */
static uint32_t json_depth_at(const char *p, size_t pos)
{
	bool in_str = false, esc = false;
	uint32_t depth = 0;

	for (size_t i = 0; i < pos; i++) {
		if (in_str) {
			if (esc) {
				esc = false;
			} else if (p[i] == '\\') {
				esc = true;
			} else if (p[i] == '"') {
				in_str = false;
			}
		} else if (p[i] == '"') {
			in_str = true;
		} else if (p[i] == '{' || p[i] == '[') {
			depth++;
		} else if ((p[i] == '}' || p[i] == ']') && depth > 0) {
			depth--;
		}
	}
	return depth;
}

struct parsed {
	json_t *root;  /* NULL: a syntax error, in err */
	bool overflow; /* an integer jansson cannot hold: read as a real */
	int dup_code;  /* a duplicate key: the error to answer, else 0 */
	char dup_msg[JSON_ERROR_TEXT_LENGTH + 96];
	json_error_t err;
};

/*
 * Parse one complete value. Duplicate keys and integers out of jansson's range
 * are valid JSON: the value is parsed without the check that failed, so that
 * the request's id is known, and the request is answered with an error.
 */
static void parse_value(const char *p, size_t len, struct parsed *out)
{
	size_t flags = JSON_DECODE_ANY | JSON_REJECT_DUPLICATES;
	json_error_t *err = &out->err;

	out->overflow = false;
	out->dup_code = 0;
	for (int tries = 0; tries < 3; tries++) {
		out->root = json_loadb(p, len, flags, err);
		if (out->root != NULL) {
			return;
		}
		if (json_error_code(err) == json_error_duplicate_key &&
		    (flags & JSON_REJECT_DUPLICATES)) {
			uint32_t depth = json_depth_at(p, (size_t)err->position);
			bool envelope = p[0] == '[' ? depth <= 2 : depth <= 1;

			/* the config loader's wording: line, column and jansson's text */
			out->dup_code = envelope ? SPIO_JSONRPC_ERROR_INVALID_REQUEST
						 : SPIO_JSONRPC_ERROR_INVALID_PARAMS;
			snprintf(out->dup_msg, sizeof(out->dup_msg), "%s: line %d, column %d: %s",
				 envelope ? "Invalid request" : "Invalid params", err->line,
				 err->column, err->text);
			flags &= ~(size_t)JSON_REJECT_DUPLICATES;
			continue;
		}
		if (json_error_code(err) == json_error_numeric_overflow &&
		    !(flags & JSON_DECODE_INT_AS_REAL)) {
			out->overflow = true;
			flags |= JSON_DECODE_INT_AS_REAL;
			continue;
		}
		return;
	}
}

/*
 * Parse and run the complete requests buffered, one at a time, at most
 * `budget` of them, until throttled. Returns true if any.
 */
static bool conn_process_input(struct rpc_conn *c, uint32_t budget)
{
	char msg[JSON_ERROR_TEXT_LENGTH + 64];
	struct spio_jsonrpc_request *req;
	struct parsed parsed;
	enum scan_result r;
	size_t end;
	bool did = false;

	while (!c->dead && !c->closing && !conn_throttled(c) && budget > 0) {
		r = conn_scan(c, &end);
		if (r == SCAN_MORE) {
			break;
		}
		did = true;
		budget--;
		if (r == SCAN_TOO_LARGE) {
			snprintf(msg, sizeof(msg),
				 "Invalid request: larger than the limit of %u bytes; closing the "
				 "connection",
				 SPIO_RPC_MAX_REQUEST_SIZE);
			conn_stream_error(c, SPIO_JSONRPC_ERROR_INVALID_REQUEST, msg);
			c->closing = true;
			break;
		}
		if (r == SCAN_GARBAGE) {
			snprintf(msg, sizeof(msg),
				 "Parse error: byte 0x%02x cannot start a JSON value; closing the "
				 "connection",
				 (unsigned char)c->in[c->scan_pos]);
			conn_stream_error(c, SPIO_JSONRPC_ERROR_PARSE_ERROR, msg);
			c->closing = true;
			break;
		}
		if (end - c->in_off > SPIO_RPC_MAX_REQUEST_SIZE) {
			snprintf(msg, sizeof(msg),
				 "Invalid request: larger than the limit of %u bytes; closing the "
				 "connection",
				 SPIO_RPC_MAX_REQUEST_SIZE);
			conn_stream_error(c, SPIO_JSONRPC_ERROR_INVALID_REQUEST, msg);
			c->closing = true;
			break;
		}

		parse_value(c->in + c->in_off, end - c->in_off, &parsed);
		c->in_off = end;
		scan_reset(c);
		if (parsed.root == NULL) {
			snprintf(msg, sizeof(msg), "Parse error: %s; closing the connection",
				 parsed.err.text);
			conn_stream_error(c, SPIO_JSONRPC_ERROR_PARSE_ERROR, msg);
			c->closing = true;
			break;
		}

		req = rpc_request_new(c);
		if (req != NULL && parsed.dup_code != 0) {
			req->dup_code = parsed.dup_code;
			req->dup_msg = strdup(parsed.dup_msg);
			if (req->dup_msg == NULL) {
				rpc_request_free(req);
				req = NULL;
			}
		}
		if (req == NULL) {
			json_decref(parsed.root);
			conn_close(c, "out of memory");
			break;
		}
		req->overflow = parsed.overflow;
		TAILQ_INSERT_TAIL(&c->reqs, req, link);
		c->nreqs++;
		rpc_request_handle(req, parsed.root); /* may answer now or later */
	}
	if (!c->dead && c->in_off == c->in_len) {
		/* everything consumed: restart at the buffer's start */
		c->in_off = c->in_len = c->scan_pos = 0;
		if (c->in_cap > RPC_KEEP_BUF) {
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
	}
	return did;
}

/* Read once from the socket. Returns true if bytes or EOF arrived. */
static bool conn_read(struct rpc_conn *c)
{
	size_t limit = SPIO_RPC_MAX_REQUEST_SIZE + RPC_READ_CHUNK, want;
	ssize_t n;

	/* Move the unconsumed tail to the front, then make room for one chunk. */
	if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->scan_pos -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_cap - c->in_len < RPC_READ_CHUNK) {
		size_t cap = c->in_cap ? c->in_cap : RPC_READ_CHUNK;
		char *p;

		while (cap - c->in_len < RPC_READ_CHUNK && cap < limit) {
			cap *= 2;
		}
		if (cap > limit) {
			cap = limit;
		}
		if (cap != c->in_cap) {
			p = realloc(c->in, cap);
			if (p == NULL) {
				conn_close(c, "out of memory");
				return true;
			}
			c->in = p;
			c->in_cap = cap;
		}
	}
	want = c->in_cap - c->in_len;
	if (want == 0) {
		return false; /* the scanner reports the request as too large */
	}
	n = recv(c->fd, c->in + c->in_len, want, MSG_DONTWAIT);
	if (n > 0) {
		c->in_len += (size_t)n;
		return true;
	}
	if (n == 0) {
		c->eof = true;
		return true;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		return false;
	}
	conn_close(c, strerror(errno));
	return true;
}

/* Write as much pending output as the socket takes. Returns true if any. */
static bool conn_send(struct rpc_conn *c)
{
	bool did = false;
	ssize_t n;

	while (!c->dead && out_pending(c) > 0) {
		n = fault_hit(FAULT_SOCK_SEND) ? fault_fail(ECONNRESET)
					       : send(c->fd, c->out.data + c->out_off,
						      out_pending(c), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			c->stall_start = 0;
			did = true;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (c->stall_start == 0) {
				c->stall_start = rpc_get_ticks();
			}
			break;
		}
		conn_close(c, n < 0 ? strerror(errno) : "send returned 0");
		return true;
	}
	if (!c->dead && out_pending(c) == 0) {
		c->out.len = 0;
		c->out_off = 0;
		c->stall_start = 0;
		if (c->out.cap > RPC_KEEP_BUF) {
			rpc_buf_free(&c->out);
		}
	}
	return did;
}

/* Move the answered requests at the head of the queue to the output buffer. */
static void conn_collect_responses(struct rpc_conn *c)
{
	struct spio_jsonrpc_request *req;

	while ((req = TAILQ_FIRST(&c->reqs)) != NULL && req->done) {
		TAILQ_REMOVE(&c->reqs, req, link);
		c->nreqs--;
		c->idle_since = rpc_get_ticks();
		if (!c->dead && req->resp.len > 0) {
			if (out_pending(c) == 0 && c->out.cap <= req->resp.cap) {
				/* adopt the response buffer instead of copying it */
				rpc_buf_free(&c->out);
				c->out = req->resp;
				c->out_off = 0;
				req->resp = (struct rpc_buf){0};
			} else if (out_pending(c) + req->resp.len > g_limits.out_max ||
				   rpc_buf_append(&c->out, req->resp.data, req->resp.len,
						  SIZE_MAX) != 0) {
				SPIO_ERRLOG(
				    "RPC connection %llu: client does not read its responses "
				    "(%zu bytes pending); closing it",
				    (unsigned long long)c->id, out_pending(c));
				rpc_request_free(req);
				conn_close(c, "output buffer limit");
				continue;
			}
		}
		rpc_request_free(req);
	}
}

void rpc_conn_request_done(struct spio_jsonrpc_request *req)
{
	struct rpc_conn *c = req->conn;

	if (c->dead) {
		TAILQ_REMOVE(&c->reqs, req, link);
		c->nreqs--;
		rpc_request_free(req);
		conn_release(c);
		return;
	}
	conn_collect_responses(c);
	if (!c->in_use) {
		/* answered outside the poller (asynchronously): send from the next poll */
		pending_add(c);
	}
}

/* Everything one connection needs: read, run requests, write, close when done. */
static bool conn_service(struct rpc_conn *c, uint32_t events)
{
	bool did = false;

	c->in_use = true;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->closing && !c->eof &&
	    !conn_throttled(c)) {
		did |= conn_read(c);
	}
	if (!c->dead) {
		did |= conn_process_input(c, RPC_MAX_REQUESTS_PER_POLL);
		did |= conn_send(c);
	}
	if (!c->dead && (events & (EPOLLHUP | EPOLLERR)) && (c->eof || c->closing) &&
	    out_pending(c) > 0) {
		conn_close(c, "hung up with unsent responses");
	}
	/* after EOF, requests still buffered (beyond this poll's budget) run first */
	if (!c->dead && (c->closing || (c->eof && c->scan_pos >= c->in_len)) && c->nreqs == 0 &&
	    out_pending(c) == 0) {
		conn_close(c, c->closing ? "closing after an error" : "client closed");
		did = true;
	}
	if (!c->dead) {
		conn_update_events(c);
		/* input left behind by back-pressure that has cleared meanwhile */
		if (!c->closing && !conn_throttled(c) && c->in_len > c->scan_pos) {
			pending_add(c);
		}
	}
	c->in_use = false;
	conn_release(c);
	return did;
}

/* Log the refusals counted, unless a line was written less than a period ago. */
static void refusals_log(uint64_t now)
{
	if (g_server.refused == 0 ||
	    (g_server.refusal_logged &&
	     now - g_server.refusal_log_at < spio_us_to_ticks(RPC_REFUSAL_LOG_PERIOD_US))) {
		return;
	}
	SPIO_ERRLOG("RPC server %s: %u connections open (the limit); refused %llu new "
		    "connection(s) since the last report",
		    g_server.path, g_server.nconns, (unsigned long long)g_server.refused);
	g_server.refused = 0;
	g_server.refusal_log_at = now;
	g_server.refusal_logged = true;
}

static void conn_accept(void)
{
	struct rpc_conn *c;
	int i, fd;

	for (i = 0; i < RPC_ACCEPT_BATCH; i++) {
		fd = accept4(g_server.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED) {
				SPIO_ERRLOG("RPC server %s: accept failed: %s", g_server.path,
					    strerror(errno));
			}
			return;
		}
		if (g_server.nconns >= g_limits.max_conns) {
			close(fd);
			g_server.refused++;
			refusals_log(rpc_get_ticks());
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->id = ++g_server.next_conn_id;
		c->idle_since = rpc_get_ticks();
		TAILQ_INIT(&c->reqs);
		TAILQ_INSERT_TAIL(&g_server.conns, c, link);
		g_server.nconns++;
		conn_update_events(c);
		conn_release(c);
	}
}

/*
 * Close connections whose client has not taken any output for
 * write_timeout_us, or has sent no complete request for idle_timeout_us (a
 * partial one does not count: a client trickling bytes is idle too).
 */
static void check_timeouts(uint64_t now)
{
	uint64_t limit = spio_us_to_ticks(g_limits.write_timeout_us);
	uint64_t idle = spio_us_to_ticks(g_limits.idle_timeout_us);
	struct rpc_conn *c, *tmp;

	for (c = TAILQ_FIRST(&g_server.conns); c != NULL; c = tmp) {
		tmp = TAILQ_NEXT(c, link);
		if (c->nreqs == 0 && out_pending(c) == 0 && now - c->idle_since > idle) {
			SPIO_NOTICELOG("RPC connection %llu: no complete request for %llu ms "
				       "(%zu bytes of a partial one); closing it",
				       (unsigned long long)c->id,
				       (unsigned long long)(g_limits.idle_timeout_us / 1000),
				       c->in_len - c->in_off);
			conn_close(c, "idle timeout");
			conn_release(c);
			continue;
		}
		if (c->stall_start != 0 && now - c->stall_start > limit) {
			SPIO_ERRLOG("RPC connection %llu: client has not read its responses for "
				    "%llu ms (%zu bytes pending); closing it",
				    (unsigned long long)c->id,
				    (unsigned long long)(g_limits.write_timeout_us / 1000),
				    out_pending(c));
			conn_close(c, "write timeout");
			conn_release(c);
		}
	}
}

static int server_poll(void *arg);

/* Register the poller, sleeping on epfd if the thread can watch it. */
static void server_start_poller(void)
{
	struct spio_poller *p = spio_poller_register_named(server_poll, NULL, 0, "rpc_server");

	if (p == NULL) {
		return;
	}
	if (spio_poller_set_interrupt_fd(p, g_server.epfd) == 0) {
		g_server.poller = p;
		g_server.poller_active = true;
		g_server.poller_intr = true;
		return;
	}
	/* No watch: the timed fallback until a connection comes. */
	spio_poller_unregister(&p);
	p = spio_poller_register_named(server_poll, NULL, g_limits.idle_poll_period_us,
				       "rpc_server");
	g_server.poller = p;
	g_server.poller_active = false;
	g_server.poller_intr = false;
}

/*
 * After each poll: with the interrupt fd, the timer runs while connections
 * are open (or refusals wait to be logged); without it, the poller itself
 * is active while there is work and timed otherwise.
 */
static void server_set_poller(bool active)
{
	struct spio_poller *p;

	if (g_server.poller_intr) {
		bool want = g_server.nconns > 0 || g_server.refused > 0;

		if (want && g_server.timer == NULL) {
			g_server.timer = spio_poller_register_named(
			    server_poll, NULL, RPC_TIMER_PERIOD_US, "rpc_server_timeouts");
		} else if (!want && g_server.timer != NULL) {
			spio_poller_unregister(&g_server.timer);
		}
		return;
	}
	if (g_server.poller != NULL && g_server.poller_active == active) {
		return;
	}
	p = spio_poller_register_named(server_poll, NULL, active ? 0 : g_limits.idle_poll_period_us,
				       "rpc_server");
	if (p == NULL) {
		return; /* keep the current one */
	}
	spio_poller_unregister(&g_server.poller);
	g_server.poller = p;
	g_server.poller_active = active;
}

static int server_poll(void *arg)
{
	struct epoll_event events[RPC_EPOLL_BATCH];
	uint64_t gen = g_server.generation, now;
	struct rpc_conn *c;
	bool did = false;
	uint32_t npending;
	int n, i;

	(void)arg;
	n = epoll_wait(g_server.epfd, events, RPC_EPOLL_BATCH, 0);
	for (i = 0; i < n; i++) {
		if (events[i].data.ptr == &g_server) {
			conn_accept();
			did = true;
		} else {
			did |= conn_service(events[i].data.ptr, events[i].events);
		}
		if (gen != g_server.generation) {
			return SPIO_POLLER_BUSY; /* a method stopped the server */
		}
	}
	/* Only those queued before this loop: one served again goes to the next poll. */
	npending = g_server.npending;
	while (npending-- > 0 && (c = TAILQ_FIRST(&g_server.pending)) != NULL) {
		pending_remove(c);
		did |= conn_service(c, 0);
		if (gen != g_server.generation) {
			return SPIO_POLLER_BUSY;
		}
	}
	if (g_server.nconns > 0 || g_server.refused > 0) {
		now = rpc_get_ticks();
		if (now >= g_server.next_stall_check) {
			g_server.next_stall_check = now + spio_us_to_ticks(RPC_STALL_CHECK_US);
			check_timeouts(now);
			refusals_log(now);
		}
	}
	server_set_poller(g_server.nconns > 0 || !TAILQ_EMPTY(&g_server.pending));
	return did ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
}

/* --- start / stop ----------------------------------------------------------- */

/*
 * What is at `path`: 0 if nothing or a stale socket (removed), -EADDRINUSE if
 * a server answers, -EEXIST if it is not a socket, another -errno.
 */
static int clear_stale_socket(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) != 0) {
		return errno == ENOENT ? 0 : -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		SPIO_ERRLOG("RPC server: %s exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		return -errno;
	}
	rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		SPIO_ERRLOG("RPC server: another server is listening on %s", path);
		return -EADDRINUSE;
	}
	rc = errno;
	close(fd);
	if (rc != ECONNREFUSED) {
		return -rc;
	}
	SPIO_NOTICELOG("RPC server: removing stale socket %s", path);
	if (unlink(path) != 0 && errno != ENOENT) {
		return -errno;
	}
	return 0;
}

static void server_reset(void)
{
	if (g_server.epfd >= 0) {
		close(g_server.epfd);
	}
	if (g_server.listen_fd >= 0) {
		close(g_server.listen_fd);
	}
	g_server.epfd = -1;
	g_server.listen_fd = -1;
	g_server.running = false;
	g_server.thread = NULL;
}

int spio_rpc_server_start(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct epoll_event ev;
	struct stat st;
	size_t len;
	int rc;

	if (path == NULL || path[0] == '\0' || spio_get_thread() == NULL) {
		return -EINVAL;
	}
	len = strlen(path);
	if (len >= sizeof(addr.sun_path)) {
		SPIO_ERRLOG("RPC server: socket path %s is %zu bytes; the limit is %zu", path, len,
			    sizeof(addr.sun_path) - 1);
		return -EINVAL;
	}
	if (g_server.running) {
		if (strcmp(path, g_server.path) == 0) {
			SPIO_ERRLOG("RPC server: already listening on %s", path);
			return -EADDRINUSE;
		}
		SPIO_ERRLOG("RPC server: already running on %s; cannot also listen on %s",
			    g_server.path, path);
		return -EALREADY;
	}
	memcpy(addr.sun_path, path, len + 1);

	rc = clear_stale_socket(path, &addr);
	if (rc != 0) {
		return rc;
	}
	g_server.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g_server.listen_fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (bind(g_server.listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		rc = -errno;
		SPIO_ERRLOG("RPC server: cannot bind %s: %s", path, strerror(errno));
		goto fail;
	}
	/* Restrict before listen(): until then no client can connect. */
	if (chmod(path, 0600) != 0 || stat(path, &st) != 0) {
		rc = -errno;
		unlink(path);
		goto fail;
	}
	if (listen(g_server.listen_fd, 128) != 0) {
		rc = -errno;
		unlink(path);
		goto fail;
	}
	g_server.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g_server.epfd < 0) {
		rc = -errno;
		unlink(path);
		goto fail;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &g_server;
	if (epoll_ctl(g_server.epfd, EPOLL_CTL_ADD, g_server.listen_fd, &ev) != 0) {
		rc = -errno;
		unlink(path);
		goto fail;
	}

	memcpy(g_server.path, path, len + 1);
	g_server.sock_dev = st.st_dev;
	g_server.sock_ino = st.st_ino;
	g_server.thread = spio_get_thread();
	TAILQ_INIT(&g_server.conns);
	TAILQ_INIT(&g_server.pending);
	g_server.nconns = 0;
	g_server.npending = 0;
	g_server.refused = 0;
	g_server.refusal_logged = false;
	g_server.next_stall_check = 0;
	g_server.poller = NULL;
	g_server.timer = NULL;
	server_start_poller();
	if (g_server.poller == NULL) {
		rc = -ENOMEM;
		unlink(path);
		goto fail;
	}
	g_server.running = true;
	SPIO_INFOLOG("RPC server listening on %s", path);
	return 0;

fail:
	server_reset();
	return rc;
}

void spio_rpc_server_stop(void)
{
	struct rpc_conn *c;
	struct stat st;

	if (!g_server.running) {
		return;
	}
	if (spio_get_thread() != g_server.thread) {
		SPIO_ERRLOG("RPC server %s: stop must be called on its thread %s", g_server.path,
			    spio_thread_get_name(g_server.thread));
		return;
	}
	g_server.generation++;
	spio_poller_unregister(&g_server.timer);
	spio_poller_unregister(&g_server.poller);
	/*
	 * Remove the file first (only if it is still ours, not replaced by another
	 * server), so that a client that sees its connection close finds no socket.
	 */
	if (lstat(g_server.path, &st) == 0 && st.st_dev == g_server.sock_dev &&
	    st.st_ino == g_server.sock_ino) {
		unlink(g_server.path);
	}
	close(g_server.listen_fd);
	g_server.listen_fd = -1;
	while ((c = TAILQ_FIRST(&g_server.conns)) != NULL) {
		conn_close(c, "server stopped");
		conn_release(c);
	}
	SPIO_INFOLOG("RPC server on %s stopped", g_server.path);
	server_reset();
	g_server.path[0] = '\0';
}
