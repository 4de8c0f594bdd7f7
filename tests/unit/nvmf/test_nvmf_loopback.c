/*
 * Our NVMe/TCP initiator (spio/nvme.h) against our NVMe-oF target
 * (spio/nvmf.h) in one process over 127.0.0.1: discovery, identify, the
 * host allowlist, namespace hot add and remove, the keep-alive timeout of a
 * silent host, failing and slow namespaces (error and delay bdevs), and
 * verified I/O on four qpairs at once. Every case asserts
 * what the host sees; the target's API only confirms it.
 *
 * OS threads: the test's own polls the target thread (configuration, bdevs)
 * and the host's admin thread; a second one polls the target's poll groups
 * for the whole test, so every connection crosses OS threads as it does in
 * spio_tgt; the I/O cases add one OS thread per host qpair. Assertions are
 * made on the test's thread only.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev_error.h"
#include "spio/env.h"
#include "spio/nvme.h"
#include "spio/nvmf.h"
#include "spio/thread.h"

#include "../../../module/bdev/delay/vbdev_delay.h"
#include "helper_nvmf_setup.h"
#include "helper_tcp_client.h"
#include "nvme/nvme_fabric.h"

#define SUBNQN_A "nqn.2016-06.io.spdk-io:loop-a"
#define SUBNQN_B "nqn.2016-06.io.spdk-io:loop-b"
#define SUBNQN_C "nqn.2016-06.io.spdk-io:loop-c"
#define HOSTNQN_1 "nqn.2014-08.org.nvmexpress:uuid:3c1d0b52-6a0e-4f41-9d3e-2f9c8a7b5e01"
#define HOSTNQN_2 "nqn.2014-08.org.nvmexpress:uuid:3c1d0b52-6a0e-4f41-9d3e-2f9c8a7b5e02"
/* Generous: the cases must pass under sanitizers on a loaded machine. */
#define WAIT_MS 60000
#define IO_WAIT_MS 180000

/*
 * Threads
 */

/* The OS thread that polls the target's poll groups for the whole case. */
static pthread_t g_pg_poller;
static int g_pg_stop;

static void *pg_poller_main(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&g_pg_stop, __ATOMIC_ACQUIRE)) {
		if (!nsu_poll_groups()) {
			sched_yield();
		}
	}
	return NULL;
}

/* One round of the test thread's spio threads. */
static void poll_main(void)
{
	int busy = spio_thread_poll(g_nsu.tt, 0, 0) > 0;

	busy |= spio_thread_poll(g_nsu.ht, 0, 0) > 0;
	if (!busy) {
		sched_yield(); /* let the poll group and worker OS threads run */
	}
}

static uint64_t ms_to_ticks(uint64_t ms)
{
	return ms * spio_get_ticks_hz() / 1000;
}

static uint64_t ticks_to_ms(uint64_t ticks)
{
	return ticks * 1000 / spio_get_ticks_hz();
}

/*
 * Target
 */

static void setup(void)
{
	nsu_init("test_nvmf_loopback", poll_main, WAIT_MS);
	__atomic_store_n(&g_pg_stop, 0, __ATOMIC_RELEASE);
	cr_assert_eq(pthread_create(&g_pg_poller, NULL, pg_poller_main, NULL), 0);
}

static struct spio_nvmf_subsystem *discovery_subsys(void)
{
	struct spio_thread *prev = spio_thread_enter(g_nsu.tt);
	struct spio_nvmf_subsystem *s =
	    spio_nvmf_tgt_find_subsystem(g_nsu.tgt, SPIO_NVMF_DISCOVERY_NQN);

	spio_thread_leave(prev);
	cr_assert_not_null(s);
	return s;
}

/* Controllers of `s` as the target lists them, into `infos` (up to `max`). */
static uint32_t tgt_ctrlrs(struct spio_nvmf_subsystem *s, struct spio_nvmf_ctrlr_info *infos,
			   uint32_t max)
{
	struct spio_thread *prev = spio_thread_enter(g_nsu.tt);
	uint32_t n = spio_nvmf_subsystem_get_ctrlrs(s, infos, max);

	spio_thread_leave(prev);
	return n;
}

struct ctrlr_count {
	struct spio_nvmf_subsystem *s;
	uint32_t want;
};

static bool ctrlr_count_is(void *arg)
{
	struct ctrlr_count *c = arg;

	return tgt_ctrlrs(c->s, NULL, 0) == c->want;
}

static void wait_ctrlrs(struct spio_nvmf_subsystem *s, uint32_t want, const char *what)
{
	struct ctrlr_count c = {.s = s, .want = want};

	cr_assert(nsu_poll_until(ctrlr_count_is, &c, WAIT_MS),
		  "%s: expected %u controllers, got %u", what, want, tgt_ctrlrs(s, NULL, 0));
}

static void teardown(void)
{
	/* The poll groups need their OS thread until the target is gone. */
	nsu_tgt_stop();
	__atomic_store_n(&g_pg_stop, 1, __ATOMIC_RELEASE);
	pthread_join(g_pg_poller, NULL);
	nsu_fini();
}

TestSuite(nvmf_loopback, .init = setup, .fini = teardown, .timeout = 300);

/*
 * Host (on g_nsu.ht, polled by the test thread)
 */

struct host {
	struct spio_nvme_ctrlr *ctrlr;
	struct spio_nvme_poll_group *group;
	struct spio_nvme_qpair *qp[4];
	int nqp;
};

static void host_opts(struct spio_nvme_ctrlr_opts *opts, const char *hostnqn, bool digests)
{
	spio_nvme_ctrlr_get_default_opts(opts, sizeof(*opts));
	snprintf(opts->hostnqn, sizeof(opts->hostnqn), "%s", hostnqn);
	opts->header_digest = digests;
	opts->data_digest = digests;
}

/* Connect to `subnqn` as `hostnqn`; \return the callback's status (h->ctrlr set on 0). */
static int host_try_connect(struct host *h, const char *subnqn, const char *hostnqn, bool digests)
{
	struct spio_nvme_ctrlr_opts opts;
	struct spio_nvme_transport_id trid = g_nsu.trid;
	struct nsu_connect r = {0};
	struct spio_thread *prev = spio_thread_enter(g_nsu.ht);
	int rc;

	memset(h, 0, sizeof(*h));
	snprintf(trid.subnqn, sizeof(trid.subnqn), "%s", subnqn);
	host_opts(&opts, hostnqn, digests);
	rc = spio_nvme_connect_async(&trid, &opts, nsu_ctrlr_connected, &r);
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "spio_nvme_connect_async: %d", rc);
	cr_assert(nsu_poll_until(nsu_flag_set, &r.done, WAIT_MS), "connect to %s did not finish",
		  subnqn);
	h->ctrlr = r.ctrlr;
	cr_assert((r.status == 0) == (r.ctrlr != NULL), "connect: status %d with controller %p",
		  r.status, (void *)r.ctrlr);
	return r.status;
}

static void host_add_qpairs(struct host *h, int n)
{
	for (int i = 0; i < n; i++) {
		struct nsu_connect r = {0};
		struct spio_thread *prev = spio_thread_enter(g_nsu.ht);
		struct spio_nvme_qpair *qp;
		int rc = 0;

		if (h->group == NULL) {
			h->group = spio_nvme_poll_group_create();
		}
		qp = spio_nvme_ctrlr_alloc_io_qpair(h->ctrlr, NULL, 0);
		if (qp != NULL && h->group != NULL) {
			rc = spio_nvme_poll_group_add(h->group, qp);
			if (rc == 0) {
				rc = spio_nvme_qpair_connect_async(qp, nsu_qpair_connected, &r);
			}
		}
		spio_thread_leave(prev);
		cr_assert_not_null(h->group, "poll group: errno %d", errno);
		cr_assert_not_null(qp, "alloc_io_qpair: errno %d", errno);
		cr_assert_eq(rc, 0, "qpair connect start: %d", rc);
		h->qp[h->nqp++] = qp;
		cr_assert(nsu_poll_until(nsu_flag_set, &r.done, WAIT_MS),
			  "qpair connect did not finish");
		cr_assert_eq(r.status, 0, "I/O qpair %d connect: %d", i, r.status);
	}
}

