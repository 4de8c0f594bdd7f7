/*
 * SPDK v25.05's BlobFS RPCs (module/blobfs/bdev in SPDK), with its names,
 * parameters, results and error codes:
 * - blobfs_detect {bdev_name}: true/false. The bdev is opened, claimed,
 *   loaded as a BlobFS and unloaded. No blobstore on it: false (-EILSEQ from
 *   the load, as SPDK); a blobstore of another type: -32603 "Invalid
 *   argument"; an untyped blobstore becomes a BlobFS (SPDK does so too).
 * - blobfs_create {bdev_name, cluster_sz?}: mkfs, then unload; true.
 *   cluster_sz: bytes as a string with an optional binary unit ("1M",
 *   "4096k", SPDK's form) or, beyond SPDK, a JSON number; at least 1 MiB and a
 *   multiple of 4 KiB, else -32602 "spdk_json_decode_object failed".
 * - blobfs_set_cache_size {size_in_mb}: the cache budget of every
 *   filesystem loaded afterwards (SPDK's one global pool becomes the
 *   per-filesystem default here); 0 is refused as SPDK refuses it.
 * - blobfs_mount: spio_tgt links no libfuse, so the answer is -32603
 *   "Operation not supported" (what SPDK built without FUSE reports from
 *   spdk_blobfs_bdev_mount) naming spio_fuse, which mounts instead.
 * A bdev that is missing or claimed fails as in SPDK: -32603 with the
 * strerror of -ENODEV / -EPERM. Handlers run on the RPC (app) thread, which
 * is the bdev layer's thread and becomes the short-lived fs thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blobfs/blobfs_internal.h"
#include "spio/blob_bdev.h"
#include "spio/blobfs.h"
#include "spio/bdev_module.h"
#include "spio/json_val.h"
#include "spio/log.h"
#include "spio/rpc.h"
#include "spio/util.h"

#define MIB ((uint64_t)1024 * 1024)
/* SPDK's rules for cluster_sz (rpc_decode_cluster_sz): a multiple of its 4 KiB page, 1 MiB
 * at least. */
#define CLUSTER_SZ_ALIGN 4096u
#define CLUSTER_SZ_MIN (1024u * 1024u)
/* SPDK's message for any parameter it could not decode (ours adds what was wrong). */
#define DECODE_FAILED "spdk_json_decode_object failed"

/* Claims the bdev while a detect or create holds it (SPDK's dummy "blobfs" module). */
static struct spio_bdev_module g_blobfs_claim = {.name = "blobfs"};

struct op_ctx {
	struct spio_jsonrpc_request *req;
	bool detect;
};

static void send_internal(struct spio_jsonrpc_request *req, int rc)
{
	spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR, strerror(-rc));
}

/* Decode `params`, or answer -32602 and free what was decoded. */
static bool decode(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
		   const struct spio_rpc_param *decoders, size_t n, void *out)
{
	char err[256] = "";

	if (spio_rpc_decode_params(params, decoders, n, out, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						     DECODE_FAILED ": %s", err);
		spio_rpc_params_free(decoders, n, out);
		return false;
	}
	return true;
}

/* Open bdev `name` for writing and claim it: 0, -ENODEV, -EPERM (claimed), -ENOMEM. */
static int open_claimed(const char *name, struct spio_bs_dev **dev)
{
	int rc = spio_bdev_create_bs_dev(name, true, NULL, NULL, dev);

	if (rc != 0) {
		SPIO_INFOLOG("blobfs: cannot open bdev %s: %s\n", name, strerror(-rc));
		return rc;
	}
	rc = spio_bs_bdev_claim(*dev, &g_blobfs_claim);
	if (rc != 0) {
		SPIO_INFOLOG("blobfs: bdev %s is claimed by another module\n", name);
		(*dev)->destroy(*dev);
		*dev = NULL;
	}
	return rc;
}

