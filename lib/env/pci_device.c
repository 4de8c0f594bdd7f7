/*
 * One PCI device opened through VFIO: attach / detach, BAR mappings, config
 * space, MSI-X eventfds and hot-remove detection; and the list of attached
 * devices that framework_get_pci_devices walks.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "pci_internal.h"
#include "spio/env.h"
#include "spio/log.h"

#define NUM_BARS 6
#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4

struct bar {
	uint64_t offset; /* in the device fd */
	uint64_t size;	 /* 0: no such BAR */
	uint32_t flags;	 /* VFIO_REGION_INFO_FLAG_* */
	void *map;
};

struct spio_pci_device {
	struct spio_pci_device_info info;
	char bdf[SPIO_PCI_ADDR_STRLEN];
	char sysfs_dir[PATH_MAX];
	int fd;
	struct bar bar[NUM_BARS];
	uint64_t cfg_offset;
	uint64_t cfg_size;
	uint32_t msix_count;
	int *msix_fds;
	uint32_t msix_n;
	int req_fd; /* eventfd of VFIO's device request, or -1 */
	bool removed;
	uint64_t next_sysfs_check;    /* ticks */
	const char *type;	      /* spio_pci_device_set_type(), "unknown" before */
	struct spio_pci_device *next; /* in g_devices, under g_devices_lock */
};

/* Attached devices, oldest first. The lock is held across a whole
 * spio_pci_for_each_device() walk: detach unlinks under it before freeing, so
 * a walker never sees a freed device. */
static pthread_mutex_t g_devices_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spio_pci_device *g_devices;

static void list_add(struct spio_pci_device *dev)
{
	struct spio_pci_device **p;

	pthread_mutex_lock(&g_devices_lock);
	for (p = &g_devices; *p != NULL; p = &(*p)->next) {
	}
	*p = dev;
	pthread_mutex_unlock(&g_devices_lock);
}

static void list_remove(struct spio_pci_device *dev)
{
	struct spio_pci_device **p;

	pthread_mutex_lock(&g_devices_lock);
	for (p = &g_devices; *p != NULL; p = &(*p)->next) {
		if (*p == dev) {
			*p = dev->next;
			break;
		}
	}
	pthread_mutex_unlock(&g_devices_lock);
}

/* Route `n` eventfds to vectors 0 .. n-1 of IRQ index `index`; n 0 disables. */
static int set_irqs(struct spio_pci_device *dev, uint32_t index, uint32_t n, const int *fds)
{
	size_t size = sizeof(struct vfio_irq_set) + n * sizeof(int32_t);
	struct vfio_irq_set *set = calloc(1, size);
	int rc = 0;

	if (set == NULL) {
		return -ENOMEM;
	}
	set->argsz = (uint32_t)size;
	set->flags =
	    VFIO_IRQ_SET_ACTION_TRIGGER | (n ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	set->index = index;
	set->start = 0;
	set->count = n;
	if (n) {
		memcpy(set->data, fds, n * sizeof(int32_t));
	}
	if (ioctl(dev->fd, VFIO_DEVICE_SET_IRQS, set) != 0) {
		rc = -errno;
		SPIO_ERRLOG("pci %s: VFIO_DEVICE_SET_IRQS(index %u, %u vectors) failed: %s\n",
			    dev->bdf, index, n, strerror(-rc));
	}
	free(set);
	return rc;
}

static uint32_t irq_count(struct spio_pci_device *dev, uint32_t index, uint32_t num_irqs)
{
	struct vfio_irq_info irq = {.argsz = sizeof(irq), .index = index};

	if (index >= num_irqs || ioctl(dev->fd, VFIO_DEVICE_GET_IRQ_INFO, &irq) != 0) {
		return 0;
	}
	return irq.count;
}

/* Learn the device's regions (BARs, config space) and interrupts. */
static int read_device_info(struct spio_pci_device *dev)
{
	struct vfio_device_info di = {.argsz = sizeof(di)};

	if (ioctl(dev->fd, VFIO_DEVICE_GET_INFO, &di) != 0) {
		SPIO_ERRLOG("pci %s: VFIO_DEVICE_GET_INFO failed: %s\n", dev->bdf, strerror(errno));
		return -EIO;
	}
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) || di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		SPIO_ERRLOG("pci %s: VFIO reports no PCI device (flags 0x%x, %u regions)\n",
			    dev->bdf, di.flags, di.num_regions);
		return -EIO;
	}
	for (uint32_t i = 0; i <= VFIO_PCI_CONFIG_REGION_INDEX; i++) {
		struct vfio_region_info ri = {.argsz = sizeof(ri), .index = i};

		if (i > VFIO_PCI_BAR5_REGION_INDEX && i != VFIO_PCI_CONFIG_REGION_INDEX) {
			continue; /* the ROM */
		}
		if (ioctl(dev->fd, VFIO_DEVICE_GET_REGION_INFO, &ri) != 0) {
			SPIO_ERRLOG("pci %s: VFIO_DEVICE_GET_REGION_INFO(%u) failed: %s\n",
				    dev->bdf, i, strerror(errno));
			return -EIO;
		}
		if (i == VFIO_PCI_CONFIG_REGION_INDEX) {
			dev->cfg_offset = ri.offset;
			dev->cfg_size = ri.size;
		} else {
			dev->bar[i].offset = ri.offset;
			dev->bar[i].size = ri.size;
			dev->bar[i].flags = ri.flags;
		}
	}
	dev->msix_count = irq_count(dev, VFIO_PCI_MSIX_IRQ_INDEX, di.num_irqs);

	/* Hot-remove notice: VFIO signals this when the kernel wants the
	 * device back (unplug, unbind). Optional: sysfs is checked as well. */
	if (irq_count(dev, VFIO_PCI_REQ_IRQ_INDEX, di.num_irqs) > 0) {
		int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (efd >= 0 && set_irqs(dev, VFIO_PCI_REQ_IRQ_INDEX, 1, &efd) == 0) {
			dev->req_fd = efd;
		} else if (efd >= 0) {
			close(efd);
		}
	}
	return 0;
}