static void host_connect(struct host *h, const char *subnqn, const char *hostnqn, bool digests,
			 int nqp)
{
	int rc = host_try_connect(h, subnqn, hostnqn, digests);

	cr_assert_eq(rc, 0, "connect to %s as %s: %d", subnqn, hostnqn, rc);
	host_add_qpairs(h, nqp);
}

static void ctrlr_detach(struct spio_nvme_ctrlr *ctrlr)
{
	struct spio_thread *prev = spio_thread_enter(g_nsu.ht);
	int done = 0;
	int rc = spio_nvme_detach_async(ctrlr, nsu_set_flag, &done);

	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "detach: %d", rc);
	cr_assert(nsu_poll_until(nsu_flag_set, &done, WAIT_MS), "detach did not finish");
}

static void host_disconnect(struct host *h)
{
	struct spio_thread *prev = spio_thread_enter(g_nsu.ht);

	for (int i = 0; i < h->nqp; i++) {
		cr_assert_eq(spio_nvme_ctrlr_free_io_qpair(h->qp[i]), 0);
	}
	if (h->group != NULL) {
		cr_assert_eq(spio_nvme_poll_group_destroy(h->group), 0);
	}
	spio_thread_leave(prev);
	ctrlr_detach(h->ctrlr);
	memset(h, 0, sizeof(*h));
}

static struct spio_nvme_ns *host_ns(struct host *h, uint32_t nsid)
{
	struct spio_thread *prev = spio_thread_enter(g_nsu.ht);
	struct spio_nvme_ns *ns = spio_nvme_ctrlr_get_ns(h->ctrlr, nsid);

	spio_thread_leave(prev);
	return ns;
}

/* The active NSIDs as the host lists them, 0-terminated, at most `max` - 1. */
static void host_active_ns(struct host *h, uint32_t *out, int max)
{
	struct spio_thread *prev = spio_thread_enter(g_nsu.ht);
	int n = 0;

	for (uint32_t id = spio_nvme_ctrlr_get_first_active_ns(h->ctrlr); id != 0 && n < max - 1;
	     id = spio_nvme_ctrlr_get_next_active_ns(h->ctrlr, id)) {
		out[n++] = id;
	}
	out[n] = 0;
	spio_thread_leave(prev);
}

static void expect_active_ns(struct host *h, const uint32_t *want, const char *what)
{
	uint32_t got[8];
	int i;

	host_active_ns(h, got, 8);
	for (i = 0; want[i] != 0 || got[i] != 0; i++) {
		cr_assert_eq(got[i], want[i],
			     "%s: active namespace %d: expected %u, got %u (list %u %u %u)", what,
			     i, want[i], got[i], got[0], got[1], got[2]);
	}
}

/* Data of block `lba` of a run, so that misplaced or stale data shows. */
static void fill_blocks(uint8_t *buf, uint64_t lba, uint32_t len, uint32_t seed)
{
	for (uint32_t off = 0; off < len; off += 4) {
		uint64_t x = (lba * 512 + off) ^ ((uint64_t)seed << 40);
		uint32_t v;

		x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ull;
		v = (uint32_t)(x ^ (x >> 32));
		memcpy(buf + off, &v, 4);
	}
}

/* Run one read or write on the host's thread; \return its completion. */
static struct spio_nvme_cpl host_io(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qp, bool write,
				    void *buf, uint64_t lba, uint32_t nlb)
{
	struct nsu_io io = {0};
	struct spio_thread *prev = spio_thread_enter(g_nsu.ht);
	int rc = write ? spio_nvme_ns_cmd_write(ns, qp, buf, lba, nlb, nsu_io_done, &io, 0)
		       : spio_nvme_ns_cmd_read(ns, qp, buf, lba, nlb, nsu_io_done, &io, 0);

	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "%s of %u blocks at %lu: submit %d", write ? "write" : "read", nlb,
		     (unsigned long)lba, rc);
	cr_assert(nsu_poll_until(nsu_flag_set, &io.done, WAIT_MS), "%s did not complete",
		  write ? "write" : "read");
	cr_assert_eq(io.done, 1, "completed %d times", io.done);
	return io.cpl;
}

static void expect_ok(const struct spio_nvme_cpl *cpl, const char *what)
{
	cr_assert(!spio_nvme_cpl_is_error(cpl), "%s: expected success, got sct %u sc 0x%x", what,
		  cpl->status.sct, cpl->status.sc);
}

/* Write `len` bytes at `lba` (blocks of `bs`) and read them back on `qr`. */
static void host_rw(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qw, struct spio_nvme_qpair *qr,
		    uint64_t lba, uint32_t len, uint32_t seed)
{
	uint32_t bs = spio_nvme_ns_get_sector_size(ns);
	uint8_t *w = malloc(len), *r = calloc(1, len);
	struct spio_nvme_cpl cpl;

	cr_assert(w != NULL && r != NULL);
	fill_blocks(w, lba * bs / 512, len, seed);
	cpl = host_io(ns, qw, true, w, lba, len / bs);
	expect_ok(&cpl, "write");
	cpl = host_io(ns, qr, false, r, lba, len / bs);
	expect_ok(&cpl, "read");
	cr_assert(memcmp(w, r, len) == 0, "%u bytes at block %lu read back differ", len,
		  (unsigned long)lba);
	free(w);
	free(r);
}

/*
 * Discovery
 */

struct probe_res {
	int done;
	int status;
	int nattach;
	struct {
		char subnqn[SPIO_NVMF_NQN_MAX_LEN + 1];
		struct spio_nvme_ctrlr *ctrlr;
		int status;
	} a[8];
};

static void probe_attach(void *arg, const struct spio_nvme_transport_id *trid,
			 struct spio_nvme_ctrlr *ctrlr, int status)
{
	struct probe_res *p = arg;

	if (p->nattach < (int)SPIO_COUNTOF(p->a)) {
		snprintf(p->a[p->nattach].subnqn, sizeof(p->a[0].subnqn), "%s", trid->subnqn);
		p->a[p->nattach].ctrlr = ctrlr;
		p->a[p->nattach].status = status;
	}
	p->nattach++;
}

static void probe_done(void *arg, int status)
{
	struct probe_res *p = arg;

	p->status = status;
	p->done = 1;
}

/* Probe the discovery subsystem as `hostnqn`; every attach is in `p`. */
static void probe(struct probe_res *p, const char *hostnqn)
{
	struct spio_nvme_ctrlr_opts opts;
	struct spio_nvme_transport_id trid = g_nsu.trid;
	struct spio_thread *prev = spio_thread_enter(g_nsu.ht);
	int rc;

	memset(p, 0, sizeof(*p));
	snprintf(trid.subnqn, sizeof(trid.subnqn), "%s", SPIO_NVMF_DISCOVERY_NQN);
	host_opts(&opts, hostnqn, false);
	rc = spio_nvme_probe_async(&trid, &opts, probe_attach, probe_done, p);
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "spio_nvme_probe_async: %d", rc);
	cr_assert(nsu_poll_until(nsu_flag_set, &p->done, WAIT_MS), "probe did not finish");
	cr_assert_eq(p->status, 0, "probe: %d", p->status);
	cr_assert_leq(p->nattach, (int)SPIO_COUNTOF(p->a), "%d attach callbacks", p->nattach);
}

/* The probe attached exactly the subsystems `want` (NULL-terminated), each once. */
static void expect_attached(const struct probe_res *p, const char *const *want, const char *what)
{
	int n = 0;

	while (want[n] != NULL) {
		n++;
	}
	cr_assert_eq(p->nattach, n, "%s: expected %d subsystems attached, got %d", what, n,
		     p->nattach);
	for (int i = 0; i < n; i++) {
		int found = 0;

		for (int j = 0; j < p->nattach; j++) {
			if (strcmp(p->a[j].subnqn, want[i]) == 0) {
				found++;
				cr_assert_eq(p->a[j].status, 0, "%s: attach of %s: %d", what,
					     want[i], p->a[j].status);
			}
		}
		cr_assert_eq(found, 1, "%s: %s attached %d times", what, want[i], found);
	}
	for (int j = 0; j < p->nattach; j++) {
		struct spio_thread *prev = spio_thread_enter(g_nsu.ht);
		bool disc = spio_nvme_ctrlr_is_discovery(p->a[j].ctrlr);
		const struct spio_nvme_ctrlr_data *cd = spio_nvme_ctrlr_get_data(p->a[j].ctrlr);
		bool same = strcmp(cd->subnqn, p->a[j].subnqn) == 0;

		spio_thread_leave(prev);
		cr_assert(!disc, "%s: %s attached as a discovery controller", what, p->a[j].subnqn);
		cr_assert(same, "%s: attached to %s, its identify says %.64s", what, p->a[j].subnqn,
			  cd->subnqn);
	}
}

