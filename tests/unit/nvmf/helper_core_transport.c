/* See helper_core_transport.h. */
#include "helper_core_transport.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev.h"
#include "spio/env.h"
#include "spio/thread.h"
#include "spio/util.h"

#include "nvme/nvme_fabric.h"
#include "nvmf/nvmf_core.h"

struct ct_stats g_ct;
struct spio_thread *g_ct_thread;

const uint8_t g_ct_hostid[16] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
				 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01};

#define MAX_THREADS 64

static pthread_mutex_t g_threads_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spio_thread *g_threads[MAX_THREADS];
static bool g_threaded;
static pthread_t g_poller;
static int g_poller_stop;

static void inc(int *p)
{
	__atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST);
}

static int get(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/*
 * Threads
 */

static int new_thread(struct spio_thread *thread)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&g_threads_lock);
	for (int i = 0; i < MAX_THREADS; i++) {
		if (g_threads[i] == NULL) {
			g_threads[i] = thread;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g_threads_lock);
	return rc;
}

/* Poll every thread but the target thread once; destroy those that exited. */
static void poll_others(void)
{
	for (int i = 0; i < MAX_THREADS; i++) {
		struct spio_thread *t;

		pthread_mutex_lock(&g_threads_lock);
		t = g_threads[i];
		pthread_mutex_unlock(&g_threads_lock);
		if (t == NULL || t == g_ct_thread) {
			continue;
		}
		spio_thread_poll(t, 0, 0);
		if (spio_thread_is_exited(t)) {
			pthread_mutex_lock(&g_threads_lock);
			g_threads[i] = NULL;
			pthread_mutex_unlock(&g_threads_lock);
			spio_thread_destroy(t);
		}
	}
}

static void *poller_main(void *arg)
{
	while (!get(&g_poller_stop)) {
		poll_others();
	}
	return NULL;
}

void ct_poll(void)
{
	spio_thread_poll(g_ct_thread, 0, 0);
	if (!g_threaded) {
		poll_others();
		/* Polling left the target thread current; keep it so. */
		spio_set_thread(g_ct_thread);
	}
}

bool ct_poll_until(const int *counter, int want, uint64_t timeout_us)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(timeout_us);

	while (get(counter) < want) {
		if (spio_get_ticks() > end) {
			return false;
		}
		ct_poll();
	}
	return true;
}

void ct_poll_for(uint64_t us)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(us);

	while (spio_get_ticks() < end) {
		ct_poll();
	}
}

static int count_others(void)
{
	int n = 0;

	pthread_mutex_lock(&g_threads_lock);
	for (int i = 0; i < MAX_THREADS; i++) {
		if (g_threads[i] != NULL && g_threads[i] != g_ct_thread) {
			n++;
		}
	}
	pthread_mutex_unlock(&g_threads_lock);
	return n;
}

bool ct_wait_threads_gone(uint64_t timeout_us)
{
	uint64_t end = spio_get_ticks() + spio_us_to_ticks(timeout_us);

	while (count_others() > 0) {
		if (spio_get_ticks() > end) {
			return false;
		}
		ct_poll();
	}
	return true;
}

/*
 * The transport
 */

struct ct_transport {
	struct nvmf_transport base;
};

struct ct_tgroup {
	int dummy;
};

static struct nvmf_transport *ct_create(struct spio_nvmf_tgt *tgt,
					const struct spio_nvmf_transport_opts *opts, int *rc)
{
	struct ct_transport *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	inc(&g_ct.created);
	return &t->base;
}

static void ct_destroy(struct nvmf_transport *transport)
{
	inc(&g_ct.destroyed);
	free(SPIO_CONTAINEROF(transport, struct ct_transport, base));
}

static int ct_listen(struct nvmf_transport *transport, const struct spio_nvme_transport_id *trid)
{
	if (strcmp(trid->trsvcid, "busy") == 0) {
		return -EADDRINUSE;
	}
	inc(&g_ct.listens);
	return 0;
}

static void ct_stop_listen(struct nvmf_transport *transport,
			   const struct spio_nvme_transport_id *trid)
{
	inc(&g_ct.stop_listens);
}

static struct nvmf_transport_poll_group *ct_pg_create(struct nvmf_transport *transport,
						      struct nvmf_poll_group *group)
{
	inc(&g_ct.groups_created);
	return (struct nvmf_transport_poll_group *)calloc(1, sizeof(struct ct_tgroup));
}

