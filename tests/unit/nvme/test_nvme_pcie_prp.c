/*
 * PRP and SGL building for the PCIe transport (lib/nvme/nvme_pcie_prp.c)
 * against a fake vtophys: a 4 MiB region whose IOVA jumps in the middle
 * (so a buffer that is contiguous in memory need not be in IOVA space).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spio/dma.h"

#include "nvme/nvme_pcie_internal.h"

#define PG NVME_PCIE_PAGE_SIZE
#define REGION_PAGES 1024u
/* Pages from SPLIT_PAGE on are at another IOVA: contiguity ends there. */
#define SPLIT_PAGE 600u
#define IOVA_LO 0x100000000ull
#define IOVA_HI 0x900000000ull
#define LIST_IOVA 0x7770000ull

static uint8_t *g_region;
static uint64_t g_list[NVME_PCIE_PRP_LIST_ENTRIES];

static uint64_t fake_vtophys(const void *buf, uint64_t *size)
{
	const uint8_t *p = buf;
	uint64_t off, end, iova;

	if (p < g_region || p >= g_region + (size_t)REGION_PAGES * PG) {
		return SPIO_VTOPHYS_ERROR;
	}
	off = (uint64_t)(p - g_region);
	if (off < (uint64_t)SPLIT_PAGE * PG) {
		iova = IOVA_LO + off;
		end = (uint64_t)SPLIT_PAGE * PG;
	} else {
		iova = IOVA_HI + off;
		end = (uint64_t)REGION_PAGES * PG;
	}
	if (size != NULL) {
		*size = SPIO_MIN(*size, end - off);
	}
	return iova;
}

static uint64_t iova_of(size_t off)
{
	return fake_vtophys(g_region + off, NULL);
}

static void setup(void)
{
	g_region = aligned_alloc(PG, (size_t)REGION_PAGES * PG);
	cr_assert_not_null(g_region);
	memset(g_list, 0xAB, sizeof(g_list));
}

static void teardown(void)
{
	free(g_region);
}

TestSuite(nvme_pcie_prp, .init = setup, .fini = teardown);

/* PRPs for one flat buffer at region offset `off`. */
static int prps_flat(struct spio_nvme_cmd *cmd, size_t off, uint32_t len)
{
	struct iovec iov = {.iov_base = g_region + off, .iov_len = len};

	memset(cmd, 0xFF, sizeof(*cmd));
	return nvme_pcie_build_prps(cmd, &iov, 1, len, g_list, LIST_IOVA, fake_vtophys);
}

Test(nvme_pcie_prp, zero_length_has_no_data_pointer)
{
	struct spio_nvme_cmd cmd;

	cr_assert_eq(prps_flat(&cmd, 0, 0), 0);
	cr_assert_eq(cmd.psdt, SPIO_NVME_PSDT_PRP);
	cr_assert_eq(cmd.dptr.prp.prp1, 0);
	cr_assert_eq(cmd.dptr.prp.prp2, 0);
}

Test(nvme_pcie_prp, within_one_page)
{
	struct spio_nvme_cmd cmd;

	cr_assert_eq(prps_flat(&cmd, 0, PG), 0, "one aligned page");
	cr_assert_eq(cmd.dptr.prp.prp1, iova_of(0));
	cr_assert_eq(cmd.dptr.prp.prp2, 0, "a single page needs no PRP2");

	cr_assert_eq(prps_flat(&cmd, 3 * PG + 0x100, 512), 0, "512 bytes inside a page");
	cr_assert_eq(cmd.dptr.prp.prp1, iova_of(3 * PG + 0x100), "PRP1 keeps the offset");
	cr_assert_eq(cmd.dptr.prp.prp2, 0);
}

Test(nvme_pcie_prp, crossing_one_page_boundary)
{
	struct spio_nvme_cmd cmd;

	cr_assert_eq(prps_flat(&cmd, PG - 0x100, 512), 0);
	cr_assert_eq(cmd.dptr.prp.prp1, iova_of(PG - 0x100));
	cr_assert_eq(cmd.dptr.prp.prp2, iova_of(PG), "PRP2 is the second page itself");
	cr_assert_eq(g_list[1], 0xABABABABABABABABull, "no list written beyond what is used");
}

