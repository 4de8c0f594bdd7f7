/*
 * Logging: levels, component flags, SPIO_LOG specs and environment, sinks,
 * the syslog level, timestamps, truncation of long messages and concurrent
 * logging.
 *
 * Criterion runs each test in its own process, but each test still sets the
 * level, flags and sink it relies on so that $SPIO_LOG cannot change results.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "spio/log.h"
#include "spio/util.h"

SPIO_LOG_REGISTER_COMPONENT(log_utest)
SPIO_LOG_REGISTER_COMPONENT(log_utest2)

#define CAP_LINES 64
#define CAP_LINE_LEN 8192

struct capture {
	pthread_mutex_t lock;
	int count;
	int levels[CAP_LINES];
	char lines[CAP_LINES][CAP_LINE_LEN];
	void *ctx_seen;
};

static struct capture g_cap = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void capture_sink(enum spio_log_level level, const char *line, void *ctx)
{
	pthread_mutex_lock(&g_cap.lock);
	if (g_cap.count < CAP_LINES) {
		g_cap.levels[g_cap.count] = level;
		snprintf(g_cap.lines[g_cap.count], CAP_LINE_LEN, "%s", line);
	}
	g_cap.count++;
	g_cap.ctx_seen = ctx;
	pthread_mutex_unlock(&g_cap.lock);
}

/* Known state: sink captured, level notice, both test flags off. */
static void setup(void)
{
	g_cap.count = 0;
	g_cap.ctx_seen = NULL;
	spio_log_set_sink(capture_sink, &g_cap);
	spio_log_set_level(SPIO_LOG_NOTICE);
	spio_log_set_flag("log_utest", false);
	spio_log_set_flag("log_utest2", false);
}

static void teardown(void)
{
	spio_log_set_sink(NULL, NULL);
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, set_get_level)
{
	for (int l = SPIO_LOG_DISABLED; l <= SPIO_LOG_DEBUG; l++) {
		int rc = spio_log_set_level((enum spio_log_level)l);

		cr_assert_eq(rc, 0, "set_level(%d): expected 0, got %d", l, rc);
		cr_assert_eq(spio_log_get_level(), l, "get_level: expected %d, got %d", l,
			     spio_log_get_level());
	}
	spio_log_set_level(SPIO_LOG_WARN);
	cr_assert_eq(spio_log_set_level((enum spio_log_level)5), -EINVAL, "level 5: -EINVAL");
	cr_assert_eq(spio_log_set_level((enum spio_log_level) - 2), -EINVAL, "level -2: -EINVAL");
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_WARN,
		     "a rejected set_level changed the level to %d", spio_log_get_level());
}

Test(log, level_names)
{
	static const struct {
		const char *name;
		int level;
	} cases[] = {
	    {"error", SPIO_LOG_ERROR},
	    {"warn", SPIO_LOG_WARN},
	    {"warning", SPIO_LOG_WARN},
	    {"notice", SPIO_LOG_NOTICE},
	    {"info", SPIO_LOG_INFO},
	    {"debug", SPIO_LOG_DEBUG},
	    {"DEBUG", SPIO_LOG_DEBUG},
	    {"disabled", SPIO_LOG_DISABLED},
	    {"", -EINVAL},
	    {"bogus", -EINVAL},
	    {"debug ", -EINVAL},
	};

	for (size_t i = 0; i < SPIO_COUNTOF(cases); i++) {
		int got = spio_log_level_from_string(cases[i].name);

		cr_assert_eq(got, cases[i].level, "level_from_string(\"%s\"): expected %d, got %d",
			     cases[i].name, cases[i].level, got);
	}
	cr_assert_eq(spio_log_level_from_string(NULL), -EINVAL, "NULL name: -EINVAL");
	cr_assert_str_eq(spio_log_level_to_string(SPIO_LOG_ERROR), "error", "name of error");
	cr_assert_str_eq(spio_log_level_to_string(SPIO_LOG_WARN), "warn", "name of warn");
	cr_assert_str_eq(spio_log_level_to_string(SPIO_LOG_DEBUG), "debug", "name of debug");
	cr_assert_str_eq(spio_log_level_to_string(SPIO_LOG_DISABLED), "disabled", "name of -1");
	cr_assert_str_eq(spio_log_level_to_string((enum spio_log_level)42), "unknown",
			 "name of 42");
}

