/*
 * Blob data commands: -f (fill with a byte), -m (import a file, zeroes
 * after its end) and -d (dump the whole blob to a file). blobcli moves one
 * io unit per I/O; here it is up to CLI_CHUNK_BYTES, one I/O at a time,
 * with a dot per chunk.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spio/dma.h"
#include "spio/util.h"

#include "blobcli.h"

#define CLI_CHUNK_BYTES (1024u * 1024)
#define CLI_BUF_ALIGN 4096u

/* One transfer: the open blob and a DMA buffer of `chunk` io units. */
struct xfer {
	struct cli_store *st;
	struct spio_blob *blob;
	spio_blob_id id;
	uint64_t io_unit;
	uint64_t units; /* the blob's size in io units */
	uint64_t chunk;
	void *buf;
};

static int xfer_start(struct xfer *x, struct cli_store *st, spio_blob_id id)
{
	memset(x, 0, sizeof(*x));
	x->st = st;
	x->id = id;
	x->io_unit = spio_bs_get_io_unit_size(st->bs);
	x->chunk = SPIO_MAX(CLI_CHUNK_BYTES / x->io_unit, (uint64_t)1);
	if (cli_open_blob(st, id, &x->blob) != 0) {
		return CLI_EXIT_FAIL;
	}
	x->units = spio_blob_get_num_io_units(x->blob);
	x->buf = spio_dma_malloc(x->chunk * x->io_unit, CLI_BUF_ALIGN);
	if (x->buf == NULL) {
		cli_err("cannot allocate a %" PRIu64 "-byte DMA buffer", x->chunk * x->io_unit);
		cli_close_blob(x->blob);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* Close the blob; `rc` is the command's status so far. */
static int xfer_end(struct xfer *x, int rc)
{
	int crc;

	spio_dma_free(x->buf);
	crc = cli_close_blob(x->blob);
	return rc != 0 ? rc : crc;
}

/* Io units of the chunk at `off`. */
static uint64_t xfer_len(const struct xfer *x, uint64_t off)
{
	return SPIO_MIN(x->chunk, x->units - off);
}

static int xfer_io(struct xfer *x, bool write, uint64_t off, uint64_t len)
{
	int rc;

	if (g_cli.interrupted) {
		printf("\n");
		cli_err("blob 0x%" PRIx64 ": interrupted at io unit %" PRIu64 " of %" PRIu64, x->id,
			off, x->units);
		return CLI_EXIT_FAIL;
	}
	rc = write ? spio_blob_io_write_await(x->blob, x->st->ch, x->buf, off, len)
		   : spio_blob_io_read_await(x->blob, x->st->ch, x->buf, off, len);
	if (rc != 0) {
		printf("\n");
		cli_err("blob 0x%" PRIx64 ": %s of io units %" PRIu64 "..%" PRIu64 " failed: %s",
			x->id, write ? "write" : "read", off, off + len - 1,
			rc == -EPERM	? "the blob is read-only"
			: rc == -ENOSPC ? "no free cluster left for a thin blob"
					: strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	printf(".");
	fflush(stdout);
	return 0;
}

int cli_fill(struct cli_store *st, const struct cli_cmd *cmd)
{
	struct xfer x;
	uint64_t off;
	int rc = 0;

	if (xfer_start(&x, st, cmd->blobid) != 0) {
		return CLI_EXIT_FAIL;
	}
	memset(x.buf, cmd->fill_value, x.chunk * x.io_unit);
	printf("Working");
	for (off = 0; off < x.units && rc == 0; off += x.chunk) {
		rc = xfer_io(&x, true, off, xfer_len(&x, off));
	}
	if (rc == 0) {
		printf("\nBlob fill complete (with 0x%x).\n", cmd->fill_value);
	}
	return xfer_end(&x, rc);
}

/* Up to `len` bytes; fewer only at the end of the file. Bytes read or -errno. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return -errno;
		}
		if (n == 0) {
			break;
		}
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

static int import_loop(struct xfer *x, int fd, const char *path)
{
	uint64_t off, len;
	ssize_t n;
	char extra;
	int rc;

	for (off = 0; off < x->units; off += len) {
		len = xfer_len(x, off);
		n = read_full(fd, x->buf, len * x->io_unit);
		if (n < 0) {
			printf("\n");
			cli_err("%s: read failed: %s", path, strerror((int)-n));
			return CLI_EXIT_FAIL;
		}
		/* past the file's end the chunk is zeroes, as blobcli writes them */
		if ((uint64_t)n < len * x->io_unit) {
			memset((char *)x->buf + n, 0, len * x->io_unit - (uint64_t)n);
		}
		rc = xfer_io(x, true, off, len);
		if (rc != 0) {
			return rc;
		}
	}
	if (read_full(fd, &extra, 1) > 0) {
		printf("\n");
		cli_err("%s: larger than blob 0x%" PRIx64 " (%" PRIu64 " bytes): only its first "
			"%" PRIu64 " bytes were imported",
			path, x->id, x->units * x->io_unit, x->units * x->io_unit);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

int cli_import(struct cli_store *st, const struct cli_cmd *cmd)
{
	struct xfer x;
	struct stat sb;
	int fd, rc;

	fd = open(cmd->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cli_err("%s: cannot open for reading: %s", cmd->file, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (xfer_start(&x, st, cmd->blobid) != 0) {
		close(fd);
		return CLI_EXIT_FAIL;
	}
	/* refuse before writing anything when the size is known */
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (uint64_t)sb.st_size > x.units * x.io_unit) {
		cli_err("%s: %lld bytes do not fit blob 0x%" PRIx64 " (%" PRIu64 " bytes)",
			cmd->file, (long long)sb.st_size, x.id, x.units * x.io_unit);
		close(fd);
		return xfer_end(&x, CLI_EXIT_FAIL);
	}
	printf("Working");
	rc = import_loop(&x, fd, cmd->file);
	close(fd);
	if (rc == 0) {
		printf("\nBlob import complete (from %s).\n", cmd->file);
	}
	return xfer_end(&x, rc);
}

int cli_dump_blob(struct cli_store *st, const struct cli_cmd *cmd)
{
	struct xfer x;
	uint64_t off, len;
	int fd, rc = 0, wrc;

	if (xfer_start(&x, st, cmd->blobid) != 0) {
		return CLI_EXIT_FAIL;
	}
	fd = open(cmd->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		cli_err("%s: cannot open for writing: %s", cmd->file, strerror(errno));
		return xfer_end(&x, CLI_EXIT_FAIL);
	}
	printf("Working");
	for (off = 0; off < x.units && rc == 0; off += len) {
		len = xfer_len(&x, off);
		rc = xfer_io(&x, false, off, len);
		if (rc == 0 && (wrc = write_full(fd, x.buf, len * x.io_unit)) != 0) {
			printf("\n");
			cli_err("%s: write failed: %s", cmd->file, strerror(-wrc));
			rc = CLI_EXIT_FAIL;
		}
	}
	if (close(fd) != 0 && rc == 0) {
		cli_err("%s: close failed: %s", cmd->file, strerror(errno));
		rc = CLI_EXIT_FAIL;
	}
	if (rc == 0) {
		printf("\nFile write complete (to %s).\n", cmd->file);
	}
	return xfer_end(&x, rc);
}
