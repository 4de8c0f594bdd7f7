/*
 * NVMe/TCP PDU codec: PDU layout and digests for sending, and the receive
 * state machine that validates a byte stream of PDUs (see nvme_tcp_pdu.h).
 */
#include <errno.h>
#include <string.h>

#include "spio/util.h"
#include "nvme/nvme_tcp_pdu.h"

#define DGST_LEN SPIO_NVME_TCP_DIGEST_LEN

/* Byte offsets of header fields, for FEI. */
#define FEI_TYPE 0u
#define FEI_FLAGS 1u
#define FEI_HLEN 2u
#define FEI_PDO 3u
#define FEI_PLEN 4u
#define FEI_PFV 8u
#define FEI_PDA 10u
#define FEI_MAXDATA 12u
#define FEI_DATAL 16u

/* Whether a PDU type carries data. */
enum pdu_data { DATA_NONE, DATA_OPTIONAL, DATA_REQUIRED, DATA_TERM };

struct pdu_type_info {
	uint8_t hlen;	 /* 0: not a PDU type */
	uint8_t data;	 /* enum pdu_data */
	uint8_t rx_role; /* enum nvme_tcp_role: the side that receives it */
	bool digests;	 /* may carry digests (all but IC and term req) */
};

static const struct pdu_type_info g_types[] = {
    [SPIO_NVME_TCP_PDU_TYPE_IC_REQ] = {NVME_TCP_IC_HLEN, DATA_NONE, NVME_TCP_ROLE_CTRLR, false},
    [SPIO_NVME_TCP_PDU_TYPE_IC_RESP] = {NVME_TCP_IC_HLEN, DATA_NONE, NVME_TCP_ROLE_HOST, false},
    [SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ] = {NVME_TCP_TERM_REQ_HLEN, DATA_TERM, NVME_TCP_ROLE_CTRLR,
					     false},
    [SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ] = {NVME_TCP_TERM_REQ_HLEN, DATA_TERM, NVME_TCP_ROLE_HOST,
					     false},
    [SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD] = {NVME_TCP_CAPSULE_CMD_HLEN, DATA_OPTIONAL,
					    NVME_TCP_ROLE_CTRLR, true},
    [SPIO_NVME_TCP_PDU_TYPE_CAPSULE_RESP] = {NVME_TCP_CAPSULE_RESP_HLEN, DATA_NONE,
					     NVME_TCP_ROLE_HOST, true},
    [SPIO_NVME_TCP_PDU_TYPE_H2C_DATA] = {NVME_TCP_DATA_HLEN, DATA_REQUIRED, NVME_TCP_ROLE_CTRLR,
					 true},
    [SPIO_NVME_TCP_PDU_TYPE_C2H_DATA] = {NVME_TCP_DATA_HLEN, DATA_REQUIRED, NVME_TCP_ROLE_HOST,
					 true},
    [SPIO_NVME_TCP_PDU_TYPE_R2T] = {NVME_TCP_R2T_HLEN, DATA_NONE, NVME_TCP_ROLE_HOST, true},
};

_Static_assert(sizeof(union nvme_tcp_pdu_hdr) == NVME_TCP_PDU_HDR_MAX, "header union size");
_Static_assert(NVME_TCP_PDU_HDR_MAX >= 144, "the largest PDO (72 + 4 rounded up to 72) fits");
_Static_assert(NVME_TCP_CAPSULE_CMD_HLEN == sizeof(struct spio_nvme_tcp_cmd), "capsule hlen");
_Static_assert(NVME_TCP_IC_HLEN == sizeof(struct spio_nvme_tcp_ic_req), "ic hlen");
_Static_assert(NVME_TCP_DATA_HLEN == sizeof(struct spio_nvme_tcp_c2h_data_hdr), "data hlen");

