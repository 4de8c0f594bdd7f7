/*
 * The common command line (spio_app_parse_args, spio_app_usage): every
 * common option and its long spelling, SPDK's options accepted without
 * effect or refused, bad values, unknown options and missing arguments
 * (one line naming the option, then the usage, _FAIL), --help and
 * --version, repeated -L, the app's own options (letters, long options,
 * flag-setting entries, callback failure), letters and names the app may and
 * may not reuse, operands left at optind, and getopt state reset between
 * parses.
 *
 * Each case parses a fresh copy of its argv; stdout and stderr are captured
 * through their file descriptors, log lines through a log sink.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/app.h"
#include "spio/log.h"
#include "spio/pci.h"
#include "spio/rpc.h"

TestSuite(app_args, .timeout = 60);

#define MAX_ARGS 32

/* What one parse printed and returned. */
struct result {
	int rc;
	char out[32768];
	char err[32768];
	char log[4096];
};

static struct result g_res;
static char *g_argv[MAX_ARGS + 1];
static int g_argc;

/* The app's own options, as the callback saw them. */
static struct {
	int n;
	int ch[MAX_ARGS];
	char *arg[MAX_ARGS];
	int fail_on; /* letter whose callback fails; 0: none */
} g_cb;

static int app_cb(int ch, char *arg)
{
	if (g_cb.n < MAX_ARGS) {
		g_cb.ch[g_cb.n] = ch;
		g_cb.arg[g_cb.n] = arg;
		g_cb.n++;
	}
	if (ch == g_cb.fail_on) {
		fprintf(stderr, "test: -%c %s: expected something else\n", ch, arg ? arg : "");
		return -EINVAL;
	}
	return 0;
}

static void app_usage(FILE *out)
{
	fprintf(out, "\napp options:\n  -b NAME   the app's own option\n");
}

static void log_sink(enum spio_log_level level, const char *line, void *ctx)
{
	size_t len = strlen(g_res.log);

	snprintf(g_res.log + len, sizeof(g_res.log) - len, "%s\n", line);
}

static void read_all(FILE *f, char *buf, size_t len)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/*
 * A writable copy of {"prog", args..., NULL}: getopt permutes it and opts point
 * into it, so options parsed from the previous copy are re-initialised first.
 */
static void set_argv(const char *const *args)
{
	int i;

	for (i = 0; i < g_argc; i++) {
		free(g_argv[i]);
	}
	g_argv[0] = strdup("prog");
	for (g_argc = 1; args != NULL && args[g_argc - 1] != NULL; g_argc++) {
		cr_assert_lt(g_argc, MAX_ARGS);
		g_argv[g_argc] = strdup(args[g_argc - 1]);
	}
	g_argv[g_argc] = NULL;
}

static void init_opts(struct spio_app_opts *o)
{
	spio_app_opts_init(o, sizeof(*o));
	o->name = "test";
}

/* Parse {"prog", args...} with the app's options; capture everything printed. */
static int parse_app(struct spio_app_opts *o, const char *app_str, const struct option *lo,
		     const char *const *args)
{
	FILE *out = tmpfile(), *err = tmpfile();
	bool have_app = app_str != NULL || lo != NULL;
	int save_out, save_err;

	cr_assert(out != NULL && err != NULL);
	set_argv(args);
	memset(&g_res, 0, sizeof(g_res));
	g_cb.n = 0;
	fflush(stdout);
	fflush(stderr);
	save_out = dup(1);
	save_err = dup(2);
	dup2(fileno(out), 1);
	dup2(fileno(err), 2);
	spio_log_set_sink(log_sink, NULL);

	g_res.rc = spio_app_parse_args(g_argc, g_argv, o, app_str, lo, have_app ? app_cb : NULL,
				       have_app ? app_usage : NULL);

	spio_log_set_sink(NULL, NULL);
	fflush(stdout);
	fflush(stderr);
	dup2(save_out, 1);
	dup2(save_err, 2);
	close(save_out);
	close(save_err);
	read_all(out, g_res.out, sizeof(g_res.out));
	read_all(err, g_res.err, sizeof(g_res.err));
	return g_res.rc;
}

