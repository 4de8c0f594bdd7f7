/*
 * spdk-io: JSON-RPC 2.0 server, method registry and parameter decoding (the
 * analogue of SPDK's spdk_rpc_* / spdk_jsonrpc_*).
 *
 * Protocol (see docs/rpc.md): the server listens on a Unix stream socket and
 * reads a stream of concatenated JSON values per connection. Each value is
 * one request object {"jsonrpc": "2.0", "method": "...", "params": ..., "id": ...},
 * or a batch (an array of them, answered with an array); a request without
 * "id" is a notification and gets no response. The requests of one connection
 * run one at a time, in order: the next one (or the next element of a batch)
 * starts only after the one before has answered, asynchronous methods
 * included; responses are written in request order, each followed by a
 * newline. A parse error (-32700) closes the connection after the error
 * response, because the stream cannot be resynchronised. A duplicate object
 * key is refused as config files refuse it: -32602 when it is inside
 * "params", -32600 when it is a key of the request itself (a batch with one
 * is refused as a whole); the connection stays open. A request larger than
 * SPIO_RPC_MAX_REQUEST_SIZE is answered with -32600 and the connection is
 * closed; no more than that many bytes are buffered per connection.
 *
 * Limits (docs/rpc.md): at most 128 connections; more are accepted and closed
 * at once, and logged at most once a second with a count. A connection that
 * has sent no complete request for 60 s since it connected or got its last
 * response is closed, whether it holds a partial request or none; clients
 * that keep a connection open between commands must reconnect after that.
 *
 * Methods are registered by name (usually at load time with
 * SPIO_RPC_REGISTER) with a state mask saying when they may be called
 * (start-up, runtime or both). A handler runs on the server's spio_thread and
 * answers exactly once, immediately or later (asynchronously), on that thread.
 *
 * Thread rules: the registry functions (register, set_state, get_state,
 * method_exists) may be called from any thread but are not meant to race with
 * each other (register at load time or before the server starts). The server,
 * the response functions and spio_rpc_call run on one spio_thread (the one
 * that called spio_rpc_server_start(), or any spio thread when no server
 * runs).
 */
#ifndef SPIO_RPC_H
#define SPIO_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/json_val.h"

#include "spio/json.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque: one request being served. Valid until its response is sent. */
struct spio_jsonrpc_request;

/* Method state mask: when a method may be called. */
#define SPIO_RPC_STARTUP 0x1 /**< during start-up (JSON config, framework_wait_init) */
#define SPIO_RPC_RUNTIME 0x2 /**< after start-up finished */

/* JSON-RPC error codes. */
#define SPIO_JSONRPC_ERROR_PARSE_ERROR -32700
#define SPIO_JSONRPC_ERROR_INVALID_REQUEST -32600
#define SPIO_JSONRPC_ERROR_METHOD_NOT_FOUND -32601
#define SPIO_JSONRPC_ERROR_INVALID_PARAMS -32602
#define SPIO_JSONRPC_ERROR_INTERNAL_ERROR -32603
/** Method not allowed in the current state (SPDK uses -1 too). */
#define SPIO_JSONRPC_ERROR_INVALID_STATE -1

/** Default socket path of the server and of the spio_rpc client. */
#define SPIO_RPC_DEFAULT_SOCKET "/var/tmp/spio.sock"

/**
 * Largest request (one JSON value, in bytes) the server accepts. A larger one
 * is answered with an -32600 error and the connection is closed.
 */
#define SPIO_RPC_MAX_REQUEST_SIZE (4u * 1024 * 1024)

/**
 * A method handler. Runs on the RPC server's spio_thread (or the thread of
 * spio_rpc_call()).
 *
 * \param req the request; it must be answered exactly once with one of the
 *        response functions below, now or later (e.g. after an asynchronous
 *        operation), on the same thread. For a notification the response is
 *        still required (it frees the request) but nothing is sent.
 * \param params the request's "params" (an object or array), or NULL when the
 *        request had none or "params": null; borrowed, valid until the
 *        response is sent (an asynchronous handler may keep using it).
 */
typedef void (*spio_rpc_method_fn)(struct spio_jsonrpc_request *req,
				   const struct spio_json_val *params);

/**
 * Register a method.
 *
 * \param name method name (copied); non-empty.
 * \param fn handler.
 * \param state_mask non-zero combination of SPIO_RPC_STARTUP and SPIO_RPC_RUNTIME.
 * \return 0; -EINVAL (NULL/empty name, NULL fn, bad mask); -EEXIST if a method
 *         of that name exists; -ENOMEM.
 * Any thread; usually at load time through SPIO_RPC_REGISTER.
 */
