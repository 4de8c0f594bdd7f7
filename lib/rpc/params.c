/*
 * Decoding of a params object into a C struct, driven by a table of
 * struct spio_rpc_param (the analogue of spdk_json_decode_object).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"
#include "spio/util.h"

static const char *type_name(enum spio_rpc_param_type type)
{
	switch (type) {
	case SPIO_RPC_PARAM_STRING:
		return "a string";
	case SPIO_RPC_PARAM_BOOL:
		return "a boolean";
	case SPIO_RPC_PARAM_INT64:
		return "a 64-bit integer";
	case SPIO_RPC_PARAM_UINT64:
		return "an unsigned 64-bit integer";
	case SPIO_RPC_PARAM_UINT32:
		return "an unsigned 32-bit integer";
	case SPIO_RPC_PARAM_DOUBLE:
		return "a number";
	case SPIO_RPC_PARAM_OBJECT:
		return "an object";
	case SPIO_RPC_PARAM_ARRAY:
		return "an array";
	case SPIO_RPC_PARAM_UUID:
		return "a UUID";
	case SPIO_RPC_PARAM_INT32:
		return "a 32-bit integer";
	}
	return "a known type";
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown value";
}

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

static bool type_valid(enum spio_rpc_param_type type)
{
	return (unsigned)type <= (unsigned)SPIO_RPC_PARAM_INT32;
}

/* Decode one value; 0, -EINVAL (wrong type or range: message in errbuf) or -ENOMEM. */
static int decode_one(const struct spio_rpc_param *d, const json_t *v, void *field, char *errbuf,
		      size_t errlen)
{
	json_int_t i;

	switch (d->type) {
	case SPIO_RPC_PARAM_STRING: {
		char *s;

		if (!json_is_string(v)) {
			break;
		}
		s = strndup(json_string_value(v), json_string_length(v));
		if (s == NULL) {
			set_err(errbuf, errlen, "Out of memory decoding parameter '%s'", d->name);
			return -ENOMEM;
		}
		free(*(char **)field);
		*(char **)field = s;
		return 0;
	}
	case SPIO_RPC_PARAM_BOOL:
		if (!json_is_boolean(v)) {
			break;
		}
		*(bool *)field = json_is_true(v);
		return 0;
	case SPIO_RPC_PARAM_INT64:
		if (!json_is_integer(v)) {
			break;
		}
		*(int64_t *)field = json_integer_value(v);
		return 0;
	case SPIO_RPC_PARAM_UINT64:
		if (json_is_string(v)) {
			/* jansson stops at INT64_MAX: larger values come as decimal strings. */
			uint64_t u;

			if (spio_parse_u64(json_string_value(v), 10, &u) != 0) {
				set_err(
				    errbuf, errlen,
				    "Invalid parameter '%s': expected %s, got the string \"%.32s\"",
				    d->name, type_name(d->type), json_string_value(v));
				return -EINVAL;
			}
			*(uint64_t *)field = u;
			return 0;
		}
		if (!json_is_integer(v)) {
			break;
		}
		i = json_integer_value(v);
		if (i < 0) {
			set_err(errbuf, errlen, "Invalid parameter '%s': expected %s, got %" PRId64,
				d->name, type_name(d->type), (int64_t)i);
			return -EINVAL;
		}
		*(uint64_t *)field = (uint64_t)i;
		return 0;
	case SPIO_RPC_PARAM_UINT32:
		if (!json_is_integer(v)) {
			break;
		}
		i = json_integer_value(v);
		if (i < 0 || i > (json_int_t)UINT32_MAX) {
			set_err(errbuf, errlen,
				"Invalid parameter '%s': expected %s, got %" PRId64
				" (out of range)",
				d->name, type_name(d->type), (int64_t)i);
			return -EINVAL;
		}
		*(uint32_t *)field = (uint32_t)i;
		return 0;
	case SPIO_RPC_PARAM_DOUBLE:
		if (!json_is_number(v)) {
			break;
		}
		*(double *)field = json_number_value(v);
		return 0;
	case SPIO_RPC_PARAM_OBJECT:
		if (!json_is_object(v)) {
			break;
		}
		*(const struct spio_json_val **)field = json_val_from_jansson(v);
		return 0;
	case SPIO_RPC_PARAM_ARRAY:
		if (!json_is_array(v)) {
			break;
		}
		*(const struct spio_json_val **)field = json_val_from_jansson(v);
		return 0;
	case SPIO_RPC_PARAM_UUID:
		if (!json_is_string(v)) {
			break;
		}
		if (spio_uuid_parse((struct spio_uuid *)field, json_string_value(v)) != 0) {
			set_err(errbuf, errlen, "Invalid parameter '%s': '%s' is not a UUID",
				d->name, json_string_value(v));
			return -EINVAL;
		}
		return 0;
	case SPIO_RPC_PARAM_INT32:
		if (!json_is_integer(v)) {
			break;
		}
		i = json_integer_value(v);
		if (i < INT32_MIN || i > INT32_MAX) {
			set_err(errbuf, errlen,
				"Invalid parameter '%s': expected %s, got %" PRId64
				" (out of range)",
				d->name, type_name(d->type), (int64_t)i);
			return -EINVAL;
		}
		*(int32_t *)field = (int32_t)i;
		return 0;
	}
	set_err(errbuf, errlen, "Invalid parameter '%s': expected %s, got %s", d->name,
		type_name(d->type), json_type_name(v));
	return -EINVAL;
}

