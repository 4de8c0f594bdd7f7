/*
 * Unit tests for spio/nvme_spec.h. The header's static assertions already pin
 * every structure's size and field offsets; these cases check what they
 * cannot: where bitfields land in the wire bytes, and that structures laid
 * over bytes written at the spec's offsets read back the right values.
 */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "spio/nvme_spec.h"

/* Little-endian store of `len` bytes of `val` at buf + off, as a peer would put it on the wire. */
static void put_le(uint8_t *buf, size_t off, uint64_t val, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		buf[off + i] = (uint8_t)(val >> (8 * i));
	}
}

static void assert_bytes(const void *got, const uint8_t *want, size_t len, const char *what)
{
	const uint8_t *g = got;

	for (size_t i = 0; i < len; i++) {
		cr_assert_eq(g[i], want[i], "%s: byte %zu: expected 0x%02x, got 0x%02x", what, i,
			     want[i], g[i]);
	}
}

Test(nvme_spec, sizes)
{
	static const struct {
		const char *name;
		size_t got;
		size_t want;
	} sizes[] = {
	    {"sgl_descriptor", sizeof(struct spio_nvme_sgl_descriptor), 16},
	    {"cmd", sizeof(struct spio_nvme_cmd), 64},
	    {"status", sizeof(struct spio_nvme_status), 2},
	    {"cpl", sizeof(struct spio_nvme_cpl), 16},
	    {"dsm_range", sizeof(struct spio_nvme_dsm_range), 16},
	    {"power_state", sizeof(struct spio_nvme_power_state), 32},
	    {"ctrlr_data", sizeof(struct spio_nvme_ctrlr_data), 4096},
	    {"lbaf", sizeof(struct spio_nvme_lbaf), 4},
	    {"ns_data", sizeof(struct spio_nvme_ns_data), 4096},
	    {"ns_id_desc", sizeof(struct spio_nvme_ns_id_desc), 4},
	    {"ns_list", sizeof(struct spio_nvme_ns_list), 4096},
	    {"error_information_entry", sizeof(struct spio_nvme_error_information_entry), 64},
	    {"health_information_page", sizeof(struct spio_nvme_health_information_page), 512},
	    {"firmware_page", sizeof(struct spio_nvme_firmware_page), 512},
	    {"cmds_and_effect_log_page", sizeof(struct spio_nvme_cmds_and_effect_log_page), 4096},
	    {"ana_page", sizeof(struct spio_nvme_ana_page), 16},
	    {"ana_group_descriptor", sizeof(struct spio_nvme_ana_group_descriptor), 32},
	    {"discovery_log_page_entry", sizeof(struct spio_nvmf_discovery_log_page_entry), 1024},
	    {"discovery_log_page", sizeof(struct spio_nvmf_discovery_log_page), 1024},
	    {"capsule_cmd", sizeof(struct spio_nvmf_capsule_cmd), 64},
	    {"connect_cmd", sizeof(struct spio_nvmf_fabric_connect_cmd), 64},
	    {"connect_data", sizeof(struct spio_nvmf_fabric_connect_data), 1024},
	    {"connect_rsp", sizeof(struct spio_nvmf_fabric_connect_rsp), 16},
	    {"prop_get_cmd", sizeof(struct spio_nvmf_fabric_prop_get_cmd), 64},
	    {"prop_get_rsp", sizeof(struct spio_nvmf_fabric_prop_get_rsp), 16},
	    {"prop_set_cmd", sizeof(struct spio_nvmf_fabric_prop_set_cmd), 64},
	    {"tcp_common_pdu_hdr", sizeof(struct spio_nvme_tcp_common_pdu_hdr), 8},
	    {"tcp_ic_req", sizeof(struct spio_nvme_tcp_ic_req), 128},
	    {"tcp_ic_resp", sizeof(struct spio_nvme_tcp_ic_resp), 128},
	    {"tcp_cmd", sizeof(struct spio_nvme_tcp_cmd), 72},
	    {"tcp_rsp", sizeof(struct spio_nvme_tcp_rsp), 24},
	    {"tcp_h2c_data_hdr", sizeof(struct spio_nvme_tcp_h2c_data_hdr), 24},
	    {"tcp_c2h_data_hdr", sizeof(struct spio_nvme_tcp_c2h_data_hdr), 24},
	    {"tcp_r2t_hdr", sizeof(struct spio_nvme_tcp_r2t_hdr), 24},
	    {"tcp_term_req_hdr", sizeof(struct spio_nvme_tcp_term_req_hdr), 24},
	};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		cr_expect_eq(sizes[i].got, sizes[i].want, "sizeof %s: expected %zu, got %zu",
			     sizes[i].name, sizes[i].want, sizes[i].got);
	}
}

