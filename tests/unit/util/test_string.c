/*
 * Strict number parsing: spio_parse_u64 and spio_parse_capacity accept only
 * whole, unsigned numbers, and leave the output alone on any error.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>

#include "spio/util.h"

#define SENTINEL 0x5A5A5A5A5A5A5A5AULL

static void expect_u64(const char *str, int base, uint64_t want)
{
	uint64_t v = SENTINEL;
	int rc = spio_parse_u64(str, base, &v);

	cr_assert_eq(rc, 0, "parse_u64(\"%s\", %d): expected 0, got %d", str, base, rc);
	cr_assert_eq(v, want, "parse_u64(\"%s\", %d): expected %" PRIu64 ", got %" PRIu64, str,
		     base, want, v);
}

static void expect_u64_err(const char *str, int base, int want_rc)
{
	uint64_t v = SENTINEL;
	int rc = spio_parse_u64(str, base, &v);

	cr_assert_eq(rc, want_rc, "parse_u64(\"%s\", %d): expected %d, got %d", str ? str : "NULL",
		     base, want_rc, rc);
	cr_assert_eq(v, SENTINEL, "parse_u64(\"%s\", %d) failed but wrote %" PRIu64,
		     str ? str : "NULL", base, v);
}

static void expect_cap(const char *str, uint64_t want)
{
	uint64_t v = SENTINEL;
	int rc = spio_parse_capacity(str, &v);

	cr_assert_eq(rc, 0, "parse_capacity(\"%s\"): expected 0, got %d", str, rc);
	cr_assert_eq(v, want, "parse_capacity(\"%s\"): expected %" PRIu64 ", got %" PRIu64, str,
		     want, v);
}

static void expect_cap_err(const char *str, int want_rc)
{
	uint64_t v = SENTINEL;
	int rc = spio_parse_capacity(str, &v);

	cr_assert_eq(rc, want_rc, "parse_capacity(\"%s\"): expected %d, got %d", str ? str : "NULL",
		     want_rc, rc);
	cr_assert_eq(v, SENTINEL, "parse_capacity(\"%s\") failed but wrote %" PRIu64,
		     str ? str : "NULL", v);
}

Test(parse_u64, decimal)
{
	expect_u64("0", 10, 0);
	expect_u64("1", 10, 1);
	expect_u64("4096", 10, 4096);
	expect_u64("007", 10, 7);
	expect_u64("18446744073709551615", 10, UINT64_MAX);
	expect_u64("18446744073709551615", 0, UINT64_MAX);
}

Test(parse_u64, base0)
{
	expect_u64("123", 0, 123);
	expect_u64("0x1F", 0, 31);
	expect_u64("0Xff", 0, 255);
	expect_u64("0", 0, 0);
	expect_u64("010", 0, 10); /* not octal */
	expect_u64("0xFFFFFFFFFFFFFFFF", 0, UINT64_MAX);
}

Test(parse_u64, base16)
{
	expect_u64("ff", 16, 255);
	expect_u64("DeadBeef", 16, 0xDEADBEEF);
	expect_u64("0x10", 16, 16);
	expect_u64("0", 16, 0);
}

Test(parse_u64, other_bases)
{
	expect_u64("101", 2, 5);
	expect_u64("777", 8, 511);
	expect_u64("zz", 36, 35 * 36 + 35);
	expect_u64_err("2", 2, -EINVAL);
	expect_u64_err("8", 8, -EINVAL);
	expect_u64_err("1", 1, -EINVAL);
	expect_u64_err("1", 37, -EINVAL);
	expect_u64_err("1", -1, -EINVAL);
}

