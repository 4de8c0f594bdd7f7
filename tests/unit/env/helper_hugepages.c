/* Reserving 2 MiB hugepages for tests that need them (root only). */
#include <stdio.h>

#include "helper_hugepages.h"

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1) {
			v = -1;
		}
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (f == NULL) {
		return -1;
	}
	rc = fprintf(f, "%ld\n", v) > 0 ? 0 : -1;
	if (fclose(f) != 0) {
		rc = -1;
	}
	return rc;
}

#define NR_PATH "/proc/sys/vm/nr_hugepages"
#define FREE_PATH "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

long test_hugepages_reserve(long want_free)
{
	long nr = read_long(NR_PATH), free_now = read_long(FREE_PATH);

	if (nr < 0 || free_now < 0) {
		return -1;
	}
	if (free_now >= want_free) {
		return nr;
	}
	if (write_long(NR_PATH, nr + (want_free - free_now)) != 0) {
		return -1;
	}
	if (read_long(FREE_PATH) < want_free) {
		write_long(NR_PATH, nr);
		return -1;
	}
	return nr;
}

void test_hugepages_restore(long nr)
{
	if (nr >= 0) {
		write_long(NR_PATH, nr);
	}
}