Test(nvme_pcie_prp, exactly_two_pages)
{
	struct spio_nvme_cmd cmd;

	cr_assert_eq(prps_flat(&cmd, 8 * PG, 2 * PG), 0);
	cr_assert_eq(cmd.dptr.prp.prp1, iova_of(8 * PG));
	cr_assert_eq(cmd.dptr.prp.prp2, iova_of(9 * PG));
}

Test(nvme_pcie_prp, three_pages_use_a_list)
{
	struct spio_nvme_cmd cmd;

	cr_assert_eq(prps_flat(&cmd, 8 * PG, 3 * PG), 0);
	cr_assert_eq(cmd.dptr.prp.prp1, iova_of(8 * PG));
	cr_assert_eq(cmd.dptr.prp.prp2, LIST_IOVA, "PRP2 points at the list");
	cr_assert_eq(g_list[0], iova_of(9 * PG));
	cr_assert_eq(g_list[1], iova_of(10 * PG));

	/* Unaligned start: 2 pages of data touch 3 pages. */
	cr_assert_eq(prps_flat(&cmd, 8 * PG + 0x200, 2 * PG), 0);
	cr_assert_eq(cmd.dptr.prp.prp1, iova_of(8 * PG + 0x200));
	cr_assert_eq(cmd.dptr.prp.prp2, LIST_IOVA);
	cr_assert_eq(g_list[0], iova_of(9 * PG));
	cr_assert_eq(g_list[1], iova_of(10 * PG));
}

Test(nvme_pcie_prp, list_page_boundary)
{
	struct spio_nvme_cmd cmd;
	uint32_t max = NVME_PCIE_MAX_XFER_SIZE;

	/* 2 MiB from an offset: PRP1's partial page + exactly 512 list entries. */
	cr_assert_eq(prps_flat(&cmd, 0x200, max), 0, "2 MiB at an offset fits one list page");
	cr_assert_eq(cmd.dptr.prp.prp2, LIST_IOVA);
	cr_assert_eq(g_list[0], iova_of(PG));
	cr_assert_eq(g_list[NVME_PCIE_PRP_LIST_ENTRIES - 1],
		     iova_of((size_t)NVME_PCIE_PRP_LIST_ENTRIES * PG));

	/* Aligned: 513 pages = PRP1 + 512 entries, the list's last slot used. */
	cr_assert_eq(prps_flat(&cmd, 0, max + PG), 0, "513 aligned pages");
	cr_assert_eq(g_list[NVME_PCIE_PRP_LIST_ENTRIES - 1],
		     iova_of((size_t)NVME_PCIE_PRP_LIST_ENTRIES * PG));

	/* One entry more than the page holds: refused, not chained. */
	cr_assert_eq(prps_flat(&cmd, 0, max + 2 * PG), -EINVAL, "514 pages");
	cr_assert_eq(prps_flat(&cmd, 0x200, max + PG), -EINVAL, "2 MiB + 4 KiB at an offset");
}

Test(nvme_pcie_prp, iova_discontinuity_inside_a_buffer)
{
	struct spio_nvme_cmd cmd;

	/* Pages SPLIT_PAGE - 1 and SPLIT_PAGE are neighbours in memory, not in IOVA. */
	cr_assert_eq(prps_flat(&cmd, (SPLIT_PAGE - 1) * PG, 2 * PG), 0);
	cr_assert_eq(cmd.dptr.prp.prp1, IOVA_LO + (uint64_t)(SPLIT_PAGE - 1) * PG);
	cr_assert_eq(cmd.dptr.prp.prp2, IOVA_HI + (uint64_t)SPLIT_PAGE * PG);
}

