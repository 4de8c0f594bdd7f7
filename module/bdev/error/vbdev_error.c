/* The "error" bdev module: SPDK's error injection bdev "EE_<base>". Each
 * armed I/O type counts down its injections; the rest is forwarded. */
#include "spio/bdev_error.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../passthru/vbdev_stack.h"
#include "spio/dma.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/thread.h"

/* Only read, write, unmap and flush take injections, as in SPDK. */
#define ERR_TYPES (SPIO_BDEV_IO_TYPE_FLUSH + 1)

struct err_config {
	char *base_name;
	struct spio_uuid uuid;
	struct err_config *next;
};

struct err_vector {
	uint32_t error_type;
	uint32_t num; /* atomic: any thread counts down */
	uint64_t queue_depth;
	uint64_t corrupt_offset;
	uint8_t corrupt_value;
	uint32_t nvme_sct;
	uint32_t nvme_sc;
};

struct err_disk {
	struct vbdev_stack s;
	pthread_mutex_t lock; /* writers of the vector against each other */
	struct err_vector vec[ERR_TYPES];
};

struct err_channel {
	uint64_t inflight;
	struct spio_bdev_io *pending_head, *pending_tail;
};

struct err_io {
	uint32_t error_type;
	void *buf; /* corrupted copy of a write's data */
	struct spio_bdev_io *next;
	struct spio_io_channel *ch;
};

static struct err_config *g_err_configs;

static size_t err_get_ctx_size(void)
{
	return vbdev_stack_io_ctx_size() + sizeof(struct err_io);
}

static void err_examine_disk(struct spio_bdev *bdev);
static void err_module_fini(void);

static struct spio_bdev_module g_err_module = {
    .name = "error",
    .module_fini = err_module_fini,
    .get_ctx_size = err_get_ctx_size,
    .examine_disk = err_examine_disk,
};
SPIO_BDEV_MODULE_REGISTER(g_err_module)

static struct err_config **err_config_find(const char *base_name)
{
	struct err_config **c;

	for (c = &g_err_configs; *c != NULL; c = &(*c)->next) {
		if (strcmp((*c)->base_name, base_name) == 0) {
			break;
		}
	}
	return c;
}

static void err_config_remove(const char *base_name)
{
	struct err_config **cp = err_config_find(base_name), *c = *cp;

	if (c != NULL) {
		*cp = c->next;
		free(c->base_name);
		free(c);
	}
}

static void err_module_fini(void)
{
	while (g_err_configs != NULL) {
		err_config_remove(g_err_configs->base_name);
	}
}

