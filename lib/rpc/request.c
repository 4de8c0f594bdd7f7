/*
 * One JSON-RPC request: validation, dispatch to its method, and the response
 * functions. A request of a connection writes its whole response envelope into
 * req->resp and hands it to the server (rpc_conn_request_done), which sends
 * responses in request order. An in-process request (spio_rpc_call) writes only
 * the result value, parses it back and gives it to the caller's callback.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"
#include "spio/log.h"
#include "spio/thread.h"

int rpc_buf_append(struct rpc_buf *b, const void *data, size_t len, size_t limit)
{
	size_t need, cap;
	char *p;

	if (len > limit || b->len > limit - len) {
		return -ENOBUFS;
	}
	need = b->len + len;
	if (need > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < need) {
			cap *= 2;
		}
		p = realloc(b->data, cap);
		if (p == NULL) {
			return -ENOMEM;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len = need;
	return 0;
}

void rpc_buf_free(struct rpc_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

struct spio_jsonrpc_request *rpc_request_new(struct rpc_conn *conn)
{
	struct spio_jsonrpc_request *req = calloc(1, sizeof(*req));

	if (req != NULL) {
		req->conn = conn;
	}
	return req;
}

void rpc_request_free(struct spio_jsonrpc_request *req)
{
	if (req == NULL) {
		return;
	}
	if (req->w != NULL) {
		spio_json_write_end(req->w); /* frees it; the text is dropped with resp */
	}
	for (uint32_t i = 0; i < req->nchildren; i++) {
		rpc_request_free(req->children[i]);
	}
	free(req->children);
	json_decref(req->params);
	json_decref(req->root);
	free(req->method_copy);
	free(req->dup_msg);
	rpc_buf_free(&req->resp);
	free(req);
}

static int resp_write_cb(void *ctx, const void *data, size_t size)
{
	struct spio_jsonrpc_request *req = ctx;

	if (req->notification) {
		return 0;
	}
	return rpc_buf_append(&req->resp, data, size, RPC_MAX_RESPONSE_SIZE);
}

/* True if the response is a JSON-RPC envelope (a connection's request or a batch element). */
static bool on_the_wire(const struct spio_jsonrpc_request *req)
{
	return req->conn != NULL || req->parent != NULL;
}

static void batch_child_done(struct spio_jsonrpc_request *batch);

/* The response text in req->resp is complete: deliver it and free the request. */
static void request_finish(struct spio_jsonrpc_request *req)
{
	if (req->parent != NULL) {
		req->done = true; /* kept until the whole batch is answered */
		batch_child_done(req->parent);
		return;
	}
	if (req->conn != NULL) {
		if (!req->notification &&
		    rpc_buf_append(&req->resp, "\n", 1, RPC_MAX_RESPONSE_SIZE + 1) != 0) {
			rpc_buf_free(
			    &req->resp); /* cannot happen: appended after a checked write */
		}
		req->done = true;
		rpc_conn_request_done(req);
		return;
	}
	rpc_request_free(req);
}

static int write_id(struct spio_json_write_ctx *w, const json_t *id)
{
	spio_json_write_name(w, "id");
	if (id == NULL || json_is_null(id)) {
		return spio_json_write_null(w);
	}
	if (json_is_string(id)) {
		return spio_json_write_string_len(w, json_string_value(id), json_string_length(id));
	}
	if (json_is_integer(id)) {
		return spio_json_write_int64(w, json_integer_value(id));
	}
	return spio_json_write_double(w, json_real_value(id));
}

