/*
 * Samples and tables. A sample is the raw results of the four methods; a
 * table is what a tab shows, made from the current sample and the one
 * before: busy % from the differences of busy and idle ticks between them,
 * IOPS and MiB/s from the differences of the counters over the difference of
 * bdev_get_iostat's own "ticks" (the target's clock, so the rates do not
 * depend on when spio_top happened to run). Items are matched between the
 * samples by id (threads, pollers), lcore (cores) or name (bdevs); one new
 * since the last sample shows its counters since start.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "top.h"

static const char *const g_methods[TOP_M_COUNT] = {
    [TOP_M_THREADS] = "thread_get_stats",
    [TOP_M_POLLERS] = "thread_get_pollers",
    [TOP_M_REACTORS] = "framework_get_reactors",
    [TOP_M_IOSTAT] = "bdev_get_iostat",
};

static const char *const g_tab_names[TOP_TAB_COUNT] = {"threads", "pollers", "cores", "bdevs"};

enum { TC_NAME, TC_ID, TC_CORE, TC_ACTIVE, TC_TIMED, TC_PAUSED, TC_IDLE, TC_BUSY, TC_PCT };
static const struct top_column g_thread_cols[] = {
    {"Thread", 24, false},   {"ID", 5, true},	      {"Core", 6, true},
    {"Active", 7, true},     {"Timed", 6, true},      {"Paused", 7, true},
    {"Idle [us]", 12, true}, {"Busy [us]", 12, true}, {"Busy %", 8, true},
};

enum { PC_NAME, PC_TYPE, PC_THREAD, PC_STATE, PC_RUNS, PC_BUSY, PC_PCT, PC_PERIOD };
static const struct top_column g_poller_cols[] = {
    {"Poller", 28, false}, {"Type", 7, false},	      {"Thread", 24, false},
    {"State", 9, false},   {"Runs", 11, true},	      {"Busy runs", 11, true},
    {"Busy %", 8, true},   {"Period [us]", 12, true},
};

enum { CC_CORE, CC_THREADS, CC_IDLE, CC_BUSY, CC_PCT, CC_SLEEP, CC_INTR };
static const struct top_column g_core_cols[] = {
    {"Core", 6, true},	 {"Threads", 9, true}, {"Idle [us]", 12, true}, {"Busy [us]", 12, true},
    {"Busy %", 8, true}, {"Sleep %", 8, true}, {"Intr", 5, false},
};

enum { BC_NAME, BC_IOPS, BC_READS, BC_WRITES, BC_MIBS, BC_LAT };
static const struct top_column g_bdev_cols[] = {
    {"Bdev", 24, false},   {"IOPS", 11, true},	{"Read/s", 11, true},
    {"Write/s", 11, true}, {"MiB/s", 10, true}, {"Avg lat [us]", 13, true},
};

const char *top_method_name(enum top_method m)
{
	return (unsigned)m < TOP_M_COUNT ? g_methods[m] : "?";
}

const char *top_tab_name(enum top_tab tab)
{
	return (unsigned)tab < TOP_TAB_COUNT ? g_tab_names[tab] : "?";
}

int top_tab_from_name(const char *name)
{
	for (int i = 0; i < TOP_TAB_COUNT; i++) {
		if (strcmp(name, g_tab_names[i]) == 0 || (name[0] == '1' + i && name[1] == '\0')) {
			return i;
		}
	}
	return -1;
}

const struct top_column *top_tab_columns(enum top_tab tab, int *ncols)
{
	switch (tab) {
	case TOP_TAB_THREADS:
		*ncols = (int)(sizeof(g_thread_cols) / sizeof(g_thread_cols[0]));
		return g_thread_cols;
	case TOP_TAB_POLLERS:
		*ncols = (int)(sizeof(g_poller_cols) / sizeof(g_poller_cols[0]));
		return g_poller_cols;
	case TOP_TAB_CORES:
		*ncols = (int)(sizeof(g_core_cols) / sizeof(g_core_cols[0]));
		return g_core_cols;
	default:
		*ncols = (int)(sizeof(g_bdev_cols) / sizeof(g_bdev_cols[0]));
		return g_bdev_cols;
	}
}

int top_sample_take(struct top_rpc *c, struct top_sample *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	for (int m = 0; m < TOP_M_COUNT; m++) {
		int rc =
		    top_rpc_call(c, g_methods[m], 5000, &s->res[m], s->err[m], sizeof(s->err[m]));

		if (rc < 0) {
			snprintf(err, errlen, "%s", s->err[m]);
			top_sample_free(s);
			return rc;
		}
	}
	return 0;
}

void top_sample_free(struct top_sample *s)
{
	for (int m = 0; m < TOP_M_COUNT; m++) {
		spio_json_val_free(s->res[m]);
		s->res[m] = NULL;
	}
}

/* --- reading results ---------------------------------------------------------- */

