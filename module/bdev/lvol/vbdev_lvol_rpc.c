/* The lvol RPCs, with SPDK's names, parameters, results and error codes:
 * lookups that fail answer the negative errno (-19 "No such device", -22
 * "Invalid argument"), an operation that fails later answers -32602 with
 * its strerror (bdev_lvol_delete: -32603), as SPDK's handlers do. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spio/json.h"
#include "spio/rpc.h"
#include "vbdev_lvol.h"

#define ALIAS_MAX (SPIO_LVS_NAME_MAX + SPIO_LVOL_NAME_MAX + 1)

/* Decode into `out`; on failure answer -32602 naming the problem, free the
 * strings and return false. */
static bool decode(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
		   const struct spio_rpc_param *decoders, size_t n, void *out)
{
	char err[256] = "";

	if (spio_rpc_decode_params(params, decoders, n, out, err, sizeof(err)) != 0) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, err);
		spio_rpc_params_free(decoders, n, out);
		return false;
	}
	return true;
}

static void send_errno(struct spio_jsonrpc_request *req, int rc)
{
	spio_jsonrpc_send_error_response(req, rc, strerror(-rc));
}

/* SPDK's answer to an operation that failed after it started. */
static void send_op_error(struct spio_jsonrpc_request *req, int rc)
{
	spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, strerror(-rc));
}

/* The result writer of an operation that finished: NULL if rc failed (answered here) or the
 * answer cannot be written. */
static struct spio_json_write_ctx *op_result_begin(struct spio_jsonrpc_request *req, int rc)
{
	if (rc != 0) {
		send_op_error(req, rc);
		return NULL;
	}
	return spio_jsonrpc_begin_result(req);
}

static void op_bool_done(void *cb_arg, int rc)
{
	struct spio_jsonrpc_request *req = cb_arg;

	if (rc != 0) {
		send_op_error(req, rc);
		return;
	}
	spio_jsonrpc_send_bool_response(req, true);
}

/* Exactly one of a store UUID and a store name (SPDK's "uuid xor name"). */
static int lvs_by_uuid_xor_name(const char *uuid, const char *name, struct spio_lvol_store **lvs)
{
	if ((uuid == NULL) == (name == NULL)) {
		return -EINVAL;
	}
	*lvs =
	    uuid != NULL ? vbdev_get_lvol_store_by_uuid(uuid) : vbdev_get_lvol_store_by_name(name);
	return *lvs != NULL ? 0 : -ENODEV;
}

/* The lvol behind bdev `name` (name, alias or UUID), or NULL. */
static struct spio_lvol *lvol_by_bdev_name(const char *name)
{
	return vbdev_lvol_get_from_bdev(spio_bdev_get_by_name(name));
}

/* clear_method `s` (NULL: keep *out) of a store or (`lvol`) an lvol into *out; on a bad name
 * answer -32602 listing the good ones and return false. */
static bool decode_clear_method(struct spio_jsonrpc_request *req, const char *s, bool lvol,
				int *out)
{
	static const char *const lvs_names[] = {"unmap", "write_zeroes", "none"};
	static const int lvs_vals[] = {SPIO_LVS_CLEAR_WITH_UNMAP, SPIO_LVS_CLEAR_WITH_WRITE_ZEROES,
				       SPIO_LVS_CLEAR_WITH_NONE};
	static const char *const lvol_names[] = {"default", "none", "unmap", "write_zeroes"};
	static const int lvol_vals[] = {SPIO_LVOL_CLEAR_WITH_DEFAULT, SPIO_LVOL_CLEAR_WITH_NONE,
					SPIO_LVOL_CLEAR_WITH_UNMAP,
					SPIO_LVOL_CLEAR_WITH_WRITE_ZEROES};
	const char *const *names = lvol ? lvol_names : lvs_names;
	const int *vals = lvol ? lvol_vals : lvs_vals;
	size_t n = lvol ? SPIO_COUNTOF(lvol_names) : SPIO_COUNTOF(lvs_names);

	if (s == NULL) {
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = vals[i];
			return true;
		}
	}
	spio_jsonrpc_send_error_response_fmt(
	    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS, "clear_method '%s': expected %s", s,
	    lvol ? "default, none, unmap or write_zeroes" : "unmap, write_zeroes or none");
	return false;
}

/*
 * bdev_lvol_create_lvstore
 */

struct create_lvstore_params {
	char *bdev_name;
	char *lvs_name;
	uint32_t cluster_sz;
	char *clear_method;
	uint32_t num_md_pages_per_cluster_ratio;
	uint32_t md_page_size;
};

