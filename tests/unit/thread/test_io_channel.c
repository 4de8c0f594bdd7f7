/* io_devices and io_channels: refcounts, create/destroy counts, deferred
 * release, unregister with live channels, traversal with early stop. */
#include <criterion/criterion.h>
#include <errno.h>

#include "spio/thread.h"

#define NTHREADS 3
static struct spio_thread *g_t[NTHREADS];

static void setup(void)
{
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	for (int i = 0; i < NTHREADS; i++) {
		g_t[i] = spio_thread_create(NULL, NULL);
	}
	spio_set_thread(g_t[0]);
}

static void poll_all(int rounds)
{
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < NTHREADS; i++) {
			spio_thread_poll(g_t[i], 0, 0);
		}
	}
}

static void teardown(void)
{
	for (int i = 0; i < NTHREADS; i++) {
		struct spio_thread *prev = spio_thread_enter(g_t[i]);
		spio_thread_exit(g_t[i]);
		spio_thread_leave(prev);
	}
	poll_all(10);
	for (int i = 0; i < NTHREADS; i++) {
		cr_assert(spio_thread_is_exited(g_t[i]), "thread %d still holds channels", i);
	}
	spio_set_thread(NULL);
	for (int i = 0; i < NTHREADS; i++) {
		spio_thread_destroy(g_t[i]);
	}
	spio_thread_lib_fini();
}

TestSuite(io_channel, .init = setup, .fini = teardown);

struct dev {
	int creates;
	int destroys;
	int unregistered;
	int fail_create;
};

struct ch_ctx {
	uint64_t magic;
	struct spio_thread *owner;
};

static int dev_create(void *io_device, void *ctx_buf)
{
	struct dev *d = io_device;
	struct ch_ctx *c = ctx_buf;
	if (d->fail_create) {
		return -ENOSPC;
	}
	cr_assert_eq(c->magic, 0, "context area is zeroed");
	c->magic = 0xC0FFEE;
	c->owner = spio_get_thread();
	__atomic_fetch_add(&d->creates, 1, __ATOMIC_RELAXED);
	return 0;
}

static void dev_destroy(void *io_device, void *ctx_buf)
{
	struct dev *d = io_device;
	struct ch_ctx *c = ctx_buf;
	cr_assert_eq(c->magic, 0xC0FFEE);
	cr_assert_eq(c->owner, spio_get_thread(), "destroy runs on the channel's thread");
	__atomic_fetch_add(&d->destroys, 1, __ATOMIC_RELAXED);
}

static void dev_unregistered(void *io_device)
{
	((struct dev *)io_device)->unregistered++;
}

Test(io_channel, register_rejects_bad_input)
{
	struct dev d = {0};
	cr_assert_eq(spio_io_device_register(NULL, dev_create, dev_destroy, 0, "x"), -EINVAL);
	cr_assert_eq(spio_io_device_register(&d, NULL, dev_destroy, 0, "x"), -EINVAL);
	cr_assert_eq(spio_io_device_register(&d, dev_create, dev_destroy, 16, "d"), 0);
	cr_assert_eq(spio_io_device_register(&d, dev_create, dev_destroy, 16, "d"), -EEXIST);
	errno = 0;
	cr_assert_null(spio_get_io_channel(&errno), "unknown device");
	cr_assert_eq(errno, ENODEV);
	cr_assert_eq(spio_io_device_unregister(&errno, NULL), -ENOENT);
	cr_assert_eq(spio_io_device_unregister(&d, dev_unregistered), 0);
	cr_assert_eq(spio_io_device_unregister(&d, dev_unregistered), -ENOENT, "twice");
	poll_all(2);
	cr_assert_eq(d.unregistered, 1);
}

