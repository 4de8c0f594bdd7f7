/*
 * BlobFS's synchronous API from plain OS threads: the fs thread is polled
 * by a pthread of its own, the test's threads call spio_fs_* / spio_file_*
 * with their own contexts. Every call's round trip and errors, -EDEADLK
 * from a spio thread, one writer appending checksummed records while four
 * readers read the same file and verify each record they see, and listing
 * while another thread creates files. Meant to run under TSan as well.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/blob_bdev.h"
#include "spio/blobfs.h"
#include "spio/env.h"
#include "spio/thread.h"
#include "helper_blob_thread.h"

#define BLOCKLEN 4096u
#define DEV_BLOCKS 16384u /* 64 MiB */
#define CLUSTER_SZ (64u * 1024)
/* Four buffers: the record file outgrows the cache many times over. */
#define CACHE_BUFFER (64u * 1024)
#define CACHE_SIZE (4u * CACHE_BUFFER)

static struct spio_thread *g_fs_thread;
static struct spio_filesystem *g_fs;
static pthread_t g_poller;
static int g_stop_polling;

/* The fs thread, polled until told to stop. */
static void *poller_main(void *arg)
{
	(void)arg;
	spio_set_thread(g_fs_thread);
	while (!__atomic_load_n(&g_stop_polling, __ATOMIC_ACQUIRE)) {
		if (spio_thread_poll(g_fs_thread, 0, 0) == 0) {
			sched_yield();
		}
	}
	spio_set_thread(NULL);
	return NULL;
}

/* Run fn(arg) on the fs thread and wait for it to post `done`. */
struct on_fs {
	sem_t done;
	int rc;
	void *arg;
};

static void on_fs_run(void (*fn)(void *), struct on_fs *o)
{
	cr_assert_eq(sem_init(&o->done, 0, 0), 0);
	cr_assert_eq(spio_thread_send_msg(g_fs_thread, fn, o), 0);
	while (sem_wait(&o->done) != 0) {
	}
	sem_destroy(&o->done);
}

static void fs_handle_cb(void *arg, struct spio_filesystem *fs, int fserrno)
{
	struct on_fs *o = arg;

	g_fs = fs;
	o->rc = fserrno;
	sem_post(&o->done);
}

static void init_on_fs(void *arg)
{
	struct spio_blobfs_opts opts;
	struct spio_bs_dev *dev = spio_bs_dev_mem_create(DEV_BLOCKS, BLOCKLEN);

	spio_fs_opts_init(&opts, sizeof(opts));
	opts.cluster_sz = CLUSTER_SZ;
	opts.cache_size = CACHE_SIZE;
	opts.cache_buffer_size = CACHE_BUFFER;
	spio_fs_init(dev, &opts, fs_handle_cb, arg);
}

static void status_cb(void *arg, int fserrno)
{
	struct on_fs *o = arg;

	o->rc = fserrno;
	sem_post(&o->done);
}

static void unload_on_fs(void *arg)
{
	spio_fs_unload(g_fs, status_cb, arg);
}

static void setup(void)
{
	struct on_fs o = {0};

	blob_test_env_init("test_blobfs_sync_api");
	g_fs_thread = blob_test_thread_start("blobfs_sync_fs");
	/* The poller owns the thread from here until teardown. */
	spio_set_thread(NULL);
	g_stop_polling = 0;
	cr_assert_eq(pthread_create(&g_poller, NULL, poller_main, NULL), 0);
	on_fs_run(init_on_fs, &o);
	cr_assert_eq(o.rc, 0, "spio_fs_init: expected 0, got %d", o.rc);
	cr_assert_not_null(g_fs);
}

static void teardown(void)
{
	struct on_fs o = {0};

	on_fs_run(unload_on_fs, &o);
	cr_expect_eq(o.rc, 0, "spio_fs_unload: expected 0, got %d", o.rc);
	__atomic_store_n(&g_stop_polling, 1, __ATOMIC_RELEASE);
	pthread_join(g_poller, NULL);
	spio_set_thread(g_fs_thread);
	blob_test_thread_end(g_fs_thread);
	spio_env_fini();
}

TestSuite(blobfs_sync_api, .init = setup, .fini = teardown, .timeout = 120);

