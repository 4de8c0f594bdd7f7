/* See nvmf_cmd_input.h. */
#include "nvmf_cmd_input.h"

#include <string.h>

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void nc_input_header(const uint8_t *in, size_t size, uint8_t *flags, uint8_t *split_seed)
{
	*flags = size > 0 ? in[0] : 0;
	*split_seed = size > 1 ? in[1] : 0;
}

bool nc_input_next(const uint8_t *in, size_t size, size_t *off, struct nc_record *rec)
{
	const uint8_t *p;
	uint32_t len;
	size_t left;

	if (*off >= size || size - *off < NC_REC_FIXED) {
		return false;
	}
	p = in + *off;
	memset(rec, 0, sizeof(*rec));
	rec->flags = p[0];
	memcpy(&rec->sqe, p + 1, sizeof(rec->sqe));
	len = get16(p + 65);
	if (rec->flags & NC_R_UNITS) {
		len *= 512;
	}
	rec->len = len < NC_MAX_IO ? len : NC_MAX_IO;
	rec->data_len = get16(p + 67);
	*off += NC_REC_FIXED;
	left = size - *off;
	if (rec->data_len > left) {
		rec->data_len = (uint32_t)left;
	}
	rec->data = in + *off;
	*off += rec->data_len;
	/* Bytes beyond the buffer are in the input (skipped) but not in the buffer. */
	if (rec->data_len > rec->len) {
		rec->data_len = rec->len;
	}
	return true;
}

bool nc_input_put(uint8_t *buf, size_t cap, size_t *len, uint8_t flags,
		  const struct spio_nvme_cmd *sqe, uint16_t len_field, const void *data,
		  uint16_t data_len)
{
	uint8_t *p;

	if (cap - *len < NC_REC_FIXED + (size_t)data_len) {
		return false;
	}
	p = buf + *len;
	p[0] = flags;
	memcpy(p + 1, sqe, sizeof(*sqe));
	put16(p + 65, len_field);
	put16(p + 67, data_len);
	if (data_len > 0) {
		memcpy(p + NC_REC_FIXED, data, data_len);
	}
	*len += NC_REC_FIXED + data_len;
	return true;
}

static uint64_t next(uint64_t *r)
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

/* A value near `v`, a boundary, or random. */
static uint32_t tweak32(uint32_t v, uint64_t *r)
{
	static const uint32_t edges[] = {
	    0,	 1,   2,    3,	  4,	 7,	8,	     15,	  255,	      256,
	    511, 512, 4095, 4096, 65535, 65536, 0x7fffffffu, 0xfffffffeu, 0xffffffffu};

	switch (next(r) % 4) {
	case 0:
		return v + (uint32_t)(next(r) % 17) - 8;
	case 1:
		return edges[next(r) % (sizeof(edges) / sizeof(edges[0]))];
	case 2:
		return v ^ (1u << (next(r) % 32));
	default:
		return (uint32_t)next(r);
	}
}

bool nc_input_tweak(uint8_t *in, size_t size, uint64_t rnd)
{
	static const uint8_t opcodes[] = {0x00, 0x01, 0x02, 0x05, 0x06, 0x08, 0x09, 0x0a,
					  0x0c, 0x0d, 0x15, 0x18, 0x7f, 0x80, 0x03, 0xc0};
	size_t n = 0, off = NC_HDR_LEN, at = 0;
	struct nc_record rec;
	uint64_t r = rnd | 1;
	uint8_t *p, *sqe;
	uint32_t v;
	unsigned dw;

	while (nc_input_next(in, size, &off, &rec)) {
		n++;
	}
	if (n == 0) {
		return false;
	}
	/* The start of a record picked at random. */
	n = next(&r) % n;
	off = NC_HDR_LEN;
	for (size_t i = 0; i <= n; i++) {
		at = off;
		nc_input_next(in, size, &off, &rec);
	}
	p = in + at;
	sqe = p + 1;
	switch (next(&r) % 10) {
	case 0:
		in[0] ^= (uint8_t)(1u << (next(&r) % 4));
		break;
	case 1:
		p[0] = (uint8_t)next(&r);
		break;
	case 2:
		sqe[0] = (next(&r) & 1) ? opcodes[next(&r) % sizeof(opcodes)] : (uint8_t)next(&r);
		break;
	case 3:
		sqe[1] ^= (uint8_t)(1u << (next(&r) % 2)); /* FUSE */
		break;
	case 4:
	case 5:
	case 6:
		/* NSID or CDW10-15 */
		dw = (unsigned)(next(&r) % 7);
		dw = dw == 0 ? 1 : dw + 9;
		memcpy(&v, sqe + dw * 4, 4);
		v = tweak32(v, &r);
		memcpy(sqe + dw * 4, &v, 4);
		break;
	case 7:
		/* SGL / PRP / MPTR bytes, which the core must ignore */
		sqe[16 + next(&r) % 24] = (uint8_t)next(&r);
		break;
	default:
		v = get16(p + 65);
		v = tweak32(v, &r);
		put16(p + 65, (uint16_t)v);
		break;
	}
	return true;
}