Test(io_channel, one_refcounted_channel_per_thread)
{
	struct dev d = {0};
	spio_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "d");
	struct spio_io_channel *a = spio_get_io_channel(&d);
	struct spio_io_channel *b = spio_get_io_channel(&d);
	cr_assert_eq(a, b, "same thread, same device: same channel");
	cr_assert_eq(d.creates, 1);
	cr_assert_eq(spio_io_channel_get_thread(a), g_t[0]);
	cr_assert_eq(spio_io_channel_get_io_device(a), &d);
	struct ch_ctx *ctx = spio_io_channel_get_ctx(a);
	cr_assert_eq(ctx->magic, 0xC0FFEE);
	cr_assert_eq(spio_io_channel_from_ctx(ctx), a);

	struct spio_thread *prev = spio_thread_enter(g_t[1]);
	struct spio_io_channel *c = spio_get_io_channel(&d);
	cr_assert_neq(c, a, "another thread gets its own channel");
	spio_put_io_channel(c);
	spio_thread_leave(prev);
	cr_assert_eq(d.creates, 2);

	spio_put_io_channel(a);
	spio_put_io_channel(b);
	cr_assert_eq(d.destroys, 0, "release is deferred to a message");
	poll_all(2);
	cr_assert_eq(d.destroys, 2, "created %d, destroyed %d", d.creates, d.destroys);
	spio_io_device_unregister(&d, NULL);
	poll_all(2);
}

Test(io_channel, get_after_put_before_release_keeps_channel)
{
	struct dev d = {0};
	spio_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "d");
	struct spio_io_channel *a = spio_get_io_channel(&d);
	spio_put_io_channel(a); /* destroy message queued */
	struct spio_io_channel *b = spio_get_io_channel(&d);
	cr_assert_eq(a, b);
	poll_all(2);
	cr_assert_eq(d.destroys, 0, "the re-got channel must survive the queued release");
	spio_put_io_channel(b);
	poll_all(2);
	cr_assert_eq(d.creates, 1);
	cr_assert_eq(d.destroys, 1);
	spio_io_device_unregister(&d, NULL);
	poll_all(2);
}

Test(io_channel, create_failure_is_reported)
{
	struct dev d = {.fail_create = 1};
	spio_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "d");
	errno = 0;
	cr_assert_null(spio_get_io_channel(&d));
	cr_assert_eq(errno, ENOSPC, "create_cb's error comes back: got %d", errno);
	cr_assert_eq(spio_io_device_unregister(&d, dev_unregistered), 0);
	poll_all(2);
	cr_assert_eq(d.unregistered, 1);
}

/* A channel put from its own destroy path / callback: put inside a message
 * that was itself run for the channel. */
static void put_from_msg(void *arg)
{
	spio_put_io_channel(arg);
}

Test(io_channel, unregister_waits_for_last_put)
{
	struct dev d = {0};
	spio_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "d");
	struct spio_io_channel *ch[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		struct spio_thread *prev = spio_thread_enter(g_t[i]);
		ch[i] = spio_get_io_channel(&d);
		spio_thread_leave(prev);
	}
	cr_assert_eq(spio_io_device_unregister(&d, dev_unregistered), 0);
	/* Existing holders keep theirs. */
	struct spio_thread *prev = spio_thread_enter(g_t[1]);
	cr_assert_eq(spio_get_io_channel(&d), ch[1], "holder still gets its own channel");
	spio_put_io_channel(ch[1]);
	spio_thread_leave(prev);

	for (int i = 0; i < NTHREADS - 1; i++) {
		spio_thread_send_msg(g_t[i], put_from_msg, ch[i]);
	}
	poll_all(5);
	cr_assert_eq(d.unregistered, 0, "callback before the last put");
	spio_thread_send_msg(g_t[NTHREADS - 1], put_from_msg, ch[NTHREADS - 1]);
	poll_all(5);
	cr_assert_eq(d.unregistered, 1, "callback after the last put");
	cr_assert_eq(d.creates, d.destroys);
}

struct trav {
	int visits[NTHREADS];
	int stop_after;
	int count;
	int cpl_status;
	int cpl_calls;
	struct spio_thread *cpl_thread;
};

