/*
 * Behaviour the kernel-backed bdev modules (uring, aio) share, tested the
 * same way for both: test_bdev_uring.c and test_bdev_aio.c each define
 * FB_MODULE and the three fb_* functions below, then include this file.
 *
 * Files live in a fresh directory under $TMPDIR (default /var/tmp); loop
 * devices and a small tmpfs need root and are skipped, with a message,
 * where they cannot be had.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper_fixture.h"
#include "json/json_val_internal.h"
#include "spio/bdev_module.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/rpc.h"
#include "spio/thread.h"

#ifndef FB_MODULE
#error "define FB_MODULE (\"uring\" or \"aio\") before including file_bdev_tests.h"
#endif

#define FB_TIMEOUT_US (20ULL * 1000 * 1000)
#define MiB (1024ULL * 1024)

/* What a test asks of the module's create function. */
struct fb_args {
	const char *name;
	const char *filename;
	uint32_t block_size;
	bool direct;
	bool readonly;
	bool fallocate;
	uint32_t queue_depth; /* 0: the module's default */
	bool sqpoll;
	bool registered_buffers;
	bool registered_files;
};

/* Provided by the including file. */
static int fb_create(const struct fb_args *a, struct spio_bdev **bdev, char *err, size_t len);
static int fb_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);
static int fb_rescan(const char *name);

static struct {
	char dir[256];
	char loopdev[64];
	char mnt[320];
	bool mounted;
} g_fb;

static void fb_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	fx_init("file_bdev");
	snprintf(g_fb.dir, sizeof(g_fb.dir), "%s/spio_" FB_MODULE "_XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/var/tmp");
	cr_assert_not_null(mkdtemp(g_fb.dir), "mkdtemp %s: %s", g_fb.dir, strerror(errno));
	g_fb.loopdev[0] = '\0';
	g_fb.mounted = false;
}

static void fb_teardown(void)
{
	char cmd[400];

	/* Unregisters every bdev: their files are closed before we remove them. */
	fx_fini();
	if (g_fb.loopdev[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "losetup -d %s", g_fb.loopdev);
		cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	}
	if (g_fb.mounted) {
		umount2(g_fb.mnt, MNT_DETACH);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_fb.dir);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

TestSuite(file_bdev, .init = fb_setup, .fini = fb_teardown, .timeout = 300);

/*
 * Helpers
 */

static const char *fb_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", g_fb.dir, name);
	return buf;
}

static uint8_t pattern_byte(uint64_t off, uint8_t seed)
{
	return (uint8_t)(seed + (off / 512) * 31 + off % 251);
}

static void pattern_fill(uint8_t *p, uint64_t off, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = pattern_byte(off + i, seed);
	}
}

/* First offset in [0, len) where p differs from the pattern, or -1. */
static int64_t pattern_mismatch(const uint8_t *p, uint64_t off, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != pattern_byte(off + i, seed)) {
			return (int64_t)i;
		}
	}
	return -1;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

/* A file of `size` bytes holding the pattern of `seed`. */
static void make_file(const char *path, uint64_t size, uint8_t seed)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	uint8_t *chunk = malloc(MiB);

	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	cr_assert_not_null(chunk);
	for (uint64_t off = 0; off < size; off += MiB) {
		size_t n = (size_t)SPIO_MIN(MiB, size - off);

		pattern_fill(chunk, off, n, seed);
		cr_assert_eq(pwrite(fd, chunk, n, (off_t)off), (ssize_t)n);
	}
	free(chunk);
	close(fd);
}

/* Read the file behind the bdev's back. */
static void file_pread(const char *path, void *buf, size_t len, uint64_t off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len, "pread %s", path);
	close(fd);
}

static int count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d) != NULL) {
		n++;
	}
	closedir(d);
	return n;
}

static struct fb_args fb_defaults(const char *name, const char *filename)
{
	return (struct fb_args){
	    .name = name, .filename = filename, .direct = true, .fallocate = true};
}

/* An open bdev: descriptor, channel, events seen. */
struct fb_open {
	struct spio_bdev *bdev;
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	int removes;
	int resizes;
};

static void fb_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	struct fb_open *o = ctx;

	(void)bdev;
	if (type == SPIO_BDEV_EVENT_REMOVE) {
		o->removes++;
	} else if (type == SPIO_BDEV_EVENT_RESIZE) {
		o->resizes++;
	}
}

static void fb_create_ok(const struct fb_args *a, struct fb_open *o)
{
	char err[256] = "";
	int rc;

	memset(o, 0, sizeof(*o));
	rc = fb_create(a, &o->bdev, err, sizeof(err));
	cr_assert_eq(rc, 0, "create %s over %s: expected 0, got %d (%s)", a->name, a->filename, rc,
		     err);
	/* examine's read of the new bdev done: counts, queue depth and the
	 * thread's wake-ups are the test's own */
	fx_wait_for_examine();
	rc = spio_bdev_open_ext(a->name, true, fb_event, o, &o->desc);
	cr_assert_eq(rc, 0, "open %s: %d", a->name, rc);
	o->ch = spio_bdev_get_io_channel(o->desc);
	cr_assert_not_null(o->ch, "channel of %s: errno %d", a->name, errno);
}

static void fb_close(struct fb_open *o)
{
	spio_put_io_channel(o->ch);
	spio_bdev_close(o->desc);
	o->ch = NULL;
	o->desc = NULL;
	fx_poll_for(1000);
}

struct fb_io {
	int done;
	bool success;
	int order; /* completion sequence number */
};

static int g_completion_seq;

static void fb_io_done(struct spio_bdev_io *io, bool success, void *arg)
{
	struct fb_io *r = arg;

	r->done++;
	r->success = success;
	r->order = g_completion_seq++;
	spio_bdev_free_io(io);
}

/* 0 on success, -EIO if the I/O failed, or the submit error. */
static int fb_wait(int rc, struct fb_io *r)
{
	if (rc != 0) {
		return rc;
	}
	cr_assert(fx_poll_until(&r->done, 1, FB_TIMEOUT_US), "I/O did not complete");
	return r->success ? 0 : -EIO;
}

static int fb_read(struct fb_open *o, void *buf, uint64_t off, uint64_t len)
{
	struct fb_io r = {0};

	return fb_wait(spio_bdev_read(o->desc, o->ch, buf, off, len, fb_io_done, &r), &r);
}

static int fb_write(struct fb_open *o, void *buf, uint64_t off, uint64_t len)
{
	struct fb_io r = {0};

	return fb_wait(spio_bdev_write(o->desc, o->ch, buf, off, len, fb_io_done, &r), &r);
}

static int fb_readv(struct fb_open *o, struct iovec *iov, int n, uint64_t off, uint64_t len)
{
	struct fb_io r = {0};

	return fb_wait(spio_bdev_readv(o->desc, o->ch, iov, n, off, len, fb_io_done, &r), &r);
}

