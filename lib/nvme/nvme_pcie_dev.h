/*
 * How the NVMe PCIe transport reaches a controller: through VFIO (spio/pci.h)
 * by default; unit tests and the benchmark put a fake controller in memory
 * behind the same operations (tests/unit/nvme/helper_fake_pcie.h).
 */
#ifndef SPIO_NVME_PCIE_DEV_H
#define SPIO_NVME_PCIE_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nvme_pcie_dev_ops {
	/*
	 * Open the controller at PCI address `traddr` (dddd:bb:dd.f), claim it
	 * for this process and map its BAR0 (the NVMe registers and doorbells).
	 * Called on the controller's admin thread, from its connect task.
	 * Returns 0 with *ctx, *bar0 and *bar0_len set; -ENODEV (no such
	 * device), -EBUSY (another process has it), -EACCES / -ENOTSUP (not
	 * usable: not bound to vfio-pci, no IOMMU) with a logged reason.
	 */
	int (*open)(const char *traddr, void **ctx, volatile uint8_t **bar0, size_t *bar0_len);
	/* Unmap and release what open() took. The rings must no longer be in use. */
	void (*close)(void *ctx);
	/* True once the device is gone (hot-removed): its registers read all ones. */
	bool (*is_removed)(void *ctx);
	/*
	 * Interrupt mode: route MSI-X vectors 0 .. m-1 to eventfds, m = min(n,
	 * the device's vector count), and store them in fds[0 .. m-1] (owned by
	 * ctx, closed by close(); a new call replaces them). Returns m (>= 1);
	 * -ENOTSUP when the device or provider has no MSI-X; another negative
	 * errno (logged) on failure.
	 */
	int (*enable_irqs)(void *ctx, uint32_t n, int *fds);
};

/*
 * Replace the provider for controllers connected after this call (NULL
 * restores VFIO). For tests and benchmarks; not thread-safe against
 * concurrent connects.
 */
void nvme_pcie_set_dev_ops(const struct nvme_pcie_dev_ops *ops);

#endif /* SPIO_NVME_PCIE_DEV_H */
