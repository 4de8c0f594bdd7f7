/*
 * Splitting of reads and writes on the optimal I/O boundary and on the
 * module's maximum size: what the module sees, data integrity through odd
 * iovec splits, the child iovec limit, failure of one child, statistics
 * counting the parent once, and splitting under bdev_io exhaustion.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "spio/bdev_module.h"
#include "spio/env.h"
#include "spio/thread.h"

#define BS 512
#define NBLOCKS 64

static struct spio_thread *g_thread;

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
}

static void init_pool(uint32_t pool)
{
	struct spio_env_opts eopts;
	struct spio_bdev_opts bopts;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	cr_assert_eq(spio_env_init(&eopts), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_thread = spio_thread_create("split", NULL);
	spio_set_thread(g_thread);
	spio_bdev_opts_init(&bopts, sizeof(bopts));
	bopts.bdev_io_pool_size = pool;
	bopts.bdev_io_cache_size = 0;
	/* Examine off: its read of a new bdev (the lvol module's look for a
	 * store) would reach the recorder and hold a bdev_io of the tiny pool,
	 * and these tests are about each I/O the module sees. */
	bopts.bdev_auto_examine = false;
	cr_assert_eq(spio_bdev_initialize(&bopts, NULL, NULL), 0);
}

static void setup(void)
{
	init_pool(256);
}

static bool g_fini_done;

static void fini_done(void *arg)
{
	(void)arg;
	g_fini_done = true;
}

static void teardown(void)
{
	cr_assert_eq(spio_bdev_finish(fini_done, NULL), 0);
	for (int i = 0; i < 1000 && !g_fini_done; i++) {
		poll_n(1);
	}
	cr_assert(g_fini_done);
	spio_thread_exit(g_thread);
	for (int i = 0; i < 1000 && !spio_thread_is_exited(g_thread); i++) {
		poll_n(1);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(split, .init = setup, .fini = teardown);

/* A RAM module that records the I/O it is given and can fail one offset. */

#define MAX_SEEN 64
static struct {
	uint64_t offset, num;
	int iovcnt;
} g_seen[MAX_SEEN];
static int g_nseen;
static uint64_t g_fail_offset = UINT64_MAX;
static uint8_t g_disk[NBLOCKS * BS];

static void rec_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	uint64_t off = io->u.offset_blocks * BS, len = io->u.num_blocks * BS;

	(void)ch;
	cr_assert_lt(g_nseen, MAX_SEEN);
	g_seen[g_nseen].offset = io->u.offset_blocks;
	g_seen[g_nseen].num = io->u.num_blocks;
	g_seen[g_nseen].iovcnt = io->u.iovcnt;
	g_nseen++;
	cr_assert_eq(spio_iov_length(io->u.iovs, io->u.iovcnt), len,
		     "iovecs describe the I/O exactly: %zu vs %lu",
		     spio_iov_length(io->u.iovs, io->u.iovcnt), (unsigned long)len);
	if (io->u.offset_blocks == g_fail_offset) {
		spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_FAILED);
		return;
	}
	if (io->type == SPIO_BDEV_IO_TYPE_READ) {
		spio_copy_buf_to_iovs(io->u.iovs, io->u.iovcnt, g_disk + off, len);
	} else {
		spio_copy_iovs_to_buf(g_disk + off, len, io->u.iovs, io->u.iovcnt);
	}
	spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_SUCCESS);
}

static bool rec_supported(void *ctxt, enum spio_bdev_io_type type)
{
	(void)ctxt;
	return type == SPIO_BDEV_IO_TYPE_READ || type == SPIO_BDEV_IO_TYPE_WRITE;
}

static int rec_destruct(void *ctxt)
{
	(void)ctxt;
	return 0;
}

static const struct spio_bdev_fn_table g_rec_fn = {
    .destruct = rec_destruct, .submit_request = rec_submit, .io_type_supported = rec_supported};
static struct spio_bdev_module g_rec_module = {.name = "recorder"};
static struct spio_bdev g_bdev;
static struct spio_bdev_desc *g_desc;
static struct spio_io_channel *g_ch;

