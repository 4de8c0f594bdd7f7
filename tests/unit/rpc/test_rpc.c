/*
 * JSON-RPC layer: the server over a real Unix socket (errors, pipelining,
 * split requests, notifications, many clients, garbage and oversized input,
 * slow readers, asynchronous methods, state mask), in-process calls, the
 * method registry and parameter decoding.
 *
 * Most suites run the server on a spio_thread polled by a helper pthread while
 * the test thread is the client, with blocking sockets. The "rpc_st" suite
 * polls the thread itself, to check what the poller reports.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc_internal.h"
#include "json/json_val_internal.h"
#include "spio/rpc.h"
#include "spio/thread.h"
#include "spio/util.h"
#include "helper_rpc_thread.h"

/* --- methods used by the tests ---------------------------------------------- */

static atomic_int g_count_calls;
static atomic_int g_async_started;

/* Result: the params as given (null when there are none). */
static void m_echo(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct spio_json_write_ctx *w = spio_jsonrpc_begin_result(req);
	char *text;

	if (w == NULL) {
		return;
	}
	if (params == NULL) {
		spio_json_write_null(w);
	} else {
		text = spio_json_dump(params);
		spio_json_write_val_raw(w, text, strlen(text));
		free(text);
	}
	spio_jsonrpc_end_result(req, w);
}
SPIO_RPC_REGISTER("test_echo", m_echo, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void m_count(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	atomic_fetch_add(&g_count_calls, 1);
	spio_jsonrpc_send_bool_response(req, true);
}
SPIO_RPC_REGISTER("test_count", m_count, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

static void m_runtime_only(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	spio_jsonrpc_send_bool_response(req, true);
}
SPIO_RPC_REGISTER("test_runtime_only", m_runtime_only, SPIO_RPC_RUNTIME)

static void m_startup_only(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	spio_jsonrpc_send_bool_response(req, true);
}
SPIO_RPC_REGISTER("test_startup_only", m_startup_only, SPIO_RPC_STARTUP)

static void m_fail(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	spio_jsonrpc_send_error_response_fmt(req, -17, "failed on purpose: %s", "yes");
}
SPIO_RPC_REGISTER("test_fail", m_fail, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/* Writes two top-level values: a malformed result. */
static void m_bad_result(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct spio_json_write_ctx *w = spio_jsonrpc_begin_result(req);

	spio_json_write_int32(w, 1);
	spio_json_write_int32(w, 2);
	spio_jsonrpc_end_result(req, w);
}
SPIO_RPC_REGISTER("test_bad_result", m_bad_result, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/* Result: a string of params.size 'x' characters. */
static void m_big(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct spio_json_write_ctx *w;
	int64_t size = 0;
	char *s;

	(void)spio_json_integer(spio_json_object_get(params, "size"), &size);
	s = malloc((size_t)size + 1);

	memset(s, 'x', (size_t)size);
	s[size] = '\0';
	w = spio_jsonrpc_begin_result(req);
	spio_json_write_string_len(w, s, (size_t)size);
	spio_jsonrpc_end_result(req, w);
	free(s);
}
SPIO_RPC_REGISTER("test_big", m_big, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/* Answers with its params from a poller, three polls later. */
struct async_ctx {
	struct spio_jsonrpc_request *req;
	const struct spio_json_val *params;
	struct spio_poller *poller;
	int polls;
};

static int async_poll(void *arg)
{
	struct async_ctx *a = arg;

	if (++a->polls < 3) {
		return SPIO_POLLER_BUSY;
	}
	spio_poller_unregister(&a->poller);
	m_echo(a->req, a->params); /* the params stay valid until the response */
	free(a);
	return SPIO_POLLER_BUSY;
}

static void m_async(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct async_ctx *a = calloc(1, sizeof(*a));

	a->req = req;
	a->params = params;
	a->poller = spio_poller_register(async_poll, a, 0);
	atomic_fetch_add(&g_async_started, 1);
}
SPIO_RPC_REGISTER("test_async", m_async, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/* Stops the server from inside a method; with params [true], after starting test_async. */
static void m_stop(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	if (spio_json_val_type(spio_json_array_get(params, 0)) == SPIO_JSON_TRUE) {
		m_async(req, params); /* answered by its poller after the stop */
		spio_rpc_server_stop();
		return;
	}
	spio_rpc_server_stop();
	spio_jsonrpc_send_bool_response(req, true); /* the connection is gone: dropped */
}
SPIO_RPC_REGISTER("test_stop", m_stop, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

struct decoded {
	char *name;
	bool flag;
	int64_t i64;
	uint64_t u64;
	uint32_t u32;
	double d;
	const json_t *obj;
	const json_t *arr;
};

static const struct spio_rpc_param g_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct decoded, name), false},
    {"flag", SPIO_RPC_PARAM_BOOL, offsetof(struct decoded, flag), true},
    {"i64", SPIO_RPC_PARAM_INT64, offsetof(struct decoded, i64), true},
    {"u64", SPIO_RPC_PARAM_UINT64, offsetof(struct decoded, u64), true},
    {"u32", SPIO_RPC_PARAM_UINT32, offsetof(struct decoded, u32), true},
    {"d", SPIO_RPC_PARAM_DOUBLE, offsetof(struct decoded, d), true},
    {"obj", SPIO_RPC_PARAM_OBJECT, offsetof(struct decoded, obj), true},
    {"arr", SPIO_RPC_PARAM_ARRAY, offsetof(struct decoded, arr), true},
};

/* Decodes g_decoders and answers {"name":..,"u64":"<decimal>",...}. */
static void m_decode(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct decoded d = {.u32 = 7};
	struct spio_json_write_ctx *w;
	char err[256];

	if (spio_rpc_decode_params(params, g_decoders, SPIO_COUNTOF(g_decoders), &d, err,
				   sizeof(err)) != 0) {
		spio_rpc_params_free(g_decoders, SPIO_COUNTOF(g_decoders), &d);
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		return;
	}
	w = spio_jsonrpc_begin_result(req);
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "name", d.name);
	spio_json_write_named_bool(w, "flag", d.flag);
	spio_json_write_named_int64(w, "i64", d.i64);
	spio_json_write_named_string_fmt(w, "u64", "%llu", (unsigned long long)d.u64);
	spio_json_write_named_uint32(w, "u32", d.u32);
	spio_json_write_object_end(w);
	spio_jsonrpc_end_result(req, w);
	spio_rpc_params_free(g_decoders, SPIO_COUNTOF(g_decoders), &d);
}
SPIO_RPC_REGISTER("test_decode", m_decode, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/* --- server thread polled by a helper pthread ------------------------------- */

static struct spio_thread *g_t;
static pthread_t g_poll_thread;
static atomic_bool g_poll_stop;
static char g_path[108];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *poll_main(void *arg)
{
	unsigned idle = 0;

	(void)arg;
	while (!atomic_load(&g_poll_stop)) {
		if (spio_thread_poll(g_t, 0, 0) == SPIO_POLLER_BUSY) {
			idle = 0;
		} else if (++idle > 64) {
			usleep(20);
		}
	}
	return NULL;
}

struct server_call {
	void (*fn)(void *arg);
	void *arg;
	atomic_bool done;
};

static void server_call_msg(void *ctx)
{
	struct server_call *c = ctx;

	c->fn(c->arg);
	atomic_store(&c->done, true);
}

/* Run fn(arg) on the server thread and wait for it. */
static void run_on_server(void (*fn)(void *arg), void *arg)
{
	struct server_call c = {.fn = fn, .arg = arg};
	double deadline = now_s() + 10;

	cr_assert_eq(spio_thread_send_msg(g_t, server_call_msg, &c), 0, "send_msg failed");
	while (!atomic_load(&c.done)) {
		cr_assert_lt(now_s(), deadline, "the server thread did not run a message in 10 s");
		usleep(50);
	}
}

struct start_args {
	const char *path;
	int rc;
};

static void do_start(void *arg)
{
	struct start_args *a = arg;

	a->rc = spio_rpc_server_start(a->path);
}

static void do_stop(void *arg)
{
	(void)arg;
	spio_rpc_server_stop();
}

static int start_on_server(const char *path)
{
	struct start_args a = {.path = path};

	run_on_server(do_start, &a);
	return a.rc;
}

static void server_setup(void)
{
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_t = spio_thread_create("rpc", NULL);
	cr_assert_not_null(g_t);
	snprintf(g_path, sizeof(g_path), "/tmp/spio_rpc_test.%d.sock", (int)getpid());
	unlink(g_path);
	atomic_store(&g_poll_stop, false);
	cr_assert_eq(pthread_create(&g_poll_thread, NULL, poll_main, NULL), 0);
	cr_assert_eq(start_on_server(g_path), 0, "server start on %s failed", g_path);
}

static void server_teardown(void)
{
	struct spio_thread *prev;

	run_on_server(do_stop, NULL);
	atomic_store(&g_poll_stop, true);
	pthread_join(g_poll_thread, NULL);
	prev = spio_thread_enter(g_t);
	spio_thread_exit(g_t);
	spio_thread_leave(prev);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_t); i++) {
		spio_thread_poll(g_t, 0, 0);
	}
	cr_assert(spio_thread_is_exited(g_t), "server thread did not exit (pollers left?)");
	spio_thread_destroy(g_t);
	spio_thread_lib_fini();
	unlink(g_path);
}

/* --- client side --------------------------------------------------------------- */

struct client {
	int fd;
	char *buf;
	size_t len, cap;
};

static int connect_fd(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(fd);
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void client_open(struct client *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = connect_fd(g_path);
	cr_assert_geq(c->fd, 0, "connect to %s: expected success, got %s", g_path,
		      strerror(-c->fd));
}

static void client_close(struct client *c)
{
	if (c->fd >= 0) {
		close(c->fd);
	}
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
}

static void client_send(struct client *c, const char *data, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
		cr_assert_gt(n, 0, "send to the server failed: %s", strerror(errno));
		off += (size_t)n;
	}
}

static void client_send_str(struct client *c, const char *s)
{
	client_send(c, s, strlen(s));
}

/*
 * Next response line, parsed; NULL on EOF, error or timeout (*err gets 0 for
 * EOF, else errno).
 */
static json_t *client_recv_err(struct client *c, int *err)
{
	json_error_t jerr;
	json_t *v;
	char *nl;
	ssize_t n;

	for (;;) {
		nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		if (nl != NULL) {
			size_t line = (size_t)(nl - c->buf);

			v = json_loadb(c->buf, line, 0, &jerr);
			cr_assert_not_null(v, "response is not JSON (%s): %.200s", jerr.text,
					   c->buf);
			memmove(c->buf, nl + 1, c->len - line - 1);
			c->len -= line + 1;
			return v;
		}
		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? c->cap * 2 : 131072;
			c->buf = realloc(c->buf, c->cap);
			cr_assert_not_null(c->buf);
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (n <= 0) {
			*err = n == 0 ? 0 : errno;
			return NULL;
		}
		c->len += (size_t)n;
	}
}

static json_t *client_recv(struct client *c)
{
	int err = 0;
	json_t *v = client_recv_err(c, &err);

	cr_assert_not_null(v, "expected a response, got %s",
			   err == 0 ? "end of stream" : strerror(err));
	return v;
}

/* True if the server closed the connection (after any responses buffered). */
static bool client_sees_close(struct client *c)
{
	int err = -1;
	json_t *v = client_recv_err(c, &err);

	if (v != NULL) {
		fprintf(stderr, "expected the connection closed, got a response %s\n",
			json_dumps(v, JSON_COMPACT));
		json_decref(v);
		return false;
	}
	if (err != 0 && err != ECONNRESET) {
		fprintf(stderr, "expected the connection closed, got %s\n", strerror(err));
	}
	return err == 0 || err == ECONNRESET;
}

static json_t *client_call(struct client *c, const char *request)
{
	client_send_str(c, request);
	return client_recv(c);
}

static char *dump(const json_t *v)
{
	static __thread char text[512];
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	snprintf(text, sizeof(text), "%s", s ? s : "(null)");
	free(s);
	return text;
}

/* Check a response is an error with `code` and the given id (-1: id null); frees it. */
static void expect_error(json_t *resp, int code, json_int_t id)
{
	json_t *err = json_object_get(resp, "error");
	json_t *jid = json_object_get(resp, "id");

	cr_assert_str_eq(json_string_value(json_object_get(resp, "jsonrpc")), "2.0",
			 "expected \"jsonrpc\":\"2.0\", got %s", dump(resp));
	cr_assert(json_is_object(err), "expected an error %d, got %s", code, dump(resp));
	cr_assert_eq(json_integer_value(json_object_get(err, "code")), code,
		     "expected error code %d, got %s", code, dump(resp));
	cr_assert(json_is_string(json_object_get(err, "message")),
		  "expected a message string, got %s", dump(resp));
	if (id < 0) {
		cr_assert(json_is_null(jid), "expected id null, got %s", dump(resp));
	} else {
		cr_assert_eq(json_integer_value(jid), id, "expected id %lld, got %s", (long long)id,
			     dump(resp));
	}
	cr_assert_null(json_object_get(resp, "result"), "error and result in %s", dump(resp));
	json_decref(resp);
}

/* The "result" of a successful response with id `id` (borrowed from resp). */
static json_t *expect_result(json_t *resp, json_int_t id)
{
	json_t *result = json_object_get(resp, "result");

	cr_assert_not_null(result, "expected a result, got %s", dump(resp));
	cr_assert_null(json_object_get(resp, "error"), "unexpected error in %s", dump(resp));
	cr_assert_eq(json_integer_value(json_object_get(resp, "id")), id,
		     "expected id %lld, got %s", (long long)id, dump(resp));
	return result;
}

static void expect_true_result(json_t *resp, json_int_t id)
{
	cr_assert(json_is_true(expect_result(resp, id)), "expected result true, got %s",
		  dump(resp));
	json_decref(resp);
}

/* A new client can still get an answer. */
static void expect_server_alive(void)
{
	struct client c;
	json_t *resp;

	client_open(&c);
	resp = client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":99}");
	expect_true_result(resp, 99);
	client_close(&c);
}

TestSuite(rpc_server, .init = server_setup, .fini = server_teardown, .timeout = 120);

/* --- errors ---------------------------------------------------------------------- */

Test(rpc_server, parse_error_answers_and_closes)
{
	struct client c;

	client_open(&c);
	client_send_str(&c, "{\"jsonrpc\":\"2.0\",\"method\" 5}");
	expect_error(client_recv(&c), SPIO_JSONRPC_ERROR_PARSE_ERROR, -1);
	cr_assert(client_sees_close(&c), "expected the connection closed after a parse error");
	client_close(&c);

	/* a byte that cannot start a value: answered at once, not at the size limit */
	client_open(&c);
	client_send_str(&c, "hello");
	expect_error(client_recv(&c), SPIO_JSONRPC_ERROR_PARSE_ERROR, -1);
	cr_assert(client_sees_close(&c), "expected the connection closed after a parse error");
	client_close(&c);

	/* a request before the bad bytes is still answered first */
	client_open(&c);
	client_send_str(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":1} }");
	expect_true_result(client_recv(&c), 1);
	expect_error(client_recv(&c), SPIO_JSONRPC_ERROR_PARSE_ERROR, -1);
	cr_assert(client_sees_close(&c));
	client_close(&c);

	expect_server_alive();
}

Test(rpc_server, invalid_requests_keep_the_connection)
{
	static const struct {
		const char *text;
		json_int_t id;
	} cases[] = {
	    {"5", -1},
	    {"\"just a string\"", -1},
	    {"null", -1},
	    {"true", -1},
	    {"[]", -1}, /* an empty batch */
	    {"{\"method\":\"test_count\",\"id\":2}", 2},
	    {"{\"jsonrpc\":\"1.0\",\"method\":\"test_count\",\"id\":3}", 3},
	    {"{\"jsonrpc\":2.0,\"method\":\"test_count\",\"id\":4}", 4},
	    {"{\"jsonrpc\":\"2.0\",\"id\":5}", 5},
	    {"{\"jsonrpc\":\"2.0\",\"method\":17,\"id\":6}", 6},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":{}}", -1},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":[1]}", -1},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":true}", -1},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"params\":5,\"id\":7}", 7},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"params\":\"x\",\"id\":8}", 8},
	    /* invalid requests are answered even without an id */
	    {"{\"jsonrpc\":\"2.0\",\"method\":1}", -1},
	};
	struct client c;
	size_t i;

	client_open(&c);
	for (i = 0; i < SPIO_COUNTOF(cases); i++) {
		client_send_str(&c, cases[i].text);
		client_send_str(&c, "\n");
		expect_error(client_recv(&c), SPIO_JSONRPC_ERROR_INVALID_REQUEST, cases[i].id);
	}
	/* the same connection still serves */
	expect_true_result(
	    client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":42}"), 42);
	client_close(&c);
}