Test(log, level_filtering)
{
	spio_log_set_level(SPIO_LOG_WARN);
	SPIO_ERRLOG("e %d", 1);
	SPIO_WARNLOG("w %d", 2);
	SPIO_NOTICELOG("n %d", 3);
	SPIO_INFOLOG("i %d", 4);

	cr_assert_eq(g_cap.count, 2, "level warn: expected 2 lines (error, warn), got %d",
		     g_cap.count);
	cr_assert_eq(g_cap.levels[0], SPIO_LOG_ERROR, "first line: expected level error");
	cr_assert_eq(g_cap.levels[1], SPIO_LOG_WARN, "second line: expected level warn");
	cr_assert(strstr(g_cap.lines[0], "error: e 1") != NULL, "expected \"error: e 1\" in \"%s\"",
		  g_cap.lines[0]);
	cr_assert(strstr(g_cap.lines[1], "warn: w 2") != NULL, "expected \"warn: w 2\" in \"%s\"",
		  g_cap.lines[1]);
	cr_assert_eq(g_cap.lines[0][0], '[', "line must start with a timestamp: \"%s\"",
		     g_cap.lines[0]);
	cr_assert_eq(g_cap.ctx_seen, &g_cap, "the sink must receive its context pointer");

	g_cap.count = 0;
	spio_log_set_level(SPIO_LOG_INFO);
	SPIO_INFOLOG("info line");
	SPIO_DEBUGLOG(log_utest, "no flag, no line");
	cr_assert_eq(g_cap.count, 1, "level info: expected 1 line, got %d", g_cap.count);

	g_cap.count = 0;
	spio_log_set_level(SPIO_LOG_DISABLED);
	SPIO_ERRLOG("even errors are dropped");
	cr_assert_eq(g_cap.count, 0, "level disabled: expected no lines, got %d", g_cap.count);
}

Test(log, debug_needs_flag_and_level)
{
	int line;

	spio_log_set_level(SPIO_LOG_INFO);
	spio_log_set_flag("log_utest", true);
	SPIO_DEBUGLOG(log_utest, "flag on, level info");
	cr_assert_eq(g_cap.count, 0, "flag on, level info: expected no line, got %d", g_cap.count);

	spio_log_set_level(SPIO_LOG_DEBUG);
	spio_log_set_flag("log_utest", false);
	SPIO_DEBUGLOG(log_utest, "flag off, level debug");
	cr_assert_eq(g_cap.count, 0, "flag off, level debug: expected no line, got %d",
		     g_cap.count);

	spio_log_set_flag("log_utest", true);
	SPIO_DEBUGLOG(log_utest2, "other flag still off");
	cr_assert_eq(g_cap.count, 0, "log_utest2 off: expected no line, got %d", g_cap.count);

	line = __LINE__ + 1;
	SPIO_DEBUGLOG(log_utest, "value=%d", 77);
	cr_assert_eq(g_cap.count, 1, "flag on, level debug: expected 1 line, got %d", g_cap.count);
	cr_assert_eq(g_cap.levels[0], SPIO_LOG_DEBUG, "expected level debug, got %d",
		     g_cap.levels[0]);

	char where[64];

	snprintf(where, sizeof(where), "test_log.c:%d", line);
	cr_assert(strstr(g_cap.lines[0], where) != NULL, "expected \"%s\" in \"%s\"", where,
		  g_cap.lines[0]);
	cr_assert(strstr(g_cap.lines[0], "log_utest") != NULL,
		  "expected the component name in \"%s\"", g_cap.lines[0]);
	cr_assert(strstr(g_cap.lines[0], "value=77") != NULL, "expected the message in \"%s\"",
		  g_cap.lines[0]);
	cr_assert(strstr(g_cap.lines[0], "/tests/") == NULL,
		  "file name must be the base name only: \"%s\"", g_cap.lines[0]);
}

