/*
 * SPDK's log RPCs (lib/event/log_rpc.c), called in-process with
 * spio_rpc_call() on a spio_thread the test polls itself: each reply's shape,
 * the effect on lib/log (print level, syslog level, flags, timestamps), and
 * the refusal of bad input with -32602 and a message naming the bad value.
 *
 * Criterion runs each test in its own process; the suite still saves the log
 * state before each test and restores it after, so a test never leaks its
 * levels or flags into whatever runs next in the same process.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/json_val.h"
#include "spio/log.h"
#include "spio/rpc.h"
#include "spio/thread.h"
#include "spio/util.h"

SPIO_LOG_REGISTER_COMPONENT(log_rpc_utest)

#define MAX_FLAGS 64

struct log_state {
	enum spio_log_level print_level;
	enum spio_log_level syslog_level;
	bool timestamps;
	int nflags;
	char names[MAX_FLAGS][64];
	bool enabled[MAX_FLAGS];
};

static struct spio_thread *g_t;
static struct log_state g_saved;

static void save_flag(const char *name, bool enabled, void *ctx)
{
	struct log_state *s = ctx;

	if (s->nflags < MAX_FLAGS) {
		snprintf(s->names[s->nflags], sizeof(s->names[0]), "%s", name);
		s->enabled[s->nflags] = enabled;
	}
	s->nflags++;
}

static void setup(void)
{
	memset(&g_saved, 0, sizeof(g_saved));
	g_saved.print_level = spio_log_get_level();
	g_saved.syslog_level = spio_log_get_syslog_level();
	g_saved.timestamps = spio_log_timestamps_enabled();
	spio_log_foreach_flag(save_flag, &g_saved);
	cr_assert_leq(g_saved.nflags, MAX_FLAGS, "more flags (%d) than the test can save",
		      g_saved.nflags);

	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0, "spio_thread_lib_init failed");
	g_t = spio_thread_create("log_rpc", NULL);
	cr_assert_not_null(g_t, "spio_thread_create failed");
	spio_set_thread(g_t);
}

static void teardown(void)
{
	spio_thread_exit(g_t);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_t); i++) {
		spio_thread_poll(g_t, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(g_t);
	spio_thread_lib_fini();

	spio_log_set_level(g_saved.print_level);
	spio_log_set_syslog_level(g_saved.syslog_level);
	spio_log_enable_timestamps(g_saved.timestamps);
	for (int i = 0; i < g_saved.nflags; i++) {
		spio_log_set_flag(g_saved.names[i], g_saved.enabled[i]);
	}
}

TestSuite(log_rpc, .init = setup, .fini = teardown, .timeout = 60);

/*
 * Calling a method
 */

struct reply {
	int calls;
	int code;
	char msg[512];
	struct spio_json_val *result;
};

static void reply_cb(void *ctx, int code, const char *msg, const struct spio_json_val *result)
{
	struct reply *r = ctx;

	r->calls++;
	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
	r->result = result ? spio_json_val_ref(result) : NULL;
}

/* Call `method` with `params` given as JSON text (NULL: none) and wait for
 * the answer. The caller frees r->result. */
static void call(const char *method, const char *params, struct reply *r)
{
	struct spio_json_val *p = NULL;
	char err[128];
	int rc;

	memset(r, 0, sizeof(*r));
	if (params != NULL) {
		p = spio_json_parse(params, strlen(params), err, sizeof(err));
		cr_assert_not_null(p, "test bug: params %s do not parse: %s", params, err);
	}
	rc = spio_rpc_call(method, p, reply_cb, r);
	cr_assert_eq(rc, 0, "spio_rpc_call(%s): expected 0, got %d", method, rc);
	for (int i = 0; i < 1000 && r->calls == 0; i++) {
		spio_thread_poll(g_t, 0, 0);
	}
	cr_assert_eq(r->calls, 1, "%s %s: callback called %d times, expected once", method,
		     params ? params : "", r->calls);
	spio_json_val_free(p);
}

