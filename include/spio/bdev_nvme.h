/*
 * The "nvme" bdev module: NVMe-oF controllers attached by name, each active
 * namespace a bdev (SPDK's bdev_nvme, NVMe/TCP for now).
 *
 * Attaching connects to the controller (spio_nvme_connect_async) and
 * registers one bdev per active namespace, named "<name>n<nsid>": block
 * size, count and UUID (NGUID, else the namespace UUID, else generated) from
 * the namespace. I/O types: read, write, flush (sent only with the option
 * enable_flush to a controller with a volatile write cache, else completed
 * at once, as SPDK), unmap (Dataset Management
 * deallocate), write_zeroes and compare where the controller supports them,
 * reset (a controller reset). A namespace added later becomes a bdev; one
 * removed is hot-removed (its openers get SPIO_BDEV_EVENT_REMOVE); a resized
 * one changes the bdev's size.
 *
 * I/O: each thread gets one I/O queue pair per controller, polled by one
 * poll group per thread shared by every controller. Nothing is allocated per
 * I/O except for a compare with more than one iovec (bounced).
 *
 * Failures, as SPDK: a lost connection fails the commands it carried; the
 * controller is then reset (admin queue and every thread's queue pair
 * reconnected). ctrlr_loss_timeout_sec, reconnect_delay_sec and
 * fast_io_fail_timeout_sec decide what happens while it is down (see the
 * options). No multipath: one path per controller name.
 *
 * RPCs (SPDK's names, parameters and replies): bdev_nvme_set_options,
 * bdev_nvme_attach_controller, bdev_nvme_detach_controller,
 * bdev_nvme_get_controllers; save_config writes bdev_nvme_set_options (once
 * a controller is attached or an option changed) and one
 * bdev_nvme_attach_controller entry per controller. See docs/bdev_nvme.md.
 *
 * Thread rules: attach, detach and the namespace bookkeeping run on the
 * thread that initialised the bdev layer (the app thread under the app
 * framework), which becomes every controller's admin thread. I/O on any
 * spio thread.
 */
#ifndef SPIO_BDEV_NVME_H
#define SPIO_BDEV_NVME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/bdev.h"
#include "spio/nvme.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * SPDK's multipath modes (numbered as SPDK's RPC enum). spio keeps one path
 * per controller name, which is what each mode means for a single path; a
 * second attach under an existing name is refused in every mode.
 */
enum spio_bdev_nvme_multipath {
	SPIO_BDEV_NVME_MULTIPATH_FAILOVER = 0,
	SPIO_BDEV_NVME_MULTIPATH_MULTIPATH = 1, /**< SPDK's default */
	SPIO_BDEV_NVME_MULTIPATH_DISABLE = 2,
};

/** Options of spio_bdev_nvme_attach(); fill with spio_bdev_nvme_opts_init() first. */
struct spio_bdev_nvme_opts {
	/** sizeof(struct spio_bdev_nvme_opts) as the caller knows it. */
	size_t opts_size;
	/** Controller name (required; copied), the prefix of its bdevs' names. */
	const char *name;
	/**
	 * Where the controller is: trtype TCP (others: -ENOTSUP), traddr
	 * (required), adrfam, trsvcid, subnqn (required: the discovery
	 * subsystem is refused), hostnqn (empty: the driver's default),
	 * hostaddr / hostsvcid (local address to connect from), priority.
	 */
	struct spio_nvme_transport_id trid;
	/** Ask for NVMe/TCP header / data digests. Default false. */
	bool header_digest;
	bool data_digest;
	/**
	 * Limit for connecting a queue (transport connection and fabrics
	 * connect), in microseconds, rounded up to milliseconds; 0 (default):
	 * the driver's 10 s.
	 */
	uint64_t fabrics_connect_timeout_us;
	/** I/O queues to ask the controller for, 1..65536; default 1024. */
	uint32_t num_io_queues;
	/**
	 * After the controller is lost: how long to keep reconnecting before
	 * the controller and its bdevs are deleted, in seconds; -1 forever.
	 * 0 (default): one reset, no reconnect attempts after it failed (the
	 * controller stays, failed, until detached or reset again).
	 */
	int32_t ctrlr_loss_timeout_sec;
	/** Seconds between reconnect attempts; 0 (default) only with ctrlr_loss_timeout_sec 0. */
	uint32_t reconnect_delay_sec;
	/**
	 * While reconnecting (reconnect_delay_sec > 0) I/O waits; after this
	 * many seconds since the loss it fails instead. 0 (default): waits
	 * until the controller is back or deleted. With reconnect_delay_sec 0
	 * I/O fails at once while the controller is down.
	 */
	uint32_t fast_io_fail_timeout_sec;
	/** Protection information checks: only false (spio keeps no PI). */
	bool prchk_reftag;
	bool prchk_guard;
	/** Default SPIO_BDEV_NVME_MULTIPATH_MULTIPATH; see the enum. */
	enum spio_bdev_nvme_multipath multipath;
	/** Most bdev names the attach reports (SPDK's max_bdevs), > 0; default 128. */
	uint32_t max_bdevs;
};

