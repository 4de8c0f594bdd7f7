/*
 * NVMe host driver: transport IDs, controllers, namespaces, I/O queue pairs
 * and poll groups, over a transport-neutral core: NVMe/TCP, and NVMe over
 * PCIe (a local controller driven from user space through VFIO, polled, or
 * sleeping on MSI-X eventfds while idle in interrupt mode).
 *
 * This is SPDK's spdk_nvme_* API in spio's async-first form: every operation
 * that waits for the controller takes `(cb, cb_arg)`, has an `_await` twin for
 * tasks (spio/task.h) and, for set-up operations, a blocking form for plain
 * programs that polls the current spio thread (spio_completion_wait).
 *
 * Threads. A controller belongs to the spio thread that connected it (its
 * "admin thread"): its admin queue, keep-alive, asynchronous events and reset
 * run there, driven by a poller the controller registers on that thread, and
 * every admin function below is called there. An I/O queue pair belongs to the
 * thread that allocated it and is used only there; several threads each use
 * their own qpairs of one controller without locks. A poll group polls all the
 * qpairs of one thread from one poller, which sleeps on their sockets when
 * the thread idles; a PCIe qpair has no fd (completions are found by
 * polling), so a group holding one never sleeps, unless its controller was
 * connected in interrupt mode (spio_nvme_ctrlr_opts.enable_interrupts: it
 * then sleeps on the queue's MSI-X eventfd). PCIe I/O queues are created
 * and deleted by admin commands that the admin thread runs on the qpair's
 * behalf: that thread must keep polling while qpairs connect or go.
 *
 * Completions. Each command completes exactly once by calling
 * `cb(cb_arg, cpl)` on its queue's thread, never before the submit function
 * returned 0. `cpl` holds the controller's completion queue entry (status
 * code type and code: spio_nvme_cpl_is_error()) and lives only during the
 * call. A command whose queue was lost (connection dropped, controller
 * reset, queue freed) completes with SPIO_NVME_SCT_GENERIC /
 * SPIO_NVME_SC_ABORTED_SQ_DELETION. A command that outlives its timeout
 * (admin_timeout_ms, io_timeout_ms) makes the driver drop that queue's
 * connection, which completes every command of the queue that way: a late
 * answer can then never meet a reused command slot, and nothing completes
 * twice.
 *
 * Memory. Data buffers and iovec arrays passed to a command must stay valid
 * until its callback ran (for `_await` twins: until they return). NVMe/TCP
 * accepts any memory; PCIe needs DMA memory (spio_dma_malloc): another
 * buffer fails the submit with -EFAULT (logged), except admin payloads of up
 * to 4 KiB, which the driver copies through its own DMA page. Over PCIe a
 * flat buffer must start dword aligned and an iovec's elements must meet at
 * page boundaries (each but the first starts on a 4 KiB page, each but the
 * last ends on one), as PRPs require; other layouts need a controller with
 * SGL support (Identify SGLS) and at most 256 IOVA-contiguous pieces, else
 * the submit fails with -EINVAL. A PCIe command moves at most
 * spio_nvme_ctrlr_get_max_xfer_size() bytes (2 MiB, lowered by MDTS).
 */
#ifndef SPIO_NVME_H
#define SPIO_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "spio/nvme_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spio_nvme_ctrlr;
struct spio_nvme_ns;
struct spio_nvme_qpair;
struct spio_nvme_poll_group;

/*
 * Transport IDs
 */

/** Transport types, numbered as SPDK's enum spdk_nvme_transport_type. */
enum spio_nvme_transport_type {
	SPIO_NVME_TRANSPORT_RDMA = SPIO_NVMF_TRTYPE_RDMA,
	SPIO_NVME_TRANSPORT_FC = SPIO_NVMF_TRTYPE_FC,
	SPIO_NVME_TRANSPORT_TCP = SPIO_NVMF_TRTYPE_TCP,
	SPIO_NVME_TRANSPORT_PCIE = 256,
	SPIO_NVME_TRANSPORT_VFIOUSER = 1024,
	SPIO_NVME_TRANSPORT_CUSTOM = 4096,
};

#define SPIO_NVME_TRSTRING_MAX_LEN 32

/**
 * Where a controller is and how to reach it: SPDK's spdk_nvme_transport_id,
 * plus the host NQN SPDK's tools take in the same string.
 * Every string is NUL-terminated; an empty string means "not given".
 */
struct spio_nvme_transport_id {
	/** Transport name in its canonical spelling ("TCP", "PCIe", "RDMA"). */
	char trstring[SPIO_NVME_TRSTRING_MAX_LEN + 1];
	enum spio_nvme_transport_type trtype;
	/** SPIO_NVMF_ADRFAM_*; 0 when not given (PCIe). */
	int adrfam;
	/** IP address or host name (TCP, RDMA); PCI address (PCIe), normalised dddd:bb:dd.f. */
	char traddr[SPIO_NVMF_TRADDR_MAX_LEN + 1];
	/** Port (TCP, RDMA). */
	char trsvcid[SPIO_NVMF_TRSVCID_MAX_LEN + 1];
	/** Subsystem NQN (fabrics); empty means the discovery subsystem. */
	char subnqn[SPIO_NVMF_NQN_MAX_LEN + 1];
	/** Host NQN to connect as (fabrics); empty: the controller options' hostnqn. */
	char hostnqn[SPIO_NVMF_NQN_MAX_LEN + 1];
	/** Local address and port to connect from (fabrics); optional. */
	char hostaddr[SPIO_NVMF_TRADDR_MAX_LEN + 1];
	char hostsvcid[SPIO_NVMF_TRSVCID_MAX_LEN + 1];
	/** Socket priority (SO_PRIORITY) for TCP; 0 by default. */
	int priority;
};

