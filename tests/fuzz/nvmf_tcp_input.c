/*
 * The nvmf_tcp fuzzer's input format and stream helpers (nvmf_tcp_input.h).
 */
#include <string.h>

#include "spio/nvme_spec.h"
#include "spio/util.h"

#include "nvme/nvme_tcp_pdu.h"
#include "nvmf_tcp_input.h"
#include "shared_input.h"

_Static_assert(FZ_MAX_CHUNKS >= FT_MAX_CHUNKS, "room for every chunk of a header");

void fz_input_parse(const uint8_t *data, size_t size, struct fz_input *in)
{
	size_t off;

	memset(in, 0, sizeof(*in));
	if (size == 0) {
		in->stream = data;
		return;
	}
	in->end = (enum fz_end)((data[0] >> 4) & 3);
	in->kept = data[0] & (FZ_KEPT_RESET | FZ_KEPT_DROP);
	off = ft_chunks_parse(data, size, in->chunk, &in->nchunks);
	in->stream = data + off;
	in->len = size - off;
}

size_t fz_input_header_write(uint8_t *out, enum fz_end end, uint8_t kept, const uint16_t *chunk,
			     uint32_t nchunks)
{
	if (nchunks > FZ_MAX_CHUNKS) {
		return 0;
	}
	out[0] =
	    (uint8_t)(nchunks | ((unsigned)end & 3) << 4 | (kept & (FZ_KEPT_RESET | FZ_KEPT_DROP)));
	for (uint32_t i = 0; i < nchunks; i++) {
		out[1 + 2 * i] = (uint8_t)chunk[i];
		out[2 + 2 * i] = (uint8_t)(chunk[i] >> 8);
	}
	return fz_input_header_len(nchunks);
}

static uint32_t get_le(const uint8_t *p, unsigned width)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < width; i++) {
		v |= (uint32_t)p[i] << (8 * i);
	}
	return v;
}

static void put_le(uint8_t *p, unsigned width, uint32_t v)
{
	for (unsigned i = 0; i < width; i++) {
		p[i] = (uint8_t)(v >> (8 * i));
	}
}

size_t fz_stream_pdus(const uint8_t *s, size_t len, size_t *offs, size_t max)
{
	size_t n = 0, off = 0;

	while (n < max && off + sizeof(struct spio_nvme_tcp_common_pdu_hdr) <= len) {
		uint32_t plen = get_le(s + off + 4, 4);

		offs[n++] = off;
		if (plen < sizeof(struct spio_nvme_tcp_common_pdu_hdr) || plen > len - off) {
			break;
		}
		off += plen;
	}
	return n;
}

void fz_stream_fix_digests(uint8_t *s, size_t len)
{
	size_t offs[512];
	size_t n = fz_stream_pdus(s, len, offs, SPIO_COUNTOF(offs));

	for (size_t i = 0; i < n; i++) {
		uint8_t *p = s + offs[i];
		size_t room = len - offs[i];
		uint32_t hlen = p[2], pdo = p[3], plen = get_le(p + 4, 4);
		bool no_dgst = p[0] == SPIO_NVME_TCP_PDU_TYPE_IC_REQ ||
			       p[0] == SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ;

		if (no_dgst || plen > room) {
			continue;
		}
		if ((p[1] & SPIO_NVME_TCP_CH_FLAGS_HDGSTF) && hlen >= 8 &&
		    hlen + SPIO_NVME_TCP_DIGEST_LEN <= plen) {
			put_le(p + hlen, 4, nvme_tcp_hdr_digest(p, hlen));
		}
		if ((p[1] & SPIO_NVME_TCP_CH_FLAGS_DDGSTF) && pdo > 0 &&
		    pdo + SPIO_NVME_TCP_DIGEST_LEN <= plen) {
			struct iovec iov = {.iov_base = p + pdo, .iov_len = plen - pdo - 4};

			put_le(p + plen - 4, 4,
			       nvme_tcp_data_digest(&iov, 1, 0, (uint32_t)iov.iov_len));
		}
	}
}

