/*
 * Fuzzer: the byte stream a host sends on one NVMe/TCP connection, into the
 * target's transport (PDU parser, request and R2T state machines, buffer
 * pool) and behind it the controller emulation (fabrics, admin commands,
 * I/O on a malloc namespace). Input format: nvmf_tcp_input.h.
 *
 * The target is set up once and polled on this OS thread, like one reactor.
 * Each input gets a new connection: a socketpair whose target end is handed
 * to the transport with nvmf_tcp_conn_new(), as the accept poller does with
 * an accepted socket (no TCP handshake, no ports used up). The host end
 * sends the input and reads what the target answers; those PDUs must be
 * valid NVMe/TCP (checked with the codec in the host role). After the close
 * the connection must be gone and the target as before: one connection
 * (the controller FZ_IO_CNTLID the fuzzer keeps for I/O queues), all pool
 * buffers back, no controller or queue pair left. Anything else aborts, so
 * libFuzzer saves the input.
 *
 * FUZZ_VERBOSE=1 in the environment turns the target's log on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include "spio/bdev.h"
#include "spio/bdev_malloc.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/nvmf.h"
#include "spio/thread.h"

#include "nvme/nvme_fabric.h"
#include "nvme/nvme_tcp_pdu.h"
#include "nvmf/nvmf_core.h"
#include "nvmf/tcp_internal.h"
#include "nvmf_tcp_input.h"
#include "shared_threads.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* How long the target may stay busy, or a connection take to go, before it counts as a hang. */
#define HANG_MS 5000
/* Idle polls in a row that make the target quiet. */
#define QUIET_POLLS 3

/* The host end of a connection. */
struct host {
	int fd;
	bool check;  /* parse what the target sends */
	bool closed; /* EOF or error from the target */
	uint8_t hpda;
	struct nvme_tcp_rx rx;
	uint32_t pdus;
	bool have_cpl;
	struct spio_nvme_cpl cpl; /* the last CapsuleResp */
};

static struct {
	struct spio_thread *tt; /* target thread */
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *subsys;
	struct nvmf_transport *tr;
	struct tcp_listener *listener;
	struct host admin; /* the controller the fuzzer keeps */
	struct tcp_conn *admin_conn;
	uint16_t admin_cid;
	bool admin_dropped; /* by FZ_KEPT_DROP: made anew after the input */
	bool ready;
	bool verbose; /* FUZZ_VERBOSE=1: the target's log, and each PDU it sends */
} g;

static uint8_t g_rx_buf[65536];

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_nvmf_tcp: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

/*
 * The host's view of the target's PDUs
 */

static int check_header(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
			struct iovec **iov, int *iovcnt, uint32_t *iov_offset)
{
	(void)ctx;
	(void)hdr;
	(void)data_len;
	/* Discard the data; the codec still checks its length and digest. */
	*iov = NULL;
	*iovcnt = 0;
	*iov_offset = 0;
	return 0;
}

static int check_pdu(void *ctx, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok)
{
	struct host *h = ctx;

	if (!ddgst_ok) {
		die("the target sent PDU type %u with a wrong data digest", hdr->common.pdu_type);
	}
	h->pdus++;
	if (g.verbose) {
		fprintf(stderr, "fuzz_nvmf_tcp: <- PDU type %u flags 0x%x plen %u",
			hdr->common.pdu_type, hdr->common.flags, hdr->common.plen);
		if (hdr->common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP) {
			fprintf(stderr, ": cid %u status %u/0x%x cdw0 0x%x",
				hdr->capsule_resp.rccqe.cid, hdr->capsule_resp.rccqe.status.sct,
				hdr->capsule_resp.rccqe.status.sc, hdr->capsule_resp.rccqe.cdw0);
		} else if (hdr->common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ) {
			fprintf(stderr, ": fes %u", hdr->term_req.fes);
		}
		fprintf(stderr, "\n");
	}
	switch (hdr->common.pdu_type) {
	case SPIO_NVME_TCP_PDU_TYPE_IC_RESP: {
		struct nvme_tcp_rx_params p = {
		    .hdgst = hdr->ic_resp.dgst.bits.hdgst_enable,
		    .ddgst = hdr->ic_resp.dgst.bits.ddgst_enable,
		    .pda = h->hpda,
		    .max_data_len = g.tr->opts.max_io_size,
		};

		nvme_tcp_rx_set_params(&h->rx, &p);
		break;
	}
	case SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
		h->cpl = hdr->capsule_resp.rccqe;
		h->have_cpl = true;
		break;
	default:
		break;
	}
	return 0;
}