Test(rpc_server, method_not_found_and_method_errors)
{
	struct client c;
	json_t *resp, *err;

	client_open(&c);
	expect_error(
	    client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"no_such_method\",\"id\":1}"),
	    SPIO_JSONRPC_ERROR_METHOD_NOT_FOUND, 1);

	resp = client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_fail\",\"id\":2}");
	err = json_object_get(resp, "error");
	cr_assert_str_eq(json_string_value(json_object_get(err, "message")),
			 "failed on purpose: yes", "expected the method's message, got %s",
			 dump(resp));
	expect_error(resp, -17, 2);

	expect_error(client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_decode\",\"id\":3,"
				     "\"params\":{\"nope\":1}}"),
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS, 3);
	expect_error(
	    client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_bad_result\",\"id\":4}"),
	    SPIO_JSONRPC_ERROR_INTERNAL_ERROR, 4);
	/* an integer jansson cannot hold: invalid params, and the connection stays */
	expect_error(client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_decode\",\"id\":5,"
				     "\"params\":{\"name\":\"a\",\"u64\":18446744073709551615}}"),
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS, 5);
	expect_true_result(
	    client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":6}"), 6);
	client_close(&c);
}

Test(rpc_server, ids_are_echoed)
{
	struct client c;
	json_t *resp;

	client_open(&c);
	resp = client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":\"abc\"}");
	cr_assert_str_eq(json_string_value(json_object_get(resp, "id")), "abc",
			 "expected id \"abc\", got %s", dump(resp));
	json_decref(resp);
	resp = client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":null}");
	cr_assert(json_is_null(json_object_get(resp, "id")) &&
		      json_is_true(json_object_get(resp, "result")),
		  "expected id null and result true, got %s", dump(resp));
	json_decref(resp);
	resp = client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":-9.5}");
	cr_assert_float_eq(json_real_value(json_object_get(resp, "id")), -9.5, 1e-12,
			   "expected id -9.5, got %s", dump(resp));
	json_decref(resp);
	client_close(&c);
}

