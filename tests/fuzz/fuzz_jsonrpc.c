/*
 * Fuzzer: the byte stream a client sends on one connection to the JSON-RPC
 * server (lib/rpc: the stream scanner, the parser, batches, notifications,
 * in-order execution, back-pressure, the idle timeout) and behind it the
 * methods of the framework and the bdev layer. Input format: jsonrpc_input.h.
 *
 * The server is started once, on a Unix socket under /tmp named with the
 * pid, served by a spio_thread that this OS thread polls, with the RPC state
 * RUNTIME as in a running app. Its clock is the fuzzer's (rpc_set_ticks_fn):
 * it stands still unless an input asks for the idle timeout (JF_IDLE), so
 * timeouts are deterministic. Every method the library registers is there,
 * but only those on the list below may run (the others have their state
 * mask cleared, so the server refuses them with -1): the ones that open
 * files or devices, connect to the network, signal the process or change
 * settings that outlive the input (log levels, bdev_examine's list) are
 * out. The few whose parameters size memory (bdev sizes, split count, lvol
 * sizes) go through a check that refuses values above the fuzzer's caps
 * with -32602 before the method runs, so an input cannot allocate
 * gigabytes (jsonrpc_methods.h).
 *
 * What aborts, besides sanitizer reports:
 * - a response that is not a JSON object (or a non-empty array of them,
 *   for a batch) with "jsonrpc": "2.0", an id, and exactly one of "result"
 *   or an "error" {code: integer, message: string}; a partial response
 *   once the server is quiet; a response after a parse error (-32700), or
 *   the connection left open after one;
 * - ids answered out of the order the requests were sent in (the ids are
 *   read from the input with jansson; those it cannot read are not
 *   checked), or an id that no request had;
 * - the server stays busy for 5 s; after a half-close, or JF_IDLE's 61 s
 *   of silence, it does not close the connection;
 * - after the close the server still holds a connection: it accepts one
 *   connection at most (max_conns 1), and a probe connection must get its
 *   answer;
 * - a bdev the input created that the fuzzer cannot delete again with the
 *   module's delete method (every input starts with no bdev).
 *
 * FUZZ_VERBOSE=1 in the environment turns the log on and prints what the
 * server answered.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "spio/bdev.h"
#include "spio/env.h"
#include "spio/json_val.h"
#include "spio/log.h"
#include "spio/rpc.h"
#include "spio/thread.h"

#include "json/json_val_internal.h"
#include "jsonrpc_input.h"
#include "jsonrpc_methods.h"
#include "jsonrpc_mutate.h"
#include "rpc/rpc_internal.h"
#include "shared_threads.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* How long the server may stay busy, or an operation take, before it counts as a hang. */
#define HANG_MS 5000
/* Idle polls in a row that make the server quiet. */
#define QUIET_POLLS 3
/* Most response bytes one input may get (a 4 KiB input gets far less). */
#define MAX_OUTPUT (32u * 1024 * 1024)
/* Request ids remembered per input for the order check. */
#define MAX_IDS 4096
#define PROBE_ID "fuzz-jsonrpc-probe"

/* The methods an input may call. */
static const char *const g_allowed[] = {
    "rpc_get_methods",		 "spdk_get_version",	     "spio_get_version",
    "framework_get_subsystems",	 "bdev_get_bdevs",	     "bdev_get_iostat",
    "bdev_reset_iostat",	 "bdev_wait_for_examine",    "bdev_set_options",
    "bdev_malloc_create",	 "bdev_malloc_delete",	     "bdev_null_create",
    "bdev_null_delete",		 "bdev_null_resize",	     "bdev_error_create",
    "bdev_error_delete",	 "bdev_error_inject_error",  "bdev_error_resume_pending",
    "bdev_passthru_create",	 "bdev_passthru_delete",     "bdev_split_create",
    "bdev_split_delete",	 "bdev_delay_create",	     "bdev_delay_delete",
    "bdev_delay_update_latency", "bdev_lvol_create_lvstore", "bdev_lvol_rename_lvstore",
    "bdev_lvol_delete_lvstore",	 "bdev_lvol_get_lvstores",   "bdev_lvol_get_lvols",
    "bdev_lvol_create",		 "bdev_lvol_snapshot",	     "bdev_lvol_clone",
    "bdev_lvol_rename",		 "bdev_lvol_inflate",	     "bdev_lvol_decouple_parent",
    "bdev_lvol_set_read_only",	 "bdev_lvol_resize",	     "bdev_lvol_delete",
};