/**
 * Fill `opts` with the defaults (num_io_queues 1024, max_bdevs 128,
 * multipath MULTIPATH, the three reconnect options from the module's
 * options (spio_bdev_nvme_set_module_opts(), 0 by default), everything else
 * 0 / false / empty) for a caller that knows `opts_size` bytes of the struct
 * (sizeof(*opts)). NULL or a zero size is ignored. Any thread, not
 * concurrently with spio_bdev_nvme_set_module_opts().
 */
void spio_bdev_nvme_opts_init(struct spio_bdev_nvme_opts *opts, size_t opts_size);

/**
 * Result of an attach: `rc` 0 with the names of the bdevs created (`count`,
 * at most max_bdevs; valid during the call only), or a negative errno with a
 * one-line message (valid during the call) and no names.
 */
typedef void (*spio_bdev_nvme_attach_cb)(void *cb_arg, int rc, const char *msg,
					 const char *const *names, size_t count);

/**
 * Attach the controller `opts` describes under `opts->name` and create its
 * namespaces' bdevs. On the thread that initialised the bdev layer.
 *
 * \param opts only read during the call (strings copied); fields beyond
 *        opts->opts_size take the defaults.
 * \param cb called once on this thread, never before this returns 0: 0 and
 *        the bdev names; or the connect's errors (-ECONNREFUSED,
 *        -ETIMEDOUT, -EACCES, -EIO, ...); -ERANGE (more namespaces than
 *        max_bdevs: the controller stays attached, as SPDK does); -ENODEV
 *        (the bdev layer is finishing).
 * \param err optional buffer (`err_len` bytes) for the message of an error
 *        returned here (also logged).
 * \return 0 (cb will run); -EINVAL (NULL or bad options: a message names
 *         the option and its value); -ENOTSUP (a transport other than TCP;
 *         protection information checks); -EALREADY (the name is taken);
 *         -EXDEV (not on the bdev layer's thread); -ENOMEM; or
 *         spio_nvme_connect_async()'s errors. On error cb is not called.
 */
int spio_bdev_nvme_attach(const struct spio_bdev_nvme_opts *opts, spio_bdev_nvme_attach_cb cb,
			  void *cb_arg, char *err, size_t err_len);

/** What happens when a command outlives timeout_us (SPDK's enum, same numbers). */
enum spio_bdev_nvme_timeout_action {
	SPIO_BDEV_NVME_TIMEOUT_ACTION_NONE = 0,
	/**
	 * The driver drops the queue's connection (its commands fail, the
	 * module reconnects it or resets the controller): SPDK's reset in effect.
	 */
	SPIO_BDEV_NVME_TIMEOUT_ACTION_RESET = 1,
	SPIO_BDEV_NVME_TIMEOUT_ACTION_ABORT = 2, /**< not supported */
};

/** SPDK's default DH-HMAC-CHAP digests (bits 1..3: sha256, sha384, sha512). */
#define SPIO_BDEV_NVME_DHCHAP_DIGESTS_DEFAULT 0xEu
/** SPDK's default DH-HMAC-CHAP groups (bits 0..5: null, ffdhe2048 .. ffdhe8192). */
#define SPIO_BDEV_NVME_DHCHAP_DHGROUPS_DEFAULT 0x3Fu

/**
 * The module's options (SPDK's bdev_nvme_set_options, field for field), for
 * every controller attached after they are set. Fill with
 * spio_bdev_nvme_get_module_opts() first. "Default only": any other value
 * is refused (-ENOTSUP) because spio cannot do what it asks; "no effect":
 * accepted, kept and saved, for the reason given. See docs/bdev_nvme.md.
 */
