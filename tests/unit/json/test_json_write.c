/*
 * Tests of the streaming JSON writer: every document produced is parsed back
 * with jansson and its values are compared with what was written.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spio/json.h"

#define R "\xef\xbf\xbd" /* U+FFFD in UTF-8 */

/* Collects the writer's output; can be told to fail on the n-th call. */
struct sink {
	char *data;
	size_t len;
	size_t cap;
	size_t calls;
	size_t max_chunk;
	size_t fail_at_call; /* 1-based; 0 = never */
	int fail_rc;
};

static int sink_cb(void *ctx, const void *data, size_t size)
{
	struct sink *s = ctx;

	cr_assert_gt(size, 0, "expected a non-empty chunk, got size 0");
	s->calls++;
	if (s->fail_at_call != 0 && s->calls >= s->fail_at_call) {
		return s->fail_rc;
	}
	if (s->len + size + 1 > s->cap) {
		s->cap = (s->len + size + 1) * 2;
		s->data = realloc(s->data, s->cap);
		cr_assert_not_null(s->data, "expected realloc to succeed");
	}
	memcpy(s->data + s->len, data, size);
	s->len += size;
	s->data[s->len] = '\0';
	if (size > s->max_chunk) {
		s->max_chunk = size;
	}
	return 0;
}

static struct spio_json_write_ctx *begin(struct sink *s, uint32_t flags)
{
	struct spio_json_write_ctx *w;

	memset(s, 0, sizeof(*s));
	w = spio_json_write_begin(sink_cb, s, flags);
	cr_assert_not_null(w, "expected a write context, got NULL (errno %d)", errno);
	return w;
}

static void end_ok(struct spio_json_write_ctx *w, struct sink *s)
{
	int rc = spio_json_write_end(w);

	cr_assert_eq(rc, 0, "expected write_end to return 0, got %d; output so far: %.200s", rc,
		     s->data ? s->data : "");
}

static json_t *parse_flags(const struct sink *s, size_t flags)
{
	json_error_t err;
	json_t *root;

	root = json_loadb(s->data ? s->data : "", s->len, JSON_DECODE_ANY | JSON_ALLOW_NUL | flags,
			  &err);
	cr_assert_not_null(root,
			   "expected valid JSON, got parse error '%s' at offset %d in: %.300s",
			   err.text, err.position, s->data ? s->data : "");
	return root;
}

static json_t *parse(const struct sink *s)
{
	return parse_flags(s, 0);
}

static void sink_free(struct sink *s)
{
	free(s->data);
	s->data = NULL;
}

static void expect_text(const struct sink *s, const char *expected)
{
	size_t n = strlen(expected);

	cr_assert(s->len == n && memcmp(s->data, expected, n) == 0,
		  "expected output '%s', got '%.*s'", expected, (int)s->len,
		  s->data ? s->data : "");
}

/*
 * Begin/end and argument checks
 */

Test(json_write_api, begin_rejects_null_callback)
{
	errno = 0;
	cr_assert_null(spio_json_write_begin(NULL, NULL, 0), "expected NULL for a NULL callback");
	cr_assert_eq(errno, EINVAL, "expected errno EINVAL, got %d", errno);
}

Test(json_write_api, begin_rejects_unknown_flags)
{
	struct sink s = {0};

	errno = 0;
	cr_assert_null(spio_json_write_begin(sink_cb, &s, 0x80), "expected NULL for flag 0x80");
	cr_assert_eq(errno, EINVAL, "expected errno EINVAL, got %d", errno);
}

Test(json_write_api, null_context_is_einval)
{
	struct spio_uuid u = {{0}};

	cr_assert_eq(spio_json_write_end(NULL), -EINVAL, "write_end(NULL): expected -EINVAL");
	cr_assert_eq(spio_json_write_object_begin(NULL), -EINVAL, "object_begin(NULL)");
	cr_assert_eq(spio_json_write_object_end(NULL), -EINVAL, "object_end(NULL)");
	cr_assert_eq(spio_json_write_array_begin(NULL), -EINVAL, "array_begin(NULL)");
	cr_assert_eq(spio_json_write_array_end(NULL), -EINVAL, "array_end(NULL)");
	cr_assert_eq(spio_json_write_name(NULL, "a"), -EINVAL, "name(NULL)");
	cr_assert_eq(spio_json_write_name_len(NULL, "a", 1), -EINVAL, "name_len(NULL)");
	cr_assert_eq(spio_json_write_null(NULL), -EINVAL, "null(NULL)");
	cr_assert_eq(spio_json_write_bool(NULL, true), -EINVAL, "bool(NULL)");
	cr_assert_eq(spio_json_write_int32(NULL, 1), -EINVAL, "int32(NULL)");
	cr_assert_eq(spio_json_write_uint32(NULL, 1), -EINVAL, "uint32(NULL)");
	cr_assert_eq(spio_json_write_int64(NULL, 1), -EINVAL, "int64(NULL)");
	cr_assert_eq(spio_json_write_uint64(NULL, 1), -EINVAL, "uint64(NULL)");
	cr_assert_eq(spio_json_write_double(NULL, 1.0), -EINVAL, "double(NULL)");
	cr_assert_eq(spio_json_write_string(NULL, "a"), -EINVAL, "string(NULL)");
	cr_assert_eq(spio_json_write_string_len(NULL, "a", 1), -EINVAL, "string_len(NULL)");
	cr_assert_eq(spio_json_write_string_fmt(NULL, "%d", 1), -EINVAL, "string_fmt(NULL)");
	cr_assert_eq(spio_json_write_bytearray(NULL, "a", 1), -EINVAL, "bytearray(NULL)");
	cr_assert_eq(spio_json_write_uuid(NULL, &u), -EINVAL, "uuid(NULL)");
	cr_assert_eq(spio_json_write_val_raw(NULL, "1", 1), -EINVAL, "val_raw(NULL)");
	cr_assert_eq(spio_json_write_named_string(NULL, "a", "b"), -EINVAL, "named_string(NULL)");
	cr_assert_eq(spio_json_write_named_uint64(NULL, "a", 1), -EINVAL, "named_uint64(NULL)");
	cr_assert_eq(spio_json_write_named_object_begin(NULL, "a"), -EINVAL, "named_obj(NULL)");
}

