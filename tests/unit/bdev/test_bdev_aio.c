/*
 * The aio bdev module: the behaviour it shares with uring
 * (file_bdev_tests.h) and its own parameters: fallocate, nowait.
 */
#define FB_MODULE "aio"
#include "file_bdev_tests.h"

#include "spio/bdev_aio.h"

static int fb_create(const struct fb_args *a, struct spio_bdev **bdev, char *err, size_t len)
{
	struct spio_bdev_aio_opts opts;

	spio_bdev_aio_opts_init(&opts, sizeof(opts));
	opts.name = a->name;
	opts.filename = a->filename;
	opts.block_size = a->block_size;
	opts.direct = a->direct;
	opts.readonly = a->readonly;
	opts.fallocate = a->fallocate;
	if (a->queue_depth != 0) {
		opts.queue_depth = a->queue_depth;
	}
	return spio_bdev_aio_create(&opts, bdev, err, len);
}

static int fb_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg)
{
	return spio_bdev_aio_delete(name, cb, cb_arg);
}

static int fb_rescan(const char *name)
{
	return spio_bdev_aio_rescan(name);
}

Test(file_bdev, aio_opts_defaults_and_bad_arguments)
{
	struct spio_bdev_aio_opts opts;
	struct spio_bdev *bdev;
	char err[128];

	spio_bdev_aio_opts_init(&opts, sizeof(opts));
	cr_assert(opts.direct, "O_DIRECT by default");
	cr_assert(!opts.fallocate, "unmap and write_zeroes off by default, as in SPDK");
	cr_assert_eq(opts.queue_depth, 512);
	cr_assert_eq(spio_bdev_aio_create(NULL, &bdev, err, sizeof(err)), -EINVAL);
	cr_assert_eq(spio_bdev_aio_create(&opts, NULL, err, sizeof(err)), -EINVAL);
}

Test(file_bdev, aio_fallocate_false_turns_off_unmap_and_write_zeroes)
{
	char path[512];
	struct fb_args a = fb_defaults("Fa0", fb_path(path, sizeof(path), "fa.img"));
	struct fb_open o;
	json_t *e;

	make_file(path, MiB, 1);
	a.fallocate = false;
	fb_create_ok(&a, &o);
	cr_assert_not(spio_bdev_io_type_supported(o.bdev, SPIO_BDEV_IO_TYPE_UNMAP));
	cr_assert_not(spio_bdev_io_type_supported(o.bdev, SPIO_BDEV_IO_TYPE_WRITE_ZEROES));
	cr_assert_eq(fb_unmap(&o, 0, 4096), -ENOTSUP);
	e = fx_config_entry(o.bdev);
	cr_assert(json_is_false(json_object_get(json_object_get(e, "params"), "fallocate")),
		  "SPDK's fallocate parameter is written back");
	json_decref(e);
	fb_close(&o);
}

Test(file_bdev, aio_rpc_takes_spdk_parameters)
{
	char path[512];
	json_t *res;
	struct spio_bdev *bdev;

	make_file(fb_path(path, sizeof(path), "spdk.img"), MiB, 1);
	/* What SPDK's save_config writes for an aio bdev. */
	res = fx_rpc("bdev_aio_create",
		     json_pack("{s:s, s:s, s:i, s:b, s:b, s:b}", "name", "Aio0", "filename", path,
			       "block_size", 512, "readonly", 0, "fallocate", 1, "nowait", 0),
		     0, NULL);
	json_decref(res);
	bdev = spio_bdev_get_by_name("Aio0");
	cr_assert_not_null(bdev);
	cr_assert(spio_bdev_io_type_supported(bdev, SPIO_BDEV_IO_TYPE_UNMAP));
	/* What rpc.py sends for `bdev_aio_create PATH Aio1` (readonly, fallocate
	 * and nowait always; fallocate false turns unmap off, as in SPDK). */
	json_decref(fx_rpc("bdev_aio_create",
			   json_pack("{s:s, s:s, s:b, s:b, s:b}", "filename", path, "name", "Aio1",
				     "readonly", 0, "fallocate", 0, "nowait", 0),
			   0, NULL));
	bdev = spio_bdev_get_by_name("Aio1");
	cr_assert_not_null(bdev);
	cr_assert_not(spio_bdev_io_type_supported(bdev, SPIO_BDEV_IO_TYPE_UNMAP));
	/* Not built: refused by name, never ignored. */
	fx_rpc("bdev_aio_create",
	       json_pack("{s:s, s:s, s:b}", "name", "Aio2", "filename", path, "nowait", 1), -EINVAL,
	       "nowait true");
	cr_assert_null(spio_bdev_get_by_name("Aio2"));
}

Test(file_bdev, aio_opts_size_of_an_older_caller)
{
	char path[512];
	struct spio_bdev_aio_opts opts;
	struct spio_bdev *bdev;
	char err[256] = "";

	make_file(fb_path(path, sizeof(path), "old.img"), MiB, 1);
	/* A caller built before nowait existed: garbage there is not read. */
	memset(&opts, 0xff, sizeof(opts));
	spio_bdev_aio_opts_init(&opts, offsetof(struct spio_bdev_aio_opts, nowait));
	opts.name = "Old0";
	opts.filename = path;
	cr_assert_eq(spio_bdev_aio_create(&opts, &bdev, err, sizeof(err)), 0, "%s", err);
	opts.opts_size = sizeof(opts);
	opts.name = "Old1";
	opts.nowait = true;
	cr_assert_eq(spio_bdev_aio_create(&opts, &bdev, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "nowait") != NULL, "message names nowait: %s", err);
}
