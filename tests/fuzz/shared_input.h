/*
 * The chunk header that the jsonrpc, nvmf_tcp and nvme_tcp_host fuzzers'
 * inputs start with: byte 0 bits 0-3 the number of chunk lengths that
 * follow (bits 4-7 are the fuzzer's own), then 2 bytes per chunk, its
 * length, little-endian.
 */
#ifndef SPIO_FUZZ_SHARED_INPUT_H
#define SPIO_FUZZ_SHARED_INPUT_H

#include <stddef.h>
#include <stdint.h>

/* Most chunk lengths a header holds (its 4-bit count). */
#define FT_MAX_CHUNKS 15u

/*
 * Read the chunk lengths of the header of `data` (`size` bytes, any bytes)
 * into `chunk` (room for FT_MAX_CHUNKS) and their number into `*nchunks`;
 * a length cut off by the end of the data is dropped.
 * \return the header's length, where the stream starts (at most `size`).
 */
size_t ft_chunks_parse(const uint8_t *data, size_t size, uint16_t *chunk, uint32_t *nchunks);

#endif
