/*
 * The NVMe/TCP initiator against the fault-injecting fake target
 * (helper_fake_target): bring-up, identify, I/O in every data path
 * (in-capsule, R2T with several H2C PDUs, multi-PDU reads, vectored),
 * digests, namespace hot add/remove, keep-alive, discovery, and every
 * error path: each fault ends in an error to the caller, every command
 * completes exactly once, and the controller or queue works again after a
 * reset or reconnect.
 */
#define _GNU_SOURCE /* pthread_tryjoin_np */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/env.h"
#include "spio/nvme.h"
#include "spio/task.h"
#include "spio/thread.h"

#include "helper_fake_target.h"
#include "helper_nvme_wait.h"

static struct spio_thread *g_thread;
static struct fake_target *g_ft;
static struct spio_nvme_ctrlr *g_ctrlr;
static struct spio_nvme_qpair *g_qpair;
static struct spio_nvme_ns *g_ns;

static void setup_runtime(void)
{
	struct spio_env_opts eo;

	spio_env_opts_init(&eo, sizeof(eo));
	eo.name = "test_nvme_host";
	eo.no_huge = true;
	cr_assert_eq(spio_env_init(&eo), 0);
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0);
	g_thread = spio_thread_create("nvme_host_test", NULL);
	cr_assert_not_null(g_thread);
	spio_set_thread(g_thread);
	wait_set_qpair_thread(&g_qpair, g_thread);
}

static void teardown_runtime(void)
{
	if (g_qpair != NULL) {
		spio_nvme_ctrlr_free_io_qpair(g_qpair);
		g_qpair = NULL;
	}
	if (g_ctrlr != NULL) {
		cr_assert_eq(spio_nvme_detach(g_ctrlr), 0, "detach failed");
		g_ctrlr = NULL;
	}
	if (g_ft != NULL) {
		fake_target_stop(g_ft);
		g_ft = NULL;
	}
	spio_thread_exit(g_thread);
	while (!spio_thread_is_exited(g_thread)) {
		spio_thread_poll(g_thread, 0, 0);
	}
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
}

TestSuite(nvme_host, .init = setup_runtime, .fini = teardown_runtime, .timeout = 120);

static void make_trid(struct spio_nvme_transport_id *trid, const char *subnqn)
{
	char str[512];

	snprintf(str, sizeof(str), "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%u subnqn:%s",
		 fake_target_port(g_ft), subnqn != NULL ? subnqn : FAKE_TARGET_SUBNQN);
	cr_assert_eq(spio_nvme_transport_id_parse(trid, str), 0, "parse %s", str);
}

static void start_target(struct fake_target_opts *opts)
{
	struct fake_target_opts defaults;

	if (opts == NULL) {
		fake_target_opts_init(&defaults);
		opts = &defaults;
	}
	g_ft = fake_target_start(opts);
	cr_assert_not_null(g_ft, "fake target did not start");
}

static void connect_ctrlr(const struct spio_nvme_ctrlr_opts *opts)
{
	struct spio_nvme_transport_id trid;

	make_trid(&trid, NULL);
	g_ctrlr = spio_nvme_connect(&trid, opts);
	cr_assert_not_null(g_ctrlr, "connect failed: errno %d", errno);
	g_ns = spio_nvme_ctrlr_get_ns(g_ctrlr, 1);
	cr_assert_not_null(g_ns, "namespace 1 not active");
}

static void connect_io(void)
{
	g_qpair = spio_nvme_ctrlr_alloc_io_qpair(g_ctrlr, NULL, 0);
	cr_assert_not_null(g_qpair, "alloc_io_qpair: errno %d", errno);
	cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair), 0, "I/O queue connect");
}

static void setup_io(const struct fake_target_opts *fopts, const struct spio_nvme_ctrlr_opts *copts)
{
	start_target((struct fake_target_opts *)fopts);
	connect_ctrlr(copts);
	connect_io();
}

static void expect_aborted(const struct io_result *r, const char *what)
{
	cr_assert_eq(r->count, 1, "%s: expected 1 completion, got %d", what, r->count);
	cr_assert(r->cpl.status.sct == SPIO_NVME_SCT_GENERIC &&
		      r->cpl.status.sc == SPIO_NVME_SC_ABORTED_SQ_DELETION,
		  "%s: expected ABORTED_SQ_DELETION, got sct %u sc 0x%02x", what, r->cpl.status.sct,
		  r->cpl.status.sc);
}

static void do_write(void *buf, uint64_t lba, uint32_t n)
{
	struct io_result r = {0};

	cr_assert_eq(spio_nvme_ns_cmd_write(g_ns, g_qpair, buf, lba, n, io_done, &r, 0), 0);
	wait_result(&r, "write");
	expect_success(&r, "write");
}

static void do_read(void *buf, uint64_t lba, uint32_t n)
{
	struct io_result r = {0};

	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, lba, n, io_done, &r, 0), 0);
	wait_result(&r, "read");
	expect_success(&r, "read");
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	srand(seed);
	for (size_t i = 0; i < len; i++) {
		buf[i] = (uint8_t)rand();
	}
}

