/*
 * One frame of spio_top as lines of text: a title line, the tabs, a status
 * line, the column titles and the rows. With ANSI on, the title and column
 * titles are in reverse video and the current tab is bold and reversed;
 * without (batch mode), the current tab is marked with '*'. The sort column's
 * title ends with " v" (largest first) or " ^". Lines are cut to the width
 * before any escape sequence is added, so a sequence is never cut.
 */
#define _GNU_SOURCE /* vasprintf */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "top.h"

#define REV "\033[7m"
#define BOLD "\033[1m"
#define NORM "\033[0m"

int top_frame_add(struct top_frame *f, const char *fmt, ...)
{
	va_list ap;
	char *line;
	int n;

	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		char **p = realloc(f->lines, cap * sizeof(*p));

		if (p == NULL) {
			return -ENOMEM;
		}
		f->lines = p;
		f->cap = cap;
	}
	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0) {
		return -ENOMEM;
	}
	f->lines[f->n++] = line;
	return 0;
}

void top_frame_free(struct top_frame *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->lines[i]);
	}
	free(f->lines);
	memset(f, 0, sizeof(*f));
}

/* Cut `s` to `cols` characters (0: no limit), in place. */
static void cut(char *s, int cols)
{
	if (cols > 0 && strlen(s) > (size_t)cols) {
		s[cols] = '\0';
	}
}

static int add_styled(struct top_frame *f, char *text, int cols, bool ansi, const char *style)
{
	cut(text, cols);
	if (!ansi) {
		return top_frame_add(f, "%s", text);
	}
	/* pad to the width so the reverse video spans the line */
	return top_frame_add(f, "%s%-*s" NORM, style, cols > 0 ? cols : 0, text);
}

/* One row of cells (or the titles when `cells` is NULL) laid out in the columns. */
static void fmt_row(char *out, size_t len, const struct top_table *t, const struct top_cell *cells,
		    int sort_col, bool reverse)
{
	size_t off = 0;

	out[0] = '\0';
	for (int c = 0; c < t->ncols && off < len; c++) {
		const struct top_column *col = &t->cols[c];
		char title[TOP_CELL_LEN + 2];
		const char *text;
		int n;

		if (cells == NULL) {
			bool desc = col->numeric != reverse;

			snprintf(title, sizeof(title), "%s%s", col->name,
				 c == sort_col ? (desc ? " v" : " ^") : "");
			text = title;
		} else {
			text = cells[c].text;
		}
		n = snprintf(out + off, len - off, col->numeric ? "%*.*s " : "%-*.*s ", col->width,
			     col->width, text);
		if (n < 0) {
			break;
		}
		off += (size_t)n;
	}
	/* no trailing blanks */
	off = strlen(out);
	while (off > 0 && out[off - 1] == ' ') {
		out[--off] = '\0';
	}
}

int top_render(struct top_frame *f, const struct top_view *v, const struct top_table *t, int rows,
	       int cols, bool ansi)
{
	int sort_col = v->sort_col[v->tab];
	bool reverse = v->reverse[v->tab];
	size_t first, shown, avail;
	char line[1024];
	size_t off = 0;
	int rc;

	snprintf(line, sizeof(line), "spio_top: %s  every %.2g s  %zu %s", v->target, v->interval_s,
		 t->nrows, top_tab_name(v->tab));
	rc = add_styled(f, line, cols, ansi, REV);

	line[0] = '\0';
	for (int i = 0; i < TOP_TAB_COUNT && rc == 0; i++) {
		char name[32];
		bool cur = i == (int)v->tab;

		snprintf(name, sizeof(name), "[%d] %s", i + 1, top_tab_name((enum top_tab)i));
		for (char *p = name; *p != '\0'; p++) {
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		}
		if (ansi && cur) {
			off += (size_t)snprintf(line + off, sizeof(line) - off,
						BOLD REV " %s " NORM, name);
		} else {
			off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s%s ",
						cur ? "*" : " ", name, cur ? "*" : " ");
		}
	}
	if (rc == 0) {
		rc = top_frame_add(f, "%s", line); /* short: never wider than 60 columns */
	}
	if (rc == 0) {
		snprintf(line, sizeof(line), "%s%s%s", v->status,
			 v->status[0] && t->note[0] ? "; " : "", t->note);
		cut(line, cols);
		rc = top_frame_add(f, "%s", line);
	}
	if (rc == 0) {
		fmt_row(line, sizeof(line), t, NULL, sort_col, reverse);
		rc = add_styled(f, line, cols, ansi, REV);
	}

	/* rows: what fits under the 4 header lines and above the help line */
	avail = rows > 0 ? (rows > 6 ? (size_t)rows - 5 : 1) : t->nrows;
	first = v->scroll[v->tab];
	if (first > t->nrows) {
		first = t->nrows;
	}
	shown = t->nrows - first < avail ? t->nrows - first : avail;
	for (size_t i = first; i < first + shown && rc == 0; i++) {
		fmt_row(line, sizeof(line), t, t->rows[i], -1, false);
		cut(line, cols);
		rc = top_frame_add(f, "%s", line);
	}
	if (rc == 0 && ansi) {
		snprintf(line, sizeof(line), "%s",
			 v->help ? top_key_help() : "h: help  q: quit  tab/1-4: tabs  s: sort");
		if (t->nrows > shown) {
			size_t l = strlen(line);

			snprintf(line + l, sizeof(line) - l, "  [rows %zu-%zu of %zu]",
				 shown ? first + 1 : 0, first + shown, t->nrows);
		}
		cut(line, cols);
		rc = top_frame_add(f, "%s", line);
	}
	return rc;
}
