/*
 * Fault injection itself (lib/env/fault.c) and its env sites: spec parsing
 * (good and malformed specs, nothing changed by a bad one), every:N, rate:P
 * and :after:N semantics, counts and their reset, determinism by seed,
 * SPIO_FAULT through spio_env_init(); mempool gets and DMA allocations fail
 * as documented, and nothing is lost: after disarming, every object of a
 * pool can be got again and the DMA statistics are back where they were.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "env/fault.h"
#include "spio/dma.h"
#include "spio/env.h"

static void disarm(void)
{
	fault_clear();
	fault_set_seed(1);
}

TestSuite(fault_spec, .init = disarm, .fini = disarm);

/* Which of calls 1..n of `site` fail, as a bitmap in `out`. */
static void pattern(enum fault_site site, bool *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = fault_hit(site);
	}
}

Test(fault_spec, good_specs_arm_what_they_say)
{
	char err[64] = "";
	bool hits[40];

	cr_assert_eq(fault_configure("mempool=every:4", err, sizeof(err)), 0, "err '%s'", err);
	pattern(FAULT_MEMPOOL_GET, hits, 40);
	for (int i = 0; i < 40; i++) {
		cr_assert_eq(hits[i], (i + 1) % 4 == 0, "every:4: call %d expected %s", i + 1,
			     (i + 1) % 4 == 0 ? "fail" : "pass");
	}
	cr_assert_eq(fault_count(FAULT_MEMPOOL_GET), 10, "expected 10 faults, got %llu",
		     (unsigned long long)fault_count(FAULT_MEMPOOL_GET));
	cr_assert_eq(fault_count(FAULT_DMA_ALLOC), 0);
	cr_assert(!fault_hit(FAULT_DMA_ALLOC), "dma not armed by a mempool spec");
	cr_assert(!fault_hit(FAULT_SOCK_SEND), "send not armed by a mempool spec");

	/* after:N lets the first N pass, then counts from 1 again */
	cr_assert_eq(fault_configure("dma=every:3:after:5,send=every:1", err, sizeof(err)), 0,
		     "err '%s'", err);
	cr_assert(!fault_hit(FAULT_MEMPOOL_GET), "a new spec disarms sites it does not name");
	pattern(FAULT_DMA_ALLOC, hits, 20);
	for (int i = 0; i < 20; i++) {
		bool want = i >= 5 && (i - 5 + 1) % 3 == 0;
		cr_assert_eq(hits[i], want, "every:3:after:5: call %d expected %s", i + 1,
			     want ? "fail" : "pass");
	}
	cr_assert_eq(fault_count(FAULT_DMA_ALLOC), 5);
	for (int i = 0; i < 7; i++) {
		cr_assert(fault_hit(FAULT_SOCK_SEND), "every:1: call %d must fail", i + 1);
	}
	cr_assert_eq(fault_count(FAULT_SOCK_SEND), 7);

	/* rate:1 fails every call, hex and octal counts parse */
	cr_assert_eq(fault_configure("send=rate:1,seed=0x10", err, sizeof(err)), 0);
	for (int i = 0; i < 100; i++) {
		cr_assert(fault_hit(FAULT_SOCK_SEND), "rate:1: call %d must fail", i + 1);
	}
	cr_assert_eq(fault_configure("mempool=every:0x2:after:010", err, sizeof(err)), 0);
	pattern(FAULT_MEMPOOL_GET, hits, 12);
	cr_assert(!hits[7] && !hits[8] && hits[9] && !hits[10] && hits[11],
		  "every:0x2:after:010 (2 after 8): pattern wrong");

	/* an empty spec (and NULL) disarms everything */
	cr_assert_eq(fault_configure("", err, sizeof(err)), 0);
	cr_assert_eq(g_fault_armed, 0, "empty spec must disarm");
	cr_assert(!fault_hit(FAULT_MEMPOOL_GET));
	cr_assert_eq(fault_configure("dma=every:1", NULL, 0), 0);
	cr_assert(fault_hit(FAULT_DMA_ALLOC));
	cr_assert_eq(fault_configure(NULL, NULL, 0), 0);
	cr_assert_eq(g_fault_armed, 0, "NULL spec must disarm");
}

