/*
 * The NVMe-oF target core's private declarations: the objects behind the
 * public handles and the functions the core's files share. Transports do
 * not include this (they have nvmf_internal.h).
 *
 * Which thread owns what:
 * - target thread: struct spio_nvmf_tgt, subsystems, namespaces, hosts,
 *   listeners, controllers (struct nvmf_ctrlr);
 * - a poll group's thread: struct nvmf_poll_group's qpair list, per
 *   subsystem namespace tables (channels) and counters, its queue pairs.
 * Objects cross threads only by message; fields another thread reads are
 * written before the message that hands the object over and not after
 * (a controller's cntlid, subsys, hostnqn; a namespace table's desc).
 */
#ifndef SPIO_NVMF_CORE_H
#define SPIO_NVMF_CORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spio/nvme_spec.h"
#include "spio/nvmf.h"
#include "spio/thread.h"

#include "nvmf/nvmf_internal.h"

/* Up to four AERs are held (Identify AERL 3), as SPDK. */
#define NVMF_MAX_ASYNC_EVENTS 4
/* Events waiting for an AER; notices are masked until read, so few queue up. */
#define NVMF_MAX_PENDING_EVENTS 8
/* A discovery controller connected without KATO times out after this (SPDK's). */
#define NVMF_DISC_KATO_MS 120000
/* How long a connect whose queue id is in use waits before the one re-check (SPDK: 1 ms). */
#define NVMF_DUP_QID_RETRY_US 1000
/* Keep-alive granularity reported in Identify KAS (100 ms units). */
#define NVMF_KAS 1
#define NVMF_KAS_MS 100
/* Abort command limit (ACL is 0's based: 4 aborts), SPDK's. */
#define NVMF_ABORT_COMMAND_LIMIT 3
/* Transports a target can hold. */
#define NVMF_MAX_TRANSPORTS 4
/* Ready timeout reported in CAP.TO: 500 ms units (SPDK reports 15 s). */
#define NVMF_CAP_TO (15000 / 500)

/* struct nvmf_request core_flags */
#define NVMF_REQ_EXECUTING (1u << 0) /* between nvmf_request_exec and its completion */
#define NVMF_REQ_FUA_FLUSH (1u << 1) /* a write with FUA: flush after it */
/* connect: its queue id was in use; checked again once after NVMF_DUP_QID_RETRY_US */
#define NVMF_REQ_CONNECT_RETRY (1u << 2)
#define NVMF_REQ_CONNECT_RETRIED (1u << 3)

/* struct nvmf_qpair flags (poll group thread) */
#define NVMF_QPAIR_F_CONNECTING (1u << 0) /* its connect is at the target thread */
#define NVMF_QPAIR_F_DETACHING (1u << 1)  /* detach sent to the target thread */
#define NVMF_QPAIR_F_DETACHED (1u << 2)	  /* the target thread forgot it */
#define NVMF_QPAIR_F_FINI (1u << 3)	  /* qpair_fini queued: hands off */
#define NVMF_QPAIR_F_COUNTED (1u << 4)	  /* in the connected counters */
#define NVMF_QPAIR_F_NO_SQFC (1u << 5)	  /* SQ flow control disabled: SQHD FFFFh */

enum nvmf_tgt_state {
	NVMF_TGT_STARTING,
	NVMF_TGT_RUNNING,
	NVMF_TGT_DESTROYING,
};

/* One listening address of the target, shared by the subsystems on it. */
struct nvmf_listener {
	struct nvmf_transport *transport;
	struct spio_nvme_transport_id trid;
	uint16_t portid;
	uint32_t refs;
	TAILQ_ENTRY(nvmf_listener) link;
};

/* A subsystem's use of a listener. */
struct spio_nvmf_subsystem_listener {
	struct spio_nvmf_subsystem *subsystem;
	struct nvmf_listener *listener;
	TAILQ_ENTRY(spio_nvmf_subsystem_listener) link;
};

struct spio_nvmf_host {
	char nqn[SPIO_NVMF_NQN_MAX_LEN + 1];
	TAILQ_ENTRY(spio_nvmf_host) link;
};