Test(parse_u64, rejects_junk)
{
	static const char *const bad[] = {"",	  "  ",	   " 1", "1 ",	 "1\n", "\t1", "-1",
					  "+1",	  "-0",	   "1a", "a1",	 "1.0", "1e3", "0x",
					  "0x 1", "1,000", "x1", "0x-1", "0x+1"};

	for (size_t i = 0; i < SPIO_COUNTOF(bad); i++) {
		expect_u64_err(bad[i], 0, -EINVAL);
		expect_u64_err(bad[i], 10, -EINVAL);
	}
	expect_u64_err("0x", 16, -EINVAL);
	expect_u64_err("0x10", 10, -EINVAL);
	expect_u64_err("g", 16, -EINVAL);
	expect_u64_err("-f", 16, -EINVAL);
	expect_u64_err("0x0x1", 0, -EINVAL);
}

Test(parse_u64, overflow)
{
	expect_u64_err("18446744073709551616", 10, -ERANGE);
	expect_u64_err("18446744073709551616", 0, -ERANGE);
	expect_u64_err("99999999999999999999", 10, -ERANGE);
	expect_u64_err("184467440737095516150", 10, -ERANGE);
	expect_u64_err("0x10000000000000000", 0, -ERANGE);
	expect_u64_err("10000000000000000", 16, -ERANGE);
	/* Junk is reported even when the digits before it overflow. */
	expect_u64_err("99999999999999999999x", 10, -EINVAL);
}

Test(parse_u64, null_arguments)
{
	uint64_t v = SENTINEL;

	expect_u64_err(NULL, 10, -EINVAL);
	cr_assert_eq(spio_parse_u64("1", 10, NULL), -EINVAL, "NULL out: expected -EINVAL");
	cr_assert_eq(v, SENTINEL, "untouched");
}

Test(parse_capacity, plain_and_suffixes)
{
	expect_cap("0", 0);
	expect_cap("512", 512);
	expect_cap("4096", 4096);
	expect_cap("4k", 4096);
	expect_cap("4K", 4096);
	expect_cap("64M", 64ULL << 20);
	expect_cap("64m", 64ULL << 20);
	expect_cap("1G", 1ULL << 30);
	expect_cap("1g", 1ULL << 30);
	expect_cap("2T", 2ULL << 40);
	expect_cap("3P", 3ULL << 50);
	expect_cap("1E", 1ULL << 60);
	expect_cap("0k", 0);
	expect_cap("18446744073709551615", UINT64_MAX);
	expect_cap("16777215T", 16777215ULL << 40);
}

Test(parse_capacity, byte_suffixes)
{
	expect_cap("4kB", 4096);
	expect_cap("4KB", 4096);
	expect_cap("4kb", 4096);
	expect_cap("4KiB", 4096);
	expect_cap("4kib", 4096);
	expect_cap("1GiB", 1ULL << 30);
	expect_cap("512B", 512);
	expect_cap("512b", 512);
}

Test(parse_capacity, hex)
{
	expect_cap("0x1000", 4096);
	expect_cap("0X10", 16);
	expect_cap_err("0x1000k", -EINVAL);
	expect_cap_err("0x", -EINVAL);
}

Test(parse_capacity, rejects)
{
	static const char *const bad[] = {"",	  "k",	   "K",	    "B",   "iB",  "4iB", "4x",
					  "4kk",  "4kbb",  "4kiB ", " 4k", "4 k", "-4k", "+4k",
					  "1.5G", "4KIBB", "4kiX",  "4ki", "G1",  "4Z",	 "4k4"};

	for (size_t i = 0; i < SPIO_COUNTOF(bad); i++) {
		expect_cap_err(bad[i], -EINVAL);
	}
	expect_cap_err(NULL, -EINVAL);
	cr_assert_eq(spio_parse_capacity("4k", NULL), -EINVAL, "NULL out: expected -EINVAL");
}

Test(parse_capacity, overflow)
{
	expect_cap_err("18446744073709551616", -ERANGE);
	expect_cap_err("18446744073709551616k", -ERANGE);
	expect_cap_err("16777216T", -ERANGE); /* exactly 2^64 */
	expect_cap_err("16E", -ERANGE);
	expect_cap_err("17179869184G", -ERANGE);
	expect_cap_err("0x10000000000000000", -ERANGE);
}