Test(fault_spec, bad_specs_are_refused_and_change_nothing)
{
	static const struct {
		const char *spec;
		const char *part; /* expected in err */
	} bad[] = {
	    {"mempool", "mempool"},
	    {"mempool=", "mempool="},
	    {"mempool=every", "mempool=every"},
	    {"mempool=every:", "mempool=every:"},
	    {"mempool=every:0", "mempool=every:0"},
	    {"mempool=every:-3", "mempool=every:-3"},
	    {"mempool=every:+3", "mempool=every:+3"},
	    {"mempool=every:3x", "mempool=every:3x"},
	    {"mempool=every:4294967296", "mempool=every:4294967296"},
	    {"mempool=often:3", "mempool=often:3"},
	    {"mempool=rate:0", "mempool=rate:0"},
	    {"mempool=rate:1.5", "mempool=rate:1.5"},
	    {"mempool=rate:-0.1", "mempool=rate:-0.1"},
	    {"mempool=rate:abc", "mempool=rate:abc"},
	    {"mempool=rate:nan", "mempool=rate:nan"},
	    {"mempool=every:3:after", "mempool=every:3:after"},
	    {"mempool=every:3:after:", "mempool=every:3:after:"},
	    {"mempool=every:3:befor:2", "mempool=every:3:befor:2"},
	    {"mempool=every:3:after:x", "mempool=every:3:after:x"},
	    {"disk=every:3", "disk=every:3"},
	    {"MEMPOOL=every:3", "MEMPOOL=every:3"},
	    {"seed=abc", "seed=abc"},
	    {"seed=", "seed="},
	    {"dma=every:2,,send=every:2", ""},
	    {"dma=every:2,bogus", "bogus"},
	};
	char err[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* armed before: a refused spec must leave this rule and its count alone */
		struct fault_rule keep = {.every = 2};

		fault_clear();
		fault_set(FAULT_DMA_ALLOC, &keep);
		cr_assert(!fault_hit(FAULT_DMA_ALLOC));
		cr_assert(fault_hit(FAULT_DMA_ALLOC));
		memset(err, 'x', sizeof(err));
		int rc = fault_configure(bad[i].spec, err, sizeof(err));
		cr_assert_eq(rc, -EINVAL, "spec '%s': expected -EINVAL, got %d", bad[i].spec, rc);
		cr_assert_not_null(memchr(err, '\0', sizeof(err)), "spec '%s': err not terminated",
				   bad[i].spec);
		cr_assert_str_eq(err, bad[i].part, "spec '%s': expected err '%s', got '%s'",
				 bad[i].spec, bad[i].part, err);
		cr_assert_eq(fault_count(FAULT_DMA_ALLOC), 1,
			     "spec '%s': the old rule's count changed to %llu", bad[i].spec,
			     (unsigned long long)fault_count(FAULT_DMA_ALLOC));
		cr_assert(!fault_hit(FAULT_DMA_ALLOC) && fault_hit(FAULT_DMA_ALLOC),
			  "spec '%s': the old rule (every:2) no longer applies", bad[i].spec);
		cr_assert(!fault_hit(FAULT_MEMPOOL_GET) && !fault_hit(FAULT_SOCK_SEND),
			  "spec '%s': a refused spec armed a site", bad[i].spec);
	}

	/* err is cut to errlen, and a NULL or empty err buffer is fine */
	char small[5];
	cr_assert_eq(fault_configure("mempool=every:0", small, sizeof(small)), -EINVAL);
	cr_assert_str_eq(small, "memp", "err cut to 4 chars + NUL, got '%s'", small);
	cr_assert_eq(fault_configure("mempool=every:0", NULL, 16), -EINVAL);
	cr_assert_eq(fault_configure("mempool=every:0", small, 0), -EINVAL);

	/* a trailing comma ends the list; it is not an empty item */
	cr_assert_eq(fault_configure("dma=every:2,", err, sizeof(err)), 0, "err '%s'", err);
}

