/* Logical volumes: create, snapshot, clone, open, close, destroy, resize,
 * rename, read-only, inflate, decouple; each is one blob of the store with
 * the xattrs "name" and "uuid" SPDK gives it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lvol_internal.h"
#include "spio/log.h"
#include "spio/thread.h"

static const char *const g_lvol_xattr_names[] = {LVOL_XATTR_NAME, LVOL_XATTR_UUID};

void lvol_set_ids(struct spio_lvol *lvol)
{
	size_t len;

	spio_uuid_fmt_lower(lvol->uuid_str, sizeof(lvol->uuid_str), &lvol->uuid);
	if (!spio_uuid_is_null(&lvol->uuid)) {
		snprintf(lvol->unique_id, sizeof(lvol->unique_id), "%s", lvol->uuid_str);
		return;
	}
	/* no uuid on the blob: SPDK's fallback, unique in the process */
	spio_uuid_fmt_lower(lvol->unique_id, sizeof(lvol->unique_id), &lvol->lvs->uuid);
	len = strlen(lvol->unique_id);
	snprintf(lvol->unique_id + len, sizeof(lvol->unique_id) - len, "_%" PRIu64,
		 (uint64_t)lvol->blob_id);
}

struct spio_lvol *lvol_alloc(struct spio_lvol_store *lvs, const char *name,
			     enum spio_lvol_clear_method clear_method)
{
	struct spio_lvol *lvol = calloc(1, sizeof(*lvol));

	if (lvol == NULL) {
		return NULL;
	}
	lvol->lvs = lvs;
	lvol->blob_id = SPIO_BLOBID_INVALID;
	lvol->clear_method = clear_method;
	/* name[] is zeroed: the xattr value is the NUL-padded 64 bytes */
	snprintf(lvol->name, sizeof(lvol->name), "%s", name);
	spio_uuid_generate(&lvol->uuid);
	lvol_set_ids(lvol);
	TAILQ_INSERT_TAIL(&lvs->pending_lvols, lvol, link);
	return lvol;
}

void lvol_free(struct spio_lvol *lvol)
{
	free(lvol);
}

/* 0, or -EINVAL / -EEXIST (the name is taken or being created in the store). */
static int lvs_verify_lvol_name(struct spio_lvol_store *lvs, const char *name)
{
	struct spio_lvol *tmp;

	if (lvol_check_name(name, SPIO_LVOL_NAME_MAX) != 0) {
		SPIO_ERRLOG("lvstore %s: an lvol name must have 1 to %d characters", lvs->name,
			    SPIO_LVOL_NAME_MAX - 1);
		return -EINVAL;
	}
	TAILQ_FOREACH (tmp, &lvs->lvols, link) {
		if (strcmp(name, tmp->name) == 0) {
			SPIO_ERRLOG("lvstore %s: lvol %s exists already", lvs->name, name);
			return -EEXIST;
		}
	}
	TAILQ_FOREACH (tmp, &lvs->pending_lvols, link) {
		if (strcmp(name, tmp->name) == 0) {
			SPIO_ERRLOG("lvstore %s: lvol %s is being created", lvs->name, name);
			return -EEXIST;
		}
	}
	return 0;
}

static void lvol_get_xattr_value(void *xattr_ctx, const char *name, const void **value,
				 size_t *value_len)
{
	struct spio_lvol *lvol = xattr_ctx;

	if (strcmp(name, LVOL_XATTR_NAME) == 0) {
		/* the whole buffer, NUL-padded, as SPDK stores it */
		*value = lvol->name;
		*value_len = SPIO_LVOL_NAME_MAX;
	} else if (strcmp(name, LVOL_XATTR_UUID) == 0) {
		*value = lvol->uuid_str;
		*value_len = sizeof(lvol->uuid_str);
	} else {
		*value = NULL;
		*value_len = 0;
	}
}

static void lvol_xattr_opts(struct spio_lvol *lvol, struct spio_blob_xattr_opts *x)
{
	x->count = SPIO_COUNTOF(g_lvol_xattr_names);
	/* the blobstore only reads the names */
	x->names = (char **)(uintptr_t)g_lvol_xattr_names;
	x->ctx = lvol;
	x->get_value = lvol_get_xattr_value;
}