Test(log, flags_by_name)
{
	cr_assert_eq(spio_log_set_flag("log_utest", true), 0, "set known flag: expected 0");
	cr_assert(spio_log_get_flag("log_utest"), "log_utest must be on");
	cr_assert(!spio_log_get_flag("log_utest2"), "log_utest2 must still be off");
	cr_assert_eq(spio_log_set_flag("log_utest", false), 0, "clear known flag: expected 0");
	cr_assert(!spio_log_get_flag("log_utest"), "log_utest must be off");

	cr_assert_eq(spio_log_set_flag("no_such_component", true), -ENOENT,
		     "unknown flag: expected -ENOENT");
	cr_assert_eq(spio_log_set_flag(NULL, true), -EINVAL, "NULL flag: expected -EINVAL");
	cr_assert_eq(spio_log_set_flag("", true), -EINVAL, "empty flag: expected -EINVAL");
	cr_assert(!spio_log_get_flag("no_such_component"), "unknown flag reads as off");
	cr_assert(!spio_log_get_flag(NULL), "NULL flag reads as off");

	cr_assert_eq(spio_log_set_flag("all", true), 0, "all on: expected 0");
	cr_assert(spio_log_get_flag("log_utest") && spio_log_get_flag("log_utest2"),
		  "\"all\" must switch on every registered flag");
	cr_assert_eq(spio_log_set_flag("all", false), 0, "all off: expected 0");
	cr_assert(!spio_log_get_flag("log_utest") && !spio_log_get_flag("log_utest2"),
		  "\"all\" off must switch off every registered flag");
}

Test(log, register_is_idempotent)
{
	/* Registering the same flag again must not create a loop in the list. */
	spio_log_register_flag(&SPIO_LOG_FLAG_log_utest);
	spio_log_register_flag(NULL);
	cr_assert_eq(spio_log_set_flag("all", true), 0, "all on after re-register: expected 0");
	cr_assert(spio_log_get_flag("log_utest2"), "list must still hold log_utest2");
}

Test(log, spec_level_and_flags)
{
	int rc = spio_log_apply_spec("debug:log_utest");

	cr_assert_eq(rc, 0, "\"debug:log_utest\": expected 0, got %d", rc);
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_DEBUG, "level: expected debug, got %d",
		     spio_log_get_level());
	cr_assert(spio_log_get_flag("log_utest"), "log_utest must be on");
	cr_assert(!spio_log_get_flag("log_utest2"), "log_utest2 must stay off");

	rc = spio_log_apply_spec("info:log_utest,log_utest2");
	cr_assert_eq(rc, 0, "\"info:log_utest,log_utest2\": expected 0, got %d", rc);
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_INFO, "level: expected info, got %d",
		     spio_log_get_level());
	cr_assert(spio_log_get_flag("log_utest2"), "log_utest2 must be on");
}

Test(log, spec_level_only)
{
	int rc = spio_log_apply_spec("warn");

	cr_assert_eq(rc, 0, "\"warn\": expected 0, got %d", rc);
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_WARN, "level: expected warn, got %d",
		     spio_log_get_level());
	cr_assert(!spio_log_get_flag("log_utest"), "a level alone must not switch flags on");

	rc = spio_log_apply_spec("ERROR");
	cr_assert_eq(rc, 0, "\"ERROR\": expected 0, got %d", rc);
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_ERROR, "level: expected error");
}

Test(log, spec_flags_only_implies_debug)
{
	int rc = spio_log_apply_spec("log_utest");

	cr_assert_eq(rc, 0, "\"log_utest\": expected 0, got %d", rc);
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_DEBUG, "a flag list implies debug, got %d",
		     spio_log_get_level());
	cr_assert(spio_log_get_flag("log_utest"), "log_utest must be on");

	SPIO_DEBUGLOG(log_utest, "now visible");
	cr_assert_eq(g_cap.count, 1, "expected 1 debug line, got %d", g_cap.count);
}

