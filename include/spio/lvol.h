/*
 * Logical volumes (SPDK's spdk/lvol.h): a logical volume store ("lvstore")
 * is a blobstore of type "LVOLSTORE" whose super blob carries the store's
 * name and UUID; each logical volume ("lvol") is a blob of it carrying its
 * own name and UUID. The xattrs are SPDK's, byte for byte, so stores move
 * between SPDK and spio.
 *
 * Threads: an lvstore lives on its blobstore's metadata thread (the thread
 * that called spio_lvs_init() or spio_lvs_load()); every function here that
 * takes a store or an lvol runs there, and callbacks run there. Callbacks
 * may run before the function returns only where a function says so
 * (errors found up front, as SPDK's); otherwise they run later. The name
 * lookups (spio_lvs_get_by_name(), spio_lvol_get_by_names(),
 * spio_lvol_get_by_uuid()) may be called from any thread but return
 * pointers only the metadata thread may use.
 *
 * Memory: stores and lvols belong to this library; the handles stay valid
 * until the store is unloaded or destroyed (an lvol: until it is destroyed).
 * Names are copied.
 */
#ifndef SPIO_LVOL_H
#define SPIO_LVOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/blob.h"
#include "spio/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct spio_bs_dev;
struct spio_io_channel;
struct spio_lvol_store;
struct spio_lvol;

/** Bytes of an lvstore name, NUL included (SPDK_LVS_NAME_MAX). */
#define SPIO_LVS_NAME_MAX 64
/** Bytes of an lvol name, NUL included (SPDK_LVOL_NAME_MAX). */
#define SPIO_LVOL_NAME_MAX 64
/** An lvol's unique id: its UUID, or "<lvstore uuid>_<blob id>" without one. */
#define SPIO_LVOL_UNIQUE_ID_MAX (SPIO_UUID_STRING_LEN + 1 + 20)
/** Cluster size of a new lvstore unless the options say otherwise (4 MiB, SPDK's). */
#define SPIO_LVS_DEFAULT_CLUSTER_SZ (4u * 1024u * 1024u)

/** How a new lvstore clears its device (SPDK's enum lvs_clear_method). */
enum spio_lvs_clear_method {
	SPIO_LVS_CLEAR_WITH_UNMAP = SPIO_BS_CLEAR_WITH_UNMAP,
	SPIO_LVS_CLEAR_WITH_WRITE_ZEROES = SPIO_BS_CLEAR_WITH_WRITE_ZEROES,
	SPIO_LVS_CLEAR_WITH_NONE = SPIO_BS_CLEAR_WITH_NONE,
};

/** How an lvol's clusters are cleared when freed (SPDK's enum lvol_clear_method). */
enum spio_lvol_clear_method {
	SPIO_LVOL_CLEAR_WITH_DEFAULT = SPIO_BLOB_CLEAR_WITH_DEFAULT,
	SPIO_LVOL_CLEAR_WITH_NONE = SPIO_BLOB_CLEAR_WITH_NONE,
	SPIO_LVOL_CLEAR_WITH_UNMAP = SPIO_BLOB_CLEAR_WITH_UNMAP,
	SPIO_LVOL_CLEAR_WITH_WRITE_ZEROES = SPIO_BLOB_CLEAR_WITH_WRITE_ZEROES,
};

/** Options of spio_lvs_init() (SPDK's struct spdk_lvs_opts). */
struct spio_lvs_opts {
	/** Cluster size in bytes: a multiple of the device's block size (default 4 MiB). */
	uint32_t cluster_sz;
	/** How the device is cleared at init (default unmap). */
	enum spio_lvs_clear_method clear_method;
	/** The store's name: 1 to SPIO_LVS_NAME_MAX - 1 characters, NUL-terminated. */
	char name[SPIO_LVS_NAME_MAX];
	/** Metadata pages reserved per 100 clusters (default 100: one per cluster). */
	uint32_t num_md_pages_per_cluster_ratio;
	/** Metadata page size in bytes; 0 (default): the blobstore's default, 4096. */
	uint32_t md_page_size;
	/** sizeof(struct spio_lvs_opts) as the caller knows it. */
	size_t opts_size;
};

/** Completion of a store operation: 0 or a negative errno. */
typedef void (*spio_lvs_op_complete)(void *cb_arg, int lvserrno);
/** Completion returning a store (NULL with a negative errno on failure). */
typedef void (*spio_lvs_op_with_handle_complete)(void *cb_arg, struct spio_lvol_store *lvs,
						 int lvserrno);
/** Completion of an lvol operation: 0 or a negative errno. */
typedef void (*spio_lvol_op_complete)(void *cb_arg, int lvolerrno);
/**
 * Completion returning an lvol: the new or opened lvol, or NULL with a
 * negative errno (spio_lvol_open() hands back the lvol even on -EBUSY).
 */
