/*
 * The uring bdev module: the behaviour it shares with aio (file_bdev_tests.h)
 * and its own options: SQPOLL, registered buffers and files, queue depth,
 * and how save_config writes them.
 */
#define FB_MODULE "uring"
#include "file_bdev_tests.h"

#include "spio/bdev_uring.h"

static int fb_create(const struct fb_args *a, struct spio_bdev **bdev, char *err, size_t len)
{
	struct spio_bdev_uring_opts opts;

	spio_bdev_uring_opts_init(&opts, sizeof(opts));
	opts.name = a->name;
	opts.filename = a->filename;
	opts.block_size = a->block_size;
	opts.direct = a->direct;
	opts.readonly = a->readonly;
	if (a->queue_depth != 0) {
		opts.queue_depth = a->queue_depth;
	}
	opts.sqpoll = a->sqpoll;
	opts.registered_buffers = a->registered_buffers;
	opts.registered_files = a->registered_files;
	return spio_bdev_uring_create(&opts, bdev, err, len);
}

static int fb_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg)
{
	return spio_bdev_uring_delete(name, cb, cb_arg);
}

static int fb_rescan(const char *name)
{
	return spio_bdev_uring_rescan(name);
}

Test(file_bdev, uring_opts_defaults_and_bad_arguments)
{
	struct spio_bdev_uring_opts opts;
	struct spio_bdev *bdev;
	char err[128];

	spio_bdev_uring_opts_init(&opts, sizeof(opts));
	cr_assert(opts.direct, "O_DIRECT by default");
	cr_assert_eq(opts.queue_depth, 512);
	cr_assert_not(opts.sqpoll || opts.registered_buffers || opts.registered_files);
	spio_bdev_uring_opts_init(NULL, sizeof(opts));
	cr_assert_eq(spio_bdev_uring_create(NULL, &bdev, err, sizeof(err)), -EINVAL);
	cr_assert_eq(spio_bdev_uring_create(&opts, NULL, err, sizeof(err)), -EINVAL);
	opts.opts_size = 0;
	cr_assert_eq(spio_bdev_uring_create(&opts, &bdev, NULL, 0), -EINVAL);
}

/* Each option, and all together, moves data correctly. */
static void round_trip_with(struct fb_args *a, const char *what)
{
	struct fb_open o;
	uint8_t *buf = spio_dma_malloc(MiB, 4096), *back = spio_dma_malloc(MiB, 4096);
	uint8_t *plain = aligned_alloc(4096, 65536);
	char path[512];

	fb_create_ok(a, &o);
	for (int i = 0; i < 16; i++) {
		uint64_t off = (uint64_t)i * 65536;

		pattern_fill(buf, off, 65536, (uint8_t)(40 + i));
		cr_assert_eq(fb_write(&o, buf, off, 65536), 0, "%s: write %d", what, i);
		memset(back, 0, 65536);
		cr_assert_eq(fb_read(&o, back, off, 65536), 0, "%s: read %d", what, i);
		cr_assert_eq(memcmp(back, buf, 65536), 0, "%s: read %d differs", what, i);
	}
	/* Memory that is not DMA memory cannot be a registered buffer: still works. */
	pattern_fill(plain, 0, 65536, 99);
	cr_assert_eq(fb_write(&o, plain, 0, 65536), 0, "%s: write from plain memory", what);
	cr_assert_eq(fb_read(&o, back, 0, 65536), 0);
	cr_assert_eq(memcmp(back, plain, 65536), 0, "%s: plain-memory write read back", what);
	file_pread(a->filename, plain, 65536, 65536);
	cr_assert_eq(pattern_mismatch(plain, 65536, 65536, 41), -1, "%s: file contents", what);
	cr_assert_eq(fb_flush(&o), 0);
	cr_assert_eq(fb_unmap(&o, MiB, 65536), 0);
	fb_close(&o);
	fb_delete_ok(a->name);
	(void)path;
	spio_dma_free(buf);
	spio_dma_free(back);
	free(plain);
}

Test(file_bdev, uring_options_move_data_correctly)
{
	char path[512];
	struct fb_args a = fb_defaults("Opt0", fb_path(path, sizeof(path), "opt.img"));

	make_file(path, 4 * MiB, 1);
	a.registered_buffers = true;
	round_trip_with(&a, "registered buffers");
	a.registered_buffers = false;
	a.registered_files = true;
	round_trip_with(&a, "registered files");
	a.registered_files = false;
	a.sqpoll = true;
	round_trip_with(&a, "sqpoll");
	a.registered_buffers = a.registered_files = true;
	a.queue_depth = 8;
	round_trip_with(&a, "sqpoll + registered buffers and files, depth 8");
}

Test(file_bdev, uring_save_config_writes_extensions_only_when_set)
{
	char path[512];
	struct fb_args a = fb_defaults("Cfg0", fb_path(path, sizeof(path), "cfg.img"));
	struct fb_open o;
	json_t *e, *p;

	make_file(path, MiB, 1);
	fb_create_ok(&a, &o);
	e = fx_config_entry(o.bdev);
	p = json_object_get(e, "params");
	cr_assert_eq(json_object_size(p), 4, "SPDK's name, filename, block_size, uuid only: %s",
		     json_dumps(p, JSON_COMPACT));
	json_decref(e);
	fb_close(&o);

	a.name = "Cfg1";
	a.direct = false;
	a.queue_depth = 64;
	a.sqpoll = true;
	a.registered_buffers = true;
	a.registered_files = true;
	a.readonly = true;
	fb_create_ok(&a, &o);
	e = fx_config_entry(o.bdev);
	p = json_object_get(e, "params");
	cr_assert(json_is_false(json_object_get(p, "direct")));
	cr_assert_eq(json_integer_value(json_object_get(p, "queue_depth")), 64);
	cr_assert(json_is_true(json_object_get(p, "sqpoll")));
	cr_assert(json_is_true(json_object_get(p, "registered_buffers")));
	cr_assert(json_is_true(json_object_get(p, "registered_files")));
	cr_assert(json_is_true(json_object_get(p, "readonly")));
	json_decref(e);
	fb_close(&o);
}

Test(file_bdev, uring_rpc_takes_what_rpc_py_sends)
{
	char path[512];
	struct spio_bdev *bdev;
	char uuid[SPIO_UUID_STRING_LEN];

	make_file(fb_path(path, sizeof(path), "spdk.img"), MiB, 1);
	/* rpc.py bdev_uring_create PATH U0 4096 -u 11111111-2222-3333-4444-555555555555 */
	json_decref(
	    fx_rpc("bdev_uring_create",
		   json_pack("{s:s, s:s, s:i, s:s}", "filename", path, "name", "U0", "block_size",
			     4096, "uuid", "11111111-2222-3333-4444-555555555555"),
		   0, NULL));
	bdev = spio_bdev_get_by_name("U0");
	cr_assert_not_null(bdev);
	cr_assert_eq(spio_bdev_get_block_size(bdev), 4096);
	spio_uuid_fmt_lower(uuid, sizeof(uuid), spio_bdev_get_uuid(bdev));
	cr_assert_str_eq(uuid, "11111111-2222-3333-4444-555555555555");
	/* rpc.py bdev_uring_create PATH U1 (no block size: the file's) */
	json_decref(fx_rpc("bdev_uring_create",
			   json_pack("{s:s, s:s}", "filename", path, "name", "U1"), 0, NULL));
	cr_assert_not_null(spio_bdev_get_by_name("U1"));
}
