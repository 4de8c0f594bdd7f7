/*
 * Task stacks: one anonymous mapping each, with a PROT_NONE guard page at
 * the low end so that an overflow faults, and a per-spio_thread cache of
 * free stacks (a few size classes, LIFO) so that a warm spawn makes no
 * system call.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spio/log.h"
#include "spio/util.h"
#include "task/task_internal.h"

#ifdef SPIO_TASK_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* What a cached stack keeps in its top bytes while it is free. */
struct free_stack {
	void *next;
	struct task_stack stack;
};

static size_t g_page_size;

size_t task_stack_page_size(void)
{
	if (spio_unlikely(g_page_size == 0)) {
		long ps = sysconf(_SC_PAGESIZE);

		/* benign race: every thread stores the same value */
		__atomic_store_n(&g_page_size, ps > 0 ? (size_t)ps : 4096, __ATOMIC_RELAXED);
	}
	return g_page_size;
}

static struct free_stack *free_stack_of(void *map, size_t map_size)
{
	uintptr_t top = (uintptr_t)map + map_size - sizeof(struct free_stack);

	return (struct free_stack *)(top & ~(uintptr_t)(SPIO_CACHE_LINE_SIZE - 1));
}

static struct task_stack_bucket *bucket_find(struct task_sched *sched, size_t map_size)
{
	for (unsigned i = 0; i < TASK_STACK_BUCKETS; i++) {
		if (sched->buckets[i].map_size == map_size) {
			return &sched->buckets[i];
		}
	}
	return NULL;
}

static int stack_map(size_t map_size, size_t guard, struct task_stack *out)
{
	void *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	if (map == MAP_FAILED) {
		return -ENOMEM;
	}
	/* Fails with ENOMEM when the process runs out of mappings (vm.max_map_count). */
	if (mprotect(map, guard, PROT_NONE) != 0) {
		munmap(map, map_size);
		return -ENOMEM;
	}
	out->map = map;
	out->map_size = map_size;
	return 0;
}

int task_stack_get(struct task_sched *sched, size_t stack_size, struct task_stack *out)
{
	size_t page = task_stack_page_size();
	size_t map_size = spio_align_up(stack_size, page) + page;
	struct task_stack_bucket *b = bucket_find(sched, map_size);

	if (b != NULL && b->head != NULL) {
		struct free_stack *fs = b->head;

		b->head = fs->next;
		b->count--;
		*out = fs->stack;
#ifdef SPIO_TASK_ASAN
		/* Frames of the previous task may have left poisoned redzones behind. */
		__asan_unpoison_memory_region((char *)out->map + page, out->map_size - page);
#endif
		return 0;
	}
	return stack_map(map_size, page, out);
}

void task_stack_put(struct task_sched *sched, const struct task_stack *stack)
{
	struct task_stack_bucket *b = bucket_find(sched, stack->map_size);

	if (b == NULL) {
		b = bucket_find(sched, 0); /* claim an unused size class */
		if (b != NULL) {
			b->map_size = stack->map_size;
		}
	}
	if (b == NULL || b->count >= TASK_STACK_CACHE_MAX) {
		munmap(stack->map, stack->map_size);
		return;
	}

	struct free_stack *fs = free_stack_of(stack->map, stack->map_size);

#ifdef SPIO_TASK_ASAN
	__asan_unpoison_memory_region(fs, sizeof(*fs));
#endif
	fs->stack = *stack;
	fs->next = b->head;
	b->head = fs;
	b->count++;
}

void task_stack_cache_drain(struct task_sched *sched)
{
	for (unsigned i = 0; i < TASK_STACK_BUCKETS; i++) {
		struct task_stack_bucket *b = &sched->buckets[i];

		while (b->head != NULL) {
			struct free_stack *fs = b->head;
			struct task_stack st = fs->stack;

			b->head = fs->next;
			munmap(st.map, st.map_size);
		}
		b->count = 0;
		b->map_size = 0;
	}
}
