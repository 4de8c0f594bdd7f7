/*
 * What SPDK's framework_get_reactors reports per core beside the reactor's
 * own counters: the core's NUMA node, and the jiffies the kernel counted on
 * the core since the application started (/proc/stat: user, system, and
 * irq + softirq), whoever ran there.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "event_internal.h"

struct cpu_jiffies {
	uint64_t usr, sys, irq;
	bool valid;
};

static struct cpu_jiffies g_start[SPIO_CPUSET_MAX_CORES];

/* One core's line of /proc/stat: cpuN user nice system idle iowait irq softirq ... */
static int cpu_jiffies_read(uint32_t core, struct cpu_jiffies *out)
{
	unsigned long long user, nice, sys, idle, iowait, irq, softirq;
	char line[512], want[32];
	FILE *f = fopen("/proc/stat", "re");
	int rc = -1;

	if (f == NULL) {
		return -1;
	}
	snprintf(want, sizeof(want), "cpu%u ", core);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, want, strlen(want)) != 0) {
			continue;
		}
		if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu", &user, &nice,
			   &sys, &idle, &iowait, &irq, &softirq) == 7) {
			*out = (struct cpu_jiffies){
			    .usr = user, .sys = sys, .irq = irq + softirq, .valid = true};
			rc = 0;
		}
		break;
	}
	fclose(f);
	return rc;
}

void cpu_stat_start(const struct spio_cpuset *cores)
{
	int core;

	memset(g_start, 0, sizeof(g_start));
	SPIO_CPUSET_FOREACH (core, cores) {
		if (cpu_jiffies_read((uint32_t)core, &g_start[core]) != 0) {
			g_start[core].valid = false;
		}
	}
}

int cpu_stat_since_start(uint32_t core, uint64_t *usr, uint64_t *sys, uint64_t *irq)
{
	struct cpu_jiffies now;

	if (core >= SPIO_CPUSET_MAX_CORES || !g_start[core].valid ||
	    cpu_jiffies_read(core, &now) != 0) {
		return -1;
	}
	*usr = now.usr >= g_start[core].usr ? now.usr - g_start[core].usr : 0;
	*sys = now.sys >= g_start[core].sys ? now.sys - g_start[core].sys : 0;
	*irq = now.irq >= g_start[core].irq ? now.irq - g_start[core].irq : 0;
	return 0;
}

int32_t cpu_numa_id(uint32_t core)
{
	char path[96];

	/* sysfs links each CPU to its node: /sys/devices/system/cpu/cpuN/nodeM */
	for (int node = 0; node < 1024; node++) {
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/node%d", core, node);
		if (access(path, F_OK) == 0) {
			return node;
		}
	}
	return 0; /* no NUMA information: one node */
}