Test(log, spec_malformed_changes_nothing)
{
	static const char *const bad[] = {
	    "",
	    "debug:",
	    ":x",
	    "bogus:log_utest",
	    "debug:log_utest,",
	    "debug:,log_utest",
	    ":",
	    "debug:a,,b",
	    "debug:a b",
	    "debug:log_utest:x",
	    "info,",
	    "lo g",
	};

	spio_log_set_level(SPIO_LOG_WARN);
	for (size_t i = 0; i < SPIO_COUNTOF(bad); i++) {
		int rc = spio_log_apply_spec(bad[i]);

		cr_assert_eq(rc, -EINVAL, "spec \"%s\": expected -EINVAL, got %d", bad[i], rc);
		cr_assert_eq(spio_log_get_level(), SPIO_LOG_WARN,
			     "spec \"%s\" was rejected but changed the level to %d", bad[i],
			     spio_log_get_level());
		cr_assert(!spio_log_get_flag("log_utest"),
			  "spec \"%s\" was rejected but switched log_utest on", bad[i]);
	}
	cr_assert_eq(spio_log_apply_spec(NULL), -EINVAL, "NULL spec: expected -EINVAL");

	char longspec[1024];

	memset(longspec, 'a', sizeof(longspec) - 1);
	longspec[sizeof(longspec) - 1] = '\0';
	cr_assert_eq(spio_log_apply_spec(longspec), -EINVAL, "1023-char spec: expected -EINVAL");
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_WARN, "over-long spec changed the level");
}

Test(log, spec_unknown_flag)
{
	int rc = spio_log_apply_spec("debug:no_such_component");

	cr_assert_eq(rc, -ENOENT, "unknown flag: expected -ENOENT, got %d", rc);

	/* Known flags in the same spec are still applied. */
	rc = spio_log_apply_spec("info:no_such_component,log_utest");
	cr_assert_eq(rc, -ENOENT, "mixed known/unknown: expected -ENOENT, got %d", rc);
	cr_assert(spio_log_get_flag("log_utest"), "the known flag must be on despite -ENOENT");
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_INFO, "level must be applied, got %d",
		     spio_log_get_level());
}

Test(log, spec_flag_registered_later)
{
	static struct spio_log_flag late = {"log_utest_late", false, NULL};
	int rc = spio_log_apply_spec("debug:log_utest_late");

	cr_assert_eq(rc, -ENOENT, "not yet registered: expected -ENOENT, got %d", rc);
	spio_log_register_flag(&late);
	cr_assert(late.enabled, "a flag named by the spec must switch on when it registers");
	cr_assert(spio_log_get_flag("log_utest_late"), "get_flag must see the late flag on");
}

/* Runs fn with fd 2 pointed at a temporary file; returns the file's text. */
static char *capture_stderr(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved;
	long size;
	char *text;

	cr_assert_not_null(tmp, "tmpfile failed");
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	cr_assert_geq(saved, 0, "dup(2) failed");
	dup2(fileno(tmp), STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);

	size = ftell(tmp);
	cr_assert_geq(size, 0, "ftell failed");
	text = calloc(1, (size_t)size + 1);
	cr_assert_not_null(text, "calloc failed");
	rewind(tmp);
	cr_assert_eq(fread(text, 1, (size_t)size, tmp), (size_t)size, "short read");
	fclose(tmp);
	return text;
}

Test(log, env_applies)
{
	setenv("SPIO_LOG", "info:log_utest2", 1);
	int rc = spio_log_init_from_env();

	cr_assert_eq(rc, 0, "SPIO_LOG=info:log_utest2: expected 0, got %d", rc);
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_INFO, "level: expected info, got %d",
		     spio_log_get_level());
	cr_assert(spio_log_get_flag("log_utest2"), "log_utest2 must be on");
	cr_assert(!spio_log_get_flag("log_utest"), "log_utest must stay off");

	setenv("SPIO_LOG", "log_utest", 1);
	rc = spio_log_init_from_env();
	cr_assert_eq(rc, 0, "SPIO_LOG=log_utest: expected 0, got %d", rc);
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_DEBUG, "flag list implies debug");
	cr_assert(spio_log_get_flag("log_utest"), "log_utest must be on");
}

static int g_env_rc;

static void init_from_env_quietly(void)
{
	g_env_rc = spio_log_init_from_env();
}

Test(log, env_malformed_or_unset)
{
	spio_log_set_level(SPIO_LOG_WARN);

	setenv("SPIO_LOG", "bogus:log_utest", 1);
	char *text = capture_stderr(init_from_env_quietly);

	cr_assert_eq(g_env_rc, -EINVAL, "malformed SPIO_LOG: expected -EINVAL, got %d", g_env_rc);
	cr_assert(strstr(text, "bogus:log_utest") != NULL,
		  "the warning must quote the bad value, got \"%s\"", text);
	free(text);
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_WARN, "malformed SPIO_LOG changed the level");
	cr_assert(!spio_log_get_flag("log_utest"), "malformed SPIO_LOG switched a flag on");

	unsetenv("SPIO_LOG");
	int rc = spio_log_init_from_env();

	cr_assert_eq(rc, 0, "unset SPIO_LOG: expected 0, got %d", rc);
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_WARN, "unset SPIO_LOG changed the level");

	setenv("SPIO_LOG", "", 1);
	rc = spio_log_init_from_env();
	cr_assert_eq(rc, 0, "empty SPIO_LOG: expected 0, got %d", rc);
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_WARN, "empty SPIO_LOG changed the level");
}

