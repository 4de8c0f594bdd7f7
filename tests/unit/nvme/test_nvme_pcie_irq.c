/*
 * Interrupt mode of the NVMe PCIe transport (spio_nvme_ctrlr_opts.
 * enable_interrupts) against the fake controller: MSI-X vectors as eventfds,
 * I/O CQs created with IEN on their own vector, a completion posted by the
 * device making the sleeping thread's interrupt fd readable through the poll
 * group (and the admin queue's through the admin idle poller), the caps and
 * fallbacks when the device has few vectors or none, and polled mode left
 * as it was: no eventfd anywhere. Also NVMe/TCP with the option: unchanged.
 *
 * "Would wake" is checked without sleeping: the thread's interrupt fd (an
 * epoll set) is readable exactly when a sleeping thread would be woken. The
 * tests drive the fake by hand (fake_pcie_poll) at the moments that matter.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spio/dma.h"
#include "spio/env.h"
#include "spio/nvme.h"
#include "spio/thread.h"

#include "helper_fake_pcie.h"
#include "helper_pcie_env.h"
#include "helper_fake_target.h"
#include "helper_nvme_wait.h"
#include "nvme/nvme_internal.h"

#define TRADDR "0000:00:04.0"
/* The fake's poller period in these tests: a timed poller lets the thread idle. */
#define FAKE_PERIOD_US 200

static struct spio_thread *g_thread;
static struct fake_pcie *g_fp;
static struct fake_target *g_ft;
static struct spio_nvme_ctrlr *g_ctrlr;
static struct spio_nvme_qpair *g_qpair;
static struct spio_nvme_poll_group *g_group;
static struct spio_nvme_ns *g_ns;

static void setup_runtime(void)
{
	g_thread = pcie_env_start("test_nvme_pcie_irq", "nvme_pcie_irq_test", NULL);
}

static void teardown_runtime(void)
{
	if (g_group != NULL && g_qpair != NULL) {
		spio_nvme_poll_group_remove(g_group, g_qpair);
	}
	if (g_qpair != NULL) {
		spio_nvme_ctrlr_free_io_qpair(g_qpair);
		g_qpair = NULL;
	}
	if (g_group != NULL) {
		spio_nvme_poll_group_destroy(g_group);
	}
	pcie_env_free_case(&g_qpair, &g_ctrlr, &g_fp, false);
	if (g_ft != NULL) {
		fake_target_stop(g_ft);
	}
	pcie_env_stop(g_thread);
}

TestSuite(nvme_pcie_irq, .init = setup_runtime, .fini = teardown_runtime, .timeout = 60);

static void *dma(size_t len)
{
	void *p = spio_dma_zmalloc(len, 4096);

	cr_assert_not_null(p, "spio_dma_zmalloc(%zu)", len);
	return p;
}

static void assert_no_violation(void)
{
	const struct fake_pcie_stats *st = fake_pcie_get_stats(g_fp);

	cr_assert_eq(st->violations, 0, "the host broke a rule %lu time(s); last: %s",
		     (unsigned long)st->violations, st->last_violation);
}

static void fake_opts(struct fake_pcie_opts *fo, uint32_t msix_vectors)
{
	fake_pcie_opts_init(fo);
	fo->msix_vectors = msix_vectors;
	fo->poll_period_us = FAKE_PERIOD_US;
}

static void connect_pcie(const struct fake_pcie_opts *fo, bool irq)
{
	struct spio_nvme_transport_id trid;
	struct spio_nvme_ctrlr_opts co;

	g_fp = fake_pcie_create(fo);
	cr_assert_not_null(g_fp, "fake_pcie_create");
	cr_assert_eq(spio_nvme_transport_id_parse(&trid, "trtype:PCIe traddr:" TRADDR), 0);
	spio_nvme_ctrlr_get_default_opts(&co, sizeof(co));
	cr_assert(!co.enable_interrupts, "interrupt mode is not the default");
	co.enable_interrupts = irq;
	g_ctrlr = spio_nvme_connect(&trid, &co);
	cr_assert_not_null(g_ctrlr, "connect failed: errno %d", errno);
	g_ns = spio_nvme_ctrlr_get_ns(g_ctrlr, 1);
	cr_assert_not_null(g_ns);
}

