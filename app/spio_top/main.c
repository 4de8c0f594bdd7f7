/*
 * spio_top: a live view of a running spio_tgt (or any spdk-io app with an RPC
 * server), the analogue of SPDK's spdk_top, in plain ANSI (no curses).
 *
 *   spio_top [-r SOCKET] [-d SECONDS] [-t TAB] [-s COLUMN]
 *   spio_top -b [-n FRAMES] ...  |  spio_top --once ...
 *
 * Tabs: threads (thread_get_stats), pollers (thread_get_pollers), cores
 * (framework_get_reactors), bdevs (bdev_get_iostat). Every refresh reads all
 * four over one RPC connection; rates and busy % come from the differences
 * between two refreshes. Batch mode prints plain-text frames on stdout (two
 * samples an interval apart per frame) and exits; docs/ has the keys.
 *
 * Exit status: 0; 1 when the target cannot be reached (the message names the
 * socket) or stops answering in batch mode; 2 for a bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "spio/rpc.h"

#include "top.h"

#define MIN_INTERVAL_S 0.1
#define MAX_INTERVAL_S 3600.0

struct top_opts {
	const char *socket;
	double interval_s;
	int tab; /* -1: every tab in batch mode, threads interactively */
	const char *sort;
	bool batch;
	long frames;
};

static volatile sig_atomic_t g_quit;
static volatile sig_atomic_t g_resized;
static struct termios g_saved_tio;
static bool g_tio_saved;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: spio_top [options]\n"
	    "\n"
	    "A live view of a spdk-io application's threads, pollers, cores and bdevs,\n"
	    "read over its JSON-RPC socket.\n"
	    "\n"
	    "  -r, --rpc-socket PATH  RPC socket of the application (default %s)\n"
	    "  -d, --delay SECONDS    refresh interval, %.1f to %.0f (default 1)\n"
	    "  -t, --tab TAB          threads, pollers, cores or bdevs (or 1-4) to show first;\n"
	    "                         in batch mode the only one printed (default: all)\n"
	    "  -s, --sort COLUMN      sort by this column of the tab (its title, any case)\n"
	    "  -b, --batch            print plain-text frames on stdout instead of the live view\n"
	    "  -n, --iterations N     frames to print in batch mode (default 1)\n"
	    "      --once             -b -n 1\n"
	    "  -h, --help             this help\n"
	    "\n"
	    "Keys: %s\n",
	    SPIO_RPC_DEFAULT_SOCKET, MIN_INTERVAL_S, MAX_INTERVAL_S, top_key_help());
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The column of `tab` titled `name` (case ignored), or -1. */
static int sort_col_from_name(enum top_tab tab, const char *name)
{
	const struct top_column *cols;
	int n;

	cols = top_tab_columns(tab, &n);
	for (int i = 0; i < n; i++) {
		if (strcasecmp(cols[i].name, name) == 0) {
			return i;
		}
	}
	return -1;
}

