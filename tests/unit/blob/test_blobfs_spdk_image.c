/*
 * A BlobFS made by the real SPDK (tests/data/spdk/blobfs-basic.img.gz, made
 * by make_blobfs_image.sh next to it with SPDK's mkfs and FUSE programs)
 * loads here: every file SPDK wrote reads back with the length and SHA-256
 * its manifest records, the file SPDK deleted and the name SPDK renamed away
 * are gone. Then files written here at any offset, truncated and renamed
 * survive an unload and a load. SPIO_BLOBFS_IMAGE_OUT=PATH saves the image
 * as left here, to load it back into SPDK by hand (docs/blobfs.md).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_blob_image.h"
#include "helper_blob_task.h"
#include "helper_blob_thread.h"
#include "helper_cut_dev.h"
#include "helper_sha256.h"
#include "spio/blobfs.h"
#include "spio/env.h"
#include "spio/task.h"
#include "spio/thread.h"

#define IMAGE_SIZE (64ULL << 20)
#define IMAGE SPIO_REPO_TESTDATA "/spdk/blobfs-basic.img.gz"
#define MANIFEST SPIO_REPO_TESTDATA "/spdk/blobfs-basic.manifest"
#define MAX_FILES 16
#define CHUNK (256 * 1024)

struct manifest_file {
	char name[SPIO_FILE_NAME_MAX + 1]; /* as stored: SPDK's FUSE keeps the leading '/' */
	uint64_t size;
	char sha256[65];
};

struct scene {
	struct cut_ctl dev;
	struct manifest_file files[MAX_FILES];
	int nfiles;
	uint8_t *buf;
};

static struct spio_thread *g_thread;

static void setup(void)
{
	blob_test_env_init("test_blobfs_spdk_image");
	g_thread = blob_test_thread_start("blobfs_spdk_image");
}

static void teardown(void)
{
	blob_test_thread_end(g_thread);
	spio_env_fini();
}

TestSuite(blobfs_spdk_image, .init = setup, .fini = teardown);

/* "NAME SIZE SHA256" lines, as SPDK's FUSE mount listed and read them. */
static int read_manifest(struct scene *s)
{
	char name[SPIO_FILE_NAME_MAX]; /* without the '/' */
	unsigned long long size;
	char sha[65];
	FILE *f = fopen(MANIFEST, "r");

	if (f == NULL) {
		return -1;
	}
	while (s->nfiles < MAX_FILES && fscanf(f, "%254s %llu %64s", name, &size, sha) == 3) {
		struct manifest_file *m = &s->files[s->nfiles++];

		snprintf(m->name, sizeof(m->name), "/%s", name);
		m->size = size;
		memcpy(m->sha256, sha, sizeof(m->sha256));
	}
	fclose(f);
	return s->nfiles;
}

/* Read the whole file through the API and compare its digest. */
static void check_content(struct scene *s, struct spio_filesystem *fs, const char *name,
			  uint64_t size, const char *sha256)
{
	struct spio_file *file = NULL;
	struct sha256 sha;
	char hex[65];
	uint64_t off = 0;

	CHECK_EQ(spio_fs_open_file_await(fs, name, SPIO_BLOBFS_OPEN_RDONLY, &file), 0, "%s", name);
	CHECK_EQ(spio_file_get_length(file), size, "%s", name);
	sha256_init(&sha);
	for (;;) {
		int64_t n = spio_file_read_await(file, s->buf, off, CHUNK);

		CHECK(n >= 0, "%s: read at %llu: %lld", name, (unsigned long long)off,
		      (long long)n);
		if (n == 0) {
			break;
		}
		sha256_update(&sha, s->buf, (size_t)n);
		off += (uint64_t)n;
	}
	CHECK_EQ(off, size, "%s", name);
	sha256_final(&sha, hex);
	CHECK(strcmp(hex, sha256) == 0, "%s: sha256 %s, SPDK's %s", name, hex, sha256);
	CHECK_EQ(spio_file_close_await(file), 0);
}

