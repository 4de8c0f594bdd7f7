/*
 * env_demo: a tour of the spdk-io environment layer (what `make run` runs).
 *
 * Initialises the environment (2 MiB hugepages when the system has free ones,
 * ordinary locked pages otherwise), shows the cores and the tick clock,
 * allocates DMA buffers and prints their IOVAs, shares a DMA-backed mempool
 * between two OS threads, frees everything and checks that no DMA memory is
 * left allocated. Exit status 0 when every step worked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/cpuset.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/util.h"

#define POOL_OBJECTS 4096
#define POOL_ELT_SIZE 64
#define CYCLES_PER_THREAD 1000000
#define HOLD_MAX 32	   /* objects a thread holds at once: get up to 32, put them all back */
#define HUGEPAGES_WANTED 8 /* 8 MiB buffer + the rest fit in 8 hugepages */

struct obj {
	uint64_t owner; /* thread number + 1 while held, 0 in the pool */
};

struct demo_thread {
	pthread_t tid;
	struct spio_mempool *mp;
	unsigned num;
	int core; /* -1: not pinned */
	uint64_t cycles;
	uint64_t empty; /* gets that found the pool empty */
	uint64_t conflicts;
	uint64_t ticks;
};

static unsigned long free_hugepages(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	unsigned long n = 0;

	if (f != NULL) {
		if (fscanf(f, "%lu", &n) != 1) {
			n = 0;
		}
		fclose(f);
	}
	return n;
}

/* Get `HOLD_MAX` objects (fill), mark them ours, put them back (drain). */
static void *demo_thread_main(void *arg)
{
	struct demo_thread *t = arg;
	struct obj *held[HOLD_MAX];
	uint64_t start;

	if (t->core >= 0 && spio_env_thread_set_affinity((uint32_t)t->core) != 0) {
		t->core = -1;
	}
	start = spio_get_ticks();
	while (t->cycles < CYCLES_PER_THREAD) {
		unsigned n = 0;

		while (n < HOLD_MAX && t->cycles + n < CYCLES_PER_THREAD) {
			struct obj *o = spio_mempool_get(t->mp);

			if (o == NULL) {
				t->empty++;
				break;
			}
			/* Another holder would have left its mark: the pool handed it out twice. */
			if (__atomic_exchange_n(&o->owner, t->num + 1, __ATOMIC_RELAXED) != 0) {
				t->conflicts++;
			}
			held[n++] = o;
		}
		for (unsigned i = 0; i < n; i++) {
			__atomic_store_n(&held[i]->owner, 0, __ATOMIC_RELAXED);
			spio_mempool_put(t->mp, held[i]);
		}
		t->cycles += n;
	}
	t->ticks = spio_get_ticks() - start;
	return NULL;
}

static void obj_init(struct spio_mempool *mp, void *arg, void *obj, unsigned idx)
{
	memset(obj, 0, sizeof(struct obj));
}

static int init_env(void)
{
	struct spio_env_opts opts;
	unsigned long free_huge = free_hugepages();
	int rc;

	spio_env_opts_init(&opts, sizeof(opts));
	opts.name = "env_demo";
	opts.no_huge = free_huge < HUGEPAGES_WANTED;
	rc = spio_env_init(&opts);
	if (rc != 0) {
		fprintf(stderr, "env_demo: spio_env_init: %s\n", strerror(-rc));
		return rc;
	}
	if (spio_env_hugepages_enabled()) {
		printf("env: hugepage mode (2 MiB pages, %lu free at start)\n", free_huge);
	} else {
		printf("env: no-huge mode (ordinary locked pages; %lu free 2 MiB hugepages, want "
		       "%d)\n",
		       free_huge, HUGEPAGES_WANTED);
	}
	return 0;
}

static int show_cores(void)
{
	struct spio_cpuset cores;
	char list[SPIO_CPUSET_LIST_STR_MAX];
	uint64_t hz = spio_get_ticks_hz();
	int rc;

	spio_env_get_cpuset(&cores);
	rc = spio_cpuset_fmt_list(&cores, list, sizeof(list));
	if (rc != 0) {
		fprintf(stderr, "env_demo: spio_cpuset_fmt_list: %s\n", strerror(-rc));
		return rc;
	}
	printf("cores: %s (%u), tick rate %.3f MHz\n", list, spio_env_get_core_count(),
	       (double)hz / 1e6);
	return 0;
}

static int show_dma_buffers(void **bufs, const size_t *sizes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t len = sizes[i];
		uint64_t iova;

		bufs[i] = spio_dma_zmalloc(sizes[i], 4096);
		if (bufs[i] == NULL) {
			fprintf(stderr, "env_demo: spio_dma_zmalloc(%zu): %s\n", sizes[i],
				strerror(errno));
			return -ENOMEM;
		}
		iova = spio_vtophys(bufs[i], &len);
		if (iova == SPIO_VTOPHYS_ERROR) {
			fprintf(stderr, "env_demo: spio_vtophys(%p) failed\n", bufs[i]);
			return -EFAULT;
		}
		printf("dma %5zu KiB: va %p iova 0x%llx, %llu of %zu bytes IOVA-contiguous\n",
		       sizes[i] / 1024, bufs[i], (unsigned long long)iova, (unsigned long long)len,
		       sizes[i]);
	}
	return 0;
}

