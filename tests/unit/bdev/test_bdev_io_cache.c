/*
 * The per-thread bdev_io cache (the management channel's, SPDK's
 * per_thread_cache): filled from the pool when a thread's first bdev channel
 * is created, given back when the last one goes, bdev_io_cache_size governs
 * it, a thread that cannot fill its cache gets no channel, the pool runs dry
 * with the caches full and -ENOMEM waiters are still woken, and an I/O
 * completed by another OS thread is freed into its submitter's cache.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "bdev/bdev_internal.h"
#include "helper_fixture.h"
#include "spio/bdev.h"
#include "spio/bdev_module.h"
#include "spio/env.h"
#include "spio/thread.h"

#define BS 512
#define NBLOCKS 64
#define MAX_IOS 64

static struct spio_thread *g_t[3];

static void poll_all(int n)
{
	for (int i = 0; i < n; i++) {
		fx_threads_poll(g_t, 3);
	}
}

static void on(int t)
{
	spio_set_thread(g_t[t]);
}

/*
 * A module that parks every I/O until the test completes it: on the
 * submitting thread (complete_parked) or from a plain OS thread.
 */
static struct spio_bdev_module g_mod = {.name = "cachetest"};
static struct spio_bdev_io *g_parked[MAX_IOS];
static int g_nparked;

static void submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	(void)ch;
	cr_assert_lt(g_nparked, MAX_IOS, "more than %d I/O parked", MAX_IOS);
	g_parked[g_nparked++] = io;
}

static bool supported(void *ctxt, enum spio_bdev_io_type type)
{
	(void)ctxt;
	return type == SPIO_BDEV_IO_TYPE_READ;
}

static int destruct(void *ctxt)
{
	(void)ctxt;
	return 0;
}

static const struct spio_bdev_fn_table g_fn = {
    .destruct = destruct, .submit_request = submit, .io_type_supported = supported};

static struct spio_bdev g_bdev;

static void complete_parked(void)
{
	int n = g_nparked;

	g_nparked = 0;
	for (int i = 0; i < n; i++) {
		spio_bdev_io_complete(g_parked[i], SPIO_BDEV_IO_STATUS_SUCCESS);
	}
}

static int g_done;
static bool g_all_ok = true;
static struct spio_thread *g_done_thread;

static void init_layer(uint32_t pool, uint32_t cache)
{
	struct spio_bdev_opts bopts;
	int rc;

	fx_threads_init("test_bdev_io_cache", g_t, 3);
	spio_bdev_opts_init(&bopts, sizeof(bopts));
	bopts.bdev_io_pool_size = pool;
	bopts.bdev_io_cache_size = cache;
	/* no examine: its reads would be parked and its channels counted */
	bopts.bdev_auto_examine = false;
	rc = spio_bdev_initialize(&bopts, NULL, NULL);
	cr_assert_eq(rc, 0, "spio_bdev_initialize(pool %u, cache %u): expected 0, got %d", pool,
		     cache, rc);
	memset(&g_bdev, 0, sizeof(g_bdev));
	g_bdev.name = "Cache0";
	g_bdev.product_name = "test";
	g_bdev.blocklen = BS;
	g_bdev.blockcnt = NBLOCKS;
	g_bdev.module = &g_mod;
	g_bdev.fn_table = &g_fn;
	cr_assert_eq(spio_bdev_register(&g_bdev), 0);
	g_nparked = 0;
	g_done = 0;
	g_all_ok = true;
	g_done_thread = NULL;
}

static void teardown(void)
{
	fx_threads_fini(g_t, 3);
}

static size_t pool_free(void)
{
	return spio_mempool_count(g_bdev_mgr.io_pool);
}

/* One opener per thread: descriptor and channel opened on thread `t`. */
struct opener {
	int t;
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	uint8_t buf[BS] __attribute__((aligned(64)));
};

static void event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void open_on(struct opener *o, int t)
{
	o->t = t;
	on(t);
	cr_assert_eq(spio_bdev_open_ext("Cache0", false, event_cb, NULL, &o->desc), 0);
	o->ch = spio_bdev_get_io_channel(o->desc);
	cr_assert_not_null(o->ch, "thread %d: no channel (errno %d)", t, errno);
	on(0);
}