static struct spio_nvme_qpair *alloc_qpair(void)
{
	struct spio_nvme_io_qpair_opts qo;

	spio_nvme_ctrlr_get_default_io_qpair_opts(g_ctrlr, &qo, sizeof(qo));
	qo.io_queue_size = 64;
	return spio_nvme_ctrlr_alloc_io_qpair(g_ctrlr, &qo, sizeof(qo));
}

static void connect_qpair(struct spio_nvme_qpair *qpair)
{
	cr_assert_not_null(qpair, "alloc_io_qpair: errno %d", errno);
	cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, qpair), 0, "I/O queue connect");
}

static int qpair_fd(const struct spio_nvme_qpair *qpair)
{
	return qpair->ops->qpair_get_fd(qpair);
}

static bool is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0) {
		return false;
	}
	link[n] = '\0';
	return strstr(link, "eventfd") != NULL;
}

static bool fd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0) {
	}
}

/* Take the pending edges off the thread's interrupt set (as spio_thread_sleep_end does). */
static int consume_edges(int intr)
{
	struct epoll_event ev[16];
	int n, total = 0;

	do {
		n = epoll_wait(intr, ev, 16, 0);
		total += n > 0 ? n : 0;
	} while (n == 16);
	return total;
}

/*
 * Results are static: a failed assertion leaves the test early, and the
 * teardown must not complete a command into a dead stack frame.
 */
static struct io_result g_r[4];

/* Poll the thread only (the group's poller finds completions) until r completed. */
static void wait_thread(struct io_result *r, const char *what)
{
	uint64_t limit = spio_get_ticks() + (uint64_t)WAIT_MS * spio_get_ticks_hz() / 1000;

	while (r->count == 0) {
		cr_assert(spio_get_ticks() < limit, "%s: no completion within %d ms", what,
			  WAIT_MS);
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert_eq(r->count, 1, "%s: %d completions", what, r->count);
	cr_assert(!spio_nvme_cpl_is_error(&r->cpl), "%s: sct %u sc 0x%02x", what, r->cpl.status.sct,
		  r->cpl.status.sc);
}

/* Write then read back 4 KiB at `lba` through `qpair`; the data must match. */
static void write_read_verify(struct spio_nvme_qpair *qpair, uint64_t lba, uint8_t seed)
{
	uint8_t *w = dma(4096), *r = dma(4096);

	for (int i = 0; i < 4096; i++) {
		w[i] = (uint8_t)(seed + i * 7);
	}
	memset(&g_r[0], 0, sizeof(g_r[0]));
	cr_assert_eq(spio_nvme_ns_cmd_write(g_ns, qpair, w, lba, 8, io_done, &g_r[0], 0), 0);
	wait_thread(&g_r[0], "write");
	memset(&g_r[0], 0, sizeof(g_r[0]));
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, qpair, r, lba, 8, io_done, &g_r[0], 0), 0);
	wait_thread(&g_r[0], "read");
	cr_assert_eq(memcmp(w, r, 4096), 0, "data read back differs");
	cr_assert_eq(memcmp(fake_pcie_ns_data(g_fp, 1) + lba * 512, w, 4096), 0);
	spio_dma_free(w);
	spio_dma_free(r);
}

/* Poll until no active poller without an interrupt fd is left (admin queue quiet). */
static bool settle(void)
{
	for (int i = 0; i < 100000; i++) {
		if (!spio_thread_has_active_pollers_without_interrupt(g_thread)) {
			return true;
		}
		spio_thread_poll(g_thread, 0, 0);
	}
	return false;
}

