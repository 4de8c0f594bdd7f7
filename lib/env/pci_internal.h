/* Private interfaces between the PCI files of lib/env (pci_*.c) and their tests. */
#ifndef SPIO_PCI_INTERNAL_H
#define SPIO_PCI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/pci.h"

/*
 * Where the PCI layer looks: sysfs devices directory (/sys/bus/pci/devices),
 * VFIO device directory (/dev/vfio) and lock file directory (/var/tmp).
 * Tests point them at a temporary tree; NULL restores the default. Not
 * thread-safe: set before any other PCI call.
 */
void pci_set_sysfs_root(const char *dir);
void pci_set_vfio_dir(const char *dir);
void pci_set_lock_dir(const char *dir);
const char *pci_sysfs_root(void);
const char *pci_vfio_dir(void);

/* pci_policy.c: the process's allow / block lists (SPDK's -A / -B) and
 * SPDK's --no-pci (`none`: no device at all), set by spio_env_init() and
 * cleared by spio_env_fini(). pci_policy_set copies the lists: 0, -EINVAL if
 * both are non-empty (SPDK's rule), -ENOMEM. */
int pci_policy_set(bool none, const struct spio_pci_addr *allow, size_t nallow,
		   const struct spio_pci_addr *block, size_t nblock);
void pci_policy_clear(void);
/* NULL when the lists let `addr` through, else why not (for a log line). */
const char *pci_policy_refusal(const struct spio_pci_addr *addr);

/* pci_claim.c: the per-BDF lock file. 0, or -EBUSY (held by another process,
 * whose pid is logged, or already by this one), or -errno of the file. */
int pci_claim(const struct spio_pci_addr *addr);
void pci_unclaim(const struct spio_pci_addr *addr);

/* pci_vfio.c: the process's container and its groups, under one mutex. */
void pci_vfio_lock(void);
void pci_vfio_unlock(void);
/* Add IOMMU group `group` to the container (creating both as needed); returns
 * the group's fd (a reference: drop with pci_vfio_group_put), or -errno. */
int pci_vfio_group_get(int group);
void pci_vfio_group_put(int group);

/* pci_iommu.c: map the DMA region into container `fd` (and its future slots),
 * or stop doing so. Called with the VFIO lock held. */
int pci_iommu_attach(int container_fd);
void pci_iommu_detach(void);

#endif