Test(nvme_spec, cmd_dword0_bytes)
{
	struct spio_nvme_cmd cmd;
	static const uint8_t want[] = {0x02, 0x40, 0x34, 0x12};

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = SPIO_NVME_OPC_GET_LOG_PAGE;
	cmd.fuse = SPIO_NVME_CMD_FUSE_NONE;
	cmd.psdt = SPIO_NVME_PSDT_SGL_MPTR_CONTIG;
	cmd.cid = 0x1234;
	assert_bytes(&cmd, want, sizeof(want), "cmd dword 0");

	/* FUSE sits in bits 9:8 of dword 0, below PSDT. */
	cmd.psdt = 0;
	cmd.fuse = SPIO_NVME_CMD_FUSE_SECOND;
	cr_assert_eq(((uint8_t *)&cmd)[1], 0x02, "fuse=2: expected byte 1 0x02, got 0x%02x",
		     ((uint8_t *)&cmd)[1]);
}

Test(nvme_spec, cmd_dwords_and_sgl)
{
	struct spio_nvme_cmd cmd;
	uint8_t *b = (uint8_t *)&cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.nsid = 0x01020304;
	cmd.dptr.sgl1.address = 0x1122334455667788ull;
	cmd.dptr.sgl1.unkeyed.length = 4096;
	cmd.dptr.sgl1.unkeyed.type = SPIO_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK;
	cmd.dptr.sgl1.unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_TRANSPORT;
	cmd.cdw10 = 0xaabbccdd;
	cmd.cdw15 = 0x55667788;

	cr_expect_eq(b[4], 0x04, "nsid LSB at byte 4: got 0x%02x", b[4]);
	cr_expect_eq(b[24], 0x88, "SGL address LSB at byte 24: got 0x%02x", b[24]);
	cr_expect_eq(b[32], 0x00, "SGL length 4096 LSB at byte 32: got 0x%02x", b[32]);
	cr_expect_eq(b[33], 0x10, "SGL length 4096 byte 33: got 0x%02x", b[33]);
	/* Byte 39 of the command is the SGL identifier: type << 4 | subtype. */
	cr_expect_eq(b[39], 0x5a, "SGL identifier: expected 0x5a, got 0x%02x", b[39]);
	cr_expect_eq(cmd.dptr.sgl1.generic.type, SPIO_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK,
		     "generic.type: expected 5, got %u", cmd.dptr.sgl1.generic.type);
	cr_expect_eq(cmd.dptr.sgl1.generic.subtype, SPIO_NVME_SGL_SUBTYPE_TRANSPORT,
		     "generic.subtype: expected 0xa, got %u", cmd.dptr.sgl1.generic.subtype);
	cr_expect_eq(b[40], 0xdd, "cdw10 LSB at byte 40: got 0x%02x", b[40]);
	cr_expect_eq(b[63], 0x55, "cdw15 MSB at byte 63: got 0x%02x", b[63]);

	/* Keyed form: length 24 bits, key 32 bits, identifier in the top byte. */
	memset(&cmd.dptr, 0, sizeof(cmd.dptr));
	cmd.dptr.sgl1.keyed.length = 0xabcdef;
	cmd.dptr.sgl1.keyed.key = 0x12345678;
	cmd.dptr.sgl1.keyed.type = SPIO_NVME_SGL_TYPE_KEYED_DATA_BLOCK;
	cmd.dptr.sgl1.keyed.subtype = SPIO_NVME_SGL_SUBTYPE_INVALIDATE_KEY;
	static const uint8_t keyed[] = {0xef, 0xcd, 0xab, 0x78, 0x56, 0x34, 0x12, 0x4f};
	assert_bytes(b + 32, keyed, sizeof(keyed), "keyed SGL bytes 8-15");
}

