/*
 * Poll groups: the thread side of a target. Each owns its connections
 * (queue pairs) from their arrival to their end, the transports' per-group
 * state, a namespace table with a bdev channel per subsystem namespace, and
 * its counters. Also the gathering of those counters and of the queue pairs
 * for the target thread (by messages).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/log.h"
#include "spio/util.h"

#include "nvmf/nvmf_core.h"

struct nvmf_poll_group *nvmf_poll_group_alloc(struct spio_nvmf_tgt *tgt, uint32_t index)
{
	struct nvmf_poll_group *group = calloc(1, sizeof(*group));

	if (group == NULL) {
		return NULL;
	}
	group->sgroups = calloc(tgt->opts.max_subsystems, sizeof(*group->sgroups));
	if (group->sgroups == NULL) {
		free(group);
		return NULL;
	}
	group->tgt = tgt;
	group->index = index;
	TAILQ_INIT(&group->qpairs);
	return group;
}

void nvmf_poll_group_start(struct nvmf_poll_group *group)
{
	SPIO_DEBUGLOG(nvmf, "poll group %u runs on %s\n", group->index,
		      spio_thread_get_name(group->thread));
}

struct nvmf_transport_poll_group *
nvmf_poll_group_get_transport_group(struct nvmf_poll_group *group,
				    const struct nvmf_transport *transport)
{
	uint32_t i;

	for (i = 0; i < NVMF_MAX_TRANSPORTS; i++) {
		if (group->tgroups[i].transport == transport) {
			return group->tgroups[i].tgroup;
		}
		if (group->tgroups[i].transport == NULL) {
			break;
		}
	}
	if (i == NVMF_MAX_TRANSPORTS || group->stopping) {
		return NULL;
	}
	/* First connection of this transport here: create its part of the group now. */
	group->tgroups[i].transport = transport;
	group->tgroups[i].tgroup =
	    transport->ops->poll_group_create((struct nvmf_transport *)transport, group);
	if (group->tgroups[i].tgroup == NULL) {
		SPIO_ERRLOG("nvmf: %s: transport %s cannot create its poll group\n",
			    spio_thread_get_name(group->thread), transport->ops->name);
	}
	return group->tgroups[i].tgroup;
}

/*
 * Queue pairs
 */

static void qpair_close_msg(void *arg)
{
	struct nvmf_qpair *qpair = arg;

	if (qpair->state == NVMF_QPAIR_UNINITIALIZED || qpair->state == NVMF_QPAIR_ACTIVE) {
		qpair->transport->ops->qpair_close(qpair);
	}
}

void nvmf_poll_group_add_qpair(struct nvmf_poll_group *group, struct nvmf_qpair *qpair)
{
	qpair->group = group;
	qpair->ctrlr = NULL;
	qpair->state = NVMF_QPAIR_UNINITIALIZED;
	qpair->qid = 0;
	qpair->sq_head = 0;
	qpair->sq_size = 0;
	qpair->outstanding = 0;
	qpair->flags = 0;
	qpair->close_sent = false;
	qpair->stat_read_cmds = 0;
	qpair->stat_write_cmds = 0;
	qpair->stat_read_blocks512 = 0;
	qpair->stat_write_blocks512 = 0;
	TAILQ_INSERT_TAIL(&group->qpairs, qpair, group_link);
	group->stat.current_unassociated_qpairs++;
	if (group->stopping) {
		/* The target is going away: this one goes at once. */
		nvmf_send(group->thread, &qpair->close_msg, qpair_close_msg, qpair);
	}
}

static void qpair_fini_msg(void *arg)
{
	struct nvmf_qpair *qpair = arg;
	struct nvmf_poll_group *group = qpair->group;

	TAILQ_REMOVE(&group->qpairs, qpair, group_link);
	qpair->transport->ops->qpair_fini(qpair);
	if (group->stopping && group->stop_call != NULL && TAILQ_EMPTY(&group->qpairs)) {
		nvmf_poll_group_stop(group->stop_call);
	}
}

static void qpair_start_detach(struct nvmf_qpair *qpair);

