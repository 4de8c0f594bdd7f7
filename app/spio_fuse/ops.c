/*
 * The FUSE operations: a flat namespace ("/" is the only directory), each
 * path naming the file of that exact name, leading '/' included, as SPDK's
 * FUSE module stores them (so a BlobFS written through SPDK's FUSE mount
 * shows the same files here, and back). Files made through the API without
 * a leading '/' (or with another '/') are not shown. Each request answered through the synchronous
 * BlobFS API with the worker thread's own context. chmod, chown and utimens are accepted and change
 * nothing (BlobFS keeps no modes, owners or times), so cp -p, touch and editors work; directories,
 * links and special files are refused with EPERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fusefs.h"

/* Not in every libc's headers; the kernel's values. */
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1u << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1u << 1)
#endif

struct spio_filesystem *g_fuse_fs;

static pthread_key_t g_ctx_key;
/* Every file shows the mount's start as its times: BlobFS keeps none. */
static struct timespec g_mount_time;

static void ctx_free(void *ctx)
{
	spio_fs_free_thread_ctx(ctx);
}

int fuse_ctx_init(void)
{
	clock_gettime(CLOCK_REALTIME, &g_mount_time);
	return -pthread_key_create(&g_ctx_key, ctx_free);
}

void fuse_ctx_fini(void)
{
	/* Workers have been joined (their destructors ran); this thread's own. */
	ctx_free(pthread_getspecific(g_ctx_key));
	pthread_setspecific(g_ctx_key, NULL);
	pthread_key_delete(g_ctx_key);
}

struct spio_fs_thread_ctx *fuse_ctx(void)
{
	struct spio_fs_thread_ctx *ctx = pthread_getspecific(g_ctx_key);

	if (ctx == NULL) {
		ctx = spio_fs_alloc_thread_ctx(g_fuse_fs);
		if (ctx != NULL && pthread_setspecific(g_ctx_key, ctx) != 0) {
			spio_fs_free_thread_ctx(ctx);
			ctx = NULL;
		}
	}
	return ctx;
}

/* "/name" is the file "/name" (SPDK's FUSE names); a deeper path names nothing. */
static int path_name(const char *path, const char **name)
{
	if (path == NULL || path[0] != '/' || path[1] == '\0') {
		return -ENOENT;
	}
	if (strchr(path + 1, '/') != NULL) {
		return -ENOENT;
	}
	if (strlen(path) > SPIO_FILE_NAME_MAX) {
		return -ENAMETOOLONG;
	}
	*name = path;
	return 0;
}

/* Whether a file of the namespace appears in "/": its name is "/" and one component. */
static bool shown_in_root(const char *name)
{
	return name[0] == '/' && name[1] != '\0' && strchr(name + 1, '/') == NULL;
}

static struct fuse_fh *fh_of(const struct fuse_file_info *fi)
{
	return fi != NULL ? (struct fuse_fh *)(uintptr_t)fi->fh : NULL;
}

static void fill_file_stat(struct stat *st, uint64_t size)
{
	st->st_mode = S_IFREG | 0644;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_blksize = 4096;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atim = g_mount_time;
	st->st_mtim = g_mount_time;
	st->st_ctim = g_mount_time;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	/* The library deletes open files itself (their handles keep working):
	 * no .fuse_hidden renames, and requests on such files come with a NULL
	 * path, answered from the handle. */
	cfg->hard_remove = 1;
	cfg->nullpath_ok = 1;
	return NULL;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct spio_fs_thread_ctx *ctx = fuse_ctx();
	struct fuse_fh *fh = fh_of(fi);
	struct spio_file_stat fst;
	const char *name;
	int rc;

	memset(st, 0, sizeof(*st));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	if (fh != NULL) {
		rc = spio_file_fstat(fh->file, ctx, &fst);
	} else if (path != NULL && strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		st->st_uid = getuid();
		st->st_gid = getgid();
		st->st_atim = g_mount_time;
		st->st_mtim = g_mount_time;
		st->st_ctim = g_mount_time;
		return 0;
	} else {
		rc = path_name(path, &name);
		if (rc == 0) {
			rc = spio_fs_file_stat(g_fuse_fs, ctx, name, &fst);
		}
	}
	if (rc == 0) {
		fill_file_stat(st, fst.size);
	}
	return rc;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct spio_fs_thread_ctx *ctx = fuse_ctx();
	struct spio_fs_dirent *ents;
	struct stat st;
	size_t count;
	int rc;

	(void)off;
	(void)fi;
	(void)flags;
	/* NULL (nullpath_ok): the one directory there is. */
	if (path != NULL && strcmp(path, "/") != 0) {
		return -ENOTDIR;
	}
	if (ctx == NULL) {
		return -ENOMEM;
	}
	rc = spio_fs_list(g_fuse_fs, ctx, &ents, &count);
	if (rc != 0) {
		return rc;
	}
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFDIR | 0755;
	filler(buf, ".", &st, 0, 0);
	filler(buf, "..", &st, 0, 0);
	for (size_t i = 0; i < count; i++) {
		if (!shown_in_root(ents[i].name)) {
			continue;
		}
		memset(&st, 0, sizeof(st));
		fill_file_stat(&st, ents[i].size);
		if (filler(buf, ents[i].name + 1, &st, 0, 0) != 0) {
			break;
		}
	}
	free(ents);
	return 0;
}

