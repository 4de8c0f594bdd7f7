/*
 * No DMA into buffers the driver already gave back. Over PCIe a queue that
 * goes down (disconnect, free, command timeout, reset) may still have
 * commands inside the controller, which moves their data until their SQ is
 * deleted or the controller disabled. The fake keeps commands "in the
 * device" (fake_pcie_hold_next) and transfers their data later unless
 * aborted; each failure callback here asserts that the fake no longer holds
 * its command and poisons the command's buffer, which must stay poisoned
 * while the fake runs on.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/dma.h"
#include "spio/env.h"
#include "spio/nvme.h"
#include "spio/thread.h"

#include "helper_fake_pcie.h"
#include "helper_nvme_wait.h"
#include "helper_pcie_env.h"

#define TRADDR "0000:00:04.0"
#define NCMDS 4
#define BLOCK 512
#define POISON 0xA5

static struct spio_thread *g_thread;
static struct fake_pcie *g_fp;
static struct spio_nvme_ctrlr *g_ctrlr;
static struct spio_nvme_qpair *g_qpair;
static struct spio_nvme_ns *g_ns;
static uint8_t *g_buf;

/* One command's result; static so that a failed assertion leaves no dead frame. */
struct held_io {
	int count;
	struct spio_nvme_cpl cpl;
	uint8_t *buf;
	bool held_at_callback; /* the fake still had the command when it completed */
};

static struct held_io g_io[NCMDS];
static uint16_t g_qid;

static void setup_runtime(void)
{
	g_thread = pcie_env_start("test_nvme_pcie_drain", "nvme_pcie_drain", NULL);
	wait_set_qpair_thread(&g_qpair, g_thread);
}

static void teardown_runtime(void)
{
	pcie_env_free_case(&g_qpair, &g_ctrlr, &g_fp, false);
	spio_dma_free(g_buf);
	g_buf = NULL;
	pcie_env_stop(g_thread);
}

TestSuite(nvme_pcie_drain, .init = setup_runtime, .fini = teardown_runtime, .timeout = 60);

static void held_io_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct held_io *io = arg;

	io->count++;
	io->cpl = *cpl;
	io->held_at_callback = fake_pcie_holds(g_fp, g_qid, cpl->cid);
	/* The user reuses the buffer at once: the device must be done with it. */
	memset(io->buf, POISON, BLOCK);
}

static bool all_in(void *arg)
{
	(void)arg;
	for (int i = 0; i < NCMDS; i++) {
		if (g_io[i].count == 0) {
			return false;
		}
	}
	return true;
}

static bool all_held(void *arg)
{
	(void)arg;
	return fake_pcie_held_cmds(g_fp, g_qid) == NCMDS;
}

static void connect_all(const struct spio_nvme_ctrlr_opts *co)
{
	struct spio_nvme_transport_id trid;

	g_fp = fake_pcie_create(NULL);
	cr_assert_not_null(g_fp);
	cr_assert_eq(spio_nvme_transport_id_parse(&trid, "trtype:PCIe traddr:" TRADDR), 0);
	g_ctrlr = spio_nvme_connect(&trid, co);
	cr_assert_not_null(g_ctrlr, "connect: errno %d", errno);
	g_ns = spio_nvme_ctrlr_get_ns(g_ctrlr, 1);
	cr_assert_not_null(g_ns);
	g_qpair = spio_nvme_ctrlr_alloc_io_qpair(g_ctrlr, NULL, 0);
	cr_assert_not_null(g_qpair);
	cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair), 0);
	g_qid = spio_nvme_qpair_get_id(g_qpair);
	g_buf = spio_dma_zmalloc(NCMDS * BLOCK, 4096);
	cr_assert_not_null(g_buf);
	/* The namespace holds non-zero data: a late read would show. */
	memset(fake_pcie_ns_data(g_fp, 1), 0x3C, NCMDS * BLOCK);
}

