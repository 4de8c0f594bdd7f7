/*
 * Fabrics command builders and parsers: field placement at the byte offsets
 * NVMe-oF 1.1 fixes, NQN length limits, Connect responses, and the target
 * side's parsing of what the builders produce.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "nvme/nvme_fabric.h"

#define SUBNQN "nqn.2016-06.io.spdk:cnode1"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:0b6bbd0e-4a1c-4f6b-9d2a-6b1f1e2d3c4b"

static const uint8_t g_hostid[16] = {0x0b, 0x6b, 0xbd, 0x0e, 0x4a, 0x1c, 0x4f, 0x6b,
				     0x9d, 0x2a, 0x6b, 0x1f, 0x1e, 0x2d, 0x3c, 0x4b};

static uint16_t le16_at(const void *base, size_t off)
{
	const uint8_t *p = (const uint8_t *)base + off;

	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32_at(const void *base, size_t off)
{
	const uint8_t *p = (const uint8_t *)base + off;

	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64_at(const void *base, size_t off)
{
	return le32_at(base, off) | (uint64_t)le32_at(base, off + 4) << 32;
}

static void expect_byte(const void *base, size_t off, uint8_t want, const char *what)
{
	uint8_t got = ((const uint8_t *)base)[off];

	cr_assert_eq(got, want, "%s (byte %zu): expected 0x%02x, got 0x%02x", what, off, want, got);
}

/* Every byte of `base` outside the listed [from, to) ranges is zero. */
static void expect_zero_except(const void *base, size_t len, const size_t (*ranges)[2], size_t n,
			       const char *what)
{
	for (size_t i = 0; i < len; i++) {
		bool listed = false;

		for (size_t r = 0; r < n; r++) {
			listed |= i >= ranges[r][0] && i < ranges[r][1];
		}
		if (!listed) {
			expect_byte(base, i, 0, what);
		}
	}
}

Test(fabric, connect_cmd_layout)
{
	struct spio_nvme_cmd cmd;
	static const size_t set[][2] = {{0, 2}, {4, 5}, {32, 36}, {39, 40}, {42, 47}, {48, 52}};

	memset(&cmd, 0xEE, sizeof(cmd));
	nvme_fabric_connect_cmd_build(&cmd, 1, 127, 10000, 2);
	expect_byte(&cmd, 0, 0x7f, "opcode");
	expect_byte(&cmd, 1, 0x40, "PSDT = SGL (bits 7:6 = 01)");
	expect_byte(&cmd, 4, SPIO_NVMF_FABRIC_COMMAND_CONNECT, "fctype");
	cr_assert_eq(le32_at(&cmd, 32), 1024, "SGL1 length: expected 1024, got %u",
		     le32_at(&cmd, 32));
	expect_byte(&cmd, 39, 0x01, "SGL1 identifier: data block (0) / offset (1)");
	cr_assert_eq(le16_at(&cmd, 40), 0, "recfmt must be 0");
	cr_assert_eq(le16_at(&cmd, 42), 1, "qid: expected 1, got %u", le16_at(&cmd, 42));
	cr_assert_eq(le16_at(&cmd, 44), 127, "sqsize: expected 127, got %u", le16_at(&cmd, 44));
	expect_byte(&cmd, 46, 2, "cattr");
	cr_assert_eq(le32_at(&cmd, 48), 10000, "kato: expected 10000, got %u", le32_at(&cmd, 48));
	expect_zero_except(&cmd, sizeof(cmd), set, sizeof(set) / sizeof(set[0]),
			   "connect reserved/unset");
}

Test(fabric, connect_data_layout)
{
	struct spio_nvmf_fabric_connect_data data;
	static const size_t set[][2] = {
	    {0, 18}, {256, 256 + sizeof(SUBNQN) - 1}, {512, 512 + sizeof(HOSTNQN) - 1}};
	int rc;

	memset(&data, 0xEE, sizeof(data));
	rc = nvme_fabric_connect_data_build(&data, g_hostid, SPIO_NVMF_CNTLID_DYNAMIC, SUBNQN,
					    HOSTNQN);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert_eq(memcmp(&data, g_hostid, 16), 0, "hostid must be bytes 0..15");
	cr_assert_eq(le16_at(&data, 16), 0xFFFF, "cntlid: expected 0xffff, got 0x%x",
		     le16_at(&data, 16));
	cr_assert_eq(memcmp((uint8_t *)&data + 256, SUBNQN, sizeof(SUBNQN) - 1), 0,
		     "subnqn at 256");
	cr_assert_eq(memcmp((uint8_t *)&data + 512, HOSTNQN, sizeof(HOSTNQN) - 1), 0,
		     "hostnqn at 512");
	expect_zero_except(&data, sizeof(data), set, 3, "connect data padding");
}

