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

/*
 * An IOMMU that must see every mapped slot (VFIO: lib/env/pci_iommu.c), kept
 * behind function pointers so the DMA code does not depend on VFIO. Both
 * are called under the region lock, one slot (2 MiB) at a time, with the
 * slot's IOVA as spio_vtophys() returns it; they must not allocate DMA
 * memory. map returns 0 or -errno (the slot is then given back and the
 * allocation fails with ENOMEM).
 */
struct dma_iommu_ops {
	int (*map)(void *ctx, uint64_t vaddr, uint64_t iova, uint64_t len);
	void (*unmap)(void *ctx, uint64_t iova, uint64_t len);
};

/* Install the hook and map every present slot through it; on failure undo
 * those mappings and return the error. -EBUSY if a hook is installed. */
int dma_region_set_iommu(const struct dma_iommu_ops *ops, void *ctx);
/* Unmap every present slot through the hook, then remove it. */
void dma_region_clear_iommu(void);

/* dma_alloc.c: forget all free lists (region just set up or torn down). */
void dma_alloc_reset(void);

#endif
