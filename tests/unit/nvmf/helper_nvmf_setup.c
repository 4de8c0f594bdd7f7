/*
 * Test helper: the NVMe-oF target set-up (see helper_nvmf_setup.h).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spio/bdev.h"
#include "spio/bdev_malloc.h"
#include "spio/env.h"

#include "helper_nvmf_setup.h"

#define NSU_MAX_PG 8
#define NSU_MAX_BDEVS 8

struct nsu g_nsu;

static nsu_poll_fn g_poll;
static uint64_t g_wait_ms;
static char g_bdevs[NSU_MAX_BDEVS][16];
static uint32_t g_nbdevs;

/* The target's poll group threads: the test may poll them on another OS thread. */
static pthread_mutex_t g_pg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spio_thread *g_pg[NSU_MAX_PG];
static uint32_t g_npg;

/* One asynchronous call's result. */
struct op {
	int done;
	int status;
	uint32_t nsid;
	struct spio_nvmf_tgt *tgt;
};

static void tgt_created(void *arg, struct spio_nvmf_tgt *tgt, int status)
{
	struct op *op = arg;

	op->tgt = tgt;
	op->status = status;
	op->done = 1;
}

static void status_done(void *arg, int status)
{
	struct op *op = arg;

	op->status = status;
	op->done = 1;
}

static void ns_added(void *arg, uint32_t nsid, int status)
{
	struct op *op = arg;

	op->nsid = nsid;
	op->status = status;
	op->done = 1;
}

static void bdev_fini_done(void *arg)
{
	status_done(arg, 0);
}

/* Thread library hook: keep the target's poll group threads, let the others be. */
static int new_thread(struct spio_thread *thread)
{
	int rc = 0;

	if (strncmp(spio_thread_get_name(thread), "nvmf_tgt_poll_group", 19) != 0) {
		return 0;
	}
	pthread_mutex_lock(&g_pg_lock);
	if (g_npg == NSU_MAX_PG) {
		rc = -ENOSPC;
	} else {
		g_pg[g_npg++] = thread;
	}
	pthread_mutex_unlock(&g_pg_lock);
	return rc;
}

bool nsu_poll_groups(void)
{
	bool busy = false;

	pthread_mutex_lock(&g_pg_lock);
	for (uint32_t i = 0; i < g_npg; i++) {
		if (!spio_thread_is_exited(g_pg[i])) {
			busy |= spio_thread_poll(g_pg[i], 0, 0) > 0;
		}
	}
	pthread_mutex_unlock(&g_pg_lock);
	return busy;
}

uint32_t nsu_poll_group_threads(struct spio_thread **out, uint32_t max)
{
	uint32_t n;

	pthread_mutex_lock(&g_pg_lock);
	n = SPIO_MIN(g_npg, max);
	memcpy(out, g_pg, n * sizeof(*out));
	pthread_mutex_unlock(&g_pg_lock);
	return n;
}

static bool pgs_exited(void *arg)
{
	bool all = true;

	(void)arg;
	pthread_mutex_lock(&g_pg_lock);
	for (uint32_t i = 0; i < g_npg; i++) {
		all &= spio_thread_is_exited(g_pg[i]);
	}
	pthread_mutex_unlock(&g_pg_lock);
	return all;
}

bool nsu_poll_until(bool (*cond)(void *), void *arg, uint64_t ms)
{
	uint64_t limit = spio_get_ticks() + ms * spio_get_ticks_hz() / 1000;

	while (!cond(arg)) {
		if (spio_get_ticks() > limit) {
			return false;
		}
		g_poll();
	}
	return true;
}

bool nsu_flag_set(void *flag)
{
	return *(volatile int *)flag != 0;
}

void nsu_pump(void *arg)
{
	(void)arg;
	g_poll();
}

void nsu_init(const char *name, nsu_poll_fn poll, uint64_t wait_ms)
{
	struct spio_env_opts eo;
	struct op op = {0};
	char tname[64];
	struct spio_thread *prev;
	int rc;

	memset(&g_nsu, 0, sizeof(g_nsu));
	g_poll = poll;
	g_wait_ms = wait_ms;
	g_nbdevs = 0;
	g_npg = 0;
	spio_env_opts_init(&eo, sizeof(eo));
	eo.name = name;
	eo.no_huge = true;
	cr_assert_eq(spio_env_init(&eo), 0);
	cr_assert_eq(spio_thread_lib_init(new_thread, 0), 0);
	snprintf(tname, sizeof(tname), "%s_tgt", name);
	g_nsu.tt = spio_thread_create(tname, NULL);
	snprintf(tname, sizeof(tname), "%s_host", name);
	g_nsu.ht = spio_thread_create(tname, NULL);
	cr_assert(g_nsu.tt != NULL && g_nsu.ht != NULL);
	prev = spio_thread_enter(g_nsu.tt);
	rc = spio_bdev_initialize(NULL, status_done, &op);
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "spio_bdev_initialize: %d", rc);
	cr_assert(nsu_poll_until(nsu_flag_set, &op.done, g_wait_ms) && op.status == 0,
		  "bdev init: %d", op.status);
}

