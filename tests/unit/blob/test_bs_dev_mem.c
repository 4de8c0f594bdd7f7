/*
 * The memory bs_dev against the bs_dev contract of spio/blob_bdev.h: every
 * operation, range checks, completions deferred to the submitting thread
 * (never inside the submit call), a channel per thread, sparse memory.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "spio/blob_bdev.h"
#include "spio/thread.h"
#include "helper_blob_thread.h"

#define BLEN 4096u
#define BCNT 64u

static struct spio_thread *g_thread;

static void setup(void)
{
	g_thread = blob_test_thread_start("bs_dev_mem");
}

static void poll_n(int n)
{
	blob_test_thread_poll(g_thread, n);
}

static void teardown(void)
{
	blob_test_thread_end(g_thread);
}

TestSuite(bs_dev_mem, .init = setup, .fini = teardown);

/* One operation's completion, checked against the contract. */
struct op {
	struct spio_bs_dev_cb_args args;
	bool in_submit; /* set around the submit call */
	int done;
	int rc;
	struct spio_thread *thread;
};

static void op_cpl(struct spio_io_channel *ch, void *cb_arg, int bserrno)
{
	struct op *o = cb_arg;

	cr_assert_not(o->in_submit, "completion ran inside the submit call");
	cr_assert_eq(ch, o->args.channel, "completion got another channel");
	o->done++;
	o->rc = bserrno;
	o->thread = spio_get_thread();
}

static void op_init(struct op *o, struct spio_io_channel *ch)
{
	memset(o, 0, sizeof(*o));
	o->args = (struct spio_bs_dev_cb_args){.cb_fn = op_cpl, .channel = ch, .cb_arg = o};
	o->in_submit = true;
}

/* After the submit: not done yet, then exactly once with the result. */
static int op_wait(struct op *o)
{
	o->in_submit = false;
	cr_assert_eq(o->done, 0, "completion before the thread was polled");
	for (int i = 0; i < 100 && o->done == 0; i++) {
		poll_n(1);
	}
	poll_n(2);
	cr_assert_eq(o->done, 1, "expected one completion, got %d", o->done);
	cr_assert_eq(o->thread, g_thread, "completion on another thread");
	return o->rc;
}

static int do_read(struct spio_bs_dev *d, struct spio_io_channel *ch, void *buf, uint64_t lba,
		   uint32_t n)
{
	struct op o;

	op_init(&o, ch);
	d->read(d, ch, buf, lba, n, &o.args);
	return op_wait(&o);
}

static int do_write(struct spio_bs_dev *d, struct spio_io_channel *ch, void *buf, uint64_t lba,
		    uint32_t n)
{
	struct op o;

	op_init(&o, ch);
	d->write(d, ch, buf, lba, n, &o.args);
	return op_wait(&o);
}

static void destroy_dev(struct spio_bs_dev *d, struct spio_io_channel *ch)
{
	d->destroy_channel(d, ch);
	d->destroy(d);
	poll_n(10);
}

Test(bs_dev_mem, create_errors)
{
	struct spio_bs_dev *d;

	errno = 0;
	cr_assert_null(spio_bs_dev_mem_create(BCNT, 0));
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(spio_bs_dev_mem_create(BCNT, 256), "block below 512");
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(spio_bs_dev_mem_create(BCNT, 513), "block not a power of two");
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(spio_bs_dev_mem_create(0, BLEN), "no blocks");
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(spio_bs_dev_mem_create(UINT64_MAX / 2, BLEN), "size overflows");
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(spio_bs_dev_mem_data(NULL));

	d = spio_bs_dev_mem_create(BCNT, 512);
	cr_assert_not_null(d);
	cr_assert_eq(d->blockcnt, BCNT);
	cr_assert_eq(d->blocklen, 512);
	cr_assert_null(d->get_base_bdev, "no bdev underneath");
	cr_assert_not_null(spio_bs_dev_mem_data(d));
	for (size_t i = 0; i < BCNT * 512; i++) {
		cr_assert_eq(((uint8_t *)spio_bs_dev_mem_data(d))[i], 0, "byte %zu not zero", i);
	}
	d->destroy(d);
	poll_n(5);
}

Test(bs_dev_mem, not_a_mem_dev)
{
	struct spio_bs_dev other = {0};

	cr_assert_null(spio_bs_dev_mem_data(&other), "another bs_dev has no memory data");
}

