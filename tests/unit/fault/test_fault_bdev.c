/*
 * The bdev layer under injected faults: reads, writes, unmaps, flushes and
 * resets on malloc, null, and the error, passthru, split and delay vbdevs
 * stacked on malloc, with mempool gets (bdev_io, thread messages) failing
 * every Nth time or at random; and the create / delete functions behind the
 * RPCs under mempool and DMA faults. Every operation must either fail
 * cleanly (submit returns -ENOMEM, or its one callback reports failure) or
 * succeed with the right data; after disarming, everything works again and
 * no bdev is left half-registered.
 *
 * Found here: a vbdev's base I/O queued with spio_bdev_queue_io_wait() after
 * a failed bdev_io get waited for a free on its thread; with nothing else
 * in flight there none came and the I/O hung (the io_on_* cases on error,
 * passthru, split, delay). The waiters are now also retried by a poller.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../module/bdev/delay/vbdev_delay.h"
#include "../../../module/bdev/split/vbdev_split.h"
#include "env/fault.h"
#include "spio/bdev.h"
#include "spio/bdev_error.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_null.h"
#include "spio/bdev_passthru.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/thread.h"

#define BLOCK 512u
#define NBLOCKS 256u
#define QD 4
#define STEPS 12
#define WAIT_US (5ULL * 1000 * 1000)

static struct spio_thread *g_thread;

static void poll_once(void)
{
	spio_thread_poll(g_thread, 0, 0);
}

/* Poll until *n >= want or 5 s passed: false on timeout (a hang). */
static bool poll_until(const int *n, int want)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(WAIT_US);

	while (*(volatile const int *)n < want) {
		if (spio_get_ticks() > end) {
			return false;
		}
		poll_once();
	}
	return true;
}

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		poll_once();
	}
}

static void done_cb(void *arg)
{
	(*(int *)arg)++;
}

static void setup(void)
{
	struct spio_env_opts eo;

	fault_clear();
	spio_env_opts_init(&eo, sizeof(eo));
	eo.no_huge = true;
	eo.name = "test_fault_bdev";
	cr_assert_eq(spio_env_init(&eo), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_thread = spio_thread_create("fault_bdev", NULL);
	cr_assert_not_null(g_thread);
	spio_set_thread(g_thread);
	cr_assert_eq(spio_bdev_initialize(NULL, NULL, NULL), 0);
}

static void teardown(void)
{
	int done = 0;

	fault_clear();
	cr_assert_eq(spio_bdev_finish(done_cb, &done), 0);
	cr_assert(poll_until(&done, 1), "spio_bdev_finish did not complete");
	spio_thread_exit(g_thread);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_thread); i++) {
		poll_once();
	}
	cr_assert(spio_thread_is_exited(g_thread), "thread still holds channels or messages");
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(fault_bdev, .init = setup, .fini = teardown, .timeout = 60);

static void examine_done(void *arg)
{
	(*(int *)arg)++;
}

static void wait_examine(void)
{
	int done = 0;

	cr_assert_eq(spio_bdev_wait_for_examine(examine_done, &done), 0);
	cr_assert(poll_until(&done, 1), "examine did not finish");
}

static struct spio_bdev *make_malloc(const char *name)
{
	struct spio_bdev_malloc_opts o;
	struct spio_bdev *b = NULL;

	spio_bdev_malloc_opts_init(&o, sizeof(o));
	o.name = name;
	o.num_blocks = NBLOCKS;
	o.block_size = BLOCK;
	cr_assert_eq(spio_bdev_malloc_create(&o, &b, NULL, 0), 0, "malloc %s", name);
	return b;
}

static void ignore_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

/*
 * I/O on one bdev
 */

#define UNKNOWN 0xffffffffu

struct target {
	const char *name;
	bool has_data; /* reads return what was written (not the null bdev) */
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	uint32_t model[NBLOCKS]; /* tag each block holds: 0 zeros, UNKNOWN after a failed write */
	uint8_t *wbuf[QD];
	uint8_t *rbuf[QD];
	uint32_t next_tag;
	uint64_t submits, failed_submits, failed_cbs, oks;
};

