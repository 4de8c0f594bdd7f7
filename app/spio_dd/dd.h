/*
 * spio_dd: shared state of the copy tool (SPDK's spdk_dd).
 *
 * Everything runs on the app thread: the bdevs are opened there, their I/O
 * completes there, and the io_uring of the file side is reaped there by a
 * poller. One job per run; it owns `qd` slots, each with one DMA buffer of
 * `bs` bytes, and each slot carries one chunk at a time through populate
 * (only for a partial output block), read and write.
 *
 * Files: opts.c (command line), file.c (files through io_uring), bdev.c
 * (bdevs), copy.c (the slots, progress and the end), main.c (start-up).
 */
#ifndef SPIO_DD_H
#define SPIO_DD_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/thread.h"

/* Exit status: success, a failed copy, a bad command line or combination. */
#define DD_EXIT_OK 0
#define DD_EXIT_FAIL 1
#define DD_EXIT_USAGE 2

/* spdk_dd's defaults. */
#define DD_DEFAULT_BS 4096u
#define DD_DEFAULT_QD 2u

#define DD_MAX_QD 4096u
/* Below io_uring's cap of one read or write (INT_MAX rounded down to a page). */
#define DD_MAX_BS (1024u * 1024 * 1024)

struct dd_options {
	const char *input_file;	 /* --if */
	const char *output_file; /* --of */
	const char *input_bdev;	 /* --ib */
	const char *output_bdev; /* --ob */
	const char *iflag;	 /* --iflag as given */
	const char *oflag;	 /* --oflag as given */
	int input_flags;	 /* open(2) flags from --iflag */
	int output_flags;	 /* open(2) flags from --oflag */
	uint64_t bs;		 /* --bs, bytes */
	uint32_t qd;		 /* --qd */
	uint64_t count;		 /* --count, in bs units; 0: all */
	uint64_t skip;		 /* --skip, in bs units of the input */
	uint64_t seek;		 /* --seek, in bs units of the output */
	bool sparse;		 /* --sparse: skip holes of the input file */
};

extern struct dd_options g_dd_opts;

enum dd_kind {
	DD_KIND_NONE,
	DD_KIND_FILE,
	DD_KIND_BDEV,
};

/* One side of the copy. */
struct dd_target {
	enum dd_kind kind;
	bool input;
	const char *name; /* the path or bdev name as given */
	/*
	 * Offsets and lengths of I/O must be multiples of this: a bdev's block
	 * size, an O_DIRECT file's alignment, 1 for a buffered file.
	 */
	uint32_t block_size;
	uint64_t buf_align;
	uint64_t size;	 /* bytes; 0 with !size_known */
	bool size_known; /* false for character devices and pipes */

	/* files */
	int fd;
	int fixed_index; /* in the ring's registered files; -1: not registered */
	bool regular;
	bool stream; /* a pipe or socket: no offsets, reads may return less */

	/* bdevs */
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
};

/* What a slot does with its chunk, in this order; populate only when needed. */
enum dd_op {
	DD_OP_READ,
	DD_OP_POPULATE, /* read the output block the chunk's end falls into */
	DD_OP_WRITE,
};

struct dd_slot {
	void *buf;	/* --bs bytes */
	void *tail;	/* one output block: the old content around a partial block */
	uint32_t index; /* of buf in the ring's registered buffers */
	enum dd_op op;
	uint64_t in_off; /* byte offset of the chunk in the input */
	uint64_t out_off;
	uint64_t len; /* bytes of data in the chunk */
	uint64_t got; /* bytes of the chunk read so far */
	/* the current operation, as asked of the device */
	void *io_buf;
	uint64_t io_off;
	uint64_t io_len;
	struct spio_bdev_io_wait_entry wait;
};

struct dd_job {
	struct dd_target in;
	struct dd_target out;

	struct dd_slot *slots;
	uint32_t nslots;
	uint32_t busy; /* slots carrying a chunk (plus one while starting) */

	uint64_t in_start;  /* --skip * bs */
	uint64_t out_start; /* --seek * bs */
	uint64_t copy_size; /* bytes to copy */
	uint64_t next;	    /* offset in the copy region of the next chunk */
	uint64_t copied;    /* bytes written to the output */
	bool in_eof;	    /* sparse: no data left in the input */