static void probe_detach_all(struct probe_res *p)
{
	for (int j = 0; j < p->nattach; j++) {
		ctrlr_detach(p->a[j].ctrlr);
	}
	p->nattach = 0;
}

/* Read the discovery log page through the host API into `log` (4096 bytes). */
static void read_discovery_log(struct spio_nvmf_discovery_log_page *log, uint32_t size)
{
	struct host d;
	struct nsu_io io = {0};
	struct spio_thread *prev;
	int rc;

	rc = host_try_connect(&d, SPIO_NVMF_DISCOVERY_NQN, HOSTNQN_1, false);
	cr_assert_eq(rc, 0, "connect to the discovery subsystem: %d", rc);
	prev = spio_thread_enter(g_nsu.ht);
	cr_assert(spio_nvme_ctrlr_is_discovery(d.ctrlr));
	rc = spio_nvme_ctrlr_cmd_get_log_page(d.ctrlr, SPIO_NVME_LOG_DISCOVERY, 0, log, size, 0,
					      nsu_io_done, &io);
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "get log page: %d", rc);
	cr_assert(nsu_poll_until(nsu_flag_set, &io.done, WAIT_MS),
		  "discovery log read did not complete");
	expect_ok(&io.cpl, "discovery log");
	ctrlr_detach(d.ctrlr);
}

Test(nvmf_loopback, discovery_probe_attaches_every_listed_subsystem)
{
	static const char *const two[] = {SUBNQN_A, SUBNQN_B, NULL};
	static const char *const three[] = {SUBNQN_A, SUBNQN_B, SUBNQN_C, NULL};
	struct spio_nvmf_discovery_log_page *log = calloc(1, 4096);
	struct spio_nvmf_subsystem *a, *b, *c, *disc;
	struct probe_res p;
	uint32_t nvm = 0;
	char port[8];

	cr_assert_not_null(log);
	nsu_tgt_start(NULL, 0);
	nsu_malloc("M0", 2048, 512, NULL);
	nsu_malloc("M1", 2048, 512, NULL);
	nsu_malloc("M2", 2048, 512, NULL);
	a = nsu_subsys(SUBNQN_A, 0, true, true);
	b = nsu_subsys(SUBNQN_B, 0, true, true);
	c = nsu_subsys(SUBNQN_C, 0, true, false); /* no listener: not reachable, not listed */
	nsu_add_ns(a, "M0", NULL);
	nsu_add_ns(b, "M1", NULL);
	nsu_add_ns(c, "M2", NULL);
	disc = discovery_subsys();
	nsu_listen(disc);

	/* The log itself: A and B on our listener, the discovery subsystem, not C. */
	read_discovery_log(log, 4096);
	cr_assert_eq(log->numrec, 3, "expected 3 log entries (A, B, discovery), got %lu",
		     (unsigned long)log->numrec);
	snprintf(port, sizeof(port), "%u", g_nsu.port);
	for (uint32_t i = 0; i < 3; i++) {
		const struct spio_nvmf_discovery_log_page_entry *e = &log->entries[i];

		cr_assert(strncmp(e->subnqn, SUBNQN_C, sizeof(e->subnqn)) != 0,
			  "%s is listed without a listener", SUBNQN_C);
		cr_assert_eq(e->trtype, SPIO_NVMF_TRTYPE_TCP);
		cr_assert_eq(e->adrfam, SPIO_NVMF_ADRFAM_IPV4);
		cr_assert(strncmp(e->traddr, "127.0.0.1 ", 10) == 0, "traddr %.16s", e->traddr);
		cr_assert(strncmp(e->trsvcid, port, strlen(port)) == 0, "trsvcid %.8s, expected %s",
			  e->trsvcid, port);
		nvm += e->subtype == SPIO_NVMF_SUBTYPE_NVME;
	}
	cr_assert_eq(nvm, 2, "expected 2 NVM subsystem entries, got %u", nvm);

	/* The probe attaches both listed subsystems and detaches the discovery controller. */
	probe(&p, HOSTNQN_1);
	expect_attached(&p, two, "first probe");
	wait_ctrlrs(disc, 0, "discovery controller after the probe");
	wait_ctrlrs(a, 1, "A after the probe");
	wait_ctrlrs(b, 1, "B after the probe");
	cr_assert_eq(tgt_ctrlrs(c, NULL, 0), 0);
	probe_detach_all(&p);
	wait_ctrlrs(a, 0, "A after detach");
	wait_ctrlrs(b, 0, "B after detach");

	/* C gets a listener: the next probe finds it too. */
	nsu_listen(c);
	probe(&p, HOSTNQN_1);
	expect_attached(&p, three, "probe after C listens");
	probe_detach_all(&p);
	free(log);
}

/*
 * Identify
 */

static void padded(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	memset(dst, ' ', size);
	memcpy(dst, src, n);
}

