/*
 * Bounded lock-free pointer ring with per-slot sequence numbers (see
 * spio/ring.h).
 *
 * Slot i is free for the producer at position p when seq == p, and holds an
 * item for the consumer at position p when seq == p + 1; consuming sets
 * seq = p + size, freeing the slot for the producer one lap later. Positions
 * are free-running 64-bit counters, so they never wrap in practice.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "spio/ring.h"
#include "spio/util.h"

struct ring_slot {
	uint64_t seq;
	void *obj;
};

struct spio_ring {
	uint64_t size;
	uint64_t mask;
	bool multi_prod;
	bool multi_cons;
	uint64_t enq_pos __attribute__((aligned(SPIO_CACHE_LINE_SIZE)));
	uint64_t deq_pos __attribute__((aligned(SPIO_CACHE_LINE_SIZE)));
	struct ring_slot slots[] __attribute__((aligned(SPIO_CACHE_LINE_SIZE)));
};

struct spio_ring *spio_ring_create(size_t count, int flags)
{
	struct spio_ring *ring;
	size_t size;

	if (count == 0 || count > (1u << 30) || (flags & ~(SPIO_RING_MP | SPIO_RING_MC)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	size = spio_align_pow2(count < 2 ? 2 : count);
	ring = aligned_alloc(
	    SPIO_CACHE_LINE_SIZE,
	    spio_align_up(sizeof(*ring) + size * sizeof(struct ring_slot), SPIO_CACHE_LINE_SIZE));
	if (ring == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	ring->size = size;
	ring->mask = size - 1;
	ring->multi_prod = (flags & SPIO_RING_MP) != 0;
	ring->multi_cons = (flags & SPIO_RING_MC) != 0;
	ring->enq_pos = 0;
	ring->deq_pos = 0;
	for (size_t i = 0; i < size; i++) {
		ring->slots[i].seq = i;
		ring->slots[i].obj = NULL;
	}
	return ring;
}

void spio_ring_free(struct spio_ring *ring)
{
	free(ring);
}

/*
 * Claim the next position of one side. `lag` is 0 for producers (slot free
 * when seq == pos) and 1 for consumers (item present when seq == pos + 1).
 * Returns the claimed slot, or NULL when the ring is full / empty.
 */
static inline struct ring_slot *claim(struct spio_ring *ring, uint64_t *pos_p, bool multi,
				      uint64_t lag, uint64_t *claimed)
{
	uint64_t pos = __atomic_load_n(pos_p, __ATOMIC_RELAXED);

	for (;;) {
		struct ring_slot *slot = &ring->slots[pos & ring->mask];
		/* Acquire pairs with the release that published this slot. */
		uint64_t seq = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);
		int64_t dif = (int64_t)(seq - (pos + lag));

		if (dif == 0) {
			if (!multi) {
				/* A single producer's claim is sequentially
				 * consistent, as the CAS below. A single consumer's
				 * needs only release: it alone writes deq_pos, and
				 * a reader on another thread that sees an older value
				 * counts an item too many, never one too few. */
				if (lag == 0) {
					__atomic_store_n(pos_p, pos + 1, __ATOMIC_SEQ_CST);
				} else {
					__atomic_store_n(pos_p, pos + 1, __ATOMIC_RELEASE);
				}
				*claimed = pos;
				return slot;
			}
			/* Sequentially consistent: a sleeping consumer's wake-up
			 * handshake (spio_thread_sleep_begin) orders its flag
			 * against this claim. Same instruction on x86. */
			if (__atomic_compare_exchange_n(pos_p, &pos, pos + 1, true,
							__ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
				*claimed = pos;
				return slot;
			}
			/* pos was reloaded by the failed CAS. */
		} else if (dif < 0) {
			return NULL; /* full (producer) or empty (consumer) */
		} else {
			/* Another thread moved past us: catch up. */
			pos = __atomic_load_n(pos_p, __ATOMIC_RELAXED);
		}
	}
}

int spio_ring_enqueue(struct spio_ring *ring, void *obj)
{
	struct ring_slot *slot;
	uint64_t pos;

	if (spio_unlikely(ring == NULL)) {
		return -EINVAL;
	}
	slot = claim(ring, &ring->enq_pos, ring->multi_prod, 0, &pos);
	if (slot == NULL) {
		return -ENOBUFS;
	}
	slot->obj = obj;
	__atomic_store_n(&slot->seq, pos + 1, __ATOMIC_RELEASE);
	return 0;
}

static inline bool dequeue_one(struct spio_ring *ring, void **obj)
{
	struct ring_slot *slot;
	uint64_t pos;

	slot = claim(ring, &ring->deq_pos, ring->multi_cons, 1, &pos);
	if (slot == NULL) {
		return false;
	}
	*obj = slot->obj;
	__atomic_store_n(&slot->seq, pos + ring->size, __ATOMIC_RELEASE);
	return true;
}

void *spio_ring_dequeue(struct spio_ring *ring)
{
	void *obj;

	if (spio_unlikely(ring == NULL)) {
		return NULL;
	}
	return dequeue_one(ring, &obj) ? obj : NULL;
}

size_t spio_ring_enqueue_burst(struct spio_ring *ring, void *const *objs, size_t n)
{
	size_t i;

	if (spio_unlikely(ring == NULL || objs == NULL)) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (spio_ring_enqueue(ring, objs[i]) != 0) {
			break;
		}
	}
	return i;
}

size_t spio_ring_dequeue_burst(struct spio_ring *ring, void **objs, size_t n)
{
	size_t i;

	if (spio_unlikely(ring == NULL || objs == NULL)) {
		return 0;
	}
	for (i = 0; i < n && dequeue_one(ring, &objs[i]); i++) {
	}
	return i;
}

size_t spio_ring_count(const struct spio_ring *ring)
{
	if (ring == NULL) {
		return 0;
	}
	uint64_t deq = __atomic_load_n(&ring->deq_pos, __ATOMIC_SEQ_CST);
	uint64_t enq = __atomic_load_n(&ring->enq_pos, __ATOMIC_SEQ_CST);

	/* Loads are not simultaneous: clamp a snapshot that looks impossible. */
	if (enq < deq) {
		return 0;
	}
	return enq - deq > ring->size ? ring->size : enq - deq;
}

size_t spio_ring_capacity(const struct spio_ring *ring)
{
	return ring ? ring->size : 0;
}
