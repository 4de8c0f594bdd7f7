/*
 * The NVMe-oF target core driven through an in-process test transport
 * (helper_core_transport.c): target life, subsystems / hosts / listeners,
 * fabrics connect and its refusals, properties, Identify, features, log
 * pages (discovery included), asynchronous events on namespace changes,
 * bdev I/O and its errors, keep-alive timeout with a test clock, controller
 * reset and shutdown, namespace / subsystem / target removal with hosts
 * connected and commands in flight.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/bdev.h"
#include "spio/bdev_malloc.h"
#include "spio/nvmf.h"
#include "spio/thread.h"

#include "helper_core_transport.h"
#include "nvme/nvme_fabric.h"

#define SUBNQN "nqn.2016-06.io.spdk-io:cnode1"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define HOSTNQN2 "nqn.2014-08.org.nvmexpress:uuid:66666666-7777-8888-9999-aaaaaaaaaaaa"

/*
 * Helpers
 */

static void expect_status(const struct spio_nvme_cpl *cpl, uint8_t sct, uint8_t sc,
			  const char *what)
{
	cr_assert(cpl->status.sct == sct && cpl->status.sc == sc,
		  "%s: expected sct %u sc %#x, got sct %u sc %#x", what, sct, sc, cpl->status.sct,
		  cpl->status.sc);
}

static void expect_ok(const struct spio_nvme_cpl *cpl, const char *what)
{
	expect_status(cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_SUCCESS, what);
}

static struct spio_bdev *mk_malloc(const char *name, uint64_t blocks, uint32_t bs)
{
	struct spio_bdev_malloc_opts opts;
	struct spio_bdev *bdev = NULL;
	int rc;

	spio_bdev_malloc_opts_init(&opts, sizeof(opts));
	opts.name = name;
	opts.num_blocks = blocks;
	opts.block_size = bs;
	rc = spio_bdev_malloc_create(&opts, &bdev, NULL, 0);
	cr_assert_eq(rc, 0, "malloc %s: expected 0, got %d", name, rc);
	return bdev;
}

static struct spio_nvmf_subsystem *mk_subsys(struct spio_nvmf_tgt *tgt, const char *nqn,
					     uint32_t max_ns)
{
	struct spio_nvme_transport_id trid = ct_trid(CT_ADDR, CT_SVC);
	struct spio_nvmf_subsystem *s = spio_nvmf_subsystem_create(tgt, nqn, max_ns);
	int rc;

	cr_assert_not_null(s, "subsystem %s: errno %d", nqn, errno);
	rc = spio_nvmf_subsystem_add_listener(s, &trid);
	cr_assert_eq(rc, 0, "listener of %s: expected 0, got %d", nqn, rc);
	spio_nvmf_subsystem_set_allow_any_host(s, true);
	return s;
}

struct op_wait {
	int done;
	int status;
	uint32_t nsid;
};

static void ns_added(void *arg, uint32_t nsid, int status)
{
	struct op_wait *w = arg;

	w->nsid = nsid;
	w->status = status;
	__atomic_fetch_add(&w->done, 1, __ATOMIC_SEQ_CST);
}

static void op_done(void *arg, int status)
{
	struct op_wait *w = arg;

	w->status = status;
	__atomic_fetch_add(&w->done, 1, __ATOMIC_SEQ_CST);
}

static uint32_t add_ns_opts(struct spio_nvmf_subsystem *s, const char *bdev,
			    const struct spio_nvmf_ns_opts *opts)
{
	struct op_wait w = {0};
	int rc = spio_nvmf_subsystem_add_ns(s, bdev, opts, ns_added, &w);

	cr_assert_eq(rc, 0, "add_ns %s: expected 0, got %d", bdev, rc);
	cr_assert(ct_poll_until(&w.done, 1, CT_TIMEOUT_US), "add_ns %s did not complete", bdev);
	cr_assert_eq(w.status, 0, "add_ns %s: expected status 0, got %d", bdev, w.status);
	return w.nsid;
}

static uint32_t add_ns(struct spio_nvmf_subsystem *s, const char *bdev, uint32_t nsid)
{
	struct spio_nvmf_ns_opts opts;

	spio_nvmf_ns_opts_init(&opts, sizeof(opts));
	opts.nsid = nsid;
	return add_ns_opts(s, bdev, &opts);
}

static void remove_ns(struct spio_nvmf_subsystem *s, uint32_t nsid)
{
	struct op_wait w = {0};
	int rc = spio_nvmf_subsystem_remove_ns(s, nsid, op_done, &w);

	cr_assert_eq(rc, 0, "remove_ns %u: expected 0, got %d", nsid, rc);
	cr_assert(ct_poll_until(&w.done, 1, CT_TIMEOUT_US), "remove_ns %u did not complete", nsid);
	cr_assert_eq(w.status, 0);
}

static struct spio_nvme_cmd rw_cmd(uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb)
{
	struct spio_nvme_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = opc;
	cmd.cid = 7;
	cmd.nsid = nsid;
	cmd.cdw10 = (uint32_t)slba;
	cmd.cdw11 = (uint32_t)(slba >> 32);
	cmd.cdw12 = nlb - 1;
	return cmd;
}

static struct spio_nvme_cmd admin_cmd(uint8_t opc, uint32_t nsid, uint32_t cdw10, uint32_t cdw11)
{
	struct spio_nvme_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = opc;
	cmd.cid = 9;
	cmd.nsid = nsid;
	cmd.cdw10 = cdw10;
	cmd.cdw11 = cdw11;
	return cmd;
}

static struct spio_nvme_cpl identify(struct ct_conn *admin, uint8_t cns, uint32_t nsid, void *buf)
{
	struct spio_nvme_cmd cmd = admin_cmd(SPIO_NVME_OPC_IDENTIFY, nsid, cns, 0);

