/*
 * QoS rate limits on a null bdev, with the limiter's clock simulated: four
 * spio threads (one channel each) submit flat out while the test advances
 * the clock 10 us per round; over 5 simulated seconds each kind of limit
 * (rw IOPS, rw / read / write MiB/s) and their mix holds within 5 %. Real
 * OS threads racing on a frozen clock get exactly one slice's budget. Queued
 * I/O is released in later slices, fails on reset and on bdev delete, starts
 * when the limit is removed; SPDK's rounding rules, argument errors, the RPC,
 * bdev_get_bdevs' assigned_rate_limits and the save_config entry.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdev/bdev_internal.h"
#include "helper_fixture.h"
#include "json/json_val_internal.h"
#include "spio/bdev.h"
#include "spio/bdev_null.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/rpc.h"
#include "spio/thread.h"

#define NT 4
#define QD 32
#define BLOCK 512
#define NUM_BLOCKS (1024 * 1024)
#define NOT_DEF SPIO_BDEV_QOS_LIMIT_NOT_DEFINED

static struct spio_thread *g_t[NT];
static struct spio_bdev_desc *g_desc[NT];
static struct spio_io_channel *g_ch[NT];
static struct spio_bdev *g_bdev;
static uint8_t *g_buf;
static uint64_t g_now; /* the limiter's clock, in ticks */
static uint64_t g_hz;

static uint64_t sim_clock(void)
{
	return __atomic_load_n(&g_now, __ATOMIC_RELAXED);
}

static void on(int t)
{
	spio_set_thread(g_t[t]);
}

/* One round: every thread polled once at the simulated time. */
static void poll_all(void)
{
	for (int t = 0; t < NT; t++) {
		struct spio_thread *prev = spio_thread_enter(g_t[t]);

		spio_thread_poll(g_t[t], 0, sim_clock());
		spio_thread_leave(prev);
	}
}

static void poll_rounds(int n)
{
	for (int i = 0; i < n; i++) {
		poll_all();
	}
}

static void advance_us(uint64_t us)
{
	__atomic_add_fetch(&g_now, us * g_hz / 1000000, __ATOMIC_RELAXED);
}

static int g_removed;

static void ev(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)bdev;
	if (type == SPIO_BDEV_EVENT_REMOVE) {
		int t = (int)(intptr_t)ctx;

		g_removed++;
		spio_put_io_channel(g_ch[t]);
		spio_bdev_close(g_desc[t]);
		g_ch[t] = NULL;
		g_desc[t] = NULL;
	}
}

/*
 * Load: each thread keeps `qd` I/Os in flight and resubmits on completion.
 */

struct load {
	bool running;
	uint32_t blocks;   /* per I/O */
	int write_every;   /* every n-th I/O is a write (0: reads only, 1: writes only) */
	uint64_t seq[NT];  /* I/Os submitted per thread */
	uint64_t count[2]; /* completed in the window: reads, writes */
	uint64_t bytes[2]; /* the same in bytes */
	uint64_t per_thread[NT];
	uint64_t failed;
	uint64_t inflight;
	bool counting;
};

static struct load g_load;

#define SPLIT_RLIM (-1) /* reads limited: the writers keep 2 in flight */
#define SPLIT_WLIM (-2) /* writes limited: the readers keep 2 in flight */