/* What a client received; kept from input to input (fresh memory costs page faults). */
struct rxbuf {
	char *data;
	size_t cap;
};

/* The client end of a connection. */
struct client {
	int fd;
	bool read; /* read what the server sends */
	bool eof;  /* the server closed */
	struct rxbuf *rx;
	char *buf; /* rx->data */
	size_t len, cap;
};

static struct rxbuf g_input_rx, g_probe_rx;

static struct {
	struct spio_thread *t; /* the server's thread */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t now; /* the server's clock */
	bool ready;
	bool verbose;
} g;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_jsonrpc: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

static uint64_t fake_ticks(void)
{
	return g.now;
}

/*
 * The client
 */

/* Read what the server sent. \return bytes read. */
static size_t client_read(struct client *c)
{
	size_t total = 0;

	while (c->fd >= 0 && !c->eof) {
		ssize_t n;

		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? 2 * c->cap : 65536;

			if (cap > MAX_OUTPUT) {
				die("more than %u bytes of responses to one input", MAX_OUTPUT);
			}
			c->buf = realloc(c->buf, cap);
			if (c->buf == NULL) {
				die("out of memory");
			}
			c->cap = cap;
			c->rx->data = c->buf;
			c->rx->cap = cap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		}
		if (n <= 0) {
			c->eof = true;
			break;
		}
		c->len += (size_t)n;
		total += (size_t)n;
	}
	return total;
}

static bool settle_read(void *arg)
{
	struct client *c = arg;

	return c != NULL && c->read && client_read(c) > 0;
}

/* Poll until the server does nothing more and has nothing more to say. */
static void settle(struct client *c)
{
	if (!ft_pump_quiet(QUIET_POLLS, HANG_MS, settle_read, c)) {
		die("the server stayed busy for %u ms", HANG_MS);
	}
}

/*
 * Poll and read until the server closes the connection, for up to HANG_MS:
 * a request may wait for timed work (a delay bdev's latency) that the quiet
 * polls of settle() do not wait for. \return true once closed.
 */
static bool wait_eof(struct client *c)
{
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);

	c->read = true;
	while (!c->eof && spio_get_ticks() <= limit) {
		ft_pump();
		client_read(c);
	}
	return c->eof;
}

/*
 * Send all of `buf` unless the server closes. A client that does not read
 * may find the server has stopped reading too (its output is backed up):
 * it then gives up the rest.
 */
static void client_send(struct client *c, const uint8_t *buf, size_t len)
{
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);
	int quiet = 0;

	while (len > 0) {
		ssize_t n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		bool busy;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			quiet = 0;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			return; /* EPIPE, ECONNRESET: the server closed */
		}
		busy = ft_pump();
		if (c->read) {
			busy |= client_read(c) > 0;
		}
		quiet = busy ? 0 : quiet + 1;
		if (!c->read && quiet >= QUIET_POLLS) {
			return;
		}
		if (spio_get_ticks() > limit) {
			die("the server stopped reading for %u ms with %zu bytes left to send",
			    HANG_MS, len);
		}
	}
}

static void client_connect(struct client *c, struct rxbuf *rx, bool read)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	memset(c, 0, sizeof(*c));
	c->read = read;
	c->rx = rx;
	c->buf = rx->data;
	c->cap = rx->cap;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", g.path);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		die("cannot connect to %s: %s", g.path, strerror(errno));
	}
}

