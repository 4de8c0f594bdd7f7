/*
 * The process's VFIO container and IOMMU groups. One container holds every
 * group we use, so one set of IOMMU mappings (the DMA memory) serves every
 * device. The container is opened with the first group and closed with the
 * last; groups are reference-counted by their attached devices.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "pci_internal.h"
#include "spio/log.h"

struct vfio_group {
	int num;
	int fd;
	unsigned refs;
	struct vfio_group *next;
};

static pthread_mutex_t g_vfio_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_container = -1;
static struct vfio_group *g_groups;

void pci_vfio_lock(void)
{
	pthread_mutex_lock(&g_vfio_lock);
}

void pci_vfio_unlock(void)
{
	pthread_mutex_unlock(&g_vfio_lock);
}

/* errno of an open() under /dev/vfio as our error code. */
static int open_error(int err)
{
	if (err == EACCES || err == EPERM) {
		return -EACCES;
	}
	if (err == ENOENT || err == ENODEV || err == ENXIO) {
		return -ENOTSUP;
	}
	return err == EBUSY ? -EBUSY : -EIO;
}

/* Open /dev/vfio/vfio and pick the IOMMU type; returns the fd or -errno. */
static int open_container(int *type)
{
	char path[PATH_MAX];
	int fd, err, version;

	snprintf(path, sizeof(path), "%s/vfio", pci_vfio_dir());
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		SPIO_ERRLOG("pci: cannot open the VFIO container %s: %s; %s\n", path, strerror(err),
			    err == ENOENT ? "load VFIO (modprobe vfio-pci) and bind the device "
					    "with scripts/setup.sh config"
					  : "run as root, or give this user the VFIO device nodes");
		return open_error(err);
	}
	version = ioctl(fd, VFIO_GET_API_VERSION);
	if (version != VFIO_API_VERSION) {
		SPIO_ERRLOG("pci: %s: VFIO API version %d, expected %d\n", path, version,
			    VFIO_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0) {
		*type = VFIO_TYPE1v2_IOMMU;
	} else if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0) {
		*type = VFIO_TYPE1_IOMMU;
	} else {
		SPIO_ERRLOG("pci: %s offers no type1 IOMMU: load vfio_iommu_type1 and enable the "
			    "IOMMU (intel_iommu=on or amd_iommu=on on the kernel command line)\n",
			    path);
		close(fd);
		return -ENOTSUP;
	}
	return fd;
}

/* Open group `num`, check it is usable and put it in the container. */
static int open_group(int num, int container)
{
	struct vfio_group_status status = {.argsz = sizeof(status)};
	char path[PATH_MAX];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%d", pci_vfio_dir(), num);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		SPIO_ERRLOG("pci: cannot open IOMMU group %s: %s; %s\n", path, strerror(err),
			    err == EBUSY ? "another process (or a VM) uses the group"
			    : err == ENOENT
				? "bind the group's devices to vfio-pci (scripts/setup.sh config)"
				: "run as root, or give this user the VFIO device nodes");
		return open_error(err);
	}
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) != 0) {
		err = errno;
		SPIO_ERRLOG("pci: VFIO_GROUP_GET_STATUS on %s failed: %s\n", path, strerror(err));
		close(fd);
		return -EIO;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		SPIO_ERRLOG("pci: IOMMU group %d is not viable: every device in "
			    "/sys/kernel/iommu_groups/%d/devices must be bound to vfio-pci or to "
			    "no driver\n",
			    num, num);
		close(fd);
		return -ENOTSUP;
	}
	if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &container) != 0) {
		err = errno;
		SPIO_ERRLOG("pci: VFIO_GROUP_SET_CONTAINER for group %d failed: %s\n", num,
			    strerror(err));
		close(fd);
		return -EIO;
	}
	return fd;
}

/* The container's IOMMU is set once, after its first group joined; then the
 * DMA memory goes in. */
static int setup_iommu(int type)
{
	if (ioctl(g_container, VFIO_SET_IOMMU, type) != 0) {
		int err = errno;
		SPIO_ERRLOG("pci: VFIO_SET_IOMMU(%s) failed: %s; is the IOMMU enabled "
			    "(intel_iommu=on / amd_iommu=on)?\n",
			    type == VFIO_TYPE1v2_IOMMU ? "type1v2" : "type1", strerror(err));
		return err == EPERM || err == EACCES ? -EACCES : -ENOTSUP;
	}
	return pci_iommu_attach(g_container);
}

int pci_vfio_group_get(int num)
{
	struct vfio_group *g;
	bool new_container = false;
	int type = 0, fd, rc;

	for (g = g_groups; g; g = g->next) {
		if (g->num == num) {
			g->refs++;
			return g->fd;
		}
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		return -ENOMEM;
	}
	if (g_container < 0) {
		g_container = open_container(&type);
		if (g_container < 0) {
			rc = g_container;
			g_container = -1;
			free(g);
			return rc;
		}
		new_container = true;
	}
	fd = open_group(num, g_container);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	if (new_container) {
		rc = setup_iommu(type);
		if (rc != 0) {
			close(fd); /* leaves the container */
			goto fail;
		}
	}
	g->num = num;
	g->fd = fd;
	g->refs = 1;
	g->next = g_groups;
	g_groups = g;
	return fd;

fail:
	if (new_container) {
		close(g_container);
		g_container = -1;
	}
	free(g);
	return rc;
}

void pci_vfio_group_put(int num)
{
	struct vfio_group **pg = &g_groups, *g;

	while (*pg && (*pg)->num != num) {
		pg = &(*pg)->next;
	}
	g = *pg;
	if (g == NULL || --g->refs > 0) {
		return;
	}
	*pg = g->next;
	if (g_groups == NULL) {
		/* Last group: DMA memory leaves the IOMMU while it still exists. */
		pci_iommu_detach();
	}
	close(g->fd);
	free(g);
	if (g_groups == NULL) {
		close(g_container);
		g_container = -1;
	}
}