struct op {
	int done;
	bool success;
};

static void io_cb(struct spio_bdev_io *io, bool success, void *arg)
{
	struct op *o = arg;

	o->done++;
	o->success = success;
	spio_bdev_free_io(io);
}

static void fill(uint8_t *buf, uint32_t tag)
{
	for (uint32_t i = 0; i < BLOCK; i += 4) {
		memcpy(buf + i, &tag, 4);
	}
}

static void check_block(const struct target *t, const uint8_t *buf, uint64_t blk, const char *when)
{
	uint32_t want = t->model[blk];
	uint32_t got;

	if (!t->has_data || want == UNKNOWN) {
		return;
	}
	for (uint32_t i = 0; i < BLOCK; i += 4) {
		memcpy(&got, buf + i, 4);
		cr_assert_eq(got, want, "%s %s: block %llu byte %u: expected tag %08x, got %08x",
			     t->name, when, (unsigned long long)blk, i, want, got);
	}
}

/* Submit's result: 0 (a callback will come) or -ENOMEM (none will); anything else fails. */
static bool submitted(struct target *t, int rc, const char *what)
{
	t->submits++;
	if (rc == 0) {
		return true;
	}
	cr_assert_eq(rc, -ENOMEM, "%s %s: submit expected 0 or -ENOMEM, got %d", t->name, what, rc);
	t->failed_submits++;
	return false;
}

/* Wait for the callbacks of the ops submitted; each exactly once. */
static void wait_ops(struct target *t, struct op *ops, const bool *sub, int n, const char *what)
{
	for (int i = 0; i < n; i++) {
		if (!sub[i]) {
			cr_assert_eq(ops[i].done, 0, "%s %s: callback after a failed submit",
				     t->name, what);
			continue;
		}
		cr_assert(poll_until(&ops[i].done, 1), "%s %s %d: no completion in 5 s", t->name,
			  what, i);
	}
	poll_n(8);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(ops[i].done, sub[i] ? 1 : 0, "%s %s %d: %d completions, expected %d",
			     t->name, what, i, ops[i].done, sub[i] ? 1 : 0);
		if (sub[i]) {
			if (ops[i].success) {
				t->oks++;
			} else {
				t->failed_cbs++;
			}
		}
	}
}

static void target_open(struct target *t, const char *name, bool has_data)
{
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->has_data = has_data;
	t->next_tag = 1;
	cr_assert_eq(spio_bdev_open_ext(name, true, ignore_event, NULL, &t->desc), 0, "open %s",
		     name);
	t->ch = spio_bdev_get_io_channel(t->desc);
	cr_assert_not_null(t->ch, "channel of %s", name);
	for (int i = 0; i < QD; i++) {
		t->wbuf[i] = spio_dma_malloc(2 * BLOCK, 4096);
		t->rbuf[i] = spio_dma_malloc(2 * BLOCK, 4096);
		cr_assert(t->wbuf[i] != NULL && t->rbuf[i] != NULL);
	}
}

static void target_close(struct target *t)
{
	spio_put_io_channel(t->ch);
	poll_n(10);
	spio_bdev_close(t->desc);
	poll_n(10);
	for (int i = 0; i < QD; i++) {
		spio_dma_free(t->wbuf[i]);
		spio_dma_free(t->rbuf[i]);
	}
}

