/*
 * Levelled logging: a print level for the sink (stderr unless replaced), a
 * second level for syslog, a name-ordered list of component flags registered
 * at load time, and the timestamp switch.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>

#include "spio/log.h"

#define LOG_LINE_MAX 2048
#define LOG_PENDING_MAX 512

static int g_level = SPIO_LOG_NOTICE;
/* Off by default: a library should not write to the system log unasked. */
static int g_syslog_level = SPIO_LOG_DISABLED;
static bool g_timestamps = true;
static struct spio_log_flag *g_flags;
static pthread_mutex_t g_flags_lock = PTHREAD_MUTEX_INITIALIZER;
/* Flags named by SPIO_LOG that were not registered yet when it was applied. */
static char g_pending_flags[LOG_PENDING_MAX];

/* Read-locked around each sink call, so set_sink never pairs a sink with
 * another's context and, once it returns, the old sink is not running. */
static pthread_rwlock_t g_sink_lock = PTHREAD_RWLOCK_INITIALIZER;
static spio_log_sink_fn g_sink;
static void *g_sink_ctx;

static const char *const g_level_names[] = {"error", "warn", "notice", "info", "debug"};
static const int g_syslog_priorities[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};

static bool level_valid(enum spio_log_level level)
{
	return level >= SPIO_LOG_DISABLED && level <= SPIO_LOG_DEBUG;
}

int spio_log_set_level(enum spio_log_level level)
{
	if (!level_valid(level)) {
		return -EINVAL;
	}
	__atomic_store_n(&g_level, (int)level, __ATOMIC_RELAXED);
	return 0;
}

enum spio_log_level spio_log_get_level(void)
{
	return (enum spio_log_level)__atomic_load_n(&g_level, __ATOMIC_RELAXED);
}

int spio_log_set_syslog_level(enum spio_log_level level)
{
	if (!level_valid(level)) {
		return -EINVAL;
	}
	__atomic_store_n(&g_syslog_level, (int)level, __ATOMIC_RELAXED);
	return 0;
}

enum spio_log_level spio_log_get_syslog_level(void)
{
	return (enum spio_log_level)__atomic_load_n(&g_syslog_level, __ATOMIC_RELAXED);
}

void spio_log_enable_timestamps(bool enabled)
{
	__atomic_store_n(&g_timestamps, enabled, __ATOMIC_RELAXED);
}

bool spio_log_timestamps_enabled(void)
{
	return __atomic_load_n(&g_timestamps, __ATOMIC_RELAXED);
}

int spio_log_level_from_string(const char *name)
{
	if (name == NULL) {
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(g_level_names) / sizeof(g_level_names[0]); i++) {
		if (strcasecmp(name, g_level_names[i]) == 0) {
			return (int)i;
		}
	}
	if (strcasecmp(name, "warning") == 0) {
		return SPIO_LOG_WARN;
	}
	if (strcasecmp(name, "disabled") == 0 || strcasecmp(name, "none") == 0) {
		return SPIO_LOG_DISABLED;
	}
	return -EINVAL;
}

const char *spio_log_level_to_string(enum spio_log_level level)
{
	if (level == SPIO_LOG_DISABLED) {
		return "disabled";
	}
	if (level < SPIO_LOG_ERROR || level > SPIO_LOG_DEBUG) {
		return "unknown";
	}
	return g_level_names[level];
}

static bool name_in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0) {
			return true;
		}
		if (end == NULL) {
			break;
		}
		p = end + 1;
	}
	return false;
}

