/*
 * The command line shared by spdk-io programs: spio_app_parse_args() and
 * spio_app_usage(), the analogues of SPDK's spdk_app_parse_args() and
 * spdk_app_usage(), with SPDK's option names.
 *
 * One table, g_common, lists every common option: those spdk-io honours,
 * and SPDK's others, which are accepted without effect or refused with the
 * reason (docs/app.md has the decision table). The app's letters and long
 * options are merged with the table into one getopt_long() call; an option is
 * routed back to its owner by the long-option index getopt reports, or by the
 * letter, so the app's `val`s never collide with ours.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/app.h"
#include "spio/cpuset.h"
#include "spio/log.h"
#include "spio/pci.h"
#include "spio/rpc.h"
#include "spio/util.h"

enum common_id {
	/* honoured */
	CO_CONFIG,
	CO_JSON,
	CO_CPUMASK,
	CO_MAIN_CORE,
	CO_RPC_SOCKET,
	CO_NO_RPC_SERVER,
	CO_MEM_SIZE,
	CO_NO_HUGE,
	CO_LOGFLAG,
	CO_LOG_LEVEL,
	CO_SILENCE_NOTICELOG,
	CO_IDLE,
	CO_WAIT_FOR_RPC,
	CO_PCI_ALLOWED,
	CO_PCI_BLOCKED,
	CO_IOVA_MODE,
	CO_NO_PCI,
	CO_VERSION,
	CO_HELP,
	/* SPDK's, accepted without effect */
	CO_LIMIT_COREDUMP,
	CO_SINGLE_FILE_SEGMENTS,
	CO_MEM_CHANNELS,
	CO_HUGE_UNLINK,
	CO_DISABLE_CPUMASK_LOCKS,
	/* SPDK's, refused */
	CO_TPOINT_GROUP,
	CO_NUM_TRACE_ENTRIES,
	CO_SHM_ID,
	CO_HUGE_DIR,
	CO_BASE_VIRTADDR,
	CO_JSON_IGNORE_INIT_ERRORS,
	CO_COUNT,
};

enum common_kind {
	KIND_HONOURED,
	KIND_IGNORED, /* changes nothing in spdk-io */
	KIND_REFUSED, /* asks for what spdk-io cannot do: fail rather than mislead */
};

struct common_opt {
	char letter; /* 0: long only */
	const char *name;
	int has_arg;
	enum common_kind kind;
	/*
	 * An app option with the same letter or name replaces this one (its
	 * other spelling stays): SPDK compatibility must not cost an app a
	 * letter it already uses (spio_perf's -n and --json).
	 */
	bool yields;
	const char *why; /* KIND_REFUSED: the reason given to the user */
};