/* Write `len` bytes at `lba`, read them back through the initiator and the fake's memory. */
static void roundtrip(uint64_t lba, size_t len, unsigned seed)
{
	uint8_t *w = malloc(len), *r = malloc(len), *t = malloc(len);

	fill(w, len, seed);
	do_write(w, lba, (uint32_t)(len / 512));
	memset(r, 0, len);
	do_read(r, lba, (uint32_t)(len / 512));
	cr_assert(memcmp(w, r, len) == 0, "%zu bytes at lba %lu: read back differs", len,
		  (unsigned long)lba);
	cr_assert_eq(fake_target_ns_read(g_ft, 1, lba * 512, t, len), 0);
	cr_assert(memcmp(w, t, len) == 0, "%zu bytes at lba %lu: target's copy differs", len,
		  (unsigned long)lba);
	free(w);
	free(r);
	free(t);
}

Test(nvme_host, connect_identifies_controller_and_namespace)
{
	const struct spio_nvme_ctrlr_data *cd;

	start_target(NULL);
	connect_ctrlr(NULL);
	cd = spio_nvme_ctrlr_get_data(g_ctrlr);
	cr_assert(strncmp(cd->sn, "FAKE0001", 8) == 0, "serial: expected FAKE0001, got %.20s",
		  cd->sn);
	cr_assert(!spio_nvme_ctrlr_is_discovery(g_ctrlr));
	cr_assert_eq(spio_nvme_ctrlr_get_regs_csts(g_ctrlr).bits.rdy, 1, "CSTS.RDY not set");
	cr_assert_gt(spio_nvme_ctrlr_get_num_io_queues(g_ctrlr), 0);
	cr_assert_eq(spio_nvme_ctrlr_get_first_active_ns(g_ctrlr), 1);
	cr_assert_eq(spio_nvme_ctrlr_get_next_active_ns(g_ctrlr, 1), 0);
	cr_assert_eq(spio_nvme_ns_get_sector_size(g_ns), 512);
	cr_assert_eq(spio_nvme_ns_get_size(g_ns), 64ull << 20, "size: got %lu",
		     (unsigned long)spio_nvme_ns_get_size(g_ns));
	cr_assert_not_null(spio_nvme_ns_get_uuid(g_ns), "UUID from the descriptor list");
	cr_assert_not_null(spio_nvme_ns_get_nguid(g_ns));
	cr_assert_neq(spio_nvme_ns_get_eui64(g_ns), 0);
	/* MDTS 5 with 4 KiB pages: 128 KiB. */
	cr_assert_eq(spio_nvme_ctrlr_get_max_xfer_size(g_ctrlr), 128 * 1024);
}

Test(nvme_host, io_in_capsule_r2t_and_multi_pdu_reads)
{
	struct fake_target_opts fo;

	fake_target_opts_init(&fo);
	fo.maxh2cdata = 16384; /* several H2C PDUs per R2T */
	fo.r2t_max = 32768;    /* several R2Ts per write */
	fo.c2h_max = 8192;     /* several C2H PDUs per read */
	setup_io(&fo, NULL);
	roundtrip(0, 512, 1);
	roundtrip(8, 4096, 2);	       /* in-capsule */
	roundtrip(100, 128 * 1024, 3); /* R2T */
	roundtrip(131000, 36 * 512, 4);
}

Test(nvme_host, vectored_io_and_c2h_success)
{
	struct fake_target_opts fo;
	uint8_t *a = malloc(4096), *b = malloc(8192), *c = malloc(512), *r = malloc(12800);
	struct iovec wv[3] = {{a, 4096}, {b, 8192}, {c, 512}};
	struct iovec rv[2] = {{r, 7000}, {r + 7000, 12800 - 7000}};
	struct io_result res = {0};

	fake_target_opts_init(&fo);
	fo.c2h_success = true;
	setup_io(&fo, NULL);
	fill(a, 4096, 5);
	fill(b, 8192, 6);
	fill(c, 512, 7);
	cr_assert_eq(spio_nvme_ns_cmd_writev(g_ns, g_qpair, 40, 25, wv, 3, io_done, &res, 0), 0);
	wait_result(&res, "writev");
	expect_success(&res, "writev");
	memset(&res, 0, sizeof(res));
	cr_assert_eq(spio_nvme_ns_cmd_readv(g_ns, g_qpair, 40, 25, rv, 2, io_done, &res, 0), 0);
	wait_result(&res, "readv");
	expect_success(&res, "readv");
	cr_assert(memcmp(r, a, 4096) == 0 && memcmp(r + 4096, b, 8192) == 0 &&
		      memcmp(r + 12288, c, 512) == 0,
		  "vectored read back differs");
	free(a);
	free(b);
	free(c);
	free(r);
}

Test(nvme_host, flush_write_zeroes_deallocate_compare)
{
	uint8_t *buf = malloc(8192), *zero = calloc(1, 8192);
	struct spio_nvme_dsm_range range = {.starting_lba = 16, .length = 16};
	struct io_result r = {0};

	setup_io(NULL, NULL);
	fill(buf, 8192, 8);
	do_write(buf, 16, 16);
	cr_assert_eq(spio_nvme_ns_cmd_flush(g_ns, g_qpair, io_done, &r), 0);
	wait_result(&r, "flush");
	expect_success(&r, "flush");

	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_nvme_ns_cmd_compare(g_ns, g_qpair, buf, 16, 16, io_done, &r, 0), 0);
	wait_result(&r, "compare equal");
	expect_success(&r, "compare equal");
	buf[100] ^= 1;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_nvme_ns_cmd_compare(g_ns, g_qpair, buf, 16, 16, io_done, &r, 0), 0);
	wait_result(&r, "compare different");
	cr_assert(r.cpl.status.sct == SPIO_NVME_SCT_MEDIA_ERROR &&
		      r.cpl.status.sc == SPIO_NVME_SC_COMPARE_FAILURE,
		  "compare different: expected COMPARE_FAILURE, got sct %u sc 0x%02x",
		  r.cpl.status.sct, r.cpl.status.sc);

	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_nvme_ns_cmd_dataset_management(
			 g_ns, g_qpair, SPIO_NVME_DSM_ATTR_DEALLOCATE, &range, 1, io_done, &r),
		     0);
	wait_result(&r, "deallocate");
	expect_success(&r, "deallocate");
	do_read(buf, 16, 16);
	cr_assert(memcmp(buf, zero, 8192) == 0, "deallocated blocks do not read as zeroes");

	fill(buf, 8192, 9);
	do_write(buf, 16, 16);
	memset(&r, 0, sizeof(r));
	cr_assert_eq(spio_nvme_ns_cmd_write_zeroes(g_ns, g_qpair, 16, 16, io_done, &r, 0), 0);
	wait_result(&r, "write zeroes");
	expect_success(&r, "write zeroes");
	do_read(buf, 16, 16);
	cr_assert(memcmp(buf, zero, 8192) == 0, "write zeroes left data");
	free(buf);
	free(zero);
}