static int fb_writev(struct fb_open *o, struct iovec *iov, int n, uint64_t off, uint64_t len)
{
	struct fb_io r = {0};

	return fb_wait(spio_bdev_writev(o->desc, o->ch, iov, n, off, len, fb_io_done, &r), &r);
}

static int fb_unmap(struct fb_open *o, uint64_t off, uint64_t len)
{
	struct fb_io r = {0};

	return fb_wait(spio_bdev_unmap(o->desc, o->ch, off, len, fb_io_done, &r), &r);
}

static int fb_write_zeroes(struct fb_open *o, uint64_t off, uint64_t len)
{
	struct fb_io r = {0};

	return fb_wait(spio_bdev_write_zeroes(o->desc, o->ch, off, len, fb_io_done, &r), &r);
}

static int fb_flush(struct fb_open *o)
{
	struct fb_io r = {0};
	uint64_t size = spio_bdev_get_num_blocks(o->bdev) * spio_bdev_get_block_size(o->bdev);

	return fb_wait(spio_bdev_flush(o->desc, o->ch, 0, size, fb_io_done, &r), &r);
}

struct fb_stat {
	int done;
	struct spio_bdev_io_stat stat;
};

static void fb_stat_done(struct spio_bdev *bdev, struct spio_bdev_io_stat *stat, void *arg, int rc)
{
	struct fb_stat *s = arg;

	(void)bdev;
	(void)stat;
	cr_assert_eq(rc, 0);
	s->done++;
}

static void fb_get_stat(struct spio_bdev *bdev, struct fb_stat *s)
{
	memset(s, 0, sizeof(*s));
	cr_assert_eq(
	    spio_bdev_get_device_stat(bdev, &s->stat, SPIO_BDEV_RESET_STAT_NONE, fb_stat_done, s),
	    0);
	cr_assert(fx_poll_until(&s->done, 1, FB_TIMEOUT_US));
}

static int g_deleted;
static int g_delete_rc;

static void fb_delete_done(void *arg, int rc)
{
	(void)arg;
	g_delete_rc = rc;
	g_deleted++;
}

static void fb_delete_ok(const char *name)
{
	g_deleted = 0;
	cr_assert_eq(fb_delete(name, fb_delete_done, NULL), 0);
	cr_assert(fx_poll_until(&g_deleted, 1, FB_TIMEOUT_US), "delete of %s did not finish", name);
	cr_assert_eq(g_delete_rc, 0);
	cr_assert_null(spio_bdev_get_by_name(name));
}

/* `losetup` a file; false (the test should skip) where it cannot be done. */
static bool loop_attach(const char *file, uint32_t sector_size)
{
	char cmd[PATH_MAX + 64];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "losetup -f --show -b %u '%s' 2>/dev/null", sector_size, file);
	p = popen(cmd, "r");
	if (p == NULL) {
		return false;
	}
	if (fgets(g_fb.loopdev, sizeof(g_fb.loopdev), p) == NULL) {
		g_fb.loopdev[0] = '\0';
	}
	pclose(p);
	g_fb.loopdev[strcspn(g_fb.loopdev, "\n")] = '\0';
	return strncmp(g_fb.loopdev, "/dev/loop", 9) == 0;
}

/*
 * Creation: geometry, properties, capabilities
 */

Test(file_bdev, file_geometry_and_properties)
{
	char path[512];
	struct fb_args a = fb_defaults("F0", fb_path(path, sizeof(path), "f0.img"));
	struct fb_open o;
	uint32_t bs;

	make_file(path, 4 * MiB, 1);
	fb_create_ok(&a, &o);
	bs = spio_bdev_get_block_size(o.bdev);
	cr_assert(bs >= 512 && bs <= 4096 && spio_is_pow2(bs), "block size %u", bs);
	cr_assert_eq(spio_bdev_get_num_blocks(o.bdev) * bs, 4 * MiB);
	cr_assert_str_eq(spio_bdev_get_module_name(o.bdev), FB_MODULE);
	cr_assert_eq(spio_bdev_get_buf_align(o.bdev), bs, "O_DIRECT: buffers aligned to a block");
	cr_assert(spio_bdev_io_type_supported(o.bdev, SPIO_BDEV_IO_TYPE_READ));
	cr_assert(spio_bdev_io_type_supported(o.bdev, SPIO_BDEV_IO_TYPE_WRITE));
	cr_assert(spio_bdev_io_type_supported(o.bdev, SPIO_BDEV_IO_TYPE_FLUSH));
	cr_assert(spio_bdev_io_type_supported(o.bdev, SPIO_BDEV_IO_TYPE_RESET));
	cr_assert(spio_bdev_io_type_supported(o.bdev, SPIO_BDEV_IO_TYPE_UNMAP),
		  "the test directory's file system punches holes");
	cr_assert(spio_bdev_io_type_supported(o.bdev, SPIO_BDEV_IO_TYPE_WRITE_ZEROES));
	cr_assert_not(spio_bdev_io_type_supported(o.bdev, SPIO_BDEV_IO_TYPE_COMPARE));
	fb_close(&o);

	/* An explicit block size (larger than the device's) is used as given. */
	a.name = "F1";
	a.block_size = 4096;
	fb_create_ok(&a, &o);
	cr_assert_eq(spio_bdev_get_block_size(o.bdev), 4096);
	cr_assert_eq(spio_bdev_get_num_blocks(o.bdev), 1024);
	fb_close(&o);
}

/*
 * Data
 */

