/* The "malloc" bdev module: a RAM disk in DMA memory. Every I/O is done
 * inline in submit_request with memcpy; the core defers the completion. */
#include "spio/bdev_malloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bdev_params.h"
#include "spio/bdev_module.h"
#include "spio/dma.h"
#include "spio/json.h"

/* The kernel's list of online NUMA nodes ("0" on a single-node machine). */
#define NUMA_ONLINE_PATH "/sys/devices/system/node/online"

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

/* SPDK's entry, member for member; metadata, protection information and
 * NUMA node hold the only values spio accepts. */
static void malloc_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	bdev_params_write_config_begin(w, "bdev_malloc_create", bdev);
	spio_json_write_named_uuid(w, "uuid", &bdev->uuid);
	spio_json_write_named_uint32(w, "optimal_io_boundary", bdev->optimal_io_boundary);
	bdev_params_write_no_metadata(w);
	spio_json_write_named_int32(w, "numa_id", bdev->numa.id);
	bdev_params_write_config_end(w);
}

static const struct spio_bdev_fn_table g_malloc_fn_table = {
    .destruct = malloc_destruct,
    .submit_request = malloc_submit,
    .io_type_supported = malloc_io_type_supported,
    .write_config_json = malloc_write_config_json,
};

static void malloc_opts_defaults(struct spio_bdev_malloc_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->opts_size = sizeof(*o);
	o->numa_id = -1;
}

void spio_bdev_malloc_opts_init(struct spio_bdev_malloc_opts *opts, size_t opts_size)
{
	struct spio_bdev_malloc_opts def;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	malloc_opts_defaults(&def);
	def.opts_size = opts_size;
	memcpy(opts, &def, SPIO_MIN(opts_size, sizeof(def)));
}

/* True if the machine has one NUMA node, 0 (or a kernel without NUMA). */
static bool numa_single_node(void)
{
	FILE *fp = fopen(NUMA_ONLINE_PATH, "re");
	char line[64] = "";

	if (fp == NULL) {
		return true;
	}
	if (fgets(line, sizeof(line), fp) == NULL) {
		line[0] = '\0';
	}
	fclose(fp);
	return strcmp(line, "0\n") == 0 || strcmp(line, "0") == 0;
}

/* The options beyond the name, for the bdev `name`. */
static int malloc_check_opts(const struct spio_bdev_malloc_opts *o, const char *name, char *err,
			     size_t err_len)
{
	int rc;

	if ((rc = bdev_params_check_geometry("malloc", name, o->num_blocks, o->block_size,
					     o->physical_block_size, err, err_len)) != 0 ||
	    (rc = bdev_params_check_no_metadata("malloc", name, o->md_size, o->dif_type,
						o->dif_pi_format, err, err_len)) != 0) {
		return rc;
	}
	/* Memory is not placed by node: only a choice that changes nothing passes. */
	if (o->numa_id != -1 && !(o->numa_id == 0 && numa_single_node())) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "malloc bdev %s: numa_id %" PRId32
					 ": NUMA placement is not supported (only -1, or 0 on a "
					 "single-node machine)",
					 name, o->numa_id);
	}
	/* overflow: the disk's size must fit a size_t */
	if (o->num_blocks > SIZE_MAX / o->block_size) {
		return bdev_create_error(err, err_len, -EINVAL,
					 "malloc bdev %s: %" PRIu64 " blocks of %" PRIu32
					 " bytes do not fit in memory",
					 name, o->num_blocks, o->block_size);
	}
	return 0;
}

int spio_bdev_malloc_create(const struct spio_bdev_malloc_opts *user_opts,
			    struct spio_bdev **bdev_out, char *err, size_t err_len)
{
	struct spio_bdev_malloc_opts o;
	struct malloc_disk *disk;
	int rc;

	if (user_opts == NULL || bdev_out == NULL || user_opts->opts_size == 0) {
		return bdev_create_error(err, err_len, -EINVAL, "malloc bdev: invalid arguments");
	}
	/* The caller's fields over the defaults: older callers know fewer fields. */
	malloc_opts_defaults(&o);
	memcpy(&o, user_opts, SPIO_MIN(user_opts->opts_size, sizeof(o)));
	if ((rc = bdev_params_check_name("malloc", o.name, err, err_len)) != 0) {
		return rc;
	}
	disk = calloc(1, sizeof(*disk));
	if (disk == NULL || (disk->bdev.name = bdev_params_name(o.name, "Malloc")) == NULL) {
		free(disk);
		return bdev_create_error(err, err_len, -ENOMEM, "malloc bdev: out of memory");
	}
	if ((rc = malloc_check_opts(&o, disk->bdev.name, err, err_len)) != 0) {
		malloc_destruct(disk);
		return rc;
	}
	disk->data = spio_dma_zmalloc(o.num_blocks * o.block_size, 4096);
	if (disk->data == NULL) {
		rc = bdev_create_error(err, err_len, -ENOMEM,
				       "malloc bdev %s: cannot allocate %" PRIu64 " bytes",
				       disk->bdev.name, o.num_blocks * o.block_size);
		malloc_destruct(disk);
		return rc;
	}
	disk->bdev.phys_blocklen = o.physical_block_size;
	disk->bdev.numa.id = o.numa_id; /* -1 (any) or 0 on a one-node machine */
	disk->bdev.numa.id_valid = true;
	disk->bdev.ctxt = disk;
	disk->bdev.product_name = "Malloc disk";
	disk->bdev.blocklen = o.block_size;
	disk->bdev.blockcnt = o.num_blocks;
	disk->bdev.write_unit_size = 1;
	disk->bdev.optimal_io_boundary = o.optimal_io_boundary;
	disk->bdev.split_on_optimal_io_boundary = o.optimal_io_boundary != 0;
	disk->bdev.uuid = o.uuid;
	disk->bdev.module = &g_malloc_module;
	disk->bdev.fn_table = &g_malloc_fn_table;
	rc = spio_bdev_register(&disk->bdev);
	if (rc != 0) {
		rc = bdev_create_error(err, err_len, rc, "malloc bdev %s: cannot register: %s",
				       disk->bdev.name, strerror(-rc));
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