Test(nvme_host, bad_arguments_are_refused_before_anything_is_sent)
{
	uint8_t buf[4096];
	struct iovec short_iov = {buf, 512};
	struct spio_nvme_dsm_range beyond = {.starting_lba = (64ull << 20) / 512, .length = 1};
	struct spio_nvme_transport_id trid;
	struct spio_nvme_ctrlr_opts opts;
	struct io_result r = {0};

	setup_io(NULL, NULL);
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, 0, io_done, &r, 0), -EINVAL);
	cr_assert_eq(
	    spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, (64ull << 20) / 512, 1, io_done, &r, 0),
	    -EINVAL, "read past the end");
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, UINT64_MAX, 2, io_done, &r, 0),
		     -EINVAL, "LBA wrap");
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, 512, io_done, &r, 0), -EINVAL,
		     "256 KiB beyond the 128 KiB MDTS");
	cr_assert_eq(spio_nvme_ns_cmd_readv(g_ns, g_qpair, 0, 8, &short_iov, 1, io_done, &r, 0),
		     -EINVAL, "iovecs shorter than the blocks");
	cr_assert_eq(spio_nvme_ns_cmd_dataset_management(
			 g_ns, g_qpair, SPIO_NVME_DSM_ATTR_DEALLOCATE, &beyond, 1, io_done, &r),
		     -EINVAL);
	cr_assert_eq(spio_nvme_ns_cmd_dataset_management(g_ns, g_qpair, 0, &beyond, 0, io_done, &r),
		     -EINVAL, "zero ranges");
	cr_assert_eq(r.count, 0, "a refused command completed");
	cr_assert_eq(spio_nvme_detach(g_ctrlr), -EBUSY, "detach with an I/O queue left");
	cr_assert_eq(spio_nvme_ns_cmd_read_await(g_ns, g_qpair, buf, 0, 1, 0, NULL), -EPERM,
		     "_await outside a task");

	/* Connect-time errors. */
	make_trid(&trid, NULL);
	cr_assert_eq(spio_nvme_connect_async(NULL, NULL, NULL, NULL), -EINVAL);
	spio_nvme_ctrlr_get_default_opts(&opts, sizeof(opts));
	opts.admin_queue_size = 1;
	errno = 0;
	cr_assert_null(spio_nvme_connect(&trid, &opts));
	cr_assert_eq(errno, EINVAL, "admin queue of 1 entry: errno %d", errno);
	cr_assert_eq(spio_nvme_transport_id_parse(&trid, "trtype:PCIe traddr:0000:01:00.0"), 0);
	errno = 0;
	cr_assert_null(spio_nvme_connect(&trid, NULL));
	cr_assert_eq(errno, ENODEV, "PCIe controller at an address with no device: errno %d",
		     errno);
}

Test(nvme_host, connection_refused_and_host_not_allowed)
{
	static const char *const hosts[] = {"nqn.2014-08.org.nvmexpress:uuid:not-us", NULL};
	struct fake_target_opts fo;
	struct spio_nvme_transport_id trid;
	char str[256];
	uint16_t port;

	fake_target_opts_init(&fo);
	fo.allowed_hosts = hosts;
	start_target(&fo);
	make_trid(&trid, NULL);
	errno = 0;
	cr_assert_null(spio_nvme_connect(&trid, NULL));
	cr_assert_eq(errno, EACCES, "host not allowed: expected EACCES, got %d", errno);
	port = fake_target_port(g_ft);
	fake_target_stop(g_ft);
	g_ft = NULL;
	snprintf(str, sizeof(str), "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%u subnqn:x",
		 port);
	cr_assert_eq(spio_nvme_transport_id_parse(&trid, str), 0);
	errno = 0;
	cr_assert_null(spio_nvme_connect(&trid, NULL));
	cr_assert_eq(errno, ECONNREFUSED, "nobody listening: expected ECONNREFUSED, got %d", errno);
}

