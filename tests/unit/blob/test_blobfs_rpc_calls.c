/*
 * The BlobFS RPCs in process (spio_rpc_call): blobfs_set_cache_size sets the
 * cache budget that spio_fs_opts_init() and NULL opts give filesystems made
 * afterwards, a filesystem already loaded keeps its own, and bad sizes change
 * nothing; blobfs_mount is refused naming spio_fuse; parameter errors. The
 * bdev paths (detect, create, claims) are in tests/func/test_blobfs_rpc.sh.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "helper_blob_thread.h"
#include "spio/blob_bdev.h"
#include "spio/blobfs.h"
#include "spio/env.h"
#include "spio/json_val.h"
#include "spio/rpc.h"
#include "spio/thread.h"

#define MIB (1024ull * 1024)
#define POLL_MAX 100000

static struct spio_thread *g_thread;

static void setup(void)
{
	blob_test_env_init("test_blobfs_rpc_calls");
	g_thread = blob_test_thread_start("blobfs_rpc");
}

static void teardown(void)
{
	blob_test_thread_end(g_thread);
	spio_env_fini();
}

TestSuite(blobfs_rpc_calls, .init = setup, .fini = teardown);

struct answer {
	bool done;
	int code;
	char msg[512];
	bool is_true;
};

static void rpc_done(void *ctx, int error_code, const char *error_msg,
		     const struct spio_json_val *result)
{
	struct answer *a = ctx;

	a->done = true;
	a->code = error_code;
	if (error_msg != NULL) {
		snprintf(a->msg, sizeof(a->msg), "%s", error_msg);
	}
	a->is_true = error_code == 0 && spio_json_val_type(result) == SPIO_JSON_TRUE;
}

/* Call `method` with the JSON text `params` and wait for its answer. */
static struct answer call(const char *method, const char *params)
{
	struct answer a = {0};
	struct spio_json_val *p = spio_json_parse(params, strlen(params), NULL, 0);

	cr_assert_not_null(p, "bad test JSON %s", params);
	cr_assert_eq(spio_rpc_call(method, p, rpc_done, &a), 0);
	for (int i = 0; i < POLL_MAX && !a.done; i++) {
		blob_test_thread_poll(g_thread, 1);
	}
	spio_json_val_free(p);
	cr_assert(a.done, "%s %s: no answer", method, params);
	return a;
}

struct fs_done {
	int n;
	int rc;
	struct spio_filesystem *fs;
};

static void fs_cb(void *arg, struct spio_filesystem *fs, int rc)
{
	struct fs_done *d = arg;

	d->n++;
	d->rc = rc;
	d->fs = fs;
}

static void op_cb(void *arg, int rc)
{
	struct fs_done *d = arg;

	d->n++;
	d->rc = rc;
}

static void wait_n(struct fs_done *d, int n)
{
	for (int i = 0; i < POLL_MAX && d->n < n; i++) {
		blob_test_thread_poll(g_thread, 1);
	}
	cr_assert_eq(d->n, n, "operation did not complete");
}

/* mkfs on a 16 MiB memory device with NULL opts (the defaults). */
static struct spio_filesystem *mkfs(void)
{
	struct spio_bs_dev *dev = spio_bs_dev_mem_create(4096, 4096);
	struct fs_done d = {0};

	cr_assert_not_null(dev);
	spio_fs_init(dev, NULL, fs_cb, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0, "spio_fs_init: %d", d.rc);
	return d.fs;
}

static void unload(struct spio_filesystem *fs)
{
	struct fs_done d = {0};

	spio_fs_unload(fs, op_cb, &d);
	wait_n(&d, 1);
	cr_assert_eq(d.rc, 0);
}

static uint64_t opts_cache_size(void)
{
	struct spio_blobfs_opts o;

	spio_fs_opts_init(&o, sizeof(o));
	return o.cache_size;
}

