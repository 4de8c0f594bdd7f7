/*
 * io_devices, per-thread io_channels and channel traversal.
 *
 * The device list and every thread's channel list change only under
 * g_devlist_lock; a thread reads its own channel list without the lock (only
 * it writes there), and traversals read other threads' lists under the lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/log.h"
#include "spio/util.h"
#include "thread_internal.h"

struct io_device {
	void *io_device;
	spio_io_channel_create_cb create_cb;
	spio_io_channel_destroy_cb destroy_cb;
	spio_io_device_unregister_cb unregister_cb;
	struct spio_thread *unregister_thread;
	uint32_t ctx_size;
	uint32_t refcnt;	 /* channels alive */
	uint32_t for_each_count; /* traversals in progress */
	bool unregistered;
	char name[64];
	TAILQ_ENTRY(io_device) link;
	struct spio_msg free_msg;
};

struct spio_io_channel_iter {
	void *io_device;
	struct io_device *dev;
	spio_channel_msg fn;
	spio_channel_for_each_cpl cpl;
	void *ctx;
	int status;
	struct spio_thread *origin;
	uint64_t cur_thread_id;
	struct spio_io_channel *ch;
	struct spio_msg msg; /* one hop in flight at a time */
};

pthread_mutex_t g_devlist_lock = PTHREAD_MUTEX_INITIALIZER;
static TAILQ_HEAD(, io_device) g_devices = TAILQ_HEAD_INITIALIZER(g_devices);

#define CH_CTX_OFFSET spio_align_up(sizeof(struct spio_io_channel), SPIO_CACHE_LINE_SIZE)

static struct io_device *find_device(void *io_device)
{
	struct io_device *d;

	TAILQ_FOREACH (d, &g_devices, link) {
		if (d->io_device == io_device) {
			return d;
		}
	}
	return NULL;
}

int spio_io_device_register(void *io_device, spio_io_channel_create_cb create_cb,
			    spio_io_channel_destroy_cb destroy_cb, uint32_t ctx_size,
			    const char *name)
{
	struct io_device *d;

	if (io_device == NULL || create_cb == NULL || destroy_cb == NULL) {
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		return -ENOMEM;
	}
	d->io_device = io_device;
	d->create_cb = create_cb;
	d->destroy_cb = destroy_cb;
	d->ctx_size = ctx_size;
	snprintf(d->name, sizeof(d->name), "%s", name ? name : "io_device");

	pthread_mutex_lock(&g_devlist_lock);
	if (find_device(io_device) != NULL) {
		pthread_mutex_unlock(&g_devlist_lock);
		SPIO_ERRLOG("io_device %s (%p) is already registered\n", d->name, io_device);
		free(d);
		return -EEXIST;
	}
	TAILQ_INSERT_TAIL(&g_devices, d, link);
	pthread_mutex_unlock(&g_devlist_lock);
	return 0;
}

static void device_free_msg(void *arg)
{
	struct io_device *d = arg;

	if (d->unregister_cb) {
		d->unregister_cb(d->io_device);
	}
	free(d);
}

/* With g_devlist_lock held: if an unregistered device has no channels and no
 * traversals left, drop it and schedule its callback. */
static void device_maybe_finish(struct io_device *d)
{
	if (!d->unregistered || d->refcnt || d->for_each_count) {
		return;
	}
	TAILQ_REMOVE(&g_devices, d, link);
	if (spio_thread_send_msg_embedded(d->unregister_thread, &d->free_msg, device_free_msg, d) !=
	    0) {
		SPIO_ERRLOG("io_device %s: unregistering thread gone; callback dropped\n", d->name);
		free(d);
	}
}

int spio_io_device_unregister(void *io_device, spio_io_device_unregister_cb unregister_cb)
{
	struct spio_thread *t = spio_get_thread();
	struct io_device *d;

	if (t == NULL || io_device == NULL) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_devlist_lock);
	d = find_device(io_device);
	if (d == NULL || d->unregistered) {
		pthread_mutex_unlock(&g_devlist_lock);
		return -ENOENT;
	}
	d->unregistered = true;
	d->unregister_cb = unregister_cb;
	d->unregister_thread = t;
	device_maybe_finish(d);
	pthread_mutex_unlock(&g_devlist_lock);
	return 0;
}

struct spio_io_channel *spio_get_io_channel(void *io_device)
{
	struct spio_thread *t = spio_get_thread();
	struct spio_io_channel *ch;
	struct io_device *d;
	int rc;

	if (t == NULL) {
		errno = EINVAL;
		return NULL;
	}
	/* Warm path: this thread already holds one. Unlocked: only we write it. */
	TAILQ_FOREACH (ch, &t->channels, link) {
		if (ch->dev->io_device == io_device) {
			ch->ref++;
			/* A deferred destroy now finds ref > 0 and keeps it. */
			__atomic_store_n(&ch->destroy_pending, false, __ATOMIC_RELAXED);
			return ch;
		}
	}

