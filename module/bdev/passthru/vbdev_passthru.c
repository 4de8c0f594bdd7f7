/* The "passthru" bdev module: a bdev forwarding every I/O unchanged to a
 * claimed base (SPDK's bdev_passthru), created when its base appears. */
#include "spio/bdev_passthru.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spio/json.h"
#include "spio/log.h"
#include "spio/thread.h"
#include "vbdev_stack.h"

/* One configured passthru, created or waiting for its base. */
struct pt_config {
	char *base_name;
	char *name;
	struct spio_uuid uuid;
	struct pt_config *next;
};

struct pt_disk {
	struct vbdev_stack s;
};

static struct pt_config *g_pt_configs;

static size_t pt_get_ctx_size(void)
{
	return vbdev_stack_io_ctx_size();
}

static void pt_examine_disk(struct spio_bdev *bdev);
static void pt_module_fini(void);

/* SPDK's module name; the example module (examples/bdev_module) is "passthru_example". */
static struct spio_bdev_module g_pt_module = {
    .name = "passthru",
    .module_fini = pt_module_fini,
    .get_ctx_size = pt_get_ctx_size,
    .examine_disk = pt_examine_disk,
};
SPIO_BDEV_MODULE_REGISTER(g_pt_module)

static struct pt_config **pt_config_find(const char *name)
{
	struct pt_config **c;

	for (c = &g_pt_configs; *c != NULL; c = &(*c)->next) {
		if (strcmp((*c)->name, name) == 0) {
			break;
		}
	}
	return c;
}

static void pt_config_free(struct pt_config *c)
{
	free(c->base_name);
	free(c->name);
	free(c);
}

static void pt_module_fini(void)
{
	while (g_pt_configs != NULL) {
		struct pt_config *c = g_pt_configs;

		g_pt_configs = c->next;
		pt_config_free(c);
	}
}

static void pt_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	vbdev_stack_forward(ch, io, spio_bdev_io_complete);
}

static int pt_destruct(void *ctxt)
{
	return vbdev_stack_destruct(ctxt);
}

static void pt_free(struct vbdev_stack *s)
{
	vbdev_stack_free_name(s);
	free(SPIO_CONTAINEROF(s, struct pt_disk, s));
}

static void pt_dump_info_json(void *ctxt, struct spio_json_write_ctx *w)
{
	struct vbdev_stack *s = ctxt;

	spio_json_write_named_object_begin(w, "passthru");
	spio_json_write_named_string(w, "name", s->bdev.name);
	spio_json_write_named_string(w, "base_bdev_name", s->base->name);
	spio_json_write_object_end(w);
}

static void pt_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	struct vbdev_stack *s = bdev->ctxt;

	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_passthru_create");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_string(w, "base_bdev_name", s->base->name);
	spio_json_write_named_string(w, "name", bdev->name);
	spio_json_write_named_uuid(w, "uuid", &bdev->uuid);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

static const struct spio_bdev_fn_table g_pt_fn_table = {
    .destruct = pt_destruct,
    .submit_request = pt_submit,
    .io_type_supported = vbdev_stack_io_type_supported,
    .get_io_channel = vbdev_stack_get_io_channel,
    .dump_info_json = pt_dump_info_json,
    .write_config_json = pt_write_config_json,
};

static const struct vbdev_stack_ops g_pt_ops = {
    .module = &g_pt_module,
    .fn_table = &g_pt_fn_table,
    .free = pt_free,
};

static int pt_build(const struct pt_config *c, struct spio_bdev **out)
{
	struct pt_disk *disk = calloc(1, sizeof(*disk));
	int rc;

	if (disk == NULL) {
		return -ENOMEM;
	}
	rc = vbdev_stack_create(&disk->s, &g_pt_ops, c->base_name, c->name, &c->uuid, "passthru");
	if (rc != 0) {
		free(disk);
		return rc;
	}
	if (out != NULL) {
		*out = &disk->s.bdev;
	}
	return 0;
}

/*
 * In the disk phase, not the config phase: the core's config phase cannot
 * take a bdev registered from inside it (its examine count check misfires).
 */
static void pt_examine_disk(struct spio_bdev *bdev)
{
	for (struct pt_config *c = g_pt_configs; c != NULL; c = c->next) {
		if (strcmp(c->base_name, bdev->name) == 0 &&
		    spio_bdev_get_by_name(c->name) == NULL) {
			int rc = pt_build(c, NULL);

			if (rc != 0) {
				SPIO_ERRLOG("passthru %s on %s: %s", c->name, bdev->name,
					    strerror(-rc));
			}
		}
	}
	spio_bdev_module_examine_done(&g_pt_module);
}

int spio_bdev_passthru_create(const char *base_name, const char *name, const struct spio_uuid *uuid,
			      struct spio_bdev **bdev)
{
	struct pt_config *c;
	int rc;

	if (base_name == NULL || name == NULL || base_name[0] == '\0' || name[0] == '\0' ||
	    bdev == NULL) {
		return -EINVAL;
	}
	*bdev = NULL;
	if (*pt_config_find(name) != NULL || spio_bdev_get_by_name(name) != NULL) {
		SPIO_ERRLOG("passthru %s: the name is taken", name);
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->base_name = strdup(base_name)) == NULL ||
	    (c->name = strdup(name)) == NULL) {
		if (c != NULL) {
			pt_config_free(c);
		}
		return -ENOMEM;
	}
	if (uuid != NULL) {
		c->uuid = *uuid;
	}
	rc = pt_build(c, bdev);
	if (rc == -ENODEV) {
		SPIO_NOTICELOG("passthru %s: waiting for base bdev %s", name, base_name);
		rc = 0;
	}
	if (rc != 0) {
		pt_config_free(c);
		return rc;
	}
	c->next = g_pt_configs;
	g_pt_configs = c;
	return 0;
}

struct pt_delete_ctx {
	spio_bdev_delete_cb cb;
	void *cb_arg;
};

static void pt_deleted_msg(void *arg)
{
	struct pt_delete_ctx *ctx = arg;

	ctx->cb(ctx->cb_arg, 0);
	free(ctx);
}

int spio_bdev_passthru_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg)
{
	struct pt_config **cp, *c;
	struct spio_bdev *bdev;
	struct pt_delete_ctx *ctx;
	int rc;

	if (name == NULL) {
		return -EINVAL;
	}
	cp = pt_config_find(name);
	c = *cp;
	bdev = spio_bdev_get_by_name(name);
	if (bdev != NULL && bdev->module == &g_pt_module) {
		rc = spio_bdev_unregister(bdev, cb, cb_arg);
		if (rc == 0 && c != NULL) {
			*cp = c->next;
			pt_config_free(c);
		}
		return rc;
	}
	if (c == NULL) {
		return -ENODEV;
	}
	/* only configured, its base never came: forget it, answer as usual */
	if (cb != NULL) {
		ctx = malloc(sizeof(*ctx));
		if (ctx == NULL) {
			return -ENOMEM;
		}
		ctx->cb = cb;
		ctx->cb_arg = cb_arg;
		if (spio_thread_send_msg(spio_get_thread(), pt_deleted_msg, ctx) != 0) {
			free(ctx);
			return -ENOMEM;
		}
	}
	*cp = c->next;
	pt_config_free(c);
	return 0;
}