static int enable_bus_master(struct spio_pci_device *dev)
{
	uint16_t cmd;
	int rc = spio_pci_device_cfg_read(dev, &cmd, sizeof(cmd), PCI_COMMAND);

	if (rc == 0 && (cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) !=
			   (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) {
		cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
		rc = spio_pci_device_cfg_write(dev, &cmd, sizeof(cmd), PCI_COMMAND);
	}
	return rc;
}

/* Everything after the claim; on failure undoes its own part. */
static int open_vfio(struct spio_pci_device *dev)
{
	int gfd, rc;

	pci_vfio_lock();
	gfd = pci_vfio_group_get(dev->info.iommu_group);
	if (gfd < 0) {
		pci_vfio_unlock();
		return gfd;
	}
	dev->fd = ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD, dev->bdf);
	if (dev->fd < 0) {
		rc = errno == EBUSY ? -EBUSY : -EIO;
		SPIO_ERRLOG("pci %s: VFIO_GROUP_GET_DEVICE_FD failed: %s\n", dev->bdf,
			    strerror(errno));
		pci_vfio_group_put(dev->info.iommu_group);
		pci_vfio_unlock();
		return rc;
	}
	pci_vfio_unlock();

	rc = read_device_info(dev);
	if (rc == 0) {
		rc = enable_bus_master(dev);
	}
	if (rc != 0) {
		if (dev->req_fd >= 0) {
			close(dev->req_fd);
			dev->req_fd = -1;
		}
		close(dev->fd);
		dev->fd = -1;
		pci_vfio_lock();
		pci_vfio_group_put(dev->info.iommu_group);
		pci_vfio_unlock();
	}
	return rc;
}