Test(rpc_server, state_mask)
{
	struct client c;

	client_open(&c);
	cr_assert_eq(spio_rpc_get_state(), SPIO_RPC_STARTUP);
	expect_error(
	    client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_runtime_only\",\"id\":1}"),
	    SPIO_JSONRPC_ERROR_INVALID_STATE, 1);
	expect_true_result(
	    client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_startup_only\",\"id\":2}"), 2);
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
	expect_true_result(
	    client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_runtime_only\",\"id\":3}"), 3);
	expect_error(
	    client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_startup_only\",\"id\":4}"),
	    SPIO_JSONRPC_ERROR_INVALID_STATE, 4);
	spio_rpc_set_state(0x7); /* ignored */
	cr_assert_eq(spio_rpc_get_state(), SPIO_RPC_RUNTIME, "a bad state must be ignored");
	spio_rpc_set_state(SPIO_RPC_STARTUP);
	client_close(&c);
}

/* --- streams ---------------------------------------------------------------------- */

Test(rpc_server, pipelined_requests_answered_in_order)
{
	struct client c;
	json_t *resp;
	int i;

	client_open(&c);
	client_send_str(&c,
			"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"params\":[1],\"id\":1}"
			"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"params\":[2],\"id\":2}\n"
			"  {\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"params\":[3],\"id\":3}");
	for (i = 1; i <= 3; i++) {
		resp = client_recv(&c);
		cr_assert_eq(json_integer_value(json_array_get(expect_result(resp, i), 0)), i,
			     "expected result [%d], got %s", i, dump(resp));
		json_decref(resp);
	}
	client_close(&c);
}

Test(rpc_server, request_split_into_one_byte_writes)
{
	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":7,"
			  "\"params\":{\"s\":\"br{ack}et\\\"s [in] a \\\\string\",\"n\":[1,{}]}}";
	struct client c;
	json_t *resp, *result;
	size_t i;

	client_open(&c);
	for (i = 0; req[i] != '\0'; i++) {
		client_send(&c, &req[i], 1);
		if (i % 8 == 0) {
			usleep(100); /* let the server see partial input */
		}
	}
	resp = client_recv(&c);
	result = expect_result(resp, 7);
	cr_assert_str_eq(json_string_value(json_object_get(result, "s")),
			 "br{ack}et\"s [in] a \\string", "got %s", dump(resp));
	json_decref(resp);
	client_close(&c);
}

Test(rpc_server, notifications_get_no_response)
{
	struct client c;

	atomic_store(&g_count_calls, 0);
	client_open(&c);
	client_send_str(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\"}"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"no_such_method\"}"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"test_fail\"}"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"test_async\",\"params\":[1]}"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"params\":{}}"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":5}");
	/* the first response is the one to id 5 */
	expect_true_result(client_recv(&c), 5);
	cr_assert_eq(atomic_load(&g_count_calls), 3, "expected 3 calls of test_count, got %d",
		     atomic_load(&g_count_calls));
	cr_assert_eq(atomic_load(&g_async_started), 1);
	client_close(&c);
}

Test(rpc_server, asynchronous_method_keeps_order)
{
	struct client c;
	json_t *resp;

	client_open(&c);
	client_send_str(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_async\",\"params\":[\"a\"],"
			    "\"id\":1}"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":2}");
	resp = client_recv(&c);
	cr_assert_str_eq(json_string_value(json_array_get(expect_result(resp, 1), 0)), "a",
			 "expected the async answer [\"a\"] first, got %s", dump(resp));
	json_decref(resp);
	expect_true_result(client_recv(&c), 2);

	/* a number ended by the end of the stream (half-close) is still a value */
	{
		struct client h;

		client_open(&h);
		client_send_str(&h, "17");
		shutdown(h.fd, SHUT_WR);
		expect_error(client_recv(&h), SPIO_JSONRPC_ERROR_INVALID_REQUEST, -1);
		cr_assert(client_sees_close(&h));
		client_close(&h);
	}

	/* a client that leaves before its async answer does not disturb the server */
	client_send_str(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_async\",\"id\":3}");
	client_close(&c);
	expect_server_alive();
}

