/*
 * NVMe over Fabrics command builders and parsers (see nvme_fabric.h).
 *
 * The fabrics structures of spio/nvme_spec.h are other views of the same 64
 * (command) and 16 (completion) bytes; the build has -fno-strict-aliasing.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "nvme/nvme_fabric.h"

_Static_assert(sizeof(struct spio_nvmf_fabric_connect_cmd) == sizeof(struct spio_nvme_cmd),
	       "connect command is a 64-byte command");
_Static_assert(sizeof(struct spio_nvmf_fabric_prop_get_cmd) == sizeof(struct spio_nvme_cmd),
	       "property get is a 64-byte command");
_Static_assert(sizeof(struct spio_nvmf_fabric_prop_set_cmd) == sizeof(struct spio_nvme_cmd),
	       "property set is a 64-byte command");
_Static_assert(sizeof(struct spio_nvmf_fabric_connect_rsp) == sizeof(struct spio_nvme_cpl),
	       "connect response is a 16-byte completion");
_Static_assert(sizeof(struct spio_nvmf_fabric_prop_get_rsp) == sizeof(struct spio_nvme_cpl),
	       "property get response is a 16-byte completion");
_Static_assert(sizeof(struct spio_nvmf_fabric_connect_data) == NVME_FABRIC_CONNECT_DATA_LEN,
	       "connect data size");

static void fabric_cmd_init(struct spio_nvme_cmd *cmd, uint8_t fctype)
{
	struct spio_nvmf_capsule_cmd *fc = (struct spio_nvmf_capsule_cmd *)cmd;

	memset(cmd, 0, sizeof(*cmd));
	fc->opcode = SPIO_NVME_OPC_FABRIC;
	fc->fctype = fctype;
	/* Fabrics commands describe data with SGLs only. */
	cmd->psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
}

void nvme_fabric_connect_cmd_build(struct spio_nvme_cmd *cmd, uint16_t qid, uint16_t sqsize,
				   uint32_t kato_ms, uint8_t cattr)
{
	struct spio_nvmf_fabric_connect_cmd *cc = (struct spio_nvmf_fabric_connect_cmd *)cmd;

	fabric_cmd_init(cmd, SPIO_NVMF_FABRIC_COMMAND_CONNECT);
	cc->recfmt = 0;
	cc->qid = qid;
	cc->sqsize = sqsize;
	cc->cattr = cattr;
	cc->kato = kato_ms;
	cc->sgl1.address = 0;
	cc->sgl1.unkeyed.length = NVME_FABRIC_CONNECT_DATA_LEN;
	cc->sgl1.unkeyed.type = SPIO_NVME_SGL_TYPE_DATA_BLOCK;
	cc->sgl1.unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_OFFSET;
}

/* Length of an NQN if it is usable (1..SPIO_NVMF_NQN_MAX_LEN bytes), else 0. */
static size_t nqn_len(const char *nqn)
{
	size_t len;

	if (nqn == NULL) {
		return 0;
	}
	len = strnlen(nqn, SPIO_NVMF_NQN_MAX_LEN + 1);
	return len <= SPIO_NVMF_NQN_MAX_LEN ? len : 0;
}

int nvme_fabric_connect_data_build(struct spio_nvmf_fabric_connect_data *data,
				   const uint8_t hostid[16], uint16_t cntlid, const char *subnqn,
				   const char *hostnqn)
{
	size_t sublen = nqn_len(subnqn);
	size_t hostlen = nqn_len(hostnqn);

	if (data == NULL) {
		return -EINVAL;
	}
	memset(data, 0, sizeof(*data));
	if (hostid == NULL || sublen == 0 || hostlen == 0) {
		return -EINVAL;
	}
	memcpy(data->hostid, hostid, sizeof(data->hostid));
	data->cntlid = cntlid;
	memcpy(data->subnqn, subnqn, sublen);
	memcpy(data->hostnqn, hostnqn, hostlen);
	return 0;
}

/* Property size attribute: 0 = 4 bytes, 1 = 8 bytes; -1 for any other size. */
static int prop_size_attr(uint8_t size)
{
	if (size == 4) {
		return SPIO_NVMF_PROP_SIZE_4;
	}
	return size == 8 ? SPIO_NVMF_PROP_SIZE_8 : -1;
}

int nvme_fabric_prop_get_build(struct spio_nvme_cmd *cmd, uint32_t ofst, uint8_t size)
{
	struct spio_nvmf_fabric_prop_get_cmd *pg = (struct spio_nvmf_fabric_prop_get_cmd *)cmd;
	int attr = prop_size_attr(size);

	if (attr < 0) {
		return -EINVAL;
	}
	fabric_cmd_init(cmd, SPIO_NVMF_FABRIC_COMMAND_PROPERTY_GET);
	pg->attrib.size = (uint8_t)attr;
	pg->ofst = ofst;
	return 0;
}

