/*
 * spio_blobcli's command parser: SPDK blobcli's letters and operands
 * ("-x <blobid> name value"), shared by the command line, the shell (-S)
 * and scripts (-T), plus --thin, --no-huge and --json. Operands after an
 * option's argument are taken in order, as blobcli takes them; anything
 * left over is an error rather than silently ignored.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/util.h"

#include "blobcli.h"

enum {
	OPT_THIN = 0x1000,
	OPT_NO_HUGE,
};

/* Leading ':': a missing argument returns ':' rather than '?'. */
static const char g_optstring[] = ":b:d:f:hij:l:m:n:p:r:s:w:DRST:Xx:";

static const struct option g_longopts[] = {
    {"json", required_argument, NULL, 'j'},
    {"thin", no_argument, NULL, OPT_THIN},
    {"no-huge", no_argument, NULL, OPT_NO_HUGE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void cli_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout); /* keep stdout's progress text before the error */
	fprintf(stderr, CLI_NAME ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_usage(bool commands_only)
{
	if (!commands_only) {
		printf("Usage: " CLI_NAME " [-j JSON_CONFIG] -b BDEV COMMAND\n"
		       "\n" CLI_NAME
		       " works on the blobstore of a bdev that the JSON configuration\n"
		       "creates (default ./" CLI_DEFAULT_CONFIG
		       "), one command per run: it loads the\n"
		       "blobstore, does the command and unloads it (SPDK's blobcli).\n");
	}
	printf("\nCommands:\n"
	       "\t-b bdev - name of the bdev holding the blobstore (example: Nvme0n1)\n"
	       "\t-d <blobid> filename - dump the contents of a blob to a file\n"
	       "\t-D - dump the metadata of the blobstore\n"
	       "\t-f <blobid> value - fill a blob with a byte value (90, 0x5a)\n"
	       "\t-h - this help\n"
	       "\t-i - initialize a blobstore (asks for y/n on stdin)\n"
	       "\t-l bdevs | blobs - list the bdevs or the blobs\n"
	       "\t-m <blobid> filename - import a file into a blob (the rest is zeroed)\n"
	       "\t-n <# clusters> - create a blob; add --thin for a thin-provisioned one\n"
	       "\t-p <blobid> - set the super blob\n"
	       "\t-r <blobid> name - remove an xattr\n"
	       "\t-R - recover the blobstore: rebuild its masks from the metadata\n"
	       "\t-s <blobid> | bs - show a blob or the blobstore\n"
	       "\t-S - interactive shell mode\n"
	       "\t-T <filename> [ignore] - run the commands of a script, one a line;\n"
	       "\t     $B0, $B1, ... name the blobs it created; ignore: go on after errors\n"
	       "\t-w <blobid> - delete (whack) a blob\n"
	       "\t-x <blobid> name value - set an xattr (the value is stored with its NUL)\n"
	       "\t-X - leave the shell\n");
	if (!commands_only) {
		printf("\nOther options:\n"
		       "\t-j, --json FILE - the JSON configuration (SPDK's format)\n"
		       "\t--no-huge - ordinary pages instead of hugepages for DMA memory\n"
		       "\nExit status: 0 done, 1 failed (the reason goes to stderr).\n");
	}
	printf("\n");
}

int cli_parse_blobid(const char *str, spio_blob_id *id)
{
	uint64_t v;

	if (spio_parse_u64(str, 0, &v) != 0 || v == SPIO_BLOBID_INVALID) {
		return -EINVAL;
	}
	*id = v;
	return 0;
}

static int parse_blobid_opt(char opt, const char *str, spio_blob_id *id)
{
	if (cli_parse_blobid(str, id) != 0) {
		cli_err("-%c %s: expected a blob id (0x100000000 or 4294967296)", opt, str);
		return -EINVAL;
	}
	return 0;
}

/* The `n` operands that follow option `opt`'s argument. */
static int take_operands(int argc, char **argv, char opt, int n, const char *what, const char **out)
{
	int i;

	if (argc - optind < n) {
		cli_err("-%c: missing parameter: expected -%c %s", opt, opt, what);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		out[i] = argv[optind + i];
	}
	optind += n; /* glibc's getopt copes: they count as the option's */
	return 0;
}

static int set_action(struct cli_cmd *cmd, enum cli_action action, char opt, char *prev)
{
	if (cmd->action != CLI_NONE) {
		cli_err("-%c: only one command at a time (-%c given already)", opt, *prev);
		return -EINVAL;
	}
	cmd->action = action;
	*prev = opt;
	return 0;
}

static int set_bdev(const char *name)
{
	if (g_cli.bdev_name != NULL) {
		if (strcmp(g_cli.bdev_name, name) == 0) {
			return 0;
		}
		cli_err("-b %s: the bdev is %s already (-b can be set once)", name,
			g_cli.bdev_name);
		return -EINVAL;
	}
	g_cli.bdev_name = strdup(name);
	if (g_cli.bdev_name == NULL) {
		cli_err("out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int parse_fill_value(const char *str, uint8_t *out)
{
	uint64_t v;

	if (spio_parse_u64(str, 0, &v) != 0 || v > 0xff) {
		cli_err("-f: value %s: expected a byte value, 0 to 255 (90, 0x5a)", str);
		return -EINVAL;
	}
	*out = (uint8_t)v;
	return 0;
}

/* Options of the command line itself, not of a shell or script line. */
static int check_cmdline_only(char opt, enum cli_mode mode)
{
	if (mode != CLI_MODE_CMD) {
		cli_err("-%c: only on the command line, not in shell or script mode", opt);
		return -EINVAL;
	}
	return 0;
}

static int parse_one(int ch, int argc, char **argv, enum cli_mode mode, struct cli_cmd *cmd,
		     char *prev)
{
	const char *ops[2];

	switch (ch) {
	case 'b':
		return set_bdev(optarg);
	case 'j':
		if (check_cmdline_only('j', mode) != 0) {
			return -EINVAL;
		}
		g_cli.config_file = optarg;
		return 0;
	case OPT_NO_HUGE:
		if (mode != CLI_MODE_CMD) {
			cli_err("--no-huge: only on the command line");
			return -EINVAL;
		}
		g_cli.no_huge = true;
		return 0;
	case OPT_THIN:
		cmd->thin = true;
		return 0;
	case 'D':
		return set_action(cmd, CLI_DUMP_BS, 'D', prev);
	case 'R':
		return set_action(cmd, CLI_RECOVER, 'R', prev);
	case 'h':
		return set_action(cmd, CLI_HELP, 'h', prev);
	case 'i':
		return set_action(cmd, CLI_INIT_BS, 'i', prev);
	case 'S':
		if (check_cmdline_only('S', mode) != 0) {
			return -EINVAL;
		}
		return set_action(cmd, CLI_SHELL, 'S', prev);
	case 'T':
		if (check_cmdline_only('T', mode) != 0 ||
		    set_action(cmd, CLI_SCRIPT, 'T', prev) != 0) {
			return -EINVAL;
		}
		g_cli.script_file = optarg;
		if (optind < argc && strcmp(argv[optind], "ignore") == 0) {
			g_cli.ignore_errors = true;
			optind++;
		}
		return 0;
	case 'X':
		if (mode == CLI_MODE_CMD) {
			cli_err(
			    "-X: leaves the shell (-S) or a script (-T); nothing to leave here");
			return -EINVAL;
		}
		return set_action(cmd, CLI_EXIT, 'X', prev);
	case 'l':
		if (strcmp(optarg, "bdevs") == 0) {
			return set_action(cmd, CLI_LIST_BDEVS, 'l', prev);
		}
		if (strcmp(optarg, "blobs") == 0) {
			return set_action(cmd, CLI_LIST_BLOBS, 'l', prev);
		}
		cli_err("-l %s: expected bdevs or blobs", optarg);
		return -EINVAL;
	case 'n':
		if (spio_parse_u64(optarg, 10, &cmd->num_clusters) != 0 || cmd->num_clusters == 0) {
			cli_err("-n %s: expected a number of clusters >= 1", optarg);
			return -EINVAL;
		}
		return set_action(cmd, CLI_CREATE_BLOB, 'n', prev);
	case 's':
		if (strcmp(optarg, "bs") == 0) {
			return set_action(cmd, CLI_SHOW_BS, 's', prev);
		}
		if (parse_blobid_opt('s', optarg, &cmd->blobid) != 0) {
			return -EINVAL;
		}
		return set_action(cmd, CLI_SHOW_BLOB, 's', prev);
	case 'p':
		if (parse_blobid_opt('p', optarg, &cmd->blobid) != 0) {
			return -EINVAL;
		}
		return set_action(cmd, CLI_SET_SUPER, 'p', prev);
	case 'w':
		if (parse_blobid_opt('w', optarg, &cmd->blobid) != 0) {
			return -EINVAL;
		}
		return set_action(cmd, CLI_DELETE_BLOB, 'w', prev);
	case 'd':
	case 'm':
		if (parse_blobid_opt((char)ch, optarg, &cmd->blobid) != 0 ||
		    take_operands(argc, argv, (char)ch, 1, "<blobid> filename", ops) != 0) {
			return -EINVAL;
		}
		cmd->file = ops[0];
		return set_action(cmd, ch == 'd' ? CLI_DUMP_BLOB : CLI_IMPORT_BLOB, (char)ch, prev);
	case 'f':
		if (parse_blobid_opt('f', optarg, &cmd->blobid) != 0 ||
		    take_operands(argc, argv, 'f', 1, "<blobid> value", ops) != 0 ||
		    parse_fill_value(ops[0], &cmd->fill_value) != 0) {
			return -EINVAL;
		}
		return set_action(cmd, CLI_FILL, 'f', prev);
	case 'r':
		if (parse_blobid_opt('r', optarg, &cmd->blobid) != 0 ||
		    take_operands(argc, argv, 'r', 1, "<blobid> name", ops) != 0) {
			return -EINVAL;
		}
		cmd->key = ops[0];
		return set_action(cmd, CLI_REM_XATTR, 'r', prev);
	case 'x':
		if (parse_blobid_opt('x', optarg, &cmd->blobid) != 0 ||
		    take_operands(argc, argv, 'x', 2, "<blobid> name value", ops) != 0) {
			return -EINVAL;
		}
		cmd->key = ops[0];
		cmd->value = ops[1];
		return set_action(cmd, CLI_SET_XATTR, 'x', prev);
	case ':':
		if (optopt == 'j') {
			cli_err("-j / --json: missing argument");
		} else {
			cli_err("-%c: missing argument", optopt);
		}
		return -EINVAL;
	default:
		if (optopt != 0 && optopt < 0x100) {
			cli_err("-%c: unknown option (-h lists them)", optopt);
		} else {
			cli_err("%s: unknown option (-h lists them)", argv[optind - 1]);
		}
		return -EINVAL;
	}
}

/* Commands that need no blobstore bdev. */
static bool needs_bdev(enum cli_action a)
{
	return a != CLI_NONE && a != CLI_HELP && a != CLI_LIST_BDEVS && a != CLI_EXIT;
}

int cli_parse(int argc, char **argv, enum cli_mode mode, struct cli_cmd *cmd)
{
	char prev = 0;
	int ch;

	memset(cmd, 0, sizeof(*cmd));
	cmd->blobid = SPIO_BLOBID_INVALID;
	optind = 0; /* glibc: start over, the shell parses many lines */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, g_optstring, g_longopts, NULL)) != -1) {
		if (parse_one(ch, argc, argv, mode, cmd, &prev) != 0) {
			return -EINVAL;
		}
	}
	if (optind < argc) {
		cli_err("unexpected argument '%s' (-h lists the commands)", argv[optind]);
		return -EINVAL;
	}
	if (cmd->thin && cmd->action != CLI_CREATE_BLOB) {
		cli_err("--thin: goes with -n <# clusters> only");
		return -EINVAL;
	}
	if (cmd->action == CLI_NONE && mode == CLI_MODE_CMD) {
		cli_err("no command given (-h lists them)");
		return -EINVAL;
	}
	if (needs_bdev(cmd->action) && g_cli.bdev_name == NULL) {
		cli_err("-b BDEV is required: the bdev that holds the blobstore");
		return -EINVAL;
	}
	return 0;
}
