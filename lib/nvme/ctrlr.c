/*
 * Controllers: connect, detach and reset (each a task on the admin
 * thread), the admin poller, keep-alive, and the accessors.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/log.h"
#include "spio/task.h"
#include "spio/util.h"

#include "nvme/nvme_internal.h"

/* How often an idle admin queue is looked at (asynchronous events, keep-alive answers). */
#define ADMIN_IDLE_POLL_US 10000

/* Longest wait for a normal shutdown (CSTS.SHST complete) at detach. */
#define SHUTDOWN_WAIT_MS 2000

static uint8_t g_host_id[16];
static pthread_once_t g_host_id_once = PTHREAD_ONCE_INIT;

static void host_id_init(void)
{
	struct spio_uuid uuid;

	spio_uuid_generate(&uuid);
	memcpy(g_host_id, &uuid, sizeof(g_host_id));
}

void spio_nvme_ctrlr_get_default_opts(struct spio_nvme_ctrlr_opts *opts, size_t opts_size)
{
	struct spio_nvme_ctrlr_opts d = {
	    .opts_size = opts_size,
	    .num_io_queues = 1024,
	    .io_queue_size = 128,
	    .admin_queue_size = 32,
	    .keep_alive_timeout_ms = 10000,
	    .connect_timeout_ms = 10000,
	    .admin_timeout_ms = 30000,
	    .io_timeout_ms = 0,
	};

	if (opts == NULL || opts_size == 0) {
		return;
	}
	pthread_once(&g_host_id_once, host_id_init);
	memcpy(d.extended_host_id, g_host_id, sizeof(d.extended_host_id));
	memcpy(opts, &d, SPIO_MIN(opts_size, sizeof(d)));
}

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

static int resolve_opts(struct spio_nvme_ctrlr *ctrlr, const struct spio_nvme_ctrlr_opts *user)
{
	struct spio_nvme_ctrlr_opts *o = &ctrlr->opts;
	char uuid[40];

	spio_nvme_ctrlr_get_default_opts(o, sizeof(*o));
	if (user != NULL) {
		if (user->opts_size == 0 || user->opts_size > sizeof(*o)) {
			return -EINVAL;
		}
		memcpy(o, user, user->opts_size);
		o->opts_size = sizeof(*o);
	}
	if (o->admin_queue_size < 2 || o->admin_queue_size > 4096 || o->io_queue_size < 2 ||
	    o->io_queue_size > SPIO_NVME_QUEUE_MAX_ENTRIES || o->num_io_queues == 0) {
		return -EINVAL;
	}
	if (is_zero(o->extended_host_id, sizeof(o->extended_host_id))) {
		pthread_once(&g_host_id_once, host_id_init);
		memcpy(o->extended_host_id, g_host_id, sizeof(g_host_id));
	}
	/* The trid's hostnqn (SPDK tools take it there) wins over the options'. */
	if (ctrlr->trid.hostnqn[0] != '\0') {
		memcpy(o->hostnqn, ctrlr->trid.hostnqn, sizeof(o->hostnqn));
	} else if (o->hostnqn[0] == '\0') {
		spio_uuid_fmt_lower(uuid, sizeof(uuid), (const void *)o->extended_host_id);
		snprintf(o->hostnqn, sizeof(o->hostnqn), "nqn.2014-08.org.nvmexpress:uuid:%s",
			 uuid);
	}
	o->hostnqn[sizeof(o->hostnqn) - 1] = '\0';
	return 0;
}

void nvme_ctrlr_set_failed(struct spio_nvme_ctrlr *ctrlr, const char *why)
{
	if (ctrlr->state == NVME_CTRLR_READY) {
		SPIO_ERRLOG("nvme %s %s: controller failed: %s\n", ctrlr->trid.traddr,
			    ctrlr->trid.subnqn, why);
		ctrlr->state = NVME_CTRLR_FAILED;
	}
	atomic_store(&ctrlr->failed, true);
}

/*
 * Two pollers drive the admin queue. A slow timed one always runs and
 * carries the socket as its interrupt fd (so asynchronous events wake a
 * sleeping thread and are seen within ADMIN_IDLE_POLL_US). A fast active
 * one runs only while the queue has work beyond the asynchronous event
 * requests that always wait there (connect, enable, identify, admin
 * commands): a busy I/O thread that shares the admin thread pays no
 * socket read per iteration for an idle admin queue.
 */
