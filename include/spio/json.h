/*
 * spdk-io: streaming JSON writer (the analogue of SPDK's spdk_json_write_*).
 *
 * A write context turns a sequence of calls (object_begin, name, value, ...,
 * object_end) into JSON text handed to a caller-supplied callback. Output is
 * collected in a buffer inside the context (4 KiB) and passed to the callback
 * in chunks, never token by token; spio_json_write_end() flushes the rest.
 *
 * Document shape: exactly one top-level value (or none at all, which writes
 * nothing). Inside an object every value must be preceded by a name
 * (spio_json_write_name() or a spio_json_write_named_*() call); outside an
 * object a name is an error.
 *
 * Errors are sticky. The first error -- misuse of the structure (a value where
 * a name is required, a name outside an object, closing the wrong container,
 * a second top-level value, unbalanced containers at the end), a bad argument
 * (NULL string, NaN/Inf double), an allocation failure or a failing write
 * callback -- is recorded in the context. That call and every later call
 * return it and write nothing more, and spio_json_write_end() returns it. The
 * output already handed to the callback is then a truncated prefix of the
 * document and must be discarded. Callers may therefore write a whole
 * document without checking each call and check only spio_json_write_end().
 *
 * Strings (values and names) are taken as UTF-8 and always produce valid
 * JSON in valid UTF-8:
 *  - '"' and '\\' are escaped; control characters U+0000..U+001F are written
 *    as \b \f \n \r \t or \u00XX (lower-case hex); U+2028 and U+2029 are
 *    written as \u2028 and \u2029 so the output is also safe to embed in
 *    JavaScript; '/' and U+007F are written as is.
 *  - Valid multi-byte UTF-8 is copied unchanged.
 *  - Ill-formed UTF-8 is never copied: each maximal subpart of an ill-formed
 *    sequence (Unicode 15, section 3.9, "U+FFFD substitution of maximal
 *    subparts", the practice of the W3C encoding standard) is replaced by one
 *    U+FFFD, written as the bytes EF BF BD. This covers stray continuation
 *    bytes, bytes C0, C1 and F5..FF, overlong forms, UTF-8-encoded surrogates
 *    (ED A0..BF ..), code points above U+10FFFF and sequences truncated by
 *    the end of the string or by a byte that cannot continue them. Example:
 *    "a\xE2\x82b" becomes "a\uFFFDb"; "\xED\xA0\x80" becomes three U+FFFD.
 *  - spio_json_write_string_len() and spio_json_write_name_len() take an
 *    explicit length; an embedded NUL byte is written as \u0000.
 *
 * Numbers: integers are written in decimal. Doubles are written in the
 * shortest of the %.15g, %.16g and %.17g forms that reads back to exactly the
 * same double, and always with a '.' or an exponent ("1.0", "-0.0", "1e+300")
 * so that parsers keep them as floating-point values. NaN and infinities
 * cannot be represented in JSON and are an error (-EINVAL).
 *
 * Thread rules: a write context is not thread-safe; it must be used by one
 * thread at a time (it may move between threads if the caller serializes).
 * The write callback runs synchronously on the thread that makes the write
 * call, from inside any write function or spio_json_write_end(). Different
 * contexts are independent.
 *
 * Memory: spio_json_write_begin() allocates the context and
 * spio_json_write_end() always frees it, whatever the result. Strings and
 * buffers passed in are read during the call only; the caller keeps them.
 */
#ifndef SPIO_JSON_H
#define SPIO_JSON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Pretty-print: newlines, two spaces of indentation per level, ": " after names. */
#define SPIO_JSON_WRITE_FLAG_FORMATTED (1u << 0)

/** Opaque streaming writer. */
struct spio_json_write_ctx;

/**
 * Receives output of a write context.
 *
 * \param cb_ctx the pointer given to spio_json_write_begin().
 * \param data `size` bytes of JSON text (size > 0); valid only during the call.
 * \param size number of bytes, at most a few KiB unless a single token is larger.
 * \return 0 when all `size` bytes were consumed, or a negative errno; the
 *         writer then stops (sticky error) and never calls the callback again.
 *         A positive return value is treated as -EIO.
 */
