/*
 * spdk-io environment: process-wide setup, cores, the tick clock and mempools.
 *
 * DMA memory has its own header, spio/dma.h.
 */
#ifndef SPIO_ENV_H
#define SPIO_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/cpuset.h"

struct spio_pci_addr; /* spio/pci.h */

#ifdef __cplusplus
extern "C" {
#endif

/** Options of spio_env_init(); fill with spio_env_opts_init() first. */
struct spio_env_opts {
	/** sizeof(struct spio_env_opts) as the caller knows it (ABI growth). */
	size_t opts_size;
	/** Name used in log messages and for hugepage files. */
	const char *name;
	/**
	 * Use ordinary locked pages for DMA memory even when hugepages exist.
	 * Without this, 2 MiB hugepages are used when the system has free ones
	 * and plain pages otherwise (a notice says which).
	 */
	bool no_huge;
	/**
	 * DMA memory in MiB reserved at init and used as a hard limit; 0 means
	 * grow on demand (in 2 MiB steps) with no limit but the system's.
	 */
	uint64_t mem_size_mb;
	/**
	 * Cores the application may use, in spio_cpuset_parse() syntax
	 * ("0x3", "[0-1]"); NULL means every core of the process's affinity.
	 * Each core must be in the process's affinity.
	 */
	const char *core_mask;
	/**
	 * PCI devices this process may attach, SPDK's -A / --pci-allowed: when
	 * num_pci_allowed > 0, spio_pci_device_attach() refuses (-ENODEV) and
	 * spio_pci_enumerate() hides every other device. Copied at init.
	 */
	const struct spio_pci_addr *pci_allowed;
	size_t num_pci_allowed;
	/**
	 * PCI devices this process must not attach, SPDK's -B / --pci-blocked:
	 * refused and hidden as above. Exclusive with pci_allowed (SPDK's
	 * rule): init fails with -EINVAL when both lists are non-empty.
	 */
	const struct spio_pci_addr *pci_blocked;
	size_t num_pci_blocked;
	/**
	 * SPDK's --iova-mode: NULL (default) takes whatever spio uses; "pa"
	 * or "va" assert it. spio's IOVA is what spio_vtophys() returns
	 * (spio/pci.h): physical addresses with hugepages when
	 * /proc/self/pagemap gives them, virtual addresses otherwise. A mode
	 * that differs fails init with -EINVAL and the reason logged ("pa"
	 * with no_huge in SPDK's words).
	 */
	const char *iova_mode;
	/**
	 * SPDK's -u / --no-pci: no PCI device may be attached (-ENODEV) and
	 * spio_pci_enumerate() reports none. Default false.
	 */
	bool no_pci;
};

/**
 * Fill `opts` with defaults: name "spio", hugepages if free, no memory limit,
 * every core of the affinity, PCI on with no lists, IOVA mode as spio chooses. `opts_size` is the
 * caller's sizeof(*opts); only that many bytes are written. NULL `opts` or `opts_size` 0 is
 * ignored. Any OS thread, before or after spio_env_init().
 */
void spio_env_opts_init(struct spio_env_opts *opts, size_t opts_size);

/**
 * Initialise the environment: DMA memory and the core list.
 *
 * Call once per process, from one thread, before any other spio_env / spio_dma
 * function except spio_get_ticks(), spio_get_ticks_hz() and the cpuset helpers.
 * `opts` and the strings it points to are read during the call only.
 *
 * \return 0; -EINVAL for bad options (NULL opts, opts_size 0, unknown mask
 *         syntax, a mask with no core, a core outside the affinity,
 *         mem_size_mb above 2^30, both PCI lists, an iova_mode other than
 *         NULL, "pa" and "va" or one spio will not use); -EALREADY if already initialised; -ENOMEM
 *         if mem_size_mb cannot be reserved; or another -errno of mapping or
 *         locking the memory. On error nothing stays initialised.
 */
int spio_env_init(const struct spio_env_opts *opts);

/**
 * Release everything spio_env_init() set up. DMA buffers still allocated are
 * reported (count and bytes) and their memory is unmapped regardless, so
 * every pointer into DMA memory (mempools of SPIO_MEMPOOL_MEM_DMA included)
 * is invalid afterwards. Nothing happens if the environment is not
 * initialised; it may be initialised again afterwards.
 * Call from one thread when no other thread uses the environment.
 */
void spio_env_fini(void);

/** True between a successful spio_env_init() and spio_env_fini(). Any OS thread. */
bool spio_env_is_initialized(void);

/**
 * True when DMA memory is backed by hugepages; false in no-huge mode and when
 * the environment is not initialised. Any OS thread.
 */
bool spio_env_hugepages_enabled(void);

/*
 * Cores. The core list is fixed at spio_env_init(); before init these report the
 * process's current affinity. Every function here may be called from any OS
 * thread.
 */

/** Number of cores available to the application (0 if the affinity cannot be read). */
uint32_t spio_env_get_core_count(void);

/** Lowest available core, or UINT32_MAX if none. */
uint32_t spio_env_get_first_core(void);

/** Highest available core, or UINT32_MAX if none. */
uint32_t spio_env_get_last_core(void);

/**
 * Next available core after `prev`, or UINT32_MAX after the last (and for a
 * `prev` of SPIO_CPUSET_MAX_CORES or more).
 */
uint32_t spio_env_get_next_core(uint32_t prev);

/** The core the calling OS thread runs on now (sched_getcpu()), UINT32_MAX on error. */
uint32_t spio_env_get_current_core(void);

/** Copy the available cores into the caller's `set`; NULL is ignored. */
void spio_env_get_cpuset(struct spio_cpuset *set);

/**
 * Pin the calling OS thread to one core (only the caller is affected).
 * \return 0, -EINVAL if `core` is not available, or the pthread error negated.
 */
int spio_env_thread_set_affinity(uint32_t core);

/** Iterate over the available cores: SPIO_ENV_FOREACH_CORE(i) { ... }. */
#define SPIO_ENV_FOREACH_CORE(i) \
	for ((i) = spio_env_get_first_core(); (i) < UINT32_MAX; (i) = spio_env_get_next_core(i))

/*
 * Clock. Ticks come from the TSC when the CPU reports it invariant
 * (constant_tsc and nonstop_tsc) or the kernel keeps time with it (its
 * clocksource is "tsc", as in a VM that hides the flags), and from
 * CLOCK_MONOTONIC in nanoseconds otherwise. Usable from any thread, with or
 * without spio_env_init().
 */

/** Current tick count; monotonic, consistent across cores. Never fails. */
uint64_t spio_get_ticks(void);

/**
 * Ticks per second: 10^9 without a usable TSC; otherwise the TSC rate,
 * calibrated once on first use (the first call sleeps about 10 ms; calls
 * racing with it wait for the result).
 */
uint64_t spio_get_ticks_hz(void);

/**
 * Convert a tick count (a difference of spio_get_ticks() values) to
 * microseconds, rounded down. Exact for any value: no intermediate overflow.
 */
uint64_t spio_ticks_to_us(uint64_t ticks);

/**
 * Convert microseconds to ticks, rounded down (a timeout of a few ns may give
 * 0). The result wraps if it exceeds 2^64 ticks (about 200 years at 3 GHz).
 */
uint64_t spio_us_to_ticks(uint64_t us);

/*
 * Mempools: fixed-size objects with per-thread caches.
 *
 * Objects live in one DMA-capable (spio_dma) or ordinary allocation made at
 * create time; get/put never allocate. Each OS thread that uses a pool gets a
 * small private cache of objects (up to `cache_size`), so the common get/put
 * touches no shared cache line; the cache refills from and drains to a shared
 * lock-free ring in bulk.
 *
 * Thread rules: get/put/count are safe from any OS thread concurrently. create
 * and free must not race with other use of the same pool. At most
 * SPIO_MEMPOOL_MAX_THREAD_CACHES OS threads get a cache; further threads use
 * the shared ring directly (correct, just slower).
 */

#define SPIO_MEMPOOL_DEFAULT_CACHE_SIZE 256
#define SPIO_MEMPOOL_CACHE_MAX_SIZE 512
#define SPIO_MEMPOOL_MAX_THREAD_CACHES 128

struct spio_mempool;

/** Called once per object at create time (e.g. to set up constant fields). */
typedef void (*spio_mempool_obj_cb)(struct spio_mempool *mp, void *cb_arg, void *obj, unsigned idx);

/** Where a mempool's objects live. */
enum spio_mempool_mem {
	/** Ordinary memory (malloc/mmap): messages, descriptors. */
	SPIO_MEMPOOL_MEM_PLAIN = 0,
	/** DMA memory from spio_dma_malloc(): needs spio_env_init(). */
	SPIO_MEMPOOL_MEM_DMA = 1,
};

/**
 * Create a mempool of `count` objects of `elt_size` bytes.
 *
 * \param name for messages and lookups; copied.
 * \param count number of objects, 1 .. 2^31.
 * \param elt_size object size in bytes, 1 .. 1 GiB; objects are aligned to
 *        the cache line (64 bytes).
 * \param cache_size per-thread cache capacity, 0 .. SPIO_MEMPOOL_CACHE_MAX_SIZE
 *        (0 disables caching).
 * \param mem SPIO_MEMPOOL_MEM_PLAIN or SPIO_MEMPOOL_MEM_DMA.
 * \param obj_init optional per-object initialiser, called on this thread,
 *        in index order, before this returns.
 * \param obj_init_arg handed to obj_init; not kept.
 * \return the pool, or NULL with errno EINVAL (bad sizes, NULL name, unknown
 *         mem) or ENOMEM (also: SPIO_MEMPOOL_MEM_DMA without spio_env_init()
 *         or beyond its limit). The caller owns the pool and frees it with
 *         spio_mempool_free(). Any OS thread.
 */
struct spio_mempool *spio_mempool_create(const char *name, size_t count, size_t elt_size,
					 size_t cache_size, enum spio_mempool_mem mem,
					 spio_mempool_obj_cb obj_init, void *obj_init_arg);

/**
 * Free a mempool. Every object must have been put back; if some are missing
 * the pool reports how many and frees anyway (their memory becomes invalid).
 * NULL is ignored. No other OS thread may use the pool during or after the
 * call.
 */
void spio_mempool_free(struct spio_mempool *mp);

/**
 * Get one object, or NULL if the pool is empty (NULL pool -> NULL). The object
 * is the caller's until it is put back; its contents are whatever the last
 * user (or obj_init) left. Any OS thread.
 */
void *spio_mempool_get(struct spio_mempool *mp);

/**
 * Get exactly `n` objects into the caller's array `objs`, all or none.
 * \return 0 (also for n == 0), -ENOMEM if fewer than `n` are free (none
 *         taken; with caches, objects held in other threads' caches do not
 *         count), -EINVAL for NULL arguments. Any OS thread.
 */
int spio_mempool_get_bulk(struct spio_mempool *mp, void **objs, size_t n);

/**
 * Return an object got from this pool. Putting a foreign pointer or the same
 * object twice is a programming error (in debug builds, a pointer that is not
 * an object of the pool is reported and aborts). NULL pool is ignored. Any
 * OS thread, not only the one that got the object.
 */
void spio_mempool_put(struct spio_mempool *mp, void *obj);

/**
 * Return the `n` objects of the array `objs` at once (the array itself stays
 * the caller's). Same rules as spio_mempool_put(); NULL arguments or n == 0
 * are ignored.
 */
void spio_mempool_put_bulk(struct spio_mempool *mp, void **objs, size_t n);

/**
 * Number of free objects: in the shared ring plus every thread's cache. Exact
 * when no other thread is getting or putting; a snapshot otherwise. 0 for
 * NULL. Any OS thread.
 */
size_t spio_mempool_count(const struct spio_mempool *mp);

/** Total number of objects the pool was created with; 0 for NULL. Any OS thread. */
size_t spio_mempool_capacity(const struct spio_mempool *mp);

/**
 * The pool's name (a copy, cut to 63 characters), valid until the pool is
 * freed; NULL for NULL. Any OS thread.
 */
const char *spio_mempool_get_name(const struct spio_mempool *mp);

/**
 * Call `cb(mp, cb_arg, obj, idx)` for every object (free or not) in creation
 * order, on the calling thread; for diagnostics and for initialising objects
 * after create. Objects in use are visited too: synchronising with their
 * users is the caller's business. NULL mp or cb is ignored.
 */
void spio_mempool_obj_iter(struct spio_mempool *mp, spio_mempool_obj_cb cb, void *cb_arg);

/**
 * Flush the calling OS thread's cache of `mp` back to the shared ring, so its
 * objects are usable by other threads (e.g. before a thread goes idle for
 * long). Caches of exited threads are reused by later threads, not lost.
 * NULL is ignored. Affects the calling OS thread's cache only.
 */
void spio_mempool_cache_flush(struct spio_mempool *mp);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_ENV_H */