static void ct_pg_destroy(struct nvmf_transport_poll_group *tgroup)
{
	inc(&g_ct.groups_destroyed);
	free(tgroup);
}

static void ct_req_complete(struct nvmf_request *req)
{
	struct ct_req *r = SPIO_CONTAINEROF(req, struct ct_req, req);

	if (spio_get_thread() != nvmf_poll_group_get_thread(r->conn->group)) {
		r->wrong_thread = true;
	}
	inc(&r->done);
}

static void ct_qpair_fini(struct nvmf_qpair *qpair)
{
	inc(&SPIO_CONTAINEROF(qpair, struct ct_conn, qpair)->fini);
}

static void ct_qpair_close(struct nvmf_qpair *qpair)
{
	inc(&SPIO_CONTAINEROF(qpair, struct ct_conn, qpair)->closed);
	nvmf_qpair_disconnect(qpair);
}

static uint32_t ct_get_icdsz(const struct nvmf_transport *transport)
{
	return transport->opts.in_capsule_data_size;
}

static const struct nvmf_transport_ops g_ct_ops = {
    .name = CT_TRANSPORT,
    .trtype = SPIO_NVME_TRANSPORT_CUSTOM,
    .create = ct_create,
    .destroy = ct_destroy,
    .listen = ct_listen,
    .stop_listen = ct_stop_listen,
    .poll_group_create = ct_pg_create,
    .poll_group_destroy = ct_pg_destroy,
    .req_complete = ct_req_complete,
    .qpair_fini = ct_qpair_fini,
    .qpair_close = ct_qpair_close,
    .get_icdsz = ct_get_icdsz,
};

/*
 * Fixture
 */

void ct_init(const char *name, bool threaded)
{
	ct_init_pool(name, threaded, 0, 0);
}

void ct_init_pool(const char *name, bool threaded, uint32_t pool, uint32_t cache)
{
	struct spio_bdev_opts bopts;
	struct spio_env_opts eopts;
	int rc;

	memset(&g_ct, 0, sizeof(g_ct));
	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	eopts.name = name;
	rc = spio_env_init(&eopts);
	cr_assert_eq(rc, 0, "spio_env_init: expected 0, got %d", rc);
	rc = spio_thread_lib_init(new_thread, 0);
	cr_assert_eq(rc, 0, "spio_thread_lib_init: expected 0, got %d", rc);
	g_ct_thread = spio_thread_create("ct_tgt", NULL);
	cr_assert_not_null(g_ct_thread);
	spio_set_thread(g_ct_thread);
	spio_bdev_opts_init(&bopts, sizeof(bopts));
	if (pool != 0) {
		bopts.bdev_io_pool_size = pool;
		bopts.bdev_io_cache_size = cache;
	}
	rc = spio_bdev_initialize(&bopts, NULL, NULL);
	cr_assert_eq(rc, 0, "spio_bdev_initialize: expected 0, got %d", rc);
	rc = nvmf_transport_register(&g_ct_ops);
	cr_assert(rc == 0 || rc == -EEXIST, "nvmf_transport_register: expected 0, got %d", rc);
	g_threaded = threaded;
	__atomic_store_n(&g_poller_stop, 0, __ATOMIC_SEQ_CST);
	if (threaded) {
		cr_assert_eq(pthread_create(&g_poller, NULL, poller_main, NULL), 0);
	}
}

static void bdev_finished(void *arg)
{
	inc(arg);
}

void ct_fini(void)
{
	int done = 0;

	ct_clock_stop();
	spio_set_thread(g_ct_thread);
	cr_assert_eq(spio_bdev_finish(bdev_finished, &done), 0);
	cr_assert(ct_poll_until(&done, 1, CT_TIMEOUT_US), "spio_bdev_finish did not complete");
	cr_assert(ct_wait_threads_gone(CT_TIMEOUT_US), "poll group threads still there");
	if (g_threaded) {
		__atomic_store_n(&g_poller_stop, 1, __ATOMIC_SEQ_CST);
		pthread_join(g_poller, NULL);
	}
	spio_thread_exit(g_ct_thread);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(g_ct_thread); i++) {
		spio_thread_poll(g_ct_thread, 0, 0);
	}
	cr_assert(spio_thread_is_exited(g_ct_thread), "target thread did not exit");
	spio_set_thread(NULL);
	pthread_mutex_lock(&g_threads_lock);
	for (int i = 0; i < MAX_THREADS; i++) {
		if (g_threads[i] == g_ct_thread) {
			g_threads[i] = NULL;
		}
	}
	pthread_mutex_unlock(&g_threads_lock);
	spio_thread_destroy(g_ct_thread);
	g_ct_thread = NULL;
	spio_thread_lib_fini();
	spio_env_fini();
}

