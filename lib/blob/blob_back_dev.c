/*
 * Back devices: where a blob's reads of clusters it does not hold go.
 * The zeroes device (thin blobs without parent) reads zeroes; a blob back
 * device (clones) reads its parent blob through the blob I/O path on the
 * caller's blobstore channel, so the parent's own unallocated clusters go
 * on to the parent's back device, and the parent's freeze holds them.
 * Neither takes writes (-EPERM).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/log.h"
#include "spio/util.h"

/*
 * Completions without I/O: later, on this thread (the bs_dev contract)
 */

static void cpl_run(struct spio_bs_dev_cb_args *cb_args, int rc)
{
	cb_args->cb_fn(cb_args->channel, cb_args->cb_arg, rc);
}

static void cpl_ok_msg(void *arg)
{
	cpl_run(arg, 0);
}

static void cpl_eperm_msg(void *arg)
{
	cpl_run(arg, -EPERM);
}

static void cpl_later(struct spio_bs_dev_cb_args *cb_args, int rc)
{
	if (spio_thread_send_msg(spio_get_thread(), rc == 0 ? cpl_ok_msg : cpl_eperm_msg,
				 cb_args) != 0) {
		SPIO_ERRLOG("blob back device: cannot defer a completion, calling back at once\n");
		cpl_run(cb_args, rc);
	}
}

static void refuse_write(struct spio_bs_dev *dev, struct spio_io_channel *channel, void *payload,
			 uint64_t lba, uint32_t lba_count, struct spio_bs_dev_cb_args *cb_args)
{
	(void)dev, (void)channel, (void)payload, (void)lba, (void)lba_count;
	cpl_later(cb_args, -EPERM);
}

static void refuse_writev(struct spio_bs_dev *dev, struct spio_io_channel *channel,
			  struct iovec *iov, int iovcnt, uint64_t lba, uint32_t lba_count,
			  struct spio_bs_dev_cb_args *cb_args)
{
	(void)dev, (void)channel, (void)iov, (void)iovcnt, (void)lba, (void)lba_count;
	cpl_later(cb_args, -EPERM);
}

static void refuse_range(struct spio_bs_dev *dev, struct spio_io_channel *channel, uint64_t lba,
			 uint64_t lba_count, struct spio_bs_dev_cb_args *cb_args)
{
	(void)dev, (void)channel, (void)lba, (void)lba_count;
	cpl_later(cb_args, -EPERM);
}

static void flush_nothing(struct spio_bs_dev *dev, struct spio_io_channel *channel,
			  struct spio_bs_dev_cb_args *cb_args)
{
	(void)dev, (void)channel;
	cpl_later(cb_args, 0);
}

