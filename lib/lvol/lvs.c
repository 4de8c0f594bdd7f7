/* Logical volume stores: init, load, unload, destroy, rename, and the list
 * of loaded stores (their names are unique in the process, as SPDK's). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lvol_internal.h"
#include "spio/blob_bdev.h"
#include "spio/log.h"
#include "spio/thread.h"

static TAILQ_HEAD(, spio_lvol_store) g_lvol_stores = TAILQ_HEAD_INITIALIZER(g_lvol_stores);
static pthread_mutex_t g_lvol_stores_mutex = PTHREAD_MUTEX_INITIALIZER;

void lvs_list_lock(void)
{
	pthread_mutex_lock(&g_lvol_stores_mutex);
}

void lvs_list_unlock(void)
{
	pthread_mutex_unlock(&g_lvol_stores_mutex);
}

int lvol_check_name(const char *name, size_t max)
{
	size_t len;

	if (name == NULL) {
		return -EINVAL;
	}
	len = strnlen(name, max);
	return len == 0 || len == max ? -EINVAL : 0;
}

/* -EEXIST if a listed store has the name (or is being renamed to it). */
static int lvs_add_to_list(struct spio_lvol_store *lvs)
{
	struct spio_lvol_store *tmp;

	lvs_list_lock();
	TAILQ_FOREACH (tmp, &g_lvol_stores, link) {
		if (strcmp(tmp->name, lvs->name) == 0 || strcmp(tmp->new_name, lvs->name) == 0) {
			lvs_list_unlock();
			return -EEXIST;
		}
	}
	lvs->on_list = true;
	TAILQ_INSERT_TAIL(&g_lvol_stores, lvs, link);
	lvs_list_unlock();
	return 0;
}

static struct spio_lvol_store *lvs_alloc(void)
{
	struct spio_lvol_store *lvs = calloc(1, sizeof(*lvs));

	if (lvs == NULL) {
		return NULL;
	}
	TAILQ_INIT(&lvs->lvols);
	TAILQ_INIT(&lvs->pending_lvols);
	lvs->super_blob_id = SPIO_BLOBID_INVALID;
	lvs->thread = spio_get_thread();
	return lvs;
}

static void lvs_free_lvols(struct spio_lvol_store *lvs)
{
	struct spio_lvol *lvol;

	while ((lvol = TAILQ_FIRST(&lvs->lvols)) != NULL) {
		TAILQ_REMOVE(&lvs->lvols, lvol, link);
		lvol_free(lvol);
	}
}

static void lvs_free(struct spio_lvol_store *lvs)
{
	lvs_list_lock();
	if (lvs->on_list) {
		TAILQ_REMOVE(&g_lvol_stores, lvs, link);
	}
	lvs_list_unlock();
	lvs_free_lvols(lvs);
	free(lvs);
}

static void lvs_bs_opts_init(struct spio_bs_opts *o)
{
	spio_bs_opts_init(o, sizeof(*o));
	o->max_channel_ops = LVS_CHANNEL_OPS;
	memset(&o->bstype, 0, sizeof(o->bstype));
	memcpy(o->bstype.bstype, LVS_BSTYPE, strlen(LVS_BSTYPE));
}

static void lvs_opts_defaults(struct spio_lvs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->cluster_sz = SPIO_LVS_DEFAULT_CLUSTER_SZ;
	o->clear_method = SPIO_LVS_CLEAR_WITH_UNMAP;
	o->num_md_pages_per_cluster_ratio = 100;
	o->opts_size = sizeof(*o);
}

void spio_lvs_opts_init(struct spio_lvs_opts *opts, size_t opts_size)
{
	struct spio_lvs_opts def;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	lvs_opts_defaults(&def);
	def.opts_size = opts_size;
	memcpy(opts, &def, SPIO_MIN(opts_size, sizeof(def)));
}

/*
 * Init
 */

struct lvs_init_req {
	struct spio_lvol_store *lvs;
	struct spio_blob *super_blob;
	spio_lvs_op_with_handle_complete cb_fn;
	void *cb_arg;
	int lvserrno;
};

static void lvs_init_failed_destroyed(void *cb_arg, int bserrno)
{
	struct lvs_init_req *req = cb_arg;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvstore %s: cannot destroy the half-made blobstore: %s",
			    req->lvs->name, strerror(-bserrno));
	}
	lvs_free(req->lvs);
	req->cb_fn(req->cb_arg, NULL, req->lvserrno);
	free(req);
}

