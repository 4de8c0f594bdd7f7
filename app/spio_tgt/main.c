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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/app.h"
#include "spio/cpuset.h"

#include "opts.h"

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

	tgt_app_opts_init(&opts);
	if (!tgt_parse_args(argc, argv, &opts, &rc)) {
		return rc;
	}
	rc = spio_app_start(&opts, tgt_started, &opts);
	if (rc != 0) {
		fprintf(stderr, "spio_tgt: exiting with error %d (%s)\n", rc,
			strerror(rc < 0 ? -rc : rc));
		return TGT_EXIT_FAIL;
	}
	return TGT_EXIT_OK;
}
