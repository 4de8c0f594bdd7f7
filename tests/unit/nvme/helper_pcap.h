/*
 * Test helper: TCP byte streams out of a classic pcap file.
 *
 * Reads a little-endian classic pcap (magic a1b2c3d4, or a1b23c4d with
 * nanosecond stamps) of link type 1 (Ethernet), keeps IPv4/TCP packets,
 * groups them by (source port, destination port) and reassembles each
 * direction's payload in sequence order, dropping retransmitted and
 * overlapping bytes. Streams come back in the order of their first packet.
 */
#ifndef SPIO_TEST_HELPER_PCAP_H
#define SPIO_TEST_HELPER_PCAP_H

#include <stddef.h>
#include <stdint.h>

/* One direction of one TCP connection. */
struct pcap_stream {
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t *data; /* the payload bytes in order */
	size_t len;
};

struct pcap_streams {
	struct pcap_stream *streams;
	size_t count;
};

/*
 * Read `path` into `out` (owned by the caller: free with pcap_streams_free).
 * \return 0; -ENOENT when the file does not exist; -EINVAL for a format this
 *         helper does not read (another magic or link type, a truncated
 *         record); -ENOMEM.
 */
int pcap_read_streams(const char *path, struct pcap_streams *out);

void pcap_streams_free(struct pcap_streams *s);

/* The stream from `src_port` to `dst_port`, or NULL. */
const struct pcap_stream *pcap_find_stream(const struct pcap_streams *s, uint16_t src_port,
					   uint16_t dst_port);

#endif /* SPIO_TEST_HELPER_PCAP_H */