int spio_rpc_decode_params(const struct spio_json_val *params_val,
			   const struct spio_rpc_param *decoders, size_t n, void *out, char *errbuf,
			   size_t errlen)
{
	const json_t *params = json_val_to_jansson(params_val);
	const char *key;
	json_t *v;
	size_t i;
	int rc;

	set_err(errbuf, errlen, "%s", "");
	if ((decoders == NULL && n > 0) || out == NULL) {
		set_err(errbuf, errlen, "Invalid arguments to spio_rpc_decode_params");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (decoders[i].name == NULL || !type_valid(decoders[i].type)) {
			set_err(errbuf, errlen, "Invalid decoder table (entry %zu)", i);
			return -EINVAL;
		}
	}
	if (params != NULL && !json_is_object(params)) {
		set_err(errbuf, errlen, "Invalid parameters: expected an object, got %s",
			json_type_name(params));
		return -EINVAL;
	}

	/* Unknown keys first, so that a rejected request allocates nothing. */
	if (params != NULL) {
		json_object_foreach((json_t *)params, key, v)
		{
			for (i = 0; i < n; i++) {
				if (strcmp(decoders[i].name, key) == 0) {
					break;
				}
			}
			if (i == n) {
				set_err(errbuf, errlen, "Unknown parameter '%s'", key);
				return -EINVAL;
			}
		}
	}

	for (i = 0; i < n; i++) {
		const struct spio_rpc_param *d = &decoders[i];

		v = params != NULL ? json_object_get(params, d->name) : NULL;
		if (v == NULL) {
			if (d->optional) {
				continue;
			}
			set_err(errbuf, errlen, "Missing required parameter '%s' (%s)", d->name,
				type_name(d->type));
			return -EINVAL;
		}
		rc = decode_one(d, v, (char *)out + d->offset, errbuf, errlen);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

void spio_rpc_params_free(const struct spio_rpc_param *decoders, size_t n, void *out)
{
	size_t i;

	if (decoders == NULL || out == NULL) {
		return;
	}
	for (i = 0; i < n; i++) {
		if (decoders[i].type == SPIO_RPC_PARAM_STRING) {
			char **field = (char **)((char *)out + decoders[i].offset);

			free(*field);
			*field = NULL;
		}
	}
}

bool spio_rpc_refuse_params(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	if (params == NULL || (spio_json_is_object(params) && spio_json_object_size(params) == 0) ||
	    (spio_json_is_array(params) && spio_json_array_size(params) == 0)) {
		return false;
	}
	spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
					     "'%s' requires no arguments",
					     spio_jsonrpc_request_get_method(req));
	return true;
}
