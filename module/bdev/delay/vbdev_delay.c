/* The "delay" bdev module: reads and writes complete a set latency after
 * the base completed them, timed by a poller per channel (SPDK's bdev_delay). */
#include "vbdev_delay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../passthru/vbdev_stack.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/thread.h"

/* One configured delay bdev, created or waiting for its base. */
struct delay_config {
	char *base_name;
	char *name;
	struct spio_uuid uuid;
	uint64_t latency_us[VBDEV_DELAY_NUM_LATENCIES];
	struct delay_config *next;
};

struct delay_disk {
	struct vbdev_stack s;
	uint64_t latency_us[VBDEV_DELAY_NUM_LATENCIES];
	uint64_t latency_ticks[VBDEV_DELAY_NUM_LATENCIES];
};

/* A FIFO of I/Os waiting for their completion tick. */
struct delay_queue {
	struct spio_bdev_io *head, *tail;
};

/* One read and one write in every window of 100 get the p99 latency. */
#define P99_WINDOW 100

struct delay_channel {
	struct delay_queue q[VBDEV_DELAY_NUM_LATENCIES];
	struct spio_poller *poller;
	unsigned int seed;
	uint32_t count[2]; /* reads, writes in the current window */
	uint32_t p99_slot[2];
};

/* After the stack's context in every I/O's driver context. */
struct delay_io {
	struct spio_bdev_io *next;
	struct spio_io_channel *ch;
	uint64_t tick;
	enum spio_bdev_io_status status;
	int kind; /* enum vbdev_delay_latency, or -1: no delay */
};

static uint64_t (*g_delay_clock)(void) = spio_get_ticks;
static struct delay_config *g_delay_configs;

void vbdev_delay_set_clock(uint64_t (*clock)(void))
{
	g_delay_clock = clock != NULL ? clock : spio_get_ticks;
}

static size_t delay_get_ctx_size(void)
{
	return vbdev_stack_io_ctx_size() + sizeof(struct delay_io);
}

static void delay_examine_disk(struct spio_bdev *bdev);
static void delay_module_fini(void);

static struct spio_bdev_module g_delay_module = {
    .name = "delay",
    .module_fini = delay_module_fini,
    .get_ctx_size = delay_get_ctx_size,
    .examine_disk = delay_examine_disk,
};
SPIO_BDEV_MODULE_REGISTER(g_delay_module)

static struct delay_config **delay_config_find(const char *name)
{
	struct delay_config **c;

	for (c = &g_delay_configs; *c != NULL; c = &(*c)->next) {
		if (strcmp((*c)->name, name) == 0) {
			break;
		}
	}
	return c;
}

static void delay_config_free(struct delay_config *c)
{
	free(c->base_name);
	free(c->name);
	free(c);
}

static void delay_module_fini(void)
{
	while (g_delay_configs != NULL) {
		struct delay_config *c = g_delay_configs;

		g_delay_configs = c->next;
		delay_config_free(c);
	}
}

static void delay_set_latency(struct delay_disk *d, int kind, uint64_t us)
{
	d->latency_us[kind] = us;
	d->latency_ticks[kind] = spio_us_to_ticks(us);
}

/*
 * The I/O path
 */

static void queue_push(struct delay_queue *q, struct spio_bdev_io *io)
{
	((struct delay_io *)vbdev_stack_io_ctx(io))->next = NULL;
	if (q->tail != NULL) {
		((struct delay_io *)vbdev_stack_io_ctx(q->tail))->next = io;
	} else {
		q->head = io;
	}
	q->tail = io;
}

static struct spio_bdev_io *queue_pop(struct delay_queue *q)
{
	struct spio_bdev_io *io = q->head;

	if (io != NULL) {
		q->head = ((struct delay_io *)vbdev_stack_io_ctx(io))->next;
		if (q->head == NULL) {
			q->tail = NULL;
		}
	}
	return io;
}

/*
 * Each queue is in completion order unless a latency was changed while it
 * held I/O; then, as SPDK, the later I/O waits behind the earlier ones.
 */