static uint64_t u64(const struct spio_json_val *obj, const char *key)
{
	const struct spio_json_val *v = spio_json_object_get(obj, key);
	int64_t i;
	double d;

	if (spio_json_integer(v, &i) == 0) {
		return i > 0 ? (uint64_t)i : 0;
	}
	if (spio_json_number(v, &d) == 0 && d > 0) {
		return (uint64_t)d;
	}
	return 0;
}

static const char *str(const struct spio_json_val *obj, const char *key)
{
	const char *s = spio_json_string(spio_json_object_get(obj, key));

	return s != NULL ? s : "";
}

/* A counter's growth since the previous sample; the whole value without one or after a reset. */
static uint64_t delta(uint64_t cur, const struct spio_json_val *prev_item, const char *key)
{
	uint64_t before = prev_item != NULL ? u64(prev_item, key) : 0;

	return cur >= before ? cur - before : cur;
}

/* The item of array `arr` whose member `key` equals `val` (an integer), or NULL. */
static const struct spio_json_val *find_by_u64(const struct spio_json_val *arr, const char *key,
					       uint64_t val)
{
	for (size_t i = 0; i < spio_json_array_size(arr); i++) {
		const struct spio_json_val *it = spio_json_array_get(arr, i);

		if (spio_json_object_get(it, key) != NULL && u64(it, key) == val) {
			return it;
		}
	}
	return NULL;
}

static const struct spio_json_val *find_by_name(const struct spio_json_val *arr, const char *name)
{
	for (size_t i = 0; i < spio_json_array_size(arr); i++) {
		const struct spio_json_val *it = spio_json_array_get(arr, i);

		if (strcmp(str(it, "name"), name) == 0) {
			return it;
		}
	}
	return NULL;
}

static const struct spio_json_val *member(const struct top_sample *s, enum top_method m,
					  const char *key)
{
	return s != NULL ? spio_json_object_get(s->res[m], key) : NULL;
}

/* --- cells ----------------------------------------------------------------- */

static void cell_str(struct top_cell *c, const char *s)
{
	snprintf(c->text, sizeof(c->text), "%s", s);
	c->num = 0;
}

static void cell_u64(struct top_cell *c, uint64_t v)
{
	snprintf(c->text, sizeof(c->text), "%" PRIu64, v);
	c->num = (double)v;
}

static void cell_f(struct top_cell *c, double v, int decimals)
{
	snprintf(c->text, sizeof(c->text), "%.*f", decimals, v);
	c->num = v;
}

/* A value that cannot be computed yet (no interval): sorts below everything. */
static void cell_none(struct top_cell *c)
{
	cell_str(c, "-");
	c->num = -1;
}

static void cell_pct(struct top_cell *c, uint64_t part, uint64_t whole)
{
	if (whole == 0) {
		cell_none(c);
	} else {
		cell_f(c, 100.0 * (double)part / (double)whole, 2);
	}
}

static uint64_t ticks_to_us(uint64_t ticks, uint64_t rate)
{
	return rate != 0 ? (uint64_t)((double)ticks * 1e6 / (double)rate) : 0;
}

static struct top_cell *row_new(struct top_table *t, size_t *cap)
{
	if (t->nrows == *cap) {
		size_t n = *cap ? *cap * 2 : 16;
		void *p = realloc(t->rows, n * sizeof(*t->rows));

		if (p == NULL) {
			return NULL;
		}
		t->rows = p;
		*cap = n;
	}
	memset(t->rows[t->nrows], 0, sizeof(t->rows[0]));
	return t->rows[t->nrows++];
}

