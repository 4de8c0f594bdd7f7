/* The bs_dev over a bdev (lib/blob/blob_bdev.c) against the contract of
 * spio/blob_bdev.h: data round trips over malloc and null bdevs, range and
 * device errors, claims, -ENOMEM queueing with a tiny bdev_io pool, the
 * write_zeroes fallback on a bdev without that type, hot remove, two threads
 * at once; every completion is checked to run outside its submit call. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_spio_thread.h"
#include "spio/bdev.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_module.h"
#include "spio/bdev_null.h"
#include "spio/blob_bdev.h"
#include "spio/env.h"
#include "spio/thread.h"

#define TIMEOUT_US (10ULL * 1000 * 1000)

static struct spio_thread *g_thread;

/* Set around every submit on the submitting OS thread: a completion that
 * finds it set ran inside the submit call, which the contract forbids. */
static __thread bool g_in_submit;

#define SUBMIT(expr)                 \
	do {                         \
		g_in_submit = true;  \
		expr;                \
		g_in_submit = false; \
	} while (0)

static void init_layer(uint32_t pool, uint32_t cache)
{
	struct spio_bdev_opts bopts;
	int rc;

	test_env_init("test_blob_bdev");
	g_thread = test_thread_start("blob_bdev");
	spio_bdev_opts_init(&bopts, sizeof(bopts));
	bopts.bdev_io_pool_size = pool;
	bopts.bdev_io_cache_size = cache;
	rc = spio_bdev_initialize(&bopts, NULL, NULL);
	cr_assert_eq(rc, 0, "spio_bdev_initialize: expected 0, got %d", rc);
}

static void setup(void)
{
	init_layer(1024, 0);
}

static void poll_once(void)
{
	spio_thread_poll(g_thread, 0, 0);
}

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		poll_once();
	}
}

/* Poll `t` until *counter >= want; false after TIMEOUT_US. */
static bool poll_until(struct spio_thread *t, const int *counter, int want)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(TIMEOUT_US);

	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < want) {
		if (spio_get_ticks() > end) {
			return false;
		}
		spio_thread_poll(t, 0, 0);
	}
	return true;
}

static void fini_done(void *arg)
{
	(*(int *)arg)++;
}

static void teardown(void)
{
	int done = 0;

	spio_set_thread(g_thread);
	cr_assert_eq(spio_bdev_finish(fini_done, &done), 0);
	cr_assert(poll_until(g_thread, &done, 1), "spio_bdev_finish did not complete");
	spio_thread_exit(g_thread);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_thread); i++) {
		poll_once();
	}
	cr_assert(spio_thread_is_exited(g_thread), "thread did not exit");
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(blob_bdev, .init = setup, .fini = teardown, .timeout = 60);
/* Tests that start the layer themselves, with a tiny bdev_io pool. */
TestSuite(blob_bdev_pool, .fini = teardown, .timeout = 60);

/* One bs_dev operation's completion. */
struct cpl {
	struct spio_bs_dev_cb_args args;
	int done;
	int bserrno;
	bool in_submit; /* it ran inside its submit call */
	struct spio_io_channel *channel;
	struct spio_thread *thread;
};

static void cpl_cb(struct spio_io_channel *channel, void *cb_arg, int bserrno)
{
	struct cpl *c = cb_arg;

	c->in_submit = g_in_submit;
	c->bserrno = bserrno;
	c->channel = channel;
	c->thread = spio_get_thread();
	__atomic_add_fetch(&c->done, 1, __ATOMIC_RELEASE);
}

static void cpl_init(struct cpl *c, struct spio_io_channel *ch)
{
	memset(c, 0, sizeof(*c));
	c->args.cb_fn = cpl_cb;
	c->args.cb_arg = c;
	c->args.channel = ch;
}

/* Wait for `c` on the main thread: one completion with `want`, on this thread. */
static void expect_cpl(struct cpl *c, int want, const char *what)
{
	cr_assert(poll_until(g_thread, &c->done, 1), "%s: no completion", what);
	poll_n(2);
	cr_assert_eq(c->done, 1, "%s: expected one completion, got %d", what, c->done);
	cr_assert(!c->in_submit, "%s: completion ran inside the submit call", what);
	cr_assert_eq(c->bserrno, want, "%s: expected bserrno %d, got %d", what, want, c->bserrno);
	cr_assert_eq(c->thread, g_thread, "%s: completion on another thread", what);
	cr_assert_eq(c->channel, c->args.channel, "%s: cb_args->channel not handed back", what);
}

static void *buf_alloc(size_t len)
{
	void *p = aligned_alloc(4096, (len + 4095) / 4096 * 4096);

	cr_assert_not_null(p);
	return p;
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
	}
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

static struct spio_bdev *make_malloc(const char *name, uint64_t blocks, uint32_t bl)
{
	struct spio_bdev_malloc_opts o;
	struct spio_bdev *bdev = NULL;
	int rc;

	spio_bdev_malloc_opts_init(&o, sizeof(o));
	o.name = name;
	o.num_blocks = blocks;
	o.block_size = bl;
	rc = spio_bdev_malloc_create(&o, &bdev, NULL, 0);
	cr_assert_eq(rc, 0, "malloc %s: expected 0, got %d", name, rc);
	return bdev;
}

static struct spio_bs_dev *open_dev(const char *name, bool write)
{
	struct spio_bs_dev *dev = NULL;
	int rc = spio_bdev_create_bs_dev(name, write, NULL, NULL, &dev);

	cr_assert_eq(rc, 0, "create_bs_dev %s: expected 0, got %d", name, rc);
	cr_assert_not_null(dev);
	return dev;
}

