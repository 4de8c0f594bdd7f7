/*
 * spio_dd's command line: spdk_dd's options (--if, --of, --ib, --ob, --iflag,
 * --oflag, --bs, --qd, --count, --skip, --seek, --sparse, --aio) on top of
 * the common options of every spdk-io program (--json FILE, -m, ...), and
 * the combinations that can be refused before anything is opened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "spio/app.h"
#include "spio/util.h"

#include "dd.h"

struct dd_options g_dd_opts = {
    .bs = DD_DEFAULT_BS,
    .qd = DD_DEFAULT_QD,
};

/* spdk_dd's --iflag / --oflag names. */
static const struct {
	const char *name;
	int flag;
} g_flags[] = {
    {"append", O_APPEND},     {"direct", O_DIRECT},	{"directory", O_DIRECTORY},
    {"dsync", O_DSYNC},	      {"noatime", O_NOATIME},	{"noctty", O_NOCTTY},
    {"nofollow", O_NOFOLLOW}, {"nonblock", O_NONBLOCK}, {"sync", O_SYNC},
};

enum {
	OPT_IF = 0x1000,
	OPT_OF,
	OPT_IFLAG,
	OPT_OFLAG,
	OPT_IB,
	OPT_OB,
	OPT_SKIP,
	OPT_SEEK,
	OPT_BS,
	OPT_QD,
	OPT_COUNT,
	OPT_AIO,
	OPT_SPARSE,
};

static void dd_usage(FILE *out)
{
	fprintf(out,
		"\n"
		"spio_dd options (exactly one input and one output):\n"
		"  --if FILE       input file\n"
		"  --ib BDEV       input bdev (name, alias such as lvs0/lvol0, or UUID)\n"
		"  --of FILE       output file (created if missing, truncated unless\n"
		"                  --oflag append)\n"
		"  --ob BDEV       output bdev\n"
		"  --iflag FLAGS   input file flags, comma-separated (see below)\n"
		"  --oflag FLAGS   output file flags, comma-separated\n"
		"  --bs SIZE       I/O unit size in bytes, 4096, 64k, 1M (default %u)\n"
		"  --qd N          I/O units in flight, 1..%u (default %u)\n"
		"  --count N       I/O units to copy (default: all of the input)\n"
		"  --skip N        I/O units to skip at the start of the input (default 0)\n"
		"  --seek N        I/O units to skip at the start of the output (default 0)\n"
		"  --sparse        do not copy the holes of the input file\n"
		"  --aio           accepted for spdk_dd's scripts; files always go through\n"
		"                  io_uring\n"
		"  --json FILE     JSON configuration that creates the bdevs (as -c FILE)\n"
		"\n"
		"File flags: append, direct (O_DIRECT), directory, dsync, noatime, noctty,\n"
		"nofollow, nonblock, sync.\n"
		"\n"
		"Progress and the final rate go to stderr. Exit status: 0 copied, 1 the\n"
		"copy failed (I/O error, short read, missing file or bdev, output too\n"
		"small), 2 bad options or a --bs the devices cannot use.\n",
		DD_DEFAULT_BS, DD_MAX_QD, DD_DEFAULT_QD);
}

/* Translate "direct,noatime" into open(2) flags. */
static int parse_flags(const char *opt, const char *arg, int *out)
{
	const char *p = arg;
	int flags = 0;

	for (;;) {
		size_t len = strcspn(p, ",");
		size_t i;

		for (i = 0; i < SPIO_COUNTOF(g_flags); i++) {
			if (strlen(g_flags[i].name) == len &&
			    strncmp(p, g_flags[i].name, len) == 0) {
				break;
			}
		}
		if (i == SPIO_COUNTOF(g_flags)) {
			fprintf(
			    stderr,
			    "spio_dd: %s %s: unknown file flag '%.*s' (expected append, direct, "
			    "directory, dsync, noatime, noctty, nofollow, nonblock or sync)\n",
			    opt, arg, (int)len, p);
			return -EINVAL;
		}
		flags |= g_flags[i].flag;
		if (p[len] == '\0') {
			break;
		}
		p += len + 1;
	}
	*out = flags;
	return 0;
}

static int parse_count(const char *opt, const char *arg, uint64_t *out)
{
	if (spio_parse_u64(arg, 10, out) != 0) {
		fprintf(stderr, "spio_dd: %s %s: expected a number of I/O units >= 0\n", opt, arg);
		return -EINVAL;
	}
	return 0;
}

/* Each of --if/--of/--ib/--ob at most once: a second one is a typo, not a wish. */
static int set_once(const char **slot, const char *opt, const char *arg)
{
	if (*slot != NULL) {
		fprintf(stderr, "spio_dd: %s %s: given twice (first %s)\n", opt, arg, *slot);
		return -EINVAL;
	}
	*slot = arg;
	return 0;
}