/*
 * Checks usable on any thread: the first failure is kept in the thread's
 * `struct result` and the check returns from the function (1), so worker
 * threads never longjmp; the test thread asserts on the result.
 */
struct result {
	char msg[256];
};

static int fail_at(struct result *r, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct result *r, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->msg[0] != '\0') {
		return 1;
	}
	n = snprintf(r->msg, sizeof(r->msg), "line %d: ", line);
	va_start(ap, fmt);
	vsnprintf(r->msg + n, sizeof(r->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return 1;
}

#define EXPECT_EQ(r, got, want, what)                                                           \
	do {                                                                                    \
		int64_t got_ = (int64_t)(got), want_ = (int64_t)(want);                         \
		if (got_ != want_) {                                                            \
			return fail_at((r), __LINE__, "%s: expected %" PRId64 ", got %" PRId64, \
				       (what), want_, got_);                                    \
		}                                                                               \
	} while (0)

#define EXPECT(r, cond, what)                                        \
	do {                                                         \
		if (!(cond)) {                                       \
			return fail_at((r), __LINE__, "%s", (what)); \
		}                                                    \
	} while (0)

static bool has_name(const struct spio_fs_dirent *ents, size_t count, const char *name,
		     uint64_t size)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(ents[i].name, name) == 0) {
			return ents[i].size == size;
		}
	}
	return false;
}

/*
 * Every call and its errors, on files named after `tag` (threads running
 * this at once use different tags).
 */
