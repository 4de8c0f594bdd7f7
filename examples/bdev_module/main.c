/*
 * bdev_module: demo of the passthru example module (passthru.c).
 *
 * Without the app framework: initialise the environment (no hugepages), the
 * thread library and one spio thread that this program polls by hand, then
 * the bdev layer. Create a malloc bdev "Malloc0" and the passthru "PT0" on
 * it; show that the claim keeps other writers off Malloc0; write and read
 * through PT0 (checking the data also reads back from Malloc0), print
 * PT0's counters, delete everything and exit 0 if every step worked.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "passthru.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_module.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/thread.h"

#define BLOCK_SIZE 512
#define NUM_BLOCKS 1024
#define IO_BLOCKS 8
#define NUM_IOS 4

static struct spio_thread *g_thread;

/* Run the thread's messages and pollers until *flag is set (or give up). */
static bool poll_until(const bool *flag)
{
	for (int i = 0; i < 100000 && !*flag; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
	return *flag;
}

struct io_wait {
	bool done;
	bool success;
};

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	struct io_wait *w = cb_arg;

	w->success = success;
	w->done = true;
	spio_bdev_free_io(io);
}

/* Submit one I/O (the submit call's result in rc) and wait for its completion. */
static int wait_io(int rc, struct io_wait *w, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "bdev_module: %s: submit failed: %s\n", what, strerror(-rc));
		return rc;
	}
	if (!poll_until(&w->done) || !w->success) {
		fprintf(stderr, "bdev_module: %s: I/O failed\n", what);
		return -EIO;
	}
	return 0;
}

static void examine_done(void *cb_arg)
{
	*(bool *)cb_arg = true;
}

static void event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)ctx;
	printf("event %d on %s\n", (int)type, spio_bdev_get_name(bdev));
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		buf[i] = (uint8_t)(seed * 31 + i * 7);
	}
}

/* Writes and reads through PT0, each checked against the base Malloc0. */
static int run_io(void)
{
	struct spio_bdev_desc *pt_desc = NULL, *base_desc = NULL;
	struct spio_io_channel *pt_ch = NULL, *base_ch = NULL;
	size_t len = IO_BLOCKS * BLOCK_SIZE;
	uint8_t *wbuf = spio_dma_zmalloc(len, 4096);
	uint8_t *rbuf = spio_dma_zmalloc(len, 4096);
	int rc = -ENOMEM;

	if (wbuf == NULL || rbuf == NULL) {
		goto out;
	}
	rc = spio_bdev_open_ext("PT0", true, event_cb, NULL, &pt_desc);
	if (rc == 0) {
		/* Read-only opens of a claimed bdev are allowed. */
		rc = spio_bdev_open_ext("Malloc0", false, event_cb, NULL, &base_desc);
	}
	if (rc != 0) {
		fprintf(stderr, "bdev_module: open: %s\n", strerror(-rc));
		goto out;
	}
	pt_ch = spio_bdev_get_io_channel(pt_desc);
	base_ch = spio_bdev_get_io_channel(base_desc);
	if (pt_ch == NULL || base_ch == NULL) {
		rc = -errno;
		fprintf(stderr, "bdev_module: get_io_channel: %s\n", strerror(errno));
		goto out;
	}

	for (unsigned i = 0; i < NUM_IOS && rc == 0; i++) {
		uint64_t offset = (uint64_t)i * 100;
		struct io_wait w = {0};

		fill(wbuf, len, i);
		rc = wait_io(
		    spio_bdev_write_blocks(pt_desc, pt_ch, wbuf, offset, IO_BLOCKS, io_done, &w),
		    &w, "write through PT0");
		if (rc != 0) {
			break;
		}
		/* Read back through PT0 ... */
		memset(rbuf, 0, len);
		w = (struct io_wait){0};
		rc = wait_io(
		    spio_bdev_read_blocks(pt_desc, pt_ch, rbuf, offset, IO_BLOCKS, io_done, &w), &w,
		    "read through PT0");
		if (rc == 0 && memcmp(rbuf, wbuf, len) != 0) {
			fprintf(stderr, "bdev_module: data read through PT0 differs\n");
			rc = -EIO;
		}
		if (rc != 0) {
			break;
		}
		/* ... and straight from the base: the data really landed there. */
		memset(rbuf, 0, len);
		w = (struct io_wait){0};
		rc = wait_io(
		    spio_bdev_read_blocks(base_desc, base_ch, rbuf, offset, IO_BLOCKS, io_done, &w),
		    &w, "read from Malloc0");
		if (rc == 0 && memcmp(rbuf, wbuf, len) != 0) {
			fprintf(stderr, "bdev_module: data read from Malloc0 differs\n");
			rc = -EIO;
		}
		if (rc == 0) {
			printf("blocks %3llu..%3llu: written through PT0, read back from PT0 and "
			       "Malloc0\n",
			       (unsigned long long)offset,
			       (unsigned long long)(offset + IO_BLOCKS - 1));
		}
	}
	if (rc == 0) {
		struct io_wait w = {0};

		rc = wait_io(spio_bdev_flush_blocks(pt_desc, pt_ch, 0, NUM_BLOCKS, io_done, &w), &w,
			     "flush through PT0");
	}
	if (rc == 0) {
		struct io_wait w = {0};

		rc = wait_io(spio_bdev_unmap_blocks(pt_desc, pt_ch, 0, IO_BLOCKS, io_done, &w), &w,
			     "unmap through PT0");
	}

out:
	if (pt_ch != NULL) {
		spio_put_io_channel(pt_ch);
	}
	if (base_ch != NULL) {
		spio_put_io_channel(base_ch);
	}
	spio_bdev_close(pt_desc);
	spio_bdev_close(base_desc);
	spio_dma_free(wbuf);
	spio_dma_free(rbuf);
	return rc;
}