static void close_dev(struct spio_bs_dev *dev, struct spio_io_channel *ch)
{
	if (ch != NULL) {
		dev->destroy_channel(dev, ch);
	}
	poll_n(3);
	dev->destroy(dev);
	poll_n(3);
}

/*
 * A test module: a RAM disk whose supported I/O types are chosen per test,
 * that can fail one block and records the writes it was given.
 */

struct tdisk {
	struct spio_bdev bdev;
	uint8_t *data;
	uint32_t types; /* bit per enum spio_bdev_io_type */
	uint64_t fail_lba;
	int writes;
	uint64_t max_write_blocks;
};

static struct spio_bdev_module g_tmod = {.name = "blob_bdev_test"};
SPIO_BDEV_MODULE_REGISTER(g_tmod)

static int tdisk_destruct(void *ctxt)
{
	struct tdisk *t = ctxt;

	free(t->data);
	free(t->bdev.name);
	free(t);
	return 0;
}

static bool tdisk_supported(void *ctxt, enum spio_bdev_io_type type)
{
	struct tdisk *t = ctxt;

	return (t->types & (1u << type)) != 0;
}

static void tdisk_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	struct tdisk *t = io->bdev->ctxt;
	uint64_t bl = io->bdev->blocklen;
	uint8_t *p = t->data + io->u.offset_blocks * bl;
	uint64_t len = io->u.num_blocks * bl;

	(void)ch;
	if (t->fail_lba >= io->u.offset_blocks &&
	    t->fail_lba < io->u.offset_blocks + io->u.num_blocks) {
		spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_FAILED);
		return;
	}
	switch (io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
		spio_copy_buf_to_iovs(io->u.iovs, io->u.iovcnt, p, len);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE:
		/* atomics: two threads write in the stress test */
		__atomic_add_fetch(&t->writes, 1, __ATOMIC_RELAXED);
		if (io->u.num_blocks > __atomic_load_n(&t->max_write_blocks, __ATOMIC_RELAXED)) {
			__atomic_store_n(&t->max_write_blocks, io->u.num_blocks, __ATOMIC_RELAXED);
		}
		spio_copy_iovs_to_buf(p, len, io->u.iovs, io->u.iovcnt);
		break;
	default:
		break;
	}
	/* inline: the core must defer it */
	spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_SUCCESS);
}

static const struct spio_bdev_fn_table g_tdisk_fn = {
    .destruct = tdisk_destruct,
    .submit_request = tdisk_submit,
    .io_type_supported = tdisk_supported,
};

#define RW_ONLY ((1u << SPIO_BDEV_IO_TYPE_READ) | (1u << SPIO_BDEV_IO_TYPE_WRITE))

static struct tdisk *make_tdisk(const char *name, uint64_t blocks, uint32_t bl, uint32_t types,
				uint32_t write_unit)
{
	struct tdisk *t = calloc(1, sizeof(*t));
	int rc;

	cr_assert_not_null(t);
	t->data = calloc(blocks, bl);
	cr_assert_not_null(t->data);
	t->types = types;
	t->fail_lba = UINT64_MAX;
	t->bdev.ctxt = t;
	t->bdev.name = strdup(name);
	t->bdev.blocklen = bl;
	t->bdev.blockcnt = blocks;
	t->bdev.write_unit_size = write_unit;
	t->bdev.module = &g_tmod;
	t->bdev.fn_table = &g_tdisk_fn;
	rc = spio_bdev_register(&t->bdev);
	cr_assert_eq(rc, 0, "register %s: expected 0, got %d", name, rc);
	return t;
}

/*
 * Creation, lookup and bad arguments
 */

static void dummy_destroy(struct spio_bs_dev *dev)
{
	(void)dev;
}

Test(blob_bdev, create_errors_and_lookup)
{
	struct spio_bs_dev fake = {.destroy = dummy_destroy, .blocklen = 512, .blockcnt = 1};
	struct spio_bs_dev *dev = NULL;
	struct spio_bdev *bdev = make_malloc("Malloc0", 64, 4096);
	int rc;

	rc = spio_bdev_create_bs_dev(NULL, true, NULL, NULL, &dev);
	cr_assert_eq(rc, -EINVAL, "NULL name: expected -EINVAL, got %d", rc);
	rc = spio_bdev_create_bs_dev("Malloc0", true, NULL, NULL, NULL);
	cr_assert_eq(rc, -EINVAL, "NULL out: expected -EINVAL, got %d", rc);
	rc = spio_bdev_create_bs_dev("NoSuch", true, NULL, NULL, &dev);
	cr_assert_eq(rc, -ENODEV, "unknown bdev: expected -ENODEV, got %d", rc);
	cr_assert_null(dev, "no device on failure");

	dev = open_dev("Malloc0", true);
	cr_assert_eq(dev->blocklen, 4096, "blocklen: expected 4096, got %u", dev->blocklen);
	cr_assert_eq(dev->blockcnt, 64, "blockcnt: expected 64, got %lu",
		     (unsigned long)dev->blockcnt);
	cr_assert_eq(spio_bs_dev_get_bdev(dev), bdev, "spio_bs_dev_get_bdev gives the bdev");
	cr_assert_not_null(dev->get_base_bdev);
	cr_assert_eq(dev->get_base_bdev(dev), bdev, "get_base_bdev gives the bdev");
	cr_assert_not_null(dev->is_zeroes);
	cr_assert(!dev->is_zeroes(dev, 0, 1), "a bdev's content is never known to be zero");
	cr_assert_null(spio_bs_dev_get_bdev(NULL));
	cr_assert_null(spio_bs_dev_get_bdev(&fake), "a foreign bs_dev has no bdev");
	rc = spio_bs_bdev_claim(NULL, &g_tmod);
	cr_assert_eq(rc, -EINVAL, "claim NULL: expected -EINVAL, got %d", rc);
	rc = spio_bs_bdev_claim(&fake, &g_tmod);
	cr_assert_eq(rc, -EINVAL, "claim a foreign bs_dev: expected -EINVAL, got %d", rc);
	rc = spio_bs_bdev_claim(dev, NULL);
	cr_assert_eq(rc, -EINVAL, "claim without module: expected -EINVAL, got %d", rc);
	cr_assert(!spio_bdev_is_claimed(bdev), "failed claims leave it unclaimed");
	close_dev(dev, NULL);
}

