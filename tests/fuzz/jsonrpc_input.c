/*
 * The jsonrpc fuzzer's input format (jsonrpc_input.h).
 */
#include <string.h>

#include "jsonrpc_input.h"
#include "shared_input.h"

_Static_assert(JF_MAX_CHUNKS >= FT_MAX_CHUNKS, "room for every chunk of a header");

void jf_input_parse(const uint8_t *data, size_t size, struct jf_input *in)
{
	size_t off;

	memset(in, 0, sizeof(*in));
	if (size == 0) {
		in->stream = data;
		return;
	}
	in->end = (enum jf_end)((data[0] >> 4) & 3);
	in->flags = data[0] & (JF_IDLE | JF_HURRY);
	off = ft_chunks_parse(data, size, in->chunk, &in->nchunks);
	in->stream = data + off;
	in->len = size - off;
}