Test(nvme_host, digests_both_ways_and_a_bad_data_digest_fails_one_command)
{
	struct fake_target_opts fo;
	struct spio_nvme_ctrlr_opts co;
	uint8_t *buf = malloc(8192);
	struct io_result r = {0};

	fake_target_opts_init(&fo);
	fo.digests = true;
	spio_nvme_ctrlr_get_default_opts(&co, sizeof(co));
	co.header_digest = true;
	co.data_digest = true;
	setup_io(&fo, &co);
	roundtrip(0, 4096, 10);
	roundtrip(64, 64 * 1024, 11);

	cr_assert_eq(fake_target_inject(g_ft, FAULT_BAD_DDGST, 0), 0);
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, 8, io_done, &r, 0), 0);
	wait_result(&r, "read with a bad data digest");
	cr_assert_eq(r.count, 1);
	cr_assert(r.cpl.status.sct == SPIO_NVME_SCT_GENERIC &&
		      r.cpl.status.sc == SPIO_NVME_SC_COMMAND_TRANSIENT_TRANSPORT_ERROR,
		  "bad data digest: expected a transient transport error, got sct %u sc 0x%02x",
		  r.cpl.status.sct, r.cpl.status.sc);
	cr_assert(spio_nvme_qpair_is_connected(g_qpair), "a data digest error kept the queue");
	roundtrip(0, 4096, 12);
	free(buf);
}

/* Connects g_qpair again after the host dropped it. The target may not have seen the old
 * connection go yet and refuses the queue ID as still in use (-EIO): retry for up to 2 s. */
static int reconnect_io_qpair(void)
{
	int rc = -EIO;

	for (int i = 0; i < 40 && rc == -EIO; i++) {
		if (i > 0) {
			usleep(50 * 1000);
		}
		rc = spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair);
	}
	return rc;
}

/* A fault on the I/O queue: the read fails once, the queue is down, reconnecting heals it. */
static void fault_kills_queue(enum fake_fault fault, uint32_t arg, uint32_t blocks)
{
	uint8_t *buf = malloc(blocks * 512);
	struct io_result r = {0}, late = {0};
	int rc;

	cr_assert_eq(fake_target_inject(g_ft, fault, arg), 0);
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, blocks, io_done, &r, 0), 0);
	wait_result(&r, "read under a fault");
	expect_aborted(&r, "read under a fault");
	cr_assert(!spio_nvme_qpair_is_connected(g_qpair), "queue still up after fault %d", fault);
	cr_assert_eq(spio_nvme_qpair_process_completions(g_qpair, 0), -ENXIO);
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, 1, io_done, &late, 0), -ENXIO,
		     "submit on a dead queue");
	cr_assert_eq(r.count, 1, "completed twice");
	rc = reconnect_io_qpair();
	cr_assert_eq(rc, 0, "reconnect after fault %d: %d", fault, rc);
	roundtrip(0, 4096, 13);
	free(buf);
}

Test(nvme_host, each_stream_fault_fails_the_queue_then_reconnect_works)
{
	struct fake_target_opts fo;
	struct spio_nvme_ctrlr_opts co;

	fake_target_opts_init(&fo);
	fo.digests = true;
	spio_nvme_ctrlr_get_default_opts(&co, sizeof(co));
	co.header_digest = true;
	setup_io(&fo, &co);
	fault_kills_queue(FAULT_BAD_HDGST, 0, 8);
	fault_kills_queue(FAULT_TRUNCATE, 0, 8);
	fault_kills_queue(FAULT_OVERSIZE_C2H, 0, 8);
	fault_kills_queue(FAULT_UNKNOWN_PDU_TYPE, 0, 8);
	fault_kills_queue(FAULT_C2H_UNKNOWN_CID, 0, 8);
	fault_kills_queue(FAULT_CLOSE_MID_DATA, 0, 64);
}

Test(nvme_host, status_from_the_controller_reaches_the_caller)
{
	uint8_t buf[512];
	struct io_result r = {0};

	setup_io(NULL, NULL);
	cr_assert_eq(fake_target_inject(g_ft, FAULT_STATUS,
					(SPIO_NVME_SCT_MEDIA_ERROR << 8) |
					    SPIO_NVME_SC_UNRECOVERED_READ_ERROR),
		     0);
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, 1, io_done, &r, 0), 0);
	wait_result(&r, "read with an injected status");
	cr_assert_eq(r.count, 1);
	cr_assert(r.cpl.status.sct == SPIO_NVME_SCT_MEDIA_ERROR &&
		      r.cpl.status.sc == SPIO_NVME_SC_UNRECOVERED_READ_ERROR,
		  "expected media error 0x81, got sct %u sc 0x%02x", r.cpl.status.sct,
		  r.cpl.status.sc);
	cr_assert(spio_nvme_qpair_is_connected(g_qpair));
}

Test(nvme_host, command_timeout_drops_the_queue_and_fails_each_command_once)
{
	struct spio_nvme_ctrlr_opts co;
	uint8_t *buf = malloc(16 * 4096);
	struct io_result r[16];

	spio_nvme_ctrlr_get_default_opts(&co, sizeof(co));
	co.io_timeout_ms = 300;
	setup_io(NULL, &co);
	memset(r, 0, sizeof(r));
	cr_assert_eq(fake_target_inject(g_ft, FAULT_DROP_RESPONSE, 0), 0);
	for (int i = 0; i < 16; i++) {
		cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf + i * 4096, (uint64_t)i * 8,
						   8, io_done, &r[i], 0),
			     0);
	}
	wait_result(&r[0], "dropped read");
	for (int i = 0; i < 16; i++) {
		wait_result(&r[i], "read on the timed-out queue");
		cr_assert_eq(r[i].count, 1, "command %d completed %d times", i, r[i].count);
	}
	cr_assert(!spio_nvme_qpair_is_connected(g_qpair));
	cr_assert_eq(reconnect_io_qpair(), 0);
	roundtrip(0, 4096, 14);
	free(buf);
}