/*
 * Create, snapshot, clone: a new blob, then opened
 */

struct lvol_with_handle_req {
	struct spio_lvol *lvol;
	spio_lvol_op_with_handle_complete cb_fn;
	void *cb_arg;
	/* A new blob that cannot be opened is deleted again, or the failed create
	 * would leave an lvol that appears at the next load. Not a snapshot: the
	 * original lvol is its clone now. */
	bool undo_unopened;
	spio_blob_id new_id;
	int open_rc;
};

static void lvol_create_fail(struct lvol_with_handle_req *req, int rc)
{
	struct spio_lvol *lvol = req->lvol;

	TAILQ_REMOVE(&lvol->lvs->pending_lvols, lvol, link);
	lvol_free(lvol);
	req->cb_fn(req->cb_arg, NULL, rc);
	free(req);
}

static void lvol_create_undone(void *cb_arg, int bserrno)
{
	struct lvol_with_handle_req *req = cb_arg;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvstore %s: cannot delete the blob of failed lvol %s: %s",
			    req->lvol->lvs->name, req->lvol->name, strerror(-bserrno));
	}
	lvol_create_fail(req, req->open_rc);
}

static void lvol_create_opened(void *cb_arg, struct spio_blob *blob, int bserrno)
{
	struct lvol_with_handle_req *req = cb_arg;
	struct spio_lvol *lvol = req->lvol;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvstore %s: cannot open new lvol %s: %s", lvol->lvs->name, lvol->name,
			    strerror(-bserrno));
		if (req->undo_unopened) {
			/* the name stays pending until the blob is gone */
			req->open_rc = bserrno;
			spio_bs_delete_blob(lvol->lvs->bs, req->new_id, lvol_create_undone, req);
			return;
		}
		lvol_create_fail(req, bserrno);
		return;
	}
	TAILQ_REMOVE(&lvol->lvs->pending_lvols, lvol, link);
	lvol->blob = blob;
	lvol->blob_id = spio_blob_get_id(blob);
	lvol->ref_count = 1;
	TAILQ_INSERT_TAIL(&lvol->lvs->lvols, lvol, link);
	req->cb_fn(req->cb_arg, lvol, 0);
	free(req);
}

static void lvol_create_done(void *cb_arg, spio_blob_id blobid, int bserrno)
{
	struct lvol_with_handle_req *req = cb_arg;
	struct spio_lvol *lvol = req->lvol;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvstore %s: cannot create lvol %s: %s", lvol->lvs->name, lvol->name,
			    strerror(-bserrno));
		lvol_create_fail(req, bserrno);
		return;
	}
	req->new_id = blobid;
	spio_bs_open_blob(lvol->lvs->bs, blobid, lvol_create_opened, req);
}

/* The request and the pending lvol of a create; -ENOMEM if either fails. */
static int lvol_create_begin(struct spio_lvol_store *lvs, const char *name,
			     enum spio_lvol_clear_method clear_method,
			     spio_lvol_op_with_handle_complete cb_fn, void *cb_arg,
			     struct lvol_with_handle_req **out)
{
	struct lvol_with_handle_req *req = calloc(1, sizeof(*req));

	if (req == NULL) {
		return -ENOMEM;
	}
	req->lvol = lvol_alloc(lvs, name, clear_method);
	if (req->lvol == NULL) {
		free(req);
		return -ENOMEM;
	}
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	*out = req;
	return 0;
}

int spio_lvol_create(struct spio_lvol_store *lvs, const char *name, uint64_t sz,
		     bool thin_provision, enum spio_lvol_clear_method clear_method,
		     spio_lvol_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct lvol_with_handle_req *req;
	struct spio_blob_opts opts;
	uint64_t cluster_sz;
	int rc;

	if (lvs == NULL || cb_fn == NULL) {
		SPIO_ERRLOG("lvol create: lvstore and callback required");
		return -EINVAL;
	}
	rc = lvs_verify_lvol_name(lvs, name);
	if (rc != 0) {
		return rc;
	}
	rc = lvol_create_begin(lvs, name, clear_method, cb_fn, cb_arg, &req);
	if (rc != 0) {
		return rc;
	}
	cluster_sz = spio_bs_get_cluster_size(lvs->bs);
	spio_blob_opts_init(&opts, sizeof(opts));
	opts.thin_provision = thin_provision;
	/* whole clusters; no overflow: sz / cluster_sz + 1 at most */
	opts.num_clusters = sz / cluster_sz + (sz % cluster_sz != 0);
	opts.clear_method = (enum spio_blob_clear_method)clear_method;
	lvol_xattr_opts(req->lvol, &opts.xattrs);
	req->undo_unopened = true;
	spio_bs_create_blob_ext(lvs->bs, &opts, lvol_create_done, req);
	return 0;
}