Test(json_write_api, empty_document_writes_nothing)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, SPIO_JSON_WRITE_FLAG_FORMATTED);

	end_ok(w, &s);
	cr_assert_eq(s.calls, 0, "expected no callback call, got %zu", s.calls);
	cr_assert_eq(s.len, 0, "expected no output, got %zu bytes", s.len);
}

/*
 * Scalars
 */

Test(json_write_values, top_level_scalars)
{
	static const struct {
		int kind;
		const char *text;
	} cases[] = {
	    {0, "null"},
	    {1, "true"},
	    {2, "false"},
	    {3, "-2147483648"},
	    {4, "4294967295"},
	    {5, "-9223372036854775808"},
	    {6, "9223372036854775807"},
	    {7, "0"},
	    {8, "\"hi\""},
	};
	size_t i;

	for (i = 0; i < SPIO_COUNTOF(cases); i++) {
		struct sink s;
		struct spio_json_write_ctx *w = begin(&s, 0);
		int rc = -1;
		json_t *v;

		switch (cases[i].kind) {
		case 0:
			rc = spio_json_write_null(w);
			break;
		case 1:
			rc = spio_json_write_bool(w, true);
			break;
		case 2:
			rc = spio_json_write_bool(w, false);
			break;
		case 3:
			rc = spio_json_write_int32(w, INT32_MIN);
			break;
		case 4:
			rc = spio_json_write_uint32(w, UINT32_MAX);
			break;
		case 5:
			rc = spio_json_write_int64(w, INT64_MIN);
			break;
		case 6:
			rc = spio_json_write_int64(w, INT64_MAX);
			break;
		case 7:
			rc = spio_json_write_uint64(w, 0);
			break;
		case 8:
			rc = spio_json_write_string(w, "hi");
			break;
		}
		cr_assert_eq(rc, 0, "case %zu: expected 0 from the write, got %d", i, rc);
		end_ok(w, &s);
		expect_text(&s, cases[i].text);
		v = parse(&s);
		json_decref(v);
		sink_free(&s);
	}
}

Test(json_write_values, integer_limits)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	json_t *root;
	static const long long expected[] = {
	    INT32_MIN, INT32_MAX, UINT32_MAX, INT64_MIN, INT64_MAX, 0, -1, INT64_MAX, 42,
	};
	size_t i;

	spio_json_write_array_begin(w);
	spio_json_write_int32(w, INT32_MIN);
	spio_json_write_int32(w, INT32_MAX);
	spio_json_write_uint32(w, UINT32_MAX);
	spio_json_write_int64(w, INT64_MIN);
	spio_json_write_int64(w, INT64_MAX);
	spio_json_write_int64(w, 0);
	spio_json_write_int32(w, -1);
	spio_json_write_uint64(w, INT64_MAX);
	spio_json_write_uint32(w, 42);
	spio_json_write_array_end(w);
	end_ok(w, &s);
	expect_text(&s, "[-2147483648,2147483647,4294967295,-9223372036854775808,"
			"9223372036854775807,0,-1,9223372036854775807,42]");

	root = parse(&s);
	cr_assert_eq(json_array_size(root), SPIO_COUNTOF(expected),
		     "expected %zu elements, got %zu", SPIO_COUNTOF(expected),
		     json_array_size(root));
	for (i = 0; i < SPIO_COUNTOF(expected); i++) {
		json_t *v = json_array_get(root, i);

		cr_assert(json_is_integer(v), "element %zu: expected an integer", i);
		cr_assert_eq(json_integer_value(v), expected[i],
			     "element %zu: expected %lld, got %lld", i, expected[i],
			     json_integer_value(v));
	}
	json_decref(root);
	sink_free(&s);
}

Test(json_write_values, uint64_max)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	json_t *root;

	spio_json_write_array_begin(w);
	spio_json_write_uint64(w, UINT64_MAX);
	spio_json_write_array_end(w);
	end_ok(w, &s);
	expect_text(&s, "[18446744073709551615]");

	/* jansson's integers are signed 64-bit: read it as a real to check validity */
	root = parse_flags(&s, JSON_DECODE_INT_AS_REAL);
	cr_assert_eq(json_real_value(json_array_get(root, 0)), 18446744073709551615.0,
		     "expected 2^64 as real, got %.17g", json_real_value(json_array_get(root, 0)));
	json_decref(root);
	sink_free(&s);
}

static void check_double(double val, const char *text)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	json_t *root, *v;
	double got;
	int rc;

	spio_json_write_array_begin(w);
	rc = spio_json_write_double(w, val);
	cr_assert_eq(rc, 0, "double %.17g: expected 0, got %d", val, rc);
	spio_json_write_array_end(w);
	end_ok(w, &s);
	if (text != NULL) {
		char expected[64];

		snprintf(expected, sizeof(expected), "[%s]", text);
		expect_text(&s, expected);
	}

	root = parse(&s);
	v = json_array_get(root, 0);
	cr_assert(json_is_real(v), "double %.17g: expected a real in '%s'", val, s.data);
	got = json_real_value(v);
	cr_assert(memcmp(&got, &val, sizeof(got)) == 0,
		  "double: expected %a to round-trip, got %a from '%s'", val, got, s.data);
	json_decref(root);
	sink_free(&s);
}

