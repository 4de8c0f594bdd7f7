/* See bdev_params.h: name and block-format parameters of the malloc and null modules. */
#include "bdev_params.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spio/bdev_module.h"
#include "spio/json.h"
#include "spio/log.h"

/* SPDK's protection information formats: 16, 32 and 64-bit guard. */
#define DIF_PI_FORMAT_MAX 2

int bdev_params_check_name(const char *module, const char *name, char *err, size_t errlen)
{
	if (name != NULL && name[0] == '\0') {
		return bdev_create_error(err, errlen, -EINVAL, "%s bdev: the name is empty",
					 module);
	}
	if (name != NULL && spio_bdev_get_by_name(name) != NULL) {
		return bdev_create_error(err, errlen, -EEXIST,
					 "%s bdev %s: a bdev of that name exists", module, name);
	}
	return 0;
}

int bdev_params_check_geometry(const char *module, const char *name, uint64_t num_blocks,
			       uint32_t block_size, uint32_t physical_block_size, char *err,
			       size_t errlen)
{
	if (num_blocks == 0) {
		return bdev_create_error(err, errlen, -EINVAL,
					 "%s bdev %s: num_blocks 0: expected at least 1", module,
					 name);
	}
	if (block_size == 0 || block_size % 512 != 0) {
		return bdev_create_error(err, errlen, -EINVAL,
					 "%s bdev %s: block_size %" PRIu32
					 ": expected a multiple of 512",
					 module, name, block_size);
	}
	/* JSON numbers (bdev_get_bdevs, save_config) and off_t stop at INT64_MAX bytes. */
	if (num_blocks > (uint64_t)INT64_MAX / block_size) {
		return bdev_create_error(err, errlen, -EINVAL,
					 "%s bdev %s: num_blocks %" PRIu64 " of block_size %" PRIu32
					 ": expected at most %" PRIu64 " blocks (%" PRId64
					 " bytes in all)",
					 module, name, num_blocks, block_size,
					 (uint64_t)INT64_MAX / block_size, INT64_MAX);
	}
	if (physical_block_size % 512 != 0) {
		return bdev_create_error(err, errlen, -EINVAL,
					 "%s bdev %s: physical_block_size %" PRIu32
					 ": expected a multiple of 512",
					 module, name, physical_block_size);
	}
	return 0;
}

int bdev_params_check_no_metadata(const char *module, const char *name, uint32_t md_size,
				  uint32_t dif_type, uint32_t dif_pi_format, char *err,
				  size_t errlen)
{
	if (md_size != 0) {
		return bdev_create_error(err, errlen, -EINVAL,
					 "%s bdev %s: md_size %" PRIu32
					 ": metadata is not supported (only 0)",
					 module, name, md_size);
	}
	if (dif_type != 0) {
		return bdev_create_error(err, errlen, -EINVAL,
					 "%s bdev %s: dif_type %" PRIu32
					 ": protection information is not supported (only 0)",
					 module, name, dif_type);
	}
	if (dif_pi_format > DIF_PI_FORMAT_MAX) {
		return bdev_create_error(err, errlen, -EINVAL,
					 "%s bdev %s: dif_pi_format %" PRIu32
					 ": expected 0, 1 or 2",
					 module, name, dif_pi_format);
	}
	return 0;
}

char *bdev_params_name(const char *name, const char *prefix)
{
	char buf[64];

	if (name != NULL) {
		return strdup(name);
	}
	for (unsigned i = 0;; i++) {
		snprintf(buf, sizeof(buf), "%s%u", prefix, i);
		if (spio_bdev_get_by_name(buf) == NULL) {
			return strdup(buf);
		}
	}
}

void bdev_params_write_config_begin(struct spio_json_write_ctx *w, const char *method,
				    const struct spio_bdev *bdev)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", method);
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_string(w, "name", bdev->name);
	spio_json_write_named_uint64(w, "num_blocks", spio_bdev_get_num_blocks(bdev));
	spio_json_write_named_uint32(w, "block_size", bdev->blocklen);
	spio_json_write_named_uint32(w, "physical_block_size",
				     spio_bdev_get_physical_block_size(bdev));
}

void bdev_params_write_no_metadata(struct spio_json_write_ctx *w)
{
	spio_json_write_named_uint32(w, "md_size", 0);
	spio_json_write_named_uint32(w, "dif_type", 0);
	spio_json_write_named_bool(w, "dif_is_head_of_md", false);
	spio_json_write_named_uint32(w, "dif_pi_format", 0);
}

void bdev_params_write_config_end(struct spio_json_write_ctx *w)
{
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}
