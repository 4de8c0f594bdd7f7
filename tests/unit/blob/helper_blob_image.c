/* Reading the SPDK-made blobstore images for the blob tests. */
#include "helper_blob_image.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spio/util.h"

#define BIMG_CHUNK 4096

const char *bimg_dir(void)
{
	const char *d = getenv("SPIO_TESTDATA");

	return d != NULL && d[0] != '\0' ? d : SPIO_TESTDATA_DEFAULT;
}

bool bimg_path(const char *name, char *buf)
{
	if (name[0] == '/') {
		snprintf(buf, PATH_MAX, "%s", name);
	} else {
		snprintf(buf, PATH_MAX, "%s/%s", bimg_dir(), name);
	}
	return access(buf, R_OK) == 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	static const uint8_t zero[BIMG_CHUNK];

	return memcmp(p, zero, n) == 0;
}

/*
 * Uncompress `path` with gzip into the sparse file `out` (zero blocks left as
 * holes). \return the raw size, or -1 with `why` set.
 */
static long long gunzip_to_file(const char *path, const char *out, char *why)
{
	char cmd[PATH_MAX + 32];
	uint8_t chunk[BIMG_CHUNK];
	long long total = 0;
	size_t n;
	FILE *fp;
	int status, fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		snprintf(why, 256, "cannot create %.200s", out);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "gzip -dc '%s'", path);
	fp = popen(cmd, "r");
	if (fp == NULL) {
		close(fd);
		snprintf(why, 256, "cannot run %.200s", cmd);
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (!all_zero(chunk, n) && pwrite(fd, chunk, n, total) != (ssize_t)n) {
			total = -1;
			snprintf(why, 256, "cannot write %.200s", out);
			break;
		}
		total += (long long)n;
	}
	status = pclose(fp);
	if (total >= 0 && (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
		snprintf(why, 256, "%.200s failed (status %d)", cmd, status);
		total = -1;
	}
	if (total >= 0 && ftruncate(fd, total) != 0) {
		snprintf(why, 256, "cannot size %.200s", out);
		total = -1;
	}
	close(fd);
	return total;
}

/*
 * The raw image of `path`, uncompressed once into a cache file that later
 * test processes read (gzip costs ~0.4 s per 128 MiB image, and every test
 * case is a process of its own). The cache name carries the source's size
 * and mtime, so a changed image is uncompressed again; concurrent tests each
 * write a temporary file and rename it into place. -1 with `why` set.
 */
static int open_raw_image(const char *path, char *why)
{
	char cache[PATH_MAX + 128], tmp[PATH_MAX + 160];
	const char *dir = getenv("TMPDIR");
	const char *base = strrchr(path, '/');
	struct stat st;
	int fd;

	if (stat(path, &st) != 0) {
		snprintf(why, 256, "%.200s not readable", path);
		return -1;
	}
	snprintf(cache, sizeof(cache), "%s/spio-bimg-%u-%s-%lld-%lld.raw",
		 dir != NULL && dir[0] != '\0' ? dir : "/tmp", (unsigned)getuid(),
		 base != NULL ? base + 1 : path, (long long)st.st_size, (long long)st.st_mtime);
	fd = open(cache, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		return fd;
	}
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", cache, (int)getpid());
	if (gunzip_to_file(path, tmp, why) < 0 || rename(tmp, cache) != 0) {
		unlink(tmp);
		return -1;
	}
	fd = open(cache, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, 256, "cannot open %.200s", cache);
	}
	return fd;
}

long long bimg_gunzip(const char *name, uint8_t *dst, size_t cap, char *why)
{
	char path[PATH_MAX];
	uint8_t chunk[64 * BIMG_CHUNK];
	long long total = 0;
	ssize_t n;
	int fd;

	if (!bimg_path(name, path)) {
		snprintf(why, 256, "%.200s not readable", path);
		return -1;
	}
	fd = open_raw_image(path, why);
	if (fd < 0) {
		return -1;
	}
	while ((n = pread(fd, chunk, sizeof(chunk), total)) > 0) {
		if ((size_t)total + (size_t)n > cap) {
			close(fd);
			snprintf(why, 256, "%.200s is larger than %zu bytes", path, cap);
			return -1;
		}
		/* Copy only what is not zero: `dst` is zeroed and may be a sparse mapping. */
		for (ssize_t off = 0; off < n; off += BIMG_CHUNK) {
			size_t len = SPIO_MIN((size_t)(n - off), (size_t)BIMG_CHUNK);

			if (!all_zero(chunk + off, len)) {
				memcpy(dst + total + off, chunk + off, len);
			}
		}
		total += n;
	}
	close(fd);
	if (n < 0) {
		snprintf(why, 256, "cannot read the cache of %.200s", path);
		return -1;
	}
	return total;
}

uint8_t *bimg_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		perror("bimg_map");
		abort();
	}
	return p;
}

void bimg_unmap(uint8_t *p, size_t size)
{
	munmap(p, size);
}
