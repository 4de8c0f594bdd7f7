/*
 * NVMe/TCP PDU codec (NVMe/TCP transport specification 1.0), shared by the
 * host (lib/nvme) and the controller (lib/nvmf) side.
 *
 * Two halves, neither of which touches a socket or allocates memory:
 *
 * - Sending: build a PDU in a `struct nvme_tcp_tx_pdu` (header, header
 *   digest, pad and a reference to the caller's data), then take the iovecs to
 *   write with nvme_tcp_tx_pdu_iov().
 * - Receiving: a `struct nvme_tcp_rx` parses a byte stream in any chunking,
 *   validates every header before trusting it, copies PDU data to buffers the
 *   consumer names per PDU (or lets the transport readv() into them directly)
 *   and checks both digests.
 *
 * Threads: the functions keep no global state; an object (tx PDU, rx) is used
 * by one thread at a time. Byte order: the wire is little-endian, as is every
 * supported host (spio/nvme_spec.h asserts it); header fields are read and
 * written in place.
 */
#ifndef SPIO_NVME_TCP_PDU_H
#define SPIO_NVME_TCP_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "spio/nvme_spec.h"

/* Header lengths (HLEN) the specification fixes per PDU type. */
#define NVME_TCP_IC_HLEN 128u
#define NVME_TCP_TERM_REQ_HLEN 24u
#define NVME_TCP_CAPSULE_CMD_HLEN 72u
#define NVME_TCP_CAPSULE_RESP_HLEN 24u
#define NVME_TCP_DATA_HLEN 24u /* H2CData, C2HData */
#define NVME_TCP_R2T_HLEN 24u

/*
 * Byte size of the header buffer: the largest of the IC header (128), a
 * term req with its data (152) and what precedes a PDU's data when sending
 * (header, digest and pad: PDO, at most 144 = 72 + 4 rounded up to PDA 17's
 * 72 bytes).
 */
#define NVME_TCP_PDU_HDR_MAX SPIO_NVME_TCP_TERM_REQ_PDU_MAX_SIZE

/* Any PDU header, as the typed structures of spio/nvme_spec.h or raw bytes. */
union nvme_tcp_pdu_hdr {
	struct spio_nvme_tcp_common_pdu_hdr common;
	struct spio_nvme_tcp_ic_req ic_req;
	struct spio_nvme_tcp_ic_resp ic_resp;
	struct spio_nvme_tcp_cmd capsule_cmd;
	struct spio_nvme_tcp_rsp capsule_resp;
	struct spio_nvme_tcp_h2c_data_hdr h2c_data;
	struct spio_nvme_tcp_c2h_data_hdr c2h_data;
	struct spio_nvme_tcp_r2t_hdr r2t;
	struct spio_nvme_tcp_term_req_hdr term_req;
	uint8_t raw[NVME_TCP_PDU_HDR_MAX];
};

/*
 * Data digest (CRC32C, as stored on the wire) of `len` bytes of the scatter
 * list `iov` starting `offset` bytes into it. Bytes past the end of the list
 * are not counted (the caller checks lengths).
 */
uint32_t nvme_tcp_data_digest(const struct iovec *iov, int iovcnt, uint32_t offset, uint32_t len);

/* Header digest (CRC32C) of the first `hlen` bytes of `hdr`. */
uint32_t nvme_tcp_hdr_digest(const void *hdr, uint32_t hlen);

/*
 * Sending
 */

/* What both sides negotiated in ICReq / ICResp, as the sender applies it. */
struct nvme_tcp_tx_params {
	bool hdgst; /* header digests on */
	bool ddgst; /* data digests on */
	/* The RECEIVER's PDA: the peer's HPDA (controller sending) or CPDA (host sending). */
	uint8_t pda;
};

/*
 * A PDU ready to send. The caller owns it (stack or its own request object)
 * and the data it references: `data_iov` (the array and the bytes) must stay
 * valid and unchanged until the PDU has been written, since the data digest
 * was computed over it when the PDU was sealed.
 */
struct nvme_tcp_tx_pdu {
	/* Header, header digest and pad (zero): the first `hdr_len` bytes go out first. */
	union nvme_tcp_pdu_hdr hdr;
	uint32_t hdr_len;
	/* The PDU data: `data_len` bytes of `data_iov` from `data_offset`. */
	const struct iovec *data_iov;
	int data_iovcnt;
	uint32_t data_offset;
	uint32_t data_len;
	bool has_ddgst;
	uint8_t ddgst[SPIO_NVME_TCP_DIGEST_LEN]; /* little-endian CRC32C of the data */
};

