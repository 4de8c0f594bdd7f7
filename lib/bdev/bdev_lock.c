/* LBA range locks: a lock is copied into every channel of the bdev (one
 * traversal), each visit waiting until the channel has no overlapping write
 * in flight; writes from other channels that overlap a held range are parked
 * on their channel and submitted by the unlock traversal. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "bdev_internal.h"
#include "spio/log.h"

static bool overlaps(uint64_t o1, uint64_t l1, uint64_t o2, uint64_t l2)
{
	return o1 < o2 + l2 && o2 < o1 + l1;
}

void bdev_io_list_add(struct spio_bdev_io **head, struct spio_bdev_io *io)
{
	io->internal.link_prev = NULL;
	io->internal.link_next = *head;
	if (*head != NULL) {
		(*head)->internal.link_prev = io;
	}
	*head = io;
}

void bdev_io_list_del(struct spio_bdev_io **head, struct spio_bdev_io *io)
{
	if (io->internal.link_prev != NULL) {
		io->internal.link_prev->internal.link_next = io->internal.link_next;
	} else {
		*head = io->internal.link_next;
	}
	if (io->internal.link_next != NULL) {
		io->internal.link_next->internal.link_prev = io->internal.link_prev;
	}
	io->internal.link_prev = io->internal.link_next = NULL;
}

bool bdev_io_blocked_by_lock(struct spio_bdev_channel *ch, struct spio_bdev_io *io)
{
	struct bdev_ch_range *r;

	if (!bdev_io_type_writes(io->type)) {
		return false;
	}
	for (r = ch->ranges; r != NULL; r = r->next) {
		if (r->owner_ch != ch &&
		    overlaps(r->offset, r->length, io->u.offset_blocks, io->u.num_blocks)) {
			return true;
		}
	}
	return false;
}

static bool ch_has_range(struct spio_bdev_channel *ch, struct spio_bdev_lba_lock *lock)
{
	for (struct bdev_ch_range *r = ch->ranges; r != NULL; r = r->next) {
		if (r->lock == lock) {
			return true;
		}
	}
	return false;
}

static int ch_add_range(struct spio_bdev_channel *ch, struct spio_bdev_lba_lock *lock)
{
	struct bdev_ch_range *r;

	if (ch_has_range(ch, lock)) {
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		return -ENOMEM;
	}
	r->lock = lock;
	r->offset = lock->offset;
	r->length = lock->length;
	r->owner_ch = lock->owner_ch;
	r->next = ch->ranges;
	ch->ranges = r;
	return 0;
}

static void ch_del_range(struct spio_bdev_channel *ch, struct spio_bdev_lba_lock *lock)
{
	for (struct bdev_ch_range **p = &ch->ranges; *p != NULL; p = &(*p)->next) {
		if ((*p)->lock == lock) {
			struct bdev_ch_range *r = *p;

			*p = r->next;
			free(r);
			return;
		}
	}
}

/* Called from channel create: copy the locks already held or being taken. */
int bdev_channel_copy_ranges(struct spio_bdev_channel *ch)
{
	int rc = 0;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (struct spio_bdev_lba_lock *l = ch->bdev->internal.locked; l != NULL && rc == 0;
	     l = l->next) {
		rc = ch_add_range(ch, l);
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (rc != 0) {
		bdev_channel_free_ranges(ch);
	}
	return rc;
}

void bdev_channel_free_ranges(struct spio_bdev_channel *ch)
{
	struct bdev_ch_range *r;

	while ((r = ch->ranges) != NULL) {
		ch->ranges = r->next;
		free(r);
	}
}

static bool ch_write_in_flight(struct spio_bdev_channel *ch, struct spio_bdev_lba_lock *lock)
{
	for (struct spio_bdev_io *io = ch->io_outstanding; io != NULL;
	     io = io->internal.link_next) {
		if (bdev_io_type_writes(io->type) &&
		    overlaps(lock->offset, lock->length, io->u.offset_blocks, io->u.num_blocks)) {
			return true;
		}
	}
	return false;
}

/* After an I/O of `ch` completed: continue lock traversals waiting for it. */
void bdev_channel_io_done(struct spio_bdev_channel *ch)
{
	struct spio_bdev_lba_lock **p = &ch->lock_waits;

	while (*p != NULL) {
		struct spio_bdev_lba_lock *lock = *p;

		if (ch_write_in_flight(ch, lock)) {
			p = &lock->wait_next;
			continue;
		}
		*p = lock->wait_next;
		spio_for_each_channel_continue(lock->wait_iter, 0);
	}
}

/*
 * Lock
 */

static int lock_start(struct spio_bdev_lba_lock *lock);
static void unlock_visit_done(struct spio_io_channel_iter *iter, int status);
static void wake_lock_waiters(struct spio_bdev *bdev);

static void lock_visit(struct spio_io_channel_iter *iter)
{
	struct spio_bdev_lba_lock *lock = spio_io_channel_iter_get_ctx(iter);
	struct spio_bdev_channel *ch =
	    spio_io_channel_get_ctx(spio_io_channel_iter_get_channel(iter));
	int rc = ch_add_range(ch, lock);

	if (rc == 0 && ch_write_in_flight(ch, lock)) {
		lock->wait_iter = iter;
		lock->wait_next = ch->lock_waits;
		ch->lock_waits = lock;
		return;
	}
	spio_for_each_channel_continue(iter, rc);
}

static void unlock_visit(struct spio_io_channel_iter *iter)
{
	struct spio_bdev_lba_lock *lock = spio_io_channel_iter_get_ctx(iter);
	struct spio_bdev_channel *ch =
	    spio_io_channel_get_ctx(spio_io_channel_iter_get_channel(iter));
	struct spio_bdev_io *io, *next;

	ch_del_range(ch, lock);
	for (io = ch->io_locked; io != NULL; io = next) {
		next = io->internal.link_next;
		if (!bdev_io_blocked_by_lock(ch, io)) {
			bdev_io_list_del(&ch->io_locked, io);
			bdev_io_list_add(&ch->io_outstanding, io);
			bdev_io_submit_to_module(io);
		}
	}
	spio_for_each_channel_continue(iter, 0);
}

static void lock_list_del(struct spio_bdev_lba_lock **head, struct spio_bdev_lba_lock *lock)
{
	for (struct spio_bdev_lba_lock **p = head; *p != NULL; p = &(*p)->next) {
		if (*p == lock) {
			*p = lock->next;
			return;
		}
	}
}

static void lock_visit_done(struct spio_io_channel_iter *iter, int status)
{
	struct spio_bdev_lba_lock *lock = spio_io_channel_iter_get_ctx(iter);

	if (status == 0) {
		lock->granted = true;
		lock->cb(lock->cb_arg, 0);
		return;
	}
	/* undo: take the copies out again, then report the error */
	SPIO_ERRLOG("bdev %s: lock of %" PRIu64 "+%" PRIu64 " failed: %d", lock->bdev->name,
		    lock->offset, lock->length, status);
	pthread_mutex_lock(&g_bdev_mgr.lock);
	lock_list_del(&lock->bdev->internal.locked, lock);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	lock->fail_status = status;
	if (spio_for_each_channel(lock->bdev, unlock_visit, lock, unlock_visit_done) != 0) {
		lock->cb(lock->cb_arg, status);
		wake_lock_waiters(lock->bdev);
		free(lock);
	}
}

static void lock_retry_msg(void *arg)
{
	struct spio_bdev_lba_lock *lock = arg;
	int rc = lock_start(lock);

	if (rc != 0) {
		lock->cb(lock->cb_arg, rc);
		free(lock);
	}
}

static void wake_lock_waiters(struct spio_bdev *bdev)
{
	struct spio_bdev_lba_lock *w;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	w = bdev->internal.lock_waiters;
	bdev->internal.lock_waiters = NULL;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	while (w != NULL) {
		struct spio_bdev_lba_lock *next = w->next;

		/* Cannot be lost: the waiter's thread holds a channel, so it runs. */
		spio_thread_send_msg_embedded(w->thread, &w->retry_msg, lock_retry_msg, w);
		w = next;
	}
}

/* 0: started or queued behind an overlapping lock; otherwise nothing happened. */
static int lock_start(struct spio_bdev_lba_lock *lock)
{
	struct spio_bdev *bdev = lock->bdev;
	struct spio_bdev_lba_lock **tail;
	int rc;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (struct spio_bdev_lba_lock *l = bdev->internal.locked; l != NULL; l = l->next) {
		if (overlaps(l->offset, l->length, lock->offset, lock->length)) {
			for (tail = &bdev->internal.lock_waiters; *tail != NULL;
			     tail = &(*tail)->next) {
			}
			lock->next = NULL;
			*tail = lock;
			pthread_mutex_unlock(&g_bdev_mgr.lock);
			return 0;
		}
	}
	lock->next = bdev->internal.locked;
	bdev->internal.locked = lock;
	pthread_mutex_unlock(&g_bdev_mgr.lock);

	rc = spio_for_each_channel(bdev, lock_visit, lock, lock_visit_done);
	if (rc != 0) {
		pthread_mutex_lock(&g_bdev_mgr.lock);
		lock_list_del(&bdev->internal.locked, lock);
		pthread_mutex_unlock(&g_bdev_mgr.lock);
	}
	return rc;
}

static bool lock_args_valid(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			    uint64_t offset, uint64_t num, spio_bdev_lock_cb cb)
{
	if (desc == NULL || ch == NULL || cb == NULL || desc->closed ||
	    spio_io_channel_get_io_device(ch) != desc->bdev ||
	    spio_io_channel_get_thread(ch) != spio_get_thread()) {
		return false;
	}
	/* overflow: offset + num may wrap */
	uint64_t blockcnt = spio_bdev_get_num_blocks(desc->bdev);

	return num != 0 && offset < blockcnt && num <= blockcnt - offset;
}

int spio_bdev_lock_lba_range(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			     uint64_t offset_blocks, uint64_t num_blocks, spio_bdev_lock_cb cb,
			     void *cb_arg)
{
	struct spio_bdev_lba_lock *lock;
	int rc;

	if (!lock_args_valid(desc, ch, offset_blocks, num_blocks, cb)) {
		return -EINVAL;
	}
	lock = calloc(1, sizeof(*lock));
	if (lock == NULL) {
		return -ENOMEM;
	}
	lock->bdev = desc->bdev;
	lock->offset = offset_blocks;
	lock->length = num_blocks;
	lock->owner_ch = spio_io_channel_get_ctx(ch);
	lock->thread = spio_get_thread();
	lock->cb = cb;
	lock->cb_arg = cb_arg;
	rc = lock_start(lock);
	if (rc != 0) {
		free(lock);
	}
	return rc;
}

/*
 * Unlock
 */

static void unlock_visit_done(struct spio_io_channel_iter *iter, int status)
{
	struct spio_bdev_lba_lock *lock = spio_io_channel_iter_get_ctx(iter);

	(void)status;
	/* an unlock reports 0; a failed lock being undone reports its error */
	lock->cb(lock->cb_arg, lock->granted ? 0 : lock->fail_status);
	wake_lock_waiters(lock->bdev);
	free(lock);
}

int spio_bdev_unlock_lba_range(struct spio_bdev_desc *desc, struct spio_io_channel *ch,
			       uint64_t offset_blocks, uint64_t num_blocks, spio_bdev_lock_cb cb,
			       void *cb_arg)
{
	struct spio_bdev_channel *owner;
	struct spio_bdev_lba_lock *lock;
	struct spio_bdev *bdev;
	int rc;

	if (!lock_args_valid(desc, ch, offset_blocks, num_blocks, cb)) {
		return -EINVAL;
	}
	bdev = desc->bdev;
	owner = spio_io_channel_get_ctx(ch);
	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (lock = bdev->internal.locked; lock != NULL; lock = lock->next) {
		if (lock->owner_ch == owner && lock->offset == offset_blocks &&
		    lock->length == num_blocks && lock->granted) {
			break;
		}
	}
	if (lock == NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		return -EINVAL;
	}
	lock_list_del(&bdev->internal.locked, lock);
	pthread_mutex_unlock(&g_bdev_mgr.lock);

	lock->cb = cb;
	lock->cb_arg = cb_arg;
	rc = spio_for_each_channel(bdev, unlock_visit, lock, unlock_visit_done);
	if (rc != 0) {
		pthread_mutex_lock(&g_bdev_mgr.lock);
		lock->next = bdev->internal.locked;
		bdev->internal.locked = lock;
		pthread_mutex_unlock(&g_bdev_mgr.lock);
	}
	return rc;
}
