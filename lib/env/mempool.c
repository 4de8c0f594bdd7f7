/*
 * Mempool: a shared lock-free stack of free objects (obj_stack.h) plus one
 * private cache per OS thread (DPDK's per-lcore cache, keyed by a small
 * per-thread index here because any OS thread may use a pool).
 *
 * A cache holds up to 1.5 x cache_size objects before it drains the excess to
 * the stack, and refills cache_size at a time, so a thread that alternates get
 * and put never touches shared memory. Each transfer is one CAS.
 *
 * Why a stack and not a ring: with a FIFO ring, a consumer finds "empty" at a
 * slot that a preempted producer has claimed but not filled, so get could fail
 * on a nearly full pool. The stack never makes anyone wait or see a false
 * "empty", and LIFO hands out cache-warm objects first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "env_internal.h"
#include "env/fault.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/log.h"
#include "obj_stack.h"
#include "spio/util.h"

struct mempool_cache {
	/* Written only by the owning thread; read by spio_mempool_count(). */
	uint32_t len;
	void *objs[SPIO_MEMPOOL_CACHE_MAX_SIZE * 3]; /* < 1.5 x size + one bulk put */
} __attribute__((aligned(SPIO_CACHE_LINE_SIZE)));

struct spio_mempool {
	char name[64];
	struct obj_stack free_objs;
	uint8_t *mem;
	size_t mem_len;
	enum spio_mempool_mem mem_kind;
	size_t count;
	size_t stride;
	uint32_t cache_size;
	uint32_t flush_threshold;
	/* Created lazily by the owning thread; published with a release store. */
	struct mempool_cache *caches[SPIO_MEMPOOL_MAX_THREAD_CACHES];
};

/*
 * Per-thread cache index: a bitmap of taken indexes, a TLS copy, and a
 * pthread key whose destructor gives the index back when the thread exits.
 * The next thread to take that index inherits the caches (and their objects).
 */
static uint64_t g_index_used[SPIO_MEMPOOL_MAX_THREAD_CACHES / 64];
/* initial-exec: one %fs-relative load, no __tls_get_addr call per access. */
static __thread int tls_index __attribute__((tls_model("initial-exec"))) = -2;
/* -2: not asked yet, -1: none free */
static pthread_key_t g_index_key;
static pthread_once_t g_index_key_once = PTHREAD_ONCE_INIT;

static void index_release(void *arg)
{
	int idx = (int)(uintptr_t)arg - 1;

	__atomic_fetch_and(&g_index_used[idx / 64], ~(1ULL << (idx % 64)), __ATOMIC_RELEASE);
}

static void index_key_create(void)
{
	pthread_key_create(&g_index_key, index_release);
}

