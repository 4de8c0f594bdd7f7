/* Lock-free ring: capacity, bulk/burst semantics, wrap-around, MPMC stress. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>

#include "spio/ring.h"

Test(ring, bad_arguments)
{
	errno = 0;
	cr_assert_null(spio_ring_create(0, 0));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(spio_ring_create((1u << 30) + 1, 0));
	cr_assert_null(spio_ring_create(16, 0x100), "unknown flags");
	cr_assert_eq(spio_ring_enqueue(NULL, NULL), -EINVAL);
	cr_assert_eq(spio_ring_dequeue_burst(NULL, NULL, 4), 0);
	cr_assert_eq(spio_ring_count(NULL), 0);
	spio_ring_free(NULL);
}

Test(ring, capacity_rounds_up_and_fills_exactly)
{
	struct spio_ring *r = spio_ring_create(100, 0);
	cr_assert_eq(spio_ring_capacity(r), 128);
	for (uintptr_t i = 1; i <= 128; i++) {
		cr_assert_eq(spio_ring_enqueue(r, (void *)i), 0, "enqueue %lu failed", i);
	}
	cr_assert_eq(spio_ring_enqueue(r, (void *)1), -ENOBUFS, "full ring must refuse");
	cr_assert_eq(spio_ring_count(r), 128);
	void *out[200];
	cr_assert_eq(spio_ring_dequeue_burst(r, out, 200), 128);
	for (uintptr_t i = 0; i < 128; i++) {
		cr_assert_eq((uintptr_t)out[i], i + 1, "FIFO order broken at %lu", i);
	}
	cr_assert_eq(spio_ring_dequeue_burst(r, out, 1), 0);
	spio_ring_free(r);
}

Test(ring, burst_and_wraparound)
{
	struct spio_ring *r = spio_ring_create(8, 0);
	void *in[8] = {(void *)1, (void *)2, (void *)3, (void *)4,
		       (void *)5, (void *)6, (void *)7, (void *)8};
	void *out[8];
	/* Run the positions around the ring many times. */
	for (int round = 0; round < 1000; round++) {
		cr_assert_eq(spio_ring_enqueue_burst(r, in, 5), 5);
		cr_assert_eq(spio_ring_enqueue_burst(r, in, 5), 3, "burst takes the 3 that fit");
		cr_assert_eq(spio_ring_count(r), 8);
		cr_assert_eq(spio_ring_dequeue(r), in[0]);
		cr_assert_eq(spio_ring_dequeue_burst(r, out, 8), 7);
		cr_assert_eq(out[4], in[0], "second burst starts after the first five");
		cr_assert_eq(out[6], in[2]);
		cr_assert_null(spio_ring_dequeue(r), "empty ring dequeues NULL");
	}
	spio_ring_free(r);
}

#define PRODUCERS 4
#define PER_PRODUCER 200000

struct prod_arg {
	struct spio_ring *r;
	uintptr_t id;
};

static void *producer(void *p)
{
	struct prod_arg *a = p;
	for (uintptr_t seq = 0; seq < PER_PRODUCER;) {
		void *items[4];
		size_t n = 0;
		for (; n < 4 && seq + n < PER_PRODUCER; n++) {
			items[n] = (void *)((a->id << 32) | (seq + n + 1));
		}
		size_t done = spio_ring_enqueue_burst(a->r, items, n);
		seq += done;
	}
	return NULL;
}

struct cons_arg {
	struct spio_ring *r;
	uint64_t last[PRODUCERS];
	long received;
	long out_of_order;
	long *total_received;
};

static void *consumer(void *p)
{
	struct cons_arg *a = p;
	void *items[16];
	while (__atomic_load_n(a->total_received, __ATOMIC_RELAXED) < PRODUCERS * PER_PRODUCER) {
		size_t n = spio_ring_dequeue_burst(a->r, items, 16);
		for (size_t i = 0; i < n; i++) {
			uintptr_t v = (uintptr_t)items[i];
			uintptr_t id = v >> 32, seq = v & 0xffffffff;
			/* With several consumers order per producer holds per consumer. */
			if (seq <= a->last[id]) {
				a->out_of_order++;
			}
			a->last[id] = seq;
		}
		a->received += (long)n;
		__atomic_fetch_add(a->total_received, (long)n, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void run_stress(int consumers)
{
	struct spio_ring *r =
	    spio_ring_create(1024, SPIO_RING_MP | (consumers > 1 ? SPIO_RING_MC : 0));
	pthread_t pt[PRODUCERS], ct[2];
	struct prod_arg pa[PRODUCERS];
	struct cons_arg ca[2] = {0};
	long total = 0;

	for (int i = 0; i < consumers; i++) {
		ca[i].r = r;
		ca[i].total_received = &total;
		pthread_create(&ct[i], NULL, consumer, &ca[i]);
	}
	for (int i = 0; i < PRODUCERS; i++) {
		pa[i] = (struct prod_arg){.r = r, .id = (uintptr_t)i};
		pthread_create(&pt[i], NULL, producer, &pa[i]);
	}
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(pt[i], NULL);
	}
	long sum = 0;
	for (int i = 0; i < consumers; i++) {
		pthread_join(ct[i], NULL);
		cr_assert_eq(ca[i].out_of_order, 0, "consumer %d saw %ld out-of-order items", i,
			     ca[i].out_of_order);
		sum += ca[i].received;
	}
	cr_assert_eq(sum, PRODUCERS * PER_PRODUCER, "expected %d items, got %ld",
		     PRODUCERS * PER_PRODUCER, sum);
	cr_assert_eq(spio_ring_count(r), 0);
	spio_ring_free(r);
}

Test(ring, stress_mpsc_order_per_producer, .timeout = 300)
{
	run_stress(1);
}

Test(ring, stress_mpmc, .timeout = 300)
{
	run_stress(2);
}
