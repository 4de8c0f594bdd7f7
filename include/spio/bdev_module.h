/*
 * Block devices: the module's view (how to write a bdev module).
 *
 * A module defines a `struct spio_bdev_module` and registers it at load time
 * with SPIO_BDEV_MODULE_REGISTER. For each device it fills a `struct
 * spio_bdev` (usually embedded in its own per-device struct, found again
 * through `ctxt`) and calls spio_bdev_register(). The core validates every
 * I/O before calling fn_table->submit_request(); the module completes each
 * I/O exactly once with spio_bdev_io_complete(), from any thread and at any
 * time (inline in submit_request is fine: the core defers the user callback).
 * See docs/bdev_module.md.
 */
#ifndef SPIO_BDEV_MODULE_H
#define SPIO_BDEV_MODULE_H

#include "spio/json_val.h"
#include "spio/thread.h"

#include "spio/bdev.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spio_bdev_desc;
struct spio_bdev_lba_lock;

/**
 * A bdev module. Static storage; registered with SPIO_BDEV_MODULE_REGISTER.
 *
 * Life cycle, all on the thread that runs spio_bdev_initialize() /
 * spio_bdev_finish() (the app thread under the app framework):
 *  1. module_init() of every module, in registration order. A module with
 *     `async_init` finishes later with spio_bdev_module_init_done().
 *  2. Once every module is initialised: init_complete() of every module.
 *  3. Bdevs come and go; each new one is examined (examine_config, then
 *     examine_disk).
 *  4. spio_bdev_finish(): fini_start() of every module, then every bdev is
 *     unregistered (newest first), then module_fini() of each module in turn;
 *     a module with `async_fini` ends its fini with spio_bdev_module_fini_done().
 */
struct spio_bdev_module {
	/** Unique name ("malloc"). */
	const char *name;
	/**
	 * Initialise the module: 0 or a negative errno (the layer's init then
	 * fails, and the modules already initialised are finished). NULL:
	 * nothing to do. With `async_init`, a 0 return means "started": the
	 * module must call spio_bdev_module_init_done() exactly once, now or
	 * later, on the initialising thread.
	 */
	int (*module_init)(void);
	/** module_init() completes through spio_bdev_module_init_done(). */
	bool async_init;
	/** Called once every module finished its init. NULL: nothing. */
	void (*init_complete)(void);
	/**
	 * Called at the start of spio_bdev_finish(), before any bdev is
	 * unregistered (e.g. to stop creating bdevs). NULL: nothing.
	 */
	void (*fini_start)(void);
	/**
	 * fini_start() completes through spio_bdev_module_fini_start_done(): no
	 * bdev is unregistered before it (e.g. to unload a store on a bdev while
	 * the bdev is still there).
	 */
	bool async_fini_start;
	/**
	 * Called by spio_bdev_finish() after every bdev is gone. NULL: nothing.
	 * With `async_fini`, the module must call spio_bdev_module_fini_done()
	 * once, now or later, on the finishing thread; the next module's fini
	 * waits for it.
	 */
	void (*module_fini)(void);
	/** module_fini() completes through spio_bdev_module_fini_done(). */
	bool async_fini;
	/** Bytes of per-I/O context the module needs (spio_bdev_io_get_driver_ctx()). NULL: 0. */
	size_t (*get_ctx_size)(void);
	/**
	 * Write module-wide configuration entries ({"method", "params"} objects
	 * into the "bdev" subsystem's array) that must precede the bdevs' own.
	 * NULL: none.
	 */
	void (*config_json)(struct spio_json_write_ctx *w);
	/**
	 * First examine phase: look at a newly registered bdev (every module's,
	 * this one's too) using only configuration, no I/O, and claim it if the
	 * configuration says so. Synchronous: must call
	 * spio_bdev_module_examine_done() before returning. Called on the
	 * registering thread just after spio_bdev_register() succeeded. NULL:
	 * no config phase.
	 */
	void (*examine_config)(struct spio_bdev *bdev);
	/**
	 * Second phase, after every module's examine_config: may read the bdev
	 * (a label, a superblock) and build on it. If a module claimed the bdev
	 * in the config phase, only that module's examine_disk runs. Must end
	 * with spio_bdev_module_examine_done(), now or later, on any spio
	 * thread. NULL: no disk phase.
	 */
	void (*examine_disk)(struct spio_bdev *bdev);
	/** Private: registry link. */
	struct spio_bdev_module *next_;
	/** Private: where the module is in its life cycle. */
	int internal_state_;
};