static const struct common_opt g_common[CO_COUNT] = {
    [CO_CONFIG] = {'c', "config", required_argument, KIND_HONOURED, false, NULL},
    [CO_JSON] = {0, "json", required_argument, KIND_HONOURED, true, NULL},
    [CO_CPUMASK] = {'m', "cpumask", required_argument, KIND_HONOURED, false, NULL},
    [CO_MAIN_CORE] = {'p', "main-core", required_argument, KIND_HONOURED, false, NULL},
    [CO_RPC_SOCKET] = {'r', "rpc-socket", required_argument, KIND_HONOURED, false, NULL},
    [CO_NO_RPC_SERVER] = {0, "no-rpc-server", no_argument, KIND_HONOURED, false, NULL},
    [CO_MEM_SIZE] = {'s', "mem-size", required_argument, KIND_HONOURED, false, NULL},
    [CO_NO_HUGE] = {0, "no-huge", no_argument, KIND_HONOURED, false, NULL},
    [CO_LOGFLAG] = {'L', "logflag", required_argument, KIND_HONOURED, false, NULL},
    [CO_LOG_LEVEL] = {0, "log-level", required_argument, KIND_HONOURED, false, NULL},
    [CO_SILENCE_NOTICELOG] = {0, "silence-noticelog", no_argument, KIND_HONOURED, false, NULL},
    [CO_IDLE] = {0, "idle", required_argument, KIND_HONOURED, false, NULL},
    [CO_WAIT_FOR_RPC] = {0, "wait-for-rpc", no_argument, KIND_HONOURED, false, NULL},
    /* SPDK's letters, which an app may already use for its own options */
    [CO_PCI_ALLOWED] = {'A', "pci-allowed", required_argument, KIND_HONOURED, true, NULL},
    [CO_PCI_BLOCKED] = {'B', "pci-blocked", required_argument, KIND_HONOURED, true, NULL},
    [CO_IOVA_MODE] = {0, "iova-mode", required_argument, KIND_HONOURED, true, NULL},
    [CO_NO_PCI] = {'u', "no-pci", no_argument, KIND_HONOURED, true, NULL},
    [CO_VERSION] = {'v', "version", no_argument, KIND_HONOURED, false, NULL},
    [CO_HELP] = {'h', "help", no_argument, KIND_HONOURED, false, NULL},

    [CO_LIMIT_COREDUMP] = {'d', "limit-coredump", no_argument, KIND_IGNORED, true, NULL},
    [CO_SINGLE_FILE_SEGMENTS] = {'g', "single-file-segments", no_argument, KIND_IGNORED, true,
				 NULL},
    [CO_MEM_CHANNELS] = {'n', "mem-channels", required_argument, KIND_IGNORED, true, NULL},
    [CO_HUGE_UNLINK] = {'R', "huge-unlink", no_argument, KIND_IGNORED, true, NULL},
    [CO_DISABLE_CPUMASK_LOCKS] = {0, "disable-cpumask-locks", no_argument, KIND_IGNORED, true,
				  NULL},

    [CO_TPOINT_GROUP] = {'e', "tpoint-group", required_argument, KIND_REFUSED, true,
			 "not supported: spdk-io has no tracepoints"},
    [CO_NUM_TRACE_ENTRIES] = {0, "num-trace-entries", required_argument, KIND_REFUSED, true,
			      "not supported: spdk-io has no tracepoints"},
    [CO_SHM_ID] = {'i', "shm-id", required_argument, KIND_REFUSED, true,
		   "not supported: spdk-io has no multi-process shared memory"},
    [CO_HUGE_DIR] = {0, "huge-dir", required_argument, KIND_REFUSED, true,
		     "not supported: spdk-io takes hugepages from the kernel (memfd), not "
		     "from a hugetlbfs mount"},
    [CO_BASE_VIRTADDR] = {0, "base-virtaddr", required_argument, KIND_REFUSED, true,
			  "not supported: spdk-io does not map DMA memory at a fixed address"},
    [CO_JSON_IGNORE_INIT_ERRORS] = {0, "json-ignore-init-errors", no_argument, KIND_REFUSED, true,
				    "not supported yet: every configuration error stops start-up"},
};

/* getopt `val` of a long-only common option: out of any letter's way. */
#define CO_VAL_BASE 0x10000

#define LOG_FLAGS_MAX 1024

/*
 * What spio_app_usage() shows, kept from the last parse as copies so that
 * it never reads the caller's strings after the parse returned.
 */
static struct {
	bool set;
	char prog[64];
	char config[256];
	char mask[256];
	char rpc[256];
	char log_level[16];
	uint64_t mem_size_mb;
	bool no_huge;
	enum spio_app_idle_mode idle_mode;
	bool letter_taken[CO_COUNT]; /* the app redefined the letter */
	bool name_taken[CO_COUNT];   /* the app redefined the long name */
} g_usage;

/* -L flags joined by commas; opts->log_flags points here after -L. */
static char g_log_flags[LOG_FLAGS_MAX];

/* -A or -B addresses (one list: they are exclusive); opts->pci_allowed or
 * pci_blocked points here after one. */
#define PCI_ADDRS_MAX 256
static struct spio_pci_addr g_pci_addrs[PCI_ADDRS_MAX];

struct parse_ctx {
	int argc;
	char **argv;
	struct spio_app_opts *opts;
	const char *name; /* prefix of messages */
	spio_app_parse_cb parse_cb;
	spio_app_usage_cb usage_cb;
	char *shortopts;
	struct option *longopts;
	int n_common_long;
	enum common_id long_owner[CO_COUNT]; /* longopts[i] for i < n_common_long */
	bool log_flags_started;
	bool log_level_given;
	bool silence_noticelog;
};

/*
 * Usage
 */

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src != NULL ? src : "");
}

static void usage_snapshot(const struct spio_app_opts *o, const char *argv0)
{
	const char *slash = argv0 != NULL ? strrchr(argv0, '/') : NULL;

	copy_str(g_usage.prog, sizeof(g_usage.prog),
		 slash != NULL ? slash + 1 : (argv0 != NULL ? argv0 : "spio"));
	copy_str(g_usage.config, sizeof(g_usage.config), o->json_config_file);
	copy_str(g_usage.mask, sizeof(g_usage.mask), o->reactor_mask);
	copy_str(g_usage.rpc, sizeof(g_usage.rpc), o->rpc_addr);
	copy_str(g_usage.log_level, sizeof(g_usage.log_level), o->log_level);
	g_usage.mem_size_mb = o->mem_size_mb;
	g_usage.no_huge = o->no_huge;
	g_usage.idle_mode = o->idle_mode;
	g_usage.set = true;
}

