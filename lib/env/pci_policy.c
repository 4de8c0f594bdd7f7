/*
 * The process's PCI allow / block lists: SPDK's -A / --pci-allowed and
 * -B / --pci-blocked, given to spio_env_init(). SPDK hands them to DPDK, whose
 * bus scan then never sees an excluded device; here enumeration skips it and
 * attach refuses it, which is what a caller of either can observe. SPDK's
 * -u / --no-pci (DPDK scans no bus at all) excludes every device.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pci_internal.h"

/* Read by attach and enumerate on any thread while env init / fini may
 * change them: a mutex, not worth more on paths that open sysfs files. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static bool g_none;
static struct spio_pci_addr *g_allow;
static size_t g_nallow;
static struct spio_pci_addr *g_block;
static size_t g_nblock;

static struct spio_pci_addr *copy_list(const struct spio_pci_addr *src, size_t n)
{
	struct spio_pci_addr *dst = malloc(n * sizeof(*dst));

	if (dst != NULL) {
		memcpy(dst, src, n * sizeof(*dst));
	}
	return dst;
}

int pci_policy_set(bool none, const struct spio_pci_addr *allow, size_t nallow,
		   const struct spio_pci_addr *block, size_t nblock)
{
	struct spio_pci_addr *a = NULL, *b = NULL;

	if ((nallow > 0 && nblock > 0) || (nallow > 0 && allow == NULL) ||
	    (nblock > 0 && block == NULL)) {
		return -EINVAL;
	}
	if (nallow > 0 && (a = copy_list(allow, nallow)) == NULL) {
		return -ENOMEM;
	}
	if (nblock > 0 && (b = copy_list(block, nblock)) == NULL) {
		free(a);
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_lock);
	free(g_allow);
	free(g_block);
	g_none = none;
	g_allow = a;
	g_nallow = nallow;
	g_block = b;
	g_nblock = nblock;
	pthread_mutex_unlock(&g_lock);
	return 0;
}

void pci_policy_clear(void)
{
	pci_policy_set(false, NULL, 0, NULL, 0);
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

const char *pci_policy_refusal(const struct spio_pci_addr *addr)
{
	const char *why = NULL;

	pthread_mutex_lock(&g_lock);
	if (g_none) {
		why = "PCI access disabled (-u, --no-pci)";
	} else if (g_nallow > 0 && !addr_in(addr, g_allow, g_nallow)) {
		why = "not in the -A (--pci-allowed) list";
	} else if (addr_in(addr, g_block, g_nblock)) {
		why = "blocked by -B (--pci-blocked)";
	}
	pthread_mutex_unlock(&g_lock);
	return why;
}
