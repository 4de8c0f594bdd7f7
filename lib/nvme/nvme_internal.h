/*
 * NVMe host driver internals shared by the core (controller, qpair,
 * namespace, poll group) and the transports.
 *
 * A transport embeds `struct spio_nvme_qpair` at the start of its own qpair
 * and implements `struct nvme_transport_ops`. The core owns the command
 * slots (`struct nvme_request`, cid = slot index) and completes them; the
 * transport moves them on the wire.
 */
#ifndef SPIO_NVME_INTERNAL_H
#define SPIO_NVME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/queue.h>

#include "spio/env.h"
#include "spio/nvme.h"
#include "spio/task.h"
#include "spio/thread.h"
#include "spio/util.h"

struct nvme_transport_ops;

/* Admin in-capsule data NVMe/TCP targets accept before Identify says more. */
#define NVME_ADMIN_ICD_SIZE 8192u

/* Asynchronous event requests kept outstanding (at most AERL + 1). */
#define NVME_MAX_AERS 4u

enum nvme_request_state {
	NVME_REQ_FREE,
	NVME_REQ_OUTSTANDING, /* handed to the transport, not yet completed */
};

/* One command slot of a queue pair. */
struct nvme_request {
	struct spio_nvme_cmd cmd;
	spio_nvme_cmd_cb cb;
	void *cb_arg;
	/* The data: `iov` points at `iov_single` for a flat buffer. */
	const struct iovec *iov;
	int iovcnt;
	struct iovec iov_single;
	uint32_t payload_size;
	/* SPIO_NVME_DATA_* of the command (fabrics commands by their fctype). */
	uint8_t xfer;
	uint8_t state;
	uint16_t cid;
	uint64_t submit_tick;
	TAILQ_ENTRY(nvme_request) link;
	/* Dataset management ranges are copied here (the caller's may not live on). */
	struct spio_nvme_dsm_range *dsm_ranges; /* outstanding (oldest first) or free list */
};

TAILQ_HEAD(nvme_request_list, nvme_request);

enum nvme_qpair_state {
	NVME_QPAIR_DISCONNECTED,
	NVME_QPAIR_CONNECTING, /* transport connection, then fabrics connect */
	NVME_QPAIR_CONNECTED,
};

struct spio_nvme_qpair {
	struct spio_nvme_ctrlr *ctrlr;
	const struct nvme_transport_ops *ops;
	struct spio_thread *thread;
	uint16_t id;
	uint32_t num_entries;
	uint32_t num_reqs;
	struct nvme_request *reqs;
	struct nvme_request_list free_reqs;
	struct nvme_request_list outstanding;
	uint32_t num_outstanding;
	enum nvme_qpair_state state;
	/* Controller generation this qpair connected in (see ctrlr->generation). */
	uint32_t generation;
	uint64_t timeout_ticks;
	/* While connecting: the tick by which it must be connected. */
	uint64_t connect_deadline;
	/* Inside process_completions: submissions are flushed at its end. */
	bool in_process;
	/* Inside a completion callback: freeing must wait. */
	uint32_t in_callback;
	bool free_pending;
	/*
	 * Down, with outstanding commands the device may still be executing
	 * (PCIe: DMA into or out of their buffers): they are held, never sent
	 * again, and failed once the transport says the device is done.
	 */
	bool draining;
	spio_nvme_qpair_connect_cb connect_cb;
	void *connect_cb_arg;
	struct spio_nvme_poll_group *group;
	int group_fd; /* the socket in the group's epoll set, or -1 */
	/*
	 * Set by the group for one process call: its epoll set reported no
	 * data on the socket, so the transport need not try a receive.
	 */
	bool rx_idle;
	bool rx_ready; /* scratch of the group's poll */
	TAILQ_ENTRY(spio_nvme_qpair) group_link;
	TAILQ_ENTRY(spio_nvme_qpair) ctrlr_link;
	/* The 1024 bytes of fabrics connect data, sent in-capsule. */
	struct spio_nvmf_fabric_connect_data *connect_data;
};