/*
 * Start a PDU of `pdu_type`: zero the whole PDU and set PDU-Type and HLEN.
 * The caller then fills the typed header fields (hdr.capsule_cmd.ccsqe,
 * hdr.c2h_data.cccid, type-specific flags such as LAST_PDU in
 * hdr.common.flags, ...) and calls nvme_tcp_tx_pdu_seal().
 *
 * \return 0, or -EINVAL for a type that is not an NVMe/TCP PDU type.
 */
int nvme_tcp_tx_pdu_init(struct nvme_tcp_tx_pdu *pdu, uint8_t pdu_type);

/*
 * Lay out and finish a PDU started with nvme_tcp_tx_pdu_init() whose typed
 * header fields are filled: set HDGSTF/DDGSTF, PDO and PLEN, zero the pad,
 * store the header digest after the header and the data digest in `ddgst`.
 *
 * PDUs without data (CapsuleResp, R2T, CapsuleCmd without in-capsule data)
 * get PDO 0 and PLEN = HLEN (+ 4 with header digests), and never DDGSTF.
 * PDUs with data (CapsuleCmd with in-capsule data, H2CData, C2HData) get
 * PDO = HLEN (+ 4) rounded up to (params->pda + 1) * 4 and PLEN = PDO + len
 * (+ 4 with data digests). ICReq / ICResp never carry digests, whatever
 * `params` says (PLEN 128, PDO 0). Term reqs are built with
 * nvme_tcp_term_req_build() instead.
 *
 * \param params  negotiated digests and the receiver's PDA; NULL = none, PDA 0.
 * \param iov, iovcnt, offset, len  the data: `len` bytes of `iov` from
 *        `offset`; only referenced, see struct nvme_tcp_tx_pdu.
 * \return 0; -EINVAL for a term req type, pda > 31, data on a type without
 *         data, no data on H2CData / C2HData, data beyond the end of `iov`,
 *         or a PLEN that would not fit 32 bits.
 */
int nvme_tcp_tx_pdu_seal(struct nvme_tcp_tx_pdu *pdu, const struct nvme_tcp_tx_params *params,
			 const struct iovec *iov, int iovcnt, uint32_t offset, uint32_t len);

/*
 * The iovecs to write for a sealed PDU, in order: the header part (header,
 * header digest, pad), the data slice across the caller's iovecs (empty
 * entries skipped), the data digest. They point into `pdu` and the caller's
 * data: keep both alive until written.
 *
 * \return the number of entries filled, or -ENOSPC when `max` is too small
 *         (nothing useful is in `out` then).
 */
int nvme_tcp_tx_pdu_iov(const struct nvme_tcp_tx_pdu *pdu, struct iovec *out, int max);

/* Total bytes of a sealed PDU (its PLEN). */
uint32_t nvme_tcp_tx_pdu_len(const struct nvme_tcp_tx_pdu *pdu);

/*
 * Build a complete ICReq (host): PFV 1.0, `hpda` (the alignment the host
 * wants for the controller's PDUs), the digests the host asks for, MAXR2T
 * (0's based). \return 0, or -EINVAL for hpda > 31.
 */
int nvme_tcp_ic_req_build(struct nvme_tcp_tx_pdu *pdu, uint8_t hpda, bool hdgst, bool ddgst,
			  uint32_t maxr2t);

/*
 * Build a complete ICResp (controller): PFV 1.0, `cpda`, the digests
 * granted, MAXH2CDATA. \return 0, or -EINVAL for cpda > 31 or a maxh2cdata
 * below 4096 or not a multiple of 4.
 */
int nvme_tcp_ic_resp_build(struct nvme_tcp_tx_pdu *pdu, uint8_t cpda, bool hdgst, bool ddgst,
			   uint32_t maxh2cdata);

/*
 * Build a complete term req: H2CTermReq from the host, C2HTermReq from the
 * controller (`pdu_type`). FEI is stored only for the FES values that define
 * it (Invalid Header Field and Unsupported Parameter: the byte offset of the
 * field at fault), else it stays 0. The first `err_len` bytes of `err_hdr`
 * (the offending PDU's header as received; nvme_tcp_rx keeps it, see
 * nvme_tcp_rx_err_hdr()) are copied, at most
 * SPIO_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE (128).
 * Never digests. Never answer a received term req with another one.
 *
 * \return 0, or -EINVAL for another type or err_hdr NULL with err_len > 0.
 */
int nvme_tcp_term_req_build(struct nvme_tcp_tx_pdu *pdu, uint8_t pdu_type, uint16_t fes,
			    uint32_t fei, const void *err_hdr, size_t err_len);

/*
 * Receiving
 */