void nvmf_qpair_check_fini(struct nvmf_qpair *qpair)
{
	struct nvmf_poll_group *group = qpair->group;

	if (qpair->state != NVMF_QPAIR_DEACTIVATING ||
	    (qpair->flags & (NVMF_QPAIR_F_FINI | NVMF_QPAIR_F_CONNECTING)) != 0) {
		return;
	}
	/*
	 * An I/O queue leaves its controller once its commands are done, so
	 * that a reset or shutdown reported complete (CSTS) has no I/O left
	 * running, as SPDK. The admin queue leaves at once: its held AERs end
	 * with the detach.
	 */
	if (qpair->ctrlr != NULL && (qpair->qid == 0 || qpair->outstanding == 0)) {
		qpair_start_detach(qpair);
	}
	if (qpair->outstanding > 0) {
		return;
	}
	if (qpair->ctrlr != NULL && (qpair->flags & NVMF_QPAIR_F_DETACHED) == 0) {
		return;
	}
	qpair->flags |= NVMF_QPAIR_F_FINI;
	if (qpair->flags & NVMF_QPAIR_F_COUNTED) {
		if (qpair->qid == 0) {
			group->stat.current_admin_qpairs--;
		} else {
			group->stat.current_io_qpairs--;
		}
	} else {
		group->stat.current_unassociated_qpairs--;
	}
	/* Later, from a message: the transport may be inside one of our entry points now. */
	nvmf_send(group->thread, &qpair->msg, qpair_fini_msg, qpair);
}

static void qpair_detached_msg(void *arg)
{
	struct nvmf_qpair *qpair = arg;

	qpair->flags = (qpair->flags & ~NVMF_QPAIR_F_DETACHING) | NVMF_QPAIR_F_DETACHED;
	nvmf_qpair_check_fini(qpair);
}

static void qpair_detach_msg(void *arg)
{
	struct nvmf_qpair *qpair = arg;

	nvmf_ctrlr_detach_qpair(qpair);
	nvmf_send(qpair->group->thread, &qpair->msg, qpair_detached_msg, qpair);
}

static void qpair_start_detach(struct nvmf_qpair *qpair)
{
	if (qpair->flags & (NVMF_QPAIR_F_DETACHING | NVMF_QPAIR_F_DETACHED)) {
		return;
	}
	qpair->flags |= NVMF_QPAIR_F_DETACHING;
	nvmf_send(qpair->group->tgt->thread, &qpair->msg, qpair_detach_msg, qpair);
}

void nvmf_qpair_disconnect(struct nvmf_qpair *qpair)
{
	if (qpair->state == NVMF_QPAIR_DEACTIVATING || qpair->state == NVMF_QPAIR_ERROR) {
		return;
	}
	SPIO_DEBUGLOG(nvmf, "qpair %p qid %u disconnects (%u commands executing)\n", qpair,
		      qpair->qid, qpair->outstanding);
	qpair->state = NVMF_QPAIR_DEACTIVATING;
	nvmf_qpair_check_fini(qpair);
}

/* Group thread: the target thread answered this queue's connect. */
void nvmf_qpair_connected(struct nvmf_qpair *qpair, struct nvmf_ctrlr *ctrlr, uint16_t qid,
			  uint32_t sq_size)
{
	struct nvmf_poll_group *group = qpair->group;

	qpair->flags &= ~NVMF_QPAIR_F_CONNECTING;
	if (ctrlr == NULL) {
		return;
	}
	qpair->ctrlr = ctrlr;
	qpair->qid = qid;
	qpair->sq_size = sq_size;
	qpair->flags |= NVMF_QPAIR_F_COUNTED;
	group->stat.current_unassociated_qpairs--;
	if (qid == 0) {
		group->stat.admin_qpairs++;
		group->stat.current_admin_qpairs++;
	} else {
		group->stat.io_qpairs++;
		group->stat.current_io_qpairs++;
	}
	if (qpair->state == NVMF_QPAIR_UNINITIALIZED) {
		qpair->state = NVMF_QPAIR_ACTIVE;
	} else {
		/* Lost while connecting: the target thread attached it, so detach it. */
		nvmf_qpair_check_fini(qpair);
	}
}

