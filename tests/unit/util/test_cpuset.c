/*
 * Unit tests for spio/cpuset.h: parsing, formatting, set operations, iteration
 * and conversion to and from the kernel's affinity masks.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "spio/cpuset.h"

#define MAX_CORES SPIO_CPUSET_MAX_CORES

/* Parse `str`, which the test expects to be valid. */
static struct spio_cpuset parse_ok(const char *str)
{
	struct spio_cpuset set;
	int rc;

	memset(&set, 0xa5, sizeof(set));
	rc = spio_cpuset_parse(&set, str);
	cr_assert_eq(rc, 0, "parse \"%s\": expected 0, got %d", str, rc);
	return set;
}

static struct spio_cpuset from_cores(const int *cores, size_t n)
{
	struct spio_cpuset set = {0};

	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(spio_cpuset_set_cpu(&set, (uint32_t)cores[i], true), 0,
			     "set_cpu(%d): expected 0", cores[i]);
	}
	return set;
}

static void fmt_list_or_fail(const struct spio_cpuset *set, char *buf, size_t len)
{
	int rc = spio_cpuset_fmt_list(set, buf, len);

	cr_assert_eq(rc, 0, "fmt_list: expected 0, got %d", rc);
}

static void fmt_hex_or_fail(const struct spio_cpuset *set, char *buf, size_t len)
{
	int rc = spio_cpuset_fmt_hex(set, buf, len);

	cr_assert_eq(rc, 0, "fmt_hex: expected 0, got %d", rc);
}

/* Assert that `set` holds exactly the cores in `cores`. */
static void assert_cores(const struct spio_cpuset *set, const char *what, const int *cores,
			 size_t n)
{
	struct spio_cpuset want = from_cores(cores, n);
	char got[SPIO_CPUSET_LIST_STR_MAX], exp[SPIO_CPUSET_LIST_STR_MAX];

	if (!spio_cpuset_equal(set, &want)) {
		fmt_list_or_fail(set, got, sizeof(got));
		fmt_list_or_fail(&want, exp, sizeof(exp));
		cr_assert_fail("%s: expected cores %s, got %s", what, exp, got);
	}
}

#define ASSERT_CORES(set, what, ...)                                               \
	do {                                                                       \
		static const int cores_[] = {__VA_ARGS__};                         \
		assert_cores((set), (what), cores_, sizeof(cores_) / sizeof(int)); \
	} while (0)

/* Deterministic pseudo-random set; `density` of 256 means about all cores. */
static struct spio_cpuset random_set(uint64_t *seed, unsigned int density)
{
	struct spio_cpuset set = {0};

	for (uint32_t core = 0; core < MAX_CORES; core++) {
		*seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
		if ((*seed >> 56) < density) {
			spio_cpuset_set_cpu(&set, core, true);
		}
	}
	return set;
}

