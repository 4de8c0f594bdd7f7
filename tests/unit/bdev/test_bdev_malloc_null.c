/*
 * The malloc and null modules' options and RPCs: opts_size handling, every
 * parameter SPDK's rpc.py sends accepted at its default, each unsupported
 * one refused (naming it and its value) where it would change something,
 * the honoured ones visible in bdev_get_bdevs, and save_config entries
 * that recreate the same bdev.
 *
 * The requests marked "rpc.py" are what SPDK's client sends
 * (../shared/clients/spdk-rpc/scripts/rpc.py --dry-run ...).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "helper_fixture.h"
#include "spio/bdev.h"
#include "spio/bdev_malloc.h"
#include "spio/bdev_null.h"
#include "spio/rpc.h"

static void setup(void)
{
	fx_init("malloc_null");
}

TestSuite(malloc_null, .init = setup, .fini = fx_fini);

#define UUID_A "11111111-2222-3333-4444-555555555555"

/* rpc.py bdev_malloc_create -b M1 64 512 */
static const char g_malloc_plain[] = "{\"num_blocks\": 131072, \"block_size\": 512, \"name\": "
				     "\"M1\", \"md_interleave\": false, \"dif_is_head_of_md\": "
				     "false}";

/* rpc.py bdev_malloc_create -b M1 -u UUID_A -p 512 -o 0 -m 0 -t 0 -f 0 -n -1 64 512 */
static const char g_malloc_all[] =
    "{\"num_blocks\": 131072, \"block_size\": 512, \"physical_block_size\": 512, \"name\": "
    "\"M1\", \"uuid\": \"" UUID_A "\", \"optimal_io_boundary\": 0, \"md_size\": 0, "
    "\"md_interleave\": false, \"dif_type\": 0, \"dif_is_head_of_md\": false, "
    "\"dif_pi_format\": 0, \"numa_id\": -1}";

/* rpc.py bdev_null_create N1 64 512 */
static const char g_null_plain[] = "{\"num_blocks\": 131072, \"block_size\": 512, \"name\": "
				   "\"N1\", \"dif_is_head_of_md\": false}";

/* rpc.py bdev_null_create N1 64 512 -u UUID_A -p 512 -m 0 -t 0 -f 0 -a 0 -g 0 -s 0 -c 0 -r 0 */
static const char g_null_all[] =
    "{\"num_blocks\": 131072, \"block_size\": 512, \"physical_block_size\": 512, \"name\": "
    "\"N1\", \"uuid\": \"" UUID_A "\", \"md_size\": 0, \"dif_type\": 0, "
    "\"dif_is_head_of_md\": false, \"dif_pi_format\": 0, \"preferred_write_alignment\": 0, "
    "\"preferred_write_granularity\": 0, \"optimal_write_size\": 0, "
    "\"preferred_unmap_alignment\": 0, \"preferred_unmap_granularity\": 0}";

/*
 * Helpers
 */

/* `base` (JSON text) with `key` set to `value` (a JSON text). */
static json_t *params_with(const char *base, const char *key, const char *value)
{
	json_t *p = json_loads(base, 0, NULL);
	json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);

	cr_assert_not_null(p, "bad test JSON %s", base);
	cr_assert_not_null(v, "bad test JSON %s", value);
	cr_assert_eq(json_object_set_new(p, key, v), 0);
	return p;
}

/* The one bdev_get_bdevs entry of `name`; the caller's reference. */
static json_t *get_bdev(const char *name)
{
	json_t *res = fx_rpc("bdev_get_bdevs", json_pack("{s:s}", "name", name), 0, NULL);
	json_t *b;

	cr_assert_eq(json_array_size(res), 1);
	b = json_incref(json_array_get(res, 0));
	json_decref(res);
	return b;
}

static size_t bdev_count(void)
{
	json_t *res = fx_rpc("bdev_get_bdevs", NULL, 0, NULL);
	size_t n = json_array_size(res);

	json_decref(res);
	return n;
}

static void delete_by_rpc(const char *module, const char *name)
{
	char method[64];

	snprintf(method, sizeof(method), "bdev_%s_delete", module);
	json_decref(fx_rpc(method, json_pack("{s:s}", "name", name), 0, NULL));
	cr_assert_null(spio_bdev_get_by_name(name), "%s deleted", name);
}

