/* Reading the SPDK-made blobstore images for the blob tests. */
#include "helper_blob_image.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIMG_CHUNK 4096

const char *bimg_dir(void)
{
	const char *d = getenv("SPIO_TESTDATA");

	return d != NULL && d[0] != '\0' ? d : SPIO_TESTDATA_DEFAULT;
}

bool bimg_path(const char *name, char *buf)
{
	snprintf(buf, PATH_MAX, "%s/%s", bimg_dir(), name);
	return access(buf, R_OK) == 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	static const uint8_t zero[BIMG_CHUNK];

	return memcmp(p, zero, n) == 0;
}

long long bimg_gunzip(const char *name, uint8_t *dst, size_t cap, char *why)
{
	char path[PATH_MAX], cmd[PATH_MAX + 32];
	uint8_t chunk[BIMG_CHUNK];
	size_t total = 0, n;
	FILE *fp;
	int status;

	if (!bimg_path(name, path)) {
		snprintf(why, 256, "%.200s not readable", path);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "gzip -dc '%s'", path);
	fp = popen(cmd, "r");
	if (fp == NULL) {
		snprintf(why, 256, "cannot run %.200s", cmd);
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (total + n > cap) {
			pclose(fp);
			snprintf(why, 256, "%.200s is larger than %zu bytes", path, cap);
			return -1;
		}
		if (!all_zero(chunk, n)) {
			memcpy(dst + total, chunk, n);
		}
		total += n;
	}
	status = pclose(fp);
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(why, 256, "%.200s failed (status %d)", cmd, status);
		return -1;
	}
	return (long long)total;
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