Test(file_bdev, data_round_trips_through_bdev_and_file)
{
	char path[512];
	struct fb_args a = fb_defaults("D0", fb_path(path, sizeof(path), "d0.img"));
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(256 * 1024, 4096);
	uint8_t *back = spio_dma_malloc(256 * 1024, 4096);
	uint8_t *plain = malloc(256 * 1024);
	struct iovec iov[4];
	struct fb_stat st, base;
	int64_t bad;

	make_file(path, 8 * MiB, 1);
	fb_create_ok(&a, &o);
	fb_get_stat(o.bdev, &base); /* examine's read */

	/* The file's own content reads back through the bdev. */
	cr_assert_eq(fb_read(&o, back, 3 * MiB, 64 * 1024), 0);
	bad = pattern_mismatch(back, 3 * MiB, 64 * 1024, 1);
	cr_assert_eq(bad, -1, "byte %ld of the file read wrong through the bdev", (long)bad);

	/* A write through the bdev reads back through it and through pread. */
	pattern_fill(buf, 128 * 1024, 64 * 1024, 9);
	cr_assert_eq(fb_write(&o, buf, 128 * 1024, 64 * 1024), 0);
	memset(back, 0, 64 * 1024);
	cr_assert_eq(fb_read(&o, back, 128 * 1024, 64 * 1024), 0);
	cr_assert_eq(memcmp(back, buf, 64 * 1024), 0, "bdev read-back differs");
	file_pread(path, plain, 64 * 1024, 128 * 1024);
	cr_assert_eq(memcmp(plain, buf, 64 * 1024), 0, "the file does not hold what was written");
	file_pread(path, plain, 4096, 128 * 1024 + 64 * 1024);
	cr_assert_eq(pattern_mismatch(plain, 192 * 1024, 4096, 1), -1,
		     "the write spilled past its range");

	/* Vectored: four 16 KiB pieces of one write, read back in two pieces. */
	pattern_fill(buf, 5 * MiB, 64 * 1024, 21);
	for (int i = 0; i < 4; i++) {
		iov[i].iov_base = buf + i * 16384;
		iov[i].iov_len = 16384;
	}
	cr_assert_eq(fb_writev(&o, iov, 4, 5 * MiB, 64 * 1024), 0);
	memset(back, 0, 64 * 1024);
	iov[0] = (struct iovec){back, 48 * 1024};
	iov[1] = (struct iovec){back + 48 * 1024, 16 * 1024};
	cr_assert_eq(fb_readv(&o, iov, 2, 5 * MiB, 64 * 1024), 0);
	cr_assert_eq(memcmp(back, buf, 64 * 1024), 0, "readv after writev differs");
	file_pread(path, plain, 64 * 1024, 5 * MiB);
	cr_assert_eq(memcmp(plain, buf, 64 * 1024), 0);

	/* The last block of the device, and one past it. */
	cr_assert_eq(fb_write(&o, buf, 8 * MiB - 4096, 4096), 0);
	cr_assert_eq(fb_read(&o, back, 8 * MiB - 4096, 4096), 0);
	cr_assert_eq(fb_read(&o, back, 8 * MiB, 4096), -EINVAL, "beyond the end");
	cr_assert_eq(fb_read(&o, back, 8 * MiB - 4096, 8192), -EINVAL, "crossing the end");

	fb_get_stat(o.bdev, &st);
	cr_assert_eq(st.stat.num_write_ops - base.stat.num_write_ops, 3,
		     "writes: expected 3, got %lu",
		     (unsigned long)(st.stat.num_write_ops - base.stat.num_write_ops));
	cr_assert_eq(st.stat.bytes_written - base.stat.bytes_written, 2 * 64 * 1024 + 4096);
	cr_assert_eq(st.stat.num_read_ops - base.stat.num_read_ops, 4, "reads: expected 4, got %lu",
		     (unsigned long)(st.stat.num_read_ops - base.stat.num_read_ops));
	cr_assert_eq(st.stat.bytes_read - base.stat.bytes_read, 3 * 64 * 1024 + 4096);
	cr_assert_eq(st.stat.num_io_errors, 0);

	fb_close(&o);
	spio_dma_free(buf);
	spio_dma_free(back);
	free(plain);
}

Test(file_bdev, misaligned_buffers_are_rejected_or_bounced)
{
	char path[512];
	struct fb_args a = fb_defaults("M0", fb_path(path, sizeof(path), "m0.img"));
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(64 * 1024, 4096), *b1 = spio_dma_malloc(8192, 4096);
	uint8_t *b2 = spio_dma_malloc(8192, 4096), *plain = malloc(8192);
	struct iovec iov[2];
	uint32_t bs;

	make_file(path, 4 * MiB, 2);
	fb_create_ok(&a, &o);
	bs = spio_bdev_get_block_size(o.bdev);

	/* A misaligned address is refused before it reaches the kernel. */
	cr_assert_eq(fb_read(&o, buf + 1, 0, bs), -EINVAL);
	cr_assert_eq(fb_write(&o, buf + 8, 0, bs), -EINVAL);

	/* Aligned addresses, segments that are not whole blocks: bounced. */
	pattern_fill(b1, 64 * 1024, 2 * bs - 24, 33);
	pattern_fill(b2, 64 * 1024 + 2 * bs - 24, 24, 33);
	iov[0] = (struct iovec){b1, 2 * bs - 24};
	iov[1] = (struct iovec){b2, 24};
	cr_assert_eq(fb_writev(&o, iov, 2, 64 * 1024, 2 * bs), 0);
	file_pread(path, plain, 2 * bs, 64 * 1024);
	cr_assert_eq(pattern_mismatch(plain, 64 * 1024, 2 * bs, 33), -1,
		     "bounced write landed wrong");
	memset(b1, 0, 8192);
	memset(b2, 0, 8192);
	iov[0] = (struct iovec){b1, 24};
	iov[1] = (struct iovec){b2, 2 * bs - 24};
	cr_assert_eq(fb_readv(&o, iov, 2, 64 * 1024, 2 * bs), 0);
	cr_assert_eq(pattern_mismatch(b1, 64 * 1024, 24, 33), -1, "bounced read, first segment");
	cr_assert_eq(pattern_mismatch(b2, 64 * 1024 + 24, 2 * bs - 24, 33), -1,
		     "bounced read, second segment");
	fb_close(&o);

	/* Buffered: any address goes. */
	a.name = "M1";
	a.direct = false;
	fb_create_ok(&a, &o);
	cr_assert_eq(spio_bdev_get_buf_align(o.bdev), 1);
	pattern_fill(buf + 3, 0, 4096, 44);
	cr_assert_eq(fb_write(&o, buf + 3, 0, 4096), 0);
	memset(buf + 5000, 0, 4096);
	cr_assert_eq(fb_read(&o, buf + 5000 + 1, 0, 4096), 0);
	cr_assert_eq(pattern_mismatch(buf + 5001, 0, 4096, 44), -1, "buffered round trip");
	cr_assert_eq(fb_flush(&o), 0);
	file_pread(path, plain, 4096, 0);
	cr_assert_eq(pattern_mismatch(plain, 0, 4096, 44), -1, "buffered write reached the file");
	fb_close(&o);

	spio_dma_free(buf);
	spio_dma_free(b1);
	spio_dma_free(b2);
	free(plain);
}

/*
 * Unmap, write_zeroes, flush, reset, queueing
 */