static void client_close(struct client *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

/*
 * Checking what the server answered
 */

struct ids {
	json_t *id[MAX_IDS]; /* borrowed from roots */
	size_t n;
	json_t *roots[MAX_IDS];
	size_t nroots;
	bool complete; /* every request of the stream was read */
};

static void ids_add(struct ids *l, json_t *req)
{
	json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;

	if (id != NULL && l->n < MAX_IDS) {
		l->id[l->n++] = id;
	} else if (id != NULL) {
		l->complete = false;
	}
}

static json_t *load_one(const char *p, size_t len, size_t *used)
{
	json_error_t err;
	json_t *v = json_loadb(p, len, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &err);

	if (v == NULL && json_error_code(&err) == json_error_numeric_overflow) {
		v = json_loadb(p, len,
			       JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL,
			       &err);
	}
	if (v != NULL) {
		*used = (size_t)err.position;
	}
	return v;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* The ids of the requests in the stream, in order, as far as jansson reads them. */
static void ids_read(const uint8_t *s, size_t len, struct ids *l)
{
	const char *p = (const char *)s;
	size_t off = 0, used;

	memset(l, 0, sizeof(*l));
	l->complete = true;
	for (;;) {
		json_t *v;

		while (off < len && is_blank(p[off])) {
			off++;
		}
		if (off == len) {
			return;
		}
		v = l->nroots < MAX_IDS ? load_one(p + off, len - off, &used) : NULL;
		if (v == NULL || used == 0) {
			json_decref(v);
			l->complete = false;
			return;
		}
		l->roots[l->nroots++] = v;
		off += used;
		if (json_is_array(v)) {
			size_t i;
			json_t *e;

			json_array_foreach(v, i, e)
			{
				ids_add(l, e);
			}
		} else {
			ids_add(l, v);
		}
	}
}

static void ids_free(struct ids *l)
{
	for (size_t i = 0; i < l->nroots; i++) {
		json_decref(l->roots[i]);
	}
	l->nroots = 0;
	l->n = 0;
}

struct check {
	struct ids ids;
	size_t cursor;	  /* next request id a response may match */
	bool parse_error; /* a -32700 was answered */
	size_t responses;
};

/*
 * A request id and a response id: equal JSON, or the same number (a stream
 * with an integer beyond int64 is read with every integer as a real, by the
 * server and here alike, and the server writes an integral real as an
 * integer).
 */
static bool id_equal(json_t *req_id, json_t *resp_id)
{
	return json_equal(req_id, resp_id) ||
	       (json_is_number(req_id) && json_is_number(resp_id) &&
		json_number_value(req_id) == json_number_value(resp_id));
}

static void check_one(struct check *ck, json_t *r, const char *text)
{
	json_t *v = json_object_get(r, "jsonrpc");
	json_t *id = json_object_get(r, "id");
	json_t *result = json_object_get(r, "result");
	json_t *error = json_object_get(r, "error");
	size_t i;

	if (!json_is_object(r)) {
		die("response is not an object: %s", text);
	}
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0) {
		die("response without \"jsonrpc\": \"2.0\": %s", text);
	}
	if (id == NULL || (result == NULL) == (error == NULL) || json_object_size(r) != 3) {
		die("response needs exactly id and one of result / error: %s", text);
	}
	if (error != NULL) {
		json_t *code = json_object_get(error, "code");

		if (!json_is_object(error) || !json_is_integer(code) ||
		    !json_is_string(json_object_get(error, "message"))) {
			die("error without an integer code and a string message: %s", text);
		}
		if (ck->parse_error) {
			die("a response after a parse error: %s", text);
		}
		if (json_integer_value(code) == SPIO_JSONRPC_ERROR_PARSE_ERROR) {
			ck->parse_error = true;
		}
	}
	ck->responses++;
	/* Reals are written back in the server's own notation: not compared. */
	if (!json_is_string(id) && !json_is_integer(id)) {
		return;
	}
	for (i = ck->cursor; i < ck->ids.n; i++) {
		if (id_equal(ck->ids.id[i], id)) {
			ck->cursor = i + 1;
			return;
		}
	}
	for (i = 0; i < ck->cursor && i < ck->ids.n; i++) {
		if (id_equal(ck->ids.id[i], id)) {
			die("id answered out of request order: %s", text);
		}
	}
	if (ck->ids.complete) {
		die("a response with an id no request had: %s", text);
	}
}

/*
 * Check the stream of responses. `whole`: the server is done (quiet, or
 * closed), so the last response must be complete too.
 */
static void check_responses(struct client *c, const struct jf_input *in, bool whole)
{
	struct check ck = {0};
	size_t off = 0, used;

	ids_read(in->stream, in->len, &ck.ids);
	for (;;) {
		json_t *v;
		char *text;

		while (off < c->len && is_blank(c->buf[off])) {
			off++;
		}
		if (off == c->len) {
			break;
		}
		v = load_one(c->buf + off, c->len - off, &used);
		if (v == NULL) {
			if (whole) {
				die("response is not complete JSON at byte %zu of %zu: %.*s", off,
				    c->len, (int)SPIO_MIN(c->len - off, 200u), c->buf + off);
			}
			break;
		}
		text = strndup(c->buf + off, SPIO_MIN(used, 400u));
		if (g.verbose) {
			fprintf(stderr, "fuzz_jsonrpc: <- %s\n", text);
		}
		if (json_is_array(v)) {
			size_t i;
			json_t *e;

			if (json_array_size(v) == 0) {
				die("an empty batch response");
			}
			json_array_foreach(v, i, e)
			{
				check_one(&ck, e, text);
			}
		} else {
			check_one(&ck, v, text);
		}
		free(text);
		json_decref(v);
		off += used;
		if (off < c->len && !is_blank(c->buf[off])) {
			die("response not followed by a newline at byte %zu", off);
		}
	}
	if (ck.parse_error && whole && !c->eof) {
		die("the connection stayed open after a parse error");
	}
	ids_free(&ck.ids);
}

/*
 * Deleting what an input created
 */

struct call {
	bool done;
	int code;
	json_t *result; /* owned */
};

static void call_done(void *ctx, int error_code, const char *error_msg,
		      const struct spio_json_val *result)
{
	struct call *c = ctx;

	(void)error_msg;
	c->done = true;
	c->code = error_code;
	if (error_code == 0 && result != NULL) {
		c->result = json_incref(json_val_to_jansson(result));
	}
}

/* Call a method in-process and wait for its answer. \return its error code (0: success). */
static int call(const char *method, json_t *params, json_t **result)
{
	struct spio_thread *prev = spio_thread_enter(g.t);
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);
	struct call c = {0};
	int rc = spio_rpc_call(method, json_val_from_jansson(params), call_done, &c);

	spio_thread_leave(prev);
	json_decref(params);
	if (rc != 0) {
		die("spio_rpc_call(%s): %d", method, rc);
	}
	while (!c.done) {
		if (spio_get_ticks() > limit) {
			die("%s did not answer in %u ms", method, HANG_MS);
		}
		ft_pump();
	}
	if (result != NULL) {
		*result = c.result;
	} else {
		json_decref(c.result);
	}
	return c.code;
}