static int find_file(const struct spio_fs_dirent *ents, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ents[i].name, name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

struct listing {
	struct spio_fs_dirent *ents; /* malloc'ed by spio_fs_list_await() */
	size_t n;
};

static void list_files(struct spio_filesystem *fs, struct listing *l)
{
	free(l->ents);
	l->ents = NULL;
	CHECK_EQ(spio_fs_list_await(fs, &l->ents, &l->n), 0);
}

/* Every file SPDK left, exactly; nothing else. */
static void check_spdk_files(struct scene *s, struct spio_filesystem *fs, int skip)
{
	struct listing l = {NULL, 0};

	list_files(fs, &l);
	for (int i = 0; i < s->nfiles; i++) {
		if (i == skip) {
			continue;
		}
		int at = find_file(l.ents, l.n, s->files[i].name);

		CHECK(at >= 0, "%s missing", s->files[i].name);
		CHECK_EQ(l.ents[at].size, s->files[i].size, "%s", s->files[i].name);
		check_content(s, fs, s->files[i].name, s->files[i].size, s->files[i].sha256);
	}
	CHECK(find_file(l.ents, l.n, "/to-delete") < 0, "SPDK deleted /to-delete");
	CHECK(find_file(l.ents, l.n, "/before-rename") < 0, "SPDK renamed /before-rename");
	free(l.ents);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		p[i] = (uint8_t)(i * 31 + seed + (i >> 9));
	}
}

