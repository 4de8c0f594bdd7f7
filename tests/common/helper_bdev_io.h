/*
 * One bdev I/O's outcome, for tests of any directory that submit bdev I/O
 * and wait for it (tests/common, linked into every unit test).
 */
#ifndef SPIO_TEST_HELPER_BDEV_IO_H
#define SPIO_TEST_HELPER_BDEV_IO_H

#include <stdbool.h>

#include "spio/bdev.h"

/* What test_io_cb saw: how many completions (a second one shows), the last status. */
struct test_io {
	int done;
	enum spio_bdev_io_status status;
};

/*
 * A spio_bdev_io_completion_cb: `arg` is a struct test_io; counts the
 * completion, records the status and frees the I/O. Runs on the thread the
 * bdev layer completes on; the test polls `done` on its own thread.
 */
void test_io_cb(struct spio_bdev_io *bdev_io, bool success, void *arg);

#endif