int nvme_fabric_prop_set_build(struct spio_nvme_cmd *cmd, uint32_t ofst, uint8_t size,
			       uint64_t value)
{
	struct spio_nvmf_fabric_prop_set_cmd *ps = (struct spio_nvmf_fabric_prop_set_cmd *)cmd;
	int attr = prop_size_attr(size);

	if (attr < 0 || (size == 4 && value > UINT32_MAX)) {
		return -EINVAL;
	}
	fabric_cmd_init(cmd, SPIO_NVMF_FABRIC_COMMAND_PROPERTY_SET);
	ps->attrib.size = (uint8_t)attr;
	ps->ofst = ofst;
	ps->value.u64 = value;
	return 0;
}

uint64_t nvme_fabric_prop_get_rsp_value(const struct spio_nvme_cpl *cpl, uint8_t size)
{
	uint64_t value;

	/* The value spans cdw0 and cdw1; a CQE is only 4-byte aligned. */
	memcpy(&value, cpl, sizeof(value));
	return size == 8 ? value : (uint32_t)value;
}

int nvme_fabric_connect_rsp_decode(const struct spio_nvme_cpl *cpl,
				   struct nvme_fabric_connect_result *res)
{
	const struct spio_nvmf_fabric_connect_rsp *rsp =
	    (const struct spio_nvmf_fabric_connect_rsp *)cpl;

	memset(res, 0, sizeof(*res));
	res->sct = cpl->status.sct;
	res->sc = cpl->status.sc;
	if (res->sct == SPIO_NVME_SCT_GENERIC && res->sc == SPIO_NVME_SC_SUCCESS) {
		res->cntlid = rsp->status_code_specific.success.cntlid;
		res->authreq = rsp->status_code_specific.success.authreq;
		return 0;
	}
	if (res->sct == SPIO_NVME_SCT_COMMAND_SPECIFIC &&
	    res->sc == SPIO_NVMF_FABRIC_SC_INVALID_PARAM) {
		res->ipo = rsp->status_code_specific.invalid.ipo;
		res->iattr = rsp->status_code_specific.invalid.iattr;
		return -EINVAL;
	}
	return -EIO;
}

/*
 * Target side
 */

int nvme_fabric_cmd_type(const struct spio_nvme_cmd *cmd)
{
	const struct spio_nvmf_capsule_cmd *fc = (const struct spio_nvmf_capsule_cmd *)cmd;

	if (fc->opcode != SPIO_NVME_OPC_FABRIC) {
		return -EINVAL;
	}
	return fc->fctype;
}

static int connect_refuse(struct nvme_fabric_connect_error *err, uint8_t sct, uint8_t sc,
			  uint8_t iattr, uint16_t ipo)
{
	err->sct = sct;
	err->sc = sc;
	err->iattr = iattr;
	err->ipo = ipo;
	return -EINVAL;
}

static int connect_invalid(struct nvme_fabric_connect_error *err, uint8_t iattr, size_t ipo)
{
	return connect_refuse(err, SPIO_NVME_SCT_COMMAND_SPECIFIC,
			      SPIO_NVMF_FABRIC_SC_INVALID_PARAM, iattr, (uint16_t)ipo);
}

static int connect_parse_cmd(const struct spio_nvme_cmd *cmd, struct nvme_fabric_connect *out,
			     struct nvme_fabric_connect_error *err)
{
	const struct spio_nvmf_fabric_connect_cmd *cc =
	    (const struct spio_nvmf_fabric_connect_cmd *)cmd;

	if (nvme_fabric_cmd_type(cmd) != SPIO_NVMF_FABRIC_COMMAND_CONNECT) {
		return connect_refuse(err, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD, 0, 0);
	}
	if (cc->recfmt != 0) {
		return connect_refuse(err, SPIO_NVME_SCT_COMMAND_SPECIFIC,
				      SPIO_NVMF_FABRIC_SC_INCOMPATIBLE_FORMAT, 0, 0);
	}
	if (cc->sqsize == 0) {
		return connect_invalid(err, 0,
				       offsetof(struct spio_nvmf_fabric_connect_cmd, sqsize));
	}
	out->qid = cc->qid;
	out->sqsize = cc->sqsize;
	out->cattr = cc->cattr;
	out->kato_ms = cc->kato;
	return 0;
}

