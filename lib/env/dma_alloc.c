/*
 * DMA buffer allocator over the slots of dma_region.c.
 *
 * Buffers up to 2 MiB come from a binary buddy allocator inside one slot:
 * blocks are 64 B << order and aligned to their size, so a buffer never
 * crosses a 2 MiB boundary (physically contiguous with hugepages) and any
 * power-of-two alignment up to 2 MiB is free. Larger buffers take a run of
 * whole slots. One byte per 64-byte block records where blocks start, their
 * order and whether they are free, so free() needs no header in the buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dma_internal.h"
#include "env/fault.h"
#include "spio/log.h"
#include "spio/util.h"

#define BLK_FREE_FLAG 0x80
#define BLK_ALLOC(order) ((uint8_t)((order) + 1))
#define BLK_FREE(order) ((uint8_t)(BLK_FREE_FLAG | ((order) + 1)))
#define BLK_ORDER(v) ((unsigned)((v)&0x7f) - 1)

struct free_block {
	struct free_block *next;
	struct free_block *prev;
};

static struct free_block *g_free_lists[DMA_MAX_ORDER + 1];

void dma_alloc_reset(void)
{
	memset(g_free_lists, 0, sizeof(g_free_lists));
}

static void list_push(unsigned order, void *p)
{
	struct free_block *b = p;

	b->prev = NULL;
	b->next = g_free_lists[order];
	if (b->next) {
		b->next->prev = b;
	}
	g_free_lists[order] = b;
}

static void list_remove(unsigned order, void *p)
{
	struct free_block *b = p;

	if (b->prev) {
		b->prev->next = b->next;
	} else {
		g_free_lists[order] = b->next;
	}
	if (b->next) {
		b->next->prev = b->prev;
	}
}

static size_t slot_of(const void *p)
{
	return (size_t)(((const uint8_t *)p - g_region.base) >> DMA_SLOT_SHIFT);
}

static uint8_t *slot_base(size_t slot)
{
	return g_region.base + (slot << DMA_SLOT_SHIFT);
}

static bool in_region(const void *p)
{
	const uint8_t *b = p;

	return g_region.initialized && b >= g_region.base &&
	       b < g_region.base + g_region.nslots * DMA_SLOT_SIZE;
}

/* A slot for the buddy allocator or a large run: prefer mapped free slots. */
static int take_free_slot(size_t *out)
{
	for (size_t i = 0; i < g_region.nslots; i++) {
		if (g_region.state[i] == DMA_SLOT_FREE) {
			*out = i;
			return 0;
		}
	}
	for (size_t i = 0; i < g_region.nslots; i++) {
		if (g_region.state[i] == DMA_SLOT_UNMAPPED) {
			int rc = dma_region_map_slot(i);
			if (rc == 0) {
				g_region.state[i] = DMA_SLOT_FREE;
				*out = i;
			}
			return rc;
		}
	}
	return -ENOMEM;
}

static void *buddy_alloc(unsigned order)
{
	unsigned j = order;
	size_t slot;

	while (j <= DMA_MAX_ORDER && g_free_lists[j] == NULL) {
		j++;
	}
	if (j > DMA_MAX_ORDER) {
		if (take_free_slot(&slot) != 0) {
			return NULL;
		}
		/* A slot that was a buddy slot before keeps its (all-zero) map. */
		if (g_region.buddy_map[slot] == NULL) {
			g_region.buddy_map[slot] = calloc(DMA_BLOCKS_PER_SLOT, 1);
			if (g_region.buddy_map[slot] == NULL) {
				return NULL;
			}
		}
		g_region.state[slot] = DMA_SLOT_BUDDY;
		g_region.buddy_map[slot][0] = BLK_FREE(DMA_MAX_ORDER);
		list_push(DMA_MAX_ORDER, slot_base(slot));
		j = DMA_MAX_ORDER;
	}

	uint8_t *blk = (uint8_t *)g_free_lists[j];
	slot = slot_of(blk);
	uint8_t *map = g_region.buddy_map[slot];
	size_t idx = (size_t)(blk - slot_base(slot)) >> DMA_MIN_SHIFT;

	list_remove(j, blk);
	while (j > order) {
		j--;
		size_t buddy = idx + (1u << j);
		map[buddy] = BLK_FREE(j);
		list_push(j, blk + ((size_t)1 << (j + DMA_MIN_SHIFT)));
	}
	map[idx] = BLK_ALLOC(order);
	return blk;
}