static int delay_poll(void *arg)
{
	struct delay_channel *dch = arg;
	uint64_t now = g_delay_clock();
	int done = 0;

	for (int k = 0; k < VBDEV_DELAY_NUM_LATENCIES; k++) {
		struct delay_queue *q = &dch->q[k];

		while (q->head != NULL &&
		       ((struct delay_io *)vbdev_stack_io_ctx(q->head))->tick <= now) {
			struct spio_bdev_io *io = queue_pop(q);

			spio_bdev_io_complete(io,
					      ((struct delay_io *)vbdev_stack_io_ctx(io))->status);
			done++;
		}
	}
	return done > 0 ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
}

static void delay_fail_queued(struct delay_channel *dch)
{
	for (int k = 0; k < VBDEV_DELAY_NUM_LATENCIES; k++) {
		struct spio_bdev_io *io;

		while ((io = queue_pop(&dch->q[k])) != NULL) {
			spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_FAILED);
		}
	}
}

static void delay_base_done(struct spio_bdev_io *io, enum spio_bdev_io_status status)
{
	struct delay_io *dio = vbdev_stack_io_ctx(io);
	struct delay_disk *d = io->bdev->ctxt;
	struct delay_channel *dch = vbdev_stack_channel_ctx(dio->ch);

	dio->status = status;
	/* SPDK's order: the latency starts when the base is done */
	dio->tick = g_delay_clock() + d->latency_ticks[dio->kind];
	queue_push(&dch->q[dio->kind], io);
}

/* Average or p99: one I/O of each window of 100, at a random place in it. */
static int delay_pick(struct delay_channel *dch, int dir)
{
	bool p99;

	if (dch->count[dir] == 0) {
		dch->p99_slot[dir] = (uint32_t)rand_r(&dch->seed) % P99_WINDOW;
	}
	p99 = dch->count[dir] == dch->p99_slot[dir];
	dch->count[dir] = (dch->count[dir] + 1) % P99_WINDOW;
	if (dir == 0) {
		return p99 ? VBDEV_DELAY_P99_READ : VBDEV_DELAY_AVG_READ;
	}
	return p99 ? VBDEV_DELAY_P99_WRITE : VBDEV_DELAY_AVG_WRITE;
}

static void delay_reset_channel(struct spio_io_channel_iter *iter)
{
	delay_fail_queued(vbdev_stack_channel_ctx(spio_io_channel_iter_get_channel(iter)));
	spio_for_each_channel_continue(iter, 0);
}

static void delay_reset_done(struct spio_io_channel_iter *iter, int status)
{
	struct spio_bdev_io *io = spio_io_channel_iter_get_ctx(iter);
	struct delay_io *dio = vbdev_stack_io_ctx(io);

	if (status != 0) {
		spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_FAILED);
		return;
	}
	vbdev_stack_forward(dio->ch, io, spio_bdev_io_complete);
}

static void delay_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	struct delay_io *dio = vbdev_stack_io_ctx(io);
	struct delay_channel *dch = vbdev_stack_channel_ctx(ch);
	struct delay_disk *d = io->bdev->ctxt;

	dio->ch = ch;
	dio->next = NULL;
	switch (io->type) {
	case SPIO_BDEV_IO_TYPE_READ:
		dio->kind = delay_pick(dch, 0);
		vbdev_stack_forward(ch, io, delay_base_done);
		break;
	case SPIO_BDEV_IO_TYPE_WRITE:
		dio->kind = delay_pick(dch, 1);
		vbdev_stack_forward(ch, io, delay_base_done);
		break;
	case SPIO_BDEV_IO_TYPE_RESET:
		/* as SPDK: the delayed I/O ends (failed: spio has no ABORTED), then the base resets
		 */
		if (spio_for_each_channel(&d->s.io_device, delay_reset_channel, io,
					  delay_reset_done) != 0) {
			spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_FAILED);
		}
		break;
	default:
		dio->kind = -1;
		vbdev_stack_forward(ch, io, spio_bdev_io_complete);
		break;
	}
}

