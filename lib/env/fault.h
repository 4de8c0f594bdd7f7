/*
 * Fault injection below the library's layers, for tests: make mempool gets,
 * DMA allocations and socket sends fail, every Nth call or at random with a
 * seed, so that each layer's error paths run (docs/reliability.md, "Fault
 * injection").
 *
 * Off unless armed, by the environment (SPIO_FAULT, read by spio_env_init())
 * or by a test calling fault_set() / fault_configure(). Off, a site costs one
 * relaxed load and a predicted branch.
 *
 * A spec is a comma-separated list of SITE=MODE:VALUE and seed=N:
 *   mempool=every:7      every 7th spio_mempool_get / _get_bulk fails (NULL / -ENOMEM)
 *   dma=rate:0.01        1 % of spio_dma_malloc / _zmalloc calls fail (NULL, errno ENOMEM)
 *   send=every:13        every 13th socket send of the NVMe/TCP host, the NVMe-oF
 *                        TCP target and the RPC server fails with ECONNRESET
 *   seed=42              seed of the random modes (default 1)
 * MODE:VALUE may be followed by :after:N (the first N calls of that site pass).
 *
 * Thread rules: fault_hit() may be called from any thread at any time; the
 * decision is made with atomics (no lock). Set, configure and clear while
 * no call of the site is in flight (tests do it between phases). Which call
 * fails is deterministic for a given order of calls: every:N counts calls,
 * rate:P hashes the seed and the call's number.
 */
#ifndef SPIO_ENV_FAULT_H
#define SPIO_ENV_FAULT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fault_site {
	FAULT_MEMPOOL_GET,
	FAULT_DMA_ALLOC,
	FAULT_SOCK_SEND,
	FAULT_SITE_COUNT,
};

/* How one site fails. A zeroed rule never fails. */
struct fault_rule {
	uint32_t every;	      /* every Nth call fails (0: not this mode) */
	uint32_t per_million; /* or this many calls per million, at random */
	uint64_t after;	      /* the first `after` calls always pass */
};

/* Arm (or, with a zeroed rule, disarm) one site; its call and fault counts restart. */
void fault_set(enum fault_site site, const struct fault_rule *rule);

/* Seed of the random mode, for every site. */
void fault_set_seed(uint64_t seed);

/* Disarm every site and reset the counts. */
void fault_clear(void);

/*
 * Arm sites from a spec (above). -EINVAL for a malformed spec, with the
 * offending part in `err` (NUL-terminated, at most errlen bytes); nothing is
 * changed then. An empty spec disarms everything.
 */
int fault_configure(const char *spec, char *err, size_t errlen);

/* Faults injected at `site` since it was last set. */
uint64_t fault_count(enum fault_site site);

/* Whether this call at `site` must fail: the slow path of fault_hit(). */
bool fault_decide(enum fault_site site);

extern int g_fault_armed; /* any site armed */

/* Whether this call at `site` must fail. */
static inline bool fault_hit(enum fault_site site)
{
	if (__builtin_expect(__atomic_load_n(&g_fault_armed, __ATOMIC_RELAXED) == 0, 1)) {
		return false;
	}
	return fault_decide(site);
}

/* A failed system call's result: -1 with errno `e` (for `n = fault_hit(..) ? fault_fail(E) :
 * send(..)`). */
static inline long fault_fail(int e)
{
	errno = e;
	return -1;
}

#endif /* SPIO_ENV_FAULT_H */