Test(log, trailing_newline_dropped)
{
	SPIO_ERRLOG("ends with newline\n");
	cr_assert_eq(g_cap.count, 1, "expected 1 line, got %d", g_cap.count);
	size_t n = strlen(g_cap.lines[0]);

	cr_assert(n > 0 && g_cap.lines[0][n - 1] != '\n', "line must not end in a newline: \"%s\"",
		  g_cap.lines[0]);
	cr_assert(strstr(g_cap.lines[0], "ends with newline") != NULL, "message lost: \"%s\"",
		  g_cap.lines[0]);
}

Test(log, long_message_truncated)
{
	enum { MSG = 6000 };
	char *msg = malloc(MSG + 1);

	cr_assert_not_null(msg, "malloc failed");
	memset(msg, 'x', MSG);
	msg[MSG] = '\0';

	spio_log_set_level(SPIO_LOG_DEBUG);
	spio_log_set_flag("log_utest", true);
	SPIO_ERRLOG("%s", msg);
	SPIO_DEBUGLOG(log_utest, "%s", msg);
	SPIO_ERRLOG("after");
	cr_assert_eq(g_cap.count, 3, "expected 3 lines, got %d", g_cap.count);
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(g_cap.lines[i]);

		cr_assert_lt(n, (size_t)MSG, "line %d: expected truncation below %d, got %zu", i,
			     MSG, n);
		cr_assert_gt(n, (size_t)1000, "line %d: expected > 1000 characters kept, got %zu",
			     i, n);
		cr_assert_eq(g_cap.lines[i][n - 1], 'x', "line %d must end inside the message", i);
	}
	cr_assert(strstr(g_cap.lines[2], "after") != NULL,
		  "logging must continue normally after a long message: \"%s\"", g_cap.lines[2]);
	free(msg);
}

static void log_two_to_stderr(void)
{
	char big[5000];

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	SPIO_ERRLOG("to stderr %d", 5);
	SPIO_WARNLOG("%s", big);
	SPIO_INFOLOG("filtered out");
}

Test(log, default_sink_is_stderr)
{
	spio_log_set_sink(NULL, NULL);
	spio_log_set_level(SPIO_LOG_WARN);
	char *text = capture_stderr(log_two_to_stderr);

	cr_assert_eq(g_cap.count, 0, "a removed sink must not be called, got %d calls",
		     g_cap.count);
	char *first_nl = strchr(text, '\n');

	cr_assert_not_null(first_nl, "expected newline-terminated lines, got \"%.200s\"", text);
	cr_assert(strstr(text, "error: to stderr 5\n") != NULL,
		  "expected \"error: to stderr 5\" line, got \"%.200s\"", text);

	/* The long line is truncated but still newline-terminated. */
	char *second = first_nl + 1;
	char *second_nl = strchr(second, '\n');

	cr_assert_not_null(second_nl, "truncated line must still end in a newline");
	cr_assert_eq(second_nl[1], '\0', "expected exactly 2 lines on stderr");
	cr_assert_lt((size_t)(second_nl - second), (size_t)5000, "long line must be truncated");
	cr_assert_eq(second_nl[-1], 'y', "truncated line must end with message text");
	cr_assert(strstr(text, "filtered out") == NULL, "info must be filtered at level warn");
	free(text);
}