/**
 * Parse SPDK's transport ID string form: whitespace-separated `key:value`
 * pairs (`key=value` is accepted too), keys case-insensitive, e.g.
 * `trtype:TCP adrfam:IPv4 traddr:127.0.0.1 trsvcid:4420 subnqn:nqn...` or
 * `trtype:PCIe traddr:0000:01:00.0`. Keys: trtype, adrfam, traddr, trsvcid,
 * subnqn, hostnqn, hostaddr, hostsvcid, priority. The whole `trid` is reset
 * first; a missing adrfam stays 0.
 *
 * \return 0; -EINVAL for NULL arguments, an unknown key, an unknown trtype or
 *         adrfam, a value too long for its field, a repeated key, a bad PCI
 *         address or priority, or a missing trtype; a log line names the
 *         offending key and value. Any thread.
 */
int spio_nvme_transport_id_parse(struct spio_nvme_transport_id *trid, const char *str);

/**
 * Format `trid` in the string form spio_nvme_transport_id_parse() reads
 * (only the fields that are set), into `buf` of `size` bytes, NUL-terminated.
 * \return the string's length; -EINVAL for NULL arguments or a trtype /
 *         adrfam the parser could not read back (CUSTOM); -ENOSPC if it does
 *         not fit (buf then holds a truncated string). Any thread.
 */
int spio_nvme_transport_id_format(const struct spio_nvme_transport_id *trid, char *buf,
				  size_t size);

/**
 * Compare two transport IDs as SPDK does: trtype, then traddr (PCI addresses
 * by value, others case-insensitively), trsvcid, subnqn (exactly). adrfam,
 * hostnqn and the host address are not compared.
 * \return <0, 0 or >0. Any thread.
 */
int spio_nvme_transport_id_compare(const struct spio_nvme_transport_id *a,
				   const struct spio_nvme_transport_id *b);

/**
 * Parse a transport type name ("TCP", "tcp", "PCIe", "RDMA", "FC",
 * "VFIOUSER"). \return 0 or -EINVAL. Any thread.
 */
int spio_nvme_transport_id_parse_trtype(enum spio_nvme_transport_type *trtype, const char *str);

/** The canonical name of a transport type ("TCP", "PCIe", ...), or NULL. Any thread. */
const char *spio_nvme_transport_id_trtype_str(enum spio_nvme_transport_type trtype);

/**
 * Parse an address family name ("IPv4", "IPv6", "IB", "FC", "INTRA_HOST",
 * case-insensitive) into SPIO_NVMF_ADRFAM_*. \return 0 or -EINVAL. Any thread.
 */
int spio_nvme_transport_id_parse_adrfam(int *adrfam, const char *str);

/** The canonical name of an address family ("IPv4", ...), or NULL. Any thread. */
const char *spio_nvme_transport_id_adrfam_str(int adrfam);

/**
 * Set `trid->trtype` and its canonical `trstring`. Any thread.
 */
void spio_nvme_transport_id_populate_trstring(struct spio_nvme_transport_id *trid,
					      enum spio_nvme_transport_type trtype);

/*
 * Controllers
 */

/** Completion of one command: the controller's CQE, valid during the call. */
typedef void (*spio_nvme_cmd_cb)(void *cb_arg, const struct spio_nvme_cpl *cpl);

/** True when `cpl` reports an error (any status but generic success). */
static inline bool spio_nvme_cpl_is_error(const struct spio_nvme_cpl *cpl)
{
	return cpl->status.sc != SPIO_NVME_SC_SUCCESS || cpl->status.sct != SPIO_NVME_SCT_GENERIC;
}

