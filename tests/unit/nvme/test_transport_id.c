/*
 * NVMe transport IDs: parsing SPDK's string form (good forms, every kind of
 * bad input and its log line), formatting (order, -ENOSPC, exact fit), round
 * trips, comparison, and the trtype / adrfam name helpers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "spio/log.h"
#include "spio/nvme.h"
#include "spio/util.h"

#define CAP_LINES 8
#define CAP_LINE_LEN 2048

/* The log lines of the call under test; tests are single-threaded. */
static struct {
	int count;
	char lines[CAP_LINES][CAP_LINE_LEN];
} g_log;

static void capture_sink(enum spio_log_level level, const char *line, void *ctx)
{
	if (g_log.count < CAP_LINES) {
		snprintf(g_log.lines[g_log.count], CAP_LINE_LEN, "%s", line);
	}
	g_log.count++;
}

static void setup(void)
{
	memset(&g_log, 0, sizeof(g_log));
	spio_log_set_sink(capture_sink, NULL);
	spio_log_set_level(SPIO_LOG_NOTICE);
}

static void teardown(void)
{
	spio_log_set_sink(NULL, NULL);
}

TestSuite(trid, .init = setup, .fini = teardown);

static const char *const k_capture_trid =
    "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn.2016-06.io.spdk:cnode1 "
    "hostnqn:nqn.2014-08.org.nvmexpress:uuid:0b6bbd0e-4a1c-4f6b-9d2a-6b1f1e2d3c4b";

static void parse_ok(const char *str, struct spio_nvme_transport_id *trid)
{
	int rc;

	g_log.count = 0;
	rc = spio_nvme_transport_id_parse(trid, str);
	cr_assert_eq(rc, 0, "parse(\"%s\"): expected 0, got %d (log: %s)", str, rc,
		     g_log.count > 0 ? g_log.lines[0] : "none");
	cr_assert_eq(g_log.count, 0, "parse(\"%s\") succeeded but logged %d lines, first: %s", str,
		     g_log.count, g_log.lines[0]);
}

static bool all_zero(const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		if (b[i] != 0) {
			return false;
		}
	}
	return true;
}

/*
 * `str` must fail with -EINVAL, leave the trid reset, and log exactly one line
 * that contains `want1` and (unless NULL) `want2`: the key and the value.
 */
static void expect_bad(const char *str, const char *want1, const char *want2)
{
	struct spio_nvme_transport_id trid;
	int rc;

	memset(&trid, 0xA5, sizeof(trid));
	g_log.count = 0;
	rc = spio_nvme_transport_id_parse(&trid, str);
	cr_assert_eq(rc, -EINVAL, "parse(\"%s\"): expected -EINVAL, got %d", str, rc);
	cr_assert(all_zero(&trid, sizeof(trid)), "parse(\"%s\") failed but left the trid set", str);
	cr_assert_eq(g_log.count, 1, "parse(\"%s\"): expected one log line, got %d", str,
		     g_log.count);
	cr_assert_not_null(strstr(g_log.lines[0], want1),
			   "parse(\"%s\"): log line should name '%s', got: %s", str, want1,
			   g_log.lines[0]);
	if (want2 != NULL) {
		cr_assert_not_null(strstr(g_log.lines[0], want2),
				   "parse(\"%s\"): log line should name '%s', got: %s", str, want2,
				   g_log.lines[0]);
	}
}

static void expect_trid_eq(const struct spio_nvme_transport_id *a,
			   const struct spio_nvme_transport_id *b, const char *what)
{
	cr_assert_str_eq(a->trstring, b->trstring, "%s: trstring '%s' != '%s'", what, a->trstring,
			 b->trstring);
	cr_assert_eq(a->trtype, b->trtype, "%s: trtype %d != %d", what, a->trtype, b->trtype);
	cr_assert_eq(a->adrfam, b->adrfam, "%s: adrfam %d != %d", what, a->adrfam, b->adrfam);
	cr_assert_str_eq(a->traddr, b->traddr, "%s: traddr '%s' != '%s'", what, a->traddr,
			 b->traddr);
	cr_assert_str_eq(a->trsvcid, b->trsvcid, "%s: trsvcid '%s' != '%s'", what, a->trsvcid,
			 b->trsvcid);
	cr_assert_str_eq(a->subnqn, b->subnqn, "%s: subnqn '%s' != '%s'", what, a->subnqn,
			 b->subnqn);
	cr_assert_str_eq(a->hostnqn, b->hostnqn, "%s: hostnqn '%s' != '%s'", what, a->hostnqn,
			 b->hostnqn);
	cr_assert_str_eq(a->hostaddr, b->hostaddr, "%s: hostaddr '%s' != '%s'", what, a->hostaddr,
			 b->hostaddr);
	cr_assert_str_eq(a->hostsvcid, b->hostsvcid, "%s: hostsvcid '%s' != '%s'", what,
			 a->hostsvcid, b->hostsvcid);
	cr_assert_eq(a->priority, b->priority, "%s: priority %d != %d", what, a->priority,
		     b->priority);
}

/* A string of `len` copies of `c` after `prefix`, in `buf`. */
static const char *repeat(char *buf, size_t size, const char *prefix, char c, size_t len)
{
	size_t n = strlen(prefix);

	cr_assert_lt(n + len, size, "test buffer too small");
	memcpy(buf, prefix, n);
	memset(buf + n, c, len);
	buf[n + len] = '\0';
	return buf;
}

/*
 * Parsing: good forms
 */

