/*
 * NVMe-oF target: export bdevs over NVMe/TCP (SPDK's nvmf_tgt).
 *
 * Objects: one target; transports (TCP) added to it; subsystems (an NQN,
 * its namespaces = bdevs, the hosts allowed and the listeners it is reached
 * on) and the discovery subsystem, which every target has; poll groups, one
 * spio thread each, that own the connections (queue pairs). A connection is
 * accepted on the target's thread and handed to a poll group round-robin,
 * where it lives until it closes; its controller is created by its admin
 * queue's connect and lives on the target thread.
 *
 * Thread rules: the target, transports and subsystems are configured on the
 * thread that created the target (the "target thread"; spio_tgt's app
 * thread), with async functions where the poll groups must take part
 * (adding or removing a namespace, stopping, gathering statistics). Poll
 * groups run on their own threads and are never touched directly.
 *
 * Memory: strings passed in are copied. Objects returned are owned by the
 * target and valid until removed or the target is destroyed.
 *
 * The JSON writers at the end (spio_nvmf_subsystem_write_json,
 * spio_nvmf_tgt_write_config_json) belong to the RPC layer
 * (lib/nvmf/nvmf_rpc*.c, nvmf_config.c); everything else here is the core
 * (lib/nvmf/).
 */
#ifndef SPIO_NVMF_H
#define SPIO_NVMF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/cpuset.h"
#include "spio/json.h"
#include "spio/nvme.h"
#include "spio/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spio_bdev;
struct spio_nvmf_tgt;
struct spio_nvmf_subsystem;
struct spio_nvmf_transport;
struct spio_nvmf_host;
struct spio_nvmf_ns;
struct spio_nvmf_subsystem_listener;

/** Options of a target. */
struct spio_nvmf_tgt_opts {
	/** sizeof(struct spio_nvmf_tgt_opts) as the caller knows it. */
	size_t opts_size;
	/** Name (SPDK's tgt_name); default "nvmf_tgt". */
	char name[64];
	/** Largest number of subsystems, the discovery one included; default 1024. */
	uint32_t max_subsystems;
	/**
	 * Cores of the poll groups (one spio thread each); default: every core
	 * of the app (spio_app_get_cpuset), or the first core of the
	 * environment when no app runs.
	 */
	struct spio_cpuset cpumask;
	/** Connections accepted per listener beyond which new ones are refused; default 1024. */
	uint32_t max_connections_per_listener;
};

/** Fill `opts` (its first `opts_size` bytes) with the defaults above; NULL is ignored. */
void spio_nvmf_tgt_opts_init(struct spio_nvmf_tgt_opts *opts, size_t opts_size);

/** Called when the target is up: every poll group runs (status 0). */
typedef void (*spio_nvmf_tgt_cb)(void *cb_arg, struct spio_nvmf_tgt *tgt, int status);

/**
 * Create a target with its discovery subsystem (allow_any_host) and one
 * poll group thread per core of `opts->cpumask`, named
 * "nvmf_tgt_poll_group_NNN" (in an app, the reactors run them; otherwise
 * the caller polls them: it sees them through spio_thread_lib_init's
 * new_thread_fn, and destroys them once exited after
 * spio_nvmf_tgt_destroy). On a spio thread, which becomes the target
 * thread. `cb` runs there once every poll group is up, never before this
 * returns; the target may be configured from then on.
 * \param opts NULL for the defaults; fields beyond opts->opts_size too.
 * \return 0 if started (cb will run); -EINVAL (empty cpumask, empty name,
 *         max_subsystems 0, NULL cb); -EEXIST (a target of that name);
 *         -ENOMEM (also when a poll group thread cannot be created); -EPERM
 *         (not on a spio thread). On error cb is not called.
 */
int spio_nvmf_tgt_create(const struct spio_nvmf_tgt_opts *opts, spio_nvmf_tgt_cb cb, void *cb_arg);

/** The target named `name` (NULL: the first one created), or NULL. Any thread. */
struct spio_nvmf_tgt *spio_nvmf_get_tgt(const char *name);

/** The target's name; valid while it lives. */
const char *spio_nvmf_tgt_get_name(const struct spio_nvmf_tgt *tgt);

