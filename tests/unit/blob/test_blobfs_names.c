/*
 * BlobFS namespace: init / load / unload, open / create / close, delete
 * (also while open), rename (also over an existing or open file), stat,
 * list, the on-disk format's xattrs, and crash consistency of delete-while-
 * open and rename-over (helper_cut_dev: the device as any prefix of a
 * rename's writes left it must load with exactly one file of the name).
 * Devices are 16 MiB memory devices with 64 KiB clusters.
 */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_blob_task.h"
#include "helper_blob_thread.h"
#include "helper_cut_dev.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/blobfs.h"
#include "spio/env.h"
#include "spio/task.h"
#include "spio/thread.h"

#define BLK 4096u
#define DEV_BLOCKS 4096u /* 16 MiB */
#define CLUSTER (64u * 1024)

static struct spio_thread *g_thread;

static void setup(void)
{
	blob_test_env_init("test_blobfs_names");
	g_thread = blob_test_thread_start("blobfs_names");
}

static void teardown(void)
{
	blob_test_thread_end(g_thread);
	spio_env_fini();
}

TestSuite(blobfs_names, .init = setup, .fini = teardown);

/*
 * Bodies run in a task on a cut_ctl device; a Test runs a group of them on
 * one device, one after the other (each makes its own filesystem): every
 * Criterion test is a process, and a start costs more than most bodies.
 */
#define BODY(name) static void name(struct cut_ctl *c)

typedef void (*body_fn)(struct cut_ctl *c);

struct group {
	body_fn fns[8];
	struct cut_ctl *c;
};

static void run_group(void *arg)
{
	struct group *g = arg;

	for (size_t i = 0; i < sizeof(g->fns) / sizeof(g->fns[0]) && g->fns[i] != NULL; i++) {
		g->fns[i](g->c);
	}
}

#define TASK_GROUP(name, blocks, ...)                             \
	Test(blobfs_names, name)                                  \
	{                                                         \
		struct cut_ctl c;                                 \
		struct group g = {.fns = {__VA_ARGS__}, .c = &c}; \
		cut_ctl_init(&c, (blocks), BLK);                  \
		blob_task_run(g_thread, run_group, &g);           \
		cut_ctl_fini(&c);                                 \
	}

static void fs_opts(struct spio_blobfs_opts *o)
{
	spio_fs_opts_init(o, sizeof(*o));
	o->cluster_sz = CLUSTER;
	o->cache_buffer_size = 64u * 1024;
	o->cache_size = 1024u * 1024;
}

static struct spio_filesystem *mkfs_cluster(struct cut_ctl *c, uint32_t cluster)
{
	struct spio_blobfs_opts o;
	struct spio_filesystem *fs = NULL;

	fs_opts(&o);
	o.cluster_sz = cluster;
	CHECK_EQ(spio_fs_init_await(cut_dev_create(c), &o, &fs), 0);
	CHECK_NOT_NULL(fs);
	return fs;
}

static struct spio_filesystem *mkfs(struct cut_ctl *c)
{
	return mkfs_cluster(c, CLUSTER);
}

static int load(struct cut_ctl *c, struct spio_filesystem **fs)
{
	struct spio_blobfs_opts o;

	fs_opts(&o);
	return spio_fs_load_await(cut_dev_create(c), &o, fs);
}

static struct spio_filesystem *reload(struct cut_ctl *c, struct spio_filesystem *fs)
{
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	fs = NULL;
	CHECK_EQ(load(c, &fs), 0);
	CHECK_NOT_NULL(fs);
	return fs;
}

static spio_blob_id id_of(struct spio_filesystem *fs, const char *name)
{
	struct spio_file_stat st;

	CHECK_EQ(spio_fs_file_stat_await(fs, name, &st), 0, "stat %s", name);
	return st.blobid;
}

static void create(struct spio_filesystem *fs, const char *name)
{
	CHECK_EQ(spio_fs_create_file_await(fs, name), 0, "create %s", name);
}

static void iter_done(void *arg, struct spio_blob *blob, int rc)
{
	struct spio_completion *c = arg;

	c->ptr = blob;
	spio_completion_done(c, rc);
}

/* The blobstore's blob count, through its own iteration. */
static int count_blobs(struct spio_blob_store *bs)
{
	struct spio_completion c;
	int n = 0, rc;

	spio_completion_init(&c);
	spio_bs_iter_first(bs, iter_done, &c);
	rc = spio_await(&c);
	while (rc == 0) {
		struct spio_blob *blob = c.ptr;

		n++;
		spio_completion_init(&c);
		spio_bs_iter_next(bs, blob, iter_done, &c);
		rc = spio_await(&c);
	}
	CHECK_EQ(rc, -ENOENT);
	return n;
}

/* List into a fresh array (caller frees); *n entries. */
struct list_out {
	struct spio_completion c;
	struct spio_fs_dirent *ents;
	size_t n;
};

static void list_cb(void *arg, const struct spio_fs_dirent *ents, size_t count, int rc)
{
	struct list_out *o = arg;

	o->n = count;
	o->ents = NULL;
	if (rc == 0 && count > 0) {
		o->ents = malloc(count * sizeof(*ents));
		memcpy(o->ents, ents, count * sizeof(*ents));
	}
	spio_completion_done(&o->c, rc);
}