Test(nvme_pcie_prp, iovecs_page_aligned_between_elements)
{
	struct spio_nvme_cmd cmd;
	struct iovec iov[3] = {
	    {.iov_base = g_region + PG - 0x200, .iov_len = 0x200}, /* ends at a page end */
	    {.iov_base = g_region + 10 * PG, .iov_len = 2 * PG},   /* whole pages */
	    {.iov_base = g_region + 20 * PG, .iov_len = 100},	   /* last: any length */
	};
	uint32_t len = 0x200 + 2 * PG + 100;

	cr_assert_eq(nvme_pcie_build_prps(&cmd, iov, 3, len, g_list, LIST_IOVA, fake_vtophys), 0);
	cr_assert_eq(cmd.dptr.prp.prp1, iova_of(PG - 0x200));
	cr_assert_eq(cmd.dptr.prp.prp2, LIST_IOVA);
	cr_assert_eq(g_list[0], iova_of(10 * PG));
	cr_assert_eq(g_list[1], iova_of(11 * PG));
	cr_assert_eq(g_list[2], iova_of(20 * PG));

	/* A zero-length element in the middle is no element. */
	struct iovec iov0[3] = {iov[0], {.iov_base = g_region + 5 * PG + 7, .iov_len = 0}, iov[1]};

	cr_assert_eq(
	    nvme_pcie_build_prps(&cmd, iov0, 3, 0x200 + 2 * PG, g_list, LIST_IOVA, fake_vtophys),
	    0);
	cr_assert_eq(cmd.dptr.prp.prp2, LIST_IOVA);
	cr_assert_eq(g_list[0], iova_of(10 * PG));
	cr_assert_eq(g_list[1], iova_of(11 * PG));
}

Test(nvme_pcie_prp, len_shorter_than_the_iovecs)
{
	struct spio_nvme_cmd cmd;
	struct iovec iov[2] = {
	    {.iov_base = g_region, .iov_len = PG},
	    {.iov_base = g_region + 7 * PG, .iov_len = PG},
	};

	cr_assert_eq(nvme_pcie_build_prps(&cmd, iov, 2, PG, g_list, LIST_IOVA, fake_vtophys), 0);
	cr_assert_eq(cmd.dptr.prp.prp2, 0, "only the first element is part of the transfer");
	cr_assert_eq(nvme_pcie_build_prps(&cmd, iov, 2, 3 * PG, g_list, LIST_IOVA, fake_vtophys),
		     -EINVAL, "iovecs shorter than len");
}

Test(nvme_pcie_prp, odd_sized_iovecs_need_an_sgl)
{
	struct spio_nvme_cmd cmd;
	struct spio_nvme_sgl_descriptor *sgl = (void *)g_list;
	struct iovec iov[3] = {
	    {.iov_base = g_region + 2 * PG, .iov_len = 512},
	    {.iov_base = g_region + 4 * PG + 512, .iov_len = 1000},
	    {.iov_base = g_region + 6 * PG + 3, .iov_len = 37},
	};

	cr_assert_eq(nvme_pcie_build_prps(&cmd, iov, 3, 1549, g_list, LIST_IOVA, fake_vtophys),
		     -ENOTSUP, "a middle element not page aligned");
	cr_assert_eq(nvme_pcie_build_data(&cmd, iov, 3, 1549, g_list, LIST_IOVA, 0, fake_vtophys),
		     -EINVAL, "no SGL support: refused");
	cr_assert_eq(nvme_pcie_build_data(&cmd, iov, 3, 1549, g_list, LIST_IOVA,
					  SPIO_NVME_SGLS_SUPPORTED, fake_vtophys),
		     0);
	cr_assert_eq(cmd.psdt, SPIO_NVME_PSDT_SGL_MPTR_CONTIG);
	cr_assert_eq(cmd.dptr.sgl1.unkeyed.type, SPIO_NVME_SGL_TYPE_LAST_SEGMENT);
	cr_assert_eq(cmd.dptr.sgl1.address, LIST_IOVA);
	cr_assert_eq(cmd.dptr.sgl1.unkeyed.length, 3 * 16);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(sgl[i].unkeyed.type, SPIO_NVME_SGL_TYPE_DATA_BLOCK, "desc %d", i);
		cr_assert_eq(sgl[i].unkeyed.subtype, SPIO_NVME_SGL_SUBTYPE_ADDRESS);
		cr_assert_eq(sgl[i].address, fake_vtophys(iov[i].iov_base, NULL), "desc %d", i);
		cr_assert_eq(sgl[i].unkeyed.length, iov[i].iov_len, "desc %d", i);
	}
	/* Dword-granular SGLs cannot take the 37 bytes at +3. */
	cr_assert_eq(nvme_pcie_build_data(&cmd, iov, 3, 1549, g_list, LIST_IOVA,
					  SPIO_NVME_SGLS_DWORD_ALIGNED, fake_vtophys),
		     -EINVAL);
}

