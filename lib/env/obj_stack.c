/* Lock-free index stack (see obj_stack.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "obj_stack.h"

#define TOP(tag, idx) (((uint64_t)(tag) << 32) | (idx))
#define TOP_IDX(t) ((uint32_t)(t))
#define TOP_TAG(t) ((uint32_t)((t) >> 32))

int obj_stack_init(struct obj_stack *s, uint32_t count)
{
	s->next = malloc((size_t)count * sizeof(*s->next));
	if (s->next == NULL) {
		return -ENOMEM;
	}
	s->top = TOP(0, OBJ_STACK_NIL);
	s->len = 0;
	return 0;
}

void obj_stack_fini(struct obj_stack *s)
{
	free(s->next);
	s->next = NULL;
}

void obj_stack_push(struct obj_stack *s, const uint32_t *idx, size_t n)
{
	uint64_t old, new;

	if (n == 0) {
		return;
	}
	/* Link the batch privately: idx[n-1] on top, idx[0] at the bottom. */
	for (size_t i = 1; i < n; i++) {
		__atomic_store_n(&s->next[idx[i]], idx[i - 1], __ATOMIC_RELAXED);
	}
	old = __atomic_load_n(&s->top, __ATOMIC_RELAXED);
	do {
		__atomic_store_n(&s->next[idx[0]], TOP_IDX(old), __ATOMIC_RELAXED);
		new = TOP(TOP_TAG(old) + 1, idx[n - 1]);
		/* Release: a popper that sees the new top sees the links above. */
	} while (!__atomic_compare_exchange_n(&s->top, &old, new, true, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	__atomic_fetch_add(&s->len, n, __ATOMIC_RELAXED);
}

size_t obj_stack_pop(struct obj_stack *s, uint32_t *idx, size_t n)
{
	uint64_t old = __atomic_load_n(&s->top, __ATOMIC_ACQUIRE);
	size_t got;

	if (n == 0) {
		return 0;
	}
	for (;;) {
		uint32_t cur = TOP_IDX(old);

		/* Walk down up to n links. Another thread may pop and relink these
		 * meanwhile; the tag then differs and the CAS below fails. */
		got = 0;
		while (got < n && cur != OBJ_STACK_NIL) {
			idx[got++] = cur;
			cur = __atomic_load_n(&s->next[cur], __ATOMIC_RELAXED);
		}
		if (got == 0) {
			return 0;
		}
		if (__atomic_compare_exchange_n(&s->top, &old, TOP(TOP_TAG(old) + 1, cur), true,
						__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
			break;
		}
	}
	__atomic_fetch_sub(&s->len, got, __ATOMIC_RELAXED);
	return got;
}

size_t obj_stack_len(const struct obj_stack *s)
{
	int64_t len = (int64_t)__atomic_load_n(&s->len, __ATOMIC_RELAXED);

	/* A pop's decrement can land before the matching push's increment. */
	return len < 0 ? 0 : (size_t)len;
}