/* The delete call of one bdev; false if its module has none the fuzzer knows. */
static bool delete_bdev(const char *name, const char *module)
{
	static const char *const by_name[][2] = {
	    {"malloc", "bdev_malloc_delete"}, {"null", "bdev_null_delete"},
	    {"error", "bdev_error_delete"},   {"passthru", "bdev_passthru_delete"},
	    {"delay", "bdev_delay_delete"},   {"lvol", "bdev_lvol_delete"},
	};

	if (strcmp(module, "split") == 0) {
		/* parts are named <base>p<i>: the split is deleted by its base */
		size_t len = strlen(name);

		while (len > 0 && name[len - 1] >= '0' && name[len - 1] <= '9') {
			len--;
		}
		if (len < 2 || name[len - 1] != 'p') {
			return false;
		}
		call("bdev_split_delete", json_pack("{s:s%}", "base_bdev", name, len - 1), NULL);
		return true;
	}
	for (size_t i = 0; i < SPIO_COUNTOF(by_name); i++) {
		if (strcmp(module, by_name[i][0]) == 0) {
			call(by_name[i][1], json_pack("{s:s}", "name", name), NULL);
			return true;
		}
	}
	return false;
}

static void delete_lvstores(void)
{
	json_t *list = NULL, *lvs;
	size_t i;

	if (call("bdev_lvol_get_lvstores", NULL, &list) != 0) {
		die("bdev_lvol_get_lvstores failed");
	}
	json_array_foreach(list, i, lvs)
	{
		json_t *uuid = json_object_get(lvs, "uuid");

		if (json_is_string(uuid)) {
			call("bdev_lvol_delete_lvstore", json_pack("{s:O}", "uuid", uuid), NULL);
		}
	}
	json_decref(list);
}