static bool ctrlr_failed(void *arg)
{
	return spio_nvme_ctrlr_is_failed(arg);
}

Test(nvme_host, dropped_connections_then_controller_reset_and_queue_reconnect)
{
	uint8_t *buf = malloc(32 * 4096);
	struct io_result r[32];

	setup_io(NULL, NULL);
	memset(r, 0, sizeof(r));
	cr_assert_eq(fake_target_inject(g_ft, FAULT_DELAY_MS, 200), 0);
	for (int i = 0; i < 32; i++) {
		cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf + i * 4096, (uint64_t)i * 8,
						   8, io_done, &r[i], 0),
			     0);
	}
	cr_assert_geq(fake_target_drop_connections(g_ft), 2, "admin and I/O connections dropped");
	for (int i = 0; i < 32; i++) {
		wait_result(&r[i], "read across a dropped connection");
	}
	cr_assert(poll_until(ctrlr_failed, g_ctrlr), "admin connection loss not noticed");
	for (int i = 0; i < 32; i++) {
		cr_assert_eq(r[i].count, 1, "command %d completed %d times", i, r[i].count);
	}
	cr_assert_eq(spio_nvme_ctrlr_reset(g_ctrlr), 0, "reset after the drop");
	cr_assert(!spio_nvme_ctrlr_is_failed(g_ctrlr));
	cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair), 0);
	roundtrip(8, 4096, 15);
	free(buf);
}

Test(nvme_host, reset_of_a_healthy_controller_disconnects_old_queues)
{
	uint8_t buf[4096];
	struct io_result r = {0};

	setup_io(NULL, NULL);
	roundtrip(0, 4096, 16);
	cr_assert_eq(spio_nvme_ctrlr_reset(g_ctrlr), 0);
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, 8, io_done, &r, 0), -ENXIO,
		     "a queue of the old controller must not send");
	cr_assert_eq(spio_nvme_qpair_process_completions(g_qpair, 0), -ENXIO);
	cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair), 0);
	roundtrip(0, 4096, 17);
}

struct ns_events {
	int added, removed, aers;
	uint32_t last_nsid;
};

static void on_ns_change(void *arg, struct spio_nvme_ctrlr *ctrlr, uint32_t nsid,
			 enum spio_nvme_ns_event ev)
{
	struct ns_events *e = arg;

	e->last_nsid = nsid;
	if (ev == SPIO_NVME_NS_ADDED) {
		e->added++;
	} else if (ev == SPIO_NVME_NS_REMOVED) {
		e->removed++;
	}
}

static void on_aer(void *arg, const struct spio_nvme_cpl *cpl)
{
	((struct ns_events *)arg)->aers++;
}

static bool ns_added(void *arg)
{
	return ((struct ns_events *)arg)->added > 0;
}

static bool ns_removed(void *arg)
{
	return ((struct ns_events *)arg)->removed > 0;
}

Test(nvme_host, namespace_hot_add_and_remove_reach_the_host)
{
	struct ns_events ev = {0};
	struct spio_nvme_ns *ns2;

	start_target(NULL);
	connect_ctrlr(NULL);
	spio_nvme_ctrlr_register_ns_change_callback(g_ctrlr, on_ns_change, &ev);
	spio_nvme_ctrlr_register_aer_callback(g_ctrlr, on_aer, &ev);
	cr_assert_eq(fake_target_add_ns(g_ft, 2, 8ull << 20), 0);
	cr_assert(poll_until(ns_added, &ev), "namespace 2 never reported");
	cr_assert_eq(ev.last_nsid, 2);
	ns2 = spio_nvme_ctrlr_get_ns(g_ctrlr, 2);
	cr_assert_not_null(ns2);
	cr_assert_eq(spio_nvme_ns_get_size(ns2), 8ull << 20);
	cr_assert_eq(spio_nvme_ctrlr_get_next_active_ns(g_ctrlr, 1), 2);
	cr_assert_eq(fake_target_remove_ns(g_ft, 2), 0);
	cr_assert(poll_until(ns_removed, &ev), "removal never reported");
	cr_assert_null(spio_nvme_ctrlr_get_ns(g_ctrlr, 2));
	cr_assert(!spio_nvme_ctrlr_is_active_ns(g_ctrlr, 2));
	cr_assert_geq(ev.aers, 2, "the application's AER callback ran %d times", ev.aers);
}

static bool keep_alives_sent(const struct fake_target_stats *s, void *arg)
{
	return s->admin_cmds[SPIO_NVME_OPC_KEEP_ALIVE] >= 3;
}

Test(nvme_host, keep_alive_keeps_an_idle_controller)
{
	struct fake_target_opts fo;
	struct spio_nvme_ctrlr_opts co;
	struct fake_target_stats st;
	uint64_t limit;

	fake_target_opts_init(&fo);
	fo.kato_enforce = true;
	spio_nvme_ctrlr_get_default_opts(&co, sizeof(co));
	co.keep_alive_timeout_ms = 1000;
	setup_io(&fo, &co);
	limit = spio_get_ticks() + (uint64_t)WAIT_MS * spio_get_ticks_hz() / 1000;
	while (!fake_target_wait(g_ft, keep_alives_sent, NULL, 0) && spio_get_ticks() < limit) {
		spio_thread_poll(g_thread, 0, 0);
	}
	fake_target_get_stats(g_ft, &st);
	cr_assert_geq(st.admin_cmds[SPIO_NVME_OPC_KEEP_ALIVE], 3, "keep-alives sent: %lu",
		      (unsigned long)st.admin_cmds[SPIO_NVME_OPC_KEEP_ALIVE]);
	cr_assert_eq(st.kato_expired, 0, "the target's keep-alive timer expired");
	cr_assert(!spio_nvme_ctrlr_is_failed(g_ctrlr));
	roundtrip(0, 4096, 18);
}

