/*
 * spio_tgt: the spdk-io target. Starts the app framework on a core mask,
 * loads a JSON configuration (or the built-in default), serves JSON-RPC on a
 * Unix socket and runs until SIGINT/SIGTERM (or spdk_kill_instance).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/app.h"
#include "spio/cpuset.h"

/*
 * The configuration used without -c (documented in the README): one 64 MiB
 * malloc bdev, Malloc0, with 512-byte blocks. Its NVMe/TCP export on
 * 127.0.0.1:4420 joins when the NVMe-oF target exists.
 */
static const char g_default_config[] =
    "{\"subsystems\": [{\"subsystem\": \"bdev\", \"config\": ["
    "{\"method\": \"bdev_malloc_create\","
    " \"params\": {\"name\": \"Malloc0\", \"num_blocks\": 131072, \"block_size\": 512}},"
    "{\"method\": \"bdev_wait_for_examine\"}]}]}";

/* After the common options: what -c replaces. */
static void tgt_usage(FILE *out)
{
	fprintf(out,
		"\nWithout -c, spio_tgt runs a built-in configuration: one 64 MiB malloc bdev,\n"
		"Malloc0 (512-byte blocks).\n");
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
	if (opts.json_config_file == NULL) {
		opts.json_config_text = g_default_config;
	}

	rc = spio_app_start(&opts, tgt_started, &opts);
	if (rc != 0) {
		fprintf(stderr, "spio_tgt: exiting with error %d (%s)\n", rc,
			strerror(rc < 0 ? -rc : rc));
		return 1;
	}
	return 0;
}
