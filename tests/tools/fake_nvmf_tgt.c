/*
 * fake_nvmf_tgt: the tests' fake NVMe/TCP target (tests/unit/nvme/
 * helper_fake_target.h) as a program, for shell tests of the initiator's
 * tools. Prints "port <n>" on stdout once listening, serves on 127.0.0.1
 * until SIGTERM or SIGINT, then exits 0. Bad options: a message and exit 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/nvme_spec.h"

#include "helper_fake_target.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: fake_nvmf_tgt [options]\n"
		"  --port N            TCP port on 127.0.0.1 (default 0: any free port)\n"
		"  --subnqn NQN        subsystem NQN (default %s)\n"
		"  --ns-size MiB       size of each namespace (default 64)\n"
		"  --namespaces N      namespaces 1..N (default 1, at most %u)\n"
		"  --digests           grant the header / data digests a host asks for\n"
		"  --c2h-success       last C2HData of a read carries SUCCESS, no response\n"
		"  --r2t-max BYTES     most bytes one R2T asks for (default: whole transfer)\n"
		"  --maxh2cdata BYTES  MAXH2CDATA in ICResp (default 131072)\n"
		"  --verbose           log events on stderr\n"
		"  --help\n",
		FAKE_TARGET_SUBNQN, FAKE_TARGET_MAX_NS);
}

/* Parse a decimal number in [min, max]; false when `s` is not one. */
static bool parse_num(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] == '\0' || s[0] == '-' || *end != '\0' || errno != 0 || v < min || v > max) {
		fprintf(stderr,
			"fake_nvmf_tgt: %s: '%s' is not a number in %" PRIu64 "..%" PRIu64 "\n",
			name, s, min, max);
		return false;
	}
	*out = v;
	return true;
}

enum {
	OPT_PORT = 256,
	OPT_SUBNQN,
	OPT_NS_SIZE,
	OPT_NAMESPACES,
	OPT_DIGESTS,
	OPT_C2H_SUCCESS,
	OPT_R2T_MAX,
	OPT_MAXH2CDATA,
	OPT_VERBOSE,
	OPT_HELP
};

static const struct option g_options[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {"subnqn", required_argument, NULL, OPT_SUBNQN},
    {"ns-size", required_argument, NULL, OPT_NS_SIZE},
    {"namespaces", required_argument, NULL, OPT_NAMESPACES},
    {"digests", no_argument, NULL, OPT_DIGESTS},
    {"c2h-success", no_argument, NULL, OPT_C2H_SUCCESS},
    {"r2t-max", required_argument, NULL, OPT_R2T_MAX},
    {"maxh2cdata", required_argument, NULL, OPT_MAXH2CDATA},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Apply one option to `o`; 0, 1 for a bad value, 2 for --help. */
static int apply_option(int opt, const char *arg, struct fake_target_opts *o)
{
	uint64_t v = 0;

	switch (opt) {
	case OPT_PORT:
		if (!parse_num("--port", arg, 0, 65535, &v)) {
			return 1;
		}
		o->port = (uint16_t)v;
		return 0;
	case OPT_SUBNQN:
		o->subnqn = arg;
		return 0;
	case OPT_NS_SIZE:
		if (!parse_num("--ns-size", arg, 1, 1024 * 1024, &v)) {
			return 1;
		}
		o->ns_size = v * 1024 * 1024;
		return 0;
	case OPT_NAMESPACES:
		if (!parse_num("--namespaces", arg, 0, FAKE_TARGET_MAX_NS, &v)) {
			return 1;
		}
		o->num_namespaces = (uint32_t)v;
		return 0;
	case OPT_DIGESTS:
		o->digests = true;
		return 0;
	case OPT_C2H_SUCCESS:
		o->c2h_success = true;
		return 0;
	case OPT_R2T_MAX:
		if (!parse_num("--r2t-max", arg, 1, UINT32_MAX, &v)) {
			return 1;
		}
		o->r2t_max = (uint32_t)v;
		return 0;
	case OPT_MAXH2CDATA:
		if (!parse_num("--maxh2cdata", arg, SPIO_NVME_TCP_MIN_MAXH2CDATA, UINT32_MAX, &v)) {
			return 1;
		}
		if (v % 4 != 0) {
			fprintf(stderr, "fake_nvmf_tgt: --maxh2cdata: %s is not a multiple of 4\n",
				arg);
			return 1;
		}
		o->maxh2cdata = (uint32_t)v;
		return 0;
	case OPT_VERBOSE:
		o->verbose = true;
		return 0;
	case OPT_HELP:
		return 2;
	default:
		return 1;
	}
}

int main(int argc, char **argv)
{
	struct fake_target_opts opts;
	struct fake_target *ft;
	sigset_t set;
	int opt, sig = 0;

	fake_target_opts_init(&opts);
	while ((opt = getopt_long(argc, argv, "", g_options, NULL)) != -1) {
		int rc = apply_option(opt, optarg, &opts);

		if (rc == 2) {
			usage(stdout);
			return 0;
		}
		if (rc != 0) {
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fake_nvmf_tgt: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 1;
	}

	/* Blocked before the target's threads start, so they inherit the mask and sigwait gets
	 * them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	ft = fake_target_start(&opts);
	if (ft == NULL) {
		return 1;
	}
	printf("port %u\n", fake_target_port(ft));
	fflush(stdout);
	while (sigwait(&set, &sig) != 0) {
	}
	fake_target_stop(ft);
	return 0;
}
