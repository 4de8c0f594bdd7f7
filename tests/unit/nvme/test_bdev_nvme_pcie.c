/*
 * The nvme bdev module over a PCIe controller: the fake controller in memory
 * (helper_fake_pcie) attached with SPDK's RPC (-t PCIe -a 0000:00:04.0).
 * Bdev I/O with DMA buffers goes straight to the controller; heap buffers
 * and iovecs PRPs cannot describe go through the channel's bounce pool
 * (counted in bdev_get_bdevs' driver_specific.spio_bounce), also when more
 * are in flight than the pool holds. Channels on two spio threads, a
 * channel recreated five times (queue ids reused), a reset during I/O, and
 * spio's NVMe-oF TCP target exporting the PCIe bdev to a TCP nvme bdev of
 * the same process (its buffers are DMA memory: nothing bounces).
 *
 * Every spio thread (the fake's poller runs on the admin thread) is polled
 * from the test's one OS thread: the fake is single-threaded.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "json/json_val_internal.h"
#include "spio/bdev.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/nvmf.h"
#include "spio/rpc.h"
#include "spio/thread.h"

#include "helper_fake_pcie.h"
#include "helper_bdev_io.h"
#include "helper_nvme_wait.h"
#include "helper_pcie_env.h"

#define BLOCK 512u
#define NS_BYTES (8u * 1024 * 1024)
#define MAX_PG 4
#define SUBNQN "nqn.2016-06.io.spdk-io:pcie-export"

static struct spio_thread *g_thread;  /* bdev layer, admin thread, the fake's poller */
static struct spio_thread *g_thread2; /* a second I/O thread */
static struct fake_pcie *g_fp;
/* The NVMe-oF target's poll group threads (the thread library hands them over). */
static struct spio_thread *g_pg[MAX_PG];
static uint32_t g_npg;

static int new_thread(struct spio_thread *thread)
{
	if (strncmp(spio_thread_get_name(thread), "nvmf_tgt_poll_group", 19) != 0) {
		return 0;
	}
	if (g_npg == MAX_PG) {
		return -ENOSPC;
	}
	g_pg[g_npg++] = thread;
	return 0;
}

/* One round of the waits' polling (helper_nvme_wait): every thread. */
static void poll_test_threads(void)
{
	struct spio_thread *t[] = {g_thread, g_thread2};

	poll_threads(t, 2);
	poll_threads(g_pg, g_npg);
}

static bool flag_set(void *arg)
{
	return *(volatile int *)arg != 0;
}

static void set_flag(void *arg)
{
	*(int *)arg = 1;
}

static void setup(void)
{
	g_thread = pcie_env_start("test_bdev_nvme_pcie", "pcie_main", new_thread);
	wait_set_poll(poll_test_threads);
	g_thread2 = spio_thread_create("pcie_io2", NULL);
	cr_assert_not_null(g_thread2);
	spio_set_thread(g_thread);
	cr_assert_eq(spio_bdev_initialize(NULL, NULL, NULL), 0);
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
	g_fp = fake_pcie_create(NULL); /* 0000:00:04.0, 2 namespaces of 8 MiB, MDTS 128 KiB */
	cr_assert_not_null(g_fp);
}

static void exit_thread(struct spio_thread *t)
{
	spio_set_thread(t);
	spio_thread_exit(t);
	spio_set_thread(g_thread);
}

static bool exited(void *arg)
{
	return spio_thread_is_exited(arg);
}

static void teardown(void)
{
	int done = 0;

	spio_set_thread(g_thread);
	cr_assert_eq(spio_bdev_finish(set_flag, &done), 0);
	cr_assert(poll_until(flag_set, &done), "spio_bdev_finish did not complete");
	cr_assert_not(fake_pcie_is_open(g_fp), "the device is still open after finish");
	cr_assert_eq(fake_pcie_get_stats(g_fp)->violations, 0, "fake: %s",
		     fake_pcie_get_stats(g_fp)->last_violation);
	exit_thread(g_thread2);
	cr_assert(poll_until(exited, g_thread2));
	exit_thread(g_thread);
	cr_assert(poll_until(exited, g_thread));
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread2);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	nvme_pcie_set_dev_ops(NULL);
	fake_pcie_destroy(g_fp);
	spio_env_fini();
}

