/* Mempools: bad input, exhaustion, bulk, caches across threads, stress. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "spio/dma.h"
#include "spio/env.h"
#include "spio/util.h"

Test(mempool, bad_arguments)
{
	errno = 0;
	cr_assert_null(spio_mempool_create(NULL, 10, 64, 0, SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(spio_mempool_create("x", 0, 64, 0, SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL));
	cr_assert_null(spio_mempool_create("x", 10, 0, 0, SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL));
	cr_assert_null(spio_mempool_create("x", 10, 64, SPIO_MEMPOOL_CACHE_MAX_SIZE + 1,
					   SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL));
	cr_assert_null(spio_mempool_create("x", 10, 64, 0, (enum spio_mempool_mem)7, NULL, NULL));
	cr_assert_null(
	    spio_mempool_create("x", (size_t)1 << 32, 64, 0, SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL));
	cr_assert_null(
	    spio_mempool_create("x", 10, (size_t)2 << 30, 0, SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL));
	errno = 0;
	cr_assert_null(
	    spio_mempool_create("dma-without-env", 10, 64, 0, SPIO_MEMPOOL_MEM_DMA, NULL, NULL));
	cr_assert_eq(errno, ENOMEM, "DMA pool before env init: expected ENOMEM, got %d", errno);

	cr_assert_null(spio_mempool_get(NULL));
	cr_assert_eq(spio_mempool_get_bulk(NULL, NULL, 1), -EINVAL);
	spio_mempool_put(NULL, NULL);
	spio_mempool_free(NULL);
	cr_assert_eq(spio_mempool_count(NULL), 0);
}

static void init_obj(struct spio_mempool *mp, void *arg, void *obj, unsigned idx)
{
	(*(unsigned *)arg)++;
	*(unsigned *)obj = idx;
}

Test(mempool, exhaustion_and_refill)
{
	unsigned inits = 0;
	struct spio_mempool *mp =
	    spio_mempool_create("p", 100, 24, 16, SPIO_MEMPOOL_MEM_PLAIN, init_obj, &inits);
	cr_assert_not_null(mp);
	cr_assert_eq(inits, 100, "obj_init called %u times, expected 100", inits);
	cr_assert_str_eq(spio_mempool_get_name(mp), "p");
	cr_assert_eq(spio_mempool_capacity(mp), 100);
	cr_assert_eq(spio_mempool_count(mp), 100);

	void *objs[100];
	bool seen[100] = {0};
	for (int i = 0; i < 100; i++) {
		objs[i] = spio_mempool_get(mp);
		cr_assert_not_null(objs[i], "get %d of 100 failed", i);
		cr_assert_eq((uintptr_t)objs[i] % 64, 0, "objects are cache-line aligned");
		unsigned idx = *(unsigned *)objs[i];
		cr_assert(!seen[idx], "object %u handed out twice", idx);
		seen[idx] = true;
	}
	cr_assert_null(spio_mempool_get(mp), "101st get must fail");
	cr_assert_eq(spio_mempool_count(mp), 0);
	for (int i = 0; i < 100; i++) {
		spio_mempool_put(mp, objs[i]);
	}
	cr_assert_eq(spio_mempool_count(mp), 100);
	spio_mempool_free(mp);
}

Test(mempool, bulk_is_all_or_nothing)
{
	struct spio_mempool *mp =
	    spio_mempool_create("b", 64, 8, 8, SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL);
	void *objs[64];

	cr_assert_eq(spio_mempool_get_bulk(mp, objs, 60), 0);
	cr_assert_eq(spio_mempool_count(mp), 4);
	cr_assert_eq(spio_mempool_get_bulk(mp, objs + 60, 5), -ENOMEM, "5 of 4 must fail");
	cr_assert_eq(spio_mempool_count(mp), 4, "a failed bulk get takes nothing");
	cr_assert_eq(spio_mempool_get_bulk(mp, objs + 60, 4), 0);
	cr_assert_eq(spio_mempool_get_bulk(mp, objs, 0), 0);
	spio_mempool_put_bulk(mp, objs, 64);
	cr_assert_eq(spio_mempool_count(mp), 64);
	spio_mempool_free(mp);
}

Test(mempool, dma_backed_objects_have_iova)
{
	struct spio_env_opts opts;
	spio_env_opts_init(&opts, sizeof(opts));
	opts.no_huge = true;
	cr_assert_eq(spio_env_init(&opts), 0);

	struct spio_mempool *mp =
	    spio_mempool_create("dma", 1000, 4096, 32, SPIO_MEMPOOL_MEM_DMA, NULL, NULL);
	cr_assert_not_null(mp);
	void *o = spio_mempool_get(mp);
	cr_assert_neq(spio_vtophys(o, NULL), SPIO_VTOPHYS_ERROR, "DMA pool object has an IOVA");
	spio_mempool_put(mp, o);
	spio_mempool_free(mp);
	spio_env_fini();
}

struct xfer {
	struct spio_mempool *mp;
	void *objs[32];
};

static void *take_objects(void *arg)
{
	struct xfer *x = arg;
	for (int i = 0; i < 32; i++) {
		x->objs[i] = spio_mempool_get(x->mp);
	}
	return NULL;
}

static void *return_objects(void *arg)
{
	struct xfer *x = arg;
	for (int i = 0; i < 32; i++) {
		spio_mempool_put(x->mp, x->objs[i]);
	}
	return NULL;
}

/* Objects put on one thread (landing in its cache) are counted, and a later
 * thread that reuses the exited thread's cache index inherits them. */
