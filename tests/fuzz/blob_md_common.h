/*
 * The blob_md fuzzer's pieces shared with its corpus generator: the device
 * (a memory bs_dev behind a wrapper that checks and records every access),
 * the base store every input patches, the input format, and synchronous
 * blobstore calls on the fuzzer's one spio thread.
 *
 * Input: one flag byte (BMD_*), then patch records, each
 *   offset (3 bytes, little-endian, taken modulo BMD_META_BYTES),
 *   length (1 byte), then that many bytes (cut short by the end of input),
 * written over the device's first BMD_META_BYTES (the base store's metadata
 * region and more, or zeroes with BMD_ZERO). Then, unless BMD_NOCRC, the
 * CRC of every patched page that is the super block or in the md region the
 * (patched) super block names is made right again, so that mutations get
 * past the CRC checks into the parsers.
 */
#ifndef BLOB_MD_COMMON_H
#define BLOB_MD_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/blob.h"
#include "spio/blob_bdev.h"

/* The device: 128 MiB of 4 KiB blocks, room for SPDK's test images' geometry. */
#define BMD_BLOCKLEN 4096u
#define BMD_DEV_BLOCKS 32768u
/* The base store: the first 2 MiB, 64 KiB clusters, 32 md pages. */
#define BMD_BASE_BYTES (2u << 20)
#define BMD_BASE_CLUSTER (64u << 10)
#define BMD_BASE_MD_PAGES 32u
/* What patches reach: every metadata region of the seeds. */
#define BMD_META_BYTES (512u << 10)

/* Flag byte */
#define BMD_DIRTY 0x01u	      /* clear the super block's clean flag: the recovery load */
#define BMD_FORCE 0x02u	      /* opts.force_recover */
#define BMD_NOCRC 0x04u	      /* leave CRCs as the patches made them */
#define BMD_ZERO 0x08u	      /* patch zeroes, not the base store (whole images as patches) */
#define BMD_NO_SNAPSHOT 0x10u /* after the load: no snapshot of the blob written */
#define BMD_DELETE 0x20u      /* after the load: delete the last blob */
#define BMD_SHRINK 0x40u      /* after the load: shrink the written blob instead of growing it */
#define BMD_NO_CREATE 0x80u   /* after the load: no new blob */

/* The one spio thread, set up by bmd_env_init(). */
extern struct spio_thread *bmd_thread;

void bmd_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Env without hugepages, the thread library and bmd_thread (current). Logs off unless verbose. */
void bmd_env_init(const char *name, bool verbose);

/*
 * The device
 */

/* The memory device under every wrapper; its bytes. */
struct spio_bs_dev *bmd_mem(void);
uint8_t *bmd_bytes(void);

/* A wrapper over the memory device, what a store consumes: counts, bounds. */
struct bmd_dev {
	struct spio_bs_dev base; /* first: the callbacks cast back */
	struct spio_bs_dev *inner;
	uint64_t limit; /* blocks I/O may reach; past it aborts */
	uint64_t reads;
	uint64_t writes; /* write, writev, write_zeroes, unmap */
	int destroyed;
};

/* Make `d` a new wrapper (not yet destroyed), limit: the whole device. */
struct spio_bs_dev *bmd_dev_init(struct bmd_dev *d);

/* Mark blocks [lba, lba + n) changed (writes do it themselves). */
void bmd_touch(uint64_t lba, uint64_t n);
/* Put every changed block back as the base image has it (zeroes past it). */
void bmd_restore(void);

/*
 * The base store, made on the memory device's first BMD_BASE_BYTES: thick,
 * thin, extent-list (RLE) and extent-table blobs, a snapshot with two clones,
 * a read-only blob, a blob of many xattrs over several md pages, a super
 * blob, a deleted blob's hole; unloaded cleanly. Kept as the base image.
 */
void bmd_base_build(void);
const uint8_t *bmd_base(void);

/* The base store's blobs (thick is a clone of snap, as is clone). */
struct bmd_base_ids {
	spio_blob_id thick, rle, thin, thin_rle, snap, clone, ro, many;
};
extern struct bmd_base_ids bmd_ids;

/* Apply input (flags and patches) to the device, as described above. */
void bmd_input_apply(const uint8_t *data, size_t size);

/*
 * Synchronous calls: start an operation with bmd_cb_* as callback and a
 * struct bmd_wait as argument, then bmd_wait() polls until it completed
 * (aborting on a hang). \return its rc.
 */
struct bmd_wait {
	int done;
	int rc;
	struct spio_blob_store *bs;
	struct spio_blob *blob;
	spio_blob_id id;
};

void bmd_cb(void *arg, int rc);
void bmd_cb_bs(void *arg, struct spio_blob_store *bs, int rc);
void bmd_cb_blob(void *arg, struct spio_blob *blob, int rc);
void bmd_cb_id(void *arg, spio_blob_id id, int rc);
int bmd_wait(struct bmd_wait *w, const char *what);
/* Poll until the thread is idle a few times in a row. */
void bmd_settle(void);

#endif /* BLOB_MD_COMMON_H */