/* Copy an NQN field that must hold 1..223 bytes and a NUL; false if it does not. */
static bool connect_copy_nqn(char *dst, const char *field, bool may_be_empty)
{
	size_t len = strnlen(field, SPIO_NVME_NQN_FIELD_SIZE);

	if ((len == 0 && !may_be_empty) || len > SPIO_NVMF_NQN_MAX_LEN) {
		return false;
	}
	memcpy(dst, field, len);
	dst[len] = '\0';
	return true;
}

static int connect_parse_data(const struct spio_nvmf_fabric_connect_data *cd,
			      struct nvme_fabric_connect *out,
			      struct nvme_fabric_connect_error *err)
{
	memcpy(out->hostid, cd->hostid, sizeof(out->hostid));
	out->cntlid = cd->cntlid;
	if (!connect_copy_nqn(out->subnqn, cd->subnqn, false)) {
		return connect_invalid(err, 1,
				       offsetof(struct spio_nvmf_fabric_connect_data, subnqn));
	}
	/* SPDK's tools send an empty host NQN unless told one, and SPDK's target takes it. */
	if (!connect_copy_nqn(out->hostnqn, cd->hostnqn, true)) {
		return connect_invalid(err, 1,
				       offsetof(struct spio_nvmf_fabric_connect_data, hostnqn));
	}
	return 0;
}

int nvme_fabric_connect_parse(const struct spio_nvme_cmd *cmd, const void *data, uint32_t data_len,
			      struct nvme_fabric_connect *out,
			      struct nvme_fabric_connect_error *err)
{
	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	if (connect_parse_cmd(cmd, out, err) != 0) {
		return -EINVAL;
	}
	if (data == NULL || data_len < NVME_FABRIC_CONNECT_DATA_LEN) {
		/* The SGL describes the data: point at its length. */
		return connect_invalid(
		    err, 0,
		    offsetof(struct spio_nvmf_fabric_connect_cmd, sgl1) +
			offsetof(struct spio_nvme_sgl_descriptor, unkeyed.length));
	}
	return connect_parse_data(data, out, err);
}

void nvme_fabric_connect_rsp_build(struct spio_nvme_cpl *cpl, uint16_t cntlid)
{
	struct spio_nvmf_fabric_connect_rsp *rsp = (struct spio_nvmf_fabric_connect_rsp *)cpl;

	memset(cpl, 0, sizeof(*cpl));
	rsp->status_code_specific.success.cntlid = cntlid;
}

void nvme_fabric_connect_rsp_fail(struct spio_nvme_cpl *cpl,
				  const struct nvme_fabric_connect_error *err)
{
	struct spio_nvmf_fabric_connect_rsp *rsp = (struct spio_nvmf_fabric_connect_rsp *)cpl;

	memset(cpl, 0, sizeof(*cpl));
	cpl->status.sct = err->sct;
	cpl->status.sc = err->sc;
	if (err->sct == SPIO_NVME_SCT_COMMAND_SPECIFIC &&
	    err->sc == SPIO_NVMF_FABRIC_SC_INVALID_PARAM) {
		rsp->status_code_specific.invalid.iattr = err->iattr;
		rsp->status_code_specific.invalid.ipo = err->ipo;
	}
}

int nvme_fabric_prop_parse(const struct spio_nvme_cmd *cmd, struct nvme_fabric_prop *out)
{
	const struct spio_nvmf_fabric_prop_set_cmd *ps =
	    (const struct spio_nvmf_fabric_prop_set_cmd *)cmd;
	int type = nvme_fabric_cmd_type(cmd);

	memset(out, 0, sizeof(*out));
	if (type != SPIO_NVMF_FABRIC_COMMAND_PROPERTY_GET &&
	    type != SPIO_NVMF_FABRIC_COMMAND_PROPERTY_SET) {
		return -EINVAL;
	}
	/* Get and set share the placement of attrib and ofst. */
	if (ps->attrib.size != SPIO_NVMF_PROP_SIZE_4 && ps->attrib.size != SPIO_NVMF_PROP_SIZE_8) {
		return -EINVAL;
	}
	out->set = type == SPIO_NVMF_FABRIC_COMMAND_PROPERTY_SET;
	out->size = ps->attrib.size == SPIO_NVMF_PROP_SIZE_8 ? 8 : 4;
	out->ofst = ps->ofst;
	if (out->set) {
		out->value = out->size == 8 ? ps->value.u64 : (uint32_t)ps->value.u64;
	}
	return 0;
}

void nvme_fabric_prop_get_rsp_build(struct spio_nvme_cpl *cpl, uint64_t value)
{
	/* The value spans cdw0 and cdw1; a CQE is only 4-byte aligned. */
	memset(cpl, 0, sizeof(*cpl));
	memcpy(cpl, &value, sizeof(value));
}
