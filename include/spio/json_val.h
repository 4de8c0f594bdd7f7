/*
 * spdk-io: read-only parsed JSON values (the reader's side of spio/json.h).
 *
 * RPC method handlers, configuration entries and in-process RPC calls see
 * their JSON through `struct spio_json_val`, an opaque, immutable value: an
 * object, array, string, number, true, false or null. The library's JSON
 * parser sits behind it, so no parser's types are part of spio's API.
 *
 * Ownership: a value returned by spio_json_parse() is owned by the caller and
 * freed with spio_json_val_free(). A value reached through another one
 * (spio_json_object_get(), spio_json_array_get(), an RPC's params) is
 * borrowed: it lives as long as the value it was reached from, unless the
 * holder takes its own reference with spio_json_val_ref() (and drops it with
 * spio_json_val_free()). Strings returned are borrowed the same way.
 *
 * Thread rules: values are immutable; reading one value from several threads
 * at once is safe, but taking and dropping references (spio_json_val_ref(),
 * spio_json_val_free()) must be serialized by the caller.
 */
#ifndef SPIO_JSON_VAL_H
#define SPIO_JSON_VAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A parsed JSON value; opaque. */
struct spio_json_val;

/** The kind of a JSON value. */
enum spio_json_type {
	SPIO_JSON_OBJECT,
	SPIO_JSON_ARRAY,
	SPIO_JSON_STRING,
	/** A number without fraction or exponent that fits in int64_t. */
	SPIO_JSON_INTEGER,
	/** Any other number. */
	SPIO_JSON_REAL,
	SPIO_JSON_TRUE,
	SPIO_JSON_FALSE,
	SPIO_JSON_NULL,
};

/**
 * Parse exactly one JSON value from `text` (`len` bytes, need not be
 * NUL-terminated; embedded NUL bytes inside strings are refused).
 *
 * \param errbuf receives "line L column C: reason" on failure (may be NULL
 *        when errlen is 0).
 * \return a new value owned by the caller (free with spio_json_val_free()),
 *         or NULL on a syntax error, trailing data, nesting deeper than the
 *         parser allows, or no memory (errbuf says which). Any thread.
 */
struct spio_json_val *spio_json_parse(const char *text, size_t len, char *errbuf, size_t errlen);

/**
 * Take a reference to `val` so it outlives whatever it was borrowed from.
 * \return `val` (NULL for NULL); drop the reference with spio_json_val_free().
 */
struct spio_json_val *spio_json_val_ref(const struct spio_json_val *val);

/** Drop a reference taken by spio_json_parse() or spio_json_val_ref(). NULL is ignored. */
void spio_json_val_free(struct spio_json_val *val);

/** The kind of `val`; SPIO_JSON_NULL for a NULL pointer (an absent value). */
enum spio_json_type spio_json_val_type(const struct spio_json_val *val);

/** True if `val` is an object. */
bool spio_json_is_object(const struct spio_json_val *val);

/** True if `val` is an array. */
bool spio_json_is_array(const struct spio_json_val *val);

/**
 * The member `key` of the object `obj`, borrowed from `obj`.
 * \return NULL when `obj` is not an object, `key` is NULL or absent.
 */
const struct spio_json_val *spio_json_object_get(const struct spio_json_val *obj, const char *key);

/** Number of members of an object (0 for anything else). */
size_t spio_json_object_size(const struct spio_json_val *obj);

/**
 * Called by spio_json_object_foreach() for each member, in document order.
 * `key` and `val` are borrowed from the object. Return 0 to go on, anything
 * else to stop (spio_json_object_foreach() then returns it).
 */
typedef int (*spio_json_member_fn)(const char *key, const struct spio_json_val *val, void *ctx);

/**
 * Visit the members of `obj`.
 * \return 0 after visiting all (or for a non-object); the first non-zero
 *         value `fn` returned.
 */
int spio_json_object_foreach(const struct spio_json_val *obj, spio_json_member_fn fn, void *ctx);

/** Number of elements of an array (0 for anything else). */
size_t spio_json_array_size(const struct spio_json_val *arr);

/** Element `index` of an array, borrowed from it; NULL if out of range or not an array. */
const struct spio_json_val *spio_json_array_get(const struct spio_json_val *arr, size_t index);

/** The string of a string value (NUL-terminated, borrowed); NULL for anything else. */
const char *spio_json_string(const struct spio_json_val *val);

/**
 * The value of an integer.
 * \return 0 and *out set; -EINVAL when `val` is not SPIO_JSON_INTEGER.
 */
int spio_json_integer(const struct spio_json_val *val, int64_t *out);

/**
 * The value of any number (integers converted).
 * \return 0 and *out set; -EINVAL when `val` is not a number.
 */
int spio_json_number(const struct spio_json_val *val, double *out);

/**
 * The value of true or false.
 * \return 0 and *out set; -EINVAL when `val` is neither.
 */
int spio_json_bool(const struct spio_json_val *val, bool *out);

/**
 * Serialize `val` as compact JSON (keys in document order).
 * \return a NUL-terminated string the caller frees with free(); NULL for a
 *         NULL value or when memory runs out.
 */
char *spio_json_dump(const struct spio_json_val *val);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_JSON_VAL_H */
