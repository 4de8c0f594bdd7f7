/*
 * spdk-io: CPU sets — bit operations, parsing and formatting of core masks
 * and core lists, conversion to and from the kernel's affinity masks.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <sched.h>
#include <string.h>

#include "spio/cpuset.h"

#define CPUSET_WORDS (SPIO_CPUSET_MAX_CORES / 64)

_Static_assert(SPIO_CPUSET_MAX_CORES % 64 == 0, "cpuset must be whole 64-bit words");
_Static_assert(CPU_SETSIZE >= SPIO_CPUSET_MAX_CORES, "cpu_set_t smaller than a spio_cpuset");

/* Output cursor for the formatters: writes stop, and `overflow` is set, at the end of buf. */
struct fmt_buf {
	char *buf;
	size_t len;
	size_t pos;
	bool overflow;
};

static void fmt_putc(struct fmt_buf *f, char c)
{
	/* keep one byte for the NUL */
	if (f->pos + 1 >= f->len) {
		f->overflow = true;
		return;
	}
	f->buf[f->pos++] = c;
}

static void fmt_putu(struct fmt_buf *f, unsigned int v)
{
	char digits[10];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0) {
		fmt_putc(f, digits[--n]);
	}
}

static int fmt_finish(struct fmt_buf *f)
{
	if (f->overflow) {
		f->buf[0] = '\0';
		return -ENOSPC;
	}
	f->buf[f->pos] = '\0';
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

/* Parse the hex digits [s, end) into `set` (already zero). */
static int parse_hex(struct spio_cpuset *set, const char *s, const char *end)
{
	const char *p;
	uint32_t nibble;

	if (s == end) {
		return -EINVAL;
	}
	for (p = s; p < end; p++) {
		if (hex_value(*p) < 0) {
			return -EINVAL;
		}
	}

	/* leading zeros carry no cores, so any number of them is fine */
	while (s < end && *s == '0') {
		s++;
	}
	if ((size_t)(end - s) > SPIO_CPUSET_MAX_CORES / 4) {
		return -EINVAL;
	}

	/* the last digit holds cores 0-3, the one before it 4-7, ... */
	for (p = end, nibble = 0; p > s; nibble++) {
		uint64_t v = (uint64_t)hex_value(*--p);

		set->bits_[nibble / 16] |= v << (nibble % 16 * 4);
	}
	return 0;
}

/* Parse one decimal core number at *p, skipping blanks around it if `blanks`. */
static int parse_core(const char **p, const char *end, bool blanks, uint32_t *core)
{
	const char *s = *p;
	uint32_t v = 0;

	while (blanks && s < end && is_blank(*s)) {
		s++;
	}
	if (s == end || *s < '0' || *s > '9') {
		return -EINVAL;
	}
	while (s < end && *s >= '0' && *s <= '9') {
		v = v * 10 + (uint32_t)(*s - '0');
		/* checked per digit, so v never exceeds 10239 and cannot wrap */
		if (v >= SPIO_CPUSET_MAX_CORES) {
			return -EINVAL;
		}
		s++;
	}
	while (blanks && s < end && is_blank(*s)) {
		s++;
	}
	*p = s;
	*core = v;
	return 0;
}

/* Parse "a,b-c,..." in [s, end) into `set` (already zero). */
static int parse_list(struct spio_cpuset *set, const char *s, const char *end, bool blanks)
{
	for (;;) {
		uint32_t first, last, core;

		if (parse_core(&s, end, blanks, &first) != 0) {
			return -EINVAL;
		}
		last = first;
		if (s < end && *s == '-') {
			s++;
			if (parse_core(&s, end, blanks, &last) != 0 || last < first) {
				return -EINVAL;
			}
		}
		for (core = first; core <= last; core++) {
			set->bits_[core / 64] |= 1ULL << (core % 64);
		}

		if (s == end) {
			return 0;
		}
		if (*s != ',') {
			return -EINVAL;
		}
		s++;
	}
}

int spio_cpuset_zero(struct spio_cpuset *set)
{
	if (set == NULL) {
		return -EINVAL;
	}
	memset(set, 0, sizeof(*set));
	return 0;
}

int spio_cpuset_set_cpu(struct spio_cpuset *set, uint32_t core, bool state)
{
	if (set == NULL || core >= SPIO_CPUSET_MAX_CORES) {
		return -EINVAL;
	}
	if (state) {
		set->bits_[core / 64] |= 1ULL << (core % 64);
	} else {
		set->bits_[core / 64] &= ~(1ULL << (core % 64));
	}
	return 0;
}

bool spio_cpuset_get_cpu(const struct spio_cpuset *set, uint32_t core)
{
	if (set == NULL || core >= SPIO_CPUSET_MAX_CORES) {
		return false;
	}
	return (set->bits_[core / 64] >> (core % 64)) & 1;
}

int spio_cpuset_copy(struct spio_cpuset *dst, const struct spio_cpuset *src)
{
	if (dst == NULL || src == NULL) {
		return -EINVAL;
	}
	/* memmove: dst == src is allowed */
	memmove(dst, src, sizeof(*dst));
	return 0;
}

int spio_cpuset_and(struct spio_cpuset *dst, const struct spio_cpuset *src)
{
	if (dst == NULL || src == NULL) {
		return -EINVAL;
	}
	for (int i = 0; i < CPUSET_WORDS; i++) {
		dst->bits_[i] &= src->bits_[i];
	}
	return 0;
}

int spio_cpuset_or(struct spio_cpuset *dst, const struct spio_cpuset *src)
{
	if (dst == NULL || src == NULL) {
		return -EINVAL;
	}
	for (int i = 0; i < CPUSET_WORDS; i++) {
		dst->bits_[i] |= src->bits_[i];
	}
	return 0;
}

int spio_cpuset_xor(struct spio_cpuset *dst, const struct spio_cpuset *src)
{
	if (dst == NULL || src == NULL) {
		return -EINVAL;
	}
	for (int i = 0; i < CPUSET_WORDS; i++) {
		dst->bits_[i] ^= src->bits_[i];
	}
	return 0;
}

int spio_cpuset_negate(struct spio_cpuset *set)
{
	if (set == NULL) {
		return -EINVAL;
	}
	/* the words hold exactly SPIO_CPUSET_MAX_CORES bits, so no mask is needed */
	for (int i = 0; i < CPUSET_WORDS; i++) {
		set->bits_[i] = ~set->bits_[i];
	}
	return 0;
}

bool spio_cpuset_equal(const struct spio_cpuset *a, const struct spio_cpuset *b)
{
	if (a == NULL || b == NULL) {
		return false;
	}
	return memcmp(a->bits_, b->bits_, sizeof(a->bits_)) == 0;
}

uint32_t spio_cpuset_count(const struct spio_cpuset *set)
{
	uint32_t n = 0;

	if (set == NULL) {
		return 0;
	}
	for (int i = 0; i < CPUSET_WORDS; i++) {
		n += (uint32_t)__builtin_popcountll(set->bits_[i]);
	}
	return n;
}

int spio_cpuset_first(const struct spio_cpuset *set)
{
	return spio_cpuset_next(set, -1);
}

int spio_cpuset_next(const struct spio_cpuset *set, int prev)
{
	int start;
	uint64_t word;

	if (set == NULL || prev >= SPIO_CPUSET_MAX_CORES - 1) {
		return -1;
	}
	start = prev < 0 ? 0 : prev + 1;

	word = set->bits_[start / 64] & (~0ULL << (start % 64));
	for (int i = start / 64;;) {
		if (word != 0) {
			return i * 64 + __builtin_ctzll(word);
		}
		if (++i == CPUSET_WORDS) {
			return -1;
		}
		word = set->bits_[i];
	}
}

int spio_cpuset_parse(struct spio_cpuset *set, const char *str)
{
	struct spio_cpuset tmp = {0};
	const char *end;
	size_t len;
	int rc;

	if (set == NULL || str == NULL) {
		return -EINVAL;
	}
	len = strlen(str);
	if (len == 0) {
		return -EINVAL;
	}
	end = str + len;

	if (str[0] == '[') {
		if (len < 2 || end[-1] != ']') {
			return -EINVAL;
		}
		/* a stray bracket inside is caught by parse_list as an unexpected character */
		rc = parse_list(&tmp, str + 1, end - 1, true);
	} else if (strpbrk(str, ",-") != NULL) {
		rc = parse_list(&tmp, str, end, false);
	} else if (str[0] == '0' && (str[1] == 'x' || str[1] == 'X')) {
		rc = parse_hex(&tmp, str + 2, end);
	} else {
		/* SPDK reads a bare mask as hex: "3" is cores 0 and 1 */
		rc = parse_hex(&tmp, str, end);
	}
	if (rc != 0) {
		return rc;
	}

	*set = tmp;
	return 0;
}

int spio_cpuset_fmt_hex(const struct spio_cpuset *set, char *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	struct fmt_buf f = {.buf = buf, .len = len};
	int top = -1;
	int nibble;

	if (set == NULL || buf == NULL || len == 0) {
		return -EINVAL;
	}

	for (int i = CPUSET_WORDS - 1; i >= 0; i--) {
		if (set->bits_[i] != 0) {
			top = i * 64 + 63 - __builtin_clzll(set->bits_[i]);
			break;
		}
	}

	fmt_putc(&f, '0');
	fmt_putc(&f, 'x');
	/* the empty set still gets one digit: "0x0" */
	for (nibble = top < 0 ? 0 : top / 4; nibble >= 0; nibble--) {
		uint64_t word = set->bits_[nibble / 16];

		fmt_putc(&f, digits[(word >> (nibble % 16 * 4)) & 0xf]);
	}
	return fmt_finish(&f);
}

int spio_cpuset_fmt_list(const struct spio_cpuset *set, char *buf, size_t len)
{
	struct fmt_buf f = {.buf = buf, .len = len};
	bool first = true;
	int core;

	if (set == NULL || buf == NULL || len == 0) {
		return -EINVAL;
	}

	fmt_putc(&f, '[');
	core = spio_cpuset_first(set);
	while (core >= 0) {
		int last = core;

		while (last + 1 < SPIO_CPUSET_MAX_CORES &&
		       spio_cpuset_get_cpu(set, (uint32_t)last + 1)) {
			last++;
		}
		if (!first) {
			fmt_putc(&f, ',');
		}
		first = false;
		fmt_putu(&f, (unsigned int)core);
		if (last > core) {
			fmt_putc(&f, '-');
			fmt_putu(&f, (unsigned int)last);
		}
		core = spio_cpuset_next(set, last);
	}
	fmt_putc(&f, ']');
	return fmt_finish(&f);
}

int spio_cpuset_from_cpu_set_t(struct spio_cpuset *set, const cpu_set_t *in)
{
	struct spio_cpuset tmp = {0};

	if (set == NULL || in == NULL) {
		return -EINVAL;
	}
	for (uint32_t core = 0; core < SPIO_CPUSET_MAX_CORES; core++) {
		if (CPU_ISSET(core, in)) {
			tmp.bits_[core / 64] |= 1ULL << (core % 64);
		}
	}
	*set = tmp;
	return 0;
}

int spio_cpuset_to_cpu_set_t(const struct spio_cpuset *set, cpu_set_t *out)
{
	int core;

	if (set == NULL || out == NULL) {
		return -EINVAL;
	}
	CPU_ZERO(out);
	SPIO_CPUSET_FOREACH (core, set) {
		CPU_SET((size_t)core, out);
	}
	return 0;
}

/* Affinity of the calling thread when the kernel's mask is wider than cpu_set_t. */
static int affinity_large(struct spio_cpuset *tmp)
{
	/* the kernel rejects a buffer narrower than its CPU mask; grow until it fits */
	for (size_t ncpus = 2 * CPU_SETSIZE; ncpus <= (1u << 20); ncpus *= 2) {
		size_t size = CPU_ALLOC_SIZE(ncpus);
		cpu_set_t *mask = CPU_ALLOC(ncpus);
		int err = 0;

		if (mask == NULL) {
			return -ENOMEM;
		}
		if (sched_getaffinity(0, size, mask) == 0) {
			for (size_t core = 0; core < SPIO_CPUSET_MAX_CORES; core++) {
				if (CPU_ISSET_S(core, size, mask)) {
					tmp->bits_[core / 64] |= 1ULL << (core % 64);
				}
			}
		} else {
			err = errno;
		}
		CPU_FREE(mask);
		if (err == 0) {
			return 0;
		}
		if (err != EINVAL) {
			return -err;
		}
	}
	return -EINVAL;
}

int spio_cpuset_from_affinity(struct spio_cpuset *set)
{
	struct spio_cpuset tmp = {0};
	cpu_set_t mask;
	int rc;

	if (set == NULL) {
		return -EINVAL;
	}

	if (sched_getaffinity(0, sizeof(mask), &mask) == 0) {
		rc = spio_cpuset_from_cpu_set_t(&tmp, &mask);
	} else if (errno == EINVAL) {
		rc = affinity_large(&tmp);
	} else {
		rc = -errno;
	}
	if (rc != 0) {
		return rc;
	}
	/* only CPUs beyond what a spio_cpuset can name are allowed */
	if (spio_cpuset_count(&tmp) == 0) {
		return -ERANGE;
	}

	*set = tmp;
	return 0;
}
