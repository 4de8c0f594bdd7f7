/*
 * The metrics server (lib/metrics): the HTTP request parser and the
 * Prometheus exposition on their own, then the server on a spio_thread the
 * test polls itself, driven by a TCP client on 127.0.0.1: a scrape, the
 * error statuses, a silent client cut off by the timeout (on a clock the test
 * moves), the connection limit, the address in use, and stops or hang-ups
 * while a scrape is gathering (no leak, no use after free under ASan).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics/metrics_internal.h"
#include "spio/env.h"
#include "spio/metrics.h"
#include "spio/rpc.h"
#include "spio/thread.h"

/*
 * The parser
 */

static struct metrics_http_req parse(const char *text, bool *done)
{
	struct metrics_http_req r;

	*done = metrics_http_parse(text, strlen(text), &r);
	return r;
}

static void expect_status(const char *text, int status)
{
	bool done;
	struct metrics_http_req r = parse(text, &done);

	cr_expect(done, "request \"%s\": expected a decision, got 'incomplete'", text);
	cr_expect_eq(r.status, status, "request \"%s\": expected status %d, got %d", text, status,
		     r.status);
}

Test(metrics_http, decides_each_request)
{
	expect_status("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200);
	expect_status("GET /metrics HTTP/1.0\r\n\r\n", 200);
	expect_status("GET /metrics?name[]=x HTTP/1.1\r\nHost: x\r\n\r\n", 200);
	expect_status("GET /metrics HTTP/1.1\nHost: x\n\n", 200); /* bare LF */
	expect_status("GET / HTTP/1.1\r\n\r\n", 404);
	expect_status("GET /metricsx HTTP/1.1\r\n\r\n", 404);
	expect_status("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405);
	expect_status("get /metrics HTTP/1.1\r\n\r\n", 405); /* methods are case-sensitive */
	expect_status("GET /metrics HTTP/2.0\r\n\r\n", 505);
	expect_status("GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n", 400);
	expect_status("GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n", 400);
	expect_status("GET /metrics HTTP/1.1\r\nX: a\001b\r\n\r\n", 400);
	expect_status("GET  /metrics HTTP/1.1\r\n\r\n", 400);
	expect_status("GET /metrics\r\n\r\n", 400); /* HTTP/0.9 */
	expect_status("GET /metrics HTTP/1.1 extra\r\n\r\n", 400);
	expect_status("\r\n\r\n", 400);
}

Test(metrics_http, bad_request_line_is_answered_before_the_headers)
{
	bool done;
	struct metrics_http_req r = parse("hello world\r\nmore", &done);

	cr_assert(done, "garbage request line: expected a decision at once");
	cr_assert_eq(r.status, 400, "garbage request line: expected 400, got %d", r.status);
}

Test(metrics_http, head_and_incomplete)
{
	bool done;
	struct metrics_http_req r = parse("HEAD /metrics HTTP/1.1\r\n\r\n", &done);

	cr_assert(done && r.status == 200 && r.head, "HEAD: expected 200 and head, got %d %d",
		  r.status, r.head);
	parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &done);
	cr_assert(!done, "headers without the empty line: expected 'incomplete'");
	parse("GET /metr", &done);
	cr_assert(!done, "half a request line: expected 'incomplete'");
}

Test(metrics_http, oversized_request_gets_431)
{
	size_t n = SPIO_METRICS_MAX_REQUEST_SIZE;
	char *buf = malloc(n + 1);
	struct metrics_http_req r;

	cr_assert_not_null(buf);
	memset(buf, 'a', n);
	memcpy(buf, "GET /", 5);
	buf[n] = '\0';
	cr_assert(metrics_http_parse(buf, n, &r), "request line of %zu bytes: expected a decision",
		  n);
	cr_assert_eq(r.status, 431, "request line of %zu bytes: expected 431, got %d", n, r.status);

	/* a valid line, then headers that never end */
	memcpy(buf, "GET /metrics HTTP/1.1\r\n", 23);
	for (size_t i = 23; i + 6 <= n; i += 6) {
		memcpy(buf + i, "X: y\r\n", 6);
	}
	cr_assert(metrics_http_parse(buf, n, &r) && r.status == 431,
		  "headers of %zu bytes without an end: expected 431, got %d", n, r.status);
	free(buf);
}

Test(metrics_http, response_has_length_and_close)
{
	struct metrics_buf b = {0};

	metrics_http_response(&b, 405, false, "405 x\n", 6);
	cr_assert_not_null(strstr(b.data, "HTTP/1.1 405 Method Not Allowed\r\n"), "got: %s",
			   b.data);
	cr_assert_not_null(strstr(b.data, "Allow: GET, HEAD\r\n"), "405 without Allow: %s", b.data);
	cr_assert_not_null(strstr(b.data, "Content-Length: 6\r\n"), "got: %s", b.data);
	cr_assert_not_null(strstr(b.data, "Connection: close\r\n\r\n405 x\n"), "got: %s", b.data);
	metrics_buf_free(&b);

	metrics_http_response(&b, 200, true, "body", 4);
	cr_assert_not_null(strstr(b.data, "Content-Length: 4\r\n"), "HEAD: length of the body");
	cr_assert_null(strstr(b.data, "body"), "HEAD: the body must not be sent: %s", b.data);
	cr_assert_not_null(strstr(b.data, "text/plain; version=0.0.4"), "got: %s", b.data);
	metrics_buf_free(&b);
}

/*
 * The exposition
 */

static struct spio_json_val *json(const char *text)
{
	char err[128];
	struct spio_json_val *v = spio_json_parse(text, strlen(text), err, sizeof(err));

	cr_assert_not_null(v, "test bug: %s does not parse: %s", text, err);
	return v;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++) {
		n++;
	}
	return n;
}

