/*
 * spio_nvme_perf: an NVMe load generator with spdk_nvme_perf's options and
 * report. docs/nvme_tools.md is the guide.
 *
 *   spio_nvme_perf -r 'trtype:TCP adrfam:IPv4 traddr:ADDR trsvcid:PORT subnqn:NQN'
 *                  -q DEPTH -o IO_SIZE -w randrw -M 50 -t SECONDS [-c CORE_MASK]
 *
 * The app thread connects the controllers (it is their admin thread), picks
 * the namespaces, starts one worker per core (worker.c), prints a line per
 * second while they run, stops them after -t seconds (or when every one has
 * done its -d I/Os, or on SIGINT) and prints the report (report.c). Exit
 * status: 0; 1 for bad options, a failed start-up, I/O errors or miscompares.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/app.h"
#include "spio/cpuset.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/nvme.h"
#include "spio/thread.h"
#include "spio/util.h"

#include "perf.h"

/* Most -r options, as SPDK's tool. */
#define PERF_MAX_TRIDS 16
#define PERF_MAX_DEPTH 65536

struct perf_options g_opts = {
    .read_pct = -1,
    .core_mask = "0x1",
    .qpairs_per_ns = 1,
};

struct spio_thread *g_app_thread;

enum perf_state {
	ST_CONNECTING,
	ST_SETUP,
	ST_RUNNING,
	ST_STOPPING,
	ST_DONE,
};

static struct {
	enum perf_state state;
	bool stop_requested;
	int exit_rc;
	struct perf_ctrlr ctrlrs[PERF_MAX_TRIDS];
	uint32_t nctrlrs;
	uint32_t pending; /* connects, then detaches, not answered yet */
	struct perf_ns *nss;
	uint32_t nns;
	struct perf_worker *workers;
	uint32_t nworkers;
	uint32_t nready;
	uint32_t nfinished;
	struct spio_poller *live_poller;
	struct spio_poller *end_poller;
	uint64_t start_tick;
	uint64_t last_tick;
	uint64_t last_ios;
} g_perf;

/* Progress lines: stdout, unless stdout carries the JSON result. */
static FILE *info(void)
{
	return g_opts.json ? stderr : stdout;
}

/*
 * Teardown (app thread)
 */

static void perf_free(void)
{
	uint32_t i;

	for (i = 0; g_perf.workers != NULL && i < g_perf.nworkers; i++) {
		free(g_perf.workers[i].ctxs);
	}
	free(g_perf.workers);
	free(g_perf.nss);
	g_perf.workers = NULL;
	g_perf.nss = NULL;
}

static void ctrlr_detached(void *arg)
{
	if (--g_perf.pending == 0) {
		perf_free();
		spio_app_stop(g_perf.exit_rc);
	}
}

/* Detach every controller, then stop the app with the exit code. */
static void perf_finish(void)
{
	uint32_t i;

	g_perf.state = ST_DONE;
	spio_poller_unregister(&g_perf.live_poller);
	spio_poller_unregister(&g_perf.end_poller);
	g_perf.pending = 1;
	for (i = 0; i < g_perf.nctrlrs; i++) {
		struct perf_ctrlr *pc = &g_perf.ctrlrs[i];

		if (pc->ctrlr == NULL) {
			continue;
		}
		g_perf.pending++;
		if (spio_nvme_detach_async(pc->ctrlr, ctrlr_detached, NULL) != 0) {
			fprintf(stderr, "spio_nvme_perf: cannot detach %s\n", pc->name);
			g_perf.pending--;
		}
		pc->ctrlr = NULL;
	}
	ctrlr_detached(NULL);
}

static void all_finished(void)
{
	uint32_t i, j;

	for (i = 0; i < g_perf.nworkers; i++) {
		for (j = 0; j < g_perf.workers[i].nctxs; j++) {
			const struct perf_stats *s = &g_perf.workers[i].ctxs[j].stats;

			if (s->io_errors != 0 || s->miscompares != 0) {
				g_perf.exit_rc = PERF_EXIT_FAIL;
			}
		}
	}
	if (g_perf.start_tick != 0) {
		report_print(g_perf.workers, g_perf.nworkers);
	}
	if (g_perf.exit_rc != PERF_EXIT_OK) {
		fprintf(stderr, "spio_nvme_perf: errors occurred\n");
	}
	perf_finish();
}

static void stop_workers(void)
{
	uint32_t i;

	g_perf.state = ST_STOPPING;
	spio_poller_unregister(&g_perf.end_poller);
	for (i = 0; i < g_perf.nworkers; i++) {
		if (!g_perf.workers[i].unreachable &&
		    spio_thread_send_msg(g_perf.workers[i].thread, worker_stop_msg,
					 &g_perf.workers[i]) != 0) {
			SPIO_ERRLOG("spio_nvme_perf: cannot stop the worker on core %u",
				    g_perf.workers[i].core);
		}
	}
	/* only unreachable workers: nobody will report */
	if (g_perf.nfinished == g_perf.nworkers) {
		all_finished();
	}
}

