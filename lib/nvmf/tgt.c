/*
 * The target: creation with its poll group threads and discovery
 * subsystem, orderly destruction, lookup by name, the shared listeners,
 * round-robin placement of connections and the calls on every poll group.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spio/app.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/util.h"

#include "nvmf/nvmf_core.h"

SPIO_LOG_REGISTER_COMPONENT(nvmf)

/* Targets by creation; looked up from any thread, changed on target threads. */
static TAILQ_HEAD(, spio_nvmf_tgt) g_tgts = TAILQ_HEAD_INITIALIZER(g_tgts);
static pthread_mutex_t g_tgts_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t (*g_ticks_fn)(void);

uint64_t nvmf_get_ticks(void)
{
	uint64_t (*fn)(void) = __atomic_load_n(&g_ticks_fn, __ATOMIC_RELAXED);

	return fn != NULL ? fn() : spio_get_ticks();
}

void nvmf_set_ticks_fn(uint64_t (*fn)(void))
{
	__atomic_store_n(&g_ticks_fn, fn, __ATOMIC_RELAXED);
}

void nvmf_send(struct spio_thread *thread, struct spio_msg *msg, spio_msg_fn fn, void *ctx)
{
	int rc = spio_thread_send_msg_embedded(thread, msg, fn, ctx);

	if (rc != 0) {
		SPIO_ERRLOG("nvmf: message to thread %s lost: %d\n", spio_thread_get_name(thread),
			    rc);
	}
}

void spio_nvmf_tgt_opts_init(struct spio_nvmf_tgt_opts *opts, size_t opts_size)
{
	struct spio_nvmf_tgt_opts d;

	if (opts == NULL || opts_size == 0) {
		return;
	}
	memset(&d, 0, sizeof(d));
	d.opts_size = opts_size;
	snprintf(d.name, sizeof(d.name), "nvmf_tgt");
	d.max_subsystems = 1024;
	spio_app_get_cpuset(&d.cpumask);
	if (spio_cpuset_count(&d.cpumask) == 0) {
		uint32_t core = spio_env_get_first_core();

		spio_cpuset_set_cpu(&d.cpumask, core == UINT32_MAX ? 0 : core, true);
	}
	d.max_connections_per_listener = 1024;
	memcpy(opts, &d, SPIO_MIN(opts_size, sizeof(d)));
}

struct spio_nvmf_tgt *spio_nvmf_get_tgt(const char *name)
{
	struct spio_nvmf_tgt *tgt;

	pthread_mutex_lock(&g_tgts_lock);
	TAILQ_FOREACH (tgt, &g_tgts, link) {
		if (name == NULL || strcmp(tgt->opts.name, name) == 0) {
			break;
		}
	}
	pthread_mutex_unlock(&g_tgts_lock);
	return tgt;
}

const char *spio_nvmf_tgt_get_name(const struct spio_nvmf_tgt *tgt)
{
	return tgt != NULL ? tgt->opts.name : NULL;
}

const struct spio_nvmf_tgt_opts *spio_nvmf_tgt_get_opts(const struct spio_nvmf_tgt *tgt)
{
	return tgt != NULL ? &tgt->opts : NULL;
}

uint32_t nvmf_tgt_get_max_connections_per_listener(const struct spio_nvmf_tgt *tgt)
{
	return tgt->opts.max_connections_per_listener;
}

/*
 * Calls on every poll group
 */

static void group_call_run(void *arg)
{
	struct nvmf_group_call *call = arg;

	call->op->fn(call);
}

static void group_call_reply(void *arg)
{
	struct nvmf_group_call *call = arg;
	struct nvmf_group_op *op = call->op;
	int status = 0;

	if (--op->pending > 0) {
		return;
	}
	for (uint32_t i = 0; i < op->ncalls; i++) {
		if (op->calls[i].status != 0) {
			status = op->calls[i].status;
			break;
		}
	}
	op->done(op, status);
	free(op);
}

int nvmf_group_op_start(struct spio_nvmf_tgt *tgt, nvmf_group_fn fn, nvmf_group_done_fn done,
			void *ctx)
{
	struct nvmf_group_op *op;

	op = calloc(1, sizeof(*op) + tgt->num_groups * sizeof(op->calls[0]));
	if (op == NULL) {
		return -ENOMEM;
	}
	op->tgt = tgt;
	op->fn = fn;
	op->done = done;
	op->ctx = ctx;
	op->ncalls = tgt->num_groups;
	op->pending = tgt->num_groups;
	for (uint32_t i = 0; i < tgt->num_groups; i++) {
		struct nvmf_group_call *call = &op->calls[i];

		call->op = op;
		call->group = tgt->groups[i];
		/* Ordered after the transports' messages from this thread (connections). */
		if (spio_thread_send_msg(call->group->thread, group_call_run, call) != 0) {
			nvmf_send(call->group->thread, &call->msg, group_call_run, call);
		}
	}
	return 0;
}