Test(metrics_expo, label_values_are_escaped)
{
	struct metrics_buf b = {0};

	metrics_expo_label_value(&b, "a\"b\\c\nd");
	cr_assert_str_eq(b.data, "a\\\"b\\\\c\\nd", "escaped label: got %s", b.data);
	metrics_buf_free(&b);
}

Test(metrics_expo, families_grouped_with_help_and_type)
{
	struct spio_json_val *io =
	    json("{\"tick_rate\": 1000, \"ticks\": 5, \"bdevs\": ["
		 "{\"name\": \"Malloc0\", \"num_read_ops\": 10, \"bytes_read\": 40960, "
		 "\"read_latency_ticks\": 7, \"num_write_ops\": 3},"
		 "{\"name\": \"we\\\"ird\", \"num_read_ops\": 2, \"num_write_ops\": \"x\"}]}");
	struct spio_json_val *th = json(
	    "{\"tick_rate\": 1000, \"threads\": [{\"name\": \"app_thread\", \"id\": 1, "
	    "\"busy\": 5, \"idle\": 6, \"active_pollers_count\": 2, \"timed_pollers_count\": 1, "
	    "\"paused_pollers_count\": 0}, {\"name\": \"app_thread\", \"id\": 2, \"busy\": 1}]}");
	struct metrics_sample s = {0};
	struct metrics_buf b = {0};
	const char *a, *z;

	s.result[METRICS_SRC_BDEV_IOSTAT] = io;
	s.result[METRICS_SRC_THREAD_STATS] = th;
	s.error[METRICS_SRC_REACTORS] = "no reactors\nsecond line";
	metrics_expo_write(&b, &s);
	cr_assert(!b.nomem);

	cr_expect_not_null(strstr(b.data, "spio_tick_rate_hz 1000\n"), "tick rate missing:\n%s",
			   b.data);
	cr_expect_not_null(strstr(b.data, "# TYPE spio_bdev_read_ops_total counter\n"
					  "spio_bdev_read_ops_total{bdev=\"Malloc0\"} 10\n"
					  "spio_bdev_read_ops_total{bdev=\"we\\\"ird\"} 2\n"),
			   "read ops family not grouped under its TYPE line:\n%s", b.data);
	cr_expect_not_null(strstr(b.data, "spio_bdev_read_bytes_total{bdev=\"Malloc0\"} 40960\n"),
			   "bytes_read:\n%s", b.data);
	cr_expect_eq(count(b.data, "spio_bdev_write_ops_total{"), 1,
		     "a non-numeric member must give no sample:\n%s", b.data);
	cr_expect_eq(count(b.data, "spio_bdev_unmap_ops_total{"), 0,
		     "absent members must give no sample:\n%s", b.data);
	cr_expect_eq(count(b.data, "# HELP spio_thread_pollers "), 1,
		     "one HELP line per family:\n%s", b.data);
	cr_expect_not_null(
	    strstr(b.data,
		   "spio_thread_busy_ticks_total{thread=\"app_thread\",thread_id=\"1\"} 5\n"
		   "spio_thread_busy_ticks_total{thread=\"app_thread\",thread_id=\"2\"} 1\n"),
	    "threads of the same name kept apart by thread_id:\n%s", b.data);
	cr_expect_not_null(
	    strstr(b.data,
		   "spio_thread_pollers{thread=\"app_thread\",thread_id=\"1\",type=\"active\"} 2\n"
		   "spio_thread_pollers{thread=\"app_thread\",thread_id=\"1\",type=\"timed\"} 1\n"),
	    "pollers by type:\n%s", b.data);
	cr_expect_not_null(strstr(b.data, "# spio_metrics: framework_get_reactors failed: no "
					  "reactors second line\n"),
			   "failure comment (one line):\n%s", b.data);
	cr_expect_null(strstr(b.data, "spio_reactor_"), "no reactor family without its source");

	/* Every line is a comment or "name{labels} value". */
	for (a = b.data; *a != '\0'; a = z + 1) {
		z = strchr(a, '\n');
		cr_assert_not_null(z, "last line without a newline: %s", a);
		if (*a != '#') {
			cr_expect(strncmp(a, "spio_", 5) == 0 && memchr(a, ' ', (size_t)(z - a)),
				  "malformed sample line: %.*s", (int)(z - a), a);
		}
	}
	metrics_buf_free(&b);
	spio_json_val_free(io);
	spio_json_val_free(th);
}