/* `params` (JSON text) creates `name` by bdev_<module>_create; then deleted. */
static void expect_accepted(const char *module, const char *name, json_t *params)
{
	char method[64];
	json_t *res;

	snprintf(method, sizeof(method), "bdev_%s_create", module);
	res = fx_rpc(method, params, 0, NULL);
	cr_assert_str_eq(json_string_value(res), name, "the result is the name");
	json_decref(res);
	delete_by_rpc(module, name);
}

/* `params` is refused with `code` and a message containing `want`; no bdev is left. */
static void expect_refused(const char *module, json_t *params, int code, const char *want)
{
	char method[64];

	snprintf(method, sizeof(method), "bdev_%s_create", module);
	cr_assert_null(fx_rpc(method, params, code, want));
	cr_assert_eq(bdev_count(), 0, "a refused create leaves no bdev");
}

/*
 * save_config: the bdev's entry, replayed after deleting the bdev, gives
 * back the same bdev_get_bdevs entry (name, UUID, geometry, options).
 */
static void expect_round_trip(const char *module, const char *name)
{
	json_t *entry = fx_config_entry(spio_bdev_get_by_name(name));
	json_t *before = get_bdev(name), *after;
	char method[64];

	snprintf(method, sizeof(method), "bdev_%s_create", module);
	cr_assert_str_eq(json_string_value(json_object_get(entry, "method")), method);
	delete_by_rpc(module, name);
	json_decref(fx_rpc(method, json_incref(json_object_get(entry, "params")), 0, NULL));
	after = get_bdev(name);
	cr_assert(json_equal(before, after), "replayed %s differs:\n%s\n%s", name,
		  json_dumps(before, JSON_COMPACT), json_dumps(after, JSON_COMPACT));
	json_decref(before);
	json_decref(after);
	json_decref(entry);
}

static uint32_t member_u32(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	cr_assert(json_is_integer(v), "%s: expected an integer", key);
	return (uint32_t)json_integer_value(v);
}

/* True on a machine with one NUMA node (where numa_id 0 changes nothing). */
static bool single_numa_node(void)
{
	FILE *fp = fopen("/sys/devices/system/node/online", "re");
	char line[64] = "";

	if (fp == NULL) {
		return true;
	}
	if (fgets(line, sizeof(line), fp) == NULL) {
		line[0] = '\0';
	}
	fclose(fp);
	return strcmp(line, "0\n") == 0;
}

/*
 * opts_size
 */