#define CLP(f) offsetof(struct create_lvstore_params, f)
static const struct spio_rpc_param g_create_lvstore_decoders[] = {
    {"bdev_name", SPIO_RPC_PARAM_STRING, CLP(bdev_name), false},
    {"lvs_name", SPIO_RPC_PARAM_STRING, CLP(lvs_name), false},
    {"cluster_sz", SPIO_RPC_PARAM_UINT32, CLP(cluster_sz), true},
    {"clear_method", SPIO_RPC_PARAM_STRING, CLP(clear_method), true},
    {"num_md_pages_per_cluster_ratio", SPIO_RPC_PARAM_UINT32, CLP(num_md_pages_per_cluster_ratio),
     true},
    {"md_page_size", SPIO_RPC_PARAM_UINT32, CLP(md_page_size), true},
};

static void create_lvstore_done(void *cb_arg, struct spio_lvol_store *lvs, int rc)
{
	struct spio_jsonrpc_request *req = cb_arg;
	struct spio_json_write_ctx *w = op_result_begin(req, rc);

	if (w != NULL) {
		spio_json_write_uuid(w, spio_lvs_get_uuid(lvs));
		spio_jsonrpc_end_result(req, w);
	}
}

static void rpc_bdev_lvol_create_lvstore(struct spio_jsonrpc_request *req,
					 const struct spio_json_val *params)
{
	struct create_lvstore_params p = {0};
	int clear = SPIO_LVS_CLEAR_WITH_UNMAP;
	int rc;

	if (!decode(req, params, g_create_lvstore_decoders, SPIO_COUNTOF(g_create_lvstore_decoders),
		    &p)) {
		return;
	}
	if (!decode_clear_method(req, p.clear_method, false, &clear)) {
		goto out;
	}
	rc = vbdev_lvs_create(p.bdev_name, p.lvs_name, p.cluster_sz,
			      (enum spio_lvs_clear_method)clear, p.num_md_pages_per_cluster_ratio,
			      p.md_page_size, create_lvstore_done, req);
	if (rc != 0) {
		send_errno(req, rc);
	}
out:
	spio_rpc_params_free(g_create_lvstore_decoders, SPIO_COUNTOF(g_create_lvstore_decoders),
			     &p);
}
SPIO_RPC_REGISTER("bdev_lvol_create_lvstore", rpc_bdev_lvol_create_lvstore, SPIO_RPC_RUNTIME)

/*
 * bdev_lvol_rename_lvstore
 */

struct rename_params {
	char *old_name;
	char *new_name;
};

static const struct spio_rpc_param g_rename_decoders[] = {
    {"old_name", SPIO_RPC_PARAM_STRING, offsetof(struct rename_params, old_name), false},
    {"new_name", SPIO_RPC_PARAM_STRING, offsetof(struct rename_params, new_name), false},
};