/*
 * Delete every bdev, top of each stack first, until none is left. A delete
 * may finish after its answer (the bdev waits for its I/O, which a delay
 * bdev holds back): rounds go on for up to HANG_MS.
 */
static void delete_all_bdevs(void)
{
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);

	while (spio_bdev_first() != NULL && spio_get_ticks() <= limit) {
		char *names[64], *modules[64];
		size_t n = 0;

		delete_lvstores();
		settle(NULL);
		for (struct spio_bdev *b = spio_bdev_first(); b != NULL && n < 64;
		     b = spio_bdev_next(b)) {
			if (!spio_bdev_is_claimed(b)) {
				names[n] = strdup(spio_bdev_get_name(b));
				modules[n++] = strdup(spio_bdev_get_module_name(b));
			}
		}
		for (size_t i = 0; i < n; i++) {
			if (spio_bdev_get_by_name(names[i]) != NULL &&
			    !delete_bdev(names[i], modules[i])) {
				die("bdev %s of module %s: the fuzzer has no delete for it",
				    names[i], modules[i]);
			}
			free(names[i]);
			free(modules[i]);
		}
		settle(NULL);
		for (int i = 0; i < 1000 && spio_bdev_first() != NULL; i++) {
			ft_pump();
		}
	}
	if (spio_bdev_first() != NULL) {
		die("bdev %s (module %s, %s) cannot be deleted",
		    spio_bdev_get_name(spio_bdev_first()),
		    spio_bdev_get_module_name(spio_bdev_first()),
		    spio_bdev_is_claimed(spio_bdev_first()) ? "claimed" : "not claimed");
	}
}

/*
 * Set-up
 */

static void bdev_op_done(void *arg, int rc)
{
	*(int *)arg = rc;
}

static void bdev_fini_done(void *arg)
{
	*(int *)arg = 0;
}

static bool rc_is_set(void *arg)
{
	return *(volatile int *)arg != 1;
}

static void wait_rc(volatile int *rc, const char *what)
{
	if (!ft_pump_until(rc_is_set, (void *)rc, 10 * HANG_MS)) {
		die("%s did not finish", what);
	}
	if (*rc != 0) {
		die("%s failed: %d", what, *rc);
	}
}

