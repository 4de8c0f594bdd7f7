/*
 * Module examine: every module with an examine callback sees each newly
 * registered bdev; spio_bdev_wait_for_examine() answers only after every
 * examine has ended with spio_bdev_module_examine_done().
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "helper_fixture.h"
#include "spio/bdev_module.h"
#include "spio/env.h"
#include "spio/thread.h"

static struct spio_thread *g_thread;
static struct spio_bdev *g_seen[8];
static int g_examined;
static bool g_hold; /* keep examines pending until released */
static int g_held;

static struct spio_bdev_module g_examiner;

static void examine(struct spio_bdev *bdev)
{
	cr_assert_eq(spio_get_thread(), g_thread, "examine runs on the registering thread");
	g_seen[g_examined++ % 8] = bdev;
	if (g_hold) {
		g_held++;
	} else {
		spio_bdev_module_examine_done(&g_examiner);
	}
}

static struct spio_bdev_module g_examiner = {.name = "examiner", .examine_disk = examine};
SPIO_BDEV_MODULE_REGISTER(g_examiner)

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
}

static void setup(void)
{
	fx_init("examine");
	g_thread = g_fx_thread;
}

static void teardown(void)
{
	fx_fini();
}

TestSuite(examine, .init = setup, .fini = teardown);

static void waited(void *arg)
{
	(*(int *)arg)++;
}

Test(examine, every_new_bdev_is_examined)
{
	struct spio_bdev *m, *n;
	int answered = 0;

	cr_assert_eq(fx_malloc_create("ExM", NULL, 64, 512, &m), 0);
	cr_assert_eq(fx_null_create("ExN", NULL, 64, 512, &n), 0);
	cr_assert_eq(g_examined, 2, "expected 2 examines, got %d", g_examined);
	cr_assert_eq(g_seen[0], m);
	cr_assert_eq(g_seen[1], n);
	cr_assert_eq(spio_bdev_wait_for_examine(waited, &answered), 0);
	cr_assert_eq(answered, 0, "answered inside the call");
	poll_n(2);
	cr_assert_eq(answered, 1, "nothing pending: answered on the next poll");
	cr_assert_eq(spio_bdev_wait_for_examine(NULL, NULL), -EINVAL);
}

Test(examine, wait_answers_after_the_last_examine_done)
{
	struct spio_bdev *m;
	int answered = 0;

	g_hold = true;
	cr_assert_eq(fx_malloc_create("ExHeld0", NULL, 64, 512, &m), 0);
	cr_assert_eq(fx_malloc_create("ExHeld1", NULL, 64, 512, &m), 0);
	cr_assert_eq(g_held, 2);
	cr_assert_eq(spio_bdev_wait_for_examine(waited, &answered), 0);
	poll_n(5);
	cr_assert_eq(answered, 0, "two examines still pending");
	spio_bdev_module_examine_done(&g_examiner);
	poll_n(5);
	cr_assert_eq(answered, 0, "one examine still pending");
	spio_bdev_module_examine_done(&g_examiner);
	poll_n(5);
	cr_assert_eq(answered, 1, "answered once the last examine ended");
	g_hold = false;
}

/*
 * bdev_auto_examine off (SPDK's bdev_set_options --no-auto-examine): only
 * the names spio_bdev_examine() allowed are examined, now or when they
 * register.
 */
static void setup_manual(void)
{
	struct spio_bdev_opts bopts;

	spio_bdev_opts_init(&bopts, sizeof(bopts));
	bopts.bdev_auto_examine = false;
	cr_assert_eq(spio_bdev_set_opts(&bopts), 0);
	setup(); /* spio_bdev_initialize(NULL, ...): the options set */
}

Test(examine, manual_examine_refused_while_automatic)
{
	struct spio_bdev *m;

	cr_assert_eq(fx_malloc_create("ExAuto", NULL, 64, 512, &m), 0);
	cr_assert_eq(spio_bdev_examine("ExAuto"), -EINVAL);
	cr_assert_eq(spio_bdev_examine(NULL), -EINVAL);
}

Test(manual_examine, only_allowed_names_are_examined, .init = setup_manual, .fini = teardown)
{
	struct spio_bdev *m, *later;
	struct spio_bdev_opts o;

	spio_bdev_get_opts(&o, sizeof(o));
	cr_assert(!o.bdev_auto_examine, "the options set are reported");
	cr_assert_eq(fx_malloc_create("ExA", NULL, 64, 512, &m), 0);
	cr_assert_eq(g_examined, 0, "auto examine off: a new bdev is not examined");
	cr_assert_eq(spio_bdev_examine("ExA"), 0);
	cr_assert_eq(g_examined, 1, "an existing bdev is examined when allowed");
	cr_assert_eq(g_seen[0], m);
	cr_assert_eq(spio_bdev_examine("ExA"), -EEXIST);
	cr_assert_eq(spio_bdev_examine(""), -EINVAL);

	/* allowed before it exists: examined when it registers, as SPDK's saved
	 * configurations rely on (bdev_examine comes before the bdevs) */
	cr_assert_eq(spio_bdev_examine("ExLater"), 0);
	cr_assert_eq(g_examined, 1);
	cr_assert_eq(fx_null_create("ExLater", NULL, 64, 512, &later), 0);
	cr_assert_eq(g_examined, 2);
	cr_assert_eq(g_seen[1], later);
	cr_assert_eq(fx_null_create("ExOther", NULL, 64, 512, &later), 0);
	cr_assert_eq(g_examined, 2, "a name never allowed stays unexamined");

	/* options apply before the layer starts only */
	cr_assert_eq(spio_bdev_set_opts(&o), -EBUSY);
}

Test(examine, set_opts_checks_sizes)
{
	struct spio_bdev_opts o;

	spio_bdev_opts_init(&o, sizeof(o));
	cr_assert(o.bdev_auto_examine);
	cr_assert_eq(spio_bdev_set_opts(&o), -EBUSY, "the layer runs in this suite");
	cr_assert_eq(spio_bdev_set_opts(NULL), -EINVAL);
}

Test(manual_examine, set_opts_refuses_bad_sizes_before_start)
{
	struct spio_bdev_opts o, now;

	/* no layer yet: only the thread library */
	spio_bdev_opts_init(&o, sizeof(o));
	o.bdev_io_pool_size = 0;
	cr_assert_eq(spio_bdev_set_opts(&o), -EINVAL, "empty pool");
	spio_bdev_opts_init(&o, sizeof(o));
	o.bdev_io_cache_size = SPIO_MEMPOOL_CACHE_MAX_SIZE + 1;
	cr_assert_eq(spio_bdev_set_opts(&o), -EINVAL, "cache above the mempool's limit");
	spio_bdev_opts_init(&o, sizeof(o));
	o.bdev_io_pool_size = 99; /* no spio thread yet: one cache plus the spare */
	o.bdev_io_cache_size = 100;
	cr_assert_eq(spio_bdev_set_opts(&o), -EINVAL, "every thread's cache must fit");
	o.bdev_io_pool_size = 4095;
	o.bdev_io_cache_size = 32;
	cr_assert_eq(spio_bdev_set_opts(&o), 0);
	spio_bdev_get_opts(&now, sizeof(now));
	cr_assert_eq(now.bdev_io_pool_size, 4095);
	cr_assert_eq(now.bdev_io_cache_size, 32);
	o.opts_size = 0;
	cr_assert_eq(spio_bdev_set_opts(&o), -EINVAL, "opts_size 0");
}