static const struct nvme_tcp_rx_ops g_check_ops = {.on_header = check_header, .on_pdu = check_pdu};

static void host_init(struct host *h, int fd, bool check, uint8_t hpda)
{
	memset(h, 0, sizeof(*h));
	h->fd = fd;
	h->check = check;
	h->hpda = hpda;
	nvme_tcp_rx_init(&h->rx, NVME_TCP_ROLE_HOST);
}

/* Read what the target sent. \return bytes read. */
static size_t host_read(struct host *h)
{
	size_t total = 0;

	while (!h->closed) {
		ssize_t n = recv(h->fd, g_rx_buf, sizeof(g_rx_buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		}
		if (n <= 0) {
			h->closed = true;
			break;
		}
		total += (size_t)n;
		if (h->check &&
		    nvme_tcp_rx_feed(&h->rx, g_rx_buf, (size_t)n, &g_check_ops, h) < 0) {
			die("the target sent invalid NVMe/TCP after %u good PDUs: %s (fes %u)",
			    h->pdus, h->rx.err.reason, h->rx.err.fes);
		}
	}
	return total;
}

static bool settle_read(void *arg)
{
	struct host *h = arg;

	return h != NULL && h->check && host_read(h) > 0;
}

/* Poll until the target does nothing more and has nothing more to say. */
static void settle(struct host *h)
{
	if (!ft_pump_quiet(QUIET_POLLS, HANG_MS, settle_read, h)) {
		die("the target stayed busy for %u ms", HANG_MS);
	}
}

/* Send all of `buf` unless the target closes. \return false once it did. */
static bool host_send(struct host *h, const uint8_t *buf, size_t len)
{
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);

	while (len > 0) {
		ssize_t n = send(h->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			return false; /* EPIPE, ECONNRESET: the target closed */
		}
		/* The socket is full: the target has to read. */
		ft_pump();
		if (h->check) {
			host_read(h);
		}
		if (spio_get_ticks() > limit) {
			die("the target stopped reading for %u ms with %zu bytes left to send",
			    HANG_MS, len);
		}
	}
	return true;
}

/* A new connection into the transport, as if accepted on the listener. */
static struct tcp_conn *connect_host(struct host *h, bool check, uint8_t hpda)
{
	struct spio_thread *prev;
	struct tcp_conn *c;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
		die("socketpair: %s", strerror(errno));
	}
	host_init(h, sv[0], check, hpda);
	prev = spio_thread_enter(g.tt);
	c = nvmf_tcp_conn_new(g.listener, sv[1]);
	spio_thread_leave(prev);
	if (c == NULL) {
		die("nvmf_tcp_conn_new refused a connection");
	}
	return c;
}

/*
 * Target set-up
 */

struct op {
	int done;
	int status;
	struct spio_nvmf_tgt *tgt;
};

static void op_done(void *arg, int status)
{
	struct op *op = arg;

	op->status = status;
	op->done = 1;
}

static void tgt_created(void *arg, struct spio_nvmf_tgt *tgt, int status)
{
	struct op *op = arg;

	op->tgt = tgt;
	op_done(op, status);
}

static void ns_added(void *arg, uint32_t nsid, int status)
{
	(void)nsid;
	op_done(arg, status);
}

static void bdev_fini_done(void *arg)
{
	op_done(arg, 0);
}

static bool op_is_done(void *arg)
{
	return ((struct op *)arg)->done;
}

static void wait_op(struct op *op, const char *what)
{
	if (!ft_pump_until(op_is_done, op, 10 * HANG_MS)) {
		die("%s did not finish", what);
	}
	if (op->status != 0) {
		die("%s failed: %d", what, op->status);
	}
}

static uint16_t free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		die("no free port on 127.0.0.1: %s", strerror(errno));
	}
	close(fd);
	return ntohs(a.sin_port);
}

