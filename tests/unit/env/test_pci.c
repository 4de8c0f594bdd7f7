/*
 * PCI layer: addresses, enumeration of a fake sysfs tree, the claim lock
 * across processes, attach errors without VFIO, and the DMA region's IOMMU
 * hook. VFIO itself needs an IOMMU: it runs in the QEMU guest test
 * (tests/interop/test_vm_pcie.sh).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "env/dma_internal.h"
#include "helper_hugepages.h"
#include "env/pci_internal.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/json_val.h"
#include "spio/pci.h"
#include "spio/rpc.h"
#include "spio/thread.h"

#define MiB (1024ULL * 1024)

/* ---- addresses ---- */

static void parse_accepts_spdk_forms(void)
{
	static const struct {
		const char *text;
		struct spio_pci_addr want;
	} cases[] = {
	    {"0000:00:04.0", {0, 0, 4, 0}},
	    {"0000.00.04.0", {0, 0, 4, 0}},
	    {"0001:af:1f.7", {1, 0xaf, 0x1f, 7}},
	    {"ABCD:EF:1A.3", {0xabcd, 0xef, 0x1a, 3}},
	    {"10000:00:01.0", {0x10000, 0, 1, 0}},
	    {"0000:3b:00", {0, 0x3b, 0, 0}},
	    {"3b:00.1", {0, 0x3b, 0, 1}},
	    {"3b.00.1", {0, 0x3b, 0, 1}},
	    {"3b:02", {0, 0x3b, 2, 0}},
	    {"3b.02", {0, 0x3b, 2, 0}},
	    {"ffffffff:ff:1f.7", {0xffffffff, 0xff, 0x1f, 7}},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spio_pci_addr a;
		int rc = spio_pci_addr_parse(&a, cases[i].text);
		cr_assert_eq(rc, 0, "%s: expected 0, got %d", cases[i].text, rc);
		cr_assert(spio_pci_addr_compare(&a, &cases[i].want) == 0, "%s: got %x:%x:%x.%x",
			  cases[i].text, a.domain, a.bus, a.dev, a.func);
	}
}

Test(pci_addr, parse_accepts_spdk_forms_and_rejects_garbage)
{
	parse_accepts_spdk_forms();
	static const char *const bad[] = {
	    "",		 "0000",	 "0000:00:04.0x", " 0000:00:04.0", "0000:00:04.0\n",
	    "0x00:04.0", "00:20.0",	 "00:04.8",	  "100:00.0",	   "100000000:00:00.0",
	    "-1:00.0",	 "0000:00.04:0", "0000:00:04:0",  "0000.00:04.0",  "00::04.0",
	    "00:04.",	 "0:0:0:0.0",	 "g0:00.0",	  "1.2.3.4.5",
	};
	struct spio_pci_addr a = {7, 7, 7, 7};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = spio_pci_addr_parse(&a, bad[i]);
		cr_assert_eq(rc, -EINVAL, "\"%s\": expected -EINVAL, got %d", bad[i], rc);
	}
	cr_assert(a.domain == 7 && a.bus == 7 && a.dev == 7 && a.func == 7,
		  "a failed parse must not write the address");
	cr_assert_eq(spio_pci_addr_parse(NULL, "00:04.0"), -EINVAL);
	cr_assert_eq(spio_pci_addr_parse(&a, NULL), -EINVAL);
}

Test(pci_addr, format_round_trip_and_compare)
{
	struct spio_pci_addr a = {0x12, 0x3b, 0x1f, 7}, b;
	char buf[SPIO_PCI_ADDR_STRLEN];

	cr_assert_eq(spio_pci_addr_fmt(buf, sizeof(buf), &a), 0);
	cr_assert_str_eq(buf, "0012:3b:1f.7");
	cr_assert_eq(spio_pci_addr_parse(&b, buf), 0);
	cr_assert_eq(spio_pci_addr_compare(&a, &b), 0);

	struct spio_pci_addr big = {0xffffffff, 0xff, 0x1f, 7};
	cr_assert_eq(spio_pci_addr_fmt(buf, sizeof(buf), &big), 0);
	cr_assert_str_eq(buf, "ffffffff:ff:1f.7");
	cr_assert_eq(spio_pci_addr_fmt(buf, 12, &a), -ENOSPC, "12 bytes cannot hold 13");
	cr_assert_eq(spio_pci_addr_fmt(NULL, 16, &a), -EINVAL);

	/* Domain outranks bus, bus outranks device, device outranks function. */
	struct spio_pci_addr order[] = {
	    {0, 0, 4, 0}, {0, 0, 4, 1}, {0, 0, 5, 0}, {0, 1, 0, 0}, {1, 0, 0, 0}};
	for (size_t i = 0; i + 1 < sizeof(order) / sizeof(order[0]); i++) {
		cr_assert_eq(spio_pci_addr_compare(&order[i], &order[i + 1]), -1, "%zu < %zu", i,
			     i + 1);
		cr_assert_eq(spio_pci_addr_compare(&order[i + 1], &order[i]), 1);
	}
}

/* ---- a fake sysfs tree ---- */

static char g_tmp[] = "/tmp/test_pci.XXXXXX";
static char g_sysfs[256];

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static void link_file(const char *dir, const char *name, const char *target)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(symlink(target, path), 0, "symlink %s: %s", path, strerror(errno));
}

