/*
 * bench_bdev_shared_desc: one bdev descriptor used by two threads on two
 * cores, as the NVMe-oF target uses a namespace's descriptor from every
 * poll group, against a descriptor per thread. Each of two OS threads (one
 * spio thread each, pinned to cores 0 and 1) keeps 64 one-block reads in
 * flight on a null bdev for -t ms:
 *
 *   own_desc     each thread opened its own descriptor (the opener's path)
 *   shared_desc  both use one descriptor opened on a third thread
 *
 * Before the bdev channel held the shared descriptor for its I/O, every I/O
 * of shared_desc took and dropped a reference with locked instructions on
 * one cache line both cores wrote. Cases alternate, 3 rounds; the best is
 * printed:
 *
 *   {"bench":"bdev_shared_desc","case":"shared_desc","qd":64,"threads":2,
 *    "iops":...,"ns_per_io_per_thread":...}
 *
 * Usage: bench_bdev_shared_desc [-t ms] (default 300). Needs two cores.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "spio/bdev.h"
#include "spio/bdev_null.h"
#include "spio/env.h"
#include "spio/json.h"
#include "spio/thread.h"

#define QD 64
#define ROUNDS 3
#define NTHREADS 2

struct worker {
	int core;
	struct spio_thread *thread;
	struct spio_bdev_desc *desc; /* shared, or opened by the worker */
	struct spio_io_channel *ch;
	bool own_desc;
	uint64_t ms;
	uint64_t ios;
	uint64_t ticks;
	int errors;
	bool running;
	uint8_t buf[4096] __attribute__((aligned(4096)));
};

static void event_cb(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg);

static void submit(struct worker *w)
{
	if (spio_bdev_read_blocks(w->desc, w->ch, w->buf, 0, 1, io_done, w) != 0) {
		w->errors++;
	}
}