/*
 * Round trips
 */

Test(blob_bdev, malloc_round_trip)
{
	const uint32_t bl = 4096;
	struct spio_bdev *bdev = make_malloc("Malloc0", 64, bl);
	struct spio_bs_dev *dev = open_dev("Malloc0", true);
	struct spio_io_channel *ch = dev->create_channel(dev);
	uint8_t *src = buf_alloc(8 * bl), *dst = buf_alloc(8 * bl);
	struct iovec wiov[3], riov[2];
	struct cpl c;

	(void)bdev;
	cr_assert_not_null(ch);

	fill(src, 4 * bl, 1);
	cpl_init(&c, ch);
	SUBMIT(dev->write(dev, ch, src, 3, 4, &c.args));
	expect_cpl(&c, 0, "write");
	memset(dst, 0xee, 4 * bl);
	cpl_init(&c, ch);
	SUBMIT(dev->read(dev, ch, dst, 3, 4, &c.args));
	expect_cpl(&c, 0, "read");
	cr_assert(memcmp(src, dst, 4 * bl) == 0, "read gives back what write wrote");

	/* uneven pieces adding up to 3 blocks */
	fill(src, 3 * bl, 2);
	wiov[0] = (struct iovec){src, 1000};
	wiov[1] = (struct iovec){src + 1000, 2 * bl - 1000};
	wiov[2] = (struct iovec){src + 2 * bl, bl};
	cpl_init(&c, ch);
	SUBMIT(dev->writev(dev, ch, wiov, 3, 10, 3, &c.args));
	expect_cpl(&c, 0, "writev");
	memset(dst, 0xee, 3 * bl);
	riov[0] = (struct iovec){dst, bl + 512};
	riov[1] = (struct iovec){dst + bl + 512, 2 * bl - 512};
	cpl_init(&c, ch);
	SUBMIT(dev->readv(dev, ch, riov, 2, 10, 3, &c.args));
	expect_cpl(&c, 0, "readv");
	cr_assert(memcmp(src, dst, 3 * bl) == 0, "readv gives back what writev wrote");

	/* write_zeroes natively: blocks 11..12 zero, 10 kept */
	cpl_init(&c, ch);
	SUBMIT(dev->write_zeroes(dev, ch, 11, 2, &c.args));
	expect_cpl(&c, 0, "write_zeroes");
	cpl_init(&c, ch);
	SUBMIT(dev->read(dev, ch, dst, 10, 3, &c.args));
	expect_cpl(&c, 0, "read after write_zeroes");
	cr_assert(memcmp(src, dst, bl) == 0, "block before the zeroed range kept");
	cr_assert(all_zero(dst + bl, 2 * bl), "zeroed range reads as zeroes");

	cpl_init(&c, ch);
	SUBMIT(dev->unmap(dev, ch, 3, 4, &c.args));
	expect_cpl(&c, 0, "unmap");
	cpl_init(&c, ch);
	SUBMIT(dev->read(dev, ch, dst, 3, 4, &c.args));
	expect_cpl(&c, 0, "read after unmap");
	cr_assert(all_zero(dst, 4 * bl), "malloc reads unmapped blocks as zeroes");

	cpl_init(&c, ch);
	SUBMIT(dev->flush(dev, ch, &c.args));
	expect_cpl(&c, 0, "flush");

	/* the last block and the whole device */
	fill(src, bl, 3);
	cpl_init(&c, ch);
	SUBMIT(dev->write(dev, ch, src, 63, 1, &c.args));
	expect_cpl(&c, 0, "write last block");
	cpl_init(&c, ch);
	SUBMIT(dev->write_zeroes(dev, ch, 0, 64, &c.args));
	expect_cpl(&c, 0, "write_zeroes whole device");
	cpl_init(&c, ch);
	SUBMIT(dev->read(dev, ch, dst, 60, 4, &c.args));
	expect_cpl(&c, 0, "read tail");
	cr_assert(all_zero(dst, 4 * bl), "whole device zeroed");

	free(src);
	free(dst);
	close_dev(dev, ch);
}

Test(blob_bdev, null_every_op_completes)
{
	struct spio_bdev_null_opts o;
	struct spio_bdev *bdev;
	struct spio_bs_dev *dev;
	struct spio_io_channel *ch;
	uint8_t *buf = buf_alloc(4 * 512);
	struct iovec iov = {buf, 2 * 512};
	struct cpl c[7];

	spio_bdev_null_opts_init(&o, sizeof(o));
	o.name = "Null0";
	o.num_blocks = 1024;
	o.block_size = 512;
	cr_assert_eq(spio_bdev_null_create(&o, &bdev, NULL, 0), 0);
	dev = open_dev("Null0", true);
	cr_assert_eq(dev->blockcnt, 1024);
	cr_assert_eq(dev->blocklen, 512);
	ch = dev->create_channel(dev);
	cr_assert_not_null(ch);
	for (int i = 0; i < 7; i++) {
		cpl_init(&c[i], ch);
	}
	SUBMIT(dev->write(dev, ch, buf, 0, 4, &c[0].args));
	SUBMIT(dev->read(dev, ch, buf, 1020, 4, &c[1].args));
	SUBMIT(dev->writev(dev, ch, &iov, 1, 7, 2, &c[2].args));
	SUBMIT(dev->readv(dev, ch, &iov, 1, 9, 2, &c[3].args));
	SUBMIT(dev->write_zeroes(dev, ch, 0, 1024, &c[4].args));
	SUBMIT(dev->unmap(dev, ch, 5, 100, &c[5].args));
	SUBMIT(dev->flush(dev, ch, &c[6].args));
	for (int i = 0; i < 7; i++) {
		expect_cpl(&c[i], 0, "null op");
	}
	cpl_init(&c[0], ch);
	SUBMIT(dev->read(dev, ch, buf, 1024, 1, &c[0].args));
	expect_cpl(&c[0], -EINVAL, "null read past the end");
	free(buf);
	close_dev(dev, ch);
}