Test(nvme_spec, cmd_cdw_views)
{
	struct spio_nvme_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.cdw10_bits.get_log_page.lid = SPIO_NVME_LOG_HEALTH_INFORMATION;
	cmd.cdw10_bits.get_log_page.rae = 1;
	cmd.cdw10_bits.get_log_page.numdl = 127;
	cr_expect_eq(cmd.cdw10, 0x007f8002u, "get_log_page cdw10: expected 0x007f8002, got 0x%08x",
		     cmd.cdw10);

	cmd.cdw10 = 0;
	cmd.cdw10_bits.identify.cns = SPIO_NVME_IDENTIFY_CTRLR;
	cmd.cdw10_bits.identify.cntid = 0x0102;
	cr_expect_eq(cmd.cdw10, 0x01020001u, "identify cdw10: expected 0x01020001, got 0x%08x",
		     cmd.cdw10);

	cmd.cdw10 = 0;
	cmd.cdw10_bits.set_features.fid = SPIO_NVME_FEAT_NUMBER_OF_QUEUES;
	cmd.cdw10_bits.set_features.sv = 1;
	cr_expect_eq(cmd.cdw10, 0x80000007u, "set_features cdw10: expected 0x80000007, got 0x%08x",
		     cmd.cdw10);

	cmd.cdw12_bits.rw.nlb = 7;
	cmd.cdw12_bits.rw.fua = 1;
	cr_expect_eq(cmd.cdw12, (1u << 30) | 7u, "rw cdw12: expected 0x40000007, got 0x%08x",
		     cmd.cdw12);
}

Test(nvme_spec, cpl_status_bits)
{
	struct spio_nvme_cpl cpl;
	uint16_t want = (uint16_t)((0x82u << 1) | (1u << 9) | (1u << 15));

	memset(&cpl, 0, sizeof(cpl));
	cpl.status.sct = SPIO_NVME_SCT_COMMAND_SPECIFIC;
	cpl.status.sc = SPIO_NVME_SC_ATTEMPTED_WRITE_TO_RO_RANGE;
	cpl.status.dnr = 1;
	cr_assert_eq(cpl.status_raw, want, "status_raw: expected 0x%04x, got 0x%04x", want,
		     cpl.status_raw);

	/* The other fields: phase bit 0, CRD bits 13:12, More bit 14. */
	cpl.status_raw = 0;
	cpl.status.p = 1;
	cpl.status.crd = 3;
	cpl.status.m = 1;
	cr_assert_eq(cpl.status_raw, 0x7001, "p/crd/m: expected 0x7001, got 0x%04x",
		     cpl.status_raw);

	/* Status is the last 16 bits of the 16-byte entry. */
	cpl.status_raw = 0xbeef;
	cpl.cid = 0x1234;
	cr_assert_eq(((uint8_t *)&cpl)[12], 0x34, "cid LSB at byte 12");
	cr_assert_eq(((uint8_t *)&cpl)[14], 0xef, "status LSB at byte 14");
	cr_assert_eq(((uint8_t *)&cpl)[15], 0xbe, "status MSB at byte 15");
}

Test(nvme_spec, registers)
{
	union spio_nvme_cc_register cc = {.raw = 0};
	union spio_nvme_csts_register csts;
	union spio_nvme_cap_register cap;
	union spio_nvme_vs_register vs;

	cc.bits.en = 1;
	cr_expect_eq(cc.raw, 0x1u, "CC.EN: expected bit 0, got 0x%08x", cc.raw);
	cc.raw = 0;
	cc.bits.shn = SPIO_NVME_SHN_NORMAL;
	cr_expect_eq(cc.raw, 1u << 14, "CC.SHN normal: expected 0x4000, got 0x%08x", cc.raw);
	cc.raw = 0;
	cc.bits.shn = SPIO_NVME_SHN_ABRUPT;
	cr_expect_eq(cc.raw, 2u << 14, "CC.SHN abrupt: expected 0x8000, got 0x%08x", cc.raw);
	/* What a host writes to enable: 64-byte SQEs, 16-byte CQEs, 4 KiB pages. */
	cc.raw = 0;
	cc.bits.en = 1;
	cc.bits.iosqes = 6;
	cc.bits.iocqes = 4;
	cr_expect_eq(cc.raw, 0x00460001u, "CC enable: expected 0x00460001, got 0x%08x", cc.raw);

	csts.raw = 0x5; /* ready, shutdown processing occurring (SHST bits 3:2) */
	cr_expect_eq(csts.bits.rdy, 1, "CSTS.RDY");
	cr_expect_eq(csts.bits.cfs, 0, "CSTS.CFS");
	cr_expect_eq(csts.bits.shst, SPIO_NVME_SHST_OCCURRING, "CSTS.SHST: expected 1, got %u",
		     csts.bits.shst);

	/* A QEMU-like CAP: MQES 2047, CQR, TO 15, DSTRD 0, CSS NVM, MPSMIN 0, MPSMAX 4. */
	cap.raw = (2047ull) | (1ull << 16) | (15ull << 24) | (1ull << 37) | (4ull << 52);
	cr_expect_eq(cap.bits.mqes, 2047, "CAP.MQES: got %u", (unsigned)cap.bits.mqes);
	cr_expect_eq(cap.bits.cqr, 1, "CAP.CQR");
	cr_expect_eq(cap.bits.to, 15, "CAP.TO: got %u", (unsigned)cap.bits.to);
	cr_expect_eq(cap.bits.css, SPIO_NVME_CAP_CSS_NVM, "CAP.CSS: got 0x%x",
		     (unsigned)cap.bits.css);
	cr_expect_eq(cap.bits.mpsmin, 0, "CAP.MPSMIN");
	cr_expect_eq(cap.bits.mpsmax, 4, "CAP.MPSMAX: got %u", (unsigned)cap.bits.mpsmax);

	vs.raw = SPIO_NVME_VERSION(1, 4, 0);
	cr_expect_eq(vs.bits.mjr, 1, "VS.MJR");
	cr_expect_eq(vs.bits.mnr, 4, "VS.MNR");
	cr_expect_eq(vs.bits.ter, 0, "VS.TER");
	cr_expect_eq(SPIO_NVME_REG_CSTS, 0x1c, "CSTS offset");
	cr_expect_eq(SPIO_NVME_REG_ACQ, 0x30, "ACQ offset");
}

