/*
 * spio_fuse CONFIG.json BDEV MOUNTPOINT [--no-huge] [-- FUSE options]
 *
 * Mounts the BlobFS on BDEV at MOUNTPOINT (SPDK's test/blobfs/fuse). The app
 * thread runs the configuration, opens and claims the bdev, loads the
 * filesystem (it is the fs thread) and mounts; a mount thread runs libfuse's
 * multi-threaded loop, whose workers call the synchronous API. The loop ends
 * on `fusermount3 -u` or on SIGINT / SIGTERM (shutdown_cb exits the session
 * and detaches the mount); the mount thread then closes what is still open
 * and hands back to the app thread, which unloads and stops the app.
 */
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/bdev_module.h"
#include "spio/blob_bdev.h"

#include "fusefs.h"

#define NAME "spio_fuse"

extern char **environ;

static struct {
	const char *config;
	const char *bdev;
	const char *mountpoint;
	bool no_huge;
	int fuse_argc;
	char **fuse_argv;

	struct fuse *fuse;
	pthread_t mount_tid;
	bool mount_started;
	pthread_t umount_tid;
	bool umount_started;
	int loop_rc;
	/* Set by shutdown_cb on the app thread; checked on the app thread. */
	bool stopping;
	/* Guards `fuse` against shutdown_cb once the loop has ended. */
	pthread_mutex_t lock;
	bool loop_done;
	struct spio_msg done_msg;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Claims the bdev: nothing else may write it while it is mounted. */
static struct spio_bdev_module g_claim_module = {.name = NAME};

static void usage(void)
{
	fprintf(stderr,
		"usage: " NAME " CONFIG.json BDEV MOUNTPOINT [--no-huge] [-- FUSE options]\n"
		"  Mounts the BlobFS on bdev BDEV (made by spio_mkfs) at MOUNTPOINT.\n"
		"  CONFIG.json creates the bdevs (SPDK JSON configuration).\n"
		"  Unmount with `fusermount3 -u MOUNTPOINT`, Ctrl-C or SIGTERM.\n");
}

static void unloaded(void *arg, int fserrno)
{
	(void)arg;
	if (fserrno != 0) {
		fprintf(stderr, NAME ": %s: unloading the filesystem failed: %s\n", g.bdev,
			strerror(-fserrno));
		spio_app_stop(1);
		return;
	}
	spio_app_stop(g.loop_rc == 0 ? 0 : 1);
}

static void unload_and_stop(int rc)
{
	g.loop_rc = rc;
	if (g_fuse_fs == NULL) {
		spio_app_stop(rc == 0 ? 0 : 1);
		return;
	}
	spio_fs_unload(g_fuse_fs, unloaded, NULL);
}

/* On the app thread, once the mount thread is done with the filesystem. */
static void loop_finished(void *arg)
{
	(void)arg;
	unload_and_stop(g.loop_rc);
}

static void *mount_thread(void *arg)
{
	struct spio_fs_thread_ctx *ctx;
	unsigned left;
	int rc;

	(void)arg;
	rc = fuse_loop_mt(g.fuse, 0);
	if (rc != 0) {
		fprintf(stderr, NAME ": the FUSE loop failed (%d)\n", rc);
	}
	pthread_mutex_lock(&g.lock);
	g.loop_done = true;
	pthread_mutex_unlock(&g.lock);

	/* Files the kernel did not release (the mount went away under them). */
	ctx = fuse_ctx();
	if (ctx == NULL) {
		fprintf(stderr, NAME ": out of memory closing the open files\n");
		rc = 1;
	} else {
		left = fh_close_all(ctx);
		if (left > 0) {
			fprintf(stderr, NAME ": closed %u file(s) left open\n", left);
		}
	}
	fuse_ctx_fini();
	fuse_unmount(g.fuse);
	fuse_destroy(g.fuse);
	g.fuse = NULL;
	printf(NAME ": unmounted %s from %s\n", g.bdev, g.mountpoint);
	fflush(stdout);

	g.loop_rc = rc;
	/* Embedded: this message must not fail for lack of memory (the
	 * filesystem would stay loaded). The app thread waits for it. */
	rc = spio_thread_send_msg_embedded(spio_fs_get_thread(g_fuse_fs), &g.done_msg,
					   loop_finished, NULL);
	if (rc != 0) {
		fprintf(stderr, NAME ": cannot reach the app thread: %s\n", strerror(-rc));
		spio_app_stop(1);
	}
	return NULL;
}

/* Detach the mount so the loop's reads end (as `fusermount3 -u -z`). */
static void *umount_thread(void *arg)
{
	char *argv[] = {"fusermount3", "-u", "-z", (char *)g.mountpoint, NULL};
	pid_t pid;
	int status;

	(void)arg;
	if (geteuid() == 0) {
		if (umount2(g.mountpoint, MNT_DETACH) != 0) {
			fprintf(stderr, NAME ": unmounting %s: %s\n", g.mountpoint,
				strerror(errno));
		}
		return NULL;
	}
	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
		fprintf(stderr, NAME ": cannot run fusermount3 to unmount %s\n", g.mountpoint);
		return NULL;
	}
	waitpid(pid, &status, 0);
	return NULL;
}

