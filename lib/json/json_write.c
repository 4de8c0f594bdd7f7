/*
 * spdk-io: streaming JSON writer. See include/spio/json.h for the contract.
 *
 * Output goes into a buffer inside the context and reaches the callback in
 * chunks of up to JSON_BUF_SIZE bytes; a token larger than the buffer is passed
 * straight through. Structure is tracked with a stack of container kinds and
 * two flags: `first` (the innermost container has no element yet) and
 * `name_pending` (an object member name waits for its value).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/json.h"
#include "spio/log.h"
#include "spio/util.h"

#define JSON_BUF_SIZE 4096
#define JSON_STACK_INLINE 32
#define JSON_INDENT_WIDTH 2
#define JSON_FMT_STACK_BUF 256

enum json_container {
	JSON_ARRAY = 0,
	JSON_OBJECT = 1,
};

struct spio_json_write_ctx {
	spio_json_write_cb write_cb;
	void *cb_ctx;
	uint32_t flags;
	int err;
	uint32_t depth;
	uint32_t stack_cap;
	uint8_t *stack;
	bool first;
	bool name_pending;
	bool top_written;
	size_t buf_len;
	uint8_t stack_inline[JSON_STACK_INLINE];
	uint8_t buf[JSON_BUF_SIZE];
};

/* Byte classes for string output; multi-byte leads are validated in utf8_seq_len(). */
enum {
	CH_PLAIN = 0,	/* copied as is */
	CH_ESCAPE = 1,	/* control character, '"' or '\\' */
	CH_LEAD = 2,	/* C2..F4: may start a well-formed sequence */
	CH_INVALID = 3, /* continuation byte or a byte that never occurs in UTF-8 */
};

static const uint8_t g_char_class[256] = {
    [0x00 ... 0x1f] = CH_ESCAPE,  ['"'] = CH_ESCAPE,	     ['\\'] = CH_ESCAPE,
    [0x80 ... 0xc1] = CH_INVALID, [0xc2 ... 0xf4] = CH_LEAD, [0xf5 ... 0xff] = CH_INVALID,
};

static const char g_hex[] = "0123456789abcdef";

static const uint8_t g_replacement[] = {0xef, 0xbf, 0xbd}; /* U+FFFD */

static int set_err(struct spio_json_write_ctx *w, int err)
{
	if (w->err == 0) {
		w->err = err;
	}
	return w->err;
}

/* Misuse of the API by the caller: always a bug worth a log line. */
static int fail(struct spio_json_write_ctx *w, const char *why)
{
	if (w->err == 0) {
		SPIO_ERRLOG("json writer: %s (depth %u)\n", why, w->depth);
	}
	return set_err(w, -EINVAL);
}

static int call_cb(struct spio_json_write_ctx *w, const void *data, size_t len)
{
	int rc;

	if (w->err != 0) {
		return w->err;
	}
	rc = w->write_cb(w->cb_ctx, data, len);
	if (rc != 0) {
		return set_err(w, rc < 0 ? rc : -EIO);
	}
	return 0;
}

static int flush_buf(struct spio_json_write_ctx *w)
{
	size_t len = w->buf_len;

	/* After an error the buffer only absorbs writes; it is never handed out. */
	w->buf_len = 0;
	if (len == 0 || w->err != 0) {
		return w->err;
	}
	return call_cb(w, w->buf, len);
}

/*
 * Append bytes to the output. Errors end up in w->err, so loops may ignore the
 * return value and check w->err once at the end.
 */
static int emit(struct spio_json_write_ctx *w, const void *data, size_t len)
{
	if (spio_likely(len <= JSON_BUF_SIZE - w->buf_len)) {
		memcpy(w->buf + w->buf_len, data, len);
		w->buf_len += len;
		return 0;
	}
	if (flush_buf(w) != 0) {
		return w->err;
	}
	if (len >= JSON_BUF_SIZE) {
		return call_cb(w, data, len);
	}
	memcpy(w->buf, data, len);
	w->buf_len = len;
	return 0;
}

