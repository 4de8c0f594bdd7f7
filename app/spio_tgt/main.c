/*
 * spio_tgt: the spdk-io target, SPDK's spdk_tgt (and nvmf_tgt) under another
 * name. Starts the app framework on a core mask, loads a JSON configuration
 * if given (like spdk_tgt, it starts with no bdev and exports nothing
 * otherwise), serves JSON-RPC on a Unix socket and runs until SIGINT/SIGTERM
 * (or spdk_kill_instance). Each time the NVMe-oF target starts listening for
 * a subsystem, the log says which `nvme connect` command reaches it
 * (lib/nvmf); `make run` loads malloc0.json, which exports a Malloc0 bdev
 * that way (docs/nvmf.md). With --metrics HOST:PORT it also serves
 * Prometheus metrics over HTTP (spio/metrics.h) from the app thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/app.h"
#include "spio/cpuset.h"
#include "spio/metrics.h"

#include "opts.h"

/* On the app thread: the metrics server's poller must go before the thread exits. */
static void tgt_shutdown(void)
{
	spio_metrics_server_stop();
	spio_app_stop(0);
}

static void tgt_started(void *arg)
{
	const struct spio_app_opts *opts = arg;
	char cores[SPIO_CPUSET_LIST_STR_MAX];
	char maddr[80];
	struct spio_cpuset set;
	int rc;

	if (g_tgt_metrics_addr != NULL) {
		rc = spio_metrics_server_start(g_tgt_metrics_addr);
		if (rc != 0) {
			fprintf(stderr, "spio_tgt: --metrics %s: cannot serve metrics: %s\n",
				g_tgt_metrics_addr, strerror(-rc));
			spio_app_stop(rc);
			return;
		}
		if (spio_metrics_server_get_addr(maddr, sizeof(maddr)) == 0) {
			printf("spio_tgt: metrics on http://%s/metrics\n", maddr);
		}
	}
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
	opts.shutdown_cb = tgt_shutdown;
	rc = spio_app_start(&opts, tgt_started, &opts);
	if (rc != 0) {
		fprintf(stderr, "spio_tgt: exiting with error %d (%s)\n", rc,
			strerror(rc < 0 ? -rc : rc));
		return TGT_EXIT_FAIL;
	}
	return TGT_EXIT_OK;
}