struct probe_seen {
	int attached;
	bool done;
	struct spio_nvme_ctrlr *ctrlr;
};

static void probe_attach(void *arg, const struct spio_nvme_transport_id *trid,
			 struct spio_nvme_ctrlr *ctrlr, int status)
{
	struct probe_seen *p = arg;

	if (status == 0) {
		p->attached++;
		p->ctrlr = ctrlr;
	}
}

static void probe_done(void *arg, int status)
{
	((struct probe_seen *)arg)->done = true;
}

static bool probe_finished(void *arg)
{
	return ((struct probe_seen *)arg)->done;
}

Test(nvme_host, discovery_probe_attaches_the_listed_subsystem)
{
	struct spio_nvme_transport_id trid;
	struct probe_seen p = {0};

	start_target(NULL);
	make_trid(&trid, SPIO_NVMF_DISCOVERY_NQN);
	cr_assert_eq(spio_nvme_probe_async(&trid, NULL, probe_attach, probe_done, &p), 0);
	cr_assert(poll_until(probe_finished, &p), "probe never finished");
	cr_assert_eq(p.attached, 1, "attached %d subsystems", p.attached);
	cr_assert_str_eq(spio_nvme_ctrlr_get_transport_id(p.ctrlr)->subnqn, FAKE_TARGET_SUBNQN);
	g_ctrlr = p.ctrlr;
}

struct stress {
	uint8_t *buf;
	int inflight;
	int completed;
	int errors;
	int target;
};

static void stress_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct stress *s = arg;

	s->inflight--;
	s->completed++;
	s->errors += spio_nvme_cpl_is_error(cpl);
}

static bool stress_finished(void *arg)
{
	struct stress *s = arg;

	return s->completed >= s->target && s->inflight == 0;
}

Test(nvme_host, queue_full_of_commands)
{
	struct stress s = {.target = 2000};
	int submitted = 0;

	setup_io(NULL, NULL);
	s.buf = malloc(127 * 4096);
	/* Keep the queue full: -ENOMEM once all 127 slots are out, never a lost command. */
	while (submitted < s.target) {
		int rc =
		    spio_nvme_ns_cmd_write(g_ns, g_qpair, s.buf + (submitted % 127) * 4096,
					   (uint64_t)(submitted % 1000) * 8, 8, stress_done, &s, 0);

		if (rc == -ENOMEM) {
			cr_assert_eq(s.inflight, 127, "-ENOMEM with %d in flight", s.inflight);
			spio_nvme_qpair_process_completions(g_qpair, 0);
			continue;
		}
		cr_assert_eq(rc, 0);
		s.inflight++;
		submitted++;
	}
	cr_assert(poll_until(stress_finished, &s));
	cr_assert_eq(s.errors, 0);
	cr_assert_eq(s.completed, s.target);
	free(s.buf);
}

/* The _await twins, from a task. */
struct await_ctx {
	struct spio_nvme_qpair *qpair;
	int rc;
	bool done;
};

static int await_task(void *arg)
{
	struct await_ctx *a = arg;
	struct spio_nvme_qpair *qp = a->qpair;
	struct spio_nvme_cpl cpl;
	uint8_t *w = malloc(4096), *r = malloc(4096);

	fill(w, 4096, 19);
	a->rc = spio_nvme_ns_cmd_write_await(g_ns, qp, w, 0, 8, 0, &cpl);
	if (a->rc == 0) {
		a->rc = spio_nvme_ns_cmd_read_await(g_ns, qp, r, 0, 8, 0, &cpl);
	}
	if (a->rc == 0 && memcmp(w, r, 4096) != 0) {
		a->rc = -EILSEQ;
	}
	if (a->rc == 0) {
		w[0] ^= 1;
		/* A mismatch is -EILSEQ, with the status in cpl. */
		a->rc = spio_nvme_ns_cmd_compare_await(g_ns, qp, w, 0, 8, 0, &cpl) == -EILSEQ &&
				cpl.status.sc == SPIO_NVME_SC_COMPARE_FAILURE
			    ? 0
			    : -EIO;
	}
	free(w);
	free(r);
	a->done = true;
	return 0;
}

static bool await_finished(void *arg)
{
	return ((struct await_ctx *)arg)->done;
}

Test(nvme_host, await_twins_in_a_task)
{
	struct spio_nvme_poll_group *group;
	struct await_ctx a = {0};
	struct spio_nvme_qpair *qp;

	setup_io(NULL, NULL);
	group = spio_nvme_poll_group_create();
	cr_assert_not_null(group);
	cr_assert_eq(spio_nvme_poll_group_add(group, g_qpair), 0);
	cr_assert_eq(spio_nvme_poll_group_add(group, g_qpair), -EEXIST);
	a.qpair = g_qpair;
	cr_assert_eq(spio_task_spawn(await_task, &a, NULL, NULL), 0);
	/* Only the thread is polled: the poll group's poller drives the queue. */
	qp = g_qpair;
	g_qpair = NULL;
	cr_assert(poll_until(await_finished, &a));
	g_qpair = qp;
	cr_assert_eq(a.rc, 0, "await sequence: %d", a.rc);
	cr_assert_eq(spio_nvme_poll_group_destroy(group), -EBUSY);
	cr_assert_eq(spio_nvme_poll_group_remove(group, g_qpair), 0);
	cr_assert_eq(spio_nvme_poll_group_destroy(group), 0);
}

