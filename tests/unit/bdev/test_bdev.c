/*
 * The bdev layer with the malloc and null modules: registry and properties,
 * descriptors, every I/O type with data checks, argument rejection,
 * completion deferral, bdev_io exhaustion and the wait queue, hot remove,
 * statistics, _await twins and layer finish.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "helper_fixture.h"
#include "helper_spio_thread.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_module.h"
#include "spio/bdev_null.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/task.h"
#include "spio/thread.h"

#define BS 512
#define NBLOCKS 64

static struct spio_thread *g_thread;
static struct spio_thread *g_thread2;

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(g_thread, 0, 0);
		if (g_thread2 != NULL) {
			struct spio_thread *prev = spio_thread_enter(g_thread2);
			spio_thread_poll(g_thread2, 0, 0);
			spio_thread_leave(prev);
		}
	}
}

static void init_with_pool(uint32_t pool, uint32_t cache)
{
	struct spio_bdev_opts bopts;
	int rc;

	test_env_init("test_bdev");
	g_thread = test_thread_start("bdev_test");
	spio_bdev_opts_init(&bopts, sizeof(bopts));
	bopts.bdev_io_pool_size = pool;
	bopts.bdev_io_cache_size = cache;
	rc = spio_bdev_initialize(&bopts, NULL, NULL);
	cr_assert_eq(rc, 0, "spio_bdev_initialize: expected 0, got %d", rc);
}

static void setup(void)
{
	init_with_pool(1024, 16);
}

static bool g_fini_done;

static void fini_done(void *arg)
{
	(void)arg;
	g_fini_done = true;
}

static void teardown(void)
{
	spio_set_thread(g_thread);
	g_fini_done = false;
	cr_assert_eq(spio_bdev_finish(fini_done, NULL), 0);
	for (int i = 0; i < 1000 && !g_fini_done; i++) {
		poll_n(1);
	}
	cr_assert(g_fini_done, "spio_bdev_finish did not complete");
	if (g_thread2 != NULL) {
		struct spio_thread *prev = spio_thread_enter(g_thread2);
		spio_thread_exit(g_thread2);
		spio_thread_leave(prev);
	}
	spio_thread_exit(g_thread);
	for (int i = 0; i < 1000; i++) {
		poll_n(1);
		if (spio_thread_is_exited(g_thread) &&
		    (g_thread2 == NULL || spio_thread_is_exited(g_thread2))) {
			break;
		}
	}
	cr_assert(spio_thread_is_exited(g_thread), "thread did not exit");
	cr_assert(g_thread2 == NULL || spio_thread_is_exited(g_thread2), "thread2 did not exit");
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	if (g_thread2 != NULL) {
		spio_thread_destroy(g_thread2);
		g_thread2 = NULL;
	}
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(bdev, .init = setup, .fini = teardown);

/* Helpers */

struct io_result {
	int done;
	bool success;
	enum spio_bdev_io_status status;
	struct spio_thread *thread;
	uint64_t latency_ticks;
};

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	struct io_result *r = cb_arg;

	r->done++;
	r->success = success;
	r->status = spio_bdev_io_get_status(io);
	r->thread = spio_get_thread();
	r->latency_ticks = spio_bdev_io_get_latency_ticks(io);
	spio_bdev_free_io(io);
}

static void wait_io(struct io_result *r)
{
	for (int i = 0; i < 100 && r->done == 0; i++) {
		poll_n(1);
	}
	cr_assert_eq(r->done, 1, "expected one completion, got %d", r->done);
}

static int g_events;
static struct spio_thread *g_event_thread;

static void event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)bdev;
	(void)ctx;
	cr_assert_eq(type, SPIO_BDEV_EVENT_REMOVE, "expected REMOVE event, got %d", type);
	g_events++;
	g_event_thread = spio_get_thread();
}

struct fixture {
	struct spio_bdev *bdev;
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	uint8_t *buf;
	uint8_t *buf2;
};

static void open_malloc(struct fixture *f, const char *name, bool write)
{
	int rc = fx_malloc_create(name, NULL, NBLOCKS, BS, &f->bdev);

	cr_assert_eq(rc, 0, "malloc_create: expected 0, got %d", rc);
	/* the examine read done (its bdev_io back in the pool, its channel gone):
	 * the test's counts and pool use are its own */
	fx_wait_for_examine();
	rc = spio_bdev_open_ext(name, write, event_cb, NULL, &f->desc);
	cr_assert_eq(rc, 0, "open_ext: expected 0, got %d", rc);
	f->ch = spio_bdev_get_io_channel(f->desc);
	cr_assert_not_null(f->ch, "get_io_channel: errno %d", errno);
	f->buf = spio_dma_zmalloc(NBLOCKS * BS, 4096);
	f->buf2 = spio_dma_zmalloc(NBLOCKS * BS, 4096);
	cr_assert(f->buf != NULL && f->buf2 != NULL);
}

static void close_fixture(struct fixture *f)
{
	spio_put_io_channel(f->ch);
	spio_bdev_close(f->desc);
	spio_dma_free(f->buf);
	spio_dma_free(f->buf2);
	poll_n(3);
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)(seed + i * 7 + i / 512);
	}
}

/* Registry and properties */

static void count_alias(const char *alias, void *ctx)
{
	(void)alias;
	(*(int *)ctx)++;
}

