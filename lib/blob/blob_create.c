/*
 * Creating a blob: claim its first md page (which is its id), build it in
 * memory (flags, xattrs, clusters) and write its metadata. Also used by
 * snapshot and clone, which start from a prepared in-memory blob.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/log.h"

void spio_blob_opts_init(struct spio_blob_opts *opts, size_t opts_size)
{
	struct spio_blob_opts def = {
	    .num_clusters = 0,
	    .thin_provision = false,
	    .clear_method = SPIO_BLOB_CLEAR_WITH_DEFAULT,
	    .use_extent_table = true,
	    .opts_size = sizeof(def),
	};

	bs_opts_fill(opts, opts_size, &def, sizeof(def),
		     offsetof(struct spio_blob_opts, opts_size));
}

int blob_xattr_opts_copy(struct blob_xattr_list *dst, const struct spio_blob_xattr_opts *xo)
{
	TAILQ_INIT(dst);
	if (xo == NULL || xo->count == 0) {
		return 0;
	}
	if (xo->names == NULL || xo->get_value == NULL) {
		return -EINVAL;
	}
	for (size_t i = 0; i < xo->count; i++) {
		const void *value = NULL;
		size_t len = 0;
		struct blob_xattr *x;

		if (xo->names[i] == NULL) {
			goto invalid;
		}
		xo->get_value(xo->ctx, xo->names[i], &value, &len);
		if (value == NULL || len > UINT16_MAX) {
			goto invalid;
		}
		x = calloc(1, sizeof(*x));
		if (x == NULL || (x->name = strdup(xo->names[i])) == NULL ||
		    (x->value = malloc(len ? len : 1)) == NULL) {
			if (x != NULL) {
				free(x->name);
			}
			free(x);
			blob_xattr_list_free(dst);
			return -ENOMEM;
		}
		memcpy(x->value, value, len);
		x->value_len = (uint16_t)len;
		TAILQ_INSERT_TAIL(dst, x, link);
	}
	return 0;
invalid:
	blob_xattr_list_free(dst);
	return -EINVAL;
}

int blob_xattr_list_apply(struct spio_blob *blob, const struct blob_xattr_list *src, bool internal)
{
	struct blob_xattr *x;

	TAILQ_FOREACH (x, src, link) {
		int rc = blob_xattr_set(blob, x->name, x->value, x->value_len, internal);

		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

void blob_set_clear_method(struct spio_blob *blob, enum spio_blob_clear_method m)
{
	blob->clear_method = m;
	blob->md_ro_flags &= ~BLOB_CLEAR_METHOD_MASK;
	blob->md_ro_flags |= ((uint64_t)m << BLOB_CLEAR_METHOD_SHIFT) & BLOB_CLEAR_METHOD_MASK;
}

int blob_claim_clusters(struct spio_blob *blob, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		uint64_t c;

		if (blob->active.clusters[i] != 0) {
			continue;
		}
		c = bs_claim_cluster(blob->bs);
		if (c == 0) {
			/* Undo this call's claims. */
			for (uint64_t j = from; j < i; j++) {
				if (blob->active.clusters[j] != 0 &&
				    !(j < blob->disk.num_clusters &&
				      blob->disk.clusters[j] == blob->active.clusters[j])) {
					bs_release_cluster(blob->bs, blob->active.clusters[j]);
					blob->active.clusters[j] = 0;
					blob->active.num_allocated--;
				}
			}
			return -ENOSPC;
		}
		blob->active.clusters[i] = c;
		blob->active.num_allocated++;
	}
	blob->dirty = true;
	return 0;
}

struct spio_blob *blob_new(struct spio_blob_store *bs, int *rc)
{
	uint32_t page = bs_claim_md_page(bs, 0);
	struct spio_blob *blob;

	if (page == UINT32_MAX) {
		*rc = -ENOSPC;
		return NULL;
	}
	blob = blob_alloc(bs, blob_page_to_id(page));
	if (blob == NULL) {
		bs_release_md_page(bs, page);
		*rc = -ENOMEM;
		return NULL;
	}
	bs_bits_set(&bs->used_blobids, page);
	/* Not openable until its metadata is on the device. */
	bs_bits_set(&bs->open_blobids, page);
	blob->invalid_flags |= BLOB_FLAG_EXTENT_TABLE;
	blob->dirty = true;
	*rc = 0;
	return blob;
}

void blob_new_abandon(struct spio_blob *blob)
{
	struct spio_blob_store *bs = blob->bs;
	uint32_t page = blob_id_to_page(blob->id);

	for (uint64_t i = 0; i < blob->active.num_clusters; i++) {
		if (blob->active.clusters[i] != 0) {
			bs_release_cluster(bs, blob->active.clusters[i]);
		}
	}
	bs_bits_clear(&bs->open_blobids, page);
	bs_bits_clear(&bs->used_blobids, page);
	bs_release_md_page(bs, page);
	blob_free(blob);
}

