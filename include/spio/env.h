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
};

/** Fill `opts` with defaults. `opts_size` is the caller's sizeof(*opts). */
void spio_env_opts_init(struct spio_env_opts *opts, size_t opts_size);

/**
 * Initialise the environment: DMA memory and the core list.
 *
 * Call once per process, from one thread, before any other spio_env / spio_dma
 * function except spio_get_ticks(), spio_get_ticks_hz() and the cpuset helpers.
 *
 * \return 0; -EINVAL for bad options (unknown mask syntax, a core outside the
 *         affinity, opts_size 0); -EALREADY if already initialised; -ENOMEM if
 *         mem_size_mb cannot be reserved.
 */
int spio_env_init(const struct spio_env_opts *opts);

/**
 * Release everything spio_env_init() set up. DMA buffers still allocated are
 * reported (count and bytes) and their memory is unmapped regardless.
 * Call from one thread when no other thread uses the environment.
 */
void spio_env_fini(void);

/** True between a successful spio_env_init() and spio_env_fini(). */
bool spio_env_is_initialized(void);

/** True when DMA memory is backed by hugepages (false in no-huge mode). */
bool spio_env_hugepages_enabled(void);

/*
 * Cores. The core list is fixed at spio_env_init(); before init these report the
 * process's current affinity.
 */

/** Number of cores available to the application. */
uint32_t spio_env_get_core_count(void);

/** Lowest available core, or UINT32_MAX if none. */
uint32_t spio_env_get_first_core(void);

/** Highest available core, or UINT32_MAX if none. */
uint32_t spio_env_get_last_core(void);

/** Next available core after `prev`, or UINT32_MAX after the last. */
uint32_t spio_env_get_next_core(uint32_t prev);

/** The core the calling OS thread runs on now (sched_getcpu()), UINT32_MAX on error. */
uint32_t spio_env_get_current_core(void);

/** Copy the available cores into `set`. */
void spio_env_get_cpuset(struct spio_cpuset *set);

/**
 * Pin the calling OS thread to one core.
 * \return 0, -EINVAL if `core` is not available, or the pthread error negated.
 */
int spio_env_thread_set_affinity(uint32_t core);

/** Iterate over the available cores: SPIO_ENV_FOREACH_CORE(i) { ... }. */
#define SPIO_ENV_FOREACH_CORE(i) \
	for ((i) = spio_env_get_first_core(); (i) < UINT32_MAX; (i) = spio_env_get_next_core(i))

/*
 * Clock. Ticks come from the invariant TSC when the CPU has one (constant_tsc
 * and nonstop_tsc) and from CLOCK_MONOTONIC in nanoseconds otherwise. Usable
 * from any thread, with or without spio_env_init().
 */

/** Current tick count; monotonic, consistent across cores. */
uint64_t spio_get_ticks(void);

/** Ticks per second (the TSC rate is calibrated once, about 10 ms, on first use). */
uint64_t spio_get_ticks_hz(void);

/** Convert ticks to microseconds and back (no overflow below ~2^64/1e6 ticks). */
uint64_t spio_ticks_to_us(uint64_t ticks);
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
 * \param obj_init optional per-object initialiser, called on this thread.
 * \return the pool, or NULL with errno EINVAL (bad sizes, NULL name) or ENOMEM.
 */
struct spio_mempool *spio_mempool_create(const char *name, size_t count, size_t elt_size,
					 size_t cache_size, enum spio_mempool_mem mem,
					 spio_mempool_obj_cb obj_init, void *obj_init_arg);

/**
 * Free a mempool. Every object must have been put back; if some are missing
 * the pool reports how many and frees anyway (their memory becomes invalid).
 * NULL is ignored.
 */
void spio_mempool_free(struct spio_mempool *mp);

/** Get one object, or NULL if the pool is empty (NULL pool -> NULL). */
void *spio_mempool_get(struct spio_mempool *mp);

/**
 * Get exactly `n` objects into `objs`, all or none.
 * \return 0, -ENOMEM if fewer than `n` are free (none taken), -EINVAL for
 *         NULL arguments.
 */
int spio_mempool_get_bulk(struct spio_mempool *mp, void **objs, size_t n);

/**
 * Return an object got from this pool. Putting a foreign pointer or the same
 * object twice is a programming error (caught by assert in debug builds when
 * the pointer is outside the pool).
 */
void spio_mempool_put(struct spio_mempool *mp, void *obj);

/** Return `n` objects at once. */
void spio_mempool_put_bulk(struct spio_mempool *mp, void **objs, size_t n);

/**
 * Number of free objects: in the shared ring plus every thread's cache. Exact
 * when no other thread is getting or putting; a snapshot otherwise.
 */
size_t spio_mempool_count(const struct spio_mempool *mp);

/** Total number of objects the pool was created with. */
size_t spio_mempool_capacity(const struct spio_mempool *mp);

/** The pool's name. */
const char *spio_mempool_get_name(const struct spio_mempool *mp);

/**
 * Visit every object (free or not) in creation order; for diagnostics and for
 * initialising objects after create.
 */
void spio_mempool_obj_iter(struct spio_mempool *mp, spio_mempool_obj_cb cb, void *cb_arg);

/**
 * Flush the calling OS thread's cache of `mp` back to the shared ring, so its
 * objects are usable by other threads (e.g. before a thread goes idle for
 * long). Caches of exited threads are reused by later threads, not lost.
 */
void spio_mempool_cache_flush(struct spio_mempool *mp);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_ENV_H */