static void lvs_init_failed_closed(void *cb_arg, int bserrno)
{
	struct lvs_init_req *req = cb_arg;

	(void)bserrno;
	spio_bs_destroy(req->lvs->bs, lvs_init_failed_destroyed, req);
}

/* A failure after the blobstore exists: close the super blob, destroy the
 * blobstore (and so the device), then report `rc`. */
static void lvs_init_fail(struct lvs_init_req *req, const char *what, int rc)
{
	SPIO_ERRLOG("lvstore %s: init failed: cannot %s: %s", req->lvs->name, what, strerror(-rc));
	req->lvserrno = rc;
	if (req->super_blob != NULL) {
		struct spio_blob *blob = req->super_blob;

		req->super_blob = NULL;
		spio_blob_close(blob, lvs_init_failed_closed, req);
		return;
	}
	lvs_init_failed_closed(req, 0);
}

static void lvs_init_super_closed(void *cb_arg, int bserrno)
{
	struct lvs_init_req *req = cb_arg;

	req->super_blob = NULL;
	if (bserrno != 0) {
		lvs_init_fail(req, "close the super blob", bserrno);
		return;
	}
	SPIO_INFOLOG("lvstore %s: created", req->lvs->name);
	req->cb_fn(req->cb_arg, req->lvs, 0);
	free(req);
}

static void lvs_init_super_synced(void *cb_arg, int bserrno)
{
	struct lvs_init_req *req = cb_arg;

	if (bserrno != 0) {
		lvs_init_fail(req, "write the super blob's name and uuid", bserrno);
		return;
	}
	spio_blob_close(req->super_blob, lvs_init_super_closed, req);
}

static void lvs_init_super_set(void *cb_arg, int bserrno)
{
	struct lvs_init_req *req = cb_arg;
	struct spio_lvol_store *lvs = req->lvs;
	char uuid[SPIO_UUID_STRING_LEN];
	int rc;

	if (bserrno != 0) {
		lvs_init_fail(req, "set the super blob", bserrno);
		return;
	}
	spio_uuid_fmt_lower(uuid, sizeof(uuid), &lvs->uuid);
	/* SPDK's order and lengths: "uuid" with its NUL, then "name" with its NUL */
	rc = spio_blob_set_xattr(req->super_blob, LVOL_XATTR_UUID, uuid, sizeof(uuid));
	if (rc == 0) {
		rc = spio_blob_set_xattr(req->super_blob, LVOL_XATTR_NAME, lvs->name,
					 (uint16_t)(strlen(lvs->name) + 1));
	}
	if (rc != 0) {
		lvs_init_fail(req, "set the super blob's xattrs", rc);
		return;
	}
	spio_blob_sync_md(req->super_blob, lvs_init_super_synced, req);
}

static void lvs_init_super_opened(void *cb_arg, struct spio_blob *blob, int bserrno)
{
	struct lvs_init_req *req = cb_arg;

	if (bserrno != 0) {
		lvs_init_fail(req, "open the super blob", bserrno);
		return;
	}
	req->super_blob = blob;
	req->lvs->super_blob_id = spio_blob_get_id(blob);
	spio_bs_set_super(req->lvs->bs, req->lvs->super_blob_id, lvs_init_super_set, req);
}

static void lvs_init_super_created(void *cb_arg, spio_blob_id blobid, int bserrno)
{
	struct lvs_init_req *req = cb_arg;

	if (bserrno != 0) {
		lvs_init_fail(req, "create the super blob", bserrno);
		return;
	}
	spio_bs_open_blob(req->lvs->bs, blobid, lvs_init_super_opened, req);
}

static void lvs_init_bs_done(void *cb_arg, struct spio_blob_store *bs, int bserrno)
{
	struct lvs_init_req *req = cb_arg;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvstore %s: cannot initialise the blobstore: %s", req->lvs->name,
			    strerror(-bserrno));
		lvs_free(req->lvs);
		req->cb_fn(req->cb_arg, NULL, bserrno);
		free(req);
		return;
	}
	req->lvs->bs = bs;
	spio_bs_create_blob(bs, lvs_init_super_created, req);
}

