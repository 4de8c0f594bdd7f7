/*
 * DMA memory region: one reserved range of virtual addresses, cut into 2 MiB
 * slots that are mapped on demand (from a hugetlb memfd, or from ordinary
 * locked pages) and translated to IOVAs once, when mapped.
 *
 * The allocator (dma_alloc.c) asks for slots here; this file knows nothing
 * of buffers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dma_internal.h"
#include "env_internal.h"
#include "spio/log.h"
#include "spio/util.h"

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21 << 26)
#endif

struct dma_region g_region = {.memfd = -1};

/* Outside g_region: it outlives dma_mem_init's reset (devices may stay
 * attached across an env re-init). Changed under the region lock. */
static const struct dma_iommu_ops *g_iommu_ops;
static void *g_iommu_ctx;

static uint64_t phys_mem_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long psz = sysconf(_SC_PAGESIZE);

	return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 1ULL << 32;
}

static uint64_t free_hugepages(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	unsigned long long n = 0;

	if (f == NULL) {
		return 0;
	}
	if (fscanf(f, "%llu", &n) != 1) {
		n = 0;
	}
	fclose(f);
	return n;
}

/* Physical address of a mapped, faulted-in page, or 0 when pagemap hides it
 * (no CAP_SYS_ADMIN: the kernel reports PFN 0). */
static uint64_t pagemap_phys(const void *va)
{
	uint64_t entry, psz = (uint64_t)sysconf(_SC_PAGESIZE);
	off_t off = (off_t)((uintptr_t)va / psz * sizeof(entry));

	if (g_region.pagemap_fd < 0 ||
	    pread(g_region.pagemap_fd, &entry, sizeof(entry), off) != sizeof(entry)) {
		return 0;
	}
	if (!(entry & (1ULL << 63))) {
		return 0; /* not present */
	}
	entry &= (1ULL << 55) - 1; /* bits 0-54: PFN */
	return entry * psz + ((uintptr_t)va % psz);
}

static void *slot_addr(size_t slot)
{
	return g_region.base + slot * DMA_SLOT_SIZE;
}

/* Put the PROT_NONE reservation back over a slot range. */
static void reserve_again(size_t slot, size_t n)
{
	void *p = mmap(slot_addr(slot), n * DMA_SLOT_SIZE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) {
		SPIO_ERRLOG("dma: cannot re-reserve %zu slots at %p: %s\n", n, slot_addr(slot),
			    strerror(errno));
	}
	if (g_region.huge) {
		/* Give the hugepages back to the system, not just the mapping. */
		fallocate(g_region.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)(slot * DMA_SLOT_SIZE), (off_t)(n * DMA_SLOT_SIZE));
	}
}

/* Take every present slot out of the IOMMU (before the hook goes away, or
 * the memory does). */
static void iommu_unmap_all(void)
{
	for (size_t i = 0; g_iommu_ops && g_region.iova && i < g_region.nslots; i++) {
		if (g_region.iova[i] != 0) {
			g_iommu_ops->unmap(g_iommu_ctx, g_region.iova[i], DMA_SLOT_SIZE);
		}
	}
}