/**
 * End an `async_init` module's init (see module_init). `rc` 0 or a negative
 * errno, which fails the layer's init. On the initialising thread.
 * A call for a module that is not initialising is logged and ignored.
 */
void spio_bdev_module_init_done(struct spio_bdev_module *module, int rc);

/**
 * End an `async_fini_start` module's fini_start (SPDK's
 * spdk_bdev_module_fini_start_done); bdevs are unregistered once every such
 * module called it. On the finishing thread, now or later.
 */
void spio_bdev_module_fini_start_done(void);

/**
 * End an `async_fini` module's fini (see module_fini); the next module's
 * fini then runs, from a message. On the finishing thread. A call for a
 * module that is not finishing is logged and ignored.
 */
void spio_bdev_module_fini_done(struct spio_bdev_module *module);

/*
 * RPC helpers for modules: one implementation of the answers every create
 * and delete method gives.
 */
struct spio_jsonrpc_request;
struct spio_rpc_param;

/** A module's create function, its opts struct passed as `opts`. */
typedef int (*spio_bdev_opts_create_fn)(const void *opts, struct spio_bdev **bdev, char *err,
					size_t err_len);

/**
 * Serve a create RPC whose parameters decode straight into the module's
 * public opts struct: decode `params` with `decoders` into `opts` (filled
 * with the defaults by the caller), call `create`, answer the new bdev's
 * name or the error (-32602 for bad parameters, else create's errno with
 * its message), and free the strings decoded into `opts`. On the RPC
 * server's thread, from a method handler; `opts` is the caller's, read
 * during the call only.
 */
void spio_bdev_rpc_create(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			  const struct spio_rpc_param *decoders, size_t n, void *opts,
			  spio_bdev_opts_create_fn create);

/** A delete function (spio_bdev_malloc_delete, ...). */
typedef int (*spio_bdev_delete_fn)(const char *name, spio_bdev_delete_cb cb, void *cb_arg);

/**
 * Answer a create RPC: the new bdev's name when `rc` is 0, else the error
 * `rc` with `msg` (NULL or empty: strerror(-rc)). On the RPC server's
 * thread; `bdev` is only read.
 */
void spio_bdev_rpc_send_create_result(struct spio_jsonrpc_request *req, int rc,
				      const struct spio_bdev *bdev, const char *msg);

/**
 * Serve a delete RPC: params {"name"}, answer true once the bdev is gone, or
 * -32602 / the delete error.
 */
void spio_bdev_rpc_delete(struct spio_jsonrpc_request *req, const struct spio_json_val *params,
			  spio_bdev_delete_fn del);

/**
 * End one examine_config() or examine_disk() call of `module`. When no
 * examine is pending any more, spio_bdev_wait_for_examine() callers are
 * answered. Any spio thread.
 */
void spio_bdev_module_examine_done(struct spio_bdev_module *module);

/** Register a module (load time, through SPIO_BDEV_MODULE_REGISTER). */
void spio_bdev_module_list_add(struct spio_bdev_module *module);

/** Register the module variable `module` when the program or library loads. */
#define SPIO_BDEV_MODULE_REGISTER(module)                                                      \
	__attribute__((constructor(205))) static void spio_bdev_module_register_##module(void) \
	{                                                                                      \
		spio_bdev_module_list_add(&(module));                                          \
	}

