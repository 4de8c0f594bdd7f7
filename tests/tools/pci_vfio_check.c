/*
 * pci_vfio_check: the PCI layer end to end, for the VM test and for people
 * setting up a machine. Lists NVMe controllers (one line each); with -a ADDR
 * it then, once with hugepages and once without, allocates DMA memory,
 * attaches the device through VFIO (DMA memory goes into the IOMMU), maps
 * BAR0, prints the NVMe CAP and VS registers, allocates 4 MiB more (mapped at
 * allocation), frees everything and detaches. Exit 0 on success, 1 on a
 * failure (the library logs why), 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/dma.h"
#include "spio/env.h"
#include "spio/pci.h"

static int print_device(void *arg, const struct spio_pci_device_info *info)
{
	char bdf[SPIO_PCI_ADDR_STRLEN];
	int *count = arg;

	spio_pci_addr_fmt(bdf, sizeof(bdf), &info->addr);
	printf("%s %04x:%04x (%04x:%04x) class %06x numa %d driver %s iommu_group %d\n", bdf,
	       info->vendor_id, info->device_id, info->subvendor_id, info->subdevice_id,
	       info->class_code, info->numa_node, info->driver[0] ? info->driver : "-",
	       info->iommu_group);
	(*count)++;
	return 0;
}

/* A DMA buffer is usable: written, read back, and has an IOVA. */
static int check_buffer(const char *what, uint8_t *p, size_t len)
{
	uint64_t contig = len;
	uint64_t iova = spio_vtophys(p, &contig);

	if (iova == SPIO_VTOPHYS_ERROR) {
		fprintf(stderr, "pci_vfio_check: %s: no IOVA\n", what);
		return -1;
	}
	memset(p, 0xa5, len);
	for (size_t i = 0; i < len; i += 4096) {
		if (p[i] != 0xa5) {
			fprintf(stderr, "pci_vfio_check: %s: byte %zu reads back wrong\n", what, i);
			return -1;
		}
	}
	printf("  %s: %zu bytes at %p, IOVA 0x%" PRIx64 " (%" PRIu64 " contiguous)\n", what, len,
	       (void *)p, iova, contig);
	return 0;
}

static int check_device(const struct spio_pci_addr *addr, bool no_huge)
{
	struct spio_env_opts opts;
	struct spio_pci_device *dev = NULL;
	uint8_t *before = NULL, *after = NULL;
	void *bar;
	uint64_t bar_size;
	int rc;

	spio_env_opts_init(&opts, sizeof(opts));
	opts.name = "pci_vfio_check";
	opts.no_huge = no_huge;
	rc = spio_env_init(&opts);
	if (rc != 0) {
		fprintf(stderr, "pci_vfio_check: spio_env_init: %s\n", strerror(-rc));
		return -1;
	}
	printf("%s mode:\n", no_huge ? "no-huge" : "hugepage (if available)");
	/* Present before the container exists: mapped when the device attaches. */
	before = spio_dma_malloc(1024 * 1024, 4096);
	rc = before ? spio_pci_device_attach(addr, &dev) : -ENOMEM;
	if (rc != 0) {
		fprintf(stderr, "pci_vfio_check: attach: %s\n", strerror(-rc));
		goto out;
	}
	rc = spio_pci_device_map_bar(dev, 0, &bar, &bar_size);
	if (rc != 0) {
		fprintf(stderr, "pci_vfio_check: map BAR0: %s\n", strerror(-rc));
		goto out;
	}
	volatile uint32_t *regs = bar;
	uint64_t cap = regs[0] | (uint64_t)regs[1] << 32;
	uint32_t vs = regs[2];
	printf("  BAR0 %" PRIu64 " bytes; CAP 0x%016" PRIx64 " (MQES %u, DSTRD %u, TO %u ms), "
	       "VS %u.%u.%u\n",
	       bar_size, cap, (unsigned)(cap & 0xffff) + 1, (unsigned)(cap >> 32) & 0xf,
	       (unsigned)((cap >> 24) & 0xff) * 500, vs >> 16, (vs >> 8) & 0xff, vs & 0xff);
	if (cap == UINT64_MAX) {
		fprintf(stderr, "pci_vfio_check: CAP reads all ones: device gone?\n");
		rc = -EIO;
		goto out;
	}
	if (check_buffer("DMA buffer allocated before attach", before, 1024 * 1024) != 0) {
		rc = -EIO;
		goto out;
	}
	after = spio_dma_malloc(4 * 1024 * 1024, 0);
	if (after == NULL || check_buffer("4 MiB allocated after attach", after, 4 << 20) != 0) {
		fprintf(stderr, "pci_vfio_check: 4 MiB of DMA memory after attach failed\n");
		rc = -ENOMEM;
		goto out;
	}
	printf("  removed: %s\n", spio_pci_device_is_removed(dev) ? "yes" : "no");
out:
	spio_dma_free(after);
	spio_pci_device_detach(dev);
	spio_dma_free(before);
	spio_env_fini();
	return rc == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct spio_pci_filter filter = {.class_code = SPIO_PCI_CLASS_NVME};
	struct spio_pci_addr addr;
	const char *want = NULL;
	int opt, count = 0, rc;

	while ((opt = getopt(argc, argv, "a:h")) != -1) {
		switch (opt) {
		case 'a':
			want = optarg;
			break;
		case 'h':
			printf("usage: pci_vfio_check [-a dddd:bb:dd.f]\n");
			return 0;
		default:
			fprintf(stderr, "usage: pci_vfio_check [-a dddd:bb:dd.f]\n");
			return 2;
		}
	}
	if (want && spio_pci_addr_parse(&addr, want) != 0) {
		fprintf(stderr, "pci_vfio_check: '%s' is not a PCI address\n", want);
		return 2;
	}
	rc = spio_pci_enumerate(&filter, print_device, &count);
	if (rc != 0) {
		fprintf(stderr, "pci_vfio_check: enumeration failed: %s\n", strerror(-rc));
		return 1;
	}
	printf("%d NVMe controller(s)\n", count);
	if (want == NULL) {
		return 0;
	}
	if (check_device(&addr, false) != 0 || check_device(&addr, true) != 0) {
		return 1;
	}
	printf("pci_vfio_check: %s OK\n", want);
	return 0;
}