/* A device directory; NULL driver / group: no symlink. */
static void fake_device(const char *bdf, const char *vendor, const char *device, const char *class,
			const char *numa, const char *driver, int group)
{
	char dir[PATH_MAX], target[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/%s", g_sysfs, bdf);
	cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s: %s", dir, strerror(errno));
	if (vendor) {
		write_file(dir, "vendor", vendor);
	}
	write_file(dir, "device", device);
	write_file(dir, "subsystem_vendor", "0x1af4\n");
	write_file(dir, "subsystem_device", "0x1100\n");
	write_file(dir, "class", class);
	if (numa) {
		write_file(dir, "numa_node", numa);
	}
	if (driver) {
		snprintf(target, sizeof(target), "../../../bus/pci/drivers/%s", driver);
		link_file(dir, "driver", target);
	}
	if (group >= 0) {
		snprintf(target, sizeof(target), "../../../kernel/iommu_groups/%d", group);
		link_file(dir, "iommu_group", target);
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void sysfs_setup(void)
{
	cr_assert_not_null(mkdtemp(g_tmp), "mkdtemp: %s", strerror(errno));
	snprintf(g_sysfs, sizeof(g_sysfs), "%s/devices", g_tmp);
	cr_assert_eq(mkdir(g_sysfs, 0755), 0);
	fake_device("0000:00:04.0", "0x1b36\n", "0x0010\n", "0x010802\n", "0\n", "vfio-pci", 5);
	fake_device("0000:00:05.0", "0x8086\n", "0x0953\n", "0x010802\n", "-1\n", "nvme", 6);
	fake_device("0000:00:02.0", "0x1234\n", "0x1111\n", "0x030000\n", NULL, NULL, -1);
	fake_device("0000:00:07.0", "0x1b36\n", "0x0010\n", "0x010802\n", "1\n", "vfio-pci", -1);
	/* Broken entries: no vendor file; a class that is no number; not a BDF. */
	fake_device("0000:00:08.0", NULL, "0x0010\n", "0x010802\n", "0\n", NULL, -1);
	fake_device("0000:00:09.0", "0x1b36\n", "0x0010\n", "nvme?\n", "0\n", NULL, -1);
	char junk[PATH_MAX];
	snprintf(junk, sizeof(junk), "%s/not-a-device", g_sysfs);
	cr_assert_eq(mkdir(junk, 0755), 0);

	pci_set_sysfs_root(g_sysfs);
	pci_set_lock_dir(g_tmp);
	pci_set_vfio_dir(g_tmp); /* no "vfio" node in it */
}

static void sysfs_teardown(void)
{
	pci_set_sysfs_root(NULL);
	pci_set_lock_dir(NULL);
	pci_set_vfio_dir(NULL);
	nftw(g_tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(pci_sysfs, .init = sysfs_setup, .fini = sysfs_teardown);

struct seen {
	int n;
	int stop_after; /* 0: never */
	struct spio_pci_device_info info[8];
};

static int collect(void *arg, const struct spio_pci_device_info *info)
{
	struct seen *s = arg;

	cr_assert_lt(s->n, 8);
	s->info[s->n++] = *info;
	return s->stop_after && s->n == s->stop_after ? 42 : 0;
}

static const struct spio_pci_device_info *find_seen(const struct seen *s, const char *bdf)
{
	struct spio_pci_addr a;

	cr_assert_eq(spio_pci_addr_parse(&a, bdf), 0);
	for (int i = 0; i < s->n; i++) {
		if (spio_pci_addr_compare(&s->info[i].addr, &a) == 0) {
			return &s->info[i];
		}
	}
	return NULL;
}

Test(pci_sysfs, enumerate_reads_every_field_and_skips_broken_entries)
{
	struct seen s = {0};

	cr_assert_eq(spio_pci_enumerate(NULL, collect, &s), 0);
	cr_assert_eq(s.n, 4, "4 good devices expected (2 broken, 1 junk skipped), got %d", s.n);
	for (int k = 1; k < s.n; k++) {
		cr_assert_lt(spio_pci_addr_compare(&s.info[k - 1].addr, &s.info[k].addr), 0,
			     "devices come in address order");
	}
	cr_assert_null(find_seen(&s, "0000:00:08.0"), "entry without vendor must be skipped");
	cr_assert_null(find_seen(&s, "0000:00:09.0"), "entry with bad class must be skipped");

	const struct spio_pci_device_info *i = find_seen(&s, "0000:00:04.0");
	cr_assert_not_null(i);
	cr_assert_eq(i->vendor_id, 0x1b36);
	cr_assert_eq(i->device_id, 0x0010);
	cr_assert_eq(i->subvendor_id, 0x1af4);
	cr_assert_eq(i->subdevice_id, 0x1100);
	cr_assert_eq(i->class_code, SPIO_PCI_CLASS_NVME);
	cr_assert_eq(i->numa_node, 0);
	cr_assert_str_eq(i->driver, "vfio-pci");
	cr_assert_eq(i->iommu_group, 5);

	i = find_seen(&s, "0000:00:05.0");
	cr_assert_not_null(i);
	cr_assert_eq(i->numa_node, -1);
	cr_assert_str_eq(i->driver, "nvme");
	cr_assert_eq(i->iommu_group, 6);

	i = find_seen(&s, "0000:00:02.0");
	cr_assert_not_null(i);
	cr_assert_eq(i->numa_node, -1, "missing numa_node file: -1");
	cr_assert_str_eq(i->driver, "", "no driver link: empty name");
	cr_assert_eq(i->iommu_group, -1);
	cr_assert_eq(i->class_code, 0x030000);
}

Test(pci_sysfs, enumerate_filters_by_class_allow_and_block)
{
	struct spio_pci_addr a04, a05, a07;
	cr_assert_eq(spio_pci_addr_parse(&a04, "00:04.0"), 0);
	cr_assert_eq(spio_pci_addr_parse(&a05, "00:05.0"), 0);
	cr_assert_eq(spio_pci_addr_parse(&a07, "00:07.0"), 0);

	struct spio_pci_filter f = {.class_code = SPIO_PCI_CLASS_NVME};
	struct seen s = {0};
	cr_assert_eq(spio_pci_enumerate(&f, collect, &s), 0);
	cr_assert_eq(s.n, 3, "class filter: expected 3 NVMe devices, got %d", s.n);
	cr_assert_null(find_seen(&s, "0000:00:02.0"));

	/* Allow list: only those. */
	struct spio_pci_addr allow[] = {a05, a07};
	f.allow = allow;
	f.allow_count = 2;
	memset(&s, 0, sizeof(s));
	cr_assert_eq(spio_pci_enumerate(&f, collect, &s), 0);
	cr_assert_eq(s.n, 2, "allow list: expected 2, got %d", s.n);
	cr_assert_not_null(find_seen(&s, "0000:00:05.0"));
	cr_assert_not_null(find_seen(&s, "0000:00:07.0"));

	/* Block list wins over the allow list. */
	f.block = &a07;
	f.block_count = 1;
	memset(&s, 0, sizeof(s));
	cr_assert_eq(spio_pci_enumerate(&f, collect, &s), 0);
	cr_assert_eq(s.n, 1, "allow minus block: expected 1, got %d", s.n);
	cr_assert_not_null(find_seen(&s, "0000:00:05.0"));

	/* Block list alone. */
	f.allow_count = 0;
	f.block = &a04;
	memset(&s, 0, sizeof(s));
	cr_assert_eq(spio_pci_enumerate(&f, collect, &s), 0);
	cr_assert_eq(s.n, 2, "block 04: expected 2, got %d", s.n);
	cr_assert_null(find_seen(&s, "0000:00:04.0"));
}

static void enumerate_stops_when_asked_and_reports_errors(void)
{
	struct seen s = {.stop_after = 2};

	cr_assert_eq(spio_pci_enumerate(NULL, collect, &s), 42, "callback's value expected");
	cr_assert_eq(s.n, 2, "walk must stop after the second device, saw %d", s.n);
	cr_assert_eq(spio_pci_enumerate(NULL, NULL, NULL), -EINVAL);

	pci_set_sysfs_root("/nonexistent/pci/devices");
	cr_assert_eq(spio_pci_enumerate(NULL, collect, &s), -ENOENT);
	pci_set_sysfs_root(g_sysfs);
}

Test(pci_sysfs, walk_stops_errors_and_single_lookups)
{
	enumerate_stops_when_asked_and_reports_errors();
	struct spio_pci_device_info info;
	struct spio_pci_addr a;

	cr_assert_eq(spio_pci_addr_parse(&a, "0000:00:05.0"), 0);
	cr_assert_eq(spio_pci_get_device_info(&a, &info), 0);
	cr_assert_eq(info.device_id, 0x0953);
	cr_assert_eq(spio_pci_addr_parse(&a, "0000:00:1f.0"), 0);
	cr_assert_eq(spio_pci_get_device_info(&a, &info), -ENODEV);
	cr_assert_eq(spio_pci_addr_parse(&a, "0000:00:09.0"), 0);
	cr_assert_eq(spio_pci_get_device_info(&a, &info), -EIO);
	cr_assert_eq(spio_pci_get_device_info(NULL, &info), -EINVAL);
}

/* ---- claim ---- */

static int attach(const char *bdf, struct spio_pci_device **dev)
{
	struct spio_pci_addr a;

	cr_assert_eq(spio_pci_addr_parse(&a, bdf), 0);
	*dev = NULL;
	return spio_pci_device_attach(&a, dev);
}

Test(pci_sysfs, claim_excludes_other_processes)
{
	struct spio_pci_addr a;
	int to_child[2], to_parent[2];
	char c;

	cr_assert_eq(spio_pci_addr_parse(&a, "0000:00:04.0"), 0);
	cr_assert_eq(pipe(to_child), 0);
	cr_assert_eq(pipe(to_parent), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* Child: claim, report, hold until told, exit without releasing. */
		c = pci_claim(&a) == 0 ? 'y' : 'n';
		if (write(to_parent[1], &c, 1) != 1 || read(to_child[0], &c, 1) != 1) {
			_exit(2);
		}
		_exit(0);
	}
	cr_assert_eq(read(to_parent[0], &c, 1), 1);
	cr_assert_eq(c, 'y', "child could not claim");

	int rc = pci_claim(&a);
	cr_assert_eq(rc, -EBUSY, "claim held by child %d: expected -EBUSY, got %d", pid, rc);
	struct spio_pci_device *dev;
	rc = attach("0000:00:04.0", &dev);
	cr_assert_eq(rc, -EBUSY, "attach of a device claimed elsewhere: expected -EBUSY, got %d",
		     rc);

	/* The lock file names the holder. */
	char path[PATH_MAX];
	int owner = 0;
	snprintf(path, sizeof(path), "%s/spdk_pci_lock_0000:00:04.0", g_tmp);
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &owner, sizeof(owner), 0), (ssize_t)sizeof(owner));
	close(fd);
	cr_assert_eq(owner, pid, "lock file names %d, child is %d", owner, pid);

	/* The child exits without unclaiming: the kernel drops its lock. */
	cr_assert_eq(write(to_child[1], "x", 1), 1);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	rc = pci_claim(&a);
	cr_assert_eq(rc, 0, "after the child exited: expected 0, got %d", rc);
	rc = pci_claim(&a);
	cr_assert_eq(rc, -EBUSY, "second claim in one process: expected -EBUSY, got %d", rc);
	pci_unclaim(&a);
	cr_assert_eq(pci_claim(&a), 0, "claim after unclaim");
	pci_unclaim(&a);
	for (int i = 0; i < 2; i++) {
		close(to_child[i]);
		close(to_parent[i]);
	}
}

/* ---- attach without VFIO ---- */

/* After a failed attach the claim must be free again. */
static void assert_unclaimed(const char *bdf)
{
	struct spio_pci_addr a;

	cr_assert_eq(spio_pci_addr_parse(&a, bdf), 0);
	cr_assert_eq(pci_claim(&a), 0, "%s still claimed after a failed attach", bdf);
	pci_unclaim(&a);
}

Test(pci_sysfs, attach_errors_without_vfio)
{
	struct spio_pci_device *dev;
	void *p;
	uint64_t size;
	int fds[1];
	uint32_t v;

	/* NULL devices: errors, never crashes. */
	spio_pci_device_detach(NULL);
	cr_assert_null(spio_pci_device_get_info(NULL));
	cr_assert_eq(spio_pci_device_map_bar(NULL, 0, &p, &size), -EINVAL);
	cr_assert_eq(spio_pci_device_cfg_read(NULL, &v, 4, 0), -EINVAL);
	cr_assert_eq(spio_pci_device_cfg_write(NULL, &v, 4, 0), -EINVAL);
	cr_assert_eq(spio_pci_device_enable_msix(NULL, 1, fds), -EINVAL);
	cr_assert(spio_pci_device_is_removed(NULL));

	cr_assert_eq(spio_pci_device_attach(NULL, &dev), -EINVAL);
	cr_assert_eq(attach("0000:00:1f.0", &dev), -ENODEV, "no such device");

	int rc = attach("0000:00:05.0", &dev);
	cr_assert_eq(rc, -ENOTSUP, "bound to nvme: expected -ENOTSUP, got %d", rc);
	cr_assert_null(dev);
	assert_unclaimed("0000:00:05.0");

	rc = attach("0000:00:07.0", &dev);
	cr_assert_eq(rc, -ENOTSUP, "vfio-pci but no IOMMU group: expected -ENOTSUP, got %d", rc);
	assert_unclaimed("0000:00:07.0");

	/* Bound to vfio-pci, with a group, but no /dev/vfio/vfio. */
	rc = attach("0000:00:04.0", &dev);
	cr_assert_eq(rc, -ENOTSUP, "no VFIO container node: expected -ENOTSUP, got %d", rc);
	assert_unclaimed("0000:00:04.0");

	/* A container node that is not VFIO (a plain file): the version check says so. */
	write_file(g_tmp, "vfio", "");
	rc = attach("0000:00:04.0", &dev);
	cr_assert_eq(rc, -ENOTSUP, "fake container: expected -ENOTSUP, got %d", rc);
	assert_unclaimed("0000:00:04.0");
}

/* ---- the process's -A / -B lists (spio_env_opts) ---- */

static int env_with_lists(const struct spio_pci_addr *allow, size_t nallow,
			  const struct spio_pci_addr *block, size_t nblock)
{
	struct spio_env_opts opts;

	spio_env_opts_init(&opts, sizeof(opts));
	opts.name = "test_pci_lists";
	opts.no_huge = true;
	opts.pci_allowed = allow;
	opts.num_pci_allowed = nallow;
	opts.pci_blocked = block;
	opts.num_pci_blocked = nblock;
	return spio_env_init(&opts);
}

static int count_devices(uint32_t class_code)
{
	struct spio_pci_filter f = {.class_code = class_code};
	struct seen s = {0};

	cr_assert_eq(spio_pci_enumerate(&f, collect, &s), 0);
	return s.n;
}

static void blocked_list(void)
{
	struct spio_pci_device *dev;
	struct spio_pci_addr a04;

	cr_assert_eq(spio_pci_addr_parse(&a04, "00:04.0"), 0);
	cr_assert_eq(env_with_lists(NULL, 0, &a04, 1), 0);
	struct seen s = {0};
	cr_assert_eq(spio_pci_enumerate(NULL, collect, &s), 0);
	cr_assert_eq(s.n, 3, "-B 00:04.0 hides it: expected 3 devices, got %d", s.n);
	cr_assert_null(find_seen(&s, "0000:00:04.0"));
	cr_assert_eq(count_devices(SPIO_PCI_CLASS_NVME), 2, "and from a class walk too");

	int rc = attach("0000:00:04.0", &dev);
	cr_assert_eq(rc, -ENODEV, "blocked device: expected -ENODEV, got %d", rc);
	cr_assert_null(dev);
	assert_unclaimed("0000:00:04.0");
	rc = attach("0000:00:05.0", &dev);
	cr_assert_eq(rc, -ENOTSUP, "not blocked: fails on its driver (nvme), got %d", rc);

	spio_env_fini();
	cr_assert_eq(count_devices(0), 4, "env fini forgets the list");
}

Test(pci_sysfs, env_lists_hide_and_refuse_devices)
{
	blocked_list();

	struct spio_pci_device *dev;
	struct spio_pci_addr a05;
	cr_assert_eq(spio_pci_addr_parse(&a05, "00:05.0"), 0);
	cr_assert_eq(env_with_lists(&a05, 1, NULL, 0), 0);
	cr_assert_eq(count_devices(0), 1, "-A 00:05.0 shows only it");
	cr_assert_eq(attach("0000:00:04.0", &dev), -ENODEV, "not in the allow list");
	cr_assert_eq(attach("0000:00:05.0", &dev), -ENOTSUP, "allowed: fails on its driver");
	spio_env_fini();

	/* SPDK's rule: both lists at once are refused, and nothing stays. */
	cr_assert_eq(env_with_lists(&a05, 1, &a05, 1), -EINVAL);
	cr_assert(!spio_env_is_initialized());
	cr_assert_eq(count_devices(0), 4);
	cr_assert_eq(attach("0000:00:04.0", &dev), -ENOTSUP, "no list left behind: VFIO's error");
	cr_assert_eq(env_with_lists(NULL, 0, NULL, 2), -EINVAL, "a count without addresses");
	cr_assert_eq(count_devices(0), 4);

	/* SPDK's --no-pci: no device at all. */
	struct spio_env_opts opts;
	spio_env_opts_init(&opts, sizeof(opts));
	opts.name = "test_pci_none";
	opts.no_huge = true;
	opts.no_pci = true;
	cr_assert_eq(spio_env_init(&opts), 0);
	cr_assert_eq(count_devices(0), 0, "--no-pci: enumeration reports nothing");
	cr_assert_eq(attach("0000:00:05.0", &dev), -ENODEV);
	spio_env_fini();
	cr_assert_eq(count_devices(0), 4);
}

/* ---- --iova-mode: checked against what spio uses, never chosen ---- */

static long g_iova_saved_nr = -1;

static void iova_fini(void)
{
	spio_env_fini();
	if (g_iova_saved_nr >= 0) {
		test_hugepages_restore(g_iova_saved_nr);
		g_iova_saved_nr = -1;
	}
}

TestSuite(env_iova, .fini = iova_fini);

static int env_with_iova(bool no_huge, const char *mode)
{
	struct spio_env_opts opts;

	spio_env_opts_init(&opts, sizeof(opts));
	opts.name = "test_pci_iova";
	opts.no_huge = no_huge;
	opts.iova_mode = mode;
	return spio_env_init(&opts);
}

Test(env_iova, no_huge_is_va_only)
{
	cr_assert_eq(env_with_iova(true, "pa"), -EINVAL, "SPDK refuses pa with no-huge");
	cr_assert(!spio_env_is_initialized());
	cr_assert_eq(env_with_iova(true, "PA"), -EINVAL, "spelling: pa or va");
	cr_assert_eq(env_with_iova(true, ""), -EINVAL);
	cr_assert_eq(env_with_iova(true, "va"), 0);
	void *p = spio_dma_malloc(4096, 0);
	cr_assert_not_null(p);
	cr_assert_eq(spio_vtophys(p, NULL), (uint64_t)(uintptr_t)p, "va: IOVA = VA");
	spio_dma_free(p);
	spio_env_fini();
	cr_assert_eq(env_with_iova(true, NULL), 0, "no mode: whatever spio uses");
}

Test(env_iova, hugepages_accept_exactly_the_mode_vtophys_gives)
{
	g_iova_saved_nr = test_hugepages_reserve(2);
	if (g_iova_saved_nr < 0) {
		cr_skip_test("cannot reserve 2 free 2 MiB hugepages (need root and free memory)");
	}
	int pa = env_with_iova(false, "pa");
	if (pa == 0) {
		spio_env_fini();
	}
	int va = env_with_iova(false, "va");
	cr_assert((pa == 0) != (va == 0), "exactly one mode must be accepted: pa %d, va %d", pa,
		  va);
	cr_assert(pa == -EINVAL || va == -EINVAL);
	if (va == 0) {
		spio_env_fini();
	}
	cr_assert_eq(env_with_iova(false, pa == 0 ? "pa" : "va"), 0);
	void *p = spio_dma_malloc(4096, 0);
	cr_assert_not_null(p);
	bool is_va = spio_vtophys(p, NULL) == (uint64_t)(uintptr_t)p;
	cr_assert_eq(is_va, va == 0, "accepted %s, but vtophys gives %s addresses",
		     pa == 0 ? "pa" : "va", is_va ? "virtual" : "physical");
	spio_dma_free(p);
}

/* ---- the DMA region's IOMMU hook ---- */

#define MAX_CALLS 64

struct hook_log {
	int maps, unmaps;
	uint64_t map_va[MAX_CALLS], map_iova[MAX_CALLS], map_len[MAX_CALLS];
	uint64_t unmap_iova[MAX_CALLS], unmap_len[MAX_CALLS];
	int fail_after; /* map calls that succeed before one fails; -1: never fails */
	int live;	/* mapped now */
};

static int fake_map(void *ctx, uint64_t va, uint64_t iova, uint64_t len)
{
	struct hook_log *h = ctx;

	if (h->fail_after >= 0 && h->maps >= h->fail_after) {
		return -EINVAL;
	}
	cr_assert_lt(h->maps, MAX_CALLS);
	h->map_va[h->maps] = va;
	h->map_iova[h->maps] = iova;
	h->map_len[h->maps] = len;
	h->maps++;
	h->live++;
	return 0;
}

static void fake_unmap(void *ctx, uint64_t iova, uint64_t len)
{
	struct hook_log *h = ctx;

	cr_assert_lt(h->unmaps, MAX_CALLS);
	h->unmap_iova[h->unmaps] = iova;
	h->unmap_len[h->unmaps] = len;
	h->unmaps++;
	h->live--;
}

static const struct dma_iommu_ops g_fake_ops = {.map = fake_map, .unmap = fake_unmap};

/* Global, not on a test's stack: the suite's fini may still call the hook. */
static struct hook_log g_h;

static void dma_env_init(void)
{
	struct spio_env_opts opts;

	spio_env_opts_init(&opts, sizeof(opts));
	opts.name = "test_pci";
	opts.no_huge = true;
	cr_assert_eq(spio_env_init(&opts), 0);
}

static void dma_env_fini(void)
{
	dma_region_clear_iommu();
	spio_env_fini();
}

TestSuite(pci_iommu, .init = dma_env_init, .fini = dma_env_fini);

/* The map call for the slot holding `p` was made with its VA and vtophys IOVA. */
static void assert_mapped(const struct hook_log *h, int call, const void *p)
{
	uint64_t slot_va = (uintptr_t)p & ~(DMA_SLOT_SIZE - 1);

	cr_assert_eq(h->map_va[call], slot_va, "call %d: va 0x%llx, expected 0x%llx", call,
		     (unsigned long long)h->map_va[call], (unsigned long long)slot_va);
	cr_assert_eq(h->map_iova[call], spio_vtophys((void *)(uintptr_t)slot_va, NULL),
		     "call %d: IOVA must be what spio_vtophys returns", call);
	cr_assert_eq(h->map_len[call], DMA_SLOT_SIZE);
}

Test(pci_iommu, hook_sees_present_and_later_slots)
{
	struct hook_log *h = &g_h;

	h->fail_after = -1;
	void *small = spio_dma_malloc(4096, 0);
	cr_assert_not_null(small);
	uint64_t small_iova = spio_vtophys(small, NULL);

	cr_assert_eq(dma_region_set_iommu(&g_fake_ops, h), 0);
	cr_assert_eq(h->maps, 1, "one present slot at registration, got %d maps", h->maps);
	assert_mapped(h, 0, small);
	cr_assert_eq(dma_region_set_iommu(&g_fake_ops, h), -EBUSY, "one hook at a time");

	/* A 4 MiB buffer takes two new slots: two maps, then two unmaps at free. */
	char *big = spio_dma_malloc(4 * MiB, 0);
	cr_assert_not_null(big);
	cr_assert_eq(h->maps, 3, "two more slots mapped, got %d maps", h->maps);
	assert_mapped(h, 1, big);
	assert_mapped(h, 2, big + DMA_SLOT_SIZE);
	uint64_t big_iova[2] = {h->map_iova[1], h->map_iova[2]};
	spio_dma_free(big);
	cr_assert_eq(h->unmaps, 2, "freeing the big buffer unmaps its 2 slots, got %d", h->unmaps);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(h->unmap_iova[i], big_iova[i], "unmap %d: wrong IOVA", i);
		cr_assert_eq(h->unmap_len[i], DMA_SLOT_SIZE);
	}

	/* Removing the hook takes the remaining slot out of the IOMMU. */
	dma_region_clear_iommu();
	cr_assert_eq(h->unmaps, 3);
	cr_assert_eq(h->unmap_iova[2], small_iova & ~(DMA_SLOT_SIZE - 1));
	cr_assert_eq(h->live, 0);
	spio_dma_free(small);
}

Test(pci_iommu, failing_map_fails_the_allocation_and_leaves_nothing)
{
	struct hook_log *h = &g_h;

	h->fail_after = 0;
	struct spio_dma_stats before, after;

	cr_assert_eq(spio_dma_get_stats(&before), 0);
	cr_assert_eq(dma_region_set_iommu(&g_fake_ops, h), 0, "no slot present: nothing to map");
	size_t mapped = g_region.mapped_slots;

	errno = 0;
	void *p = spio_dma_malloc(4096, 0);
	cr_assert_null(p, "the IOMMU refused the slot: allocation must fail");
	cr_assert_eq(errno, ENOMEM, "expected ENOMEM, got %d", errno);
	p = spio_dma_malloc(6 * MiB, 0);
	cr_assert_null(p);
	cr_assert_eq(errno, ENOMEM);
	cr_assert_eq(g_region.mapped_slots, mapped, "no slot may stay mapped");
	for (size_t i = 0; i < g_region.nslots; i++) {
		cr_assert_eq(g_region.iova[i], 0, "slot %zu has an IOVA", i);
	}
	cr_assert_eq(h->live, 0);
	cr_assert_eq(spio_dma_get_stats(&after), 0);
	cr_assert_eq(after.allocations, before.allocations);

	/* The IOMMU accepts again: allocation works. */
	h->fail_after = -1;
	p = spio_dma_malloc(4096, 0);
	cr_assert_not_null(p);
	cr_assert_eq(h->live, 1);
	spio_dma_free(p);
}

static void failed_registration_undoes_its_mappings(void)
{
	struct hook_log *h = &g_h;

	h->fail_after = 1;
	void *a = spio_dma_malloc(4096, 0);
	void *b = spio_dma_malloc(3 * MiB, 0); /* two more slots */

	cr_assert(a && b);
	int rc = dma_region_set_iommu(&g_fake_ops, h);
	cr_assert_eq(rc, -EINVAL, "the hook's error expected, got %d", rc);
	cr_assert_eq(h->maps, 1);
	cr_assert_eq(h->unmaps, 1, "the one mapping made must be undone");
	cr_assert_eq(h->live, 0);

	/* No hook is installed: frees call nothing. */
	spio_dma_free(b);
	cr_assert_eq(h->unmaps, 1);
	spio_dma_free(a);
}

Test(pci_iommu, failed_registration_and_env_fini_unmap_everything)
{
	failed_registration_undoes_its_mappings();
	memset(&g_h, 0, sizeof(g_h));
	struct hook_log *h = &g_h;

	h->fail_after = -1;
	void *a = spio_dma_malloc(3 * MiB, 0);

	cr_assert_not_null(a);
	cr_assert_eq(dma_region_set_iommu(&g_fake_ops, h), 0);
	cr_assert_eq(h->live, 2);
	spio_dma_free(a);
	cr_assert_eq(h->live, 0, "large buffers give their slots back");
	void *s = spio_dma_malloc(64, 0);
	cr_assert_eq(h->live, 1);
	(void)s;
	spio_env_fini(); /* with a buffer still allocated: memory goes, mappings first */
	cr_assert_eq(h->live, 0, "fini must unmap the remaining slot");
	dma_region_clear_iommu();
	cr_assert_eq(h->unmaps, h->maps);
}

/* Hugepage mode: the IOVA handed to the IOMMU is the physical address when
 * pagemap shows it (root), as spio_vtophys returns. */
static long g_saved_nr = -1;

static void huge_fini(void)
{
	dma_region_clear_iommu();
	spio_env_fini();
	if (g_saved_nr >= 0) {
		test_hugepages_restore(g_saved_nr);
	}
}

TestSuite(pci_iommu_huge, .fini = huge_fini);

Test(pci_iommu_huge, slots_map_at_their_iova_and_failures_unmap)
{
	struct spio_env_opts opts;
	struct hook_log *h = &g_h;

	g_saved_nr = test_hugepages_reserve(4);
	if (g_saved_nr < 0) {
		cr_skip_test("cannot reserve 4 free 2 MiB hugepages (need root and free memory)");
	}
	spio_env_opts_init(&opts, sizeof(opts));
	opts.name = "test_pci_huge";
	cr_assert_eq(spio_env_init(&opts), 0);
	if (!spio_env_hugepages_enabled()) {
		cr_skip_test("hugepages were reserved but another process took them");
	}
	h->fail_after = -1;
	void *a = spio_dma_malloc(4096, 0);
	cr_assert_not_null(a);
	cr_assert_eq(dma_region_set_iommu(&g_fake_ops, h), 0);
	cr_assert_eq(h->maps, 1);
	assert_mapped(h, 0, a);

	size_t mapped = g_region.mapped_slots;
	h->fail_after = h->maps; /* the next map fails */
	errno = 0;
	cr_assert_null(spio_dma_malloc(4 * MiB, 0));
	cr_assert_eq(errno, ENOMEM);
	cr_assert_eq(g_region.mapped_slots, mapped, "the refused hugepage must be given back");
	cr_assert_eq(h->live, 1);
	dma_region_clear_iommu();
	cr_assert_eq(h->live, 0);
	spio_dma_free(a);
}

/* ---- VFIO against a fake kernel ----
 *
 * This binary's ioctl() replaces libc's (the library is linked in
 * statically): while g_fake.on, ioctls on the files of the temporary
 * "/dev/vfio" (a plain file "vfio", group files "5", "6" and one file per
 * device) answer as VFIO would; everything else goes to the kernel. The
 * device file holds BAR0 at offset 0 and config space at CFG_OFF, so mmap,
 * pread and pwrite work on it unchanged. */

#define FAKE_BAR0_SIZE 16384
#define FAKE_CFG_OFF 0x10000
#define FAKE_CFG_SIZE 256
#define FAKE_CFG_EXT_SIZE 4096 /* a PCIe device's, when g_fake.cfg_ext */
#define FAKE_MSIX 4
#define FAKE_MAX_MAPS 64

static struct {
	bool on;
	bool group_not_viable;
	int map_error; /* errno for MAP_DMA, 0: succeed */
	int set_iommu_calls;
	int set_container_calls;
	uint64_t map_iova[FAKE_MAX_MAPS];
	uint64_t map_va[FAKE_MAX_MAPS];
	int nmaps; /* live mappings */
	int total_maps;
	int msix_count; /* vectors enabled */
	int req_fd;	/* eventfd given for the device request, -1 none */
	bool cfg_ext;	/* devices attached now have 4 KiB of config space */
} g_fake;

/* What the fd is: 'c'ontainer, 'g'roup, 'd'evice, or 0. */
static char fake_kind(int fd)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0) {
		return 0;
	}
	path[n] = '\0';
	size_t tl = strlen(g_tmp);
	if (strncmp(path, g_tmp, tl) != 0 || path[tl] != '/') {
		return 0;
	}
	const char *base = path + tl + 1;
	if (strcmp(base, "vfio") == 0) {
		return 'c';
	}
	if (strncmp(base, "dev-", 4) == 0) {
		return 'd';
	}
	return base[0] >= '0' && base[0] <= '9' ? 'g' : 0;
}