	pthread_mutex_lock(&g_devlist_lock);
	d = find_device(io_device);
	if (d == NULL || d->unregistered) {
		pthread_mutex_unlock(&g_devlist_lock);
		errno = ENODEV;
		return NULL;
	}
	d->refcnt++;
	pthread_mutex_unlock(&g_devlist_lock);

	ch = aligned_alloc(SPIO_CACHE_LINE_SIZE,
			   spio_align_up(CH_CTX_OFFSET + d->ctx_size, SPIO_CACHE_LINE_SIZE));
	if (ch == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	memset(ch, 0, CH_CTX_OFFSET + d->ctx_size);
	ch->thread = t;
	ch->dev = d;
	ch->ref = 1;
	rc = d->create_cb(io_device, (uint8_t *)ch + CH_CTX_OFFSET);
	if (rc != 0) {
		free(ch);
		goto fail;
	}
	pthread_mutex_lock(&g_devlist_lock);
	TAILQ_INSERT_TAIL(&t->channels, ch, link);
	t->channel_count++;
	pthread_mutex_unlock(&g_devlist_lock);
	return ch;

fail:
	pthread_mutex_lock(&g_devlist_lock);
	d->refcnt--;
	device_maybe_finish(d);
	pthread_mutex_unlock(&g_devlist_lock);
	errno = rc < 0 ? -rc : EINVAL;
	return NULL;
}

static void channel_destroy(struct spio_io_channel *ch)
{
	struct spio_thread *t = ch->thread;
	struct io_device *d = ch->dev;

	d->destroy_cb(d->io_device, (uint8_t *)ch + CH_CTX_OFFSET);
	pthread_mutex_lock(&g_devlist_lock);
	TAILQ_REMOVE(&t->channels, ch, link);
	t->channel_count--;
	d->refcnt--;
	device_maybe_finish(d);
	pthread_mutex_unlock(&g_devlist_lock);
	free(ch);
}

static void put_channel_deferred(void *arg)
{
	struct spio_io_channel *ch = arg;

	ch->destroy_msg_queued = false;
	/* Someone got it again in between: keep it. */
	if (ch->ref > 0 || !__atomic_load_n(&ch->destroy_pending, __ATOMIC_RELAXED)) {
		return;
	}
	channel_destroy(ch);
}

int spio_put_io_channel(struct spio_io_channel *ch)
{
	if (ch == NULL) {
		return -EINVAL;
	}
	if (ch->thread != spio_get_thread()) {
		SPIO_ERRLOG("io_channel of %s put from a thread that does not own it; ignored\n",
			    ch->dev->name);
		return -EINVAL;
	}
	if (ch->ref == 0) {
		SPIO_ERRLOG("io_channel of %s put more often than got\n", ch->dev->name);
		return -EALREADY;
	}
	if (--ch->ref > 0 || __atomic_load_n(&ch->destroy_pending, __ATOMIC_RELAXED)) {
		return 0;
	}
	__atomic_store_n(&ch->destroy_pending, true, __ATOMIC_RELAXED);
	/* Destroyed from a message, after the current callback: it may be
	 * using the channel still. A message already queued by an earlier put
	 * (the channel was got again since) will do. */
	if (!ch->destroy_msg_queued) {
		ch->destroy_msg_queued = true;
		/* Cannot fail: the channel's thread runs us, so it has not exited. */
		spio_thread_send_msg_embedded(ch->thread, &ch->destroy_msg, put_channel_deferred,
					      ch);
	}
	return 0;
}

void *spio_io_channel_get_ctx(struct spio_io_channel *ch)
{
	return ch ? (uint8_t *)ch + CH_CTX_OFFSET : NULL;
}

struct spio_io_channel *spio_io_channel_from_ctx(void *ctx)
{
	return ctx ? (struct spio_io_channel *)((uint8_t *)ctx - CH_CTX_OFFSET) : NULL;
}

struct spio_thread *spio_io_channel_get_thread(struct spio_io_channel *ch)
{
	return ch ? ch->thread : NULL;
}

void *spio_io_channel_get_io_device(struct spio_io_channel *ch)
{
	return ch ? ch->dev->io_device : NULL;
}

int spio_thread_for_each_io_channel(struct spio_thread *t, spio_io_channel_info_fn fn, void *ctx)
{
	struct spio_io_channel *ch;

	if (t == NULL || fn == NULL) {
		return -EINVAL;
	}
	/* Unlocked: only the owner writes its list, and the caller is the owner
	 * (or nobody polls it). A channel whose last reference went waits for
	 * its deferred destroy: released for the user, left out. */
	TAILQ_FOREACH (ch, &t->channels, link) {
		struct spio_io_channel_info info = {.name = ch->dev->name, .ref = ch->ref};

		if (ch->ref > 0) {
			fn(&info, ctx);
		}
	}
	return 0;
}

/* --- traversal ---------------------------------------------------------------- */

/* With g_devlist_lock held: the channel of `d` on thread `t`, or NULL. */
static struct spio_io_channel *channel_on(struct spio_thread *t, struct io_device *d)
{
	struct spio_io_channel *ch;