static int parse(struct spio_app_opts *o, const char *const *args)
{
	return parse_app(o, NULL, NULL, args);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A failed parse: FAIL, `first` in the first line of stderr, then the usage. */
static void expect_fail(const char *const *args, const char *first)
{
	struct spio_app_opts o;
	char line[512];
	size_t n;

	init_opts(&o);
	parse(&o, args);
	cr_assert_eq(g_res.rc, SPIO_APP_PARSE_ARGS_FAIL, "%s: expected FAIL, got %d", args[0],
		     g_res.rc);
	n = strcspn(g_res.err, "\n");
	snprintf(line, sizeof(line), "%.*s", (int)n, g_res.err);
	cr_assert(strncmp(line, "test: ", 6) == 0, "%s: first line '%s' lacks the prefix", args[0],
		  line);
	cr_assert(strstr(line, first) != NULL, "%s: expected '%s' in the first line, got '%s'",
		  args[0], first, line);
	cr_assert(strstr(g_res.err + n, "Usage: prog [options]") != NULL,
		  "%s: no usage after the message", args[0]);
	cr_assert(strstr(g_res.err, "app options:") == NULL, "no app usage without app options");
	cr_assert_str_empty(g_res.out, "%s: stdout should be empty", args[0]);
}

static void expect_ok(struct spio_app_opts *o, const char *const *args)
{
	init_opts(o);
	parse(o, args);
	cr_assert_eq(g_res.rc, SPIO_APP_PARSE_ARGS_SUCCESS, "%s: expected SUCCESS, got %d: %s",
		     args[0], g_res.rc, g_res.err);
	cr_assert_str_empty(g_res.err);
	cr_assert_str_empty(g_res.out);
}

/*
 * Defaults and operands
 */

Test(app_args, no_options_keeps_defaults)
{
	struct spio_app_opts o, def;

	init_opts(&o);
	init_opts(&def);
	cr_assert_eq(parse(&o, NULL), SPIO_APP_PARSE_ARGS_SUCCESS);
	cr_assert_eq(memcmp(&o, &def, sizeof(o)), 0, "options changed without any option");
	cr_assert_eq(optind, 1);
	cr_assert_str_empty(g_res.err);
	cr_assert_str_empty(g_res.out);
}

Test(app_args, operands_left_at_optind)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("a", "-m", "0x1", "b", "--", "-c", "x"));
	cr_assert_str_eq(o.reactor_mask, "0x1");
	cr_assert_null(o.json_config_file, "-c after -- is an operand");
	cr_assert_eq(g_argc - optind, 4, "optind %d of %d", optind, g_argc);
	cr_assert_str_eq(g_argv[optind], "a");
	cr_assert_str_eq(g_argv[optind + 1], "b");
	cr_assert_str_eq(g_argv[optind + 2], "-c");
	cr_assert_str_eq(g_argv[optind + 3], "x");
}

Test(app_args, last_option_wins)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("-m", "0x1", "--cpumask", "0x3", "-c", "a.json", "--json", "b.json"));
	cr_assert_str_eq(o.reactor_mask, "0x3");
	cr_assert_str_eq(o.json_config_file, "b.json");
}

/*
 * Each common option
 */

Test(app_args, config)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("-c", "a.json"));
	cr_assert_str_eq(o.json_config_file, "a.json");
	expect_ok(&o, ARGS("--config", "b.json"));
	cr_assert_str_eq(o.json_config_file, "b.json");
	expect_ok(&o, ARGS("--json", "c.json"));
	cr_assert_str_eq(o.json_config_file, "c.json");
	expect_ok(&o, ARGS("--config=d.json"));
	cr_assert_str_eq(o.json_config_file, "d.json");
	expect_fail(ARGS("-c", ""), "-c '': expected a JSON configuration file");
}

Test(app_args, cpumask)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("-m", "0x3"));
	cr_assert_str_eq(o.reactor_mask, "0x3");
	expect_ok(&o, ARGS("--cpumask", "[0-1]"));
	cr_assert_str_eq(o.reactor_mask, "[0-1]");
	expect_fail(ARGS("-m", "0xz"), "-m 0xz: expected a hex core mask (0x3) or a list ([0-1])");
	expect_fail(ARGS("-m", "0x0"),
		    "-m 0x0: expected a hex core mask (0x3) or a list ([0-1]) of at "
		    "least one core");
	expect_fail(ARGS("--cpumask=[1-0]"), "--cpumask [1-0]: expected a hex core mask");
}