static int round_trip(struct result *r, const char *tag)
{
	struct spio_fs_thread_ctx *ctx = spio_fs_alloc_thread_ctx(g_fs);
	char a[64], b[64], c[64], longname[SPIO_FILE_NAME_MAX + 2], buf[32];
	struct spio_file *w, *ro, *none = (struct spio_file *)&w;
	struct spio_fs_dirent *ents;
	struct spio_file_stat st;
	size_t count;

	EXPECT(r, ctx != NULL, "spio_fs_alloc_thread_ctx");
	snprintf(a, sizeof(a), "%s_a", tag);
	snprintf(b, sizeof(b), "%s_b", tag);
	snprintf(c, sizeof(c), "%s_c", tag);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';

	EXPECT_EQ(r, spio_fs_create_file(g_fs, ctx, a), 0, "create a");
	EXPECT_EQ(r, spio_fs_create_file(g_fs, ctx, a), -EEXIST, "create a again");
	EXPECT_EQ(
	    r, spio_fs_open_file(g_fs, ctx, a, SPIO_BLOBFS_OPEN_CREATE | SPIO_BLOBFS_OPEN_EXCL, &w),
	    -EEXIST, "open a CREATE|EXCL");
	EXPECT_EQ(r, spio_fs_open_file(g_fs, ctx, b, 0, &none), -ENOENT, "open missing b");
	EXPECT(r, none == NULL, "a failed open sets *file to NULL");
	EXPECT_EQ(r, spio_fs_file_stat(g_fs, ctx, b, &st), -ENOENT, "stat missing b");
	EXPECT_EQ(r, spio_fs_delete_file(g_fs, ctx, b), -ENOENT, "delete missing b");
	EXPECT_EQ(r, spio_fs_rename_file(g_fs, ctx, b, c), -ENOENT, "rename missing b");
	EXPECT_EQ(r, spio_fs_create_file(g_fs, ctx, longname), -ENAMETOOLONG, "create long name");
	EXPECT_EQ(r, spio_fs_open_file(g_fs, ctx, longname, SPIO_BLOBFS_OPEN_CREATE, &w),
		  -ENAMETOOLONG, "open long name");
	EXPECT_EQ(r, spio_fs_file_stat(g_fs, ctx, longname, &st), -ENAMETOOLONG, "stat long name");
	EXPECT_EQ(r, spio_fs_create_file(g_fs, ctx, ""), -EINVAL, "create empty name");

	/* A writer: a write past the end leaves a gap of zeroes. */
	EXPECT_EQ(r, spio_fs_open_file(g_fs, ctx, a, 0, &w), 0, "open a");
	EXPECT_EQ(r, spio_fs_open_file(g_fs, ctx, a, 0, &none), -EBUSY, "second writer of a");
	EXPECT_EQ(r, spio_file_write(w, ctx, "hello", 0, 5), 0, "write hello");
	EXPECT_EQ(r, spio_file_write(w, ctx, "xy", 10, 2), 0, "write at 10");
	EXPECT_EQ(r, spio_file_fstat(w, ctx, &st), 0, "fstat");
	EXPECT_EQ(r, st.size, 12, "fstat size");
	memset(buf, 0x55, sizeof(buf));
	EXPECT_EQ(r, spio_file_read(w, ctx, buf, 0, sizeof(buf)), 12, "read all (short at end)");
	EXPECT(r, memcmp(buf, "hello\0\0\0\0\0xy", 12) == 0, "read back hello, gap, xy");
	EXPECT_EQ(r, spio_file_read(w, ctx, buf, 12, 4), 0, "read at the end");
	EXPECT_EQ(r, spio_file_truncate(w, ctx, 3), 0, "truncate 3");
	EXPECT_EQ(r, spio_file_sync(w, ctx), 0, "sync");
	EXPECT_EQ(r, spio_fs_file_stat(g_fs, ctx, a, &st), 0, "stat a");
	EXPECT_EQ(r, st.size, 3, "stat a size");
	EXPECT_EQ(r, st.blobid, spio_file_get_id(w), "stat a blob id");

	/* A reader beside it: read-only, sees the writer's data. */
	EXPECT_EQ(r, spio_fs_open_file(g_fs, ctx, a, SPIO_BLOBFS_OPEN_RDONLY, &ro), 0, "open ro");
	EXPECT_EQ(r, spio_file_write(ro, ctx, "z", 0, 1), -EBADF, "write on ro");
	EXPECT_EQ(r, spio_file_truncate(ro, ctx, 0), -EBADF, "truncate on ro");
	EXPECT_EQ(r, spio_file_read(ro, ctx, buf, 0, sizeof(buf)), 3, "read ro");
	EXPECT(r, memcmp(buf, "hel", 3) == 0, "ro reads hel");
	EXPECT_EQ(r, spio_file_write(w, ctx, "LO", 3, 2), 0, "append LO");
	EXPECT_EQ(r, spio_file_read(ro, ctx, buf, 0, sizeof(buf)), 5, "ro sees the append");
	EXPECT(r, memcmp(buf, "helLO", 5) == 0, "ro reads helLO");
	EXPECT_EQ(r, spio_file_close(ro, ctx), 0, "close ro");

	/* Rename follows the open handle; list and stat see the new name. */
	EXPECT_EQ(r, spio_fs_rename_file(g_fs, ctx, a, c), 0, "rename a c");
	EXPECT_EQ(r, spio_fs_file_stat(g_fs, ctx, a, &st), -ENOENT, "stat old name");
	EXPECT_EQ(r, spio_fs_file_stat(g_fs, ctx, c, &st), 0, "stat new name");
	EXPECT_EQ(r, st.size, 5, "renamed size (unsynced append included)");
	EXPECT_EQ(r, spio_fs_list(g_fs, ctx, &ents, &count), 0, "list");
	EXPECT(r, has_name(ents, count, c, 5), "list has c, 5 bytes");
	EXPECT(r, !has_name(ents, count, a, 5), "list lacks a");
	free(ents);

	/* Deleted while open: the handle still works, the name is free. */
	EXPECT_EQ(r, spio_fs_delete_file(g_fs, ctx, c), 0, "delete c");
	EXPECT_EQ(r, spio_fs_delete_file(g_fs, ctx, c), -ENOENT, "delete c again");
	EXPECT_EQ(r, spio_file_read(w, ctx, buf, 0, sizeof(buf)), 5, "read deleted-open");
	EXPECT_EQ(r, spio_fs_create_file(g_fs, ctx, c), 0, "reuse the name");
	EXPECT_EQ(r, spio_file_close(w, ctx), 0, "close the deleted file");
	EXPECT_EQ(r, spio_fs_file_stat(g_fs, ctx, c, &st), 0, "stat the new c");
	EXPECT_EQ(r, st.size, 0, "the new c is empty");
	EXPECT_EQ(r, spio_fs_delete_file(g_fs, ctx, c), 0, "delete the new c");

	/* NULL arguments fail without reaching the fs thread. */
	EXPECT_EQ(r, spio_fs_create_file(g_fs, NULL, a), -EINVAL, "NULL ctx");
	EXPECT_EQ(r, spio_fs_create_file(NULL, ctx, a), -EINVAL, "NULL fs");
	EXPECT_EQ(r, spio_file_read(NULL, ctx, buf, 0, 1), -EINVAL, "NULL file");
	EXPECT_EQ(r, spio_fs_list(g_fs, ctx, NULL, &count), -EINVAL, "NULL ents");
	EXPECT_EQ(r, spio_fs_file_stat(g_fs, ctx, a, NULL), -EINVAL, "NULL stat");

	spio_fs_free_thread_ctx(ctx);
	return 0;
}

