/*
 * The metrics HTTP server: a non-blocking TCP listener and its connections
 * in one epoll set, served by a poller on the thread that started it.
 *
 * As the RPC server (lib/rpc/server.c) does, the poller runs every poll and
 * hands the epoll fd to its thread as its interrupt fd, so an idle reactor
 * sleeps until a client connects, sends or can take output. While
 * connections are open a timed poller wakes the thread for the timeouts.
 *
 * A connection goes READ (the request, at most SPIO_METRICS_MAX_REQUEST_SIZE
 * bytes in a fixed buffer) -> GATHER (a scrape: the counters' RPC methods
 * called in-process one after another; the socket is not watched meanwhile)
 * -> WRITE (the whole answer, as fast as the client takes it) -> DRAIN (our
 * side shut down; what the client still sends is read and dropped until it
 * closes, so that closing does not reset an answer it has not read yet).
 * Every state but GATHER has a deadline, so a slow or silent client costs a
 * connection slot for a bounded time and never blocks the thread.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics_internal.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/rpc.h"
#include "spio/thread.h"

SPIO_LOG_REGISTER_COMPONENT(metrics)

#define METRICS_EPOLL_BATCH 32
#define METRICS_ACCEPT_BATCH 16
/* After the answer: how long the client may take to close, and how much it may still send. */
#define METRICS_DRAIN_TIMEOUT_US (1000ull * 1000)
#define METRICS_DRAIN_MAX (64u * 1024)
/* Timeouts are checked this often while connections are open. */
#define METRICS_TIMER_PERIOD_US (250ull * 1000)
/* Without an interrupt fd, the poller runs this often. */
#define METRICS_FALLBACK_PERIOD_US (10ull * 1000)

enum conn_state {
	CONN_READ,
	CONN_GATHER,
	CONN_WRITE,
	CONN_DRAIN,
};

struct metrics_scrape;

struct metrics_conn {
	int fd;
	enum conn_state state;
	uint32_t events; /* epoll interest */
	uint64_t deadline;
	bool head;
	struct metrics_scrape *scrape; /* while GATHER */
	size_t drained;
	struct metrics_buf out;
	size_t out_off;
	TAILQ_ENTRY(metrics_conn) link;
	size_t in_len;
	char in[SPIO_METRICS_MAX_REQUEST_SIZE];
};

/* Outlives its connection if that closes while the methods run. */
struct metrics_scrape {
	struct metrics_conn *conn; /* NULL once the connection is gone */
	int step;
	struct spio_json_val *result[METRICS_SRC_COUNT];
	char *error[METRICS_SRC_COUNT];
};

static struct {
	bool running;
	struct spio_thread *thread;
	int listen_fd;
	int epfd;
	struct spio_poller *poller;
	struct spio_poller *timer; /* timeouts, while connections are open */
	bool intr;		   /* the poller sleeps on epfd */
	TAILQ_HEAD(, metrics_conn) conns;
	uint32_t nconns;
	uint64_t refused;
	char addr[64];
} g_srv = {.listen_fd = -1, .epfd = -1};

uint64_t (*metrics_get_ticks)(void) = spio_get_ticks;

uint32_t metrics_server_conn_count(void)
{
	return g_srv.nconns;
}

/* --- addresses ------------------------------------------------------------- */

static int set_err(char *errbuf, size_t errlen, const char *why)
{
	if (errbuf != NULL && errlen > 0) {
		snprintf(errbuf, errlen, "%s", why);
	}
	return -EINVAL;
}

static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen, char *errbuf,
		      size_t errlen)
{
	const char *expect = "expected HOST:PORT, HOST an IPv4 literal or [IPv6], PORT 0-65535";
	char host[INET6_ADDRSTRLEN + 1];
	const char *port, *hend;
	unsigned long p = 0;
	size_t hlen;
	bool v6;

	if (addr == NULL || addr[0] == '\0') {
		return set_err(errbuf, errlen, expect);
	}
	v6 = addr[0] == '[';
	if (v6) {
		hend = strchr(addr, ']');
		if (hend == NULL || hend[1] != ':') {
			return set_err(errbuf, errlen, expect);
		}
		port = hend + 2;
		addr++;
	} else {
		hend = strrchr(addr, ':');
		if (hend == NULL) {
			return set_err(errbuf, errlen, expect);
		}
		port = hend + 1;
	}
	hlen = (size_t)(hend - addr);
	if (hlen == 0 || hlen >= sizeof(host)) {
		return set_err(errbuf, errlen, expect);
	}
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	if (port[0] == '\0' || strlen(port) > 5) {
		return set_err(errbuf, errlen, expect);
	}
	for (const char *c = port; *c != '\0'; c++) {
		if (*c < '0' || *c > '9') {
			return set_err(errbuf, errlen, expect);
		}
		p = p * 10 + (unsigned long)(*c - '0');
	}
	if (p > 65535) {
		return set_err(errbuf, errlen, "port above 65535");
	}
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			return set_err(errbuf, errlen, "not an IPv6 literal inside [ ]");
		}
		*sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			return set_err(errbuf, errlen,
				       "host is not an IPv4 literal (IPv6 goes inside [ ])");
		}
		*sslen = sizeof(*s4);
	}
	return 0;
}