Test(bdev, registry_and_properties)
{
	struct spio_bdev *m, *n, *b;
	struct spio_uuid uuid;
	char ustr[SPIO_UUID_STRING_LEN];
	int rc, naliases = 0;

	cr_assert_eq(spio_uuid_parse(&uuid, "0b7ae8a2-2d47-4d5f-b5c6-4a2b8a8ed001"), 0);
	rc = fx_malloc_create("Malloc0", &uuid, NBLOCKS, 4096, &m);
	cr_assert_eq(rc, 0, "malloc_create: expected 0, got %d", rc);
	rc = fx_null_create("Null0", NULL, 1000, 1024, &n);
	cr_assert_eq(rc, 0, "null_create: expected 0, got %d", rc);

	cr_assert_eq(spio_bdev_get_by_name("Malloc0"), m, "lookup by name");
	cr_assert_eq(spio_bdev_get_by_name("0b7ae8a2-2d47-4d5f-b5c6-4a2b8a8ed001"), m,
		     "lookup by uuid string");
	cr_assert_null(spio_bdev_get_by_name("nope"));
	cr_assert_null(spio_bdev_get_by_name(NULL));
	cr_assert_eq(spio_bdev_first(), m, "first is the first registered");
	cr_assert_eq(spio_bdev_next(m), n);
	cr_assert_null(spio_bdev_next(n));

	cr_assert_str_eq(spio_bdev_get_name(m), "Malloc0");
	cr_assert_str_eq(spio_bdev_get_product_name(m), "Malloc disk");
	cr_assert_str_eq(spio_bdev_get_module_name(m), "malloc");
	cr_assert_str_eq(spio_bdev_get_module_name(n), "null");
	cr_assert_eq(spio_bdev_get_block_size(m), 4096);
	cr_assert_eq(spio_bdev_get_num_blocks(m), NBLOCKS);
	cr_assert_eq(spio_bdev_get_block_size(n), 1024);
	cr_assert_eq(spio_bdev_get_num_blocks(n), 1000);
	cr_assert_eq(spio_bdev_get_write_unit_size(m), 1);
	cr_assert_eq(spio_bdev_get_optimal_io_boundary(m), 0);
	cr_assert_eq(spio_bdev_get_buf_align(m), 1);
	cr_assert_eq(spio_uuid_compare(spio_bdev_get_uuid(m), &uuid), 0, "uuid kept");
	cr_assert(!spio_uuid_is_null(spio_bdev_get_uuid(n)), "uuid generated");
	spio_uuid_fmt_lower(ustr, sizeof(ustr), spio_bdev_get_uuid(n));
	cr_assert_eq(spio_bdev_get_by_name(ustr), n, "lookup by generated uuid");

	for (int t = SPIO_BDEV_IO_TYPE_READ; t < SPIO_BDEV_NUM_IO_TYPES; t++) {
		cr_assert(spio_bdev_io_type_supported(m, t), "malloc supports type %d", t);
	}
	cr_assert(!spio_bdev_io_type_supported(n, SPIO_BDEV_IO_TYPE_COMPARE));
	cr_assert(spio_bdev_io_type_supported(n, SPIO_BDEV_IO_TYPE_WRITE));
	cr_assert(!spio_bdev_io_type_supported(m, SPIO_BDEV_IO_TYPE_INVALID));
	cr_assert(!spio_bdev_io_type_supported(m, SPIO_BDEV_NUM_IO_TYPES));

	/* aliases */
	cr_assert_eq(spio_bdev_alias_add(m, "disk-a"), 0);
	cr_assert_eq(spio_bdev_alias_add(n, "disk-a"), -EEXIST, "alias taken");
	cr_assert_eq(spio_bdev_alias_add(n, "Malloc0"), -EEXIST, "alias equal to a name");
	cr_assert_eq(spio_bdev_alias_add(m, ""), -EINVAL);
	cr_assert_eq(spio_bdev_get_by_name("disk-a"), m, "lookup by alias");
	spio_bdev_foreach_alias(m, count_alias, &naliases);
	cr_assert_eq(naliases, 1, "expected 1 alias, got %d", naliases);
	cr_assert_eq(spio_bdev_alias_del(m, "disk-b"), -ENOENT);
	cr_assert_eq(spio_bdev_alias_del(m, "disk-a"), 0);
	cr_assert_null(spio_bdev_get_by_name("disk-a"));

	/* duplicates and bad arguments */
	cr_assert_eq(fx_malloc_create("Malloc0", NULL, 8, 512, &b), -EEXIST);
	cr_assert_eq(fx_malloc_create("M1", &uuid, 8, 512, &b), -EEXIST, "uuid taken");
	cr_assert_null(spio_bdev_get_by_name("M1"), "failed create leaves nothing");
	cr_assert_eq(fx_malloc_create("M1", NULL, 0, 512, &b), -EINVAL);
	cr_assert_eq(fx_malloc_create("M1", NULL, 8, 1000, &b), -EINVAL, "not a multiple of 512");
	cr_assert_eq(fx_malloc_create("M1", NULL, 8, 0, &b), -EINVAL);
	cr_assert_eq(fx_malloc_create("M1", NULL, 8, 512, NULL), -EINVAL);
	cr_assert_eq(fx_malloc_create("", NULL, 8, 512, &b), -EINVAL);
	cr_assert_eq(fx_malloc_create("M1", NULL, UINT64_MAX / 256, 4096, &b), -EINVAL);
	cr_assert_eq(fx_null_create("N1", NULL, 8, 100, &b), -EINVAL);
	cr_assert_eq(fx_null_create("N1", NULL, 0, 512, &b), -EINVAL);

	/* generated names */
	cr_assert_eq(fx_malloc_create(NULL, NULL, 8, 512, &b), 0);
	cr_assert_str_eq(spio_bdev_get_name(b), "Malloc1", "Malloc0 taken: got %s",
			 spio_bdev_get_name(b));
}

static void dummy_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	(void)ch;
	spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_SUCCESS);
}

static bool dummy_supported(void *ctxt, enum spio_bdev_io_type type)
{
	(void)ctxt;
	return type == SPIO_BDEV_IO_TYPE_READ;
}

static int dummy_destruct(void *ctxt)
{
	(void)ctxt;
	return 0;
}

static struct spio_bdev_module g_dummy_module = {.name = "dummy"};

Test(bdev, register_rejects_bad_bdevs)
{
	static const struct spio_bdev_fn_table fn = {.destruct = dummy_destruct,
						     .submit_request = dummy_submit,
						     .io_type_supported = dummy_supported};
	static const struct spio_bdev_fn_table fn_nosubmit = {.destruct = dummy_destruct,
							      .io_type_supported = dummy_supported};
	struct spio_bdev b;

	cr_assert_eq(spio_bdev_register(NULL), -EINVAL);
	memset(&b, 0, sizeof(b));
	b.name = "d";
	b.blocklen = 512;
	b.blockcnt = 1;
	b.module = &g_dummy_module;
	cr_assert_eq(spio_bdev_register(&b), -EINVAL, "no fn_table");
	b.fn_table = &fn_nosubmit;
	cr_assert_eq(spio_bdev_register(&b), -EINVAL, "no submit_request");
	b.fn_table = &fn;
	b.blocklen = 0;
	cr_assert_eq(spio_bdev_register(&b), -EINVAL, "zero blocklen");
	b.blocklen = 512;
	b.required_alignment = 24;
	cr_assert_eq(spio_bdev_register(&b), -EINVAL, "alignment not a power of two");
	b.required_alignment = 0;
	b.module = NULL;
	cr_assert_eq(spio_bdev_register(&b), -EINVAL, "no module");
	cr_assert_null(spio_bdev_first(), "nothing registered");
}

/* Descriptors */

Test(bdev, open_close)
{
	struct spio_bdev *b;
	struct spio_bdev_desc *d1, *d2;

	cr_assert_eq(spio_bdev_open_ext("Malloc0", true, event_cb, NULL, &d1), -ENODEV);
	cr_assert_eq(fx_malloc_create("Malloc0", NULL, 8, 512, &b), 0);
	cr_assert_eq(spio_bdev_open_ext(NULL, true, event_cb, NULL, &d1), -EINVAL);
	cr_assert_eq(spio_bdev_open_ext("Malloc0", true, NULL, NULL, &d1), -EINVAL);
	cr_assert_eq(spio_bdev_open_ext("Malloc0", true, event_cb, NULL, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_open_ext("Malloc0", true, event_cb, NULL, &d1), 0);
	cr_assert_eq(spio_bdev_open_ext("Malloc0", false, event_cb, NULL, &d2), 0);
	cr_assert_eq(spio_bdev_desc_get_bdev(d1), b);
	cr_assert_eq(spio_bdev_desc_get_bdev(d2), b);
	cr_assert_null(spio_bdev_desc_get_bdev(NULL));
	cr_assert_null(spio_bdev_get_io_channel(NULL));

	struct spio_io_channel *c1 = spio_bdev_get_io_channel(d1);
	struct spio_io_channel *c2 = spio_bdev_get_io_channel(d2);
	cr_assert_not_null(c1);
	cr_assert_eq(c1, c2, "one channel per thread and bdev");
	spio_put_io_channel(c1);
	spio_put_io_channel(c2);
	spio_bdev_close(d1);
	spio_bdev_close(d2);
	spio_bdev_close(NULL);
	poll_n(3);
	cr_assert_eq(g_events, 0, "no events without removal");
}

/* I/O with data verification */

Test(bdev, write_read_verify)
{
	struct fixture f;
	struct io_result r = {0};

	open_malloc(&f, "Malloc0", true);
	fill(f.buf, 4 * BS, 3);
	cr_assert_eq(spio_bdev_write_blocks(f.desc, f.ch, f.buf, 10, 4, io_done, &r), 0);
	cr_assert_eq(r.done, 0, "completion must not run before submit returns");
	wait_io(&r);
	cr_assert(r.success);
	cr_assert_eq(r.thread, g_thread, "completion on the submitting thread");

	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_read(f.desc, f.ch, f.buf2, 10 * BS, 4 * BS, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	cr_assert_eq(memcmp(f.buf, f.buf2, 4 * BS), 0, "read back what was written");

	/* byte form write, block form read of a neighbour: untouched zeroes */
	memset(&r, 0, sizeof(r));
	fill(f.buf, BS, 99);
	cr_assert_eq(spio_bdev_write(f.desc, f.ch, f.buf, 0, BS, io_done, &r), 0);
	wait_io(&r);
	memset(&r, 0, sizeof(r));
	memset(f.buf2, 0xff, 2 * BS);
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf2, 0, 2, io_done, &r), 0);
	wait_io(&r);
	cr_assert_eq(memcmp(f.buf, f.buf2, BS), 0);
	for (int i = BS; i < 2 * BS; i++) {
		cr_assert_eq(f.buf2[i], 0, "block 1 byte %d: expected 0, got %u", i, f.buf2[i]);
	}
	close_fixture(&f);
}

