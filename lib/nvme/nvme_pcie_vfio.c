/*
 * The default way to reach an NVMe controller: claim the PCI device and open
 * it through VFIO (spio/pci.h), and map BAR0, its registers and doorbells.
 */
#include <errno.h>

#include "spio/log.h"
#include "spio/pci.h"

#include "nvme/nvme_pcie_internal.h"

static int vfio_open(const char *traddr, void **ctx, volatile uint8_t **bar0, size_t *bar0_len)
{
	struct spio_pci_addr addr;
	struct spio_pci_device *dev;
	void *va;
	uint64_t size;
	int rc;

	rc = spio_pci_addr_parse(&addr, traddr);
	if (rc != 0) {
		SPIO_ERRLOG("nvme pcie: '%s' is not a PCI address (dddd:bb:dd.f)\n", traddr);
		return rc;
	}
	rc = spio_pci_device_attach(&addr, &dev);
	if (rc != 0) {
		return rc; /* logged by the PCI layer */
	}
	rc = spio_pci_device_map_bar(dev, 0, &va, &size);
	if (rc != 0) {
		SPIO_ERRLOG("nvme pcie %s: cannot map BAR0: %d\n", traddr, rc);
		spio_pci_device_detach(dev);
		return rc;
	}
	*ctx = dev;
	*bar0 = va;
	*bar0_len = (size_t)size;
	return 0;
}

static void vfio_close(void *ctx)
{
	spio_pci_device_detach(ctx);
}

static bool vfio_is_removed(void *ctx)
{
	return spio_pci_device_is_removed(ctx);
}

static int vfio_enable_irqs(void *ctx, uint32_t n, int *fds)
{
	return spio_pci_device_enable_msix(ctx, n, fds);
}

const struct nvme_pcie_dev_ops g_nvme_pcie_vfio_ops = {
    .open = vfio_open,
    .close = vfio_close,
    .is_removed = vfio_is_removed,
    .enable_irqs = vfio_enable_irqs,
};