/* --- batches (a JSON array of requests, as rpc.py -b sends) ------------------------ */

/* The n-th element of a batch response (borrowed); fails unless resp is an array of `len`. */
static json_t *batch_elem(json_t *resp, size_t len, size_t n)
{
	cr_assert(json_is_array(resp) && json_array_size(resp) == len,
		  "expected a batch response of %zu elements, got %s", len, dump(resp));
	return json_incref(json_array_get(resp, n));
}

Test(rpc_server, batch_answers_every_request_in_order)
{
	struct client c;
	json_t *resp, *e;

	atomic_store(&g_count_calls, 0);
	client_open(&c);
	resp = client_call(
	    &c, "[{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":1},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_async\",\"params\":[\"late\"],\"id\":2},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_count\"},"
		"5,"
		"[{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":9}],"
		"{\"jsonrpc\":\"2.0\",\"method\":\"no_such_method\",\"id\":3},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"params\":{\"k\":\"v\"},\"id\":4},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"test_fail\",\"id\":\"five\"}]");
	/* the notification leaves no element; everything else answers in order */
	expect_true_result(batch_elem(resp, 7, 0), 1);
	e = batch_elem(resp, 7, 1);
	cr_assert_str_eq(json_string_value(json_array_get(expect_result(e, 2), 0)), "late",
			 "the asynchronous element answers in place, got %s", dump(resp));
	json_decref(e);
	expect_error(batch_elem(resp, 7, 2), SPIO_JSONRPC_ERROR_INVALID_REQUEST, -1);
	expect_error(batch_elem(resp, 7, 3), SPIO_JSONRPC_ERROR_INVALID_REQUEST, -1);
	expect_error(batch_elem(resp, 7, 4), SPIO_JSONRPC_ERROR_METHOD_NOT_FOUND, 3);
	e = batch_elem(resp, 7, 5);
	cr_assert_str_eq(json_string_value(json_object_get(expect_result(e, 4), "k")), "v");
	json_decref(e);
	e = batch_elem(resp, 7, 6);
	cr_assert_str_eq(json_string_value(json_object_get(e, "id")), "five", "got %s", dump(e));
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(e, "error"), "code")), -17);
	json_decref(e);
	json_decref(resp);
	/* the nested batch did not run; the notification did */
	cr_assert_eq(atomic_load(&g_count_calls), 2, "expected 2 calls of test_count, got %d",
		     atomic_load(&g_count_calls));

	/* a request after the batch is answered after it */
	expect_true_result(
	    client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":10}"), 10);
	client_close(&c);
}

Test(rpc_server, batch_of_notifications_sends_nothing)
{
	struct client c;

	atomic_store(&g_count_calls, 0);
	client_open(&c);
	client_send_str(&c, "[{\"jsonrpc\":\"2.0\",\"method\":\"test_count\"},"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"test_async\",\"params\":[1]},"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"no_such_method\"}]");
	/* the first thing back is the answer to the next request */
	expect_true_result(
	    client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":1}"), 1);
	cr_assert_eq(atomic_load(&g_count_calls), 2);
	client_close(&c);
}

Test(rpc_server, batch_limits_and_departures)
{
	size_t n = 65537, len = 2 + 2 * n;
	char *text = malloc(len + 1);
	struct client c;

	/* one element too many: refused as a whole, nothing runs */
	text[0] = '[';
	for (size_t i = 0; i < n; i++) {
		text[1 + 2 * i] = '1';
		text[2 + 2 * i] = i + 1 < n ? ',' : ']';
	}
	text[len - 1] = '\0';
	client_open(&c);
	client_send_str(&c, text);
	expect_error(client_recv(&c), SPIO_JSONRPC_ERROR_INVALID_REQUEST, -1);
	free(text);

	/* a client that leaves while an element is still running */
	client_send_str(&c, "[{\"jsonrpc\":\"2.0\",\"method\":\"test_async\",\"id\":1},"
			    "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":2}]");
	client_close(&c);
	expect_server_alive();
}

Test(rpc_server, thirty_two_clients_hundred_requests_each)
{
	enum { CLIENTS = 32, REQS = 100 };
	struct client c[CLIENTS];
	char req[160];
	json_t *resp, *result;
	int i, r;

	for (i = 0; i < CLIENTS; i++) {
		client_open(&c[i]);
	}
	for (r = 0; r < REQS; r++) {
		for (i = 0; i < CLIENTS; i++) {
			snprintf(req, sizeof(req),
				 "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":%d,"
				 "\"params\":{\"c\":%d,\"r\":%d}}",
				 r, i, r);
			client_send_str(&c[i], req);
		}
		for (i = 0; i < CLIENTS; i++) {
			resp = client_recv(&c[i]);
			result = expect_result(resp, r);
			cr_assert(json_integer_value(json_object_get(result, "c")) == i &&
				      json_integer_value(json_object_get(result, "r")) == r,
				  "client %d request %d: got %s", i, r, dump(resp));
			json_decref(resp);
		}
	}
	for (i = 0; i < CLIENTS; i++) {
		client_close(&c[i]);
	}
	expect_server_alive();
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
			break;
		}
	}
	fclose(f);
	return kib;
}

Test(rpc_server, hundred_mib_garbage_stream_is_bounded)
{
	const size_t chunk = 1024 * 1024, total = 100 * chunk;
	struct client c;
	size_t sent = 0;
	long before, after;
	json_t *resp, *err;
	char *buf = malloc(chunk);
	ssize_t n;
	size_t i;

	/* "[1,1,1,...": one never-ending array, so only the size limit stops it */
	for (i = 0; i < chunk; i += 2) {
		buf[i] = '1';
		buf[i + 1] = ',';
	}
	expect_server_alive();
	before = rss_kib();

	client_open(&c);
	client_send_str(&c, "[");
	while (sent < total) {
		n = send(c.fd, buf, chunk, MSG_NOSIGNAL);
		if (n < 0) {
			cr_assert(errno == EPIPE || errno == ECONNRESET,
				  "expected EPIPE once the server closes, got %s", strerror(errno));
			break;
		}
		sent += (size_t)n;
	}
	cr_assert_lt(sent, total, "expected the server to close before 100 MiB, sent %zu", sent);
	cr_assert_geq(sent + 1, (size_t)SPIO_RPC_MAX_REQUEST_SIZE,
		      "the server closed before the limit, after %zu bytes", sent);
	resp = client_recv(&c);
	err = json_object_get(resp, "error");
	cr_assert(strstr(json_string_value(json_object_get(err, "message")), "limit") != NULL,
		  "expected a size-limit message, got %s", dump(resp));
	expect_error(resp, SPIO_JSONRPC_ERROR_INVALID_REQUEST, -1);
	cr_assert(client_sees_close(&c));
	client_close(&c);

	expect_server_alive();
	after = rss_kib();
	cr_assert_lt(after - before, 16 * 1024,
		     "RSS grew by %ld KiB (from %ld to %ld); expected less than 16 MiB",
		     after - before, before, after);
	free(buf);
}

