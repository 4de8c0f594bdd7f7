/*
 * The worked example module (examples/bdev_module/passthru.c), compiled
 * into this test: I/O through the passthru lands on the base, exact
 * counters, the claim, supported types following the base, hot remove of
 * the base, delete releasing the claim, a second thread, and bdev_io
 * exhaustion (the -ENOMEM wait queue).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "helper_fixture.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_module.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/thread.h"

/* The module under test: one source file, no main(). */
#include "../../../examples/bdev_module/passthru.c"

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

static void init_with_pool(uint32_t pool, uint32_t cache, bool examine)
{
	struct spio_env_opts eopts;
	struct spio_bdev_opts bopts;
	int rc;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	eopts.name = "test_passthru_example";
	rc = spio_env_init(&eopts);
	cr_assert_eq(rc, 0, "spio_env_init: expected 0, got %d", rc);
	rc = spio_thread_lib_init(NULL, 0);
	cr_assert_eq(rc, 0, "spio_thread_lib_init: expected 0, got %d", rc);
	g_thread = spio_thread_create("pt_test", NULL);
	cr_assert_not_null(g_thread, "spio_thread_create: expected a thread, got NULL");
	spio_set_thread(g_thread);
	spio_bdev_opts_init(&bopts, sizeof(bopts));
	bopts.bdev_io_pool_size = pool;
	bopts.bdev_io_cache_size = cache;
	/* Examine off but in passthru_examine: its read of each new bdev (the
	 * lvol module's look for a store) would go through the passthru, adding
	 * to the exact counters and to the bdev_io pool use the others check. */
	bopts.bdev_auto_examine = examine;
	rc = spio_bdev_initialize(&bopts, NULL, NULL);
	cr_assert_eq(rc, 0, "spio_bdev_initialize: expected 0, got %d", rc);
}

static void setup(void)
{
	init_with_pool(1024, 16, false);
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
	cr_assert_eq(spio_bdev_finish(fini_done, NULL), 0, "spio_bdev_finish: expected 0");
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

TestSuite(passthru, .init = setup, .fini = teardown);

/* Helpers */

struct io_result {
	int done;
	bool success;
	enum spio_bdev_io_status status;
};

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	struct io_result *r = cb_arg;

	r->done++;
	r->success = success;
	r->status = spio_bdev_io_get_status(io);
	spio_bdev_free_io(io);
}

static void wait_io(struct io_result *r)
{
	for (int i = 0; i < 100 && r->done == 0; i++) {
		poll_n(1);
	}
	cr_assert_eq(r->done, 1, "expected one completion, got %d", r->done);
}

/* Submit (expecting 0), wait, and expect `status`. */
#define DO_IO(call, r, expect_status)                                                        \
	do {                                                                                 \
		int rc_ = (call);                                                            \
		cr_assert_eq(rc_, 0, "%s: submit expected 0, got %d", #call, rc_);           \
		wait_io(r);                                                                  \
		cr_assert_eq((r)->status, (expect_status), "%s: status expected %d, got %d", \
			     #call, (int)(expect_status), (int)(r)->status);                 \
		*(r) = (struct io_result){0};                                                \
	} while (0)

static int g_events;

static void event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)bdev;
	(void)ctx;
	cr_assert_eq(type, SPIO_BDEV_EVENT_REMOVE, "expected REMOVE event, got %d", type);
	g_events++;
}

static void delete_done(void *cb_arg, int rc)
{
	cr_assert_eq(rc, 0, "delete callback: expected rc 0, got %d", rc);
	(*(int *)cb_arg)++;
}

static void wait_flag(const int *flag)
{
	for (int i = 0; i < 1000 && *flag == 0; i++) {
		poll_n(1);
	}
	cr_assert_eq(*flag, 1, "expected one delete callback, got %d", *flag);
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t)(seed + i * 7 + i / 512);
	}
}

static struct spio_bdev *make_malloc_and_pt(const char *base, const char *pt)
{
	struct spio_bdev *b, *p;
	int rc = fx_malloc_create(base, NULL, NBLOCKS, BS, &b);

