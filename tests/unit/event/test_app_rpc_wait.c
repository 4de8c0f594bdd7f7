/*
 * --wait-for-rpc (spio_app_opts.delay_subsystem_init) and framework_start_init.
 *
 * The app runs on the test's main thread; a client thread talks to its RPC
 * socket as rpc.py does (one JSON request, one response line) and records
 * the first thing that differs from what it expected. The test body checks
 * that record and the order of events once spio_app_start() returned.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/json_val.h"
#include "spio/rpc.h"

/* A subsystem of the test's own: counts its inits, fails on demand. */
static int g_sub_inits;
static int g_sub_fail_rc;

static void sub_init(void)
{
	__atomic_add_fetch(&g_sub_inits, 1, __ATOMIC_SEQ_CST);
	spio_subsystem_init_next(g_sub_fail_rc);
}

static struct spio_subsystem g_test_wait_sub = {.name = "test_wait", .init = sub_init};
SPIO_SUBSYSTEM_REGISTER(g_test_wait_sub)

static int g_start_calls;

static void app_started(void *arg)
{
	__atomic_add_fetch(&g_start_calls, 1, __ATOMIC_SEQ_CST);
}

static char g_sock[108];
static char g_fail[512];

static void base_opts(struct spio_app_opts *o)
{
	spio_app_opts_init(o, sizeof(*o));
	o->name = "test_wait";
	o->reactor_mask = "0x1";
	o->no_huge = true;
	snprintf(g_sock, sizeof(g_sock), "/tmp/spio_test_wait.%d.sock", (int)getpid());
	o->rpc_addr = g_sock;
	o->delay_subsystem_init = true;
}

/*
 * The client
 */

/* Record the first failure; false so that the caller can return at once. */
static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool fail(const char *fmt, ...)
{
	va_list ap;

	if (g_fail[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(g_fail, sizeof(g_fail), fmt, ap);
		va_end(ap);
	}
	return false;
}

static int rpc_connect(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	/* The client starts before spio_app_start(), which resets the app's
	 * state; the app thread is published after that (release/acquire), so
	 * waiting for it orders that reset before the client's spio_app_stop()
	 * in a way TSan sees (the socket is no synchronisation it can see). */
	for (int i = 0; i < 2000 && spio_app_get_thread() == NULL; i++) {
		usleep(5000);
	}

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", g_sock);
	for (int i = 0; i < 2000; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			return fd;
		}
		if (fd >= 0) {
			close(fd);
		}
		usleep(5000);
	}
	return -1;
}

static bool rpc_send(int fd, const char *method, const char *params)
{
	char req[512];
	int n;

	n = snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\"%s%s}",
		     method, params ? ",\"params\":" : "", params ? params : "");
	return write(fd, req, (size_t)n) == n;
}

struct answer {
	int code; /* 0: a result */
	char msg[256];
	struct spio_json_val *result;
	bool closed;
};

/* Read one response line (waiting up to `timeout_ms`); false on timeout. */
static bool rpc_read(int fd, struct answer *a, int timeout_ms)
{
	char buf[64 * 1024];
	size_t len = 0;
	struct spio_json_val *v;

	memset(a, 0, sizeof(*a));
	while (len == 0 || buf[len - 1] != '\n') {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, timeout_ms) != 1) {
			return false;
		}
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0) {
			a->closed = true;
			return true;
		}
		len += (size_t)n;
	}
	v = spio_json_parse(buf, len, NULL, 0);
	if (v == NULL) {
		a->closed = true;
		return true;
	}
	if (spio_json_object_get(v, "error") != NULL) {
		const struct spio_json_val *e = spio_json_object_get(v, "error");
		int64_t code = 0;

		spio_json_integer(spio_json_object_get(e, "code"), &code);
		a->code = (int)code;
		snprintf(a->msg, sizeof(a->msg), "%s",
			 spio_json_string(spio_json_object_get(e, "message")));
	} else {
		a->result = spio_json_val_ref(spio_json_object_get(v, "result"));
	}
	spio_json_val_free(v);
	return true;
}

