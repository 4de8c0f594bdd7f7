/* The blob_md fuzzer's device, base store, input format and synchronous calls. */
#include "blob_md_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob_format.h"
#include "spio/dma.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/thread.h"

/* Polls without progress that make an operation a hang. */
#define BMD_HANG_POLLS 2000000

struct spio_thread *bmd_thread;
struct bmd_base_ids bmd_ids;

static struct spio_bs_dev *g_mem;
static uint8_t *g_bytes;
static uint8_t *g_base;			      /* BMD_BASE_BYTES of the base store */
static uint8_t g_touched[BMD_DEV_BLOCKS / 8]; /* blocks changed since the last restore */

void bmd_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_blob_md: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

void bmd_env_init(const char *name, bool verbose)
{
	struct spio_env_opts eo;

	spio_log_set_level(verbose ? SPIO_LOG_INFO : SPIO_LOG_DISABLED);
	spio_env_opts_init(&eo, sizeof(eo));
	eo.name = name;
	eo.no_huge = true;
	if (spio_env_init(&eo) != 0 || spio_thread_lib_init(NULL, 0) != 0) {
		bmd_die("environment set-up failed");
	}
	bmd_thread = spio_thread_create(name, NULL);
	if (bmd_thread == NULL) {
		bmd_die("no thread");
	}
	spio_set_thread(bmd_thread);
	g_mem = spio_bs_dev_mem_create(BMD_DEV_BLOCKS, BMD_BLOCKLEN);
	if (g_mem == NULL) {
		bmd_die("no memory device");
	}
	g_bytes = spio_bs_dev_mem_data(g_mem);
	g_base = calloc(1, BMD_BASE_BYTES);
	if (g_base == NULL) {
		bmd_die("no memory for the base image");
	}
}

struct spio_bs_dev *bmd_mem(void)
{
	return g_mem;
}

uint8_t *bmd_bytes(void)
{
	return g_bytes;
}

const uint8_t *bmd_base(void)
{
	return g_base;
}

/*
 * The wrapper
 */

static struct bmd_dev *dev_of(struct spio_bs_dev *d)
{
	return (struct bmd_dev *)d;
}

void bmd_touch(uint64_t lba, uint64_t n)
{
	for (uint64_t b = lba; b < lba + n && b < BMD_DEV_BLOCKS; b++) {
		g_touched[b / 8] |= (uint8_t)(1u << (b % 8));
	}
}

void bmd_restore(void)
{
	for (uint64_t b = 0; b < BMD_DEV_BLOCKS; b++) {
		uint8_t *p = g_bytes + b * BMD_BLOCKLEN;

		if (!(g_touched[b / 8] & (1u << (b % 8)))) {
			continue;
		}
		if (b * BMD_BLOCKLEN < BMD_BASE_BYTES) {
			memcpy(p, g_base + b * BMD_BLOCKLEN, BMD_BLOCKLEN);
		} else {
			memset(p, 0, BMD_BLOCKLEN);
		}
	}
	memset(g_touched, 0, sizeof(g_touched));
}

/* Every access must stay inside what the store may reach: the device, or its size once known. */
static void check_range(struct bmd_dev *d, uint64_t lba, uint64_t n, const char *op)
{
	if (d->destroyed) {
		bmd_die("%s on a destroyed device", op);
	}
	if (n == 0 || lba >= d->limit || n > d->limit - lba) {
		bmd_die("%s of blocks [%llu, +%llu) outside the %llu blocks the store may use", op,
			(unsigned long long)lba, (unsigned long long)n,
			(unsigned long long)d->limit);
	}
}

static struct spio_io_channel *w_create_channel(struct spio_bs_dev *d)
{
	return dev_of(d)->inner->create_channel(dev_of(d)->inner);
}

static void w_destroy_channel(struct spio_bs_dev *d, struct spio_io_channel *ch)
{
	dev_of(d)->inner->destroy_channel(dev_of(d)->inner, ch);
}

static void w_destroy(struct spio_bs_dev *d)
{
	if (dev_of(d)->destroyed++) {
		bmd_die("device destroyed twice");
	}
}

static void w_read(struct spio_bs_dev *d, struct spio_io_channel *ch, void *buf, uint64_t lba,
		   uint32_t n, struct spio_bs_dev_cb_args *a)
{
	check_range(dev_of(d), lba, n, "read");
	dev_of(d)->reads++;
	dev_of(d)->inner->read(dev_of(d)->inner, ch, buf, lba, n, a);
}