Test(app_args, main_core)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("-p", "1"));
	cr_assert_eq(o.main_core, 1);
	expect_ok(&o, ARGS("--main-core", "0x2"));
	cr_assert_eq(o.main_core, 2);
	expect_fail(ARGS("-p", "x"), "-p x: expected a core number below 1024");
	expect_fail(ARGS("-p", "1024"), "-p 1024: expected a core number");
	expect_fail(ARGS("--main-core", "-1"), "--main-core -1: expected a core number");
}

Test(app_args, rpc_socket)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("-r", "/tmp/x.sock"));
	cr_assert_str_eq(o.rpc_addr, "/tmp/x.sock");
	expect_ok(&o, ARGS("--rpc-socket", ""));
	cr_assert_str_eq(o.rpc_addr, "", "\"\" disables the server, as today");
	expect_ok(&o, ARGS("--no-rpc-server"));
	cr_assert_null(o.rpc_addr);
}

Test(app_args, mem_size)
{
	static const struct {
		const char *arg;
		uint64_t mb;
	} ok[] = {
	    {"512", 512}, {"512M", 512},   {"512MiB", 512}, {"1G", 1024},
	    {"0x10", 16}, {"1048576B", 1}, {"2048k", 2},    {"0", 0},
	};
	static const char *const bad[] = {"12q", "1536k", "", "-1", "1.5G", "4096B", "0x"};
	struct spio_app_opts o;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		expect_ok(&o, ARGS("-s", ok[i].arg));
		cr_assert_eq(o.mem_size_mb, ok[i].mb, "-s %s: expected %lu MiB, got %lu", ok[i].arg,
			     (unsigned long)ok[i].mb, (unsigned long)o.mem_size_mb);
	}
	expect_ok(&o, ARGS("--mem-size", "1G"));
	cr_assert_eq(o.mem_size_mb, 1024);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[64];

		snprintf(want, sizeof(want), "-s %s: expected a size in MiB", bad[i]);
		expect_fail(ARGS("-s", bad[i]), want);
	}
}

Test(app_args, no_huge)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("--no-huge"));
	cr_assert(o.no_huge);
}

Test(app_args, wait_for_rpc)
{
	struct spio_app_opts o;

	init_opts(&o);
	cr_assert_not(o.delay_subsystem_init, "off by default");
	expect_ok(&o, ARGS("--wait-for-rpc"));
	cr_assert(o.delay_subsystem_init, "--wait-for-rpc: expected delay_subsystem_init set");
	expect_ok(&o, ARGS("--wait"));
	cr_assert(o.delay_subsystem_init, "--wait (a unique prefix): expected it set");
	expect_fail(ARGS("--wait-for-rpc=1"), "option --wait-for-rpc takes no argument");

	/* A program whose options predate the field is told so, not corrupted. */
	init_opts(&o);
	o.opts_size = offsetof(struct spio_app_opts, delay_subsystem_init);
	cr_assert_eq(parse(&o, ARGS("--wait-for-rpc")), SPIO_APP_PARSE_ARGS_FAIL,
		     "short opts_size: expected FAIL, got %d", g_res.rc);
	cr_assert(strstr(g_res.err, "--wait-for-rpc") != NULL, "stderr: %s", g_res.err);
}

Test(app_args, logflag_repeated)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("-L", "thread", "-L", "bdev", "--logflag", "app", "--logflag=rpc,json"));
	cr_assert_str_eq(o.log_flags, "thread,bdev,app,rpc,json");

	/* flags the app set come first */
	init_opts(&o);
	o.log_flags = "reactor";
	cr_assert_eq(parse(&o, ARGS("-L", "thread")), SPIO_APP_PARSE_ARGS_SUCCESS);
	cr_assert_str_eq(o.log_flags, "reactor,thread");

	/* a second parse with the same opts starts from what the first left */
	cr_assert_eq(parse(&o, ARGS("-L", "bdev")), SPIO_APP_PARSE_ARGS_SUCCESS);
	cr_assert_str_eq(o.log_flags, "reactor,thread,bdev");

	expect_ok(&o, ARGS("-m", "0x1"));
	cr_assert_null(o.log_flags, "no -L, no flags");

	expect_fail(ARGS("-L", ""), "-L : expected a log flag name");
	expect_fail(ARGS("-L", "debug:thread"), "-L debug:thread: expected a log flag name");
	expect_fail(ARGS("-L", ",a"), "-L ,a: expected a log flag name");
	expect_fail(ARGS("--logflag", "a,,b"), "--logflag a,,b: expected a log flag name");
}

