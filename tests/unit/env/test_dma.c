/* DMA memory: allocation, alignment, boundaries, IOVA, limits, bad input. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper_hugepages.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/util.h"

#define MiB (1024ULL * 1024)

static void init_env(bool no_huge, uint64_t mem_mb)
{
	struct spio_env_opts opts;

	spio_env_opts_init(&opts, sizeof(opts));
	opts.name = "test_dma";
	opts.no_huge = no_huge;
	opts.mem_size_mb = mem_mb;
	int rc = spio_env_init(&opts);
	cr_assert_eq(rc, 0, "spio_env_init: expected 0, got %d", rc);
}

static void fini_env(void)
{
	spio_env_fini();
}

TestSuite(dma_nohuge, .init = NULL, .fini = fini_env);

Test(dma_nohuge, malloc_before_init_fails)
{
	errno = 0;
	void *p = spio_dma_malloc(4096, 0);
	cr_assert_null(p, "expected NULL before spio_env_init");
	cr_assert_eq(errno, EINVAL, "expected EINVAL, got %d", errno);
	cr_assert_eq(spio_vtophys(&p, NULL), SPIO_VTOPHYS_ERROR);
}

Test(dma_nohuge, bad_arguments)
{
	init_env(true, 0);
	struct spio_dma_stats before, after;
	cr_assert_eq(spio_dma_get_stats(&before), 0);

	errno = 0;
	cr_assert_null(spio_dma_malloc(0, 0), "size 0 must fail");
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(spio_dma_malloc(100, 3), "non-power-of-two alignment must fail");
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(spio_dma_malloc(100, 4 * MiB), "alignment above 2 MiB must fail");
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(spio_dma_malloc(SIZE_MAX, 0), "huge size must fail");
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(spio_dma_realloc(NULL, 0, 0));
	cr_assert_eq(spio_dma_get_stats(NULL), -EINVAL);
	cr_assert_eq(spio_dma_buf_alloc(NULL, 4096, 0), -EINVAL);

	struct spio_dma_buf b;
	cr_assert_eq(spio_dma_buf_alloc(&b, 0, 0), -EINVAL);
	cr_assert_null(b.ptr, "buf must be cleared on error");

	/* Freeing garbage is reported and ignored: NULL, a stack address, an
	 * interior pointer, a double free. */
	spio_dma_free(NULL);
	int local;
	spio_dma_free(&local);
	char *p = spio_dma_malloc(4096, 0);
	cr_assert_not_null(p);
	spio_dma_free(p + 64);
	cr_assert_eq(spio_dma_usable_size(p), 4096, "interior free must not free the buffer");
	spio_dma_free(p);
	spio_dma_free(p);
	cr_assert_eq(spio_dma_usable_size(p), 0);

	cr_assert_eq(spio_dma_get_stats(&after), 0);
	cr_assert_eq(after.allocations, before.allocations, "expected %lu live, got %lu",
		     before.allocations, after.allocations);
}

Test(dma_nohuge, alignment_and_boundaries)
{
	init_env(true, 0);
	cr_assert(!spio_env_hugepages_enabled(), "no_huge must not use hugepages");

	static const size_t sizes[] = {1,    63,   64,	 65,	100,	 512,
				       4095, 4096, 4097, 65536, 1000000, 2 * MiB};
	static const size_t aligns[] = {0, 1, 8, 64, 512, 4096, 65536, 2 * MiB};
	void *bufs[SPIO_COUNTOF(sizes) * SPIO_COUNTOF(aligns)];
	size_t n = 0;

	for (size_t i = 0; i < SPIO_COUNTOF(sizes); i++) {
		for (size_t j = 0; j < SPIO_COUNTOF(aligns); j++) {
			size_t align = aligns[j] ? aligns[j] : 64;
			uint8_t *p = spio_dma_malloc(sizes[i], aligns[j]);
			cr_assert_not_null(p, "malloc(%zu, %zu) failed", sizes[i], aligns[j]);
			cr_assert_eq((uintptr_t)p % align, 0, "malloc(%zu, %zu) = %p misaligned",
				     sizes[i], aligns[j], (void *)p);
			uintptr_t first = (uintptr_t)p / (2 * MiB);
			uintptr_t last = ((uintptr_t)p + sizes[i] - 1) / (2 * MiB);
			cr_assert_eq(first, last, "buffer of %zu at %p crosses a 2 MiB boundary",
				     sizes[i], (void *)p);
			cr_assert_geq(spio_dma_usable_size(p), sizes[i]);
			memset(p, (int)n, sizes[i]);
			bufs[n++] = p;
		}
	}
	/* Nothing overlapped: each buffer still holds its own byte. */
	n = 0;
	for (size_t i = 0; i < SPIO_COUNTOF(sizes); i++) {
		for (size_t j = 0; j < SPIO_COUNTOF(aligns); j++, n++) {
			uint8_t *p = bufs[n];
			for (size_t k = 0; k < sizes[i]; k += 61) {
				cr_assert_eq(p[k], (uint8_t)n, "buffer %zu byte %zu overwritten", n,
					     k);
			}
			spio_dma_free(p);
		}
	}
	struct spio_dma_stats st;
	spio_dma_get_stats(&st);
	cr_assert_eq(st.allocations, 0);
	cr_assert_eq(st.allocated_bytes, 0);
}