Test(blobfs_rpc_calls, set_cache_size_applies_to_later_filesystems)
{
	struct spio_filesystem *before, *after;
	struct answer a;

	cr_assert_eq(opts_cache_size(), SPIO_BLOBFS_DEFAULT_CACHE_SIZE);
	before = mkfs();
	cr_assert_eq(spio_fs_get_cache_size(before), SPIO_BLOBFS_DEFAULT_CACHE_SIZE);

	a = call("blobfs_set_cache_size", "{\"size_in_mb\": 3}");
	cr_assert(a.code == 0 && a.is_true, "code %d %s", a.code, a.msg);
	cr_assert_eq(opts_cache_size(), 3 * MIB);
	after = mkfs();
	cr_assert_eq(spio_fs_get_cache_size(after), 3 * MIB);
	/* The one loaded before keeps its budget. */
	cr_assert_eq(spio_fs_get_cache_size(before), SPIO_BLOBFS_DEFAULT_CACHE_SIZE);
	unload(after);
	unload(before);

	/* Refusals change nothing. */
	static const char *const bad[] = {
	    "{\"size_in_mb\": 0}",	     "{\"size_in_mb\": -1}",
	    "{\"size_in_mb\": \"1M\"}",	     "{}",
	    "{\"size_in_mb\": 1, \"x\": 2}", "{\"size_in_mb\": \"18446744073709551615\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = call("blobfs_set_cache_size", bad[i]);
		cr_assert_eq(a.code, SPIO_JSONRPC_ERROR_INVALID_PARAMS, "%s: code %d", bad[i],
			     a.code);
		cr_assert(strstr(a.msg, "spdk_json_decode_object failed") != NULL, "%s", a.msg);
	}
	cr_assert_eq(opts_cache_size(), 3 * MIB);

	a = call("blobfs_set_cache_size", "{\"size_in_mb\": 256}");
	cr_assert(a.code == 0 && a.is_true);
	cr_assert_eq(opts_cache_size(), SPIO_BLOBFS_DEFAULT_CACHE_SIZE);
}

Test(blobfs_rpc_calls, mount_is_refused_naming_spio_fuse)
{
	struct answer a;

	/* A runtime-only method, as in SPDK: refused during start-up. */
	a = call("blobfs_mount", "{\"bdev_name\": \"Malloc0\", \"mountpoint\": \"/mnt\"}");
	cr_assert_eq(a.code, SPIO_JSONRPC_ERROR_INVALID_STATE);
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
	a = call("blobfs_mount", "{\"bdev_name\": \"Malloc0\", \"mountpoint\": \"/mnt\"}");
	cr_assert_eq(a.code, SPIO_JSONRPC_ERROR_INTERNAL_ERROR);
	cr_assert(strstr(a.msg, "spio_fuse CONFIG BDEV MOUNTPOINT") != NULL, "%s", a.msg);
	cr_assert(strstr(a.msg, "Malloc0") != NULL, "%s", a.msg);
	a = call("blobfs_mount", "{\"bdev_name\": \"Malloc0\"}");
	cr_assert_eq(a.code, SPIO_JSONRPC_ERROR_INVALID_PARAMS);
}

Test(blobfs_rpc_calls, create_and_detect_refuse_bad_parameters)
{
	static const char *const bad[] = {
	    "{}",
	    "{\"bdev_name\": 7}",
	    "{\"bdev_name\": \"Malloc0\", \"cluster_sz\": \"512k\"}",
	    "{\"bdev_name\": \"Malloc0\", \"cluster_sz\": \"1048577\"}",
	    "{\"bdev_name\": \"Malloc0\", \"cluster_sz\": \"4G\"}",
	    "{\"bdev_name\": \"Malloc0\", \"cluster_sz\": 1024}",
	    "{\"bdev_name\": \"Malloc0\", \"cluster_sz\": null}",
	    "{\"bdev_name\": \"Malloc0\", \"cluster_sz\": \"1 M\"}",
	};
	struct answer a;

	/* Both are runtime-only, as in SPDK. */
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = call("blobfs_create", bad[i]);
		cr_assert_eq(a.code, SPIO_JSONRPC_ERROR_INVALID_PARAMS, "%s: code %d %s", bad[i],
			     a.code, a.msg);
	}
	a = call("blobfs_detect", "{\"bdev_name\": \"Malloc0\", \"cluster_sz\": \"1M\"}");
	cr_assert_eq(a.code, SPIO_JSONRPC_ERROR_INVALID_PARAMS);
}
