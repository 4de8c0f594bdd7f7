/*
 * LBA range locks on a malloc bdev with two threads (one channel each):
 * writes from the other channel wait while a range is locked, reads and the
 * owner's writes pass, the lock waits for writes in flight, overlapping
 * locks queue, channels created after the lock obey it, argument errors.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "helper_fixture.h"
#include "spio/bdev.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/thread.h"

static struct spio_thread *g_t[2];

static void poll_all(int n)
{
	for (int i = 0; i < n; i++) {
		for (int t = 0; t < 2; t++) {
			struct spio_thread *prev = spio_thread_enter(g_t[t]);
			spio_thread_poll(g_t[t], 0, 0);
			spio_thread_leave(prev);
		}
	}
}

static bool g_fini_done;

static void fini_done(void *arg)
{
	(void)arg;
	g_fini_done = true;
}

static void ev(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

/* per-thread state: descriptor and channel, opened on that thread */
static struct spio_bdev_desc *g_desc[2];
static struct spio_io_channel *g_ch[2];
static uint8_t *g_buf;

static void on(int t)
{
	spio_set_thread(g_t[t]);
}

static void open_on(int t)
{
	on(t);
	cr_assert_eq(spio_bdev_open_ext("Malloc0", true, ev, NULL, &g_desc[t]), 0);
	g_ch[t] = spio_bdev_get_io_channel(g_desc[t]);
	cr_assert_not_null(g_ch[t]);
}

static void setup(void)
{
	struct spio_env_opts eopts;
	struct spio_bdev *b;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	cr_assert_eq(spio_env_init(&eopts), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_t[0] = spio_thread_create("t0", NULL);
	g_t[1] = spio_thread_create("t1", NULL);
	on(0);
	cr_assert_eq(spio_bdev_initialize(NULL, NULL, NULL), 0);
	cr_assert_eq(fx_malloc_create("Malloc0", NULL, 64, 512, &b), 0);
	g_buf = spio_dma_zmalloc(64 * 512, 4096);
	open_on(0);
	open_on(1);
	on(0);
}

static void teardown(void)
{
	for (int t = 0; t < 2; t++) {
		if (g_desc[t] != NULL) {
			on(t);
			spio_put_io_channel(g_ch[t]);
			spio_bdev_close(g_desc[t]);
			g_desc[t] = NULL;
		}
	}
	poll_all(3);
	on(0);
	cr_assert_eq(spio_bdev_finish(fini_done, NULL), 0);
	for (int i = 0; i < 1000 && !g_fini_done; i++) {
		poll_all(1);
	}
	cr_assert(g_fini_done);
	spio_dma_free(g_buf);
	for (int t = 0; t < 2; t++) {
		struct spio_thread *prev = spio_thread_enter(g_t[t]);
		spio_thread_exit(g_t[t]);
		spio_thread_leave(prev);
	}
	for (int i = 0;
	     i < 1000 && !(spio_thread_is_exited(g_t[0]) && spio_thread_is_exited(g_t[1])); i++) {
		poll_all(1);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(g_t[0]);
	spio_thread_destroy(g_t[1]);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(lock, .init = setup, .fini = teardown);

/* an event log to check ordering */
static char g_log[64];

static void logc(char c)
{
	size_t n = strlen(g_log);
	g_log[n] = c;
	g_log[n + 1] = '\0';
}

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	cr_assert(success);
	logc((char)(intptr_t)cb_arg);
	spio_bdev_free_io(io);
}

static void lock_done(void *cb_arg, int status)
{
	cr_assert_eq(status, 0, "lock status: expected 0, got %d", status);
	logc((char)(intptr_t)cb_arg);
}

#define C(x) ((void *)(intptr_t)(x))

Test(lock, blocks_other_writers_until_unlock)
{
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[0], g_ch[0], 10, 10, lock_done, C('L')), 0);
	cr_assert_str_eq(g_log, "", "lock callback not before return");
	poll_all(3);
	cr_assert_str_eq(g_log, "L");

	on(1);
	cr_assert_eq(spio_bdev_write_blocks(g_desc[1], g_ch[1], g_buf, 15, 2, io_done, C('w')), 0);
	cr_assert_eq(spio_bdev_write_blocks(g_desc[1], g_ch[1], g_buf, 30, 2, io_done, C('x')), 0);
	cr_assert_eq(spio_bdev_read_blocks(g_desc[1], g_ch[1], g_buf, 12, 2, io_done, C('r')), 0);
	cr_assert_eq(spio_bdev_unmap_blocks(g_desc[1], g_ch[1], 19, 1, io_done, C('u')), 0);
	on(0);
	cr_assert_eq(spio_bdev_write_blocks(g_desc[0], g_ch[0], g_buf, 10, 1, io_done, C('o')), 0);
	poll_all(5);
	cr_assert_eq(strlen(g_log), 4, "L + x, r, o done, got %s", g_log);
	cr_assert(strchr(g_log, 'x') && strchr(g_log, 'r') && strchr(g_log, 'o'),
		  "reads, the owner's writes and non-overlapping writes pass, got %s", g_log);
	cr_assert(!strchr(g_log, 'w') && !strchr(g_log, 'u'),
		  "overlapping writes of the other channel wait, got %s", g_log);

	cr_assert_eq(spio_bdev_unlock_lba_range(g_desc[0], g_ch[0], 10, 10, lock_done, C('U')), 0);
	poll_all(5);
	cr_assert_eq(strlen(g_log), 7, "held writes run at unlock, got %s", g_log);
	cr_assert(strchr(g_log, 'w') && strchr(g_log, 'u') && strchr(g_log, 'U'), "got %s", g_log);
}

