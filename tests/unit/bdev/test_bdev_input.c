/*
 * Careless or hostile input to the bdev modules (issue 17, items 1, 3, 6):
 * files that cannot back a bdev (a FIFO, /dev/null, a /proc file) refused at
 * once and for what they are, sizes JSON cannot carry refused by name, the
 * listing and save_config still readable afterwards, file names with
 * control characters escaped in log lines, and one file behind two bdevs
 * reported.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "helper_fixture.h"
#include "spio/bdev.h"
#include "spio/bdev_aio.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_null.h"
#include "spio/bdev_uring.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/rpc.h"

/* A create that blocked in open() would hang here: the suite's timeout fails it. */
#define CREATE_MAX_NS (2ULL * 1000 * 1000 * 1000)

#define CAP_LINES 32
#define CAP_LEN 1024

/* Log lines as the sink got them. */
static struct {
	pthread_mutex_t lock;
	int count;
	char lines[CAP_LINES][CAP_LEN];
} g_cap = {.lock = PTHREAD_MUTEX_INITIALIZER};

static char g_dir[256];

static void capture_sink(enum spio_log_level level, const char *line, void *ctx)
{
	(void)level;
	(void)ctx;
	pthread_mutex_lock(&g_cap.lock);
	if (g_cap.count < CAP_LINES) {
		snprintf(g_cap.lines[g_cap.count], CAP_LEN, "%s", line);
	}
	g_cap.count++;
	pthread_mutex_unlock(&g_cap.lock);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	fx_init("bdev_input");
	snprintf(g_dir, sizeof(g_dir), "%s/spio_input_XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/var/tmp");
	cr_assert_not_null(mkdtemp(g_dir), "mkdtemp %s: %s", g_dir, strerror(errno));
	g_cap.count = 0;
	spio_log_set_sink(capture_sink, NULL);
}

static void teardown(void)
{
	char cmd[300];

	spio_log_set_sink(NULL, NULL);
	fx_fini();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

TestSuite(bdev_input, .init = setup, .fini = teardown, .timeout = 60);

/*
 * Helpers
 */

static const char *path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", g_dir, name);
	return buf;
}