static int list(struct spio_filesystem *fs, struct list_out *o)
{
	spio_completion_init(&o->c);
	spio_fs_list_async(fs, list_cb, o);
	return spio_await(&o->c);
}

static const struct spio_fs_dirent *find_ent(const struct list_out *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++) {
		if (strcmp(o->ents[i].name, name) == 0) {
			return &o->ents[i];
		}
	}
	return NULL;
}

/* Load the raw blobstore of a BlobFS (to plant blobs and xattrs). */
static struct spio_blob_store *bs_load(struct cut_ctl *c)
{
	struct spio_blob_store *bs = NULL;
	struct spio_bs_opts bo;

	spio_bs_opts_init(&bo, sizeof(bo));
	CHECK_EQ(spio_bs_load_await(cut_dev_create(c), &bo, &bs), 0);
	return bs;
}

/* A blob with the given xattrs (NULL value: left out). */
static spio_blob_id plant_blob(struct spio_blob_store *bs, const void *name, size_t name_len,
			       const void *length, size_t length_len)
{
	struct spio_blob *blob = NULL;
	spio_blob_id id = SPIO_BLOBID_INVALID;

	CHECK_EQ(spio_bs_create_blob_await(bs, NULL, &id), 0);
	CHECK_EQ(spio_bs_open_blob_await(bs, id, &blob), 0);
	if (name != NULL) {
		CHECK_EQ(spio_blob_set_xattr(blob, "name", name, (uint16_t)name_len), 0);
	}
	if (length != NULL) {
		CHECK_EQ(spio_blob_set_xattr(blob, "length", length, (uint16_t)length_len), 0);
	}
	CHECK_EQ(spio_blob_sync_md_await(blob), 0);
	CHECK_EQ(spio_blob_close_await(blob), 0);
	return id;
}

/*
 * Lifecycle and format
 */

BODY(roundtrip)
{
	struct spio_filesystem *fs = mkfs(c);
	struct spio_blob_store *bs;
	struct spio_blob *blob = NULL;
	const void *v;
	size_t len;
	spio_blob_id ids[20];
	char name[32];
	uint64_t le;
	struct spio_bs_type t;

	t = spio_bs_get_bstype(spio_fs_get_bs(fs));
	CHECK(memcmp(t.bstype, "BLOBFS\0\0\0\0\0\0\0\0\0\0", 16) == 0);
	CHECK(spio_fs_get_thread(fs) == spio_get_thread());
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "file-%d", i);
		create(fs, name);
		ids[i] = id_of(fs, name);
	}
	struct spio_fs_stat st;
	spio_fs_get_stat(fs, &st);
	CHECK_EQ(st.files, 20);
	CHECK_EQ(st.cluster_size, CLUSTER);
	CHECK_EQ(spio_fs_unload_await(fs), 0);

	/* SPDK's xattrs: "name" with its NUL, "length" 8 bytes LE. Give file-3 a length. */
	bs = bs_load(c);
	CHECK_EQ(spio_bs_open_blob_await(bs, ids[3], &blob), 0);
	CHECK_EQ(spio_blob_get_xattr_value(blob, "name", &v, &len), 0);
	CHECK_EQ(len, strlen("file-3") + 1);
	CHECK(memcmp(v, "file-3", len) == 0);
	CHECK_EQ(spio_blob_get_xattr_value(blob, "length", &v, &len), 0);
	CHECK_EQ(len, 8);
	CHECK_EQ(spio_blob_get_num_clusters(blob), 0);
	CHECK_NOT(spio_blob_is_thin_provisioned(blob));
	le = htole64(12345);
	CHECK_EQ(spio_blob_set_xattr(blob, "length", &le, sizeof(le)), 0);
	CHECK_EQ(spio_blob_close_await(blob), 0);
	CHECK_EQ(spio_bs_unload_await(bs), 0);

	fs = NULL;
	CHECK_EQ(load(c, &fs), 0);
	for (int i = 0; i < 20; i++) {
		struct spio_file_stat fst;

		snprintf(name, sizeof(name), "file-%d", i);
		CHECK_EQ(spio_fs_file_stat_await(fs, name, &fst), 0);
		CHECK_EQ(fst.blobid, ids[i]);
		CHECK_EQ(fst.size, i == 3 ? 12345 : 0);
	}
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