/** Find a registered module by name; NULL if none. */
struct spio_bdev_module *spio_bdev_module_find(const char *name);

/** Functions a module provides for each bdev; static storage. */
struct spio_bdev_fn_table {
	/**
	 * Free the device: called once, on the thread that called
	 * spio_bdev_unregister(), after every descriptor and channel is gone.
	 * The `struct spio_bdev` may be freed here. Returns 0 (errors are logged).
	 */
	int (*destruct)(void *ctxt);
	/** Start an I/O (already validated); complete it with spio_bdev_io_complete(). */
	void (*submit_request)(struct spio_io_channel *ch, struct spio_bdev_io *bdev_io);
	/** True if the device supports `type`. */
	bool (*io_type_supported)(void *ctxt, enum spio_bdev_io_type type);
	/**
	 * The calling thread's channel to the module's own io_device, handed to
	 * submit_request; the core puts it when the bdev channel goes. NULL:
	 * the module needs none (submit_request gets NULL).
	 */
	struct spio_io_channel *(*get_io_channel)(void *ctxt);
	/** Write the members of bdev_get_bdevs' "driver_specific" object. NULL: none. */
	void (*dump_info_json)(void *ctxt, struct spio_json_write_ctx *w);
	/** Write the {"method", "params"} object that recreates this bdev. NULL: none. */
	void (*write_config_json)(struct spio_bdev *bdev, struct spio_json_write_ctx *w);
};

/**
 * Most iovecs a child of a split I/O carries; a child that would need more
 * is cut short at a block boundary (one block needing more fails the I/O).
 */
#define SPIO_BDEV_IO_CHILD_IOVS 32

enum spio_bdev_status_internal {
	SPIO_BDEV_STATUS_INVALID = 0,
	SPIO_BDEV_STATUS_READY,
	SPIO_BDEV_STATUS_REMOVING,
};

/**
 * A block device, filled by the module before spio_bdev_register() and
 * not changed after (except `internal`, which is the core's).
 */
struct spio_bdev {
	/** Module's typed data, handed to the fn_table callbacks. */
	void *ctxt;
	/** Unique name; owned by the module, valid until destruct. */
	char *name;
	/** Product name ("Malloc disk"); owned by the module. */
	char *product_name;
	/** Block size in bytes (> 0). */
	uint32_t blocklen;
	/** Number of blocks (> 0). */
	uint64_t blockcnt;
	/** Write unit in blocks; 0 is taken as 1. */
	uint32_t write_unit_size;
	/** Optimal I/O boundary in blocks; 0: none. */
	uint32_t optimal_io_boundary;
	/**
	 * Split reads and writes that cross a multiple of optimal_io_boundary
	 * into one child I/O per piece: the module never sees such an I/O.
	 */
	bool split_on_optimal_io_boundary;
	/** Largest read or write in blocks the module accepts (larger ones are split); 0: no limit.
	 */
	uint32_t max_rw_size;
	/**
	 * Most iovec segments per read or write the module accepts (capped at
	 * SPIO_BDEV_IO_CHILD_IOVS when splitting); 0: no limit. Larger requests
	 * are split.
	 */
	uint32_t max_num_segments;
	/** Largest single segment in bytes; longer iovecs are cut. 0: no limit. */
	uint32_t max_segment_size;
	/** Required buffer alignment in bytes (power of two); 0 or 1: none. */
	uint32_t required_alignment;
	/** Physical block size in bytes (SPDK's phys_blocklen); 0: the same as blocklen. */
	uint32_t phys_blocklen;
	/**
	 * SPDK's write and unmap hints, in blocks, as an NVMe namespace reports
	 * them (NPWA, NPWG, NOWS, NPDA, NPDG); 0: none. Reported by
	 * bdev_get_bdevs for consumers that lay out their writes; the bdev
	 * layer itself does not act on them.
	 */
	uint32_t preferred_write_alignment;
	uint32_t preferred_write_granularity;
	uint32_t optimal_write_size;
	uint32_t preferred_unmap_alignment;
	uint32_t preferred_unmap_granularity;
	/** The NUMA node the bdev's memory or device is on, if the module knows it (id -1: any). */
	struct {
		int32_t id;
		bool id_valid;
	} numa;
	/** UUID; all-zero: generated at registration. */
	struct spio_uuid uuid;
	/** The module that owns the bdev. */
	struct spio_bdev_module *module;
	/** The module's functions. */
	const struct spio_bdev_fn_table *fn_table;