static void setup(void)
{
	struct spio_env_opts eopts;
	char name[8];

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	cr_assert_eq(spio_env_init(&eopts), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_hz = spio_get_ticks_hz();
	/* an hour ahead of the real clock: timed pollers registered at a real
	 * time are due at once, then follow the simulated time */
	g_now = spio_get_ticks() + 3600 * g_hz;
	bdev_qos_set_clock(sim_clock);
	for (int t = 0; t < NT; t++) {
		snprintf(name, sizeof(name), "q%d", t);
		g_t[t] = spio_thread_create(name, NULL);
		cr_assert_not_null(g_t[t]);
	}
	on(0);
	cr_assert_eq(spio_bdev_initialize(NULL, NULL, NULL), 0);
	cr_assert_eq(fx_null_create("Null0", NULL, NUM_BLOCKS, BLOCK, &g_bdev), 0);
	g_buf = aligned_alloc(4096, 1024 * 1024);
	cr_assert_not_null(g_buf);
	for (int t = 0; t < NT; t++) {
		on(t);
		cr_assert_eq(spio_bdev_open_ext("Null0", true, ev, (void *)(intptr_t)t, &g_desc[t]),
			     0);
		g_ch[t] = spio_bdev_get_io_channel(g_desc[t]);
		cr_assert_not_null(g_ch[t]);
	}
	on(0);
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
	g_removed = 0;
}

static bool g_fini_done;

static void fini_done(void *arg)
{
	(void)arg;
	g_fini_done = true;
}

static void teardown(void)
{
	g_load.running = false;
	for (int t = 0; t < NT; t++) {
		if (g_desc[t] != NULL) {
			on(t);
			spio_put_io_channel(g_ch[t]);
			spio_bdev_close(g_desc[t]);
			g_desc[t] = NULL;
		}
	}
	poll_rounds(3);
	on(0);
	g_fini_done = false;
	cr_assert_eq(spio_bdev_finish(fini_done, NULL), 0);
	for (int i = 0; i < 1000 && !g_fini_done; i++) {
		poll_all();
	}
	cr_assert(g_fini_done, "spio_bdev_finish did not complete");
	for (int t = 0; t < NT; t++) {
		struct spio_thread *prev = spio_thread_enter(g_t[t]);

		spio_thread_exit(g_t[t]);
		spio_thread_leave(prev);
	}
	for (int i = 0; i < 1000; i++) {
		poll_all();
	}
	spio_set_thread(NULL);
	for (int t = 0; t < NT; t++) {
		cr_assert(spio_thread_is_exited(g_t[t]));
		spio_thread_destroy(g_t[t]);
	}
	bdev_qos_set_clock(NULL);
	free(g_buf);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(qos, .init = setup, .fini = teardown, .timeout = 300);

static void load_submit(int t);

static void load_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	int t = (int)(intptr_t)cb_arg;
	int w = io->type == SPIO_BDEV_IO_TYPE_WRITE;

	g_load.inflight--;
	if (!success) {
		g_load.failed++;
	} else if (g_load.counting) {
		g_load.count[w]++;
		g_load.bytes[w] += io->u.num_blocks * BLOCK;
		g_load.per_thread[t]++;
	}
	spio_bdev_free_io(io);
	if (g_load.running) {
		load_submit(t);
	}
}

static void load_submit(int t)
{
	uint64_t n = g_load.seq[t]++;
	uint64_t off = (n * g_load.blocks) % (NUM_BLOCKS - g_load.blocks);
	bool write = g_load.write_every < 0
			 ? t >= NT / 2
			 : g_load.write_every != 0 && n % (uint64_t)g_load.write_every == 0;
	int rc;

	if (write) {
		rc = spio_bdev_write_blocks(g_desc[t], g_ch[t], g_buf, off, g_load.blocks,
					    load_done, (void *)(intptr_t)t);
	} else {
		rc = spio_bdev_read_blocks(g_desc[t], g_ch[t], g_buf, off, g_load.blocks, load_done,
					   (void *)(intptr_t)t);
	}
	cr_assert_eq(rc, 0, "submit on thread %d: expected 0, got %d", t, rc);
	g_load.inflight++;
}

static void load_start(uint32_t blocks, int write_every)
{
	memset(&g_load, 0, sizeof(g_load));
	g_load.running = true;
	g_load.blocks = blocks;
	g_load.write_every = write_every;
	for (int t = 0; t < NT; t++) {
		/* the unlimited half of a SPLIT_* load only shows it is not held back:
		 * two in flight keep the run short */
		int qd = (write_every == SPLIT_RLIM && t >= NT / 2) ||
				 (write_every == SPLIT_WLIM && t < NT / 2)
			     ? 2
			     : QD;

		on(t);
		for (int i = 0; i < qd; i++) {
			load_submit(t);
		}
	}
	on(0);
}

/* Run `warm_ms` simulated ms, then count completions over `ms`. */
static void load_run(uint64_t warm_ms, uint64_t ms)
{
	for (uint64_t i = 0; i < warm_ms * 100; i++) {
		advance_us(10);
		poll_all();
	}
	g_load.counting = true;
	for (uint64_t i = 0; i < ms * 100; i++) {
		advance_us(10);
		poll_all();
	}
	g_load.counting = false;
}

static int g_set_status;
static int g_set_calls;

static void set_done(void *arg, int status)
{
	(void)arg;
	g_set_status = status;
	g_set_calls++;
}

/* Set limits on thread 0 and wait for the callback: its status, or the call's error. */
static int set_limits(uint64_t iops, uint64_t rw, uint64_t r, uint64_t w)
{
	uint64_t l[SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES] = {iops, rw, r, w};
	int calls = g_set_calls, rc;

	on(0);
	rc = spio_bdev_set_qos_rate_limits(g_bdev, l, set_done, NULL);
	if (rc != 0) {
		return rc;
	}
	cr_assert_eq(g_set_calls, calls, "callback ran before the call returned");
	for (int i = 0; i < 1000 && g_set_calls == calls; i++) {
		poll_all();
	}
	cr_assert_eq(g_set_calls, calls + 1, "set_qos_rate_limits: callback not called");
	return g_set_status;
}

/* Stop the load: lift the limits so the queues drain, wait for every I/O. */
static void load_stop(void)
{
	g_load.running = false;
	cr_assert_eq(set_limits(0, 0, 0, 0), 0);
	for (int i = 0; i < 100000 && g_load.inflight > 0; i++) {
		advance_us(10);
		poll_all();
	}
	cr_assert_eq(g_load.inflight, 0,
		     "%" PRIu64 " I/O still in flight after the limits were removed",
		     g_load.inflight);
	cr_assert_eq(g_load.failed, 0, "%" PRIu64 " I/O failed", g_load.failed);
}

static void expect_within(const char *what, uint64_t got, double want, double tol)
{
	cr_assert(got >= want * (1 - tol) && got <= want * (1 + tol),
		  "%s: expected %.0f within %.0f %%, got %" PRIu64 " (%.2f %%)", what, want,
		  tol * 100, got, ((double)got - want) * 100 / want);
}

#define MIB (1024.0 * 1024.0)

Test(qos, iops_limit_held_across_channels)
{
	cr_assert_eq(set_limits(10000, 0, 0, 0), 0);
	load_start(8, 2); /* 4 KiB, half writes */
	load_run(100, 5000);
	expect_within("rw I/Os in 5 s at 10000 IOPS", g_load.count[0] + g_load.count[1], 50000,
		      0.05);
	for (int t = 0; t < NT; t++) {
		/* no channel starves (shares are rounded up: the first ones get more) */
		cr_log_info("thread %d: %" PRIu64 " I/Os", t, g_load.per_thread[t]);
		cr_assert_geq(g_load.per_thread[t], 50000 / NT / 4,
			      "thread %d starved: %" PRIu64 " of 50000 I/Os", t,
			      g_load.per_thread[t]);
	}
	load_stop();
}

Test(qos, rw_bandwidth_limit_held)
{
	cr_assert_eq(set_limits(0, 20, 0, 0), 0);
	load_start(128, 2); /* 64 KiB, half writes */
	load_run(100, 5000);
	expect_within("bytes in 5 s at 20 MiB/s", g_load.bytes[0] + g_load.bytes[1], 100 * MIB,
		      0.05);
	load_stop();
}

Test(qos, read_bandwidth_limit_leaves_writes_alone)
{
	cr_assert_eq(set_limits(0, 0, 10, 0), 0);
	load_start(64, SPLIT_RLIM); /* 32 KiB, two threads read, two write */
	load_run(100, 5000);
	expect_within("bytes read in 5 s at 10 MiB/s", g_load.bytes[0], 50 * MIB, 0.05);
	cr_assert_gt(g_load.bytes[1], 4 * g_load.bytes[0],
		     "writes are not limited: expected far more than the %" PRIu64
		     " bytes read, got %" PRIu64,
		     g_load.bytes[0], g_load.bytes[1]);
	load_stop();
}

Test(qos, write_bandwidth_limit_leaves_reads_alone)
{
	cr_assert_eq(set_limits(0, 0, 0, 10), 0);
	load_start(64, SPLIT_WLIM);
	load_run(100, 5000);
	expect_within("bytes written in 5 s at 10 MiB/s", g_load.bytes[1], 50 * MIB, 0.05);
	cr_assert_gt(g_load.bytes[0], 4 * g_load.bytes[1],
		     "reads are not limited: expected far more than the %" PRIu64
		     " bytes written, got %" PRIu64,
		     g_load.bytes[1], g_load.bytes[0]);
	load_stop();
}

Test(qos, mix_the_tighter_limit_holds)
{
	/* 4 KiB: 5000 IOPS is 19.5 MiB/s, under 100 MiB/s: IOPS binds */
	cr_assert_eq(set_limits(5000, 100, 0, 0), 0);
	load_start(8, 2);
	load_run(100, 5000);
	expect_within("I/Os at 5000 IOPS + 100 MiB/s, 4 KiB", g_load.count[0] + g_load.count[1],
		      25000, 0.05);
	load_stop();

	/* 64 KiB: 5000 IOPS would be 312 MiB/s; reads: rw 20 MiB/s binds, w 4 does not apply */
	cr_assert_eq(set_limits(5000, 20, 0, 4), 0);
	load_start(128, 0);
	load_run(100, 5000);
	expect_within("bytes read at 5000 IOPS + rw 20 + w 4 MiB/s, 64 KiB", g_load.bytes[0],
		      100 * MIB, 0.05);
	load_stop();

	/* the same limits, writes: w 4 MiB/s binds */
	cr_assert_eq(set_limits(5000, 20, 0, 4), 0);
	load_start(128, 1);
	load_run(100, 5000);
	expect_within("bytes written at 5000 IOPS + rw 20 + w 4 MiB/s, 64 KiB", g_load.bytes[1],
		      20 * MIB, 0.05);
	load_stop();
}

/*
 * Real concurrency: NT OS threads poll one spio thread each, flat out, with
 * the clock frozen. The shared budget of one slice (10 I/Os at 10000 IOPS)
 * must be handed out exactly once.
 */

static bool g_race_stop; /* atomic */

static uint64_t g_race_done[NT];

static void race_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	int t = (int)(intptr_t)cb_arg;

	cr_assert(success);
	__atomic_add_fetch(&g_race_done[t], 1, __ATOMIC_RELAXED);
	spio_bdev_free_io(io);
}