Test(rpc_server, oversized_request_refused)
{
	size_t big = SPIO_RPC_MAX_REQUEST_SIZE + 1024, n;
	const char *head = "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1,\"params\":[\"";
	struct client c;
	char *req = malloc(big + 64);
	json_t *resp;

	n = (size_t)sprintf(req, "%s", head);
	memset(req + n, 'y', big - n);
	strcpy(req + big, "\"]}");
	client_open(&c);
	/* the server may close while we still write: ignore send errors */
	for (n = 0; n < big + 3;) {
		ssize_t k = send(c.fd, req + n, big + 3 - n, MSG_NOSIGNAL);
		if (k <= 0) {
			break;
		}
		n += (size_t)k;
	}
	expect_error(client_recv(&c), SPIO_JSONRPC_ERROR_INVALID_REQUEST, -1);
	cr_assert(client_sees_close(&c));
	client_close(&c);

	/* just under the limit is fine */
	big = SPIO_RPC_MAX_REQUEST_SIZE - 256;
	n = (size_t)sprintf(req, "%s", head);
	memset(req + n, 'z', big - n);
	strcpy(req + big, "\"]}");
	client_open(&c);
	client_send(&c, req, strlen(req));
	resp = client_recv(&c);
	cr_assert_eq(json_string_length(json_array_get(expect_result(resp, 1), 0)), big - n,
		     "expected the echoed %zu-byte string", big - n);
	json_decref(resp);
	client_close(&c);
	free(req);
}

/*
 * Nesting: the server's scanner counts brackets in a 32-bit depth and jansson
 * refuses values nested deeper than it parses (2048): 100 000 levels are a
 * parse error, answered before the close as every parse error is, never a
 * crash (a recursive parser's stack); the server goes on, and 1000 levels
 * are echoed whole.
 */
Test(rpc_server, deep_nesting_is_a_parse_error)
{
	enum { DEEP = 100000, FINE = 1000 };
	const char *head = "{\"jsonrpc\":\"2.0\",\"method\":\"test_echo\",\"id\":1,\"params\":[";
	size_t hlen = strlen(head), n;
	char *req = malloc(hlen + 2 * DEEP + 8);
	struct client c;
	json_t *resp, *v;
	int depth;

	memcpy(req, head, hlen);
	n = hlen;
	memset(req + n, '[', DEEP);
	n += DEEP;
	memset(req + n, ']', DEEP);
	n += DEEP;
	memcpy(req + n, "]}\n", 4);
	client_open(&c);
	client_send(&c, req, strlen(req));
	expect_error(client_recv(&c), SPIO_JSONRPC_ERROR_PARSE_ERROR, -1);
	cr_assert(client_sees_close(&c), "expected the connection closed after a parse error");
	client_close(&c);

	n = hlen;
	memset(req + n, '[', FINE);
	n += FINE;
	memset(req + n, ']', FINE);
	n += FINE;
	memcpy(req + n, "]}\n", 4);
	client_open(&c);
	client_send(&c, req, strlen(req));
	resp = client_recv(&c);
	v = json_array_get(expect_result(resp, 1), 0);
	for (depth = 0; json_is_array(v) && json_array_size(v) > 0; depth++) {
		v = json_array_get(v, 0);
	}
	cr_assert_eq(depth, FINE - 1, "the same connection then echoes %d levels: got %d", FINE,
		     depth + 1);
	json_decref(resp);
	client_close(&c);
	free(req);
}

static void set_slow_limits(void *arg)
{
	struct rpc_server_limits l;

	(void)arg;
	rpc_server_get_limits(&l);
	l.write_timeout_us = 1000 * 1000;
	l.out_high_water = 64 * 1024;
	rpc_server_set_limits(&l);
}

Test(rpc_server, slow_reader_does_not_block_and_is_closed)
{
	const char *req =
	    "{\"jsonrpc\":\"2.0\",\"method\":\"test_big\",\"params\":{\"size\":65536},"
	    "\"id\":1}";
	struct client slow, fast;
	int sent = 0, got = 0, err = -1;
	double t0;
	json_t *resp;

	run_on_server(set_slow_limits, NULL);
	client_open(&slow);
	fcntl(slow.fd, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 2000; i++) {
		if (send(slow.fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
			break; /* its socket is full: the server stopped reading it */
		}
		sent++;
	}
	cr_assert_gt(sent, 10);

	t0 = now_s();
	client_open(&fast);
	expect_true_result(
	    client_call(&fast, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":1}"), 1);
	cr_assert_lt(now_s() - t0, 0.5, "a fast client waited %.3f s behind a slow one",
		     now_s() - t0);
	client_close(&fast);

	usleep(1600 * 1000); /* > write timeout */
	fcntl(slow.fd, F_SETFL, 0);
	for (;;) {
		resp = client_recv_err(&slow, &err);
		if (resp == NULL) {
			break;
		}
		got++;
		json_decref(resp);
	}
	cr_assert(err == 0 || err == ECONNRESET,
		  "expected the slow client's connection closed, got %s", strerror(err));
	cr_assert_lt(got, sent, "expected fewer than %d responses before the close, got %d", sent,
		     got);
	client_close(&slow);
	expect_server_alive();
}

static void set_two_conns(void *arg)
{
	struct rpc_server_limits l;

	(void)arg;
	rpc_server_get_limits(&l);
	l.max_conns = 2;
	rpc_server_set_limits(&l);
}

Test(rpc_server, connection_limit)
{
	struct client a, b, c;

	run_on_server(set_two_conns, NULL);
	client_open(&a);
	client_open(&b);
	expect_true_result(
	    client_call(&a, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":1}"), 1);
	expect_true_result(
	    client_call(&b, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":2}"), 2);
	client_open(&c);
	cr_assert(client_sees_close(&c), "a third connection over the limit must be closed");
	client_close(&c);
	client_close(&a);
	usleep(20000); /* let the server see a leave */
	client_open(&c);
	expect_true_result(
	    client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":3}"), 3);
	client_close(&c);
	client_close(&b);
}

Test(rpc_server, stop_from_inside_a_method)
{
	struct client a, b;
	struct stat st;

	client_open(&a);
	client_open(&b);
	client_send_str(&a, "{\"jsonrpc\":\"2.0\",\"method\":\"test_stop\",\"id\":1}");
	cr_assert(client_sees_close(&a), "the caller's connection must close with the server");
	cr_assert(client_sees_close(&b), "every connection must close with the server");
	cr_assert_neq(stat(g_path, &st), 0, "the socket must be removed");
	client_close(&a);
	client_close(&b);

	/* again, with an asynchronous request still running when the server stops */
	cr_assert_eq(start_on_server(g_path), 0);
	client_open(&a);
	client_send_str(&a, "{\"jsonrpc\":\"2.0\",\"method\":\"test_stop\",\"params\":[true],"
			    "\"id\":1}");
	cr_assert(client_sees_close(&a));
	client_close(&a);
	usleep(20000); /* the async answer arrives for a closed connection: dropped */
	cr_assert_eq(start_on_server(g_path), 0, "restart after a stop from a method");
	expect_server_alive();
}

/* --- built-in methods --------------------------------------------------------------- */

