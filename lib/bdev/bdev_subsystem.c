/* The "bdev" subsystem: starts and stops the bdev layer with the app and
 * writes the bdevs of every module into the JSON configuration. */
#include "bdev_internal.h"
#include "spio/app.h"
#include "spio/json.h"
#include "spio/log.h"

static void bdev_subsystem_initialized(void *cb_arg, int rc)
{
	(void)cb_arg;
	spio_subsystem_init_next(rc);
}

static void bdev_subsystem_init(void)
{
	int rc = spio_bdev_initialize(NULL, bdev_subsystem_initialized, NULL);

	if (rc != 0) {
		spio_subsystem_init_next(rc);
	}
}

static void bdev_subsystem_finished(void *cb_arg)
{
	(void)cb_arg;
	spio_subsystem_fini_next();
}

static void bdev_subsystem_fini(void)
{
	int rc = spio_bdev_finish(bdev_subsystem_finished, NULL);

	if (rc != 0) {
		SPIO_ERRLOG("bdev layer finish failed: %d", rc);
		spio_subsystem_fini_next();
	}
}

static void bdev_subsystem_write_config_json(struct spio_json_write_ctx *w)
{
	/* the options set, also before the layer started (a --wait-for-rpc session) */
	const struct spio_bdev_opts *opts = bdev_opts_current();
	struct spio_bdev_module *m;
	struct spio_bdev *bdev;

	spio_json_write_array_begin(w);
	/* SPDK's order: layer options, manual examine names, modules, bdevs */
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_set_options");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_uint32(w, "bdev_io_pool_size", opts->bdev_io_pool_size);
	spio_json_write_named_uint32(w, "bdev_io_cache_size", opts->bdev_io_cache_size);
	spio_json_write_named_bool(w, "bdev_auto_examine", opts->bdev_auto_examine);
	spio_json_write_named_uint32(w, "iobuf_small_cache_size", 128); /* SPDK's defaults */
	spio_json_write_named_uint32(w, "iobuf_large_cache_size", 16);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
	for (struct examine_allowed *a = g_bdev_mgr.examine_allowed; a != NULL; a = a->next) {
		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "method", "bdev_examine");
		spio_json_write_named_object_begin(w, "params");
		spio_json_write_named_string(w, "name", a->name);
		spio_json_write_object_end(w);
		spio_json_write_object_end(w);
	}
	for (m = g_bdev_mgr.modules; m != NULL; m = m->next_) {
		if (m->config_json != NULL) {
			m->config_json(w);
		}
	}
	for (bdev = spio_bdev_first(); bdev != NULL; bdev = spio_bdev_next(bdev)) {
		if (bdev->fn_table->write_config_json != NULL) {
			bdev->fn_table->write_config_json(bdev, w);
		}
		/* SPDK's order: after the bdev's own entry */
		bdev_qos_write_config_json(bdev, w);
		bdev_histogram_write_config_json(bdev, w);
	}
	/* like SPDK: a loaded configuration waits for examine before going on */
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_wait_for_examine");
	spio_json_write_object_end(w);
	spio_json_write_array_end(w);
}

static struct spio_subsystem g_bdev_subsystem = {
    .name = "bdev",
    .init = bdev_subsystem_init,
    .fini = bdev_subsystem_fini,
    .write_config_json = bdev_subsystem_write_config_json,
};
SPIO_SUBSYSTEM_REGISTER(g_bdev_subsystem)