Test(nvme_spec, discovery_entry_from_wire_bytes)
{
	static uint8_t buf[1024 + 1024];
	const struct spio_nvmf_discovery_log_page *page = (const void *)buf;
	const struct spio_nvmf_discovery_log_page_entry *e = &page->entries[0];
	uint8_t *eb = buf + 1024;

	memset(buf, 0, sizeof(buf));
	put_le(buf, 0, 0x0102030405060708ull, 8); /* genctr */
	put_le(buf, 8, 1, 8);			  /* numrec */
	eb[0] = SPIO_NVMF_TRTYPE_TCP;
	eb[1] = SPIO_NVMF_ADRFAM_IPV4;
	eb[2] = SPIO_NVMF_SUBTYPE_NVME;
	eb[3] = 0x02 | 0x04; /* secure channel not required, SQ flow control disable */
	put_le(eb, 4, 0x0a0b, 2);
	put_le(eb, 6, 0xffff, 2);
	put_le(eb, 8, 128, 2);
	put_le(eb, 10, SPIO_NVMF_DISCOVERY_LOG_EFLAGS_EPCSD, 2);
	memcpy(eb + 32, "4420", 4);
	memcpy(eb + 256, "nqn.2016-06.io.spdk:cnode1", 26);
	memcpy(eb + 512, "127.0.0.1", 9);
	eb[768] = SPIO_NVMF_TCP_SECTYPE_TLS13;

	cr_expect_eq(page->genctr, 0x0102030405060708ull, "genctr");
	cr_expect_eq(page->numrec, 1, "numrec: got %" PRIu64, page->numrec);
	cr_expect_eq(e->trtype, SPIO_NVMF_TRTYPE_TCP, "trtype: got %u", e->trtype);
	cr_expect_eq(e->adrfam, SPIO_NVMF_ADRFAM_IPV4, "adrfam: got %u", e->adrfam);
	cr_expect_eq(e->subtype, SPIO_NVMF_SUBTYPE_NVME, "subtype: got %u", e->subtype);
	cr_expect_eq(e->treq.secure_channel, SPIO_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED,
		     "treq.secure_channel: got %u", e->treq.secure_channel);
	cr_expect_eq(e->treq.sq_flow_control_disable, 1, "treq.sq_flow_control_disable");
	cr_expect_eq(e->treq.raw, 0x06, "treq.raw: got 0x%02x", e->treq.raw);
	cr_expect_eq(e->portid, 0x0a0b, "portid: got 0x%x", e->portid);
	cr_expect_eq(e->cntlid, 0xffff, "cntlid: got 0x%x", e->cntlid);
	cr_expect_eq(e->asqsz, 128, "asqsz: got %u", e->asqsz);
	cr_expect_eq(e->eflags, SPIO_NVMF_DISCOVERY_LOG_EFLAGS_EPCSD, "eflags: got 0x%x",
		     e->eflags);
	cr_expect(memcmp(e->trsvcid, "4420", 4) == 0, "trsvcid: got \"%.4s\"", e->trsvcid);
	cr_expect_str_eq(e->subnqn, "nqn.2016-06.io.spdk:cnode1", "subnqn");
	cr_expect_str_eq(e->traddr, "127.0.0.1", "traddr");
	cr_expect_eq(e->tsas.tcp.sectype, SPIO_NVMF_TCP_SECTYPE_TLS13, "tsas.tcp.sectype: got %u",
		     e->tsas.tcp.sectype);
}