struct create_ctx {
	struct spio_blob *blob;
	spio_blob_op_with_id_complete cb_fn;
	void *cb_arg;
};

static void create_persisted(void *arg, int rc)
{
	struct create_ctx *ctx = arg;
	struct spio_blob *blob = ctx->blob;
	spio_blob_id id = blob->id;

	if (rc != 0) {
		blob_new_abandon(blob);
		ctx->cb_fn(ctx->cb_arg, SPIO_BLOBID_INVALID, rc);
	} else {
		bs_bits_clear(&blob->bs->open_blobids, blob_id_to_page(id));
		blob_free(blob);
		ctx->cb_fn(ctx->cb_arg, id, 0);
	}
	free(ctx);
}

struct id_defer {
	spio_blob_op_with_id_complete cb_fn;
	void *cb_arg;
	spio_blob_id id;
};

static void id_deferred(void *arg, int rc)
{
	struct id_defer *d = arg;

	d->cb_fn(d->cb_arg, rc == 0 ? d->id : SPIO_BLOBID_INVALID, rc);
	free(d);
}

void blob_reply_id_later(struct spio_blob_store *bs, spio_blob_op_with_id_complete cb_fn,
			 void *cb_arg, spio_blob_id id, int rc)
{
	struct id_defer *d = calloc(1, sizeof(*d));

	if (d != NULL) {
		d->cb_fn = cb_fn;
		d->cb_arg = cb_arg;
		d->id = id;
		if (bs_defer(bs, id_deferred, d, rc) == 0) {
			return;
		}
		free(d);
	}
	cb_fn(cb_arg, SPIO_BLOBID_INVALID, -ENOMEM);
}

void blob_write_new(struct spio_blob *blob, spio_blob_op_with_id_complete cb_fn, void *cb_arg)
{
	struct create_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		struct spio_blob_store *bs = blob->bs;

		blob_new_abandon(blob);
		blob_reply_id_later(bs, cb_fn, cb_arg, SPIO_BLOBID_INVALID, -ENOMEM);
		return;
	}
	ctx->blob = blob;
	ctx->cb_fn = cb_fn;
	ctx->cb_arg = cb_arg;
	blob_persist(blob, create_persisted, ctx);
}

void spio_bs_create_blob_ext(struct spio_blob_store *bs, const struct spio_blob_opts *opts,
			     spio_blob_op_with_id_complete cb_fn, void *cb_arg)
{
	struct blob_xattr_list xattrs;
	struct spio_blob_opts o;
	struct spio_blob *blob;
	int rc;

	if (cb_fn == NULL || !bs_on_md_thread(bs, "spio_bs_create_blob_ext")) {
		return;
	}
	spio_blob_opts_init(&o, sizeof(o));
	if (opts != NULL) {
		size_t n =
		    opts->opts_size && opts->opts_size < sizeof(o) ? opts->opts_size : sizeof(o);

		memcpy(&o, opts, n);
	}
	/* Extent pages address blob clusters with 32 bits. */
	if ((unsigned)o.clear_method > SPIO_BLOB_CLEAR_WITH_WRITE_ZEROES ||
	    o.num_clusters > UINT32_MAX) {
		blob_reply_id_later(bs, cb_fn, cb_arg, SPIO_BLOBID_INVALID, -EINVAL);
		return;
	}
	blob = blob_new(bs, &rc);
	if (blob == NULL) {
		blob_reply_id_later(bs, cb_fn, cb_arg, SPIO_BLOBID_INVALID, rc);
		return;
	}
	blob->use_extent_table = o.use_extent_table;
	if (!o.use_extent_table) {
		blob->invalid_flags &= ~BLOB_FLAG_EXTENT_TABLE;
	}
	if (o.thin_provision) {
		blob->invalid_flags |= BLOB_FLAG_THIN_PROV;
	}
	blob_set_clear_method(blob, o.clear_method);
	rc = blob_xattr_opts_copy(&xattrs, &o.xattrs);
	if (rc == 0) {
		rc = blob_xattr_list_apply(blob, &xattrs, false);
		blob_xattr_list_free(&xattrs);
	}
	if (rc == 0) {
		rc = blob_map_resize(&blob->active, o.num_clusters);
	}
	if (rc == 0 && !o.thin_provision) {
		rc = blob_claim_clusters(blob, 0, o.num_clusters);
	}
	if (rc != 0) {
		blob_new_abandon(blob);
		blob_reply_id_later(bs, cb_fn, cb_arg, SPIO_BLOBID_INVALID, rc);
		return;
	}
	blob_write_new(blob, cb_fn, cb_arg);
}

void spio_bs_create_blob(struct spio_blob_store *bs, spio_blob_op_with_id_complete cb_fn,
			 void *cb_arg)
{
	spio_bs_create_blob_ext(bs, NULL, cb_fn, cb_arg);
}