static void repeat(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

/*
 * Parsing: hex masks
 */

Test(cpuset_parse, hex_with_prefix)
{
	struct spio_cpuset set;

	set = parse_ok("0x3");
	ASSERT_CORES(&set, "0x3", 0, 1);
	set = parse_ok("0X3F");
	ASSERT_CORES(&set, "0X3F", 0, 1, 2, 3, 4, 5);
	set = parse_ok("0xa5");
	ASSERT_CORES(&set, "0xa5", 0, 2, 5, 7);
	set = parse_ok("0x10000000000000000");
	ASSERT_CORES(&set, "0x1 followed by 16 zeros", 64);
	set = parse_ok("0x0");
	cr_assert_eq(spio_cpuset_count(&set), 0, "0x0: expected empty set, got %u cores",
		     spio_cpuset_count(&set));
}

Test(cpuset_parse, hex_without_prefix_follows_spdk)
{
	struct spio_cpuset set;

	set = parse_ok("3");
	ASSERT_CORES(&set, "bare 3", 0, 1);
	set = parse_ok("f");
	ASSERT_CORES(&set, "bare f", 0, 1, 2, 3);
	set = parse_ok("F0");
	ASSERT_CORES(&set, "bare F0", 4, 5, 6, 7);
	/* a bare number is a mask, not a core: "10" is core 4 */
	set = parse_ok("10");
	ASSERT_CORES(&set, "bare 10", 4);
	set = parse_ok("0");
	cr_assert_eq(spio_cpuset_count(&set), 0, "bare 0: expected empty set, got %u cores",
		     spio_cpuset_count(&set));
}

Test(cpuset_parse, hex_full_width)
{
	char str[2 + 300 + 1];
	struct spio_cpuset set;

	/* 256 digits of f: every core */
	strcpy(str, "0x");
	repeat(str + 2, 'f', 256);
	set = parse_ok(str);
	cr_assert_eq(spio_cpuset_count(&set), MAX_CORES, "256 f digits: expected %d cores, got %u",
		     MAX_CORES, spio_cpuset_count(&set));

	/* 8 followed by 255 zeros: core 1023 only */
	str[2] = '8';
	repeat(str + 3, '0', 255);
	set = parse_ok(str);
	ASSERT_CORES(&set, "0x8 + 255 zeros", 1023);

	/* leading zeros do not count against the width */
	repeat(str + 2, '0', 299);
	str[301] = '1';
	str[302] = '\0';
	set = parse_ok(str);
	ASSERT_CORES(&set, "299 leading zeros then 1", 0);

	/* the same 256-digit mask without 0x */
	repeat(str, 'F', 256);
	set = parse_ok(str);
	cr_assert_eq(spio_cpuset_count(&set), MAX_CORES,
		     "bare 256 F digits: expected %d cores, got %u", MAX_CORES,
		     spio_cpuset_count(&set));
}

Test(cpuset_parse, hex_beyond_1024_bits_rejected)
{
	char str[2 + 257 + 1];
	struct spio_cpuset set = parse_ok("0x5");
	int rc;

	/* 1 followed by 256 zeros is core 1024 */
	strcpy(str, "0x1");
	repeat(str + 3, '0', 256);
	rc = spio_cpuset_parse(&set, str);
	cr_assert_eq(rc, -EINVAL, "core 1024 as hex: expected -EINVAL, got %d", rc);
	ASSERT_CORES(&set, "set after rejected hex", 0, 2);

	repeat(str, 'f', 257);
	rc = spio_cpuset_parse(&set, str);
	cr_assert_eq(rc, -EINVAL, "257 bare hex digits: expected -EINVAL, got %d", rc);
	ASSERT_CORES(&set, "set after rejected bare hex", 0, 2);
}

/*
 * Parsing: core lists
 */

Test(cpuset_parse, lists)
{
	struct spio_cpuset set;

	set = parse_ok("[0-3,7]");
	ASSERT_CORES(&set, "[0-3,7]", 0, 1, 2, 3, 7);
	set = parse_ok("0-3,7");
	ASSERT_CORES(&set, "0-3,7", 0, 1, 2, 3, 7);
	set = parse_ok("[0,2-4]");
	ASSERT_CORES(&set, "[0,2-4]", 0, 2, 3, 4);
	set = parse_ok("[5]");
	ASSERT_CORES(&set, "[5]", 5);
	set = parse_ok("[10]");
	ASSERT_CORES(&set, "[10]", 10);
	set = parse_ok("2-4");
	ASSERT_CORES(&set, "2-4", 2, 3, 4);
	set = parse_ok("1,10");
	ASSERT_CORES(&set, "1,10", 1, 10);
	set = parse_ok("[3-3]");
	ASSERT_CORES(&set, "[3-3]", 3);
	set = parse_ok("[7,1,3-4,2]");
	ASSERT_CORES(&set, "unordered list", 1, 2, 3, 4, 7);
	set = parse_ok("[0-2,1-3]");
	ASSERT_CORES(&set, "overlapping ranges", 0, 1, 2, 3);
	set = parse_ok("[007]");
	ASSERT_CORES(&set, "[007]", 7);
}

Test(cpuset_parse, list_whitespace_inside_brackets)
{
	struct spio_cpuset set;

	set = parse_ok("[ 0 - 3 , 7 ]");
	ASSERT_CORES(&set, "[ 0 - 3 , 7 ]", 0, 1, 2, 3, 7);
	set = parse_ok("[\t5,\t6 ]");
	ASSERT_CORES(&set, "tabs", 5, 6);
}

Test(cpuset_parse, core_1023_accepted_1024_rejected)
{
	struct spio_cpuset set;
	int rc;

	set = parse_ok("[1023]");
	ASSERT_CORES(&set, "[1023]", 1023);
	set = parse_ok("1020-1023");
	ASSERT_CORES(&set, "1020-1023", 1020, 1021, 1022, 1023);
	set = parse_ok("[0-1023]");
	cr_assert_eq(spio_cpuset_count(&set), MAX_CORES, "[0-1023]: expected %d cores, got %u",
		     MAX_CORES, spio_cpuset_count(&set));

	static const char *bad[] = {"[1024]", "[1023-1024]", "0-1024", "1024,1", "[99999999999]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set = parse_ok("[9]");
		rc = spio_cpuset_parse(&set, bad[i]);
		cr_assert_eq(rc, -EINVAL, "\"%s\": expected -EINVAL, got %d", bad[i], rc);
		ASSERT_CORES(&set, bad[i], 9);
	}
}

Test(cpuset_parse, malformed_leaves_set_untouched)
{
	static const char *bad[] = {
	    "0xZ",   "0x3g",  "0x",   "0X",   "",      "[]",   "[ ]",  "[1,,2]", "[1-",	 "[1-]",
	    "5-2",   "[5-2]", "[1",   "1]",   "[[1]]", "[1]]", "[1]x", "x[1]",	 "0x3 ", " 0x3",
	    "3 ",    "g",     "x3",   "-",    ",",     "1,",   ",1",   "-1",	 "[-1]", "[1-2-3]",
	    "[0x3]", "[1 2]", "0-3 ", " 0-3", "0x1-3", "1,a",  "[+1]", "[1;2]",	 "]",	 "[",
	    "0x-1",  "0x+1",  "[,]",  "[1,]", "[,1]",  "1--2", "0x 3", "[1]\n",
	};
	struct spio_cpuset set, before;
	int rc;

	before = parse_ok("[1,5-6,1023]");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set = before;
		rc = spio_cpuset_parse(&set, bad[i]);
		cr_assert_eq(rc, -EINVAL, "parse \"%s\": expected -EINVAL, got %d", bad[i], rc);
		cr_assert(spio_cpuset_equal(&set, &before),
			  "parse \"%s\": expected the set unchanged after the error", bad[i]);
	}
}