/** Options of a controller connection (SPDK's spdk_nvme_ctrlr_opts, the parts that apply). */
struct spio_nvme_ctrlr_opts {
	/** sizeof(struct spio_nvme_ctrlr_opts) as the caller knows it. */
	size_t opts_size;
	/** I/O queues to ask the controller for (Set Features Number of Queues); default 1024. */
	uint32_t num_io_queues;
	/** Default entries of an I/O queue (spio_nvme_ctrlr_alloc_io_qpair); default 128,
	 * lowered at connect to what the controller allows (CAP.MQES + 1). */
	uint32_t io_queue_size;
	/** Entries of the admin queue; default 32, at least 2. */
	uint32_t admin_queue_size;
	/** Keep Alive Timeout sent in the admin connect, in ms; default 10000; 0: none. */
	uint32_t keep_alive_timeout_ms;
	/** Limit for connecting and enabling the controller or a queue, in ms; default 10000. */
	uint32_t connect_timeout_ms;
	/** Limit for an admin command, in ms; default 30000; 0: none. */
	uint32_t admin_timeout_ms;
	/** Limit for an I/O command, in ms; default 0: none. */
	uint32_t io_timeout_ms;
	/** Host NQN; default: the trid's hostnqn, else one made from the host ID. */
	char hostnqn[SPIO_NVMF_NQN_MAX_LEN + 1];
	/** Host identifier (fabrics connect HOSTID); default: random per process. */
	uint8_t extended_host_id[16];
	/** Ask for NVMe/TCP header and data digests (CRC32C); default false. */
	bool header_digest;
	bool data_digest;
	/**
	 * Interrupt mode (SPDK's enable_interrupts); default false. PCIe: the
	 * device's MSI-X vectors go to eventfds, the admin completion queue on
	 * vector 0 and I/O queue n created with interrupts on vector n, so a
	 * poll group (and the admin thread) sleeps while its thread is idle and
	 * wakes when a completion is posted. The I/O path still polls the
	 * completion queues and makes no system call for them (the eventfds are
	 * watched edge-triggered, never read). The I/O queues are capped at 256
	 * and at the device's vectors minus one (spio_nvme_ctrlr_get_num_io_queues()
	 * tells). The driver also signals a queue's vector itself when its
	 * thread must look without a completion: the queue created or deleted
	 * on the admin thread, a controller reset, the device's removal. A
	 * device without MSI-X falls back to polled mode with a logged error (as
	 * SPDK); one with a single vector gives it to the admin queue and polls
	 * the I/O queues; either way the controller's options
	 * (spio_nvme_ctrlr_get_opts) then say false. NVMe/TCP: accepted and
	 * changes nothing (a TCP qpair always sleeps on its socket).
	 */
	bool enable_interrupts;
};

/**
 * Fill `opts` (`opts_size` bytes of it) with the defaults above. Any thread.
 */
void spio_nvme_ctrlr_get_default_opts(struct spio_nvme_ctrlr_opts *opts, size_t opts_size);

/** Result of a connect: the controller, or NULL and a negative errno. */
typedef void (*spio_nvme_connect_cb)(void *cb_arg, struct spio_nvme_ctrlr *ctrlr, int status);

/**
 * Connect to the controller `trid` names: open its admin queue, enable it,
 * read its identify data and active namespaces, arm asynchronous events and
 * keep-alive. For a discovery trid (subnqn empty or the discovery NQN) the
 * controller is a discovery controller (spio_nvme_discovery_get_log()).
 * PCIe (`trtype:PCIe traddr:0000:00:04.0`): the device is claimed and opened
 * through VFIO (bound to vfio-pci by scripts/setup.sh; DMA memory is mapped
 * into its IOMMU), disabled, given its admin queue and enabled; no subnqn,
 * no keep-alive. On a spio thread, which becomes the controller's admin thread.
 *
 * \param trid copied. \param opts NULL for defaults; copied.
 * \param cb called once, on this thread, never before this returns 0:
 *        status 0 with the controller, or -ETIMEDOUT, -ECONNREFUSED (and
 *        other socket errors), -ENOTSUP (transport not built or not
 *        supported by the controller), -EACCES (the subsystem refused the
 *        host), -EPROTO (the controller broke the protocol), -EIO; for
 *        PCIe also -ENODEV (no such device, or it vanished), -EBUSY
 *        (another process drives it), -ENOTSUP / -EACCES (not bound to
 *        vfio-pci, no IOMMU, no permission on /dev/vfio).
 * \return 0 if started; -EINVAL (NULL arguments, bad trid or options);
 *         -ENOTSUP (no such transport); -EPERM (not on a spio thread); -ENOMEM.
 */
int spio_nvme_connect_async(const struct spio_nvme_transport_id *trid,
			    const struct spio_nvme_ctrlr_opts *opts, spio_nvme_connect_cb cb,
			    void *cb_arg);

/**
 * Task form of spio_nvme_connect_async(): `*ctrlr` is set on success.
 * \return 0; the errors of the callback and of the start; -EPERM outside a task.
 */
int spio_nvme_connect_await(const struct spio_nvme_transport_id *trid,
			    const struct spio_nvme_ctrlr_opts *opts,
			    struct spio_nvme_ctrlr **ctrlr);

/**
 * Blocking form of spio_nvme_connect_async() for plain programs: polls the
 * current spio thread until the connect finished. Not from inside a poller,
 * message or I/O callback of that thread (use the async or task form there).
 * \return the controller, or NULL with errno set to the error.
 */
struct spio_nvme_ctrlr *spio_nvme_connect(const struct spio_nvme_transport_id *trid,
					  const struct spio_nvme_ctrlr_opts *opts);

/** Called once a detach finished. */
typedef void (*spio_nvme_detach_cb)(void *cb_arg);

/**
 * Detach a controller: shut it down (CC.SHN when the connection is up, with a
 * bounded wait), fail its outstanding admin commands, close the admin queue
 * and free it. Its I/O qpairs must have been freed first. On the admin thread.
 * \return 0 if started; -EINVAL (NULL); -EBUSY (I/O qpairs remain, or a
 *         detach is already under way); -EXDEV (not on the admin thread).
 */
int spio_nvme_detach_async(struct spio_nvme_ctrlr *ctrlr, spio_nvme_detach_cb cb, void *cb_arg);

/** Task form of spio_nvme_detach_async(). \return 0, its errors, -EPERM outside a task. */
int spio_nvme_detach_await(struct spio_nvme_ctrlr *ctrlr);