/*
 * Errors: ranges, device failures, read-only
 */

Test(blob_bdev, out_of_range)
{
	const uint32_t bl = 512;
	struct spio_bs_dev *dev, *fdev;
	struct spio_io_channel *ch, *fch;
	uint8_t *buf = buf_alloc(4 * bl);
	struct iovec iov = {buf, 2 * bl};
	struct cpl c;

	make_malloc("Malloc0", 32, bl);
	make_tdisk("Plain0", 32, bl, RW_ONLY, 1);
	dev = open_dev("Malloc0", true);
	fdev = open_dev("Plain0", true);
	ch = dev->create_channel(dev);
	fch = fdev->create_channel(fdev);
	cr_assert(ch != NULL && fch != NULL);

	struct {
		struct spio_bs_dev *d;
		struct spio_io_channel *c;
		const char *what;
	} devs[2] = {{dev, ch, "malloc"}, {fdev, fch, "no write_zeroes/unmap/flush"}};

	for (int i = 0; i < 2; i++) {
		struct spio_bs_dev *d = devs[i].d;
		struct spio_io_channel *k = devs[i].c;

		cpl_init(&c, k);
		SUBMIT(d->read(d, k, buf, 32, 1, &c.args));
		expect_cpl(&c, -EINVAL, "read at blockcnt");
		cpl_init(&c, k);
		SUBMIT(d->read(d, k, buf, 31, 2, &c.args));
		expect_cpl(&c, -EINVAL, "read across the end");
		cpl_init(&c, k);
		SUBMIT(d->write(d, k, buf, 30, 4, &c.args));
		expect_cpl(&c, -EINVAL, "write across the end");
		cpl_init(&c, k);
		SUBMIT(d->readv(d, k, &iov, 1, 31, 2, &c.args));
		expect_cpl(&c, -EINVAL, "readv across the end");
		cpl_init(&c, k);
		SUBMIT(d->writev(d, k, &iov, 1, UINT64_MAX, 2, &c.args));
		expect_cpl(&c, -EINVAL, "writev at a wrapping lba");
		cpl_init(&c, k);
		SUBMIT(d->write_zeroes(d, k, 16, 17, &c.args));
		expect_cpl(&c, -EINVAL, "write_zeroes across the end");
		cpl_init(&c, k);
		SUBMIT(d->write_zeroes(d, k, 1, UINT64_MAX, &c.args));
		expect_cpl(&c, -EINVAL, "write_zeroes with a wrapping count");
		cpl_init(&c, k);
		SUBMIT(d->write_zeroes(d, k, 0, 0, &c.args));
		expect_cpl(&c, -EINVAL, "write_zeroes of nothing");
		cpl_init(&c, k);
		SUBMIT(d->unmap(d, k, 32, 1, &c.args));
		expect_cpl(&c, -EINVAL, "unmap at blockcnt");
		cpl_init(&c, k);
		SUBMIT(d->read(d, k, buf, 31, 1, &c.args));
		expect_cpl(&c, 0, "the last block is still readable");
		cr_log_info("out_of_range: %s checked", devs[i].what);
	}
	free(buf);
	close_dev(dev, ch);
	close_dev(fdev, fch);
}

Test(blob_bdev, device_error_is_eio)
{
	const uint32_t bl = 512;
	struct tdisk *t = make_tdisk("Plain0", 1024, bl, RW_ONLY, 1);
	struct spio_bs_dev *dev = open_dev("Plain0", true);
	struct spio_io_channel *ch = dev->create_channel(dev);
	uint8_t *buf = buf_alloc(4 * bl);
	struct cpl c;

	t->fail_lba = 5;
	cpl_init(&c, ch);
	SUBMIT(dev->read(dev, ch, buf, 4, 2, &c.args));
	expect_cpl(&c, -EIO, "read of a failing block");
	cpl_init(&c, ch);
	SUBMIT(dev->write(dev, ch, buf, 5, 1, &c.args));
	expect_cpl(&c, -EIO, "write of a failing block");
	/* 300 blocks take three zero buffer writes; the second one fails */
	t->fail_lba = 200;
	cpl_init(&c, ch);
	SUBMIT(dev->write_zeroes(dev, ch, 0, 300, &c.args));
	expect_cpl(&c, -EIO, "write_zeroes fallback over a failing block");
	cpl_init(&c, ch);
	SUBMIT(dev->read(dev, ch, buf, 0, 4, &c.args));
	expect_cpl(&c, 0, "other blocks still fine");
	free(buf);
	close_dev(dev, ch);
}