/* The unload ends the claim (the device goes with the filesystem); then answer. */
static void unloaded(void *cb_arg, int rc)
{
	struct op_ctx *ctx = cb_arg;

	if (rc != 0) {
		SPIO_ERRLOG("blobfs: unload failed: %s\n", strerror(-rc));
		send_internal(ctx->req, rc);
	} else {
		/* Loaded (detect) or made (create): true either way. */
		spio_jsonrpc_send_bool_response(ctx->req, true);
	}
	free(ctx);
}

static void loaded(void *cb_arg, struct spio_filesystem *fs, int rc)
{
	struct op_ctx *ctx = cb_arg;

	if (rc != 0) {
		/* The failed load or init destroyed the device: the claim is gone. */
		if (ctx->detect && rc == -EILSEQ) {
			/* No blobstore at all: SPDK's "false". */
			spio_jsonrpc_send_bool_response(ctx->req, false);
		} else {
			send_internal(ctx->req, rc);
		}
		free(ctx);
		return;
	}
	spio_fs_unload(fs, unloaded, ctx);
}

/* Open, claim and load (detect) or init (create) bdev `name`; answers `req` in any case. */
static void run_op(struct spio_jsonrpc_request *req, const char *name, bool detect,
		   uint32_t cluster_sz)
{
	struct spio_blobfs_opts opts;
	struct spio_bs_dev *dev;
	struct op_ctx *ctx;
	int rc;

	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "Out of memory");
		return;
	}
	rc = open_claimed(name, &dev);
	if (rc != 0) {
		free(ctx);
		send_internal(req, rc);
		return;
	}
	ctx->req = req;
	ctx->detect = detect;
	spio_fs_opts_init(&opts, sizeof(opts));
	if (detect) {
		spio_fs_load(dev, &opts, loaded, ctx);
		return;
	}
	if (cluster_sz != 0) {
		opts.cluster_sz = cluster_sz;
	}
	spio_fs_init(dev, &opts, loaded, ctx);
}

/*
 * blobfs_detect
 */

struct detect_params {
	char *bdev_name;
};

static const struct spio_rpc_param g_detect_decoders[] = {
    {"bdev_name", SPIO_RPC_PARAM_STRING, offsetof(struct detect_params, bdev_name), false},
};

static void rpc_blobfs_detect(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct detect_params p = {0};

	if (!decode(req, params, g_detect_decoders, SPIO_COUNTOF(g_detect_decoders), &p)) {
		return;
	}
	run_op(req, p.bdev_name, true, 0);
	spio_rpc_params_free(g_detect_decoders, SPIO_COUNTOF(g_detect_decoders), &p);
}
SPIO_RPC_REGISTER("blobfs_detect", rpc_blobfs_detect, SPIO_RPC_RUNTIME)

/*
 * blobfs_create
 */

struct create_params {
	char *bdev_name;
	char *cluster_sz_str;
	uint64_t cluster_sz;
};

/* cluster_sz as a string (SPDK's form) or a number: two tables, chosen by its JSON type. */
static const struct spio_rpc_param g_create_str_decoders[] = {
    {"bdev_name", SPIO_RPC_PARAM_STRING, offsetof(struct create_params, bdev_name), false},
    {"cluster_sz", SPIO_RPC_PARAM_STRING, offsetof(struct create_params, cluster_sz_str), true},
};
static const struct spio_rpc_param g_create_num_decoders[] = {
    {"bdev_name", SPIO_RPC_PARAM_STRING, offsetof(struct create_params, bdev_name), false},
    {"cluster_sz", SPIO_RPC_PARAM_UINT64, offsetof(struct create_params, cluster_sz), true},
};

/* 0 if `sz` passes SPDK's checks (and fits the blobstore's 32-bit cluster size). */
static int check_cluster_sz(uint64_t sz)
{
	if (sz < CLUSTER_SZ_MIN || sz % CLUSTER_SZ_ALIGN != 0 || sz > UINT32_MAX) {
		return -EINVAL;
	}
	return 0;
}