static void *race_main(void *arg)
{
	int t = (int)(intptr_t)arg;
	struct spio_thread *prev = spio_thread_enter(g_t[t]);

	for (int i = 0; i < QD; i++) {
		cr_assert_eq(spio_bdev_read_blocks(g_desc[t], g_ch[t], g_buf, (uint64_t)i * 8, 8,
						   race_done, arg),
			     0);
	}
	while (!__atomic_load_n(&g_race_stop, __ATOMIC_ACQUIRE)) {
		spio_thread_poll(g_t[t], 0, sim_clock());
	}
	spio_thread_leave(prev);
	return NULL;
}

Test(qos, racing_threads_share_one_slice_exactly)
{
	pthread_t th[NT];
	uint64_t total = 0;

	cr_assert_eq(set_limits(10000, 0, 0, 0), 0);
	__atomic_store_n(&g_race_stop, false, __ATOMIC_RELEASE);
	for (int t = 0; t < NT; t++) {
		cr_assert_eq(pthread_create(&th[t], NULL, race_main, (void *)(intptr_t)t), 0);
	}
	usleep(100000);
	__atomic_store_n(&g_race_stop, true, __ATOMIC_RELEASE);
	for (int t = 0; t < NT; t++) {
		pthread_join(th[t], NULL);
		total += g_race_done[t];
	}
	cr_assert_eq(total, 10,
		     "%d threads x %d I/Os against 10 per slice on a frozen clock: expected 10 "
		     "completed, got %" PRIu64,
		     NT, QD, total);
	/* the next slice never lets more than its 10 through */
	advance_us(1000);
	poll_rounds(5);
	total = 0;
	for (int t = 0; t < NT; t++) {
		total += g_race_done[t];
	}
	cr_assert(total > 10 && total <= 20,
		  "after one more slice: expected 11 .. 20 completed, got %" PRIu64, total);
	/* removing the limit starts the rest */
	cr_assert_eq(set_limits(0, 0, 0, 0), 0);
	poll_rounds(5);
	total = 0;
	for (int t = 0; t < NT; t++) {
		total += g_race_done[t];
	}
	cr_assert_eq(total, NT * QD, "limit removed: expected all %d completed, got %" PRIu64,
		     NT * QD, total);
}