int spio_lvs_init(struct spio_bs_dev *bs_dev, const struct spio_lvs_opts *o,
		  spio_lvs_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct spio_lvs_opts opts;
	struct spio_bs_opts bs_opts;
	struct spio_lvol_store *lvs;
	struct lvs_init_req *req;
	uint64_t total_clusters, md_pages;
	int rc;

	if (bs_dev == NULL) {
		SPIO_ERRLOG("lvstore init: no device");
		return -ENODEV;
	}
	if (o == NULL || o->opts_size == 0 || cb_fn == NULL) {
		SPIO_ERRLOG("lvstore init: options and callback required");
		return -EINVAL;
	}
	lvs_opts_defaults(&opts);
	memcpy(&opts, o, SPIO_MIN(o->opts_size, sizeof(opts)));
	if (lvol_check_name(opts.name, sizeof(opts.name)) != 0) {
		SPIO_ERRLOG("lvstore init: the name must have 1 to %d characters",
			    SPIO_LVS_NAME_MAX - 1);
		return -EINVAL;
	}
	if (opts.cluster_sz < bs_dev->blocklen || opts.cluster_sz % bs_dev->blocklen != 0) {
		SPIO_ERRLOG("lvstore %s: cluster size %" PRIu32
			    " is not a multiple of the block size %" PRIu32,
			    opts.name, opts.cluster_sz, bs_dev->blocklen);
		return -EINVAL;
	}
	total_clusters = bs_dev->blockcnt / (opts.cluster_sz / bs_dev->blocklen);

	lvs = lvs_alloc();
	req = calloc(1, sizeof(*req));
	if (lvs == NULL || req == NULL) {
		free(lvs);
		free(req);
		return -ENOMEM;
	}
	spio_uuid_generate(&lvs->uuid);
	snprintf(lvs->name, sizeof(lvs->name), "%s", opts.name);
	rc = lvs_add_to_list(lvs);
	if (rc != 0) {
		SPIO_ERRLOG("lvstore %s: a loaded lvstore has that name", lvs->name);
		lvs_free(lvs);
		free(req);
		return rc;
	}
	lvs->bs_dev = bs_dev;
	req->lvs = lvs;
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;

	lvs_bs_opts_init(&bs_opts);
	bs_opts.cluster_sz = opts.cluster_sz;
	bs_opts.clear_method = (enum spio_bs_clear_method)opts.clear_method;
	/* SPDK's reservation: ratio percent of a page per cluster */
	md_pages = (uint64_t)opts.num_md_pages_per_cluster_ratio * total_clusters / 100;
	bs_opts.num_md_pages = (uint32_t)SPIO_MIN(md_pages, (uint64_t)UINT32_MAX - 1);
	if (opts.md_page_size != 0) {
		bs_opts.md_page_size = opts.md_page_size;
	}
	SPIO_INFOLOG("lvstore %s: initialising", lvs->name);
	spio_bs_init(bs_dev, &bs_opts, lvs_init_bs_done, req);
	return 0;
}

/*
 * Load
 */

struct lvs_load_req {
	struct spio_lvol_store *lvs;
	spio_lvs_op_with_handle_complete cb_fn;
	void *cb_arg;
	int lvserrno;
};

static void lvs_load_failed_unloaded(void *cb_arg, int bserrno)
{
	struct lvs_load_req *req = cb_arg;

	(void)bserrno;
	req->cb_fn(req->cb_arg, NULL, req->lvserrno);
	free(req);
}

/* Give the blobstore back (unloaded, which destroys the device) and report. */
static void lvs_load_fail(struct lvs_load_req *req, int rc)
{
	struct spio_blob_store *bs = req->lvs->bs;

	req->lvserrno = rc;
	lvs_free(req->lvs);
	req->lvs = NULL;
	spio_bs_unload(bs, lvs_load_failed_unloaded, req);
}

static void lvs_load_failed_closed(void *cb_arg, int bserrno)
{
	struct lvs_load_req *req = cb_arg;

	(void)bserrno;
	lvs_load_fail(req, req->lvserrno);
}

/* Copy an xattr value that should be a string into `dst` (at most dst_len
 * - 1 characters, stopping at a NUL): SPDK reads these as C strings. */
static void copy_xattr_string(char *dst, size_t dst_len, const char *value, size_t value_len)
{
	size_t n = strnlen(value, SPIO_MIN(value_len, dst_len - 1));

	memcpy(dst, value, n);
	dst[n] = '\0';
}