Test(trid, parse_spdk_capture)
{
	struct spio_nvme_transport_id t;

	parse_ok(k_capture_trid, &t);
	cr_assert_eq(t.trtype, SPIO_NVME_TRANSPORT_TCP, "trtype: expected TCP, got %d", t.trtype);
	cr_assert_str_eq(t.trstring, "TCP", "trstring: expected TCP, got '%s'", t.trstring);
	cr_assert_eq(t.adrfam, SPIO_NVMF_ADRFAM_IPV4, "adrfam: expected IPv4, got %d", t.adrfam);
	cr_assert_str_eq(t.traddr, "127.0.0.1", "traddr: got '%s'", t.traddr);
	cr_assert_str_eq(t.trsvcid, "4420", "trsvcid: got '%s'", t.trsvcid);
	cr_assert_str_eq(t.subnqn, "nqn.2016-06.io.spdk:cnode1", "subnqn: got '%s'", t.subnqn);
	cr_assert_str_eq(t.hostnqn,
			 "nqn.2014-08.org.nvmexpress:uuid:0b6bbd0e-4a1c-4f6b-9d2a-6b1f1e2d3c4b",
			 "hostnqn: got '%s'", t.hostnqn);
	cr_assert_str_empty(t.hostaddr, "hostaddr: expected empty, got '%s'", t.hostaddr);
	cr_assert_str_empty(t.hostsvcid, "hostsvcid: expected empty, got '%s'", t.hostsvcid);
	cr_assert_eq(t.priority, 0, "priority: expected 0, got %d", t.priority);
}

Test(trid, parse_pcie_forms)
{
	static const struct {
		const char *in;
		const char *traddr;
	} cases[] = {
	    {"trtype:PCIe traddr:01:00.0", "0000:01:00.0"},
	    {"trtype:PCIe traddr:0000:01:00.0", "0000:01:00.0"},
	    {"trtype:pcie traddr:0000:AF:1F.7", "0000:af:1f.7"},
	    {"trtype:PCIE traddr:1:2.3", "0000:01:02.3"},
	    {"trtype:PCIe traddr:1:02:03.4", "0001:02:03.4"},
	    {"trtype:PCIe traddr:10000:00:02.0", "10000:00:02.0"}, /* VMD domain */
	    {"traddr:0000:5e:00.1 trtype:PCIe", "0000:5e:00.1"},   /* traddr before trtype */
	    {"trtype:PCIe", ""},				   /* any controller */
	};

	for (size_t i = 0; i < SPIO_COUNTOF(cases); i++) {
		struct spio_nvme_transport_id t;

		parse_ok(cases[i].in, &t);
		cr_assert_eq(t.trtype, SPIO_NVME_TRANSPORT_PCIE, "%s: trtype: got %d", cases[i].in,
			     t.trtype);
		cr_assert_str_eq(t.trstring, "PCIe", "%s: trstring: expected PCIe, got '%s'",
				 cases[i].in, t.trstring);
		cr_assert_str_eq(t.traddr, cases[i].traddr, "%s: traddr: expected '%s', got '%s'",
				 cases[i].in, cases[i].traddr, t.traddr);
		cr_assert_eq(t.adrfam, 0, "%s: adrfam: expected 0, got %d", cases[i].in, t.adrfam);
	}
}

Test(trid, parse_ipv6_and_colons_in_values)
{
	struct spio_nvme_transport_id t;

	parse_ok("trtype:TCP adrfam:IPv6 traddr:::1 trsvcid:4420", &t);
	cr_assert_eq(t.adrfam, SPIO_NVMF_ADRFAM_IPV6, "adrfam: expected IPv6, got %d", t.adrfam);
	cr_assert_str_eq(t.traddr, "::1", "traddr: expected '::1', got '%s'", t.traddr);

	parse_ok("trtype:TCP adrfam:ipv6 traddr:fe80::1:2%eth0 hostaddr:fe80::9", &t);
	cr_assert_str_eq(t.traddr, "fe80::1:2%eth0", "traddr: got '%s'", t.traddr);
	cr_assert_str_eq(t.hostaddr, "fe80::9", "hostaddr: got '%s'", t.hostaddr);
}

Test(trid, parse_equals_separator)
{
	struct spio_nvme_transport_id t;

	parse_ok("trtype=TCP traddr=10.0.0.1 trsvcid=4420 subnqn=nqn.2016-06.io.spdk:cnode1", &t);
	cr_assert_eq(t.trtype, SPIO_NVME_TRANSPORT_TCP, "trtype: got %d", t.trtype);
	cr_assert_str_eq(t.traddr, "10.0.0.1", "traddr: got '%s'", t.traddr);
	cr_assert_str_eq(t.trsvcid, "4420", "trsvcid: got '%s'", t.trsvcid);
	cr_assert_str_eq(t.subnqn, "nqn.2016-06.io.spdk:cnode1",
			 "subnqn: the ':' after '=' belongs to the value, got '%s'", t.subnqn);

	/* Whichever separator comes first ends the key; the other stays in the value. */
	parse_ok("trtype:tcp traddr:a=b subnqn=x:y=z", &t);
	cr_assert_str_eq(t.traddr, "a=b", "traddr: expected 'a=b', got '%s'", t.traddr);
	cr_assert_str_eq(t.subnqn, "x:y=z", "subnqn: expected 'x:y=z', got '%s'", t.subnqn);
}

Test(trid, parse_blanks_and_case)
{
	struct spio_nvme_transport_id t;

	parse_ok("\n\t  TrType:tCp\t\tADRFAM:iPv4\n TRADDR:Host.Example\r\ntrSvcId:4420 \n", &t);
	cr_assert_eq(t.trtype, SPIO_NVME_TRANSPORT_TCP, "trtype: got %d", t.trtype);
	cr_assert_str_eq(t.trstring, "TCP", "trstring: canonical 'TCP' expected, got '%s'",
			 t.trstring);
	cr_assert_eq(t.adrfam, SPIO_NVMF_ADRFAM_IPV4, "adrfam: got %d", t.adrfam);
	cr_assert_str_eq(t.traddr, "Host.Example", "traddr keeps its case, got '%s'", t.traddr);
	cr_assert_str_eq(t.trsvcid, "4420", "trsvcid: got '%s'", t.trsvcid);
}

