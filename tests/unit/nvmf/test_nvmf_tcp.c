/*
 * The NVMe-oF TCP transport, end to end: a target (two poll groups, a
 * malloc bdev as namespace 1) on 127.0.0.1, reached by our NVMe/TCP
 * initiator and by a raw host (helper_tcp_client) that builds PDUs by hand
 * and checks every PDU the target sends with the shared codec.
 *
 * Everything runs on the test's OS thread: poll_all() polls every spio
 * thread (target, poll groups, host) in turn, like one reactor.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spio/env.h"
#include "spio/nvme.h"
#include "spio/nvmf.h"
#include "spio/thread.h"

#include "helper_nvmf_setup.h"
#include "helper_tcp_client.h"
#include "nvmf/tcp_internal.h"

#define SUBNQN "nqn.2016-06.io.spdk-io:tcp-test"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:6e0a1f3c-33f4-4a3c-9d55-6b1d7c0f2a01"
#define NS_BLOCKS (64u * 1024 * 1024 / 512)
#define WAIT_MS 20000

/* Room for the target's poll group threads. */
#define MAX_PG 8

static struct nvmf_transport *g_tr;
static uint16_t g_entries = 32; /* raw I/O queues' size */

/*
 * Running the threads
 */

static void poll_all(void)
{
	if (!spio_thread_is_exited(g_nsu.tt)) {
		spio_thread_poll(g_nsu.tt, 0, 0);
	}
	if (!spio_thread_is_exited(g_nsu.ht)) {
		spio_thread_poll(g_nsu.ht, 0, 0);
	}
	nsu_poll_groups();
}

static void poll_n(int n)
{
	for (int i = 0; i < n; i++) {
		poll_all();
	}
}

/*
 * Target set-up
 */

static void setup(void)
{
	nsu_init("test_nvmf_tcp", poll_all, WAIT_MS);
	/* Current for the whole case: the cases call into the target directly. */
	spio_set_thread(g_nsu.tt);
	g_entries = 32;
}

/*
 * Start a target with the TCP transport (`topts` NULL: defaults), one
 * subsystem open to any host with a 64 MiB malloc namespace, listening on a
 * free port of 127.0.0.1. `max_conns` 0: the default limit per listener.
 */
static void start(const struct spio_nvmf_transport_opts *topts, uint32_t max_conns)
{
	struct spio_nvmf_subsystem *s;
	uint32_t nsid;

	nsu_tgt_start(topts, max_conns);
	g_tr = (struct nvmf_transport *)spio_nvmf_tgt_get_transport(g_nsu.tgt, "TCP");
	cr_assert_not_null(g_tr);
	nsu_malloc("Malloc0", NS_BLOCKS, 512, NULL);
	s = nsu_subsys(SUBNQN, 0, true, false);
	nsid = nsu_add_ns(s, "Malloc0", NULL);
	cr_assert_eq(nsid, 1, "add_ns: expected nsid 1, got %u", nsid);
	nsu_listen(s);
}

static bool no_conns(void *arg)
{
	(void)arg;
	return nvmf_tcp_get_conn_count(g_tr) == 0;
}

static bool one_conn(void *arg)
{
	(void)arg;
	return nvmf_tcp_get_conn_count(g_tr) == 1;
}

static void teardown(void)
{
	nsu_fini();
	nvmf_tcp_set_preconnect_timeout_ms(0);
	nvmf_tcp_set_zcopy(NVMF_TCP_ZCOPY_REMOTE);
}

TestSuite(nvmf_tcp, .init = setup, .fini = teardown, .timeout = 120);

/*
 * Raw host
 */

static struct tc *g_admin; /* the raw host's controller, for its I/O queues */
static uint16_t g_cntlid;
static uint16_t g_next_qid;

static struct tc *raw_connect(void)
{
	struct tc *tc = tc_connect(g_nsu.port, false, nsu_pump, NULL);

	cr_assert_not_null(tc, "connect to port %u failed", g_nsu.port);
	return tc;
}

/* A raw admin queue with a controller brought up, digests as asked. */
static struct tc *raw_admin(bool hd, bool dd)
{
	struct spio_nvme_tcp_ic_resp icr;
	struct tc *tc = raw_connect();
	int rc;

	rc = tc_ic(tc, 0, hd, dd, &icr);
	cr_assert_eq(rc, 0, "ICReq/ICResp: %d", rc);
	rc = tc_admin_bringup(tc, 32, SUBNQN, HOSTNQN);
	cr_assert_geq(rc, 0, "admin queue bring-up: %d", rc);
	g_cntlid = (uint16_t)rc;
	return tc;
}

/* A raw I/O queue of the raw host's controller (made on first use). */
static struct tc *raw_io(bool hd, bool dd, uint8_t cattr)
{
	struct spio_nvme_tcp_ic_resp icr;
	struct spio_nvme_cpl cpl;
	struct tc_pdu *p;
	struct tc *tc;
	int rc;

	if (g_admin == NULL) {
		g_admin = raw_admin(false, false);
		g_next_qid = 1;
	}
	tc = raw_connect();
	rc = tc_ic(tc, 0, hd, dd, &icr);
	cr_assert_eq(rc, 0, "ICReq/ICResp: %d", rc);
	cr_assert_eq(icr.dgst.bits.hdgst_enable, hd);
	cr_assert_eq(icr.dgst.bits.ddgst_enable, dd);
	rc = tc_send_connect(tc, 1, g_next_qid++, g_entries, cattr, g_cntlid, SUBNQN, HOSTNQN);
	cr_assert_eq(rc, 0);
	rc = tc_recv(tc, &p);
	cr_assert_eq(rc, 0, "I/O connect response: %d", rc);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	cpl = p->hdr.capsule_resp.rccqe;
	cr_assert(!spio_nvme_cpl_is_error(&cpl), "I/O connect failed: sct %u sc 0x%x",
		  cpl.status.sct, cpl.status.sc);
	return tc;
}

static void raw_done(void)
{
	tc_close(g_admin, false);
	g_admin = NULL;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
	}
}

static void expect_cpl(const struct spio_nvme_cpl *cpl, uint8_t sct, uint8_t sc, const char *what)
{
	cr_assert(cpl->status.sct == sct && cpl->status.sc == sc,
		  "%s: expected sct %u sc 0x%x, got sct %u sc 0x%x", what, sct, sc, cpl->status.sct,
		  cpl->status.sc);
}

static void raw_read(struct tc *tc, uint16_t cid, uint64_t lba, uint8_t *buf, uint32_t len)
{
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;
	int rc;

	tc_rw_cmd(&cmd, false, cid, 1, lba, len / 512);
	rc = tc_run_cmd(tc, &cmd, NULL, buf, len, false, 0, &cpl, NULL);
	cr_assert_eq(rc, 0, "read of %u bytes: %d", len, rc);
	expect_cpl(&cpl, 0, 0, "read");
}

/* Write `len` bytes at `lba` (in the capsule or by R2T with H2C PDUs of `chunk`), read back. */
static void raw_rw(struct tc *tc, uint16_t cid, uint64_t lba, uint32_t len, bool icd,
		   uint32_t chunk, unsigned seed)
{
	uint8_t *w = malloc(len), *r = calloc(1, len);
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;
	int rc;

	fill(w, len, seed);
	tc_rw_cmd(&cmd, true, cid, 1, lba, len / 512);
	rc = tc_run_cmd(tc, &cmd, w, NULL, len, icd, chunk, &cpl, NULL);
	cr_assert_eq(rc, 0, "write of %u bytes: %d", len, rc);
	expect_cpl(&cpl, 0, 0, "write");
	raw_read(tc, (uint16_t)(cid + 1), lba, r, len);
	cr_assert(memcmp(w, r, len) == 0, "read back of %u bytes at lba %lu differs", len,
		  (unsigned long)lba);
	free(w);
	free(r);
}

/* Expect a C2HTermReq with `fes` (and `fei` unless UINT32_MAX), then the close. */
static void expect_term_req(struct tc *tc, uint16_t fes, uint32_t fei, const char *what)
{
	struct tc_pdu *p;
	int rc = tc_recv(tc, &p);
	uint32_t got_fei;

	cr_assert_eq(rc, 0, "%s: expected a C2HTermReq, got error %d", what, rc);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ,
		     "%s: expected a C2HTermReq, got PDU type %u", what, p->hdr.common.pdu_type);
	cr_assert_eq(p->hdr.term_req.fes, fes, "%s: expected FES %u, got %u", what, fes,
		     p->hdr.term_req.fes);
	memcpy(&got_fei, p->hdr.term_req.fei, 4);
	if (fei != UINT32_MAX) {
		cr_assert_eq(got_fei, fei, "%s: expected FEI %u, got %u", what, fei, got_fei);
	}
	cr_assert(tc_wait_closed(tc, 5000), "%s: the target did not close the connection", what);
}

