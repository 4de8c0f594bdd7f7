/*
 * Bounce buffers for nvme bdevs on PCIe. The PCIe transport hands the
 * controller IOVAs, so data must be DMA memory (spio_dma_malloc) laid out as
 * PRPs (or SGLs, if the controller has them) can describe it; an application
 * buffer or the NVMe-oF target's buffers may be neither. Such a read, write
 * or compare goes through the channel's bounce pool instead: a write's or
 * compare's data is copied in before submission, a read's copied out when it
 * completes. TCP controllers take any memory and never bounce.
 *
 * The pool: one DMA region per channel, allocated at channel create, of
 * max(1 MiB, the largest transfer one command may carry), split into 64
 * chunks. An I/O takes a run of adjacent chunks, so its bounce buffer is
 * one flat, page-aligned buffer (PRPs always fit it; a compare needs it
 * flat anyway) and no I/O is ever split here: the bdev layer already splits
 * reads and writes at one command's size, which the pool always holds. An
 * I/O that finds no run free waits in the channel's FIFO and goes out when
 * chunks come back (bdev_nvme_io.c); only one larger than the pool (a
 * compare beyond the command size) fails, with a logged reason. Allocation
 * is a scan of one 64-bit mask: no malloc, syscall or lock per I/O.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "spio/dma.h"
#include "spio/json.h"
#include "spio/log.h"
#include "spio/util.h"

#include "bdev_nvme_internal.h"

#define BOUNCE_PAGE 4096u
#define ALL_FREE UINT64_MAX

/* The pool's size for this controller: 64 page-multiple chunks. */
static uint32_t pool_chunk(const struct bdev_nvme_ctrlr *nc)
{
	uint32_t max =
	    SPIO_MAX(spio_nvme_ctrlr_get_max_xfer_size(nc->ctrlr), BDEV_NVME_BOUNCE_MIN_POOL);

	return (uint32_t)spio_align_up(
	    (max + BDEV_NVME_BOUNCE_CHUNKS - 1) / BDEV_NVME_BOUNCE_CHUNKS, BOUNCE_PAGE);
}

int bdev_nvme_bounce_init(struct bdev_nvme_channel *ch)
{
	struct bdev_nvme_bounce *b = &ch->bounce;

	memset(b, 0, sizeof(*b));
	TAILQ_INIT(&b->waiting);
	if (!ch->nc->pcie) {
		return 0;
	}
	b->chunk = pool_chunk(ch->nc);
	/* Read once here: a reset rewrites the controller data while I/O threads run. */
	b->sgls = spio_nvme_ctrlr_get_data(ch->nc->ctrlr)->sgls & SPIO_NVME_SGLS_SUPPORT_MASK;
	b->mem = spio_dma_malloc((size_t)b->chunk * BDEV_NVME_BOUNCE_CHUNKS, BOUNCE_PAGE);
	if (b->mem == NULL) {
		SPIO_ERRLOG("nvme controller %s: no DMA memory for a bounce pool of %" PRIu32
			    " bytes (thread %s)\n",
			    ch->nc->name, b->chunk * BDEV_NVME_BOUNCE_CHUNKS,
			    spio_thread_get_name(spio_get_thread()));
		return -ENOMEM;
	}
	b->free_mask = ALL_FREE;
	return 0;
}

void bdev_nvme_bounce_detach(struct bdev_nvme_channel *ch)
{
	ch->bounce.device_owned = ch->bounce.mem != NULL && ch->bounce.free_mask != ALL_FREE;
}

void bdev_nvme_bounce_fini(struct bdev_nvme_channel *ch)
{
	struct bdev_nvme_bounce *b = &ch->bounce;

	if (b->mem == NULL) {
		return;
	}
	if (b->free_mask != ALL_FREE || b->device_owned) {
		/*
		 * I/O was still out when the channel went (the bdev user did not wait
		 * for it): until its queues are deleted the device may still write
		 * the chunks, so keeping the pool beats handing the memory out again.
		 */
		SPIO_ERRLOG("nvme controller %s: bounce buffers were in use when the channel "
			    "was destroyed; its %" PRIu32 "-byte pool is not freed\n",
			    ch->nc->name, b->chunk * BDEV_NVME_BOUNCE_CHUNKS);
		b->mem = NULL;
		return;
	}
	spio_dma_free(b->mem);
	b->mem = NULL;
}

/* Every byte DMA memory, and a shape the controller can address. */
static bool iovs_reachable(const struct bdev_nvme_bounce *b, const struct iovec *iov, int iovcnt)
{
	uint32_t sgls = b->sgls;
	bool prp_ok = ((uintptr_t)iov[0].iov_base & 3) == 0;
	bool sgl_ok = sgls != 0 && iovcnt <= 128;

	for (int i = 0; i < iovcnt; i++) {
		uintptr_t start = (uintptr_t)iov[i].iov_base;
		uint64_t left = iov[i].iov_len;
		const uint8_t *va = iov[i].iov_base;

		while (left > 0) {
			uint64_t got = left;

			if (spio_vtophys(va, &got) == SPIO_VTOPHYS_ERROR || got == 0) {
				return false;
			}
			va += got;
			left -= got;
		}
		/* PRPs: only the first element may start, only the last end, inside a page. */
		if ((i > 0 && (start & (BOUNCE_PAGE - 1)) != 0) ||
		    (i + 1 < iovcnt && ((start + iov[i].iov_len) & (BOUNCE_PAGE - 1)) != 0)) {
			prp_ok = false;
		}
		if (sgls == SPIO_NVME_SGLS_DWORD_ALIGNED && ((start | iov[i].iov_len) & 3) != 0) {
			sgl_ok = false;
		}
	}
	return prp_ok || sgl_ok;
}