void app_worker_finished_msg(void *arg)
{
	if (++g_perf.nfinished == g_perf.nworkers) {
		all_finished();
	}
}

/*
 * Run (app thread)
 */

static uint64_t live_ios(void)
{
	uint64_t ios = 0;
	uint32_t i, j;

	for (i = 0; i < g_perf.nworkers; i++) {
		for (j = 0; j < g_perf.workers[i].nctxs; j++) {
			ios += atomic_load_explicit(&g_perf.workers[i].ctxs[j].live_ios,
						    memory_order_relaxed);
		}
	}
	return ios;
}

static int live_poll(void *arg)
{
	uint64_t now = spio_get_ticks(), ios = live_ios(), hz = spio_get_ticks_hz();
	double dt = (double)(now - g_perf.last_tick) / (double)hz, iops;

	if (dt > 0) {
		iops = (double)(ios - g_perf.last_ios) / dt;
		fprintf(stderr, "%6.2f s: %9.0f IOPS, %8.2f MiB/s\n",
			(double)(now - g_perf.start_tick) / (double)hz, iops,
			iops * g_opts.io_size / (1024.0 * 1024.0));
	}
	g_perf.last_tick = now;
	g_perf.last_ios = ios;
	return SPIO_POLLER_BUSY;
}

static int end_poll(void *arg)
{
	if (g_perf.state == ST_RUNNING) {
		stop_workers();
	}
	return SPIO_POLLER_BUSY;
}

static void perf_go(void)
{
	uint32_t i;

	fprintf(info(), "Initialization complete. Launching workers.\n");
	fflush(info());
	g_perf.state = ST_RUNNING;
	g_perf.start_tick = g_perf.last_tick = spio_get_ticks();
	g_perf.live_poller = spio_poller_register_named(live_poll, NULL, 1000000, "perf_live");
	g_perf.end_poller = spio_poller_register_named(
	    end_poll, NULL, (uint64_t)g_opts.time_s * 1000000, "perf_end");
	if (g_perf.live_poller == NULL || g_perf.end_poller == NULL) {
		fprintf(stderr, "spio_nvme_perf: cannot register the timers\n");
		g_perf.exit_rc = PERF_EXIT_FAIL;
	}
	for (i = 0; i < g_perf.nworkers; i++) {
		if (spio_thread_send_msg(g_perf.workers[i].thread, worker_go_msg,
					 &g_perf.workers[i]) != 0) {
			SPIO_ERRLOG("spio_nvme_perf: cannot start the worker on core %u",
				    g_perf.workers[i].core);
		}
	}
	if (g_perf.exit_rc != PERF_EXIT_OK) {
		stop_workers();
	}
}

void app_worker_ready_msg(void *arg)
{
	struct perf_worker *w = arg;

	if (w->setup_rc != 0) {
		g_perf.exit_rc = PERF_EXIT_FAIL;
	}
	if (++g_perf.nready < g_perf.nworkers) {
		return;
	}
	if (g_perf.exit_rc != PERF_EXIT_OK || g_perf.stop_requested) {
		stop_workers();
		return;
	}
	perf_go();
}

/*
 * Setup (app thread)
 */

static void ns_name(struct perf_ns *pns)
{
	snprintf(pns->name, sizeof(pns->name), "%s NSID %u", pns->pc->name, pns->nsid);
}

/* Check a namespace against the options; false (with SPDK's warning) skips it. */
static bool ns_usable(struct perf_ctrlr *pc, struct spio_nvme_ns *ns)
{
	const struct spio_nvme_ctrlr_data *cd = spio_nvme_ctrlr_get_data(pc->ctrlr);
	uint32_t nsid = spio_nvme_ns_get_id(ns), bs = spio_nvme_ns_get_extended_sector_size(ns);
	uint64_t size = spio_nvme_ns_get_size(ns);
	uint32_t max = spio_nvme_ns_get_max_io_xfer_size(ns);

	if (size < g_opts.io_size || spio_nvme_ns_get_sector_size(ns) > g_opts.io_size) {
		fprintf(info(),
			"WARNING: controller %-20.20s (%-20.20s) ns %u has invalid ns size %" PRIu64
			" / block size %u for I/O size %u\n",
			cd->mn, cd->sn, nsid, size, spio_nvme_ns_get_sector_size(ns),
			g_opts.io_size);
		return false;
	}
	if (g_opts.io_size % bs != 0) {
		fprintf(info(),
			"WARNING: IO size %u (-o) is not a multiple of nsid %u sector size %u. "
			"Removing this ns from test\n",
			g_opts.io_size, nsid, bs);
		return false;
	}
	if (spio_nvme_ns_get_md_size(ns) != 0 && !spio_nvme_ns_supports_extended_lba(ns)) {
		/* the driver's read and write take no separate metadata buffer */
		fprintf(info(),
			"WARNING: nsid %u has separate metadata, which spio_nvme_perf cannot "
			"transfer. Removing this ns from test\n",
			nsid);
		return false;
	}
	if (g_opts.io_size > max) {
		/* the driver does not split commands */
		fprintf(info(),
			"WARNING: IO size %u (-o) is beyond the %u bytes nsid %u takes in one "
			"command. Removing this ns from test\n",
			g_opts.io_size, max, nsid);
		return false;
	}
	return true;
}