struct tgt_wait {
	int done;
	int status;
	struct spio_nvmf_tgt *tgt;
};

static void tgt_created(void *arg, struct spio_nvmf_tgt *tgt, int status)
{
	struct tgt_wait *w = arg;

	w->tgt = tgt;
	w->status = status;
	inc(&w->done);
}

struct spio_nvmf_tgt *ct_tgt_create(const char *name, uint32_t ngroups, uint32_t max_subsystems)
{
	struct spio_nvmf_tgt_opts opts;
	struct tgt_wait w = {0};
	int rc;

	spio_nvmf_tgt_opts_init(&opts, sizeof(opts));
	snprintf(opts.name, sizeof(opts.name), "%s", name);
	spio_cpuset_zero(&opts.cpumask);
	for (uint32_t i = 0; i < ngroups; i++) {
		spio_cpuset_set_cpu(&opts.cpumask, i, true);
	}
	if (max_subsystems != 0) {
		opts.max_subsystems = max_subsystems;
	}
	rc = spio_nvmf_tgt_create(&opts, tgt_created, &w);
	cr_assert_eq(rc, 0, "spio_nvmf_tgt_create: expected 0, got %d", rc);
	cr_assert(ct_poll_until(&w.done, 1, CT_TIMEOUT_US), "target %s did not start", name);
	cr_assert_eq(w.status, 0, "target %s: expected status 0, got %d", name, w.status);
	rc = spio_nvmf_tgt_add_transport(w.tgt, CT_TRANSPORT, NULL);
	cr_assert_eq(rc, 0, "add_transport: expected 0, got %d", rc);
	return w.tgt;
}

static void tgt_destroyed(void *arg, int status)
{
	struct tgt_wait *w = arg;

	w->status = status;
	inc(&w->done);
}

void ct_tgt_destroy(struct spio_nvmf_tgt *tgt)
{
	struct tgt_wait w = {0};
	int rc = spio_nvmf_tgt_destroy(tgt, tgt_destroyed, &w);

	cr_assert_eq(rc, 0, "spio_nvmf_tgt_destroy: expected 0, got %d", rc);
	cr_assert(ct_poll_until(&w.done, 1, CT_TIMEOUT_US), "target not destroyed");
	cr_assert(ct_wait_threads_gone(CT_TIMEOUT_US), "poll group threads did not exit");
}

struct spio_nvme_transport_id ct_trid(const char *traddr, const char *trsvcid)
{
	struct spio_nvme_transport_id trid;

	memset(&trid, 0, sizeof(trid));
	snprintf(trid.trstring, sizeof(trid.trstring), "%s", CT_TRANSPORT);
	trid.trtype = SPIO_NVME_TRANSPORT_CUSTOM;
	trid.adrfam = SPIO_NVMF_ADRFAM_IPV4;
	snprintf(trid.traddr, sizeof(trid.traddr), "%s", traddr);
	snprintf(trid.trsvcid, sizeof(trid.trsvcid), "%s", trsvcid);
	return trid;
}

/*
 * Connections and requests
 */

static void conn_add_msg(void *arg)
{
	struct ct_conn *conn = arg;

	nvmf_poll_group_add_qpair(conn->group, &conn->qpair);
	inc(&conn->added);
}

struct ct_conn *ct_conn_new(struct spio_nvmf_tgt *tgt, const char *traddr, const char *trsvcid)
{
	struct spio_nvmf_transport *t = spio_nvmf_tgt_get_transport(tgt, CT_TRANSPORT);
	struct ct_conn *conn = calloc(1, sizeof(*conn));

	cr_assert_not_null(t, "no CT transport");
	cr_assert_not_null(conn);
	conn->qpair.transport = (struct nvmf_transport *)t;
	conn->qpair.listen_trid = ct_trid(traddr, trsvcid);
	conn->qpair.peer_trid = ct_trid("10.9.9.9", "50000");
	conn->group = nvmf_tgt_next_poll_group(tgt);
	for (int i = 0; i < CT_MAX_REQS; i++) {
		conn->reqs[i].conn = conn;
	}
	cr_assert_eq(
	    spio_thread_send_msg(nvmf_poll_group_get_thread(conn->group), conn_add_msg, conn), 0);
	cr_assert(ct_poll_until(&conn->added, 1, CT_TIMEOUT_US), "connection not added");
	return conn;
}

