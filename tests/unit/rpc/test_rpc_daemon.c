/*
 * JSON-RPC server regressions of issue 17: requests of one connection run in
 * order (item 5), idle and partial connections time out, refusals are logged
 * rate-limited and one client cannot starve the others (item 4), duplicate
 * keys are refused (item 6).
 *
 * The test polls the server's thread itself and drives the server's clock
 * (rpc_set_ticks_fn), so timeouts of a minute take no wall-clock time.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc_internal.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/rpc.h"
#include "spio/thread.h"
#include "helper_rpc_thread.h"

/* --- methods ------------------------------------------------------------------ */

/*
 * A name registry with an asynchronous create (answered a few polls later,
 * registering the name then, as a bdev create does) and a synchronous delete.
 */
#define MAX_NAMES 8
static char g_names[MAX_NAMES][32];
static int g_calls;	    /* methods started */
static int g_calls_at_mark; /* g_calls when d_mark ran */

static bool name_find(const char *name, int *slot)
{
	for (int i = 0; i < MAX_NAMES; i++) {
		if (strcmp(g_names[i], name) == 0) {
			*slot = i;
			return true;
		}
	}
	return false;
}

struct create_ctx {
	struct spio_jsonrpc_request *req;
	char name[32];
	struct spio_poller *poller;
	int polls;
};

static int create_poll(void *arg)
{
	struct create_ctx *c = arg;
	int slot;

	if (++c->polls < 5) {
		return SPIO_POLLER_BUSY;
	}
	spio_poller_unregister(&c->poller);
	if (name_find(c->name, &slot)) {
		spio_jsonrpc_send_error_response_fmt(c->req, -EEXIST, "%s: File exists", c->name);
	} else if (!name_find("", &slot)) {
		spio_jsonrpc_send_error_response(c->req, -ENOSPC, "full");
	} else {
		snprintf(g_names[slot], sizeof(g_names[slot]), "%s", c->name);
		spio_jsonrpc_send_bool_response(c->req, true);
	}
	free(c);
	return SPIO_POLLER_BUSY;
}

static void d_create(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct create_ctx *c = calloc(1, sizeof(*c));
	const char *name = spio_json_string(spio_json_object_get(params, "name"));

	g_calls++;
	cr_assert_not_null(c);
	c->req = req;
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "");
	c->poller = spio_poller_register(create_poll, c, 0);
	cr_assert_not_null(c->poller);
}
SPIO_RPC_REGISTER("d_create", d_create, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void d_delete(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	const char *name = spio_json_string(spio_json_object_get(params, "name"));
	int slot;

	g_calls++;
	if (name == NULL || !name_find(name, &slot)) {
		spio_jsonrpc_send_error_response_fmt(req, -ENODEV, "%s: No such device",
						     name ? name : "?");
		return;
	}
	g_names[slot][0] = '\0';
	spio_jsonrpc_send_bool_response(req, true);
}
SPIO_RPC_REGISTER("d_delete", d_delete, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void d_count(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	g_calls++;
	spio_jsonrpc_send_bool_response(req, true);
}
SPIO_RPC_REGISTER("d_count", d_count, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void d_mark(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	g_calls_at_mark = g_calls;
	spio_jsonrpc_send_bool_response(req, true);
}
SPIO_RPC_REGISTER("d_mark", d_mark, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/* Result: the params as given. */
static void d_echo(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct spio_json_write_ctx *w = spio_jsonrpc_begin_result(req);
	char *text = spio_json_dump(params);

	spio_json_write_val_raw(w, text, strlen(text));
	free(text);
	spio_jsonrpc_end_result(req, w);
}
SPIO_RPC_REGISTER("d_echo", d_echo, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/* --- fixture: one thread polled by the test, a fake clock ------------------------ */

static struct spio_thread *g_t;
static char g_path[108];
static uint64_t g_now;

static uint64_t fake_ticks(void)
{
	return g_now;
}

static void advance_us(uint64_t us)
{
	g_now += spio_us_to_ticks(us);
}

static void setup(void)
{
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_t = spio_thread_create("rpc_daemon", NULL);
	cr_assert_not_null(g_t);
	spio_set_thread(g_t);
	snprintf(g_path, sizeof(g_path), "/tmp/spio_rpc_daemon.%d.sock", (int)getpid());
	unlink(g_path);
	g_now = spio_get_ticks();
	rpc_set_ticks_fn(fake_ticks);
	cr_assert_eq(spio_rpc_server_start(g_path), 0);
}

static void teardown(void)
{
	spio_rpc_server_stop();
	rpc_set_ticks_fn(NULL);
	spio_log_set_sink(NULL, NULL);
	rpc_test_thread_end(g_t);
	unlink(g_path);
}

TestSuite(rpc_daemon, .init = setup, .fini = teardown, .timeout = 60);

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(g_t, 0, 0);
	}
}

/* Poll for `ms` of real time: the server's poller runs every 4 ms while it has no client. */
static void poll_ms(int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		spio_thread_poll(g_t, 0, 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

/* --- client: non-blocking, the test polls the server between reads --------------- */

struct client {
	int fd;
	char buf[65536];
	size_t len;
};

static int client_connect(struct client *c)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(c->fd, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", g_path);
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		return -errno;
	}
	poll_ms(10); /* let the server accept it */
	return 0;
}

static void client_send(struct client *c, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, s + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			poll_n(1);
			continue;
		}
		cr_assert_gt(n, 0, "send failed: %s", strerror(errno));
		off += (size_t)n;
	}
}

/* Read what is there without blocking; false once the server closed the connection. */
static bool client_pump(struct client *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);

	if (n > 0) {
		c->len += (size_t)n;
		return true;
	}
	return !(n == 0 || (n < 0 && errno != EAGAIN));
}

/* The next response line, polling the server for up to `polls` polls; NULL if none. */
static json_t *client_next(struct client *c, int polls)
{
	json_error_t err;

	for (int i = 0; i <= polls; i++) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl != NULL) {
			size_t line = (size_t)(nl - c->buf);
			json_t *v = json_loadb(c->buf, line, 0, &err);

			cr_assert_not_null(v, "response is not JSON: %.*s", (int)line, c->buf);
			memmove(c->buf, nl + 1, c->len - line - 1);
			c->len -= line + 1;
			return v;
		}
		poll_n(1);
		if (!client_pump(c)) {
			return NULL;
		}
	}
	return NULL;
}