static void lvs_load_next(void *cb_arg, struct spio_blob *blob, int bserrno);

static void lvs_load_add_lvol(struct lvs_load_req *req, struct spio_blob *blob)
{
	struct spio_lvol_store *lvs = req->lvs;
	spio_blob_id id = spio_blob_get_id(blob);
	struct spio_lvol *lvol;
	const void *value;
	size_t len;
	int rc;

	lvol = calloc(1, sizeof(*lvol));
	if (lvol == NULL) {
		req->lvserrno = -ENOMEM;
		return;
	}
	/* only the id: the iteration closes the blob */
	lvol->blob_id = id;
	lvol->lvs = lvs;
	rc = spio_blob_get_xattr_value(blob, LVOL_XATTR_UUID, &value, &len);
	if (rc != 0 || len != SPIO_UUID_STRING_LEN ||
	    ((const char *)value)[SPIO_UUID_STRING_LEN - 1] != '\0' ||
	    spio_uuid_parse(&lvol->uuid, value) != 0) {
		SPIO_INFOLOG("lvstore %s: blob 0x%" PRIx64 " has no valid uuid", lvs->name, id);
		memset(&lvol->uuid, 0, sizeof(lvol->uuid));
	}
	lvol_set_ids(lvol);

	rc = spio_blob_get_xattr_value(blob, LVOL_XATTR_NAME, &value, &len);
	if (rc != 0 || len > SPIO_LVOL_NAME_MAX) {
		SPIO_ERRLOG("lvstore %s: blob 0x%" PRIx64 " has %s name (an lvol needs one of "
			    "at most %d bytes)",
			    lvs->name, id, rc != 0 ? "no" : "a too long", SPIO_LVOL_NAME_MAX);
		free(lvol);
		req->lvserrno = -EINVAL;
		return;
	}
	copy_xattr_string(lvol->name, sizeof(lvol->name), value, len);
	TAILQ_INSERT_TAIL(&lvs->lvols, lvol, link);
	SPIO_INFOLOG("lvstore %s: lvol %s (%s)", lvs->name, lvol->name, lvol->unique_id);
}

static void lvs_load_next(void *cb_arg, struct spio_blob *blob, int bserrno)
{
	struct lvs_load_req *req = cb_arg;
	struct spio_lvol_store *lvs = req->lvs;

	if (bserrno == -ENOENT) {
		/* every blob seen */
		if (req->lvserrno != 0) {
			lvs_load_fail(req, req->lvserrno);
			return;
		}
		req->cb_fn(req->cb_arg, lvs, 0);
		free(req);
		return;
	}
	if (bserrno != 0) {
		SPIO_ERRLOG("lvstore %s: cannot list the blobs: %s", lvs->name, strerror(-bserrno));
		lvs_load_fail(req, bserrno);
		return;
	}
	if (spio_blob_get_id(blob) != lvs->super_blob_id) {
		lvs_load_add_lvol(req, blob);
	}
	/* an error is reported once every blob was seen, as SPDK does */
	spio_bs_iter_next(lvs->bs, blob, lvs_load_next, req);
}

static void lvs_load_super_closed(void *cb_arg, int bserrno)
{
	struct lvs_load_req *req = cb_arg;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvstore: cannot close the super blob: %s", strerror(-bserrno));
		lvs_load_fail(req, -ENODEV);
		return;
	}
	spio_bs_iter_first(req->lvs->bs, lvs_load_next, req);
}

/* Read the super blob's "uuid" and "name" into the store. */
static int lvs_load_read_super(struct spio_lvol_store *lvs, struct spio_blob *blob)
{
	const void *value;
	size_t len;

	if (spio_blob_get_xattr_value(blob, LVOL_XATTR_UUID, &value, &len) != 0 ||
	    len != SPIO_UUID_STRING_LEN ||
	    ((const char *)value)[SPIO_UUID_STRING_LEN - 1] != '\0' ||
	    spio_uuid_parse(&lvs->uuid, value) != 0) {
		SPIO_ERRLOG("lvstore: the super blob has no valid uuid");
		return -EINVAL;
	}
	if (spio_blob_get_xattr_value(blob, LVOL_XATTR_NAME, &value, &len) != 0 ||
	    len > SPIO_LVS_NAME_MAX) {
		SPIO_ERRLOG("lvstore: the super blob has no valid name");
		return -EINVAL;
	}
	copy_xattr_string(lvs->name, sizeof(lvs->name), value, len);
	if (lvs_add_to_list(lvs) != 0) {
		SPIO_ERRLOG("lvstore %s: a loaded lvstore has that name already", lvs->name);
		return -EEXIST;
	}
	return 0;
}

