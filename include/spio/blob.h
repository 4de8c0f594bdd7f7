/*
 * The blobstore (SPDK's spdk/blob.h): blobs of clusters on a block device
 * (a struct spio_bs_dev, see spio/blob_bdev.h), with metadata in SPDK's
 * on-disk format, byte for byte, so images move between SPDK and spio.
 *
 * This file grows with the blobstore: for now it holds the blob id type,
 * the completion type shared by blobstore operations and the metadata dump
 * (spio_bs_dump). Init, load, blobs, xattrs and I/O follow here.
 *
 * Thread rules: every function here runs on a spio thread, and its
 * callback runs later on that same thread, never from inside the call.
 */
#ifndef SPIO_BLOB_H
#define SPIO_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct spio_bs_dev;

/** A blob's id: unique in its blobstore, stable across loads (SPDK's spdk_blob_id). */
typedef uint64_t spio_blob_id;

/** No blob (SPDK's SPDK_BLOBID_INVALID). */
#define SPIO_BLOBID_INVALID ((spio_blob_id)UINT64_MAX)

/**
 * Completion of a blobstore operation that returns nothing.
 * \param cb_arg the caller's argument.
 * \param bserrno 0 or a negative errno.
 */
typedef void (*spio_bs_op_complete)(void *cb_arg, int bserrno);

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
