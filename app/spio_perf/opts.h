/*
 * spio_perf's command line (opts.c): the options main.c runs with, parsed
 * apart from main() so that the command-line fuzzer (tests/fuzz/fuzz_cmdline.c)
 * drives the very parser the program uses.
 */
#ifndef SPIO_PERF_OPTS_H
#define SPIO_PERF_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "spio/app.h"

#define PERF_EXIT_OK 0
#define PERF_EXIT_FAIL 1
#define PERF_EXIT_USAGE 2

/*
 * I/Os in flight per core thread (depth x bdevs). Each completion is a
 * message to that thread, whose queue holds 32 Ki; past it the bdev layer
 * completes inline and recursion can overflow the stack.
 */
#define PERF_MAX_DEPTH 4096
#define PERF_MAX_INFLIGHT_PER_CORE 16384

enum perf_workload {
	WL_READ,
	WL_WRITE,
	WL_RANDREAD,
	WL_RANDWRITE,
	WL_RW,
	WL_RANDRW,
	WL_VERIFY,
	WL_UNMAP,
	WL_FLUSH,
};

/* -w names, indexed by enum perf_workload. */
extern const char *const g_perf_workload_names[];

struct perf_opts {
	enum perf_workload workload;
	uint32_t depth;
	uint64_t io_size;
	uint32_t read_pct;
	uint64_t time_s;
	bool time_given;
	uint64_t io_count; /* per job; 0: no limit */
	bool json;
	const char **bdev_names; /* point into argv; the array is perf_opts_fini()'s to free */
	uint32_t num_bdev_names;
};

/* What the command line asked for; set by perf_parse_args(), read-only afterwards. */
extern struct perf_opts g_perf_opts;

/*
 * The framework options spio_perf starts from before its command line: name,
 * core 0 only, no RPC server, spinning reactors. The caller adds its
 * shutdown_cb.
 */
void perf_app_opts_init(struct spio_app_opts *app);

/*
 * Parse argv (argv[0] the program) into g_perf_opts, reset to its defaults
 * first, and `app` (the common options, from perf_app_opts_init()). Never
 * exits: true to run; false to exit with *exit_rc (PERF_EXIT_OK after -h or
 * -v, PERF_EXIT_USAGE for a bad command line, reported on stderr,
 * PERF_EXIT_FAIL out of memory). Strings in the results point into argv.
 * Call perf_opts_fini() afterwards in either case. Not thread-safe (getopt).
 */
bool perf_parse_args(int argc, char **argv, struct spio_app_opts *app, int *exit_rc);

/* Free what perf_parse_args() allocated; g_perf_opts' bdev list is empty afterwards. */
void perf_opts_fini(void);

#endif /* SPIO_PERF_OPTS_H */