	int exit_rc; /* DD_EXIT_*; the first failure wins */
	bool stopping;
	bool finished;
	bool interrupted;

	/* the file side */
	struct io_uring ring;
	bool ring_ready;
	bool fixed_buffers;
	int efd;
	struct spio_poller *ring_poller;

	/* progress */
	struct spio_poller *progress_poller;
	bool tty;
	uint64_t start_tick;
	uint64_t last_tick;
	uint64_t last_copied;
};

extern struct dd_job g_dd;

/*
 * opts.c
 */

/*
 * Parse the command line into g_dd_opts and `app` (the common options) and
 * check the combinations that need no device. True to run; false to exit
 * with *exit_rc (help, version or a bad command line, reported on stderr).
 */
bool dd_parse_args(int argc, char **argv, struct spio_app_opts *app, int *exit_rc);

/*
 * file.c
 */

/*
 * Open g_dd_opts' input or output file into `t` and learn its size and
 * alignment. Messages go to stderr. 0, or a DD_EXIT_* code.
 */
int dd_file_open(struct dd_target *t, const char *path, int flags, bool input);

/* Empty a regular output file before the copy (as O_TRUNC would). 0 or DD_EXIT_FAIL. */
int dd_file_truncate_start(struct dd_target *t);

/*
 * Give the regular output file its final size, `end` bytes: the end of the
 * copied region (a rounded-up O_DIRECT tail is cut, a skipped hole at the
 * end is kept). 0 or DD_EXIT_FAIL.
 */
int dd_file_set_end(struct dd_target *t, uint64_t end);

/* Close the file of `t` (if open). */
void dd_file_close(struct dd_target *t);

/*
 * Set up the job's io_uring for its file targets and slots (registered
 * files and, where the kernel lets us, buffers) and its poller. 0 or
 * DD_EXIT_FAIL.
 */
int dd_ring_init(struct dd_job *job);

/* Tear the ring down; every file I/O must have completed. */
void dd_ring_fini(struct dd_job *job);

/*
 * Queue the slot's operation (a read for DD_OP_READ and DD_OP_POPULATE, else
 * a write) of `len` bytes of `buf` at byte `off` of file `t`; dd_io_done()
 * runs from the poller. 0, or -EBUSY when no submission entry is free.
 */
int dd_file_submit(struct dd_job *job, struct dd_target *t, struct dd_slot *slot, void *buf,
		   uint64_t off, uint64_t len);

/*
 * Sparse input: the next data at or after `off` (*data) and the end of
 * that data extent (*hole). 1 found, 0 no data left, -errno (reported on
 * stderr) when the file system cannot say.
 */
int dd_file_next_data(struct dd_target *t, uint64_t off, uint64_t *data, uint64_t *hole);

/*
 * bdev.c
 */

/* Open bdev `name` (name, alias or UUID) into `t`. 0 or DD_EXIT_FAIL. */
int dd_bdev_open(struct dd_target *t, const char *name, bool input);

/* Put the channel and close the descriptor of `t` (if open). */
void dd_bdev_close(struct dd_target *t);

/*
 * Submit the slot's operation (as dd_file_submit) of `len` bytes of `buf` at
 * byte `off` of bdev `t`; dd_io_done() runs on completion. A lack of
 * bdev_io waits for one. 0 or a negative errno (reported by the caller).
 */
int dd_bdev_submit(struct dd_target *t, struct dd_slot *slot, void *buf, uint64_t off,
		   uint64_t len);

/*
 * copy.c
 */

/*
 * Completion of the slot's current operation: `res` is the number of bytes
 * done (>= 0) or a negative errno; `expected` what was asked.
 */
void dd_io_done(struct dd_slot *slot, int64_t res, uint64_t expected);

/* Start the copy: progress timer, every slot on its first chunk. */
void dd_copy_start(struct dd_job *job);

/* Stop with `rc` (DD_EXIT_*) once the I/O in flight has finished. */
void dd_copy_fail(struct dd_job *job, int rc);

/* Release everything and stop the app with job->exit_rc. */
void dd_job_end(struct dd_job *job);

/* Where the chunk's length `len` must be rounded up to on target `t`. */
uint64_t dd_round_len(const struct dd_target *t, uint64_t len);

#endif /* SPIO_DD_H */
