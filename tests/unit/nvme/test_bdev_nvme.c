/*
 * The nvme bdev module against the fake NVMe/TCP target (helper_fake_target):
 * the RPCs (attach, get_controllers, detach; their refusals), the bdevs'
 * geometry, I/O of every type through the bdev API, save_config, namespace
 * hot add / remove, and losing the target: I/O fails or waits as the
 * reconnect options say, and works again once the controller is back. Then
 * bdev_nvme_set_options: the values that take effect, the refused ones, the
 * rule that no controller may be attached, and its save_config entry.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/json_val_internal.h"
#include "spio/bdev.h"
#include "spio/bdev_module.h"
#include "spio/bdev_nvme.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/rpc.h"
#include "spio/thread.h"

#include "../../../module/bdev/nvme/bdev_nvme_internal.h"
#include "helper_fake_target.h"
#include "helper_bdev_io.h"
#include "helper_nvme_wait.h"

#define NS_SIZE (64ull * 1024 * 1024)
#define BLOCK 512u

static struct spio_thread *g_thread;
/* A second spio thread, polled with the first, for tests with two channels. */
static struct spio_thread *g_thread2;
static struct fake_target *g_ft;
static uint16_t g_port;

/*
 * Set-up: env, one spio thread, the bdev layer, RPC state runtime, a fake
 * target with one namespace.
 */

static void start_target(uint32_t num_ns, uint16_t port)
{
	struct fake_target_opts fo;

	fake_target_opts_init(&fo);
	fo.num_namespaces = num_ns;
	fo.port = port;
	g_ft = fake_target_start(&fo);
	cr_assert_not_null(g_ft, "fake target did not start on port %u", port);
	g_port = fake_target_port(g_ft);
}

/* One round of the waits' polling (helper_nvme_wait): every thread. */
static void poll_test_threads(void)
{
	struct spio_thread *t[] = {g_thread, g_thread2};

	poll_threads(t, 2);
}

static void setup(void)
{
	struct spio_env_opts eo;

	spio_env_opts_init(&eo, sizeof(eo));
	eo.name = "test_bdev_nvme";
	eo.no_huge = true;
	cr_assert_eq(spio_env_init(&eo), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_thread = spio_thread_create("bdev_nvme_test", NULL);
	cr_assert_not_null(g_thread);
	spio_set_thread(g_thread);
	wait_set_poll(poll_test_threads);
	cr_assert_eq(spio_bdev_initialize(NULL, NULL, NULL), 0);
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
	start_target(1, 0);
}

static uint64_t deadline(uint32_t ms)
{
	return spio_get_ticks() + (uint64_t)ms * spio_get_ticks_hz() / 1000;
}

static bool flag_set(void *arg)
{
	return *(volatile int *)arg != 0;
}

static void finish_done(void *arg)
{
	*(int *)arg = 1;
}

static void exit_thread(struct spio_thread *t)
{
	spio_thread_exit(t);
	for (uint64_t limit = deadline(WAIT_MS); !spio_thread_is_exited(t);) {
		cr_assert(spio_get_ticks() < limit, "thread %s did not exit",
			  spio_thread_get_name(t));
		poll_all();
	}
}

static void teardown(void)
{
	int done = 0;

	spio_set_thread(g_thread);
	cr_assert_eq(spio_bdev_finish(finish_done, &done), 0);
	cr_assert(poll_until(flag_set, &done), "spio_bdev_finish did not complete");
	if (g_thread2 != NULL) {
		exit_thread(g_thread2);
		spio_thread_destroy(g_thread2);
		g_thread2 = NULL;
	}
	exit_thread(g_thread);
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
	fake_target_stop(g_ft);
	g_ft = NULL;
}

TestSuite(bdev_nvme, .init = setup, .fini = teardown, .timeout = 180);

/*
 * RPC calls
 */

struct rpc_result {
	int done;
	int code;
	char msg[512];
	json_t *result;
};

static void rpc_cb(void *ctx, int code, const char *msg, const struct spio_json_val *result)
{
	struct rpc_result *r = ctx;
	json_t *j = json_val_to_jansson(result);

	r->done = 1;
	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", msg != NULL ? msg : "");
	r->result = j != NULL ? json_incref(j) : NULL;
}

/*
 * Call `method` with `params` (JSON text, NULL: none) on the test thread;
 * expect the code `code` (0: success) and, unless NULL, a message containing
 * `want`. Returns the result (the caller's reference; NULL for an error).
 */
static json_t *rpc(const char *method, const char *params, int code, const char *want)
{
	struct rpc_result r = {0};
	json_t *p = NULL;

	if (params != NULL) {
		p = json_loads(params, 0, NULL);
		cr_assert_not_null(p, "bad test JSON: %s", params);
	}
	spio_set_thread(g_thread);
	cr_assert_eq(spio_rpc_call(method, json_val_from_jansson(p), rpc_cb, &r), 0);
	cr_assert(poll_until(flag_set, &r.done), "%s: no answer within %d ms", method, WAIT_MS);
	cr_assert_eq(r.code, code, "%s %s: expected code %d, got %d (%s)", method,
		     params != NULL ? params : "", code, r.code, r.msg);
	if (want != NULL) {
		cr_assert(strstr(r.msg, want) != NULL, "%s %s: message '%s' should mention '%s'",
			  method, params != NULL ? params : "", r.msg, want);
	}
	json_decref(p);
	return r.result;
}

/* bdev_nvme_attach_controller of `name` to the fake, with more params (",..." or ""). */
static json_t *attach_rpc(const char *name, const char *extra, int code, const char *want)
{
	char params[1024];

	snprintf(params, sizeof(params),
		 "{\"name\": \"%s\", \"trtype\": \"tcp\", \"adrfam\": \"ipv4\", "
		 "\"traddr\": \"127.0.0.1\", \"trsvcid\": \"%u\", \"subnqn\": \"%s\"%s}",
		 name, g_port, FAKE_TARGET_SUBNQN, extra);
	return rpc("bdev_nvme_attach_controller", params, code, want);
}

/* Attach `name` expecting success and the bdev names `want` (a JSON array). */
static void attach(const char *name, const char *extra, const char *want)
{
	json_t *res = attach_rpc(name, extra, 0, NULL);
	json_t *exp = json_loads(want, 0, NULL);
	char *got = json_dumps(res, JSON_COMPACT);

	cr_assert(json_equal(res, exp), "attach %s: expected %s, got %s", name, want, got);
	free(got);
	json_decref(exp);
	json_decref(res);
}

static void detach(const char *name)
{
	char params[128];
	json_t *res;

	snprintf(params, sizeof(params), "{\"name\": \"%s\"}", name);
	res = rpc("bdev_nvme_detach_controller", params, 0, NULL);
	cr_assert(json_is_true(res), "detach %s: expected true", name);
	json_decref(res);
}

/* The one element of bdev_nvme_get_controllers' reply for `name`'s ctrlrs[0]. */
static json_t *ctrlr_info(const char *name)
{
	char params[128];
	json_t *res, *c;

	snprintf(params, sizeof(params), "{\"name\": \"%s\"}", name);
	res = rpc("bdev_nvme_get_controllers", params, 0, NULL);
	cr_assert(json_is_array(res) && json_array_size(res) == 1, "get_controllers %s", name);
	c = json_incref(json_array_get(json_object_get(json_array_get(res, 0), "ctrlrs"), 0));
	json_decref(res);
	cr_assert_not_null(c, "get_controllers %s: no ctrlrs[0]", name);
	return c;
}

static char *ctrlr_state(const char *name)
{
	json_t *c = ctrlr_info(name);
	char *s = strdup(json_string_value(json_object_get(c, "state")));

	json_decref(c);
	return s;
}

static void expect_state(const char *name, const char *want)
{
	char *got = ctrlr_state(name);
	bool eq = strcmp(got, want) == 0;

	cr_assert(eq, "controller %s: expected state %s, got %s", name, want, got);
	free(got);
}

/*
 * Bdev I/O
 */

struct handle {
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	struct spio_thread *thread;
	int removed; /* SPIO_BDEV_EVENT_REMOVE seen */
};

static void event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	struct handle *h = ctx;

	(void)bdev;
	if (type == SPIO_BDEV_EVENT_REMOVE) {
		h->removed++;
	}
}

/* Open `name` read-write on `thread` and get its channel there. */
static void open_on(struct handle *h, const char *name, struct spio_thread *thread)
{
	int rc;

	memset(h, 0, sizeof(*h));
	h->thread = thread;
	spio_set_thread(thread);
	rc = spio_bdev_open_ext(name, true, event_cb, h, &h->desc);
	cr_assert_eq(rc, 0, "open %s: %d", name, rc);
	h->ch = spio_bdev_get_io_channel(h->desc);
	cr_assert_not_null(h->ch, "channel of %s", name);
	spio_set_thread(g_thread);
}

static void open_bdev(struct handle *h, const char *name)
{
	open_on(h, name, g_thread);
}

static void close_bdev(struct handle *h)
{
	spio_set_thread(h->thread);
	spio_put_io_channel(h->ch);
	spio_bdev_close(h->desc);
	spio_set_thread(g_thread);
	memset(h, 0, sizeof(*h));
}

enum op { OP_READ, OP_WRITE, OP_UNMAP, OP_ZEROES, OP_FLUSH, OP_COMPARE, OP_RESET };

/* Start one I/O on h's thread; `io` gets the result. */
static void start_io(struct handle *h, enum op op, void *buf, uint64_t lba, uint64_t n,
		     struct test_io *io)
{
	int rc = -1;