static void make_bdev(uint32_t boundary, bool split, uint32_t max)
{
	g_bdev.name = "Rec0";
	g_bdev.blocklen = BS;
	g_bdev.blockcnt = NBLOCKS;
	g_bdev.optimal_io_boundary = boundary;
	g_bdev.split_on_optimal_io_boundary = split;
	g_bdev.max_rw_size = max;
	g_bdev.module = &g_rec_module;
	g_bdev.fn_table = &g_rec_fn;
	cr_assert_eq(spio_bdev_register(&g_bdev), 0);
}

static void ev(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void open_bdev(void)
{
	cr_assert_eq(spio_bdev_open_ext("Rec0", true, ev, NULL, &g_desc), 0);
	g_ch = spio_bdev_get_io_channel(g_desc);
	cr_assert_not_null(g_ch);
}

static void close_bdev(void)
{
	spio_put_io_channel(g_ch);
	spio_bdev_close(g_desc);
	poll_n(3);
}

struct result {
	int done;
	bool success;
};

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	struct result *r = cb_arg;

	r->done++;
	r->success = success;
	spio_bdev_free_io(io);
}

static void run(struct result *r)
{
	for (int i = 0; i < 200 && r->done == 0; i++) {
		poll_n(1);
	}
	cr_assert_eq(r->done, 1, "one completion, got %d", r->done);
}

static void expect_seen(const uint64_t (*exp)[2], int n)
{
	cr_assert_eq(g_nseen, n, "expected %d module I/Os, got %d", n, g_nseen);
	for (int i = 0; i < n; i++) {
		cr_assert(g_seen[i].offset == exp[i][0] && g_seen[i].num == exp[i][1],
			  "child %d: expected %lu+%lu, got %lu+%lu", i, (unsigned long)exp[i][0],
			  (unsigned long)exp[i][1], (unsigned long)g_seen[i].offset,
			  (unsigned long)g_seen[i].num);
	}
}

Test(split, on_boundary_with_data)
{
	static uint8_t src[20 * BS], dst[20 * BS];
	struct iovec wiov[3] = {{src, 100}, {src + 100, 5000}, {src + 5100, 20 * BS - 5100}};
	struct iovec riov[2] = {{dst, 3333}, {dst + 3333, 20 * BS - 3333}};
	const uint64_t exp[][2] = {{5, 3}, {8, 8}, {16, 8}, {24, 1}};
	struct result r = {0};

	make_bdev(8, true, 0);
	open_bdev();
	for (size_t i = 0; i < sizeof(src); i++) {
		src[i] = (uint8_t)(i * 13 + i / 512);
	}
	cr_assert_eq(spio_bdev_writev_blocks(g_desc, g_ch, wiov, 3, 5, 20, io_done, &r), 0);
	run(&r);
	cr_assert(r.success);
	expect_seen(exp, 4);
	cr_assert_eq(memcmp(g_disk + 5 * BS, src, sizeof(src)), 0, "data landed in order");

	g_nseen = 0;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_readv_blocks(g_desc, g_ch, riov, 2, 5, 20, io_done, &r), 0);
	run(&r);
	cr_assert(r.success);
	expect_seen(exp, 4);
	cr_assert_eq(memcmp(dst, src, sizeof(src)), 0, "read back through split children");

	/* inside one boundary window: not split */
	g_nseen = 0;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_read_blocks(g_desc, g_ch, dst, 8, 8, io_done, &r), 0);
	run(&r);
	cr_assert_eq(g_nseen, 1);
	close_bdev();
}

