/*
 * Completions a module makes inside its submit call (null, malloc: every
 * synchronous module) are handed back in one pass per channel and poll:
 * never inside the submit call, in submission order, each with its own
 * status, and the ones callbacks cause in a later pass. The channel outlives
 * a pass even when the last callback releases it; two OS threads completing
 * inline on their own channels of one bdev do not meet.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "helper_fixture.h"
#include "spio/bdev.h"
#include "spio/dma.h"
#include "spio/thread.h"

#define BS 512
#define NBLOCKS 256
#define MAX_IOS 64

static void setup(void)
{
	fx_init("inline_cpl");
}

TestSuite(inline_completion, .init = setup, .fini = fx_fini);

/* What the callbacks saw, in the order they ran. */
static int g_order[MAX_IOS];
static bool g_success[MAX_IOS];
static int g_done;
static int g_in_submit; /* > 0 while the test is inside a submit call */

static void record_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	int i = (int)(intptr_t)cb_arg;

	cr_assert_eq(g_in_submit, 0, "I/O %d completed inside a submit call", i);
	cr_assert_lt(g_done, MAX_IOS);
	g_order[g_done] = i;
	g_success[g_done] = success;
	g_done++;
	spio_bdev_free_io(io);
}

static void read_with(struct fx_dev *f, int i, spio_bdev_io_completion_cb cb)
{
	int rc;

	g_in_submit++;
	rc = spio_bdev_read_blocks(f->desc, f->ch, f->buf, (uint64_t)i % NBLOCKS, 1, cb,
				   (void *)(intptr_t)i);
	g_in_submit--;
	cr_assert_eq(rc, 0, "read %d: %d", i, rc);
}

static void read_one(struct fx_dev *f, int i)
{
	read_with(f, i, record_done);
}

Test(inline_completion, one_pass_in_submission_order)
{
	struct fx_dev f;
	struct spio_bdev *b;

	cr_assert_eq(fx_null_create("N0", NULL, NBLOCKS, BS, &b), 0);
	fx_dev_open(&f, "N0", true, BS * 4);
	for (int i = 0; i < 48; i++) {
		read_one(&f, i);
	}
	cr_assert_eq(g_done, 0, "completed before the thread polled");
	fx_poll();
	cr_assert_eq(g_done, 48, "one poll: %d of 48 completed", g_done);
	for (int i = 0; i < 48; i++) {
		cr_assert_eq(g_order[i], i, "callback %d was I/O %d", i, g_order[i]);
		cr_assert(g_success[i]);
	}
	fx_dev_close(&f);
}

/* Callbacks that submit again: each pass completes only what was
 * outstanding when it began, so a poll's work stays bounded. */
static struct fx_dev *g_loop;
static int g_loop_left;

static void resubmit_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	cr_assert(success);
	record_done(io, success, cb_arg);
	if (g_loop_left > 0) {
		g_loop_left--;
		read_with(g_loop, (int)(intptr_t)cb_arg, resubmit_done);
	}
}

Test(inline_completion, callbacks_resubmit_into_the_next_pass)
{
	struct fx_dev f;
	struct spio_bdev *b;

	cr_assert_eq(fx_null_create("N0", NULL, NBLOCKS, BS, &b), 0);
	fx_dev_open(&f, "N0", true, BS * 4);
	g_loop = &f;
	g_loop_left = 12; /* 4 in flight, 3 more generations of 4 */
	for (int i = 0; i < 4; i++) {
		read_with(&f, i, resubmit_done);
	}
	for (int pass = 1; pass <= 4; pass++) {
		fx_poll();
		cr_assert_eq(g_done, 4 * pass, "after poll %d: %d done", pass, g_done);
	}
	fx_poll();
	cr_assert_eq(g_done, 16, "nothing left after the last generation");
	fx_dev_close(&f);
}

/* Malloc completes compares inline with different statuses: each I/O keeps
 * its own through the shared pass. */
Test(inline_completion, mixed_statuses_in_one_pass)
{
	struct fx_dev f;
	struct spio_bdev *b;
	uint8_t *pattern;
	int rc;

	cr_assert_eq(fx_malloc_create("M0", NULL, NBLOCKS, BS, &b), 0);
	fx_dev_open(&f, "M0", true, BS * 4);
	pattern = spio_dma_zmalloc(BS, BS);
	cr_assert_not_null(pattern);
	memset(pattern, 0xa5, BS);
	g_in_submit++;
	rc = spio_bdev_write_blocks(f.desc, f.ch, pattern, 1, 1, record_done, (void *)0);
	g_in_submit--;
	cr_assert_eq(rc, 0);
	fx_poll();
	cr_assert_eq(g_done, 1);
	g_done = 0;
	/* even: matches block 1; odd: compared with block 2 (zeroes), differs */
	for (int i = 0; i < 10; i++) {
		g_in_submit++;
		rc = spio_bdev_compare_blocks(f.desc, f.ch, pattern, 1 + (uint64_t)(i % 2), 1,
					      record_done, (void *)(intptr_t)i);
		g_in_submit--;
		cr_assert_eq(rc, 0);
	}
	fx_poll();
	cr_assert_eq(g_done, 10);
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(g_order[i], i);
		cr_assert_eq(g_success[i], i % 2 == 0, "compare %d: success %d", i, g_success[i]);
	}
	spio_dma_free(pattern);
	fx_dev_close(&f);
}

/* The last callback of a pass releases the channel and the descriptor:
 * the pass must not touch the channel after it (ASan would see it). */
static struct fx_dev *g_release;

static void release_on_last(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	record_done(io, success, cb_arg);
	if (g_done == 8) {
		spio_put_io_channel(g_release->ch);
		g_release->ch = NULL;
	}
}

