/*
 * spio_mkfs CONFIG.json BDEV [-C cluster_size] [--no-huge]
 *
 * Makes an empty BlobFS on BDEV (SPDK's test/blobfs/mkfs): the app runs
 * the configuration that creates the bdevs, spio_fs_init() writes the
 * blobstore, spio_fs_unload() closes it. Exit 0 with one line naming the
 * geometry, 1 with a message on any failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/bdev_module.h"
#include "spio/blob_bdev.h"
#include "spio/blobfs.h"

#define NAME "spio_mkfs"

static struct {
	const char *config;
	const char *bdev;
	uint32_t cluster_sz;
	bool no_huge;
	bool interrupted;
	uint64_t clusters;
	uint64_t cluster_size;
} g;

/* Nothing else may write the bdev while the filesystem is made. */
static struct spio_bdev_module g_claim_module = {.name = NAME};

static void usage(void)
{
	fprintf(stderr, "usage: " NAME " CONFIG.json BDEV [-C cluster_size] [--no-huge]\n"
			"  Makes an empty BlobFS on bdev BDEV (everything on it is lost).\n"
			"  CONFIG.json creates the bdevs (SPDK JSON configuration).\n"
			"  -C  cluster size in bytes (suffix k or m allowed); default 1 MiB.\n");
}

static void unloaded(void *arg, int fserrno)
{
	(void)arg;
	if (fserrno != 0) {
		fprintf(stderr, NAME ": %s: unloading the new filesystem failed: %s\n", g.bdev,
			strerror(-fserrno));
		spio_app_stop(1);
		return;
	}
	printf(NAME ": %s: BlobFS with %" PRIu64 " clusters of %" PRIu64 " bytes\n", g.bdev,
	       g.clusters, g.cluster_size);
	fflush(stdout);
	spio_app_stop(0);
}

static void inited(void *arg, struct spio_filesystem *fs, int fserrno)
{
	struct spio_fs_stat st;

	(void)arg;
	if (fserrno != 0) {
		fprintf(stderr, NAME ": %s: cannot make the filesystem: %s\n", g.bdev,
			fserrno == -EINVAL   ? "bad cluster size for this device"
			: fserrno == -ENOSPC ? "the device is too small"
					     : strerror(-fserrno));
		spio_app_stop(1);
		return;
	}
	spio_fs_get_stat(fs, &st);
	g.clusters = st.total_clusters;
	g.cluster_size = st.cluster_size;
	spio_fs_unload(fs, unloaded, NULL);
}

static void examined(void *arg)
{
	struct spio_blobfs_opts opts;
	struct spio_bs_dev *dev;
	int rc;

	(void)arg;
	if (g.interrupted) {
		fprintf(stderr, NAME ": interrupted before anything was written\n");
		spio_app_stop(1);
		return;
	}
	rc = spio_bdev_create_bs_dev(g.bdev, true, NULL, NULL, &dev);
	if (rc != 0) {
		fprintf(stderr, NAME ": bdev %s: %s\n", g.bdev,
			rc == -ENODEV  ? "no such bdev in the configuration"
			: rc == -EPERM ? "claimed by another module"
				       : strerror(-rc));
		spio_app_stop(1);
		return;
	}
	rc = spio_bs_bdev_claim(dev, &g_claim_module);
	if (rc != 0) {
		fprintf(stderr, NAME ": bdev %s: cannot claim it: %s\n", g.bdev, strerror(-rc));
		dev->destroy(dev);
		spio_app_stop(1);
		return;
	}
	spio_fs_opts_init(&opts, sizeof(opts));
	if (g.cluster_sz != 0) {
		opts.cluster_sz = g.cluster_sz;
	}
	spio_fs_init(dev, &opts, inited, NULL);
}

/* SIGINT / SIGTERM: once spio_fs_init() started, it finishes (a half-made
 * blobstore would be worse than a whole one). */
static void mkfs_shutdown(void)
{
	g.interrupted = true;
}

static void start(void *arg)
{
	int rc = spio_bdev_wait_for_examine(examined, arg);

	if (rc != 0) {
		fprintf(stderr, NAME ": cannot wait for the bdevs: %s\n", strerror(-rc));
		spio_app_stop(1);
	}
}

/* "65536", "64k", "1m": bytes, at most 4 GiB - 1. */
static int parse_size(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || s[0] == '-') {
		return -1;
	}
	if (*end == 'k' || *end == 'K') {
		v *= 1024;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		v *= 1024 * 1024;
		end++;
	}
	if (*end != '\0' || v == 0 || v > UINT32_MAX) {
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse(int argc, char **argv)
{
	const char *pos[2];
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-C") == 0) {
			if (i + 1 >= argc || parse_size(argv[i + 1], &g.cluster_sz) != 0) {
				fprintf(stderr, NAME ": -C needs a cluster size in bytes\n");
				return -1;
			}
			i++;
		} else if (strcmp(argv[i], "--no-huge") == 0) {
			g.no_huge = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage();
			exit(0);
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, NAME ": unknown option %s\n", argv[i]);
			return -1;
		} else if (npos < 2) {
			pos[npos++] = argv[i];
		} else {
			fprintf(stderr, NAME ": too many arguments (%s)\n", argv[i]);
			return -1;
		}
	}
	if (npos != 2) {
		fprintf(stderr, NAME ": expected CONFIG.json BDEV\n");
		return -1;
	}
	g.config = pos[0];
	g.bdev = pos[1];
	return 0;
}

int main(int argc, char **argv)
{
	struct spio_app_opts opts;
	int rc;

	if (parse(argc, argv) != 0) {
		usage();
		return 1;
	}
	if (access(g.config, R_OK) != 0) {
		fprintf(stderr, NAME ": config file %s: %s\n", g.config, strerror(errno));
		return 1;
	}
	spio_app_opts_init(&opts, sizeof(opts));
	opts.name = NAME;
	opts.reactor_mask = "0x1";
	opts.rpc_addr = NULL;
	opts.json_config_file = g.config;
	opts.no_huge = g.no_huge;
	opts.shutdown_cb = mkfs_shutdown;
	rc = spio_app_start(&opts, start, NULL);
	if (rc < 0) {
		fprintf(stderr, NAME ": start-up failed (JSON configuration %s): %s\n", g.config,
			strerror(-rc));
		return 1;
	}
	return rc == 0 ? 0 : 1;
}