/* Serialize a sealed PDU into `out`; returns its length. */
static size_t pdu_bytes(const struct nvme_tcp_tx_pdu *pdu, uint8_t *out)
{
	struct iovec iov[8];
	int n = nvme_tcp_tx_pdu_iov(pdu, iov, 8);
	size_t len = 0;

	for (int i = 0; i < n; i++) {
		memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	return len;
}

/* A capsule with `len` bytes of `data` in it, sealed with `tx` (NULL: no digests). */
static void capsule_pdu(struct nvme_tcp_tx_pdu *pdu, const struct spio_nvme_cmd *cmd,
			const struct nvme_tcp_tx_params *tx, void *data, uint32_t len)
{
	struct iovec iov = {.iov_base = data, .iov_len = len};

	nvme_tcp_tx_pdu_init(pdu, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD);
	pdu->hdr.capsule_cmd.ccsqe = *cmd;
	cr_assert_eq(nvme_tcp_tx_pdu_seal(pdu, tx, len > 0 ? &iov : NULL, len > 0 ? 1 : 0, 0, len),
		     0);
}

static void set_icd_sgl(struct spio_nvme_cmd *cmd, uint32_t len)
{
	memset(&cmd->dptr.sgl1, 0, sizeof(cmd->dptr.sgl1));
	cmd->dptr.sgl1.unkeyed.length = len;
	cmd->dptr.sgl1.unkeyed.type = SPIO_NVME_SGL_TYPE_DATA_BLOCK;
	cmd->dptr.sgl1.unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_OFFSET;
}

static void set_transport_sgl(struct spio_nvme_cmd *cmd, uint32_t len)
{
	memset(&cmd->dptr.sgl1, 0, sizeof(cmd->dptr.sgl1));
	cmd->dptr.sgl1.unkeyed.length = len;
	cmd->dptr.sgl1.unkeyed.type = SPIO_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
	cmd->dptr.sgl1.unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_TRANSPORT;
}

/*
 * Our initiator
 */

struct host {
	struct spio_nvme_ctrlr *ctrlr;
	struct spio_nvme_ns *ns;
	struct spio_nvme_qpair *qp[4];
	int nqp;
};

static void host_connect(struct host *h, bool digests, int nqp)
{
	struct spio_nvme_ctrlr_opts opts;
	struct spio_nvme_transport_id trid = g_nsu.trid;
	struct nsu_connect r = {0};
	struct spio_thread *prev = spio_thread_enter(g_nsu.ht);

	snprintf(trid.subnqn, sizeof(trid.subnqn), "%s", SUBNQN);
	spio_nvme_ctrlr_get_default_opts(&opts, sizeof(opts));
	opts.header_digest = digests;
	opts.data_digest = digests;
	cr_assert_eq(spio_nvme_connect_async(&trid, &opts, nsu_ctrlr_connected, &r), 0);
	spio_thread_leave(prev);
	cr_assert(nsu_poll_until(nsu_flag_set, &r.done, WAIT_MS),
		  "initiator connect did not finish");
	cr_assert_eq(r.status, 0, "initiator connect: %d", r.status);
	memset(h, 0, sizeof(*h));
	h->ctrlr = r.ctrlr;
	prev = spio_thread_enter(g_nsu.ht);
	h->ns = spio_nvme_ctrlr_get_ns(h->ctrlr, 1);
	spio_thread_leave(prev);
	cr_assert_not_null(h->ns, "namespace 1 not active");
	for (int i = 0; i < nqp; i++) {
		memset(&r, 0, sizeof(r));
		prev = spio_thread_enter(g_nsu.ht);
		h->qp[i] = spio_nvme_ctrlr_alloc_io_qpair(h->ctrlr, NULL, 0);
		cr_assert_not_null(h->qp[i], "alloc_io_qpair: errno %d", errno);
		cr_assert_eq(spio_nvme_qpair_connect_async(h->qp[i], nsu_qpair_connected, &r), 0);
		spio_thread_leave(prev);
		while (!r.done) {
			prev = spio_thread_enter(g_nsu.ht);
			spio_nvme_qpair_process_completions(h->qp[i], 0);
			spio_thread_leave(prev);
			poll_all();
		}
		cr_assert_eq(r.status, 0, "I/O qpair %d connect: %d", i, r.status);
		h->nqp++;
	}
}

static void host_disconnect(struct host *h)
{
	struct spio_thread *prev = spio_thread_enter(g_nsu.ht);
	int done = 0;

	for (int i = 0; i < h->nqp; i++) {
		cr_assert_eq(spio_nvme_ctrlr_free_io_qpair(h->qp[i]), 0);
	}
	cr_assert_eq(spio_nvme_detach_async(h->ctrlr, nsu_set_flag, &done), 0);
	spio_thread_leave(prev);
	cr_assert(nsu_poll_until(nsu_flag_set, &done, WAIT_MS), "detach did not finish");
	memset(h, 0, sizeof(*h));
}

/* Poll the host's qpairs and every thread until `n` of `ios` completed. */
static void host_wait(struct host *h, struct nsu_io *ios, int n)
{
	uint64_t limit = spio_get_ticks() + (uint64_t)WAIT_MS * spio_get_ticks_hz() / 1000;

	for (;;) {
		struct spio_thread *prev;
		int done = 0;

		for (int i = 0; i < n; i++) {
			done += ios[i].done;
		}
		if (done == n) {
			break;
		}
		cr_assert(spio_get_ticks() < limit, "%d of %d commands completed", done, n);
		prev = spio_thread_enter(g_nsu.ht);
		for (int i = 0; i < h->nqp; i++) {
			spio_nvme_qpair_process_completions(h->qp[i], 0);
		}
		spio_thread_leave(prev);
		poll_all();
	}
	for (int i = 0; i < n; i++) {
		cr_assert_eq(ios[i].done, 1, "command %d completed %d times", i, ios[i].done);
		cr_assert(!spio_nvme_cpl_is_error(&ios[i].cpl), "command %d: sct %u sc 0x%x", i,
			  ios[i].cpl.status.sct, ios[i].cpl.status.sc);
	}
}

/*
 * Write, on every qpair at once, a 4 KiB block (in the capsule) and
 * `big` bytes (by R2T), then read all of it back on another qpair and
 * compare.
 */
static void host_rw(struct host *h, uint32_t big, unsigned seed)
{
	enum { PER_QP = 4 };
	uint32_t small = 4096, stride = 4 * 1024 * 1024;
	int n = h->nqp * PER_QP;
	struct nsu_io *ios = calloc((size_t)n, sizeof(*ios));
	uint8_t **w = calloc((size_t)n, sizeof(*w)), **r = calloc((size_t)n, sizeof(*r));
	struct spio_thread *prev;

	for (int i = 0; i < n; i++) {
		uint32_t len = i % 2 ? big : small;

		w[i] = malloc(len);
		r[i] = calloc(1, len);
		fill(w[i], len, seed + (unsigned)i);
	}
	prev = spio_thread_enter(g_nsu.ht);
	for (int i = 0; i < n; i++) {
		uint32_t len = i % 2 ? big : small;
		uint64_t lba = ((uint64_t)(i / 2) * stride + (i % 2 ? small : 0)) / 512;

		cr_assert_eq(spio_nvme_ns_cmd_write(h->ns, h->qp[i % h->nqp], w[i], lba, len / 512,
						    nsu_io_done, &ios[i], 0),
			     0);
	}
	spio_thread_leave(prev);
	host_wait(h, ios, n);
	memset(ios, 0, (size_t)n * sizeof(*ios));
	prev = spio_thread_enter(g_nsu.ht);
	for (int i = 0; i < n; i++) {
		uint32_t len = i % 2 ? big : small;
		uint64_t lba = ((uint64_t)(i / 2) * stride + (i % 2 ? small : 0)) / 512;

		cr_assert_eq(spio_nvme_ns_cmd_read(h->ns, h->qp[(i + 1) % h->nqp], r[i], lba,
						   len / 512, nsu_io_done, &ios[i], 0),
			     0);
	}
	spio_thread_leave(prev);
	host_wait(h, ios, n);
	for (int i = 0; i < n; i++) {
		cr_assert(memcmp(w[i], r[i], i % 2 ? big : small) == 0,
			  "command %d: data read back differs", i);
		free(w[i]);
		free(r[i]);
	}
	free(w);
	free(r);
	free(ios);
}

/*
 * With our initiator
 */

Test(nvmf_tcp, initiator_io_on_several_qpairs_without_digests)
{
	struct host h;

	start(NULL, 0);
	host_connect(&h, false, 3);
	host_rw(&h, 131072, 1);
	host_rw(&h, 65536 + 512, 2);
	host_disconnect(&h);
	cr_assert(nsu_poll_until(no_conns, NULL, WAIT_MS), "connections left: %u",
		  nvmf_tcp_get_conn_count(g_tr));
}

Test(nvmf_tcp, initiator_io_on_several_qpairs_with_digests)
{
	struct host h;

	start(NULL, 0);
	host_connect(&h, true, 3);
	host_rw(&h, 131072, 3);
	host_disconnect(&h);
}

/*
 * 128 KiB reads leave in MSG_ZEROCOPY sends (forced on loopback); every one
 * is reported done by the kernel before its response goes out, and the data
 * reads back right.
 */
Test(nvmf_tcp, large_reads_go_out_zero_copy_and_wait_for_the_kernel)
{
	uint64_t sends, done;
	struct host h;

	nvmf_tcp_set_zcopy(NVMF_TCP_ZCOPY_ALWAYS);
	start(NULL, 0);
	host_connect(&h, false, 2);
	host_rw(&h, 131072, 7);
	host_rw(&h, 131072, 8);
	host_disconnect(&h);
	cr_assert(nsu_poll_until(no_conns, NULL, WAIT_MS), "connections left: %u",
		  nvmf_tcp_get_conn_count(g_tr));
	nvmf_tcp_get_zcopy_counts(g_tr, &sends, &done);
	/* A send may carry several reads: at least one. */
	cr_assert_geq(sends, 1, "zero-copy sends: expected some for 128 KiB reads, got none");
	cr_assert_eq(done, sends, "zero-copy sends %" PRIu64 " but %" PRIu64 " reported done",
		     sends, done);
}

static void subsys_destroyed(void *arg, int status)
{
	(void)status;
	*(int *)arg = 1;
}

/*
 * A host that stops reading holds, in its socket, the pages of the target's
 * zero-copy sends (loopback hands them over without a copy), so the
 * kernel's completion waits. The target then closes the queue itself
 * (subsystem deleted): the requests still held are recycled at qpair_fini
 * with a reset close, not reported done. Every pool buffer comes back, as a
 * host on a new subsystem shows with 128 KiB I/O on every poll group, each
 * of which has only four buffers (a lost one would stall it: host_rw
 * fails after WAIT_MS).
 */
Test(nvmf_tcp, target_close_with_zero_copy_sends_held_returns_every_buffer)
{
	struct spio_nvmf_transport_opts o;
	struct spio_nvme_cmd cmd;
	struct spio_nvmf_subsystem *s;
	struct spio_thread *prev;
	uint64_t sends, done;
	int destroyed = 0;
	struct host h;
	struct tc *a;

	nvmf_tcp_set_zcopy(NVMF_TCP_ZCOPY_ALWAYS);
	cr_assert_eq(spio_nvmf_transport_opts_init("TCP", &o, sizeof(o)), 0);
	o.io_unit_size = 131072;
	o.num_shared_buffers = 4;
	start(&o, 0);
	g_entries = 128;
	a = raw_io(false, false, 0);
	for (uint16_t i = 0; i < 64; i++) {
		tc_rw_cmd(&cmd, false, i, 1, (uint64_t)i * 256, 256);
		cr_assert_eq(tc_send_cmd(a, &cmd, NULL, 131072), 0);
	}
	poll_n(200);
	prev = spio_thread_enter(g_nsu.tt);
	s = spio_nvmf_tgt_find_subsystem(g_nsu.tgt, SUBNQN);
	cr_assert_eq(spio_nvmf_subsystem_destroy(s, subsys_destroyed, &destroyed), 0);
	spio_thread_leave(prev);
	cr_assert(nsu_poll_until(nsu_flag_set, &destroyed, WAIT_MS), "subsystem not destroyed");
	cr_assert(nsu_poll_until(no_conns, NULL, WAIT_MS), "connections left: %u",
		  nvmf_tcp_get_conn_count(g_tr));
	nvmf_tcp_get_zcopy_counts(g_tr, &sends, &done);
	cr_assert_geq(sends, 1, "expected zero-copy sends before the close, got none");
	cr_assert_lt(done, sends,
		     "expected sends still held at the close: %" PRIu64 " of %" PRIu64
		     " reported done",
		     done, sends);
	tc_close(a, true);
	raw_done();

	s = nsu_subsys(SUBNQN, 0, true, false);
	cr_assert_eq(nsu_add_ns(s, "Malloc0", NULL), 1);
	nsu_listen(s);
	/* Four queues: connections go round-robin, so every poll group gets some. */
	host_connect(&h, false, 4);
	host_rw(&h, 131072, 12);
	host_disconnect(&h);
}

/*
 * A full queue of 128 KiB reads, twice: the host only sees a read complete
 * once the kernel is done with its data, so it never has more commands out
 * than the target has requests free.
 */
Test(nvmf_tcp, zero_copy_reads_on_a_full_queue_never_overrun_it)
{
	struct spio_nvme_cmd cmd;
	struct tc_pdu *p;
	struct tc *a;

	nvmf_tcp_set_zcopy(NVMF_TCP_ZCOPY_ALWAYS);
	start(NULL, 0);
	g_entries = 128;
	a = raw_io(false, false, 0);
	for (int round = 0; round < 2; round++) {
		int resps = 0, data = 0;

		for (uint16_t i = 0; i < g_entries - 1; i++) {
			tc_rw_cmd(&cmd, false, i, 1, (uint64_t)i * 256, 256);
			cr_assert_eq(tc_send_cmd(a, &cmd, NULL, 131072), 0);
		}
		while (resps < g_entries - 1) {
			cr_assert_eq(tc_recv(a, &p), 0, "round %d: %d responses, then nothing",
				     round, resps);
			if (p->hdr.common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_C2H_DATA) {
				cr_assert_eq(p->hdr.common.flags &
						 SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS,
					     0, "zero-copy data must not carry SUCCESS");
				data++;
				continue;
			}
			cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP,
				     "unexpected PDU type 0x%x", p->hdr.common.pdu_type);
			cr_assert(!spio_nvme_cpl_is_error(&p->hdr.capsule_resp.rccqe),
				  "read failed: sct %u sc 0x%x",
				  p->hdr.capsule_resp.rccqe.status.sct,
				  p->hdr.capsule_resp.rccqe.status.sc);
			resps++;
		}
		cr_assert_eq(data, g_entries - 1, "round %d: %d data PDUs", round, data);
	}
	tc_close(a, false);
	raw_done();
	cr_assert(nsu_poll_until(no_conns, NULL, WAIT_MS), "connections left: %u",
		  nvmf_tcp_get_conn_count(g_tr));
}

