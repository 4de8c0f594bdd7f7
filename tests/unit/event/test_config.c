/*
 * The JSON configuration and the framework's RPC methods: entries run in
 * file order as RPC calls in two passes as SPDK runs them (methods allowed
 * at startup in the STARTUP state before the subsystems start, runtime-only
 * methods after, in the RUNTIME state; asynchronous answers included);
 * every failure mode stops start-up with a message naming the file and
 * position or the entry (malformed JSON, unreadable file, wrong shapes,
 * unknown subsystem, unknown method, failing method); SPDK's subsystems and
 * methods spio lacks are skipped when they hold SPDK's defaults and refused
 * by parameter otherwise; save_config output loads back to the same
 * configuration; framework_get_config, framework_wait_init,
 * framework_get_reactors and thread_get_stats answer in SPDK's shapes.
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

TestSuite(config, .timeout = 120);

static void base_opts(struct spio_app_opts *o, const char *text)
{
	spio_app_opts_init(o, sizeof(*o));
	o->name = "test_config";
	o->reactor_mask = "0x1";
	o->rpc_addr = NULL;
	o->no_huge = true;
	o->json_config_text = text;
}

/* Captured log lines. */
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

static bool log_has(const char *text)
{
	bool found;

	pthread_mutex_lock(&g_log_lock);
	found = strstr(g_log, text) != NULL;
	pthread_mutex_unlock(&g_log_lock);
	return found;
}

/*
 * Two subsystems whose state is what the test methods recorded; their
 * write_config_json writes it back as config entries.
 */

#define MAX_RECORDS 16

struct record {
	char sub[16];
	char name[32];
	int64_t value;
	uint32_t state; /* RPC state when the method ran */
};

static struct record g_rec[MAX_RECORDS];
static int g_nrec;
static char g_trace[128];
static int g_start_calls;
static uint32_t g_state_at_start;

static void trace(const char *what)
{
	strncat(g_trace, what, sizeof(g_trace) - strlen(g_trace) - 1);
}

static void write_records(struct spio_json_write_ctx *w, const char *sub)
{
	spio_json_write_array_begin(w);
	for (int i = 0; i < g_nrec; i++) {
		if (strcmp(g_rec[i].sub, sub) != 0) {
			continue;
		}
		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "method", "test_record");
		spio_json_write_named_object_begin(w, "params");
		spio_json_write_named_string(w, "sub", g_rec[i].sub);
		spio_json_write_named_string(w, "name", g_rec[i].name);
		spio_json_write_named_int64(w, "value", g_rec[i].value);
		spio_json_write_object_end(w);
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
}

static void alpha_init(void)
{
	trace("+alpha");
	spio_subsystem_init_next(0);
}

static void alpha_fini(void)
{
	trace("-alpha");
	spio_subsystem_fini_next();
}

static void alpha_write(struct spio_json_write_ctx *w)
{
	write_records(w, "alpha");
}

static void beta_write(struct spio_json_write_ctx *w)
{
	write_records(w, "beta");
}

static struct spio_subsystem g_alpha = {
    .name = "alpha", .init = alpha_init, .fini = alpha_fini, .write_config_json = alpha_write};
static struct spio_subsystem g_beta = {.name = "beta", .write_config_json = beta_write};
static struct spio_subsystem g_quiet = {.name = "quiet"}; /* no config: null */
static struct spio_subsystem_depend g_beta_dep = {.name = "beta", .depends_on = "alpha"};

struct record_params {
	char *sub;
	char *name;
	int64_t value;
};

static const struct spio_rpc_param g_record_decoders[] = {
    {"sub", SPIO_RPC_PARAM_STRING, offsetof(struct record_params, sub), false},
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct record_params, name), false},
    {"value", SPIO_RPC_PARAM_INT64, offsetof(struct record_params, value), true},
};