TestSuite(bdev_nvme_pcie, .init = setup, .fini = teardown, .timeout = 120);

/*
 * RPCs
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

	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", msg != NULL ? msg : "");
	r->result = j != NULL ? json_incref(j) : NULL;
	r->done = 1;
}

/* Call `method` with `params` (JSON text); expect success; the caller owns the result. */
static json_t *rpc(const char *method, const char *params)
{
	struct rpc_result r = {0};
	json_t *p = params != NULL ? json_loads(params, 0, NULL) : NULL;

	spio_set_thread(g_thread);
	cr_assert_eq(spio_rpc_call(method, json_val_from_jansson(p), rpc_cb, &r), 0);
	cr_assert(poll_until(flag_set, &r.done), "%s: no answer", method);
	cr_assert_eq(r.code, 0, "%s %s: code %d (%s)", method, params ? params : "", r.code, r.msg);
	json_decref(p);
	return r.result;
}

/* SPDK's request: bdev_nvme_attach_controller -b N -t PCIe -a 0000:00:04.0. */
static void attach_pcie(void)
{
	json_t *res = rpc("bdev_nvme_attach_controller",
			  "{\"name\": \"N\", \"trtype\": \"PCIe\", \"traddr\": \"0000:00:04.0\"}");
	char *got = json_dumps(res, JSON_COMPACT);

	cr_assert_str_eq(got, "[\"Nn1\",\"Nn2\"]");
	free(got);
	json_decref(res);
}

static void detach(const char *name)
{
	char params[64];

	snprintf(params, sizeof(params), "{\"name\": \"%s\"}", name);
	json_decref(rpc("bdev_nvme_detach_controller", params));
}

/* driver_specific.spio_bounce.<key> of bdev Nn1. */
static uint64_t bounce_stat(const char *key)
{
	json_t *res = rpc("bdev_get_bdevs", "{\"name\": \"Nn1\"}");
	json_t *b = json_object_get(
	    json_object_get(json_object_get(json_array_get(res, 0), "driver_specific"),
			    "spio_bounce"),
	    key);
	uint64_t v;

	cr_assert(json_is_integer(b), "bdev_get_bdevs: no driver_specific.spio_bounce.%s", key);
	v = (uint64_t)json_integer_value(b);
	json_decref(res);
	return v;
}

/*
 * Bdev I/O
 */

struct handle {
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch;
	struct spio_thread *thread;
};

static void event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void open_on(struct handle *h, const char *name, struct spio_thread *thread)
{
	memset(h, 0, sizeof(*h));
	h->thread = thread;
	spio_set_thread(thread);
	cr_assert_eq(spio_bdev_open_ext(name, true, event_cb, NULL, &h->desc), 0, "open %s", name);
	h->ch = spio_bdev_get_io_channel(h->desc);
	cr_assert_not_null(h->ch);
	spio_set_thread(g_thread);
}

static void close_bdev(struct handle *h)
{
	spio_set_thread(h->thread);
	spio_put_io_channel(h->ch);
	spio_bdev_close(h->desc);
	spio_set_thread(g_thread);
}

enum op { OP_READ, OP_WRITE, OP_COMPARE };