static void rpc_bdev_lvol_rename_lvstore(struct spio_jsonrpc_request *req,
					 const struct spio_json_val *params)
{
	struct rename_params p = {0};
	struct spio_lvol_store *lvs;

	if (!decode(req, params, g_rename_decoders, SPIO_COUNTOF(g_rename_decoders), &p)) {
		return;
	}
	lvs = vbdev_get_lvol_store_by_name(p.old_name);
	if (lvs == NULL) {
		spio_jsonrpc_send_error_response_fmt(req, -ENOENT, "Lvol store %s not found",
						     p.old_name);
	} else {
		vbdev_lvs_rename(lvs, p.new_name, op_bool_done, req);
	}
	spio_rpc_params_free(g_rename_decoders, SPIO_COUNTOF(g_rename_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_lvol_rename_lvstore", rpc_bdev_lvol_rename_lvstore, SPIO_RPC_RUNTIME)

/*
 * bdev_lvol_delete_lvstore, bdev_lvol_get_lvstores
 */

struct lvs_params {
	char *uuid;
	char *lvs_name;
};

static const struct spio_rpc_param g_lvs_decoders[] = {
    {"uuid", SPIO_RPC_PARAM_STRING, offsetof(struct lvs_params, uuid), true},
    {"lvs_name", SPIO_RPC_PARAM_STRING, offsetof(struct lvs_params, lvs_name), true},
};

static void rpc_bdev_lvol_delete_lvstore(struct spio_jsonrpc_request *req,
					 const struct spio_json_val *params)
{
	struct lvs_params p = {0};
	struct spio_lvol_store *lvs = NULL;
	int rc;

	if (!decode(req, params, g_lvs_decoders, SPIO_COUNTOF(g_lvs_decoders), &p)) {
		return;
	}
	rc = lvs_by_uuid_xor_name(p.uuid, p.lvs_name, &lvs);
	if (rc != 0) {
		send_errno(req, rc);
	} else {
		vbdev_lvs_destruct(lvs, op_bool_done, req);
	}
	spio_rpc_params_free(g_lvs_decoders, SPIO_COUNTOF(g_lvs_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_lvol_delete_lvstore", rpc_bdev_lvol_delete_lvstore, SPIO_RPC_RUNTIME)

static void dump_lvstore(struct spio_json_write_ctx *w, struct lvs_bdev *lvs_bdev)
{
	struct spio_blob_store *bs = spio_lvs_get_bs(lvs_bdev->lvs);

	spio_json_write_object_begin(w);
	spio_json_write_named_uuid(w, "uuid", spio_lvs_get_uuid(lvs_bdev->lvs));
	spio_json_write_named_string(w, "name", spio_lvs_get_name(lvs_bdev->lvs));
	spio_json_write_named_string(w, "base_bdev", spio_bdev_get_name(lvs_bdev->bdev));
	spio_json_write_named_uint64(w, "total_data_clusters",
				     spio_bs_total_data_cluster_count(bs));
	spio_json_write_named_uint64(w, "free_clusters", spio_bs_free_cluster_count(bs));
	spio_json_write_named_uint64(w, "block_size", spio_bs_get_io_unit_size(bs));
	spio_json_write_named_uint64(w, "cluster_size", spio_bs_get_cluster_size(bs));
	spio_json_write_named_uint64(w, "max_growable_size", vbdev_lvs_max_growable_size(lvs_bdev));
	spio_json_write_object_end(w);
}

/* Params given: the one store named (its lookup error answered, NULL
 * returned); none (or {}): every store. */
static bool filter_lvs(struct spio_jsonrpc_request *req, const char *uuid, const char *name,
		       struct lvs_bdev **out)
{
	struct spio_lvol_store *lvs;
	int rc;

	*out = NULL;
	if (uuid == NULL && name == NULL) {
		return true;
	}
	rc = lvs_by_uuid_xor_name(uuid, name, &lvs);
	if (rc == 0 && (*out = vbdev_get_lvs_bdev_by_lvs(lvs)) == NULL) {
		rc = -ENODEV;
	}
	if (rc != 0) {
		send_errno(req, rc);
		return false;
	}
	return true;
}

/* Decode a store filter, then answer an array that dump() fills for each store chosen (one, or
 * all but those being removed). */
static void rpc_each_lvs(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			 const struct spio_rpc_param *decoders, size_t n,
			 void (*dump)(struct spio_json_write_ctx *w, struct lvs_bdev *lb))
{
	struct lvs_params p = {0};
	struct spio_json_write_ctx *w;
	struct lvs_bdev *one, *lb;

	if (!decode(req, params, decoders, n, &p)) {
		return;
	}
	if (filter_lvs(req, p.uuid, p.lvs_name, &one) && (w = spio_jsonrpc_begin_result(req))) {
		spio_json_write_array_begin(w);
		for (lb = one != NULL ? one : vbdev_lvs_first(); lb != NULL;
		     lb = one != NULL ? NULL : vbdev_lvs_next(lb)) {
			if (!lb->removal_in_progress) {
				dump(w, lb);
			}
		}
		spio_json_write_array_end(w);
		spio_jsonrpc_end_result(req, w);
	}
	spio_rpc_params_free(decoders, n, &p);
}

static void rpc_bdev_lvol_get_lvstores(struct spio_jsonrpc_request *req,
				       const struct spio_json_val *params)
{
	rpc_each_lvs(req, params, g_lvs_decoders, SPIO_COUNTOF(g_lvs_decoders), dump_lvstore);
}
SPIO_RPC_REGISTER("bdev_lvol_get_lvstores", rpc_bdev_lvol_get_lvstores, SPIO_RPC_RUNTIME)

/*
 * bdev_lvol_get_lvols
 */

/* The same filter as bdev_lvol_get_lvstores, its UUID named lvs_uuid. */
static const struct spio_rpc_param g_get_lvols_decoders[] = {
    {"lvs_uuid", SPIO_RPC_PARAM_STRING, offsetof(struct lvs_params, uuid), true},
    {"lvs_name", SPIO_RPC_PARAM_STRING, offsetof(struct lvs_params, lvs_name), true},
};

static void dump_lvol(struct spio_json_write_ctx *w, struct spio_lvol *lvol)
{
	struct spio_lvol_store *lvs = spio_lvol_get_lvs(lvol);
	struct spio_blob *blob = spio_lvol_get_blob(lvol);

	spio_json_write_object_begin(w);
	spio_json_write_named_string_fmt(w, "alias", "%s/%s", spio_lvs_get_name(lvs),
					 spio_lvol_get_name(lvol));
	spio_json_write_named_string(w, "uuid", spio_lvol_get_uuid_str(lvol));
	spio_json_write_named_string(w, "name", spio_lvol_get_name(lvol));
	spio_json_write_named_bool(w, "is_thin_provisioned", spio_blob_is_thin_provisioned(blob));
	spio_json_write_named_bool(w, "is_snapshot", spio_blob_is_snapshot(blob));
	spio_json_write_named_bool(w, "is_clone", spio_blob_is_clone(blob));
	spio_json_write_named_bool(w, "is_esnap_clone", false);
	spio_json_write_named_bool(w, "is_degraded", false);
	spio_json_write_named_uint64(w, "num_allocated_clusters",
				     spio_blob_get_num_allocated_clusters(blob));
	spio_json_write_named_object_begin(w, "lvs");
	spio_json_write_named_string(w, "name", spio_lvs_get_name(lvs));
	spio_json_write_named_uuid(w, "uuid", spio_lvs_get_uuid(lvs));
	spio_json_write_object_end(w);
	spio_json_write_object_end(w);
}

static void dump_lvols(struct spio_json_write_ctx *w, struct lvs_bdev *lb)
{
	struct spio_lvol *lvol;

	for (lvol = spio_lvs_first_lvol(lb->lvs); lvol != NULL; lvol = spio_lvs_next_lvol(lvol)) {
		/* as SPDK: only open lvols (a closed one has no blob to describe) */
		if (spio_lvol_is_open(lvol)) {
			dump_lvol(w, lvol);
		}
	}
}

static void rpc_bdev_lvol_get_lvols(struct spio_jsonrpc_request *req,
				    const struct spio_json_val *params)
{
	rpc_each_lvs(req, params, g_get_lvols_decoders, SPIO_COUNTOF(g_get_lvols_decoders),
		     dump_lvols);
}
SPIO_RPC_REGISTER("bdev_lvol_get_lvols", rpc_bdev_lvol_get_lvols, SPIO_RPC_RUNTIME)

/*
 * bdev_lvol_create, bdev_lvol_snapshot, bdev_lvol_clone: answer the new bdev's name
 */

struct create_params {
	char *lvol_name;
	uint64_t size_in_mib;
	bool thin_provision;
	char *uuid;
	char *lvs_name;
	char *clear_method;
};

#define CP(f) offsetof(struct create_params, f)
static const struct spio_rpc_param g_create_decoders[] = {
    {"lvol_name", SPIO_RPC_PARAM_STRING, CP(lvol_name), false},
    {"size_in_mib", SPIO_RPC_PARAM_UINT64, CP(size_in_mib), false},
    {"thin_provision", SPIO_RPC_PARAM_BOOL, CP(thin_provision), true},
    {"uuid", SPIO_RPC_PARAM_STRING, CP(uuid), true},
    {"lvs_name", SPIO_RPC_PARAM_STRING, CP(lvs_name), true},
    {"clear_method", SPIO_RPC_PARAM_STRING, CP(clear_method), true},
};

static void lvol_name_done(void *cb_arg, struct spio_lvol *lvol, int rc)
{
	struct spio_jsonrpc_request *req = cb_arg;
	struct spio_json_write_ctx *w = op_result_begin(req, rc);

	if (w != NULL) {
		spio_json_write_string(w, spio_lvol_get_unique_id(lvol));
		spio_jsonrpc_end_result(req, w);
	}
}

static void rpc_bdev_lvol_create(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	struct create_params p = {0};
	struct spio_lvol_store *lvs = NULL;
	int clear = SPIO_LVOL_CLEAR_WITH_DEFAULT;
	int rc;

	if (!decode(req, params, g_create_decoders, SPIO_COUNTOF(g_create_decoders), &p)) {
		return;
	}
	if (!decode_clear_method(req, p.clear_method, true, &clear)) {
		goto out;
	}
	rc = lvs_by_uuid_xor_name(p.uuid, p.lvs_name, &lvs);
	if (rc != 0) {
		send_errno(req, rc);
		goto out;
	}
	/* overflow: the size in bytes must fit 64 bits */
	if (p.size_in_mib > UINT64_MAX / (1024 * 1024)) {
		send_errno(req, -EINVAL);
		goto out;
	}
	rc = vbdev_lvol_create(lvs, p.lvol_name, p.size_in_mib * 1024 * 1024, p.thin_provision,
			       (enum spio_lvol_clear_method)clear, lvol_name_done, req);
	if (rc != 0) {
		send_errno(req, rc);
	}
out:
	spio_rpc_params_free(g_create_decoders, SPIO_COUNTOF(g_create_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_lvol_create", rpc_bdev_lvol_create, SPIO_RPC_RUNTIME)

struct derive_params {
	char *origin; /* lvol_name / snapshot_name */
	char *name;   /* snapshot_name / clone_name */
};

static const struct spio_rpc_param g_snapshot_decoders[] = {
    {"lvol_name", SPIO_RPC_PARAM_STRING, offsetof(struct derive_params, origin), false},
    {"snapshot_name", SPIO_RPC_PARAM_STRING, offsetof(struct derive_params, name), false},
};

static const struct spio_rpc_param g_clone_decoders[] = {
    {"snapshot_name", SPIO_RPC_PARAM_STRING, offsetof(struct derive_params, origin), false},
    {"clone_name", SPIO_RPC_PARAM_STRING, offsetof(struct derive_params, name), false},
};

static void rpc_derive(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
		       const struct spio_rpc_param *decoders, size_t n, bool snapshot)
{
	struct derive_params p = {0};
	struct spio_lvol *lvol;

	if (!decode(req, params, decoders, n, &p)) {
		return;
	}
	lvol = lvol_by_bdev_name(p.origin);
	if (lvol == NULL) {
		send_errno(req, -ENODEV);
	} else if (snapshot) {
		vbdev_lvol_create_snapshot(lvol, p.name, lvol_name_done, req);
	} else {
		vbdev_lvol_create_clone(lvol, p.name, lvol_name_done, req);
	}
	spio_rpc_params_free(decoders, n, &p);
}

static void rpc_bdev_lvol_snapshot(struct spio_jsonrpc_request *req,
				   const struct spio_json_val *params)
{
	rpc_derive(req, params, g_snapshot_decoders, SPIO_COUNTOF(g_snapshot_decoders), true);
}
SPIO_RPC_REGISTER("bdev_lvol_snapshot", rpc_bdev_lvol_snapshot, SPIO_RPC_RUNTIME)

static void rpc_bdev_lvol_clone(struct spio_jsonrpc_request *req,
				const struct spio_json_val *params)
{
	rpc_derive(req, params, g_clone_decoders, SPIO_COUNTOF(g_clone_decoders), false);
}
SPIO_RPC_REGISTER("bdev_lvol_clone", rpc_bdev_lvol_clone, SPIO_RPC_RUNTIME)

/*
 * bdev_lvol_rename
 */

static void rpc_bdev_lvol_rename(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	struct rename_params p = {0};
	struct spio_lvol *lvol;

	if (!decode(req, params, g_rename_decoders, SPIO_COUNTOF(g_rename_decoders), &p)) {
		return;
	}
	lvol = lvol_by_bdev_name(p.old_name);
	if (lvol == NULL) {
		send_errno(req, -ENODEV);
	} else {
		vbdev_lvol_rename(lvol, p.new_name, op_bool_done, req);
	}
	spio_rpc_params_free(g_rename_decoders, SPIO_COUNTOF(g_rename_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_lvol_rename", rpc_bdev_lvol_rename, SPIO_RPC_RUNTIME)

/*
 * One lvol by name: inflate, decouple_parent, set_read_only, delete; resize
 */

struct name_params {
	char *name;
	uint64_t size_in_mib;
};

static const struct spio_rpc_param g_name_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct name_params, name), false},
};

static const struct spio_rpc_param g_resize_decoders[] = {
    {"name", SPIO_RPC_PARAM_STRING, offsetof(struct name_params, name), false},
    {"size_in_mib", SPIO_RPC_PARAM_UINT64, offsetof(struct name_params, size_in_mib), false},
};

enum lvol_op { OP_INFLATE, OP_DECOUPLE, OP_SET_READ_ONLY, OP_RESIZE };

static void rpc_lvol_op(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			enum lvol_op op)
{
	const struct spio_rpc_param *decoders =
	    op == OP_RESIZE ? g_resize_decoders : g_name_decoders;
	size_t n =
	    op == OP_RESIZE ? SPIO_COUNTOF(g_resize_decoders) : SPIO_COUNTOF(g_name_decoders);
	struct name_params p = {0};
	struct spio_lvol *lvol;

	if (!decode(req, params, decoders, n, &p)) {
		return;
	}
	lvol = lvol_by_bdev_name(p.name);
	if (lvol == NULL) {
		send_errno(req, -ENODEV);
		goto out;
	}
	switch (op) {
	case OP_INFLATE:
		spio_lvol_inflate(lvol, op_bool_done, req);
		break;
	case OP_DECOUPLE:
		spio_lvol_decouple_parent(lvol, op_bool_done, req);
		break;
	case OP_SET_READ_ONLY:
		spio_lvol_set_read_only(lvol, op_bool_done, req);
		break;
	case OP_RESIZE:
		if (p.size_in_mib > UINT64_MAX / (1024 * 1024)) {
			send_op_error(req, -EINVAL);
			break;
		}
		vbdev_lvol_resize(lvol, p.size_in_mib * 1024 * 1024, op_bool_done, req);
		break;
	}
out:
	spio_rpc_params_free(decoders, n, &p);
}

static void rpc_bdev_lvol_inflate(struct spio_jsonrpc_request *req,
				  const struct spio_json_val *params)
{
	rpc_lvol_op(req, params, OP_INFLATE);
}
SPIO_RPC_REGISTER("bdev_lvol_inflate", rpc_bdev_lvol_inflate, SPIO_RPC_RUNTIME)

static void rpc_bdev_lvol_decouple_parent(struct spio_jsonrpc_request *req,
					  const struct spio_json_val *params)
{
	rpc_lvol_op(req, params, OP_DECOUPLE);
}
SPIO_RPC_REGISTER("bdev_lvol_decouple_parent", rpc_bdev_lvol_decouple_parent, SPIO_RPC_RUNTIME)

static void rpc_bdev_lvol_set_read_only(struct spio_jsonrpc_request *req,
					const struct spio_json_val *params)
{
	rpc_lvol_op(req, params, OP_SET_READ_ONLY);
}
SPIO_RPC_REGISTER("bdev_lvol_set_read_only", rpc_bdev_lvol_set_read_only, SPIO_RPC_RUNTIME)

static void rpc_bdev_lvol_resize(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	rpc_lvol_op(req, params, OP_RESIZE);
}
SPIO_RPC_REGISTER("bdev_lvol_resize", rpc_bdev_lvol_resize, SPIO_RPC_RUNTIME)

static void delete_done(void *cb_arg, int rc)
{
	struct spio_jsonrpc_request *req = cb_arg;

	if (rc != 0) {
		/* SPDK answers a failed delete with an internal error */
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 strerror(-rc));
		return;
	}
	spio_jsonrpc_send_bool_response(req, true);
}

/* By bdev name or alias; else (an lvol without bdev) by UUID or "lvs/lvol". */
static struct spio_lvol *lvol_for_delete(const char *name)
{
	struct spio_lvol *lvol = lvol_by_bdev_name(name);
	char buf[ALIAS_MAX];
	struct spio_uuid uuid;
	char *slash;

	if (lvol != NULL) {
		return lvol;
	}
	if (spio_uuid_parse(&uuid, name) == 0) {
		lvol = spio_lvol_get_by_uuid(&uuid);
		if (lvol != NULL) {
			return lvol;
		}
	}
	snprintf(buf, sizeof(buf), "%s", name);
	slash = strchr(buf, '/');
	if (slash == NULL) {
		return NULL;
	}
	*slash = '\0';
	return spio_lvol_get_by_names(buf, slash + 1);
}

static void rpc_bdev_lvol_delete(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	struct name_params p = {0};
	struct spio_lvol *lvol;

	if (!decode(req, params, g_name_decoders, SPIO_COUNTOF(g_name_decoders), &p)) {
		return;
	}
	lvol = lvol_for_delete(p.name);
	if (lvol == NULL) {
		send_errno(req, -ENODEV);
	} else {
		vbdev_lvol_destroy(lvol, delete_done, req);
	}
	spio_rpc_params_free(g_name_decoders, SPIO_COUNTOF(g_name_decoders), &p);
}
SPIO_RPC_REGISTER("bdev_lvol_delete", rpc_bdev_lvol_delete, SPIO_RPC_RUNTIME)
