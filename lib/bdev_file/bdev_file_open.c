/*
 * Opening a file or block device for a kernel-backed bdev: checks, size and
 * block size detection, what the file can do (discard, hole punching),
 * rescans, and the JSON that describes and recreates it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bdev_file.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/util.h"

#define BLOCK_SIZE_MIN 512u
#define BLOCK_SIZE_MAX (64u * 1024)

/*
 * Block devices report their logical block size; a file's O_DIRECT offset
 * alignment comes from statx (Linux 6.1+). Buffered files, or kernels that
 * do not say, get 512, the smallest block the bdev layer allows.
 */
static uint32_t detect_block_size(int fd, bool is_blockdev, bool direct)
{
	struct statx stx;
	int bs = 0;

	if (is_blockdev) {
		return ioctl(fd, BLKSSZGET, &bs) == 0 && bs > 0 ? (uint32_t)bs : BLOCK_SIZE_MIN;
	}
	if (direct && syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align != 0) {
		return SPIO_MAX(stx.stx_dio_offset_align, BLOCK_SIZE_MIN);
	}
	return BLOCK_SIZE_MIN;
}

static int read_size(const struct bdev_file *f, uint64_t *size)
{
	struct stat st;

	if (f->is_blockdev) {
		return ioctl(f->fd, BLKGETSIZE64, size) == 0 ? 0 : -errno;
	}
	if (fstat(f->fd, &st) != 0) {
		return -errno;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* A block device supports discard if its queue (a partition's: its disk's) says so. */
static bool blockdev_can_discard(dev_t rdev)
{
	static const char *const paths[] = {"/sys/dev/block/%u:%u/queue/discard_max_bytes",
					    "/sys/dev/block/%u:%u/../queue/discard_max_bytes"};
	unsigned long long max = 0;

	for (size_t i = 0; i < SPIO_COUNTOF(paths); i++) {
		char path[128];
		FILE *fp;

		snprintf(path, sizeof(path), paths[i], major(rdev), minor(rdev));
		fp = fopen(path, "re");
		if (fp == NULL) {
			continue;
		}
		if (fscanf(fp, "%llu", &max) != 1) {
			max = 0;
		}
		fclose(fp);
		return max > 0;
	}
	return false;
}

/*
 * Does the file system punch holes? Ask it beyond the end of the file with
 * KEEP_SIZE, which changes nothing where it is supported.
 */
static bool file_can_punch_holes(int fd, uint64_t size, uint32_t block_size)
{
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)size, block_size) ==
	       0;
}

static void detect_capabilities(struct bdev_file *f, dev_t rdev, uint64_t size)
{
	if (f->readonly || !f->fallocate) {
		return;
	}
	if (f->is_blockdev) {
		f->can_unmap = blockdev_can_discard(rdev);
		/* The kernel writes zeroes itself where the device cannot. */
		f->can_write_zeroes = true;
		return;
	}
	f->can_unmap = f->can_write_zeroes = file_can_punch_holes(f->fd, size, f->bdev.blocklen);
}

/* What a file that cannot back a bdev is, for the message. */
static const char *file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFSOCK:
		return "a socket";
	default:
		return "a special file";
	}
}

/*
 * Kernel interfaces that show as regular files but hold no storage: their
 * files have size 0 and refuse O_DIRECT, which would mislead the message.
 */
static const char *pseudo_fs_name(const struct statfs *sfs)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} pseudo[] = {
	    {PROC_SUPER_MAGIC, "procfs"},     {SYSFS_MAGIC, "sysfs"},
	    {DEBUGFS_MAGIC, "debugfs"},	      {TRACEFS_MAGIC, "tracefs"},
	    {CGROUP_SUPER_MAGIC, "cgroup"},   {CGROUP2_SUPER_MAGIC, "cgroup2"},
	    {SECURITYFS_MAGIC, "securityfs"},
	};

	for (size_t i = 0; i < SPIO_COUNTOF(pseudo); i++) {
		if ((unsigned long)sfs->f_type == pseudo[i].magic) {
			return pseudo[i].name;
		}
	}
	return NULL;
}

/* Only a regular file with storage behind it or a block device can back a bdev. */
static int check_kind(const char *filename, const struct stat *st, const struct statfs *sfs,
		      char *err, size_t errlen)
{
	const char *pseudo;

	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode)) {
		return bdev_create_error(err, errlen, S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL,
					 "%s: is %s, not a regular file or block device", filename,
					 file_kind(st->st_mode));
	}
	if (S_ISREG(st->st_mode) && (pseudo = pseudo_fs_name(sfs)) != NULL) {
		return bdev_create_error(err, errlen, -EINVAL,
					 "%s: is a %s file (a kernel interface), not a regular "
					 "file or block device",
					 filename, pseudo);
	}
	return 0;
}

