/*
 * bench_ring: spio_ring costs.
 *
 * Cases, one JSON object per line, best of 3 runs of about 0.5 s each:
 *  - "enq_deq_pair": one thread enqueues then dequeues, burst 1
 *    (spio_ring_enqueue + spio_ring_dequeue) or 32 (the _burst calls), on a
 *    single-producer/single-consumer ring ("sp_sc") and on a multi-producer/
 *    multi-consumer one ("mp_mc"). ns_per_op is per item (one enqueue and one
 *    dequeue of one pointer).
 *      {"bench":"ring","case":"enq_deq_pair","threads":1,"flags":"sp_sc",
 *       "burst":1,"ops":...,"seconds":...,"ns_per_op":...}
 *  - "1p1c": a producer thread streams items to a consumer thread through a
 *    ring of 1024 slots, each thread pinned to its own core when the process
 *    has two ("pinned" false otherwise). The consumer checks every item
 *    arrives in order. items_per_s counts items from the producer's start to
 *    the consumer's receipt of the last one.
 *      {"bench":"ring","case":"1p1c","threads":2,"flags":"sp_sc","burst":32,
 *       "pinned":true,"items":...,"seconds":...,"items_per_s":...,
 *       "ns_per_item":...}
 *
 * Usage: bench_ring [-t ms_per_run]
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
#include "spio/ring.h"
#include "spio/util.h"

#define RING_SIZE 1024
#define RUNS 3
#define MAX_BURST 32
#define CHECK_EVERY 64 /* loop iterations between two clock reads */

struct result {
	uint64_t items;
	double seconds;
	double ns_per_item;
};

struct stream {
	struct spio_ring *ring;
	unsigned burst;
	uint64_t duration_ticks;
	bool yield; /* both threads on one core: yield instead of spinning */
	int cores[2];
	unsigned ready;
	bool go;
	bool producer_done;
	uint64_t produced;
	uint64_t start_ticks;
	uint64_t end_ticks;
	uint64_t consumed;
	int error;
};

static void wait_turn(const struct stream *s)
{
	if (s->yield) {
		sched_yield();
	} else {
		bench_cpu_relax();
	}
}

static const char *flags_name(int flags)
{
	return flags == (SPIO_RING_MP | SPIO_RING_MC) ? "mp_mc" : "sp_sc";
}

static int print_result(const char *name, unsigned threads, int flags, unsigned burst, int pinned,
			const struct result *r)
{
	struct spio_json_write_ctx *w = spio_json_write_begin(bench_file_write_cb, stdout, 0);
	double hz_items = (double)r->items / r->seconds;

	if (w == NULL) {
		return -errno;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "bench", "ring");
	spio_json_write_named_string(w, "case", name);
	spio_json_write_named_uint32(w, "threads", threads);
	spio_json_write_named_string(w, "flags", flags_name(flags));
	spio_json_write_named_uint32(w, "burst", burst);
	if (threads == 1) {
		spio_json_write_named_uint64(w, "ops", r->items);
		spio_json_write_named_double(w, "seconds", bench_round_to(r->seconds, 4));
		spio_json_write_named_double(w, "ns_per_op", bench_round_to(r->ns_per_item, 2));
	} else {
		spio_json_write_named_bool(w, "pinned", pinned);
		spio_json_write_named_uint64(w, "items", r->items);
		spio_json_write_named_double(w, "seconds", bench_round_to(r->seconds, 4));
		spio_json_write_named_uint64(w, "items_per_s", (uint64_t)hz_items);
		spio_json_write_named_double(w, "ns_per_item", bench_round_to(r->ns_per_item, 2));
	}
	spio_json_write_object_end(w);
	int rc = spio_json_write_end(w);
	fputc('\n', stdout);
	fflush(stdout);
	return rc;
}

/* One thread: enqueue `burst` items then dequeue them, until the time is up. */
static int pair_run_once(struct spio_ring *ring, unsigned burst, uint64_t duration_ticks,
			 struct result *res)
{
	void *in[MAX_BURST], *out[MAX_BURST];
	uint64_t items = 0, start, now, end;