static bool both_exited(void *arg)
{
	(void)arg;
	return spio_thread_is_exited(g_nsu.tt) && spio_thread_is_exited(g_nsu.ht);
}

void nsu_fini(void)
{
	struct op op = {0};
	struct spio_thread *prev;

	nsu_tgt_stop();
	prev = spio_thread_enter(g_nsu.tt);
	cr_assert_eq(spio_bdev_finish(bdev_fini_done, &op), 0);
	spio_thread_leave(prev);
	cr_assert(nsu_poll_until(nsu_flag_set, &op.done, g_wait_ms),
		  "bdev finish did not complete");
	/* A thread starts its exit on itself. */
	spio_set_thread(g_nsu.tt);
	spio_thread_exit(g_nsu.tt);
	spio_set_thread(g_nsu.ht);
	spio_thread_exit(g_nsu.ht);
	spio_set_thread(NULL);
	cr_assert(nsu_poll_until(both_exited, NULL, g_wait_ms), "threads did not exit");
	spio_thread_destroy(g_nsu.tt);
	spio_thread_destroy(g_nsu.ht);
	spio_thread_lib_fini();
	spio_env_fini();
	memset(&g_nsu, 0, sizeof(g_nsu));
}

uint16_t nsu_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

void nsu_trid(struct spio_nvme_transport_id *trid, const char *addr, uint16_t port)
{
	memset(trid, 0, sizeof(*trid));
	spio_nvme_transport_id_populate_trstring(trid, SPIO_NVME_TRANSPORT_TCP);
	trid->adrfam = strchr(addr, ':') != NULL ? SPIO_NVMF_ADRFAM_IPV6 : SPIO_NVMF_ADRFAM_IPV4;
	snprintf(trid->traddr, sizeof(trid->traddr), "%s", addr);
	snprintf(trid->trsvcid, sizeof(trid->trsvcid), "%u", port);
}

void nsu_tgt_start(const struct spio_nvmf_transport_opts *topts, uint32_t max_conns)
{
	struct spio_nvmf_tgt_opts to;
	struct op op = {0};
	struct spio_thread *prev;
	int rc;

	spio_nvmf_tgt_opts_init(&to, sizeof(to));
	spio_cpuset_zero(&to.cpumask);
	spio_cpuset_set_cpu(&to.cpumask, 0, true);
	if (spio_env_get_core_count() > 1) {
		spio_cpuset_set_cpu(&to.cpumask, 1, true);
	}
	if (max_conns != 0) {
		to.max_connections_per_listener = max_conns;
	}
	prev = spio_thread_enter(g_nsu.tt);
	rc = spio_nvmf_tgt_create(&to, tgt_created, &op);
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "spio_nvmf_tgt_create: %d", rc);
	cr_assert(nsu_poll_until(nsu_flag_set, &op.done, g_wait_ms) && op.status == 0,
		  "target start: %d", op.status);
	g_nsu.tgt = op.tgt;
	prev = spio_thread_enter(g_nsu.tt);
	rc = spio_nvmf_tgt_add_transport(g_nsu.tgt, "TCP", topts);
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "add_transport: %d", rc);
	g_nsu.port = nsu_free_port();
	nsu_trid(&g_nsu.trid, "127.0.0.1", g_nsu.port);
}

void nsu_tgt_stop(void)
{
	struct op op = {0};
	struct spio_thread *prev;

	if (g_nsu.tgt == NULL) {
		return;
	}
	prev = spio_thread_enter(g_nsu.tt);
	cr_assert_eq(spio_nvmf_tgt_destroy(g_nsu.tgt, status_done, &op), 0);
	spio_thread_leave(prev);
	cr_assert(nsu_poll_until(nsu_flag_set, &op.done, g_wait_ms),
		  "target destroy did not finish");
	g_nsu.tgt = NULL;
	cr_assert(nsu_poll_until(pgs_exited, NULL, g_wait_ms), "poll group threads did not exit");
	pthread_mutex_lock(&g_pg_lock);
	for (uint32_t i = 0; i < g_npg; i++) {
		spio_thread_destroy(g_pg[i]);
	}
	g_npg = 0;
	pthread_mutex_unlock(&g_pg_lock);
	for (uint32_t i = 0; i < g_nbdevs; i++) {
		memset(&op, 0, sizeof(op));
		prev = spio_thread_enter(g_nsu.tt);
		cr_assert_eq(spio_bdev_malloc_delete(g_bdevs[i], status_done, &op), 0);
		spio_thread_leave(prev);
		cr_assert(nsu_poll_until(nsu_flag_set, &op.done, g_wait_ms),
			  "delete of bdev %s did not finish", g_bdevs[i]);
	}
	g_nbdevs = 0;
}