BODY(names_and_flags)
{
	struct spio_filesystem *fs = mkfs(c);
	struct spio_file *f = NULL;
	char n255[256], n256[257];

	memset(n255, 'a', 255);
	n255[255] = '\0';
	memset(n256, 'b', 256);
	n256[256] = '\0';
	create(fs, n255);
	CHECK_EQ(spio_fs_open_file_await(fs, n255, 0, &f), 0);
	CHECK_EQ(strcmp(spio_file_get_name(f), n255), 0);
	CHECK_EQ(spio_file_get_length(f), 0);
	CHECK_EQ(spio_file_get_id(f), id_of(fs, n255));
	CHECK_EQ(spio_file_close_await(f), 0);

	CHECK_EQ(spio_fs_create_file_await(fs, n256), -ENAMETOOLONG);
	CHECK_EQ(spio_fs_open_file_await(fs, n256, SPIO_BLOBFS_OPEN_CREATE, &f), -ENAMETOOLONG);
	CHECK_NULL(f);
	CHECK_EQ(spio_fs_create_file_await(fs, ""), -EINVAL);
	CHECK_EQ(spio_fs_create_file_await(fs, NULL), -EINVAL);
	CHECK_EQ(spio_fs_delete_file_await(fs, n256), -ENAMETOOLONG);
	CHECK_EQ(spio_fs_delete_file_await(fs, ""), -EINVAL);
	CHECK_EQ(spio_fs_rename_file_await(fs, n255, n256), -ENAMETOOLONG);
	CHECK_EQ(spio_fs_rename_file_await(fs, n256, n255), -ENAMETOOLONG);
	CHECK_EQ(spio_fs_rename_file_await(fs, "", "x"), -EINVAL);
	CHECK_EQ(spio_fs_rename_file_await(fs, "nope", n256), -ENAMETOOLONG);
	struct spio_file_stat st;
	CHECK_EQ(spio_fs_file_stat_await(fs, n256, &st), -ENAMETOOLONG);
	CHECK_EQ(spio_fs_file_stat_await(fs, "", &st), -EINVAL);

	CHECK_EQ(spio_fs_open_file_await(fs, n255, 1u << 3, &f), -EINVAL);
	CHECK_EQ(spio_fs_open_file_await(fs, n255, 0x80000000u | SPIO_BLOBFS_OPEN_CREATE, &f),
		 -EINVAL);
	CHECK_EQ(spio_fs_open_file_await(fs, "missing", 0, &f), -ENOENT);
	CHECK_EQ(spio_fs_open_file_await(fs, "missing", SPIO_BLOBFS_OPEN_RDONLY, &f), -ENOENT);
	CHECK_EQ(
	    spio_fs_open_file_await(fs, n255, SPIO_BLOBFS_OPEN_CREATE | SPIO_BLOBFS_OPEN_EXCL, &f),
	    -EEXIST);
	CHECK_EQ(spio_fs_create_file_await(fs, n255), -EEXIST);
	/* Any byte but NUL. */
	create(fs, "\x01\xff/ .. \t");
	CHECK_NEQ(id_of(fs, "\x01\xff/ .. \t"), SPIO_BLOBID_INVALID);
	CHECK_EQ(spio_fs_file_stat_await(fs, "missing", &st), -ENOENT);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

BODY(open_create_writers)
{
	struct spio_filesystem *fs = mkfs(c);
	struct spio_file *w = NULL, *w2 = NULL, *r[5];

	/* CREATE makes and opens the file; a second CREATE opens the same one. */
	CHECK_EQ(spio_fs_open_file_await(fs, "f", SPIO_BLOBFS_OPEN_CREATE, &w), 0);
	CHECK_NOT_NULL(w);
	CHECK_EQ(spio_fs_open_file_await(fs, "f", SPIO_BLOBFS_OPEN_CREATE, &w2), -EBUSY);
	CHECK_NULL(w2);
	CHECK_EQ(spio_fs_open_file_await(fs, "f", 0, &w2), -EBUSY);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(spio_fs_open_file_await(fs, "f", SPIO_BLOBFS_OPEN_RDONLY, &r[i]), 0);
		CHECK_EQ(spio_file_get_id(r[i]), spio_file_get_id(w));
	}
	CHECK_EQ(spio_fs_unload_await(fs), -EBUSY);
	CHECK_EQ(spio_file_close_await(w), 0);
	/* The writer is gone: another may open, while the readers stay. */
	CHECK_EQ(spio_fs_open_file_await(fs, "f", 0, &w2), 0);
	CHECK_EQ(spio_fs_unload_await(fs), -EBUSY);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(spio_file_close_await(r[i]), 0);
	}
	CHECK_EQ(spio_fs_unload_await(fs), -EBUSY);
	CHECK_EQ(spio_file_close_await(w2), 0);
	/* Everything still works after the unload refusals. */
	create(fs, "g");
	fs = reload(c, fs);
	CHECK_EQ(spio_fs_open_file_await(fs, "f", SPIO_BLOBFS_OPEN_RDONLY, &r[0]), 0);
	CHECK_EQ(spio_file_close_await(r[0]), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

BODY(delete_plain_and_open)
{
	struct spio_filesystem *fs = mkfs(c);
	struct spio_file *h = NULL, *h2 = NULL, *h3 = NULL;
	struct spio_file_stat st;
	spio_blob_id old, fresh;
	struct list_out lo;

	create(fs, "a");
	CHECK_EQ(spio_fs_delete_file_await(fs, "a"), 0);
	CHECK_EQ(spio_fs_file_stat_await(fs, "a", &st), -ENOENT);
	CHECK_EQ(spio_fs_delete_file_await(fs, "a"), -ENOENT);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 0);

	/* Deleted while open: the name goes, the handle lives until its close. */
	CHECK_EQ(spio_fs_open_file_await(fs, "b", SPIO_BLOBFS_OPEN_CREATE, &h), 0);
	CHECK_EQ(spio_fs_open_file_await(fs, "b", SPIO_BLOBFS_OPEN_RDONLY, &h2), 0);
	old = spio_file_get_id(h);
	CHECK_EQ(spio_fs_delete_file_await(fs, "b"), 0);
	CHECK_EQ(spio_fs_file_stat_await(fs, "b", &st), -ENOENT);
	CHECK_EQ(spio_fs_open_file_await(fs, "b", SPIO_BLOBFS_OPEN_RDONLY, &h3), -ENOENT);
	CHECK_NULL(h3);
	CHECK_EQ(list(fs, &lo), 0);
	CHECK_EQ(lo.n, 0);
	free(lo.ents);
	create(fs, "b");
	fresh = id_of(fs, "b");
	CHECK_NEQ(fresh, old);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 2);
	CHECK_EQ(spio_fs_unload_await(fs), -EBUSY);
	CHECK_EQ(spio_file_get_id(h), old);
	CHECK_EQ(spio_file_close_await(h), 0);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 2); /* the reader still holds it */
	CHECK_EQ(spio_file_close_await(h2), 0);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 1);
	fs = reload(c, fs);
	CHECK_EQ(id_of(fs, "b"), fresh);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 1);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