static int emit_char(struct spio_json_write_ctx *w, char c)
{
	if (spio_likely(w->buf_len < JSON_BUF_SIZE)) {
		w->buf[w->buf_len++] = (uint8_t)c;
		return 0;
	}
	return emit(w, &c, 1);
}

static void emit_indent(struct spio_json_write_ctx *w, uint32_t depth)
{
	static const char spaces[] =
	    "                                                                ";
	size_t n = (size_t)depth * JSON_INDENT_WIDTH;
	size_t chunk;

	emit_char(w, '\n');
	while (n > 0) {
		chunk = SPIO_MIN(n, sizeof(spaces) - 1);
		emit(w, spaces, chunk);
		n -= chunk;
	}
}

/* Comma and, when formatted, line break before the next element or member. */
static void emit_separator(struct spio_json_write_ctx *w)
{
	if (!w->first) {
		emit_char(w, ',');
	}
	if (w->flags & SPIO_JSON_WRITE_FLAG_FORMATTED) {
		emit_indent(w, w->depth);
	}
	w->first = false;
}

static bool in_object(const struct spio_json_write_ctx *w)
{
	return w->depth > 0 && w->stack[w->depth - 1] == JSON_OBJECT;
}

/* Check that a value may come now and write what precedes it. */
static int begin_value(struct spio_json_write_ctx *w)
{
	if (spio_unlikely(w->err != 0)) {
		return w->err;
	}
	if (w->depth == 0) {
		if (w->top_written) {
			return fail(w, "second top-level value");
		}
		w->top_written = true;
		return 0;
	}
	if (w->stack[w->depth - 1] == JSON_OBJECT) {
		if (!w->name_pending) {
			return fail(w, "value inside an object without a name");
		}
		w->name_pending = false;
		return 0;
	}
	emit_separator(w);
	return w->err;
}

static int push(struct spio_json_write_ctx *w, enum json_container kind)
{
	uint8_t *stack;
	uint32_t cap;

	if (w->depth == w->stack_cap) {
		if (w->stack_cap > UINT32_MAX / 2) {
			return set_err(w, -ENOMEM);
		}
		cap = w->stack_cap * 2;
		if (w->stack == w->stack_inline) {
			stack = malloc(cap);
			if (stack != NULL) {
				memcpy(stack, w->stack, w->depth);
			}
		} else {
			stack = realloc(w->stack, cap);
		}
		if (stack == NULL) {
			return set_err(w, -ENOMEM);
		}
		w->stack = stack;
		w->stack_cap = cap;
	}
	w->stack[w->depth++] = (uint8_t)kind;
	w->first = true;
	return 0;
}

/*
 * Length of the well-formed UTF-8 sequence at `s` (2..4), or 0 if it is
 * ill-formed, with `*bad` set to the length of its maximal subpart: the
 * longest prefix that could still begin a well-formed sequence, at least 1.
 * The ranges are those of Unicode Table 3-7.
 */
static size_t utf8_seq_len(const uint8_t *s, size_t avail, size_t *bad)
{
	uint8_t c = s[0];
	uint8_t lo = 0x80, hi = 0xbf;
	size_t n, k;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0) {
			lo = 0xa0; /* overlong below U+0800 */
		} else if (c == 0xed) {
			hi = 0x9f; /* surrogates U+D800..U+DFFF */
		}
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0) {
			lo = 0x90; /* overlong below U+10000 */
		} else if (c == 0xf4) {
			hi = 0x8f; /* above U+10FFFF */
		}
	} else {
		*bad = 1;
		return 0;
	}

	if (avail < 2 || s[1] < lo || s[1] > hi) {
		*bad = 1;
		return 0;
	}
	for (k = 2; k < n; k++) {
		if (k >= avail || (s[k] & 0xc0) != 0x80) {
			*bad = k;
			return 0;
		}
	}
	return n;
}

