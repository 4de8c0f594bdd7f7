/*
 * The passthru virtual bdev (SPDK's bdev_passthru): a bdev of the same
 * geometry on top of a claimed base bdev, forwarding every I/O unchanged.
 * See docs/vbdevs.md.
 */
#ifndef SPIO_BDEV_PASSTHRU_H
#define SPIO_BDEV_PASSTHRU_H

#include "spio/bdev.h"
#include "spio/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Create the passthru bdev `name` on `base_name`, or, when no bdev of that
 * name exists yet, remember it and create it when the base is registered
 * (examine). On a spio thread after spio_bdev_initialize(); the base is
 * opened on this thread, which must live until the passthru bdev is gone.
 * \param uuid NULL or all-zero: generated.
 * \param bdev receives the new bdev, or NULL when creation was deferred.
 * \return 0; -EINVAL (NULL or empty name); -EEXIST (a passthru of that name
 *         is configured, or a bdev of that name exists); -EPERM (base claimed
 *         or open for writing); -ENOMEM.
 */
int spio_bdev_passthru_create(const char *base_name, const char *name, const struct spio_uuid *uuid,
			      struct spio_bdev **bdev);

/**
 * Delete the passthru bdev `name` and forget its configuration; `cb` runs on
 * this thread once it is gone (at once, by message, for one still waiting
 * for its base). On a spio thread.
 * \return 0; -EINVAL (NULL name); -ENODEV (no passthru of that name).
 */
int spio_bdev_passthru_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BDEV_PASSTHRU_H */
