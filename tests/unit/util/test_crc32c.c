/*
 * CRC32C: standard check values (RFC 3720 B.4 and the "123456789" check),
 * incremental updates and degenerate inputs.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "spio/util.h"

static void check_crc(const void *buf, size_t len, uint32_t expected, const char *what)
{
	uint32_t got = spio_crc32c(buf, len);

	cr_assert_eq(got, expected, "crc32c(%s): expected 0x%08X, got 0x%08X", what, expected, got);
}

Test(crc32c, check_string)
{
	check_crc("123456789", 9, 0xE3069283, "\"123456789\"");
}

Test(crc32c, zeros_32)
{
	uint8_t buf[32];

	memset(buf, 0, sizeof(buf));
	check_crc(buf, sizeof(buf), 0x8A9136AA, "32 x 0x00");
}

Test(crc32c, ones_32)
{
	uint8_t buf[32];

	memset(buf, 0xFF, sizeof(buf));
	check_crc(buf, sizeof(buf), 0x62A8AB43, "32 x 0xFF");
}

Test(crc32c, ascending_32)
{
	uint8_t buf[32];

	for (size_t i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)i;
	}
	check_crc(buf, sizeof(buf), 0x46DD794E, "0x00..0x1F");
}

Test(crc32c, descending_32)
{
	uint8_t buf[32];

	for (size_t i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)(31 - i);
	}
	check_crc(buf, sizeof(buf), 0x113FDB5C, "0x1F..0x00");
}

Test(crc32c, zero_length)
{
	uint8_t byte = 0x5A;

	/* The empty message's CRC32C is 0: ~(~0). */
	check_crc(&byte, 0, 0, "empty buffer");
	check_crc(NULL, 0, 0, "NULL, 0");
	cr_assert_eq(spio_crc32c_update(&byte, 0, 0x12345678), 0x12345678,
		     "update with len 0 must return the running value unchanged");
	cr_assert_eq(spio_crc32c_update(NULL, 100, 0xCAFEBABE), 0xCAFEBABE,
		     "update with NULL buffer must return the running value unchanged");
}

Test(crc32c, single_byte_differs)
{
	uint8_t a = 0, b = 1;

	cr_assert_neq(spio_crc32c(&a, 1), spio_crc32c(&b, 1),
		      "one-byte messages 0x00 and 0x01 must not share a CRC");
}

Test(crc32c, incremental_equals_one_shot)
{
	enum { LEN = 4099 };
	uint8_t *buf = malloc(LEN);
	uint32_t whole;

	cr_assert_not_null(buf, "malloc failed");
	srand(42);
	for (size_t i = 0; i < LEN; i++) {
		buf[i] = (uint8_t)rand();
	}
	whole = spio_crc32c(buf, LEN);

	/* Every split point in a prefix region, plus some far in the buffer. */
	for (size_t split = 0; split <= LEN; split += (split < 70 ? 1 : 509)) {
		uint32_t crc = ~0U;

		crc = spio_crc32c_update(buf, split, crc);
		crc = spio_crc32c_update(buf + split, LEN - split, crc);
		cr_assert_eq(~crc, whole, "split at %zu: expected 0x%08X, got 0x%08X", split, whole,
			     ~crc);
	}

	/* Many small odd-sized pieces. */
	uint32_t crc = ~0U;
	size_t off = 0, piece = 1;

	while (off < LEN) {
		size_t n = SPIO_MIN(piece, (size_t)LEN - off);

		crc = spio_crc32c_update(buf + off, n, crc);
		off += n;
		piece = piece * 3 % 17 + 1;
	}
	cr_assert_eq(~crc, whole, "piecewise: expected 0x%08X, got 0x%08X", whole, ~crc);
	free(buf);
}

Test(crc32c, incremental_check_string)
{
	uint32_t crc = ~0U;

	crc = spio_crc32c_update("1234", 4, crc);
	crc = spio_crc32c_update("", 0, crc);
	crc = spio_crc32c_update("56789", 5, crc);
	cr_assert_eq(~crc, 0xE3069283u, "\"1234\"+\"\"+\"56789\": expected 0xE3069283, got 0x%08X",
		     ~crc);
}

/*
 * isa-l takes an int length, so long buffers must be fed in chunks (a length
 * above 4 GiB would silently truncate).
 * A private anonymous mapping reads as zeros without committing memory; the
 * reference feeds the same bytes in 1 MiB pieces, each far below INT_MAX.
 */
Test(crc32c, length_above_4gib)
{
	const size_t len = (1ULL << 32) + 5; /* truncates to 5 as an int */
	const size_t piece = 1 << 20;
	uint8_t *buf =
	    mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint32_t one_shot, crc = ~0U;

	if (buf == MAP_FAILED) {
		cr_skip_test("cannot map %zu bytes", len);
	}
	one_shot = spio_crc32c(buf, len);
	for (size_t off = 0; off < len; off += piece) {
		crc = spio_crc32c_update(buf + off, SPIO_MIN(piece, len - off), crc);
	}
	munmap(buf, len);
	cr_assert_eq(one_shot, ~crc, "%zu zero bytes: one call gave 0x%08X, 1 MiB pieces 0x%08X",
		     len, one_shot, ~crc);
	cr_assert_neq(one_shot, 0u, "CRC of 4 GiB of zeros must not be the empty CRC");
}