int spio_rpc_register_method(const char *name, spio_rpc_method_fn fn, uint32_t state_mask);

/**
 * Register method `name` (a string) with handler `fn` (a function name: the
 * constructor is named after it, so one registration per function and file)
 * when the program or library is loaded. A failure is logged.
 */
#define SPIO_RPC_REGISTER(name, fn, state_mask)                                    \
	__attribute__((constructor(200))) static void spio_rpc_register_##fn(void) \
	{                                                                          \
		spio_rpc_register_method_at_load(name, fn, state_mask);            \
	}

/** Backend of SPIO_RPC_REGISTER: spio_rpc_register_method() that logs failures. */
void spio_rpc_register_method_at_load(const char *name, spio_rpc_method_fn fn, uint32_t state_mask);

/**
 * Set the current state: SPIO_RPC_STARTUP (the initial state) or
 * SPIO_RPC_RUNTIME. Other values are ignored (logged). A method whose mask
 * does not include the current state is refused with
 * SPIO_JSONRPC_ERROR_INVALID_STATE.
 */
void spio_rpc_set_state(uint32_t state);

/** The current state (SPIO_RPC_STARTUP until set otherwise). */
uint32_t spio_rpc_get_state(void);

/** True if a method of that name is registered (false for NULL). */
bool spio_rpc_method_exists(const char *name);

/**
 * The states a method may run in (SPIO_RPC_STARTUP and/or SPIO_RPC_RUNTIME),
 * into *state_mask. Any thread.
 * \return 0; -ENOENT (no such method, or NULL name); -EINVAL (NULL state_mask).
 */
int spio_rpc_get_method_state_mask(const char *name, uint32_t *state_mask);

/*
 * Responses. Each finishes the request and frees it: `req` must not be used
 * after. On the request's thread. For a notification nothing is sent.
 */

/**
 * Start a successful response and return a writer for the result: write
 * exactly ONE JSON value with it, then call spio_jsonrpc_end_result().
 *
 * \return the writer; NULL only for a NULL `req` or when memory runs out (an
 *         internal error is then answered and the request is finished: do
 *         not call end_result).
 */
struct spio_json_write_ctx *spio_jsonrpc_begin_result(struct spio_jsonrpc_request *req);

/**
 * Finish the response begun by spio_jsonrpc_begin_result() and send it. If the
 * writer recorded an error (a malformed result), an internal error
 * (-32603) is sent instead.
 */
void spio_jsonrpc_end_result(struct spio_jsonrpc_request *req, struct spio_json_write_ctx *w);

/** Answer with the result `true` or `false`. */
void spio_jsonrpc_send_bool_response(struct spio_jsonrpc_request *req, bool value);

/**
 * Answer with an error object {"code": code, "message": msg}. `msg` NULL gives
 * an empty message. May also be called between spio_jsonrpc_begin_result() and
 * spio_jsonrpc_end_result(): the result begun is discarded (and its writer
 * freed; do not call end_result then).
 */
void spio_jsonrpc_send_error_response(struct spio_jsonrpc_request *req, int code, const char *msg);