int spio_pci_device_attach(const struct spio_pci_addr *addr, struct spio_pci_device **out)
{
	struct spio_pci_device *dev;
	const char *refusal;
	int rc;

	if (addr == NULL || out == NULL) {
		return -EINVAL;
	}
	refusal = pci_policy_refusal(addr);
	if (refusal != NULL) {
		char bdf[SPIO_PCI_ADDR_STRLEN];

		spio_pci_addr_fmt(bdf, sizeof(bdf), addr);
		SPIO_ERRLOG("pci %s: %s: not attached\n", bdf, refusal);
		return -ENODEV;
	}
	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		return -ENOMEM;
	}
	dev->fd = -1;
	dev->req_fd = -1;
	dev->type = "unknown";
	spio_pci_addr_fmt(dev->bdf, sizeof(dev->bdf), addr);
	snprintf(dev->sysfs_dir, sizeof(dev->sysfs_dir), "%s/%s", pci_sysfs_root(), dev->bdf);

	rc = spio_pci_get_device_info(addr, &dev->info);
	if (rc != 0) {
		SPIO_ERRLOG("pci %s: %s in %s\n", dev->bdf,
			    rc == -ENODEV ? "no such device" : "unreadable entry",
			    pci_sysfs_root());
		free(dev);
		return rc;
	}
	/* Checks that need no claim first: probing a device we cannot use
	 * leaves no lock file behind. VFIO checks the binding again. */
	if (strcmp(dev->info.driver, "vfio-pci") != 0) {
		SPIO_ERRLOG("pci %s: bound to %s, not vfio-pci: bind it with scripts/setup.sh "
			    "config\n",
			    dev->bdf, dev->info.driver[0] ? dev->info.driver : "no driver");
		rc = -ENOTSUP;
	} else if (dev->info.iommu_group < 0) {
		SPIO_ERRLOG("pci %s: no IOMMU group: enable the IOMMU (intel_iommu=on or "
			    "amd_iommu=on on the kernel command line)\n",
			    dev->bdf);
		rc = -ENOTSUP;
	} else {
		rc = pci_claim(addr);
		if (rc == 0) {
			rc = open_vfio(dev);
			if (rc != 0) {
				pci_unclaim(addr);
			}
		}
	}
	if (rc != 0) {
		free(dev);
		return rc;
	}
	dev->next_sysfs_check = spio_get_ticks();
	list_add(dev);
	*out = dev;
	return 0;
}

void spio_pci_device_detach(struct spio_pci_device *dev)
{
	if (dev == NULL) {
		return;
	}
	list_remove(dev);
	for (int i = 0; i < NUM_BARS; i++) {
		if (dev->bar[i].map) {
			munmap(dev->bar[i].map, dev->bar[i].size);
		}
	}
	if (dev->msix_n) {
		set_irqs(dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, NULL);
		for (uint32_t i = 0; i < dev->msix_n; i++) {
			close(dev->msix_fds[i]);
		}
	}
	free(dev->msix_fds);
	if (dev->req_fd >= 0) {
		/* A removed device's request keeps firing; closing the device fd
		 * below is the answer the kernel waits for. */
		set_irqs(dev, VFIO_PCI_REQ_IRQ_INDEX, 0, NULL);
		close(dev->req_fd);
	}
	close(dev->fd);
	pci_vfio_lock();
	pci_vfio_group_put(dev->info.iommu_group);
	pci_vfio_unlock();
	pci_unclaim(&dev->info.addr);
	free(dev);
}

const struct spio_pci_device_info *spio_pci_device_get_info(const struct spio_pci_device *dev)
{
	return dev ? &dev->info : NULL;
}

void spio_pci_device_set_type(struct spio_pci_device *dev, const char *type)
{
	if (dev != NULL && type != NULL) {
		/* A walker may read it on another thread. */
		__atomic_store_n(&dev->type, type, __ATOMIC_RELEASE);
	}
}

const char *spio_pci_device_get_type(const struct spio_pci_device *dev)
{
	return dev ? __atomic_load_n(&dev->type, __ATOMIC_ACQUIRE) : NULL;
}

int spio_pci_for_each_device(spio_pci_device_cb cb, void *arg)
{
	int rc = 0;

	if (cb == NULL) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_devices_lock);
	for (struct spio_pci_device *dev = g_devices; dev != NULL && rc == 0; dev = dev->next) {
		rc = cb(arg, dev);
	}
	pthread_mutex_unlock(&g_devices_lock);
	return rc;
}

int spio_pci_device_map_bar(struct spio_pci_device *dev, uint32_t bar, void **addr, uint64_t *size)
{
	struct bar *b;

	if (dev == NULL || bar >= NUM_BARS || addr == NULL || size == NULL) {
		return -EINVAL;
	}
	b = &dev->bar[bar];
	if (b->size == 0) {
		return -ENODEV;
	}
	if (!(b->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		SPIO_ERRLOG("pci %s: VFIO does not allow mapping BAR%u (flags 0x%x)\n", dev->bdf,
			    bar, b->flags);
		return -ENOTSUP;
	}
	if (b->map == NULL) {
		void *p = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd,
			       (off_t)b->offset);
		if (p == MAP_FAILED) {
			int err = errno;
			SPIO_ERRLOG("pci %s: mmap of BAR%u (%llu bytes) failed: %s\n", dev->bdf,
				    bar, (unsigned long long)b->size, strerror(err));
			return -err;
		}
		b->map = p;
	}
	*addr = b->map;
	*size = b->size;
	return 0;
}