Test(split, boundary_without_split_flag_and_max_size)
{
	static uint8_t buf[20 * BS];
	const uint64_t exp_none[][2] = {{5, 20}};
	const uint64_t exp_max[][2] = {{5, 3}, {8, 5}, {13, 3}, {16, 5}, {21, 3}, {24, 1}};
	struct result r = {0};

	make_bdev(8, false, 0);
	open_bdev();
	cr_assert_eq(spio_bdev_write_blocks(g_desc, g_ch, buf, 5, 20, io_done, &r), 0);
	run(&r);
	expect_seen(exp_none, 1);
	close_bdev();
	g_nseen = 0;

	/* same bdev struct re-registered with both limits */
	cr_assert_eq(spio_bdev_unregister(&g_bdev, NULL, NULL), 0);
	poll_n(5);
	make_bdev(8, true, 5);
	open_bdev();
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_write_blocks(g_desc, g_ch, buf, 5, 20, io_done, &r), 0);
	run(&r);
	cr_assert(r.success);
	expect_seen(exp_max, 6);
	close_bdev();
}

Test(split, child_iovec_limit)
{
	static uint8_t src[2 * BS], dst[2 * BS];
	struct iovec iov[40];
	const uint64_t exp[][2] = {{7, 1}, {8, 1}};
	struct result r = {0};

	make_bdev(8, true, 0);
	open_bdev();
	for (size_t i = 0; i < sizeof(src); i++) {
		src[i] = (uint8_t)(i * 3 + 1);
	}
	/* block 7 in 32 iovecs of 16 bytes, block 8 in 8 of 64 */
	for (int i = 0; i < 32; i++) {
		iov[i].iov_base = src + i * 16;
		iov[i].iov_len = 16;
	}
	for (int i = 0; i < 8; i++) {
		iov[32 + i].iov_base = src + BS + i * 64;
		iov[32 + i].iov_len = 64;
	}
	cr_assert_eq(spio_bdev_writev_blocks(g_desc, g_ch, iov, 40, 7, 2, io_done, &r), 0);
	run(&r);
	cr_assert(r.success);
	expect_seen(exp, 2);
	cr_assert_eq(g_seen[0].iovcnt, 32);
	cr_assert_eq(g_seen[1].iovcnt, 8);
	cr_assert_eq(memcmp(g_disk + 7 * BS, src, sizeof(src)), 0);

	/* one block in 33 iovecs cannot be a child */
	struct iovec many[34];
	for (int i = 0; i < 32; i++) {
		many[i].iov_base = dst + i * 15;
		many[i].iov_len = 15;
	}
	many[32].iov_base = dst + 480;
	many[32].iov_len = 32;
	many[33].iov_base = dst + BS;
	many[33].iov_len = BS;
	g_nseen = 0;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_readv_blocks(g_desc, g_ch, many, 34, 7, 2, io_done, &r), 0);
	cr_assert_eq(r.done, 0, "not completed inside submit");
	run(&r);
	cr_assert(!r.success, "a block spanning 33 iovecs fails the split I/O");
	cr_assert_eq(g_nseen, 0);
	close_bdev();
}

static bool g_stat_done;
static struct spio_bdev_io_stat g_stat;

static void stat_done(struct spio_bdev *bdev, struct spio_bdev_io_stat *stat, void *arg, int rc)
{
	(void)bdev;
	(void)stat;
	(void)arg;
	(void)rc;
	g_stat_done = true;
}

Test(split, failed_child_and_stats)
{
	static uint8_t buf[20 * BS];
	struct result r = {0};

	make_bdev(8, true, 0);
	open_bdev();
	g_fail_offset = 8;
	cr_assert_eq(spio_bdev_write_blocks(g_desc, g_ch, buf, 5, 20, io_done, &r), 0);
	run(&r);
	cr_assert(!r.success, "a failed child fails the parent");
	cr_assert_eq(g_nseen, 2, "no children after the failure, got %d", g_nseen);
	g_fail_offset = UINT64_MAX;

	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_bdev_read_blocks(g_desc, g_ch, buf, 5, 20, io_done, &r), 0);
	run(&r);
	cr_assert(r.success);

	cr_assert_eq(
	    spio_bdev_get_device_stat(&g_bdev, &g_stat, SPIO_BDEV_RESET_STAT_NONE, stat_done, NULL),
	    0);
	poll_n(5);
	cr_assert(g_stat_done);
	cr_assert_eq(g_stat.num_read_ops, 1, "the split read counts once, got %lu",
		     (unsigned long)g_stat.num_read_ops);
	cr_assert_eq(g_stat.bytes_read, 20 * BS);
	cr_assert_eq(g_stat.num_write_ops, 0);
	cr_assert_eq(g_stat.num_io_errors, 1);
	close_bdev();
}