/*
 * One channel, step by step (IOPS 1000: one I/O per slice)
 */

struct one {
	int done;
	int failed;
};

static void one_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	struct one *o = cb_arg;

	if (success) {
		o->done++;
	} else {
		o->failed++;
	}
	spio_bdev_free_io(io);
}

static void submit_reads(int n, struct one *o)
{
	on(0);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(
		    spio_bdev_read_blocks(g_desc[0], g_ch[0], g_buf, (uint64_t)i, 1, one_done, o),
		    0);
	}
}

Test(qos, over_the_limit_is_queued_and_released_slice_by_slice)
{
	/* static: teardown fails what is still queued, after this frame is gone */
	static struct one o;

	o = (struct one){0};

	cr_assert_eq(set_limits(1000, 0, 0, 0), 0);
	submit_reads(5, &o);
	poll_rounds(5);
	cr_assert_eq(o.done, 1, "first slice: expected 1 read done, got %d", o.done);
	for (int s = 2; s <= 5; s++) {
		advance_us(500);
		poll_rounds(5);
		cr_assert_eq(o.done, s - 1, "half a slice later: expected %d done, got %d", s - 1,
			     o.done);
		advance_us(500);
		poll_rounds(5);
		cr_assert_eq(o.done, s, "slice %d: expected %d done, got %d", s, s, o.done);
	}
	cr_assert_eq(o.failed, 0, "queued I/O is not failed: got %d failures", o.failed);
}