Test(blobfs_sync_api, round_trip_and_errors)
{
	struct spio_fs_thread_ctx *ctx;
	struct spio_fs_dirent *ents = (struct spio_fs_dirent *)&ctx;
	struct spio_fs_stat st;
	struct result r = {{0}};
	size_t count = 99;

	cr_assert_null(spio_fs_alloc_thread_ctx(NULL));
	spio_fs_free_thread_ctx(NULL);
	round_trip(&r, "main");
	cr_assert_eq(r.msg[0], '\0', "%s", r.msg);

	ctx = spio_fs_alloc_thread_ctx(g_fs);
	cr_assert_not_null(ctx);
	cr_assert_eq(spio_fs_list(g_fs, ctx, &ents, &count), 0);
	cr_assert_eq(count, 0, "empty filesystem lists %zu files", count);
	cr_assert_null(ents);
	cr_assert_eq(spio_fs_stat(g_fs, ctx, &st), 0);
	cr_assert_eq(st.files, 0);
	cr_assert_eq(st.cluster_size, CLUSTER_SZ);
	/* The device's clusters, less the blobstore's metadata. */
	cr_assert(st.total_clusters <= (uint64_t)DEV_BLOCKS * BLOCKLEN / CLUSTER_SZ &&
		      st.total_clusters > (uint64_t)DEV_BLOCKS * BLOCKLEN / CLUSTER_SZ / 2,
		  "total clusters %" PRIu64, st.total_clusters);
	cr_assert(st.free_clusters <= st.total_clusters && st.free_clusters > 0);
	cr_assert_eq(st.io_unit_size, BLOCKLEN);
	cr_assert_eq(spio_fs_create_file(g_fs, ctx, "one"), 0);
	cr_assert_eq(spio_fs_stat(g_fs, ctx, &st), 0);
	cr_assert_eq(st.files, 1);
	spio_fs_free_thread_ctx(ctx);
}

struct worker {
	struct result r;
	char tag[16];
	int idx;
};

static void *round_trip_main(void *arg)
{
	struct worker *w = arg;

	round_trip(&w->r, w->tag);
	return NULL;
}

