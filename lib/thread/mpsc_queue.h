/*
 * Intrusive multi-producer single-consumer queue (D. Vyukov's).
 *
 * A producer does one atomic exchange and one store and never waits for
 * anyone; a consumer that meets a producer caught between those two steps
 * sees "empty for now" and comes back on its next poll. Unbounded: nodes are
 * embedded in the messages, which come from a mempool. Order per producer is
 * preserved.
 */
#ifndef SPIO_MPSC_QUEUE_H
#define SPIO_MPSC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

struct mpsc_node {
	struct mpsc_node *next;
};

struct mpsc_queue {
	struct mpsc_node *head; /* producers push here (xchg) */
	char pad[64 - sizeof(void *)];
	struct mpsc_node *tail; /* consumer pops here */
	struct mpsc_node stub;
};

static inline void mpsc_init(struct mpsc_queue *q)
{
	q->stub.next = NULL;
	q->head = &q->stub;
	q->tail = &q->stub;
}

static inline void mpsc_push(struct mpsc_queue *q, struct mpsc_node *n)
{
	__atomic_store_n(&n->next, NULL, __ATOMIC_RELAXED);
	/* Sequentially consistent: a sleeping consumer's wake-up protocol
	 * (thread interrupt) orders its flag against this exchange. */
	struct mpsc_node *prev = __atomic_exchange_n(&q->head, n, __ATOMIC_SEQ_CST);
	/* Release: the consumer that sees `next` also sees the node's contents. */
	__atomic_store_n(&prev->next, n, __ATOMIC_RELEASE);
}

/* Consumer only. NULL when empty or when the next node is still being linked. */
static inline struct mpsc_node *mpsc_pop(struct mpsc_queue *q)
{
	struct mpsc_node *tail = q->tail;
	struct mpsc_node *next = __atomic_load_n(&tail->next, __ATOMIC_ACQUIRE);

	if (tail == &q->stub) {
		if (next == NULL) {
			return NULL;
		}
		q->tail = next;
		tail = next;
		next = __atomic_load_n(&next->next, __ATOMIC_ACQUIRE);
	}
	if (next) {
		q->tail = next;
		return tail;
	}
	if (tail != __atomic_load_n(&q->head, __ATOMIC_ACQUIRE)) {
		return NULL; /* a producer is between its exchange and its link */
	}
	mpsc_push(q, &q->stub);
	next = __atomic_load_n(&tail->next, __ATOMIC_ACQUIRE);
	if (next) {
		q->tail = next;
		return tail;
	}
	return NULL;
}

/* Consumer only: true when nothing is queued (or being queued). */
static inline bool mpsc_empty(struct mpsc_queue *q)
{
	return q->tail == &q->stub && __atomic_load_n(&q->stub.next, __ATOMIC_ACQUIRE) == NULL &&
	       __atomic_load_n(&q->head, __ATOMIC_SEQ_CST) == &q->stub;
}

#endif