static uint64_t file_allocated_bytes(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

Test(file_bdev, unmap_and_write_zeroes_read_back_zeroes)
{
	char path[512];
	struct fb_args a = fb_defaults("U0", fb_path(path, sizeof(path), "u0.img"));
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(MiB, 4096);
	uint8_t *plain = malloc(MiB);
	uint64_t before, after;
	struct fb_stat st;

	make_file(path, 8 * MiB, 3);
	fb_create_ok(&a, &o);
	before = file_allocated_bytes(path);
	cr_assert_eq(fb_unmap(&o, 2 * MiB, MiB), 0);
	after = file_allocated_bytes(path);
	cr_assert_leq(after + MiB, before, "unmap must free the range: %lu -> %lu bytes",
		      (unsigned long)before, (unsigned long)after);
	memset(buf, 0xff, MiB);
	cr_assert_eq(fb_read(&o, buf, 2 * MiB, MiB), 0);
	cr_assert(all_zero(buf, MiB), "an unmapped file range reads back zeroes");
	file_pread(path, plain, 4096, 3 * MiB);
	cr_assert_eq(pattern_mismatch(plain, 3 * MiB, 4096, 3), -1, "unmap spilled past its range");

	cr_assert_eq(fb_write_zeroes(&o, 5 * MiB, 512 * 1024), 0);
	memset(buf, 0xff, MiB);
	cr_assert_eq(fb_read(&o, buf, 5 * MiB - 4096, 512 * 1024 + 8192), 0);
	cr_assert_eq(pattern_mismatch(buf, 5 * MiB - 4096, 4096, 3), -1, "before the range");
	cr_assert(all_zero(buf + 4096, 512 * 1024), "write_zeroes range reads back zeroes");
	cr_assert_eq(pattern_mismatch(buf + 4096 + 512 * 1024, 5 * MiB + 512 * 1024, 4096, 3), -1,
		     "after the range");
	file_pread(path, plain, 512 * 1024, 5 * MiB);
	cr_assert(all_zero(plain, 512 * 1024), "the file holds the zeroes");

	cr_assert_eq(fb_flush(&o), 0);
	fb_get_stat(o.bdev, &st);
	cr_assert_eq(st.stat.num_unmap_ops, 1);
	cr_assert_eq(st.stat.bytes_unmapped, MiB);
	cr_assert_eq(st.stat.num_io_errors, 0);
	fb_close(&o);
	spio_dma_free(buf);
	free(plain);
}

/* A reset completes after the I/O submitted before it, not before. */
Test(file_bdev, reset_waits_for_earlier_io)
{
	char path[512];
	struct fb_args a = fb_defaults("R0", fb_path(path, sizeof(path), "r0.img"));
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(32 * 65536, 4096);
	struct fb_io reads[32] = {0}, reset = {0};
	int done = 0;

	make_file(path, 8 * MiB, 4);
	fb_create_ok(&a, &o);
	g_completion_seq = 0;
	for (int i = 0; i < 32; i++) {
		cr_assert_eq(spio_bdev_read(o.desc, o.ch, buf + i * 65536, (uint64_t)i * 65536,
					    65536, fb_io_done, &reads[i]),
			     0);
	}
	cr_assert_eq(spio_bdev_reset(o.desc, o.ch, fb_io_done, &reset), 0);
	cr_assert(fx_poll_until(&reset.done, 1, FB_TIMEOUT_US));
	cr_assert(reset.success);
	for (int i = 0; i < 32; i++) {
		done += reads[i].done;
		cr_assert(reads[i].done == 1 && reads[i].order < reset.order,
			  "read %d completed after the reset (or not at all)", i);
	}
	cr_assert_eq(done, 32);

	/* With nothing in flight a reset completes at once. */
	memset(&reset, 0, sizeof(reset));
	cr_assert_eq(spio_bdev_reset(o.desc, o.ch, fb_io_done, &reset), 0);
	cr_assert_eq(reset.done, 0, "never inside the submit call");
	cr_assert(fx_poll_until(&reset.done, 1, FB_TIMEOUT_US));
	fb_close(&o);
	spio_dma_free(buf);
}

/* More I/O than the queue depth: the rest waits in the channel, none is lost. */
Test(file_bdev, io_beyond_queue_depth_waits_its_turn)
{
	char path[512];
	struct fb_args a = fb_defaults("Q0", fb_path(path, sizeof(path), "q0.img"));
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(200 * 4096, 4096);
	struct fb_io r[200] = {0};
	int done = 0;

	make_file(path, 4 * MiB, 5);
	a.queue_depth = 4;
	fb_create_ok(&a, &o);
	for (int i = 0; i < 200; i++) {
		cr_assert_eq(spio_bdev_read(o.desc, o.ch, buf + i * 4096, (uint64_t)i * 4096 * 3,
					    4096, fb_io_done, &r[i]),
			     0);
	}
	for (int i = 0; i < 200; i++) {
		cr_assert(fx_poll_until(&r[i].done, 1, FB_TIMEOUT_US), "read %d lost", i);
		cr_assert(r[i].success);
		cr_assert_eq(pattern_mismatch(buf + i * 4096, (uint64_t)i * 4096 * 3, 4096, 5), -1,
			     "read %d returned the wrong data", i);
		done++;
	}
	cr_assert_eq(done, 200);
	fb_close(&o);
	spio_dma_free(buf);
}

/*
 * Resize
 */

Test(file_bdev, rescan_follows_a_grown_file)
{
	char path[512];
	struct fb_args a = fb_defaults("S0", fb_path(path, sizeof(path), "s0.img"));
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(4096, 4096);
	uint32_t bs;

	make_file(path, 4 * MiB, 6);
	fb_create_ok(&a, &o);
	bs = spio_bdev_get_block_size(o.bdev);
	cr_assert_eq(fb_rescan("S0"), 0, "nothing changed");
	fx_poll_for(1000);
	cr_assert_eq(o.resizes, 0, "no event without a change");

	cr_assert_eq(truncate(path, 6 * MiB), 0);
	cr_assert_eq(fb_read(&o, buf, 5 * MiB, 4096), -EINVAL, "not visible before the rescan");
	cr_assert_eq(fb_rescan("S0"), 0);
	cr_assert(fx_poll_until(&o.resizes, 1, FB_TIMEOUT_US), "openers get a RESIZE event");
	cr_assert_eq(spio_bdev_get_num_blocks(o.bdev), 6 * MiB / bs);
	cr_assert_eq(fb_read(&o, buf, 5 * MiB, 4096), 0, "the new space is usable");
	cr_assert(all_zero(buf, 4096));

	/* A partial block more does not count. */
	cr_assert_eq(truncate(path, 6 * MiB + bs / 2), 0);
	cr_assert_eq(fb_rescan("S0"), 0);
	fx_poll_for(1000);
	cr_assert_eq(o.resizes, 1);
	cr_assert_eq(spio_bdev_get_num_blocks(o.bdev), 6 * MiB / bs);

	/* Shrinking under an open descriptor is refused. */
	cr_assert_eq(truncate(path, 2 * MiB), 0);
	cr_assert_eq(fb_rescan("S0"), -EBUSY);
	cr_assert_eq(spio_bdev_get_num_blocks(o.bdev), 6 * MiB / bs);

	cr_assert_eq(fb_rescan("nope"), -ENODEV);
	cr_assert_eq(fb_rescan(NULL), -EINVAL);
	fb_close(&o);
	spio_dma_free(buf);
}

/*
 * Errors at creation
 */

static void expect_create_error(struct fb_args *a, int want, const char *want_text)
{
	struct spio_bdev *bdev = NULL;
	char err[256] = "";
	int rc = fb_create(a, &bdev, err, sizeof(err));

	cr_assert_eq(rc, want, "create over %s: expected %d, got %d (%s)",
		     a->filename ? a->filename : "(null)", want, rc, err);
	cr_assert(strstr(err, want_text) != NULL, "message '%s' should mention '%s'", err,
		  want_text);
	if (a->name != NULL && want != -EEXIST) {
		cr_assert_null(spio_bdev_get_by_name(a->name), "no bdev after a failed create");
	}
}

Test(file_bdev, create_errors_are_clear)
{
	char path[512], dir[512], odd[512], empty[512];
	struct fb_args a;
	struct fb_open o;
	int fds = count_open_fds();

	a = fb_defaults("E0", fb_path(path, sizeof(path), "missing.img"));
	expect_create_error(&a, -ENOENT, "missing.img");

	fb_path(dir, sizeof(dir), "adir");
	cr_assert_eq(mkdir(dir, 0755), 0);
	a.filename = dir;
	expect_create_error(&a, -EISDIR, "directory");
	a.readonly = true;
	expect_create_error(&a, -EISDIR, "directory");
	a.readonly = false;

	fb_path(odd, sizeof(odd), "odd.img");
	make_file(odd, 1000, 1);
	a.filename = odd;
	expect_create_error(&a, -EINVAL, "not a multiple of the block size");
	a.direct = false;
	a.block_size = 512;
	expect_create_error(&a, -EINVAL, "1000 bytes");
	a.direct = true;
	a.block_size = 0;

	fb_path(empty, sizeof(empty), "empty.img");
	make_file(empty, 0, 1);
	a.filename = empty;
	expect_create_error(&a, -EINVAL, "empty");

	a.filename = "/dev/null";
	a.direct = false;
	expect_create_error(&a, -EINVAL, "not a regular file or block device");
	a.direct = true;

	make_file(path, MiB, 1);
	a.filename = path;
	a.block_size = 1000;
	expect_create_error(&a, -EINVAL, "block_size 1000");
	a.block_size = 256;
	expect_create_error(&a, -EINVAL, "block_size 256");
	a.block_size = 0;
	a.queue_depth = 1u << 30;
	expect_create_error(&a, -EINVAL, "queue_depth");
	a.queue_depth = 0;
	a.name = NULL;
	expect_create_error(&a, -EINVAL, "name");
	a.name = "";
	expect_create_error(&a, -EINVAL, "name");
	a.name = "E0";
	a.filename = NULL;
	expect_create_error(&a, -EINVAL, "filename");
	a.filename = path;

	fb_create_ok(&a, &o);
	expect_create_error(&a, -EEXIST, "E0");
	fb_close(&o);
	fb_delete_ok("E0");
	cr_assert_eq(fb_delete("E0", fb_delete_done, NULL), -ENODEV);
	cr_assert_eq(fb_delete(NULL, fb_delete_done, NULL), -EINVAL);
	fx_poll_for(10000); /* the file closes after its last channel, by message */
	cr_assert_eq(count_open_fds(), fds, "no fd leaks from failed creates");
}

/* Take CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH out of the effective set, so
 * file permissions apply to root too (a no-op for other users). */
static void drop_dac_override(bool drop)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	uint32_t bits = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);

	cr_assert_eq(syscall(SYS_capget, &hdr, data), 0);
	if (drop) {
		data[0].effective &= ~bits;
	} else {
		data[0].effective |= data[0].permitted & bits;
	}
	cr_assert_eq(syscall(SYS_capset, &hdr, data), 0);
}

