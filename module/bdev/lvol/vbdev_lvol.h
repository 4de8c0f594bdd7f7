/*
 * The "lvol" bdev module's internals shared by its bdev side (vbdev_lvol.c:
 * stores on base bdevs, a bdev per lvol, examine, hot remove, shutdown) and
 * its RPCs (vbdev_lvol_rpc.c). Private to module/bdev/lvol.
 *
 * Threads: everything runs on the bdev layer's thread (the app thread),
 * which is also the metadata thread of every store: stores are created from
 * RPCs and loaded from examine_disk, both on that thread. Only I/O runs on
 * other threads, through the store's channels.
 */
#ifndef SPIO_MODULE_BDEV_LVOL_H
#define SPIO_MODULE_BDEV_LVOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spio/bdev_module.h"
#include "spio/lvol.h"

/* A store the module holds, on its base bdev. */
struct lvs_bdev {
	struct spio_lvol_store *lvs;
	struct spio_bdev *bdev;	  /* the base bdev */
	char *base_name;	  /* its name, for messages after it went */
	bool removal_in_progress; /* unloading or destroying: no new work */
	bool destroy;		  /* the removal destroys the store */
	/* Called once the removal finished (the store is gone). */
	spio_lvs_op_complete remove_cb;
	void *remove_arg;
	TAILQ_ENTRY(lvs_bdev) link;
};

/* Stores in creation / examine order. */
struct lvs_bdev *vbdev_lvs_first(void);
struct lvs_bdev *vbdev_lvs_next(struct lvs_bdev *prev);
/* The store's entry, or NULL if it is not the module's or is being removed. */
struct lvs_bdev *vbdev_get_lvs_bdev_by_lvs(struct spio_lvol_store *lvs);
/* The module's store with that UUID string / name (being removed or not), or NULL. */
struct spio_lvol_store *vbdev_get_lvol_store_by_uuid(const char *uuid_str);
struct spio_lvol_store *vbdev_get_lvol_store_by_name(const char *name);
/* The lvol behind a bdev of this module, or NULL. */
struct spio_lvol *vbdev_lvol_get_from_bdev(struct spio_bdev *bdev);

/*
 * Create a store on bdev `base_bdev_name` (claimed for the module) with
 * SPDK's RPC parameters (0: the default). cb_fn runs later with the store.
 * \return 0; -EINVAL (bad name or md page size); -ENODEV (no bdev); -EPERM
 *         (claimed); -EEXIST (store name taken); -ENOMEM.
 */
int vbdev_lvs_create(const char *base_bdev_name, const char *name, uint32_t cluster_sz,
		     enum spio_lvs_clear_method clear_method,
		     uint32_t num_md_pages_per_cluster_ratio, uint32_t md_page_size,
		     spio_lvs_op_with_handle_complete cb_fn, void *cb_arg);

/* Delete every lvol (bdevs first), then destroy the store. cb_fn: 0, -ENODEV, -ENOMEM, ... */
void vbdev_lvs_destruct(struct spio_lvol_store *lvs, spio_lvs_op_complete cb_fn, void *cb_arg);
/* Rename the store and move every lvol bdev's alias to "<new>/<lvol>". */
void vbdev_lvs_rename(struct spio_lvol_store *lvs, const char *new_name, spio_lvs_op_complete cb_fn,
		      void *cb_arg);

/*
 * Create an lvol of `sz` bytes and its bdev. cb_fn runs later.
 * \return 0; -ENODEV (store being removed); -EINVAL (size 0, bad name);
 *         -EEXIST; -ENOMEM.
 */
int vbdev_lvol_create(struct spio_lvol_store *lvs, const char *name, uint64_t sz,
		      bool thin_provision, enum spio_lvol_clear_method clear_method,
		      spio_lvol_op_with_handle_complete cb_fn, void *cb_arg);
void vbdev_lvol_create_snapshot(struct spio_lvol *lvol, const char *snapshot_name,
				spio_lvol_op_with_handle_complete cb_fn, void *cb_arg);
void vbdev_lvol_create_clone(struct spio_lvol *lvol, const char *clone_name,
			     spio_lvol_op_with_handle_complete cb_fn, void *cb_arg);
/* Unregister the lvol's bdev, then destroy the lvol. -EPERM with several clones. */
void vbdev_lvol_destroy(struct spio_lvol *lvol, spio_lvol_op_complete cb_fn, void *cb_arg);
void vbdev_lvol_rename(struct spio_lvol *lvol, const char *new_name, spio_lvol_op_complete cb_fn,
		       void *cb_arg);
void vbdev_lvol_resize(struct spio_lvol *lvol, uint64_t sz, spio_lvol_op_complete cb_fn,
		       void *cb_arg);

/*
 * SPDK's max_growable_size of a store: the clusters its used-cluster mask
 * can describe, in bytes, for the mask length a store of this device size
 * gets at init.
 */
uint64_t vbdev_lvs_max_growable_size(struct lvs_bdev *lvs_bdev);

#endif /* SPIO_MODULE_BDEV_LVOL_H */