/* What snapshot and clone check first; 0 or the error already reported. */
static int lvol_derive_check(struct spio_lvol *origlvol, const char *name,
			     spio_lvol_op_with_handle_complete cb_fn, void *cb_arg)
{
	int rc;

	if (origlvol == NULL || origlvol->blob == NULL) {
		SPIO_ERRLOG("lvol %s: not open", origlvol != NULL ? origlvol->name : "(null)");
		cb_fn(cb_arg, NULL, -EINVAL);
		return -EINVAL;
	}
	rc = lvs_verify_lvol_name(origlvol->lvs, name);
	if (rc != 0) {
		cb_fn(cb_arg, NULL, rc);
	}
	return rc;
}

/* A snapshot of `origlvol`, or (`clone`) a clone of the snapshot `origlvol`, named `name`. */
static void lvol_derive(struct spio_lvol *origlvol, const char *name, bool clone,
			spio_lvol_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct spio_blob_xattr_opts xattrs;
	struct lvol_with_handle_req *req;
	spio_blob_id id;
	int rc;

	if (cb_fn == NULL || lvol_derive_check(origlvol, name, cb_fn, cb_arg) != 0) {
		return;
	}
	rc = lvol_create_begin(origlvol->lvs, name, origlvol->clear_method, cb_fn, cb_arg, &req);
	if (rc != 0) {
		cb_fn(cb_arg, NULL, rc);
		return;
	}
	lvol_xattr_opts(req->lvol, &xattrs);
	id = spio_blob_get_id(origlvol->blob);
	if (clone) {
		req->undo_unopened = true;
		spio_bs_create_clone(origlvol->lvs->bs, id, &xattrs, lvol_create_done, req);
	} else {
		spio_bs_create_snapshot(origlvol->lvs->bs, id, &xattrs, lvol_create_done, req);
	}
}

void spio_lvol_create_snapshot(struct spio_lvol *origlvol, const char *snapshot_name,
			       spio_lvol_op_with_handle_complete cb_fn, void *cb_arg)
{
	lvol_derive(origlvol, snapshot_name, false, cb_fn, cb_arg);
}

void spio_lvol_create_clone(struct spio_lvol *origlvol, const char *clone_name,
			    spio_lvol_op_with_handle_complete cb_fn, void *cb_arg)
{
	lvol_derive(origlvol, clone_name, true, cb_fn, cb_arg);
}

/*
 * Open, close
 */

static void lvol_open_done(void *cb_arg, struct spio_blob *blob, int bserrno)
{
	struct lvol_with_handle_req *req = cb_arg;
	struct spio_lvol *lvol = req->lvol;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvol %s: cannot open: %s", lvol->unique_id, strerror(-bserrno));
	} else {
		lvol->ref_count++;
		lvol->blob = blob;
	}
	req->cb_fn(req->cb_arg, lvol, bserrno);
	free(req);
}

void spio_lvol_open(struct spio_lvol *lvol, spio_lvol_op_with_handle_complete cb_fn, void *cb_arg)
{
	struct lvol_with_handle_req *req;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("lvol open: callback required");
		return;
	}
	if (lvol == NULL) {
		cb_fn(cb_arg, NULL, -ENODEV);
		return;
	}
	if (lvol->action_in_progress) {
		SPIO_ERRLOG("lvol %s: cannot open while it is being closed or destroyed",
			    lvol->unique_id);
		cb_fn(cb_arg, lvol, -EBUSY);
		return;
	}
	if (lvol->ref_count > 0) {
		lvol->ref_count++;
		cb_fn(cb_arg, lvol, 0);
		return;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL) {
		cb_fn(cb_arg, NULL, -ENOMEM);
		return;
	}
	req->lvol = lvol;
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	spio_bs_open_blob(lvol->lvs->bs, lvol->blob_id, lvol_open_done, req);
}