Test(metrics_addr, checks_the_syntax)
{
	static const char *const good[] = {"127.0.0.1:9100", "0.0.0.0:0", "[::1]:65535", "[::]:80"};
	static const char *const bad[] = {"",
					  "127.0.0.1",
					  "127.0.0.1:",
					  ":9100",
					  "127.0.0.1:65536",
					  "127.0.0.1:12a",
					  "localhost:80",
					  "[::1]80",
					  "[::1:80",
					  "::1:80",
					  "1.2.3:80",
					  "127.0.0.1:123456"};
	char err[160];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_expect_eq(spio_metrics_check_addr(good[i], err, sizeof(err)), 0,
			     "%s: expected valid, got '%s'", good[i], err);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_expect_eq(spio_metrics_check_addr(bad[i], err, sizeof(err)), -EINVAL,
			     "'%s': expected -EINVAL", bad[i]);
		cr_expect_neq(err[0], '\0', "'%s': expected a reason", bad[i]);
	}
	cr_expect_eq(spio_metrics_check_addr(NULL, NULL, 0), -EINVAL, "NULL address");
}

/*
 * The server, on a thread this test polls
 */

static struct spio_thread *g_t;
static uint32_t g_saved_state;
static uint64_t g_fake_now;

static uint64_t fake_ticks(void)
{
	return g_fake_now;
}

static void setup(void)
{
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0, "spio_thread_lib_init failed");
	g_t = spio_thread_create("metrics_test", NULL);
	cr_assert_not_null(g_t, "spio_thread_create failed");
	spio_set_thread(g_t);
	g_saved_state = spio_rpc_get_state();
	spio_rpc_set_state(SPIO_RPC_RUNTIME); /* the methods a scrape calls are runtime ones */
	g_fake_now = spio_get_ticks();
	metrics_get_ticks = fake_ticks;
}

