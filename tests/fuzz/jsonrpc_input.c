/*
 * The jsonrpc fuzzer's input format (jsonrpc_input.h).
 */
#include <string.h>

#include "jsonrpc_input.h"

void jf_input_parse(const uint8_t *data, size_t size, struct jf_input *in)
{
	size_t off = 1;

	memset(in, 0, sizeof(*in));
	if (size == 0) {
		in->stream = data;
		return;
	}
	in->end = (enum jf_end)((data[0] >> 4) & 3);
	in->flags = data[0] & (JF_IDLE | JF_HURRY);
	in->nchunks = data[0] & 0xf;
	for (uint32_t i = 0; i < in->nchunks; i++, off += 2) {
		if (off + 2 > size) {
			in->nchunks = i;
			break;
		}
		in->chunk[i] = (uint16_t)(data[off] | data[off + 1] << 8);
	}
	if (off > size) {
		off = size;
	}
	in->stream = data + off;
	in->len = size - off;
}