int dma_region_map_slot(size_t slot)
{
	void *want = slot_addr(slot);
	void *p;

	if (g_region.limit_slots && g_region.mapped_slots >= g_region.limit_slots) {
		return -ENOMEM;
	}
	if (g_region.huge) {
		p = mmap(want, DMA_SLOT_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED | MAP_POPULATE, g_region.memfd,
			 (off_t)(slot * DMA_SLOT_SIZE));
	} else {
		p = mmap(want, DMA_SLOT_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_POPULATE, -1, 0);
	}
	if (p == MAP_FAILED) {
		int err = errno;

		reserve_again(slot, 1);
		return err == ENOMEM || err == EAGAIN ? -ENOMEM : -err;
	}
	if (!g_region.huge && mlock(p, DMA_SLOT_SIZE) != 0 && !g_region.mlock_warned) {
		g_region.mlock_warned = true;
		SPIO_WARNLOG("dma: mlock failed (%s); DMA memory may be swapped out. Raise "
			     "RLIMIT_MEMLOCK (ulimit -l) to lock it.\n",
			     strerror(errno));
	}

	uint64_t iova = (uintptr_t)p;
	if (g_region.huge) {
		uint64_t phys = pagemap_phys(p);
		if (phys != 0) {
			iova = phys;
		} else if (!g_region.phys_warned) {
			g_region.phys_warned = true;
			SPIO_WARNLOG("dma: physical addresses unreadable from /proc/self/pagemap "
				     "(needs CAP_SYS_ADMIN); using virtual addresses as IOVA\n");
		}
	}
	if (g_iommu_ops) {
		int rc = g_iommu_ops->map(g_iommu_ctx, (uintptr_t)p, iova, DMA_SLOT_SIZE);
		if (rc != 0) {
			/* The hook logged why; a slot the device cannot reach is no DMA memory. */
			reserve_again(slot, 1);
			return -ENOMEM;
		}
	}
	/* New pages behind the same addresses: whoever registered the old ones
	 * with the kernel (an io_uring's fixed buffers) must register again. */
	__atomic_store_n(&g_region.map_gen[slot], g_region.map_gen[slot] + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&g_region.iova[slot], iova, __ATOMIC_RELEASE);
	g_region.mapped_slots++;
	return 0;
}

void dma_region_unmap_slots(size_t slot, size_t n)
{
	/* Out of the IOMMU first: a device must never reach recycled memory.
	 * One call per slot, as mapped (hugepage IOVAs need not be contiguous). */
	for (size_t i = 0; g_iommu_ops && i < n; i++) {
		g_iommu_ops->unmap(g_iommu_ctx, g_region.iova[slot + i], DMA_SLOT_SIZE);
	}
	reserve_again(slot, n);
	for (size_t i = 0; i < n; i++) {
		__atomic_store_n(&g_region.iova[slot + i], 0, __ATOMIC_RELEASE);
	}
	g_region.mapped_slots -= n;
}

static int open_hugetlb_memfd(const char *name)
{
	char fdname[64];

	snprintf(fdname, sizeof(fdname), "%s-dma", name);
	return memfd_create(fdname, MFD_CLOEXEC | MFD_HUGETLB | MFD_HUGE_2MB);
}

