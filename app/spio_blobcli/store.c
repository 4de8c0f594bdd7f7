/*
 * The store itself: load and unload around every command, -i (init), -D
 * (metadata dump), -s bs, -p (super blob) and -l bdevs. Texts a user may
 * script against ("Blobstore Public Info:", "\tcluster size: ...") are
 * blobcli's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/bdev.h"
#include "spio/blob_bdev.h"
#include "spio/dma.h"
#include "spio/task.h"
#include "spio/util.h"

#include "blobcli.h"

/*
 * Fields of the on-disk super block (SPDK's struct spdk_bs_super_block,
 * packed, little-endian) that the public API does not report but blobcli's
 * -s bs prints.
 */
#define SB_SIGNATURE "SPDKBLOB"
#define SB_OFF_VERSION 8
#define SB_OFF_MD_START 48
#define SB_OFF_MD_LEN 52
#define SB_SIZE 4096u

static const char *load_errstr(int rc)
{
	switch (rc) {
	case -EILSEQ:
		return "no blobstore there (no SPDKBLOB signature; -i makes one)";
	case -ENOTSUP:
		return "a blobstore version or flag this program does not know";
	case -EBADMSG:
		return "corrupt metadata (CRC mismatch)";
	case -EINVAL:
	case -ERANGE:
		return "inconsistent metadata (the log says what)";
	case -ENXIO:
		return "blobstore type mismatch";
	default:
		return strerror(-rc);
	}
}

