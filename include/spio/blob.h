/*
 * The blobstore (SPDK's spdk/blob.h): blobs of clusters on a block device
 * (a struct spio_bs_dev, see spio/blob_bdev.h), with metadata in SPDK's
 * on-disk format, byte for byte, so images move between SPDK and spio.
 *
 * A blobstore has one metadata thread, the spio thread that initialised or
 * loaded it: every operation on the store or on blobs' metadata runs there.
 * Blob I/O runs on any spio thread through that thread's channel
 * (spio_bs_alloc_io_channel()), without locks.
 *
 * Thread rules: every function here runs on a spio thread, and its
 * callback runs later on that same thread, never from inside the call.
 * Functions called with NULL handles or off their thread log an error and,
 * where they have a callback, do nothing (there is no thread to call back on).
 */
#ifndef SPIO_BLOB_H
#define SPIO_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct spio_bs_dev;
struct spio_blob_store;
struct spio_blob;
struct spio_io_channel;
struct spio_xattr_names;

/** A blob's id: unique in its blobstore, stable across loads (SPDK's spdk_blob_id). */
typedef uint64_t spio_blob_id;

/** No blob (SPDK's SPDK_BLOBID_INVALID). */
#define SPIO_BLOBID_INVALID ((spio_blob_id)UINT64_MAX)

/** Bytes of a blobstore type (SPDK_BLOBSTORE_TYPE_LENGTH). */
#define SPIO_BLOBSTORE_TYPE_LENGTH 16

/**
 * Completion of a blobstore operation that returns nothing.
 * \param cb_arg the caller's argument.
 * \param bserrno 0 or a negative errno.
 */
typedef void (*spio_bs_op_complete)(void *cb_arg, int bserrno);

/** Completion of init / load: the blobstore on success, NULL with a negative errno otherwise. */
typedef void (*spio_bs_op_with_handle_complete)(void *cb_arg, struct spio_blob_store *bs,
						int bserrno);

/** Completion of a blob operation that returns nothing (0 or a negative errno). */
typedef void (*spio_blob_op_complete)(void *cb_arg, int bserrno);

/** Completion that returns a blob id (SPIO_BLOBID_INVALID on failure). */
typedef void (*spio_blob_op_with_id_complete)(void *cb_arg, spio_blob_id blobid, int bserrno);

/** Completion that returns an open blob (NULL on failure). */
typedef void (*spio_blob_op_with_handle_complete)(void *cb_arg, struct spio_blob *blob,
						  int bserrno);

/** How a blob's clusters are cleared when they are freed (SPDK's enum blob_clear_method). */
enum spio_blob_clear_method {
	SPIO_BLOB_CLEAR_WITH_DEFAULT, /* unmap */
	SPIO_BLOB_CLEAR_WITH_NONE,
	SPIO_BLOB_CLEAR_WITH_UNMAP,
	SPIO_BLOB_CLEAR_WITH_WRITE_ZEROES,
};

/** How a new blobstore clears its device (SPDK's enum bs_clear_method). */
enum spio_bs_clear_method {
	SPIO_BS_CLEAR_WITH_UNMAP,
	SPIO_BS_CLEAR_WITH_WRITE_ZEROES,
	SPIO_BS_CLEAR_WITH_NONE,
};

/** A blobstore type: up to 16 bytes, zero-padded, not necessarily terminated. */
struct spio_bs_type {
	char bstype[SPIO_BLOBSTORE_TYPE_LENGTH];
};

/** Options of spio_bs_init() / spio_bs_load() (SPDK's struct spdk_bs_opts). */
struct spio_bs_opts {
	/** Cluster size in bytes: a multiple of md_page_size, 1 MiB by default. Init only. */
	uint32_t cluster_sz;
	/** Md pages to reserve; UINT32_MAX (default): one per cluster. Init only. */
	uint32_t num_md_pages;
	/** Metadata operations in flight at once (accepted for SPDK's sake; not a limit here). */
	uint32_t max_md_ops;
	/** Blob I/Os a channel holds at once before -ENOMEM (default 512). */
	uint32_t max_channel_ops;
	/** How init clears the device (default unmap). Init only. */
	enum spio_bs_clear_method clear_method;
	/** Type written at init; at load, all zero accepts any, else it must match (-ENXIO). */
	struct spio_bs_type bstype;
	/** Md page size in bytes, 4096 by default (a power of two, at least 4096). Init only. */
	uint32_t md_page_size;
	/** Load only: called for every blob during load (open, then closed after the call); may be
	 * NULL. */
	spio_blob_op_with_handle_complete iter_cb_fn;
	void *iter_cb_arg;
	/** Load only: walk the metadata and rebuild the masks even after a clean unload. */
	bool force_recover;
	/** sizeof(struct spio_bs_opts) as the caller knows it. */
	size_t opts_size;
};

