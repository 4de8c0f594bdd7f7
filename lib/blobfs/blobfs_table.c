/*
 * The name -> file table: FNV-1a, chained, a power-of-two bucket count that
 * doubles when the table holds more files than buckets, so lookups stay
 * O(1) with many thousands of files. Also the file objects themselves and
 * their "busy" state with its waiter queue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blobfs_internal.h"

#define TABLE_MIN_BUCKETS 64u

static uint32_t name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

int blobfs_table_init(struct spio_filesystem *fs)
{
	fs->buckets = calloc(TABLE_MIN_BUCKETS, sizeof(*fs->buckets));
	if (fs->buckets == NULL) {
		return -ENOMEM;
	}
	fs->nbuckets = TABLE_MIN_BUCKETS;
	return 0;
}

void blobfs_table_fini(struct spio_filesystem *fs)
{
	free(fs->buckets);
	fs->buckets = NULL;
	fs->nbuckets = 0;
}

struct blobfs_file *blobfs_table_find(struct spio_filesystem *fs, const char *name)
{
	uint32_t h = name_hash(name);
	struct blobfs_file *f;

	for (f = fs->buckets[h & (fs->nbuckets - 1)]; f != NULL; f = f->hnext) {
		if (f->hash == h && strcmp(f->name, name) == 0) {
			return f;
		}
	}
	return NULL;
}

/* Double the buckets; on -ENOMEM keep the old ones (chains just get longer). */
static void table_grow(struct spio_filesystem *fs)
{
	uint64_t n = fs->nbuckets * 2;
	struct blobfs_file **b = calloc(n, sizeof(*b));

	if (b == NULL) {
		return;
	}
	for (uint64_t i = 0; i < fs->nbuckets; i++) {
		struct blobfs_file *f = fs->buckets[i];

		while (f != NULL) {
			struct blobfs_file *next = f->hnext;
			uint64_t j = f->hash & (n - 1);

			f->hnext = b[j];
			b[j] = f;
			f = next;
		}
	}
	free(fs->buckets);
	fs->buckets = b;
	fs->nbuckets = n;
}

void blobfs_table_insert(struct spio_filesystem *fs, struct blobfs_file *file)
{
	uint64_t i;

	if (fs->file_count >= fs->nbuckets) {
		table_grow(fs);
	}
	file->hash = name_hash(file->name);
	i = file->hash & (fs->nbuckets - 1);
	file->hnext = fs->buckets[i];
	fs->buckets[i] = file;
	TAILQ_INSERT_TAIL(&fs->files, file, link);
	fs->file_count++;
}

void blobfs_table_remove(struct spio_filesystem *fs, struct blobfs_file *file)
{
	struct blobfs_file **pp = &fs->buckets[file->hash & (fs->nbuckets - 1)];

	while (*pp != NULL && *pp != file) {
		pp = &(*pp)->hnext;
	}
	if (*pp == file) {
		*pp = file->hnext;
	}
	file->hnext = NULL;
	TAILQ_REMOVE(&fs->files, file, link);
	fs->file_count--;
}

/*
 * File objects
 */

struct blobfs_file *blobfs_file_alloc(struct spio_filesystem *fs, const char *name,
				      spio_blob_id blobid, uint64_t length)
{
	struct blobfs_file *file = calloc(1, sizeof(*file));

	if (file == NULL) {
		return NULL;
	}
	file->fs = fs;
	/* Names are checked to fit before they get here. */
	strncpy(file->name, name, SPIO_FILE_NAME_MAX);
	file->blobid = blobid;
	file->length = length;
	file->length_synced = length;
	TAILQ_INIT(&file->waiters);
	return file;
}

void blobfs_file_free(struct blobfs_file *file)
{
	free(file);
}

void blobfs_file_busy(struct blobfs_file *file)
{
	file->busy = true;
	file->fs->busy_count++;
}

void blobfs_file_unbusy(struct blobfs_file *file)
{
	struct blobfs_waiter_list run = TAILQ_HEAD_INITIALIZER(run);
	struct blobfs_waiter *w;

	file->busy = false;
	file->fs->busy_count--;
	/* Each waiter starts over from its name: the first may make the file busy again,
	 * and the rest then queue again behind it. */
	TAILQ_CONCAT(&run, &file->waiters, link);
	while ((w = TAILQ_FIRST(&run)) != NULL) {
		TAILQ_REMOVE(&run, w, link);
		w->fn(w->arg);
	}
}

void blobfs_file_wait(struct blobfs_file *file, struct blobfs_waiter *w, void (*fn)(void *),
		      void *arg)
{
	w->fn = fn;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&file->waiters, w, link);
}
