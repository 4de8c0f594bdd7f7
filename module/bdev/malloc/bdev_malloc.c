/* The "malloc" bdev module: a RAM disk in DMA memory. Every I/O is done
 * inline in submit_request with memcpy; the core defers the completion. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev_module.h"
#include "spio/dma.h"
#include "spio/json.h"
#include "spio/log.h"

struct malloc_disk {
	struct spio_bdev bdev;
	uint8_t *data;
};

static struct spio_bdev_module g_malloc_module = {
    .name = "malloc",
};
SPIO_BDEV_MODULE_REGISTER(g_malloc_module)

static int malloc_destruct(void *ctxt)
{
	struct malloc_disk *disk = ctxt;

	spio_dma_free(disk->data);
	free(disk->bdev.name);
	free(disk);
	return 0;
}

static bool malloc_io_type_supported(void *ctxt, enum spio_bdev_io_type type)
{
	(void)ctxt;
	return type > SPIO_BDEV_IO_TYPE_INVALID && type < SPIO_BDEV_NUM_IO_TYPES;
}

static void malloc_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	struct malloc_disk *disk = io->bdev->ctxt;
	uint64_t off = io->u.offset_blocks * io->bdev->blocklen;
	uint64_t len = io->u.num_blocks * io->bdev->blocklen;
	struct iovec disk_iov = {.iov_base = disk->data + off, .iov_len = len};
	enum spio_bdev_io_status status = SPIO_BDEV_IO_STATUS_SUCCESS;

	(void)ch;
	switch (io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
		spio_copy_buf_to_iovs(io->u.iovs, io->u.iovcnt, disk->data + off, len);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE:
		spio_copy_iovs_to_buf(disk->data + off, len, io->u.iovs, io->u.iovcnt);
		break;
	case SPIO_BDEV_IO_TYPE_UNMAP:
	case SPIO_BDEV_IO_TYPE_WRITE_ZEROES:
		memset(disk->data + off, 0, len);
		break;
	case SPIO_BDEV_IO_TYPE_COMPARE:
		if (spio_iov_compare(io->u.iovs, io->u.iovcnt, &disk_iov, 1, len) != 0) {
			status = SPIO_BDEV_IO_STATUS_MISCOMPARE;
		}
		break;
	case SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE:
		/* atomic: nothing else runs between the compare and the copy */
		if (spio_iov_compare(io->u.iovs, io->u.iovcnt, &disk_iov, 1, len) != 0) {
			status = SPIO_BDEV_IO_STATUS_MISCOMPARE;
		} else {
			spio_copy_iovs_to_buf(disk->data + off, len, io->u.fused_iovs,
					      io->u.fused_iovcnt);
		}
		break;
	case SPIO_BDEV_IO_TYPE_FLUSH:
	case SPIO_BDEV_IO_TYPE_RESET:
		break;
	default:
		status = SPIO_BDEV_IO_STATUS_FAILED;
		break;
	}
	spio_bdev_io_complete(io, status);
}

static void malloc_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_malloc_create");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_string(w, "name", bdev->name);
	spio_json_write_named_uint64(w, "num_blocks", bdev->blockcnt);
	spio_json_write_named_uint32(w, "block_size", bdev->blocklen);
	spio_json_write_named_uuid(w, "uuid", &bdev->uuid);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

static const struct spio_bdev_fn_table g_malloc_fn_table = {
    .destruct = malloc_destruct,
    .submit_request = malloc_submit,
    .io_type_supported = malloc_io_type_supported,
    .write_config_json = malloc_write_config_json,
};

static char *generate_name(void)
{
	char buf[64];

	for (int i = 0;; i++) {
		snprintf(buf, sizeof(buf), "Malloc%d", i);
		if (spio_bdev_get_by_name(buf) == NULL) {
			return strdup(buf);
		}
	}
}

int spio_bdev_malloc_create(const char *name, const struct spio_uuid *uuid, uint64_t num_blocks,
			    uint32_t block_size, struct spio_bdev **bdev_out)
{
	struct malloc_disk *disk;
	int rc;

	if (bdev_out == NULL || num_blocks == 0 || (block_size != 512 && block_size != 4096) ||
	    (name != NULL && name[0] == '\0')) {
		return -EINVAL;
	}
	/* overflow: the disk's size must fit a size_t */
	if (num_blocks > SIZE_MAX / block_size) {
		return -EINVAL;
	}
	if (name != NULL && spio_bdev_get_by_name(name) != NULL) {
		return -EEXIST;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL) {
		return -ENOMEM;
	}
	disk->bdev.name = name != NULL ? strdup(name) : generate_name();
	disk->data = spio_dma_zmalloc(num_blocks * block_size, 4096);
	if (disk->bdev.name == NULL || disk->data == NULL) {
		SPIO_ERRLOG("malloc bdev %s: cannot allocate %" PRIu64 " bytes",
			    name != NULL ? name : "(unnamed)", num_blocks * block_size);
		spio_dma_free(disk->data);
		free(disk->bdev.name);
		free(disk);
		return -ENOMEM;
	}
	disk->bdev.ctxt = disk;
	disk->bdev.product_name = "Malloc disk";
	disk->bdev.blocklen = block_size;
	disk->bdev.blockcnt = num_blocks;
	disk->bdev.write_unit_size = 1;
	if (uuid != NULL) {
		disk->bdev.uuid = *uuid;
	}
	disk->bdev.module = &g_malloc_module;
	disk->bdev.fn_table = &g_malloc_fn_table;
	rc = spio_bdev_register(&disk->bdev);
	if (rc != 0) {
		malloc_destruct(disk);
		return rc;
	}
	*bdev_out = &disk->bdev;
	return 0;
}

int spio_bdev_malloc_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg)
{
	return spio_bdev_unregister_by_name(name, &g_malloc_module, cb, cb_arg);
}
