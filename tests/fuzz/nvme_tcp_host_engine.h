/*
 * The nvme_tcp_host fuzzer's engine, shared by the fuzzer
 * (fuzz_nvme_tcp_host.c) and its seed generator (gen_nvme_tcp_host_corpus.c):
 * the NVMe/TCP initiator (lib/nvme) on one spio thread, connecting to
 * listeners on 127.0.0.1 that the engine serves itself as a hostile target.
 *
 * An input is what the target sends:
 *
 *   byte 0      bits 0-3: number of chunk lengths that follow (0-15);
 *               bit 4 FH_RAW_ADMIN, bit 5 FH_DIGESTS, bit 6 FH_CLOSE_NOW,
 *               bit 7 FH_RAW_IO_CONNECT (below)
 *   2 bytes     per chunk: its length, little-endian
 *   the rest    the byte stream
 *
 * Each chunk is sent once the initiator is quiet (a length past the end
 * takes what is left), then the rest at once.
 *
 * Without FH_RAW_ADMIN the engine's own target brings the controller up
 * (ICResp, Connect, properties, identify, features; AERs are held), then an
 * I/O queue connects (ICResp and Connect answered by the engine, or by the
 * stream itself with FH_RAW_IO_CONNECT) and reads and writes of several
 * sizes are submitted: the stream is what the target answers on that I/O
 * connection. With FH_RAW_ADMIN the stream is the admin connection from
 * its ICResp on, and the input ends with the connect's result.
 * FH_DIGESTS: the host asks for header and data digests (the engine's
 * ICResp grants them). FH_CLOSE_NOW: the target closes right after the
 * last byte instead of once the host is quiet.
 */
#ifndef SPIO_FUZZ_NVME_TCP_HOST_ENGINE_H
#define SPIO_FUZZ_NVME_TCP_HOST_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FH_MAX_CHUNKS 15u
#define FH_RAW_ADMIN 0x10u
#define FH_DIGESTS 0x20u
#define FH_CLOSE_NOW 0x40u
#define FH_RAW_IO_CONNECT 0x80u

/* What the engine's own target does beyond answering correctly (seeds). */
struct fh_auto_opts {
	uint32_t c2h_max;  /* data bytes per C2HData PDU; 0: 8192 */
	uint32_t r2t_max;  /* bytes per R2T; 0: the whole transfer */
	bool c2h_success;  /* reads end with C2H SUCCESS instead of a CapsuleResp */
	uint8_t hpda_cpda; /* CPDA of the engine's ICResp */
};

/*
 * A recording: the bytes the engine's target sent on the connection the
 * input would drive, with a chunk at every burst; the generator turns it
 * into an input.
 */
struct fh_record {
	uint8_t *buf;
	size_t len, cap;
	uint16_t chunk[FH_MAX_CHUNKS];
	uint32_t nchunks;
	size_t chunk_start;
};

/* Set up the environment and the listeners (idempotent). */
void fh_init(void);

/* Run one input; aborts on any broken invariant. */
void fh_run(const uint8_t *data, size_t size);

/*
 * Run with the engine's target answering everything (flags as in byte 0:
 * FH_RAW_ADMIN records the admin connection, else the I/O connection) and
 * record what it sent in `rec` (zeroed by the caller; buf malloc'd).
 */
void fh_record(uint8_t flags, const struct fh_auto_opts *ao, struct fh_record *rec);

/* Header of an input: `nchunks` lengths. \return bytes written (<= 31). */
size_t fh_header_write(uint8_t *out, uint8_t flags, const uint16_t *chunk, uint32_t nchunks);

#endif /* SPIO_FUZZ_NVME_TCP_HOST_ENGINE_H */