static int run_mempool(void)
{
	struct demo_thread threads[2];
	struct spio_mempool *mp;
	uint64_t total = 0, conflicts = 0, empty = 0, max_ticks = 0;
	bool two_cores = spio_env_get_core_count() >= 2;
	uint32_t core = spio_env_get_first_core();
	double hz = (double)spio_get_ticks_hz();
	size_t free_after;
	int rc = 0;

	mp = spio_mempool_create("env_demo", POOL_OBJECTS, POOL_ELT_SIZE,
				 SPIO_MEMPOOL_DEFAULT_CACHE_SIZE, SPIO_MEMPOOL_MEM_DMA, obj_init,
				 NULL);
	if (mp == NULL) {
		fprintf(stderr, "env_demo: spio_mempool_create: %s\n", strerror(errno));
		return -errno;
	}
	printf("mempool: %zu objects of %d bytes in DMA memory, 2 threads%s\n",
	       spio_mempool_capacity(mp), POOL_ELT_SIZE,
	       two_cores ? " on their own cores" : " sharing one core");

	memset(threads, 0, sizeof(threads));
	for (unsigned i = 0; i < 2; i++) {
		threads[i].mp = mp;
		threads[i].num = i;
		threads[i].core = two_cores ? (int)core : -1;
		core = spio_env_get_next_core(core);
		rc = -pthread_create(&threads[i].tid, NULL, demo_thread_main, &threads[i]);
		if (rc != 0) {
			fprintf(stderr, "env_demo: pthread_create: %s\n", strerror(-rc));
			if (i == 1) {
				pthread_join(threads[0].tid, NULL);
			}
			spio_mempool_free(mp);
			return rc;
		}
	}
	for (unsigned i = 0; i < 2; i++) {
		struct demo_thread *t = &threads[i];
		char where[32] = "";

		pthread_join(t->tid, NULL);
		if (t->core >= 0) {
			snprintf(where, sizeof(where), " on core %d", t->core);
		}
		printf("  thread %u%s: %llu get/put cycles in %.1f ms, %.1f ns per cycle\n", i,
		       where, (unsigned long long)t->cycles, (double)t->ticks / hz * 1e3,
		       (double)t->ticks / hz * 1e9 / (double)t->cycles);
		total += t->cycles;
		conflicts += t->conflicts;
		empty += t->empty;
		max_ticks = SPIO_MAX(max_ticks, t->ticks);
	}
	free_after = spio_mempool_count(mp);
	printf("  total %llu cycles in %.1f ms (%.1f M/s); %zu of %zu objects free after, "
	       "%llu double hand-outs\n",
	       (unsigned long long)total, (double)max_ticks / hz * 1e3,
	       (double)total / ((double)max_ticks / hz) / 1e6, free_after,
	       spio_mempool_capacity(mp), (unsigned long long)conflicts);
	if (empty != 0) {
		/* A thread preempted in the middle of a put hides the slot it claimed
		 * (and what follows it) from the other thread for a moment. */
		printf("  %llu gets found the pool momentarily empty and were retried\n",
		       (unsigned long long)empty);
	}
	if (conflicts != 0 || free_after != POOL_OBJECTS) {
		fprintf(stderr,
			"env_demo: mempool check failed: %llu double hand-outs (expected 0), "
			"%zu objects free (expected %d)\n",
			(unsigned long long)conflicts, free_after, POOL_OBJECTS);
		rc = -EIO;
	}
	spio_mempool_free(mp);
	return rc;
}

int main(void)
{
	static const size_t sizes[] = {4096, 1024 * 1024, 8 * 1024 * 1024};
	void *bufs[SPIO_COUNTOF(sizes)] = {NULL};
	struct spio_dma_stats st;
	int rc;

	printf("env_demo: the spdk-io environment layer\n");
	if (init_env() != 0) {
		return 1;
	}
	rc = show_cores();
	if (rc == 0) {
		rc = show_dma_buffers(bufs, sizes, SPIO_COUNTOF(sizes));
	}
	if (rc == 0) {
		rc = run_mempool();
	}
	for (size_t i = 0; i < SPIO_COUNTOF(bufs); i++) {
		spio_dma_free(bufs[i]);
	}

	if (spio_dma_get_stats(&st) != 0) {
		fprintf(stderr, "env_demo: spio_dma_get_stats failed\n");
		rc = -EIO;
	} else {
		printf("dma stats: %llu live allocations (%llu bytes), %.1f MiB mapped, page size "
		       "%llu\n",
		       (unsigned long long)st.allocations, (unsigned long long)st.allocated_bytes,
		       (double)st.mapped_bytes / (1024.0 * 1024.0),
		       (unsigned long long)st.page_size);
		if (st.allocations != 0) {
			fprintf(stderr, "env_demo: %llu DMA buffers still allocated, expected 0\n",
				(unsigned long long)st.allocations);
			rc = -EIO;
		}
	}
	spio_env_fini();
	printf("env_demo: %s\n", rc == 0 ? "done" : "FAILED");
	return rc == 0 ? 0 : 1;
}