/* 1 to run, 0 after --help, -1 for a bad command line (reported). */
static int parse_args(int argc, char **argv, struct top_opts *o)
{
	enum { OPT_ONCE = 256 };
	static const struct option longopts[] = {
	    {"rpc-socket", required_argument, NULL, 'r'},
	    {"delay", required_argument, NULL, 'd'},
	    {"tab", required_argument, NULL, 't'},
	    {"sort", required_argument, NULL, 's'},
	    {"batch", no_argument, NULL, 'b'},
	    {"iterations", required_argument, NULL, 'n'},
	    {"once", no_argument, NULL, OPT_ONCE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	int ch;

	o->socket = SPIO_RPC_DEFAULT_SOCKET;
	o->interval_s = 1.0;
	o->tab = -1;
	o->frames = 1;
	while ((ch = getopt_long(argc, argv, "r:d:t:s:bn:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			o->socket = optarg;
			break;
		case 'd':
			errno = 0;
			o->interval_s = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(o->interval_s >= MIN_INTERVAL_S && o->interval_s <= MAX_INTERVAL_S)) {
				fprintf(stderr,
					"spio_top: -d %s: expected seconds from %.1f to %.0f\n",
					optarg, MIN_INTERVAL_S, MAX_INTERVAL_S);
				return -1;
			}
			break;
		case 't':
			o->tab = top_tab_from_name(optarg);
			if (o->tab < 0) {
				fprintf(
				    stderr,
				    "spio_top: -t %s: expected threads, pollers, cores, bdevs or "
				    "1-4\n",
				    optarg);
				return -1;
			}
			break;
		case 's':
			o->sort = optarg;
			break;
		case 'b':
			o->batch = true;
			break;
		case 'n':
			errno = 0;
			o->frames = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || o->frames < 1) {
				fprintf(stderr,
					"spio_top: -n %s: expected a number of frames >= 1\n",
					optarg);
				return -1;
			}
			break;
		case OPT_ONCE:
			o->batch = true;
			o->frames = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "spio_top: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->sort != NULL) {
		/* checked against the first tab shown (threads when none is named) */
		int tab = o->tab < 0 ? TOP_TAB_THREADS : o->tab;

		if (sort_col_from_name((enum top_tab)tab, o->sort) < 0) {
			fprintf(stderr, "spio_top: -s %s: no such column in the %s tab\n", o->sort,
				top_tab_name((enum top_tab)tab));
			return -1;
		}
	}
	return 1;
}

static void view_init(struct top_view *v, const struct top_opts *o)
{
	memset(v, 0, sizeof(*v));
	v->tab = o->tab < 0 ? TOP_TAB_THREADS : (enum top_tab)o->tab;
	v->interval_s = o->interval_s;
	v->target = o->socket;
	if (o->sort != NULL) {
		v->sort_col[v->tab] = sort_col_from_name(v->tab, o->sort);
	}
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_quit) {
	}
}

/* --- batch mode --------------------------------------------------------------- */

static int print_tab(const struct top_view *v, const struct top_sample *cur,
		     const struct top_sample *prev)
{
	struct top_frame f = {0};
	struct top_table t;
	int rc;

	rc = top_table_build(&t, v->tab, cur, prev, v->sort_col[v->tab], v->reverse[v->tab]);
	if (rc == 0) {
		rc = top_render(&f, v, &t, 0, 0, false);
		top_table_free(&t);
	}
	for (size_t i = 0; rc == 0 && i < f.n; i++) {
		printf("%s\n", f.lines[i]);
	}
	top_frame_free(&f);
	return rc;
}

static int run_batch(struct top_rpc *c, const struct top_opts *o)
{
	struct top_sample prev, cur;
	struct top_view v;
	char err[256];
	int rc;

	view_init(&v, o);
	if (top_sample_take(c, &prev, err, sizeof(err)) != 0) {
		fprintf(stderr, "spio_top: %s\n", err);
		return TOP_EXIT_FAIL;
	}
	for (long n = 0; n < o->frames && !g_quit; n++) {
		sleep_s(o->interval_s);
		if (top_sample_take(c, &cur, err, sizeof(err)) != 0) {
			fprintf(stderr, "spio_top: %s\n", err);
			top_sample_free(&prev);
			return TOP_EXIT_FAIL;
		}
		for (int tab = 0; tab < TOP_TAB_COUNT; tab++) {
			if (o->tab >= 0 && tab != o->tab) {
				continue;
			}
			v.tab = (enum top_tab)tab;
			rc = print_tab(&v, &cur, &prev);
			if (rc != 0) {
				fprintf(stderr, "spio_top: %s\n", strerror(-rc));
				top_sample_free(&cur);
				top_sample_free(&prev);
				return TOP_EXIT_FAIL;
			}
			printf("\n");
		}
		fflush(stdout);
		top_sample_free(&prev);
		prev = cur;
	}
	top_sample_free(&prev);
	return TOP_EXIT_OK;
}

/* --- the live view ------------------------------------------------------------ */

static void on_signal(int sig)
{
	if (sig == SIGWINCH) {
		g_resized = 1;
	} else {
		g_quit = 1;
	}
}

static void write_all(const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

static void term_restore(void)
{
	static const char leave[] = "\033[0m\033[?25h\033[?1049l";

	if (g_tio_saved) {
		write_all(leave, sizeof(leave) - 1);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_tio);
		g_tio_saved = false;
	}
}

/* Raw keys, the alternate screen, no cursor; undone at exit. */
static int term_setup(void)
{
	static const char enter[] = "\033[?1049h\033[?25l\033[H\033[2J";
	struct sigaction sa = {.sa_handler = on_signal};
	struct termios tio;

	if (tcgetattr(STDIN_FILENO, &g_saved_tio) != 0) {
		return -errno;
	}
	tio = g_saved_tio;
	tio.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) != 0) {
		return -errno;
	}
	g_tio_saved = true;
	atexit(term_restore);
	/* no SA_RESTART: poll() returns at once on a signal */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	write_all(enter, sizeof(enter) - 1);
	return 0;
}