static const struct pdu_type_info *type_info(uint8_t type)
{
	if (type >= SPIO_COUNTOF(g_types) || g_types[type].hlen == 0) {
		return NULL;
	}
	return &g_types[type];
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* PDU data alignment in bytes: PDA counts dwords, 0's based (not always a power of two). */
static inline uint32_t pda_align(uint8_t pda)
{
	return ((uint32_t)pda + 1) * 4;
}

static inline uint32_t round_up(uint32_t x, uint32_t align)
{
	return (x + align - 1) / align * align;
}

/* Running CRC32C register over `len` bytes of `iov` from `offset`. */
static uint32_t iov_crc_update(const struct iovec *iov, int iovcnt, uint64_t offset, uint64_t len,
			       uint32_t crc)
{
	for (int i = 0; i < iovcnt && len > 0; i++) {
		size_t n;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		n = SPIO_MIN(iov[i].iov_len - offset, len);
		crc = spio_crc32c_update((const uint8_t *)iov[i].iov_base + offset, n, crc);
		len -= n;
		offset = 0;
	}
	return crc;
}

uint32_t nvme_tcp_data_digest(const struct iovec *iov, int iovcnt, uint32_t offset, uint32_t len)
{
	return ~iov_crc_update(iov, iov != NULL ? iovcnt : 0, offset, len, ~0U);
}

uint32_t nvme_tcp_hdr_digest(const void *hdr, uint32_t hlen)
{
	return spio_crc32c(hdr, hlen);
}

/*
 * Sending
 */

int nvme_tcp_tx_pdu_init(struct nvme_tcp_tx_pdu *pdu, uint8_t pdu_type)
{
	const struct pdu_type_info *ti = type_info(pdu_type);

	if (ti == NULL) {
		return -EINVAL;
	}
	memset(pdu, 0, sizeof(*pdu));
	pdu->hdr.common.pdu_type = pdu_type;
	pdu->hdr.common.hlen = ti->hlen;
	return 0;
}

static int tx_check_data(const struct pdu_type_info *ti, const struct iovec *iov, int iovcnt,
			 uint32_t offset, uint32_t len)
{
	if (ti->data == DATA_TERM) {
		return -EINVAL;
	}
	if ((ti->data == DATA_NONE && len > 0) || (ti->data == DATA_REQUIRED && len == 0)) {
		return -EINVAL;
	}
	if (len > 0 && (iov == NULL || (uint64_t)offset + len > spio_iov_length(iov, iovcnt))) {
		return -EINVAL;
	}
	return 0;
}

int nvme_tcp_tx_pdu_seal(struct nvme_tcp_tx_pdu *pdu, const struct nvme_tcp_tx_params *params,
			 const struct iovec *iov, int iovcnt, uint32_t offset, uint32_t len)
{
	static const struct nvme_tcp_tx_params none;
	struct spio_nvme_tcp_common_pdu_hdr *ch = &pdu->hdr.common;
	const struct pdu_type_info *ti = type_info(ch->pdu_type);
	uint32_t hlen, hdr_end, pdo = 0;
	bool hdgst, ddgst;

	params = params != NULL ? params : &none;
	if (ti == NULL || params->pda > SPIO_NVME_TCP_HPDA_MAX ||
	    tx_check_data(ti, iov, iovcnt, offset, len) != 0) {
		return -EINVAL;
	}
	hlen = ti->hlen;
	hdgst = ti->digests && params->hdgst;
	ddgst = ti->digests && params->ddgst && len > 0;
	hdr_end = hlen + (hdgst ? DGST_LEN : 0);
	if (len > 0) {
		pdo = round_up(hdr_end, pda_align(params->pda));
	}
	/* plen is 32 bits: pdo + len + digest must not wrap. */
	if ((uint64_t)pdo + len + (ddgst ? DGST_LEN : 0) > UINT32_MAX) {
		return -EINVAL;
	}

	ch->hlen = (uint8_t)hlen;
	ch->pdo = (uint8_t)pdo;
	ch->flags &= (uint8_t) ~(SPIO_NVME_TCP_CH_FLAGS_HDGSTF | SPIO_NVME_TCP_CH_FLAGS_DDGSTF);
	ch->flags |= (hdgst ? SPIO_NVME_TCP_CH_FLAGS_HDGSTF : 0) |
		     (ddgst ? SPIO_NVME_TCP_CH_FLAGS_DDGSTF : 0);
	pdu->hdr_len = len > 0 ? pdo : hdr_end;
	ch->plen = pdu->hdr_len + len + (ddgst ? DGST_LEN : 0);
	/* Header digest and pad follow the header; the digest covers the flags and plen just set.
	 */
	memset(pdu->hdr.raw + hlen, 0, sizeof(pdu->hdr.raw) - hlen);
	if (hdgst) {
		put_le32(pdu->hdr.raw + hlen, nvme_tcp_hdr_digest(pdu->hdr.raw, hlen));
	}

	pdu->data_iov = len > 0 ? iov : NULL;
	pdu->data_iovcnt = len > 0 ? iovcnt : 0;
	pdu->data_offset = len > 0 ? offset : 0;
	pdu->data_len = len;
	pdu->has_ddgst = ddgst;
	put_le32(pdu->ddgst, ddgst ? nvme_tcp_data_digest(iov, iovcnt, offset, len) : 0);
	return 0;
}

/* Append the data slice of `pdu` to `out` from index `n`; -ENOSPC when it does not fit. */
static int tx_data_iov(const struct nvme_tcp_tx_pdu *pdu, struct iovec *out, int n, int max)
{
	uint64_t skip = pdu->data_offset;
	uint64_t left = pdu->data_len;

	for (int i = 0; i < pdu->data_iovcnt && left > 0; i++) {
		const struct iovec *v = &pdu->data_iov[i];
		size_t take;

		if (skip >= v->iov_len) {
			skip -= v->iov_len;
			continue;
		}
		if (n >= max) {
			return -ENOSPC;
		}
		take = SPIO_MIN(v->iov_len - skip, left);
		out[n].iov_base = (uint8_t *)v->iov_base + skip;
		out[n].iov_len = take;
		n++;
		left -= take;
		skip = 0;
	}
	return n;
}

int nvme_tcp_tx_pdu_iov(const struct nvme_tcp_tx_pdu *pdu, struct iovec *out, int max)
{
	int n;

	if (max < 1) {
		return -ENOSPC;
	}
	/* iovec has no const variant; writers only read through it. */
	out[0].iov_base = (void *)(uintptr_t)pdu->hdr.raw;
	out[0].iov_len = pdu->hdr_len;
	n = tx_data_iov(pdu, out, 1, max);
	if (n < 0 || !pdu->has_ddgst) {
		return n;
	}
	if (n >= max) {
		return -ENOSPC;
	}
	out[n].iov_base = (void *)(uintptr_t)pdu->ddgst;
	out[n].iov_len = DGST_LEN;
	return n + 1;
}

uint32_t nvme_tcp_tx_pdu_len(const struct nvme_tcp_tx_pdu *pdu)
{
	return pdu->hdr.common.plen;
}

static void ic_build(struct nvme_tcp_tx_pdu *pdu, uint8_t type, bool hdgst, bool ddgst)
{
	nvme_tcp_tx_pdu_init(pdu, type);
	pdu->hdr.common.plen = NVME_TCP_IC_HLEN;
	pdu->hdr_len = NVME_TCP_IC_HLEN;
	/* ic_req and ic_resp share the layout of pfv and dgst. */
	pdu->hdr.ic_req.pfv = SPIO_NVME_TCP_PFV_1_0;
	pdu->hdr.ic_req.dgst.bits.hdgst_enable = hdgst;
	pdu->hdr.ic_req.dgst.bits.ddgst_enable = ddgst;
}

int nvme_tcp_ic_req_build(struct nvme_tcp_tx_pdu *pdu, uint8_t hpda, bool hdgst, bool ddgst,
			  uint32_t maxr2t)
{
	if (hpda > SPIO_NVME_TCP_HPDA_MAX) {
		return -EINVAL;
	}
	ic_build(pdu, SPIO_NVME_TCP_PDU_TYPE_IC_REQ, hdgst, ddgst);
	pdu->hdr.ic_req.hpda = hpda;
	pdu->hdr.ic_req.maxr2t = maxr2t;
	return 0;
}

int nvme_tcp_ic_resp_build(struct nvme_tcp_tx_pdu *pdu, uint8_t cpda, bool hdgst, bool ddgst,
			   uint32_t maxh2cdata)
{
	if (cpda > SPIO_NVME_TCP_HPDA_MAX || maxh2cdata < SPIO_NVME_TCP_MIN_MAXH2CDATA ||
	    maxh2cdata % 4 != 0) {
		return -EINVAL;
	}
	ic_build(pdu, SPIO_NVME_TCP_PDU_TYPE_IC_RESP, hdgst, ddgst);
	pdu->hdr.ic_resp.cpda = cpda;
	pdu->hdr.ic_resp.maxh2cdata = maxh2cdata;
	return 0;
}

int nvme_tcp_term_req_build(struct nvme_tcp_tx_pdu *pdu, uint8_t pdu_type, uint16_t fes,
			    uint32_t fei, const void *err_hdr, size_t err_len)
{
	size_t n = SPIO_MIN(err_len, (size_t)SPIO_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE);

	if ((pdu_type != SPIO_NVME_TCP_PDU_TYPE_H2C_TERM_REQ &&
	     pdu_type != SPIO_NVME_TCP_PDU_TYPE_C2H_TERM_REQ) ||
	    (err_hdr == NULL && err_len > 0)) {
		return -EINVAL;
	}
	nvme_tcp_tx_pdu_init(pdu, pdu_type);
	pdu->hdr.term_req.fes = fes;
	if (fes == SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD ||
	    fes == SPIO_NVME_TCP_TERM_REQ_FES_UNSUPPORTED_PARAMETER) {
		put_le32(pdu->hdr.term_req.fei, fei);
	}
	if (n > 0) {
		memcpy(pdu->hdr.raw + NVME_TCP_TERM_REQ_HLEN, err_hdr, n);
	}
	pdu->hdr_len = NVME_TCP_TERM_REQ_HLEN + (uint32_t)n;
	pdu->hdr.common.plen = pdu->hdr_len;
	return 0;
}

/*
 * Receiving
 *
 * States, in the order of a PDU's bytes: HDR collects the common header,
 * then (once it is valid) the rest of the header and its digest (a term
 * req: the whole PDU); PAD skips to PDO; DATA copies to the consumer's
 * buffers; DDGST collects the data digest. Then on_pdu and back to HDR.
 */
enum rx_state { RX_HDR, RX_PAD, RX_DATA, RX_DDGST, RX_FAILED };

#define CH_LEN ((uint32_t)sizeof(struct spio_nvme_tcp_common_pdu_hdr))

static void rx_next_pdu(struct nvme_tcp_rx *rx)
{
	rx->state = RX_HDR;
	rx->hdr_got = 0;
	rx->hdr_need = CH_LEN;
	rx->pad_left = 0;
	rx->data_len = 0;
	rx->data_got = 0;
	rx->iov = NULL;
	rx->iovcnt = 0;
	rx->iov_idx = 0;
	rx->iov_off = 0;
	rx->ddgst_on = false;
	rx->ddgst_got = 0;
	rx->crc = ~0U;
}

void nvme_tcp_rx_init(struct nvme_tcp_rx *rx, enum nvme_tcp_role role)
{
	memset(rx, 0, sizeof(*rx));
	rx->role = role;
	rx->params.max_data_len = UINT32_MAX;
	rx->params.max_incapsule = UINT32_MAX;
	rx_next_pdu(rx);
}

int nvme_tcp_rx_set_params(struct nvme_tcp_rx *rx, const struct nvme_tcp_rx_params *params)
{
	if (params == NULL || params->pda > SPIO_NVME_TCP_HPDA_MAX) {
		return -EINVAL;
	}
	rx->params = *params;
	return 0;
}

void nvme_tcp_rx_fail(struct nvme_tcp_rx *rx, uint16_t fes, uint32_t fei, const char *reason)
{
	if (rx->state == RX_FAILED) {
		return;
	}
	rx->state = RX_FAILED;
	rx->err.fes = fes;
	rx->err.fei = fei;
	rx->err.reason = reason;
}

bool nvme_tcp_rx_failed(const struct nvme_tcp_rx *rx)
{
	return rx->state == RX_FAILED;
}

const void *nvme_tcp_rx_err_hdr(const struct nvme_tcp_rx *rx, size_t *len)
{
	*len = rx->state == RX_FAILED ? rx->hdr_got : 0;
	return rx->hdr.raw;
}

/* Fail with Invalid Header Field at `fei`; returns -1 for the caller to pass on. */
static int rx_bad_field(struct nvme_tcp_rx *rx, uint32_t fei, const char *reason)
{
	nvme_tcp_rx_fail(rx, SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD, fei, reason);
	return -1;
}

/* PDU type acceptable for this role at this point of the stream? */
static int rx_check_type(struct nvme_tcp_rx *rx, const struct pdu_type_info **tip)
{
	uint8_t type = rx->hdr.common.pdu_type;
	const struct pdu_type_info *ti = type_info(type);
	bool is_ic =
	    type == SPIO_NVME_TCP_PDU_TYPE_IC_REQ || type == SPIO_NVME_TCP_PDU_TYPE_IC_RESP;

	if (ti == NULL) {
		return rx_bad_field(rx, FEI_TYPE, "unknown PDU type");
	}
	if (ti->rx_role != rx->role) {
		return rx_bad_field(rx, FEI_TYPE, "PDU type of the other direction");
	}
	if (is_ic && rx->ic_done) {
		nvme_tcp_rx_fail(rx, SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR, 0,
				 "second IC PDU");
		return -1;
	}
	/* A term req may answer a bad IC PDU, so it is fine before IC is done. */
	if (!is_ic && !rx->ic_done && ti->data != DATA_TERM) {
		nvme_tcp_rx_fail(rx, SPIO_NVME_TCP_TERM_REQ_FES_PDU_SEQUENCE_ERROR, 0,
				 "PDU before IC exchange");
		return -1;
	}
	if (rx->hdr.common.hlen != ti->hlen) {
		return rx_bad_field(rx, FEI_HLEN, "HLEN wrong for the PDU type");
	}
	*tip = ti;
	return 0;
}

/* IC and term req: no digests, fixed or bounded PLEN; PDO is reserved. */
static int rx_check_plain(struct nvme_tcp_rx *rx, const struct pdu_type_info *ti)
{
	const struct spio_nvme_tcp_common_pdu_hdr *ch = &rx->hdr.common;

	if (ch->flags & (SPIO_NVME_TCP_CH_FLAGS_HDGSTF | SPIO_NVME_TCP_CH_FLAGS_DDGSTF)) {
		return rx_bad_field(rx, FEI_FLAGS, "digest flag on IC or term req PDU");
	}
	if (ti->data == DATA_TERM) {
		if (ch->plen < ti->hlen || ch->plen > SPIO_NVME_TCP_TERM_REQ_PDU_MAX_SIZE) {
			return rx_bad_field(rx, FEI_PLEN, "term req PLEN out of range");
		}
		rx->hdr_need = ch->plen;
		return 0;
	}
	if (ch->plen != ti->hlen) {
		return rx_bad_field(rx, FEI_PLEN, "IC PDU PLEN is not 128");
	}
	rx->hdr_need = ti->hlen;
	return 0;
}

/* Data length limit of this PDU type. */
static uint32_t rx_max_data(const struct nvme_tcp_rx *rx)
{
	if (rx->hdr.common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_CAPSULE_CMD) {
		return rx->params.max_incapsule;
	}
	return rx->params.max_data_len;
}

/* A PDU with data: PDO placement and alignment, DDGSTF, PLEN, length limit. */
static int rx_check_data_layout(struct nvme_tcp_rx *rx, uint32_t hdr_end)
{
	const struct spio_nvme_tcp_common_pdu_hdr *ch = &rx->hdr.common;
	bool ddgstf = (ch->flags & SPIO_NVME_TCP_CH_FLAGS_DDGSTF) != 0;
	uint32_t tail = ddgstf ? DGST_LEN : 0;

	if (ddgstf != rx->params.ddgst) {
		return rx_bad_field(rx, FEI_FLAGS, "DDGSTF does not match negotiated data digest");
	}
	if (ch->pdo < hdr_end || ch->pdo % pda_align(rx->params.pda) != 0) {
		return rx_bad_field(rx, FEI_PDO, "PDO too small or misaligned");
	}
	/* Written so that no sum can wrap: plen > pdo + tail means data follows. */
	if (ch->plen < ch->pdo || ch->plen - ch->pdo <= tail) {
		return rx_bad_field(rx, FEI_PLEN, "PLEN leaves no room for the data");
	}
	rx->data_len = ch->plen - ch->pdo - tail;
	if (rx->data_len > rx_max_data(rx)) {
		nvme_tcp_rx_fail(rx, SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_LIMIT_EXCEEDED, 0,
				 "PDU data longer than the negotiated maximum");
		return -1;
	}
	rx->ddgst_on = ddgstf;
	rx->pad_left = ch->pdo - hdr_end;
	rx->hdr_need = hdr_end;
	return 0;
}

/* CapsuleCmd, CapsuleResp, data PDUs, R2T. */
static int rx_check_digested(struct nvme_tcp_rx *rx, const struct pdu_type_info *ti)
{
	const struct spio_nvme_tcp_common_pdu_hdr *ch = &rx->hdr.common;
	bool hdgstf = (ch->flags & SPIO_NVME_TCP_CH_FLAGS_HDGSTF) != 0;
	uint32_t hdr_end = ti->hlen + (hdgstf ? DGST_LEN : 0);

	if (hdgstf != rx->params.hdgst) {
		return rx_bad_field(rx, FEI_FLAGS,
				    "HDGSTF does not match negotiated header digest");
	}
	if (ch->plen < hdr_end) {
		return rx_bad_field(rx, FEI_PLEN, "PLEN shorter than the header");
	}
	if (ti->data == DATA_REQUIRED || (ti->data == DATA_OPTIONAL && ch->plen != hdr_end)) {
		return rx_check_data_layout(rx, hdr_end);
	}
	if (ch->flags & SPIO_NVME_TCP_CH_FLAGS_DDGSTF) {
		return rx_bad_field(rx, FEI_FLAGS, "DDGSTF on a PDU without data");
	}
	if (ch->plen != hdr_end) {
		return rx_bad_field(rx, FEI_PLEN, "PLEN wrong for a PDU without data");
	}
	rx->hdr_need = hdr_end;
	return 0;
}

static int rx_check_common(struct nvme_tcp_rx *rx)
{
	const struct pdu_type_info *ti;

	if (rx_check_type(rx, &ti) != 0) {
		return -1;
	}
	return ti->digests ? rx_check_digested(rx, ti) : rx_check_plain(rx, ti);
}

static int rx_check_ic(struct nvme_tcp_rx *rx)
{
	const union nvme_tcp_pdu_hdr *h = &rx->hdr;

	/* ic_req and ic_resp share the layout up to the 32-bit field at 12. */
	if (h->ic_req.pfv != SPIO_NVME_TCP_PFV_1_0) {
		return rx_bad_field(rx, FEI_PFV, "unsupported PDU format version");
	}
	if (h->ic_req.hpda > SPIO_NVME_TCP_HPDA_MAX) {
		return rx_bad_field(rx, FEI_PDA, "PDA above 31");
	}
	if (h->common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_IC_RESP &&
	    (h->ic_resp.maxh2cdata < SPIO_NVME_TCP_MIN_MAXH2CDATA ||
	     h->ic_resp.maxh2cdata % 4 != 0)) {
		return rx_bad_field(rx, FEI_MAXDATA, "MAXH2CDATA below 4096 or unaligned");
	}
	rx->ic_done = true;
	return 0;
}

/* Type-specific fields, once the whole header (and digest) is in. */
static int rx_check_fields(struct nvme_tcp_rx *rx)
{
	const union nvme_tcp_pdu_hdr *h = &rx->hdr;

	switch (h->common.pdu_type) {
	case SPIO_NVME_TCP_PDU_TYPE_IC_REQ:
	case SPIO_NVME_TCP_PDU_TYPE_IC_RESP:
		return rx_check_ic(rx);
	case SPIO_NVME_TCP_PDU_TYPE_H2C_DATA:
	case SPIO_NVME_TCP_PDU_TYPE_C2H_DATA:
		/* h2c and c2h headers share the layout of datal. */
		if (h->c2h_data.datal != rx->data_len) {
			return rx_bad_field(rx, FEI_DATAL, "DATAL does not match PLEN");
		}
		if (h->common.pdu_type == SPIO_NVME_TCP_PDU_TYPE_C2H_DATA &&
		    (h->common.flags & SPIO_NVME_TCP_C2H_DATA_FLAGS_SUCCESS) &&
		    !(h->common.flags & SPIO_NVME_TCP_C2H_DATA_FLAGS_LAST_PDU)) {
			return rx_bad_field(rx, FEI_FLAGS, "C2H SUCCESS without LAST_PDU");
		}
		return 0;
	case SPIO_NVME_TCP_PDU_TYPE_R2T:
		if (h->r2t.r2tl == 0) {
			return rx_bad_field(rx, FEI_DATAL, "R2T of zero bytes");
		}
		return 0;
	default:
		return 0;
	}
}

/* Map a callback's return: negative fails the stream (unless it failed it itself). */
static int rx_cb_result(struct nvme_tcp_rx *rx, int rc)
{
	if (rc < 0) {
		nvme_tcp_rx_fail(rx, (uint16_t)-rc, 0, "rejected by the consumer");
		return -1;
	}
	if (rx->state == RX_FAILED) {
		return -1;
	}
	return rc > 0 ? NVME_TCP_RX_PAUSE : 0;
}

static int rx_pdu_done(struct nvme_tcp_rx *rx, const struct nvme_tcp_rx_ops *ops, void *ctx,
		       bool ddgst_ok)
{
	int rc = ops->on_pdu != NULL ? ops->on_pdu(ctx, &rx->hdr, ddgst_ok) : 0;

	rc = rx_cb_result(rx, rc);
	if (rc >= 0) {
		rx_next_pdu(rx);
	}
	return rc;
}

/* Normalize the consumer's destination: find where `offset` lands, check room. */
static int rx_set_dest(struct nvme_tcp_rx *rx, struct iovec *iov, int iovcnt, uint32_t offset)
{
	uint64_t skip = offset;

	if (iov == NULL || iovcnt <= 0) {
		return 0;
	}
	if (spio_iov_length(iov, iovcnt) < (uint64_t)offset + rx->data_len) {
		nvme_tcp_rx_fail(rx, SPIO_NVME_TCP_TERM_REQ_FES_DATA_TRANSFER_OUT_OF_RANGE, 0,
				 "destination buffer smaller than the PDU data");
		return -1;
	}
	rx->iov = iov;
	rx->iovcnt = iovcnt;
	rx->iov_idx = 0;
	while (skip >= iov[rx->iov_idx].iov_len && rx->iov_idx < iovcnt - 1) {
		skip -= iov[rx->iov_idx].iov_len;
		rx->iov_idx++;
	}
	rx->iov_off = skip;
	return 0;
}

static int rx_start_data(struct nvme_tcp_rx *rx, const struct nvme_tcp_rx_ops *ops, void *ctx)
{
	struct iovec *iov = NULL;
	int iovcnt = 0, rc = 0;
	uint32_t offset = 0;

	if (ops->on_header != NULL) {
		rc = ops->on_header(ctx, &rx->hdr, rx->data_len, &iov, &iovcnt, &offset);
	}
	rc = rx_cb_result(rx, rc);
	if (rc < 0 || rx_set_dest(rx, iov, iovcnt, offset) != 0) {
		return -1;
	}
	rx->state = rx->pad_left > 0 ? RX_PAD : RX_DATA;
	return rc;
}

static int rx_hdr_done(struct nvme_tcp_rx *rx, const struct nvme_tcp_rx_ops *ops, void *ctx)
{
	const struct spio_nvme_tcp_common_pdu_hdr *ch = &rx->hdr.common;

	if (ch->flags & SPIO_NVME_TCP_CH_FLAGS_HDGSTF) {
		uint32_t want = nvme_tcp_hdr_digest(rx->hdr.raw, ch->hlen);

		if (get_le32(rx->hdr.raw + ch->hlen) != want) {
			nvme_tcp_rx_fail(rx, SPIO_NVME_TCP_TERM_REQ_FES_HDGST_ERROR, 0,
					 "header digest mismatch");
			return -1;
		}
	}
	if (rx_check_fields(rx) != 0) {
		return -1;
	}
	if (rx->data_len > 0) {
		return rx_start_data(rx, ops, ctx);
	}
	return rx_pdu_done(rx, ops, ctx, true);
}

static int rx_data_done(struct nvme_tcp_rx *rx, const struct nvme_tcp_rx_ops *ops, void *ctx)
{
	if (rx->ddgst_on) {
		rx->state = RX_DDGST;
		return 0;
	}
	return rx_pdu_done(rx, ops, ctx, true);
}

static size_t rx_take_hdr(struct nvme_tcp_rx *rx, const uint8_t *p, size_t len)
{
	size_t n = SPIO_MIN(len, (size_t)(rx->hdr_need - rx->hdr_got));

	memcpy(rx->hdr.raw + rx->hdr_got, p, n);
	rx->hdr_got += (uint32_t)n;
	return n;
}

static int rx_step_hdr(struct nvme_tcp_rx *rx, const uint8_t *p, size_t len, size_t *used,
		       const struct nvme_tcp_rx_ops *ops, void *ctx)
{
	*used = rx_take_hdr(rx, p, len);
	if (rx->hdr_got < rx->hdr_need) {
		return 0;
	}
	/* The common header is in: validate it, which sets hdr_need past CH_LEN. */
	if (rx->hdr_got == CH_LEN) {
		return rx_check_common(rx);
	}
	return rx_hdr_done(rx, ops, ctx);
}

/* Copy (or discard) data bytes into the destination, keeping the digest running. */
static size_t rx_take_data(struct nvme_tcp_rx *rx, const uint8_t *p, size_t len)
{
	size_t total = SPIO_MIN(len, (size_t)(rx->data_len - rx->data_got));
	size_t done = 0;

	if (rx->ddgst_on) {
		rx->crc = spio_crc32c_update(p, total, rx->crc);
	}
	while (rx->iov != NULL && done < total) {
		struct iovec *v = &rx->iov[rx->iov_idx];
		size_t n = SPIO_MIN(v->iov_len - rx->iov_off, total - done);

		memcpy((uint8_t *)v->iov_base + rx->iov_off, p + done, n);
		done += n;
		rx->iov_off += n;
		if (rx->iov_off == v->iov_len && rx->iov_idx < rx->iovcnt - 1) {
			rx->iov_idx++;
			rx->iov_off = 0;
		}
	}
	rx->data_got += (uint32_t)total;
	return total;
}

static int rx_step_data(struct nvme_tcp_rx *rx, const uint8_t *p, size_t len, size_t *used,
			const struct nvme_tcp_rx_ops *ops, void *ctx)
{
	*used = rx_take_data(rx, p, len);
	if (rx->data_got < rx->data_len) {
		return 0;
	}
	return rx_data_done(rx, ops, ctx);
}

static int rx_step_ddgst(struct nvme_tcp_rx *rx, const uint8_t *p, size_t len, size_t *used,
			 const struct nvme_tcp_rx_ops *ops, void *ctx)
{
	size_t n = SPIO_MIN(len, (size_t)(DGST_LEN - rx->ddgst_got));

	memcpy(rx->ddgst + rx->ddgst_got, p, n);
	rx->ddgst_got += (uint32_t)n;
	*used = n;
	if (rx->ddgst_got < DGST_LEN) {
		return 0;
	}
	return rx_pdu_done(rx, ops, ctx, get_le32(rx->ddgst) == ~rx->crc);
}

static int rx_step(struct nvme_tcp_rx *rx, const uint8_t *p, size_t len, size_t *used,
		   const struct nvme_tcp_rx_ops *ops, void *ctx)
{
	switch (rx->state) {
	case RX_HDR:
		return rx_step_hdr(rx, p, len, used, ops, ctx);
	case RX_PAD:
		*used = SPIO_MIN(len, (size_t)rx->pad_left);
		rx->pad_left -= (uint32_t)*used;
		if (rx->pad_left == 0) {
			rx->state = RX_DATA;
		}
		return 0;
	case RX_DATA:
		return rx_step_data(rx, p, len, used, ops, ctx);
	case RX_DDGST:
		return rx_step_ddgst(rx, p, len, used, ops, ctx);
	default:
		*used = 0;
		return -1;
	}
}

ssize_t nvme_tcp_rx_feed(struct nvme_tcp_rx *rx, const void *buf, size_t len,
			 const struct nvme_tcp_rx_ops *ops, void *ctx)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int rc = 0;

	if (rx->state == RX_FAILED) {
		return -EPROTO;
	}
	while (done < len && rc == 0) {
		size_t used = 0;

		rc = rx_step(rx, p + done, len - done, &used, ops, ctx);
		done += used;
	}
	if (rx->state == RX_FAILED) {
		return -EPROTO;
	}
	return (ssize_t)done;
}