	memset(io, 0, sizeof(*io));
	spio_set_thread(h->thread);
	switch (op) {
	case OP_READ:
		rc = spio_bdev_read_blocks(h->desc, h->ch, buf, lba, n, test_io_cb, io);
		break;
	case OP_WRITE:
		rc = spio_bdev_write_blocks(h->desc, h->ch, buf, lba, n, test_io_cb, io);
		break;
	case OP_UNMAP:
		rc = spio_bdev_unmap_blocks(h->desc, h->ch, lba, n, test_io_cb, io);
		break;
	case OP_ZEROES:
		rc = spio_bdev_write_zeroes_blocks(h->desc, h->ch, lba, n, test_io_cb, io);
		break;
	case OP_FLUSH:
		rc = spio_bdev_flush_blocks(h->desc, h->ch, lba, n, test_io_cb, io);
		break;
	case OP_COMPARE:
		rc = spio_bdev_compare_blocks(h->desc, h->ch, buf, lba, n, test_io_cb, io);
		break;
	case OP_RESET:
		rc = spio_bdev_reset(h->desc, h->ch, test_io_cb, io);
		break;
	}
	spio_set_thread(g_thread);
	cr_assert_eq(rc, 0, "submit of op %d at %lu: %d", op, (unsigned long)lba, rc);
}

static enum spio_bdev_io_status wait_io(struct test_io *io, const char *what)
{
	cr_assert(poll_until(flag_set, &io->done), "%s: no completion within %d ms", what, WAIT_MS);
	cr_assert_eq(io->done, 1, "%s: completed %d times", what, io->done);
	return io->status;
}

/* One I/O, waited for; returns its status. */
static enum spio_bdev_io_status do_io(struct handle *h, enum op op, void *buf, uint64_t lba,
				      uint64_t n)
{
	struct test_io io;

	start_io(h, op, buf, lba, n, &io);
	return wait_io(&io, "I/O");
}

static void expect_io(struct handle *h, enum op op, void *buf, uint64_t lba, uint64_t n,
		      enum spio_bdev_io_status want)
{
	enum spio_bdev_io_status got = do_io(h, op, buf, lba, n);

	cr_assert_eq(got, want, "op %d at block %lu (%lu blocks): expected status %d, got %d", op,
		     (unsigned long)lba, (unsigned long)n, want, got);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
	}
}

static bool all_zero(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != 0) {
			return false;
		}
	}
	return true;
}

/* Write a pattern at `lba`, read it back through the bdev and the fake's memory. */
static void roundtrip(struct handle *h, uint32_t nsid, uint64_t lba, uint64_t n, unsigned seed)
{
	size_t len = n * BLOCK;
	uint8_t *w = malloc(len), *r = malloc(len);

	cr_assert(w != NULL && r != NULL);
	fill(w, len, seed);
	expect_io(h, OP_WRITE, w, lba, n, SPIO_BDEV_IO_STATUS_SUCCESS);
	memset(r, 0xAA, len);
	expect_io(h, OP_READ, r, lba, n, SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(w, r, len) == 0, "read back of %lu blocks at %lu differs",
		  (unsigned long)n, (unsigned long)lba);
	memset(r, 0xAA, len);
	cr_assert_eq(fake_target_ns_read(g_ft, nsid, lba * BLOCK, r, len), 0);
	cr_assert(memcmp(w, r, len) == 0, "the target holds other data at block %lu",
		  (unsigned long)lba);
	free(w);
	free(r);
}

/* I/O until one succeeds (the controller is back), within WAIT_MS. */
static void wait_io_works(struct handle *h)
{
	uint8_t buf[BLOCK];
	uint64_t limit = deadline(WAIT_MS);

	while (do_io(h, OP_READ, buf, 0, 1) != SPIO_BDEV_IO_STATUS_SUCCESS) {
		cr_assert(spio_get_ticks() < limit, "I/O did not work again within %d ms", WAIT_MS);
		poll_all();
	}
}

static bool bdev_present(void *name)
{
	return spio_bdev_get_by_name(name) != NULL;
}

static bool bdev_absent(void *name)
{
	return spio_bdev_get_by_name(name) == NULL;
}

static bool no_controllers(void *arg)
{
	json_t *res;
	bool empty;

	(void)arg;
	res = rpc("bdev_nvme_get_controllers", NULL, 0, NULL);
	empty = json_array_size(res) == 0;
	json_decref(res);
	return empty;
}

static void stop_target(void);
static void restart_target(void);

/*
 * Attach and the bdevs
 */

Test(bdev_nvme, attach_creates_one_bdev_per_namespace_with_its_geometry)
{
	struct spio_bdev *b1, *b2;
	struct spio_uuid zero = {0};

	cr_assert_eq(fake_target_add_ns(g_ft, 2, 16u << 20), 0);
	attach("Nvme0", "", "[\"Nvme0n1\", \"Nvme0n2\"]");
	b1 = spio_bdev_get_by_name("Nvme0n1");
	b2 = spio_bdev_get_by_name("Nvme0n2");
	cr_assert(b1 != NULL && b2 != NULL, "both bdevs registered");
	cr_assert_str_eq(spio_bdev_get_module_name(b1), "nvme");
	cr_assert_str_eq(spio_bdev_get_product_name(b1), "NVMe disk");
	cr_assert_eq(spio_bdev_get_block_size(b1), BLOCK);
	cr_assert_eq(spio_bdev_get_num_blocks(b1), NS_SIZE / BLOCK, "Nvme0n1: %lu blocks",
		     (unsigned long)spio_bdev_get_num_blocks(b1));
	cr_assert_eq(spio_bdev_get_num_blocks(b2), (16u << 20) / BLOCK, "Nvme0n2: %lu blocks",
		     (unsigned long)spio_bdev_get_num_blocks(b2));
	cr_assert(spio_uuid_compare(&b1->uuid, &zero) != 0, "UUID from the namespace");
	cr_assert(spio_uuid_compare(&b1->uuid, &b2->uuid) != 0, "each namespace its own UUID");
	for (int t = SPIO_BDEV_IO_TYPE_READ; t < SPIO_BDEV_NUM_IO_TYPES; t++) {
		bool want = t != SPIO_BDEV_IO_TYPE_COMPARE_AND_WRITE;

		cr_assert_eq(spio_bdev_io_type_supported(b1, t), want, "I/O type %d: expected %d",
			     t, want);
	}
}

Test(bdev_nvme, the_uuid_stays_across_a_detach_and_attach)
{
	struct spio_uuid first;

	attach("Nvme0", "", "[\"Nvme0n1\"]");
	first = spio_bdev_get_by_name("Nvme0n1")->uuid;
	detach("Nvme0");
	cr_assert_null(spio_bdev_get_by_name("Nvme0n1"), "bdev gone after detach");
	attach("Nvme1", "", "[\"Nvme1n1\"]");
	cr_assert(spio_uuid_compare(&first, &spio_bdev_get_by_name("Nvme1n1")->uuid) == 0,
		  "the namespace's UUID (NGUID), not a random one");
}

Test(bdev_nvme, write_read_back_in_every_size_and_vectored)
{
	static struct handle h;
	struct fake_target_stats before, after;
	uint8_t *w = malloc(3 * 4096), *r = malloc(3 * 4096);
	struct iovec wv[3] = {{w, 512}, {w + 512, 4096 - 512}, {w + 4096, 8192}};
	struct iovec rv[2] = {{r, 1024}, {r + 1024, 3 * 4096 - 1024}};
	struct test_io io;
	int rc;

	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	roundtrip(&h, 1, 0, 1, 1);
	roundtrip(&h, 1, 100, 8, 2);
	fake_target_get_stats(g_ft, &before);
	/* 1 MiB: more than MDTS (128 KiB), split by the core into 8 commands. */
	roundtrip(&h, 1, 4096, 2048, 3);
	fake_target_get_stats(g_ft, &after);
	cr_assert_geq(after.io_cmds[SPIO_NVME_OPC_WRITE] - before.io_cmds[SPIO_NVME_OPC_WRITE], 8,
		      "1 MiB write in commands of at most 128 KiB");
	roundtrip(&h, 1, NS_SIZE / BLOCK - 16, 16, 4);

	fill(w, 3 * 4096, 5);
	memset(r, 0, 3 * 4096);
	spio_set_thread(g_thread);
	rc = spio_bdev_writev_blocks(h.desc, h.ch, wv, 3, 64, 24, test_io_cb, &io);
	cr_assert_eq(rc, 0);
	memset(&io, 0, sizeof(io));
	cr_assert_eq(wait_io(&io, "writev"), SPIO_BDEV_IO_STATUS_SUCCESS);
	rc = spio_bdev_readv_blocks(h.desc, h.ch, rv, 2, 64, 24, test_io_cb, &io);
	cr_assert_eq(rc, 0);
	memset(&io, 0, sizeof(io));
	cr_assert_eq(wait_io(&io, "readv"), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(w, r, 3 * 4096) == 0, "vectored write read back vectored");
	close_bdev(&h);
	free(w);
	free(r);
}