static void close_on(struct opener *o)
{
	on(o->t);
	spio_put_io_channel(o->ch);
	spio_bdev_close(o->desc);
	on(0);
	poll_all(5);
}

static struct bdev_mgmt_channel *mgmt_of(struct opener *o)
{
	return bdev_mgmt_from_bdev_channel(spio_io_channel_get_ctx(o->ch));
}

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	(void)cb_arg;
	g_done++;
	g_all_ok = g_all_ok && success;
	g_done_thread = spio_get_thread();
	spio_bdev_free_io(io);
}

static int submit_reads(struct opener *o, int n)
{
	int ok = 0;

	on(o->t);
	for (int i = 0; i < n; i++) {
		int rc = spio_bdev_read_blocks(o->desc, o->ch, o->buf, (uint64_t)i % NBLOCKS, 1,
					       io_done, NULL);

		if (rc != 0) {
			cr_assert_eq(rc, -ENOMEM, "read %d of %d: expected 0 or -ENOMEM, got %d", i,
				     n, rc);
			break;
		}
		ok++;
	}
	on(0);
	return ok;
}

/* Complete the parked I/O on their threads and let the callbacks run. */
static void finish_parked(int t)
{
	on(t);
	complete_parked();
	on(0);
	poll_all(3);
}

Test(bdev_io_cache, filled_at_channel_creation_and_returned_at_teardown, .fini = teardown)
{
	struct opener a, b;

	init_layer(64, 16);
	cr_assert_eq(pool_free(), 64, "all 64 bdev_io in the pool before any channel, got %zu",
		     pool_free());
	open_on(&a, 0);
	cr_assert_eq(pool_free(), 48, "thread 0's cache took 16: expected 48 free, got %zu",
		     pool_free());
	cr_assert_eq(mgmt_of(&a)->cache_count, 16);

	/* within the cache: the pool is not touched */
	cr_assert_eq(submit_reads(&a, 10), 10);
	cr_assert_eq(mgmt_of(&a)->cache_count, 6, "10 of 16 taken from the cache, got %u left",
		     mgmt_of(&a)->cache_count);
	cr_assert_eq(pool_free(), 48);
	cr_assert_eq(bdev_io_free_count(), 54, "pool and caches: 64 - 10 in flight, got %zu",
		     bdev_io_free_count());
	finish_parked(0);
	cr_assert_eq(g_done, 10);
	cr_assert(g_all_ok);
	cr_assert_eq(mgmt_of(&a)->cache_count, 16, "freed back into the cache, got %u",
		     mgmt_of(&a)->cache_count);
	cr_assert_eq(pool_free(), 48);

	/* beyond the cache: 4 come from the pool and go back to it */
	cr_assert_eq(submit_reads(&a, 20), 20);
	cr_assert_eq(pool_free(), 44, "4 beyond the cache from the pool: expected 44, got %zu",
		     pool_free());
	finish_parked(0);
	cr_assert_eq(mgmt_of(&a)->cache_count, 16);
	cr_assert_eq(pool_free(), 48, "frees beyond a full cache go to the pool, got %zu",
		     pool_free());

	/* a second thread takes its own cache; a second channel on a thread does not */
	open_on(&b, 1);
	cr_assert_eq(pool_free(), 32, "thread 1's cache took 16: expected 32, got %zu",
		     pool_free());
	cr_assert_eq(bdev_io_free_count(), 64, "none in use: pool and caches hold all 64, got %zu",
		     bdev_io_free_count());
	close_on(&b);
	cr_assert_eq(pool_free(), 48, "thread 1's cache given back: expected 48, got %zu",
		     pool_free());
	close_on(&a);
	cr_assert_eq(pool_free(), 64, "every bdev_io back in the pool after teardown, got %zu",
		     pool_free());
}

Test(bdev_io_cache, cache_size_zero_takes_nothing, .fini = teardown)
{
	struct opener a;

	init_layer(8, 0);
	open_on(&a, 0);
	cr_assert_eq(pool_free(), 8, "cache size 0: nothing taken, got %zu free", pool_free());
	cr_assert_eq(submit_reads(&a, 8), 8);
	cr_assert_eq(submit_reads(&a, 1), 0, "the ninth read finds the pool empty");
	finish_parked(0);
	cr_assert_eq(g_done, 8);
	cr_assert_eq(pool_free(), 8);
	close_on(&a);
}