static void teardown(void)
{
	spio_metrics_server_stop();
	metrics_get_ticks = spio_get_ticks;
	spio_rpc_set_state(g_saved_state);
	spio_thread_exit(g_t);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_t); i++) {
		spio_thread_poll(g_t, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(g_t);
	spio_thread_lib_fini();
}

TestSuite(metrics_server, .init = setup, .fini = teardown, .timeout = 60);

static void pump(void)
{
	for (int i = 0; i < 20; i++) {
		spio_thread_poll(g_t, 0, 0);
	}
}

static uint16_t start_server(void)
{
	char addr[80];
	int rc = spio_metrics_server_start("127.0.0.1:0");

	cr_assert_eq(rc, 0, "start on 127.0.0.1:0: expected 0, got %d", rc);
	cr_assert_eq(spio_metrics_server_get_addr(addr, sizeof(addr)), 0);
	cr_assert_eq(strncmp(addr, "127.0.0.1:", 10), 0, "bound address: got %s", addr);
	cr_assert_neq(atoi(addr + 10), 0, "port 0 must become the bound port: got %s", addr);
	return (uint16_t)atoi(addr + 10);
}

static int client(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
		     strerror(errno));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void send_text(int fd, const char *text, size_t len)
{
	cr_assert_eq(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len, "send: %s", strerror(errno));
}

/*
 * Read until the server closes (or `max_polls` rounds pass); the thread is
 * polled meanwhile. Returns what came (caller frees); *closed tells whether
 * the server closed.
 */
static char *read_all(int fd, int max_polls, bool *closed)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	*closed = false;
	for (int i = 0; i < max_polls && !*closed; i++) {
		ssize_t n;

		pump();
		while ((n = recv(fd, buf + len, cap - len - 1, 0)) > 0) {
			len += (size_t)n;
			if (cap - len < 1024) {
				cap *= 2;
				buf = realloc(buf, cap);
				cr_assert_not_null(buf);
			}
		}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			*closed = true;
		} else {
			struct timespec ts = {0, 1000 * 1000};

			nanosleep(&ts, NULL);
		}
	}
	buf[len] = '\0';
	return buf;
}

static char *request(uint16_t port, const char *text)
{
	int fd = client(port);
	bool closed;
	char *resp;

	send_text(fd, text, strlen(text));
	resp = read_all(fd, 5000, &closed);
	cr_assert(closed, "request \"%.40s\": the server did not close after answering; got %s",
		  text, resp);
	close(fd);
	return resp;
}

Test(metrics_server, scrape_serves_thread_counters)
{
	uint16_t port = start_server();
	char *resp = request(port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
	char *body = strstr(resp, "\r\n\r\n");
	char want[64];

	cr_assert(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "expected 200, got:\n%s", resp);
	cr_assert_not_null(body, "no end of headers:\n%s", resp);
	snprintf(want, sizeof(want), "Content-Length: %zu\r\n", strlen(body + 4));
	cr_expect_not_null(strstr(resp, want), "expected %s in:\n%.400s", want, resp);
	cr_expect_not_null(strstr(body, "# TYPE spio_thread_busy_ticks_total counter\n"),
			   "thread family missing:\n%s", body);
	cr_expect_not_null(strstr(body, "spio_thread_busy_ticks_total{thread=\"metrics_test\""),
			   "this thread's sample missing:\n%s", body);
	/* no reactors in this test: that source fails and says so */
	cr_expect_not_null(strstr(body, "# spio_metrics: framework_get_reactors failed"),
			   "failed source not reported:\n%s", body);
	free(resp);
	pump();
	cr_expect_eq(metrics_server_conn_count(), 0, "connections left: %u",
		     metrics_server_conn_count());
}

Test(metrics_server, head_gets_headers_only)
{
	uint16_t port = start_server();
	char *resp = request(port, "HEAD /metrics HTTP/1.0\r\n\r\n");
	char *end = strstr(resp, "\r\n\r\n");

	cr_assert(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "expected 200, got:\n%s", resp);
	cr_assert(end != NULL && end[4] == '\0', "HEAD: expected no body, got:\n%s", resp);
	free(resp);
}

Test(metrics_server, bad_requests_get_errors)
{
	static const struct {
		const char *req;
		const char *status;
	} cases[] = {
	    {"GET /nothing HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n"},
	    {"DELETE /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n"},
	    {"\x16\x03\x01\x02\x01\xfc\x03\x03\n", "HTTP/1.1 400 Bad Request\r\n"}, /* TLS */
	    {"GET /metrics HTTP/3.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported\r\n"},
	};
	uint16_t port = start_server();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *resp = request(port, cases[i].req);

		cr_expect(strncmp(resp, cases[i].status, strlen(cases[i].status)) == 0,
			  "request %zu: expected %s got:\n%s", i, cases[i].status, resp);
		free(resp);
	}

	/* over the limit, without a line end: 431 once the buffer is full */
	size_t n = SPIO_METRICS_MAX_REQUEST_SIZE + 100;
	char *big = malloc(n + 1);
	char *resp;

	cr_assert_not_null(big);
	memset(big, 'x', n);
	memcpy(big, "GET /", 5);
	big[n] = '\0';
	resp = request(port, big);
	cr_expect(strncmp(resp, "HTTP/1.1 431 ", 13) == 0, "oversized: expected 431, got:\n%.200s",
		  resp);
	free(resp);
	free(big);
	/* still serving */
	resp = request(port, "GET /metrics HTTP/1.1\r\n\r\n");
	cr_expect(strncmp(resp, "HTTP/1.1 200 ", 13) == 0,
		  "after errors: expected 200, got:\n%.200s", resp);
	free(resp);
}