Test(bdev_nvme, unmap_write_zeroes_and_flush)
{
	static struct handle h;
	struct fake_target_stats before, after;
	size_t len = 64 * BLOCK;
	uint8_t *buf = malloc(len), *big = malloc(8192);

	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	roundtrip(&h, 1, 1000, 64, 7);
	expect_io(&h, OP_UNMAP, NULL, 1000, 32, SPIO_BDEV_IO_STATUS_SUCCESS);
	memset(buf, 0xAA, len);
	expect_io(&h, OP_READ, buf, 1000, 64, SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(all_zero(buf, 32 * BLOCK), "unmapped blocks read back as zeroes");
	cr_assert(!all_zero(buf + 32 * BLOCK, 32 * BLOCK), "the blocks after were kept");

	roundtrip(&h, 1, 2000, 64, 8);
	expect_io(&h, OP_ZEROES, NULL, 2010, 10, SPIO_BDEV_IO_STATUS_SUCCESS);
	expect_io(&h, OP_READ, buf, 2000, 64, SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(!all_zero(buf, 10 * BLOCK) && all_zero(buf + 10 * BLOCK, 10 * BLOCK) &&
		      !all_zero(buf + 20 * BLOCK, 10 * BLOCK),
		  "write_zeroes zeroed exactly blocks 2010..2019");

	/* The whole namespace: more blocks than one Write Zeroes command carries. */
	roundtrip(&h, 1, NS_SIZE / BLOCK - 8, 8, 9);
	fake_target_get_stats(g_ft, &before);
	expect_io(&h, OP_ZEROES, NULL, 0, NS_SIZE / BLOCK, SPIO_BDEV_IO_STATUS_SUCCESS);
	fake_target_get_stats(g_ft, &after);
	cr_assert_eq(after.io_cmds[SPIO_NVME_OPC_WRITE_ZEROES] -
			 before.io_cmds[SPIO_NVME_OPC_WRITE_ZEROES],
		     NS_SIZE / BLOCK / 65536, "write_zeroes of %llu blocks in commands of 65536",
		     NS_SIZE / BLOCK);
	cr_assert_eq(fake_target_ns_read(g_ft, 1, NS_SIZE - 8192, big, 8192), 0);
	cr_assert(all_zero(big, 8192), "the last blocks are zero");

	expect_io(&h, OP_FLUSH, NULL, 0, NS_SIZE / BLOCK, SPIO_BDEV_IO_STATUS_SUCCESS);
	close_bdev(&h);
	free(buf);
	free(big);
}

Test(bdev_nvme, compare_matches_and_miscompares)
{
	static struct handle h;
	uint8_t *w = malloc(8 * BLOCK), *c = malloc(8 * BLOCK);
	struct iovec cv[2] = {{c, 3 * BLOCK}, {c + 3 * BLOCK, 5 * BLOCK}};
	struct test_io io;

	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	fill(w, 8 * BLOCK, 11);
	expect_io(&h, OP_WRITE, w, 40, 8, SPIO_BDEV_IO_STATUS_SUCCESS);
	memcpy(c, w, 8 * BLOCK);
	expect_io(&h, OP_COMPARE, c, 40, 8, SPIO_BDEV_IO_STATUS_SUCCESS);
	c[7 * BLOCK + 3] ^= 1;
	expect_io(&h, OP_COMPARE, c, 40, 8, SPIO_BDEV_IO_STATUS_MISCOMPARE);

	/* Vectored: gathered into one buffer for the controller. */
	memset(&io, 0, sizeof(io));
	cr_assert_eq(spio_bdev_comparev_blocks(h.desc, h.ch, cv, 2, 40, 8, test_io_cb, &io), 0);
	cr_assert_eq(wait_io(&io, "comparev"), SPIO_BDEV_IO_STATUS_MISCOMPARE);
	c[7 * BLOCK + 3] ^= 1;
	memset(&io, 0, sizeof(io));
	cr_assert_eq(spio_bdev_comparev_blocks(h.desc, h.ch, cv, 2, 40, 8, test_io_cb, &io), 0);
	cr_assert_eq(wait_io(&io, "comparev"), SPIO_BDEV_IO_STATUS_SUCCESS);
	close_bdev(&h);
	free(w);
	free(c);
}

/* Status word of FAULT_STATUS: generic, LBA out of range; with DNR when `dnr`. */
#define STATUS_LBA_OUT_OF_RANGE(dnr) (0x80u | ((dnr) ? 1u << 16 : 0))

Test(bdev_nvme, a_status_from_the_controller_fails_the_io)
{
	static struct handle h;
	uint8_t buf[BLOCK];

	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	/* With Do Not Retry: an error at once, not a miscompare. */
	cr_assert_eq(fake_target_inject(g_ft, FAULT_STATUS, STATUS_LBA_OUT_OF_RANGE(true)), 0);
	expect_io(&h, OP_READ, buf, 0, 1, SPIO_BDEV_IO_STATUS_FAILED);
	expect_io(&h, OP_READ, buf, 0, 1, SPIO_BDEV_IO_STATUS_SUCCESS);
	expect_state("Nvme0", "enabled");
	close_bdev(&h);
}

/*
 * The RPCs' replies and save_config
 */

Test(bdev_nvme, get_controllers_has_spdks_shape)
{
	json_t *res, *c, *trid, *host;
	char port[8];

	attach("Nvme0", "", "[\"Nvme0n1\"]");
	res = rpc("bdev_nvme_get_controllers", NULL, 0, NULL);
	cr_assert(json_is_array(res) && json_array_size(res) == 1, "one controller");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 0), "name")),
			 "Nvme0");
	cr_assert_eq(json_object_size(json_array_get(res, 0)), 2, "name and ctrlrs only");
	json_decref(res);

	c = ctrlr_info("Nvme0");
	cr_assert_str_eq(json_string_value(json_object_get(c, "state")), "enabled");
	cr_assert_geq(json_integer_value(json_object_get(c, "cntlid")), 1);
	trid = json_object_get(c, "trid");
	snprintf(port, sizeof(port), "%u", g_port);
	cr_assert_str_eq(json_string_value(json_object_get(trid, "trtype")), "TCP");
	cr_assert_str_eq(json_string_value(json_object_get(trid, "adrfam")), "IPv4");
	cr_assert_str_eq(json_string_value(json_object_get(trid, "traddr")), "127.0.0.1");
	cr_assert_str_eq(json_string_value(json_object_get(trid, "trsvcid")), port);
	cr_assert_str_eq(json_string_value(json_object_get(trid, "subnqn")), FAKE_TARGET_SUBNQN);
	cr_assert_eq(json_object_size(trid), 5);
	host = json_object_get(c, "host");
	cr_assert(strncmp(json_string_value(json_object_get(host, "nqn")), "nqn.2014-08.", 12) == 0,
		  "the host NQN in effect");
	cr_assert_str_eq(json_string_value(json_object_get(host, "addr")), "");
	cr_assert_str_eq(json_string_value(json_object_get(host, "svcid")), "");
	json_decref(c);

	rpc("bdev_nvme_get_controllers", "{\"name\": \"Nvme9\"}", -EINVAL,
	    "Controller Nvme9 does not exist");
	rpc("bdev_nvme_get_controllers", "{\"nme\": \"Nvme0\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	    "nme");
}

static int append(void *ctx, const void *data, size_t size)
{
	char **s = ctx;
	size_t old = *s != NULL ? strlen(*s) : 0;
	char *n = realloc(*s, old + size + 1);

	if (n == NULL) {
		return -ENOMEM;
	}
	memcpy(n + old, data, size);
	n[old + size] = '\0';
	*s = n;
	return 0;
}

/* The module's save_config entries, as a JSON array. */
static json_t *module_config(void)
{
	struct spio_bdev_module *m = spio_bdev_module_find("nvme");
	char *text = NULL;
	struct spio_json_write_ctx *w = spio_json_write_begin(append, &text, 0);
	json_t *arr;

	cr_assert(m != NULL && m->config_json != NULL);
	spio_json_write_array_begin(w);
	m->config_json(w);
	spio_json_write_array_end(w);
	cr_assert_eq(spio_json_write_end(w), 0);
	arr = json_loads(text, 0, NULL);
	cr_assert_not_null(arr, "config parses: %s", text);
	free(text);
	return arr;
}

Test(bdev_nvme, save_config_writes_spdks_entry_in_spdks_order)
{
	static const char *const keys[] = {"name",
					   "trtype",
					   "adrfam",
					   "traddr",
					   "trsvcid",
					   "subnqn",
					   "prchk_reftag",
					   "prchk_guard",
					   "ctrlr_loss_timeout_sec",
					   "reconnect_delay_sec",
					   "fast_io_fail_timeout_sec",
					   "hostnqn",
					   "hdgst",
					   "ddgst",
					   "multipath",
					   "fabrics_connect_timeout_us",
					   "num_io_queues",
					   "disable_sq_flow_control",
					   "multipath_opts"};
	json_t *cfg, *e, *p, *v;
	const char *key;
	size_t i = 0;
	char *text, params[1024];

	attach("Nvme0",
	       ", \"ctrlr_loss_timeout_sec\": 10, \"reconnect_delay_sec\": 2, "
	       "\"fast_io_fail_timeout_sec\": 4, \"num_io_queues\": 4, \"hdgst\": true",
	       "[\"Nvme0n1\"]");
	cfg = module_config();
	cr_assert_eq(json_array_size(cfg), 2,
		     "bdev_nvme_set_options, then one entry per controller");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cfg, 0), "method")),
			 "bdev_nvme_set_options", "SPDK's first entry");
	e = json_array_get(cfg, 1);
	cr_assert_str_eq(json_string_value(json_object_get(e, "method")),
			 "bdev_nvme_attach_controller");
	p = json_object_get(e, "params");
	json_object_foreach(p, key, v)
	{
		cr_assert_lt(i, sizeof(keys) / sizeof(keys[0]), "extra key %s", key);
		cr_assert_str_eq(key, keys[i], "key %zu: expected %s, got %s", i, keys[i], key);
		i++;
	}
	cr_assert_eq(i, sizeof(keys) / sizeof(keys[0]), "all of SPDK's keys");
	cr_assert_eq(json_integer_value(json_object_get(p, "ctrlr_loss_timeout_sec")), 10);
	cr_assert_eq(json_integer_value(json_object_get(p, "reconnect_delay_sec")), 2);
	cr_assert_eq(json_integer_value(json_object_get(p, "fast_io_fail_timeout_sec")), 4);
	cr_assert_eq(json_integer_value(json_object_get(p, "num_io_queues")), 4);
	cr_assert(json_is_true(json_object_get(p, "hdgst")));
	cr_assert(json_is_false(json_object_get(p, "ddgst")));
	cr_assert_str_eq(json_string_value(json_object_get(p, "multipath")), "multipath");
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(p, "multipath_opts"), "policy")),
	    "active_passive");

	/* What was saved attaches again. */
	text = json_dumps(p, JSON_COMPACT);
	snprintf(params, sizeof(params), "%s", text);
	free(text);
	detach("Nvme0");
	v = rpc("bdev_nvme_attach_controller", params, 0, NULL);
	cr_assert_str_eq(json_string_value(json_array_get(v, 0)), "Nvme0n1");
	json_decref(v);
	json_decref(cfg);
}

