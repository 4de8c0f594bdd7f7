/*
 * A "power cut" bs_dev for the blob tests: a wrapper over a memory bs_dev
 * that counts writes and, after a chosen number of them, silently drops
 * every later one while reporting success (the power is gone and the
 * program does not know). It can also log every write that reached the
 * memory (its range and, on request, its data), so a test can run a
 * workload once and rebuild the device as it was after any prefix of its
 * writes: the cheap way to try thousands of cut points.
 *
 * Writes are write, writev, write_zeroes and unmap (the memory device
 * zeroes an unmapped range); flush changes no data and is not counted.
 *
 * The memory device belongs to the struct cut_ctl, not to the wrappers: a
 * wrapper handed to a blobstore is destroyed at unload, the memory stays,
 * so one memory device serves many loads in turn.
 */
#ifndef HELPER_CUT_DEV_H
#define HELPER_CUT_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spio_bs_dev;

/* What a cut_ctl keeps of each write that reached the memory. */
enum cut_log_mode {
	CUT_LOG_OFF,
	CUT_LOG_RANGES, /* lba and length only (enough to undo the writes from a copy) */
	CUT_LOG_DATA,	/* also the bytes written (enough to replay them) */
};

/* One write that reached the memory. */
struct cut_write {
	uint64_t lba;
	uint64_t blocks;
	uint8_t *data; /* blocks * blocklen bytes (CUT_LOG_DATA and a data write), else NULL */
	bool zeroes;   /* write_zeroes or unmap: the range became zeroes */
};

struct cut_ctl {
	struct spio_bs_dev *mem; /* the memory device, owned here */
	uint8_t *bytes;		 /* its data: blockcnt * blocklen bytes */
	uint64_t blockcnt;
	uint32_t blocklen;

	uint64_t writes;  /* writes submitted through any wrapper so far (dropped ones too) */
	uint64_t limit;	  /* writes with index >= limit are dropped; UINT64_MAX: none */
	uint64_t dropped; /* writes dropped so far */

	enum cut_log_mode mode;
	struct cut_write *log; /* the writes that reached the memory, in submission order */
	size_t nlog;
	size_t caplog;

	int live;      /* wrappers created and not yet destroyed */
	int destroyed; /* wrappers destroyed (by their owner, e.g. a blobstore's unload) */
};

/*
 * Make `c` with a zeroed memory device of `blockcnt` blocks of `blocklen`
 * bytes, no limit, no log. On a spio thread. Asserts on failure.
 */
void cut_ctl_init(struct cut_ctl *c, uint64_t blockcnt, uint32_t blocklen);

/*
 * Free the log and destroy the memory device (its memory goes once the
 * thread is polled). No wrapper may be alive. On the thread of init.
 */
void cut_ctl_fini(struct cut_ctl *c);

/*
 * A new wrapper over c->mem for a blobstore (or anything) to consume: its
 * destroy() frees the wrapper only. NULL on ENOMEM.
 */
struct spio_bs_dev *cut_dev_create(struct cut_ctl *c);

/* Forget the log (frees the data); counters stay. */
void cut_log_clear(struct cut_ctl *c);

/* Apply log entries [from, to) to `image` (blockcnt * blocklen bytes), as the memory got them. */
void cut_log_apply(const struct cut_ctl *c, size_t from, size_t to, uint8_t *image);

/* Copy every range the log holds from `src` to `dst` (undo the logged writes from a copy). */
void cut_log_restore(const struct cut_ctl *c, uint8_t *dst, const uint8_t *src);

#endif /* HELPER_CUT_DEV_H */