void nvmf_group_call_done(struct nvmf_group_call *call, int status)
{
	call->status = status;
	nvmf_send(call->op->tgt->thread, &call->msg, group_call_reply, call);
}

/*
 * Poll groups
 */

struct nvmf_poll_group *nvmf_tgt_next_poll_group(struct spio_nvmf_tgt *tgt)
{
	struct nvmf_poll_group *group;

	if (tgt->num_groups == 0) {
		return NULL;
	}
	group = tgt->groups[tgt->next_group % tgt->num_groups];
	tgt->next_group = (tgt->next_group + 1) % tgt->num_groups;
	return group;
}

struct spio_thread *nvmf_poll_group_get_thread(const struct nvmf_poll_group *group)
{
	return group->thread;
}

static void tgt_free(struct spio_nvmf_tgt *tgt)
{
	for (uint32_t i = 0; i < tgt->num_groups; i++) {
		free(tgt->groups[i]);
	}
	free(tgt->groups);
	free(tgt->subsystem_ids);
	free(tgt);
}

static void tgt_group_started(void *arg)
{
	struct spio_nvmf_tgt *tgt = arg;

	if (++tgt->groups_started < tgt->num_groups) {
		return;
	}
	tgt->state = NVMF_TGT_RUNNING;
	tgt->create_cb(tgt->create_cb_arg, tgt, 0);
}

static void group_start_msg(void *arg)
{
	struct nvmf_poll_group *group = arg;
	struct spio_nvmf_tgt *tgt = group->tgt;

	nvmf_poll_group_start(group);
	if (spio_thread_send_msg(tgt->thread, tgt_group_started, tgt) != 0) {
		SPIO_ERRLOG("nvmf target %s: start of poll group %u not reported\n", tgt->opts.name,
			    group->index);
	}
}

/* A poll group thread created but never started: let it exit. */
static void group_thread_exit_msg(void *arg)
{
	spio_thread_exit(spio_get_thread());
}

static int tgt_create_groups(struct spio_nvmf_tgt *tgt)
{
	uint32_t n = spio_cpuset_count(&tgt->opts.cpumask), i = 0;
	int core;

	tgt->groups = calloc(n, sizeof(*tgt->groups));
	if (tgt->groups == NULL) {
		return -ENOMEM;
	}
	SPIO_CPUSET_FOREACH (core, &tgt->opts.cpumask) {
		struct spio_cpuset one;
		struct nvmf_poll_group *group;
		char name[64];

		group = nvmf_poll_group_alloc(tgt, i);
		if (group == NULL) {
			return -ENOMEM;
		}
		spio_cpuset_zero(&one);
		spio_cpuset_set_cpu(&one, (uint32_t)core, true);
		snprintf(name, sizeof(name), "nvmf_tgt_poll_group_%03u", i);
		group->thread = spio_thread_create(name, &one);
		if (group->thread == NULL) {
			SPIO_ERRLOG(
			    "nvmf target %s: cannot create poll group thread on core %d: %s\n",
			    tgt->opts.name, core, strerror(errno));
			free(group);
			return -ENOMEM;
		}
		tgt->groups[i++] = group;
		tgt->num_groups = i;
	}
	return 0;
}

