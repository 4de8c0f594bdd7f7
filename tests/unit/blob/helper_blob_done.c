#include "helper_blob_done.h"

void blob_done_bs(void *arg, struct spio_blob_store *bs, int rc)
{
	struct blob_done *d = arg;

	d->n++;
	d->rc = rc;
	d->bs = bs;
}

void blob_done_id(void *arg, spio_blob_id id, int rc)
{
	struct blob_done *d = arg;

	d->n++;
	d->rc = rc;
	d->id = id;
}

void blob_done_blob(void *arg, struct spio_blob *blob, int rc)
{
	struct blob_done *d = arg;

	d->n++;
	d->rc = rc;
	d->blob = blob;
}