/*
 * Open without blocking the reactor: anything but a regular file or a block
 * device is refused from stat() before open() (opening a FIFO waits for a
 * writer; opening some devices acts on them), and O_NONBLOCK covers a file
 * replaced in between. O_NONBLOCK is cleared and O_DIRECT set after the
 * checks, so the O_DIRECT message is only given for files that could work.
 */
static int open_fd(struct bdev_file *f, const struct bdev_file_opts *o, struct stat *st, char *err,
		   size_t errlen)
{
	int flags = O_CLOEXEC | O_NONBLOCK | (o->readonly ? O_RDONLY : O_RDWR);
	struct statfs sfs;
	int e, fl, rc;

	/* Failures of stat() are left to open(), which names them. */
	if (stat(o->filename, st) == 0 && statfs(o->filename, &sfs) == 0 &&
	    (rc = check_kind(o->filename, st, &sfs, err, errlen)) != 0) {
		return rc;
	}
	f->fd = open(o->filename, flags);
	if (f->fd < 0) {
		e = errno;
		return bdev_create_error(err, errlen, -e, "%s: cannot open %s: %s", o->filename,
					 o->readonly ? "read-only" : "for reading and writing",
					 strerror(e));
	}
	if (fstat(f->fd, st) != 0 || fstatfs(f->fd, &sfs) != 0) {
		e = errno;
		return bdev_create_error(err, errlen, -e, "%s: %s", o->filename, strerror(e));
	}
	if ((rc = check_kind(o->filename, st, &sfs, err, errlen)) != 0) {
		return rc;
	}
	fl = fcntl(f->fd, F_GETFL);
	if (fl < 0 || fcntl(f->fd, F_SETFL, (fl & ~O_NONBLOCK) | (o->direct ? O_DIRECT : 0)) != 0) {
		e = errno;
		if (e == EINVAL && o->direct) {
			return bdev_create_error(
			    err, errlen, -EINVAL,
			    "%s: the file system does not support O_DIRECT (create the bdev "
			    "with direct=false for buffered I/O)",
			    o->filename);
		}
		return bdev_create_error(err, errlen, -e, "%s: cannot set the file flags: %s",
					 o->filename, strerror(e));
	}
	return 0;
}

static int check_opts(const struct bdev_file_opts *o, const char *module, char *err, size_t errlen)
{
	if (o->name == NULL || o->name[0] == '\0') {
		return bdev_create_error(err, errlen, -EINVAL, "%s bdev: a name is required",
					 module);
	}
	if (o->filename == NULL || o->filename[0] == '\0') {
		return bdev_create_error(err, errlen, -EINVAL, "%s bdev %s: a filename is required",
					 module, o->name);
	}
	if (o->block_size != 0 &&
	    (o->block_size < BLOCK_SIZE_MIN || o->block_size > BLOCK_SIZE_MAX ||
	     !spio_is_pow2(o->block_size))) {
		return bdev_create_error(err, errlen, -EINVAL,
					 "%s bdev %s: block_size %" PRIu32
					 ": expected a power of two from 512 to 65536",
					 module, o->name, o->block_size);
	}
	if (spio_bdev_get_by_name(o->name) != NULL) {
		return bdev_create_error(err, errlen, -EEXIST,
					 "%s bdev %s: a bdev of that name exists", module, o->name);
	}
	return 0;
}

/* Geometry: the block size to use and the size in blocks. */
static int check_geometry(struct bdev_file *f, const struct bdev_file_opts *o, uint64_t size,
			  char *err, size_t errlen)
{
	uint32_t detected = detect_block_size(f->fd, f->is_blockdev, f->direct);
	uint32_t block_size = o->block_size != 0 ? o->block_size : detected;

	if (f->direct && block_size < detected) {
		return bdev_create_error(err, errlen, -EINVAL,
					 "%s: block_size %" PRIu32
					 " is smaller than its logical block size %" PRIu32
					 " (O_DIRECT needs whole blocks)",
					 o->filename, block_size, detected);
	}
	if (size == 0) {
		return bdev_create_error(err, errlen, -EINVAL, "%s: is empty (size 0)",
					 o->filename);
	}
	if (size % block_size != 0) {
		return bdev_create_error(err, errlen, -EINVAL,
					 "%s: size %" PRIu64
					 " bytes is not a multiple of the block size %" PRIu32,
					 o->filename, size, block_size);
	}
	f->bdev.blocklen = block_size;
	f->bdev.blockcnt = size / block_size;
	return 0;
}