Test(cpuset_parse, null_arguments)
{
	struct spio_cpuset set = parse_ok("0x3");
	int rc;

	rc = spio_cpuset_parse(&set, NULL);
	cr_assert_eq(rc, -EINVAL, "NULL string: expected -EINVAL, got %d", rc);
	ASSERT_CORES(&set, "set after NULL string", 0, 1);
	rc = spio_cpuset_parse(NULL, "0x3");
	cr_assert_eq(rc, -EINVAL, "NULL set: expected -EINVAL, got %d", rc);
}

Test(cpuset_parse, replaces_previous_contents)
{
	struct spio_cpuset set = parse_ok("[0-9]");

	cr_assert_eq(spio_cpuset_parse(&set, "[12]"), 0, "expected [12] to parse");
	ASSERT_CORES(&set, "parse over a filled set", 12);
}

/*
 * Formatting
 */

Test(cpuset_fmt, hex_strings)
{
	static const struct {
		const char *in;
		const char *hex;
	} cases[] = {
	    {"0x0", "0x0"},
	    {"0x3", "0x3"},
	    {"0X00ff", "0xff"},
	    {"[7]", "0x80"},
	    {"[0-3,7]", "0x8f"},
	    {"[64]", "0x10000000000000000"},
	    {"[63,64]", "0x18000000000000000"},
	    {"[0,128]", "0x100000000000000000000000000000001"},
	};
	char buf[SPIO_CPUSET_STR_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spio_cpuset set = parse_ok(cases[i].in);

		fmt_hex_or_fail(&set, buf, sizeof(buf));
		cr_assert_str_eq(buf, cases[i].hex, "fmt_hex(%s): expected \"%s\", got \"%s\"",
				 cases[i].in, cases[i].hex, buf);
	}
}

Test(cpuset_fmt, hex_full_set_needs_str_max)
{
	char buf[SPIO_CPUSET_STR_MAX], want[SPIO_CPUSET_STR_MAX];
	struct spio_cpuset set = parse_ok("[0-1023]");
	int rc;

	strcpy(want, "0x");
	repeat(want + 2, 'f', 256);
	fmt_hex_or_fail(&set, buf, sizeof(buf));
	cr_assert_str_eq(buf, want, "full set: expected 0x + 256 f, got \"%s\"", buf);
	cr_assert_eq(strlen(buf) + 1, (size_t)SPIO_CPUSET_STR_MAX,
		     "full set: expected it to need exactly SPIO_CPUSET_STR_MAX (%d), needs %zu",
		     SPIO_CPUSET_STR_MAX, strlen(buf) + 1);

	rc = spio_cpuset_fmt_hex(&set, buf, sizeof(buf) - 1);
	cr_assert_eq(rc, -ENOSPC, "one byte short: expected -ENOSPC, got %d", rc);
	cr_assert_str_eq(buf, "", "after -ENOSPC: expected empty string, got \"%s\"", buf);
}

Test(cpuset_fmt, list_strings)
{
	static const struct {
		const char *in;
		const char *list;
	} cases[] = {
	    {"0x0", "[]"},
	    {"0x3", "[0-1]"},
	    {"0x5", "[0,2]"},
	    {"0x8f", "[0-3,7]"},
	    {"[0,2-4]", "[0,2-4]"},
	    {"[5]", "[5]"},
	    {"[ 7 , 1 , 3-4 , 2 ]", "[1-4,7]"},
	    {"[1023]", "[1023]"},
	    {"[0-1023]", "[0-1023]"},
	    {"[0,63-64,1000-1023]", "[0,63-64,1000-1023]"},
	};
	char buf[SPIO_CPUSET_LIST_STR_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spio_cpuset set = parse_ok(cases[i].in);

		fmt_list_or_fail(&set, buf, sizeof(buf));
		cr_assert_str_eq(buf, cases[i].list, "fmt_list(%s): expected \"%s\", got \"%s\"",
				 cases[i].in, cases[i].list, buf);
	}
}

