/*
 * The little HTTP/1.x the metrics server speaks (RFC 9112): decide a request
 * from its request line and headers, and write whole responses. The body of
 * a request, if any, is never looked at: every answer closes the connection.
 */
#include <stdio.h>
#include <string.h>

#include "metrics_internal.h"

/* RFC 9110 token characters (method and header names). */
static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The length of the line at `p` without its CRLF or LF, or -1 if it has no end within `len`. */
static long line_len(const char *p, size_t len, size_t *next)
{
	const char *nl = memchr(p, '\n', len);
	size_t n;

	if (nl == NULL) {
		return -1;
	}
	n = (size_t)(nl - p);
	*next = n + 1;
	if (n > 0 && p[n - 1] == '\r') {
		n--;
	}
	return (long)n;
}

/* The status the request line `p` (n bytes, no line end) calls for; head set for HEAD. */
static int parse_request_line(const char *p, size_t n, bool *head)
{
	const char *end = p + n, *target, *version;
	size_t mlen, tlen;

	for (mlen = 0; p + mlen < end && is_tchar((unsigned char)p[mlen]); mlen++) {
	}
	if (mlen == 0 || p + mlen == end || p[mlen] != ' ') {
		return 400;
	}
	target = p + mlen + 1;
	for (tlen = 0; target + tlen < end && target[tlen] > ' ' && target[tlen] < 0x7f; tlen++) {
	}
	if (tlen == 0 || target + tlen == end || target[tlen] != ' ') {
		return 400;
	}
	version = target + tlen + 1;
	if (end - version != 8 || memcmp(version, "HTTP/", 5) != 0 || version[5] < '0' ||
	    version[5] > '9' || version[6] != '.' || version[7] < '0' || version[7] > '9') {
		return 400;
	}
	if (version[5] != '1') {
		return 505;
	}
	*head = mlen == 4 && memcmp(p, "HEAD", 4) == 0;
	if (!*head && !(mlen == 3 && memcmp(p, "GET", 3) == 0)) {
		return 405;
	}
	/* The query string, if any, changes nothing (Prometheus may add one). */
	if ((tlen == 8 || (tlen > 8 && target[8] == '?')) && memcmp(target, "/metrics", 8) == 0) {
		return 200;
	}
	return 404;
}

/* A header line "name: value": a token, a colon, visible characters, spaces and tabs. */
static bool header_ok(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && is_tchar((unsigned char)p[i])) {
		i++;
	}
	if (i == 0 || i == n || p[i] != ':') {
		return false; /* also refuses obsolete line folding (a leading space) */
	}
	for (i++; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if ((c < ' ' && c != '\t') || c == 0x7f) {
			return false;
		}
	}
	return true;
}

bool metrics_http_parse(const char *buf, size_t len, struct metrics_http_req *out)
{
	size_t off = 0, next = 0, scan = len;
	bool head = false;
	long n;
	int status;

	out->status = 0;
	out->head = false;
	if (scan > SPIO_METRICS_MAX_REQUEST_SIZE) {
		scan = SPIO_METRICS_MAX_REQUEST_SIZE;
	}
	n = line_len(buf, scan, &next);
	if (n < 0) {
		if (len >= SPIO_METRICS_MAX_REQUEST_SIZE) {
			out->status = 431;
			return true;
		}
		return false;
	}
	/* A bad request line is answered at once, without waiting for headers. */
	status = parse_request_line(buf, (size_t)n, &head);
	if (status == 400 || status == 505) {
		out->status = status;
		return true;
	}
	off = next;
	for (;;) {
		n = line_len(buf + off, scan - off, &next);
		if (n < 0) {
			if (len >= SPIO_METRICS_MAX_REQUEST_SIZE) {
				out->status = 431;
				return true;
			}
			return false;
		}
		if (n == 0) {
			break; /* the empty line ends the headers */
		}
		if (!header_ok(buf + off, (size_t)n)) {
			out->status = 400;
			return true;
		}
		off += next;
	}
	out->status = status;
	out->head = head;
	return true;
}

const char *metrics_http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

void metrics_http_response(struct metrics_buf *out, int status, bool head, const char *body,
			   size_t body_len)
{
	metrics_buf_printf(out,
			   "HTTP/1.1 %d %s\r\n"
			   "Content-Type: %s\r\n"
			   "Content-Length: %zu\r\n"
			   "%s"
			   "Connection: close\r\n\r\n",
			   status, metrics_http_reason(status),
			   status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
					 : "text/plain; charset=utf-8",
			   body_len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head && body_len > 0) {
		metrics_buf_append(out, body, body_len);
	}
}