static void expect_true(const char *method, const char *params)
{
	struct reply r;
	bool v = false;

	call(method, params, &r);
	cr_assert_eq(r.code, 0, "%s %s: expected success, got %d \"%s\"", method,
		     params ? params : "", r.code, r.msg);
	cr_assert(spio_json_bool(r.result, &v) == 0 && v, "%s %s: expected the result true", method,
		  params ? params : "");
	spio_json_val_free(r.result);
}

/* The method must answer error `code` with `want` in its message. */
static void expect_error(const char *method, const char *params, int code, const char *want)
{
	struct reply r;

	call(method, params, &r);
	cr_assert_eq(r.code, code, "%s %s: expected error %d, got %d \"%s\"", method,
		     params ? params : "(none)", code, r.code, r.msg);
	cr_assert_null(r.result, "%s %s: an error must carry no result", method,
		       params ? params : "(none)");
	cr_assert(strstr(r.msg, want) != NULL, "%s %s: expected \"%s\" in the message, got \"%s\"",
		  method, params ? params : "(none)", want, r.msg);
}

/* The string result of a getter. */
static void expect_string(const char *method, const char *want)
{
	struct reply r;
	const char *got;

	call(method, NULL, &r);
	cr_assert_eq(r.code, 0, "%s: expected success, got %d \"%s\"", method, r.code, r.msg);
	got = spio_json_string(r.result);
	cr_assert_not_null(got, "%s: expected a string result", method);
	cr_assert_str_eq(got, want, "%s: expected \"%s\", got \"%s\"", method, want, got);
	spio_json_val_free(r.result);
}

/*
 * Flags
 */

struct flags_check {
	int members;
	int not_bool;
	int mismatched;
};

static int check_flag_member(const char *key, const struct spio_json_val *val, void *ctx)
{
	struct flags_check *c = ctx;
	bool v;

	c->members++;
	if (spio_json_bool(val, &v) != 0) {
		c->not_bool++;
	} else if (v != spio_log_get_flag(key)) {
		c->mismatched++;
	}
	return 0;
}

/* log_get_flags: an object of booleans, one per registered flag, matching lib/log. */
static struct spio_json_val *get_flags_checked(void)
{
	struct log_state now = {0};
	struct flags_check c = {0};
	struct reply r;

	call("log_get_flags", NULL, &r);
	cr_assert_eq(r.code, 0, "log_get_flags: expected success, got %d \"%s\"", r.code, r.msg);
	cr_assert(spio_json_is_object(r.result), "log_get_flags: expected an object");
	spio_json_object_foreach(r.result, check_flag_member, &c);
	spio_log_foreach_flag(save_flag, &now);
	cr_assert_eq(c.members, now.nflags, "log_get_flags: expected %d members, got %d",
		     now.nflags, c.members);
	cr_assert_eq(c.not_bool, 0, "log_get_flags: %d members are not booleans", c.not_bool);
	cr_assert_eq(c.mismatched, 0, "log_get_flags: %d members disagree with lib/log",
		     c.mismatched);
	return r.result;
}

static bool flag_in_reply(const struct spio_json_val *flags, const char *name)
{
	bool v = false;

	cr_assert_eq(spio_json_bool(spio_json_object_get(flags, name), &v), 0,
		     "log_get_flags: no boolean member \"%s\"", name);
	return v;
}

Test(log_rpc, set_and_clear_flag)
{
	struct spio_json_val *flags;

	spio_log_set_flag("log_rpc_utest", false);
	flags = get_flags_checked();
	cr_assert(!flag_in_reply(flags, "log_rpc_utest"), "log_rpc_utest: expected false");
	cr_assert_not_null(spio_json_object_get(flags, "thread"),
			   "log_get_flags must list the library's flag \"thread\"");
	spio_json_val_free(flags);

	expect_true("log_set_flag", "{\"flag\": \"log_rpc_utest\"}");
	cr_assert(spio_log_get_flag("log_rpc_utest"), "log_set_flag did not switch the flag on");
	flags = get_flags_checked();
	cr_assert(flag_in_reply(flags, "log_rpc_utest"), "log_rpc_utest: expected true");
	spio_json_val_free(flags);

	expect_true("log_clear_flag", "{\"flag\": \"log_rpc_utest\"}");
	cr_assert(!spio_log_get_flag("log_rpc_utest"), "log_clear_flag did not switch it off");
	flags = get_flags_checked();
	cr_assert(!flag_in_reply(flags, "log_rpc_utest"), "log_rpc_utest: expected false again");
	spio_json_val_free(flags);
}

