/*
 * Test helper for the NVMe-oF core: a tiny in-process transport ("CT",
 * trtype CUSTOM) whose connections are structs the test drives directly
 * (commands injected with nvmf_request_exec on the poll group's thread,
 * responses captured from req_complete), and a fixture that runs the
 * target thread and the poll group threads: all on the test's OS thread,
 * or the poll groups on a second OS thread (threaded mode, for TSan).
 */
#ifndef SPIO_TEST_HELPER_CORE_TRANSPORT_H
#define SPIO_TEST_HELPER_CORE_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "spio/nvme_spec.h"
#include "spio/nvmf.h"

#include "nvmf/nvmf_internal.h"

/* Name of the test transport (spio_nvmf_tgt_add_transport, trid.trstring). */
#define CT_TRANSPORT "CT"

/* The address ct_admin_up / ct_io_up connect through (add it as a listener). */
#define CT_ADDR "10.0.0.1"
#define CT_SVC "4420"

/* How long the helpers wait for anything. */
#define CT_TIMEOUT_US (10ULL * 1000 * 1000)

/* Requests one connection can have out at once. */
#define CT_MAX_REQS 16

struct ct_conn;

/* One request of a connection: the command, the response, the data. */
struct ct_req {
	struct nvmf_request req;
	struct spio_nvme_cmd cmd;
	struct spio_nvme_cpl cpl;
	struct ct_conn *conn;
	uint8_t *buf;
	uint32_t buf_len;
	int done;	   /* completions seen (atomic) */
	bool wrong_thread; /* completed on another thread than the group's */
	bool in_use;
};

/* A connection of the test transport. */
struct ct_conn {
	struct nvmf_qpair qpair;
	struct nvmf_poll_group *group;
	struct ct_req reqs[CT_MAX_REQS];
	int added;  /* nvmf_poll_group_add_qpair ran (atomic) */
	int closed; /* qpair_close calls (atomic) */
	int fini;   /* qpair_fini calls (atomic) */
};

/* Statistics of the test transport (atomics). */
struct ct_stats {
	int listens;
	int stop_listens;
	int groups_created;
	int groups_destroyed;
	int created;
	int destroyed;
};
extern struct ct_stats g_ct;

/* The target thread (current on the test's OS thread between ct_init and ct_fini). */
extern struct spio_thread *g_ct_thread;

/*
 * Bring up env, thread library, the target thread and the bdev layer; the
 * test transport is registered. `threaded`: poll group threads run on a
 * second OS thread.
 */
void ct_init(const char *name, bool threaded);
/* ct_init() with a bdev_io pool of `pool` objects and per-thread caches of `cache`. */
void ct_init_pool(const char *name, bool threaded, uint32_t pool, uint32_t cache);
void ct_fini(void);

/* Poll the target thread (and, unthreaded, every other thread) once. */
void ct_poll(void);
/* Poll until *counter >= want (read atomically); false on timeout. */
bool ct_poll_until(const int *counter, int want, uint64_t timeout_us);
/* Poll for about `us`. */
void ct_poll_for(uint64_t us);
/* Poll until no thread but the target thread is left; false on timeout. */
bool ct_wait_threads_gone(uint64_t timeout_us);

/* Create a target with `ngroups` poll groups and the CT transport; fails the test on error. */
struct spio_nvmf_tgt *ct_tgt_create(const char *name, uint32_t ngroups, uint32_t max_subsystems);
void ct_tgt_destroy(struct spio_nvmf_tgt *tgt);

/* A CT transport id for traddr / trsvcid. */
struct spio_nvme_transport_id ct_trid(const char *traddr, const char *trsvcid);

/* A new connection arriving on `traddr:trsvcid`, added to the next poll group. */
struct ct_conn *ct_conn_new(struct spio_nvmf_tgt *tgt, const char *traddr, const char *trsvcid);
/* Free a connection the core is done with (fini seen), or wait for that first. */
void ct_conn_free(struct ct_conn *conn);
/* The transport drops the connection (as on a socket error). */
void ct_conn_drop(struct ct_conn *conn);

/*
 * Start a command: `buf` (len bytes, may be NULL) is copied in for a write
 * (xfer HOST_TO_CONTROLLER) and is the request's buffer; returns the
 * request (completion in req->cpl once req->done).
 */
struct ct_req *ct_submit(struct ct_conn *conn, const struct spio_nvme_cmd *cmd, const void *buf,
			 uint32_t len, uint8_t xfer);
/* Wait for it; false on timeout. */
bool ct_wait(struct ct_req *r);
/* Release a completed request. */
void ct_req_put(struct ct_req *r);
/*
 * Run a command to its end: returns the completion; data read is copied to
 * `buf` (for xfer CONTROLLER_TO_HOST).
 */
struct spio_nvme_cpl ct_run(struct ct_conn *conn, const struct spio_nvme_cmd *cmd, void *buf,
			    uint32_t len, uint8_t xfer);

/* Start a connect (admin: cntlid FFFFh, or an I/O queue); ct_wait / ct_req_put as any request. */
struct ct_req *ct_connect_submit(struct ct_conn *conn, uint16_t qid, uint16_t sqsize, uint32_t kato,
				 uint16_t cntlid, const char *subnqn, const char *hostnqn,
				 const uint8_t hostid[16]);
/* Connect builders: admin (cntlid FFFFh) or I/O queue. Return the completion. */
struct spio_nvme_cpl ct_connect(struct ct_conn *conn, uint16_t qid, uint16_t sqsize, uint32_t kato,
				uint16_t cntlid, const char *subnqn, const char *hostnqn,
				const uint8_t hostid[16]);
/* Property get / set; return the completion (the value in *value for a get). */
struct spio_nvme_cpl ct_prop_get(struct ct_conn *conn, uint32_t ofst, uint8_t size,
				 uint64_t *value);
struct spio_nvme_cpl ct_prop_set(struct ct_conn *conn, uint32_t ofst, uint32_t value);

/* An admin queue connected to `subnqn` and enabled (CC.EN 1, IOSQES 6, IOCQES 4). */
struct ct_conn *ct_admin_up(struct spio_nvmf_tgt *tgt, const char *subnqn, const char *hostnqn,
			    uint32_t kato, uint16_t *cntlid);
/* An I/O queue `qid` of controller `cntlid`. */
struct ct_conn *ct_io_up(struct spio_nvmf_tgt *tgt, const char *subnqn, const char *hostnqn,
			 uint16_t cntlid, uint16_t qid);

/* The default host ID of the helpers. */
extern const uint8_t g_ct_hostid[16];

/* Replace the core's keep-alive clock with a test clock at `start` ticks; ct_clock_add moves it. */
void ct_clock_start(uint64_t start);
void ct_clock_add_ms(uint64_t ms);
void ct_clock_stop(void);

#endif