static void usage_defaults(void)
{
	struct spio_app_opts def;

	spio_app_opts_init(&def, sizeof(def));
	usage_snapshot(&def, "spio");
	memset(g_usage.letter_taken, 0, sizeof(g_usage.letter_taken));
	memset(g_usage.name_taken, 0, sizeof(g_usage.name_taken));
}

/* "-n/--mem-channels" minus the spellings the app took; "" when it took both. */
static void compat_spelling(char *buf, size_t len, enum common_id id)
{
	const struct common_opt *co = &g_common[id];
	bool letter = co->letter != 0 && !g_usage.letter_taken[id];
	bool name = !g_usage.name_taken[id];

	if (letter && name) {
		snprintf(buf, len, "-%c/--%s", co->letter, co->name);
	} else if (letter) {
		snprintf(buf, len, "-%c", co->letter);
	} else if (name) {
		snprintf(buf, len, "--%s", co->name);
	} else {
		buf[0] = '\0';
	}
}

/* The SPDK options of one kind, as a comma-separated list wrapped at 80 columns. */
static void usage_compat_list(FILE *out, const char *title, enum common_kind kind)
{
	const char *sep = "";
	char item[80];
	size_t col = 80;
	int id;

	fprintf(out, "%s", title);
	for (id = 0; id < CO_COUNT; id++) {
		if (g_common[id].kind != kind) {
			continue;
		}
		compat_spelling(item, sizeof(item), (enum common_id)id);
		if (item[0] == '\0') {
			continue;
		}
		fprintf(out, "%s", sep);
		if (col + strlen(item) + 2 > 80) {
			fprintf(out, "\n  ");
			col = 2;
		} else {
			fprintf(out, " ");
			col++;
		}
		col += (size_t)fprintf(out, "%s", item);
		sep = ",";
		col++;
	}
	fprintf(out, "\n");
}

/* The PCI options, in the spellings the app left to us. */
static void usage_pci(FILE *out)
{
	static const struct {
		enum common_id id;
		const char *arg;
		const char *text;
	} lines[] = {
	    {CO_PCI_ALLOWED, " BDF", "attach only this PCI device (repeatable)"},
	    {CO_PCI_BLOCKED, " BDF", "never attach this PCI device (repeatable; not with -A)"},
	    {CO_IOVA_MODE, " pa|va", "assert the IOVA mode (docs/app.md); default: spio's"},
	    {CO_NO_PCI, "", "attach no PCI device"},
	};
	char item[80];

	for (size_t i = 0; i < SPIO_COUNTOF(lines); i++) {
		const struct common_opt *co = &g_common[lines[i].id];
		bool letter = co->letter != 0 && !g_usage.letter_taken[lines[i].id];
		bool name = !g_usage.name_taken[lines[i].id];

		if (letter && name) {
			snprintf(item, sizeof(item), "-%c, --%s%s", co->letter, co->name,
				 lines[i].arg);
		} else if (letter) {
			snprintf(item, sizeof(item), "-%c%s", co->letter, lines[i].arg);
		} else if (name) {
			snprintf(item, sizeof(item), "    --%s%s", co->name, lines[i].arg);
		} else {
			continue;
		}
		fprintf(out, "  %-22s  %s\n", item, lines[i].text);
	}
}

