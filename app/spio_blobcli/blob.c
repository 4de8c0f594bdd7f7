/*
 * Blob metadata commands: -n (create), -w (delete), -x / -r (xattrs),
 * -s <blobid> (show) and -l blobs (list), with blobcli's texts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/task.h"

#include "blobcli.h"

void cli_blob_err(spio_blob_id id, const char *what, int rc)
{
	const char *why;

	switch (rc) {
	case -ENOENT:
		why = "no such blob (-l blobs lists them)";
		break;
	case -EBUSY:
		why = "busy (open, or a snapshot with more than one clone)";
		break;
	case -EPERM:
		why = "the blob is read-only";
		break;
	case -ENOSPC:
		why = "no space left in the blobstore (clusters or metadata pages)";
		break;
	case -EBADMSG:
		why = "corrupt metadata (CRC mismatch)";
		break;
	case -ENOTSUP:
		why = "a blob flag this program does not know";
		break;
	default:
		why = strerror(-rc);
		break;
	}
	cli_err("blob 0x%" PRIx64 ": %s: %s", id, what, why);
}

int cli_open_blob(struct cli_store *st, spio_blob_id id, struct spio_blob **blob)
{
	int rc = spio_bs_open_blob_await(st->bs, id, blob);

	if (rc != 0) {
		cli_blob_err(id, "cannot open", rc);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

int cli_close_blob(struct spio_blob *blob)
{
	spio_blob_id id = spio_blob_get_id(blob);
	int rc = spio_blob_close_await(blob);

	if (rc != 0) {
		cli_blob_err(id, "closing (writing its metadata) failed", rc);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* A script's $B<n> names the n-th blob it created. */
static void remember_script_blob(spio_blob_id id)
{
	spio_blob_id *ids;

	ids = realloc(g_cli.script_blobs, (g_cli.num_script_blobs + 1) * sizeof(*ids));
	if (ids == NULL) {
		cli_err("out of memory: $B%" PRIu32 " will not be known", g_cli.num_script_blobs);
		return;
	}
	ids[g_cli.num_script_blobs++] = id;
	g_cli.script_blobs = ids;
}

