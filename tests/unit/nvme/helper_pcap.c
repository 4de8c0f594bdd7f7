/*
 * Test helper: TCP stream reassembly from a classic pcap (see helper_pcap.h).
 * Test code: allocates freely and trusts nothing in the file.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_pcap.h"

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_LINKTYPE_ETHERNET 1u
#define PCAP_GLOBAL_HDR 24u
#define PCAP_REC_HDR 16u
#define ETH_HDR 14u
#define ETHERTYPE_IPV4 0x0800u
#define IPPROTO_TCP_NUM 6u
#define TCP_FLAG_SYN 0x02u

struct segment {
	int64_t rel; /* sequence number relative to the stream's first byte */
	const uint8_t *data;
	uint32_t len;
};

/* A direction being collected. */
struct flow {
	uint16_t sport, dport;
	bool have_base;
	uint32_t base;
	struct segment *segs;
	size_t nsegs, cap;
};

struct flows {
	struct flow *v;
	size_t n, cap;
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long size;

	if (f == NULL) {
		return errno == ENOENT ? -ENOENT : -EIO;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -EIO;
	}
	*buf = malloc((size_t)size + 1);
	if (*buf == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	*len = fread(*buf, 1, (size_t)size, f);
	fclose(f);
	return *len == (size_t)size ? 0 : -EIO;
}

static struct flow *flow_get(struct flows *fl, uint16_t sport, uint16_t dport)
{
	for (size_t i = 0; i < fl->n; i++) {
		if (fl->v[i].sport == sport && fl->v[i].dport == dport) {
			return &fl->v[i];
		}
	}
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? fl->cap * 2 : 8;
		struct flow *v = realloc(fl->v, cap * sizeof(*v));

		if (v == NULL) {
			return NULL;
		}
		fl->v = v;
		fl->cap = cap;
	}
	memset(&fl->v[fl->n], 0, sizeof(fl->v[0]));
	fl->v[fl->n].sport = sport;
	fl->v[fl->n].dport = dport;
	return &fl->v[fl->n++];
}

static int flow_add(struct flow *f, uint32_t seq, bool syn, const uint8_t *data, uint32_t len)
{
	if (!f->have_base) {
		/* SYN takes one sequence number before the first data byte. */
		f->base = syn ? seq + 1 : seq;
		f->have_base = true;
	}
	if (len == 0) {
		return 0;
	}
	if (f->nsegs == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct segment *s = realloc(f->segs, cap * sizeof(*s));

		if (s == NULL) {
			return -ENOMEM;
		}
		f->segs = s;
		f->cap = cap;
	}
	/* Signed 32-bit difference: right across sequence wrap, and negative for
	 * bytes before the first one (keep-alive probes), which are dropped. */
	f->segs[f->nsegs++] = (struct segment){(int32_t)(seq - f->base), data, len};
	return 0;
}

/* One Ethernet frame: add its TCP payload, if any, to its flow. */
static int parse_frame(struct flows *fl, const uint8_t *p, uint32_t caplen)
{
	uint32_t ihl, tot, thl;
	const uint8_t *ip, *tcp;
	struct flow *f;

	if (caplen < ETH_HDR + 20 || be16(p + 12) != ETHERTYPE_IPV4) {
		return 0;
	}
	ip = p + ETH_HDR;
	ihl = (ip[0] & 0x0fu) * 4;
	tot = be16(ip + 2);
	/* Not TCP, a fragment, or a header that does not fit: not ours. */
	if ((ip[0] >> 4) != 4 || ip[9] != IPPROTO_TCP_NUM || (be16(ip + 6) & 0x3fffu) != 0 ||
	    ihl < 20 || tot > caplen - ETH_HDR || tot < ihl + 20) {
		return 0;
	}
	tcp = ip + ihl;
	thl = (uint32_t)(tcp[12] >> 4) * 4;
	if (thl < 20 || ihl + thl > tot) {
		return 0;
	}
	f = flow_get(fl, be16(tcp), be16(tcp + 2));
	if (f == NULL) {
		return -ENOMEM;
	}
	return flow_add(f, be32(tcp + 4), (tcp[13] & TCP_FLAG_SYN) != 0, tcp + thl,
			tot - ihl - thl);
}