Test(nvme_spec, async_event_completion)
{
	union spio_nvme_async_event_completion aer = {.raw = 0x00040002};

	cr_expect_eq(aer.bits.async_event_type, SPIO_NVME_ASYNC_EVENT_TYPE_NOTICE,
		     "type: expected NOTICE (2), got %u", aer.bits.async_event_type);
	cr_expect_eq(aer.bits.async_event_info, SPIO_NVME_ASYNC_EVENT_NS_ATTR_CHANGED,
		     "info: expected 0, got %u", aer.bits.async_event_info);
	cr_expect_eq(aer.bits.log_page_identifier, SPIO_NVME_LOG_CHANGED_NS_LIST,
		     "log page: expected 0x04, got 0x%02x", aer.bits.log_page_identifier);

	/* A discovery log change: notice, info 0xf0, log page 0x70. */
	aer.raw = 0x0070f002;
	cr_expect_eq(aer.bits.async_event_type, SPIO_NVME_ASYNC_EVENT_TYPE_NOTICE, "type");
	cr_expect_eq(aer.bits.async_event_info, SPIO_NVME_ASYNC_EVENT_DISCOVERY_LOG_CHANGE,
		     "info: expected 0xf0, got 0x%02x", aer.bits.async_event_info);
	cr_expect_eq(aer.bits.log_page_identifier, SPIO_NVME_LOG_DISCOVERY, "log page: got 0x%02x",
		     aer.bits.log_page_identifier);

	union spio_nvme_feat_async_event_configuration cfg = {.raw = 0};

	cfg.bits.ns_attr_notice = 1;
	cfg.bits.ana_change_notice = 1;
	cfg.bits.discovery_log_change_notice = 1;
	cr_expect_eq(cfg.raw, (1u << 8) | (1u << 11) | (1u << 31),
		     "AER config: expected 0x80000900, got 0x%08x", cfg.raw);
}

Test(nvme_spec, ctrlr_data_from_wire_bytes)
{
	static uint8_t buf[4096];
	const struct spio_nvme_ctrlr_data *cd = (const void *)buf;

	memset(buf, 0, sizeof(buf));
	put_le(buf, 0, 0x1b36, 2);
	memcpy(buf + 4, "12340               ", 20);
	buf[76] = 0x0a; /* cmic: multi-controller, ANA reporting */
	buf[77] = 5;	/* mdts */
	put_le(buf, 78, 0x0041, 2);
	put_le(buf, 80, SPIO_NVME_VERSION(1, 4, 0), 4);
	put_le(buf, 92, (1u << 8) | (1u << 31), 4);
	put_le(buf, 256, 0x000a, 2); /* oacs: format, ns management */
	put_le(buf, 280, 0x0123456789abcdefull, 8);
	buf[512] = 0x66;
	buf[513] = 0x44;
	put_le(buf, 516, 32, 4);
	put_le(buf, 520, 0x010c, 2);	 /* oncs: dsm, write zeroes, copy */
	buf[525] = 0x07;		 /* vwc present, flush broadcast supported */
	put_le(buf, 536, 0x00100005, 4); /* sgls */
	memcpy(buf + 768, "nqn.2019-08.org.qemu:x", 22);
	put_le(buf, 1792, 260, 4);
	put_le(buf, 1796, 1, 4);
	buf[1803] = 1;
	put_le(buf, 2048, 2500, 2); /* psd[0].mp */
	buf[2048 + 3] = 0x02;	    /* psd[0].nops */
	put_le(buf, 2048 + 32 + 4, 1000, 4);
	buf[3072] = 0xee;

	cr_expect_eq(cd->vid, 0x1b36, "vid: got 0x%x", cd->vid);
	cr_expect(memcmp(cd->sn, "12340", 5) == 0, "sn: got \"%.20s\"", cd->sn);
	cr_expect_eq(cd->cmic.multi_port, 0, "cmic.multi_port");
	cr_expect_eq(cd->cmic.multi_ctrlr, 1, "cmic.multi_ctrlr");
	cr_expect_eq(cd->cmic.ana_reporting, 1, "cmic.ana_reporting");
	cr_expect_eq(cd->mdts, 5, "mdts");
	cr_expect_eq(cd->cntlid, 0x41, "cntlid: got 0x%x", cd->cntlid);
	cr_expect_eq(cd->ver.bits.mnr, 4, "ver.mnr: got %u", cd->ver.bits.mnr);
	cr_expect_eq(cd->oaes,
		     SPIO_NVME_OAES_NS_ATTRIBUTE_NOTICES |
			 SPIO_NVME_OAES_DISCOVERY_LOG_CHANGE_NOTICES,
		     "oaes: expected 0x80000100, got 0x%08x", cd->oaes);
	cr_expect_eq(cd->oacs.format, 1, "oacs.format");
	cr_expect_eq(cd->oacs.ns_manage, 1, "oacs.ns_manage");
	cr_expect_eq(cd->oacs.security, 0, "oacs.security");
	cr_expect_eq(cd->tnvmcap[0], 0xef, "tnvmcap[0]");
	cr_expect_eq(cd->sqes, 0x66, "sqes");
	cr_expect_eq(cd->cqes, 0x44, "cqes");
	cr_expect_eq(cd->nn, 32, "nn: got %u", cd->nn);
	cr_expect_eq(cd->oncs.dsm, 1, "oncs.dsm");
	cr_expect_eq(cd->oncs.write_zeroes, 1, "oncs.write_zeroes");
	cr_expect_eq(cd->oncs.copy, 1, "oncs.copy");
	cr_expect_eq(cd->oncs.compare, 0, "oncs.compare");
	cr_expect_eq(cd->vwc.present, 1, "vwc.present");
	cr_expect_eq(cd->vwc.flush_broadcast, SPIO_NVME_FLUSH_BROADCAST_SUPPORTED,
		     "vwc.flush_broadcast: got %u", cd->vwc.flush_broadcast);
	cr_expect_eq(cd->sgls & SPIO_NVME_SGLS_SUPPORT_MASK, SPIO_NVME_SGLS_SUPPORTED, "sgls");
	cr_expect(cd->sgls & SPIO_NVME_SGLS_KEYED, "sgls keyed");
	cr_expect(cd->sgls & SPIO_NVME_SGLS_OFFSET, "sgls offset");
	cr_expect_str_eq(cd->subnqn, "nqn.2019-08.org.qemu:x", "subnqn");
	cr_expect_eq(cd->ioccsz, 260, "ioccsz: got %u", cd->ioccsz);
	cr_expect_eq(cd->iorcsz, 1, "iorcsz: got %u", cd->iorcsz);
	cr_expect_eq(cd->msdbd, 1, "msdbd");
	cr_expect_eq(cd->psd[0].mp, 2500, "psd[0].mp: got %u", cd->psd[0].mp);
	cr_expect_eq(cd->psd[0].nops, 1, "psd[0].nops");
	cr_expect_eq(cd->psd[0].mps, 0, "psd[0].mps");
	cr_expect_eq(cd->psd[1].enlat, 1000, "psd[1].enlat: got %u", cd->psd[1].enlat);
	cr_expect_eq(cd->vs[0], 0xee, "vs[0]");
}