Test(json_write_values, doubles_round_trip)
{
	check_double(0.1, "0.1");
	check_double(1e300, "1e+300");
	check_double(-0.0, "-0.0");
	check_double(0.0, "0.0");
	check_double(1.0, "1.0");
	check_double(-2.5, "-2.5");
	check_double(123456789.125, "123456789.125");
	check_double(5e-324, NULL);
	check_double(1.7976931348623157e308, NULL);
	check_double(2.2250738585072014e-308, NULL);
	check_double(0.30000000000000004, "0.30000000000000004");
	check_double(1.0 / 3.0, NULL);
	check_double(9007199254740993.0, NULL);
	check_double(1e15, NULL);
	check_double(1e16, NULL);
}

Test(json_write_values, doubles_random_bit_patterns)
{
	enum { N = 20000 };
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	static double vals[N];
	json_t *root;
	size_t i;

	spio_json_write_array_begin(w);
	for (i = 0; i < N; i++) {
		uint64_t bits;

		do {
			/* xorshift64 */
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			bits = x;
			memcpy(&vals[i], &bits, sizeof(bits));
		} while (!isfinite(vals[i]));
		spio_json_write_double(w, vals[i]);
	}
	spio_json_write_array_end(w);
	end_ok(w, &s);

	root = parse(&s);
	cr_assert_eq(json_array_size(root), N, "expected %d doubles, got %zu", N,
		     json_array_size(root));
	for (i = 0; i < N; i++) {
		double got = json_real_value(json_array_get(root, i));

		cr_assert(memcmp(&got, &vals[i], sizeof(got)) == 0,
			  "element %zu: expected %a, got %a", i, vals[i], got);
	}
	json_decref(root);
	sink_free(&s);
}

Test(json_write_values, nan_and_infinity_rejected)
{
	const double bad[] = {NAN, INFINITY, -INFINITY};
	size_t i;

	for (i = 0; i < SPIO_COUNTOF(bad); i++) {
		struct sink s;
		struct spio_json_write_ctx *w = begin(&s, 0);
		int rc;

		spio_json_write_object_begin(w);
		rc = spio_json_write_named_double(w, "x", bad[i]);
		cr_assert_eq(rc, -EINVAL, "double %g: expected -EINVAL, got %d", bad[i], rc);
		rc = spio_json_write_object_end(w);
		cr_assert_eq(rc, -EINVAL, "after %g: expected sticky -EINVAL, got %d", bad[i], rc);
		rc = spio_json_write_end(w);
		cr_assert_eq(rc, -EINVAL, "write_end after %g: expected -EINVAL, got %d", bad[i],
			     rc);
		sink_free(&s);
	}
}

Test(json_write_values, bytearray_and_uuid)
{
	static const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xff, 0x7f};
	struct spio_uuid u = {{0x0e, 0x7f, 0x8a, 0x3c, 0x12, 0x34, 0x45, 0x67, 0x89, 0xab, 0xcd,
			       0xef, 0x01, 0x23, 0x45, 0x67}};
	uint8_t big[3000];
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	json_t *root;
	const char *str;
	size_t i;

	for (i = 0; i < sizeof(big); i++) {
		big[i] = (uint8_t)(i * 7);
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_bytearray(w, "b", bytes, sizeof(bytes));
	spio_json_write_named_bytearray(w, "empty", bytes, 0);
	spio_json_write_named_uuid(w, "uuid", &u);
	spio_json_write_named_bytearray(w, "big", big, sizeof(big));
	spio_json_write_object_end(w);
	end_ok(w, &s);

	root = parse(&s);
	str = json_string_value(json_object_get(root, "b"));
	cr_assert_str_eq(str, "0001abff7f", "bytearray: expected 0001abff7f, got %s", str);
	str = json_string_value(json_object_get(root, "empty"));
	cr_assert_str_eq(str, "", "empty bytearray: expected \"\", got %s", str);
	str = json_string_value(json_object_get(root, "uuid"));
	cr_assert_str_eq(str, "0e7f8a3c-1234-4567-89ab-cdef01234567", "uuid: got %s", str);
	str = json_string_value(json_object_get(root, "big"));
	cr_assert_eq(strlen(str), 2 * sizeof(big),
		     "big bytearray: expected %zu hex digits, got %zu", 2 * sizeof(big),
		     strlen(str));
	for (i = 0; i < sizeof(big); i++) {
		unsigned int b;

		sscanf(str + 2 * i, "%2x", &b);
		cr_assert_eq(b, big[i], "big bytearray byte %zu: expected %u, got %u", i, big[i],
			     b);
	}
	json_decref(root);
	sink_free(&s);
}

Test(json_write_values, val_raw)
{
	static const char raw[] = "{\"x\":[1,2,{\"y\":null}]}";
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	json_t *root, *expected;
	json_error_t err;

	spio_json_write_array_begin(w);
	spio_json_write_int32(w, 1);
	cr_assert_eq(spio_json_write_val_raw(w, raw, strlen(raw)), 0, "val_raw: expected 0");
	spio_json_write_object_begin(w);
	spio_json_write_name(w, "r");
	spio_json_write_val_raw(w, "[true]", 6);
	spio_json_write_object_end(w);
	spio_json_write_int32(w, 2);
	spio_json_write_array_end(w);
	end_ok(w, &s);

	root = parse(&s);
	expected = json_loads("[1,{\"x\":[1,2,{\"y\":null}]},{\"r\":[true]},2]", 0, &err);
	cr_assert(json_equal(root, expected), "val_raw: unexpected document '%s'", s.data);
	json_decref(root);
	json_decref(expected);
	sink_free(&s);
}

/*
 * Strings
 */

/* Write one string value (top level) and return the parsed result. */
static json_t *write_string(struct sink *s, const char *str, size_t len, uint32_t flags)
{
	struct spio_json_write_ctx *w = begin(s, flags);
	int rc = spio_json_write_string_len(w, str, len);

	cr_assert_eq(rc, 0, "string_len: expected 0, got %d", rc);
	end_ok(w, s);
	return parse(s);
}