/* --- tables ---------------------------------------------------------------- */

/* The lcore whose reactor runs thread `id`, or -1. */
static int thread_core(const struct top_sample *s, uint64_t id)
{
	const struct spio_json_val *reactors = member(s, TOP_M_REACTORS, "reactors");

	for (size_t i = 0; i < spio_json_array_size(reactors); i++) {
		const struct spio_json_val *r = spio_json_array_get(reactors, i);

		if (find_by_u64(spio_json_object_get(r, "lw_threads"), "id", id) != NULL) {
			return (int)u64(r, "lcore");
		}
	}
	return -1;
}

static int build_threads(struct top_table *t, const struct top_sample *cur,
			 const struct top_sample *prev)
{
	const struct spio_json_val *threads = member(cur, TOP_M_THREADS, "threads");
	const struct spio_json_val *pthreads = member(prev, TOP_M_THREADS, "threads");
	uint64_t rate = u64(cur->res[TOP_M_THREADS], "tick_rate");
	size_t cap = 0;

	for (size_t i = 0; i < spio_json_array_size(threads); i++) {
		const struct spio_json_val *th = spio_json_array_get(threads, i);
		uint64_t id = u64(th, "id");
		const struct spio_json_val *p = find_by_u64(pthreads, "id", id);
		uint64_t busy = delta(u64(th, "busy"), p, "busy");
		uint64_t idle = delta(u64(th, "idle"), p, "idle");
		struct top_cell *r = row_new(t, &cap);
		int core = thread_core(cur, id);

		if (r == NULL) {
			return -ENOMEM;
		}
		cell_str(&r[TC_NAME], str(th, "name"));
		cell_u64(&r[TC_ID], id);
		if (core >= 0) {
			cell_u64(&r[TC_CORE], (uint64_t)core);
		} else {
			cell_none(&r[TC_CORE]);
		}
		cell_u64(&r[TC_ACTIVE], u64(th, "active_pollers_count"));
		cell_u64(&r[TC_TIMED], u64(th, "timed_pollers_count"));
		cell_u64(&r[TC_PAUSED], u64(th, "paused_pollers_count"));
		cell_u64(&r[TC_IDLE], ticks_to_us(idle, rate));
		cell_u64(&r[TC_BUSY], ticks_to_us(busy, rate));
		cell_pct(&r[TC_PCT], busy, busy + idle);
	}
	return 0;
}

static int add_pollers(struct top_table *t, size_t *cap, const struct spio_json_val *th,
		       const struct spio_json_val *pth, const char *list, const char *type,
		       uint64_t rate)
{
	const struct spio_json_val *pollers = spio_json_object_get(th, list);
	const struct spio_json_val *ppollers = spio_json_object_get(pth, list);

	for (size_t i = 0; i < spio_json_array_size(pollers); i++) {
		const struct spio_json_val *po = spio_json_array_get(pollers, i);
		const struct spio_json_val *pp = find_by_u64(ppollers, "id", u64(po, "id"));
		uint64_t runs = delta(u64(po, "run_count"), pp, "run_count");
		uint64_t busy = delta(u64(po, "busy_count"), pp, "busy_count");
		struct top_cell *r = row_new(t, cap);

		if (r == NULL) {
			return -ENOMEM;
		}
		cell_str(&r[PC_NAME], str(po, "name"));
		cell_str(&r[PC_TYPE], type);
		cell_str(&r[PC_THREAD], str(th, "name"));
		cell_str(&r[PC_STATE], str(po, "state"));
		cell_u64(&r[PC_RUNS], runs);
		cell_u64(&r[PC_BUSY], busy);
		cell_pct(&r[PC_PCT], busy, runs);
		if (spio_json_object_get(po, "period_ticks") != NULL) {
			cell_u64(&r[PC_PERIOD], ticks_to_us(u64(po, "period_ticks"), rate));
		} else {
			cell_none(&r[PC_PERIOD]);
		}
	}
	return 0;
}