/* What a transport provides to the core. */
struct nvme_transport_ops {
	enum spio_nvme_transport_type trtype;
	/*
	 * A fabrics transport (TCP): queues connect with Fabrics Connect,
	 * properties are read by command, keep alive runs. PCIe: none of those.
	 */
	bool fabrics;
	/*
	 * Optional, non-fabrics: open the device behind the controller before
	 * its first bring-up (admin thread, in its connect task; sets
	 * ctrlr->transport_ctx), close it as the controller is freed (after
	 * any shutdown, before the admin queue's rings are freed; also after a
	 * failed construct), and wait for the transport's own admin work before
	 * a detach shuts the controller down.
	 */
	int (*ctrlr_construct)(struct spio_nvme_ctrlr *ctrlr);
	void (*ctrlr_destruct)(struct spio_nvme_ctrlr *ctrlr);
	void (*ctrlr_drain)(struct spio_nvme_ctrlr *ctrlr);
	/* Optional: registers read / written directly instead of Property Get / Set. */
	int (*ctrlr_get_reg)(struct spio_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			     uint64_t *value);
	int (*ctrlr_set_reg)(struct spio_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			     uint64_t value);
	/* Allocate the transport's qpair (zeroed, embedding spio_nvme_qpair first). */
	struct spio_nvme_qpair *(*qpair_alloc)(struct spio_nvme_ctrlr *ctrlr, uint32_t num_entries);
	void (*qpair_free)(struct spio_nvme_qpair *qpair);
	/*
	 * Start the transport connection. When it is up (or failed), the
	 * transport calls nvme_qpair_transport_ready() from its process. A
	 * non-fabrics transport sets qpair->generation itself (when its
	 * queues were created) and is connected once ready.
	 */
	int (*qpair_connect)(struct spio_nvme_qpair *qpair);
	/* Drop the connection now; idempotent; completes nothing (the core does). */
	void (*qpair_close)(struct spio_nvme_qpair *qpair);
	/*
	 * Optional (NULL: always true, as over TCP, whose closed socket ends
	 * all transfer): after qpair_close, is the device done with the
	 * commands that were outstanding? Until then the core holds them.
	 * On the qpair's thread; never blocks.
	 */
	bool (*qpair_device_done)(struct spio_nvme_qpair *qpair);
	/* Queue a command (its slot is outstanding) for sending. */
	int (*qpair_submit)(struct spio_nvme_qpair *qpair, struct nvme_request *req);
	/* Send, receive, complete; <0 (-ENXIO) when the connection is lost. */
	int32_t (*qpair_process)(struct spio_nvme_qpair *qpair, uint32_t max);
	/* Send what submissions queued (end of a batch). */
	void (*qpair_flush)(struct spio_nvme_qpair *qpair);
	/*
	 * The fd whose readability means work (for epoll / sleeping), or -1:
	 * for a non-fabrics transport, -1 means only polling finds completions.
	 */
	int (*qpair_get_fd)(const struct spio_nvme_qpair *qpair);
	/* Largest data of one command the transport moves. */
	uint32_t max_xfer_size;
};

const struct nvme_transport_ops *nvme_transport_get(enum spio_nvme_transport_type trtype);

/* tcp.c */
extern const struct nvme_transport_ops g_nvme_tcp_ops;
/* nvme_pcie.c */
extern const struct nvme_transport_ops g_nvme_pcie_ops;

enum nvme_ctrlr_state {
	NVME_CTRLR_CONNECTING,
	NVME_CTRLR_READY,
	NVME_CTRLR_RESETTING,
	NVME_CTRLR_FAILED,
	NVME_CTRLR_DETACHING,
};

struct spio_nvme_ns {
	struct spio_nvme_ctrlr *ctrlr;
	uint32_t id;
	bool active;
	struct spio_nvme_ns_data nsdata;
	uint32_t sector_size;
	uint32_t extended_lba_size;
	uint32_t md_size;
	uint32_t pi_type;
	uint64_t num_sectors;
	bool has_uuid;
	uint8_t uuid[16];
	uint64_t eui64;
};

