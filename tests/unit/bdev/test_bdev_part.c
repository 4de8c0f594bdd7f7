/*
 * Bdev parts: ranges of a claimed base forwarded at their offset, bounds
 * and claim checks, delete and release, and a hot-removed base taking its
 * parts with it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev.h"
#include "spio/bdev_module.h"
#include "spio/env.h"
#include "spio/thread.h"

#define BLOCKS 64
#define BS 512

static struct spio_thread *g_t;

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		spio_thread_poll(g_t, 0, 0);
	}
}

/* The base: a RAM disk of its own module. */
static uint8_t g_ram[BLOCKS * BS];
static struct spio_bdev_module g_ram_mod = {.name = "part_ram"};

static void ram_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	uint8_t *p = g_ram + io->u.offset_blocks * BS;

	(void)ch;
	for (int i = 0; i < io->u.iovcnt; i++) {
		if (io->type == SPIO_BDEV_IO_TYPE_READ) {
			memcpy(io->u.iovs[i].iov_base, p, io->u.iovs[i].iov_len);
		} else {
			memcpy(p, io->u.iovs[i].iov_base, io->u.iovs[i].iov_len);
		}
		p += io->u.iovs[i].iov_len;
	}
	spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_SUCCESS);
}

static bool ram_supported(void *ctxt, enum spio_bdev_io_type type)
{
	(void)ctxt;
	return type == SPIO_BDEV_IO_TYPE_READ || type == SPIO_BDEV_IO_TYPE_WRITE;
}

static int ram_destruct(void *ctxt)
{
	(void)ctxt;
	return 0;
}

static const struct spio_bdev_fn_table g_ram_fn = {
    .destruct = ram_destruct, .submit_request = ram_submit, .io_type_supported = ram_supported};
static struct spio_bdev g_base;

/* The module that cuts it into parts. */
static size_t part_ctx_size(void)
{
	return spio_bdev_part_io_ctx_size();
}

static struct spio_bdev_module g_part_mod = {.name = "part_test", .get_ctx_size = part_ctx_size};
static struct spio_bdev_module g_small_mod = {.name = "part_small"};
SPIO_BDEV_MODULE_REGISTER(g_ram_mod)
SPIO_BDEV_MODULE_REGISTER(g_part_mod)
SPIO_BDEV_MODULE_REGISTER(g_small_mod)

static int g_removed, g_freed;

static void base_removed(struct spio_bdev_part_base *base, void *ctx)
{
	(void)ctx;
	g_removed++;
	spio_bdev_part_base_release(base);
}

static void base_freed(void *ctx)
{
	(void)ctx;
	g_freed++;
}

static void setup(void)
{
	struct spio_env_opts eopts;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	cr_assert_eq(spio_env_init(&eopts), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_t = spio_thread_create("part", NULL);
	spio_set_thread(g_t);
	cr_assert_eq(spio_bdev_initialize(NULL, NULL, NULL), 0);
	memset(&g_base, 0, sizeof(g_base));
	g_base.name = "Base0";
	g_base.blocklen = BS;
	g_base.blockcnt = BLOCKS;
	g_base.module = &g_ram_mod;
	g_base.fn_table = &g_ram_fn;
	cr_assert_eq(spio_bdev_register(&g_base), 0);
	memset(g_ram, 0, sizeof(g_ram));
	g_removed = g_freed = 0;
}

static bool g_fini;

static void fini_done(void *arg)
{
	(void)arg;
	g_fini = true;
}

static void teardown(void)
{
	g_fini = false;
	cr_assert_eq(spio_bdev_finish(fini_done, NULL), 0);
	for (int i = 0; i < 100000 && !g_fini; i++) {
		poll_n(1);
	}
	cr_assert(g_fini);
	spio_thread_exit(g_t);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_t); i++) {
		poll_n(1);
	}
	spio_thread_destroy(g_t);
	spio_set_thread(NULL);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(bdev_part, .init = setup, .fini = teardown, .timeout = 60);

static void ev(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	int *removes = ctx;

	(void)bdev;
	if (type == SPIO_BDEV_EVENT_REMOVE && removes != NULL) {
		(*removes)++;
	}
}

static int g_done;
static bool g_ok;

static void io_done(struct spio_bdev_io *io, bool success, void *arg)
{
	(void)arg;
	g_ok = success;
	spio_bdev_free_io(io);
	g_done++;
}

/* Write or read one block of bdev `name` at `block`, synchronously. */
static void rw(const char *name, bool write, uint64_t block, uint8_t *buf)
{
	struct spio_bdev_desc *d;
	struct spio_io_channel *ch;
	int rc;

	cr_assert_eq(spio_bdev_open_ext(name, write, ev, NULL, &d), 0, "open %s", name);
	ch = spio_bdev_get_io_channel(d);
	cr_assert_not_null(ch);
	g_done = 0;
	rc = write ? spio_bdev_write_blocks(d, ch, buf, block, 1, io_done, NULL)
		   : spio_bdev_read_blocks(d, ch, buf, block, 1, io_done, NULL);
	cr_assert_eq(rc, 0);
	for (int i = 0; i < 1000 && g_done == 0; i++) {
		poll_n(1);
	}
	cr_assert(g_done == 1 && g_ok, "%s block %lu of %s failed", write ? "write" : "read",
		  (unsigned long)block, name);
	spio_put_io_channel(ch);
	spio_bdev_close(d);
	poll_n(3);
}