/* On loopback zero-copy stays off unless forced (the kernel would copy anyway), and off is off. */
Test(nvmf_tcp, zero_copy_is_off_on_loopback_and_when_off)
{
	uint64_t sends, done;
	struct host h;

	start(NULL, 0);
	host_connect(&h, false, 2);
	host_rw(&h, 131072, 9);
	host_disconnect(&h);
	cr_assert(nsu_poll_until(no_conns, NULL, WAIT_MS), "connections left: %u",
		  nvmf_tcp_get_conn_count(g_tr));
	nvmf_tcp_get_zcopy_counts(g_tr, &sends, &done);
	cr_assert_eq(sends, 0, "loopback: expected no zero-copy send, got %" PRIu64, sends);
	nvmf_tcp_set_zcopy(NVMF_TCP_ZCOPY_OFF);
	host_connect(&h, false, 2);
	host_rw(&h, 131072, 10);
	host_disconnect(&h);
	cr_assert(nsu_poll_until(no_conns, NULL, WAIT_MS), "connections left: %u",
		  nvmf_tcp_get_conn_count(g_tr));
	nvmf_tcp_get_zcopy_counts(g_tr, &sends, &done);
	cr_assert_eq(sends, 0, "zero-copy off: expected no zero-copy send, got %" PRIu64, sends);
}

