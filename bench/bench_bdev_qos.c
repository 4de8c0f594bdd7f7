/*
 * bench_bdev_qos: what QoS and latency histograms cost per I/O when no limit
 * is hit, one JSON object per line. One spio thread keeps 32 one-block
 * reads in flight on a null bdev (the stack's own cost, no device work):
 *
 *   off        no limit, no histogram: the baseline (one branch each)
 *   qos_iops   rw_ios_per_sec set far above what the thread can do
 *   qos_all    every kind of limit set that high (four budgets per read)
 *   histogram  the latency histogram enabled (SPDK's default settings)
 *
 * Each case runs a warm-up of a quarter of -t, then 3 runs of -t ms, the
 * cases alternating; the best run is printed, with "overhead_ns" its
 * ns_per_io over the baseline's:
 *
 *   {"bench":"bdev_qos","case":"qos_iops","qd":32,"ios":...,"seconds":...,
 *    "iops":...,"ns_per_io":...,"overhead_ns":...}
 *
 * Usage: bench_bdev_qos [-t ms] (default 300). Pin it to a core on a quiet
 * machine for figures worth keeping (taskset -c N).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "spio/bdev.h"
#include "spio/bdev_null.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/thread.h"

#define QD 32
#define ROUNDS 3

enum bench_case { CASE_OFF, CASE_QOS_IOPS, CASE_QOS_ALL, CASE_HISTOGRAM, NUM_CASES };

static const char *const g_case_names[NUM_CASES] = {"off", "qos_iops", "qos_all", "histogram"};

static struct spio_thread *g_thread;
static struct spio_bdev *g_bdev;
static struct spio_bdev_desc *g_desc;
static struct spio_io_channel *g_ch;
static uint8_t g_buf[4096] __attribute__((aligned(4096)));
static uint64_t g_ios;
static uint64_t g_inflight;
static bool g_running;
static int g_errors;
static int g_cb_done;
static int g_cb_status;

static void poll_once(void)
{
	spio_thread_poll(g_thread, 0, 0);
}

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg);

static void submit(void)
{
	uint64_t off = (g_ios * 7) % 4096;

	if (spio_bdev_read_blocks(g_desc, g_ch, g_buf, off, 1, io_done, NULL) != 0) {
		g_errors++;
		return;
	}
	g_inflight++;
}

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	(void)cb_arg;
	g_inflight--;
	g_ios++;
	if (!success) {
		g_errors++;
	}
	spio_bdev_free_io(io);
	if (g_running) {
		submit();
	}
}

static void status_cb(void *arg, int status)
{
	(void)arg;
	g_cb_status = status;
	g_cb_done++;
}

/* Wait for a status callback; its status. */
static int wait_cb(int rc)
{
	if (rc != 0) {
		return rc;
	}
	while (g_cb_done == 0) {
		poll_once();
	}
	g_cb_done = 0;
	return g_cb_status;
}

static int set_case(enum bench_case c)
{
	/* far above what one thread does: the limiter runs, never holds back */
	uint64_t high = 1000ull * 1000 * 1000 * 1000;
	uint64_t none[4] = {0, 0, 0, 0};
	uint64_t iops[4] = {high, 0, 0, 0};
	uint64_t all[4] = {high, high, high, high};
	const uint64_t *l = c == CASE_QOS_IOPS ? iops : c == CASE_QOS_ALL ? all : none;
	int rc;

	rc = wait_cb(spio_bdev_set_qos_rate_limits(g_bdev, l, status_cb, NULL));
	if (rc == 0) {
		rc = wait_cb(
		    spio_bdev_histogram_enable(g_bdev, c == CASE_HISTOGRAM, NULL, status_cb, NULL));
	}
	return rc;
}

/* Run flat out for `ms`; ns per I/O (elapsed / I/Os). */
static double run(uint64_t ms, uint64_t *ios_out, double *seconds_out)
{
	uint64_t start, end, ios0;

	g_running = true;
	for (int i = 0; i < QD; i++) {
		submit();
	}
	ios0 = g_ios;
	start = spio_get_ticks();
	end = start + spio_us_to_ticks(ms * 1000);
	while (spio_get_ticks() < end) {
		poll_once();
	}
	*ios_out = g_ios - ios0;
	*seconds_out = (double)(spio_get_ticks() - start) / (double)spio_get_ticks_hz();
	g_running = false;
	while (g_inflight > 0) {
		poll_once();
	}
	return *seconds_out * 1e9 / (double)SPIO_MAX(*ios_out, 1);
}

