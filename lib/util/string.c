/*
 * Strict number parsing. strtoull() skips blanks, accepts signs (and negates
 * "-1" into a huge value) and stops at junk; configuration values must do
 * none of that, so the digits are scanned here.
 */
#include <errno.h>
#include <string.h>

#include "spio/util.h"

static int digit_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'Z') {
		return c - 'A' + 10;
	}
	return -1;
}

static bool has_hex_prefix(const char *s)
{
	return s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
}

/*
 * Parse the digits of `s` up to `end` (exclusive) in `base`. Junk anywhere
 * wins over overflow: "99999999999999999999x" is -EINVAL, not -ERANGE.
 */
static int parse_digits(const char *s, const char *end, unsigned base, uint64_t *out)
{
	uint64_t v = 0;
	bool overflow = false;

	if (s == end) {
		return -EINVAL;
	}
	for (const char *p = s; p < end; p++) {
		int d = digit_value(*p);

		if (d < 0 || (unsigned)d >= base) {
			return -EINVAL;
		}
		if (v > (UINT64_MAX - (uint64_t)d) / base) {
			overflow = true;
		}
		v = v * base + (uint64_t)d;
	}
	if (overflow) {
		return -ERANGE;
	}
	*out = v;
	return 0;
}

int spio_parse_u64(const char *str, int base, uint64_t *out)
{
	const char *end;
	uint64_t v;
	int rc;

	if (str == NULL || out == NULL || base < 0 || base == 1 || base > 36) {
		return -EINVAL;
	}
	end = str + strlen(str);
	if (base == 0) {
		if (has_hex_prefix(str)) {
			str += 2;
			base = 16;
		} else {
			base = 10; /* a leading 0 is not octal: "010" is ten */
		}
	} else if (base == 16 && has_hex_prefix(str)) {
		str += 2;
	}

	rc = parse_digits(str, end, (unsigned)base, &v);
	if (rc == 0) {
		*out = v;
	}
	return rc;
}

int spio_parse_capacity(const char *str, uint64_t *out)
{
	const char *digits_end, *s;
	unsigned shift = 0;
	uint64_t v;
	int rc;

	if (str == NULL || out == NULL) {
		return -EINVAL;
	}
	/* Hex sizes take no suffix: 'b' and 'e' would be read as digits. */
	if (has_hex_prefix(str)) {
		return spio_parse_u64(str, 16, out);
	}

	digits_end = str;
	while (*digits_end >= '0' && *digits_end <= '9') {
		digits_end++;
	}

	s = digits_end;
	switch (*s) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	case 'p':
	case 'P':
		shift = 50;
		break;
	case 'e':
	case 'E':
		shift = 60;
		break;
	default:
		break;
	}
	if (shift != 0) {
		s++;
		/* "KiB": the 'i' is only meaningful after a unit letter. */
		if ((*s == 'i' || *s == 'I') && (s[1] == 'b' || s[1] == 'B')) {
			s++;
		}
	}
	if (*s == 'b' || *s == 'B') {
		s++;
	}
	if (*s != '\0') {
		return -EINVAL;
	}

	rc = parse_digits(str, digits_end, 10, &v);
	if (rc != 0) {
		return rc;
	}
	if (shift != 0 && v > (UINT64_MAX >> shift)) {
		return -ERANGE;
	}
	*out = v << shift;
	return 0;
}
