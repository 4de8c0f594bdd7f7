/*
 * spio_top's keys, as spdk_top has them where it has them (q, tab, 1-3, s,
 * r for the refresh rate, arrows and page keys) plus 4 (bdevs), S and i
 * (sort), + and - (refresh interval), j and k (scroll) and h (help). Escape sequences are the xterm
 * ones (tmux and the Linux console send the same).
 */
#include <string.h>

#include "top.h"

static const struct {
	const char *seq;
	enum top_key key;
} g_escapes[] = {
    {"\033[A", TOP_KEY_UP},	  {"\033OA", TOP_KEY_UP},	{"\033[B", TOP_KEY_DOWN},
    {"\033OB", TOP_KEY_DOWN},	  {"\033[5~", TOP_KEY_PAGE_UP}, {"\033[6~", TOP_KEY_PAGE_DOWN},
    {"\033[Z", TOP_KEY_PREV_TAB}, {"\033[C", TOP_KEY_NEXT_TAB}, {"\033[D", TOP_KEY_PREV_TAB},
};

const char *top_key_help(void)
{
	return "q quit  tab/1-4 tabs  s/S sort column  i invert  r/+/- interval  "
	       "arrows/PgUp/PgDn scroll  space refresh  h help";
}

static enum top_key decode_escape(const unsigned char *buf, size_t len, size_t *used)
{
	size_t n;

	for (size_t i = 0; i < sizeof(g_escapes) / sizeof(g_escapes[0]); i++) {
		n = strlen(g_escapes[i].seq);
		if (len >= n && memcmp(buf, g_escapes[i].seq, n) == 0) {
			*used = n;
			return g_escapes[i].key;
		}
	}
	/* Unknown or cut: skip ESC [ and its parameters up to the final byte. */
	n = 1;
	if (len > 1 && (buf[1] == '[' || buf[1] == 'O')) {
		n = 2;
		while (n < len && buf[n] >= 0x20 && buf[n] <= 0x3f) {
			n++;
		}
		if (n < len) {
			n++; /* the final byte */
		}
	}
	*used = n;
	return TOP_KEY_NONE;
}

enum top_key top_key_decode(const unsigned char *buf, size_t len, size_t *used)
{
	*used = 1;
	if (len == 0) {
		*used = 0;
		return TOP_KEY_NONE;
	}
	switch (buf[0]) {
	case 'q':
	case 'Q':
		return TOP_KEY_QUIT;
	case '\t':
		return TOP_KEY_NEXT_TAB;
	case '1':
	case '2':
	case '3':
	case '4':
		return (enum top_key)(TOP_KEY_TAB1 + (buf[0] - '1'));
	case 's':
		return TOP_KEY_SORT_NEXT;
	case 'S':
		return TOP_KEY_SORT_PREV;
	case 'i':
		return TOP_KEY_REVERSE;
	case 'r':
		return TOP_KEY_RATE;
	case '+':
		return TOP_KEY_SLOWER;
	case '-':
		return TOP_KEY_FASTER;
	case 'h':
	case '?':
		return TOP_KEY_HELP;
	case ' ':
		return TOP_KEY_REFRESH;
	case 'k':
		return TOP_KEY_UP;
	case 'j':
		return TOP_KEY_DOWN;
	case '\033':
		return decode_escape(buf, len, used);
	default:
		return TOP_KEY_NONE;
	}
}
