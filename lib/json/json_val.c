/* Read-only JSON values (spio/json_val.h) over jansson. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json/json_val_internal.h"

struct spio_json_val *spio_json_parse(const char *text, size_t len, char *errbuf, size_t errlen)
{
	json_error_t err;
	json_t *j;

	if (text == NULL) {
		if (errlen > 0) {
			snprintf(errbuf, errlen, "no text");
		}
		return NULL;
	}
	/* Scalars at top level are values too; reject NUL inside strings. */
	j = json_loadb(text, len, JSON_DECODE_ANY, &err);
	if (j == NULL && errlen > 0) {
		snprintf(errbuf, errlen, "line %d column %d: %s", err.line, err.column, err.text);
	}
	return (struct spio_json_val *)j;
}

struct spio_json_val *spio_json_val_ref(const struct spio_json_val *val)
{
	return (struct spio_json_val *)json_incref(json_val_to_jansson(val));
}

void spio_json_val_free(struct spio_json_val *val)
{
	json_decref(json_val_to_jansson(val));
}

enum spio_json_type spio_json_val_type(const struct spio_json_val *val)
{
	if (val == NULL) {
		return SPIO_JSON_NULL;
	}
	switch (json_typeof(json_val_to_jansson(val))) {
	case JSON_OBJECT:
		return SPIO_JSON_OBJECT;
	case JSON_ARRAY:
		return SPIO_JSON_ARRAY;
	case JSON_STRING:
		return SPIO_JSON_STRING;
	case JSON_INTEGER:
		return SPIO_JSON_INTEGER;
	case JSON_REAL:
		return SPIO_JSON_REAL;
	case JSON_TRUE:
		return SPIO_JSON_TRUE;
	case JSON_FALSE:
		return SPIO_JSON_FALSE;
	default:
		return SPIO_JSON_NULL;
	}
}

bool spio_json_is_object(const struct spio_json_val *val)
{
	return val != NULL && json_is_object(json_val_to_jansson(val));
}

bool spio_json_is_array(const struct spio_json_val *val)
{
	return val != NULL && json_is_array(json_val_to_jansson(val));
}

const struct spio_json_val *spio_json_object_get(const struct spio_json_val *obj, const char *key)
{
	if (obj == NULL || key == NULL) {
		return NULL;
	}
	return json_val_from_jansson(json_object_get(json_val_to_jansson(obj), key));
}

size_t spio_json_object_size(const struct spio_json_val *obj)
{
	return obj != NULL ? json_object_size(json_val_to_jansson(obj)) : 0;
}

int spio_json_object_foreach(const struct spio_json_val *obj, spio_json_member_fn fn, void *ctx)
{
	const char *key;
	json_t *val;
	int rc;

	if (!spio_json_is_object(obj) || fn == NULL) {
		return 0;
	}
	json_object_foreach(json_val_to_jansson(obj), key, val)
	{
		rc = fn(key, json_val_from_jansson(val), ctx);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

size_t spio_json_array_size(const struct spio_json_val *arr)
{
	return arr != NULL ? json_array_size(json_val_to_jansson(arr)) : 0;
}

const struct spio_json_val *spio_json_array_get(const struct spio_json_val *arr, size_t index)
{
	if (arr == NULL) {
		return NULL;
	}
	return json_val_from_jansson(json_array_get(json_val_to_jansson(arr), index));
}

const char *spio_json_string(const struct spio_json_val *val)
{
	return val != NULL ? json_string_value(json_val_to_jansson(val)) : NULL;
}

int spio_json_integer(const struct spio_json_val *val, int64_t *out)
{
	if (val == NULL || out == NULL || !json_is_integer(json_val_to_jansson(val))) {
		return -EINVAL;
	}
	*out = json_integer_value(json_val_to_jansson(val));
	return 0;
}

int spio_json_number(const struct spio_json_val *val, double *out)
{
	if (val == NULL || out == NULL || !json_is_number(json_val_to_jansson(val))) {
		return -EINVAL;
	}
	*out = json_number_value(json_val_to_jansson(val));
	return 0;
}

int spio_json_bool(const struct spio_json_val *val, bool *out)
{
	if (val == NULL || out == NULL || !json_is_boolean(json_val_to_jansson(val))) {
		return -EINVAL;
	}
	*out = json_is_true(json_val_to_jansson(val));
	return 0;
}

char *spio_json_dump(const struct spio_json_val *val)
{
	if (val == NULL) {
		return NULL;
	}
	return json_dumps(json_val_to_jansson(val),
			  JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}
