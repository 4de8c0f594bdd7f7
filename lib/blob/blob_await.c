/*
 * _await twins of the blobstore's operations: start the callback version
 * with a completion on the task's stack and suspend until it is filled.
 * The checks that make a callback version do nothing (NULL handles, wrong
 * thread) are made first, so a task never waits for a callback that will
 * not come.
 */
#include <errno.h>

#include "blob_internal.h"
#include "spio/task.h"

static void bs_handle_done(void *cb_arg, struct spio_blob_store *bs, int rc)
{
	struct spio_completion *c = cb_arg;

	c->ptr = bs;
	spio_completion_done(c, rc);
}

static void blob_handle_done(void *cb_arg, struct spio_blob *blob, int rc)
{
	struct spio_completion *c = cb_arg;

	c->ptr = blob;
	spio_completion_done(c, rc);
}

static void id_done(void *cb_arg, spio_blob_id id, int rc)
{
	struct spio_completion *c = cb_arg;

	c->value = id;
	spio_completion_done(c, rc);
}

/* Once `ok` holds, start `call` (using &c), await it, then run `out` (storing results). */
#define BLOB_AWAIT_OUT(ok, call, out)              \
	do {                                       \
		struct spio_completion c;          \
		int rc;                            \
		if (spio_task_current() == NULL) { \
			return -EPERM;             \
		}                                  \
		if (!(ok)) {                       \
			return -EINVAL;            \
		}                                  \
		spio_completion_init(&c);          \
		call;                              \
		rc = spio_await(&c);               \
		out;                               \
		return rc;                         \
	} while (0)

#define BLOB_AWAIT(ok, call) BLOB_AWAIT_OUT(ok, call, (void)0)

static bool md_ok(struct spio_blob_store *bs)
{
	return bs != NULL && spio_get_thread() == bs->md_thread;
}

static bool blob_md_ok(struct spio_blob *blob)
{
	return blob != NULL && md_ok(blob->bs);
}

int spio_bs_init_await(struct spio_bs_dev *dev, struct spio_bs_opts *opts,
		       struct spio_blob_store **bs)
{
	BLOB_AWAIT_OUT(dev != NULL && bs != NULL, spio_bs_init(dev, opts, bs_handle_done, &c),
		       *bs = rc == 0 ? c.ptr : NULL);
}

int spio_bs_load_await(struct spio_bs_dev *dev, struct spio_bs_opts *opts,
		       struct spio_blob_store **bs)
{
	BLOB_AWAIT_OUT(dev != NULL && bs != NULL, spio_bs_load(dev, opts, bs_handle_done, &c),
		       *bs = rc == 0 ? c.ptr : NULL);
}

int spio_bs_unload_await(struct spio_blob_store *bs)
{
	BLOB_AWAIT(md_ok(bs), spio_bs_unload(bs, spio_completion_cb, &c));
}

int spio_bs_set_super_await(struct spio_blob_store *bs, spio_blob_id blobid)
{
	BLOB_AWAIT(md_ok(bs), spio_bs_set_super(bs, blobid, spio_completion_cb, &c));
}

int spio_bs_delete_blob_await(struct spio_blob_store *bs, spio_blob_id blobid)
{
	BLOB_AWAIT(md_ok(bs), spio_bs_delete_blob(bs, blobid, spio_completion_cb, &c));
}

int spio_bs_inflate_blob_await(struct spio_blob_store *bs, struct spio_io_channel *channel,
			       spio_blob_id blobid)
{
	BLOB_AWAIT(md_ok(bs), spio_bs_inflate_blob(bs, channel, blobid, spio_completion_cb, &c));
}

int spio_bs_blob_decouple_parent_await(struct spio_blob_store *bs, struct spio_io_channel *channel,
				       spio_blob_id blobid)
{
	BLOB_AWAIT(md_ok(bs),
		   spio_bs_blob_decouple_parent(bs, channel, blobid, spio_completion_cb, &c));
}

int spio_blob_resize_await(struct spio_blob *blob, uint64_t sz)
{
	BLOB_AWAIT(blob_md_ok(blob), spio_blob_resize(blob, sz, spio_completion_cb, &c));
}

int spio_blob_sync_md_await(struct spio_blob *blob)
{
	BLOB_AWAIT(blob_md_ok(blob), spio_blob_sync_md(blob, spio_completion_cb, &c));
}