Test(file_bdev, no_permission_is_a_clear_error)
{
	char path[512];
	struct fb_args a = fb_defaults("P0", fb_path(path, sizeof(path), "noperm.img"));

	make_file(path, MiB, 1);
	cr_assert_eq(chmod(path, 0), 0);
	drop_dac_override(true);
	expect_create_error(&a, -EACCES, "Permission denied");
	a.readonly = true;
	expect_create_error(&a, -EACCES, "read-only");
	drop_dac_override(false);
}

/*
 * Read-only
 */

Test(file_bdev, readonly_bdev_reads_and_refuses_writes)
{
	char path[512];
	struct fb_args a = fb_defaults("RO0", fb_path(path, sizeof(path), "ro.img"));
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(4096, 4096);

	make_file(path, MiB, 7);
	cr_assert_eq(chmod(path, 0444), 0);
	a.readonly = true;
	fb_create_ok(&a, &o);
	cr_assert_eq(fb_read(&o, buf, 8192, 4096), 0);
	cr_assert_eq(pattern_mismatch(buf, 8192, 4096, 7), -1);
	cr_assert_eq(fb_write(&o, buf, 0, 4096), -ENOTSUP);
	cr_assert_eq(fb_unmap(&o, 0, 4096), -ENOTSUP);
	cr_assert_eq(fb_write_zeroes(&o, 0, 4096), -ENOTSUP);
	cr_assert_eq(fb_flush(&o), 0);
	fb_close(&o);
	spio_dma_free(buf);
}

/*
 * Errors from the kernel
 */

/* A small tmpfs runs out of space: the writes that do not fit fail, counted. */
Test(file_bdev, kernel_write_errors_fail_the_io_and_are_counted)
{
	char path[512];
	struct fb_args a;
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(64 * 1024, 4096);
	struct fb_stat st;
	int failed = 0, ok = 0, fd;

	snprintf(g_fb.mnt, sizeof(g_fb.mnt), "%s/mnt", g_fb.dir);
	cr_assert_eq(mkdir(g_fb.mnt, 0755), 0);
	if (mount("tmpfs", g_fb.mnt, "tmpfs", 0, "size=1m") != 0) {
		cr_skip_test("cannot mount a tmpfs (%s): needs root", strerror(errno));
	}
	g_fb.mounted = true;
	snprintf(path, sizeof(path), "%s/full.img", g_fb.mnt);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 8 * MiB), 0, "a sparse file larger than its file system");
	close(fd);

	a = fb_defaults("K0", path);
	a.block_size = 4096;
	fb_create_ok(&a, &o);
	pattern_fill(buf, 0, 64 * 1024, 8);
	for (uint64_t off = 0; off < 4 * MiB; off += 64 * 1024) {
		int rc = fb_write(&o, buf, off, 64 * 1024);

		cr_assert(rc == 0 || rc == -EIO, "a write either succeeds or fails: %d", rc);
		rc == 0 ? ok++ : failed++;
	}
	cr_assert_gt(ok, 0, "the first writes fit");
	cr_assert_gt(failed, 0, "writes past 1 MiB of a 1 MiB tmpfs must fail");
	fb_get_stat(o.bdev, &st);
	cr_assert_eq(st.stat.num_io_errors, (uint64_t)failed);
	cr_assert_eq(st.stat.io_errors_by_type[SPIO_BDEV_IO_TYPE_WRITE], (uint64_t)failed);
	cr_assert_eq(st.stat.num_write_ops, (uint64_t)ok, "only successful writes are counted");
	/* The bdev stays usable. */
	cr_assert_eq(fb_read(&o, buf, 0, 4096), 0);
	fb_close(&o);
	spio_dma_free(buf);
}

