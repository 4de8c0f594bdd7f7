/*
 * spio_perf's command line: its own options (-b, -q, -o, -w, -M, -t, -n,
 * --json) on top of the common options of every spdk-io program
 * (spio_app_parse_args()). Nothing here exits: main() turns the result into
 * the exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/app.h"
#include "spio/util.h"

#include "opts.h"

const char *const g_perf_workload_names[] = {
    [WL_READ] = "read",		  [WL_WRITE] = "write", [WL_RANDREAD] = "randread",
    [WL_RANDWRITE] = "randwrite", [WL_RW] = "rw",	[WL_RANDRW] = "randrw",
    [WL_VERIFY] = "verify",	  [WL_UNMAP] = "unmap", [WL_FLUSH] = "flush",
};

#define PERF_NUM_WORKLOADS ((uint32_t)WL_FLUSH + 1)

static const struct perf_opts g_perf_defaults = {
    .workload = WL_RANDREAD,
    .depth = 32,
    .io_size = 4096,
    .read_pct = 50,
    .time_s = 5,
};

/* g_perf_defaults from perf_parse_args() on */
struct perf_opts g_perf_opts;

/* After the common options (-c, -m, -r, --no-huge, ... from spio_app_usage). */
static void perf_usage(FILE *out)
{
	fprintf(out,
		"\n"
		"spio_perf options:\n"
		"  -b, --bdev NAME         bdev to run on (repeatable); default: every unclaimed\n"
		"                          bdev\n"
		"  -q, --queue-depth N     I/Os in flight per job, 1..4096 (default 32)\n"
		"  -o, --io-size SIZE      bytes per I/O, e.g. 4096, 4k, 128k (default 4k)\n"
		"  -w, --workload TYPE     read, write, randread, randwrite, rw, randrw, verify,\n"
		"                          unmap or flush (default randread)\n"
		"  -M, --rwmixread PCT     read percentage of rw and randrw (default 50)\n"
		"  -t, --time SECONDS      run time (default 5; with -n, a cap of 1 hour)\n"
		"  -n, --io-count N        stop each job after N I/Os (a fixed amount of work,\n"
		"                          as fio's --number_ios); the run ends when all did\n"
		"      --json              print the result as one JSON object (the configuration\n"
		"                          file, SPDK's --json FILE, is -c FILE here)\n"
		"\n"
		"One job per core of -m and bdev. Reactors spin (--idle poll) unless told\n"
		"otherwise; no RPC server runs unless -r is given.\n"
		"\n"
		"Exit status: 0 success, 1 I/O errors, miscompares or start-up failure,\n"
		"2 bad options.\n");
}