Test(lock, waits_for_writes_in_flight)
{
	on(1);
	cr_assert_eq(spio_bdev_write_blocks(g_desc[1], g_ch[1], g_buf, 0, 4, io_done, C('w')), 0);
	on(0);
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[0], g_ch[0], 2, 4, lock_done, C('L')), 0);
	poll_all(5);
	cr_assert_str_eq(g_log, "wL", "the lock waits for the write in flight, got %s", g_log);
	cr_assert_eq(spio_bdev_unlock_lba_range(g_desc[0], g_ch[0], 2, 4, lock_done, C('U')), 0);
	poll_all(3);
	cr_assert_str_eq(g_log, "wLU");
}

Test(lock, overlapping_locks_queue)
{
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[0], g_ch[0], 0, 10, lock_done, C('A')), 0);
	on(1);
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[1], g_ch[1], 5, 10, lock_done, C('B')), 0);
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[1], g_ch[1], 40, 5, lock_done, C('C')), 0);
	poll_all(5);
	cr_assert(strcmp(g_log, "AC") == 0 || strcmp(g_log, "CA") == 0,
		  "B waits for A, C does not; got %s", g_log);
	cr_assert_eq(spio_bdev_unlock_lba_range(g_desc[1], g_ch[1], 5, 10, lock_done, C('X')),
		     -EINVAL, "B not granted yet");
	on(0);
	cr_assert_eq(spio_bdev_unlock_lba_range(g_desc[0], g_ch[0], 0, 10, lock_done, C('a')), 0);
	poll_all(5);
	cr_assert_eq(strlen(g_log), 4, "A released and B granted: %s", g_log);
	cr_assert_eq(g_log[3], 'B', "B granted after A's unlock: %s", g_log);
	on(1);
	cr_assert_eq(spio_bdev_unlock_lba_range(g_desc[1], g_ch[1], 5, 10, lock_done, C('b')), 0);
	cr_assert_eq(spio_bdev_unlock_lba_range(g_desc[1], g_ch[1], 40, 5, lock_done, C('c')), 0);
	poll_all(5);
	cr_assert_eq(strlen(g_log), 6, "all released: %s", g_log);
}

Test(lock, new_channel_obeys_existing_lock)
{
	on(1);
	spio_put_io_channel(g_ch[1]);
	poll_all(3);
	on(0);
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[0], g_ch[0], 0, 8, lock_done, C('L')), 0);
	poll_all(3);
	on(1);
	g_ch[1] = spio_bdev_get_io_channel(g_desc[1]);
	cr_assert_eq(spio_bdev_write_zeroes_blocks(g_desc[1], g_ch[1], 4, 1, io_done, C('z')), 0);
	poll_all(3);
	cr_assert_str_eq(g_log, "L", "write on the new channel waits, got %s", g_log);
	on(0);
	cr_assert_eq(spio_bdev_unlock_lba_range(g_desc[0], g_ch[0], 0, 8, lock_done, C('U')), 0);
	poll_all(5);
	cr_assert(strcmp(g_log, "LUz") == 0 || strcmp(g_log, "LzU") == 0, "got %s", g_log);
}

Test(lock, bad_arguments)
{
	cr_assert_eq(spio_bdev_lock_lba_range(NULL, g_ch[0], 0, 1, lock_done, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[0], NULL, 0, 1, lock_done, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[0], g_ch[0], 0, 1, NULL, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[0], g_ch[0], 0, 0, lock_done, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[0], g_ch[0], 60, 5, lock_done, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[0], g_ch[0], 1, UINT64_MAX, lock_done, NULL),
		     -EINVAL);
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[0], g_ch[1], 0, 1, lock_done, NULL), -EINVAL,
		     "channel of another thread");
	cr_assert_eq(spio_bdev_unlock_lba_range(g_desc[0], g_ch[0], 0, 1, lock_done, NULL), -EINVAL,
		     "nothing locked");
	cr_assert_eq(spio_bdev_lock_lba_range(g_desc[0], g_ch[0], 0, 4, lock_done, C('L')), 0);
	poll_all(3);
	cr_assert_eq(spio_bdev_unlock_lba_range(g_desc[0], g_ch[0], 0, 3, lock_done, NULL), -EINVAL,
		     "other range");
	on(1);
	cr_assert_eq(spio_bdev_unlock_lba_range(g_desc[1], g_ch[1], 0, 4, lock_done, NULL), -EINVAL,
		     "not the owner");
	on(0);
	cr_assert_eq(spio_bdev_unlock_lba_range(g_desc[0], g_ch[0], 0, 4, lock_done, C('U')), 0);
	poll_all(3);
	cr_assert_str_eq(g_log, "LU");
}