static void bdev_file_close(struct bdev_file *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	free(f->filename);
	free(f->bdev.name);
	f->filename = NULL;
	f->bdev.name = NULL;
}

/* Open and probe the file into `f`; on error `f` holds nothing to free. */
static int bdev_file_open(struct bdev_file *f, const struct bdev_file_module *m,
			  const struct bdev_file_opts *o, char *err, size_t errlen)
{
	struct stat st;
	uint64_t size = 0;
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if ((rc = check_opts(o, m->module->name, err, errlen)) != 0) {
		return rc;
	}
	if ((rc = open_fd(f, o, &st, err, errlen)) != 0) {
		goto fail_close;
	}
	f->is_blockdev = S_ISBLK(st.st_mode);
	f->file_dev = f->is_blockdev ? (uint64_t)st.st_rdev : (uint64_t)st.st_dev;
	f->file_ino = f->is_blockdev ? 0 : (uint64_t)st.st_ino;
	f->direct = o->direct;
	f->readonly = o->readonly;
	f->fallocate = o->fallocate;
	if ((rc = read_size(f, &size)) != 0) {
		rc = bdev_create_error(err, errlen, rc, "%s: cannot read its size: %s", o->filename,
				       strerror(-rc));
		goto fail_close;
	}
	if ((rc = check_geometry(f, o, size, err, errlen)) != 0) {
		goto fail_close;
	}
	detect_capabilities(f, st.st_rdev, size);

	f->filename = strdup(o->filename);
	f->bdev.name = strdup(o->name);
	if (f->filename == NULL || f->bdev.name == NULL) {
		rc = bdev_create_error(err, errlen, -ENOMEM, "%s bdev %s: out of memory",
				       m->module->name, o->name);
		goto fail_close;
	}
	f->bdev.ctxt = f;
	f->bdev.product_name = (char *)m->product_name;
	f->bdev.write_unit_size = 1;
	/* O_DIRECT: the core rejects misaligned addresses; lengths are bounced. */
	f->bdev.required_alignment = f->direct ? f->bdev.blocklen : 0;
	f->bdev.max_num_segments = BDEV_FILE_MAX_IOVS;
	f->bdev.uuid = o->uuid;
	f->bdev.module = m->module;
	f->bdev.fn_table = m->fn_table;
	return 0;

fail_close:
	bdev_file_close(f);
	return rc;
}

/*
 * SPDK lets one file back several bdevs and so do we, but say so: nothing
 * orders writes through one against I/O through the other (two read-only
 * bdevs are harmless and not reported).
 */
static void warn_shared_file(const struct bdev_file *f, const char *module)
{
	for (struct spio_bdev *b = spio_bdev_first(); b != NULL; b = spio_bdev_next(b)) {
		const struct bdev_file *other = b->ctxt;

		if (b->fn_table == NULL || b->fn_table->destruct != bdev_file_destruct ||
		    other->file_dev != f->file_dev || other->file_ino != f->file_ino ||
		    (f->readonly && other->readonly)) {
			continue;
		}
		SPIO_WARNLOG("%s bdev %s: %s is also the file of %s bdev %s; nothing orders the "
			     "writes of one against the I/O of the other\n",
			     module, f->bdev.name, f->filename, b->module->name, b->name);
	}
}

static void bdev_file_free(struct bdev_file *f)
{
	bdev_file_close(f);
	free(f);
}

static void io_device_gone(void *io_device)
{
	bdev_file_free(bdev_file_from_io_device(io_device));
}

int bdev_file_create(struct bdev_file *f, const struct bdev_file_module *m,
		     const struct bdev_file_opts *o, char *err, size_t errlen)
{
	const char *module = m->module->name;
	int rc = bdev_file_open(f, m, o, err, errlen);

	if (rc != 0) {
		free(f);
		return rc;
	}
	warn_shared_file(f, module);
	rc = spio_io_device_register(&f->io_device, m->channel_create, m->channel_destroy,
				     m->channel_size, f->bdev.name);
	if (rc != 0) {
		rc = bdev_create_error(err, errlen, rc, "%s bdev %s: %s", module, f->bdev.name,
				       strerror(-rc));
		bdev_file_free(f);
		return rc;
	}
	rc = spio_bdev_register(&f->bdev);
	if (rc != 0) {
		rc = bdev_create_error(err, errlen, rc, "%s bdev %s: cannot register: %s", module,
				       f->bdev.name, strerror(-rc));
		/* No channel exists yet: the unregister callback frees at once. */
		spio_io_device_unregister(&f->io_device, io_device_gone);
		return rc;
	}
	SPIO_INFOLOG("%s bdev %s: %s, %" PRIu64 " blocks of %" PRIu32 " bytes%s\n", module,
		     f->bdev.name, f->filename, f->bdev.blockcnt, f->bdev.blocklen,
		     f->direct ? ", O_DIRECT" : "");
	return 0;
}