Test(metrics_server, silent_client_is_cut_off_at_the_timeout)
{
	uint16_t port = start_server();
	int fd = client(port);
	bool closed;
	char *got;

	send_text(fd, "GET /metr", 9);
	got = read_all(fd, 50, &closed);
	cr_assert(!closed, "closed before the timeout");
	cr_assert_eq(metrics_server_conn_count(), 1, "expected 1 connection, got %u",
		     metrics_server_conn_count());
	free(got);

	g_fake_now += spio_us_to_ticks(SPIO_METRICS_IO_TIMEOUT_US) - spio_us_to_ticks(1000);
	got = read_all(fd, 20, &closed);
	cr_assert(!closed, "closed 1 ms before the timeout");
	free(got);

	g_fake_now += spio_us_to_ticks(2000);
	got = read_all(fd, 500, &closed);
	cr_assert(closed, "a client silent for the timeout must be disconnected");
	cr_assert_eq(got[0], '\0', "expected no answer to a partial request, got %s", got);
	cr_assert_eq(metrics_server_conn_count(), 0, "expected no connection, got %u",
		     metrics_server_conn_count());
	free(got);
	close(fd);
}

Test(metrics_server, connections_beyond_the_limit_are_closed)
{
	uint16_t port = start_server();
	int fds[SPIO_METRICS_MAX_CONNS + 1];
	bool closed;
	char *got;

	for (size_t i = 0; i < SPIO_METRICS_MAX_CONNS; i++) {
		fds[i] = client(port);
		pump();
	}
	pump();
	cr_assert_eq(metrics_server_conn_count(), SPIO_METRICS_MAX_CONNS, "expected %u, got %u",
		     SPIO_METRICS_MAX_CONNS, metrics_server_conn_count());
	fds[SPIO_METRICS_MAX_CONNS] = client(port);
	got = read_all(fds[SPIO_METRICS_MAX_CONNS], 500, &closed);
	cr_assert(closed, "connection %u over the limit: expected it closed",
		  SPIO_METRICS_MAX_CONNS + 1);
	free(got);
	/* the others are still served */
	send_text(fds[0], "GET /metrics HTTP/1.1\r\n\r\n", 25);
	got = read_all(fds[0], 5000, &closed);
	cr_expect(strncmp(got, "HTTP/1.1 200 ", 13) == 0, "expected 200, got %.100s", got);
	free(got);
	for (size_t i = 0; i <= SPIO_METRICS_MAX_CONNS; i++) {
		close(fds[i]);
	}
}

Test(metrics_server, stop_or_hang_up_while_gathering)
{
	uint16_t port = start_server();
	int a = client(port), b = client(port);

	pump();
	send_text(a, "GET /metrics HTTP/1.1\r\n\r\n", 25);
	send_text(b, "GET /metrics HTTP/1.1\r\n\r\n", 25);
	/* one poll: the requests are read and the scrapes start their visits */
	spio_thread_poll(g_t, 0, 0);
	close(a);
	spio_thread_poll(g_t, 0, 0);
	spio_metrics_server_stop();
	pump(); /* the scrapes finish with nobody to answer */
	close(b);
	cr_assert_eq(metrics_server_conn_count(), 0);
	/* and it starts again */
	start_server();
}

Test(metrics_server, address_in_use_and_second_start)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	char addr[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int rc;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	rc = spio_metrics_server_start(addr);
	cr_assert_eq(rc, -EADDRINUSE, "%s taken: expected -EADDRINUSE, got %d", addr, rc);
	cr_assert_eq(spio_metrics_server_get_addr(addr, sizeof(addr)), -ENOTCONN,
		     "a failed start must leave no server");
	close(fd);

	start_server();
	rc = spio_metrics_server_start("127.0.0.1:0");
	cr_assert_eq(rc, -EALREADY, "second start: expected -EALREADY, got %d", rc);
	rc = spio_metrics_server_start("127.0.0.1");
	cr_assert_eq(rc, -EINVAL, "no port: expected -EINVAL, got %d", rc);
}
