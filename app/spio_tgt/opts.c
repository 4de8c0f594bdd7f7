/*
 * spio_tgt's command line: the common options of every spdk-io program
 * (spio_app_parse_args()) and nothing else. Nothing here exits: main() turns
 * the result into the exit status.
 */
#include <getopt.h>
#include <stdio.h>

#include "spio/app.h"

#include "opts.h"

/* After the common options. */
static void tgt_usage(FILE *out)
{
	fprintf(out,
		"\nWithout -c, spio_tgt starts with no bdev and exports nothing, as SPDK's\n"
		"spdk_tgt does; create bdevs and NVMe-oF subsystems with JSON-RPC (spio_rpc, or\n"
		"SPDK's rpc.py). -c app/spio_tgt/malloc0.json (what `make run` loads) exports a\n"
		"64 MiB Malloc0 as namespace 1 of nqn.2016-06.io.spdk-io:default on\n"
		"127.0.0.1:4420; the log names the `nvme connect` command for each listener.\n");
}

void tgt_app_opts_init(struct spio_app_opts *app)
{
	spio_app_opts_init(app, sizeof(*app));
	app->name = "spio_tgt";
}

bool tgt_parse_args(int argc, char **argv, struct spio_app_opts *app, int *exit_rc)
{
	int rc;

	rc = spio_app_parse_args(argc, argv, app, NULL, NULL, NULL, tgt_usage);
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