/*
 * Stopping (target destruction)
 */

void nvmf_poll_group_stop(struct nvmf_group_call *call)
{
	struct nvmf_poll_group *group = call->group;
	struct spio_thread *thread = group->thread;
	struct nvmf_qpair *qpair, *next;

	if (!group->stopping) {
		group->stopping = true;
		group->stop_call = call;
		for (qpair = TAILQ_FIRST(&group->qpairs); qpair != NULL; qpair = next) {
			next = TAILQ_NEXT(qpair, group_link);
			if (qpair->state == NVMF_QPAIR_UNINITIALIZED ||
			    qpair->state == NVMF_QPAIR_ACTIVE) {
				qpair->transport->ops->qpair_close(qpair);
			}
		}
	}
	if (!TAILQ_EMPTY(&group->qpairs)) {
		return; /* the last qpair_fini_msg calls again */
	}
	for (uint32_t i = 0; i < NVMF_MAX_TRANSPORTS; i++) {
		if (group->tgroups[i].tgroup != NULL) {
			group->tgroups[i].transport->ops->poll_group_destroy(
			    group->tgroups[i].tgroup);
			group->tgroups[i].tgroup = NULL;
		}
	}
	for (uint32_t i = 0; i < group->tgt->opts.max_subsystems; i++) {
		free(group->sgroups[i].ns);
	}
	free(group->sgroups);
	group->sgroups = NULL;
	group->stop_call = NULL;
	/* The target thread frees `group` on this answer: hands off from here. */
	nvmf_group_call_done(call, 0);
	spio_thread_exit(thread);
}

/*
 * Gathering for the target thread
 */

struct stats_ctx {
	spio_nvmf_stats_cb cb;
	void *cb_arg;
	struct spio_nvmf_poll_group_stat *stats;
};

static void pg_get_stats(struct nvmf_group_call *call)
{
	struct stats_ctx *ctx = call->op->ctx;
	struct nvmf_poll_group *group = call->group;
	struct spio_nvmf_poll_group_stat *s = &ctx->stats[group->index];

	snprintf(s->name, sizeof(s->name), "%s", spio_thread_get_name(group->thread));
	s->admin_qpairs = group->stat.admin_qpairs;
	s->io_qpairs = group->stat.io_qpairs;
	s->current_admin_qpairs = group->stat.current_admin_qpairs;
	s->current_io_qpairs = group->stat.current_io_qpairs;
	s->current_unassociated_qpairs = group->stat.current_unassociated_qpairs;
	s->pending_bdev_io = group->stat.pending_bdev_io;
	s->completed_nvme_io = group->stat.completed_nvme_io;
	nvmf_group_call_done(call, 0);
}

static void stats_done(struct nvmf_group_op *op, int status)
{
	struct stats_ctx *ctx = op->ctx;

	ctx->cb(ctx->cb_arg, ctx->stats, op->ncalls, status);
	free(ctx->stats);
	free(ctx);
}