static json_t *client_expect(struct client *c)
{
	json_t *v = client_next(c, 10000);

	cr_assert_not_null(v, "expected a response, got none");
	return v;
}

/* True if the server has closed the connection (after polling for a while). */
static bool client_closed(struct client *c)
{
	for (int i = 0; i < 200; i++) {
		poll_n(1);
		if (!client_pump(c)) {
			return true;
		}
	}
	return false;
}

static void client_close(struct client *c)
{
	if (c->fd >= 0) {
		close(c->fd);
	}
	c->fd = -1;
}

static char *dump(const json_t *v)
{
	static char text[512];
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	snprintf(text, sizeof(text), "%s", s ? s : "(null)");
	free(s);
	return text;
}

static void expect_true(json_t *resp, json_int_t id)
{
	cr_assert(json_is_true(json_object_get(resp, "result")) &&
		      json_integer_value(json_object_get(resp, "id")) == id,
		  "expected {\"id\":%lld,\"result\":true}, got %s", (long long)id, dump(resp));
	json_decref(resp);
}

/* An error `code` for id `id` (-1: null) whose message contains `needle` (NULL: any). */
static void expect_error(json_t *resp, int code, json_int_t id, const char *needle)
{
	json_t *err = json_object_get(resp, "error");
	const char *msg = json_string_value(json_object_get(err, "message"));
	json_t *jid = json_object_get(resp, "id");

	cr_assert_eq(json_integer_value(json_object_get(err, "code")), code,
		     "expected error %d, got %s", code, dump(resp));
	cr_assert(id < 0 ? json_is_null(jid) : json_integer_value(jid) == id,
		  "expected id %lld, got %s", (long long)id, dump(resp));
	if (needle != NULL) {
		cr_assert(msg != NULL && strstr(msg, needle) != NULL,
			  "expected a message containing '%s', got %s", needle, dump(resp));
	}
	json_decref(resp);
}

#define REQ(method, params, id) \
	"{\"jsonrpc\":\"2.0\",\"method\":\"" method "\",\"params\":" params ",\"id\":" id "}"

/* --- item 5: one request at a time per connection ------------------------------- */

Test(rpc_daemon, pipelined_create_delete_create_run_in_order)
{
	struct client c;

	cr_assert_eq(client_connect(&c), 0);
	client_send(&c, REQ("d_create", "{\"name\":\"X\"}", "1")
			    REQ("d_delete", "{\"name\":\"X\"}", "2")
				REQ("d_create", "{\"name\":\"X\"}", "3"));
	expect_true(client_expect(&c), 1);
	expect_true(client_expect(&c), 2);
	expect_true(client_expect(&c), 3);
	client_close(&c);
}

