/*
 * thread_get_stats, thread_get_pollers and thread_get_io_channels, with
 * SPDK's names and result shapes.
 *
 * A thread's pollers and channels may only be read on that thread, so the
 * request visits every thread by message (spio_for_each_thread), copies what
 * it finds into plain records there, and writes the JSON back on the
 * request's thread. A thread that exits meanwhile is left out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_internal.h"
#include "spio/env.h"
#include "spio/rpc.h"

/* One poller or one channel of a thread. */
struct item_rec {
	char name[64];
	uint64_t id;
	const char *state; /* static string */
	enum spio_poller_list list;
	uint64_t run_count;
	uint64_t busy_count;
	uint64_t period_ticks;
	uint32_t ref;
};

struct thread_rec {
	char name[64];
	uint64_t id;
	struct item_rec *items; /* malloc'ed */
	size_t count, cap;
	/* thread_get_stats only */
	char cpumask[SPIO_CPUSET_STR_MAX];
	struct spio_thread_stats stats;
	struct spio_thread_poller_counts pollers;
};

struct gather_ctx {
	struct spio_jsonrpc_request *req;
	struct thread_rec *threads;
	size_t count, cap;
	bool nomem;
};

static void *grow(void *arr, size_t *cap, size_t elem)
{
	size_t n = *cap ? *cap * 2 : 8;
	void *p = realloc(arr, n * elem);

	if (p != NULL) {
		*cap = n;
	}
	return p;
}

/* A record for the current thread; NULL when out of memory. */
static struct thread_rec *thread_rec_add(struct gather_ctx *ctx)
{
	struct spio_thread *t = spio_get_thread();
	struct thread_rec *tr;

	if (ctx->nomem) {
		return NULL;
	}
	if (ctx->count == ctx->cap) {
		struct thread_rec *n = grow(ctx->threads, &ctx->cap, sizeof(*n));

		if (n == NULL) {
			ctx->nomem = true;
			return NULL;
		}
		ctx->threads = n;
	}
	tr = &ctx->threads[ctx->count++];
	memset(tr, 0, sizeof(*tr));
	snprintf(tr->name, sizeof(tr->name), "%s", spio_thread_get_name(t));
	tr->id = spio_thread_get_id(t);
	return tr;
}

static struct item_rec *item_add(struct gather_ctx *ctx, struct thread_rec *tr, const char *name)
{
	struct item_rec *it;

	if (ctx->nomem) {
		return NULL;
	}
	if (tr->count == tr->cap) {
		struct item_rec *n = grow(tr->items, &tr->cap, sizeof(*n));

		if (n == NULL) {
			ctx->nomem = true;
			return NULL;
		}
		tr->items = n;
	}
	it = &tr->items[tr->count++];
	memset(it, 0, sizeof(*it));
	snprintf(it->name, sizeof(it->name), "%s", name);
	return it;
}

/* What a visit of one thread fills. */
struct visit {
	struct gather_ctx *ctx;
	struct thread_rec *tr;
};

static void gather_free(struct gather_ctx *ctx)
{
	for (size_t i = 0; i < ctx->count; i++) {
		free(ctx->threads[i].items);
	}
	free(ctx->threads);
	free(ctx);
}

/* NULL when the request was answered (out of memory). */
static struct spio_json_write_ctx *reply_begin(struct gather_ctx *ctx)
{
	struct spio_json_write_ctx *w;