Test(bdev, writev_readv_odd_splits)
{
	struct fixture f;
	struct io_result r = {0};
	uint8_t *src = malloc(8 * BS), *dst = calloc(1, 8 * BS);
	struct iovec wiov[5], riov[4];
	size_t wsplit[5] = {1, 511, 1000, 2000, 8 * BS - 3512};
	size_t rsplit[4] = {7, 3000, 1, 8 * BS - 3008};
	size_t off = 0;

	open_malloc(&f, "Malloc0", true);
	fill(src, 8 * BS, 42);
	for (int i = 0; i < 5; i++) {
		wiov[i].iov_base = src + off;
		wiov[i].iov_len = wsplit[i];
		off += wsplit[i];
	}
	off = 0;
	for (int i = 0; i < 4; i++) {
		riov[i].iov_base = dst + off;
		riov[i].iov_len = rsplit[i];
		off += rsplit[i];
	}
	cr_assert_eq(spio_bdev_writev(f.desc, f.ch, wiov, 5, 16 * BS, 8 * BS, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_readv_blocks(f.desc, f.ch, riov, 4, 16, 8, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	cr_assert_eq(memcmp(src, dst, 8 * BS), 0, "scatter-gather round trip");

	/* a flat read agrees too */
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, 16, 8, io_done, &r), 0);
	wait_io(&r);
	cr_assert_eq(memcmp(src, f.buf, 8 * BS), 0);
	free(src);
	free(dst);
	close_fixture(&f);
}

static void write_pattern(struct fixture *f, uint64_t off, uint64_t n, uint8_t seed)
{
	struct io_result r = {0};

	fill(f->buf, n * BS, seed);
	cr_assert_eq(spio_bdev_write_blocks(f->desc, f->ch, f->buf, off, n, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
}

static void expect_zero(struct fixture *f, uint64_t off, uint64_t n, bool zero)
{
	struct io_result r = {0};
	bool all_zero = true;

	memset(f->buf2, 0xaa, n * BS);
	cr_assert_eq(spio_bdev_read_blocks(f->desc, f->ch, f->buf2, off, n, io_done, &r), 0);
	wait_io(&r);
	for (uint64_t i = 0; i < n * BS; i++) {
		all_zero &= f->buf2[i] == 0;
	}
	cr_assert_eq(all_zero, zero, "blocks %lu+%lu: expected %s", (unsigned long)off,
		     (unsigned long)n, zero ? "zeroes" : "data");
}

Test(bdev, unmap_and_write_zeroes)
{
	struct fixture f;
	struct io_result r = {0};

	open_malloc(&f, "Malloc0", true);
	write_pattern(&f, 0, 16, 1);
	cr_assert_eq(spio_bdev_unmap_blocks(f.desc, f.ch, 2, 3, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	expect_zero(&f, 2, 3, true);
	expect_zero(&f, 1, 1, false);
	expect_zero(&f, 5, 1, false);

	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_write_zeroes_blocks(f.desc, f.ch, 8, 4, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	expect_zero(&f, 8, 4, true);
	expect_zero(&f, 12, 1, false);
	close_fixture(&f);
}

Test(bdev, compare_and_compare_and_write)
{
	struct fixture f;
	struct io_result r = {0};
	uint8_t *wbuf = spio_dma_zmalloc(2 * BS, 64);

	open_malloc(&f, "Malloc0", true);
	write_pattern(&f, 4, 2, 7); /* f.buf holds the pattern */
	cr_assert_eq(spio_bdev_compare_blocks(f.desc, f.ch, f.buf, 4, 2, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success, "compare of equal data succeeds");
	cr_assert_eq(r.status, SPIO_BDEV_IO_STATUS_SUCCESS);

	f.buf[BS + 5] ^= 1;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_compare_blocks(f.desc, f.ch, f.buf, 4, 2, io_done, &r), 0);
	wait_io(&r);
	cr_assert(!r.success, "compare of different data fails");
	cr_assert_eq(r.status, SPIO_BDEV_IO_STATUS_MISCOMPARE, "expected MISCOMPARE, got %d",
		     r.status);

	/* compare_and_write: mismatch writes nothing */
	fill(wbuf, 2 * BS, 200);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(
	    spio_bdev_compare_and_write_blocks(f.desc, f.ch, f.buf, wbuf, 4, 2, io_done, &r), 0);
	wait_io(&r);
	cr_assert_eq(r.status, SPIO_BDEV_IO_STATUS_MISCOMPARE);
	f.buf[BS + 5] ^= 1;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_compare_blocks(f.desc, f.ch, f.buf, 4, 2, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success, "data unchanged after a failed compare_and_write");

	/* match writes */
	memset(&r, 0, sizeof(r));
	cr_assert_eq(
	    spio_bdev_compare_and_write_blocks(f.desc, f.ch, f.buf, wbuf, 4, 2, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf2, 4, 2, io_done, &r), 0);
	wait_io(&r);
	cr_assert_eq(memcmp(f.buf2, wbuf, 2 * BS), 0, "compare_and_write wrote the new data");
	spio_dma_free(wbuf);
	close_fixture(&f);
}

Test(bdev, flush_and_reset)
{
	struct fixture f;
	struct io_result r = {0};

	open_malloc(&f, "Malloc0", true);
	cr_assert_eq(spio_bdev_flush_blocks(f.desc, f.ch, 0, NBLOCKS, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_reset(f.desc, f.ch, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	close_fixture(&f);
}

Test(bdev, null_module_io)
{
	struct spio_bdev *b;
	struct spio_bdev_desc *d;
	struct spio_io_channel *ch;
	struct io_result r = {0};
	uint8_t buf[1024];

	cr_assert_eq(fx_null_create("Null0", NULL, 100, 512, &b), 0);
	cr_assert_eq(spio_bdev_open_ext("Null0", true, event_cb, NULL, &d), 0);
	ch = spio_bdev_get_io_channel(d);
	memset(buf, 0x5a, sizeof(buf));
	cr_assert_eq(spio_bdev_write_blocks(d, ch, buf, 0, 2, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	memset(buf, 0x33, sizeof(buf));
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_read_blocks(d, ch, buf, 0, 2, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	for (size_t i = 0; i < sizeof(buf); i++) {
		cr_assert_eq(buf[i], 0x33, "null read must leave byte %zu untouched, got 0x%x", i,
			     buf[i]);
	}
	cr_assert_eq(spio_bdev_compare_blocks(d, ch, buf, 0, 2, io_done, &r), -ENOTSUP,
		     "null does not compare");
	spio_put_io_channel(ch);
	spio_bdev_close(d);
	poll_n(3);
}

/* Rejections */

Test(bdev, rejects_bad_io)
{
	struct fixture f, g;
	struct io_result r = {0};
	struct spio_bdev_desc *ro;
	struct spio_io_channel *roch;
	struct iovec iov[2];

	open_malloc(&f, "Malloc0", true);
	open_malloc(&g, "Malloc1", true);
	cr_assert_eq(spio_bdev_open_ext("Malloc0", false, event_cb, NULL, &ro), 0);
	roch = spio_bdev_get_io_channel(ro);

	cr_assert_eq(spio_bdev_read_blocks(NULL, f.ch, f.buf, 0, 1, io_done, &r), -EINVAL);
	cr_assert_eq(spio_bdev_read_blocks(f.desc, NULL, f.buf, 0, 1, io_done, &r), -EINVAL);
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, NULL, 0, 1, io_done, &r), -EINVAL);
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, 0, 1, NULL, &r), -EINVAL);
	cr_assert_eq(spio_bdev_read_blocks(f.desc, g.ch, f.buf, 0, 1, io_done, &r), -EINVAL,
		     "channel of another bdev");
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, 0, 0, io_done, &r), -EINVAL,
		     "zero length");
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, NBLOCKS, 1, io_done, &r), -EINVAL,
		     "beyond the end");
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, NBLOCKS - 1, 2, io_done, &r),
		     -EINVAL, "straddles the end");
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, 1, UINT64_MAX, io_done, &r),
		     -EINVAL, "wrapping length");
	cr_assert_eq(spio_bdev_unmap_blocks(f.desc, f.ch, UINT64_MAX, 2, io_done, &r), -EINVAL,
		     "wrapping offset");
	cr_assert_eq(spio_bdev_read(f.desc, f.ch, f.buf, 100, BS, io_done, &r), -EINVAL,
		     "misaligned byte offset");
	cr_assert_eq(spio_bdev_read(f.desc, f.ch, f.buf, 0, BS + 1, io_done, &r), -EINVAL,
		     "length not a block multiple");
	iov[0].iov_base = f.buf;
	iov[0].iov_len = BS;
	iov[1].iov_base = f.buf2;
	iov[1].iov_len = BS - 1;
	cr_assert_eq(spio_bdev_readv_blocks(f.desc, f.ch, iov, 2, 0, 2, io_done, &r), -EINVAL,
		     "iovecs shorter than the I/O");
	cr_assert_eq(spio_bdev_readv_blocks(f.desc, f.ch, iov, 0, 0, 2, io_done, &r), -EINVAL);
	cr_assert_eq(spio_bdev_readv_blocks(f.desc, f.ch, NULL, 1, 0, 2, io_done, &r), -EINVAL);

	cr_assert_eq(spio_bdev_write_blocks(ro, roch, f.buf, 0, 1, io_done, &r), -EBADF,
		     "write on a read-only descriptor");
	cr_assert_eq(spio_bdev_unmap_blocks(ro, roch, 0, 1, io_done, &r), -EBADF);
	cr_assert_eq(spio_bdev_write_zeroes_blocks(ro, roch, 0, 1, io_done, &r), -EBADF);
	cr_assert_eq(spio_bdev_compare_and_write_blocks(ro, roch, f.buf, f.buf2, 0, 1, io_done, &r),
		     -EBADF);
	cr_assert_eq(spio_bdev_read_blocks(ro, roch, f.buf, 0, 1, io_done, &r), 0,
		     "reads are fine on a read-only descriptor");
	wait_io(&r);
	cr_assert_eq(r.done, 1, "only the accepted I/O completed");

	spio_put_io_channel(roch);
	spio_bdev_close(ro);
	close_fixture(&g);
	close_fixture(&f);
}