Test(rpc_daemon, next_request_waits_for_the_asynchronous_answer)
{
	struct client c;
	json_t *resp;

	cr_assert_eq(client_connect(&c), 0);
	client_send(&c, REQ("d_create", "{\"name\":\"Y\"}", "1") REQ("d_count", "null", "2"));
	poll_n(3); /* the create answers on its 5th poll */
	cr_assert_eq(g_calls, 1,
		     "expected only the create started while it runs, got %d methods started",
		     g_calls);
	expect_true(client_expect(&c), 1);
	resp = client_expect(&c);
	cr_assert_eq(g_calls, 2, "expected the count started after the create, got %d calls",
		     g_calls);
	expect_true(resp, 2);
	client_close(&c);
}

Test(rpc_daemon, batch_elements_run_in_order)
{
	struct client c;
	json_t *resp;

	cr_assert_eq(client_connect(&c), 0);
	client_send(&c, "[" REQ("d_create", "{\"name\":\"Z\"}",
				"1") "," REQ("d_delete", "{\"name\":\"Z\"}",
					     "2") "," REQ("d_create", "{\"name\":\"Z\"}", "3") "]");
	resp = client_expect(&c);
	cr_assert(json_is_array(resp) && json_array_size(resp) == 3, "expected 3 answers, got %s",
		  dump(resp));
	for (size_t i = 0; i < 3; i++) {
		expect_true(json_incref(json_array_get(resp, i)), (json_int_t)i + 1);
	}
	json_decref(resp);
	client_close(&c);
}

/* --- item 4: idle timeout, rate-limited refusals, fairness ---------------------- */

Test(rpc_daemon, idle_and_partial_connections_time_out)
{
	struct client silent, partial, busy;

	cr_assert_eq(client_connect(&silent), 0);
	cr_assert_eq(client_connect(&partial), 0);
	cr_assert_eq(client_connect(&busy), 0);
	client_send(&partial, "{\"jsonrpc\":\"2.0\",\"method\":");

	/* a client trickling bytes stays idle; one answered 40 s in is not */
	for (int step = 0; step < 3; step++) {
		advance_us(20ull * 1000 * 1000);
		client_send(&partial, " ");
		if (step == 1) {
			client_send(&busy, REQ("d_count", "null", "1"));
			expect_true(client_expect(&busy), 1);
		}
		poll_n(10);
	}
	/* 60 s: not yet beyond the limit */
	cr_assert(!client_closed(&silent), "a connection idle for exactly 60 s was closed");
	advance_us(1000 * 1000 + RPC_IDLE_TIMEOUT_US - 60ull * 1000 * 1000);
	cr_assert(client_closed(&silent), "a connection silent for %llu ms was not closed",
		  (unsigned long long)(RPC_IDLE_TIMEOUT_US / 1000 + 1000));
	cr_assert(client_closed(&partial),
		  "a connection holding a partial request for 61 s was not closed");
	cr_assert(!client_closed(&busy), "a connection answered 21 s ago was closed");
	client_send(&busy, REQ("d_count", "null", "2"));
	expect_true(client_expect(&busy), 2);
	client_close(&silent);
	client_close(&partial);
	client_close(&busy);
}

Test(rpc_daemon, silent_connections_cannot_lock_others_out)
{
	struct rpc_server_limits l;
	struct client *silent;
	struct client late;
	uint32_t n;

	rpc_server_get_limits(&l);
	n = l.max_conns;
	silent = calloc(n, sizeof(*silent));
	cr_assert_not_null(silent);
	for (uint32_t i = 0; i < n; i++) {
		cr_assert_eq(client_connect(&silent[i]), 0, "connection %u of %u refused", i, n);
	}
	cr_assert_eq(client_connect(&late), 0);
	cr_assert(client_closed(&late), "connection %u over the limit of %u should be closed",
		  n + 1, n);
	client_close(&late);

	advance_us(RPC_IDLE_TIMEOUT_US + 20 * 1000);
	poll_n(10);
	cr_assert_eq(client_connect(&late), 0);
	client_send(&late, REQ("d_count", "null", "7"));
	expect_true(client_expect(&late), 7);
	client_close(&late);
	for (uint32_t i = 0; i < n; i++) {
		client_close(&silent[i]);
	}
	free(silent);
}

static int g_refusal_lines;
static char g_last_refusal[512];

static void count_refusals(enum spio_log_level level, const char *line, void *ctx)
{
	(void)level;
	(void)ctx;
	if (strstr(line, "refused") != NULL) {
		g_refusal_lines++;
		snprintf(g_last_refusal, sizeof(g_last_refusal), "%s", line);
	}
}

static void set_one_conn(void)
{
	struct rpc_server_limits l;

	rpc_server_get_limits(&l);
	l.max_conns = 1;
	rpc_server_set_limits(&l);
}