/* QD writes of 1 or 2 blocks to distinct places, then reads of the same places. */
static void write_read_batch(struct target *t, uint64_t step)
{
	struct op ops[QD];
	bool sub[QD];
	uint64_t blk[QD];
	uint32_t nb[QD];

	for (int i = 0; i < QD; i++) {
		/* distinct and spread: QD slots of NBLOCKS / QD blocks, 2-block writes fit */
		blk[i] = (uint64_t)i * (NBLOCKS / QD) +
			 (step * 7 + (uint64_t)i * 3) % (NBLOCKS / QD - 1);
		nb[i] = (step + (uint64_t)i) % 2 + 1;
	}
	memset(ops, 0, sizeof(ops));
	for (int i = 0; i < QD; i++) {
		uint32_t tag = t->next_tag++;
		fill(t->wbuf[i], tag);
		fill(t->wbuf[i] + BLOCK, tag + 0x10000);
		sub[i] = submitted(t,
				   spio_bdev_write_blocks(t->desc, t->ch, t->wbuf[i], blk[i], nb[i],
							  io_cb, &ops[i]),
				   "write");
		/* a refused write must change nothing; a failed one may have written */
		for (uint32_t k = 0; sub[i] && k < nb[i]; k++) {
			t->model[blk[i] + k] = UNKNOWN;
		}
	}
	wait_ops(t, ops, sub, QD, "write");
	for (int i = 0; i < QD; i++) {
		if (sub[i] && ops[i].success) {
			uint32_t tag;
			memcpy(&tag, t->wbuf[i], 4);
			t->model[blk[i]] = tag;
			if (nb[i] == 2) {
				t->model[blk[i] + 1] = tag + 0x10000;
			}
		}
	}

	memset(ops, 0, sizeof(ops));
	for (int i = 0; i < QD; i++) {
		memset(t->rbuf[i], 0xee, 2 * BLOCK);
		sub[i] = submitted(t,
				   spio_bdev_read_blocks(t->desc, t->ch, t->rbuf[i], blk[i], nb[i],
							 io_cb, &ops[i]),
				   "read");
	}
	wait_ops(t, ops, sub, QD, "read");
	for (int i = 0; i < QD; i++) {
		if (sub[i] && ops[i].success) {
			for (uint32_t k = 0; k < nb[i]; k++) {
				check_block(t, t->rbuf[i] + k * BLOCK, blk[i] + k,
					    "read under faults");
			}
		}
	}
}

/* One unmap, flush or reset (each only where the bdev supports it), alone. */
static void other_op(struct target *t, uint64_t step)
{
	struct spio_bdev *bdev = spio_bdev_desc_get_bdev(t->desc);
	struct op op = {0};
	bool sub;
	uint64_t blk = (step * 37) % NBLOCKS;
	const char *what;
	int rc;

	switch (step % 3) {
	case 0:
		if (!spio_bdev_io_type_supported(bdev, SPIO_BDEV_IO_TYPE_UNMAP)) {
			return;
		}
		what = "unmap";
		rc = spio_bdev_unmap_blocks(t->desc, t->ch, blk, 1, io_cb, &op);
		if (rc == 0) {
			t->model[blk] = UNKNOWN;
		}
		break;
	case 1:
		if (!spio_bdev_io_type_supported(bdev, SPIO_BDEV_IO_TYPE_FLUSH)) {
			return;
		}
		what = "flush";
		rc = spio_bdev_flush_blocks(t->desc, t->ch, 0, NBLOCKS / 2, io_cb, &op);
		break;
	default:
		if (!spio_bdev_io_type_supported(bdev, SPIO_BDEV_IO_TYPE_RESET)) {
			return;
		}
		what = "reset";
		rc = spio_bdev_reset(t->desc, t->ch, io_cb, &op);
		break;
	}
	sub = submitted(t, rc, what);
	wait_ops(t, &op, &sub, 1, what);
	/* malloc zeroes unmapped blocks; the model keeps only what is certain */
	if (sub && op.success && step % 3 == 0 && t->has_data) {
		t->model[blk] = 0;
	}
}

