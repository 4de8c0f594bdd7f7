/*
 * Blob xattrs: external ones (the user's) and internal ones (the
 * blobstore's own, such as a clone's parent), kept as lists in memory and
 * written with the blob's metadata.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blob_internal.h"
#include "spio/log.h"

struct spio_xattr_names {
	uint32_t count;
	char *names[];
};

struct blob_xattr *blob_xattr_find(struct blob_xattr_list *list, const char *name)
{
	struct blob_xattr *x;

	TAILQ_FOREACH (x, list, link) {
		if (strcmp(x->name, name) == 0) {
			return x;
		}
	}
	return NULL;
}

/* An xattr must fit one md page's descriptor area with its header (SPDK's rule). */
static bool xattr_fits_page(size_t name_len, size_t value_len)
{
	return sizeof(struct blob_desc_xattr) + name_len + value_len <= BLOB_DESCS_SIZE;
}

int blob_xattr_set(struct spio_blob *blob, const char *name, const void *value, uint16_t len,
		   bool internal)
{
	struct blob_xattr_list *list = internal ? &blob->xattrs_internal : &blob->xattrs;
	struct blob_xattr *x;
	size_t name_len;
	void *copy;

	if (name == NULL || (value == NULL && len > 0)) {
		return -EINVAL;
	}
	name_len = strlen(name);
	if (name_len == 0 || name_len > UINT16_MAX || !xattr_fits_page(name_len, len)) {
		return -EINVAL;
	}
	copy = malloc(len ? len : 1);
	if (copy == NULL) {
		return -ENOMEM;
	}
	if (len) {
		memcpy(copy, value, len);
	}
	x = blob_xattr_find(list, name);
	if (x != NULL) {
		free(x->value);
		x->value = copy;
		x->value_len = len;
	} else {
		x = calloc(1, sizeof(*x));
		if (x == NULL || (x->name = strdup(name)) == NULL) {
			free(x);
			free(copy);
			return -ENOMEM;
		}
		x->value = copy;
		x->value_len = len;
		TAILQ_INSERT_TAIL(list, x, link);
	}
	if (internal) {
		blob->invalid_flags |= BLOB_FLAG_INTERNAL_XATTR;
	}
	blob->dirty = true;
	return 0;
}

int blob_xattr_remove(struct spio_blob *blob, const char *name, bool internal)
{
	struct blob_xattr_list *list = internal ? &blob->xattrs_internal : &blob->xattrs;
	struct blob_xattr *x = name ? blob_xattr_find(list, name) : NULL;

	if (x == NULL) {
		return -ENOENT;
	}
	TAILQ_REMOVE(list, x, link);
	free(x->name);
	free(x->value);
	free(x);
	if (internal && TAILQ_EMPTY(list)) {
		blob->invalid_flags &= ~BLOB_FLAG_INTERNAL_XATTR;
	}
	blob->dirty = true;
	return 0;
}

void blob_xattr_list_free(struct blob_xattr_list *list)
{
	struct blob_xattr *x;

	while ((x = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, x, link);
		free(x->name);
		free(x->value);
		free(x);
	}
}

int spio_blob_set_xattr(struct spio_blob *blob, const char *name, const void *value,
			uint16_t value_len)
{
	if (blob == NULL || !bs_on_md_thread(blob->bs, "spio_blob_set_xattr")) {
		return -EINVAL;
	}
	if (blob->md_ro) {
		return -EPERM;
	}
	return blob_xattr_set(blob, name, value, value_len, false);
}

int spio_blob_remove_xattr(struct spio_blob *blob, const char *name)
{
	if (blob == NULL || !bs_on_md_thread(blob->bs, "spio_blob_remove_xattr")) {
		return -EINVAL;
	}
	if (blob->md_ro) {
		return -EPERM;
	}
	return blob_xattr_remove(blob, name, false);
}

int spio_blob_get_xattr_value(struct spio_blob *blob, const char *name, const void **value,
			      size_t *value_len)
{
	struct blob_xattr *x;

	if (blob == NULL || name == NULL || value == NULL || value_len == NULL) {
		return -EINVAL;
	}
	x = blob_xattr_find(&blob->xattrs, name);
	if (x == NULL) {
		return -ENOENT;
	}
	*value = x->value;
	*value_len = x->value_len;
	return 0;
}

int spio_blob_get_xattr_names(struct spio_blob *blob, struct spio_xattr_names **names)
{
	struct spio_xattr_names *n;
	struct blob_xattr *x;
	uint32_t count = 0;

	if (blob == NULL || names == NULL) {
		return -EINVAL;
	}
	TAILQ_FOREACH (x, &blob->xattrs, link) {
		count++;
	}
	n = calloc(1, sizeof(*n) + count * sizeof(char *));
	if (n == NULL) {
		return -ENOMEM;
	}
	TAILQ_FOREACH (x, &blob->xattrs, link) {
		n->names[n->count] = strdup(x->name);
		if (n->names[n->count] == NULL) {
			spio_xattr_names_free(n);
			return -ENOMEM;
		}
		n->count++;
	}
	*names = n;
	return 0;
}

uint32_t spio_xattr_names_get_count(struct spio_xattr_names *names)
{
	return names ? names->count : 0;
}

const char *spio_xattr_names_get_name(struct spio_xattr_names *names, uint32_t index)
{
	return names && index < names->count ? names->names[index] : NULL;
}

void spio_xattr_names_free(struct spio_xattr_names *names)
{
	if (names == NULL) {
		return;
	}
	for (uint32_t i = 0; i < names->count; i++) {
		free(names->names[i]);
	}
	free(names);
}