Test(trid, parse_every_trtype_and_adrfam)
{
	static const struct {
		const char *in;
		enum spio_nvme_transport_type trtype;
		const char *trstring;
		int adrfam;
	} cases[] = {
	    {"trtype:rdma adrfam:ib traddr:192.168.1.2 trsvcid:4420", SPIO_NVME_TRANSPORT_RDMA,
	     "RDMA", SPIO_NVMF_ADRFAM_IB},
	    {"trtype:Fc adrfam:fC traddr:nn-0x1:pn-0x2", SPIO_NVME_TRANSPORT_FC, "FC",
	     SPIO_NVMF_ADRFAM_FC},
	    {"trtype:VfioUser traddr:/var/run/ctrl", SPIO_NVME_TRANSPORT_VFIOUSER, "VFIOUSER", 0},
	    {"trtype:TCP adrfam:intra_host traddr:x", SPIO_NVME_TRANSPORT_TCP, "TCP",
	     SPIO_NVMF_ADRFAM_INTRA_HOST},
	};

	for (size_t i = 0; i < SPIO_COUNTOF(cases); i++) {
		struct spio_nvme_transport_id t;

		parse_ok(cases[i].in, &t);
		cr_assert_eq(t.trtype, cases[i].trtype, "%s: trtype: expected %d, got %d",
			     cases[i].in, cases[i].trtype, t.trtype);
		cr_assert_str_eq(t.trstring, cases[i].trstring, "%s: trstring: expected %s, got %s",
				 cases[i].in, cases[i].trstring, t.trstring);
		cr_assert_eq(t.adrfam, cases[i].adrfam, "%s: adrfam: expected %d, got %d",
			     cases[i].in, cases[i].adrfam, t.adrfam);
	}
}

Test(trid, parse_host_fields_and_priority)
{
	struct spio_nvme_transport_id t;

	parse_ok("trtype:TCP traddr:10.0.0.1 trsvcid:4420 hostaddr:10.0.0.2 hostsvcid:5000 "
		 "priority:6",
		 &t);
	cr_assert_str_eq(t.hostaddr, "10.0.0.2", "hostaddr: got '%s'", t.hostaddr);
	cr_assert_str_eq(t.hostsvcid, "5000", "hostsvcid: got '%s'", t.hostsvcid);
	cr_assert_eq(t.priority, 6, "priority: expected 6, got %d", t.priority);

	parse_ok("trtype:TCP priority:0", &t);
	cr_assert_eq(t.priority, 0, "priority: expected 0, got %d", t.priority);
	parse_ok("trtype:TCP priority:2147483647", &t);
	cr_assert_eq(t.priority, INT_MAX, "priority: expected INT_MAX, got %d", t.priority);
	parse_ok("trtype:TCP priority:007", &t);
	cr_assert_eq(t.priority, 7, "priority: expected 7, got %d", t.priority);
}

Test(trid, parse_ports)
{
	struct spio_nvme_transport_id t;

	parse_ok("trtype:TCP trsvcid:1", &t);
	parse_ok("trtype:TCP trsvcid:65535", &t);
	cr_assert_str_eq(t.trsvcid, "65535", "trsvcid: got '%s'", t.trsvcid);
	/* Only TCP's trsvcid is checked; other transports keep SPDK's free form. */
	parse_ok("trtype:RDMA trsvcid:nvme-rdma", &t);
	cr_assert_str_eq(t.trsvcid, "nvme-rdma", "RDMA trsvcid: got '%s'", t.trsvcid);
}

Test(trid, parse_values_at_their_limits)
{
	static char str[1024];
	struct spio_nvme_transport_id t;

	repeat(str, sizeof(str), "trtype:TCP traddr:", 'a', SPIO_NVMF_TRADDR_MAX_LEN);
	parse_ok(str, &t);
	cr_assert_eq(strlen(t.traddr), SPIO_NVMF_TRADDR_MAX_LEN,
		     "traddr: expected %d bytes, got %zu", SPIO_NVMF_TRADDR_MAX_LEN,
		     strlen(t.traddr));

	repeat(str, sizeof(str), "trtype:TCP subnqn:", 'n', SPIO_NVMF_NQN_MAX_LEN);
	parse_ok(str, &t);
	cr_assert_eq(strlen(t.subnqn), SPIO_NVMF_NQN_MAX_LEN, "subnqn: expected %d bytes, got %zu",
		     SPIO_NVMF_NQN_MAX_LEN, strlen(t.subnqn));

	repeat(str, sizeof(str), "trtype:RDMA trsvcid:", '9', SPIO_NVMF_TRSVCID_MAX_LEN);
	parse_ok(str, &t);
	cr_assert_eq(strlen(t.trsvcid), SPIO_NVMF_TRSVCID_MAX_LEN,
		     "trsvcid: expected %d bytes, got %zu", SPIO_NVMF_TRSVCID_MAX_LEN,
		     strlen(t.trsvcid));
}

Test(trid, parse_resets_the_trid)
{
	struct spio_nvme_transport_id t;

	memset(&t, 0x5A, sizeof(t));
	parse_ok("trtype:TCP", &t);
	cr_assert_str_eq(t.trstring, "TCP", "trstring: got '%s'", t.trstring);
	cr_assert_eq(t.adrfam, 0, "adrfam not given: expected 0, got %d", t.adrfam);
	cr_assert_str_empty(t.traddr, "traddr: expected empty, got '%.16s'", t.traddr);
	cr_assert_str_empty(t.trsvcid, "trsvcid: expected empty");
	cr_assert_str_empty(t.subnqn, "subnqn: expected empty");
	cr_assert_str_empty(t.hostnqn, "hostnqn: expected empty");
	cr_assert_str_empty(t.hostaddr, "hostaddr: expected empty");
	cr_assert_str_empty(t.hostsvcid, "hostsvcid: expected empty");
	cr_assert_eq(t.priority, 0, "priority: expected 0, got %d", t.priority);
}

/*
 * Parsing: bad forms. Each fails with -EINVAL and one log line naming the key and value.
 */

Test(trid, parse_null_args)
{
	struct spio_nvme_transport_id t;

	cr_assert_eq(spio_nvme_transport_id_parse(NULL, "trtype:TCP"), -EINVAL,
		     "NULL trid: expected -EINVAL");
	cr_assert_eq(spio_nvme_transport_id_parse(&t, NULL), -EINVAL,
		     "NULL string: expected -EINVAL");
}