/* Open or create `path` for the fuse_file_info's flags. */
static int open_common(const char *path, struct fuse_file_info *fi, uint32_t create_flags)
{
	struct spio_fs_thread_ctx *ctx = fuse_ctx();
	bool writable = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct fuse_fh *fh;
	const char *name;
	int rc;

	rc = path_name(path, &name);
	if (rc != 0) {
		return rc;
	}
	if (ctx == NULL) {
		return -ENOMEM;
	}
	if (!writable && create_flags != 0) {
		/* O_CREAT | O_RDONLY: make the file, then open it read-only. */
		rc = spio_fs_create_file(g_fuse_fs, ctx, name);
		if (rc == -EEXIST && (create_flags & SPIO_BLOBFS_OPEN_EXCL) == 0) {
			rc = 0;
		}
		if (rc != 0) {
			return rc;
		}
		create_flags = 0;
	}
	rc = fh_open(ctx, name, create_flags, writable, &fh);
	if (rc != 0) {
		return rc;
	}
	if (writable && (fi->flags & O_TRUNC) != 0) {
		rc = spio_file_truncate(fh->file, ctx, 0);
		if (rc != 0) {
			fh_release(ctx, fh);
			return rc;
		}
	}
	fi->fh = (uintptr_t)fh;
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	return open_common(path, fi, 0);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	uint32_t flags = SPIO_BLOBFS_OPEN_CREATE;

	(void)mode;
	if ((fi->flags & O_EXCL) != 0) {
		flags |= SPIO_BLOBFS_OPEN_EXCL;
	}
	return open_common(path, fi, flags);
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct spio_fs_thread_ctx *ctx = fuse_ctx();
	struct fuse_fh *fh = fh_of(fi);

	(void)path;
	if (fh == NULL || off < 0) {
		return -EINVAL;
	}
	if (ctx == NULL) {
		return -ENOMEM;
	}
	return (int)spio_file_read(fh->file, ctx, buf, (uint64_t)off, size);
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct spio_fs_thread_ctx *ctx = fuse_ctx();
	struct fuse_fh *fh = fh_of(fi);
	int rc;

	(void)path;
	if (fh == NULL || off < 0) {
		return -EINVAL;
	}
	if (ctx == NULL) {
		return -ENOMEM;
	}
	rc = spio_file_write(fh->file, ctx, buf, (uint64_t)off, size);
	return rc == 0 ? (int)size : rc;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct spio_fs_thread_ctx *ctx = fuse_ctx();
	struct fuse_fh *fh = fh_of(fi);
	const char *name;
	int rc, crc;

	if (size < 0) {
		return -EINVAL;
	}
	if (ctx == NULL) {
		return -ENOMEM;
	}
	/* ftruncate on a writable fd: its handle. */
	if (fh != NULL && fh->w != NULL) {
		return spio_file_truncate(fh->file, ctx, (uint64_t)size);
	}
	/* truncate(2) by name: the file's writer for the time of the call. */
	rc = path_name(path, &name);
	if (rc != 0) {
		return rc;
	}
	rc = fh_open(ctx, name, 0, true, &fh);
	if (rc != 0) {
		return rc;
	}
	rc = spio_file_truncate(fh->file, ctx, (uint64_t)size);
	crc = fh_release(ctx, fh);
	return rc != 0 ? rc : crc;
}