struct spio_nvmf_ns {
	struct spio_nvmf_subsystem *subsystem;
	uint32_t nsid;
	struct spio_bdev *bdev;
	struct spio_bdev_desc *desc;
	/* in force: nguid and uuid resolved from the bdev */
	struct spio_nvmf_ns_opts opts;
	/* visible to hosts (every poll group has its channel) */
	bool active;
	/* the bdev went away: remove when the subsystem is free */
	bool hot_removed;
};

/* Something being done to a subsystem with the poll groups (one at a time). */
enum nvmf_subsystem_op {
	NVMF_SUBSYS_OP_NONE,
	NVMF_SUBSYS_OP_ADD_NS,
	NVMF_SUBSYS_OP_REMOVE_NS,
	NVMF_SUBSYS_OP_DESTROY,
};

struct spio_nvmf_subsystem {
	struct spio_nvmf_tgt *tgt;
	uint32_t id; /* index of the poll groups' tables */
	enum spio_nvmf_subtype subtype;
	char nqn[SPIO_NVMF_NQN_MAX_LEN + 1];
	char sn[SPIO_NVME_CTRLR_SN_LEN + 1];
	char mn[SPIO_NVME_CTRLR_MN_LEN + 1];
	uint16_t min_cntlid;
	uint16_t max_cntlid;
	uint16_t next_cntlid;
	bool allow_any_host;
	uint32_t max_nsid;
	struct spio_nvmf_ns **ns; /* [max_nsid] */
	TAILQ_HEAD(, spio_nvmf_host) hosts;
	TAILQ_HEAD(, spio_nvmf_subsystem_listener) listeners;
	TAILQ_HEAD(, nvmf_ctrlr) ctrlrs;
	enum nvmf_subsystem_op op;
	/* destroy: what to call once the controllers are gone */
	spio_nvmf_subsystem_cb destroy_cb;
	void *destroy_cb_arg;
	struct spio_msg msg;
	TAILQ_ENTRY(spio_nvmf_subsystem) link;
};

/* Poll group side of a namespace. */
enum nvmf_pg_ns_state {
	NVMF_PG_NS_NONE = 0,
	NVMF_PG_NS_ACTIVE,
	NVMF_PG_NS_REMOVING,
};

struct nvmf_group_call;

struct nvmf_pg_ns {
	struct spio_bdev_desc *desc;
	struct spio_bdev *bdev;
	struct spio_io_channel *ch;
	uint32_t sid; /* subsystem id */
	uint32_t block_size;
	uint32_t outstanding;
	uint8_t state;
	bool flush_supported;
	/* removal of this namespace waiting for `outstanding` to drop to 0 */
	struct nvmf_group_call *remove_call;
};

/* A poll group's tables for one subsystem (index: subsystem id). */
struct nvmf_subsystem_pg {
	uint32_t num_ns;
	struct nvmf_pg_ns *ns; /* [num_ns], by nsid - 1 */
	/* subsystem destruction: namespaces still draining, and the call to answer */
	uint32_t draining;
	struct nvmf_group_call *free_call;
};

struct nvmf_pg_stat {
	uint32_t admin_qpairs;
	uint32_t io_qpairs;
	uint32_t current_admin_qpairs;
	uint32_t current_io_qpairs;
	uint32_t current_unassociated_qpairs;
	uint64_t pending_bdev_io;
	uint64_t completed_nvme_io;
};

struct nvmf_poll_group {
	struct spio_nvmf_tgt *tgt;
	struct spio_thread *thread;
	uint32_t index;
	/* group thread from here on */
	TAILQ_HEAD(, nvmf_qpair) qpairs;
	struct {
		const struct nvmf_transport *transport;
		struct nvmf_transport_poll_group *tgroup; /* NULL: its creation failed */
	} tgroups[NVMF_MAX_TRANSPORTS];
	struct nvmf_subsystem_pg *sgroups; /* [tgt->opts.max_subsystems] */
	struct nvmf_pg_stat stat;
	/* stopping: the call to answer once the last qpair is gone */
	struct nvmf_group_call *stop_call;
	bool stopping;
};