static void watch_admin_fd(struct spio_nvme_ctrlr *ctrlr)
{
	int fd = ctrlr->ops->qpair_get_fd(ctrlr->adminq);

	if (fd != ctrlr->admin_fd_watched && ctrlr->admin_idle_poller != NULL) {
		if (spio_poller_set_interrupt_fd(ctrlr->admin_idle_poller, fd) == 0) {
			ctrlr->admin_fd_watched = fd;
		}
	}
}

void nvme_ctrlr_admin_unwatch(struct spio_nvme_ctrlr *ctrlr)
{
	if (ctrlr->admin_fd_watched >= 0 && ctrlr->admin_idle_poller != NULL) {
		spio_poller_set_interrupt_fd(ctrlr->admin_idle_poller, -1);
	}
	ctrlr->admin_fd_watched = -1;
}

void nvme_ctrlr_admin_kick(struct spio_nvme_ctrlr *ctrlr)
{
	if (!ctrlr->admin_fast && ctrlr->admin_poller != NULL) {
		ctrlr->admin_fast = true;
		spio_poller_resume(ctrlr->admin_poller);
	}
}

static bool admin_quiet(const struct spio_nvme_ctrlr *ctrlr)
{
	const struct spio_nvme_qpair *q = ctrlr->adminq;

	return q->state != NVME_QPAIR_CONNECTING && q->num_outstanding <= ctrlr->num_aers;
}

int32_t spio_nvme_ctrlr_process_admin_completions(struct spio_nvme_ctrlr *ctrlr)
{
	int32_t rc;

	if (ctrlr == NULL || spio_get_thread() != ctrlr->thread) {
		return -EINVAL;
	}
	rc = nvme_qpair_process(ctrlr->adminq, 0);
	watch_admin_fd(ctrlr);
	if (rc == -ENXIO && ctrlr->state == NVME_CTRLR_READY) {
		nvme_ctrlr_set_failed(ctrlr, "admin queue connection lost");
	}
	if (ctrlr->admin_fast && admin_quiet(ctrlr)) {
		ctrlr->admin_fast = false;
		spio_poller_pause(ctrlr->admin_poller);
	}
	return rc;
}

static int admin_poll(void *arg)
{
	struct spio_nvme_ctrlr *ctrlr = arg;

	if (ctrlr->adminq->state == NVME_QPAIR_DISCONNECTED) {
		return SPIO_POLLER_IDLE;
	}
	return spio_nvme_ctrlr_process_admin_completions(ctrlr) > 0 ? SPIO_POLLER_BUSY
								    : SPIO_POLLER_IDLE;
}

static void keep_alive_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct spio_nvme_ctrlr *ctrlr = arg;

	ctrlr->keep_alive_outstanding = false;
	if (spio_nvme_cpl_is_error(cpl) && !(cpl->status.sct == SPIO_NVME_SCT_GENERIC &&
					     cpl->status.sc == SPIO_NVME_SC_ABORTED_SQ_DELETION)) {
		SPIO_ERRLOG("nvme %s: keep alive failed: sct %u sc 0x%02x\n", ctrlr->trid.traddr,
			    cpl->status.sct, cpl->status.sc);
	}
}

static int keep_alive_poll(void *arg)
{
	struct spio_nvme_ctrlr *ctrlr = arg;
	struct spio_nvme_cmd cmd = {.opc = SPIO_NVME_OPC_KEEP_ALIVE};

	if (ctrlr->state != NVME_CTRLR_READY || ctrlr->keep_alive_outstanding) {
		return SPIO_POLLER_IDLE;
	}
	if (nvme_qpair_submit_cmd(ctrlr->adminq, &cmd, NULL, 0, NULL, 0, keep_alive_done, ctrlr) ==
	    0) {
		ctrlr->keep_alive_outstanding = true;
	}
	return SPIO_POLLER_BUSY;
}

static void start_keep_alive(struct spio_nvme_ctrlr *ctrlr)
{
	uint32_t kato = ctrlr->opts.keep_alive_timeout_ms;

	if (kato == 0 || ctrlr->keep_alive_poller != NULL || !ctrlr->ops->fabrics) {
		return;
	}
	/* Twice per timeout, as hosts commonly do, so one late command is no loss. */
	ctrlr->keep_alive_poller = spio_poller_register_named(
	    keep_alive_poll, ctrlr, (uint64_t)kato * 1000 / 2, "nvme_keep_alive");
}