Test(app_args, logflag_too_long)
{
	char big[700];
	struct spio_app_opts o;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_ok(&o, ARGS("-L", big));
	init_opts(&o);
	parse(&o, ARGS("-L", big, "-L", big));
	cr_assert_eq(g_res.rc, SPIO_APP_PARSE_ARGS_FAIL);
	cr_assert(strstr(g_res.err, "fewer log flags") != NULL, "got: %.200s", g_res.err);
}

Test(app_args, log_level)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("--log-level", "debug"));
	cr_assert_str_eq(o.log_level, "debug");
	expect_fail(ARGS("--log-level", "loud"),
		    "--log-level loud: expected error, warn, notice, info or debug");
}

Test(app_args, silence_noticelog)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("--silence-noticelog"));
	cr_assert_str_eq(o.log_level, "warn");
	expect_ok(&o, ARGS("--silence-noticelog", "--log-level", "info"));
	cr_assert_str_eq(o.log_level, "info", "--log-level wins");
	expect_ok(&o, ARGS("--log-level", "error", "--silence-noticelog"));
	cr_assert_str_eq(o.log_level, "error", "--log-level wins whatever the order");
}

Test(app_args, idle)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("--idle", "poll"));
	cr_assert_eq(o.idle_mode, SPIO_APP_IDLE_POLL);
	init_opts(&o);
	o.idle_mode = SPIO_APP_IDLE_POLL;
	cr_assert_eq(parse(&o, ARGS("--idle=adaptive")), SPIO_APP_PARSE_ARGS_SUCCESS);
	cr_assert_eq(o.idle_mode, SPIO_APP_IDLE_ADAPTIVE);
	expect_fail(ARGS("--idle", "sometimes"), "--idle sometimes: expected adaptive or poll");
}

Test(app_args, help)
{
	static const char *const spellings[] = {"-h", "--help"};
	struct spio_app_opts o;
	size_t i;

	for (i = 0; i < 2; i++) {
		init_opts(&o);
		cr_assert_eq(parse_app(&o, "b:", NULL, ARGS(spellings[i], "-m", "0xz")),
			     SPIO_APP_PARSE_ARGS_HELP, "%s", spellings[i]);
		cr_assert_str_empty(g_res.err, "%s: %s", spellings[i], g_res.err);
		cr_assert(strncmp(g_res.out, "Usage: prog [options]\n", 22) == 0, "got: %.100s",
			  g_res.out);
		cr_assert(strstr(g_res.out, "-m, --cpumask MASK") != NULL);
		cr_assert(strstr(g_res.out, "--no-huge") != NULL);
		cr_assert(strstr(g_res.out, "-L, --logflag FLAG") != NULL);
		cr_assert(strstr(g_res.out, "--idle MODE") != NULL);
		cr_assert(strstr(g_res.out, "-n/--mem-channels") != NULL);
		cr_assert(strstr(g_res.out, "--wait-for-rpc") != NULL);
		/* the app's part comes after the common one */
		cr_assert(strstr(g_res.out, "app options:") > strstr(g_res.out, "--cpumask"));
		cr_assert_eq(g_cb.n, 0, "nothing after -h is parsed");
	}
}

Test(app_args, help_shows_the_apps_defaults)
{
	struct spio_app_opts o;

	init_opts(&o);
	o.reactor_mask = "0x1";
	o.rpc_addr = NULL;
	o.mem_size_mb = 256;
	o.idle_mode = SPIO_APP_IDLE_POLL;
	cr_assert_eq(parse(&o, ARGS("--help")), SPIO_APP_PARSE_ARGS_HELP);
	cr_assert(strstr(g_res.out, "(default: 0x1)") != NULL);
	cr_assert(strstr(g_res.out, "(default: none)") != NULL, "no RPC server by default");
	cr_assert(strstr(g_res.out, "256 MiB") != NULL);
	cr_assert(strstr(g_res.out, "(default: poll)") != NULL);

	init_opts(&o);
	cr_assert_eq(parse(&o, ARGS("-h")), SPIO_APP_PARSE_ARGS_HELP);
	cr_assert(strstr(g_res.out, "(default: " SPIO_RPC_DEFAULT_SOCKET ")") != NULL);
	cr_assert(strstr(g_res.out, "every core of the process's affinity") != NULL);
}