Test(bdev, closed_desc_with_io_in_flight)
{
	struct fixture f;
	struct io_result r = {0}, r2 = {0};

	open_malloc(&f, "Malloc0", true);
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, 0, 1, io_done, &r), 0);
	spio_put_io_channel(f.ch);
	spio_bdev_close(f.desc);
	/* the descriptor lives on until its I/O completed */
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, 0, 1, io_done, &r2), -EINVAL,
		     "I/O on a closed descriptor");
	wait_io(&r);
	cr_assert(r.success, "I/O in flight at close completes");
	cr_assert_eq(r2.done, 0);
	spio_dma_free(f.buf);
	spio_dma_free(f.buf2);
}

/* I/O from a thread that did not open the descriptor holds it too (the
 * opener's own I/O count without atomics): closing on the opener's thread
 * while both kinds are in flight frees the descriptor once, after the last. */
Test(bdev, close_with_io_in_flight_on_two_threads)
{
	struct spio_thread *other = spio_thread_create("other", NULL);
	struct io_result local = {0}, remote = {0};
	struct spio_io_channel *och;
	struct fixture f;

	cr_assert_not_null(other);
	open_malloc(&f, "Malloc0", true);
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, 0, 1, io_done, &local), 0);
	spio_set_thread(other);
	och = spio_bdev_get_io_channel(f.desc);
	cr_assert_not_null(och);
	cr_assert_eq(spio_bdev_read_blocks(f.desc, och, f.buf2, 1, 1, io_done, &remote), 0);
	spio_set_thread(g_thread);
	spio_put_io_channel(f.ch);
	spio_bdev_close(f.desc); /* both I/O still in flight */
	wait_io(&local);
	cr_assert(local.success);
	spio_set_thread(other);
	for (int i = 0; i < 100 && remote.done == 0; i++) {
		spio_thread_poll(other, 0, 0);
	}
	cr_assert_eq(remote.done, 1);
	cr_assert(remote.success, "the other thread's I/O completes after the close");
	spio_put_io_channel(och);
	for (int i = 0; i < 10; i++) {
		spio_thread_poll(other, 0, 0);
	}
	spio_thread_exit(other);
	for (int i = 0; i < 1000 && !spio_thread_is_exited(other); i++) {
		spio_thread_poll(other, 0, 0);
	}
	spio_set_thread(g_thread);
	spio_thread_destroy(other);
	spio_dma_free(f.buf);
	spio_dma_free(f.buf2);
}

static bool aligned_supported(void *ctxt, enum spio_bdev_io_type type)
{
	(void)ctxt;
	return type == SPIO_BDEV_IO_TYPE_READ || type == SPIO_BDEV_IO_TYPE_WRITE;
}