typedef void (*spio_lvol_op_with_handle_complete)(void *cb_arg, struct spio_lvol *lvol,
						  int lvolerrno);

/**
 * Fill `opts` with the defaults (4 MiB clusters, unmap, ratio 100, empty
 * name) for a caller that knows `opts_size` bytes of the struct; fields
 * beyond it are left alone. NULL or size 0 is ignored. Any thread.
 */
void spio_lvs_opts_init(struct spio_lvs_opts *opts, size_t opts_size);

/**
 * Create an lvstore on `bs_dev` (SPDK's spdk_lvs_init): a blobstore of type
 * LVOLSTORE with the options' cluster size, clear method and metadata
 * reservation (ratio * clusters / 100 pages), and a super blob holding the
 * xattrs "uuid" (a new UUID, 36 characters and a NUL) and "name" (the name
 * and a NUL). The calling thread becomes the store's metadata thread.
 * \param bs_dev consumed once this returns 0 (the blobstore owns it; on a
 *        later failure it is destroyed before cb_fn); not consumed on an
 *        error return.
 * \param o required; read during the call only.
 * \param cb_fn runs later with the store, or NULL and the blobstore's error
 *        (the half-made blobstore is destroyed again).
 * \return 0 (cb_fn will run); -ENODEV (NULL device); -EINVAL (NULL options
 *         or callback, bad options: a name empty or too long, a cluster size
 *         not a multiple of the block size, opts_size 0); -EEXIST (a loaded
 *         store has that name); -ENOMEM.
 */
int spio_lvs_init(struct spio_bs_dev *bs_dev, const struct spio_lvs_opts *o,
		  spio_lvs_op_with_handle_complete cb_fn, void *cb_arg);

/**
 * Load the lvstore on `bs_dev` (SPDK's spdk_lvs_load): load the blobstore
 * (type LVOLSTORE only: anything else fails with the blobstore's -EILSEQ or
 * -ENXIO), read the super blob's "uuid" and "name", and list every other
 * blob as an lvol (closed) from its "name" and "uuid" xattrs. As SPDK, a
 * blob without a "name" (or one longer than SPIO_LVOL_NAME_MAX) fails the
 * whole load with -EINVAL; a missing or bad "uuid" leaves the lvol without
 * one (its unique id is then "<store uuid>_<blob id>").
 * The calling thread becomes the store's metadata thread.
 * \param bs_dev consumed: on failure it is destroyed before cb_fn (NULL:
 *        cb_fn gets -ENODEV at once).
 * \param cb_fn the store, or NULL and: -ENODEV (no super blob), -EINVAL (bad
 *        "uuid" / "name" xattrs, an lvol without a name), -EEXIST (a loaded
 *        store has the same name), -ENOMEM, or the blobstore's load error.
 *        Runs later, except for the NULL device and -ENOMEM up front.
 */
void spio_lvs_load(struct spio_bs_dev *bs_dev, spio_lvs_op_with_handle_complete cb_fn,
		   void *cb_arg);

/**
 * Unload the store (SPDK's spdk_lvs_unload): every lvol must be closed; the
 * lvols are freed and the blobstore is unloaded (clean), which destroys the
 * device. The handle is invalid once this returns 0.
 * \param cb_fn runs later with 0 or the blobstore's unload error.
 * \return 0; -ENODEV (NULL store); -EBUSY (an lvol is open or busy: cb_fn
 *         also gets -EBUSY, before this returns, as SPDK does); -ENOMEM.
 */
int spio_lvs_unload(struct spio_lvol_store *lvs, spio_lvs_op_complete cb_fn, void *cb_arg);

/**
 * Destroy the store (SPDK's spdk_lvs_destroy): every lvol must be closed;
 * the super blob is deleted and the blobstore destroyed (its super block
 * zeroed), which destroys the device. The lvols' blobs are not deleted one
 * by one: the whole store goes. Same returns as spio_lvs_unload().
 */
int spio_lvs_destroy(struct spio_lvol_store *lvs, spio_lvs_op_complete cb_fn, void *cb_arg);

/**
 * Rename the store (SPDK's spdk_lvs_rename): the super blob's "name" is
 * rewritten (the name and a NUL). The same name completes at once with 0.
 * \param new_name copied; 1 to SPIO_LVS_NAME_MAX - 1 characters.
 * \param cb_fn 0, -EINVAL (bad name), -EEXIST (a loaded store has or is
 *        being renamed to that name), -ENOMEM, or the metadata write's
 *        error. Errors found up front run cb_fn before this returns.
 */
void spio_lvs_rename(struct spio_lvol_store *lvs, const char *new_name, spio_lvs_op_complete cb_fn,
		     void *cb_arg);