/* Which end of the connection the receiver is: it accepts the peer's PDUs only. */
enum nvme_tcp_role {
	/* Host: IC_RESP once first, then CAPSULE_RESP, C2H_DATA, R2T; C2H_TERM_REQ any time. */
	NVME_TCP_ROLE_HOST,
	/* Controller: IC_REQ once first, then CAPSULE_CMD, H2C_DATA; H2C_TERM_REQ any time. */
	NVME_TCP_ROLE_CTRLR,
};

/* Limits and negotiated values the receiver checks PDUs against. */
struct nvme_tcp_rx_params {
	bool hdgst;  /* header digests negotiated: HDGSTF required on all but IC / term req */
	bool ddgst;  /* data digests negotiated: DDGSTF required on PDUs that carry data */
	uint8_t pda; /* the receiver's OWN PDA (the HPDA / CPDA it advertised) */
	/* Largest data of one H2CData / C2HData PDU (the controller's MAXH2CDATA). */
	uint32_t max_data_len;
	/* Largest in-capsule data of a CapsuleCmd (controller role). */
	uint32_t max_incapsule;
};

/* Why the stream failed: what to put in the term req the receiver sends. */
struct nvme_tcp_rx_error {
	uint16_t fes;	    /* SPIO_NVME_TCP_TERM_REQ_FES_* */
	uint32_t fei;	    /* byte offset of the field at fault (Invalid Header Field) */
	const char *reason; /* short static text for the log */
};

/*
 * A callback's positive return: stop feeding after this point; feed returns
 * the bytes consumed so far (the transport can then readv() data straight
 * into place with nvme_tcp_rx_data_iov()).
 */
#define NVME_TCP_RX_PAUSE 1

/*
 * The consumer's callbacks, called from nvme_tcp_rx_feed() and
 * nvme_tcp_rx_data_advance(). A negative return fails the stream: the rx
 * records FES = -return (unless the callback already called
 * nvme_tcp_rx_fail() to give FES, FEI and reason itself) and feed returns
 * -EPROTO. 0 continues; NVME_TCP_RX_PAUSE stops the current feed.
 */
struct nvme_tcp_rx_ops {
	/*
	 * A PDU that carries data (CapsuleCmd with in-capsule data, H2CData,
	 * C2HData) has a complete, valid header (digest checked). Say where its
	 * `data_len` bytes go: set `*iov`, `*iovcnt` and `*iov_offset` (bytes
	 * of the list to skip first). The array and its buffers belong to the
	 * consumer and must stay valid until on_pdu() for this PDU returned
	 * or the stream failed. Leave `*iov` NULL to discard the data (the
	 * digest is still checked). A destination shorter than `data_len`
	 * fails the stream with Data Transfer Out of Range.
	 * Typical rejections: unknown cccid (Invalid Header Field, FEI 8);
	 * datao/datal outside the command's buffer (Data Transfer Out of Range).
	 */
	int (*on_header)(void *ctx, const union nvme_tcp_pdu_hdr *hdr, uint32_t data_len,
			 struct iovec **iov, int *iovcnt, uint32_t *iov_offset);
	/*
	 * A whole PDU is in (every type, with or without data). `ddgst_ok` is
	 * false only when data digests are on and the data did not match; the
	 * data is in place anyway. The specification lets the receiver fail
	 * just the command then (e.g. Transient Transport Error) and keep the
	 * connection: return 0 for that, or a negative FES to fail the stream.
	 * A term req arrives here with its data in `hdr->raw[24, plen)`.
	 * After IC_REQ / IC_RESP the consumer applies the negotiated values with
	 * nvme_tcp_rx_set_params() (here or before feeding further bytes).
	 */
	int (*on_pdu)(void *ctx, const union nvme_tcp_pdu_hdr *hdr, bool ddgst_ok);
};

/* Receiver state; fields are private except `err` (valid once failed). */
struct nvme_tcp_rx {
	union nvme_tcp_pdu_hdr hdr; /* the PDU being received */
	struct nvme_tcp_rx_params params;
	struct nvme_tcp_rx_error err;
	enum nvme_tcp_role role;
	uint8_t state;
	bool ic_done;
	bool ddgst_on; /* the current PDU carries a data digest */
	uint32_t hdr_got;
	uint32_t hdr_need;
	uint32_t pad_left;
	uint32_t data_len;
	uint32_t data_got;
	/* Destination of the current PDU's data (the consumer's). */
	struct iovec *iov;
	int iovcnt;
	int iov_idx;
	size_t iov_off;
	uint32_t crc; /* running CRC32C register of the data */
	uint8_t ddgst[SPIO_NVME_TCP_DIGEST_LEN];
	uint32_t ddgst_got;
};

