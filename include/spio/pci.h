/*
 * spdk-io PCI devices: addresses, enumeration from sysfs, and user-space access
 * to a device through VFIO (BARs, config space, MSI-X eventfds, hot-remove).
 *
 * A device is driven by one process at a time: spio_pci_device_attach() takes
 * the lock file SPDK uses (/var/tmp/spdk_pci_lock_<dddd:bb:dd.f>, an fcntl
 * write lock holding the owner's pid), so spio and SPDK processes exclude each
 * other. The device must be bound to vfio-pci (scripts/setup.sh config).
 *
 * DMA and the IOMMU: while at least one device is attached, every 2 MiB slot
 * of spio's DMA memory (spio/dma.h) is mapped into the process's VFIO
 * container (read and write), present slots when the first device attaches
 * and later ones as they are mapped; a slot leaves the IOMMU before its memory
 * goes back to the system. The IOVA of a slot is the number spio_vtophys()
 * returns for it: the physical address in hugepage mode when
 * /proc/self/pagemap is readable, else the virtual address. Why not a
 * separate IOVA allocator: one number per buffer serves every user (the NVMe
 * driver puts spio_vtophys() values in PRPs whether or not an IOMMU is in the
 * way), with no second translation table to keep in step. Physical addresses
 * of hugepages fit any IOMMU's aperture; virtual addresses (no-huge mode, or
 * pagemap unreadable) need a 48-bit aperture: real IOMMUs have one, QEMU's
 * intel-iommu needs aw-bits=48. A mapping that does not fit fails the DMA
 * allocation (ENOMEM) with the ioctl's error logged.
 *
 * Thread rules: the address and enumeration functions may be called from any
 * thread. Attach and detach may be called from any thread (a mutex guards the
 * process's VFIO container and groups); the other functions of one device are
 * for the one driver that attached it, on one thread at a time, except that a
 * spio_pci_for_each_device() callback may read its info, type and config
 * space from any thread (config space reads are single pread()s).
 */
#ifndef SPIO_PCI_H
#define SPIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A PCI address: domain (segment), bus, device (0-31), function (0-7). */
struct spio_pci_addr {
	uint32_t domain;
	uint8_t bus;
	uint8_t dev;
	uint8_t func;
};

/** Buffer size that holds any formatted address ("ffffffff:ff:1f.7" and NUL). */
#define SPIO_PCI_ADDR_STRLEN 17

/** Class code (base class, subclass, programming interface) of an NVMe controller. */
#define SPIO_PCI_CLASS_NVME 0x010802u

/**
 * Parse a PCI address in one of the forms SPDK accepts (hex digits):
 * dddd:bb:dd.f, dddd.bb.dd.f, dddd:bb:dd (function 0), bb:dd.f, bb.dd.f
 * (domain 0), bb:dd, bb.dd (domain and function 0).
 *
 * \return 0; -EINVAL for NULL arguments, any other text (signs, spaces,
 *         "0x", trailing characters) or a value out of range (bus > 0xff,
 *         device > 0x1f, function > 7, domain > 0xffffffff). `addr` is
 *         written only on success.
 */
int spio_pci_addr_parse(struct spio_pci_addr *addr, const char *str);

/**
 * Format `addr` as dddd:bb:dd.f (lower-case hex, the sysfs and SPDK form).
 *
 * \return 0; -EINVAL for NULL arguments; -ENOSPC if `size` is too small
 *         (SPIO_PCI_ADDR_STRLEN always suffices).
 */
int spio_pci_addr_fmt(char *buf, size_t size, const struct spio_pci_addr *addr);

/** Order of addresses by domain, bus, device, function: -1, 0 or 1. */
int spio_pci_addr_compare(const struct spio_pci_addr *a, const struct spio_pci_addr *b);

/** What sysfs says about a device. */
struct spio_pci_device_info {
	struct spio_pci_addr addr;
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subvendor_id;
	uint16_t subdevice_id;
	/** 24-bit class code, e.g. SPIO_PCI_CLASS_NVME. */
	uint32_t class_code;
	/** NUMA node, -1 when unknown. */
	int numa_node;
	/** IOMMU group number, -1 when the device has none (IOMMU off). */
	int iommu_group;
	/** Name of the bound kernel driver ("nvme", "vfio-pci"), "" when none. */
	char driver[32];
};

/** Which devices spio_pci_enumerate() reports. A zeroed filter reports all. */
struct spio_pci_filter {
	/** Only this 24-bit class code; 0 for any. */
	uint32_t class_code;
	/** When allow_count > 0, only these addresses (SPDK's -A / --pci-allowed). */
	const struct spio_pci_addr *allow;
	size_t allow_count;
	/** Never these addresses (SPDK's -B / --pci-blocked); checked after allow. */
	const struct spio_pci_addr *block;
	size_t block_count;
};

/** Called once per matching device; return 0 to go on, anything else to stop. */
typedef int (*spio_pci_enum_cb)(void *arg, const struct spio_pci_device_info *info);

/**
 * Walk /sys/bus/pci/devices and call `cb` for each device that passes
 * `filter` (NULL: every device), in address order. Entries that cannot be
 * read (vanished, malformed) are skipped with a debug log (component "pci").
 * The process's own lists (spio_env_opts pci_allowed / pci_blocked / no_pci,
 * SPDK's -A / -B / -u) apply on top of `filter`, as SPDK hides a blocked
 * device from the whole process: a device they exclude is never reported.
 *
 * \return 0 after the whole walk; the callback's non-zero value if it stopped
 *         the walk; -EINVAL for a NULL `cb`; -errno of opening the directory.
 *         `info` is valid during the callback only.
 */
int spio_pci_enumerate(const struct spio_pci_filter *filter, spio_pci_enum_cb cb, void *arg);