static void visit_channel(struct spio_io_channel_iter *it)
{
	struct trav *tr = spio_io_channel_iter_get_ctx(it);
	struct spio_io_channel *ch = spio_io_channel_iter_get_channel(it);
	cr_assert_eq(spio_io_channel_get_thread(ch), spio_get_thread(),
		     "visit runs on the channel's thread");
	for (int i = 0; i < NTHREADS; i++) {
		if (g_t[i] == spio_get_thread()) {
			tr->visits[i]++;
		}
	}
	tr->count++;
	spio_for_each_channel_continue(it, tr->stop_after && tr->count == tr->stop_after ? -42 : 0);
}

static void traversal_done(struct spio_io_channel_iter *it, int status)
{
	struct trav *tr = spio_io_channel_iter_get_ctx(it);
	tr->cpl_status = status;
	tr->cpl_calls++;
	tr->cpl_thread = spio_get_thread();
}

static void get_channel_msg(void *d)
{
	spio_get_io_channel(d);
}

/* Holders can still get and put their own channel while unregistering. */
static void put_channel_msg(void *d)
{
	spio_put_io_channel(spio_get_io_channel(d));
	spio_put_io_channel(spio_get_io_channel(d));
}

/* Drop the reference taken by get_channel_msg. */
static void put_from_msg_dev(void *d)
{
	struct spio_io_channel *ch = spio_get_io_channel(d);
	spio_put_io_channel(ch);
	spio_put_io_channel(ch);
}

Test(io_channel, traversal_visits_each_and_stops_early)
{
	struct dev d = {0};
	spio_io_device_register(&d, dev_create, dev_destroy, sizeof(struct ch_ctx), "d");
	for (int i = 0; i < NTHREADS; i++) {
		spio_thread_send_msg(g_t[i], get_channel_msg, &d);
	}
	poll_all(1);
	cr_assert_eq(d.creates, NTHREADS);

	struct trav all = {0};
	spio_set_thread(g_t[1]);
	cr_assert_eq(spio_for_each_channel(&d, visit_channel, &all, traversal_done), 0);
	poll_all(10);
	for (int i = 0; i < NTHREADS; i++) {
		cr_assert_eq(all.visits[i], 1, "thread %d visited %d times", i, all.visits[i]);
	}
	cr_assert_eq(all.cpl_calls, 1);
	cr_assert_eq(all.cpl_status, 0);
	cr_assert_eq(all.cpl_thread, g_t[1], "completion on the starting thread");

	struct trav early = {.stop_after = 2};
	cr_assert_eq(spio_for_each_channel(&d, visit_channel, &early, traversal_done), 0);
	poll_all(10);
	cr_assert_eq(early.count, 2, "a non-zero status stops the traversal");
	cr_assert_eq(early.cpl_status, -42, "cpl gets the stopping status");
	cr_assert_eq(early.cpl_calls, 1);

	cr_assert_eq(spio_for_each_channel(&errno, visit_channel, &all, traversal_done), -ENODEV);
	cr_assert_eq(spio_for_each_channel(&d, NULL, &all, traversal_done), -EINVAL);

	/* Unregister during a traversal: the callback waits for it to end. */
	struct trav during = {0};
	spio_for_each_channel(&d, visit_channel, &during, traversal_done);
	spio_io_device_unregister(&d, dev_unregistered);
	for (int i = 0; i < NTHREADS; i++) {
		spio_thread_send_msg(g_t[i], put_channel_msg, &d);
	}
	poll_all(20);
	cr_assert_eq(during.cpl_calls, 1);
	cr_assert_eq(d.unregistered, 0, "a channel ref per thread still held");
	for (int i = 0; i < NTHREADS; i++) {
		spio_thread_send_msg(g_t[i], put_from_msg_dev, &d);
	}
	poll_all(20);
	cr_assert_eq(d.unregistered, 1);
	cr_assert_eq(d.destroys, NTHREADS);
	spio_set_thread(g_t[0]);
}