Test(cpuset_fmt, too_small_buffers)
{
	struct spio_cpuset set = parse_ok("[0-3,7]");
	char buf[16];
	int rc;

	/* "0x8f" needs 5 bytes, "[0-3,7]" needs 8 */
	for (size_t len = 1; len < 5; len++) {
		memset(buf, 'Z', sizeof(buf));
		rc = spio_cpuset_fmt_hex(&set, buf, len);
		cr_assert_eq(rc, -ENOSPC, "fmt_hex into %zu bytes: expected -ENOSPC, got %d", len,
			     rc);
		cr_assert_eq(buf[0], '\0', "fmt_hex into %zu bytes: expected empty string", len);
		cr_assert_eq(buf[len], 'Z', "fmt_hex into %zu bytes: wrote past the buffer", len);
	}
	fmt_hex_or_fail(&set, buf, 5);
	cr_assert_str_eq(buf, "0x8f", "exact fit: expected \"0x8f\", got \"%s\"", buf);

	for (size_t len = 1; len < 8; len++) {
		memset(buf, 'Z', sizeof(buf));
		rc = spio_cpuset_fmt_list(&set, buf, len);
		cr_assert_eq(rc, -ENOSPC, "fmt_list into %zu bytes: expected -ENOSPC, got %d", len,
			     rc);
		cr_assert_eq(buf[0], '\0', "fmt_list into %zu bytes: expected empty string", len);
		cr_assert_eq(buf[len], 'Z', "fmt_list into %zu bytes: wrote past the buffer", len);
	}
	fmt_list_or_fail(&set, buf, 8);
	cr_assert_str_eq(buf, "[0-3,7]", "exact fit: expected \"[0-3,7]\", got \"%s\"", buf);

	/* the empty set needs 4 and 3 bytes */
	set = parse_ok("0x0");
	rc = spio_cpuset_fmt_hex(&set, buf, 3);
	cr_assert_eq(rc, -ENOSPC, "empty set hex into 3 bytes: expected -ENOSPC, got %d", rc);
	rc = spio_cpuset_fmt_list(&set, buf, 2);
	cr_assert_eq(rc, -ENOSPC, "empty set list into 2 bytes: expected -ENOSPC, got %d", rc);
	fmt_list_or_fail(&set, buf, 3);
	cr_assert_str_eq(buf, "[]", "empty set list: expected \"[]\", got \"%s\"", buf);
}

Test(cpuset_fmt, null_and_zero_length)
{
	struct spio_cpuset set = parse_ok("0x1");
	char buf[8] = "keep";
	int rc;

	rc = spio_cpuset_fmt_hex(NULL, buf, sizeof(buf));
	cr_assert_eq(rc, -EINVAL, "fmt_hex NULL set: expected -EINVAL, got %d", rc);
	rc = spio_cpuset_fmt_hex(&set, NULL, sizeof(buf));
	cr_assert_eq(rc, -EINVAL, "fmt_hex NULL buf: expected -EINVAL, got %d", rc);
	rc = spio_cpuset_fmt_hex(&set, buf, 0);
	cr_assert_eq(rc, -EINVAL, "fmt_hex len 0: expected -EINVAL, got %d", rc);
	rc = spio_cpuset_fmt_list(NULL, buf, sizeof(buf));
	cr_assert_eq(rc, -EINVAL, "fmt_list NULL set: expected -EINVAL, got %d", rc);
	rc = spio_cpuset_fmt_list(&set, NULL, sizeof(buf));
	cr_assert_eq(rc, -EINVAL, "fmt_list NULL buf: expected -EINVAL, got %d", rc);
	rc = spio_cpuset_fmt_list(&set, buf, 0);
	cr_assert_eq(rc, -EINVAL, "fmt_list len 0: expected -EINVAL, got %d", rc);
	cr_assert_str_eq(buf, "keep", "after -EINVAL: expected buf untouched, got \"%s\"", buf);
}

/* Length of the list form (with brackets and NUL) of the longest possible list. */
static size_t longest_list_len(void)
{
	/*
	 * m: most characters of items and commas for a set whose last run ends at e;
	 * best_upto[i]: the largest m for any e <= i.
	 */
	int best_upto[MAX_CORES];
	int result = 0;

	for (int e = 0; e < MAX_CORES; e++) {
		int m = 0;

		for (int a = 0; a <= e; a++) {
			char item[16];
			int n = a == e ? snprintf(item, sizeof(item), "%d", a)
				       : snprintf(item, sizeof(item), "%d-%d", a, e);
			/* an earlier run must end at a - 2 or before */
			int v = a >= 2 ? best_upto[a - 2] + 1 + n : n;

			m = v > m ? v : m;
		}
		best_upto[e] = e > 0 && best_upto[e - 1] > m ? best_upto[e - 1] : m;
		result = m > result ? m : result;
	}
	return (size_t)result + 3;
}

