/*
 * The blobstore images SPDK made (see the README next to them) for the blob
 * tests: where they are, and reading one into memory.
 */
#ifndef HELPER_BLOB_IMAGE_H
#define HELPER_BLOB_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Raw sizes of the two images (their manifests' image_raw_size). */
#define BIMG_BLOBCLI_SIZE (64ULL << 20)
#define BIMG_LVOL_SIZE (128ULL << 20)

/*
 * The test data directory: $SPIO_TESTDATA, else the one the build found
 * (CMake's SPIO_TESTDATA_DIR, compiled in as SPIO_TESTDATA_DEFAULT).
 */
const char *bimg_dir(void);

/* `dir`/`name` (or `name` itself when it is absolute) into `buf` (PATH_MAX); true if that
 * file can be read. */
bool bimg_path(const char *name, char *buf);

/*
 * Uncompress `name` (a .img.gz of the data directory, or an absolute path) into `dst` of `cap`
 * bytes, which must be zeroed: all-zero 4 KiB blocks are skipped, so a sparse
 * mapping stays sparse. The first call uncompresses with `gzip -dc` into a
 * cache file under $TMPDIR (or /tmp) that later calls, from any process, read.
 * \return the raw size, or -1 with `why` (256 bytes) set.
 */
long long bimg_gunzip(const char *name, uint8_t *dst, size_t cap, char *why);

/* An anonymous zeroed mapping of `size` bytes (pages cost nothing until written); aborts on
 * failure. */
uint8_t *bimg_map(size_t size);
void bimg_unmap(uint8_t *p, size_t size);

#endif /* HELPER_BLOB_IMAGE_H */
