/*
 * Fault injection (env/fault.h) under the JSON-RPC server: its sends fail
 * (every Nth, or at random with a seed) while clients pipeline requests
 * whose responses are small and large (several sends each), and a method
 * that needs a DMA buffer and a thread message fails when those allocations
 * do. Each client must see a stream of complete, valid responses, each with
 * the right id and content (or an error response from that method), up to
 * the point where the server closed the connection: never a truncated
 * response followed by more bytes. With the faults disarmed, a new
 * connection is served completely; ASan finds what is leaked at the end.
 *
 * The test's OS thread polls the server's spio thread and plays the clients
 * with non-blocking sockets, so which send fails is the same from run to run.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "env/fault.h"
#include "rpc/rpc_internal.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/rpc.h"
#include "spio/thread.h"
#include "spio/util.h"

#define NCLIENTS 3
#define NREQ 8
#define BIG 250000 /* bytes of a large result: more than a Unix socket takes at once */
#define WAIT_POLLS 2000000
#define FRPC_ENOMEM (-12)

static struct spio_thread *g_t;
static char g_path[108];
static uint64_t g_injected[FAULT_SITE_COUNT];
static struct rpc_server_limits g_saved_limits;

/*
 * Methods
 */

/* Result: a string of params.size 'y' characters. */
static void frpc_big(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct spio_json_write_ctx *w;
	int64_t size = 0;
	char *s;

	(void)spio_json_integer(spio_json_object_get(params, "size"), &size);
	s = malloc((size_t)size + 1);
	if (s == NULL) {
		spio_jsonrpc_send_error_response(req, FRPC_ENOMEM, "no memory");
		return;
	}
	memset(s, 'y', (size_t)size);
	s[size] = '\0';
	w = spio_jsonrpc_begin_result(req);
	if (w != NULL) {
		spio_json_write_string_len(w, s, (size_t)size);
		spio_jsonrpc_end_result(req, w);
	}
	free(s);
}
SPIO_RPC_REGISTER("frpc_big", frpc_big, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

struct frpc_async {
	struct spio_jsonrpc_request *req;
	void *dma;
	int64_t size;
};

static void frpc_async_answer(void *arg)
{
	struct frpc_async *a = arg;
	struct spio_json_write_ctx *w = spio_jsonrpc_begin_result(a->req);

	if (w != NULL) {
		spio_json_write_int64(w, a->size);
		spio_jsonrpc_end_result(a->req, w);
	}
	spio_dma_free(a->dma);
	free(a);
}

/*
 * Needs a DMA buffer and a message to itself (a mempool object): either
 * failing is answered with an error response, else its result is params.size.
 */
static void frpc_alloc(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct frpc_async *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		spio_jsonrpc_send_error_response(req, FRPC_ENOMEM, "no memory");
		return;
	}
	a->req = req;
	(void)spio_json_integer(spio_json_object_get(params, "size"), &a->size);
	a->dma = spio_dma_malloc(4096, 4096);
	if (a->dma == NULL) {
		free(a);
		spio_jsonrpc_send_error_response(req, FRPC_ENOMEM, "no DMA memory");
		return;
	}
	if (spio_thread_send_msg(spio_get_thread(), frpc_async_answer, a) != 0) {
		spio_dma_free(a->dma);
		free(a);
		spio_jsonrpc_send_error_response(req, FRPC_ENOMEM, "no message");
	}
}
SPIO_RPC_REGISTER("frpc_alloc", frpc_alloc, SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/*
 * Set-up
 */

static void setup(void)
{
	struct rpc_server_limits limits;
	struct spio_env_opts eo;

	fault_clear();
	memset(g_injected, 0, sizeof(g_injected));
	spio_env_opts_init(&eo, sizeof(eo));
	eo.name = "test_fault_rpc";
	eo.no_huge = true;
	cr_assert_eq(spio_env_init(&eo), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_t = spio_thread_create("fault_rpc", NULL);
	cr_assert_not_null(g_t);
	spio_set_thread(g_t);
	snprintf(g_path, sizeof(g_path), "/tmp/spio_fault_rpc.%d.sock", (int)getpid());
	unlink(g_path);
	/* Room for the clients of one round only: connections the server lost must be gone. */
	rpc_server_get_limits(&g_saved_limits);
	limits = g_saved_limits;
	limits.max_conns = NCLIENTS;
	rpc_server_set_limits(&limits);
	cr_assert_eq(spio_rpc_server_start(g_path), 0);
}

static void teardown(void)
{
	fault_clear();
	spio_rpc_server_stop();
	rpc_server_set_limits(&g_saved_limits);
	spio_thread_exit(g_t);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_t); i++) {
		spio_thread_poll(g_t, 0, 0);
	}
	cr_assert(spio_thread_is_exited(g_t), "server thread did not exit");
	spio_set_thread(NULL);
	spio_thread_destroy(g_t);
	spio_thread_lib_fini();
	spio_env_fini();
	unlink(g_path);
}