struct spio_nvme_ctrlr {
	struct spio_nvme_transport_id trid;
	struct spio_nvme_ctrlr_opts opts;
	const struct nvme_transport_ops *ops;
	struct spio_thread *thread;
	enum nvme_ctrlr_state state;
	bool is_discovery;
	/* Bumped by each reset: I/O qpairs of an older one disconnect themselves. */
	_Atomic uint32_t generation;
	_Atomic bool failed;
	/* The transport's controller state (PCIe: the device), or NULL. */
	void *transport_ctx;
	uint16_t cntlid;
	struct spio_nvme_qpair *adminq;
	union spio_nvme_cap_register cap;
	union spio_nvme_vs_register vs;
	union spio_nvme_csts_register csts;
	struct spio_nvme_ctrlr_data cdata;
	uint32_t num_io_queues;
	uint32_t max_xfer_size;
	/* Queue ids in use by I/O qpairs (bit per id); under qid_lock. */
	uint64_t *qid_bits;
	uint32_t qid_last; /* the id handed out last: the search for a free one starts after it */
	uint32_t qid_words;
	/* Guards qid_bits and io_qpairs: qpairs are allocated on any thread (not a fast path). */
	pthread_mutex_t qid_lock;
	TAILQ_HEAD(, spio_nvme_qpair) io_qpairs;
	/* Active namespaces, sorted by id; `ns` holds every namespace ever seen. */
	uint32_t *active_ids;
	uint32_t num_active;
	struct spio_nvme_ns **ns;
	uint32_t num_ns_objs;
	uint32_t num_aers;
	spio_nvme_aer_cb aer_cb;
	void *aer_cb_arg;
	spio_nvme_ns_change_cb ns_change_cb;
	void *ns_change_cb_arg;
	struct spio_poller *admin_poller;      /* active; paused while the queue is quiet */
	struct spio_poller *admin_idle_poller; /* timed; wakes on the admin socket */
	bool admin_fast;		       /* admin_poller is running */
	int admin_fd_watched; /* the admin socket the idle poller wakes on, or -1 */
	struct spio_poller *keep_alive_poller;
	bool keep_alive_outstanding;
	bool detaching;
	/* A control task (connect, reset, refresh, detach) is running. */
	bool busy;
	bool ns_refresh_pending;
};

/* qpair.c */
int nvme_qpair_init(struct spio_nvme_qpair *qpair, struct spio_nvme_ctrlr *ctrlr, uint16_t id,
		    uint32_t num_entries);
void nvme_qpair_fini(struct spio_nvme_qpair *qpair);
struct nvme_request *nvme_qpair_get_request(struct spio_nvme_qpair *qpair);
void nvme_qpair_put_request(struct spio_nvme_qpair *qpair, struct nvme_request *req);
int nvme_qpair_submit(struct spio_nvme_qpair *qpair, struct nvme_request *req);
int nvme_qpair_submit_cmd(struct spio_nvme_qpair *qpair, const struct spio_nvme_cmd *cmd, void *buf,
			  uint32_t len, const struct iovec *iov, int iovcnt, spio_nvme_cmd_cb cb,
			  void *cb_arg);
void nvme_qpair_complete(struct spio_nvme_qpair *qpair, struct nvme_request *req,
			 const struct spio_nvme_cpl *cpl);
struct nvme_request *nvme_qpair_find_outstanding(struct spio_nvme_qpair *qpair, uint16_t cid);
void nvme_qpair_fail_all(struct spio_nvme_qpair *qpair);
/*
 * A draining qpair: fail its held commands if the device is done with them.
 * \return true when nothing is held any more.
 */
bool nvme_qpair_drain(struct spio_nvme_qpair *qpair);
/*
 * Block until `done(qpair, arg)` is true, letting the controller's admin
 * thread run meanwhile: from a task, yield; on the admin thread itself,
 * poll it (so, outside a task, not from a poller or message of that
 * thread); elsewhere give the CPU away. `done` is called first and after
 * each turn. \return 0, or -ETIMEDOUT once spio_get_ticks() passes
 * `deadline` (UINT64_MAX: none).
 */
int nvme_qpair_wait_until(struct spio_nvme_qpair *qpair,
			  bool (*done)(struct spio_nvme_qpair *qpair, void *arg), void *arg,
			  uint64_t deadline);
/*
 * Wait (nvme_qpair_wait_until) until the qpair holds nothing.
 * \return 0, or -ETIMEDOUT after `timeout_ms`.
 */