/* The file shrank behind the bdev's back: a read past its end comes back
 * short, which fails the I/O rather than returning stale memory. */
Test(file_bdev, short_reads_fail_the_io)
{
	char path[512];
	struct fb_args a = fb_defaults("T0", fb_path(path, sizeof(path), "t0.img"));
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(8192, 4096);
	struct fb_stat st;

	make_file(path, 4 * MiB, 9);
	fb_create_ok(&a, &o);
	cr_assert_eq(truncate(path, 2 * MiB), 0);
	cr_assert_eq(fb_read(&o, buf, 1 * MiB, 8192), 0, "still inside the file");
	cr_assert_eq(fb_read(&o, buf, 3 * MiB, 8192), -EIO, "past the file's new end");
	cr_assert_eq(fb_read(&o, buf, 2 * MiB - 4096, 8192), -EIO, "half past the end");
	fb_get_stat(o.bdev, &st);
	cr_assert_eq(st.stat.io_errors_by_type[SPIO_BDEV_IO_TYPE_READ], 2);
	fb_close(&o);
	spio_dma_free(buf);
}

/*
 * Hot removal
 */

struct hot {
	struct fb_open o;
	uint8_t *bufs;
	uint32_t inflight;
	uint64_t completed;
	uint64_t failed;
	uint64_t rng;
};

struct hot_slot {
	struct hot *h;
	int slot;
};

static struct hot_slot g_slots[16];

static void hot_submit(struct hot *h, int slot);

static void hot_done(struct spio_bdev_io *io, bool success, void *arg)
{
	struct hot_slot *s = arg;
	struct hot *h = s->h;

	spio_bdev_free_io(io);
	h->inflight--;
	h->completed++;
	h->failed += !success;
	/* After the REMOVE event the opener stops and closes, as users must. */
	if (h->o.removes == 0) {
		hot_submit(h, s->slot);
	}
}

/* A random 8 KiB read or write in slot `slot`'s buffer. */
static void hot_submit(struct hot *h, int slot)
{
	uint64_t chunks =
	    spio_bdev_get_num_blocks(h->o.bdev) * spio_bdev_get_block_size(h->o.bdev) / 8192;
	uint64_t off;
	int rc;

	h->rng = h->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	off = (h->rng >> 33) % chunks * 8192;
	if (h->rng & (1ULL << 20)) {
		rc = spio_bdev_write(h->o.desc, h->o.ch, h->bufs + slot * 8192, off, 8192, hot_done,
				     &g_slots[slot]);
	} else {
		rc = spio_bdev_read(h->o.desc, h->o.ch, h->bufs + slot * 8192, off, 8192, hot_done,
				    &g_slots[slot]);
	}
	cr_assert_eq(rc, 0, "submit while the bdev is live: %d", rc);
	h->inflight++;
}

Test(file_bdev, hot_removal_while_io_runs)
{
	char path[512];
	struct fb_args a = fb_defaults("H0", fb_path(path, sizeof(path), "h0.img"));
	struct hot h = {.rng = 12345};
	int fds;

	make_file(path, 16 * MiB, 10);
	fds = count_open_fds();
	fb_create_ok(&a, &h.o);
	h.bufs = spio_dma_malloc(16 * 8192, 4096);
	for (int i = 0; i < 16; i++) {
		g_slots[i] = (struct hot_slot){&h, i};
		hot_submit(&h, i);
	}
	/* Until I/O has gone round once (not a fixed 100 ms: a busy machine is slower). */
	uint64_t running_by = spio_get_ticks() + spio_us_to_ticks(FB_TIMEOUT_US);
	while (h.completed <= 16 && spio_get_ticks() < running_by) {
		fx_poll();
	}
	cr_assert_gt(h.completed, 16, "I/O is running");

	g_deleted = 0;
	cr_assert_eq(fb_delete("H0", fb_delete_done, NULL), 0);
	cr_assert(fx_poll_until(&h.o.removes, 1, FB_TIMEOUT_US), "REMOVE event while I/O runs");
	cr_assert_eq(fb_delete("H0", fb_delete_done, NULL), -EBUSY, "already being removed");
	/* The descriptor stays usable until closed: what is in flight completes. */
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(FB_TIMEOUT_US);
	while (h.inflight != 0 && spio_get_ticks() < end) {
		fx_poll();
	}
	cr_assert_eq(h.inflight, 0, "in-flight I/O must complete after the REMOVE event");
	cr_assert_eq(h.failed, 0, "I/O in flight at removal still succeeds");
	cr_assert_eq(g_deleted, 0, "the bdev waits for its opener to close");
	fb_close(&h.o);
	cr_assert(fx_poll_until(&g_deleted, 1, FB_TIMEOUT_US), "delete finishes once closed");
	cr_assert_eq(g_delete_rc, 0);
	cr_assert_null(spio_bdev_get_by_name("H0"));
	fx_poll_for(10000);
	cr_assert_eq(count_open_fds(), fds, "the file and the channel's fds are closed");
	spio_dma_free(h.bufs);
}

/*
 * Several OS threads, each with its own spio thread and channel, on one bdev.
 */

#define MT_THREADS 3
#define MT_IOS 3000

struct mt_worker {
	pthread_t tid;
	struct spio_bdev_desc *desc;
	uint32_t block_size;
	uint64_t region; /* byte offset of this worker's 1 MiB */
	int errors;
	int mismatches;
	int done;
};

/* One slot: write a block, read it back, check it; again. */
struct mt_io {
	uint8_t *buf;
	uint64_t off;
	uint8_t seed;
	bool started; /* a write/read pair is under way */
	bool reading;
	bool busy;
	bool success;
};

static void mt_done(struct spio_bdev_io *io, bool success, void *arg)
{
	struct mt_io *m = arg;

	m->success = success;
	m->busy = false;
	spio_bdev_free_io(io);
}

