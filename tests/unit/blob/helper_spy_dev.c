#include "helper_spy_dev.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static struct spy_dev *spy_of(struct spio_bs_dev *d)
{
	return (struct spy_dev *)d;
}

static struct spio_io_channel *spy_create_channel(struct spio_bs_dev *d)
{
	return spy_of(d)->inner->create_channel(spy_of(d)->inner);
}

static void spy_destroy_channel(struct spio_bs_dev *d, struct spio_io_channel *ch)
{
	spy_of(d)->inner->destroy_channel(spy_of(d)->inner, ch);
}

static void spy_destroy(struct spio_bs_dev *d)
{
	spy_of(d)->destroyed++;
}

static void spy_failed(struct spio_io_channel *ch, void *cb_arg, int bserrno)
{
	struct spy_dev *s = cb_arg;

	(void)bserrno;
	s->failed_args->cb_fn(ch, s->failed_args->cb_arg, -EIO);
}

static void spy_read(struct spio_bs_dev *d, struct spio_io_channel *ch, void *buf, uint64_t lba,
		     uint32_t n, struct spio_bs_dev_cb_args *a)
{
	struct spy_dev *s = spy_of(d);

	/* The read is done, but its completion says -EIO. */
	if (++s->reads == s->fail_read) {
		s->failed_args = a;
		s->own =
		    (struct spio_bs_dev_cb_args){.cb_fn = spy_failed, .channel = ch, .cb_arg = s};
		a = &s->own;
	}
	s->inner->read(s->inner, ch, buf, lba, n, a);
}

static void spy_readv(struct spio_bs_dev *d, struct spio_io_channel *ch, struct iovec *iov,
		      int iovcnt, uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *a)
{
	spy_of(d)->reads++;
	spy_of(d)->inner->readv(spy_of(d)->inner, ch, iov, iovcnt, lba, n, a);
}

static void spy_write(struct spio_bs_dev *d, struct spio_io_channel *ch, void *buf, uint64_t lba,
		      uint32_t n, struct spio_bs_dev_cb_args *a)
{
	spy_of(d)->writes++;
	spy_of(d)->inner->write(spy_of(d)->inner, ch, buf, lba, n, a);
}

static void spy_writev(struct spio_bs_dev *d, struct spio_io_channel *ch, struct iovec *iov,
		       int iovcnt, uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *a)
{
	spy_of(d)->writes++;
	spy_of(d)->inner->writev(spy_of(d)->inner, ch, iov, iovcnt, lba, n, a);
}

static void spy_flush(struct spio_bs_dev *d, struct spio_io_channel *ch,
		      struct spio_bs_dev_cb_args *a)
{
	spy_of(d)->flushes++;
	spy_of(d)->inner->flush(spy_of(d)->inner, ch, a);
}

static void spy_zeroes(struct spio_bs_dev *d, struct spio_io_channel *ch, uint64_t lba, uint64_t n,
		       struct spio_bs_dev_cb_args *a)
{
	spy_of(d)->writes++;
	spy_of(d)->inner->write_zeroes(spy_of(d)->inner, ch, lba, n, a);
}

static void spy_unmap(struct spio_bs_dev *d, struct spio_io_channel *ch, uint64_t lba, uint64_t n,
		      struct spio_bs_dev_cb_args *a)
{
	spy_of(d)->writes++;
	spy_of(d)->inner->unmap(spy_of(d)->inner, ch, lba, n, a);
}

struct spio_bs_dev *spy_dev_init(struct spy_dev *s, uint64_t size, uint32_t blocklen,
				 uint8_t **data)
{
	struct spio_bs_dev *inner = spio_bs_dev_mem_create(size / blocklen, blocklen);

	cr_assert_not_null(inner, "memory device of %llu bytes in %u-byte blocks",
			   (unsigned long long)size, blocklen);
	*s = (struct spy_dev){
	    .base = {.create_channel = spy_create_channel,
		     .destroy_channel = spy_destroy_channel,
		     .destroy = spy_destroy,
		     .read = spy_read,
		     .write = spy_write,
		     .readv = spy_readv,
		     .writev = spy_writev,
		     .flush = spy_flush,
		     .write_zeroes = spy_zeroes,
		     .unmap = spy_unmap,
		     .blockcnt = inner->blockcnt,
		     .blocklen = inner->blocklen},
	    .inner = inner,
	};
	*data = spio_bs_dev_mem_data(inner);
	return &s->base;
}

void spy_dev_release(struct spy_dev *s)
{
	if (s->inner != NULL) {
		s->inner->destroy(s->inner);
	}
	memset(s, 0, sizeof(*s));
}