static void expect_string(json_t *v, const char *expected, size_t len, const char *what)
{
	cr_assert(json_is_string(v), "%s: expected a string", what);
	cr_assert(json_string_length(v) == len && memcmp(json_string_value(v), expected, len) == 0,
		  "%s: expected %zu bytes '%.*s', got %zu bytes '%s'", what, len, (int)len,
		  expected, json_string_length(v), json_string_value(v));
}

Test(json_write_strings, every_control_character)
{
	unsigned int c;

	for (c = 0; c < 0x20; c++) {
		char in[3] = {'a', (char)c, 'b'};
		char expected[16];
		struct sink s;
		json_t *v;

		switch (c) {
		case '\b':
			strcpy(expected, "\"a\\bb\"");
			break;
		case '\f':
			strcpy(expected, "\"a\\fb\"");
			break;
		case '\n':
			strcpy(expected, "\"a\\nb\"");
			break;
		case '\r':
			strcpy(expected, "\"a\\rb\"");
			break;
		case '\t':
			strcpy(expected, "\"a\\tb\"");
			break;
		default:
			snprintf(expected, sizeof(expected), "\"a\\u%04xb\"", c);
		}
		v = write_string(&s, in, sizeof(in), 0);
		expect_text(&s, expected);
		expect_string(v, in, sizeof(in), "control character");
		json_decref(v);
		sink_free(&s);
	}
}

Test(json_write_strings, quote_backslash_slash)
{
	static const char in[] = "a\"b\\c/d\x7f";
	struct sink s;
	json_t *v = write_string(&s, in, strlen(in), 0);

	expect_text(&s, "\"a\\\"b\\\\c/d\x7f\"");
	expect_string(v, in, strlen(in), "quote/backslash");
	json_decref(v);
	sink_free(&s);
}

Test(json_write_strings, embedded_nul)
{
	struct sink s;
	json_t *v = write_string(&s, "a\0b", 3, 0);

	expect_text(&s, "\"a\\u0000b\"");
	expect_string(v, "a\0b", 3, "embedded NUL");
	json_decref(v);
	sink_free(&s);
}

Test(json_write_strings, valid_utf8_preserved)
{
	static const char *const valid[] = {
	    "\xc2\x80",		 /* U+0080 */
	    "\xc3\xa9t\xc3\xa9", /* été */
	    "\xdf\xbf",		 /* U+07FF */
	    "\xe0\xa0\x80",	 /* U+0800 */
	    "\xe2\x82\xac",	 /* € */
	    "\xe2\x80\xa7",	 /* U+2027, next to the escaped U+2028 */
	    "\xe2\x80\xaa",	 /* U+202A */
	    "\xed\x9f\xbf",	 /* U+D7FF */
	    "\xee\x80\x80",	 /* U+E000 */
	    "\xef\xbf\xbd",	 /* U+FFFD */
	    "\xef\xbf\xbf",	 /* U+FFFF */
	    "\xf0\x90\x80\x80",	 /* U+10000 */
	    "\xf0\x9d\x84\x9e",	 /* musical G clef */
	    "\xf3\xbf\xbf\xbf",	 /* U+FFFFF */
	    "\xf4\x8f\xbf\xbf",	 /* U+10FFFF */
	    "mixed \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 end",
	};
	size_t i;

	for (i = 0; i < SPIO_COUNTOF(valid); i++) {
		char expected[128];
		struct sink s;
		json_t *v = write_string(&s, valid[i], strlen(valid[i]), 0);

		snprintf(expected, sizeof(expected), "\"%s\"", valid[i]);
		expect_text(&s, expected);
		expect_string(v, valid[i], strlen(valid[i]), "valid UTF-8");
		json_decref(v);
		sink_free(&s);
	}
}

Test(json_write_strings, line_and_paragraph_separators_escaped)
{
	static const char in[] = "a\xe2\x80\xa8"
				 "b\xe2\x80\xa9";
	struct sink s;
	json_t *v = write_string(&s, in, strlen(in), 0);

	expect_text(&s, "\"a\\u2028b\\u2029\"");
	expect_string(v, in, strlen(in), "U+2028/U+2029");
	json_decref(v);
	sink_free(&s);
}

Test(json_write_strings, invalid_utf8_replaced)
{
	static const struct {
		const char *what;
		const char *in;
		const char *out;
	} cases[] = {
	    {"stray continuation", "\x80", R},
	    {"stray continuation bf", "a\xbf", "a" R},
	    {"two stray continuations", "a\x80\x80z", "a" R R "z"},
	    {"C0 overlong", "\xc0\xaf", R R},
	    {"C1 overlong", "\xc1\xbf", R R},
	    {"C0 80 (overlong NUL)", "\xc0\x80", R R},
	    {"3-byte overlong", "\xe0\x80\xaf", R R R},
	    {"3-byte overlong 9f", "\xe0\x9f\xbf", R R R},
	    {"4-byte overlong", "\xf0\x80\x80\xaf", R R R R},
	    {"4-byte overlong 8f", "\xf0\x8f\xbf\xbf", R R R R},
	    {"high surrogate", "\xed\xa0\x80", R R R},
	    {"low surrogate", "\xed\xbf\xbf", R R R},
	    {"surrogate pair", "\xed\xa0\xbd\xed\xb2\xa9", R R R R R R},
	    {"above U+10FFFF", "\xf4\x90\x80\x80", R R R R},
	    {"F5 lead", "\xf5\x80\x80\x80", R R R R},
	    {"F8 5-byte form", "\xf8\x88\x80\x80\x80", R R R R R},
	    {"FE", "\xfe", R},
	    {"FF", "x\xffy", "x" R "y"},
	    {"truncated 2-byte at end", "ab\xc3", "ab" R},
	    {"truncated 3-byte at end", "a\xe2\x82", "a" R},
	    {"truncated 3-byte before ASCII",
	     "\xe2\x82"
	     "b",
	     R "b"},
	    {"truncated 4-byte at end", "\xf0\x9d\x84", R},
	    {"truncated 4-byte before ASCII", "\xf0\x9d\x84x", R "x"},
	    {"truncated 4-byte after 2", "\xf0\x9d", R},
	    {"truncated U+10FFFF", "\xf4\x8f\xbf", R},
	    {"lead then bad second", "\xe2\x28\xa1", R "(" R},
	    {"lead then lead", "\xc3\xc3\xa9", R "\xc3\xa9"},
	    {"valid around invalid", "\xc3\xa9\xff\xc3\xa9", "\xc3\xa9" R "\xc3\xa9"},
	    {"4-byte lead then 2-byte char", "\xf0\xc3\xa9", R "\xc3\xa9"},
	};
	size_t i;

	for (i = 0; i < SPIO_COUNTOF(cases); i++) {
		char expected[128];
		struct sink s;
		json_t *v = write_string(&s, cases[i].in, strlen(cases[i].in), 0);

		snprintf(expected, sizeof(expected), "\"%s\"", cases[i].out);
		expect_text(&s, expected);
		expect_string(v, cases[i].out, strlen(cases[i].out), cases[i].what);
		json_decref(v);
		sink_free(&s);
	}
}

