/*
 * The input format of the nvmf_tcp fuzzer and what its target looks like,
 * shared by the fuzzer (fuzz_nvmf_tcp.c) and the seed generator
 * (gen_nvmf_tcp_corpus.c).
 *
 * An input is a small header and then the bytes a host sends on one
 * connection:
 *
 *   byte 0      bits 0-3: number of chunk lengths that follow (0-15);
 *               bits 4-5: how the host ends (enum fz_end);
 *               bit 6: FZ_KEPT_RESET, bit 7: FZ_KEPT_DROP (below)
 *   2 bytes     per chunk: its length, little-endian
 *   the rest    the byte stream
 *
 * The host sends each chunk (a length past the end takes what is left) and
 * waits until the target is quiet, as a real host waits for a response;
 * then it sends the rest at once and ends as the mode says. Chunks let a
 * Connect complete before the commands behind it and cut PDUs anywhere, so
 * the target sees partial headers and data.
 *
 * The two flags act on the controller the fuzzer keeps (below) once the
 * whole stream is sent and the target polled once, while the input's I/O
 * queue may still be connected with commands in flight: FZ_KEPT_RESET
 * resets it (CC.EN 0, wait for CSTS.RDY 0, CC.EN 1), FZ_KEPT_DROP closes its
 * admin queue, which ends it; the fuzzer makes it anew after the input.
 *
 * The target: one subsystem FZ_SUBNQN open to any host, a 32 MiB malloc
 * namespace (512-byte blocks) as nsid 1, and a controller FZ_IO_CNTLID that
 * the fuzzer keeps connected (host FZ_HOSTNQN, host ID FZ_HOSTID, CC.EN
 * set), so that an input can connect an I/O queue to it and reach the bdev.
 */
#ifndef SPIO_FUZZ_NVMF_TCP_INPUT_H
#define SPIO_FUZZ_NVMF_TCP_INPUT_H

#include <stddef.h>
#include <stdint.h>

/* SPDK's names in the captures of ../shared/testdata/spdk/nvme-tcp/. */
#define FZ_SUBNQN "nqn.2016-06.io.spdk:cnode1"
#define FZ_HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:0b6bbd0e-4a1c-4f6b-9d2a-6b1f1e2d3c4b"
#define FZ_HOSTID                                                                             \
	{                                                                                     \
		0x0b, 0x6b, 0xbd, 0x0e, 0x4a, 0x1c, 0x4f, 0x6b, 0x9d, 0x2a, 0x6b, 0x1f, 0x1e, \
		    0x2d, 0x3c, 0x4b                                                          \
	}
#define FZ_SERIAL "SPDK00000000000001"
/* The controller the fuzzer keeps: the subsystem's first dynamic ID. */
#define FZ_IO_CNTLID 1
#define FZ_NS_BLOCK_SIZE 512u
#define FZ_NS_BLOCKS 65536u
/* Queue sizes the transport takes (entries), kept small so that queues fill. */
#define FZ_MAX_QUEUE_DEPTH 32u
#define FZ_MAX_AQ_DEPTH 32u
/* Data buffers: 8 KiB units, three 128 KiB commands' worth, so commands wait for them. */
#define FZ_IO_UNIT_SIZE 8192u
#define FZ_NUM_SHARED_BUFFERS 48u

#define FZ_MAX_CHUNKS 15u
#define FZ_KEPT_RESET 0x40u
#define FZ_KEPT_DROP 0x80u

enum fz_end {
	FZ_END_SETTLE = 0,  /* wait until the target is quiet, then close */
	FZ_END_CLOSE = 1,   /* close right after the last byte */
	FZ_END_SHUT_WR = 2, /* shut the sending side, wait, close */
	FZ_END_NO_READ = 3, /* as SETTLE, but never read what the target sends */
};

struct fz_input {
	enum fz_end end;
	uint8_t kept; /* FZ_KEPT_* */
	uint32_t nchunks;
	uint16_t chunk[FZ_MAX_CHUNKS];
	const uint8_t *stream;
	size_t len;
};

/* Split an input into its header and stream; any bytes are a valid input. */
void fz_input_parse(const uint8_t *data, size_t size, struct fz_input *in);

/* Bytes of the header for `nchunks` chunks. */
static inline size_t fz_input_header_len(uint32_t nchunks)
{
	return 1 + 2 * (size_t)nchunks;
}

/*
 * Write the header (fz_input_header_len(nchunks) bytes) into `out`;
 * `kept`: FZ_KEPT_* flags.
 * \return its length, or 0 for more than FZ_MAX_CHUNKS chunks.
 */
size_t fz_input_header_write(uint8_t *out, enum fz_end end, uint8_t kept, const uint16_t *chunk,
			     uint32_t nchunks);

/*
 * Walk the PDUs of a stream by their PLEN: store the offsets of up to `max`
 * complete common headers (8 bytes) in `offs`. Stops at a PLEN below 8.
 * \return the number stored.
 */
size_t fz_stream_pdus(const uint8_t *s, size_t len, size_t *offs, size_t max);

/*
 * Recompute the header and data digests of every PDU of the stream that
 * has its HDGSTF / DDGSTF flag set and room for them, so that a changed
 * header or data still reaches the code behind the digest checks.
 */
void fz_stream_fix_digests(uint8_t *s, size_t len);

/*
 * Change one PDU header field of the stream (type, flags, HLEN, PDO, PLEN,
 * a command's opcode, CID, NSID, SGL, an H2CData tag / offset / length ...)
 * to a nearby or boundary value, chosen from `rnd`. Sizes stay the same.
 * \return 1 if something changed, 0 when the stream has no PDU.
 */
int fz_stream_tweak_header(uint8_t *s, size_t len, uint64_t rnd);

#endif /* SPIO_FUZZ_NVMF_TCP_INPUT_H */