static void make_file(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	cr_assert_eq(ftruncate(fd, size), 0, "truncate %s: %s", path, strerror(errno));
	close(fd);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Create an aio or uring bdev; the message lands in err. */
static int file_create(const char *module, const char *name, const char *filename, bool direct,
		       bool readonly, char *err, size_t len)
{
	struct spio_bdev *bdev;

	if (strcmp(module, "aio") == 0) {
		struct spio_bdev_aio_opts o;

		spio_bdev_aio_opts_init(&o, sizeof(o));
		o.name = name;
		o.filename = filename;
		o.direct = direct;
		o.readonly = readonly;
		return spio_bdev_aio_create(&o, &bdev, err, len);
	}
	struct spio_bdev_uring_opts o;

	spio_bdev_uring_opts_init(&o, sizeof(o));
	o.name = name;
	o.filename = filename;
	o.direct = direct;
	o.readonly = readonly;
	return spio_bdev_uring_create(&o, &bdev, err, len);
}

/*
 * Every combination of module, direct and readonly must fail with `rc` at
 * once, the message naming the file and containing `want`, never blaming
 * O_DIRECT; no bdev is left behind.
 */
static void expect_refused(const char *filename, int rc, const char *want)
{
	static const char *const modules[] = {"aio", "uring"};

	for (size_t m = 0; m < 2; m++) {
		for (int i = 3; i >= 0; i--) { /* read-only first: it blocked */
			bool direct = i & 1, readonly = i & 2;
			char err[512] = "";
			uint64_t t0 = now_ns();
			int got = file_create(modules[m], "Bad", filename, direct, readonly, err,
					      sizeof(err));
			uint64_t dt = now_ns() - t0;

			cr_assert_eq(got, rc,
				     "%s %s direct=%d readonly=%d: expected %d, got %d (%s)",
				     modules[m], filename, direct, readonly, rc, got, err);
			cr_assert_lt(dt, CREATE_MAX_NS, "%s %s: took %llu ms, expected at once",
				     modules[m], filename, (unsigned long long)(dt / 1000000));
			cr_assert(strstr(err, filename) != NULL && strstr(err, want) != NULL,
				  "%s direct=%d readonly=%d: expected a message naming %s and "
				  "saying '%s', got '%s'",
				  modules[m], direct, readonly, filename, want, err);
			cr_assert(strstr(err, "O_DIRECT") == NULL,
				  "%s %s: the message must not blame O_DIRECT: '%s'", modules[m],
				  filename, err);
			cr_assert_null(spio_bdev_get_by_name("Bad"), "a failed create left a bdev");
		}
	}
}

/* True if a captured log line contains `text`. */
static bool log_has(const char *text)
{
	bool found = false;

	pthread_mutex_lock(&g_cap.lock);
	for (int i = 0; i < g_cap.count && i < CAP_LINES; i++) {
		found = found || strstr(g_cap.lines[i], text) != NULL;
	}
	pthread_mutex_unlock(&g_cap.lock);
	return found;
}

/* bdev_get_bdevs and save_config's bdev entries, written and read back by jansson. */
static void expect_listing_readable(void)
{
	json_t *list = fx_rpc("bdev_get_bdevs", NULL, 0, NULL);
	size_t i;
	json_t *b;

	cr_assert_not_null(list, "bdev_get_bdevs must answer");
	json_array_foreach(list, i, b)
	{
		struct spio_bdev *bdev =
		    spio_bdev_get_by_name(json_string_value(json_object_get(b, "name")));
		json_t *e;

		cr_assert_not_null(bdev, "bdev_get_bdevs lists a bdev that does not exist");
		/* fx_config_entry parses the entry: NULL if a number did not fit */
		e = fx_config_entry(bdev);
		cr_assert_not_null(e, "save_config entry of %s: not readable JSON",
				   spio_bdev_get_name(bdev));
		json_decref(e);
	}
	json_decref(list);
}

/*
 * Item 1 and 6: files that are not storage
 */

Test(bdev_input, fifo_refused_at_once)
{
	char fifo[300];

	cr_assert_eq(mkfifo(path_of(fifo, sizeof(fifo), "f"), 0600), 0, "mkfifo: %s",
		     strerror(errno));
	expect_refused(fifo, -EINVAL, "is a FIFO, not a regular file or block device");
	/* The thread still serves: an RPC answers. */
	json_decref(fx_rpc("bdev_get_bdevs", NULL, 0, NULL));
}

Test(bdev_input, fifo_by_rpc_answers_at_once)
{
	char fifo[300], params[512];

	cr_assert_eq(mkfifo(path_of(fifo, sizeof(fifo), "f"), 0600), 0);
	snprintf(params, sizeof(params),
		 "{\"name\": \"F1\", \"filename\": \"%s\", \"readonly\": true}", fifo);
	cr_assert_null(fx_rpc_text("bdev_aio_create", params, -EINVAL, "is a FIFO"));
	cr_assert_null(fx_rpc_text("bdev_uring_create", params, -EINVAL, "is a FIFO"));
}

Test(bdev_input, dev_null_is_a_character_device)
{
	expect_refused("/dev/null", -EINVAL, "is a character device, not a regular file");
}

Test(bdev_input, proc_file_is_a_kernel_interface)
{
	expect_refused("/proc/version", -EINVAL, "procfs file");
}

Test(bdev_input, directory_still_eisdir)
{
	char dir[300];

	cr_assert_eq(mkdir(path_of(dir, sizeof(dir), "d"), 0755), 0);
	expect_refused(dir, -EISDIR, "is a directory, not a regular file or block device");
}

Test(bdev_input, regular_file_still_opens_without_o_nonblock)
{
	char path[300], err[256] = "";
	struct spio_bdev *bdev;
	json_t *b, *dup;

	make_file(path_of(path, sizeof(path), "ok.img"), 1 << 20);
	cr_assert_eq(file_create("aio", "A0", path, false, false, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(file_create("uring", "U0", path, false, true, err, sizeof(err)), 0, "%s", err);
	bdev = spio_bdev_get_by_name("A0");
	cr_assert_not_null(bdev);
	cr_assert_eq(spio_bdev_get_num_blocks(bdev), 2048, "1 MiB of 512-byte blocks, got %llu",
		     (unsigned long long)spio_bdev_get_num_blocks(bdev));
	b = fx_rpc("bdev_get_bdevs", json_pack("{s:s}", "name", "U0"), 0, NULL);
	dup = json_object_get(
	    json_object_get(json_object_get(json_array_get(b, 0), "driver_specific"), "uring"),
	    "readonly");
	cr_assert(json_is_true(dup), "U0 is read-only");
	json_decref(b);
}

/*
 * Item 3: sizes the stack cannot carry
 */

Test(bdev_input, null_size_beyond_int64_refused_by_name)
{
	struct spio_bdev *bdev;
	char err[256] = "";
	int rc;

	/* jansson reads no integer past INT64_MAX: the decoder takes big ones as strings */
	cr_assert_null(fx_rpc_text("bdev_null_create",
				   "{\"name\": \"N1\", \"num_blocks\": \"18446744073709551615\", "
				   "\"block_size\": 512}",
				   -EINVAL, "num_blocks 18446744073709551615"));
	cr_assert_null(spio_bdev_get_by_name("N1"), "refused create left a bdev");
	/* The first count past INT64_MAX bytes, and the last one within. */
	rc = fx_null_create("N2", NULL, (uint64_t)INT64_MAX / 4096 + 1, 4096, &bdev);
	cr_assert_eq(rc, -EINVAL, "one block past INT64_MAX bytes: expected -EINVAL, got %d", rc);
	rc = fx_null_create("N3", NULL, (uint64_t)INT64_MAX / 4096, 4096, &bdev);
	cr_assert_eq(rc, 0, "INT64_MAX bytes rounded down to whole blocks: expected 0, got %d", rc);
	/* Listing and saving still work for everyone. */
	expect_listing_readable();

	struct spio_bdev_null_opts o;

	spio_bdev_null_opts_init(&o, sizeof(o));
	o.name = "N4";
	o.num_blocks = UINT64_MAX / 512 + 1; /* times 512 wraps to 0 */
	o.block_size = 512;
	rc = spio_bdev_null_create(&o, &bdev, err, sizeof(err));
	cr_assert_eq(rc, -EINVAL, "a size that wraps: expected -EINVAL, got %d", rc);
	cr_assert(strstr(err, "num_blocks") != NULL && strstr(err, "N4") != NULL,
		  "expected the message to name num_blocks and the bdev, got '%s'", err);
}

Test(bdev_input, null_resize_beyond_int64_refused)
{
	struct spio_bdev *bdev;

	cr_assert_eq(fx_null_create("N1", NULL, 2048, 512, &bdev), 0);
	cr_assert_eq(spio_bdev_null_resize("N1", ((uint64_t)INT64_MAX >> 20) + 1), -EINVAL,
		     "a size past INT64_MAX bytes must be refused");
	cr_assert_eq(spio_bdev_get_num_blocks(bdev), 2048, "a refused resize changed the size");
	expect_listing_readable();
}

Test(bdev_input, malloc_size_beyond_int64_refused_by_name)
{
	cr_assert_null(fx_rpc_text("bdev_malloc_create",
				   "{\"name\": \"M1\", \"num_blocks\": \"18446744073709551615\", "
				   "\"block_size\": 4096}",
				   -EINVAL, "num_blocks"));
	cr_assert_null(spio_bdev_get_by_name("M1"));
}

/* Item 6: SPDK answers a bare "Invalid argument"; the message names the parameter. */
Test(bdev_input, malloc_bad_geometry_names_the_parameter)
{
	cr_assert_null(fx_rpc_text("bdev_malloc_create",
				   "{\"name\": \"M1\", \"num_blocks\": 8, \"block_size\": 513}",
				   -EINVAL, "block_size 513"));
	cr_assert_null(fx_rpc_text("bdev_malloc_create",
				   "{\"name\": \"M1\", \"num_blocks\": 0, \"block_size\": 512}",
				   -EINVAL, "num_blocks 0"));
	cr_assert_null(fx_rpc_text("bdev_null_create",
				   "{\"name\": \"N1\", \"num_blocks\": 0, \"block_size\": 512}",
				   -EINVAL, "num_blocks 0"));
}

/*
 * Item 6: log lines
 */

Test(bdev_input, control_characters_in_a_file_name_are_escaped_in_the_log)
{
	char path[300], name[400], err[512];
	int lines;

	path_of(path, sizeof(path), "x");
	snprintf(name, sizeof(name), "%s\n[2026-01-01 00:00:00.000000] error: forged\r\x1b[31m",
		 path);
	cr_assert_eq(file_create("aio", "L0", name, false, false, err, sizeof(err)), -ENOENT,
		     "expected -ENOENT for a missing file, got '%s'", err);
	lines = g_cap.count;
	cr_assert_eq(lines, 1, "expected one log line for one error, got %d", lines);
	cr_assert(strchr(g_cap.lines[0], '\n') == NULL && strchr(g_cap.lines[0], '\r') == NULL &&
		      strchr(g_cap.lines[0], '\x1b') == NULL,
		  "control characters must be escaped in the line, got '%s'", g_cap.lines[0]);
	cr_assert(strstr(g_cap.lines[0], "x\\n[2026-01-01") != NULL &&
		      strstr(g_cap.lines[0], "forged\\r\\x1b[31m") != NULL,
		  "expected \\n, \\r and \\x1b written out, got '%s'", g_cap.lines[0]);
	/* The answer itself keeps the name as given: JSON escapes it on the wire. */
	cr_assert(strchr(err, '\n') != NULL, "the error message keeps the name as it is");
}

Test(bdev_input, tabs_and_utf8_stay_and_the_trailing_newline_goes)
{
	SPIO_WARNLOG("a\tb \xc3\xa9 end\n");
	cr_assert_eq(g_cap.count, 1);
	cr_assert(strstr(g_cap.lines[0], "a\tb \xc3\xa9 end") != NULL,
		  "tabs and UTF-8 must pass unchanged, got '%s'", g_cap.lines[0]);
	cr_assert(strstr(g_cap.lines[0], "\\n") == NULL,
		  "the one trailing newline is the line end, not escaped: '%s'", g_cap.lines[0]);
}

/*
 * Item 6: one file behind two bdevs (SPDK allows it: a warning)
 */

Test(bdev_input, one_file_behind_two_bdevs_is_reported)
{
	char path[300], other[300], link[300], err[256] = "";

	make_file(path_of(path, sizeof(path), "shared.img"), 1 << 20);
	make_file(path_of(other, sizeof(other), "other.img"), 1 << 20);
	cr_assert_eq(symlink(path, path_of(link, sizeof(link), "link.img")), 0);

	cr_assert_eq(file_create("aio", "R0", path, false, true, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(file_create("uring", "R1", path, false, true, err, sizeof(err)), 0, "%s", err);
	cr_assert(!log_has("is also the file of"),
		  "two read-only bdevs on one file are harmless: expected no warning");
	cr_assert_eq(file_create("aio", "O0", other, false, false, err, sizeof(err)), 0, "%s", err);
	cr_assert(!log_has("is also the file of"), "a different file: expected no warning");

	/* The same file by another name, writable: allowed, with a warning naming both. */
	cr_assert_eq(file_create("uring", "W0", link, false, false, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert(log_has("uring bdev W0") && log_has("is also the file of aio bdev R0") &&
		      log_has("is also the file of uring bdev R1"),
		  "expected a warning naming W0, R0 and R1, got %d lines, first '%s'", g_cap.count,
		  g_cap.lines[0]);
}
