/*
 * The passthru example module's public API (examples/bdev_module/passthru.c):
 * a bdev stacked on another one that forwards every I/O and counts them.
 */
#ifndef PASSTHRU_H
#define PASSTHRU_H

#include <stdint.h>

#include "spio/bdev.h"

/** Counters of one passthru bdev: I/O that completed through it. */
struct passthru_stats {
	uint64_t reads;	  /* successful reads */
	uint64_t writes;  /* successful writes */
	uint64_t unmaps;  /* successful unmaps */
	uint64_t flushes; /* successful flushes */
	uint64_t other;	  /* other successful I/O (reset, write_zeroes, compare, ...) */
	uint64_t errors;  /* I/O that did not succeed (failure or miscompare), any type */
};

/*
 * Create the passthru bdev `name` on top of the bdev `base_name`, claiming
 * the base. On a spio thread, after spio_bdev_initialize(); the base is
 * opened on (and belongs to) the calling thread.
 * Returns 0 and *bdev; -EINVAL (NULL or empty arguments); -ENODEV (no such
 * base); -EEXIST (name taken); -EPERM (base claimed, or open for writing
 * elsewhere); -ENOMEM; or spio_bdev_register()'s error.
 */
int passthru_create(const char *base_name, const char *name, struct spio_bdev **bdev);

/*
 * Unregister the passthru bdev `name`; `cb` (optional) runs on the calling
 * thread once it is gone and the base is released.
 * Returns 0; -EINVAL; -ENODEV (no passthru bdev of that name); -EBUSY.
 */
int passthru_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

/*
 * Copy the counters of the passthru bdev `name` into *stats. Any thread.
 * Returns 0; -EINVAL (NULL); -ENODEV (no passthru bdev of that name).
 */
int passthru_get_stats(const char *name, struct passthru_stats *stats);

#endif