Test(fabric, nqn_length_limits)
{
	struct spio_nvmf_fabric_connect_data data;
	char nqn[300];
	int rc;

	memset(nqn, 'a', sizeof(nqn));
	nqn[223] = '\0';
	rc = nvme_fabric_connect_data_build(&data, g_hostid, 1, nqn, HOSTNQN);
	cr_assert_eq(rc, 0, "223-byte subnqn: expected 0, got %d", rc);
	expect_byte(&data, 256 + 222, 'a', "last byte of a 223-byte NQN");
	expect_byte(&data, 256 + 223, 0, "NUL after a 223-byte NQN");
	rc = nvme_fabric_connect_data_build(&data, g_hostid, 1, SUBNQN, nqn);
	cr_assert_eq(rc, 0, "223-byte hostnqn: expected 0, got %d", rc);

	nqn[223] = 'a';
	nqn[224] = '\0';
	rc = nvme_fabric_connect_data_build(&data, g_hostid, 1, nqn, HOSTNQN);
	cr_assert_eq(rc, -EINVAL, "224-byte subnqn: expected -EINVAL, got %d", rc);
	rc = nvme_fabric_connect_data_build(&data, g_hostid, 1, SUBNQN, nqn);
	cr_assert_eq(rc, -EINVAL, "224-byte hostnqn: expected -EINVAL, got %d", rc);
	rc = nvme_fabric_connect_data_build(&data, g_hostid, 1, SUBNQN, "");
	cr_assert_eq(rc, -EINVAL, "empty hostnqn: expected -EINVAL, got %d", rc);
	rc = nvme_fabric_connect_data_build(&data, g_hostid, 1, NULL, HOSTNQN);
	cr_assert_eq(rc, -EINVAL, "NULL subnqn: expected -EINVAL, got %d", rc);
	rc = nvme_fabric_connect_data_build(&data, NULL, 1, SUBNQN, HOSTNQN);
	cr_assert_eq(rc, -EINVAL, "NULL hostid: expected -EINVAL, got %d", rc);
	for (size_t i = 0; i < sizeof(data); i++) {
		expect_byte(&data, i, 0, "data after a refused build");
	}
}

Test(fabric, property_get_layout)
{
	struct spio_nvme_cmd cmd;
	static const size_t set[][2] = {{0, 2}, {4, 5}, {40, 41}, {44, 45}};

	memset(&cmd, 0xEE, sizeof(cmd));
	cr_assert_eq(nvme_fabric_prop_get_build(&cmd, SPIO_NVME_REG_CAP, 8), 0, "get CAP");
	expect_byte(&cmd, 0, 0x7f, "opcode");
	expect_byte(&cmd, 4, SPIO_NVMF_FABRIC_COMMAND_PROPERTY_GET, "fctype");
	expect_byte(&cmd, 40, 1, "attrib: 8 bytes");
	expect_zero_except(&cmd, sizeof(cmd), set, 4, "property get");

	cr_assert_eq(nvme_fabric_prop_get_build(&cmd, SPIO_NVME_REG_CSTS, 4), 0, "get CSTS");
	expect_byte(&cmd, 40, 0, "attrib: 4 bytes");
	cr_assert_eq(le32_at(&cmd, 44), 0x1c, "ofst: expected 0x1c, got 0x%x", le32_at(&cmd, 44));
	cr_assert_eq(nvme_fabric_prop_get_build(&cmd, 0, 2), -EINVAL, "size 2 must be refused");
	cr_assert_eq(nvme_fabric_prop_get_build(&cmd, 0, 16), -EINVAL, "size 16 must be refused");
}

Test(fabric, property_set_layout)
{
	struct spio_nvme_cmd cmd;
	static const size_t set[][2] = {{0, 2}, {4, 5}, {40, 41}, {44, 45}, {48, 56}};

	memset(&cmd, 0xEE, sizeof(cmd));
	cr_assert_eq(nvme_fabric_prop_set_build(&cmd, SPIO_NVME_REG_CC, 4, 0x00460001), 0, "set");
	expect_byte(&cmd, 4, SPIO_NVMF_FABRIC_COMMAND_PROPERTY_SET, "fctype");
	expect_byte(&cmd, 40, 0, "attrib: 4 bytes");
	cr_assert_eq(le32_at(&cmd, 44), 0x14, "ofst: expected 0x14, got 0x%x", le32_at(&cmd, 44));
	cr_assert_eq(le64_at(&cmd, 48), 0x00460001, "value: got 0x%llx",
		     (unsigned long long)le64_at(&cmd, 48));
	expect_zero_except(&cmd, sizeof(cmd), set, 5, "property set");

	cr_assert_eq(nvme_fabric_prop_set_build(&cmd, 0x28, 8, 0x123456789abcdef0ULL), 0, "set 8");
	cr_assert_eq(le64_at(&cmd, 48), 0x123456789abcdef0ULL, "8-byte value");
	cr_assert_eq(nvme_fabric_prop_set_build(&cmd, 0x14, 4, 0x100000000ULL), -EINVAL,
		     "a value wider than 4 bytes must be refused");
	cr_assert_eq(nvme_fabric_prop_set_build(&cmd, 0x14, 3, 0), -EINVAL, "size 3");
}