	return ct_run(admin, &cmd, buf, 4096, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
}

static struct spio_nvme_cpl get_log(struct ct_conn *admin, uint8_t lid, uint32_t nsid, void *buf,
				    uint32_t len, uint64_t offset, bool rae)
{
	uint32_t numd = len / 4 - 1;
	struct spio_nvme_cmd cmd =
	    admin_cmd(SPIO_NVME_OPC_GET_LOG_PAGE, nsid,
		      lid | (rae ? 1u << 15 : 0) | ((numd & 0xffff) << 16), numd >> 16);

	cmd.cdw12 = (uint32_t)offset;
	cmd.cdw13 = (uint32_t)(offset >> 32);
	return ct_run(admin, &cmd, buf, len, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
}

static struct spio_nvme_cpl features(struct ct_conn *admin, bool set, uint8_t fid, uint32_t cdw11)
{
	struct spio_nvme_cmd cmd =
	    admin_cmd(set ? SPIO_NVME_OPC_SET_FEATURES : SPIO_NVME_OPC_GET_FEATURES, 0, fid, cdw11);

	return ct_run(admin, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
}

static struct ct_req *aer_submit(struct ct_conn *admin)
{
	struct spio_nvme_cmd cmd = admin_cmd(SPIO_NVME_OPC_ASYNC_EVENT_REQUEST, 0, 0, 0);

	return ct_submit(admin, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
}

static uint32_t ctrlr_count(struct spio_nvmf_subsystem *s)
{
	return spio_nvmf_subsystem_get_ctrlrs(s, NULL, 0);
}

/* Drop a connection and wait for the core to be done with it. */
static void conn_end(struct ct_conn *conn)
{
	ct_conn_drop(conn);
	ct_conn_free(conn);
}

static void wait_ctrlrs(struct spio_nvmf_subsystem *s, uint32_t want)
{
	for (int i = 0; i < 100000 && ctrlr_count(s) != want; i++) {
		ct_poll();
	}
	cr_assert_eq(ctrlr_count(s), want, "expected %u controllers, got %u", want, ctrlr_count(s));
}

/*
 * Target and configuration
 */

Test(nvmf_core, tgt_lifecycle)
{
	struct spio_nvmf_tgt *tgt, *again;
	struct spio_nvmf_subsystem *disc;
	struct spio_nvmf_tgt_opts opts;
	int rc;

	ct_init("nvmf_tgt_life", false);
	tgt = ct_tgt_create("t1", 2, 0);
	cr_assert_eq(spio_nvmf_get_tgt("t1"), tgt, "lookup by name");
	cr_assert_eq(spio_nvmf_get_tgt(NULL), tgt, "NULL finds the first target");
	cr_assert_null(spio_nvmf_get_tgt("nope"));
	cr_assert_str_eq(spio_nvmf_tgt_get_name(tgt), "t1");
	cr_assert_eq(spio_nvmf_tgt_get_opts(tgt)->max_subsystems, 1024);
	cr_assert_eq(g_ct.created, 1, "transport created once, got %d", g_ct.created);
	cr_assert_eq(spio_nvmf_tgt_add_transport(tgt, CT_TRANSPORT, NULL), -EEXIST);
	cr_assert_eq(spio_nvmf_tgt_add_transport(tgt, "NOPE", NULL), -ENOTSUP);
	cr_assert_str_eq(spio_nvmf_transport_get_name(spio_nvmf_transport_get_first(tgt)),
			 CT_TRANSPORT);
	cr_assert_null(spio_nvmf_transport_get_next(spio_nvmf_transport_get_first(tgt)));

	disc = spio_nvmf_subsystem_get_first(tgt);
	cr_assert_not_null(disc);
	cr_assert_str_eq(spio_nvmf_subsystem_get_nqn(disc), SPIO_NVMF_DISCOVERY_NQN);
	cr_assert_eq(spio_nvmf_subsystem_get_type(disc), SPIO_NVMF_SUBTYPE_DISCOVERY_SUBSYS);
	cr_assert(spio_nvmf_subsystem_get_allow_any_host(disc));
	cr_assert_eq(spio_nvmf_tgt_find_subsystem(tgt, SPIO_NVMF_DISCOVERY_NQN), disc);
	cr_assert_eq(spio_nvmf_subsystem_destroy(disc, NULL, NULL), -EPERM);

	spio_nvmf_tgt_opts_init(&opts, sizeof(opts));
	snprintf(opts.name, sizeof(opts.name), "t1");
	rc = spio_nvmf_tgt_create(&opts, (spio_nvmf_tgt_cb)1, NULL);
	cr_assert_eq(rc, -EEXIST, "same name: expected -EEXIST, got %d", rc);
	spio_cpuset_zero(&opts.cpumask);
	snprintf(opts.name, sizeof(opts.name), "t2");
	rc = spio_nvmf_tgt_create(&opts, (spio_nvmf_tgt_cb)1, NULL);
	cr_assert_eq(rc, -EINVAL, "empty cpumask: expected -EINVAL, got %d", rc);
	cr_assert_eq(spio_nvmf_tgt_create(NULL, NULL, NULL), -EINVAL);

	ct_tgt_destroy(tgt);
	cr_assert_null(spio_nvmf_get_tgt("t1"));
	cr_assert_eq(g_ct.destroyed, 1);
	cr_assert_eq(spio_nvmf_tgt_destroy(NULL, NULL, NULL), -EINVAL);

	/* A name can be used again once its target is gone. */
	again = ct_tgt_create("t1", 1, 0);
	ct_tgt_destroy(again);
	ct_fini();
}

Test(nvmf_core, nqn_rules)
{
	static const char *const good[] = {
	    "nqn.2016-06.io.spdk:cnode1",
	    SPIO_NVMF_DISCOVERY_NQN,
	    "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555",
	    "nqn.2016-06.io.spdk-io:x",
	    "nqn.2016-06.a1.b-2.c:\xc3\xa9t\xc3\xa9", /* UTF-8 user string */
	};
	static const char *const bad[] = {
	    "",
	    "nqn.2016-06",		    /* too short, no domain */
	    "nqn.2016-06.io.spdk",	    /* no ':' user string */
	    "nqn.2016-06.io.spdk:",	    /* empty user string */
	    "nqm.2016-06.io.spdk:x",	    /* prefix */
	    "nqn.16-06.io.spdk:x",	    /* date */
	    "nqn.2016-6.io.spdk:x",	    /* date */
	    "nqn.2016-06.1io.spdk:x",	    /* label starts with a digit */
	    "nqn.2016-06.io-.spdk:x",	    /* label ends with '-' */
	    "nqn.2016-06.io..spdk:x",	    /* empty label */
	    "nqn.2016-06.io_x.spdk:x",	    /* '_' */
	    "nqn.2016-06.io.spdk:\xc3",	    /* cut UTF-8 */
	    "nqn.2016-06.io.spdk:\xc0\xaf", /* overlong UTF-8 */
	    "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-55555555555",
	    "nqn.2014-08.org.nvmexpress:uuid:1111111x-2222-3333-4444-555555555555",
	};
	char long_nqn[260];

	for (size_t i = 0; i < SPIO_COUNTOF(good); i++) {
		cr_assert(spio_nvmf_nqn_is_valid(good[i]), "'%s' should be valid", good[i]);
	}
	for (size_t i = 0; i < SPIO_COUNTOF(bad); i++) {
		cr_assert(!spio_nvmf_nqn_is_valid(bad[i]), "'%s' should be invalid", bad[i]);
	}
	cr_assert(!spio_nvmf_nqn_is_valid(NULL));
	/* 223 bytes pass, 224 do not. */
	snprintf(long_nqn, sizeof(long_nqn), "nqn.2016-06.io.spdk:");
	memset(long_nqn + strlen(long_nqn), 'a', 223 - strlen(long_nqn));
	long_nqn[223] = '\0';
	cr_assert(spio_nvmf_nqn_is_valid(long_nqn), "223 bytes should be valid");
	long_nqn[223] = 'a';
	long_nqn[224] = '\0';
	cr_assert(!spio_nvmf_nqn_is_valid(long_nqn), "224 bytes should be invalid");
	/* A label of 63 characters passes, 64 do not. */
	snprintf(long_nqn, sizeof(long_nqn), "nqn.2016-06.%0*d:x", 63, 0);
	memset(long_nqn + 12, 'a', 63);
	cr_assert(spio_nvmf_nqn_is_valid(long_nqn), "63-character label should be valid");
	snprintf(long_nqn, sizeof(long_nqn), "nqn.2016-06.%0*d:x", 64, 0);
	memset(long_nqn + 12, 'a', 64);
	cr_assert(!spio_nvmf_nqn_is_valid(long_nqn), "64-character label should be invalid");
}

Test(nvmf_core, subsystem_rules)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s, *s2;
	struct spio_nvmf_host *host;
	char sn[32];

	ct_init("nvmf_subsys", false);
	tgt = ct_tgt_create("t", 1, 3);
	errno = 0;
	cr_assert_null(spio_nvmf_subsystem_create(tgt, "bad nqn", 0));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(spio_nvmf_subsystem_create(tgt, SPIO_NVMF_DISCOVERY_NQN, 0));
	cr_assert_eq(errno, EINVAL, "the discovery NQN is taken: expected EINVAL, got %d", errno);
	s = spio_nvmf_subsystem_create(tgt, SUBNQN, 0);
	cr_assert_not_null(s);
	cr_assert_null(spio_nvmf_subsystem_create(tgt, SUBNQN, 0));
	cr_assert_eq(errno, EEXIST);
	s2 = spio_nvmf_subsystem_create(tgt, "nqn.2016-06.io.spdk-io:cnode2", 7);
	cr_assert_not_null(s2);
	cr_assert_null(spio_nvmf_subsystem_create(tgt, "nqn.2016-06.io.spdk-io:cnode3", 0));
	cr_assert_eq(errno, ENOSPC, "max_subsystems 3 (discovery + 2): expected ENOSPC, got %d",
		     errno);
	cr_assert_eq(spio_nvmf_subsystem_get_max_namespaces(s), 32);
	cr_assert_eq(spio_nvmf_subsystem_get_max_namespaces(s2), 7);
	cr_assert_eq(spio_nvmf_subsystem_get_next(
			 spio_nvmf_subsystem_get_next(spio_nvmf_subsystem_get_first(tgt))),
		     s2, "order: discovery, cnode1, cnode2");

	/* Serial and model: SPDK's defaults, printable ASCII, 20 / 40 at most. */
	cr_assert_str_eq(spio_nvmf_subsystem_get_sn(s), SPIO_NVMF_DEFAULT_SN);
	cr_assert_str_eq(spio_nvmf_subsystem_get_mn(s), SPIO_NVMF_DEFAULT_MN);
	memset(sn, 'S', 20);
	sn[20] = '\0';
	cr_assert_eq(spio_nvmf_subsystem_set_sn(s, sn), 0);
	sn[20] = 'S';
	sn[21] = '\0';
	cr_assert_eq(spio_nvmf_subsystem_set_sn(s, sn), -EINVAL, "21 characters");
	cr_assert_eq(spio_nvmf_subsystem_set_sn(s, "bad\tsn"), -EINVAL, "control character");
	cr_assert_eq(spio_nvmf_subsystem_set_mn(s, "Model \x7f"), -EINVAL, "DEL");
	cr_assert_eq(spio_nvmf_subsystem_set_mn(s, "A model"), 0);
	cr_assert_str_eq(spio_nvmf_subsystem_get_mn(s), "A model");
	cr_assert_eq(spio_nvmf_subsystem_set_sn(spio_nvmf_subsystem_get_first(tgt), "x"), -EINVAL,
		     "discovery has no serial");

	/* Controller ID range: 1-0xFFEF, min <= max. */
	cr_assert_eq(spio_nvmf_subsystem_set_cntlid_range(s, 0, 10), -EINVAL);
	cr_assert_eq(spio_nvmf_subsystem_set_cntlid_range(s, 1, 0xfff0), -EINVAL);
	cr_assert_eq(spio_nvmf_subsystem_set_cntlid_range(s, 10, 9), -EINVAL);
	cr_assert_eq(spio_nvmf_subsystem_set_cntlid_range(s, 5, 6), 0);
	cr_assert_eq(spio_nvmf_subsystem_get_min_cntlid(s), 5);
	cr_assert_eq(spio_nvmf_subsystem_get_max_cntlid(s), 6);

	/* Hosts. */
	cr_assert(!spio_nvmf_subsystem_get_allow_any_host(s), "new subsystems allow no host");
	cr_assert(!spio_nvmf_subsystem_host_allowed(s, HOSTNQN));
	cr_assert_eq(spio_nvmf_subsystem_add_host(s, "not an nqn"), -EINVAL);
	cr_assert_eq(spio_nvmf_subsystem_add_host(s, HOSTNQN), 0);
	cr_assert_eq(spio_nvmf_subsystem_add_host(s, HOSTNQN), -EEXIST);
	cr_assert_eq(spio_nvmf_subsystem_add_host(s, HOSTNQN2), 0);
	cr_assert(spio_nvmf_subsystem_host_allowed(s, HOSTNQN));
	host = spio_nvmf_subsystem_get_first_host(s);
	cr_assert_str_eq(spio_nvmf_host_get_nqn(host), HOSTNQN);
	host = spio_nvmf_subsystem_get_next_host(s, host);
	cr_assert_str_eq(spio_nvmf_host_get_nqn(host), HOSTNQN2);
	cr_assert_null(spio_nvmf_subsystem_get_next_host(s, host));
	cr_assert_eq(spio_nvmf_subsystem_remove_host(s, HOSTNQN), 0);
	cr_assert_eq(spio_nvmf_subsystem_remove_host(s, HOSTNQN), -ENOENT);
	cr_assert(!spio_nvmf_subsystem_host_allowed(s, HOSTNQN));
	spio_nvmf_subsystem_set_allow_any_host(s, true);
	cr_assert(spio_nvmf_subsystem_host_allowed(s, HOSTNQN));

	/* Namespaces: bad arguments. */
	mk_malloc("M0", 64, 512);
	cr_assert_eq(spio_nvmf_subsystem_add_ns(s, "nobdev", NULL, ns_added, NULL), -ENODEV);
	cr_assert_eq(spio_nvmf_subsystem_add_ns(spio_nvmf_subsystem_get_first(tgt), "M0", NULL,
						ns_added, NULL),
		     -EINVAL, "discovery takes no namespace");
	{
		struct spio_nvmf_ns_opts o;

		spio_nvmf_ns_opts_init(&o, sizeof(o));
		o.nsid = 33;
		cr_assert_eq(spio_nvmf_subsystem_add_ns(s, "M0", &o, ns_added, NULL), -EINVAL,
			     "nsid above max_namespaces");
		o.nsid = SPIO_NVME_GLOBAL_NS_TAG;
		cr_assert_eq(spio_nvmf_subsystem_add_ns(s, "M0", &o, ns_added, NULL), -EINVAL);
	}
	cr_assert_eq(add_ns(s, "M0", 3), 3);
	cr_assert_eq(spio_nvmf_subsystem_add_ns(s, "M0", NULL, ns_added, NULL), -EPERM,
		     "a bdev is claimed by its first namespace");
	mk_malloc("M1", 64, 512);
	{
		struct spio_nvmf_ns_opts o;

		spio_nvmf_ns_opts_init(&o, sizeof(o));
		o.nsid = 3;
		cr_assert_eq(spio_nvmf_subsystem_add_ns(s, "M1", &o, ns_added, NULL), -EEXIST);
	}
	cr_assert_eq(add_ns(s, "M1", 0), 1, "lowest free nsid");
	cr_assert_eq(spio_nvmf_ns_get_id(spio_nvmf_subsystem_get_first_ns(s)), 1);
	cr_assert_eq(spio_nvmf_ns_get_id(
			 spio_nvmf_subsystem_get_next_ns(s, spio_nvmf_subsystem_get_first_ns(s))),
		     3);
	cr_assert_str_eq(
	    spio_bdev_get_name(spio_nvmf_ns_get_bdev(spio_nvmf_subsystem_get_ns(s, 3))), "M0");
	cr_assert_eq(spio_nvmf_subsystem_remove_ns(s, 2, NULL, NULL), -ENOENT);
	cr_assert_eq(spio_nvmf_subsystem_remove_ns(s, 0, NULL, NULL), -ENOENT);
	{
		/* One change at a time. */
		struct op_wait w = {0};

		cr_assert_eq(spio_nvmf_subsystem_remove_ns(s, 1, op_done, &w), 0);
		cr_assert_eq(spio_nvmf_subsystem_remove_ns(s, 3, NULL, NULL), -EBUSY);
		cr_assert_eq(spio_nvmf_subsystem_add_ns(s, "M1", NULL, ns_added, NULL), -EBUSY);
		cr_assert(ct_poll_until(&w.done, 1, CT_TIMEOUT_US));
	}
	cr_assert_null(spio_nvmf_subsystem_get_ns(s, 1));
	ct_tgt_destroy(tgt);
	ct_fini();
}

Test(nvmf_core, listeners_shared)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *a, *b;
	struct spio_nvme_transport_id trid = ct_trid(CT_ADDR, CT_SVC), other;
	struct spio_nvmf_subsystem_listener *l;

	ct_init("nvmf_listeners", false);
	tgt = ct_tgt_create("t", 1, 0);
	a = spio_nvmf_subsystem_create(tgt, SUBNQN, 0);
	b = spio_nvmf_subsystem_create(tgt, "nqn.2016-06.io.spdk-io:cnode2", 0);
	cr_assert_eq(spio_nvmf_subsystem_add_listener(a, &trid), 0);
	cr_assert_eq(spio_nvmf_subsystem_add_listener(a, &trid), -EEXIST);
	cr_assert_eq(spio_nvmf_subsystem_add_listener(b, &trid), 0);
	cr_assert_eq(g_ct.listens, 1, "one listen per address, got %d", g_ct.listens);
	l = spio_nvmf_subsystem_get_first_listener(a);
	cr_assert_not_null(l);
	cr_assert_str_eq(spio_nvmf_subsystem_listener_get_trid(l)->traddr, CT_ADDR);
	cr_assert_str_eq(spio_nvmf_subsystem_listener_get_trid(l)->trsvcid, CT_SVC);
	cr_assert_str_eq(spio_nvmf_subsystem_listener_get_trid(l)->trstring, CT_TRANSPORT);
	cr_assert_null(spio_nvmf_subsystem_get_next_listener(a, l));

	other = ct_trid(CT_ADDR, "busy");
	cr_assert_eq(spio_nvmf_subsystem_add_listener(a, &other), -EADDRINUSE);
	other = ct_trid(CT_ADDR, "");
	cr_assert_eq(spio_nvmf_subsystem_add_listener(a, &other), -EINVAL);
	other = ct_trid(CT_ADDR, "4421");
	other.adrfam = 9;
	cr_assert_eq(spio_nvmf_subsystem_add_listener(a, &other), -EINVAL);
	other = ct_trid(CT_ADDR, "4421");
	other.trtype = SPIO_NVME_TRANSPORT_TCP;
	cr_assert_eq(spio_nvmf_subsystem_add_listener(a, &other), -ENOTSUP,
		     "no TCP transport was added");
	other = ct_trid(CT_ADDR, "4421");
	cr_assert_eq(spio_nvmf_subsystem_remove_listener(a, &other), -ENOENT);

	cr_assert_eq(spio_nvmf_subsystem_remove_listener(a, &trid), 0);
	cr_assert_eq(g_ct.stop_listens, 0, "b still listens there");
	cr_assert_eq(spio_nvmf_subsystem_remove_listener(b, &trid), 0);
	cr_assert_eq(g_ct.stop_listens, 1, "last user gone: stop_listen, got %d",
		     g_ct.stop_listens);
	cr_assert_eq(spio_nvmf_subsystem_add_listener(b, &trid), 0);
	ct_tgt_destroy(tgt);
	cr_assert_eq(g_ct.stop_listens, 2, "destroy stops the listener, got %d", g_ct.stop_listens);
	ct_fini();
}

/*
 * Connect
 */

Test(nvmf_core, connect_admin_and_io)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io1, *io2;
	struct spio_nvmf_ctrlr_info info[2];
	uint16_t cntlid;

	ct_init("nvmf_connect", false);
	tgt = ct_tgt_create("t", 2, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	cr_assert_eq(spio_nvmf_subsystem_set_cntlid_range(s, 5, 10), 0);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	cr_assert_eq(cntlid, 5, "first cntlid of the range: expected 5, got %u", cntlid);
	io1 = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);
	io2 = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 2);
	cr_assert_neq(io1->group, io2->group, "connections spread over the poll groups");

	cr_assert_eq(spio_nvmf_subsystem_get_ctrlrs(s, info, 2), 1);
	cr_assert_eq(info[0].cntlid, 5);
	cr_assert_str_eq(info[0].cntrltype, "io");
	cr_assert_str_eq(info[0].hostnqn, HOSTNQN);
	cr_assert_eq(memcmp(&info[0].hostid, g_ct_hostid, 16), 0);
	cr_assert_eq(info[0].num_io_qpairs, 2, "expected 2 I/O queues, got %u",
		     info[0].num_io_qpairs);

	/* I/O queues end on their own; the controller stays. */
	conn_end(io2);
	for (int i = 0; i < 1000 && spio_nvmf_subsystem_get_ctrlrs(s, info, 1) == 1 &&
			info[0].num_io_qpairs != 1;
	     i++) {
		ct_poll();
	}
	cr_assert_eq(info[0].num_io_qpairs, 1);
	/* The admin queue's end ends the controller and closes its I/O queues. */
	conn_end(admin);
	cr_assert(ct_poll_until(&io1->closed, 1, CT_TIMEOUT_US), "I/O queue not closed");
	ct_conn_free(io1);
	wait_ctrlrs(s, 0);

	/* The next controller takes the next ID. */
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	cr_assert_eq(cntlid, 6, "expected cntlid 6, got %u", cntlid);
	conn_end(admin);
	ct_tgt_destroy(tgt);
	ct_fini();
}

