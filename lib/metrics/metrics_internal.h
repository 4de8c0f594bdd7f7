/* Private pieces of the metrics server, shared by the files of lib/metrics. */
#ifndef SPIO_METRICS_INTERNAL_H
#define SPIO_METRICS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/json_val.h"
#include "spio/metrics.h"

/* A growable text buffer; `nomem` sticks once an append fails. */
struct metrics_buf {
	char *data;
	size_t len;
	size_t cap;
	bool nomem;
};

void metrics_buf_append(struct metrics_buf *b, const char *data, size_t len);
void metrics_buf_printf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void metrics_buf_free(struct metrics_buf *b);

/*
 * HTTP request parsing (http.c).
 */

/* The outcome of one request; status 0 while the request is incomplete. */
struct metrics_http_req {
	int status; /* 200 for GET/HEAD /metrics, else the error status to answer */
	bool head;  /* HEAD: headers only */
};

/*
 * Look at the `len` bytes received so far. Returns false while the headers
 * are incomplete and fit in SPIO_METRICS_MAX_REQUEST_SIZE; true once the
 * request is decided, with out->status set (200, 400, 404, 405, 431, 505).
 */
bool metrics_http_parse(const char *buf, size_t len, struct metrics_http_req *out);

/* The reason phrase of an HTTP status this server answers ("Not Found"). */
const char *metrics_http_reason(int status);

/*
 * Append a whole response (status line, headers, body unless head) to `out`.
 * 405 gets an Allow header; bodies other than 200's are one line of text.
 */
void metrics_http_response(struct metrics_buf *out, int status, bool head, const char *body,
			   size_t body_len);

/*
 * Prometheus text exposition (expo.c).
 */

/* The RPC methods a scrape calls, in order, and where their results go. */
enum metrics_source {
	METRICS_SRC_BDEV_IOSTAT = 0, /* bdev_get_iostat */
	METRICS_SRC_THREAD_STATS,    /* thread_get_stats */
	METRICS_SRC_REACTORS,	     /* framework_get_reactors */
	METRICS_SRC_COUNT,
};

/* The RPC method of a source. */
const char *metrics_source_method(enum metrics_source src);

/* What one scrape gathered: a result or an error message per source. */
struct metrics_sample {
	const struct spio_json_val *result[METRICS_SRC_COUNT]; /* NULL: failed */
	const char *error[METRICS_SRC_COUNT];		       /* why, when result is NULL */
};

/*
 * Write the exposition of `s` into `out`: every family whose source answered,
 * then one comment line per source that failed. Members missing from an
 * item leave that sample out.
 */
void metrics_expo_write(struct metrics_buf *out, const struct metrics_sample *s);

/* Append `val` as a label value: backslash, double quote and newline escaped. */
void metrics_expo_label_value(struct metrics_buf *out, const char *val);

/*
 * The server's clock (server.c): spio_get_ticks unless a test replaces it.
 * Timeouts are decided on it.
 */
extern uint64_t (*metrics_get_ticks)(void);

/* Connections open now (tests). */
uint32_t metrics_server_conn_count(void);

#endif /* SPIO_METRICS_INTERNAL_H */