static void rpc_test_record(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct record_params p = {0};
	char err[128] = "too many records";

	if (spio_rpc_decode_params(params, g_record_decoders, SPIO_COUNTOF(g_record_decoders), &p,
				   err, sizeof(err)) != 0 ||
	    g_nrec == MAX_RECORDS) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
	} else {
		struct record *r = &g_rec[g_nrec++];

		snprintf(r->sub, sizeof(r->sub), "%s", p.sub);
		snprintf(r->name, sizeof(r->name), "%s", p.name);
		r->value = p.value;
		r->state = spio_rpc_get_state();
		spio_jsonrpc_send_bool_response(req, true);
	}
	spio_rpc_params_free(g_record_decoders, SPIO_COUNTOF(g_record_decoders), &p);
}

static void rpc_test_fail(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
					 "value out of range");
}

/* Answers later, from a message, after recording. */
static void async_answer(void *arg)
{
	struct spio_jsonrpc_request *req = arg;

	if (g_nrec < MAX_RECORDS) {
		struct record *r = &g_rec[g_nrec++];

		snprintf(r->sub, sizeof(r->sub), "beta");
		snprintf(r->name, sizeof(r->name), "async");
		r->state = spio_rpc_get_state();
	}
	spio_jsonrpc_send_bool_response(req, true);
}

static void rpc_test_async(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	spio_thread_send_msg(spio_get_thread(), async_answer, req);
}

static void rpc_test_runtime(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	if (g_nrec < MAX_RECORDS) {
		struct record *r = &g_rec[g_nrec++];

		snprintf(r->sub, sizeof(r->sub), "beta");
		snprintf(r->name, sizeof(r->name), "runtime");
		r->state = spio_rpc_get_state();
	}
	trace("@runtime");
	spio_jsonrpc_send_bool_response(req, true);
}

static void setup(void)
{
	static bool registered;
	int rc;

	g_log_len = 0;
	g_log[0] = '\0';
	spio_log_set_sink(log_sink, NULL);
	if (registered) {
		return;
	}
	registered = true;
	rc = spio_subsystem_register(&g_alpha);

	cr_assert_eq(rc, 0, "register alpha: %d", rc);
	rc = spio_subsystem_register(&g_beta);
	cr_assert_eq(rc, 0, "register beta: %d", rc);
	rc = spio_subsystem_register(&g_quiet);
	cr_assert_eq(rc, 0, "register quiet: %d", rc);
	rc = spio_subsystem_add_depend(&g_beta_dep);
	cr_assert_eq(rc, 0, "depend beta -> alpha: %d", rc);
	rc = spio_rpc_register_method("test_record", rpc_test_record,
				      SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME);
	cr_assert_eq(rc, 0, "register test_record: %d", rc);
	rc = spio_rpc_register_method("test_fail", rpc_test_fail, SPIO_RPC_STARTUP);
	cr_assert_eq(rc, 0, "register test_fail: %d", rc);
	rc = spio_rpc_register_method("test_async", rpc_test_async, SPIO_RPC_STARTUP);
	cr_assert_eq(rc, 0, "register test_async: %d", rc);
	rc = spio_rpc_register_method("test_runtime", rpc_test_runtime, SPIO_RPC_RUNTIME);
	cr_assert_eq(rc, 0, "register test_runtime: %d", rc);
}

static void start_stop(void *arg)
{
	g_start_calls++;
	g_state_at_start = spio_rpc_get_state();
	spio_app_stop(0);
}

static int run_text(const char *text)
{
	struct spio_app_opts o;
	int rc;

	base_opts(&o, text);
	rc = spio_app_start(&o, start_stop, NULL);
	spio_log_set_sink(NULL, NULL);
	return rc;
}

#define ENTRY(sub, name, value)                                                              \
	"{\"method\": \"test_record\", \"params\": {\"sub\": \"" sub "\", \"name\": \"" name \
	"\", \"value\": " #value "}}"

static const char g_good[] =
    "{\"subsystems\": [\n"
    "  {\"subsystem\": \"alpha\", \"config\": [" ENTRY("alpha", "a1", 1) ", " ENTRY(
	"alpha", "a2",
	2) "]},\n"
	   "  {\"subsystem\": \"quiet\", \"config\": null},\n"
	   "  {\"subsystem\": \"beta\", \"config\": [{\"method\": \"test_async\"}, " ENTRY(
	       "beta", "b2", -3) "]}\n"
				 "]}\n";