int spio_metrics_check_addr(const char *addr, char *errbuf, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;

	return parse_addr(addr, &ss, &len, errbuf, errlen);
}

static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	}
}

int spio_metrics_server_get_addr(char *buf, size_t len)
{
	if (buf == NULL) {
		return -EINVAL;
	}
	if (!g_srv.running) {
		return -ENOTCONN;
	}
	if (strlen(g_srv.addr) >= len) {
		return -ENOSPC;
	}
	memcpy(buf, g_srv.addr, strlen(g_srv.addr) + 1);
	return 0;
}

/* --- connections ------------------------------------------------------------ */

static void update_timer(void);

static void conn_close(struct metrics_conn *c)
{
	if (c->scrape != NULL) {
		c->scrape->conn = NULL; /* it finishes alone */
	}
	epoll_ctl(g_srv.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	TAILQ_REMOVE(&g_srv.conns, c, link);
	g_srv.nconns--;
	metrics_buf_free(&c->out);
	free(c);
}

/* Watch `events` on the connection; false (and the connection closed) on failure. */
static bool conn_watch(struct metrics_conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};

	if (c->events == events) {
		return true;
	}
	if (epoll_ctl(g_srv.epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
		SPIO_ERRLOG("metrics: epoll_ctl on a connection failed: %s\n", strerror(errno));
		conn_close(c);
		return false;
	}
	c->events = events;
	return true;
}

/* Send what the client takes. True if the connection is still open. */
static bool conn_write(struct metrics_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return conn_watch(c, EPOLLOUT);
		}
		if (n <= 0) {
			conn_close(c);
			return false;
		}
		c->out_off += (size_t)n;
	}
	metrics_buf_free(&c->out);
	shutdown(c->fd, SHUT_WR);
	c->state = CONN_DRAIN;
	c->deadline = metrics_get_ticks() + spio_us_to_ticks(METRICS_DRAIN_TIMEOUT_US);
	return conn_watch(c, EPOLLIN | EPOLLRDHUP);
}

/* Answer with status and body, then close; true if still open. */
static bool conn_answer(struct metrics_conn *c, int status, const char *body, size_t body_len)
{
	metrics_http_response(&c->out, status, c->head, body, body_len);
	if (c->out.nomem) {
		conn_close(c);
		return false;
	}
	c->out_off = 0;
	c->state = CONN_WRITE;
	c->deadline = metrics_get_ticks() + spio_us_to_ticks(SPIO_METRICS_IO_TIMEOUT_US);
	return conn_write(c);
}

static bool conn_answer_error(struct metrics_conn *c, int status)
{
	char body[96];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, metrics_http_reason(status));

	return conn_answer(c, status, body, (size_t)n);
}

static void scrape_next(struct metrics_scrape *s);

static void scrape_free(struct metrics_scrape *s)
{
	for (int i = 0; i < METRICS_SRC_COUNT; i++) {
		spio_json_val_free(s->result[i]);
		free(s->error[i]);
	}
	free(s);
}

static void scrape_done(struct metrics_scrape *s)
{
	struct metrics_conn *c = s->conn;
	struct metrics_sample sample = {0};
	struct metrics_buf body = {0};

	if (c == NULL) {
		scrape_free(s);
		return;
	}
	c->scrape = NULL;
	for (int i = 0; i < METRICS_SRC_COUNT; i++) {
		sample.result[i] = s->result[i];
		sample.error[i] = s->error[i];
	}
	metrics_expo_write(&body, &sample);
	if (body.nomem) {
		conn_answer_error(c, 500);
	} else {
		conn_answer(c, 200, body.data, body.len);
	}
	metrics_buf_free(&body);
	scrape_free(s);
}

static void scrape_cb(void *ctx, int error_code, const char *error_msg,
		      const struct spio_json_val *result)
{
	struct metrics_scrape *s = ctx;
	char msg[64];

	if (error_code == 0) {
		s->result[s->step] = spio_json_val_ref(result);
	} else {
		if (error_msg == NULL || error_msg[0] == '\0') {
			snprintf(msg, sizeof(msg), "error %d", error_code);
			error_msg = msg;
		}
		s->error[s->step] = strdup(error_msg);
	}
	s->step++;
	scrape_next(s);
}

