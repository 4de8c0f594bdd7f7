/*
 * The input format of the nvmf_cmd fuzzer and what its target looks like,
 * shared by the fuzzer (fuzz_nvmf_cmd.c) and the seed generator
 * (gen_nvmf_cmd_corpus.c).
 *
 * An input is a 2-byte header and then records, each one command handed
 * to the target's controller emulation as a transport hands it (no PDUs):
 *
 *   byte 0      NC_F_* flags (below)
 *   byte 1      seed of the data buffer split (NC_F_SPLIT)
 *   records:
 *     byte 0    bits 0-1: queue (enum nc_queue); NC_R_NOWAIT; NC_R_UNITS
 *     64 bytes  the submission queue entry, as the host sent it
 *     2 bytes   data length (little-endian; in 512-byte units with
 *               NC_R_UNITS), capped at NC_MAX_IO: the data a host-to-
 *               controller command carries, or the buffer a controller-to-
 *               host command gets
 *     2 bytes   how many data bytes follow (host-to-controller data; the
 *               rest of the buffer is zeroes; ignored for other directions)
 *     the data bytes
 *
 * A record cut short ends the input. The direction comes from the opcode
 * (fabrics: FCTYPE) as in a real transport; a zero length means no data.
 * The SGL / PRP fields are passed to the core untouched: the transport
 * describes the buffer, not the SQE.
 *
 * Queues: an admin queue, I/O queues 1 and 2 of the same controller. The
 * fuzzer connects them before the input (admin: CC.EN 1, IOSQES 6,
 * IOCQES 4) unless NC_F_RAW_ADMIN / NC_F_RAW_IO say the input's own
 * Connect commands do it. Records on NC_Q_CTL are actions of the fuzzer:
 * the SQE's opcode is one of enum nc_ctl, the dwords its arguments.
 */
#ifndef SPIO_FUZZ_NVMF_CMD_INPUT_H
#define SPIO_FUZZ_NVMF_CMD_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/nvme_spec.h"

#define NC_SUBNQN "nqn.2016-06.io.spdk:cnode1"
#define NC_HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:0b6bbd0e-4a1c-4f6b-9d2a-6b1f1e2d3c4b"
#define NC_HOSTID                                                                             \
	{                                                                                     \
		0x0b, 0x6b, 0xbd, 0x0e, 0x4a, 0x1c, 0x4f, 0x6b, 0x9d, 0x2a, 0x6b, 0x1f, 0x1e, \
		    0x2d, 0x3c, 0x4b                                                          \
	}
/* The first dynamic controller ID: every input's first controller gets it. */
#define NC_CNTLID 1
/* Namespaces: 1 a malloc bdev, 2 an error bdev on a malloc bdev; 3 and 4 inactive. */
#define NC_MAX_NSID 4u
#define NC_NS1_BLOCK_SIZE 512u
#define NC_NS1_BLOCKS 256u
#define NC_NS2_BLOCK_SIZE 4096u
#define NC_NS2_BLOCKS 64u
/* Transport limits: queue entries, I/O queues per controller, data per command. */
#define NC_QUEUE_DEPTH 32u
#define NC_MAX_IO_QPAIRS 4u
#define NC_MAX_IO (128u * 1024)
/* In-capsule data size the transport reports (Identify IOCCSZ). */
#define NC_ICDSZ 4096u

/* Record byte 0 */
enum nc_queue {
	NC_Q_ADMIN = 0,
	NC_Q_IO1 = 1,
	NC_Q_IO2 = 2,
	NC_Q_CTL = 3,
};
#define NC_NUM_CONNS 3u
#define NC_R_QUEUE_MASK 0x03u
/* Go on with the next record at once, the command still executing. */
#define NC_R_NOWAIT 0x04u
/* The length is in 512-byte units. */
#define NC_R_UNITS 0x08u

/* Header byte 0 */
#define NC_F_RAW_ADMIN 0x01u /* no fuzzer Connect on the admin queue (implies NC_F_RAW_IO) */
#define NC_F_RAW_IO 0x02u    /* no fuzzer Connect on the I/O queues */
#define NC_F_SPLIT 0x04u     /* data buffers as several separately allocated pieces */
#define NC_F_NO_SQFC 0x08u   /* the fuzzer's Connects disable SQ flow control */

/* Actions of NC_Q_CTL records (SQE opcode). */
enum nc_ctl {
	/* Poll until nothing moves. */
	NC_CTL_SETTLE = 0,
	/* The transport loses connection CDW10 % 3 (enum nc_queue). */
	NC_CTL_DROP = 1,
	/*
	 * Arm an injection on namespace 2's error bdev: CDW10 % 5 the I/O type
	 * (read, write, unmap, flush, all), CDW11 % 4 + 1 the error type
	 * (failure, pending, corrupt data, nomem), CDW12 % 8 + 1 how many,
	 * CDW13 the corruption offset, CDW14's low byte the XOR value.
	 */
	NC_CTL_INJECT = 2,
	/* Release the I/O a pending injection holds. */
	NC_CTL_RESUME = 3,
	/*
	 * Start removing namespace 2 (CDW10 bit 0 clear) or adding it back
	 * (set), without waiting: I/O races with it, hosts get the event.
	 * Namespace 2 is back after the input.
	 */
	NC_CTL_NS = 4,
};

#define NC_HDR_LEN 2u
#define NC_REC_FIXED (1u + 64u + 2u + 2u)

struct nc_record {
	uint8_t flags; /* byte 0 */
	struct spio_nvme_cmd sqe;
	uint32_t len;	     /* data length, capped at NC_MAX_IO */
	const uint8_t *data; /* host-to-controller data in the input */
	uint32_t data_len;   /* bytes at data (<= len) */
};

/* The header of an input (zeroes when it is shorter). */
void nc_input_header(const uint8_t *in, size_t size, uint8_t *flags, uint8_t *split_seed);

/*
 * The next record at *off (start at NC_HDR_LEN): fills `rec` and moves
 * *off past it. \return false at the end (or a record cut short).
 */
bool nc_input_next(const uint8_t *in, size_t size, size_t *off, struct nc_record *rec);

/*
 * Append a record to buf (capacity cap) at *len; `len_field` as in the
 * format (bytes, or units with NC_R_UNITS in flags), `data` of data_len
 * bytes follows. \return false if it does not fit.
 */
bool nc_input_put(uint8_t *buf, size_t cap, size_t *len, uint8_t flags,
		  const struct spio_nvme_cmd *sqe, uint16_t len_field, const void *data,
		  uint16_t data_len);

/*
 * Change one field of one record of the input in place (the custom
 * mutator): the header flags, a record's queue byte, opcode, FUSE, NSID,
 * a CDW10-15, the SGL, or its length, to a nearby, boundary or random
 * value picked with `rnd`. \return false if the input has no record.
 */
bool nc_input_tweak(uint8_t *in, size_t size, uint64_t rnd);

#endif /* SPIO_FUZZ_NVMF_CMD_INPUT_H */