void spio_app_usage(FILE *out)
{
	char mem[48];

	if (out == NULL) {
		out = stdout;
	}
	if (!g_usage.set) {
		usage_defaults();
	}
	if (g_usage.mem_size_mb == 0) {
		snprintf(mem, sizeof(mem), "grow on demand");
	} else {
		snprintf(mem, sizeof(mem), "%" PRIu64 " MiB", g_usage.mem_size_mb);
	}

	fprintf(out, "Usage: %s [options]\n\nCommon options:\n", g_usage.prog);
	fprintf(out,
		"  -c, --config FILE       JSON configuration (SPDK format) run at start-up\n"
		"                          (default: %s)\n",
		g_usage.config[0] != '\0' ? g_usage.config : "none");
	if (!g_usage.name_taken[CO_JSON]) {
		fprintf(out, "      --json FILE         the same as --config (SPDK's alias)\n");
	}
	fprintf(out,
		"  -m, --cpumask MASK      reactor cores: a hex mask (0x3) or a list ([0-1])\n"
		"                          (default: %s)\n"
		"  -p, --main-core CORE    core of the main reactor (default: the first of the "
		"mask)\n",
		g_usage.mask[0] != '\0' ? g_usage.mask : "every core of the process's affinity");
	fprintf(out,
		"  -r, --rpc-socket PATH   JSON-RPC Unix socket; \"\" runs no RPC server\n"
		"                          (default: %s)\n"
		"      --no-rpc-server     run no JSON-RPC server\n",
		g_usage.rpc[0] != '\0' ? g_usage.rpc : "none");
	fprintf(out,
		"  -s, --mem-size SIZE     DMA memory to reserve: MiB (512) or with a unit\n"
		"                          (512M, 1G) (default: %s)\n"
		"      --no-huge           ordinary pages for DMA memory\n"
		"                          (default: %s)\n",
		mem, g_usage.no_huge ? "on" : "hugepages when available");
	fprintf(out,
		"  -L, --logflag FLAG      enable a debug log flag (repeatable; implies the\n"
		"                          debug level)\n"
		"      --log-level LEVEL   error, warn, notice, info or debug\n"
		"                          (default: %s)\n"
		"      --silence-noticelog print warnings and errors only (--log-level wins)\n",
		g_usage.log_level[0] != '\0' ? g_usage.log_level : "$SPIO_LOG, else notice");
	fprintf(out,
		"      --idle MODE         adaptive (reactors sleep when idle) or poll (spin)\n"
		"                          (default: %s)\n"
		"      --wait-for-rpc      initialise the subsystems only when the\n"
		"                          framework_start_init RPC asks for it\n",
		g_usage.idle_mode == SPIO_APP_IDLE_POLL ? "poll" : "adaptive");
	usage_pci(out);
	fprintf(out, "  -v, --version           print the version and exit\n"
		     "  -h, --help              print this help and exit\n\n");
	usage_compat_list(out, "SPDK options accepted without effect (docs/app.md):", KIND_IGNORED);
	usage_compat_list(out, "SPDK options refused, spdk-io cannot honour them:", KIND_REFUSED);
}

static void usage_full(const struct parse_ctx *c, FILE *out)
{
	spio_app_usage(out);
	if (c->usage_cb != NULL) {
		c->usage_cb(out);
	}
	fflush(out);
}

/*
 * Setting up: the app's options checked against the table, then merged
 */

static enum common_id common_by_letter(int ch)
{
	int id;

	for (id = 0; id < CO_COUNT; id++) {
		if (g_common[id].letter != 0 && g_common[id].letter == ch) {
			return (enum common_id)id;
		}
	}
	return CO_COUNT;
}

static enum common_id common_by_name(const char *name)
{
	int id;

	for (id = 0; id < CO_COUNT; id++) {
		if (strcmp(g_common[id].name, name) == 0) {
			return (enum common_id)id;
		}
	}
	return CO_COUNT;
}

/* Letters and digits, each followed by at most two ':'; records the letters the app takes. */
static int check_app_letters(const char *s)
{
	enum common_id id;
	size_t i = 0;

	while (s[i] != '\0') {
		unsigned char ch = (unsigned char)s[i];

		if (!isalnum(ch)) {
			SPIO_ERRLOG("app getopt string \"%s\": '%c' at %zu is not a letter or a "
				    "digit\n",
				    s, ch, i);
			return -EINVAL;
		}
		id = common_by_letter(ch);
		if (id != CO_COUNT) {
			if (!g_common[id].yields) {
				SPIO_ERRLOG("app option -%c clashes with the common option -%c, "
					    "--%s\n",
					    ch, ch, g_common[id].name);
				return -EINVAL;
			}
			g_usage.letter_taken[id] = true;
		}
		i++;
		if (s[i] == ':') {
			i++;
			if (s[i] == ':') {
				i++;
			}
		}
	}
	return 0;
}

static int check_app_long(const struct option *lo, bool have_cb, size_t *count)
{
	enum common_id id;
	size_t n;

	for (n = 0; lo != NULL && lo[n].name != NULL; n++) {
		if (lo[n].name[0] == '\0') {
			SPIO_ERRLOG("app long option %zu has an empty name\n", n);
			return -EINVAL;
		}
		if (lo[n].flag == NULL && !have_cb) {
			SPIO_ERRLOG("app long option --%s needs an app_parse_cb\n", lo[n].name);
			return -EINVAL;
		}
		id = common_by_name(lo[n].name);
		if (id != CO_COUNT) {
			if (!g_common[id].yields) {
				SPIO_ERRLOG("app option --%s clashes with the common option --%s\n",
					    lo[n].name, g_common[id].name);
				return -EINVAL;
			}
			g_usage.name_taken[id] = true;
		}
	}
	*count = n;
	return 0;
}