typedef int (*spio_json_write_cb)(void *cb_ctx, const void *data, size_t size);

/**
 * Start a JSON document.
 *
 * \param write_cb callback that receives the output (required).
 * \param cb_ctx passed to every call of `write_cb`; may be NULL.
 * \param flags 0 (compact) or SPIO_JSON_WRITE_FLAG_FORMATTED.
 * \return a new context, to be finished with spio_json_write_end(); or NULL
 *         with errno EINVAL (NULL callback, unknown flag) or ENOMEM.
 *
 * Any thread; the context then belongs to the caller.
 */
struct spio_json_write_ctx *spio_json_write_begin(spio_json_write_cb write_cb, void *cb_ctx,
						  uint32_t flags);

/**
 * Finish a document: flush the buffered output and free the context.
 *
 * In formatted mode a final newline follows the top-level value. On error
 * nothing more is written (the buffered tail is dropped) but the context is
 * still freed.
 *
 * \param w context from spio_json_write_begin(); invalid after this call.
 * \return 0; the first (sticky) error of the context; -EINVAL when a container
 *         is still open or a name has no value; the callback's error if the
 *         final flush fails; -EINVAL for NULL (nothing is freed).
 */
int spio_json_write_end(struct spio_json_write_ctx *w);

/*
 * Containers. Each *_begin writes a value (so inside an object it needs a name
 * first) and opens a container that the matching *_end closes.
 *
 * All functions below return 0 or a negative errno: -EINVAL for a NULL
 * context (nothing is recorded), otherwise the sticky error of the context
 * (see the file comment), which the failing call sets. Same thread rules as
 * the context.
 */

/** Open an object: '{'. */
int spio_json_write_object_begin(struct spio_json_write_ctx *w);

/** Close the innermost container, which must be an object with no pending name: '}'. */
int spio_json_write_object_end(struct spio_json_write_ctx *w);

/** Open an array: '['. */
int spio_json_write_array_begin(struct spio_json_write_ctx *w);

/** Close the innermost container, which must be an array: ']'. */
int spio_json_write_array_end(struct spio_json_write_ctx *w);

/**
 * Write a member name inside an object; the next call must write its value.
 *
 * \param name NUL-terminated UTF-8 (escaped like a string value); NULL -> -EINVAL.
 * \return -EINVAL also outside an object or when a name is already pending.
 */
int spio_json_write_name(struct spio_json_write_ctx *w, const char *name);

/** spio_json_write_name() with an explicit length; `name` may contain NUL bytes. */
int spio_json_write_name_len(struct spio_json_write_ctx *w, const char *name, size_t len);

/*
 * Values. Each writes one value: the top-level value, an array element, or the
 * value of the pending name inside an object (-EINVAL if no name is pending).
 */

/** Write `null`. */
int spio_json_write_null(struct spio_json_write_ctx *w);

/** Write `true` or `false`. */
int spio_json_write_bool(struct spio_json_write_ctx *w, bool val);

/** Write a signed 32-bit integer. */
int spio_json_write_int32(struct spio_json_write_ctx *w, int32_t val);

/** Write an unsigned 32-bit integer. */
int spio_json_write_uint32(struct spio_json_write_ctx *w, uint32_t val);

/** Write a signed 64-bit integer. */
int spio_json_write_int64(struct spio_json_write_ctx *w, int64_t val);

/**
 * Write an unsigned 64-bit integer. Values above INT64_MAX are valid JSON
 * but some parsers (jansson) cannot read them as integers.
 */
int spio_json_write_uint64(struct spio_json_write_ctx *w, uint64_t val);

/**
 * Write a double in its shortest exact round-trip form (see the file comment).
 *
 * \return -EINVAL (sticky) for NaN or an infinity.
 */
int spio_json_write_double(struct spio_json_write_ctx *w, double val);

/** Write a NUL-terminated UTF-8 string, escaped; NULL -> -EINVAL. */
int spio_json_write_string(struct spio_json_write_ctx *w, const char *val);