/**
 * Fill `opts` with the defaults; `opts_size` is sizeof(*opts) as compiled by
 * the caller (fields past it are left alone). Any thread.
 */
void spio_bs_opts_init(struct spio_bs_opts *opts, size_t opts_size);

/**
 * Make a new, empty blobstore on `dev` (SPDK's spdk_bs_init): clears the
 * device as opts->clear_method says, writes the masks and the super block
 * (not clean: the store is in use until unloaded).
 *
 * The calling spio thread becomes the blobstore's metadata thread: every
 * metadata operation (everything here but blob I/O and channels) must be
 * called on it, and their callbacks run on it, never from inside the call.
 * \param dev consumed: owned by the blobstore on success and destroyed at
 *        unload; destroyed before cb_fn on failure.
 * \param opts NULL for the defaults; read during the call only.
 * \param cb_fn gets the blobstore, or NULL and -EINVAL (bad options, a
 *        device too small, block size above the md page size), -ENOSPC (the
 *        metadata would not fit), -ENOMEM, or the device's I/O error.
 * With a NULL `dev` or `cb_fn` or off a spio thread nothing happens but an error log.
 */
void spio_bs_init(struct spio_bs_dev *dev, struct spio_bs_opts *opts,
		  spio_bs_op_with_handle_complete cb_fn, void *cb_arg);

/**
 * Open the blobstore on `dev` (SPDK's spdk_bs_load). Checks the super block
 * (signature -EILSEQ, version -ENOTSUP, CRC -EBADMSG, geometry against the
 * device -EINVAL / -ERANGE, type -ENXIO) and reads the masks; then reads the
 * metadata of every blob and checks it (CRCs, chains, clusters inside the
 * device, no cluster owned twice: -EINVAL / -ERANGE / -EBADMSG). After an
 * unclean shutdown (the clean flag is 0) or with opts->force_recover the
 * masks are instead rebuilt from the metadata found, as SPDK does, and an
 * interrupted snapshot is finished or rolled back. A refused image is never
 * written to. On success the super block is rewritten with clean = 0.
 * The calling thread becomes the metadata thread (see spio_bs_init()).
 * \param dev consumed as by spio_bs_init().
 * \param opts NULL for the defaults; only bstype, max_channel_ops, iter_cb_fn,
 *        force_recover are used.
 * \param cb_fn gets the blobstore or NULL and the error; an error log line says
 *        what is wrong (an info line for -EILSEQ and -ENXIO, the usual answer of a
 *        device that holds no blobstore or another kind).
 */
void spio_bs_load(struct spio_bs_dev *dev, struct spio_bs_opts *opts,
		  spio_bs_op_with_handle_complete cb_fn, void *cb_arg);

/**
 * Close the blobstore (SPDK's spdk_bs_unload): writes the masks and a clean
 * super block, destroys the device and frees `bs`. Every blob must be closed
 * and every channel freed first (-EBUSY otherwise, and nothing is done).
 * On the metadata thread; cb_fn runs there after `bs` is freed.
 */
void spio_bs_unload(struct spio_blob_store *bs, spio_bs_op_complete cb_fn, void *cb_arg);

/**
 * Destroy the blobstore (SPDK's spdk_bs_destroy): zero the super block so the
 * device no longer holds one, destroy the device, free `bs`. Same rules and
 * -EBUSY as spio_bs_unload().
 */
void spio_bs_destroy(struct spio_blob_store *bs, spio_bs_op_complete cb_fn, void *cb_arg);

/**
 * Record `blobid` as the super blob (a well-known blob users find again after
 * load) in the super block, written at once. On the metadata thread.
 * cb_fn: 0, -ENOENT (no such blob), or the write's error.
 */