/** Blocking form of spio_nvme_detach_async() (see spio_nvme_connect()). \return 0 or its errors. */
int spio_nvme_detach(struct spio_nvme_ctrlr *ctrlr);

/**
 * Called for each subsystem a discovery probe attached (status 0) or failed
 * to attach (ctrlr NULL, status < 0), with the log page entry's trid.
 */
typedef void (*spio_nvme_probe_attach_cb)(void *cb_arg, const struct spio_nvme_transport_id *trid,
					  struct spio_nvme_ctrlr *ctrlr, int status);
/** Called once after the last attach callback of a probe, with its status. */
typedef void (*spio_nvme_probe_done_cb)(void *cb_arg, int status);

/**
 * Probe: connect to `trid`; if it is a discovery controller, read its
 * discovery log and connect to every NVM subsystem it lists (entries for
 * other transports than this build has are skipped), then detach the
 * discovery controller. Otherwise attach `trid` itself. Each attached
 * controller is handed to `attach_cb`; the caller owns it.
 * On a spio thread. \return 0 if started, or spio_nvme_connect_async()'s errors.
 */
int spio_nvme_probe_async(const struct spio_nvme_transport_id *trid,
			  const struct spio_nvme_ctrlr_opts *opts,
			  spio_nvme_probe_attach_cb attach_cb, spio_nvme_probe_done_cb done_cb,
			  void *cb_arg);

/** Task form of spio_nvme_probe_async(). \return 0, its errors, -EPERM outside a task. */
int spio_nvme_probe_await(const struct spio_nvme_transport_id *trid,
			  const struct spio_nvme_ctrlr_opts *opts,
			  spio_nvme_probe_attach_cb attach_cb, void *cb_arg);

/**
 * Read the whole discovery log page of a discovery controller (re-reading
 * while the generation counter changes). `*log` is allocated with malloc and
 * the caller frees it; it holds `log->numrec` entries.
 * \return 0; -EINVAL; -ENOTSUP (not a discovery controller); -EIO; -ENOMEM;
 *         -EAGAIN (the log kept changing). Task form only; -EPERM outside a task.
 */
int spio_nvme_discovery_get_log_await(struct spio_nvme_ctrlr *ctrlr,
				      struct spio_nvmf_discovery_log_page **log);

/** The transport ID the controller was connected with. Any thread while it lives. */
const struct spio_nvme_transport_id *
spio_nvme_ctrlr_get_transport_id(const struct spio_nvme_ctrlr *ctrlr);

/** The options in effect (defaults filled in, host NQN resolved). Any thread while it lives. */
const struct spio_nvme_ctrlr_opts *spio_nvme_ctrlr_get_opts(const struct spio_nvme_ctrlr *ctrlr);

/** Identify Controller data, read at connect and after each reset. Admin thread. */
const struct spio_nvme_ctrlr_data *spio_nvme_ctrlr_get_data(const struct spio_nvme_ctrlr *ctrlr);

/** The controller's CAP, VS and CSTS registers (CSTS as last read). Admin thread. */
union spio_nvme_cap_register spio_nvme_ctrlr_get_regs_cap(const struct spio_nvme_ctrlr *ctrlr);
union spio_nvme_vs_register spio_nvme_ctrlr_get_regs_vs(const struct spio_nvme_ctrlr *ctrlr);
union spio_nvme_csts_register spio_nvme_ctrlr_get_regs_csts(const struct spio_nvme_ctrlr *ctrlr);

/** True for a discovery controller. Any thread while it lives. */
bool spio_nvme_ctrlr_is_discovery(const struct spio_nvme_ctrlr *ctrlr);

/** Largest transfer of one command in bytes (MDTS and the transport's limit). Any thread. */
uint32_t spio_nvme_ctrlr_get_max_xfer_size(const struct spio_nvme_ctrlr *ctrlr);

/** Number of I/O queues the controller granted. Any thread while it lives. */
uint32_t spio_nvme_ctrlr_get_num_io_queues(const struct spio_nvme_ctrlr *ctrlr);

/** NN: the highest namespace ID the controller may have. Admin thread. */
uint32_t spio_nvme_ctrlr_get_num_ns(const struct spio_nvme_ctrlr *ctrlr);

/** First active namespace ID, or 0 if none. Admin thread. */
uint32_t spio_nvme_ctrlr_get_first_active_ns(const struct spio_nvme_ctrlr *ctrlr);

/** Active namespace ID after `prev_nsid`, or 0 at the end. Admin thread. */
uint32_t spio_nvme_ctrlr_get_next_active_ns(const struct spio_nvme_ctrlr *ctrlr,
					    uint32_t prev_nsid);

/** True if `nsid` is an active namespace. Admin thread. */
bool spio_nvme_ctrlr_is_active_ns(const struct spio_nvme_ctrlr *ctrlr, uint32_t nsid);

/**
 * The namespace object of an active `nsid`, or NULL. The object stays valid
 * until the controller is detached, even after the namespace goes inactive
 * (its commands then fail at the controller); I/O threads may keep it. Its
 * geometry changes only on the admin thread, at a reset or a namespace
 * change event. Admin thread.
 */
struct spio_nvme_ns *spio_nvme_ctrlr_get_ns(struct spio_nvme_ctrlr *ctrlr, uint32_t nsid);

/** The asynchronous event callback: `cpl->cdw0` decodes as union spio_nvme_async_event_completion.
 */