Test(nvmf_tcp, initiator_with_small_io_unit_and_scarce_buffers)
{
	struct spio_nvmf_transport_opts o;
	struct host h;

	cr_assert_eq(spio_nvmf_transport_opts_init("TCP", &o, sizeof(o)), 0);
	o.io_unit_size = 8192;	   /* 16 buffers per 128 KiB command */
	o.num_shared_buffers = 20; /* one such command at a time per poll group */
	o.in_capsule_data_size = 512;
	start(&o, 0);
	host_connect(&h, false, 2);
	host_rw(&h, 131072, 4);
	host_disconnect(&h);
}

Test(nvmf_tcp, bad_clients_leave_the_initiator_served)
{
	struct host h;
	struct tc *half, *junk;
	uint8_t bytes[256];

	nvmf_tcp_set_preconnect_timeout_ms(500);
	start(NULL, 0);
	host_connect(&h, false, 2);
	half = raw_connect(); /* never sends ICReq */
	junk = raw_connect();
	memset(bytes, 0x5a, sizeof(bytes));
	cr_assert_eq(tc_send_raw(junk, bytes, sizeof(bytes)), 0);
	host_rw(&h, 131072, 5);
	cr_assert(tc_wait_closed(junk, 5000), "garbage client not closed");
	cr_assert(tc_wait_closed(half, 5000), "half-open client not closed after the timeout");
	host_rw(&h, 16384, 6);
	tc_close(half, false);
	tc_close(junk, false);
	host_disconnect(&h);
}

/*
 * With the raw host: the wire
 */

Test(nvmf_tcp, icresp_grants_digests_asked_cpda_0_maxh2cdata_max_io_size)
{
	static const bool combos[][2] = {
	    {false, false}, {true, false}, {false, true}, {true, true}};
	struct spio_nvme_tcp_ic_resp icr;

	start(NULL, 0);
	for (size_t i = 0; i < SPIO_COUNTOF(combos); i++) {
		struct tc *tc = raw_connect();

		cr_assert_eq(tc_ic(tc, 3, combos[i][0], combos[i][1], &icr), 0);
		cr_assert_eq(icr.common.plen, 128);
		cr_assert_eq(icr.pfv, 0);
		cr_assert_eq(icr.cpda, 0, "expected CPDA 0, got %u", icr.cpda);
		cr_assert_eq(icr.maxh2cdata, 131072, "expected MAXH2CDATA 131072, got %u",
			     icr.maxh2cdata);
		cr_assert_eq(icr.dgst.bits.hdgst_enable, combos[i][0]);
		cr_assert_eq(icr.dgst.bits.ddgst_enable, combos[i][1]);
		tc_close(tc, false);
	}
}

Test(nvmf_tcp, in_capsule_and_r2t_writes_read_back)
{
	struct tc *tc;

	start(NULL, 0);
	tc = raw_io(false, false, 0);
	raw_rw(tc, 10, 0, 4096, true, 0, 1);
	raw_rw(tc, 12, 8, 131072, false, 0, 2);
	raw_rw(tc, 14, 300, 131072, false, 32768, 3);
	raw_rw(tc, 16, 1000, 8192, false, 0, 4);
	raw_rw(tc, 18, 2000, 512, true, 0, 5);
	raw_rw(tc, 20, 3000, 1024, false, 0, 6); /* small enough for its own buffer, yet by R2T */
	tc_close(tc, false);
	raw_done();
}

Test(nvmf_tcp, digests_roundtrip_and_data_placed_at_the_host_pda)
{
	struct spio_nvme_tcp_ic_resp icr;
	struct spio_nvme_cmd cmd;
	struct tc_pdu *p;
	struct tc *tc;

	start(NULL, 0);
	tc = raw_io(true, true, 0);
	raw_rw(tc, 10, 0, 4096, true, 0, 1);
	raw_rw(tc, 12, 8, 131072, false, 4096, 2);
	tc_close(tc, true);

	/* HPDA 7: C2HData must put its data at a multiple of 32 bytes. */
	tc = raw_connect();
	cr_assert_eq(tc_ic(tc, 7, true, false, &icr), 0);
	tc->rx.params.pda = 7; /* the codec checks the target's PDO against it */
	cr_assert_eq(tc_send_connect(tc, 1, g_next_qid++, 32, 0, g_cntlid, SUBNQN, HOSTNQN), 0);
	cr_assert_eq(tc_recv(tc, &p), 0);
	cr_assert(!spio_nvme_cpl_is_error(&p->hdr.capsule_resp.rccqe));
	raw_rw(tc, 20, 64, 16384, false, 0, 9);
	tc_rw_cmd(&cmd, false, 22, 1, 64, 1);
	cr_assert_eq(tc_send_cmd(tc, &cmd, NULL, 512), 0);
	cr_assert_eq(tc_recv(tc, &p), 0);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_C2H_DATA);
	cr_assert_eq(p->hdr.common.pdo, 32, "expected PDO 32 for HPDA 7, got %u",
		     p->hdr.common.pdo);
	cr_assert(p->hdr.common.flags & SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU);
	cr_assert_eq(tc_recv(tc, &p), 0);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	expect_cpl(&p->hdr.capsule_resp.rccqe, 0, 0, "read with HPDA 7");
	tc_close(tc, false);
	raw_done();
}

/* A read; true if its data PDU carried SUCCESS (then no response may follow). */
static bool read_with_success(struct tc *tc, uint16_t cid)
{
	uint8_t buf[4096];
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;
	bool success;

	tc_rw_cmd(&cmd, false, cid, 1, 0, 8);
	cr_assert_eq(tc_run_cmd(tc, &cmd, NULL, buf, sizeof(buf), false, 0, &cpl, &success), 0);
	expect_cpl(&cpl, 0, 0, "read");
	/* A stray CapsuleResp would arrive before the next command's answer. */
	raw_rw(tc, (uint16_t)(cid + 1), 16, 512, true, 0, cid);
	return success;
}

Test(nvmf_tcp, c2h_success_when_on_and_sq_flow_control_disabled)
{
	struct tc *tc;

	start(NULL, 0);
	tc = raw_io(false, false, SPIO_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW);
	cr_assert(read_with_success(tc, 10), "expected SUCCESS on the C2HData");
	tc_close(tc, false);
	tc = raw_io(true, true, SPIO_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW);
	cr_assert(read_with_success(tc, 10), "expected SUCCESS on the C2HData with digests");
	tc_close(tc, false);
	tc = raw_io(false, false, 0);
	cr_assert(!read_with_success(tc, 10), "expected a CapsuleResp with SQ flow control on");
	tc_close(tc, false);
	raw_done();
}

Test(nvmf_tcp, c2h_success_off_always_sends_a_response)
{
	struct spio_nvmf_transport_opts o;
	struct tc *tc;

	cr_assert_eq(spio_nvmf_transport_opts_init("TCP", &o, sizeof(o)), 0);
	o.c2h_success = false;
	start(&o, 0);
	tc = raw_io(false, false, SPIO_NVMF_CONNECT_CATTR_DISABLE_SQ_FLOW);
	cr_assert(!read_with_success(tc, 10), "expected a CapsuleResp with c2h_success off");
	tc_close(tc, false);
	raw_done();
}

Test(nvmf_tcp, data_digest_error_fails_only_that_command)
{
	uint8_t w[8192], r[8192], zero[8192] = {0};
	struct nvme_tcp_tx_pdu pdu;
	struct iovec iov = {.iov_base = w, .iov_len = sizeof(w)};
	struct spio_nvme_cmd cmd;
	struct tc_pdu *p;
	struct tc *tc;
	uint16_t ttag;

	start(NULL, 0);
	tc = raw_io(true, true, 0);
	fill(w, sizeof(w), 7);

	/* In-capsule data with a wrong digest. */
	tc_rw_cmd(&cmd, true, 10, 1, 0, 8);
	set_icd_sgl(&cmd, 4096);
	capsule_pdu(&pdu, &cmd, &tc->tx, w, 4096);
	pdu.ddgst[0] ^= 0xff;
	cr_assert_eq(tc_send_pdu(tc, &pdu), 0);
	cr_assert_eq(tc_recv(tc, &p), 0);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	cr_assert_eq(p->hdr.capsule_resp.rccqe.cid, 10);
	expect_cpl(&p->hdr.capsule_resp.rccqe, 0, SPIO_NVME_SC_COMMAND_TRANSIENT_TRANSPORT_ERROR,
		   "in-capsule data digest error");

	/* H2CData with a wrong digest in the first of two PDUs. */
	tc_rw_cmd(&cmd, true, 11, 1, 0, 16);
	cr_assert_eq(tc_send_cmd(tc, &cmd, NULL, sizeof(w)), 0);
	cr_assert_eq(tc_recv(tc, &p), 0);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_R2T);
	ttag = p->hdr.r2t.ttag;
	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_H2C_DATA);
	pdu.hdr.h2c_data.cccid = 11;
	pdu.hdr.h2c_data.ttag = ttag;
	pdu.hdr.h2c_data.datal = 4096;
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, &tc->tx, &iov, 1, 0, 4096), 0);
	pdu.ddgst[1] ^= 0x01;
	cr_assert_eq(tc_send_pdu(tc, &pdu), 0);
	cr_assert_eq(tc_send_h2c(tc, 11, ttag, 4096, w + 4096, 4096, true), 0);
	cr_assert_eq(tc_recv(tc, &p), 0);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	expect_cpl(&p->hdr.capsule_resp.rccqe, 0, SPIO_NVME_SC_COMMAND_TRANSIENT_TRANSPORT_ERROR,
		   "H2C data digest error");

	/* Neither write reached the namespace, and the connection still works. */
	raw_read(tc, 12, 0, r, sizeof(r));
	cr_assert(memcmp(r, zero, sizeof(r)) == 0, "a write with a bad data digest was executed");
	raw_rw(tc, 14, 0, 8192, false, 0, 8);
	tc_close(tc, false);
	raw_done();
}