void spio_bs_set_super(struct spio_blob_store *bs, spio_blob_id blobid, spio_bs_op_complete cb_fn,
		       void *cb_arg);

/** The super blob's id, or -ENOENT if none is set; cb_fn runs later on this thread. */
void spio_bs_get_super(struct spio_blob_store *bs, spio_blob_op_with_id_complete cb_fn,
		       void *cb_arg);

/** Cluster size in bytes. Any thread while the blobstore lives. */
uint64_t spio_bs_get_cluster_size(struct spio_blob_store *bs);
/** Md page size in bytes. */
uint64_t spio_bs_get_page_size(struct spio_blob_store *bs);
/** I/O unit size in bytes: the unit of blob I/O offsets and lengths. */
uint64_t spio_bs_get_io_unit_size(struct spio_blob_store *bs);
/** Free clusters now (metadata thread for an exact figure). */
uint64_t spio_bs_free_cluster_count(struct spio_blob_store *bs);
/** Clusters available to blobs (all but the metadata's). */
uint64_t spio_bs_total_data_cluster_count(struct spio_blob_store *bs);
/** The blobstore's type. */
struct spio_bs_type spio_bs_get_bstype(struct spio_blob_store *bs);
/** Change the type; written with the next super block write (unload). Metadata thread. */
void spio_bs_set_bstype(struct spio_blob_store *bs, struct spio_bs_type bstype);
/** The device under the blobstore (still owned by it). */
struct spio_bs_dev *spio_bs_get_bs_dev(struct spio_blob_store *bs);

/*
 * Blobs. A `struct spio_blob *` is an open blob: valid from the open
 * callback until spio_blob_close()'s callback. Opening an open blob again
 * returns the same handle with one more reference.
 */

spio_blob_id spio_blob_get_id(struct spio_blob *blob);
/** Size in io units. */
uint64_t spio_blob_get_num_io_units(struct spio_blob *blob);
/** Size in clusters. */
uint64_t spio_blob_get_num_clusters(struct spio_blob *blob);
/** Clusters that hold the blob's own data (a thin blob or clone has fewer than its size). */
uint64_t spio_blob_get_num_allocated_clusters(struct spio_blob *blob);
/**
 * The first io unit at or after `offset` in an allocated cluster, or
 * UINT64_MAX if there is none. Metadata thread.
 */
uint64_t spio_blob_get_next_allocated_io_unit(struct spio_blob *blob, uint64_t offset);
/** The first io unit at or after `offset` in an unallocated cluster, or UINT64_MAX. */
uint64_t spio_blob_get_next_unallocated_io_unit(struct spio_blob *blob, uint64_t offset);

/** Xattrs given at creation (SPDK's struct spdk_blob_xattr_opts). */
struct spio_blob_xattr_opts {
	/** Number of names. */
	size_t count;
	/** The names, NUL-terminated; read during the call only. */
	char **names;
	/** Handed to get_value. */
	void *ctx;
	/** Sets *value / *value_len for `name`; the value is copied during the call. */
	void (*get_value)(void *xattr_ctx, const char *name, const void **value, size_t *value_len);
};

/** Options of a new blob (SPDK's struct spdk_blob_opts). */
struct spio_blob_opts {
	/** Size in clusters. */
	uint64_t num_clusters;
	/** Allocate clusters on first write instead of now. */
	bool thin_provision;
	/** How the blob's clusters are cleared when freed. */
	enum spio_blob_clear_method clear_method;
	struct spio_blob_xattr_opts xattrs;
	/** Extent table and extent pages (default, SPDK's too) rather than one extent list. */
	bool use_extent_table;
	/** sizeof(struct spio_blob_opts) as the caller knows it. */
	size_t opts_size;
};

/** Fill `opts` with the defaults (0 clusters, thick, default clear, extent table). Any thread. */
void spio_blob_opts_init(struct spio_blob_opts *opts, size_t opts_size);

/**
 * Create a blob and write its metadata (SPDK's spdk_bs_create_blob_ext).
 * Thick blobs get their clusters now. On the metadata thread.
 * \param opts NULL for the defaults; read during the call only.
 * \param cb_fn gets the new id, or SPIO_BLOBID_INVALID and -ENOSPC (no md page
 *        or not enough clusters), -EINVAL (bad options: an xattr without a value
 *        or over 65535 bytes, a name over 65535), -ENOMEM, or the write's error.
 */
