/* Helpers shared by the bench/ programs (see bench_util.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "spio/env.h"

int bench_file_write_cb(void *ctx, const void *data, size_t size)
{
	return fwrite(data, 1, size, ctx) == size ? 0 : -EIO;
}

double bench_round_to(double x, int digits)
{
	double scale = pow(10, digits);

	return round(x * scale) / scale;
}

double bench_ticks_to_ns(uint64_t ticks)
{
	return (double)ticks * 1e9 / (double)spio_get_ticks_hz();
}

int bench_parse_ms(const char *prog, const char *value, uint64_t *ms)
{
	char *end;
	unsigned long long v = strtoull(value, &end, 10);

	if (*value == '\0' || *end != '\0' || v == 0 || v > 600000) {
		fprintf(stderr, "%s: -t wants milliseconds 1..600000, got '%s'\n", prog, value);
		return -EINVAL;
	}
	*ms = v;
	return 0;
}

int bench_parse_args(int argc, char **argv, uint64_t *ms)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			if (bench_parse_ms(argv[0], argv[++i], ms) != 0) {
				return -EINVAL;
			}
		} else {
			fprintf(stderr, "usage: %s [-t ms_per_run]  (unknown argument '%s')\n",
				argv[0], argv[i]);
			return -EINVAL;
		}
	}
	return 0;
}
