/*
 * spio_nvme_perf: a worker, one per core, on its own spio thread.
 *
 * Setup allocates everything the run needs (qpairs in one poll group, I/O
 * slots with their buffers); the run then only submits and completes: each
 * completion callback records the latency and submits the slot's next I/O.
 * A slot that finds the queue full (-ENOMEM) waits on its context's list
 * until the worker's poller retries it. A context is done once it drains
 * (stop, or its -d count reached) and the worker tears down once all are,
 * from a message to itself: a qpair cannot be freed inside its own
 * completion callback.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/dma.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/nvme.h"
#include "spio/thread.h"
#include "spio/util.h"

#include "perf.h"

static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* A uniform value below `n` (n > 0), without the bias of a modulo. */
static inline uint64_t rand_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)xorshift64(s) * n) >> 64);
}

/*
 * Verify pattern: each block starts with its LBA, the context's seed and the
 * slot's write generation; the rest is a stream derived from the three, so
 * a stale block, a block of another context or another offset differs.
 */
static void fill_pattern(const struct perf_task *t, uint64_t *buf)
{
	const struct perf_ns *pns = t->ctx->pns;
	uint64_t words = pns->block_size / 8, first = t->offset_in_ios * pns->io_blocks;
	uint64_t b, w, s;

	for (b = 0; b < pns->io_blocks; b++) {
		uint64_t *blk = buf + b * words;

		blk[0] = first + b;
		blk[1] = t->ctx->seed;
		blk[2] = t->generation;
		s = splitmix64(t->ctx->seed ^ splitmix64(first + b) ^ (t->generation << 40)) | 1;
		for (w = 3; w < words; w++) {
			blk[w] = xorshift64(&s);
		}
	}
}

static void ctx_done(struct perf_ctx *ctx);
static void task_submit(struct perf_task *t);

static void queue_push(struct perf_ctx *ctx, struct perf_task *t)
{
	t->next_queued = NULL;
	if (ctx->queued_tail != NULL) {
		ctx->queued_tail->next_queued = t;
	} else {
		ctx->queued_head = t;
	}
	ctx->queued_tail = t;
}

/* Drop one hold on the context; the last one ends it. */
static void ctx_put(struct perf_ctx *ctx)
{
	if (--ctx->busy == 0) {
		ctx_done(ctx);
	}
}

/* The slot stops for good (draining, or its I/O could not be submitted). */
static void task_retire(struct perf_task *t)
{
	ctx_put(t->ctx);
}

/*
 * Next offset, in I/Os. With --verify each slot keeps to its own stripe of
 * the context's region (offsets congruent to the slot number), so no two
 * I/Os in flight ever touch the same block.
 */
static uint64_t next_offset(struct perf_task *t)
{
	struct perf_ctx *ctx = t->ctx;
	uint64_t n, k;

	if (g_opts.verify) {
		n = ctx->region_ios / ctx->ntasks;
		k = g_opts.random ? rand_below(&ctx->rng, n) : t->generation % n;
		return ctx->region_start + t->slot + k * ctx->ntasks;
	}
	if (g_opts.random) {
		return rand_below(&ctx->rng, ctx->pns->size_in_ios);
	}
	k = ctx->next_io++;
	if (ctx->next_io == ctx->pns->size_in_ios) {
		ctx->next_io = 0;
	}
	return k;
}

/* Start the slot's next I/O. */
static void task_start(struct perf_task *t)
{
	struct perf_ctx *ctx = t->ctx;

	t->offset_in_ios = next_offset(t);
	if (g_opts.verify) {
		t->op = OP_VERIFY_WRITE;
		fill_pattern(t, t->buf);
		t->generation++;
	} else if (g_opts.read_pct == 100 ||
		   (g_opts.read_pct != 0 &&
		    xorshift64(&ctx->rng) % 100 < (uint64_t)g_opts.read_pct)) {
		t->op = OP_READ;
	} else {
		t->op = OP_WRITE;
	}
	ctx->submitted++;
	if (ctx->pns->number_ios != 0 && ctx->submitted >= ctx->pns->number_ios) {
		ctx->draining = true;
	}
	/* from here: a wait for a free queue entry counts as latency */
	t->submit_tick = spio_get_ticks();
	task_submit(t);
}

