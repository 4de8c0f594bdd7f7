/*
 * bench_mempool: cost of one spio_mempool_get() + spio_mempool_put() pair.
 *
 * Cases: 1 and 2 OS threads, with the default per-thread cache (256) and with
 * no cache (every get and put goes to the shared ring). With 2 threads both
 * work on the same pool at the same time, each pinned to its own core when
 * the process has two cores (otherwise they share one and "pinned" is false).
 * Each run lasts about 0.5 s after a warm-up; the best of 3 runs is printed,
 * one JSON object per line:
 *   {"bench":"mempool","case":"get_put_pair","threads":2,"cache":256,
 *    "pinned":true,"ops":...,"seconds":...,"ns_per_op":...,"mops_per_s":...,
 *    "empty_gets":0}
 * ns_per_op is the time one thread spends on one pair (thread time / pairs,
 * averaged over the threads); mops_per_s is all threads' pairs per second;
 * empty_gets counts gets that found the pool momentarily empty and were
 * retried (see get_put_batch()).
 *
 * Usage: bench_mempool [-t ms_per_run]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/util.h"

#define POOL_OBJECTS 8192
#define POOL_ELT_SIZE 64
#define RUNS 3
#define WARMUP_PAIRS 100000
#define BATCH 256 /* pairs between two clock reads */
#define MAX_THREADS 2
#define MAX_EMPTY_RETRIES (1ULL << 28) /* seconds of an empty pool: objects are lost */

struct run_shared {
	struct spio_mempool *mp;
	uint64_t duration_ticks;
	unsigned ready;
	bool go;
};

struct worker {
	pthread_t tid;
	struct run_shared *sh;
	int core; /* -1: not pinned */
	uint64_t ops;
	uint64_t ticks;
	uint64_t empty_gets;
	int rc;
};

struct result {
	uint64_t ops;
	double seconds;	  /* longest thread */
	double ns_per_op; /* thread time per pair, averaged over threads */
	double mops_per_s;
	uint64_t empty_gets; /* gets retried because the pool looked empty */
};

/*
 * A get can find the pool momentarily empty although most objects are free:
 * when the other thread is preempted between claiming a ring slot in a put and
 * publishing it, the ring reads as empty at that slot (see spio/ring.h). Such
 * gets are retried and counted; only a pool that stays empty is an error.
 */
static int get_put_batch(struct spio_mempool *mp, uint64_t *empty_gets)
{
	for (int i = 0; i < BATCH; i++) {
		void *obj;
		uint64_t retries = 0;

		while (spio_unlikely((obj = spio_mempool_get(mp)) == NULL)) {
			if (++retries > MAX_EMPTY_RETRIES) {
				return -ENOMEM;
			}
			(*empty_gets)++;
			bench_cpu_relax();
		}
		spio_mempool_put(mp, obj);
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run_shared *sh = w->sh;
	uint64_t start, now, end;

	if (w->core >= 0 && spio_env_thread_set_affinity((uint32_t)w->core) != 0) {
		w->core = -1;
	}
	for (int i = 0; i < WARMUP_PAIRS / BATCH && w->rc == 0; i++) {
		w->rc = get_put_batch(sh->mp, &w->empty_gets);
	}
	w->empty_gets = 0;
	__atomic_fetch_add(&sh->ready, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE)) {
		bench_cpu_relax();
	}

	start = spio_get_ticks();
	end = start + sh->duration_ticks;
	do {
		if (w->rc == 0) {
			w->rc = get_put_batch(sh->mp, &w->empty_gets);
		}
		w->ops += BATCH;
		now = spio_get_ticks();
	} while (now < end && w->rc == 0);
	w->ticks = now - start;
	/* Leave the objects usable by the next run's threads. */
	spio_mempool_cache_flush(sh->mp);
	return NULL;
}

/* Pick the cores for `n` threads: distinct ones if there are enough. */
static bool pick_cores(int *cores, unsigned n)
{
	uint32_t core = spio_env_get_first_core();

	if (spio_env_get_core_count() < n) {
		for (unsigned i = 0; i < n; i++) {
			cores[i] = -1;
		}
		return false;
	}
	for (unsigned i = 0; i < n; i++) {
		cores[i] = (int)core;
		core = spio_env_get_next_core(core);
	}
	return true;
}

static int run_once(struct spio_mempool *mp, unsigned nthreads, uint64_t duration_ticks,
		    struct result *res, bool *pinned)
{
	struct run_shared sh = {.mp = mp, .duration_ticks = duration_ticks};
	struct worker workers[MAX_THREADS];
	int cores[MAX_THREADS];
	double hz = (double)spio_get_ticks_hz();
	uint64_t total_ops = 0, total_ticks = 0, max_ticks = 0, empty_gets = 0;
	unsigned started = 0;
	int rc = 0;

