/*
 * The input format of the jsonrpc fuzzer (fuzz_jsonrpc.c), also written by
 * its seed generator (gen_jsonrpc_corpus.py).
 *
 * An input is a small header and then the bytes a client sends on one
 * connection to the JSON-RPC server:
 *
 *   byte 0      bits 0-3: number of chunk lengths that follow (0-15);
 *               bits 4-5: how the client ends (enum jf_end);
 *               bit 6: JF_IDLE, bit 7: JF_HURRY (below)
 *   2 bytes     per chunk: its length, little-endian
 *   the rest    the byte stream (JSON text, or anything)
 *
 * The client sends each chunk (a length past the end takes what is left)
 * and polls the server until it is quiet, as a client waits for an answer;
 * then it sends the rest at once and ends as the mode says. Chunks cut
 * requests anywhere, so the server's scanner sees partial values.
 *
 * JF_HURRY: poll the server once between chunks instead of until quiet, so
 * that bytes arrive while asynchronous methods are still running.
 * JF_IDLE: before ending, move the server's clock past its idle timeout;
 * the server must then close the connection (the client sees EOF).
 */
#ifndef SPIO_FUZZ_JSONRPC_INPUT_H
#define SPIO_FUZZ_JSONRPC_INPUT_H

#include <stddef.h>
#include <stdint.h>

#define JF_MAX_CHUNKS 15u
#define JF_IDLE 0x40u
#define JF_HURRY 0x80u

enum jf_end {
	JF_END_SETTLE = 0,  /* wait until the server is quiet, then close */
	JF_END_CLOSE = 1,   /* close right after the last byte */
	JF_END_SHUT_WR = 2, /* shut the sending side; the server must answer and close */
	JF_END_NO_READ = 3, /* as SETTLE, but never read what the server sends */
};

struct jf_input {
	enum jf_end end;
	uint8_t flags; /* JF_IDLE, JF_HURRY */
	uint32_t nchunks;
	uint16_t chunk[JF_MAX_CHUNKS];
	const uint8_t *stream;
	size_t len;
};

/* Split an input into its header and stream; any bytes are a valid input. */
void jf_input_parse(const uint8_t *data, size_t size, struct jf_input *in);

#endif /* SPIO_FUZZ_JSONRPC_INPUT_H */