static void fuse_shutdown(void)
{
	g.stopping = true;
	if (!g.mount_started) {
		/* Still starting: the step in progress sees `stopping`. */
		return;
	}
	pthread_mutex_lock(&g.lock);
	if (!g.loop_done) {
		fuse_session_exit(fuse_get_session(g.fuse));
		if (!g.umount_started &&
		    spio_app_spawn_unaffinitized(umount_thread, NULL, &g.umount_tid) == 0) {
			g.umount_started = true;
		}
	}
	pthread_mutex_unlock(&g.lock);
}

/* Stacking a second mount on a busy mount point hides the first. */
static int check_mountpoint(void)
{
	char parent[4096];
	struct stat st, pst;

	if (stat(g.mountpoint, &st) != 0) {
		fprintf(stderr, NAME ": mount point %s: %s\n", g.mountpoint, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, NAME ": mount point %s: not a directory\n", g.mountpoint);
		return -1;
	}
	snprintf(parent, sizeof(parent), "%s/..", g.mountpoint);
	if (stat(parent, &pst) == 0 && pst.st_dev != st.st_dev) {
		fprintf(stderr, NAME ": mount point %s is busy (something is mounted there)\n",
			g.mountpoint);
		return -1;
	}
	return 0;
}

static int mount_fs(void)
{
	/* argv[0] shows as the mount's source, as SPDK's did. */
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	int rc;

	if (fuse_opt_add_arg(&args, g.bdev) != 0) {
		return -1;
	}
	for (int i = 0; i < g.fuse_argc; i++) {
		if (fuse_opt_add_arg(&args, g.fuse_argv[i]) != 0) {
			fuse_opt_free_args(&args);
			return -1;
		}
	}
	g.fuse = fuse_new(&args, &g_fuse_ops, sizeof(g_fuse_ops), NULL);
	fuse_opt_free_args(&args);
	if (g.fuse == NULL) {
		fprintf(stderr, NAME ": cannot set up FUSE (bad FUSE options?)\n");
		return -1;
	}
	if (fuse_mount(g.fuse, g.mountpoint) != 0) {
		fprintf(stderr,
			NAME ": cannot mount on %s (is /dev/fuse there, and may we mount?)\n",
			g.mountpoint);
		fuse_destroy(g.fuse);
		g.fuse = NULL;
		return -1;
	}
	rc = fuse_ctx_init();
	if (rc == 0) {
		/* FUSE's workers inherit its affinity: off the reactor's core. */
		rc = spio_app_spawn_unaffinitized(mount_thread, NULL, &g.mount_tid);
	}
	if (rc != 0) {
		fprintf(stderr, NAME ": cannot start the FUSE thread: %s\n", strerror(-rc));
		fuse_unmount(g.fuse);
		fuse_destroy(g.fuse);
		g.fuse = NULL;
		return -1;
	}
	g.mount_started = true;
	return 0;
}

static void loaded(void *arg, struct spio_filesystem *fs, int fserrno)
{
	(void)arg;
	if (fserrno != 0) {
		fprintf(stderr, NAME ": %s: cannot load the filesystem: %s\n", g.bdev,
			fserrno == -EINVAL   ? "not a BlobFS (a blobstore of another type)"
			: fserrno == -EILSEQ ? "no BlobFS there (make one with spio_mkfs), or a "
					       "file's metadata is malformed"
					     : strerror(-fserrno));
		spio_app_stop(1);
		return;
	}
	g_fuse_fs = fs;
	if (g.stopping) {
		unload_and_stop(0);
		return;
	}
	if (mount_fs() != 0) {
		unload_and_stop(1);
		return;
	}
	printf(NAME ": mounted %s on %s\n", g.bdev, g.mountpoint);
	fflush(stdout);
}

static void examined(void *arg)
{
	struct spio_bs_dev *dev;
	int rc;

	(void)arg;
	if (g.stopping) {
		spio_app_stop(0);
		return;
	}
	if (check_mountpoint() != 0) {
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
	spio_fs_load(dev, NULL, loaded, NULL);
}

static void start(void *arg)
{
	int rc = spio_bdev_wait_for_examine(examined, arg);

	if (rc != 0) {
		fprintf(stderr, NAME ": cannot wait for the bdevs: %s\n", strerror(-rc));
		spio_app_stop(1);
	}
}

static int parse(int argc, char **argv)
{
	const char *pos[3];
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			g.fuse_argc = argc - i - 1;
			g.fuse_argv = argv + i + 1;
			break;
		}
		if (strcmp(argv[i], "--no-huge") == 0) {
			g.no_huge = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage();
			exit(0);
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, NAME ": unknown option %s\n", argv[i]);
			return -1;
		} else if (npos < 3) {
			pos[npos++] = argv[i];
		} else {
			fprintf(stderr, NAME ": too many arguments (%s)\n", argv[i]);
			return -1;
		}
	}
	if (npos != 3) {
		fprintf(stderr, NAME ": expected CONFIG.json BDEV MOUNTPOINT\n");
		return -1;
	}
	g.config = pos[0];
	g.bdev = pos[1];
	g.mountpoint = pos[2];
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
	opts.shutdown_cb = fuse_shutdown;
	rc = spio_app_start(&opts, start, NULL);
	if (g.mount_started) {
		pthread_join(g.mount_tid, NULL);
	}
	if (g.umount_started) {
		pthread_join(g.umount_tid, NULL);
	}
	if (rc < 0) {
		fprintf(stderr, NAME ": start-up failed (JSON configuration %s): %s\n", g.config,
			strerror(-rc));
		return 1;
	}
	return rc == 0 ? 0 : 1;
}