/* getopt's short string: ':' (report a missing argument apart), ours, the app's. */
static int build_shortopts(struct parse_ctx *c, const char *app)
{
	size_t len = 1 + 2 * CO_COUNT + strlen(app) + 1;
	char *p;
	int id;

	c->shortopts = p = malloc(len);
	if (p == NULL) {
		return -ENOMEM;
	}
	*p++ = ':';
	for (id = 0; id < CO_COUNT; id++) {
		if (g_common[id].letter == 0 || g_usage.letter_taken[id]) {
			continue;
		}
		*p++ = g_common[id].letter;
		if (g_common[id].has_arg == required_argument) {
			*p++ = ':';
		}
	}
	strcpy(p, app);
	return 0;
}

static int build_longopts(struct parse_ctx *c, const struct option *app, size_t napp)
{
	int id, n = 0;

	c->longopts = calloc(CO_COUNT + napp + 1, sizeof(*c->longopts));
	if (c->longopts == NULL) {
		return -ENOMEM;
	}
	for (id = 0; id < CO_COUNT; id++) {
		const struct common_opt *co = &g_common[id];

		if (g_usage.name_taken[id]) {
			continue;
		}
		c->longopts[n] = (struct option){co->name, co->has_arg, NULL,
						 co->letter != 0 ? co->letter : CO_VAL_BASE + id};
		c->long_owner[n++] = (enum common_id)id;
	}
	c->n_common_long = n;
	if (napp > 0) {
		memcpy(&c->longopts[n], app, napp * sizeof(*app));
	}
	return 0;
}

/*
 * Errors
 */

/* Length of the name of "--name=value" (the whole of "--name"). */
static size_t long_name_len(const char *arg)
{
	return strcspn(arg + 2, "=");
}

/* The long option "--<arg>" names: exact, else a unique prefix; NULL otherwise. */
static const struct option *resolve_long(const struct parse_ctx *c, const char *arg, int *nmatch)
{
	const struct option *found = NULL;
	size_t len = long_name_len(arg);
	int i;

	*nmatch = 0;
	for (i = 0; c->longopts[i].name != NULL; i++) {
		if (strncmp(c->longopts[i].name, arg + 2, len) != 0) {
			continue;
		}
		if (c->longopts[i].name[len] == '\0') {
			*nmatch = 1;
			return &c->longopts[i];
		}
		found = &c->longopts[i];
		(*nmatch)++;
	}
	return *nmatch == 1 ? found : NULL;
}

static void report_ambiguous(const struct parse_ctx *c, const char *arg)
{
	size_t len = long_name_len(arg);
	const char *sep = "";
	int i;

	fprintf(stderr, "%s: ambiguous option --%.*s (", c->name, (int)len, arg + 2);
	for (i = 0; c->longopts[i].name != NULL; i++) {
		if (strncmp(c->longopts[i].name, arg + 2, len) == 0) {
			fprintf(stderr, "%s--%s", sep, c->longopts[i].name);
			sep = ", ";
		}
	}
	fprintf(stderr, ")\n");
}

static void report_short_unknown(const struct parse_ctx *c)
{
	if (optopt > 0 && optopt < 256 && isprint(optopt)) {
		fprintf(stderr, "%s: unknown option -%c\n", c->name, optopt);
	} else {
		fprintf(stderr, "%s: unknown option (character 0x%02x)\n", c->name,
			(unsigned)optopt & 0xff);
	}
}

/*
 * getopt returned '?' or ':' (opterr is off, so it printed nothing). Which
 * argv element it was looking at: if optind did not move, a letter inside a
 * cluster ("-zm"); otherwise argv[optind - 1], the element it consumed.
 */
static void report_getopt_error(const struct parse_ctx *c, int ch, int prev_optind)
{
	const char *arg = NULL;
	const struct option *lo;
	int nmatch;

	if (optind != prev_optind && optind >= 2 && optind - 1 < c->argc) {
		arg = c->argv[optind - 1];
	}
	if (ch == ':') {
		if (arg != NULL && strncmp(arg, "--", 2) == 0) {
			fprintf(stderr, "%s: option %s needs an argument\n", c->name, arg);
		} else {
			fprintf(stderr, "%s: option -%c needs an argument\n", c->name, optopt);
		}
		return;
	}
	if (arg == NULL || strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
		report_short_unknown(c);
		return;
	}
	lo = resolve_long(c, arg, &nmatch);
	if (lo != NULL && lo->has_arg == no_argument && strchr(arg, '=') != NULL) {
		fprintf(stderr, "%s: option --%s takes no argument (got %s)\n", c->name, lo->name,
			arg);
	} else if (nmatch > 1) {
		report_ambiguous(c, arg);
	} else if (lo == NULL) {
		fprintf(stderr, "%s: unknown option --%.*s\n", c->name, (int)long_name_len(arg),
			arg + 2);
	} else {
		/* the element was fine: the error is a letter after it */
		report_short_unknown(c);
	}
}

/*
 * The common options
 */