Test(log, syslog_level_set_get)
{
	cr_assert_eq(spio_log_get_syslog_level(), SPIO_LOG_DISABLED,
		     "syslog level: expected disabled by default, got %d",
		     spio_log_get_syslog_level());
	for (int l = SPIO_LOG_DISABLED; l <= SPIO_LOG_DEBUG; l++) {
		int rc = spio_log_set_syslog_level((enum spio_log_level)l);

		cr_assert_eq(rc, 0, "set_syslog_level(%d): expected 0, got %d", l, rc);
		cr_assert_eq(spio_log_get_syslog_level(), l,
			     "get_syslog_level: expected %d, got %d", l,
			     spio_log_get_syslog_level());
	}
	spio_log_set_syslog_level(SPIO_LOG_WARN);
	cr_assert_eq(spio_log_set_syslog_level((enum spio_log_level)5), -EINVAL,
		     "level 5: -EINVAL");
	cr_assert_eq(spio_log_set_syslog_level((enum spio_log_level) - 2), -EINVAL,
		     "level -2: -EINVAL");
	cr_assert_eq(spio_log_get_syslog_level(), SPIO_LOG_WARN,
		     "a rejected set_syslog_level changed the level to %d",
		     spio_log_get_syslog_level());
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_NOTICE,
		     "the syslog level must not move the print level, got %d",
		     spio_log_get_level());
	spio_log_set_syslog_level(SPIO_LOG_DISABLED);
}

static void log_for_syslog(void)
{
	SPIO_INFOLOG("info for syslog %d", 11);
	SPIO_DEBUGLOG(log_utest, "debug flag off");
	SPIO_DEBUGLOG(log_utest2, "debug flag on %d", 12);
}

/* LOG_PERROR makes the C library copy each syslog record to stderr, which is
 * the only place a test can read them back (there may be no syslog daemon). */
Test(log, syslog_level_sends_to_syslog)
{
	char *text;

	openlog("spio_log_utest", LOG_PERROR, LOG_USER);
	spio_log_set_level(SPIO_LOG_ERROR);
	spio_log_set_flag("log_utest2", true);

	text = capture_stderr(log_for_syslog);
	cr_assert_str_eq(text, "", "syslog level disabled: expected no syslog record, got \"%s\"",
			 text);
	free(text);

	spio_log_set_syslog_level(SPIO_LOG_DEBUG);
	text = capture_stderr(log_for_syslog);
	cr_assert(strstr(text, "info: info for syslog 11") != NULL,
		  "syslog level debug: expected the info message, got \"%s\"", text);
	cr_assert(strstr(text, "[log_utest2]: debug flag on 12") != NULL,
		  "syslog level debug: expected the flagged debug message, got \"%s\"", text);
	cr_assert(strstr(text, "debug flag off") == NULL,
		  "a debug message whose flag is off must not reach syslog: \"%s\"", text);
	cr_assert(strstr(text, "] info:") == NULL && strstr(text, "[20") == NULL,
		  "syslog records must not carry spio's timestamp: \"%s\"", text);
	cr_assert_eq(g_cap.count, 0,
		     "print level error: the sink must get none of these, got %d lines: \"%s\"",
		     g_cap.count, g_cap.lines[0]);
	free(text);

	spio_log_set_syslog_level(SPIO_LOG_WARN);
	text = capture_stderr(log_for_syslog);
	cr_assert_str_eq(text, "", "syslog level warn: expected no info/debug record, got \"%s\"",
			 text);
	free(text);

	spio_log_set_syslog_level(SPIO_LOG_DISABLED);
	closelog();
}

Test(log, timestamps_switch)
{
	cr_assert(spio_log_timestamps_enabled(), "timestamps must be on by default");
	spio_log_enable_timestamps(false);
	cr_assert(!spio_log_timestamps_enabled(), "timestamps must read as off");
	SPIO_ERRLOG("no stamp");
	cr_assert_eq(g_cap.count, 1, "expected 1 line, got %d", g_cap.count);
	cr_assert_str_eq(g_cap.lines[0], "error: no stamp",
			 "timestamps off: expected the bare line, got \"%s\"", g_cap.lines[0]);

	spio_log_enable_timestamps(true);
	SPIO_ERRLOG("stamped");
	cr_assert_eq(g_cap.count, 2, "expected 2 lines, got %d", g_cap.count);
	cr_assert_eq(g_cap.lines[1][0], '[', "timestamps on: expected a leading '[' in \"%s\"",
		     g_cap.lines[1]);
	cr_assert(strstr(g_cap.lines[1], "] error: stamped") != NULL,
		  "timestamps on: expected \"] error: stamped\" in \"%s\"", g_cap.lines[1]);
}