/* A crash while a deleted file is still open: the next load deletes its blob. */
BODY(delete_open_crash)
{
	struct spio_filesystem *fs = mkfs(c);
	struct spio_file *h = NULL;
	struct spio_blob_store *bs;
	spio_blob_id keep;

	create(fs, "keep");
	keep = id_of(fs, "keep");
	CHECK_EQ(spio_fs_open_file_await(fs, "gone", SPIO_BLOBFS_OPEN_CREATE, &h), 0);
	CHECK_EQ(spio_fs_delete_file_await(fs, "gone"), 0);
	/* Power cut: nothing written from here on reaches the device. */
	c->limit = c->writes;
	CHECK_EQ(spio_file_close_await(h), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	CHECK(c->dropped > 0);
	c->limit = UINT64_MAX;

	/* The blob is on the device, marked. */
	bs = bs_load(c);
	CHECK_EQ(count_blobs(bs), 2);
	CHECK_EQ(spio_bs_unload_await(bs), 0);

	fs = NULL;
	CHECK_EQ(load(c, &fs), 0);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 1);
	CHECK_EQ(id_of(fs, "keep"), keep);
	struct spio_file_stat st;
	CHECK_EQ(spio_fs_file_stat_await(fs, "gone", &st), -ENOENT);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

BODY(rename_cases)
{
	struct spio_filesystem *fs = mkfs(c);
	struct spio_file *h = NULL, *t = NULL;
	struct spio_file_stat st;
	spio_blob_id a, b, d;

	create(fs, "a");
	a = id_of(fs, "a");
	/* Plain. */
	CHECK_EQ(spio_fs_rename_file_await(fs, "a", "a2"), 0);
	CHECK_EQ(spio_fs_file_stat_await(fs, "a", &st), -ENOENT);
	CHECK_EQ(id_of(fs, "a2"), a);
	/* To itself; missing source. */
	CHECK_EQ(spio_fs_rename_file_await(fs, "a2", "a2"), 0);
	CHECK_EQ(id_of(fs, "a2"), a);
	CHECK_EQ(spio_fs_rename_file_await(fs, "nope", "x"), -ENOENT);
	CHECK_EQ(spio_fs_rename_file_await(fs, "nope", "nope"), -ENOENT);
	CHECK_EQ(spio_fs_file_stat_await(fs, "x", &st), -ENOENT);

	/* Over an existing (closed) file. */
	create(fs, "b");
	b = id_of(fs, "b");
	CHECK_EQ(spio_fs_rename_file_await(fs, "a2", "b"), 0);
	CHECK_EQ(id_of(fs, "b"), a);
	CHECK_EQ(spio_fs_file_stat_await(fs, "a2", &st), -ENOENT);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 1);
	(void)b;

	/* An open file renamed: its handle follows. */
	CHECK_EQ(spio_fs_open_file_await(fs, "b", 0, &h), 0);
	CHECK_EQ(spio_fs_rename_file_await(fs, "b", "c"), 0);
	CHECK_EQ(strcmp(spio_file_get_name(h), "c"), 0);
	CHECK_EQ(id_of(fs, "c"), a);

	/* Over an open file: the target lives on for its handle, its blob goes at its close. */
	CHECK_EQ(spio_fs_open_file_await(fs, "d", SPIO_BLOBFS_OPEN_CREATE, &t), 0);
	d = spio_file_get_id(t);
	CHECK_EQ(spio_fs_rename_file_await(fs, "c", "d"), 0);
	CHECK_EQ(id_of(fs, "d"), a);
	CHECK_EQ(spio_fs_file_stat_await(fs, "c", &st), -ENOENT);
	CHECK_EQ(spio_file_get_id(t), d);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 2);
	CHECK_EQ(spio_file_close_await(t), 0);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 1);
	CHECK_EQ(spio_file_close_await(h), 0);

	fs = reload(c, fs);
	CHECK_EQ(id_of(fs, "d"), a);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 1);
	/* Rename back over nothing, then create the old name: both stay. */
	CHECK_EQ(spio_fs_rename_file_await(fs, "d", "b"), 0);
	create(fs, "d");
	fs = reload(c, fs);
	CHECK_EQ(id_of(fs, "b"), a);
	CHECK_NEQ(id_of(fs, "d"), a);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