static void send_error(struct spio_jsonrpc_request *req, int code, const char *msg)
{
	struct spio_json_write_ctx *w;
	int rc;

	if (req->w != NULL) {
		/* an error replaces a result being written */
		spio_json_write_end(req->w);
		req->w = NULL;
	}
	req->resp.len = 0;

	if (!on_the_wire(req)) {
		if (code == 0) {
			code = SPIO_JSONRPC_ERROR_INTERNAL_ERROR;
		}
		req->cb(req->cb_ctx, code, msg ? msg : "", NULL);
		rpc_request_free(req);
		return;
	}
	if (req->notification) {
		request_finish(req);
		return;
	}
	w = spio_json_write_begin(resp_write_cb, req, 0);
	if (w == NULL) {
		goto fail;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "jsonrpc", "2.0");
	write_id(w, req->id);
	spio_json_write_named_object_begin(w, "error");
	spio_json_write_named_int32(w, "code", code);
	spio_json_write_named_string(w, "message", msg ? msg : "");
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
	rc = spio_json_write_end(w);
	if (rc != 0) {
		goto fail;
	}
	request_finish(req);
	return;

fail:
	/* Out of memory (or a message that is too large): answer without one. */
	req->resp.len = 0;
	SPIO_ERRLOG("RPC: cannot write the error response %d; sending a bare internal error", code);
	{
		char line[160];
		int len;

		if (req->id != NULL && json_is_integer(req->id)) {
			len = snprintf(line, sizeof(line),
				       "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"error\":{\"code\":%d,"
				       "\"message\":\"Internal error\"}}",
				       (long long)json_integer_value(req->id),
				       SPIO_JSONRPC_ERROR_INTERNAL_ERROR);
		} else {
			len = snprintf(line, sizeof(line),
				       "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,"
				       "\"message\":\"Internal error\"}}",
				       SPIO_JSONRPC_ERROR_INTERNAL_ERROR);
		}
		rpc_buf_free(&req->resp);
		if (rpc_buf_append(&req->resp, line, (size_t)len, RPC_MAX_RESPONSE_SIZE) != 0) {
			rpc_buf_free(&req->resp);
		}
	}
	request_finish(req);
}

void spio_jsonrpc_send_error_response(struct spio_jsonrpc_request *req, int code, const char *msg)
{
	if (req == NULL) {
		return;
	}
	send_error(req, code, msg);
}

void spio_jsonrpc_send_error_response_fmt(struct spio_jsonrpc_request *req, int code,
					  const char *fmt, ...)
{
	char small[256], *msg = small;
	va_list ap;
	int len;

	if (req == NULL) {
		return;
	}
	if (fmt == NULL) {
		send_error(req, code, "");
		return;
	}
	va_start(ap, fmt);
	len = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (len >= (int)sizeof(small)) {
		msg = malloc((size_t)len + 1);
		if (msg != NULL) {
			va_start(ap, fmt);
			vsnprintf(msg, (size_t)len + 1, fmt, ap);
			va_end(ap);
		} else {
			msg = small; /* truncated */
		}
	} else if (len < 0) {
		small[0] = '\0';
	}
	send_error(req, code, msg);
	if (msg != small) {
		free(msg);
	}
}

struct spio_json_write_ctx *spio_jsonrpc_begin_result(struct spio_jsonrpc_request *req)
{
	struct spio_json_write_ctx *w;

	if (req == NULL) {
		return NULL;
	}
	if (req->w != NULL) {
		SPIO_ERRLOG("RPC method '%s': result begun twice", req->method ? req->method : "?");
		return req->w;
	}
	req->resp.len = 0;
	w = spio_json_write_begin(resp_write_cb, req, 0);
	if (w == NULL) {
		send_error(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
		return NULL;
	}
	if (on_the_wire(req)) {
		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "jsonrpc", "2.0");
		write_id(w, req->id);
		spio_json_write_name(w, "result");
	}
	req->w = w;
	return w;
}

void spio_jsonrpc_end_result(struct spio_jsonrpc_request *req, struct spio_json_write_ctx *w)
{
	json_error_t err;
	json_t *result;
	int rc;

	if (req == NULL) {
		return;
	}
	if (w == NULL || w != req->w) {
		SPIO_ERRLOG("RPC method '%s': end_result without a matching begin_result",
			    req->method ? req->method : "?");
		send_error(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
			   "Internal error: result writer mismatch");
		return;
	}
	req->w = NULL;
	if (on_the_wire(req)) {
		spio_json_write_object_end(w);
	}
	rc = spio_json_write_end(w);
	if (rc != 0) {
		SPIO_ERRLOG("RPC method '%s': bad result (%s)", req->method ? req->method : "?",
			    strerror(-rc));
		send_error(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
			   rc == -ENOBUFS ? "Internal error: response too large"
					  : "Internal error: malformed result");
		return;
	}
	if (on_the_wire(req)) {
		request_finish(req);
		return;
	}

	result = json_loadb(req->resp.data, req->resp.len, JSON_DECODE_ANY, &err);
	if (result == NULL) {
		send_error(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
			   "Internal error: result cannot be represented (e.g. integer above "
			   "INT64_MAX)");
		return;
	}
	req->cb(req->cb_ctx, 0, NULL, json_val_from_jansson(result));
	json_decref(result);
	rpc_request_free(req);
}

void spio_jsonrpc_send_bool_response(struct spio_jsonrpc_request *req, bool value)
{
	struct spio_json_write_ctx *w = spio_jsonrpc_begin_result(req);

	if (w == NULL) {
		return;
	}
	spio_json_write_bool(w, value);
	spio_jsonrpc_end_result(req, w);
}