static int cfg_check(struct spio_pci_device *dev, const void *buf, size_t len, uint32_t offset)
{
	if (dev == NULL || buf == NULL || len == 0 || offset > dev->cfg_size ||
	    len > dev->cfg_size - offset) {
		return -EINVAL;
	}
	return 0;
}

int spio_pci_device_cfg_read(struct spio_pci_device *dev, void *buf, size_t len, uint32_t offset)
{
	int rc = cfg_check(dev, buf, len, offset);

	if (rc != 0) {
		return rc;
	}
	if (pread(dev->fd, buf, len, (off_t)(dev->cfg_offset + offset)) != (ssize_t)len) {
		SPIO_ERRLOG("pci %s: config read of %zu bytes at 0x%x failed: %s\n", dev->bdf, len,
			    offset, strerror(errno));
		return -EIO;
	}
	return 0;
}

int spio_pci_device_cfg_write(struct spio_pci_device *dev, const void *buf, size_t len,
			      uint32_t offset)
{
	int rc = cfg_check(dev, buf, len, offset);

	if (rc != 0) {
		return rc;
	}
	if (pwrite(dev->fd, buf, len, (off_t)(dev->cfg_offset + offset)) != (ssize_t)len) {
		SPIO_ERRLOG("pci %s: config write of %zu bytes at 0x%x failed: %s\n", dev->bdf, len,
			    offset, strerror(errno));
		return -EIO;
	}
	return 0;
}

bool spio_pci_device_is_removed(struct spio_pci_device *dev)
{
	uint64_t v, now;

	if (dev == NULL || dev->removed) {
		return true;
	}
	if (dev->req_fd >= 0 && read(dev->req_fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
		SPIO_NOTICELOG("pci %s: the kernel requests the device back (removed)\n", dev->bdf);
		dev->removed = true;
		return true;
	}
	now = spio_get_ticks();
	if (now >= dev->next_sysfs_check) {
		dev->next_sysfs_check = now + spio_get_ticks_hz() / 10;
		if (access(dev->sysfs_dir, F_OK) != 0 && errno == ENOENT) {
			SPIO_NOTICELOG("pci %s: gone from sysfs (removed)\n", dev->bdf);
			dev->removed = true;
		}
	}
	return dev->removed;
}

int spio_pci_device_enable_msix(struct spio_pci_device *dev, uint32_t n, int *fds)
{
	int *nfds;
	int rc;

	if (dev == NULL || fds == NULL || n == 0) {
		return -EINVAL;
	}
	if (dev->msix_count == 0) {
		return -ENOTSUP;
	}
	if (n > dev->msix_count) {
		SPIO_ERRLOG("pci %s: %u MSI-X vectors asked, the device has %u\n", dev->bdf, n,
			    dev->msix_count);
		return -EINVAL;
	}
	nfds = calloc(n, sizeof(*nfds));
	if (nfds == NULL) {
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		nfds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (nfds[i] < 0) {
			rc = -errno;
			while (i-- > 0) {
				close(nfds[i]);
			}
			free(nfds);
			return rc;
		}
	}
	/* A new vector count needs MSI-X off first (VFIO only retargets an
	 * enabled block of the same size). */
	if (dev->msix_n) {
		set_irqs(dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, NULL);
	}
	rc = set_irqs(dev, VFIO_PCI_MSIX_IRQ_INDEX, n, nfds);
	for (uint32_t i = 0; i < dev->msix_n; i++) {
		close(dev->msix_fds[i]);
	}
	free(dev->msix_fds);
	dev->msix_fds = NULL;
	dev->msix_n = 0;
	if (rc != 0) {
		for (uint32_t i = 0; i < n; i++) {
			close(nfds[i]);
		}
		free(nfds);
		return rc;
	}
	dev->msix_fds = nfds;
	dev->msix_n = n;
	memcpy(fds, nfds, n * sizeof(*fds));
	return 0;
}