/** The options the target runs with (cpumask as resolved); valid while it lives. */
const struct spio_nvmf_tgt_opts *spio_nvmf_tgt_get_opts(const struct spio_nvmf_tgt *tgt);

/** Called once a target is destroyed (status 0), on the target thread. */
typedef void (*spio_nvmf_tgt_destroy_cb)(void *cb_arg, int status);

/**
 * Destroy a target: stop listening, disconnect every host (their commands
 * complete or fail first), remove the subsystems and close the bdevs, stop
 * the poll groups (each thread exits), destroy the transports, free all;
 * then `cb` (optional) on the target thread, never before this returns.
 * Target thread. \return 0 if started; -EINVAL (NULL); -EBUSY (still
 * starting); -EALREADY (being destroyed).
 */
int spio_nvmf_tgt_destroy(struct spio_nvmf_tgt *tgt, spio_nvmf_tgt_destroy_cb cb, void *cb_arg);

/*
 * Transports
 */

/** Options of a transport (SPDK's nvmf_create_transport parameters). */
struct spio_nvmf_transport_opts {
	size_t opts_size;
	uint16_t max_queue_depth;	  /**< entries per I/O queue; default 128 */
	uint16_t max_io_qpairs_per_ctrlr; /**< default 127 */
	uint32_t in_capsule_data_size;	  /**< default 4096 */
	uint32_t max_io_size;		  /**< default 131072; MDTS in Identify comes from it */
	uint32_t io_unit_size;		  /**< default 131072 */
	uint32_t max_aq_depth;		  /**< admin queue entries; default 128 */
	uint32_t num_shared_buffers;	  /**< data buffers per poll group; default 511 */
	uint32_t buf_cache_size;	  /**< accepted for SPDK compatibility; default 32 */
	bool c2h_success; /**< read data PDUs carry SUCCESS (no response capsule); default true */
	bool dif_insert_or_strip;   /**< must stay false: not supported */
	uint32_t abort_timeout_sec; /**< default 1 */
	int sock_priority;	    /**< SO_PRIORITY of accepted sockets; default 0 */
	uint32_t control_msg_num;   /**< accepted for SPDK compatibility; default 32 */
};

/**
 * Fill `opts` (its first `opts_size` bytes) with the defaults of transport
 * `trtype` (only "TCP", case-insensitive). Any thread.
 * \return 0; -EINVAL (NULL arguments); -ENOTSUP (no such transport).
 */
int spio_nvmf_transport_opts_init(const char *trtype, struct spio_nvmf_transport_opts *opts,
				  size_t opts_size);

/**
 * Create a transport and add it to the target (the poll groups create
 * their part of it when their first connection arrives). Target thread.
 * \param opts NULL for the defaults; fields beyond opts->opts_size keep
 *        their defaults.
 * \return 0; -EINVAL (bad options: sizes not multiples of 16 or too small,
 *         queue depths below 2, max I/O below 4096, in-capsule above max
 *         I/O, unsupported options set); -ENOTSUP (trtype); -EEXIST (the
 *         target has one of that type); -ENOSPC (too many transports);
 *         -ENOMEM.
 */
int spio_nvmf_tgt_add_transport(struct spio_nvmf_tgt *tgt, const char *trtype,
				const struct spio_nvmf_transport_opts *opts);

/** The target's transport of type `trtype` (case-insensitive), or NULL. Target thread. */
struct spio_nvmf_transport *spio_nvmf_tgt_get_transport(struct spio_nvmf_tgt *tgt,
							const char *trtype);

/** Iterate the target's transports in creation order; NULL at the end. Target thread. */
struct spio_nvmf_transport *spio_nvmf_transport_get_first(struct spio_nvmf_tgt *tgt);
struct spio_nvmf_transport *spio_nvmf_transport_get_next(struct spio_nvmf_transport *transport);

/** The transport's type name ("TCP"), static. */
const char *spio_nvmf_transport_get_name(const struct spio_nvmf_transport *transport);

/** The options a transport runs with. Target thread. */
const struct spio_nvmf_transport_opts *
spio_nvmf_transport_get_opts(const struct spio_nvmf_transport *transport);

/*
 * Subsystems
 */

/*
 * Subsystem types: values of enum spio_nvmf_subtype (spio/nvme_spec.h, the
 * discovery log's SUBTYPE), as SPDK numbers its subsystems.
 */