	TAILQ_FOREACH (ch, &t->channels, link) {
		if (ch->dev == d && !__atomic_load_n(&ch->destroy_pending, __ATOMIC_RELAXED)) {
			return ch;
		}
	}
	return NULL;
}

static void iter_step(void *arg);

static void iter_done(void *arg)
{
	struct spio_io_channel_iter *it = arg;

	it->cpl(it, it->status);
	pthread_mutex_lock(&g_devlist_lock);
	it->dev->for_each_count--;
	device_maybe_finish(it->dev);
	pthread_mutex_unlock(&g_devlist_lock);
	free(it);
}

/* Send the iterator to the next thread (by id) holding a channel, or home. */
static void iter_advance(struct spio_io_channel_iter *it)
{
	for (;;) {
		struct spio_thread *t, *next = NULL;

		pthread_mutex_lock(&g_threads_lock);
		pthread_mutex_lock(&g_devlist_lock);
		TAILQ_FOREACH (t, &g_threads, link) {
			if (t->id > it->cur_thread_id && channel_on(t, it->dev)) {
				next = t;
				break;
			}
		}
		pthread_mutex_unlock(&g_devlist_lock);
		pthread_mutex_unlock(&g_threads_lock);

		if (next == NULL || it->status != 0) {
			if (spio_thread_send_msg_embedded(it->origin, &it->msg, iter_done, it) !=
			    0) {
				SPIO_ERRLOG("for_each_channel: origin thread gone\n");
			}
			return;
		}
		it->cur_thread_id = next->id;
		/* A thread holding a channel cannot have exited; should it have
		 * exited meanwhile, skip it. */
		if (spio_thread_send_msg_embedded(next, &it->msg, iter_step, it) == 0) {
			return;
		}
		SPIO_ERRLOG("for_each_channel: thread %s exited; skipped\n", next->name);
	}
}

static void iter_step(void *arg)
{
	struct spio_io_channel_iter *it = arg;
	struct spio_thread *t = spio_get_thread();

	pthread_mutex_lock(&g_devlist_lock);
	it->ch = channel_on(t, it->dev);
	pthread_mutex_unlock(&g_devlist_lock);
	if (it->ch == NULL) {
		/* Released since we looked: nothing to visit here. */
		iter_advance(it);
		return;
	}
	it->fn(it);
}

void spio_for_each_channel_continue(struct spio_io_channel_iter *it, int status)
{
	if (it == NULL) {
		return;
	}
	it->status = status;
	it->ch = NULL;
	iter_advance(it);
}

int spio_for_each_channel(void *io_device, spio_channel_msg fn, void *ctx,
			  spio_channel_for_each_cpl cpl)
{
	struct spio_thread *t = spio_get_thread();
	struct spio_io_channel_iter *it;
	struct io_device *d;

	if (t == NULL || fn == NULL || cpl == NULL) {
		return -EINVAL;
	}
	it = calloc(1, sizeof(*it));
	if (it == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_devlist_lock);
	d = find_device(io_device);
	if (d == NULL) {
		pthread_mutex_unlock(&g_devlist_lock);
		free(it);
		return -ENODEV;
	}
	d->for_each_count++;
	pthread_mutex_unlock(&g_devlist_lock);

	*it = (struct spio_io_channel_iter){
	    .io_device = io_device, .dev = d, .fn = fn, .cpl = cpl, .ctx = ctx, .origin = t};
	iter_advance(it);
	return 0;
}

void *spio_io_channel_iter_get_io_device(struct spio_io_channel_iter *it)
{
	return it ? it->io_device : NULL;
}

struct spio_io_channel *spio_io_channel_iter_get_channel(struct spio_io_channel_iter *it)
{
	return it ? it->ch : NULL;
}

void *spio_io_channel_iter_get_ctx(struct spio_io_channel_iter *it)
{
	return it ? it->ctx : NULL;
}

/* --- teardown and diagnostics ------------------------------------------------ */

void io_channel_report(struct spio_thread *t)
{
	struct spio_io_channel *ch;

	pthread_mutex_lock(&g_devlist_lock);
	TAILQ_FOREACH (ch, &t->channels, link) {
		SPIO_ERRLOG("thread %s: channel of io_device %s still held (%u references)\n",
			    t->name, ch->dev->name, ch->ref);
	}
	pthread_mutex_unlock(&g_devlist_lock);
}

void io_channel_free_all(struct spio_thread *t)
{
	struct spio_io_channel *ch;

	while ((ch = TAILQ_FIRST(&t->channels)) != NULL) {
		/* The destroy callback runs with the dying thread current. */
		struct spio_thread *prev = spio_thread_enter(t);
		channel_destroy(ch);
		spio_thread_leave(prev);
	}
}

void io_device_report_leftovers(void)
{
	struct io_device *d;

	pthread_mutex_lock(&g_devlist_lock);
	while ((d = TAILQ_FIRST(&g_devices)) != NULL) {
		SPIO_ERRLOG("io_device %s still registered at spio_thread_lib_fini\n", d->name);
		TAILQ_REMOVE(&g_devices, d, link);
		free(d);
	}
	pthread_mutex_unlock(&g_devlist_lock);
}