/* "-m 0xz" or "--cpumask 0xz", as the user spelled it. */
static int bad_value(const struct parse_ctx *c, const char *spell, const char *arg,
		     const char *expected)
{
	fprintf(stderr, "%s: %s %s: expected %s\n", c->name, spell, arg, expected);
	return SPIO_APP_PARSE_ARGS_FAIL;
}

/*
 * SPDK's rule: a bare number is MiB ("512"), a number with a unit is bytes
 * ("512M", "1G"). Bytes must come to whole MiB: the environment reserves MiB.
 */
static int parse_mem_size(const char *arg, uint64_t *mb)
{
	uint64_t v;
	bool bare;

	bare = arg[0] != '\0' && (strspn(arg, "0123456789") == strlen(arg) ||
				  (arg[0] == '0' && (arg[1] == 'x' || arg[1] == 'X')));
	if (bare) {
		return spio_parse_u64(arg, 0, mb);
	}
	if (spio_parse_capacity(arg, &v) != 0 || v % (1024 * 1024) != 0) {
		return -EINVAL;
	}
	*mb = v >> 20;
	return 0;
}

/* "thread" or "thread,bdev": names only; whether they exist is checked at start. */
static bool valid_log_flag(const char *arg)
{
	const char *p = arg;

	if (*p == '\0') {
		return false;
	}
	for (; *p != '\0'; p++) {
		bool sep = *p == ',';

		if (sep && (p == arg || p[1] == '\0' || p[1] == ',')) {
			return false;
		}
		if (!sep && !isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
			return false;
		}
	}
	return true;
}

static int add_log_flag(struct parse_ctx *c, const char *spell, const char *arg)
{
	const char *prev = c->opts->log_flags;
	size_t len;

	if (!valid_log_flag(arg)) {
		return bad_value(c, spell, arg, "a log flag name (thread, bdev, ..., or all)");
	}
	/* flags the app put in opts come first; the buffer may already hold them */
	if (!c->log_flags_started) {
		c->log_flags_started = true;
		if (prev != g_log_flags) {
			g_log_flags[0] = '\0';
			if (prev != NULL && strlen(prev) >= sizeof(g_log_flags)) {
				return bad_value(c, spell, arg,
						 "fewer log flags (1023 characters)");
			}
			copy_str(g_log_flags, sizeof(g_log_flags), prev);
		}
	}
	len = strlen(g_log_flags);
	if (len + (len != 0) + strlen(arg) >= sizeof(g_log_flags)) {
		return bad_value(c, spell, arg, "fewer log flags (1023 characters)");
	}
	/* Length checked above: plain copies, which the optimiser cannot mistake
	 * for a truncating snprintf. */
	if (len != 0) {
		g_log_flags[len++] = ',';
	}
	memcpy(g_log_flags + len, arg, strlen(arg) + 1);
	c->opts->log_flags = g_log_flags;
	return SPIO_APP_PARSE_ARGS_SUCCESS;
}

/* -A / -B: one more address on the list of that kind; SPDK's rule that the
 * two kinds exclude each other. */
static int add_pci_addr(struct parse_ctx *c, enum common_id id, const char *spell, const char *arg)
{
	struct spio_app_opts *o = c->opts;
	bool allow = id == CO_PCI_ALLOWED;
	const struct spio_pci_addr **list = allow ? &o->pci_allowed : &o->pci_blocked;
	size_t *n = allow ? &o->num_pci_allowed : &o->num_pci_blocked;

	if ((allow ? o->num_pci_blocked : o->num_pci_allowed) > 0) {
		fprintf(stderr, "%s: -B and -A cannot be used at the same time\n", c->name);
		return SPIO_APP_PARSE_ARGS_FAIL;
	}
	/* addresses the app put in opts come first */
	if (*list != g_pci_addrs) {
		if (*n > PCI_ADDRS_MAX) {
			return bad_value(c, spell, arg, "fewer PCI addresses (256)");
		}
		if (*n > 0) {
			memmove(g_pci_addrs, *list, *n * sizeof(g_pci_addrs[0]));
		}
		*list = g_pci_addrs;
	}
	if (*n >= PCI_ADDRS_MAX) {
		return bad_value(c, spell, arg, "fewer PCI addresses (256)");
	}
	if (spio_pci_addr_parse(&g_pci_addrs[*n], arg) != 0) {
		return bad_value(c, spell, arg, "a PCI address (0000:00:04.0, 00:04.0)");
	}
	(*n)++;
	return SPIO_APP_PARSE_ARGS_SUCCESS;
}