static int add_ns(struct perf_ctrlr *pc, struct spio_nvme_ns *ns, bool *warned)
{
	struct spio_nvme_io_qpair_opts qopts;
	struct perf_ns *pns;
	uint32_t qsize, per_qpair;

	if (!ns_usable(pc, ns)) {
		*warned = true;
		return 0;
	}
	pns = &g_perf.nss[g_perf.nns];
	pns->pc = pc;
	pns->ns = ns;
	pns->nsid = spio_nvme_ns_get_id(ns);
	pns->block_size = spio_nvme_ns_get_extended_sector_size(ns);
	pns->io_blocks = g_opts.io_size / pns->block_size;
	pns->size_in_ios = spio_nvme_ns_get_size(ns) / g_opts.io_size;
	/* at least one I/O: 0 would mean no limit */
	pns->number_ios = g_opts.number_ios_pct != 0
			      ? SPIO_MAX(pns->size_in_ios * g_opts.number_ios_pct / 100, 1)
			      : g_opts.number_ios;
	pns->io_flags = g_opts.fua ? SPIO_NVME_IO_FLAGS_FORCE_UNIT_ACCESS : 0;
	ns_name(pns);

	spio_nvme_ctrlr_get_default_io_qpair_opts(pc->ctrlr, &qopts, sizeof(qopts));
	qsize = g_opts.io_queue_size != 0 ? g_opts.io_queue_size : qopts.io_queue_size;
	per_qpair = (g_opts.queue_depth + g_opts.qpairs_per_ns - 1) / g_opts.qpairs_per_ns;
	if (per_qpair > qsize - 1) {
		/* one entry of a queue always stays empty */
		fprintf(info(), "Controller IO queue size %u, less than required.\n", qsize);
		fprintf(info(), "Consider using lower queue depth or smaller IO size, because "
				"IO requests may be queued at the NVMe driver.\n");
	}
	g_perf.nns++;
	return 0;
}

static int register_namespaces(void)
{
	bool warned = false;
	uint32_t i, nsid, total = 0;

	for (i = 0; i < g_perf.nctrlrs; i++) {
		struct spio_nvme_ctrlr *c = g_perf.ctrlrs[i].ctrlr;

		for (nsid = spio_nvme_ctrlr_get_first_active_ns(c); nsid != 0;
		     nsid = spio_nvme_ctrlr_get_next_active_ns(c, nsid)) {
			total++;
		}
	}
	g_perf.nss = calloc(total > 0 ? total : 1, sizeof(*g_perf.nss));
	if (g_perf.nss == NULL) {
		return -ENOMEM;
	}
	for (i = 0; i < g_perf.nctrlrs; i++) {
		struct perf_ctrlr *pc = &g_perf.ctrlrs[i];
		struct spio_nvme_ns *ns;

		if (pc->nsid != 0) {
			ns = spio_nvme_ctrlr_get_ns(pc->ctrlr, pc->nsid);
			if (ns == NULL) {
				fprintf(stderr, "spio_nvme_perf: %s has no active namespace %u\n",
					pc->name, pc->nsid);
				return -ENOENT;
			}
			add_ns(pc, ns, &warned);
			continue;
		}
		for (nsid = spio_nvme_ctrlr_get_first_active_ns(pc->ctrlr); nsid != 0;
		     nsid = spio_nvme_ctrlr_get_next_active_ns(pc->ctrlr, nsid)) {
			ns = spio_nvme_ctrlr_get_ns(pc->ctrlr, nsid);
			if (ns != NULL) {
				add_ns(pc, ns, &warned);
			}
		}
	}
	if (warned) {
		fprintf(info(), "WARNING: Some requested NVMe devices were skipped\n");
	}
	if (g_perf.nns == 0) {
		fprintf(stderr, "spio_nvme_perf: no usable namespace found\n");
		return -ENODEV;
	}
	return 0;
}