	/** Core bookkeeping; do not touch. */
	struct {
		enum spio_bdev_status_internal status;
		struct spio_bdev *next;
		struct spio_bdev_alias *aliases;
		struct spio_bdev_desc *descs;
		uint32_t ndescs;
		struct spio_thread *unregister_thread;
		struct spio_msg unregister_msg;
		void (*unregister_cb)(void *cb_arg, int rc);
		void *unregister_cb_arg;
		/** LBA range locks held, and lock requests waiting for them. */
		struct spio_bdev_lba_lock *locked;
		struct spio_bdev_lba_lock *lock_waiters;
		/** Module holding the claim, or NULL. */
		struct spio_bdev_module *claim_module;
		/** Statistics of channels already destroyed. */
		struct spio_bdev_io_stat stat_closed;
		/** QoS limiter and latency histogram settings, once set (under the bdev layer's
		 * lock). */
		struct bdev_qos *qos;
		struct bdev_hist_cfg *hist;
	} internal;
};

/** The arguments of an I/O, as the module sees them. */
struct spio_bdev_io {
	/** The bdev the I/O is for. */
	struct spio_bdev *bdev;
	/** Its type. */
	enum spio_bdev_io_type type;
	struct {
		/**
		 * Data (read, write, compare; the compare half of
		 * compare_and_write); iovcnt 0 for types without data.
		 */
		struct iovec *iovs;
		int iovcnt;
		/** The write half of compare_and_write. */
		struct iovec *fused_iovs;
		int fused_iovcnt;
		uint64_t offset_blocks;
		uint64_t num_blocks;
	} u;

	/** Core bookkeeping; do not touch. */
	struct {
		struct spio_bdev_desc *desc;
		struct spio_bdev_channel *ch;
		struct spio_thread *thread;
		spio_bdev_io_completion_cb cb;
		void *cb_arg;
		enum spio_bdev_io_status status;
		uint64_t submit_tsc;
		uint64_t complete_tsc; /* set before the caller's callback runs */
		bool in_submit;
		/** A child of a split I/O: its statistics count in the parent. */
		bool is_child;
		/* How it holds its descriptor (the core's enum bdev_desc_hold). */
		uint8_t desc_hold;
		struct iovec iov[2];
		/** Links in the channel's in-flight or lock-blocked list. */
		struct spio_bdev_io *link_prev;
		struct spio_bdev_io *link_next;
		/* Hands the completion to the submitting thread from another one. */
		struct spio_msg cpl_msg;
		/* Link in the channel's list of completions made inside submit. */
		struct spio_bdev_io *cpl_next;
		/** Splitting (parent): blocks completed so far, retry entry. */
		uint64_t split_done_blocks;
		struct spio_bdev_io_wait_entry split_wait;
		/** Child: its slice of the parent's iovecs. */
		struct iovec child_iov[SPIO_BDEV_IO_CHILD_IOVS];
	} internal;

	/** Per-I/O module context (get_ctx_size() bytes). */
	uint8_t driver_ctx[] __attribute__((aligned(16)));
};

/**
 * Register a bdev filled by the module. Any spio thread, after
 * spio_bdev_initialize().
 * \return 0; -EINVAL (NULL, missing name/module/fn_table/destruct/
 *         submit_request/io_type_supported, zero blocklen or blockcnt,
 *         alignment not a power of two, layer not initialised, module's
 *         context larger than the pool's); -EEXIST (name, alias or UUID
 *         taken); -ENOMEM.
 */