/*
 * Detach
 */

Test(bdev_nvme, detach_removes_bdevs_and_controller_and_refuses_wrong_names)
{
	static struct handle h;
	struct rpc_result r = {0};
	json_t *p;
	char params[256];

	attach("Nvme0", "", "[\"Nvme0n1\"]");
	rpc("bdev_nvme_detach_controller", "{\"name\": \"Nvme7\"}", -ENODEV, "No such device");
	rpc("bdev_nvme_detach_controller", "{\"name\": \"Nvme0\", \"traddr\": \"10.1.1.1\"}",
	    -ENXIO, NULL);
	rpc("bdev_nvme_detach_controller", "{\"name\": \"Nvme0\", \"trtype\": \"foo\"}", -EINVAL,
	    "Failed to parse trtype: foo");
	rpc("bdev_nvme_detach_controller", "{}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "name");

	/* Answered once the last opener closed. */
	open_bdev(&h, "Nvme0n1");
	snprintf(params, sizeof(params),
		 "{\"name\": \"Nvme0\", \"trtype\": \"TCP\", \"traddr\": \"127.0.0.1\", "
		 "\"trsvcid\": \"%u\", \"subnqn\": \"%s\"}",
		 g_port, FAKE_TARGET_SUBNQN);
	p = json_loads(params, 0, NULL);
	cr_assert_eq(
	    spio_rpc_call("bdev_nvme_detach_controller", json_val_from_jansson(p), rpc_cb, &r), 0);
	cr_assert(poll_until(flag_set, &h.removed), "the opener heard of the removal");
	poll_all();
	cr_assert_eq(r.done, 0, "detach answered while the bdev is still open");
	expect_state("Nvme0", "deleting");
	close_bdev(&h);
	cr_assert(poll_until(flag_set, &r.done), "detach answered after the close");
	cr_assert_eq(r.code, 0, "detach: %s", r.msg);
	cr_assert(json_is_true(r.result));
	json_decref(r.result);
	json_decref(p);
	cr_assert_null(spio_bdev_get_by_name("Nvme0n1"));
	cr_assert(no_controllers(NULL), "no controller left");
	json_decref(module_config());
}

/*
 * Namespace changes
 */

Test(bdev_nvme, namespaces_added_and_removed_at_the_target_follow)
{
	static struct handle h;

	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	cr_assert_eq(fake_target_add_ns(g_ft, 3, 8u << 20), 0);
	cr_assert(poll_until(bdev_present, "Nvme0n3"), "bdev Nvme0n3 appeared");
	cr_assert_eq(spio_bdev_get_num_blocks(spio_bdev_get_by_name("Nvme0n3")),
		     (8u << 20) / BLOCK);

	cr_assert_eq(fake_target_remove_ns(g_ft, 1), 0);
	cr_assert(poll_until(flag_set, &h.removed), "the opener of Nvme0n1 heard of the removal");
	close_bdev(&h);
	cr_assert(poll_until(bdev_absent, "Nvme0n1"), "bdev Nvme0n1 went away");

	open_bdev(&h, "Nvme0n3");
	roundtrip(&h, 3, 0, 16, 21);
	close_bdev(&h);
	cr_assert_eq(fake_target_remove_ns(g_ft, 3), 0);
	cr_assert(poll_until(bdev_absent, "Nvme0n3"), "bdev Nvme0n3 went away");
	expect_state("Nvme0", "enabled");
}

/*
 * Losing the target
 */

static bool fault_fired(const struct fake_target_stats *s, void *arg)
{
	return s->faults_fired[*(enum fake_fault *)arg] > 0;
}

/* Poll until the fake says `fault` fired. */
static void wait_fault(enum fake_fault fault)
{
	uint64_t limit = deadline(WAIT_MS);

	while (!fake_target_wait(g_ft, fault_fired, &fault, 0)) {
		cr_assert(spio_get_ticks() < limit, "fault %d did not fire", fault);
		poll_all();
	}
}

Test(bdev_nvme, dropped_connections_fail_io_in_flight_then_io_works_again)
{
	static struct handle h;
	struct test_io io;
	uint8_t buf[BLOCK];

	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	roundtrip(&h, 1, 0, 8, 31);
	cr_assert_eq(fake_target_inject(g_ft, FAULT_DROP_RESPONSE, 0), 0);
	start_io(&h, OP_READ, buf, 0, 1, &io);
	wait_fault(FAULT_DROP_RESPONSE);
	cr_assert_eq(io.done, 0, "the read waits for its answer");
	cr_assert_gt(fake_target_drop_connections(g_ft), 0);
	cr_assert_eq(wait_io(&io, "read in flight"), SPIO_BDEV_IO_STATUS_FAILED,
		     "the read lost with its connection fails (once)");
	wait_io_works(&h);
	roundtrip(&h, 1, 8, 8, 32);
	expect_state("Nvme0", "enabled");
	close_bdev(&h);
}

Test(bdev_nvme, reset_io_resets_the_controller)
{
	static struct handle h;
	struct fake_target_stats before, after;

	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	roundtrip(&h, 1, 0, 8, 41);
	fake_target_get_stats(g_ft, &before);
	expect_io(&h, OP_RESET, NULL, 0, 0, SPIO_BDEV_IO_STATUS_SUCCESS);
	fake_target_get_stats(g_ft, &after);
	cr_assert_gt(after.controllers_created, before.controllers_created,
		     "the reset connected a new controller");
	roundtrip(&h, 1, 8, 8, 42);
	close_bdev(&h);
}

Test(bdev_nvme, two_threads_each_with_a_queue_pair_survive_a_drop)
{
	static struct handle h1, h2;
	struct fake_target_stats st;

	g_thread2 = spio_thread_create("bdev_nvme_test2", NULL);
	cr_assert_not_null(g_thread2);
	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h1, "Nvme0n1");
	open_on(&h2, "Nvme0n1", g_thread2);
	roundtrip(&h1, 1, 0, 8, 51);
	roundtrip(&h2, 1, 8, 8, 52);
	fake_target_get_stats(g_ft, &st);
	cr_assert_eq(st.io_cmds[SPIO_NVME_OPC_FABRIC], 2, "one I/O queue per thread, got %lu",
		     (unsigned long)st.io_cmds[SPIO_NVME_OPC_FABRIC]);
	cr_assert_gt(fake_target_drop_connections(g_ft), 0);
	wait_io_works(&h1);
	wait_io_works(&h2);
	roundtrip(&h1, 1, 16, 8, 53);
	roundtrip(&h2, 1, 24, 8, 54);
	close_bdev(&h1);
	close_bdev(&h2);
}

/* Stop the fake (connections refused from now on) and start it again on the same port. */
static void stop_target(void)
{
	fake_target_stop(g_ft);
	g_ft = NULL;
}

static void restart_target(void)
{
	start_target(1, g_port);
}

/* The state of the only controller. */
static bool state_is(void *want)
{
	json_t *res = rpc("bdev_nvme_get_controllers", NULL, 0, NULL);
	json_t *c = json_array_get(json_object_get(json_array_get(res, 0), "ctrlrs"), 0);
	bool eq = c != NULL && strcmp(json_string_value(json_object_get(c, "state")), want) == 0;

	json_decref(res);
	return eq;
}

