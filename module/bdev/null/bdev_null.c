/* The "null" bdev module: writes are discarded and reads succeed without
 * touching the caller's buffers (no data is produced, not even zeroes). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev_module.h"
#include "spio/json.h"

#define NULL_MAX_BLOCK_SIZE (64u * 1024)

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

static void null_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_null_create");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_string(w, "name", bdev->name);
	spio_json_write_named_uint64(w, "num_blocks", bdev->blockcnt);
	spio_json_write_named_uint32(w, "block_size", bdev->blocklen);
	spio_json_write_named_uuid(w, "uuid", &bdev->uuid);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

static const struct spio_bdev_fn_table g_null_fn_table = {
    .destruct = null_destruct,
    .submit_request = null_submit,
    .io_type_supported = null_io_type_supported,
    .write_config_json = null_write_config_json,
};

int spio_bdev_null_create(const char *name, const struct spio_uuid *uuid, uint64_t num_blocks,
			  uint32_t block_size, struct spio_bdev **bdev_out)
{
	struct null_disk *disk;
	char buf[64];
	int rc;

	if (bdev_out == NULL || num_blocks == 0 || block_size == 0 || block_size % 512 != 0 ||
	    block_size > NULL_MAX_BLOCK_SIZE || (name != NULL && name[0] == '\0')) {
		return -EINVAL;
	}
	if (name != NULL && spio_bdev_get_by_name(name) != NULL) {
		return -EEXIST;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		return -ENOMEM;
	}
	if (name == NULL) {
		for (int i = 0;; i++) {
			snprintf(buf, sizeof(buf), "Null%d", i);
			if (spio_bdev_get_by_name(buf) == NULL) {
				break;
			}
		}
		name = buf;
	}
	disk->bdev.name = strdup(name);
	if (disk->bdev.name == NULL) {
		free(disk);
		return -ENOMEM;
	}
	disk->bdev.ctxt = disk;
	disk->bdev.product_name = "Null disk";
	disk->bdev.blocklen = block_size;
	disk->bdev.blockcnt = num_blocks;
	disk->bdev.write_unit_size = 1;
	if (uuid != NULL) {
		disk->bdev.uuid = *uuid;
	}
	disk->bdev.module = &g_null_module;
	disk->bdev.fn_table = &g_null_fn_table;
	rc = spio_bdev_register(&disk->bdev);
	if (rc != 0) {
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

	if (name == NULL || new_size_mb == 0 || new_size_mb > (UINT64_MAX >> 20)) {
		return -EINVAL;
	}
	bdev = spio_bdev_get_by_name(name);
	if (bdev == NULL || bdev->module != &g_null_module) {
		return -ENODEV;
	}
	bytes = new_size_mb << 20;
	if (bytes % bdev->blocklen != 0) {
		return -EINVAL;
	}
	return spio_bdev_notify_blockcnt_change(bdev, bytes / bdev->blocklen);
}