typedef void (*spio_nvme_aer_cb)(void *cb_arg, const struct spio_nvme_cpl *cpl);

/**
 * Set the callback for asynchronous events (one per controller; NULL
 * removes it). The driver first handles what it must (a namespace attribute
 * change refreshes the namespaces and calls the namespace change callback),
 * then calls `cb` on the admin thread. Admin thread.
 */
void spio_nvme_ctrlr_register_aer_callback(struct spio_nvme_ctrlr *ctrlr, spio_nvme_aer_cb cb,
					   void *cb_arg);

/** What happened to a namespace. */
enum spio_nvme_ns_event {
	SPIO_NVME_NS_ADDED,   /**< became active */
	SPIO_NVME_NS_REMOVED, /**< no longer active; the object stays valid until detach */
	SPIO_NVME_NS_RESIZED, /**< size or format changed */
};

/** Called on the admin thread for each namespace change the driver found. */
typedef void (*spio_nvme_ns_change_cb)(void *cb_arg, struct spio_nvme_ctrlr *ctrlr, uint32_t nsid,
				       enum spio_nvme_ns_event event);

/** Set the namespace change callback (one per controller; NULL removes it). Admin thread. */
void spio_nvme_ctrlr_register_ns_change_callback(struct spio_nvme_ctrlr *ctrlr,
						 spio_nvme_ns_change_cb cb, void *cb_arg);

/**
 * Process the admin queue now: completions, keep-alive, timeouts. The
 * controller's poller does this; call it only to drive a controller from
 * your own loop. Admin thread.
 * \return completions processed (>= 0), or -ENXIO when the admin connection
 *         is lost (reset the controller).
 */
int32_t spio_nvme_ctrlr_process_admin_completions(struct spio_nvme_ctrlr *ctrlr);

/** True once the controller failed (connection lost, fatal status) until a reset succeeds. Any
 * thread. */
bool spio_nvme_ctrlr_is_failed(const struct spio_nvme_ctrlr *ctrlr);

/** Called once a reset finished: 0, or the reconnect's error (the controller stays failed). */
typedef void (*spio_nvme_reset_cb)(void *cb_arg, int status);

/**
 * Reset a controller: fail every outstanding admin command once, reconnect
 * the admin queue and enable the controller again, re-read its data and
 * namespaces. Every I/O qpair of the controller disconnects itself at its
 * next poll (failing its outstanding commands once) and must be reconnected
 * by its thread with spio_nvme_qpair_connect_async(). Admin thread.
 * \return 0 if started; -EINVAL; -EBUSY (a reset or detach is under way); -EXDEV.
 */
int spio_nvme_ctrlr_reset_async(struct spio_nvme_ctrlr *ctrlr, spio_nvme_reset_cb cb, void *cb_arg);

/** Task form of spio_nvme_ctrlr_reset_async(). \return 0, its errors, -EPERM outside a task. */
int spio_nvme_ctrlr_reset_await(struct spio_nvme_ctrlr *ctrlr);

/** Blocking form of spio_nvme_ctrlr_reset_async() (see spio_nvme_connect()). */
int spio_nvme_ctrlr_reset(struct spio_nvme_ctrlr *ctrlr);

/*
 * Admin commands. Admin thread. Each returns 0 if submitted (cb runs later),
 * -EINVAL for bad arguments, -ENXIO when the controller is failed or being
 * reset, -ENOMEM when the admin queue is full. Payloads may be any memory.
 */

/** Submit any admin command; the driver sets its command id and data pointer. */
int spio_nvme_ctrlr_cmd_admin_raw(struct spio_nvme_ctrlr *ctrlr, const struct spio_nvme_cmd *cmd,
				  void *buf, uint32_t len, spio_nvme_cmd_cb cb, void *cb_arg);

/** Identify (CNS `cns`, controller id `cntid`, namespace `nsid`) into `payload` of `size` bytes (<=
 * 4096). */
int spio_nvme_ctrlr_cmd_identify(struct spio_nvme_ctrlr *ctrlr, uint8_t cns, uint16_t cntid,
				 uint32_t nsid, void *payload, uint32_t size, spio_nvme_cmd_cb cb,
				 void *cb_arg);

/** Get Log Page `lid` for `nsid` (SPIO_NVME_GLOBAL_NS_TAG for all) at byte `offset`, `size` bytes
 * (multiple of 4). */
int spio_nvme_ctrlr_cmd_get_log_page(struct spio_nvme_ctrlr *ctrlr, uint8_t lid, uint32_t nsid,
				     void *payload, uint32_t size, uint64_t offset,
				     spio_nvme_cmd_cb cb, void *cb_arg);

/** Get Features `fid` (cdw11 as the feature needs); the value is in cpl->cdw0. */
int spio_nvme_ctrlr_cmd_get_feature(struct spio_nvme_ctrlr *ctrlr, uint8_t fid, uint32_t cdw11,
				    void *payload, uint32_t size, spio_nvme_cmd_cb cb,
				    void *cb_arg);

/** Set Features `fid` with cdw11 / cdw12 and an optional payload. */
int spio_nvme_ctrlr_cmd_set_feature(struct spio_nvme_ctrlr *ctrlr, uint8_t fid, uint32_t cdw11,
				    uint32_t cdw12, void *payload, uint32_t size,
				    spio_nvme_cmd_cb cb, void *cb_arg);