/* After a completion: the next I/O, or the end of the slot. */
static void task_next(struct perf_task *t)
{
	if (t->ctx->draining) {
		task_retire(t);
	} else {
		task_start(t);
	}
}

static void report_miscompare(struct perf_task *t)
{
	struct perf_ctx *ctx = t->ctx;
	size_t len = g_opts.io_size, i;
	const uint8_t *exp = t->buf, *act = t->rbuf;

	for (i = 0; i < len && exp[i] == act[i]; i++) {
	}
	if (i == len) {
		return;
	}
	if (++ctx->stats.miscompares <= PERF_MAX_REPORTS) {
		fprintf(stderr,
			"spio_nvme_perf: %s core %u: miscompare at LBA %" PRIu64
			" (byte %zu of the I/O): expected %02x, read %02x\n",
			ctx->pns->name, ctx->worker->core,
			t->offset_in_ios * ctx->pns->io_blocks + i / ctx->pns->block_size, i,
			exp[i], act[i]);
	}
}

static void io_done(void *arg, const struct spio_nvme_cpl *cpl)
{
	struct perf_task *t = arg;
	struct perf_ctx *ctx = t->ctx;
	struct perf_stats *st = &ctx->stats;
	uint64_t lat = spio_get_ticks() - t->submit_tick;
	bool read = t->op == OP_READ || t->op == OP_VERIFY_READ;

	*(read ? &st->reads : &st->writes) += 1;
	spio_histogram_add(&st->lat, lat);
	/* single writer: a plain load and store, no locked instruction */
	atomic_store_explicit(&ctx->live_ios,
			      atomic_load_explicit(&ctx->live_ios, memory_order_relaxed) + 1,
			      memory_order_relaxed);

	if (spio_unlikely(spio_nvme_cpl_is_error(cpl))) {
		if (++st->io_errors <= PERF_MAX_REPORTS) {
			fprintf(stderr, "%s completed with error (sct=%d, sc=%d)\n",
				read ? "Read" : "Write", cpl->status.sct, cpl->status.sc);
		}
		/* the namespace went away: stop sending to it, as SPDK's tool does */
		if (cpl->status.sct == SPIO_NVME_SCT_GENERIC &&
		    cpl->status.sc == SPIO_NVME_SC_INVALID_NAMESPACE_OR_FORMAT) {
			ctx->draining = true;
		}
	} else if (t->op == OP_VERIFY_WRITE) {
		/* read it back even when draining: every write is checked */
		t->op = OP_VERIFY_READ;
		t->submit_tick = spio_get_ticks();
		task_submit(t);
		return;
	} else if (t->op == OP_VERIFY_READ) {
		report_miscompare(t);
	}
	task_next(t);
}

static void task_submit(struct perf_task *t)
{
	struct perf_ctx *ctx = t->ctx;
	const struct perf_ns *pns = ctx->pns;
	uint64_t lba = t->offset_in_ios * pns->io_blocks;
	int rc;

	switch (t->op) {
	case OP_READ:
	case OP_VERIFY_READ:
		rc = spio_nvme_ns_cmd_read(pns->ns, t->qpair, t->op == OP_READ ? t->buf : t->rbuf,
					   lba, pns->io_blocks, io_done, t, pns->io_flags);
		break;
	default:
		rc = spio_nvme_ns_cmd_write(pns->ns, t->qpair, t->buf, lba, pns->io_blocks, io_done,
					    t, pns->io_flags);
		break;
	}
	if (spio_likely(rc == 0)) {
		return;
	}
	if (rc == -ENOMEM) {
		/* every command slot of the qpair is busy: the poller retries */
		queue_push(ctx, t);
		return;
	}
	/* another error repeats at every try: the slot stops */
	if (++ctx->stats.io_errors <= PERF_MAX_REPORTS) {
		fprintf(stderr, "starting I/O failed: %d (%s)\n", rc, strerror(-rc));
	}
	task_retire(t);
}

/* Retry the slots that found their qpair full, each once per poll. */
static int worker_poll(void *arg)
{
	struct perf_worker *w = arg;
	int busy = SPIO_POLLER_IDLE;
	uint32_t i;

	for (i = 0; i < w->nctxs; i++) {
		struct perf_ctx *ctx = &w->ctxs[i];
		struct perf_task *t = ctx->queued_head, *next;

		ctx->queued_head = ctx->queued_tail = NULL;
		for (; t != NULL; t = next) {
			next = t->next_queued;
			task_submit(t);
			busy = SPIO_POLLER_BUSY;
		}
	}
	return busy;
}