void nvme_ctrlr_free(struct spio_nvme_ctrlr *ctrlr)
{
	spio_poller_unregister(&ctrlr->keep_alive_poller);
	spio_poller_unregister(&ctrlr->admin_poller);
	spio_poller_unregister(&ctrlr->admin_idle_poller);
	/* The device lets go of the admin rings before they are freed. */
	if (ctrlr->ops->ctrlr_destruct != NULL) {
		ctrlr->ops->ctrlr_destruct(ctrlr);
	}
	if (ctrlr->adminq != NULL) {
		nvme_qpair_free(ctrlr->adminq);
	}
	nvme_ctrlr_free_namespaces(ctrlr);
	pthread_mutex_destroy(&ctrlr->qid_lock);
	free(ctrlr->qid_bits);
	free(ctrlr);
}

struct connect_ctx {
	struct spio_nvme_ctrlr *ctrlr;
	spio_nvme_connect_cb cb;
	void *cb_arg;
};

static int connect_task(void *arg)
{
	struct connect_ctx *cc = arg;
	struct spio_nvme_ctrlr *ctrlr = cc->ctrlr;
	spio_nvme_connect_cb cb = cc->cb;
	void *cb_arg = cc->cb_arg;
	int rc;

	free(cc);
	rc = ctrlr->ops->ctrlr_construct != NULL ? ctrlr->ops->ctrlr_construct(ctrlr) : 0;
	if (rc == 0) {
		rc = nvme_ctrlr_bring_up(ctrlr);
	}
	/* Leave the admin queue's callback stack before freeing or handing over. */
	spio_task_yield();
	ctrlr->busy = false;
	if (rc != 0) {
		nvme_ctrlr_free(ctrlr);
		cb(cb_arg, NULL, rc);
		return rc;
	}
	ctrlr->state = NVME_CTRLR_READY;
	start_keep_alive(ctrlr);
	cb(cb_arg, ctrlr, 0);
	return 0;
}