/* The target thread's view of the controller's features. */
struct nvmf_ctrlr_feat {
	uint32_t arbitration;
	uint32_t power_management;
	uint32_t error_recovery;
	uint32_t volatile_write_cache;
	uint32_t number_of_queues;
	uint32_t interrupt_coalescing;
	uint32_t write_atomicity;
	uint32_t async_event_configuration;
	uint32_t keep_alive_timer; /* KATO, ms */
};

/* What a CC write started and waits for the I/O queues to end. */
enum nvmf_cc_change {
	NVMF_CC_NONE,
	NVMF_CC_RESET,
	NVMF_CC_SHUTDOWN,
};

/* AEN mask bits: a notice of that kind was sent and its log not read yet. */
#define NVMF_AEN_NS_ATTR (1u << 0)
#define NVMF_AEN_DISCOVERY (1u << 1)

/* What the SMART / health log counts (the I/O queues count, the controller sums). */
struct nvmf_smart_counters {
	uint64_t read_cmds;
	uint64_t write_cmds;
	uint64_t read_blocks512;
	uint64_t write_blocks512;
};

/* A controller: an association of a host with a subsystem. Target thread. */
struct nvmf_ctrlr {
	struct spio_nvmf_subsystem *subsys;
	struct spio_nvmf_tgt *tgt;
	struct nvmf_transport *transport;
	uint16_t cntlid;
	char hostnqn[SPIO_NVMF_NQN_MAX_LEN + 1];
	uint8_t hostid[16];
	/* where the admin queue connected */
	struct spio_nvme_transport_id listen_trid;
	struct nvmf_qpair *admin_qpair;
	TAILQ_HEAD(, nvmf_qpair) io_qpairs;
	uint32_t num_io_qpairs;
	/* qids in use, bit per qid 1..max_qid */
	uint64_t *qid_map;
	uint32_t max_qid;
	union spio_nvme_cap_register cap;
	union spio_nvme_vs_register vs;
	union spio_nvme_cc_register cc;
	union spio_nvme_csts_register csts;
	struct nvmf_ctrlr_feat feat;
	enum nvmf_cc_change cc_change;
	/* keep-alive */
	uint64_t last_keep_alive;
	struct spio_poller *ka_poller;
	/* asynchronous events */
	struct nvmf_request *aer_reqs[NVMF_MAX_ASYNC_EVENTS];
	uint32_t nr_aer_reqs;
	uint32_t pending_events[NVMF_MAX_PENDING_EVENTS];
	uint32_t nr_pending_events;
	uint32_t aen_mask;
	struct spio_nvme_ns_list changed_ns_list;
	uint32_t changed_ns_count;
	/* SMART counters of queues already gone */
	struct nvmf_smart_counters gone;
	/* its queues are being closed; freed once the last one detached */
	bool disconnecting;
	TAILQ_ENTRY(nvmf_ctrlr) link;
};

struct spio_nvmf_tgt {
	struct spio_nvmf_tgt_opts opts;
	struct spio_thread *thread;
	enum nvmf_tgt_state state;
	TAILQ_HEAD(, nvmf_transport) transports;
	uint32_t num_transports;
	TAILQ_HEAD(nvmf_subsystems, spio_nvmf_subsystem) subsystems;
	uint32_t num_subsystems;
	/* subsystem ids in use, bit per id */
	uint64_t *subsystem_ids;
	struct spio_nvmf_subsystem *discovery;
	TAILQ_HEAD(, nvmf_listener) listeners;
	struct nvmf_poll_group **groups;
	uint32_t num_groups;
	uint32_t groups_started;
	uint32_t next_group;
	uint64_t discovery_genctr;
	uint64_t start_tick;
	/* destroying, waiting for a subsystem operation to end */
	bool destroy_waits_op;
	/* create / destroy callbacks */
	spio_nvmf_tgt_cb create_cb;
	void *create_cb_arg;
	spio_nvmf_tgt_destroy_cb destroy_cb;
	void *destroy_cb_arg;
	TAILQ_ENTRY(spio_nvmf_tgt) link;
};