const char *spio_jsonrpc_request_get_method(const struct spio_jsonrpc_request *req)
{
	return req != NULL ? req->method : NULL;
}

/* Run the method named req->method with req->params (state checks included). */
static void request_dispatch(struct spio_jsonrpc_request *req)
{
	const struct rpc_method *m = rpc_method_find(req->method);
	uint32_t state;

	if (m == NULL) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_METHOD_NOT_FOUND,
						     "Method not found: %s", req->method);
		return;
	}
	state = spio_rpc_get_state();
	if ((m->state_mask & state) == 0) {
		/* SPDK's texts, word for word: clients and scripts match on them. */
		if (state == SPIO_RPC_STARTUP) {
			spio_jsonrpc_send_error_response(
			    req, SPIO_JSONRPC_ERROR_INVALID_STATE,
			    "Method may only be called after framework is initialized using "
			    "framework_start_init RPC.");
		} else {
			spio_jsonrpc_send_error_response(
			    req, SPIO_JSONRPC_ERROR_INVALID_STATE,
			    "Method may only be called before framework is initialized. Use "
			    "--wait-for-rpc command line parameter and then issue this RPC before "
			    "the framework_start_init RPC.");
		}
		return;
	}
	if (req->overflow) {
		spio_jsonrpc_send_error_response(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    "Invalid params: integer out of range (integers above 9223372036854775807 or "
		    "below its negative must be passed as decimal strings)");
		return;
	}
	m->fn(req, json_val_from_jansson(req->params));
}

