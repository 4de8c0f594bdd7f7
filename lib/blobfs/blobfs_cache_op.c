/*
 * BlobFS operations: the contexts every data call runs in (pooled: no
 * malloc per I/O), their start from a message (a callback never runs inside
 * the caller's call), the cache's waiting list, and a file's queue of
 * writers (writes, truncates and syncs of a file run one at a time, in the
 * order issued).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blobfs/blobfs_internal.h"
#include "spio/log.h"

struct blobfs_op *blobfs_op_get(struct blobfs_file *file, enum blobfs_op_type type,
				blobfs_op_step_fn step)
{
	struct blobfs_cache *c = &file->fs->cache;
	struct blobfs_op *op = TAILQ_FIRST(&c->op_pool);

	if (op != NULL) {
		TAILQ_REMOVE(&c->op_pool, op, link);
	} else {
		op = malloc(sizeof(*op));
		if (op == NULL) {
			return NULL;
		}
	}
	memset(op, 0, sizeof(*op));
	op->type = type;
	op->file = file;
	op->step = step;
	return op;
}

static void op_run(void *arg)
{
	struct blobfs_op *op = arg;
	struct blobfs_cache *c = &op->file->fs->cache;

	blobfs_cache_enter(c);
	op->step(op);
	blobfs_cache_leave(c);
}

void blobfs_op_step_cb(void *arg, int rc)
{
	struct blobfs_op *op = arg;

	if (rc != 0 && op->rc == 0) {
		op->rc = rc;
	}
	op_run(op);
}

void blobfs_op_start(struct blobfs_op *op)
{
	int rc = spio_thread_send_msg_embedded(op->file->fs->thread, &op->msg, op_run, op);

	if (rc != 0) {
		SPIO_ERRLOG("blobfs %s: cannot start an operation: %d\n", op->file->name, rc);
	}
}

void blobfs_op_park(struct blobfs_op *op)
{
	struct blobfs_cache *c = &op->file->fs->cache;

	TAILQ_INSERT_TAIL(&c->waiting, op, link);
}

bool blobfs_op_take_file(struct blobfs_op *op)
{
	struct blobfs_file_data *fd = &op->file->data;

	if (fd->active == NULL) {
		fd->active = op;
	}
	if (fd->active == op) {
		return true;
	}
	TAILQ_INSERT_TAIL(&fd->queue, op, link);
	return false;
}

void blobfs_op_complete(struct blobfs_op *op)
{
	struct blobfs_file_data *fd = &op->file->data;
	struct blobfs_cache *c = &op->file->fs->cache;
	enum blobfs_op_type type = op->type;
	spio_file_read_complete read_cb = op->cb.read;
	spio_fs_op_complete op_cb = op->cb.op;
	void *cb_arg = op->cb_arg;
	int rc = op->rc;
	uint64_t done = op->done;

	blobfs_unpin_all(op);
	if (fd->active == op) {
		fd->active = TAILQ_FIRST(&fd->queue);
		if (fd->active != NULL) {
			TAILQ_REMOVE(&fd->queue, fd->active, link);
			blobfs_op_start(fd->active);
		}
	}
	TAILQ_INSERT_HEAD(&c->op_pool, op, link);
	/* Last: the callback may close the file. */
	if (type == BLOBFS_OP_READ) {
		read_cb(cb_arg, rc != 0 ? (int64_t)rc : (int64_t)done);
	} else {
		op_cb(cb_arg, rc);
	}
}

void blobfs_cache_enter(struct blobfs_cache *cache)
{
	cache->depth++;
}

/*
 * The outermost entry point steps the waiting operations after anything was
 * released or completed (never deeper: no recursion between operations).
 */
void blobfs_cache_leave(struct blobfs_cache *cache)
{
	while (cache->depth == 1 && cache->kick) {
		struct blobfs_op_list run;
		struct blobfs_op *op;

		cache->kick = false;
		TAILQ_INIT(&run);
		TAILQ_CONCAT(&run, &cache->waiting, link);
		while ((op = TAILQ_FIRST(&run)) != NULL) {
			TAILQ_REMOVE(&run, op, link);
			op->step(op);
		}
	}
	cache->depth--;
}

struct late_reply {
	spio_file_read_complete read_cb;
	spio_fs_op_complete op_cb;
	void *cb_arg;
	int rc;
};

static void late_reply_run(void *arg)
{
	struct late_reply *r = arg;

	if (r->read_cb != NULL) {
		r->read_cb(r->cb_arg, r->rc);
	} else {
		r->op_cb(r->cb_arg, r->rc);
	}
	free(r);
}

void blobfs_reply_late(spio_file_read_complete read_cb, spio_fs_op_complete op_cb, void *cb_arg,
		       int rc)
{
	struct spio_thread *thread = spio_get_thread();
	struct late_reply *r = malloc(sizeof(*r));

	if (r != NULL && thread != NULL) {
		*r = (struct late_reply){read_cb, op_cb, cb_arg, rc};
		if (spio_thread_send_msg(thread, late_reply_run, r) == 0) {
			return;
		}
	}
	free(r);
	/* No thread to defer to, or no memory: the one case answered inside the call. */
	if (read_cb != NULL) {
		read_cb(cb_arg, rc);
	} else {
		op_cb(cb_arg, rc);
	}
}

struct blobfs_op *blobfs_op_begin(struct spio_file *handle, enum blobfs_op_type type,
				  blobfs_op_step_fn step, spio_file_read_complete read_cb,
				  spio_fs_op_complete op_cb, void *cb_arg)
{
	struct blobfs_op *op;

	if (read_cb == NULL && op_cb == NULL) {
		SPIO_ERRLOG("blobfs: a file operation without a callback\n");
		return NULL;
	}
	if (handle == NULL || handle->file == NULL) {
		blobfs_reply_late(read_cb, op_cb, cb_arg, -EINVAL);
		return NULL;
	}
	if (!blobfs_on_fs_thread(handle->file->fs)) {
		blobfs_reply_late(read_cb, op_cb, cb_arg, -EXDEV);
		return NULL;
	}
	op = blobfs_op_get(handle->file, type, step);
	if (op == NULL) {
		blobfs_reply_late(read_cb, op_cb, cb_arg, -ENOMEM);
		return NULL;
	}
	if (read_cb != NULL) {
		op->cb.read = read_cb;
	} else {
		op->cb.op = op_cb;
	}
	op->cb_arg = cb_arg;
	return op;
}