Test(json_write_strings, invalid_then_escape)
{
	static const char in[] = "\x80\xe2\x80\xa8\n\xed\xa0\x80\"";
	static const char out[] = R "\xe2\x80\xa8\n" R R R "\"";
	struct sink s;
	json_t *v = write_string(&s, in, strlen(in), 0);

	expect_text(&s, "\"" R "\\u2028\\n" R R R "\\\"\"");
	expect_string(v, out, strlen(out), "invalid UTF-8 next to escapes");
	json_decref(v);
	sink_free(&s);
}

Test(json_write_strings, names_escaped)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	json_t *root;

	spio_json_write_object_begin(w);
	spio_json_write_named_int32(w, "line\nbreak", 1);
	spio_json_write_named_int32(w, "quo\"te", 2);
	spio_json_write_named_int32(w, "bad\xff", 3);
	spio_json_write_name_len(w, "abcdef", 3);
	spio_json_write_int32(w, 4);
	spio_json_write_named_int32(w, "\xc3\xa9t\xc3\xa9", 5);
	spio_json_write_object_end(w);
	end_ok(w, &s);

	root = parse(&s);
	cr_assert_eq(json_object_size(root), 5, "expected 5 members, got %zu",
		     json_object_size(root));
	cr_assert_eq(json_integer_value(json_object_get(root, "line\nbreak")), 1, "line\\nbreak");
	cr_assert_eq(json_integer_value(json_object_get(root, "quo\"te")), 2, "quo\"te");
	cr_assert_eq(json_integer_value(json_object_get(root, "bad" R)), 3,
		     "bad\\xff -> bad U+FFFD");
	cr_assert_eq(json_integer_value(json_object_get(root, "abc")), 4, "name_len 3 -> abc");
	cr_assert_eq(json_integer_value(json_object_get(root, "\xc3\xa9t\xc3\xa9")), 5,
		     "utf-8 name");
	json_decref(root);
	sink_free(&s);
}

Test(json_write_strings, string_fmt)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	char *long_arg = malloc(10001);
	json_t *root;
	const char *str;

	memset(long_arg, 'x', 10000);
	long_arg[10000] = '\0';
	spio_json_write_object_begin(w);
	spio_json_write_name(w, "a");
	cr_assert_eq(spio_json_write_string_fmt(w, "%s-%d-%05.1f", "Malloc", 7, 2.5), 0,
		     "string_fmt: expected 0");
	spio_json_write_named_string_fmt(w, "b", "q\"%s\"\n", "v");
	spio_json_write_named_string_fmt(w, "long", "<%s>", long_arg);
	spio_json_write_named_string_fmt(w, "empty", "%s", "");
	spio_json_write_object_end(w);
	end_ok(w, &s);

	root = parse(&s);
	str = json_string_value(json_object_get(root, "a"));
	cr_assert_str_eq(str, "Malloc-7-002.5", "fmt: expected Malloc-7-002.5, got %s", str);
	str = json_string_value(json_object_get(root, "b"));
	cr_assert_str_eq(str, "q\"v\"\n", "fmt with escapes: got %s", str);
	str = json_string_value(json_object_get(root, "long"));
	cr_assert_eq(strlen(str), 10002, "long fmt: expected 10002 chars, got %zu", strlen(str));
	cr_assert(str[0] == '<' && str[10001] == '>' && strspn(str + 1, "x") == 10000,
		  "long fmt: content mangled");
	str = json_string_value(json_object_get(root, "empty"));
	cr_assert_str_eq(str, "", "empty fmt: got '%s'", str);
	json_decref(root);
	free(long_arg);
	sink_free(&s);
}

Test(json_write_strings, huge_string_crosses_buffer)
{
	/* 1 MiB of ASCII, escapes and multi-byte characters, as one token */
	static const char *const pieces[] = {"abc", "\n", "\"", "\xc3\xa9", "\xf0\x9f\x98\x80",
					     "\\",  "\t", "/",	"\x01",	    "\xe2\x80\xa8"};
	size_t cap = 1 << 20, len = 0, i = 0;
	char *in = malloc(cap + 8);
	struct sink s;
	json_t *v;

	while (len < cap) {
		const char *p = pieces[i++ % SPIO_COUNTOF(pieces)];

		memcpy(in + len, p, strlen(p));
		len += strlen(p);
	}
	v = write_string(&s, in, len, 0);
	expect_string(v, in, len, "1 MiB string");
	json_decref(v);
	free(in);
	sink_free(&s);
}

/*
 * Structure
 */