/* Zero `len` bytes of the iovecs from byte `from`. */
static void iov_zero_range(struct iovec *iov, int iovcnt, size_t from, size_t len)
{
	for (int i = 0; i < iovcnt && len > 0; i++) {
		size_t n;

		if (from >= iov[i].iov_len) {
			from -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - from;
		if (n > len) {
			n = len;
		}
		memset((char *)iov[i].iov_base + from, 0, n);
		len -= n;
		from = 0;
	}
}

/*
 * The zeroes device: one for everybody, never freed
 */

static struct spio_io_channel *zeroes_create_channel(struct spio_bs_dev *dev)
{
	(void)dev;
	return NULL; /* it needs none; see blob_internal.h */
}

static void zeroes_destroy_channel(struct spio_bs_dev *dev, struct spio_io_channel *channel)
{
	(void)dev, (void)channel;
}

static void zeroes_destroy(struct spio_bs_dev *dev)
{
	(void)dev;
}

static void zeroes_read(struct spio_bs_dev *dev, struct spio_io_channel *channel, void *payload,
			uint64_t lba, uint32_t lba_count, struct spio_bs_dev_cb_args *cb_args)
{
	(void)channel, (void)lba;
	memset(payload, 0, (size_t)lba_count * dev->blocklen);
	cpl_later(cb_args, 0);
}

static void zeroes_readv(struct spio_bs_dev *dev, struct spio_io_channel *channel,
			 struct iovec *iov, int iovcnt, uint64_t lba, uint32_t lba_count,
			 struct spio_bs_dev_cb_args *cb_args)
{
	(void)channel, (void)lba;
	spio_iov_memset(iov, iovcnt, 0, (size_t)lba_count * dev->blocklen);
	cpl_later(cb_args, 0);
}

static bool zeroes_is_zeroes(struct spio_bs_dev *dev, uint64_t lba, uint64_t lba_count)
{
	(void)dev, (void)lba, (void)lba_count;
	return true;
}

static struct spio_bs_dev g_zeroes_dev = {
    .create_channel = zeroes_create_channel,
    .destroy_channel = zeroes_destroy_channel,
    .destroy = zeroes_destroy,
    .read = zeroes_read,
    .write = refuse_write,
    .readv = zeroes_readv,
    .writev = refuse_writev,
    .flush = flush_nothing,
    .write_zeroes = refuse_range,
    .unmap = refuse_range,
    .is_zeroes = zeroes_is_zeroes,
    .blockcnt = UINT64_MAX,
    .blocklen = 512,
};

struct spio_bs_dev *bs_create_zeroes_dev(void)
{
	return &g_zeroes_dev;
}

bool bs_dev_is_zeroes(const struct spio_bs_dev *dev)
{
	return dev == &g_zeroes_dev;
}

/*
 * A parent blob as a device: blocks are the parent's io units
 */

struct blob_back_dev {
	struct spio_bs_dev base;
	struct spio_blob *parent;
};

static struct spio_io_channel *back_create_channel(struct spio_bs_dev *dev)
{
	return spio_bs_alloc_io_channel(((struct blob_back_dev *)dev)->parent->bs);
}

static void back_destroy_channel(struct spio_bs_dev *dev, struct spio_io_channel *channel)
{
	(void)dev;
	spio_bs_free_io_channel(channel);
}

static void back_destroy(struct spio_bs_dev *dev)
{
	struct spio_blob *parent = ((struct blob_back_dev *)dev)->parent;

	free(dev);
	spio_blob_close(parent, NULL, NULL);
}

static void back_read_done(void *arg, int rc)
{
	cpl_run(arg, rc);
}

/*
 * The part of [lba, lba + *count) past the parent's end (a clone grown after
 * its snapshot) reads zeroes: returns where it starts in bytes and shortens
 * *count to the part the parent holds.
 */
static size_t back_trim(struct spio_bs_dev *dev, uint64_t lba, uint32_t *count)
{
	uint64_t valid = lba >= dev->blockcnt ? 0 : dev->blockcnt - lba;

	if (valid < *count) {
		*count = (uint32_t)valid;
	}
	return (size_t)*count * dev->blocklen;
}

static void back_read(struct spio_bs_dev *dev, struct spio_io_channel *channel, void *payload,
		      uint64_t lba, uint32_t lba_count, struct spio_bs_dev_cb_args *cb_args)
{
	struct blob_back_dev *b = (struct blob_back_dev *)dev;
	uint32_t count = lba_count;
	size_t keep = back_trim(dev, lba, &count);

	memset((char *)payload + keep, 0, (size_t)lba_count * dev->blocklen - keep);
	if (count == 0) {
		cpl_later(cb_args, 0);
		return;
	}
	blob_io_read_internal(b->parent, channel, payload, NULL, 0, lba, count, back_read_done,
			      cb_args);
}

static void back_readv(struct spio_bs_dev *dev, struct spio_io_channel *channel, struct iovec *iov,
		       int iovcnt, uint64_t lba, uint32_t lba_count,
		       struct spio_bs_dev_cb_args *cb_args)
{
	struct blob_back_dev *b = (struct blob_back_dev *)dev;
	uint32_t count = lba_count;
	size_t keep = back_trim(dev, lba, &count);

	iov_zero_range(iov, iovcnt, keep, (size_t)lba_count * dev->blocklen - keep);
	if (count == 0) {
		cpl_later(cb_args, 0);
		return;
	}
	blob_io_read_internal(b->parent, channel, NULL, iov, iovcnt, lba, count, back_read_done,
			      cb_args);
}

struct spio_bs_dev *bs_create_blob_back_dev(struct spio_blob *parent)
{
	struct blob_back_dev *b = calloc(1, sizeof(*b));

	if (b == NULL) {
		return NULL;
	}
	b->parent = parent;
	b->base = (struct spio_bs_dev){
	    .create_channel = back_create_channel,
	    .destroy_channel = back_destroy_channel,
	    .destroy = back_destroy,
	    .read = back_read,
	    .write = refuse_write,
	    .readv = back_readv,
	    .writev = refuse_writev,
	    .flush = flush_nothing,
	    .write_zeroes = refuse_range,
	    .unmap = refuse_range,
	    .blockcnt = parent->active.num_clusters * parent->bs->io_units_per_cluster,
	    .blocklen = parent->bs->io_unit_size,
	};
	return &b->base;
}