/* With faults off: every known block reads back right; then rewrite and check them all. */
static void verify_all(struct target *t)
{
	struct op op;
	bool sub = true;

	for (uint64_t b = 0; b < NBLOCKS; b++) {
		op = (struct op){0};
		cr_assert_eq(spio_bdev_read_blocks(t->desc, t->ch, t->rbuf[0], b, 1, io_cb, &op), 0,
			     "%s disarmed: read submit failed", t->name);
		wait_ops(t, &op, &sub, 1, "read (disarmed)");
		cr_assert(op.success, "%s disarmed: read of block %llu failed", t->name,
			  (unsigned long long)b);
		check_block(t, t->rbuf[0], b, "read after disarm");
	}
	for (uint64_t b = 0; b < NBLOCKS; b += 5) {
		uint32_t tag = t->next_tag++;
		fill(t->wbuf[0], tag);
		op = (struct op){0};
		cr_assert_eq(spio_bdev_write_blocks(t->desc, t->ch, t->wbuf[0], b, 1, io_cb, &op),
			     0);
		wait_ops(t, &op, &sub, 1, "write (disarmed)");
		cr_assert(op.success, "%s disarmed: write of block %llu failed", t->name,
			  (unsigned long long)b);
		t->model[b] = tag;
		op = (struct op){0};
		cr_assert_eq(spio_bdev_read_blocks(t->desc, t->ch, t->rbuf[0], b, 1, io_cb, &op),
			     0);
		wait_ops(t, &op, &sub, 1, "read (disarmed)");
		cr_assert(op.success);
		check_block(t, t->rbuf[0], b, "write + read after disarm");
	}
	op = (struct op){0};
	if (spio_bdev_io_type_supported(spio_bdev_desc_get_bdev(t->desc),
					SPIO_BDEV_IO_TYPE_RESET)) {
		cr_assert_eq(spio_bdev_reset(t->desc, t->ch, io_cb, &op), 0);
		wait_ops(t, &op, &sub, 1, "reset (disarmed)");
		cr_assert(op.success, "%s disarmed: reset failed", t->name);
	}
}

struct fault_case {
	enum fault_site site;
	struct fault_rule rule;
	uint64_t seed;
};

static const struct fault_case g_io_cases[] = {
    {FAULT_MEMPOOL_GET, {.every = 1}, 1},
    {FAULT_MEMPOOL_GET, {.every = 2}, 1},
    {FAULT_MEMPOOL_GET, {.every = 3}, 1},
    {FAULT_MEMPOOL_GET, {.every = 5}, 1},
    {FAULT_MEMPOOL_GET, {.every = 11}, 1},
    {FAULT_MEMPOOL_GET, {.every = 4, .after = 7}, 1},
    {FAULT_MEMPOOL_GET, {.per_million = 150000}, 1},
    {FAULT_MEMPOOL_GET, {.per_million = 150000}, 2},
    {FAULT_MEMPOOL_GET, {.per_million = 400000}, 3},
    {FAULT_DMA_ALLOC, {.every = 1}, 1},
};

/* Every fault case on one open target; returns the faults injected in all. */
static uint64_t io_sweep(struct target *t)
{
	uint64_t injected = 0;

	for (size_t c = 0; c < sizeof(g_io_cases) / sizeof(g_io_cases[0]); c++) {
		const struct fault_case *fc = &g_io_cases[c];
		uint64_t n;

		fault_set_seed(fc->seed);
		fault_set(fc->site, &fc->rule);
		for (uint64_t step = 0; step < STEPS; step++) {
			write_read_batch(t, step + c * STEPS);
			other_op(t, step + c);
		}
		n = fault_count(fc->site);
		injected += n;
		fault_clear();
		if (fc->site == FAULT_MEMPOOL_GET) {
			cr_assert_gt(n, 0, "%s case %zu: no mempool fault injected", t->name, c);
		}
		verify_all(t);
	}
	cr_assert_gt(t->failed_submits + t->failed_cbs, 0, "%s: no operation failed", t->name);
	cr_assert_gt(t->oks, 0, "%s: no operation succeeded", t->name);
	return injected;
}

static void io_on(const char *name, bool has_data)
{
	static struct target t;

	target_open(&t, name, has_data);
	io_sweep(&t);
	target_close(&t);
}

Test(fault_bdev, io_on_malloc)
{
	make_malloc("M0");
	wait_examine();
	io_on("M0", true);
}

Test(fault_bdev, io_on_null)
{
	struct spio_bdev_null_opts o;
	struct spio_bdev *b;

	spio_bdev_null_opts_init(&o, sizeof(o));
	o.name = "N0";
	o.num_blocks = NBLOCKS;
	o.block_size = BLOCK;
	cr_assert_eq(spio_bdev_null_create(&o, &b, NULL, 0), 0);
	wait_examine();
	io_on("N0", false);
}