static int delay_ch_create(struct vbdev_stack *s, void *mod_ch)
{
	struct delay_channel *dch = mod_ch;

	memset(dch, 0, sizeof(*dch));
	dch->seed = (unsigned int)(spio_get_ticks() ^ (uintptr_t)dch);
	dch->poller = spio_poller_register_named(delay_poll, dch, 0, "delay_poll");
	if (dch->poller == NULL) {
		SPIO_ERRLOG("%s: cannot register the delay poller", s->bdev.name);
		return -ENOMEM;
	}
	return 0;
}

static void delay_ch_destroy(struct vbdev_stack *s, void *mod_ch)
{
	struct delay_channel *dch = mod_ch;

	(void)s;
	delay_fail_queued(dch);
	spio_poller_unregister(&dch->poller);
}

static int delay_destruct(void *ctxt)
{
	return vbdev_stack_destruct(ctxt);
}

static void delay_free(struct vbdev_stack *s)
{
	vbdev_stack_free_name(s);
	free(SPIO_CONTAINEROF(s, struct delay_disk, s));
}

static void delay_write_params(struct delay_disk *d, struct spio_json_write_ctx *w)
{
	spio_json_write_named_string(w, "name", d->s.bdev.name);
	spio_json_write_named_string(w, "base_bdev_name", d->s.base->name);
	spio_json_write_named_uuid(w, "uuid", &d->s.bdev.uuid);
	spio_json_write_named_uint64(w, "avg_read_latency", d->latency_us[VBDEV_DELAY_AVG_READ]);
	spio_json_write_named_uint64(w, "p99_read_latency", d->latency_us[VBDEV_DELAY_P99_READ]);
	spio_json_write_named_uint64(w, "avg_write_latency", d->latency_us[VBDEV_DELAY_AVG_WRITE]);
	spio_json_write_named_uint64(w, "p99_write_latency", d->latency_us[VBDEV_DELAY_P99_WRITE]);
}

static void delay_dump_info_json(void *ctxt, struct spio_json_write_ctx *w)
{
	spio_json_write_named_object_begin(w, "delay");
	delay_write_params(ctxt, w);
	spio_json_write_object_end(w);
}

static void delay_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_delay_create");
	spio_json_write_named_object_begin(w, "params");
	delay_write_params(bdev->ctxt, w);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

static const struct spio_bdev_fn_table g_delay_fn_table = {
    .destruct = delay_destruct,
    .submit_request = delay_submit,
    .io_type_supported = vbdev_stack_io_type_supported,
    .get_io_channel = vbdev_stack_get_io_channel,
    .dump_info_json = delay_dump_info_json,
    .write_config_json = delay_write_config_json,
};

static const struct vbdev_stack_ops g_delay_ops = {
    .module = &g_delay_module,
    .fn_table = &g_delay_fn_table,
    .ch_size = sizeof(struct delay_channel),
    .ch_create = delay_ch_create,
    .ch_destroy = delay_ch_destroy,
    .free = delay_free,
};

static int delay_build(struct delay_config *c, struct spio_bdev **out)
{
	struct delay_disk *d = calloc(1, sizeof(*d));
	int rc;

	if (d == NULL) {
		return -ENOMEM;
	}
	for (int k = 0; k < VBDEV_DELAY_NUM_LATENCIES; k++) {
		delay_set_latency(d, k, c->latency_us[k]);
	}
	rc = vbdev_stack_create(&d->s, &g_delay_ops, c->base_name, c->name, &c->uuid, "delay");
	if (rc != 0) {
		free(d);
		return rc;
	}
	/* the same uuid when the base comes back */
	c->uuid = d->s.bdev.uuid;
	if (out != NULL) {
		*out = &d->s.bdev;
	}
	return 0;
}

/* In the disk phase, as passthru (see there). */
static void delay_examine_disk(struct spio_bdev *bdev)
{
	for (struct delay_config *c = g_delay_configs; c != NULL; c = c->next) {
		if (strcmp(c->base_name, bdev->name) == 0 &&
		    spio_bdev_get_by_name(c->name) == NULL) {
			int rc = delay_build(c, NULL);

			if (rc != 0) {
				SPIO_ERRLOG("delay %s on %s: %s", c->name, bdev->name,
					    strerror(-rc));
			}
		}
	}
	spio_bdev_module_examine_done(&g_delay_module);
}