/* An open target with a power cut before its close: the load deletes it. */
BODY(rename_over_open_crash)
{
	struct spio_filesystem *fs = mkfs(c);
	struct spio_file *t = NULL;
	spio_blob_id s;

	create(fs, "s");
	s = id_of(fs, "s");
	CHECK_EQ(spio_fs_open_file_await(fs, "t", SPIO_BLOBFS_OPEN_CREATE, &t), 0);
	CHECK_EQ(spio_fs_rename_file_await(fs, "s", "t"), 0);
	c->limit = c->writes;
	CHECK_EQ(spio_file_close_await(t), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	c->limit = UINT64_MAX;
	fs = NULL;
	CHECK_EQ(load(c, &fs), 0);
	CHECK_EQ(id_of(fs, "t"), s);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 1);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

/*
 * Rename over an existing name, cut after every prefix of its writes: the
 * name is the old target's or the source's, never both, never none.
 */
BODY(rename_over_crash)
{
	struct spio_filesystem *fs = mkfs(c);
	size_t bytes = (size_t)c->blockcnt * c->blocklen;
	uint8_t *base = malloc(bytes), *img = malloc(bytes);
	spio_blob_id src, dst;
	size_t nlog;

	CHECK_NOT_NULL(base);
	CHECK_NOT_NULL(img);
	create(fs, "src");
	create(fs, "dst");
	create(fs, "other");
	src = id_of(fs, "src");
	dst = id_of(fs, "dst");
	CHECK_EQ(spio_fs_unload_await(fs), 0);

	/* The workload: load, rename over, unload, all logged. */
	memcpy(base, c->bytes, bytes);
	c->mode = CUT_LOG_DATA;
	fs = NULL;
	CHECK_EQ(load(c, &fs), 0);
	CHECK_EQ(spio_fs_rename_file_await(fs, "src", "dst"), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	c->mode = CUT_LOG_OFF;
	nlog = c->nlog;
	CHECK(nlog > 2, "%zu writes", nlog);

	int saw_old = 0, saw_new = 0;
	for (size_t k = 0; k <= nlog; k++) {
		struct list_out lo;
		const struct spio_fs_dirent *e;

		memcpy(img, base, bytes);
		cut_log_apply(c, 0, k, img);
		memcpy(c->bytes, img, bytes);
		fs = NULL;
		CHECK_EQ(load(c, &fs), 0, "cut %zu", k);
		CHECK_EQ(list(fs, &lo), 0);
		CHECK_NOT_NULL(find_ent(&lo, "other"), "cut %zu", k);
		e = find_ent(&lo, "dst");
		CHECK_NOT_NULL(e, "cut %zu: no file has the name", k);
		if (e->blobid == dst) {
			/* Not renamed: the source is still there by its old name. */
			saw_old++;
			CHECK_EQ(lo.n, 3, "cut %zu", k);
			CHECK_NOT_NULL(find_ent(&lo, "src"), "cut %zu", k);
		} else {
			saw_new++;
			CHECK_EQ(e->blobid, src, "cut %zu", k);
			CHECK_EQ(lo.n, 2, "cut %zu", k);
		}
		CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), (int)lo.n, "cut %zu", k);
		free(lo.ents);
		CHECK_EQ(spio_fs_unload_await(fs), 0);
	}
	CHECK(saw_old > 0 && saw_new > 0);
	cut_log_clear(c);
	free(base);
	free(img);
}

BODY(load_types)
{
	struct spio_blob_store *bs = NULL;
	struct spio_filesystem *fs = NULL;
	struct spio_bs_opts bo;
	struct spio_bs_type t;

	/* Another type: -EINVAL, and the blobstore is left as it was. */
	spio_bs_opts_init(&bo, sizeof(bo));
	memcpy(bo.bstype.bstype, "LVOLSTORE", 9);
	CHECK_EQ(spio_bs_init_await(cut_dev_create(c), &bo, &bs), 0);
	CHECK_EQ(spio_bs_unload_await(bs), 0);
	CHECK_EQ(load(c, &fs), -EINVAL);
	CHECK_NULL(fs);
	CHECK_EQ(c->live, 0);
	CHECK_EQ(spio_bs_load_await(cut_dev_create(c), &bo, &bs), 0);
	CHECK_EQ(spio_bs_unload_await(bs), 0);

	/* No type: becomes BLOBFS. */
	spio_bs_opts_init(&bo, sizeof(bo));
	CHECK_EQ(spio_bs_init_await(cut_dev_create(c), &bo, &bs), 0);
	CHECK_EQ(spio_bs_unload_await(bs), 0);
	CHECK_EQ(load(c, &fs), 0);
	create(fs, "x");
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	spio_bs_opts_init(&bo, sizeof(bo));
	memcpy(bo.bstype.bstype, "BLOBFS", 6);
	CHECK_EQ(spio_bs_load_await(cut_dev_create(c), &bo, &bs), 0);
	t = spio_bs_get_bstype(bs);
	CHECK(memcmp(t.bstype, "BLOBFS\0\0\0\0\0\0\0\0\0\0", 16) == 0);
	CHECK_EQ(spio_bs_unload_await(bs), 0);
}