/*
 * Calls on every poll group (tgt.c): `fn` runs on each group's thread and
 * ends, then or later, with nvmf_group_call_done() there; once every group
 * answered, `done` runs on the target thread with the first nonzero status.
 */
struct nvmf_group_op;

struct nvmf_group_call {
	struct nvmf_group_op *op;
	struct nvmf_poll_group *group;
	struct spio_msg msg;
	int status;
};

typedef void (*nvmf_group_fn)(struct nvmf_group_call *call);
typedef void (*nvmf_group_done_fn)(struct nvmf_group_op *op, int status);

struct nvmf_group_op {
	struct spio_nvmf_tgt *tgt;
	nvmf_group_fn fn;
	nvmf_group_done_fn done;
	void *ctx;
	uint32_t pending;
	uint32_t ncalls;
	struct nvmf_group_call calls[];
};

/* Start `fn` on every poll group. \return 0 or -ENOMEM. Target thread. */
int nvmf_group_op_start(struct spio_nvmf_tgt *tgt, nvmf_group_fn fn, nvmf_group_done_fn done,
			void *ctx);
/* The group's part is done. On the group's thread. */
void nvmf_group_call_done(struct nvmf_group_call *call, int status);

/*
 * Time for keep-alive and the duplicate queue id re-check: spio_get_ticks()
 * unless a test replaced it.
 */
uint64_t nvmf_get_ticks(void);
/* Replace the clock of the keep-alive and re-check logic (NULL restores). For tests. */
void nvmf_set_ticks_fn(uint64_t (*fn)(void));

/* Send `fn(ctx)` to `thread` with the embedded `msg`; an exited thread is a bug (logged). */
void nvmf_send(struct spio_thread *thread, struct spio_msg *msg, spio_msg_fn fn, void *ctx);

/* tgt.c / transport.c */
const struct nvmf_transport_ops *nvmf_transport_find_ops(const char *name);
struct nvmf_transport *nvmf_tgt_find_transport(struct spio_nvmf_tgt *tgt,
					       const struct spio_nvme_transport_id *trid);
void nvmf_tgt_destroy_transports(struct spio_nvmf_tgt *tgt);
bool nvmf_trid_same_address(const struct spio_nvme_transport_id *a,
			    const struct spio_nvme_transport_id *b);
struct nvmf_listener *nvmf_tgt_listener_get(struct spio_nvmf_tgt *tgt,
					    const struct spio_nvme_transport_id *trid, int *rc);
void nvmf_tgt_listener_put(struct spio_nvmf_tgt *tgt, struct nvmf_listener *listener);
/* The discovery log changed: bump genctr, tell discovery controllers. */
void nvmf_tgt_discovery_changed(struct spio_nvmf_tgt *tgt);
/* A subsystem operation ended while the target is being destroyed: go on. */
void nvmf_tgt_destroy_continue(struct spio_nvmf_tgt *tgt);

/* subsystem.c */
struct spio_nvmf_subsystem *nvmf_subsystem_alloc(struct spio_nvmf_tgt *tgt, const char *nqn,
						 enum spio_nvmf_subtype subtype, uint32_t max_nsid);
void nvmf_subsystem_free(struct spio_nvmf_subsystem *subsystem);
/* spio_nvmf_subsystem_destroy() without its refusal of the discovery subsystem. */
int nvmf_subsystem_destroy(struct spio_nvmf_subsystem *subsystem, spio_nvmf_subsystem_cb cb,
			   void *cb_arg);
bool nvmf_subsystem_listens_on(const struct spio_nvmf_subsystem *subsystem,
			       const struct spio_nvme_transport_id *trid);
struct nvmf_ctrlr *nvmf_subsystem_find_ctrlr(struct spio_nvmf_subsystem *subsystem,
					     uint16_t cntlid);
uint16_t nvmf_subsystem_gen_cntlid(struct spio_nvmf_subsystem *subsystem);
/* A controller of a subsystem being destroyed went away. */
void nvmf_subsystem_ctrlr_gone(struct spio_nvmf_subsystem *subsystem);
/* A subsystem operation ended: run what waits (a hot-removed namespace). */
void nvmf_subsystem_op_end(struct spio_nvmf_subsystem *subsystem);