Test(bdev_part, ranges_are_forwarded_at_their_offset)
{
	struct spio_bdev_part_base *base;
	struct spio_bdev_part *p0, *p1;
	static uint8_t buf[BS] __attribute__((aligned(64)));
	struct spio_bdev_desc *d;

	cr_assert_eq(
	    spio_bdev_part_base_create("Base0", &g_part_mod, base_removed, base_freed, NULL, &base),
	    0);
	cr_assert_eq(spio_bdev_part_base_get_bdev(base), &g_base);
	cr_assert_eq(spio_bdev_part_create(base, "Base0p0", 0, 32, "Split Disk", &p0), 0);
	cr_assert_eq(spio_bdev_part_create(base, "Base0p1", 32, 32, "Split Disk", &p1), 0);
	cr_assert_eq(spio_bdev_get_num_blocks(spio_bdev_part_get_bdev(p1)), 32);
	cr_assert_eq(spio_bdev_part_get_offset_blocks(p1), 32);
	cr_assert_eq(spio_bdev_part_get_base(p1), base);

	memset(buf, 0xab, BS);
	rw("Base0p1", true, 5, buf);
	cr_assert_eq(g_ram[(32 + 5) * BS], 0xab, "block 5 of part 1 is block 37 of the base");
	cr_assert_eq(g_ram[5 * BS], 0, "part 0's block 5 untouched");
	g_ram[3 * BS] = 0x5c;
	memset(buf, 0, BS);
	rw("Base0p0", false, 3, buf);
	cr_assert_eq(buf[0], 0x5c);

	/* the base is claimed: no other writer, no second base on it */
	cr_assert_eq(spio_bdev_open_ext("Base0", true, ev, NULL, &d), -EPERM);
	struct spio_bdev_part_base *other;
	cr_assert_eq(spio_bdev_part_base_create("Base0", &g_part_mod, NULL, NULL, NULL, &other),
		     -EPERM);
	spio_bdev_part_base_release(base);
	poll_n(3);
	cr_assert_eq(g_freed, 0, "parts still hold the base");
	/* teardown's finish unregisters the parts, then the base is freed */
}

Test(bdev_part, bad_arguments)
{
	struct spio_bdev_part_base *base;
	struct spio_bdev_part *p;

	cr_assert_eq(spio_bdev_part_base_create("Nope", &g_part_mod, NULL, NULL, NULL, &base),
		     -ENODEV);
	cr_assert_eq(spio_bdev_part_base_create("Base0", &g_small_mod, NULL, NULL, NULL, &base),
		     -EINVAL, "a module without room for the part's I/O context");
	cr_assert_eq(spio_bdev_part_base_create(NULL, &g_part_mod, NULL, NULL, NULL, &base),
		     -EINVAL);
	cr_assert_eq(
	    spio_bdev_part_base_create("Base0", &g_part_mod, NULL, base_freed, NULL, &base), 0);
	cr_assert_eq(spio_bdev_part_create(base, "X", 60, 5, "x", &p), -EINVAL, "past the end");
	cr_assert_eq(spio_bdev_part_create(base, "X", 64, 1, "x", &p), -EINVAL);
	cr_assert_eq(spio_bdev_part_create(base, "X", 0, 0, "x", &p), -EINVAL);
	cr_assert_eq(spio_bdev_part_create(base, "Base0", 0, 1, "x", &p), -EEXIST, "a taken name");
	cr_assert_eq(spio_bdev_part_create(base, "X", 0, 64, "x", &p), 0, "the whole base");
	cr_assert_eq(spio_bdev_part_delete(p, NULL, NULL), 0);
	poll_n(10);
	cr_assert_null(spio_bdev_get_by_name("X"));
	cr_assert_eq(g_freed, 0);
	spio_bdev_part_base_release(base);
	poll_n(10);
	cr_assert_eq(g_freed, 1, "no part and no creator: the base is freed");
	/* and unclaimed: a writer may open it now */
	struct spio_bdev_desc *d;
	cr_assert_eq(spio_bdev_open_ext("Base0", true, ev, NULL, &d), 0);
	spio_bdev_close(d);
	poll_n(3);
}

Test(bdev_part, a_removed_base_takes_its_parts)
{
	struct spio_bdev_part_base *base;
	struct spio_bdev_part *p0, *p1;
	struct spio_bdev_desc *d;
	int removes = 0;
	bool gone = false;

	cr_assert_eq(
	    spio_bdev_part_base_create("Base0", &g_part_mod, base_removed, base_freed, NULL, &base),
	    0);
	cr_assert_eq(spio_bdev_part_create(base, "P0", 0, 16, "x", &p0), 0);
	cr_assert_eq(spio_bdev_part_create(base, "P1", 16, 16, "x", &p1), 0);
	cr_assert_eq(spio_bdev_open_ext("P1", false, ev, &removes, &d), 0);
	cr_assert_eq(spio_bdev_unregister(&g_base, NULL, NULL), 0);
	for (int i = 0; i < 100 && removes == 0; i++) {
		poll_n(1);
	}
	cr_assert_eq(removes, 1, "an opener of a part hears of the removal");
	cr_assert_eq(g_removed, 1, "the module hears of it");
	for (int i = 0; i < 100 && spio_bdev_get_by_name("P0") != NULL; i++) {
		poll_n(1);
	}
	cr_assert_null(spio_bdev_get_by_name("P0"), "an unopened part goes at once");
	spio_bdev_close(d);
	for (int i = 0; i < 100 && !gone; i++) {
		poll_n(1);
		gone = spio_bdev_get_by_name("Base0") == NULL;
	}
	cr_assert(gone, "the base finishes its removal once the parts are gone");
	cr_assert_eq(g_freed, 1);
}