static void ev(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static int setup(void)
{
	struct spio_env_opts eopts;
	struct spio_bdev_null_opts nopts;
	int rc;

	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.no_huge = true;
	eopts.name = "bench_bdev_qos";
	rc = spio_env_init(&eopts);
	if (rc == 0) {
		rc = spio_thread_lib_init(NULL, 0);
	}
	if (rc != 0) {
		return rc;
	}
	g_thread = spio_thread_create("bench", NULL);
	if (g_thread == NULL) {
		return -ENOMEM;
	}
	spio_set_thread(g_thread);
	rc = spio_bdev_initialize(NULL, NULL, NULL);
	if (rc != 0) {
		return rc;
	}
	spio_bdev_null_opts_init(&nopts, sizeof(nopts));
	nopts.name = "Null0";
	nopts.num_blocks = 4096;
	nopts.block_size = 512;
	rc = spio_bdev_null_create(&nopts, &g_bdev, NULL, 0);
	if (rc == 0) {
		rc = spio_bdev_open_ext("Null0", false, ev, NULL, &g_desc);
	}
	if (rc != 0) {
		return rc;
	}
	g_ch = spio_bdev_get_io_channel(g_desc);
	return g_ch != NULL ? 0 : -ENOMEM;
}

static void fini_done(void *arg)
{
	(*(int *)arg)++;
}

static void teardown(void)
{
	int done = 0;

	if (g_ch != NULL) {
		spio_put_io_channel(g_ch);
	}
	if (g_desc != NULL) {
		spio_bdev_close(g_desc);
	}
	if (spio_bdev_finish(fini_done, &done) == 0) {
		while (done == 0) {
			poll_once();
		}
	}
	spio_thread_exit(g_thread);
	while (!spio_thread_is_exited(g_thread)) {
		poll_once();
	}
	spio_set_thread(NULL);
	spio_thread_destroy(g_thread);
	spio_thread_lib_fini();
	spio_env_fini();
}

int main(int argc, char **argv)
{
	uint64_t ms = 300, ios, best_ios[NUM_CASES] = {0};
	double best[NUM_CASES], best_s[NUM_CASES] = {0}, seconds, ns;
	struct spio_json_write_ctx *w;
	int rc;

	if (bench_parse_args(argc, argv, &ms) != 0) {
		return 2;
	}
	rc = setup();
	if (rc != 0) {
		fprintf(stderr, "bench_bdev_qos: set-up failed: %s\n", strerror(-rc));
		return 1;
	}
	for (int c = 0; c < NUM_CASES; c++) {
		best[c] = 1e300;
		if (set_case(c) != 0) {
			fprintf(stderr, "bench_bdev_qos: case %s: set-up failed\n",
				g_case_names[c]);
			teardown();
			return 1;
		}
		run(SPIO_MAX(ms / 4, (uint64_t)1), &ios, &seconds);
	}
	for (int r = 0; r < ROUNDS; r++) {
		for (int c = 0; c < NUM_CASES; c++) {
			set_case(c);
			ns = run(ms, &ios, &seconds);
			if (ns < best[c]) {
				best[c] = ns;
				best_ios[c] = ios;
				best_s[c] = seconds;
			}
		}
	}
	set_case(CASE_OFF);
	for (int c = 0; c < NUM_CASES; c++) {
		w = spio_json_write_begin(bench_file_write_cb, stdout, 0);
		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "bench", "bdev_qos");
		spio_json_write_named_string(w, "case", g_case_names[c]);
		spio_json_write_named_uint32(w, "qd", QD);
		spio_json_write_named_uint64(w, "ios", best_ios[c]);
		spio_json_write_named_double(w, "seconds", bench_round_to(best_s[c], 4));
		spio_json_write_named_double(w, "iops",
					     bench_round_to((double)best_ios[c] / best_s[c], 0));
		spio_json_write_named_double(w, "ns_per_io", bench_round_to(best[c], 2));
		spio_json_write_named_double(w, "overhead_ns",
					     bench_round_to(best[c] - best[CASE_OFF], 2));
		spio_json_write_object_end(w);
		spio_json_write_end(w);
		fputc('\n', stdout);
	}
	teardown();
	if (g_errors != 0) {
		fprintf(stderr, "bench_bdev_qos: %d I/O errors\n", g_errors);
		return 1;
	}
	return 0;
}