/* NCMDS reads that the fake fetches and keeps for `polls` polls. */
static void submit_held_reads(uint32_t polls)
{
	memset(g_io, 0, sizeof(g_io));
	fake_pcie_hold_next(g_fp, g_qid, NCMDS, polls);
	for (int i = 0; i < NCMDS; i++) {
		g_io[i].buf = g_buf + i * BLOCK;
		cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, g_io[i].buf, (uint64_t)i, 1,
						   held_io_done, &g_io[i], 0),
			     0);
	}
	cr_assert(poll_until(all_held, NULL), "the fake did not take the reads");
}

/* Every command failed once, none while the device had it, buffers never written after. */
static void expect_drained(const char *what)
{
	const struct fake_pcie_stats *st;

	for (int i = 0; i < NCMDS; i++) {
		cr_assert_eq(g_io[i].count, 1, "%s: command %d completed %d times", what, i,
			     g_io[i].count);
		cr_assert(!g_io[i].held_at_callback,
			  "%s: command %d failed while the device still held it", what, i);
		cr_assert(spio_nvme_cpl_is_error(&g_io[i].cpl), "%s: command %d succeeded", what,
			  i);
	}
	cr_assert_eq(fake_pcie_held_cmds(g_fp, -1), 0, "%s: the fake still holds commands", what);
	/* Let the fake run on: nothing may land in the poisoned buffers. */
	for (int k = 0; k < 200; k++) {
		fake_pcie_poll(g_fp);
		spio_thread_poll(g_thread, 0, 0);
	}
	for (int i = 0; i < NCMDS * BLOCK; i++) {
		cr_assert_eq(g_buf[i], POISON, "%s: byte %d written after its callback", what, i);
	}
	for (int i = 0; i < NCMDS; i++) {
		cr_assert_eq(g_io[i].count, 1, "%s: command %d completed twice", what, i);
	}
	st = fake_pcie_get_stats(g_fp);
	cr_assert_eq(st->violations, 0, "%s: host violation: %s", what, st->last_violation);
}

static void expect_sq_deletion(const char *what)
{
	for (int i = 0; i < NCMDS; i++) {
		cr_assert(g_io[i].cpl.status.sct == SPIO_NVME_SCT_GENERIC &&
			      g_io[i].cpl.status.sc == SPIO_NVME_SC_ABORTED_SQ_DELETION,
			  "%s: command %d: sct %u sc 0x%x", what, i, g_io[i].cpl.status.sct,
			  g_io[i].cpl.status.sc);
	}
}

/* A read works on the (re)connected qpair. */
static bool one_in(void *arg)
{
	return *(int *)arg > 0;
}

static void read_cb(void *arg, const struct spio_nvme_cpl *cpl)
{
	*(int *)arg = spio_nvme_cpl_is_error(cpl) ? 2 : 1;
}

static void expect_io_works(void)
{
	int done = 0;

	if (!spio_nvme_qpair_is_connected(g_qpair)) {
		cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair), 0, "reconnect");
	}
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, g_buf, 0, 1, read_cb, &done, 0), 0);
	cr_assert(poll_until(one_in, &done), "read after recovery");
	cr_assert_eq(done, 1, "read after recovery failed");
	cr_assert_eq(g_buf[0], 0x3C);
}

Test(nvme_pcie_drain, free_waits_until_the_queue_is_deleted)
{
	connect_all(NULL);
	submit_held_reads(1000000);
	cr_assert_eq(spio_nvme_ctrlr_free_io_qpair(g_qpair), 0, "free");
	g_qpair = NULL;
	/* Returned: everything failed, and the device holds nothing of the queue. */
	expect_drained("free");
	expect_sq_deletion("free");
	cr_assert_eq(fake_pcie_num_io_sqs(g_fp), 0, "the SQ was not deleted");
}

Test(nvme_pcie_drain, disconnect_holds_commands_until_the_delete_completes)
{
	connect_all(NULL);
	submit_held_reads(1000000);
	spio_nvme_ctrlr_disconnect_io_qpair(g_qpair);
	for (int i = 0; i < NCMDS; i++) {
		cr_assert_eq(g_io[i].count, 0, "command %d failed before its queue was deleted", i);
	}
	cr_assert_eq(spio_nvme_qpair_get_num_outstanding(g_qpair), NCMDS);
	cr_assert(poll_until(all_in, NULL), "held commands never failed");
	expect_drained("disconnect");
	expect_sq_deletion("disconnect");
	expect_io_works();
}