static int init_ctx(struct perf_worker *w, struct perf_ctx *ctx, struct perf_ns *pns, uint32_t c)
{
	ctx->worker = w;
	ctx->pns = pns;
	ctx->nqpairs = g_opts.qpairs_per_ns;
	ctx->ntasks = g_opts.queue_depth;
	ctx->seed = (((uint64_t)w->core << 32) ^ pns->nsid ^ (uint64_t)(uintptr_t)pns) *
		    0x9E3779B97F4A7C15ull;
	ctx->rng = ctx->seed | 1;
	stats_init(&ctx->stats);
	fprintf(info(), "Associating %s with lcore %u\n", pns->name, w->core);
	if (g_opts.number_ios_pct != 0) {
		fprintf(info(),
			"number_ios for namespace %s set to %" PRIu64 " (%u%% of namespace size)\n",
			pns->name, pns->number_ios, g_opts.number_ios_pct);
	}
	if (g_opts.verify) {
		/* a share of the namespace per core: no other core writes there */
		ctx->region_start = pns->size_in_ios * c / g_perf.nworkers;
		ctx->region_ios = pns->size_in_ios * (c + 1) / g_perf.nworkers - ctx->region_start;
		if (ctx->region_ios < ctx->ntasks) {
			fprintf(stderr,
				"spio_nvme_perf: --verify: %s holds %" PRIu64
				" I/Os of %u bytes per core, fewer than -q %u\n",
				pns->name, ctx->region_ios, g_opts.io_size, ctx->ntasks);
			return -EINVAL;
		}
	}
	return 0;
}

static int create_workers(void)
{
	struct spio_cpuset mask, one;
	uint32_t c = 0, i;
	int core, rc;
	char name[32];

	spio_app_get_cpuset(&mask);
	g_perf.nworkers = spio_cpuset_count(&mask);
	g_perf.workers = calloc(g_perf.nworkers, sizeof(*g_perf.workers));
	if (g_perf.workers == NULL) {
		return -ENOMEM;
	}
	SPIO_CPUSET_FOREACH (core, &mask) {
		struct perf_worker *w = &g_perf.workers[c];

		w->core = (uint32_t)core;
		w->nctxs = g_perf.nns;
		w->ctxs = calloc(g_perf.nns, sizeof(*w->ctxs));
		if (w->ctxs == NULL) {
			return -ENOMEM;
		}
		/* every namespace on every core (SPDK's --use-every-core) */
		for (i = 0; i < g_perf.nns; i++) {
			rc = init_ctx(w, &w->ctxs[i], &g_perf.nss[i], c);
			if (rc != 0) {
				return rc;
			}
		}
		c++;
	}
	for (c = 0; c < g_perf.nworkers; c++) {
		struct perf_worker *w = &g_perf.workers[c];

		spio_cpuset_zero(&one);
		spio_cpuset_set_cpu(&one, w->core, true);
		snprintf(name, sizeof(name), "nvme_perf_core%u", w->core);
		w->thread = spio_thread_create(name, &one);
		if (w->thread == NULL) {
			rc = -errno;
			fprintf(stderr, "spio_nvme_perf: cannot create a thread on core %u: %s\n",
				w->core, strerror(errno));
			return rc;
		}
	}
	return 0;
}

/* Every controller answered: pick namespaces, start the workers' setup. */
static void perf_setup(void)
{
	uint32_t i;

	if (g_perf.exit_rc != PERF_EXIT_OK || g_perf.stop_requested || register_namespaces() != 0 ||
	    create_workers() != 0) {
		if (!g_perf.stop_requested) {
			g_perf.exit_rc = PERF_EXIT_FAIL;
		}
		/* no worker holds a qpair yet: the app's exit reclaims their threads */
		perf_finish();
		return;
	}
	g_perf.state = ST_SETUP;
	for (i = 0; i < g_perf.nworkers; i++) {
		struct perf_worker *w = &g_perf.workers[i];

		if (spio_thread_send_msg(w->thread, worker_setup_msg, w) != 0) {
			/* it never runs: count it as set up (failed) and finished */
			fprintf(stderr, "spio_nvme_perf: cannot reach the worker on core %u\n",
				w->core);
			w->unreachable = true;
			w->setup_rc = -EIO;
			g_perf.nfinished++;
			app_worker_ready_msg(w);
		}
	}
}

static void ctrlr_connected(void *arg, struct spio_nvme_ctrlr *ctrlr, int status)
{
	struct perf_ctrlr *pc = arg;

	if (status != 0) {
		fprintf(stderr, "spio_nvme_perf: cannot connect to %s (trsvcid %s): %s\n", pc->name,
			pc->trid.trsvcid, strerror(-status));
		g_perf.exit_rc = PERF_EXIT_FAIL;
	} else {
		pc->ctrlr = ctrlr;
		fprintf(info(), "Attached to NVMe%s Controller at %s\n",
			pc->trid.trtype != SPIO_NVME_TRANSPORT_PCIE ? "oF" : "", pc->name);
	}
	if (--g_perf.pending == 0) {
		perf_setup();
	}
}