Test(nvmf_loopback, identify_matches_the_target_configuration)
{
	static const uint8_t nguid3[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
					   0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
	struct spio_uuid u_m0, u_m1, u_ns3;
	struct spio_nvmf_ns_opts no;
	struct spio_nvmf_subsystem *s;
	struct spio_nvmf_ctrlr_info info[2];
	struct spio_nvme_ctrlr_opts hopts;
	struct spio_nvme_ns *ns3, *ns7;
	struct spio_thread *prev;
	struct spio_nvme_ctrlr_data cd;
	char sn[20], mn[40];
	uint32_t max_ns, max_xfer;
	struct host h;

	cr_assert_eq(spio_uuid_parse(&u_m0, "6b4e0f6a-0c1d-4e2f-8a3b-4c5d6e7f8091"), 0);
	cr_assert_eq(spio_uuid_parse(&u_m1, "7c5f1a7b-1d2e-4f30-9b4c-5d6e7f8091a2"), 0);
	cr_assert_eq(spio_uuid_parse(&u_ns3, "8d6a2b8c-2e3f-4a41-ac5d-6e7f8091a2b3"), 0);
	nsu_tgt_start(NULL, 0);
	nsu_malloc("M0", 16384, 512, &u_m0); /* 8 MiB of 512-byte blocks */
	nsu_malloc("M1", 2048, 4096, &u_m1); /* 8 MiB of 4 KiB blocks */
	s = nsu_subsys(SUBNQN_A, 16, true, true);
	prev = spio_thread_enter(g_nsu.tt);
	cr_assert_eq(spio_nvmf_subsystem_set_sn(s, "SPIOLOOP00000001"), 0);
	cr_assert_eq(spio_nvmf_subsystem_set_mn(s, "spio loopback test model"), 0);
	max_ns = spio_nvmf_subsystem_get_max_namespaces(s);
	spio_thread_leave(prev);
	spio_nvmf_ns_opts_init(&no, sizeof(no));
	no.nsid = 3;
	memcpy(no.nguid, nguid3, sizeof(nguid3));
	no.eui64 = 0x0102030405060708ull;
	no.uuid = u_ns3;
	cr_assert_eq(nsu_add_ns(s, "M0", &no), 3);
	spio_nvmf_ns_opts_init(&no, sizeof(no));
	no.nsid = 7;
	cr_assert_eq(nsu_add_ns(s, "M1", &no), 7);

	host_connect(&h, SUBNQN_A, HOSTNQN_1, false, 1);
	prev = spio_thread_enter(g_nsu.ht);
	cd = *spio_nvme_ctrlr_get_data(h.ctrlr);
	hopts = *spio_nvme_ctrlr_get_opts(h.ctrlr);
	max_xfer = spio_nvme_ctrlr_get_max_xfer_size(h.ctrlr);
	spio_thread_leave(prev);

	/* Controller: what the subsystem was given, and the controller the target made. */
	padded(sn, "SPIOLOOP00000001", sizeof(sn));
	padded(mn, "spio loopback test model", sizeof(mn));
	cr_assert(memcmp(cd.sn, sn, sizeof(sn)) == 0, "serial: got '%.20s'", cd.sn);
	cr_assert(memcmp(cd.mn, mn, sizeof(mn)) == 0, "model: got '%.40s'", cd.mn);
	cr_assert_str_eq(cd.subnqn, SUBNQN_A);
	cr_assert_eq(max_ns, 16);
	cr_assert_eq(cd.nn, max_ns, "NN: expected %u, got %u", max_ns, cd.nn);
	cr_assert_eq(max_xfer, 131072, "max transfer: expected the target's 131072, got %u",
		     max_xfer);
	cr_assert_eq(tgt_ctrlrs(s, info, 2), 1);
	cr_assert_eq(cd.cntlid, info[0].cntlid, "CNTLID: host sees %u, target has %u", cd.cntlid,
		     info[0].cntlid);
	cr_assert_str_eq(info[0].hostnqn, HOSTNQN_1);
	cr_assert(memcmp(info[0].hostid.u, hopts.extended_host_id, 16) == 0,
		  "the target's host ID differs from the host's");

	/* Namespaces: only 3 and 7 are active. */
	expect_active_ns(&h, (const uint32_t[]){3, 7, 0}, "identify");
	cr_assert_null(host_ns(&h, 1));
	ns3 = host_ns(&h, 3);
	ns7 = host_ns(&h, 7);
	cr_assert(ns3 != NULL && ns7 != NULL);
	cr_assert_eq(spio_nvme_ns_get_id(ns3), 3);
	cr_assert_eq(spio_nvme_ns_get_num_sectors(ns3), 16384);
	cr_assert_eq(spio_nvme_ns_get_sector_size(ns3), 512);
	cr_assert_eq(spio_nvme_ns_get_size(ns3), 8u << 20);
	cr_assert_not_null(spio_nvme_ns_get_nguid(ns3));
	cr_assert(memcmp(spio_nvme_ns_get_nguid(ns3), nguid3, 16) == 0, "ns 3: NGUID differs");
	cr_assert_not_null(spio_nvme_ns_get_uuid(ns3));
	cr_assert(memcmp(spio_nvme_ns_get_uuid(ns3), u_ns3.u, 16) == 0,
		  "ns 3: expected the UUID given at add_ns");
	cr_assert_eq(spio_nvme_ns_get_eui64(ns3), 0x0102030405060708ull, "ns 3: EUI-64 %#llx",
		     (unsigned long long)spio_nvme_ns_get_eui64(ns3));

	/* Defaults: NGUID and UUID from the bdev's UUID, no EUI-64. */
	cr_assert_eq(spio_nvme_ns_get_num_sectors(ns7), 2048);
	cr_assert_eq(spio_nvme_ns_get_sector_size(ns7), 4096);
	cr_assert_eq(spio_nvme_ns_get_size(ns7), 8u << 20);
	cr_assert_not_null(spio_nvme_ns_get_nguid(ns7));
	cr_assert(memcmp(spio_nvme_ns_get_nguid(ns7), u_m1.u, 16) == 0,
		  "ns 7: expected the bdev's UUID as NGUID");
	cr_assert_not_null(spio_nvme_ns_get_uuid(ns7));
	cr_assert(memcmp(spio_nvme_ns_get_uuid(ns7), u_m1.u, 16) == 0,
		  "ns 7: expected the bdev's UUID");
	cr_assert_eq(spio_nvme_ns_get_eui64(ns7), 0);

	/* The geometry is real: each namespace is its own bdev. */
	host_rw(ns7, h.qp[0], h.qp[0], 5, 3 * 4096, 7);
	host_rw(ns3, h.qp[0], h.qp[0], 40, 3 * 4096, 3);
	host_disconnect(&h);
}

/*
 * Host allowlist
 */

/* A raw admin Connect as `hostnqn`; \return its completion. */
static struct spio_nvme_cpl raw_connect_cpl(const char *subnqn, const char *hostnqn)
{
	struct spio_nvme_tcp_ic_resp icr;
	struct spio_nvme_cpl cpl;
	struct tc *tc = tc_connect(g_nsu.port, false, nsu_pump, NULL);
	struct tc_pdu *p;

	cr_assert_not_null(tc, "connect to port %u failed", g_nsu.port);
	cr_assert_eq(tc_ic(tc, 0, false, false, &icr), 0);
	cr_assert_eq(tc_send_connect(tc, 1, 0, 32, 0, SPIO_NVMF_CNTLID_DYNAMIC, subnqn, hostnqn),
		     0);
	cr_assert_eq(tc_recv(tc, &p), 0, "no answer to the connect");
	cr_assert_eq(p->hdr.common.pdu_type, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP);
	cpl = p->hdr.capsule_resp.rccqe;
	tc_close(tc, false);
	return cpl;
}

Test(nvmf_loopback, host_allowlist_refuses_with_invalid_host_then_admits)
{
	static const char *const none[] = {NULL};
	static const char *const only_a[] = {SUBNQN_A, NULL};
	struct spio_nvmf_subsystem *s;
	struct spio_nvme_cpl cpl;
	struct probe_res p;
	struct host h1, h2;
	struct spio_thread *prev;
	int rc;

	nsu_tgt_start(NULL, 0);
	nsu_malloc("M0", 8192, 512, NULL);
	s = nsu_subsys(SUBNQN_A, 0, false, true);
	nsu_add_ns(s, "M0", NULL);
	nsu_listen(discovery_subsys());
	prev = spio_thread_enter(g_nsu.tt);
	rc = spio_nvmf_subsystem_add_host(s, HOSTNQN_1);
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "add_host: %d", rc);

	/* Another host: Connect fails with Connect Invalid Host, and nothing is created. */
	rc = host_try_connect(&h2, SUBNQN_A, HOSTNQN_2, false);
	cr_assert_eq(rc, -EACCES, "host not in the list: expected -EACCES, got %d", rc);
	cpl = raw_connect_cpl(SUBNQN_A, HOSTNQN_2);
	cr_assert(cpl.status.sct == SPIO_NVME_SCT_COMMAND_SPECIFIC &&
		      cpl.status.sc == SPIO_NVMF_FABRIC_SC_INVALID_HOST,
		  "expected sct 1 sc 0x84 (invalid host), got sct %u sc 0x%x", cpl.status.sct,
		  cpl.status.sc);
	cr_assert_eq(tgt_ctrlrs(s, NULL, 0), 0, "a refused host got a controller");
	/* Discovery does not show it the subsystem either. */
	probe(&p, HOSTNQN_2);
	expect_attached(&p, none, "probe as a refused host");

	/* The allowed host connects, by discovery and directly, and does I/O. */
	probe(&p, HOSTNQN_1);
	expect_attached(&p, only_a, "probe as the allowed host");
	probe_detach_all(&p);
	host_connect(&h1, SUBNQN_A, HOSTNQN_1, false, 1);
	host_rw(host_ns(&h1, 1), h1.qp[0], h1.qp[0], 0, 8192, 1);

	/* Added afterwards, the second host gets in and sees the same data. */
	prev = spio_thread_enter(g_nsu.tt);
	rc = spio_nvmf_subsystem_add_host(s, HOSTNQN_2);
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "add_host: %d", rc);
	host_connect(&h2, SUBNQN_A, HOSTNQN_2, false, 1);
	{
		uint8_t w[8192], r[8192];

		fill_blocks(w, 0, sizeof(w), 1);
		cpl = host_io(host_ns(&h2, 1), h2.qp[0], false, r, 0, 16);
		expect_ok(&cpl, "read by the second host");
		cr_assert(memcmp(w, r, sizeof(w)) == 0, "the second host reads other data");
	}
	host_rw(host_ns(&h2, 1), h2.qp[0], h2.qp[0], 100, 4096, 2);
	wait_ctrlrs(s, 2, "both hosts");
	host_disconnect(&h2);
	host_disconnect(&h1);
	wait_ctrlrs(s, 0, "after both detached");
}

/*
 * Namespace hot add / remove
 */

struct ns_events {
	int n;
	uint32_t nsid[16];
	enum spio_nvme_ns_event ev[16];
	int aers;
	uint32_t aer_cdw0;
};

static void ns_changed(void *arg, struct spio_nvme_ctrlr *ctrlr, uint32_t nsid,
		       enum spio_nvme_ns_event event)
{
	struct ns_events *e = arg;