/* Take one injection of `type` if armed, else NONE. */
static uint32_t err_take(struct err_disk *d, struct err_channel *ech, enum spio_bdev_io_type type)
{
	struct err_vector *v;
	uint32_t n;

	if (type <= SPIO_BDEV_IO_TYPE_INVALID || type >= ERR_TYPES) {
		return SPIO_BDEV_ERROR_TYPE_NONE;
	}
	v = &d->vec[type];
	if (ech->inflight < __atomic_load_n(&v->queue_depth, __ATOMIC_RELAXED)) {
		return SPIO_BDEV_ERROR_TYPE_NONE;
	}
	n = __atomic_load_n(&v->num, __ATOMIC_RELAXED);
	do {
		if (n == 0) {
			return SPIO_BDEV_ERROR_TYPE_NONE;
		}
	} while (!__atomic_compare_exchange_n(&v->num, &n, n - 1, false, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	return __atomic_load_n(&v->error_type, __ATOMIC_RELAXED);
}

/* XOR the byte at `off` of the iovecs (nothing if past their end). */
static void err_corrupt_iovs(struct iovec *iovs, int iovcnt, uint64_t off, uint8_t value)
{
	for (int i = 0; i < iovcnt; i++) {
		if (off < iovs[i].iov_len) {
			((uint8_t *)iovs[i].iov_base)[off] ^= value;
			return;
		}
		off -= iovs[i].iov_len;
	}
}

static void err_done(struct spio_bdev_io *io, enum spio_bdev_io_status status)
{
	struct err_io *eio = vbdev_stack_io_ctx(io);
	struct err_channel *ech = vbdev_stack_channel_ctx(eio->ch);
	struct err_disk *d = io->bdev->ctxt;

	ech->inflight--;
	if (eio->buf != NULL) {
		spio_dma_free(eio->buf);
		eio->buf = NULL;
	}
	if (status == SPIO_BDEV_IO_STATUS_SUCCESS && io->type == SPIO_BDEV_IO_TYPE_READ &&
	    eio->error_type == SPIO_BDEV_ERROR_TYPE_CORRUPT_DATA) {
		err_corrupt_iovs(io->u.iovs, io->u.iovcnt, d->vec[io->type].corrupt_offset,
				 d->vec[io->type].corrupt_value);
	}
	spio_bdev_io_complete(io, status);
}

static void err_forward(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	struct err_io *eio = vbdev_stack_io_ctx(io);
	struct err_channel *ech = vbdev_stack_channel_ctx(ch);
	struct err_disk *d = io->bdev->ctxt;
	uint64_t len = io->u.num_blocks * io->bdev->blocklen;

	ech->inflight++;
	if (io->type == SPIO_BDEV_IO_TYPE_WRITE &&
	    eio->error_type == SPIO_BDEV_ERROR_TYPE_CORRUPT_DATA) {
		/* the caller's buffer stays intact: a copy is corrupted and written */
		eio->buf = spio_dma_malloc(len, spio_bdev_get_buf_align(io->bdev));
		if (eio->buf == NULL) {
			err_done(io, SPIO_BDEV_IO_STATUS_FAILED);
			return;
		}
		spio_copy_iovs_to_buf(eio->buf, len, io->u.iovs, io->u.iovcnt);
		struct iovec iov = {.iov_base = eio->buf, .iov_len = len};
		err_corrupt_iovs(&iov, 1, d->vec[io->type].corrupt_offset,
				 d->vec[io->type].corrupt_value);
		vbdev_stack_forward_write_buf(ch, io, eio->buf, err_done);
		return;
	}
	vbdev_stack_forward(ch, io, err_done);
}

static void err_submit(struct spio_io_channel *ch, struct spio_bdev_io *io);

static void err_retry_msg(void *arg)
{
	struct spio_bdev_io *io = arg;
	struct err_io *eio = vbdev_stack_io_ctx(io);

	err_submit(eio->ch, io);
}

static void err_fail_pending(struct err_channel *ech)
{
	struct spio_bdev_io *io;

	while ((io = ech->pending_head) != NULL) {
		ech->pending_head = ((struct err_io *)vbdev_stack_io_ctx(io))->next;
		spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_FAILED);
	}
	ech->pending_tail = NULL;
}

static void err_reset_channel(struct spio_io_channel_iter *iter)
{
	err_fail_pending(vbdev_stack_channel_ctx(spio_io_channel_iter_get_channel(iter)));
	spio_for_each_channel_continue(iter, 0);
}

static void err_reset_done(struct spio_io_channel_iter *iter, int status)
{
	spio_bdev_io_complete(spio_io_channel_iter_get_ctx(iter), status == 0
								      ? SPIO_BDEV_IO_STATUS_SUCCESS
								      : SPIO_BDEV_IO_STATUS_FAILED);
}

static void err_submit(struct spio_io_channel *ch, struct spio_bdev_io *io)
{
	struct err_io *eio = vbdev_stack_io_ctx(io);
	struct err_channel *ech = vbdev_stack_channel_ctx(ch);
	struct err_disk *d = io->bdev->ctxt;

	memset(eio, 0, sizeof(*eio));
	eio->ch = ch;
	if (io->type == SPIO_BDEV_IO_TYPE_RESET) {
		/* as SPDK: a reset ends the held I/O (failed here: spio has no ABORTED) */
		if (spio_for_each_channel(&d->s.io_device, err_reset_channel, io, err_reset_done) !=
		    0) {
			spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_FAILED);
		}
		return;
	}
	eio->error_type = err_take(d, ech, io->type);
	switch (eio->error_type) {
	case SPIO_BDEV_ERROR_TYPE_FAILURE:
	case SPIO_BDEV_ERROR_TYPE_NVME_FAILURE:
		spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_FAILED);
		break;
	case SPIO_BDEV_ERROR_TYPE_PENDING:
		if (ech->pending_tail != NULL) {
			((struct err_io *)vbdev_stack_io_ctx(ech->pending_tail))->next = io;
		} else {
			ech->pending_head = io;
		}
		ech->pending_tail = io;
		break;
	case SPIO_BDEV_ERROR_TYPE_NOMEM:
		/* SPDK's core retries a NOMEM I/O later; here the module does */
		if (spio_thread_send_msg(spio_get_thread(), err_retry_msg, io) != 0) {
			spio_bdev_io_complete(io, SPIO_BDEV_IO_STATUS_FAILED);
		}
		break;
	default:
		err_forward(ch, io);
		break;
	}
}