static int parse_u32(const char *opt, const char *arg, uint64_t min, uint64_t max, uint32_t *out)
{
	uint64_t v;

	if (spio_parse_u64(arg, 10, &v) != 0 || v < min || v > max) {
		fprintf(stderr,
			"spio_perf: %s %s: expected a number from %" PRIu64 " to %" PRIu64 "\n",
			opt, arg, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_workload(const char *arg)
{
	uint32_t i;

	for (i = 0; i < PERF_NUM_WORKLOADS; i++) {
		if (strcmp(arg, g_perf_workload_names[i]) == 0) {
			g_perf_opts.workload = (enum perf_workload)i;
			return 0;
		}
	}
	fprintf(stderr,
		"spio_perf: -w %s: expected read, write, randread, randwrite, rw, randrw, "
		"verify, unmap or flush\n",
		arg);
	return -EINVAL;
}

enum {
	OPT_JSON = 256,
};

/* The app's own options; spio_app_parse_args() hands them to perf_parse_opt(). */
static int perf_parse_opt(int ch, char *arg)
{
	uint32_t v32;
	uint64_t v;

	switch (ch) {
	case 'b':
		g_perf_opts.bdev_names[g_perf_opts.num_bdev_names++] = arg;
		return 0;
	case 'q':
		return parse_u32("-q", arg, 1, PERF_MAX_DEPTH, &g_perf_opts.depth);
	case 'o':
		if (spio_parse_capacity(arg, &v) != 0 || v == 0 || v > (1u << 30)) {
			fprintf(stderr,
				"spio_perf: -o %s: expected a size from 1 byte to 1 GiB "
				"(4096, 4k, 128k)\n",
				arg);
			return -EINVAL;
		}
		g_perf_opts.io_size = v;
		return 0;
	case 'w':
		return parse_workload(arg);
	case 'M':
		return parse_u32("-M", arg, 0, 100, &g_perf_opts.read_pct);
	case 't':
		if (parse_u32("-t", arg, 1, 1000000, &v32) != 0) {
			return -EINVAL;
		}
		g_perf_opts.time_s = v32;
		g_perf_opts.time_given = true;
		return 0;
	case 'n':
		if (spio_parse_u64(arg, 10, &v) != 0 || v == 0) {
			fprintf(stderr, "spio_perf: -n %s: expected a number of I/Os >= 1\n", arg);
			return -EINVAL;
		}
		g_perf_opts.io_count = v;
		return 0;
	case OPT_JSON:
		g_perf_opts.json = true;
		return 0;
	}
	return -EINVAL;
}

void perf_app_opts_init(struct spio_app_opts *app)
{
	spio_app_opts_init(app, sizeof(*app));
	app->name = "spio_perf";
	app->reactor_mask = "0x1";
	app->rpc_addr = NULL;
	app->idle_mode = SPIO_APP_IDLE_POLL;
}

void perf_opts_fini(void)
{
	free(g_perf_opts.bdev_names);
	g_perf_opts.bdev_names = NULL;
	g_perf_opts.num_bdev_names = 0;
}

/*
 * Common options through spio_app_parse_args(); -n and --json are ours (they
 * replace SPDK's -n/--mem-channels letter and --json alias of -c).
 */
bool perf_parse_args(int argc, char **argv, struct spio_app_opts *app, int *exit_rc)
{
	static const struct option longopts[] = {
	    {"bdev", required_argument, NULL, 'b'},
	    {"queue-depth", required_argument, NULL, 'q'},
	    {"io-size", required_argument, NULL, 'o'},
	    {"workload", required_argument, NULL, 'w'},
	    {"rwmixread", required_argument, NULL, 'M'},
	    {"time", required_argument, NULL, 't'},
	    {"io-count", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, OPT_JSON},
	    {NULL, 0, NULL, 0},
	};
	const char *extra;
	size_t len;
	int rc;

	perf_opts_fini();
	g_perf_opts = g_perf_defaults;
	/* at most one -b per argument */
	g_perf_opts.bdev_names =
	    calloc(argc > 0 ? (size_t)argc : 1, sizeof(*g_perf_opts.bdev_names));
	if (g_perf_opts.bdev_names == NULL) {
		fprintf(stderr, "spio_perf: out of memory\n");
		*exit_rc = PERF_EXIT_FAIL;
		return false;
	}

	rc = spio_app_parse_args(argc, argv, app, "b:q:o:w:M:t:n:", longopts, perf_parse_opt,
				 perf_usage);
	switch (rc) {
	case SPIO_APP_PARSE_ARGS_SUCCESS:
		break;
	case SPIO_APP_PARSE_ARGS_HELP:
		*exit_rc = PERF_EXIT_OK;
		return false;
	case SPIO_APP_PARSE_ARGS_FAIL:
		*exit_rc = PERF_EXIT_USAGE;
		return false;
	default:
		*exit_rc = PERF_EXIT_FAIL; /* a bug in the option tables, or no argv: logged */
		return false;
	}
	if (optind < argc) {
		extra = argv[optind];
		len = strlen(extra);
		fprintf(stderr, "spio_perf: unexpected argument '%s'%s\n", extra,
			/* bdevperf's habit: --json FILE */
			g_perf_opts.json && len > 5 && strcmp(extra + len - 5, ".json") == 0
			    ? " (--json takes no file here: the configuration is -c FILE)"
			    : "");
		spio_app_usage(stderr);
		perf_usage(stderr);
		*exit_rc = PERF_EXIT_USAGE;
		return false;
	}
	if (g_perf_opts.io_count != 0 && !g_perf_opts.time_given) {
		g_perf_opts.time_s = 3600;
	}
	return true;
}