	(void)ctrlr;
	if (e->n < (int)SPIO_COUNTOF(e->nsid)) {
		e->nsid[e->n] = nsid;
		e->ev[e->n] = event;
	}
	e->n++;
}

static void aer_seen(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct ns_events *e = arg;

	e->aers++;
	e->aer_cdw0 = cpl->cdw0;
}

struct ev_wait {
	struct ns_events *e;
	int n;
};

static bool events_reach(void *arg)
{
	struct ev_wait *w = arg;

	return w->e->n >= w->n;
}

/* Wait for event number `idx` (0-based) and expect it to be (nsid, ev), alone. */
static void expect_event(struct ns_events *e, int idx, uint32_t nsid, enum spio_nvme_ns_event ev)
{
	struct ev_wait w = {.e = e, .n = idx + 1};

	cr_assert(nsu_poll_until(events_reach, &w, WAIT_MS),
		  "no namespace change callback for nsid %u (%d callbacks so far)", nsid, e->n);
	cr_assert_eq(e->nsid[idx], nsid, "event %d: expected nsid %u, got %u", idx, nsid,
		     e->nsid[idx]);
	cr_assert_eq(e->ev[idx], ev, "event %d (nsid %u): expected event %d, got %d", idx, nsid, ev,
		     e->ev[idx]);
	cr_assert_eq(e->n, idx + 1, "expected one callback, got %d", e->n - idx);
}

static bool aer_count(void *arg)
{
	struct ev_wait *w = arg;

	return w->e->aers >= w->n;
}

Test(nvmf_loopback, namespace_hot_add_and_remove_reach_the_connected_host)
{
	struct ns_events ev = {0};
	struct spio_nvmf_subsystem *s;
	struct spio_nvme_ns *ns1, *ns2;
	struct spio_nvme_cpl cpl;
	struct spio_thread *prev;
	struct ev_wait aw = {.e = &ev};
	union spio_nvme_async_event_completion aec;
	uint8_t buf[4096];
	struct host h;

	memset(buf, 0xee, sizeof(buf));
	nsu_tgt_start(NULL, 0);
	nsu_malloc("M0", 8192, 512, NULL);
	nsu_malloc("M1", 4096, 512, NULL);
	s = nsu_subsys(SUBNQN_A, 0, true, true);
	cr_assert_eq(nsu_add_ns(s, "M0", NULL), 1);
	host_connect(&h, SUBNQN_A, HOSTNQN_1, false, 1);
	prev = spio_thread_enter(g_nsu.ht);
	spio_nvme_ctrlr_register_ns_change_callback(h.ctrlr, ns_changed, &ev);
	spio_nvme_ctrlr_register_aer_callback(h.ctrlr, aer_seen, &ev);
	spio_thread_leave(prev);
	ns1 = host_ns(&h, 1);
	cr_assert_not_null(ns1);
	host_rw(ns1, h.qp[0], h.qp[0], 0, 4096, 1);

	/* Hot add: the callback names the new namespace, which takes I/O. */
	cr_assert_eq(nsu_add_ns(s, "M1", NULL), 2);
	expect_event(&ev, 0, 2, SPIO_NVME_NS_ADDED);
	aw.n = 1;
	cr_assert(nsu_poll_until(aer_count, &aw, WAIT_MS), "the AER callback did not run");
	aec.raw = ev.aer_cdw0;
	cr_assert(aec.bits.async_event_type == SPIO_NVME_ASYNC_EVENT_TYPE_NOTICE &&
		      aec.bits.async_event_info == SPIO_NVME_ASYNC_EVENT_NS_ATTR_CHANGED,
		  "expected a namespace attribute notice, got cdw0 %#x", ev.aer_cdw0);
	expect_active_ns(&h, (const uint32_t[]){1, 2, 0}, "after the add");
	ns2 = host_ns(&h, 2);
	cr_assert_not_null(ns2, "namespace 2 has no object");
	cr_assert_eq(spio_nvme_ns_get_num_sectors(ns2), 4096);
	host_rw(ns2, h.qp[0], h.qp[0], 10, 65536, 2);

	/* Hot remove: the callback, the list, and an NVMe status for I/O to it. */
	nsu_remove_ns(s, 1);
	expect_event(&ev, 1, 1, SPIO_NVME_NS_REMOVED);
	expect_active_ns(&h, (const uint32_t[]){2, 0}, "after the remove");
	cr_assert_null(host_ns(&h, 1), "namespace 1 still has an object");
	cpl = host_io(ns1, h.qp[0], false, buf, 0, 8);
	cr_assert(cpl.status.sct == SPIO_NVME_SCT_GENERIC &&
		      cpl.status.sc == SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT,
		  "read of a removed namespace: expected sct 0 sc 0x0b, got sct %u sc 0x%x",
		  cpl.status.sct, cpl.status.sc);
	cpl = host_io(ns1, h.qp[0], true, buf, 0, 8);
	cr_assert(cpl.status.sct == SPIO_NVME_SCT_GENERIC &&
		      cpl.status.sc == SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT,
		  "write to a removed namespace: expected sct 0 sc 0x0b, got sct %u sc 0x%x",
		  cpl.status.sct, cpl.status.sc);
	host_rw(ns2, h.qp[0], h.qp[0], 200, 8192, 3);

	/* The same bdev back as nsid 1: added again, with the data written before. */
	cr_assert_eq(nsu_add_ns(s, "M0", NULL), 1);
	expect_event(&ev, 2, 1, SPIO_NVME_NS_ADDED);
	expect_active_ns(&h, (const uint32_t[]){1, 2, 0}, "after the second add");
	ns1 = host_ns(&h, 1);
	cr_assert_not_null(ns1);
	{
		uint8_t want[4096];

		fill_blocks(want, 0, sizeof(want), 1);
		cpl = host_io(ns1, h.qp[0], false, buf, 0, 8);
		expect_ok(&cpl, "read of the namespace added again");
		cr_assert(memcmp(buf, want, sizeof(buf)) == 0,
			  "namespace 1 added again lost its data");
	}
	host_disconnect(&h);
}

/*
 * Keep-alive timeout
 */

static bool raw_ok(const struct spio_nvme_cpl *cpl)
{
	return !spio_nvme_cpl_is_error(cpl);
}

/* Admin Set / Get Features Keep Alive Timer on a raw admin queue. */
static struct spio_nvme_cpl raw_kato(struct tc *tc, bool set, uint32_t ms, uint16_t cid)
{
	struct spio_nvme_cmd cmd = {
	    .opc = set ? SPIO_NVME_OPC_SET_FEATURES : SPIO_NVME_OPC_GET_FEATURES,
	    .cid = cid,
	    .cdw10 = SPIO_NVME_FEAT_KEEP_ALIVE_TIMER,
	    .cdw11 = ms,
	};
	struct spio_nvme_cpl cpl;
	int rc = tc_run_cmd(tc, &cmd, NULL, NULL, 0, false, 0, &cpl, NULL);

	cr_assert_eq(rc, 0, "%s features KATO: %d", set ? "set" : "get", rc);
	return cpl;
}

struct silent {
	struct tc *tc;
	uint64_t quiet_since; /* ticks of its last exchange */
	uint64_t closed_at;
};

static void check_closed(struct silent *s)
{
	if (s->closed_at == 0 && tc_wait_closed(s->tc, 0)) {
		s->closed_at = spio_get_ticks();
	}
}

