/*
 * Transports: the known transport types (TCP, and any a test registers),
 * their default options, and the transports added to a target.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spio/log.h"
#include "spio/util.h"

#include "nvmf/nvmf_core.h"

/*
 * Weak, so that the core links (and its tests run) in a tree without the
 * TCP transport (lib/nvmf/tcp*.c); with it, this is its ops table.
 */
extern const struct nvmf_transport_ops g_nvmf_tcp_ops __attribute__((weak));

#define MAX_REGISTERED 4

static const struct nvmf_transport_ops *g_registered[MAX_REGISTERED];
static pthread_mutex_t g_registered_lock = PTHREAD_MUTEX_INITIALIZER;

int nvmf_transport_register(const struct nvmf_transport_ops *ops)
{
	int rc = -ENOSPC;

	if (ops == NULL || ops->name == NULL) {
		return -EINVAL;
	}
	if (nvmf_transport_find_ops(ops->name) != NULL) {
		return -EEXIST;
	}
	pthread_mutex_lock(&g_registered_lock);
	for (size_t i = 0; i < MAX_REGISTERED; i++) {
		if (g_registered[i] == NULL) {
			g_registered[i] = ops;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g_registered_lock);
	return rc;
}

const struct nvmf_transport_ops *nvmf_transport_find_ops(const char *name)
{
	const struct nvmf_transport_ops *ops = NULL;

	if (name == NULL) {
		return NULL;
	}
	if (&g_nvmf_tcp_ops != NULL && strcasecmp(name, g_nvmf_tcp_ops.name) == 0) {
		return &g_nvmf_tcp_ops;
	}
	pthread_mutex_lock(&g_registered_lock);
	for (size_t i = 0; i < MAX_REGISTERED; i++) {
		if (g_registered[i] != NULL && strcasecmp(name, g_registered[i]->name) == 0) {
			ops = g_registered[i];
			break;
		}
	}
	pthread_mutex_unlock(&g_registered_lock);
	return ops;
}

/* What every transport gets before its own defaults: SPDK's TCP values. */
static void opts_base(struct spio_nvmf_transport_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->opts_size = sizeof(*o);
	o->max_queue_depth = 128;
	o->max_io_qpairs_per_ctrlr = 127;
	o->in_capsule_data_size = 4096;
	o->max_io_size = 131072;
	o->io_unit_size = 131072;
	o->max_aq_depth = 128;
	o->num_shared_buffers = 511;
	o->buf_cache_size = 32;
	o->c2h_success = true;
	o->abort_timeout_sec = 1;
	o->control_msg_num = 32;
}

int spio_nvmf_transport_opts_init(const char *trtype, struct spio_nvmf_transport_opts *opts,
				  size_t opts_size)
{
	const struct nvmf_transport_ops *ops;
	struct spio_nvmf_transport_opts o;

	if (trtype == NULL || opts == NULL || opts_size == 0) {
		return -EINVAL;
	}
	ops = nvmf_transport_find_ops(trtype);
	if (ops == NULL) {
		return -ENOTSUP;
	}
	opts_base(&o);
	if (ops->opts_init != NULL) {
		ops->opts_init(&o);
	}
	o.opts_size = opts_size;
	memcpy(opts, &o, SPIO_MIN(opts_size, sizeof(o)));
	return 0;
}

/* What the core itself needs of the options (the transport checks its own rules). */
static bool opts_valid(const struct spio_nvmf_transport_opts *o)
{
	return o->max_queue_depth >= 2 && o->max_aq_depth >= 2 &&
	       o->max_aq_depth <= SPIO_NVME_ADMIN_QUEUE_MAX_ENTRIES &&
	       o->max_io_qpairs_per_ctrlr >= 1 && o->max_io_size >= 4096 &&
	       o->in_capsule_data_size <= o->max_io_size && !o->dif_insert_or_strip;
}

int spio_nvmf_tgt_add_transport(struct spio_nvmf_tgt *tgt, const char *trtype,
				const struct spio_nvmf_transport_opts *opts)
{
	const struct nvmf_transport_ops *ops;
	struct spio_nvmf_transport_opts o;
	struct nvmf_transport *transport;
	int rc = 0;

	if (tgt == NULL || trtype == NULL || (opts != NULL && opts->opts_size == 0) ||
	    tgt->state != NVMF_TGT_RUNNING) {
		return -EINVAL;
	}
	ops = nvmf_transport_find_ops(trtype);
	if (ops == NULL) {
		SPIO_ERRLOG("nvmf target %s: no transport %s\n", tgt->opts.name, trtype);
		return -ENOTSUP;
	}
	if (spio_nvmf_tgt_get_transport(tgt, ops->name) != NULL) {
		return -EEXIST;
	}
	if (tgt->num_transports >= NVMF_MAX_TRANSPORTS) {
		return -ENOSPC;
	}
	spio_nvmf_transport_opts_init(ops->name, &o, sizeof(o));
	if (opts != NULL) {
		memcpy(&o, opts, SPIO_MIN(opts->opts_size, sizeof(o)));
		o.opts_size = sizeof(o);
	}
	if (!opts_valid(&o)) {
		SPIO_ERRLOG("nvmf target %s: transport %s: invalid options (queue depth %u, admin "
			    "queue depth %u, I/O queues %u, max I/O %u, in-capsule %u%s)\n",
			    tgt->opts.name, ops->name, o.max_queue_depth, o.max_aq_depth,
			    o.max_io_qpairs_per_ctrlr, o.max_io_size, o.in_capsule_data_size,
			    o.dif_insert_or_strip ? ", DIF insert/strip" : "");
		return -EINVAL;
	}
	transport = ops->create(tgt, &o, &rc);
	if (transport == NULL) {
		return rc != 0 ? rc : -ENOMEM;
	}
	transport->ops = ops;
	transport->tgt = tgt;
	transport->opts = o;
	TAILQ_INSERT_TAIL(&tgt->transports, transport, link);
	tgt->num_transports++;
	SPIO_NOTICELOG("nvmf target %s: transport %s created\n", tgt->opts.name, ops->name);
	return 0;
}

static struct spio_nvmf_transport *to_public(struct nvmf_transport *transport)
{
	return (struct spio_nvmf_transport *)transport;
}

static const struct nvmf_transport *from_public(const struct spio_nvmf_transport *transport)
{
	return (const struct nvmf_transport *)transport;
}

struct spio_nvmf_transport *spio_nvmf_tgt_get_transport(struct spio_nvmf_tgt *tgt,
							const char *trtype)
{
	struct nvmf_transport *transport;

	if (tgt == NULL || trtype == NULL) {
		return NULL;
	}
	TAILQ_FOREACH (transport, &tgt->transports, link) {
		if (strcasecmp(transport->ops->name, trtype) == 0) {
			return to_public(transport);
		}
	}
	return NULL;
}

struct spio_nvmf_transport *spio_nvmf_transport_get_first(struct spio_nvmf_tgt *tgt)
{
	return tgt != NULL ? to_public(TAILQ_FIRST(&tgt->transports)) : NULL;
}

struct spio_nvmf_transport *spio_nvmf_transport_get_next(struct spio_nvmf_transport *transport)
{
	struct nvmf_transport *t = (struct nvmf_transport *)transport;

	return t != NULL ? to_public(TAILQ_NEXT(t, link)) : NULL;
}

const char *spio_nvmf_transport_get_name(const struct spio_nvmf_transport *transport)
{
	return from_public(transport)->ops->name;
}

const struct spio_nvmf_transport_opts *
spio_nvmf_transport_get_opts(const struct spio_nvmf_transport *transport)
{
	return transport != NULL ? &from_public(transport)->opts : NULL;
}

struct nvmf_transport *nvmf_tgt_find_transport(struct spio_nvmf_tgt *tgt,
					       const struct spio_nvme_transport_id *trid)
{
	struct nvmf_transport *transport;

	TAILQ_FOREACH (transport, &tgt->transports, link) {
		if (transport->ops->trtype != trid->trtype) {
			continue;
		}
		if (trid->trtype != SPIO_NVME_TRANSPORT_CUSTOM ||
		    strcasecmp(transport->ops->name, trid->trstring) == 0) {
			return transport;
		}
	}
	return NULL;
}

void nvmf_tgt_destroy_transports(struct spio_nvmf_tgt *tgt)
{
	struct nvmf_transport *transport;

	while ((transport = TAILQ_FIRST(&tgt->transports)) != NULL) {
		TAILQ_REMOVE(&tgt->transports, transport, link);
		tgt->num_transports--;
		transport->ops->destroy(transport);
	}
}
