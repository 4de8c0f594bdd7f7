/*
 * Internal control messages of the bdev layer cannot be lost: with the
 * target thread's message queue full (spio_thread_send_msg() answers
 * -ENOMEM), unregistration (with and without open descriptors), resize and
 * remove events, LBA lock hand-over, I/O completed on a foreign OS thread,
 * blocking-work completion, wait_for_examine and the layer's finish all
 * still complete once the threads poll again. Before, those paths ignored
 * the error (a hang) or spun until the queue drained.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "helper_fixture.h"
#include "spio/bdev.h"
#include "spio/bdev_module.h"
#include "spio/env.h"
#include "spio/thread.h"

static struct spio_thread *g_t[2];
static int g_noops;

static void noop(void *ctx)
{
	(void)ctx;
	g_noops++;
}

/* Fill `t`'s message queue until it refuses; returns how many went in. */
static int flood(struct spio_thread *t)
{
	int n = 0;
	int rc;

	while ((rc = spio_thread_send_msg(t, noop, NULL)) == 0) {
		n++;
	}
	cr_assert_eq(rc, -ENOMEM, "flood: expected -ENOMEM, got %d after %d", rc, n);
	return n;
}

static void poll_all(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		for (int t = 0; t < 2; t++) {
			struct spio_thread *prev = spio_thread_enter(g_t[t]);

			while (spio_thread_poll(g_t[t], 4096, 0) == SPIO_POLLER_BUSY) {
			}
			spio_thread_leave(prev);
		}
	}
}

/* Poll both threads until *flag is set (bounded: a hang fails the test). */
static void poll_until(const volatile bool *flag, const char *what)
{
	for (int i = 0; i < 200000 && !*flag; i++) {
		poll_all(1);
	}
	cr_assert(*flag, "%s never happened", what);
}

/*
 * A minimal module: I/O completes inline, or on a separate OS thread when
 * g_foreign_completion is set.
 */
static struct spio_bdev_module g_mod = {.name = "msgtest"};
static bool g_foreign_completion;

static void *complete_elsewhere(void *arg)
{
	spio_bdev_io_complete(arg, SPIO_BDEV_IO_STATUS_SUCCESS);
	return NULL;
}

static void submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	pthread_t tid;

	(void)ch;
	if (g_foreign_completion) {
		cr_assert_eq(pthread_create(&tid, NULL, complete_elsewhere, io), 0);
		pthread_join(tid, NULL);
		return;
	}
	spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_SUCCESS);
}

static bool supported(void *ctxt, enum spio_bdev_io_type type)
{
	(void)ctxt;
	return type == SPIO_BDEV_IO_TYPE_READ || type == SPIO_BDEV_IO_TYPE_WRITE;
}

static int g_destructed;

static int destruct(void *ctxt)
{
	(void)ctxt;
	g_destructed++;
	return 0;
}

static const struct spio_bdev_fn_table g_fn = {
    .destruct = destruct, .submit_request = submit, .io_type_supported = supported};

static struct spio_bdev g_bdev;

static void register_bdev(void)
{
	memset(&g_bdev, 0, sizeof(g_bdev));
	g_bdev.name = "MsgT0";
	g_bdev.product_name = "test";
	g_bdev.blocklen = 512;
	g_bdev.blockcnt = 64;
	g_bdev.module = &g_mod;
	g_bdev.fn_table = &g_fn;
	cr_assert_eq(spio_bdev_register(&g_bdev), 0);
}

static void on(int t)
{
	spio_set_thread(g_t[t]);
}

static void setup(void)
{
	fx_threads_init("test_bdev_msg_exhaustion", g_t, 2);
	cr_assert_eq(spio_bdev_initialize(NULL, NULL, NULL), 0);
	g_destructed = 0;
	g_noops = 0;
	g_foreign_completion = false;
	register_bdev();
}

static void teardown(void)
{
	fx_threads_fini(g_t, 2);
}