static bool call(int fd, const char *method, const char *params, struct answer *a)
{
	if (!rpc_send(fd, method, params)) {
		return fail("%s: cannot send", method);
	}
	if (!rpc_read(fd, a, 10000)) {
		return fail("%s: no answer in 10 s", method);
	}
	if (a->closed) {
		return fail("%s: connection closed", method);
	}
	return true;
}

static bool expect_true(int fd, const char *method, const char *params)
{
	struct answer a;
	bool v = false;

	if (!call(fd, method, params, &a)) {
		return false;
	}
	if (a.code != 0 || spio_json_bool(a.result, &v) != 0 || !v) {
		spio_json_val_free(a.result);
		return fail("%s %s: expected true, got %d \"%s\"", method, params ? params : "",
			    a.code, a.msg);
	}
	spio_json_val_free(a.result);
	return true;
}

static bool expect_error(int fd, const char *method, const char *params, int code, const char *text)
{
	struct answer a;

	if (!call(fd, method, params, &a)) {
		return false;
	}
	spio_json_val_free(a.result);
	if (a.code != code) {
		return fail("%s %s: expected error %d, got %d \"%s\"", method, params ? params : "",
			    code, a.code, a.msg);
	}
	if (text != NULL && strstr(a.msg, text) == NULL) {
		return fail("%s: expected a message with \"%s\", got \"%s\"", method, text, a.msg);
	}
	return true;
}

static bool expect_result(int fd, const char *method, struct answer *a)
{
	if (!call(fd, method, NULL, a)) {
		return false;
	}
	if (a->code != 0) {
		return fail("%s: expected success, got %d \"%s\"", method, a->code, a->msg);
	}
	return true;
}

static bool counts_are(int inits, int starts, const char *when)
{
	int i = __atomic_load_n(&g_sub_inits, __ATOMIC_SEQ_CST);
	int s = __atomic_load_n(&g_start_calls, __ATOMIC_SEQ_CST);

	if (i != inits || s != starts) {
		return fail("%s: expected %d subsystem inits and %d start_fn calls, got %d and %d",
			    when, inits, starts, i, s);
	}
	return true;
}

#define STARTUP_ONLY_AT_RUNTIME "Method may only be called before framework is initialized"

/* The whole conversation of the main case. */
static bool wait_conversation(int b)
{
	struct answer a;
	int w;

	if (!counts_are(0, 0, "while waiting")) {
		return false;
	}
	/* framework_wait_init on its own connection: answered only after init */
	w = rpc_connect();
	if (w < 0 || !rpc_send(w, "framework_wait_init", NULL)) {
		return fail("framework_wait_init: cannot send");
	}
	if (!expect_error(b, "thread_get_pollers", NULL, SPIO_JSONRPC_ERROR_INVALID_STATE, NULL) ||
	    !expect_error(b, "bdev_get_bdevs", NULL, SPIO_JSONRPC_ERROR_INVALID_STATE, NULL) ||
	    !expect_error(b, "iobuf_set_options", "{\"small_pool_count\":8192}",
			  SPIO_JSONRPC_ERROR_METHOD_NOT_FOUND, NULL) ||
	    !expect_true(b, "bdev_set_options", "{\"bdev_auto_examine\":false}") ||
	    !expect_result(b, "framework_get_subsystems", &a)) {
		close(w);
		return false;
	}
	spio_json_val_free(a.result);
	if (rpc_read(w, &a, 200)) {
		close(w);
		return fail("framework_wait_init answered during the wait (%d \"%s\")", a.code,
			    a.msg);
	}
	if (!counts_are(0, 0, "after the start-up calls") ||
	    !expect_true(b, "framework_start_init", NULL) ||
	    !counts_are(1, 1, "when framework_start_init answered")) {
		close(w);
		return false;
	}
	if (!rpc_read(w, &a, 10000) || a.closed || a.code != 0) {
		close(w);
		return fail("framework_wait_init: expected true after init, got %d \"%s\"", a.code,
			    a.msg);
	}
	spio_json_val_free(a.result);
	close(w);

	/* Runtime now: start-up methods refused with SPDK's error, the rest works. */
	if (!expect_error(b, "framework_start_init", NULL, SPIO_JSONRPC_ERROR_INVALID_STATE,
			  NULL) ||
	    !expect_error(b, "bdev_set_options", "{\"bdev_auto_examine\":true}",
			  SPIO_JSONRPC_ERROR_INVALID_STATE, NULL) ||
	    !expect_true(b, "framework_wait_init", NULL) ||
	    !expect_result(b, "thread_get_pollers", &a)) {
		return false;
	}
	spio_json_val_free(a.result);
	if (!expect_result(b, "bdev_get_bdevs", &a)) {
		return false;
	}
	spio_json_val_free(a.result);
	return counts_are(1, 1, "at the end");
}