/** The store's name (valid until the next rename or the store goes). */
const char *spio_lvs_get_name(const struct spio_lvol_store *lvs);
/** The store's UUID (the super blob's "uuid"). */
const struct spio_uuid *spio_lvs_get_uuid(const struct spio_lvol_store *lvs);
/** The blobstore under the store. */
struct spio_blob_store *spio_lvs_get_bs(const struct spio_lvol_store *lvs);
/** The device under the store (owned by the blobstore). */
struct spio_bs_dev *spio_lvs_get_bs_dev(const struct spio_lvol_store *lvs);

/**
 * The store's first lvol (in load or creation order), or NULL; with
 * spio_lvs_next_lvol() this walks every lvol, open or closed. Metadata thread.
 */
struct spio_lvol *spio_lvs_first_lvol(struct spio_lvol_store *lvs);
/** The lvol after `lvol` in its store, or NULL. */
struct spio_lvol *spio_lvs_next_lvol(struct spio_lvol *lvol);

/** The loaded store called `name`, or NULL. Any thread (see the top). */
struct spio_lvol_store *spio_lvs_get_by_name(const char *name);
/** The loaded store with this UUID, or NULL. Any thread (see the top). */
struct spio_lvol_store *spio_lvs_get_by_uuid(const struct spio_uuid *uuid);
/** The lvol `lvol_name` of the loaded store `lvs_name`, or NULL. Any thread. */
struct spio_lvol *spio_lvol_get_by_names(const char *lvs_name, const char *lvol_name);
/** The lvol with this UUID in any loaded store, or NULL. Any thread. */
struct spio_lvol *spio_lvol_get_by_uuid(const struct spio_uuid *uuid);

/**
 * Create an lvol (SPDK's spdk_lvol_create): a blob of `sz` bytes rounded up
 * to whole clusters, thick (clusters taken now) or thin, with the xattrs
 * "name" (SPIO_LVOL_NAME_MAX bytes: the name, NUL-padded) and "uuid" (a new
 * UUID, 36 characters and a NUL). The new lvol is open (one reference).
 * \param name copied; 1 to SPIO_LVOL_NAME_MAX - 1 characters, unique in the store.
 * \param cb_fn the lvol, or NULL and -ENOSPC (not enough free clusters for a
 *        thick lvol, or no metadata page), -ENOMEM, an I/O error.
 * \return 0 (cb_fn will run later); -EINVAL (NULL store, bad name);
 *         -EEXIST (the name is taken or being created); -ENOMEM.
 */
int spio_lvol_create(struct spio_lvol_store *lvs, const char *name, uint64_t sz,
		     bool thin_provision, enum spio_lvol_clear_method clear_method,
		     spio_lvol_op_with_handle_complete cb_fn, void *cb_arg);

/**
 * Snapshot an open lvol (SPDK's spdk_lvol_create_snapshot): a new read-only
 * lvol `snapshot_name` takes the lvol's clusters and the lvol becomes its
 * thin clone. The snapshot is open (one reference) when cb_fn gets it.
 * \param cb_fn the snapshot, or NULL and -EINVAL (NULL or closed lvol, bad
 *        name), -EEXIST (name taken), or the blobstore's snapshot error.
 *        Errors found up front run cb_fn before this returns.
 */
void spio_lvol_create_snapshot(struct spio_lvol *lvol, const char *snapshot_name,
			       spio_lvol_op_with_handle_complete cb_fn, void *cb_arg);

/**
 * Clone an open read-only lvol (a snapshot, or an lvol set read-only) into a
 * new thin lvol `clone_name` (SPDK's spdk_lvol_create_clone), open when
 * cb_fn gets it. Errors as spio_lvol_create_snapshot() (-EINVAL also for a
 * lvol that is not read-only).
 */
void spio_lvol_create_clone(struct spio_lvol *lvol, const char *clone_name,
			    spio_lvol_op_with_handle_complete cb_fn, void *cb_arg);

/**
 * Rename an open lvol (SPDK's spdk_lvol_rename): its "name" xattr becomes
 * the new name and a NUL (not padded, as SPDK writes it). The same name
 * completes at once with 0.
 * \param cb_fn 0, -EINVAL (bad name, closed lvol), -EEXIST (taken in the
 *        store), -ENOMEM, the metadata write's error. Errors found up front
 *        run cb_fn before this returns.
 */
void spio_lvol_rename(struct spio_lvol *lvol, const char *new_name, spio_lvol_op_complete cb_fn,
		      void *cb_arg);

/** True if the lvol can be destroyed now: it has no clones (SPDK's spdk_lvol_deletable). */
bool spio_lvol_deletable(struct spio_lvol *lvol);