Test(nvmf_loopback, keep_alive_timeout_tears_down_a_silent_host_only)
{
	static const uint8_t hostid[16] = {0x77, 0x01};
	struct spio_nvmf_ctrlr_info info[4];
	struct spio_nvme_tcp_ic_resp icr;
	struct spio_nvmf_fabric_connect_data data;
	struct spio_nvmf_subsystem *s;
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;
	struct spio_nvme_ns *ns;
	struct silent q[3] = {{0}};
	struct tc_pdu *p;
	uint64_t limit;
	uint16_t good;
	uint32_t round = 0;
	struct host h;
	int cntlid, rc;

	nsu_tgt_start(NULL, 0);
	nsu_malloc("M0", 16384, 512, NULL);
	s = nsu_subsys(SUBNQN_A, 0, true, true);
	nsu_add_ns(s, "M0", NULL);
	host_connect(&h, SUBNQN_A, HOSTNQN_1, false, 2);
	ns = host_ns(&h, 1);
	cr_assert_eq(tgt_ctrlrs(s, info, 4), 1);
	good = info[0].cntlid;

	/*
	 * Silent host 1: an admin and an I/O queue, then KATO set to 1 ms
	 * (the target rounds it up to its 100 ms granularity), then nothing.
	 */
	q[0].tc = tc_connect(g_nsu.port, false, nsu_pump, NULL);
	cr_assert_not_null(q[0].tc);
	cr_assert_eq(tc_ic(q[0].tc, 0, false, false, &icr), 0);
	cntlid = tc_admin_bringup(q[0].tc, 32, SUBNQN_A, HOSTNQN_2);
	cr_assert_geq(cntlid, 0, "silent host bring-up: %d", cntlid);
	q[1].tc = tc_connect(g_nsu.port, false, nsu_pump, NULL);
	cr_assert_not_null(q[1].tc);
	cr_assert_eq(tc_ic(q[1].tc, 0, false, false, &icr), 0);
	cr_assert_eq(tc_send_connect(q[1].tc, 1, 1, 32, 0, (uint16_t)cntlid, SUBNQN_A, HOSTNQN_2),
		     0);
	cr_assert_eq(tc_recv(q[1].tc, &p), 0);
	cr_assert(p->hdr.common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP &&
		      raw_ok(&p->hdr.capsule_resp.rccqe),
		  "silent host's I/O queue connect failed");
	/* The timer starts when the target takes the Set Features: measure from before. */
	q[0].quiet_since = q[1].quiet_since = spio_get_ticks();
	cpl = raw_kato(q[0].tc, true, 1, 10);
	cr_assert(raw_ok(&cpl), "set KATO 1 ms: sct %u sc 0x%x", cpl.status.sct, cpl.status.sc);
	/* Get Features is no keep alive (no traffic-based keep-alive here). */
	cpl = raw_kato(q[0].tc, false, 0, 11);
	cr_assert(raw_ok(&cpl) && cpl.cdw0 == 100,
		  "get KATO: expected 100 ms (the shortest), got %u (sc 0x%x)", cpl.cdw0,
		  cpl.status.sc);

	/* Silent host 2: KATO 1 ms in its Connect, then nothing. */
	q[2].tc = tc_connect(g_nsu.port, false, nsu_pump, NULL);
	cr_assert_not_null(q[2].tc);
	cr_assert_eq(tc_ic(q[2].tc, 0, false, false, &icr), 0);
	nvme_fabric_connect_cmd_build(&cmd, 0, 31, 1, 0);
	cmd.cid = 1;
	rc = nvme_fabric_connect_data_build(&data, hostid, SPIO_NVMF_CNTLID_DYNAMIC, SUBNQN_A,
					    HOSTNQN_2);
	cr_assert_eq(rc, 0);
	q[2].quiet_since = spio_get_ticks();
	cr_assert_eq(tc_send_cmd(q[2].tc, &cmd, &data, sizeof(data)), 0);
	cr_assert_eq(tc_recv(q[2].tc, &p), 0);
	cr_assert(p->hdr.common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP &&
		      raw_ok(&p->hdr.capsule_resp.rccqe),
		  "connect with KATO 1 ms refused");
	cr_assert_eq(tgt_ctrlrs(s, NULL, 0), 3, "expected the good and both silent controllers");

	/* The good host keeps writing and reading while the silent ones are dropped. */
	limit = spio_get_ticks() + ms_to_ticks(WAIT_MS);
	while (q[0].closed_at == 0 || q[1].closed_at == 0 || q[2].closed_at == 0) {
		cr_assert(spio_get_ticks() < limit,
			  "silent connections still open after %d ms: admin %d, I/O %d, "
			  "connect-KATO %d",
			  WAIT_MS, q[0].closed_at != 0, q[1].closed_at != 0, q[2].closed_at != 0);
		host_rw(ns, h.qp[round % 2], h.qp[(round + 1) % 2], (round % 64) * 128, 16384,
			round);
		round++;
		for (int i = 0; i < 3; i++) {
			check_closed(&q[i]);
		}
	}
	/* Not before KATO ran out. */
	for (int i = 0; i < 3; i++) {
		uint64_t quiet = ticks_to_ms(q[i].closed_at - q[i].quiet_since);

		cr_assert_geq(quiet, 100, "silent connection %d closed after %lu ms, KATO is 100",
			      i, (unsigned long)quiet);
	}
	/* The target lists the good host alone, which still works. */
	wait_ctrlrs(s, 1, "after the keep-alive timeouts");
	cr_assert_eq(tgt_ctrlrs(s, info, 4), 1);
	cr_assert_eq(info[0].cntlid, good, "the remaining controller is %u, expected %u",
		     info[0].cntlid, good);
	cr_assert_str_eq(info[0].hostnqn, HOSTNQN_1);
	cr_assert_eq(info[0].num_io_qpairs, 2, "good host: expected its 2 I/O queues, got %u",
		     info[0].num_io_qpairs);
	{
		struct spio_thread *prev = spio_thread_enter(g_nsu.ht);
		bool failed = spio_nvme_ctrlr_is_failed(h.ctrlr);

		spio_thread_leave(prev);
		cr_assert(!failed, "the good host's controller failed");
	}
	host_rw(ns, h.qp[0], h.qp[1], 8000, 131072, 99);
	for (int i = 0; i < 3; i++) {
		tc_close(q[i].tc, false);
	}
	host_disconnect(&h);
}

/*
 * I/O on four qpairs, one OS thread each
 */

#define NWORKERS 4
#define REGION_BYTES (4u << 20)
#define WORKER_QD 8

struct worker;

struct wio {
	struct worker *w;
	bool busy;
	uint64_t lba;
	uint32_t len;
	struct iovec iov[3];
};

struct worker {
	int idx;
	pthread_t pt;
	struct spio_thread *thread;
	struct spio_nvme_ctrlr *ctrlr;
	struct spio_nvme_ns *ns;
	struct spio_nvme_poll_group *group;
	struct spio_nvme_qpair *qp;
	uint8_t *rbuf;
	struct wio slots[WORKER_QD];
	int inflight;
	int connect_status;
	int connected;
	uint32_t nios;
	char err[256];
};

/* Expected contents of every region, written before the workers start. */
static uint8_t *g_expect[NWORKERS];
static int g_io_phase; /* workers through the current phase */
static int g_io_abort;
static int g_workers_done;

/* Sizes of consecutive writes: in-capsule (<= 4 KiB), R2T, and above 128 KiB. */
static const uint32_t g_wsizes[] = {4096,   512,    65536, 131072, 8192,
				    524288, 262144, 1024,  12288,  200704};
/* Reads cut the regions elsewhere. */
static const uint32_t g_rsizes[] = {131072, 524288, 4096, 32768, 512, 65536, 393216};

static uint64_t region_lba(int idx)
{
	return (uint64_t)idx * REGION_BYTES / 512;
}

static void wio_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct wio *io = arg;
	struct worker *w = io->w;

	if (spio_nvme_cpl_is_error(cpl) && w->err[0] == '\0') {
		snprintf(w->err, sizeof(w->err),
			 "worker %d: I/O of %u bytes at block %lu: sct %u sc 0x%x", w->idx, io->len,
			 (unsigned long)io->lba, cpl->status.sct, cpl->status.sc);
	}
	if (!io->busy && w->err[0] == '\0') {
		snprintf(w->err, sizeof(w->err), "worker %d: a command completed twice", w->idx);
	}
	io->busy = false;
	w->inflight--;
	w->nios++;
}

static bool worker_poll(struct worker *w)
{
	return spio_thread_poll(w->thread, 0, 0) > 0;
}

static bool worker_expired(struct worker *w, uint64_t limit, const char *what)
{
	if (__atomic_load_n(&g_io_abort, __ATOMIC_ACQUIRE)) {
		if (w->err[0] == '\0') {
			snprintf(w->err, sizeof(w->err), "worker %d: aborted during %s", w->idx,
				 what);
		}
		return true;
	}
	if (spio_get_ticks() > limit) {
		snprintf(w->err, sizeof(w->err), "worker %d: %s did not finish in time", w->idx,
			 what);
		return true;
	}
	return false;
}