Test(nvmf_core, connect_refusals)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *conn, *admin, *io;
	struct spio_nvme_cpl cpl;
	struct spio_nvme_cmd cmd;
	uint8_t other_id[16] = {1};
	uint16_t cntlid;
	uint64_t value;

	ct_init("nvmf_refusals", false);
	tgt = ct_tgt_create("t", 1, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	spio_nvmf_subsystem_set_allow_any_host(s, false);
	cr_assert_eq(spio_nvmf_subsystem_add_host(s, HOSTNQN), 0);
	conn = ct_conn_new(tgt, CT_ADDR, CT_SVC);

	/* Before a connect, nothing else is taken. */
	cmd = admin_cmd(SPIO_NVME_OPC_KEEP_ALIVE, 0, 0, 0);
	cpl = ct_run(conn, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR,
		      "command before connect");
	cpl = ct_prop_get(conn, SPIO_NVME_REG_CAP, 8, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR,
		      "property get before connect");

	/* Unknown subsystem: Invalid Parameters, in the data (IATTR 1) at SUBNQN (IPO 256). */
	cpl = ct_connect(conn, 0, 31, 0, 0xffff, "nqn.2016-06.io.spdk-io:nope", HOSTNQN, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "unknown subsystem");
	cr_assert_eq(cpl.cdw0, 0x00010100u, "IATTR 1 IPO 256: expected 0x10100, got %#x", cpl.cdw0);
	cr_assert_eq(cpl.cid, 0x4321, "the response carries the command's cid");

	/* A host not allowed gets Invalid Host and nothing else happens. */
	cpl = ct_connect(conn, 0, 31, 0, 0xffff, SUBNQN, HOSTNQN2, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_HOST,
		      "host not allowed");
	cr_assert_eq(ctrlr_count(s), 0, "no controller for a refused host");

	/* Record format, static controller, queue size. */
	{
		struct spio_nvmf_fabric_connect_cmd *cc;
		struct spio_nvmf_fabric_connect_data data;
		struct ct_req *r;

		memset(&data, 0, sizeof(data));
		data.cntlid = 0xffff;
		snprintf(data.subnqn, sizeof(data.subnqn), "%s", SUBNQN);
		snprintf(data.hostnqn, sizeof(data.hostnqn), "%s", HOSTNQN);
		memset(&cmd, 0, sizeof(cmd));
		cc = (struct spio_nvmf_fabric_connect_cmd *)&cmd;
		cc->opcode = SPIO_NVME_OPC_FABRIC;
		cc->fctype = SPIO_NVMF_FABRIC_COMMAND_CONNECT;
		cc->recfmt = 1;
		cc->sqsize = 31;
		r = ct_submit(conn, &cmd, &data, sizeof(data), SPIO_NVME_DATA_HOST_TO_CONTROLLER);
		cr_assert(ct_wait(r));
		expect_status(&r->cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC,
			      SPIO_NVMF_FABRIC_SC_INCOMPATIBLE_FORMAT, "record format 1");
		ct_req_put(r);
		/* Connect data shorter than 1024 bytes. */
		cc->recfmt = 0;
		r = ct_submit(conn, &cmd, &data, 512, SPIO_NVME_DATA_HOST_TO_CONTROLLER);
		cr_assert(ct_wait(r));
		expect_status(&r->cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC,
			      SPIO_NVMF_FABRIC_SC_INVALID_PARAM, "short connect data");
		ct_req_put(r);
	}
	cpl = ct_connect(conn, 0, 31, 0, 3, SUBNQN, HOSTNQN, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "static cntlid on the admin queue");
	cr_assert_eq(cpl.cdw0, 0x00010010u, "IATTR 1 IPO 16 (CNTLID): got %#x", cpl.cdw0);
	cpl = ct_connect(conn, 0, 128, 0, 0xffff, SUBNQN, HOSTNQN, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "admin SQSIZE 128 with max_aq_depth 128");
	cr_assert_eq(cpl.cdw0, 44u, "IATTR 0 IPO 44 (SQSIZE): got %#x", cpl.cdw0);
	cr_assert_eq(ctrlr_count(s), 0);

	/* Through an address the subsystem does not listen on. */
	io = ct_conn_new(tgt, "10.0.0.2", CT_SVC);
	cpl = ct_connect(io, 0, 31, 0, 0xffff, SUBNQN, HOSTNQN, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_HOST,
		      "subsystem not listening on the connection's address");
	conn_end(io);

	/* The refused connection may still connect properly. */
	cpl = ct_connect(conn, 0, 31, 0, 0xffff, SUBNQN, HOSTNQN, NULL);
	expect_ok(&cpl, "admin connect after refusals");
	cntlid = (uint16_t)cpl.cdw0;
	admin = conn;
	cpl = ct_connect(admin, 0, 31, 0, 0xffff, SUBNQN, HOSTNQN, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE,
		      "second connect on a connected queue");

	/* I/O queue refusals. */
	io = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	cpl = ct_connect(io, 1, 63, 0, cntlid, SUBNQN, HOSTNQN, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "I/O connect before CC.EN");
	cr_assert_eq(cpl.cdw0, 42u, "IATTR 0 IPO 42 (QID): got %#x", cpl.cdw0);
	cpl = ct_prop_set(admin, SPIO_NVME_REG_CC, 1 | (6 << 16) | (4 << 20));
	expect_ok(&cpl, "enable");
	cpl = ct_connect(io, 1, 63, 0, cntlid + 1, SUBNQN, HOSTNQN, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "unknown cntlid");
	cr_assert_eq(cpl.cdw0, 0x00010010u, "IATTR 1 IPO 16: got %#x", cpl.cdw0);
	cr_assert_eq(spio_nvmf_subsystem_add_host(s, HOSTNQN2), 0);
	cpl = ct_connect(io, 1, 63, 0, cntlid, SUBNQN, HOSTNQN2, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "I/O connect of another host");
	cr_assert_eq(cpl.cdw0, 0x00010200u, "IATTR 1 IPO 512 (HOSTNQN): got %#x", cpl.cdw0);
	cpl = ct_connect(io, 1, 63, 0, cntlid, SUBNQN, HOSTNQN, other_id);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "I/O connect with another host ID");
	cr_assert_eq(cpl.cdw0, 0x00010000u, "IATTR 1 IPO 0 (HOSTID): got %#x", cpl.cdw0);
	cpl = ct_connect(io, 128, 63, 0, cntlid, SUBNQN, HOSTNQN, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER,
		      "qid 128 above max_io_qpairs_per_ctrlr 127");
	cpl = ct_connect(io, 1, 128, 0, cntlid, SUBNQN, HOSTNQN, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "I/O SQSIZE 128 with max_queue_depth 128");
	cpl = ct_connect(io, 127, 127, 0, cntlid, SUBNQN, HOSTNQN, NULL);
	expect_ok(&cpl, "qid 127, 128 entries");
	conn = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	cpl = ct_connect(conn, 127, 63, 0, cntlid, SUBNQN, HOSTNQN, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER,
		      "qid in use");
	/* Properties are the admin queue's. */
	cpl = ct_prop_get(io, SPIO_NVME_REG_CAP, 8, &value);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE,
		      "property get on an I/O queue");
	conn_end(conn);
	conn_end(io);
	conn_end(admin);
	wait_ctrlrs(s, 0);
	ct_tgt_destroy(tgt);
	ct_fini();
}

/*
 * A host may reuse the id of a queue whose end the target has not seen yet:
 * the connect is looked at again once, 1 ms later (SPDK's target does), and
 * refused only if the id is still taken. The test clock holds the re-check
 * until the test moves it.
 */
Test(nvmf_core, reused_qid_is_checked_again_before_refusal)
{
	struct spio_nvmf_tgt *tgt;
	struct ct_conn *admin, *old, *again, *third, *gone;
	struct ct_req *r;
	uint16_t cntlid;

	ct_init("nvmf_dup_qid", false);
	ct_clock_start(1ull << 40);
	tgt = ct_tgt_create("t", 2, 0);
	mk_subsys(tgt, SUBNQN, 0);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	old = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);

	/* The old queue ends while the new connect waits: accepted at the re-check. */
	again = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	r = ct_connect_submit(again, 1, 63, 0, cntlid, SUBNQN, HOSTNQN, NULL);
	ct_poll_for(20000);
	cr_assert_eq(__atomic_load_n(&r->done, __ATOMIC_SEQ_CST), 0,
		     "a connect for a qid in use waits for the re-check");
	conn_end(old);
	ct_poll_for(20000);
	cr_assert_eq(__atomic_load_n(&r->done, __ATOMIC_SEQ_CST), 0,
		     "the re-check waits for its time");
	ct_clock_add_ms(1);
	cr_assert(ct_wait(r), "the connect did not complete after the re-check");
	expect_ok(&r->cpl, "qid 1 taken again once its old queue was gone");
	ct_req_put(r);

	/* Still taken at the re-check: refused as before. */
	third = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	r = ct_connect_submit(third, 1, 63, 0, cntlid, SUBNQN, HOSTNQN, NULL);
	ct_poll_for(20000);
	cr_assert_eq(__atomic_load_n(&r->done, __ATOMIC_SEQ_CST), 0, "waits for the re-check");
	ct_clock_add_ms(1);
	cr_assert(ct_wait(r), "the connect did not complete after the re-check");
	expect_status(&r->cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC,
		      SPIO_NVME_SC_INVALID_QUEUE_IDENTIFIER, "qid still in use at the re-check");
	ct_req_put(r);

	/* A host that goes away while its connect waits leaves nothing behind. */
	gone = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	r = ct_connect_submit(gone, 1, 63, 0, cntlid, SUBNQN, HOSTNQN, NULL);
	ct_poll_for(20000);
	ct_conn_drop(gone);
	ct_clock_add_ms(1);
	ct_conn_free(gone);

	conn_end(third);
	conn_end(again);
	conn_end(admin);
	ct_tgt_destroy(tgt);
	ct_clock_stop();
	ct_fini();
}

Test(nvmf_core, cntlid_range_exhausted)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *a, *b, *c;
	struct spio_nvme_cpl cpl;
	uint16_t id;

	ct_init("nvmf_cntlid", false);
	tgt = ct_tgt_create("t", 1, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	cr_assert_eq(spio_nvmf_subsystem_set_cntlid_range(s, 7, 8), 0);
	a = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &id);
	cr_assert_eq(id, 7);
	b = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &id);
	cr_assert_eq(id, 8);
	c = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	cpl = ct_connect(c, 0, 31, 0, 0xffff, SUBNQN, HOSTNQN, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INTERNAL_DEVICE_ERROR,
		      "no controller ID left (SPDK's status)");
	conn_end(a);
	wait_ctrlrs(s, 1);
	cpl = ct_connect(c, 0, 31, 0, 0xffff, SUBNQN, HOSTNQN, NULL);
	expect_ok(&cpl, "a freed ID is taken again");
	cr_assert_eq((uint16_t)cpl.cdw0, 7);
	conn_end(b);
	conn_end(c);
	ct_tgt_destroy(tgt);
	ct_fini();
}

/*
 * Properties
 */

Test(nvmf_core, properties)
{
	struct spio_nvmf_tgt *tgt;
	struct ct_conn *conn;
	struct spio_nvme_cpl cpl;
	union spio_nvme_cap_register cap;
	uint64_t v;

	ct_init("nvmf_props", false);
	tgt = ct_tgt_create("t", 1, 0);
	mk_subsys(tgt, SUBNQN, 0);
	conn = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	cpl = ct_connect(conn, 0, 31, 0, 0xffff, SUBNQN, HOSTNQN, NULL);
	expect_ok(&cpl, "connect");

	cpl = ct_prop_get(conn, SPIO_NVME_REG_CAP, 8, &cap.raw);
	expect_ok(&cpl, "CAP");
	cr_assert_eq(cap.bits.mqes, 127, "MQES: expected 127, got %u", (unsigned)cap.bits.mqes);
	cr_assert_eq(cap.bits.cqr, 1);
	cr_assert_eq(cap.bits.css, SPIO_NVME_CAP_CSS_NVM);
	cr_assert_eq(cap.bits.to, 30, "TO: expected 30 (15 s), got %u", (unsigned)cap.bits.to);
	cr_assert_eq(cap.bits.dstrd, 0);
	cpl = ct_prop_get(conn, SPIO_NVME_REG_CAP, 4, &v);
	expect_ok(&cpl, "CAP low half");
	cr_assert_eq(v, cap.raw & 0xffffffffu);
	cpl = ct_prop_get(conn, SPIO_NVME_REG_CAP + 4, 4, &v);
	expect_ok(&cpl, "CAP high half");
	cr_assert_eq(v, cap.raw >> 32);
	cpl = ct_prop_get(conn, SPIO_NVME_REG_VS, 4, &v);
	expect_ok(&cpl, "VS");
	cr_assert_eq(v, 0x00010300u, "VS: expected 1.3, got %#lx", (unsigned long)v);
	cpl = ct_prop_get(conn, SPIO_NVME_REG_CSTS, 4, &v);
	cr_assert_eq(v, 0, "CSTS before enable: %#lx", (unsigned long)v);

	/* Reads and writes the controller does not have. */
	cpl = ct_prop_get(conn, 0x100, 4, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "get at 0x100");
	cpl = ct_prop_get(conn, SPIO_NVME_REG_VS, 8, NULL);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "8 bytes of the 4-byte VS");
	cpl = ct_prop_set(conn, SPIO_NVME_REG_CAP, 0);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "set CAP");
	cpl = ct_prop_set(conn, SPIO_NVME_REG_NSSR, SPIO_NVME_NSSR_VALUE);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "NSSR without subsystem reset support");
	cpl = ct_prop_set(conn, SPIO_NVME_REG_CC, 1u << 11);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "CC.AMS weighted round robin");
	cpl = ct_prop_set(conn, SPIO_NVME_REG_CC, 1u << 7);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "CC.MPS 8 KiB");
	{
		struct spio_nvme_cmd cmd;
		struct spio_nvmf_fabric_prop_get_cmd *pg =
		    (struct spio_nvmf_fabric_prop_get_cmd *)&cmd;

		cr_assert_eq(nvme_fabric_prop_get_build(&cmd, SPIO_NVME_REG_VS, 4), 0);
		pg->attrib.size = 2;
		cpl = ct_run(conn, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
		expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC,
			      SPIO_NVMF_FABRIC_SC_INVALID_PARAM, "reserved size attribute");
	}

	/* Admin commands wait for CC.EN. */
	{
		struct spio_nvme_cmd cmd = admin_cmd(SPIO_NVME_OPC_KEEP_ALIVE, 0, 0, 0);

		cpl = ct_run(conn, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
		expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR,
			      "admin command before CC.EN");
	}
	cpl = ct_prop_set(conn, SPIO_NVME_REG_CC, 1 | (6 << 16) | (4 << 20));
	expect_ok(&cpl, "CC.EN");
	cpl = ct_prop_get(conn, SPIO_NVME_REG_CC, 4, &v);
	cr_assert_eq(v, 1 | (6 << 16) | (4 << 20), "CC reads back: got %#lx", (unsigned long)v);
	cpl = ct_prop_get(conn, SPIO_NVME_REG_CSTS, 4, &v);
	cr_assert_eq(v, 1, "CSTS.RDY after enable: got %#lx", (unsigned long)v);
	cpl = ct_prop_set(conn, SPIO_NVME_REG_CSTS, 0xffffffff);
	expect_ok(&cpl, "CSTS write (read-only bits ignored)");
	cpl = ct_prop_get(conn, SPIO_NVME_REG_CSTS, 4, &v);
	cr_assert_eq(v, 1);
	conn_end(conn);
	ct_tgt_destroy(tgt);
	ct_fini();
}

