/*
 * NVMe over Fabrics commands (NVMe-oF 1.1, section 3.3 / 6): builders for the
 * capsules a host sends (Connect, Property Get / Set), the decoding of their
 * responses, and the parsing a target does of the same capsules.
 *
 * Transport-neutral: no I/O and no allocation; every buffer is the caller's
 * and is used during the call only. The command identifier (cid) is left 0:
 * the queue that sends the command sets it. Callable from any thread.
 */
#ifndef SPIO_NVME_FABRIC_H
#define SPIO_NVME_FABRIC_H

#include <stdbool.h>
#include <stdint.h>

#include "spio/nvme_spec.h"

/* Connect data is always 1024 bytes, sent in-capsule. */
#define NVME_FABRIC_CONNECT_DATA_LEN 1024u

/*
 * Fill `cmd` (zeroed first) with a Fabrics Connect: queue `qid`, `sqsize`
 * (0's based: entries - 1), keep-alive timeout `kato_ms` (0 = none; used on
 * the admin queue), connect attributes `cattr`, record format 0. SGL1 is one
 * in-capsule Data Block with Offset subtype, offset 0 and length 1024 (the
 * connect data), PSDT = SGL.
 */
void nvme_fabric_connect_cmd_build(struct spio_nvme_cmd *cmd, uint16_t qid, uint16_t sqsize,
				   uint32_t kato_ms, uint8_t cattr);

/*
 * Fill the 1024-byte connect data (zeroed first): `hostid` (16 bytes),
 * `cntlid` (SPIO_NVMF_CNTLID_DYNAMIC on the admin queue, the controller's
 * ID on I/O queues) and both NQNs, NUL-padded.
 *
 * \return 0; -EINVAL for a NULL argument or an empty NQN or one longer than
 *         SPIO_NVMF_NQN_MAX_LEN bytes (`data` is left zeroed then).
 */
int nvme_fabric_connect_data_build(struct spio_nvmf_fabric_connect_data *data,
				   const uint8_t hostid[16], uint16_t cntlid, const char *subnqn,
				   const char *hostnqn);

/*
 * Fill `cmd` (zeroed first) with a Property Get of `size` bytes (4 or 8) at
 * property offset `ofst` (SPIO_NVME_REG_*). PSDT = SGL; SGL1 stays zero for
 * the transport to describe "no data" its way.
 * \return 0, or -EINVAL for another size.
 */
int nvme_fabric_prop_get_build(struct spio_nvme_cmd *cmd, uint32_t ofst, uint8_t size);

/*
 * Fill `cmd` (zeroed first) with a Property Set of `size` bytes (4 or 8) of
 * `value` at `ofst`. \return 0, or -EINVAL for another size or a value that
 * does not fit 4 bytes when size is 4.
 */
int nvme_fabric_prop_set_build(struct spio_nvme_cmd *cmd, uint32_t ofst, uint8_t size,
			       uint64_t value);

/* The value of a successful Property Get response of `size` bytes (4: the low 32 bits). */
uint64_t nvme_fabric_prop_get_rsp_value(const struct spio_nvme_cpl *cpl, uint8_t size);

/* What a Connect response says. */
struct nvme_fabric_connect_result {
	uint16_t cntlid;  /* success: the controller the queue belongs to */
	uint16_t authreq; /* success: nonzero = in-band authentication required */
	/* Connect Invalid Parameters: where the bad field is. */
	uint8_t iattr;	 /* 0: in the command, 1: in the connect data */
	uint16_t ipo;	 /* byte offset of the field in the command or data */
	uint8_t sct, sc; /* the status, for the log */
};

/*
 * Decode a Connect response into `res` (zeroed first).
 * \return 0 on success (cntlid, authreq); -EINVAL when the status is Connect
 *         Invalid Parameters (iattr, ipo); -EIO for any other error status.
 */
int nvme_fabric_connect_rsp_decode(const struct spio_nvme_cpl *cpl,
				   struct nvme_fabric_connect_result *res);

/*
 * Target side
 */

/*
 * The fabrics command type (SPIO_NVMF_FABRIC_COMMAND_*) of `cmd`, or -EINVAL
 * when its opcode is not the Fabrics opcode (0x7f).
 */
int nvme_fabric_cmd_type(const struct spio_nvme_cmd *cmd);

/* A Connect, command and data, as the target received it. */
struct nvme_fabric_connect {
	uint16_t qid;
	uint16_t sqsize; /* 0's based */
	uint8_t cattr;
	uint32_t kato_ms;
	uint8_t hostid[16];
	uint16_t cntlid;
	char subnqn[SPIO_NVMF_NQN_MAX_LEN + 1];
	char hostnqn[SPIO_NVMF_NQN_MAX_LEN + 1];
};

/* Why a Connect is refused: the status and, for Invalid Parameters, the field. */
struct nvme_fabric_connect_error {
	uint8_t sct;
	uint8_t sc;
	uint8_t iattr; /* with SPIO_NVMF_FABRIC_SC_INVALID_PARAM: 0 command, 1 data */
	uint16_t ipo;
};

/*
 * Check and decode a Connect command and its in-capsule data (`data_len`
 * bytes at `data`; NULL when the capsule had none) into `out`.
 *
 * \return 0; -EINVAL with `err` saying what to answer (build the response
 *         with nvme_fabric_connect_rsp_fail()): not a Connect (generic
 *         Invalid Field), record format not 0 (Incompatible Format), sqsize 0
 *         or data shorter than 1024 bytes (Invalid Parameters in the command),
 *         an NQN empty or without a NUL within 224 bytes (Invalid Parameters
 *         in the data). Queue-size limits, cntlid rules and host access are
 *         the target's policy, not checked here.
 */
int nvme_fabric_connect_parse(const struct spio_nvme_cmd *cmd, const void *data, uint32_t data_len,
			      struct nvme_fabric_connect *out,
			      struct nvme_fabric_connect_error *err);

/* Fill `cpl` (zeroed first) as a successful Connect response for `cntlid`. */
void nvme_fabric_connect_rsp_build(struct spio_nvme_cpl *cpl, uint16_t cntlid);

/* Fill `cpl` (zeroed first) as a failed Connect response carrying `err`. */
void nvme_fabric_connect_rsp_fail(struct spio_nvme_cpl *cpl,
				  const struct nvme_fabric_connect_error *err);

/* A Property Get or Set as the target received it. */
struct nvme_fabric_prop {
	bool set;
	uint8_t size; /* bytes: 4 or 8 */
	uint32_t ofst;
	uint64_t value; /* Property Set only */
};

/*
 * Decode a Property Get or Set command into `out`.
 * \return 0, or -EINVAL for another command or a reserved size attribute.
 */
int nvme_fabric_prop_parse(const struct spio_nvme_cmd *cmd, struct nvme_fabric_prop *out);

/* Fill `cpl` (zeroed first) as a successful Property Get response carrying `value`. */
void nvme_fabric_prop_get_rsp_build(struct spio_nvme_cpl *cpl, uint64_t value);

#endif /* SPIO_NVME_FABRIC_H */