static uint64_t total_irq_writes(void)
{
	const struct fake_pcie_stats *st = fake_pcie_get_stats(g_fp);
	uint64_t n = 0;

	for (uint32_t v = 0; v <= FAKE_PCIE_MAX_IOQ; v++) {
		n += st->irq_writes[v];
	}
	return n;
}

Test(nvme_pcie_irq, io_queue_has_its_own_vector_and_its_eventfd_signals_completions)
{
	struct fake_pcie_opts fo;
	const struct fake_pcie_stats *st;
	uint8_t *buf = dma(4096);
	uint16_t qid;
	int fd;

	fake_opts(&fo, FAKE_PCIE_MAX_IOQ + 1);
	connect_pcie(&fo, true);
	st = fake_pcie_get_stats(g_fp);
	cr_assert(spio_nvme_ctrlr_get_opts(g_ctrlr)->enable_interrupts);
	cr_assert_eq(st->irq_enables, 1, "MSI-X enabled once at connect");
	/* The admin queue is on vector 0. */
	cr_assert_eq(qpair_fd(g_ctrlr->adminq), fake_pcie_irq_fd(g_fp, 0));
	cr_assert(is_eventfd(qpair_fd(g_ctrlr->adminq)));

	g_qpair = alloc_qpair();
	connect_qpair(g_qpair);
	qid = g_qpair->id;
	cr_assert_eq(fake_pcie_cq_vector(g_fp, qid), qid, "CQ %u created with IEN on vector %u",
		     qid, qid);
	fd = qpair_fd(g_qpair);
	cr_assert_eq(fd, fake_pcie_irq_fd(g_fp, qid));
	cr_assert(is_eventfd(fd), "the qpair's fd is not an eventfd");

	/* Nothing posted: not readable. Submitting alone (a doorbell) signals nothing. */
	drain_eventfd(fd);
	cr_assert(!fd_readable(fd));
	memset(&g_r[0], 0, sizeof(g_r[0]));
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, 8, io_done, &g_r[0], 0), 0);
	cr_assert(!fd_readable(fd), "readable before the device posted");
	/* The device executes it and posts the completion: the vector fires. */
	cr_assert_eq(fake_pcie_poll(g_fp), SPIO_POLLER_BUSY);
	cr_assert(fd_readable(fd), "a posted completion did not signal the qpair's eventfd");
	cr_assert_eq(st->irq_writes[qid], 1);
	cr_assert_eq(spio_nvme_qpair_process_completions(g_qpair, 0), 1);
	cr_assert_eq(g_r[0].count, 1);
	cr_assert(!spio_nvme_cpl_is_error(&g_r[0].cpl));

	/* Several commands per poll: one message per poll, as per batch of CQEs. */
	for (int i = 0; i < 3; i++) {
		memset(&g_r[i], 0, sizeof(g_r[i]));
		cr_assert_eq(
		    spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, (uint64_t)i, 1, io_done, &g_r[i], 0),
		    0);
	}
	cr_assert_eq(fake_pcie_poll(g_fp), SPIO_POLLER_BUSY);
	cr_assert_eq(st->irq_writes[qid], 2);
	cr_assert_eq(spio_nvme_qpair_process_completions(g_qpair, 0), 3);
	assert_no_violation();
	spio_dma_free(buf);
}

/*
 * A poll group with an interrupt-mode qpair leaves the thread nothing that
 * must be polled; a completion posted while the thread would sleep makes
 * its interrupt fd readable (through the group's epoll set); the group then
 * completes it and the data verifies.
 */