Test(qos, other_io_types_pass_queued_reads)
{
	/* static: teardown fails what is still queued, after this frame is gone */
	static struct one o, f;

	o = (struct one){0};
	f = (struct one){0};

	cr_assert_eq(set_limits(1000, 0, 0, 0), 0);
	submit_reads(3, &o);
	cr_assert_eq(spio_bdev_flush_blocks(g_desc[0], g_ch[0], 0, 8, one_done, &f), 0);
	cr_assert_eq(spio_bdev_unmap_blocks(g_desc[0], g_ch[0], 0, 8, one_done, &f), 0);
	poll_rounds(5);
	cr_assert_eq(f.done, 2, "flush and unmap are not limited: expected 2 done, got %d", f.done);
	cr_assert_eq(o.done, 1, "reads: expected 1 done in the first slice, got %d", o.done);
	cr_assert_eq(set_limits(0, 0, 0, 0), 0);
	poll_rounds(5);
	cr_assert_eq(o.done, 3, "limit removed: expected the 2 queued reads done, got %d", o.done);
}

Test(qos, reset_fails_queued_io_on_every_channel)
{
	/* static: teardown fails what is still queued, after this frame is gone */
	static struct one o, o1, r;

	o = (struct one){0};
	o1 = (struct one){0};
	r = (struct one){0};

	cr_assert_eq(set_limits(1000, 0, 0, 0), 0);
	submit_reads(4, &o);
	on(1);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(spio_bdev_read_blocks(g_desc[1], g_ch[1], g_buf, 0, 1, one_done, &o1),
			     0);
	}
	poll_rounds(5);
	cr_assert_eq(o.done + o1.done, 1, "one read per slice: expected 1, got %d",
		     o.done + o1.done);
	on(0);
	cr_assert_eq(spio_bdev_reset(g_desc[0], g_ch[0], one_done, &r), 0);
	poll_rounds(10);
	cr_assert_eq(r.done, 1, "the reset: expected done, got done %d failed %d", r.done,
		     r.failed);
	cr_assert_eq(o.failed + o1.failed, 6,
		     "queued reads: expected 6 failed by the reset, got %d", o.failed + o1.failed);
	/* the limit is still in force */
	submit_reads(2, &o);
	advance_us(1000);
	poll_rounds(5);
	cr_assert_eq(o.done + o1.done, 2, "after the reset: expected one more read, got %d",
		     o.done + o1.done - 1);
}