void spio_log_register_flag(struct spio_log_flag *flag)
{
	struct spio_log_flag **pos = &g_flags;

	if (flag == NULL || flag->name == NULL) {
		return;
	}
	pthread_mutex_lock(&g_flags_lock);
	for (struct spio_log_flag *f = g_flags; f; f = f->next) {
		if (f == flag) {
			pthread_mutex_unlock(&g_flags_lock);
			return;
		}
	}
	/* Kept in name order, so listings (log_get_flags) come out sorted. */
	while (*pos != NULL && strcmp((*pos)->name, flag->name) < 0) {
		pos = &(*pos)->next;
	}
	flag->next = *pos;
	*pos = flag;
	if (name_in_list(g_pending_flags, flag->name) || name_in_list(g_pending_flags, "all")) {
		__atomic_store_n(&flag->enabled, true, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&g_flags_lock);
}

int spio_log_set_flag(const char *name, bool enabled)
{
	bool all, found = false;

	if (name == NULL || name[0] == '\0') {
		return -EINVAL;
	}
	all = strcmp(name, "all") == 0;
	pthread_mutex_lock(&g_flags_lock);
	for (struct spio_log_flag *f = g_flags; f; f = f->next) {
		if (all || strcmp(f->name, name) == 0) {
			__atomic_store_n(&f->enabled, enabled, __ATOMIC_RELAXED);
			found = true;
		}
	}
	pthread_mutex_unlock(&g_flags_lock);
	return found || all ? 0 : -ENOENT;
}

bool spio_log_get_flag(const char *name)
{
	bool on = false;

	if (name == NULL) {
		return false;
	}
	pthread_mutex_lock(&g_flags_lock);
	for (struct spio_log_flag *f = g_flags; f; f = f->next) {
		if (strcmp(f->name, name) == 0) {
			on = __atomic_load_n(&f->enabled, __ATOMIC_RELAXED);
			break;
		}
	}
	pthread_mutex_unlock(&g_flags_lock);
	return on;
}

void spio_log_foreach_flag(spio_log_flag_fn fn, void *ctx)
{
	if (fn == NULL) {
		return;
	}
	pthread_mutex_lock(&g_flags_lock);
	for (struct spio_log_flag *f = g_flags; f; f = f->next) {
		fn(f->name, __atomic_load_n(&f->enabled, __ATOMIC_RELAXED), ctx);
	}
	pthread_mutex_unlock(&g_flags_lock);
}

static bool valid_flag_list(const char *list)
{
	if (*list == '\0' || *list == ',') {
		return false;
	}
	for (const char *p = list; *p; p++) {
		if (*p == ',' && (p[1] == ',' || p[1] == '\0')) {
			return false;
		}
		if (*p != ',' && *p != '_' && *p != '-' && !(*p >= 'a' && *p <= 'z') &&
		    !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9')) {
			return false;
		}
	}
	return true;
}

int spio_log_apply_spec(const char *spec)
{
	char buf[LOG_PENDING_MAX];
	const char *flags = NULL;
	int level = SPIO_LOG_DEBUG;
	int rc = 0;

	if (spec == NULL || strlen(spec) >= sizeof(buf) || spec[0] == '\0') {
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", spec);

	char *colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		level = spio_log_level_from_string(buf);
		flags = colon + 1;
		if (level < SPIO_LOG_DISABLED || !valid_flag_list(flags)) {
			return -EINVAL;
		}
	} else if (spio_log_level_from_string(buf) >= SPIO_LOG_DISABLED) {
		level = spio_log_level_from_string(buf);
	} else if (valid_flag_list(buf)) {
		flags = buf;
	} else {
		return -EINVAL;
	}

	spio_log_set_level((enum spio_log_level)level);
	if (flags == NULL) {
		return 0;
	}

	pthread_mutex_lock(&g_flags_lock);
	snprintf(g_pending_flags, sizeof(g_pending_flags), "%s", flags);
	pthread_mutex_unlock(&g_flags_lock);

	char *save = NULL;
	for (char *tok = strtok_r((char *)flags, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (spio_log_set_flag(tok, true) == -ENOENT) {
			rc = -ENOENT;
		}
	}
	return rc;
}

int spio_log_init_from_env(void)
{
	const char *spec = getenv("SPIO_LOG");

	if (spec == NULL || spec[0] == '\0') {
		return 0;
	}
	int rc = spio_log_apply_spec(spec);
	if (rc == -EINVAL) {
		fprintf(stderr,
			"spio: ignoring malformed SPIO_LOG='%s' (expected level[:flag,...])\n",
			spec);
	}
	return rc;
}

/* After the library's own flags (default-priority constructors run later, and
 * register_flag picks up pending names for those). */
__attribute__((constructor(200))) static void log_load_env(void)
{
	spio_log_init_from_env();
}

void spio_log_set_sink(spio_log_sink_fn fn, void *ctx)
{
	pthread_rwlock_wrlock(&g_sink_lock);
	g_sink = fn;
	g_sink_ctx = ctx;
	pthread_rwlock_unlock(&g_sink_lock);
}

/*
 * Append `msg` to out[0..n) as one line: its one trailing newline dropped
 * (the sink adds the line end) and every other control character written
 * as an escape, so a name from a client (a file name with a newline) cannot
 * forge a log line or send a terminal escape. Done here, on the formatted
 * message, because callers cannot know which of their arguments came from
 * outside; it costs a pass over lines that are printed only. Tabs stay.
 * Truncates at a whole escape. Returns the new length (out is terminated).
 */
static size_t append_escaped(char *out, size_t size, size_t n, const char *msg)
{
	size_t len = strlen(msg);

	if (len > 0 && msg[len - 1] == '\n') {
		len--;
	}
	for (size_t i = 0; i < len && n < size - 1; i++) {
		unsigned char c = (unsigned char)msg[i];
		char esc[5];
		size_t k;

		if ((c >= 0x20 && c != 0x7f) || c == '\t') {
			out[n++] = (char)c;
			continue;
		}
		if (c == '\n' || c == '\r') {
			k = (size_t)snprintf(esc, sizeof(esc), "\\%c", c == '\n' ? 'n' : 'r');
		} else {
			k = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
		}
		if (n + k > size - 1) {
			break;
		}
		memcpy(out + n, esc, k);
		n += k;
	}
	out[n] = '\0';
	return n;
}

void spio_vlog(enum spio_log_level level, const struct spio_log_flag *flag, const char *file,
	       int line, const char *func, const char *fmt, va_list ap)
{
	enum spio_log_level print_level = spio_log_get_level();
	bool to_print = level <= print_level;
	bool to_syslog = level <= spio_log_get_syslog_level();
	char out[LOG_LINE_MAX];
	char msg[LOG_LINE_MAX];
	size_t n = 0, body;
	int w;

	if ((!to_print && !to_syslog) || level < SPIO_LOG_ERROR || fmt == NULL || file == NULL ||
	    func == NULL) {
		return;
	}
	if (flag != NULL && !__atomic_load_n(&flag->enabled, __ATOMIC_RELAXED)) {
		return;
	}

	if (spio_log_timestamps_enabled()) {
		struct timeval tv;
		struct tm tm;

		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		n = strftime(out, sizeof(out), "[%Y-%m-%d %H:%M:%S", &tm);
		w = snprintf(out + n, sizeof(out) - n, ".%06ld] ", (long)tv.tv_usec);
		n += w > 0 ? (size_t)w : 0;
	}
	/* syslog stamps its records itself: it gets the line from here on. */
	body = n;
	if (level == SPIO_LOG_DEBUG || print_level == SPIO_LOG_DEBUG) {
		const char *base = strrchr(file, '/');
		w = snprintf(out + n, sizeof(out) - n, "%s:%d %s: %s%s%s: ", base ? base + 1 : file,
			     line, func, flag ? "[" : "",
			     flag ? flag->name : spio_log_level_to_string(level), flag ? "]" : "");
	} else {
		w = snprintf(out + n, sizeof(out) - n, "%s: ", spio_log_level_to_string(level));
	}
	n += (w > 0 && (size_t)w < sizeof(out) - n) ? (size_t)w : 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = append_escaped(out, sizeof(out), n, msg);

	if (to_syslog) {
		/* LOG_LOCAL7, as SPDK logs; no openlog(): the program's own
		 * ident and options are left alone. */
		syslog(LOG_LOCAL7 | g_syslog_priorities[level], "%s", out + body);
	}
	if (!to_print) {
		return;
	}

	pthread_rwlock_rdlock(&g_sink_lock);
	if (g_sink) {
		g_sink(level, out, g_sink_ctx);
		pthread_rwlock_unlock(&g_sink_lock);
		return;
	}
	pthread_rwlock_unlock(&g_sink_lock);
	out[n] = '\n';
	fwrite(out, 1, n + 1 < sizeof(out) ? n + 1 : sizeof(out), stderr);
}

void spio_log(enum spio_log_level level, const struct spio_log_flag *flag, const char *file,
	      int line, const char *func, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	spio_vlog(level, flag, file, line, func, fmt, ap);
	va_end(ap);
}
