/* The "null" bdev module: writes are discarded and reads succeed without
 * touching the caller's buffers (no data is produced, not even zeroes). */
#include "spio/bdev_null.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bdev_params.h"
#include "spio/bdev_module.h"
#include "spio/json.h"

struct null_disk {
	struct spio_bdev bdev;
};

static struct spio_bdev_module g_null_module = {
    .name = "null",
};
SPIO_BDEV_MODULE_REGISTER(g_null_module)

static int null_destruct(void *ctxt)
{
	struct null_disk *disk = ctxt;

	free(disk->bdev.name);
	free(disk);
	return 0;
}

static bool null_io_type_supported(void *ctxt, enum spio_bdev_io_type type)
{
	(void)ctxt;
	switch (type) {
	case SPIO_BDEV_IO_TYPE_READ:
	case SPIO_BDEV_IO_TYPE_WRITE:
	case SPIO_BDEV_IO_TYPE_WRITE_ZEROES:
	case SPIO_BDEV_IO_TYPE_UNMAP:
	case SPIO_BDEV_IO_TYPE_FLUSH:
	case SPIO_BDEV_IO_TYPE_RESET:
		return true;
	default:
		return false;
	}
}

static void null_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	(void)ch;
	spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_SUCCESS);
}

/* SPDK's entry, member for member and in its order; metadata and protection
 * information hold the only values spio accepts. */
static void null_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	bdev_params_write_config_begin(w, "bdev_null_create", bdev);
	bdev_params_write_no_metadata(w);
	spio_json_write_named_uuid(w, "uuid", &bdev->uuid);
	spio_json_write_named_uint32(w, "preferred_write_granularity",
				     bdev->preferred_write_granularity);
	spio_json_write_named_uint32(w, "preferred_write_alignment",
				     bdev->preferred_write_alignment);
	spio_json_write_named_uint32(w, "optimal_write_size", bdev->optimal_write_size);
	spio_json_write_named_uint32(w, "preferred_unmap_granularity",
				     bdev->preferred_unmap_granularity);
	spio_json_write_named_uint32(w, "preferred_unmap_alignment",
				     bdev->preferred_unmap_alignment);
	bdev_params_write_config_end(w);
}

static const struct spio_bdev_fn_table g_null_fn_table = {
    .destruct = null_destruct,
    .submit_request = null_submit,
    .io_type_supported = null_io_type_supported,
    .write_config_json = null_write_config_json,
};

static void null_opts_defaults(struct spio_bdev_null_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->opts_size = sizeof(*o);
}

void spio_bdev_null_opts_init(struct spio_bdev_null_opts *opts, size_t opts_size)
{
	struct spio_bdev_null_opts def;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	null_opts_defaults(&def);
	def.opts_size = opts_size;
	memcpy(opts, &def, SPIO_MIN(opts_size, sizeof(def)));
}

int spio_bdev_null_create(const struct spio_bdev_null_opts *user_opts, struct spio_bdev **bdev_out,
			  char *err, size_t err_len)
{
	struct spio_bdev_null_opts o;
	struct null_disk *disk;
	int rc;

	if (user_opts == NULL || bdev_out == NULL || user_opts->opts_size == 0) {
		return bdev_create_error(err, err_len, -EINVAL, "null bdev: invalid arguments");
	}
	/* The caller's fields over the defaults: older callers know fewer fields. */
	null_opts_defaults(&o);
	memcpy(&o, user_opts, SPIO_MIN(user_opts->opts_size, sizeof(o)));
	if ((rc = bdev_params_check_name("null", o.name, err, err_len)) != 0) {
		return rc;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL || (disk->bdev.name = bdev_params_name(o.name, "Null")) == NULL) {
		free(disk);
		return bdev_create_error(err, err_len, -ENOMEM, "null bdev: out of memory");
	}
	if ((rc = bdev_params_check_geometry("null", disk->bdev.name, o.num_blocks, o.block_size,
					     o.physical_block_size, err, err_len)) != 0 ||
	    (rc = bdev_params_check_no_metadata("null", disk->bdev.name, o.md_size, o.dif_type,
						o.dif_pi_format, err, err_len)) != 0) {
		null_destruct(disk);
		return rc;
	}
	disk->bdev.phys_blocklen = o.physical_block_size;
	disk->bdev.preferred_write_alignment = o.preferred_write_alignment;
	disk->bdev.preferred_write_granularity = o.preferred_write_granularity;
	disk->bdev.optimal_write_size = o.optimal_write_size;
	disk->bdev.preferred_unmap_alignment = o.preferred_unmap_alignment;
	disk->bdev.preferred_unmap_granularity = o.preferred_unmap_granularity;
	disk->bdev.ctxt = disk;
	disk->bdev.product_name = "Null disk";
	disk->bdev.blocklen = o.block_size;
	disk->bdev.blockcnt = o.num_blocks;
	disk->bdev.write_unit_size = 1;
	disk->bdev.uuid = o.uuid;
	disk->bdev.module = &g_null_module;
	disk->bdev.fn_table = &g_null_fn_table;
	rc = spio_bdev_register(&disk->bdev);
	if (rc != 0) {
		rc = bdev_create_error(err, err_len, rc, "null bdev %s: cannot register: %s",
				       disk->bdev.name, strerror(-rc));
		null_destruct(disk);
		return rc;
	}
	*bdev_out = &disk->bdev;
	return 0;
}

int spio_bdev_null_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg)
{
	return spio_bdev_unregister_by_name(name, &g_null_module, cb, cb_arg);
}

int spio_bdev_null_resize(const char *name, uint64_t new_size_mb)
{
	struct spio_bdev *bdev;
	uint64_t bytes;

	/* the size in bytes stays a JSON number: at most INT64_MAX */
	if (name == NULL || new_size_mb == 0 || new_size_mb > ((uint64_t)INT64_MAX >> 20)) {
		return -EINVAL;
	}
	bdev = spio_bdev_get_by_name(name);
	if (bdev == NULL) {
		return -ENODEV;
	}
	/* SPDK's answer for a bdev of another module */
	if (bdev->module != &g_null_module) {
		return -EINVAL;
	}
	bytes = new_size_mb << 20;
	if (bytes % bdev->blocklen != 0) {
		return -EINVAL;
	}
	return spio_bdev_notify_blockcnt_change(bdev, bytes / bdev->blocklen);
}
