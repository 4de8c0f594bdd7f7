/*
 * I/O queue pairs: allocation (queue ids are shared by every thread of a
 * controller, hence the lock; not a fast path), connect, disconnect, free
 * and processing.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "spio/log.h"
#include "spio/task.h"

#include "nvme/nvme_internal.h"

void spio_nvme_ctrlr_get_default_io_qpair_opts(const struct spio_nvme_ctrlr *ctrlr,
					       struct spio_nvme_io_qpair_opts *opts,
					       size_t opts_size)
{
	struct spio_nvme_io_qpair_opts d = {
	    .opts_size = opts_size,
	    .io_queue_size = ctrlr != NULL ? ctrlr->opts.io_queue_size : 128,
	};

	if (opts == NULL || opts_size == 0) {
		return;
	}
	memcpy(opts, &d, SPIO_MIN(opts_size, sizeof(d)));
}

/*
 * A free queue id in 1..num_io_queues, or 0: the first free one after the
 * last id handed out, so a just-freed id is reused last. The target may not
 * have seen the old queue's connection close yet and would refuse the id as
 * a duplicate (SPDK's target re-checks once after 1 ms; others refuse).
 */
static uint16_t qid_take(struct spio_nvme_ctrlr *ctrlr)
{
	uint32_t n = ctrlr->num_io_queues;
	uint16_t qid = 0;

	pthread_mutex_lock(&ctrlr->qid_lock);
	if (ctrlr->qid_bits == NULL) {
		ctrlr->qid_words = (n + 1 + 63) / 64;
		ctrlr->qid_bits = calloc(ctrlr->qid_words, sizeof(uint64_t));
	}
	for (uint32_t i = 0; ctrlr->qid_bits != NULL && i < n; i++) {
		uint32_t id = (ctrlr->qid_last + i) % n + 1;

		if (!(ctrlr->qid_bits[id / 64] & (1ULL << (id % 64)))) {
			ctrlr->qid_bits[id / 64] |= 1ULL << (id % 64);
			ctrlr->qid_last = id;
			qid = (uint16_t)id;
			break;
		}
	}
	pthread_mutex_unlock(&ctrlr->qid_lock);
	return qid;
}

static void qid_put(struct spio_nvme_ctrlr *ctrlr, uint16_t qid)
{
	pthread_mutex_lock(&ctrlr->qid_lock);
	ctrlr->qid_bits[qid / 64] &= ~(1ULL << (qid % 64));
	pthread_mutex_unlock(&ctrlr->qid_lock);
}

struct spio_nvme_qpair *spio_nvme_ctrlr_alloc_io_qpair(struct spio_nvme_ctrlr *ctrlr,
						       const struct spio_nvme_io_qpair_opts *user,
						       size_t opts_size)
{
	struct spio_nvme_io_qpair_opts opts;
	struct spio_nvme_qpair *qpair;
	uint32_t mqes;
	uint16_t qid;
	int rc;

	if (ctrlr == NULL || (user != NULL && (opts_size == 0 || opts_size > sizeof(opts)))) {
		errno = EINVAL;
		return NULL;
	}
	if (spio_get_thread() == NULL) {
		errno = EPERM;
		return NULL;
	}
	if (ctrlr->is_discovery || atomic_load(&ctrlr->failed) || ctrlr->detaching) {
		errno = ENXIO;
		return NULL;
	}
	spio_nvme_ctrlr_get_default_io_qpair_opts(ctrlr, &opts, sizeof(opts));
	if (user != NULL) {
		memcpy(&opts, user, opts_size);
	}
	mqes = (uint32_t)ctrlr->cap.bits.mqes + 1;
	if (opts.io_queue_size < 2 || opts.io_queue_size > mqes) {
		SPIO_ERRLOG("nvme %s: I/O queue size %u outside 2..%u (CAP.MQES)\n",
			    ctrlr->trid.traddr, opts.io_queue_size, mqes);
		errno = EINVAL;
		return NULL;
	}
	qid = qid_take(ctrlr);
	if (qid == 0) {
		errno = EBUSY;
		return NULL;
	}
	qpair = ctrlr->ops->qpair_alloc(ctrlr, opts.io_queue_size);
	if (qpair == NULL) {
		qid_put(ctrlr, qid);
		errno = ENOMEM;
		return NULL;
	}
	rc = nvme_qpair_init(qpair, ctrlr, qid, opts.io_queue_size);
	if (rc != 0) {
		ctrlr->ops->qpair_free(qpair);
		qid_put(ctrlr, qid);
		errno = -rc;
		return NULL;
	}
	pthread_mutex_lock(&ctrlr->qid_lock);
	TAILQ_INSERT_TAIL(&ctrlr->io_qpairs, qpair, ctrlr_link);
	pthread_mutex_unlock(&ctrlr->qid_lock);
	return qpair;
}

static bool on_own_thread(const struct spio_nvme_qpair *qpair)
{
	return qpair != NULL && qpair->id != 0 && spio_get_thread() == qpair->thread;
}