static void check_good_records(void)
{
	static const char *names[] = {"a1", "a2", "async", "b2"};

	cr_assert_eq(g_nrec, 4, "expected 4 entries run, got %d", g_nrec);
	for (int i = 0; i < 4; i++) {
		cr_assert_str_eq(g_rec[i].name, names[i], "entry %d: expected %s, got %s", i,
				 names[i], g_rec[i].name);
		cr_assert_eq(g_rec[i].state, SPIO_RPC_STARTUP,
			     "entry %d ran in state %u, expected STARTUP", i, g_rec[i].state);
	}
	cr_assert_eq(g_rec[3].value, -3, "b2's value: expected -3, got %ld", (long)g_rec[3].value);
	cr_assert_eq(g_start_calls, 1, "start_fn: expected 1 call, got %d", g_start_calls);
	cr_assert_eq(g_state_at_start, SPIO_RPC_RUNTIME, "state at start_fn: expected RUNTIME");
}

Test(config, text_runs_in_order, .init = setup)
{
	int rc = run_text(g_good);

	cr_assert_eq(rc, 0, "expected 0, got %d; log:\n%s", rc, g_log);
	check_good_records();
	cr_assert_str_eq(g_trace, "+alpha-alpha", "alpha initialised before and finished after");
}

static char g_path[64];

static void write_file(const char *text)
{
	FILE *f;

	snprintf(g_path, sizeof(g_path), "/tmp/spio-test-config-%d.json", (int)getpid());
	f = fopen(g_path, "w");
	cr_assert_not_null(f, "cannot create %s", g_path);
	fputs(text, f);
	fclose(f);
}

static int run_file(const char *text)
{
	struct spio_app_opts o;
	int rc;

	write_file(text);
	base_opts(&o, NULL);
	o.json_config_file = g_path;
	rc = spio_app_start(&o, start_stop, NULL);
	spio_log_set_sink(NULL, NULL);
	unlink(g_path);
	return rc;
}

Test(config, file_runs_in_order, .init = setup)
{
	int rc = run_file(g_good);

	cr_assert_eq(rc, 0, "expected 0, got %d; log:\n%s", rc, g_log);
	check_good_records();
}

Test(config, empty_configs, .init = setup)
{
	int rc = run_text("{\"subsystems\": []}");

	cr_assert_eq(rc, 0, "empty list: expected 0, got %d", rc);
	setup();
	rc = run_text("{\"subsystems\": [{\"subsystem\": \"alpha\", \"config\": []}, "
		      "{\"subsystem\": \"beta\"}]}");
	cr_assert_eq(rc, 0, "empty and absent configs: expected 0, got %d", rc);
	cr_assert_eq(g_start_calls, 2, "start_fn: expected 2 calls, got %d", g_start_calls);
}

Test(config, malformed_file_names_file_and_position, .init = setup)
{
	char want[128];
	int rc =
	    run_file("{\"subsystems\": [\n  {\"subsystem\": \"alpha\",\n   \"config\": [}\n]}\n");

	cr_assert_eq(rc, -EINVAL, "malformed: expected -EINVAL, got %d", rc);
	cr_assert_eq(g_start_calls, 0, "start_fn must not run");
	snprintf(want, sizeof(want), "config file %s: line 3, column", g_path);
	cr_assert(log_has(want), "expected '%s' in the log:\n%s", want, g_log);
	cr_assert_str_eq(g_trace, "", "no subsystem starts when the config does not load");
}

Test(config, malformed_text_names_position, .init = setup)
{
	int rc = run_text("{\"subsystems\": [ {\"subsystem\": \"alpha\", ");

	cr_assert_eq(rc, -EINVAL, "malformed: expected -EINVAL, got %d", rc);
	cr_assert(log_has("config text: line 1, column"), "expected the position; log:\n%s", g_log);
}