int spio_blob_close_await(struct spio_blob *blob)
{
	BLOB_AWAIT(blob_md_ok(blob) && blob->open_ref > 0,
		   spio_blob_close(blob, spio_completion_cb, &c));
}

static bool io_ok(struct spio_blob *blob, struct spio_io_channel *channel)
{
	return blob != NULL && channel != NULL;
}

int spio_blob_io_read_await(struct spio_blob *blob, struct spio_io_channel *channel, void *payload,
			    uint64_t offset, uint64_t length)
{
	BLOB_AWAIT(io_ok(blob, channel), spio_blob_io_read(blob, channel, payload, offset, length,
							   spio_completion_cb, &c));
}

int spio_blob_io_write_await(struct spio_blob *blob, struct spio_io_channel *channel, void *payload,
			     uint64_t offset, uint64_t length)
{
	BLOB_AWAIT(io_ok(blob, channel), spio_blob_io_write(blob, channel, payload, offset, length,
							    spio_completion_cb, &c));
}

int spio_blob_io_readv_await(struct spio_blob *blob, struct spio_io_channel *channel,
			     struct iovec *iov, int iovcnt, uint64_t offset, uint64_t length)
{
	BLOB_AWAIT(io_ok(blob, channel), spio_blob_io_readv(blob, channel, iov, iovcnt, offset,
							    length, spio_completion_cb, &c));
}

int spio_blob_io_writev_await(struct spio_blob *blob, struct spio_io_channel *channel,
			      struct iovec *iov, int iovcnt, uint64_t offset, uint64_t length)
{
	BLOB_AWAIT(io_ok(blob, channel), spio_blob_io_writev(blob, channel, iov, iovcnt, offset,
							     length, spio_completion_cb, &c));
}

int spio_blob_io_unmap_await(struct spio_blob *blob, struct spio_io_channel *channel,
			     uint64_t offset, uint64_t length)
{
	BLOB_AWAIT(io_ok(blob, channel),
		   spio_blob_io_unmap(blob, channel, offset, length, spio_completion_cb, &c));
}

int spio_blob_io_write_zeroes_await(struct spio_blob *blob, struct spio_io_channel *channel,
				    uint64_t offset, uint64_t length)
{
	BLOB_AWAIT(io_ok(blob, channel), spio_blob_io_write_zeroes(blob, channel, offset, length,
								   spio_completion_cb, &c));
}

int spio_bs_get_super_await(struct spio_blob_store *bs, spio_blob_id *blobid)
{
	BLOB_AWAIT_OUT(md_ok(bs) && blobid != NULL, spio_bs_get_super(bs, id_done, &c),
		       *blobid = rc == 0 ? c.value : SPIO_BLOBID_INVALID);
}

int spio_bs_create_blob_await(struct spio_blob_store *bs, const struct spio_blob_opts *opts,
			      spio_blob_id *blobid)
{
	BLOB_AWAIT_OUT(md_ok(bs) && blobid != NULL, spio_bs_create_blob_ext(bs, opts, id_done, &c),
		       *blobid = rc == 0 ? c.value : SPIO_BLOBID_INVALID);
}

int spio_bs_create_snapshot_await(struct spio_blob_store *bs, spio_blob_id blobid,
				  const struct spio_blob_xattr_opts *snapshot_xattrs,
				  spio_blob_id *snapshot_id)
{
	BLOB_AWAIT_OUT(md_ok(bs) && snapshot_id != NULL,
		       spio_bs_create_snapshot(bs, blobid, snapshot_xattrs, id_done, &c),
		       *snapshot_id = rc == 0 ? c.value : SPIO_BLOBID_INVALID);
}

int spio_bs_create_clone_await(struct spio_blob_store *bs, spio_blob_id blobid,
			       const struct spio_blob_xattr_opts *clone_xattrs,
			       spio_blob_id *clone_id)
{
	BLOB_AWAIT_OUT(md_ok(bs) && clone_id != NULL,
		       spio_bs_create_clone(bs, blobid, clone_xattrs, id_done, &c),
		       *clone_id = rc == 0 ? c.value : SPIO_BLOBID_INVALID);
}

int spio_bs_open_blob_await(struct spio_blob_store *bs, spio_blob_id blobid,
			    struct spio_blob **blob)
{
	BLOB_AWAIT_OUT(md_ok(bs) && blob != NULL,
		       spio_bs_open_blob(bs, blobid, blob_handle_done, &c),
		       *blob = rc == 0 ? c.ptr : NULL);
}