Test(nvmf_tcp, header_digest_error_closes_with_term_req)
{
	struct nvme_tcp_tx_pdu pdu;
	struct spio_nvme_cmd cmd;
	struct tc *tc;

	start(NULL, 0);
	tc = raw_io(true, false, 0);
	tc_rw_cmd(&cmd, false, 5, 1, 0, 1);
	set_transport_sgl(&cmd, 512);
	capsule_pdu(&pdu, &cmd, &tc->tx, NULL, 0);
	pdu.hdr.raw[NVME_TCP_CAPSULE_CMD_HLEN] ^= 0x5a;
	cr_assert_eq(tc_send_pdu(tc, &pdu), 0);
	expect_term_req(tc, SPIO_NVME_TCP_TERM_REQ_FES_HDGST_ERROR, UINT32_MAX, "header digest");
	tc_close(tc, false);
	raw_done();
}

Test(nvmf_tcp, malformed_pdus_close_only_their_connection)
{
	struct nvme_tcp_tx_pdu pdu;
	struct spio_nvme_cmd cmd;
	struct tc *good, *bad;
	struct tc_pdu *p;
	uint8_t junk[64];

	start(NULL, 0);
	good = raw_io(false, false, 0);

	/* Garbage after the connect: unknown PDU type, FEI 0. */
	bad = raw_io(false, false, 0);
	memset(junk, 0xee, sizeof(junk));
	cr_assert_eq(tc_send_raw(bad, junk, sizeof(junk)), 0);
	expect_term_req(bad, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, 0, "garbage");
	tc_close(bad, false);

	/* H2CData for a transfer tag nothing asked for: FEI of TTAG. */
	bad = raw_io(false, false, 0);
	cr_assert_eq(tc_send_h2c(bad, 3, 9, 0, junk, sizeof(junk), true), 0);
	expect_term_req(bad, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, 10, "stray H2CData");
	tc_close(bad, false);

	/* H2CData with the wrong command id: FEI of CCCID. */
	bad = raw_io(false, false, 0);
	tc_rw_cmd(&cmd, true, 4, 1, 0, 1);
	cr_assert_eq(tc_send_cmd(bad, &cmd, NULL, 512), 0);
	cr_assert_eq(tc_recv(bad, &p), 0);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_R2T);
	cr_assert_eq(p->hdr.r2t.cccid, 4);
	cr_assert_eq(p->hdr.r2t.r2to, 0);
	cr_assert_eq(p->hdr.r2t.r2tl, 512, "expected one R2T for all 512 bytes, got %u",
		     p->hdr.r2t.r2tl);
	cr_assert_eq(tc_send_h2c(bad, 5, p->hdr.r2t.ttag, 0, junk, 64, true), 0);
	expect_term_req(bad, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, 8, "H2CData cccid");
	tc_close(bad, false);

	/* H2CData at the wrong offset. */
	bad = raw_io(false, false, 0);
	cr_assert_eq(tc_send_cmd(bad, &cmd, NULL, 512), 0);
	cr_assert_eq(tc_recv(bad, &p), 0);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_R2T);
	cr_assert_eq(tc_send_h2c(bad, 4, p->hdr.r2t.ttag, 256, junk, 64, true), 0);
	expect_term_req(bad, SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_OUT_OF_RANGE, UINT32_MAX,
			"H2CData offset");
	tc_close(bad, false);

	/* In-capsule data whose length is not the SGL's: FEI of PLEN. */
	bad = raw_io(false, false, 0);
	tc_rw_cmd(&cmd, true, 4, 1, 0, 1);
	set_icd_sgl(&cmd, 512);
	capsule_pdu(&pdu, &cmd, NULL, junk, sizeof(junk));
	cr_assert_eq(tc_send_pdu(bad, &pdu), 0);
	expect_term_req(bad, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, 4, "ICD length");
	tc_close(bad, false);

	/* In-capsule data at an offset: unsupported, FEI of the SGL address. */
	bad = raw_io(false, false, 0);
	set_icd_sgl(&cmd, sizeof(junk));
	cmd.dptr.sgl1.address = 16;
	capsule_pdu(&pdu, &cmd, NULL, junk, sizeof(junk));
	cr_assert_eq(tc_send_pdu(bad, &pdu), 0);
	expect_term_req(bad, SPIO_NVME_TCP_TERM_REQ_FES_UNSUPPORTED_PARAMETER, 32, "ICD offset");
	tc_close(bad, false);

	/* A keyed SGL (RDMA's) is not NVMe/TCP: FEI of the SGL type byte. */
	bad = raw_io(false, false, 0);
	tc_rw_cmd(&cmd, false, 4, 1, 0, 1);
	cmd.dptr.sgl1.keyed.length = 512;
	cmd.dptr.sgl1.keyed.type = SPIO_NVME_SGL_TYPE_KEYED_DATA_BLOCK;
	capsule_pdu(&pdu, &cmd, NULL, NULL, 0);
	cr_assert_eq(tc_send_pdu(bad, &pdu), 0);
	expect_term_req(bad, SPIO_NVME_TCP_TERM_REQ_FES_UNSUPPORTED_PARAMETER, 47, "keyed SGL");
	tc_close(bad, false);

	/* A second ICReq. */
	bad = raw_io(false, false, 0);
	nvme_tcp_ic_req_build(&pdu, 0, false, false, 0);
	cr_assert_eq(tc_send_pdu(bad, &pdu), 0);
	expect_term_req(bad, SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR, UINT32_MAX,
			"second ICReq");
	tc_close(bad, false);

	/* A PDU only a controller sends. */
	bad = raw_io(false, false, 0);
	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_R2T);
	pdu.hdr.r2t.r2tl = 512;
	cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, NULL, NULL, 0, 0, 0), 0);
	cr_assert_eq(tc_send_pdu(bad, &pdu), 0);
	expect_term_req(bad, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, 0, "R2T from a host");
	tc_close(bad, false);

	/* Through all of it the first connection was served. */
	raw_rw(good, 10, 0, 4096, true, 0, 1);
	raw_rw(good, 12, 8, 65536, false, 0, 2);
	tc_close(good, false);
	raw_done();
}

Test(nvmf_tcp, bad_icreq_and_capsule_before_icreq)
{
	struct nvme_tcp_tx_pdu pdu;
	struct spio_nvme_cmd cmd;
	struct tc *tc;

	start(NULL, 0);
	tc = raw_connect();
	tc_rw_cmd(&cmd, false, 1, 1, 0, 1);
	cr_assert_eq(tc_send_cmd(tc, &cmd, NULL, 512), 0);
	expect_term_req(tc, SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR, UINT32_MAX,
			"capsule before ICReq");
	tc_close(tc, false);

	tc = raw_connect();
	nvme_tcp_ic_req_build(&pdu, 0, false, false, 0);
	pdu.hdr.ic_req.pfv = 1;
	cr_assert_eq(tc_send_pdu(tc, &pdu), 0);
	expect_term_req(tc, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, 8, "ICReq PFV 1");
	tc_close(tc, false);

	tc = raw_connect();
	nvme_tcp_ic_req_build(&pdu, 0, false, false, 0);
	pdu.hdr.ic_req.hpda = 32;
	cr_assert_eq(tc_send_pdu(tc, &pdu), 0);
	expect_term_req(tc, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, 10, "ICReq HPDA 32");
	tc_close(tc, false);
}