/* A header field: byte offset in the PDU and width. */
struct field {
	uint8_t off;
	uint8_t width;
};

static const struct field g_common[] = {{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 4}};
/* CapsuleCmd: the SQE from byte 8 (opcode, flags, CID, NSID, SGL, CDW10-15). */
static const struct field g_capsule[] = {{8, 1},  {9, 1},  {10, 2}, {12, 4}, {12, 1}, {32, 4},
					 {36, 4}, {40, 4}, {47, 1}, {48, 4}, {50, 2}, {52, 4},
					 {52, 2}, {54, 1}, {56, 4}, {60, 4}, {64, 4}, {68, 4}};
/* H2CData: CCCID, TTAG, DATAO, DATAL. */
static const struct field g_h2c[] = {{8, 2}, {10, 2}, {12, 4}, {16, 4}};
/* ICReq: PFV, HPDA, DGST, MAXR2T; term req: FES, FEI. */
static const struct field g_ic[] = {{8, 2}, {10, 1}, {11, 1}, {12, 4}};
static const struct field g_term[] = {{8, 2}, {10, 4}};

static const uint32_t g_interesting[] = {
    0,	    1,	    2,	  3,	4,    7,     8,		 15,	     16,	 24,	    31,
    32,	    63,	    64,	  72,	127,  128,   255,	 256,	     511,	 512,	    1023,
    1024,   4095,   4096, 4097, 8192, 65535, 65536,	 131072,     131073,	 0x7fff,    0x8000,
    0xfffe, 0xffff, 0x7f, 0x80, 0xfe, 0xff,  0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};

static uint32_t new_value(uint32_t old, unsigned width, uint64_t rnd)
{
	uint32_t mask = width == 4 ? UINT32_MAX : (1u << (8 * width)) - 1;
	uint32_t delta = (uint32_t)((rnd >> 8) % 16) + 1;

	switch (rnd % 6) {
	case 0:
		return (old + delta) & mask;
	case 1:
		return (old - delta) & mask;
	case 2:
		return g_interesting[(rnd >> 12) % SPIO_COUNTOF(g_interesting)] & mask;
	case 3:
		return old ^ (1u << ((rnd >> 8) % (8 * width)));
	case 4:
		return (uint32_t)(rnd >> 16) & mask;
	default:
		/* Off by a digest or a pad. */
		return (old + ((rnd >> 8) & 1 ? 4u : mask - 3)) & mask;
	}
}

int fz_stream_tweak_header(uint8_t *s, size_t len, uint64_t rnd)
{
	size_t offs[512];
	size_t n = fz_stream_pdus(s, len, offs, SPIO_COUNTOF(offs));
	const struct field *tab = g_common;
	size_t ntab = SPIO_COUNTOF(g_common);
	uint8_t *p;
	size_t room;
	struct field f;

	if (n == 0) {
		return 0;
	}
	p = s + offs[rnd % n];
	room = len - (size_t)(p - s);
	rnd /= n;
	/* Half the time a field of the type's own header, if the PDU has it. */
	if (rnd & 1) {
		switch (p[0]) {
		case SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD:
			tab = g_capsule;
			ntab = SPIO_COUNTOF(g_capsule);
			break;
		case SPIO_NVME_TCP_PDU_TYPE_H2C_DATA:
			tab = g_h2c;
			ntab = SPIO_COUNTOF(g_h2c);
			break;
		case SPIO_NVME_TCP_PDU_TYPE_IC_REQ:
			tab = g_ic;
			ntab = SPIO_COUNTOF(g_ic);
			break;
		case SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ:
			tab = g_term;
			ntab = SPIO_COUNTOF(g_term);
			break;
		default:
			break;
		}
	}
	rnd >>= 1;
	f = tab[rnd % ntab];
	rnd /= ntab;
	if ((size_t)f.off + f.width > room) {
		f = g_common[0];
	}
	put_le(p + f.off, f.width, new_value(get_le(p + f.off, f.width), f.width, rnd));
	return 1;
}