static int index_acquire(void)
{
	pthread_once(&g_index_key_once, index_key_create);
	for (int w = 0; w < (int)SPIO_COUNTOF(g_index_used); w++) {
		uint64_t used = __atomic_load_n(&g_index_used[w], __ATOMIC_RELAXED);
		while (~used != 0) {
			int bit = __builtin_ctzll(~used);
			if (__atomic_compare_exchange_n(&g_index_used[w], &used,
							used | (1ULL << bit), false,
							__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
				int idx = w * 64 + bit;
				pthread_setspecific(g_index_key, (void *)(uintptr_t)(idx + 1));
				return idx;
			}
		}
	}
	return -1;
}

int env_thread_cache_index(void)
{
	if (spio_unlikely(tls_index == -2)) {
		tls_index = index_acquire();
	}
	return tls_index;
}

static struct mempool_cache *thread_cache(struct spio_mempool *mp)
{
	int idx;
	struct mempool_cache *c;

	if (mp->cache_size == 0) {
		return NULL;
	}
	idx = env_thread_cache_index();
	if (idx < 0) {
		return NULL;
	}
	c = __atomic_load_n(&mp->caches[idx], __ATOMIC_ACQUIRE);
	if (spio_unlikely(c == NULL)) {
		/* First use of this pool by this index: once per thread, not per I/O. */
		c = aligned_alloc(SPIO_CACHE_LINE_SIZE, sizeof(*c));
		if (c == NULL) {
			return NULL;
		}
		c->len = 0;
		__atomic_store_n(&mp->caches[idx], c, __ATOMIC_RELEASE);
	}
	return c;
}

static void *alloc_backing(size_t len, enum spio_mempool_mem kind)
{
	if (kind == SPIO_MEMPOOL_MEM_DMA) {
		return spio_dma_malloc(len, SPIO_CACHE_LINE_SIZE);
	}
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void free_backing(void *p, size_t len, enum spio_mempool_mem kind)
{
	if (kind == SPIO_MEMPOOL_MEM_DMA) {
		spio_dma_free(p);
	} else if (p) {
		munmap(p, len);
	}
}

struct spio_mempool *spio_mempool_create(const char *name, size_t count, size_t elt_size,
					 size_t cache_size, enum spio_mempool_mem mem,
					 spio_mempool_obj_cb obj_init, void *obj_init_arg)
{
	struct spio_mempool *mp;

	if (name == NULL || count == 0 || count > (1u << 31) || elt_size == 0 ||
	    elt_size > (1u << 30) || cache_size > SPIO_MEMPOOL_CACHE_MAX_SIZE ||
	    (mem != SPIO_MEMPOOL_MEM_PLAIN && mem != SPIO_MEMPOOL_MEM_DMA)) {
		errno = EINVAL;
		return NULL;
	}
	mp = calloc(1, sizeof(*mp));
	if (mp == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	snprintf(mp->name, sizeof(mp->name), "%s", name);
	mp->count = count;
	mp->stride = spio_align_up(elt_size, SPIO_CACHE_LINE_SIZE);
	mp->mem_kind = mem;
	/* A cache larger than the pool only strands objects in one thread. */
	mp->cache_size = (uint32_t)SPIO_MIN(cache_size, count / 2);
	mp->flush_threshold = mp->cache_size + mp->cache_size / 2;

	if (mp->stride > SIZE_MAX / count) {
		free(mp);
		errno = EINVAL;
		return NULL;
	}
	mp->mem_len = mp->stride * count;
	mp->mem = alloc_backing(mp->mem_len, mem);
	if (mp->mem == NULL || obj_stack_init(&mp->free_objs, (uint32_t)count) != 0) {
		free_backing(mp->mem, mp->mem_len, mem);
		free(mp);
		errno = ENOMEM;
		return NULL;
	}

	for (size_t i = 0; i < count; i++) {
		if (obj_init) {
			obj_init(mp, obj_init_arg, mp->mem + i * mp->stride, (unsigned)i);
		}
	}
	/* Highest index at the bottom: objects come out in address order. */
	for (size_t i = count; i > 0; i--) {
		uint32_t idx = (uint32_t)(i - 1);
		obj_stack_push(&mp->free_objs, &idx, 1);
	}
	return mp;
}

void spio_mempool_free(struct spio_mempool *mp)
{
	size_t free_now;

	if (mp == NULL) {
		return;
	}
	free_now = spio_mempool_count(mp);
	if (free_now != mp->count) {
		SPIO_ERRLOG("mempool %s: freed with %zu of %zu objects still in use\n", mp->name,
			    mp->count - free_now, mp->count);
	}
	for (size_t i = 0; i < SPIO_COUNTOF(mp->caches); i++) {
		free(mp->caches[i]);
	}
	obj_stack_fini(&mp->free_objs);
	free_backing(mp->mem, mp->mem_len, mp->mem_kind);
	free(mp);
}

static inline bool owns(const struct spio_mempool *mp, const void *obj)
{
	const uint8_t *p = obj;

	return p >= mp->mem && p < mp->mem + mp->mem_len && (size_t)(p - mp->mem) % mp->stride == 0;
}

#define XFER_CHUNK 64

/* Objects to the shared stack, one CAS per chunk. */
static void shared_put(struct spio_mempool *mp, void *const *objs, size_t n)
{
	uint32_t idx[XFER_CHUNK];

	while (n) {
		size_t k = SPIO_MIN(n, (size_t)XFER_CHUNK);
		for (size_t i = 0; i < k; i++) {
			idx[i] = (uint32_t)((size_t)((uint8_t *)objs[i] - mp->mem) / mp->stride);
		}
		obj_stack_push(&mp->free_objs, idx, k);
		objs += k;
		n -= k;
	}
}

/* Up to `n` objects from the shared stack. */
static size_t shared_get(struct spio_mempool *mp, void **objs, size_t n)
{
	uint32_t idx[XFER_CHUNK];
	size_t got = 0;

	while (got < n) {
		size_t k =
		    obj_stack_pop(&mp->free_objs, idx, SPIO_MIN(n - got, (size_t)XFER_CHUNK));
		if (k == 0) {
			break;
		}
		for (size_t i = 0; i < k; i++) {
			objs[got + i] = mp->mem + (size_t)idx[i] * mp->stride;
		}
		got += k;
	}
	return got;
}

/* All `n` from the shared stack or none. */
static int shared_get_exact(struct spio_mempool *mp, void **objs, size_t n)
{
	size_t got = shared_get(mp, objs, n);

	if (got < n) {
		shared_put(mp, objs, got);
		return -ENOMEM;
	}
	return 0;
}

int spio_mempool_get_bulk(struct spio_mempool *mp, void **objs, size_t n)
{
	struct mempool_cache *c;

	if (spio_unlikely(mp == NULL || objs == NULL)) {
		return -EINVAL;
	}
	if (n == 0) {
		return 0;
	}
	if (fault_hit(FAULT_MEMPOOL_GET)) {
		return -ENOMEM;
	}
	c = thread_cache(mp);
	if (c == NULL || n > mp->cache_size) {
		return shared_get_exact(mp, objs, n);
	}
	if (c->len < n) {
		/* Refill to cache_size + what the caller needs, or just the need. */
		size_t want = mp->cache_size + n - c->len;
		size_t got = shared_get(mp, &c->objs[c->len], want);
		__atomic_store_n(&c->len, c->len + (uint32_t)got, __ATOMIC_RELAXED);
		if (c->len < n) {
			return -ENOMEM;
		}
	}
	/* Hand out the most recently cached objects first: they are warm. */
	for (size_t i = 0; i < n; i++) {
		objs[i] = c->objs[c->len - 1 - i];
	}
	__atomic_store_n(&c->len, c->len - (uint32_t)n, __ATOMIC_RELAXED);
	return 0;
}

void *spio_mempool_get(struct spio_mempool *mp)
{
	void *obj = NULL;

	return spio_mempool_get_bulk(mp, &obj, 1) == 0 ? obj : NULL;
}

void spio_mempool_put_bulk(struct spio_mempool *mp, void **objs, size_t n)
{
	struct mempool_cache *c;

	if (spio_unlikely(mp == NULL || objs == NULL || n == 0)) {
		return;
	}
#ifndef NDEBUG
	for (size_t i = 0; i < n; i++) {
		if (!owns(mp, objs[i])) {
			SPIO_ERRLOG("mempool %s: put of %p, not an object of this pool\n", mp->name,
				    objs[i]);
			abort();
		}
	}
#endif
	c = thread_cache(mp);
	if (c == NULL || n > mp->cache_size) {
		shared_put(mp, objs, n);
		return;
	}
	memcpy(&c->objs[c->len], objs, n * sizeof(void *));
	uint32_t len = c->len + (uint32_t)n;
	if (len >= mp->flush_threshold) {
		/* Drain the oldest excess, keep cache_size warm objects. */
		uint32_t excess = len - mp->cache_size;
		shared_put(mp, c->objs, excess);
		memmove(c->objs, &c->objs[excess], mp->cache_size * sizeof(void *));
		len = mp->cache_size;
	}
	__atomic_store_n(&c->len, len, __ATOMIC_RELAXED);
}

void spio_mempool_put(struct spio_mempool *mp, void *obj)
{
	spio_mempool_put_bulk(mp, &obj, 1);
}

void spio_mempool_cache_flush(struct spio_mempool *mp)
{
	struct mempool_cache *c;

	if (mp == NULL || (c = thread_cache(mp)) == NULL || c->len == 0) {
		return;
	}
	shared_put(mp, c->objs, c->len);
	__atomic_store_n(&c->len, 0, __ATOMIC_RELAXED);
}

size_t spio_mempool_count(const struct spio_mempool *mp)
{
	size_t n;

	if (mp == NULL) {
		return 0;
	}
	n = obj_stack_len(&mp->free_objs);
	for (size_t i = 0; i < SPIO_COUNTOF(mp->caches); i++) {
		struct mempool_cache *c = __atomic_load_n(&mp->caches[i], __ATOMIC_ACQUIRE);
		if (c) {
			n += __atomic_load_n(&c->len, __ATOMIC_RELAXED);
		}
	}
	return SPIO_MIN(n, mp->count);
}

size_t spio_mempool_capacity(const struct spio_mempool *mp)
{
	return mp ? mp->count : 0;
}

const char *spio_mempool_get_name(const struct spio_mempool *mp)
{
	return mp ? mp->name : NULL;
}

void spio_mempool_obj_iter(struct spio_mempool *mp, spio_mempool_obj_cb cb, void *cb_arg)
{
	if (mp == NULL || cb == NULL) {
		return;
	}
	for (size_t i = 0; i < mp->count; i++) {
		cb(mp, cb_arg, mp->mem + i * mp->stride, (unsigned)i);
	}
}