Test(nvme_host, admin_timeout_spares_the_waiting_event_requests)
{
	struct spio_nvme_ctrlr_opts co;
	uint64_t until;

	spio_nvme_ctrlr_get_default_opts(&co, sizeof(co));
	co.admin_timeout_ms = 200;
	start_target(NULL);
	connect_ctrlr(&co);
	/* Idle for several timeouts: the AERs wait, nothing times out. */
	until = spio_get_ticks() + spio_get_ticks_hz();
	while (spio_get_ticks() < until) {
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert(!spio_nvme_ctrlr_is_failed(g_ctrlr), "an idle controller failed");
}

struct connect_seen {
	int count;
	int status;
};

static void connect_seen_cb(void *arg, struct spio_nvme_qpair *qpair, int status)
{
	struct connect_seen *c = arg;

	c->count++;
	c->status = status;
}

Test(nvme_host, disconnect_during_connect_answers_the_connect)
{
	struct connect_seen c = {0};

	start_target(NULL);
	connect_ctrlr(NULL);
	g_qpair = spio_nvme_ctrlr_alloc_io_qpair(g_ctrlr, NULL, 0);
	cr_assert_not_null(g_qpair);
	cr_assert_eq(spio_nvme_qpair_connect_async(g_qpair, connect_seen_cb, &c), 0);
	cr_assert_eq(spio_nvme_qpair_connect_async(g_qpair, connect_seen_cb, &c), -EALREADY);
	spio_nvme_ctrlr_disconnect_io_qpair(g_qpair);
	cr_assert_eq(c.count, 1, "connect callback ran %d times", c.count);
	cr_assert_eq(c.status, -ECONNABORTED, "status %d", c.status);
	cr_assert_eq(reconnect_io_qpair(), 0, "connect again");
	cr_assert_eq(c.count, 1);
	roundtrip(0, 4096, 20);
}

Test(nvme_host, host_address_is_bound)
{
	struct spio_nvme_transport_id trid;
	char str[512];

	start_target(NULL);
	snprintf(str, sizeof(str),
		 "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%u subnqn:%s hostaddr:127.0.0.2",
		 fake_target_port(g_ft), FAKE_TARGET_SUBNQN);
	cr_assert_eq(spio_nvme_transport_id_parse(&trid, str), 0);
	g_ctrlr = spio_nvme_connect(&trid, NULL);
	cr_assert_not_null(g_ctrlr, "connect from 127.0.0.2: errno %d", errno);
	cr_assert_eq(spio_nvme_detach(g_ctrlr), 0);
	g_ctrlr = NULL;
	/* An address that is not ours cannot be bound: the connect fails, clearly. */
	snprintf(str, sizeof(str),
		 "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%u subnqn:%s hostaddr:192.0.2.1",
		 fake_target_port(g_ft), FAKE_TARGET_SUBNQN);
	cr_assert_eq(spio_nvme_transport_id_parse(&trid, str), 0);
	errno = 0;
	cr_assert_null(spio_nvme_connect(&trid, NULL));
	cr_assert_eq(errno, EADDRNOTAVAIL, "errno %d", errno);
}

/* Admin commands through the public API, from a task. */
struct admin_ctx {
	int rc;
	bool done;
	uint32_t num_queues;
	uint32_t abort_cdw0;
	uint8_t health_temp_ok;
};

static int admin_task(void *arg)
{
	struct admin_ctx *a = arg;
	struct spio_nvme_health_information_page *health = calloc(1, sizeof(*health));
	struct spio_nvme_ctrlr_data *cdata = calloc(1, sizeof(*cdata));
	struct spio_nvme_cmd cmd = {0};
	struct spio_nvme_cpl cpl;

	cmd.opc = SPIO_NVME_OPC_IDENTIFY;
	cmd.cdw10 = SPIO_NVME_IDENTIFY_CTRLR;
	a->rc = spio_nvme_ctrlr_cmd_admin_await(g_ctrlr, &cmd, cdata, sizeof(*cdata), &cpl);
	if (a->rc == 0 && strncmp(cdata->sn, "FAKE0001", 8) != 0) {
		a->rc = -EBADMSG;
	}
	if (a->rc == 0) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = SPIO_NVME_OPC_GET_FEATURES;
		cmd.cdw10 = SPIO_NVME_FEAT_NUMBER_OF_QUEUES;
		a->rc = spio_nvme_ctrlr_cmd_admin_await(g_ctrlr, &cmd, NULL, 0, &cpl);
		a->num_queues = (cpl.cdw0 & 0xFFFF) + 1;
	}
	if (a->rc == 0) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = SPIO_NVME_OPC_GET_LOG_PAGE;
		cmd.nsid = SPIO_NVME_GLOBAL_NS_TAG;
		cmd.cdw10 = SPIO_NVME_LOG_HEALTH_INFORMATION | ((sizeof(*health) / 4 - 1) << 16);
		a->rc =
		    spio_nvme_ctrlr_cmd_admin_await(g_ctrlr, &cmd, health, sizeof(*health), &cpl);
		a->health_temp_ok = health->temperature > 200; /* Kelvin */
	}
	if (a->rc == 0) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = SPIO_NVME_OPC_ABORT;
		cmd.cdw10 = 1 | (5u << 16);
		a->rc = spio_nvme_ctrlr_cmd_admin_await(g_ctrlr, &cmd, NULL, 0, &cpl);
		a->abort_cdw0 = cpl.cdw0;
	}
	free(health);
	free(cdata);
	a->done = true;
	return 0;
}