	for (unsigned i = 0; i < burst; i++) {
		in[i] = (void *)(uintptr_t)(i + 1);
	}
	start = spio_get_ticks();
	end = start + duration_ticks;
	do {
		for (int k = 0; k < CHECK_EVERY; k++) {
			if (burst == 1) {
				if (spio_ring_enqueue(ring, in[0]) != 0 ||
				    spio_ring_dequeue(ring) != in[0]) {
					return -EIO;
				}
			} else if (spio_ring_enqueue_burst(ring, in, burst) != burst ||
				   spio_ring_dequeue_burst(ring, out, burst) != burst) {
				return -EIO;
			}
		}
		items += (uint64_t)CHECK_EVERY * burst;
		now = spio_get_ticks();
	} while (now < end);

	res->items = items;
	res->seconds = (double)(now - start) / (double)spio_get_ticks_hz();
	res->ns_per_item = res->seconds * 1e9 / (double)items;
	return 0;
}

static int pair_case(int flags, unsigned burst, uint64_t duration_ticks)
{
	struct spio_ring *ring = spio_ring_create(RING_SIZE, flags);
	struct result best = {0}, r;
	int rc = 0;

	if (ring == NULL) {
		fprintf(stderr, "bench_ring: spio_ring_create: %s\n", strerror(errno));
		return -errno;
	}
	for (int i = 0; i < RUNS && rc == 0; i++) {
		rc = pair_run_once(ring, burst, duration_ticks, &r);
		if (rc == 0 && (i == 0 || r.ns_per_item < best.ns_per_item)) {
			best = r;
		}
	}
	spio_ring_free(ring);
	if (rc != 0) {
		fprintf(stderr, "bench_ring: enq_deq_pair %s burst %u: ring lost an item\n",
			flags_name(flags), burst);
		return rc;
	}
	return print_result("enq_deq_pair", 1, flags, burst, -1, &best);
}

static void start_barrier(struct stream *s, int core)
{
	if (core >= 0) {
		spio_env_thread_set_affinity((uint32_t)core);
	}
	__atomic_fetch_add(&s->ready, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&s->go, __ATOMIC_ACQUIRE)) {
		wait_turn(s);
	}
}