static void write_sample(struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_int32(w, "a", 1);
	spio_json_write_named_array_begin(w, "b");
	spio_json_write_bool(w, true);
	spio_json_write_null(w);
	spio_json_write_array_end(w);
	spio_json_write_named_object_begin(w, "c");
	spio_json_write_object_end(w);
	spio_json_write_named_array_begin(w, "d");
	spio_json_write_array_end(w);
	spio_json_write_named_object_begin(w, "e");
	spio_json_write_named_string(w, "f", "g");
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

Test(json_write_structure, compact_exact_text)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	json_t *root;

	write_sample(w);
	end_ok(w, &s);
	expect_text(&s, "{\"a\":1,\"b\":[true,null],\"c\":{},\"d\":[],\"e\":{\"f\":\"g\"}}");
	root = parse(&s);
	json_decref(root);
	sink_free(&s);
}

Test(json_write_structure, formatted_exact_text)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, SPIO_JSON_WRITE_FLAG_FORMATTED);
	json_t *root;

	write_sample(w);
	end_ok(w, &s);
	expect_text(&s, "{\n"
			"  \"a\": 1,\n"
			"  \"b\": [\n"
			"    true,\n"
			"    null\n"
			"  ],\n"
			"  \"c\": {},\n"
			"  \"d\": [],\n"
			"  \"e\": {\n"
			"    \"f\": \"g\"\n"
			"  }\n"
			"}\n");
	root = parse(&s);
	json_decref(root);
	sink_free(&s);
}

static void write_complex(struct spio_json_write_ctx *w, int n)
{
	struct spio_uuid u = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
	int i;

	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_get_bdevs");
	spio_json_write_named_array_begin(w, "result");
	for (i = 0; i < n; i++) {
		spio_json_write_object_begin(w);
		spio_json_write_named_string_fmt(w, "name", "Malloc%d", i);
		spio_json_write_named_uint32(w, "block_size", 512);
		spio_json_write_named_uint64(w, "num_blocks", (uint64_t)i * 1000003);
		spio_json_write_named_int64(w, "delta", -(int64_t)i);
		spio_json_write_named_double(w, "ratio", i / 7.0);
		spio_json_write_named_bool(w, "claimed", i % 2);
		spio_json_write_named_null(w, "alias");
		spio_json_write_named_uuid(w, "uuid", &u);
		spio_json_write_named_object_begin(w, "nested");
		spio_json_write_named_array_begin(w, "empty");
		spio_json_write_array_end(w);
		spio_json_write_object_end(w);
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
	spio_json_write_object_end(w);
}

Test(json_write_structure, formatted_and_compact_parse_equal)
{
	struct sink a, b;
	struct spio_json_write_ctx *wa = begin(&a, 0);
	struct spio_json_write_ctx *wb = begin(&b, SPIO_JSON_WRITE_FLAG_FORMATTED);
	json_t *ra, *rb, *item;

	write_complex(wa, 50);
	write_complex(wb, 50);
	end_ok(wa, &a);
	end_ok(wb, &b);
	cr_assert_gt(b.len, a.len, "expected formatted output (%zu) longer than compact (%zu)",
		     b.len, a.len);
	ra = parse(&a);
	rb = parse(&b);
	cr_assert(json_equal(ra, rb), "expected formatted and compact documents to be equal");

	item = json_array_get(json_object_get(ra, "result"), 7);
	cr_assert_str_eq(json_string_value(json_object_get(item, "name")), "Malloc7", "name");
	cr_assert_eq(json_integer_value(json_object_get(item, "num_blocks")), 7000021,
		     "num_blocks");
	cr_assert_eq(json_integer_value(json_object_get(item, "delta")), -7, "delta");
	cr_assert_eq(json_real_value(json_object_get(item, "ratio")), 1.0, "ratio 7/7");
	cr_assert(json_is_true(json_object_get(item, "claimed")), "claimed: expected true");
	cr_assert(json_is_null(json_object_get(item, "alias")), "alias: expected null");
	cr_assert_str_eq(json_string_value(json_object_get(item, "uuid")),
			 "01020304-0506-0708-090a-0b0c0d0e0f10", "uuid");
	json_decref(ra);
	json_decref(rb);
	sink_free(&a);
	sink_free(&b);
}

Test(json_write_structure, deep_nesting)
{
	enum { DEPTH = 1000 };
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, SPIO_JSON_WRITE_FLAG_FORMATTED);
	json_t *root, *v;
	int i;

	for (i = 0; i < DEPTH; i++) {
		if (i % 2 == 0) {
			spio_json_write_array_begin(w);
		} else {
			spio_json_write_object_begin(w);
			spio_json_write_name(w, "k");
		}
	}
	spio_json_write_int32(w, 42);
	for (i = DEPTH - 1; i >= 0; i--) {
		int rc = i % 2 == 0 ? spio_json_write_array_end(w) : spio_json_write_object_end(w);

		cr_assert_eq(rc, 0, "closing level %d: expected 0, got %d", i, rc);
	}
	end_ok(w, &s);

	root = parse(&s);
	v = root;
	for (i = 0; i < DEPTH; i++) {
		v = i % 2 == 0 ? json_array_get(v, 0) : json_object_get(v, "k");
		cr_assert_not_null(v, "level %d: expected a child", i);
	}
	cr_assert_eq(json_integer_value(v), 42, "innermost: expected 42, got %lld",
		     json_integer_value(v));
	json_decref(root);
	sink_free(&s);
}

/* Each case makes one structural mistake and returns that call's result. */
static int err_value_without_name(struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	return spio_json_write_int32(w, 1);
}

static int err_object_without_name(struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_int32(w, "a", 1);
	return spio_json_write_object_begin(w);
}

static int err_name_at_top_level(struct spio_json_write_ctx *w)
{
	return spio_json_write_name(w, "a");
}

static int err_name_in_array(struct spio_json_write_ctx *w)
{
	spio_json_write_array_begin(w);
	return spio_json_write_named_null(w, "a");
}

static int err_two_names(struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	spio_json_write_name(w, "a");
	return spio_json_write_name(w, "b");
}

static int err_object_end_in_array(struct spio_json_write_ctx *w)
{
	spio_json_write_array_begin(w);
	return spio_json_write_object_end(w);
}

