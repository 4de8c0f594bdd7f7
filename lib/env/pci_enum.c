/*
 * PCI devices as sysfs shows them (/sys/bus/pci/devices/<dddd:bb:dd.f>/):
 * ids, class, NUMA node, bound driver, IOMMU group; and the filtered walk.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pci_internal.h"
#include "spio/log.h"

SPIO_LOG_REGISTER_COMPONENT(pci)

static const char *g_sysfs_root = "/sys/bus/pci/devices";
static const char *g_vfio_dir = "/dev/vfio";

void pci_set_sysfs_root(const char *dir)
{
	g_sysfs_root = dir ? dir : "/sys/bus/pci/devices";
}

void pci_set_vfio_dir(const char *dir)
{
	g_vfio_dir = dir ? dir : "/dev/vfio";
}

const char *pci_sysfs_root(void)
{
	return g_sysfs_root;
}

const char *pci_vfio_dir(void)
{
	return g_vfio_dir;
}

/* One number from a sysfs attribute ("0x8086\n", "-1\n"); -errno if absent
 * or not a number. */
static int read_attr(const char *dev_dir, const char *name, long long *out)
{
	char path[PATH_MAX], text[64], *end;
	FILE *f;
	size_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dev_dir, name) >= (int)sizeof(path)) {
		return -ENAMETOOLONG;
	}
	f = fopen(path, "re");
	if (f == NULL) {
		return -errno;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	errno = 0;
	*out = strtoll(text, &end, 0);
	if (end == text || errno != 0 || (*end != '\0' && *end != '\n')) {
		return -EIO;
	}
	return 0;
}

/* Last path component of the symlink dev_dir/name, or "" if there is none. */
static void read_link_base(const char *dev_dir, const char *name, char *out, size_t size)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	out[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/%s", dev_dir, name) >= (int)sizeof(path)) {
		return;
	}
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0) {
		return;
	}
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	base = base ? base + 1 : target;
	/* Driver and group names are short; cut anything absurd rather than fail. */
	size_t len = strnlen(base, size - 1);
	memcpy(out, base, len);
	out[len] = '\0';
}

static int read_info(const char *dev_dir, const struct spio_pci_addr *addr,
		     struct spio_pci_device_info *info)
{
	static const char *const id_attr[] = {"vendor", "device", "subsystem_vendor",
					      "subsystem_device"};
	uint16_t *id_field[] = {&info->vendor_id, &info->device_id, &info->subvendor_id,
				&info->subdevice_id};
	char group[16];
	long long v;
	int rc;

	memset(info, 0, sizeof(*info));
	info->addr = *addr;
	for (size_t i = 0; i < 4; i++) {
		rc = read_attr(dev_dir, id_attr[i], &v);
		/* Subsystem ids are optional (old kernels, some bridges). */
		if (rc != 0 && i < 2) {
			return rc;
		}
		if (rc == 0 && (v < 0 || v > 0xffff)) {
			return -EIO;
		}
		*id_field[i] = rc == 0 ? (uint16_t)v : 0;
	}
	rc = read_attr(dev_dir, "class", &v);
	if (rc != 0) {
		return rc;
	}
	if (v < 0 || v > 0xffffff) {
		return -EIO;
	}
	info->class_code = (uint32_t)v;
	rc = read_attr(dev_dir, "numa_node", &v);
	info->numa_node = rc == 0 && v >= 0 && v < INT_MAX ? (int)v : -1;

	read_link_base(dev_dir, "driver", info->driver, sizeof(info->driver));
	read_link_base(dev_dir, "iommu_group", group, sizeof(group));
	char *end;
	long g = strtol(group, &end, 10);
	info->iommu_group = group[0] != '\0' && *end == '\0' && g >= 0 && g < INT_MAX ? (int)g : -1;
	return 0;
}

int spio_pci_get_device_info(const struct spio_pci_addr *addr, struct spio_pci_device_info *info)
{
	char bdf[SPIO_PCI_ADDR_STRLEN], dir[PATH_MAX];
	int rc;

	if (addr == NULL || info == NULL) {
		return -EINVAL;
	}
	spio_pci_addr_fmt(bdf, sizeof(bdf), addr);
	if (snprintf(dir, sizeof(dir), "%s/%s", g_sysfs_root, bdf) >= (int)sizeof(dir)) {
		return -ENAMETOOLONG;
	}
	if (access(dir, F_OK) != 0) {
		return -ENODEV;
	}
	rc = read_info(dir, addr, info);
	if (rc == -ENOENT) {
		return -ENODEV; /* vanished while we read it */
	}
	return rc == 0 ? 0 : -EIO;
}

static bool addr_in(const struct spio_pci_addr *a, const struct spio_pci_addr *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (spio_pci_addr_compare(a, &list[i]) == 0) {
			return true;
		}
	}
	return false;
}

static bool addr_wanted(const struct spio_pci_filter *f, const struct spio_pci_addr *a)
{
	if (f == NULL) {
		return true;
	}
	if (f->allow_count > 0 && !addr_in(a, f->allow, f->allow_count)) {
		return false;
	}
	return !addr_in(a, f->block, f->block_count);
}

int spio_pci_enumerate(const struct spio_pci_filter *filter, spio_pci_enum_cb cb, void *arg)
{
	struct spio_pci_device_info info;
	struct spio_pci_addr addr;
	struct dirent **names;
	char dir[PATH_MAX];
	int rc = 0, n;

	if (cb == NULL) {
		return -EINVAL;
	}
	/* Sorted: sysfs names are fixed-width hex, so this is address order,
	 * and tools list devices the same way every time. */
	n = scandir(g_sysfs_root, &names, NULL, alphasort);
	if (n < 0) {
		rc = -errno;
		SPIO_ERRLOG("pci: cannot list %s: %s\n", g_sysfs_root, strerror(-rc));
		return rc;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;

		if (rc != 0 || name[0] == '.') {
			continue; /* stopped: just free the rest */
		}
		if (spio_pci_addr_parse(&addr, name) != 0) {
			SPIO_DEBUGLOG(pci, "%s/%s: not a PCI address; skipped\n", g_sysfs_root,
				      name);
			continue;
		}
		if (!addr_wanted(filter, &addr) || pci_policy_refusal(&addr) != NULL) {
			continue;
		}
		snprintf(dir, sizeof(dir), "%s/%s", g_sysfs_root, name);
		int err = read_info(dir, &addr, &info);
		if (err != 0) {
			SPIO_DEBUGLOG(pci, "%s: unreadable (%s); skipped\n", dir, strerror(-err));
			continue;
		}
		if (filter && filter->class_code && info.class_code != filter->class_code) {
			continue;
		}
		rc = cb(arg, &info);
	}
	for (int i = 0; i < n; i++) {
		free(names[i]);
	}
	free(names);
	return rc;
}