static void scenario(void *arg)
{
	struct scene *s = arg;
	struct spio_filesystem *fs = NULL;
	struct spio_file *file = NULL;
	static uint8_t data[300000], back[300000];
	struct listing l = {NULL, 0};
	int log = -1;

	CHECK_EQ(spio_fs_load_await(cut_dev_create(&s->dev), NULL, &fs), 0);
	CHECK_EQ(spio_fs_list_await(fs, NULL, &l.n), -EINVAL);
	CHECK_EQ(spio_fs_list_await(fs, &l.ents, NULL), -EINVAL);
	check_spdk_files(s, fs, -1);
	list_files(fs, &l);
	CHECK_EQ(l.n, (size_t)s->nfiles);

	/* Written here: a new file (written out of order), one of SPDK's
	 * overwritten in the middle and grown, one truncated, one renamed. */
	for (int i = 0; i < s->nfiles; i++) {
		if (strcmp(s->files[i].name, "/one-cluster.log") == 0) {
			log = i;
		}
	}
	CHECK(log >= 0);
	fill(data, sizeof(data), 7);
	CHECK_EQ(spio_fs_open_file_await(fs, "/spio-made", SPIO_BLOBFS_OPEN_CREATE, &file), 0);
	CHECK_EQ(spio_file_write_await(file, data + 100000, 100000, 200000), 0);
	CHECK_EQ(spio_file_write_await(file, data, 0, 100000), 0);
	CHECK_EQ(spio_file_close_await(file), 0);
	CHECK_EQ(spio_fs_open_file_await(fs, "/small.txt", 0, &file), 0);
	CHECK_EQ(spio_file_write_await(file, "SPIO", 10, 4), 0);
	CHECK_EQ(spio_file_write_await(file, "tail", 5000, 4), 0);
	CHECK_EQ(spio_file_close_await(file), 0);
	CHECK_EQ(spio_fs_open_file_await(fs, "/000123.sst", 0, &file), 0);
	CHECK_EQ(spio_file_truncate_await(file, 12345), 0);
	CHECK_EQ(spio_file_close_await(file), 0);
	CHECK_EQ(spio_fs_rename_file_await(fs, "/after-rename", "/renamed-here"), 0);
	CHECK_EQ(spio_fs_unload_await(fs), 0);

	fs = NULL;
	CHECK_EQ(spio_fs_load_await(cut_dev_create(&s->dev), NULL, &fs), 0);
	/* SPDK's other files are untouched. */
	check_content(s, fs, s->files[log].name, s->files[log].size, s->files[log].sha256);
	CHECK_EQ(spio_fs_open_file_await(fs, "/spio-made", SPIO_BLOBFS_OPEN_RDONLY, &file), 0);
	CHECK_EQ(spio_file_get_length(file), 300000);
	CHECK_EQ(spio_file_read_await(file, back, 0, sizeof(back)), (int64_t)sizeof(back));
	CHECK(memcmp(back, data, sizeof(back)) == 0);
	CHECK_EQ(spio_file_close_await(file), 0);
	CHECK_EQ(spio_fs_open_file_await(fs, "/small.txt", SPIO_BLOBFS_OPEN_RDONLY, &file), 0);
	CHECK_EQ(spio_file_get_length(file), 5004);
	memset(back, 0xff, 5004);
	CHECK_EQ(spio_file_read_await(file, back, 0, 5004), 5004);
	CHECK(memcmp(back, "small.txt SPIO", 14) == 0, "%.14s", (char *)back);
	for (int i = 84; i < 5000; i++) {
		CHECK_EQ(back[i], 0, "gap byte %d", i);
	}
	CHECK(memcmp(back + 5000, "tail", 4) == 0);
	CHECK_EQ(spio_file_close_await(file), 0);
	CHECK_EQ(spio_fs_open_file_await(fs, "/000123.sst", SPIO_BLOBFS_OPEN_RDONLY, &file), 0);
	CHECK_EQ(spio_file_get_length(file), 12345);
	CHECK_EQ(spio_file_read_await(file, back, 12000, 1000), 345);
	CHECK_EQ(spio_file_read_await(file, back, 0, 34), 34);
	CHECK(memcmp(back, "000123.sst line 0000000 of 100000\n", 34) == 0, "%.34s", (char *)back);
	CHECK_EQ(spio_file_close_await(file), 0);
	list_files(fs, &l);
	CHECK(find_file(l.ents, l.n, "/after-rename") < 0);
	CHECK(find_file(l.ents, l.n, "/renamed-here") >= 0);
	CHECK_EQ(l.n, (size_t)s->nfiles + 1);
	free(l.ents);
	CHECK_EQ(spio_fs_unload_await(fs), 0);
}

Test(blobfs_spdk_image, spdk_made_filesystem_loads_and_keeps_working)
{
	struct scene *s = calloc(1, sizeof(*s));
	char why[256];
	long long got;
	const char *out = getenv("SPIO_BLOBFS_IMAGE_OUT");
	struct spio_fs_dirent *ents = NULL;
	size_t n = 0;

	cr_assert_not_null(s);
	/* Outside a task the twin refuses and does nothing. */
	cr_assert_eq(spio_fs_list_await(NULL, &ents, &n), -EPERM);
	cr_assert_null(ents);
	cr_assert_gt(read_manifest(s), 0, "cannot read %s", MANIFEST);
	s->buf = malloc(CHUNK);
	cr_assert_not_null(s->buf);
	cut_ctl_init(&s->dev, IMAGE_SIZE / 4096, 4096);
	got = bimg_gunzip(IMAGE, s->dev.bytes, IMAGE_SIZE, why);
	cr_assert_eq(got, (long long)IMAGE_SIZE, "%s: %s", IMAGE, got < 0 ? why : "wrong size");
	blob_task_run(g_thread, scenario, s);
	if (out != NULL && out[0] != '\0') {
		FILE *f = fopen(out, "wb");

		cr_assert_not_null(f, "cannot write %s", out);
		cr_assert_eq(fwrite(s->dev.bytes, 1, IMAGE_SIZE, f), IMAGE_SIZE);
		fclose(f);
	}
	cut_ctl_fini(&s->dev);
	free(s->buf);
	free(s);
}