Test(bdev_io_cache, channel_refused_when_the_cache_cannot_be_filled, .fini = teardown)
{
	struct opener a, b;
	struct spio_bdev_desc *desc;

	init_layer(40, 16);
	open_on(&a, 0);
	open_on(&b, 1);
	cr_assert_eq(pool_free(), 8);
	on(2);
	cr_assert_eq(spio_bdev_open_ext("Cache0", false, event_cb, NULL, &desc), 0);
	errno = 0;
	cr_assert_null(spio_bdev_get_io_channel(desc),
		       "8 free bdev_io cannot fill a cache of 16: the channel must be refused");
	cr_assert_eq(errno, ENOMEM, "expected ENOMEM, got %d", errno);
	cr_assert_eq(pool_free(), 8, "a refused cache gives back what it took, got %zu",
		     pool_free());
	spio_bdev_close(desc);
	on(0);
	close_on(&b);
	close_on(&a);
	cr_assert_eq(pool_free(), 40);
}

struct waiter {
	struct opener *o;
	struct spio_bdev_io_wait_entry entry;
	int woken;
	int rc;
};

static void waiter_cb(void *arg)
{
	struct waiter *w = arg;

	w->woken++;
	w->rc = spio_bdev_read_blocks(w->o->desc, w->o->ch, w->o->buf, 0, 1, io_done, NULL);
}

Test(bdev_io_cache, pool_exhausted_with_caches_and_waiters_woken, .fini = teardown)
{
	struct opener a, b;
	struct waiter w = {0};

	init_layer(32, 8);
	open_on(&a, 0);
	open_on(&b, 1);
	cr_assert_eq(pool_free(), 16);
	/* thread 0: its cache of 8, then the 16 left in the pool, then -ENOMEM */
	cr_assert_eq(submit_reads(&a, 30), 24, "8 cached + 16 pooled, then -ENOMEM");
	cr_assert_eq(pool_free(), 0);
	cr_assert_eq(mgmt_of(&b)->cache_count, 8, "thread 1's cache is its own");
	cr_assert_eq(submit_reads(&b, 8), 8, "thread 1 still runs on its cache");

	on(0);
	w.o = &a;
	w.entry.bdev = &g_bdev;
	w.entry.cb_fn = waiter_cb;
	w.entry.cb_arg = &w;
	cr_assert_eq(spio_bdev_queue_io_wait(&g_bdev, a.ch, &w.entry), 0);
	/* thread 0's I/O complete and are freed into its cache: that wakes the waiter */
	cr_assert_eq(g_nparked, 32);
	/* the first free wakes the waiter, whose read is parked at 32: not in this loop */
	for (int i = 0; i < 32; i++) {
		if (g_parked[i]->internal.thread == g_t[0]) {
			on(0);
			spio_bdev_io_complete(g_parked[i], SPIO_BDEV_IO_STATUS_SUCCESS);
			g_parked[i] = NULL;
		}
	}
	on(0);
	cr_assert_eq(g_done, 24, "thread 0's 24 I/O completed, got %d", g_done);
	cr_assert_eq(w.woken, 1, "a free into the cache wakes the waiter once, got %d", w.woken);
	cr_assert_eq(w.rc, 0, "the waiter's resubmission succeeds, got %d", w.rc);
	/* complete what is left: thread 1's 8 and the waiter's one */
	{
		int n = 0;

		for (int i = 0; i < 32; i++) {
			if (g_parked[i] != NULL) {
				g_parked[n++] = g_parked[i];
			}
		}
		cr_assert_eq(n, 8);
		for (int i = 32; i < g_nparked; i++) {
			g_parked[n++] = g_parked[i];
		}
		cr_assert_eq(n, 9, "thread 1's 8 and the waiter's read parked, got %d", n);
		g_nparked = n;
	}
	on(1);
	for (int i = 0; i < 8; i++) {
		spio_bdev_io_complete(g_parked[i], SPIO_BDEV_IO_STATUS_SUCCESS);
	}
	on(0);
	spio_bdev_io_complete(g_parked[8], SPIO_BDEV_IO_STATUS_SUCCESS);
	g_nparked = 0;
	poll_all(3);
	cr_assert_eq(g_done, 24 + 8 + 1);
	cr_assert(g_all_ok);
	cr_assert_eq(mgmt_of(&a)->cache_count, 8);
	cr_assert_eq(mgmt_of(&b)->cache_count, 8);
	cr_assert_eq(pool_free(), 16, "back to 16 free with both caches full, got %zu",
		     pool_free());
	close_on(&b);
	close_on(&a);
	cr_assert_eq(pool_free(), 32);
}