static void send_to_app(spio_msg_fn fn, struct perf_worker *w)
{
	if (spio_thread_send_msg(g_app_thread, fn, w) != 0) {
		SPIO_ERRLOG("spio_nvme_perf: core %u cannot message the app thread", w->core);
	}
}

static void ctx_free(struct perf_ctx *ctx)
{
	uint32_t i;

	for (i = 0; ctx->qpairs != NULL && i < ctx->nqpairs; i++) {
		if (ctx->qpairs[i] != NULL) {
			spio_nvme_poll_group_remove(ctx->worker->group, ctx->qpairs[i]);
			spio_nvme_ctrlr_free_io_qpair(ctx->qpairs[i]);
		}
	}
	free(ctx->qpairs);
	ctx->qpairs = NULL;
	for (i = 0; ctx->tasks != NULL && i < ctx->ntasks; i++) {
		spio_dma_free(ctx->tasks[i].buf);
		spio_dma_free(ctx->tasks[i].rbuf);
	}
	free(ctx->tasks);
	ctx->tasks = NULL;
}

static void worker_teardown(void *arg)
{
	struct perf_worker *w = arg;
	uint32_t i;

	spio_poller_unregister(&w->poller);
	for (i = 0; i < w->nctxs; i++) {
		ctx_free(&w->ctxs[i]);
	}
	if (w->group != NULL && spio_nvme_poll_group_destroy(w->group) != 0) {
		SPIO_ERRLOG("spio_nvme_perf: core %u: poll group still has qpairs", w->core);
	}
	w->group = NULL;
	send_to_app(app_worker_finished_msg, w);
	spio_thread_exit(w->thread);
}

static void ctx_done(struct perf_ctx *ctx)
{
	struct perf_worker *w = ctx->worker;

	ctx->draining = true;
	ctx->done = true;
	ctx->end_tick = spio_get_ticks();
	if (--w->nactive == 0 && !w->tearing_down) {
		w->tearing_down = true;
		/* maybe inside a completion callback of a qpair about to be freed */
		if (spio_thread_send_msg(w->thread, worker_teardown, w) != 0) {
			SPIO_ERRLOG("spio_nvme_perf: core %u cannot finish", w->core);
		}
	}
}

/*
 * Setup
 */

static void worker_setup_done(struct perf_worker *w)
{
	send_to_app(app_worker_ready_msg, w);
}

static void qpair_connected(void *arg, struct spio_nvme_qpair *qpair, int status)
{
	struct perf_worker *w = arg;

	if (status != 0) {
		fprintf(stderr, "spio_nvme_perf: core %u: I/O qpair connect failed: %s\n", w->core,
			strerror(-status));
		w->setup_rc = status;
	}
	if (--w->connects_pending == 0) {
		worker_setup_done(w);
	}
}

static void qpair_disconnected(void *arg, struct spio_nvme_qpair *qpair)
{
	struct perf_worker *w = arg;

	/* its commands failed already; the slots stop as their submits fail */
	fprintf(stderr, "spio_nvme_perf: core %u: I/O qpair %u lost its connection\n", w->core,
		spio_nvme_qpair_get_id(qpair));
}

static int ctx_alloc(struct perf_ctx *ctx)
{
	uint32_t i;

	ctx->qpairs = calloc(ctx->nqpairs, sizeof(*ctx->qpairs));
	ctx->tasks = calloc(ctx->ntasks, sizeof(*ctx->tasks));
	if (ctx->qpairs == NULL || ctx->tasks == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < ctx->ntasks; i++) {
		struct perf_task *t = &ctx->tasks[i];

		t->ctx = ctx;
		t->slot = i;
		t->buf = spio_dma_malloc(g_opts.io_size, 4096);
		if (t->buf == NULL) {
			return -ENOMEM;
		}
		/* writes carry a recognisable pattern rather than stale memory */
		t->offset_in_ios = i;
		fill_pattern(t, t->buf);
		if (g_opts.verify) {
			t->rbuf = spio_dma_zmalloc(g_opts.io_size, 4096);
			if (t->rbuf == NULL) {
				return -ENOMEM;
			}
		}
	}
	return 0;
}