struct lvol_req {
	struct spio_lvol *lvol;
	spio_lvol_op_complete cb_fn;
	void *cb_arg;
	struct spio_io_channel *channel;
	char name[SPIO_LVOL_NAME_MAX];
};

/* A request for `lvol`; NULL after answering cb_fn(cb_arg, -ENOMEM). */
static struct lvol_req *lvol_req_alloc(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn,
				       void *cb_arg)
{
	struct lvol_req *req = calloc(1, sizeof(*req));

	if (req == NULL) {
		cb_fn(cb_arg, -ENOMEM);
		return NULL;
	}
	req->lvol = lvol;
	req->cb_fn = cb_fn;
	req->cb_arg = cb_arg;
	return req;
}

static void lvol_req_done(void *cb_arg, int bserrno)
{
	struct lvol_req *req = cb_arg;

	req->cb_fn(req->cb_arg, bserrno);
	free(req);
}

static void lvol_close_done(void *cb_arg, int bserrno)
{
	struct lvol_req *req = cb_arg;
	struct spio_lvol *lvol = req->lvol;

	/* the blobstore freed the handle even if the last sync failed */
	if (bserrno != 0) {
		SPIO_ERRLOG("lvol %s: close: %s", lvol->unique_id, strerror(-bserrno));
	}
	lvol->ref_count = 0;
	lvol->blob = NULL;
	lvol->action_in_progress = false;
	lvol_req_done(req, bserrno);
}

void spio_lvol_close(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg)
{
	struct lvol_req *req;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("lvol close: callback required");
		return;
	}
	if (lvol == NULL) {
		cb_fn(cb_arg, -ENODEV);
		return;
	}
	if (lvol->ref_count > 1) {
		lvol->ref_count--;
		cb_fn(cb_arg, 0);
		return;
	}
	if (lvol->ref_count == 0 || lvol->action_in_progress) {
		cb_fn(cb_arg, -EINVAL);
		return;
	}
	req = lvol_req_alloc(lvol, cb_fn, cb_arg);
	if (req == NULL) {
		return;
	}
	lvol->action_in_progress = true;
	spio_blob_close(lvol->blob, lvol_close_done, req);
}

/*
 * Destroy
 */

bool spio_lvol_deletable(struct spio_lvol *lvol)
{
	size_t count = 0;

	spio_blob_get_clones(lvol->lvs->bs, lvol->blob_id, NULL, &count);
	return count == 0;
}

static void lvol_destroy_done(void *cb_arg, int bserrno)
{
	struct lvol_req *req = cb_arg;
	struct spio_lvol *lvol = req->lvol;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvol %s: cannot delete its blob: %s", lvol->unique_id,
			    strerror(-bserrno));
	} else {
		SPIO_INFOLOG("lvol %s deleted", lvol->unique_id);
	}
	TAILQ_REMOVE(&lvol->lvs->lvols, lvol, link);
	lvol_free(lvol);
	lvol_req_done(req, bserrno);
}

void spio_lvol_destroy(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg)
{
	struct lvol_req *req;
	spio_blob_id clone_id;
	size_t count = 1;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("lvol destroy: callback required");
		return;
	}
	if (lvol == NULL) {
		cb_fn(cb_arg, -ENODEV);
		return;
	}
	if (lvol->ref_count != 0 || lvol->action_in_progress) {
		SPIO_ERRLOG("lvol %s: cannot destroy: it is open", lvol->unique_id);
		cb_fn(cb_arg, -EBUSY);
		return;
	}
	if (spio_blob_get_clones(lvol->lvs->bs, lvol->blob_id, &clone_id, &count) == -ENOMEM) {
		SPIO_ERRLOG("lvol %s: cannot destroy: it has %zu clones", lvol->unique_id, count);
		cb_fn(cb_arg, -EBUSY);
		return;
	}
	req = lvol_req_alloc(lvol, cb_fn, cb_arg);
	if (req == NULL) {
		return;
	}
	lvol->action_in_progress = true;
	spio_bs_delete_blob(lvol->lvs->bs, lvol->blob_id, lvol_destroy_done, req);
}