void spio_bs_create_blob_ext(struct spio_blob_store *bs, const struct spio_blob_opts *opts,
			     spio_blob_op_with_id_complete cb_fn, void *cb_arg);

/** spio_bs_create_blob_ext() with the default options: an empty thick blob. */
void spio_bs_create_blob(struct spio_blob_store *bs, spio_blob_op_with_id_complete cb_fn,
			 void *cb_arg);

/**
 * Snapshot blob `blobid` (SPDK's spdk_bs_create_snapshot): a new read-only
 * blob takes over the blob's clusters and the blob becomes a thin clone of
 * it, so the snapshot keeps the content of this moment and later writes go
 * to the blob. I/O to the blob is held during the switch. The steps are
 * written so that a crash at any point leaves either no snapshot or a whole
 * one. On the metadata thread.
 * \param snapshot_xattrs xattrs of the snapshot, or NULL; read (copied) during the call.
 * \param cb_fn the snapshot's id, or -ENOENT, -EINVAL (the blob is read-only
 *        or a snapshot), -EBUSY (another snapshot / inflate of it is running),
 *        -ENOSPC, -ENOMEM, an I/O error.
 */
void spio_bs_create_snapshot(struct spio_blob_store *bs, spio_blob_id blobid,
			     const struct spio_blob_xattr_opts *snapshot_xattrs,
			     spio_blob_op_with_id_complete cb_fn, void *cb_arg);

/**
 * Clone read-only blob `blobid` (a snapshot, or a blob set read-only) into a
 * new thin blob that reads through to it (SPDK's spdk_bs_create_clone).
 * `clone_xattrs` (or NULL) is read (copied) during the call.
 * cb_fn: the clone's id, or -ENOENT, -EINVAL (not read-only), -ENOSPC, -ENOMEM, an I/O error.
 */
void spio_bs_create_clone(struct spio_blob_store *bs, spio_blob_id blobid,
			  const struct spio_blob_xattr_opts *clone_xattrs,
			  spio_blob_op_with_id_complete cb_fn, void *cb_arg);

/**
 * The clones of `blobid` (SPDK's spdk_blob_get_clones): up to *count ids
 * into `ids`. Metadata thread.
 * \return 0 with *count set; -ENOMEM if *count is too small (then *count is
 *         the number needed); -ENOENT if `blobid` is not a snapshot with clones
 *         (*count = 0).
 */
int spio_blob_get_clones(struct spio_blob_store *bs, spio_blob_id blobid, spio_blob_id *ids,
			 size_t *count);

/** The snapshot `blobid` is a clone of, or SPIO_BLOBID_INVALID. Metadata thread. */
spio_blob_id spio_blob_get_parent_snapshot(struct spio_blob_store *bs, spio_blob_id blobid);

/** True if data writes are refused (set read-only, or a snapshot). */
bool spio_blob_is_read_only(struct spio_blob *blob);
/** True if the blob is a snapshot (has or had clones made from it by snapshotting). */
bool spio_blob_is_snapshot(struct spio_blob *blob);
/** True if the blob reads through to a parent snapshot. */
bool spio_blob_is_clone(struct spio_blob *blob);
bool spio_blob_is_thin_provisioned(struct spio_blob *blob);

/**
 * Delete a closed blob and free its clusters and md pages (SPDK's
 * spdk_bs_delete_blob). A snapshot with one clone is merged into the clone
 * (the clone takes its clusters and its parent); with more clones: -EBUSY.
 * cb_fn: 0, -ENOENT, -EBUSY (open, or a snapshot with several clones), an I/O error.
 */
void spio_bs_delete_blob(struct spio_blob_store *bs, spio_blob_id blobid,
			 spio_blob_op_complete cb_fn, void *cb_arg);

/**
 * Give a clone or thin blob all its clusters, copying the parent's data, and
 * cut it from the parent (SPDK's spdk_bs_inflate_blob). `channel` is the
 * calling thread's blobstore channel, used for the copies. Metadata thread.
 * cb_fn: 0, -ENOENT, -ENOSPC, an I/O error.
 */
void spio_bs_inflate_blob(struct spio_blob_store *bs, struct spio_io_channel *channel,
			  spio_blob_id blobid, spio_blob_op_complete cb_fn, void *cb_arg);