Test(blob_bdev, read_only_refuses_writes)
{
	const uint32_t bl = 512;
	struct spio_bs_dev *dev, *pdev;
	struct spio_io_channel *ch, *pch;
	uint8_t *buf = buf_alloc(bl);
	struct cpl c;

	make_malloc("Malloc0", 16, bl);
	make_tdisk("Plain0", 16, bl, RW_ONLY, 1);
	dev = open_dev("Malloc0", false);
	pdev = open_dev("Plain0", false);
	ch = dev->create_channel(dev);
	pch = pdev->create_channel(pdev);

	cpl_init(&c, ch);
	SUBMIT(dev->read(dev, ch, buf, 0, 1, &c.args));
	expect_cpl(&c, 0, "read on a read-only bs_dev");
	cpl_init(&c, ch);
	SUBMIT(dev->write(dev, ch, buf, 0, 1, &c.args));
	expect_cpl(&c, -EBADF, "write on a read-only bs_dev");
	cpl_init(&c, ch);
	SUBMIT(dev->write_zeroes(dev, ch, 0, 1, &c.args));
	expect_cpl(&c, -EBADF, "write_zeroes on a read-only bs_dev");
	cpl_init(&c, pch);
	SUBMIT(pdev->write_zeroes(pdev, pch, 0, 1, &c.args));
	expect_cpl(&c, -EBADF, "fallback write_zeroes on a read-only bs_dev");
	cpl_init(&c, pch);
	SUBMIT(pdev->unmap(pdev, pch, 0, 1, &c.args));
	expect_cpl(&c, -EBADF, "unsupported unmap on a read-only bs_dev");
	cpl_init(&c, pch);
	SUBMIT(pdev->flush(pdev, pch, &c.args));
	expect_cpl(&c, 0, "flush is allowed read-only");
	free(buf);
	close_dev(dev, ch);
	close_dev(pdev, pch);
}

/*
 * Claims
 */

static void ignore_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

Test(blob_bdev, claim)
{
	static struct spio_bdev_module other = {.name = "other"};
	struct spio_bdev *bdev = make_malloc("Malloc0", 16, 512);
	struct spio_bs_dev *dev = open_dev("Malloc0", true), *ro, *dev2 = NULL;
	struct spio_bdev_desc *desc = NULL;
	struct spio_io_channel *ch;
	uint8_t *buf = buf_alloc(512);
	struct cpl c;
	int rc;

	rc = spio_bs_bdev_claim(dev, &g_tmod);
	cr_assert_eq(rc, 0, "first claim: expected 0, got %d", rc);
	cr_assert(spio_bdev_is_claimed(bdev));
	rc = spio_bs_bdev_claim(dev, &g_tmod);
	cr_assert_eq(rc, -EPERM, "second claim: expected -EPERM, got %d", rc);
	rc = spio_bdev_create_bs_dev("Malloc0", true, NULL, NULL, &dev2);
	cr_assert_eq(rc, -EPERM, "writer on a claimed bdev: expected -EPERM, got %d", rc);
	rc = spio_bdev_open_ext("Malloc0", true, ignore_event, NULL, &desc);
	cr_assert_eq(rc, -EPERM, "bdev writer on a claimed bdev: expected -EPERM, got %d", rc);
	ro = open_dev("Malloc0", false);
	rc = spio_bs_bdev_claim(ro, &other);
	cr_assert_eq(rc, -EPERM, "claim by another bs_dev: expected -EPERM, got %d", rc);

	/* the claimer still writes through its own descriptor */
	ch = dev->create_channel(dev);
	cpl_init(&c, ch);
	SUBMIT(dev->write(dev, ch, buf, 0, 1, &c.args));
	expect_cpl(&c, 0, "write by the claimer");
	close_dev(ro, NULL);
	close_dev(dev, ch);

	cr_assert(!spio_bdev_is_claimed(bdev), "destroy releases the claim");
	rc = spio_bdev_open_ext("Malloc0", true, ignore_event, NULL, &desc);
	cr_assert_eq(rc, 0, "writer after the claim ended: expected 0, got %d", rc);
	spio_bdev_close(desc);

	/* a read-only bs_dev may claim too, and then nobody writes */
	ro = open_dev("Malloc0", false);
	rc = spio_bs_bdev_claim(ro, &other);
	cr_assert_eq(rc, 0, "read-only claim: expected 0, got %d", rc);
	rc = spio_bdev_create_bs_dev("Malloc0", true, NULL, NULL, &dev2);
	cr_assert_eq(rc, -EPERM, "writer under a read-only claim: expected -EPERM, got %d", rc);
	ch = ro->create_channel(ro);
	cpl_init(&c, ch);
	SUBMIT(ro->write(ro, ch, buf, 0, 1, &c.args));
	expect_cpl(&c, -EBADF, "a read-only claimer still cannot write");
	close_dev(ro, ch);
	cr_assert(!spio_bdev_is_claimed(bdev), "destroy releases the read-only claim");
	free(buf);
}

/*
 * Running out of bdev_ios: everything waits and completes
 */

#define NOPS 64

static void probe_cb(struct spio_bdev_io *bdev_io, bool success, void *cb_arg)
{
	(void)success;
	(*(int *)cb_arg)++;
	spio_bdev_free_io(bdev_io);
}