Test(dma_nohuge, zmalloc_realloc_and_buf)
{
	init_env(true, 0);
	uint8_t *p = spio_dma_malloc(8192, 0);
	memset(p, 0xAB, 8192);
	spio_dma_free(p);
	uint8_t *z = spio_dma_zmalloc(8192, 0);
	for (size_t i = 0; i < 8192; i++) {
		cr_assert_eq(z[i], 0, "zmalloc byte %zu is %u", i, z[i]);
	}
	for (size_t i = 0; i < 8192; i++) {
		z[i] = (uint8_t)i;
	}
	uint8_t *r = spio_dma_realloc(z, 3 * MiB, 4096);
	cr_assert_not_null(r);
	for (size_t i = 0; i < 8192; i++) {
		cr_assert_eq(r[i], (uint8_t)i, "realloc lost byte %zu", i);
	}
	uint8_t *s = spio_dma_realloc(r, 100, 0);
	cr_assert_eq(s, r, "shrinking realloc should keep the buffer");
	spio_dma_free(s);

	struct spio_dma_buf b;
	cr_assert_eq(spio_dma_buf_alloc(&b, 10000, 4096), 0);
	cr_assert_not_null(b.ptr);
	cr_assert_eq(b.len, 10000);
	cr_assert_eq(b.iova, spio_vtophys(b.ptr, NULL));
	spio_dma_buf_free(&b);
	cr_assert_null(b.ptr);
	spio_dma_buf_free(&b);
}

Test(dma_nohuge, vtophys_is_va_and_reports_contiguity)
{
	init_env(true, 0);
	uint8_t *p = spio_dma_malloc(8 * MiB, 0);
	cr_assert_not_null(p);
	uint64_t len = 8 * MiB - 100;
	cr_assert_eq(spio_vtophys(p + 100, &len), (uint64_t)(uintptr_t)(p + 100),
		     "no-huge IOVA must equal the virtual address");
	cr_assert_eq(len, 8 * MiB - 100, "expected the rest of the buffer contiguous, got %lu",
		     len);
	len = 4096;
	spio_vtophys(p, &len);
	cr_assert_eq(len, 4096, "len must not grow beyond the request");
	int stack;
	cr_assert_eq(spio_vtophys(&stack, NULL), SPIO_VTOPHYS_ERROR);
	void *heap = malloc(16);
	cr_assert_eq(spio_vtophys(heap, NULL), SPIO_VTOPHYS_ERROR);
	free(heap);
	spio_dma_free(p);
}

Test(dma_nohuge, limit_is_enforced)
{
	init_env(true, 8);
	struct spio_dma_stats st;
	spio_dma_get_stats(&st);
	cr_assert_eq(st.limit_bytes, 8 * MiB);
	cr_assert_eq(st.mapped_bytes, 8 * MiB, "limit mode maps everything at init");

	void *a = spio_dma_malloc(6 * MiB, 0);
	cr_assert_not_null(a);
	errno = 0;
	void *b = spio_dma_malloc(4 * MiB, 0);
	cr_assert_null(b, "4 MiB more must not fit in an 8 MiB limit");
	cr_assert_eq(errno, ENOMEM);
	void *c = spio_dma_malloc(2 * MiB, 0);
	cr_assert_not_null(c, "the last 2 MiB slot is still free");
	cr_assert_null(spio_dma_malloc(64, 0), "full");
	spio_dma_free(a);
	spio_dma_free(c);
	a = spio_dma_malloc(8 * MiB, 0);
	cr_assert_not_null(a, "after freeing, the whole limit is usable again");
	spio_dma_free(a);
}