/*
 * Identify, features, log pages
 */

static bool padded_eq(const char *field, size_t size, const char *want)
{
	size_t len = strlen(want);

	if (memcmp(field, want, len) != 0) {
		return false;
	}
	for (size_t i = len; i < size; i++) {
		if (field[i] != ' ') {
			return false;
		}
	}
	return true;
}

Test(nvmf_core, identify)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin;
	struct spio_nvme_cpl cpl;
	struct spio_nvme_ctrlr_data *cd = calloc(1, 4096);
	struct spio_nvme_ns_data *nd = calloc(1, 4096);
	struct spio_nvme_ns_list *list = calloc(1, 4096);
	uint8_t *desc = calloc(1, 4096);
	struct spio_nvmf_ns_opts o, got;
	struct spio_bdev *b0, *b1;
	static const uint8_t nguid[16] = {0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	uint16_t cntlid;

	ct_init("nvmf_identify", false);
	tgt = ct_tgt_create("t", 1, 0);
	s = mk_subsys(tgt, SUBNQN, 8);
	cr_assert_eq(spio_nvmf_subsystem_set_sn(s, "SN0123"), 0);
	cr_assert_eq(spio_nvmf_subsystem_set_mn(s, "spio test model"), 0);
	b0 = mk_malloc("M0", 1024, 512);
	b1 = mk_malloc("M1", 256, 4096);
	cr_assert_eq(add_ns(s, "M0", 2), 2);
	spio_nvmf_ns_opts_init(&o, sizeof(o));
	o.nsid = 5;
	o.eui64 = 0x0102030405060708ull;
	memcpy(o.nguid, nguid, sizeof(nguid));
	cr_assert_eq(spio_uuid_parse(&o.uuid, "01234567-89ab-cdef-0123-456789abcdef"), 0);
	cr_assert_eq(add_ns_opts(s, "M1", &o), 5);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);

	cpl = identify(admin, SPIO_NVME_IDENTIFY_CTRLR, 0, cd);
	expect_ok(&cpl, "identify controller");
	cr_assert_eq(cd->vid, 0x8086, "VID (SPDK's): got %#x", cd->vid);
	cr_assert_eq(cd->ssvid, 0x8086);
	cr_assert(padded_eq(cd->sn, sizeof(cd->sn), "SN0123"), "SN '%.20s'", cd->sn);
	cr_assert(padded_eq(cd->mn, sizeof(cd->mn), "spio test model"), "MN '%.40s'", cd->mn);
	cr_assert(cd->fr[0] >= '0' && cd->fr[0] <= '9', "FR is the version: '%.8s'", cd->fr);
	cr_assert(cd->ieee[0] == 0xe4 && cd->ieee[1] == 0xd2 && cd->ieee[2] == 0x5c);
	cr_assert_eq(cd->cmic.raw, 3, "CMIC multi-port, multi-controller: got %#x", cd->cmic.raw);
	cr_assert_eq(cd->mdts, 5, "MDTS of 128 KiB in 4 KiB pages: expected 5, got %u", cd->mdts);
	cr_assert_eq(cd->cntlid, cntlid);
	cr_assert_eq(cd->ver.raw, 0x00010300u);
	cr_assert(cd->oaes & SPIO_NVME_OAES_NS_ATTRIBUTE_NOTICES);
	cr_assert(cd->ctratt & SPIO_NVME_CTRATT_HOST_ID_128);
	cr_assert_eq(cd->cntrltype, SPIO_NVME_CTRLR_TYPE_IO);
	cr_assert_eq(cd->aerl, 3);
	cr_assert_eq(cd->acl, 3);
	cr_assert(cd->lpa.celp && cd->lpa.edlp);
	cr_assert_eq(cd->kas, 1, "KAS 100 ms: got %u", cd->kas);
	cr_assert_eq(cd->sqes, 0x66);
	cr_assert_eq(cd->cqes, 0x44);
	cr_assert_eq(cd->maxcmd, 128);
	cr_assert_eq(cd->nn, 8, "NN = max_namespaces: got %u", cd->nn);
	cr_assert(cd->oncs.compare && cd->oncs.dsm && cd->oncs.write_zeroes,
		  "malloc supports compare, unmap, write zeroes: ONCS %#x", cd->oncs.raw);
	cr_assert_eq(cd->fuses.raw, 0);
	cr_assert(cd->vwc.present);
	cr_assert(cd->sgls & SPIO_NVME_SGLS_SUPPORTED);
	cr_assert(cd->sgls & SPIO_NVME_SGLS_OFFSET);
	cr_assert_str_eq(cd->subnqn, SUBNQN);
	cr_assert_eq(cd->ioccsz, 4 + 4096 / 16, "IOCCSZ: expected 260, got %u", cd->ioccsz);
	cr_assert_eq(cd->iorcsz, 1);
	cr_assert_eq(cd->icdoff, 0);
	cr_assert_eq(cd->msdbd, 1);
	cr_assert_eq(cd->fcatt, 0, "dynamic controller model");

	cpl = identify(admin, SPIO_NVME_IDENTIFY_NS, 2, nd);
	expect_ok(&cpl, "identify ns 2");
	cr_assert_eq(nd->nsze, 1024);
	cr_assert_eq(nd->ncap, 1024);
	cr_assert_eq(nd->nuse, 1024);
	cr_assert_eq(nd->nlbaf, 0);
	cr_assert_eq(nd->lbaf[0].lbads, 9);
	cr_assert_eq(nd->nmic.can_share, 1);
	cr_assert_eq(memcmp(nd->nguid, spio_bdev_get_uuid(b0), 16), 0,
		     "NGUID defaults to the bdev's UUID (as SPDK)");
	cr_assert_eq(nd->eui64, 0);
	cpl = identify(admin, SPIO_NVME_IDENTIFY_NS, 5, nd);
	expect_ok(&cpl, "identify ns 5");
	cr_assert_eq(nd->nsze, 256);
	cr_assert_eq(nd->lbaf[0].lbads, 12);
	cr_assert_eq(memcmp(nd->nguid, nguid, 16), 0);
	cr_assert_eq(((const uint8_t *)&nd->eui64)[0], 0x01, "EUI-64 bytes in wire order");
	cr_assert_eq(((const uint8_t *)&nd->eui64)[7], 0x08);
	spio_nvmf_ns_get_opts(spio_nvmf_subsystem_get_ns(s, 2), &got, sizeof(got));
	cr_assert_eq(spio_uuid_compare(&got.uuid, spio_bdev_get_uuid(b0)), 0);
	cr_assert_eq(got.nsid, 2);
	spio_nvmf_ns_get_opts(spio_nvmf_subsystem_get_ns(s, 5), &got, sizeof(got));
	cr_assert_eq(got.eui64, o.eui64);
	(void)b1;

	/* Inactive namespaces read as zeroes; out of range is Invalid Namespace. */
	memset(nd, 0xff, 4096);
	cpl = identify(admin, SPIO_NVME_IDENTIFY_NS, 3, nd);
	expect_ok(&cpl, "identify inactive ns 3");
	cr_assert_eq(nd->nsze, 0, "inactive namespace data is zero");
	cpl = identify(admin, SPIO_NVME_IDENTIFY_NS, 0, nd);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT,
		      "identify ns 0");
	cpl = identify(admin, SPIO_NVME_IDENTIFY_NS, 9, nd);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT,
		      "identify ns 9 of 8");

	cpl = identify(admin, SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST, 0, list);
	expect_ok(&cpl, "active ns list");
	cr_assert(list->ns_list[0] == 2 && list->ns_list[1] == 5 && list->ns_list[2] == 0,
		  "active: expected 2 5, got %u %u %u", list->ns_list[0], list->ns_list[1],
		  list->ns_list[2]);
	cpl = identify(admin, SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST, 2, list);
	cr_assert(list->ns_list[0] == 5 && list->ns_list[1] == 0, "above 2: expected 5, got %u",
		  list->ns_list[0]);
	cpl = identify(admin, SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST, 0xfffffffe, list);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT,
		      "active list above FFFFFFFEh");

	cpl = identify(admin, SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, 5, desc);
	expect_ok(&cpl, "descriptor list");
	cr_assert(desc[0] == SPIO_NVME_NIDT_EUI64 && desc[1] == 8 && desc[4] == 0x01);
	cr_assert(desc[12] == SPIO_NVME_NIDT_NGUID && desc[13] == 16 && desc[16] == 0xaa);
	cr_assert(desc[32] == SPIO_NVME_NIDT_UUID && desc[33] == 16 && desc[36] == 0x01);
	cr_assert(desc[52] == 0 && desc[53] == 0, "list ends with a zero descriptor");
	cpl = identify(admin, SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, 2, desc);
	cr_assert_eq(desc[0], SPIO_NVME_NIDT_NGUID, "no EUI-64 given: NGUID first, got %u",
		     desc[0]);
	cpl = identify(admin, SPIO_NVME_IDENTIFY_NS_ID_DESCRIPTOR_LIST, 3, desc);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
		      "descriptors of an inactive namespace");
	cpl = identify(admin, 0x1f, 0, desc);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD, "CNS 1Fh");
	{
		struct spio_nvme_cmd cmd = admin_cmd(SPIO_NVME_OPC_IDENTIFY, 0, 1, 0);

		cpl = ct_run(admin, &cmd, cd, 1024, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
		expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
			      "identify into 1 KiB");
		cmd = admin_cmd(0xc1, 0, 0, 0);
		cpl = ct_run(admin, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
		expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE,
			      "vendor admin opcode");
		cmd = admin_cmd(SPIO_NVME_OPC_ABORT, 0, 5, 0);
		cpl = ct_run(admin, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
		expect_ok(&cpl, "abort");
		cr_assert_eq(cpl.cdw0 & 1, 1, "abort: not aborted (cdw0 bit 0)");
		cmd = admin_cmd(SPIO_NVME_OPC_KEEP_ALIVE, 1, 0, 0);
		cpl = ct_run(admin, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
		expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
			      "keep alive naming a namespace");
	}
	conn_end(admin);
	free(cd);
	free(nd);
	free(list);
	free(desc);
	ct_tgt_destroy(tgt);
	ct_fini();
}

