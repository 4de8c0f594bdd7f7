/*
 * The delay bdev module (SPDK's bdev_delay): a bdev on a claimed base that
 * completes each read and write a set latency after the base completed it;
 * one read (write) in every 100 gets the p99 latency instead of the
 * average one. Private to module/bdev and its tests. On the app thread.
 */
#ifndef SPIO_MODULE_VBDEV_DELAY_H
#define SPIO_MODULE_VBDEV_DELAY_H

#include <stdint.h>

#include "spio/bdev_module.h"

/* Which latency; the order of the latency_us arrays below. */
enum vbdev_delay_latency {
	VBDEV_DELAY_AVG_READ,
	VBDEV_DELAY_P99_READ,
	VBDEV_DELAY_AVG_WRITE,
	VBDEV_DELAY_P99_WRITE,
	VBDEV_DELAY_NUM_LATENCIES,
};

/*
 * Create delay bdev `name` on `base_name` with the latencies in
 * microseconds (indexed by enum vbdev_delay_latency). A base that does not
 * exist yet is used when it appears; *bdev is then NULL. `uuid` NULL or
 * all-zero: generated.
 * \return 0; -EINVAL (NULL or empty name, a p99 latency below its average,
 *         as SPDK); -EEXIST (name taken); -EPERM (base claimed); -ENOMEM.
 */
int vbdev_delay_create(const char *base_name, const char *name, const struct spio_uuid *uuid,
		       const uint64_t latency_us[VBDEV_DELAY_NUM_LATENCIES],
		       struct spio_bdev **bdev);

/*
 * Unregister delay bdev `name` and forget it; `cb` (optional) runs once it
 * is gone. I/O still delayed completes as usual first.
 * \return 0; -EINVAL; -ENODEV (no such delay bdev).
 */
int vbdev_delay_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

/*
 * Set one latency of delay bdev `name`; applies to I/O completed by the base
 * from now on. As SPDK, not checked against the other latencies.
 * \return 0; -EINVAL (bad type); -ENODEV (no such delay bdev).
 */
int vbdev_delay_update_latency(const char *name, enum vbdev_delay_latency type,
			       uint64_t latency_us);

/*
 * For tests: the clock the module times delays with, in spio_get_ticks()
 * units (NULL: spio_get_ticks, the default). Set it before any delay
 * bdev has I/O in flight.
 */
void vbdev_delay_set_clock(uint64_t (*clock)(void));

#endif /* SPIO_MODULE_VBDEV_DELAY_H */
