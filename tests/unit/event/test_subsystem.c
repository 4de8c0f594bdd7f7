/*
 * Subsystems: registration errors, dependency order (init in order, fini in
 * reverse), asynchronous init/fini completed from other threads, dependency
 * cycles and unknown names (start-up fails with a message naming them), a
 * failing init (start-up stops, only initialised subsystems are finished), a
 * stop requested while an init is pending, and framework_get_subsystems.
 *
 * Each test runs in its own process, so subsystems registered in a test
 * body exist for that test only.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "helper_subsystems.h"
#include "json/json_val_internal.h"
#include "spio/app.h"
#include "spio/event.h"
#include "spio/log.h"
#include "spio/rpc.h"

TestSuite(subsystem, .timeout = 120);

static void base_opts(struct spio_app_opts *o)
{
	spio_app_opts_init(o, sizeof(*o));
	o->name = "test_subsystem";
	o->reactor_mask = "0x1";
	o->rpc_addr = NULL;
	o->no_huge = true;
}

/* Captured log lines, to check that errors name what is wrong. */
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_log[32768];
static size_t g_log_len;

static void log_sink(enum spio_log_level level, const char *line, void *ctx)
{
	pthread_mutex_lock(&g_log_lock);
	g_log_len += (size_t)snprintf(g_log + g_log_len, sizeof(g_log) - g_log_len, "%s\n", line);
	if (g_log_len >= sizeof(g_log)) {
		g_log_len = sizeof(g_log) - 1;
	}
	fprintf(stderr, "%s\n", line);
	pthread_mutex_unlock(&g_log_lock);
}

static void capture_log(void)
{
	g_log_len = 0;
	g_log[0] = '\0';
	spio_log_set_sink(log_sink, NULL);
}

static bool log_has(const char *text)
{
	bool found;

	pthread_mutex_lock(&g_log_lock);
	found = strstr(g_log, text) != NULL;
	pthread_mutex_unlock(&g_log_lock);
	return found;
}

/* What the subsystems did, in order: "+a" init, "-a" fini. */
static char g_trace[256];
static int g_start_calls;

static void trace(const char *what)
{
	strncat(g_trace, what, sizeof(g_trace) - strlen(g_trace) - 1);
}

static void start_stop(void *arg)
{
	g_start_calls++;
	trace("!");
	spio_app_stop(0);
}