int dma_mem_init(const char *name, bool huge, uint64_t mem_size_mb)
{
	uint64_t limit_bytes = mem_size_mb * 1024 * 1024;
	size_t nslots;
	void *base;

	if (mem_size_mb > (1ULL << 30)) {
		return -EINVAL;
	}
	memset(&g_region, 0, sizeof(g_region));
	g_region.memfd = -1;
	g_region.pagemap_fd = -1;

	if (huge) {
		uint64_t need =
		    limit_bytes ? spio_align_up(limit_bytes, DMA_SLOT_SIZE) / DMA_SLOT_SIZE : 1;
		if (free_hugepages() < need) {
			SPIO_NOTICELOG("dma: %llu free 2 MiB hugepages, need %llu; using ordinary "
				       "locked pages (no-huge mode)\n",
				       (unsigned long long)free_hugepages(),
				       (unsigned long long)need);
			huge = false;
		} else {
			g_region.memfd = open_hugetlb_memfd(name);
			if (g_region.memfd < 0) {
				SPIO_NOTICELOG("dma: memfd_create(MFD_HUGETLB) failed (%s); using "
					       "ordinary locked pages\n",
					       strerror(errno));
				huge = false;
			}
		}
	}
	g_region.huge = huge;

	/* Reserve address space: the limit if given, else all of RAM (the most
	 * that could ever be locked). One extra slot allows 2 MiB alignment. */
	nslots =
	    (size_t)(spio_align_up(limit_bytes ? limit_bytes : phys_mem_bytes(), DMA_SLOT_SIZE) /
		     DMA_SLOT_SIZE);
	base = mmap(NULL, (nslots + 1) * DMA_SLOT_SIZE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		dma_mem_fini();
		return -ENOMEM;
	}
	uintptr_t aligned = spio_align_up((uintptr_t)base, DMA_SLOT_SIZE);
	size_t head = aligned - (uintptr_t)base;
	if (head) {
		munmap(base, head);
	}
	munmap((char *)aligned + nslots * DMA_SLOT_SIZE, DMA_SLOT_SIZE - head);
	g_region.base = (uint8_t *)aligned;
	g_region.nslots = nslots;
	g_region.limit_slots = limit_bytes ? nslots : 0;

	if (huge && ftruncate(g_region.memfd, (off_t)(nslots * DMA_SLOT_SIZE)) != 0) {
		int err = errno;
		dma_mem_fini();
		return -err;
	}
	if (huge) {
		g_region.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	}

	g_region.iova = calloc(nslots, sizeof(*g_region.iova));
	g_region.map_gen = calloc(nslots, sizeof(*g_region.map_gen));
	g_region.state = calloc(nslots, sizeof(*g_region.state));
	g_region.run_len = calloc(nslots, sizeof(*g_region.run_len));
	g_region.buddy_map = calloc(nslots, sizeof(*g_region.buddy_map));
	if (!g_region.iova || !g_region.map_gen || !g_region.state || !g_region.run_len ||
	    !g_region.buddy_map) {
		dma_mem_fini();
		return -ENOMEM;
	}

	/* With a limit, map everything now so a shortage shows at start-up. */
	for (size_t i = 0; limit_bytes && i < nslots; i++) {
		int rc = dma_region_map_slot(i);
		if (rc != 0) {
			SPIO_ERRLOG("dma: cannot map %llu MiB of %s memory: %s\n",
				    (unsigned long long)mem_size_mb, huge ? "hugepage" : "locked",
				    strerror(-rc));
			dma_mem_fini();
			return rc;
		}
		g_region.state[i] = DMA_SLOT_FREE;
	}
	dma_alloc_reset();
	pthread_mutex_init(&g_region.lock, NULL);
	g_region.initialized = true;
	SPIO_INFOLOG("dma: %s memory, %s\n", huge ? "2 MiB hugepage" : "locked 4 KiB page",
		     limit_bytes ? "preallocated" : "grown on demand");
	return 0;
}

void dma_mem_fini(void)
{
	if (g_region.initialized && g_region.allocations) {
		SPIO_WARNLOG("dma: %llu buffers (%llu bytes) still allocated at fini\n",
			     (unsigned long long)g_region.allocations,
			     (unsigned long long)g_region.allocated_bytes);
	}
	iommu_unmap_all();
	if (g_region.base) {
		munmap(g_region.base, g_region.nslots * DMA_SLOT_SIZE);
	}
	if (g_region.memfd >= 0) {
		close(g_region.memfd);
	}
	if (g_region.pagemap_fd >= 0) {
		close(g_region.pagemap_fd);
	}
	for (size_t i = 0; g_region.buddy_map && i < g_region.nslots; i++) {
		free(g_region.buddy_map[i]);
	}
	free(g_region.iova);
	free(g_region.map_gen);
	free(g_region.state);
	free(g_region.run_len);
	free(g_region.buddy_map);
	if (g_region.initialized) {
		pthread_mutex_destroy(&g_region.lock);
	}
	memset(&g_region, 0, sizeof(g_region));
	g_region.memfd = -1;
	g_region.pagemap_fd = -1;
}