Test(app_args, usage_function)
{
	struct spio_app_opts o;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	init_opts(&o);
	o.reactor_mask = "0x5";
	cr_assert_eq(parse(&o, ARGS("-m", "0x1")), SPIO_APP_PARSE_ARGS_SUCCESS);
	f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	spio_app_usage(f);
	fclose(f);
	cr_assert(strncmp(buf, "Usage: prog [options]", 21) == 0, "got: %.80s", buf);
	cr_assert(strstr(buf, "(default: 0x5)") != NULL, "the defaults, not the parsed value");
	cr_assert(strstr(buf, "app options:") == NULL, "the app's part is the app's to print");
	free(buf);
}

Test(app_args, version)
{
	static const char *const spellings[] = {"-v", "--version"};
	struct spio_app_opts o;
	size_t i;

	for (i = 0; i < 2; i++) {
		init_opts(&o);
		cr_assert_eq(parse(&o, ARGS(spellings[i])), SPIO_APP_PARSE_ARGS_HELP);
		cr_assert(strncmp(g_res.out, "spdk-io v", 9) == 0, "%s: got '%s'", spellings[i],
			  g_res.out);
		cr_assert_str_empty(g_res.err);
	}
}

/*
 * SPDK's options spdk-io cannot honour
 */

Test(app_args, spdk_options_without_effect)
{
	const char *const *const cases[] = {
	    ARGS("-d"),
	    ARGS("--limit-coredump"),
	    ARGS("-g"),
	    ARGS("--single-file-segments"),
	    ARGS("-n", "4"),
	    ARGS("--mem-channels", "4"),
	    ARGS("-R"),
	    ARGS("--huge-unlink"),
	    ARGS("--disable-cpumask-locks"),
	    ARGS("-dgR"),
	};
	struct spio_app_opts o, def;
	size_t i;

	init_opts(&def);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_ok(&o, cases[i]);
		cr_assert_eq(memcmp(&o, &def, sizeof(o)), 0, "%s changed the options", cases[i][0]);
	}
	expect_fail(ARGS("-n", "many"), "-n many: expected a number of memory channels");
}