Test(fault_spec, set_counts_and_clear)
{
	struct fault_rule r = {.every = 3};

	fault_set(FAULT_MEMPOOL_GET, &r);
	cr_assert_neq(g_fault_armed, 0, "fault_set must arm");
	for (int i = 0; i < 9; i++) {
		(void)fault_hit(FAULT_MEMPOOL_GET);
	}
	cr_assert_eq(fault_count(FAULT_MEMPOOL_GET), 3);
	/* set again: the call count restarts, so call 3 of the new rule fails, not call 1 */
	fault_set(FAULT_MEMPOOL_GET, &r);
	cr_assert_eq(fault_count(FAULT_MEMPOOL_GET), 0, "fault_set must reset the count");
	cr_assert(!fault_hit(FAULT_MEMPOOL_GET) && !fault_hit(FAULT_MEMPOOL_GET) &&
		      fault_hit(FAULT_MEMPOOL_GET),
		  "call count did not restart");

	/* a zeroed rule (or NULL) disarms only that site */
	fault_set(FAULT_DMA_ALLOC, &r);
	fault_set(FAULT_MEMPOOL_GET, &(struct fault_rule){.after = 5});
	cr_assert_neq(g_fault_armed, 0, "dma still armed");
	for (int i = 0; i < 10; i++) {
		cr_assert(!fault_hit(FAULT_MEMPOOL_GET), "zeroed rule: call %d failed", i + 1);
	}
	fault_set(FAULT_DMA_ALLOC, NULL);
	cr_assert_eq(g_fault_armed, 0, "no site armed: the fast path must be off");

	/* bad sites are ignored */
	fault_set((enum fault_site)FAULT_SITE_COUNT, &r);
	fault_set((enum fault_site) - 1, &r);
	cr_assert_eq(g_fault_armed, 0, "a bad site armed something");
	cr_assert_eq(fault_count((enum fault_site)FAULT_SITE_COUNT), 0);
	cr_assert(!fault_decide((enum fault_site)FAULT_SITE_COUNT));

	fault_set(FAULT_SOCK_SEND, &r);
	(void)fault_hit(FAULT_SOCK_SEND);
	(void)fault_hit(FAULT_SOCK_SEND);
	cr_assert(fault_hit(FAULT_SOCK_SEND));
	fault_clear();
	cr_assert_eq(g_fault_armed, 0);
	cr_assert_eq(fault_count(FAULT_SOCK_SEND), 0, "fault_clear must reset the counts");
	for (int i = 0; i < 10; i++) {
		cr_assert(!fault_hit(FAULT_SOCK_SEND));
	}
}

#define RATE_CALLS 20000

Test(fault_spec, rate_is_deterministic_by_seed)
{
	static bool a[RATE_CALLS], b[RATE_CALLS], c[RATE_CALLS];
	struct fault_rule r = {.per_million = 100000}; /* 10 % */
	uint64_t n;

	fault_set_seed(7);
	fault_set(FAULT_MEMPOOL_GET, &r);
	pattern(FAULT_MEMPOOL_GET, a, RATE_CALLS);
	n = fault_count(FAULT_MEMPOOL_GET);
	/* 10 % of 20000 is 2000, sd ~42: a wide band, the pattern is fixed anyway */
	cr_assert(n > 1700 && n < 2300, "rate 10 %%: %llu faults in %d calls",
		  (unsigned long long)n, RATE_CALLS);

	fault_set(FAULT_MEMPOOL_GET, &r);
	pattern(FAULT_MEMPOOL_GET, b, RATE_CALLS);
	cr_assert_eq(memcmp(a, b, sizeof(a)), 0, "same seed, same calls: pattern must repeat");

	fault_set_seed(8);
	fault_set(FAULT_MEMPOOL_GET, &r);
	pattern(FAULT_MEMPOOL_GET, c, RATE_CALLS);
	cr_assert_neq(memcmp(a, c, sizeof(a)), 0, "another seed must give another pattern");

	/* sites do not share a pattern for the same seed */
	fault_set_seed(7);
	fault_set(FAULT_MEMPOOL_GET, NULL);
	fault_set(FAULT_DMA_ALLOC, &r);
	pattern(FAULT_DMA_ALLOC, c, RATE_CALLS);
	cr_assert_neq(memcmp(a, c, sizeof(a)), 0, "dma and mempool patterns identical");

	/* the spec form gives the same as fault_set + fault_set_seed */
	char err[32];
	cr_assert_eq(fault_configure("mempool=rate:0.1,seed=7", err, sizeof(err)), 0);
	pattern(FAULT_MEMPOOL_GET, b, RATE_CALLS);
	cr_assert_eq(memcmp(a, b, sizeof(a)), 0, "spec rate:0.1,seed=7 differs from the API");

	/* a tiny rate rounds up to one per million, never to zero (armed) */
	cr_assert_eq(fault_configure("mempool=rate:1e-9", err, sizeof(err)), 0);
	cr_assert_neq(g_fault_armed, 0, "rate:1e-9 must still arm");

	/* seed defaults to 1 in a spec that does not name it */
	fault_set_seed(1);
	fault_set(FAULT_MEMPOOL_GET, &r);
	pattern(FAULT_MEMPOOL_GET, a, RATE_CALLS);
	fault_set_seed(99);
	cr_assert_eq(fault_configure("mempool=rate:0.1", err, sizeof(err)), 0);
	pattern(FAULT_MEMPOOL_GET, b, RATE_CALLS);
	cr_assert_eq(memcmp(a, b, sizeof(a)), 0, "a spec without seed= must use seed 1");
}