Test(config, missing_file_is_named, .init = setup)
{
	struct spio_app_opts o;
	int rc;

	base_opts(&o, NULL);
	o.json_config_file = "/nonexistent/dir/spio.json";
	rc = spio_app_start(&o, start_stop, NULL);
	spio_log_set_sink(NULL, NULL);
	cr_assert_eq(rc, -EINVAL, "missing file: expected -EINVAL, got %d", rc);
	cr_assert(log_has("config file /nonexistent/dir/spio.json: "),
		  "the message must name the file; log:\n%s", g_log);
}

Test(config, unknown_subsystem, .init = setup)
{
	int rc = run_text("{\"subsystems\": [{\"subsystem\": \"gamma\", \"config\": []}]}");

	cr_assert_eq(rc, -EINVAL, "unknown subsystem: expected -EINVAL, got %d", rc);
	cr_assert(log_has("subsystems[0]: unknown subsystem 'gamma'"),
		  "the message must name gamma; log:\n%s", g_log);
}

Test(config, unknown_method_runs_nothing, .init = setup)
{
	int rc = run_text("{\"subsystems\": [{\"subsystem\": \"alpha\", \"config\": [" ENTRY(
	    "alpha", "a1", 1) ", {\"method\": \"no_such_method\"}]}]}");

	cr_assert_eq(rc, -EINVAL, "unknown method: expected -EINVAL, got %d", rc);
	cr_assert(log_has("subsystem 'alpha' entry 1: unknown method 'no_such_method'"),
		  "the message must name the entry and method; log:\n%s", g_log);
	cr_assert_eq(g_nrec, 0, "the config is checked before anything runs; %d entries ran",
		     g_nrec);
}

Test(config, failing_method_stops_startup, .init = setup)
{
	int rc = run_text("{\"subsystems\": [{\"subsystem\": \"alpha\", \"config\": [" ENTRY(
	    "alpha", "x1",
	    1) ", {\"method\": \"test_fail\", \"params\": {\"x\": 1}}, " ENTRY("alpha", "x2",
									       2) "]}]}");

	cr_assert_eq(rc, -EINVAL, "failing entry: expected -EINVAL, got %d", rc);
	cr_assert_eq(g_start_calls, 0, "start_fn must not run");
	cr_assert_eq(g_nrec, 1, "only the entry before the failure runs; got %d", g_nrec);
	cr_assert(log_has("config text: subsystem 'alpha' entry 1 (method 'test_fail') failed: "
			  "value out of range (code -32602)"),
		  "the message must name entry, method and reason; log:\n%s", g_log);
	cr_assert_str_eq(g_trace, "", "a startup entry failed: no subsystem started");
}

Test(config, runtime_only_methods_run_after_the_subsystems_start, .init = setup)
{
	int rc = run_text("{\"subsystems\": [{\"subsystem\": \"beta\", \"config\": [{\"method\": "
			  "\"test_runtime\"}, " ENTRY("beta", "b1", 1) "]}]}");

	cr_assert_eq(rc, 0, "expected 0, got %d; log:\n%s", rc, g_log);
	cr_assert_eq(g_nrec, 2, "expected 2 entries run, got %d", g_nrec);
	cr_assert_str_eq(g_rec[0].name, "b1", "the startup pass comes first");
	cr_assert_eq(g_rec[0].state, SPIO_RPC_STARTUP);
	cr_assert_str_eq(g_rec[1].name, "runtime", "then the runtime-only entry");
	cr_assert_eq(g_rec[1].state, SPIO_RPC_RUNTIME);
	cr_assert_str_eq(g_trace, "+alpha@runtime-alpha",
			 "the runtime entry runs once the subsystems started: %s", g_trace);
}

