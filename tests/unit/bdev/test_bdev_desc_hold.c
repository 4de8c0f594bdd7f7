/*
 * How I/O in flight holds its descriptor: on the opener's thread a plain
 * counter; on another thread the bdev channel takes one reference for all
 * the I/O of the descriptor it holds (not one locked instruction per I/O),
 * falls back to a reference per I/O for a second descriptor while the held
 * one has I/O in flight, moves its hold when it has none, and lets go when
 * it is destroyed: a descriptor closed meanwhile is freed then (LeakSanitizer
 * would report it otherwise).
 */
#include <criterion/criterion.h>

#include "bdev/bdev_internal.h"
#include "helper_fixture.h"
#include "helper_spio_thread.h"
#include "spio/bdev.h"
#include "spio/dma.h"
#include "spio/thread.h"

#define BS 512
#define NBLOCKS 64

static struct spio_thread *g_t1;
static uint8_t *g_buf;
static int g_done;

static void setup(void)
{
	struct spio_bdev *b;

	fx_init("desc_hold");
	cr_assert_eq(fx_null_create("N0", NULL, NBLOCKS, BS, &b), 0);
	fx_wait_for_examine();
	g_t1 = spio_thread_create("desc_hold_t1", NULL);
	cr_assert_not_null(g_t1);
	g_buf = spio_dma_zmalloc(BS, BS);
	cr_assert_not_null(g_buf);
}

static void poll_t1(void)
{
	spio_set_thread(g_t1);
	for (int i = 0; i < 4; i++) {
		spio_thread_poll(g_t1, 0, 0);
	}
}

static void teardown(void)
{
	test_thread_exit(g_t1, 10000);
	spio_set_thread(g_fx_thread);
	spio_dma_free(g_buf);
	fx_fini();
}

TestSuite(desc_hold, .init = setup, .fini = teardown);

static void done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	(void)cb_arg;
	cr_assert(success);
	g_done++;
	spio_bdev_free_io(io);
}

static struct spio_bdev_desc *open_on_fx(void)
{
	struct spio_bdev_desc *desc;

	spio_set_thread(g_fx_thread);
	cr_assert_eq(spio_bdev_open_ext("N0", false, fx_dev_event, NULL, &desc), 0);
	return desc;
}

static void read_n(struct spio_bdev_desc *desc, struct spio_io_channel *ch, int n)
{
	for (int i = 0; i < n; i++) {
		int rc = spio_bdev_read_blocks(desc, ch, g_buf, (uint64_t)i, 1, done, NULL);

		cr_assert_eq(rc, 0, "read %d: %d", i, rc);
	}
}

static uint32_t refs(struct spio_bdev_desc *desc)
{
	return __atomic_load_n(&desc->refs, __ATOMIC_ACQUIRE);
}

Test(desc_hold, another_threads_channel_holds_once)
{
	struct spio_bdev_desc *a = open_on_fx();
	struct spio_io_channel *ch;

	cr_assert_eq(refs(a), 1);
	spio_set_thread(g_t1);
	ch = spio_bdev_get_io_channel(a);
	cr_assert_not_null(ch);
	read_n(a, ch, 16);
	/* the open reference and the channel's: not one per I/O */
	cr_assert_eq(refs(a), 2, "16 reads in flight on another thread: %u references", refs(a));
	poll_t1();
	cr_assert_eq(g_done, 16);
	cr_assert_eq(refs(a), 2, "the channel keeps its hold between I/O");
	spio_put_io_channel(ch);
	poll_t1();
	cr_assert_eq(refs(a), 1, "the channel's destruction lets go");
	spio_set_thread(g_fx_thread);
	spio_bdev_close(a);
}

Test(desc_hold, second_descriptor_falls_back_then_moves_the_hold)
{
	struct spio_bdev_desc *a = open_on_fx();
	struct spio_bdev_desc *b = open_on_fx();
	struct spio_io_channel *cha, *chb;

	spio_set_thread(g_t1);
	cha = spio_bdev_get_io_channel(a);
	chb = spio_bdev_get_io_channel(b);
	cr_assert_eq(cha, chb, "one channel per bdev and thread");
	read_n(a, cha, 4);
	read_n(b, chb, 3);
	cr_assert_eq(refs(a), 2);
	cr_assert_eq(refs(b), 4, "a's I/O in flight: b's are counted one by one");
	poll_t1();
	cr_assert_eq(g_done, 7);
	cr_assert_eq(refs(b), 1, "b's per-I/O references are returned");
	/* nothing of a's in flight: the channel moves its hold to b */
	read_n(b, chb, 2);
	cr_assert_eq(refs(a), 1);
	cr_assert_eq(refs(b), 2);
	poll_t1();
	cr_assert_eq(g_done, 9);
	spio_put_io_channel(cha);
	spio_put_io_channel(chb);
	poll_t1();
	cr_assert_eq(refs(b), 1);
	spio_set_thread(g_fx_thread);
	spio_bdev_close(a);
	spio_bdev_close(b);
}

/* A descriptor closed while another thread's channel (kept by that
 * thread's own descriptor) still holds it: freed with the channel. */
Test(desc_hold, closed_descriptor_freed_with_the_channel)
{
	struct spio_bdev_desc *a = open_on_fx();
	struct spio_bdev_desc *own;
	struct spio_io_channel *ch, *own_ch;

	spio_set_thread(g_t1);
	cr_assert_eq(spio_bdev_open_ext("N0", false, fx_dev_event, NULL, &own), 0);
	own_ch = spio_bdev_get_io_channel(own);
	ch = spio_bdev_get_io_channel(a);
	read_n(a, ch, 5);
	poll_t1();
	cr_assert_eq(g_done, 5);
	spio_put_io_channel(ch); /* own_ch keeps the channel */
	spio_set_thread(g_fx_thread);
	spio_bdev_close(a);
	cr_assert_eq(refs(a), 1, "closed, still held by the channel");
	spio_set_thread(g_t1);
	read_n(own, own_ch, 3); /* the owner's I/O: counted on the descriptor */
	poll_t1();
	cr_assert_eq(g_done, 8);
	spio_put_io_channel(own_ch);
	poll_t1(); /* the channel goes and frees `a` */
	spio_bdev_close(own);
}