static void rpc_blobfs_create(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	const struct spio_rpc_param *decoders = g_create_str_decoders;
	const struct spio_json_val *cs = spio_json_object_get(params, "cluster_sz");
	struct create_params p = {0};
	size_t n = SPIO_COUNTOF(g_create_str_decoders);

	if (spio_json_val_type(cs) == SPIO_JSON_INTEGER) {
		decoders = g_create_num_decoders;
		n = SPIO_COUNTOF(g_create_num_decoders);
	}
	if (!decode(req, params, decoders, n, &p)) {
		return;
	}
	if ((p.cluster_sz_str != NULL &&
	     spio_parse_capacity(p.cluster_sz_str, &p.cluster_sz) != 0) ||
	    (cs != NULL && check_cluster_sz(p.cluster_sz) != 0)) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
						 DECODE_FAILED
						 ": invalid cluster_sz (bytes, "
						 "optionally with a unit k, m or g: at least 1M, "
						 "a multiple of 4k)");
	} else {
		run_op(req, p.bdev_name, false, (uint32_t)p.cluster_sz);
	}
	spio_rpc_params_free(decoders, n, &p);
}
SPIO_RPC_REGISTER("blobfs_create", rpc_blobfs_create, SPIO_RPC_RUNTIME)

/*
 * blobfs_set_cache_size
 */

struct cache_params {
	uint64_t size_in_mb;
};

static const struct spio_rpc_param g_cache_decoders[] = {
    {"size_in_mb", SPIO_RPC_PARAM_UINT64, offsetof(struct cache_params, size_in_mb), false},
};

static void rpc_blobfs_set_cache_size(struct spio_jsonrpc_request *req,
				      const struct spio_json_val *params)
{
	struct cache_params p = {0};

	if (!decode(req, params, g_cache_decoders, SPIO_COUNTOF(g_cache_decoders), &p)) {
		return;
	}
	/* SPDK refuses 0; a size whose bytes overflow 64 bits is refused too (SPDK wrapped). */
	if (p.size_in_mb == 0 || p.size_in_mb > UINT64_MAX / MIB) {
		spio_jsonrpc_send_error_response_fmt(
		    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
		    DECODE_FAILED ": size_in_mb: expected 1 to %" PRIu64, UINT64_MAX / MIB);
		return;
	}
	blobfs_set_default_cache_size(p.size_in_mb * MIB);
	spio_jsonrpc_send_bool_response(req, true);
}
SPIO_RPC_REGISTER("blobfs_set_cache_size", rpc_blobfs_set_cache_size,
		  SPIO_RPC_STARTUP | SPIO_RPC_RUNTIME)

/*
 * blobfs_mount
 */

struct mount_params {
	char *bdev_name;
	char *mountpoint;
};

static const struct spio_rpc_param g_mount_decoders[] = {
    {"bdev_name", SPIO_RPC_PARAM_STRING, offsetof(struct mount_params, bdev_name), false},
    {"mountpoint", SPIO_RPC_PARAM_STRING, offsetof(struct mount_params, mountpoint), false},
};

static void rpc_blobfs_mount(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	struct mount_params p = {0};

	if (!decode(req, params, g_mount_decoders, SPIO_COUNTOF(g_mount_decoders), &p)) {
		return;
	}
	spio_jsonrpc_send_error_response_fmt(
	    req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
	    "%s: spio_tgt has no FUSE; mount the BlobFS on bdev %s with `spio_fuse CONFIG BDEV "
	    "MOUNTPOINT` (CONFIG creates the bdev; the target must not hold it)",
	    strerror(ENOTSUP), p.bdev_name);
	spio_rpc_params_free(g_mount_decoders, SPIO_COUNTOF(g_mount_decoders), &p);
}
SPIO_RPC_REGISTER("blobfs_mount", rpc_blobfs_mount, SPIO_RPC_RUNTIME)
