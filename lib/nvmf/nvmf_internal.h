/*
 * NVMe-oF target internals: the contract between the transport-neutral
 * core (target, subsystems, controllers, command emulation, bdev I/O) and
 * the transports (TCP now).
 *
 * Flow of one command. The transport receives a capsule on a queue pair
 * (a connection, owned by one poll group thread), takes a free request of
 * that queue pair, points req->cmd and req->rsp at its own storage, and
 * gets the data buffer ready: for a write with in-capsule data the data is
 * there already; for a larger write it fetches the data (R2T / H2CData)
 * first; for a read it provides an empty buffer. Then it calls
 * nvmf_request_exec(req). The core executes the command (emulated admin
 * command, fabrics command, or bdev I/O on this poll group's channel) and
 * calls nvmf_request_complete(req), which hands the request back with
 * transport->ops->req_complete(): the transport sends the read data and the
 * response, then recycles the request. Everything for one queue pair
 * happens on its poll group's thread; no locks on this path.
 *
 * Where the core runs a command. I/O commands run on the queue pair's poll
 * group thread, on that group's bdev channels. Fabrics commands (connect,
 * property get/set) and admin commands read and change target state
 * (subsystems, namespaces, hosts, controllers), which lives on the target
 * thread: the core sends them there and back by message, so that state
 * needs no locks either. Controllers live on the target thread (keep-alive
 * timer, asynchronous event requests, changed-namespace log).
 *
 * Teardown. A transport that loses a connection calls
 * nvmf_qpair_disconnect(qpair). The core stops starting commands, waits for
 * those executing (their completions still come back through req_complete,
 * which then only recycles), detaches the queue from its controller
 * (destroying the controller with its admin queue, which disconnects the
 * controller's I/O queues on their threads by message), and finally calls
 * transport->ops->qpair_fini(qpair), after which the transport frees it.
 * When the core wants a connection gone (keep-alive timeout, host or
 * listener removed, controller reset, shutdown) it calls
 * transport->ops->qpair_close(qpair) on the queue pair's thread; the
 * transport then drops the connection and calls nvmf_qpair_disconnect()
 * (at once or later) like for any lost connection.
 *
 * Changes by the core's author (N1) since the first draft, for the
 * transport's author (N2):
 * - struct nvmf_request and struct nvmf_qpair gained core-only fields at
 *   their ends (marked "core"): leave them alone; the core initialises the
 *   qpair's in nvmf_poll_group_add_qpair() and the request's in
 *   nvmf_request_exec() (allocate requests zeroed: a request the transport
 *   fails itself through nvmf_request_complete() must have core_flags 0).
 *   A transport fills qpair->transport, listen_trid, peer_trid before
 *   nvmf_poll_group_add_qpair(); the core sets group, ctrlr, state, qid,
 *   sq_size.
 * - nvmf_poll_group_get_transport_group() takes a non-const group: it
 *   creates the transport's per-group state (ops->poll_group_create) on
 *   the first call, on the group's thread, so adding a transport needs no
 *   round of messages; it returns NULL if that creation failed.
 * - Data length: read, write and compare need req->length to be exactly
 *   NLB * block size (a longer SGL gets Data SGL Length Invalid, as the
 *   controller does not report SGL "oversized" support); a read's data
 *   is all of req->length.
 * - qpair_fini is always called from a message of the core, never from
 *   inside an entry point the transport is in (nvmf_request_exec,
 *   nvmf_request_complete, nvmf_qpair_disconnect, ...), so freeing the
 *   connection there is safe.
 * - Send accepted connections to their poll group with
 *   spio_thread_send_msg() from the target thread: the core stops a group
 *   with a message sent the same way after stop_listen, so connections
 *   accepted before are added before the group stops (and closed then).
 *   A connection added to a stopping group is closed at once.
 * - Buffers: bdevs may require aligned data buffers
 *   (spio_bdev_get_buf_align); 4 KiB-aligned buffers suit every bdev.
 * - nvmf_transport_register() lets another transport (a test's in-process
 *   one) be found by name; TCP is found without registering.
 */