static void delete_done(void *cb_arg, int rc)
{
	(void)rc;
	*(bool *)cb_arg = true;
}

static void fini_done(void *cb_arg)
{
	*(bool *)cb_arg = true;
}

static int run_demo(void)
{
	struct spio_bdev_malloc_opts mopts;
	struct spio_bdev *base, *pt;
	char err[256];
	struct spio_bdev_desc *desc;
	struct passthru_stats st, before;
	bool deleted = false, examined;
	int rc;

	spio_bdev_malloc_opts_init(&mopts, sizeof(mopts));
	mopts.name = "Malloc0";
	mopts.num_blocks = NUM_BLOCKS;
	mopts.block_size = BLOCK_SIZE;
	rc = spio_bdev_malloc_create(&mopts, &base, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bdev_module: malloc_create: %s\n", err);
		return rc;
	}
	rc = passthru_create("Malloc0", "PT0", &pt);
	if (rc != 0) {
		fprintf(stderr, "bdev_module: passthru_create: %s\n", strerror(-rc));
		return rc;
	}
	printf("created %s (%s, %llu blocks of %u bytes) on %s (claimed: %s)\n",
	       spio_bdev_get_name(pt), spio_bdev_get_module_name(pt),
	       (unsigned long long)spio_bdev_get_num_blocks(pt), spio_bdev_get_block_size(pt),
	       spio_bdev_get_name(base), spio_bdev_is_claimed(base) ? "yes" : "no");

	/* The claim: a second writer on the base is refused. */
	rc = spio_bdev_open_ext("Malloc0", true, event_cb, NULL, &desc);
	if (rc != -EPERM) {
		fprintf(stderr, "bdev_module: writer open of Malloc0: expected -EPERM, got %d\n",
			rc);
		if (rc == 0) {
			spio_bdev_close(desc);
		}
		return -EIO;
	}
	printf("opening Malloc0 for writing: %s (as expected)\n", strerror(-rc));

	/* Other modules look at a new bdev when it appears (lvol's examine reads its
	 * first block, as SPDK's does): count from after that. */
	examined = false;
	if (spio_bdev_wait_for_examine(examine_done, &examined) != 0 || !poll_until(&examined)) {
		fprintf(stderr, "bdev_module: examine did not finish\n");
		return -EIO;
	}
	rc = passthru_get_stats("PT0", &before);
	if (rc != 0) {
		return rc;
	}
	rc = run_io();
	if (rc != 0) {
		return rc;
	}
	rc = passthru_get_stats("PT0", &st);
	if (rc != 0) {
		return rc;
	}
	st.reads -= before.reads;
	st.writes -= before.writes;
	st.unmaps -= before.unmaps;
	st.flushes -= before.flushes;
	st.other -= before.other;
	st.errors -= before.errors;
	printf("PT0 counters: reads %llu, writes %llu, unmaps %llu, flushes %llu, other %llu, "
	       "errors %llu\n",
	       (unsigned long long)st.reads, (unsigned long long)st.writes,
	       (unsigned long long)st.unmaps, (unsigned long long)st.flushes,
	       (unsigned long long)st.other, (unsigned long long)st.errors);
	if (st.reads != NUM_IOS || st.writes != NUM_IOS || st.unmaps != 1 || st.flushes != 1 ||
	    st.other != 0 || st.errors != 0) {
		fprintf(stderr, "bdev_module: unexpected counters\n");
		return -EIO;
	}

	rc = passthru_delete("PT0", delete_done, &deleted);
	if (rc != 0 || !poll_until(&deleted)) {
		fprintf(stderr, "bdev_module: passthru_delete failed (%d)\n", rc);
		return rc != 0 ? rc : -EIO;
	}
	printf("deleted PT0; Malloc0 claimed: %s\n", spio_bdev_is_claimed(base) ? "yes" : "no");
	return spio_bdev_is_claimed(base) ? -EIO : 0;
}

int main(void)
{
	struct spio_env_opts eopts;
	bool fini = false;
	int rc, rc2;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.name = "bdev_module";
	eopts.no_huge = true;
	rc = spio_env_init(&eopts);
	if (rc != 0) {
		fprintf(stderr, "bdev_module: spio_env_init: %s\n", strerror(-rc));
		return 1;
	}
	rc = spio_thread_lib_init(NULL, 0);
	if (rc != 0) {
		fprintf(stderr, "bdev_module: spio_thread_lib_init: %s\n", strerror(-rc));
		spio_env_fini();
		return 1;
	}
	g_thread = spio_thread_create("main", NULL);
	if (g_thread == NULL) {
		fprintf(stderr, "bdev_module: spio_thread_create failed\n");
		spio_thread_lib_fini();
		spio_env_fini();
		return 1;
	}
	spio_set_thread(g_thread);

	/* Runs every registered module's init, passthru's included (it has none). */
	rc = spio_bdev_initialize(NULL, NULL, NULL);
	if (rc != 0) {
		fprintf(stderr, "bdev_module: spio_bdev_initialize: %s\n", strerror(-rc));
	} else {
		rc = run_demo();
		/* Unregisters whatever is left (Malloc0), newest first. */
		rc2 = spio_bdev_finish(fini_done, &fini);
		if (rc2 != 0 || !poll_until(&fini)) {
			fprintf(stderr, "bdev_module: spio_bdev_finish failed (%d)\n", rc2);
			rc = rc != 0 ? rc : -EIO;
		}
	}

	spio_thread_exit(g_thread);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_thread); i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
	printf("bdev_module: %s\n", rc == 0 ? "done" : "FAILED");
	return rc == 0 ? 0 : 1;
}