static void w_readv(struct spio_bs_dev *d, struct spio_io_channel *ch, struct iovec *iov,
		    int iovcnt, uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *a)
{
	check_range(dev_of(d), lba, n, "readv");
	dev_of(d)->reads++;
	dev_of(d)->inner->readv(dev_of(d)->inner, ch, iov, iovcnt, lba, n, a);
}

static void w_write(struct spio_bs_dev *d, struct spio_io_channel *ch, void *buf, uint64_t lba,
		    uint32_t n, struct spio_bs_dev_cb_args *a)
{
	check_range(dev_of(d), lba, n, "write");
	dev_of(d)->writes++;
	bmd_touch(lba, n);
	dev_of(d)->inner->write(dev_of(d)->inner, ch, buf, lba, n, a);
}

static void w_writev(struct spio_bs_dev *d, struct spio_io_channel *ch, struct iovec *iov,
		     int iovcnt, uint64_t lba, uint32_t n, struct spio_bs_dev_cb_args *a)
{
	check_range(dev_of(d), lba, n, "writev");
	dev_of(d)->writes++;
	bmd_touch(lba, n);
	dev_of(d)->inner->writev(dev_of(d)->inner, ch, iov, iovcnt, lba, n, a);
}

static void w_flush(struct spio_bs_dev *d, struct spio_io_channel *ch,
		    struct spio_bs_dev_cb_args *a)
{
	dev_of(d)->inner->flush(dev_of(d)->inner, ch, a);
}

static void w_zeroes(struct spio_bs_dev *d, struct spio_io_channel *ch, uint64_t lba, uint64_t n,
		     struct spio_bs_dev_cb_args *a)
{
	check_range(dev_of(d), lba, n, "write_zeroes");
	dev_of(d)->writes++;
	bmd_touch(lba, n);
	dev_of(d)->inner->write_zeroes(dev_of(d)->inner, ch, lba, n, a);
}

static void w_unmap(struct spio_bs_dev *d, struct spio_io_channel *ch, uint64_t lba, uint64_t n,
		    struct spio_bs_dev_cb_args *a)
{
	check_range(dev_of(d), lba, n, "unmap");
	dev_of(d)->writes++;
	bmd_touch(lba, n);
	dev_of(d)->inner->unmap(dev_of(d)->inner, ch, lba, n, a);
}

struct spio_bs_dev *bmd_dev_init(struct bmd_dev *d)
{
	*d = (struct bmd_dev){
	    .base = {.create_channel = w_create_channel,
		     .destroy_channel = w_destroy_channel,
		     .destroy = w_destroy,
		     .read = w_read,
		     .write = w_write,
		     .readv = w_readv,
		     .writev = w_writev,
		     .flush = w_flush,
		     .write_zeroes = w_zeroes,
		     .unmap = w_unmap,
		     .blockcnt = g_mem->blockcnt,
		     .blocklen = g_mem->blocklen},
	    .inner = g_mem,
	    .limit = g_mem->blockcnt,
	};
	return &d->base;
}

/*
 * Synchronous calls
 */

void bmd_cb(void *arg, int rc)
{
	struct bmd_wait *w = arg;

	w->done++;
	w->rc = rc;
}

void bmd_cb_bs(void *arg, struct spio_blob_store *bs, int rc)
{
	struct bmd_wait *w = arg;

	w->bs = bs;
	bmd_cb(arg, rc);
}

void bmd_cb_blob(void *arg, struct spio_blob *blob, int rc)
{
	struct bmd_wait *w = arg;

	w->blob = blob;
	bmd_cb(arg, rc);
}

void bmd_cb_id(void *arg, spio_blob_id id, int rc)
{
	struct bmd_wait *w = arg;

	w->id = id;
	bmd_cb(arg, rc);
}

int bmd_wait(struct bmd_wait *w, const char *what)
{
	int idle = 0;

	while (w->done == 0) {
		if (spio_thread_poll(bmd_thread, 0, 0) > 0) {
			idle = 0;
		} else if (++idle > BMD_HANG_POLLS) {
			bmd_die("%s never completed", what);
		}
	}
	if (w->done != 1) {
		bmd_die("%s completed %d times", what, w->done);
	}
	return w->rc;
}

void bmd_settle(void)
{
	for (int idle = 0; idle < 3;) {
		idle = spio_thread_poll(bmd_thread, 0, 0) > 0 ? 0 : idle + 1;
	}
}