int spio_nvme_qpair_connect_async(struct spio_nvme_qpair *qpair, spio_nvme_qpair_connect_cb cb,
				  void *cb_arg)
{
	if (!on_own_thread(qpair)) {
		return -EINVAL;
	}
	if (qpair->ctrlr->state != NVME_CTRLR_READY) {
		return -ENXIO;
	}
	return nvme_qpair_connect(qpair, cb, cb_arg);
}

static void connect_result(void *arg, struct spio_nvme_qpair *qpair, int status)
{
	spio_completion_done(arg, status);
}

int spio_nvme_qpair_connect_await(struct spio_nvme_qpair *qpair)
{
	struct spio_completion c;

	if (spio_task_current() == NULL) {
		return -EPERM;
	}
	spio_completion_init(&c);
	return spio_await_started(&c, spio_nvme_qpair_connect_async(qpair, connect_result, &c));
}

/* Drive the qpair alone (it need not be in a poll group) until connected. */
static bool connect_polled(struct spio_nvme_qpair *qpair, void *arg)
{
	if (spio_completion_is_done(arg)) {
		return true;
	}
	nvme_qpair_process(qpair, 0);
	return false;
}

int spio_nvme_ctrlr_connect_io_qpair(struct spio_nvme_ctrlr *ctrlr, struct spio_nvme_qpair *qpair)
{
	struct spio_completion c;
	int rc;

	if (ctrlr == NULL || qpair == NULL || qpair->ctrlr != ctrlr) {
		return -EINVAL;
	}
	spio_completion_init(&c);
	rc = spio_nvme_qpair_connect_async(qpair, connect_result, &c);
	if (rc != 0) {
		return rc;
	}
	/*
	 * PCIe queues are created by admin commands on the admin thread, which
	 * may be this one: let it run (as spio_completion_wait does; so not
	 * from a poller or message of this thread). No deadline here: the
	 * connect's own ends the wait.
	 */
	if (!ctrlr->ops->fabrics) {
		nvme_qpair_wait_until(qpair, connect_polled, &c, UINT64_MAX);
		return c.status;
	}
	while (!spio_completion_is_done(&c)) {
		if (nvme_qpair_process(qpair, 0) == 0) {
			sched_yield();
		}
	}
	return c.status;
}

void spio_nvme_ctrlr_disconnect_io_qpair(struct spio_nvme_qpair *qpair)
{
	if (on_own_thread(qpair) && qpair->state != NVME_QPAIR_DISCONNECTED) {
		nvme_qpair_disconnect(qpair);
	}
}

int spio_nvme_ctrlr_free_io_qpair(struct spio_nvme_qpair *qpair)
{
	struct spio_nvme_ctrlr *ctrlr;
	uint16_t qid;

	if (!on_own_thread(qpair)) {
		return -EINVAL;
	}
	if (qpair->in_callback > 0 || qpair->in_process) {
		return -EBUSY;
	}
	ctrlr = qpair->ctrlr;
	qid = qpair->id;
	/*
	 * Never free command slots (and let their users free buffers) while
	 * the device may still use them: wait until it is done (PCIe: the
	 * queue deleted, bounded by two admin timeouts; a delete that times
	 * out fails the controller, whose reset's disable ends the wait).
	 */
	if (ctrlr->ops->qpair_device_done != NULL) {
		nvme_qpair_disconnect(qpair); /* TCP: below, as before */
	}
	if (qpair->draining) {
		uint64_t ms =
		    2 * (uint64_t)(ctrlr->opts.admin_timeout_ms != 0 ? ctrlr->opts.admin_timeout_ms
								     : 30000) +
		    ctrlr->opts.connect_timeout_ms;
		int rc = nvme_qpair_drain_wait(qpair, ms);

		if (rc != 0) {
			SPIO_ERRLOG("nvme %s: queue %u: the device still holds %u commands after "
				    "%lu ms; not freed (reset the controller, then free again)\n",
				    ctrlr->trid.traddr, qid, qpair->num_outstanding,
				    (unsigned long)ms);
			return rc;
		}
	}
	if (qpair->group != NULL) {
		spio_nvme_poll_group_remove(qpair->group, qpair);
	}
	pthread_mutex_lock(&ctrlr->qid_lock);
	TAILQ_REMOVE(&ctrlr->io_qpairs, qpair, ctrlr_link);
	pthread_mutex_unlock(&ctrlr->qid_lock);
	nvme_qpair_free(qpair);
	qid_put(ctrlr, qid);
	return 0;
}

int32_t spio_nvme_qpair_process_completions(struct spio_nvme_qpair *qpair, uint32_t max_completions)
{
	if (qpair == NULL) {
		return -EINVAL;
	}
	return nvme_qpair_process(qpair, max_completions);
}

bool spio_nvme_qpair_is_connected(const struct spio_nvme_qpair *qpair)
{
	return qpair != NULL && qpair->state == NVME_QPAIR_CONNECTED;
}

uint16_t spio_nvme_qpair_get_id(const struct spio_nvme_qpair *qpair)
{
	return qpair->id;
}

uint32_t spio_nvme_qpair_get_num_outstanding(const struct spio_nvme_qpair *qpair)
{
	return qpair->num_outstanding;
}