Test(bdev, alignment_and_write_unit)
{
	static const struct spio_bdev_fn_table fn = {.destruct = dummy_destruct,
						     .submit_request = dummy_submit,
						     .io_type_supported = aligned_supported};
	static struct spio_bdev b;
	struct spio_bdev_desc *d;
	struct spio_io_channel *ch;
	struct io_result r = {0};
	uint8_t *buf = spio_dma_zmalloc(8 * 512, 4096);

	b.name = "Aligned0";
	b.blocklen = 512;
	b.blockcnt = 64;
	b.required_alignment = 4096;
	b.write_unit_size = 4;
	b.module = &g_dummy_module;
	b.fn_table = &fn;
	cr_assert_eq(spio_bdev_register(&b), 0);
	cr_assert_eq(spio_bdev_get_buf_align(&b), 4096);
	cr_assert_eq(spio_bdev_get_write_unit_size(&b), 4);
	cr_assert_eq(spio_bdev_open_ext("Aligned0", true, event_cb, NULL, &d), 0);
	ch = spio_bdev_get_io_channel(d);
	cr_assert_eq(spio_bdev_read_blocks(d, ch, buf + 512, 0, 1, io_done, &r), -EINVAL,
		     "misaligned buffer");
	cr_assert_eq(spio_bdev_write_blocks(d, ch, buf, 0, 2, io_done, &r), -EINVAL,
		     "write shorter than the write unit");
	cr_assert_eq(spio_bdev_write_blocks(d, ch, buf, 2, 4, io_done, &r), -EINVAL,
		     "write not aligned to the write unit");
	cr_assert_eq(spio_bdev_unmap_blocks(d, ch, 0, 4, io_done, &r), -ENOTSUP,
		     "unsupported type");
	cr_assert_eq(spio_bdev_write_blocks(d, ch, buf, 4, 4, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	spio_put_io_channel(ch);
	spio_bdev_close(d);
	poll_n(3);
	spio_dma_free(buf);
}

/* A module that completes I/O from another thread, using its driver context. */

struct remote_ctx {
	uint64_t magic;
	struct spio_bdev_io *io;
};

static size_t remote_ctx_size(void)
{
	return sizeof(struct remote_ctx);
}

static struct spio_bdev_module g_remote_module = {.name = "remote",
						  .get_ctx_size = remote_ctx_size};
SPIO_BDEV_MODULE_REGISTER(g_remote_module)

static void remote_complete(void *arg)
{
	struct remote_ctx *ctx = arg;

	cr_assert_eq(ctx->magic, 0xfeed, "driver ctx kept");
	cr_assert_eq(spio_bdev_io_from_ctx(ctx), ctx->io);
	spio_bdev_io_complete(ctx->io, SPIO_BDEV_IO_STATUS_FAILED);
}

static void remote_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	struct remote_ctx *ctx = spio_bdev_io_get_driver_ctx(io);

	(void)ch;
	ctx->magic = 0xfeed;
	ctx->io = io;
	spio_thread_send_msg(g_thread2, remote_complete, ctx);
}

Test(bdev, completion_from_another_thread)
{
	static const struct spio_bdev_fn_table fn = {.destruct = dummy_destruct,
						     .submit_request = remote_submit,
						     .io_type_supported = dummy_supported};
	static struct spio_bdev b;
	struct spio_bdev_desc *d;
	struct spio_io_channel *ch;
	struct io_result r = {0};
	uint8_t buf[512];

	g_thread2 = spio_thread_create("other", NULL);
	b.name = "Remote0";
	b.blocklen = 512;
	b.blockcnt = 8;
	b.module = &g_remote_module;
	b.fn_table = &fn;
	cr_assert_eq(spio_bdev_register(&b), 0);
	cr_assert_eq(spio_bdev_open_ext("Remote0", false, event_cb, NULL, &d), 0);
	ch = spio_bdev_get_io_channel(d);
	cr_assert_eq(spio_bdev_read_blocks(d, ch, buf, 0, 1, io_done, &r), 0);
	wait_io(&r);
	cr_assert(!r.success, "module failed the I/O");
	cr_assert_eq(r.status, SPIO_BDEV_IO_STATUS_FAILED);
	cr_assert_eq(r.thread, g_thread, "callback on the submitting thread");
	spio_put_io_channel(ch);
	spio_bdev_close(d);
	poll_n(3);
}

/* bdev_io exhaustion */

struct waiter {
	struct spio_bdev_io_wait_entry entry;
	struct fixture *f;
	struct io_result r;
	int woken;
	int rc;
};

static void waiter_cb(void *arg)
{
	struct waiter *w = arg;

	w->woken++;
	w->rc = spio_bdev_read_blocks(w->f->desc, w->f->ch, w->f->buf2, 0, 1, io_done, &w->r);
}

Test(bdev_pool, enomem_and_queue_io_wait, .fini = teardown)
{
	struct fixture f;
	struct io_result r[4] = {0};
	struct waiter w = {0};

	init_with_pool(4, 0);
	open_malloc(&f, "Malloc0", true);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, i, 1, io_done, &r[i]), 0,
			     "I/O %d of 4 fits the pool", i);
	}
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, 0, 1, io_done, &w.r), -ENOMEM,
		     "pool empty");
	w.f = &f;
	w.entry.bdev = f.bdev;
	w.entry.cb_fn = waiter_cb;
	w.entry.cb_arg = &w;
	cr_assert_eq(spio_bdev_queue_io_wait(NULL, f.ch, &w.entry), -EINVAL);
	cr_assert_eq(spio_bdev_queue_io_wait(f.bdev, f.ch, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_queue_io_wait(f.bdev, f.ch, &w.entry), 0);
	poll_n(5);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(r[i].done, 1, "I/O %d completed", i);
	}
	cr_assert_eq(w.woken, 1, "waiter called once, got %d", w.woken);
	cr_assert_eq(w.rc, 0, "resubmission from the waiter succeeds, got %d", w.rc);
	wait_io(&w.r);
	cr_assert(w.r.success);
	close_fixture(&f);
}

/* Hot remove */

struct remote_open {
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	struct io_result r;
	uint8_t buf[BS];
};

static void open_on_thread2(void *arg)
{
	struct remote_open *o = arg;

	cr_assert_eq(spio_bdev_open_ext("Malloc0", true, event_cb, NULL, &o->desc), 0);
	o->ch = spio_bdev_get_io_channel(o->desc);
	cr_assert_eq(spio_bdev_read_blocks(o->desc, o->ch, o->buf, 0, 1, io_done, &o->r), 0);
}

static void close_on_thread2(void *arg)
{
	struct remote_open *o = arg;

	spio_put_io_channel(o->ch);
	spio_bdev_close(o->desc);
}

static int g_unreg_done;
static int g_unreg_rc = 1;

static void unreg_done(void *arg, int rc)
{
	(void)arg;
	g_unreg_done++;
	g_unreg_rc = rc;
}

Test(bdev, hot_remove)
{
	struct spio_bdev *b;
	struct spio_bdev_desc *d;
	static struct remote_open o;

	g_thread2 = spio_thread_create("opener", NULL);
	cr_assert_eq(fx_malloc_create("Malloc0", NULL, 8, 512, &b), 0);
	cr_assert_eq(spio_thread_send_msg(g_thread2, open_on_thread2, &o), 0);
	poll_n(1); /* opened and I/O submitted, not yet completed */
	cr_assert_not_null(o.desc);

	cr_assert_eq(spio_bdev_unregister(b, unreg_done, NULL), 0);
	cr_assert_eq(spio_bdev_unregister(b, unreg_done, NULL), -EBUSY, "already removing");
	cr_assert_eq(spio_bdev_open_ext("Malloc0", false, event_cb, NULL, &d), -ENODEV,
		     "no new opens while removing");
	poll_n(5);
	cr_assert_eq(g_events, 1, "expected 1 REMOVE event, got %d", g_events);
	cr_assert_eq(g_event_thread, g_thread2, "event on the opener's thread");
	cr_assert_eq(o.r.done, 1, "I/O in flight completes");
	cr_assert(o.r.success);
	cr_assert_eq(o.r.thread, g_thread2);
	cr_assert_eq(g_unreg_done, 0, "bdev stays while a descriptor is open");
	cr_assert_eq(spio_bdev_get_by_name("Malloc0"), b);

	cr_assert_eq(spio_thread_send_msg(g_thread2, close_on_thread2, &o), 0);
	poll_n(10);
	cr_assert_eq(g_unreg_done, 1, "unregister callback after the last close");
	cr_assert_eq(g_unreg_rc, 0);
	cr_assert_null(spio_bdev_get_by_name("Malloc0"), "bdev gone");
	cr_assert_null(spio_bdev_first());
}