Test(inline_completion, last_callback_releases_the_channel)
{
	struct fx_dev f;
	struct spio_bdev *b;
	int rc;

	cr_assert_eq(fx_null_create("N0", NULL, NBLOCKS, BS, &b), 0);
	fx_dev_open(&f, "N0", true, BS * 4);
	g_release = &f;
	for (int i = 0; i < 8; i++) {
		g_in_submit++;
		rc = spio_bdev_read_blocks(f.desc, f.ch, f.buf, 0, 1, release_on_last,
					   (void *)(intptr_t)i);
		g_in_submit--;
		cr_assert_eq(rc, 0);
	}
	fx_poll();
	cr_assert_eq(g_done, 8);
	cr_assert_null(f.ch);
	fx_dev_close(&f);
}

/* Statistics are kept for every I/O of a pass. */
static void stat_done(struct spio_bdev *bdev, struct spio_bdev_io_stat *stat, void *arg, int rc)
{
	(void)bdev;
	(void)stat;
	cr_assert_eq(rc, 0);
	*(bool *)arg = true;
}

static void get_stat(struct spio_bdev *b, struct spio_bdev_io_stat *st)
{
	bool answered = false;

	memset(st, 0, sizeof(*st));
	cr_assert_eq(
	    spio_bdev_get_device_stat(b, st, SPIO_BDEV_RESET_STAT_NONE, stat_done, &answered), 0);
	for (int i = 0; i < 1000 && !answered; i++) {
		fx_poll();
	}
	cr_assert(answered, "no statistics answer");
}

Test(inline_completion, statistics_count_every_io)
{
	struct fx_dev f;
	struct spio_bdev_io_stat before, after;
	struct spio_bdev *b;

	cr_assert_eq(fx_null_create("N0", NULL, NBLOCKS, BS, &b), 0);
	fx_wait_for_examine();
	fx_dev_open(&f, "N0", true, BS * 4);
	get_stat(b, &before);
	for (int i = 0; i < 32; i++) {
		read_one(&f, i);
	}
	fx_poll();
	cr_assert_eq(g_done, 32);
	get_stat(b, &after);
	cr_assert_eq(after.num_read_ops - before.num_read_ops, 32);
	cr_assert_eq(after.bytes_read - before.bytes_read, 32 * BS);
	cr_assert_leq(after.min_read_latency_ticks, after.max_read_latency_ticks);
	cr_assert_leq(after.max_read_latency_ticks, after.read_latency_ticks);
	fx_dev_close(&f);
}

/*
 * Two OS threads, each with its own spio thread and channel on one null
 * bdev, completing inline at full speed: every I/O completes exactly once on
 * its own thread (TSan checks the channels share nothing unguarded).
 */
#define STRESS_IOS 20000
#define STRESS_QD 16

struct stress {
	struct spio_thread *thread;
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	uint8_t *buf;
	int submitted;
	int done;
	int wrong_thread;
	int failed;
};

static void stress_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	struct stress *s = cb_arg;

	spio_bdev_free_io(io);
	s->done++;
	s->failed += !success;
	s->wrong_thread += spio_get_thread() != s->thread;
	if (s->submitted < STRESS_IOS &&
	    spio_bdev_read_blocks(s->desc, s->ch, s->buf, (uint64_t)s->submitted % NBLOCKS, 1,
				  stress_done, s) == 0) {
		s->submitted++;
	}
}

static void *stress_main(void *arg)
{
	struct stress *s = arg;

	spio_set_thread(s->thread);
	s->ch = spio_bdev_get_io_channel(s->desc);
	if (s->ch == NULL) {
		return NULL;
	}
	for (int i = 0; i < STRESS_QD; i++) {
		if (spio_bdev_read_blocks(s->desc, s->ch, s->buf, (uint64_t)i, 1, stress_done, s) ==
		    0) {
			s->submitted++;
		}
	}
	while (s->done < s->submitted) {
		spio_thread_poll(s->thread, 0, 0);
	}
	spio_put_io_channel(s->ch);
	spio_thread_exit(s->thread);
	while (!spio_thread_is_exited(s->thread)) {
		spio_thread_poll(s->thread, 0, 0);
	}
	spio_set_thread(NULL);
	return NULL;
}

Test(inline_completion, two_threads_each_on_its_channel)
{
	struct stress s[2];
	pthread_t tid[2];
	struct spio_bdev *b;

	cr_assert_eq(fx_null_create("N0", NULL, NBLOCKS, BS, &b), 0);
	memset(s, 0, sizeof(s));
	for (int i = 0; i < 2; i++) {
		s[i].thread = spio_thread_create(i == 0 ? "stress0" : "stress1", NULL);
		cr_assert_not_null(s[i].thread);
		cr_assert_eq(spio_bdev_open_ext("N0", false, fx_dev_event, NULL, &s[i].desc), 0);
		s[i].buf = spio_dma_zmalloc(BS, BS);
		cr_assert_not_null(s[i].buf);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pthread_create(&tid[i], NULL, stress_main, &s[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(tid[i], NULL);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_not_null(s[i].ch, "thread %d got no channel", i);
		cr_assert_eq(s[i].submitted, STRESS_IOS, "thread %d submitted %d", i,
			     s[i].submitted);
		cr_assert_eq(s[i].done, STRESS_IOS, "thread %d: %d completions", i, s[i].done);
		cr_assert_eq(s[i].failed, 0);
		cr_assert_eq(s[i].wrong_thread, 0);
		spio_bdev_close(s[i].desc);
		spio_dma_free(s[i].buf);
		spio_thread_destroy(s[i].thread);
	}
}