/**
 * Abort the command `cid` on `qpair` (NULL: the admin queue). Completion
 * cdw0 bit 0 is 0 when the controller aborted it. The aborted command still
 * completes on its own queue, once.
 */
int spio_nvme_ctrlr_cmd_abort(struct spio_nvme_ctrlr *ctrlr, struct spio_nvme_qpair *qpair,
			      uint16_t cid, spio_nvme_cmd_cb cb, void *cb_arg);

/**
 * Task form of spio_nvme_ctrlr_cmd_admin_raw(): `*cpl` (optional) receives the completion.
 * \return 0; -EIO when the controller reported an error (see *cpl); -ENXIO
 *         when the command was lost with its connection; start errors; -EPERM outside a task.
 */
int spio_nvme_ctrlr_cmd_admin_await(struct spio_nvme_ctrlr *ctrlr, const struct spio_nvme_cmd *cmd,
				    void *buf, uint32_t len, struct spio_nvme_cpl *cpl);

/*
 * Namespaces: geometry as last identified. Any thread that holds the
 * namespace (see spio_nvme_ctrlr_get_ns()).
 */

uint32_t spio_nvme_ns_get_id(const struct spio_nvme_ns *ns);
struct spio_nvme_ctrlr *spio_nvme_ns_get_ctrlr(const struct spio_nvme_ns *ns);
/** Identify Namespace data. */
const struct spio_nvme_ns_data *spio_nvme_ns_get_data(const struct spio_nvme_ns *ns);
/** Number of logical blocks (NSZE). */
uint64_t spio_nvme_ns_get_num_sectors(const struct spio_nvme_ns *ns);
/** Bytes of data per logical block. */
uint32_t spio_nvme_ns_get_sector_size(const struct spio_nvme_ns *ns);
/** Bytes per block including interleaved metadata (extended LBA format), else the sector size. */
uint32_t spio_nvme_ns_get_extended_sector_size(const struct spio_nvme_ns *ns);
/** Size in bytes: sectors x sector size. */
uint64_t spio_nvme_ns_get_size(const struct spio_nvme_ns *ns);
/** Metadata bytes per block (0 if none). */
uint32_t spio_nvme_ns_get_md_size(const struct spio_nvme_ns *ns);
/** True if metadata is interleaved with the data (extended LBA). */
bool spio_nvme_ns_supports_extended_lba(const struct spio_nvme_ns *ns);
/** Protection information type: 0 (none) to 3. */
uint32_t spio_nvme_ns_get_pi_type(const struct spio_nvme_ns *ns);
/** The namespace UUID (descriptor list), or NULL when it has none. */
const uint8_t *spio_nvme_ns_get_uuid(const struct spio_nvme_ns *ns);
/** The NGUID (16 bytes), or NULL when it is all zero. */
const uint8_t *spio_nvme_ns_get_nguid(const struct spio_nvme_ns *ns);
/** The EUI-64 (big-endian as on the wire, as a number), or 0 when it has none. */
uint64_t spio_nvme_ns_get_eui64(const struct spio_nvme_ns *ns);
/** Optimal I/O boundary in blocks (NOIOB), 0 if none. */
uint32_t spio_nvme_ns_get_optimal_io_boundary(const struct spio_nvme_ns *ns);
/** Largest transfer of one command in bytes (the controller's). */
uint32_t spio_nvme_ns_get_max_io_xfer_size(const struct spio_nvme_ns *ns);

/*
 * I/O queue pairs
 */

/** Options of one I/O qpair. */
struct spio_nvme_io_qpair_opts {
	/** sizeof(struct spio_nvme_io_qpair_opts) as the caller knows it. */
	size_t opts_size;
	/** Queue entries (the command slots are one fewer); default: the controller option. */
	uint32_t io_queue_size;
};

/** Fill `opts` with the controller's defaults. Any thread. */
void spio_nvme_ctrlr_get_default_io_qpair_opts(const struct spio_nvme_ctrlr *ctrlr,
					       struct spio_nvme_io_qpair_opts *opts,
					       size_t opts_size);

/**
 * Allocate an I/O qpair (not yet connected; see spio_nvme_qpair_connect_async).
 * It belongs to the calling spio thread. Any spio thread.
 * \return the qpair, or NULL with errno: EINVAL (bad options; a size the
 *         controller cannot take), EBUSY (no free queue id), ENXIO (controller
 *         failed or detaching), ENOMEM, EPERM (not on a spio thread).
 */
struct spio_nvme_qpair *spio_nvme_ctrlr_alloc_io_qpair(struct spio_nvme_ctrlr *ctrlr,
						       const struct spio_nvme_io_qpair_opts *opts,
						       size_t opts_size);

/** Called when a qpair connect finished: 0, or the error. */
typedef void (*spio_nvme_qpair_connect_cb)(void *cb_arg, struct spio_nvme_qpair *qpair, int status);

/**
 * Connect (or, after a disconnect or a controller reset, reconnect) an I/O
 * qpair: its own connection and fabrics connect to the controller (PCIe:
 * Create I/O CQ and SQ, run by the admin thread; a reconnect first waits for
 * the previous queues' deletion). Progress is made by polling the qpair (its
 * poll group's poller, or spio_nvme_qpair_process_completions). On the
 * qpair's thread.
 * \return 0 if started; -EINVAL; -EALREADY (connected or connecting); -ENXIO
 *         (controller failed or resetting: retry after the reset).
 */