Test(cpuset_fmt, list_str_max_is_the_worst_case)
{
	static char buf[SPIO_CPUSET_LIST_STR_MAX];
	struct spio_cpuset set = {0};
	size_t longest = longest_list_len();
	int rc;

	cr_assert_eq(longest, (size_t)SPIO_CPUSET_LIST_STR_MAX,
		     "longest possible list: expected SPIO_CPUSET_LIST_STR_MAX (%d), computed %zu",
		     SPIO_CPUSET_LIST_STR_MAX, longest);

	/* two cores of every three: "[0-1,3-4,...,1020-1021,1023]" */
	for (uint32_t core = 0; core < MAX_CORES; core++) {
		spio_cpuset_set_cpu(&set, core, core % 3 != 2);
	}
	fmt_list_or_fail(&set, buf, sizeof(buf));
	cr_assert_eq(strlen(buf) + 1, (size_t)SPIO_CPUSET_LIST_STR_MAX,
		     "two of three cores: expected %d bytes, got %zu", SPIO_CPUSET_LIST_STR_MAX,
		     strlen(buf) + 1);
	cr_assert(strncmp(buf, "[0-1,3-4,6-7,", 13) == 0, "unexpected start: %.20s", buf);
	rc = spio_cpuset_fmt_list(&set, buf, sizeof(buf) - 1);
	cr_assert_eq(rc, -ENOSPC, "one byte short: expected -ENOSPC, got %d", rc);
}

/*
 * Round trips: parse -> fmt -> parse gives the same set
 */

static void check_round_trip(const struct spio_cpuset *set, const char *what)
{
	static char buf[SPIO_CPUSET_LIST_STR_MAX];
	struct spio_cpuset back;
	int rc;

	fmt_hex_or_fail(set, buf, SPIO_CPUSET_STR_MAX);
	memset(&back, 0xff, sizeof(back));
	rc = spio_cpuset_parse(&back, buf);
	cr_assert_eq(rc, 0, "%s: parsing hex \"%s\": expected 0, got %d", what, buf, rc);
	cr_assert(spio_cpuset_equal(&back, set), "%s: hex \"%s\" parsed to a different set", what,
		  buf);

	if (spio_cpuset_count(set) == 0) {
		return; /* "[]" is not accepted by parse */
	}
	fmt_list_or_fail(set, buf, sizeof(buf));
	memset(&back, 0xff, sizeof(back));
	rc = spio_cpuset_parse(&back, buf);
	cr_assert_eq(rc, 0, "%s: parsing list \"%.80s\": expected 0, got %d", what, buf, rc);
	cr_assert(spio_cpuset_equal(&back, set), "%s: list \"%.80s\" parsed to a different set",
		  what, buf);
}

Test(cpuset_round_trip, parsed_strings)
{
	static const char *inputs[] = {
	    "0x3",
	    "0X3F",
	    "3",
	    "f",
	    "10",
	    "0x0",
	    "[0-3,7]",
	    "0-3,7",
	    "[0,2-4]",
	    "[5]",
	    "[1023]",
	    "[0-1023]",
	    "1,3,5,1000-1010",
	    "0xdeadbeefcafebabe1",
	};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct spio_cpuset set = parse_ok(inputs[i]);

		check_round_trip(&set, inputs[i]);
	}
}

Test(cpuset_round_trip, random_sets)
{
	static const unsigned int densities[] = {1, 16, 128, 240, 255};
	uint64_t seed = 42;
	char what[64];

	for (size_t d = 0; d < sizeof(densities) / sizeof(densities[0]); d++) {
		for (int i = 0; i < 20; i++) {
			struct spio_cpuset set = random_set(&seed, densities[d]);

			snprintf(what, sizeof(what), "random set density %u #%d", densities[d], i);
			check_round_trip(&set, what);
		}
	}
}

/*
 * Single cores and set operations
 */

Test(cpuset_ops, set_get_bounds)
{
	struct spio_cpuset set = {0};
	int rc;

	rc = spio_cpuset_set_cpu(&set, 1023, true);
	cr_assert_eq(rc, 0, "set_cpu(1023): expected 0, got %d", rc);
	cr_assert(spio_cpuset_get_cpu(&set, 1023), "get_cpu(1023): expected true after set");
	rc = spio_cpuset_set_cpu(&set, 1024, true);
	cr_assert_eq(rc, -EINVAL, "set_cpu(1024): expected -EINVAL, got %d", rc);
	rc = spio_cpuset_set_cpu(&set, UINT32_MAX, true);
	cr_assert_eq(rc, -EINVAL, "set_cpu(UINT32_MAX): expected -EINVAL, got %d", rc);
	rc = spio_cpuset_set_cpu(NULL, 0, true);
	cr_assert_eq(rc, -EINVAL, "set_cpu(NULL): expected -EINVAL, got %d", rc);
	cr_assert_not(spio_cpuset_get_cpu(&set, 1024), "get_cpu(1024): expected false");
	cr_assert_not(spio_cpuset_get_cpu(&set, UINT32_MAX), "get_cpu(UINT32_MAX): expected false");
	cr_assert_not(spio_cpuset_get_cpu(NULL, 0), "get_cpu(NULL): expected false");
	ASSERT_CORES(&set, "after rejected set_cpu calls", 1023);

	spio_cpuset_set_cpu(&set, 0, true);
	spio_cpuset_set_cpu(&set, 63, true);
	spio_cpuset_set_cpu(&set, 64, true);
	ASSERT_CORES(&set, "after setting 0, 63, 64", 0, 63, 64, 1023);
	rc = spio_cpuset_set_cpu(&set, 63, false);
	cr_assert_eq(rc, 0, "clear 63: expected 0, got %d", rc);
	spio_cpuset_set_cpu(&set, 5, false); /* clearing an absent core is fine */
	ASSERT_CORES(&set, "after clearing 63 and 5", 0, 64, 1023);
	cr_assert_not(spio_cpuset_get_cpu(&set, 63), "get_cpu(63): expected false after clear");
}