static int build_pollers(struct top_table *t, const struct top_sample *cur,
			 const struct top_sample *prev)
{
	const struct spio_json_val *threads = member(cur, TOP_M_POLLERS, "threads");
	const struct spio_json_val *pthreads = member(prev, TOP_M_POLLERS, "threads");
	uint64_t rate = u64(cur->res[TOP_M_POLLERS], "tick_rate");
	size_t cap = 0;
	int rc = 0;

	for (size_t i = 0; i < spio_json_array_size(threads) && rc == 0; i++) {
		const struct spio_json_val *th = spio_json_array_get(threads, i);
		const struct spio_json_val *pth = find_by_u64(pthreads, "id", u64(th, "id"));

		rc = add_pollers(t, &cap, th, pth, "active_pollers", "Active", rate);
		if (rc == 0) {
			rc = add_pollers(t, &cap, th, pth, "timed_pollers", "Timed", rate);
		}
		if (rc == 0) {
			rc = add_pollers(t, &cap, th, pth, "paused_pollers", "Paused", rate);
		}
	}
	return rc;
}

static int build_cores(struct top_table *t, const struct top_sample *cur,
		       const struct top_sample *prev)
{
	const struct spio_json_val *reactors = member(cur, TOP_M_REACTORS, "reactors");
	const struct spio_json_val *preactors = member(prev, TOP_M_REACTORS, "reactors");
	uint64_t rate = u64(cur->res[TOP_M_REACTORS], "tick_rate");
	size_t cap = 0;

	for (size_t i = 0; i < spio_json_array_size(reactors); i++) {
		const struct spio_json_val *re = spio_json_array_get(reactors, i);
		const struct spio_json_val *p = find_by_u64(preactors, "lcore", u64(re, "lcore"));
		uint64_t busy = delta(u64(re, "busy"), p, "busy");
		uint64_t idle = delta(u64(re, "idle"), p, "idle");
		uint64_t sleep = delta(u64(re, "sleep"), p, "sleep");
		struct top_cell *r = row_new(t, &cap);
		bool intr = false;

		if (r == NULL) {
			return -ENOMEM;
		}
		spio_json_bool(spio_json_object_get(re, "in_interrupt"), &intr);
		cell_u64(&r[CC_CORE], u64(re, "lcore"));
		cell_u64(&r[CC_THREADS],
			 spio_json_array_size(spio_json_object_get(re, "lw_threads")));
		cell_u64(&r[CC_IDLE], ticks_to_us(idle, rate));
		cell_u64(&r[CC_BUSY], ticks_to_us(busy, rate));
		cell_pct(&r[CC_PCT], busy, busy + idle);
		/* sleeping time is part of the idle time */
		cell_pct(&r[CC_SLEEP], sleep, busy + idle);
		cell_str(&r[CC_INTR], intr ? "yes" : "no");
		r[CC_INTR].num = intr;
	}
	return 0;
}