static void start_target(void)
{
	struct spio_nvmf_transport_opts to;
	struct spio_nvmf_tgt_opts go;
	struct spio_bdev_malloc_opts mo;
	struct spio_nvmf_ns_opts no;
	struct spio_nvme_transport_id trid;
	struct spio_bdev *bdev;
	struct op op = {0};
	int rc;

	spio_nvmf_tgt_opts_init(&go, sizeof(go));
	spio_cpuset_zero(&go.cpumask);
	spio_cpuset_set_cpu(&go.cpumask, spio_env_get_first_core(), true);
	rc = spio_nvmf_tgt_create(&go, tgt_created, &op);
	if (rc != 0) {
		die("spio_nvmf_tgt_create: %d", rc);
	}
	wait_op(&op, "target start");
	g.tgt = op.tgt;

	spio_nvmf_transport_opts_init("TCP", &to, sizeof(to));
	to.max_queue_depth = FZ_MAX_QUEUE_DEPTH;
	to.max_aq_depth = FZ_MAX_AQ_DEPTH;
	to.io_unit_size = FZ_IO_UNIT_SIZE;
	to.num_shared_buffers = FZ_NUM_SHARED_BUFFERS;
	rc = spio_nvmf_tgt_add_transport(g.tgt, "TCP", &to);
	if (rc != 0) {
		die("add_transport: %d", rc);
	}
	g.tr = (struct nvmf_transport *)spio_nvmf_tgt_get_transport(g.tgt, "TCP");

	spio_bdev_malloc_opts_init(&mo, sizeof(mo));
	mo.name = "Malloc0";
	mo.num_blocks = FZ_NS_BLOCKS;
	mo.block_size = FZ_NS_BLOCK_SIZE;
	rc = spio_bdev_malloc_create(&mo, &bdev, NULL, 0);
	if (rc != 0) {
		die("malloc bdev: %d", rc);
	}
	g.subsys = spio_nvmf_subsystem_create(g.tgt, FZ_SUBNQN, 0);
	if (g.subsys == NULL || spio_nvmf_subsystem_set_sn(g.subsys, FZ_SERIAL) != 0) {
		die("subsystem %s: errno %d", FZ_SUBNQN, errno);
	}
	spio_nvmf_subsystem_set_allow_any_host(g.subsys, true);
	spio_nvmf_ns_opts_init(&no, sizeof(no));
	memset(&op, 0, sizeof(op));
	rc = spio_nvmf_subsystem_add_ns(g.subsys, "Malloc0", &no, ns_added, &op);
	if (rc != 0) {
		die("add_ns: %d", rc);
	}
	wait_op(&op, "add_ns");

	/* Connect checks that the subsystem listens where the queue came in. */
	memset(&trid, 0, sizeof(trid));
	spio_nvme_transport_id_populate_trstring(&trid, SPIO_NVME_TRANSPORT_TCP);
	trid.adrfam = SPIO_NVMF_ADRFAM_IPV4;
	snprintf(trid.traddr, sizeof(trid.traddr), "127.0.0.1");
	snprintf(trid.trsvcid, sizeof(trid.trsvcid), "%u", free_port());
	rc = spio_nvmf_subsystem_add_listener(g.subsys, &trid);
	if (rc != 0) {
		die("add_listener: %d", rc);
	}
	g.listener = TAILQ_FIRST(&tcp_transport(g.tr)->listeners);
}

/* Send one capsule on the kept admin queue and wait for its response. */
static struct spio_nvme_cpl admin_cmd(struct spio_nvme_cmd *cmd, void *data, uint32_t len)
{
	struct nvme_tcp_tx_params tx = {0};
	struct iovec iov = {.iov_base = data, .iov_len = len};
	struct iovec out[8];
	struct nvme_tcp_tx_pdu pdu;
	struct spio_nvme_sgl_descriptor *sgl = &cmd->dptr.sgl1;
	int n;