Test(nvme_spec, ns_data_and_lba_format_index)
{
	static uint8_t buf[4096];
	struct spio_nvme_ns_data *ns = (void *)buf;

	memset(buf, 0, sizeof(buf));
	put_le(buf, 0, 0x200000, 8);
	buf[24] = 0x01; /* thin provisioning */
	buf[25] = 1;	/* two formats */
	buf[26] = 0x11; /* format 1, metadata extended */
	put_le(buf, 92, 7, 4);
	memset(buf + 104, 0xab, 16);
	put_le(buf, 128 + 4, (12u << 16) | 8u, 4); /* lbaf[1]: 4 KiB data, 8 bytes metadata */

	cr_expect_eq(ns->nsze, 0x200000, "nsze");
	cr_expect_eq(ns->nsfeat.thin_prov, 1, "nsfeat.thin_prov");
	cr_expect_eq(ns->flbas.extended, 1, "flbas.extended");
	cr_expect_eq(ns->anagrpid, 7, "anagrpid: got %u", ns->anagrpid);
	cr_expect_eq(ns->nguid[15], 0xab, "nguid[15]");
	cr_expect_eq(ns->lbaf[1].lbads, 12, "lbaf[1].lbads: got %u", ns->lbaf[1].lbads);
	cr_expect_eq(ns->lbaf[1].ms, 8, "lbaf[1].ms: got %u", ns->lbaf[1].ms);
	cr_expect_eq(spio_nvme_ns_data_lba_format_index(ns), 1, "format index: expected 1, got %u",
		     spio_nvme_ns_data_lba_format_index(ns));

	/* With 16 or fewer formats the MSB bits are ignored, even if a controller sets them. */
	ns->nlbaf = 15;
	ns->flbas.raw = 0x23; /* msb 1, lsb 3 */
	cr_expect_eq(spio_nvme_ns_data_lba_format_index(ns), 3,
		     "16 formats: expected index 3, got %u",
		     spio_nvme_ns_data_lba_format_index(ns));
	/* With more they give bits 5:4. */
	ns->nlbaf = 63;
	cr_expect_eq(spio_nvme_ns_data_lba_format_index(ns), 19,
		     "64 formats: expected index 19, got %u",
		     spio_nvme_ns_data_lba_format_index(ns));
	ns->flbas.raw = 0x6f;
	cr_expect_eq(spio_nvme_ns_data_lba_format_index(ns), 63,
		     "64 formats: expected index 63, got %u",
		     spio_nvme_ns_data_lba_format_index(ns));
}