static int fake_fail(int err)
{
	errno = err;
	return -1;
}

static int fake_container(unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return (uintptr_t)arg == VFIO_TYPE1v2_IOMMU || (uintptr_t)arg == VFIO_TYPE1_IOMMU;
	case VFIO_SET_IOMMU:
		g_fake.set_iommu_calls++;
		return 0;
	case VFIO_IOMMU_GET_INFO:
		((struct vfio_iommu_type1_info *)arg)->flags = 0;
		return 0;
	case VFIO_IOMMU_MAP_DMA: {
		struct vfio_iommu_type1_dma_map *m = arg;
		if (g_fake.map_error) {
			return fake_fail(g_fake.map_error);
		}
		cr_assert_eq(m->size, DMA_SLOT_SIZE, "one slot per mapping");
		cr_assert_eq(m->flags, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
		for (int i = 0; i < g_fake.nmaps; i++) {
			cr_assert_neq(g_fake.map_iova[i], m->iova, "IOVA 0x%llx mapped twice",
				      (unsigned long long)m->iova);
		}
		cr_assert_lt(g_fake.nmaps, FAKE_MAX_MAPS);
		g_fake.map_va[g_fake.nmaps] = m->vaddr;
		g_fake.map_iova[g_fake.nmaps++] = m->iova;
		g_fake.total_maps++;
		return 0;
	}
	case VFIO_IOMMU_UNMAP_DMA: {
		struct vfio_iommu_type1_dma_unmap *u = arg;
		for (int i = 0; i < g_fake.nmaps; i++) {
			if (g_fake.map_iova[i] == u->iova) {
				g_fake.nmaps--;
				g_fake.map_iova[i] = g_fake.map_iova[g_fake.nmaps];
				g_fake.map_va[i] = g_fake.map_va[g_fake.nmaps];
				return 0;
			}
		}
		u->size = 0;
		return fake_fail(EINVAL);
	}
	}
	return fake_fail(ENOTTY);
}