	*pinned = pick_cores(cores, nthreads);
	memset(workers, 0, sizeof(workers));
	for (unsigned i = 0; i < nthreads; i++) {
		workers[i].sh = &sh;
		workers[i].core = cores[i];
		rc = -pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]);
		if (rc != 0) {
			fprintf(stderr, "bench_mempool: pthread_create: %s\n", strerror(-rc));
			break;
		}
		started++;
	}
	while (__atomic_load_n(&sh.ready, __ATOMIC_ACQUIRE) < started) {
		sched_yield();
	}
	__atomic_store_n(&sh.go, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(workers[i].tid, NULL);
		if (workers[i].rc != 0 && rc == 0) {
			fprintf(stderr,
				"bench_mempool: thread %u: mempool empty (get returned NULL)\n", i);
			rc = workers[i].rc;
		}
		if (workers[i].core < 0) {
			*pinned = false;
		}
		total_ops += workers[i].ops;
		empty_gets += workers[i].empty_gets;
		total_ticks += workers[i].ticks;
		max_ticks = SPIO_MAX(max_ticks, workers[i].ticks);
	}
	if (rc != 0) {
		return rc;
	}
	res->ops = total_ops;
	res->empty_gets = empty_gets;
	res->seconds = (double)max_ticks / hz;
	res->ns_per_op = (double)total_ticks / hz * 1e9 / (double)total_ops;
	res->mops_per_s = (double)total_ops / res->seconds / 1e6;
	return 0;
}

static int print_result(unsigned nthreads, size_t cache, bool pinned, const struct result *r)
{
	struct spio_json_write_ctx *w = spio_json_write_begin(bench_file_write_cb, stdout, 0);

	if (w == NULL) {
		return -errno;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "bench", "mempool");
	spio_json_write_named_string(w, "case", "get_put_pair");
	spio_json_write_named_uint32(w, "threads", nthreads);
	spio_json_write_named_uint64(w, "cache", cache);
	spio_json_write_named_bool(w, "pinned", pinned);
	spio_json_write_named_uint64(w, "ops", r->ops);
	spio_json_write_named_double(w, "seconds", bench_round_to(r->seconds, 4));
	spio_json_write_named_double(w, "ns_per_op", bench_round_to(r->ns_per_op, 2));
	spio_json_write_named_double(w, "mops_per_s", bench_round_to(r->mops_per_s, 2));
	spio_json_write_named_uint64(w, "empty_gets", r->empty_gets);
	spio_json_write_object_end(w);
	int rc = spio_json_write_end(w);
	fputc('\n', stdout);
	fflush(stdout);
	return rc;
}

static int run_case(unsigned nthreads, size_t cache, uint64_t duration_ticks)
{
	struct spio_mempool *mp;
	struct result best = {0}, r;
	bool pinned = true, run_pinned;
	int rc = 0;

	mp = spio_mempool_create("bench", POOL_OBJECTS, POOL_ELT_SIZE, cache,
				 SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL);
	if (mp == NULL) {
		fprintf(stderr, "bench_mempool: mempool create (cache %zu): %s\n", cache,
			strerror(errno));
		return -errno;
	}
	for (int i = 0; i < RUNS && rc == 0; i++) {
		rc = run_once(mp, nthreads, duration_ticks, &r, &run_pinned);
		pinned = pinned && run_pinned;
		if (rc == 0 && (i == 0 || r.ns_per_op < best.ns_per_op)) {
			best = r;
		}
	}
	if (rc == 0 && spio_mempool_count(mp) != POOL_OBJECTS) {
		fprintf(stderr,
			"bench_mempool: %zu of %d objects back in the pool after the runs\n",
			spio_mempool_count(mp), POOL_OBJECTS);
		rc = -EIO;
	}
	spio_mempool_free(mp);
	if (rc == 0) {
		rc = print_result(nthreads, cache, pinned, &best);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct {
		unsigned threads;
		size_t cache;
	} cases[] = {
	    {1, SPIO_MEMPOOL_DEFAULT_CACHE_SIZE},
	    {2, SPIO_MEMPOOL_DEFAULT_CACHE_SIZE},
	    {1, 0},
	    {2, 0},
	};
	uint64_t ms = 500;
	int failed = 0;

	if (bench_parse_args(argc, argv, &ms) != 0) {
		return 2;
	}
	for (size_t i = 0; i < SPIO_COUNTOF(cases); i++) {
		if (run_case(cases[i].threads, cases[i].cache, spio_get_ticks_hz() / 1000 * ms) !=
		    0) {
			failed = 1;
		}
	}
	return failed;
}