static void *client_main(void *arg)
{
	bool (*conversation)(int) = arg;
	int fd = rpc_connect();

	if (fd < 0) {
		fail("cannot connect to %s", g_sock);
	} else {
		conversation(fd);
		close(fd);
	}
	spio_app_stop(g_fail[0] != '\0' ? -EPROTO : 0);
	return NULL;
}

static int run_with_client(struct spio_app_opts *o, bool (*conversation)(int))
{
	pthread_t client;
	int rc;

	cr_assert_eq(pthread_create(&client, NULL, client_main, (void *)conversation), 0);
	rc = spio_app_start(o, app_started, NULL);
	pthread_join(client, NULL);
	return rc;
}

TestSuite(app_rpc_wait, .timeout = 120);

Test(app_rpc_wait, start_init_ends_the_wait)
{
	struct spio_app_opts o;
	struct spio_bdev_opts bo;
	struct stat st;
	int rc;

	base_opts(&o);
	rc = run_with_client(&o, wait_conversation);
	cr_assert_str_empty(g_fail, "%s", g_fail);
	cr_assert_eq(rc, 0, "spio_app_start: expected 0, got %d", rc);
	spio_bdev_get_opts(&bo, sizeof(bo));
	cr_assert_not(bo.bdev_auto_examine, "bdev_set_options during the wait took effect");
	cr_assert_neq(stat(g_sock, &st), 0, "the socket file is removed at the end");
}

/* Stop while waiting: no subsystem starts, start_fn never runs. */
static bool just_connected(int fd)
{
	return counts_are(0, 0, "while waiting");
}

Test(app_rpc_wait, stop_during_the_wait)
{
	struct spio_app_opts o;
	int rc;

	base_opts(&o);
	rc = run_with_client(&o, just_connected);
	cr_assert_str_empty(g_fail, "%s", g_fail);
	cr_assert_eq(rc, 0, "spio_app_start: expected 0, got %d", rc);
	cr_assert_eq(g_sub_inits, 0, "no subsystem init expected, got %d", g_sub_inits);
	cr_assert_eq(g_start_calls, 0, "no start_fn call expected, got %d", g_start_calls);
}

Test(app_rpc_wait, needs_an_rpc_server)
{
	struct spio_app_opts o;
	int rc;

	base_opts(&o);
	o.rpc_addr = NULL;
	rc = spio_app_start(&o, app_started, NULL);
	cr_assert_eq(rc, -EINVAL, "no RPC server: expected -EINVAL, got %d", rc);
	base_opts(&o);
	o.rpc_addr = "";
	rc = spio_app_start(&o, app_started, NULL);
	cr_assert_eq(rc, -EINVAL, "empty RPC address: expected -EINVAL, got %d", rc);
	cr_assert_eq(g_start_calls, 0, "start_fn must not run");
}