/*
 * Start a receiver for `role` in its initial state (expects the IC PDU).
 * Defaults: no digests, PDA 0, no data length limits beyond 32-bit PLEN.
 */
void nvme_tcp_rx_init(struct nvme_tcp_rx *rx, enum nvme_tcp_role role);

/*
 * Set the negotiated values (copied). Takes effect for the next PDU header
 * parsed; the usual place is on_pdu() of the IC PDU.
 * \return 0, or -EINVAL for pda > 31.
 */
int nvme_tcp_rx_set_params(struct nvme_tcp_rx *rx, const struct nvme_tcp_rx_params *params);

/*
 * Consume up to `len` bytes of the stream (any split is fine: one byte at a
 * time or many PDUs at once), calling `ops` as PDUs complete. `buf` is only
 * read during the call.
 *
 * Every header is checked before anything in it is used; the failures and
 * their FES (FEI = byte offset of the field, for Invalid Header Field):
 * - a type unknown or of the other direction: Invalid Header Field, FEI 0;
 *   anything but IC (and term req) first, or a second IC: PDU Sequence Error;
 * - HLEN not the type's (2); HDGSTF not as negotiated, DDGSTF not as
 *   negotiated on a PDU with data or set without data, any digest flag on
 *   IC / term req, C2H SUCCESS without LAST_PDU (1); PDO below HLEN + header
 *   digest or not a multiple of the rx's PDA (3); PLEN not HLEN (+ 4) without
 *   data, not above PDO (+ 4) with data, not 128 for IC, outside 24..152 for
 *   a term req (4); DATAL not PLEN's data length, R2TL 0 (16); PFV not 0 (8),
 *   PDA above 31 (10), MAXH2CDATA below 4096 or unaligned (12);
 * - header digest mismatch: Header Digest Error;
 * - data longer than max_data_len / max_incapsule: Data Transfer Limit
 *   Exceeded; a destination shorter than the data: Data Transfer Out of Range.
 * A term req is delivered like any PDU; the consumer then closes the
 * connection (the rx does not stop by itself).
 *
 * \return bytes consumed: `len`, or fewer when a callback returned
 *         NVME_TCP_RX_PAUSE (feed the rest later); -EPROTO when the stream
 *         is, or already was, failed: `rx->err` says why and every later
 *         call returns -EPROTO. A stream that ends mid-PDU is not an error:
 *         the rx waits for more.
 */
ssize_t nvme_tcp_rx_feed(struct nvme_tcp_rx *rx, const void *buf, size_t len,
			 const struct nvme_tcp_rx_ops *ops, void *ctx);

/*
 * Bytes the rx needs to finish its current step (the rest of a header, pad,
 * data or data digest), so a transport can read exactly a header and then
 * readv() the data into place. 0 once failed.
 */
uint32_t nvme_tcp_rx_need(const struct nvme_tcp_rx *rx);

/*
 * Zero copy: the remaining destination of the current PDU's data as up to
 * `max` iovecs into the consumer's buffers, for a readv() straight from the
 * socket. \return the entries filled; 0 when no PDU data is due now (header,
 * pad or digest step, a discarding destination, or failed).
 */
int nvme_tcp_rx_data_iov(const struct nvme_tcp_rx *rx, struct iovec *out, int max);

/*
 * After reading `n` bytes straight into the iovecs of nvme_tcp_rx_data_iov(),
 * account for them (the data digest runs over them here) and, when that
 * completes the PDU, call on_pdu() as feed would.
 *
 * \return 0; -EINVAL when no data is due or `n` exceeds what is due (the rx
 *         is unchanged); -EPROTO when the stream failed (see feed).
 */
int nvme_tcp_rx_data_advance(struct nvme_tcp_rx *rx, size_t n, const struct nvme_tcp_rx_ops *ops,
			     void *ctx);

/*
 * Fail the stream now (e.g. from a callback, to give FEI and a reason):
 * records the error unless one is recorded already; feed returns -EPROTO.
 */
void nvme_tcp_rx_fail(struct nvme_tcp_rx *rx, uint16_t fes, uint32_t fei, const char *reason);

/* True once the stream failed. */
bool nvme_tcp_rx_failed(const struct nvme_tcp_rx *rx);

/*
 * The bytes of the offending PDU's header received so far, for the data
 * of the term req to send (nvme_tcp_term_req_build()); valid while failed
 * (`*len` is 0 otherwise). When that PDU is itself a term req
 * (hdr.common.pdu_type), send none: just close.
 */
const void *nvme_tcp_rx_err_hdr(const struct nvme_tcp_rx *rx, size_t *len);

#endif /* SPIO_NVME_TCP_PDU_H */