Test(nvme_pcie_prp, unaligned_start)
{
	struct spio_nvme_cmd cmd;
	struct iovec iov = {.iov_base = g_region + 2, .iov_len = 100};

	cr_assert_eq(nvme_pcie_build_prps(&cmd, &iov, 1, 100, g_list, LIST_IOVA, fake_vtophys),
		     -ENOTSUP, "PRP1 must be dword aligned");
	cr_assert_eq(nvme_pcie_build_data(&cmd, &iov, 1, 100, g_list, LIST_IOVA, 0, fake_vtophys),
		     -EINVAL);
	cr_assert_eq(nvme_pcie_build_data(&cmd, &iov, 1, 100, g_list, LIST_IOVA,
					  SPIO_NVME_SGLS_SUPPORTED, fake_vtophys),
		     0);
	cr_assert_eq(cmd.dptr.sgl1.unkeyed.type, SPIO_NVME_SGL_TYPE_DATA_BLOCK,
		     "one element: the descriptor is in the command");
	cr_assert_eq(cmd.dptr.sgl1.address, iova_of(2));
	cr_assert_eq(cmd.dptr.sgl1.unkeyed.length, 100);
}

Test(nvme_pcie_prp, sgl_splits_at_iova_discontinuity)
{
	struct spio_nvme_cmd cmd;
	struct spio_nvme_sgl_descriptor *sgl = (void *)g_list;
	struct iovec iov[2] = {
	    {.iov_base = g_region + (SPLIT_PAGE - 1) * PG + 8, .iov_len = PG},
	    {.iov_base = g_region + 3, .iov_len = 5},
	};

	cr_assert_eq(nvme_pcie_build_data(&cmd, iov, 2, PG + 5, g_list, LIST_IOVA,
					  SPIO_NVME_SGLS_SUPPORTED, fake_vtophys),
		     0);
	cr_assert_eq(cmd.dptr.sgl1.unkeyed.length, 3 * 16, "the first element becomes two");
	cr_assert_eq(sgl[0].unkeyed.length, PG - 8);
	cr_assert_eq(sgl[1].address, IOVA_HI + (uint64_t)SPLIT_PAGE * PG);
	cr_assert_eq(sgl[1].unkeyed.length, 8);
	cr_assert_eq(sgl[2].address, iova_of(3));
}

Test(nvme_pcie_prp, too_many_sgl_elements)
{
	struct spio_nvme_cmd cmd;
	int n = NVME_PCIE_SGL_LIST_ENTRIES + 1;
	struct iovec *iov = calloc((size_t)n, sizeof(*iov));

	for (int i = 0; i < n; i++) {
		iov[i].iov_base = g_region + (size_t)i * PG + 4;
		iov[i].iov_len = 4;
	}
	cr_assert_eq(nvme_pcie_build_data(&cmd, iov, n - 1, (uint32_t)(n - 1) * 4, g_list,
					  LIST_IOVA, SPIO_NVME_SGLS_SUPPORTED, fake_vtophys),
		     0, "256 descriptors fill the page");
	cr_assert_eq(nvme_pcie_build_data(&cmd, iov, n, (uint32_t)n * 4, g_list, LIST_IOVA,
					  SPIO_NVME_SGLS_SUPPORTED, fake_vtophys),
		     -EINVAL, "257 do not");
	free(iov);
}

Test(nvme_pcie_prp, not_dma_memory)
{
	struct spio_nvme_cmd cmd;
	uint8_t stack_buf[64];
	struct iovec iov = {.iov_base = stack_buf, .iov_len = sizeof(stack_buf)};
	struct iovec iov2[2] = {
	    {.iov_base = g_region, .iov_len = PG},
	    {.iov_base = stack_buf, .iov_len = sizeof(stack_buf)},
	};

	cr_assert_eq(nvme_pcie_build_data(&cmd, &iov, 1, 64, g_list, LIST_IOVA,
					  SPIO_NVME_SGLS_SUPPORTED, fake_vtophys),
		     -EFAULT);
	cr_assert_eq(
	    nvme_pcie_build_data(&cmd, iov2, 2, PG + 64, g_list, LIST_IOVA, 0, fake_vtophys),
	    -EFAULT, "a later element outside DMA memory");
	cr_assert_eq(nvme_pcie_build_sgl(&cmd, iov2, 2, PG + 64, (void *)g_list, LIST_IOVA,
					 SPIO_NVME_SGLS_SUPPORTED, fake_vtophys),
		     -EFAULT);
}