#define SPIO_NVMF_SUBTYPE_NVME_SUBSYS SPIO_NVMF_SUBTYPE_NVME
#define SPIO_NVMF_SUBTYPE_DISCOVERY_SUBSYS SPIO_NVMF_SUBTYPE_DISCOVERY_CURRENT

/** Default serial and model of a new subsystem (SPDK's). */
#define SPIO_NVMF_DEFAULT_SN "00000000000000000000"
#define SPIO_NVMF_DEFAULT_MN "SPDK bdev Controller"
/** Default max_namespaces (SPDK's). */
#define SPIO_NVMF_DEFAULT_MAX_NAMESPACES 32
/** Controller ID range of dynamic controllers (FFF0h-FFFFh are reserved). */
#define SPIO_NVMF_MIN_CNTLID 1
#define SPIO_NVMF_MAX_CNTLID 0xFFEF

/**
 * Check an NQN as SPDK does (spdk_nvmf_valid_nqn): 11 to 223 bytes; the
 * discovery NQN; "nqn.2014-08.org.nvmexpress:uuid:" followed by a UUID; or
 * "nqn.yyyy-mm." + a reverse domain name (labels start with a letter, hold
 * letters, digits and inner hyphens, at most 63 characters) + ":" + a
 * non-empty UTF-8 user string. Any thread. \return true if valid.
 */
bool spio_nvmf_nqn_is_valid(const char *nqn);

/**
 * Create an NVM subsystem: serial SPIO_NVMF_DEFAULT_SN, model
 * SPIO_NVMF_DEFAULT_MN, controller IDs 1-0xFFEF, no host allowed until
 * added or allow_any_host set. Target thread.
 * \param nqn a valid NQN (spio_nvmf_nqn_is_valid), not the discovery NQN.
 * \param max_namespaces 0: SPDK's default of 32.
 * \return the subsystem, or NULL with errno EINVAL (bad NQN, NULL tgt,
 *         target being destroyed), EEXIST, ENOSPC (max_subsystems
 *         reached), ENOMEM.
 */
struct spio_nvmf_subsystem *spio_nvmf_subsystem_create(struct spio_nvmf_tgt *tgt, const char *nqn,
						       uint32_t max_namespaces);

/** Called when a subsystem operation that involves the poll groups finished. */
typedef void (*spio_nvmf_subsystem_cb)(void *cb_arg, int status);

/**
 * Delete a subsystem: disconnect its hosts, remove its namespaces and
 * listeners, free it; then `cb` (optional) with 0 on the target thread,
 * never before this returns. Target thread. \return 0 if started; -EINVAL;
 * -EBUSY (another operation on it is under way); -EPERM (the discovery
 * subsystem).
 */
int spio_nvmf_subsystem_destroy(struct spio_nvmf_subsystem *subsystem, spio_nvmf_subsystem_cb cb,
				void *cb_arg);

/** Find a subsystem by NQN (the discovery NQN finds the discovery subsystem). Target thread. */
struct spio_nvmf_subsystem *spio_nvmf_tgt_find_subsystem(struct spio_nvmf_tgt *tgt,
							 const char *nqn);

/** Iterate: first subsystem (the discovery one), then each next; NULL at the end. Target thread. */
struct spio_nvmf_subsystem *spio_nvmf_subsystem_get_first(struct spio_nvmf_tgt *tgt);
struct spio_nvmf_subsystem *spio_nvmf_subsystem_get_next(struct spio_nvmf_subsystem *subsystem);

/** The subsystem's NQN, type, target. Target thread. */
const char *spio_nvmf_subsystem_get_nqn(const struct spio_nvmf_subsystem *subsystem);
enum spio_nvmf_subtype spio_nvmf_subsystem_get_type(const struct spio_nvmf_subsystem *subsystem);
struct spio_nvmf_tgt *spio_nvmf_subsystem_get_tgt(const struct spio_nvmf_subsystem *subsystem);

/**
 * Serial (at most 20 printable ASCII characters, 0x20-0x7e) and model (at
 * most 40). Controllers connected later report the new values.
 * \return 0 or -EINVAL (NULL, too long, not printable ASCII, discovery
 *         subsystem). Target thread.
 */
