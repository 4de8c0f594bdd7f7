/*
 * spdk-io: general helpers used by every layer.
 *
 * Macros (container_of, likely, alignment), iovec helpers, CRC32C, UUIDs and
 * strict number parsing. Everything here is thread-safe: no function keeps
 * state between calls, so any OS thread may call any function, provided no
 * other thread writes the memory being read or written. Pointers passed in
 * are used during the call only; nothing is allocated or kept.
 */
#ifndef SPIO_UTIL_H
#define SPIO_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Pointer to the structure of type `type` that contains `ptr` as `member`. */
#define SPIO_CONTAINEROF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/** Number of elements of a true array (not a pointer). */
#define SPIO_COUNTOF(arr) (sizeof(arr) / sizeof((arr)[0]))

#define spio_likely(x) __builtin_expect(!!(x), 1)
#define spio_unlikely(x) __builtin_expect(!!(x), 0)

#define SPIO_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SPIO_MAX(a, b) ((a) > (b) ? (a) : (b))

/** Size of a CPU cache line on the supported architectures. */
#define SPIO_CACHE_LINE_SIZE 64

/** True when `x` is a non-zero power of two. */
static inline bool spio_is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/**
 * Round `x` up to a multiple of `align`, which must be a power of two (else
 * the result is meaningless). Wraps to 0 when the result would exceed
 * UINT64_MAX.
 */
static inline uint64_t spio_align_up(uint64_t x, uint64_t align)
{
	return (x + align - 1) & ~(align - 1);
}

/** Smallest power of two >= x (x must be <= 2^63; returns 1 for x == 0). */
static inline uint64_t spio_align_pow2(uint64_t x)
{
	return x <= 1 ? 1 : 1ULL << (64 - __builtin_clzll(x - 1));
}

/*
 * iovec helpers. A NULL array or a count <= 0 is an empty list everywhere, and
 * zero-length entries may appear anywhere in a list.
 */

/** Total number of bytes described by `iovcnt` entries of `iov` (NULL or 0 -> 0). */
size_t spio_iov_length(const struct iovec *iov, int iovcnt);

/**
 * Copy `len` bytes from the flat buffer `buf` into the scatter list `iov`.
 *
 * \return the number of bytes copied: min(len, spio_iov_length(iov, iovcnt));
 *         0 if `iov` or `buf` is NULL.
 */
size_t spio_copy_buf_to_iovs(struct iovec *iov, int iovcnt, const void *buf, size_t len);

/**
 * Copy up to `len` bytes from the scatter list `iov` into the flat buffer `buf`.
 *
 * \return the number of bytes copied: min(len, spio_iov_length(iov, iovcnt));
 *         0 if `iov` or `buf` is NULL.
 */
size_t spio_copy_iovs_to_buf(void *buf, size_t len, const struct iovec *iov, int iovcnt);

/**
 * Advance an iovec array by `bytes` in place: fully consumed entries are skipped
 * and the first remaining entry is shortened (its iov_base/iov_len are modified,
 * so the caller's array changes).
 *
 * Zero-length entries at the new front are skipped too: on success either
 * `*iovcnt` is 0 or `(*iov)->iov_len > 0`. Advancing exactly to the end leaves
 * `*iovcnt` == 0 and `*iov` one past the last entry.
 *
 * \param iov in: pointer to the array; out: pointer to the first unconsumed entry.
 * \param iovcnt in: number of entries; out: entries left.
 * \return 0, or -EINVAL if `bytes` exceeds the total length, an argument is
 *         NULL (`*iov` may be NULL only with `*iovcnt` == 0) or `*iovcnt` < 0;
 *         nothing is changed on error.
 */
int spio_iov_advance(struct iovec **iov, int *iovcnt, size_t bytes);

/**
 * Compare two scatter lists byte by byte.
 *
 * The two lists may be split at different places; only the bytes matter.
 *
 * \return 0 if the first `len` bytes are equal (always for `len` == 0),
 *         otherwise the offset + 1 of the first differing byte (so > 0);
 *         -EINVAL if either list is shorter than `len` or `len` exceeds
 *         INT64_MAX.
 */
int64_t spio_iov_compare(const struct iovec *a, int acnt, const struct iovec *b, int bcnt,
			 size_t len);

/**
 * Set the first `len` bytes of the scatter list to the byte value `c` (like
 * memset; pass 0 to zero). Stops at the end of the list; a NULL list is
 * ignored.
 */