int spio_nvmf_tgt_get_stats(struct spio_nvmf_tgt *tgt, spio_nvmf_stats_cb cb, void *cb_arg)
{
	struct stats_ctx *ctx;
	int rc;

	if (tgt == NULL || cb == NULL || tgt->state != NVMF_TGT_RUNNING) {
		return -EINVAL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->stats = calloc(tgt->num_groups, sizeof(*ctx->stats));
	if (ctx->stats == NULL) {
		free(ctx);
		return -ENOMEM;
	}
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	rc = nvmf_group_op_start(tgt, pg_get_stats, stats_done, ctx);
	if (rc != 0) {
		free(ctx->stats);
		free(ctx);
	}
	return rc;
}

/* Each group's queue pairs of one subsystem, gathered into one array at the end. */
struct qpairs_ctx {
	struct spio_nvmf_subsystem *subsystem;
	spio_nvmf_qpairs_cb cb;
	void *cb_arg;
	struct {
		struct spio_nvmf_qpair_info *infos;
		uint32_t count;
	} * per_group;
};

static const char *qpair_state_str(enum nvmf_qpair_state state)
{
	switch (state) {
	case NVMF_QPAIR_UNINITIALIZED:
		return "uninitialized";
	case NVMF_QPAIR_ACTIVE:
		return "enabled";
	case NVMF_QPAIR_DEACTIVATING:
		return "deactivating";
	case NVMF_QPAIR_ERROR:
		return "error";
	}
	return "unknown";
}

static void pg_get_qpairs(struct nvmf_group_call *call)
{
	struct qpairs_ctx *ctx = call->op->ctx;
	struct nvmf_poll_group *group = call->group;
	struct spio_nvmf_qpair_info *infos;
	struct nvmf_qpair *qpair;
	uint32_t n = 0;

	TAILQ_FOREACH (qpair, &group->qpairs, group_link) {
		n++;
	}
	infos = calloc(n > 0 ? n : 1, sizeof(*infos));
	if (infos == NULL) {
		nvmf_group_call_done(call, -ENOMEM);
		return;
	}
	n = 0;
	TAILQ_FOREACH (qpair, &group->qpairs, group_link) {
		struct spio_nvmf_qpair_info *info = &infos[n];

		/* Only active ones: a deactivating queue's controller may be gone. */
		if (qpair->state != NVMF_QPAIR_ACTIVE || qpair->ctrlr->subsys != ctx->subsystem) {
			continue;
		}
		info->cntlid = qpair->ctrlr->cntlid;
		info->qid = qpair->qid;
		info->state = qpair_state_str(qpair->state);
		snprintf(info->thread, sizeof(info->thread), "%s",
			 spio_thread_get_name(group->thread));
		snprintf(info->hostnqn, sizeof(info->hostnqn), "%s", qpair->ctrlr->hostnqn);
		info->listen_trid = qpair->listen_trid;
		info->peer_trid = qpair->peer_trid;
		n++;
	}
	ctx->per_group[group->index].infos = infos;
	ctx->per_group[group->index].count = n;
	nvmf_group_call_done(call, 0);
}

static void qpairs_done(struct nvmf_group_op *op, int status)
{
	struct qpairs_ctx *ctx = op->ctx;
	struct spio_nvmf_qpair_info *all = NULL;
	uint32_t total = 0, n = 0;

	for (uint32_t i = 0; i < op->ncalls; i++) {
		total += ctx->per_group[i].count;
	}
	if (status == 0) {
		all = calloc(total > 0 ? total : 1, sizeof(*all));
		if (all == NULL) {
			status = -ENOMEM;
		}
	}
	for (uint32_t i = 0; i < op->ncalls; i++) {
		if (all != NULL) {
			memcpy(&all[n], ctx->per_group[i].infos,
			       ctx->per_group[i].count * sizeof(*all));
			n += ctx->per_group[i].count;
		}
		free(ctx->per_group[i].infos);
	}
	ctx->cb(ctx->cb_arg, all, status == 0 ? n : 0, status);
	free(all);
	free(ctx->per_group);
	free(ctx);
}

int spio_nvmf_subsystem_get_qpairs(struct spio_nvmf_subsystem *subsystem, spio_nvmf_qpairs_cb cb,
				   void *cb_arg)
{
	struct qpairs_ctx *ctx;
	int rc;

	if (subsystem == NULL || cb == NULL || subsystem->tgt->state != NVMF_TGT_RUNNING) {
		return -EINVAL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		return -ENOMEM;
	}
	ctx->per_group = calloc(subsystem->tgt->num_groups, sizeof(*ctx->per_group));
	if (ctx->per_group == NULL) {
		free(ctx);
		return -ENOMEM;
	}
	ctx->subsystem = subsystem;
	ctx->cb = cb;
	ctx->cb_arg = cb_arg;
	rc = nvmf_group_op_start(subsystem->tgt, pg_get_qpairs, qpairs_done, ctx);
	if (rc != 0) {
		free(ctx->per_group);
		free(ctx);
	}
	return rc;
}