int vbdev_delay_create(const char *base_name, const char *name, const struct spio_uuid *uuid,
		       const uint64_t latency_us[VBDEV_DELAY_NUM_LATENCIES],
		       struct spio_bdev **bdev)
{
	struct delay_config *c;
	int rc;

	if (base_name == NULL || name == NULL || base_name[0] == '\0' || name[0] == '\0' ||
	    latency_us == NULL || bdev == NULL) {
		return -EINVAL;
	}
	*bdev = NULL;
	if (latency_us[VBDEV_DELAY_P99_READ] < latency_us[VBDEV_DELAY_AVG_READ] ||
	    latency_us[VBDEV_DELAY_P99_WRITE] < latency_us[VBDEV_DELAY_AVG_WRITE]) {
		SPIO_ERRLOG("delay %s: a p99 latency is below its average", name);
		return -EINVAL;
	}
	if (*delay_config_find(name) != NULL || spio_bdev_get_by_name(name) != NULL) {
		SPIO_ERRLOG("delay %s: the name is taken", name);
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->base_name = strdup(base_name)) == NULL ||
	    (c->name = strdup(name)) == NULL) {
		if (c != NULL) {
			delay_config_free(c);
		}
		return -ENOMEM;
	}
	if (uuid != NULL) {
		c->uuid = *uuid;
	}
	memcpy(c->latency_us, latency_us, sizeof(c->latency_us));
	rc = delay_build(c, bdev);
	if (rc == -ENODEV) {
		SPIO_NOTICELOG("delay %s: waiting for base bdev %s", name, base_name);
		rc = 0;
	}
	if (rc != 0) {
		delay_config_free(c);
		return rc;
	}
	c->next = g_delay_configs;
	g_delay_configs = c;
	return 0;
}

static struct delay_disk *delay_disk_get(const char *name)
{
	struct spio_bdev *b = spio_bdev_get_by_name(name);

	return b != NULL && b->module == &g_delay_module ? b->ctxt : NULL;
}

int vbdev_delay_update_latency(const char *name, enum vbdev_delay_latency type, uint64_t latency_us)
{
	struct delay_config *c;
	struct delay_disk *d;

	if (name == NULL) {
		return -EINVAL;
	}
	d = delay_disk_get(name);
	if (d == NULL) {
		return -ENODEV;
	}
	if ((unsigned int)type >= VBDEV_DELAY_NUM_LATENCIES) {
		return -EINVAL;
	}
	delay_set_latency(d, type, latency_us);
	/* kept for a re-creation when the base comes back */
	c = *delay_config_find(name);
	if (c != NULL) {
		c->latency_us[type] = latency_us;
	}
	return 0;
}

struct delay_delete_ctx {
	spio_bdev_delete_cb cb;
	void *cb_arg;
};

static void delay_deleted_msg(void *arg)
{
	struct delay_delete_ctx *ctx = arg;

	ctx->cb(ctx->cb_arg, 0);
	free(ctx);
}

int vbdev_delay_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg)
{
	struct delay_config **cp, *c;
	struct delay_disk *d;
	struct delay_delete_ctx *ctx;
	int rc;

	if (name == NULL) {
		return -EINVAL;
	}
	cp = delay_config_find(name);
	c = *cp;
	d = delay_disk_get(name);
	if (d != NULL) {
		rc = spio_bdev_unregister(&d->s.bdev, cb, cb_arg);
		if (rc == 0 && c != NULL) {
			*cp = c->next;
			delay_config_free(c);
		}
		return rc;
	}
	if (c == NULL) {
		return -ENODEV;
	}
	/* only configured, its base never came: forget it, answer as usual */
	if (cb != NULL) {
		ctx = malloc(sizeof(*ctx));
		if (ctx == NULL) {
			return -ENOMEM;
		}
		ctx->cb = cb;
		ctx->cb_arg = cb_arg;
		if (spio_thread_send_msg(spio_get_thread(), delay_deleted_msg, ctx) != 0) {
			free(ctx);
			return -ENOMEM;
		}
	}
	*cp = c->next;
	delay_config_free(c);
	return 0;
}