static int dd_parse_opt(int ch, char *arg)
{
	struct dd_options *o = &g_dd_opts;
	uint64_t v;

	switch (ch) {
	case OPT_IF:
		return set_once(&o->input_file, "--if", arg);
	case OPT_OF:
		return set_once(&o->output_file, "--of", arg);
	case OPT_IB:
		return set_once(&o->input_bdev, "--ib", arg);
	case OPT_OB:
		return set_once(&o->output_bdev, "--ob", arg);
	case OPT_IFLAG:
		o->iflag = arg;
		return parse_flags("--iflag", arg, &o->input_flags);
	case OPT_OFLAG:
		o->oflag = arg;
		return parse_flags("--oflag", arg, &o->output_flags);
	case OPT_BS:
		if (spio_parse_capacity(arg, &v) != 0 || v == 0 || v > DD_MAX_BS) {
			fprintf(
			    stderr,
			    "spio_dd: --bs %s: expected a size from 1 byte to 1 GiB (4096, 64k, "
			    "1M)\n",
			    arg);
			return -EINVAL;
		}
		o->bs = v;
		return 0;
	case OPT_QD:
		if (spio_parse_u64(arg, 10, &v) != 0 || v == 0 || v > DD_MAX_QD) {
			fprintf(stderr, "spio_dd: --qd %s: expected a number from 1 to %u\n", arg,
				DD_MAX_QD);
			return -EINVAL;
		}
		o->qd = (uint32_t)v;
		return 0;
	case OPT_COUNT:
		return parse_count("--count", arg, &o->count);
	case OPT_SKIP:
		return parse_count("--skip", arg, &o->skip);
	case OPT_SEEK:
		return parse_count("--seek", arg, &o->seek);
	case OPT_SPARSE:
		o->sparse = true;
		return 0;
	case OPT_AIO:
		return 0;
	}
	return -EINVAL;
}

/* What spdk_dd refuses before it starts, with its wording where it has one. */
static int check_combinations(void)
{
	const struct dd_options *o = &g_dd_opts;

	if (o->input_file != NULL && o->input_bdev != NULL) {
		fprintf(stderr, "spio_dd: You may specify either --if or --ib, but not both.\n");
		return -EINVAL;
	}
	if (o->output_file != NULL && o->output_bdev != NULL) {
		fprintf(stderr, "spio_dd: You may specify either --of or --ob, but not both.\n");
		return -EINVAL;
	}
	if (o->input_file == NULL && o->input_bdev == NULL) {
		fprintf(stderr, "spio_dd: You must specify either --if or --ib\n");
		return -EINVAL;
	}
	if (o->output_file == NULL && o->output_bdev == NULL) {
		fprintf(stderr, "spio_dd: You must specify either --of or --ob\n");
		return -EINVAL;
	}
	if (o->output_file == NULL && o->oflag != NULL) {
		fprintf(stderr, "spio_dd: --oflag may be used only with --of\n");
		return -EINVAL;
	}
	if (o->input_file == NULL && o->iflag != NULL) {
		fprintf(stderr, "spio_dd: --iflag may be used only with --if\n");
		return -EINVAL;
	}
	if (o->sparse && o->input_bdev != NULL) {
		/* spdk_dd asks the bdev for SEEK_DATA / SEEK_HOLE; our bdev layer has neither */
		fprintf(stderr, "spio_dd: --sparse needs --if: bdev %s cannot report its holes\n",
			o->input_bdev);
		return -EINVAL;
	}
	/* overflow would wrap the offsets silently */
	if (o->skip > UINT64_MAX / o->bs || o->seek > UINT64_MAX / o->bs ||
	    o->count > UINT64_MAX / o->bs) {
		fprintf(stderr,
			"spio_dd: --skip %" PRIu64 ", --seek %" PRIu64 " or --count %" PRIu64
			" times --bs %" PRIu64 " is beyond 2^64 bytes\n",
			o->skip, o->seek, o->count, o->bs);
		return -EINVAL;
	}
	return 0;
}

bool dd_parse_args(int argc, char **argv, struct spio_app_opts *app, int *exit_rc)
{
	static const struct option longopts[] = {
	    {"if", required_argument, NULL, OPT_IF},
	    {"of", required_argument, NULL, OPT_OF},
	    {"iflag", required_argument, NULL, OPT_IFLAG},
	    {"oflag", required_argument, NULL, OPT_OFLAG},
	    {"ib", required_argument, NULL, OPT_IB},
	    {"ob", required_argument, NULL, OPT_OB},
	    {"skip", required_argument, NULL, OPT_SKIP},
	    {"seek", required_argument, NULL, OPT_SEEK},
	    {"bs", required_argument, NULL, OPT_BS},
	    {"qd", required_argument, NULL, OPT_QD},
	    {"count", required_argument, NULL, OPT_COUNT},
	    {"aio", no_argument, NULL, OPT_AIO},
	    {"sparse", no_argument, NULL, OPT_SPARSE},
	    {NULL, 0, NULL, 0},
	};
	int rc;

	rc = spio_app_parse_args(argc, argv, app, "", longopts, dd_parse_opt, dd_usage);
	switch (rc) {
	case SPIO_APP_PARSE_ARGS_SUCCESS:
		break;
	case SPIO_APP_PARSE_ARGS_HELP:
		*exit_rc = DD_EXIT_OK;
		return false;
	case SPIO_APP_PARSE_ARGS_FAIL:
		*exit_rc = DD_EXIT_USAGE;
		return false;
	default:
		*exit_rc = DD_EXIT_FAIL; /* a bug in the option table, logged */
		return false;
	}
	if (optind < argc) {
		fprintf(stderr, "spio_dd: unexpected argument '%s' (files are --if/--of FILE)\n",
			argv[optind]);
		*exit_rc = DD_EXIT_USAGE;
		return false;
	}
	if (check_combinations() != 0) {
		*exit_rc = DD_EXIT_USAGE;
		return false;
	}
	return true;
}