/* Call the next source's method; the callback goes on (it may run before the call returns). */
static void scrape_next(struct metrics_scrape *s)
{
	while (s->step < METRICS_SRC_COUNT) {
		int rc = spio_rpc_call(metrics_source_method(s->step), NULL, scrape_cb, s);

		if (rc == 0) {
			return;
		}
		s->error[s->step] = strdup(strerror(-rc));
		s->step++;
	}
	scrape_done(s);
}

static void conn_scrape(struct metrics_conn *c)
{
	struct metrics_scrape *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		conn_answer_error(c, 500);
		return;
	}
	if (!conn_watch(c, 0)) { /* a hang-up is still reported */
		free(s);
		return;
	}
	s->conn = c;
	c->scrape = s;
	c->state = CONN_GATHER;
	SPIO_DEBUGLOG(metrics, "scrape on fd %d\n", c->fd);
	scrape_next(s);
}

static bool conn_read(struct metrics_conn *c)
{
	struct metrics_http_req req;
	bool decided = false;
	ssize_t n;

	while (!decided) {
		if (c->in_len == sizeof(c->in)) {
			decided = metrics_http_parse(c->in, c->in_len, &req); /* full: 431 */
			break;
		}
		n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		}
		if (n <= 0) {
			conn_close(c); /* gone before a whole request */
			return false;
		}
		c->in_len += (size_t)n;
		decided = metrics_http_parse(c->in, c->in_len, &req);
	}
	if (!decided) {
		return true;
	}
	c->head = req.head;
	if (req.status != 200) {
		return conn_answer_error(c, req.status);
	}
	conn_scrape(c);
	return true;
}

static void conn_drain(struct metrics_conn *c)
{
	char sink[4096];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		}
		if (n <= 0 || (c->drained += (size_t)n) > METRICS_DRAIN_MAX) {
			conn_close(c);
			return;
		}
	}
}

static void conn_service(struct metrics_conn *c, uint32_t events)
{
	if (c->state == CONN_GATHER) {
		if (events & (EPOLLHUP | EPOLLERR)) {
			conn_close(c);
		}
		return;
	}
	if (c->state == CONN_READ) {
		conn_read(c);
	} else if (c->state == CONN_WRITE) {
		conn_write(c);
	} else {
		conn_drain(c);
	}
}