static int handle_honoured(struct parse_ctx *c, enum common_id id, const char *spell, char *arg)
{
	struct spio_app_opts *o = c->opts;
	struct spio_cpuset set;
	uint64_t v;
	int level;

	switch (id) {
	case CO_CONFIG:
	case CO_JSON:
		if (arg[0] == '\0') {
			return bad_value(c, spell, "''", "a JSON configuration file");
		}
		o->json_config_file = arg;
		break;
	case CO_CPUMASK:
		/* "0x0" parses, but an app needs a core to run on. */
		if (spio_cpuset_parse(&set, arg) != 0 || spio_cpuset_count(&set) == 0) {
			return bad_value(
			    c, spell, arg,
			    "a hex core mask (0x3) or a list ([0-1]) of at least one core");
		}
		o->reactor_mask = arg;
		break;
	case CO_MAIN_CORE:
		if (spio_parse_u64(arg, 0, &v) != 0 || v >= SPIO_CPUSET_MAX_CORES) {
			return bad_value(c, spell, arg, "a core number below 1024");
		}
		o->main_core = (uint32_t)v;
		break;
	case CO_RPC_SOCKET:
		o->rpc_addr = arg;
		break;
	case CO_NO_RPC_SERVER:
		o->rpc_addr = NULL;
		break;
	case CO_MEM_SIZE:
		if (parse_mem_size(arg, &v) != 0) {
			return bad_value(
			    c, spell, arg,
			    "a size in MiB (512) or with a unit (512M, 1G), whole MiB");
		}
		o->mem_size_mb = v;
		break;
	case CO_NO_HUGE:
		o->no_huge = true;
		break;
	case CO_LOGFLAG:
		return add_log_flag(c, spell, arg);
	case CO_LOG_LEVEL:
		level = spio_log_level_from_string(arg);
		if (level < SPIO_LOG_DISABLED) {
			return bad_value(c, spell, arg, "error, warn, notice, info or debug");
		}
		o->log_level = arg;
		c->log_level_given = true;
		break;
	case CO_SILENCE_NOTICELOG:
		c->silence_noticelog = true;
		break;
	case CO_IDLE:
		if (strcmp(arg, "adaptive") == 0) {
			o->idle_mode = SPIO_APP_IDLE_ADAPTIVE;
		} else if (strcmp(arg, "poll") == 0) {
			o->idle_mode = SPIO_APP_IDLE_POLL;
		} else {
			return bad_value(c, spell, arg, "adaptive or poll");
		}
		break;
	case CO_WAIT_FOR_RPC:
		if (o->opts_size < offsetof(struct spio_app_opts, delay_subsystem_init) +
				       sizeof(o->delay_subsystem_init)) {
			fprintf(stderr,
				"%s: %s: this program's spio_app_opts predate "
				"delay_subsystem_init\n",
				c->name, spell);
			return SPIO_APP_PARSE_ARGS_FAIL;
		}
		o->delay_subsystem_init = true;
		break;
	case CO_PCI_ALLOWED:
	case CO_PCI_BLOCKED:
	case CO_IOVA_MODE:
	case CO_NO_PCI:
		if (o->opts_size < offsetof(struct spio_app_opts, no_pci) + sizeof(o->no_pci)) {
			fprintf(stderr,
				"%s: %s: this program's spio_app_opts predate the PCI options\n",
				c->name, spell);
			return SPIO_APP_PARSE_ARGS_FAIL;
		}
		if (id == CO_NO_PCI) {
			o->no_pci = true;
			break;
		}
		if (id != CO_IOVA_MODE) {
			return add_pci_addr(c, id, spell, arg);
		}
		if (strcmp(arg, "pa") != 0 && strcmp(arg, "va") != 0) {
			return bad_value(c, spell, arg, "pa or va");
		}
		o->iova_mode = arg;
		break;
	case CO_VERSION:
		printf("spdk-io v%s\n", SPIO_VERSION_STRING);
		fflush(stdout);
		return SPIO_APP_PARSE_ARGS_HELP;
	case CO_HELP:
		usage_full(c, stdout);
		return SPIO_APP_PARSE_ARGS_HELP;
	default:
		break;
	}
	return SPIO_APP_PARSE_ARGS_SUCCESS;
}

static int handle_common(struct parse_ctx *c, enum common_id id, const char *spell, char *arg)
{
	const struct common_opt *co = &g_common[id];
	uint64_t v;

	switch (co->kind) {
	case KIND_HONOURED:
		return handle_honoured(c, id, spell, arg);
	case KIND_IGNORED:
		/* no effect, but a value SPDK would refuse is refused here too */
		if (id == CO_MEM_CHANNELS && spio_parse_u64(arg, 10, &v) != 0) {
			return bad_value(c, spell, arg, "a number of memory channels");
		}
		return SPIO_APP_PARSE_ARGS_SUCCESS;
	case KIND_REFUSED:
		fprintf(stderr, "%s: %s%s%s: %s\n", c->name, spell, arg != NULL ? " " : "",
			arg != NULL ? arg : "", co->why);
		return SPIO_APP_PARSE_ARGS_FAIL;
	}
	return SPIO_APP_PARSE_ARGS_FAIL;
}