/* SPDK's name of a controller: "TCP (addr:ADDR subnqn:NQN)". */
static void ctrlr_name(struct perf_ctrlr *pc)
{
	const struct spio_nvme_transport_id *t = &pc->trid;
	char name[sizeof(pc->name)];

	switch (t->trtype) {
	case SPIO_NVME_TRANSPORT_PCIE:
		snprintf(name, sizeof(name), "PCIE (%s)", t->traddr);
		break;
	case SPIO_NVME_TRANSPORT_TCP:
	case SPIO_NVME_TRANSPORT_RDMA:
		snprintf(name, sizeof(name), "%s (addr:%s subnqn:%s)",
			 t->trtype == SPIO_NVME_TRANSPORT_TCP ? "TCP" : "RDMA", t->traddr,
			 t->subnqn);
		break;
	default:
		snprintf(name, sizeof(name), "%s (%s)", t->trstring, t->traddr);
		break;
	}
	memcpy(pc->name, name, sizeof(name));
}

static void perf_start(void *arg)
{
	struct spio_nvme_ctrlr_opts copts;
	uint32_t i, nworkers;
	struct spio_cpuset mask;
	int rc;

	g_app_thread = spio_get_thread();
	g_perf.state = ST_CONNECTING;
	spio_app_get_cpuset(&mask);
	nworkers = spio_cpuset_count(&mask);
	fprintf(info(), "Initializing NVMe Controllers\n");
	fflush(info());
	g_perf.pending = 1;
	for (i = 0; i < g_perf.nctrlrs; i++) {
		struct perf_ctrlr *pc = &g_perf.ctrlrs[i];

		ctrlr_name(pc);
		spio_nvme_ctrlr_get_default_opts(&copts, sizeof(copts));
		copts.header_digest = g_opts.header_digest;
		copts.data_digest = g_opts.data_digest;
		if (g_opts.keep_alive_given) {
			copts.keep_alive_timeout_ms = g_opts.keep_alive_ms;
		}
		if (g_opts.io_queue_size != 0) {
			copts.io_queue_size = g_opts.io_queue_size;
		}
		if (copts.num_io_queues < nworkers * g_opts.qpairs_per_ns) {
			copts.num_io_queues = nworkers * g_opts.qpairs_per_ns;
		}
		g_perf.pending++;
		rc = spio_nvme_connect_async(&pc->trid, &copts, ctrlr_connected, pc);
		if (rc != 0) {
			g_perf.pending--;
			fprintf(stderr, "spio_nvme_perf: cannot connect to %s: %s\n", pc->name,
				strerror(-rc));
			g_perf.exit_rc = PERF_EXIT_FAIL;
		}
	}
	if (--g_perf.pending == 0) {
		perf_setup();
	}
}

static void perf_shutdown(void)
{
	g_perf.stop_requested = true;
	switch (g_perf.state) {
	case ST_RUNNING:
		stop_workers();
		break;
	default: /* connecting and setting up stop once done; stopping goes on */
		break;
	}
}

/*
 * Options
 */

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: spio_nvme_perf -r TRID -q DEPTH -o SIZE -w PATTERN -t SECONDS [options]\n"
	    "\n"
	    "An NVMe load generator with the options and report of SPDK's spdk_nvme_perf.\n"
	    "\n"
	    "  -r, --transport TRID       controller to test (repeatable): 'trtype:TCP\n"
	    "                             adrfam:IPv4 traddr:ADDR trsvcid:PORT subnqn:NQN\n"
	    "                             [hostnqn:NQN] [ns:NSID]' or 'trtype:PCIe\n"
	    "                             traddr:0000:00:04.0 [ns:NSID]'\n"
	    "  -q, --io-depth N           I/Os in flight per namespace per core\n"
	    "  -o, --io-size SIZE         bytes per I/O (4096, 4k, 128k)\n"
	    "  -w, --io-pattern PATTERN   read, write, randread, randwrite, rw or randrw\n"
	    "  -M, --rwmixread PCT        read share of rw and randrw, 0..100\n"
	    "  -t, --time SECONDS         run time\n"
	    "  -c, --core-mask MASK       cores to run workers on (default 0x1)\n"
	    "  -d, --number-ios N[%%]      stop each namespace's worker after N I/Os (or N%% of\n"
	    "                             the namespace); an extra stop condition\n"
	    "  -P, --num-qpairs N         I/O qpairs per namespace per core (default 1)\n"
	    "      --io-queue-size N      entries of each I/O queue (default: the driver's)\n"
	    "  -H, --enable-tcp-hdgst     NVMe/TCP header digest\n"
	    "  -I, --enable-tcp-ddgst     NVMe/TCP data digest\n"
	    "  -k, --keepalive MS         keep alive timeout\n"
	    "  -A, --buffer-alignment N   I/O buffer alignment, a power of 2 (ignored: buffers\n"
	    "                             are 4 KiB aligned)\n"
	    "  -L, --enable-sw-latency-tracking  latency percentiles per device (-LL: and\n"
	    "                             the histogram)\n"
	    "      --fua                  set Force Unit Access on every I/O\n"
	    "      --verify               each I/O writes a pattern, reads it back and\n"
	    "                             compares (needs a workload with writes)\n"
	    "      --json                 print the result as one JSON object on stdout\n"
	    "      --use-every-core       accepted: every core runs every namespace anyway\n"
	    "  -s, --hugemem-size MB      DMA memory to reserve (default: on demand)\n"
	    "      --no-huge              no hugepages for DMA memory\n"
	    "  -T, --logflag FLAG         enable a debug log flag\n"
	    "      --log-level LEVEL      error, warning, notice, info or debug\n"
	    "  -h, --help, -v, --help-full  this text\n"
	    "\n"
	    "Exit status: 0; 1 for bad options, a failed start-up, I/O errors or\n"
	    "miscompares.\n");
}