Test(nvme_pcie_irq, poll_group_lets_the_thread_sleep_and_a_completion_wakes_it)
{
	struct fake_pcie_opts fo;
	const struct fake_pcie_stats *st;
	uint8_t *buf = dma(4096);
	uint64_t admin_irqs;
	int intr;

	fake_opts(&fo, FAKE_PCIE_MAX_IOQ + 1);
	connect_pcie(&fo, true);
	st = fake_pcie_get_stats(g_fp);
	g_qpair = alloc_qpair();
	connect_qpair(g_qpair);
	g_group = spio_nvme_poll_group_create();
	cr_assert_not_null(g_group);
	cr_assert_eq(spio_nvme_poll_group_add(g_group, g_qpair), 0);
	write_read_verify(g_qpair, 16, 0x21);

	cr_assert(settle(), "an active poller without an interrupt fd keeps the thread awake");
	intr = spio_thread_get_interrupt_fd(g_thread);
	cr_assert(intr >= 0);
	consume_edges(intr);
	cr_assert(!fd_readable(intr), "an idle thread would not sleep");

	memset(&g_r[1], 0, sizeof(g_r[1]));
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 16, 8, io_done, &g_r[1], 0), 0);
	cr_assert(!fd_readable(intr), "a submission alone woke the thread");
	admin_irqs = st->irq_writes[0];
	cr_assert_eq(fake_pcie_poll(g_fp), SPIO_POLLER_BUSY);
	cr_assert(fd_readable(intr), "a posted completion would not wake the sleeping thread");
	cr_assert_eq(st->irq_writes[0], admin_irqs, "the I/O completion signalled vector 0");
	consume_edges(intr);
	wait_thread(&g_r[1], "read after wake-up");
	cr_assert_eq(memcmp(buf, fake_pcie_ns_data(g_fp, 1) + 16 * 512, 4096), 0);

	/* Idle again: nothing is left that would wake it. */
	cr_assert(settle());
	consume_edges(intr);
	for (int i = 0; i < 20; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert(!fd_readable(intr), "an idle interrupt-mode group keeps waking the thread");
	assert_no_violation();
	spio_dma_free(buf);
}

/* Asynchronous events complete on the admin CQ, vector 0: the admin idle poller wakes. */
static void aer_cb(void *arg, const struct spio_nvme_cpl *cpl)
{
	(void)cpl;
	(*(int *)arg)++;
}

Test(nvme_pcie_irq, admin_completion_wakes_through_vector_0)
{
	static int events;
	struct fake_pcie_opts fo;
	uint64_t limit, admin_irqs;
	int intr;

	events = 0;
	fake_opts(&fo, FAKE_PCIE_MAX_IOQ + 1);
	connect_pcie(&fo, true);
	spio_nvme_ctrlr_register_aer_callback(g_ctrlr, aer_cb, &events);
	cr_assert(settle());
	intr = spio_thread_get_interrupt_fd(g_thread);
	consume_edges(intr);
	cr_assert(!fd_readable(intr));
	/* SMART / health notice (type 1), log page 02h. */
	admin_irqs = fake_pcie_get_stats(g_fp)->irq_writes[0];
	cr_assert(admin_irqs > 0, "bring-up's admin completions signalled vector 0");
	fake_pcie_fire_aer(g_fp, 1u | (2u << 16));
	fake_pcie_poll(g_fp);
	cr_assert_eq(fake_pcie_get_stats(g_fp)->irq_writes[0], admin_irqs + 1);
	cr_assert(fd_readable(intr), "an admin completion would not wake the admin thread");
	limit = spio_get_ticks() + (uint64_t)WAIT_MS * spio_get_ticks_hz() / 1000;
	while (events == 0 && spio_get_ticks() < limit) {
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert_eq(events, 1, "the asynchronous event was not delivered");
	assert_no_violation();
}

/* Without the option: no MSI-X, no eventfd, CQs with IEN=0, a group that never sleeps. */
Test(nvme_pcie_irq, polled_mode_has_no_eventfds_and_never_sleeps)
{
	struct fake_pcie_opts fo;
	uint8_t *buf = dma(4096);
	int intr;

	fake_opts(&fo, FAKE_PCIE_MAX_IOQ + 1);
	connect_pcie(&fo, false);
	cr_assert(!spio_nvme_ctrlr_get_opts(g_ctrlr)->enable_interrupts);
	g_qpair = alloc_qpair();
	connect_qpair(g_qpair);
	cr_assert_eq(qpair_fd(g_ctrlr->adminq), -1);
	cr_assert_eq(qpair_fd(g_qpair), -1);
	cr_assert_eq(fake_pcie_cq_vector(g_fp, g_qpair->id), -1, "IEN set in polled mode");
	g_group = spio_nvme_poll_group_create();
	cr_assert_not_null(g_group);
	cr_assert_eq(spio_nvme_poll_group_add(g_group, g_qpair), 0);
	write_read_verify(g_qpair, 0, 0x5a);
	/* The group's poller must keep running: completions are found only by polling. */
	for (int i = 0; i < 1000; i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert(spio_thread_has_active_pollers_without_interrupt(g_thread));
	intr = spio_thread_get_interrupt_fd(g_thread);
	consume_edges(intr);
	memset(&g_r[1], 0, sizeof(g_r[1]));
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, buf, 0, 8, io_done, &g_r[1], 0), 0);
	fake_pcie_poll(g_fp);
	cr_assert(!fd_readable(intr), "a polled completion signalled something");
	wait_thread(&g_r[1], "polled read");
	/* The device never had an eventfd to write, nor the driver one to read. */
	cr_assert_eq(fake_pcie_get_stats(g_fp)->irq_enables, 0);
	cr_assert_eq(fake_pcie_irq_fd(g_fp, 0), -1);
	cr_assert_eq(total_irq_writes(), 0);
	assert_no_violation();
	spio_dma_free(buf);
}