static void emit_escape(struct spio_json_write_ctx *w, uint8_t c)
{
	char esc[6] = {'\\', 'u', '0', '0', g_hex[c >> 4], g_hex[c & 0xf]};

	switch (c) {
	case '"':
	case '\\':
		esc[1] = (char)c;
		emit(w, esc, 2);
		return;
	case '\b':
		emit(w, "\\b", 2);
		return;
	case '\f':
		emit(w, "\\f", 2);
		return;
	case '\n':
		emit(w, "\\n", 2);
		return;
	case '\r':
		emit(w, "\\r", 2);
		return;
	case '\t':
		emit(w, "\\t", 2);
		return;
	default:
		emit(w, esc, sizeof(esc));
	}
}

/* Write `len` bytes of UTF-8 as a quoted, escaped JSON string. */
static int emit_string(struct spio_json_write_ctx *w, const char *str, size_t len)
{
	const uint8_t *s = (const uint8_t *)str;
	size_t start = 0, i = 0, n = 0, bad = 1;

	emit_char(w, '"');
	while (i < len) {
		uint8_t cls = g_char_class[s[i]];

		if (spio_likely(cls == CH_PLAIN)) {
			i++;
			continue;
		}
		if (cls == CH_LEAD) {
			n = utf8_seq_len(s + i, len - i, &bad);
			/* U+2028 / U+2029 (E2 80 A8/A9) are line ends in JavaScript. */
			if (n > 0 && !(n == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
				       (s[i + 2] == 0xa8 || s[i + 2] == 0xa9))) {
				i += n;
				continue;
			}
		}

		emit(w, s + start, i - start);
		if (cls == CH_ESCAPE) {
			emit_escape(w, s[i]);
			i++;
		} else if (cls == CH_LEAD && n == 3) {
			emit(w, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			i += 3;
		} else {
			/* CH_INVALID, or CH_LEAD starting an ill-formed sequence */
			emit(w, g_replacement, sizeof(g_replacement));
			i += cls == CH_LEAD ? bad : 1;
		}
		start = i;
	}
	emit(w, s + start, i - start);
	emit_char(w, '"');
	return w->err;
}

static int emit_u64(struct spio_json_write_ctx *w, uint64_t val, bool negative)
{
	char buf[24];
	char *p = buf + sizeof(buf);

	do {
		*--p = (char)('0' + val % 10);
		val /= 10;
	} while (val != 0);
	if (negative) {
		*--p = '-';
	}
	emit(w, p, (size_t)(buf + sizeof(buf) - p));
	return w->err;
}

static int write_i64(struct spio_json_write_ctx *w, int64_t val)
{
	/* magnitude in unsigned arithmetic: -INT64_MIN overflows int64_t */
	uint64_t mag = val < 0 ? 0 - (uint64_t)val : (uint64_t)val;

	if (begin_value(w) != 0) {
		return w->err;
	}
	return emit_u64(w, mag, val < 0);
}

static int write_u64(struct spio_json_write_ctx *w, uint64_t val)
{
	if (begin_value(w) != 0) {
		return w->err;
	}
	return emit_u64(w, val, false);
}

/*
 * Shortest of %.15g/%.16g/%.17g that reads back exactly (%.17g always does),
 * with '.' as decimal point whatever the locale, and a ".0" added when the
 * text would otherwise read as an integer.
 */
static size_t format_double(char *buf, size_t size, double val)
{
	int prec, len = 0;
	char *p;

	for (prec = 15; prec <= 17; prec++) {
		len = snprintf(buf, size, "%.*g", prec, val);
		if (strtod(buf, NULL) == val) {
			break;
		}
	}
	p = strchr(buf, ',');
	if (p != NULL) {
		*p = '.';
	}
	if (strpbrk(buf, ".e") == NULL) {
		memcpy(buf + len, ".0", 3);
		len += 2;
	}
	return (size_t)len;
}

struct spio_json_write_ctx *spio_json_write_begin(spio_json_write_cb write_cb, void *cb_ctx,
						  uint32_t flags)
{
	struct spio_json_write_ctx *w;

	if (write_cb == NULL || (flags & ~SPIO_JSON_WRITE_FLAG_FORMATTED) != 0) {
		errno = EINVAL;
		return NULL;
	}

	w = malloc(sizeof(*w));
	if (w == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	w->write_cb = write_cb;
	w->cb_ctx = cb_ctx;
	w->flags = flags;
	w->err = 0;
	w->depth = 0;
	w->stack_cap = JSON_STACK_INLINE;
	w->stack = w->stack_inline;
	w->first = true;
	w->name_pending = false;
	w->top_written = false;
	w->buf_len = 0;
	return w;
}

int spio_json_write_end(struct spio_json_write_ctx *w)
{
	int rc;

	if (w == NULL) {
		return -EINVAL;
	}

	if (w->err == 0 && w->depth > 0) {
		fail(w, "document ends with unclosed containers");
	}
	if (w->err == 0 && w->top_written && (w->flags & SPIO_JSON_WRITE_FLAG_FORMATTED)) {
		emit_char(w, '\n');
	}
	rc = flush_buf(w);

	if (w->stack != w->stack_inline) {
		free(w->stack);
	}
	free(w);
	return rc;
}

int spio_json_write_object_begin(struct spio_json_write_ctx *w)
{
	if (w == NULL) {
		return -EINVAL;
	}
	if (begin_value(w) != 0) {
		return w->err;
	}
	emit_char(w, '{');
	push(w, JSON_OBJECT);
	return w->err;
}

int spio_json_write_array_begin(struct spio_json_write_ctx *w)
{
	if (w == NULL) {
		return -EINVAL;
	}
	if (begin_value(w) != 0) {
		return w->err;
	}
	emit_char(w, '[');
	push(w, JSON_ARRAY);
	return w->err;
}

static int end_container(struct spio_json_write_ctx *w, enum json_container kind, char close)
{
	if (w == NULL) {
		return -EINVAL;
	}
	if (w->err != 0) {
		return w->err;
	}
	if (w->depth == 0 || w->stack[w->depth - 1] != kind) {
		return fail(w, kind == JSON_OBJECT ? "object_end outside an object"
						   : "array_end outside an array");
	}
	if (w->name_pending) {
		return fail(w, "object_end after a name without a value");
	}

	w->depth--;
	if (!w->first && (w->flags & SPIO_JSON_WRITE_FLAG_FORMATTED)) {
		emit_indent(w, w->depth);
	}
	emit_char(w, close);
	/* the closed container was itself an element of its parent */
	w->first = false;
	return w->err;
}

int spio_json_write_object_end(struct spio_json_write_ctx *w)
{
	return end_container(w, JSON_OBJECT, '}');
}

int spio_json_write_array_end(struct spio_json_write_ctx *w)
{
	return end_container(w, JSON_ARRAY, ']');
}

int spio_json_write_name_len(struct spio_json_write_ctx *w, const char *name, size_t len)
{
	if (w == NULL) {
		return -EINVAL;
	}
	if (w->err != 0) {
		return w->err;
	}
	if (name == NULL) {
		return fail(w, "NULL name");
	}
	if (!in_object(w)) {
		return fail(w, "name outside an object");
	}
	if (w->name_pending) {
		return fail(w, "name after a name without a value");
	}

	emit_separator(w);
	emit_string(w, name, len);
	if (w->flags & SPIO_JSON_WRITE_FLAG_FORMATTED) {
		emit(w, ": ", 2);
	} else {
		emit_char(w, ':');
	}
	w->name_pending = true;
	return w->err;
}

int spio_json_write_name(struct spio_json_write_ctx *w, const char *name)
{
	if (w == NULL) {
		return -EINVAL;
	}
	if (name == NULL) {
		return w->err != 0 ? w->err : fail(w, "NULL name");
	}
	return spio_json_write_name_len(w, name, strlen(name));
}

static int write_literal(struct spio_json_write_ctx *w, const char *lit, size_t len)
{
	if (w == NULL) {
		return -EINVAL;
	}
	if (begin_value(w) != 0) {
		return w->err;
	}
	emit(w, lit, len);
	return w->err;
}

int spio_json_write_null(struct spio_json_write_ctx *w)
{
	return write_literal(w, "null", 4);
}

int spio_json_write_bool(struct spio_json_write_ctx *w, bool val)
{
	return val ? write_literal(w, "true", 4) : write_literal(w, "false", 5);
}

int spio_json_write_int32(struct spio_json_write_ctx *w, int32_t val)
{
	return w == NULL ? -EINVAL : write_i64(w, val);
}

int spio_json_write_uint32(struct spio_json_write_ctx *w, uint32_t val)
{
	return w == NULL ? -EINVAL : write_u64(w, val);
}

int spio_json_write_int64(struct spio_json_write_ctx *w, int64_t val)
{
	return w == NULL ? -EINVAL : write_i64(w, val);
}

int spio_json_write_uint64(struct spio_json_write_ctx *w, uint64_t val)
{
	return w == NULL ? -EINVAL : write_u64(w, val);
}

int spio_json_write_double(struct spio_json_write_ctx *w, double val)
{
	char buf[40];
	size_t len;

	if (w == NULL) {
		return -EINVAL;
	}
	if (w->err != 0) {
		return w->err;
	}
	if (!isfinite(val)) {
		return fail(w, "NaN or infinity has no JSON form");
	}
	if (begin_value(w) != 0) {
		return w->err;
	}
	len = format_double(buf, sizeof(buf), val);
	emit(w, buf, len);
	return w->err;
}

int spio_json_write_string_len(struct spio_json_write_ctx *w, const char *val, size_t len)
{
	if (w == NULL) {
		return -EINVAL;
	}
	if (w->err != 0) {
		return w->err;
	}
	if (val == NULL) {
		return fail(w, "NULL string");
	}
	if (begin_value(w) != 0) {
		return w->err;
	}
	return emit_string(w, val, len);
}

int spio_json_write_string(struct spio_json_write_ctx *w, const char *val)
{
	if (w == NULL) {
		return -EINVAL;
	}
	if (val == NULL) {
		return w->err != 0 ? w->err : fail(w, "NULL string");
	}
	return spio_json_write_string_len(w, val, strlen(val));
}

int spio_json_write_string_fmt_v(struct spio_json_write_ctx *w, const char *fmt, va_list args)
{
	char stack_buf[JSON_FMT_STACK_BUF];
	char *heap_buf;
	va_list copy;
	int len, rc;

	if (w == NULL) {
		return -EINVAL;
	}
	if (w->err != 0) {
		return w->err;
	}
	if (fmt == NULL) {
		return fail(w, "NULL format");
	}

	va_copy(copy, args);
	len = vsnprintf(stack_buf, sizeof(stack_buf), fmt, copy);
	va_end(copy);
	if (len < 0) {
		return fail(w, "format error");
	}
	if ((size_t)len < sizeof(stack_buf)) {
		return spio_json_write_string_len(w, stack_buf, (size_t)len);
	}

	heap_buf = malloc((size_t)len + 1);
	if (heap_buf == NULL) {
		return set_err(w, -ENOMEM);
	}
	vsnprintf(heap_buf, (size_t)len + 1, fmt, args);
	rc = spio_json_write_string_len(w, heap_buf, (size_t)len);
	free(heap_buf);
	return rc;
}

int spio_json_write_string_fmt(struct spio_json_write_ctx *w, const char *fmt, ...)
{
	va_list args;
	int rc;

	va_start(args, fmt);
	rc = spio_json_write_string_fmt_v(w, fmt, args);
	va_end(args);
	return rc;
}

static void emit_hex(struct spio_json_write_ctx *w, const uint8_t *bytes, size_t len)
{
	char chunk[128];
	size_t i, n;

	while (len > 0) {
		n = SPIO_MIN(len, sizeof(chunk) / 2);
		for (i = 0; i < n; i++) {
			chunk[2 * i] = g_hex[bytes[i] >> 4];
			chunk[2 * i + 1] = g_hex[bytes[i] & 0xf];
		}
		emit(w, chunk, 2 * n);
		bytes += n;
		len -= n;
	}
}

int spio_json_write_bytearray(struct spio_json_write_ctx *w, const void *val, size_t len)
{
	if (w == NULL) {
		return -EINVAL;
	}
	if (w->err != 0) {
		return w->err;
	}
	if (val == NULL) {
		return fail(w, "NULL byte array");
	}
	if (begin_value(w) != 0) {
		return w->err;
	}
	emit_char(w, '"');
	emit_hex(w, val, len);
	emit_char(w, '"');
	return w->err;
}

int spio_json_write_uuid(struct spio_json_write_ctx *w, const struct spio_uuid *uuid)
{
	/* byte counts of the five dash-separated groups */
	static const uint8_t groups[] = {4, 2, 2, 2, 6};
	const uint8_t *p;
	size_t g;

	if (w == NULL) {
		return -EINVAL;
	}
	if (w->err != 0) {
		return w->err;
	}
	if (uuid == NULL) {
		return fail(w, "NULL uuid");
	}
	if (begin_value(w) != 0) {
		return w->err;
	}
	emit_char(w, '"');
	p = uuid->u;
	for (g = 0; g < SPIO_COUNTOF(groups); g++) {
		if (g > 0) {
			emit_char(w, '-');
		}
		emit_hex(w, p, groups[g]);
		p += groups[g];
	}
	emit_char(w, '"');
	return w->err;
}

int spio_json_write_val_raw(struct spio_json_write_ctx *w, const void *data, size_t len)
{
	if (w == NULL) {
		return -EINVAL;
	}
	if (w->err != 0) {
		return w->err;
	}
	if (data == NULL || len == 0) {
		return fail(w, "empty raw value");
	}
	if (begin_value(w) != 0) {
		return w->err;
	}
	emit(w, data, len);
	return w->err;
}

int spio_json_write_named_string(struct spio_json_write_ctx *w, const char *name, const char *val)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_string(w, val);
}

int spio_json_write_named_string_len(struct spio_json_write_ctx *w, const char *name,
				     const char *val, size_t len)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_string_len(w, val, len);
}