/*
 * The base store
 */

static void base_check(int rc, const char *what)
{
	if (rc != 0) {
		bmd_die("base store: %s failed: %d", what, rc);
	}
}

static spio_blob_id base_create(struct spio_blob_store *bs, uint64_t clusters, bool thin,
				bool extent_table)
{
	struct spio_blob_opts o;
	struct bmd_wait w = {0};

	spio_blob_opts_init(&o, sizeof(o));
	o.num_clusters = clusters;
	o.thin_provision = thin;
	o.use_extent_table = extent_table;
	spio_bs_create_blob_ext(bs, &o, bmd_cb_id, &w);
	base_check(bmd_wait(&w, "create"), "create");
	return w.id;
}

static struct spio_blob *base_open(struct spio_blob_store *bs, spio_blob_id id)
{
	struct bmd_wait w = {0};

	spio_bs_open_blob(bs, id, bmd_cb_blob, &w);
	base_check(bmd_wait(&w, "open"), "open");
	return w.blob;
}

static void base_close(struct spio_blob *blob)
{
	struct bmd_wait w = {0};

	spio_blob_sync_md(blob, bmd_cb, &w);
	base_check(bmd_wait(&w, "sync"), "sync");
	w = (struct bmd_wait){0};
	spio_blob_close(blob, bmd_cb, &w);
	base_check(bmd_wait(&w, "close"), "close");
}

static void base_name(struct spio_blob *blob, const char *name)
{
	base_check(spio_blob_set_xattr(blob, "name", name, (uint16_t)(strlen(name) + 1)),
		   "set_xattr");
}

/* Write io unit `unit` of the blob with bytes `fill`. */
static void base_write(struct spio_blob_store *bs, struct spio_io_channel *ch, spio_blob_id id,
		       uint64_t unit, uint8_t fill)
{
	struct spio_blob *blob = base_open(bs, id);
	struct bmd_wait w = {0};
	void *buf = spio_dma_zmalloc(BMD_BLOCKLEN, BMD_BLOCKLEN);

	if (buf == NULL) {
		bmd_die("base store: no buffer");
	}
	memset(buf, fill, BMD_BLOCKLEN);
	spio_blob_io_write(blob, ch, buf, unit, 1, bmd_cb, &w);
	base_check(bmd_wait(&w, "write"), "write");
	spio_dma_free(buf);
	base_close(blob);
}