BODY(load_malformed)
{
	struct spio_filesystem *fs = mkfs(c);
	struct spio_blob_store *bs;
	uint64_t le = 0;
	uint32_t four = 0;
	char n256[257];

	create(fs, "ok");
	CHECK_EQ(spio_fs_unload_await(fs), 0);

	struct {
		const void *name;
		size_t name_len;
		const void *len;
		size_t len_len;
	} bad[] = {
	    {NULL, 0, &le, 8},	 /* no name */
	    {"x", 2, &four, 4},	 /* length of 4 bytes */
	    {"x", 2, NULL, 0},	 /* no length */
	    {"x", 1, &le, 8},	 /* no NUL */
	    {"", 1, &le, 8},	 /* empty */
	    {"x\0y", 4, &le, 8}, /* a NUL inside */
	    {n256, 257, &le, 8}, /* too long */
	};
	memset(n256, 'n', 256);
	n256[256] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spio_blob_id id;
		struct spio_blob *blob = NULL;

		bs = bs_load(c);
		id = plant_blob(bs, bad[i].name, bad[i].name_len, bad[i].len, bad[i].len_len);
		CHECK_EQ(spio_bs_unload_await(bs), 0);
		fs = NULL;
		CHECK_EQ(load(c, &fs), -EILSEQ, "case %zu", i);
		CHECK_NULL(fs);
		CHECK_EQ(c->live, 0);
		/* Nothing destroyed: both blobs are there; then remove the bad one. */
		bs = bs_load(c);
		CHECK_EQ(count_blobs(bs), 2, "case %zu", i);
		CHECK_EQ(spio_bs_open_blob_await(bs, id, &blob), 0);
		CHECK_EQ(spio_blob_close_await(blob), 0);
		CHECK_EQ(spio_bs_delete_blob_await(bs, id), 0);
		CHECK_EQ(spio_bs_unload_await(bs), 0);
	}
	/* A planted blob with SPDK's xattrs, is_deleted of one byte: deleted at load. */
	bs = bs_load(c);
	spio_blob_id id = plant_blob(bs, "del", 4, &le, 8);
	struct spio_blob *blob = NULL;
	uint8_t one = 1;
	CHECK_EQ(spio_bs_open_blob_await(bs, id, &blob), 0);
	CHECK_EQ(spio_blob_set_xattr(blob, "is_deleted", &one, 1), 0);
	CHECK_EQ(spio_blob_close_await(blob), 0);
	plant_blob(bs, "planted", 8, &le, 8);
	CHECK_EQ(spio_bs_unload_await(bs), 0);
	fs = NULL;
	CHECK_EQ(load(c, &fs), 0);
	struct list_out lo;
	CHECK_EQ(list(fs, &lo), 0);
	CHECK_EQ(lo.n, 2);
	CHECK_NOT_NULL(find_ent(&lo, "ok"));
	CHECK_NOT_NULL(find_ent(&lo, "planted"));
	free(lo.ents);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 2);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

/* A md page per file and (by default) per cluster: 32 MiB of 16 KiB clusters. */
BODY(list_many)
{
	struct spio_filesystem *fs = mkfs_cluster(c, 16u * 1024);
	struct list_out lo;
	char name[32];
	uint8_t *seen = calloc(1000, 1);

	CHECK_NOT_NULL(seen);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "many-%04d", i);
		create(fs, name);
	}
	fs = reload(c, fs);
	CHECK_EQ(list(fs, &lo), 0);
	CHECK_EQ(lo.n, 1000);
	for (size_t i = 0; i < lo.n; i++) {
		int k = -1;

		CHECK_EQ(sscanf(lo.ents[i].name, "many-%d", &k), 1);
		CHECK(k >= 0 && k < 1000 && !seen[k], "%s", lo.ents[i].name);
		seen[k] = 1;
		CHECK_EQ(lo.ents[i].size, 0);
	}
	free(lo.ents);
	CHECK_EQ(spio_fs_delete_file_await(fs, "many-0500"), 0);
	CHECK_EQ(spio_fs_rename_file_await(fs, "many-0001", "many-0002"), 0);
	CHECK_EQ(list(fs, &lo), 0);
	CHECK_EQ(lo.n, 998);
	free(lo.ents);
	free(seen);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

/* With the data half: lengths follow writes and survive; handles of deleted files work. */
BODY(with_data)
{
	struct spio_filesystem *fs = mkfs(c);
	struct spio_file *w = NULL, *r = NULL;
	uint8_t *buf = malloc(8192), *back = malloc(8192);
	struct spio_file_stat st;

	CHECK_NOT_NULL(buf);
	CHECK_NOT_NULL(back);
	for (int i = 0; i < 8192; i++) {
		buf[i] = (uint8_t)(i * 7 + 1);
	}
	CHECK_EQ(spio_fs_open_file_await(fs, "d", SPIO_BLOBFS_OPEN_CREATE, &w), 0);
	CHECK_EQ(spio_fs_open_file_await(fs, "d", SPIO_BLOBFS_OPEN_RDONLY, &r), 0);
	CHECK_EQ(spio_file_write_await(w, buf, 0, 5000), 0);
	CHECK_EQ(spio_fs_file_stat_await(fs, "d", &st), 0);
	CHECK_EQ(st.size, 5000);
	CHECK_EQ(spio_file_get_length(r), 5000);
	/* Not the last handle: the writer's close syncs. */
	CHECK_EQ(spio_file_close_await(w), 0);
	CHECK_EQ(spio_file_close_await(r), 0);
	fs = reload(c, fs);
	CHECK_EQ(spio_fs_file_stat_await(fs, "d", &st), 0);
	CHECK_EQ(st.size, 5000);

	/* Deleted while open: still writable and readable through the handle. */
	CHECK_EQ(spio_fs_open_file_await(fs, "d", 0, &w), 0);
	CHECK_EQ(spio_fs_delete_file_await(fs, "d"), 0);
	CHECK_EQ(spio_file_write_await(w, buf + 5000, 5000, 1000), 0);
	CHECK_EQ(spio_file_get_length(w), 6000);
	CHECK_EQ(spio_file_read_await(w, back, 0, 8192), 6000);
	CHECK(memcmp(back, buf, 6000) == 0);
	CHECK_EQ(spio_file_close_await(w), 0);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 0);
	fs = reload(c, fs);
	CHECK_EQ(count_blobs(spio_fs_get_bs(fs)), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
	free(buf);
	free(back);
}