int spio_json_write_named_string_fmt_v(struct spio_json_write_ctx *w, const char *name,
				       const char *fmt, va_list args)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_string_fmt_v(w, fmt, args);
}

int spio_json_write_named_string_fmt(struct spio_json_write_ctx *w, const char *name,
				     const char *fmt, ...)
{
	va_list args;
	int rc;

	va_start(args, fmt);
	rc = spio_json_write_named_string_fmt_v(w, name, fmt, args);
	va_end(args);
	return rc;
}

int spio_json_write_named_int32(struct spio_json_write_ctx *w, const char *name, int32_t val)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_int32(w, val);
}

int spio_json_write_named_uint32(struct spio_json_write_ctx *w, const char *name, uint32_t val)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_uint32(w, val);
}

int spio_json_write_named_int64(struct spio_json_write_ctx *w, const char *name, int64_t val)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_int64(w, val);
}

int spio_json_write_named_uint64(struct spio_json_write_ctx *w, const char *name, uint64_t val)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_uint64(w, val);
}

int spio_json_write_named_bool(struct spio_json_write_ctx *w, const char *name, bool val)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_bool(w, val);
}

int spio_json_write_named_double(struct spio_json_write_ctx *w, const char *name, double val)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_double(w, val);
}

int spio_json_write_named_null(struct spio_json_write_ctx *w, const char *name)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_null(w);
}

int spio_json_write_named_bytearray(struct spio_json_write_ctx *w, const char *name,
				    const void *val, size_t len)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_bytearray(w, val, len);
}

int spio_json_write_named_uuid(struct spio_json_write_ctx *w, const char *name,
			       const struct spio_uuid *uuid)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_uuid(w, uuid);
}

int spio_json_write_named_object_begin(struct spio_json_write_ctx *w, const char *name)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_object_begin(w);
}

int spio_json_write_named_array_begin(struct spio_json_write_ctx *w, const char *name)
{
	int rc = spio_json_write_name(w, name);

	return rc != 0 ? rc : spio_json_write_array_begin(w);
}