static int fake_group(unsigned long req, void *arg)
{
	char path[PATH_MAX];

	switch (req) {
	case VFIO_GROUP_GET_STATUS:
		((struct vfio_group_status *)arg)->flags =
		    g_fake.group_not_viable ? 0 : VFIO_GROUP_FLAGS_VIABLE;
		return 0;
	case VFIO_GROUP_SET_CONTAINER:
		cr_assert_eq(fake_kind(*(int *)arg), 'c', "SET_CONTAINER needs the container fd");
		g_fake.set_container_calls++;
		return 0;
	case VFIO_GROUP_GET_DEVICE_FD:
		snprintf(path, sizeof(path), "%s/dev-%s", g_tmp, (const char *)arg);
		return open(path, O_RDWR | O_CLOEXEC);
	}
	return fake_fail(ENOTTY);
}

static int fake_device_ioctl(unsigned long req, void *arg)
{
	switch (req) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info *di = arg;
		di->flags = VFIO_DEVICE_FLAGS_PCI;
		di->num_regions = VFIO_PCI_NUM_REGIONS;
		di->num_irqs = VFIO_PCI_NUM_IRQS;
		return 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info *ri = arg;
		ri->flags = 0;
		ri->size = 0;
		ri->offset = 0;
		if (ri->index == VFIO_PCI_BAR0_REGION_INDEX) {
			ri->size = FAKE_BAR0_SIZE;
			ri->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
				    VFIO_REGION_INFO_FLAG_MMAP;
		} else if (ri->index == VFIO_PCI_BAR2_REGION_INDEX) {
			ri->size = 256; /* an I/O port BAR: no mmap */
			ri->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		} else if (ri->index == VFIO_PCI_CONFIG_REGION_INDEX) {
			ri->size = g_fake.cfg_ext ? FAKE_CFG_EXT_SIZE : FAKE_CFG_SIZE;
			ri->offset = FAKE_CFG_OFF;
			ri->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		}
		return 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info *ii = arg;
		ii->count = ii->index == VFIO_PCI_MSIX_IRQ_INDEX  ? FAKE_MSIX
			    : ii->index == VFIO_PCI_REQ_IRQ_INDEX ? 1
								  : 0;
		return 0;
	}
	case VFIO_DEVICE_SET_IRQS: {
		struct vfio_irq_set *s = arg;
		bool eventfds = s->flags & VFIO_IRQ_SET_DATA_EVENTFD;
		if (s->index == VFIO_PCI_MSIX_IRQ_INDEX) {
			cr_assert(s->count <= FAKE_MSIX);
			cr_assert(!eventfds || g_fake.msix_count == 0,
				  "MSI-X must be off before a new block");
			g_fake.msix_count = eventfds ? (int)s->count : 0;
		} else if (s->index == VFIO_PCI_REQ_IRQ_INDEX) {
			g_fake.req_fd = eventfds ? *(int32_t *)s->data : -1;
		}
		return 0;
	}
	}
	return fake_fail(ENOTTY);
}