struct flag_list {
	int count;
	char names[64][64];
	bool enabled[64];
};

static void collect_flag(const char *name, bool enabled, void *ctx)
{
	struct flag_list *l = ctx;

	if (l->count < 64) {
		snprintf(l->names[l->count], sizeof(l->names[0]), "%s", name);
		l->enabled[l->count] = enabled;
	}
	l->count++;
}

static int flag_index(const struct flag_list *l, const char *name)
{
	for (int i = 0; i < l->count && i < 64; i++) {
		if (strcmp(l->names[i], name) == 0) {
			return i;
		}
	}
	return -1;
}

Test(log, foreach_flag_in_name_order)
{
	struct flag_list l = {0};
	int a, b;

	spio_log_set_flag("log_utest2", true);
	spio_log_foreach_flag(collect_flag, &l);
	cr_assert_leq(l.count, 64, "more flags than the test can hold: %d", l.count);
	a = flag_index(&l, "log_utest");
	b = flag_index(&l, "log_utest2");
	cr_assert(a >= 0 && b >= 0, "expected log_utest and log_utest2 among %d flags", l.count);
	cr_assert(!l.enabled[a], "log_utest: expected off");
	cr_assert(l.enabled[b], "log_utest2: expected on");
	cr_assert_geq(flag_index(&l, "thread"), 0, "the library's own flag thread must be listed");
	for (int i = 1; i < l.count; i++) {
		cr_assert_lt(strcmp(l.names[i - 1], l.names[i]), 0,
			     "flags out of name order: \"%s\" before \"%s\"", l.names[i - 1],
			     l.names[i]);
	}
	spio_log_foreach_flag(NULL, NULL);
}

/* Concurrent logging: every line arrives whole and none is lost. */

#define THREADS 4
#define PER_THREAD 2000

struct concurrent {
	pthread_mutex_t lock;
	int lines;
	int bad;
	int seen[THREADS][PER_THREAD];
};

static struct concurrent g_conc = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void concurrent_sink(enum spio_log_level level, const char *line, void *ctx)
{
	struct concurrent *c = ctx;
	const char *msg = strstr(line, "msg t=");
	int t = -1, i = -1;
	char tail[16] = "";

	if (msg == NULL || sscanf(msg, "msg t=%d i=%d %15s", &t, &i, tail) != 3 || t < 0 ||
	    t >= THREADS || i < 0 || i >= PER_THREAD || strcmp(tail, "end") != 0) {
		__atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
		return;
	}
	pthread_mutex_lock(&c->lock);
	c->lines++;
	c->seen[t][i]++;
	pthread_mutex_unlock(&c->lock);
}

static void *log_thread(void *arg)
{
	int t = (int)(intptr_t)arg;

	for (int i = 0; i < PER_THREAD; i++) {
		if (i % 2) {
			SPIO_NOTICELOG("msg t=%d i=%d end", t, i);
		} else {
			SPIO_DEBUGLOG(log_utest, "msg t=%d i=%d end", t, i);
		}
		/* Flag writes race with the reads in other threads' macros. */
		if (i % 500 == 0) {
			spio_log_set_flag("log_utest2", i % 1000 == 0);
		}
	}
	return NULL;
}

Test(log, concurrent_threads)
{
	pthread_t th[THREADS];

	spio_log_set_sink(concurrent_sink, &g_conc);
	spio_log_set_level(SPIO_LOG_DEBUG);
	spio_log_set_flag("log_utest", true);
	for (int t = 0; t < THREADS; t++) {
		cr_assert_eq(pthread_create(&th[t], NULL, log_thread, (void *)(intptr_t)t), 0,
			     "pthread_create %d failed", t);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
	}

	cr_assert_eq(g_conc.bad, 0, "expected no garbled lines, got %d", g_conc.bad);
	cr_assert_eq(g_conc.lines, THREADS * PER_THREAD, "expected %d lines, got %d",
		     THREADS * PER_THREAD, g_conc.lines);
	for (int t = 0; t < THREADS; t++) {
		for (int i = 0; i < PER_THREAD; i++) {
			cr_assert_eq(g_conc.seen[t][i], 1, "thread %d message %d: seen %d times", t,
				     i, g_conc.seen[t][i]);
		}
	}
}
