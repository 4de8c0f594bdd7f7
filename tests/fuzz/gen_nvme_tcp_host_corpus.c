/*
 * Writes the seed corpus of the nvme_tcp_host fuzzer: the engine's own
 * target answers the initiator correctly (nvme_tcp_host_engine.c) and what
 * it sent on one connection, cut into chunks where it answered, becomes an
 * input; variants of those streams then break one thing each (a duplicate
 * or unknown-cid response, a truncated or overlong C2HData, a C2HTermReq,
 * a digest flipped, a response before the data).
 *
 * With CAPTURE_DIR (../shared/testdata/spdk/nvme-tcp: SPDK's initiator
 * against SPDK's target), what the real target sent on each connection
 * also becomes a seed: the admin connection's stream as an FH_RAW_ADMIN
 * input, the I/O connections' as FH_RAW_IO_CONNECT inputs, cut at PDU
 * boundaries. Their command IDs are SPDK's, not this initiator's, so they
 * bring real PDU shapes rather than passing runs.
 *
 *   gen_nvme_tcp_host_corpus DIR [CAPTURE_DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/nvme_spec.h"
#include "spio/util.h"

#include "nvme/nvme_tcp_pdu.h"
#include "nvme_tcp_host_engine.h"
#include "../unit/nvme/helper_pcap.h"

/* Bytes of a captured stream kept in a seed. */
#define CAPTURE_MAX (8u * 1024)

static const char *g_dir;

static void write_input(const char *name, uint8_t flags, const uint16_t *chunk, uint32_t nchunks,
			const uint8_t *stream, size_t len)
{
	uint8_t hdr[1 + 2 * FH_MAX_CHUNKS];
	size_t hlen = fh_header_write(hdr, flags, chunk, nchunks);
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(hdr, 1, hlen, f) != hlen || fwrite(stream, 1, len, f) != len ||
	    fclose(f) != 0) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
}

static void record(const char *name, uint8_t flags, const struct fh_auto_opts *ao,
		   struct fh_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	fh_record(flags, ao, rec);
	write_input(name, flags, rec->chunk, rec->nchunks, rec->buf, rec->len);
}

/* Offsets of the PDUs of a stream (by PLEN). */
static size_t pdus(const uint8_t *s, size_t len, size_t *offs, size_t max)
{
	size_t n = 0, off = 0;

	while (n < max && off + 8 <= len) {
		uint32_t plen = (uint32_t)s[off + 4] | (uint32_t)s[off + 5] << 8 |
				(uint32_t)s[off + 6] << 16 | (uint32_t)s[off + 7] << 24;

		if (plen < 8 || plen > len - off) {
			break;
		}
		offs[n++] = off;
		off += plen;
	}
	return n;
}

/* The stream with `len` bytes at `at` replaced by `ins` (`ilen` bytes), no chunks. */
static void variant(const char *name, uint8_t flags, const struct fh_record *rec, size_t at,
		    size_t cut, const void *ins, size_t ilen)
{
	uint8_t *s = malloc(rec->len + ilen);
	size_t n = 0;

	if (s == NULL) {
		exit(1);
	}
	memcpy(s, rec->buf, at);
	n = at;
	memcpy(s + n, ins, ilen);
	n += ilen;
	memcpy(s + n, rec->buf + at + cut, rec->len - at - cut);
	n += rec->len - at - cut;
	write_input(name, flags, rec->chunk, rec->nchunks, s, n);
	free(s);
}

