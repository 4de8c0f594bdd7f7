/* Private state of the JSON-RPC layer, shared by the files of lib/rpc. */
#ifndef SPIO_RPC_INTERNAL_H
#define SPIO_RPC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "json/json_val_internal.h"
#include "spio/rpc.h"

/* Largest response (envelope included); a larger result becomes -32603. */
#define RPC_MAX_RESPONSE_SIZE (64u * 1024 * 1024)

/* Most requests in one batch (a JSON array); a larger batch is refused with -32600. */
#define RPC_MAX_BATCH 65536u

/*
 * A connection that has sent no complete request for this long since it
 * connected or got its last response is closed, partial request or not, so
 * that silent clients cannot hold every connection slot. SPDK's server has no
 * such timeout; 60 s is SPDK's rpc.py default timeout for an answer.
 */
#define RPC_IDLE_TIMEOUT_US (60ull * 1000 * 1000)

/* Refused connections (over max_conns) are logged at most once per this period. */
#define RPC_REFUSAL_LOG_PERIOD_US (1000ull * 1000)

/* Requests one connection may start per poll, so that one client cannot starve the others. */
#define RPC_MAX_REQUESTS_PER_POLL 16u

/* A growable byte buffer. */
struct rpc_buf {
	char *data;
	size_t len;
	size_t cap;
};

/* Append `len` bytes; -ENOBUFS if the result would exceed `limit`, -ENOMEM. */
int rpc_buf_append(struct rpc_buf *b, const void *data, size_t len, size_t limit);
void rpc_buf_free(struct rpc_buf *b);

struct rpc_conn;

struct spio_jsonrpc_request {
	struct rpc_conn *conn;			/* NULL for spio_rpc_call() */
	TAILQ_ENTRY(spio_jsonrpc_request) link; /* in conn->reqs, arrival order */
	json_t *root;				/* the parsed request (owned), or NULL */
	json_t *params;				/* owned reference, or NULL */
	json_t *id;				/* borrowed from root; NULL answers id null */
	const char *method;			/* borrowed from root, or method_copy */
	char *method_copy;			/* spio_rpc_call() */
	struct spio_json_write_ctx *w;		/* open result writer */
	struct rpc_buf resp;			/* the response text, newline-terminated */
	spio_rpc_call_cb cb;			/* spio_rpc_call() */
	void *cb_ctx;
	bool notification; /* no "id": nothing is sent */
	bool done;	   /* answered; waits for earlier requests of its connection */
	bool overflow;	   /* the request held an integer jansson cannot represent */
	int dup_code;	   /* a duplicate object key: the error to answer, else 0 */
	char *dup_msg;	   /* its message (owned) */

	/*
	 * Batches (a JSON array of requests): the array is one request of its
	 * connection, queued in conn->reqs; each element is a child request with
	 * `parent` set, never queued. The children run one at a time, in order;
	 * the parent answers once the last has.
	 */
	struct spio_jsonrpc_request *parent;
	struct spio_jsonrpc_request **children; /* owned by the parent */
	uint32_t nchildren;
	uint32_t next_child; /* the next child to start */
	bool child_running;  /* a child has started and not answered */
	bool dispatching;    /* in the loop starting children */
};

/* request.c */

/* A new request of `conn` (NULL: in-process), not yet queued anywhere. */
struct spio_jsonrpc_request *rpc_request_new(struct rpc_conn *conn);

/*
 * Validate and run the request `root` (a parsed JSON value; ownership moves to
 * `req`): answers -32600 / -32601 / -1 / -32602 itself, else calls the method.
 * A request with req->dup_code set is answered with that error.
 */
void rpc_request_handle(struct spio_jsonrpc_request *req, json_t *root);

void rpc_request_free(struct spio_jsonrpc_request *req);

/* server.c: the response of `req` (of a connection) is complete in req->resp. */
void rpc_conn_request_done(struct spio_jsonrpc_request *req);

/* True if the calling OS thread may run RPC methods now (see spio_rpc_call). */
bool rpc_server_thread_ok(void);

/* registry.c */

struct rpc_method {
	STAILQ_ENTRY(rpc_method) link; /* registration order */
	struct rpc_method *hash_next;
	spio_rpc_method_fn fn;
	uint32_t state_mask;
	char name[];
};

/* The method called `name`, or NULL. Methods are never unregistered. */
const struct rpc_method *rpc_method_find(const char *name);

/*
 * Visit every method in registration order; stops early if fn returns
 * non-zero (which is returned).
 */
int rpc_method_foreach(int (*fn)(const struct rpc_method *m, void *ctx), void *ctx);

/* methods.c: register rpc_get_methods, spdk_get_version and spio_get_version. */
void rpc_register_builtin_methods(void);

/* Server tunables, for tests. Set before spio_rpc_server_start(). */
struct rpc_server_limits {
	uint32_t max_conns;	      /* open connections; more are accepted and closed */
	size_t out_high_water;	      /* pending output before reading stops */
	size_t out_max;		      /* pending output above which the connection is closed */
	uint64_t write_timeout_us;    /* pending output not accepted for this long: close */
	uint64_t idle_timeout_us;     /* no complete request for this long: close */
	uint64_t idle_poll_period_us; /* poller period while no connection is open */
};

void rpc_server_get_limits(struct rpc_server_limits *limits);
void rpc_server_set_limits(const struct rpc_server_limits *limits);

/* The server's clock: spio_get_ticks(), or the function set for tests (NULL: back to it). */
uint64_t rpc_get_ticks(void);
void rpc_set_ticks_fn(uint64_t (*fn)(void));

#endif /* SPIO_RPC_INTERNAL_H */