/**
 * Copy into a clone the clusters its parent holds itself and make the
 * parent's parent its parent (SPDK's spdk_bs_blob_decouple_parent).
 * cb_fn: 0, -ENOENT, -EINVAL (not a clone), -ENOSPC, an I/O error.
 */
void spio_bs_blob_decouple_parent(struct spio_blob_store *bs, struct spio_io_channel *channel,
				  spio_blob_id blobid, spio_blob_op_complete cb_fn, void *cb_arg);

/**
 * Open a blob (SPDK's spdk_bs_open_blob), reading and checking its metadata.
 * On the metadata thread. cb_fn: the handle, or NULL and -ENOENT (no such
 * blob), -ENOTSUP (a flag this code does not know), -EBADMSG / -EINVAL /
 * -ERANGE (corrupt metadata), -ENOMEM, an I/O error.
 */
void spio_bs_open_blob(struct spio_blob_store *bs, spio_blob_id blobid,
		       spio_blob_op_with_handle_complete cb_fn, void *cb_arg);

/**
 * Change the size to `sz` clusters (SPDK's spdk_blob_resize); thick blobs get
 * or free clusters (freed after the next sync). In memory until
 * spio_blob_sync_md(). I/O to the blob is held during the change.
 * cb_fn: 0, -EPERM (read-only metadata), -ENOSPC, -EBUSY (a snapshot or
 * inflate of the blob is running), -ENOMEM.
 */
void spio_blob_resize(struct spio_blob *blob, uint64_t sz, spio_blob_op_complete cb_fn,
		      void *cb_arg);

/**
 * Mark the blob read-only (data and metadata), in memory until the next
 * sync. Metadata thread. \return 0; -EPERM if its metadata is read-only already.
 */
int spio_blob_set_read_only(struct spio_blob *blob);

/**
 * Write the blob's metadata (size, clusters, xattrs, flags) to the device
 * (SPDK's spdk_blob_sync_md). A crash before cb_fn leaves the old or the new
 * metadata, never a mix. Syncs of one blob run in order. Metadata thread.
 * cb_fn: 0, -EPERM (read-only metadata and dirty), -ENOSPC (no md page), an I/O error.
 */
void spio_blob_sync_md(struct spio_blob *blob, spio_blob_op_complete cb_fn, void *cb_arg);

/**
 * Drop one reference; the last one syncs the metadata if it changed and frees
 * the handle (SPDK's spdk_blob_close). Metadata thread. No I/O to the blob may
 * be in flight. cb_fn: 0 or the sync's error (the handle is freed all the same).
 */
void spio_blob_close(struct spio_blob *blob, spio_blob_op_complete cb_fn, void *cb_arg);

/**
 * A channel for blob I/O on the calling thread (SPDK's
 * spdk_bs_alloc_io_channel); NULL on -ENOMEM. Any spio thread; free it with
 * spio_bs_free_io_channel() on the same thread before the blobstore is unloaded.
 */
struct spio_io_channel *spio_bs_alloc_io_channel(struct spio_blob_store *bs);

/** Release a channel from spio_bs_alloc_io_channel(). Its thread; no I/O in flight. */
void spio_bs_free_io_channel(struct spio_io_channel *channel);

/*
 * Blob I/O. Offsets and lengths are in io units (spio_bs_get_io_unit_size()).
 * Any spio thread with its own channel; cb_fn runs on that thread, never
 * from inside the call. The buffer (and iovec array) must stay valid until
 * cb_fn. Errors: -EINVAL (past the blob's end, or an iovec total that is not
 * length io units), -EPERM (write to a read-only blob), -ENOMEM (the channel's
 * max_channel_ops are in flight), -ENOSPC (a thin blob needs a cluster and
 * none is free), or the device's error. A read of a cluster the blob does not
 * hold reads its parent's data, or zeroes. A write to such a cluster first
 * allocates it (copying the parent's data); two writes racing for one cluster
 * get one allocation and both land.
 */

void spio_blob_io_read(struct spio_blob *blob, struct spio_io_channel *channel, void *payload,
		       uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn, void *cb_arg);
void spio_blob_io_write(struct spio_blob *blob, struct spio_io_channel *channel, void *payload,
			uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn,
			void *cb_arg);