TestSuite(bdev_msg_exhaustion, .init = setup, .fini = teardown, .timeout = 120);

static bool g_unregistered;

static void unregistered(void *arg, int rc)
{
	(void)arg;
	cr_assert_eq(rc, 0);
	g_unregistered = true;
}

Test(bdev_msg_exhaustion, unregister_without_descriptors)
{
	int flooded = flood(g_t[0]);

	g_unregistered = false;
	cr_assert_eq(spio_bdev_unregister(&g_bdev, unregistered, NULL), 0);
	poll_until(&g_unregistered, "unregister callback");
	cr_assert_eq(g_destructed, 1);
	cr_assert_eq(g_noops, flooded, "every queued message still runs");
}

static bool g_removed;
static bool g_resized;
static struct spio_bdev_desc *g_desc;

static void event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)bdev;
	(void)ctx;
	if (type == SPIO_BDEV_EVENT_REMOVE) {
		g_removed = true;
		spio_bdev_close(g_desc);
	} else if (type == SPIO_BDEV_EVENT_RESIZE) {
		g_resized = true;
	}
}

Test(bdev_msg_exhaustion, resize_and_remove_events_reach_a_flooded_thread)
{
	on(1);
	cr_assert_eq(spio_bdev_open_ext("MsgT0", false, event, NULL, &g_desc), 0);
	flood(g_t[1]);
	on(0);
	g_resized = g_removed = g_unregistered = false;
	cr_assert_eq(spio_bdev_notify_blockcnt_change(&g_bdev, 128), 0);
	/* a second resize while the first is queued is folded into it */
	cr_assert_eq(spio_bdev_notify_blockcnt_change(&g_bdev, 256), 0);
	poll_until(&g_resized, "resize event");
	flood(g_t[1]);
	flood(g_t[0]);
	cr_assert_eq(spio_bdev_unregister(&g_bdev, unregistered, NULL), 0);
	poll_until(&g_removed, "remove event");
	poll_until(&g_unregistered, "unregister callback after the last close");
	cr_assert_eq(g_destructed, 1);
}

static int g_locks;
static int g_unlocks;

static void locked(void *arg, int status)
{
	(void)arg;
	cr_assert_eq(status, 0);
	g_locks++;
}

static void unlocked(void *arg, int status)
{
	(void)arg;
	cr_assert_eq(status, 0);
	g_unlocks++;
}

Test(bdev_msg_exhaustion, a_waiting_lock_is_granted_on_a_flooded_thread)
{
	struct spio_bdev_desc *d[2];
	struct spio_io_channel *ch[2];

	for (int t = 0; t < 2; t++) {
		on(t);
		cr_assert_eq(spio_bdev_open_ext("MsgT0", true, event, NULL, &d[t]), 0);
		ch[t] = spio_bdev_get_io_channel(d[t]);
		cr_assert_not_null(ch[t]);
	}
	g_locks = g_unlocks = 0;
	on(1);
	cr_assert_eq(spio_bdev_lock_lba_range(d[1], ch[1], 0, 8, locked, NULL), 0);
	for (int i = 0; i < 1000 && g_locks < 1; i++) {
		poll_all(1);
	}
	cr_assert_eq(g_locks, 1);
	on(0);
	cr_assert_eq(spio_bdev_lock_lba_range(d[0], ch[0], 4, 8, locked, NULL), 0);
	poll_all(10);
	cr_assert_eq(g_locks, 1, "an overlapping lock waits");
	flood(g_t[0]);
	on(1);
	cr_assert_eq(spio_bdev_unlock_lba_range(d[1], ch[1], 0, 8, unlocked, NULL), 0);
	for (int i = 0; i < 100000 && g_locks < 2; i++) {
		poll_all(1);
	}
	cr_assert_eq(g_locks, 2, "the waiting lock must be granted");
	on(0);
	cr_assert_eq(spio_bdev_unlock_lba_range(d[0], ch[0], 4, 8, unlocked, NULL), 0);
	for (int i = 0; i < 1000 && g_unlocks < 2; i++) {
		poll_all(1);
	}
	cr_assert_eq(g_unlocks, 2);
	for (int t = 0; t < 2; t++) {
		on(t);
		spio_put_io_channel(ch[t]);
		spio_bdev_close(d[t]);
	}
	poll_all(5);
}