/* ns.c */
/*
 * Remove every namespace of a subsystem without events and free the poll
 * groups' tables of it, then `done`.
 */
void nvmf_subsystem_remove_all_ns(struct spio_nvmf_subsystem *subsystem,
				  void (*done)(struct spio_nvmf_subsystem *subsystem));
void nvmf_ns_fill_identify(const struct spio_nvmf_ns *ns, struct spio_nvme_ns_data *nsdata,
			   uint32_t max_io_size);
/* Group thread: a namespace entry being removed has no command left. */
void nvmf_pg_ns_idle(struct nvmf_poll_group *group, struct nvmf_pg_ns *pg_ns);

/* poll_group.c */
struct nvmf_poll_group *nvmf_poll_group_alloc(struct spio_nvmf_tgt *tgt, uint32_t index);
void nvmf_poll_group_start(struct nvmf_poll_group *group);
void nvmf_poll_group_stop(struct nvmf_group_call *call);
/*
 * Group thread: the target thread answered this queue's connect (`ctrlr`
 * NULL: refused).
 */
void nvmf_qpair_connected(struct nvmf_qpair *qpair, struct nvmf_ctrlr *ctrlr, uint16_t qid,
			  uint32_t sq_size);
void nvmf_qpair_check_fini(struct nvmf_qpair *qpair);

/* ctrlr.c (target thread unless said) */
/* Group thread: run a fabrics Connect. */
void nvmf_ctrlr_connect(struct nvmf_request *req);
/* Target thread: run a Property Get / Set. */
void nvmf_ctrlr_property(struct nvmf_request *req);
/* Hand a request the target thread completed back to its group. */
void nvmf_request_complete_remote(struct nvmf_request *req);
void nvmf_ctrlr_detach_qpair(struct nvmf_qpair *qpair);
void nvmf_ctrlr_disconnect(struct nvmf_ctrlr *ctrlr);
void nvmf_ctrlr_keep_alive(struct nvmf_ctrlr *ctrlr);
void nvmf_ctrlr_set_kato(struct nvmf_ctrlr *ctrlr, uint32_t kato_ms);
uint32_t nvmf_ctrlr_round_kato(uint32_t kato_ms);
/* A namespace appeared, went or changed: changed-ns log and event. */
void nvmf_ctrlr_ns_changed(struct nvmf_ctrlr *ctrlr, uint32_t nsid);
void nvmf_ctrlr_discovery_changed(struct nvmf_ctrlr *ctrlr);
/* Hold an AER, or answer it at once with a pending event. */
void nvmf_ctrlr_aer(struct nvmf_request *req);
bool nvmf_ctrlr_is_discovery(const struct nvmf_ctrlr *ctrlr);
void nvmf_ctrlr_get_smart_counters(const struct nvmf_ctrlr *ctrlr,
				   struct nvmf_smart_counters *counters);
/* The AEN mask bit of a notice whose log the host read (rae 0). */
void nvmf_ctrlr_unmask_aen(struct nvmf_ctrlr *ctrlr, uint32_t bit);

/* ctrlr_admin.c */
/* Target thread: run an admin command of an active admin queue. */
void nvmf_ctrlr_admin_exec(struct nvmf_request *req);
void nvmf_ctrlr_identify_ctrlr(const struct nvmf_ctrlr *ctrlr, struct spio_nvme_ctrlr_data *cdata);

/* ctrlr_io.c */
/* Group thread: run an I/O command of an active I/O queue. */
void nvmf_io_exec(struct nvmf_request *req);
/* Set the completion status. */
static inline void nvmf_req_status(struct nvmf_request *req, uint8_t sct, uint8_t sc)
{
	req->rsp->status.sct = sct;
	req->rsp->status.sc = sc;
}

/* discovery.c */
/*
 * The discovery log page `hostnqn` sees through a connection on
 * `listen_trid`: malloc'ed, *size bytes. NULL on allocation failure.
 */
void *nvmf_discovery_log_build(struct spio_nvmf_tgt *tgt, const char *hostnqn, size_t *size);

#endif /* SPIO_NVMF_CORE_H */
