/*
 * The NVMe-oF target's RPC layer (lib/nvmf/nvmf_rpc*.c, nvmf_config.c):
 * parameter decoding with SPDK's names, defaults and limits, and what spio
 * refuses by name; the methods inside an app (the target started by the
 * first of them), their answers and SPDK's error codes; the start-up
 * settings; save_config in SPDK's layout.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "json/json_val_internal.h"
#include "nvmf/nvmf_rpc.h"
#include "spio/app.h"
#include "spio/json.h"
#include "spio/json_val.h"
#include "spio/nvmf.h"
#include "spio/rpc.h"
#include "spio/task.h"

TestSuite(nvmf_rpc_params);
TestSuite(nvmf_rpc_app, .timeout = 120);

/*
 * Decoding
 */

static struct spio_json_val *parse(const char *text)
{
	char err[128];
	struct spio_json_val *v = spio_json_parse(text, strlen(text), err, sizeof(err));

	cr_assert_not_null(v, "bad test JSON %s: %s", text, err);
	return v;
}

/* Decode a create_transport params text; its return code, message in `err`. */
static int transport(const char *text, struct nvmf_rpc_transport_params *p, char *err)
{
	struct spio_json_val *v = parse(text);
	int rc;

	memset(p, 0, sizeof(*p));
	err[0] = '\0';
	rc = nvmf_rpc_decode_create_transport(v, p, err, 256);
	spio_json_val_free(v);
	return rc;
}

Test(nvmf_rpc_params, transport_defaults_and_values)
{
	struct nvmf_rpc_transport_params p;
	struct spio_nvmf_transport_opts def;
	char err[256];
	int rc;

	cr_assert_eq(spio_nvmf_transport_opts_init("TCP", &def, sizeof(def)), 0);
	rc = transport("{\"trtype\": \"tcp\"}", &p, err);
	cr_assert_eq(rc, 0, "trtype only: expected 0, got %d (%s)", rc, err);
	cr_assert_str_eq(p.trtype, "TCP", "trtype spelled canonically, got %s", p.trtype);
	cr_assert_null(p.tgt_name);
	cr_assert_eq(p.opts.max_queue_depth, def.max_queue_depth);
	cr_assert_eq(p.opts.in_capsule_data_size, def.in_capsule_data_size);
	cr_assert_eq(p.opts.io_unit_size, def.io_unit_size);
	cr_assert(p.opts.c2h_success, "c2h_success defaults to true");
	nvmf_rpc_transport_params_free(&p);

	/* What rpc.py sends for `nvmf_create_transport -t TCP -u 8192 -c 4096 -q 64`. */
	rc = transport("{\"trtype\": \"TCP\", \"tgt_name\": \"t1\", \"io_unit_size\": 8192, "
		       "\"in_capsule_data_size\": 4096, \"max_queue_depth\": 64, "
		       "\"no_srq\": false, \"c2h_success\": false, \"zcopy\": false, "
		       "\"dif_insert_or_strip\": false, \"no_wr_batching\": false, "
		       "\"disable_mappable_bar0\": false, \"disable_adaptive_irq\": false, "
		       "\"disable_shadow_doorbells\": false, \"disable_command_passthru\": false, "
		       "\"num_cqe\": 12, \"acceptor_poll_rate\": 100, \"sock_priority\": 3, "
		       "\"max_io_qpairs_per_ctrlr\": 7, \"kas\": 100, \"min_kato\": 10000, "
		       "\"iobuf_small_cache_size\": 4294967295, \"masked_oncs\": []}",
		       &p, err);
	cr_assert_eq(rc, 0, "rpc.py's request: expected 0, got %d (%s)", rc, err);
	cr_assert_str_eq(p.tgt_name, "t1");
	cr_assert_eq(p.opts.io_unit_size, 8192);
	cr_assert_eq(p.opts.in_capsule_data_size, 4096);
	cr_assert_eq(p.opts.max_queue_depth, 64);
	cr_assert_eq(p.opts.max_io_qpairs_per_ctrlr, 7);
	cr_assert_eq(p.opts.sock_priority, 3);
	cr_assert(!p.opts.c2h_success, "c2h_success false taken");
	nvmf_rpc_transport_params_free(&p);
}