	cr_assert_eq(rc, 0, "malloc_create %s: expected 0, got %d", base, rc);
	rc = passthru_create(base, pt, &p);
	cr_assert_eq(rc, 0, "passthru_create %s on %s: expected 0, got %d", pt, base, rc);
	return p;
}

static void expect_stats(const char *name, uint64_t reads, uint64_t writes, uint64_t unmaps,
			 uint64_t flushes, uint64_t other, uint64_t errors)
{
	struct passthru_stats st;
	int rc = passthru_get_stats(name, &st);

	cr_assert_eq(rc, 0, "passthru_get_stats(%s): expected 0, got %d", name, rc);
	cr_assert(st.reads == reads && st.writes == writes && st.unmaps == unmaps &&
		      st.flushes == flushes && st.other == other && st.errors == errors,
		  "counters of %s: expected r%llu w%llu u%llu f%llu o%llu e%llu, got r%llu w%llu "
		  "u%llu f%llu o%llu e%llu",
		  name, (unsigned long long)reads, (unsigned long long)writes,
		  (unsigned long long)unmaps, (unsigned long long)flushes,
		  (unsigned long long)other, (unsigned long long)errors,
		  (unsigned long long)st.reads, (unsigned long long)st.writes,
		  (unsigned long long)st.unmaps, (unsigned long long)st.flushes,
		  (unsigned long long)st.other, (unsigned long long)st.errors);
}

/* Tests */

Test(passthru, create_geometry_and_bad_arguments)
{
	struct spio_bdev *pt = make_malloc_and_pt("Malloc0", "PT0"), *out = NULL;
	struct spio_bdev *base = spio_bdev_get_by_name("Malloc0");
	struct passthru_stats st;

	cr_assert_eq(spio_bdev_get_by_name("PT0"), pt, "PT0 is registered");
	cr_assert_str_eq(spio_bdev_get_module_name(pt), "passthru_example", "module name");
	cr_assert_eq(spio_bdev_get_block_size(pt), BS, "block size: expected %d, got %u", BS,
		     spio_bdev_get_block_size(pt));
	cr_assert_eq(spio_bdev_get_num_blocks(pt), NBLOCKS, "blocks: expected %d, got %llu",
		     NBLOCKS, (unsigned long long)spio_bdev_get_num_blocks(pt));
	cr_assert(
	    memcmp(spio_bdev_get_uuid(pt), spio_bdev_get_uuid(base), sizeof(struct spio_uuid)) != 0,
	    "passthru has a UUID of its own");
	cr_assert(spio_bdev_is_claimed(base), "base claimed after create");
	cr_assert_not(spio_bdev_is_claimed(pt), "passthru itself not claimed");
	expect_stats("PT0", 0, 0, 0, 0, 0, 0);

	cr_assert_eq(passthru_create(NULL, "X", &out), -EINVAL, "NULL base name");
	cr_assert_eq(passthru_create("Malloc0", NULL, &out), -EINVAL, "NULL name");
	cr_assert_eq(passthru_create("Malloc0", "X", NULL), -EINVAL, "NULL out");
	cr_assert_eq(passthru_create("", "X", &out), -EINVAL, "empty base name");
	cr_assert_eq(passthru_create("Malloc0", "", &out), -EINVAL, "empty name");
	cr_assert_eq(passthru_create("Nope", "X", &out), -ENODEV, "missing base");
	cr_assert_eq(passthru_create("Malloc0", "PT0", &out), -EEXIST, "name taken");
	cr_assert_eq(passthru_create("Malloc0", "Malloc0", &out), -EEXIST, "name of the base");
	cr_assert_eq(passthru_create("Malloc0", "PT1", &out), -EPERM,
		     "second passthru on a claimed base");
	cr_assert_null(out, "out untouched on errors");
	cr_assert_null(spio_bdev_get_by_name("X"), "nothing registered by failed creates");
	cr_assert_null(spio_bdev_get_by_name("PT1"), "nothing registered by failed creates");
	cr_assert(spio_bdev_is_claimed(base), "failed creates leave the claim alone");

	cr_assert_eq(passthru_get_stats(NULL, &st), -EINVAL, "get_stats NULL name");
	cr_assert_eq(passthru_get_stats("PT0", NULL), -EINVAL, "get_stats NULL out");
	cr_assert_eq(passthru_get_stats("Nope", &st), -ENODEV, "get_stats unknown");
	cr_assert_eq(passthru_get_stats("Malloc0", &st), -ENODEV, "get_stats of a malloc bdev");
	cr_assert_eq(passthru_delete(NULL, NULL, NULL), -EINVAL, "delete NULL");
	cr_assert_eq(passthru_delete("Nope", NULL, NULL), -ENODEV, "delete unknown");
	cr_assert_eq(passthru_delete("Malloc0", NULL, NULL), -ENODEV, "delete of a malloc bdev");
}