static int g_deleted;

static void deleted(void *arg, int rc)
{
	(void)arg;
	cr_assert_eq(rc, 0);
	g_deleted++;
}

Test(qos, delete_fails_queued_io)
{
	/* static: teardown fails what is still queued, after this frame is gone */
	static struct one o;

	o = (struct one){0};

	cr_assert_eq(set_limits(1000, 0, 0, 0), 0);
	submit_reads(6, &o);
	poll_rounds(5);
	cr_assert_eq(o.done, 1);
	on(0);
	g_deleted = 0;
	cr_assert_eq(spio_bdev_null_delete("Null0", deleted, NULL), 0);
	for (int i = 0; i < 100 && g_deleted == 0; i++) {
		poll_all();
	}
	cr_assert_eq(g_deleted, 1, "delete did not complete: queued I/O must not hold it");
	cr_assert_eq(g_removed, NT, "every descriptor got the remove event: expected %d, got %d",
		     NT, g_removed);
	cr_assert_eq(o.failed, 5, "queued reads: expected 5 failed, got %d", o.failed);
	cr_assert_eq(o.done, 1, "no queued read may start on a deleted bdev");
}

Test(qos, released_channel_fails_its_queue)
{
	/* static: teardown fails what is still queued, after this frame is gone */
	static struct one o;

	o = (struct one){0};

	cr_assert_eq(set_limits(1000, 0, 0, 0), 0);
	submit_reads(4, &o);
	poll_rounds(5);
	on(0);
	spio_put_io_channel(g_ch[0]);
	spio_bdev_close(g_desc[0]);
	g_desc[0] = NULL;
	poll_rounds(5);
	cr_assert_eq(o.done, 1);
	cr_assert_eq(o.failed, 3, "channel released: expected its 3 queued reads failed, got %d",
		     o.failed);
}

Test(qos, channels_opened_later_are_limited)
{
	/* static: teardown fails what is still queued, after this frame is gone */
	static struct one o;

	o = (struct one){0};

	cr_assert_eq(set_limits(1000, 0, 0, 0), 0);
	on(0);
	spio_put_io_channel(g_ch[0]);
	poll_rounds(3);
	g_ch[0] = spio_bdev_get_io_channel(g_desc[0]);
	cr_assert_not_null(g_ch[0]);
	submit_reads(3, &o);
	poll_rounds(5);
	cr_assert_eq(o.done, 1, "a new channel obeys the limit: expected 1 done, got %d", o.done);
	cr_assert_eq(set_limits(0, 0, 0, 0), 0);
	poll_rounds(5);
	cr_assert_eq(o.done, 3);
}

/*
 * SPDK's rules
 */

static void get_limits(uint64_t *l)
{
	spio_bdev_get_qos_rate_limits(g_bdev, l);
}