/*
 * The env's sites
 */

static void env_up(void)
{
	struct spio_env_opts eo;

	disarm();
	spio_env_opts_init(&eo, sizeof(eo));
	eo.no_huge = true;
	eo.name = "test_fault_env";
	cr_assert_eq(spio_env_init(&eo), 0);
}

static void env_down(void)
{
	disarm();
	spio_env_fini();
}

TestSuite(fault_site, .init = env_up, .fini = env_down);

#define POOL_N 64

/* Get and put under `rule`, then disarm: all POOL_N objects must come back, each once. */
static void pool_survives(size_t cache, enum spio_mempool_mem mem, const struct fault_rule *rule)
{
	struct spio_mempool *mp = spio_mempool_create("fp", POOL_N, 32, cache, mem, NULL, NULL);
	void *held[POOL_N];
	size_t nheld = 0;
	int nulls = 0, enomems = 0;

	cr_assert_not_null(mp, "mempool_create(cache %zu): errno %d", cache, errno);
	fault_set(FAULT_MEMPOOL_GET, rule);
	for (int round = 0; round < 400; round++) {
		if (round % 3 == 2) {
			void *b[5];
			int rc = spio_mempool_get_bulk(mp, b, 5);
			if (rc == 0) {
				for (int i = 0; i < 5 && nheld < POOL_N; i++) {
					held[nheld++] = b[i];
				}
			} else {
				cr_assert_eq(rc, -ENOMEM, "get_bulk: expected 0 or -ENOMEM, got %d",
					     rc);
				enomems++;
			}
		} else {
			void *o = spio_mempool_get(mp);
			if (o != NULL) {
				held[nheld++] = o;
			} else {
				nulls++;
			}
		}
		/* keep the pool from running dry on its own: faults, not exhaustion */
		while (nheld > 20) {
			spio_mempool_put(mp, held[--nheld]);
		}
	}
	cr_assert_gt(fault_count(FAULT_MEMPOOL_GET), 0, "no fault was injected");
	cr_assert_eq((uint64_t)(nulls + enomems), fault_count(FAULT_MEMPOOL_GET),
		     "%d NULL gets + %d -ENOMEM bulk gets, but %llu faults injected", nulls,
		     enomems, (unsigned long long)fault_count(FAULT_MEMPOOL_GET));
	spio_mempool_put_bulk(mp, held, nheld);
	nheld = 0;

	fault_clear();
	cr_assert_eq(spio_mempool_count(mp), POOL_N, "after disarm: %zu of %d objects free",
		     spio_mempool_count(mp), POOL_N);
	for (int i = 0; i < POOL_N; i++) {
		held[i] = spio_mempool_get(mp);
		cr_assert_not_null(held[i], "after disarm, get %d of %d failed", i + 1, POOL_N);
		for (int j = 0; j < i; j++) {
			cr_assert_neq(held[i], held[j], "object handed out twice");
		}
	}
	cr_assert_null(spio_mempool_get(mp), "a %dth object", POOL_N + 1);
	spio_mempool_put_bulk(mp, held, POOL_N);
	cr_assert_eq(spio_mempool_get_bulk(mp, held, POOL_N), 0, "bulk get of all after disarm");
	spio_mempool_put_bulk(mp, held, POOL_N);
	spio_mempool_free(mp);
}