Test(nvmf_core, features)
{
	struct spio_nvmf_tgt *tgt;
	struct ct_conn *admin, *io;
	struct spio_nvme_cpl cpl;
	uint8_t hostid[16];
	uint16_t cntlid;

	ct_init("nvmf_features", false);
	/* A frozen keep-alive clock: the short KATO below never runs out. */
	ct_clock_start(1ull << 40);
	tgt = ct_tgt_create("t", 1, 0);
	mk_subsys(tgt, SUBNQN, 0);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 250, &cntlid);

	cpl = features(admin, false, SPIO_NVME_FEAT_NUMBER_OF_QUEUES, 0);
	expect_ok(&cpl, "get number of queues");
	cr_assert_eq(cpl.cdw0, 0x007e007eu, "126 (0's based) each: got %#x", cpl.cdw0);
	cpl = features(admin, true, SPIO_NVME_FEAT_NUMBER_OF_QUEUES, 0x03ff03ff);
	expect_ok(&cpl, "set number of queues");
	cr_assert_eq(cpl.cdw0, 0x007e007eu, "what the transport allows: got %#x", cpl.cdw0);
	cpl = features(admin, true, SPIO_NVME_FEAT_NUMBER_OF_QUEUES, 0xffff0000);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD, "NCQR 65536");

	cpl = features(admin, false, SPIO_NVME_FEAT_KEEP_ALIVE_TIMER, 0);
	cr_assert_eq(cpl.cdw0, 300, "KATO 250 rounds up to 300: got %u", cpl.cdw0);
	cpl = features(admin, true, SPIO_NVME_FEAT_KEEP_ALIVE_TIMER, 1001);
	expect_ok(&cpl, "set KATO");
	cpl = features(admin, false, SPIO_NVME_FEAT_KEEP_ALIVE_TIMER, 0);
	cr_assert_eq(cpl.cdw0, 1100);
	cpl = features(admin, true, SPIO_NVME_FEAT_KEEP_ALIVE_TIMER, 0);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_KEEP_ALIVE_INVALID, "KATO 0");

	cpl = features(admin, false, SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION, 0);
	cr_assert_eq(cpl.cdw0, 1u << 8, "namespace notices on by default: got %#x", cpl.cdw0);
	cpl = features(admin, true, SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION, 0xffffffff);
	cpl = features(admin, false, SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION, 0);
	cr_assert_eq(cpl.cdw0, 0x80000fffu, "reserved bits dropped: got %#x", cpl.cdw0);

	cpl = features(admin, true, SPIO_NVME_FEAT_ARBITRATION, 0x030201ff);
	cpl = features(admin, false, SPIO_NVME_FEAT_ARBITRATION, 0);
	cr_assert_eq(cpl.cdw0, 0x03020107u, "arbitration: got %#x", cpl.cdw0);
	cpl = features(admin, true, SPIO_NVME_FEAT_POWER_MANAGEMENT, 1);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD, "power state 1");
	cpl = features(admin, true, SPIO_NVME_FEAT_POWER_MANAGEMENT, 0);
	expect_ok(&cpl, "power state 0");
	cpl = features(admin, false, SPIO_NVME_FEAT_VOLATILE_WRITE_CACHE, 0);
	cr_assert_eq(cpl.cdw0, 1, "write cache enabled");
	cpl = features(admin, true, SPIO_NVME_FEAT_VOLATILE_WRITE_CACHE, 0);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVME_SC_FEATURE_NOT_CHANGEABLE,
		      "write cache off");
	cpl = features(admin, true, SPIO_NVME_FEAT_INTERRUPT_COALESCING, 0x0101);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVME_SC_FEATURE_NOT_CHANGEABLE,
		      "interrupt coalescing");
	cpl = features(admin, true, SPIO_NVME_FEAT_ERROR_RECOVERY, 1u << 16);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD, "DULBE");
	cpl = features(admin, true, SPIO_NVME_FEAT_ERROR_RECOVERY, 20);
	cpl = features(admin, false, SPIO_NVME_FEAT_ERROR_RECOVERY, 0);
	cr_assert_eq(cpl.cdw0, 20);
	cpl = features(admin, true, SPIO_NVME_FEAT_WRITE_ATOMICITY, 1);
	cpl = features(admin, false, SPIO_NVME_FEAT_WRITE_ATOMICITY, 0);
	cr_assert_eq(cpl.cdw0, 1);
	cpl = features(admin, true, SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD, 9u << 16);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD, "TMPSEL 9");
	cpl = features(admin, false, SPIO_NVME_FEAT_TEMPERATURE_THRESHOLD, 0);
	expect_ok(&cpl, "temperature threshold");
	cpl = features(admin, false, SPIO_NVME_FEAT_INTERRUPT_VECTOR_CONFIGURATION, 3);
	cr_assert_eq(cpl.cdw0, 3 | (1u << 16), "vector 3, coalescing disabled: got %#x", cpl.cdw0);
	cpl = features(admin, false, SPIO_NVME_FEAT_LBA_RANGE_TYPE, 0);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
		      "unsupported feature");
	{
		struct spio_nvme_cmd cmd = admin_cmd(SPIO_NVME_OPC_SET_FEATURES, 0,
						     SPIO_NVME_FEAT_ARBITRATION | (1u << 31), 0);

		cpl = ct_run(admin, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
		expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC,
			      SPIO_NVME_SC_FEATURE_ID_NOT_SAVEABLE, "save");
		cmd = admin_cmd(SPIO_NVME_OPC_SET_FEATURES, 1, SPIO_NVME_FEAT_ARBITRATION, 0);
		cpl = ct_run(admin, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
		expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC,
			      SPIO_NVME_SC_FEATURE_NOT_NAMESPACE_SPECIFIC,
			      "controller feature for a namespace");
		cmd = admin_cmd(SPIO_NVME_OPC_GET_FEATURES, 40, SPIO_NVME_FEAT_ARBITRATION, 0);
		cpl = ct_run(admin, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
		expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT,
			      "nsid 40 of 32");
		cmd = admin_cmd(SPIO_NVME_OPC_GET_FEATURES, 0, SPIO_NVME_FEAT_HOST_IDENTIFIER, 1);
		cpl = ct_run(admin, &cmd, hostid, 16, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
		expect_ok(&cpl, "host identifier");
		cr_assert_eq(memcmp(hostid, g_ct_hostid, 16), 0, "the connect's host ID");
		cmd = admin_cmd(SPIO_NVME_OPC_GET_FEATURES, 0, SPIO_NVME_FEAT_HOST_IDENTIFIER, 0);
		cpl = ct_run(admin, &cmd, hostid, 16, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
		expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
			      "64-bit host identifier");
	}

	/* With I/O queues up, the number of queues is fixed. */
	io = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);
	cpl = features(admin, true, SPIO_NVME_FEAT_NUMBER_OF_QUEUES, 0x00010001);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_COMMAND_SEQUENCE_ERROR,
		      "number of queues with I/O queues connected");
	conn_end(io);
	conn_end(admin);
	ct_tgt_destroy(tgt);
	ct_fini();
}

Test(nvmf_core, log_pages)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io;
	struct spio_nvme_cpl cpl;
	struct spio_nvme_health_information_page health;
	struct spio_nvme_firmware_page fw;
	struct spio_nvme_cmds_and_effect_log_page *fx = calloc(1, sizeof(*fx));
	uint8_t *buf = calloc(1, 8192);
	uint8_t data[4096];
	uint16_t cntlid;

	ct_init("nvmf_logs", false);
	tgt = ct_tgt_create("t", 1, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("M0", 1024, 512);
	add_ns(s, "M0", 1);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	io = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);

	/* Error log: no entries kept, all zeroes. */
	memset(buf, 0xee, 256);
	cpl = get_log(admin, SPIO_NVME_LOG_ERROR, 0, buf, 256, 0, false);
	expect_ok(&cpl, "error log");
	for (int i = 0; i < 256; i++) {
		cr_assert_eq(buf[i], 0, "error log byte %d: expected 0, got %#x", i, buf[i]);
	}

	/* SMART / health counts what the host did. */
	memset(data, 0x5a, sizeof(data));
	for (int i = 0; i < 3; i++) {
		struct spio_nvme_cmd cmd = rw_cmd(SPIO_NVME_OPC_WRITE, 1, 8 * (uint64_t)i, 8);

		cpl = ct_run(io, &cmd, data, 4096, SPIO_NVME_DATA_HOST_TO_CONTROLLER);
		expect_ok(&cpl, "write");
	}
	{
		struct spio_nvme_cmd cmd = rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 8);

		cpl = ct_run(io, &cmd, data, 4096, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
		expect_ok(&cpl, "read");
	}
	cpl = get_log(admin, SPIO_NVME_LOG_HEALTH_INFORMATION, SPIO_NVME_GLOBAL_NS_TAG, &health,
		      sizeof(health), 0, false);
	expect_ok(&cpl, "health log");
	cr_assert_eq(health.host_write_commands[0], 3, "host write commands: got %lu",
		     (unsigned long)health.host_write_commands[0]);
	cr_assert_eq(health.host_read_commands[0], 1);
	cr_assert_eq(health.data_units_written[0], 1, "24 blocks of 512: 1 data unit (rounded up)");
	cr_assert_eq(health.data_units_read[0], 1);
	cr_assert(health.temperature > 273 && health.temperature < 350,
		  "plausible temperature in kelvin: %u", health.temperature);
	cr_assert_eq(health.available_spare, 100);
	cr_assert_eq(health.critical_warning.raw, 0);
	/* A part of the page, at an offset. */
	cpl = get_log(admin, SPIO_NVME_LOG_HEALTH_INFORMATION, 0, buf, 16, 80, false);
	expect_ok(&cpl, "health log at offset 80");
	cr_assert_eq(*(uint64_t *)buf, 3, "host write commands at offset 80");
	cpl = get_log(admin, SPIO_NVME_LOG_HEALTH_INFORMATION, 0, buf, 16, 512, false);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
		      "offset past the page");
	cpl = get_log(admin, SPIO_NVME_LOG_HEALTH_INFORMATION, 0, buf, 16, 2, false);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
		      "offset not dword aligned");
	{
		/* Longer than the buffer given. */
		struct spio_nvme_cmd cmd =
		    admin_cmd(SPIO_NVME_OPC_GET_LOG_PAGE, 0,
			      SPIO_NVME_LOG_HEALTH_INFORMATION | (127u << 16), 0);

		cpl = ct_run(admin, &cmd, buf, 256, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
		expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
			      "NUMD beyond the buffer");
	}

	cpl = get_log(admin, SPIO_NVME_LOG_FIRMWARE_SLOT, 0, &fw, sizeof(fw), 0, false);
	expect_ok(&cpl, "firmware slot log");
	cr_assert_eq(fw.afi.active_slot, 1);
	cr_assert(fw.revision[0][0] >= '0' && fw.revision[0][0] <= '9');
	cpl = get_log(admin, SPIO_NVME_LOG_COMMAND_EFFECTS_LOG, 0, fx, sizeof(*fx), 0, false);
	expect_ok(&cpl, "command effects log");
	cr_assert(fx->admin_cmds_supported[SPIO_NVME_OPC_IDENTIFY].bits.csupp);
	cr_assert(!fx->admin_cmds_supported[SPIO_NVME_OPC_FORMAT_NVM].bits.csupp);
	cr_assert(fx->io_cmds_supported[SPIO_NVME_OPC_WRITE].bits.lbcc);
	cr_assert(fx->io_cmds_supported[SPIO_NVME_OPC_READ].bits.csupp);
	cr_assert(!fx->io_cmds_supported[SPIO_NVME_OPC_READ].bits.lbcc);
	cpl = get_log(admin, SPIO_NVME_LOG_DISCOVERY, 0, buf, 1024, 0, false);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVME_SC_INVALID_LOG_PAGE,
		      "discovery log from an NVM controller");
	cpl = get_log(admin, SPIO_NVME_LOG_TELEMETRY_HOST_INITIATED, 0, buf, 512, 0, false);
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVME_SC_INVALID_LOG_PAGE,
		      "telemetry");

	conn_end(io);
	conn_end(admin);
	free(fx);
	free(buf);
	ct_tgt_destroy(tgt);
	ct_fini();
}

static void expect_entry(const struct spio_nvmf_discovery_log_page_entry *e, uint8_t subtype,
			 const char *subnqn, const char *traddr, const char *trsvcid)
{
	cr_assert_eq(e->subtype, subtype, "%s: subtype %u, expected %u", subnqn, e->subtype,
		     subtype);
	cr_assert_str_eq(e->subnqn, subnqn);
	cr_assert(padded_eq(e->traddr, sizeof(e->traddr), traddr), "traddr '%.16s'", e->traddr);
	cr_assert(padded_eq(e->trsvcid, sizeof(e->trsvcid), trsvcid), "trsvcid '%.8s'", e->trsvcid);
	cr_assert_eq(e->adrfam, SPIO_NVMF_ADRFAM_IPV4);
	cr_assert_eq(e->cntlid, 0xffff);
	cr_assert_eq(e->asqsz, 128);
	cr_assert_eq(e->treq.secure_channel, SPIO_NVMF_TREQ_SECURE_CHANNEL_NOT_REQUIRED);
}

Test(nvmf_core, discovery_log)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *a, *b, *disc;
	struct spio_nvme_transport_id t4420 = ct_trid(CT_ADDR, CT_SVC),
				      t4421 = ct_trid(CT_ADDR, "4421");
	struct spio_nvmf_discovery_log_page *log = calloc(1, 4 * 1024);
	struct spio_nvme_ctrlr_data *cd = calloc(1, 4096);
	struct ct_conn *dconn;
	struct spio_nvme_cpl cpl;
	struct ct_req *aer;
	uint64_t genctr;

	ct_init("nvmf_discovery", false);
	tgt = ct_tgt_create("t", 1, 0);
	disc = spio_nvmf_subsystem_get_first(tgt);
	a = mk_subsys(tgt, SUBNQN, 0);
	b = spio_nvmf_subsystem_create(tgt, "nqn.2016-06.io.spdk-io:cnode2", 0);
	cr_assert_eq(spio_nvmf_subsystem_add_listener(b, &t4421), 0);
	cr_assert_eq(spio_nvmf_subsystem_add_host(b, HOSTNQN2), 0);
	cr_assert_eq(spio_nvmf_subsystem_add_listener(disc, &t4420), 0);

	/* A discovery controller needs no listener of its own (SPDK allows any). */
	dconn = ct_conn_new(tgt, CT_ADDR, "4421");
	cpl = ct_connect(dconn, 0, 31, 0, 0xffff, SPIO_NVMF_DISCOVERY_NQN, HOSTNQN, NULL);
	expect_ok(&cpl, "discovery connect");
	cpl = ct_prop_set(dconn, SPIO_NVME_REG_CC, 1 | (6 << 16) | (4 << 20));
	expect_ok(&cpl, "enable");
	cpl = identify(dconn, SPIO_NVME_IDENTIFY_CTRLR, 0, cd);
	expect_ok(&cpl, "identify discovery controller");
	cr_assert_eq(cd->cntrltype, SPIO_NVME_CTRLR_TYPE_DISCOVERY);
	cr_assert_str_eq(cd->subnqn, SPIO_NVMF_DISCOVERY_NQN);
	cr_assert(cd->oaes & SPIO_NVME_OAES_DISCOVERY_LOG_CHANGE_NOTICES);
	cr_assert_eq(cd->vid, 0, "NVM fields stay zero for discovery");
	cpl = identify(dconn, SPIO_NVME_IDENTIFY_NS, 1, cd);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
		      "identify namespace of a discovery controller");
	cpl = features(dconn, false, SPIO_NVME_FEAT_KEEP_ALIVE_TIMER, 0);
	cr_assert_eq(cpl.cdw0, 120000, "discovery without KATO: 2 minutes, got %u", cpl.cdw0);
	cpl = features(dconn, false, SPIO_NVME_FEAT_NUMBER_OF_QUEUES, 0);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
		      "number of queues on discovery");

	/* HOSTNQN sees the discovery subsystem and cnode1, not cnode2. */
	cpl = get_log(dconn, SPIO_NVME_LOG_DISCOVERY, 0, log, 4096, 0, false);
	expect_ok(&cpl, "discovery log");
	cr_assert_eq(log->numrec, 2, "expected 2 records, got %lu", (unsigned long)log->numrec);
	cr_assert_eq(log->recfmt, 0);
	expect_entry(&log->entries[0], SPIO_NVMF_SUBTYPE_DISCOVERY_CURRENT, SPIO_NVMF_DISCOVERY_NQN,
		     CT_ADDR, CT_SVC);
	cr_assert_eq(log->entries[0].eflags, SPIO_NVMF_DISCOVERY_LOG_EFLAGS_DUPRETINFO |
						 SPIO_NVMF_DISCOVERY_LOG_EFLAGS_EPCSD);
	expect_entry(&log->entries[1], SPIO_NVMF_SUBTYPE_NVME, SUBNQN, CT_ADDR, CT_SVC);
	cr_assert_eq(log->entries[1].eflags, 0);
	cr_assert_eq(log->entries[0].portid, log->entries[1].portid, "one address, one port ID");
	genctr = log->genctr;

	/* Header alone, then one entry by offset; past the end is refused. */
	memset(log, 0xff, 4096);
	cpl = get_log(dconn, SPIO_NVME_LOG_DISCOVERY, 0, log, 1024, 0, false);
	expect_ok(&cpl, "discovery header");
	cr_assert_eq(log->numrec, 2);
	cpl = get_log(dconn, SPIO_NVME_LOG_DISCOVERY, 0, log, 1024, 2048, false);
	expect_ok(&cpl, "second entry");
	cr_assert_str_eq(((struct spio_nvmf_discovery_log_page_entry *)log)->subnqn, SUBNQN);
	memset(log, 0xff, 4096);
	cpl = get_log(dconn, SPIO_NVME_LOG_DISCOVERY, 0, log, 2048, 2048, false);
	expect_ok(&cpl, "beyond the last entry");
	cr_assert_eq(((uint8_t *)log)[1500], 0, "past the page reads as zero");
	cpl = get_log(dconn, SPIO_NVME_LOG_DISCOVERY, 0, log, 1024, 3072, false);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
		      "offset at the end of the log");

	/* Allowing HOSTNQN on cnode2 adds its listener and moves genctr. */
	cr_assert_eq(spio_nvmf_subsystem_add_host(b, HOSTNQN), 0);
	cpl = get_log(dconn, SPIO_NVME_LOG_DISCOVERY, 0, log, 4096, 0, false);
	cr_assert_eq(log->numrec, 3);
	cr_assert(log->genctr > genctr, "genctr: %lu then %lu", (unsigned long)genctr,
		  (unsigned long)log->genctr);
	expect_entry(&log->entries[2], SPIO_NVMF_SUBTYPE_NVME, "nqn.2016-06.io.spdk-io:cnode2",
		     CT_ADDR, "4421");
	cr_assert_neq(log->entries[2].portid, log->entries[1].portid, "another address, port");

	/* A discovery controller without KATO asked for no log change events. */
	aer = aer_submit(dconn);
	cr_assert_eq(spio_nvmf_subsystem_remove_listener(a, &t4420), 0);
	ct_poll_for(20000);
	cr_assert_eq(aer->done, 0, "no discovery log event without a persistent connection");
	ct_conn_drop(dconn);
	cr_assert(ct_wait(aer), "the held AER ends with its queue");
	expect_status(&aer->cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_ABORTED_SQ_DELETION,
		      "AER at disconnect");
	ct_req_put(aer);
	ct_conn_free(dconn);

	/* With KATO the host gets them. */
	ct_clock_start(1ull << 40);
	dconn = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	cpl = ct_connect(dconn, 0, 31, 30000, 0xffff, SPIO_NVMF_DISCOVERY_NQN, HOSTNQN, NULL);
	expect_ok(&cpl, "persistent discovery connect");
	ct_prop_set(dconn, SPIO_NVME_REG_CC, 1 | (6 << 16) | (4 << 20));
	aer = aer_submit(dconn);
	cr_assert_eq(spio_nvmf_subsystem_add_listener(a, &t4420), 0);
	cr_assert(ct_wait(aer), "discovery log change event");
	expect_ok(&aer->cpl, "AER");
	cr_assert_eq(aer->cpl.cdw0, 0x0070f002u, "notice / discovery log change / LID 70h: %#x",
		     aer->cpl.cdw0);
	ct_req_put(aer);
	conn_end(dconn);
	ct_tgt_destroy(tgt);
	free(log);
	free(cd);
	ct_fini();
}

