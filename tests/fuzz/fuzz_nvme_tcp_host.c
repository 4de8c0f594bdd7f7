/*
 * Fuzzer: the byte stream a (hostile) NVMe/TCP target sends, into the
 * initiator of lib/nvme (PDU parser, ICResp and Connect handling,
 * controller bring-up, C2HData / R2T / H2CData / CapsuleResp handling of
 * an I/O queue with reads and writes in flight). The engine and the input
 * format: nvme_tcp_host_engine.h.
 *
 * Aborts (besides sanitizer reports) when the initiator sends invalid
 * NVMe/TCP, stays busy or does not notice a closed connection within 5 s,
 * completes a command twice or never, reports success for a command the
 * target did not answer with success or whose read data did not fully
 * arrive in order (or differs from what was sent), or leaves a file
 * descriptor open after the controller was detached.
 *
 * FUZZ_VERBOSE=1 in the environment turns the initiator's log on.
 */
#include <stddef.h>
#include <stdint.h>

#include "spio/nvme_spec.h"
#include "spio/util.h"

#include "nvme_tcp_host_engine.h"
#include "nvmf_tcp_input.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fh_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fh_run(data, size);
	return 0;
}

/* A header field: byte offset in the PDU and width. */
struct field {
	uint8_t off;
	uint8_t width;
};

static const struct field g_common[] = {{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 4}};
/* CapsuleResp: CDW0, CDW1, SQHD, SQID, CID, status. */
static const struct field g_resp[] = {{8, 4}, {12, 4}, {16, 2}, {18, 2}, {20, 2}, {22, 2}, {23, 1}};
/* C2HData: CCCID, DATAO, DATAL; R2T: CCCID, TTAG, R2TO, R2TL (same offsets). */
static const struct field g_data[] = {{8, 2}, {10, 2}, {12, 4}, {16, 4}, {1, 1}};
/* ICResp: PFV, CPDA, DGST, MAXH2CDATA; term req: FES, FEI. */
static const struct field g_ic[] = {{8, 2}, {10, 1}, {11, 1}, {12, 4}};
static const struct field g_term[] = {{8, 2}, {10, 4}};

static const uint32_t g_interesting[] = {
    0,	    1,	    2,		3,	    4,		7,	   8,	 15,   16,     24,
    31,	    32,	    63,		64,	    127,	128,	   255,	 256,  511,    512,
    513,    1023,   1024,	1536,	    4095,	4096,	   4097, 8191, 8192,   16384,
    32767,  32768,  65535,	65536,	    0x7f,	0x80,	   0xfe, 0xff, 0x7fff, 0x8000,
    0xfffe, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff};

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

/* Change one header field of a target PDU of the stream. \return 0 when it has none. */
static int tweak_header(uint8_t *s, size_t len, uint64_t rnd)
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
	/* Three times in four a field of the type's own header. */
	if (rnd & 3) {
		switch (p[0]) {
		case SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP:
			tab = g_resp;
			ntab = SPIO_COUNTOF(g_resp);
			break;
		case SPIO_NVME_TCP_PDU_TYPE_C2H_DATA:
		case SPIO_NVME_TCP_PDU_TYPE_R2T:
			tab = g_data;
			ntab = SPIO_COUNTOF(g_data);
			break;
		case SPIO_NVME_TCP_PDU_TYPE_IC_RESP:
			tab = g_ic;
			ntab = SPIO_COUNTOF(g_ic);
			break;
		case SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ:
			tab = g_term;
			ntab = SPIO_COUNTOF(g_term);
			break;
		default:
			break;
		}
	}
	rnd >>= 2;
	f = tab[rnd % ntab];
	rnd /= ntab;
	if ((size_t)f.off + f.width > room) {
		f = g_common[0];
	}
	put_le(p + f.off, f.width, new_value(get_le(p + f.off, f.width), f.width, rnd));
	return 1;
}

/*
 * Mutations: libFuzzer's (or the replay program's) on the whole input, or a
 * PDU header field changed to a nearby or boundary value; then, most of the
 * time, the digests made right again so that the change gets past the
 * digest checks. The input's header has nvmf_tcp's layout (chunk count in
 * bits 0-3, then the lengths), so its parser and digest fixer serve here.
 */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	uint64_t rnd = (uint64_t)seed * 0x9e3779b97f4a7c15ull;
	struct fz_input in;

	rnd ^= rnd >> 29;
	fz_input_parse(data, size, &in);
	if (rnd % 3 == 0 && in.len > 0) {
		tweak_header((uint8_t *)(uintptr_t)in.stream, in.len, rnd >> 2);
	} else {
		size = LLVMFuzzerMutate(data, size, max_size);
		fz_input_parse(data, size, &in);
	}
	if ((rnd >> 40) % 4 != 0) {
		fz_stream_fix_digests((uint8_t *)(uintptr_t)in.stream, in.len);
	}
	return size;
}