Test(fault_site, mempool_gets_fail_and_lose_nothing)
{
	for (uint32_t every = 1; every <= 7; every += 2) {
		pool_survives(0, SPIO_MEMPOOL_MEM_PLAIN, &(struct fault_rule){.every = every});
		pool_survives(8, SPIO_MEMPOOL_MEM_PLAIN, &(struct fault_rule){.every = every});
	}
	for (uint64_t seed = 1; seed <= 4; seed++) {
		fault_set_seed(seed);
		pool_survives(16, SPIO_MEMPOOL_MEM_DMA,
			      &(struct fault_rule){.per_million = 200000});
		pool_survives(0, SPIO_MEMPOOL_MEM_PLAIN,
			      &(struct fault_rule){.per_million = 300000, .after = 10});
	}
}

Test(fault_site, mempool_fault_is_not_exhaustion)
{
	struct spio_mempool *mp =
	    spio_mempool_create("fe", 4, 16, 0, SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL);
	void *o;

	cr_assert_not_null(mp);
	fault_set(FAULT_MEMPOOL_GET, &(struct fault_rule){.every = 1});
	cr_assert_null(spio_mempool_get(mp), "every:1: get must fail");
	cr_assert_eq(spio_mempool_get_bulk(mp, &o, 1), -ENOMEM);
	cr_assert_eq(spio_mempool_count(mp), 4, "a failed get took an object");
	/* argument checks come first: a bad call is -EINVAL, not an injected fault */
	cr_assert_eq(spio_mempool_get_bulk(NULL, &o, 1), -EINVAL);
	cr_assert_eq(spio_mempool_get_bulk(mp, &o, 0), 0, "n == 0 is not a get");
	cr_assert_eq(fault_count(FAULT_MEMPOOL_GET), 2, "expected 2 faults, got %llu",
		     (unsigned long long)fault_count(FAULT_MEMPOOL_GET));
	fault_clear();
	o = spio_mempool_get(mp);
	cr_assert_not_null(o, "disarmed: get must work");
	spio_mempool_put(mp, o);
	spio_mempool_free(mp);
}

Test(fault_site, dma_allocs_fail_and_lose_nothing)
{
	struct spio_dma_stats before, after;
	struct spio_dma_buf db;
	void *keep, *p;

	keep = spio_dma_malloc(1000, 0);
	cr_assert_not_null(keep);
	memset(keep, 0x5a, 1000);
	cr_assert_eq(spio_dma_get_stats(&before), 0);

	fault_set(FAULT_DMA_ALLOC, &(struct fault_rule){.every = 1});
	errno = 0;
	cr_assert_null(spio_dma_malloc(4096, 0), "every:1: dma_malloc must fail");
	cr_assert_eq(errno, ENOMEM, "expected errno ENOMEM, got %d", errno);
	errno = 0;
	cr_assert_null(spio_dma_zmalloc(64, 64), "every:1: dma_zmalloc must fail");
	cr_assert_eq(errno, ENOMEM, "expected errno ENOMEM, got %d", errno);
	cr_assert_null(spio_dma_realloc(NULL, 64, 0), "realloc(NULL) is a malloc: must fail");
	/* a failed realloc that must move leaves the old buffer alone */
	p = spio_dma_realloc(keep, 1 << 20, 0);
	if (p == NULL) {
		for (int i = 0; i < 1000; i++) {
			cr_assert_eq(((uint8_t *)keep)[i], 0x5a, "failed realloc changed byte %d",
				     i);
		}
	} else {
		keep = p; /* grown in place: no allocation to fail */
	}
	cr_assert_eq(spio_dma_buf_alloc(&db, 512, 0), -ENOMEM, "dma_buf_alloc: expected -ENOMEM");
	cr_assert_null(db.ptr, "failed dma_buf_alloc must clear buf");
	errno = 0;
	cr_assert_null(spio_mempool_create("fd", 8, 64, 0, SPIO_MEMPOOL_MEM_DMA, NULL, NULL),
		       "a DMA pool needs a DMA allocation");
	cr_assert_gt(fault_count(FAULT_DMA_ALLOC), 4, "expected at least 5 faults, got %llu",
		     (unsigned long long)fault_count(FAULT_DMA_ALLOC));
	/* bad arguments are refused before the site */
	fault_set(FAULT_DMA_ALLOC, &(struct fault_rule){.every = 1});
	errno = 0;
	cr_assert_null(spio_dma_malloc(0, 0));
	cr_assert_eq(errno, EINVAL, "size 0: expected EINVAL, got %d", errno);

	fault_clear();
	if (p == NULL) {
		cr_assert_eq(spio_dma_get_stats(&after), 0);
		cr_assert_eq(
		    after.allocations, before.allocations, "live DMA buffers %llu, expected %llu",
		    (unsigned long long)after.allocations, (unsigned long long)before.allocations);
		cr_assert_eq(after.allocated_bytes, before.allocated_bytes,
			     "allocated bytes %llu, expected %llu",
			     (unsigned long long)after.allocated_bytes,
			     (unsigned long long)before.allocated_bytes);
	}
	p = spio_dma_zmalloc(4096, 0);
	cr_assert_not_null(p, "disarmed: dma_zmalloc must work");
	spio_dma_free(p);
	cr_assert_eq(spio_dma_buf_alloc(&db, 512, 0), 0);
	spio_dma_buf_free(&db);
	spio_dma_free(keep);
}

