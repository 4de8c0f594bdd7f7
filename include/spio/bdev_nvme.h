/*
 * The "nvme" bdev module: NVMe-oF controllers attached by name, each active
 * namespace a bdev (SPDK's bdev_nvme, NVMe/TCP for now).
 *
 * Attaching connects to the controller (spio_nvme_connect_async) and
 * registers one bdev per active namespace, named "<name>n<nsid>": block
 * size, count and UUID (NGUID, else the namespace UUID, else generated) from
 * the namespace. I/O types: read, write, flush (sent when the controller has
 * a volatile write cache, else completed at once), unmap (Dataset Management
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
 * RPCs (SPDK's names, parameters and replies): bdev_nvme_attach_controller,
 * bdev_nvme_detach_controller, bdev_nvme_get_controllers; save_config writes
 * one bdev_nvme_attach_controller entry per controller. See docs/bdev_nvme.md.
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
 * multipath MULTIPATH, everything else 0 / false / empty) for a caller that
 * knows `opts_size` bytes of the struct (sizeof(*opts)). NULL or a zero size
 * is ignored. Any thread.
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