bool bdev_nvme_bounce_needed(const struct bdev_nvme_channel *ch, const struct spio_bdev_io *bdev_io)
{
	if (ch->bounce.mem == NULL) {
		return false;
	}
	switch (bdev_io->type) {
	case SPIO_BDEV_IO_TYPE_COMPARE:
		/* The driver compares a flat buffer only. */
		if (bdev_io->u.iovcnt > 1) {
			return true;
		}
		/* fallthrough */
	case SPIO_BDEV_IO_TYPE_READ:
	case SPIO_BDEV_IO_TYPE_WRITE:
		return !iovs_reachable(&ch->bounce, bdev_io->u.iovs, bdev_io->u.iovcnt);
	default:
		return false;
	}
}

/* First run of n free chunks in the mask, or -1. */
static int find_run(uint64_t mask, uint32_t n)
{
	uint64_t want = n >= 64 ? ALL_FREE : ((uint64_t)1 << n) - 1;

	for (uint32_t i = 0; i + n <= BDEV_NVME_BOUNCE_CHUNKS; i++) {
		if (((mask >> i) & want) == want) {
			return (int)i;
		}
	}
	return -1;
}

int bdev_nvme_bounce_get(struct bdev_nvme_channel *ch, struct bdev_nvme_io *nio)
{
	struct bdev_nvme_bounce *b = &ch->bounce;
	struct spio_bdev_io *bdev_io = spio_bdev_io_from_ctx(nio);
	uint64_t len = bdev_io->u.num_blocks * bdev_io->bdev->blocklen;
	uint64_t n = (len + b->chunk - 1) / b->chunk;
	int first;

	if (n > BDEV_NVME_BOUNCE_CHUNKS || n == 0) {
		SPIO_ERRLOG("bdev %s: I/O of %" PRIu64 " bytes is not DMA memory and larger than "
			    "the %" PRIu32 "-byte bounce pool: use spio_dma_malloc buffers\n",
			    bdev_io->bdev->name, len, b->chunk * BDEV_NVME_BOUNCE_CHUNKS);
		return -E2BIG;
	}
	first = find_run(b->free_mask, (uint32_t)n);
	if (first < 0) {
		return -EAGAIN;
	}
	b->free_mask &= ~((n >= 64 ? ALL_FREE : ((uint64_t)1 << n) - 1) << first);
	nio->bounce_first = (uint8_t)first;
	nio->bounce_chunks = (uint8_t)n;
	nio->bounce_buf = b->mem + (size_t)first * b->chunk;
	nio->bounce_len = (uint32_t)len;
	if (bdev_io->type != SPIO_BDEV_IO_TYPE_READ) {
		spio_copy_iovs_to_buf(nio->bounce_buf, len, bdev_io->u.iovs, bdev_io->u.iovcnt);
	}
	b->bounced++;
	atomic_fetch_add_explicit(&ch->nc->bounced_ios, 1, memory_order_relaxed);
	return 0;
}

void bdev_nvme_bounce_put(struct bdev_nvme_channel *ch, struct bdev_nvme_io *nio, bool copy_out)
{
	struct spio_bdev_io *bdev_io = spio_bdev_io_from_ctx(nio);
	uint64_t n = nio->bounce_chunks;

	if (nio->bounce_len == 0) {
		return;
	}
	if (copy_out) {
		spio_copy_buf_to_iovs(bdev_io->u.iovs, bdev_io->u.iovcnt, nio->bounce_buf,
				      nio->bounce_len);
	}
	ch->bounce.free_mask |= (n >= 64 ? ALL_FREE : ((uint64_t)1 << n) - 1) << nio->bounce_first;
	nio->bounce_len = 0;
	nio->bounce_buf = NULL;
}

void bdev_nvme_bounce_info_json(struct bdev_nvme_ctrlr *nc, struct spio_json_write_ctx *w)
{
	if (!nc->pcie || nc->ctrlr == NULL) {
		return;
	}
	spio_json_write_named_object_begin(w, "spio_bounce");
	spio_json_write_named_uint64(w, "bounced_ios", atomic_load(&nc->bounced_ios));
	spio_json_write_named_uint64(w, "waited_ios", atomic_load(&nc->bounce_waits));
	spio_json_write_named_uint64(w, "pool_bytes_per_channel",
				     (uint64_t)pool_chunk(nc) * BDEV_NVME_BOUNCE_CHUNKS);
	spio_json_write_object_end(w);
}