Test(bs_dev_mem, read_write_round_trip)
{
	struct spio_bs_dev *d = spio_bs_dev_mem_create(BCNT, BLEN);
	struct spio_io_channel *ch = d->create_channel(d);
	uint8_t *data = spio_bs_dev_mem_data(d);
	static uint8_t in[3 * BLEN], out[3 * BLEN];

	cr_assert_not_null(ch);
	for (size_t i = 0; i < sizeof(in); i++) {
		in[i] = (uint8_t)(i * 7 + 3);
	}
	cr_assert_eq(do_write(d, ch, in, 10, 3), 0);
	cr_assert_arr_eq(data + 10 * BLEN, in, sizeof(in), "write did not land at block 10");
	cr_assert_eq(data[10 * BLEN - 1], 0, "write spilled before its range");
	cr_assert_eq(data[13 * BLEN], 0, "write spilled after its range");
	cr_assert_eq(do_read(d, ch, out, 10, 3), 0);
	cr_assert_arr_eq(out, in, sizeof(in));
	cr_assert_eq(do_read(d, ch, out, BCNT - 1, 1), 0, "the last block");
	cr_assert_eq(do_read(d, ch, out, 0, 0), 0, "an empty range");
	destroy_dev(d, ch);
}

Test(bs_dev_mem, vectored_round_trip)
{
	struct spio_bs_dev *d = spio_bs_dev_mem_create(BCNT, 512);
	struct spio_io_channel *ch = d->create_channel(d);
	uint8_t a[700], b[324], c[1100], r1[100], r2[1948];
	struct iovec w[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};
	struct iovec r[2] = {{r1, sizeof(r1)}, {r2, sizeof(r2)}};
	uint8_t *data = spio_bs_dev_mem_data(d);
	struct op o;

	memset(a, 0xa1, sizeof(a));
	memset(b, 0xb2, sizeof(b));
	memset(c, 0xc3, sizeof(c));
	op_init(&o, ch);
	d->writev(d, ch, w, 3, 5, 4, &o.args);
	cr_assert_eq(op_wait(&o), 0);
	cr_assert_eq(data[5 * 512], 0xa1);
	cr_assert_eq(data[5 * 512 + 700], 0xb2);
	cr_assert_eq(data[5 * 512 + 1024], 0xc3);
	cr_assert_eq(data[5 * 512 + 2047], 0xc3);
	cr_assert_eq(data[9 * 512], 0, "only 4 blocks written, the rest of the iovecs ignored");
	op_init(&o, ch);
	d->readv(d, ch, r, 2, 5, 4, &o.args);
	cr_assert_eq(op_wait(&o), 0);
	cr_assert_arr_eq(r1, data + 5 * 512, sizeof(r1));
	cr_assert_arr_eq(r2, data + 5 * 512 + 100, sizeof(r2));
	/* iovecs shorter than the range */
	op_init(&o, ch);
	d->readv(d, ch, r, 2, 5, 5, &o.args);
	cr_assert_eq(op_wait(&o), -EINVAL, "iovecs of 2048 bytes for 2560");
	op_init(&o, ch);
	d->writev(d, ch, NULL, 0, 5, 1, &o.args);
	cr_assert_eq(op_wait(&o), -EINVAL, "no iovecs");
	destroy_dev(d, ch);
}

Test(bs_dev_mem, zeroes_unmap_flush)
{
	struct spio_bs_dev *d = spio_bs_dev_mem_create(BCNT, 512);
	struct spio_io_channel *ch = d->create_channel(d);
	uint8_t *data = spio_bs_dev_mem_data(d);
	struct op o;

	/* Ranges both page-aligned and not: 512-byte blocks 3..40 and 8..16. */
	memset(data, 0x77, BCNT * 512);
	op_init(&o, ch);
	d->write_zeroes(d, ch, 3, 37, &o.args);
	cr_assert_eq(op_wait(&o), 0);
	for (size_t i = 0; i < BCNT * 512; i++) {
		uint8_t want = (i >= 3 * 512 && i < 40 * 512) ? 0 : 0x77;

		cr_assert_eq(data[i], want, "byte %zu: expected 0x%02x, got 0x%02x", i, want,
			     data[i]);
	}
	memset(data, 0x55, BCNT * 512);
	op_init(&o, ch);
	d->unmap(d, ch, 8, 8, &o.args);
	cr_assert_eq(op_wait(&o), 0);
	cr_assert_eq(data[8 * 512], 0, "unmapped range reads as zeroes");
	cr_assert_eq(data[16 * 512 - 1], 0);
	cr_assert_eq(data[16 * 512], 0x55, "unmap stayed in its range");
	cr_assert_eq(data[8 * 512 - 1], 0x55);
	op_init(&o, ch);
	d->flush(d, ch, &o.args);
	cr_assert_eq(op_wait(&o), 0);
	destroy_dev(d, ch);
}