static struct spio_nvme_ctrlr *ctrlr_alloc(const struct spio_nvme_transport_id *trid,
					   const struct spio_nvme_ctrlr_opts *opts, int *rc)
{
	struct spio_nvme_ctrlr *ctrlr = calloc(1, sizeof(*ctrlr));

	if (ctrlr == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	ctrlr->trid = *trid;
	ctrlr->ops = nvme_transport_get(trid->trtype);
	ctrlr->thread = spio_get_thread();
	ctrlr->state = NVME_CTRLR_CONNECTING;
	ctrlr->admin_fd_watched = -1;
	TAILQ_INIT(&ctrlr->io_qpairs);
	pthread_mutex_init(&ctrlr->qid_lock, NULL);
	/* Only fabrics have discovery controllers; a PCIe trid has no subnqn. */
	if (ctrlr->ops->fabrics && ctrlr->trid.subnqn[0] == '\0') {
		snprintf(ctrlr->trid.subnqn, sizeof(ctrlr->trid.subnqn), "%s",
			 SPIO_NVMF_DISCOVERY_NQN);
	}
	ctrlr->is_discovery =
	    ctrlr->ops->fabrics && strcmp(ctrlr->trid.subnqn, SPIO_NVMF_DISCOVERY_NQN) == 0;
	*rc = resolve_opts(ctrlr, opts);
	if (*rc != 0) {
		nvme_ctrlr_free(ctrlr);
		return NULL;
	}
	ctrlr->adminq = ctrlr->ops->qpair_alloc(ctrlr, ctrlr->opts.admin_queue_size);
	if (ctrlr->adminq == NULL) {
		*rc = -ENOMEM;
		nvme_ctrlr_free(ctrlr);
		return NULL;
	}
	*rc = nvme_qpair_init(ctrlr->adminq, ctrlr, 0, ctrlr->opts.admin_queue_size);
	if (*rc != 0) {
		ctrlr->ops->qpair_free(ctrlr->adminq);
		ctrlr->adminq = NULL;
		nvme_ctrlr_free(ctrlr);
		return NULL;
	}
	ctrlr->admin_poller = spio_poller_register_named(admin_poll, ctrlr, 0, "nvme_admin");
	ctrlr->admin_idle_poller =
	    spio_poller_register_named(admin_poll, ctrlr, ADMIN_IDLE_POLL_US, "nvme_admin_idle");
	ctrlr->admin_fast = true;
	if (ctrlr->admin_poller == NULL || ctrlr->admin_idle_poller == NULL) {
		*rc = -ENOMEM;
		nvme_ctrlr_free(ctrlr);
		return NULL;
	}
	return ctrlr;
}

int spio_nvme_connect_async(const struct spio_nvme_transport_id *trid,
			    const struct spio_nvme_ctrlr_opts *opts, spio_nvme_connect_cb cb,
			    void *cb_arg)
{
	struct spio_nvme_ctrlr *ctrlr;
	struct connect_ctx *cc;
	int rc;

	if (trid == NULL || cb == NULL) {
		return -EINVAL;
	}
	if (spio_get_thread() == NULL) {
		return -EPERM;
	}
	if (nvme_transport_get(trid->trtype) == NULL) {
		SPIO_ERRLOG("nvme: transport %s is not supported by this build\n",
			    trid->trstring[0] != '\0' ? trid->trstring : "(none)");
		return -ENOTSUP;
	}
	if (trid->traddr[0] == '\0') {
		SPIO_ERRLOG("nvme: transport ID without traddr\n");
		return -EINVAL;
	}
	ctrlr = ctrlr_alloc(trid, opts, &rc);
	if (ctrlr == NULL) {
		return rc;
	}
	cc = malloc(sizeof(*cc));
	if (cc == NULL) {
		nvme_ctrlr_free(ctrlr);
		return -ENOMEM;
	}
	*cc = (struct connect_ctx){.ctrlr = ctrlr, .cb = cb, .cb_arg = cb_arg};
	ctrlr->busy = true;
	rc = spio_task_spawn(connect_task, cc, NULL, NULL);
	if (rc != 0) {
		free(cc);
		nvme_ctrlr_free(ctrlr);
	}
	return rc;
}

static void connect_result(void *arg, struct spio_nvme_ctrlr *ctrlr, int status)
{
	struct spio_completion *c = arg;

	c->ptr = ctrlr;
	spio_completion_done(c, status);
}

int spio_nvme_connect_await(const struct spio_nvme_transport_id *trid,
			    const struct spio_nvme_ctrlr_opts *opts, struct spio_nvme_ctrlr **ctrlr)
{
	struct spio_completion c;
	int rc;

	if (spio_task_current() == NULL) {
		return -EPERM;
	}
	if (ctrlr == NULL) {
		return -EINVAL;
	}
	spio_completion_init(&c);
	rc = spio_await_started(&c, spio_nvme_connect_async(trid, opts, connect_result, &c));
	*ctrlr = rc == 0 ? c.ptr : NULL;
	return rc;
}

struct spio_nvme_ctrlr *spio_nvme_connect(const struct spio_nvme_transport_id *trid,
					  const struct spio_nvme_ctrlr_opts *opts)
{
	struct spio_completion c;
	int rc;

	spio_completion_init(&c);
	rc = spio_nvme_connect_async(trid, opts, connect_result, &c);
	if (rc == 0) {
		rc = spio_completion_wait(&c);
	}
	if (rc != 0) {
		errno = -rc;
		return NULL;
	}
	return c.ptr;
}

static int shutdown_ctrlr(struct spio_nvme_ctrlr *ctrlr)
{
	union spio_nvme_cc_register cc;
	union spio_nvme_csts_register csts;
	uint64_t deadline = spio_get_ticks() + SHUTDOWN_WAIT_MS * spio_get_ticks_hz() / 1000;
	uint64_t v;
	int rc;

	rc = nvme_ctrlr_prop_get_await(ctrlr, SPIO_NVME_REG_CC, 4, &v);
	if (rc != 0) {
		return rc;
	}
	cc.raw = (uint32_t)v;
	cc.bits.shn = SPIO_NVME_SHN_NORMAL;
	rc = nvme_ctrlr_prop_set_await(ctrlr, SPIO_NVME_REG_CC, 4, cc.raw);
	while (rc == 0) {
		rc = nvme_ctrlr_prop_get_await(ctrlr, SPIO_NVME_REG_CSTS, 4, &v);
		csts.raw = (uint32_t)v;
		if (rc != 0 || csts.bits.shst == SPIO_NVME_SHST_COMPLETE) {
			break;
		}
		if (spio_get_ticks() > deadline) {
			SPIO_WARNLOG("nvme %s: shutdown not complete after %u ms\n",
				     ctrlr->trid.traddr, SHUTDOWN_WAIT_MS);
			return -ETIMEDOUT;
		}
		spio_task_sleep_us(1000);
	}
	return rc;
}

struct detach_ctx {
	struct spio_nvme_ctrlr *ctrlr;
	spio_nvme_detach_cb cb;
	void *cb_arg;
};

static int detach_task(void *arg)
{
	struct detach_ctx dc = *(struct detach_ctx *)arg;
	struct spio_nvme_ctrlr *ctrlr = dc.ctrlr;

	free(arg);
	/* A namespace refresh may still be reading; let it finish first. */
	while (ctrlr->busy) {
		spio_task_sleep_us(1000);
	}
	ctrlr->state = NVME_CTRLR_DETACHING;
	if (ctrlr->ops->ctrlr_drain != NULL) {
		ctrlr->ops->ctrlr_drain(ctrlr);
	}
	if (ctrlr->adminq->state == NVME_QPAIR_CONNECTED) {
		shutdown_ctrlr(ctrlr);
	}
	spio_task_yield();
	nvme_ctrlr_free(ctrlr);
	if (dc.cb != NULL) {
		dc.cb(dc.cb_arg);
	}
	return 0;
}

int spio_nvme_detach_async(struct spio_nvme_ctrlr *ctrlr, spio_nvme_detach_cb cb, void *cb_arg)
{
	struct detach_ctx *dc;
	int rc;

	if (ctrlr == NULL) {
		return -EINVAL;
	}
	if (spio_get_thread() != ctrlr->thread) {
		return -EXDEV;
	}
	if (!TAILQ_EMPTY(&ctrlr->io_qpairs) || ctrlr->detaching) {
		return -EBUSY;
	}
	dc = malloc(sizeof(*dc));
	if (dc == NULL) {
		return -ENOMEM;
	}
	*dc = (struct detach_ctx){.ctrlr = ctrlr, .cb = cb, .cb_arg = cb_arg};
	ctrlr->detaching = true;
	rc = spio_task_spawn(detach_task, dc, NULL, NULL);
	if (rc != 0) {
		ctrlr->detaching = false;
		free(dc);
	}
	return rc;
}

static void detach_result(void *arg)
{
	spio_completion_done(arg, 0);
}

int spio_nvme_detach_await(struct spio_nvme_ctrlr *ctrlr)
{
	struct spio_completion c;

	if (spio_task_current() == NULL) {
		return -EPERM;
	}
	spio_completion_init(&c);
	return spio_await_started(&c, spio_nvme_detach_async(ctrlr, detach_result, &c));
}

int spio_nvme_detach(struct spio_nvme_ctrlr *ctrlr)
{
	struct spio_completion c;
	int rc;

	spio_completion_init(&c);
	rc = spio_nvme_detach_async(ctrlr, detach_result, &c);
	return rc != 0 ? rc : spio_completion_wait(&c);
}

struct reset_ctx {
	struct spio_nvme_ctrlr *ctrlr;
	spio_nvme_reset_cb cb;
	void *cb_arg;
};

static int reset_task(void *arg)
{
	struct reset_ctx rc_ctx = *(struct reset_ctx *)arg;
	struct spio_nvme_ctrlr *ctrlr = rc_ctx.ctrlr;
	int rc;

	free(arg);
	SPIO_NOTICELOG("nvme %s %s: resetting controller\n", ctrlr->trid.traddr,
		       ctrlr->trid.subnqn);
	ctrlr->state = NVME_CTRLR_RESETTING;
	atomic_fetch_add(&ctrlr->generation, 1);
	nvme_qpair_disconnect(ctrlr->adminq);
	rc = nvme_ctrlr_bring_up(ctrlr);
	spio_task_yield();
	ctrlr->busy = false;
	if (rc == 0) {
		ctrlr->state = NVME_CTRLR_READY;
		atomic_store(&ctrlr->failed, false);
		start_keep_alive(ctrlr);
	} else {
		SPIO_ERRLOG("nvme %s %s: reset failed: %d\n", ctrlr->trid.traddr,
			    ctrlr->trid.subnqn, rc);
		ctrlr->state = NVME_CTRLR_FAILED;
		atomic_store(&ctrlr->failed, true);
	}
	if (rc_ctx.cb != NULL) {
		rc_ctx.cb(rc_ctx.cb_arg, rc);
	}
	return 0;
}

int spio_nvme_ctrlr_reset_async(struct spio_nvme_ctrlr *ctrlr, spio_nvme_reset_cb cb, void *cb_arg)
{
	struct reset_ctx *rctx;
	int rc;

	if (ctrlr == NULL) {
		return -EINVAL;
	}
	if (spio_get_thread() != ctrlr->thread) {
		return -EXDEV;
	}
	if (ctrlr->busy || ctrlr->detaching ||
	    (ctrlr->state != NVME_CTRLR_READY && ctrlr->state != NVME_CTRLR_FAILED)) {
		return -EBUSY;
	}
	rctx = malloc(sizeof(*rctx));
	if (rctx == NULL) {
		return -ENOMEM;
	}
	*rctx = (struct reset_ctx){.ctrlr = ctrlr, .cb = cb, .cb_arg = cb_arg};
	ctrlr->busy = true;
	rc = spio_task_spawn(reset_task, rctx, NULL, NULL);
	if (rc != 0) {
		ctrlr->busy = false;
		free(rctx);
	}
	return rc;
}

static void reset_result(void *arg, int status)
{
	spio_completion_done(arg, status);
}

int spio_nvme_ctrlr_reset_await(struct spio_nvme_ctrlr *ctrlr)
{
	struct spio_completion c;

	if (spio_task_current() == NULL) {
		return -EPERM;
	}
	spio_completion_init(&c);
	return spio_await_started(&c, spio_nvme_ctrlr_reset_async(ctrlr, reset_result, &c));
}

int spio_nvme_ctrlr_reset(struct spio_nvme_ctrlr *ctrlr)
{
	struct spio_completion c;
	int rc;

	spio_completion_init(&c);
	rc = spio_nvme_ctrlr_reset_async(ctrlr, reset_result, &c);
	return rc != 0 ? rc : spio_completion_wait(&c);
}

bool spio_nvme_ctrlr_is_failed(const struct spio_nvme_ctrlr *ctrlr)
{
	return ctrlr != NULL && atomic_load(&ctrlr->failed);
}

const struct spio_nvme_transport_id *
spio_nvme_ctrlr_get_transport_id(const struct spio_nvme_ctrlr *ctrlr)
{
	return &ctrlr->trid;
}

const struct spio_nvme_ctrlr_opts *spio_nvme_ctrlr_get_opts(const struct spio_nvme_ctrlr *ctrlr)
{
	return &ctrlr->opts;
}

const struct spio_nvme_ctrlr_data *spio_nvme_ctrlr_get_data(const struct spio_nvme_ctrlr *ctrlr)
{
	return &ctrlr->cdata;
}

union spio_nvme_cap_register spio_nvme_ctrlr_get_regs_cap(const struct spio_nvme_ctrlr *ctrlr)
{
	return ctrlr->cap;
}

union spio_nvme_vs_register spio_nvme_ctrlr_get_regs_vs(const struct spio_nvme_ctrlr *ctrlr)
{
	return ctrlr->vs;
}

union spio_nvme_csts_register spio_nvme_ctrlr_get_regs_csts(const struct spio_nvme_ctrlr *ctrlr)
{
	return ctrlr->csts;
}

bool spio_nvme_ctrlr_is_discovery(const struct spio_nvme_ctrlr *ctrlr)
{
	return ctrlr->is_discovery;
}

uint32_t spio_nvme_ctrlr_get_max_xfer_size(const struct spio_nvme_ctrlr *ctrlr)
{
	return ctrlr->max_xfer_size;
}

uint32_t spio_nvme_ctrlr_get_num_io_queues(const struct spio_nvme_ctrlr *ctrlr)
{
	return ctrlr->num_io_queues;
}

uint32_t spio_nvme_ctrlr_get_num_ns(const struct spio_nvme_ctrlr *ctrlr)
{
	return ctrlr->cdata.nn;
}

void spio_nvme_ctrlr_register_aer_callback(struct spio_nvme_ctrlr *ctrlr, spio_nvme_aer_cb cb,
					   void *cb_arg)
{
	ctrlr->aer_cb = cb;
	ctrlr->aer_cb_arg = cb_arg;
}

void spio_nvme_ctrlr_register_ns_change_callback(struct spio_nvme_ctrlr *ctrlr,
						 spio_nvme_ns_change_cb cb, void *cb_arg)
{
	ctrlr->ns_change_cb = cb;
	ctrlr->ns_change_cb_arg = cb_arg;
}
