/*
 * spio_top's pieces: the JSON-RPC client (rpc.c), the samples and the tables
 * made of two of them (model.c), the frame (render.c) and the keys (keys.c).
 */
#ifndef SPIO_TOP_H
#define SPIO_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/json_val.h"

#define TOP_EXIT_OK 0
#define TOP_EXIT_FAIL 1
#define TOP_EXIT_USAGE 2

/*
 * rpc.c: one connection to the target's JSON-RPC socket.
 */

struct top_rpc {
	int fd;
	const char *path;
	uint64_t next_id;
	char *buf; /* received, not yet consumed */
	size_t len, cap;
};

/* Connect to `path`; -errno with a message in err. */
int top_rpc_connect(struct top_rpc *c, const char *path, char *err, size_t errlen);

/*
 * Call `method` without params, waiting up to timeout_ms. 0 and *result (free
 * with spio_json_val_free); 1 when the target answered with an error (err
 * holds "code: message"); -errno for a connection failure (err says what;
 * the connection is closed, top_rpc_call reconnects on the next call).
 */
int top_rpc_call(struct top_rpc *c, const char *method, int timeout_ms,
		 struct spio_json_val **result, char *err, size_t errlen);

void top_rpc_close(struct top_rpc *c);

/*
 * model.c: samples of the target's counters, and the tables shown.
 */

enum top_tab {
	TOP_TAB_THREADS = 0,
	TOP_TAB_POLLERS,
	TOP_TAB_CORES,
	TOP_TAB_BDEVS,
	TOP_TAB_COUNT,
};

/* What one refresh read: each method's result, or its error. */
enum top_method {
	TOP_M_THREADS = 0, /* thread_get_stats */
	TOP_M_POLLERS,	   /* thread_get_pollers */
	TOP_M_REACTORS,	   /* framework_get_reactors */
	TOP_M_IOSTAT,	   /* bdev_get_iostat */
	TOP_M_COUNT,
};

struct top_sample {
	struct spio_json_val *res[TOP_M_COUNT]; /* NULL: see err */
	char err[TOP_M_COUNT][160];
};

/* The RPC method of a sample slot. */
const char *top_method_name(enum top_method m);

/* Take a sample: every method called. -errno only for a lost connection (err set). */
int top_sample_take(struct top_rpc *c, struct top_sample *s, char *err, size_t errlen);

void top_sample_free(struct top_sample *s);

#define TOP_MAX_COLS 10
#define TOP_CELL_LEN 48

struct top_cell {
	char text[TOP_CELL_LEN];
	double num; /* the sort key of numeric columns */
};

struct top_column {
	const char *name;
	int width;
	bool numeric; /* right-aligned; sorts by num, largest first */
};

struct top_table {
	const struct top_column *cols;
	int ncols;
	struct top_cell (*rows)[TOP_MAX_COLS];
	size_t nrows;
	char note[200]; /* why the table is empty or partial, or "" */
};

/* The tab's columns; *ncols set. */
const struct top_column *top_tab_columns(enum top_tab tab, int *ncols);

/* The name of a tab ("threads") and the tab named `name` or numbered "1".."4" (-1: none). */
const char *top_tab_name(enum top_tab tab);
int top_tab_from_name(const char *name);

/*
 * Build the table of `tab` from the current sample and the one before (NULL
 * on the first refresh: counters since start instead of the interval's).
 * Sorted by column `sort_col`, reversed if `reverse`. -ENOMEM.
 */
int top_table_build(struct top_table *t, enum top_tab tab, const struct top_sample *cur,
		    const struct top_sample *prev, int sort_col, bool reverse);

void top_table_free(struct top_table *t);

/*
 * render.c: one frame of text.
 */

struct top_view {
	enum top_tab tab;
	int sort_col[TOP_TAB_COUNT];
	bool reverse[TOP_TAB_COUNT];
	size_t scroll[TOP_TAB_COUNT];
	double interval_s;
	bool help;
	const char *target; /* the socket path */
	char status[256];   /* last error or message, or "" */
};

/* A frame as lines of text. */
struct top_frame {
	char **lines;
	size_t n, cap;
};

/*
 * Lay out `t` as the view shows it: header lines (title, tabs, status), the
 * column titles and rows (from the view's scroll, at most `rows` lines in
 * all, each cut to `cols` characters; 0 for no limit). `ansi` shows the
 * title, the current tab and the column titles in reverse video, and adds a
 * line of key help at the bottom.
 */
int top_render(struct top_frame *f, const struct top_view *v, const struct top_table *t, int rows,
	       int cols, bool ansi);

/* Append a line to the frame (copied). -ENOMEM. */
int top_frame_add(struct top_frame *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void top_frame_free(struct top_frame *f);

/*
 * keys.c: what the bytes typed mean.
 */

enum top_key {
	TOP_KEY_NONE = 0, /* incomplete or ignored */
	TOP_KEY_QUIT,
	TOP_KEY_NEXT_TAB,
	TOP_KEY_PREV_TAB,
	TOP_KEY_TAB1, /* TAB1 + n: tab n + 1 */
	TOP_KEY_TAB2,
	TOP_KEY_TAB3,
	TOP_KEY_TAB4,
	TOP_KEY_SORT_NEXT,
	TOP_KEY_SORT_PREV,
	TOP_KEY_REVERSE,
	TOP_KEY_FASTER,
	TOP_KEY_SLOWER,
	TOP_KEY_RATE, /* the next refresh interval, round */
	TOP_KEY_UP,
	TOP_KEY_DOWN,
	TOP_KEY_PAGE_UP,
	TOP_KEY_PAGE_DOWN,
	TOP_KEY_HELP,
	TOP_KEY_REFRESH,
};

/*
 * Decode the key at the start of `buf` (`len` > 0 bytes, one read's worth):
 * *used is how many bytes it took, at least 1. An escape sequence cut at the
 * end of the buffer, or unknown, is skipped.
 */
enum top_key top_key_decode(const unsigned char *buf, size_t len, size_t *used);

/* One line listing the keys. */
const char *top_key_help(void);

#endif /* SPIO_TOP_H */