/** Write `len` bytes of UTF-8 as a string; NUL bytes become \u0000; NULL -> -EINVAL. */
int spio_json_write_string_len(struct spio_json_write_ctx *w, const char *val, size_t len);

/**
 * Write a printf-formatted string (the result is escaped like any string).
 *
 * \return -EINVAL for a NULL or failing format, -ENOMEM if a long result
 *         cannot be allocated.
 */
int spio_json_write_string_fmt(struct spio_json_write_ctx *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** va_list form of spio_json_write_string_fmt(). */
int spio_json_write_string_fmt_v(struct spio_json_write_ctx *w, const char *fmt, va_list args)
    __attribute__((format(printf, 2, 0)));

/**
 * Write `len` bytes as a string of lower-case hex digits, two per byte
 * ({0x0a, 0xff} -> "0aff"). `len` may be 0 (""); `val` NULL -> -EINVAL.
 */
int spio_json_write_bytearray(struct spio_json_write_ctx *w, const void *val, size_t len);

/** Write a UUID as its lower-case 36-character string form; NULL -> -EINVAL. */
int spio_json_write_uuid(struct spio_json_write_ctx *w, const struct spio_uuid *uuid);

/**
 * Write pre-formatted JSON as one value, byte for byte (no check, no escaping).
 * The caller guarantees that `data` is exactly one valid JSON value.
 *
 * \return -EINVAL for NULL `data` or `len` 0.
 */
int spio_json_write_val_raw(struct spio_json_write_ctx *w, const void *data, size_t len);

/*
 * Named values: a name followed by a value, for use inside an object. Each is
 * spio_json_write_name(w, name) then the value function; the first error
 * stops it and is returned (and is sticky).
 */

/** Name + spio_json_write_string(). */
int spio_json_write_named_string(struct spio_json_write_ctx *w, const char *name, const char *val);

/** Name + spio_json_write_string_len(). */
int spio_json_write_named_string_len(struct spio_json_write_ctx *w, const char *name,
				     const char *val, size_t len);

/** Name + spio_json_write_string_fmt(). */
int spio_json_write_named_string_fmt(struct spio_json_write_ctx *w, const char *name,
				     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Name + spio_json_write_string_fmt_v(). */
int spio_json_write_named_string_fmt_v(struct spio_json_write_ctx *w, const char *name,
				       const char *fmt, va_list args)
    __attribute__((format(printf, 3, 0)));

/** Name + spio_json_write_int32(). */
int spio_json_write_named_int32(struct spio_json_write_ctx *w, const char *name, int32_t val);

/** Name + spio_json_write_uint32(). */
int spio_json_write_named_uint32(struct spio_json_write_ctx *w, const char *name, uint32_t val);

/** Name + spio_json_write_int64(). */
int spio_json_write_named_int64(struct spio_json_write_ctx *w, const char *name, int64_t val);

/** Name + spio_json_write_uint64(). */
int spio_json_write_named_uint64(struct spio_json_write_ctx *w, const char *name, uint64_t val);

/** Name + spio_json_write_bool(). */
int spio_json_write_named_bool(struct spio_json_write_ctx *w, const char *name, bool val);

/** Name + spio_json_write_double(). */
int spio_json_write_named_double(struct spio_json_write_ctx *w, const char *name, double val);

/** Name + spio_json_write_null(). */
int spio_json_write_named_null(struct spio_json_write_ctx *w, const char *name);

/** Name + spio_json_write_bytearray(). */
int spio_json_write_named_bytearray(struct spio_json_write_ctx *w, const char *name,
				    const void *val, size_t len);

/** Name + spio_json_write_uuid(). */
int spio_json_write_named_uuid(struct spio_json_write_ctx *w, const char *name,
			       const struct spio_uuid *uuid);

/** Name + spio_json_write_object_begin(). */
int spio_json_write_named_object_begin(struct spio_json_write_ctx *w, const char *name);

/** Name + spio_json_write_array_begin(). */
int spio_json_write_named_array_begin(struct spio_json_write_ctx *w, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_JSON_H */