int spio_nvme_qpair_connect_async(struct spio_nvme_qpair *qpair, spio_nvme_qpair_connect_cb cb,
				  void *cb_arg);

/** Task form of spio_nvme_qpair_connect_async(). \return 0, its errors, -EPERM outside a task. */
int spio_nvme_qpair_connect_await(struct spio_nvme_qpair *qpair);

/**
 * Blocking form: connect and poll the qpair until connected (no poll group
 * needed). For PCIe the admin thread creates the queues: from a task the
 * call yields; on the admin thread itself it polls that thread, so, as
 * spio_nvme_connect(), not from inside a poller or message of it; on any
 * other thread it only gives the CPU away. \return 0 or the errors of
 * spio_nvme_qpair_connect_async() and its callback.
 */
int spio_nvme_ctrlr_connect_io_qpair(struct spio_nvme_ctrlr *ctrlr, struct spio_nvme_qpair *qpair);

/**
 * Disconnect a qpair: its outstanding commands complete with
 * ABORTED_SQ_DELETION, once; a connect under way completes with
 * -ECONNABORTED. It can be connected again. On its thread. PCIe: the queues
 * are deleted on the device by the admin thread afterwards; the outstanding
 * commands are held (never resent) and fail only once the device is done
 * with their buffers (queue deleted, controller disabled or device gone), in
 * a later process call of the qpair or its poll group; ring memory is freed
 * only once the device let go of it.
 */
void spio_nvme_ctrlr_disconnect_io_qpair(struct spio_nvme_qpair *qpair);

/**
 * Free a qpair (disconnecting it first; its outstanding commands complete
 * with ABORTED_SQ_DELETION before this returns). Leaves its poll group. On
 * its thread. PCIe: returns only once the device is done with those
 * commands (their queue deleted or the controller disabled), letting the
 * thread run meanwhile when it is the admin thread (so not from a poller or
 * message of that thread with commands outstanding).
 * \return 0; -EINVAL; -EBUSY when called from one of its own completion
 *         callbacks; -ETIMEDOUT (PCIe) when the device was not done within two
 *         admin timeouts plus the connect timeout: nothing is freed; reset the
 *         controller and free again.
 */
int spio_nvme_ctrlr_free_io_qpair(struct spio_nvme_qpair *qpair);

/**
 * Process the qpair: send what is queued, receive, complete up to
 * `max_completions` commands (0: no limit beyond the queue depth). On its thread.
 * \return completions (>= 0); -ENXIO when the qpair is disconnected (its
 *         outstanding commands have been failed); -EINVAL.
 */
int32_t spio_nvme_qpair_process_completions(struct spio_nvme_qpair *qpair,
					    uint32_t max_completions);

/** True while the qpair is connected and usable. On its thread. */
bool spio_nvme_qpair_is_connected(const struct spio_nvme_qpair *qpair);

/** The qpair's queue id (1..), 0 for the admin queue. Any thread while it lives. */
uint16_t spio_nvme_qpair_get_id(const struct spio_nvme_qpair *qpair);

/** Commands submitted and not yet completed. On its thread. */
uint32_t spio_nvme_qpair_get_num_outstanding(const struct spio_nvme_qpair *qpair);

/*
 * I/O commands. On the qpair's thread. Each returns 0 if queued (cb runs
 * later, once), -EINVAL (bad arguments, a range beyond the namespace, a
 * transfer beyond the maximum), -ENXIO (qpair not connected), -ENOMEM (all
 * command slots busy: retry after completions). `io_flags` are
 * SPIO_NVME_IO_FLAGS_* (FUA, limited retry), placed in cdw12.
 */

#define SPIO_NVME_IO_FLAGS_FORCE_UNIT_ACCESS (1u << 30)
#define SPIO_NVME_IO_FLAGS_LIMITED_RETRY (1u << 31)

int spio_nvme_ns_cmd_read(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, void *buf,
			  uint64_t lba, uint32_t lba_count, spio_nvme_cmd_cb cb, void *cb_arg,
			  uint32_t io_flags);
int spio_nvme_ns_cmd_write(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, void *buf,
			   uint64_t lba, uint32_t lba_count, spio_nvme_cmd_cb cb, void *cb_arg,
			   uint32_t io_flags);
/** Vectored read: `iov` (iovcnt entries, together lba_count blocks) must live until cb. */
int spio_nvme_ns_cmd_readv(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, uint64_t lba,
			   uint32_t lba_count, const struct iovec *iov, int iovcnt,
			   spio_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags);
/** Vectored write: `iov` (iovcnt entries, together lba_count blocks) must live until cb. */
int spio_nvme_ns_cmd_writev(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, uint64_t lba,
			    uint32_t lba_count, const struct iovec *iov, int iovcnt,
			    spio_nvme_cmd_cb cb, void *cb_arg, uint32_t io_flags);
/** Compare `buf` with the blocks; a mismatch completes with media error COMPARE_FAILURE. */
int spio_nvme_ns_cmd_compare(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, void *buf,
			     uint64_t lba, uint32_t lba_count, spio_nvme_cmd_cb cb, void *cb_arg,
			     uint32_t io_flags);
