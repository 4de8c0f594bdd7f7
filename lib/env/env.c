/*
 * Environment set-up: options, the core list and the init/fini sequence.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env/fault.h"
#include "env_internal.h"
#include "pci_internal.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/util.h"

static struct spio_cpuset g_cores;
static bool g_cores_fixed;
static bool g_initialized;
static pthread_mutex_t g_env_lock = PTHREAD_MUTEX_INITIALIZER;

void spio_env_opts_init(struct spio_env_opts *opts, size_t opts_size)
{
	if (opts == NULL || opts_size == 0) {
		return;
	}
	struct spio_env_opts defaults = {
	    .opts_size = opts_size,
	    .name = "spio",
	    .no_huge = false,
	    .mem_size_mb = 0,
	    .core_mask = NULL,
	    .pci_allowed = NULL,
	    .num_pci_allowed = 0,
	    .pci_blocked = NULL,
	    .num_pci_blocked = 0,
	    .iova_mode = NULL,
	    .no_pci = false,
	};
	memcpy(opts, &defaults, SPIO_MIN(opts_size, sizeof(defaults)));
}

/* Fields beyond what the caller's struct holds keep their defaults. */
#define OPT(opts, field, def)                                                               \
	(offsetof(struct spio_env_opts, field) + sizeof((opts)->field) <= (opts)->opts_size \
	     ? (opts)->field                                                                \
	     : (def))

static int cores_from_mask(const char *mask, struct spio_cpuset *out)
{
	struct spio_cpuset affinity, wanted, outside;
	int rc;

	rc = spio_cpuset_from_affinity(&affinity);
	if (rc != 0) {
		return rc;
	}
	if (mask == NULL) {
		spio_cpuset_copy(out, &affinity);
		return 0;
	}
	spio_cpuset_zero(&wanted);
	if (spio_cpuset_parse(&wanted, mask) != 0) {
		SPIO_ERRLOG("core mask '%s': not a mask (0x3) or list ([0-1])\n", mask);
		return -EINVAL;
	}
	if (spio_cpuset_count(&wanted) == 0) {
		SPIO_ERRLOG("core mask '%s' selects no core\n", mask);
		return -EINVAL;
	}
	/* outside = wanted & ~affinity */
	spio_cpuset_copy(&outside, &affinity);
	spio_cpuset_negate(&outside);
	spio_cpuset_and(&outside, &wanted);
	if (spio_cpuset_count(&outside) != 0) {
		SPIO_ERRLOG("core mask '%s': core %d is not in this process's affinity\n", mask,
			    spio_cpuset_first(&outside));
		return -EINVAL;
	}
	spio_cpuset_copy(out, &wanted);
	return 0;
}

/*
 * SPIO_FAULT in the environment arms fault injection (env/fault.h) for the
 * whole process, so that shell tests can run any program with failing
 * allocations and sends. Loud on purpose: it is never wanted in production.
 */
static int fault_from_environment(void)
{
	const char *spec = getenv("SPIO_FAULT");
	char err[256];

	if (spec == NULL || spec[0] == '\0') {
		return 0;
	}
	if (fault_configure(spec, err, sizeof(err)) != 0) {
		SPIO_ERRLOG("SPIO_FAULT: cannot parse '%s' (expected SITE=every:N or SITE=rate:P, "
			    "SITE mempool, dma or send, and seed=N, comma-separated)\n",
			    err);
		return -EINVAL;
	}
	SPIO_WARNLOG("SPIO_FAULT=%s: fault injection is on\n", spec);
	return 0;
}

/* SPDK's -A / -B lists and --no-pci, kept by the PCI layer until spio_env_fini(). */
static int pci_lists_from_opts(const struct spio_env_opts *opts)
{
	size_t nallow = OPT(opts, num_pci_allowed, 0), nblock = OPT(opts, num_pci_blocked, 0);
	int rc;

	if (nallow > 0 && nblock > 0) {
		SPIO_ERRLOG("pci_allowed and pci_blocked (-A and -B) cannot be used at the same "
			    "time\n");
		return -EINVAL;
	}
	rc = pci_policy_set(OPT(opts, no_pci, false), OPT(opts, pci_allowed, NULL), nallow,
			    OPT(opts, pci_blocked, NULL), nblock);
	if (rc == -EINVAL) {
		SPIO_ERRLOG("a PCI list has a count but no addresses\n");
	}
	return rc;
}

/* Whether /proc/self/pagemap shows page frame numbers (it needs CAP_SYS_ADMIN;
 * without, it reads zeros): the DMA region then uses physical addresses. */
static bool pagemap_gives_phys(void)
{
	volatile uint64_t probe = 1; /* a present page: this stack */
	long page = sysconf(_SC_PAGESIZE);
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || page <= 0) {
		if (fd >= 0) {
			close(fd);
		}
		return false;
	}
	off_t off = (off_t)((uintptr_t)&probe / (uint64_t)page * sizeof(entry));
	ssize_t n = pread(fd, &entry, sizeof(entry), off);
	close(fd);
	return n == (ssize_t)sizeof(entry) && (entry & ((1ULL << 55) - 1)) != 0;
}

/* Before DMA memory: the mode's spelling, and SPDK's own refusal. */
static int iova_mode_check_opts(const char *mode, bool no_huge)
{
	if (mode == NULL) {
		return 0;
	}
	if (strcmp(mode, "pa") != 0 && strcmp(mode, "va") != 0) {
		SPIO_ERRLOG("iova mode '%s': expected pa or va\n", mode);
		return -EINVAL;
	}
	if (no_huge && strcmp(mode, "pa") == 0) {
		SPIO_ERRLOG("iova-mode=pa is incompatible with specified no-huge parameter\n");
		return -EINVAL;
	}
	return 0;
}