Test(nvmf_rpc_params, transport_refusals)
{
	static const struct {
		const char *params;
		int rc;
		const char *msg;
	} cases[] = {
	    {"{}", -EINVAL, "trtype"},
	    {"{\"trtype\": \"NOPE\"}", -EINVAL, "Invalid transport type 'NOPE'"},
	    {"{\"trtype\": \"RDMA\"}", -EINVAL, "Invalid transport type 'RDMA'"},
	    {"{\"trtype\": \"TCP\", \"bogus\": 1}", -EINVAL, "bogus"},
	    {"{\"trtype\": \"TCP\", \"max_queue_depth\": 65536}", -EINVAL, "max_queue_depth"},
	    {"{\"trtype\": \"TCP\", \"max_io_qpairs_per_ctrlr\": 65535}", -EINVAL,
	     "max_io_qpairs_per_ctrlr"},
	    {"{\"trtype\": \"TCP\", \"max_io_size\": -1}", -EINVAL, "max_io_size"},
	    {"{\"trtype\": \"TCP\", \"zcopy\": true}", -ENOTSUP, "zcopy true"},
	    {"{\"trtype\": \"TCP\", \"dif_insert_or_strip\": true}", -ENOTSUP,
	     "dif_insert_or_strip true"},
	    {"{\"trtype\": \"TCP\", \"kas\": 5}", -ENOTSUP, "kas 5"},
	    {"{\"trtype\": \"TCP\", \"min_kato\": 1}", -ENOTSUP, "min_kato 1"},
	    {"{\"trtype\": \"TCP\", \"iobuf_large_cache_size\": 7}", -ENOTSUP,
	     "iobuf_large_cache_size 7"},
	    {"{\"trtype\": \"TCP\", \"masked_oncs\": [\"nvmcmps\"]}", -ENOTSUP, "masked_oncs"},
	    {"{\"trtype\": \"TCP\", \"masked_fuses\": [\"fcws\"]}", -ENOTSUP, "masked_fuses"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nvmf_rpc_transport_params p;
		char err[256];
		int rc = transport(cases[i].params, &p, err);

		cr_assert_eq(rc, cases[i].rc, "%s: expected %d, got %d (%s)", cases[i].params,
			     cases[i].rc, rc, err);
		cr_assert(strstr(err, cases[i].msg) != NULL, "%s: message '%s' should name '%s'",
			  cases[i].params, err, cases[i].msg);
		nvmf_rpc_transport_params_free(&p);
	}
}

static int subsystem(const char *text, struct nvmf_rpc_subsystem_params *p, char *err)
{
	struct spio_json_val *v = parse(text);
	int rc;

	memset(p, 0, sizeof(*p));
	err[0] = '\0';
	rc = nvmf_rpc_decode_create_subsystem(v, p, err, 256);
	spio_json_val_free(v);
	return rc;
}

Test(nvmf_rpc_params, create_subsystem)
{
	struct nvmf_rpc_subsystem_params p;
	char err[256];
	int rc;

	rc = subsystem("{\"nqn\": \"nqn.2016-06.io.spdk:c1\"}", &p, err);
	cr_assert_eq(rc, 0, "nqn only: expected 0, got %d (%s)", rc, err);
	cr_assert_str_eq(p.nqn, "nqn.2016-06.io.spdk:c1");
	cr_assert_null(p.serial_number, "no serial: the core's default");
	cr_assert_eq(p.max_namespaces, 0, "0: SPDK's default of 32");
	cr_assert(!p.allow_any_host);
	cr_assert_eq(p.min_cntlid, 1, "min_cntlid default 1, got %u", p.min_cntlid);
	cr_assert_eq(p.max_cntlid, 0xFFEF, "max_cntlid default 0xFFEF, got %u", p.max_cntlid);
	nvmf_rpc_subsystem_params_free(&p);

	/* SPDK's own save_config entry. */
	rc = subsystem("{\"nqn\": \"nqn.2016-06.io.spdk:c1\", \"allow_any_host\": true, "
		       "\"serial_number\": \"SPDK00000000000001\", \"model_number\": \"M 1\", "
		       "\"max_namespaces\": 16, \"min_cntlid\": 5, \"max_cntlid\": 100, "
		       "\"ana_reporting\": false, \"dmrsl\": 2097152, \"wzsl\": 12, "
		       "\"passthrough\": false, \"enable_nssr\": false}",
		       &p, err);
	cr_assert_eq(rc, 0, "SPDK's saved entry: expected 0, got %d (%s)", rc, err);
	cr_assert_str_eq(p.serial_number, "SPDK00000000000001");
	cr_assert_str_eq(p.model_number, "M 1");
	cr_assert(p.allow_any_host);
	cr_assert_eq(p.max_namespaces, 16);
	cr_assert_eq(p.min_cntlid, 5);
	cr_assert_eq(p.max_cntlid, 100);
	nvmf_rpc_subsystem_params_free(&p);
}

Test(nvmf_rpc_params, create_subsystem_refusals)
{
	static const struct {
		const char *params;
		int rc;
		const char *msg;
	} cases[] = {
	    {"{}", -EINVAL, "nqn"},
	    {"{\"nqn\": 5}", -EINVAL, "nqn"},
	    {"{\"nqn\": \"n\", \"serial_number\": \"012345678901234567890\"}", -EINVAL,
	     "serial_number"},
	    {"{\"nqn\": \"n\", \"model_number\": \"\\u0001\"}", -EINVAL, "printable"},
	    {"{\"nqn\": \"n\", \"min_cntlid\": 30, \"max_cntlid\": 20}", -EINVAL,
	     "Invalid cntlid range [30-20]"},
	    {"{\"nqn\": \"n\", \"min_cntlid\": 0}", -EINVAL, "Invalid cntlid range [0-65519]"},
	    {"{\"nqn\": \"n\", \"max_cntlid\": 65520}", -EINVAL, "Invalid cntlid range [1-65520]"},
	    {"{\"nqn\": \"n\", \"max_cntlid\": 65536}", -EINVAL, "max_cntlid"},
	    {"{\"nqn\": \"n\", \"ana_reporting\": true}", -ENOTSUP, "ana_reporting true"},
	    {"{\"nqn\": \"n\", \"passthrough\": true}", -ENOTSUP, "passthrough true"},
	    {"{\"nqn\": \"n\", \"enable_nssr\": true}", -ENOTSUP, "enable_nssr true"},
	    {"{\"nqn\": \"n\", \"dmrsl\": 1}", -ENOTSUP, "dmrsl 1"},
	    {"{\"nqn\": \"n\", \"wzsl\": 3}", -ENOTSUP, "wzsl 3"},
	    {"{\"nqn\": \"n\", \"admin_label\": \"lab\"}", -ENOTSUP, "admin_label 'lab'"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nvmf_rpc_subsystem_params p;
		char err[256];
		int rc = subsystem(cases[i].params, &p, err);

		cr_assert_eq(rc, cases[i].rc, "%s: expected %d, got %d (%s)", cases[i].params,
			     cases[i].rc, rc, err);
		cr_assert(strstr(err, cases[i].msg) != NULL, "%s: message '%s' should name '%s'",
			  cases[i].params, err, cases[i].msg);
		nvmf_rpc_subsystem_params_free(&p);
	}
}

static int add_ns(const char *text, struct nvmf_rpc_ns_params *p, char *err)
{
	struct spio_json_val *v = parse(text);
	int rc;

	memset(p, 0, sizeof(*p));
	err[0] = '\0';
	rc = nvmf_rpc_decode_add_ns(v, p, err, 256);
	spio_json_val_free(v);
	return rc;
}

Test(nvmf_rpc_params, add_ns_ids)
{
	static const uint8_t nguid[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
					  0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0xee, 0xff};
	struct nvmf_rpc_ns_params p;
	char err[256], uuid[40];
	int rc;

	rc = add_ns("{\"nqn\": \"n\", \"namespace\": {\"bdev_name\": \"Malloc0\", "
		    "\"no_auto_visible\": false, \"hide_metadata\": false}}",
		    &p, err);
	cr_assert_eq(rc, 0, "rpc.py's request: expected 0, got %d (%s)", rc, err);
	cr_assert_str_eq(p.bdev_name, "Malloc0");
	cr_assert_eq(p.opts.nsid, 0, "nsid 0: the lowest free");
	cr_assert_eq(p.opts.eui64, 0);
	cr_assert(spio_uuid_is_null(&p.opts.uuid), "no uuid given");
	nvmf_rpc_ns_params_free(&p);

	rc = add_ns("{\"nqn\": \"n\", \"tgt_name\": \"nvmf_tgt\", \"namespace\": {\"nsid\": 5, "
		    "\"bdev_name\": \"M\", \"nguid\": \"000102030405060708090a0b0c0dEEFF\", "
		    "\"eui64\": \"0011223344556677\", "
		    "\"uuid\": \"6f1f5c1e-4a55-4c8e-9d53-2a9b7f0e1a01\", \"anagrpid\": 0}}",
		    &p, err);
	cr_assert_eq(rc, 0, "ids: expected 0, got %d (%s)", rc, err);
	cr_assert_str_eq(p.tgt_name, "nvmf_tgt");
	cr_assert_eq(p.opts.nsid, 5);
	cr_assert_arr_eq(p.opts.nguid, nguid, 16, "nguid bytes in order, either case");
	cr_assert_eq(p.opts.eui64, 0x0011223344556677ull,
		     "eui64: expected 0x0011223344556677, got %#lx", (unsigned long)p.opts.eui64);
	spio_uuid_fmt_lower(uuid, sizeof(uuid), &p.opts.uuid);
	cr_assert_str_eq(uuid, "6f1f5c1e-4a55-4c8e-9d53-2a9b7f0e1a01");
	nvmf_rpc_ns_params_free(&p);
}

Test(nvmf_rpc_params, add_ns_refusals)
{
	static const struct {
		const char *params;
		int rc;
		const char *msg;
	} cases[] = {
	    {"{\"nqn\": \"n\"}", -EINVAL, "namespace"},
	    {"{\"nqn\": \"n\", \"namespace\": {}}", -EINVAL, "bdev_name"},
	    {"{\"nqn\": \"n\", \"namespace\": {\"bdev_name\": \"M\", \"x\": 1}}", -EINVAL, "x"},
	    {"{\"nqn\": \"n\", \"namespace\": {\"bdev_name\": \"M\", \"nguid\": \"0011\"}}",
	     -EINVAL, "Invalid nguid"},
	    {"{\"nqn\": \"n\", \"namespace\": {\"bdev_name\": \"M\", "
	     "\"nguid\": \"000102030405060708090a0b0c0d0e0g\"}}",
	     -EINVAL, "Invalid nguid"},
	    {"{\"nqn\": \"n\", \"namespace\": {\"bdev_name\": \"M\", \"eui64\": "
	     "\"00112233445566\"}}",
	     -EINVAL, "Invalid eui64"},
	    {"{\"nqn\": \"n\", \"namespace\": {\"bdev_name\": \"M\", \"uuid\": \"nope\"}}", -EINVAL,
	     "uuid"},
	    {"{\"nqn\": \"n\", \"namespace\": {\"bdev_name\": \"M\", \"ptpl_file\": \"/tmp/p\"}}",
	     -ENOTSUP, "ptpl_file '/tmp/p'"},
	    {"{\"nqn\": \"n\", \"namespace\": {\"bdev_name\": \"M\", \"anagrpid\": 2}}", -ENOTSUP,
	     "anagrpid 2"},
	    {"{\"nqn\": \"n\", \"namespace\": {\"bdev_name\": \"M\", \"no_auto_visible\": true}}",
	     -ENOTSUP, "no_auto_visible true"},
	    {"{\"nqn\": \"n\", \"namespace\": {\"bdev_name\": \"M\", \"hide_metadata\": true}}",
	     -ENOTSUP, "hide_metadata true"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nvmf_rpc_ns_params p;
		char err[256];
		int rc = add_ns(cases[i].params, &p, err);

		cr_assert_eq(rc, cases[i].rc, "%s: expected %d, got %d (%s)", cases[i].params,
			     cases[i].rc, rc, err);
		cr_assert(strstr(err, cases[i].msg) != NULL, "%s: message '%s' should name '%s'",
			  cases[i].params, err, cases[i].msg);
		nvmf_rpc_ns_params_free(&p);
	}
}

static int listener(const char *text, bool add, struct nvmf_rpc_listener_params *p, char *err)
{
	struct spio_json_val *v = parse(text);
	int rc;

	memset(p, 0, sizeof(*p));
	err[0] = '\0';
	rc = nvmf_rpc_decode_listener(v, add, p, err, 256);
	spio_json_val_free(v);
	return rc;
}

Test(nvmf_rpc_params, listen_address)
{
	struct nvmf_rpc_listener_params p;
	char err[256];
	int rc;

	/* rpc.py sends no adrfam unless -f: SPDK takes IPv4 for TCP. */
	rc = listener("{\"nqn\": \"n\", \"secure_channel\": false, \"listen_address\": "
		      "{\"trtype\": \"tcp\", \"traddr\": \"127.0.0.1\", \"trsvcid\": \"4420\"}}",
		      true, &p, err);
	cr_assert_eq(rc, 0, "expected 0, got %d (%s)", rc, err);
	cr_assert_str_eq(p.trid.trstring, "TCP");
	cr_assert_eq(p.trid.trtype, SPIO_NVME_TRANSPORT_TCP);
	cr_assert_eq(p.trid.adrfam, SPIO_NVMF_ADRFAM_IPV4, "adrfam defaults to IPv4, got %d",
		     p.trid.adrfam);
	cr_assert_str_eq(p.trid.traddr, "127.0.0.1");
	cr_assert_str_eq(p.trid.trsvcid, "4420");
	nvmf_rpc_listener_params_free(&p);

	rc = listener("{\"nqn\": \"n\", \"listen_address\": {\"trtype\": \"TCP\", \"adrfam\": "
		      "\"IPv6\", \"traddr\": \"::1\", \"trsvcid\": \"4421\"}, \"ana_state\": "
		      "\"optimized\", \"sock_impl\": \"posix\", \"numa_id\": 0}",
		      true, &p, err);
	cr_assert_eq(rc, 0, "IPv6 with SPDK's defaults: expected 0, got %d (%s)", rc, err);
	cr_assert_eq(p.trid.adrfam, SPIO_NVMF_ADRFAM_IPV6);
	nvmf_rpc_listener_params_free(&p);
}

Test(nvmf_rpc_params, listener_refusals)
{
	static const struct {
		const char *params;
		bool add;
		int rc;
		const char *msg;
	} cases[] = {
	    {"{\"nqn\": \"n\"}", true, -EINVAL, "listen_address"},
	    {"{\"nqn\": \"n\", \"listen_address\": {\"trtype\": \"TCP\"}}", true, -EINVAL,
	     "traddr"},
	    {"{\"nqn\": \"n\", \"listen_address\": {\"trtype\": \"XYZ\", \"traddr\": \"a\"}}", true,
	     -EINVAL, "Invalid trtype: XYZ"},
	    {"{\"nqn\": \"n\", \"listen_address\": {\"trtype\": \"TCP\", \"adrfam\": \"ipv5\", "
	     "\"traddr\": \"a\"}}",
	     true, -EINVAL, "Invalid adrfam: ipv5"},
	    {"{\"nqn\": \"n\", \"listen_address\": {\"trtype\": \"TCP\", \"traddr\": \"a\", "
	     "\"trsvcid\": \"123456789012345678901234567890123\"}}",
	     true, -EINVAL, "trsvcid longer"},
	    {"{\"nqn\": \"n\", \"listen_address\": {\"trtype\": \"TCP\", \"traddr\": \"a\"}, "
	     "\"secure_channel\": true}",
	     true, -ENOTSUP, "secure_channel true"},
	    {"{\"nqn\": \"n\", \"listen_address\": {\"trtype\": \"TCP\", \"traddr\": \"a\"}, "
	     "\"ana_state\": \"inaccessible\"}",
	     true, -ENOTSUP, "ana_state inaccessible"},
	    {"{\"nqn\": \"n\", \"listen_address\": {\"trtype\": \"TCP\", \"traddr\": \"a\"}, "
	     "\"sock_impl\": \"uring\"}",
	     true, -ENOTSUP, "sock_impl uring"},
	    /* remove takes no options of adding */
	    {"{\"nqn\": \"n\", \"listen_address\": {\"trtype\": \"TCP\", \"traddr\": \"a\"}, "
	     "\"secure_channel\": false}",
	     false, -EINVAL, "secure_channel"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nvmf_rpc_listener_params p;
		char err[256];
		int rc = listener(cases[i].params, cases[i].add, &p, err);

		cr_assert_eq(rc, cases[i].rc, "%s: expected %d, got %d (%s)", cases[i].params,
			     cases[i].rc, rc, err);
		cr_assert(strstr(err, cases[i].msg) != NULL, "%s: message '%s' should name '%s'",
			  cases[i].params, err, cases[i].msg);
		nvmf_rpc_listener_params_free(&p);
	}
}

static int set_config(const char *text, struct nvmf_rpc_conf *conf, char *err)
{
	struct spio_json_val *v = parse(text);
	int rc;

	err[0] = '\0';
	rc = nvmf_rpc_decode_set_config(v, conf, err, 256);
	spio_json_val_free(v);
	return rc;
}

/* SPDK's save_config entry of a fresh nvmf_tgt, params only. */
static const char *g_spdk_set_config =
    "{\"discovery_filters\": [], \"admin_cmd_passthru\": {\"identify_ctrlr\": false, "
    "\"identify_uuid_list\": false, \"get_log_page\": false, \"get_set_features\": false, "
    "\"sanitize\": false, \"security_send_recv\": false, \"fw_update\": false, \"nvme_mi\": "
    "false, \"vendor_specific\": false}, \"dhchap_digests\": [\"sha256\", \"sha384\", "
    "\"sha512\"], \"dhchap_dhgroups\": [\"null\", \"ffdhe2048\", \"ffdhe3072\", \"ffdhe4096\", "
    "\"ffdhe6144\", \"ffdhe8192\"], \"dup_host_policy\": \"allow\"}";

Test(nvmf_rpc_params, set_config)
{
	struct nvmf_rpc_conf conf = {.max_subsystems = 7};
	char err[256];
	int rc;

	rc = set_config(g_spdk_set_config, &conf, err);
	cr_assert_eq(rc, 0, "SPDK's defaults: expected 0, got %d (%s)", rc, err);
	cr_assert(!conf.poll_groups_mask_set);
	cr_assert_eq(conf.max_subsystems, 7, "other settings kept");

	rc = set_config("{\"poll_groups_mask\": \"0x2\", \"discovery_filter\": \"match_any\", "
			"\"dhchap_digests\": [\"sha512\", \"sha256\", \"sha384\"]}",
			&conf, err);
	cr_assert_eq(rc, 0, "mask, old filter, digests in another order: got %d (%s)", rc, err);
	cr_assert(conf.poll_groups_mask_set);
	cr_assert(spio_cpuset_get_cpu(&conf.poll_groups_mask, 1) &&
		      !spio_cpuset_get_cpu(&conf.poll_groups_mask, 0),
		  "poll_groups_mask 0x2 is core 1");
	/* SPDK saves the mask without 0x. */
	rc = set_config("{\"poll_groups_mask\": \"1\"}", &conf, err);
	cr_assert_eq(rc, 0, "bare hex mask: got %d (%s)", rc, err);
	cr_assert(spio_cpuset_get_cpu(&conf.poll_groups_mask, 0), "mask '1' is core 0");
}

Test(nvmf_rpc_params, set_config_refusals)
{
	static const struct {
		const char *params;
		int rc;
		const char *msg;
	} cases[] = {
	    {"{\"admin_cmd_passthru\": {\"identify_ctrlr\": true}}", -ENOTSUP,
	     "admin_cmd_passthru.identify_ctrlr true"},
	    {"{\"admin_cmd_passthru\": {\"nope\": false}}", -EINVAL, "admin_cmd_passthru.nope"},
	    {"{\"admin_cmd_passthru\": {\"fw_update\": 1}}", -EINVAL, "expected a boolean"},
	    {"{\"poll_groups_mask\": \"0x0\"}", -EINVAL, "poll_groups_mask"},
	    {"{\"poll_groups_mask\": \"zz\"}", -EINVAL, "poll_groups_mask"},
	    {"{\"discovery_filter\": \"transport\"}", -ENOTSUP, "discovery_filter transport"},
	    {"{\"discovery_filters\": [\"address\"]}", -ENOTSUP, "discovery_filters"},
	    {"{\"dhchap_digests\": [\"sha256\"]}", -ENOTSUP, "dhchap_digests"},
	    {"{\"dhchap_digests\": [\"sha256\", \"sha256\", \"sha512\"]}", -EINVAL, "repeated"},
	    {"{\"dhchap_dhgroups\": [\"ffdhe1\"]}", -EINVAL, "unknown 'ffdhe1'"},
	    {"{\"dhchap_dhgroups\": [1]}", -EINVAL, "array of strings"},
	    {"{\"dup_host_policy\": \"restrict_per_listener\"}", -ENOTSUP,
	     "dup_host_policy restrict_per_listener"},
	    {"{\"dup_host_policy\": \"sometimes\"}", -EINVAL, "sometimes"},
	    {"{\"conn_sched\": \"roundrobin\"}", -EINVAL, "conn_sched"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nvmf_rpc_conf conf = {0};
		char err[256];
		int rc = set_config(cases[i].params, &conf, err);

		cr_assert_eq(rc, cases[i].rc, "%s: expected %d, got %d (%s)", cases[i].params,
			     cases[i].rc, rc, err);
		cr_assert(strstr(err, cases[i].msg) != NULL, "%s: message '%s' should name '%s'",
			  cases[i].params, err, cases[i].msg);
		cr_assert(!conf.poll_groups_mask_set, "%s: a refused call changes nothing",
			  cases[i].params);
	}
}

Test(nvmf_rpc_params, hex)
{
	uint8_t b[4];
	char s[9];

	cr_assert_eq(nvmf_rpc_parse_hex("0aFf10c3", b, 4), 0);
	cr_assert(b[0] == 0x0a && b[1] == 0xff && b[2] == 0x10 && b[3] == 0xc3,
		  "bytes: got %02x %02x %02x %02x", b[0], b[1], b[2], b[3]);
	nvmf_rpc_fmt_hex(s, b, 4);
	cr_assert_str_eq(s, "0AFF10C3", "SPDK's upper case");
	cr_assert_eq(nvmf_rpc_parse_hex("0aff10c", b, 4), -EINVAL, "7 digits for 4 bytes");
	cr_assert_eq(nvmf_rpc_parse_hex("0aff10c3a", b, 4), -EINVAL, "9 digits for 4 bytes");
	cr_assert_eq(nvmf_rpc_parse_hex("0aff10 3", b, 4), -EINVAL, "a space");
	cr_assert_eq(nvmf_rpc_parse_hex(NULL, b, 4), -EINVAL);
}

/*
 * Inside an app: the methods through spio_rpc_call, from a task. Criterion
 * asserts cannot run on the reactor's task stack, so the first failure is
 * recorded and checked once the app returned.
 */

static char g_fail[2048];
static char *g_config;
static bool g_tgt_before;

#define EXPECT(cond, ...)                                                                 \
	do {                                                                              \
		if (!(cond) && g_fail[0] == '\0') {                                       \
			int n_ = snprintf(g_fail, sizeof(g_fail), "line %d: ", __LINE__); \
			snprintf(g_fail + n_, sizeof(g_fail) - (size_t)n_, __VA_ARGS__);  \
		}                                                                         \
	} while (0)

struct call {
	struct spio_completion c;
	int code;
	char msg[512];
	json_t *result;
};

static void call_done(void *ctx, int code, const char *msg, const struct spio_json_val *result)
{
	struct call *c = ctx;
	json_t *r = json_val_to_jansson(result);

	c->code = code;
	snprintf(c->msg, sizeof(c->msg), "%s", msg != NULL ? msg : "");
	c->result = r != NULL ? json_incref(r) : NULL;
	spio_completion_done(&c->c, 0);
}

/* Call `method` with `params` (JSON text or NULL); expect `code` and `msg` in the message. */
static json_t *call_line(int line, const char *method, const char *params, int code,
			 const char *msg)
{
	struct spio_json_val *v = NULL;
	struct call c = {0};
	int rc;

	if (params != NULL) {
		v = spio_json_parse(params, strlen(params), NULL, 0);
		EXPECT(v != NULL, "bad test JSON %s", params);
	}
	spio_completion_init(&c.c);
	rc = spio_rpc_call(method, v, call_done, &c);
	EXPECT(rc == 0, "spio_rpc_call %s: %d", method, rc);
	if (rc == 0) {
		spio_await(&c.c);
	}
	spio_json_val_free(v);
	if (c.code != code || (msg != NULL && strstr(c.msg, msg) == NULL)) {
		EXPECT(false, "(call at line %d) %s %s: expected code %d '%s', got %d '%s'", line,
		       method, params != NULL ? params : "", code, msg != NULL ? msg : "", c.code,
		       c.msg);
	}
	return c.result;
}
#define CALL(method, params, code, msg) call_line(__LINE__, method, params, code, msg)

/* A free TCP port on 127.0.0.1 (the kernel picks it; it is free again once closed). */
static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
		port = ntohs(a.sin_port);
	}
	if (fd >= 0) {
		close(fd);
	}
	return port;
}

static int json_to_string(void *ctx, const void *data, size_t size)
{
	char **s = ctx;
	size_t old = *s != NULL ? strlen(*s) : 0;
	char *n = realloc(*s, old + size + 1);

	if (n == NULL) {
		return -ENOMEM;
	}
	memcpy(n + old, data, size);
	n[old + size] = '\0';
	*s = n;
	return 0;
}

static void save_config(void)
{
	struct spio_json_write_ctx *w = spio_json_write_begin(json_to_string, &g_config, 0);

	spio_app_write_config_json(w);
	spio_json_write_end(w);
}

static const char *C1 = "nqn.2016-06.io.spdk:cnode1";

static int methods_task(void *arg)
{
	int port = free_port();
	char buf[512];
	json_t *r;

	(void)arg;
	g_tgt_before = spio_nvmf_get_tgt(NULL) != NULL;
	CALL("nvmf_set_config", "{}", SPIO_JSONRPC_ERROR_INVALID_STATE, NULL);
	CALL("nvmf_set_max_subsystems", "{\"max_subsystems\": 5}", SPIO_JSONRPC_ERROR_INVALID_STATE,
	     NULL);

	/* The first method starts the target: the discovery subsystem is there. */
	r = CALL("nvmf_get_subsystems", NULL, 0, NULL);
	EXPECT(json_array_size(r) == 1 &&
		   strcmp(json_string_value(json_object_get(json_array_get(r, 0), "subtype")),
			  "Discovery") == 0,
	       "a fresh target lists its discovery subsystem only");
	json_decref(r);
	EXPECT(spio_nvmf_get_tgt("nvmf_tgt") != NULL, "the target is named nvmf_tgt");
	CALL("nvmf_get_subsystems", "{\"tgt_name\": \"other\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "NVMf target 'other' not found");
	json_decref(CALL("nvmf_get_subsystems", "{\"tgt_name\": \"nvmf_tgt\"}", 0, NULL));
	CALL("nvmf_get_transports", "{\"trtype\": \"TCP\"}", -ENODEV, NULL);
	CALL("nvmf_get_transports", "{\"tgt_name\": \"other\"}", SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
	     "Unable to find a target.");
	CALL("nvmf_get_stats", "{\"tgt_name\": \"other\"}", SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
	     "Unable to find a target.");
	CALL("nvmf_get_stats", "{\"nqn\": \"x\"}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "nqn");
	CALL("nvmf_subsystem_add_host",
	     "{\"nqn\": \"nqn.2016-06.io.spdk:nope\", \"host\": \"nqn.2016-06.io.spdk:h1\"}",
	     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "not found");
	CALL("nvmf_subsystem_get_qpairs",
	     "{\"nqn\": \"nqn.2016-06.io.spdk:nope\", \"tgt_name\": \"other\"}",
	     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "NVMf target 'other' not found");

	/* Transports */
	CALL("nvmf_create_transport", "{\"trtype\": \"tcp\", \"in_capsule_data_size\": 8192}", 0,
	     NULL);
	CALL("nvmf_create_transport", "{\"trtype\": \"TCP\"}", SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
	     "Transport type 'TCP' already exists");
	CALL("nvmf_create_transport", "{\"trtype\": \"TCP\", \"bogus\": 1}",
	     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "bogus");
	r = CALL("nvmf_get_transports", "{\"trtype\": \"tcp\"}", 0, NULL);
	EXPECT(json_integer_value(json_object_get(json_array_get(r, 0), "in_capsule_data_size")) ==
		   8192,
	       "in_capsule_data_size 8192 in nvmf_get_transports");
	json_decref(r);

	/* Subsystems; max_subsystems 3 (from the config) counts the discovery one. */
	snprintf(buf, sizeof(buf),
		 "{\"nqn\": \"%s\", \"serial_number\": \"SN1\", \"model_number\": \"Model 1\", "
		 "\"max_namespaces\": 4}",
		 C1);
	CALL("nvmf_create_subsystem", buf, 0, NULL);
	CALL("nvmf_create_subsystem", buf, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
	     "a subsystem with that NQN exists");
	CALL("nvmf_create_subsystem", "{\"nqn\": \"nqn.bad\"}", SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
	     "Unable to create subsystem nqn.bad");
	CALL("nvmf_create_subsystem",
	     "{\"nqn\": \"nqn.2016-06.io.spdk:cnode2\", "
	     "\"allow_any_host\": true}",
	     0, NULL);
	CALL("nvmf_create_subsystem", "{\"nqn\": \"nqn.2016-06.io.spdk:cnode3\"}",
	     SPIO_JSONRPC_ERROR_INTERNAL_ERROR, "max_subsystems");
	CALL("nvmf_create_subsystem",
	     "{\"nqn\": \"nqn.2016-06.io.spdk:cnode3\", \"tgt_name\": "
	     "\"x\"}",
	     SPIO_JSONRPC_ERROR_INTERNAL_ERROR, "Unable to find target x");

	/* Namespaces */
	snprintf(buf, sizeof(buf), "{\"nqn\": \"%s\", \"namespace\": {\"bdev_name\": \"Malloc0\"}}",
		 C1);
	r = CALL("nvmf_subsystem_add_ns", buf, 0, NULL);
	EXPECT(json_integer_value(r) == 1, "the first namespace gets NSID 1");
	json_decref(r);
	snprintf(buf, sizeof(buf), "{\"nqn\": \"%s\", \"namespace\": {\"bdev_name\": \"Nope\"}}",
		 C1);
	CALL("nvmf_subsystem_add_ns", buf, SPIO_JSONRPC_ERROR_INVALID_PARAMS, "no bdev named Nope");
	snprintf(buf, sizeof(buf),
		 "{\"nqn\": \"%s\", \"namespace\": {\"bdev_name\": \"Null0\", \"nsid\": 1}}", C1);
	CALL("nvmf_subsystem_add_ns", buf, SPIO_JSONRPC_ERROR_INVALID_PARAMS, "namespace 1");
	snprintf(buf, sizeof(buf),
		 "{\"nqn\": \"%s\", \"namespace\": {\"bdev_name\": \"Null0\", \"nsid\": 9}}", C1);
	CALL("nvmf_subsystem_add_ns", buf, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "invalid namespace ID 9");
	CALL("nvmf_subsystem_add_ns",
	     "{\"nqn\": \"nqn.2016-06.io.spdk:nope\", \"namespace\": {\"bdev_name\": \"Null0\"}}",
	     SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "Subsystem with NQN 'nqn.2016-06.io.spdk:nope' not found");
	r = CALL("nvmf_subsystem_add_ns",
		 "{\"nqn\": \"nqn.2016-06.io.spdk:cnode2\", \"namespace\": {\"bdev_name\": "
		 "\"Null0\", \"nsid\": 7, \"nguid\": \"00112233445566778899AABBCCDDEEFF\", "
		 "\"eui64\": \"0102030405060708\", \"uuid\": "
		 "\"0b0e7f0a-2d3c-4b5a-8f9e-1c2d3e4f5a6b\"}}",
		 0, NULL);
	EXPECT(json_integer_value(r) == 7, "the NSID asked for");
	json_decref(r);

	/* Listeners */
	snprintf(buf, sizeof(buf),
		 "{\"nqn\": \"%s\", \"listen_address\": {\"trtype\": \"TCP\", \"traddr\": "
		 "\"127.0.0.1\", \"trsvcid\": \"%d\"}}",
		 C1, port);
	CALL("nvmf_subsystem_add_listener", buf, 0, NULL);
	CALL("nvmf_subsystem_add_listener", buf, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "it listens there already");
	snprintf(buf, sizeof(buf),
		 "{\"nqn\": \"%s\", \"listen_address\": {\"trtype\": \"RDMA\", \"traddr\": "
		 "\"127.0.0.1\", \"trsvcid\": \"%d\"}}",
		 C1, port);
	CALL("nvmf_subsystem_add_listener", buf, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "Unable to find RDMA transport");

	/* Hosts */
	snprintf(buf, sizeof(buf), "{\"nqn\": \"%s\", \"host\": \"nqn.2016-06.io.spdk:h1\"}", C1);
	CALL("nvmf_subsystem_add_host", buf, 0, NULL);
	CALL("nvmf_subsystem_add_host", buf, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
	     "is already allowed");
	snprintf(buf, sizeof(buf),
		 "{\"nqn\": \"%s\", \"host\": \"nqn.2016-06.io.spdk:h2\", \"psk\": \"key0\"}", C1);
	CALL("nvmf_subsystem_add_host", buf, SPIO_JSONRPC_ERROR_INVALID_PARAMS, "psk key0");
	snprintf(buf, sizeof(buf), "{\"nqn\": \"%s\", \"host\": \"nqn.2016-06.io.spdk:h2\"}", C1);
	CALL("nvmf_subsystem_remove_host", buf, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
	     "is not in the allowed list");
	snprintf(buf, sizeof(buf), "{\"nqn\": \"%s\", \"allow_any_host\": true}", C1);
	CALL("nvmf_subsystem_allow_any_host", buf, 0, NULL);
	snprintf(buf, sizeof(buf), "{\"nqn\": \"%s\"}", C1);
	CALL("nvmf_subsystem_allow_any_host", buf, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "allow_any_host");

	/* Getters */
	snprintf(buf, sizeof(buf), "{\"nqn\": \"%s\"}", C1);
	r = CALL("nvmf_get_subsystems", buf, 0, NULL);
	{
		json_t *s = json_array_get(r, 0),
		       *ns = json_array_get(json_object_get(s, "namespaces"), 0);
		json_t *la = json_array_get(json_object_get(s, "listen_addresses"), 0);

		EXPECT(json_array_size(r) == 1, "one subsystem asked for");
		EXPECT(strcmp(json_string_value(json_object_get(s, "serial_number")), "SN1") == 0 &&
			   strcmp(json_string_value(json_object_get(s, "model_number")),
				  "Model 1") == 0 &&
			   json_integer_value(json_object_get(s, "max_namespaces")) == 4 &&
			   json_is_true(json_object_get(s, "allow_any_host")),
		       "serial, model, max_namespaces, allow_any_host as set");
		EXPECT(json_integer_value(json_object_get(ns, "nsid")) == 1 &&
			   strcmp(json_string_value(json_object_get(ns, "bdev_name")), "Malloc0") ==
			       0,
		       "namespace 1 is Malloc0");
		EXPECT(strcmp(json_string_value(json_object_get(la, "adrfam")), "IPv4") == 0,
		       "listener adrfam IPv4 by default");
		EXPECT(strcmp(json_string_value(json_object_get(
				  json_array_get(json_object_get(s, "hosts"), 0), "nqn")),
			      "nqn.2016-06.io.spdk:h1") == 0,
		       "host h1 listed");
	}
	json_decref(r);
	r = CALL("nvmf_get_subsystems", "{\"nqn\": \"nqn.2016-06.io.spdk:cnode2\"}", 0, NULL);
	{
		json_t *ns = json_array_get(json_object_get(json_array_get(r, 0), "namespaces"), 0);

		EXPECT(strcmp(json_string_value(json_object_get(ns, "nguid")),
			      "00112233445566778899AABBCCDDEEFF") == 0 &&
			   strcmp(json_string_value(json_object_get(ns, "eui64")),
				  "0102030405060708") == 0 &&
			   strcmp(json_string_value(json_object_get(ns, "uuid")),
				  "0b0e7f0a-2d3c-4b5a-8f9e-1c2d3e4f5a6b") == 0,
		       "nguid, eui64 and uuid as given, in SPDK's spelling");
	}
	json_decref(r);
	CALL("nvmf_get_subsystems", "{\"nqn\": \"nqn.2016-06.io.spdk:none\"}",
	     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "not found");
	snprintf(buf, sizeof(buf), "{\"nqn\": \"%s\"}", C1);
	r = CALL("nvmf_subsystem_get_controllers", buf, 0, NULL);
	EXPECT(json_is_array(r) && json_array_size(r) == 0, "no controller without a host");
	json_decref(r);
	r = CALL("nvmf_subsystem_get_qpairs", buf, 0, NULL);
	EXPECT(json_is_array(r) && json_array_size(r) == 0, "no queue pair without a host");
	json_decref(r);
	r = CALL("nvmf_subsystem_get_listeners", buf, 0, NULL);
	EXPECT(json_array_size(r) == 1 &&
		   json_object_get(json_object_get(json_array_get(r, 0), "address"), "traddr") !=
		       NULL,
	       "one listener with its address");
	json_decref(r);
	CALL("nvmf_subsystem_get_listeners", "{}", SPIO_JSONRPC_ERROR_INVALID_PARAMS, "nqn");
	r = CALL("nvmf_get_stats", NULL, 0, NULL);
	{
		json_t *groups = json_object_get(r, "poll_groups");
		json_t *tr = json_object_get(json_array_get(groups, 0), "transports");

		EXPECT(json_integer_value(json_object_get(r, "tick_rate")) > 0, "tick_rate");
		EXPECT(json_array_size(groups) == 1,
		       "poll_groups_mask 0x1: one poll group, got %zu", json_array_size(groups));
		EXPECT(strcmp(json_string_value(json_object_get(json_array_get(tr, 0), "trtype")),
			      "TCP") == 0,
		       "the poll group carries the TCP transport");
	}
	json_decref(r);

	/* Removals */
	snprintf(buf, sizeof(buf), "{\"nqn\": \"%s\", \"nsid\": 1}", C1);
	CALL("nvmf_subsystem_remove_ns", buf, 0, NULL);
	CALL("nvmf_subsystem_remove_ns", buf, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "has no namespace 1");
	snprintf(buf, sizeof(buf),
		 "{\"nqn\": \"%s\", \"listen_address\": {\"trtype\": \"TCP\", \"traddr\": "
		 "\"127.0.0.1\", \"trsvcid\": \"%d\"}}",
		 C1, port);
	CALL("nvmf_subsystem_remove_listener", buf, 0, NULL);
	CALL("nvmf_subsystem_remove_listener", buf, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
	     "no such listener");
	CALL("nvmf_delete_subsystem", "{\"nqn\": \"nqn.2016-06.io.spdk:cnode2\"}", 0, NULL);
	CALL("nvmf_delete_subsystem", "{\"nqn\": \"nqn.2016-06.io.spdk:cnode2\"}",
	     SPIO_JSONRPC_ERROR_INVALID_PARAMS, "not found");
	CALL("nvmf_delete_subsystem", "{\"nqn\": \"nqn.2014-08.org.nvmexpress.discovery\"}",
	     SPIO_JSONRPC_ERROR_INTERNAL_ERROR, "discovery");

	save_config();
	spio_app_stop(0);
	return 0;
}

static void start_methods(void *arg)
{
	(void)arg;
	if (spio_task_spawn(methods_task, NULL, NULL, NULL) != 0) {
		spio_app_stop(-ENOMEM);
	}
}

static int run_app(const char *config, spio_app_start_fn start)
{
	struct spio_app_opts o;

	spio_app_opts_init(&o, sizeof(o));
	o.name = "test_nvmf_rpc";
	o.reactor_mask = "0x1";
	o.rpc_addr = NULL;
	o.no_huge = true;
	o.json_config_text = config;
	return spio_app_start(&o, start, NULL);
}

/* The entries of the "nvmf" subsystem in g_config. */
static json_t *nvmf_config(json_t *root)
{
	json_t *subs = json_object_get(root, "subsystems");

	for (size_t i = 0; i < json_array_size(subs); i++) {
		json_t *s = json_array_get(subs, i);

		if (strcmp(json_string_value(json_object_get(s, "subsystem")), "nvmf") == 0) {
			return json_object_get(s, "config");
		}
	}
	return NULL;
}

static const char *method_at(json_t *cfg, size_t i)
{
	return json_string_value(json_object_get(json_array_get(cfg, i), "method"));
}

static json_t *params_at(json_t *cfg, size_t i)
{
	return json_object_get(json_array_get(cfg, i), "params");
}

Test(nvmf_rpc_app, methods_errors_and_save_config)
{
	static const char *config =
	    "{\"subsystems\": [{\"subsystem\": \"bdev\", \"config\": ["
	    "{\"method\": \"bdev_malloc_create\", \"params\": {\"name\": \"Malloc0\", "
	    "\"num_blocks\": 2048, \"block_size\": 512}},"
	    "{\"method\": \"bdev_null_create\", \"params\": {\"name\": \"Null0\", "
	    "\"num_blocks\": 1024, \"block_size\": 512}}]},"
	    "{\"subsystem\": \"nvmf\", \"config\": ["
	    "{\"method\": \"nvmf_set_config\", \"params\": {\"poll_groups_mask\": \"0x1\"}},"
	    "{\"method\": \"nvmf_set_max_subsystems\", \"params\": {\"max_subsystems\": 3}},"
	    "{\"method\": \"nvmf_set_crdt\", \"params\": {\"crdt1\": 0, \"crdt2\": 0, \"crdt3\": "
	    "0}}]}]}";
	json_t *root, *cfg;
	int rc;

	rc = run_app(config, start_methods);
	cr_assert_eq(rc, 0, "spio_app_start: expected 0, got %d", rc);
	cr_assert_str_eq(g_fail, "", "%s", g_fail);
	cr_assert(!g_tgt_before, "no target before the first nvmf method");
	cr_assert_null(spio_nvmf_get_tgt(NULL), "the app's end destroyed the target");

	root = json_loads(g_config, 0, NULL);
	cr_assert_not_null(root, "save_config output parses: %s", g_config);
	cfg = nvmf_config(root);
	cr_assert_not_null(cfg, "an nvmf subsystem in save_config: %s", g_config);
	/* set_config, max_subsystems, crdt, transport, cnode1, its host; no ns, no listener */
	cr_assert_eq(json_array_size(cfg), 6, "6 nvmf entries, got %zu: %s", json_array_size(cfg),
		     g_config);
	cr_assert_str_eq(method_at(cfg, 0), "nvmf_set_config");
	cr_assert_str_eq(json_string_value(json_object_get(params_at(cfg, 0), "poll_groups_mask")),
			 "1", "the mask as SPDK writes it");
	cr_assert_str_eq(method_at(cfg, 1), "nvmf_set_max_subsystems");
	cr_assert_eq(json_integer_value(json_object_get(params_at(cfg, 1), "max_subsystems")), 3);
	cr_assert_str_eq(method_at(cfg, 2), "nvmf_set_crdt");
	cr_assert_str_eq(method_at(cfg, 3), "nvmf_create_transport");
	cr_assert_eq(json_integer_value(json_object_get(params_at(cfg, 3), "in_capsule_data_size")),
		     8192);
	cr_assert_null(json_object_get(params_at(cfg, 3), "io_unit_size"),
		       "io_unit_size at its default is not written (SPDK writes none)");
	cr_assert_str_eq(method_at(cfg, 4), "nvmf_create_subsystem");
	cr_assert_str_eq(json_string_value(json_object_get(params_at(cfg, 4), "nqn")), C1);
	cr_assert(json_is_true(json_object_get(params_at(cfg, 4), "allow_any_host")));
	cr_assert_eq(json_integer_value(json_object_get(params_at(cfg, 4), "max_namespaces")), 4);
	cr_assert_str_eq(method_at(cfg, 5), "nvmf_subsystem_add_host");
	cr_assert_str_eq(json_string_value(json_object_get(params_at(cfg, 5), "host")),
			 "nqn.2016-06.io.spdk:h1");
	json_decref(root);
	free(g_config);
	g_config = NULL;
}

static void start_idle(void *arg)
{
	(void)arg;
	g_tgt_before = spio_nvmf_get_tgt(NULL) != NULL;
	save_config();
	spio_app_stop(0);
}

Test(nvmf_rpc_app, no_target_until_asked)
{
	json_t *root, *cfg;
	int rc = run_app(NULL, start_idle);

	cr_assert_eq(rc, 0, "spio_app_start: expected 0, got %d", rc);
	cr_assert(!g_tgt_before, "an app that asks for no export runs no target");
	root = json_loads(g_config, 0, NULL);
	cr_assert_not_null(root, "save_config output parses: %s", g_config);
	cfg = nvmf_config(root);
	/* SPDK's save_config of a fresh nvmf_tgt: these three and nothing else. */
	cr_assert_eq(json_array_size(cfg), 3, "3 nvmf entries, got %s", g_config);
	cr_assert_str_eq(method_at(cfg, 0), "nvmf_set_config");
	cr_assert_str_eq(method_at(cfg, 1), "nvmf_set_max_subsystems");
	cr_assert_eq(json_integer_value(json_object_get(params_at(cfg, 1), "max_subsystems")),
		     1024);
	cr_assert_str_eq(method_at(cfg, 2), "nvmf_set_crdt");
	{
		json_t *want = json_loads(g_spdk_set_config, 0, NULL);

		cr_assert(json_equal(params_at(cfg, 0), want),
			  "nvmf_set_config holds SPDK's defaults: %s", g_config);
		json_decref(want);
	}
	json_decref(root);
	free(g_config);
	g_config = NULL;
}

/* A start-up configuration spio cannot honour stops the app. */
static void start_never(void *arg)
{
	(void)arg;
	spio_app_stop(0);
}

Test(nvmf_rpc_app, startup_settings_refused)
{
	/* A refused entry ends the start-up; the twice-set one goes last (its first call sticks).
	 */
	static const char *configs[] = {
	    "{\"subsystems\": [{\"subsystem\": \"nvmf\", \"config\": [{\"method\": "
	    "\"nvmf_set_crdt\", \"params\": {\"crdt1\": 1}}]}]}",
	    "{\"subsystems\": [{\"subsystem\": \"nvmf\", \"config\": [{\"method\": "
	    "\"nvmf_set_config\", \"params\": {\"dup_host_policy\": "
	    "\"restrict_per_listener\"}}]}]}",
	    "{\"subsystems\": [{\"subsystem\": \"nvmf\", \"config\": [{\"method\": "
	    "\"nvmf_set_max_subsystems\", \"params\": {\"max_subsystems\": 0}}]}]}",
	    "{\"subsystems\": [{\"subsystem\": \"nvmf\", \"config\": [{\"method\": "
	    "\"nvmf_set_max_subsystems\", \"params\": {\"max_subsystems\": 4}}, {\"method\": "
	    "\"nvmf_set_max_subsystems\", \"params\": {\"max_subsystems\": 5}}]}]}",
	};

	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		int rc = run_app(configs[i], start_never);

		cr_assert_neq(rc, 0, "config %zu (%s): expected a failed start, got 0", i,
			      configs[i]);
	}
}

Test(nvmf_rpc_app, startup_settings_last_one_run)
{
	static const char *config =
	    "{\"subsystems\": [{\"subsystem\": \"nvmf\", \"config\": [{\"method\": "
	    "\"nvmf_set_max_subsystems\", \"params\": {\"max_subsystems\": 5}}]}]}";

	cr_assert_eq(run_app(config, start_idle), 0);
	cr_assert(strstr(g_config, "\"max_subsystems\":5") != NULL, "max_subsystems 5 saved: %s",
		  g_config);
	free(g_config);
	g_config = NULL;
	cr_assert_eq(run_app(NULL, start_idle), 0);
	cr_assert(strstr(g_config, "\"max_subsystems\":1024") != NULL,
		  "the next app starts from SPDK's default: %s", g_config);
	free(g_config);
	g_config = NULL;
}