static int err_array_end_in_object(struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	return spio_json_write_array_end(w);
}

static int err_end_after_name(struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	spio_json_write_name(w, "a");
	return spio_json_write_object_end(w);
}

static int err_close_at_top_level(struct spio_json_write_ctx *w)
{
	return spio_json_write_array_end(w);
}

static int err_extra_close(struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	spio_json_write_object_end(w);
	return spio_json_write_object_end(w);
}

static int err_second_top_level_scalar(struct spio_json_write_ctx *w)
{
	spio_json_write_int32(w, 1);
	return spio_json_write_int32(w, 2);
}

static int err_second_top_level_object(struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	spio_json_write_object_end(w);
	return spio_json_write_object_begin(w);
}

static int err_unclosed_object(struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	return spio_json_write_named_int32(w, "a", 1) == 0 ? -EINVAL : 0;
}

static int err_unclosed_array(struct spio_json_write_ctx *w)
{
	spio_json_write_array_begin(w);
	spio_json_write_array_begin(w);
	return spio_json_write_array_end(w) == 0 ? -EINVAL : 0;
}

static int err_unclosed_pending_name(struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	return spio_json_write_name(w, "a") == 0 ? -EINVAL : 0;
}

static int err_null_string(struct spio_json_write_ctx *w)
{
	return spio_json_write_string(w, NULL);
}

static int err_null_string_len(struct spio_json_write_ctx *w)
{
	return spio_json_write_string_len(w, NULL, 0);
}

static int err_null_name(struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	return spio_json_write_named_string(w, NULL, "x");
}

static int err_null_bytearray(struct spio_json_write_ctx *w)
{
	return spio_json_write_bytearray(w, NULL, 4);
}

static int err_null_uuid(struct spio_json_write_ctx *w)
{
	return spio_json_write_uuid(w, NULL);
}

static int err_empty_raw(struct spio_json_write_ctx *w)
{
	return spio_json_write_val_raw(w, "1", 0);
}

static int err_null_raw(struct spio_json_write_ctx *w)
{
	return spio_json_write_val_raw(w, NULL, 3);
}

/* Passes a NULL format through the va_list entry point without a compiler warning. */
static int fmt_v_helper(struct spio_json_write_ctx *w, const char *fmt, ...)
{
	va_list args;
	int rc;

	va_start(args, fmt);
	rc = spio_json_write_string_fmt_v(w, fmt, args);
	va_end(args);
	return rc;
}

static int err_null_fmt(struct spio_json_write_ctx *w)
{
	return fmt_v_helper(w, NULL, 1);
}

Test(json_write_structure, errors_are_sticky_einval)
{
	static const struct {
		const char *name;
		int (*fn)(struct spio_json_write_ctx *w);
	} cases[] = {
	    {"value in object without name", err_value_without_name},
	    {"object in object without name", err_object_without_name},
	    {"name at top level", err_name_at_top_level},
	    {"name in array", err_name_in_array},
	    {"two names in a row", err_two_names},
	    {"object_end in array", err_object_end_in_array},
	    {"array_end in object", err_array_end_in_object},
	    {"object_end after name", err_end_after_name},
	    {"close at top level", err_close_at_top_level},
	    {"extra close", err_extra_close},
	    {"second top-level scalar", err_second_top_level_scalar},
	    {"second top-level object", err_second_top_level_object},
	    {"unclosed object", err_unclosed_object},
	    {"unclosed arrays", err_unclosed_array},
	    {"unclosed with pending name", err_unclosed_pending_name},
	    {"NULL string", err_null_string},
	    {"NULL string_len", err_null_string_len},
	    {"NULL name", err_null_name},
	    {"NULL bytearray", err_null_bytearray},
	    {"NULL uuid", err_null_uuid},
	    {"empty raw", err_empty_raw},
	    {"NULL raw", err_null_raw},
	    {"NULL format", err_null_fmt},
	};
	size_t i;

	for (i = 0; i < SPIO_COUNTOF(cases); i++) {
		struct sink s;
		struct spio_json_write_ctx *w =
		    begin(&s, i % 2 ? SPIO_JSON_WRITE_FLAG_FORMATTED : 0);
		int rc = cases[i].fn(w);

		cr_assert_eq(rc, -EINVAL, "%s: expected -EINVAL from the bad call, got %d",
			     cases[i].name, rc);
		rc = spio_json_write_null(w);
		if (rc == 0) {
			/* unclosed-container cases are only detected by write_end */
			cr_assert(strncmp(cases[i].name, "unclosed", 8) == 0,
				  "%s: expected a sticky -EINVAL from a later call, got 0",
				  cases[i].name);
		} else {
			cr_assert_eq(rc, -EINVAL, "%s: expected sticky -EINVAL, got %d",
				     cases[i].name, rc);
			rc = spio_json_write_array_begin(w);
			cr_assert_eq(rc, -EINVAL, "%s: expected sticky -EINVAL, got %d",
				     cases[i].name, rc);
		}
		rc = spio_json_write_end(w);
		cr_assert_eq(rc, -EINVAL, "%s: expected -EINVAL from write_end, got %d",
			     cases[i].name, rc);
		sink_free(&s);
	}
}

Test(json_write_structure, error_stops_output)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	size_t calls;
	int i;

	spio_json_write_array_begin(w);
	spio_json_write_name(w, "oops");
	calls = s.calls;
	for (i = 0; i < 10000; i++) {
		cr_assert_eq(spio_json_write_string(w, "padding padding"), -EINVAL,
			     "expected sticky -EINVAL at element %d", i);
	}
	cr_assert_eq(spio_json_write_end(w), -EINVAL, "write_end: expected -EINVAL");
	cr_assert_eq(s.calls, calls, "expected no output after the error, got %zu more calls",
		     s.calls - calls);
	sink_free(&s);
}