uint32_t nvme_tcp_rx_need(const struct nvme_tcp_rx *rx)
{
	switch (rx->state) {
	case RX_HDR:
		return rx->hdr_need - rx->hdr_got;
	case RX_PAD:
		return rx->pad_left;
	case RX_DATA:
		return rx->data_len - rx->data_got;
	case RX_DDGST:
		return DGST_LEN - rx->ddgst_got;
	default:
		return 0;
	}
}

int nvme_tcp_rx_data_iov(const struct nvme_tcp_rx *rx, struct iovec *out, int max)
{
	size_t left = rx->data_len - rx->data_got;
	size_t off = rx->iov_off;
	int n = 0;

	if (rx->state != RX_DATA || rx->iov == NULL) {
		return 0;
	}
	for (int i = rx->iov_idx; i < rx->iovcnt && left > 0 && n < max; i++) {
		size_t take = SPIO_MIN(rx->iov[i].iov_len - off, left);

		if (take > 0) {
			out[n].iov_base = (uint8_t *)rx->iov[i].iov_base + off;
			out[n].iov_len = take;
			n++;
			left -= take;
		}
		off = 0;
	}
	return n;
}

/* Step the destination position over `n` bytes already placed there, digesting them. */
static void rx_advance_dest(struct nvme_tcp_rx *rx, size_t n)
{
	while (n > 0) {
		struct iovec *v = &rx->iov[rx->iov_idx];
		size_t take = SPIO_MIN(v->iov_len - rx->iov_off, n);

		if (rx->ddgst_on) {
			rx->crc =
			    spio_crc32c_update((uint8_t *)v->iov_base + rx->iov_off, take, rx->crc);
		}
		rx->iov_off += take;
		n -= take;
		if (rx->iov_off == v->iov_len && rx->iov_idx < rx->iovcnt - 1) {
			rx->iov_idx++;
			rx->iov_off = 0;
		}
	}
}

int nvme_tcp_rx_data_advance(struct nvme_tcp_rx *rx, size_t n, const struct nvme_tcp_rx_ops *ops,
			     void *ctx)
{
	if (rx->state == RX_FAILED) {
		return -EPROTO;
	}
	if (rx->state != RX_DATA || rx->iov == NULL || n > rx->data_len - rx->data_got) {
		return -EINVAL;
	}
	rx_advance_dest(rx, n);
	rx->data_got += (uint32_t)n;
	if (rx->data_got == rx->data_len) {
		rx_data_done(rx, ops, ctx);
	}
	return rx->state == RX_FAILED ? -EPROTO : 0;
}