/*
 * Asynchronous events on namespace changes
 */

Test(nvmf_core, aer_namespace_changes)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin;
	struct ct_req *aers[5];
	struct spio_nvme_ns_list *list = calloc(1, 4096);
	struct spio_nvme_cpl cpl;
	int done;

	ct_init("nvmf_aer", false);
	tgt = ct_tgt_create("t", 2, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("M0", 64, 512);
	mk_malloc("M1", 64, 512);
	mk_malloc("M2", 64, 512);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, NULL);

	/* Four are held (AERL 3); the fifth is refused. */
	for (int i = 0; i < 4; i++) {
		aers[i] = aer_submit(admin);
	}
	ct_poll_for(10000);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(aers[i]->done, 0, "AER %d held", i);
	}
	aers[4] = aer_submit(admin);
	cr_assert(ct_wait(aers[4]));
	expect_status(&aers[4]->cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC,
		      SPIO_NVME_SC_ASYNC_EVENT_REQUEST_LIMIT_EXCEEDED, "fifth AER");
	ct_req_put(aers[4]);

	/* A namespace appears: one AER completes, the log names it, reading clears it. */
	cr_assert_eq(add_ns(s, "M0", 4), 4);
	cr_assert(ct_poll_until(&aers[0]->done, 1, CT_TIMEOUT_US), "AER after namespace add");
	expect_ok(&aers[0]->cpl, "AER");
	cr_assert_eq(aers[0]->cpl.cdw0, 0x00040002u,
		     "notice / namespace attribute changed / LID 04h: got %#x", aers[0]->cpl.cdw0);
	ct_poll_for(10000);
	done = aers[1]->done + aers[2]->done + aers[3]->done;
	cr_assert_eq(done, 0, "one event, one AER: %d more completed", done);
	ct_req_put(aers[0]);

	/* Until the log is read (RAE 0), no new notice: the change is only logged. */
	cr_assert_eq(add_ns(s, "M1", 2), 2);
	ct_poll_for(10000);
	cr_assert_eq(aers[1]->done, 0, "notice masked until the log is read");
	cpl = get_log(admin, SPIO_NVME_LOG_CHANGED_NS_LIST, 0, list, 4096, 0, false);
	expect_ok(&cpl, "changed namespace list");
	cr_assert(list->ns_list[0] == 2 && list->ns_list[1] == 4 && list->ns_list[2] == 0,
		  "changed: expected 2 4, got %u %u %u", list->ns_list[0], list->ns_list[1],
		  list->ns_list[2]);
	cpl = get_log(admin, SPIO_NVME_LOG_CHANGED_NS_LIST, 0, list, 4096, 0, false);
	cr_assert_eq(list->ns_list[0], 0, "the list clears when read");

	/* Unmasked now: a removal is a new event. */
	remove_ns(s, 4);
	cr_assert(ct_poll_until(&aers[1]->done, 1, CT_TIMEOUT_US), "AER after namespace remove");
	cr_assert_eq(aers[1]->cpl.cdw0, 0x00040002u);
	ct_req_put(aers[1]);
	/* Read with RAE 1: the list is read but events stay masked. */
	cpl = get_log(admin, SPIO_NVME_LOG_CHANGED_NS_LIST, 0, list, 4096, 0, true);
	cr_assert_eq(list->ns_list[0], 4);
	cr_assert_eq(add_ns(s, "M2", 0), 1);
	ct_poll_for(10000);
	cr_assert_eq(aers[2]->done, 0, "RAE kept the notice masked");

	/* Events disabled by Async Event Configuration are only logged. */
	cpl = get_log(admin, SPIO_NVME_LOG_CHANGED_NS_LIST, 0, list, 4096, 0, false);
	cr_assert_eq(list->ns_list[0], 1);
	cpl = features(admin, true, SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION, 0);
	remove_ns(s, 1);
	ct_poll_for(10000);
	cr_assert_eq(aers[2]->done, 0, "notices turned off");
	cpl = get_log(admin, SPIO_NVME_LOG_CHANGED_NS_LIST, 0, list, 4096, 0, false);
	cr_assert_eq(list->ns_list[0], 1, "still logged");

	/* A queued event answers the next AER at once. */
	cpl = features(admin, true, SPIO_NVME_FEAT_ASYNC_EVENT_CONFIGURATION, 1u << 8);
	ct_conn_drop(admin);
	cr_assert(ct_wait(aers[2]) && ct_wait(aers[3]), "held AERs end with the queue");
	expect_status(&aers[2]->cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_ABORTED_SQ_DELETION,
		      "AER at disconnect");
	ct_req_put(aers[2]);
	ct_req_put(aers[3]);
	ct_conn_free(admin);

	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, NULL);
	cr_assert_eq(add_ns(s, "M0", 0), 1);
	ct_poll_for(10000);
	aers[0] = aer_submit(admin);
	cr_assert(ct_wait(aers[0]), "pending event answers the AER");
	cr_assert_eq(aers[0]->cpl.cdw0, 0x00040002u);
	ct_req_put(aers[0]);
	conn_end(admin);
	free(list);
	ct_tgt_destroy(tgt);
	ct_fini();
}

/*
 * I/O
 */