	cmd->cid = ++g.admin_cid;
	cmd->psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	memset(sgl, 0, sizeof(*sgl));
	sgl->unkeyed.length = len;
	sgl->unkeyed.type = SPIO_NVME_SGL_TYPE_DATA_BLOCK;
	sgl->unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_OFFSET;
	nvme_tcp_tx_pdu_init(&pdu, SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD);
	pdu.hdr.capsule_cmd.ccsqe = *cmd;
	if (nvme_tcp_tx_pdu_seal(&pdu, &tx, len ? &iov : NULL, len ? 1 : 0, 0, len) != 0) {
		die("cannot build an admin capsule");
	}
	n = nvme_tcp_tx_pdu_iov(&pdu, out, SPIO_COUNTOF(out));
	g.admin.have_cpl = false;
	for (int i = 0; i < n; i++) {
		if (!host_send(&g.admin, out[i].iov_base, out[i].iov_len)) {
			die("the target closed the fuzzer's admin queue");
		}
	}
	settle(&g.admin);
	if (!g.admin.have_cpl || g.admin.cpl.cid != cmd->cid) {
		die("no response to admin command opcode 0x%x", cmd->opc);
	}
	return g.admin.cpl;
}

static void kept_enable(void)
{
	union spio_nvme_cc_register cc = {.raw = 0};
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;

	cc.bits.en = 1;
	cc.bits.iosqes = 6;
	cc.bits.iocqes = 4;
	nvme_fabric_prop_set_build(&cmd, SPIO_NVME_REG_CC, 4, cc.raw);
	cpl = admin_cmd(&cmd, NULL, 0);
	if (spio_nvme_cpl_is_error(&cpl)) {
		die("CC.EN: status %u/0x%x", cpl.status.sct, cpl.status.sc);
	}
}

/* FZ_KEPT_RESET: CC.EN 0, wait for CSTS.RDY 0 (its I/O queues closed), CC.EN 1. */
static void kept_reset(void)
{
	uint64_t limit = spio_get_ticks() + ft_ms_to_ticks(HANG_MS);
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;

	nvme_fabric_prop_set_build(&cmd, SPIO_NVME_REG_CC, 4, 0);
	cpl = admin_cmd(&cmd, NULL, 0);
	if (spio_nvme_cpl_is_error(&cpl)) {
		die("reset (CC.EN 0): status %u/0x%x", cpl.status.sct, cpl.status.sc);
	}
	do {
		if (spio_get_ticks() > limit) {
			die("CSTS.RDY still 1 %u ms after a reset", HANG_MS);
		}
		nvme_fabric_prop_get_build(&cmd, SPIO_NVME_REG_CSTS, 4);
		cpl = admin_cmd(&cmd, NULL, 0);
	} while (!spio_nvme_cpl_is_error(&cpl) && (cpl.cdw0 & 1) != 0);
	if (spio_nvme_cpl_is_error(&cpl)) {
		die("CSTS after a reset: status %u/0x%x", cpl.status.sct, cpl.status.sc);
	}
	kept_enable();
}

/* The controller that inputs connect I/O queues to: Connect, then CC.EN. */
static void start_admin(void)
{
	static const uint8_t hostid[16] = FZ_HOSTID;
	struct spio_nvmf_fabric_connect_data data;
	struct nvme_tcp_tx_pdu ic;
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;
	struct iovec out[2];
	int n;

	/* Its ID is the subsystem's first: a new one starts the round of IDs again. */
	g.subsys->next_cntlid = FZ_IO_CNTLID;
	g.admin_cid = 0;
	g.admin_conn = connect_host(&g.admin, true, 0);
	nvme_tcp_ic_req_build(&ic, 0, false, false, 0);
	n = nvme_tcp_tx_pdu_iov(&ic, out, SPIO_COUNTOF(out));
	for (int i = 0; i < n; i++) {
		host_send(&g.admin, out[i].iov_base, out[i].iov_len);
	}
	settle(&g.admin);

	nvme_fabric_connect_cmd_build(&cmd, 0, FZ_MAX_AQ_DEPTH - 1, 0, 0);
	nvme_fabric_connect_data_build(&data, hostid, SPIO_NVMF_CNTLID_DYNAMIC, FZ_SUBNQN,
				       FZ_HOSTNQN);
	cpl = admin_cmd(&cmd, &data, sizeof(data));
	if (spio_nvme_cpl_is_error(&cpl) || (uint16_t)cpl.cdw0 != FZ_IO_CNTLID) {
		die("admin connect: status %u/0x%x, cntlid %u (expected %u)", cpl.status.sct,
		    cpl.status.sc, (uint16_t)cpl.cdw0, FZ_IO_CNTLID);
	}
	kept_enable();
}