void spio_blob_io_readv(struct spio_blob *blob, struct spio_io_channel *channel, struct iovec *iov,
			int iovcnt, uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn,
			void *cb_arg);
void spio_blob_io_writev(struct spio_blob *blob, struct spio_io_channel *channel, struct iovec *iov,
			 int iovcnt, uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn,
			 void *cb_arg);
/** The range's content becomes undefined (zeroes on most devices); clusters stay allocated. */
void spio_blob_io_unmap(struct spio_blob *blob, struct spio_io_channel *channel, uint64_t offset,
			uint64_t length, spio_blob_op_complete cb_fn, void *cb_arg);
/** The range reads back as zeroes. */
void spio_blob_io_write_zeroes(struct spio_blob *blob, struct spio_io_channel *channel,
			       uint64_t offset, uint64_t length, spio_blob_op_complete cb_fn,
			       void *cb_arg);

/*
 * Iteration and xattrs
 */

/**
 * Open the blob with the lowest id (SPDK's spdk_bs_iter_first); cb_fn gets
 * it, or NULL and -ENOENT when there is none. Metadata thread.
 */
void spio_bs_iter_first(struct spio_blob_store *bs, spio_blob_op_with_handle_complete cb_fn,
			void *cb_arg);

/**
 * Close `blob` (from the iteration) and open the next one by id; -ENOENT at the end.
 */
void spio_bs_iter_next(struct spio_blob_store *bs, struct spio_blob *blob,
		       spio_blob_op_with_handle_complete cb_fn, void *cb_arg);

/**
 * Set an xattr (copied), in memory until the next sync. Metadata thread.
 * \return 0; -EINVAL (NULL, name or value over 65535 bytes, or the whole
 *         xattr would not fit one md page); -EPERM (read-only metadata); -ENOMEM.
 */
int spio_blob_set_xattr(struct spio_blob *blob, const char *name, const void *value,
			uint16_t value_len);

/** Remove an xattr. \return 0; -ENOENT; -EPERM (read-only metadata). */
int spio_blob_remove_xattr(struct spio_blob *blob, const char *name);

/**
 * An xattr's value: *value points into the blob, valid until the xattr
 * changes or the blob closes. \return 0; -ENOENT.
 */
int spio_blob_get_xattr_value(struct spio_blob *blob, const char *name, const void **value,
			      size_t *value_len);

/** The names of the blob's xattrs, copied; free with spio_xattr_names_free(). \return 0; -ENOMEM.
 */
int spio_blob_get_xattr_names(struct spio_blob *blob, struct spio_xattr_names **names);
uint32_t spio_xattr_names_get_count(struct spio_xattr_names *names);
/** The index-th name, or NULL past the end. */
const char *spio_xattr_names_get_name(struct spio_xattr_names *names, uint32_t index);
void spio_xattr_names_free(struct spio_xattr_names *names);

/*
 * _await twins: inside a spio task (spio/task.h), start the operation of the
 * same name and suspend the task until it completes; return its status
 * (0 or the negative errno the callback would get), with results through
 * out-parameters. Outside a task they return -EPERM and do nothing.
 */

int spio_bs_init_await(struct spio_bs_dev *dev, struct spio_bs_opts *opts,
		       struct spio_blob_store **bs);
int spio_bs_load_await(struct spio_bs_dev *dev, struct spio_bs_opts *opts,
		       struct spio_blob_store **bs);
int spio_bs_unload_await(struct spio_blob_store *bs);
int spio_bs_set_super_await(struct spio_blob_store *bs, spio_blob_id blobid);
int spio_bs_get_super_await(struct spio_blob_store *bs, spio_blob_id *blobid);
int spio_bs_create_blob_await(struct spio_blob_store *bs, const struct spio_blob_opts *opts,
			      spio_blob_id *blobid);
int spio_bs_open_blob_await(struct spio_blob_store *bs, spio_blob_id blobid,
			    struct spio_blob **blob);
int spio_bs_delete_blob_await(struct spio_blob_store *bs, spio_blob_id blobid);
int spio_bs_create_snapshot_await(struct spio_blob_store *bs, spio_blob_id blobid,
				  const struct spio_blob_xattr_opts *snapshot_xattrs,
				  spio_blob_id *snapshot_id);