struct spio_bdev_nvme_module_opts {
	/** sizeof(struct spio_bdev_nvme_module_opts) as the caller knows it. */
	size_t opts_size;
	/** NONE (default) or RESET; with NONE timeout_us must be 0. ABORT: -ENOTSUP. */
	enum spio_bdev_nvme_timeout_action action_on_timeout;
	/**
	 * Limit for an I/O command, in microseconds (rounded up to ms); 0
	 * (default): none. Needs action_on_timeout RESET.
	 */
	uint64_t timeout_us;
	/** Limit for an admin command; 0 (default): timeout_us, or the driver's 30 s if that is 0.
	 */
	uint64_t timeout_admin_us;
	/** Keep Alive Timeout asked for at connect, in ms; default 10000; 0: none. */
	uint32_t keep_alive_timeout_ms;
	/** Arbitration feature: default 0 only (spio does not set the feature). */
	uint32_t arbitration_burst;
	uint32_t low_priority_weight;
	uint32_t medium_priority_weight;
	uint32_t high_priority_weight;
	/** How often the module checks a controller for failure, in us; default 10000. */
	uint64_t nvme_adminq_poll_period_us;
	/** Default 0 only: the driver's poll groups poll as fast as possible (and sleep on idle).
	 */
	uint64_t nvme_ioq_poll_period_us;
	/**
	 * No effect: spio's queues carry io_queue_size - 1 commands and never
	 * split one; what does not fit waits in the channel without a limit.
	 * Default 0.
	 */
	uint32_t io_queue_requests;
	/** No effect (PCIe doorbell batching; NVMe/TCP sends once per poll). Default true. */
	bool delay_cmd_submit;
	/** No effect (PCIe and RDMA only). Default 4. */
	uint32_t transport_retry_count;
	/**
	 * Times one I/O goes out again (-1: no limit): after a status without
	 * DNR, or after its connection was lost with a reconnect delay set.
	 * Default 3; 0: never; below -1: -EINVAL.
	 */
	int32_t bdev_retry_count;
	/** Default 0 only (spio's NVMe/TCP sets no TCP_USER_TIMEOUT). */
	uint8_t transport_ack_timeout;
	/** Defaults for spio_bdev_nvme_opts (SPDK's rules between them apply). Default 0. */
	int32_t ctrlr_loss_timeout_sec;
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;
	/** No effect (one path per controller: no failback). Default false. */
	bool disable_auto_failback;
	/**
	 * A namespace with neither NGUID nor UUID gets SPDK's UUID (version 5
	 * of its serial number and ID) instead of a random one. Default false.
	 */
	bool generate_uuids;
	/** No effect (RDMA only). Default 0. */
	uint8_t transport_tos;
	/** Default false only (no NVMe error counters). */
	bool nvme_error_stat;
	/** No effect (RDMA only). Default 0. */
	uint32_t rdma_srq_size;
	/** Default false only (no per-path I/O statistics). */
	bool io_path_stat;
	/** Default false only (no accel framework). */
	bool allow_accel_sequence;
	/** No effect (RDMA only). Default 0. */
	uint32_t rdma_max_cq_size;
	uint16_t rdma_cm_event_timeout_ms;
	/** Default only (..._DEFAULT above): no DH-HMAC-CHAP. */
	uint32_t dhchap_digests;
	uint32_t dhchap_dhgroups;
	/** No effect (RDMA only). Default false. */
	bool rdma_umr_per_io;
	/** Default 0 only: the driver has one limit for a queue's whole connect. */
	uint32_t tcp_connect_timeout_ms;
	/**
	 * Send flush to a controller with a volatile write cache; default false
	 * (as SPDK: a flush completes at once).
	 */
	bool enable_flush;
};

/**
 * Copy the options in effect into `opts`, `opts_size` bytes of it (the
 * defaults until spio_bdev_nvme_set_module_opts() changed them). NULL or a
 * zero size is ignored. Any thread, not concurrently with a set.
 */
void spio_bdev_nvme_get_module_opts(struct spio_bdev_nvme_module_opts *opts, size_t opts_size);

/**
 * Set the module's options; controllers attached from then on use them
 * (spio_bdev_nvme_opts_init() takes the three reconnect options from them).
 * As SPDK, only while no controller is attached. Before
 * spio_bdev_initialize(), or on the bdev layer's thread.
 *
 * \param opts read during the call; fields beyond opts->opts_size keep
 *        their current values.
 * \param err optional buffer (`err_len` bytes) for the message of an error
 *        (also logged): it names the option, its value and why.
 * \return 0; -EINVAL (NULL, SPDK's rules: timeout_admin_us without
 *         timeout_us, bdev_retry_count below -1, the reconnect options);
 *         -ENOTSUP (a value spio cannot honour, see the struct); -EPERM (a
 *         controller is attached); -EXDEV (not on the bdev layer's thread).
 *         On error nothing changes.
 */
int spio_bdev_nvme_set_module_opts(const struct spio_bdev_nvme_module_opts *opts, char *err,
				   size_t err_len);

/**
 * Detach the controller `name`: its bdevs are unregistered (openers get
 * SPIO_BDEV_EVENT_REMOVE), and once the last is closed and every thread's
 * queue pair freed the controller is shut down and `cb(cb_arg, 0)` runs on
 * this thread (never before this returns). A second detach while one runs
 * waits for the same end. On the bdev layer's thread.
 *
 * \param name borrowed for the call.
 * \param path optional filter, SPDK's path id: every field that is set
 *        (non-zero trtype and adrfam, non-empty strings) must match the
 *        controller's (traddr and trsvcid case-insensitively, subnqn,
 *        hostaddr and hostsvcid exactly); NULL matches.
 * \return 0 (cb will run); -EINVAL (NULL name); -ENODEV (no controller of
 *         that name); -ENXIO (the path does not match it); -EXDEV (not on
 *         the bdev layer's thread); -ENOMEM. On error cb is not called.
 */
int spio_bdev_nvme_detach(const char *name, const struct spio_nvme_transport_id *path,
			  spio_bdev_delete_cb cb, void *cb_arg);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BDEV_NVME_H */