Test(malloc_null, malloc_opts_init_and_size)
{
	struct spio_bdev_malloc_opts o;
	struct spio_bdev *b = NULL;
	char err[256] = "";
	size_t old = offsetof(struct spio_bdev_malloc_opts, physical_block_size);

	spio_bdev_malloc_opts_init(&o, sizeof(o));
	cr_assert_eq(o.opts_size, sizeof(o));
	cr_assert_null(o.name);
	cr_assert(spio_uuid_is_null(&o.uuid));
	cr_assert_eq(o.num_blocks, 0);
	cr_assert_eq(o.md_size + o.dif_type + o.dif_pi_format + o.optimal_io_boundary, 0);
	cr_assert_eq(o.numa_id, -1, "any NUMA node by default");

	/* init writes only what the caller knows */
	memset(&o, 0xab, sizeof(o));
	spio_bdev_malloc_opts_init(&o, old);
	cr_assert_eq(o.opts_size, old);
	cr_assert_eq(o.block_size, 0);
	cr_assert_eq(o.physical_block_size, 0xabababab, "beyond opts_size: untouched");
	spio_bdev_malloc_opts_init(NULL, sizeof(o));
	spio_bdev_malloc_opts_init(&o, 0);
	cr_assert_eq(o.opts_size, old, "size 0 is ignored");

	/* An older caller: what lies beyond its opts_size takes the defaults. */
	o.name = "Old0";
	o.num_blocks = 64;
	o.block_size = 512;
	cr_assert_eq(spio_bdev_malloc_create(&o, &b, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(spio_bdev_get_num_blocks(b), 64);
	cr_assert_eq(spio_bdev_get_optimal_io_boundary(b), 0, "0xabab... not read");

	o.opts_size = 0;
	cr_assert_eq(spio_bdev_malloc_create(&o, &b, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "malloc") != NULL, "message: %s", err);
	cr_assert_eq(spio_bdev_malloc_create(NULL, &b, NULL, 0), -EINVAL);
	spio_bdev_malloc_opts_init(&o, sizeof(o));
	o.num_blocks = 8;
	o.block_size = 512;
	cr_assert_eq(spio_bdev_malloc_create(&o, NULL, NULL, 0), -EINVAL);
}

Test(malloc_null, null_opts_init_and_size)
{
	struct spio_bdev_null_opts o;
	struct spio_bdev *b = NULL;
	char err[256] = "";
	size_t old = offsetof(struct spio_bdev_null_opts, physical_block_size);

	spio_bdev_null_opts_init(&o, sizeof(o));
	cr_assert_eq(o.opts_size, sizeof(o));
	cr_assert_null(o.name);
	cr_assert_eq(o.md_size + o.dif_type + o.preferred_write_alignment + o.optimal_write_size,
		     0);

	memset(&o, 0xab, sizeof(o));
	spio_bdev_null_opts_init(&o, old);
	cr_assert_eq(o.opts_size, old);
	cr_assert_eq(o.md_size, 0xabababab, "beyond opts_size: untouched");

	/* md_size and dif_type hold 0xabab... but lie beyond the caller's size */
	o.name = "Old0";
	o.num_blocks = 64;
	o.block_size = 4096;
	cr_assert_eq(spio_bdev_null_create(&o, &b, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(spio_bdev_get_block_size(b), 4096);

	o.opts_size = 0;
	cr_assert_eq(spio_bdev_null_create(&o, &b, err, sizeof(err)), -EINVAL);
	cr_assert_eq(spio_bdev_null_create(NULL, &b, NULL, 0), -EINVAL);
	spio_bdev_null_opts_init(&o, sizeof(o));
	o.num_blocks = 8;
	o.block_size = 512;
	cr_assert_eq(spio_bdev_null_create(&o, NULL, NULL, 0), -EINVAL);
}

/*
 * What rpc.py sends, at the defaults
 */

Test(malloc_null, malloc_rpc_py_requests_at_defaults)
{
	expect_accepted("malloc", "M1", json_loads(g_malloc_plain, 0, NULL));
	expect_accepted("malloc", "M1", json_loads(g_malloc_all, 0, NULL));
	/* with no metadata these describe nothing: accepted at any value */
	expect_accepted("malloc", "M1", params_with(g_malloc_all, "md_interleave", "true"));
	expect_accepted("malloc", "M1", params_with(g_malloc_all, "dif_is_head_of_md", "true"));
	expect_accepted("malloc", "M1", params_with(g_malloc_all, "dif_pi_format", "2"));
	if (single_numa_node()) {
		expect_accepted("malloc", "M1", params_with(g_malloc_all, "numa_id", "0"));
	}
	/* SPDK's block sizes: any multiple of 512 */
	expect_accepted("malloc", "M1", params_with(g_malloc_plain, "block_size", "1024"));
}

Test(malloc_null, null_rpc_py_requests_at_defaults)
{
	expect_accepted("null", "N1", json_loads(g_null_plain, 0, NULL));
	expect_accepted("null", "N1", json_loads(g_null_all, 0, NULL));
	expect_accepted("null", "N1", params_with(g_null_all, "dif_is_head_of_md", "true"));
	expect_accepted("null", "N1", params_with(g_null_all, "dif_pi_format", "1"));
	expect_accepted("null", "N1", params_with(g_null_plain, "block_size", "4608"));
}

/*
 * Refused where they would change the data
 */

Test(malloc_null, malloc_refuses_unsupported_values_by_name)
{
	expect_refused("malloc", params_with(g_malloc_all, "md_size", "8"), -EINVAL,
		       "md_size 8: metadata is not supported");
	expect_refused("malloc", params_with(g_malloc_all, "dif_type", "1"), -EINVAL,
		       "dif_type 1: protection information is not supported");
	expect_refused("malloc", params_with(g_malloc_all, "dif_pi_format", "3"), -EINVAL,
		       "dif_pi_format 3");
	expect_refused("malloc", params_with(g_malloc_all, "numa_id", "7"), -EINVAL,
		       "numa_id 7: NUMA placement is not supported");
	expect_refused("malloc", params_with(g_malloc_all, "uuid", "\"not-a-uuid\""),
		       SPIO_JSONRPC_ERROR_INVALID_PARAMS, "'uuid': 'not-a-uuid' is not a UUID");
	expect_refused("malloc", params_with(g_malloc_all, "numa_id", "4294967296"),
		       SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		       "'numa_id': expected a 32-bit integer, got 4294967296");
	expect_refused("malloc", params_with(g_malloc_all, "block_size", "1000"), -EINVAL,
		       "block_size 1000");
	expect_refused("malloc", params_with(g_malloc_all, "physical_block_size", "1000"), -EINVAL,
		       "physical_block_size 1000");
	expect_refused("malloc", params_with(g_malloc_all, "num_blocks", "0"), -EINVAL,
		       "num_blocks 0");
	expect_refused("malloc", params_with(g_malloc_all, "dif_type", "-1"),
		       SPIO_JSONRPC_ERROR_INVALID_PARAMS, "dif_type");
	expect_refused("malloc", params_with(g_malloc_all, "uuid", "\"zz\""),
		       SPIO_JSONRPC_ERROR_INVALID_PARAMS, "uuid");
	expect_refused("malloc", params_with(g_malloc_all, "colour", "\"red\""),
		       SPIO_JSONRPC_ERROR_INVALID_PARAMS, "colour");
}

Test(malloc_null, null_refuses_unsupported_values_by_name)
{
	expect_refused("null", params_with(g_null_all, "md_size", "8"), -EINVAL,
		       "md_size 8: metadata is not supported");
	expect_refused("null", params_with(g_null_all, "dif_type", "3"), -EINVAL,
		       "dif_type 3: protection information is not supported");
	expect_refused("null", params_with(g_null_all, "dif_pi_format", "9"), -EINVAL,
		       "dif_pi_format 9");
	expect_refused("null", params_with(g_null_all, "block_size", "100"), -EINVAL,
		       "block_size 100");
	expect_refused("null", params_with(g_null_all, "physical_block_size", "513"), -EINVAL,
		       "physical_block_size 513");
	expect_refused("null", params_with(g_null_all, "num_blocks", "0"), -EINVAL, "num_blocks 0");
	/* malloc's options are not null's */
	expect_refused("null", params_with(g_null_all, "md_interleave", "false"),
		       SPIO_JSONRPC_ERROR_INVALID_PARAMS, "md_interleave");
}

Test(malloc_null, taken_names_and_uuids)
{
	json_decref(fx_rpc_text("bdev_malloc_create", g_malloc_all, 0, NULL));
	cr_assert_null(fx_rpc("bdev_null_create", params_with(g_null_all, "name", "\"M1\""),
			      -EEXIST, "M1: a bdev of that name exists"));
	cr_assert_null(fx_rpc("bdev_null_create", json_loads(g_null_all, 0, NULL), -EEXIST, NULL),
		       "the UUID is taken");
	cr_assert_null(fx_rpc_text("bdev_malloc_create",
				   "{\"name\": \"\", \"num_blocks\": 8, \"block_size\": 512}",
				   -EINVAL, "empty"));
	cr_assert_eq(bdev_count(), 1);
}

/*
 * Honoured: visible in bdev_get_bdevs
 */

Test(malloc_null, malloc_honoured_options_show)
{
	json_t *b;

	json_decref(fx_rpc_text("bdev_malloc_create",
				"{\"name\": \"M2\", \"num_blocks\": 256, \"block_size\": 4096, "
				"\"uuid\": \"" UUID_A "\", \"physical_block_size\": 16384, "
				"\"optimal_io_boundary\": 8}",
				0, NULL));
	b = get_bdev("M2");
	cr_assert_str_eq(json_string_value(json_object_get(b, "uuid")), UUID_A);
	cr_assert_eq(member_u32(b, "block_size"), 4096);
	cr_assert_eq(json_integer_value(json_object_get(b, "num_blocks")), 256);
	cr_assert_eq(member_u32(b, "optimal_io_boundary"), 8);
	cr_assert_eq(member_u32(b, "physical_block_size"), 16384);
	json_decref(b);

	/* without one, the physical block is the block */
	json_decref(fx_rpc_text("bdev_malloc_create", g_malloc_plain, 0, NULL));
	b = get_bdev("M1");
	cr_assert_eq(member_u32(b, "physical_block_size"), 512);
	cr_assert_eq(member_u32(b, "optimal_io_boundary"), 0);
	json_decref(b);
}

Test(malloc_null, null_honoured_options_show)
{
	json_t *b;

	json_decref(fx_rpc_text(
	    "bdev_null_create",
	    "{\"name\": \"N2\", \"num_blocks\": 100, \"block_size\": 1024, \"uuid\": \"" UUID_A
	    "\", \"physical_block_size\": 4096, \"preferred_write_alignment\": 2, "
	    "\"preferred_write_granularity\": 4, \"optimal_write_size\": 8, "
	    "\"preferred_unmap_alignment\": 16, \"preferred_unmap_granularity\": 32}",
	    0, NULL));
	b = get_bdev("N2");
	cr_assert_str_eq(json_string_value(json_object_get(b, "uuid")), UUID_A);
	cr_assert_eq(member_u32(b, "block_size"), 1024);
	/* at the top level, where SPDK's bdev_get_bdevs has them */
	cr_assert_eq(member_u32(b, "physical_block_size"), 4096);
	cr_assert_eq(member_u32(b, "preferred_write_alignment"), 2);
	cr_assert_eq(member_u32(b, "preferred_write_granularity"), 4);
	cr_assert_eq(member_u32(b, "optimal_write_size"), 8);
	cr_assert_eq(member_u32(b, "preferred_unmap_alignment"), 16);
	cr_assert_eq(member_u32(b, "preferred_unmap_granularity"), 32);
	json_decref(b);
}

/*
 * save_config
 */

Test(malloc_null, malloc_save_config_round_trip)
{
	json_t *entry, *p;

	json_decref(fx_rpc_text("bdev_malloc_create",
				"{\"name\": \"M3\", \"num_blocks\": 64, \"block_size\": 1024, "
				"\"physical_block_size\": 4096, \"optimal_io_boundary\": 4}",
				0, NULL));
	entry = fx_config_entry(spio_bdev_get_by_name("M3"));
	p = json_object_get(entry, "params");
	cr_assert_eq(member_u32(p, "physical_block_size"), 4096);
	cr_assert_eq(member_u32(p, "optimal_io_boundary"), 4);
	json_decref(entry);
	expect_round_trip("malloc", "M3");
	/* a generated name round-trips too */
	json_decref(
	    fx_rpc_text("bdev_malloc_create", "{\"num_blocks\": 8, \"block_size\": 512}", 0, NULL));
	expect_round_trip("malloc", "Malloc0");
}

Test(malloc_null, null_save_config_round_trip_after_resize)
{
	json_decref(fx_rpc_text("bdev_null_create",
				"{\"name\": \"N3\", \"num_blocks\": 2048, \"block_size\": 512, "
				"\"physical_block_size\": 4096, \"optimal_write_size\": 8, "
				"\"preferred_unmap_granularity\": 32}",
				0, NULL));
	json_decref(fx_rpc("bdev_null_resize", json_pack("{s:s, s:i}", "name", "N3", "new_size", 4),
			   0, NULL));
	cr_assert_eq(spio_bdev_get_num_blocks(spio_bdev_get_by_name("N3")), 8192, "4 MiB");
	expect_round_trip("null", "N3");
}

Test(malloc_null, null_resize_errors_as_spdk)
{
	json_decref(fx_rpc_text("bdev_null_create", g_null_plain, 0, NULL));
	json_decref(fx_rpc_text("bdev_malloc_create", g_malloc_plain, 0, NULL));
	cr_assert_null(fx_rpc("bdev_null_resize",
			      json_pack("{s:s, s:i}", "name", "nope", "new_size", 4), -ENODEV,
			      "nope"));
	cr_assert_null(fx_rpc("bdev_null_resize",
			      json_pack("{s:s, s:i}", "name", "M1", "new_size", 4), -EINVAL, "M1"),
		       "a bdev of another module: SPDK's -EINVAL");
	cr_assert_null(fx_rpc("bdev_null_resize", json_pack("{s:s}", "name", "N1"),
			      SPIO_JSONRPC_ERROR_INVALID_PARAMS, "new_size"));
	cr_assert_eq(spio_bdev_null_resize("N1", 128), 0);
	cr_assert_eq(spio_bdev_null_resize(NULL, 128), -EINVAL);
	cr_assert_eq(spio_bdev_null_resize("M1", 128), -EINVAL);
}