int ioctl(int fd, unsigned long req, ...);
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	switch (g_fake.on ? fake_kind(fd) : 0) {
	case 'c':
		return fake_container(req, arg);
	case 'g':
		return fake_group(req, arg);
	case 'd':
		return fake_device_ioctl(req, arg);
	}
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

/* Every live IOMMU mapping is at the IOVA spio_vtophys gives its slot (the
 * hook runs before the region records the IOVA, so check afterwards). */
static void assert_fake_maps_match_vtophys(void)
{
	for (int i = 0; i < g_fake.nmaps; i++) {
		uint64_t want = spio_vtophys((void *)(uintptr_t)g_fake.map_va[i], NULL);
		cr_assert_eq(g_fake.map_iova[i], want, "mapping %d: IOVA 0x%llx, vtophys 0x%llx", i,
			     (unsigned long long)g_fake.map_iova[i], (unsigned long long)want);
	}
}

static void fake_file(const char *name, off_t size)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", g_tmp, name);
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(ftruncate(fd, size), 0);
	close(fd);
}

static void fake_vfio_setup(void)
{
	sysfs_setup();
	fake_device("0000:00:0a.0", "0x1b36\n", "0x0010\n", "0x010802\n", "0\n", "vfio-pci", 5);
	fake_device("0000:00:0b.0", "0x1b36\n", "0x0010\n", "0x010802\n", "0\n", "vfio-pci", 6);
	fake_file("vfio", 0);
	fake_file("5", 0);
	fake_file("6", 0);
	fake_file("dev-0000:00:04.0", FAKE_CFG_OFF + FAKE_CFG_EXT_SIZE);
	fake_file("dev-0000:00:0a.0", FAKE_CFG_OFF + FAKE_CFG_EXT_SIZE);
	fake_file("dev-0000:00:0b.0", FAKE_CFG_OFF + FAKE_CFG_EXT_SIZE);
	g_fake.req_fd = -1;
	g_fake.on = true;
	dma_env_init();
}