static int g_io_done;

static void io_done(struct spio_bdev_io *io, bool success, void *arg)
{
	(void)arg;
	cr_assert(success);
	spio_bdev_free_io(io);
	g_io_done++;
}

Test(bdev_msg_exhaustion, completions_from_any_thread_reach_a_flooded_thread)
{
	struct spio_bdev_desc *d;
	struct spio_io_channel *ch;
	static char buf[512] __attribute__((aligned(512)));

	on(0);
	cr_assert_eq(spio_bdev_open_ext("MsgT0", true, event, NULL, &d), 0);
	ch = spio_bdev_get_io_channel(d);
	cr_assert_not_null(ch);
	g_io_done = 0;
	flood(g_t[0]);
	/* inline completion: deferred past the submit call by message */
	cr_assert_eq(spio_bdev_read(d, ch, buf, 0, 512, io_done, NULL), 0);
	/* completed on another OS thread while the queue is full */
	g_foreign_completion = true;
	cr_assert_eq(spio_bdev_read(d, ch, buf, 512, 512, io_done, NULL), 0);
	cr_assert_eq(spio_bdev_write(d, ch, buf, 0, 512, io_done, NULL), 0);
	for (int i = 0; i < 100000 && g_io_done < 3; i++) {
		poll_all(1);
	}
	cr_assert_eq(g_io_done, 3, "expected 3 completions, got %d", g_io_done);
	spio_put_io_channel(ch);
	spio_bdev_close(d);
	poll_all(5);
}

static int slow_work(void *arg)
{
	(void)arg;
	return 42;
}

static bool g_work_done;

static void work_done(void *arg, int result)
{
	(void)arg;
	cr_assert_eq(result, 42);
	g_work_done = true;
}

Test(bdev_msg_exhaustion, blocking_work_result_reaches_a_flooded_thread)
{
	struct spio_work w;

	on(0);
	g_work_done = false;
	flood(g_t[0]);
	cr_assert_eq(spio_work_submit(&w, slow_work, work_done, NULL), 0);
	poll_until(&g_work_done, "work completion");
}

static bool g_examined;

static void examined(void *arg)
{
	(void)arg;
	g_examined = true;
}

Test(bdev_msg_exhaustion, wait_for_examine_answers_a_flooded_thread)
{
	on(0);
	g_examined = false;
	flood(g_t[0]);
	cr_assert_eq(spio_bdev_wait_for_examine(examined, NULL), 0);
	poll_until(&g_examined, "wait_for_examine callback");
}

Test(bdev_msg_exhaustion, finish_on_a_flooded_thread)
{
	/* teardown finishes the layer: flood its thread first */
	on(0);
	flood(g_t[0]);
}

Test(bdev_msg_exhaustion, close_on_the_wrong_thread_changes_nothing)
{
	struct spio_bdev_desc *d;

	on(1);
	cr_assert_eq(spio_bdev_open_ext("MsgT0", true, event, NULL, &d), 0);
	on(0);
	spio_bdev_close(d); /* refused: t1 opened it */
	cr_assert_eq(spio_bdev_module_claim_bdev(&g_bdev, NULL, &g_mod), -EPERM,
		     "the writer is still open, so a claim must fail");
	on(1);
	spio_bdev_close(d);
	poll_all(3);
	on(0);
	cr_assert_eq(spio_bdev_module_claim_bdev(&g_bdev, NULL, &g_mod), 0);
	spio_bdev_module_release_bdev(&g_bdev);
}