static void fini(void)
{
	int rc = 1;

	if (!g.ready) {
		return;
	}
	g.ready = false;
	spio_set_thread(g.t);
	spio_rpc_server_stop();
	rpc_set_ticks_fn(NULL);
	if (spio_bdev_finish(bdev_fini_done, &rc) != 0) {
		die("spio_bdev_finish refused");
	}
	wait_rc(&rc, "bdev finish");
	spio_set_thread(NULL);
	if (!ft_threads_stop(10 * HANG_MS)) {
		die("threads did not exit");
	}
	spio_thread_lib_fini();
	spio_env_fini();
	free(g_input_rx.data);
	free(g_probe_rx.data);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rpc_server_limits lim;
	struct spio_env_opts eo;
	const char *verbose = getenv("FUZZ_VERBOSE");
	int rc = 1;

	(void)argc;
	(void)argv;
	if (g.ready) {
		return 0;
	}
	g.verbose = verbose != NULL && verbose[0] == '1';
	spio_log_set_level(g.verbose ? SPIO_LOG_INFO : SPIO_LOG_DISABLED);
	spio_env_opts_init(&eo, sizeof(eo));
	eo.name = "fuzz_jsonrpc";
	eo.no_huge = true;
	if (spio_env_init(&eo) != 0 || spio_thread_lib_init(ft_thread_add, 0) != 0) {
		die("environment set-up failed");
	}
	g.t = spio_thread_create("fuzz_jsonrpc", NULL);
	if (g.t == NULL) {
		die("no server thread");
	}
	spio_set_thread(g.t);
	if (spio_bdev_initialize(NULL, bdev_op_done, &rc) != 0) {
		die("spio_bdev_initialize refused");
	}
	wait_rc(&rc, "bdev init");
	jf_methods_restrict(g_allowed, SPIO_COUNTOF(g_allowed), JF_REFUSE_BY_STATE);
	spio_rpc_set_state(SPIO_RPC_RUNTIME);

	/* One connection at most, so that a probe shows the input's is gone; no idle period. */
	rpc_server_get_limits(&lim);
	lim.max_conns = 1;
	lim.idle_poll_period_us = 0;
	rpc_server_set_limits(&lim);
	g.now = spio_get_ticks();
	rpc_set_ticks_fn(fake_ticks);
	snprintf(g.path, sizeof(g.path), "/tmp/fuzz_jsonrpc.%d.sock", (int)getpid());
	rc = spio_rpc_server_start(g.path);
	if (rc != 0) {
		die("spio_rpc_server_start(%s): %d", g.path, rc);
	}
	spio_set_thread(NULL);
	g.ready = true;
	atexit(fini);
	return 0;
}

/*
 * One input
 */

/*
 * A new connection must be served: the input's is gone. It may take a
 * while: a request of the closed connection may wait for timed work (a
 * delay bdev), and the server keeps the connection until it answered. Up to
 * HANG_MS, a refused probe (closed at once: max_conns) is tried again.
 */
static void probe(void)
{
	static const char req[] =
	    "{\"jsonrpc\":\"2.0\",\"method\":\"spdk_get_version\",\"id\":\"" PROBE_ID "\"}";
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);
	struct client c;
	json_t *v = NULL;
	size_t used;

	for (;;) {
		client_connect(&c, &g_probe_rx, true);
		client_send(&c, (const uint8_t *)req, sizeof(req) - 1);
		settle(&c);
		while (!c.eof && c.len == 0 && spio_get_ticks() <= limit) {
			ft_pump();
			client_read(&c);
		}
		if (c.len > 0 || spio_get_ticks() > limit) {
			break;
		}
		client_close(&c);
		for (int i = 0; i < 100; i++) {
			ft_pump();
		}
	}
	v = c.len > 0 ? load_one(c.buf, c.len, &used) : NULL;
	if (v == NULL || !json_is_object(json_object_get(v, "result")) ||
	    !json_is_string(json_object_get(v, "id")) ||
	    strcmp(json_string_value(json_object_get(v, "id")), PROBE_ID) != 0) {
		die("the server did not answer a new connection for %u ms (%zu bytes%s): it "
		    "still holds the input's",
		    HANG_MS, c.len, c.eof ? ", closed" : "");
	}
	json_decref(v);
	client_close(&c);
	settle(NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jf_input in;
	struct client c;
	size_t off = 0;
	bool whole;

	if (!g.ready) {
		LLVMFuzzerInitialize(NULL, NULL);
	}
	jf_input_parse(data, size, &in);
	if (g.verbose) {
		fprintf(stderr, "fuzz_jsonrpc: input of %zu bytes: %u chunks, end %d, flags 0x%x\n",
			size, in.nchunks, in.end, in.flags);
	}
	client_connect(&c, &g_input_rx, in.end != JF_END_NO_READ);
	settle(&c);
	for (uint32_t i = 0; i < in.nchunks && off < in.len; i++) {
		size_t n = SPIO_MIN((size_t)in.chunk[i], in.len - off);

		client_send(&c, in.stream + off, n);
		off += n;
		if (in.flags & JF_HURRY) {
			ft_pump();
		} else {
			settle(&c);
		}
	}
	if (off < in.len) {
		client_send(&c, in.stream + off, in.len - off);
	}
	if (in.flags & JF_IDLE) {
		uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);

		/*
		 * A request still waiting (a delay bdev) restarts the idle time when it
		 * answers: the clock jumps again until the silence has lasted.
		 */
		settle(&c);
		c.read = true;
		while (!c.eof && spio_get_ticks() <= limit) {
			g.now += spio_us_to_ticks(RPC_IDLE_TIMEOUT_US + 1000000);
			settle(&c);
		}
		if (!c.eof) {
			die("the connection is still open after %llu s of silence",
			    (unsigned long long)(RPC_IDLE_TIMEOUT_US / 1000000 + 1));
		}
	}
	switch (in.end) {
	case JF_END_SHUT_WR:
		shutdown(c.fd, SHUT_WR);
		settle(&c);
		if (!wait_eof(&c)) {
			die("the server did not close the connection after the client's "
			    "half-close");
		}
		break;
	case JF_END_CLOSE:
		client_read(&c);
		break;
	default:
		settle(&c);
		break;
	}
	/* After a settle with reading, the server has said all it will. */
	whole = c.read && in.end != JF_END_CLOSE;
	client_close(&c);
	settle(NULL);
	if (c.read) {
		check_responses(&c, &in, whole);
	}
	probe();
	delete_all_bdevs();
	return 0;
}