static int build_bdevs(struct top_table *t, const struct top_sample *cur,
		       const struct top_sample *prev)
{
	const struct spio_json_val *bdevs = member(cur, TOP_M_IOSTAT, "bdevs");
	const struct spio_json_val *pbdevs = member(prev, TOP_M_IOSTAT, "bdevs");
	uint64_t rate = u64(cur->res[TOP_M_IOSTAT], "tick_rate");
	uint64_t now = u64(cur->res[TOP_M_IOSTAT], "ticks");
	uint64_t then = prev != NULL ? u64(prev->res[TOP_M_IOSTAT], "ticks") : 0;
	double secs = prev != NULL && rate != 0 && now > then ? (double)(now - then) / rate : 0;
	size_t cap = 0;

	for (size_t i = 0; i < spio_json_array_size(bdevs); i++) {
		const struct spio_json_val *b = spio_json_array_get(bdevs, i);
		const struct spio_json_val *p =
		    secs > 0 ? find_by_name(pbdevs, str(b, "name")) : NULL;
		uint64_t rd = delta(u64(b, "num_read_ops"), p, "num_read_ops");
		uint64_t wr = delta(u64(b, "num_write_ops"), p, "num_write_ops");
		uint64_t bytes = delta(u64(b, "bytes_read"), p, "bytes_read") +
				 delta(u64(b, "bytes_written"), p, "bytes_written");
		uint64_t lat = delta(u64(b, "read_latency_ticks"), p, "read_latency_ticks") +
			       delta(u64(b, "write_latency_ticks"), p, "write_latency_ticks");
		struct top_cell *r = row_new(t, &cap);

		if (r == NULL) {
			return -ENOMEM;
		}
		cell_str(&r[BC_NAME], str(b, "name"));
		if (p == NULL) {
			/* new, or the first sample: no interval to divide by */
			cell_none(&r[BC_IOPS]);
			cell_none(&r[BC_READS]);
			cell_none(&r[BC_WRITES]);
			cell_none(&r[BC_MIBS]);
		} else {
			cell_f(&r[BC_IOPS], (double)(rd + wr) / secs, 0);
			cell_f(&r[BC_READS], (double)rd / secs, 0);
			cell_f(&r[BC_WRITES], (double)wr / secs, 0);
			cell_f(&r[BC_MIBS], (double)bytes / secs / (1024.0 * 1024.0), 2);
		}
		if (rd + wr == 0 || rate == 0) {
			cell_none(&r[BC_LAT]);
		} else {
			cell_f(&r[BC_LAT], (double)lat * 1e6 / (double)rate / (double)(rd + wr), 1);
		}
	}
	return 0;
}

/* qsort has no context argument: the sort order of the call in progress. */
static int g_sort_col;
static bool g_sort_numeric;
static bool g_sort_reverse;

static int row_cmp(const void *a, const void *b)
{
	const struct top_cell *ra = a, *rb = b;
	int c;

	if (g_sort_numeric) {
		/* largest first */
		c = ra[g_sort_col].num < rb[g_sort_col].num   ? 1
		    : ra[g_sort_col].num > rb[g_sort_col].num ? -1
							      : 0;
	} else {
		c = strcmp(ra[g_sort_col].text, rb[g_sort_col].text);
	}
	if (c == 0) {
		c = strcmp(ra[0].text, rb[0].text); /* stable across refreshes */
	}
	return g_sort_reverse ? -c : c;
}

int top_table_build(struct top_table *t, enum top_tab tab, const struct top_sample *cur,
		    const struct top_sample *prev, int sort_col, bool reverse)
{
	static const enum top_method src[TOP_TAB_COUNT] = {TOP_M_THREADS, TOP_M_POLLERS,
							   TOP_M_REACTORS, TOP_M_IOSTAT};
	int rc;

	memset(t, 0, sizeof(*t));
	t->cols = top_tab_columns(tab, &t->ncols);
	if (cur->res[src[tab]] == NULL) {
		snprintf(t->note, sizeof(t->note), "%s", cur->err[src[tab]]);
		return 0;
	}
	switch (tab) {
	case TOP_TAB_THREADS:
		rc = build_threads(t, cur, prev);
		break;
	case TOP_TAB_POLLERS:
		rc = build_pollers(t, cur, prev);
		break;
	case TOP_TAB_CORES:
		rc = build_cores(t, cur, prev);
		break;
	default:
		rc = build_bdevs(t, cur, prev);
		break;
	}
	if (rc != 0) {
		top_table_free(t);
		return rc;
	}
	if (t->nrows == 0) {
		snprintf(t->note, sizeof(t->note), "(no %s)", top_tab_name(tab));
	} else if (prev == NULL) {
		snprintf(t->note, sizeof(t->note), "(first sample: totals since start)");
	}
	if (sort_col < 0 || sort_col >= t->ncols) {
		sort_col = 0;
	}
	g_sort_col = sort_col;
	g_sort_numeric = t->cols[sort_col].numeric;
	g_sort_reverse = reverse;
	if (t->nrows > 1) {
		qsort(t->rows, t->nrows, sizeof(t->rows[0]), row_cmp);
	}
	return 0;
}

void top_table_free(struct top_table *t)
{
	free(t->rows);
	t->rows = NULL;
	t->nrows = 0;
}