Test(passthru, io_lands_on_base_and_counts)
{
	struct spio_bdev_desc *pd, *bd;
	struct spio_io_channel *pch, *bch;
	struct io_result r = {0};
	uint8_t *buf = spio_dma_zmalloc(NBLOCKS * BS, 4096);
	uint8_t *buf2 = spio_dma_zmalloc(NBLOCKS * BS, 4096);
	uint8_t *zero = spio_dma_zmalloc(NBLOCKS * BS, 4096);
	size_t len = 8 * BS;

	cr_assert(buf != NULL && buf2 != NULL && zero != NULL, "dma buffers");
	make_malloc_and_pt("Malloc0", "PT0");
	cr_assert_eq(spio_bdev_open_ext("PT0", true, event_cb, NULL, &pd), 0, "open PT0 rw");
	cr_assert_eq(spio_bdev_open_ext("Malloc0", false, event_cb, NULL, &bd), 0,
		     "open the claimed base read-only");
	pch = spio_bdev_get_io_channel(pd);
	bch = spio_bdev_get_io_channel(bd);
	cr_assert(pch != NULL && bch != NULL, "channels");

	/* write through PT0, read from the base and through PT0 */
	fill(buf, len, 3);
	DO_IO(spio_bdev_write_blocks(pd, pch, buf, 4, 8, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	DO_IO(spio_bdev_read_blocks(bd, bch, buf2, 4, 8, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(buf, buf2, len) == 0, "data written through PT0 is on the base");
	memset(buf2, 0, len);
	DO_IO(spio_bdev_read_blocks(pd, pch, buf2, 4, 8, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(buf, buf2, len) == 0, "data reads back through PT0");
	expect_stats("PT0", 1, 1, 0, 0, 0, 0);

	/* vectored write at the end of the device */
	{
		struct iovec iov[3] = {{buf, BS}, {buf + BS, 2 * BS}, {buf + 3 * BS, BS}};

		fill(buf, 4 * BS, 9);
		DO_IO(spio_bdev_writev_blocks(pd, pch, iov, 3, NBLOCKS - 4, 4, io_done, &r), &r,
		      SPIO_BDEV_IO_STATUS_SUCCESS);
		DO_IO(spio_bdev_read_blocks(bd, bch, buf2, NBLOCKS - 4, 4, io_done, &r), &r,
		      SPIO_BDEV_IO_STATUS_SUCCESS);
		cr_assert(memcmp(buf, buf2, 4 * BS) == 0, "vectored write landed on the base");
	}
	expect_stats("PT0", 1, 2, 0, 0, 0, 0);

	/* unmap, flush, write_zeroes, reset, compare (match and mismatch), c&w */
	DO_IO(spio_bdev_unmap_blocks(pd, pch, 4, 2, io_done, &r), &r, SPIO_BDEV_IO_STATUS_SUCCESS);
	DO_IO(spio_bdev_read_blocks(bd, bch, buf2, 4, 2, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(buf2, zero, 2 * BS) == 0, "unmap through PT0 zeroed the base");
	DO_IO(spio_bdev_flush_blocks(pd, pch, 0, NBLOCKS, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	DO_IO(spio_bdev_write_zeroes_blocks(pd, pch, 6, 6, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	DO_IO(spio_bdev_read_blocks(bd, bch, buf2, 6, 6, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(buf2, zero, 6 * BS) == 0, "write_zeroes through PT0 zeroed the base");
	DO_IO(spio_bdev_reset(pd, pch, io_done, &r), &r, SPIO_BDEV_IO_STATUS_SUCCESS);
	expect_stats("PT0", 1, 2, 1, 1, 2, 0);

	fill(buf, len, 21);
	DO_IO(spio_bdev_write_blocks(pd, pch, buf, 20, 8, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	DO_IO(spio_bdev_compare_blocks(pd, pch, buf, 20, 8, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	DO_IO(spio_bdev_compare_blocks(pd, pch, zero, 20, 8, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_MISCOMPARE);
	expect_stats("PT0", 1, 3, 1, 1, 3, 1);

	/* compare_and_write: mismatch writes nothing, match writes */
	fill(buf2, len, 77);
	DO_IO(spio_bdev_compare_and_write_blocks(pd, pch, zero, buf2, 20, 1, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_MISCOMPARE);
	DO_IO(spio_bdev_compare_and_write_blocks(pd, pch, buf, buf2, 20, 1, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	memset(buf, 0, BS);
	DO_IO(spio_bdev_read_blocks(bd, bch, buf, 20, 1, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(buf, buf2, BS) == 0, "compare_and_write through PT0 wrote the base");
	expect_stats("PT0", 1, 3, 1, 1, 4, 2);

	/* the base's own I/O is not counted by PT0 (it went around it) */
	expect_stats("PT0", 1, 3, 1, 1, 4, 2);

	/* rejected by the core (out of range): never reaches the module, not counted */
	cr_assert_eq(spio_bdev_read_blocks(pd, pch, buf, NBLOCKS, 1, io_done, &r), -EINVAL,
		     "read past the end: expected -EINVAL");
	expect_stats("PT0", 1, 3, 1, 1, 4, 2);

	spio_put_io_channel(pch);
	spio_put_io_channel(bch);
	spio_bdev_close(pd);
	spio_bdev_close(bd);
	spio_dma_free(buf);
	spio_dma_free(buf2);
	spio_dma_free(zero);
	poll_n(3);
}

Test(passthru, claim_blocks_second_writer)
{
	struct spio_bdev_desc *d = NULL, *d2 = NULL;
	struct spio_bdev *base;
	int rc;

	make_malloc_and_pt("Malloc0", "PT0");
	base = spio_bdev_get_by_name("Malloc0");
	rc = spio_bdev_open_ext("Malloc0", true, event_cb, NULL, &d);
	cr_assert_eq(rc, -EPERM, "writer open of the claimed base: expected -EPERM, got %d", rc);
	cr_assert_null(d, "no descriptor on failure");
	rc = spio_bdev_open_ext("Malloc0", false, event_cb, NULL, &d);
	cr_assert_eq(rc, 0, "reader open of the claimed base: expected 0, got %d", rc);
	rc = spio_bdev_module_claim_bdev(base, NULL, &g_passthru_module);
	cr_assert_eq(rc, -EPERM, "second claim: expected -EPERM, got %d", rc);
	/* the passthru itself is not claimed: several writers may open it */
	cr_assert_eq(spio_bdev_open_ext("PT0", true, event_cb, NULL, &d2), 0, "PT0 writer");
	spio_bdev_close(d2);
	spio_bdev_close(d);
	poll_n(2);
}

Test(passthru, supported_types_follow_base)
{
	struct spio_bdev *nb, *pt, *mpt;
	struct spio_bdev_desc *d;
	struct spio_io_channel *ch;
	struct io_result r = {0};
	uint8_t *buf = spio_dma_zmalloc(BS, 4096);
	int rc;

	cr_assert_eq(fx_null_create("Null0", NULL, NBLOCKS, BS, &nb), 0, "null_create");
	cr_assert_eq(passthru_create("Null0", "PTN", &pt), 0, "passthru on null");
	mpt = make_malloc_and_pt("Malloc0", "PTM");
	for (int t = SPIO_BDEV_IO_TYPE_READ; t < SPIO_BDEV_NUM_IO_TYPES; t++) {
		enum spio_bdev_io_type type = (enum spio_bdev_io_type)t;

		cr_assert_eq(
		    spio_bdev_io_type_supported(pt, type), spio_bdev_io_type_supported(nb, type),
		    "type %d: PTN supported %d, base Null0 %d", t,
		    spio_bdev_io_type_supported(pt, type), spio_bdev_io_type_supported(nb, type));
		cr_assert(spio_bdev_io_type_supported(mpt, type),
			  "type %d: malloc supports all, so does PTM", t);
	}
	cr_assert_not(spio_bdev_io_type_supported(pt, SPIO_BDEV_IO_TYPE_COMPARE),
		      "null has no compare, nor has PTN");

	cr_assert_eq(spio_bdev_open_ext("PTN", true, event_cb, NULL, &d), 0, "open PTN");
	ch = spio_bdev_get_io_channel(d);
	cr_assert_not_null(ch, "PTN channel");
	rc = spio_bdev_compare_blocks(d, ch, buf, 0, 1, io_done, &r);
	cr_assert_eq(rc, -ENOTSUP, "compare on PTN: expected -ENOTSUP, got %d", rc);
	DO_IO(spio_bdev_write_blocks(d, ch, buf, 0, 1, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	expect_stats("PTN", 0, 1, 0, 0, 0, 0);
	spio_put_io_channel(ch);
	spio_bdev_close(d);
	spio_dma_free(buf);
	poll_n(3);
}

Test(passthru, delete_releases_claim)
{
	struct spio_bdev *base, *pt;
	struct spio_bdev_desc *d;
	int deleted = 0, rc;

	make_malloc_and_pt("Malloc0", "PT0");
	base = spio_bdev_get_by_name("Malloc0");
	cr_assert_eq(passthru_delete("PT0", delete_done, &deleted), 0, "passthru_delete");
	cr_assert_eq(passthru_delete("PT0", NULL, NULL), -EBUSY,
		     "second delete while removing: expected -EBUSY");
	wait_flag(&deleted);
	cr_assert_null(spio_bdev_get_by_name("PT0"), "PT0 gone after delete");
	cr_assert_eq(spio_bdev_get_by_name("Malloc0"), base, "base survives");
	cr_assert_not(spio_bdev_is_claimed(base), "claim released by delete");
	rc = spio_bdev_open_ext("Malloc0", true, event_cb, NULL, &d);
	cr_assert_eq(rc, 0, "writer open of the base after delete: expected 0, got %d", rc);
	spio_bdev_close(d);
	/* the base can carry a new passthru, even with the old name */
	cr_assert_eq(passthru_create("Malloc0", "PT0", &pt), 0, "re-create PT0");
	cr_assert(spio_bdev_is_claimed(base), "claimed again");
	poll_n(2);
}

Test(passthru, delete_with_open_descriptor_waits)
{
	struct spio_bdev_desc *d;
	struct spio_io_channel *ch;
	int deleted = 0;

	make_malloc_and_pt("Malloc0", "PT0");
	g_events = 0;
	cr_assert_eq(spio_bdev_open_ext("PT0", true, event_cb, NULL, &d), 0, "open PT0");
	ch = spio_bdev_get_io_channel(d);
	cr_assert_not_null(ch, "PT0 channel");
	cr_assert_eq(passthru_delete("PT0", delete_done, &deleted), 0, "passthru_delete");
	poll_n(5);
	cr_assert_eq(g_events, 1, "REMOVE event on the open descriptor: expected 1, got %d",
		     g_events);
	cr_assert_eq(deleted, 0, "delete waits for the descriptor");
	cr_assert(spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc0")), "still claimed");
	spio_put_io_channel(ch);
	spio_bdev_close(d);
	wait_flag(&deleted);
	cr_assert_not(spio_bdev_is_claimed(spio_bdev_get_by_name("Malloc0")), "released");
}

Test(passthru, base_removal_removes_passthru)
{
	struct spio_bdev_desc *d;
	struct spio_io_channel *ch;
	struct io_result r = {0};
	uint8_t *buf = spio_dma_zmalloc(BS, 4096);
	int deleted = 0;

	/* with a user of the passthru: it gets REMOVE, and both go once it closes */
	make_malloc_and_pt("Malloc0", "PT0");
	g_events = 0;
	cr_assert_eq(spio_bdev_open_ext("PT0", true, event_cb, NULL, &d), 0, "open PT0");
	ch = spio_bdev_get_io_channel(d);
	cr_assert_not_null(ch, "PT0 channel");
	cr_assert_eq(spio_bdev_malloc_delete("Malloc0", delete_done, &deleted), 0,
		     "malloc_delete of the base");
	poll_n(5);
	cr_assert_eq(g_events, 1, "PT0's user got REMOVE: expected 1 event, got %d", g_events);
	cr_assert_eq(deleted, 0, "base waits for the passthru to close it");
	/* the descriptor still works until closed */
	DO_IO(spio_bdev_write_blocks(d, ch, buf, 0, 1, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	spio_put_io_channel(ch);
	spio_bdev_close(d);
	wait_flag(&deleted);
	cr_assert_null(spio_bdev_get_by_name("PT0"), "PT0 gone with its base");
	cr_assert_null(spio_bdev_get_by_name("Malloc0"), "base gone");

	/* without users: both go at once */
	deleted = 0;
	make_malloc_and_pt("Malloc1", "PT1");
	cr_assert_eq(spio_bdev_malloc_delete("Malloc1", delete_done, &deleted), 0,
		     "malloc_delete of the base");
	wait_flag(&deleted);
	cr_assert_null(spio_bdev_get_by_name("PT1"), "PT1 gone with its base");
	cr_assert_null(spio_bdev_get_by_name("Malloc1"), "Malloc1 gone");
	spio_dma_free(buf);
}

Test(passthru, second_thread_has_its_own_channel)
{
	struct spio_bdev_desc *d, *bd;
	struct spio_io_channel *ch, *bch;
	struct spio_thread *prev;
	struct io_result r = {0};
	uint8_t *buf = spio_dma_zmalloc(BS, 4096);
	uint8_t *buf2 = spio_dma_zmalloc(BS, 4096);

	make_malloc_and_pt("Malloc0", "PT0");
	cr_assert_eq(spio_bdev_open_ext("Malloc0", false, event_cb, NULL, &bd), 0, "open base");
	bch = spio_bdev_get_io_channel(bd);
	g_thread2 = spio_thread_create("pt_test2", NULL);
	cr_assert_not_null(g_thread2, "second thread");

	/* open, I/O and close all on the second thread */
	prev = spio_thread_enter(g_thread2);
	cr_assert_eq(spio_bdev_open_ext("PT0", true, event_cb, NULL, &d), 0, "open on thread2");
	ch = spio_bdev_get_io_channel(d);
	cr_assert_not_null(ch, "PT0 channel on thread2");
	fill(buf, BS, 42);
	cr_assert_eq(spio_bdev_write_blocks(d, ch, buf, 7, 1, io_done, &r), 0, "write");
	spio_thread_leave(prev);
	wait_io(&r);
	cr_assert_eq(r.status, SPIO_BDEV_IO_STATUS_SUCCESS, "write from thread2 succeeded");
	r = (struct io_result){0};
	DO_IO(spio_bdev_read_blocks(bd, bch, buf2, 7, 1, io_done, &r), &r,
	      SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(buf, buf2, BS) == 0, "write from thread2 landed on the base");
	expect_stats("PT0", 0, 1, 0, 0, 0, 0);

	prev = spio_thread_enter(g_thread2);
	spio_put_io_channel(ch);
	spio_bdev_close(d);
	spio_thread_leave(prev);
	spio_put_io_channel(bch);
	spio_bdev_close(bd);
	poll_n(5);
	spio_dma_free(buf);
	spio_dma_free(buf2);
}

/*
 * A pool of 2 * NW - 1 bdev_ios: NW writes through PT0 each take one, and
 * the first NW - 1 forwarded base writes the rest, so the last base write
 * gets -ENOMEM. The module parks it on the wait queue, retries it when a
 * bdev_io is freed, and every write completes.
 */
#define NW 4
Test(passthru_pool, base_enomem_waits_and_retries, .fini = teardown)
{
	struct spio_bdev_desc *d;
	struct spio_io_channel *ch;
	struct io_result r[NW] = {0};
	uint8_t *buf;

	init_with_pool(2 * NW - 1, 0, false);
	buf = spio_dma_zmalloc(NW * BS, 4096);
	cr_assert_not_null(buf, "dma buffer");
	make_malloc_and_pt("Malloc0", "PT0");
	cr_assert_eq(spio_bdev_open_ext("PT0", true, event_cb, NULL, &d), 0, "open PT0");
	ch = spio_bdev_get_io_channel(d);
	cr_assert_not_null(ch, "PT0 channel");
	fill(buf, NW * BS, 5);
	for (int i = 0; i < NW; i++) {
		int rc = spio_bdev_write_blocks(d, ch, buf + i * BS, i, 1, io_done, &r[i]);

		cr_assert_eq(rc, 0, "write %d of %d through PT0: expected 0, got %d", i, NW, rc);
	}
	{
		struct io_result extra = {0};
		int rc = spio_bdev_write_blocks(d, ch, buf, 0, 1, io_done, &extra);

		cr_assert_eq(rc, -ENOMEM,
			     "pool exhausted (the last base write is parked): expected -ENOMEM, "
			     "got %d",
			     rc);
	}
	for (int i = 0; i < 100; i++) {
		poll_n(1);
	}
	for (int i = 0; i < NW; i++) {
		cr_assert_eq(r[i].done, 1, "write %d: expected one completion, got %d", i,
			     r[i].done);
		cr_assert(r[i].success, "write %d: expected success", i);
	}
	expect_stats("PT0", 0, NW, 0, 0, 0, 0);
	{
		struct io_result rr = {0};

		static uint8_t expect[NW * BS];

		fill(expect, NW * BS, 5);
		memset(buf, 0, NW * BS);
		DO_IO(spio_bdev_read_blocks(d, ch, buf, 0, NW, io_done, &rr), &rr,
		      SPIO_BDEV_IO_STATUS_SUCCESS);
		cr_assert(memcmp(buf, expect, NW * BS) == 0, "the writes (one retried) all landed");
	}
	spio_put_io_channel(ch);
	spio_bdev_close(d);
	spio_dma_free(buf);
	poll_n(3);
}

static void setup_examine(void)
{
	init_with_pool(1024, 16, true);
}

TestSuite(passthru_examine, .init = setup_examine, .fini = teardown);

/* With examine on, as in an application: the passthru is examined like any
 * bdev, the read comes through it, and the layer finishes with such a read
 * still in flight (PT1, examined as teardown starts). */
Test(passthru_examine, examine_reads_through_the_passthru)
{
	struct passthru_stats st;
	int rc;

	make_malloc_and_pt("Malloc0", "PT0");
	fx_wait_for_examine();
	rc = passthru_get_stats("PT0", &st);
	cr_assert_eq(rc, 0, "passthru_get_stats(PT0): expected 0, got %d", rc);
	cr_assert(st.reads >= 1, "examine's read went through PT0: expected >= 1 read, got %llu",
		  (unsigned long long)st.reads);
	cr_assert(st.writes + st.unmaps + st.flushes + st.other + st.errors == 0,
		  "examine only reads, without errors: got w%llu u%llu f%llu o%llu e%llu",
		  (unsigned long long)st.writes, (unsigned long long)st.unmaps,
		  (unsigned long long)st.flushes, (unsigned long long)st.other,
		  (unsigned long long)st.errors);
	make_malloc_and_pt("Malloc1", "PT1");
	rc = passthru_get_stats("PT1", &st);
	cr_assert(rc == 0 && st.reads == 0, "PT1's examine read still in flight: got rc %d, r%llu",
		  rc, (unsigned long long)st.reads);
}