void nsu_malloc(const char *name, uint64_t blocks, uint32_t block_size,
		const struct spio_uuid *uuid)
{
	struct spio_bdev_malloc_opts mo;
	struct spio_bdev *bdev;
	struct spio_thread *prev;
	char err[256] = "";
	int rc;

	cr_assert_lt(g_nbdevs, NSU_MAX_BDEVS, "more than %d malloc bdevs", NSU_MAX_BDEVS);
	spio_bdev_malloc_opts_init(&mo, sizeof(mo));
	mo.name = name;
	mo.num_blocks = blocks;
	mo.block_size = block_size;
	if (uuid != NULL) {
		mo.uuid = *uuid;
	}
	prev = spio_thread_enter(g_nsu.tt);
	rc = spio_bdev_malloc_create(&mo, &bdev, err, sizeof(err));
	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "malloc bdev %s: %d %s", name, rc, err);
	snprintf(g_bdevs[g_nbdevs++], sizeof(g_bdevs[0]), "%s", name);
}

void nsu_listen(struct spio_nvmf_subsystem *s)
{
	struct spio_thread *prev = spio_thread_enter(g_nsu.tt);
	int rc = spio_nvmf_subsystem_add_listener(s, &g_nsu.trid);

	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "add_listener: %d", rc);
}

struct spio_nvmf_subsystem *nsu_subsys(const char *nqn, uint32_t max_ns, bool any_host, bool listen)
{
	struct spio_thread *prev = spio_thread_enter(g_nsu.tt);
	struct spio_nvmf_subsystem *s = spio_nvmf_subsystem_create(g_nsu.tgt, nqn, max_ns);

	if (s != NULL) {
		spio_nvmf_subsystem_set_allow_any_host(s, any_host);
	}
	spio_thread_leave(prev);
	cr_assert_not_null(s, "subsystem %s: errno %d", nqn, errno);
	if (listen) {
		nsu_listen(s);
	}
	return s;
}

uint32_t nsu_add_ns(struct spio_nvmf_subsystem *s, const char *bdev,
		    const struct spio_nvmf_ns_opts *opts)
{
	struct op op = {0};
	struct spio_thread *prev = spio_thread_enter(g_nsu.tt);
	int rc = spio_nvmf_subsystem_add_ns(s, bdev, opts, ns_added, &op);

	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "add_ns %s: %d", bdev, rc);
	cr_assert(nsu_poll_until(nsu_flag_set, &op.done, g_wait_ms), "add_ns %s did not finish",
		  bdev);
	cr_assert_eq(op.status, 0, "add_ns %s: %d", bdev, op.status);
	return op.nsid;
}

void nsu_remove_ns(struct spio_nvmf_subsystem *s, uint32_t nsid)
{
	struct op op = {0};
	struct spio_thread *prev = spio_thread_enter(g_nsu.tt);
	int rc = spio_nvmf_subsystem_remove_ns(s, nsid, status_done, &op);

	spio_thread_leave(prev);
	cr_assert_eq(rc, 0, "remove_ns %u: %d", nsid, rc);
	cr_assert(nsu_poll_until(nsu_flag_set, &op.done, g_wait_ms), "remove_ns %u did not finish",
		  nsid);
	cr_assert_eq(op.status, 0, "remove_ns %u: %d", nsid, op.status);
}

void nsu_ctrlr_connected(void *arg, struct spio_nvme_ctrlr *ctrlr, int status)
{
	struct nsu_connect *r = arg;

	r->ctrlr = ctrlr;
	r->status = status;
	r->done = 1;
}

void nsu_qpair_connected(void *arg, struct spio_nvme_qpair *qpair, int status)
{
	struct nsu_connect *r = arg;

	(void)qpair;
	r->status = status;
	r->done = 1;
}

void nsu_set_flag(void *flag)
{
	*(int *)flag = 1;
}

void nsu_io_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct nsu_io *io = arg;

	io->cpl = *cpl;
	io->done++;
}