/*
 * Metadata changes of an open lvol: resize, read-only, rename
 */

/* -EINVAL for a NULL or closed lvol, reported through cb_fn. */
static bool lvol_check_open(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg)
{
	if (cb_fn == NULL) {
		SPIO_ERRLOG("lvol: callback required");
		return false;
	}
	if (lvol == NULL || lvol->blob == NULL) {
		SPIO_ERRLOG("lvol %s: not open", lvol != NULL ? lvol->unique_id : "(null)");
		cb_fn(cb_arg, -EINVAL);
		return false;
	}
	return true;
}

/* A request for the open `lvol`; NULL after answering (-EINVAL, -ENOMEM). */
static struct lvol_req *lvol_open_req(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn,
				      void *cb_arg)
{
	return lvol_check_open(lvol, cb_fn, cb_arg) ? lvol_req_alloc(lvol, cb_fn, cb_arg) : NULL;
}

static void lvol_resized(void *cb_arg, int bserrno)
{
	struct lvol_req *req = cb_arg;

	if (bserrno != 0) {
		lvol_req_done(req, bserrno);
		return;
	}
	spio_blob_sync_md(req->lvol->blob, lvol_req_done, req);
}

void spio_lvol_resize(struct spio_lvol *lvol, uint64_t sz, spio_lvol_op_complete cb_fn,
		      void *cb_arg)
{
	struct lvol_req *req;
	uint64_t cluster_sz;

	req = lvol_open_req(lvol, cb_fn, cb_arg);
	if (req == NULL) {
		return;
	}
	cluster_sz = spio_bs_get_cluster_size(lvol->lvs->bs);
	spio_blob_resize(lvol->blob, sz / cluster_sz + (sz % cluster_sz != 0), lvol_resized, req);
}

void spio_lvol_set_read_only(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg)
{
	struct lvol_req *req;
	int rc;

	req = lvol_open_req(lvol, cb_fn, cb_arg);
	if (req == NULL) {
		return;
	}
	rc = spio_blob_set_read_only(lvol->blob);
	if (rc != 0 && spio_blob_is_read_only(lvol->blob)) {
		/* a snapshot, or set before: nothing to write */
		lvol_req_done(req, 0);
		return;
	}
	if (rc != 0) {
		lvol_req_done(req, rc);
		return;
	}
	spio_blob_sync_md(lvol->blob, lvol_req_done, req);
}

static void lvol_renamed(void *cb_arg, int bserrno)
{
	struct lvol_req *req = cb_arg;

	if (bserrno != 0) {
		SPIO_ERRLOG("lvol %s: rename to %s failed: %s", req->lvol->unique_id, req->name,
			    strerror(-bserrno));
	} else {
		memset(req->lvol->name, 0, sizeof(req->lvol->name));
		snprintf(req->lvol->name, sizeof(req->lvol->name), "%s", req->name);
	}
	lvol_req_done(req, bserrno);
}

void spio_lvol_rename(struct spio_lvol *lvol, const char *new_name, spio_lvol_op_complete cb_fn,
		      void *cb_arg)
{
	struct spio_lvol *tmp;
	struct lvol_req *req;
	int rc;

	if (!lvol_check_open(lvol, cb_fn, cb_arg)) {
		return;
	}
	if (lvol_check_name(new_name, SPIO_LVOL_NAME_MAX) != 0) {
		SPIO_ERRLOG("lvol %s: a name must have 1 to %d characters", lvol->unique_id,
			    SPIO_LVOL_NAME_MAX - 1);
		cb_fn(cb_arg, -EINVAL);
		return;
	}
	if (strcmp(lvol->name, new_name) == 0) {
		cb_fn(cb_arg, 0);
		return;
	}
	TAILQ_FOREACH (tmp, &lvol->lvs->lvols, link) {
		if (strcmp(tmp->name, new_name) == 0) {
			SPIO_ERRLOG("lvstore %s: lvol %s exists already", lvol->lvs->name,
				    new_name);
			cb_fn(cb_arg, -EEXIST);
			return;
		}
	}
	req = lvol_req_alloc(lvol, cb_fn, cb_arg);
	if (req == NULL) {
		return;
	}
	snprintf(req->name, sizeof(req->name), "%s", new_name);
	/* SPDK writes a renamed lvol's name unpadded: the name and a NUL */
	rc = spio_blob_set_xattr(lvol->blob, LVOL_XATTR_NAME, new_name,
				 (uint16_t)(strlen(new_name) + 1));
	if (rc != 0) {
		free(req);
		cb_fn(cb_arg, rc);
		return;
	}
	spio_blob_sync_md(lvol->blob, lvol_renamed, req);
}