/**
 * Destroy a closed lvol and free its clusters (SPDK's spdk_lvol_destroy);
 * a snapshot with one clone is merged into the clone. The handle is freed
 * before cb_fn runs, also when the blob's deletion failed (logged, as SPDK).
 * \param cb_fn 0 or the deletion's error; -ENODEV (NULL), -EBUSY (open, or
 *        a snapshot with more than one clone) and -ENOMEM before this returns.
 */
void spio_lvol_destroy(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg);

/**
 * Open an lvol of the store (SPDK's spdk_lvol_open): the first open opens
 * its blob (cb_fn later), later ones take another reference (cb_fn before
 * this returns).
 * \param cb_fn the lvol and 0; or -ENODEV (NULL), -EBUSY (an operation on
 *        it runs) before this returns; or the blob open's error later.
 */
void spio_lvol_open(struct spio_lvol *lvol, spio_lvol_op_with_handle_complete cb_fn, void *cb_arg);

/**
 * Drop one reference (SPDK's spdk_lvol_close); the last one closes the blob
 * (syncing its metadata if it changed; cb_fn later), the others only count
 * down (cb_fn before this returns).
 * \param cb_fn 0; -ENODEV (NULL) or -EINVAL (not open, or being closed)
 *        before this returns; or the blob close's error later (the blob is
 *        closed all the same: its last metadata write failed).
 */
void spio_lvol_close(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg);

/**
 * Resize an open lvol to `sz` bytes rounded up to whole clusters and write
 * its metadata (SPDK's spdk_lvol_resize). A thick lvol takes or frees clusters.
 * \param cb_fn 0, -EINVAL (NULL or closed lvol), -ENOSPC, -EPERM (read-only),
 *        -ENOMEM, an I/O error. Errors found up front run it before this returns.
 */
void spio_lvol_resize(struct spio_lvol *lvol, uint64_t sz, spio_lvol_op_complete cb_fn,
		      void *cb_arg);

/**
 * Make an open lvol read-only and write its metadata (SPDK's
 * spdk_lvol_set_read_only). Already read-only (a snapshot too): 0, before
 * this returns.
 * \param cb_fn 0, -EINVAL (NULL or closed lvol), -ENOMEM, an I/O error.
 */
void spio_lvol_set_read_only(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg);

/**
 * Give an open thin lvol or clone all its clusters, copying its parent's
 * data, and cut it from the parent (SPDK's spdk_lvol_inflate).
 * \param cb_fn 0, -ENODEV (NULL), -EINVAL (closed lvol), -ENOSPC, -ENOMEM,
 *        an I/O error.
 */
void spio_lvol_inflate(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg);

/**
 * Copy into an open clone the clusters its parent holds itself and make the
 * parent's parent its parent (SPDK's spdk_lvol_decouple_parent).
 * \param cb_fn 0, -ENODEV (NULL), -EINVAL (closed lvol, not a clone),
 *        -ENOSPC, -ENOMEM, an I/O error.
 */
void spio_lvol_decouple_parent(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg);

/**
 * A blobstore channel for I/O to the lvol's blob on the calling thread
 * (SPDK's spdk_lvol_get_io_channel); free it with spio_bs_free_io_channel()
 * on the same thread. NULL on -ENOMEM. Any spio thread.
 */
struct spio_io_channel *spio_lvol_get_io_channel(struct spio_lvol *lvol);

/** The lvol's name (valid until it is renamed or destroyed). */
const char *spio_lvol_get_name(const struct spio_lvol *lvol);
/** Its unique id: the UUID string, or "<store uuid>_<blob id>" for an lvol without UUID. */
const char *spio_lvol_get_unique_id(const struct spio_lvol *lvol);
/** Its UUID (all zero when the blob has none). */
const struct spio_uuid *spio_lvol_get_uuid(const struct spio_lvol *lvol);
/** Its UUID as lower-case text. */
const char *spio_lvol_get_uuid_str(const struct spio_lvol *lvol);
/** Its store. */
struct spio_lvol_store *spio_lvol_get_lvs(const struct spio_lvol *lvol);
/** Its blob while open, else NULL. */
struct spio_blob *spio_lvol_get_blob(const struct spio_lvol *lvol);
/** Its blob's id. */
spio_blob_id spio_lvol_get_blob_id(const struct spio_lvol *lvol);
/** True while it holds a reference (spio_lvol_open() / create). */
bool spio_lvol_is_open(const struct spio_lvol *lvol);
/** The lvol of the store whose blob is `blob_id`, or NULL. Metadata thread. */
struct spio_lvol *spio_lvs_get_lvol_by_blob_id(struct spio_lvol_store *lvs, spio_blob_id blob_id);

/**
 * A pointer the user keeps with the lvol (the bdev module: its bdev), NULL
 * until set; the library never touches it. Metadata thread.
 */
void spio_lvol_set_ctx(struct spio_lvol *lvol, void *ctx);
void *spio_lvol_get_ctx(const struct spio_lvol *lvol);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_LVOL_H */
