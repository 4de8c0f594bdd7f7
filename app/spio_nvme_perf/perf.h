/*
 * spio_nvme_perf: shared state of the load generator.
 *
 * Threads. The app thread (main core) owns the controllers (it is their
 * admin thread), the option set and the list of workers; it reads the live
 * counters with relaxed atomics and everything else of a worker only after
 * that worker reported it finished (a message, which orders the accesses).
 * Each core of -c has one worker: a spio thread on that core with one poll
 * group, and one context per namespace holding that namespace's qpairs and
 * I/O slots. Nothing in the I/O path allocates.
 */
#ifndef SPIO_NVME_PERF_H
#define SPIO_NVME_PERF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "spio/histogram.h"
#include "spio/nvme.h"
#include "spio/thread.h"

#define PERF_EXIT_OK 0
#define PERF_EXIT_FAIL 1

/* I/O errors and miscompares reported one by one per context; the rest are counted. */
#define PERF_MAX_REPORTS 10

struct perf_options {
	uint32_t queue_depth;	 /* -q, I/Os in flight per namespace per core */
	uint32_t io_size;	 /* -o, bytes */
	const char *workload;	 /* -w as given */
	bool random;		 /* rand* workload */
	int read_pct;		 /* from -w and -M; -1 until known */
	bool mix_given;		 /* -M was given */
	uint32_t time_s;	 /* -t */
	uint64_t number_ios;	 /* -d N: stop each context after N I/Os; 0: no limit */
	uint32_t number_ios_pct; /* -d N%: that share of the namespace, in I/Os */
	const char *core_mask;	 /* -c */
	uint32_t qpairs_per_ns;	 /* -P */
	uint32_t io_queue_size;	 /* --io-queue-size; 0: the controller's default */
	uint32_t keep_alive_ms;	 /* -k; 0: the driver's default */
	bool keep_alive_given;
	bool header_digest;	/* -H */
	bool data_digest;	/* -I */
	uint32_t latency_level; /* -L: 1 percentile summary, 2 and the histogram */
	bool json;		/* --json: the result as one JSON object on stdout */
	bool verify;		/* --verify: each I/O is a write, read back and compared */
	bool fua;		/* --fua */
	bool no_huge;
	uint64_t mem_size_mb; /* -s */
};

extern struct perf_options g_opts;

struct perf_ctrlr {
	struct spio_nvme_transport_id trid;
	uint32_t nsid; /* ns:N of -r; 0: every active namespace */
	char name[SPIO_NVMF_TRADDR_MAX_LEN + SPIO_NVMF_NQN_MAX_LEN + 32];
	struct spio_nvme_ctrlr *ctrlr;
};

/* A namespace under test. */
struct perf_ns {
	struct perf_ctrlr *pc;
	struct spio_nvme_ns *ns;
	uint32_t nsid;
	char name[SPIO_NVMF_TRADDR_MAX_LEN + SPIO_NVMF_NQN_MAX_LEN + 48];
	uint32_t block_size;
	uint32_t io_blocks;   /* blocks per I/O */
	uint64_t size_in_ios; /* namespace size in I/Os */
	uint64_t number_ios;  /* I/Os per context, 0: no limit */
	uint32_t io_flags;    /* SPIO_NVME_IO_FLAGS_* */
};

enum perf_op {
	OP_READ,
	OP_WRITE,
	OP_VERIFY_WRITE,
	OP_VERIFY_READ,
};

struct perf_ctx;

/* One I/O slot: `queue_depth` of them per context, reused for every I/O. */
struct perf_task {
	struct perf_ctx *ctx;
	struct spio_nvme_qpair *qpair;
	void *buf;
	void *rbuf; /* verify: read-back buffer */
	uint64_t offset_in_ios;
	uint64_t submit_tick;
	uint64_t generation; /* verify: writes this slot made */
	uint32_t slot;
	enum perf_op op;
	struct perf_task *next_queued; /* waiting for a free command slot */
};

/* Statistics of one context; summed for the total. */
struct perf_stats {
	uint64_t reads;
	uint64_t writes;
	uint64_t io_errors;
	uint64_t miscompares;
	struct spio_histogram lat; /* ticks; its count is the I/Os completed */
};

/* One namespace on one core. */
struct perf_ctx {
	struct perf_worker *worker;
	struct perf_ns *pns;
	struct spio_nvme_qpair **qpairs;
	uint32_t nqpairs;
	struct perf_task *tasks;
	uint32_t ntasks;
	uint64_t rng;
	uint64_t seed;
	uint64_t next_io;      /* sequential workloads */
	uint64_t region_start; /* verify: this context's share of the namespace, in I/Os */
	uint64_t region_ios;
	uint64_t submitted;
	uint32_t busy; /* slots in flight or queued */
	bool draining;
	bool done;
	struct perf_task *queued_head, *queued_tail;
	uint64_t start_tick;
	uint64_t end_tick;
	_Atomic uint64_t live_ios; /* completions, read by the app thread each second */
	struct perf_stats stats;
};

struct perf_worker {
	uint32_t core;
	struct spio_thread *thread;
	struct spio_nvme_poll_group *group;
	struct spio_poller *poller;
	struct perf_ctx *ctxs;
	uint32_t nctxs;
	uint32_t nactive;	   /* contexts not done */
	uint32_t connects_pending; /* qpair connects not answered yet */
	int setup_rc;
	bool started;
	bool tearing_down;
	bool unreachable; /* app thread: its setup message could not be sent */
};

/* worker.c: messages the app thread sends to a worker's thread. */
void worker_setup_msg(void *arg);
void worker_go_msg(void *arg);
void worker_stop_msg(void *arg);

/* main.c: the app thread, and the messages workers send it (arg: the worker). */
extern struct spio_thread *g_app_thread;
void app_worker_ready_msg(void *arg);
void app_worker_finished_msg(void *arg);

/* report.c */
void stats_init(struct perf_stats *s);
void stats_add(struct perf_stats *sum, const struct perf_stats *s);
/* Print the final table (or JSON) of every context of `workers`. */
void report_print(struct perf_worker *workers, uint32_t nworkers);

#endif /* SPIO_NVME_PERF_H */