Test(fault_bdev, io_on_error_vbdev)
{
	struct spio_bdev *b;

	make_malloc("M1");
	cr_assert_eq(spio_bdev_error_create("M1", NULL, &b), 0);
	wait_examine();
	io_on("EE_M1", true);
}

Test(fault_bdev, io_on_passthru)
{
	struct spio_bdev *b;

	make_malloc("M2");
	cr_assert_eq(spio_bdev_passthru_create("M2", "PT2", NULL, &b), 0);
	wait_examine();
	io_on("PT2", true);
}

Test(fault_bdev, io_on_split)
{
	uint32_t nparts = 0;

	/* two parts of NBLOCKS blocks each */
	struct spio_bdev_malloc_opts o;
	struct spio_bdev *b;

	spio_bdev_malloc_opts_init(&o, sizeof(o));
	o.name = "M3";
	o.num_blocks = 4096;
	o.block_size = BLOCK;
	cr_assert_eq(spio_bdev_malloc_create(&o, &b, NULL, 0), 0);
	cr_assert_eq(vbdev_split_create("M3", 2, 0, &nparts), 0);
	cr_assert_eq(nparts, 2);
	wait_examine();
	io_on("M3p1", true);
}

Test(fault_bdev, io_on_delay)
{
	uint64_t lat[VBDEV_DELAY_NUM_LATENCIES] = {20, 20, 30, 30};
	struct spio_bdev *b;

	make_malloc("M4");
	cr_assert_eq(vbdev_delay_create("M4", "D4", NULL, lat, &b), 0);
	wait_examine();
	io_on("D4", true);
}

/*
 * Create and delete under faults
 */

static int delete_rc;
static int delete_n;
static int g_create_failed, g_delete_failed;

static void delete_cb(void *arg, int rc)
{
	(void)arg;
	delete_rc = rc;
	delete_n++;
}

/* Delete by `fn`; false if the delete was refused or reported an error. */
static bool delete_one(int (*fn)(const char *, spio_bdev_delete_cb, void *), const char *name)
{
	int rc;

	delete_n = 0;
	delete_rc = 0;
	rc = fn(name, delete_cb, NULL);
	if (rc != 0) {
		cr_assert_eq(delete_n, 0, "delete %s: callback after refusal %d", name, rc);
		return false;
	}
	cr_assert(poll_until(&delete_n, 1), "delete %s: no callback in 5 s", name);
	poll_n(10);
	cr_assert_eq(delete_n, 1, "delete %s: %d callbacks", name, delete_n);
	return delete_rc == 0;
}

/* Whether `name` is registered and can be opened and read (disarmed). */
static bool usable(const char *name)
{
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	struct op op = {0};
	void *buf;

	if (spio_bdev_get_by_name(name) == NULL) {
		return false;
	}
	cr_assert_eq(spio_bdev_open_ext(name, false, ignore_event, NULL, &desc), 0,
		     "%s registered but cannot be opened", name);
	ch = spio_bdev_get_io_channel(desc);
	cr_assert_not_null(ch, "%s: no channel", name);
	buf = spio_dma_malloc(BLOCK, 4096);
	cr_assert_eq(spio_bdev_read_blocks(desc, ch, buf, 0, 1, io_cb, &op), 0);
	cr_assert(poll_until(&op.done, 1), "%s: read did not complete", name);
	cr_assert(op.success, "%s: read failed with faults off", name);
	spio_dma_free(buf);
	spio_put_io_channel(ch);
	poll_n(10);
	spio_bdev_close(desc);
	poll_n(10);
	return true;
}

static int split_delete_cb(const char *base, spio_bdev_delete_cb cb, void *arg)
{
	int rc = vbdev_split_delete(base);

	if (rc == 0) {
		cb(arg, 0);
	}
	return rc;
}

static int malloc_delete(const char *n, spio_bdev_delete_cb cb, void *a)
{
	return spio_bdev_malloc_delete(n, cb, a);
}