	if (ctx->nomem) {
		spio_jsonrpc_send_error_response(ctx->req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "out of memory");
		return NULL;
	}
	w = spio_jsonrpc_begin_result(ctx->req);
	if (w == NULL) {
		return NULL;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_uint64(w, "tick_rate", spio_get_ticks_hz());
	spio_json_write_named_array_begin(w, "threads");
	return w;
}

static void reply_end(struct gather_ctx *ctx, struct spio_json_write_ctx *w)
{
	spio_json_write_array_end(w);
	spio_json_write_object_end(w);
	spio_jsonrpc_end_result(ctx->req, w);
}

static void gather_start(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			 spio_msg_fn collect, spio_msg_fn reply)
{
	struct gather_ctx *ctx;
	int rc;

	if (spio_rpc_refuse_params(req, params)) {
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		spio_jsonrpc_send_error_response(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						 "out of memory");
		return;
	}
	ctx->req = req;
	rc = spio_for_each_thread(collect, ctx, reply);
	if (rc != 0) {
		spio_jsonrpc_send_error_response_fmt(req, SPIO_JSONRPC_ERROR_INTERNAL_ERROR,
						     "cannot visit the threads: %s", strerror(-rc));
		free(ctx);
	}
}

/*
 * thread_get_stats
 */

/* On each thread. */
static void stats_collect(void *arg)
{
	struct spio_thread *t = spio_get_thread();
	struct thread_rec *tr = thread_rec_add(arg);

	if (tr != NULL) {
		reactor_fmt_thread_cpumask(t, tr->cpumask, sizeof(tr->cpumask));
		spio_thread_get_stats(t, &tr->stats);
		spio_thread_get_poller_counts(t, &tr->pollers);
	}
}

static void stats_reply(void *arg)
{
	struct gather_ctx *ctx = arg;
	struct spio_json_write_ctx *w = reply_begin(ctx);

	if (w != NULL) {
		for (size_t i = 0; i < ctx->count; i++) {
			const struct thread_rec *tr = &ctx->threads[i];

			spio_json_write_object_begin(w);
			spio_json_write_named_string(w, "name", tr->name);
			spio_json_write_named_uint64(w, "id", tr->id);
			spio_json_write_named_string(w, "cpumask", tr->cpumask);
			spio_json_write_named_uint64(w, "busy", tr->stats.busy_tsc);
			spio_json_write_named_uint64(w, "idle", tr->stats.idle_tsc);
			spio_json_write_named_uint64(w, "active_pollers_count", tr->pollers.active);
			spio_json_write_named_uint64(w, "timed_pollers_count", tr->pollers.timed);
			spio_json_write_named_uint64(w, "paused_pollers_count", tr->pollers.paused);
			spio_json_write_object_end(w);
		}
		reply_end(ctx, w);
	}
	gather_free(ctx);
}

static void rpc_thread_get_stats(struct spio_jsonrpc_request *req,
				 const struct spio_json_val *params)
{
	gather_start(req, params, stats_collect, stats_reply);
}
SPIO_RPC_REGISTER("thread_get_stats", rpc_thread_get_stats, SPIO_RPC_RUNTIME)

/*
 * thread_get_pollers
 */

static void poller_seen(enum spio_poller_list list, const struct spio_poller_info *info, void *arg)
{
	struct visit *v = arg;
	struct item_rec *it = item_add(v->ctx, v->tr, info->name);

	if (it == NULL) {
		return;
	}
	it->list = list;
	it->id = info->id;
	it->state = info->state;
	it->run_count = info->run_count;
	it->busy_count = info->busy_count;
	it->period_ticks = info->period_ticks;
}

/* On each thread. */
static void pollers_collect(void *arg)
{
	struct visit v = {.ctx = arg};

	v.tr = thread_rec_add(v.ctx);
	if (v.tr != NULL) {
		spio_thread_for_each_poller(spio_get_thread(), poller_seen, &v);
	}
}

static void write_poller_list(struct spio_json_write_ctx *w, const struct thread_rec *tr,
			      enum spio_poller_list list, const char *key)
{
	spio_json_write_named_array_begin(w, key);
	for (size_t i = 0; i < tr->count; i++) {
		const struct item_rec *it = &tr->items[i];

		if (it->list != list) {
			continue;
		}
		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "name", it->name);
		spio_json_write_named_uint64(w, "id", it->id);
		spio_json_write_named_string(w, "state", it->state);
		spio_json_write_named_uint64(w, "run_count", it->run_count);
		spio_json_write_named_uint64(w, "busy_count", it->busy_count);
		/* as SPDK: only timed pollers carry a period */
		if (it->period_ticks != 0) {
			spio_json_write_named_uint64(w, "period_ticks", it->period_ticks);
		}
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
}

static void pollers_reply(void *arg)
{
	struct gather_ctx *ctx = arg;
	struct spio_json_write_ctx *w = reply_begin(ctx);

	if (w != NULL) {
		for (size_t i = 0; i < ctx->count; i++) {
			const struct thread_rec *tr = &ctx->threads[i];

			spio_json_write_object_begin(w);
			spio_json_write_named_string(w, "name", tr->name);
			spio_json_write_named_uint64(w, "id", tr->id);
			write_poller_list(w, tr, SPIO_POLLER_LIST_ACTIVE, "active_pollers");
			write_poller_list(w, tr, SPIO_POLLER_LIST_TIMED, "timed_pollers");
			write_poller_list(w, tr, SPIO_POLLER_LIST_PAUSED, "paused_pollers");
			spio_json_write_object_end(w);
		}
		reply_end(ctx, w);
	}
	gather_free(ctx);
}

static void rpc_thread_get_pollers(struct spio_jsonrpc_request *req,
				   const struct spio_json_val *params)
{
	gather_start(req, params, pollers_collect, pollers_reply);
}
SPIO_RPC_REGISTER("thread_get_pollers", rpc_thread_get_pollers, SPIO_RPC_RUNTIME)

/*
 * thread_get_io_channels
 */

static void channel_seen(const struct spio_io_channel_info *info, void *arg)
{
	struct visit *v = arg;
	struct item_rec *it = item_add(v->ctx, v->tr, info->name);

	if (it != NULL) {
		it->ref = info->ref;
	}
}

/* On each thread. */
static void channels_collect(void *arg)
{
	struct visit v = {.ctx = arg};

	v.tr = thread_rec_add(v.ctx);
	if (v.tr != NULL) {
		spio_thread_for_each_io_channel(spio_get_thread(), channel_seen, &v);
	}
}

static void channels_reply(void *arg)
{
	struct gather_ctx *ctx = arg;
	struct spio_json_write_ctx *w = reply_begin(ctx);

	if (w != NULL) {
		for (size_t i = 0; i < ctx->count; i++) {
			const struct thread_rec *tr = &ctx->threads[i];

			/* SPDK writes no thread id here */
			spio_json_write_object_begin(w);
			spio_json_write_named_string(w, "name", tr->name);
			spio_json_write_named_array_begin(w, "io_channels");
			for (size_t j = 0; j < tr->count; j++) {
				spio_json_write_object_begin(w);
				spio_json_write_named_string(w, "name", tr->items[j].name);
				spio_json_write_named_uint32(w, "ref", tr->items[j].ref);
				spio_json_write_object_end(w);
			}
			spio_json_write_array_end(w);
			spio_json_write_object_end(w);
		}
		reply_end(ctx, w);
	}
	gather_free(ctx);
}

static void rpc_thread_get_io_channels(struct spio_jsonrpc_request *req,
				       const struct spio_json_val *params)
{
	gather_start(req, params, channels_collect, channels_reply);
}
SPIO_RPC_REGISTER("thread_get_io_channels", rpc_thread_get_io_channels, SPIO_RPC_RUNTIME)
