/* Fault injection for tests: see fault.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/fault.h"

int g_fault_armed;

struct fault_state {
	struct fault_rule rule; /* written only while the site is disarmed */
	uint64_t calls;
	uint64_t faults;
	int armed;
};

static struct fault_state g_sites[FAULT_SITE_COUNT];
static uint64_t g_seed = 1;

static const char *const g_site_names[FAULT_SITE_COUNT] = {
    [FAULT_MEMPOOL_GET] = "mempool",
    [FAULT_DMA_ALLOC] = "dma",
    [FAULT_SOCK_SEND] = "send",
};

/* splitmix64: a good hash of (seed, call number), so rate:P needs no shared RNG state. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void update_armed(void)
{
	int any = 0;

	for (int i = 0; i < FAULT_SITE_COUNT; i++) {
		any |= __atomic_load_n(&g_sites[i].armed, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&g_fault_armed, any, __ATOMIC_RELEASE);
}

void fault_set(enum fault_site site, const struct fault_rule *rule)
{
	struct fault_state *s;

	if ((unsigned)site >= FAULT_SITE_COUNT) {
		return;
	}
	s = &g_sites[site];
	/* Disarm first, so that a late caller sees no rule rather than half of one. */
	__atomic_store_n(&s->armed, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&s->calls, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->faults, 0, __ATOMIC_RELAXED);
	s->rule = rule != NULL ? *rule : (struct fault_rule){0};
	if (s->rule.every != 0 || s->rule.per_million != 0) {
		__atomic_store_n(&s->armed, 1, __ATOMIC_RELEASE);
	}
	update_armed();
}

void fault_set_seed(uint64_t seed)
{
	__atomic_store_n(&g_seed, seed, __ATOMIC_RELAXED);
}

void fault_clear(void)
{
	for (int i = 0; i < FAULT_SITE_COUNT; i++) {
		fault_set((enum fault_site)i, NULL);
	}
}

uint64_t fault_count(enum fault_site site)
{
	if ((unsigned)site >= FAULT_SITE_COUNT) {
		return 0;
	}
	return __atomic_load_n(&g_sites[site].faults, __ATOMIC_RELAXED);
}

bool fault_decide(enum fault_site site)
{
	struct fault_state *s;
	uint64_t n;
	bool fail;

	if ((unsigned)site >= FAULT_SITE_COUNT) {
		return false;
	}
	s = &g_sites[site];
	if (!__atomic_load_n(&s->armed, __ATOMIC_ACQUIRE)) {
		return false;
	}
	n = __atomic_add_fetch(&s->calls, 1, __ATOMIC_RELAXED);
	if (n <= s->rule.after) {
		return false;
	}
	n -= s->rule.after;
	if (s->rule.every != 0) {
		fail = n % s->rule.every == 0;
	} else {
		uint64_t seed = __atomic_load_n(&g_seed, __ATOMIC_RELAXED);
		fail = mix(seed ^ mix(n + (uint64_t)site * 0x100000001b3ull)) % 1000000 <
		       s->rule.per_million;
	}
	if (fail) {
		__atomic_add_fetch(&s->faults, 1, __ATOMIC_RELAXED);
	}
	return fail;
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
	char buf[32];
	char *end;

	if (len == 0 || len >= sizeof(buf) || s[0] == '-' || s[0] == '+') {
		return -EINVAL;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 0);
	return errno != 0 || *end != '\0' ? -EINVAL : 0;
}

/* "0.01" or "1e-3" as calls per million, 0 < p <= 1. */
static int parse_rate(const char *s, size_t len, uint32_t *out)
{
	char buf[32];
	char *end;
	double p;

	if (len == 0 || len >= sizeof(buf)) {
		return -EINVAL;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	p = strtod(buf, &end);
	if (errno != 0 || *end != '\0' || !(p > 0.0 && p <= 1.0)) {
		return -EINVAL;
	}
	*out = (uint32_t)(p * 1e6 + 0.5);
	if (*out == 0) {
		*out = 1;
	}
	return 0;
}

/* One "SITE=MODE:VALUE[:after:N]" item into rules[]. */
static int parse_item(const char *item, size_t len, struct fault_rule *rules, bool *set,
		      uint64_t *seed)
{
	const char *eq = memchr(item, '=', len);
	const char *v, *end = item + len;
	size_t nlen;
	int site = -1;
	uint64_t x;

	if (eq == NULL) {
		return -EINVAL;
	}
	nlen = (size_t)(eq - item);
	v = eq + 1;
	if (nlen == 4 && memcmp(item, "seed", 4) == 0) {
		return parse_u64(v, (size_t)(end - v), seed);
	}
	for (int i = 0; i < FAULT_SITE_COUNT; i++) {
		if (strlen(g_site_names[i]) == nlen && memcmp(item, g_site_names[i], nlen) == 0) {
			site = i;
		}
	}
	if (site < 0) {
		return -EINVAL;
	}
	struct fault_rule r = {0};
	const char *c1 = memchr(v, ':', (size_t)(end - v));
	if (c1 == NULL) {
		return -EINVAL;
	}
	const char *val = c1 + 1;
	const char *c2 = memchr(val, ':', (size_t)(end - val));
	const char *vend = c2 != NULL ? c2 : end;
	if (c1 - v == 5 && memcmp(v, "every", 5) == 0) {
		if (parse_u64(val, (size_t)(vend - val), &x) != 0 || x == 0 || x > UINT32_MAX) {
			return -EINVAL;
		}
		r.every = (uint32_t)x;
	} else if (c1 - v == 4 && memcmp(v, "rate", 4) == 0) {
		if (parse_rate(val, (size_t)(vend - val), &r.per_million) != 0) {
			return -EINVAL;
		}
	} else {
		return -EINVAL;
	}
	if (c2 != NULL) {
		const char *a = c2 + 1;
		if ((size_t)(end - a) < 6 || memcmp(a, "after:", 6) != 0 ||
		    parse_u64(a + 6, (size_t)(end - a - 6), &r.after) != 0) {
			return -EINVAL;
		}
	}
	rules[site] = r;
	set[site] = true;
	return 0;
}

int fault_configure(const char *spec, char *err, size_t errlen)
{
	struct fault_rule rules[FAULT_SITE_COUNT] = {{0}};
	bool set[FAULT_SITE_COUNT] = {false};
	uint64_t seed = 1;
	const char *p;

	if (spec == NULL) {
		spec = "";
	}
	for (p = spec; *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (parse_item(p, len, rules, set, &seed) != 0) {
			if (err != NULL && errlen > 0) {
				snprintf(err, errlen, "%.*s", (int)(len > 200 ? 200 : len), p);
			}
			return -EINVAL;
		}
		p += len;
		if (*p == ',') {
			p++;
		}
	}
	fault_clear();
	fault_set_seed(seed);
	for (int i = 0; i < FAULT_SITE_COUNT; i++) {
		if (set[i]) {
			fault_set((enum fault_site)i, &rules[i]);
		}
	}
	return 0;
}