int spio_nvmf_subsystem_set_sn(struct spio_nvmf_subsystem *subsystem, const char *sn);
int spio_nvmf_subsystem_set_mn(struct spio_nvmf_subsystem *subsystem, const char *mn);
const char *spio_nvmf_subsystem_get_sn(const struct spio_nvmf_subsystem *subsystem);
const char *spio_nvmf_subsystem_get_mn(const struct spio_nvmf_subsystem *subsystem);

/**
 * Controller ID range for dynamic controllers (SPIO_NVMF_MIN_CNTLID ..
 * SPIO_NVMF_MAX_CNTLID, min <= max). \return 0 or -EINVAL. Target thread.
 */
int spio_nvmf_subsystem_set_cntlid_range(struct spio_nvmf_subsystem *subsystem, uint16_t min_cntlid,
					 uint16_t max_cntlid);
uint16_t spio_nvmf_subsystem_get_min_cntlid(const struct spio_nvmf_subsystem *subsystem);
uint16_t spio_nvmf_subsystem_get_max_cntlid(const struct spio_nvmf_subsystem *subsystem);

/** Namespaces the subsystem can hold (the highest NSID; 0 for discovery). Target thread. */
uint32_t spio_nvmf_subsystem_get_max_namespaces(const struct spio_nvmf_subsystem *subsystem);

/**
 * Let any host connect, or only the allowed ones. Hosts already connected
 * stay (as in SPDK). Target thread.
 */
void spio_nvmf_subsystem_set_allow_any_host(struct spio_nvmf_subsystem *subsystem, bool allow);
bool spio_nvmf_subsystem_get_allow_any_host(const struct spio_nvmf_subsystem *subsystem);

/**
 * Allow / disallow a host NQN. Removing a host disconnects its controllers
 * (unless allow_any_host lets it stay).
 * \return 0; -EINVAL (NULL, bad NQN); -EEXIST / -ENOENT; -ENOMEM. Target thread.
 */
int spio_nvmf_subsystem_add_host(struct spio_nvmf_subsystem *subsystem, const char *hostnqn);
int spio_nvmf_subsystem_remove_host(struct spio_nvmf_subsystem *subsystem, const char *hostnqn);

/** True if `hostnqn` may connect (allow_any_host, or in the list). Target thread. */
bool spio_nvmf_subsystem_host_allowed(const struct spio_nvmf_subsystem *subsystem,
				      const char *hostnqn);

/** Iterate the allowed hosts in the order added; NULL at the end. Target thread. */
struct spio_nvmf_host *
spio_nvmf_subsystem_get_first_host(const struct spio_nvmf_subsystem *subsystem);
struct spio_nvmf_host *
spio_nvmf_subsystem_get_next_host(const struct spio_nvmf_subsystem *subsystem,
				  const struct spio_nvmf_host *host);
const char *spio_nvmf_host_get_nqn(const struct spio_nvmf_host *host);

/** Options of a namespace. */
struct spio_nvmf_ns_opts {
	size_t opts_size;
	uint32_t nsid;	   /**< 0: the lowest free */
	uint8_t nguid[16]; /**< all zero: the bdev's UUID bytes (as SPDK) */
	/**
	 * EUI-64 as a number whose big-endian bytes are the wire bytes (RPC
	 * "ABCDEF0123456789" is 0xABCDEF0123456789); 0: none.
	 */
	uint64_t eui64;
	struct spio_uuid uuid; /**< all zero: the bdev's UUID */
};

/** Fill `opts` (its first `opts_size` bytes) with the defaults (all zero). NULL is ignored. */
void spio_nvmf_ns_opts_init(struct spio_nvmf_ns_opts *opts, size_t opts_size);

/** Called once a namespace was added: its nsid, or 0 and the error. */
typedef void (*spio_nvmf_ns_add_cb)(void *cb_arg, uint32_t nsid, int status);

/**
 * Add the bdev `bdev_name` as a namespace. The bdev is opened and claimed;
 * every poll group gets a channel; then the namespace becomes visible and
 * connected hosts receive a namespace attribute changed event (and find the
 * NSID in the Changed Namespace List log). `cb` runs on the target thread,
 * never before this returns. Target thread.
 * \param opts NULL: defaults.
 * \return 0 if started; -EINVAL (NULL, discovery subsystem, NSID above
 *         max_namespaces or FFFFFFFFh); -ENODEV (no such bdev); -EEXIST
 *         (nsid in use); -ENOSPC (no free NSID); -EBUSY (another change
 *         under way); -EPERM (the bdev is claimed or open for writing
 *         elsewhere); -ENOMEM.
 */