Test(dma_nohuge, large_buffers_return_memory)
{
	init_env(true, 0);
	struct spio_dma_stats st0, st1, st2;
	spio_dma_get_stats(&st0);
	void *p = spio_dma_malloc(64 * MiB, 0);
	cr_assert_not_null(p);
	memset(p, 1, 64 * MiB);
	spio_dma_get_stats(&st1);
	cr_assert_geq(st1.mapped_bytes, st0.mapped_bytes + 64 * MiB);
	spio_dma_free(p);
	spio_dma_get_stats(&st2);
	cr_assert_eq(st2.mapped_bytes, st0.mapped_bytes,
		     "grown-on-demand large buffers are unmapped on free: %lu vs %lu",
		     st2.mapped_bytes, st0.mapped_bytes);
}

/* Segments: where a buffer lies, and a new generation when memory is replaced. */
Test(dma_nohuge, segments_locate_buffers_and_track_remaps)
{
	struct spio_dma_segment seg, seg2;
	int stack_var = 0;

	cr_assert_eq(spio_dma_get_segment(&stack_var, 4, &seg), -ENOENT, "env not initialised");
	cr_assert_eq(spio_dma_get_segment_count(), 0);
	init_env(true, 0);
	cr_assert_gt(spio_dma_get_segment_count(), 0);

	uint8_t *small = spio_dma_malloc(4096, 4096);
	cr_assert_eq(spio_dma_get_segment(small, 4096, &seg), 0);
	cr_assert(small >= (uint8_t *)seg.addr && small + 4096 <= (uint8_t *)seg.addr + seg.len,
		  "the buffer lies inside its segment");
	cr_assert_eq(seg.len, 2 * MiB);
	cr_assert_lt(seg.index, spio_dma_get_segment_count());
	cr_assert_gt(seg.generation, 0, "a mapped segment has a generation");
	cr_assert_eq(spio_dma_get_segment(small + 100, 1, &seg2), 0);
	cr_assert_eq(seg2.index, seg.index, "same segment for an address inside the buffer");

	cr_assert_eq(spio_dma_get_segment(small, 0, &seg2), -EINVAL);
	cr_assert_eq(spio_dma_get_segment(small, 4096, NULL), -EINVAL);
	cr_assert_eq(spio_dma_get_segment(&stack_var, 4, &seg2), -ENOENT, "not DMA memory");

	/* A 6 MiB buffer spans segments; its slots are unmapped on free and the
	 * next mapping of the same addresses gets a new generation. */
	uint8_t *big = spio_dma_malloc(6 * MiB, 0);
	cr_assert_not_null(big);
	cr_assert_eq(spio_dma_get_segment(big, 6 * MiB, &seg2), -ERANGE, "crosses segments");
	cr_assert_eq(spio_dma_get_segment(big + 2 * MiB, 2 * MiB, &seg2), 0, "one whole segment");
	uint32_t gen = seg2.generation, index = seg2.index;
	spio_dma_free(big);
	cr_assert_eq(spio_dma_get_segment(big + 2 * MiB, 4096, &seg2), -ENOENT,
		     "returned to the system: no segment");
	big = spio_dma_malloc(6 * MiB, 0);
	cr_assert_not_null(big);
	cr_assert_eq(spio_dma_get_segment(big + 2 * MiB, 4096, &seg2), 0);
	if (seg2.index == index) {
		cr_assert_neq(seg2.generation, gen, "memory replaced: the generation must change");
	}
	spio_dma_free(big);
	spio_dma_free(small);
}

/* Random alloc/free with a pattern per buffer: catches overlap and
 * coalescing bugs in the buddy allocator. */