Test(cpuset_ops, zero_copy_equal_count)
{
	struct spio_cpuset a = parse_ok("[1,100,1023]"), b, c;

	cr_assert_eq(spio_cpuset_count(&a), 3, "count: expected 3, got %u", spio_cpuset_count(&a));
	cr_assert_eq(spio_cpuset_copy(&b, &a), 0, "copy: expected 0");
	cr_assert(spio_cpuset_equal(&a, &b), "copy: expected equal sets");
	cr_assert_eq(spio_cpuset_copy(&b, &b), 0, "self copy: expected 0");
	cr_assert(spio_cpuset_equal(&a, &b), "self copy: expected the set unchanged");

	spio_cpuset_set_cpu(&b, 1023, false);
	cr_assert_not(spio_cpuset_equal(&a, &b), "sets differing in core 1023: expected unequal");
	cr_assert_eq(spio_cpuset_zero(&b), 0, "zero: expected 0");
	cr_assert_eq(spio_cpuset_count(&b), 0, "count after zero: expected 0, got %u",
		     spio_cpuset_count(&b));
	cr_assert_eq(spio_cpuset_first(&b), -1, "first of empty: expected -1, got %d",
		     spio_cpuset_first(&b));

	c = parse_ok("[0-1023]");
	cr_assert_eq(spio_cpuset_count(&c), 1024, "count of full set: expected 1024, got %u",
		     spio_cpuset_count(&c));
}

Test(cpuset_ops, and_or_xor_negate)
{
	struct spio_cpuset a, b = parse_ok("[2-5,100,1023]");

	a = parse_ok("[0-3,100,200]");
	cr_assert_eq(spio_cpuset_and(&a, &b), 0, "and: expected 0");
	ASSERT_CORES(&a, "[0-3,100,200] AND [2-5,100,1023]", 2, 3, 100);

	a = parse_ok("[0-3,100,200]");
	cr_assert_eq(spio_cpuset_or(&a, &b), 0, "or: expected 0");
	ASSERT_CORES(&a, "[0-3,100,200] OR [2-5,100,1023]", 0, 1, 2, 3, 4, 5, 100, 200, 1023);

	a = parse_ok("[0-3,100,200]");
	cr_assert_eq(spio_cpuset_xor(&a, &b), 0, "xor: expected 0");
	ASSERT_CORES(&a, "[0-3,100,200] XOR [2-5,100,1023]", 0, 1, 4, 5, 200, 1023);

	ASSERT_CORES(&b, "src after and/or/xor", 2, 3, 4, 5, 100, 1023);

	a = parse_ok("[0-1020]");
	cr_assert_eq(spio_cpuset_negate(&a), 0, "negate: expected 0");
	ASSERT_CORES(&a, "NOT [0-1020]", 1021, 1022, 1023);
	a = parse_ok("0x0");
	spio_cpuset_negate(&a);
	cr_assert_eq(spio_cpuset_count(&a), 1024, "NOT empty: expected 1024 cores, got %u",
		     spio_cpuset_count(&a));
	spio_cpuset_negate(&a);
	cr_assert_eq(spio_cpuset_count(&a), 0, "NOT NOT empty: expected 0 cores, got %u",
		     spio_cpuset_count(&a));

	/* a set combined with itself */
	a = parse_ok("[4,9]");
	spio_cpuset_and(&a, &a);
	ASSERT_CORES(&a, "a AND a", 4, 9);
	spio_cpuset_xor(&a, &a);
	cr_assert_eq(spio_cpuset_count(&a), 0, "a XOR a: expected empty, got %u cores",
		     spio_cpuset_count(&a));
}

