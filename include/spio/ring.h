/*
 * spdk-io ring: a bounded lock-free FIFO of pointers.
 *
 * Each slot carries a sequence number (D. Vyukov's bounded MPMC queue): a
 * producer claims the next position with one CAS, fills the slot and
 * publishes it through the slot's sequence; a consumer does the mirror image.
 * Nobody ever waits for another thread to finish: a slot claimed but not yet
 * published reads as "empty" (or "full") for the moment. This matters with
 * more threads than cores, where DPDK's head/tail scheme makes everyone spin
 * behind a preempted producer. Each producer's items come out in the order it
 * put them in.
 *
 * Written on the compiler's __atomic builtins (not inline assembly) so that
 * ThreadSanitizer sees every happens-before edge the ring creates.
 *
 * Thread rules: with SPIO_RING_MP any number of OS threads may enqueue at
 * once, otherwise one at a time; likewise SPIO_RING_MC for dequeue. Never
 * blocks, never allocates after create.
 */
#ifndef SPIO_RING_H
#define SPIO_RING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct spio_ring;

enum spio_ring_flags {
	SPIO_RING_SP = 0,      /**< single producer */
	SPIO_RING_MP = 1 << 0, /**< multiple producers */
	SPIO_RING_SC = 0,      /**< single consumer */
	SPIO_RING_MC = 1 << 1, /**< multiple consumers */
};

/**
 * Create a ring that holds at least `count` pointers (rounded up to a power
 * of two, minimum 2; the ring holds exactly that many).
 *
 * \param count 1 .. 2^30.
 * \param flags SPIO_RING_MP and/or SPIO_RING_MC.
 * \return the ring, or NULL with errno EINVAL (count out of range, unknown
 *         flags) or ENOMEM. The caller owns it; free with spio_ring_free().
 * Any OS thread.
 */
struct spio_ring *spio_ring_create(size_t count, int flags);

/**
 * Free a ring; the pointers still in it are not touched (what they point to
 * stays the caller's). NULL is ignored. No other thread may use the ring
 * during or after the call.
 */
void spio_ring_free(struct spio_ring *ring);

/**
 * Enqueue up to `n` pointers from `objs`, in order, as many as fit. The array
 * is read during the call only; the pointers are stored as they are (the ring
 * never dereferences them). Producer rule as in the thread rules above.
 * \return the number enqueued (0 when full, or for a NULL ring or objs).
 */
size_t spio_ring_enqueue_burst(struct spio_ring *ring, void *const *objs, size_t n);

/**
 * Enqueue one pointer (stored as is, never dereferenced). Producer rule as in
 * the thread rules above.
 * \return 0, -ENOBUFS when full, -EINVAL for a NULL ring.
 */
int spio_ring_enqueue(struct spio_ring *ring, void *obj);

/**
 * Dequeue the oldest pointer. Consumer rule as in the thread rules above.
 * \return it, or NULL when empty or for a NULL ring (so a ring that carries
 *         NULL pointers needs spio_ring_dequeue_burst()).
 */
void *spio_ring_dequeue(struct spio_ring *ring);

/**
 * Dequeue up to `n` pointers, oldest first, into the caller's array `objs`.
 * Consumer rule as in the thread rules above.
 * \return the number dequeued (0 when empty, or for a NULL ring or objs).
 */
size_t spio_ring_dequeue_burst(struct spio_ring *ring, void **objs, size_t n);

/**
 * Number of pointers in the ring: exact when no one else is operating on
 * it, a snapshot otherwise (never above the capacity). 0 for NULL. Any OS
 * thread.
 */
size_t spio_ring_count(const struct spio_ring *ring);

/** Number of pointers the ring can hold (a power of two); 0 for NULL. Any OS thread. */
size_t spio_ring_capacity(const struct spio_ring *ring);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_RING_H */