TASK_GROUP(lifecycle, DEV_BLOCKS, roundtrip, names_and_flags, open_create_writers, load_types,
	   load_malformed)
TASK_GROUP(delete, DEV_BLOCKS, delete_plain_and_open, delete_open_crash, with_data)
TASK_GROUP(rename, DEV_BLOCKS, rename_cases, rename_over_open_crash, rename_over_crash)
TASK_GROUP(many, 2 * DEV_BLOCKS, list_many)

/*
 * Concurrency, threads, deferral (plain async calls, polled here)
 */

struct rec {
	int n;
	int rc;
	struct spio_thread *thread;
	void *ptr;
};

static void rec_op(void *arg, int rc)
{
	struct rec *r = arg;

	r->n++;
	r->rc = rc;
	r->thread = spio_get_thread();
}

static void rec_fs(void *arg, struct spio_filesystem *fs, int rc)
{
	struct rec *r = arg;

	rec_op(r, rc);
	r->ptr = fs;
}

static void rec_file(void *arg, struct spio_file *f, int rc)
{
	struct rec *r = arg;

	rec_op(r, rc);
	r->ptr = f;
}

static void rec_stat(void *arg, const struct spio_file_stat *st, int rc)
{
	struct rec *r = arg;

	rec_op(r, rc);
	r->ptr = (void *)st;
}

static void rec_list(void *arg, const struct spio_fs_dirent *ents, size_t count, int rc)
{
	(void)ents;
	(void)count;
	rec_op(arg, rc);
}

static void poll_until(int *n, int want)
{
	for (int i = 0; i < 100000 && *n < want; i++) {
		blob_test_thread_poll(g_thread, 1);
	}
	cr_assert_eq(*n, want);
}

static struct spio_filesystem *mkfs_polled(struct cut_ctl *c)
{
	struct spio_blobfs_opts o;
	struct rec r = {0};

	fs_opts(&o);
	spio_fs_init(cut_dev_create(c), &o, rec_fs, &r);
	cr_assert_eq(r.n, 0, "callback inside the call");
	poll_until(&r.n, 1);
	cr_assert_eq(r.rc, 0);
	return r.ptr;
}

static void unload_polled(struct spio_filesystem *fs)
{
	struct rec r = {0};

	spio_fs_unload(fs, rec_op, &r);
	cr_assert_eq(r.n, 0);
	poll_until(&r.n, 1);
	cr_assert_eq(r.rc, 0);
}

Test(blobfs_names, same_name_races)
{
	struct cut_ctl c;
	struct spio_filesystem *fs;
	struct rec cr[4] = {0}, orr[3] = {0}, del = {0}, st = {0}, cl[2] = {0};

	cut_ctl_init(&c, DEV_BLOCKS, BLK);
	fs = mkfs_polled(&c);
	/* All at once on one name: one create wins, one blob. */
	for (int i = 0; i < 4; i++) {
		spio_fs_create_file_async(fs, "r", rec_op, &cr[i]);
	}
	spio_fs_open_file_async(fs, "r", SPIO_BLOBFS_OPEN_CREATE, rec_file, &orr[0]);
	spio_fs_open_file_async(fs, "r", SPIO_BLOBFS_OPEN_RDONLY, rec_file, &orr[1]);
	spio_fs_file_stat_async(fs, "r", rec_stat, &st);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(cr[i].n, 0, "callback inside the call");
	}
	poll_until(&orr[1].n, 1);
	poll_until(&st.n, 1);
	int ok = 0;
	for (int i = 0; i < 4; i++) {
		poll_until(&cr[i].n, 1);
		cr_assert(cr[i].rc == 0 || cr[i].rc == -EEXIST);
		ok += cr[i].rc == 0;
	}
	cr_assert_eq(ok, 1);
	cr_assert_eq(orr[0].rc, 0);
	cr_assert_eq(orr[1].rc, 0);
	cr_assert_eq(st.rc, 0);
	cr_assert_eq(spio_file_get_id(orr[0].ptr), spio_file_get_id(orr[1].ptr));

	/* Delete while both close: the last close deletes the blob. */
	spio_fs_delete_file_async(fs, "r", rec_op, &del);
	spio_file_close_async(orr[0].ptr, rec_op, &cl[0]);
	spio_file_close_async(orr[1].ptr, rec_op, &cl[1]);
	spio_fs_open_file_async(fs, "r", 0, rec_file, &orr[2]);
	poll_until(&del.n, 1);
	poll_until(&cl[0].n, 1);
	poll_until(&cl[1].n, 1);
	poll_until(&orr[2].n, 1);
	cr_assert_eq(del.rc, 0);
	cr_assert_eq(cl[0].rc, 0);
	cr_assert_eq(cl[1].rc, 0);
	cr_assert_eq(orr[2].rc, -ENOENT);
	unload_polled(fs);
	cut_ctl_fini(&c);
}