Test(cpuset_ops, null_arguments)
{
	struct spio_cpuset a = parse_ok("[3]");
	int rc;

	cr_assert_eq(spio_cpuset_zero(NULL), -EINVAL, "zero(NULL): expected -EINVAL");
	cr_assert_eq(spio_cpuset_copy(NULL, &a), -EINVAL, "copy(NULL, a): expected -EINVAL");
	rc = spio_cpuset_copy(&a, NULL);
	cr_assert_eq(rc, -EINVAL, "copy(a, NULL): expected -EINVAL, got %d", rc);
	cr_assert_eq(spio_cpuset_and(NULL, &a), -EINVAL, "and(NULL, a): expected -EINVAL");
	cr_assert_eq(spio_cpuset_and(&a, NULL), -EINVAL, "and(a, NULL): expected -EINVAL");
	cr_assert_eq(spio_cpuset_or(NULL, &a), -EINVAL, "or(NULL, a): expected -EINVAL");
	cr_assert_eq(spio_cpuset_or(&a, NULL), -EINVAL, "or(a, NULL): expected -EINVAL");
	cr_assert_eq(spio_cpuset_xor(NULL, &a), -EINVAL, "xor(NULL, a): expected -EINVAL");
	cr_assert_eq(spio_cpuset_xor(&a, NULL), -EINVAL, "xor(a, NULL): expected -EINVAL");
	cr_assert_eq(spio_cpuset_negate(NULL), -EINVAL, "negate(NULL): expected -EINVAL");
	ASSERT_CORES(&a, "set after calls with NULL", 3);

	cr_assert_not(spio_cpuset_equal(NULL, &a), "equal(NULL, a): expected false");
	cr_assert_not(spio_cpuset_equal(&a, NULL), "equal(a, NULL): expected false");
	cr_assert_not(spio_cpuset_equal(NULL, NULL), "equal(NULL, NULL): expected false");
	cr_assert_eq(spio_cpuset_count(NULL), 0, "count(NULL): expected 0");
	cr_assert_eq(spio_cpuset_first(NULL), -1, "first(NULL): expected -1");
	cr_assert_eq(spio_cpuset_next(NULL, -1), -1, "next(NULL): expected -1");
}

/*
 * Iteration
 */

Test(cpuset_iter, first_and_next)
{
	struct spio_cpuset set = parse_ok("[0,63-64,127,1023]");
	static const struct {
		int prev;
		int want;
	} cases[] = {
	    {INT_MIN, 0}, {-5, 0},    {-1, 0},	  {0, 63},	 {62, 63},
	    {63, 64},	  {64, 127},  {65, 127},  {127, 1023},	 {1022, 1023},
	    {1023, -1},	  {1024, -1}, {5000, -1}, {INT_MAX, -1},
	};

	cr_assert_eq(spio_cpuset_first(&set), 0, "first: expected 0, got %d",
		     spio_cpuset_first(&set));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = spio_cpuset_next(&set, cases[i].prev);

		cr_assert_eq(got, cases[i].want, "next(prev=%d): expected %d, got %d",
			     cases[i].prev, cases[i].want, got);
	}

	set = parse_ok("[1023]");
	cr_assert_eq(spio_cpuset_first(&set), 1023, "first of [1023]: expected 1023, got %d",
		     spio_cpuset_first(&set));
}

Test(cpuset_iter, foreach_visits_every_core_in_order)
{
	struct spio_cpuset set = parse_ok("[0-2,64,500,1023]");
	static const int want[] = {0, 1, 2, 64, 500, 1023};
	int got[8];
	int n = 0;
	int core;

	SPIO_CPUSET_FOREACH (core, &set) {
		cr_assert_lt(n, 6, "foreach: more than the 6 expected cores");
		got[n++] = core;
	}
	cr_assert_eq(n, 6, "foreach: expected 6 cores, visited %d", n);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(got[i], want[i], "foreach step %d: expected core %d, got %d", i,
			     want[i], got[i]);
	}
	cr_assert_eq(core, -1, "after foreach: expected core == -1, got %d", core);

	set = parse_ok("0x0");
	n = 0;
	SPIO_CPUSET_FOREACH (core, &set) {
		n++;
	}
	cr_assert_eq(n, 0, "foreach over empty set: expected 0 iterations, got %d", n);

	set = parse_ok("[0-1023]");
	n = 0;
	SPIO_CPUSET_FOREACH (core, &set) {
		cr_assert_eq(core, n, "foreach over full set: expected core %d, got %d", n, core);
		n++;
	}
	cr_assert_eq(n, 1024, "foreach over full set: expected 1024 iterations, got %d", n);
}

Test(cpuset_iter, foreach_may_clear_current_core)
{
	struct spio_cpuset set = parse_ok("[1,5,9]");
	int core, n = 0;

	SPIO_CPUSET_FOREACH (core, &set) {
		spio_cpuset_set_cpu(&set, (uint32_t)core, false);
		n++;
	}
	cr_assert_eq(n, 3, "clearing while iterating: expected 3 visits, got %d", n);
	cr_assert_eq(spio_cpuset_count(&set), 0, "expected all cores cleared, %u left",
		     spio_cpuset_count(&set));
}

/*
 * cpu_set_t and affinity
 */