static void start_iov(struct handle *h, enum op op, struct iovec *iov, int iovcnt, uint64_t lba,
		      uint64_t n, struct test_io *io)
{
	int rc = -1;

	memset(io, 0, sizeof(*io));
	spio_set_thread(h->thread);
	switch (op) {
	case OP_READ:
		rc = spio_bdev_readv_blocks(h->desc, h->ch, iov, iovcnt, lba, n, test_io_cb, io);
		break;
	case OP_WRITE:
		rc = spio_bdev_writev_blocks(h->desc, h->ch, iov, iovcnt, lba, n, test_io_cb, io);
		break;
	case OP_COMPARE:
		rc = spio_bdev_comparev_blocks(h->desc, h->ch, iov, iovcnt, lba, n, test_io_cb, io);
		break;
	}
	spio_set_thread(g_thread);
	cr_assert_eq(rc, 0, "submit op %d at block %lu: %d", op, (unsigned long)lba, rc);
}

static void start_buf(struct handle *h, enum op op, void *buf, uint64_t lba, uint64_t n,
		      struct test_io *io, struct iovec *iov_store)
{
	iov_store->iov_base = buf;
	iov_store->iov_len = n * BLOCK;
	start_iov(h, op, iov_store, 1, lba, n, io);
}

static enum spio_bdev_io_status wait_io(struct test_io *io)
{
	cr_assert(poll_until(flag_set, &io->done), "I/O did not complete");
	/* Polled a little longer: a second completion would show here. */
	for (int i = 0; i < 10; i++) {
		poll_all();
	}
	cr_assert_eq(io->done, 1, "I/O completed %d times", io->done);
	return io->status;
}

static void expect_iov(struct handle *h, enum op op, struct iovec *iov, int iovcnt, uint64_t lba,
		       uint64_t n, enum spio_bdev_io_status want)
{
	struct test_io io;

	start_iov(h, op, iov, iovcnt, lba, n, &io);
	cr_assert_eq(wait_io(&io), want, "op %d at block %lu: status %d, expected %d", op,
		     (unsigned long)lba, io.status, want);
}

static void expect_buf(struct handle *h, enum op op, void *buf, uint64_t lba, uint64_t n)
{
	struct iovec iov = {.iov_base = buf, .iov_len = n * BLOCK};

	expect_iov(h, op, &iov, 1, lba, n, SPIO_BDEV_IO_STATUS_SUCCESS);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
	}
}

/* The namespace's bytes at `lba` equal `want`. */
static void expect_media(uint32_t nsid, uint64_t lba, const void *want, size_t len)
{
	const uint8_t *media = fake_pcie_ns_data(g_fp, nsid);

	cr_assert_not_null(media);
	cr_assert(memcmp(media + lba * BLOCK, want, len) == 0,
		  "namespace %u holds other data at block %lu", nsid, (unsigned long)lba);
}

/*
 * Cases
 */