Test(qos, spdk_rounding_and_units)
{
	uint64_t l[4];

	get_limits(l);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(l[i], 0, "no limits yet: %s expected 0, got %" PRIu64,
			     spio_bdev_get_qos_rpc_type(i), l[i]);
	}
	cr_assert_eq(set_limits(1500, NOT_DEF, NOT_DEF, NOT_DEF), 0);
	get_limits(l);
	cr_assert_eq(l[0], 2000, "1500 IOPS rounds up to a multiple of 1000: got %" PRIu64, l[0]);
	cr_assert_eq(set_limits(1, NOT_DEF, 7, NOT_DEF), 0);
	get_limits(l);
	cr_assert_eq(l[0], 1000, "1 IOPS rounds up to the minimum 1000: got %" PRIu64, l[0]);
	cr_assert_eq(l[2], 7, "r_mbytes_per_sec kept in MiB: got %" PRIu64, l[2]);
	/* NOT_DEFINED keeps, 0 removes */
	cr_assert_eq(set_limits(NOT_DEF, 3, NOT_DEF, NOT_DEF), 0);
	get_limits(l);
	cr_assert(l[0] == 1000 && l[1] == 3 && l[2] == 7 && l[3] == 0,
		  "expected 1000/3/7/0, got %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64, l[0],
		  l[1], l[2], l[3]);
	cr_assert_eq(set_limits(0, NOT_DEF, 0, NOT_DEF), 0);
	get_limits(l);
	cr_assert(l[0] == 0 && l[1] == 3 && l[2] == 0,
		  "expected 0/3/0, got %" PRIu64 "/%" PRIu64 "/%" PRIu64, l[0], l[1], l[2]);
	/* too many MiB for bytes in 64 bits: clamped */
	cr_assert_eq(set_limits(NOT_DEF, UINT64_MAX - 1, NOT_DEF, NOT_DEF), 0);
	get_limits(l);
	cr_assert_eq(l[1], UINT64_MAX / (1024 * 1024), "clamped MiB/s: got %" PRIu64, l[1]);
	cr_assert_eq(set_limits(UINT64_MAX - 1, NOT_DEF, NOT_DEF, NOT_DEF), 0);
	get_limits(l);
	cr_assert_eq(l[0] % 1000, 0, "huge IOPS still a multiple of 1000: got %" PRIu64, l[0]);
}