Test(trid, parse_unknown_key)
{
	expect_bad("foo:bar", "'foo'", "foo:bar");
	expect_bad("trtype:TCP foo:bar traddr:1.2.3.4", "'foo'", "foo:bar");
	/* SPDK's tools pass ns: and alt_traddr: in the same string; spio does not take them. */
	expect_bad("trtype:PCIe traddr:01:00.0 ns:1", "'ns'", "ns:1");
	expect_bad("trtype:TCP alt_traddr:1.2.3.4", "alt_traddr", NULL);
	expect_bad("trtype:TCP :1.2.3.4", "unknown key ''", ":1.2.3.4");
	expect_bad("trtypes:TCP", "trtypes", NULL);
	expect_bad("trtyp:TCP", "'trtyp'", NULL);
}

Test(trid, parse_empty_value)
{
	expect_bad("trtype:", "trtype", NULL);
	expect_bad("trtype:TCP traddr:", "traddr", NULL);
	expect_bad("traddr= trtype:TCP", "traddr", NULL);
	expect_bad("trtype:TCP\tsubnqn:\n", "subnqn", NULL);
}

Test(trid, parse_key_without_separator)
{
	expect_bad("trtype", "trtype", NULL);
	expect_bad("trtype:TCP traddr", "traddr", NULL);
	/* A blank ends the pair: the value cannot hold one. */
	expect_bad("trtype:TCP subnqn:nqn.a b", "'b'", NULL);
}

Test(trid, parse_repeated_key)
{
	expect_bad("trtype:TCP trtype:TCP", "trtype", NULL);
	expect_bad("trtype:TCP traddr:a TRADDR:b", "traddr", "TRADDR:b");
	expect_bad("trtype:TCP priority:1 priority=2", "priority", NULL);
	expect_bad("trtype:TCP adrfam:IPv4 adrfam:IPv6", "adrfam", NULL);
}

Test(trid, parse_value_too_long)
{
	static const struct {
		const char *prefix;
		const char *key;
		size_t len;
		size_t limit;
	} cases[] = {
	    {"trtype:TCP traddr:", "traddr", SPIO_NVMF_TRADDR_MAX_LEN + 1,
	     SPIO_NVMF_TRADDR_MAX_LEN},
	    {"trtype:RDMA trsvcid:", "trsvcid", SPIO_NVMF_TRSVCID_MAX_LEN + 1,
	     SPIO_NVMF_TRSVCID_MAX_LEN},
	    {"trtype:TCP subnqn:", "subnqn", SPIO_NVMF_NQN_MAX_LEN + 1, SPIO_NVMF_NQN_MAX_LEN},
	    {"trtype:TCP hostnqn:", "hostnqn", SPIO_NVMF_NQN_MAX_LEN + 1, SPIO_NVMF_NQN_MAX_LEN},
	    {"trtype:TCP hostaddr:", "hostaddr", SPIO_NVMF_TRADDR_MAX_LEN + 1,
	     SPIO_NVMF_TRADDR_MAX_LEN},
	    {"trtype:TCP hostsvcid:", "hostsvcid", SPIO_NVMF_TRSVCID_MAX_LEN + 1,
	     SPIO_NVMF_TRSVCID_MAX_LEN},
	    {"trtype:TCP traddr:", "traddr", 300, SPIO_NVMF_TRADDR_MAX_LEN},
	};
	static char str[1024];

	for (size_t i = 0; i < SPIO_COUNTOF(cases); i++) {
		char want[64];

		repeat(str, sizeof(str), cases[i].prefix, 'x', cases[i].len);
		snprintf(want, sizeof(want), "(%zu > %zu bytes)", cases[i].len, cases[i].limit);
		expect_bad(str, cases[i].key, want);
	}
}

Test(trid, parse_unknown_trtype)
{
	static char str[1024];

	expect_bad("trtype:IB", "trtype", "'IB'");
	expect_bad("trtype:TCPX traddr:1.2.3.4", "trtype", "'TCPX'");
	expect_bad("trtype:TC", "trtype", "'TC'");
	expect_bad("trtype:CUSTOM", "trtype", "'CUSTOM'");
	expect_bad(repeat(str, sizeof(str), "trtype:", 'T', 500), "trtype", "TTTT");
}

Test(trid, parse_unknown_adrfam)
{
	expect_bad("trtype:TCP adrfam:IPv5", "adrfam", "'IPv5'");
	expect_bad("trtype:TCP adrfam:1", "adrfam", "'1'");
	expect_bad("adrfam:IPv4x trtype:TCP", "adrfam", "'IPv4x'");
}

Test(trid, parse_no_trtype)
{
	expect_bad("", "trtype", NULL);
	expect_bad(" \t\n\r ", "trtype", NULL);
	expect_bad("traddr:127.0.0.1 trsvcid:4420", "trtype", "traddr:127.0.0.1");
}

Test(trid, parse_bad_pci_address)
{
	static const char *const bad[] = {
	    "0000:01:00",
	    "01:00",
	    "01:00.8",
	    "01:20.0",
	    "001:00.0",
	    "0000:001:00.0",
	    "0000:01:000.0",
	    "0000:01:00.00",
	    "0000:01:00.0.0",
	    "0000:01:00.0x",
	    "xx:00.0",
	    ":01:00.0",
	    "01:00.",
	    "1.2.3.4",
	    "0000:01:00:0.0",
	    "0000.01.00.0",
	    "123456789:01:00.0",
	    "localhost",
	    "-1:00.0",
	    "01:00.0-",
	};
	char str[128], want[64];

	for (size_t i = 0; i < SPIO_COUNTOF(bad); i++) {
		snprintf(str, sizeof(str), "trtype:PCIe traddr:%s", bad[i]);
		snprintf(want, sizeof(want), "'%s'", bad[i]);
		expect_bad(str, "traddr", want);
	}
}