Test(config, spdk_subsystems_with_defaults_are_skipped, .init = setup)
{
	int rc = run_text(
	    "{\"subsystems\": [{\"subsystem\": \"vmd\", \"config\": []},"
	    " {\"subsystem\": \"iobuf\", \"config\": [{\"method\": \"iobuf_set_options\", "
	    "\"params\": {\"small_pool_count\": 8192, \"large_pool_count\": 1024, "
	    "\"small_bufsize\": 8192, \"large_bufsize\": 135168, \"enable_numa\": false}}]},"
	    " {\"subsystem\": \"scheduler\", \"config\": [{\"method\": "
	    "\"framework_set_scheduler\", "
	    "\"params\": {\"name\": \"static\"}}]},"
	    " {\"subsystem\": \"beta\", \"config\": [" ENTRY("beta", "b1", 1) "]}]}");

	cr_assert_eq(rc, 0, "expected 0, got %d; log:\n%s", rc, g_log);
	cr_assert_eq(g_nrec, 1, "beta's entry ran");
	cr_assert(log_has("subsystem 'iobuf': skipping iobuf_set_options, which holds SPDK's "
			  "defaults (spio has no shared iobuf buffer pools)"),
		  "one warning names what was skipped; log:\n%s", g_log);
	/* spio has a scheduler now: its entry runs rather than being skipped. */
	cr_assert(!log_has("skipping framework_set_scheduler"), "log:\n%s", g_log);
}

Test(config, spdk_settings_spio_cannot_honour_are_refused, .init = setup)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
	    {"{\"subsystems\": [{\"subsystem\": \"iobuf\", \"config\": [{\"method\": "
	     "\"iobuf_set_options\", \"params\": {\"small_pool_count\": 4096}}]}]}",
	     "subsystem 'iobuf' entry 0: method 'iobuf_set_options': small_pool_count 4096 is not "
	     "SPDK's default (8192)"},
	    {"{\"subsystems\": [{\"subsystem\": \"sock\", \"config\": [{\"method\": "
	     "\"sock_impl_set_options\", \"params\": {\"impl_name\": \"posix\", "
	     "\"recv_buf_size\": 4096}}]}]}",
	     "method 'sock_impl_set_options': recv_buf_size 4096 is not SPDK's default (2097152)"},
	    {"{\"subsystems\": [{\"subsystem\": \"iobuf\", \"config\": [{\"method\": "
	     "\"iobuf_set_options\", \"params\": {\"colour\": 1}}]}]}",
	     "parameter colour 1 is unknown to spio"},
	    {"{\"subsystems\": [{\"subsystem\": \"nvmf\", \"config\": [{\"method\": "
	     "\"nvmf_discovery_add_referral\", \"params\": {\"trtype\": \"TCP\"}}]}]}",
	     "unknown method 'nvmf_discovery_add_referral'"},
	};

	for (size_t i = 0; i < SPIO_COUNTOF(cases); i++) {
		int rc;

		setup();
		g_nrec = 0;
		g_trace[0] = '\0';
		rc = run_text(cases[i].text);
		cr_assert_eq(rc, -EINVAL, "case %zu: expected -EINVAL, got %d", i, rc);
		cr_assert(log_has(cases[i].msg), "case %zu: expected '%s' in the log:\n%s", i,
			  cases[i].msg, g_log);
		cr_assert_str_eq(g_trace, "", "case %zu: refused before anything started", i);
	}
}

Test(config, wrong_shapes, .init = setup)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
	    {"[]", "the top level must be an object"},
	    {"{}", "\"subsystems\" must be an array"},
	    {"{\"subsystems\": {}}", "\"subsystems\" must be an array"},
	    {"{\"subsystems\": [1]}", "subsystems[0] must be an object"},
	    {"{\"subsystems\": [{\"subsystem\": \"alpha\", \"config\": 5}]}",
	     "\"config\" must be an array or null"},
	    {"{\"subsystems\": [{\"subsystem\": \"alpha\", \"config\": [{\"params\": {}}]}]}",
	     "entry 0: must be an object with a \"method\" string"},
	    {"{\"subsystems\": [{\"subsystem\": \"alpha\", \"config\": [{\"method\": "
	     "\"test_record\", \"params\": \"x\"}]}]}",
	     "\"params\" must be an object or an array"},
	    {"{\"subsystems\": [], \"subsystems\": []}", "duplicate object key"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		setup();
		rc = run_text(cases[i].text);
		cr_assert_eq(rc, -EINVAL, "case %zu (%s): expected -EINVAL, got %d", i,
			     cases[i].text, rc);
		cr_assert(log_has(cases[i].msg), "case %zu: expected '%s' in the log:\n%s", i,
			  cases[i].msg, g_log);
	}
	cr_assert_eq(g_start_calls, 0, "start_fn must never run");
}