static void err_resume_channel(struct spio_io_channel_iter *iter)
{
	struct spio_io_channel *ch = spio_io_channel_iter_get_channel(iter);
	struct err_channel *ech = vbdev_stack_channel_ctx(ch);
	struct spio_bdev_io *io = ech->pending_head;

	ech->pending_head = ech->pending_tail = NULL;
	while (io != NULL) {
		struct spio_bdev_io *next = ((struct err_io *)vbdev_stack_io_ctx(io))->next;

		err_submit(ch, io);
		io = next;
	}
	spio_for_each_channel_continue(iter, 0);
}

static void err_resume_done(struct spio_io_channel_iter *iter, int status)
{
	(void)iter;
	(void)status;
}

static void err_ch_destroy(struct vbdev_stack *s, void *mod_ch)
{
	(void)s;
	err_fail_pending(mod_ch);
}

static int err_destruct(void *ctxt)
{
	struct err_disk *d = ctxt;

	/* as SPDK: a removed error bdev is forgotten, hot remove included */
	err_config_remove(d->s.base->name);
	return vbdev_stack_destruct(&d->s);
}

static void err_free(struct vbdev_stack *s)
{
	struct err_disk *d = SPIO_CONTAINEROF(s, struct err_disk, s);

	vbdev_stack_free_name(s);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static void err_dump_info_json(void *ctxt, struct spio_json_write_ctx *w)
{
	struct err_disk *d = ctxt;

	spio_json_write_named_object_begin(w, "error_disk");
	spio_json_write_named_string(w, "base_bdev", d->s.base->name);
	spio_json_write_object_end(w);
}

static void err_write_config_json(struct spio_bdev *bdev, struct spio_json_write_ctx *w)
{
	struct err_disk *d = bdev->ctxt;

	spio_json_write_object_begin(w);
	spio_json_write_named_string(w, "method", "bdev_error_create");
	spio_json_write_named_object_begin(w, "params");
	spio_json_write_named_string(w, "base_name", d->s.base->name);
	spio_json_write_named_uuid(w, "uuid", &bdev->uuid);
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

static const struct spio_bdev_fn_table g_err_fn_table = {
    .destruct = err_destruct,
    .submit_request = err_submit,
    .io_type_supported = vbdev_stack_io_type_supported,
    .get_io_channel = vbdev_stack_get_io_channel,
    .dump_info_json = err_dump_info_json,
    .write_config_json = err_write_config_json,
};

static const struct vbdev_stack_ops g_err_ops = {
    .module = &g_err_module,
    .fn_table = &g_err_fn_table,
    .ch_size = sizeof(struct err_channel),
    .ch_destroy = err_ch_destroy,
    .free = err_free,
};

static int err_build(const struct err_config *c, struct spio_bdev **out)
{
	struct err_disk *d = calloc(1, sizeof(*d));
	char name[256];
	int rc;

	if (d == NULL) {
		return -ENOMEM;
	}
	if ((size_t)snprintf(name, sizeof(name), "EE_%s", c->base_name) >= sizeof(name)) {
		free(d);
		return -EINVAL;
	}
	pthread_mutex_init(&d->lock, NULL);
	rc = vbdev_stack_create(&d->s, &g_err_ops, c->base_name, name, &c->uuid,
				"Error Injection Disk");
	if (rc != 0) {
		pthread_mutex_destroy(&d->lock);
		free(d);
		return rc;
	}
	if (out != NULL) {
		*out = &d->s.bdev;
	}
	return 0;
}

/*
 * In the disk phase, not the config phase: the core's config phase cannot
 * take a bdev registered from inside it (its examine count check misfires).
 */
static void err_examine_disk(struct spio_bdev *bdev)
{
	struct err_config *c = *err_config_find(bdev->name);
	int rc;

	if (c != NULL && (rc = err_build(c, NULL)) != 0) {
		SPIO_ERRLOG("error bdev on %s: %s", bdev->name, strerror(-rc));
	}
	spio_bdev_module_examine_done(&g_err_module);
}

int spio_bdev_error_create(const char *base_name, const struct spio_uuid *uuid,
			   struct spio_bdev **bdev)
{
	struct err_config *c;
	int rc;

	if (base_name == NULL || base_name[0] == '\0' || bdev == NULL) {
		return -EINVAL;
	}
	*bdev = NULL;
	if (*err_config_find(base_name) != NULL) {
		SPIO_ERRLOG("error bdev on %s: configured already", base_name);
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->base_name = strdup(base_name)) == NULL) {
		free(c);
		return -ENOMEM;
	}
	if (uuid != NULL) {
		c->uuid = *uuid;
	}
	rc = err_build(c, bdev);
	if (rc == -ENODEV) {
		SPIO_NOTICELOG("error bdev EE_%s: waiting for base bdev %s", base_name, base_name);
		rc = 0;
	}
	if (rc != 0) {
		free(c->base_name);
		free(c);
		return rc;
	}
	c->next = g_err_configs;
	g_err_configs = c;
	return 0;
}

static struct err_disk *err_find(const char *name)
{
	struct spio_bdev *bdev = name != NULL ? spio_bdev_get_by_name(name) : NULL;

	return bdev != NULL && bdev->module == &g_err_module ? bdev->ctxt : NULL;
}

int spio_bdev_error_delete(const char *name, spio_bdev_delete_cb cb, void *cb_arg)
{
	if (name == NULL) {
		return -EINVAL;
	}
	/* the configuration goes in destruct */
	return spio_bdev_unregister_by_name(name, &g_err_module, cb, cb_arg);
}

static void err_arm(struct err_vector *v, const struct spio_bdev_error_inject_opts *o)
{
	__atomic_store_n(&v->error_type, (uint32_t)o->error_type, __ATOMIC_RELAXED);
	__atomic_store_n(&v->queue_depth, o->queue_depth, __ATOMIC_RELAXED);
	v->corrupt_offset = o->corrupt_offset;
	v->corrupt_value = o->corrupt_value;
	v->nvme_sct = o->nvme_sct;
	v->nvme_sc = o->nvme_sc;
	/* last: the count makes the injection visible */
	__atomic_store_n(&v->num, o->num, __ATOMIC_RELEASE);
}

int spio_bdev_error_inject(const char *name, const struct spio_bdev_error_inject_opts *opts)
{
	struct err_disk *d;

	if (name == NULL || opts == NULL || opts->error_type < SPIO_BDEV_ERROR_TYPE_FAILURE ||
	    opts->error_type > SPIO_BDEV_ERROR_TYPE_NVME_FAILURE ||
	    (opts->io_type >= ERR_TYPES && opts->io_type != SPIO_BDEV_NUM_IO_TYPES)) {
		return -EINVAL;
	}
	if (opts->error_type == SPIO_BDEV_ERROR_TYPE_CORRUPT_DATA && opts->corrupt_value == 0) {
		SPIO_ERRLOG("%s: corrupt_value 0 would change nothing", name);
		return -EINVAL;
	}
	d = err_find(name);
	if (d == NULL) {
		return -ENODEV;
	}
	pthread_mutex_lock(&d->lock);
	for (int t = SPIO_BDEV_IO_TYPE_READ; t < ERR_TYPES; t++) {
		if (opts->io_type == SPIO_BDEV_IO_TYPE_INVALID) {
			__atomic_store_n(&d->vec[t].num, 0, __ATOMIC_RELAXED);
		} else if (opts->io_type == SPIO_BDEV_NUM_IO_TYPES || (int)opts->io_type == t) {
			err_arm(&d->vec[t], opts);
		}
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int spio_bdev_error_resume_pending(const char *name)
{
	struct err_disk *d;

	if (name == NULL) {
		return -EINVAL;
	}
	d = err_find(name);
	if (d == NULL) {
		return -ENODEV;
	}
	pthread_mutex_lock(&d->lock);
	for (int t = SPIO_BDEV_IO_TYPE_READ; t < ERR_TYPES; t++) {
		if (d->vec[t].error_type == SPIO_BDEV_ERROR_TYPE_PENDING) {
			__atomic_store_n(&d->vec[t].num, 0, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&d->lock);
	return spio_for_each_channel(&d->s.io_device, err_resume_channel, NULL, err_resume_done);
}