/* Account for what slot `m` finished and start its next step. */
static int mt_step(struct mt_worker *w, struct spio_io_channel *ch, struct mt_io *m, int *issued)
{
	if (m->started) {
		if (!m->success) {
			w->errors++;
		}
		if (!m->reading) {
			m->reading = true;
			m->busy = true;
			memset(m->buf, 0, 4096);
			return spio_bdev_read(w->desc, ch, m->buf, m->off, 4096, mt_done, m);
		}
		if (m->success && pattern_mismatch(m->buf, m->off, 4096, m->seed) != -1) {
			w->mismatches++;
		}
		w->done++;
		m->started = false;
	}
	if (*issued >= MT_IOS) {
		return 0;
	}
	/* the slot's own blocks: no two slots touch one block */
	m->off = w->region + (uint64_t)((*issued / 8) % 32 * 8 + m->seed) * 4096;
	pattern_fill(m->buf, m->off, 4096, m->seed);
	m->started = true;
	m->reading = false;
	m->busy = true;
	(*issued)++;
	return spio_bdev_write(w->desc, ch, m->buf, m->off, 4096, mt_done, m);
}

static void *mt_main(void *arg)
{
	struct mt_worker *w = arg;
	struct spio_thread *t = spio_thread_create("mt", NULL);
	struct spio_io_channel *ch;
	struct mt_io ios[8];
	uint8_t *bufs = spio_dma_malloc(8 * 4096, 4096);
	int issued = 0;

	spio_set_thread(t);
	ch = spio_bdev_get_io_channel(w->desc);
	cr_assert_not_null(ch);
	for (int i = 0; i < 8; i++) {
		ios[i] = (struct mt_io){.buf = bufs + i * 4096, .seed = (uint8_t)i};
	}
	while (w->done < MT_IOS) {
		for (int i = 0; i < 8; i++) {
			if (!ios[i].busy) {
				int rc = mt_step(w, ch, &ios[i], &issued);

				cr_assert_eq(rc, 0, "submit from a worker: %d", rc);
			}
		}
		spio_thread_poll(t, 0, 0);
	}
	spio_put_io_channel(ch);
	spio_thread_exit(t);
	while (!spio_thread_is_exited(t)) {
		spio_thread_poll(t, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(t);
	spio_dma_free(bufs);
	return NULL;
}

Test(file_bdev, threads_share_the_bdev, .timeout = 300)
{
	char path[512];
	struct fb_args a = fb_defaults("MT0", fb_path(path, sizeof(path), "mt.img"));
	struct fb_open o;
	struct mt_worker w[MT_THREADS];
	struct fb_stat st, base;

	make_file(path, MT_THREADS * MiB, 11);
	a.queue_depth = 4; /* less than the 8 slots: the queueing path runs too */
	fb_create_ok(&a, &o);
	fb_get_stat(o.bdev, &base); /* examine's read */
	for (int i = 0; i < MT_THREADS; i++) {
		w[i] = (struct mt_worker){.desc = o.desc, .region = (uint64_t)i * MiB};
		cr_assert_eq(pthread_create(&w[i].tid, NULL, mt_main, &w[i]), 0);
	}
	for (int i = 0; i < MT_THREADS; i++) {
		/* the descriptor's thread keeps serving its messages meanwhile */
		while (pthread_tryjoin_np(w[i].tid, NULL) != 0) {
			fx_poll();
		}
		cr_assert_eq(w[i].errors, 0, "worker %d: %d I/O errors", i, w[i].errors);
		cr_assert_eq(w[i].mismatches, 0, "worker %d: %d blocks read back wrong", i,
			     w[i].mismatches);
		cr_assert_eq(w[i].done, MT_IOS);
	}
	fb_get_stat(o.bdev, &st);
	cr_assert_eq(st.stat.num_write_ops - base.stat.num_write_ops, (uint64_t)MT_THREADS * MT_IOS,
		     "writes counted over all channels");
	cr_assert_eq(st.stat.num_read_ops - base.stat.num_read_ops, (uint64_t)MT_THREADS * MT_IOS,
		     "reads counted over all channels: expected %lu, got %lu",
		     (unsigned long)MT_THREADS * MT_IOS,
		     (unsigned long)(st.stat.num_read_ops - base.stat.num_read_ops));
	fb_close(&o);
}

/*
 * Sleeping: the ring's or context's eventfd wakes a thread that sleeps with
 * I/O outstanding, and nothing wakes it when there is none.
 */
Test(file_bdev, completion_wakes_a_sleeping_thread)
{
	char path[512];
	struct fb_args a = fb_defaults("W0", fb_path(path, sizeof(path), "w0.img"));
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(MiB, 4096);
	int fd = spio_thread_get_interrupt_fd(g_fx_thread);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct fb_io r = {0};

	cr_assert_geq(fd, 0);
	make_file(path, 8 * MiB, 12);
	fb_create_ok(&a, &o);
	cr_assert_not(spio_thread_has_active_pollers_without_interrupt(g_fx_thread),
		      "the channel's poller is woken by its eventfd");

	/* Settle, then an idle sleep is not woken. */
	fx_poll_for(1000);
	cr_assert(spio_thread_sleep_begin(g_fx_thread));
	spio_thread_sleep_end(g_fx_thread);
	cr_assert(spio_thread_sleep_begin(g_fx_thread));
	cr_assert_eq(poll(&pfd, 1, 50), 0, "no I/O outstanding: nothing may wake the thread");
	spio_thread_sleep_end(g_fx_thread);

	/* Submit, hand it to the kernel, sleep: the completion wakes us. */
	cr_assert_eq(spio_bdev_read(o.desc, o.ch, buf, 0, MiB, fb_io_done, &r), 0);
	fx_poll();
	if (r.done == 0 && spio_thread_sleep_begin(g_fx_thread)) {
		cr_assert_eq(poll(&pfd, 1, 10000), 1, "the completion must wake the thread");
	}
	spio_thread_sleep_end(g_fx_thread);
	cr_assert(fx_poll_until(&r.done, 1, FB_TIMEOUT_US));
	cr_assert(r.success);
	fb_close(&o);
	spio_dma_free(buf);
}

/*
 * RPC and configuration
 */

Test(file_bdev, rpc_create_rescan_delete_and_replay)
{
	char path[512], dir[512];
	const char *create = "bdev_" FB_MODULE "_create";
	json_t *res, *entry;
	struct spio_bdev *bdev;

	make_file(fb_path(path, sizeof(path), "rpc.img"), 2 * MiB, 13);
	res = fx_rpc(
	    create,
	    json_pack("{s:s, s:s, s:i}", "name", "Rpc0", "filename", path, "block_size", 4096), 0,
	    NULL);
	cr_assert_str_eq(json_string_value(res), "Rpc0", "the result is the name");
	json_decref(res);
	bdev = spio_bdev_get_by_name("Rpc0");
	cr_assert_not_null(bdev);
	cr_assert_eq(spio_bdev_get_block_size(bdev), 4096);

	/* Errors: each a clear answer, no bdev. */
	fx_rpc(create, json_pack("{s:s, s:s}", "name", "Bad", "filename", "/nonexistent/x.img"),
	       -ENOENT, "/nonexistent/x.img");
	fb_path(dir, sizeof(dir), "rpcdir");
	cr_assert_eq(mkdir(dir, 0755), 0);
	fx_rpc(create, json_pack("{s:s, s:s}", "name", "Bad", "filename", dir), -EISDIR,
	       "directory");
	fx_rpc(create, json_pack("{s:s, s:s}", "name", "Rpc0", "filename", path), -EEXIST, "Rpc0");
	fx_rpc(create, json_pack("{s:s}", "name", "Bad"), SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	       "filename");
	fx_rpc(create,
	       json_pack("{s:s, s:s, s:s}", "name", "Bad", "filename", path, "color", "red"),
	       SPIO_JSONRPC_ERROR_INVALID_PARAMS, "color");
	fx_rpc(create, json_pack("{s:s, s:s, s:s}", "name", "Bad", "filename", path, "uuid", "zz"),
	       SPIO_JSONRPC_ERROR_INVALID_PARAMS, "uuid");
	fx_rpc(create,
	       json_pack("{s:s, s:s, s:s}", "name", "Bad", "filename", path, "block_size", "x"),
	       SPIO_JSONRPC_ERROR_INVALID_PARAMS, "block_size");
	cr_assert_null(spio_bdev_get_by_name("Bad"));

	/* Rescan after growing the file. */
	cr_assert_eq(truncate(path, 4 * MiB), 0);
	res = fx_rpc("bdev_" FB_MODULE "_rescan", json_pack("{s:s}", "name", "Rpc0"), 0, NULL);
	cr_assert(json_is_true(res));
	json_decref(res);
	cr_assert_eq(spio_bdev_get_num_blocks(bdev), 1024);
	fx_rpc("bdev_" FB_MODULE "_rescan", json_pack("{s:s}", "name", "nope"), -ENODEV, "nope");

	/* save_config's entry recreates the same bdev. */
	entry = fx_config_entry(bdev);
	cr_assert_str_eq(json_string_value(json_object_get(entry, "method")), create);
	json_t *params = json_object_get(entry, "params");
	cr_assert_str_eq(json_string_value(json_object_get(params, "filename")), path);
	cr_assert_eq(json_integer_value(json_object_get(params, "block_size")), 4096);
	char uuid[SPIO_UUID_STRING_LEN];
	spio_uuid_fmt_lower(uuid, sizeof(uuid), spio_bdev_get_uuid(bdev));
	cr_assert_str_eq(json_string_value(json_object_get(params, "uuid")), uuid);

	res = fx_rpc("bdev_" FB_MODULE "_delete", json_pack("{s:s}", "name", "Rpc0"), 0, NULL);
	cr_assert(json_is_true(res));
	json_decref(res);
	cr_assert_null(spio_bdev_get_by_name("Rpc0"));
	fx_rpc("bdev_" FB_MODULE "_delete", json_pack("{s:s}", "name", "Rpc0"), -ENODEV, NULL);

	res = fx_rpc(create, json_incref(params), 0, NULL);
	json_decref(res);
	bdev = spio_bdev_get_by_name("Rpc0");
	cr_assert_not_null(bdev, "the saved entry replays");
	cr_assert_eq(spio_bdev_get_num_blocks(bdev), 1024);
	char uuid2[SPIO_UUID_STRING_LEN];
	spio_uuid_fmt_lower(uuid2, sizeof(uuid2), spio_bdev_get_uuid(bdev));
	cr_assert_str_eq(uuid2, uuid, "the same UUID again");
	json_decref(entry);
}

/*
 * Block devices (loop devices over a file)
 */

Test(file_bdev, loop_device_geometry_data_discard_and_resize)
{
	char path[512];
	struct fb_args a;
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(MiB, 4096);
	uint8_t *plain = malloc(MiB);
	char cmd[600];

	make_file(fb_path(path, sizeof(path), "loop.img"), 16 * MiB, 14);
	if (!loop_attach(path, 4096)) {
		cr_skip_test("no loop device (losetup failed): needs root and the loop driver");
	}
	a = fb_defaults("L0", g_fb.loopdev);

	/* O_DIRECT cannot go below the device's 4 KiB logical blocks. */
	a.block_size = 512;
	expect_create_error(&a, -EINVAL, "logical block size 4096");
	a.block_size = 0;

	fb_create_ok(&a, &o);
	cr_assert_eq(spio_bdev_get_block_size(o.bdev), 4096, "BLKSSZGET");
	cr_assert_eq(spio_bdev_get_num_blocks(o.bdev), 16 * MiB / 4096, "BLKGETSIZE64");

	cr_assert_eq(fb_read(&o, buf, 4 * MiB, 65536), 0);
	cr_assert_eq(pattern_mismatch(buf, 4 * MiB, 65536, 14), -1, "device reads its file");
	pattern_fill(buf, MiB, 65536, 15);
	cr_assert_eq(fb_write(&o, buf, MiB, 65536), 0);
	cr_assert_eq(fb_flush(&o), 0);
	file_pread(g_fb.loopdev, plain, 65536, MiB);
	cr_assert_eq(memcmp(plain, buf, 65536), 0, "the device holds the write");

	cr_assert(spio_bdev_io_type_supported(o.bdev, SPIO_BDEV_IO_TYPE_WRITE_ZEROES));
	cr_assert_eq(fb_write_zeroes(&o, 2 * MiB, 256 * 1024), 0);
	cr_assert_eq(fb_read(&o, buf, 2 * MiB, 256 * 1024), 0);
	cr_assert(all_zero(buf, 256 * 1024), "write_zeroes on a block device");
	if (spio_bdev_io_type_supported(o.bdev, SPIO_BDEV_IO_TYPE_UNMAP)) {
		cr_assert_eq(fb_unmap(&o, 8 * MiB, MiB), 0, "discard");
		/* a loop device discards by punching its file: zeroes */
		cr_assert_eq(fb_read(&o, buf, 8 * MiB, MiB), 0);
		cr_assert(all_zero(buf, MiB), "discarded range of a loop device");
	}

	/* Grow the file, tell the loop device, rescan. */
	cr_assert_eq(truncate(path, 24 * MiB), 0);
	snprintf(cmd, sizeof(cmd), "losetup -c %s", g_fb.loopdev);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(fb_rescan("L0"), 0);
	cr_assert(fx_poll_until(&o.resizes, 1, FB_TIMEOUT_US));
	cr_assert_eq(spio_bdev_get_num_blocks(o.bdev), 24 * MiB / 4096);
	cr_assert_eq(fb_read(&o, buf, 20 * MiB, 4096), 0);

	fb_close(&o);
	fb_delete_ok("L0");
	spio_dma_free(buf);
	free(plain);
}