#ifndef SPIO_NVMF_INTERNAL_H
#define SPIO_NVMF_INTERNAL_H

#include <sys/queue.h>
#include <sys/uio.h>

#include "spio/bdev.h"
#include "spio/nvmf.h"
#include "spio/thread.h"

struct nvmf_transport;
struct nvmf_qpair;
struct nvmf_ctrlr;
struct nvmf_poll_group;
struct nvmf_transport_poll_group;

/* Data of one command as up to this many buffers (io_unit_size each). */
#define NVMF_REQ_MAX_IOV 32

struct nvmf_request {
	struct nvmf_qpair *qpair;
	/* The command and response: transport storage, valid while the request is out. */
	struct spio_nvme_cmd *cmd;
	struct spio_nvme_cpl *rsp;
	/* The data buffer (transport-owned), `length` bytes, direction `xfer`. */
	struct iovec iov[NVMF_REQ_MAX_IOV];
	int iovcnt;
	uint32_t length;
	uint8_t xfer; /* SPIO_NVME_DATA_* */
	/* Core state while executing. */
	struct spio_bdev_io *bdev_io;
	uint32_t nsid;
	TAILQ_ENTRY(nvmf_request) link; /* core: outstanding / AER list */
	/* core: the trip to the target thread and back (admin, fabrics commands) */
	struct spio_msg msg;
	/* core: resubmission when the bdev layer had no bdev_io free */
	struct spio_bdev_io_wait_entry io_wait;
	/* core: connect: the controller the target thread attached the queue to */
	struct nvmf_ctrlr *connect_ctrlr;
	/* core: connect: the poller and the time (nvmf_get_ticks) of a duplicate queue id's
	 * re-check */
	struct spio_poller *connect_retry;
	uint64_t connect_retry_at;
	/* core: I/O: the poll group's namespace entry the command runs on */
	void *pg_ns;
	/* core: dataset management: next range to submit, ranges in flight */
	uint16_t dsm_next;
	uint16_t dsm_pending;
	/* core: NVMF_REQ_* flags */
	uint8_t core_flags;
};

enum nvmf_qpair_state {
	NVMF_QPAIR_UNINITIALIZED, /* before its connect command */
	NVMF_QPAIR_ACTIVE,
	NVMF_QPAIR_DEACTIVATING, /* disconnect started: no new commands */
	NVMF_QPAIR_ERROR,
};

struct nvmf_qpair {
	struct nvmf_transport *transport;
	struct nvmf_poll_group *group;
	struct nvmf_ctrlr *ctrlr; /* set by a successful connect */
	enum nvmf_qpair_state state;
	uint16_t qid;
	uint16_t sq_head;
	uint32_t sq_size; /* entries, from connect's SQSIZE + 1 */
	/* Addresses for nvmf_subsystem_get_qpairs / _get_controllers. */
	struct spio_nvme_transport_id listen_trid;
	struct spio_nvme_transport_id peer_trid;
	uint32_t outstanding; /* requests executing in the core */
	TAILQ_ENTRY(nvmf_qpair) group_link;
	TAILQ_ENTRY(nvmf_qpair) ctrlr_link;
	/* core: detach from the controller, then fini (group <-> target thread) */
	struct spio_msg msg;
	/* core: close requests from the target thread */
	struct spio_msg close_msg;
	/* core: NVMF_QPAIR_F_* flags owned by the poll group thread */
	uint8_t flags;
	/* core: close already asked by the target thread (target thread only) */
	bool close_sent;
	/* core: SMART counters (written by the poll group, read by the target thread) */
	uint64_t stat_read_cmds;
	uint64_t stat_write_cmds;
	uint64_t stat_read_blocks512;
	uint64_t stat_write_blocks512;
};