static void *producer_main(void *arg)
{
	struct stream *s = arg;
	void *items[MAX_BURST];
	uint64_t seq = 1, now, end;

	start_barrier(s, s->cores[0]);
	now = spio_get_ticks();
	s->start_ticks = now;
	end = now + s->duration_ticks;
	while (now < end) {
		for (int k = 0; k < CHECK_EVERY; k++) {
			size_t n;

			for (unsigned i = 0; i < s->burst; i++) {
				items[i] = (void *)(uintptr_t)(seq + i);
			}
			if (s->burst == 1) {
				n = spio_ring_enqueue(s->ring, items[0]) == 0;
			} else {
				n = spio_ring_enqueue_burst(s->ring, items, s->burst);
			}
			seq += n;
			if (n == 0) {
				wait_turn(s);
			}
		}
		now = spio_get_ticks();
	}
	__atomic_store_n(&s->produced, seq - 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->producer_done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct stream *s = arg;
	void *items[MAX_BURST];
	uint64_t expect = 1;

	start_barrier(s, s->cores[1]);
	for (;;) {
		size_t n;

		if (s->burst == 1) {
			items[0] = spio_ring_dequeue(s->ring);
			n = items[0] != NULL;
		} else {
			n = spio_ring_dequeue_burst(s->ring, items, s->burst);
		}
		for (size_t i = 0; i < n; i++, expect++) {
			if (spio_unlikely((uintptr_t)items[i] != expect)) {
				s->error = -EIO;
				fprintf(stderr, "bench_ring: 1p1c: expected item %llu, got %llu\n",
					(unsigned long long)expect,
					(unsigned long long)(uintptr_t)items[i]);
			}
		}
		if (n == 0) {
			if (__atomic_load_n(&s->producer_done, __ATOMIC_ACQUIRE) &&
			    spio_ring_count(s->ring) == 0) {
				break;
			}
			wait_turn(s);
		}
	}
	s->end_ticks = spio_get_ticks();
	s->consumed = expect - 1;
	return NULL;
}

static int stream_run_once(int flags, unsigned burst, uint64_t duration_ticks, struct result *res,
			   bool *pinned)
{
	struct stream s = {.burst = burst, .duration_ticks = duration_ticks, .cores = {-1, -1}};
	pthread_t prod, cons;
	int rc;

	s.ring = spio_ring_create(RING_SIZE, flags);
	if (s.ring == NULL) {
		fprintf(stderr, "bench_ring: spio_ring_create: %s\n", strerror(errno));
		return -errno;
	}
	*pinned = spio_env_get_core_count() >= 2;
	if (*pinned) {
		s.cores[0] = (int)spio_env_get_first_core();
		s.cores[1] = (int)spio_env_get_next_core((uint32_t)s.cores[0]);
	}
	s.yield = !*pinned;
	rc = -pthread_create(&prod, NULL, producer_main, &s);
	if (rc == 0) {
		rc = -pthread_create(&cons, NULL, consumer_main, &s);
		if (rc != 0) {
			/* Let the producer run out its time alone, then report. */
			__atomic_store_n(&s.go, true, __ATOMIC_RELEASE);
			pthread_join(prod, NULL);
		}
	}
	if (rc != 0) {
		fprintf(stderr, "bench_ring: pthread_create: %s\n", strerror(-rc));
		spio_ring_free(s.ring);
		return rc;
	}
	while (__atomic_load_n(&s.ready, __ATOMIC_ACQUIRE) < 2) {
		sched_yield();
	}
	__atomic_store_n(&s.go, true, __ATOMIC_RELEASE);
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	spio_ring_free(s.ring);

	if (s.error == 0 && s.consumed != s.produced) {
		fprintf(stderr, "bench_ring: 1p1c: produced %llu items, consumed %llu\n",
			(unsigned long long)s.produced, (unsigned long long)s.consumed);
		s.error = -EIO;
	}
	if (s.error != 0) {
		return s.error;
	}
	res->items = s.consumed;
	res->seconds = (double)(s.end_ticks - s.start_ticks) / (double)spio_get_ticks_hz();
	res->ns_per_item = res->seconds * 1e9 / (double)res->items;
	return 0;
}

static int stream_case(int flags, unsigned burst, uint64_t duration_ticks)
{
	struct result best = {0}, r;
	bool pinned = false;
	int rc = 0;

	for (int i = 0; i < RUNS && rc == 0; i++) {
		rc = stream_run_once(flags, burst, duration_ticks, &r, &pinned);
		if (rc == 0 && (i == 0 || r.ns_per_item < best.ns_per_item)) {
			best = r;
		}
	}
	if (rc != 0) {
		return rc;
	}
	return print_result("1p1c", 2, flags, burst, pinned, &best);
}

int main(int argc, char **argv)
{
	static const int flag_sets[] = {SPIO_RING_SP | SPIO_RING_SC, SPIO_RING_MP | SPIO_RING_MC};
	static const unsigned bursts[] = {1, MAX_BURST};
	uint64_t ms = 500, ticks;
	int failed = 0;

	if (bench_parse_args(argc, argv, &ms) != 0) {
		return 2;
	}
	ticks = spio_get_ticks_hz() / 1000 * ms;
	for (size_t f = 0; f < SPIO_COUNTOF(flag_sets); f++) {
		for (size_t b = 0; b < SPIO_COUNTOF(bursts); b++) {
			if (pair_case(flag_sets[f], bursts[b], ticks) != 0) {
				failed = 1;
			}
		}
	}
	for (size_t f = 0; f < SPIO_COUNTOF(flag_sets); f++) {
		for (size_t b = 0; b < SPIO_COUNTOF(bursts); b++) {
			if (stream_case(flag_sets[f], bursts[b], ticks) != 0) {
				failed = 1;
			}
		}
	}
	return failed;
}