int cli_create_blob(struct cli_store *st, const struct cli_cmd *cmd)
{
	struct spio_blob_opts opts;
	struct spio_blob *blob;
	spio_blob_id id;
	uint64_t n;
	int rc;

	spio_blob_opts_init(&opts, sizeof(opts));
	opts.num_clusters = cmd->num_clusters;
	opts.thin_provision = cmd->thin;
	rc = spio_bs_create_blob_await(st->bs, &opts, &id);
	if (rc != 0) {
		cli_err("cannot create a %sblob of %" PRIu64 " clusters: %s",
			cmd->thin ? "thin " : "", cmd->num_clusters,
			rc == -ENOSPC ? "not enough free clusters or metadata pages"
				      : strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	printf("New blob id 0x%" PRIx64 "\n", id);
	if (g_cli.mode == CLI_MODE_SCRIPT) {
		remember_script_blob(id);
	}
	if (cli_open_blob(st, id, &blob) != 0) {
		return CLI_EXIT_FAIL;
	}
	n = spio_blob_get_num_clusters(blob);
	printf("blob now has USED clusters of %" PRIu64 "\n", n);
	return cli_close_blob(blob);
}

int cli_delete_blob(struct cli_store *st, spio_blob_id id)
{
	int rc = spio_bs_delete_blob_await(st->bs, id);

	if (rc != 0) {
		cli_blob_err(id, "cannot delete", rc);
		return CLI_EXIT_FAIL;
	}
	printf("Blob 0x%" PRIx64 " has been deleted.\n", id);
	return 0;
}

static int change_xattr(struct spio_blob *blob, const struct cli_cmd *cmd)
{
	size_t len;
	int rc;

	if (cmd->action == CLI_REM_XATTR) {
		rc = spio_blob_remove_xattr(blob, cmd->key);
		if (rc == -ENOENT) {
			cli_err("blob 0x%" PRIx64 ": xattr %s: no such xattr", cmd->blobid,
				cmd->key);
			return CLI_EXIT_FAIL;
		}
	} else {
		/* blobcli stores the terminating NUL too; lvols and others expect it */
		len = strlen(cmd->value) + 1;
		if (len > UINT16_MAX) {
			cli_err("blob 0x%" PRIx64 ": xattr %s: value of %zu bytes, at most %u",
				cmd->blobid, cmd->key, len, UINT16_MAX);
			return CLI_EXIT_FAIL;
		}
		rc = spio_blob_set_xattr(blob, cmd->key, cmd->value, (uint16_t)len);
	}
	if (rc != 0) {
		cli_blob_err(cmd->blobid,
			     rc == -EINVAL ? "xattr too large for a metadata page"
					   : "cannot change the xattr",
			     rc);
		return CLI_EXIT_FAIL;
	}
	rc = spio_blob_sync_md_await(blob);
	if (rc != 0) {
		cli_blob_err(cmd->blobid, "writing its metadata failed", rc);
		return CLI_EXIT_FAIL;
	}
	printf(cmd->action == CLI_REM_XATTR ? "Xattr has been removed.\n"
					    : "Xattr has been set.\n");
	return 0;
}

int cli_xattr(struct cli_store *st, const struct cli_cmd *cmd)
{
	struct spio_blob *blob;
	int rc, crc;

	if (cli_open_blob(st, cmd->blobid, &blob) != 0) {
		return CLI_EXIT_FAIL;
	}
	rc = change_xattr(blob, cmd);
	crc = cli_close_blob(blob);
	return rc != 0 ? rc : crc;
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

static int show_xattrs(struct spio_blob *blob)
{
	struct spio_xattr_names *names;
	const void *value;
	size_t value_len;
	uint32_t i, count;
	int rc;

	rc = spio_blob_get_xattr_names(blob, &names);
	if (rc != 0) {
		cli_blob_err(spio_blob_get_id(blob), "cannot list its xattrs", rc);
		return CLI_EXIT_FAIL;
	}
	count = spio_xattr_names_get_count(names);
	printf("# of xattrs: %" PRIu32 "\n", count);
	printf("xattrs:\n");
	for (i = 0; i < count; i++) {
		const char *name = spio_xattr_names_get_name(names, i);

		if (spio_blob_get_xattr_value(blob, name, &value, &value_len) != 0) {
			value = NULL;
			value_len = 0;
		}
		/* blobcli's values end with a NUL that it does not show */
		if (value_len > 0 && ((const char *)value)[value_len - 1] == '\0') {
			value_len--;
		}
		printf("\n(%" PRIu32 ") Name:%s\n", i, name);
		printf("(%" PRIu32 ") Value:\n", i);
		cli_hexdump(stdout, "", value, value_len);
	}
	spio_xattr_names_free(names);
	return 0;
}

int cli_show_blob(struct cli_store *st, spio_blob_id id)
{
	struct spio_blob *blob;
	spio_blob_id parent;
	uint64_t n;
	int rc, crc;

	if (cli_open_blob(st, id, &blob) != 0) {
		return CLI_EXIT_FAIL;
	}
	n = spio_blob_get_num_clusters(blob);
	printf("Blob Public Info:\n");
	printf("blob ID: 0x%" PRIx64 "\n", id);
	printf("# of clusters: %" PRIu64 "\n", n);
	printf("# of bytes: %" PRIu64 "\n", n * spio_bs_get_cluster_size(st->bs));
	printf("# of io units: %" PRIu64 "\n", spio_blob_get_num_io_units(blob));
	rc = show_xattrs(blob);

	/* blobcli shows private state here (open refs); these say more */
	parent = spio_blob_get_parent_snapshot(st->bs, id);
	printf("\nBlob Other Info:\n");
	printf("# of allocated clusters: %" PRIu64 "\n",
	       spio_blob_get_num_allocated_clusters(blob));
	printf("thin provisioned: %s\n", yes_no(spio_blob_is_thin_provisioned(blob)));
	printf("read only: %s\n", yes_no(spio_blob_is_read_only(blob)));
	printf("snapshot: %s\n", yes_no(spio_blob_is_snapshot(blob)));
	if (parent != SPIO_BLOBID_INVALID) {
		printf("clone of: 0x%" PRIx64 "\n", parent);
	} else {
		printf("clone of: none\n");
	}
	crc = cli_close_blob(blob);
	return rc != 0 ? rc : crc;
}

static void iter_done(void *cb_arg, struct spio_blob *blob, int bserrno)
{
	struct spio_completion *c = cb_arg;

	c->ptr = blob;
	spio_completion_done(c, bserrno);
}

int cli_list_blobs(struct cli_store *st)
{
	struct spio_completion c;
	struct spio_blob *blob;
	int rc;

	printf("\nList BLOBS:\n");
	spio_completion_init(&c);
	spio_bs_iter_first(st->bs, iter_done, &c);
	rc = spio_await(&c);
	while (rc == 0) {
		blob = c.ptr;
		printf("Found blob with ID# 0x%" PRIx64 "\n", spio_blob_get_id(blob));
		spio_completion_init(&c);
		/* closes `blob` and opens the next */
		spio_bs_iter_next(st->bs, blob, iter_done, &c);
		rc = spio_await(&c);
	}
	if (rc != -ENOENT) {
		cli_err("bdev %s: listing the blobs failed: %s", g_cli.bdev_name, strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}
