/*
 * SHA-256 (FIPS 180-4), small and slow, for the digests in the manifests of
 * the SPDK-made images (test_blob_images checks it against known answers).
 */
#ifndef HELPER_SHA256_H
#define HELPER_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint8_t block[64];
	size_t fill;
	uint64_t total;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const uint8_t *p, size_t len);
/* The digest as 64 lower-case hex digits into `hex` (65 bytes). */
void sha256_final(struct sha256 *s, char *hex);

#endif