static void wrong_thread(void)
{
	struct cut_ctl c;
	struct spio_filesystem *fs;
	struct spio_thread *other;
	struct rec r[8] = {0};
	struct spio_file *h;
	struct rec o = {0};

	cut_ctl_init(&c, DEV_BLOCKS, BLK);
	fs = mkfs_polled(&c);
	spio_fs_open_file_async(fs, "w", SPIO_BLOBFS_OPEN_CREATE, rec_file, &o);
	poll_until(&o.n, 1);
	cr_assert_eq(o.rc, 0);
	h = o.ptr;

	other = spio_thread_create("other", NULL);
	cr_assert_not_null(other);
	spio_set_thread(other);
	spio_fs_create_file_async(fs, "x", rec_op, &r[0]);
	spio_fs_delete_file_async(fs, "w", rec_op, &r[1]);
	spio_fs_rename_file_async(fs, "w", "y", rec_op, &r[2]);
	spio_file_close_async(h, rec_op, &r[3]);
	spio_fs_unload(fs, rec_op, &r[4]);
	spio_fs_open_file_async(fs, "w", 0, rec_file, &r[5]);
	spio_fs_file_stat_async(fs, "w", rec_stat, &r[6]);
	spio_fs_list_async(fs, rec_list, &r[7]);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(r[i].n, 0);
	}
	for (int k = 0; k < 10; k++) {
		spio_thread_poll(other, 0, 0);
	}
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(r[i].n, 1, "call %d", i);
		cr_assert_eq(r[i].rc, -EXDEV, "call %d", i);
		cr_assert(r[i].thread == other);
	}
	spio_thread_exit(other);
	for (int k = 0; k < 100 && !spio_thread_is_exited(other); k++) {
		spio_thread_poll(other, 0, 0);
	}
	spio_set_thread(g_thread);
	spio_thread_destroy(other);

	/* Off any spio thread: answered at once, the device destroyed. */
	struct rec none = {0};
	struct cut_ctl c2;
	cut_ctl_init(&c2, 256, BLK);
	spio_set_thread(NULL);
	spio_fs_init(cut_dev_create(&c2), NULL, rec_fs, &none);
	spio_set_thread(g_thread);
	cr_assert_eq(none.n, 1);
	cr_assert_eq(none.rc, -EXDEV);
	cr_assert_eq(c2.live, 0);
	cut_ctl_fini(&c2);

	struct rec cl = {0};
	spio_file_close_async(h, rec_op, &cl);
	poll_until(&cl.n, 1);
	cr_assert_eq(cl.rc, 0);
	unload_polled(fs);
	cut_ctl_fini(&c);
}

static void init_errors(void)
{
	struct cut_ctl c;
	struct spio_blobfs_opts o;
	struct rec r = {0};

	cut_ctl_init(&c, DEV_BLOCKS, BLK);
	/* Bad opts_size: -EINVAL later, the device destroyed. */
	fs_opts(&o);
	o.opts_size = 0;
	spio_fs_init(cut_dev_create(&c), &o, rec_fs, &r);
	cr_assert_eq(r.n, 0);
	poll_until(&r.n, 1);
	cr_assert_eq(r.rc, -EINVAL);
	cr_assert_eq(c.live, 0);
	/* Bad cluster size: the blobstore's -EINVAL. */
	fs_opts(&o);
	o.cluster_sz = 1000;
	memset(&r, 0, sizeof(r));
	spio_fs_init(cut_dev_create(&c), &o, rec_fs, &r);
	poll_until(&r.n, 1);
	cr_assert_eq(r.rc, -EINVAL);
	cr_assert_eq(c.live, 0);
	/* NULL dev. */
	memset(&r, 0, sizeof(r));
	spio_fs_load(NULL, NULL, rec_fs, &r);
	cr_assert_eq(r.n, 0);
	poll_until(&r.n, 1);
	cr_assert_eq(r.rc, -EINVAL);
	/* Load of an empty device: the blobstore's error. */
	memset(&r, 0, sizeof(r));
	spio_fs_load(cut_dev_create(&c), NULL, rec_fs, &r);
	poll_until(&r.n, 1);
	cr_assert_neq(r.rc, 0);
	cr_assert_null(r.ptr);
	cr_assert_eq(c.live, 0);
	cut_ctl_fini(&c);
}

static void await_outside_task(void)
{
	struct spio_filesystem *fs = NULL;
	struct spio_file_stat st;

	cr_assert_eq(spio_fs_init_await(NULL, NULL, &fs), -EPERM);
	cr_assert_eq(spio_fs_file_stat_await(NULL, "x", &st), -EPERM);
	cr_assert_eq(spio_fs_create_file_await(NULL, "x"), -EPERM);
	cr_assert_eq(spio_file_close_await(NULL), -EPERM);
}

Test(blobfs_names, threads_and_errors)
{
	wrong_thread();
	init_errors();
	await_outside_task();
}