static void lvs_load_super_opened(void *cb_arg, struct spio_blob *blob, int bserrno)
{
	struct lvs_load_req *req = cb_arg;
	int rc;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvstore: cannot open the super blob: %s", strerror(-bserrno));
		lvs_load_fail(req, -ENODEV);
		return;
	}
	rc = lvs_load_read_super(req->lvs, blob);
	if (rc != 0) {
		req->lvserrno = rc;
		spio_blob_close(blob, lvs_load_failed_closed, req);
		return;
	}
	req->lvs->super_blob_id = spio_blob_get_id(blob);
	spio_blob_close(blob, lvs_load_super_closed, req);
}

static void lvs_load_got_super(void *cb_arg, spio_blob_id blobid, int bserrno)
{
	struct lvs_load_req *req = cb_arg;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvstore: the blobstore has no super blob");
		lvs_load_fail(req, -ENODEV);
		return;
	}
	spio_bs_open_blob(req->lvs->bs, blobid, lvs_load_super_opened, req);
}

static void lvs_load_bs_done(void *cb_arg, struct spio_blob_store *bs, int bserrno)
{
	struct lvs_load_req *req = cb_arg;

	if (bserrno != 0) {
		lvs_free(req->lvs);
		req->cb_fn(req->cb_arg, NULL, bserrno);
		free(req);
		return;
	}
	req->lvs->bs = bs;
	spio_bs_get_super(bs, lvs_load_got_super, req);
}

void spio_lvs_load(struct spio_bs_dev *bs_dev, spio_lvs_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct spio_bs_opts bs_opts;
	struct lvs_load_req *req;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("lvstore load: callback required");
		return;
	}
	if (bs_dev == NULL) {
		SPIO_ERRLOG("lvstore load: no device");
		cb_fn(cb_arg, NULL, -ENODEV);
		return;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL || (req->lvs = lvs_alloc()) == NULL) {
		free(req);
		bs_dev->destroy(bs_dev);
		cb_fn(cb_arg, NULL, -ENOMEM);
		return;
	}
	req->lvs->bs_dev = bs_dev;
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	lvs_bs_opts_init(&bs_opts);
	spio_bs_load(bs_dev, &bs_opts, lvs_load_bs_done, req);
}

/*
 * Unload, destroy
 */

struct lvs_req {
	struct spio_lvol_store *lvs;
	spio_lvs_op_complete cb_fn;
	void *cb_arg;
	int lvserrno;
};

/* -EBUSY if an lvol is open or being closed or destroyed. */
static int lvs_check_idle(struct spio_lvol_store *lvs)
{
	struct spio_lvol *lvol;

	if (!TAILQ_EMPTY(&lvs->pending_lvols)) {
		return -EBUSY;
	}
	TAILQ_FOREACH (lvol, &lvs->lvols, link) {
		if (lvol->action_in_progress || lvol->ref_count != 0) {
			SPIO_ERRLOG("lvstore %s: lvol %s is %s", lvs->name, lvol->name,
				    lvol->ref_count != 0 ? "open" : "busy");
			return -EBUSY;
		}
	}
	return 0;
}

static void lvs_req_done(void *cb_arg, int bserrno)
{
	struct lvs_req *req = cb_arg;

	if (req->cb_fn != NULL) {
		req->cb_fn(req->cb_arg, bserrno);
	}
	free(req);
}

/* Unload and destroy start alike: a store with no lvol open or busy, and a request for it.
 * \return 0 with *reqp set, -ENODEV, -EBUSY (also given to cb_fn) or -ENOMEM. */
static int lvs_idle_req(struct spio_lvol_store *lvs, const char *what, spio_lvs_op_complete cb_fn,
			void *cb_arg, struct lvs_req **reqp)
{
	struct lvs_req *req;
	int rc;

	if (lvs == NULL) {
		SPIO_ERRLOG("lvstore %s: no lvstore", what);
		return -ENODEV;
	}
	rc = lvs_check_idle(lvs);
	if (rc != 0) {
		if (cb_fn != NULL) {
			cb_fn(cb_arg, rc);
		}
		return rc;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		return -ENOMEM;
	}
	req->lvs = lvs;
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	*reqp = req;
	return 0;
}