static int seg_cmp(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;

	if (x->rel != y->rel) {
		return x->rel < y->rel ? -1 : 1;
	}
	return x->len > y->len ? -1 : (x->len < y->len);
}

/* Concatenate a flow's segments in order, keeping only bytes not seen yet. */
static int flow_assemble(struct flow *f, struct pcap_stream *out)
{
	int64_t next = 0, max_end = 0;

	qsort(f->segs, f->nsegs, sizeof(f->segs[0]), seg_cmp);
	for (size_t i = 0; i < f->nsegs; i++) {
		int64_t end = f->segs[i].rel + f->segs[i].len;

		max_end = end > max_end ? end : max_end;
	}
	out->src_port = f->sport;
	out->dst_port = f->dport;
	out->data = malloc((size_t)max_end + 1);
	if (out->data == NULL) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < f->nsegs; i++) {
		const struct segment *s = &f->segs[i];
		int64_t end = s->rel + s->len;

		if (end <= next) {
			continue; /* retransmission */
		}
		if (s->rel > next) {
			return -EINVAL; /* the capture missed bytes */
		}
		memcpy(out->data + next, s->data + (next - s->rel), (size_t)(end - next));
		next = end;
	}
	out->len = (size_t)next;
	return 0;
}

static int parse_records(struct flows *fl, const uint8_t *buf, size_t len)
{
	size_t off = PCAP_GLOBAL_HDR;

	while (off < len) {
		uint32_t caplen;
		int rc;

		if (len - off < PCAP_REC_HDR) {
			return -EINVAL;
		}
		caplen = le32(buf + off + 8);
		off += PCAP_REC_HDR;
		if (caplen > len - off) {
			return -EINVAL;
		}
		rc = parse_frame(fl, buf + off, caplen);
		if (rc != 0) {
			return rc;
		}
		off += caplen;
	}
	return 0;
}

static void flows_free(struct flows *fl)
{
	for (size_t i = 0; i < fl->n; i++) {
		free(fl->v[i].segs);
	}
	free(fl->v);
}

static int build_streams(struct flows *fl, struct pcap_streams *out)
{
	out->streams = calloc(fl->n ? fl->n : 1, sizeof(*out->streams));
	if (out->streams == NULL) {
		return -ENOMEM;
	}
	for (size_t i = 0; i < fl->n; i++) {
		int rc = flow_assemble(&fl->v[i], &out->streams[i]);

		out->count = i + 1;
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

int pcap_read_streams(const char *path, struct pcap_streams *out)
{
	struct flows fl = {0};
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = read_file(path, &buf, &len);
	if (rc == 0 &&
	    (len < PCAP_GLOBAL_HDR || (le32(buf) != PCAP_MAGIC_US && le32(buf) != PCAP_MAGIC_NS) ||
	     le32(buf + 20) != PCAP_LINKTYPE_ETHERNET)) {
		rc = -EINVAL;
	}
	if (rc == 0) {
		rc = parse_records(&fl, buf, len);
	}
	if (rc == 0) {
		rc = build_streams(&fl, out);
	}
	flows_free(&fl);
	free(buf);
	if (rc != 0) {
		pcap_streams_free(out);
	}
	return rc;
}

void pcap_streams_free(struct pcap_streams *s)
{
	for (size_t i = 0; i < s->count; i++) {
		free(s->streams[i].data);
	}
	free(s->streams);
	memset(s, 0, sizeof(*s));
}

const struct pcap_stream *pcap_find_stream(const struct pcap_streams *s, uint16_t src_port,
					   uint16_t dst_port)
{
	for (size_t i = 0; i < s->count; i++) {
		if (s->streams[i].src_port == src_port && s->streams[i].dst_port == dst_port) {
			return &s->streams[i];
		}
	}
	return NULL;
}