/*
 * save_config round trip
 */

static char *g_saved;

static void saved(void *ctx, int error_code, const char *error_msg,
		  const struct spio_json_val *result_val)
{
	json_t *result = json_val_to_jansson(result_val);
	if (error_code == 0) {
		g_saved = json_dumps(result, JSON_COMPACT);
	}
	spio_app_stop(error_code);
}

static void start_save(void *arg)
{
	int rc = spio_rpc_call("save_config", NULL, saved, NULL);

	if (rc != 0) {
		spio_app_stop(rc);
	}
}

static int run_and_save(const char *text, char **out)
{
	struct spio_app_opts o;
	int rc;

	g_nrec = 0;
	g_saved = NULL;
	base_opts(&o, text);
	rc = spio_app_start(&o, start_save, NULL);
	*out = g_saved;
	return rc;
}

Test(config, save_config_loads_back, .init = setup)
{
	char *first, *second;
	json_t *a, *b, *subs;
	int rc;

	spio_log_set_sink(NULL, NULL);
	rc = run_and_save(g_good, &first);
	cr_assert_eq(rc, 0, "first run: expected 0, got %d", rc);
	cr_assert_not_null(first, "save_config gave no result");
	rc = run_and_save(first, &second);
	cr_assert_eq(rc, 0, "run with the saved config: expected 0, got %d (config %s)", rc, first);
	cr_assert_not_null(second, "second save_config gave no result");

	a = json_loads(first, 0, NULL);
	b = json_loads(second, 0, NULL);
	cr_assert(a != NULL && b != NULL, "save_config output must be JSON");
	cr_assert(json_equal(a, b), "the saved config must load back to itself:\n%s\n%s", first,
		  second);
	static const char *const mine[] = {"alpha", "beta", "quiet", NULL};
	subs = test_only_subsystems(json_object_get(a, "subsystems"), mine);
	cr_assert_eq(json_array_size(subs), 3, "3 subsystems expected in %s", first);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(subs, 0), "subsystem")),
			 "alpha", "alpha first (init order) in %s", first);
	cr_assert(json_is_null(json_object_get(json_array_get(subs, 2), "config")),
		  "a subsystem without write_config_json has config null in %s", first);
	cr_assert_eq(json_array_size(json_object_get(json_array_get(subs, 0), "config")), 2,
		     "alpha has 2 entries in %s", first);
	json_decref(subs);
	json_decref(a);
	json_decref(b);
	free(first);
	free(second);
}

/*
 * Framework RPC methods
 */

struct call {
	const char *method;
	const char *params; /* JSON text or NULL */
	int error;
	json_t *result;
};

static struct call g_calls[] = {
    {"framework_wait_init", NULL, 0, NULL},
    {"framework_get_config", "{\"name\": \"alpha\"}", 0, NULL},
    {"framework_get_config", "{\"name\": \"nope\"}", 0, NULL},
    {"framework_get_config", NULL, 0, NULL},
    {"framework_get_reactors", NULL, 0, NULL},
    {"thread_get_stats", NULL, 0, NULL},
    {"save_config", "{\"x\": 1}", 0, NULL},
    {"framework_get_subsystems", NULL, 0, NULL},
};
static size_t g_call_idx;

static void call_next(void *arg);