int spio_lvs_unload(struct spio_lvol_store *lvs, spio_lvs_op_complete cb_fn, void *cb_arg)
{
	struct spio_blob_store *bs;
	struct lvs_req *req;
	int rc;

	rc = lvs_idle_req(lvs, "unload", cb_fn, cb_arg, &req);
	if (rc != 0) {
		return rc;
	}
	/* The store is freed here: the request outlives it. */
	req->lvs = NULL;
	bs = lvs->bs;
	SPIO_INFOLOG("lvstore %s: unloading", lvs->name);
	lvs_free(lvs);
	spio_bs_unload(bs, lvs_req_done, req);
	return 0;
}

static void lvs_destroy_super_deleted(void *cb_arg, int bserrno)
{
	struct lvs_req *req = cb_arg;
	struct spio_blob_store *bs = req->lvs->bs;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvstore %s: cannot delete the super blob: %s (destroying anyway)",
			    req->lvs->name, strerror(-bserrno));
	}
	lvs_free(req->lvs);
	req->lvs = NULL;
	spio_bs_destroy(bs, lvs_req_done, req);
}

int spio_lvs_destroy(struct spio_lvol_store *lvs, spio_lvs_op_complete cb_fn, void *cb_arg)
{
	struct lvs_req *req;
	int rc;

	rc = lvs_idle_req(lvs, "destroy", cb_fn, cb_arg, &req);
	if (rc != 0) {
		return rc;
	}
	lvs_free_lvols(lvs);
	SPIO_INFOLOG("lvstore %s: destroying", lvs->name);
	spio_bs_delete_blob(lvs->bs, lvs->super_blob_id, lvs_destroy_super_deleted, req);
	return 0;
}

/*
 * Rename
 */

struct lvs_rename_req {
	struct lvs_req base;
	struct spio_blob *super_blob;
};

static void lvs_rename_done(void *cb_arg, int bserrno)
{
	struct lvs_rename_req *req = cb_arg;
	struct spio_lvol_store *lvs = req->base.lvs;
	int rc = req->base.lvserrno != 0 ? req->base.lvserrno : bserrno;

	lvs_list_lock();
	if (rc == 0) {
		snprintf(lvs->name, sizeof(lvs->name), "%s", lvs->new_name);
	} else {
		/* free the new name again for the next attempt */
		snprintf(lvs->new_name, sizeof(lvs->new_name), "%s", lvs->name);
	}
	lvs_list_unlock();
	if (rc != 0) {
		SPIO_ERRLOG("lvstore %s: rename failed: %s", lvs->name, strerror(-rc));
	}
	req->base.cb_fn(req->base.cb_arg, rc);
	free(req);
}

static void lvs_rename_synced(void *cb_arg, int bserrno)
{
	struct lvs_rename_req *req = cb_arg;

	if (bserrno != 0) {
		req->base.lvserrno = bserrno;
	}
	spio_blob_close(req->super_blob, lvs_rename_done, req);
}

static void lvs_rename_opened(void *cb_arg, struct spio_blob *blob, int bserrno)
{
	struct lvs_rename_req *req = cb_arg;
	struct spio_lvol_store *lvs = req->base.lvs;
	int rc;

	if (bserrno != 0) {
		lvs_rename_done(req, bserrno);
		return;
	}
	req->super_blob = blob;
	rc = spio_blob_set_xattr(blob, LVOL_XATTR_NAME, lvs->new_name,
				 (uint16_t)(strlen(lvs->new_name) + 1));
	if (rc != 0) {
		req->base.lvserrno = rc;
		spio_blob_close(blob, lvs_rename_done, req);
		return;
	}
	spio_blob_sync_md(blob, lvs_rename_synced, req);
}

