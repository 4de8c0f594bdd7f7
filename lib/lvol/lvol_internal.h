/*
 * Logical volumes: the structs behind spio/lvol.h and what lvs.c (stores)
 * and lvol.c (volumes) share. Internal to lib/lvol.
 *
 * Everything in a store and its lvols belongs to the store's metadata
 * thread; only the list of loaded stores (its names, for uniqueness and
 * lookups from any thread) is shared, under lvs_list_lock().
 */
#ifndef SPIO_LVOL_INTERNAL_H
#define SPIO_LVOL_INTERNAL_H

#include <sys/queue.h>

#include "spio/lvol.h"

/* The xattrs SPDK keeps on the super blob and on every lvol's blob. */
#define LVOL_XATTR_NAME "name"
#define LVOL_XATTR_UUID "uuid"

/* The blobstore type of an lvstore, as SPDK writes it. */
#define LVS_BSTYPE "LVOLSTORE"
/* Blob I/Os a channel holds at once (SPDK's SPDK_LVOL_BLOB_OPTS_CHANNEL_OPS). */
#define LVS_CHANNEL_OPS 512

struct spio_lvol {
	struct spio_lvol_store *lvs;
	struct spio_blob *blob; /* while open */
	spio_blob_id blob_id;
	char unique_id[SPIO_LVOL_UNIQUE_ID_MAX];
	/* Exactly SPIO_LVOL_NAME_MAX bytes, NUL-padded: the "name" value at creation. */
	char name[SPIO_LVOL_NAME_MAX];
	struct spio_uuid uuid;
	char uuid_str[SPIO_UUID_STRING_LEN];
	int ref_count;
	bool action_in_progress; /* a close or a destroy runs */
	enum spio_lvol_clear_method clear_method;
	void *ctx;
	TAILQ_ENTRY(spio_lvol) link; /* lvs->lvols or lvs->pending_lvols */
};
TAILQ_HEAD(lvol_list, spio_lvol);

struct spio_lvol_store {
	struct spio_bs_dev *bs_dev;
	struct spio_blob_store *bs;
	spio_blob_id super_blob_id;
	struct spio_uuid uuid;
	char name[SPIO_LVS_NAME_MAX];
	/* The name a rename is writing, so a second rename cannot take it too. */
	char new_name[SPIO_LVS_NAME_MAX];
	struct lvol_list lvols;
	struct lvol_list pending_lvols; /* being created: their names are taken */
	bool on_list;
	TAILQ_ENTRY(spio_lvol_store) link;
	struct spio_thread *thread;
};

/* lvs.c */

void lvs_list_lock(void);
void lvs_list_unlock(void);

/* 0 if `name` is 1 to max - 1 characters; -EINVAL otherwise (NULL too). */
int lvol_check_name(const char *name, size_t max);

/* lvol.c */

/*
 * A new lvol of `lvs` on its pending list, with a new UUID; the name is
 * copied NUL-padded. NULL on ENOMEM.
 */
struct spio_lvol *lvol_alloc(struct spio_lvol_store *lvs, const char *name,
			     enum spio_lvol_clear_method clear_method);
void lvol_free(struct spio_lvol *lvol);

/* Set unique_id and uuid_str from lvol->uuid (or the store's UUID and the blob id). */
void lvol_set_ids(struct spio_lvol *lvol);

#endif /* SPIO_LVOL_INTERNAL_H */