/* The fake would finish the reads a few polls in: only the reset's disable may stop them. */
static bool reset_done_flag;
static int reset_status;

static void reset_cb(void *arg, int status)
{
	(void)arg;
	reset_status = status;
	reset_done_flag = true;
}

static bool reset_and_io_done(void *arg)
{
	(void)arg;
	return reset_done_flag && all_in(NULL);
}

Test(nvme_pcie_drain, reset_fails_io_only_after_the_disable)
{
	connect_all(NULL);
	submit_held_reads(1000000);
	reset_done_flag = false;
	cr_assert_eq(spio_nvme_ctrlr_reset_async(g_ctrlr, reset_cb, NULL), 0);
	/* The I/O qpair sees the new generation at once; its commands wait for the disable. */
	cr_assert(poll_until(reset_and_io_done, NULL), "reset or drain did not end");
	cr_assert_eq(reset_status, 0, "reset failed");
	cr_assert_eq(fake_pcie_get_stats(g_fp)->held_aborted, NCMDS, "not aborted by the disable");
	expect_drained("reset");
	expect_sq_deletion("reset");
	expect_io_works();
}

Test(nvme_pcie_drain, timeout_fails_after_the_queue_is_deleted)
{
	struct spio_nvme_ctrlr_opts co;

	spio_nvme_ctrlr_get_default_opts(&co, sizeof(co));
	co.io_timeout_ms = 100;
	connect_all(&co);
	submit_held_reads(1000000);
	cr_assert(poll_until(all_in, NULL), "held commands never timed out");
	expect_drained("timeout");
	cr_assert_eq(fake_pcie_get_stats(g_fp)->held_aborted, NCMDS, "not aborted by Delete SQ");
	expect_io_works();
}

Test(nvme_pcie_drain, commands_the_device_finishes_complete_normally)
{
	connect_all(NULL);
	submit_held_reads(5);
	cr_assert(poll_until(all_in, NULL), "held commands never completed");
	for (int i = 0; i < NCMDS; i++) {
		cr_assert_eq(g_io[i].count, 1);
		cr_assert(!spio_nvme_cpl_is_error(&g_io[i].cpl), "command %d failed", i);
		cr_assert(!g_io[i].held_at_callback);
	}
	cr_assert_eq(fake_pcie_get_stats(g_fp)->held_aborted, 0);
}

Test(nvme_pcie_drain, removal_fails_at_once)
{
	connect_all(NULL);
	submit_held_reads(1000000);
	fake_pcie_hot_remove(g_fp);
	cr_assert(poll_until(all_in, NULL), "removal did not fail the held commands");
	for (int i = 0; i < NCMDS; i++) {
		cr_assert_eq(g_io[i].count, 1);
		cr_assert(spio_nvme_cpl_is_error(&g_io[i].cpl));
	}
	cr_assert_eq(spio_nvme_ctrlr_free_io_qpair(g_qpair), 0);
	g_qpair = NULL;
}

/* A poll group keeps polling a down qpair that holds commands, and fails them in time. */
Test(nvme_pcie_drain, poll_group_fails_held_commands_of_a_down_qpair)
{
	struct spio_nvme_poll_group *group;
	uint64_t limit;

	connect_all(NULL);
	group = spio_nvme_poll_group_create();
	cr_assert_not_null(group);
	cr_assert_eq(spio_nvme_poll_group_add(group, g_qpair), 0);
	submit_held_reads(1000000);
	spio_nvme_ctrlr_disconnect_io_qpair(g_qpair);
	limit = spio_get_ticks() + (uint64_t)WAIT_MS * spio_get_ticks_hz() / 1000;
	while (!all_in(NULL) && spio_get_ticks() < limit) {
		spio_nvme_poll_group_process_completions(group);
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert(all_in(NULL), "the group never failed the held commands");
	expect_drained("poll group");
	expect_sq_deletion("poll group");
	cr_assert_eq(spio_nvme_ctrlr_free_io_qpair(g_qpair), 0);
	g_qpair = NULL;
	cr_assert_eq(spio_nvme_poll_group_destroy(group), 0);
}