void spio_iov_memset(struct iovec *iov, int iovcnt, int c, size_t len);

/*
 * CRC32C (Castagnoli), computed with isa-l's crc32_iscsi.
 */

/**
 * Update a running CRC32C with `len` bytes.
 *
 * The running value is the raw register (no final XOR): start with ~0u, feed
 * data, and finish with `~crc`. `spio_crc32c()` does all three for one buffer.
 * Feeding a buffer in pieces gives the same result as one call. Any length is
 * accepted (isa-l is called in chunks). A NULL `buf` or `len` 0 returns `crc`.
 */
uint32_t spio_crc32c_update(const void *buf, size_t len, uint32_t crc);

/**
 * CRC32C of one buffer in the standard final form ("123456789" -> 0xE3069283):
 * ~spio_crc32c_update(buf, len, ~0u). NULL `buf` or `len` 0 gives 0.
 */
uint32_t spio_crc32c(const void *buf, size_t len);

/*
 * UUIDs (over libuuid). A UUID is 16 bytes; its string form has 36 characters.
 */

#define SPIO_UUID_STRING_LEN 37 /* including the terminating NUL */

struct spio_uuid {
	uint8_t u[16];
};

/**
 * Fill the caller's `uuid` with a new random (version 4, RFC 4122 variant)
 * UUID from libuuid; NULL is ignored.
 */
void spio_uuid_generate(struct spio_uuid *uuid);

/**
 * Parse a UUID string: exactly 36 characters, 8-4-4-4-12 hex digits (either
 * case) separated by dashes, e.g. "0e7f8a3c-1b2d-4c5e-8f90-a1b2c3d4e5f6". No
 * braces, blanks or "urn:uuid:" prefix.
 *
 * \return 0, or -EINVAL if a pointer is NULL or `str` is not a UUID (the UUID
 *         is untouched).
 */
int spio_uuid_parse(struct spio_uuid *uuid, const char *str);

/**
 * Format a UUID as lower-case text into `buf` of `len` bytes: 36 characters
 * and a NUL.
 *
 * \return 0, or -EINVAL if `len` < SPIO_UUID_STRING_LEN or a pointer is NULL
 *         (`buf` untouched).
 */
int spio_uuid_fmt_lower(char *buf, size_t len, const struct spio_uuid *uuid);

/**
 * Compare two UUIDs byte by byte: < 0, 0 or > 0 like memcmp (only the sign
 * means anything); a NULL pointer sorts before any UUID, two NULLs are equal.
 */
int spio_uuid_compare(const struct spio_uuid *a, const struct spio_uuid *b);

/** True when every byte of the UUID is zero (or `uuid` is NULL). */
bool spio_uuid_is_null(const struct spio_uuid *uuid);

/*
 * Strict number parsing: the whole string must be a number, no sign for the
 * unsigned forms, no blanks, no trailing characters. Base 0 accepts 0x.. hex
 * and decimal (a leading 0 does not mean octal: "010" is 10).
 */

/**
 * Parse an unsigned 64-bit integer.
 *
 * \param base 0 (0x-prefixed hex or decimal), or 2..36; base 16 also accepts an
 *        optional "0x"/"0X" prefix. Letters are case-insensitive.
 * \return 0, or -EINVAL (NULL, bad base, empty, no digits after "0x", junk,
 *         sign, blanks) / -ERANGE (value > UINT64_MAX); junk wins over
 *         overflow. `out` is untouched on error.
 */
int spio_parse_u64(const char *str, int base, uint64_t *out);

/**
 * Parse a size with an optional binary suffix: "4096", "4k", "64M", "1G", "2T"
 * (case-insensitive, powers of 1024).
 *
 * Syntax: decimal digits, then optionally a unit k, m, g, t, p or e (2^10 ..
 * 2^60), then optionally "B" or, after a unit, "iB" (any case): "4k", "4KB",
 * "4KiB" and "4096B" are all 4096. A "0x" hex number is accepted without any
 * suffix. No sign, blanks or fractions ("1.5G" is rejected).
 *
 * \return 0, -EINVAL (NULL, no digits, unknown suffix, junk) or -ERANGE (the
 *         number or number << unit exceeds UINT64_MAX); `out` untouched on error.
 */
int spio_parse_capacity(const char *str, uint64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_UTIL_H */