static int null_delete(const char *n, spio_bdev_delete_cb cb, void *a)
{
	return spio_bdev_null_delete(n, cb, a);
}

static int error_delete(const char *n, spio_bdev_delete_cb cb, void *a)
{
	return spio_bdev_error_delete(n, cb, a);
}

static int passthru_delete(const char *n, spio_bdev_delete_cb cb, void *a)
{
	return spio_bdev_passthru_delete(n, cb, a);
}

static int delay_delete(const char *n, spio_bdev_delete_cb cb, void *a)
{
	return vbdev_delay_delete(n, cb, a);
}

/* Each create either fails (nothing registered) or makes a working bdev. */
static void create_delete_round(const struct fault_case *fc, int round)
{
	uint64_t lat[VBDEV_DELAY_NUM_LATENCIES] = {1, 1, 1, 1};
	struct spio_bdev_malloc_opts mo;
	struct spio_bdev_null_opts no;
	struct spio_bdev *b;
	uint32_t nparts = 0;
	int rc[6];
	static const char *const names[6] = {"FM", "FN", "EE_B1", "PT", "DL", "B4p0"};
	int (*const dels[6])(const char *, spio_bdev_delete_cb,
			     void *) = {malloc_delete,	 null_delete,  error_delete,
					passthru_delete, delay_delete, split_delete_cb};
	const char *del_names[6] = {"FM", "FN", "EE_B1", "PT", "DL", "B4"};

	fault_set_seed(fc->seed);
	fault_set(fc->site, &fc->rule);
	spio_bdev_malloc_opts_init(&mo, sizeof(mo));
	mo.name = "FM";
	mo.num_blocks = NBLOCKS;
	mo.block_size = BLOCK;
	rc[0] = spio_bdev_malloc_create(&mo, &b, NULL, 0);
	spio_bdev_null_opts_init(&no, sizeof(no));
	no.name = "FN";
	no.num_blocks = NBLOCKS;
	no.block_size = BLOCK;
	rc[1] = spio_bdev_null_create(&no, &b, NULL, 0);
	rc[2] = spio_bdev_error_create("B1", NULL, &b);
	rc[3] = spio_bdev_passthru_create("B2", "PT", NULL, &b);
	rc[4] = vbdev_delay_create("B3", "DL", NULL, lat, &b);
	rc[5] = vbdev_split_create("B4", 2, 0, &nparts);
	poll_n(50);
	uint64_t injected = fault_count(fc->site);
	fault_clear();
	wait_examine();

	for (int i = 0; i < 6; i++) {
		cr_assert(rc[i] == 0 || rc[i] == -ENOMEM,
			  "round %d: create %s: expected 0 or -ENOMEM, got %d", round, names[i],
			  rc[i]);
		bool there = usable(names[i]);
		cr_assert_eq(there, rc[i] == 0, "round %d: create %s returned %d but the bdev %s",
			     round, names[i], rc[i], there ? "exists" : "does not exist");
	}

	/* delete what was made, under the same faults */
	fault_set(fc->site, &fc->rule);
	bool deleted[6];
	for (int i = 0; i < 6; i++) {
		deleted[i] = rc[i] == 0 && delete_one(dels[i], del_names[i]);
		g_create_failed += rc[i] != 0;
		g_delete_failed += rc[i] == 0 && !deleted[i];
	}
	poll_n(50);
	injected += fault_count(fc->site);
	fault_clear();
	poll_n(50);
	for (int i = 0; i < 6; i++) {
		if (deleted[i]) {
			cr_assert_null(spio_bdev_get_by_name(names[i]),
				       "round %d: delete of %s reported success, it is still there",
				       round, names[i]);
		} else if (rc[i] == 0) {
			/* a failed delete leaves it usable, or it went anyway: delete it now */
			if (spio_bdev_get_by_name(names[i]) != NULL) {
				cr_assert(usable(names[i]), "round %d: %s half-deleted", round,
					  names[i]);
			}
			(void)delete_one(dels[i], del_names[i]);
			poll_n(50);
		}
		cr_assert_null(spio_bdev_get_by_name(names[i]), "round %d: %s left behind", round,
			       names[i]);
	}
	/* the bases are free again: each vbdev can be made and removed with faults off */
	cr_assert_eq(spio_bdev_error_create("B1", NULL, &b), 0, "round %d: B1 still claimed",
		     round);
	cr_assert(delete_one(error_delete, "EE_B1"));
	cr_assert_eq(spio_bdev_passthru_create("B2", "PT", NULL, &b), 0,
		     "round %d: B2 still claimed or PT configured", round);
	cr_assert(delete_one(passthru_delete, "PT"));
	cr_assert_eq(vbdev_delay_create("B3", "DL", NULL, lat, &b), 0,
		     "round %d: B3 still claimed or DL configured", round);
	cr_assert(delete_one(delay_delete, "DL"));
	cr_assert_eq(vbdev_split_create("B4", 2, 0, &nparts), 0,
		     "round %d: B4 still split or claimed", round);
	cr_assert_eq(vbdev_split_delete("B4"), 0);
	poll_n(100);
	cr_assert_null(spio_bdev_get_by_name("B4p0"), "round %d: split part left", round);
	wait_examine();
	cr_assert(fc->site != FAULT_MEMPOOL_GET || injected > 0 || fc->rule.after > 0,
		  "round %d: no fault injected", round);
}

