/*
 * DMA memory in the IOMMU: the VFIO provider of the DMA region's IOMMU hook
 * (dma_internal.h). Each 2 MiB slot is one type1 mapping, read and write, at
 * IOVA = what spio_vtophys() returns (spio/pci.h says why).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/vfio.h>

#include "dma_internal.h"
#include "pci_internal.h"
#include "spio/log.h"

static const char *map_advice(int err)
{
	switch (err) {
	case EINVAL:
		return "the IOVA is outside the IOMMU's aperture or in a reserved range (virtual "
		       "IOVAs, in no-huge mode, need 48 address bits: QEMU -device "
		       "intel-iommu,aw-bits=48)";
	case ENOMEM:
	case EPERM:
		return "pinned memory is limited by RLIMIT_MEMLOCK (ulimit -l) without "
		       "CAP_IPC_LOCK";
	case ENOSPC:
		return "too many DMA mappings (vfio_iommu_type1 dma_entry_limit)";
	case EEXIST:
		return "the IOVA is already mapped";
	default:
		return "see the kernel log (dmesg)";
	}
}

static int iommu_map(void *ctx, uint64_t vaddr, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_map m = {
	    .argsz = sizeof(m),
	    .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
	    .vaddr = vaddr,
	    .iova = iova,
	    .size = len,
	};

	if (ioctl((int)(intptr_t)ctx, VFIO_IOMMU_MAP_DMA, &m) != 0) {
		int err = errno;
		SPIO_ERRLOG("pci: VFIO_IOMMU_MAP_DMA of %llu bytes at IOVA 0x%llx (va 0x%llx) "
			    "failed: %s; %s\n",
			    (unsigned long long)len, (unsigned long long)iova,
			    (unsigned long long)vaddr, strerror(err), map_advice(err));
		return -err;
	}
	return 0;
}

static void iommu_unmap(void *ctx, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_unmap u = {.argsz = sizeof(u), .iova = iova, .size = len};

	if (ioctl((int)(intptr_t)ctx, VFIO_IOMMU_UNMAP_DMA, &u) != 0 || u.size != len) {
		SPIO_ERRLOG("pci: VFIO_IOMMU_UNMAP_DMA of %llu bytes at IOVA 0x%llx failed: %s\n",
			    (unsigned long long)len, (unsigned long long)iova, strerror(errno));
	}
}

static const struct dma_iommu_ops g_vfio_iommu_ops = {.map = iommu_map, .unmap = iommu_unmap};

/* Log the IOVA ranges the IOMMU accepts: what to compare a failed mapping with. */
static void log_iova_ranges(int fd)
{
	struct vfio_iommu_type1_info probe = {.argsz = sizeof(probe)};
	struct vfio_iommu_type1_info *info;

	if (ioctl(fd, VFIO_IOMMU_GET_INFO, &probe) != 0 || probe.argsz <= sizeof(probe)) {
		return; /* old kernel: no capability chain */
	}
	info = calloc(1, probe.argsz);
	if (info == NULL) {
		return;
	}
	info->argsz = probe.argsz;
	if (ioctl(fd, VFIO_IOMMU_GET_INFO, info) != 0 || !(info->flags & VFIO_IOMMU_INFO_CAPS)) {
		free(info);
		return;
	}
	/*
	 * The kernel packs capabilities at 4-byte offsets: read their 8-byte
	 * fields with memcpy, never through a misaligned struct pointer.
	 */
	for (uint32_t off = info->cap_offset;
	     off != 0 && off + sizeof(struct vfio_info_cap_header) <= info->argsz;) {
		const char *at = (const char *)info + off;
		struct vfio_info_cap_header h;

		memcpy(&h, at, sizeof(h));
		if (h.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			const size_t ranges_off =
			    offsetof(struct vfio_iommu_type1_info_cap_iova_range, iova_ranges);
			struct vfio_iova_range range;
			uint32_t nr_iovas;

			memcpy(&nr_iovas,
			       at + offsetof(struct vfio_iommu_type1_info_cap_iova_range, nr_iovas),
			       sizeof(nr_iovas));
			for (uint32_t i = 0;
			     i < nr_iovas &&
			     off + ranges_off + (i + 1) * sizeof(range) <= info->argsz;
			     i++) {
				memcpy(&range, at + ranges_off + i * sizeof(range), sizeof(range));
				SPIO_INFOLOG("pci: IOMMU accepts IOVAs 0x%llx - 0x%llx\n",
					     (unsigned long long)range.start,
					     (unsigned long long)range.end);
			}
		}
		if (h.next <= off) {
			break; /* malformed chain: never loop */
		}
		off = h.next;
	}
	free(info);
}

int pci_iommu_attach(int container_fd)
{
	int rc;

	log_iova_ranges(container_fd);
	rc = dma_region_set_iommu(&g_vfio_iommu_ops, (void *)(intptr_t)container_fd);
	if (rc != 0) {
		SPIO_ERRLOG("pci: cannot map DMA memory into the IOMMU: %s\n", strerror(-rc));
		return rc == -EBUSY ? -EIO : -ENOMEM;
	}
	return 0;
}

void pci_iommu_detach(void)
{
	dma_region_clear_iommu();
}