Test(bdev, delete_without_opens)
{
	struct spio_bdev *b;

	cr_assert_eq(fx_malloc_create("Malloc0", NULL, 8, 512, &b), 0);
	cr_assert_eq(fx_null_create("Null0", NULL, 8, 512, &b), 0);
	cr_assert_eq(spio_bdev_malloc_delete("Null0", unreg_done, NULL), -ENODEV, "wrong module");
	cr_assert_eq(spio_bdev_malloc_delete("nope", unreg_done, NULL), -ENODEV);
	cr_assert_eq(spio_bdev_malloc_delete(NULL, unreg_done, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_malloc_delete("Malloc0", unreg_done, NULL), 0);
	cr_assert_eq(g_unreg_done, 0, "callback not before return");
	poll_n(5);
	cr_assert_eq(g_unreg_done, 1);
	cr_assert_eq(spio_bdev_null_delete("Null0", NULL, NULL), 0);
	poll_n(5);
	cr_assert_null(spio_bdev_first());
}

/* Statistics */

static bool g_stat_done;

static void stat_done(struct spio_bdev *bdev, struct spio_bdev_io_stat *stat, void *arg, int rc)
{
	(void)bdev;
	(void)stat;
	(void)arg;
	cr_assert_eq(rc, 0);
	g_stat_done = true;
}

static void reset_done(struct spio_bdev *bdev, void *arg, int rc)
{
	(void)bdev;
	(void)arg;
	cr_assert_eq(rc, 0);
	g_stat_done = true;
}

static void get_stat(struct spio_bdev *b, struct spio_bdev_io_stat *st)
{
	g_stat_done = false;
	cr_assert_eq(spio_bdev_get_device_stat(b, st, SPIO_BDEV_RESET_STAT_NONE, stat_done, NULL),
		     0);
	poll_n(10);
	cr_assert(g_stat_done);
}

Test(bdev, statistics)
{
	struct fixture f;
	struct io_result r = {0};
	struct spio_bdev_io_stat st, base;

	open_malloc(&f, "Malloc0", true);
	get_stat(f.bdev, &base); /* what examine did */
	for (int i = 0; i < 3; i++) {
		write_pattern(&f, i * 2, 2, 1);
	}
	for (int i = 0; i < 5; i++) {
		memset(&r, 0, sizeof(r));
		cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, i, 1, io_done, &r), 0);
		wait_io(&r);
		cr_assert(r.latency_ticks > 0, "the callback reads the I/O's latency");
	}
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_unmap_blocks(f.desc, f.ch, 0, 4, io_done, &r), 0);
	wait_io(&r);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_compare_blocks(f.desc, f.ch, f.buf, 40, 1, io_done, &r), 0);
	memset(f.buf, 1, BS);
	wait_io(&r);
	cr_assert(!r.success, "miscompare counts as an error");
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_flush_blocks(f.desc, f.ch, 0, 1, io_done, &r), 0);
	wait_io(&r);

	get_stat(f.bdev, &st);
	cr_assert_eq(st.num_write_ops - base.num_write_ops, 3, "writes: expected 3, got %lu",
		     (unsigned long)(st.num_write_ops - base.num_write_ops));
	cr_assert_eq(st.bytes_written - base.bytes_written, 6 * BS);
	cr_assert_eq(st.num_read_ops - base.num_read_ops, 5, "reads: expected 5, got %lu",
		     (unsigned long)(st.num_read_ops - base.num_read_ops));
	cr_assert_eq(st.bytes_read - base.bytes_read, 5 * BS);
	cr_assert_eq(st.num_unmap_ops - base.num_unmap_ops, 1);
	cr_assert_eq(st.bytes_unmapped - base.bytes_unmapped, 4 * BS);
	cr_assert_eq(st.num_io_errors - base.num_io_errors, 1);
	cr_assert_eq(st.num_miscompare_errors - base.num_miscompare_errors, 1,
		     "the error is a miscompare");
	cr_assert_eq(st.io_errors_by_type[SPIO_BDEV_IO_TYPE_COMPARE] -
			 base.io_errors_by_type[SPIO_BDEV_IO_TYPE_COMPARE],
		     1, "the miscompare is a compare error");
	cr_assert_eq(st.io_errors_by_type[SPIO_BDEV_IO_TYPE_READ] -
			 base.io_errors_by_type[SPIO_BDEV_IO_TYPE_READ],
		     0);
	cr_assert_eq(st.num_other_ops - base.num_other_ops, 1);
	cr_assert(st.min_read_latency_ticks > 0 &&
		  st.min_read_latency_ticks <= st.max_read_latency_ticks);
	cr_assert(st.read_latency_ticks >= st.max_read_latency_ticks);

	/* a closed channel's counts are kept */
	spio_put_io_channel(f.ch);
	poll_n(3);
	get_stat(f.bdev, &st);
	cr_assert_eq(st.num_read_ops - base.num_read_ops, 5, "closed channel kept: got %lu",
		     (unsigned long)(st.num_read_ops - base.num_read_ops));
	f.ch = spio_bdev_get_io_channel(f.desc);

	g_stat_done = false;
	cr_assert_eq(
	    spio_bdev_reset_device_stat(f.bdev, SPIO_BDEV_RESET_STAT_ALL, reset_done, NULL), 0);
	poll_n(10);
	cr_assert(g_stat_done);
	get_stat(f.bdev, &st);
	cr_assert_eq(st.num_read_ops + st.num_write_ops + st.num_io_errors, 0, "reset to zero");
	cr_assert_eq(
	    spio_bdev_get_device_stat(NULL, &st, SPIO_BDEV_RESET_STAT_NONE, stat_done, NULL),
	    -EINVAL);
	close_fixture(&f);
}

static int g_channel_visits;

static void channel_stat(struct spio_bdev *bdev, uint64_t thread_id,
			 const struct spio_bdev_io_stat *stat, void *arg)
{
	(void)bdev;
	(void)arg;
	cr_assert_eq(thread_id, spio_thread_get_id(spio_get_thread()), "visited on its thread");
	cr_assert_eq(stat->num_read_ops, 2, "this channel's reads: got %lu",
		     (unsigned long)stat->num_read_ops);
	g_channel_visits++;
}

static void channels_done(struct spio_bdev *bdev, void *arg, int rc)
{
	(void)bdev;
	(void)arg;
	cr_assert_eq(rc, 0);
	g_stat_done = true;
}