static bool id_valid(const json_t *id)
{
	return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

/*
 * Batches. Every element runs as a child request, one at a time in order (an
 * element starts once the one before has answered, as requests of one
 * connection do); the batch answers with the array of the children's
 * responses in request order (JSON-RPC 2.0 allows any order; SPDK answers in
 * completion order), leaving out notifications, and with nothing at all if
 * every element was one.
 */
static void batch_finish(struct spio_jsonrpc_request *batch)
{
	bool first = true;
	int rc = 0;

	batch->resp.len = 0;
	rc = rpc_buf_append(&batch->resp, "[", 1, RPC_MAX_RESPONSE_SIZE);
	for (uint32_t i = 0; i < batch->nchildren && rc == 0; i++) {
		struct spio_jsonrpc_request *child = batch->children[i];

		if (child->notification || child->resp.len == 0) {
			continue;
		}
		if (!first) {
			rc = rpc_buf_append(&batch->resp, ",", 1, RPC_MAX_RESPONSE_SIZE);
		}
		if (rc == 0) {
			rc = rpc_buf_append(&batch->resp, child->resp.data, child->resp.len,
					    RPC_MAX_RESPONSE_SIZE);
		}
		first = false;
	}
	if (rc == 0) {
		rc = rpc_buf_append(&batch->resp, "]", 1, RPC_MAX_RESPONSE_SIZE);
	}
	for (uint32_t i = 0; i < batch->nchildren; i++) {
		rpc_request_free(batch->children[i]);
	}
	free(batch->children);
	batch->children = NULL;
	batch->nchildren = 0;

	if (rc != 0) {
		SPIO_ERRLOG("RPC: the responses of a batch exceed %u bytes",
			    (unsigned)RPC_MAX_RESPONSE_SIZE);
		send_error(batch, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
			   "Internal error: the batch's responses are too large");
		return;
	}
	if (first) {
		batch->notification = true; /* only notifications: send nothing */
		batch->resp.len = 0;
	}
	request_finish(batch);
}

/*
 * Start children until one answers later; finish the batch after the last.
 * A loop, not recursion: thousands of children answering at once must not
 * nest calls.
 */
static void batch_run(struct spio_jsonrpc_request *batch)
{
	struct spio_jsonrpc_request *child;
	uint32_t i;

	batch->dispatching = true;
	while (batch->next_child < batch->nchildren && !batch->child_running) {
		i = batch->next_child++;
		child = batch->children[i];
		batch->child_running = true;
		rpc_request_handle(child, json_incref(json_array_get(batch->root, i)));
	}
	batch->dispatching = false;
	if (!batch->child_running) {
		batch_finish(batch); /* frees batch */
	}
}

static void batch_child_done(struct spio_jsonrpc_request *batch)
{
	batch->child_running = false;
	if (!batch->dispatching) {
		batch_run(batch); /* an asynchronous child answered */
	}
}

static void batch_handle(struct spio_jsonrpc_request *batch)
{
	size_t n = json_array_size(batch->root);

	if (batch->dup_code != 0) {
		/* refused as a whole: which element holds the key is not known */
		spio_jsonrpc_send_error_response(batch, batch->dup_code, batch->dup_msg);
		return;
	}
	if (n == 0) {
		spio_jsonrpc_send_error_response(batch, SPIO_JSONRPC_ERROR_INVALID_REQUEST,
						 "Invalid request: empty batch");
		return;
	}
	if (n > RPC_MAX_BATCH) {
		spio_jsonrpc_send_error_response_fmt(
		    batch, SPIO_JSONRPC_ERROR_INVALID_REQUEST,
		    "Invalid request: a batch of %zu requests (at most %u)", n, RPC_MAX_BATCH);
		return;
	}
	batch->children = calloc(n, sizeof(*batch->children));
	if (batch->children == NULL) {
		spio_jsonrpc_send_error_response(batch, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct spio_jsonrpc_request *child = rpc_request_new(NULL);

		if (child == NULL) {
			for (size_t j = 0; j < i; j++) {
				rpc_request_free(batch->children[j]);
			}
			free(batch->children);
			batch->children = NULL;
			spio_jsonrpc_send_error_response(batch, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
							 "Out of memory");
			return;
		}
		child->parent = batch;
		child->overflow = batch->overflow;
		batch->children[i] = child;
	}
	batch->nchildren = (uint32_t)n;
	batch->next_child = 0;
	batch_run(batch);
}

void rpc_request_handle(struct spio_jsonrpc_request *req, json_t *root)
{
	json_t *version, *method, *params, *id;

	req->root = root;
	if (json_is_array(root) && req->parent == NULL) {
		batch_handle(req);
		return;
	}
	if (!json_is_object(root)) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_REQUEST,
						 "Invalid request: not a JSON object");
		return;
	}

	id = json_object_get(root, "id");
	if (req->overflow && json_is_real(id)) {
		/* re-parsed with every integer as a real: give an integral id back its type */
		double v = json_real_value(id);

		if (v >= -9007199254740992.0 && v <= 9007199254740992.0 &&
		    v == (double)(int64_t)v) {
			json_object_set_new(root, "id", json_integer((json_int_t)v));
			id = json_object_get(root, "id");
		}
	}
	if (id != NULL && id_valid(id)) {
		req->id = id; /* answer errors below with the id when it is usable */
	}
	if (id != NULL && !id_valid(id)) {
		spio_jsonrpc_send_error_response(
		    req, SPIO_JSONRPC_ERROR_INVALID_REQUEST,
		    "Invalid request: \"id\" must be a string, a number or null");
		return;
	}
	if (req->dup_code != 0) {
		spio_jsonrpc_send_error_response(req, req->dup_code, req->dup_msg);
		return;
	}
	version = json_object_get(root, "jsonrpc");
	if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_REQUEST,
						 "Invalid request: \"jsonrpc\" must be \"2.0\"");
		return;
	}
	method = json_object_get(root, "method");
	if (!json_is_string(method)) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_REQUEST,
						 "Invalid request: \"method\" must be a string");
		return;
	}
	params = json_object_get(root, "params");
	if (params != NULL && !json_is_null(params) && !json_is_object(params) &&
	    !json_is_array(params)) {
		spio_jsonrpc_send_error_response(
		    req, SPIO_JSONRPC_ERROR_INVALID_REQUEST,
		    "Invalid request: \"params\" must be an object or an array");
		return;
	}

	/* A valid request: from here on a request without "id" is a notification. */
	req->notification = id == NULL;
	req->method = json_string_value(method);
	if (params != NULL && !json_is_null(params)) {
		req->params = json_incref(params);
	}
	request_dispatch(req);
}

int spio_rpc_call(const char *method, const struct spio_json_val *params_val, spio_rpc_call_cb cb,
		  void *ctx)
{
	json_t *params = json_val_to_jansson(params_val);
	struct spio_jsonrpc_request *req;

	if (method == NULL || cb == NULL || !rpc_server_thread_ok()) {
		return -EINVAL;
	}
	if (params != NULL && !json_is_object(params) && !json_is_array(params)) {
		return -EINVAL;
	}
	req = rpc_request_new(NULL);
	if (req == NULL) {
		return -ENOMEM;
	}
	req->method_copy = strdup(method);
	if (req->method_copy == NULL) {
		free(req);
		return -ENOMEM;
	}
	req->method = req->method_copy;
	req->params = json_incref(params);
	req->cb = cb;
	req->cb_ctx = ctx;
	request_dispatch(req);
	return 0;
}
