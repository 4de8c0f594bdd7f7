/* See helper_bdev_io.h. */
#include "helper_bdev_io.h"

void test_io_cb(struct spio_bdev_io *bdev_io, bool success, void *arg)
{
	struct test_io *io = arg;

	(void)success;
	io->status = spio_bdev_io_get_status(bdev_io);
	io->done++;
	spio_bdev_free_io(bdev_io);
}
