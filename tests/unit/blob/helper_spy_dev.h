/*
 * A bs_dev over a memory bs_dev that counts what is done to it (reads,
 * writes of any kind, flushes, its destruction) and fails the Nth read on
 * request. destroy() only counts: the memory device stays, so a test can
 * look at its bytes afterwards, until spy_dev_release().
 */
#ifndef HELPER_SPY_DEV_H
#define HELPER_SPY_DEV_H

#include <stdint.h>

#include "spio/blob_bdev.h"

struct spy_dev {
	struct spio_bs_dev base; /* first: the bs_dev callbacks cast back */
	struct spio_bs_dev *inner;
	int reads;
	int writes; /* write, writev, write_zeroes, unmap */
	int flushes;
	int destroyed;
	int fail_read; /* 1-based read number to complete with -EIO (its data is read), 0: none */
	struct spio_bs_dev_cb_args *failed_args;
	struct spio_bs_dev_cb_args own;
};

/*
 * Set up `s` over a new zeroed memory device of `size` bytes in `blocklen`
 * blocks (a failure fails the test); its bytes in *data. Any device `s`
 * held before is not freed. \return &s->base, owned by `s`.
 */
struct spio_bs_dev *spy_dev_init(struct spy_dev *s, uint64_t size, uint32_t blocklen,
				 uint8_t **data);

/* Free the memory device of `s` (if any) and zero `s`. */
void spy_dev_release(struct spy_dev *s);

#endif /* HELPER_SPY_DEV_H */