enum {
	OPT_IO_QUEUE_SIZE = 256,
	OPT_FUA,
	OPT_VERIFY,
	OPT_JSON,
	OPT_USE_EVERY_CORE,
	OPT_NO_HUGE,
	OPT_LOG_LEVEL,
};

static int bad(const char *opt, const char *arg, const char *expected)
{
	fprintf(stderr, "spio_nvme_perf: %s %s: expected %s\n", opt, arg, expected);
	return -EINVAL;
}

static int parse_u32(const char *opt, const char *arg, uint64_t min, uint64_t max, uint32_t *out)
{
	uint64_t v;

	if (spio_parse_u64(arg, 10, &v) != 0 || v < min || v > max) {
		fprintf(stderr,
			"spio_nvme_perf: %s %s: expected a number from %" PRIu64 " to %" PRIu64
			"\n",
			opt, arg, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

/* -r: SPDK's trid string, with its extra key ns:NSID taken out here. */
static int parse_trid(const char *arg)
{
	struct perf_ctrlr *pc = &g_perf.ctrlrs[g_perf.nctrlrs];
	char copy[1024], rest[1024], *tok, *save = NULL;
	size_t len = 0;
	uint64_t nsid = 0;

	if (g_perf.nctrlrs == PERF_MAX_TRIDS) {
		fprintf(stderr, "spio_nvme_perf: at most %u -r options\n", PERF_MAX_TRIDS);
		return -EINVAL;
	}
	if (strlen(arg) >= sizeof(copy)) {
		return bad("-r", arg, "a transport ID shorter than 1 KiB");
	}
	snprintf(copy, sizeof(copy), "%s", arg);
	rest[0] = '\0';
	for (tok = strtok_r(copy, " \t\n", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t\n", &save)) {
		if (strncasecmp(tok, "ns:", 3) != 0 && strncasecmp(tok, "ns=", 3) != 0) {
			len += (size_t)snprintf(rest + len, sizeof(rest) - len, "%s%s",
						len > 0 ? " " : "", tok);
			continue;
		}
		if (spio_parse_u64(tok + 3, 10, &nsid) != 0 || nsid == 0 ||
		    nsid >= SPIO_NVME_GLOBAL_NS_TAG) {
			return bad("-r", arg, "ns:NSID with NSID from 1 to 4294967294");
		}
	}
	if (spio_nvme_transport_id_parse(&pc->trid, rest) != 0) {
		return bad("-r", arg,
			   "a transport ID such as 'trtype:TCP adrfam:IPv4 "
			   "traddr:127.0.0.1 trsvcid:4420 subnqn:NQN'");
	}
	if (pc->trid.traddr[0] == '\0') {
		return bad("-r", arg, "a traddr");
	}
	if (pc->trid.trtype != SPIO_NVME_TRANSPORT_PCIE &&
	    (pc->trid.subnqn[0] == '\0' || strcmp(pc->trid.subnqn, SPIO_NVMF_DISCOVERY_NQN) == 0)) {
		return bad("-r", arg, "subnqn: the NVM subsystem to test (not discovery)");
	}
	pc->nsid = (uint32_t)nsid;
	g_perf.nctrlrs++;
	return 0;
}

static int parse_number_ios(const char *arg)
{
	size_t n = strlen(arg);
	char num[32];
	uint64_t v;

	if (n > 1 && n < sizeof(num) && arg[n - 1] == '%') {
		memcpy(num, arg, n - 1);
		num[n - 1] = '\0';
		if (spio_parse_u64(num, 10, &v) != 0 || v == 0 || v > 100) {
			return bad("-d", arg, "a percentage from 1% to 100%");
		}
		g_opts.number_ios_pct = (uint32_t)v;
		return 0;
	}
	if (spio_parse_capacity(arg, &v) != 0 || v == 0) {
		return bad("-d", arg, "a number of I/Os >= 1, or N%");
	}
	g_opts.number_ios = v;
	return 0;
}

static int parse_opt(int ch, char *arg)
{
	uint32_t v32;
	uint64_t v;
	int level;

	switch (ch) {
	case 'r':
		return parse_trid(arg);
	case 'q':
		if (spio_parse_capacity(arg, &v) != 0 || v == 0 || v > PERF_MAX_DEPTH) {
			return bad("-q", arg, "a queue depth from 1 to 65536");
		}
		g_opts.queue_depth = (uint32_t)v;
		return 0;
	case 'o':
		if (spio_parse_capacity(arg, &v) != 0 || v == 0 || v > (1u << 30) || v % 4 != 0) {
			return bad("-o", arg,
				   "an I/O size in bytes, a multiple of 4 up to 1 GiB "
				   "(4096, 4k, 128k)");
		}
		g_opts.io_size = (uint32_t)v;
		return 0;
	case 'w':
		g_opts.workload = arg;
		return 0;
	case 'M':
		if (parse_u32("-M", arg, 0, 100, &v32) != 0) {
			return -EINVAL;
		}
		g_opts.mix_given = true;
		g_opts.read_pct = (int)v32;
		return 0;
	case 't':
		return parse_u32("-t", arg, 1, 10000000, &g_opts.time_s);
	case 'c':
		g_opts.core_mask = arg;
		return 0;
	case 'd':
		return parse_number_ios(arg);
	case 'P':
		return parse_u32("-P", arg, 1, 65535, &g_opts.qpairs_per_ns);
	case OPT_IO_QUEUE_SIZE:
		if (spio_parse_capacity(arg, &v) != 0 || v < 2 || v > 65536) {
			return bad("--io-queue-size", arg, "a queue size from 2 to 65536");
		}
		g_opts.io_queue_size = (uint32_t)v;
		return 0;
	case 'H':
		g_opts.header_digest = true;
		return 0;
	case 'I':
		g_opts.data_digest = true;
		return 0;
	case 'k':
		g_opts.keep_alive_given = true;
		return parse_u32("-k", arg, 0, UINT32_MAX, &g_opts.keep_alive_ms);
	case 'A':
		if (spio_parse_capacity(arg, &v) != 0 || v < 64 || v > 4096 || !spio_is_pow2(v)) {
			return bad("-A", arg, "a power of 2 from 64 to 4096");
		}
		return 0;
	case 'L':
		g_opts.latency_level++;
		return 0;
	case OPT_FUA:
		g_opts.fua = true;
		return 0;
	case OPT_VERIFY:
		g_opts.verify = true;
		return 0;
	case OPT_JSON:
		g_opts.json = true;
		return 0;
	case OPT_USE_EVERY_CORE:
		return 0;
	case 's':
		if (spio_parse_u64(arg, 10, &v) != 0 || v > (1u << 20)) {
			return bad("-s", arg, "a memory size in MiB");
		}
		g_opts.mem_size_mb = v;
		return 0;
	case OPT_NO_HUGE:
		g_opts.no_huge = true;
		return 0;
	case 'T':
		if (spio_log_set_flag(arg, true) != 0) {
			return bad("-T", arg, "a log flag");
		}
		return 0;
	case OPT_LOG_LEVEL:
		level = spio_log_level_from_string(arg);
		if (level < 0) {
			return bad("--log-level", arg, "error, warning, notice, info or debug");
		}
		spio_log_set_level((enum spio_log_level)level);
		return 0;
	default:
		fprintf(stderr, "spio_nvme_perf: -%c: SPDK's option is not supported here\n", ch);
		return -EINVAL;
	}
}

/* Cross-option checks, in SPDK's order and wording. */
static int check_opts(void)
{
	struct spio_cpuset mask;
	const char *w = g_opts.workload;

	if (g_opts.queue_depth == 0) {
		fprintf(stderr, "missing -q (--io-depth) operand\n");
		return -EINVAL;
	}
	if (g_opts.io_size == 0) {
		fprintf(stderr, "missing -o (--io-size) operand\n");
		return -EINVAL;
	}
	if (w == NULL) {
		fprintf(stderr, "missing -w (--io-pattern) operand\n");
		return -EINVAL;
	}
	if (g_opts.time_s == 0) {
		fprintf(stderr, "missing -t (--time) operand\n");
		return -EINVAL;
	}
	if (g_perf.nctrlrs == 0) {
		fprintf(stderr, "missing -r (--transport) operand: spio_nvme_perf does not "
				"enumerate local PCIe devices\n");
		return -EINVAL;
	}
	if (strncmp(w, "rand", 4) == 0) {
		g_opts.random = true;
		w += 4;
	}
	if (strcmp(w, "read") == 0 || strcmp(w, "write") == 0) {
		if (g_opts.mix_given) {
			fprintf(stderr, "Ignoring -M (--rwmixread) option... Please use -M option"
					" only when using rw or randrw.\n");
		}
		g_opts.read_pct = strcmp(w, "read") == 0 ? 100 : 0;
	} else if (strcmp(w, "rw") == 0) {
		if (!g_opts.mix_given) {
			fprintf(stderr, "-M (--rwmixread) must be specified to value from 0 to 100 "
					"for rw or randrw.\n");
			return -EINVAL;
		}
	} else {
		fprintf(stderr, "-w (--io-pattern) io pattern type must be one of\n"
				"(read, write, randread, randwrite, rw, randrw)\n");
		return -EINVAL;
	}
	if (g_opts.number_ios != 0 && g_opts.number_ios < g_opts.queue_depth) {
		fprintf(stderr, "-d (--number-ios) less than -q (--io-depth) is not supported\n");
		return -EINVAL;
	}
	if (g_opts.verify && g_opts.read_pct == 100) {
		fprintf(stderr, "--verify needs a workload with writes, not -w %s\n",
			g_opts.workload);
		return -EINVAL;
	}
	if (spio_cpuset_parse(&mask, g_opts.core_mask) != 0 || spio_cpuset_count(&mask) == 0) {
		fprintf(stderr,
			"spio_nvme_perf: -c %s: expected a core mask such as 0x3 or [0-1]\n",
			g_opts.core_mask);
		return -EINVAL;
	}
	return 0;
}

/* 1 to run, 0 to exit 0 (help), -1 to exit 1. */
static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"transport", required_argument, NULL, 'r'},
	    {"io-depth", required_argument, NULL, 'q'},
	    {"io-size", required_argument, NULL, 'o'},
	    {"io-pattern", required_argument, NULL, 'w'},
	    {"rwmixread", required_argument, NULL, 'M'},
	    {"time", required_argument, NULL, 't'},
	    {"core-mask", required_argument, NULL, 'c'},
	    {"number-ios", required_argument, NULL, 'd'},
	    {"num-qpairs", required_argument, NULL, 'P'},
	    {"io-queue-size", required_argument, NULL, OPT_IO_QUEUE_SIZE},
	    {"enable-tcp-hdgst", no_argument, NULL, 'H'},
	    {"enable-tcp-ddgst", no_argument, NULL, 'I'},
	    {"keepalive", required_argument, NULL, 'k'},
	    {"buffer-alignment", required_argument, NULL, 'A'},
	    {"enable-sw-latency-tracking", no_argument, NULL, 'L'},
	    {"fua", no_argument, NULL, OPT_FUA},
	    {"verify", no_argument, NULL, OPT_VERIFY},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"use-every-core", no_argument, NULL, OPT_USE_EVERY_CORE},
	    {"hugemem-size", required_argument, NULL, 's'},
	    {"no-huge", no_argument, NULL, OPT_NO_HUGE},
	    {"logflag", required_argument, NULL, 'T'},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"help", no_argument, NULL, 'h'},
	    {"help-full", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	/* SPDK's letters; those spio_nvme_perf lacks are refused by name in parse_opt */
	static const char shortopts[] =
	    "a:b:c:d:e:ghi:lmo:q:r:k:s:t:vw:y:z:A:C:DEF:HILM:NO:P:Q:RS:T:U:VZ:";
	int ch;

	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (ch == 'h' || ch == 'v') {
			usage(stdout);
			return 0;
		}
		if (ch == '?') {
			fprintf(stderr, "Try 'spio_nvme_perf --help'.\n");
			return -1;
		}
		if (parse_opt(ch, optarg) != 0) {
			return -1;
		}
	}
	if (optind < argc) {
		/* SPDK's tool takes kernel block devices here */
		fprintf(stderr,
			"spio_nvme_perf: unexpected argument '%s' (kernel devices are not "
			"supported)\n",
			argv[optind]);
		return -1;
	}
	return check_opts() == 0 ? 1 : -1;
}

int main(int argc, char **argv)
{
	struct spio_app_opts opts;
	int rc;

	rc = parse_args(argc, argv);
	if (rc <= 0) {
		return rc == 0 ? PERF_EXIT_OK : PERF_EXIT_FAIL;
	}
	spio_app_opts_init(&opts, sizeof(opts));
	opts.name = "spio_nvme_perf";
	opts.reactor_mask = g_opts.core_mask;
	opts.rpc_addr = NULL;
	opts.idle_mode = SPIO_APP_IDLE_POLL;
	opts.shutdown_cb = perf_shutdown;
	opts.no_huge = g_opts.no_huge;
	opts.mem_size_mb = g_opts.mem_size_mb;
	rc = spio_app_start(&opts, perf_start, NULL);
	if (rc < 0) {
		fprintf(stderr, "spio_nvme_perf: start-up failed: %s\n", strerror(-rc));
		return PERF_EXIT_FAIL;
	}
	return rc;
}
