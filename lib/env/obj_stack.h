/*
 * Lock-free LIFO of object indexes (a Treiber stack) with bulk operations,
 * the shared free list of a mempool.
 *
 * The top word packs a 32-bit index and a 32-bit tag that every successful
 * CAS bumps, which defeats ABA. Links live in a side array indexed by object,
 * not inside the objects, so a racing reader never reads user memory.
 * Nobody ever waits for another thread: a thread preempted mid-operation
 * holds nothing, and the stack reads empty only when it is empty. LIFO order
 * also hands out the most recently freed, cache-warm objects first.
 */
#ifndef SPIO_OBJ_STACK_H
#define SPIO_OBJ_STACK_H

#include <stddef.h>
#include <stdint.h>

#define OBJ_STACK_NIL UINT32_MAX

struct obj_stack {
	uint64_t top __attribute__((aligned(64))); /* tag << 32 | index */
	uint64_t len __attribute__((aligned(64)));
	uint32_t *next; /* per object: the index below it */
};

/* 0 or -ENOMEM; the stack starts empty. */
int obj_stack_init(struct obj_stack *s, uint32_t count);
void obj_stack_fini(struct obj_stack *s);

/* Push `n` indexes (idx[n-1] ends on top) with one CAS. */
void obj_stack_push(struct obj_stack *s, const uint32_t *idx, size_t n);

/* Pop up to `n` indexes into idx; returns how many. */
size_t obj_stack_pop(struct obj_stack *s, uint32_t *idx, size_t n);

/* Indexes on the stack: exact when quiet, a snapshot otherwise. */
size_t obj_stack_len(const struct obj_stack *s);

#endif