static void conn_drop_msg(void *arg)
{
	nvmf_qpair_disconnect(arg);
}

void ct_conn_drop(struct ct_conn *conn)
{
	cr_assert_eq(spio_thread_send_msg(nvmf_poll_group_get_thread(conn->group), conn_drop_msg,
					  &conn->qpair),
		     0);
}

void ct_conn_free(struct ct_conn *conn)
{
	cr_assert(ct_poll_until(&conn->fini, 1, CT_TIMEOUT_US), "qpair_fini not called");
	ct_poll_for(1000);
	cr_assert_eq(get(&conn->fini), 1, "qpair_fini: expected 1 call, got %d", get(&conn->fini));
	for (int i = 0; i < CT_MAX_REQS; i++) {
		free(conn->reqs[i].buf);
	}
	free(conn);
}

static void exec_msg(void *arg)
{
	struct ct_req *r = arg;

	nvmf_request_exec(&r->req);
}

struct ct_req *ct_submit(struct ct_conn *conn, const struct spio_nvme_cmd *cmd, const void *buf,
			 uint32_t len, uint8_t xfer)
{
	struct ct_req *r = NULL;

	for (int i = 0; i < CT_MAX_REQS; i++) {
		if (!conn->reqs[i].in_use) {
			r = &conn->reqs[i];
			break;
		}
	}
	cr_assert_not_null(r, "all %d requests of the connection are out", CT_MAX_REQS);
	free(r->buf);
	memset(&r->req, 0, sizeof(r->req));
	r->buf = NULL;
	r->buf_len = len;
	if (len > 0) {
		r->buf = aligned_alloc(4096, spio_align_up(len, 4096));
		cr_assert_not_null(r->buf);
		memset(r->buf, 0xa5, len);
		if (buf != NULL && xfer == SPIO_NVME_DATA_HOST_TO_CONTROLLER) {
			memcpy(r->buf, buf, len);
		}
		r->req.iov[0].iov_base = r->buf;
		r->req.iov[0].iov_len = len;
		r->req.iovcnt = 1;
	}
	r->cmd = *cmd;
	memset(&r->cpl, 0xff, sizeof(r->cpl));
	r->req.qpair = &conn->qpair;
	r->req.cmd = &r->cmd;
	r->req.rsp = &r->cpl;
	r->req.length = len;
	r->req.xfer = xfer;
	r->done = 0;
	r->wrong_thread = false;
	r->in_use = true;
	cr_assert_eq(spio_thread_send_msg(nvmf_poll_group_get_thread(conn->group), exec_msg, r), 0);
	return r;
}

bool ct_wait(struct ct_req *r)
{
	return ct_poll_until(&r->done, 1, CT_TIMEOUT_US);
}

void ct_req_put(struct ct_req *r)
{
	cr_assert_eq(get(&r->done), 1, "request completed %d times, expected once", get(&r->done));
	cr_assert(!r->wrong_thread, "request completed on a thread not its poll group's");
	r->in_use = false;
}

struct spio_nvme_cpl ct_run(struct ct_conn *conn, const struct spio_nvme_cmd *cmd, void *buf,
			    uint32_t len, uint8_t xfer)
{
	struct ct_req *r = ct_submit(conn, cmd, buf, len, xfer);
	struct spio_nvme_cpl cpl;

	cr_assert(ct_wait(r), "opcode %#x (cid %u) did not complete", cmd->opc, cmd->cid);
	cpl = r->cpl;
	if (buf != NULL && xfer == SPIO_NVME_DATA_CONTROLLER_TO_HOST) {
		memcpy(buf, r->buf, len);
	}
	ct_req_put(r);
	return cpl;
}

struct ct_req *ct_connect_submit(struct ct_conn *conn, uint16_t qid, uint16_t sqsize, uint32_t kato,
				 uint16_t cntlid, const char *subnqn, const char *hostnqn,
				 const uint8_t hostid[16])
{
	struct spio_nvme_cmd cmd;
	struct spio_nvmf_fabric_connect_data data;

	nvme_fabric_connect_cmd_build(&cmd, qid, sqsize, kato, 0);
	cmd.cid = 0x4321;
	memset(&data, 0, sizeof(data));
	memcpy(data.hostid, hostid != NULL ? hostid : g_ct_hostid, sizeof(data.hostid));
	data.cntlid = cntlid;
	snprintf(data.subnqn, sizeof(data.subnqn), "%s", subnqn);
	snprintf(data.hostnqn, sizeof(data.hostnqn), "%s", hostnqn);
	return ct_submit(conn, &cmd, &data, sizeof(data), SPIO_NVME_DATA_HOST_TO_CONTROLLER);
}