#define DEFINE_SUB(x)                                                                          \
	static void x##_init(void)                                                             \
	{                                                                                      \
		trace("+" #x);                                                                 \
		spio_subsystem_init_next(0);                                                   \
	}                                                                                      \
	static void x##_fini(void)                                                             \
	{                                                                                      \
		trace("-" #x);                                                                 \
		spio_subsystem_fini_next();                                                    \
	}                                                                                      \
	static struct spio_subsystem g_##x = {.name = #x, .init = x##_init, .fini = x##_fini}; \
	static struct spio_subsystem_depend g_##x##_dep = {.name = #x};                        \
	__attribute__((unused)) static void x##_depends(const char *on)                        \
	{                                                                                      \
		g_##x##_dep.depends_on = on;                                                   \
		cr_assert_eq(spio_subsystem_add_depend(&g_##x##_dep), 0,                       \
			     "add_depend " #x " -> %s failed", on);                            \
	}

DEFINE_SUB(a)
DEFINE_SUB(b)
DEFINE_SUB(c)
DEFINE_SUB(d)

static void reg(struct spio_subsystem *s)
{
	int rc = spio_subsystem_register(s);

	cr_assert_eq(rc, 0, "register %s: expected 0, got %d", s->name, rc);
}

/*
 * Registration
 */

static int g_busy_rc, g_busy_dep_rc;

static void start_register_busy(void *arg)
{
	static struct spio_subsystem late = {.name = "late"};
	static struct spio_subsystem_depend late_dep = {.name = "late", .depends_on = "a"};

	g_busy_rc = spio_subsystem_register(&late);
	g_busy_dep_rc = spio_subsystem_add_depend(&late_dep);
	spio_app_stop(0);
}

Test(subsystem, registration_errors)
{
	static struct spio_subsystem noname = {.name = NULL};
	static struct spio_subsystem empty = {.name = ""};
	static struct spio_subsystem dup = {.name = "a"};
	static struct spio_subsystem_depend bad_dep = {.name = "a", .depends_on = NULL};
	struct spio_app_opts o;
	int rc;

	cr_assert_eq(spio_subsystem_register(NULL), -EINVAL, "NULL: expected -EINVAL");
	cr_assert_eq(spio_subsystem_register(&noname), -EINVAL, "NULL name: expected -EINVAL");
	cr_assert_eq(spio_subsystem_register(&empty), -EINVAL, "empty name: expected -EINVAL");
	reg(&g_a);
	rc = spio_subsystem_register(&g_a);
	cr_assert_eq(rc, -EEXIST, "same subsystem twice: expected -EEXIST, got %d", rc);
	rc = spio_subsystem_register(&dup);
	cr_assert_eq(rc, -EEXIST, "same name twice: expected -EEXIST, got %d", rc);
	cr_assert_eq(spio_subsystem_add_depend(NULL), -EINVAL, "NULL depend: expected -EINVAL");
	cr_assert_eq(spio_subsystem_add_depend(&bad_dep), -EINVAL,
		     "depend on NULL: expected -EINVAL");
	cr_assert(spio_subsystem_find("a") == &g_a, "find a");
	cr_assert_null(spio_subsystem_find("zz"), "find an unknown name: expected NULL");
	cr_assert_null(spio_subsystem_find(NULL), "find NULL: expected NULL");

	base_opts(&o);
	rc = spio_app_start(&o, start_register_busy, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_eq(g_busy_rc, -EBUSY, "register while running: expected -EBUSY, got %d",
		     g_busy_rc);
	cr_assert_eq(g_busy_dep_rc, -EBUSY, "add_depend while running: expected -EBUSY, got %d",
		     g_busy_dep_rc);
}

/*
 * Order
 */

static json_t *g_subs_result;
static int g_subs_err;

static void subs_done(void *ctx, int error_code, const char *error_msg,
		      const struct spio_json_val *result_val)
{
	json_t *result = json_val_to_jansson(result_val);
	g_subs_err = error_code;
	g_subs_result = json_incref(result);
	spio_app_stop(0);
}

static void start_get_subsystems(void *arg)
{
	trace("!");
	int rc = spio_rpc_call("framework_get_subsystems", NULL, subs_done, NULL);

	if (rc != 0) {
		spio_app_stop(rc);
	}
}

Test(subsystem, dependency_order)
{
	struct spio_app_opts o;
	json_t *e;
	int rc;

	/* Registered c, b, a, d with c -> b -> a: init a b c d, fini d c b a. */
	reg(&g_c);
	reg(&g_b);
	reg(&g_a);
	reg(&g_d);
	c_depends("b");
	b_depends("a");
	base_opts(&o);
	rc = spio_app_start(&o, start_get_subsystems, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_str_eq(g_trace, "+a+b+c+d!-d-c-b-a", "expected +a+b+c+d!-d-c-b-a, got %s",
			 g_trace);

	cr_assert_eq(g_subs_err, 0, "framework_get_subsystems: error %d", g_subs_err);
	cr_assert(json_is_array(g_subs_result), "framework_get_subsystems: expected an array");
	static const char *const mine[] = {"a", "b", "c", "d", NULL};
	json_t *subs = test_only_subsystems(g_subs_result, mine);
	cr_assert_eq(json_array_size(subs), 4, "expected 4 subsystems, got %zu",
		     json_array_size(subs));
	e = json_array_get(subs, 2);
	cr_assert_str_eq(json_string_value(json_object_get(e, "subsystem")), "c",
			 "third subsystem: expected c");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(e, "depends_on"), 0)),
			 "b", "c depends on b");
	e = json_array_get(subs, 0);
	cr_assert_eq(json_array_size(json_object_get(e, "depends_on")), 0, "a depends on nothing");
	json_decref(subs);
	json_decref(g_subs_result);
}

Test(subsystem, no_subsystems)
{
	struct spio_app_opts o;
	int rc;

	base_opts(&o);
	rc = spio_app_start(&o, start_stop, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_str_eq(g_trace, "!", "expected only start, got %s", g_trace);
}

static void start_never(void *arg)
{
	g_start_calls++;
	spio_app_stop(0);
}

Test(subsystem, cycle_is_reported)
{
	struct spio_app_opts o;
	int rc;

	reg(&g_a);
	reg(&g_b);
	reg(&g_c);
	reg(&g_d);
	a_depends("b");
	b_depends("c");
	c_depends("a");
	capture_log();
	base_opts(&o);
	rc = spio_app_start(&o, start_never, NULL);
	spio_log_set_sink(NULL, NULL);
	cr_assert_eq(rc, -EINVAL, "cycle: expected -EINVAL, got %d", rc);
	cr_assert_eq(g_start_calls, 0, "start_fn must not run");
	cr_assert_str_eq(g_trace, "", "no init may run, got %s", g_trace);
	cr_assert(log_has("cycle: a -> b -> c -> a"), "the message must name the cycle; log:\n%s",
		  g_log);
}

Test(subsystem, self_dependency_is_a_cycle)
{
	struct spio_app_opts o;
	int rc;

	reg(&g_a);
	a_depends("a");
	capture_log();
	base_opts(&o);
	rc = spio_app_start(&o, start_never, NULL);
	spio_log_set_sink(NULL, NULL);
	cr_assert_eq(rc, -EINVAL, "a -> a: expected -EINVAL, got %d", rc);
	cr_assert(log_has("cycle: a -> a"), "the message must name the cycle; log:\n%s", g_log);
}

Test(subsystem, unknown_dependency_is_reported)
{
	struct spio_app_opts o;
	int rc;

	reg(&g_a);
	a_depends("nothere");
	capture_log();
	base_opts(&o);
	rc = spio_app_start(&o, start_never, NULL);
	spio_log_set_sink(NULL, NULL);
	cr_assert_eq(rc, -EINVAL, "unknown dependency: expected -EINVAL, got %d", rc);
	cr_assert_eq(g_start_calls, 0, "start_fn must not run");
	cr_assert(log_has("a -> nothere: no subsystem named 'nothere'"),
		  "the message must name the missing subsystem; log:\n%s", g_log);
}

/*
 * Failures and asynchronous steps
 */

static void fail_init(void)
{
	trace("+f");
	spio_subsystem_init_next(-EIO);
}

static void fail_fini(void)
{
	trace("-f");
	spio_subsystem_fini_next();
}

static struct spio_subsystem g_fail = {.name = "f", .init = fail_init, .fini = fail_fini};

Test(subsystem, failing_init_stops_startup)
{
	struct spio_app_opts o;
	int rc;

	reg(&g_a);
	reg(&g_fail);
	reg(&g_c);
	capture_log();
	base_opts(&o);
	rc = spio_app_start(&o, start_never, NULL);
	spio_log_set_sink(NULL, NULL);
	cr_assert_eq(rc, -EIO, "init failing with -EIO: expected -EIO, got %d", rc);
	cr_assert_eq(g_start_calls, 0, "start_fn must not run");
	cr_assert_str_eq(g_trace, "+a+f-a",
			 "expected a initialised, f failed, only a finished; got %s", g_trace);
	cr_assert(log_has("subsystem f: init failed"), "the message must name f; log:\n%s", g_log);
}

static void *later_thread(void *arg)
{
	usleep(20 * 1000);
	if (arg == NULL) {
		trace("+s");
		spio_subsystem_init_next(0);
	} else {
		trace("-s");
		spio_subsystem_fini_next();
	}
	return NULL;
}

static pthread_t g_later;
static bool g_stop_in_init;

static void slow_init(void)
{
	if (g_stop_in_init) {
		spio_app_stop(9);
	}
	/* Completed from an OS thread that is not a spio thread. */
	pthread_create(&g_later, NULL, later_thread, NULL);
}

static void slow_fini_event(void *arg1, void *arg2)
{
	trace("-s");
	spio_subsystem_fini_next();
}

static void slow_fini(void)
{
	/* Completed from a reactor event (no current spio_thread). */
	spio_event_call(0, slow_fini_event, NULL, NULL);
}

static struct spio_subsystem g_slow = {.name = "s", .init = slow_init, .fini = slow_fini};

Test(subsystem, asynchronous_init_and_fini)
{
	struct spio_app_opts o;
	int rc;

	reg(&g_a);
	reg(&g_slow);
	reg(&g_c);
	base_opts(&o);
	rc = spio_app_start(&o, start_stop, NULL);
	pthread_join(g_later, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_str_eq(g_trace, "+a+s+c!-c-s-a", "expected +a+s+c!-c-s-a, got %s", g_trace);
}

Test(subsystem, stop_while_init_pending)
{
	struct spio_app_opts o;
	int rc;

	reg(&g_a);
	reg(&g_slow);
	reg(&g_c);
	g_stop_in_init = true;
	base_opts(&o);
	rc = spio_app_start(&o, start_never, NULL);
	pthread_join(g_later, NULL);
	cr_assert_eq(rc, 9, "stop(9) during init: expected 9, got %d", rc);
	cr_assert_eq(g_start_calls, 0, "start_fn must not run");
	cr_assert_str_eq(g_trace, "+a+s-s-a",
			 "the pending init completes, later ones never start, then reverse fini; "
			 "got %s",
			 g_trace);
}

static void stray_next(void *arg)
{
	/* Outside any init or fini: reported and ignored. */
	spio_subsystem_init_next(0);
	spio_subsystem_fini_next();
	spio_app_stop(0);
}

Test(subsystem, stray_next_calls_are_ignored)
{
	struct spio_app_opts o;
	int rc;

	reg(&g_a);
	capture_log();
	base_opts(&o);
	rc = spio_app_start(&o, stray_next, NULL);
	spio_log_set_sink(NULL, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_str_eq(g_trace, "+a-a", "expected +a-a, got %s", g_trace);
	cr_assert(log_has("spio_subsystem_init_next called while no subsystem initialises"),
		  "a stray init_next must be reported; log:\n%s", g_log);
}