Test(fault_site, dma_every_n_with_after)
{
	void *p[30];
	int fails = 0;

	fault_set(FAULT_DMA_ALLOC, &(struct fault_rule){.every = 4, .after = 2});
	for (int i = 0; i < 30; i++) {
		p[i] = spio_dma_malloc(256, 0);
		bool want_fail = i >= 2 && (i - 2 + 1) % 4 == 0;
		cr_assert_eq(p[i] == NULL, want_fail, "alloc %d: expected %s", i + 1,
			     want_fail ? "NULL" : "a buffer");
		fails += p[i] == NULL;
	}
	cr_assert_eq((uint64_t)fails, fault_count(FAULT_DMA_ALLOC));
	for (int i = 0; i < 30; i++) {
		spio_dma_free(p[i]);
	}
}

/* SPIO_FAULT arms the sites for the whole process when the env starts. */
Test(fault_env_var, armed_by_spio_env_init)
{
	struct spio_env_opts eo;

	disarm();
	spio_env_opts_init(&eo, sizeof(eo));
	eo.no_huge = true;
	eo.name = "test_fault_env_var";
	setenv("SPIO_FAULT", "mempool=every:2,seed=5", 1);
	cr_assert_eq(spio_env_init(&eo), 0);
	cr_assert(!fault_hit(FAULT_MEMPOOL_GET) && fault_hit(FAULT_MEMPOOL_GET),
		  "SPIO_FAULT=mempool=every:2 not applied");
	cr_assert(!fault_hit(FAULT_DMA_ALLOC));
	spio_env_fini();
	disarm();

	setenv("SPIO_FAULT", "mempool=every:zero", 1);
	int rc = spio_env_init(&eo);
	cr_assert_eq(rc, -EINVAL, "bad SPIO_FAULT: expected -EINVAL, got %d", rc);
	cr_assert_eq(g_fault_armed, 0, "a bad SPIO_FAULT armed something");
	/* the failed init left nothing behind: a good one works */
	unsetenv("SPIO_FAULT");
	cr_assert_eq(spio_env_init(&eo), 0, "env init after a refused SPIO_FAULT");
	cr_assert_eq(g_fault_armed, 0, "no SPIO_FAULT: nothing armed");
	spio_env_fini();

	setenv("SPIO_FAULT", "", 1);
	cr_assert_eq(spio_env_init(&eo), 0, "empty SPIO_FAULT is off");
	cr_assert_eq(g_fault_armed, 0);
	spio_env_fini();
	unsetenv("SPIO_FAULT");
}