int spio_bs_create_clone_await(struct spio_blob_store *bs, spio_blob_id blobid,
			       const struct spio_blob_xattr_opts *clone_xattrs,
			       spio_blob_id *clone_id);
int spio_bs_inflate_blob_await(struct spio_blob_store *bs, struct spio_io_channel *channel,
			       spio_blob_id blobid);
int spio_bs_blob_decouple_parent_await(struct spio_blob_store *bs, struct spio_io_channel *channel,
				       spio_blob_id blobid);
int spio_blob_resize_await(struct spio_blob *blob, uint64_t sz);
int spio_blob_sync_md_await(struct spio_blob *blob);
int spio_blob_close_await(struct spio_blob *blob);
int spio_blob_io_read_await(struct spio_blob *blob, struct spio_io_channel *channel, void *payload,
			    uint64_t offset, uint64_t length);
int spio_blob_io_write_await(struct spio_blob *blob, struct spio_io_channel *channel, void *payload,
			     uint64_t offset, uint64_t length);
int spio_blob_io_readv_await(struct spio_blob *blob, struct spio_io_channel *channel,
			     struct iovec *iov, int iovcnt, uint64_t offset, uint64_t length);
int spio_blob_io_writev_await(struct spio_blob *blob, struct spio_io_channel *channel,
			      struct iovec *iov, int iovcnt, uint64_t offset, uint64_t length);
int spio_blob_io_unmap_await(struct spio_blob *blob, struct spio_io_channel *channel,
			     uint64_t offset, uint64_t length);
int spio_blob_io_write_zeroes_await(struct spio_blob *blob, struct spio_io_channel *channel,
				    uint64_t offset, uint64_t length);

/**
 * Prints an xattr's value for spio_bs_dump() (SPDK's
 * spdk_bs_dump_print_xattr), between the quotes of the dump's
 * `value = "..."` line; the dump prints the bytes in hex after it anyway.
 * \param fp the dump's stream.
 * \param bstype the blobstore type from the super block, NUL-terminated
 *        (at most 16 characters).
 * \param name the xattr's name, NUL-terminated.
 * \param value the value's bytes as stored (not terminated); valid during the call.
 * \param value_len its length.
 */
typedef void (*spio_bs_dump_print_xattr)(FILE *fp, const char *bstype, const char *name,
					 const void *value, size_t value_len);

/**
 * Dump a blobstore's metadata in human-readable text (SPDK's spdk_bs_dump,
 * the same text line by line): the super block, then every md page in use
 * with its descriptors (flags, xattrs, extents).
 *
 * Reads the super block, the three masks and every md page through `dev` on
 * the calling thread, one at a time; never writes to the device. A corrupt
 * image is dumped as far as it can be read: a bad signature or a super block
 * whose regions do not fit the device stop the dump after the super block; a
 * CRC mismatch (shown as "(Mismatch)", as SPDK does), a bad mask or a
 * malformed page do not, and a line starting "Error: " says what is wrong.
 * Chains of md pages are checked (next pointers in range, no loops).
 *
 * \param dev the device; consumed, as by SPDK: it is destroyed (after its
 *        channel is released) before cb_fn runs, also on failure.
 * \param fp where the text goes; must stay open until cb_fn ran.
 * \param print_xattr_fn prints an xattr value; NULL prints nothing there.
 * \param cb_fn called once, on this thread, after the dump ends (never from
 *        inside this call) with 0, or the first problem found: -EILSEQ (not a
 *        blobstore), -ENOTSUP (unknown version), -EBADMSG (a CRC mismatch),
 *        -EINVAL / -ERANGE (inconsistent or out-of-range metadata), -ENOMEM,
 *        or the device's read error.
 * \param cb_arg handed to cb_fn.
 * On a spio thread. With a NULL `dev` or `cb_fn`, or off a spio thread,
 * nothing happens but an error log (`dev` is not consumed then). If not
 * even the dump's small context can be allocated, cb_fn gets -ENOMEM
 * from inside the call (the device is consumed).
 */
void spio_bs_dump(struct spio_bs_dev *dev, FILE *fp, spio_bs_dump_print_xattr print_xattr_fn,
		  spio_bs_op_complete cb_fn, void *cb_arg);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_BLOB_H */