static int op_flush(const char *path, struct fuse_file_info *fi)
{
	/* close(2) of one fd: data stays cached until fsync or the last close. */
	(void)path;
	(void)fi;
	return 0;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	struct spio_fs_thread_ctx *ctx = fuse_ctx();
	struct fuse_fh *fh = fh_of(fi);

	(void)path;
	if (fh == NULL) {
		return 0;
	}
	if (ctx == NULL) {
		/* Left open: closed (synced) with the others at unmount. */
		return -ENOMEM;
	}
	fi->fh = 0;
	return fh_release(ctx, fh);
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct spio_fs_thread_ctx *ctx = fuse_ctx();
	struct fuse_fh *fh = fh_of(fi);

	(void)path;
	(void)datasync;
	if (fh == NULL) {
		return -EINVAL;
	}
	if (ctx == NULL) {
		return -ENOMEM;
	}
	return fh_fsync(ctx, fh);
}

static int op_unlink(const char *path)
{
	struct spio_fs_thread_ctx *ctx = fuse_ctx();
	const char *name;
	int rc;

	rc = path_name(path, &name);
	if (rc != 0) {
		return rc;
	}
	if (ctx == NULL) {
		return -ENOMEM;
	}
	return fh_unlink(ctx, name);
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	struct spio_fs_thread_ctx *ctx = fuse_ctx();
	const char *old_name, *new_name;
	int rc;

	/* Swapping two names atomically is not something BlobFS can do. */
	if ((flags & ~RENAME_NOREPLACE) != 0) {
		return -EINVAL;
	}
	rc = path_name(from, &old_name);
	if (rc == 0) {
		rc = path_name(to, &new_name);
	}
	if (rc != 0) {
		return rc;
	}
	if (ctx == NULL) {
		return -ENOMEM;
	}
	return fh_rename(ctx, old_name, new_name, (flags & RENAME_NOREPLACE) != 0);
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	struct spio_fs_thread_ctx *ctx = fuse_ctx();
	struct spio_fs_stat st;
	uint64_t unit;
	int rc;

	(void)path;
	if (ctx == NULL) {
		return -ENOMEM;
	}
	rc = spio_fs_stat(g_fuse_fs, ctx, &st);
	if (rc != 0) {
		return rc;
	}
	unit = st.io_unit_size != 0 ? st.io_unit_size : 4096;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = unit;
	sv->f_frsize = unit;
	sv->f_blocks = st.total_clusters * (st.cluster_size / unit);
	sv->f_bfree = st.free_clusters * (st.cluster_size / unit);
	sv->f_bavail = sv->f_bfree;
	/* Each new file needs a metadata page and usually a cluster: the free
	 * clusters are a fair count of the files that still fit. */
	sv->f_ffree = st.free_clusters;
	sv->f_favail = sv->f_ffree;
	sv->f_files = st.files + sv->f_ffree;
	sv->f_namemax = SPIO_FILE_NAME_MAX - 1; /* the name is "/" + the component */
	return 0;
}

/* BlobFS keeps no modes, owners or times: accepted so cp -p and touch work. */
static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return 0;
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)path;
	(void)uid;
	(void)gid;
	(void)fi;
	return 0;
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)path;
	(void)tv;
	(void)fi;
	return 0;
}

/* A flat namespace of regular files: no directories, links or devices. */
static int op_mkdir(const char *path, mode_t mode)
{
	(void)path;
	(void)mode;
	return -EPERM;
}

static int op_rmdir(const char *path)
{
	(void)path;
	return -EPERM;
}

static int op_symlink(const char *target, const char *path)
{
	(void)target;
	(void)path;
	return -EPERM;
}

static int op_link(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -EPERM;
}

static int op_mknod(const char *path, mode_t mode, dev_t rdev)
{
	(void)path;
	(void)mode;
	(void)rdev;
	return -EPERM;
}

const struct fuse_operations g_fuse_ops = {
    .init = op_init,
    .getattr = op_getattr,
    .readdir = op_readdir,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write = op_write,
    .truncate = op_truncate,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .unlink = op_unlink,
    .rename = op_rename,
    .statfs = op_statfs,
    .chmod = op_chmod,
    .chown = op_chown,
    .utimens = op_utimens,
    .mkdir = op_mkdir,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .link = op_link,
    .mknod = op_mknod,
};
