/*
 * CRC32C (Castagnoli) over isa-l.
 *
 * isa-l's crc32_iscsi() takes and returns the raw register: it neither
 * inverts the seed nor the result. So the standard CRC32C of a buffer is
 * ~crc32_iscsi(buf, len, ~0u), and feeding the returned register back in
 * continues the computation across split buffers.
 */
#include <limits.h>

#include <isa-l/crc.h>

#include "spio/util.h"

/* crc32_iscsi takes an int length; stay well below INT_MAX per call. */
#define CRC_CHUNK_MAX (1U << 30)

uint32_t spio_crc32c_update(const void *buf, size_t len, uint32_t crc)
{
	/* isa-l takes a non-const pointer but only reads through it. */
	unsigned char *p = (unsigned char *)(uintptr_t)buf;

	if (buf == NULL) {
		return crc;
	}
	while (len > 0) {
		size_t n = SPIO_MIN(len, (size_t)CRC_CHUNK_MAX);

		crc = crc32_iscsi(p, (int)n, crc);
		p += n;
		len -= n;
	}
	return crc;
}

uint32_t spio_crc32c(const void *buf, size_t len)
{
	return ~spio_crc32c_update(buf, len, ~0U);
}