TestSuite(fault_rpc, .init = setup, .fini = teardown, .timeout = 60);

/*
 * Clients
 */

struct client {
	int fd;
	char *in; /* what the server sent */
	size_t len, cap;
	bool eof;
	size_t parsed; /* bytes of `in` parsed into responses */
	int nresp;
	int nerr; /* error responses (of frpc_alloc) */
	bool seen[NREQ + 1];
};

static void client_open(struct client *c)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char req[NREQ][160];
	size_t total = 0;
	char *all;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(c->fd, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", g_path);
	cr_assert_eq(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: errno %d",
		     errno);
	/* Request i: frpc_big of i * BIG / (NREQ - 1) bytes, or frpc_alloc for odd i. */
	for (int i = 0; i < NREQ; i++) {
		const char *m = i % 2 ? "frpc_alloc" : "frpc_big";
		int64_t size = (int64_t)i * BIG / (NREQ - 1);

		total += (size_t)snprintf(req[i], sizeof(req[i]),
					  "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\","
					  "\"params\":{\"size\":%lld}}\n",
					  i + 1, m, (long long)size);
	}
	all = malloc(total + 1);
	cr_assert_not_null(all);
	all[0] = '\0';
	for (int i = 0; i < NREQ; i++) {
		strcat(all, req[i]);
	}
	/* A few hundred bytes: a blocking send takes them at once. */
	cr_assert_eq(send(c->fd, all, total, MSG_NOSIGNAL), (ssize_t)total);
	free(all);
	cr_assert_eq(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
}

static void client_close(struct client *c)
{
	if (c->fd >= 0) {
		close(c->fd);
	}
	free(c->in);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Take what the socket has; note EOF (or a reset: the server closed it). */
static void client_read(struct client *c)
{
	while (!c->eof) {
		ssize_t n;

		if (c->cap - c->len < 65536) {
			c->cap = c->cap * 2 + 65536;
			c->in = realloc(c->in, c->cap);
			cr_assert_not_null(c->in);
		}
		n = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->eof = true;
		} else {
			return;
		}
	}
}

/* Check one complete response: an id not answered before, the content that was asked. */
static void check_response(struct client *c, json_t *r)
{
	json_t *jid = json_object_get(r, "id");
	json_t *res = json_object_get(r, "result");
	json_t *err = json_object_get(r, "error");
	int id = json_is_integer(jid) ? (int)json_integer_value(jid) : -1;
	int64_t size = (int64_t)(id - 1) * BIG / (NREQ - 1);

	cr_assert(id >= 1 && id <= NREQ, "response %d: expected an id 1..%d, got %d", c->nresp + 1,
		  NREQ, id);
	cr_assert(!c->seen[id], "request %d answered twice", id);
	c->seen[id] = true;
	cr_assert_str_eq(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
	cr_assert((res == NULL) != (err == NULL), "response %d: needs exactly a result or an error",
		  id);
	if (err != NULL) {
		/* Only the allocating method may fail, and only with its own error. */
		cr_assert(id % 2 == 0, "request %d (frpc_big) got an error response", id);
		cr_assert_eq(json_integer_value(json_object_get(err, "code")), FRPC_ENOMEM,
			     "request %d: unexpected error code", id);
		c->nerr++;
	} else if (id % 2 == 0) {
		cr_assert(json_is_integer(res) && json_integer_value(res) == size,
			  "request %d (frpc_alloc): expected result %lld", id, (long long)size);
	} else {
		const char *s = json_string_value(res);

		cr_assert(s != NULL && (int64_t)json_string_length(res) == size,
			  "request %d (frpc_big): expected a string of %lld bytes, got %zu", id,
			  (long long)size, s != NULL ? json_string_length(res) : 0);
		int64_t k = 0;

		while (k < size && s[k] == 'y') {
			k++;
		}
		cr_assert_eq(k, size, "request %d: byte %lld is %#x, expected 'y'", id,
			     (long long)k, (unsigned char)s[k]);
	}
	c->nresp++;
}

/* Parse what arrived: complete responses are checked; an incomplete one waits for more. */
static void client_parse(struct client *c)
{
	while (c->parsed < c->len) {
		json_error_t e;
		json_t *r;
		size_t rest = c->len - c->parsed;
		const char *p = c->in + c->parsed;

		/* Separators between values. */
		if (*p == '\n' || *p == ' ' || *p == '\r' || *p == '\t') {
			c->parsed++;
			continue;
		}
		r = json_loadb(p, rest, JSON_DISABLE_EOF_CHECK, &e);
		if (r == NULL) {
			/* Only an unfinished response may fail to parse. */
			cr_assert_eq(json_error_code(&e), json_error_premature_end_of_input,
				     "response %d: invalid JSON at byte %d of the %zu after the "
				     "last complete one: %s",
				     c->nresp + 1, e.position, rest, e.text);
			return;
		}
		c->parsed += (size_t)e.position;
		check_response(c, r);
		json_decref(r);
	}
}

/* Poll the server until every client has all its responses or was closed. */
static void run_clients(struct client *cl, int n, const char *what)
{
	for (long polls = 0;; polls++) {
		int busy = 0;

		for (int i = 0; i < n; i++) {
			client_read(&cl[i]);
			client_parse(&cl[i]);
			busy += !cl[i].eof && cl[i].nresp < NREQ;
		}
		if (busy == 0) {
			break;
		}
		cr_assert_lt(polls, WAIT_POLLS, "%s: %d clients neither served nor closed", what,
			     busy);
		spio_thread_poll(g_t, 0, 0);
	}
	for (int i = 0; i < n; i++) {
		struct client *c = &cl[i];

		cr_assert_leq(c->nresp, NREQ, "%s: client %d: %d responses to %d requests", what, i,
			      c->nresp, NREQ);
		if (c->nresp == NREQ) {
			/* Everything answered: nothing may follow. */
			for (int k = 0; k < 100 && !c->eof; k++) {
				spio_thread_poll(g_t, 0, 0);
				client_read(c);
			}
			cr_assert_eq(c->len, c->parsed,
				     "%s: client %d: %zu bytes after the last "
				     "response",
				     what, i, c->len - c->parsed);
		}
	}
}

/* With nothing armed: a new client gets every response, no error. */
static void clean_round(const char *what)
{
	struct client c;

	client_open(&c);
	run_clients(&c, 1, what);
	cr_assert_eq(c.nresp, NREQ, "%s: disarmed, a new client got %d of %d responses", what,
		     c.nresp, NREQ);
	cr_assert_eq(c.nerr, 0, "%s: disarmed, %d error responses", what, c.nerr);
	client_close(&c);
}

/* One round under `spec`: clients at once, then a clean client with the faults off. */
static void round_under(const char *spec)
{
	struct client cl[NCLIENTS];
	char err[128] = "";
	uint64_t injected = 0;
	int served = 0;

	cr_assert_eq(fault_configure(spec, err, sizeof(err)), 0, "spec %s: %s", spec, err);
	for (int i = 0; i < NCLIENTS; i++) {
		client_open(&cl[i]);
	}
	run_clients(cl, NCLIENTS, spec);
	for (int s = 0; s < FAULT_SITE_COUNT; s++) {
		injected += fault_count((enum fault_site)s);
		g_injected[s] += fault_count((enum fault_site)s);
	}
	fault_clear();
	for (int i = 0; i < NCLIENTS; i++) {
		served += cl[i].nresp == NREQ && cl[i].nerr == 0;
		client_close(&cl[i]);
	}
	if (injected == 0) {
		cr_assert_eq(served, NCLIENTS,
			     "%s: nothing injected, yet only %d of %d clients "
			     "fully served",
			     spec, served, NCLIENTS);
	}
	/* The server closes what it lost; its connections must not pile up. */
	for (int i = 0; i < 1000; i++) {
		spio_thread_poll(g_t, 0, 0);
	}
	clean_round(spec);
}

Test(fault_rpc, send_every_n_sweep)
{
	char spec[64];

	static const int ns[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 19, 23, 28, 34, 41};

	for (size_t i = 0; i < SPIO_COUNTOF(ns); i++) {
		snprintf(spec, sizeof(spec), "send=every:%d", ns[i]);
		round_under(spec);
	}
	cr_assert_gt(g_injected[FAULT_SOCK_SEND], 0, "no send failed in the sweep");
}

Test(fault_rpc, send_rate_seeds)
{
	char spec[64];

	for (int seed = 1; seed <= 10; seed++) {
		snprintf(spec, sizeof(spec), "send=rate:0.05,seed=%d", seed);
		round_under(spec);
	}
	cr_assert_gt(g_injected[FAULT_SOCK_SEND], 0, "no send failed with any seed");
}

Test(fault_rpc, alloc_every_n_sweep)
{
	char spec[64];

	for (int n = 1; n <= 8; n++) {
		snprintf(spec, sizeof(spec), "mempool=every:%d,dma=every:%d", n, n + 1);
		round_under(spec);
	}
	cr_assert_gt(g_injected[FAULT_MEMPOOL_GET], 0, "no mempool get failed");
	cr_assert_gt(g_injected[FAULT_DMA_ALLOC], 0, "no DMA allocation failed");
}

Test(fault_rpc, all_sites_rate_seeds)
{
	char spec[96];

	for (int seed = 1; seed <= 8; seed++) {
		snprintf(spec, sizeof(spec), "send=rate:0.05,mempool=rate:0.2,dma=rate:0.2,seed=%d",
			 seed + 50);
		round_under(spec);
	}
	cr_assert_gt(g_injected[FAULT_SOCK_SEND], 0, "no send failed");
	cr_assert_gt(g_injected[FAULT_MEMPOOL_GET] + g_injected[FAULT_DMA_ALLOC], 0,
		     "no allocation failed");
}