/*
 * Write (or read) region `target` in pieces of `sizes`, WORKER_QD at a time.
 * Reads alternate between one buffer and a 3-part iovec cut at odd offsets.
 */
static bool worker_pass(struct worker *w, bool write, int target, uint64_t limit)
{
	const uint32_t *sizes = write ? g_wsizes : g_rsizes;
	size_t nsizes = write ? SPIO_COUNTOF(g_wsizes) : SPIO_COUNTOF(g_rsizes);
	uint64_t base = region_lba(target);
	uint32_t off = 0, k = 0;

	while (off < REGION_BYTES || w->inflight > 0) {
		for (int i = 0; i < WORKER_QD && off < REGION_BYTES && w->err[0] == '\0'; i++) {
			struct wio *io = &w->slots[i];
			uint32_t len = SPIO_MIN(sizes[k % nsizes], REGION_BYTES - off);
			uint8_t *buf = write ? g_expect[w->idx] + off : w->rbuf + off;
			struct spio_thread *prev;
			int rc;

			if (io->busy) {
				continue;
			}
			io->w = w;
			io->lba = base + off / 512;
			io->len = len;
			io->busy = true;
			prev = spio_thread_enter(w->thread);
			if (!write && k % 2 == 1 && len >= 2048) {
				io->iov[0] = (struct iovec){buf, 1000};
				io->iov[1] = (struct iovec){buf + 1000, len / 2 - 1000};
				io->iov[2] = (struct iovec){buf + len / 2, len - len / 2};
				rc = spio_nvme_ns_cmd_readv(w->ns, w->qp, io->lba, len / 512,
							    io->iov, 3, wio_done, io, 0);
			} else if (write) {
				rc = spio_nvme_ns_cmd_write(w->ns, w->qp, buf, io->lba, len / 512,
							    wio_done, io, 0);
			} else {
				rc = spio_nvme_ns_cmd_read(w->ns, w->qp, buf, io->lba, len / 512,
							   wio_done, io, 0);
			}
			spio_thread_leave(prev);
			if (rc == -ENOMEM) {
				io->busy = false; /* queue full: again after completions */
				break;
			}
			if (rc != 0) {
				io->busy = false;
				snprintf(w->err, sizeof(w->err),
					 "worker %d: submit of %u bytes at block %lu: %d", w->idx,
					 len, (unsigned long)io->lba, rc);
				break;
			}
			w->inflight++;
			off += len;
			k++;
		}
		if (w->err[0] != '\0' && w->inflight == 0) {
			return false;
		}
		if (!worker_poll(w)) {
			sched_yield();
		}
		if (worker_expired(w, limit, write ? "the writes" : "the reads")) {
			return false;
		}
	}
	return w->err[0] == '\0';
}

/* Wait until every worker finished the current phase (counted in g_io_phase). */
static bool worker_barrier(struct worker *w, int want, uint64_t limit)
{
	__atomic_add_fetch(&g_io_phase, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&g_io_phase, __ATOMIC_ACQUIRE) < want) {
		if (!worker_poll(w)) {
			sched_yield();
		}
		if (worker_expired(w, limit, "the wait for the other workers")) {
			return false;
		}
	}
	return true;
}

static void worker_connected(void *arg, struct spio_nvme_qpair *qpair, int status)
{
	struct worker *w = arg;

	(void)qpair;
	w->connect_status = status;
	w->connected = 1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t limit = spio_get_ticks() + ms_to_ticks(IO_WAIT_MS);
	struct spio_thread *prev = spio_thread_enter(w->thread);
	int rc = -ENOMEM;

	w->group = spio_nvme_poll_group_create();
	w->qp = spio_nvme_ctrlr_alloc_io_qpair(w->ctrlr, NULL, 0);
	if (w->group != NULL && w->qp != NULL) {
		rc = spio_nvme_poll_group_add(w->group, w->qp);
		if (rc == 0) {
			rc = spio_nvme_qpair_connect_async(w->qp, worker_connected, w);
		}
	}
	spio_thread_leave(prev);
	if (rc != 0) {
		snprintf(w->err, sizeof(w->err), "worker %d: qpair set-up: %d (errno %d)", w->idx,
			 rc, errno);
	}
	while (rc == 0 && !w->connected && !worker_expired(w, limit, "the qpair connect")) {
		if (!worker_poll(w)) {
			sched_yield();
		}
	}
	if (rc == 0 && w->connected && w->connect_status != 0) {
		snprintf(w->err, sizeof(w->err), "worker %d: qpair connect: %d", w->idx,
			 w->connect_status);
	}
	/* All write their own region at once, then read their neighbour's. */
	if (w->err[0] == '\0' && worker_barrier(w, NWORKERS, limit) &&
	    worker_pass(w, true, w->idx, limit) && worker_barrier(w, 2 * NWORKERS, limit) &&
	    worker_pass(w, false, (w->idx + 1) % NWORKERS, limit)) {
		if (memcmp(w->rbuf, g_expect[(w->idx + 1) % NWORKERS], REGION_BYTES) != 0) {
			snprintf(w->err, sizeof(w->err),
				 "worker %d: region %d read back differs from what worker %d wrote",
				 w->idx, (w->idx + 1) % NWORKERS, (w->idx + 1) % NWORKERS);
		}
	} else {
		/* Others must not wait for this one. */
		__atomic_store_n(&g_io_abort, 1, __ATOMIC_RELEASE);
	}
	while (w->inflight > 0 && spio_get_ticks() < limit) {
		worker_poll(w);
	}
	prev = spio_thread_enter(w->thread);
	if (w->qp != NULL) {
		spio_nvme_ctrlr_free_io_qpair(w->qp);
	}
	if (w->group != NULL) {
		spio_nvme_poll_group_destroy(w->group);
	}
	spio_thread_exit(w->thread);
	spio_thread_leave(prev);
	while (!spio_thread_is_exited(w->thread) && spio_get_ticks() < limit) {
		worker_poll(w);
	}
	__atomic_add_fetch(&g_workers_done, 1, __ATOMIC_ACQ_REL);
	return NULL;
}

static bool workers_done(void *arg)
{
	(void)arg;
	return __atomic_load_n(&g_workers_done, __ATOMIC_ACQUIRE) == NWORKERS;
}

struct stats_res {
	int done;
	int status;
	uint64_t completed;
	uint32_t groups;
};

static void stats_done(void *arg, const struct spio_nvmf_poll_group_stat *stats, uint32_t count,
		       int status)
{
	struct stats_res *r = arg;

	for (uint32_t i = 0; i < count; i++) {
		r->completed += stats[i].completed_nvme_io;
	}
	r->groups = count;
	r->status = status;
	r->done = 1;
}