static void stop_target(void)
{
	struct op op = {0};

	close(g.admin.fd);
	spio_set_thread(g.tt);
	if (spio_nvmf_tgt_destroy(g.tgt, op_done, &op) != 0) {
		die("spio_nvmf_tgt_destroy refused");
	}
	wait_op(&op, "target destroy");
	memset(&op, 0, sizeof(op));
	if (spio_bdev_finish(bdev_fini_done, &op) != 0) {
		die("spio_bdev_finish refused");
	}
	wait_op(&op, "bdev finish");
	spio_set_thread(NULL);
	if (!ft_threads_stop(10 * HANG_MS)) {
		die("threads did not exit");
	}
	spio_thread_lib_fini();
	spio_env_fini();
}

static void fini(void)
{
	if (g.ready) {
		g.ready = false;
		stop_target();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct spio_env_opts eo;
	struct op op = {0};
	const char *verbose = getenv("FUZZ_VERBOSE");

	(void)argc;
	(void)argv;
	if (g.ready) {
		return 0;
	}
	g.verbose = verbose != NULL && verbose[0] == '1';
	spio_log_set_level(g.verbose ? SPIO_LOG_INFO : SPIO_LOG_DISABLED);
	spio_env_opts_init(&eo, sizeof(eo));
	eo.name = "fuzz_nvmf_tcp";
	eo.no_huge = true;
	if (spio_env_init(&eo) != 0 || spio_thread_lib_init(ft_thread_add, 0) != 0) {
		die("environment set-up failed");
	}
	g.tt = spio_thread_create("fuzz_nvmf_tgt", NULL);
	if (g.tt == NULL) {
		die("no target thread");
	}
	spio_set_thread(g.tt);
	if (spio_bdev_initialize(NULL, op_done, &op) != 0) {
		die("spio_bdev_initialize refused");
	}
	wait_op(&op, "bdev init");
	start_target();
	spio_set_thread(NULL);
	start_admin();
	g.ready = true;
	atexit(fini);
	return 0;
}

/*
 * One input
 */

static uint32_t ctrlr_count(struct spio_nvmf_subsystem *s)
{
	struct spio_thread *prev = spio_thread_enter(g.tt);
	uint32_t n = spio_nvmf_subsystem_get_ctrlrs(s, NULL, 0);

	spio_thread_leave(prev);
	return n;
}

/* The target is back where it was before the input, once the connection went. */
static bool target_restored(void)
{
	uint32_t kept = g.admin_dropped ? 0 : 1;

	return nvmf_tcp_get_conn_count(g.tr) == kept && ctrlr_count(g.subsys) == kept &&
	       ctrlr_count(g.tgt->discovery) == 0;
}

static void check_target(void)
{
	struct tcp_group *tg = g.admin_conn->tg;
	struct nvmf_poll_group *pg = g.tgt->groups[0];
	struct nvmf_ctrlr *ctrlr = g.admin_conn->qpair.ctrlr;

	if (tg->nfree != FZ_NUM_SHARED_BUFFERS || !TAILQ_EMPTY(&tg->buf_waiters)) {
		die("%u of %u pool buffers back after the connection closed", tg->nfree,
		    FZ_NUM_SHARED_BUFFERS);
	}
	if (TAILQ_FIRST(&tg->conns) != g.admin_conn || TAILQ_NEXT(g.admin_conn, link) != NULL ||
	    tg->npreconnect != 0) {
		die("the poll group still lists connections that are gone");
	}
	if (atomic_load(&tcp_transport(g.tr)->preconnect) != 0 ||
	    atomic_load(&g.listener->nconns) != 1) {
		die("connection counters not back: preconnect %u, listener %u",
		    atomic_load(&tcp_transport(g.tr)->preconnect),
		    atomic_load(&g.listener->nconns));
	}
	if (pg->stat.current_admin_qpairs != 1 || pg->stat.current_io_qpairs != 0 ||
	    pg->stat.current_unassociated_qpairs != 0) {
		die("queue pair counters not back: admin %u io %u unassociated %u",
		    pg->stat.current_admin_qpairs, pg->stat.current_io_qpairs,
		    pg->stat.current_unassociated_qpairs);
	}
	if (g.admin_conn->state != TCP_CONN_RUNNING || ctrlr == NULL || ctrlr->num_io_qpairs != 0 ||
	    !TAILQ_EMPTY(&ctrlr->io_qpairs) || !ctrlr->cc.bits.en) {
		die("the fuzzer's controller %u was changed by another connection", FZ_IO_CNTLID);
	}
}

static bool target_restored_cb(void *arg)
{
	(void)arg;
	return target_restored();
}

static void end_host(struct host *h, const struct fz_input *in)
{
	if (in->end == FZ_END_SHUT_WR) {
		shutdown(h->fd, SHUT_WR);
	}
	if (in->end != FZ_END_CLOSE) {
		settle(h);
	}
	close(h->fd);
	if (!ft_pump_until(target_restored_cb, NULL, HANG_MS)) {
		die("%u ms after the close: %u connections, %u controllers (expected %u "
		    "each), %u discovery controllers",
		    HANG_MS, nvmf_tcp_get_conn_count(g.tr), ctrlr_count(g.subsys),
		    g.admin_dropped ? 0 : 1, ctrlr_count(g.tgt->discovery));
	}
	if (g.admin_dropped) {
		g.admin_dropped = false;
		start_admin();
	}
	settle(&g.admin);
	if (g.admin.closed) {
		die("the target closed the fuzzer's admin queue");
	}
	check_target();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_input in;
	struct host h;
	size_t off = 0;
	uint8_t hpda = 0;

	if (!g.ready) {
		LLVMFuzzerInitialize(NULL, NULL);
	}
	fz_input_parse(data, size, &in);
	if (g.verbose) {
		fprintf(stderr, "fuzz_nvmf_tcp: input of %zu bytes: %u chunks, end %d\n", size,
			in.nchunks, in.end);
	}
	/* The host's own PDU alignment, which the target's PDUs must follow. */
	if (in.len >= NVME_TCP_IC_HLEN && in.stream[0] == SPIO_NVME_TCP_PDU_TYPE_IC_REQ &&
	    in.stream[10] <= SPIO_NVME_TCP_HPDA_MAX) {
		hpda = in.stream[10];
	}
	connect_host(&h, in.end != FZ_END_NO_READ, hpda);
	settle(&h);
	for (uint32_t i = 0; i < in.nchunks && off < in.len; i++) {
		size_t n = SPIO_MIN((size_t)in.chunk[i], in.len - off);

		if (!host_send(&h, in.stream + off, n)) {
			off = in.len;
			break;
		}
		off += n;
		settle(&h);
	}
	if (off < in.len) {
		host_send(&h, in.stream + off, in.len - off);
	}
	if (in.kept != 0) {
		ft_pump();
	}
	if (in.kept & FZ_KEPT_RESET) {
		kept_reset();
	}
	if (in.kept & FZ_KEPT_DROP) {
		close(g.admin.fd);
		g.admin_dropped = true;
	}
	end_host(&h, &in);
	return 0;
}

/*
 * Mutations: libFuzzer's (or the replay program's) on the whole input, or a
 * PDU header field changed; then, most of the time, the digests made right
 * again so the change gets past the digest checks.
 */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	uint64_t rnd = (uint64_t)seed * 0x9e3779b97f4a7c15ull;
	struct fz_input in;

	rnd ^= rnd >> 29;
	fz_input_parse(data, size, &in);
	if (rnd % 3 == 0 && in.len > 0) {
		fz_stream_tweak_header((uint8_t *)(uintptr_t)in.stream, in.len, rnd >> 2);
	} else {
		size = LLVMFuzzerMutate(data, size, max_size);
		fz_input_parse(data, size, &in);
	}
	if ((rnd >> 40) % 4 != 0) {
		fz_stream_fix_digests((uint8_t *)(uintptr_t)in.stream, in.len);
	}
	return size;
}
