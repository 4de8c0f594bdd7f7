/*
 * The fuzzers' chunk header (shared_input.h).
 */
#include "shared_input.h"

size_t ft_chunks_parse(const uint8_t *data, size_t size, uint16_t *chunk, uint32_t *nchunks)
{
	size_t off = 1;

	*nchunks = 0;
	if (size == 0) {
		return 0;
	}
	for (uint32_t i = 0; i < (data[0] & 0xfu); i++, off += 2) {
		if (off + 2 > size) {
			break;
		}
		chunk[i] = (uint16_t)(data[off] | data[off + 1] << 8);
		*nchunks = i + 1;
	}
	return off > size ? size : off;
}