int spio_bdev_register(struct spio_bdev *bdev);

/** Called when an unregistration finished (`rc` 0 or negative errno). */
typedef void (*spio_bdev_unregister_cb)(void *cb_arg, int rc);

/**
 * Start removing a bdev: every open descriptor's event_cb gets
 * SPIO_BDEV_EVENT_REMOVE on its thread; new opens fail with -ENODEV. Once
 * the last descriptor is closed and channels are released, destruct runs
 * and then `cb` (optional), both on the calling thread, never before this
 * returns. On a spio thread.
 * \return 0; -EINVAL (NULL, not on a spio thread); -ENODEV (not
 *         registered); -EBUSY (already being removed).
 */
int spio_bdev_unregister(struct spio_bdev *bdev, spio_bdev_unregister_cb cb, void *cb_arg);

/**
 * spio_bdev_unregister() of the bdev called `name` (name or alias), which
 * must belong to `module`.
 * \return 0; -EINVAL (NULL); -ENODEV (no such bdev of that module);
 *         spio_bdev_unregister()'s errors.
 */
int spio_bdev_unregister_by_name(const char *name, struct spio_bdev_module *module,
				 spio_bdev_unregister_cb cb, void *cb_arg);

/**
 * Tell the core the bdev now has `blockcnt` blocks (a grown file, a resized
 * volume). Every open descriptor gets SPIO_BDEV_EVENT_RESIZE on its own
 * thread. Shrinking while descriptors are open is refused: I/O already
 * validated against the old size could then run past the end. Any thread.
 * \return 0; -EINVAL (NULL bdev, 0 blocks); -EBUSY (shrinking an open bdev,
 *         or the bdev is being removed).
 */
int spio_bdev_notify_blockcnt_change(struct spio_bdev *bdev, uint64_t blockcnt);

/**
 * Claim the bdev for `module` (exclusive write access, as a virtual bdev
 * built on it does): afterwards nobody else can open it for writing. `desc`
 * (optional, a descriptor of the claiming module) is promoted to read-write.
 * \return 0; -EINVAL (NULL bdev or module); -EPERM (claimed already, or
 *         another descriptor is open for writing).
 */
int spio_bdev_module_claim_bdev(struct spio_bdev *bdev, struct spio_bdev_desc *desc,
				struct spio_bdev_module *module);

/** Release a claim taken with spio_bdev_module_claim_bdev(). NULL is ignored. */
void spio_bdev_module_release_bdev(struct spio_bdev *bdev);

/**
 * Add an alias (another name the bdev is found and opened by).
 * \return 0; -EINVAL (NULL/empty); -EEXIST (a bdev name or alias); -ENOMEM.
 */
int spio_bdev_alias_add(struct spio_bdev *bdev, const char *alias);

/** Remove an alias. \return 0; -EINVAL; -ENOENT (not an alias of bdev). */
int spio_bdev_alias_del(struct spio_bdev *bdev, const char *alias);

/**
 * Complete an I/O with SUCCESS, FAILED or MISCOMPARE (PENDING is taken as
 * FAILED). Any thread. On the submitting thread outside submit_request the
 * user callback runs before this returns. From inside submit_request it runs
 * on the next poll of that thread, with the channel's other such
 * completions, in the order they were made. From another thread it runs
 * later on the submitting thread. The module must not touch `bdev_io` after
 * this call. NULL is ignored.
 */
void spio_bdev_io_complete(struct spio_bdev_io *bdev_io, enum spio_bdev_io_status status);

/** The module's per-I/O context area. */
void *spio_bdev_io_get_driver_ctx(struct spio_bdev_io *bdev_io);

/** The bdev_io whose driver context is `ctx`. */
struct spio_bdev_io *spio_bdev_io_from_ctx(void *ctx);