Test(bdev_nvme_pcie, dma_buffers_go_direct_heap_buffers_and_odd_iovecs_bounce)
{
	struct handle h;
	size_t len = 64 * 1024;
	uint8_t *dw = spio_dma_malloc(len, 4096), *dr = spio_dma_malloc(len, 4096);
	uint8_t *hw = malloc(len + 1), *hr = malloc(len + 1);
	uint8_t *dodd = spio_dma_malloc(3 * 4096, 4096), *big;
	struct iovec iov[3];

	cr_assert(dw && dr && hw && hr && dodd);
	attach_pcie();
	open_on(&h, "Nn1", g_thread);

	/* DMA memory: straight to the controller. */
	fill(dw, len, 1);
	expect_buf(&h, OP_WRITE, dw, 8, len / BLOCK);
	memset(dr, 0, len);
	expect_buf(&h, OP_READ, dr, 8, len / BLOCK);
	cr_assert(memcmp(dw, dr, len) == 0);
	expect_media(1, 8, dw, len);
	cr_assert_eq(bounce_stat("bounced_ios"), 0, "DMA buffers were bounced");
	cr_assert_eq(bounce_stat("pool_bytes_per_channel"), 1024 * 1024);

	/* Heap, at an odd address: bounced both ways, data verified both ways. */
	fill(hw + 1, len, 2);
	expect_buf(&h, OP_WRITE, hw + 1, 300, len / BLOCK);
	expect_media(1, 300, hw + 1, len);
	memset(hr + 1, 0, len);
	expect_buf(&h, OP_READ, hr + 1, 300, len / BLOCK);
	cr_assert(memcmp(hw + 1, hr + 1, len) == 0, "bounced read differs");
	cr_assert_eq(bounce_stat("bounced_ios"), 2);

	/* Heap iovecs of odd sizes (1000 + 2096 + 1000 bytes = 8 blocks). */
	fill(hw, 4096, 3);
	iov[0] = (struct iovec){hw, 1000};
	iov[1] = (struct iovec){hw + 1000, 2096};
	iov[2] = (struct iovec){hw + 3096, 1000};
	expect_iov(&h, OP_WRITE, iov, 3, 1000, 8, SPIO_BDEV_IO_STATUS_SUCCESS);
	expect_media(1, 1000, hw, 4096);
	memset(hr, 0xEE, 4096);
	iov[0] = (struct iovec){hr, 1000};
	iov[1] = (struct iovec){hr + 1000, 2096};
	iov[2] = (struct iovec){hr + 3096, 1000};
	expect_iov(&h, OP_READ, iov, 3, 1000, 8, SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(hw, hr, 4096) == 0, "odd iovec read differs");
	/* Compare from a heap vector: matches, then miscompares. */
	expect_iov(&h, OP_COMPARE, iov, 3, 1000, 8, SPIO_BDEV_IO_STATUS_SUCCESS);
	hr[2000] ^= 0xFF;
	expect_iov(&h, OP_COMPARE, iov, 3, 1000, 8, SPIO_BDEV_IO_STATUS_MISCOMPARE);
	cr_assert_eq(bounce_stat("bounced_ios"), 6);
	/* A heap compare larger than the pool (compares are not split): a clean failure. */
	big = calloc(1, 2 * 1024 * 1024);
	cr_assert_not_null(big);
	iov[0] = (struct iovec){big, 2 * 1024 * 1024};
	expect_iov(&h, OP_COMPARE, iov, 1, 0, 4096, SPIO_BDEV_IO_STATUS_FAILED);
	free(big);
	cr_assert_eq(bounce_stat("bounced_ios"), 6);

	/* DMA memory in a shape PRPs cannot carry (no SGLs): bounced too. */
	fill(dodd, 3 * 4096, 4);
	iov[0] = (struct iovec){dodd, 512};
	iov[1] = (struct iovec){dodd + 4096 + 512, 1024}; /* starts inside a page */
	iov[2] = (struct iovec){dodd + 8192, 512};
	expect_iov(&h, OP_WRITE, iov, 3, 2000, 4, SPIO_BDEV_IO_STATUS_SUCCESS);
	expect_media(1, 2000, dodd, 512);
	expect_media(1, 2001, dodd + 4096 + 512, 1024);
	expect_media(1, 2003, dodd + 8192, 512);
	cr_assert_eq(bounce_stat("bounced_ios"), 7);
	cr_assert_eq(bounce_stat("waited_ios"), 0);

	close_bdev(&h);
	detach("N");
	spio_dma_free(dw);
	spio_dma_free(dr);
	spio_dma_free(dodd);
	free(hw);
	free(hr);
}

#define MANY 48
#define MANY_BLOCKS 256 /* 128 KiB: 8 of the pool's 64 chunks */

