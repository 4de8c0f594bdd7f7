/* Private interfaces between the files of lib/env. */
#ifndef SPIO_ENV_INTERNAL_H
#define SPIO_ENV_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* Set up DMA memory; huge = try hugepages. Returns 0 or -errno. */
int dma_mem_init(const char *name, bool huge, uint64_t mem_size_mb);
void dma_mem_fini(void);
bool dma_mem_hugepages(void);

/* Small per-OS-thread index, 0 .. SPIO_MEMPOOL_MAX_THREAD_CACHES - 1, or -1
 * when all are taken. Released when the OS thread exits. */
int env_thread_cache_index(void);

#endif