Test(qos, argument_errors)
{
	uint64_t none[4] = {NOT_DEF, NOT_DEF, NOT_DEF, NOT_DEF};
	uint64_t some[4] = {1000, NOT_DEF, NOT_DEF, NOT_DEF};
	uint64_t out[4] = {1, 1, 1, 1};

	on(0);
	cr_assert_eq(spio_bdev_set_qos_rate_limits(g_bdev, none, set_done, NULL), -EINVAL,
		     "no limit given: expected -EINVAL");
	cr_assert_eq(spio_bdev_set_qos_rate_limits(NULL, some, set_done, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_set_qos_rate_limits(g_bdev, NULL, set_done, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_set_qos_rate_limits(g_bdev, some, NULL, NULL), -EINVAL);
	/* SPDK's -EAGAIN while a change is in progress */
	cr_assert_eq(spio_bdev_set_qos_rate_limits(g_bdev, some, set_done, NULL), 0);
	cr_assert_eq(spio_bdev_set_qos_rate_limits(g_bdev, some, set_done, NULL), -EAGAIN,
		     "second change before the first finished: expected -EAGAIN");
	poll_rounds(10);
	cr_assert_eq(spio_bdev_set_qos_rate_limits(g_bdev, some, set_done, NULL), 0);
	poll_rounds(10);
	spio_bdev_get_qos_rate_limits(NULL, out);
	cr_assert(out[0] == 0 && out[3] == 0, "NULL bdev: all 0");
	cr_assert_null(spio_bdev_get_qos_rpc_type(SPIO_BDEV_QOS_NUM_RATE_LIMIT_TYPES));
	cr_assert_str_eq(spio_bdev_get_qos_rpc_type(SPIO_BDEV_QOS_W_BPS_RATE_LIMIT),
			 "w_mbytes_per_sec");
}

/*
 * The RPC, bdev_get_bdevs and save_config
 */

struct rpc_result {
	int done;
	int code;
	char msg[512];
	json_t *result;
};

static void rpc_cb(void *ctx, int code, const char *msg, const struct spio_json_val *result_val)
{
	json_t *result = json_val_to_jansson(result_val);
	struct rpc_result *r = ctx;

	r->done++;
	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", msg != NULL ? msg : "");
	r->result = result != NULL ? json_incref(result) : NULL;
}

/* fx_rpc_text() polling every thread (the method visits their channels). */
static json_t *rpc_text(const char *method, const char *params_json, int code,
			const char *want_text)
{
	struct rpc_result r = {0};
	json_t *params = params_json != NULL ? json_loads(params_json, 0, NULL) : NULL;

	on(0);
	cr_assert_eq(spio_rpc_call(method, json_val_from_jansson(params), rpc_cb, &r), 0);
	for (int i = 0; i < 1000 && r.done == 0; i++) {
		poll_all();
	}
	cr_assert_eq(r.done, 1, "%s: no answer", method);
	cr_assert_eq(r.code, code, "%s %s: expected code %d, got %d (%s)", method,
		     params_json != NULL ? params_json : "", code, r.code, r.msg);
	if (want_text != NULL) {
		cr_assert(strstr(r.msg, want_text) != NULL, "%s: message '%s' should mention '%s'",
			  method, r.msg, want_text);
	}
	json_decref(params);
	return r.result;
}

Test(qos, rpc_and_bdev_get_bdevs_and_config)
{
	json_t *r, *lim, *e;
	char *text = NULL;
	struct spio_json_write_ctx *w;

	on(0);
	r = rpc_text("bdev_set_qos_limit",
		     "{\"name\": \"Null0\", \"rw_ios_per_sec\": 20000, \"w_mbytes_per_sec\": 5}", 0,
		     NULL);
	cr_assert(json_is_true(r), "bdev_set_qos_limit answers true");
	json_decref(r);
	r = rpc_text("bdev_get_bdevs", "{\"name\": \"Null0\"}", 0, NULL);
	lim = json_object_get(json_array_get(r, 0), "assigned_rate_limits");
	cr_assert_not_null(lim);
	cr_assert_eq(json_integer_value(json_object_get(lim, "rw_ios_per_sec")), 20000);
	cr_assert_eq(json_integer_value(json_object_get(lim, "rw_mbytes_per_sec")), 0);
	cr_assert_eq(json_integer_value(json_object_get(lim, "r_mbytes_per_sec")), 0);
	cr_assert_eq(json_integer_value(json_object_get(lim, "w_mbytes_per_sec")), 5);
	json_decref(r);

	w = spio_json_write_begin(fx_json_to_string, &text, 0);
	bdev_qos_write_config_json(g_bdev, w);
	cr_assert_eq(spio_json_write_end(w), 0);
	e = json_loads(text, 0, NULL);
	cr_assert_not_null(e, "config entry parses: %s", text);
	cr_assert_str_eq(json_string_value(json_object_get(e, "method")), "bdev_set_qos_limit");
	r = json_object_get(e, "params");
	cr_assert_str_eq(json_string_value(json_object_get(r, "name")), "Null0");
	cr_assert_eq(json_integer_value(json_object_get(r, "rw_ios_per_sec")), 20000);
	cr_assert_eq(json_integer_value(json_object_get(r, "w_mbytes_per_sec")), 5);
	cr_assert_eq(json_object_size(r), 3, "only the limits that are set: %s", text);
	json_decref(e);
	free(text);

	/* SPDK's errors */
	rpc_text("bdev_set_qos_limit", "{\"name\": \"Null0\"}", -EINVAL,
		 "No rate limits specified");
	rpc_text("bdev_set_qos_limit", "{\"name\": \"nope\", \"rw_ios_per_sec\": 1000}", -ENODEV,
		 NULL);
	rpc_text("bdev_set_qos_limit", "{\"name\": \"Null0\", \"rw_ios_per_sec\": -1}",
		 SPIO_JSONRPC_ERROR_INVALID_PARAMS, "rw_ios_per_sec");
	rpc_text("bdev_set_qos_limit", "{\"name\": \"Null0\", \"iops\": 1}",
		 SPIO_JSONRPC_ERROR_INVALID_PARAMS, NULL);

	/* all removed: no config entry, zeros shown */
	json_decref(rpc_text(
	    "bdev_set_qos_limit",
	    "{\"name\": \"Null0\", \"rw_ios_per_sec\": 0, \"w_mbytes_per_sec\": 0}", 0, NULL));
	text = NULL;
	w = spio_json_write_begin(fx_json_to_string, &text, 0);
	bdev_qos_write_config_json(g_bdev, w);
	cr_assert_eq(spio_json_write_end(w), 0);
	cr_assert(text == NULL || text[0] == '\0', "no limits: no entry, got %s", text);
	free(text);
}
