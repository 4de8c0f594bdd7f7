/*
 * The bdev layer's options as SPDK's bdev_set_options sets them before the
 * layer starts, and manual examine (SPDK's bdev_examine) for when automatic
 * examine is off.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spio/log.h"
#include "spio/thread.h"

static struct spio_bdev_opts g_next_opts;
static bool g_next_opts_set;

const struct spio_bdev_opts *bdev_opts_current(void)
{
	if (!g_next_opts_set) {
		spio_bdev_opts_init(&g_next_opts, sizeof(g_next_opts));
		g_next_opts_set = true;
	}
	return &g_next_opts;
}

void spio_bdev_get_opts(struct spio_bdev_opts *opts, size_t opts_size)
{
	if (opts == NULL || opts_size == 0) {
		return;
	}
	memcpy(opts, bdev_opts_current(), SPIO_MIN(opts_size, sizeof(*opts)));
	opts->opts_size = opts_size;
}

int spio_bdev_set_opts(const struct spio_bdev_opts *user)
{
	struct spio_bdev_opts o = *bdev_opts_current();
	uint64_t min_pool;

	if (user == NULL || user->opts_size == 0) {
		return -EINVAL;
	}
	if (g_bdev_mgr.initialized) {
		return -EBUSY;
	}
	/* fields beyond the caller's opts_size keep their current value */
	memcpy(&o, user, SPIO_MIN(user->opts_size, sizeof(o)));
	o.opts_size = sizeof(o);
	/* every thread's cache full at once, plus one spare, as SPDK checks */
	min_pool = (uint64_t)o.bdev_io_cache_size * (spio_thread_get_count() + 1);
	if (o.bdev_io_pool_size == 0 || o.bdev_io_cache_size > SPIO_MEMPOOL_CACHE_MAX_SIZE ||
	    o.bdev_io_pool_size < min_pool) {
		return -EINVAL;
	}
	g_next_opts = o;
	g_next_opts_set = true;
	return 0;
}

static bool name_allowed(const char *name)
{
	for (struct examine_allowed *a = g_bdev_mgr.examine_allowed; a != NULL; a = a->next) {
		if (strcmp(a->name, name) == 0) {
			return true;
		}
	}
	return false;
}

bool bdev_examine_allowed(const struct spio_bdev *bdev)
{
	return g_bdev_mgr.opts.bdev_auto_examine || name_allowed(bdev->name);
}

void bdev_examine_allowed_clear(void)
{
	struct examine_allowed *a;

	while ((a = g_bdev_mgr.examine_allowed) != NULL) {
		g_bdev_mgr.examine_allowed = a->next;
		free(a);
	}
}

int spio_bdev_examine(const char *name)
{
	struct examine_allowed *a, **tail;
	struct spio_bdev *bdev;
	size_t len;

	if (name == NULL || name[0] == '\0' || !g_bdev_mgr.initialized) {
		return -EINVAL;
	}
	if (g_bdev_mgr.opts.bdev_auto_examine) {
		SPIO_ERRLOG("bdev_examine %s: every bdev is examined already (bdev_auto_examine "
			    "is on)",
			    name);
		return -EINVAL;
	}
	if (name_allowed(name)) {
		return -EEXIST;
	}
	len = strlen(name) + 1;
	a = calloc(1, sizeof(*a) + len);
	if (a == NULL) {
		return -ENOMEM;
	}
	memcpy(a->name, name, len);
	/* kept in call order: save_config writes them back in that order */
	for (tail = &g_bdev_mgr.examine_allowed; *tail != NULL; tail = &(*tail)->next) {
	}
	*tail = a;
	bdev = spio_bdev_get_by_name(name);
	if (bdev != NULL && strcmp(bdev->name, name) == 0) {
		bdev_examine_registered(bdev);
	}
	return 0;
}
