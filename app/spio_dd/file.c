/*
 * The file side of spio_dd: opening, sizes and O_DIRECT alignment, and the
 * job's io_uring. Reads and writes only fill submission entries; the ring's
 * poller (on the app thread) reaps completions without a system call, hands
 * them to the copy loop, and submits what the callbacks queued in one
 * io_uring_enter per poll. Nothing here blocks on data.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "spio/util.h"

#include "dd.h"

/* Completions handed to the copy loop per peek. */
#define DD_CQE_BATCH 32

/* O_DIRECT needs at least this much alignment when the kernel does not say. */
#define DD_DIRECT_ALIGN_MIN 512u

static const char *side_opt(const struct dd_target *t)
{
	return t->input ? "--if" : "--of";
}

/* Offset and length alignment of O_DIRECT I/O on the open file. */
static uint32_t direct_align(int fd, bool blockdev)
{
	struct statx stx;
	int bs = 0;

	if (blockdev) {
		return ioctl(fd, BLKSSZGET, &bs) == 0 && bs > 0 ? (uint32_t)bs
								: DD_DIRECT_ALIGN_MIN;
	}
	/* statx reports it since Linux 6.1 */
	if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align != 0) {
		return SPIO_MAX(stx.stx_dio_offset_align, 1u);
	}
	return DD_DIRECT_ALIGN_MIN;
}

int dd_file_open(struct dd_target *t, const char *path, int flags, bool input)
{
	struct stat st;
	uint64_t size;
	int oflags = flags | O_CLOEXEC;

	t->kind = DD_KIND_FILE;
	t->input = input;
	t->name = path;
	t->fixed_index = -1;
	if (input) {
		oflags |= O_RDONLY;
	} else {
		/* read too: a partial output block is read before it is written */
		oflags |= O_RDWR;
		if ((flags & O_DIRECTORY) == 0) {
			oflags |= O_CREAT;
		}
	}
	t->fd = open(path, oflags, 0600);
	if (t->fd < 0) {
		int err = errno;

		fprintf(
		    stderr, "spio_dd: %s %s: cannot open: %s%s\n", side_opt(t), path, strerror(err),
		    err == EINVAL && (flags & O_DIRECT) ? " (its file system may not do O_DIRECT)"
							: "");
		return DD_EXIT_FAIL;
	}
	if (fstat(t->fd, &st) != 0) {
		fprintf(stderr, "spio_dd: %s %s: fstat: %s\n", side_opt(t), path, strerror(errno));
		return DD_EXIT_FAIL;
	}
	t->regular = S_ISREG(st.st_mode);
	t->stream = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
	if (t->regular) {
		t->size = (uint64_t)st.st_size;
		t->size_known = true;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(t->fd, BLKGETSIZE64, &size) != 0) {
			fprintf(stderr, "spio_dd: %s %s: cannot read the device size: %s\n",
				side_opt(t), path, strerror(errno));
			return DD_EXIT_FAIL;
		}
		t->size = size;
		t->size_known = true;
	}
	/* character devices and pipes: no size; --count says how much */
	t->block_size = (flags & O_DIRECT) ? direct_align(t->fd, S_ISBLK(st.st_mode)) : 1;
	t->buf_align = t->block_size;
	return 0;
}

int dd_file_truncate_start(struct dd_target *t)
{
	if (!t->regular || (g_dd_opts.output_flags & O_APPEND)) {
		return 0;
	}
	if (ftruncate(t->fd, 0) != 0) {
		fprintf(stderr, "spio_dd: --of %s: cannot truncate: %s\n", t->name,
			strerror(errno));
		return DD_EXIT_FAIL;
	}
	return 0;
}

int dd_file_set_end(struct dd_target *t, uint64_t end)
{
	struct stat st;

	if (!t->regular || (g_dd_opts.output_flags & O_APPEND)) {
		return 0;
	}
	if (fstat(t->fd, &st) != 0) {
		fprintf(stderr, "spio_dd: --of %s: fstat: %s\n", t->name, strerror(errno));
		return DD_EXIT_FAIL;
	}
	if ((uint64_t)st.st_size != end && ftruncate(t->fd, (off_t)end) != 0) {
		fprintf(stderr, "spio_dd: --of %s: cannot set its size to %" PRIu64 ": %s\n",
			t->name, end, strerror(errno));
		return DD_EXIT_FAIL;
	}
	return 0;
}