static void buddy_free(size_t slot, size_t idx, unsigned order)
{
	uint8_t *map = g_region.buddy_map[slot];

	while (order < DMA_MAX_ORDER) {
		size_t buddy = idx ^ ((size_t)1 << order);
		if (map[buddy] != BLK_FREE(order)) {
			break;
		}
		list_remove(order, slot_base(slot) + (buddy << DMA_MIN_SHIFT));
		map[buddy] = 0;
		map[idx] = 0;
		idx &= ~((size_t)1 << order);
		order++;
	}
	if (order == DMA_MAX_ORDER) {
		/* The whole slot is free again: keep it mapped, and keep its map
		 * (every entry is zero again) for the next buddy use. */
		map[0] = 0;
		g_region.state[slot] = DMA_SLOT_FREE;
		return;
	}
	map[idx] = BLK_FREE(order);
	list_push(order, slot_base(slot) + (idx << DMA_MIN_SHIFT));
}

static bool run_available(size_t start, size_t n)
{
	for (size_t i = start; i < start + n; i++) {
		if (g_region.state[i] != DMA_SLOT_FREE && g_region.state[i] != DMA_SLOT_UNMAPPED) {
			return false;
		}
	}
	return true;
}

static void *large_alloc(size_t n)
{
	for (size_t start = 0; start + n <= g_region.nslots; start++) {
		if (!run_available(start, n)) {
			continue;
		}
		size_t i;
		int rc = 0;
		for (i = start; i < start + n; i++) {
			if (g_region.state[i] == DMA_SLOT_UNMAPPED) {
				rc = dma_region_map_slot(i);
				if (rc != 0) {
					break;
				}
				g_region.state[i] = DMA_SLOT_FREE;
			}
		}
		if (rc != 0) {
			/* Out of memory: mapping more elsewhere will not help. */
			return NULL;
		}
		for (i = start; i < start + n; i++) {
			free(g_region.buddy_map[i]); /* cached map of a former buddy slot */
			g_region.buddy_map[i] = NULL;
		}
		g_region.state[start] = DMA_SLOT_LARGE_HEAD;
		g_region.run_len[start] = (uint32_t)n;
		for (i = start + 1; i < start + n; i++) {
			g_region.state[i] = DMA_SLOT_LARGE_TAIL;
		}
		return slot_base(start);
	}
	return NULL;
}

static void large_free(size_t slot)
{
	size_t n = g_region.run_len[slot];

	for (size_t i = slot; i < slot + n; i++) {
		g_region.state[i] = DMA_SLOT_FREE;
	}
	g_region.run_len[slot] = 0;
	if (g_region.limit_slots == 0) {
		/* Grown on demand: return big buffers' memory to the system. */
		dma_region_unmap_slots(slot, n);
		for (size_t i = slot; i < slot + n; i++) {
			g_region.state[i] = DMA_SLOT_UNMAPPED;
		}
	}
}

/* Usable size of a live buffer, or 0. Called with the lock held. */
static size_t live_size(const void *buf)
{
	if (!in_region(buf)) {
		return 0;
	}
	size_t slot = slot_of(buf);
	size_t off = (size_t)((const uint8_t *)buf - slot_base(slot));

	if (g_region.state[slot] == DMA_SLOT_LARGE_HEAD && off == 0) {
		return (size_t)g_region.run_len[slot] * DMA_SLOT_SIZE;
	}
	if (g_region.state[slot] == DMA_SLOT_BUDDY && off % (1u << DMA_MIN_SHIFT) == 0) {
		uint8_t v = g_region.buddy_map[slot][off >> DMA_MIN_SHIFT];
		if (v != 0 && !(v & BLK_FREE_FLAG)) {
			return (size_t)1 << (BLK_ORDER(v) + DMA_MIN_SHIFT);
		}
	}
	return 0;
}

