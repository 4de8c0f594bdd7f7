/*
 * _await twins of the namespace half: start the callback version with a
 * completion on the task's stack and suspend until it is filled. Every
 * callback version here answers (later, or at once off a spio thread,
 * which a task never is), so a task never waits for a callback that will
 * not come; NULL out-parameters are refused first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blobfs_internal.h"
#include "spio/task.h"

static void fs_handle_done(void *cb_arg, struct spio_filesystem *fs, int rc)
{
	struct spio_completion *c = cb_arg;

	c->ptr = fs;
	spio_completion_done(c, rc);
}

static void file_handle_done(void *cb_arg, struct spio_file *file, int rc)
{
	struct spio_completion *c = cb_arg;

	c->ptr = file;
	spio_completion_done(c, rc);
}

static void op_done(void *cb_arg, int rc)
{
	spio_completion_done(cb_arg, rc);
}

struct stat_await {
	struct spio_completion c;
	struct spio_file_stat *out;
};

static void stat_done(void *cb_arg, const struct spio_file_stat *stat, int rc)
{
	struct stat_await *s = cb_arg;

	if (rc == 0) {
		*s->out = *stat;
	}
	spio_completion_done(&s->c, rc);
}

/* Once `ok` holds, start `call` (using &c), await it, then run `out` (storing results). */
#define FS_AWAIT_OUT(ok, call, out)                \
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

#define FS_AWAIT(call) FS_AWAIT_OUT(true, call, (void)0)

int spio_fs_init_await(struct spio_bs_dev *dev, const struct spio_blobfs_opts *opts,
		       struct spio_filesystem **fs)
{
	FS_AWAIT_OUT(fs != NULL, spio_fs_init(dev, opts, fs_handle_done, &c),
		     *fs = rc == 0 ? c.ptr : NULL);
}

int spio_fs_load_await(struct spio_bs_dev *dev, const struct spio_blobfs_opts *opts,
		       struct spio_filesystem **fs)
{
	FS_AWAIT_OUT(fs != NULL, spio_fs_load(dev, opts, fs_handle_done, &c),
		     *fs = rc == 0 ? c.ptr : NULL);
}

int spio_fs_unload_await(struct spio_filesystem *fs)
{
	FS_AWAIT(spio_fs_unload(fs, op_done, &c));
}

int spio_fs_open_file_await(struct spio_filesystem *fs, const char *name, uint32_t flags,
			    struct spio_file **file)
{
	FS_AWAIT_OUT(file != NULL, spio_fs_open_file_async(fs, name, flags, file_handle_done, &c),
		     *file = rc == 0 ? c.ptr : NULL);
}

int spio_fs_create_file_await(struct spio_filesystem *fs, const char *name)
{
	FS_AWAIT(spio_fs_create_file_async(fs, name, op_done, &c));
}

int spio_fs_delete_file_await(struct spio_filesystem *fs, const char *name)
{
	FS_AWAIT(spio_fs_delete_file_async(fs, name, op_done, &c));
}

int spio_fs_rename_file_await(struct spio_filesystem *fs, const char *old_name,
			      const char *new_name)
{
	FS_AWAIT(spio_fs_rename_file_async(fs, old_name, new_name, op_done, &c));
}

int spio_fs_file_stat_await(struct spio_filesystem *fs, const char *name,
			    struct spio_file_stat *stat)
{
	struct stat_await s;

	if (spio_task_current() == NULL) {
		return -EPERM;
	}
	if (stat == NULL) {
		return -EINVAL;
	}
	s.out = stat;
	spio_completion_init(&s.c);
	spio_fs_file_stat_async(fs, name, stat_done, &s);
	return spio_await(&s.c);
}

struct list_await {
	struct spio_completion c;
	struct spio_fs_dirent *ents;
	size_t count;
};

/* The entries live only during the callback: copy them out for the task. */
static void list_done(void *cb_arg, const struct spio_fs_dirent *ents, size_t count, int rc)
{
	struct list_await *l = cb_arg;

	if (rc == 0 && count > 0) {
		l->ents = malloc(count * sizeof(*ents));
		if (l->ents == NULL) {
			rc = -ENOMEM;
		} else {
			memcpy(l->ents, ents, count * sizeof(*ents));
			l->count = count;
		}
	}
	spio_completion_done(&l->c, rc);
}

int spio_fs_list_await(struct spio_filesystem *fs, struct spio_fs_dirent **ents, size_t *count)
{
	struct list_await l = {.ents = NULL, .count = 0};
	int rc;

	if (spio_task_current() == NULL) {
		return -EPERM;
	}
	if (ents == NULL || count == NULL) {
		return -EINVAL;
	}
	spio_completion_init(&l.c);
	spio_fs_list_async(fs, list_done, &l);
	rc = spio_await(&l.c);
	*ents = l.ents;
	*count = l.count;
	return rc;
}

int spio_file_close_await(struct spio_file *file)
{
	FS_AWAIT(spio_file_close_async(file, op_done, &c));
}
