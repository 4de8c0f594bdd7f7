/* Read-only JSON values (spio/json_val.h): parsing, access, bad input. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/json_val.h"

static struct spio_json_val *parse(const char *text)
{
	char err[128] = "";
	struct spio_json_val *v = spio_json_parse(text, strlen(text), err, sizeof(err));

	cr_assert_not_null(v, "parse of %s failed: %s", text, err);
	return v;
}

Test(json_val, kinds)
{
	struct spio_json_val *v = parse("[{}, [], \"s\", 7, 1.5, true, false, null]");
	const enum spio_json_type want[] = {SPIO_JSON_OBJECT,  SPIO_JSON_ARRAY, SPIO_JSON_STRING,
					    SPIO_JSON_INTEGER, SPIO_JSON_REAL,	SPIO_JSON_TRUE,
					    SPIO_JSON_FALSE,   SPIO_JSON_NULL};

	cr_assert(spio_json_is_array(v));
	cr_assert_eq(spio_json_array_size(v), 8);
	for (size_t i = 0; i < 8; i++) {
		cr_assert_eq(spio_json_val_type(spio_json_array_get(v, i)), want[i],
			     "element %zu: expected kind %d, got %d", i, want[i],
			     spio_json_val_type(spio_json_array_get(v, i)));
	}
	cr_assert_null(spio_json_array_get(v, 8));
	spio_json_val_free(v);
}

Test(json_val, scalars_and_wrong_kinds)
{
	struct spio_json_val *v = parse("{\"i\": -9223372036854775808, \"d\": 2.5, \"b\": true, "
					"\"s\": \"x\\u00e9\"}");
	int64_t i = 1;
	double d = 0;
	bool b = false;

	cr_assert_eq(spio_json_integer(spio_json_object_get(v, "i"), &i), 0);
	cr_assert_eq(i, INT64_MIN);
	cr_assert_eq(spio_json_number(spio_json_object_get(v, "i"), &d), 0, "integers are numbers");
	cr_assert_eq(spio_json_number(spio_json_object_get(v, "d"), &d), 0);
	cr_assert_eq(d, 2.5);
	cr_assert_eq(spio_json_bool(spio_json_object_get(v, "b"), &b), 0);
	cr_assert(b);
	cr_assert_str_eq(spio_json_string(spio_json_object_get(v, "s")), "x\xc3\xa9");

	/* wrong kinds and absent members: an error or NULL, output untouched */
	i = 42;
	cr_assert_eq(spio_json_integer(spio_json_object_get(v, "d"), &i), -EINVAL);
	cr_assert_eq(spio_json_integer(spio_json_object_get(v, "missing"), &i), -EINVAL);
	cr_assert_eq(i, 42);
	cr_assert_eq(spio_json_bool(spio_json_object_get(v, "s"), &b), -EINVAL);
	cr_assert_eq(spio_json_number(spio_json_object_get(v, "s"), &d), -EINVAL);
	cr_assert_null(spio_json_string(spio_json_object_get(v, "i")));
	cr_assert_null(spio_json_object_get(v, NULL));
	cr_assert_null(spio_json_object_get(spio_json_object_get(v, "s"), "x"));
	cr_assert_eq(spio_json_object_size(spio_json_object_get(v, "s")), 0);
	cr_assert_eq(spio_json_array_size(v), 0);
	cr_assert_eq(spio_json_val_type(NULL), SPIO_JSON_NULL);
	cr_assert(!spio_json_is_object(NULL));
	spio_json_val_free(v);
	spio_json_val_free(NULL);
}

struct keys {
	char seen[8][8];
	int n;
	int stop_at;
};

static int collect(const char *key, const struct spio_json_val *val, void *ctx)
{
	struct keys *k = ctx;

	(void)val;
	snprintf(k->seen[k->n], sizeof(k->seen[0]), "%s", key);
	k->n++;
	return k->n == k->stop_at ? 99 : 0;
}

Test(json_val, foreach_in_document_order_and_stop)
{
	struct spio_json_val *v = parse("{\"z\": 1, \"a\": 2, \"m\": 3}");
	struct keys k = {.stop_at = -1};

	cr_assert_eq(spio_json_object_foreach(v, collect, &k), 0);
	cr_assert_eq(k.n, 3);
	cr_assert_str_eq(k.seen[0], "z");
	cr_assert_str_eq(k.seen[1], "a");
	cr_assert_str_eq(k.seen[2], "m");

	k = (struct keys){.stop_at = 2};
	cr_assert_eq(spio_json_object_foreach(v, collect, &k), 99, "the callback's stop value");
	cr_assert_eq(k.n, 2);
	cr_assert_eq(spio_json_object_foreach(NULL, collect, &k), 0);
	spio_json_val_free(v);
}

Test(json_val, ref_outlives_parent)
{
	struct spio_json_val *v = parse("{\"inner\": {\"k\": \"v\"}}");
	struct spio_json_val *inner = spio_json_val_ref(spio_json_object_get(v, "inner"));

	spio_json_val_free(v);
	cr_assert_str_eq(spio_json_string(spio_json_object_get(inner, "k")), "v");
	spio_json_val_free(inner);
	cr_assert_null(spio_json_val_ref(NULL));
}

Test(json_val, dump_round_trip)
{
	const char *text = "{\"b\":[1,2.5,\"x\",null,true],\"a\":{}}";
	struct spio_json_val *v = parse(text);
	char *out = spio_json_dump(v);

	cr_assert_str_eq(out, text, "keys keep document order, compact");
	free(out);
	spio_json_val_free(v);
	cr_assert_null(spio_json_dump(NULL));
}

Test(json_val, bad_input)
{
	const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "1 2", "\"unterminated", "nul"};
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_null(spio_json_parse(bad[i], strlen(bad[i]), err, sizeof(err)),
			       "'%s' should not parse", bad[i]);
		cr_assert(strstr(err, "line") != NULL, "'%s': expected a position, got '%s'",
			  bad[i], err);
	}
	/* an embedded NUL inside a string is refused, not truncated */
	cr_assert_null(spio_json_parse("\"a\\u0000b\"", 10, err, sizeof(err)));
	cr_assert_null(spio_json_parse(NULL, 0, err, sizeof(err)));
	cr_assert_null(spio_json_parse("{", 1, NULL, 0), "no error buffer is fine");
	/* length bounds the text: trailing bytes after len are not read */
	struct spio_json_val *v = spio_json_parse("[1]garbage", 3, err, sizeof(err));
	cr_assert_not_null(v, "%s", err);
	spio_json_val_free(v);
}
