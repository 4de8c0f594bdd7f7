/*
 * The methods a fuzzer's input may call, and caps on sizes
 * (jsonrpc_methods.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/json_val.h"
#include "spio/rpc.h"
#include "spio/util.h"

#include "jsonrpc_methods.h"
#include "rpc/rpc_internal.h"

/*
 * value(key) * (value(factor) + value(extra)) must not exceed max; factor
 * and extra are optional. Enough for an input to reach every size check of
 * the methods, small enough that none allocates more than some MiB.
 */
struct cap {
	const char *method;
	const char *key;
	const char *factor;
	const char *extra;
	uint64_t max;
};

static const struct cap g_caps[] = {
    {"bdev_malloc_create", "num_blocks", "block_size", "md_size", 32ull << 20},
    {"bdev_null_create", "num_blocks", "block_size", "md_size", 1ull << 30},
    {"bdev_null_resize", "new_size", NULL, NULL, 1024},	      /* MiB */
    {"bdev_split_create", "split_count", NULL, NULL, 64},     /* bdevs */
    {"bdev_split_create", "split_size_mb", NULL, NULL, 1024}, /* MiB */
    {"bdev_lvol_create", "size_in_mib", NULL, NULL, 1024},    /* MiB */
    {"bdev_lvol_resize", "size_in_mib", NULL, NULL, 1024},    /* MiB */
    {"bdev_lvol_create_lvstore", "cluster_sz", NULL, NULL, 64ull << 20},
    {"bdev_set_options", "bdev_io_pool_size", NULL, NULL, 65536},
    {"nvmf_create_transport", "num_shared_buffers", "io_unit_size", NULL, 16ull << 20},
    {"nvmf_create_transport", "max_queue_depth", NULL, NULL, 1024},
    {"nvmf_create_transport", "buf_cache_size", NULL, NULL, 1024},
    {"nvmf_create_subsystem", "max_namespaces", NULL, NULL, 1024},
    /* delay bdev latencies (us): an I/O may wait that long, so may a delete */
    {"bdev_delay_create", "avg_read_latency", NULL, NULL, 100000},
    {"bdev_delay_create", "p99_read_latency", NULL, NULL, 100000},
    {"bdev_delay_create", "avg_write_latency", NULL, NULL, 100000},
    {"bdev_delay_create", "p99_write_latency", NULL, NULL, 100000},
    {"bdev_delay_update_latency", "latency_us", NULL, NULL, 100000},
};

/* The methods wrapped, and what they wrap. */
#define MAX_WRAPPED 64
static struct {
	const char *name;
	spio_rpc_method_fn real;
} g_wrapped[MAX_WRAPPED];
static size_t g_nwrapped;

/* A non-negative integer parameter (a number or a string of digits); false if unreadable. */
static bool param_u64(const struct spio_json_val *params, const char *key, uint64_t *out)
{
	const struct spio_json_val *v = spio_json_object_get(params, key);
	const char *s;
	int64_t i;

	*out = 0;
	if (v == NULL) {
		return true;
	}
	if (spio_json_integer(v, &i) == 0) {
		*out = i < 0 ? 0 : (uint64_t)i;
		return true;
	}
	s = spio_json_string(v);
	if (s == NULL || s[0] < '0' || s[0] > '9') {
		return false;
	}
	*out = strtoull(s, NULL, 10);
	return true;
}

static void capped_method(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	const char *name = spio_jsonrpc_request_get_method(req);
	spio_rpc_method_fn real = NULL;

	for (size_t i = 0; i < g_nwrapped; i++) {
		if (strcmp(g_wrapped[i].name, name) == 0) {
			real = g_wrapped[i].real;
		}
	}
	for (size_t i = 0; i < SPIO_COUNTOF(g_caps); i++) {
		const struct cap *c = &g_caps[i];
		uint64_t a, b = 1, x = 0, prod;

		if (strcmp(c->method, name) != 0 || !spio_json_is_object(params) ||
		    !param_u64(params, c->key, &a) ||
		    (c->factor != NULL && !param_u64(params, c->factor, &b)) ||
		    (c->extra != NULL && !param_u64(params, c->extra, &x))) {
			continue;
		}
		if (__builtin_add_overflow(b, x, &b) || __builtin_mul_overflow(a, b, &prod) ||
		    prod > c->max) {
			spio_jsonrpc_send_error_response_fmt(
			    req, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
			    "fuzzer: %s above the fuzzer's cap of %" PRIu64, c->key, c->max);
			return;
		}
	}
	if (real == NULL) {
		abort(); /* only wrapped methods come here */
	}
	real(req, params);
}

static void refused_method(struct spio_jsonrpc_request *req, const struct spio_json_val *params)
{
	(void)params;
	spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_METHOD_NOT_FOUND,
					     "fuzzer: method %s is not allowed here",
					     spio_jsonrpc_request_get_method(req));
}

struct policy {
	const char *const *allowed;
	size_t n;
	enum jf_refuse how;
};

static int apply(const struct rpc_method *m, void *ctx)
{
	const struct policy *p = ctx;
	/* The registry is the library's: the fuzzer edits its entries in place. */
	struct rpc_method *w = (struct rpc_method *)(uintptr_t)m;
	bool allowed = false, capped = false;

	for (size_t i = 0; i < p->n; i++) {
		allowed |= strcmp(p->allowed[i], m->name) == 0;
	}
	if (!allowed) {
		if (p->how == JF_REFUSE_BY_STATE) {
			w->state_mask = 0;
		} else {
			w->fn = refused_method;
		}
		return 0;
	}
	for (size_t i = 0; i < SPIO_COUNTOF(g_caps); i++) {
		capped |= strcmp(g_caps[i].method, m->name) == 0;
	}
	if (capped && m->fn != capped_method && g_nwrapped < MAX_WRAPPED) {
		g_wrapped[g_nwrapped].name = m->name;
		g_wrapped[g_nwrapped++].real = m->fn;
		w->fn = capped_method;
	}
	return 0;
}

void jf_methods_restrict(const char *const *allowed, size_t n, enum jf_refuse how)
{
	struct policy p = {.allowed = allowed, .n = n, .how = how};

	rpc_method_foreach(apply, &p);
}
