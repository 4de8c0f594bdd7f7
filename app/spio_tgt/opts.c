/*
 * spio_tgt's command line: the common options of every spdk-io program
 * (spio_app_parse_args()) and spio_tgt's own --metrics. Nothing here exits:
 * main() turns the result into the exit status.
 */
#include <getopt.h>
#include <stdio.h>

#include "spio/app.h"
#include "spio/metrics.h"

#include "opts.h"

/* Long-only options: values out of any letter's way. */
enum {
	OPT_METRICS = 256,
};

const char *g_tgt_metrics_addr;

static int tgt_parse_opt(int ch, char *arg)
{
	char err[192];

	switch (ch) {
	case OPT_METRICS:
		if (spio_metrics_check_addr(arg, err, sizeof(err)) != 0) {
			fprintf(stderr, "spio_tgt: --metrics %s: %s\n", arg, err);
			return -1;
		}
		g_tgt_metrics_addr = arg;
		return 0;
	default:
		return -1;
	}
}

/* After the common options. */
static void tgt_usage(FILE *out)
{
	fprintf(out,
		"\nWithout -c, spio_tgt starts with no bdev and exports nothing, as SPDK's\n"
		"spdk_tgt does; create bdevs and NVMe-oF subsystems with JSON-RPC (spio_rpc, or\n"
		"SPDK's rpc.py). -c app/spio_tgt/malloc0.json (what `make run` loads) exports a\n"
		"64 MiB Malloc0 as namespace 1 of nqn.2016-06.io.spdk-io:default on\n"
		"127.0.0.1:4420; the log names the `nvme connect` command for each listener.\n"
		"\nspio_tgt options:\n"
		"     --metrics HOST:PORT  serve Prometheus metrics on http://HOST:PORT/metrics\n"
		"                          (HOST an IPv4 literal or [IPv6]; PORT 0 picks a free\n"
		"                          port, shown in the ready line); off by default\n");
}

void tgt_app_opts_init(struct spio_app_opts *app)
{
	spio_app_opts_init(app, sizeof(*app));
	app->name = "spio_tgt";
}

bool tgt_parse_args(int argc, char **argv, struct spio_app_opts *app, int *exit_rc)
{
	static const struct option longopts[] = {
	    {"metrics", required_argument, NULL, OPT_METRICS},
	    {NULL, 0, NULL, 0},
	};
	int rc;

	g_tgt_metrics_addr = NULL;
	rc = spio_app_parse_args(argc, argv, app, NULL, longopts, tgt_parse_opt, tgt_usage);
	if (rc != SPIO_APP_PARSE_ARGS_SUCCESS) {
		*exit_rc = rc == SPIO_APP_PARSE_ARGS_HELP   ? TGT_EXIT_OK
			   : rc == SPIO_APP_PARSE_ARGS_FAIL ? TGT_EXIT_USAGE
							    : TGT_EXIT_FAIL;
		return false;
	}
	if (optind < argc) {
		fprintf(stderr, "spio_tgt: unexpected argument '%s'\n", argv[optind]);
		spio_app_usage(stderr);
		tgt_usage(stderr);
		*exit_rc = TGT_EXIT_USAGE;
		return false;
	}
	return true;
}