void *spio_dma_malloc(size_t size, size_t align)
{
	void *p;

	if (align == 0) {
		align = SPIO_CACHE_LINE_SIZE;
	}
	if (size == 0 || !spio_is_pow2(align) || align > SPIO_DMA_MAX_ALIGN ||
	    size > (SIZE_MAX >> 1) || !g_region.initialized) {
		errno = EINVAL;
		return NULL;
	}
	if (fault_hit(FAULT_DMA_ALLOC)) {
		errno = ENOMEM;
		return NULL;
	}

	size_t need = SPIO_MAX(size, align);
	pthread_mutex_lock(&g_region.lock);
	if (need <= DMA_SLOT_SIZE) {
		unsigned order = (unsigned)__builtin_ctzll(spio_align_pow2(need));
		order = order > DMA_MIN_SHIFT ? order - DMA_MIN_SHIFT : 0;
		p = buddy_alloc(order);
	} else {
		p = large_alloc(spio_align_up(size, DMA_SLOT_SIZE) / DMA_SLOT_SIZE);
	}
	if (p) {
		g_region.allocations++;
		g_region.allocated_bytes += live_size(p);
	}
	pthread_mutex_unlock(&g_region.lock);
	if (p == NULL) {
		errno = ENOMEM;
	}
	return p;
}

void *spio_dma_zmalloc(size_t size, size_t align)
{
	void *p = spio_dma_malloc(size, align);

	if (p) {
		memset(p, 0, size);
	}
	return p;
}

void spio_dma_free(void *buf)
{
	if (buf == NULL) {
		return;
	}
	pthread_mutex_lock(&g_region.lock);
	size_t usable = live_size(buf);
	if (usable == 0) {
		pthread_mutex_unlock(&g_region.lock);
		SPIO_ERRLOG("spio_dma_free(%p): not the start of a live DMA buffer; ignored\n",
			    buf);
		return;
	}
	size_t slot = slot_of(buf);
	if (g_region.state[slot] == DMA_SLOT_LARGE_HEAD) {
		large_free(slot);
	} else {
		size_t idx = (size_t)((uint8_t *)buf - slot_base(slot)) >> DMA_MIN_SHIFT;
		buddy_free(slot, idx, BLK_ORDER(g_region.buddy_map[slot][idx]));
	}
	g_region.allocations--;
	g_region.allocated_bytes -= usable;
	pthread_mutex_unlock(&g_region.lock);
}

size_t spio_dma_usable_size(const void *buf)
{
	size_t n;

	if (buf == NULL || !g_region.initialized) {
		return 0;
	}
	pthread_mutex_lock(&g_region.lock);
	n = live_size(buf);
	pthread_mutex_unlock(&g_region.lock);
	return n;
}

void *spio_dma_realloc(void *buf, size_t size, size_t align)
{
	size_t old;
	void *p;

	if (buf == NULL) {
		return spio_dma_malloc(size, align);
	}
	if (size == 0) {
		errno = EINVAL;
		return NULL;
	}
	old = spio_dma_usable_size(buf);
	if (old == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (size <= old && (align == 0 || (uintptr_t)buf % align == 0) &&
	    (align == 0 || spio_is_pow2(align))) {
		return buf;
	}
	p = spio_dma_malloc(size, align);
	if (p == NULL) {
		return NULL;
	}
	memcpy(p, buf, SPIO_MIN(old, size));
	spio_dma_free(buf);
	return p;
}

int spio_dma_get_stats(struct spio_dma_stats *stats)
{
	if (stats == NULL || !g_region.initialized) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_region.lock);
	stats->allocated_bytes = g_region.allocated_bytes;
	stats->allocations = g_region.allocations;
	stats->mapped_bytes = (uint64_t)g_region.mapped_slots * DMA_SLOT_SIZE;
	stats->limit_bytes = (uint64_t)g_region.limit_slots * DMA_SLOT_SIZE;
	stats->page_size = g_region.huge ? DMA_SLOT_SIZE : 4096;
	pthread_mutex_unlock(&g_region.lock);
	return 0;
}

int spio_dma_buf_alloc(struct spio_dma_buf *buf, size_t len, size_t align)
{
	if (buf == NULL) {
		return -EINVAL;
	}
	memset(buf, 0, sizeof(*buf));
	buf->ptr = spio_dma_zmalloc(len, align);
	if (buf->ptr == NULL) {
		return -errno;
	}
	buf->len = len;
	buf->iova = spio_vtophys(buf->ptr, NULL);
	return 0;
}

void spio_dma_buf_free(struct spio_dma_buf *buf)
{
	if (buf == NULL) {
		return;
	}
	spio_dma_free(buf->ptr);
	memset(buf, 0, sizeof(*buf));
}
