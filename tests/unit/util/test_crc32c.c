/*
 * CRC32C: standard check values (RFC 3720 B.4 and the "123456789" check),
 * incremental updates and degenerate inputs.
 */
#define _GNU_SOURCE /* memfd_create */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
 * The CRC register after `len` zero bytes, by the GF(2) matrix method
 * (square the one-zero-bit operator; apply the powers len's bits select):
 * an independent reference that costs microseconds, not a second pass over
 * gigabytes.
 */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;

	for (; vec != 0; vec >>= 1, mat++) {
		if (vec & 1) {
			sum ^= *mat;
		}
	}
	return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
	for (int n = 0; n < 32; n++) {
		square[n] = gf2_times(mat, mat[n]);
	}
}

static uint32_t crc_after_zeros(uint32_t crc, uint64_t len)
{
	uint32_t odd[32], even[32];

	odd[0] = 0x82F63B78u; /* reflected Castagnoli polynomial: one zero bit */
	for (int n = 1; n < 32; n++) {
		odd[n] = 1u << (n - 1);
	}
	gf2_square(even, odd); /* two zero bits */
	gf2_square(odd, even); /* four */
	while (len != 0) {
		gf2_square(even, odd); /* first pass: one byte */
		if (len & 1) {
			crc = gf2_times(even, crc);
		}
		len >>= 1;
		if (len == 0) {
			break;
		}
		gf2_square(odd, even);
		if (len & 1) {
			crc = gf2_times(odd, crc);
		}
		len >>= 1;
	}
	return crc;
}

Test(crc32c, zero_run_reference_matches_bytewise)
{
	static const uint8_t zeros[300];

	for (size_t len = 0; len <= sizeof(zeros); len += (len < 20 ? 1 : 37)) {
		uint32_t want = spio_crc32c_update(zeros, len, 0x12345678u);
		uint32_t got = crc_after_zeros(0x12345678u, len);

		cr_assert_eq(got, want, "%zu zero bytes: matrix reference 0x%08X, crc32c 0x%08X",
			     len, got, want);
	}
}

/*
 * `len` readable zero bytes, cheaply: one 2 MiB memfd of zeros mapped over
 * and over. (A private anonymous mapping reads as zeros too, but takes a page
 * fault per 4 KiB: seconds of system time for 4 GiB.) NULL if it cannot.
 */
static uint8_t *map_zeros(size_t len, size_t *span_out)
{
	const size_t chunk = 2u << 20;
	size_t span = (len + chunk - 1) / chunk * chunk;
	static const uint8_t zeros[2u << 20];
	uint8_t *base;
	int fd = memfd_create("crc32c_zeros", MFD_CLOEXEC);

	if (fd < 0) {
		return NULL;
	}
	base = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED || write(fd, zeros, chunk) != (ssize_t)chunk) {
		close(fd);
		return base == MAP_FAILED ? NULL : (munmap(base, span), NULL);
	}
	for (size_t off = 0; off < span; off += chunk) {
		if (mmap(base + off, chunk, PROT_READ, MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd,
			 0) == MAP_FAILED) {
			munmap(base, span);
			close(fd);
			return NULL;
		}
	}
	close(fd); /* the mappings keep the memfd's pages */
	*span_out = span;
	return base;
}

/*
 * isa-l takes an int length, so long buffers must be fed in chunks (a length
 * above 4 GiB would silently truncate). The expected value comes from
 * crc_after_zeros(), checked above against the byte-wise code.
 */
Test(crc32c, length_above_4gib)
{
	const size_t len = (1ULL << 32) + 5; /* truncates to 5 as an int */
	size_t span = 0;
	uint8_t *buf = map_zeros(len, &span);
	uint32_t one_shot, want = ~crc_after_zeros(~0u, len);

	if (buf == NULL) {
		cr_skip_test("cannot map %zu zero bytes: %s", len, strerror(errno));
	}
	one_shot = spio_crc32c(buf, len);
	munmap(buf, span);
	cr_assert_eq(one_shot, want, "%zu zero bytes: one call gave 0x%08X, expected 0x%08X", len,
		     one_shot, want);
	cr_assert_neq(one_shot, ~crc_after_zeros(~0u, 5), "4 GiB + 5 bytes hashed as 5 bytes");
}