Test(rpc_server, builtin_methods)
{
	struct client c;
	json_t *resp, *result, *fields;
	bool have_get_methods = false, have_version = false, have_runtime = false;
	size_t i;

	client_open(&c);
	resp = client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"rpc_get_methods\",\"id\":1}");
	result = expect_result(resp, 1);
	cr_assert(json_is_array(result), "expected an array, got %s", dump(resp));
	for (i = 0; i < json_array_size(result); i++) {
		const char *name = json_string_value(json_array_get(result, i));

		have_get_methods |= strcmp(name, "rpc_get_methods") == 0;
		have_version |= strcmp(name, "spdk_get_version") == 0;
		have_runtime |= strcmp(name, "test_runtime_only") == 0;
	}
	cr_assert(have_get_methods && have_version && have_runtime,
		  "expected rpc_get_methods, spdk_get_version and test_runtime_only listed");
	json_decref(resp);

	resp = client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"rpc_get_methods\",\"id\":2,"
			       "\"params\":{\"current\":true}}");
	result = expect_result(resp, 2);
	for (i = 0; i < json_array_size(result); i++) {
		cr_assert_str_neq(json_string_value(json_array_get(result, i)), "test_runtime_only",
				  "current:true in STARTUP must not list a RUNTIME-only method");
	}
	json_decref(resp);
	expect_error(client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"rpc_get_methods\",\"id\":3,"
				     "\"params\":{\"current\":1}}"),
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS, 3);

	for (i = 0; i < 2; i++) {
		char req[128];

		snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"id\":4}",
			 i == 0 ? "spdk_get_version" : "spio_get_version");
		resp = client_call(&c, req);
		result = expect_result(resp, 4);
		fields = json_object_get(result, "fields");
		cr_assert_str_eq(json_string_value(json_object_get(result, "version")),
				 "spdk-io v0.1.0", "got %s", dump(resp));
		cr_assert(json_integer_value(json_object_get(fields, "major")) == 0 &&
			      json_integer_value(json_object_get(fields, "minor")) == 1 &&
			      json_integer_value(json_object_get(fields, "patch")) == 0 &&
			      json_is_string(json_object_get(fields, "suffix")),
			  "unexpected version fields: %s", dump(resp));
		json_decref(resp);
	}
	expect_error(client_call(&c,
				 "{\"jsonrpc\":\"2.0\",\"method\":\"spdk_get_version\",\"id\":5,"
				 "\"params\":{\"x\":1}}"),
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS, 5);
	client_close(&c);
}

Test(rpc_server, decode_over_the_wire)
{
	struct client c;
	json_t *resp, *result;

	client_open(&c);
	resp = client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_decode\",\"id\":1,"
			       "\"params\":{\"name\":\"n1\",\"u64\":\"18446744073709551615\","
			       "\"flag\":true,\"i64\":-5}}");
	result = expect_result(resp, 1);
	cr_assert_str_eq(json_string_value(json_object_get(result, "u64")), "18446744073709551615",
			 "got %s", dump(resp));
	cr_assert_eq(json_integer_value(json_object_get(result, "u32")), 7,
		     "an absent optional field keeps its default: got %s", dump(resp));
	json_decref(resp);
	expect_error(client_call(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"test_decode\",\"id\":2}"),
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS, 2);
	client_close(&c);
}

/* --- in-process calls ----------------------------------------------------------------- */

struct call_result {
	atomic_int calls;
	int code;
	char msg[256];
	json_t *result;
};

static void call_cb(void *ctx, int error_code, const char *error_msg,
		    const struct spio_json_val *result_val)
{
	json_t *result = json_val_to_jansson(result_val);
	struct call_result *r = ctx;

	r->code = error_code;
	snprintf(r->msg, sizeof(r->msg), "%s", error_msg ? error_msg : "");
	r->result = result ? json_incref(result) : NULL;
	atomic_fetch_add(&r->calls, 1);
}

struct call_args {
	const char *method;
	json_t *params;
	struct call_result *res;
	int rc;
};

static void do_call(void *arg)
{
	struct call_args *a = arg;

	a->rc = spio_rpc_call(a->method, json_val_from_jansson(a->params), call_cb, a->res);
}

static void do_nothing(void *arg)
{
}

static void call_and_wait(const char *method, json_t *params, struct call_result *res)
{
	struct call_args a = {.method = method, .params = params, .res = res};
	double deadline = now_s() + 10;

	run_on_server(do_call, &a);
	cr_assert_eq(a.rc, 0, "spio_rpc_call(%s): expected 0, got %d", method, a.rc);
	while (atomic_load(&res->calls) == 0) {
		cr_assert_lt(now_s(), deadline, "spio_rpc_call(%s): callback never called", method);
		usleep(100);
	}
	cr_assert_eq(atomic_load(&res->calls), 1, "callback called %d times",
		     atomic_load(&res->calls));
	/* The server drops its own reference to the result after the callback
	 * returns: wait for that (a message runs after the current poll) before
	 * the caller touches the result's reference count. */
	run_on_server(do_nothing, NULL);
}

Test(rpc_server, in_process_call)
{
	struct call_result r = {0};
	struct call_args bad = {.method = NULL, .res = &r};
	json_t *params;

	call_and_wait("spdk_get_version", NULL, &r);
	cr_assert_eq(r.code, 0, "expected success, got %d %s", r.code, r.msg);
	cr_assert_str_eq(json_string_value(json_object_get(r.result, "version")), "spdk-io v0.1.0");
	json_decref(r.result);

	memset(&r, 0, sizeof(r));
	call_and_wait("no_such_method", NULL, &r);
	cr_assert_eq(r.code, SPIO_JSONRPC_ERROR_METHOD_NOT_FOUND, "expected -32601, got %d",
		     r.code);
	cr_assert_null(r.result);

	memset(&r, 0, sizeof(r));
	params = json_pack("{s:s, s:i}", "name", "x", "u32", -1);
	call_and_wait("test_decode", params, &r);
	cr_assert_eq(r.code, SPIO_JSONRPC_ERROR_INVALID_PARAMS, "expected -32602, got %d (%s)",
		     r.code, r.msg);
	cr_assert(strstr(r.msg, "u32") != NULL, "the message should name the key: %s", r.msg);
	json_decref(params);

	memset(&r, 0, sizeof(r));
	call_and_wait("test_fail", NULL, &r);
	cr_assert_eq(r.code, -17);
	cr_assert_str_eq(r.msg, "failed on purpose: yes");

	memset(&r, 0, sizeof(r));
	call_and_wait("test_runtime_only", NULL, &r);
	cr_assert_eq(r.code, SPIO_JSONRPC_ERROR_INVALID_STATE, "expected -1, got %d", r.code);

	/* asynchronous: the callback comes from a later poll */
	memset(&r, 0, sizeof(r));
	params = json_pack("[i, s]", 5, "five");
	call_and_wait("test_async", params, &r);
	cr_assert_eq(r.code, 0);
	cr_assert(json_equal(r.result, params), "expected the params back, got %s", dump(r.result));
	json_decref(r.result);
	json_decref(params);

	/* bad arguments: the callback is not called */
	memset(&r, 0, sizeof(r));
	run_on_server(do_call, &bad);
	cr_assert_eq(bad.rc, -EINVAL);
	bad.method = "spdk_get_version";
	bad.params = json_integer(3);
	run_on_server(do_call, &bad);
	cr_assert_eq(bad.rc, -EINVAL, "params must be an object or array");
	json_decref(bad.params);
	cr_assert_eq(atomic_load(&r.calls), 0);
	/* not on the server's thread */
	cr_assert_eq(spio_rpc_call("spdk_get_version", NULL, call_cb, &r), -EINVAL);
}