static bool admin_finished(void *arg)
{
	return ((struct admin_ctx *)arg)->done;
}

Test(nvme_host, admin_commands_from_a_task)
{
	struct admin_ctx a = {0};
	uint8_t buf[4096];

	start_target(NULL);
	connect_ctrlr(NULL);
	cr_assert_eq(spio_task_spawn(admin_task, &a, NULL, NULL), 0);
	cr_assert(poll_until(admin_finished, &a));
	cr_assert_eq(a.rc, 0, "admin sequence: %d", a.rc);
	cr_assert_eq(a.num_queues, spio_nvme_ctrlr_get_num_io_queues(g_ctrlr));
	cr_assert(a.health_temp_ok, "health log temperature not read");
	cr_assert_eq(a.abort_cdw0 & 1, 1, "abort: the fake reports 'not aborted'");
	/* Bad arguments, refused at once. */
	cr_assert_eq(spio_nvme_ctrlr_cmd_get_log_page(g_ctrlr, 2, 0, buf, 6, 0, NULL, NULL),
		     -EINVAL, "size not a multiple of 4");
	cr_assert_eq(spio_nvme_ctrlr_cmd_identify(g_ctrlr, 1, 0, 0, buf, 8192, NULL, NULL),
		     -EINVAL);
}

Test(nvme_host, admin_connection_fault_fails_the_controller_and_reset_heals_it)
{
	struct admin_ctx a = {0};

	start_target(NULL);
	connect_ctrlr(NULL);
	cr_assert_eq(fake_target_inject_qid(g_ft, FAULT_TRUNCATE, 0, 0), 0);
	cr_assert_eq(spio_task_spawn(admin_task, &a, NULL, NULL), 0);
	cr_assert(poll_until(admin_finished, &a));
	cr_assert_eq(a.rc, -ENXIO, "admin command on a truncated stream: %d", a.rc);
	cr_assert(poll_until(ctrlr_failed, g_ctrlr));
	cr_assert_eq(spio_nvme_ns_get_id(g_ns), 1);
	cr_assert_eq(spio_nvme_ctrlr_reset(g_ctrlr), 0);
	memset(&a, 0, sizeof(a));
	cr_assert_eq(spio_task_spawn(admin_task, &a, NULL, NULL), 0);
	cr_assert(poll_until(admin_finished, &a));
	cr_assert_eq(a.rc, 0, "admin sequence after the reset: %d", a.rc);
}

/* Another spio thread on its own OS thread with its own qpair, I/O at the same time. */
struct io_thread {
	pthread_t tid;
	struct spio_thread *thread;
	uint64_t lba;
	int errors;
	int verified;
};

static void *io_thread_main(void *arg)
{
	struct io_thread *t = arg;
	struct spio_nvme_qpair *qp;
	uint8_t *w = malloc(8192), *r = malloc(8192);

	spio_set_thread(t->thread);
	qp = spio_nvme_ctrlr_alloc_io_qpair(g_ctrlr, NULL, 0);
	if (qp == NULL || spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, qp) != 0) {
		t->errors++;
		goto out;
	}
	for (int i = 0; i < 200; i++) {
		struct io_result res = {0};

		fill(w, 8192, (unsigned)(t->lba + (uint64_t)i));
		if (spio_nvme_ns_cmd_write(g_ns, qp, w, t->lba, 16, io_done, &res, 0) != 0) {
			t->errors++;
			break;
		}
		while (res.count == 0) {
			spio_nvme_qpair_process_completions(qp, 0);
		}
		memset(&res, 0, sizeof(res));
		if (spio_nvme_ns_cmd_read(g_ns, qp, r, t->lba, 16, io_done, &res, 0) != 0) {
			t->errors++;
			break;
		}
		while (res.count == 0) {
			spio_nvme_qpair_process_completions(qp, 0);
		}
		t->errors += spio_nvme_cpl_is_error(&res.cpl);
		t->verified += memcmp(w, r, 8192) == 0;
	}
	spio_nvme_ctrlr_free_io_qpair(qp);
out:
	free(w);
	free(r);
	spio_set_thread(NULL);
	return NULL;
}

Test(nvme_host, qpairs_on_several_threads_at_once)
{
	struct io_thread t[3] = {{.lba = 0}, {.lba = 1024}, {.lba = 2048}};

	start_target(NULL);
	connect_ctrlr(NULL);
	for (int i = 0; i < 3; i++) {
		t[i].thread = spio_thread_create("io", NULL);
		cr_assert_not_null(t[i].thread);
		cr_assert_eq(pthread_create(&t[i].tid, NULL, io_thread_main, &t[i]), 0);
	}
	/* The admin thread keeps polling its controller meanwhile. */
	for (int i = 0; i < 3; i++) {
		while (pthread_tryjoin_np(t[i].tid, NULL) != 0) {
			spio_thread_poll(g_thread, 0, 0);
		}
	}
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(t[i].errors, 0, "thread %d: %d errors", i, t[i].errors);
		cr_assert_eq(t[i].verified, 200, "thread %d: %d of 200 verified", i, t[i].verified);
		spio_thread_exit(t[i].thread);
		while (!spio_thread_is_exited(t[i].thread)) {
			spio_thread_poll(t[i].thread, 0, 0);
		}
		spio_thread_destroy(t[i].thread);
	}
}
