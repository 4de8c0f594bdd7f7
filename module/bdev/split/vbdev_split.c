/* The "split" bdev module: a base bdev cut into equal parts on the part
 * layer (SPDK's bdev_split), made when its base appears. */
#include "vbdev_split.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev_module.h"
#include "spio/json.h"
#include "spio/log.h"

#define MIB (1024ULL * 1024)

/* One configured split, waiting for its base or built. */
struct split_config {
	char *base_name;
	uint32_t split_count;
	uint64_t split_size_mb;
	/* the creator's reference to the part base; NULL when not built or released */
	struct spio_bdev_part_base *base;
	uint32_t nparts;
	/* the part base exists (until its free_cb), which then frees this config */
	bool base_live;
	bool listed;
	struct split_config *next;
};

static struct split_config *g_split_configs;

static size_t split_get_ctx_size(void)
{
	return spio_bdev_part_io_ctx_size();
}

static void split_examine_disk(struct spio_bdev *bdev);
static void split_module_fini(void);
static void split_config_json(struct spio_json_write_ctx *w);

static struct spio_bdev_module g_split_module = {
    .name = "split",
    .module_fini = split_module_fini,
    .get_ctx_size = split_get_ctx_size,
    .config_json = split_config_json,
    .examine_disk = split_examine_disk,
};
SPIO_BDEV_MODULE_REGISTER(g_split_module)

static void split_config_free(struct split_config *c)
{
	free(c->base_name);
	free(c);
}

static struct split_config **split_config_find(const char *base_name)
{
	struct split_config **c;

	for (c = &g_split_configs; *c != NULL; c = &(*c)->next) {
		if (strcmp((*c)->base_name, base_name) == 0) {
			break;
		}
	}
	return c;
}