void dd_file_close(struct dd_target *t)
{
	if (t->kind == DD_KIND_FILE && t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
}

int dd_file_next_data(struct dd_target *t, uint64_t off, uint64_t *data, uint64_t *hole)
{
	off_t d, h;

	d = lseek(t->fd, (off_t)off, SEEK_DATA);
	if (d < 0) {
		if (errno == ENXIO) {
			return 0;
		}
		fprintf(stderr, "spio_dd: --if %s: SEEK_DATA from %" PRIu64 ": %s\n", t->name, off,
			strerror(errno));
		return -errno;
	}
	h = lseek(t->fd, d, SEEK_HOLE);
	if (h < 0) {
		fprintf(stderr, "spio_dd: --if %s: SEEK_HOLE from %" PRIu64 ": %s\n", t->name,
			(uint64_t)d, strerror(errno));
		return -errno;
	}
	*data = (uint64_t)d;
	*hole = (uint64_t)h;
	return 1;
}

/*
 * The ring
 */

static unsigned dd_ring_reap(struct dd_job *job)
{
	struct io_uring_cqe *cqes[DD_CQE_BATCH];
	struct dd_slot *slots[DD_CQE_BATCH];
	int res[DD_CQE_BATCH];
	unsigned n, i, total = 0;

	do {
		n = io_uring_peek_batch_cqe(&job->ring, cqes, DD_CQE_BATCH);
		/* release the entries before the callbacks queue more */
		for (i = 0; i < n; i++) {
			slots[i] = io_uring_cqe_get_data(cqes[i]);
			res[i] = cqes[i]->res;
		}
		io_uring_cq_advance(&job->ring, n);
		for (i = 0; i < n; i++) {
			dd_io_done(slots[i], res[i], slots[i]->io_len);
		}
		total += n;
	} while (n == DD_CQE_BATCH);
	return total;
}

static int dd_ring_poll(void *arg)
{
	struct dd_job *job = arg;
	unsigned reaped = dd_ring_reap(job);
	int rc;

	if (io_uring_sq_ready(&job->ring) == 0) {
		return reaped ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
	}
	rc = io_uring_submit(&job->ring);
	if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR) {
		fprintf(stderr, "spio_dd: io_uring_submit: %s\n", strerror(-rc));
		dd_copy_fail(job, DD_EXIT_FAIL);
	}
	return SPIO_POLLER_BUSY;
}

/*
 * The kernel's io-wq workers (buffered writes, reads that would block) take
 * the affinity of the ring's creator, the reactor pinned to its core. Let
 * them run on any core, as spdk_dd does by creating its ring unaffinitized:
 * the scheduler then places them best. (Keeping them off the reactor's core
 * instead made 4 KiB buffered writes 15x slower on a loaded 2-core machine:
 * a woken worker preempts a spinning reactor sooner than a busy neighbour.)
 */
static void dd_ring_workers_anywhere(struct dd_job *job)
{
	cpu_set_t all;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&all);
	for (long cpu = 0; cpu < ncpu && cpu < CPU_SETSIZE; cpu++) {
		CPU_SET(cpu, &all);
	}
	/* only slower without it */
	(void)io_uring_register_iowq_aff(&job->ring, sizeof(all), &all);
}

