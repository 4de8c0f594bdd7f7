/*
 * The module life cycle: async init (init_done, failures undo what was
 * initialised), init_complete after every init, fini_start before the bdevs
 * go, module_fini in turn with async fini (fini_done), and examine in two
 * phases (examine_config then examine_disk; a config-phase claim keeps
 * other modules' disk phase away; wait_for_examine waits for both).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "spio/bdev.h"
#include "spio/bdev_module.h"
#include "spio/env.h"
#include "spio/thread.h"

static struct spio_thread *g_t;
static char g_log[2048];

static void logf_(const char *what)
{
	strncat(g_log, what, sizeof(g_log) - strlen(g_log) - 1);
	strncat(g_log, " ", sizeof(g_log) - strlen(g_log) - 1);
}

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(g_t, 0, 0);
	}
}

/* Behaviour knobs of the two test modules, reset by each test. */
static struct {
	int a_init_rc; /* returned by A's module_init */
	int b_init_rc;
	bool a_claims_in_config;
	bool b_forgets_examine_done;
	bool defer_disk_done; /* A's examine_disk ends later */
} g_k;

static struct spio_bdev_module g_a, g_b;

static int a_init(void)
{
	logf_("a.init");
	return g_k.a_init_rc;
}

static int b_init(void)
{
	logf_("b.init");
	return g_k.b_init_rc;
}

static void a_complete(void)
{
	logf_("a.complete");
}

static void b_complete(void)
{
	logf_("b.complete");
}

static void a_fini_start(void)
{
	/* the bdevs are still there */
	logf_(spio_bdev_get_by_name("ApiT0") != NULL ? "a.fini_start(bdev)" : "a.fini_start");
}

static void a_fini(void)
{
	logf_("a.fini");
}

static void b_fini(void)
{
	logf_("b.fini");
}

static void a_examine_config(struct spio_bdev *bdev)
{
	logf_("a.config");
	if (g_k.a_claims_in_config) {
		cr_assert_eq(spio_bdev_module_claim_bdev(bdev, NULL, &g_a), 0);
	}
	spio_bdev_module_examine_done(&g_a);
}

static void b_examine_config(struct spio_bdev *bdev)
{
	(void)bdev;
	logf_("b.config");
	if (!g_k.b_forgets_examine_done) {
		spio_bdev_module_examine_done(&g_b);
	}
}

static void a_examine_disk(struct spio_bdev *bdev)
{
	(void)bdev;
	logf_("a.disk");
	if (!g_k.defer_disk_done) {
		spio_bdev_module_examine_done(&g_a);
	}
}

static void b_examine_disk(struct spio_bdev *bdev)
{
	(void)bdev;
	logf_("b.disk");
	spio_bdev_module_examine_done(&g_b);
}

static struct spio_bdev_module g_a = {.name = "api_a",
				      .module_init = a_init,
				      .async_init = true,
				      .init_complete = a_complete,
				      .fini_start = a_fini_start,
				      .module_fini = a_fini,
				      .async_fini = true,
				      .examine_config = a_examine_config,
				      .examine_disk = a_examine_disk};
static struct spio_bdev_module g_b = {.name = "api_b",
				      .module_init = b_init,
				      .init_complete = b_complete,
				      .module_fini = b_fini,
				      .examine_config = b_examine_config,
				      .examine_disk = b_examine_disk};
SPIO_BDEV_MODULE_REGISTER(g_a)
SPIO_BDEV_MODULE_REGISTER(g_b)

static int g_init_rc;
static bool g_init_called;

static void init_done(void *arg, int rc)
{
	(void)arg;
	g_init_called = true;
	g_init_rc = rc;
	logf_("cb");
}

static void setup(void)
{
	struct spio_env_opts eopts;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	cr_assert_eq(spio_env_init(&eopts), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_t = spio_thread_create("api", NULL);
	spio_set_thread(g_t);
	memset(&g_k, 0, sizeof(g_k));
	g_log[0] = '\0';
	g_init_called = false;
	g_init_rc = 1;
}

static void teardown(void)
{
	spio_thread_exit(g_t);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_t); i++) {
		spio_thread_poll(g_t, 0, 0);
	}
	spio_thread_destroy(g_t);
	spio_set_thread(NULL);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(bdev_module_api, .init = setup, .fini = teardown, .timeout = 60);

/* Start the layer and finish A's async init with `rc`. */
static void init_layer(int a_rc)
{
	cr_assert_eq(spio_bdev_initialize(NULL, init_done, NULL), 0);
	poll_n(5);
	cr_assert(!g_init_called, "init must wait for the async module");
	cr_assert_eq(spio_bdev_initialize(NULL, init_done, NULL), -EALREADY);
	spio_bdev_module_init_done(&g_a, a_rc);
	/* A failed init first finishes the modules that did start, some asynchronously (nvme). */
	for (int i = 0; i < 1000 && !g_init_called; i++) {
		poll_n(1);
	}
	cr_assert(g_init_called);
}

static bool g_fini_done;

static void fini_done(void *arg)
{
	(void)arg;
	g_fini_done = true;
	logf_("fini_cb");
}

/* Finish the layer, completing A's async fini when it is asked for. */
static void finish_layer(void)
{
	g_fini_done = false;
	cr_assert_eq(spio_bdev_finish(fini_done, NULL), 0);
	for (int i = 0; i < 1000 && strstr(g_log, "a.fini") == NULL; i++) {
		poll_n(1);
	}
	cr_assert(strstr(g_log, "a.fini") != NULL, "a.fini never called: %s", g_log);
	poll_n(10);
	cr_assert(strstr(g_log, "b.fini") == NULL, "b.fini ran before a's fini_done: %s", g_log);
	spio_bdev_module_fini_done(&g_a);
	for (int i = 0; i < 1000 && !g_fini_done; i++) {
		poll_n(1);
	}
	cr_assert(g_fini_done, "finish never completed: %s", g_log);
}