int nvme_qpair_drain_wait(struct spio_nvme_qpair *qpair, uint64_t timeout_ms);
void nvme_qpair_disconnect(struct spio_nvme_qpair *qpair);
int nvme_qpair_connect(struct spio_nvme_qpair *qpair, spio_nvme_qpair_connect_cb cb, void *cb_arg);
void nvme_qpair_transport_ready(struct spio_nvme_qpair *qpair, int status);
int32_t nvme_qpair_process(struct spio_nvme_qpair *qpair, uint32_t max);
/*
 * Take the qpair's socket out of its poll group's epoll set, before the
 * transport closes it: the kernel drops a closed fd from the set itself, so
 * a new socket that gets the same number would otherwise never be watched.
 */
void nvme_poll_group_unwatch(struct spio_nvme_qpair *qpair);
void nvme_qpair_free(struct spio_nvme_qpair *qpair);
uint8_t nvme_cmd_xfer(const struct spio_nvme_cmd *cmd);

/* ctrlr.c */
void nvme_ctrlr_set_failed(struct spio_nvme_ctrlr *ctrlr, const char *why);
/* Admin work was queued: poll the admin queue on every iteration until it is quiet. */
void nvme_ctrlr_admin_kick(struct spio_nvme_ctrlr *ctrlr);
/* The admin socket leaves the idle poller's watch (before the transport closes or replaces it). */
void nvme_ctrlr_admin_unwatch(struct spio_nvme_ctrlr *ctrlr);
void nvme_ctrlr_free(struct spio_nvme_ctrlr *ctrlr);

/* ctrlr_cmd.c: an admin command from a task, whatever the controller's state. */
int nvme_admin_await(struct spio_nvme_ctrlr *ctrlr, const struct spio_nvme_cmd *cmd, void *buf,
		     uint32_t len, struct spio_nvme_cpl *cpl);
/* Fill an Identify of `cns` (CNTID `cntid`, for namespace `nsid`). */
void nvme_identify_cmd_init(struct spio_nvme_cmd *cmd, uint8_t cns, uint16_t cntid, uint32_t nsid);
/* Fill a Get Log Page of `size` bytes (a multiple of 4) at byte `offset`. */
void nvme_get_log_page_cmd_init(struct spio_nvme_cmd *cmd, uint8_t lid, uint32_t nsid,
				uint32_t size, uint64_t offset);

/* A task waiting for one command: the _await twins' shared callback. */
struct nvme_cmd_wait {
	struct spio_completion done;
	struct spio_nvme_cpl *cpl; /* optional copy of the CQE */
};

void nvme_cmd_wait_init(struct nvme_cmd_wait *w, struct spio_nvme_cpl *cpl);
void nvme_cmd_wait_cb(void *arg, const struct spio_nvme_cpl *cpl);

/* ctrlr_init.c: the bring-up run by connect and reset, from a task. */
int nvme_ctrlr_bring_up(struct spio_nvme_ctrlr *ctrlr);

/* ns.c */
int nvme_ctrlr_refresh_namespaces(struct spio_nvme_ctrlr *ctrlr, bool notify);
void nvme_ctrlr_free_namespaces(struct spio_nvme_ctrlr *ctrlr);
struct spio_nvme_ns *nvme_ctrlr_find_ns(const struct spio_nvme_ctrlr *ctrlr, uint32_t nsid);

/* aer.c */
void nvme_ctrlr_submit_aers(struct spio_nvme_ctrlr *ctrlr);

/* ctrlr_props.c: controller properties (size 4 or 8 bytes) over the admin queue, from a task. */
int nvme_ctrlr_prop_get_await(struct spio_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			      uint64_t *value);
int nvme_ctrlr_prop_set_await(struct spio_nvme_ctrlr *ctrlr, uint32_t offset, uint8_t size,
			      uint64_t value);

/* Fill `cpl` as the driver reports a command it failed itself. */
void nvme_cpl_set_aborted(struct spio_nvme_cpl *cpl, uint16_t cid, uint8_t sc);

/* Map a completion to the errno the _await twins return. */
int nvme_cpl_to_errno(const struct spio_nvme_cpl *cpl);

#endif /* SPIO_NVME_INTERNAL_H */
