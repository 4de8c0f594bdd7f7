/*
 * spdk-io DMA memory: buffers a device can read and write, with their IOVA.
 *
 * Memory comes from 2 MiB hugepages when spio_env_init() found free ones (a
 * memfd with MFD_HUGETLB), else from ordinary pages locked in memory
 * ("no-huge" mode). Buffers of up to 2 MiB never cross a 2 MiB boundary, so in
 * hugepage mode each such buffer is physically contiguous.
 *
 * IOVA: in hugepage mode, the physical address (read once per hugepage from
 * /proc/self/pagemap; needs CAP_SYS_ADMIN, otherwise the virtual address is
 * used and a warning is printed). In no-huge mode the IOVA is the virtual
 * address (IOVA = VA, what an IOMMU mapping would use).
 *
 * Thread rules: every function may be called from any OS thread (a mutex
 * guards the allocator: allocation is for setup paths, not per-I/O; per-I/O
 * objects come from mempools). All need spio_env_init().
 */
#ifndef SPIO_DMA_H
#define SPIO_DMA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Returned by spio_vtophys() for memory that is not DMA memory. */
#define SPIO_VTOPHYS_ERROR UINT64_MAX

/** Largest alignment spio_dma_malloc() accepts: one hugepage. */
#define SPIO_DMA_MAX_ALIGN (2u * 1024 * 1024)

/**
 * Allocate `size` bytes of DMA memory aligned to `align`.
 *
 * \param size 1 .. the memory limit.
 * \param align 0 (meaning 64) or a power of two up to SPIO_DMA_MAX_ALIGN.
 * \return the buffer, or NULL with errno EINVAL (size 0, bad alignment, env
 *         not initialised) or ENOMEM (limit reached, no hugepages left). The
 *         caller owns the buffer and frees it with spio_dma_free().
 */
void *spio_dma_malloc(size_t size, size_t align);

/**
 * As spio_dma_malloc(), with the first `size` bytes zeroed: same parameters,
 * errors and ownership (free with spio_dma_free()).
 */
void *spio_dma_zmalloc(size_t size, size_t align);

/**
 * Resize a DMA buffer, keeping min(old, new) bytes of content. A buffer
 * that is already large enough and suitably aligned is returned as is;
 * otherwise the contents move to a new buffer and `buf` is freed (it and
 * every IOVA taken from it are invalid then). NULL `buf` allocates.
 *
 * \param align as spio_dma_malloc(); 0 keeps any alignment of at least 64.
 * \return the buffer, owned by the caller; or NULL with errno EINVAL (`size`
 *         0: use spio_dma_free; `buf` not the start of a live DMA buffer;
 *         bad alignment) or ENOMEM. On failure the old buffer is untouched.
 */
void *spio_dma_realloc(void *buf, size_t size, size_t align);

/**
 * Free a DMA buffer. NULL is ignored; a pointer that is not the start of a
 * live DMA buffer is reported as an error and ignored (never corrupts). The
 * memory must not be used afterwards, by the CPU or by a device: finish or
 * cancel any I/O into it first.
 */
void spio_dma_free(void *buf);

/**
 * Usable size of a live DMA buffer (>= the requested size), 0 if `buf` is not
 * the start of one (or NULL, or the environment is not initialised).
 */
size_t spio_dma_usable_size(const void *buf);

/**
 * Translate a virtual address inside DMA memory to its IOVA.
 *
 * \param buf any address inside a DMA buffer.
 * \param size optional. In: bytes the caller wants translated. Out: how many of
 *        them, from `buf`, are contiguous in IOVA space (<= in).
 * \return the IOVA, or SPIO_VTOPHYS_ERROR if `buf` is not DMA memory (or the
 *         environment is not initialised); `*size` is then untouched.
 * Lock-free. The answer holds while the buffer stays allocated.
 */
uint64_t spio_vtophys(const void *buf, uint64_t *size);

/**
 * A segment: a piece of DMA memory that the system maps as a unit (one
 * 2 MiB slot). Every buffer of up to 2 MiB lies inside one segment. A
 * program that registers memory with the kernel ahead of I/O (an io_uring's
 * fixed buffers) registers whole segments and keys them by `index`.
 */
struct spio_dma_segment {
	void *addr;	/**< start of the segment */
	size_t len;	/**< its length in bytes */
	uint32_t index; /**< 0 .. spio_dma_get_segment_count() - 1 */
	/**
	 * Changes whenever the segment's memory is replaced (returned to the
	 * system and mapped again): a registration made under another
	 * generation refers to old pages and must be made again.
	 */
	uint32_t generation;
};

/**
 * The segment holding all of [buf, buf + len). Any OS thread; lock-free.
 * The answer holds while a buffer in that range stays allocated.
 * \return 0; -EINVAL (NULL seg, len 0); -ENOENT (not DMA memory, or env
 *         not initialised); -ERANGE (the range crosses a segment boundary).
 */
int spio_dma_get_segment(const void *buf, size_t len, struct spio_dma_segment *seg);

/**
 * Number of segment indexes, the bound of spio_dma_segment.index; fixed from
 * spio_env_init() to spio_env_fini() (0 when the env is not initialised).
 */
uint32_t spio_dma_get_segment_count(void);

/** DMA memory currently handed out and reserved, for diagnostics. */
struct spio_dma_stats {
	uint64_t allocated_bytes; /**< sum of live buffers' usable sizes */
	uint64_t allocations;	  /**< live buffers */
	uint64_t mapped_bytes;	  /**< memory mapped from the system */
	uint64_t limit_bytes;	  /**< 0 when unlimited */
	uint64_t page_size;	  /**< 2 MiB (hugepages) or the base page size */
};

/**
 * Fill the caller's `stats` with a consistent snapshot.
 * \return 0; -EINVAL for NULL or when the env is not initialised.
 */
int spio_dma_get_stats(struct spio_dma_stats *stats);

/** A DMA buffer with its length and IOVA. */
struct spio_dma_buf {
	void *ptr;
	size_t len;
	uint64_t iova;
};

/**
 * Allocate a zeroed DMA buffer of `len` bytes into the caller's `buf`, with
 * spio_dma_zmalloc(len, align), and record its length and the IOVA of its
 * start. The caller owns the buffer; free it with spio_dma_buf_free().
 * \return 0, -EINVAL (NULL, len 0, bad align, env not initialised) or
 *         -ENOMEM; `buf` is cleared on error.
 */
int spio_dma_buf_alloc(struct spio_dma_buf *buf, size_t len, size_t align);

/**
 * Free the buffer (spio_dma_free) and clear `buf`. NULL or an empty (cleared)
 * buf is ignored.
 */
void spio_dma_buf_free(struct spio_dma_buf *buf);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_DMA_H */