/* SPDK's reset modes, applied after reading; per-channel statistics; bad modes. */
Test(bdev, statistics_reset_modes_and_channels)
{
	struct fixture f;
	struct io_result r = {0};
	struct spio_bdev_io_stat st;
	uint64_t base_reads;

	open_malloc(&f, "Malloc0", true);
	get_stat(f.bdev, &st);
	base_reads = st.num_read_ops; /* examine's */
	for (int i = 0; i < 2; i++) {
		memset(&r, 0, sizeof(r));
		cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, i, 1, io_done, &r), 0);
		wait_io(&r);
	}
	memset(&r, 0, sizeof(r));
	memset(f.buf, 1, BS); /* block 40 holds zeroes: a miscompare */
	cr_assert_eq(spio_bdev_compare_blocks(f.desc, f.ch, f.buf, 40, 1, io_done, &r), 0);
	wait_io(&r);
	cr_assert(!r.success);

	g_stat_done = false;
	cr_assert_eq(spio_bdev_get_channel_stats(f.bdev, SPIO_BDEV_RESET_STAT_NONE, channel_stat,
						 channels_done, NULL),
		     0);
	poll_n(10);
	cr_assert(g_stat_done && g_channel_visits == 1, "one open channel, visited once");

	/* maxmin: latencies gone, counts kept */
	g_stat_done = false;
	cr_assert_eq(
	    spio_bdev_reset_device_stat(f.bdev, SPIO_BDEV_RESET_STAT_MAXMIN, reset_done, NULL), 0);
	poll_n(10);
	get_stat(f.bdev, &st);
	cr_assert_eq(st.num_read_ops - base_reads, 2, "reads kept: expected 2, got %lu",
		     (unsigned long)(st.num_read_ops - base_reads));
	cr_assert_eq(st.max_read_latency_ticks + st.min_read_latency_ticks, 0);
	cr_assert(st.read_latency_ticks > 0, "the sum stays");
	/* error: the error counters only */
	g_stat_done = false;
	cr_assert_eq(
	    spio_bdev_get_device_stat(f.bdev, &st, SPIO_BDEV_RESET_STAT_ERROR, stat_done, NULL), 0);
	poll_n(10);
	cr_assert_eq(st.num_io_errors, 1, "read before the reset");
	get_stat(f.bdev, &st);
	cr_assert_eq(st.num_io_errors + st.num_miscompare_errors, 0, "errors reset after reading");
	cr_assert_eq(st.io_errors_by_type[SPIO_BDEV_IO_TYPE_COMPARE], 0);
	cr_assert_eq(st.num_read_ops - base_reads, 2, "counts kept: expected 2 reads, got %lu",
		     (unsigned long)(st.num_read_ops - base_reads));

	/* bad input: refused, nothing called */
	cr_assert_eq(spio_bdev_get_device_stat(f.bdev, &st, (enum spio_bdev_reset_stat_mode)9,
					       stat_done, NULL),
		     -EINVAL);
	cr_assert_eq(spio_bdev_reset_device_stat(f.bdev, (enum spio_bdev_reset_stat_mode) - 1,
						 reset_done, NULL),
		     -EINVAL);
	cr_assert_eq(spio_bdev_reset_device_stat(NULL, SPIO_BDEV_RESET_STAT_ALL, NULL, NULL),
		     -EINVAL);
	cr_assert_eq(spio_bdev_get_channel_stats(f.bdev, SPIO_BDEV_RESET_STAT_NONE, NULL,
						 channels_done, NULL),
		     -EINVAL);
	cr_assert_eq(spio_bdev_get_channel_stats(NULL, SPIO_BDEV_RESET_STAT_NONE, channel_stat,
						 channels_done, NULL),
		     -EINVAL);
	cr_assert_eq(spio_bdev_get_channel_stats(f.bdev, (enum spio_bdev_reset_stat_mode)7,
						 channel_stat, channels_done, NULL),
		     -EINVAL);
	poll_n(5);
	cr_assert_eq(g_channel_visits, 1, "a refused call visits nothing");
	cr_assert_eq(spio_bdev_get_physical_block_size(f.bdev), BS, "defaults to the block size");
	close_fixture(&f);
}

/* _await twins */

struct await_args {
	struct fixture *f;
	int rc[8];
	bool finished;
};

static int await_task(void *arg)
{
	struct await_args *a = arg;
	struct fixture *f = a->f;

	fill(f->buf, 2 * BS, 9);
	a->rc[0] = spio_bdev_write_await(f->desc, f->ch, f->buf, 0, 2 * BS);
	a->rc[1] = spio_bdev_read_blocks_await(f->desc, f->ch, f->buf2, 0, 2);
	a->rc[2] = spio_bdev_compare_blocks_await(f->desc, f->ch, f->buf, 0, 2);
	f->buf[0] ^= 0xff;
	a->rc[3] = spio_bdev_compare_blocks_await(f->desc, f->ch, f->buf, 0, 2);
	a->rc[4] = spio_bdev_read_await(f->desc, f->ch, f->buf2, 1, BS);
	a->rc[5] = spio_bdev_unmap_blocks_await(f->desc, f->ch, 0, 1);
	a->rc[6] = spio_bdev_reset_await(f->desc, f->ch);
	a->rc[7] = spio_bdev_flush_blocks_await(f->desc, f->ch, 0, NBLOCKS);
	a->finished = true;
	return 0;
}

Test(bdev, await_twins)
{
	struct fixture f;
	struct await_args a = {.f = &f};
	int expect[8] = {0, 0, 0, -EILSEQ, -EINVAL, 0, 0, 0};

	open_malloc(&f, "Malloc0", true);
	cr_assert_eq(spio_bdev_read_await(f.desc, f.ch, f.buf, 0, BS), -EPERM, "outside a task");
	cr_assert_eq(spio_task_spawn(await_task, &a, NULL, NULL), 0);
	for (int i = 0; i < 100 && !a.finished; i++) {
		poll_n(1);
	}
	cr_assert(a.finished);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(a.rc[i], expect[i], "await %d: expected %d, got %d", i, expect[i],
			     a.rc[i]);
	}
	close_fixture(&f);
}

/* Layer init / finish */

Test(bdev, initialize_twice_and_finish_removes_all)
{
	struct spio_bdev *b;

	cr_assert_eq(spio_bdev_initialize(NULL, NULL, NULL), -EALREADY);
	cr_assert_eq(fx_malloc_create("Malloc0", NULL, 8, 512, &b), 0);
	cr_assert_eq(fx_null_create("Null0", NULL, 8, 512, &b), 0);
	/* the teardown's spio_bdev_finish must unregister both */
}

/* Claims */

static struct spio_bdev_module g_claimer = {.name = "claimer"};
static struct spio_bdev_module g_claimer2 = {.name = "claimer2"};

