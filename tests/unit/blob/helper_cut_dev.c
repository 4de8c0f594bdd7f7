/* The "power cut" bs_dev of the blob tests (see helper_cut_dev.h). */
#include "helper_cut_dev.h"

#include <stdlib.h>
#include <string.h>

#include "helper_blob_task.h"
#include "spio/blob_bdev.h"
#include "spio/util.h"

struct cut_dev {
	struct spio_bs_dev base;
	struct cut_ctl *ctl;
};

static struct cut_ctl *ctl_of(struct spio_bs_dev *d)
{
	return ((struct cut_dev *)d)->ctl;
}

void cut_ctl_init(struct cut_ctl *c, uint64_t blockcnt, uint32_t blocklen)
{
	memset(c, 0, sizeof(*c));
	c->mem = spio_bs_dev_mem_create(blockcnt, blocklen);
	CHECK_NOT_NULL(c->mem, "memory bs_dev of %llu x %u bytes", (unsigned long long)blockcnt,
		       blocklen);
	c->bytes = spio_bs_dev_mem_data(c->mem);
	c->blockcnt = blockcnt;
	c->blocklen = blocklen;
	c->limit = UINT64_MAX;
}

void cut_log_clear(struct cut_ctl *c)
{
	for (size_t i = 0; i < c->nlog; i++) {
		free(c->log[i].data);
	}
	c->nlog = 0;
}

void cut_ctl_fini(struct cut_ctl *c)
{
	CHECK_EQ(c->live, 0, "%d cut wrappers still alive at the end", c->live);
	cut_log_clear(c);
	free(c->log);
	c->log = NULL;
	c->caplog = 0;
	c->mem->destroy(c->mem);
	c->mem = NULL;
	c->bytes = NULL;
}

/*
 * Count a write and decide its fate: true if it goes to the memory. A
 * write in range is logged (with `iov` copied in CUT_LOG_DATA mode; no
 * iovecs: zeroes).
 */
static bool cut_admit(struct cut_ctl *c, uint64_t lba, uint64_t blocks, const struct iovec *iov,
		      int iovcnt)
{
	struct cut_write *w;

	if (c->writes++ >= c->limit) {
		c->dropped++;
		return false;
	}
	if (c->mode == CUT_LOG_OFF || lba > c->blockcnt || blocks > c->blockcnt - lba) {
		return true;
	}
	if (c->nlog == c->caplog) {
		c->caplog = c->caplog != 0 ? c->caplog * 2 : 1024;
		c->log = realloc(c->log, c->caplog * sizeof(*c->log));
		CHECK_NOT_NULL(c->log, "cut log of %zu entries", c->caplog);
	}
	w = &c->log[c->nlog++];
	*w = (struct cut_write){.lba = lba, .blocks = blocks, .zeroes = iov == NULL};
	if (c->mode == CUT_LOG_DATA && iov != NULL) {
		size_t len = blocks * c->blocklen;

		w->data = malloc(len != 0 ? len : 1);
		CHECK_NOT_NULL(w->data);
		spio_copy_iovs_to_buf(w->data, len, iov, iovcnt);
	}
	return true;
}

/* A dropped write still completes, later and with success: the inner flush does exactly that. */
static void cut_drop(struct spio_bs_dev *d, struct spio_io_channel *ch,
		     struct spio_bs_dev_cb_args *a)
{
	struct cut_ctl *c = ctl_of(d);

	c->mem->flush(c->mem, ch, a);
}

static struct spio_io_channel *cut_create_channel(struct spio_bs_dev *d)
{
	struct cut_ctl *c = ctl_of(d);

	return c->mem->create_channel(c->mem);
}

static void cut_destroy_channel(struct spio_bs_dev *d, struct spio_io_channel *ch)
{
	struct cut_ctl *c = ctl_of(d);

	c->mem->destroy_channel(c->mem, ch);
}

static void cut_destroy(struct spio_bs_dev *d)
{
	struct cut_ctl *c = ctl_of(d);

	c->live--;
	c->destroyed++;
	free(d);
}

static void cut_read(struct spio_bs_dev *d, struct spio_io_channel *ch, void *buf, uint64_t lba,
		     uint32_t n, struct spio_bs_dev_cb_args *a)
{
	struct cut_ctl *c = ctl_of(d);

	c->mem->read(c->mem, ch, buf, lba, n, a);
}