/** spio_jsonrpc_send_error_response() with a printf-formatted message. */
void spio_jsonrpc_send_error_response_fmt(struct spio_jsonrpc_request *req, int code,
					  const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** The request's method name (valid until the response). NULL for NULL. */
const char *spio_jsonrpc_request_get_method(const struct spio_jsonrpc_request *req);

/*
 * The server.
 */

/**
 * Start the server on a non-blocking Unix socket at `path`, served by a poller
 * on the CURRENT spio_thread. The socket file gets mode 0600. A stale socket
 * file (no server answers on it) is replaced; any other existing file is left
 * alone (-EEXIST).
 *
 * \param path socket path (copied), shorter than sizeof(sun_path).
 * \return 0; -EINVAL (NULL/empty/too long path, not on a spio thread);
 *         -EADDRINUSE if a server (this process's or another) already
 *         listens on `path`; -EALREADY if this process's server runs on
 *         another path (one server per process); -EEXIST if
 *         `path` exists and is not a socket; -ENOMEM; another -errno from
 *         socket()/bind()/listen().
 */
int spio_rpc_server_start(const char *path);

/**
 * Stop the server: close the listener and every connection (the responses of
 * asynchronous requests still running are dropped when they complete), and
 * unlink the socket file if it is still the one the server created. On the
 * server's thread (elsewhere it is refused and logged); may be called from
 * inside a method. No-op when not running. Stop the server before exiting its
 * thread: its poller keeps the thread from finishing the exit.
 */
void spio_rpc_server_stop(void);

/** The path of the running server, or NULL. */
const char *spio_rpc_server_get_path(void);

/*
 * In-process calls.
 */

/**
 * Completion of spio_rpc_call(): exactly one of an error (error_code != 0, a
 * message) or a result (error_code 0, `result` a value owned by the callee:
 * spio_json_val_ref() it to keep it beyond the call).
 */
typedef void (*spio_rpc_call_cb)(void *ctx, int error_code, const char *error_msg,
				 const struct spio_json_val *result);

/**
 * Run `method` as if a client had sent it (state checks included), on the
 * current thread (the RPC server's thread, or any spio thread when no server
 * runs). `cb` is called exactly once, during this call or later (asynchronous
 * methods), on this thread.
 *
 * \param params object or array, or NULL; borrowed (the call takes its own
 *        reference for the duration).
 * \return 0 (cb will be / has been called); -EINVAL (NULL method or cb, not on
 *         a spio thread) or -ENOMEM, and cb is then not called. Method not
 *         found and state errors are reported through cb.
 */
int spio_rpc_call(const char *method, const struct spio_json_val *params, spio_rpc_call_cb cb,
		  void *ctx);

/*
 * Parameter decoding helpers.
 */

enum spio_rpc_param_type {
	SPIO_RPC_PARAM_STRING, /**< char *, strdup'ed (free with spio_rpc_params_free) */
	SPIO_RPC_PARAM_BOOL,   /**< bool */
	SPIO_RPC_PARAM_INT64,  /**< int64_t */
	/**
	 * uint64_t: a non-negative JSON integer (the parser holds integers up to
	 * INT64_MAX), or a string of decimal digits for the whole range up to
	 * UINT64_MAX ("18446744073709551615"); see docs/rpc.md.
	 */
	SPIO_RPC_PARAM_UINT64,
	SPIO_RPC_PARAM_UINT32, /**< uint32_t */
	SPIO_RPC_PARAM_DOUBLE, /**< double; JSON integers accepted too */
	/** const struct spio_json_val *, borrowed (valid while params are) */
	SPIO_RPC_PARAM_OBJECT,
	/** const struct spio_json_val *, borrowed (valid while params are) */
	SPIO_RPC_PARAM_ARRAY,
	/** struct spio_uuid, from its text form; a bad one is refused, naming the value */
	SPIO_RPC_PARAM_UUID,
	/** int32_t */
	SPIO_RPC_PARAM_INT32,
};

/** One member of a params object: its key, type and where it goes in the output struct. */
struct spio_rpc_param {
	const char *name;
	enum spio_rpc_param_type type;
	size_t offset; /**< offsetof(struct ..., field) */
	bool optional; /**< absent keeps the field's previous value */
};

/**
 * Decode `params` (an object) into the struct at `out`.
 *
 * Every required key must be present; optional absent keys leave the field
 * unchanged (set defaults before the call). Unknown keys are an error (like
 * SPDK). JSON null is not accepted for any type. Strings are strdup'ed and
 * replace (free) the field's previous value, so a string field must hold NULL
 * or a malloc'ed string before the call; free them with
 * spio_rpc_params_free(), also after an error (fields decoded before it are
 * set). Unknown keys are checked first: such a call changes nothing. NULL
 * `params` decodes like an empty object (so fails only if something is
 * required).
 *
 * \param errbuf receives a message naming the key and the expected type
 *        (may be NULL when errlen is 0).
 * \return 0; -EINVAL (params not an object, missing required key, wrong type,
 *         out of range, unknown key, NULL decoders/out); -ENOMEM.
 */
int spio_rpc_decode_params(const struct spio_json_val *params,
			   const struct spio_rpc_param *decoders, size_t n, void *out, char *errbuf,
			   size_t errlen);

/**
 * Free the strings spio_rpc_decode_params() stored into `out` and set those
 * fields to NULL. Other fields are untouched. NULL arguments are ignored.
 */
void spio_rpc_params_free(const struct spio_rpc_param *decoders, size_t n, void *out);

/**
 * For a method that takes no parameters: if `params` holds any (anything but
 * NULL, {} or []), answer `req` with -32602 "'METHOD' requires no arguments"
 * and return true; else return false and leave `req` alone. On the method's
 * thread, inside the method.
 */
bool spio_rpc_refuse_params(struct spio_jsonrpc_request *req, const struct spio_json_val *params);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_RPC_H */