Test(bdev, claims)
{
	struct spio_bdev *b;
	struct spio_bdev_desc *w, *r, *mine, *d;

	cr_assert_eq(fx_malloc_create("Malloc0", NULL, 8, 512, &b), 0);
	cr_assert(!spio_bdev_is_claimed(b));
	cr_assert_eq(spio_bdev_open_ext("Malloc0", true, event_cb, NULL, &w), 0);
	cr_assert_eq(spio_bdev_open_ext("Malloc0", false, event_cb, NULL, &mine), 0);
	cr_assert_eq(spio_bdev_module_claim_bdev(b, mine, &g_claimer), -EPERM,
		     "another descriptor writes");
	spio_bdev_close(w);
	cr_assert_eq(spio_bdev_module_claim_bdev(NULL, mine, &g_claimer), -EINVAL);
	cr_assert_eq(spio_bdev_module_claim_bdev(b, mine, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_module_claim_bdev(b, mine, &g_claimer), 0);
	cr_assert(spio_bdev_is_claimed(b));
	cr_assert_eq(spio_bdev_module_claim_bdev(b, NULL, &g_claimer2), -EPERM, "claimed twice");
	cr_assert_eq(spio_bdev_open_ext("Malloc0", true, event_cb, NULL, &d), -EPERM,
		     "write open of a claimed bdev");
	cr_assert_eq(spio_bdev_open_ext("Malloc0", false, event_cb, NULL, &r), 0,
		     "read-only opens are fine");

	/* the claiming descriptor was promoted to read-write */
	struct spio_io_channel *ch = spio_bdev_get_io_channel(mine);
	struct io_result res = {0};
	uint8_t *buf = spio_dma_zmalloc(512, 512);
	cr_assert_eq(spio_bdev_write_blocks(mine, ch, buf, 0, 1, io_done, &res), 0);
	wait_io(&res);
	spio_put_io_channel(ch);
	spio_dma_free(buf);

	spio_bdev_module_release_bdev(b);
	cr_assert(!spio_bdev_is_claimed(b));
	cr_assert_eq(spio_bdev_open_ext("Malloc0", true, event_cb, NULL, &d), 0);
	spio_bdev_close(d);
	spio_bdev_close(r);
	spio_bdev_close(mine);
	poll_n(3);
}

/* Resize: openers get SPIO_BDEV_EVENT_RESIZE on their thread, the new blocks
 * become addressable, and shrinking an open bdev is refused. */
static int g_resize_events;
static struct spio_thread *g_resize_thread;

static void resize_event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	if (type == SPIO_BDEV_EVENT_RESIZE) {
		g_resize_events++;
		g_resize_thread = spio_get_thread();
	}
}

Test(bdev, resize_event_and_new_size)
{
	struct spio_bdev *b;
	struct spio_bdev_desc *d;
	struct spio_io_channel *ch;
	struct io_result r = {0};
	static uint8_t buf[512];

	cr_assert_eq(fx_null_create("NullR", NULL, 2048, 512, &b), 0); /* 1 MiB */
	cr_assert_eq(spio_bdev_open_ext("NullR", true, resize_event_cb, NULL, &d), 0);
	ch = spio_bdev_get_io_channel(d);
	cr_assert_eq(spio_bdev_read_blocks(d, ch, buf, 2048, 1, io_done, &r), -EINVAL,
		     "block 2048 is past the end before the resize");

	cr_assert_eq(spio_bdev_null_resize("NullR", 2), 0);
	cr_assert_eq(spio_bdev_get_num_blocks(b), 4096, "2 MiB of 512-byte blocks");
	cr_assert_eq(g_resize_events, 0, "the event comes by message, not inline");
	poll_n(3);
	cr_assert_eq(g_resize_events, 1, "expected one RESIZE event, got %d", g_resize_events);
	cr_assert_eq(g_resize_thread, g_thread, "the event runs on the opener's thread");
	cr_assert_eq(spio_bdev_read_blocks(d, ch, buf, 4095, 1, io_done, &r), 0,
		     "the new last block is addressable");
	wait_io(&r);
	cr_assert(r.success);

	cr_assert_eq(spio_bdev_null_resize("NullR", 1), -EBUSY, "no shrinking while open");
	cr_assert_eq(spio_bdev_get_num_blocks(b), 4096);
	cr_assert_eq(spio_bdev_null_resize("NoSuch", 4), -ENODEV);
	cr_assert_eq(spio_bdev_null_resize("NullR", 0), -EINVAL);
	cr_assert_eq(spio_bdev_notify_blockcnt_change(NULL, 8), -EINVAL);
	cr_assert_eq(spio_bdev_notify_blockcnt_change(b, 0), -EINVAL);

	spio_put_io_channel(ch);
	spio_bdev_close(d);
	poll_n(3);
	cr_assert_eq(spio_bdev_null_resize("NullR", 1), 0, "shrinking a closed bdev is fine");
	cr_assert_eq(spio_bdev_get_num_blocks(b), 2048);
}

/* A completion inside the submit call must be deferred even when the thread's
 * message queue is full (then through the thread's deferred list). */
static void noop_msg(void *arg)
{
	(*(int *)arg)++;
}

Test(bdev, completion_deferred_when_message_queue_full)
{
	struct fixture f;
	struct io_result r = {0};
	int ran = 0, queued = 0;

	open_malloc(&f, "MallocQ", true);
	while (spio_thread_send_msg(g_thread, noop_msg, &ran) == 0) {
		queued++;
	}
	cr_assert_gt(queued, 0);
	cr_assert_eq(spio_bdev_read_blocks(f.desc, f.ch, f.buf, 0, 1, io_done, &r), 0);
	cr_assert_eq(r.done, 0, "completed inside the submit call with a full queue");
	for (int i = 0; i < 100000 && r.done == 0; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert_eq(r.done, 1, "the deferred completion never ran");
	cr_assert(r.success);
	for (int i = 0; i < 100000 && ran < queued; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert_eq(ran, queued);
	close_fixture(&f);
}

Test(bdev, iteration_per_module)
{
	struct spio_bdev *m0, *m1, *n0, *b;
	int malloc_seen = 0;

	cr_assert_eq(fx_malloc_create("IterM0", NULL, 64, BS, &m0), 0);
	cr_assert_eq(fx_null_create("IterN0", NULL, 64, BS, &n0), 0);
	cr_assert_eq(fx_malloc_create("IterM1", NULL, 64, BS, &m1), 0);
	for (b = spio_bdev_first_of_module("malloc"); b != NULL; b = spio_bdev_next_of_module(b)) {
		cr_assert_str_eq(spio_bdev_get_module_name(b), "malloc");
		malloc_seen++;
	}
	cr_assert_eq(malloc_seen, 2, "expected the 2 malloc bdevs, saw %d", malloc_seen);
	cr_assert_eq(spio_bdev_first_of_module("null"), n0);
	cr_assert_null(spio_bdev_next_of_module(n0), "only one null bdev");
	cr_assert_null(spio_bdev_first_of_module("nosuch"));
	cr_assert_null(spio_bdev_first_of_module(NULL));
	cr_assert_null(spio_bdev_next_of_module(NULL));
	(void)m0;
	(void)m1;
}

Test(bdev, byte_forms_of_zeroes_unmap_flush_compare)
{
	struct fixture f;
	struct io_result r = {0};

	open_malloc(&f, "MallocB", true);
	write_pattern(&f, 0, 4, 7);
	cr_assert_eq(spio_bdev_write_zeroes(f.desc, f.ch, BS, BS - 1, io_done, &r), -EINVAL,
		     "a length that is not a whole block is rejected");
	cr_assert_eq(spio_bdev_unmap(f.desc, f.ch, 1, BS, io_done, &r), -EINVAL,
		     "an offset that is not a whole block is rejected");
	cr_assert_eq(spio_bdev_write_zeroes(f.desc, f.ch, BS, BS, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	expect_zero(&f, 1, 1, true);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_unmap(f.desc, f.ch, 2 * BS, BS, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	expect_zero(&f, 2, 1, true);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_flush(f.desc, f.ch, 0, 4 * BS, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success);
	memset(&r, 0, sizeof(r));
	memset(f.buf2, 0, BS);
	cr_assert_eq(spio_bdev_compare(f.desc, f.ch, f.buf2, BS, BS, io_done, &r), 0);
	wait_io(&r);
	cr_assert(r.success, "block 1 is zero and so is the buffer");
	close_fixture(&f);
}