Test(cpuset_affinity, cpu_set_t_round_trip)
{
	struct spio_cpuset set = parse_ok("[0,7,64,511,1023]"), back;
	cpu_set_t cs;

	memset(&cs, 0xff, sizeof(cs));
	cr_assert_eq(spio_cpuset_to_cpu_set_t(&set, &cs), 0, "to_cpu_set_t: expected 0");
	cr_assert_eq(CPU_COUNT(&cs), 5, "cpu_set_t: expected 5 CPUs, got %d", CPU_COUNT(&cs));
	cr_assert(CPU_ISSET(0, &cs) && CPU_ISSET(7, &cs) && CPU_ISSET(64, &cs) &&
		      CPU_ISSET(511, &cs) && CPU_ISSET(1023, &cs),
		  "cpu_set_t: expected CPUs 0, 7, 64, 511, 1023 set");

	memset(&back, 0xff, sizeof(back));
	cr_assert_eq(spio_cpuset_from_cpu_set_t(&back, &cs), 0, "from_cpu_set_t: expected 0");
	cr_assert(spio_cpuset_equal(&set, &back), "cpu_set_t round trip: expected the same set");

	CPU_ZERO(&cs);
	CPU_SET(3, &cs);
	spio_cpuset_from_cpu_set_t(&back, &cs);
	ASSERT_CORES(&back, "from cpu_set_t {3}", 3);
}

Test(cpuset_affinity, cpu_set_t_null_arguments)
{
	struct spio_cpuset set = parse_ok("[2]");
	cpu_set_t cs;

	CPU_ZERO(&cs);
	cr_assert_eq(spio_cpuset_to_cpu_set_t(NULL, &cs), -EINVAL,
		     "to(NULL, cs): expected -EINVAL");
	cr_assert_eq(spio_cpuset_to_cpu_set_t(&set, NULL), -EINVAL,
		     "to(set, NULL): expected -EINVAL");
	cr_assert_eq(spio_cpuset_from_cpu_set_t(NULL, &cs), -EINVAL,
		     "from(NULL, cs): expected -EINVAL");
	cr_assert_eq(spio_cpuset_from_cpu_set_t(&set, NULL), -EINVAL,
		     "from(set, NULL): expected -EINVAL");
	cr_assert_eq(spio_cpuset_from_affinity(NULL), -EINVAL,
		     "from_affinity(NULL): expected -EINVAL");
	ASSERT_CORES(&set, "set after NULL calls", 2);
}

Test(cpuset_affinity, from_affinity_matches_kernel)
{
	struct spio_cpuset set, want;
	cpu_set_t cs;
	int rc;

	cr_assert_eq(sched_getaffinity(0, sizeof(cs), &cs), 0, "sched_getaffinity failed: %s",
		     strerror(errno));
	spio_cpuset_from_cpu_set_t(&want, &cs);

	rc = spio_cpuset_from_affinity(&set);
	cr_assert_eq(rc, 0, "from_affinity: expected 0, got %d", rc);
	cr_assert(spio_cpuset_equal(&set, &want), "from_affinity: expected the kernel's mask");
	cr_assert_eq(spio_cpuset_count(&set), (uint32_t)CPU_COUNT(&cs),
		     "from_affinity: expected %d cores, got %u", CPU_COUNT(&cs),
		     spio_cpuset_count(&set));
}

struct pin_arg {
	struct spio_cpuset want;
	struct spio_cpuset got;
	int rc_set;
	int rc_get;
};

static void *pin_thread(void *arg)
{
	struct pin_arg *pa = arg;
	cpu_set_t cs;

	spio_cpuset_to_cpu_set_t(&pa->want, &cs);
	pa->rc_set = pthread_setaffinity_np(pthread_self(), sizeof(cs), &cs);
	pa->rc_get = spio_cpuset_from_affinity(&pa->got);
	return NULL;
}

Test(cpuset_affinity, pin_thread_with_pthread_setaffinity)
{
	struct pin_arg pa = {0};
	struct spio_cpuset allowed;
	pthread_t tid;
	int core;

	cr_assert_eq(spio_cpuset_from_affinity(&allowed), 0, "from_affinity: expected 0");
	/* pin to the last allowed core */
	SPIO_CPUSET_FOREACH (core, &allowed) {
		spio_cpuset_zero(&pa.want);
		spio_cpuset_set_cpu(&pa.want, (uint32_t)core, true);
	}

	cr_assert_eq(pthread_create(&tid, NULL, pin_thread, &pa), 0, "pthread_create failed");
	pthread_join(tid, NULL);
	cr_assert_eq(pa.rc_set, 0, "pthread_setaffinity_np: expected 0, got %d", pa.rc_set);
	cr_assert_eq(pa.rc_get, 0, "from_affinity in the pinned thread: expected 0, got %d",
		     pa.rc_get);
	cr_assert(spio_cpuset_equal(&pa.got, &pa.want),
		  "pinned thread: expected its affinity to be the one core set");
}