/*
 * A JSON configuration: its start-up entries run before the wait, its
 * runtime entries after framework_start_init and before its answer (SPDK's
 * order: the config's STARTUP pass, the wait, subsystems, the RUNTIME pass).
 */
static const char g_config[] =
    "{\"subsystems\":[{\"subsystem\":\"bdev\",\"config\":["
    "{\"method\":\"bdev_set_options\",\"params\":{\"bdev_io_pool_size\":4095}},"
    "{\"method\":\"bdev_malloc_create\",\"params\":{\"name\":\"WaitMalloc\","
    "\"num_blocks\":256,\"block_size\":512}}]}]}";

static bool config_conversation(int b)
{
	struct answer a;

	if (!expect_error(b, "bdev_get_bdevs", "{\"name\":\"WaitMalloc\"}",
			  SPIO_JSONRPC_ERROR_INVALID_STATE, NULL) ||
	    !expect_true(b, "framework_start_init", NULL)) {
		return false;
	}
	if (!call(b, "bdev_get_bdevs", "{\"name\":\"WaitMalloc\"}", &a)) {
		return false;
	}
	spio_json_val_free(a.result);
	if (a.code != 0) {
		return fail("the config's bdev_malloc_create had not run when framework_start_init "
			    "answered: %d \"%s\"",
			    a.code, a.msg);
	}
	return true;
}

Test(app_rpc_wait, json_config_around_the_wait)
{
	struct spio_app_opts o;
	struct spio_bdev_opts bo;
	int rc;

	base_opts(&o);
	o.json_config_text = g_config;
	rc = run_with_client(&o, config_conversation);
	cr_assert_str_empty(g_fail, "%s", g_fail);
	cr_assert_eq(rc, 0, "spio_app_start: expected 0, got %d", rc);
	/* A start-up-only entry that succeeded ran before framework_start_init:
	 * the RPC state is RUNTIME from then on. (Read here, not by the client:
	 * the socket is no synchronisation TSan can see.) */
	spio_bdev_get_opts(&bo, sizeof(bo));
	cr_assert_eq(bo.bdev_io_pool_size, 4095, "the config's bdev_set_options: pool %u",
		     bo.bdev_io_pool_size);
}

/* A subsystem fails: framework_start_init fails, the app stops with its code. */
static bool failing_conversation(int b)
{
	struct answer a;

	if (!rpc_send(b, "framework_start_init", NULL) || !rpc_read(b, &a, 10000)) {
		return fail("framework_start_init: no answer and no close in 10 s");
	}
	spio_json_val_free(a.result);
	/* The server stops right after the answer: it may not get out. */
	if (!a.closed && (a.code != SPIO_JSONRPC_ERROR_INTERNAL_ERROR ||
			  strcmp(a.msg, "framework_initialization failed") != 0)) {
		return fail("expected -32603 \"framework_initialization failed\", got %d \"%s\"",
			    a.code, a.msg);
	}
	return true;
}

static void *failing_client(void *arg)
{
	int fd = rpc_connect();

	if (fd < 0) {
		fail("cannot connect to %s", g_sock);
		spio_app_stop(-EPROTO);
		return NULL;
	}
	failing_conversation(fd);
	close(fd);
	return NULL;
}

Test(app_rpc_wait, failing_init_fails_start_init)
{
	struct spio_app_opts o;
	pthread_t client;
	int rc;

	base_opts(&o);
	g_sub_fail_rc = -ENODEV;
	cr_assert_eq(pthread_create(&client, NULL, failing_client, NULL), 0);
	rc = spio_app_start(&o, app_started, NULL);
	pthread_join(client, NULL);
	cr_assert_str_empty(g_fail, "%s", g_fail);
	cr_assert_eq(rc, -ENODEV, "spio_app_start: expected the subsystem's -ENODEV, got %d", rc);
	cr_assert_eq(g_sub_inits, 1, "expected one subsystem init, got %d", g_sub_inits);
	cr_assert_eq(g_start_calls, 0, "start_fn must not run, got %d calls", g_start_calls);
}