Test(blob_bdev_pool, enomem_queues_never_fails)
{
	const uint32_t bl = 512;
	struct spio_bdev_desc *probe;
	struct spio_io_channel *ch, *pch;
	struct spio_bs_dev *dev;
	static struct cpl c[NOPS];
	uint8_t *src = buf_alloc(NOPS * bl), *dst = buf_alloc(NOPS * bl);
	static struct iovec iov[NOPS][2];
	int probe_done = 0;
	int rc;

	init_layer(4, 0);
	make_malloc("Malloc0", 2 * NOPS, bl);
	dev = open_dev("Malloc0", true);
	ch = dev->create_channel(dev);
	cr_assert_not_null(ch);

	fill(src, NOPS * bl, 9);
	for (int i = 0; i < NOPS; i++) {
		cpl_init(&c[i], ch);
		if (i % 2 == 0) {
			SUBMIT(dev->write(dev, ch, src + i * bl, i, 1, &c[i].args));
		} else {
			iov[i][0] = (struct iovec){src + i * bl, 100};
			iov[i][1] = (struct iovec){src + i * bl + 100, bl - 100};
			SUBMIT(dev->writev(dev, ch, iov[i], 2, i, 1, &c[i].args));
		}
	}
	/* the pool really is empty: a direct submit on this thread fails */
	cr_assert_eq(spio_bdev_open_ext("Malloc0", false, ignore_event, NULL, &probe), 0);
	pch = spio_bdev_get_io_channel(probe);
	rc = spio_bdev_read_blocks(probe, pch, dst, 0, 1, probe_cb, &probe_done);
	cr_assert_eq(rc, -ENOMEM, "expected the pool of 4 exhausted (-ENOMEM), got %d", rc);
	for (int i = 0; i < NOPS; i++) {
		char what[32];

		snprintf(what, sizeof(what), "queued write %d", i);
		expect_cpl(&c[i], 0, what);
	}

	/* reads, and every other kind, all at once */
	memset(dst, 0xee, NOPS * bl);
	for (int i = 0; i < NOPS; i++) {
		cpl_init(&c[i], ch);
		if (i % 2 == 0) {
			SUBMIT(dev->read(dev, ch, dst + i * bl, i, 1, &c[i].args));
		} else {
			iov[i][0] = (struct iovec){dst + i * bl, 300};
			iov[i][1] = (struct iovec){dst + i * bl + 300, bl - 300};
			SUBMIT(dev->readv(dev, ch, iov[i], 2, i, 1, &c[i].args));
		}
	}
	for (int i = 0; i < NOPS; i++) {
		expect_cpl(&c[i], 0, "queued read");
	}
	cr_assert(memcmp(src, dst, NOPS * bl) == 0, "every queued write and read moved its data");

	for (int i = 0; i < NOPS; i++) {
		cpl_init(&c[i], ch);
		switch (i % 3) {
		case 0:
			SUBMIT(dev->write_zeroes(dev, ch, NOPS + i, 1, &c[i].args));
			break;
		case 1:
			SUBMIT(dev->unmap(dev, ch, NOPS + i, 1, &c[i].args));
			break;
		default:
			SUBMIT(dev->flush(dev, ch, &c[i].args));
			break;
		}
	}
	for (int i = 0; i < NOPS; i++) {
		expect_cpl(&c[i], 0, "queued write_zeroes/unmap/flush");
	}
	cr_assert_eq(probe_done, 0, "the refused probe never completes");
	spio_put_io_channel(pch);
	spio_bdev_close(probe);
	free(src);
	free(dst);
	close_dev(dev, ch);
}

/* The same on a bdev without write_zeroes: zero fills wait for bdev_ios too. */
Test(blob_bdev_pool, enomem_during_zero_fill)
{
	const uint32_t bl = 512;
	const int n = 16, blocks = 300;
	struct tdisk *t;
	struct spio_bs_dev *dev;
	struct spio_io_channel *ch;
	static struct cpl c[16];

	init_layer(4, 0);
	t = make_tdisk("Plain0", (uint64_t)n * blocks, bl, RW_ONLY, 1);
	memset(t->data, 0xab, (size_t)n * blocks * bl);
	dev = open_dev("Plain0", true);
	ch = dev->create_channel(dev);
	for (int i = 0; i < n; i++) {
		cpl_init(&c[i], ch);
		SUBMIT(dev->write_zeroes(dev, ch, (uint64_t)i * blocks, blocks, &c[i].args));
	}
	for (int i = 0; i < n; i++) {
		expect_cpl(&c[i], 0, "queued zero fill");
	}
	cr_assert(all_zero(t->data, (size_t)n * blocks * bl), "every zero fill zeroed its range");
	cr_assert_geq(t->writes, 3 * n, "expected at least %d zero buffer writes, got %d", 3 * n,
		      t->writes);
	close_dev(dev, ch);
}

/*
 * write_zeroes, unmap and flush on a bdev without them
 */

Test(blob_bdev, write_zeroes_fallback)
{
	const uint32_t bl = 512;
	struct tdisk *t = make_tdisk("Plain0", 1024, bl, RW_ONLY, 1);
	struct spio_bs_dev *dev = open_dev("Plain0", true);
	struct spio_io_channel *ch = dev->create_channel(dev);
	uint8_t before[1024];
	struct cpl c;

	memset(t->data, 0xab, 1024 * bl);
	cpl_init(&c, ch);
	SUBMIT(dev->write_zeroes(dev, ch, 10, 300, &c.args));
	expect_cpl(&c, 0, "write_zeroes fallback");
	cr_assert(all_zero(t->data + 10 * bl, 300 * bl), "blocks 10..309 zeroed");
	cr_assert_eq(t->data[10 * bl - 1], 0xab, "block 9 untouched");
	cr_assert_eq(t->data[310 * bl], 0xab, "block 310 untouched");
	cr_assert_geq(t->writes, 3, "150 KiB in a bounded buffer takes several writes, got %d",
		      t->writes);
	cr_assert_leq(t->max_write_blocks * bl, 1024 * 1024,
		      "each write is bounded, got %lu blocks", (unsigned long)t->max_write_blocks);

	/* one block at the very end */
	cpl_init(&c, ch);
	SUBMIT(dev->write_zeroes(dev, ch, 1023, 1, &c.args));
	expect_cpl(&c, 0, "write_zeroes of the last block");
	cr_assert(all_zero(t->data + 1023 * bl, bl), "last block zeroed");

	/* unmap and flush complete at once, touching nothing */
	memcpy(before, t->data + 500 * bl, sizeof(before));
	t->writes = 0;
	cpl_init(&c, ch);
	SUBMIT(dev->unmap(dev, ch, 500, 2, &c.args));
	expect_cpl(&c, 0, "unsupported unmap");
	cpl_init(&c, ch);
	SUBMIT(dev->flush(dev, ch, &c.args));
	expect_cpl(&c, 0, "unsupported flush");
	cr_assert_eq(t->writes, 0, "no I/O for them, got %d writes", t->writes);
	cr_assert(memcmp(before, t->data + 500 * bl, sizeof(before)) == 0, "content unchanged");
	close_dev(dev, ch);
}