Test(nvmf_core, io_malloc)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io;
	struct spio_nvme_cpl cpl;
	struct spio_nvme_cmd cmd;
	uint8_t *w = malloc(8192), *r = malloc(8192);
	struct spio_nvme_dsm_range ranges[2];
	uint16_t cntlid;

	ct_init("nvmf_io", false);
	tgt = ct_tgt_create("t", 1, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("M0", 2048, 512);
	add_ns(s, "M0", 1);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	io = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);

	for (int i = 0; i < 8192; i++) {
		w[i] = (uint8_t)(i * 7 + 3);
	}
	cmd = rw_cmd(SPIO_NVME_OPC_WRITE, 1, 16, 16);
	cpl = ct_run(io, &cmd, w, 8192, SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	expect_ok(&cpl, "write 16 blocks");
	cr_assert_eq(cpl.cid, 7);
	cr_assert_eq(cpl.sqid, 1, "SQID of the I/O queue");
	cmd = rw_cmd(SPIO_NVME_OPC_READ, 1, 16, 16);
	cpl = ct_run(io, &cmd, r, 8192, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
	expect_ok(&cpl, "read back");
	cr_assert_eq(memcmp(w, r, 8192), 0, "data read back differs");

	cmd = rw_cmd(SPIO_NVME_OPC_COMPARE, 1, 16, 16);
	cpl = ct_run(io, &cmd, w, 8192, SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	expect_ok(&cpl, "compare equal");
	w[100] ^= 1;
	cpl = ct_run(io, &cmd, w, 8192, SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	expect_status(&cpl, SPIO_NVME_SCT_MEDIA_ERROR, SPIO_NVME_SC_COMPARE_FAILURE, "miscompare");
	w[100] ^= 1;

	/* FUA write and flush. */
	cmd = rw_cmd(SPIO_NVME_OPC_WRITE, 1, 100, 1);
	cmd.cdw12 |= 1u << 30;
	cpl = ct_run(io, &cmd, w, 512, SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	expect_ok(&cpl, "FUA write");
	cmd = rw_cmd(SPIO_NVME_OPC_READ, 1, 100, 1);
	cpl = ct_run(io, &cmd, r, 512, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
	cr_assert_eq(memcmp(w, r, 512), 0);
	cmd = rw_cmd(SPIO_NVME_OPC_FLUSH, 1, 0, 1);
	cmd.cdw12 = 0;
	cpl = ct_run(io, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
	expect_ok(&cpl, "flush");

	/* Write zeroes over blocks 16-19, deallocate 24-27: both read back as zeroes. */
	cmd = rw_cmd(SPIO_NVME_OPC_WRITE_ZEROES, 1, 16, 4);
	cpl = ct_run(io, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
	expect_ok(&cpl, "write zeroes");
	memset(ranges, 0, sizeof(ranges));
	ranges[0].starting_lba = 24;
	ranges[0].length = 4;
	ranges[1].starting_lba = 500;
	ranges[1].length = 0; /* empty ranges are skipped */
	cmd = admin_cmd(SPIO_NVME_OPC_DATASET_MANAGEMENT, 1, 1, SPIO_NVME_DSM_ATTR_DEALLOCATE);
	cpl = ct_run(io, &cmd, ranges, sizeof(ranges), SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	expect_ok(&cpl, "deallocate");
	cmd = rw_cmd(SPIO_NVME_OPC_READ, 1, 16, 16);
	cpl = ct_run(io, &cmd, r, 8192, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
	for (int i = 0; i < 16; i++) {
		bool zero = (i < 4) || (i >= 8 && i < 12);

		for (int j = 0; j < 512; j++) {
			uint8_t want = zero ? 0 : w[i * 512 + j];

			cr_assert_eq(r[i * 512 + j], want,
				     "block %d byte %d: expected %#x, got %#x", 16 + i, j, want,
				     r[i * 512 + j]);
		}
	}
	/* Deallocate hints only: nothing happens. */
	cmd = admin_cmd(SPIO_NVME_OPC_DATASET_MANAGEMENT, 1, 0, SPIO_NVME_DSM_ATTR_INTEGRAL_READ);
	cpl = ct_run(io, &cmd, ranges, 16, SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	expect_ok(&cpl, "DSM without deallocate");

	conn_end(io);
	conn_end(admin);
	free(w);
	free(r);
	ct_tgt_destroy(tgt);
	ct_fini();
}

Test(nvmf_core, io_errors)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io;
	struct spio_nvme_cpl cpl;
	struct spio_nvme_cmd cmd;
	struct spio_nvme_dsm_range ranges[2];
	uint8_t *buf = calloc(1, 8192);
	uint16_t cntlid;
	static const uint32_t bad_nsids[] = {0, 2, 33, SPIO_NVME_GLOBAL_NS_TAG};

	ct_init("nvmf_io_errors", false);
	tgt = ct_tgt_create("t", 1, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("M0", 2048, 512);
	add_ns(s, "M0", 1);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	io = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);

	for (size_t i = 0; i < SPIO_COUNTOF(bad_nsids); i++) {
		cmd = rw_cmd(SPIO_NVME_OPC_READ, bad_nsids[i], 0, 1);
		cpl = ct_run(io, &cmd, buf, 512, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
		expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT,
			      "read of a namespace that is not there");
		cr_assert_eq(cpl.status.dnr, 1, "nsid %#x: DNR", bad_nsids[i]);
	}
	cmd = rw_cmd(SPIO_NVME_OPC_READ, 1, 2047, 2);
	cpl = ct_run(io, &cmd, buf, 1024, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_LBA_OUT_OF_RANGE,
		      "read across the end");
	cmd = rw_cmd(SPIO_NVME_OPC_WRITE, 1, UINT64_MAX, 1);
	cpl = ct_run(io, &cmd, buf, 512, SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_LBA_OUT_OF_RANGE,
		      "write at LBA 2^64-1");
	cmd = rw_cmd(SPIO_NVME_OPC_WRITE_ZEROES, 1, 2040, 9);
	cpl = ct_run(io, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_LBA_OUT_OF_RANGE,
		      "write zeroes across the end");
	cmd = rw_cmd(SPIO_NVME_OPC_WRITE_ZEROES, 1, 0, 1);
	cmd.cdw12 |= 1u << 25;
	cpl = ct_run(io, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD,
		      "write zeroes with deallocate");

	/* The SGL must carry exactly NLB blocks. */
	cmd = rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 8);
	cpl = ct_run(io, &cmd, buf, 2048, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID,
		      "8 blocks into 2 KiB");
	cmd = rw_cmd(SPIO_NVME_OPC_WRITE, 1, 0, 1);
	cpl = ct_run(io, &cmd, buf, 1024, SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID,
		      "1 block from 1 KiB");

	/* DSM: every range is checked before any is deallocated. */
	memset(ranges, 0, sizeof(ranges));
	ranges[0].starting_lba = 0;
	ranges[0].length = 8;
	ranges[1].starting_lba = 2000;
	ranges[1].length = 100;
	cmd = admin_cmd(SPIO_NVME_OPC_DATASET_MANAGEMENT, 1, 1, SPIO_NVME_DSM_ATTR_DEALLOCATE);
	cpl = ct_run(io, &cmd, ranges, sizeof(ranges), SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_LBA_OUT_OF_RANGE,
		      "range across the end");
	cmd = admin_cmd(SPIO_NVME_OPC_DATASET_MANAGEMENT, 1, 3, SPIO_NVME_DSM_ATTR_DEALLOCATE);
	cpl = ct_run(io, &cmd, ranges, sizeof(ranges), SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_DATA_SGL_LENGTH_INVALID,
		      "4 ranges in 32 bytes");

	cmd = rw_cmd(0x7e, 1, 0, 1);
	cpl = ct_run(io, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE, "opcode 7Eh");
	cr_assert_eq(cpl.status.dnr, 1);
	cmd = rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 1);
	cmd.fuse = SPIO_NVME_CMD_FUSE_FIRST;
	cpl = ct_run(io, &cmd, buf, 512, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_FIELD, "fused command");
	cmd = admin_cmd(SPIO_NVME_OPC_FABRIC, 0, 0, 0);
	((struct spio_nvmf_capsule_cmd *)&cmd)->fctype = SPIO_NVMF_FABRIC_COMMAND_PROPERTY_GET;
	cpl = ct_run(io, &cmd, NULL, 0, SPIO_NVME_DATA_NONE);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_OPCODE,
		      "property get on an I/O queue");

	conn_end(io);
	conn_end(admin);
	free(buf);
	ct_tgt_destroy(tgt);
	ct_fini();
}

/*
 * Keep-alive, reset, shutdown
 */

Test(nvmf_core, keep_alive_timeout)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io, *quiet;
	struct spio_nvme_cmd ka = admin_cmd(SPIO_NVME_OPC_KEEP_ALIVE, 0, 0, 0);
	struct spio_nvme_cpl cpl;
	uint16_t cntlid;

	ct_init("nvmf_kato", false);
	ct_clock_start(1ull << 40);
	tgt = ct_tgt_create("t", 2, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 1000, &cntlid);
	io = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);
	/* A second host that never sends keep alive but has no KATO. */
	quiet = ct_admin_up(tgt, SUBNQN, HOSTNQN2, 0, NULL);

	/* Keep alive within KATO keeps the controller. */
	for (int i = 0; i < 4; i++) {
		ct_clock_add_ms(700);
		cpl = ct_run(admin, &ka, NULL, 0, SPIO_NVME_DATA_NONE);
		expect_ok(&cpl, "keep alive");
	}
	/* The timer is looked at every 100 ms: give it a few looks. */
	ct_poll_for(350000);
	cr_assert_eq(admin->closed + io->closed, 0, "closed though the host kept alive");

	/* Silent for more than KATO: every queue of the controller is closed. */
	ct_clock_add_ms(1100);
	cr_assert(ct_poll_until(&admin->closed, 1, CT_TIMEOUT_US), "admin queue not closed");
	cr_assert(ct_poll_until(&io->closed, 1, CT_TIMEOUT_US), "I/O queue not closed");
	ct_conn_free(admin);
	ct_conn_free(io);
	wait_ctrlrs(s, 1);
	cr_assert_eq(quiet->closed, 0, "a controller without KATO stays");
	conn_end(quiet);
	ct_tgt_destroy(tgt);
	ct_fini();
}

static uint32_t csts_of(struct ct_conn *admin)
{
	uint64_t v = 0;
	struct spio_nvme_cpl cpl = ct_prop_get(admin, SPIO_NVME_REG_CSTS, 4, &v);

	expect_ok(&cpl, "CSTS");
	return (uint32_t)v;
}

static bool wait_csts(struct ct_conn *admin, uint32_t mask, uint32_t want)
{
	for (int i = 0; i < 2000; i++) {
		if ((csts_of(admin) & mask) == want) {
			return true;
		}
		ct_poll_for(1000);
	}
	return false;
}

Test(nvmf_core, cc_reset_and_shutdown)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io;
	struct spio_nvme_cpl cpl;
	uint16_t cntlid;
	uint64_t cc;

	ct_init("nvmf_cc", false);
	tgt = ct_tgt_create("t", 2, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	io = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);

	/* Reset: the I/O queues go, then CC and CSTS read 0. */
	cpl = ct_prop_set(admin, SPIO_NVME_REG_CC, (6 << 16) | (4 << 20));
	expect_ok(&cpl, "CC.EN 0");
	cr_assert(ct_poll_until(&io->closed, 1, CT_TIMEOUT_US), "reset closes the I/O queue");
	ct_conn_free(io);
	cr_assert(wait_csts(admin, 1, 0), "CSTS.RDY stays 1 after reset");
	ct_prop_get(admin, SPIO_NVME_REG_CC, 4, &cc);
	cr_assert_eq(cc, 0, "CC after reset: got %#lx", (unsigned long)cc);
	cr_assert_eq(ctrlr_count(s), 1, "the association survives a reset");

	/* Enabled again, an I/O queue may use qid 1 again; then a normal shutdown. */
	cpl = ct_prop_set(admin, SPIO_NVME_REG_CC, 1 | (6 << 16) | (4 << 20));
	cr_assert(wait_csts(admin, 1, 1));
	io = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);
	cpl = ct_prop_set(admin, SPIO_NVME_REG_CC, 1 | (1 << 14) | (6 << 16) | (4 << 20));
	expect_ok(&cpl, "CC.SHN normal");
	cr_assert(ct_poll_until(&io->closed, 1, CT_TIMEOUT_US), "shutdown closes the I/O queue");
	ct_conn_free(io);
	cr_assert(wait_csts(admin, 0xc, SPIO_NVME_SHST_COMPLETE << 2), "SHST complete: CSTS %#x",
		  csts_of(admin));
	cpl = ct_prop_set(admin, SPIO_NVME_REG_CC, 1 | (3 << 14) | (6 << 16) | (4 << 20));
	expect_status(&cpl, SPIO_NVME_SCT_COMMAND_SPECIFIC, SPIO_NVMF_FABRIC_SC_INVALID_PARAM,
		      "SHN 11b");
	conn_end(admin);
	wait_ctrlrs(s, 0);
	ct_tgt_destroy(tgt);
	ct_fini();
}

/*
 * Removal with hosts connected
 */

Test(nvmf_core, remove_ns_in_flight)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io;
	struct spio_nvme_cmd cmd = rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 8);
	struct spio_nvme_cpl cpl;
	struct ct_req *reads[4], *aer;
	struct op_wait w = {0};
	uint16_t cntlid;
	int rc;

	ct_init("nvmf_rm_ns", false);
	tgt = ct_tgt_create("t", 1, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("M0", 2048, 512);
	add_ns(s, "M0", 1);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	io = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);
	aer = aer_submit(admin);

	/* Reads queued before the removal: they run on the channel and finish first. */
	for (int i = 0; i < 4; i++) {
		reads[i] = ct_submit(io, &cmd, NULL, 4096, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
	}
	rc = spio_nvmf_subsystem_remove_ns(s, 1, op_done, &w);
	cr_assert_eq(rc, 0);
	cr_assert_null(spio_nvmf_subsystem_get_ns(s, 1), "gone for hosts at once");
	cr_assert(ct_poll_until(&w.done, 1, CT_TIMEOUT_US), "removal did not complete");
	for (int i = 0; i < 4; i++) {
		cr_assert(ct_wait(reads[i]));
		expect_ok(&reads[i]->cpl, "read in flight at removal");
		ct_req_put(reads[i]);
	}
	cr_assert(ct_wait(aer), "namespace removal event");
	cr_assert_eq(aer->cpl.cdw0, 0x00040002u);
	ct_req_put(aer);
	cpl = ct_run(io, &cmd, NULL, 4096, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
	expect_status(&cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT,
		      "read after removal");

	/* The bdev is released: it can be added again. */
	cr_assert_eq(add_ns(s, "M0", 1), 1);
	cpl = ct_run(io, &cmd, NULL, 4096, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
	expect_ok(&cpl, "read after the namespace came back");
	conn_end(io);
	conn_end(admin);
	ct_tgt_destroy(tgt);
	ct_fini();
}

static void bdev_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
}

static void deleted(void *arg, int rc)
{
	struct op_wait *w = arg;

	w->status = rc;
	__atomic_fetch_add(&w->done, 1, __ATOMIC_SEQ_CST);
}

Test(nvmf_core, subsystem_destroy_connected)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io, *raw;
	struct spio_nvme_cmd cmd = rw_cmd(SPIO_NVME_OPC_WRITE, 1, 0, 8);
	struct ct_req *writes[3];
	struct spio_bdev_desc *desc = NULL;
	struct op_wait w = {0};
	uint16_t cntlid;

	ct_init("nvmf_rm_subsys", false);
	tgt = ct_tgt_create("t", 2, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("M0", 2048, 512);
	add_ns(s, "M0", 1);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	io = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);
	raw = ct_conn_new(tgt, CT_ADDR, CT_SVC); /* never connects: not the subsystem's */
	for (int i = 0; i < 3; i++) {
		writes[i] = ct_submit(io, &cmd, NULL, 4096, SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	}
	cr_assert_eq(spio_nvmf_subsystem_destroy(s, op_done, &w), 0);
	cr_assert_eq(spio_nvmf_subsystem_destroy(s, op_done, &w), -EBUSY);
	cr_assert(ct_poll_until(&w.done, 1, CT_TIMEOUT_US), "destroy did not complete");
	cr_assert_null(spio_nvmf_tgt_find_subsystem(tgt, SUBNQN));
	for (int i = 0; i < 3; i++) {
		/* Each command completes or fails, once. */
		cr_assert(ct_wait(writes[i]));
		ct_req_put(writes[i]);
	}
	cr_assert(admin->closed == 1 && io->closed == 1, "queues closed: admin %d io %d",
		  admin->closed, io->closed);
	ct_conn_free(admin);
	ct_conn_free(io);
	cr_assert_eq(raw->closed, 0);

	/* The bdev is no longer claimed. */
	cr_assert_eq(spio_bdev_open_ext("M0", true, bdev_event, NULL, &desc), 0,
		     "bdev still claimed after its subsystem went");
	spio_bdev_close(desc);
	cr_assert_eq(g_ct.stop_listens, 1, "the listener stopped with its last subsystem");
	conn_end(raw);

	/* The NQN can be created again. */
	s = mk_subsys(tgt, SUBNQN, 0);
	cr_assert_not_null(s);
	ct_tgt_destroy(tgt);
	ct_fini();
}

Test(nvmf_core, tgt_destroy_connected)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io, *raw, *disc;
	struct spio_nvme_cmd cmd = rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 8);
	struct ct_req *reads[3], *aer;
	struct spio_nvme_cpl cpl;
	struct spio_bdev_desc *desc = NULL;
	uint16_t cntlid;

	ct_init("nvmf_rm_tgt", false);
	tgt = ct_tgt_create("t", 2, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("M0", 2048, 512);
	add_ns(s, "M0", 1);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	io = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);
	raw = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	disc = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	cpl = ct_connect(disc, 0, 31, 0, 0xffff, SPIO_NVMF_DISCOVERY_NQN, HOSTNQN, NULL);
	expect_ok(&cpl, "discovery connect");
	aer = aer_submit(admin);
	for (int i = 0; i < 3; i++) {
		reads[i] = ct_submit(io, &cmd, NULL, 4096, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
	}
	ct_tgt_destroy(tgt);
	for (int i = 0; i < 3; i++) {
		cr_assert(ct_wait(reads[i]));
		ct_req_put(reads[i]);
	}
	cr_assert(ct_wait(aer));
	expect_status(&aer->cpl, SPIO_NVME_SCT_GENERIC, SPIO_NVME_SC_ABORTED_SQ_DELETION,
		      "AER at target destruction");
	ct_req_put(aer);
	cr_assert(admin->closed && io->closed && raw->closed && disc->closed,
		  "every connection closed: %d %d %d %d", admin->closed, io->closed, raw->closed,
		  disc->closed);
	ct_conn_free(admin);
	ct_conn_free(io);
	ct_conn_free(raw);
	ct_conn_free(disc);
	cr_assert_eq(g_ct.destroyed, 1, "transport destroyed");
	cr_assert_eq(g_ct.groups_created, g_ct.groups_destroyed,
		     "transport poll groups: %d created, %d destroyed", g_ct.groups_created,
		     g_ct.groups_destroyed);
	cr_assert_eq(spio_bdev_open_ext("M0", true, bdev_event, NULL, &desc), 0,
		     "bdev released at target destruction");
	spio_bdev_close(desc);
	ct_fini();
}

Test(nvmf_core, remove_host_and_listener)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *a1, *a2;
	struct spio_nvme_transport_id trid = ct_trid(CT_ADDR, CT_SVC);

	ct_init("nvmf_rm_host", false);
	tgt = ct_tgt_create("t", 1, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	spio_nvmf_subsystem_set_allow_any_host(s, false);
	cr_assert_eq(spio_nvmf_subsystem_add_host(s, HOSTNQN), 0);
	cr_assert_eq(spio_nvmf_subsystem_add_host(s, HOSTNQN2), 0);
	a1 = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, NULL);
	a2 = ct_admin_up(tgt, SUBNQN, HOSTNQN2, 0, NULL);
	cr_assert_eq(spio_nvmf_subsystem_remove_host(s, HOSTNQN), 0);
	cr_assert(ct_poll_until(&a1->closed, 1, CT_TIMEOUT_US), "removed host not disconnected");
	ct_conn_free(a1);
	cr_assert_eq(a2->closed, 0, "the other host stays");
	cr_assert_eq(spio_nvmf_subsystem_remove_listener(s, &trid), 0);
	cr_assert(ct_poll_until(&a2->closed, 1, CT_TIMEOUT_US), "listener removal disconnects");
	ct_conn_free(a2);
	wait_ctrlrs(s, 0);
	ct_tgt_destroy(tgt);
	ct_fini();
}