Test(nvmf_tcp, host_term_req_closes_without_an_answer)
{
	struct nvme_tcp_tx_pdu pdu;
	struct tc *tc;

	start(NULL, 0);
	tc = raw_io(false, false, 0);
	nvme_tcp_term_req_build(&pdu, SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ,
				SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR, 0, NULL, 0);
	cr_assert_eq(tc_send_pdu(tc, &pdu), 0);
	cr_assert(tc_wait_closed(tc, 5000), "expected the target to close");
	cr_assert_eq(tc->q_count, 0, "expected no PDU in answer to a term req");
	tc_close(tc, false);
	raw_done();
}

Test(nvmf_tcp, bidirectional_opcode_fails_in_the_transport)
{
	struct spio_nvme_cmd cmd = {.opc = 0x03, .cid = 9, .nsid = 1};
	struct tc_pdu *p;
	struct tc *tc;

	start(NULL, 0);
	tc = raw_io(false, false, 0);
	cr_assert_eq(tc_send_cmd(tc, &cmd, NULL, 512), 0);
	cr_assert_eq(tc_recv(tc, &p), 0);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	cr_assert_eq(p->hdr.capsule_resp.rccqe.cid, 9);
	expect_cpl(&p->hdr.capsule_resp.rccqe, 0, SPIO_NVME_SC_INVALID_OPCODE, "opcode 0x03");
	raw_rw(tc, 10, 0, 512, true, 0, 1);
	tc_close(tc, false);
	raw_done();
}

Test(nvmf_tcp, in_capsule_limits_8k_on_admin_icd_on_io_max_io_size)
{
	static uint8_t buf[8192];
	struct spio_nvme_cmd cmd = {.opc = 0xc1, .cid = 40};
	struct tc_pdu *p;
	struct tc *tc;

	start(NULL, 0);
	/* Admin queue: 8 KiB in a capsule although ICD is 4 KiB (the core answers it). */
	g_admin = raw_admin(false, false);
	g_next_qid = 1;
	cr_assert_eq(tc_send_cmd(g_admin, &cmd, buf, sizeof(buf)), 0);
	cr_assert_eq(tc_recv(g_admin, &p), 0);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP,
		     "expected a response to 8 KiB in-capsule on the admin queue, got type %u",
		     p->hdr.common.pdu_type);
	cr_assert_eq(p->hdr.capsule_resp.rccqe.cid, 40);

	/* I/O queue: 8 KiB in a capsule is above ICD. */
	tc = raw_io(false, false, 0);
	tc_rw_cmd(&cmd, true, 41, 1, 0, 16);
	cr_assert_eq(tc_send_cmd(tc, &cmd, buf, sizeof(buf)), 0);
	expect_term_req(tc, SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_LIMIT_EXCEEDED, UINT32_MAX,
			"8 KiB in-capsule on an I/O queue");
	tc_close(tc, false);

	/* A transfer above max_io_size. */
	tc = raw_io(false, false, 0);
	tc_rw_cmd(&cmd, false, 42, 1, 0, 512);
	cr_assert_eq(tc_send_cmd(tc, &cmd, NULL, 262144), 0);
	expect_term_req(tc, SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_LIMIT_EXCEEDED, UINT32_MAX,
			"256 KiB read");
	tc_close(tc, false);
	raw_done();
}

Test(nvmf_tcp, more_commands_than_the_queue_holds)
{
	struct spio_nvmf_transport_opts o;
	struct spio_nvme_cmd cmd;
	struct tc *tc;

	cr_assert_eq(spio_nvmf_transport_opts_init("TCP", &o, sizeof(o)), 0);
	o.max_queue_depth = 4;
	start(&o, 0);
	g_entries = 4;
	tc = raw_io(false, false, 0);
	/* All five arrive in one read: the first four hold every request. */
	for (uint16_t i = 0; i < 5; i++) {
		tc_rw_cmd(&cmd, false, (uint16_t)(100 + i), 1, 0, 1);
		cr_assert_eq(tc_send_cmd(tc, &cmd, NULL, 512), 0);
	}
	for (;;) {
		struct tc_pdu *p;

		/* Answers to the first four may come before the term req. */
		cr_assert_eq(tc_recv(tc, &p), 0, "expected a C2HTermReq");
		if (p->hdr.common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ) {
			cr_assert_eq(
			    p->hdr.term_req.fes, SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR,
			    "expected FES PDU Sequence Error, got %u", p->hdr.term_req.fes);
			break;
		}
	}
	cr_assert(tc_wait_closed(tc, 5000));
	tc_close(tc, false);
	cr_assert(nsu_poll_until(one_conn, NULL, WAIT_MS), "the overrun connection was not freed");
	raw_done();
}

/* Send `n` writes of `len` bytes at once and serve their R2Ts in any order. */
static void concurrent_writes(struct tc *tc, int n, uint32_t len)
{
	uint8_t *w = malloc(len);
	int done = 0;

	fill(w, len, 3);
	for (int i = 0; i < n; i++) {
		struct spio_nvme_cmd cmd;

		tc_rw_cmd(&cmd, true, (uint16_t)(200 + i), 1, (uint64_t)i * (len / 512), len / 512);
		cr_assert_eq(tc_send_cmd(tc, &cmd, NULL, len), 0);
	}
	while (done < n) {
		struct tc_pdu *p;

		cr_assert_eq(tc_recv(tc, &p), 0, "%d of %d writes done", done, n);
		if (p->hdr.common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_R2T) {
			struct spio_nvme_tcp_r2t_hdr r2t = p->hdr.r2t;

			cr_assert_eq(tc_send_h2c(tc, r2t.cccid, r2t.ttag, 0, w, r2t.r2tl, true), 0);
		} else {
			cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
			expect_cpl(&p->hdr.capsule_resp.rccqe, 0, 0, "concurrent write");
			done++;
		}
	}
	free(w);
}

Test(nvmf_tcp, writes_wait_for_pool_buffers_and_never_fail)
{
	struct spio_nvmf_transport_opts o;
	struct tc *tc;

	cr_assert_eq(spio_nvmf_transport_opts_init("TCP", &o, sizeof(o)), 0);
	o.io_unit_size = 32768;
	o.num_shared_buffers = 5; /* one 128 KiB command (4 buffers) at a time */
	start(&o, 0);
	tc = raw_io(false, false, 0);
	concurrent_writes(tc, 8, 131072);
	raw_rw(tc, 10, 0, 131072, false, 8192, 4);
	tc_close(tc, false);
	raw_done();
}

Test(nvmf_tcp, reset_and_fin_both_tear_down)
{
	struct spio_nvme_cmd cmd;
	struct tc *a, *b;

	start(NULL, 0);
	a = raw_io(false, false, 0);
	b = raw_io(false, false, 0);
	cr_assert_eq(nvmf_tcp_get_conn_count(g_tr), 3);
	/* Commands in every state when the connections go: sent, waiting for data, executing. */
	for (uint16_t i = 0; i < 8; i++) {
		tc_rw_cmd(&cmd, i % 2 == 0, i, 1, (uint64_t)i * 256, 256);
		cr_assert_eq(tc_send_cmd(a, &cmd, NULL, 131072), 0);
		cr_assert_eq(tc_send_cmd(b, &cmd, NULL, 131072), 0);
	}
	poll_n(3);
	tc_close(a, true);
	tc_close(b, false);
	raw_done();
	cr_assert(nsu_poll_until(no_conns, NULL, WAIT_MS), "connections left: %u",
		  nvmf_tcp_get_conn_count(g_tr));
}

Test(nvmf_tcp, half_open_client_does_not_block_others_and_times_out)
{
	struct tc *half, *good;

	nvmf_tcp_set_preconnect_timeout_ms(300);
	start(NULL, 0);
	half = raw_connect();
	good = raw_admin(false, false);
	cr_assert(tc_wait_closed(half, 5000), "half-open connection not closed after 300 ms");
	cr_assert(nsu_poll_until(one_conn, NULL, WAIT_MS));
	/* The connected one is past its Connect: no timeout for it. */
	poll_n(1000);
	cr_assert_eq(nvmf_tcp_get_conn_count(g_tr), 1);
	tc_close(half, false);
	tc_close(good, false);
}