void spio_lvs_rename(struct spio_lvol_store *lvs, const char *new_name, spio_lvs_op_complete cb_fn,
		     void *cb_arg)
{
	struct spio_lvol_store *tmp;
	struct lvs_rename_req *req;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("lvstore rename: callback required");
		return;
	}
	if (lvs == NULL || lvol_check_name(new_name, SPIO_LVS_NAME_MAX) != 0) {
		SPIO_ERRLOG("lvstore rename: the new name must have 1 to %d characters",
			    SPIO_LVS_NAME_MAX - 1);
		cb_fn(cb_arg, -EINVAL);
		return;
	}
	if (strcmp(lvs->name, new_name) == 0) {
		cb_fn(cb_arg, 0);
		return;
	}
	lvs_list_lock();
	TAILQ_FOREACH (tmp, &g_lvol_stores, link) {
		if (strcmp(new_name, tmp->name) == 0 || strcmp(new_name, tmp->new_name) == 0) {
			lvs_list_unlock();
			SPIO_ERRLOG("lvstore %s: cannot rename to %s: the name is taken", lvs->name,
				    new_name);
			cb_fn(cb_arg, -EEXIST);
			return;
		}
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		lvs_list_unlock();
		cb_fn(cb_arg, -ENOMEM);
		return;
	}
	snprintf(lvs->new_name, sizeof(lvs->new_name), "%s", new_name);
	lvs_list_unlock();
	req->base.lvs = lvs;
	req->base.cb_fn = cb_fn;
	req->base.cb_arg = cb_arg;
	spio_bs_open_blob(lvs->bs, lvs->super_blob_id, lvs_rename_opened, req);
}

/*
 * Accessors and lookups
 */

const char *spio_lvs_get_name(const struct spio_lvol_store *lvs)
{
	return lvs->name;
}

const struct spio_uuid *spio_lvs_get_uuid(const struct spio_lvol_store *lvs)
{
	return &lvs->uuid;
}

struct spio_blob_store *spio_lvs_get_bs(const struct spio_lvol_store *lvs)
{
	return lvs->bs;
}

struct spio_bs_dev *spio_lvs_get_bs_dev(const struct spio_lvol_store *lvs)
{
	return lvs->bs_dev;
}

struct spio_lvol *spio_lvs_first_lvol(struct spio_lvol_store *lvs)
{
	return TAILQ_FIRST(&lvs->lvols);
}

struct spio_lvol *spio_lvs_next_lvol(struct spio_lvol *lvol)
{
	return TAILQ_NEXT(lvol, link);
}

struct spio_lvol_store *spio_lvs_get_by_name(const char *name)
{
	struct spio_lvol_store *lvs;

	if (name == NULL) {
		return NULL;
	}
	lvs_list_lock();
	TAILQ_FOREACH (lvs, &g_lvol_stores, link) {
		if (strcmp(lvs->name, name) == 0) {
			break;
		}
	}
	lvs_list_unlock();
	return lvs;
}

struct spio_lvol_store *spio_lvs_get_by_uuid(const struct spio_uuid *uuid)
{
	struct spio_lvol_store *lvs;

	if (uuid == NULL) {
		return NULL;
	}
	lvs_list_lock();
	TAILQ_FOREACH (lvs, &g_lvol_stores, link) {
		if (spio_uuid_compare(&lvs->uuid, uuid) == 0) {
			break;
		}
	}
	lvs_list_unlock();
	return lvs;
}

struct spio_lvol *spio_lvol_get_by_names(const char *lvs_name, const char *lvol_name)
{
	struct spio_lvol_store *lvs;
	struct spio_lvol *lvol = NULL;

	if (lvs_name == NULL || lvol_name == NULL) {
		return NULL;
	}
	lvs_list_lock();
	TAILQ_FOREACH (lvs, &g_lvol_stores, link) {
		if (strcmp(lvs->name, lvs_name) != 0) {
			continue;
		}
		TAILQ_FOREACH (lvol, &lvs->lvols, link) {
			if (strcmp(lvol->name, lvol_name) == 0) {
				break;
			}
		}
		break;
	}
	lvs_list_unlock();
	return lvol;
}

struct spio_lvol *spio_lvol_get_by_uuid(const struct spio_uuid *uuid)
{
	struct spio_lvol_store *lvs;
	struct spio_lvol *lvol = NULL;

	if (uuid == NULL || spio_uuid_is_null(uuid)) {
		return NULL;
	}
	lvs_list_lock();
	TAILQ_FOREACH (lvs, &g_lvol_stores, link) {
		TAILQ_FOREACH (lvol, &lvs->lvols, link) {
			if (spio_uuid_compare(&lvol->uuid, uuid) == 0) {
				goto out;
			}
		}
	}
out:
	lvs_list_unlock();
	return lvol;
}