/* The waiter of a thread with no I/O in flight is woken by the poller, not a free. */
Test(bdev_io_cache, waiter_woken_without_a_free, .fini = teardown)
{
	struct opener a, b;
	struct waiter w = {0};

	init_layer(16, 8);
	open_on(&a, 0);
	open_on(&b, 1);
	cr_assert_eq(submit_reads(&b, 16), 8, "thread 1: its cache only, the pool is empty");
	cr_assert_eq(submit_reads(&a, 9), 8, "thread 0: its cache, then -ENOMEM");
	finish_parked(0); /* thread 1's I/O complete on thread 1, by message */
	cr_assert_eq(g_done, 16);
	cr_assert_eq(pool_free(), 0);
	cr_assert_eq(mgmt_of(&a)->cache_count, 8);
	w.o = &a;
	w.entry.bdev = &g_bdev;
	w.entry.cb_fn = waiter_cb;
	w.entry.cb_arg = &w;
	on(0);
	cr_assert_eq(spio_bdev_queue_io_wait(&g_bdev, a.ch, &w.entry), 0);
	/* bounded by time, not by a count of polls: the poller runs every 100 us */
	for (uint64_t end = spio_get_ticks() + spio_get_ticks_hz();
	     w.woken == 0 && spio_get_ticks() < end;) {
		poll_all(1);
	}
	cr_assert_eq(w.woken, 1, "the wait poller wakes the waiter, got %d", w.woken);
	cr_assert_eq(w.rc, 0, "served from the cache, got %d", w.rc);
	finish_parked(0);
	cr_assert_eq(g_done, 17);
	close_on(&b);
	close_on(&a);
	cr_assert_eq(pool_free(), 16);
}

static void *complete_from_os_thread(void *arg)
{
	spio_bdev_io_complete(arg, SPIO_BDEV_IO_STATUS_SUCCESS);
	return NULL;
}

Test(bdev_io_cache, io_completed_on_another_os_thread_returns_to_the_submitters_cache,
     .fini = teardown)
{
	struct opener a;
	pthread_t tid;

	init_layer(32, 8);
	open_on(&a, 0);
	cr_assert_eq(submit_reads(&a, 4), 4);
	cr_assert_eq(mgmt_of(&a)->cache_count, 4);
	for (int i = 0; i < g_nparked; i++) {
		cr_assert_eq(pthread_create(&tid, NULL, complete_from_os_thread, g_parked[i]), 0);
		cr_assert_eq(pthread_join(tid, NULL), 0);
	}
	g_nparked = 0;
	cr_assert_eq(g_done, 0, "no callback on the completing OS thread");
	poll_all(3);
	cr_assert_eq(g_done, 4);
	cr_assert(g_all_ok);
	cr_assert_eq(g_done_thread, g_t[0], "callbacks on the submitting thread");
	cr_assert_eq(mgmt_of(&a)->cache_count, 8, "freed into thread 0's cache, got %u",
		     mgmt_of(&a)->cache_count);
	cr_assert_eq(pool_free(), 24);
	close_on(&a);
	cr_assert_eq(pool_free(), 32);
}

/* The callback releases the channel before it frees the bdev_io. */
static struct opener *g_release_opener;

static void release_then_free(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	(void)cb_arg;
	g_done++;
	g_all_ok = g_all_ok && success;
	spio_put_io_channel(g_release_opener->ch);
	spio_bdev_free_io(io);
}

Test(bdev_io_cache, channel_released_in_the_callback_before_the_free, .fini = teardown)
{
	struct opener a;

	init_layer(32, 8);
	open_on(&a, 0);
	g_release_opener = &a;
	cr_assert_eq(spio_bdev_read_blocks(a.desc, a.ch, a.buf, 0, 1, release_then_free, NULL), 0);
	complete_parked();
	poll_all(5);
	cr_assert_eq(g_done, 1);
	cr_assert_eq(pool_free(), 32, "the cache (with the freed io) given back, got %zu",
		     pool_free());
	spio_bdev_close(a.desc);
	poll_all(3);
}