int bdev_file_destruct(void *ctxt)
{
	struct bdev_file *f = ctxt;

	/* Channels are released by message: the file closes after the last. */
	if (spio_io_device_unregister(&f->io_device, io_device_gone) != 0) {
		bdev_file_free(f);
	}
	return 0;
}

struct spio_io_channel *bdev_file_get_io_channel(void *ctxt)
{
	struct bdev_file *f = ctxt;

	return spio_get_io_channel(&f->io_device);
}

bool bdev_file_io_type_supported(void *ctxt, enum spio_bdev_io_type type)
{
	const struct bdev_file *f = ctxt;

	switch (type) {
	case SPIO_BDEV_IO_TYPE_READ:
	case SPIO_BDEV_IO_TYPE_FLUSH:
	case SPIO_BDEV_IO_TYPE_RESET:
		return true;
	case SPIO_BDEV_IO_TYPE_WRITE:
		return !f->readonly;
	case SPIO_BDEV_IO_TYPE_UNMAP:
		return f->can_unmap;
	case SPIO_BDEV_IO_TYPE_WRITE_ZEROES:
		return f->can_write_zeroes;
	default:
		return false;
	}
}

int bdev_file_rescan(const char *name, struct spio_bdev_module *module)
{
	struct spio_bdev *bdev;
	struct bdev_file *f;
	uint64_t size;
	int rc;

	if (name == NULL || module == NULL) {
		return -EINVAL;
	}
	bdev = spio_bdev_get_by_name(name);
	if (bdev == NULL || bdev->module != module) {
		return -ENODEV;
	}
	f = bdev->ctxt;
	if ((rc = read_size(f, &size)) != 0) {
		SPIO_ERRLOG("%s bdev %s: cannot read the size of %s: %s\n", module->name, name,
			    f->filename, strerror(-rc));
		return -EIO;
	}
	/* A partial last block is not usable: round down. */
	if (size / bdev->blocklen == spio_bdev_get_num_blocks(bdev)) {
		return 0;
	}
	if (size < bdev->blocklen) {
		SPIO_ERRLOG("%s bdev %s: %s shrank to %" PRIu64 " bytes, less than a block\n",
			    module->name, name, f->filename, size);
		return -EINVAL;
	}
	rc = spio_bdev_notify_blockcnt_change(bdev, size / bdev->blocklen);
	if (rc == 0) {
		SPIO_NOTICELOG("%s bdev %s: %s is now %" PRIu64 " bytes (%" PRIu64 " blocks)\n",
			       module->name, name, f->filename, size, size / bdev->blocklen);
	} else {
		SPIO_ERRLOG("%s bdev %s: %s is now %" PRIu64 " bytes; cannot follow: %s\n",
			    module->name, name, f->filename, size, strerror(-rc));
	}
	return rc;
}

void bdev_file_dump_info_json(const struct bdev_file *f, struct spio_json_write_ctx *w)
{
	spio_json_write_named_string(w, "filename", f->filename);
	spio_json_write_named_bool(w, "block_device", f->is_blockdev);
	spio_json_write_named_bool(w, "direct", f->direct);
	spio_json_write_named_bool(w, "readonly", f->readonly);
	spio_json_write_named_bool(w, "fallocate", f->fallocate);
}

void bdev_file_write_config_begin(const struct bdev_file *f, const char *method,
				  struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", method);
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_string(w, "name", f->bdev.name);
	spio_json_write_named_uint32(w, "block_size", f->bdev.blocklen);
	spio_json_write_named_string(w, "filename", f->filename);
}

void bdev_file_write_config_ours(const struct bdev_file *f, struct spio_json_write_ctx *w)
{
	if (!f->direct) {
		spio_json_write_named_bool(w, "direct", false);
	}
}

void bdev_file_write_config_end(struct spio_json_write_ctx *w)
{
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}