static int dd_ring_register(struct dd_job *job)
{
	struct dd_target *files[2];
	struct iovec iovs[DD_MAX_QD];
	int fds[2] = {-1, -1}, nfiles = 0, rc;
	uint32_t i;

	if (job->in.kind == DD_KIND_FILE) {
		files[nfiles++] = &job->in;
	}
	if (job->out.kind == DD_KIND_FILE) {
		files[nfiles++] = &job->out;
	}
	for (int f = 0; f < nfiles; f++) {
		fds[f] = files[f]->fd;
	}
	rc = io_uring_register_files(&job->ring, fds, (unsigned)nfiles);
	if (rc == 0) {
		for (int f = 0; f < nfiles; f++) {
			files[f]->fixed_index = f;
		}
	}
	/* fixed buffers save the kernel a page walk per I/O; without them it still works */
	for (i = 0; i < job->nslots; i++) {
		iovs[i].iov_base = job->slots[i].buf;
		iovs[i].iov_len = g_dd_opts.bs;
		job->slots[i].index = i;
	}
	rc = io_uring_register_buffers(&job->ring, iovs, job->nslots);
	job->fixed_buffers = rc == 0;
	return 0;
}

int dd_ring_init(struct dd_job *job)
{
	struct io_uring_params p;
	unsigned entries = (unsigned)spio_align_pow2(SPIO_MAX(job->nslots, 8u));
	int rc;

	memset(&p, 0, sizeof(p));
	/* we enter the kernel every busy poll anyway: no interrupt per completion */
	p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	rc = io_uring_queue_init_params(entries, &job->ring, &p);
	if (rc == -EINVAL) {
		/* before Linux 5.19 */
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(entries, &job->ring, &p);
	}
	if (rc < 0) {
		fprintf(stderr, "spio_dd: cannot create an io_uring of %u entries: %s\n", entries,
			strerror(-rc));
		return DD_EXIT_FAIL;
	}
	job->ring_ready = true;
	dd_ring_workers_anywhere(job);
	dd_ring_register(job);

	job->ring_poller = spio_poller_register_named(dd_ring_poll, job, 0, "dd_ring");
	if (job->ring_poller == NULL) {
		fprintf(stderr, "spio_dd: cannot register the ring poller: %s\n", strerror(errno));
		return DD_EXIT_FAIL;
	}
	/* lets an adaptive reactor (--idle adaptive) sleep while the kernel works */
	job->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (job->efd < 0 || io_uring_register_eventfd(&job->ring, job->efd) < 0 ||
	    spio_poller_set_interrupt_fd(job->ring_poller, job->efd) != 0) {
		fprintf(stderr, "spio_dd: no eventfd for the io_uring: %s\n", strerror(errno));
		return DD_EXIT_FAIL;
	}
	return 0;
}

void dd_ring_fini(struct dd_job *job)
{
	spio_poller_unregister(&job->ring_poller);
	if (job->ring_ready) {
		io_uring_queue_exit(&job->ring);
		job->ring_ready = false;
	}
	if (job->efd >= 0) {
		close(job->efd);
		job->efd = -1;
	}
}

int dd_file_submit(struct dd_job *job, struct dd_target *t, struct dd_slot *slot, void *buf,
		   uint64_t off, uint64_t len)
{
	bool fixed = job->fixed_buffers && buf == slot->buf;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&job->ring);
	bool read = slot->op != DD_OP_WRITE;
	int fd = t->fixed_index >= 0 ? t->fixed_index : t->fd;

	if (sqe == NULL) {
		/* every slot has at most one file I/O and the ring has an entry per slot */
		io_uring_submit(&job->ring);
		sqe = io_uring_get_sqe(&job->ring);
		if (sqe == NULL) {
			return -EBUSY;
		}
	}
	if (fixed && read) {
		io_uring_prep_read_fixed(sqe, fd, buf, (unsigned)len, off, (int)slot->index);
	} else if (fixed) {
		io_uring_prep_write_fixed(sqe, fd, buf, (unsigned)len, off, (int)slot->index);
	} else if (read) {
		io_uring_prep_read(sqe, fd, buf, (unsigned)len, off);
	} else {
		io_uring_prep_write(sqe, fd, buf, (unsigned)len, off);
	}
	if (t->fixed_index >= 0) {
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	io_uring_sqe_set_data(sqe, slot);
	slot->io_buf = buf;
	slot->io_off = off;
	slot->io_len = len;
	return 0;
}