void bmd_base_build(void)
{
	struct bmd_dev dev;
	struct spio_bs_opts o;
	struct spio_blob_store *bs;
	struct spio_io_channel *ch;
	struct spio_blob *blob;
	struct bmd_wait w = {0};
	spio_blob_id thick, rle, thin, thin_rle, snap, clone, ro, many, gone;
	char value[1000];

	bmd_dev_init(&dev);
	dev.base.blockcnt = BMD_BASE_BYTES / BMD_BLOCKLEN;
	dev.limit = dev.base.blockcnt;
	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = BMD_BASE_CLUSTER;
	o.num_md_pages = BMD_BASE_MD_PAGES;
	spio_bs_init(&dev.base, &o, bmd_cb_bs, &w);
	base_check(bmd_wait(&w, "init"), "init");
	bs = w.bs;
	ch = spio_bs_alloc_io_channel(bs);
	if (ch == NULL) {
		bmd_die("base store: no channel");
	}

	thick = base_create(bs, 3, false, true);
	rle = base_create(bs, 2, false, false);
	gone = base_create(bs, 1, false, true);
	thin = base_create(bs, 4, true, true);
	thin_rle = base_create(bs, 3, true, false);
	ro = base_create(bs, 1, false, true);
	many = base_create(bs, 0, false, true);

	blob = base_open(bs, thick);
	base_name(blob, "thick");
	base_close(blob);
	blob = base_open(bs, rle);
	base_name(blob, "rle");
	base_close(blob);
	base_write(bs, ch, thick, 0, 0x11);
	base_write(bs, ch, rle, 17, 0x22);
	base_write(bs, ch, thin, 2 * (BMD_BASE_CLUSTER / BMD_BLOCKLEN) + 3, 0x33);
	base_write(bs, ch, thin_rle, BMD_BASE_CLUSTER / BMD_BLOCKLEN, 0x44);

	/* thick becomes a clone of snap; clone is a second clone of it. */
	w = (struct bmd_wait){0};
	spio_bs_create_snapshot(bs, thick, NULL, bmd_cb_id, &w);
	base_check(bmd_wait(&w, "snapshot"), "snapshot");
	snap = w.id;
	w = (struct bmd_wait){0};
	spio_bs_create_clone(bs, snap, NULL, bmd_cb_id, &w);
	base_check(bmd_wait(&w, "clone"), "clone");
	clone = w.id;
	base_write(bs, ch, thick, 1, 0x55);
	base_write(bs, ch, clone, BMD_BASE_CLUSTER / BMD_BLOCKLEN + 1, 0x66);

	blob = base_open(bs, ro);
	base_name(blob, "read-only");
	base_check(spio_blob_set_read_only(blob), "set_read_only");
	base_close(blob);

	/* Enough xattrs for a chain of several md pages. */
	blob = base_open(bs, many);
	for (int i = 0; i < 10; i++) {
		char name[16];

		snprintf(name, sizeof(name), "x%02d", i);
		memset(value, 'a' + i, sizeof(value));
		base_check(
		    spio_blob_set_xattr(blob, name, value, (uint16_t)(sizeof(value) - 64 * i)),
		    "set_xattr");
	}
	base_close(blob);

	w = (struct bmd_wait){0};
	spio_bs_delete_blob(bs, gone, bmd_cb, &w);
	base_check(bmd_wait(&w, "delete"), "delete");
	w = (struct bmd_wait){0};
	spio_bs_set_super(bs, many, bmd_cb, &w);
	base_check(bmd_wait(&w, "set_super"), "set_super");

	bmd_ids = (struct bmd_base_ids){.thick = thick,
					.rle = rle,
					.thin = thin,
					.thin_rle = thin_rle,
					.snap = snap,
					.clone = clone,
					.ro = ro,
					.many = many};
	spio_bs_free_io_channel(ch);
	bmd_settle();
	w = (struct bmd_wait){0};
	spio_bs_unload(bs, bmd_cb, &w);
	base_check(bmd_wait(&w, "unload"), "unload");
	memcpy(g_base, g_bytes, BMD_BASE_BYTES);
	memset(g_touched, 0, sizeof(g_touched));
}

/*
 * The input
 */

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void bmd_input_apply(const uint8_t *data, size_t size)
{
	static uint8_t patched[BMD_META_BYTES / BMD_BLOCKLEN];
	uint8_t flags = size > 0 ? data[0] : 0;
	uint32_t md_start, md_len, page_size;
	size_t pos = 1;

	memset(patched, 0, sizeof(patched));
	bmd_touch(0, BMD_META_BYTES / BMD_BLOCKLEN);
	if (flags & BMD_ZERO) {
		memset(g_bytes, 0, BMD_META_BYTES);
	}
	while (pos + 4 <= size) {
		uint32_t off =
		    (data[pos] | (uint32_t)data[pos + 1] << 8 | (uint32_t)data[pos + 2] << 16) %
		    BMD_META_BYTES;
		size_t len = data[pos + 3];

		pos += 4;
		if (len > size - pos) {
			len = size - pos;
		}
		if (len > BMD_META_BYTES - off) {
			len = BMD_META_BYTES - off;
		}
		memcpy(g_bytes + off, data + pos, len);
		for (size_t p = off / BMD_BLOCKLEN; len > 0 && p <= (off + len - 1) / BMD_BLOCKLEN;
		     p++) {
			patched[p] = 1;
		}
		pos += len;
	}
	if (flags & BMD_DIRTY) {
		((struct blob_super_block *)g_bytes)->clean = 0;
		patched[0] = 1;
	}
	if (flags & BMD_NOCRC) {
		return;
	}
	md_start = get_le32(g_bytes + offsetof(struct blob_super_block, md_start));
	md_len = get_le32(g_bytes + offsetof(struct blob_super_block, md_len));
	page_size = get_le32(g_bytes + offsetof(struct blob_super_block, md_page_size));
	if (patched[0]) {
		blob_super_set_crc((struct blob_super_block *)g_bytes);
	}
	if (page_size != 0 && page_size != BLOB_PAGE_SIZE) {
		return;
	}
	for (uint32_t p = 1; p < BMD_META_BYTES / BMD_BLOCKLEN; p++) {
		if (patched[p] && p >= md_start && p - md_start < md_len) {
			struct blob_md_page *page = (void *)(g_bytes + (size_t)p * BMD_BLOCKLEN);

			page->crc = blob_page_crc(page);
		}
	}
}