Test(bs_dev_mem, out_of_range)
{
	struct spio_bs_dev *d = spio_bs_dev_mem_create(BCNT, BLEN);
	struct spio_io_channel *ch = d->create_channel(d);
	uint8_t *data = spio_bs_dev_mem_data(d);
	static uint8_t buf[2 * BLEN];
	struct iovec iov = {buf, sizeof(buf)};
	struct op o;

	memset(buf, 0xee, sizeof(buf));
	cr_assert_eq(do_read(d, ch, buf, BCNT, 1), -EINVAL, "read at blockcnt");
	cr_assert_eq(do_read(d, ch, buf, BCNT - 1, 2), -EINVAL, "read across the end");
	cr_assert_eq(do_write(d, ch, buf, BCNT - 1, 2), -EINVAL, "write across the end");
	cr_assert_eq(data[(BCNT - 1) * BLEN], 0, "a refused write changed the device");
	cr_assert_eq(do_write(d, ch, buf, UINT64_MAX, 2), -EINVAL, "lba + count wraps");
	cr_assert_eq(do_write(d, ch, NULL, 0, 1), -EINVAL, "no buffer");
	op_init(&o, ch);
	d->readv(d, ch, &iov, 1, BCNT - 1, 2, &o.args);
	cr_assert_eq(op_wait(&o), -EINVAL, "readv across the end");
	op_init(&o, ch);
	d->writev(d, ch, &iov, 1, UINT64_MAX - 1, 2, &o.args);
	cr_assert_eq(op_wait(&o), -EINVAL, "writev wraps");
	op_init(&o, ch);
	d->write_zeroes(d, ch, 10, UINT64_MAX - 5, &o.args);
	cr_assert_eq(op_wait(&o), -EINVAL, "write_zeroes count wraps");
	op_init(&o, ch);
	d->unmap(d, ch, BCNT, 1, &o.args);
	cr_assert_eq(op_wait(&o), -EINVAL, "unmap past the end");
	destroy_dev(d, ch);
}

/* A callback that submits the next read: a chain of 10000 completions without recursion. */
struct chain {
	struct spio_bs_dev *d;
	struct spio_bs_dev_cb_args args;
	uint8_t buf[BLEN];
	int left;
	bool in_submit;
	int depth;
};

static void chain_cpl(struct spio_io_channel *ch, void *cb_arg, int bserrno)
{
	struct chain *c = cb_arg;

	cr_assert_eq(bserrno, 0);
	cr_assert_not(c->in_submit, "completion inside the submit of the next read");
	if (--c->left == 0) {
		return;
	}
	c->in_submit = true;
	c->d->read(c->d, ch, c->buf, (uint64_t)c->left % BCNT, 1, &c->args);
	c->in_submit = false;
}

Test(bs_dev_mem, resubmit_from_callback)
{
	struct chain c = {.d = spio_bs_dev_mem_create(BCNT, BLEN), .left = 10000};
	struct spio_io_channel *ch = c.d->create_channel(c.d);
	int polls = 0;

	c.args = (struct spio_bs_dev_cb_args){.cb_fn = chain_cpl, .channel = ch, .cb_arg = &c};
	c.in_submit = true;
	c.d->read(c.d, ch, c.buf, 0, 1, &c.args);
	c.in_submit = false;
	while (c.left > 0 && polls++ < 100000) {
		poll_n(1);
	}
	cr_assert_eq(c.left, 0, "chain stopped with %d reads left", c.left);
	cr_assert_geq(polls, 10000, "each completion in its own poll, got %d polls", polls);
	destroy_dev(c.d, ch);
}

Test(bs_dev_mem, many_in_flight)
{
	struct spio_bs_dev *d = spio_bs_dev_mem_create(BCNT, 512);
	struct spio_io_channel *ch = d->create_channel(d);
	static struct op ops[1000];
	static uint8_t bufs[1000][512];

	/* More than the completion queue's first size: it grows, nothing is lost. */
	for (int i = 0; i < 1000; i++) {
		op_init(&ops[i], ch);
		memset(bufs[i], i & 0xff, 512);
		d->write(d, ch, bufs[i], (uint64_t)i % BCNT, 1, &ops[i].args);
		ops[i].in_submit = false;
	}
	poll_n(3);
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(ops[i].done, 1, "op %d: %d completions", i, ops[i].done);
		cr_assert_eq(ops[i].rc, 0);
	}
	destroy_dev(d, ch);
}