Test(trid, parse_bad_tcp_port)
{
	static const char *const bad[] = {
	    "0", "65536", "abc", "-1", "+1", "4420a", "0x10", "99999999999999999999",
	};
	char str[128], want[64];

	for (size_t i = 0; i < SPIO_COUNTOF(bad); i++) {
		snprintf(str, sizeof(str), "trtype:TCP traddr:1.2.3.4 trsvcid:%s", bad[i]);
		snprintf(want, sizeof(want), "'%s'", bad[i]);
		expect_bad(str, "trsvcid", want);
	}
	/* The check waits for the trtype, which may come last. */
	expect_bad("trsvcid:http trtype:tcp", "trsvcid", "'http'");
}

Test(trid, parse_bad_priority)
{
	static const char *const bad[] = {
	    "-1", "abc", "2147483648", "1.5", "+3", "0x10", "99999999999999999999",
	};
	char str[128], want[64];

	for (size_t i = 0; i < SPIO_COUNTOF(bad); i++) {
		snprintf(str, sizeof(str), "trtype:TCP priority:%s", bad[i]);
		snprintf(want, sizeof(want), "'%s'", bad[i]);
		expect_bad(str, "priority", want);
	}
}

/*
 * Formatting and round trips
 */

static int format(const struct spio_nvme_transport_id *t, char *buf, size_t size)
{
	return spio_nvme_transport_id_format(t, buf, size);
}

static void expect_format(const char *in, const char *want)
{
	struct spio_nvme_transport_id t;
	char buf[2048];
	int rc;

	parse_ok(in, &t);
	rc = format(&t, buf, sizeof(buf));
	cr_assert_eq(rc, (int)strlen(want), "format(parse(\"%s\")): expected length %zu, got %d",
		     in, strlen(want), rc);
	cr_assert_str_eq(buf, want, "format(parse(\"%s\")):\n expected '%s'\n got      '%s'", in,
			 want, buf);
}

Test(trid, format_canonical)
{
	expect_format(k_capture_trid, k_capture_trid);
	expect_format("trtype:PCIe traddr:1:0.0", "trtype:PCIe traddr:0000:01:00.0");
	/* Canonical names, key order and single spaces whatever the input. */
	expect_format("\tpriority=5  hostsvcid:9 hostaddr:h hostnqn:q subnqn:s TRSVCID:4420 "
		      "traddr:::1\nadrfam:ipv6 trtype:tcp",
		      "trtype:TCP adrfam:IPv6 traddr:::1 trsvcid:4420 subnqn:s hostnqn:q "
		      "hostaddr:h hostsvcid:9 priority:5");
	expect_format("trtype:vfiouser traddr:/tmp/x", "trtype:VFIOUSER traddr:/tmp/x");
	expect_format("trtype:RDMA adrfam:INTRA_host", "trtype:RDMA adrfam:INTRA_HOST");
	expect_format("trtype:FC priority:0", "trtype:FC");
}

Test(trid, format_round_trip)
{
	static const char *const inputs[] = {
	    "trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 "
	    "subnqn:nqn.2016-06.io.spdk:cnode1 "
	    "hostnqn:nqn.2014-08.org.nvmexpress:uuid:0b6bbd0e-4a1c-4f6b-9d2a-6b1f1e2d3c4b",
	    "trtype:PCIe traddr:01:00.0",
	    "trtype:pcie traddr:0000:AF:1f.7",
	    "trtype:TCP adrfam:IPv6 traddr:::1 trsvcid:4420",
	    "trtype=tcp traddr=a=b subnqn=x:y=z priority=2147483647",
	    "trtype:RDMA adrfam:IB traddr:10.0.0.1 trsvcid:4420 hostaddr:10.0.0.2 hostsvcid:1",
	    "trtype:FC adrfam:FC traddr:nn-0x1:pn-0x2",
	    "trtype:VFIOUSER traddr:/var/run/vfio-user/cntrl",
	    "trtype:TCP",
	};

	for (size_t i = 0; i < SPIO_COUNTOF(inputs); i++) {
		struct spio_nvme_transport_id a, b;
		char buf[2048];
		int rc;

		parse_ok(inputs[i], &a);
		rc = format(&a, buf, sizeof(buf));
		cr_assert_gt(rc, 0, "format(parse(\"%s\")): expected a length, got %d", inputs[i],
			     rc);
		parse_ok(buf, &b);
		expect_trid_eq(&a, &b, inputs[i]);
		cr_assert_eq(spio_nvme_transport_id_compare(&a, &b), 0,
			     "%s: round trip must compare equal", inputs[i]);
	}
}

Test(trid, format_longest_trid_round_trips)
{
	struct spio_nvme_transport_id a, b;
	static char buf[4096];
	int rc;

	/* Every field at its limit. */
	memset(&a, 0, sizeof(a));
	spio_nvme_transport_id_populate_trstring(&a, SPIO_NVME_TRANSPORT_RDMA);
	a.adrfam = SPIO_NVMF_ADRFAM_INTRA_HOST;
	memset(a.traddr, 'a', SPIO_NVMF_TRADDR_MAX_LEN);
	memset(a.trsvcid, 's', SPIO_NVMF_TRSVCID_MAX_LEN);
	memset(a.subnqn, 'n', SPIO_NVMF_NQN_MAX_LEN);
	memset(a.hostnqn, 'h', SPIO_NVMF_NQN_MAX_LEN);
	memset(a.hostaddr, 'b', SPIO_NVMF_TRADDR_MAX_LEN);
	memset(a.hostsvcid, 'c', SPIO_NVMF_TRSVCID_MAX_LEN);
	a.priority = INT_MAX;

	rc = format(&a, buf, sizeof(buf));
	cr_assert_gt(rc, 0, "format of the longest trid: expected a length, got %d", rc);
	parse_ok(buf, &b);
	expect_trid_eq(&a, &b, "longest trid");
}