Test(nvme_spec, data_transfer_direction)
{
	static const struct {
		uint8_t opc;
		enum spio_nvme_data_transfer want;
	} cases[] = {
	    {SPIO_NVME_OPC_FLUSH, SPIO_NVME_DATA_NONE},
	    {SPIO_NVME_OPC_WRITE, SPIO_NVME_DATA_HOST_TO_CONTROLLER},
	    {SPIO_NVME_OPC_READ, SPIO_NVME_DATA_CONTROLLER_TO_HOST},
	    {SPIO_NVME_OPC_IDENTIFY, SPIO_NVME_DATA_CONTROLLER_TO_HOST},
	    {SPIO_NVME_OPC_SET_FEATURES, SPIO_NVME_DATA_HOST_TO_CONTROLLER},
	    {SPIO_NVME_OPC_KEEP_ALIVE, SPIO_NVME_DATA_NONE},
	    {SPIO_NVME_OPC_FABRIC, SPIO_NVME_DATA_BIDIRECTIONAL},
	    {SPIO_NVME_OPC_DATASET_MANAGEMENT, SPIO_NVME_DATA_HOST_TO_CONTROLLER},
	    {0xff, SPIO_NVME_DATA_BIDIRECTIONAL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum spio_nvme_data_transfer got = spio_nvme_opc_get_data_transfer(cases[i].opc);

		cr_expect_eq(got, cases[i].want, "opc 0x%02x: expected %d, got %d", cases[i].opc,
			     cases[i].want, got);
	}
}

Test(nvme_spec, health_page_packed_fields)
{
	static uint8_t buf[512];
	const struct spio_nvme_health_information_page *h = (const void *)buf;

	memset(buf, 0, sizeof(buf));
	buf[0] = 0x05; /* spare and reliability warnings */
	put_le(buf, 1, 310, 2);
	buf[3] = 100;
	put_le(buf, 32, 12345, 8);
	put_le(buf, 40, 1, 8);
	put_le(buf, 128, 77, 8);
	put_le(buf, 200, 300, 2);
	put_le(buf, 214, 301, 2);

	cr_expect_eq(h->critical_warning.bits.available_spare, 1, "available_spare warning");
	cr_expect_eq(h->critical_warning.bits.temperature, 0, "temperature warning");
	cr_expect_eq(h->critical_warning.bits.device_reliability, 1, "reliability warning");
	cr_expect_eq(h->temperature, 310, "temperature: got %u", h->temperature);
	cr_expect_eq(h->available_spare, 100, "available_spare");
	cr_expect_eq(h->data_units_read[0], 12345, "data_units_read low");
	cr_expect_eq(h->data_units_read[1], 1, "data_units_read high");
	cr_expect_eq(h->power_on_hours[0], 77, "power_on_hours");
	cr_expect_eq(h->temp_sensor[0], 300, "temp_sensor[0]");
	cr_expect_eq(h->temp_sensor[7], 301, "temp_sensor[7]");
}

Test(nvme_spec, fabrics_capsules)
{
	struct spio_nvmf_fabric_connect_cmd conn;
	struct spio_nvmf_fabric_prop_set_cmd pset;
	struct spio_nvmf_fabric_connect_rsp rsp;
	uint8_t *b = (uint8_t *)&conn;

	memset(&conn, 0, sizeof(conn));
	conn.opcode = SPIO_NVME_OPC_FABRIC;
	conn.cid = 0x0102;
	conn.fctype = SPIO_NVMF_FABRIC_COMMAND_CONNECT;
	conn.sgl1.unkeyed.length = 1024;
	conn.sgl1.unkeyed.type = SPIO_NVME_SGL_TYPE_DATA_BLOCK;
	conn.sgl1.unkeyed.subtype = SPIO_NVME_SGL_SUBTYPE_OFFSET;
	conn.qid = 1;
	conn.sqsize = 127;
	conn.kato = 10000;
	cr_expect_eq(b[0], 0x7f, "opcode byte");
	cr_expect_eq(b[4], 0x01, "fctype byte");
	cr_expect_eq(b[39], 0x01, "SGL identifier: data block, offset: got 0x%02x", b[39]);
	cr_expect_eq(b[42], 1, "qid byte");
	cr_expect_eq(b[44], 127, "sqsize byte");
	cr_expect_eq(b[48], 0x10, "kato LSB (10000 = 0x2710): got 0x%02x", b[48]);

	/* The generic capsule and the SQE view agree on opcode, cid and the data pointer. */
	const struct spio_nvme_cmd *sqe = (const void *)&conn;
	const struct spio_nvmf_capsule_cmd *cap = (const void *)&conn;
	cr_expect_eq(sqe->opc, SPIO_NVME_OPC_FABRIC, "sqe opc");
	cr_expect_eq(sqe->cid, 0x0102, "sqe cid");
	cr_expect_eq(sqe->dptr.sgl1.unkeyed.length, 1024, "sqe sgl length");
	cr_expect_eq(cap->fctype, SPIO_NVMF_FABRIC_COMMAND_CONNECT, "capsule fctype");

	memset(&pset, 0, sizeof(pset));
	pset.attrib.size = SPIO_NVMF_PROP_SIZE_4;
	pset.ofst = SPIO_NVME_REG_CC;
	pset.value.u32.low = 0x00460001;
	b = (uint8_t *)&pset;
	cr_expect_eq(b[44], 0x14, "prop set ofst byte: got 0x%02x", b[44]);
	cr_expect_eq(b[48], 0x01, "prop set value byte 48");
	cr_expect_eq(b[50], 0x46, "prop set value byte 50");
	pset.attrib.size = SPIO_NVMF_PROP_SIZE_8;
	cr_expect_eq(b[40], 0x01, "attrib size 8: got 0x%02x", b[40]);

	memset(&rsp, 0, sizeof(rsp));
	rsp.status_code_specific.raw = 0x00010203;
	cr_expect_eq(rsp.status_code_specific.success.cntlid, 0x0203, "success.cntlid");
	cr_expect_eq(rsp.status_code_specific.invalid.ipo, 0x0203, "invalid.ipo");
	cr_expect_eq(rsp.status_code_specific.invalid.iattr, 0x01, "invalid.iattr");
}

Test(nvme_spec, tcp_pdu_headers)
{
	struct spio_nvme_tcp_ic_req icreq;
	struct spio_nvme_tcp_term_req_hdr term;
	struct spio_nvme_tcp_rsp rsp;
	uint8_t *b = (uint8_t *)&icreq;
	static const uint8_t icreq_hdr[] = {0x00, 0x00, 0x80, 0x00, 0x80, 0x00, 0x00, 0x00,
					    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00};

	memset(&icreq, 0, sizeof(icreq));
	icreq.common.pdu_type = SPIO_NVME_TCP_PDU_TYPE_IC_REQ;
	icreq.common.hlen = sizeof(icreq);
	icreq.common.plen = sizeof(icreq);
	icreq.pfv = SPIO_NVME_TCP_PFV_1_0;
	icreq.dgst.bits.hdgst_enable = 1;
	icreq.dgst.bits.ddgst_enable = 1;
	assert_bytes(b, icreq_hdr, sizeof(icreq_hdr), "ICReq first 16 bytes");

	memset(&term, 0, sizeof(term));
	term.fes = SPIO_NVME_TCP_TERM_REQ_FES_INVALID_HEADER_FIELD;
	term.fei[0] = 4;
	b = (uint8_t *)&term;
	cr_expect_eq(b[8], 0x01, "fes at byte 8");
	cr_expect_eq(b[10], 0x04, "fei at byte 10");
	cr_expect_eq(SPIO_NVME_TCP_TERM_REQ_PDU_MAX_SIZE,
		     sizeof(term) + SPIO_NVME_TCP_TERM_REQ_ERROR_DATA_MAX_SIZE,
		     "TermReq max = header + max error data");
	cr_expect_eq(SPIO_NVME_TCP_PDU_PDO_MAX_OFFSET, 128, "max PDO");

	memset(&rsp, 0, sizeof(rsp));
	rsp.rccqe.cid = 0xabcd;
	rsp.rccqe.status.sc = SPIO_NVME_SC_INVALID_FIELD;
	b = (uint8_t *)&rsp;
	cr_expect_eq(b[8 + 12], 0xcd, "rccqe.cid at byte 20");
	cr_expect_eq(b[8 + 14], 0x04, "rccqe status at byte 22: sc 2 << 1, got 0x%02x", b[22]);
}