Test(bdev_nvme_pcie, bounced_ios_beyond_the_pool_wait_and_none_is_lost)
{
	struct handle h;
	size_t len = MANY_BLOCKS * BLOCK;
	uint8_t *w = malloc(MANY * len), *r = malloc(MANY * len);
	struct test_io io[MANY];
	struct iovec iov[MANY];

	cr_assert(w && r);
	attach_pcie();
	open_on(&h, "Nn1", g_thread);
	fill(w, MANY * len, 5);
	/* 6 MiB in flight against a 1 MiB pool: most wait for chunks. */
	for (int i = 0; i < MANY; i++) {
		start_buf(&h, OP_WRITE, w + i * len, (uint64_t)i * MANY_BLOCKS, MANY_BLOCKS, &io[i],
			  &iov[i]);
	}
	for (int i = 0; i < MANY; i++) {
		cr_assert_eq(wait_io(&io[i]), SPIO_BDEV_IO_STATUS_SUCCESS, "write %d failed", i);
	}
	expect_media(1, 0, w, MANY * len);
	memset(r, 0, MANY * len);
	for (int i = 0; i < MANY; i++) {
		start_buf(&h, OP_READ, r + i * len, (uint64_t)i * MANY_BLOCKS, MANY_BLOCKS, &io[i],
			  &iov[i]);
	}
	for (int i = 0; i < MANY; i++) {
		cr_assert_eq(wait_io(&io[i]), SPIO_BDEV_IO_STATUS_SUCCESS, "read %d failed", i);
	}
	cr_assert(memcmp(w, r, MANY * len) == 0, "bounced reads differ");
	cr_assert_eq(bounce_stat("bounced_ios"), 2 * MANY);
	cr_assert_geq(bounce_stat("waited_ios"), 2 * (MANY - 8), "waited: %lu",
		      (unsigned long)bounce_stat("waited_ios"));
	close_bdev(&h);
	detach("N");
	free(w);
	free(r);
}

static bool io_queues_are(void *arg)
{
	return fake_pcie_num_io_sqs(g_fp) == (uint32_t)(uintptr_t)arg &&
	       fake_pcie_num_io_cqs(g_fp) == (uint32_t)(uintptr_t)arg;
}