Test(trid, format_enospc_and_exact_fit)
{
	static const char want[] = "trtype:TCP traddr:1.2.3.4 trsvcid:4420";
	struct spio_nvme_transport_id t;
	char buf[sizeof(want) + 8];
	int rc;

	parse_ok(want, &t);

	memset(buf, 'Z', sizeof(buf));
	rc = format(&t, buf, sizeof(want));
	cr_assert_eq(rc, (int)strlen(want), "exact fit: expected %zu, got %d", strlen(want), rc);
	cr_assert_str_eq(buf, want, "exact fit: got '%s'", buf);
	cr_assert_eq(buf[sizeof(want)], 'Z', "format wrote past size");

	memset(buf, 'Z', sizeof(buf));
	rc = format(&t, buf, sizeof(want) - 1);
	cr_assert_eq(rc, -ENOSPC, "one byte short: expected -ENOSPC, got %d", rc);
	cr_assert_eq(strncmp(buf, want, sizeof(want) - 2), 0, "truncated prefix: got '%s'", buf);
	cr_assert_eq(buf[sizeof(want) - 2], '\0', "truncated string must be NUL-terminated");
	cr_assert_eq(buf[sizeof(want) - 1], 'Z', "format wrote past size");

	/* Cut in the middle of a pair. */
	memset(buf, 'Z', sizeof(buf));
	rc = format(&t, buf, 14);
	cr_assert_eq(rc, -ENOSPC, "size 14: expected -ENOSPC, got %d", rc);
	cr_assert_str_eq(buf, "trtype:TCP tr", "size 14: got '%s'", buf);

	memset(buf, 'Z', sizeof(buf));
	rc = format(&t, buf, 1);
	cr_assert_eq(rc, -ENOSPC, "size 1: expected -ENOSPC, got %d", rc);
	cr_assert_eq(buf[0], '\0', "size 1: expected an empty string");
	cr_assert_eq(buf[1], 'Z', "format wrote past size");

	memset(buf, 'Z', sizeof(buf));
	rc = format(&t, buf, 0);
	cr_assert_eq(rc, -ENOSPC, "size 0: expected -ENOSPC, got %d", rc);
	cr_assert_eq(buf[0], 'Z', "size 0: nothing may be written");
}

Test(trid, format_einval)
{
	struct spio_nvme_transport_id t;
	char buf[256];

	parse_ok("trtype:TCP traddr:1.2.3.4", &t);
	cr_assert_eq(format(NULL, buf, sizeof(buf)), -EINVAL, "NULL trid: expected -EINVAL");
	cr_assert_eq(format(&t, NULL, sizeof(buf)), -EINVAL, "NULL buf: expected -EINVAL");

	/* Types and families parse cannot read back. */
	t.trtype = (enum spio_nvme_transport_type)7;
	cr_assert_eq(format(&t, buf, sizeof(buf)), -EINVAL, "trtype 7: expected -EINVAL");
	spio_nvme_transport_id_populate_trstring(&t, SPIO_NVME_TRANSPORT_CUSTOM);
	cr_assert_eq(format(&t, buf, sizeof(buf)), -EINVAL, "CUSTOM: expected -EINVAL");
	spio_nvme_transport_id_populate_trstring(&t, SPIO_NVME_TRANSPORT_TCP);
	t.adrfam = 99;
	cr_assert_eq(format(&t, buf, sizeof(buf)), -EINVAL, "adrfam 99: expected -EINVAL");
	t.adrfam = SPIO_NVMF_ADRFAM_IPV4;
	cr_assert_gt(format(&t, buf, sizeof(buf)), 0, "valid again: expected a length");
}

/*
 * Comparison
 */

static struct spio_nvme_transport_id mk(enum spio_nvme_transport_type trtype, const char *traddr,
					const char *trsvcid, const char *subnqn)
{
	struct spio_nvme_transport_id t;

	memset(&t, 0, sizeof(t));
	spio_nvme_transport_id_populate_trstring(&t, trtype);
	snprintf(t.traddr, sizeof(t.traddr), "%s", traddr);
	snprintf(t.trsvcid, sizeof(t.trsvcid), "%s", trsvcid);
	snprintf(t.subnqn, sizeof(t.subnqn), "%s", subnqn);
	return t;
}

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

/* compare(a, b) has sign `want`, and compare(b, a) the opposite. */
static void expect_cmp(const struct spio_nvme_transport_id *a,
		       const struct spio_nvme_transport_id *b, int want, const char *what)
{
	int ab = sign(spio_nvme_transport_id_compare(a, b));
	int ba = sign(spio_nvme_transport_id_compare(b, a));

	cr_assert_eq(ab, want, "%s: compare(a, b): expected sign %d, got %d", what, want, ab);
	cr_assert_eq(ba, -want, "%s: compare(b, a): expected sign %d, got %d", what, -want, ba);
}

Test(trid, compare_equal)
{
	struct spio_nvme_transport_id a, b;

	parse_ok(k_capture_trid, &a);
	parse_ok(k_capture_trid, &b);
	expect_cmp(&a, &b, 0, "same string");
	expect_cmp(&a, &a, 0, "itself");

	/* adrfam, hostnqn, host address and priority are not compared. */
	parse_ok("trtype:TCP adrfam:IPv6 traddr:127.0.0.1 trsvcid:4420 "
		 "subnqn:nqn.2016-06.io.spdk:cnode1 hostnqn:other hostaddr:1.1.1.1 hostsvcid:7 "
		 "priority:3",
		 &b);
	expect_cmp(&a, &b, 0, "differ only in fields not compared");

	/* traddr ignores case; trsvcid and subnqn do not. */
	a = mk(SPIO_NVME_TRANSPORT_TCP, "Host.Example", "4420", "nqn.a");
	b = mk(SPIO_NVME_TRANSPORT_TCP, "host.EXAMPLE", "4420", "nqn.a");
	expect_cmp(&a, &b, 0, "traddr case");
	b = mk(SPIO_NVME_TRANSPORT_TCP, "host.example", "4420", "NQN.a");
	cr_assert_neq(spio_nvme_transport_id_compare(&a, &b), 0, "subnqn case must matter");
}

