/*
 * The split bdev module (SPDK's bdev_split): a base bdev cut into equal
 * parts "<base>p0", "<base>p1", ... on the part layer (spio/bdev_module.h).
 * Private to module/bdev and its tests. On the app thread (the thread that
 * runs the bdev layer and the RPC server).
 */
#ifndef SPIO_MODULE_VBDEV_SPLIT_H
#define SPIO_MODULE_VBDEV_SPLIT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Split `base_name` into `split_count` parts of `split_size_mb` MiB each (0:
 * the base's size divided by the count). A count larger than what fits is
 * clamped, as SPDK does. A base that does not exist yet is split when it
 * appears (examine). `*nparts` (optional) gets the number of parts made now
 * (0 while waiting for the base).
 * \return 0; -EINVAL (NULL or empty name, count 0, a size that is not a
 *         multiple of the block size or lets no part fit); -EEXIST (a split
 *         of that base is configured, or a part's name is taken); -EPERM
 *         (base claimed or open for writing); -ENOMEM.
 */
int vbdev_split_create(const char *base_name, uint32_t split_count, uint64_t split_size_mb,
		       uint32_t *nparts);

/*
 * Forget the split of `base_name` and unregister its parts (asynchronously;
 * the base is released once the last part is gone).
 * \return 0; -EINVAL (NULL); -ENOENT (no such split configured).
 */
int vbdev_split_delete(const char *base_name);

#endif /* SPIO_MODULE_VBDEV_SPLIT_H */
