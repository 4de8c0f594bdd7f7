/*
 * The "bdev" subsystem inside the app framework: a JSON configuration
 * creates malloc and null bdevs through the RPCs, they take I/O, save_config
 * writes them back in the same shape, and shutdown removes them all.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "helper_fixture.h"
#include "spio/app.h"
#include "spio/bdev.h"
#include "spio/dma.h"
#include "spio/json.h"
#include "spio/task.h"

TestSuite(bdev_app, .timeout = 120);

static const char *g_config =
    "{\"subsystems\": [{\"subsystem\": \"bdev\", \"config\": ["
    "{\"method\": \"bdev_malloc_create\", \"params\": {\"name\": \"Malloc0\", "
    "\"num_blocks\": 256, \"block_size\": 512, "
    "\"uuid\": \"2b7ae8a2-2d47-4d5f-b5c6-4a2b8a8ed001\"}},"
    "{\"method\": \"bdev_null_create\", \"params\": {\"name\": \"Null0\", "
    "\"num_blocks\": 1024, \"block_size\": 4096}},"
    "{\"method\": \"bdev_wait_for_examine\"}]}]}";

struct outcome {
	bool malloc_found;
	bool null_found;
	int io_rc;
	char *config;
};

static struct outcome g_out;

static void ev(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static int io_task(void *arg)
{
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	uint8_t *buf = spio_dma_zmalloc(4096, 4096);
	uint8_t *back = spio_dma_zmalloc(4096, 4096);
	int rc;

	(void)arg;
	rc = spio_bdev_open_ext("Malloc0", true, ev, NULL, &desc);
	if (rc == 0) {
		ch = spio_bdev_get_io_channel(desc);
		memset(buf, 0xa5, 4096);
		rc = spio_bdev_write_await(desc, ch, buf, 8192, 4096);
		if (rc == 0) {
			rc = spio_bdev_read_await(desc, ch, back, 8192, 4096);
		}
		if (rc == 0 && memcmp(buf, back, 4096) != 0) {
			rc = -EIO;
		}
		spio_put_io_channel(ch);
		spio_bdev_close(desc);
	}
	g_out.io_rc = rc;
	spio_dma_free(buf);
	spio_dma_free(back);

	struct spio_json_write_ctx *w = spio_json_write_begin(fx_json_to_string, &g_out.config, 0);
	spio_app_write_config_json(w);
	spio_json_write_end(w);
	spio_app_stop(0);
	return 0;
}

static void start(void *arg)
{
	(void)arg;
	g_out.malloc_found = spio_bdev_get_by_name("Malloc0") != NULL;
	g_out.null_found = spio_bdev_get_by_name("Null0") != NULL;
	g_out.io_rc = 1;
	if (spio_task_spawn(io_task, NULL, NULL, NULL) != 0) {
		spio_app_stop(-ENOMEM);
	}
}

Test(bdev_app, config_io_save_shutdown)
{
	struct spio_app_opts o;
	json_t *cfg, *subs, *bdev_cfg = NULL;
	int rc;

	spio_app_opts_init(&o, sizeof(o));
	o.name = "test_bdev_app";
	o.reactor_mask = "0x1";
	o.rpc_addr = NULL;
	o.no_huge = true;
	o.json_config_text = g_config;
	rc = spio_app_start(&o, start, NULL);
	cr_assert_eq(rc, 0, "spio_app_start: expected 0, got %d", rc);
	cr_assert(g_out.malloc_found, "Malloc0 created by the configuration");
	cr_assert(g_out.null_found, "Null0 created by the configuration");
	cr_assert_eq(g_out.io_rc, 0, "write/read through the bdev: expected 0, got %d",
		     g_out.io_rc);
	cr_assert_null(spio_bdev_first(), "shutdown removed every bdev");

	cr_assert_not_null(g_out.config, "save_config output");
	cfg = json_loads(g_out.config, 0, NULL);
	cr_assert_not_null(cfg, "config parses: %s", g_out.config);
	subs = json_object_get(cfg, "subsystems");
	for (size_t i = 0; i < json_array_size(subs); i++) {
		json_t *s = json_array_get(subs, i);
		if (strcmp(json_string_value(json_object_get(s, "subsystem")), "bdev") == 0) {
			bdev_cfg = json_object_get(s, "config");
		}
	}
	cr_assert_not_null(bdev_cfg, "bdev subsystem in the saved config: %s", g_out.config);
	cr_assert_eq(json_array_size(bdev_cfg), 4, "options, two bdevs, wait_for_examine: %s",
		     g_out.config);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(bdev_cfg, 0), "method")),
			 "bdev_set_options");
	json_t *m = json_object_get(json_array_get(bdev_cfg, 1), "params");
	cr_assert_str_eq(json_string_value(json_object_get(m, "uuid")),
			 "2b7ae8a2-2d47-4d5f-b5c6-4a2b8a8ed001", "uuid saved");
	cr_assert_eq(json_integer_value(json_object_get(m, "num_blocks")), 256);
	json_t *n = json_object_get(json_array_get(bdev_cfg, 2), "params");
	cr_assert_eq(json_integer_value(json_object_get(n, "block_size")), 4096);
	json_decref(cfg);
	free(g_out.config);
}