static void cut_readv(struct spio_bs_dev *d, struct spio_io_channel *ch, struct iovec *iov,
		      int iovcnt, uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *a)
{
	struct cut_ctl *c = ctl_of(d);

	c->mem->readv(c->mem, ch, iov, iovcnt, lba, n, a);
}

static void cut_write(struct spio_bs_dev *d, struct spio_io_channel *ch, void *buf, uint64_t lba,
		      uint32_t n, struct spio_bs_dev_cb_args *a)
{
	struct cut_ctl *c = ctl_of(d);
	struct iovec iov = {.iov_base = buf, .iov_len = (size_t)n * c->blocklen};

	if (!cut_admit(c, lba, n, buf != NULL ? &iov : NULL, 1)) {
		cut_drop(d, ch, a);
		return;
	}
	c->mem->write(c->mem, ch, buf, lba, n, a);
}

static void cut_writev(struct spio_bs_dev *d, struct spio_io_channel *ch, struct iovec *iov,
		       int iovcnt, uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *a)
{
	struct cut_ctl *c = ctl_of(d);

	if (!cut_admit(c, lba, n, iov != NULL && iovcnt > 0 ? iov : NULL, iovcnt)) {
		cut_drop(d, ch, a);
		return;
	}
	c->mem->writev(c->mem, ch, iov, iovcnt, lba, n, a);
}

static void cut_flush(struct spio_bs_dev *d, struct spio_io_channel *ch,
		      struct spio_bs_dev_cb_args *a)
{
	struct cut_ctl *c = ctl_of(d);

	c->mem->flush(c->mem, ch, a);
}

static void cut_write_zeroes(struct spio_bs_dev *d, struct spio_io_channel *ch, uint64_t lba,
			     uint64_t n, struct spio_bs_dev_cb_args *a)
{
	struct cut_ctl *c = ctl_of(d);

	if (!cut_admit(c, lba, n, NULL, 0)) {
		cut_drop(d, ch, a);
		return;
	}
	c->mem->write_zeroes(c->mem, ch, lba, n, a);
}

static void cut_unmap(struct spio_bs_dev *d, struct spio_io_channel *ch, uint64_t lba, uint64_t n,
		      struct spio_bs_dev_cb_args *a)
{
	struct cut_ctl *c = ctl_of(d);

	if (!cut_admit(c, lba, n, NULL, 0)) {
		cut_drop(d, ch, a);
		return;
	}
	c->mem->unmap(c->mem, ch, lba, n, a);
}

struct spio_bs_dev *cut_dev_create(struct cut_ctl *c)
{
	struct cut_dev *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		return NULL;
	}
	w->base = (struct spio_bs_dev){
	    .create_channel = cut_create_channel,
	    .destroy_channel = cut_destroy_channel,
	    .destroy = cut_destroy,
	    .read = cut_read,
	    .write = cut_write,
	    .readv = cut_readv,
	    .writev = cut_writev,
	    .flush = cut_flush,
	    .write_zeroes = cut_write_zeroes,
	    .unmap = cut_unmap,
	    .blockcnt = c->blockcnt,
	    .blocklen = c->blocklen,
	};
	w->ctl = c;
	c->live++;
	return &w->base;
}

void cut_log_apply(const struct cut_ctl *c, size_t from, size_t to, uint8_t *image)
{
	for (size_t i = from; i < to && i < c->nlog; i++) {
		const struct cut_write *w = &c->log[i];
		uint8_t *p = image + w->lba * c->blocklen;
		size_t len = w->blocks * c->blocklen;

		CHECK(w->zeroes || w->data != NULL, "log entry %zu has no data to replay", i);
		if (w->zeroes) {
			memset(p, 0, len);
		} else {
			memcpy(p, w->data, len);
		}
	}
}

void cut_log_restore(const struct cut_ctl *c, uint8_t *dst, const uint8_t *src)
{
	for (size_t i = 0; i < c->nlog; i++) {
		size_t off = c->log[i].lba * c->blocklen;

		memcpy(dst + off, src + off, c->log[i].blocks * c->blocklen);
	}
}
