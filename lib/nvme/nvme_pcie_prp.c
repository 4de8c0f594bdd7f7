/*
 * The data pointer of a PCIe command: PRP entries (PRP1 may start inside a
 * page, every later entry is a whole page, PRP2 the second page or a list)
 * or, for buffers PRPs cannot describe, an SGL of data blocks. Pure
 * functions over a vtophys callback, so the tests can use a fake one.
 */
#include <errno.h>
#include <string.h>

#include "spio/dma.h"
#include "spio/log.h"

#include "nvme/nvme_pcie_internal.h"

#define PAGE_MASK ((uint64_t)NVME_PCIE_PAGE_SIZE - 1)

static uint64_t translate(const void *va, uint64_t want, uint64_t *got,
			  nvme_pcie_vtophys_fn vtophys)
{
	uint64_t size = want;
	uint64_t iova = vtophys(va, &size);

	if (iova == SPIO_VTOPHYS_ERROR || size == 0) {
		SPIO_ERRLOG("nvme pcie: buffer %p is not DMA memory (use spio_dma_malloc)\n", va);
		return SPIO_VTOPHYS_ERROR;
	}
	*got = SPIO_MIN(size, want);
	return iova;
}

/* Bytes of iov[i] that belong to the transfer, given `left` still to place. */
static uint64_t elem_len(const struct iovec *iov, uint64_t left)
{
	return SPIO_MIN((uint64_t)iov->iov_len, left);
}

int nvme_pcie_build_prps(struct spio_nvme_cmd *cmd, const struct iovec *iov, int iovcnt,
			 uint32_t len, uint64_t *list, uint64_t list_iova,
			 nvme_pcie_vtophys_fn vtophys)
{
	uint64_t left = len;
	uint32_t n = 0; /* entries placed: PRP1, then list[0..] */
	bool need_page_start = false;

	cmd->psdt = SPIO_NVME_PSDT_PRP;
	cmd->dptr.prp.prp1 = 0;
	cmd->dptr.prp.prp2 = 0;
	for (int i = 0; i < iovcnt && left > 0; i++) {
		const uint8_t *va = iov[i].iov_base;
		uint64_t rest = elem_len(&iov[i], left);

		while (rest > 0) {
			uint64_t got;
			uint64_t iova = translate(va, rest, &got, vtophys);
			uint64_t chunk;

			if (iova == SPIO_VTOPHYS_ERROR) {
				return -EFAULT;
			}
			chunk = SPIO_MIN(got, NVME_PCIE_PAGE_SIZE - (iova & PAGE_MASK));
			/* Only the first entry may start inside a page (dword aligned). */
			if ((n == 0 && (iova & 3) != 0) ||
			    (need_page_start && (iova & PAGE_MASK))) {
				return -ENOTSUP;
			}
			if (n == 0) {
				cmd->dptr.prp.prp1 = iova;
			} else {
				if (n - 1 >= NVME_PCIE_PRP_LIST_ENTRIES) {
					SPIO_ERRLOG("nvme pcie: %u bytes need more than %u PRP "
						    "entries\n",
						    len, NVME_PCIE_PRP_LIST_ENTRIES + 1);
					return -EINVAL;
				}
				list[n - 1] = iova;
			}
			n++;
			va += chunk;
			rest -= chunk;
			left -= chunk;
			/* Every entry but the last must end at a page end. */
			need_page_start = true;
			if (left > 0 && ((iova + chunk) & PAGE_MASK) != 0) {
				return -ENOTSUP;
			}
		}
	}
	if (left > 0) {
		SPIO_ERRLOG("nvme pcie: iovecs hold %u bytes short of %u\n", (uint32_t)left, len);
		return -EINVAL;
	}
	if (n == 2) {
		cmd->dptr.prp.prp2 = list[0];
	} else if (n > 2) {
		cmd->dptr.prp.prp2 = list_iova;
	}
	return 0;
}

static void sgl_data_block(struct spio_nvme_sgl_descriptor *d, uint64_t iova, uint64_t len)
{
	memset(d, 0, sizeof(*d));
	d->address = iova;
	d->unkeyed.length = (uint32_t)len;
	d->unkeyed.type = SPIO_NVME_SGL_TYPE_DATA_BLOCK;
	d->unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_ADDRESS;
}

int nvme_pcie_build_sgl(struct spio_nvme_cmd *cmd, const struct iovec *iov, int iovcnt,
			uint32_t len, struct spio_nvme_sgl_descriptor *list, uint64_t list_iova,
			uint32_t sgls, nvme_pcie_vtophys_fn vtophys)
{
	bool dword = (sgls & SPIO_NVME_SGLS_SUPPORT_MASK) == SPIO_NVME_SGLS_DWORD_ALIGNED;
	uint64_t left = len;
	uint32_t n = 0;

	if ((sgls & SPIO_NVME_SGLS_SUPPORT_MASK) == 0) {
		return -ENOTSUP;
	}
	cmd->psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	memset(&cmd->dptr, 0, sizeof(cmd->dptr));
	for (int i = 0; i < iovcnt && left > 0; i++) {
		const uint8_t *va = iov[i].iov_base;
		uint64_t rest = elem_len(&iov[i], left);

		while (rest > 0) {
			uint64_t got;
			uint64_t iova = translate(va, rest, &got, vtophys);

			if (iova == SPIO_VTOPHYS_ERROR) {
				return -EFAULT;
			}
			if (dword && ((iova | got) & 3) != 0) {
				SPIO_ERRLOG("nvme pcie: SGL element %p + %lu not dword aligned, as "
					    "the controller requires\n",
					    (const void *)va, (unsigned long)got);
				return -EINVAL;
			}
			if (n >= NVME_PCIE_SGL_LIST_ENTRIES) {
				SPIO_ERRLOG(
				    "nvme pcie: buffer needs more than %u SGL descriptors\n",
				    NVME_PCIE_SGL_LIST_ENTRIES);
				return -EINVAL;
			}
			sgl_data_block(&list[n++], iova, got);
			va += got;
			rest -= got;
			left -= got;
		}
	}
	if (left > 0) {
		SPIO_ERRLOG("nvme pcie: iovecs hold %u bytes short of %u\n", (uint32_t)left, len);
		return -EINVAL;
	}
	if (n == 1) {
		cmd->dptr.sgl1 = list[0];
	} else if (n > 1) {
		cmd->dptr.sgl1.address = list_iova;
		cmd->dptr.sgl1.unkeyed.length = n * (uint32_t)sizeof(*list);
		cmd->dptr.sgl1.unkeyed.type = SPIO_NVME_SGL_TYPE_LAST_SEGMENT;
		cmd->dptr.sgl1.unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_ADDRESS;
	}
	return 0;
}

int nvme_pcie_build_data(struct spio_nvme_cmd *cmd, const struct iovec *iov, int iovcnt,
			 uint32_t len, void *list, uint64_t list_iova, uint32_t sgls,
			 nvme_pcie_vtophys_fn vtophys)
{
	int rc = nvme_pcie_build_prps(cmd, iov, iovcnt, len, list, list_iova, vtophys);

	if (rc != -ENOTSUP) {
		return rc;
	}
	if ((sgls & SPIO_NVME_SGLS_SUPPORT_MASK) == 0) {
		SPIO_ERRLOG("nvme pcie: buffer of %u bytes in %d elements is not page aligned "
			    "between elements (or not dword aligned at its start) and the "
			    "controller has no SGLs\n",
			    len, iovcnt);
		return -EINVAL;
	}
	return nvme_pcie_build_sgl(cmd, iov, iovcnt, len, list, list_iova, sgls, vtophys);
}
