/*
 * spio_tgt: the spdk-io target. Starts the app framework on a core mask,
 * loads a JSON configuration (or the built-in default), serves JSON-RPC on a
 * Unix socket and runs until SIGINT/SIGTERM (or spdk_kill_instance).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/app.h"
#include "spio/cpuset.h"
#include "spio/log.h"
#include "spio/rpc.h"
#include "spio/util.h"

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

static char g_log_flags[1024];

static void usage(FILE *out, const char *prog)
{
	fprintf(
	    out,
	    "Usage: %s [options]\n"
	    "\n"
	    "Options:\n"
	    "  -m, --cpumask MASK      reactor cores: a hex mask (0x3) or a list ([0-1]);\n"
	    "                          default: every core of the process's affinity\n"
	    "  -p, --main-core CORE    core of the main reactor (default: first of the mask)\n"
	    "  -c, --config FILE       JSON configuration (SPDK format); default: built-in\n"
	    "                          one 64 MiB malloc bdev, Malloc0\n"
	    "  -r, --rpc-socket PATH   JSON-RPC Unix socket (default %s);\n"
	    "                          \"\" disables the RPC server\n"
	    "  -s, --mem-size MB       DMA memory to reserve in MiB (default: grow on demand)\n"
	    "      --no-huge           use ordinary pages for DMA memory\n"
	    "  -L, --logflag FLAG      enable a debug log flag (repeatable; implies debug level)\n"
	    "      --log-level LEVEL   error, warn, notice, info or debug\n"
	    "      --idle MODE         adaptive (sleep when idle, default) or poll (spin)\n"
	    "  -h, --help              show this help\n",
	    prog, SPIO_RPC_DEFAULT_SOCKET);
}

static int add_log_flag(const char *flag)
{
	size_t len = strlen(g_log_flags);

	if (flag[0] == '\0' || strchr(flag, ':') != NULL ||
	    len + strlen(flag) + 2 > sizeof(g_log_flags)) {
		return -EINVAL;
	}
	snprintf(g_log_flags + len, sizeof(g_log_flags) - len, "%s%s", len ? "," : "", flag);
	return 0;
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

enum {
	OPT_NO_HUGE = 256,
	OPT_LOG_LEVEL,
	OPT_IDLE,
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"cpumask", required_argument, NULL, 'm'},
	    {"main-core", required_argument, NULL, 'p'},
	    {"config", required_argument, NULL, 'c'},
	    {"rpc-socket", required_argument, NULL, 'r'},
	    {"mem-size", required_argument, NULL, 's'},
	    {"no-huge", no_argument, NULL, OPT_NO_HUGE},
	    {"logflag", required_argument, NULL, 'L'},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"idle", required_argument, NULL, OPT_IDLE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct spio_app_opts opts;
	uint64_t val;
	int ch, rc;

	spio_app_opts_init(&opts, sizeof(opts));
	opts.name = "spio_tgt";

	while ((ch = getopt_long(argc, argv, "m:p:c:r:s:L:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			opts.reactor_mask = optarg;
			break;
		case 'p':
			if (spio_parse_u64(optarg, 0, &val) != 0 || val >= SPIO_CPUSET_MAX_CORES) {
				fprintf(stderr, "spio_tgt: -p %s: expected a core number\n",
					optarg);
				return 2;
			}
			opts.main_core = (uint32_t)val;
			break;
		case 'c':
			opts.json_config_file = optarg;
			break;
		case 'r':
			opts.rpc_addr = optarg;
			break;
		case 's':
			if (spio_parse_capacity(optarg, &val) != 0) {
				fprintf(stderr, "spio_tgt: -s %s: expected a size in MiB\n",
					optarg);
				return 2;
			}
			opts.mem_size_mb = val;
			break;
		case OPT_NO_HUGE:
			opts.no_huge = true;
			break;
		case 'L':
			if (add_log_flag(optarg) != 0) {
				fprintf(stderr, "spio_tgt: -L %s: expected a log flag name\n",
					optarg);
				return 2;
			}
			break;
		case OPT_LOG_LEVEL:
			if (spio_log_level_from_string(optarg) < SPIO_LOG_DISABLED) {
				fprintf(stderr,
					"spio_tgt: --log-level %s: expected error, warn, notice, "
					"info or debug\n",
					optarg);
				return 2;
			}
			opts.log_level = optarg;
			break;
		case OPT_IDLE:
			if (strcmp(optarg, "adaptive") == 0) {
				opts.idle_mode = SPIO_APP_IDLE_ADAPTIVE;
			} else if (strcmp(optarg, "poll") == 0) {
				opts.idle_mode = SPIO_APP_IDLE_POLL;
			} else {
				fprintf(stderr, "spio_tgt: --idle %s: expected adaptive or poll\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "spio_tgt: unexpected argument '%s'\n", argv[optind]);
		usage(stderr, argv[0]);
		return 2;
	}
	if (g_log_flags[0] != '\0') {
		opts.log_flags = g_log_flags;
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