/*
 * No MSI-X, or one vector (none for an I/O queue): connected, I/O polled and
 * working. One vector stays with the admin queue (its idle poller wakes on it).
 */
static void expect_fallback(uint32_t vectors)
{
	struct fake_pcie_opts fo;
	const struct fake_pcie_stats *st;

	fake_opts(&fo, vectors);
	connect_pcie(&fo, true);
	st = fake_pcie_get_stats(g_fp);
	cr_assert(!spio_nvme_ctrlr_get_opts(g_ctrlr)->enable_interrupts,
		  "%u vectors: interrupt mode should have fallen back to polling", vectors);
	g_qpair = alloc_qpair();
	connect_qpair(g_qpair);
	cr_assert_eq(qpair_fd(g_ctrlr->adminq), vectors == 0 ? -1 : fake_pcie_irq_fd(g_fp, 0));
	cr_assert_eq(qpair_fd(g_qpair), -1);
	cr_assert_eq(fake_pcie_cq_vector(g_fp, g_qpair->id), -1);
	g_group = spio_nvme_poll_group_create();
	cr_assert_eq(spio_nvme_poll_group_add(g_group, g_qpair), 0);
	write_read_verify(g_qpair, 8, (uint8_t)vectors);
	cr_assert(spio_thread_has_active_pollers_without_interrupt(g_thread));
	cr_assert_eq(total_irq_writes(), st->irq_writes[0], "an I/O vector fired");
	cr_assert(vectors != 0 || st->irq_writes[0] == 0);
	assert_no_violation();
}

Test(nvme_pcie_irq, no_msix_falls_back_to_polling)
{
	expect_fallback(0);
}

Test(nvme_pcie_irq, one_vector_falls_back_to_polling)
{
	expect_fallback(1);
}