Test(app_args, spdk_options_refused)
{
	const struct {
		const char *const *args;
		const char *first;
	} cases[] = {
	    {ARGS("-e", "0x1"), "-e 0x1: not supported: spdk-io has no tracepoints"},
	    {ARGS("--tpoint-group", "bdev"), "--tpoint-group bdev: not supported"},
	    {ARGS("--num-trace-entries", "64"), "--num-trace-entries 64: not supported"},
	    {ARGS("-i", "1"), "-i 1: not supported: spdk-io has no multi-process"},
	    {ARGS("--shm-id", "1"), "--shm-id 1: not supported"},
	    {ARGS("--huge-dir", "/mnt/huge"), "--huge-dir /mnt/huge: not supported"},
	    {ARGS("--base-virtaddr", "0x200000000000"), "--base-virtaddr 0x200000000000: not"},
	    {ARGS("--json-ignore-init-errors"), "--json-ignore-init-errors: not supported yet"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_fail(cases[i].args, cases[i].first);
	}
}

/* -A / -B fill one list each (exclusive, SPDK's rule); --iova-mode is kept
 * for the environment, which checks it against the memory it sets up. */
Test(app_args, pci_options)
{
	struct spio_app_opts o;
	char bdf[SPIO_PCI_ADDR_STRLEN];

	expect_ok(&o, ARGS("-A", "0000:01:00.0", "--pci-allowed", "02:00.1"));
	cr_assert_eq(o.num_pci_allowed, 2);
	cr_assert_eq(o.num_pci_blocked, 0);
	spio_pci_addr_fmt(bdf, sizeof(bdf), &o.pci_allowed[1]);
	cr_assert_str_eq(bdf, "0000:02:00.1");
	expect_ok(&o, ARGS("-B", "00:04.0", "-B", "0001:00:05.0", "--pci-blocked", "00:06.0"));
	cr_assert_eq(o.num_pci_blocked, 3);
	cr_assert_eq(o.num_pci_allowed, 0, "fresh options: no allow list");
	spio_pci_addr_fmt(bdf, sizeof(bdf), &o.pci_blocked[1]);
	cr_assert_str_eq(bdf, "0001:00:05.0");
	expect_ok(&o, ARGS("--iova-mode", "pa"));
	cr_assert_str_eq(o.iova_mode, "pa");
	cr_assert(!o.no_pci);
	expect_ok(&o, ARGS("-dgu"));
	cr_assert(o.no_pci, "-u in a cluster");
	expect_ok(&o, ARGS("--no-pci"));
	cr_assert(o.no_pci);

	expect_fail(ARGS("-A", "00:04.0", "-B", "00:05.0"),
		    "-B and -A cannot be used at the same time");
	expect_fail(ARGS("-B", "00:05.0", "--pci-allowed", "00:04.0"),
		    "-B and -A cannot be used at the same time");
	expect_fail(ARGS("-A", "00:20.0"), "-A 00:20.0: expected a PCI address");
	expect_fail(ARGS("--pci-blocked", "nvme0"), "--pci-blocked nvme0: expected a PCI address");
	expect_fail(ARGS("--iova-mode", "auto"), "--iova-mode auto: expected pa or va");
}

/*
 * Bad command lines
 */

Test(app_args, unknown_options)
{
	expect_fail(ARGS("-z"), "unknown option -z");
	expect_fail(ARGS("--bogus"), "unknown option --bogus");
	expect_fail(ARGS("--bogus=1"), "unknown option --bogus");
	/* in a cluster, after a valid letter */
	expect_fail(ARGS("-uz"), "unknown option -z");
	/* in a cluster, after a long option: the message names the letter */
	expect_fail(ARGS("--no-huge", "-zu"), "unknown option -z");
	expect_fail(ARGS("-r", "--weird", "-zu"), "unknown option -z");
	expect_fail(ARGS("--no"), "ambiguous option --no (");
	expect_fail(ARGS("--no-huge=1"), "option --no-huge takes no argument (got --no-huge=1)");
	expect_fail(ARGS("--no-hu=1"), "option --no-huge takes no argument (got --no-hu=1)");
}

Test(app_args, missing_argument)
{
	expect_fail(ARGS("-m"), "option -m needs an argument");
	expect_fail(ARGS("-um"), "option -m needs an argument");
	expect_fail(ARGS("--no-huge", "--cpumask"), "option --cpumask needs an argument");
	expect_fail(ARGS("--rpc-sock"), "option --rpc-sock needs an argument");
}

Test(app_args, abbreviated_long_option)
{
	struct spio_app_opts o;

	expect_ok(&o, ARGS("--cpu", "0x3", "--main", "1"));
	cr_assert_str_eq(o.reactor_mask, "0x3");
	cr_assert_eq(o.main_core, 1);
}

/*
 * The app's own options
 */

static int g_flagged;

Test(app_args, app_options)
{
	static const struct option lo[] = {
	    {"bdev", required_argument, NULL, 'b'},
	    {"verbose", no_argument, NULL, 300},
	    {"flagged", no_argument, &g_flagged, 7},
	    {"query", no_argument, NULL, '?'},
	    {NULL, 0, NULL, 0},
	};
	struct spio_app_opts o;

	init_opts(&o);
	g_flagged = 0;
	parse_app(&o, "b:xq::", lo,
		  ARGS("-b", "B1", "--bdev", "B2", "-x", "--verbose", "--flagged", "-m", "0x1",
		       "--query", "-qopt", "-xb", "B3", "op"));
	cr_assert_eq(g_res.rc, SPIO_APP_PARSE_ARGS_SUCCESS, "%s", g_res.err);
	cr_assert_eq(g_cb.n, 8, "callback calls: %d", g_cb.n);
	cr_assert_eq(g_cb.ch[0], 'b');
	cr_assert_str_eq(g_cb.arg[0], "B1");
	cr_assert_eq(g_cb.ch[1], 'b');
	cr_assert_str_eq(g_cb.arg[1], "B2");
	cr_assert_eq(g_cb.ch[2], 'x');
	cr_assert_null(g_cb.arg[2]);
	cr_assert_eq(g_cb.ch[3], 300);
	cr_assert_eq(g_cb.ch[4], '?', "a long option whose val is '?' is no error");
	cr_assert_eq(g_cb.ch[5], 'q');
	cr_assert_str_eq(g_cb.arg[5], "opt");
	cr_assert_eq(g_cb.ch[6], 'x');
	cr_assert_eq(g_cb.ch[7], 'b');
	cr_assert_str_eq(g_cb.arg[7], "B3");
	cr_assert_eq(g_flagged, 7, "getopt sets a flag entry itself");
	cr_assert_str_eq(o.reactor_mask, "0x1");
	cr_assert_str_eq(g_argv[optind], "op");
}

Test(app_args, app_option_fails)
{
	struct spio_app_opts o;

	init_opts(&o);
	g_cb.fail_on = 'b';
	parse_app(&o, "b:", NULL, ARGS("-m", "0x1", "-b", "bad", "-m", "0x3"));
	g_cb.fail_on = 0;
	cr_assert_eq(g_res.rc, SPIO_APP_PARSE_ARGS_FAIL);
	cr_assert(strncmp(g_res.err, "test: -b bad: expected", 22) == 0, "got: %.80s", g_res.err);
	cr_assert(strstr(g_res.err, "Usage: prog [options]") != NULL);
	cr_assert(strstr(g_res.err, "app options:") != NULL, "the app's usage after an error");
	cr_assert_str_eq(o.reactor_mask, "0x1", "parsing stops at the failure");

	init_opts(&o); /* its strings pointed into the previous argv */
	parse_app(&o, "b:", NULL, ARGS("-b"));
	cr_assert_eq(g_res.rc, SPIO_APP_PARSE_ARGS_FAIL);
	cr_assert(strstr(g_res.err, "option -b needs an argument") != NULL);
}

/* The SPDK compatibility letters and names give way to the app's. */
Test(app_args, app_takes_compat_spellings)
{
	static const struct option lo[] = {
	    {"io-count", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 301},
	    {"no-pci", no_argument, NULL, 302},
	    {NULL, 0, NULL, 0},
	};
	struct spio_app_opts o;

	init_opts(&o);
	parse_app(&o, "n:u", lo,
		  ARGS("-n", "5", "--mem-channels", "4", "--json", "-c", "a.json", "-u", "--no-pci",
		       "-d"));
	cr_assert_eq(g_res.rc, SPIO_APP_PARSE_ARGS_SUCCESS, "%s", g_res.err);
	cr_assert_eq(g_cb.n, 4);
	cr_assert_eq(g_cb.ch[0], 'n');
	cr_assert_str_eq(g_cb.arg[0], "5");
	cr_assert_eq(g_cb.ch[1], 301);
	cr_assert_eq(g_cb.ch[2], 'u');
	cr_assert_eq(g_cb.ch[3], 302);
	cr_assert_str_eq(o.json_config_file, "a.json");

	/* the help leaves out what the app took */
	init_opts(&o);
	parse_app(&o, "n:u", lo, ARGS("-h"));
	cr_assert_eq(g_res.rc, SPIO_APP_PARSE_ARGS_HELP);
	cr_assert(strstr(g_res.out, "--json FILE") == NULL);
	cr_assert(strstr(g_res.out, "-n/--mem-channels") == NULL);
	cr_assert(strstr(g_res.out, "--mem-channels") != NULL);
	cr_assert(strstr(g_res.out, "--no-pci") == NULL, "-u and --no-pci are both the app's");
	cr_assert(strstr(g_res.out, "-d/--limit-coredump") != NULL);
}

/* Letters and names spdk-io honours: a programmer error, before argv is read. */
Test(app_args, clash_with_common_option)
{
	static const char *const letters[] = {"m:", "b:c:", "h", "Lx", "s:", "p", "r:", "v"};
	static const char *const names[] = {"cpumask",	     "config",	 "help",
					    "no-huge",	     "idle",	 "log-level",
					    "no-rpc-server", "mem-size", "wait-for-rpc"};
	struct option lo[] = {{NULL, no_argument, NULL, 1}, {NULL, 0, NULL, 0}};
	struct spio_app_opts o;
	size_t i;

	for (i = 0; i < sizeof(letters) / sizeof(letters[0]); i++) {
		init_opts(&o);
		cr_assert_eq(parse_app(&o, letters[i], NULL, ARGS("--bogus")), -EINVAL, "%s",
			     letters[i]);
		cr_assert(strstr(g_res.log, "clashes with the common option") != NULL,
			  "%s: log '%s'", letters[i], g_res.log);
		cr_assert_str_empty(g_res.err, "argv is not parsed");
		cr_assert_eq(g_cb.n, 0);
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char want[64];

		lo[0].name = names[i];
		init_opts(&o);
		cr_assert_eq(parse_app(&o, NULL, lo, NULL), -EINVAL, "--%s", names[i]);
		snprintf(want, sizeof(want), "app option --%s clashes", names[i]);
		cr_assert(strstr(g_res.log, want) != NULL, "log '%s'", g_res.log);
	}
}

Test(app_args, programmer_errors)
{
	static const struct option lo[] = {{"x", no_argument, NULL, 1}, {NULL, 0, NULL, 0}};
	static const char *const bad_strings[] = {"+b", "b;", "?", ":b", "-", "b:::"};
	struct spio_app_opts o;
	char *argv[] = {"prog", NULL};
	size_t i;

	for (i = 0; i < sizeof(bad_strings) / sizeof(bad_strings[0]); i++) {
		init_opts(&o);
		cr_assert_eq(parse_app(&o, bad_strings[i], NULL, NULL), -EINVAL, "\"%s\"",
			     bad_strings[i]);
		cr_assert_str_not_empty(g_res.log);
	}

	/* app options need the callback */
	init_opts(&o);
	spio_log_set_sink(log_sink, NULL);
	cr_assert_eq(spio_app_parse_args(1, argv, &o, "b:", NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(spio_app_parse_args(1, argv, &o, NULL, lo, NULL, NULL), -EINVAL);
	cr_assert_eq(spio_app_parse_args(1, NULL, &o, NULL, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(spio_app_parse_args(0, argv, &o, NULL, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(spio_app_parse_args(1, argv, NULL, NULL, NULL, NULL, NULL), -EINVAL);
	o.opts_size = offsetof(struct spio_app_opts, idle_mode);
	cr_assert_eq(spio_app_parse_args(1, argv, &o, NULL, NULL, NULL, NULL), -EINVAL);
	spio_log_set_sink(NULL, NULL);

	/* a flag-only long option needs no callback */
	{
		static const struct option flag_only[] = {{"flagged", no_argument, &g_flagged, 3},
							  {NULL, 0, NULL, 0}};
		char *argv2[] = {"prog", "--flagged", NULL};

		init_opts(&o);
		g_flagged = 0;
		cr_assert_eq(spio_app_parse_args(2, argv2, &o, NULL, flag_only, NULL, NULL),
			     SPIO_APP_PARSE_ARGS_SUCCESS);
		cr_assert_eq(g_flagged, 3);
	}
}

/*
 * getopt's state between parses
 */

Test(app_args, state_reset_between_parses)
{
	struct spio_app_opts o;
	int i;

	/* stop in the middle of a cluster, then parse again from scratch */
	expect_fail(ARGS("-uzm", "0x1"), "unknown option -z");
	expect_ok(&o, ARGS("-m", "0x3", "op"));
	cr_assert_str_eq(o.reactor_mask, "0x3");
	cr_assert_str_eq(g_argv[optind], "op");

	/* a HELP that stopped early leaves nothing behind either */
	init_opts(&o);
	cr_assert_eq(parse(&o, ARGS("-hm", "0x1")), SPIO_APP_PARSE_ARGS_HELP);
	for (i = 0; i < 50; i++) {
		expect_ok(&o, ARGS("-u", "-p", "1"));
		cr_assert_eq(o.main_core, 1);
		cr_assert_eq(optind, 4);
	}

	/* opterr is the caller's again */
	opterr = 1;
	expect_ok(&o, ARGS("-u"));
	cr_assert_eq(opterr, 1);
	opterr = 0;
	expect_fail(ARGS("-z"), "unknown option -z");
	cr_assert_eq(opterr, 0);
	opterr = 1;
}
