/*
 * Test helper: a raw NVMe/TCP host for the target's transport tests. It
 * builds PDUs by hand (valid ones with the shared codec, broken ones byte
 * by byte) and checks what the target sends with nvme_tcp_rx in the host
 * role, so every PDU the target emits is validated by the codec too.
 *
 * Everything runs on the calling OS thread: while a call waits for the
 * socket it calls the `pump` function given at connect (the test polls the
 * target's spio threads there). Waits are bounded by TC_WAIT_MS.
 */
#ifndef SPIO_TEST_HELPER_TCP_CLIENT_H
#define SPIO_TEST_HELPER_TCP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme/nvme_tcp_pdu.h"

/* Longest a call waits for the target, in ms. */
#define TC_WAIT_MS 10000
/* Largest data of a PDU the client keeps (C2HData; bigger fails the receive). */
#define TC_MAX_DATA (1024u * 1024)

typedef void (*tc_pump_fn)(void *arg);

/* One PDU as received: its header (with a term req's data) and its data. */
struct tc_pdu {
	union nvme_tcp_pdu_hdr hdr;
	uint8_t *data; /* owned by the client; valid until the next receive */
	uint32_t data_len;
	bool ddgst_ok;
};

struct tc {
	int fd;
	tc_pump_fn pump;
	void *pump_arg;
	struct nvme_tcp_rx rx;
	struct nvme_tcp_tx_params tx;
	bool hdgst, ddgst;
	uint32_t maxh2cdata;
	/* Received PDUs not yet taken, a small ring. */
	struct tc_pdu q[16];
	uint8_t *qdata[16];
	uint32_t q_head, q_count;
	struct iovec data_iov;
	/* Bytes read but not yet fed (the queue was full). */
	uint8_t in[16384];
	uint32_t in_off, in_len;
	bool closed;  /* EOF or reset seen */
	int rx_error; /* the codec failed on what the target sent */
};

/* Connect to 127.0.0.1:`port` (or [::1] with `ipv6`). \return the client or NULL. */
struct tc *tc_connect(uint16_t port, bool ipv6, tc_pump_fn pump, void *arg);
/* Close (with SO_LINGER 0 when `reset`: the target sees an RST) and free. */
void tc_close(struct tc *tc, bool reset);

/* Send `len` bytes as they are. \return 0, or -errno. */
int tc_send_raw(struct tc *tc, const void *buf, size_t len);
/* Send a sealed PDU. \return 0 or -errno. */
int tc_send_pdu(struct tc *tc, const struct nvme_tcp_tx_pdu *pdu);

/*
 * Wait for the next PDU. \return 0 with `*out` pointing into the client
 * (valid until the next call); -ETIMEDOUT; -ECONNRESET when the target
 * closed the connection; -EPROTO when what it sent is not valid NVMe/TCP.
 */
int tc_recv(struct tc *tc, struct tc_pdu **out);
/* True once the target closed the connection (waits up to `ms`). */
bool tc_wait_closed(struct tc *tc, int ms);

/*
 * ICReq (hpda, digests asked) and ICResp. \return 0 with `*resp` filled
 * (digests then on as granted); -EPROTO for an unexpected PDU; recv errors.
 */
int tc_ic(struct tc *tc, uint8_t hpda, bool hdgst, bool ddgst, struct spio_nvme_tcp_ic_resp *resp);

/*
 * Send a capsule: `cmd` with `len` bytes of `data` in the capsule (SGL
 * data block, offset 0) or, with `data` NULL and len > 0, a transport SGL
 * of `len` bytes (the data then follows an R2T, or comes back in C2H).
 */
int tc_send_cmd(struct tc *tc, const struct spio_nvme_cmd *cmd, const void *data, uint32_t len);
/* Send H2CData of `len` bytes of `data` at `datao` for (cid, ttag); LAST_PDU when `last`. */
int tc_send_h2c(struct tc *tc, uint16_t cid, uint16_t ttag, uint32_t datao, const void *data,
		uint32_t len, bool last);

/* Fabrics Connect (queue `qid`, `sqsize` entries, cattr) to `subnqn` as `hostnqn`. */
int tc_send_connect(struct tc *tc, uint16_t cid, uint16_t qid, uint16_t entries, uint8_t cattr,
		    uint16_t cntlid, const char *subnqn, const char *hostnqn);

/*
 * Bring up a controller on an admin queue connection that did its IC
 * exchange: Connect (dynamic cntlid, `entries` entries) and set CC.EN until
 * CSTS.RDY. \return the controller ID, or a negative errno (-EIO when the
 * target refused a step).
 */
int tc_admin_bringup(struct tc *tc, uint16_t entries, const char *subnqn, const char *hostnqn);

/*
 * Run one command to completion: send it (writes: in-capsule when `icd`,
 * else answer R2Ts with H2CData of at most `h2c_chunk` bytes), collect
 * C2HData into `rbuf` (reads), and return its completion in `*cpl`
 * (made up from a C2HData with SUCCESS, which `*c2h_success` reports).
 * \return 0 when a completion arrived; an error from the connection else.
 */
int tc_run_cmd(struct tc *tc, const struct spio_nvme_cmd *cmd, const void *wbuf, void *rbuf,
	       uint32_t len, bool icd, uint32_t h2c_chunk, struct spio_nvme_cpl *cpl,
	       bool *c2h_success);

/* NVM read / write command of `nlb` blocks at `slba` on `nsid` (cid set by the caller). */
void tc_rw_cmd(struct spio_nvme_cmd *cmd, bool write, uint16_t cid, uint32_t nsid, uint64_t slba,
	       uint32_t nlb);

#endif /* SPIO_TEST_HELPER_TCP_CLIENT_H */
