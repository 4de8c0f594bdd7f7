/*
 * spio_tgt: the spdk-io target, SPDK's spdk_tgt (and nvmf_tgt) under another
 * name. Starts the app framework on a core mask, loads a JSON configuration
 * if given (like spdk_tgt, it starts with no bdev and exports nothing
 * otherwise), serves JSON-RPC on a Unix socket and runs until SIGINT/SIGTERM
 * (or spdk_kill_instance). Each time the NVMe-oF target starts listening for
 * a subsystem, the log says which `nvme connect` command reaches it
 * (lib/nvmf); `make run` loads malloc0.json, which exports a Malloc0 bdev
 * that way (docs/nvmf.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/app.h"
#include "spio/cpuset.h"

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

static void tgt_started(void *arg)
{
	const struct spio_app_opts *opts = arg;
	char cores[SPIO_CPUSET_LIST_STR_MAX];
	struct spio_cpuset set;

	spio_app_get_cpuset(&set);
	spio_cpuset_fmt_list(&set, cores, sizeof(cores));
	if (opts->rpc_addr != NULL && opts->rpc_addr[0] != '\0') {
		printf("spio_tgt: ready on cores %s, RPC on %s\n", cores, opts->rpc_addr);
	} else {
		printf("spio_tgt: ready on cores %s, RPC disabled\n", cores);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct spio_app_opts opts;
	int rc;

	spio_app_opts_init(&opts, sizeof(opts));
	opts.name = "spio_tgt";

	rc = spio_app_parse_args(argc, argv, &opts, NULL, NULL, NULL, tgt_usage);
	if (rc != SPIO_APP_PARSE_ARGS_SUCCESS) {
		return rc == SPIO_APP_PARSE_ARGS_HELP ? 0 : rc == SPIO_APP_PARSE_ARGS_FAIL ? 2 : 1;
	}
	if (optind < argc) {
		fprintf(stderr, "spio_tgt: unexpected argument '%s'\n", argv[optind]);
		spio_app_usage(stderr);
		tgt_usage(stderr);
		return 2;
	}
	rc = spio_app_start(&opts, tgt_started, &opts);
	if (rc != 0) {
		fprintf(stderr, "spio_tgt: exiting with error %d (%s)\n", rc,
			strerror(rc < 0 ? -rc : rc));
		return 1;
	}
	return 0;
}