/*
 * Bdev parts: a base bdev cut into ranges, each registered as a bdev of its
 * own (SPDK's spdk_bdev_part), the building block of split, gpt, and
 * volume-style modules. The part layer opens and claims the base for the
 * module, forwards each part's I/O to the base at the part's offset, and
 * passes a hot-remove of the base on: every part is unregistered, then the
 * module is told.
 *
 * A module using parts returns at least spio_bdev_part_io_ctx_size() from
 * its get_ctx_size (the forwarding state lives in the per-I/O context).
 * Thread rules: create and delete on a spio thread; the base descriptor is
 * opened on the thread that creates the base and closed on it, so that
 * thread must live until the base is freed.
 */
struct spio_bdev_part_base;
struct spio_bdev_part;

/** Called on the base's thread when the base bdev is being removed, after
 * every part was asked to unregister. Release the base from here or later. */
typedef void (*spio_bdev_part_base_remove_cb)(struct spio_bdev_part_base *base, void *ctx);

/** Called on the base's thread when the base is freed (closed, unclaimed). */
typedef void (*spio_bdev_part_base_free_cb)(void *ctx);

/** Per-I/O context bytes the part layer needs from the module. */
size_t spio_bdev_part_io_ctx_size(void);

/**
 * Open the bdev `base_name` (read-write, claimed for `module`) as the base of
 * parts. The base lives while the creator's reference (dropped with
 * spio_bdev_part_base_release()) or any part holds it.
 * \param remove_cb optional, see spio_bdev_part_base_remove_cb.
 * \param free_cb optional, see spio_bdev_part_base_free_cb.
 * \param ctx handed to both; the caller's, never freed by the part layer.
 * \return 0 and *base; -EINVAL (NULL argument, not on a spio thread, the
 *         module's context too small); -ENODEV (no such bdev); -EPERM
 *         (already claimed, or open for writing by someone else); -ENOMEM.
 */
int spio_bdev_part_base_create(const char *base_name, struct spio_bdev_module *module,
			       spio_bdev_part_base_remove_cb remove_cb,
			       spio_bdev_part_base_free_cb free_cb, void *ctx,
			       struct spio_bdev_part_base **base);

/**
 * Drop the creator's reference. The base is closed, unclaimed and freed (and
 * free_cb runs) once no part is left. On the base's thread. NULL is ignored.
 */
void spio_bdev_part_base_release(struct spio_bdev_part_base *base);

/** The base bdev (valid while the base lives). */
struct spio_bdev *spio_bdev_part_base_get_bdev(const struct spio_bdev_part_base *base);

/**
 * Register a part: blocks [offset_blocks, offset_blocks + num_blocks) of the
 * base as bdev `name` (copied), with the base's block size, alignment and
 * supported I/O types. `product_name` (copied) is shown by bdev_get_bdevs.
 * On the base's thread.
 * \return 0 and *part; -EINVAL (NULL argument, empty range, range past the
 *         base's end, base being removed); -EEXIST (name taken); -ENOMEM;
 *         spio_bdev_register()'s errors.
 */
int spio_bdev_part_create(struct spio_bdev_part_base *base, const char *name,
			  uint64_t offset_blocks, uint64_t num_blocks, const char *product_name,
			  struct spio_bdev_part **part);

/**
 * Unregister a part (openers get SPIO_BDEV_EVENT_REMOVE); `cb` (optional)
 * runs on this thread once it is gone, and the part's memory is freed.
 * \return 0; spio_bdev_unregister()'s errors.
 */
int spio_bdev_part_delete(struct spio_bdev_part *part, spio_bdev_unregister_cb cb, void *cb_arg);

/** The part's bdev. */
struct spio_bdev *spio_bdev_part_get_bdev(struct spio_bdev_part *part);

/** The part's first block on the base. */
uint64_t spio_bdev_part_get_offset_blocks(const struct spio_bdev_part *part);

/** The base a part belongs to. */
struct spio_bdev_part_base *spio_bdev_part_get_base(const struct spio_bdev_part *part);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BDEV_MODULE_H */