static int open_bs_dev(bool write, struct spio_bs_dev **dev)
{
	int rc = spio_bdev_create_bs_dev(g_cli.bdev_name, write, NULL, NULL, dev);

	if (rc != 0) {
		cli_err("bdev %s: cannot open%s: %s", g_cli.bdev_name, write ? " for writing" : "",
			rc == -ENODEV ? "no such bdev (-l bdevs lists them)" : strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

int cli_store_load(struct cli_store *st, bool force_recover)
{
	struct spio_bs_opts opts;
	struct spio_bs_dev *dev;
	int rc;

	if (open_bs_dev(true, &dev) != 0) {
		return CLI_EXIT_FAIL;
	}
	spio_bs_opts_init(&opts, sizeof(opts));
	opts.force_recover = force_recover;
	rc = spio_bs_load_await(dev, &opts, &st->bs);
	if (rc != 0) {
		st->bs = NULL;
		cli_err("bdev %s: cannot load the blobstore: %s", g_cli.bdev_name, load_errstr(rc));
		return CLI_EXIT_FAIL;
	}
	st->ch = spio_bs_alloc_io_channel(st->bs);
	if (st->ch == NULL) {
		cli_err("bdev %s: no blobstore I/O channel: out of memory", g_cli.bdev_name);
		cli_store_unload(st);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

int cli_store_unload(struct cli_store *st)
{
	int rc;

	if (st->ch != NULL) {
		spio_bs_free_io_channel(st->ch);
		st->ch = NULL;
	}
	if (st->bs == NULL) {
		return 0;
	}
	rc = spio_bs_unload_await(st->bs);
	st->bs = NULL;
	if (rc != 0) {
		cli_err("bdev %s: unloading the blobstore failed: %s", g_cli.bdev_name,
			strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* blobcli asks before it wipes a device; a script (-T) does not ask. */
static int confirm_init(bool *yes)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	size_t i;

	*yes = false;
	printf("Your entire blobstore will be destroyed. Are you sure? (y/n) ");
	fflush(stdout);
	n = getline(&line, &cap, stdin);
	if (n < 0) {
		free(line);
		printf("\n");
		cli_err("-i: no answer on stdin: the blobstore was not initialized");
		return CLI_EXIT_FAIL;
	}
	if (!isatty(STDIN_FILENO)) {
		printf("\n"); /* the answer was not echoed: end the prompt's line */
	}
	for (i = 0; line[i] == ' ' || line[i] == '\t'; i++) {
	}
	*yes = line[i] == 'y' || line[i] == 'Y';
	free(line);
	return 0;
}

int cli_init_bs(void)
{
	struct cli_store st = {0};
	struct spio_bs_dev *dev;
	bool yes = true;
	int rc;

	if (g_cli.mode != CLI_MODE_SCRIPT && confirm_init(&yes) != 0) {
		return CLI_EXIT_FAIL;
	}
	if (!yes) {
		printf("Blobstore not initialized.\n");
		return CLI_EXIT_OK;
	}
	printf("Init blobstore using bdev Name: %s\n", g_cli.bdev_name);
	if (open_bs_dev(true, &dev) != 0) {
		return CLI_EXIT_FAIL;
	}
	rc = spio_bs_init_await(dev, NULL, &st.bs);
	if (rc != 0) {
		cli_err("bdev %s: cannot initialize a blobstore: %s", g_cli.bdev_name,
			rc == -EINVAL ? "the bdev is too small or its block size too large"
				      : strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	printf("blobstore init'd: (%p)\n", (void *)st.bs);
	return cli_store_unload(&st);
}

/* blobcli's xattr printer: the names and UUIDs of an lvol store, "?" otherwise. */
static void dump_print_xattr(FILE *fp, const char *bstype, const char *name, const void *value,
			     size_t value_len)
{
	const char *s = value;
	size_t len = strnlen(s, value_len);
	char uuid_str[64];
	struct spio_uuid uuid;

	if (strcmp(bstype, "LVOLSTORE") != 0) {
		fprintf(fp, "?");
		return;
	}
	if (strcmp(name, "name") == 0) {
		fprintf(fp, "%.*s", (int)len, s);
	} else if (strcmp(name, "uuid") == 0) {
		if (len < sizeof(uuid_str)) {
			memcpy(uuid_str, s, len);
			uuid_str[len] = '\0';
		}
		if (len < sizeof(uuid_str) && spio_uuid_parse(&uuid, uuid_str) == 0) {
			fprintf(fp, "%s", uuid_str);
		} else {
			fprintf(fp, "? Invalid UUID");
		}
	} else {
		fprintf(fp, "?");
	}
}

int cli_dump_bs(void)
{
	struct spio_completion c;
	struct spio_bs_dev *dev;
	int rc;

	printf("Init blobstore using bdev Name: %s\n", g_cli.bdev_name);
	if (open_bs_dev(false, &dev) != 0) {
		return CLI_EXIT_FAIL;
	}
	fflush(stdout);
	spio_completion_init(&c);
	spio_bs_dump(dev, stdout, dump_print_xattr, spio_completion_cb, &c);
	rc = spio_await(&c);
	fflush(stdout);
	if (rc != 0) {
		cli_err("bdev %s: the metadata dump stopped or found a problem: %s",
			g_cli.bdev_name, load_errstr(rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

int cli_list_bdevs(void)
{
	struct spio_bdev *bdev;
	uint32_t count = 0;

	printf("\nList bdevs:\n");
	for (bdev = spio_bdev_first(); bdev != NULL; bdev = spio_bdev_next(bdev)) {
		printf("\tbdev Name: %s\n", spio_bdev_get_name(bdev));
		printf("\tbdev Product Name: %s\n", spio_bdev_get_product_name(bdev));
		count++;
	}
	if (count == 0) {
		printf("Could not find a bdev\n");
	}
	printf("\n");
	return 0;
}

static void sb_read_done(struct spio_io_channel *channel, void *cb_arg, int bserrno)
{
	(void)channel;
	spio_completion_done(cb_arg, bserrno);
}

/* The super block's first SB_SIZE bytes, read through the store's own device. */
static int read_super_block(struct spio_blob_store *bs, uint8_t *out)
{
	struct spio_bs_dev *dev = spio_bs_get_bs_dev(bs);
	uint32_t len = SPIO_MAX(SB_SIZE, dev->blocklen);
	struct spio_bs_dev_cb_args args;
	struct spio_completion c;
	struct spio_io_channel *ch;
	void *buf;
	int rc;

	buf = spio_dma_zmalloc(len, SB_SIZE);
	if (buf == NULL) {
		return -ENOMEM;
	}
	ch = dev->create_channel(dev);
	if (ch == NULL) {
		spio_dma_free(buf);
		return -ENOMEM;
	}
	spio_completion_init(&c);
	args.cb_fn = sb_read_done;
	args.channel = ch;
	args.cb_arg = &c;
	dev->read(dev, ch, buf, 0, len / dev->blocklen, &args);
	rc = spio_await(&c);
	dev->destroy_channel(dev, ch);
	if (rc == 0) {
		memcpy(out, buf, SB_SIZE);
	}
	spio_dma_free(buf);
	return rc;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int cli_show_bs(struct cli_store *st)
{
	struct spio_bdev *bdev = spio_bs_dev_get_bdev(spio_bs_get_bs_dev(st->bs));
	struct spio_bs_type bstype;
	spio_blob_id super_id = SPIO_BLOBID_INVALID;
	uint8_t *sb;
	int rc;

	rc = spio_bs_get_super_await(st->bs, &super_id);
	if (rc == -ENOENT) {
		super_id = SPIO_BLOBID_INVALID;
	} else if (rc != 0) {
		cli_err("bdev %s: cannot get the super blob: %s", g_cli.bdev_name, strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	sb = malloc(SB_SIZE);
	if (sb == NULL) {
		cli_err("out of memory");
		return CLI_EXIT_FAIL;
	}
	rc = read_super_block(st->bs, sb);
	if (rc == 0 && memcmp(sb, SB_SIGNATURE, strlen(SB_SIGNATURE)) != 0) {
		rc = -EILSEQ; /* the store is loaded: someone else wrote the device */
	}
	if (rc != 0) {
		cli_err("bdev %s: cannot read the super block: %s", g_cli.bdev_name, strerror(-rc));
		free(sb);
		return CLI_EXIT_FAIL;
	}

	printf("Blobstore Public Info:\n");
	printf("\tUsing bdev Product Name: %s\n",
	       bdev != NULL ? spio_bdev_get_product_name(bdev) : "(not a bdev)");
	printf("\tAPI Version: %" PRIu32 "\n", get_le32(sb + SB_OFF_VERSION));
	if (super_id != SPIO_BLOBID_INVALID) {
		printf("\tsuper blob ID: 0x%" PRIx64 "\n", super_id);
	} else {
		printf("\tsuper blob ID: none assigned\n");
	}
	printf("\tmd page size: %" PRIu64 "\n", spio_bs_get_page_size(st->bs));
	printf("\tio unit size: %" PRIu64 "\n", spio_bs_get_io_unit_size(st->bs));
	printf("\tcluster size: %" PRIu64 "\n", spio_bs_get_cluster_size(st->bs));
	printf("\t# free clusters: %" PRIu64 "\n", spio_bs_free_cluster_count(st->bs));
	bstype = spio_bs_get_bstype(st->bs);
	cli_hexdump(stdout, "\tblobstore type:", &bstype, sizeof(bstype));

	printf("\nBlobstore Private Info:\n");
	printf("\tMetadata start (pages): %" PRIu32 "\n", get_le32(sb + SB_OFF_MD_START));
	printf("\tMetadata length (pages): %" PRIu32 "\n", get_le32(sb + SB_OFF_MD_LEN));
	free(sb);
	return 0;
}

int cli_set_super(struct cli_store *st, spio_blob_id id)
{
	int rc = spio_bs_set_super_await(st->bs, id);

	if (rc != 0) {
		cli_blob_err(id, "cannot make it the super blob", rc);
		return CLI_EXIT_FAIL;
	}
	printf("Super Blob ID has been set.\n");
	return 0;
}