Test(bs_dev_mem, sparse_large_device)
{
	/* 64 GiB: only the written pages cost memory. */
	struct spio_bs_dev *d = spio_bs_dev_mem_create(16ULL << 20, BLEN);
	struct spio_io_channel *ch;
	static uint8_t in[BLEN], out[BLEN];

	cr_assert_not_null(d, "a 64 GiB sparse device: errno %d", errno);
	ch = d->create_channel(d);
	memset(in, 0x3c, sizeof(in));
	cr_assert_eq(do_write(d, ch, in, d->blockcnt - 1, 1), 0);
	cr_assert_eq(do_read(d, ch, out, d->blockcnt - 1, 1), 0);
	cr_assert_arr_eq(out, in, sizeof(in));
	cr_assert_eq(do_read(d, ch, out, 12345678, 1), 0);
	cr_assert_eq(out[0], 0);
	destroy_dev(d, ch);
}

/* Two OS threads, each running its own spio thread with its own channel, at once. */
struct worker {
	struct spio_bs_dev *d;
	struct spio_thread *t;
	uint64_t first; /* block range [first, first + 16) */
	uint8_t tag;
	int errors;
	struct spio_io_channel *ch;
	struct spio_io_channel *ch_again;
};

struct wop {
	struct spio_bs_dev_cb_args args;
	struct worker *w;
	int done;
	int rc;
	struct spio_thread *thread;
};

static void wop_cpl(struct spio_io_channel *ch, void *cb_arg, int bserrno)
{
	struct wop *o = cb_arg;

	o->done++;
	o->rc = bserrno;
	o->thread = spio_get_thread();
}

static bool wrun(struct worker *w, bool write, uint8_t *buf, uint64_t lba)
{
	struct wop o = {.w = w};

	o.args = (struct spio_bs_dev_cb_args){.cb_fn = wop_cpl, .channel = w->ch, .cb_arg = &o};
	if (write) {
		w->d->write(w->d, w->ch, buf, lba, 1, &o.args);
	} else {
		w->d->read(w->d, w->ch, buf, lba, 1, &o.args);
	}
	if (o.done != 0) {
		return false; /* inline completion */
	}
	while (o.done == 0) {
		spio_thread_poll(w->t, 0, 0);
	}
	return o.done == 1 && o.rc == 0 && o.thread == w->t;
}

static pthread_barrier_t g_both_have_channels;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t buf[512], back[512];

	spio_set_thread(w->t);
	w->ch = w->d->create_channel(w->d);
	w->ch_again = w->d->create_channel(w->d);
	for (int round = 0; round < 2000; round++) {
		uint64_t lba = w->first + (uint64_t)round % 16;

		memset(buf, w->tag ^ (round & 0xff), sizeof(buf));
		if (!wrun(w, true, buf, lba) || !wrun(w, false, back, lba) ||
		    memcmp(buf, back, sizeof(buf)) != 0) {
			w->errors++;
		}
	}
	/* Both channels live until both threads are here: the pointers compared are distinct
	 * objects. */
	pthread_barrier_wait(&g_both_have_channels);
	w->d->destroy_channel(w->d, w->ch_again);
	w->d->destroy_channel(w->d, w->ch);
	for (int i = 0; i < 10; i++) {
		spio_thread_poll(w->t, 0, 0);
	}
	spio_set_thread(NULL);
	return NULL;
}

Test(bs_dev_mem, two_threads)
{
	struct spio_bs_dev *d = spio_bs_dev_mem_create(BCNT, 512);
	struct worker w[2] = {{.d = d, .first = 0, .tag = 0x11},
			      {.d = d, .first = 16, .tag = 0x22}};
	pthread_t tid[2];

	cr_assert_eq(pthread_barrier_init(&g_both_have_channels, NULL, 2), 0);
	for (int i = 0; i < 2; i++) {
		w[i].t = spio_thread_create(i == 0 ? "w0" : "w1", NULL);
		cr_assert_not_null(w[i].t);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(tid[i], NULL);
		cr_assert_eq(w[i].errors, 0, "worker %d: %d failed round trips", i, w[i].errors);
		cr_assert_not_null(w[i].ch);
		cr_assert_eq(w[i].ch, w[i].ch_again, "one channel per thread, shared");
	}
	cr_assert_neq(w[0].ch, w[1].ch, "each thread its own channel");
	pthread_barrier_destroy(&g_both_have_channels);
	d->destroy(d);
	poll_n(10);
	for (int i = 0; i < 2; i++) {
		struct spio_thread *prev = spio_thread_enter(w[i].t);

		spio_thread_exit(w[i].t);
		spio_thread_leave(prev);
		for (int k = 0; k < 100 && !spio_thread_is_exited(w[i].t); k++) {
			spio_thread_poll(w[i].t, 0, 0);
		}
		cr_assert(spio_thread_is_exited(w[i].t));
		spio_thread_destroy(w[i].t);
	}
}