/* Three vectors: the admin queue and two I/O queues; a third I/O qpair is refused. */
Test(nvme_pcie_irq, few_vectors_cap_the_io_queues)
{
	struct fake_pcie_opts fo;
	struct spio_nvme_qpair *q2, *q3;

	fake_opts(&fo, 3);
	connect_pcie(&fo, true);
	cr_assert(spio_nvme_ctrlr_get_opts(g_ctrlr)->enable_interrupts);
	cr_assert_eq(spio_nvme_ctrlr_get_num_io_queues(g_ctrlr), 2);
	g_qpair = alloc_qpair();
	connect_qpair(g_qpair);
	q2 = alloc_qpair();
	connect_qpair(q2);
	cr_assert_neq(g_qpair->id, q2->id);
	cr_assert_eq(fake_pcie_cq_vector(g_fp, g_qpair->id), g_qpair->id);
	cr_assert_eq(fake_pcie_cq_vector(g_fp, q2->id), q2->id);
	cr_assert_neq(qpair_fd(g_qpair), qpair_fd(q2));
	q3 = alloc_qpair();
	cr_assert_null(q3, "a third I/O qpair with two vectors for I/O");
	/* Both in one group: two eventfds in its epoll set. */
	g_group = spio_nvme_poll_group_create();
	cr_assert_eq(spio_nvme_poll_group_add(g_group, g_qpair), 0);
	cr_assert_eq(spio_nvme_poll_group_add(g_group, q2), 0);
	write_read_verify(q2, 24, 0x33);
	write_read_verify(g_qpair, 32, 0x34);
	cr_assert_eq(fake_pcie_get_stats(g_fp)->irq_writes[q2->id], 2);
	cr_assert_eq(fake_pcie_get_stats(g_fp)->irq_writes[g_qpair->id], 2);
	cr_assert_eq(spio_nvme_poll_group_remove(g_group, q2), 0);
	spio_nvme_ctrlr_free_io_qpair(q2);
	assert_no_violation();
}