static void call_done(void *ctx, int error_code, const char *error_msg,
		      const struct spio_json_val *result_val)
{
	json_t *result = json_val_to_jansson(result_val);
	struct call *c = &g_calls[g_call_idx];

	c->error = error_code;
	c->result = json_incref(result);
	g_call_idx++;
	spio_thread_send_msg(spio_get_thread(), call_next, NULL);
}

static void call_next(void *arg)
{
	struct call *c;
	json_t *params;
	int rc;

	if (g_call_idx == sizeof(g_calls) / sizeof(g_calls[0])) {
		spio_app_stop(0);
		return;
	}
	c = &g_calls[g_call_idx];
	params = c->params ? json_loads(c->params, 0, NULL) : NULL;
	rc = spio_rpc_call(c->method, json_val_from_jansson(params), call_done, NULL);
	json_decref(params);
	if (rc != 0) {
		spio_app_stop(rc);
	}
}

static json_t *find_named(json_t *arr, const char *name)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e)
	{
		if (json_is_string(json_object_get(e, "name")) &&
		    strcmp(json_string_value(json_object_get(e, "name")), name) == 0) {
			return e;
		}
	}
	return NULL;
}

Test(config, framework_methods, .init = setup)
{
	struct spio_app_opts o;
	json_t *r, *t;
	int rc;

	spio_log_set_sink(NULL, NULL);
	base_opts(&o, g_good);
	o.reactor_mask = NULL; /* every core */
	rc = spio_app_start(&o, call_next, NULL);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);

	cr_assert(json_is_true(g_calls[0].result), "framework_wait_init: expected true");

	r = g_calls[1].result;
	cr_assert(json_is_array(r) && json_array_size(r) == 2,
		  "framework_get_config alpha: expected its 2 entries");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(r, 0), "method")),
			 "test_record", "alpha's entries are test_record calls");
	cr_assert_eq(g_calls[2].error, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		     "framework_get_config nope: expected -32602, got %d", g_calls[2].error);
	cr_assert_eq(g_calls[3].error, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		     "framework_get_config without name: expected -32602, got %d",
		     g_calls[3].error);

	r = g_calls[4].result;
	cr_assert_eq(g_calls[4].error, 0, "framework_get_reactors: error %d", g_calls[4].error);
	cr_assert(json_integer_value(json_object_get(r, "tick_rate")) > 0,
		  "framework_get_reactors: tick_rate expected");
	t = json_object_get(r, "reactors");
	cr_assert(json_is_array(t) && json_array_size(t) >= 1, "reactors: expected an array");
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(t, 0), "lcore")), 0,
		     "first reactor: lcore 0");
	cr_assert(json_is_integer(json_object_get(json_array_get(t, 0), "busy")) &&
		      json_is_integer(json_object_get(json_array_get(t, 0), "idle")),
		  "reactor busy/idle expected");
	cr_assert_not_null(
	    find_named(json_object_get(json_array_get(t, 0), "lw_threads"), "app_thread"),
	    "reactor 0 runs app_thread");

	r = g_calls[5].result;
	cr_assert_eq(g_calls[5].error, 0, "thread_get_stats: error %d", g_calls[5].error);
	t = find_named(json_object_get(r, "threads"), "app_thread");
	cr_assert_not_null(t, "thread_get_stats lists app_thread");
	cr_assert_str_eq(json_string_value(json_object_get(t, "cpumask")), "1",
			 "app_thread cpumask: expected SPDK's form, 1");
	cr_assert(json_is_integer(json_object_get(t, "busy")) &&
		      json_is_integer(json_object_get(t, "timed_pollers_count")),
		  "thread stats fields expected");

	cr_assert_eq(g_calls[6].error, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		     "save_config with params: expected -32602, got %d", g_calls[6].error);
	static const char *const mine[] = {"alpha", "beta", "quiet", NULL};
	json_t *own = test_only_subsystems(g_calls[7].result, mine);
	cr_assert_eq(json_array_size(own), 3, "framework_get_subsystems: expected 3");
	json_decref(own);
	for (size_t i = 0; i < sizeof(g_calls) / sizeof(g_calls[0]); i++) {
		json_decref(g_calls[i].result);
	}
}