static void four_qpairs(bool digests)
{
	struct spio_nvmf_transport_opts to;
	struct spio_nvmf_subsystem *s;
	struct worker w[NWORKERS];
	struct stats_res st = {0};
	struct spio_thread *prev;
	uint32_t total = 0;
	struct host h;
	int rc;

	/* Transfers up to 512 KiB: four of the target's 128 KiB buffers each. */
	cr_assert_eq(spio_nvmf_transport_opts_init("TCP", &to, sizeof(to)), 0);
	to.max_io_size = 524288;
	nsu_tgt_start(&to, 0);
	nsu_malloc("M0", 131072, 512, NULL); /* 64 MiB */
	s = nsu_subsys(SUBNQN_A, 0, true, true);
	nsu_add_ns(s, "M0", NULL);
	host_connect(&h, SUBNQN_A, HOSTNQN_1, digests, 0);
	prev = spio_thread_enter(g_nsu.ht);
	cr_assert_eq(spio_nvme_ctrlr_get_max_xfer_size(h.ctrlr), 524288,
		     "expected 512 KiB transfers, got %u",
		     spio_nvme_ctrlr_get_max_xfer_size(h.ctrlr));
	spio_thread_leave(prev);

	g_io_phase = 0;
	g_io_abort = 0;
	g_workers_done = 0;
	memset(w, 0, sizeof(w));
	for (int i = 0; i < NWORKERS; i++) {
		char name[32];

		g_expect[i] = malloc(REGION_BYTES);
		cr_assert_not_null(g_expect[i]);
		fill_blocks(g_expect[i], region_lba(i), REGION_BYTES, digests ? 0x5a : 0xa5);
		snprintf(name, sizeof(name), "loop_worker_%d", i);
		w[i].idx = i;
		w[i].ctrlr = h.ctrlr;
		w[i].ns = host_ns(&h, 1);
		w[i].rbuf = calloc(1, REGION_BYTES);
		w[i].thread = spio_thread_create(name, NULL);
		cr_assert(w[i].rbuf != NULL && w[i].thread != NULL && w[i].ns != NULL);
	}
	for (int i = 0; i < NWORKERS; i++) {
		rc = pthread_create(&w[i].pt, NULL, worker_main, &w[i]);
		cr_assert_eq(rc, 0, "pthread_create: %d", rc);
	}
	/* The target thread and the admin queue go on here meanwhile. */
	if (!nsu_poll_until(workers_done, NULL, IO_WAIT_MS + 10000)) {
		__atomic_store_n(&g_io_abort, 1, __ATOMIC_RELEASE);
	}
	for (int i = 0; i < NWORKERS; i++) {
		pthread_join(w[i].pt, NULL);
	}
	for (int i = 0; i < NWORKERS; i++) {
		cr_assert(w[i].err[0] == '\0', "%s", w[i].err);
		cr_assert(spio_thread_is_exited(w[i].thread), "worker %d's thread did not exit", i);
		spio_thread_destroy(w[i].thread);
		total += w[i].nios;
		free(w[i].rbuf);
	}
	for (int i = 0; i < NWORKERS; i++) {
		free(g_expect[i]);
		g_expect[i] = NULL;
	}

	/* Every one of those commands went through the target's poll groups. */
	prev = spio_thread_enter(g_nsu.tt);
	rc = spio_nvmf_tgt_get_stats(g_nsu.tgt, stats_done, &st);
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0);
	cr_assert(nsu_poll_until(nsu_flag_set, &st.done, WAIT_MS) && st.status == 0);
	cr_assert_geq(st.completed, total, "the target completed %lu I/Os, the hosts sent %u",
		      (unsigned long)st.completed, total);
	host_disconnect(&h);
}

Test(nvmf_loopback, four_qpairs_write_and_read_back_without_digests)
{
	four_qpairs(false);
}

Test(nvmf_loopback, four_qpairs_write_and_read_back_with_digests)
{
	four_qpairs(true);
}

/*
 * Failing and slow namespaces (module/bdev/error, module/bdev/delay): what
 * the bdev under a namespace does reaches the host as it happened. A failed
 * write or read completes with an error status, never success, and the next
 * command succeeds; corrupted read data arrives byte for byte as the bdev
 * gave it; a held write completes only when resumed; a slow namespace
 * answers late but right.
 */
static void arm(const char *bdev, enum spio_bdev_io_type type, enum spio_bdev_error_type error,
		uint32_t num, uint64_t corrupt_offset, uint8_t corrupt_value)
{
	struct spio_bdev_error_inject_opts o = {
	    .io_type = type,
	    .error_type = error,
	    .num = num,
	    .corrupt_offset = corrupt_offset,
	    .corrupt_value = corrupt_value,
	};

	cr_assert_eq(spio_bdev_error_inject(bdev, &o), 0);
}

Test(nvmf_loopback, failing_and_slow_namespaces_reach_the_host)
{
	const uint64_t lat[VBDEV_DELAY_NUM_LATENCIES] = {300, 600, 300, 600};
	uint8_t *w = malloc(8192), *r = malloc(8192);
	struct spio_nvmf_subsystem *s;
	struct spio_nvme_cpl cpl;
	struct spio_nvme_ns *ns;
	struct spio_thread *prev;
	struct spio_bdev *bdev;
	struct nsu_io held = {0};
	uint64_t start;
	struct host h;
	int rc;

	cr_assert(w != NULL && r != NULL);
	nsu_tgt_start(NULL, 0);
	nsu_malloc("EM0", 2048, 512, NULL);
	nsu_malloc("DM0", 2048, 512, NULL);
	prev = spio_thread_enter(g_nsu.tt);
	rc = spio_bdev_error_create("EM0", NULL, &bdev);
	cr_assert_eq(rc, 0, "error bdev: %d", rc);
	rc = vbdev_delay_create("DM0", "D0", NULL, lat, &bdev);
	cr_assert_eq(rc, 0, "delay bdev: %d", rc);
	spio_thread_leave(prev);
	s = nsu_subsys(SUBNQN_A, 0, true, true);
	cr_assert_eq(nsu_add_ns(s, "EE_EM0", NULL), 1);
	cr_assert_eq(nsu_add_ns(s, "D0", NULL), 2);
	host_connect(&h, SUBNQN_A, HOSTNQN_1, false, 1);
	ns = host_ns(&h, 1);
	cr_assert_not_null(ns);

	host_rw(ns, h.qp[0], h.qp[0], 8, 8192, 1);

	arm("EE_EM0", SPIO_BDEV_IO_TYPE_WRITE, SPIO_BDEV_ERROR_TYPE_FAILURE, 1, 0, 0);
	fill_blocks(w, 64, 8192, 2);
	cpl = host_io(ns, h.qp[0], true, w, 64, 16);
	cr_assert(spio_nvme_cpl_is_error(&cpl), "a failed bdev write must fail at the host");
	cpl = host_io(ns, h.qp[0], true, w, 64, 16);
	expect_ok(&cpl, "the write after the injected failure");

	arm("EE_EM0", SPIO_BDEV_IO_TYPE_READ, SPIO_BDEV_ERROR_TYPE_FAILURE, 1, 0, 0);
	cpl = host_io(ns, h.qp[0], false, r, 64, 16);
	cr_assert(spio_nvme_cpl_is_error(&cpl), "a failed bdev read must fail at the host");
	memset(r, 0, 8192);
	cpl = host_io(ns, h.qp[0], false, r, 64, 16);
	expect_ok(&cpl, "the read after the injected failure");
	cr_assert(memcmp(r, w, 8192) == 0, "the data after the failed read");

	/* Corrupt read data: the host gets exactly the bdev's bytes, one of them flipped. */
	arm("EE_EM0", SPIO_BDEV_IO_TYPE_READ, SPIO_BDEV_ERROR_TYPE_CORRUPT_DATA, 1, 5000, 0x5a);
	cpl = host_io(ns, h.qp[0], false, r, 64, 16);
	expect_ok(&cpl, "a corrupted read still completes");
	cr_assert_eq(r[5000], (uint8_t)(w[5000] ^ 0x5a), "byte 5000 flipped by the bdev");
	r[5000] ^= 0x5a;
	cr_assert(memcmp(r, w, 8192) == 0, "every other byte as written");

	/* A held write: not complete until resumed, then complete once and right. */
	arm("EE_EM0", SPIO_BDEV_IO_TYPE_WRITE, SPIO_BDEV_ERROR_TYPE_PENDING, 1, 0, 0);
	fill_blocks(w, 128, 4096, 3);
	prev = spio_thread_enter(g_nsu.ht);
	rc = spio_nvme_ns_cmd_write(ns, h.qp[0], w, 128, 8, nsu_io_done, &held, 0);
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0);
	cr_assert_not(nsu_poll_until(nsu_flag_set, &held.done, 200),
		      "a held write completed before it was resumed");
	prev = spio_thread_enter(g_nsu.tt);
	cr_assert_eq(spio_bdev_error_resume_pending("EE_EM0"), 0);
	spio_thread_leave(prev);
	cr_assert(nsu_poll_until(nsu_flag_set, &held.done, WAIT_MS), "the resumed write");
	cr_assert_eq(held.done, 1);
	expect_ok(&held.cpl, "the resumed write");
	cpl = host_io(ns, h.qp[0], false, r, 128, 8);
	expect_ok(&cpl, "read of the resumed write");
	cr_assert(memcmp(r, w, 4096) == 0, "the resumed write's data");

	/* The slow namespace: right, and not faster than its latency. */
	ns = host_ns(&h, 2);
	cr_assert_not_null(ns);
	start = spio_get_ticks();
	host_rw(ns, h.qp[0], h.qp[0], 0, 8192, 4);
	cr_assert_geq(spio_get_ticks() - start, spio_us_to_ticks(600),
		      "a write and a read through 300 us latencies");

	host_disconnect(&h);
	free(w);
	free(r);
}