int spio_nvmf_tgt_create(const struct spio_nvmf_tgt_opts *opts, spio_nvmf_tgt_cb cb, void *cb_arg)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_thread *thread = spio_get_thread();
	int rc;

	if (thread == NULL) {
		return -EPERM;
	}
	if (cb == NULL || (opts != NULL && opts->opts_size == 0)) {
		return -EINVAL;
	}
	tgt = calloc(1, sizeof(*tgt));
	if (tgt == NULL) {
		return -ENOMEM;
	}
	spio_nvmf_tgt_opts_init(&tgt->opts, sizeof(tgt->opts));
	if (opts != NULL) {
		memcpy(&tgt->opts, opts, SPIO_MIN(opts->opts_size, sizeof(tgt->opts)));
		tgt->opts.opts_size = sizeof(tgt->opts);
		tgt->opts.name[sizeof(tgt->opts.name) - 1] = '\0';
	}
	if (tgt->opts.name[0] == '\0' || tgt->opts.max_subsystems == 0 ||
	    spio_cpuset_count(&tgt->opts.cpumask) == 0) {
		free(tgt);
		return -EINVAL;
	}
	if (spio_nvmf_get_tgt(tgt->opts.name) != NULL) {
		SPIO_ERRLOG("nvmf target %s exists already\n", tgt->opts.name);
		free(tgt);
		return -EEXIST;
	}
	tgt->thread = thread;
	tgt->state = NVMF_TGT_STARTING;
	tgt->create_cb = cb;
	tgt->create_cb_arg = cb_arg;
	tgt->start_tick = spio_get_ticks();
	TAILQ_INIT(&tgt->transports);
	TAILQ_INIT(&tgt->subsystems);
	TAILQ_INIT(&tgt->listeners);
	tgt->subsystem_ids = calloc((tgt->opts.max_subsystems + 63) / 64, sizeof(uint64_t));
	if (tgt->subsystem_ids == NULL) {
		free(tgt);
		return -ENOMEM;
	}
	tgt->discovery = nvmf_subsystem_alloc(tgt, SPIO_NVMF_DISCOVERY_NQN,
					      SPIO_NVMF_SUBTYPE_DISCOVERY_CURRENT, 0);
	if (tgt->discovery == NULL) {
		tgt_free(tgt);
		return -ENOMEM;
	}
	tgt->discovery->allow_any_host = true;

	rc = tgt_create_groups(tgt);
	if (rc != 0) {
		for (uint32_t i = 0; i < tgt->num_groups; i++) {
			spio_thread_send_msg(tgt->groups[i]->thread, group_thread_exit_msg, NULL);
		}
		nvmf_subsystem_free(tgt->discovery);
		tgt_free(tgt);
		return rc;
	}
	pthread_mutex_lock(&g_tgts_lock);
	TAILQ_INSERT_TAIL(&g_tgts, tgt, link);
	pthread_mutex_unlock(&g_tgts_lock);
	for (uint32_t i = 0; i < tgt->num_groups; i++) {
		spio_thread_send_msg(tgt->groups[i]->thread, group_start_msg, tgt->groups[i]);
	}
	return 0;
}

/*
 * Destruction: listeners, subsystems (with their controllers and
 * namespaces), poll groups, transports.
 */

static void tgt_destroy_next_subsystem(struct spio_nvmf_tgt *tgt);

static void tgt_groups_stopped(struct nvmf_group_op *op, int status)
{
	struct spio_nvmf_tgt *tgt = op->tgt;
	spio_nvmf_tgt_destroy_cb cb = tgt->destroy_cb;
	void *cb_arg = tgt->destroy_cb_arg;
	struct nvmf_listener *l;

	nvmf_tgt_destroy_transports(tgt);
	while ((l = TAILQ_FIRST(&tgt->listeners)) != NULL) {
		TAILQ_REMOVE(&tgt->listeners, l, link);
		free(l);
	}
	pthread_mutex_lock(&g_tgts_lock);
	TAILQ_REMOVE(&g_tgts, tgt, link);
	pthread_mutex_unlock(&g_tgts_lock);
	SPIO_NOTICELOG("nvmf target %s destroyed\n", tgt->opts.name);
	tgt_free(tgt);
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
}

static void tgt_subsystem_destroyed(void *arg, int status)
{
	struct spio_nvmf_tgt *tgt = arg;

	tgt_destroy_next_subsystem(tgt);
}

static void tgt_destroy_next_subsystem(struct spio_nvmf_tgt *tgt)
{
	struct spio_nvmf_subsystem *subsystem;
	int rc;

	/* Newest first; the discovery subsystem (the first) last. */
	subsystem = TAILQ_LAST(&tgt->subsystems, nvmf_subsystems);
	if (subsystem != NULL) {
		rc = nvmf_subsystem_destroy(subsystem, tgt_subsystem_destroyed, tgt);
		if (rc == -EBUSY) {
			/* A namespace change is under way; its end calls back. */
			tgt->destroy_waits_op = true;
		} else if (rc != 0) {
			SPIO_ERRLOG("nvmf target %s: subsystem %s cannot be destroyed: %d\n",
				    tgt->opts.name, subsystem->nqn, rc);
		}
		return;
	}
	tgt->discovery = NULL;
	if (nvmf_group_op_start(tgt, nvmf_poll_group_stop, tgt_groups_stopped, NULL) != 0) {
		SPIO_ERRLOG("nvmf target %s: out of memory stopping the poll groups\n",
			    tgt->opts.name);
	}
}

void nvmf_tgt_destroy_continue(struct spio_nvmf_tgt *tgt)
{
	if (tgt->state == NVMF_TGT_DESTROYING && tgt->destroy_waits_op) {
		tgt->destroy_waits_op = false;
		tgt_destroy_next_subsystem(tgt);
	}
}