Test(blob_bdev, write_zeroes_fallback_write_unit)
{
	const uint32_t bl = 4096;
	struct tdisk *t = make_tdisk("Wu0", 512, bl, RW_ONLY, 4);
	struct spio_bs_dev *dev = open_dev("Wu0", true);
	struct spio_io_channel *ch = dev->create_channel(dev);
	struct cpl c;

	memset(t->data, 0xcd, 512 * bl);
	cpl_init(&c, ch);
	SUBMIT(dev->write_zeroes(dev, ch, 2, 4, &c.args));
	expect_cpl(&c, -EINVAL, "write_zeroes not on a write unit");
	cpl_init(&c, ch);
	SUBMIT(dev->write_zeroes(dev, ch, 4, 6, &c.args));
	expect_cpl(&c, -EINVAL, "write_zeroes not whole write units");
	cr_assert_eq(t->writes, 0, "refused before any write, got %d", t->writes);
	cpl_init(&c, ch);
	SUBMIT(dev->write_zeroes(dev, ch, 4, 40, &c.args));
	expect_cpl(&c, 0, "write_zeroes of whole write units");
	cr_assert(all_zero(t->data + 4 * bl, 40 * bl), "blocks 4..43 zeroed");
	cr_assert_eq(t->data[4 * bl - 1], 0xcd, "block 3 untouched");
	cr_assert_eq(t->data[44 * bl], 0xcd, "block 44 untouched");
	cr_assert_eq(t->max_write_blocks % 4, 0, "writes are whole units, got %lu blocks",
		     (unsigned long)t->max_write_blocks);
	close_dev(dev, ch);
}

/*
 * Hot remove
 */

struct events {
	int n;
	enum spio_bdev_event_type type;
	struct spio_bdev *bdev;
	void *ctx;
	struct spio_thread *thread;
};

static void record_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	struct events *e = ctx;

	e->n++;
	e->type = type;
	e->bdev = bdev;
	e->ctx = ctx;
	e->thread = spio_get_thread();
}

static void delete_done(void *cb_arg, int rc)
{
	int *r = cb_arg;

	r[0]++;
	r[1] = rc;
}

static void hot_remove(bool with_cb)
{
	const uint32_t bl = 512;
	struct spio_bdev *bdev = make_malloc("Hr0", 64, bl);
	struct spio_bs_dev *dev = NULL;
	struct spio_io_channel *ch;
	struct events ev = {0};
	uint8_t *buf = buf_alloc(2 * bl);
	struct iovec iov = {buf, bl};
	struct cpl inflight, c[7];
	int del[2] = {0, 1};
	int rc;

	rc = spio_bdev_create_bs_dev("Hr0", true, with_cb ? record_event : NULL, &ev, &dev);
	cr_assert_eq(rc, 0);
	ch = dev->create_channel(dev);
	fill(buf, bl, 4);
	cpl_init(&inflight, ch);
	SUBMIT(dev->write(dev, ch, buf, 1, 1, &inflight.args));
	rc = spio_bdev_malloc_delete("Hr0", delete_done, del);
	cr_assert_eq(rc, 0, "malloc delete: expected 0, got %d", rc);
	expect_cpl(&inflight, 0, "I/O in flight at removal");
	poll_n(5);
	if (with_cb) {
		cr_assert_eq(ev.n, 1, "expected one event, got %d", ev.n);
		cr_assert_eq(ev.type, SPIO_BDEV_EVENT_REMOVE, "expected REMOVE, got %d", ev.type);
		cr_assert_eq(ev.bdev, bdev, "event names the bdev");
		cr_assert_eq(ev.ctx, &ev, "event gets the user's ctx");
		cr_assert_eq(ev.thread, g_thread, "event on the opener's thread");
	}
	cr_assert_eq(del[0], 0, "bdev stays until the bs_dev is destroyed");

	for (int i = 0; i < 7; i++) {
		cpl_init(&c[i], ch);
	}
	SUBMIT(dev->read(dev, ch, buf, 1, 1, &c[0].args));
	SUBMIT(dev->write(dev, ch, buf, 1, 1, &c[1].args));
	SUBMIT(dev->readv(dev, ch, &iov, 1, 1, 1, &c[2].args));
	SUBMIT(dev->writev(dev, ch, &iov, 1, 1, 1, &c[3].args));
	SUBMIT(dev->write_zeroes(dev, ch, 0, 4, &c[4].args));
	SUBMIT(dev->unmap(dev, ch, 0, 4, &c[5].args));
	SUBMIT(dev->flush(dev, ch, &c[6].args));
	for (int i = 0; i < 7; i++) {
		expect_cpl(&c[i], -ENODEV, "I/O after removal");
	}

	dev->destroy_channel(dev, ch);
	poll_n(3);
	dev->destroy(dev);
	cr_assert(poll_until(g_thread, &del[0], 1), "delete completes after destroy");
	cr_assert_eq(del[1], 0, "delete rc: expected 0, got %d", del[1]);
	cr_assert_null(spio_bdev_get_by_name("Hr0"), "the bdev is gone");
	free(buf);
}

