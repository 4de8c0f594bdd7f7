/*
 * Completion recorders for blob calls: each counts the call in n and keeps
 * rc and what it was given. A test waits for n to reach what it expects.
 */
#ifndef HELPER_BLOB_DONE_H
#define HELPER_BLOB_DONE_H

#include "spio/blob.h"

struct blob_done {
	int n;
	int rc;
	struct spio_thread *thread; /* for a test's own callback to record */
	struct spio_blob_store *bs;
	struct spio_blob *blob;
	spio_blob_id id;
};

/* spio_bs_op_with_handle_complete: n++, rc, bs. `arg` is a struct blob_done. */
void blob_done_bs(void *arg, struct spio_blob_store *bs, int rc);
/* spio_blob_op_with_id_complete: n++, rc, id. */
void blob_done_id(void *arg, spio_blob_id id, int rc);
/* spio_blob_op_with_handle_complete: n++, rc, blob. */
void blob_done_blob(void *arg, struct spio_blob *blob, int rc);

#endif /* HELPER_BLOB_DONE_H */