struct spio_nvme_cpl ct_connect(struct ct_conn *conn, uint16_t qid, uint16_t sqsize, uint32_t kato,
				uint16_t cntlid, const char *subnqn, const char *hostnqn,
				const uint8_t hostid[16])
{
	struct ct_req *r =
	    ct_connect_submit(conn, qid, sqsize, kato, cntlid, subnqn, hostnqn, hostid);
	struct spio_nvme_cpl cpl;

	cr_assert(ct_wait(r), "connect did not complete");
	cpl = r->cpl;
	ct_req_put(r);
	return cpl;
}

struct spio_nvme_cpl ct_prop_get(struct ct_conn *conn, uint32_t ofst, uint8_t size, uint64_t *value)
{
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;

	cr_assert_eq(nvme_fabric_prop_get_build(&cmd, ofst, size), 0);
	cpl = ct_run(conn, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
	if (value != NULL) {
		*value = nvme_fabric_prop_get_rsp_value(&cpl, size);
	}
	return cpl;
}

struct spio_nvme_cpl ct_prop_set(struct ct_conn *conn, uint32_t ofst, uint32_t value)
{
	struct spio_nvme_cmd cmd;

	cr_assert_eq(nvme_fabric_prop_set_build(&cmd, ofst, 4, value), 0);
	return ct_run(conn, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
}

struct ct_conn *ct_admin_up(struct spio_nvmf_tgt *tgt, const char *subnqn, const char *hostnqn,
			    uint32_t kato, uint16_t *cntlid)
{
	struct ct_conn *conn = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	struct spio_nvme_cpl cpl;
	union spio_nvme_cc_register cc = {.raw = 0};
	uint64_t csts = 0;

	cpl = ct_connect(conn, 0, 31, kato, SPIO_NVMF_CNTLID_DYNAMIC, subnqn, hostnqn, NULL);
	cr_assert(!spio_nvme_cpl_is_error(&cpl), "admin connect to %s: sct %u sc %#x", subnqn,
		  cpl.status.sct, cpl.status.sc);
	if (cntlid != NULL) {
		*cntlid = (uint16_t)cpl.cdw0;
	}
	cc.bits.en = 1;
	cc.bits.iosqes = 6;
	cc.bits.iocqes = 4;
	cpl = ct_prop_set(conn, SPIO_NVME_REG_CC, cc.raw);
	cr_assert(!spio_nvme_cpl_is_error(&cpl), "CC enable: sct %u sc %#x", cpl.status.sct,
		  cpl.status.sc);
	cpl = ct_prop_get(conn, SPIO_NVME_REG_CSTS, 4, &csts);
	cr_assert(!spio_nvme_cpl_is_error(&cpl) && (csts & 1), "CSTS.RDY: expected 1, got %#lx",
		  (unsigned long)csts);
	return conn;
}

struct ct_conn *ct_io_up(struct spio_nvmf_tgt *tgt, const char *subnqn, const char *hostnqn,
			 uint16_t cntlid, uint16_t qid)
{
	struct ct_conn *conn = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	struct spio_nvme_cpl cpl;

	cpl = ct_connect(conn, qid, 63, 0, cntlid, subnqn, hostnqn, NULL);
	cr_assert(!spio_nvme_cpl_is_error(&cpl), "I/O connect qid %u: sct %u sc %#x", qid,
		  cpl.status.sct, cpl.status.sc);
	cr_assert_eq((uint16_t)cpl.cdw0, cntlid, "I/O connect: expected cntlid %u, got %u", cntlid,
		     (uint16_t)cpl.cdw0);
	return conn;
}

/*
 * Clock
 */

static uint64_t g_clock;

static uint64_t ct_ticks(void)
{
	return __atomic_load_n(&g_clock, __ATOMIC_SEQ_CST);
}

void ct_clock_start(uint64_t start)
{
	__atomic_store_n(&g_clock, start, __ATOMIC_SEQ_CST);
	nvmf_set_ticks_fn(ct_ticks);
}

void ct_clock_add_ms(uint64_t ms)
{
	__atomic_fetch_add(&g_clock, ms * spio_get_ticks_hz() / 1000, __ATOMIC_SEQ_CST);
}

void ct_clock_stop(void)
{
	nvmf_set_ticks_fn(NULL);
}