Test(rpc_server, start_twice_and_stop_unlinks)
{
	struct stat st;
	char other[128];

	cr_assert_eq(start_on_server(g_path), -EADDRINUSE,
		     "a second start on the same path: expected -EADDRINUSE");
	snprintf(other, sizeof(other), "%s.other", g_path);
	cr_assert_eq(start_on_server(other), -EALREADY);
	cr_assert_eq(stat(g_path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600, "expected mode 0600, got %o", st.st_mode & 0777);

	run_on_server(do_stop, NULL);
	cr_assert_neq(stat(g_path, &st), 0, "stop must unlink %s", g_path);
	cr_assert_eq(connect_fd(g_path), -ENOENT);
	run_on_server(do_stop, NULL); /* no-op */
	cr_assert_eq(start_on_server(g_path), 0, "restart after stop");
	expect_server_alive();
}

/* --- single-threaded: the test polls the thread itself ---------------------------------- */

static void st_setup(void)
{
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_t = spio_thread_create("rpc_st", NULL);
	cr_assert_not_null(g_t);
	spio_set_thread(g_t);
	snprintf(g_path, sizeof(g_path), "/tmp/spio_rpc_st.%d.sock", (int)getpid());
	unlink(g_path);
}

static void st_teardown(void)
{
	spio_rpc_server_stop();
	rpc_test_thread_end(g_t);
	unlink(g_path);
}

TestSuite(rpc_st, .init = st_setup, .fini = st_teardown, .timeout = 60);

/* Poll until a poll reports BUSY (1) or 1 s passes (0). */
static int poll_until_busy(void)
{
	double deadline = now_s() + 1.0;

	while (now_s() < deadline) {
		if (spio_thread_poll(g_t, 0, 0) == SPIO_POLLER_BUSY) {
			return 1;
		}
	}
	return 0;
}

static int count_busy(int polls)
{
	int busy = 0;

	for (int i = 0; i < polls; i++) {
		busy += spio_thread_poll(g_t, 0, 0) == SPIO_POLLER_BUSY;
	}
	return busy;
}

Test(rpc_st, poller_reports_idle_when_nothing_happens)
{
	char buf[256];
	ssize_t n;
	int fd;

	cr_assert_eq(spio_rpc_server_start(g_path), 0);
	cr_assert_str_eq(spio_rpc_server_get_path(), g_path);
	usleep(2000);
	cr_assert_eq(count_busy(1000), 0, "an idle server must report IDLE");

	fd = connect_fd(g_path);
	cr_assert_geq(fd, 0);
	cr_assert(poll_until_busy(), "accepting a client should report BUSY");
	cr_assert_eq(count_busy(1000), 0, "an open, silent connection must report IDLE");

	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"test_count\",\"id\":1}";
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	cr_assert(poll_until_busy(), "a request should report BUSY");
	for (int i = 0; i < 100; i++) {
		spio_thread_poll(g_t, 0, 0);
	}
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	cr_assert_gt(n, 0, "expected the response to be readable");
	buf[n] = '\0';
	cr_assert_str_eq(buf, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true}\n");
	cr_assert_eq(count_busy(1000), 0, "after answering, the server must report IDLE");

	close(fd);
	cr_assert(poll_until_busy(), "a client leaving should report BUSY");
	usleep(2000);
	cr_assert_eq(count_busy(1000), 0, "the server must be IDLE again");
	spio_rpc_server_stop();
	cr_assert_null(spio_rpc_server_get_path());
}

Test(rpc_st, start_arguments_and_files)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char longpath[200];
	struct stat st;
	int fd;

	cr_assert_eq(spio_rpc_server_start(NULL), -EINVAL);
	cr_assert_eq(spio_rpc_server_start(""), -EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	cr_assert_eq(spio_rpc_server_start(longpath), -EINVAL, "a path longer than sun_path");
	spio_set_thread(NULL);
	cr_assert_eq(spio_rpc_server_start(g_path), -EINVAL, "not on a spio thread");
	spio_set_thread(g_t);

	/* a regular file is left alone */
	fd = open(g_path, O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(spio_rpc_server_start(g_path), -EEXIST);
	cr_assert_eq(stat(g_path, &st), 0);
	cr_assert(S_ISREG(st.st_mode), "the regular file must stay");
	unlink(g_path);

	/* a stale socket (nobody listening) is replaced */
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", g_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	cr_assert_eq(stat(g_path, &st), 0);
	cr_assert_eq(spio_rpc_server_start(g_path), 0, "a stale socket file must be replaced");
	spio_rpc_server_stop();

	/* a live listener (another server) is not */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(spio_rpc_server_start(g_path), -EADDRINUSE);
	cr_assert_eq(stat(g_path, &st), 0, "the live server's socket must stay");
	close(fd);
	unlink(g_path);

	spio_rpc_server_stop(); /* not running: no-op */
}

Test(rpc_st, call_from_another_thread_is_refused)
{
	struct spio_thread *other = spio_thread_create("other", NULL);
	struct call_result r = {0};

	cr_assert_eq(spio_rpc_server_start(g_path), 0);
	spio_set_thread(other);
	cr_assert_eq(spio_rpc_call("spdk_get_version", NULL, call_cb, &r), -EINVAL,
		     "spio_rpc_call must run on the server's thread");
	spio_rpc_server_stop(); /* wrong thread: refused, still running */
	cr_assert_not_null(spio_rpc_server_get_path());
	spio_thread_exit(other);
	while (!spio_thread_is_exited(other)) {
		spio_thread_poll(other, 0, 0);
	}
	spio_set_thread(g_t);
	spio_thread_destroy(other);
	/* on the server's thread, synchronously */
	cr_assert_eq(spio_rpc_call("spio_get_version", NULL, call_cb, &r), 0);
	cr_assert_eq(atomic_load(&r.calls), 1);
	cr_assert_eq(r.code, 0);
	json_decref(r.result);
	spio_rpc_server_stop();
	cr_assert_null(spio_rpc_server_get_path());
}

/* --- registry and decoding (no server) ------------------------------------------------- */

Test(rpc_registry, register_and_lookup)
{
	cr_assert(spio_rpc_method_exists("rpc_get_methods"));
	cr_assert(spio_rpc_method_exists("spdk_get_version"));
	cr_assert(spio_rpc_method_exists("spio_get_version"));
	cr_assert_not(spio_rpc_method_exists("nope"));
	cr_assert_not(spio_rpc_method_exists(NULL));

	cr_assert_eq(spio_rpc_register_method("test_new", m_count, SPIO_RPC_RUNTIME), 0);
	cr_assert(spio_rpc_method_exists("test_new"));
	cr_assert_eq(spio_rpc_register_method("test_new", m_count, SPIO_RPC_RUNTIME), -EEXIST);
	cr_assert_eq(spio_rpc_register_method("rpc_get_methods", m_count, SPIO_RPC_RUNTIME),
		     -EEXIST);
	cr_assert_eq(spio_rpc_register_method(NULL, m_count, SPIO_RPC_RUNTIME), -EINVAL);
	cr_assert_eq(spio_rpc_register_method("", m_count, SPIO_RPC_RUNTIME), -EINVAL);
	cr_assert_eq(spio_rpc_register_method("x1", NULL, SPIO_RPC_RUNTIME), -EINVAL);
	cr_assert_eq(spio_rpc_register_method("x2", m_count, 0), -EINVAL);
	cr_assert_eq(spio_rpc_register_method("x3", m_count, 0x4), -EINVAL);
	cr_assert_not(spio_rpc_method_exists("x1"));
}

Test(rpc_registry, method_state_mask)
{
	uint32_t mask = 0;

	cr_assert_eq(spio_rpc_get_method_state_mask("test_runtime_only", &mask), 0);
	cr_assert_eq(mask, SPIO_RPC_RUNTIME);
	cr_assert_eq(spio_rpc_get_method_state_mask("rpc_get_methods", &mask), 0);
	cr_assert_eq(mask, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME);
	cr_assert_eq(spio_rpc_get_method_state_mask("no_such_method", &mask), -ENOENT);
	cr_assert_eq(spio_rpc_get_method_state_mask(NULL, &mask), -ENOENT);
	cr_assert_eq(spio_rpc_get_method_state_mask("test_runtime_only", NULL), -EINVAL);
}

Test(rpc_registry, response_functions_ignore_null)
{
	cr_assert_null(spio_jsonrpc_begin_result(NULL));
	spio_jsonrpc_end_result(NULL, NULL);
	spio_jsonrpc_send_bool_response(NULL, true);
	spio_jsonrpc_send_error_response(NULL, 1, "x");
	spio_jsonrpc_send_error_response_fmt(NULL, 1, "%d", 1);
	cr_assert_null(spio_jsonrpc_request_get_method(NULL));
	cr_assert_eq(spio_rpc_call(NULL, NULL, call_cb, NULL), -EINVAL);
	cr_assert_eq(spio_rpc_call("spdk_get_version", NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(spio_rpc_call("spdk_get_version", NULL, call_cb, NULL), -EINVAL,
		     "no spio thread");
}

static int decode(const char *text, struct decoded *d, char *err)
{
	json_error_t jerr;
	json_t *params = text ? json_loads(text, 0, &jerr) : NULL;
	int rc;

	cr_assert(text == NULL || params != NULL, "bad test JSON %s: %s", text, jerr.text);
	rc = spio_rpc_decode_params(json_val_from_jansson(params), g_decoders,
				    SPIO_COUNTOF(g_decoders), d, err, 256);
	json_decref(params);
	return rc;
}

static void expect_decode_error(const char *text, const char *needle)
{
	struct decoded d = {0};
	char err[256];
	int rc = decode(text, &d, err);

	cr_assert_eq(rc, -EINVAL, "%s: expected -EINVAL, got %d", text, rc);
	cr_assert(strstr(err, needle) != NULL, "%s: expected a message containing '%s', got '%s'",
		  text, needle, err);
	spio_rpc_params_free(g_decoders, SPIO_COUNTOF(g_decoders), &d);
	cr_assert_null(d.name);
}

Test(rpc_params, decode_all_types)
{
	struct decoded d = {.u32 = 9, .d = 1.5};
	char err[256];
	json_t *params = json_loads("{\"name\":\"disk\",\"flag\":true,\"i64\":-9223372036854775808,"
				    "\"u64\":9223372036854775807,\"u32\":4294967295,\"d\":2,"
				    "\"obj\":{\"a\":1},\"arr\":[1,2]}",
				    0, NULL);

	cr_assert_eq(spio_rpc_decode_params(json_val_from_jansson(params), g_decoders,
					    SPIO_COUNTOF(g_decoders), &d, err, sizeof(err)),
		     0, "expected success, got '%s'", err);
	cr_assert_str_eq(d.name, "disk");
	cr_assert(d.flag);
	cr_assert_eq(d.i64, INT64_MIN);
	cr_assert_eq(d.u64, (uint64_t)INT64_MAX);
	cr_assert_eq(d.u32, UINT32_MAX);
	cr_assert_float_eq(d.d, 2.0, 1e-12, "an integer decodes as a double");
	cr_assert_eq(json_integer_value(json_object_get(d.obj, "a")), 1);
	cr_assert_eq(json_array_size(d.arr), 2);
	spio_rpc_params_free(g_decoders, SPIO_COUNTOF(g_decoders), &d);
	cr_assert_null(d.name);
	json_decref(params);
}

Test(rpc_params, optional_absent_keeps_defaults)
{
	struct decoded d = {.flag = true, .u32 = 77, .d = 0.25};
	char err[256];

	cr_assert_eq(decode("{\"name\":\"x\"}", &d, err), 0, "got '%s'", err);
	cr_assert(d.flag && d.u32 == 77 && d.d == 0.25 && d.obj == NULL,
		  "absent optional fields must keep their values");
	spio_rpc_params_free(g_decoders, SPIO_COUNTOF(g_decoders), &d);
}

Test(rpc_params, uint64_full_range)
{
	struct decoded d = {0};
	char err[256];

	cr_assert_eq(decode("{\"name\":\"x\",\"u64\":\"18446744073709551615\"}", &d, err), 0,
		     "got '%s'", err);
	cr_assert_eq(d.u64, UINT64_MAX, "expected UINT64_MAX, got %llu", (unsigned long long)d.u64);
	cr_assert_eq(decode("{\"name\":\"x\",\"u64\":0}", &d, err), 0);
	cr_assert_eq(d.u64, 0);
	spio_rpc_params_free(g_decoders, SPIO_COUNTOF(g_decoders), &d);
	expect_decode_error("{\"name\":\"x\",\"u64\":\"18446744073709551616\"}", "u64");
	expect_decode_error("{\"name\":\"x\",\"u64\":\"-1\"}", "u64");
	expect_decode_error("{\"name\":\"x\",\"u64\":\"12ab\"}", "u64");
}

Test(rpc_params, errors_name_the_key)
{
	expect_decode_error("{}", "Missing required parameter 'name'");
	expect_decode_error(NULL, "Missing required parameter 'name'");
	expect_decode_error("{\"name\":5}", "'name': expected a string, got an integer");
	expect_decode_error("{\"name\":null}", "'name': expected a string, got null");
	expect_decode_error("{\"name\":\"x\",\"zzz\":1}", "Unknown parameter 'zzz'");
	expect_decode_error("{\"name\":\"x\",\"flag\":1}", "'flag': expected a boolean");
	expect_decode_error("{\"name\":\"x\",\"i64\":1.5}", "'i64': expected a 64-bit integer");
	expect_decode_error("{\"name\":\"x\",\"u64\":-1}", "'u64': expected an unsigned");
	expect_decode_error("{\"name\":\"x\",\"u32\":-1}", "'u32'");
	expect_decode_error("{\"name\":\"x\",\"u32\":4294967296}", "out of range");
	expect_decode_error("{\"name\":\"x\",\"d\":\"1\"}", "'d': expected a number");
	expect_decode_error("{\"name\":\"x\",\"obj\":[]}", "'obj': expected an object");
	expect_decode_error("{\"name\":\"x\",\"arr\":{}}", "'arr': expected an array");
	expect_decode_error("[1]", "expected an object, got an array");
}

Test(rpc_params, unknown_key_changes_nothing)
{
	struct decoded d = {.u32 = 5};
	char err[256];

	cr_assert_eq(decode("{\"name\":\"x\",\"u32\":6,\"bogus\":true}", &d, err), -EINVAL);
	cr_assert_null(d.name, "an unknown key must be found before anything is decoded");
	cr_assert_eq(d.u32, 5);
}

Test(rpc_params, strings_replace_previous_value)
{
	struct decoded d = {.name = strdup("old")};
	char err[256];

	cr_assert_eq(decode("{\"name\":\"new\"}", &d, err), 0);
	cr_assert_str_eq(d.name, "new");
	spio_rpc_params_free(g_decoders, SPIO_COUNTOF(g_decoders), &d);
	cr_assert_null(d.name);
}

Test(rpc_params, bad_arguments)
{
	static const struct spio_rpc_param bad_type[] = {
	    {"a", (enum spio_rpc_param_type)99, 0, false}};
	static const struct spio_rpc_param no_name[] = {{NULL, SPIO_RPC_PARAM_BOOL, 0, false}};
	struct decoded d = {0};
	char err[256];

	cr_assert_eq(spio_rpc_decode_params(NULL, g_decoders, 1, NULL, err, sizeof(err)), -EINVAL);
	cr_assert_eq(spio_rpc_decode_params(NULL, NULL, 1, &d, err, sizeof(err)), -EINVAL);
	cr_assert_eq(spio_rpc_decode_params(NULL, bad_type, 1, &d, err, sizeof(err)), -EINVAL);
	cr_assert_eq(spio_rpc_decode_params(NULL, no_name, 1, &d, err, sizeof(err)), -EINVAL);
	cr_assert_eq(spio_rpc_decode_params(NULL, NULL, 0, &d, NULL, 0), 0,
		     "nothing to decode and no params: success");
	spio_rpc_params_free(NULL, 1, &d);
	spio_rpc_params_free(g_decoders, 1, NULL);
}