static void setup_tiny_pool(void)
{
	init_pool(3);
}

TestSuite(split_pool, .init = setup_tiny_pool, .fini = teardown);

Test(split_pool, children_wait_for_free_bdev_io)
{
	static uint8_t buf[2][20 * BS];
	struct result r[2] = {0};

	make_bdev(8, true, 0);
	open_bdev();
	/* two parents and one child fill the pool: the other child must wait */
	cr_assert_eq(spio_bdev_read_blocks(g_desc, g_ch, buf[0], 5, 20, io_done, &r[0]), 0);
	cr_assert_eq(spio_bdev_read_blocks(g_desc, g_ch, buf[1], 30, 20, io_done, &r[1]), 0);
	for (int i = 0; i < 200 && (r[0].done == 0 || r[1].done == 0); i++) {
		poll_n(1);
	}
	cr_assert(r[0].done == 1 && r[0].success, "first split read completes");
	cr_assert(r[1].done == 1 && r[1].success, "second split read completes");
	cr_assert_eq(g_nseen, 8, "4 children each, got %d", g_nseen);
	close_bdev();
}

/* The module's segment limits: no child carries more than max_num_segments
 * iovecs or a segment longer than max_segment_size, and the data lands. */
static uint32_t g_max_segs, g_max_seg_size;
static int g_limit_violations;

static void limits_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	if ((uint32_t)io->u.iovcnt > g_max_segs) {
		g_limit_violations++;
	}
	for (int i = 0; i < io->u.iovcnt; i++) {
		if (io->u.iovs[i].iov_len > g_max_seg_size) {
			g_limit_violations++;
		}
	}
	rec_submit(ch, io);
}

static const struct spio_bdev_fn_table g_limits_fn = {
    .destruct = rec_destruct, .submit_request = limits_submit, .io_type_supported = rec_supported};

Test(split, segment_limits)
{
	static uint8_t src[16 * BS], dst[16 * BS];
	struct iovec iov[5];
	struct result r = {0};

	g_max_segs = 2;
	g_max_seg_size = 2 * BS;
	g_bdev.name = "Rec0";
	g_bdev.blocklen = BS;
	g_bdev.blockcnt = NBLOCKS;
	g_bdev.max_num_segments = g_max_segs;
	g_bdev.max_segment_size = g_max_seg_size;
	g_bdev.module = &g_rec_module;
	g_bdev.fn_table = &g_limits_fn;
	cr_assert_eq(spio_bdev_register(&g_bdev), 0);
	open_bdev();

	for (size_t i = 0; i < sizeof(src); i++) {
		src[i] = (uint8_t)(i * 7 + 3);
	}
	/* One 8 KiB buffer: segments of at most 1 KiB, 2 per child. */
	cr_assert_eq(spio_bdev_write_blocks(g_desc, g_ch, src, 0, 16, io_done, &r), 0);
	run(&r);
	cr_assert(r.success);
	cr_assert_eq(g_limit_violations, 0, "%d children broke the limits", g_limit_violations);
	cr_assert_eq(g_nseen, 4, "8 KiB in children of 2 x 1 KiB: expected 4, got %d", g_nseen);

	/* Five small iovecs, read back: 2 per child. */
	for (int i = 0; i < 5; i++) {
		iov[i].iov_base = dst + (size_t)i * 2 * BS;
		iov[i].iov_len = i < 4 ? 2 * BS : 8 * BS;
	}
	memset(&r, 0, sizeof(r));
	g_nseen = 0;
	cr_assert_eq(spio_bdev_readv_blocks(g_desc, g_ch, iov, 5, 0, 16, io_done, &r), 0);
	run(&r);
	cr_assert(r.success);
	cr_assert_eq(g_limit_violations, 0, "%d children broke the limits", g_limit_violations);
	cr_assert_eq(memcmp(src, dst, sizeof(src)), 0, "data through segment-limited children");
	close_bdev();
}