static void split_config_unlink(struct split_config *c)
{
	struct split_config **p;

	for (p = &g_split_configs; *p != NULL; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	c->listed = false;
}

/* Off the list; freed now, or by the part base's free_cb if it still lives. */
static void split_config_drop(struct split_config *c)
{
	if (c->listed) {
		split_config_unlink(c);
	}
	if (!c->base_live) {
		split_config_free(c);
	}
}

static void part_name(char *buf, size_t len, const char *base_name, uint32_t i)
{
	snprintf(buf, len, "%sp%" PRIu32, base_name, i);
}

/* Ask every part still there to go, and drop our reference to the base. */
static void split_unbuild(struct split_config *c)
{
	size_t len = strlen(c->base_name) + 16;
	char name[len];

	for (uint32_t i = 0; i < c->nparts; i++) {
		struct spio_bdev *b;

		part_name(name, len, c->base_name, i);
		b = spio_bdev_get_by_name(name);
		if (b != NULL && b->module == &g_split_module) {
			int rc = spio_bdev_unregister(b, NULL, NULL);

			if (rc != 0 && rc != -EBUSY) {
				SPIO_ERRLOG("split part %s: unregister: %s", name, strerror(-rc));
			}
		}
	}
	if (c->base != NULL) {
		spio_bdev_part_base_release(c->base);
		c->base = NULL;
	}
}

/* SPDK's behaviour: once the base is removed and freed, its split is forgotten. */
static void split_base_removed(struct spio_bdev_part_base *base, void *ctx)
{
	struct split_config *c = ctx;

	(void)base;
	if (c->base != NULL) {
		spio_bdev_part_base_release(c->base);
		c->base = NULL;
	}
}

static void split_base_free(void *ctx)
{
	struct split_config *c = ctx;

	c->base_live = false;
	split_config_drop(c);
}

/* Part size in blocks and the number of parts that fit, or -EINVAL. */
static int split_geometry(const struct split_config *c, const struct spio_bdev *b,
			  uint64_t *size_blocks, uint32_t *count)
{
	uint64_t size, fit;

	if (c->split_size_mb != 0) {
		if (c->split_size_mb > UINT64_MAX / MIB || (c->split_size_mb * MIB) % b->blocklen) {
			SPIO_ERRLOG("split of %s: %" PRIu64
				    " MiB is too large or not a multiple of the block "
				    "size %" PRIu32,
				    c->base_name, c->split_size_mb, b->blocklen);
			return -EINVAL;
		}
		size = c->split_size_mb * MIB / b->blocklen;
	} else {
		size = b->blockcnt / c->split_count;
	}
	if (size == 0 || size > b->blockcnt) {
		SPIO_ERRLOG("split of %s: %" PRIu32 " parts of %" PRIu64
			    " MiB do not fit its %" PRIu64 " blocks",
			    c->base_name, c->split_count, c->split_size_mb, b->blockcnt);
		return -EINVAL;
	}
	fit = b->blockcnt / size;
	*count = c->split_count;
	if (*count > fit) {
		SPIO_WARNLOG("split of %s: %" PRIu32 " parts do not fit, making %" PRIu64,
			     c->base_name, c->split_count, fit);
		*count = (uint32_t)fit;
	}
	*size_blocks = size;
	return 0;
}

static int split_build(struct split_config *c)
{
	struct spio_bdev *b = spio_bdev_get_by_name(c->base_name);
	size_t len = strlen(c->base_name) + 16;
	char name[len];
	uint64_t size;
	uint32_t count;
	int rc;

	if (b == NULL) {
		return -ENODEV;
	}
	rc = split_geometry(c, b, &size, &count);
	if (rc != 0) {
		return rc;
	}
	/* before the claim: a taken name fails without touching the base */
	for (uint32_t i = 0; i < count; i++) {
		part_name(name, len, c->base_name, i);
		if (spio_bdev_get_by_name(name) != NULL) {
			SPIO_ERRLOG("split of %s: the name %s is taken", c->base_name, name);
			return -EEXIST;
		}
	}
	rc = spio_bdev_part_base_create(c->base_name, &g_split_module, split_base_removed,
					split_base_free, c, &c->base);
	if (rc != 0) {
		c->base = NULL;
		return rc;
	}
	c->base_live = true;
	c->nparts = 0;
	for (uint32_t i = 0; i < count; i++) {
		struct spio_bdev_part *part;

		part_name(name, len, c->base_name, i);
		rc = spio_bdev_part_create(c->base, name, (uint64_t)i * size, size, "Split Disk",
					   &part);
		if (rc != 0) {
			SPIO_ERRLOG("split of %s: part %s: %s", c->base_name, name, strerror(-rc));
			split_unbuild(c);
			return rc;
		}
		c->nparts = i + 1;
	}
	return 0;
}

static void split_examine_disk(struct spio_bdev *bdev)
{
	struct split_config *c = *split_config_find(bdev->name);

	if (c != NULL && c->base == NULL && !c->base_live) {
		int rc = split_build(c);

		if (rc != 0) {
			SPIO_ERRLOG("cannot split %s: %s", bdev->name, strerror(-rc));
			split_config_drop(c);
		}
	}
	spio_bdev_module_examine_done(&g_split_module);
}

static void split_config_json(struct spio_json_write_ctx *w)
{
	for (struct split_config *c = g_split_configs; c != NULL; c = c->next) {
		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "method", "bdev_split_create");
		spio_json_write_named_object_begin(w, "params");
		spio_json_write_named_string(w, "base_bdev", c->base_name);
		spio_json_write_named_uint32(w, "split_count", c->split_count);
		spio_json_write_named_uint64(w, "split_size_mb", c->split_size_mb);
		spio_json_write_object_end(w);
		spio_json_write_object_end(w);
	}
}

static void split_module_fini(void)
{
	while (g_split_configs != NULL) {
		struct split_config *c = g_split_configs;

		if (c->base != NULL) {
			spio_bdev_part_base_release(c->base);
			c->base = NULL;
		}
		split_config_drop(c);
	}
}

int vbdev_split_create(const char *base_name, uint32_t split_count, uint64_t split_size_mb,
		       uint32_t *nparts)
{
	struct split_config *c;
	int rc;

	if (nparts != NULL) {
		*nparts = 0;
	}
	if (base_name == NULL || base_name[0] == '\0' || split_count == 0) {
		return -EINVAL;
	}
	if (*split_config_find(base_name) != NULL) {
		SPIO_ERRLOG("a split of %s is already configured", base_name);
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->base_name = strdup(base_name)) == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->split_count = split_count;
	c->split_size_mb = split_size_mb;
	c->next = g_split_configs;
	g_split_configs = c;
	c->listed = true;
	rc = split_build(c);
	if (rc == -ENODEV) {
		SPIO_NOTICELOG("split of %s: waiting for the base bdev", base_name);
		return 0;
	}
	if (rc != 0) {
		split_config_drop(c);
		return rc;
	}
	if (nparts != NULL) {
		*nparts = c->nparts;
	}
	return 0;
}

int vbdev_split_delete(const char *base_name)
{
	struct split_config *c;

	if (base_name == NULL) {
		return -EINVAL;
	}
	c = *split_config_find(base_name);
	if (c == NULL) {
		return -ENOENT;
	}
	split_config_unlink(c);
	split_unbuild(c);
	split_config_drop(c);
	return 0;
}