/*
 * Mutations: half of the time libFuzzer's (or the replay program's) on the
 * whole input, header included; the other half one change that keeps JSON
 * valid (jsonrpc_mutate.h) to one request (or batch) of the stream, so that
 * requests get past the parser to the methods. The stream is written back
 * one value per line, with whatever jansson could not read after them.
 */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	uint64_t r = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1;
	struct jf_input in;
	struct ids l;
	size_t head, off = 0, used, n = 0, target;
	const char *p;
	char *out;

	jf_input_parse(data, size, &in);
	if (jf_rnd(&r) % 2 == 0 || in.len == 0) {
		return LLVMFuzzerMutate(data, size, max_size);
	}
	/* The values jansson reads, in order, and where they end. */
	p = (const char *)in.stream;
	memset(&l, 0, sizeof(l));
	while (n < MAX_IDS) {
		while (off < in.len && is_blank(p[off])) {
			off++;
		}
		if (off == in.len ||
		    (l.roots[n] = load_one(p + off, in.len - off, &used)) == NULL || used == 0) {
			json_decref(off < in.len ? l.roots[n] : NULL);
			l.roots[n] = NULL;
			break;
		}
		off += used;
		n++;
	}
	l.nroots = n;
	if (n == 0) {
		return LLVMFuzzerMutate(data, size, max_size);
	}
	target = jf_rnd(&r) % n;
	jf_json_mutate(l.roots[target], &r);
	head = (size_t)(in.stream - data);
	out = malloc(max_size);
	if (out == NULL) {
		die("out of memory");
	}
	memcpy(out, data, head);
	used = head;
	for (size_t i = 0; i < n && used < max_size; i++) {
		char *text = json_dumps(l.roots[i], JSON_ENCODE_ANY | JSON_COMPACT);
		size_t len = text != NULL ? strlen(text) : 0;

		if (used + len + 1 <= max_size) {
			memcpy(out + used, text, len);
			used += len;
			out[used++] = '\n';
		}
		free(text);
	}
	if (used + (in.len - off) <= max_size) {
		memcpy(out + used, p + off, in.len - off);
		used += in.len - off;
	}
	memcpy(data, out, used);
	free(out);
	ids_free(&l);
	return used;
}