static void conn_accept(void)
{
	for (int i = 0; i < METRICS_ACCEPT_BATCH; i++) {
		int fd = accept4(g_srv.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct metrics_conn *c;
		struct epoll_event ev;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED) {
				SPIO_ERRLOG("metrics %s: accept failed: %s\n", g_srv.addr,
					    strerror(errno));
			}
			return;
		}
		if (g_srv.nconns >= SPIO_METRICS_MAX_CONNS) {
			close(fd);
			if (g_srv.refused++ == 0) {
				SPIO_NOTICELOG("metrics %s: more than %u connections; closing the "
					       "extra ones\n",
					       g_srv.addr, SPIO_METRICS_MAX_CONNS);
			}
			continue;
		}
		c = malloc(sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		memset(c, 0, offsetof(struct metrics_conn, in));
		c->fd = fd;
		c->state = CONN_READ;
		c->events = EPOLLIN | EPOLLRDHUP;
		c->deadline = metrics_get_ticks() + spio_us_to_ticks(SPIO_METRICS_IO_TIMEOUT_US);
		ev.events = c->events;
		ev.data.ptr = c;
		if (epoll_ctl(g_srv.epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			free(c);
			continue;
		}
		TAILQ_INSERT_TAIL(&g_srv.conns, c, link);
		g_srv.nconns++;
	}
}

static void check_timeouts(void)
{
	uint64_t now = metrics_get_ticks();
	struct metrics_conn *c, *tmp;

	for (c = TAILQ_FIRST(&g_srv.conns); c != NULL; c = tmp) {
		tmp = TAILQ_NEXT(c, link);
		if (c->state != CONN_GATHER && now >= c->deadline) {
			SPIO_DEBUGLOG(metrics, "fd %d: timed out in state %d\n", c->fd, c->state);
			conn_close(c);
		}
	}
}

static int timer_poll(void *arg)
{
	(void)arg;
	check_timeouts();
	update_timer();
	return SPIO_POLLER_IDLE;
}

/* The timeouts poller runs while connections are open. */
static void update_timer(void)
{
	if (g_srv.nconns > 0 && g_srv.timer == NULL) {
		g_srv.timer = spio_poller_register_named(timer_poll, NULL, METRICS_TIMER_PERIOD_US,
							 "metrics_timeouts");
	} else if (g_srv.nconns == 0 && g_srv.timer != NULL) {
		spio_poller_unregister(&g_srv.timer);
	}
}

static int server_poll(void *arg)
{
	struct epoll_event events[METRICS_EPOLL_BATCH];
	int n;

	(void)arg;
	n = epoll_wait(g_srv.epfd, events, METRICS_EPOLL_BATCH, 0);
	for (int i = 0; i < n; i++) {
		if (events[i].data.ptr == &g_srv) {
			conn_accept();
		} else {
			conn_service(events[i].data.ptr, events[i].events);
		}
	}
	if (g_srv.nconns > 0) {
		check_timeouts();
	}
	update_timer();
	return n > 0 ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
}

/* --- start / stop ----------------------------------------------------------- */

static void server_reset(void)
{
	if (g_srv.epfd >= 0) {
		close(g_srv.epfd);
	}
	if (g_srv.listen_fd >= 0) {
		close(g_srv.listen_fd);
	}
	g_srv.epfd = -1;
	g_srv.listen_fd = -1;
	g_srv.running = false;
	g_srv.thread = NULL;
}

static int start_poller(void)
{
	g_srv.poller = spio_poller_register_named(server_poll, NULL, 0, "metrics_server");
	if (g_srv.poller == NULL) {
		return -ENOMEM;
	}
	if (spio_poller_set_interrupt_fd(g_srv.poller, g_srv.epfd) == 0) {
		g_srv.intr = true;
		return 0;
	}
	/* No watch: poll the socket now and then rather than spin. */
	spio_poller_unregister(&g_srv.poller);
	g_srv.intr = false;
	g_srv.poller = spio_poller_register_named(server_poll, NULL, METRICS_FALLBACK_PERIOD_US,
						  "metrics_server");
	return g_srv.poller != NULL ? 0 : -ENOMEM;
}

int spio_metrics_server_start(const char *addr)
{
	struct sockaddr_storage ss;
	struct epoll_event ev;
	socklen_t sslen;
	char err[192];
	int one = 1, rc;

	if (spio_get_thread() == NULL) {
		SPIO_ERRLOG("metrics: start it on a spio thread\n");
		return -EINVAL;
	}
	if (parse_addr(addr, &ss, &sslen, err, sizeof(err)) != 0) {
		SPIO_ERRLOG("metrics: address '%s': %s\n", addr != NULL ? addr : "(null)", err);
		return -EINVAL;
	}
	if (g_srv.running) {
		SPIO_ERRLOG("metrics: already serving on %s; cannot also listen on %s\n",
			    g_srv.addr, addr);
		return -EALREADY;
	}
	g_srv.listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g_srv.listen_fd < 0) {
		rc = -errno;
		SPIO_ERRLOG("metrics %s: socket: %s\n", addr, strerror(errno));
		goto fail;
	}
	/* A restart must not wait for the last run's connections in TIME_WAIT. */
	setsockopt(g_srv.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(g_srv.listen_fd, (struct sockaddr *)&ss, sslen) != 0 ||
	    listen(g_srv.listen_fd, 64) != 0) {
		rc = -errno;
		SPIO_ERRLOG("metrics: cannot listen on %s: %s\n", addr, strerror(errno));
		goto fail;
	}
	sslen = sizeof(ss);
	if (getsockname(g_srv.listen_fd, (struct sockaddr *)&ss, &sslen) != 0) {
		rc = -errno;
		goto fail;
	}
	fmt_addr(&ss, g_srv.addr, sizeof(g_srv.addr));
	g_srv.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g_srv.epfd < 0) {
		rc = -errno;
		SPIO_ERRLOG("metrics %s: epoll_create1: %s\n", addr, strerror(errno));
		goto fail;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &g_srv;
	if (epoll_ctl(g_srv.epfd, EPOLL_CTL_ADD, g_srv.listen_fd, &ev) != 0) {
		rc = -errno;
		goto fail;
	}
	TAILQ_INIT(&g_srv.conns);
	g_srv.nconns = 0;
	g_srv.refused = 0;
	g_srv.timer = NULL;
	rc = start_poller();
	if (rc != 0) {
		SPIO_ERRLOG("metrics %s: cannot register its poller\n", addr);
		goto fail;
	}
	g_srv.thread = spio_get_thread();
	g_srv.running = true;
	SPIO_NOTICELOG("metrics: serving http://%s/metrics\n", g_srv.addr);
	return 0;

fail:
	server_reset();
	return rc;
}

void spio_metrics_server_stop(void)
{
	struct metrics_conn *c;

	if (!g_srv.running) {
		return;
	}
	if (spio_get_thread() != g_srv.thread) {
		SPIO_ERRLOG("metrics %s: stop must be called on its thread %s\n", g_srv.addr,
			    spio_thread_get_name(g_srv.thread));
		return;
	}
	spio_poller_unregister(&g_srv.timer);
	spio_poller_unregister(&g_srv.poller);
	while ((c = TAILQ_FIRST(&g_srv.conns)) != NULL) {
		conn_close(c);
	}
	SPIO_INFOLOG("metrics on %s stopped\n", g_srv.addr);
	server_reset();
	g_srv.addr[0] = '\0';
}