/* Connect `n` clients beyond the limit and wait until each is closed. */
static void refuse(int n)
{
	struct client c;

	for (int i = 0; i < n; i++) {
		cr_assert_eq(client_connect(&c), 0);
		cr_assert(client_closed(&c), "connection over the limit was not closed");
		client_close(&c);
	}
}

Test(rpc_daemon, refusals_are_logged_at_most_once_per_second)
{
	struct client keep;

	set_one_conn();
	spio_log_set_sink(count_refusals, NULL);
	cr_assert_eq(client_connect(&keep), 0);

	refuse(50);
	cr_assert_eq(g_refusal_lines, 1, "50 refusals in one second: expected 1 log line, got %d",
		     g_refusal_lines);
	cr_assert(strstr(g_last_refusal, "refused 1 ") != NULL,
		  "expected the first line to count 1 refusal, got: %s", g_last_refusal);

	/* the rest are reported once the period has passed, even with no new refusal */
	advance_us(RPC_REFUSAL_LOG_PERIOD_US + 1000);
	poll_n(10);
	cr_assert_eq(g_refusal_lines, 2, "expected a second line after 1 s, got %d lines",
		     g_refusal_lines);
	cr_assert(strstr(g_last_refusal, "refused 49 ") != NULL,
		  "expected the second line to count 49 refusals, got: %s", g_last_refusal);

	refuse(10);
	cr_assert_eq(g_refusal_lines, 2, "refusals within the period must not log, got %d lines",
		     g_refusal_lines);
	client_close(&keep);
}

Test(rpc_daemon, one_client_cannot_starve_another)
{
	enum { N = 500 };
	static char flood[N * 64];
	struct client a, b;
	size_t off = 0;
	json_t *resp;
	int got = 0;

	cr_assert_eq(client_connect(&a), 0);
	cr_assert_eq(client_connect(&b), 0);
	for (int i = 0; i < N; i++) {
		off +=
		    (size_t)snprintf(flood + off, sizeof(flood) - off,
				     "{\"jsonrpc\":\"2.0\",\"method\":\"d_count\",\"id\":%d}", i);
	}
	client_send(&a, flood);
	client_send(&b, REQ("d_mark", "null", "1"));
	expect_true(client_expect(&b), 1);
	cr_assert_lt(g_calls_at_mark, N / 4,
		     "the other client's request ran after %d of %d flood requests; expected "
		     "at most a few polls' worth",
		     g_calls_at_mark, N);
	while (got < N && (resp = client_next(&a, 10000)) != NULL) {
		json_decref(resp);
		got++;
	}
	cr_assert_eq(got, N, "the flooding client: expected %d answers, got %d", N, got);
	client_close(&a);
	client_close(&b);
}

/* --- item 6: duplicate keys ---------------------------------------------------- */

Test(rpc_daemon, duplicate_keys_are_refused)
{
	struct client c;
	json_t *resp;

	cr_assert_eq(client_connect(&c), 0);
	client_send(&c, REQ("d_echo", "{\"name\":\"a\",\"name\":\"b\"}", "1"));
	expect_error(client_expect(&c), SPIO_JSONRPC_ERROR_INVALID_PARAMS, 1,
		     "duplicate object key");

	/* nested, with the position as the config loader reports it */
	client_send(&c, REQ("d_echo", "{\"o\":{\"k\":1,\"k\":2}}", "2"));
	expect_error(client_expect(&c), SPIO_JSONRPC_ERROR_INVALID_PARAMS, 2, "line 1, column");

	/* a key of the request itself */
	client_send(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"d_echo\",\"method\":\"d_count\","
			"\"id\":3}");
	expect_error(client_expect(&c), SPIO_JSONRPC_ERROR_INVALID_REQUEST, 3,
		     "duplicate object key");

	/* a batch holding one is refused as a whole */
	client_send(
	    &c, "[" REQ("d_count", "null", "4") "," REQ("d_echo", "{\"x\":1,\"x\":1}", "5") "]");
	expect_error(client_expect(&c), SPIO_JSONRPC_ERROR_INVALID_PARAMS, -1,
		     "duplicate object key");
	cr_assert_eq(g_calls, 0, "nothing of a refused batch may run, got %d calls", g_calls);

	/* the same key in different objects is fine, and the connection is still open */
	client_send(&c, REQ("d_echo", "{\"a\":{\"x\":1},\"b\":{\"x\":2}}", "6"));
	resp = client_expect(&c);
	cr_assert_eq(json_integer_value(json_object_get(
			 json_object_get(json_object_get(resp, "result"), "b"), "x")),
		     2, "expected the echo of the params, got %s", dump(resp));
	json_decref(resp);
	client_close(&c);
}