Test(trid, compare_pcie_by_value)
{
	struct spio_nvme_transport_id a, b;

	a = mk(SPIO_NVME_TRANSPORT_PCIE, "0000:01:00.0", "", "");
	b = mk(SPIO_NVME_TRANSPORT_PCIE, "01:00.0", "", "");
	expect_cmp(&a, &b, 0, "0000:01:00.0 vs 01:00.0");

	a = mk(SPIO_NVME_TRANSPORT_PCIE, "0000:AF:00.1", "", "");
	b = mk(SPIO_NVME_TRANSPORT_PCIE, "af:0.1", "", "");
	expect_cmp(&a, &b, 0, "0000:AF:00.1 vs af:0.1");

	/* By value, where text order would say the opposite. */
	a = mk(SPIO_NVME_TRANSPORT_PCIE, "0000:02:00.0", "", "");
	b = mk(SPIO_NVME_TRANSPORT_PCIE, "01:00.0", "", "");
	expect_cmp(&a, &b, 1, "02 after 01");
	a = mk(SPIO_NVME_TRANSPORT_PCIE, "0000:ff:1f.7", "", "");
	b = mk(SPIO_NVME_TRANSPORT_PCIE, "0001:00:00.0", "", "");
	expect_cmp(&a, &b, -1, "domain first");
	a = mk(SPIO_NVME_TRANSPORT_PCIE, "01:02.0", "", "");
	b = mk(SPIO_NVME_TRANSPORT_PCIE, "01:01.7", "", "");
	expect_cmp(&a, &b, 1, "device before function");

	/* A PCIe controller is its address: trsvcid and subnqn do not count (as SPDK). */
	a = mk(SPIO_NVME_TRANSPORT_PCIE, "01:00.0", "1", "nqn.a");
	b = mk(SPIO_NVME_TRANSPORT_PCIE, "0000:01:00.0", "2", "nqn.b");
	expect_cmp(&a, &b, 0, "PCIe ignores trsvcid and subnqn");

	/* Addresses that do not parse sort after those that do, then by text. */
	a = mk(SPIO_NVME_TRANSPORT_PCIE, "ff:1f.7", "", "");
	b = mk(SPIO_NVME_TRANSPORT_PCIE, "0:0", "", "");
	expect_cmp(&a, &b, -1, "valid before invalid");
	a = mk(SPIO_NVME_TRANSPORT_PCIE, "BOGUS", "", "");
	b = mk(SPIO_NVME_TRANSPORT_PCIE, "bogus", "", "");
	expect_cmp(&a, &b, 0, "two invalid, equal ignoring case");
	a = mk(SPIO_NVME_TRANSPORT_PCIE, "", "", "");
	b = mk(SPIO_NVME_TRANSPORT_PCIE, "zzz", "", "");
	expect_cmp(&a, &b, -1, "two invalid, by text");
}

Test(trid, compare_ordering)
{
	struct spio_nvme_transport_id a, b;

	/* trtype first, by number: RDMA (1) < TCP (3) < PCIe (256), whatever follows. */
	a = mk(SPIO_NVME_TRANSPORT_RDMA, "z", "9", "z");
	b = mk(SPIO_NVME_TRANSPORT_TCP, "a", "1", "a");
	expect_cmp(&a, &b, -1, "RDMA before TCP");
	a = mk(SPIO_NVME_TRANSPORT_TCP, "z", "", "");
	b = mk(SPIO_NVME_TRANSPORT_PCIE, "01:00.0", "", "");
	expect_cmp(&a, &b, -1, "TCP before PCIe");

	/* Then traddr, trsvcid, subnqn. */
	a = mk(SPIO_NVME_TRANSPORT_TCP, "10.0.0.1", "4421", "nqn.b");
	b = mk(SPIO_NVME_TRANSPORT_TCP, "10.0.0.2", "4420", "nqn.a");
	expect_cmp(&a, &b, -1, "traddr before trsvcid");
	a = mk(SPIO_NVME_TRANSPORT_TCP, "10.0.0.1", "4420", "nqn.b");
	b = mk(SPIO_NVME_TRANSPORT_TCP, "10.0.0.1", "4421", "nqn.a");
	expect_cmp(&a, &b, -1, "trsvcid before subnqn");
	a = mk(SPIO_NVME_TRANSPORT_TCP, "10.0.0.1", "4420", "nqn.b");
	b = mk(SPIO_NVME_TRANSPORT_TCP, "10.0.0.1", "4420", "nqn.a");
	expect_cmp(&a, &b, 1, "subnqn last");
	a = mk(SPIO_NVME_TRANSPORT_TCP, "10.0.0.1", "4420", "");
	expect_cmp(&a, &b, -1, "discovery (empty subnqn) first");

	/* Custom transports by name. */
	a = mk(SPIO_NVME_TRANSPORT_CUSTOM, "x", "", "");
	b = a;
	snprintf(b.trstring, sizeof(b.trstring), "OTHER");
	cr_assert_neq(spio_nvme_transport_id_compare(&a, &b), 0,
		      "custom transports with different names must differ");

	/* NULL sorts first rather than crashing. */
	expect_cmp(NULL, &a, -1, "NULL first");
	cr_assert_eq(spio_nvme_transport_id_compare(NULL, NULL), 0, "two NULLs are equal");
}

/*
 * Name helpers
 */

