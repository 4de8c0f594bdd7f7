/*
 * _await twins of the file data calls: start the callback version with a
 * completion on the task's stack and suspend until it is filled. The checks
 * that would answer on another thread (NULL handle, wrong thread) are made
 * first, so a task never waits for a callback that cannot reach it.
 */
#include <errno.h>

#include "blobfs/blobfs_internal.h"
#include "spio/task.h"

static int await_check(struct spio_file *file)
{
	if (spio_task_current() == NULL) {
		return -EPERM;
	}
	if (file == NULL || file->file == NULL) {
		return -EINVAL;
	}
	return blobfs_on_fs_thread(file->file->fs) ? 0 : -EXDEV;
}

static void read_done(void *cb_arg, int64_t result)
{
	struct spio_completion *c = cb_arg;

	c->value = (uint64_t)result;
	spio_completion_done(c, result < 0 ? (int)result : 0);
}

int64_t spio_file_read_await(struct spio_file *file, void *payload, uint64_t offset,
			     uint64_t length)
{
	struct spio_completion c;
	int rc = await_check(file);

	if (rc != 0) {
		return rc;
	}
	spio_completion_init(&c);
	spio_file_read_async(file, payload, offset, length, read_done, &c);
	rc = spio_await(&c);
	return rc < 0 ? rc : (int64_t)c.value;
}

int spio_file_write_await(struct spio_file *file, const void *payload, uint64_t offset,
			  uint64_t length)
{
	struct spio_completion c;
	int rc = await_check(file);

	if (rc != 0) {
		return rc;
	}
	spio_completion_init(&c);
	spio_file_write_async(file, payload, offset, length, spio_completion_cb, &c);
	return spio_await(&c);
}

int spio_file_truncate_await(struct spio_file *file, uint64_t length)
{
	struct spio_completion c;
	int rc = await_check(file);

	if (rc != 0) {
		return rc;
	}
	spio_completion_init(&c);
	spio_file_truncate_async(file, length, spio_completion_cb, &c);
	return spio_await(&c);
}

int spio_file_sync_await(struct spio_file *file)
{
	struct spio_completion c;
	int rc = await_check(file);

	if (rc != 0) {
		return rc;
	}
	spio_completion_init(&c);
	spio_file_sync_async(file, spio_completion_cb, &c);
	return spio_await(&c);
}