Test(blobfs_sync_api, round_trip_from_several_threads)
{
	struct worker w[4];
	pthread_t tid[4];

	for (int i = 0; i < 4; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		snprintf(w[i].tag, sizeof(w[i].tag), "t%d", i);
		cr_assert_eq(pthread_create(&tid[i], NULL, round_trip_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
	}
	for (int i = 0; i < 4; i++) {
		cr_expect_eq(w[i].r.msg[0], '\0', "thread %d: %s", i, w[i].r.msg);
	}
}

/* A spio thread would wait on itself (or on a thread it should be polling). */
static void deadlk_on_fs(void *arg)
{
	struct on_fs *o = arg;
	struct spio_fs_thread_ctx *ctx = o->arg;
	struct spio_file_stat st;

	o->rc = spio_fs_file_stat(g_fs, ctx, "x", &st);
	sem_post(&o->done);
}

Test(blobfs_sync_api, edeadlk_from_a_spio_thread)
{
	struct spio_fs_thread_ctx *ctx = spio_fs_alloc_thread_ctx(g_fs);
	struct spio_thread *other;
	struct spio_fs_dirent *ents;
	struct on_fs o = {0};
	size_t count;

	cr_assert_not_null(ctx);
	o.arg = ctx;
	on_fs_run(deadlk_on_fs, &o);
	cr_assert_eq(o.rc, -EDEADLK, "on the fs thread: expected -EDEADLK, got %d", o.rc);

	/* Any spio thread, not only the fs thread. */
	other = spio_thread_create("blobfs_sync_other", NULL);
	cr_assert_not_null(other);
	spio_set_thread(other);
	cr_assert_eq(spio_fs_list(g_fs, ctx, &ents, &count), -EDEADLK);
	cr_assert_eq(spio_fs_create_file(g_fs, ctx, "x"), -EDEADLK);
	spio_thread_exit(other);
	for (int i = 0; i < 1000 && !spio_thread_is_exited(other); i++) {
		spio_thread_poll(other, 0, 0);
	}
	cr_assert(spio_thread_is_exited(other));
	spio_set_thread(NULL);
	spio_thread_destroy(other);

	/* Nothing was created by the refused calls. */
	cr_assert_eq(spio_fs_list(g_fs, ctx, &ents, &count), 0);
	cr_assert_eq(count, 0);
	spio_fs_free_thread_ctx(ctx);
}

/*
 * One writer appends records of REC bytes (not a multiple of any buffer):
 * a sequence number, a payload derived from it, and a checksum of both.
 * Four readers, each with its own read-only handle, read what the length
 * says is there and check every record in it, then re-read an earlier
 * record (by then usually evicted from the small cache).
 */
#define REC 200u
#define NREC 4000u
#define NREADERS 4
#define SYNC_EVERY 250u

static uint64_t rec_sum(const uint8_t *rec)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < REC - 8; i++) {
		h = (h ^ rec[i]) * 0x100000001b3ull;
	}
	return h;
}

static void rec_make(uint8_t *rec, uint64_t seq)
{
	uint64_t sum;

	memcpy(rec, &seq, 8);
	for (size_t i = 8; i < REC - 8; i++) {
		rec[i] = (uint8_t)(seq * 31 + i);
	}
	sum = rec_sum(rec);
	memcpy(rec + REC - 8, &sum, 8);
}

static int rec_check(struct result *r, const uint8_t *rec, uint64_t want_seq)
{
	uint64_t seq, sum;

	memcpy(&seq, rec, 8);
	memcpy(&sum, rec + REC - 8, 8);
	EXPECT_EQ(r, seq, want_seq, "record sequence number");
	EXPECT(r, sum == rec_sum(rec), "record checksum");
	return 0;
}

static const char g_rec_file[] = "records";
static int g_writer_done;