Test(dma_nohuge, random_churn_keeps_contents)
{
	init_env(true, 0);
	enum { N = 512 };
	uint8_t *bufs[N] = {0};
	size_t lens[N] = {0};
	unsigned seed = 12345;

	for (int iter = 0; iter < 20000; iter++) {
		int i = rand_r(&seed) % N;
		if (bufs[i]) {
			for (size_t k = 0; k < lens[i]; k += 37) {
				cr_assert_eq(bufs[i][k], (uint8_t)i, "buffer %d corrupted at %zu",
					     i, k);
			}
			spio_dma_free(bufs[i]);
			bufs[i] = NULL;
		} else {
			lens[i] =
			    1 + (size_t)rand_r(&seed) % (rand_r(&seed) % 8 == 0 ? 3 * MiB : 9000);
			bufs[i] = spio_dma_malloc(lens[i], (size_t)1 << (rand_r(&seed) % 13));
			cr_assert_not_null(bufs[i]);
			memset(bufs[i], i, lens[i]);
		}
	}
	for (int i = 0; i < N; i++) {
		spio_dma_free(bufs[i]);
	}
	struct spio_dma_stats st;
	spio_dma_get_stats(&st);
	cr_assert_eq(st.allocations, 0);
}

static long g_saved_nr = -1;

static void huge_fini(void)
{
	spio_env_fini();
	test_hugepages_restore(g_saved_nr);
}

TestSuite(dma_huge, .fini = huge_fini);

static uint64_t read_pagemap(const void *va)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;

	if (fd < 0) {
		return 0;
	}
	if (pread(fd, &e, 8, (off_t)((uintptr_t)va / 4096 * 8)) != 8) {
		e = 0;
	}
	close(fd);
	return (e & ((1ULL << 55) - 1)) * 4096 + (uintptr_t)va % 4096;
}

Test(dma_huge, physically_contiguous_within_hugepage)
{
	g_saved_nr = test_hugepages_reserve(16);
	if (g_saved_nr < 0) {
		cr_skip_test("cannot reserve 16 free 2 MiB hugepages (need root and free memory)");
	}
	init_env(false, 0);
	cr_assert(spio_env_hugepages_enabled(), "hugepages were free but not used");

	struct spio_dma_stats st;
	spio_dma_get_stats(&st);
	cr_assert_eq(st.page_size, 2 * MiB);

	uint8_t *p = spio_dma_malloc(MiB, 0);
	cr_assert_not_null(p);
	memset(p, 0x5A, MiB);
	uint64_t len = MiB;
	uint64_t iova = spio_vtophys(p, &len);
	cr_assert_neq(iova, SPIO_VTOPHYS_ERROR);
	cr_assert_eq(len, MiB, "a buffer inside one hugepage is contiguous: got %lu", len);
	if (read_pagemap(p) == 0) {
		cr_skip_test("pagemap hides physical addresses here");
	}
	for (size_t off = 0; off < MiB; off += 4096) {
		uint64_t phys = read_pagemap(p + off);
		cr_assert_eq(phys, iova + off, "page at +%zu: pagemap %#lx, vtophys base %#lx", off,
			     phys, iova);
		cr_assert_eq(spio_vtophys(p + off, NULL), iova + off);
	}
	spio_dma_free(p);

	/* Larger buffers span hugepages; vtophys reports where contiguity ends. */
	uint8_t *big = spio_dma_malloc(6 * MiB, 0);
	cr_assert_not_null(big);
	len = 6 * MiB;
	spio_vtophys(big, &len);
	cr_assert_geq(len, 2 * MiB, "at least one whole hugepage is contiguous");
	cr_assert_eq(spio_vtophys(big + 2 * MiB, NULL), read_pagemap(big + 2 * MiB));
	spio_dma_free(big);
}

Test(dma_huge, limit_beyond_free_pages_falls_back_or_fails_cleanly)
{
	g_saved_nr = test_hugepages_reserve(4);
	if (g_saved_nr < 0) {
		cr_skip_test("cannot reserve 4 free 2 MiB hugepages");
	}
	init_env(false, 4);
	cr_assert(spio_env_hugepages_enabled());
	void *a = spio_dma_malloc(4 * MiB, 0);
	cr_assert_not_null(a);
	cr_assert_null(spio_dma_malloc(64, 0), "4 MiB limit reached");
	spio_dma_free(a);
}