static void got_qpairs(void *arg, const struct spio_nvmf_qpair_info *q, uint32_t count, int status)
{
	struct spio_nvmf_qpair_info *out = arg;

	cr_assert_eq(status, 0);
	cr_assert_eq(count, 3, "expected 3 queue pairs, got %u", count);
	memcpy(out, q, 3 * sizeof(*q));
	out[3].qid = 0xabcd; /* done */
}

struct stats_out {
	int done;
	uint32_t count;
	struct spio_nvmf_poll_group_stat s[4];
};

static void got_stats(void *arg, const struct spio_nvmf_poll_group_stat *st, uint32_t count,
		      int status)
{
	struct stats_out *out = arg;

	cr_assert_eq(status, 0);
	out->count = count;
	memcpy(out->s, st, SPIO_MIN(count, 4u) * sizeof(*st));
	out->done = 1;
}

Test(nvmf_core, qpairs_and_stats)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io1, *io2, *raw;
	struct spio_nvmf_qpair_info q[4];
	struct stats_out st = {0};
	struct spio_nvme_cmd cmd = rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 1);
	uint32_t admin_q = 0, io_q = 0, cur_io = 0, unassoc = 0;
	uint64_t completed = 0;
	uint16_t cntlid;

	ct_init("nvmf_stats", false);
	tgt = ct_tgt_create("t", 2, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("M0", 64, 512);
	add_ns(s, "M0", 1);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	io1 = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);
	io2 = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 2);
	raw = ct_conn_new(tgt, CT_ADDR, CT_SVC);
	for (int i = 0; i < 5; i++) {
		struct spio_nvme_cpl cpl =
		    ct_run(i % 2 ? io1 : io2, &cmd, NULL, 512, SPIO_NVME_DATA_CONTROLLER_TO_HOST);

		expect_ok(&cpl, "read");
	}

	memset(q, 0, sizeof(q));
	cr_assert_eq(spio_nvmf_subsystem_get_qpairs(s, got_qpairs, q), 0);
	for (int i = 0; i < 100000 && q[3].qid != 0xabcd; i++) {
		ct_poll();
	}
	cr_assert_eq(q[3].qid, 0xabcd, "get_qpairs did not answer");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(q[i].cntlid, cntlid);
		cr_assert_str_eq(q[i].state, "enabled");
		cr_assert_str_eq(q[i].hostnqn, HOSTNQN);
		cr_assert(strncmp(q[i].thread, "nvmf_tgt_poll_group_", 20) == 0, "thread '%s'",
			  q[i].thread);
		cr_assert_str_eq(q[i].listen_trid.traddr, CT_ADDR);
		cr_assert_str_eq(q[i].peer_trid.traddr, "10.9.9.9");
	}
	cr_assert_eq(q[0].qid + q[1].qid + q[2].qid, 3, "qids 0, 1, 2");

	cr_assert_eq(spio_nvmf_tgt_get_stats(tgt, got_stats, &st), 0);
	cr_assert(ct_poll_until(&st.done, 1, CT_TIMEOUT_US));
	cr_assert_eq(st.count, 2);
	for (uint32_t i = 0; i < st.count; i++) {
		char want[64];

		snprintf(want, sizeof(want), "nvmf_tgt_poll_group_%03u", i);
		cr_assert_str_eq(st.s[i].name, want);
		admin_q += st.s[i].current_admin_qpairs;
		io_q += st.s[i].io_qpairs;
		cur_io += st.s[i].current_io_qpairs;
		unassoc += st.s[i].current_unassociated_qpairs;
		completed += st.s[i].completed_nvme_io;
	}
	cr_assert_eq(admin_q, 1);
	cr_assert_eq(io_q, 2);
	cr_assert_eq(cur_io, 2);
	cr_assert_eq(unassoc, 1, "the connection without connect");
	cr_assert_eq(completed, 5 + 2, "5 reads and the 2 I/O connects: got %lu",
		     (unsigned long)completed);

	conn_end(io1);
	conn_end(raw);
	memset(&st, 0, sizeof(st));
	cr_assert_eq(spio_nvmf_tgt_get_stats(tgt, got_stats, &st), 0);
	cr_assert(ct_poll_until(&st.done, 1, CT_TIMEOUT_US));
	cur_io = st.s[0].current_io_qpairs + st.s[1].current_io_qpairs;
	io_q = st.s[0].io_qpairs + st.s[1].io_qpairs;
	unassoc = st.s[0].current_unassociated_qpairs + st.s[1].current_unassociated_qpairs;
	cr_assert(cur_io == 1 && io_q == 2 && unassoc == 0, "after two ends: %u %u %u", cur_io,
		  io_q, unassoc);
	conn_end(io2);
	conn_end(admin);
	ct_tgt_destroy(tgt);
	ct_fini();
}

Test(nvmf_core, bdev_hot_remove)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin;
	struct ct_req *aer;
	struct op_wait w = {0};
	struct spio_nvme_ns_list *list = calloc(1, 4096);
	struct spio_nvme_cpl cpl;

	ct_init("nvmf_hot_remove", false);
	tgt = ct_tgt_create("t", 2, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("HR0", 64, 512);
	add_ns(s, "HR0", 3);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, NULL);
	aer = aer_submit(admin);
	cr_assert_eq(spio_bdev_malloc_delete("HR0", deleted, &w), 0);
	cr_assert(ct_poll_until(&w.done, 1, CT_TIMEOUT_US), "bdev delete waits for the namespace");
	cr_assert_eq(w.status, 0);
	cr_assert(ct_wait(aer), "event for the namespace that went");
	ct_req_put(aer);
	cr_assert_null(spio_nvmf_subsystem_get_ns(s, 3));
	cpl = identify(admin, SPIO_NVME_IDENTIFY_ACTIVE_NS_LIST, 0, list);
	expect_ok(&cpl, "active namespace list");
	cr_assert_eq(list->ns_list[0], 0, "no active namespace left");
	conn_end(admin);
	free(list);
	ct_tgt_destroy(tgt);
	ct_fini();
}

/*
 * The poll groups on their own OS thread (what TSan checks)
 */

Test(nvmf_core, threaded_io)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io[2];
	struct ct_req *aer, *reqs[2][8];
	uint8_t *w = malloc(4096), *r = malloc(4096);
	uint16_t cntlid;

	ct_init("nvmf_threaded", true);
	tgt = ct_tgt_create("t", 2, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("M0", 4096, 512);
	add_ns(s, "M0", 1);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	io[0] = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 1);
	io[1] = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, 2);
	aer = aer_submit(admin);

	for (int round = 0; round < 4; round++) {
		for (int q = 0; q < 2; q++) {
			for (int i = 0; i < 8; i++) {
				struct spio_nvme_cmd cmd =
				    rw_cmd(SPIO_NVME_OPC_WRITE, 1, (uint64_t)(q * 8 + i) * 8, 8);

				memset(w, round * 16 + q * 8 + i, 4096);
				reqs[q][i] = ct_submit(io[q], &cmd, w, 4096,
						       SPIO_NVME_DATA_HOST_TO_CONTROLLER);
			}
		}
		for (int q = 0; q < 2; q++) {
			for (int i = 0; i < 8; i++) {
				cr_assert(ct_wait(reqs[q][i]));
				expect_ok(&reqs[q][i]->cpl, "write");
				ct_req_put(reqs[q][i]);
			}
		}
		for (int q = 0; q < 2; q++) {
			for (int i = 0; i < 8; i++) {
				struct spio_nvme_cmd cmd =
				    rw_cmd(SPIO_NVME_OPC_READ, 1, (uint64_t)(q * 8 + i) * 8, 8);
				struct spio_nvme_cpl cpl = ct_run(
				    io[1 - q], &cmd, r, 4096, SPIO_NVME_DATA_CONTROLLER_TO_HOST);

				expect_ok(&cpl, "read");
				memset(w, round * 16 + q * 8 + i, 4096);
				cr_assert_eq(memcmp(w, r, 4096), 0, "round %d block %d differs",
					     round, q * 8 + i);
			}
		}
	}
	mk_malloc("M1", 64, 512);
	add_ns(s, "M1", 2);
	cr_assert(ct_wait(aer));
	cr_assert_eq(aer->cpl.cdw0, 0x00040002u);
	ct_req_put(aer);
	remove_ns(s, 1);
	conn_end(io[0]);
	ct_tgt_destroy(tgt);
	cr_assert(admin->closed && io[1]->closed);
	ct_conn_free(admin);
	ct_conn_free(io[1]);
	free(w);
	free(r);
	ct_fini();
}

Test(nvmf_core, tgt_destroy_during_changes)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *a, *b;
	struct ct_conn *admin;
	struct op_wait added = {0}, destroyed = {0}, tgt_gone = {0};

	ct_init("nvmf_rm_busy", false);
	tgt = ct_tgt_create("t", 2, 0);
	b = mk_subsys(tgt, "nqn.2016-06.io.spdk-io:cnode2", 0);
	a = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("M0", 64, 512);
	mk_malloc("M1", 64, 512);
	add_ns(a, "M0", 1);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, NULL);

	/*
	 * A namespace being added to b, a (the newest, which the target's
	 * destruction meets first) being destroyed, then the whole target.
	 */
	cr_assert_eq(spio_nvmf_subsystem_add_ns(b, "M1", NULL, ns_added, &added), 0);
	cr_assert_eq(spio_nvmf_subsystem_destroy(a, op_done, &destroyed), 0);
	cr_assert_eq(spio_nvmf_tgt_destroy(tgt, op_done, &tgt_gone), 0);
	cr_assert_eq(spio_nvmf_tgt_destroy(tgt, op_done, &tgt_gone), -EALREADY);
	cr_assert(ct_poll_until(&tgt_gone.done, 1, CT_TIMEOUT_US), "target destruction stuck");
	cr_assert_eq(added.done, 1, "the namespace add answered");
	cr_assert_eq(destroyed.done, 1, "the subsystem destruction answered");
	cr_assert_eq(destroyed.status, 0);
	cr_assert(ct_wait_threads_gone(CT_TIMEOUT_US));
	ct_conn_free(admin);
	ct_fini();
}

Test(nvmf_core, io_waits_for_bdev_io)
{
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_subsystem *s;
	struct ct_conn *admin, *io[3];
	struct ct_req *reqs[3][CT_MAX_REQS];
	struct spio_nvme_dsm_range *ranges = calloc(64, sizeof(*ranges));
	struct stats_out st = {0};
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;
	uint8_t *buf = malloc(512 * 64);
	uint64_t pending = 0;
	uint16_t cntlid;

	/* 16 bdev_io for everyone: the commands below need more at once. */
	ct_init_pool("nvmf_io_wait", false, 16, 2);
	tgt = ct_tgt_create("t", 1, 0);
	s = mk_subsys(tgt, SUBNQN, 0);
	mk_malloc("M0", 1024, 512);
	add_ns(s, "M0", 1);
	admin = ct_admin_up(tgt, SUBNQN, HOSTNQN, 0, &cntlid);
	for (int q = 0; q < 3; q++) {
		io[q] = ct_io_up(tgt, SUBNQN, HOSTNQN, cntlid, (uint16_t)(q + 1));
	}
	memset(buf, 0x3c, 512 * 64);
	for (int q = 0; q < 3; q++) {
		for (int i = 0; i < CT_MAX_REQS; i++) {
			cmd = rw_cmd(SPIO_NVME_OPC_WRITE, 1, (uint64_t)(q * CT_MAX_REQS + i), 1);
			reqs[q][i] =
			    ct_submit(io[q], &cmd, buf, 512, SPIO_NVME_DATA_HOST_TO_CONTROLLER);
		}
	}
	for (int q = 0; q < 3; q++) {
		for (int i = 0; i < CT_MAX_REQS; i++) {
			cr_assert(ct_wait(reqs[q][i]), "write %d/%d did not complete", q, i);
			expect_ok(&reqs[q][i]->cpl, "write that waited for a bdev_io");
			ct_req_put(reqs[q][i]);
		}
	}
	/* One deallocate of 64 ranges: more unmaps than bdev_io. */
	for (int i = 0; i < 64; i++) {
		ranges[i].starting_lba = (uint64_t)i;
		ranges[i].length = 1;
	}
	cmd = admin_cmd(SPIO_NVME_OPC_DATASET_MANAGEMENT, 1, 63, SPIO_NVME_DSM_ATTR_DEALLOCATE);
	cpl = ct_run(io[0], &cmd, ranges, 64 * sizeof(*ranges), SPIO_NVME_DATA_HOST_TO_CONTROLLER);
	expect_ok(&cpl, "64-range deallocate");
	cmd = rw_cmd(SPIO_NVME_OPC_READ, 1, 0, 64);
	cpl = ct_run(io[1], &cmd, buf, 512 * 64, SPIO_NVME_DATA_CONTROLLER_TO_HOST);
	expect_ok(&cpl, "read");
	for (int i = 0; i < 512 * 64; i++) {
		cr_assert_eq(buf[i], 0, "byte %d after deallocate: %#x", i, buf[i]);
	}
	cr_assert_eq(spio_nvmf_tgt_get_stats(tgt, got_stats, &st), 0);
	cr_assert(ct_poll_until(&st.done, 1, CT_TIMEOUT_US));
	pending = st.s[0].pending_bdev_io;
	cr_assert(pending > 0, "some commands had to wait for a bdev_io: pending_bdev_io %lu",
		  (unsigned long)pending);
	for (int q = 0; q < 3; q++) {
		conn_end(io[q]);
	}
	conn_end(admin);
	free(ranges);
	free(buf);
	ct_tgt_destroy(tgt);
	ct_fini();
}