int dma_region_set_iommu(const struct dma_iommu_ops *ops, void *ctx)
{
	bool locked = g_region.initialized;
	int rc = 0;

	if (ops == NULL || ops->map == NULL || ops->unmap == NULL) {
		return -EINVAL;
	}
	if (locked) {
		pthread_mutex_lock(&g_region.lock);
	}
	if (g_iommu_ops != NULL) {
		rc = -EBUSY;
	}
	size_t i;
	for (i = 0; rc == 0 && g_region.iova && i < g_region.nslots; i++) {
		if (g_region.iova[i] != 0) {
			rc =
			    ops->map(ctx, (uintptr_t)slot_addr(i), g_region.iova[i], DMA_SLOT_SIZE);
		}
	}
	if (rc == 0) {
		g_iommu_ops = ops;
		g_iommu_ctx = ctx;
	} else if (rc != -EBUSY) {
		/* Slot i - 1 failed: undo the ones before it. */
		for (size_t j = 0; j + 1 < i; j++) {
			if (g_region.iova[j] != 0) {
				ops->unmap(ctx, g_region.iova[j], DMA_SLOT_SIZE);
			}
		}
	}
	if (locked) {
		pthread_mutex_unlock(&g_region.lock);
	}
	return rc;
}

void dma_region_clear_iommu(void)
{
	bool locked = g_region.initialized;

	if (locked) {
		pthread_mutex_lock(&g_region.lock);
	}
	iommu_unmap_all();
	g_iommu_ops = NULL;
	g_iommu_ctx = NULL;
	if (locked) {
		pthread_mutex_unlock(&g_region.lock);
	}
}

bool dma_mem_hugepages(void)
{
	return g_region.huge;
}

uint64_t spio_vtophys(const void *buf, uint64_t *size)
{
	uintptr_t va = (uintptr_t)buf, base = (uintptr_t)g_region.base;
	uint64_t want = size ? *size : 0;

	if (!g_region.initialized || va < base || va >= base + g_region.nslots * DMA_SLOT_SIZE) {
		return SPIO_VTOPHYS_ERROR;
	}
	size_t slot = (va - base) / DMA_SLOT_SIZE;
	uint64_t off = (va - base) % DMA_SLOT_SIZE;
	/* Slot state and IOVA change only under the lock; vtophys may run on
	 * any thread while another allocates, so read the IOVA atomically. */
	uint64_t iova = __atomic_load_n(&g_region.iova[slot], __ATOMIC_ACQUIRE);
	if (iova == 0) {
		return SPIO_VTOPHYS_ERROR;
	}
	if (size) {
		uint64_t contig = DMA_SLOT_SIZE - off;
		for (size_t s = slot + 1; contig < want && s < g_region.nslots; s++) {
			uint64_t next = __atomic_load_n(&g_region.iova[s], __ATOMIC_ACQUIRE);
			if (next != iova + (s - slot) * DMA_SLOT_SIZE) {
				break;
			}
			contig += DMA_SLOT_SIZE;
		}
		*size = SPIO_MIN(want, contig);
	}
	return iova + off;
}

int spio_dma_get_segment(const void *buf, size_t len, struct spio_dma_segment *seg)
{
	uintptr_t va = (uintptr_t)buf, base = (uintptr_t)g_region.base;
	size_t slot;

	if (seg == NULL || len == 0) {
		return -EINVAL;
	}
	if (!g_region.initialized || va < base || va >= base + g_region.nslots * DMA_SLOT_SIZE) {
		return -ENOENT;
	}
	slot = (va - base) / DMA_SLOT_SIZE;
	/* overflow: compare lengths, not end addresses */
	if (len > DMA_SLOT_SIZE - (va - base) % DMA_SLOT_SIZE) {
		return -ERANGE;
	}
	if (__atomic_load_n(&g_region.iova[slot], __ATOMIC_ACQUIRE) == 0) {
		return -ENOENT; /* not mapped: no live buffer here */
	}
	seg->addr = g_region.base + slot * DMA_SLOT_SIZE;
	seg->len = DMA_SLOT_SIZE;
	seg->index = (uint32_t)slot;
	seg->generation = __atomic_load_n(&g_region.map_gen[slot], __ATOMIC_ACQUIRE);
	return 0;
}

uint32_t spio_dma_get_segment_count(void)
{
	if (!g_region.initialized) {
		return 0;
	}
	return g_region.nslots > UINT32_MAX ? UINT32_MAX : (uint32_t)g_region.nslots;
}