int spio_nvmf_tgt_destroy(struct spio_nvmf_tgt *tgt, spio_nvmf_tgt_destroy_cb cb, void *cb_arg)
{
	struct nvmf_listener *l;
	struct nvmf_ctrlr *ctrlr, *next;

	if (tgt == NULL) {
		return -EINVAL;
	}
	if (tgt->state == NVMF_TGT_STARTING) {
		return -EBUSY;
	}
	if (tgt->state == NVMF_TGT_DESTROYING) {
		return -EALREADY;
	}
	tgt->state = NVMF_TGT_DESTROYING;
	tgt->destroy_cb = cb;
	tgt->destroy_cb_arg = cb_arg;
	TAILQ_FOREACH (l, &tgt->listeners, link) {
		l->transport->ops->stop_listen(l->transport, &l->trid);
		l->refs = 0;
	}
	/* Discovery hosts go now; the NVM subsystems' with their subsystem. */
	for (ctrlr = TAILQ_FIRST(&tgt->discovery->ctrlrs); ctrlr != NULL; ctrlr = next) {
		next = TAILQ_NEXT(ctrlr, link);
		nvmf_ctrlr_disconnect(ctrlr);
	}
	tgt_destroy_next_subsystem(tgt);
	return 0;
}

/*
 * Listeners: one per address, shared by the subsystems on it.
 */

bool nvmf_trid_same_address(const struct spio_nvme_transport_id *a,
			    const struct spio_nvme_transport_id *b)
{
	if (a->trtype != b->trtype) {
		return false;
	}
	if (a->trtype == SPIO_NVME_TRANSPORT_CUSTOM && strcasecmp(a->trstring, b->trstring) != 0) {
		return false;
	}
	return strcasecmp(a->traddr, b->traddr) == 0 && strcmp(a->trsvcid, b->trsvcid) == 0;
}

static uint16_t tgt_free_portid(struct spio_nvmf_tgt *tgt)
{
	struct nvmf_listener *l;
	uint16_t id = 0;
	bool used;

	do {
		used = false;
		TAILQ_FOREACH (l, &tgt->listeners, link) {
			if (l->portid == id) {
				used = true;
				id++;
				break;
			}
		}
	} while (used);
	return id;
}

struct nvmf_listener *nvmf_tgt_listener_get(struct spio_nvmf_tgt *tgt,
					    const struct spio_nvme_transport_id *trid, int *rc)
{
	struct nvmf_transport *transport;
	struct nvmf_listener *l;

	TAILQ_FOREACH (l, &tgt->listeners, link) {
		if (nvmf_trid_same_address(&l->trid, trid)) {
			l->refs++;
			return l;
		}
	}
	transport = nvmf_tgt_find_transport(tgt, trid);
	if (transport == NULL) {
		*rc = -ENOTSUP;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	l->transport = transport;
	l->trid = *trid;
	l->trid.subnqn[0] = '\0';
	l->trid.hostnqn[0] = '\0';
	snprintf(l->trid.trstring, sizeof(l->trid.trstring), "%s", transport->ops->name);
	*rc = transport->ops->listen(transport, &l->trid);
	if (*rc != 0) {
		SPIO_ERRLOG("nvmf target %s: cannot listen on %s %s:%s: %d\n", tgt->opts.name,
			    l->trid.trstring, l->trid.traddr, l->trid.trsvcid, *rc);
		free(l);
		return NULL;
	}
	l->portid = tgt_free_portid(tgt);
	l->refs = 1;
	TAILQ_INSERT_TAIL(&tgt->listeners, l, link);
	SPIO_NOTICELOG("nvmf target %s listening on %s %s:%s\n", tgt->opts.name, l->trid.trstring,
		       l->trid.traddr, l->trid.trsvcid);
	return l;
}

void nvmf_tgt_listener_put(struct spio_nvmf_tgt *tgt, struct nvmf_listener *l)
{
	/* At target destruction every listener stopped already (refs 0). */
	if (l->refs == 0 || --l->refs > 0) {
		return;
	}
	l->transport->ops->stop_listen(l->transport, &l->trid);
	TAILQ_REMOVE(&tgt->listeners, l, link);
	free(l);
}

void nvmf_tgt_discovery_changed(struct spio_nvmf_tgt *tgt)
{
	struct nvmf_ctrlr *ctrlr;

	tgt->discovery_genctr++;
	if (tgt->discovery == NULL) {
		return;
	}
	TAILQ_FOREACH (ctrlr, &tgt->discovery->ctrlrs, link) {
		nvmf_ctrlr_discovery_changed(ctrlr);
	}
}