/*
 * The loop
 */

/* One option getopt returned; `li` is its long index or -1 for a letter. */
static int dispatch(struct parse_ctx *c, int ch, int li)
{
	enum common_id id = CO_COUNT;
	char spell[64];

	if (li >= 0 && li < c->n_common_long) {
		id = c->long_owner[li];
		snprintf(spell, sizeof(spell), "--%s", g_common[id].name);
	} else if (li < 0) {
		id = common_by_letter(ch);
		if (id != CO_COUNT && g_usage.letter_taken[id]) {
			id = CO_COUNT;
		}
		snprintf(spell, sizeof(spell), "-%c", ch);
	}
	if (id != CO_COUNT) {
		return handle_common(c, id, spell, optarg);
	}
	if (li >= 0 && c->longopts[li].flag != NULL) {
		return SPIO_APP_PARSE_ARGS_SUCCESS; /* getopt stored it */
	}
	return c->parse_cb(ch, optarg) == 0 ? SPIO_APP_PARSE_ARGS_SUCCESS
					    : SPIO_APP_PARSE_ARGS_FAIL;
}

static int parse_loop(struct parse_ctx *c)
{
	int ch, li, prev_optind, rc = SPIO_APP_PARSE_ARGS_SUCCESS;

	/* 0, not 1: glibc then also forgets a half-read cluster of a previous parse */
	optind = 0;
	for (;;) {
		prev_optind = optind;
		li = -1;
		ch = getopt_long(c->argc, c->argv, c->shortopts, c->longopts, &li);
		if (ch == -1) {
			break;
		}
		/* li >= 0: a valid long option, even one whose val is '?' or ':' */
		if (li < 0 && (ch == '?' || ch == ':')) {
			report_getopt_error(c, ch, prev_optind);
			rc = SPIO_APP_PARSE_ARGS_FAIL;
		} else {
			rc = dispatch(c, ch, li);
		}
		if (rc != SPIO_APP_PARSE_ARGS_SUCCESS) {
			break;
		}
	}
	if (rc == SPIO_APP_PARSE_ARGS_FAIL) {
		usage_full(c, stderr);
	}
	return rc;
}

int spio_app_parse_args(int argc, char **argv, struct spio_app_opts *opts,
			const char *app_getopt_str, const struct option *app_long_opts,
			spio_app_parse_cb app_parse_cb, spio_app_usage_cb app_usage_cb)
{
	struct parse_ctx c = {
	    .argc = argc,
	    .argv = argv,
	    .opts = opts,
	    .parse_cb = app_parse_cb,
	    .usage_cb = app_usage_cb,
	};
	const char *app = app_getopt_str != NULL ? app_getopt_str : "";
	size_t napp = 0;
	int saved_opterr, rc;

	if (argv == NULL || argc < 1 || opts == NULL) {
		SPIO_ERRLOG("spio_app_parse_args: NULL argv or opts, or argc %d < 1\n", argc);
		return -EINVAL;
	}
	if (opts->opts_size < offsetof(struct spio_app_opts, idle_mode) + sizeof(opts->idle_mode)) {
		SPIO_ERRLOG("spio_app_parse_args: opts_size %zu does not cover idle_mode\n",
			    opts->opts_size);
		return -EINVAL;
	}
	if (app[0] != '\0' && app_parse_cb == NULL) {
		SPIO_ERRLOG("spio_app_parse_args: app options \"%s\" without app_parse_cb\n", app);
		return -EINVAL;
	}

	usage_defaults();
	rc = check_app_letters(app);
	if (rc == 0) {
		rc = check_app_long(app_long_opts, app_parse_cb != NULL, &napp);
	}
	if (rc == 0) {
		rc = build_shortopts(&c, app);
	}
	if (rc == 0) {
		rc = build_longopts(&c, app_long_opts, napp);
	}
	if (rc == 0) {
		usage_snapshot(opts, argv[0]);
		c.name = opts->name != NULL ? opts->name : g_usage.prog;
		saved_opterr = opterr;
		opterr = 0; /* our messages name the option and the value */
		rc = parse_loop(&c);
		opterr = saved_opterr;
		if (rc == SPIO_APP_PARSE_ARGS_SUCCESS && c.silence_noticelog &&
		    !c.log_level_given) {
			opts->log_level = "warn";
		}
	}
	free(c.shortopts);
	free(c.longopts);
	return rc;
}