static void variants(const struct fh_record *rec, uint8_t flags)
{
	size_t offs[256];
	size_t n = pdus(rec->buf, rec->len, offs, 256);
	size_t last_resp = 0, first_c2h = 0;
	bool have_resp = false, have_c2h = false;
	struct nvme_tcp_tx_pdu term;
	struct spio_nvme_tcp_rsp bad;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = rec->buf + offs[i];

		if (p[0] == SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP) {
			last_resp = offs[i];
			have_resp = true;
		} else if (p[0] == SPIO_NVME_TCP_PDU_TYPE_C2H_DATA && !have_c2h) {
			first_c2h = offs[i];
			have_c2h = true;
		}
	}
	if (have_resp) {
		/* The last response twice: a duplicate completion. */
		variant("io-duplicate-resp", flags, rec, rec->len, 0, rec->buf + last_resp,
			rec->len - last_resp);
		/* An unknown cid right at the start. */
		memcpy(&bad, rec->buf + last_resp, sizeof(bad));
		bad.rccqe.cid = 0x1234;
		variant("io-resp-unknown-cid", flags, rec, 0, 0, &bad, sizeof(bad));
		/* A response with all data outstanding: success without the read data. */
		memcpy(&bad, rec->buf + last_resp, sizeof(bad));
		bad.rccqe.cid = 0;
		variant("io-resp-before-data", flags, rec, 0, 0, &bad, sizeof(bad));
	}
	if (have_c2h) {
		/* The stream cut in the middle of the first C2HData's data. */
		write_input("io-c2h-truncated", flags, NULL, 0, rec->buf, first_c2h + 40);
		/* A C2HData offset one off. */
		variant("io-c2h-bad-offset", flags, rec, first_c2h + 12, 1, "\x01", 1);
	}
	nvme_tcp_term_req_build(&term, SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ,
				SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, 8, rec->buf, 24);
	variant("io-c2h-term-req", flags, rec, n > 2 ? offs[2] : 0, 0, &term.hdr,
		nvme_tcp_tx_pdu_len(&term));
}

static void capture_seeds(const char *dir)
{
	static const char *const caps[] = {"tcp-nodigest", "tcp-digest"};

	for (size_t c = 0; c < SPIO_COUNTOF(caps); c++) {
		struct pcap_streams ps;
		char path[4096];
		uint32_t nio = 0;
		bool admin = false;

		snprintf(path, sizeof(path), "%s/%s.pcap", dir, caps[c]);
		if (pcap_read_streams(path, &ps) != 0) {
			fprintf(stderr, "cannot read %s\n", path);
			exit(1);
		}
		for (size_t i = 0; i < ps.count; i++) {
			const struct pcap_stream *st = &ps.streams[i];
			uint8_t flags = c == 1 ? FH_DIGESTS : 0;
			size_t len = SPIO_MIN(st->len, (size_t)CAPTURE_MAX);
			size_t offs[FH_MAX_CHUNKS + 1];
			size_t n;
			uint16_t chunk[FH_MAX_CHUNKS];
			char name[128];

			if (st->src_port != 4420 || len == 0 || (admin && nio == 2)) {
				continue;
			}
			/* A chunk per PDU: the initiator's turn comes between them. */
			n = pdus(st->data, len, offs, SPIO_COUNTOF(offs));
			for (size_t k = 0; k + 1 < n; k++) {
				chunk[k] = (uint16_t)(offs[k + 1] - offs[k]);
			}
			if (!admin) {
				admin = true;
				snprintf(name, sizeof(name), "capture-%s-admin", caps[c]);
				flags |= FH_RAW_ADMIN;
			} else {
				snprintf(name, sizeof(name), "capture-%s-io%u", caps[c], nio++);
				flags |= FH_RAW_IO_CONNECT;
			}
			write_input(name, flags, chunk, n > 0 ? (uint32_t)n - 1 : 0, st->data, len);
		}
		pcap_streams_free(&ps);
	}
}

int main(int argc, char **argv)
{
	struct fh_auto_opts ao = {0};
	struct fh_record rec;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: %s DIR [CAPTURE_DIR]\n", argv[0]);
		return 2;
	}
	g_dir = argv[1];
	record("admin-bring-up", FH_RAW_ADMIN, &ao, &rec);
	free(rec.buf);
	record("admin-bring-up-digests", FH_RAW_ADMIN | FH_DIGESTS, &ao, &rec);
	free(rec.buf);
	record("io-raw-connect", FH_RAW_IO_CONNECT, &ao, &rec);
	free(rec.buf);
	ao.r2t_max = 8192;
	ao.c2h_max = 16384;
	record("io-multi-r2t-zcopy", 0, &ao, &rec);
	free(rec.buf);
	ao = (struct fh_auto_opts){.c2h_success = true, .c2h_max = 4096};
	record("io-c2h-success", 0, &ao, &rec);
	free(rec.buf);
	ao = (struct fh_auto_opts){.hpda_cpda = 3};
	record("io-digests-cpda3", FH_DIGESTS, &ao, &rec);
	free(rec.buf);
	ao = (struct fh_auto_opts){0};
	record("io-all", 0, &ao, &rec);
	variants(&rec, 0);
	free(rec.buf);
	if (argc == 3) {
		capture_seeds(argv[2]);
	}
	return 0;
}