Test(bdev_nvme_pcie, channels_on_two_threads_and_one_recreated_five_times)
{
	struct handle a, b;
	size_t len = 32 * 1024;
	uint8_t *wa = malloc(len), *wb = malloc(len), *ra = malloc(len), *rb = malloc(len);
	struct test_io ioa, iob;
	struct iovec iova, iovb;
	const struct fake_pcie_stats *st;
	struct fake_pcie_opts fo;
	uint64_t creates;

	cr_assert(wa && wb && ra && rb);
	/* Two I/O queues granted: a recreated channel must get queue id 2 again. */
	fake_pcie_opts_init(&fo);
	fo.max_io_queues = 2;
	fake_pcie_destroy(g_fp);
	g_fp = fake_pcie_create(&fo);
	cr_assert_not_null(g_fp);
	st = fake_pcie_get_stats(g_fp);
	attach_pcie();
	open_on(&a, "Nn1", g_thread);
	open_on(&b, "Nn2", g_thread2);
	/* Thread 2's queues are created through the admin thread. */
	cr_assert(poll_until(io_queues_are, (void *)(uintptr_t)2), "two I/O queue pairs");
	fill(wa, len, 6);
	fill(wb, len, 7);
	start_buf(&a, OP_WRITE, wa, 64, len / BLOCK, &ioa, &iova);
	start_buf(&b, OP_WRITE, wb, 64, len / BLOCK, &iob, &iovb);
	cr_assert_eq(wait_io(&ioa), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert_eq(wait_io(&iob), SPIO_BDEV_IO_STATUS_SUCCESS);
	start_buf(&a, OP_READ, ra, 64, len / BLOCK, &ioa, &iova);
	start_buf(&b, OP_READ, rb, 64, len / BLOCK, &iob, &iovb);
	cr_assert_eq(wait_io(&ioa), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert_eq(wait_io(&iob), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(wa, ra, len) == 0 && memcmp(wb, rb, len) == 0);
	expect_media(1, 64, wa, len);
	expect_media(2, 64, wb, len);

	/*
	 * Thread 2's channel goes and comes back at once, five times: the new
	 * queue pair takes id 2 while the old one's queues may still be being
	 * deleted; its creation waits for that.
	 */
	creates = st->admin_cmds[SPIO_NVME_OPC_CREATE_IO_SQ];
	for (unsigned i = 0; i < 5; i++) {
		close_bdev(&b);
		/* Thread 2 alone: its channel goes, the admin thread has not deleted yet. */
		for (int k = 0; k < 3; k++) {
			spio_thread_poll(g_thread2, 0, 0);
		}
		cr_assert_eq(fake_pcie_num_io_sqs(g_fp), 2, "round %u: deleted too early", i);
		open_on(&b, "Nn2", g_thread2);
		cr_assert(poll_until(io_queues_are, (void *)(uintptr_t)2), "round %u: create", i);
		fill(wb, len, 10 + i);
		expect_buf(&b, OP_WRITE, wb, 128, len / BLOCK);
		memset(rb, 0, len);
		expect_buf(&b, OP_READ, rb, 128, len / BLOCK);
		cr_assert(memcmp(wb, rb, len) == 0, "round %u: data", i);
	}
	cr_assert_eq(st->admin_cmds[SPIO_NVME_OPC_CREATE_IO_SQ] - creates, 5, "creates: %lu",
		     (unsigned long)(st->admin_cmds[SPIO_NVME_OPC_CREATE_IO_SQ] - creates));
	cr_assert_eq(st->admin_cmds[SPIO_NVME_OPC_DELETE_IO_SQ], 5, "deletes: %lu",
		     (unsigned long)st->admin_cmds[SPIO_NVME_OPC_DELETE_IO_SQ]);
	/* Only queue ids 1 and 2 ever rang a doorbell: id 2 was reused five times. */
	for (uint32_t q = 3; q <= FAKE_PCIE_MAX_IOQ; q++) {
		cr_assert_eq(st->sq_doorbells[q], 0, "queue id %u was used", q);
	}
	cr_assert_gt(st->sq_doorbells[2], 0);
	close_bdev(&a);
	close_bdev(&b);
	cr_assert(poll_until(io_queues_are, (void *)(uintptr_t)0), "queues left");
	detach("N");
	free(wa);
	free(wb);
	free(ra);
	free(rb);
}

#define RESET_IOS 48

Test(bdev_nvme_pcie, reset_during_bounced_io_completes_each_once_then_io_works)
{
	struct handle h;
	size_t len = 128 * 1024; /* 8 in the bounce pool at a time, the rest waiting */
	uint8_t *w = malloc(RESET_IOS * len), *r = malloc(len);
	struct test_io io[RESET_IOS], rio;
	struct iovec iov[RESET_IOS], riov;
	uint64_t enables = fake_pcie_get_stats(g_fp)->enables;
	int ok = 0;

	cr_assert(w && r);
	attach_pcie();
	enables = fake_pcie_get_stats(g_fp)->enables;
	open_on(&h, "Nn1", g_thread2);
	fill(w, RESET_IOS * len, 8);
	for (int i = 0; i < RESET_IOS; i++) {
		start_buf(&h, OP_WRITE, w + i * len, (uint64_t)i * (len / BLOCK), len / BLOCK,
			  &io[i], &iov[i]);
	}
	/* Reset once the first is done: some in the device, most waiting for chunks. */
	cr_assert(poll_until(flag_set, &io[0].done));
	memset(&rio, 0, sizeof(rio));
	spio_set_thread(h.thread);
	cr_assert_eq(spio_bdev_reset(h.desc, h.ch, test_io_cb, &rio), 0);
	spio_set_thread(g_thread);
	cr_assert_eq(wait_io(&rio), SPIO_BDEV_IO_STATUS_SUCCESS, "reset failed");
	for (int i = 0; i < RESET_IOS; i++) {
		enum spio_bdev_io_status s = wait_io(&io[i]);

		cr_assert(s == SPIO_BDEV_IO_STATUS_SUCCESS || s == SPIO_BDEV_IO_STATUS_FAILED,
			  "write %d: status %d", i, s);
		if (s == SPIO_BDEV_IO_STATUS_SUCCESS) {
			ok++;
			expect_media(1, (uint64_t)i * (len / BLOCK), w + i * len, len);
		}
	}
	cr_assert_eq(fake_pcie_get_stats(g_fp)->enables, enables + 1, "the controller was reset");
	cr_log_info("%d of %d writes completed before the reset", ok, RESET_IOS);
	/* Bounced I/O works again, and every chunk came back (a full-pool I/O fits). */
	fill(w, len, 9);
	expect_buf(&h, OP_WRITE, w, 4000, len / BLOCK);
	start_buf(&h, OP_READ, r, 4000, len / BLOCK, &rio, &riov);
	cr_assert_eq(wait_io(&rio), SPIO_BDEV_IO_STATUS_SUCCESS);
	cr_assert(memcmp(w, r, len) == 0);
	close_bdev(&h);
	detach("N");
	free(w);
	free(r);
}

/*
 * NVMe-oF: spio's TCP target exports Nn1; a TCP nvme bdev "H" of this
 * process is its host.
 */

struct tgt_op {
	int done;
	int status;
	uint32_t nsid;
	struct spio_nvmf_tgt *tgt;
};

static void tgt_created(void *arg, struct spio_nvmf_tgt *tgt, int status)
{
	struct tgt_op *op = arg;

	op->tgt = tgt;
	op->status = status;
	op->done = 1;
}

static void tgt_status(void *arg, int status)
{
	struct tgt_op *op = arg;

	op->status = status;
	op->done = 1;
}

static void ns_added(void *arg, uint32_t nsid, int status)
{
	struct tgt_op *op = arg;

	op->nsid = nsid;
	op->status = status;
	op->done = 1;
}

static bool pgs_exited(void *arg)
{
	(void)arg;
	for (uint32_t i = 0; i < g_npg; i++) {
		if (!spio_thread_is_exited(g_pg[i])) {
			return false;
		}
	}
	return true;
}

/* A TCP port of 127.0.0.1 nothing is bound to now. */
static uint16_t free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static struct spio_nvmf_tgt *export_nn1(uint16_t *port)
{
	struct spio_nvmf_tgt_opts to;
	struct spio_nvmf_subsystem *s;
	struct spio_nvme_transport_id trid;
	struct spio_nvmf_ns_opts nso;
	struct tgt_op op = {0}, nop = {0};

	spio_nvmf_tgt_opts_init(&to, sizeof(to));
	spio_cpuset_zero(&to.cpumask);
	spio_cpuset_set_cpu(&to.cpumask, 0, true);
	spio_set_thread(g_thread);
	cr_assert_eq(spio_nvmf_tgt_create(&to, tgt_created, &op), 0);
	cr_assert(poll_until(flag_set, &op.done) && op.status == 0, "target: %d", op.status);
	cr_assert_eq(spio_nvmf_tgt_add_transport(op.tgt, "TCP", NULL), 0);
	s = spio_nvmf_subsystem_create(op.tgt, SUBNQN, 0);
	cr_assert_not_null(s);
	spio_nvmf_subsystem_set_allow_any_host(s, true);
	memset(&trid, 0, sizeof(trid));
	spio_nvme_transport_id_populate_trstring(&trid, SPIO_NVME_TRANSPORT_TCP);
	trid.adrfam = SPIO_NVMF_ADRFAM_IPV4;
	snprintf(trid.traddr, sizeof(trid.traddr), "127.0.0.1");
	*port = free_port();
	snprintf(trid.trsvcid, sizeof(trid.trsvcid), "%u", *port);
	cr_assert_eq(spio_nvmf_subsystem_add_listener(s, &trid), 0);
	/* Its own identifiers: the host's bdev must not carry Nn1's UUID (the same process). */
	spio_nvmf_ns_opts_init(&nso, sizeof(nso));
	memset(nso.nguid, 0x5a, sizeof(nso.nguid));
	memset(nso.uuid.u, 0x5a, sizeof(nso.uuid.u));
	cr_assert_eq(spio_nvmf_subsystem_add_ns(s, "Nn1", &nso, ns_added, &nop), 0);
	cr_assert(poll_until(flag_set, &nop.done) && nop.status == 0, "add_ns: %d", nop.status);
	return op.tgt;
}

Test(bdev_nvme_pcie, nvmf_tcp_target_exports_the_pcie_bdev_without_bouncing)
{
	struct handle h;
	struct spio_nvmf_tgt *tgt;
	uint16_t port;
	char params[512];
	size_t big = 128 * 1024, small = 4096;
	uint8_t *w = malloc(big), *r = malloc(big);
	struct tgt_op op = {0};
	struct spio_dma_stats before, after;
	json_t *res;

	cr_assert(w && r);
	attach_pcie();
	cr_assert_eq(spio_dma_get_stats(&before), 0);
	tgt = export_nn1(&port);
	snprintf(params, sizeof(params),
		 "{\"name\": \"H\", \"trtype\": \"tcp\", \"adrfam\": \"ipv4\", \"traddr\": "
		 "\"127.0.0.1\", \"trsvcid\": \"%u\", \"subnqn\": \"%s\"}",
		 port, SUBNQN);
	res = rpc("bdev_nvme_attach_controller", params);
	json_decref(res);
	open_on(&h, "Hn1", g_thread2);
	/*
	 * The target at SPDK's defaults (511 buffers of 128 KiB per poll group)
	 * with one host (admin + one I/O queue): its DMA memory stays small,
	 * since the pool grows only when requests need it.
	 */
	cr_assert_eq(spio_dma_get_stats(&after), 0);
	cr_log_info("target + host: %lu KiB of DMA memory in %lu buffers",
		    (unsigned long)((after.allocated_bytes - before.allocated_bytes) / 1024),
		    (unsigned long)(after.allocations - before.allocations));
	cr_assert_lt(after.allocated_bytes - before.allocated_bytes, 8u * 1024 * 1024);

	/* In-capsule (4 KiB) and R2T + pool buffer (128 KiB) writes; reads of both. */
	fill(w, small, 11);
	expect_buf(&h, OP_WRITE, w, 16, small / BLOCK);
	expect_media(1, 16, w, small);
	memset(r, 0, small);
	expect_buf(&h, OP_READ, r, 16, small / BLOCK);
	cr_assert(memcmp(w, r, small) == 0);
	fill(w, big, 12);
	expect_buf(&h, OP_WRITE, w, 1024, big / BLOCK);
	expect_media(1, 1024, w, big);
	memset(r, 0, big);
	expect_buf(&h, OP_READ, r, 1024, big / BLOCK);
	cr_assert(memcmp(w, r, big) == 0, "read through the target differs");
	/* The target's request and pool buffers are DMA memory: nothing bounced. */
	cr_assert_eq(bounce_stat("bounced_ios"), 0, "the target's buffers were bounced");

	close_bdev(&h);
	detach("H");
	spio_set_thread(g_thread);
	cr_assert_eq(spio_nvmf_tgt_destroy(tgt, tgt_status, &op), 0);
	cr_assert(poll_until(flag_set, &op.done), "target destroy");
	cr_assert(poll_until(pgs_exited, NULL), "poll group threads did not exit");
	for (uint32_t i = 0; i < g_npg; i++) {
		spio_thread_destroy(g_pg[i]);
	}
	g_npg = 0;
	detach("N");
	free(w);
	free(r);
}