static void term_size(int *rows, int *cols)
{
	struct winsize ws;

	*rows = 24;
	*cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

static void draw(struct top_view *v, const struct top_sample *cur, const struct top_sample *prev)
{
	struct top_frame f = {0};
	struct top_table t;
	char *out = NULL;
	size_t len = 0;
	FILE *mem;
	int rows, cols;

	term_size(&rows, &cols);
	if (top_table_build(&t, v->tab, cur, prev, v->sort_col[v->tab], v->reverse[v->tab]) != 0) {
		return;
	}
	if (v->scroll[v->tab] >= t.nrows) {
		v->scroll[v->tab] = t.nrows > 0 ? t.nrows - 1 : 0;
	}
	if (top_render(&f, v, &t, rows, cols, true) == 0 &&
	    (mem = open_memstream(&out, &len)) != NULL) {
		fputs("\033[H", mem);
		for (size_t i = 0; i < f.n && (int)i < rows; i++) {
			fprintf(mem, "%s\033[K%s", f.lines[i], i + 1 < f.n ? "\r\n" : "");
		}
		fputs("\033[J", mem);
		fclose(mem);
		write_all(out, len);
		free(out);
	}
	top_frame_free(&f);
	top_table_free(&t);
}

static double next_interval(double s, enum top_key k)
{
	static const double round_trip[] = {0.5, 1, 2, 5, 10};

	if (k == TOP_KEY_SLOWER) {
		return s * 2 > MAX_INTERVAL_S ? MAX_INTERVAL_S : s * 2;
	}
	if (k == TOP_KEY_FASTER) {
		return s / 2 < MIN_INTERVAL_S ? MIN_INTERVAL_S : s / 2;
	}
	for (size_t i = 0; i < sizeof(round_trip) / sizeof(round_trip[0]); i++) {
		if (round_trip[i] > s + 1e-9) {
			return round_trip[i];
		}
	}
	return round_trip[0];
}

/* Apply a key; false to quit. *resample when the next sample is due now. */
static bool apply_key(struct top_view *v, enum top_key k, bool *resample)
{
	int ncols, rows, cols;
	size_t page;

	top_tab_columns(v->tab, &ncols);
	term_size(&rows, &cols);
	page = rows > 8 ? (size_t)rows - 6 : 1;
	switch (k) {
	case TOP_KEY_QUIT:
		return false;
	case TOP_KEY_NEXT_TAB:
		v->tab = (enum top_tab)((v->tab + 1) % TOP_TAB_COUNT);
		break;
	case TOP_KEY_PREV_TAB:
		v->tab = (enum top_tab)((v->tab + TOP_TAB_COUNT - 1) % TOP_TAB_COUNT);
		break;
	case TOP_KEY_TAB1:
	case TOP_KEY_TAB2:
	case TOP_KEY_TAB3:
	case TOP_KEY_TAB4:
		v->tab = (enum top_tab)(k - TOP_KEY_TAB1);
		break;
	case TOP_KEY_SORT_NEXT:
		v->sort_col[v->tab] = (v->sort_col[v->tab] + 1) % ncols;
		v->scroll[v->tab] = 0;
		break;
	case TOP_KEY_SORT_PREV:
		v->sort_col[v->tab] = (v->sort_col[v->tab] + ncols - 1) % ncols;
		v->scroll[v->tab] = 0;
		break;
	case TOP_KEY_REVERSE:
		v->reverse[v->tab] = !v->reverse[v->tab];
		break;
	case TOP_KEY_FASTER:
	case TOP_KEY_SLOWER:
	case TOP_KEY_RATE:
		v->interval_s = next_interval(v->interval_s, k);
		break;
	case TOP_KEY_UP:
		v->scroll[v->tab] -= v->scroll[v->tab] > 0;
		break;
	case TOP_KEY_DOWN:
		v->scroll[v->tab]++;
		break;
	case TOP_KEY_PAGE_UP:
		v->scroll[v->tab] = v->scroll[v->tab] > page ? v->scroll[v->tab] - page : 0;
		break;
	case TOP_KEY_PAGE_DOWN:
		v->scroll[v->tab] += page;
		break;
	case TOP_KEY_HELP:
		v->help = !v->help;
		break;
	case TOP_KEY_REFRESH:
		*resample = true;
		break;
	case TOP_KEY_NONE:
		break;
	}
	return true;
}

static int run_live(struct top_rpc *c, const struct top_opts *o)
{
	struct top_sample prev = {0}, cur;
	bool have_prev = false, resample = false;
	struct top_view v;
	int64_t last;
	char err[256];

	view_init(&v, o);
	if (top_sample_take(c, &cur, err, sizeof(err)) != 0) {
		fprintf(stderr, "spio_top: %s\n", err);
		return TOP_EXIT_FAIL;
	}
	if (term_setup() != 0) {
		fprintf(stderr, "spio_top: cannot set up the terminal: %s\n", strerror(errno));
		top_sample_free(&cur);
		return TOP_EXIT_FAIL;
	}
	last = now_ms();
	draw(&v, &cur, NULL);
	while (!g_quit) {
		int64_t wait = last + (int64_t)(v.interval_s * 1000) - now_ms();
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		bool redraw = false;

		if (wait > 0 && !resample && poll(&pfd, 1, (int)wait) > 0) {
			unsigned char keys[64];
			ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));
			size_t off = 0, used;

			if (n == 0) {
				break; /* the terminal is gone */
			}
			while (n > 0 && off < (size_t)n) {
				enum top_key k = top_key_decode(keys + off, (size_t)n - off, &used);

				off += used;
				if (!apply_key(&v, k, &resample)) {
					g_quit = 1;
				}
			}
			redraw = true;
		}
		if (g_quit) {
			break;
		}
		if (resample || now_ms() >= last + (int64_t)(v.interval_s * 1000)) {
			struct top_sample next;

			resample = false;
			last = now_ms();
			if (top_sample_take(c, &next, err, sizeof(err)) != 0) {
				snprintf(v.status, sizeof(v.status), "%s", err);
			} else {
				v.status[0] = '\0';
				if (have_prev) {
					top_sample_free(&prev);
				}
				prev = cur;
				cur = next;
				have_prev = true;
			}
			redraw = true;
		}
		if (redraw || g_resized) {
			g_resized = 0;
			draw(&v, &cur, have_prev ? &prev : NULL);
		}
	}
	term_restore();
	top_sample_free(&cur);
	if (have_prev) {
		top_sample_free(&prev);
	}
	return TOP_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct top_rpc rpc = {.fd = -1};
	struct top_opts o = {0};
	char err[256];
	int rc;

	rc = parse_args(argc, argv, &o);
	if (rc <= 0) {
		return rc == 0 ? TOP_EXIT_OK : TOP_EXIT_USAGE;
	}
	if (!o.batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr, "spio_top: the live view needs a terminal; -b prints plain text\n");
		return TOP_EXIT_USAGE;
	}
	if (top_rpc_connect(&rpc, o.socket, err, sizeof(err)) != 0) {
		fprintf(stderr, "spio_top: %s\n", err);
		return TOP_EXIT_FAIL;
	}
	rc = o.batch ? run_batch(&rpc, &o) : run_live(&rpc, &o);
	top_rpc_close(&rpc);
	return rc;
}
