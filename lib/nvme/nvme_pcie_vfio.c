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
	spio_pci_device_set_type(dev, "nvme"); /* framework_get_pci_devices shows it */
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

/* PCI capability list: status bit, list head, and MSI-X's id and Message Control. */
#define PCI_STATUS 0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_MSIX 0x11
#define PCI_MSIX_FLAGS 2
#define PCI_MSIX_TABLE_SIZE_MASK 0x7ff
/* More hops than config space has room for capabilities: a looped list. */
#define PCI_CAP_MAX_HOPS 48

/* The MSI-X table size from config space; 0 when the device has no MSI-X. */
static uint32_t msix_table_size(struct spio_pci_device *dev)
{
	uint8_t status[2], flags[2]; /* config space is little endian */
	uint8_t pos = 0, hdr[2];

	if (spio_pci_device_cfg_read(dev, status, sizeof(status), PCI_STATUS) != 0 ||
	    !(status[0] & PCI_STATUS_CAP_LIST) ||
	    spio_pci_device_cfg_read(dev, &pos, sizeof(pos), PCI_CAP_PTR) != 0) {
		return 0;
	}
	for (int hop = 0; hop < PCI_CAP_MAX_HOPS && pos >= 0x40; hop++) {
		pos &= 0xfc;
		if (spio_pci_device_cfg_read(dev, hdr, sizeof(hdr), pos) != 0) {
			return 0;
		}
		if (hdr[0] == PCI_CAP_ID_MSIX) {
			if (spio_pci_device_cfg_read(dev, flags, sizeof(flags),
						     pos + PCI_MSIX_FLAGS) != 0) {
				return 0;
			}
			return ((flags[0] | (uint32_t)flags[1] << 8) & PCI_MSIX_TABLE_SIZE_MASK) +
			       1;
		}
		pos = hdr[1];
	}
	return 0;
}

static int vfio_enable_irqs(void *ctx, uint32_t n, int *fds)
{
	uint32_t table = msix_table_size(ctx);
	int rc;

	/* Asking for more vectors than the table has fails: take what there is. */
	if (table != 0 && n > table) {
		n = table;
	}
	rc = spio_pci_device_enable_msix(ctx, n, fds);
	return rc == 0 ? (int)n : rc;
}

const struct nvme_pcie_dev_ops g_nvme_pcie_vfio_ops = {
    .open = vfio_open,
    .close = vfio_close,
    .is_removed = vfio_is_removed,
    .enable_irqs = vfio_enable_irqs,
};
