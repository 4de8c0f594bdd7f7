/*
 * bench_json: throughput of the streaming JSON writer.
 *
 * Writes documents of N (default 1,000,000) items into a callback that only
 * counts bytes, and prints one JSON line per case:
 *   {"bench":"json_write","case":"objects","items":1000000,"values":5000000,
 *    "bytes":...,"seconds":...,"ns_per_value":...,"mb_per_s":...}
 * A "value" is one write call that produces a JSON value (an object counts
 * once, each named member once). MB is 10^6 bytes.
 *
 * Usage: bench_json [items]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "spio/json.h"

struct bench_case {
	const char *name;
	uint32_t flags;
	/* writes item `i` and returns the number of values it wrote */
	uint64_t (*write_item)(struct spio_json_write_ctx *w, uint64_t i);
};

static int sink_cb(void *ctx, const void *data, size_t size)
{
	uint64_t *bytes = ctx;

	(void)data;
	*bytes += size;
	return 0;
}

static uint64_t write_object(struct spio_json_write_ctx *w, uint64_t i)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_uint64(w, "id", i);
	spio_json_write_named_string(w, "name", "Malloc0");
	spio_json_write_named_uint64(w, "num_blocks", i * 4096 + 17);
	spio_json_write_named_bool(w, "claimed", i & 1);
	spio_json_write_object_end(w);
	return 5;
}

static uint64_t write_escaped_string(struct spio_json_write_ctx *w, uint64_t i)
{
	spio_json_write_string(w, (i & 1) ? "tab\there \"quoted\" caf\xc3\xa9"
					  : "line\nbreak \xe6\x97\xa5\xe6\x9c\xac \\ end");
	return 1;
}

static uint64_t write_double(struct spio_json_write_ctx *w, uint64_t i)
{
	spio_json_write_double(w, (double)i / 7.0);
	return 1;
}

static uint64_t write_integer(struct spio_json_write_ctx *w, uint64_t i)
{
	spio_json_write_uint64(w, i * 2654435761u);
	return 1;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_case(const struct bench_case *c, uint64_t items)
{
	struct spio_json_write_ctx *w;
	uint64_t bytes = 0, values = 1, i;
	double start, elapsed;
	int rc;

	start = now_seconds();
	w = spio_json_write_begin(sink_cb, &bytes, c->flags);
	if (w == NULL) {
		fprintf(stderr, "bench_json: %s: spio_json_write_begin failed: errno %d\n", c->name,
			errno);
		return -1;
	}
	spio_json_write_array_begin(w);
	for (i = 0; i < items; i++) {
		values += c->write_item(w, i);
	}
	spio_json_write_array_end(w);
	rc = spio_json_write_end(w);
	elapsed = now_seconds() - start;
	if (rc != 0) {
		fprintf(stderr, "bench_json: %s: spio_json_write_end returned %d\n", c->name, rc);
		return -1;
	}

	printf("{\"bench\":\"json_write\",\"case\":\"%s\",\"items\":%llu,\"values\":%llu,"
	       "\"bytes\":%llu,\"seconds\":%.6f,\"ns_per_value\":%.2f,\"mb_per_s\":%.1f}\n",
	       c->name, (unsigned long long)items, (unsigned long long)values,
	       (unsigned long long)bytes, elapsed, elapsed * 1e9 / (double)values,
	       (double)bytes / 1e6 / elapsed);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct bench_case cases[] = {
	    {"objects", 0, write_object},
	    {"objects_formatted", SPIO_JSON_WRITE_FLAG_FORMATTED, write_object},
	    {"strings_escaped", 0, write_escaped_string},
	    {"integers", 0, write_integer},
	    {"doubles", 0, write_double},
	};
	uint64_t items = 1000000;
	size_t i;
	int failed = 0;

	if (argc > 1) {
		char *end;

		items = strtoull(argv[1], &end, 0);
		if (*argv[1] == '\0' || *end != '\0' || items == 0) {
			fprintf(stderr, "usage: %s [items]  (items: a positive number, got '%s')\n",
				argv[0], argv[1]);
			return 2;
		}
	}

	for (i = 0; i < SPIO_COUNTOF(cases); i++) {
		if (run_case(&cases[i], items) != 0) {
			failed = 1;
		}
	}
	return failed;
}