/*
 * Inflate, decouple: blob copies through a channel of this thread
 */

static void lvol_copy_done(void *cb_arg, int bserrno)
{
	struct lvol_req *req = cb_arg;

	spio_bs_free_io_channel(req->channel);
	if (bserrno != 0) {
		SPIO_ERRLOG("lvol %s: cannot inflate or decouple: %s", req->lvol->unique_id,
			    strerror(-bserrno));
	}
	lvol_req_done(req, bserrno);
}

static void lvol_copy_start(struct spio_lvol *lvol, bool inflate, spio_lvol_op_complete cb_fn,
			    void *cb_arg)
{
	struct spio_blob_store *bs;
	struct lvol_req *req;

	if (cb_fn == NULL) {
		SPIO_ERRLOG("lvol inflate/decouple: callback required");
		return;
	}
	if (lvol == NULL) {
		cb_fn(cb_arg, -ENODEV);
		return;
	}
	if (!lvol_check_open(lvol, cb_fn, cb_arg)) {
		return;
	}
	bs = lvol->lvs->bs;
	req = lvol_req_alloc(lvol, cb_fn, cb_arg);
	if (req == NULL) {
		return;
	}
	req->channel = spio_bs_alloc_io_channel(bs);
	if (req->channel == NULL) {
		lvol_req_done(req, -ENOMEM);
		return;
	}
	if (inflate) {
		spio_bs_inflate_blob(bs, req->channel, lvol->blob_id, lvol_copy_done, req);
	} else {
		spio_bs_blob_decouple_parent(bs, req->channel, lvol->blob_id, lvol_copy_done, req);
	}
}

void spio_lvol_inflate(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg)
{
	lvol_copy_start(lvol, true, cb_fn, cb_arg);
}

void spio_lvol_decouple_parent(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg)
{
	lvol_copy_start(lvol, false, cb_fn, cb_arg);
}

struct spio_io_channel *spio_lvol_get_io_channel(struct spio_lvol *lvol)
{
	return spio_bs_alloc_io_channel(lvol->lvs->bs);
}

/*
 * Accessors
 */

const char *spio_lvol_get_name(const struct spio_lvol *lvol)
{
	return lvol->name;
}

const char *spio_lvol_get_unique_id(const struct spio_lvol *lvol)
{
	return lvol->unique_id;
}

const struct spio_uuid *spio_lvol_get_uuid(const struct spio_lvol *lvol)
{
	return &lvol->uuid;
}

const char *spio_lvol_get_uuid_str(const struct spio_lvol *lvol)
{
	return lvol->uuid_str;
}

struct spio_lvol_store *spio_lvol_get_lvs(const struct spio_lvol *lvol)
{
	return lvol->lvs;
}

struct spio_blob *spio_lvol_get_blob(const struct spio_lvol *lvol)
{
	return lvol->blob;
}

spio_blob_id spio_lvol_get_blob_id(const struct spio_lvol *lvol)
{
	return lvol->blob_id;
}

bool spio_lvol_is_open(const struct spio_lvol *lvol)
{
	return lvol->ref_count > 0;
}

struct spio_lvol *spio_lvs_get_lvol_by_blob_id(struct spio_lvol_store *lvs, spio_blob_id blob_id)
{
	struct spio_lvol *lvol;

	TAILQ_FOREACH (lvol, &lvs->lvols, link) {
		if (lvol->blob_id == blob_id) {
			return lvol;
		}
	}
	return NULL;
}

void spio_lvol_set_ctx(struct spio_lvol *lvol, void *ctx)
{
	lvol->ctx = ctx;
}

void *spio_lvol_get_ctx(const struct spio_lvol *lvol)
{
	return lvol->ctx;
}