Test(nvmf_tcp, connection_flood_is_refused_beyond_the_limit)
{
	int fds[64];
	int refused = 0;
	struct tc *tc;

	start(NULL, 8);
	for (size_t i = 0; i < SPIO_COUNTOF(fds); i++) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_nsu.port)};

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_eq(connect(fds[i], (struct sockaddr *)&a, sizeof(a)), 0);
		poll_n(2);
	}
	poll_n(200);
	cr_assert_eq(nvmf_tcp_get_listener_conn_count(g_tr, &g_nsu.trid), 8,
		     "expected 8 connections on the listener, got %u",
		     nvmf_tcp_get_listener_conn_count(g_tr, &g_nsu.trid));
	cr_assert_eq(nvmf_tcp_get_conn_count(g_tr), 8);
	for (size_t i = 0; i < SPIO_COUNTOF(fds); i++) {
		char c;
		ssize_t n = recv(fds[i], &c, 1, MSG_DONTWAIT);

		refused += n == 0 || (n < 0 && errno == ECONNRESET);
	}
	cr_assert_eq(refused, 64 - 8, "expected 56 refused connections, got %d", refused);
	for (size_t i = 0; i < SPIO_COUNTOF(fds); i++) {
		close(fds[i]);
	}
	cr_assert(nsu_poll_until(no_conns, NULL, WAIT_MS));
	/* Below the limit again: served. */
	tc = raw_io(false, false, 0);
	raw_rw(tc, 10, 0, 4096, true, 0, 1);
	tc_close(tc, false);
	raw_done();
}

Test(nvmf_tcp, idle_poll_groups_sleep_and_wake_on_a_command)
{
	struct spio_thread *pg[MAX_PG];
	struct pollfd pfd[MAX_PG];
	struct spio_nvme_cmd cmd;
	struct tc_pdu *p;
	struct tc *tc;
	uint32_t npg;
	int n = 0;

	start(NULL, 0);
	tc = raw_io(false, false, 0);
	poll_n(10);
	npg = nsu_poll_group_threads(pg, MAX_PG);
	for (uint32_t i = 0; i < npg; i++) {
		struct spio_thread *t = pg[i];

		cr_assert(!spio_thread_has_active_pollers_without_interrupt(t),
			  "poll group thread %u has pollers that keep it awake", i);
		cr_assert_eq(spio_thread_next_poller_expiration(t), 0,
			     "poll group thread %u runs a timer while idle", i);
		pfd[n].fd = spio_thread_get_interrupt_fd(t);
		pfd[n].events = POLLIN;
		cr_assert(pfd[n].fd >= 0);
		cr_assert(spio_thread_sleep_begin(t));
		n++;
	}
	cr_assert_eq(poll(pfd, (nfds_t)n, 300), 0, "an idle poll group thread woke up");
	tc_rw_cmd(&cmd, false, 5, 1, 0, 1);
	cr_assert_eq(tc_send_cmd(tc, &cmd, NULL, 512), 0);
	cr_assert_eq(poll(pfd, (nfds_t)n, 5000), 1, "a command did not wake its poll group");
	for (uint32_t i = 0; i < npg; i++) {
		spio_thread_sleep_end(pg[i]);
	}
	cr_assert_eq(tc_recv(tc, &p), 0);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_C2H_DATA);
	cr_assert_eq(tc_recv(tc, &p), 0);
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	tc_close(tc, false);
	raw_done();
}

/* The target's end of the client's connection: the fd whose peer is the client's address. */
static int find_server_fd(const struct tc *tc)
{
	struct sockaddr_in mine, peer;
	socklen_t len = sizeof(mine);

	cr_assert_eq(getsockname(tc->fd, (struct sockaddr *)&mine, &len), 0);
	for (int fd = 3; fd < 4096; fd++) {
		len = sizeof(peer);
		if (fd != tc->fd && getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
		    peer.sin_family == AF_INET && peer.sin_port == mine.sin_port) {
			return fd;
		}
	}
	return -1;
}

Test(nvmf_tcp, sock_priority_and_nodelay_on_the_sockets)
{
	struct spio_nvmf_transport_opts o;
	struct tcp_listener *l;
	struct tc *tc;
	int v = -1, fd;
	socklen_t len = sizeof(v);

	cr_assert_eq(spio_nvmf_transport_opts_init("TCP", &o, sizeof(o)), 0);
	o.sock_priority = 3;
	start(&o, 0);
	l = TAILQ_FIRST(&tcp_transport(g_tr)->listeners);
	cr_assert_eq(getsockopt(l->fd, SOL_SOCKET, SO_PRIORITY, &v, &len), 0);
	cr_assert_eq(v, 3, "listening socket: expected SO_PRIORITY 3, got %d", v);
	tc = raw_connect();
	poll_n(10);
	fd = find_server_fd(tc);
	cr_assert(fd >= 0, "accepted socket not found");
	v = -1;
	cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_PRIORITY, &v, &len), 0);
	cr_assert_eq(v, 3, "accepted socket: expected SO_PRIORITY 3, got %d", v);
	v = 0;
	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	cr_assert(v, "accepted socket without TCP_NODELAY");
	tc_close(tc, false);
}