/*
 * Write callback and buffering
 */

Test(json_write_callback, failing_callback_error_is_returned)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	int i, rc = 0, first_fail = -1;

	s.fail_at_call = 1;
	s.fail_rc = -ENOSPC;
	spio_json_write_array_begin(w);
	for (i = 0; i < 100000; i++) {
		rc = spio_json_write_uint64(w, (uint64_t)i);
		if (rc != 0 && first_fail < 0) {
			first_fail = i;
		}
		if (first_fail >= 0) {
			cr_assert_eq(rc, -ENOSPC, "element %d: expected sticky -ENOSPC, got %d", i,
				     rc);
		}
	}
	cr_assert_geq(first_fail, 0, "expected a write to fail once the buffer filled");
	cr_assert_lt(first_fail, 5000, "expected failure within the first buffer, at %d",
		     first_fail);
	rc = spio_json_write_end(w);
	cr_assert_eq(rc, -ENOSPC, "write_end: expected -ENOSPC, got %d", rc);
	cr_assert_eq(s.calls, 1, "expected the callback to stop after failing, got %zu calls",
		     s.calls);
	sink_free(&s);
}

Test(json_write_callback, failure_at_final_flush)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	int rc;

	s.fail_at_call = 1;
	s.fail_rc = -EPIPE;
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "a", "b");
	rc = spio_json_write_object_end(w);
	cr_assert_eq(rc, 0, "small document: expected no flush before write_end, got %d", rc);
	rc = spio_json_write_end(w);
	cr_assert_eq(rc, -EPIPE, "write_end: expected -EPIPE, got %d", rc);
	sink_free(&s);
}

Test(json_write_callback, failure_on_later_chunk)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, SPIO_JSON_WRITE_FLAG_FORMATTED);
	int rc;

	s.fail_at_call = 3;
	s.fail_rc = -EIO;
	write_complex(w, 1000);
	rc = spio_json_write_end(w);
	cr_assert_eq(rc, -EIO, "write_end: expected -EIO from the 3rd chunk, got %d", rc);
	cr_assert_eq(s.calls, 3, "expected 3 callback calls, got %zu", s.calls);
	sink_free(&s);
}

Test(json_write_callback, positive_return_is_eio)
{
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	int rc;

	s.fail_at_call = 1;
	s.fail_rc = 1;
	spio_json_write_null(w);
	rc = spio_json_write_end(w);
	cr_assert_eq(rc, -EIO, "write_end: expected -EIO for a positive callback result, got %d",
		     rc);
	sink_free(&s);
}

static void check_large_array(uint32_t flags)
{
	enum { N = 100000 };
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, flags);
	json_t *root;
	size_t i;

	spio_json_write_array_begin(w);
	for (i = 0; i < N; i++) {
		switch (i % 3) {
		case 0:
			spio_json_write_uint64(w, i);
			break;
		case 1:
			spio_json_write_string_fmt(w, "s%zu\t\xc3\xa9", i);
			break;
		default:
			spio_json_write_object_begin(w);
			spio_json_write_named_uint64(w, "i", i);
			spio_json_write_object_end(w);
		}
	}
	spio_json_write_array_end(w);
	end_ok(w, &s);

	/* chunks, not tokens: every call but the last carries a nearly full buffer */
	cr_assert_leq(s.max_chunk, 4096, "expected chunks of at most 4096 bytes, got %zu",
		      s.max_chunk);
	cr_assert_leq(s.calls, s.len / 4000 + 1,
		      "expected about %zu callback calls for %zu bytes, got %zu", s.len / 4096 + 1,
		      s.len, s.calls);

	root = parse(&s);
	cr_assert_eq(json_array_size(root), N, "expected %d elements, got %zu", N,
		     json_array_size(root));
	for (i = 0; i < N; i++) {
		json_t *v = json_array_get(root, i);
		char expected[32];

		switch (i % 3) {
		case 0:
			cr_assert_eq(json_integer_value(v), (json_int_t)i,
				     "element %zu: expected %zu, got %lld", i, i,
				     json_integer_value(v));
			break;
		case 1:
			snprintf(expected, sizeof(expected), "s%zu\t\xc3\xa9", i);
			cr_assert_str_eq(json_string_value(v), expected,
					 "element %zu: expected '%s', got '%s'", i, expected,
					 json_string_value(v));
			break;
		default:
			cr_assert_eq(json_integer_value(json_object_get(v, "i")), (json_int_t)i,
				     "element %zu: expected {\"i\":%zu}", i, i);
		}
	}
	json_decref(root);
	sink_free(&s);
}

Test(json_write_buffer, large_compact_document_intact)
{
	check_large_array(0);
}

Test(json_write_buffer, large_formatted_document_intact)
{
	check_large_array(SPIO_JSON_WRITE_FLAG_FORMATTED);
}

Test(json_write_buffer, large_raw_value_passes_through)
{
	size_t n = 200001, i; /* odd: "[" + 100000 x "1," with the last "," replaced by "]" */
	char *raw = malloc(n + 2);
	struct sink s;
	struct spio_json_write_ctx *w = begin(&s, 0);
	json_t *root;

	/* "[1,1,...,1]" */
	raw[0] = '[';
	for (i = 1; i < n; i += 2) {
		raw[i] = '1';
		raw[i + 1] = ',';
	}
	raw[n - 1] = ']';
	spio_json_write_array_begin(w);
	spio_json_write_int32(w, 7);
	cr_assert_eq(spio_json_write_val_raw(w, raw, n), 0, "large val_raw: expected 0");
	spio_json_write_array_end(w);
	end_ok(w, &s);

	root = parse(&s);
	cr_assert_eq(json_array_size(json_array_get(root, 1)), (n - 1) / 2,
		     "expected %zu inner elements, got %zu", (n - 1) / 2,
		     json_array_size(json_array_get(root, 1)));
	json_decref(root);
	free(raw);
	sink_free(&s);
}