static void fake_vfio_teardown(void)
{
	spio_env_fini();
	g_fake.on = false;
	sysfs_teardown();
}

TestSuite(pci_fake_vfio, .init = fake_vfio_setup, .fini = fake_vfio_teardown);

Test(pci_fake_vfio, attach_maps_dma_bars_config_and_detach_undoes_it)
{
	struct spio_pci_device *dev, *dev2, *dev3;
	void *early = spio_dma_malloc(4096, 0);

	cr_assert_not_null(early);
	int rc = attach("0000:00:04.0", &dev);
	cr_assert_eq(rc, 0, "attach: expected 0, got %d", rc);
	cr_assert_eq(g_fake.set_iommu_calls, 1);
	cr_assert_eq(g_fake.nmaps, 1, "the present slot goes into the IOMMU at attach");
	assert_fake_maps_match_vtophys();
	cr_assert_str_eq(spio_pci_device_get_info(dev)->driver, "vfio-pci");

	/* Bus master and memory space enabled in the command register. */
	uint16_t cmd = 0;
	cr_assert_eq(spio_pci_device_cfg_read(dev, &cmd, 2, 4), 0);
	cr_assert_eq(cmd & 0x6, 0x6, "command register 0x%x", cmd);
	uint32_t v = 0x12345678, back = 0;
	cr_assert_eq(spio_pci_device_cfg_write(dev, &v, 4, 0x40), 0);
	cr_assert_eq(spio_pci_device_cfg_read(dev, &back, 4, 0x40), 0);
	cr_assert_eq(back, v);
	cr_assert_eq(spio_pci_device_cfg_read(dev, &back, 4, FAKE_CFG_SIZE - 2), -EINVAL);

	/* BARs: 0 maps (once), 1 is absent, 2 is not mappable, 6 does not exist. */
	void *bar, *bar_again;
	uint64_t size;
	cr_assert_eq(spio_pci_device_map_bar(dev, 0, &bar, &size), 0);
	cr_assert_eq(size, FAKE_BAR0_SIZE);
	((volatile uint32_t *)bar)[1] = 0xabcd;
	cr_assert_eq(spio_pci_device_map_bar(dev, 0, &bar_again, &size), 0);
	cr_assert_eq(bar_again, bar, "a BAR is mapped once");
	cr_assert_eq(spio_pci_device_map_bar(dev, 1, &bar, &size), -ENODEV);
	cr_assert_eq(spio_pci_device_map_bar(dev, 2, &bar, &size), -ENOTSUP);
	cr_assert_eq(spio_pci_device_map_bar(dev, 6, &bar, &size), -EINVAL);

	/* Same group: no new container setup. Another group: joins the container. */
	cr_assert_eq(attach("0000:00:0a.0", &dev2), 0);
	cr_assert_eq(attach("0000:00:0b.0", &dev3), 0);
	cr_assert_eq(g_fake.set_container_calls, 2, "groups 5 and 6");
	cr_assert_eq(g_fake.set_iommu_calls, 1, "the IOMMU type is set once");
	struct spio_pci_device *again;
	cr_assert_eq(attach("0000:00:04.0", &again), -EBUSY, "attached already");

	/* DMA memory allocated now is mapped at once, and unmapped when freed. */
	void *big = spio_dma_malloc(4 * MiB, 0);
	cr_assert_not_null(big);
	cr_assert_eq(g_fake.nmaps, 3);
	assert_fake_maps_match_vtophys();
	spio_dma_free(big);
	cr_assert_eq(g_fake.nmaps, 1);

	spio_pci_device_detach(dev2);
	spio_pci_device_detach(dev3);
	cr_assert_eq(g_fake.nmaps, 1, "a device is still attached: memory stays mapped");
	spio_pci_device_detach(dev);
	cr_assert_eq(g_fake.nmaps, 0, "the last detach takes DMA memory out of the IOMMU");
	assert_unclaimed("0000:00:04.0");

	/* A new container after the last one closed: memory is mapped again. */
	cr_assert_eq(attach("0000:00:04.0", &dev), 0);
	cr_assert_eq(g_fake.set_iommu_calls, 2);
	cr_assert_eq(g_fake.nmaps, 1);
	spio_pci_device_detach(dev);
	spio_dma_free(early);
}