/**
 * Read one device's sysfs entry into `info`.
 *
 * \return 0; -EINVAL for NULL arguments; -ENODEV if there is no such device;
 *         -EIO if its entry is malformed.
 */
int spio_pci_get_device_info(const struct spio_pci_addr *addr, struct spio_pci_device_info *info);

/** A device opened through VFIO by this process. */
struct spio_pci_device;

/**
 * Open the device at `addr` for user-space access: claim it (the lock file),
 * check that it is bound to vfio-pci, add its IOMMU group to the process's
 * VFIO container (created on first use: type1v2 IOMMU, else type1; DMA memory
 * mapped as described above), open it, and enable memory space decoding and
 * bus mastering in its command register. The VFIO "device request"
 * interrupt, when the device has one, is armed to notice hot-removal.
 *
 * \return 0 with *dev set (release with spio_pci_device_detach()); -EINVAL
 *         for NULL arguments; -ENODEV if sysfs has no such device, or the
 *         process's lists exclude it (spio_env_opts pci_allowed / pci_blocked /
 *         no_pci: SPDK's probe does not see such a device either); -EBUSY if
 *         another process (named in the log) or this one already has it;
 *         -ENOTSUP if it is not bound to vfio-pci, has no IOMMU group, or VFIO
 *         is not available (module not loaded, group not viable); -EACCES
 *         without permission on /dev/vfio; -ENOMEM if DMA memory cannot be
 *         mapped into the IOMMU; -EIO for other VFIO failures. Each error is
 *         logged with the file or ioctl that failed, the errno and what to do.
 */
int spio_pci_device_attach(const struct spio_pci_addr *addr, struct spio_pci_device **dev);

/**
 * Undo spio_pci_device_attach(): unmap the BARs, disable MSI-X and close its
 * eventfds, close the device, the group when its last device goes and the
 * container with the last group, and release the claim. The driver must have
 * stopped the device's DMA. NULL does nothing.
 */
void spio_pci_device_detach(struct spio_pci_device *dev);

/** The device's sysfs information, read at attach; valid until detach. */
const struct spio_pci_device_info *spio_pci_device_get_info(const struct spio_pci_device *dev);

/**
 * Name the kind of driver that attached `dev` ("nvme", as SPDK's
 * spdk_pci_device_get_type() says); framework_get_pci_devices reports it. The
 * string is not copied: a literal, or anything that outlives the attachment.
 * NULL is ignored. The attaching driver calls it once, right after attach.
 */
void spio_pci_device_set_type(struct spio_pci_device *dev, const char *type);

/** The name given to spio_pci_device_set_type(); "unknown" before; NULL for a NULL dev. */
const char *spio_pci_device_get_type(const struct spio_pci_device *dev);

/** Called for each attached device; return 0 to go on, anything else to stop. */
typedef int (*spio_pci_device_cb)(void *arg, struct spio_pci_device *dev);

/**
 * Call `cb` for each device this process has attached, oldest first (SPDK's
 * spdk_pci_for_each_device()). A mutex held during the walk keeps each device
 * from being detached while `cb` looks at it: `cb` may read the device's
 * info, type and config space (spio_pci_device_cfg_read()) but must not
 * attach or detach a device (that would deadlock) and should be quick (an
 * attach or detach on another thread waits). Any thread.
 *
 * \return 0 after the whole walk; the callback's non-zero value if it
 *         stopped the walk; -EINVAL for a NULL `cb`.
 */
int spio_pci_for_each_device(spio_pci_device_cb cb, void *arg);

/**
 * Map BAR `bar` (0-5) into the process, read and write, uncached. Mapping a
 * BAR twice returns the same mapping; detach unmaps it.
 *
 * \return 0 with *addr and *size set; -EINVAL for bad arguments; -ENODEV for
 *         a BAR the device does not have; -ENOTSUP if VFIO does not allow
 *         mapping it (an I/O port BAR); -errno of mmap.
 */
int spio_pci_device_map_bar(struct spio_pci_device *dev, uint32_t bar, void **addr, uint64_t *size);

/**
 * Read `len` bytes of config space at `offset` into `buf` (accesses of 1, 2
 * and 4 aligned bytes are single accesses; values are little-endian).
 *
 * \return 0; -EINVAL for bad arguments or a range beyond config space; -EIO
 *         if the read was short or failed (logged).
 */
int spio_pci_device_cfg_read(struct spio_pci_device *dev, void *buf, size_t len, uint32_t offset);

/** Write `len` bytes of `buf` to config space at `offset`; as spio_pci_device_cfg_read(). */
int spio_pci_device_cfg_write(struct spio_pci_device *dev, const void *buf, size_t len,
			      uint32_t offset);

/**
 * True once the device is gone: VFIO asked for it back (unbind, hot-unplug),
 * or its sysfs entry vanished. Cheap enough to poll: at most one
 * non-blocking eventfd read per call and one stat() every 100 ms. Once true,
 * stays true; the driver should stop and detach.
 */
bool spio_pci_device_is_removed(struct spio_pci_device *dev);

/**
 * Route MSI-X vectors 0 .. n-1 to new eventfds (non-blocking) and return them
 * in `fds`. The eventfds belong to the device (closed by detach); calling
 * again replaces them (the old ones are closed). An idle driver may poll() or
 * read() them; the I/O path itself polls the completion queues.
 *
 * \return 0; -EINVAL for bad arguments or n above the vector count; -ENOTSUP
 *         when the device has no MSI-X; -ENOMEM; -errno of eventfd or of
 *         VFIO_DEVICE_SET_IRQS (logged; MSI-X is then off and earlier
 *         eventfds are closed).
 */
int spio_pci_device_enable_msix(struct spio_pci_device *dev, uint32_t n, int *fds);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_PCI_H */