/* What a transport provides (lib/nvmf/tcp*.c implements it for TCP). */
struct nvmf_transport_ops {
	const char *name; /* "TCP" */
	enum spio_nvme_transport_type trtype;
	void (*opts_init)(struct spio_nvmf_transport_opts *opts);
	/* Create / destroy the transport (validate opts). Target thread. */
	struct nvmf_transport *(*create)(struct spio_nvmf_tgt *tgt,
					 const struct spio_nvmf_transport_opts *opts, int *rc);
	void (*destroy)(struct nvmf_transport *transport);
	/* Start / stop listening on an address. Target thread. */
	int (*listen)(struct nvmf_transport *transport, const struct spio_nvme_transport_id *trid);
	void (*stop_listen)(struct nvmf_transport *transport,
			    const struct spio_nvme_transport_id *trid);
	/* Per poll group state; created and destroyed on the poll group's thread. */
	struct nvmf_transport_poll_group *(*poll_group_create)(struct nvmf_transport *transport,
							       struct nvmf_poll_group *group);
	void (*poll_group_destroy)(struct nvmf_transport_poll_group *tgroup);
	/* Send the response (and read data) of a request the core completed, then recycle it. */
	void (*req_complete)(struct nvmf_request *req);
	/* The core is done with a disconnected queue pair: free it. Its poll group's thread. */
	void (*qpair_fini)(struct nvmf_qpair *qpair);
	/* Drop the connection now (keep-alive timeout, host removed, shutdown). Its thread. */
	void (*qpair_close)(struct nvmf_qpair *qpair);
	/* In-capsule data and other limits the core reports in Identify. */
	uint32_t (*get_icdsz)(const struct nvmf_transport *transport);
};

struct nvmf_transport {
	const struct nvmf_transport_ops *ops;
	struct spio_nvmf_tgt *tgt;
	struct spio_nvmf_transport_opts opts;
	TAILQ_ENTRY(nvmf_transport) link;
};

/* The TCP transport's ops (tcp.c). */
extern const struct nvmf_transport_ops g_nvmf_tcp_ops;

/*
 * Make another transport known by its ops->name (case-insensitive), e.g. a
 * test's in-process transport; ops must stay valid for the process.
 * \return 0; -EINVAL (NULL, no name); -EEXIST (that name is known);
 *         -ENOSPC. Any thread, before targets use it.
 */
int nvmf_transport_register(const struct nvmf_transport_ops *ops);

/*
 * Core entry points for transports.
 */

/*
 * Execute a request the transport filled (see the flow above). Its poll
 * group's thread. Completes later (or before returning) through
 * transport->ops->req_complete, exactly once.
 */
void nvmf_request_exec(struct nvmf_request *req);

/*
 * Core side of a completion: fill sqhd/sqid/cid and hand it to the
 * transport. A transport may also use it for a request it fails itself
 * (rsp status filled, never passed to nvmf_request_exec).
 */
void nvmf_request_complete(struct nvmf_request *req);

/*
 * A new connection for `group` (called on the group's thread once the
 * transport has set it up): the core counts it and waits for its connect.
 */
void nvmf_poll_group_add_qpair(struct nvmf_poll_group *group, struct nvmf_qpair *qpair);

/* The transport lost the connection (or the core decided to drop it). Its thread. */
void nvmf_qpair_disconnect(struct nvmf_qpair *qpair);

/*
 * The poll group that should take the next accepted connection
 * (round-robin) and the thread it runs on: the transport sends the
 * connection there by message. Target thread.
 */
struct nvmf_poll_group *nvmf_tgt_next_poll_group(struct spio_nvmf_tgt *tgt);
struct spio_thread *nvmf_poll_group_get_thread(const struct nvmf_poll_group *group);

/*
 * The transport's per-group state of `group`, created by
 * ops->poll_group_create on the first call; NULL if that failed. On the
 * group's thread.
 */
struct nvmf_transport_poll_group *
nvmf_poll_group_get_transport_group(struct nvmf_poll_group *group,
				    const struct nvmf_transport *transport);

/* The target's limit of connections per listener (spio_nvmf_tgt_opts). Any thread. */
uint32_t nvmf_tgt_get_max_connections_per_listener(const struct spio_nvmf_tgt *tgt);

#endif /* SPIO_NVMF_INTERNAL_H */