static void msix_and_removal(void)
{
	struct spio_pci_device *dev;
	int fds[FAKE_MSIX + 1];

	cr_assert_eq(attach("0000:00:04.0", &dev), 0);
	cr_assert_geq(g_fake.req_fd, 0, "the device request eventfd is armed at attach");
	cr_assert_eq(spio_pci_device_enable_msix(dev, FAKE_MSIX + 1, fds), -EINVAL);
	cr_assert_eq(spio_pci_device_enable_msix(dev, 2, fds), 0);
	cr_assert_eq(g_fake.msix_count, 2);
	cr_assert_eq(spio_pci_device_enable_msix(dev, 3, fds), 0, "re-enable with more vectors");
	cr_assert_eq(g_fake.msix_count, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(eventfd_write(fds[i], 1), 0, "vector %d's eventfd", i);
	}

	cr_assert(!spio_pci_device_is_removed(dev));
	cr_assert_eq(eventfd_write(g_fake.req_fd, 1), 0);
	cr_assert(spio_pci_device_is_removed(dev), "VFIO's request means removed");
	cr_assert(spio_pci_device_is_removed(dev), "and stays so");
	spio_pci_device_detach(dev);
	cr_assert_eq(g_fake.msix_count, 0, "detach disables MSI-X");
	cr_assert_eq(g_fake.req_fd, -1, "detach disarms the request");
}

Test(pci_fake_vfio, msix_and_removal_by_request_or_sysfs)
{
	msix_and_removal();
	struct spio_pci_device *dev;
	char dir[PATH_MAX];

	cr_assert_eq(attach("0000:00:0b.0", &dev), 0);
	cr_assert(!spio_pci_device_is_removed(dev));
	snprintf(dir, sizeof(dir), "%s/0000:00:0b.0", g_sysfs);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	/* The sysfs check is rate-limited to every 100 ms: bounded wait. */
	bool removed = false;
	for (int i = 0; i < 100 && !removed; i++) {
		removed = spio_pci_device_is_removed(dev);
		usleep(10 * 1000);
	}
	cr_assert(removed, "sysfs entry gone, device not reported removed within 1 s");
	spio_pci_device_detach(dev);
}

Test(pci_fake_vfio, attach_failures_release_everything)
{
	struct spio_pci_device *dev;
	void *early = spio_dma_malloc(4096, 0);

	g_fake.group_not_viable = true;
	int rc = attach("0000:00:04.0", &dev);
	cr_assert_eq(rc, -ENOTSUP, "group not viable: expected -ENOTSUP, got %d", rc);
	assert_unclaimed("0000:00:04.0");
	g_fake.group_not_viable = false;

	/* The IOMMU refuses the present DMA memory: attach fails, nothing stays. */
	g_fake.map_error = EINVAL;
	rc = attach("0000:00:04.0", &dev);
	cr_assert_eq(rc, -ENOMEM, "IOMMU mapping failed: expected -ENOMEM, got %d", rc);
	cr_assert_eq(g_fake.nmaps, 0);
	assert_unclaimed("0000:00:04.0");
	g_fake.map_error = 0;

	/* And it all works afterwards. */
	cr_assert_eq(attach("0000:00:04.0", &dev), 0);
	cr_assert_eq(g_fake.nmaps, 1);

	/* The IOMMU refusing a later slot fails that allocation only. */
	g_fake.map_error = ENOSPC;
	errno = 0;
	cr_assert_null(spio_dma_malloc(4 * MiB, 0));
	cr_assert_eq(errno, ENOMEM);
	g_fake.map_error = 0;
	spio_pci_device_detach(dev);
	cr_assert_eq(g_fake.nmaps, 0);
	spio_dma_free(early);
}