Test(bdev_nvme, with_a_reconnect_delay_io_waits_for_the_controller)
{
	static struct handle h;
	struct test_io io, io0;
	uint8_t *w = malloc(8 * BLOCK), *r = malloc(8 * BLOCK), *w0 = malloc(8 * BLOCK);

	attach("Nvme0", ", \"ctrlr_loss_timeout_sec\": -1, \"reconnect_delay_sec\": 1",
	       "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	roundtrip(&h, 1, 0, 8, 61);
	/* One write in flight when the target goes: it goes out again later (SPDK's retry). */
	fill(w0, 8 * BLOCK, 60);
	cr_assert_eq(fake_target_inject(g_ft, FAULT_DROP_RESPONSE, 0), 0);
	start_io(&h, OP_WRITE, w0, 32, 8, &io0);
	wait_fault(FAULT_DROP_RESPONSE);
	stop_target();
	cr_assert(poll_until(state_is, "reconnect_is_delayed"), "reconnecting after a delay");
	fill(w, 8 * BLOCK, 62);
	start_io(&h, OP_WRITE, w, 16, 8, &io);
	cr_assert(poll_until(state_is, "reconnect_is_delayed"), "still down");
	cr_assert_eq(io.done, 0, "the write waits while the controller is down");
	cr_assert_eq(io0.done, 0, "the write in flight waits too");
	restart_target();
	cr_assert_eq(wait_io(&io, "write while down"), SPIO_BDEV_IO_STATUS_SUCCESS,
		     "the write went out once the controller was back");
	cr_assert_eq(wait_io(&io0, "write in flight"), SPIO_BDEV_IO_STATUS_SUCCESS,
		     "the write in flight went out again");
	expect_io(&h, OP_READ, r, 16, 8, SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(w, r, 8 * BLOCK) == 0, "the queued write reached the new target");
	expect_io(&h, OP_READ, r, 32, 8, SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(w0, r, 8 * BLOCK) == 0, "the retried write reached the new target");
	cr_assert(poll_until(state_is, "enabled"));
	close_bdev(&h);
	free(w);
	free(w0);
	free(r);
}

Test(bdev_nvme, fast_io_fail_timeout_fails_waiting_io)
{
	static struct handle h;
	struct test_io io;
	uint8_t buf[BLOCK];
	uint64_t start;

	attach("Nvme0",
	       ", \"ctrlr_loss_timeout_sec\": 30, \"reconnect_delay_sec\": 1, "
	       "\"fast_io_fail_timeout_sec\": 2",
	       "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	roundtrip(&h, 1, 0, 1, 71);
	stop_target();
	start = spio_get_ticks();
	start_io(&h, OP_READ, buf, 0, 1, &io);
	cr_assert_eq(wait_io(&io, "read while down"), SPIO_BDEV_IO_STATUS_FAILED);
	cr_assert_geq(spio_get_ticks() - start, 2 * spio_get_ticks_hz(),
		      "failed after fast_io_fail_timeout_sec, not before");
	expect_io(&h, OP_READ, buf, 0, 1, SPIO_BDEV_IO_STATUS_FAILED);
	restart_target();
	wait_io_works(&h);
	close_bdev(&h);
}

Test(bdev_nvme, ctrlr_loss_timeout_deletes_the_controller)
{
	static struct handle h;
	uint64_t start;

	attach("Nvme0", ", \"ctrlr_loss_timeout_sec\": 2, \"reconnect_delay_sec\": 1",
	       "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	stop_target();
	start = spio_get_ticks();
	cr_assert(poll_until(flag_set, &h.removed), "the bdev is removed after the loss timeout");
	cr_assert_geq(spio_get_ticks() - start, 2 * spio_get_ticks_hz(),
		      "removed after ctrlr_loss_timeout_sec, not before");
	close_bdev(&h);
	cr_assert(poll_until(no_controllers, NULL), "the controller is gone");
	cr_assert_null(spio_bdev_get_by_name("Nvme0n1"));
	restart_target();
}

Test(bdev_nvme, without_reconnect_a_failed_reset_leaves_the_controller_failed)
{
	static struct handle h;
	uint8_t buf[BLOCK];

	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	stop_target();
	cr_assert(poll_until(state_is, "failed"), "the controller is failed");
	expect_io(&h, OP_READ, buf, 0, 1, SPIO_BDEV_IO_STATUS_FAILED);
	restart_target();
	/* No reconnect of its own; a reset asked for brings it back. */
	expect_io(&h, OP_RESET, NULL, 0, 0, SPIO_BDEV_IO_STATUS_SUCCESS);
	expect_state("Nvme0", "enabled");
	roundtrip(&h, 1, 0, 4, 81);
	close_bdev(&h);
}

/*
 * Refusals
 */

Test(bdev_nvme, bad_parameters_are_refused_with_a_clear_error)
{
	char params[512];

	rpc("bdev_nvme_attach_controller", "{\"trtype\": \"tcp\", \"traddr\": \"127.0.0.1\"}",
	    SPIO_JSONRPC_ERROR_INVALID_PARAMS, "'name'");
	rpc("bdev_nvme_attach_controller", "{\"name\": \"N\", \"trtype\": \"tcp\"}",
	    SPIO_JSONRPC_ERROR_INVALID_PARAMS, "'traddr'");
	rpc("bdev_nvme_attach_controller",
	    "{\"name\": \"N\", \"trtype\": \"foo\", \"traddr\": \"127.0.0.1\"}", -EINVAL,
	    "Failed to parse trtype: foo");
	rpc("bdev_nvme_attach_controller",
	    "{\"name\": \"N\", \"trtype\": \"PCIe\", \"traddr\": \"0000:01:00.0\"}", -ENODEV,
	    "cannot connect to PCIe 0000:01:00.0: No such device");
	rpc("bdev_nvme_attach_controller",
	    "{\"name\": \"N\", \"trtype\": \"rdma\", \"traddr\": \"1.2.3.4\", \"subnqn\": \"x\"}",
	    -ENOTSUP, "RDMA");
	rpc("bdev_nvme_attach_controller",
	    "{\"name\": \"N\", \"trtype\": \"tcp\", \"traddr\": \"1.2.3.4\", \"bogus\": 1}",
	    SPIO_JSONRPC_ERROR_INVALID_PARAMS, "bogus");
	rpc("bdev_nvme_attach_controller",
	    "{\"name\": \"N\", \"trtype\": \"tcp\", \"traddr\": \"127.0.0.1\", \"adrfam\": \"x\"}",
	    -EINVAL, "Failed to parse adrfam: x");
	rpc("bdev_nvme_attach_controller",
	    "{\"name\": \"N\", \"trtype\": \"tcp\", \"traddr\": \"1\"}", -EINVAL, "subnqn");
	attach_rpc("", "", -EINVAL, "name");
	attach_rpc("N", ", \"psk\": \"key0\"", -ENOTSUP, "psk");
	attach_rpc("N", ", \"dhchap_key\": \"key1\"", -ENOTSUP, "dhchap_key");
	attach_rpc("N", ", \"dhchap_ctrlr_key\": \"key2\"", -ENOTSUP, "dhchap_ctrlr_key");
	attach_rpc("N", ", \"multipath_opts\": {\"policy\": \"active_active\"}", -ENOTSUP,
		   "multipath_opts.policy");
	attach_rpc("N", ", \"multipath_opts\": {\"policy\": \"active_passive\", \"x\": 1}", -EINVAL,
		   "multipath_opts.x");
	attach_rpc("N", ", \"multipath\": \"sometimes\"", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		   "multipath");
	attach_rpc("N", ", \"prchk_guard\": true", -ENOTSUP, "prchk_guard");
	attach_rpc("N", ", \"prchk_reftag\": true", -ENOTSUP, "prchk_reftag");
	attach_rpc("N", ", \"allow_unrecognized_csi\": true", -ENOTSUP, "allow_unrecognized_csi");
	attach_rpc("N", ", \"disable_sq_flow_control\": true", -ENOTSUP, "disable_sq_flow_control");
	attach_rpc("N", ", \"num_io_queues\": 0", -EINVAL, "num_io_queues");
	attach_rpc("N", ", \"max_bdevs\": 0", -EINVAL, "max_bdevs");
	attach_rpc("N", ", \"priority\": \"high\"", -EINVAL, "priority");
	attach_rpc("N", ", \"reconnect_delay_sec\": 1", -EINVAL, "reconnect_delay_sec");
	attach_rpc("N", ", \"ctrlr_loss_timeout_sec\": 5", -EINVAL, "reconnect_delay_sec 0");
	attach_rpc("N", ", \"ctrlr_loss_timeout_sec\": 5, \"reconnect_delay_sec\": 6", -EINVAL,
		   "must not exceed ctrlr_loss_timeout_sec");
	attach_rpc("N",
		   ", \"ctrlr_loss_timeout_sec\": 5, \"reconnect_delay_sec\": 2, "
		   "\"fast_io_fail_timeout_sec\": 1",
		   -EINVAL, "fast_io_fail_timeout_sec");
	attach_rpc("N", ", \"ctrlr_loss_timeout_sec\": -2, \"reconnect_delay_sec\": 1", -EINVAL,
		   "ctrlr_loss_timeout_sec");
	snprintf(params, sizeof(params),
		 "{\"name\": \"N\", \"trtype\": \"tcp\", \"traddr\": \"127.0.0.1\", "
		 "\"subnqn\": \"%0300d\"}",
		 1);
	rpc("bdev_nvme_attach_controller", params, -EINVAL, "subnqn too long");
	cr_assert(no_controllers(NULL), "nothing attached by a refused call");
	cr_assert_null(spio_bdev_first(), "no bdev created by a refused call");
}

Test(bdev_nvme, a_taken_name_an_unreachable_target_and_too_many_namespaces)
{
	json_t *res;

	/* SPDK answers -ERANGE and keeps the controller. */
	cr_assert_eq(fake_target_add_ns(g_ft, 2, 1u << 20), 0);
	attach_rpc("Nvme2", ", \"max_bdevs\": 1", -ERANGE, "Maximum number of namespaces");
	res = rpc("bdev_nvme_get_controllers", NULL, 0, NULL);
	cr_assert_eq(json_array_size(res), 1, "Nvme2 stays");
	json_decref(res);
	cr_assert_not_null(spio_bdev_get_by_name("Nvme2n2"));
	detach("Nvme2");
	cr_assert_null(spio_bdev_get_by_name("Nvme2n1"));

	attach("Nvme0", "", "[\"Nvme0n1\", \"Nvme0n2\"]");
	attach_rpc("Nvme0", "", -EALREADY, "already exists with the specified network path");
	attach_rpc("Nvme0", ", \"multipath\": \"disable\"", -EALREADY, "multipath is disabled");
	rpc("bdev_nvme_attach_controller",
	    "{\"name\": \"Nvme0\", \"trtype\": \"tcp\", \"traddr\": \"127.0.0.2\", "
	    "\"trsvcid\": \"4420\", \"subnqn\": \"nqn.x\"}",
	    -EALREADY, "multipath");

	/* Nothing listens on the port of a stopped target. */
	stop_target();
	attach_rpc("Nvme1", "", -ECONNREFUSED, "cannot connect");
	res = rpc("bdev_nvme_get_controllers", NULL, 0, NULL);
	cr_assert_eq(json_array_size(res), 1, "only Nvme0");
	json_decref(res);
	restart_target();
}

/*
 * The C API
 */

struct attach_result {
	int done;
	int rc;
	size_t count;
};

static void attach_cb(void *arg, int rc, const char *msg, const char *const *names, size_t count)
{
	struct attach_result *r = arg;

	(void)msg;
	(void)names;
	r->rc = rc;
	r->count = count;
	r->done = 1;
}

static void detach_cb(void *arg, int rc)
{
	*(int *)arg = rc == 0 ? 1 : rc;
}

Test(bdev_nvme, c_api_attach_and_detach)
{
	struct spio_bdev_nvme_opts o;
	struct attach_result r = {0};
	char err[256] = "";
	int detached = 0;

	cr_assert_eq(spio_bdev_nvme_attach(NULL, attach_cb, &r, err, sizeof(err)), -EINVAL);
	spio_bdev_nvme_opts_init(&o, sizeof(o));
	cr_assert_eq(o.num_io_queues, 1024);
	cr_assert_eq(o.max_bdevs, 128);
	cr_assert_eq(o.multipath, SPIO_BDEV_NVME_MULTIPATH_MULTIPATH);
	o.name = "C0";
	cr_assert_eq(spio_bdev_nvme_attach(&o, attach_cb, &r, err, sizeof(err)), -ENOTSUP);
	cr_assert(strstr(err, "trtype") != NULL, "message: %s", err);
	spio_nvme_transport_id_populate_trstring(&o.trid, SPIO_NVME_TRANSPORT_TCP);
	snprintf(o.trid.traddr, sizeof(o.trid.traddr), "127.0.0.1");
	snprintf(o.trid.trsvcid, sizeof(o.trid.trsvcid), "%u", g_port);
	snprintf(o.trid.subnqn, sizeof(o.trid.subnqn), "%s", FAKE_TARGET_SUBNQN);
	cr_assert_eq(spio_bdev_nvme_attach(&o, attach_cb, &r, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(r.done, 0, "the callback never runs inside the call");
	cr_assert(poll_until(flag_set, &r.done));
	cr_assert_eq(r.rc, 0);
	cr_assert_eq(r.count, 1);
	cr_assert_not_null(spio_bdev_get_by_name("C0n1"));

	cr_assert_eq(spio_bdev_nvme_detach(NULL, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(spio_bdev_nvme_detach("C9", NULL, NULL, NULL), -ENODEV);
	cr_assert_eq(spio_bdev_nvme_detach("C0", NULL, detach_cb, &detached), 0);
	cr_assert_eq(spio_bdev_nvme_detach("C0", NULL, detach_cb, &detached), 0,
		     "a second detach waits for the first");
	cr_assert(poll_until(flag_set, &detached));
	cr_assert_eq(detached, 1);
	cr_assert_null(spio_bdev_get_by_name("C0n1"));
}

Test(bdev_nvme, detach_during_a_reset_then_a_new_controller_counts_its_own_loss)
{
	static struct handle h;
	struct test_io io;
	int detached = 0;
	uint64_t start;

	attach("Old", "", "[\"Oldn1\"]");
	open_bdev(&h, "Oldn1");
	start_io(&h, OP_RESET, NULL, 0, 0, &io);
	cr_assert(poll_until(state_is, "resetting"), "the reset started");
	cr_assert_eq(spio_bdev_nvme_detach("Old", NULL, detach_cb, &detached), 0);
	cr_assert_eq(wait_io(&io, "reset"), SPIO_BDEV_IO_STATUS_SUCCESS,
		     "a reset under way completes");
	cr_assert(poll_until(flag_set, &h.removed));
	close_bdev(&h);
	cr_assert(poll_until(flag_set, &detached), "detach done after the reset and the close");
	cr_assert(no_controllers(NULL));

	attach("Nvme0", ", \"ctrlr_loss_timeout_sec\": 2, \"reconnect_delay_sec\": 1",
	       "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	stop_target();
	start = spio_get_ticks();
	cr_assert(poll_until(flag_set, &h.removed), "removed after the loss timeout");
	cr_assert_geq(spio_get_ticks() - start, 2 * spio_get_ticks_hz(),
		      "removed after ctrlr_loss_timeout_sec, not before");
	close_bdev(&h);
	cr_assert(poll_until(no_controllers, NULL));
	restart_target();
}

Test(bdev_nvme, with_a_reconnect_delay_a_lost_piece_goes_out_again)
{
	static struct handle h;
	struct fake_target_stats st;
	struct test_io io;
	uint8_t *buf = malloc(8192);

	attach("Nvme0", ", \"ctrlr_loss_timeout_sec\": -1, \"reconnect_delay_sec\": 1",
	       "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	roundtrip(&h, 1, 0, 16, 91);
	roundtrip(&h, 1, NS_SIZE / BLOCK - 16, 16, 92);
	/* Two Write Zeroes commands; the first is never answered, then the connections go. */
	cr_assert_eq(fake_target_inject(g_ft, FAULT_DROP_RESPONSE, 0), 0);
	start_io(&h, OP_ZEROES, NULL, 0, NS_SIZE / BLOCK, &io);
	wait_fault(FAULT_DROP_RESPONSE);
	cr_assert_gt(fake_target_drop_connections(g_ft), 0);
	cr_assert_eq(wait_io(&io, "write_zeroes"), SPIO_BDEV_IO_STATUS_SUCCESS,
		     "the write_zeroes completed after the reconnect");
	fake_target_get_stats(g_ft, &st);
	cr_assert_eq(st.io_cmds[SPIO_NVME_OPC_WRITE_ZEROES], 3,
		     "the lost first piece again, then the second: 3 commands, got %lu",
		     (unsigned long)st.io_cmds[SPIO_NVME_OPC_WRITE_ZEROES]);
	cr_assert_eq(fake_target_ns_read(g_ft, 1, 0, buf, 8192), 0);
	cr_assert(all_zero(buf, 8192), "the first piece's blocks are zero");
	cr_assert_eq(fake_target_ns_read(g_ft, 1, NS_SIZE - 8192, buf, 8192), 0);
	cr_assert(all_zero(buf, 8192), "the second piece's blocks are zero");
	close_bdev(&h);
	free(buf);
}

/*
 * bdev_nvme_set_options
 */

/* SPDK's bdev_nvme_set_options parameters in the order its save_config writes them. */
static const char *const g_set_options_keys[] = {
    "action_on_timeout",       "timeout_us",	       "timeout_admin_us",
    "keep_alive_timeout_ms",   "arbitration_burst",    "low_priority_weight",
    "medium_priority_weight",  "high_priority_weight", "nvme_adminq_poll_period_us",
    "nvme_ioq_poll_period_us", "io_queue_requests",    "delay_cmd_submit",
    "transport_retry_count",   "bdev_retry_count",     "transport_ack_timeout",
    "ctrlr_loss_timeout_sec",  "reconnect_delay_sec",  "fast_io_fail_timeout_sec",
    "disable_auto_failback",   "generate_uuids",       "transport_tos",
    "nvme_error_stat",	       "rdma_srq_size",	       "io_path_stat",
    "allow_accel_sequence",    "rdma_max_cq_size",     "rdma_cm_event_timeout_ms",
    "dhchap_digests",	       "dhchap_dhgroups",      "rdma_umr_per_io",
    "tcp_connect_timeout_ms",  "enable_flush",	       "multipath_opts"};

static void set_options(const char *params)
{
	json_t *res = rpc("bdev_nvme_set_options", params, 0, NULL);

	cr_assert(json_is_true(res), "bdev_nvme_set_options %s: expected true", params);
	json_decref(res);
}

static int64_t int_at(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	cr_assert(json_is_integer(v), "%s: expected an integer", key);
	return json_integer_value(v);
}

/* The params of the set_options entry, which must be the first of save_config's entries. */
static json_t *saved_options(json_t *cfg)
{
	json_t *e = json_array_get(cfg, 0);

	cr_assert_not_null(e, "save_config wrote no entry");
	cr_assert_str_eq(json_string_value(json_object_get(e, "method")), "bdev_nvme_set_options",
			 "the first entry is bdev_nvme_set_options");
	return json_object_get(e, "params");
}

/* Poll for `ms` milliseconds. */
static void poll_for(uint32_t ms)
{
	uint64_t limit = deadline(ms);

	while (spio_get_ticks() < limit) {
		poll_all();
	}
}

Test(bdev_nvme, set_options_takes_spdks_values_and_save_config_writes_them_first)
{
	struct spio_bdev_nvme_module_opts o;
	json_t *cfg, *p, *v;
	const char *key;
	size_t i = 0;
	char *text;

	/* SPDK's defaults and no controller: nothing to save. */
	spio_bdev_nvme_get_module_opts(&o, sizeof(o));
	cr_assert(o.keep_alive_timeout_ms == 10000 && o.bdev_retry_count == 3 &&
		      o.transport_retry_count == 4 && o.nvme_adminq_poll_period_us == 10000 &&
		      o.delay_cmd_submit && !o.enable_flush && o.io_queue_requests == 0 &&
		      o.action_on_timeout == SPIO_BDEV_NVME_TIMEOUT_ACTION_NONE &&
		      o.dhchap_digests == SPIO_BDEV_NVME_DHCHAP_DIGESTS_DEFAULT &&
		      o.dhchap_dhgroups == SPIO_BDEV_NVME_DHCHAP_DHGROUPS_DEFAULT,
		  "SPDK's defaults");
	cfg = module_config();
	cr_assert_eq(json_array_size(cfg), 0, "defaults without controllers are not saved");
	json_decref(cfg);

	/* What SPDK saved in tests/compat/spdk_configs/nvme.json, and the no-effect ones. */
	set_options("{\"action_on_timeout\": \"reset\", \"timeout_us\": 30000000, "
		    "\"keep_alive_timeout_ms\": 5000, \"io_queue_requests\": 512, "
		    "\"bdev_retry_count\": 5, \"ctrlr_loss_timeout_sec\": -1, "
		    "\"reconnect_delay_sec\": 2, \"fast_io_fail_timeout_sec\": 10, "
		    "\"generate_uuids\": true, \"delay_cmd_submit\": false, "
		    "\"transport_retry_count\": 7, \"transport_tos\": 3, \"rdma_srq_size\": 64, "
		    "\"rdma_max_cq_size\": 128, \"rdma_cm_event_timeout_ms\": 1000, "
		    "\"rdma_umr_per_io\": true, \"disable_auto_failback\": true, "
		    "\"dhchap_digests\": [\"sha512\", \"sha256\", \"sha384\"], "
		    "\"multipath_opts\": {\"policy\": \"active_passive\"}}");
	spio_bdev_nvme_get_module_opts(&o, sizeof(o));
	cr_assert(o.action_on_timeout == SPIO_BDEV_NVME_TIMEOUT_ACTION_RESET &&
		      o.timeout_us == 30000000 && o.keep_alive_timeout_ms == 5000 &&
		      o.bdev_retry_count == 5 && o.ctrlr_loss_timeout_sec == -1 &&
		      o.reconnect_delay_sec == 2 && o.fast_io_fail_timeout_sec == 10 &&
		      o.generate_uuids && !o.delay_cmd_submit && o.transport_tos == 3 &&
		      o.rdma_cm_event_timeout_ms == 1000,
		  "the values given are in effect");

	/* As SPDK, what a call does not give keeps its value. */
	set_options("{\"enable_flush\": true}");
	cfg = module_config();
	cr_assert_eq(json_array_size(cfg), 1, "non-default options are saved");
	p = saved_options(cfg);
	json_object_foreach(p, key, v)
	{
		cr_assert_lt(i, SPIO_COUNTOF(g_set_options_keys), "extra key %s", key);
		cr_assert_str_eq(key, g_set_options_keys[i], "key %zu: expected %s, got %s", i,
				 g_set_options_keys[i], key);
		i++;
	}
	cr_assert_eq(i, SPIO_COUNTOF(g_set_options_keys), "all of SPDK's keys, got %zu", i);
	cr_assert_str_eq(json_string_value(json_object_get(p, "action_on_timeout")), "reset");
	cr_assert_eq(int_at(p, "timeout_us"), 30000000);
	cr_assert_eq(int_at(p, "keep_alive_timeout_ms"), 5000);
	cr_assert_eq(int_at(p, "io_queue_requests"), 512);
	cr_assert_eq(int_at(p, "bdev_retry_count"), 5, "kept from the first call");
	cr_assert_eq(int_at(p, "ctrlr_loss_timeout_sec"), -1);
	cr_assert_eq(int_at(p, "transport_retry_count"), 7);
	cr_assert_eq(int_at(p, "rdma_cm_event_timeout_ms"), 1000);
	cr_assert(json_is_true(json_object_get(p, "enable_flush")));
	cr_assert(json_is_true(json_object_get(p, "generate_uuids")));
	cr_assert(json_is_false(json_object_get(p, "delay_cmd_submit")));
	text = json_dumps(json_object_get(p, "dhchap_digests"), JSON_COMPACT);
	cr_assert_str_eq(text, "[\"sha256\",\"sha384\",\"sha512\"]", "SPDK's order, got %s", text);
	free(text);
	text = json_dumps(json_object_get(p, "dhchap_dhgroups"), JSON_COMPACT);
	cr_assert_str_eq(
	    text,
	    "[\"null\",\"ffdhe2048\",\"ffdhe3072\",\"ffdhe4096\",\"ffdhe6144\",\"ffdhe8192\"]",
	    "got %s", text);
	free(text);
	cr_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(p, "multipath_opts"), "policy")),
	    "active_passive");

	/* The entry loads back as it is. */
	text = json_dumps(p, JSON_COMPACT);
	set_options(text);
	free(text);
	json_decref(cfg);
}

Test(bdev_nvme, set_options_only_while_no_controller_is_attached)
{
	struct spio_bdev_nvme_module_opts o;
	struct spio_bdev_nvme_opts ao;
	char err[256] = "";
	json_t *cfg, *p;

	/* The reconnect options become the attach's defaults. */
	set_options("{\"ctrlr_loss_timeout_sec\": -1, \"reconnect_delay_sec\": 1}");
	spio_bdev_nvme_opts_init(&ao, sizeof(ao));
	cr_assert(ao.ctrlr_loss_timeout_sec == -1 && ao.reconnect_delay_sec == 1 &&
		      ao.fast_io_fail_timeout_sec == 0,
		  "opts_init: expected -1/1/0, got %d/%u/%u", ao.ctrlr_loss_timeout_sec,
		  ao.reconnect_delay_sec, ao.fast_io_fail_timeout_sec);
	attach("Nvme0", "", "[\"Nvme0n1\"]");
	cfg = module_config();
	cr_assert_eq(json_array_size(cfg), 2, "set_options, then the attach");
	cr_assert_eq(int_at(saved_options(cfg), "reconnect_delay_sec"), 1);
	p = json_object_get(json_array_get(cfg, 1), "params");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cfg, 1), "method")),
			 "bdev_nvme_attach_controller");
	cr_assert_eq(int_at(p, "ctrlr_loss_timeout_sec"), -1, "the attach took the default");
	cr_assert_eq(int_at(p, "reconnect_delay_sec"), 1);
	json_decref(cfg);

	/* SPDK's rule and answer; its own checks come first. */
	rpc("bdev_nvme_set_options", "{\"bdev_retry_count\": 1}", -EPERM,
	    "RPC not permitted with nvme controllers already attached");
	rpc("bdev_nvme_set_options", "{\"bdev_retry_count\": -2}", -EINVAL, "bdev_retry_count");
	spio_bdev_nvme_get_module_opts(&o, sizeof(o));
	cr_assert_eq(o.bdev_retry_count, 3, "unchanged after the refusals");
	cr_assert_eq(spio_bdev_nvme_set_module_opts(&o, err, sizeof(err)), -EPERM);
	cr_assert(strstr(err, "already attached") != NULL, "message: %s", err);

	/* Detached: allowed again; defaults and no controller: nothing saved. */
	detach("Nvme0");
	set_options("{\"ctrlr_loss_timeout_sec\": 0, \"reconnect_delay_sec\": 0}");
	cfg = module_config();
	cr_assert_eq(json_array_size(cfg), 0, "back at SPDK's defaults");
	json_decref(cfg);
}

Test(bdev_nvme, set_options_refuses_what_spio_cannot_do_by_name)
{
	static const struct {
		const char *params;
		int code;
		const char *want;
	} cases[] = {
	    {"{\"action_on_timeout\": \"abort\"}", -ENOTSUP, "action_on_timeout abort"},
	    {"{\"action_on_timeout\": \"later\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "later"},
	    {"{\"timeout_us\": 1000000}", -ENOTSUP, "use action_on_timeout reset"},
	    {"{\"timeout_admin_us\": 1000000}", -EINVAL, "timeout_admin_us"},
	    {"{\"bdev_retry_count\": -2}", -EINVAL, "bdev_retry_count -2"},
	    {"{\"ctrlr_loss_timeout_sec\": 5}", -EINVAL, "reconnect_delay_sec 0"},
	    {"{\"reconnect_delay_sec\": 1}", -EINVAL, "reconnect_delay_sec 1"},
	    {"{\"arbitration_burst\": 1}", -ENOTSUP, "arbitration_burst"},
	    {"{\"high_priority_weight\": 4}", -ENOTSUP, "priority weights"},
	    {"{\"nvme_ioq_poll_period_us\": 100}", -ENOTSUP, "nvme_ioq_poll_period_us 100"},
	    {"{\"transport_ack_timeout\": 5}", -ENOTSUP, "transport_ack_timeout 5"},
	    {"{\"transport_ack_timeout\": 256}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "transport_ack_timeout"},
	    {"{\"transport_tos\": 300}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "transport_tos"},
	    {"{\"rdma_cm_event_timeout_ms\": 65536}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "rdma_cm_event_timeout_ms"},
	    {"{\"tcp_connect_timeout_ms\": 100}", -ENOTSUP, "tcp_connect_timeout_ms 100"},
	    {"{\"nvme_error_stat\": true}", -ENOTSUP, "nvme_error_stat"},
	    {"{\"io_path_stat\": true}", -ENOTSUP, "io_path_stat"},
	    {"{\"allow_accel_sequence\": true}", -ENOTSUP, "allow_accel_sequence"},
	    {"{\"dhchap_digests\": [\"sha256\"]}", -ENOTSUP, "DH-HMAC-CHAP"},
	    {"{\"dhchap_dhgroups\": [\"null\", \"ffdhe2048\"]}", -ENOTSUP, "DH-HMAC-CHAP"},
	    {"{\"dhchap_digests\": [\"md5\"]}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "dhchap_digests"},
	    {"{\"dhchap_dhgroups\": \"null\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "dhchap_dhgroups"},
	    {"{\"multipath_opts\": {\"policy\": \"active_active\"}}", -ENOTSUP,
	     "multipath_opts.policy"},
	    {"{\"multipath_opts\": {\"x\": 1}}", -EINVAL, "multipath_opts.x"},
	    {"{\"keep_alive_timeout_ms\": -1}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "keep_alive_timeout_ms"},
	    {"{\"bogus\": 1}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "bogus"},
	};
	struct spio_bdev_nvme_module_opts o;
	json_t *cfg;

	for (size_t i = 0; i < SPIO_COUNTOF(cases); i++) {
		rpc("bdev_nvme_set_options", cases[i].params, cases[i].code, cases[i].want);
	}
	spio_bdev_nvme_get_module_opts(&o, sizeof(o));
	cr_assert(bdev_nvme_opts_are_default(), "a refused call changes nothing");
	cfg = module_config();
	cr_assert_eq(json_array_size(cfg), 0, "nothing to save after the refusals");
	json_decref(cfg);
	/* A timeout with the reset action is fine, and so are SPDK's spelled-out defaults. */
	set_options("{\"action_on_timeout\": \"reset\", \"timeout_us\": 2000000, "
		    "\"timeout_admin_us\": 3000000}");
	set_options("{\"dhchap_digests\": [\"sha256\", \"sha384\", \"sha512\"], "
		    "\"transport_ack_timeout\": 0, \"nvme_ioq_poll_period_us\": 0}");
}

Test(bdev_nvme, set_options_c_api_checks_its_arguments_and_thread)
{
	struct spio_bdev_nvme_module_opts o, got;
	char err[256] = "";

	cr_assert_eq(spio_bdev_nvme_set_module_opts(NULL, err, sizeof(err)), -EINVAL);
	spio_bdev_nvme_get_module_opts(NULL, sizeof(o));
	spio_bdev_nvme_get_module_opts(&o, 0);

	/* A caller knowing only the first fields leaves the rest as they are. */
	spio_bdev_nvme_get_module_opts(&o, sizeof(o));
	o.enable_flush = true;
	cr_assert_eq(spio_bdev_nvme_set_module_opts(&o, err, sizeof(err)), 0, "%s", err);
	o.opts_size = offsetof(struct spio_bdev_nvme_module_opts, arbitration_burst);
	o.keep_alive_timeout_ms = 777;
	o.enable_flush = false;
	cr_assert_eq(spio_bdev_nvme_set_module_opts(&o, err, sizeof(err)), 0, "%s", err);
	spio_bdev_nvme_get_module_opts(&got, sizeof(got));
	cr_assert_eq(got.keep_alive_timeout_ms, 777, "inside opts_size: set");
	cr_assert(got.enable_flush, "beyond opts_size: kept");
	cr_assert_eq(got.opts_size, sizeof(got));

	o.opts_size = sizeof(o);
	o.action_on_timeout = SPIO_BDEV_NVME_TIMEOUT_ACTION_ABORT;
	cr_assert_eq(spio_bdev_nvme_set_module_opts(&o, err, sizeof(err)), -ENOTSUP);
	cr_assert(strstr(err, "abort") != NULL, "message: %s", err);
	o.action_on_timeout = 7;
	cr_assert_eq(spio_bdev_nvme_set_module_opts(&o, err, sizeof(err)), -ENOTSUP);

	/* Only on the bdev layer's thread once it runs. */
	spio_bdev_nvme_get_module_opts(&o, sizeof(o));
	g_thread2 = spio_thread_create("bdev_nvme_test2", NULL);
	cr_assert_not_null(g_thread2);
	spio_set_thread(g_thread2);
	cr_assert_eq(spio_bdev_nvme_set_module_opts(&o, err, sizeof(err)), -EXDEV);
	spio_set_thread(g_thread);
}

Test(bdev_nvme, bdev_retry_count_retries_a_status_without_dnr)
{
	static struct handle h;
	struct fake_target_stats before, after;
	uint8_t buf[BLOCK];

	/* SPDK's default, 3: the read goes out again and succeeds. */
	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	fake_target_get_stats(g_ft, &before);
	cr_assert_eq(fake_target_inject(g_ft, FAULT_STATUS, STATUS_LBA_OUT_OF_RANGE(false)), 0);
	expect_io(&h, OP_READ, buf, 0, 1, SPIO_BDEV_IO_STATUS_SUCCESS);
	fake_target_get_stats(g_ft, &after);
	cr_assert_eq(after.io_cmds[SPIO_NVME_OPC_READ] - before.io_cmds[SPIO_NVME_OPC_READ], 2,
		     "the failed read and its retry, got %lu reads",
		     (unsigned long)(after.io_cmds[SPIO_NVME_OPC_READ] -
				     before.io_cmds[SPIO_NVME_OPC_READ]));
	close_bdev(&h);
	detach("Nvme0");

	/* 0: no retry. */
	set_options("{\"bdev_retry_count\": 0}");
	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	fake_target_get_stats(g_ft, &before);
	cr_assert_eq(fake_target_inject(g_ft, FAULT_STATUS, STATUS_LBA_OUT_OF_RANGE(false)), 0);
	expect_io(&h, OP_READ, buf, 0, 1, SPIO_BDEV_IO_STATUS_FAILED);
	fake_target_get_stats(g_ft, &after);
	cr_assert_eq(after.io_cmds[SPIO_NVME_OPC_READ] - before.io_cmds[SPIO_NVME_OPC_READ], 1,
		     "one read, no retry");
	close_bdev(&h);
}

Test(bdev_nvme, bdev_retry_count_zero_fails_an_io_lost_with_its_connection)
{
	static struct handle h;
	struct test_io io;
	uint8_t buf[BLOCK];

	/* With a reconnect delay a lost I/O goes out again, unless retries are off. */
	set_options("{\"bdev_retry_count\": 0}");
	attach("Nvme0", ", \"ctrlr_loss_timeout_sec\": -1, \"reconnect_delay_sec\": 1",
	       "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	roundtrip(&h, 1, 0, 1, 101);
	cr_assert_eq(fake_target_inject(g_ft, FAULT_DROP_RESPONSE, 0), 0);
	start_io(&h, OP_READ, buf, 0, 1, &io);
	wait_fault(FAULT_DROP_RESPONSE);
	cr_assert_gt(fake_target_drop_connections(g_ft), 0);
	cr_assert_eq(wait_io(&io, "read in flight"), SPIO_BDEV_IO_STATUS_FAILED,
		     "no retry with bdev_retry_count 0");
	wait_io_works(&h);
	close_bdev(&h);
}

Test(bdev_nvme, keep_alive_timeout_ms_is_what_the_controller_gets)
{
	struct fake_target_stats before, after;
	uint64_t sent;

	/* SPDK's 10 s: the first Keep Alive is 5 s away. */
	attach("Nvme0", "", "[\"Nvme0n1\"]");
	fake_target_get_stats(g_ft, &before);
	poll_for(1000);
	fake_target_get_stats(g_ft, &after);
	sent = after.admin_cmds[SPIO_NVME_OPC_KEEP_ALIVE] -
	       before.admin_cmds[SPIO_NVME_OPC_KEEP_ALIVE];
	cr_assert_eq(sent, 0, "no Keep Alive within 1 s of a 10 s timeout, got %lu",
		     (unsigned long)sent);
	detach("Nvme0");

	set_options("{\"keep_alive_timeout_ms\": 200}");
	attach("Nvme0", "", "[\"Nvme0n1\"]");
	fake_target_get_stats(g_ft, &before);
	poll_for(1000);
	fake_target_get_stats(g_ft, &after);
	sent = after.admin_cmds[SPIO_NVME_OPC_KEEP_ALIVE] -
	       before.admin_cmds[SPIO_NVME_OPC_KEEP_ALIVE];
	cr_assert_geq(sent, 4, "a Keep Alive every 100 ms of a 200 ms timeout, got %lu in 1 s",
		      (unsigned long)sent);
}

Test(bdev_nvme, timeout_us_with_reset_drops_a_stuck_command)
{
	static struct handle h;
	struct test_io io;
	uint8_t buf[BLOCK];
	uint64_t start, took;

	set_options("{\"action_on_timeout\": \"reset\", \"timeout_us\": 300000}");
	attach("Nvme0", "", "[\"Nvme0n1\"]");
	open_bdev(&h, "Nvme0n1");
	roundtrip(&h, 1, 0, 4, 111);
	/* Never answered: without the timeout the read would wait forever. */
	cr_assert_eq(fake_target_inject(g_ft, FAULT_DROP_RESPONSE, 0), 0);
	start = spio_get_ticks();
	start_io(&h, OP_READ, buf, 0, 1, &io);
	cr_assert_eq(wait_io(&io, "unanswered read"), SPIO_BDEV_IO_STATUS_FAILED,
		     "the queue's connection was dropped after the timeout");
	took = (spio_get_ticks() - start) * 1000 / spio_get_ticks_hz();
	cr_assert_geq(took, 300, "failed after timeout_us, not before (%lu ms)",
		      (unsigned long)took);
	wait_io_works(&h);
	roundtrip(&h, 1, 8, 4, 112);
	expect_state("Nvme0", "enabled");
	close_bdev(&h);
}

Test(bdev_nvme, nvme_adminq_poll_period_us_paces_the_failure_check)
{
	uint64_t start, took;

	/* The reset starts at the first check after the loss: not before 1.5 s. */
	set_options("{\"nvme_adminq_poll_period_us\": 1500000, \"ctrlr_loss_timeout_sec\": -1, "
		    "\"reconnect_delay_sec\": 1}");
	attach("Nvme0", "", "[\"Nvme0n1\"]");
	start = spio_get_ticks();
	stop_target();
	cr_assert(poll_until(state_is, "reconnect_is_delayed"), "reconnecting after a delay");
	took = (spio_get_ticks() - start) * 1000 / spio_get_ticks_hz();
	cr_assert_geq(took, 1000, "the loss was acted on after %lu ms, expected about 1500",
		      (unsigned long)took);
	restart_target();
	cr_assert(poll_until(state_is, "enabled"), "back once the target is");
}

Test(bdev_nvme, generate_uuids_gives_spdks_uuid_and_nguid_comes_first)
{
	static const struct {
		const char *sn;
		uint32_t nsid;
		const char *want; /* Python's uuid.uuid5(SPDK's namespace, sn + str(nsid)) */
	} cases[] = {
	    {"FAKE0001            ", 1, "8243c8f3-1470-5962-9765-1d8eac911627"},
	    {"FAKE0001            ", 7, "468ec417-0d71-58e2-a216-8d09b2780876"},
	    {"SN\0garbage after NUL", 4294967295u, "a7a64029-e6ea-5b23-9476-c14c126302cb"},
	    {"ABCDEFGHIJKLMNOPQRST", 12, "76b2da68-3fe9-5a38-be12-527817aa2b8c"},
	};
	struct spio_uuid u;
	char text[40];

	for (size_t i = 0; i < SPIO_COUNTOF(cases); i++) {
		bdev_nvme_generate_uuid(cases[i].sn, 20, cases[i].nsid, &u);
		spio_uuid_fmt_lower(text, sizeof(text), &u);
		cr_assert_str_eq(text, cases[i].want, "sn '%.20s' nsid %u: expected %s, got %s",
				 cases[i].sn, cases[i].nsid, cases[i].want, text);
	}
	/* The fake's namespaces have an NGUID: it stays the UUID (SPDK gave it the same). */
	set_options("{\"generate_uuids\": true}");
	attach("Nvme0", "", "[\"Nvme0n1\"]");
	spio_uuid_fmt_lower(text, sizeof(text),
			    spio_bdev_get_uuid(spio_bdev_get_by_name("Nvme0n1")));
	cr_assert_str_eq(text, "7370696f-6661-6b65-0000-000000000001");
}