Test(nvmf_tcp, transport_opts_are_checked_as_spdk_does)
{
	struct spio_nvmf_transport_opts d, o;
	struct nvmf_transport *t;
	struct spio_thread *prev = spio_thread_enter(g_nsu.tt);
	int rc;

	g_nvmf_tcp_ops.opts_init(&d);
	cr_assert(d.max_queue_depth == 128 && d.max_io_qpairs_per_ctrlr == 127 &&
		      d.in_capsule_data_size == 4096 && d.max_io_size == 131072 &&
		      d.io_unit_size == 131072 && d.max_aq_depth == 128 &&
		      d.num_shared_buffers == 511 && d.buf_cache_size == 32 && d.c2h_success &&
		      !d.dif_insert_or_strip && d.abort_timeout_sec == 1 && d.sock_priority == 0 &&
		      d.control_msg_num == 32,
		  "defaults differ from SPDK's");
#define REFUSED(field, value)                                                    \
	do {                                                                     \
		o = d;                                                           \
		o.field = value;                                                 \
		t = g_nvmf_tcp_ops.create(NULL, &o, &rc);                        \
		cr_assert(t == NULL && rc == -EINVAL,                            \
			  #field " = " #value ": expected -EINVAL, got %d", rc); \
	} while (0)
	REFUSED(dif_insert_or_strip, true);
	REFUSED(sock_priority, 17);
	REFUSED(sock_priority, -1);
	REFUSED(max_io_size, 100000);
	REFUSED(max_io_size, 4096);
	REFUSED(io_unit_size, 8200);
	REFUSED(io_unit_size, 256);
	REFUSED(in_capsule_data_size, 4100);
	REFUSED(io_unit_size, 2048); /* 64 buffers for one 128 KiB command */
	REFUSED(num_shared_buffers, 0);
#undef REFUSED
	/* Corrected as SPDK corrects them, with a warning. */
	o = d;
	o.max_io_size = 65536;
	o.in_capsule_data_size = 131072;
	o.max_queue_depth = 1;
	o.max_aq_depth = 5000;
	t = g_nvmf_tcp_ops.create(NULL, &o, &rc);
	cr_assert_not_null(t, "create: %d", rc);
	cr_assert_eq(t->opts.io_unit_size, 65536);
	cr_assert_eq(t->opts.in_capsule_data_size, 65536);
	cr_assert_eq(t->opts.max_queue_depth, 128);
	cr_assert_eq(t->opts.max_aq_depth, 128);
	cr_assert_eq(g_nvmf_tcp_ops.get_icdsz(t), 65536);
	g_nvmf_tcp_ops.destroy(t);
	spio_thread_leave(prev);
}

Test(nvmf_tcp, listen_checks_addresses_and_takes_ipv6)
{
	struct spio_nvme_transport_id trid;
	struct spio_thread *prev;
	struct tc *tc;
	int rc;

	start(NULL, 0);
	prev = spio_thread_enter(g_nsu.tt);
	nsu_trid(&trid, "127.0.0.1", g_nsu.port);
	cr_assert_eq(g_nvmf_tcp_ops.listen(g_tr, &trid), -EEXIST);
	trid.adrfam = SPIO_NVMF_ADRFAM_IB;
	cr_assert_eq(g_nvmf_tcp_ops.listen(g_tr, &trid), -EINVAL);
	nsu_trid(&trid, "127.0.0.1", 0);
	cr_assert_eq(g_nvmf_tcp_ops.listen(g_tr, &trid), -EINVAL, "port 0 accepted");
	snprintf(trid.trsvcid, sizeof(trid.trsvcid), "44x");
	cr_assert_eq(g_nvmf_tcp_ops.listen(g_tr, &trid), -EINVAL);
	nsu_trid(&trid, "not-an-address.invalid", 4000);
	cr_assert_eq(g_nvmf_tcp_ops.listen(g_tr, &trid), -EINVAL);
	{
		/* A port another socket holds. */
		uint16_t port = nsu_free_port();
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		cr_assert_eq(listen(fd, 1), 0);
		nsu_trid(&trid, "127.0.0.1", port);
		rc = g_nvmf_tcp_ops.listen(g_tr, &trid);
		cr_assert_eq(rc, -EADDRINUSE, "expected -EADDRINUSE, got %d", rc);
		close(fd);
	}
	/* IPv6 loopback, where the machine has it. */
	nsu_trid(&trid, "::1", nsu_free_port());
	rc = g_nvmf_tcp_ops.listen(g_tr, &trid);
	spio_thread_leave(prev);
	if (rc == 0) {
		struct spio_nvme_tcp_ic_resp icr;

		tc = tc_connect((uint16_t)atoi(trid.trsvcid), true, nsu_pump, NULL);
		cr_assert_not_null(tc, "connect to [::1] failed");
		cr_assert_eq(tc_ic(tc, 0, false, false, &icr), 0);
		cr_assert_eq(strcmp(g_nsu.trid.traddr, "127.0.0.1"), 0);
		tc_close(tc, false);
		prev = spio_thread_enter(g_nsu.tt);
		g_nvmf_tcp_ops.stop_listen(g_tr, &trid);
		spio_thread_leave(prev);
	} else {
		fprintf(stderr, "no IPv6 loopback here (%d): IPv6 listening not tested\n", rc);
	}
	/* After stop_listen nobody answers there. */
	prev = spio_thread_enter(g_nsu.tt);
	g_nvmf_tcp_ops.stop_listen(g_tr, &g_nsu.trid);
	spio_thread_leave(prev);
	cr_assert_null(tc_connect(g_nsu.port, false, nsu_pump, NULL),
		       "connected after stop_listen");
}

Test(nvmf_tcp, mutated_pdu_streams_never_hurt_the_target, .timeout = 240)
{
	static uint8_t stream[4 * 8192];
	uint8_t data[4096];
	unsigned seed = 12345;
	struct tc *good;

	start(NULL, 0);
	fill(data, sizeof(data), 5);
	for (int it = 0; it < 120; it++) {
		bool dg = it % 3 == 0;
		struct spio_nvme_tcp_ic_resp icr;
		struct nvme_tcp_tx_pdu pdu;
		struct spio_nvme_cmd cmd;
		struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
		struct tc *tc = raw_connect();
		struct tc_pdu *p;
		size_t len = 0;

		/* A fresh controller each time: Connect on an admin queue. */
		cr_assert_eq(tc_ic(tc, 0, dg, dg, &icr), 0);
		cr_assert_eq(
		    tc_send_connect(tc, 1, 0, 32, 0, SPIO_NVMF_CNTLID_DYNAMIC, SUBNQN, HOSTNQN), 0);
		cr_assert_eq(tc_recv(tc, &p), 0);
		/* In-capsule data, a transport SGL with H2CData (TTAG guessed), a read. */
		tc_rw_cmd(&cmd, true, 1, 1, 0, 8);
		set_icd_sgl(&cmd, 4096);
		capsule_pdu(&pdu, &cmd, &tc->tx, data, 4096);
		len += pdu_bytes(&pdu, stream + len);
		cmd.opc = 0xc1;
		cmd.cid = 2;
		set_transport_sgl(&cmd, 4096);
		capsule_pdu(&pdu, &cmd, &tc->tx, NULL, 0);
		len += pdu_bytes(&pdu, stream + len);
		nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_H2C_DATA);
		pdu.hdr.h2c_data.cccid = 2;
		pdu.hdr.h2c_data.ttag = (uint16_t)(1 + it % 3);
		pdu.hdr.h2c_data.datal = 4096;
		cr_assert_eq(nvme_tcp_tx_pdu_seal(&pdu, &tc->tx, &iov, 1, 0, 4096), 0);
		len += pdu_bytes(&pdu, stream + len);
		cmd.opc = 0x02;
		cmd.cid = 3;
		set_transport_sgl(&cmd, 8192);
		capsule_pdu(&pdu, &cmd, &tc->tx, NULL, 0);
		len += pdu_bytes(&pdu, stream + len);
		/* A few bytes changed, mostly in headers where they matter. */
		for (int k = 0; k < 1 + it % 4; k++) {
			size_t at = (size_t)rand_r(&seed) % (it % 2 ? len : 160);

			stream[at] ^= (uint8_t)(1 + rand_r(&seed) % 255);
		}
		(void)tc_send_raw(tc, stream, len);
		poll_n(30);
		tc_close(tc, it % 5 == 0);
	}
	cr_assert(nsu_poll_until(no_conns, NULL, WAIT_MS), "connections left: %u",
		  nvmf_tcp_get_conn_count(g_tr));
	good = raw_io(true, true, 0);
	raw_rw(good, 10, 0, 65536, false, 0, 1);
	tc_close(good, false);
	raw_done();
}

Test(nvmf_tcp, a_full_queue_after_connect_one_command_at_a_time_before)
{
	uint8_t buf[31][512];
	struct spio_nvme_tcp_ic_resp icr;
	struct spio_nvme_cmd cmd;
	struct tc *tc;
	int got = 0;

	start(NULL, 0);
	/* Connected: all 31 commands of a 32-entry queue at once. */
	tc = raw_io(false, false, 0);
	for (uint16_t i = 0; i < 31; i++) {
		tc_rw_cmd(&cmd, false, (uint16_t)(300 + i), 1, i, 1);
		cr_assert_eq(tc_send_cmd(tc, &cmd, NULL, 512), 0);
	}
	while (got < 31) {
		struct tc_pdu *p;

		cr_assert_eq(tc_recv(tc, &p), 0, "%d of 31 reads answered", got);
		if (p->hdr.common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_C2H_DATA) {
			uint16_t i = (uint16_t)(p->hdr.c2h_data.cccid - 300);

			cr_assert(i < 31 && p->data_len == 512);
			memcpy(buf[i], p->data, 512);
			continue;
		}
		cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
		expect_cpl(&p->hdr.capsule_resp.rccqe, 0, 0, "one of 31 reads");
		got++;
	}
	tc_close(tc, false);

	/* Not connected yet: a command behind the Connect finds no request free. */
	tc = raw_connect();
	cr_assert_eq(tc_ic(tc, 0, false, false, &icr), 0);
	cr_assert_eq(tc_send_connect(tc, 1, g_next_qid++, 32, 0, g_cntlid, SUBNQN, HOSTNQN), 0);
	tc_rw_cmd(&cmd, false, 2, 1, 0, 1);
	cr_assert_eq(tc_send_cmd(tc, &cmd, NULL, 512), 0);
	for (;;) {
		struct tc_pdu *p;

		cr_assert_eq(tc_recv(tc, &p), 0, "expected a C2HTermReq");
		if (p->hdr.common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ) {
			cr_assert_eq(p->hdr.term_req.fes,
				     SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR);
			break;
		}
	}
	tc_close(tc, false);
	raw_done();
}

Test(nvmf_tcp, target_destroyed_under_connected_hosts)
{
	static uint8_t buf[8][131072];
	struct nsu_io ios[8] = {0};
	struct spio_thread *prev;
	struct tc *raw;
	struct host h;

	start(NULL, 0);
	host_connect(&h, false, 2);
	raw = raw_io(false, false, 0);
	prev = spio_thread_enter(g_nsu.ht);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(spio_nvme_ns_cmd_write(h.ns, h.qp[i % 2], buf[i], (uint64_t)i * 256,
						    256, nsu_io_done, &ios[i], 0),
			     0);
	}
	spio_thread_leave(prev);
	poll_n(5);
	nsu_tgt_stop();
	/* Every command completed once, whatever its fate. */
	for (int i = 0; i < 50; i++) {
		prev = spio_thread_enter(g_nsu.ht);
		for (int q = 0; q < h.nqp; q++) {
			spio_nvme_qpair_process_completions(h.qp[q], 0);
		}
		spio_thread_leave(prev);
		poll_all();
	}
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(ios[i].done, 1, "write %d completed %d times", i, ios[i].done);
	}
	cr_assert(tc_wait_closed(raw, 5000), "raw connection not closed by the target's end");
	tc_close(raw, false);
	raw_done();
	host_disconnect(&h);
}