/* ---- the attached-device list and framework_get_pci_devices ---- */

struct walk {
	int n;
	int stop_at; /* 0: never */
	char bdf[4][SPIO_PCI_ADDR_STRLEN];
	const char *type[4];
};

static int walk_cb(void *arg, struct spio_pci_device *dev)
{
	struct walk *w = arg;

	cr_assert_lt(w->n, 4);
	spio_pci_addr_fmt(w->bdf[w->n], sizeof(w->bdf[0]), &spio_pci_device_get_info(dev)->addr);
	w->type[w->n] = spio_pci_device_get_type(dev);
	w->n++;
	return w->stop_at && w->n == w->stop_at ? 7 : 0;
}

static void for_each_lists_attached_devices(struct spio_pci_device **d04,
					    struct spio_pci_device **d0a)
{
	struct walk w = {0};

	cr_assert_eq(spio_pci_for_each_device(walk_cb, &w), 0);
	cr_assert_eq(w.n, 0, "nothing attached yet");
	cr_assert_eq(attach("0000:00:04.0", d04), 0);
	g_fake.cfg_ext = true; /* 0a.0 is a PCIe device with extended config space */
	cr_assert_eq(attach("0000:00:0a.0", d0a), 0);
	g_fake.cfg_ext = false;
	cr_assert_str_eq(spio_pci_device_get_type(*d04), "unknown", "no driver named yet");
	spio_pci_device_set_type(*d04, "nvme");
	spio_pci_device_set_type(*d04, NULL); /* ignored */
	cr_assert_null(spio_pci_device_get_type(NULL));

	cr_assert_eq(spio_pci_for_each_device(walk_cb, &w), 0);
	cr_assert_eq(w.n, 2);
	cr_assert_str_eq(w.bdf[0], "0000:00:04.0", "oldest first");
	cr_assert_str_eq(w.type[0], "nvme");
	cr_assert_str_eq(w.bdf[1], "0000:00:0a.0");
	cr_assert_str_eq(w.type[1], "unknown");
	memset(&w, 0, sizeof(w));
	w.stop_at = 1;
	cr_assert_eq(spio_pci_for_each_device(walk_cb, &w), 7, "the callback's value stops it");
	cr_assert_eq(w.n, 1);
	cr_assert_eq(spio_pci_for_each_device(NULL, NULL), -EINVAL);
}

struct rpc_reply {
	int calls;
	int code;
	char msg[256];
	struct spio_json_val *result;
};

static void rpc_reply_cb(void *ctx, int code, const char *msg, const struct spio_json_val *result)
{
	struct rpc_reply *r = ctx;

	r->calls++;
	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
	r->result = result ? spio_json_val_ref(result) : NULL;
}

static void call_get_pci_devices(struct spio_thread *t, const char *params, struct rpc_reply *r)
{
	struct spio_json_val *p = NULL;

	memset(r, 0, sizeof(*r));
	if (params != NULL) {
		p = spio_json_parse(params, strlen(params), NULL, 0);
		cr_assert_not_null(p);
	}
	cr_assert_eq(spio_rpc_call("framework_get_pci_devices", p, rpc_reply_cb, r), 0);
	for (int i = 0; i < 1000 && r->calls == 0; i++) {
		spio_thread_poll(t, 0, 0);
	}
	cr_assert_eq(r->calls, 1);
	spio_json_val_free(p);
}

/* One entry of the answer: address, type, numa_id and config space of `len` bytes. */
static const char *check_entry(const struct spio_json_val *e, const char *bdf, const char *type,
			       size_t len)
{
	int64_t numa = -2;

	cr_assert_str_eq(spio_json_string(spio_json_object_get(e, "address")), bdf);
	cr_assert_str_eq(spio_json_string(spio_json_object_get(e, "type")), type);
	cr_assert_eq(spio_json_integer(spio_json_object_get(e, "numa_id"), &numa), 0);
	cr_assert_eq(numa, 0, "%s: numa_id from sysfs", bdf);
	const char *cfg = spio_json_string(spio_json_object_get(e, "config_space"));
	cr_assert_not_null(cfg);
	cr_assert_eq(strlen(cfg), 2 * len, "%s: %zu hex digits expected, got %zu", bdf, 2 * len,
		     strlen(cfg));
	cr_assert_eq(strspn(cfg, "0123456789ABCDEF"), strlen(cfg), "%s: upper-case hex", bdf);
	return cfg;
}

Test(pci_fake_vfio, device_list_and_framework_get_pci_devices)
{
	struct spio_pci_device *d04, *d0a;
	struct rpc_reply r;

	for_each_lists_attached_devices(&d04, &d0a);
	/* Config bytes to find in the answer: vendor 0x1b36 at 0, 0xAB at 0x3f;
	 * 0a.0's extended space says something at 0x100, so all 4 KiB show. */
	uint16_t vendor = 0x1b36;
	uint8_t b = 0xab;
	cr_assert_eq(spio_pci_device_cfg_write(d04, &vendor, 2, 0), 0);
	cr_assert_eq(spio_pci_device_cfg_write(d04, &b, 1, 0x3f), 0);
	cr_assert_eq(spio_pci_device_cfg_write(d0a, &b, 1, 0x100), 0);

	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	struct spio_thread *t = spio_thread_create("pci_rpc", NULL);
	cr_assert_not_null(t);
	spio_set_thread(t);
	spio_rpc_set_state(SPIO_RPC_RUNTIME);

	call_get_pci_devices(t, NULL, &r);
	cr_assert_eq(r.code, 0, "got %d \"%s\"", r.code, r.msg);
	cr_assert(spio_json_is_array(r.result));
	cr_assert_eq(spio_json_array_size(r.result), 2);
	const char *cfg =
	    check_entry(spio_json_array_get(r.result, 0), "0000:00:04.0", "nvme", 256);
	cr_assert_eq(strncmp(cfg, "361B", 4), 0, "vendor id little-endian first: %.8s", cfg);
	cr_assert_eq(strncmp(cfg + 2 * 0x3f, "AB", 2), 0);
	cfg = check_entry(spio_json_array_get(r.result, 1), "0000:00:0a.0", "unknown", 4096);
	cr_assert_eq(strncmp(cfg + 2 * 0x100, "AB", 2), 0);
	spio_json_val_free(r.result);

	/* SPDK's refusal of any params, its words. */
	call_get_pci_devices(t, "{\"x\": 1}", &r);
	cr_assert_eq(r.code, SPIO_JSONRPC_ERROR_INVALID_PARAMS);
	cr_assert_str_eq(r.msg, "framework_get_pci_devices doesn't accept any parameters.\n");
	cr_assert_null(r.result);

	/* Detached devices leave the answer; 0a.0's extended space all zero now
	 * (and no longer reported) is checked on a fresh attach. */
	spio_pci_device_detach(d04);
	b = 0;
	cr_assert_eq(spio_pci_device_cfg_write(d0a, &b, 1, 0x100), 0);
	call_get_pci_devices(t, NULL, &r);
	cr_assert_eq(spio_json_array_size(r.result), 1);
	check_entry(spio_json_array_get(r.result, 0), "0000:00:0a.0", "unknown", 256);
	spio_json_val_free(r.result);
	spio_pci_device_detach(d0a);
	call_get_pci_devices(t, NULL, &r);
	cr_assert_eq(spio_json_array_size(r.result), 0, "nothing attached: []");
	spio_json_val_free(r.result);

	spio_thread_exit(t);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(t); i++) {
		spio_thread_poll(t, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(t);
	spio_thread_lib_fini();
}