/* After DMA memory: spio does not pick the mode, it reports what vtophys
 * gives; asking for the other one is refused rather than ignored. */
static int iova_mode_check_memory(const char *mode)
{
	bool phys;

	if (mode == NULL) {
		return 0;
	}
	phys = dma_mem_hugepages() && pagemap_gives_phys();
	if (strcmp(mode, "pa") == 0 && !phys) {
		SPIO_ERRLOG("iova mode pa: IOVAs here are virtual addresses (%s); leave "
			    "--iova-mode out or run as root with free hugepages\n",
			    dma_mem_hugepages() ? "/proc/self/pagemap hides physical addresses "
						  "without CAP_SYS_ADMIN"
						: "no hugepages: ordinary pages have no fixed "
						  "physical address");
		return -EINVAL;
	}
	if (strcmp(mode, "va") == 0 && phys) {
		SPIO_ERRLOG("iova mode va: with hugepages and a readable /proc/self/pagemap the "
			    "IOVAs here are physical addresses; leave --iova-mode out, or add "
			    "--no-huge for virtual ones\n");
		return -EINVAL;
	}
	return 0;
}

int spio_env_init(const struct spio_env_opts *opts)
{
	struct spio_cpuset cores;
	int rc;

	if (opts == NULL || opts->opts_size == 0) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_env_lock);
	if (g_initialized) {
		pthread_mutex_unlock(&g_env_lock);
		return -EALREADY;
	}
	rc = cores_from_mask(OPT(opts, core_mask, NULL), &cores);
	if (rc == 0) {
		rc = fault_from_environment();
	}
	if (rc == 0) {
		rc = iova_mode_check_opts(OPT(opts, iova_mode, NULL), OPT(opts, no_huge, false));
	}
	if (rc == 0) {
		rc = pci_lists_from_opts(opts);
	}
	if (rc == 0) {
		const char *name = OPT(opts, name, "spio");
		rc = dma_mem_init(name ? name : "spio", !OPT(opts, no_huge, false),
				  OPT(opts, mem_size_mb, 0));
		if (rc == 0) {
			rc = iova_mode_check_memory(OPT(opts, iova_mode, NULL));
			if (rc != 0) {
				dma_mem_fini();
			}
		}
		if (rc != 0) {
			pci_policy_clear();
		}
	}
	if (rc == 0) {
		spio_cpuset_copy(&g_cores, &cores);
		g_cores_fixed = true;
		g_initialized = true;
	}
	pthread_mutex_unlock(&g_env_lock);
	return rc;
}

void spio_env_fini(void)
{
	pthread_mutex_lock(&g_env_lock);
	if (g_initialized) {
		dma_mem_fini();
		pci_policy_clear();
		g_cores_fixed = false;
		g_initialized = false;
	}
	pthread_mutex_unlock(&g_env_lock);
}

bool spio_env_is_initialized(void)
{
	return __atomic_load_n(&g_initialized, __ATOMIC_ACQUIRE);
}

bool spio_env_hugepages_enabled(void)
{
	return spio_env_is_initialized() && dma_mem_hugepages();
}

/* Before init the core list is the live affinity; copy it into `tmp`. */
static const struct spio_cpuset *core_set(struct spio_cpuset *tmp)
{
	if (g_cores_fixed) {
		return &g_cores;
	}
	if (spio_cpuset_from_affinity(tmp) != 0) {
		spio_cpuset_zero(tmp);
	}
	return tmp;
}

uint32_t spio_env_get_core_count(void)
{
	struct spio_cpuset tmp;

	return spio_cpuset_count(core_set(&tmp));
}

uint32_t spio_env_get_first_core(void)
{
	struct spio_cpuset tmp;
	int core = spio_cpuset_first(core_set(&tmp));

	return core < 0 ? UINT32_MAX : (uint32_t)core;
}

uint32_t spio_env_get_last_core(void)
{
	struct spio_cpuset tmp;
	const struct spio_cpuset *set = core_set(&tmp);
	int last = -1;

	for (int c = spio_cpuset_first(set); c >= 0; c = spio_cpuset_next(set, c)) {
		last = c;
	}
	return last < 0 ? UINT32_MAX : (uint32_t)last;
}

uint32_t spio_env_get_next_core(uint32_t prev)
{
	struct spio_cpuset tmp;
	int core;

	if (prev >= SPIO_CPUSET_MAX_CORES) {
		return UINT32_MAX;
	}
	core = spio_cpuset_next(core_set(&tmp), (int)prev);
	return core < 0 ? UINT32_MAX : (uint32_t)core;
}

uint32_t spio_env_get_current_core(void)
{
	int cpu = sched_getcpu();

	return cpu < 0 ? UINT32_MAX : (uint32_t)cpu;
}

void spio_env_get_cpuset(struct spio_cpuset *set)
{
	struct spio_cpuset tmp;

	if (set != NULL) {
		spio_cpuset_copy(set, core_set(&tmp));
	}
}

int spio_env_thread_set_affinity(uint32_t core)
{
	struct spio_cpuset tmp;
	cpu_set_t cpus;
	int rc;

	if (core >= SPIO_CPUSET_MAX_CORES || !spio_cpuset_get_cpu(core_set(&tmp), (int)core)) {
		return -EINVAL;
	}
	CPU_ZERO(&cpus);
	CPU_SET(core, &cpus);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	return -rc;
}
