/*
 * What the malloc and null modules share: SPDK's create parameters that
 * describe a bdev's name and block format (block and physical block size,
 * metadata, protection information), checked and written back one way.
 *
 * spio keeps no per-block metadata and no protection information. SPDK's
 * rpc.py sends those parameters anyway (md_interleave, dif_is_head_of_md
 * always), so they are accepted where they describe none and refused,
 * naming the parameter and its value, where they would change the data.
 *
 * Private to module/bdev (not installed, not a module).
 */
#ifndef SPIO_MODULE_BDEV_PARAMS_H
#define SPIO_MODULE_BDEV_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "bdev/bdev_error.h"

struct spio_bdev;
struct spio_json_write_ctx;

/*
 * The name: NULL (one is generated) or non-empty and not taken.
 * `module` ("malloc") starts the messages.
 * \return 0; -EINVAL (empty); -EEXIST (a bdev or alias of that name).
 */
int bdev_params_check_name(const char *module, const char *name, char *err, size_t errlen);

/*
 * The checks below take the bdev's final name (given or generated) for
 * their messages.
 */

/*
 * The geometry, with SPDK's rules: num_blocks > 0, block_size a non-zero
 * multiple of 512, physical_block_size 0 or a multiple of 512; and ours:
 * the size in bytes at most INT64_MAX (what JSON numbers and off_t hold).
 * \return 0 or -EINVAL.
 */
int bdev_params_check_geometry(const char *module, const char *name, uint64_t num_blocks,
			       uint32_t block_size, uint32_t physical_block_size, char *err,
			       size_t errlen);

/*
 * Metadata and protection information: md_size and dif_type must be 0,
 * dif_pi_format one of SPDK's formats (0..2; it describes nothing without
 * protection information). md_interleave and dif_is_head_of_md only
 * describe where metadata would sit, so any value is accepted and they are
 * not checked.
 * \return 0 or -EINVAL.
 */
int bdev_params_check_no_metadata(const char *module, const char *name, uint32_t md_size,
				  uint32_t dif_type, uint32_t dif_pi_format, char *err,
				  size_t errlen);

/* A malloc'ed copy of `name`, or for NULL of the first free "<prefix>N"; NULL: no memory. */
char *bdev_params_name(const char *name, const char *prefix);

/*
 * Begin the bdev's save_config entry, `{"method": method, "params": {` with
 * what both modules write first (name, num_blocks, block_size,
 * physical_block_size, as SPDK writes them); the module adds its own
 * members, in SPDK's order, and calls bdev_params_write_config_end().
 */
void bdev_params_write_config_begin(struct spio_json_write_ctx *w, const char *method,
				    const struct spio_bdev *bdev);

/*
 * The metadata and protection information members of SPDK's entry, with the
 * only values spio accepts (md_size 0, dif_type 0, dif_is_head_of_md false,
 * dif_pi_format 0), so that SPDK loads the entry as it would its own.
 */
void bdev_params_write_no_metadata(struct spio_json_write_ctx *w);

/* Close what bdev_params_write_config_begin() opened. */
void bdev_params_write_config_end(struct spio_json_write_ctx *w);

#endif /* SPIO_MODULE_BDEV_PARAMS_H */