Test(blob_bdev, hot_remove_with_event_cb)
{
	hot_remove(true);
}

Test(blob_bdev, hot_remove_without_event_cb)
{
	hot_remove(false);
}

/*
 * Two threads, each with its channel, at once
 */

#define QD 8
#define ROUNDS 150
#define REGION 64 /* blocks per thread */

struct worker {
	struct spio_thread *thread;
	struct spio_bs_dev *dev;
	uint64_t base;
	uint32_t id;
	int errors;
	int mismatches;
	int foreign_cpls;
	int inline_cpls;
	int ops;
};

static int worker_wait(struct worker *w, struct cpl *c, int n)
{
	for (int i = 0; i < n; i++) {
		if (!poll_until(w->thread, &c[i].done, 1)) {
			return -1;
		}
		if (c[i].bserrno != 0) {
			w->errors++;
		}
		if (c[i].in_submit) {
			w->inline_cpls++;
		}
		if (c[i].thread != w->thread) {
			w->foreign_cpls++;
		}
		w->ops++;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const uint32_t bl = w->dev->blocklen;
	uint8_t *src = aligned_alloc(4096, QD * 2 * bl), *dst = aligned_alloc(4096, QD * 2 * bl);
	struct iovec iov[QD][2];
	struct cpl c[QD];
	struct spio_io_channel *ch;

	spio_set_thread(w->thread);
	ch = w->dev->create_channel(w->dev);
	if (ch == NULL || src == NULL || dst == NULL) {
		w->errors++;
		goto out;
	}
	for (uint32_t r = 0; r < ROUNDS; r++) {
		uint64_t lba = w->base + (r * QD * 2) % REGION;

		fill(src, QD * 2 * bl, w->id * 100000 + r);
		for (int i = 0; i < QD; i++) {
			cpl_init(&c[i], ch);
			if (i % 2 == 0) {
				SUBMIT(w->dev->write(w->dev, ch, src + i * 2 * bl, lba + i * 2, 2,
						     &c[i].args));
			} else {
				iov[i][0] = (struct iovec){src + i * 2 * bl, bl};
				iov[i][1] = (struct iovec){src + i * 2 * bl + bl, bl};
				SUBMIT(w->dev->writev(w->dev, ch, iov[i], 2, lba + i * 2, 2,
						      &c[i].args));
			}
		}
		if (worker_wait(w, c, QD) != 0) {
			w->errors++;
			break;
		}
		memset(dst, 0, QD * 2 * bl);
		for (int i = 0; i < QD; i++) {
			cpl_init(&c[i], ch);
			SUBMIT(
			    w->dev->read(w->dev, ch, dst + i * 2 * bl, lba + i * 2, 2, &c[i].args));
		}
		if (worker_wait(w, c, QD) != 0) {
			w->errors++;
			break;
		}
		if (memcmp(src, dst, QD * 2 * bl) != 0) {
			w->mismatches++;
		}
		/* a zeroing pass now and then */
		if (r % 16 == 0) {
			cpl_init(&c[0], ch);
			SUBMIT(w->dev->write_zeroes(w->dev, ch, lba, QD * 2, &c[0].args));
			cpl_init(&c[1], ch);
			SUBMIT(w->dev->read(w->dev, ch, dst, lba, QD * 2, &c[1].args));
			if (worker_wait(w, c, 2) != 0) {
				w->errors++;
				break;
			}
			if (!all_zero(dst, QD * 2 * bl)) {
				w->mismatches++;
			}
		}
	}
	w->dev->destroy_channel(w->dev, ch);
out:
	for (int i = 0; i < 10; i++) {
		spio_thread_poll(w->thread, 0, 0);
	}
	spio_thread_exit(w->thread);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(w->thread); i++) {
		spio_thread_poll(w->thread, 0, 0);
	}
	spio_set_thread(NULL);
	free(src);
	free(dst);
	return NULL;
}

static void two_threads(const char *name, bool fallback)
{
	struct worker w[2];
	pthread_t pt[2];
	struct spio_bs_dev *dev;

	if (fallback) {
		make_tdisk(name, 2 * REGION, 512, RW_ONLY, 1);
	} else {
		make_malloc(name, 2 * REGION, 512);
	}
	dev = open_dev(name, true);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct worker){.dev = dev, .base = (uint64_t)i * REGION, .id = (uint32_t)i};
		w[i].thread = spio_thread_create(i == 0 ? "w0" : "w1", NULL);
		cr_assert_not_null(w[i].thread);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pthread_create(&pt[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(pt[i], NULL);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert(spio_thread_is_exited(w[i].thread), "worker %d thread exited", i);
		spio_thread_destroy(w[i].thread);
		cr_assert_eq(w[i].errors, 0, "worker %d: expected no errors, got %d", i,
			     w[i].errors);
		cr_assert_eq(w[i].mismatches, 0, "worker %d: expected no data mismatch, got %d", i,
			     w[i].mismatches);
		cr_assert_eq(w[i].foreign_cpls, 0, "worker %d: completions on another thread: %d",
			     i, w[i].foreign_cpls);
		cr_assert_eq(w[i].inline_cpls, 0, "worker %d: completions inside submit: %d", i,
			     w[i].inline_cpls);
		cr_assert_gt(w[i].ops, ROUNDS * QD * 2, "worker %d: ran only %d ops", i, w[i].ops);
	}
	close_dev(dev, NULL);
}

Test(blob_bdev, two_threads_malloc)
{
	two_threads("Malloc0", false);
}

Test(blob_bdev, two_threads_zero_fill)
{
	two_threads("Plain0", true);
}