int spio_nvme_ns_cmd_flush(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
			   spio_nvme_cmd_cb cb, void *cb_arg);
int spio_nvme_ns_cmd_write_zeroes(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
				  uint64_t lba, uint32_t lba_count, spio_nvme_cmd_cb cb,
				  void *cb_arg, uint32_t io_flags);
/**
 * Dataset Management with `num_ranges` (1..256) ranges; `type` is cdw11
 * (SPIO_NVME_DSM_ATTR_DEALLOCATE to deallocate). The ranges are copied.
 */
int spio_nvme_ns_cmd_dataset_management(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
					uint32_t type, const struct spio_nvme_dsm_range *ranges,
					uint16_t num_ranges, spio_nvme_cmd_cb cb, void *cb_arg);
/** Submit any I/O command on `qpair` (nsid and fields as given; the driver sets cid and data
 * pointer). */
int spio_nvme_ctrlr_cmd_io_raw(struct spio_nvme_ctrlr *ctrlr, struct spio_nvme_qpair *qpair,
			       const struct spio_nvme_cmd *cmd, void *buf, uint32_t len,
			       spio_nvme_cmd_cb cb, void *cb_arg);

/*
 * _await twins of the I/O commands. From a task on the qpair's thread, with
 * the qpair in a poll group of that thread (something must poll it while
 * the task waits). `cpl` (optional) receives the completion.
 * \return 0; -EIO when the controller reported an error (*cpl tells which;
 *         -EILSEQ for a compare mismatch); -ENXIO when the command was lost
 *         with its connection; the submit function's errors; -EPERM outside a task.
 */

int spio_nvme_ns_cmd_read_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, void *buf,
				uint64_t lba, uint32_t lba_count, uint32_t io_flags,
				struct spio_nvme_cpl *cpl);
int spio_nvme_ns_cmd_write_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair, void *buf,
				 uint64_t lba, uint32_t lba_count, uint32_t io_flags,
				 struct spio_nvme_cpl *cpl);
int spio_nvme_ns_cmd_readv_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
				 uint64_t lba, uint32_t lba_count, const struct iovec *iov,
				 int iovcnt, uint32_t io_flags, struct spio_nvme_cpl *cpl);
int spio_nvme_ns_cmd_writev_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
				  uint64_t lba, uint32_t lba_count, const struct iovec *iov,
				  int iovcnt, uint32_t io_flags, struct spio_nvme_cpl *cpl);
int spio_nvme_ns_cmd_compare_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
				   void *buf, uint64_t lba, uint32_t lba_count, uint32_t io_flags,
				   struct spio_nvme_cpl *cpl);
int spio_nvme_ns_cmd_flush_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
				 struct spio_nvme_cpl *cpl);
int spio_nvme_ns_cmd_write_zeroes_await(struct spio_nvme_ns *ns, struct spio_nvme_qpair *qpair,
					uint64_t lba, uint32_t lba_count, uint32_t io_flags,
					struct spio_nvme_cpl *cpl);
int spio_nvme_ns_cmd_dataset_management_await(struct spio_nvme_ns *ns,
					      struct spio_nvme_qpair *qpair, uint32_t type,
					      const struct spio_nvme_dsm_range *ranges,
					      uint16_t num_ranges, struct spio_nvme_cpl *cpl);

/*
 * Poll groups: all the qpairs of one spio thread polled from one poller.
 */

/**
 * Create a poll group on the calling spio thread. It registers a poller
 * there that processes every qpair in the group and lets the thread sleep
 * until one of their sockets has data (or, for PCIe qpairs in interrupt
 * mode, the device posts a completion). A group holding a polled PCIe qpair
 * never sleeps. On a spio thread.
 * \return the group, or NULL with errno EPERM (not on a spio thread) or ENOMEM.
 */
struct spio_nvme_poll_group *spio_nvme_poll_group_create(void);

/**
 * Add a qpair of this thread (connected or not) to the group; it is polled
 * from then on. On the group's thread. \return 0; -EINVAL (NULL, another
 * thread's qpair); -EEXIST (already in a group).
 */
int spio_nvme_poll_group_add(struct spio_nvme_poll_group *group, struct spio_nvme_qpair *qpair);

/** Remove a qpair from its group. \return 0; -EINVAL; -ENOENT (not in this group). */
int spio_nvme_poll_group_remove(struct spio_nvme_poll_group *group, struct spio_nvme_qpair *qpair);

/**
 * Called from a group's poll for a qpair that lost its connection (after
 * its outstanding commands were failed): reconnect it, or free it.
 */
typedef void (*spio_nvme_disconnected_qpair_cb)(void *cb_arg, struct spio_nvme_qpair *qpair);

/** Set the group's disconnect callback (NULL: none). On the group's thread. */
void spio_nvme_poll_group_set_disconnected_cb(struct spio_nvme_poll_group *group,
					      spio_nvme_disconnected_qpair_cb cb, void *cb_arg);

/**
 * Poll every qpair of the group once (the group's poller calls this).
 * \return completions processed. On the group's thread.
 */
int64_t spio_nvme_poll_group_process_completions(struct spio_nvme_poll_group *group);

/** Destroy an empty group. \return 0; -EINVAL; -EBUSY (qpairs remain). On its thread. */
int spio_nvme_poll_group_destroy(struct spio_nvme_poll_group *group);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_NVME_H */