int spio_nvmf_subsystem_add_ns(struct spio_nvmf_subsystem *subsystem, const char *bdev_name,
			       const struct spio_nvmf_ns_opts *opts, spio_nvmf_ns_add_cb cb,
			       void *cb_arg);

/**
 * Remove namespace `nsid`: it disappears for hosts at once, new commands to
 * it fail with Invalid Namespace, those in flight finish, the channels are
 * put and the bdev closed, hosts receive the event; then `cb` (optional)
 * on the target thread, never before this returns. A bdev that goes away
 * (hot remove) is removed this way by itself. Target thread.
 * \return 0 if started; -EINVAL; -ENOENT; -EBUSY.
 */
int spio_nvmf_subsystem_remove_ns(struct spio_nvmf_subsystem *subsystem, uint32_t nsid,
				  spio_nvmf_subsystem_cb cb, void *cb_arg);

/** Iterate the namespaces by increasing NSID; NULL at the end. Target thread. */
struct spio_nvmf_ns *spio_nvmf_subsystem_get_first_ns(const struct spio_nvmf_subsystem *subsystem);
struct spio_nvmf_ns *spio_nvmf_subsystem_get_next_ns(const struct spio_nvmf_subsystem *subsystem,
						     const struct spio_nvmf_ns *ns);
/** Namespace `nsid`, or NULL. Target thread. */
struct spio_nvmf_ns *spio_nvmf_subsystem_get_ns(const struct spio_nvmf_subsystem *subsystem,
						uint32_t nsid);
uint32_t spio_nvmf_ns_get_id(const struct spio_nvmf_ns *ns);
struct spio_bdev *spio_nvmf_ns_get_bdev(const struct spio_nvmf_ns *ns);
/**
 * The namespace's options as in force: nsid, and the NGUID / UUID filled
 * from the bdev where they were given as zero (SPDK reports them so).
 * Copies the first `opts_size` bytes. Target thread.
 */
void spio_nvmf_ns_get_opts(const struct spio_nvmf_ns *ns, struct spio_nvmf_ns_opts *opts,
			   size_t opts_size);

/**
 * Listen for this subsystem on `trid` (trtype of a transport added to the
 * target, adrfam IPv4/IPv6 (0 means IPv4), traddr, trsvcid). Listeners are
 * shared between subsystems with the same address: the transport listens
 * once per address. Target thread.
 * \return 0; -EINVAL (NULL, missing traddr or trsvcid, bad adrfam);
 *         -ENOTSUP (no transport of that type); -EEXIST; -ENOMEM; the
 *         transport's error (-EADDRINUSE, ...).
 */
int spio_nvmf_subsystem_add_listener(struct spio_nvmf_subsystem *subsystem,
				     const struct spio_nvme_transport_id *trid);

/**
 * Stop listening for this subsystem on `trid`; its hosts whose admin queue
 * came through that address are disconnected; the transport stops
 * listening when no subsystem uses the address. Target thread.
 * \return 0; -EINVAL; -ENOENT.
 */
int spio_nvmf_subsystem_remove_listener(struct spio_nvmf_subsystem *subsystem,
					const struct spio_nvme_transport_id *trid);

/** Iterate the subsystem's listeners in the order added; NULL at the end. Target thread. */
struct spio_nvmf_subsystem_listener *
spio_nvmf_subsystem_get_first_listener(const struct spio_nvmf_subsystem *subsystem);
struct spio_nvmf_subsystem_listener *
spio_nvmf_subsystem_get_next_listener(const struct spio_nvmf_subsystem *subsystem,
				      const struct spio_nvmf_subsystem_listener *listener);
/** The listener's address: trstring, trtype, adrfam, traddr, trsvcid (subnqn empty). */
const struct spio_nvme_transport_id *
spio_nvmf_subsystem_listener_get_trid(const struct spio_nvmf_subsystem_listener *listener);

/*
 * Controllers, queue pairs and statistics (nvmf_subsystem_get_controllers,
 * _get_qpairs, nvmf_get_stats). Controllers live on the target thread and
 * are read there at once; queue pairs and poll group counters belong to the
 * poll group threads and are gathered by messages (the async calls).
 */