static void *writer_main(void *arg)
{
	struct worker *w = arg;
	struct spio_fs_thread_ctx *ctx = spio_fs_alloc_thread_ctx(g_fs);
	struct spio_file *file = NULL;
	uint8_t rec[REC];
	int rc = 0;

	if (ctx == NULL) {
		fail_at(&w->r, __LINE__, "writer: no ctx");
		goto out;
	}
	rc = spio_fs_open_file(g_fs, ctx, g_rec_file, 0, &file);
	for (uint64_t i = 0; rc == 0 && i < NREC; i++) {
		rec_make(rec, i);
		rc = spio_file_write(file, ctx, rec, i * REC, REC);
		if (rc == 0 && (i + 1) % SYNC_EVERY == 0) {
			rc = spio_file_sync(file, ctx);
		}
	}
	if (rc != 0) {
		fail_at(&w->r, __LINE__, "writer: %d", rc);
	}
	if (file != NULL && spio_file_close(file, ctx) != 0) {
		fail_at(&w->r, __LINE__, "writer: close failed");
	}
out:
	spio_fs_free_thread_ctx(ctx);
	__atomic_store_n(&g_writer_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int reader_run(struct worker *w, struct spio_fs_thread_ctx *ctx, struct spio_file *file)
{
	static const uint64_t chunk = 37 * REC; /* several records, crossing buffers */
	uint8_t *buf = malloc(chunk);
	struct spio_file_stat st;
	uint64_t verified = 0, passes = 0, seed = (uint64_t)w->idx * 7919 + 1;
	bool last = false;
	int64_t n;

	EXPECT(&w->r, buf != NULL, "reader buffer");
	while (!last && passes++ < 1000000) {
		last = __atomic_load_n(&g_writer_done, __ATOMIC_ACQUIRE);
		if (spio_file_fstat(file, ctx, &st) != 0) {
			free(buf);
			return fail_at(&w->r, __LINE__, "fstat failed");
		}
		if (st.size % REC != 0) {
			free(buf);
			return fail_at(&w->r, __LINE__, "length %" PRIu64 " is not whole records",
				       st.size);
		}
		while (verified < st.size) {
			uint64_t len = st.size - verified < chunk ? st.size - verified : chunk;

			n = spio_file_read(file, ctx, buf, verified, len);
			if (n != (int64_t)len) {
				free(buf);
				return fail_at(&w->r, __LINE__,
					       "read %" PRIu64 " at %" PRIu64 ": got %" PRId64, len,
					       verified, n);
			}
			for (uint64_t off = 0; off < len; off += REC) {
				if (rec_check(&w->r, buf + off, (verified + off) / REC) != 0) {
					free(buf);
					return 1;
				}
			}
			verified += len;
		}
		/* An older record again: it must not have changed since. */
		if (verified > 0) {
			uint64_t i;

			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			i = (seed >> 33) % (verified / REC);
			n = spio_file_read(file, ctx, buf, i * REC, REC);
			if (n != REC || rec_check(&w->r, buf, i) != 0) {
				free(buf);
				return fail_at(&w->r, __LINE__,
					       "re-read of record %" PRIu64 ": %" PRId64, i, n);
			}
		}
		if (!last) {
			sched_yield();
		}
	}
	free(buf);
	EXPECT_EQ(&w->r, verified, (uint64_t)NREC * REC, "reader verified the whole file");
	return 0;
}

static void *reader_main(void *arg)
{
	struct worker *w = arg;
	struct spio_fs_thread_ctx *ctx = spio_fs_alloc_thread_ctx(g_fs);
	struct spio_file *file = NULL;
	int rc;

	if (ctx == NULL) {
		fail_at(&w->r, __LINE__, "reader: no ctx");
		return NULL;
	}
	rc = spio_fs_open_file(g_fs, ctx, g_rec_file, SPIO_BLOBFS_OPEN_RDONLY, &file);
	if (rc != 0) {
		fail_at(&w->r, __LINE__, "reader: open: %d", rc);
	} else {
		reader_run(w, ctx, file);
		if (spio_file_close(file, ctx) != 0) {
			fail_at(&w->r, __LINE__, "reader: close failed");
		}
	}
	spio_fs_free_thread_ctx(ctx);
	return NULL;
}

Test(blobfs_sync_api, one_writer_four_readers)
{
	struct spio_fs_thread_ctx *ctx = spio_fs_alloc_thread_ctx(g_fs);
	struct worker w[1 + NREADERS];
	pthread_t tid[1 + NREADERS];
	struct spio_file_stat st;
	struct spio_file *file;
	uint8_t rec[REC];

	cr_assert_not_null(ctx);
	/* Made before the readers start, so their opens find it. */
	cr_assert_eq(spio_fs_create_file(g_fs, ctx, g_rec_file), 0);
	g_writer_done = 0;
	memset(w, 0, sizeof(w));
	for (int i = 0; i <= NREADERS; i++) {
		w[i].idx = i;
		cr_assert_eq(
		    pthread_create(&tid[i], NULL, i == 0 ? writer_main : reader_main, &w[i]), 0);
	}
	for (int i = 0; i <= NREADERS; i++) {
		pthread_join(tid[i], NULL);
	}
	for (int i = 0; i <= NREADERS; i++) {
		cr_expect_eq(w[i].r.msg[0], '\0', "%s %d: %s", i == 0 ? "writer" : "reader", i,
			     w[i].r.msg);
	}

	/* Closed by all: the synced length and a record near the end. */
	cr_assert_eq(spio_fs_file_stat(g_fs, ctx, g_rec_file, &st), 0);
	cr_assert_eq(st.size, (uint64_t)NREC * REC);
	cr_assert_eq(spio_fs_open_file(g_fs, ctx, g_rec_file, SPIO_BLOBFS_OPEN_RDONLY, &file), 0);
	cr_assert_eq(spio_file_read(file, ctx, rec, (NREC - 3) * REC, REC), REC);
	cr_assert_eq(memcmp(rec, &(uint64_t){NREC - 3}, 8), 0);
	cr_assert_eq(spio_file_close(file, ctx), 0);
	spio_fs_free_thread_ctx(ctx);
}

/*
 * Listing while another thread creates files: each list holds every file
 * whose create had returned before the list was sent, no name twice, and
 * only names the creator makes.
 */
#define NCREATE 120
static int g_created;

static void *creator_main(void *arg)
{
	struct worker *w = arg;
	struct spio_fs_thread_ctx *ctx = spio_fs_alloc_thread_ctx(g_fs);
	char name[32];
	int rc;

	if (ctx == NULL) {
		fail_at(&w->r, __LINE__, "creator: no ctx");
		__atomic_store_n(&g_created, NCREATE, __ATOMIC_RELEASE);
		return NULL;
	}
	for (int i = 0; i < NCREATE; i++) {
		snprintf(name, sizeof(name), "f%03d", i);
		rc = spio_fs_create_file(g_fs, ctx, name);
		if (rc != 0) {
			fail_at(&w->r, __LINE__, "create %s: %d", name, rc);
			__atomic_store_n(&g_created, NCREATE, __ATOMIC_RELEASE);
			break;
		}
		__atomic_store_n(&g_created, i + 1, __ATOMIC_RELEASE);
	}
	spio_fs_free_thread_ctx(ctx);
	return NULL;
}

static int lister_run(struct worker *w, struct spio_fs_thread_ctx *ctx)
{
	bool seen[NCREATE];
	size_t lists = 0, prev = 0;
	bool last = false;

	while (!last && lists < 100000) {
		struct spio_fs_dirent *ents;
		int before = __atomic_load_n(&g_created, __ATOMIC_ACQUIRE);
		size_t count;
		int rc;

		last = before == NCREATE;
		rc = spio_fs_list(g_fs, ctx, &ents, &count);
		EXPECT_EQ(&w->r, rc, 0, "list");
		lists++;
		memset(seen, 0, sizeof(seen));
		for (size_t i = 0; i < count; i++) {
			int k = -1;

			if (sscanf(ents[i].name, "f%d", &k) != 1 || k < 0 || k >= NCREATE ||
			    seen[k] || ents[i].size != 0) {
				fail_at(&w->r, __LINE__,
					"unexpected entry '%s' (%" PRIu64 " bytes)", ents[i].name,
					ents[i].size);
				free(ents);
				return 1;
			}
			seen[k] = true;
		}
		free(ents);
		for (int k = 0; k < before; k++) {
			EXPECT(&w->r, seen[k], "a file created before the list is missing from it");
		}
		EXPECT(&w->r, count >= prev, "the list shrank");
		prev = count;
	}
	EXPECT_EQ(&w->r, prev, NCREATE, "the last list has every file");
	return 0;
}

static void *lister_main(void *arg)
{
	struct worker *w = arg;
	struct spio_fs_thread_ctx *ctx = spio_fs_alloc_thread_ctx(g_fs);

	if (ctx == NULL) {
		fail_at(&w->r, __LINE__, "lister: no ctx");
		return NULL;
	}
	lister_run(w, ctx);
	spio_fs_free_thread_ctx(ctx);
	return NULL;
}

Test(blobfs_sync_api, list_while_creating)
{
	struct worker w[2];
	pthread_t tid[2];

	memset(w, 0, sizeof(w));
	g_created = 0;
	cr_assert_eq(pthread_create(&tid[0], NULL, creator_main, &w[0]), 0);
	cr_assert_eq(pthread_create(&tid[1], NULL, lister_main, &w[1]), 0);
	pthread_join(tid[0], NULL);
	pthread_join(tid[1], NULL);
	cr_expect_eq(w[0].r.msg[0], '\0', "creator: %s", w[0].r.msg);
	cr_expect_eq(w[1].r.msg[0], '\0', "lister: %s", w[1].r.msg);
}