static int ctx_connect(struct perf_worker *w, struct perf_ctx *ctx)
{
	struct spio_nvme_ctrlr *ctrlr = ctx->pns->pc->ctrlr;
	struct spio_nvme_io_qpair_opts qopts;
	uint32_t i;
	int rc;

	spio_nvme_ctrlr_get_default_io_qpair_opts(ctrlr, &qopts, sizeof(qopts));
	if (g_opts.io_queue_size != 0) {
		qopts.io_queue_size = g_opts.io_queue_size;
	}
	for (i = 0; i < ctx->nqpairs; i++) {
		ctx->qpairs[i] = spio_nvme_ctrlr_alloc_io_qpair(ctrlr, &qopts, sizeof(qopts));
		if (ctx->qpairs[i] == NULL) {
			rc = -errno;
			fprintf(stderr,
				"spio_nvme_perf: %s core %u: cannot allocate an I/O qpair: %s\n",
				ctx->pns->name, w->core, strerror(errno));
			return rc;
		}
		rc = spio_nvme_poll_group_add(w->group, ctx->qpairs[i]);
		if (rc != 0) {
			return rc;
		}
		w->connects_pending++;
		rc = spio_nvme_qpair_connect_async(ctx->qpairs[i], qpair_connected, w);
		if (rc != 0) {
			w->connects_pending--;
			fprintf(stderr,
				"spio_nvme_perf: %s core %u: cannot connect an I/O qpair: %s\n",
				ctx->pns->name, w->core, strerror(-rc));
			return rc;
		}
	}
	/* slots take the qpairs in turn */
	for (i = 0; i < ctx->ntasks; i++) {
		ctx->tasks[i].qpair = ctx->qpairs[i % ctx->nqpairs];
	}
	return 0;
}

void worker_setup_msg(void *arg)
{
	struct perf_worker *w = arg;
	uint32_t i;
	int rc = 0;

	w->nactive = w->nctxs;
	/* held while connects start, so an early answer cannot report too soon */
	w->connects_pending = 1;
	w->group = spio_nvme_poll_group_create();
	if (w->group == NULL) {
		rc = -errno;
		fprintf(stderr, "spio_nvme_perf: core %u: no poll group: %s\n", w->core,
			strerror(errno));
	} else {
		spio_nvme_poll_group_set_disconnected_cb(w->group, qpair_disconnected, w);
		w->poller = spio_poller_register_named(worker_poll, w, 0, "nvme_perf_retry");
		if (w->poller == NULL) {
			rc = -ENOMEM;
		}
	}
	for (i = 0; rc == 0 && i < w->nctxs; i++) {
		rc = ctx_alloc(&w->ctxs[i]);
		if (rc == -ENOMEM) {
			fprintf(stderr,
				"spio_nvme_perf: core %u: cannot allocate %u buffers of %u bytes\n",
				w->core, w->ctxs[i].ntasks, g_opts.io_size);
		}
		if (rc == 0) {
			rc = ctx_connect(w, &w->ctxs[i]);
		}
	}
	if (rc != 0) {
		w->setup_rc = rc;
	}
	if (--w->connects_pending == 0) {
		worker_setup_done(w);
	}
}

void worker_go_msg(void *arg)
{
	struct perf_worker *w = arg;
	uint32_t i, j;

	w->started = true;
	for (i = 0; i < w->nctxs; i++) {
		struct perf_ctx *ctx = &w->ctxs[i];

		ctx->start_tick = spio_get_ticks();
		/* hold a count so a failed submit in the loop cannot end the context under us */
		ctx->busy = 1;
		for (j = 0; j < ctx->ntasks && !ctx->draining; j++) {
			ctx->busy++;
			task_start(&ctx->tasks[j]);
		}
		ctx_put(ctx);
	}
}

void worker_stop_msg(void *arg)
{
	struct perf_worker *w = arg;
	uint32_t i;

	for (i = 0; i < w->nctxs; i++) {
		struct perf_ctx *ctx = &w->ctxs[i];

		ctx->draining = true;
		if (!ctx->done && ctx->busy == 0) {
			if (ctx->start_tick == 0) {
				ctx->start_tick = spio_get_ticks();
			}
			ctx_done(ctx);
		}
	}
}