Test(mempool, caches_of_exited_threads_are_not_lost)
{
	struct spio_mempool *mp =
	    spio_mempool_create("c", 64, 64, 32, SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL);
	struct xfer x = {.mp = mp};
	pthread_t t;

	pthread_create(&t, NULL, take_objects, &x);
	pthread_join(t, NULL);
	for (int i = 0; i < 32; i++) {
		cr_assert_not_null(x.objs[i]);
	}
	pthread_create(&t, NULL, return_objects, &x);
	pthread_join(t, NULL);
	cr_assert_eq(spio_mempool_count(mp), 64, "count includes exited threads' caches");

	/* All 64 must still be obtainable from this thread. */
	void *all[64];
	int got = 0;
	for (int round = 0; round < 4 && got < 64; round++) {
		pthread_create(&t, NULL, take_objects, &x);
		pthread_join(t, NULL);
		for (int i = 0; i < 32; i++) {
			if (x.objs[i] && got < 64) {
				all[got++] = x.objs[i];
			}
		}
	}
	while (got < 64) {
		void *o = spio_mempool_get(mp);
		if (o == NULL) {
			break;
		}
		all[got++] = o;
	}
	cr_assert_eq(got, 64, "only %d of 64 objects could be taken back", got);
	spio_mempool_put_bulk(mp, all, 64);
	spio_mempool_free(mp);
}

/* 4 OS threads x 1,000,000 get/put cycles; every object carries an owner flag
 * that must flip 0 -> 1 on get: an object handed out twice fails the CAS. */
#define STRESS_THREADS 4
#define STRESS_CYCLES 1000000
#define STRESS_OBJS 1024

struct stress_obj {
	int owned;
};

struct stress_arg {
	struct spio_mempool *mp;
	unsigned seed;
	long double_handouts;
	long empty_gets;
};

static void *stress_worker(void *p)
{
	struct stress_arg *a = p;
	struct stress_obj *held[8];
	int nheld = 0;

	for (int i = 0; i < STRESS_CYCLES; i++) {
		/* Hold up to 8 objects at a time so caches drain and refill. */
		int take = nheld == 0 || (nheld < 8 && rand_r(&a->seed) % 2);
		if (take) {
			struct stress_obj *o = spio_mempool_get(a->mp);
			if (o == NULL) {
				a->empty_gets++;
				continue;
			}
			int expected = 0;
			if (!__atomic_compare_exchange_n(&o->owned, &expected, 1, false,
							 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
				a->double_handouts++;
			}
			held[nheld++] = o;
		} else {
			struct stress_obj *o = held[--nheld];
			__atomic_store_n(&o->owned, 0, __ATOMIC_RELEASE);
			spio_mempool_put(a->mp, o);
		}
	}
	while (nheld) {
		struct stress_obj *o = held[--nheld];
		__atomic_store_n(&o->owned, 0, __ATOMIC_RELEASE);
		spio_mempool_put(a->mp, o);
	}
	return NULL;
}

Test(mempool, stress_four_threads, .timeout = 300)
{
	struct spio_mempool *mp =
	    spio_mempool_create("stress", STRESS_OBJS, sizeof(struct stress_obj), 64,
				SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL);
	pthread_t t[STRESS_THREADS];
	struct stress_arg args[STRESS_THREADS];

	for (int i = 0; i < STRESS_THREADS; i++) {
		args[i] = (struct stress_arg){.mp = mp, .seed = (unsigned)i + 1};
		pthread_create(&t[i], NULL, stress_worker, &args[i]);
	}
	for (int i = 0; i < STRESS_THREADS; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(args[i].double_handouts, 0, "thread %d got %ld objects already owned",
			     i, args[i].double_handouts);
		cr_assert_eq(
		    args[i].empty_gets, 0,
		    "thread %d saw an empty pool %ld times with %d objects for %d x 8 held", i,
		    args[i].empty_gets, STRESS_OBJS, STRESS_THREADS);
	}
	cr_assert_eq(spio_mempool_count(mp), STRESS_OBJS, "count back to full: got %zu",
		     spio_mempool_count(mp));
	spio_mempool_free(mp);
}