Test(fabric, property_round_trip)
{
	struct spio_nvme_cmd cmd;
	struct nvme_fabric_prop prop;
	struct spio_nvme_cpl cpl;

	nvme_fabric_prop_set_build(&cmd, SPIO_NVME_REG_CC, 4, 0x460001);
	cr_assert_eq(nvme_fabric_prop_parse(&cmd, &prop), 0, "parse set");
	cr_assert(prop.set && prop.size == 4 && prop.ofst == 0x14 && prop.value == 0x460001,
		  "parsed set: got set=%d size=%u ofst=0x%x value=0x%llx", prop.set, prop.size,
		  prop.ofst, (unsigned long long)prop.value);
	nvme_fabric_prop_get_build(&cmd, SPIO_NVME_REG_CAP, 8);
	cr_assert_eq(nvme_fabric_prop_parse(&cmd, &prop), 0, "parse get");
	cr_assert(!prop.set && prop.size == 8 && prop.ofst == 0, "parsed get");

	((uint8_t *)&cmd)[40] = 2; /* reserved size */
	cr_assert_eq(nvme_fabric_prop_parse(&cmd, &prop), -EINVAL, "reserved size");
	nvme_fabric_connect_cmd_build(&cmd, 0, 31, 0, 0);
	cr_assert_eq(nvme_fabric_prop_parse(&cmd, &prop), -EINVAL, "a Connect is no property");

	nvme_fabric_prop_get_rsp_build(&cpl, 0x0000002000ff03ffULL);
	cr_assert_eq(le64_at(&cpl, 0), 0x0000002000ff03ffULL, "value in dwords 0-1");
	cr_assert_eq(nvme_fabric_prop_get_rsp_value(&cpl, 8), 0x0000002000ff03ffULL, "8 bytes");
	cr_assert_eq(nvme_fabric_prop_get_rsp_value(&cpl, 4), 0x00ff03ffu, "4 bytes: low dword");
}

Test(fabric, connect_response_decode)
{
	struct spio_nvme_cpl cpl;
	struct nvme_fabric_connect_result res;
	struct nvme_fabric_connect_error err = {SPIO_NVME_SCT_COMMAND_SPECIFIC,
						SPIO_NVMF_FABRIC_SC_INVALID_PARAM, 1, 512};

	nvme_fabric_connect_rsp_build(&cpl, 0x0002);
	cr_assert_eq(le16_at(&cpl, 0), 2, "cntlid in dword 0 bits 15:0");
	cr_assert_eq(nvme_fabric_connect_rsp_decode(&cpl, &res), 0, "success");
	cr_assert_eq(res.cntlid, 2, "cntlid: expected 2, got %u", res.cntlid);

	nvme_fabric_connect_rsp_fail(&cpl, &err);
	cr_assert_eq(le16_at(&cpl, 0), 512, "IPO in dword 0 bits 15:0");
	expect_byte(&cpl, 2, 1, "IATTR in dword 0 bits 23:16");
	cr_assert_eq(le16_at(&cpl, 14), (0x82 << 1) | (1 << 9), "status: SCT 1, SC 0x82");
	cr_assert_eq(nvme_fabric_connect_rsp_decode(&cpl, &res), -EINVAL, "invalid parameters");
	cr_assert(res.iattr == 1 && res.ipo == 512, "expected iattr 1 ipo 512, got %u %u",
		  res.iattr, res.ipo);

	err.sc = SPIO_NVMF_FABRIC_SC_INVALID_HOST;
	nvme_fabric_connect_rsp_fail(&cpl, &err);
	cr_assert_eq(le32_at(&cpl, 0), 0, "no IPO/IATTR for other codes");
	cr_assert_eq(nvme_fabric_connect_rsp_decode(&cpl, &res), -EIO, "invalid host");
	cr_assert(res.sct == 1 && res.sc == 0x84, "status kept: got %u/0x%x", res.sct, res.sc);
}