Test(bdev_module_api, async_init_then_init_complete_then_fini_in_turn)
{
	init_layer(0);
	cr_assert_eq(g_init_rc, 0);
	cr_assert_str_eq(g_log, "a.init b.init a.complete b.complete cb ");
	g_log[0] = '\0';
	finish_layer();
	cr_assert_str_eq(g_log, "a.fini_start a.fini b.fini fini_cb ");
}

Test(bdev_module_api, async_init_failure_finishes_the_others)
{
	init_layer(-EIO);
	cr_assert_eq(g_init_rc, -EIO);
	/* b initialised, so it is finished; a failed, so it is not */
	cr_assert(strstr(g_log, "b.fini") != NULL, "%s", g_log);
	cr_assert(strstr(g_log, "a.fini") == NULL, "%s", g_log);
	cr_assert(strstr(g_log, "complete") == NULL, "no init_complete after a failure: %s", g_log);
	/* not initialised: finish refuses, a new init works */
	cr_assert_eq(spio_bdev_finish(fini_done, NULL), -EALREADY);
	g_log[0] = '\0';
	g_init_called = false;
	init_layer(0);
	cr_assert_eq(g_init_rc, 0);
	finish_layer();
}

Test(bdev_module_api, synchronous_init_failure_is_returned)
{
	g_k.b_init_rc = -ENODEV;
	cr_assert_eq(spio_bdev_initialize(NULL, init_done, NULL), 0,
		     "a's async init is in flight, so the failure arrives through cb");
	spio_bdev_module_init_done(&g_a, 0);
	poll_n(10);
	/* a did initialise: it gets its (async) fini before the callback */
	cr_assert(strstr(g_log, "a.fini") != NULL, "%s", g_log);
	cr_assert(!g_init_called, "the callback waits for a's fini");
	spio_bdev_module_fini_done(&g_a);
	poll_n(10);
	cr_assert(g_init_called);
	cr_assert_eq(g_init_rc, -ENODEV);
	cr_assert_eq(spio_bdev_finish(fini_done, NULL), -EALREADY, "not initialised");
}

Test(bdev_module_api, init_done_and_fini_done_out_of_turn_are_ignored)
{
	spio_bdev_module_init_done(&g_a, 0);
	spio_bdev_module_fini_done(&g_a);
	spio_bdev_module_init_done(NULL, 0);
	spio_bdev_module_fini_done(NULL);
	init_layer(0);
	spio_bdev_module_init_done(&g_a, 0); /* a second time */
	spio_bdev_module_fini_done(&g_b);    /* not finishing */
	finish_layer();
}

static int destruct(void *ctxt)
{
	(void)ctxt;
	return 0;
}

static void submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	(void)ch;
	spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_SUCCESS);
}

static bool supported(void *ctxt, enum spio_bdev_io_type type)
{
	(void)ctxt;
	return type == SPIO_BDEV_IO_TYPE_READ;
}

static const struct spio_bdev_fn_table g_fn = {
    .destruct = destruct, .submit_request = submit, .io_type_supported = supported};
static struct spio_bdev g_bdev;

static void register_bdev(void)
{
	memset(&g_bdev, 0, sizeof(g_bdev));
	g_bdev.name = "ApiT0";
	g_bdev.blocklen = 512;
	g_bdev.blockcnt = 8;
	g_bdev.module = &g_b;
	g_bdev.fn_table = &g_fn;
	cr_assert_eq(spio_bdev_register(&g_bdev), 0);
}

static bool g_examined;

static void examined(void *arg)
{
	(void)arg;
	g_examined = true;
}

Test(bdev_module_api, examine_runs_config_then_disk)
{
	init_layer(0);
	g_log[0] = '\0';
	g_k.defer_disk_done = true;
	register_bdev();
	cr_assert_str_eq(g_log, "a.config b.config a.disk b.disk ");
	g_examined = false;
	cr_assert_eq(spio_bdev_wait_for_examine(examined, NULL), 0);
	poll_n(10);
	cr_assert(!g_examined, "a's disk phase is still running");
	spio_bdev_module_examine_done(&g_a);
	poll_n(10);
	cr_assert(g_examined);
	g_log[0] = '\0';
	finish_layer();
	cr_assert(strstr(g_log, "a.fini_start(bdev)") != NULL,
		  "fini_start must run before the bdevs go: %s", g_log);
}

Test(bdev_module_api, a_config_claim_keeps_other_disk_phases_away)
{
	init_layer(0);
	g_log[0] = '\0';
	g_k.a_claims_in_config = true;
	register_bdev();
	cr_assert_str_eq(g_log, "a.config b.config a.disk ");
	g_examined = false;
	cr_assert_eq(spio_bdev_wait_for_examine(examined, NULL), 0);
	poll_n(10);
	cr_assert(g_examined, "the skipped disk phase must not keep examine pending");
	spio_bdev_module_release_bdev(&g_bdev);
	finish_layer();
}

Test(bdev_module_api, a_config_phase_without_examine_done_does_not_hang)
{
	init_layer(0);
	g_k.b_forgets_examine_done = true;
	register_bdev();
	g_examined = false;
	cr_assert_eq(spio_bdev_wait_for_examine(examined, NULL), 0);
	poll_n(10);
	cr_assert(g_examined);
	finish_layer();
}