static const struct fault_case g_create_cases[] = {
    {FAULT_DMA_ALLOC, {.every = 1}, 1},
    {FAULT_DMA_ALLOC, {.every = 2}, 1},
    {FAULT_MEMPOOL_GET, {.every = 1}, 1},
    {FAULT_MEMPOOL_GET, {.every = 2}, 1},
    {FAULT_MEMPOOL_GET, {.every = 3}, 1},
    {FAULT_MEMPOOL_GET, {.every = 5}, 1},
    {FAULT_MEMPOOL_GET, {.every = 7}, 1},
    {FAULT_MEMPOOL_GET, {.per_million = 300000}, 1},
    {FAULT_MEMPOOL_GET, {.per_million = 300000}, 2},
    {FAULT_MEMPOOL_GET, {.per_million = 300000}, 3},
};

Test(fault_bdev, create_and_delete)
{
	make_malloc("B1");
	make_malloc("B2");
	make_malloc("B3");
	{
		struct spio_bdev_malloc_opts o;
		struct spio_bdev *b;

		spio_bdev_malloc_opts_init(&o, sizeof(o));
		o.name = "B4";
		o.num_blocks = 4096;
		o.block_size = BLOCK;
		cr_assert_eq(spio_bdev_malloc_create(&o, &b, NULL, 0), 0);
	}
	wait_examine();
	for (size_t c = 0; c < sizeof(g_create_cases) / sizeof(g_create_cases[0]); c++) {
		create_delete_round(&g_create_cases[c], (int)c);
	}
	/* every:1 on DMA must have made the malloc create fail */
	fault_set(FAULT_DMA_ALLOC, &(struct fault_rule){.every = 1});
	struct spio_bdev_malloc_opts o;
	struct spio_bdev *b = NULL;
	spio_bdev_malloc_opts_init(&o, sizeof(o));
	o.name = "FX";
	o.num_blocks = NBLOCKS;
	o.block_size = BLOCK;
	int rc = spio_bdev_malloc_create(&o, &b, NULL, 0);
	cr_assert_eq(rc, -ENOMEM, "malloc create with DMA failing: expected -ENOMEM, got %d", rc);
	cr_assert_gt(fault_count(FAULT_DMA_ALLOC), 0);
	fault_clear();
	cr_assert_null(spio_bdev_get_by_name("FX"), "failed malloc create left FX registered");
	cr_log_info("create_and_delete: %d creates and %d deletes failed under faults",
		    g_create_failed, g_delete_failed);
	cr_assert_eq(spio_bdev_malloc_create(&o, &b, NULL, 0), 0, "FX with faults off");
	cr_assert(usable("FX"));
}