/* Build a Connect the way a host does, then parse it the way a target does. */
Test(fabric, connect_parse_round_trip)
{
	struct spio_nvme_cmd cmd;
	struct spio_nvmf_fabric_connect_data data;
	struct nvme_fabric_connect c;
	struct nvme_fabric_connect_error err;
	int rc;

	nvme_fabric_connect_cmd_build(&cmd, 3, 127, 0, 1);
	nvme_fabric_connect_data_build(&data, g_hostid, 7, SUBNQN, HOSTNQN);
	rc = nvme_fabric_connect_parse(&cmd, &data, sizeof(data), &c, &err);
	cr_assert_eq(rc, 0, "expected 0, got %d", rc);
	cr_assert(c.qid == 3 && c.sqsize == 127 && c.cattr == 1 && c.kato_ms == 0 && c.cntlid == 7,
		  "parsed: qid %u sqsize %u cattr %u kato %u cntlid %u", c.qid, c.sqsize, c.cattr,
		  c.kato_ms, c.cntlid);
	cr_assert_str_eq(c.subnqn, SUBNQN, "subnqn");
	cr_assert_str_eq(c.hostnqn, HOSTNQN, "hostnqn");
	cr_assert_eq(memcmp(c.hostid, g_hostid, 16), 0, "hostid");
}

static void expect_refused(const struct spio_nvme_cmd *cmd, const void *data, uint32_t len,
			   uint8_t sct, uint8_t sc, uint8_t iattr, uint16_t ipo, const char *what)
{
	struct nvme_fabric_connect c;
	struct nvme_fabric_connect_error err;
	int rc = nvme_fabric_connect_parse(cmd, data, len, &c, &err);

	cr_assert_eq(rc, -EINVAL, "%s: expected -EINVAL, got %d", what, rc);
	cr_assert(err.sct == sct && err.sc == sc && err.iattr == iattr && err.ipo == ipo,
		  "%s: expected %u/0x%x iattr %u ipo %u, got %u/0x%x iattr %u ipo %u", what, sct,
		  sc, iattr, ipo, err.sct, err.sc, err.iattr, err.ipo);
}

Test(fabric, connect_parse_refusals)
{
	struct spio_nvme_cmd cmd;
	struct spio_nvmf_fabric_connect_data data;
	const uint8_t cs = SPIO_NVME_SCT_COMMAND_SPECIFIC, inv = SPIO_NVMF_FABRIC_SC_INVALID_PARAM;

	nvme_fabric_connect_cmd_build(&cmd, 0, 31, 10000, 0);
	nvme_fabric_connect_data_build(&data, g_hostid, 0xFFFF, SUBNQN, HOSTNQN);
	expect_refused(&cmd, &data, 1000, cs, inv, 0, 32, "short data");
	expect_refused(&cmd, NULL, 0, cs, inv, 0, 32, "no data");
	memset(data.subnqn, 'x', sizeof(data.subnqn));
	expect_refused(&cmd, &data, sizeof(data), cs, inv, 1, 256, "subnqn without NUL");
	data.subnqn[224] = '\0';
	expect_refused(&cmd, &data, sizeof(data), cs, inv, 1, 256, "subnqn of 224 bytes");
	data.subnqn[223] = '\0';
	memset(data.hostnqn, 'h', sizeof(data.hostnqn));
	expect_refused(&cmd, &data, sizeof(data), cs, inv, 1, 512, "hostnqn without NUL");

	nvme_fabric_connect_data_build(&data, g_hostid, 0xFFFF, SUBNQN, HOSTNQN);
	((struct spio_nvmf_fabric_connect_cmd *)&cmd)->sqsize = 0;
	expect_refused(&cmd, &data, sizeof(data), cs, inv, 0, 44, "sqsize 0");
	nvme_fabric_connect_cmd_build(&cmd, 0, 31, 10000, 0);
	((struct spio_nvmf_fabric_connect_cmd *)&cmd)->recfmt = 1;
	expect_refused(&cmd, &data, sizeof(data), cs, SPIO_NVMF_FABRIC_SC_INCOMPATIBLE_FORMAT, 0, 0,
		       "recfmt 1");
	nvme_fabric_prop_get_build(&cmd, 0, 4);
	expect_refused(&cmd, &data, sizeof(data), SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
		       0, 0, "not a Connect");
}

Test(fabric, cmd_type)
{
	struct spio_nvme_cmd cmd;

	nvme_fabric_connect_cmd_build(&cmd, 0, 31, 0, 0);
	cr_assert_eq(nvme_fabric_cmd_type(&cmd), SPIO_NVMF_FABRIC_COMMAND_CONNECT, "connect");
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = SPIO_NVME_OPC_IDENTIFY;
	cr_assert_eq(nvme_fabric_cmd_type(&cmd), -EINVAL, "identify is no fabrics command");
}