static void io_done(struct spio_bdev_io *io, bool success, void *cb_arg)
{
	struct worker *w = cb_arg;

	spio_bdev_free_io(io);
	w->ios++;
	w->errors += !success;
	if (w->running) {
		submit(w);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;
	uint64_t start, end, ios0;

	CPU_ZERO(&set);
	CPU_SET(w->core, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	spio_set_thread(w->thread);
	if (w->own_desc && spio_bdev_open_ext("Null0", false, event_cb, NULL, &w->desc) != 0) {
		w->errors++;
		return NULL;
	}
	w->ch = spio_bdev_get_io_channel(w->desc);
	if (w->ch == NULL) {
		w->errors++;
		return NULL;
	}
	w->running = true;
	for (int i = 0; i < QD; i++) {
		submit(w);
	}
	ios0 = w->ios;
	start = spio_get_ticks();
	end = start + spio_us_to_ticks(w->ms * 1000);
	while (spio_get_ticks() < end) {
		spio_thread_poll(w->thread, 0, 0);
	}
	w->ticks = spio_get_ticks() - start;
	w->ios -= ios0;
	w->running = false;
	for (int i = 0; i < 1000; i++) {
		spio_thread_poll(w->thread, 0, 0);
	}
	spio_put_io_channel(w->ch);
	for (int i = 0; i < 100; i++) {
		spio_thread_poll(w->thread, 0, 0);
	}
	if (w->own_desc) {
		spio_bdev_close(w->desc);
	}
	spio_set_thread(NULL);
	return NULL;
}

/* One run of a case: total IOPS and ns per I/O per thread (*ns_out). */
static int run_case(bool shared, struct spio_bdev_desc *desc, struct worker *w, uint64_t ms,
		    double *iops_out, double *ns_out)
{
	pthread_t tid[NTHREADS];
	double iops = 0, ns = 0;

	for (int i = 0; i < NTHREADS; i++) {
		w[i].core = i;
		w[i].own_desc = !shared;
		w[i].desc = shared ? desc : NULL;
		w[i].ms = ms;
		w[i].ios = 0;
		w[i].errors = 0;
		if (pthread_create(&tid[i], NULL, worker_main, &w[i]) != 0) {
			return -errno;
		}
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(tid[i], NULL);
	}
	for (int i = 0; i < NTHREADS; i++) {
		double secs = (double)w[i].ticks / (double)spio_get_ticks_hz();

		if (w[i].errors != 0 || w[i].ios == 0) {
			fprintf(stderr, "bench_bdev_shared_desc: worker %d: %d errors\n", i,
				w[i].errors);
			return -EIO;
		}
		iops += (double)w[i].ios / secs;
		ns += secs * 1e9 / (double)w[i].ios / NTHREADS;
	}
	*iops_out = iops;
	*ns_out = ns;
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const names[2] = {"own_desc", "shared_desc"};
	struct spio_env_opts eopts;
	struct spio_bdev_null_opts nopts;
	struct spio_bdev_desc *desc = NULL;
	struct spio_thread *main_thread;
	struct spio_bdev *bdev;
	struct worker *w;
	double best_iops[2] = {0, 0}, best_ns[2] = {0, 0};
	uint64_t ms = 300;
	int rc;

	if (bench_parse_args(argc, argv, &ms) != 0) {
		return 2;
	}
	w = aligned_alloc(4096, sizeof(*w) * NTHREADS);
	if (w == NULL) {
		return 1;
	}
	memset(w, 0, sizeof(*w) * NTHREADS);
	spio_env_opts_init(&eopts, sizeof(eopts));
	eopts.name = "bench_bdev_shared_desc";
	eopts.no_huge = true;
	rc = spio_env_init(&eopts);
	if (rc == 0) {
		rc = spio_thread_lib_init(NULL, 0);
	}
	main_thread = rc == 0 ? spio_thread_create("main", NULL) : NULL;
	for (int i = 0; i < NTHREADS && main_thread != NULL; i++) {
		w[i].thread = spio_thread_create(i == 0 ? "worker0" : "worker1", NULL);
		if (w[i].thread == NULL) {
			rc = -ENOMEM;
		}
	}
	if (rc != 0 || main_thread == NULL) {
		fprintf(stderr, "bench_bdev_shared_desc: set-up failed: %d\n", rc);
		return 1;
	}
	spio_set_thread(main_thread);
	spio_bdev_null_opts_init(&nopts, sizeof(nopts));
	nopts.name = "Null0";
	nopts.num_blocks = 1 << 18;
	nopts.block_size = 4096;
	if ((rc = spio_bdev_initialize(NULL, NULL, NULL)) != 0 ||
	    (rc = spio_bdev_null_create(&nopts, &bdev, NULL, 0)) != 0 ||
	    (rc = spio_bdev_open_ext("Null0", false, event_cb, NULL, &desc)) != 0) {
		fprintf(stderr, "bench_bdev_shared_desc: bdev set-up failed: %d\n", rc);
		return 1;
	}
	for (int i = 0; i < 20000; i++) {
		spio_thread_poll(main_thread, 0, 0); /* examine */
	}
	for (int round = 0; round <= ROUNDS && rc == 0; round++) {
		for (int c = 0; c < 2 && rc == 0; c++) {
			double iops = 0, ns = 0;

			/* round 0 is the warm-up */
			rc = run_case(c == 1, desc, w, round == 0 ? ms / 4 + 1 : ms, &iops, &ns);
			if (rc == 0 && round > 0 && iops > best_iops[c]) {
				best_iops[c] = iops;
				best_ns[c] = ns;
			}
		}
	}
	spio_set_thread(main_thread);
	spio_bdev_close(desc);
	for (int c = 0; c < 2 && rc == 0; c++) {
		printf("{\"bench\":\"bdev_shared_desc\",\"case\":\"%s\",\"qd\":%d,\"threads\":%d,"
		       "\"iops\":%.0f,\"ns_per_io_per_thread\":%.1f}\n",
		       names[c], QD, NTHREADS, best_iops[c], bench_round_to(best_ns[c], 1));
	}
	return rc == 0 ? 0 : 1;
}