Test(trid, trtype_names)
{
	static const struct {
		const char *in;
		enum spio_nvme_transport_type want;
		const char *canonical;
	} good[] = {
	    {"PCIe", SPIO_NVME_TRANSPORT_PCIE, "PCIe"},
	    {"pcie", SPIO_NVME_TRANSPORT_PCIE, "PCIe"},
	    {"TCP", SPIO_NVME_TRANSPORT_TCP, "TCP"},
	    {"tcp", SPIO_NVME_TRANSPORT_TCP, "TCP"},
	    {"Rdma", SPIO_NVME_TRANSPORT_RDMA, "RDMA"},
	    {"fc", SPIO_NVME_TRANSPORT_FC, "FC"},
	    {"vfiouser", SPIO_NVME_TRANSPORT_VFIOUSER, "VFIOUSER"},
	};
	static const char *const bad[] = {"", "tcp ", "PCI", "CUSTOM", "IB", "pcie1"};
	enum spio_nvme_transport_type t;

	for (size_t i = 0; i < SPIO_COUNTOF(good); i++) {
		int rc = spio_nvme_transport_id_parse_trtype(&t, good[i].in);
		const char *name;

		cr_assert_eq(rc, 0, "parse_trtype(%s): expected 0, got %d", good[i].in, rc);
		cr_assert_eq(t, good[i].want, "parse_trtype(%s): expected %d, got %d", good[i].in,
			     good[i].want, t);
		name = spio_nvme_transport_id_trtype_str(t);
		cr_assert(name != NULL && strcmp(name, good[i].canonical) == 0,
			  "trtype_str(%d): expected %s, got %s", t, good[i].canonical,
			  name ? name : "NULL");
	}
	for (size_t i = 0; i < SPIO_COUNTOF(bad); i++) {
		t = SPIO_NVME_TRANSPORT_TCP;
		cr_assert_eq(spio_nvme_transport_id_parse_trtype(&t, bad[i]), -EINVAL,
			     "parse_trtype('%s'): expected -EINVAL", bad[i]);
		cr_assert_eq(t, SPIO_NVME_TRANSPORT_TCP, "parse_trtype('%s') failed but wrote %d",
			     bad[i], t);
	}
	cr_assert_eq(spio_nvme_transport_id_parse_trtype(NULL, "TCP"), -EINVAL, "NULL trtype");
	cr_assert_eq(spio_nvme_transport_id_parse_trtype(&t, NULL), -EINVAL, "NULL string");

	cr_assert_str_eq(spio_nvme_transport_id_trtype_str(SPIO_NVME_TRANSPORT_CUSTOM), "CUSTOM",
			 "CUSTOM has SPDK's name");
	cr_assert_null(spio_nvme_transport_id_trtype_str((enum spio_nvme_transport_type)0),
		       "trtype 0: expected NULL");
	cr_assert_null(spio_nvme_transport_id_trtype_str((enum spio_nvme_transport_type)7),
		       "trtype 7: expected NULL");
}

Test(trid, adrfam_names)
{
	static const struct {
		const char *in;
		int want;
		const char *canonical;
	} good[] = {
	    {"IPv4", SPIO_NVMF_ADRFAM_IPV4, "IPv4"},
	    {"ipv4", SPIO_NVMF_ADRFAM_IPV4, "IPv4"},
	    {"IPV6", SPIO_NVMF_ADRFAM_IPV6, "IPv6"},
	    {"ib", SPIO_NVMF_ADRFAM_IB, "IB"},
	    {"Fc", SPIO_NVMF_ADRFAM_FC, "FC"},
	    {"intra_host", SPIO_NVMF_ADRFAM_INTRA_HOST, "INTRA_HOST"},
	};
	static const char *const bad[] = {"", "IPv", "IPv46", "intra-host", "4"};
	int a;

	for (size_t i = 0; i < SPIO_COUNTOF(good); i++) {
		int rc = spio_nvme_transport_id_parse_adrfam(&a, good[i].in);
		const char *name;

		cr_assert_eq(rc, 0, "parse_adrfam(%s): expected 0, got %d", good[i].in, rc);
		cr_assert_eq(a, good[i].want, "parse_adrfam(%s): expected %d, got %d", good[i].in,
			     good[i].want, a);
		name = spio_nvme_transport_id_adrfam_str(a);
		cr_assert(name != NULL && strcmp(name, good[i].canonical) == 0,
			  "adrfam_str(%d): expected %s, got %s", a, good[i].canonical,
			  name ? name : "NULL");
	}
	for (size_t i = 0; i < SPIO_COUNTOF(bad); i++) {
		a = 42;
		cr_assert_eq(spio_nvme_transport_id_parse_adrfam(&a, bad[i]), -EINVAL,
			     "parse_adrfam('%s'): expected -EINVAL", bad[i]);
		cr_assert_eq(a, 42, "parse_adrfam('%s') failed but wrote %d", bad[i], a);
	}
	cr_assert_eq(spio_nvme_transport_id_parse_adrfam(NULL, "IPv4"), -EINVAL, "NULL adrfam");
	cr_assert_eq(spio_nvme_transport_id_parse_adrfam(&a, NULL), -EINVAL, "NULL string");
	cr_assert_null(spio_nvme_transport_id_adrfam_str(0), "adrfam 0: expected NULL");
	cr_assert_null(spio_nvme_transport_id_adrfam_str(5), "adrfam 5: expected NULL");
}

Test(trid, populate_trstring)
{
	static const struct {
		enum spio_nvme_transport_type trtype;
		const char *want;
	} cases[] = {
	    {SPIO_NVME_TRANSPORT_PCIE, "PCIe"},		{SPIO_NVME_TRANSPORT_TCP, "TCP"},
	    {SPIO_NVME_TRANSPORT_RDMA, "RDMA"},		{SPIO_NVME_TRANSPORT_FC, "FC"},
	    {SPIO_NVME_TRANSPORT_VFIOUSER, "VFIOUSER"}, {SPIO_NVME_TRANSPORT_CUSTOM, "CUSTOM"},
	    {(enum spio_nvme_transport_type)7, ""},
	};
	struct spio_nvme_transport_id t;

	for (size_t i = 0; i < SPIO_COUNTOF(cases); i++) {
		memset(&t, 'x', sizeof(t));
		spio_nvme_transport_id_populate_trstring(&t, cases[i].trtype);
		cr_assert_eq(t.trtype, cases[i].trtype, "trtype: expected %d, got %d",
			     cases[i].trtype, t.trtype);
		cr_assert_str_eq(t.trstring, cases[i].want,
				 "trstring of %d: expected '%s', got '%s'", cases[i].trtype,
				 cases[i].want, t.trstring);
		cr_assert_eq(t.traddr[0], 'x',
			     "populate_trstring must touch trtype and trstring only");
	}
	spio_nvme_transport_id_populate_trstring(NULL, SPIO_NVME_TRANSPORT_TCP);
}