/** One controller of a subsystem. */
struct spio_nvmf_ctrlr_info {
	uint16_t cntlid;
	/** "io" or "discovery" (SPDK's cntrltype). */
	const char *cntrltype;
	char hostnqn[SPIO_NVMF_NQN_MAX_LEN + 1];
	/** Host identifier from the connect data (a UUID). */
	struct spio_uuid hostid;
	/** I/O queue pairs connected. */
	uint32_t num_io_qpairs;
};

/**
 * Copy up to `max` controllers of the subsystem (by creation) into
 * `infos` (may be NULL when max is 0). Target thread.
 * \return the number of controllers (may exceed max: call again with more
 *         room).
 */
uint32_t spio_nvmf_subsystem_get_ctrlrs(const struct spio_nvmf_subsystem *subsystem,
					struct spio_nvmf_ctrlr_info *infos, uint32_t max);

/** One connected queue pair of a subsystem. */
struct spio_nvmf_qpair_info {
	uint16_t cntlid;
	uint16_t qid;
	/** SPDK's state names: "enabled", "deactivating", ... */
	const char *state;
	/** Name of the poll group thread that owns it. */
	char thread[64];
	char hostnqn[SPIO_NVMF_NQN_MAX_LEN + 1];
	struct spio_nvme_transport_id listen_trid;
	struct spio_nvme_transport_id peer_trid;
};

/**
 * Called with the queue pairs gathered (`count` of them, by poll group,
 * valid during the call only) or an error, on the target thread.
 */
typedef void (*spio_nvmf_qpairs_cb)(void *cb_arg, const struct spio_nvmf_qpair_info *qpairs,
				    uint32_t count, int status);

/**
 * Gather the subsystem's connected queue pairs from every poll group; `cb`
 * runs on the target thread, never before this returns. Target thread.
 * \return 0 (cb will run); -EINVAL; -ENOMEM (cb is then not called).
 */
int spio_nvmf_subsystem_get_qpairs(struct spio_nvmf_subsystem *subsystem, spio_nvmf_qpairs_cb cb,
				   void *cb_arg);

/** Counters of one poll group (SPDK's nvmf_get_stats poll_groups[] entry). */
struct spio_nvmf_poll_group_stat {
	/** The poll group thread's name. */
	char name[64];
	uint32_t admin_qpairs;		      /**< admin queues connected, ever */
	uint32_t io_qpairs;		      /**< I/O queues connected, ever */
	uint32_t current_admin_qpairs;	      /**< admin queues connected now */
	uint32_t current_io_qpairs;	      /**< I/O queues connected now */
	uint32_t current_unassociated_qpairs; /**< connections without a connect yet */
	uint64_t pending_bdev_io;	      /**< I/O that had to wait for a bdev_io, ever */
	uint64_t completed_nvme_io;	      /**< I/O commands completed, ever */
};

/**
 * Called with one entry per poll group (`count`, in creation order, valid
 * during the call only) or an error, on the target thread. Every poll group
 * carries every transport of the target (spio_nvmf_transport_get_first).
 */
typedef void (*spio_nvmf_stats_cb)(void *cb_arg, const struct spio_nvmf_poll_group_stat *stats,
				   uint32_t count, int status);

/**
 * Gather every poll group's counters; `cb` runs on the target thread, never
 * before this returns. Target thread.
 * \return 0 (cb will run); -EINVAL; -ENOMEM (cb is then not called).
 */
int spio_nvmf_tgt_get_stats(struct spio_nvmf_tgt *tgt, spio_nvmf_stats_cb cb, void *cb_arg);

/*
 * JSON (the RPC layer implements these: lib/nvmf/nvmf_rpc*.c, nvmf_config.c)
 */

/**
 * Write the subsystem's state as SPDK's `nvmf_get_subsystems` entry, and the
 * target's as SPDK's `save_config` entries of the nvmf subsystem. Target
 * thread.
 */
void spio_nvmf_subsystem_write_json(const struct spio_nvmf_subsystem *subsystem,
				    struct spio_json_write_ctx *w);
void spio_nvmf_tgt_write_config_json(const struct spio_nvmf_tgt *tgt,
				     struct spio_json_write_ctx *w);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_NVMF_H */
