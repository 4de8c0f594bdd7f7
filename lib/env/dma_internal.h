/* Shared state of the DMA region (dma_region.c) and its allocator (dma_alloc.c). */
#ifndef SPIO_DMA_INTERNAL_H
#define SPIO_DMA_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/dma.h"

#define DMA_SLOT_SHIFT 21
#define DMA_SLOT_SIZE (1ULL << DMA_SLOT_SHIFT)	       /* one 2 MiB hugepage */
#define DMA_MIN_SHIFT 6				       /* smallest buddy block: 64 bytes */
#define DMA_MAX_ORDER (DMA_SLOT_SHIFT - DMA_MIN_SHIFT) /* order of a whole slot */
#define DMA_BLOCKS_PER_SLOT (1u << DMA_MAX_ORDER)

enum dma_slot_state {
	DMA_SLOT_UNMAPPED = 0, /* reserved address space only */
	DMA_SLOT_FREE,	       /* mapped, unused */
	DMA_SLOT_BUDDY,	       /* split into buddy blocks (buffers <= 2 MiB) */
	DMA_SLOT_LARGE_HEAD,   /* first slot of a buffer > 2 MiB */
	DMA_SLOT_LARGE_TAIL,   /* following slots of that buffer */
};

struct dma_region {
	bool initialized;
	bool huge;
	bool mlock_warned;
	bool phys_warned;
	int memfd;
	int pagemap_fd;
	uint8_t *base;	    /* 2 MiB aligned */
	size_t nslots;	    /* slots in the reservation */
	size_t limit_slots; /* 0: no limit */
	size_t mapped_slots;
	uint64_t *iova;	     /* per slot: IOVA of its first byte, 0 if unmapped */
	uint32_t *map_gen;   /* per slot: times it was mapped (spio_dma_get_segment) */
	uint8_t *state;	     /* per slot: enum dma_slot_state */
	uint32_t *run_len;   /* per LARGE_HEAD slot: slots in the buffer */
	uint8_t **buddy_map; /* per BUDDY slot: one byte per 64-byte block */
	uint64_t allocations;
	uint64_t allocated_bytes;
	pthread_mutex_t lock; /* guards everything above after init */
};

extern struct dma_region g_region;

/* dma_region.c */
int dma_region_map_slot(size_t slot);
void dma_region_unmap_slots(size_t slot, size_t n);

/* dma_alloc.c: forget all free lists (region just set up or torn down). */
void dma_alloc_reset(void);

#endif