/* A reset keeps MSI-X (a controller reset is not a function reset); queues come back with IEN. */
Test(nvme_pcie_irq, reset_wakes_the_io_thread_and_recreates_the_queue_with_its_vector)
{
	struct fake_pcie_opts fo;
	uint64_t device_irqs;
	int fd;

	fake_opts(&fo, FAKE_PCIE_MAX_IOQ + 1);
	connect_pcie(&fo, true);
	g_qpair = alloc_qpair();
	connect_qpair(g_qpair);
	g_group = spio_nvme_poll_group_create();
	cr_assert_eq(spio_nvme_poll_group_add(g_group, g_qpair), 0);
	write_read_verify(g_qpair, 40, 0x44);
	/*
	 * The queue vanishes without a completion: the reset signals its vector,
	 * so that a thread sleeping on the group would wake and notice.
	 */
	fd = qpair_fd(g_qpair);
	device_irqs = fake_pcie_get_stats(g_fp)->irq_writes[g_qpair->id];
	/*
	 * Out of the group, nothing polls the qpair during the reset (as on a
	 * sleeping thread): only the reset itself can signal its vector.
	 */
	cr_assert_eq(spio_nvme_poll_group_remove(g_group, g_qpair), 0);
	drain_eventfd(fd);
	cr_assert_eq(spio_nvme_ctrlr_reset(g_ctrlr), 0);
	cr_assert(fd_readable(fd), "a reset would not wake a thread sleeping on its I/O queue");
	cr_assert_eq(fake_pcie_get_stats(g_fp)->irq_writes[g_qpair->id], device_irqs,
		     "the device signalled the dropped queue");
	cr_assert_eq(spio_nvme_poll_group_add(g_group, g_qpair), 0);
	/* Woken, the group notices the reset and drops the qpair; reconnect it. */
	for (int i = 0; i < 100000 && spio_nvme_qpair_is_connected(g_qpair); i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert(!spio_nvme_qpair_is_connected(g_qpair), "the qpair missed the reset");
	cr_assert_eq(spio_nvme_ctrlr_connect_io_qpair(g_ctrlr, g_qpair), 0, "reconnect");
	cr_assert_eq(fake_pcie_cq_vector(g_fp, g_qpair->id), g_qpair->id);
	cr_assert_eq(fake_pcie_get_stats(g_fp)->irq_enables, 1, "MSI-X re-enabled by a reset");
	write_read_verify(g_qpair, 40, 0x45);
	assert_no_violation();
}

/* NVMe/TCP takes the option and changes nothing: the qpair's fd is its socket. */
Test(nvme_pcie_irq, tcp_is_unaffected)
{
	struct fake_target_opts to;
	struct spio_nvme_transport_id trid;
	struct spio_nvme_ctrlr_opts co;
	struct stat sb;
	/* Static: a failed assertion must not leave the driver a dead stack frame. */
	static uint8_t w[4096], r[4096];
	char str[256];

	fake_target_opts_init(&to);
	g_ft = fake_target_start(&to);
	cr_assert_not_null(g_ft);
	snprintf(str, sizeof(str), "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:%u subnqn:%s",
		 fake_target_port(g_ft), FAKE_TARGET_SUBNQN);
	cr_assert_eq(spio_nvme_transport_id_parse(&trid, str), 0);
	spio_nvme_ctrlr_get_default_opts(&co, sizeof(co));
	co.enable_interrupts = true;
	g_ctrlr = spio_nvme_connect(&trid, &co);
	cr_assert_not_null(g_ctrlr, "TCP connect with enable_interrupts: errno %d", errno);
	g_ns = spio_nvme_ctrlr_get_ns(g_ctrlr, 1);
	cr_assert_not_null(g_ns);
	g_qpair = alloc_qpair();
	connect_qpair(g_qpair);
	cr_assert_eq(fstat(qpair_fd(g_qpair), &sb), 0);
	cr_assert(S_ISSOCK(sb.st_mode), "a TCP qpair's fd is its socket");
	g_group = spio_nvme_poll_group_create();
	cr_assert_eq(spio_nvme_poll_group_add(g_group, g_qpair), 0);
	for (int i = 0; i < 4096; i++) {
		w[i] = (uint8_t)(i * 13);
	}
	memset(&g_r[0], 0, sizeof(g_r[0]));
	cr_assert_eq(spio_nvme_ns_cmd_write(g_ns, g_qpair, w, 0, 8, io_done, &g_r[0], 0), 0);
	wait_thread(&g_r[0], "TCP write");
	memset(&g_r[0], 0, sizeof(g_r[0]));
	cr_assert_eq(spio_nvme_ns_cmd_read(g_ns, g_qpair, r, 0, 8, io_done, &g_r[0], 0), 0);
	wait_thread(&g_r[0], "TCP read");
	cr_assert_eq(memcmp(w, r, sizeof(w)), 0);
}

static void connected_cb(void *arg, struct spio_nvme_qpair *qpair, int status)
{
	(void)qpair;
	*(int *)arg = status == 0 ? 1 : status;
}

/*
 * Work done for a queue on the admin thread (its creation) and a removal
 * that no completion will report both signal the queue's vector: a thread
 * sleeping on it wakes. Nothing polls the qpair meanwhile, as when asleep.
 */
Test(nvme_pcie_irq, queue_creation_and_removal_signal_the_vector)
{
	static int connected;
	struct fake_pcie_opts fo;
	uint64_t limit;
	int fd;

	connected = 0;
	fake_opts(&fo, FAKE_PCIE_MAX_IOQ + 1);
	connect_pcie(&fo, true);
	g_qpair = alloc_qpair();
	cr_assert_not_null(g_qpair);
	fd = qpair_fd(g_qpair);
	cr_assert(fd >= 0);
	drain_eventfd(fd);
	cr_assert_eq(spio_nvme_qpair_connect_async(g_qpair, connected_cb, &connected), 0);
	/* The qpair's first process hands the create to the admin thread (this one). */
	spio_nvme_qpair_process_completions(g_qpair, 0);
	for (int i = 0; i < 100000 && !fd_readable(fd); i++) {
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert(fd_readable(fd), "the queue's creation did not signal its vector");
	cr_assert_eq(fake_pcie_num_io_cqs(g_fp), 1);
	cr_assert_eq(fake_pcie_get_stats(g_fp)->irq_writes[g_qpair->id], 0);
	limit = spio_get_ticks() + (uint64_t)WAIT_MS * spio_get_ticks_hz() / 1000;
	while (connected == 0 && spio_get_ticks() < limit) {
		spio_nvme_qpair_process_completions(g_qpair, 0);
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert_eq(connected, 1, "connect: %d", connected);

	drain_eventfd(fd);
	fake_pcie_hot_remove(g_fp);
	limit = spio_get_ticks() + (uint64_t)WAIT_MS * spio_get_ticks_hz() / 1000;
	while (!spio_nvme_ctrlr_is_failed(g_ctrlr) && spio_get_ticks() < limit) {
		spio_thread_poll(g_thread, 0, 0);
	}
	cr_assert(spio_nvme_ctrlr_is_failed(g_ctrlr), "the removal went unnoticed");
	cr_assert(fd_readable(fd), "a removal would not wake a thread sleeping on its I/O queue");
}

/*
 * A reactor's adaptive idle, by hand: poll; when nothing must be polled,
 * sleep on the thread's interrupt fd. The thread really sleeps between
 * I/Os (the fake runs on its timer, like a device with latency), every
 * sleep ends by a readable fd (never the 2 s bound), and the data verifies.
 */
Test(nvme_pcie_irq, adaptive_idle_loop_sleeps_between_ios_and_completes_them)
{
	struct fake_pcie_opts fo;
	uint8_t *w = dma(4096), *r = dma(4096);
	long sleeps = 0, stuck = 0;
	int intr;

	fake_opts(&fo, FAKE_PCIE_MAX_IOQ + 1);
	fo.poll_period_us = 1000;
	connect_pcie(&fo, true);
	g_qpair = alloc_qpair();
	connect_qpair(g_qpair);
	g_group = spio_nvme_poll_group_create();
	cr_assert_eq(spio_nvme_poll_group_add(g_group, g_qpair), 0);
	intr = spio_thread_get_interrupt_fd(g_thread);
	for (int i = 0; i < 16; i++) {
		for (int pass = 0; pass < 2; pass++) {
			struct io_result *res = &g_r[pass];
			uint64_t limit =
			    spio_get_ticks() + (uint64_t)WAIT_MS * spio_get_ticks_hz() / 1000;

			memset(res, 0, sizeof(*res));
			memset(w, i, 4096);
			cr_assert_eq(pass == 0
					 ? spio_nvme_ns_cmd_write(g_ns, g_qpair, w, (uint64_t)i * 8,
								  8, io_done, res, 0)
					 : spio_nvme_ns_cmd_read(g_ns, g_qpair, r, (uint64_t)i * 8,
								 8, io_done, res, 0),
				     0);
			while (res->count == 0) {
				cr_assert(spio_get_ticks() < limit, "I/O %d/%d never completed", i,
					  pass);
				spio_thread_poll(g_thread, 0, 0);
				if (res->count != 0 ||
				    spio_thread_has_active_pollers_without_interrupt(g_thread)) {
					continue;
				}
				if (spio_thread_sleep_begin(g_thread)) {
					struct pollfd p = {.fd = intr, .events = POLLIN};

					sleeps++;
					stuck += poll(&p, 1, 2000) != 1;
				}
				spio_thread_sleep_end(g_thread);
			}
			cr_assert(!spio_nvme_cpl_is_error(&res->cpl));
		}
		cr_assert_eq(memcmp(w, r, 4096), 0, "I/O %d: data differs", i);
	}
	cr_assert(sleeps > 0, "the thread never slept");
	cr_assert_eq(stuck, 0, "%ld sleeps ended by the 2 s bound, not a wake-up", stuck);
	assert_no_violation();
	spio_dma_free(w);
	spio_dma_free(r);
}