Test(log_rpc, all_flags)
{
	expect_true("log_set_flag", "{\"flag\": \"all\"}");
	cr_assert(spio_log_get_flag("log_rpc_utest") && spio_log_get_flag("thread"),
		  "\"all\" must switch every flag on");
	spio_json_val_free(get_flags_checked());
	expect_true("log_clear_flag", "{\"flag\": \"all\"}");
	cr_assert(!spio_log_get_flag("log_rpc_utest") && !spio_log_get_flag("thread"),
		  "\"all\" must switch every flag off");
	spio_json_val_free(get_flags_checked());
}

Test(log_rpc, bad_flag_params)
{
	static const char *const methods[] = {"log_set_flag", "log_clear_flag"};

	spio_log_set_flag("log_rpc_utest", false);
	for (size_t i = 0; i < SPIO_COUNTOF(methods); i++) {
		const char *m = methods[i];

		expect_error(m, "{\"flag\": \"no_such_flag\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
			     "no_such_flag");
		expect_error(m, "{\"flag\": \"\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
			     "invalid log flag");
		expect_error(m, NULL, SPIO_JSONRPC_ERROR_INVALID_PARAMS, "flag");
		expect_error(m, "{}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "flag");
		expect_error(m, "{\"flag\": 5}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "flag");
		expect_error(m, "{\"flag\": null}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "flag");
		expect_error(m, "{\"flag\": \"log_rpc_utest\", \"extra\": 1}",
			     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "extra");
		expect_error(m, "[\"log_rpc_utest\"]", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "");
	}
	cr_assert(!spio_log_get_flag("log_rpc_utest"), "a refused call changed log_rpc_utest");
}

/*
 * Levels
 */

static const char *const g_names[] = {"ERROR", "WARNING", "NOTICE", "INFO", "DEBUG"};

Test(log_rpc, print_level_round_trip)
{
	spio_log_set_syslog_level(SPIO_LOG_DISABLED);
	for (int l = SPIO_LOG_ERROR; l <= SPIO_LOG_DEBUG; l++) {
		char params[64];

		snprintf(params, sizeof(params), "{\"level\": \"%s\"}", g_names[l]);
		expect_true("log_set_print_level", params);
		cr_assert_eq(spio_log_get_level(), l,
			     "log_set_print_level %s: level %d, expected %d", g_names[l],
			     spio_log_get_level(), l);
		expect_string("log_get_print_level", g_names[l]);
	}
	cr_assert_eq(spio_log_get_syslog_level(), SPIO_LOG_DISABLED,
		     "the print level must not move the syslog level");

	/* Case does not matter, the answer is spelled as SPDK does. */
	expect_true("log_set_print_level", "{\"level\": \"warning\"}");
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_WARN, "\"warning\": expected warn");
	expect_string("log_get_print_level", "WARNING");
	expect_true("log_set_print_level", "{\"level\": \"Notice\"}");
	expect_string("log_get_print_level", "NOTICE");
}

Test(log_rpc, log_level_is_the_syslog_level)
{
	spio_log_set_syslog_level(SPIO_LOG_DISABLED);
	spio_log_set_level(SPIO_LOG_NOTICE);
	expect_error("log_get_level", NULL, SPIO_JSONRPC_ERROR_INTERNAL_ERROR, "disabled");

	for (int l = SPIO_LOG_ERROR; l <= SPIO_LOG_DEBUG; l++) {
		char params[64];

		snprintf(params, sizeof(params), "{\"level\": \"%s\"}", g_names[l]);
		expect_true("log_set_level", params);
		cr_assert_eq(spio_log_get_syslog_level(), l,
			     "log_set_level %s: syslog level %d, expected %d", g_names[l],
			     spio_log_get_syslog_level(), l);
		expect_string("log_get_level", g_names[l]);
	}
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_NOTICE,
		     "log_set_level must not move the print level, got %d", spio_log_get_level());
	expect_string("log_get_print_level", "NOTICE");

	spio_log_set_level(SPIO_LOG_DISABLED);
	expect_error("log_get_print_level", NULL, SPIO_JSONRPC_ERROR_INTERNAL_ERROR, "disabled");
}

Test(log_rpc, bad_level_params)
{
	static const char *const methods[] = {"log_set_print_level", "log_set_level"};

	spio_log_set_level(SPIO_LOG_INFO);
	spio_log_set_syslog_level(SPIO_LOG_ERROR);
	for (size_t i = 0; i < SPIO_COUNTOF(methods); i++) {
		const char *m = methods[i];

		expect_error(m, "{\"level\": \"LOUD\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "LOUD");
		/* spio's own spellings are not SPDK's: refused like any other name. */
		expect_error(m, "{\"level\": \"warn\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "warn");
		expect_error(m, "{\"level\": \"disabled\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
			     "disabled");
		expect_error(m, "{\"level\": \"\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
			     "invalid log level");
		expect_error(m, NULL, SPIO_JSONRPC_ERROR_INVALID_PARAMS, "level");
		expect_error(m, "{}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "level");
		expect_error(m, "{\"level\": 2}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "level");
		expect_error(m, "{\"level\": true}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "level");
		expect_error(m, "{\"level\": \"INFO\", \"flag\": \"x\"}",
			     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "flag");
	}
	cr_assert_eq(spio_log_get_level(), SPIO_LOG_INFO, "a refused call moved the print level");
	cr_assert_eq(spio_log_get_syslog_level(), SPIO_LOG_ERROR,
		     "a refused call moved the syslog level");
}

Test(log_rpc, getters_take_no_params)
{
	static const char *const getters[] = {"log_get_flags", "log_get_level",
					      "log_get_print_level"};

	spio_log_set_level(SPIO_LOG_NOTICE);
	spio_log_set_syslog_level(SPIO_LOG_NOTICE);
	for (size_t i = 0; i < SPIO_COUNTOF(getters); i++) {
		struct reply r;

		expect_error(getters[i], "{\"level\": \"INFO\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
			     getters[i]);
		expect_error(getters[i], "[1]", SPIO_JSONRPC_ERROR_INVALID_PARAMS, getters[i]);
		/* An empty object is no parameters. */
		call(getters[i], "{}", &r);
		cr_assert_eq(r.code, 0, "%s {}: expected success, got %d \"%s\"", getters[i],
			     r.code, r.msg);
		spio_json_val_free(r.result);
	}
}

/*
 * Timestamps
 */

Test(log_rpc, enable_timestamps)
{
	/* Runtime only, as in SPDK. */
	expect_error("log_enable_timestamps", "{\"enabled\": false}",
		     SPIO_JSONRPC_ERROR_INVALID_STATE, "");
	cr_assert(spio_log_timestamps_enabled(), "a refused call switched timestamps off");

	spio_rpc_set_state(SPIO_RPC_RUNTIME);
	expect_true("log_enable_timestamps", "{\"enabled\": false}");
	cr_assert(!spio_log_timestamps_enabled(), "enabled false: timestamps must be off");
	expect_true("log_enable_timestamps", "{\"enabled\": true}");
	cr_assert(spio_log_timestamps_enabled(), "enabled true: timestamps must be on");

	expect_error("log_enable_timestamps", NULL, SPIO_JSONRPC_ERROR_INVALID_PARAMS, "enabled");
	expect_error("log_enable_timestamps", "{\"enabled\": \"no\"}",
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "enabled");
	expect_error("log_enable_timestamps", "{\"enabled\": 0}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		     "enabled");
	expect_error("log_enable_timestamps", "{\"enabled\": false, \"utc\": true}",
		     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "utc");
	cr_assert(spio_log_timestamps_enabled(), "a refused call switched timestamps off");
	spio_rpc_set_state(SPIO_RPC_STARTUP);
}
