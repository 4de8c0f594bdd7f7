/*
 * Fuzzer: blobstore metadata (super block, masks, md pages, extent pages)
 * into spio_bs_load, clean or recovering, and what a loaded store then does
 * with it. Input format: blob_md_common.h (a flag byte, then patches over a
 * base store built once, CRCs fixed unless asked not to).
 *
 * Each input runs on a fresh wrapper over one memory device, which is put
 * back as the base image afterwards (only the blocks changed). Invariants,
 * any broken one aborts:
 * - a refused store: the device destroyed once, not one write to it;
 * - no I/O outside the device, nor outside the store's size once loaded;
 * - an accepted store: every blob the id mask names opens (or is refused
 *   for unknown flags), its md pages, extent pages and clusters are marked
 *   in the masks, inside their regions and owned by it alone; its xattrs
 *   read back; its data reads;
 * - then a blob is resized, written and synced, snapshotted, a blob is
 *   created and one deleted (their errors are the store's answer, not
 *   findings), and the store unloads; it must load again, clean, and pass
 *   the same checks (a store accepted and changed never becomes unloadable).
 *
 * FUZZ_VERBOSE=1 in the environment turns the blobstore's log on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob_internal.h"
#include "blob_md_common.h"
#include "spio/dma.h"
#include <sys/resource.h>

#include "spio/env.h"
#include "spio/thread.h"

const char *__asan_default_options(void);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* Blobs a check opens at most (the rest are left alone). */
#define MAX_BLOBS 256
/* The read buffer: whole small blobs go through it in pieces of this size. */
#define BUF_BYTES (64u << 10)

/*
 * A thin blob may be as large as its extent table says (up to 2^32
 * clusters, as in SPDK), and its cluster map takes 8 bytes a cluster: an
 * input can ask for 32 GiB. Allocations past 256 MiB fail instead (the
 * store's -ENOMEM path), so such inputs are answers, not out-of-memory crashes.
 */
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1:max_allocation_size_mb=256";
}

/*
 * Without ASan (the Debug suite's replay) the same inputs would really
 * allocate and clear gigabytes: a data limit makes those allocations fail
 * as they do under ASan. 4 GiB leaves room for the device and the store.
 */
#if defined(__SANITIZE_ADDRESS__)
#define BMD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BMD_ASAN 1
#endif
#endif

static void cap_memory(void)
{
#ifndef BMD_ASAN
	struct rlimit r;

	if (getrlimit(RLIMIT_DATA, &r) == 0 &&
	    (r.rlim_cur == RLIM_INFINITY || r.rlim_cur > (4ull << 30))) {
		r.rlim_cur = 4ull << 30;
		setrlimit(RLIMIT_DATA, &r);
	}
#endif
}

static struct {
	bool ready;
	bool verbose;
	void *buf;
	/* Blobs whose io unit 0 was written with WRITE_BYTE, to read back after the reload. */
	spio_blob_id expect[2];
	int nexpect;
} g;

#define WRITE_BYTE 0xa5

struct opened {
	struct spio_blob *blob[MAX_BLOBS];
	size_t n;
};

static void fini(void)
{
	spio_dma_free(g.buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *v = getenv("FUZZ_VERBOSE");

	(void)argc;
	(void)argv;
	cap_memory();
	if (g.ready) {
		return 0;
	}
	g.verbose = v != NULL && v[0] == '1';
	bmd_env_init("fuzz_blob_md", g.verbose);
	bmd_base_build();
	g.buf = spio_dma_zmalloc(BUF_BYTES, BMD_BLOCKLEN);
	if (g.buf == NULL) {
		bmd_die("no read buffer");
	}
	g.ready = true;
	atexit(fini);
	return 0;
}

/*
 * Checks of a loaded store
 */

static void claim(uint32_t *owner, uint64_t n, uint64_t what, uint32_t who, const char *kind,
		  const struct opened *o)
{
	if (what >= n) {
		bmd_die("blob 0x%" PRIx64 ": %s %" PRIu64 " outside its region of %" PRIu64,
			o->blob[who]->id, kind, what, n);
	}
	if (owner[what] != 0) {
		bmd_die("%s %" PRIu64 " owned by blobs 0x%" PRIx64 " and 0x%" PRIx64, kind, what,
			o->blob[owner[what] - 1]->id, o->blob[who]->id);
	}
	owner[what] = who + 1;
}

/* Every open blob's md pages, extent pages and clusters: in the masks, one owner each. */
static void check_owners(struct spio_blob_store *bs, const struct opened *o)
{
	uint64_t total = bs->geo.total_clusters, md_len = bs->geo.md_len;
	uint32_t *cown = calloc(total, sizeof(*cown));
	uint32_t *mown = calloc(md_len, sizeof(*mown));

	if (cown == NULL || mown == NULL) {
		bmd_die("no memory for the owner maps");
	}
	for (uint32_t i = 0; i < o->n; i++) {
		const struct spio_blob *b = o->blob[i];

		if (!bs_bits_test(&bs->used_blobids, blob_id_to_page(b->id))) {
			bmd_die("open blob 0x%" PRIx64 " not in the blob id mask", b->id);
		}
		if (b->num_md_pages == 0 || b->md_pages[0] != blob_id_to_page(b->id)) {
			bmd_die("blob 0x%" PRIx64 ": chain does not start at its id's page", b->id);
		}
		for (uint32_t j = 0; j < b->num_md_pages; j++) {
			claim(mown, md_len, b->md_pages[j], i, "md page", o);
		}
		for (uint64_t e = 0; e < b->active.num_extent_pages; e++) {
			if (b->active.extent_pages[e] != 0) {
				claim(mown, md_len, b->active.extent_pages[e], i, "md page", o);
			}
		}
		for (uint64_t c = 0; c < b->active.num_clusters; c++) {
			uint64_t pc = b->active.clusters[c];

			if (pc == 0) {
				continue;
			}
			if (pc < bs->geo.md_clusters) {
				bmd_die("blob 0x%" PRIx64 ": cluster %" PRIu64 " is metadata's",
					b->id, pc);
			}
			claim(cown, total, pc, i, "cluster", o);
		}
	}
	for (uint64_t p = 0; p < md_len; p++) {
		if (mown[p] != 0 && !bs_bits_test(&bs->used_md_pages, p)) {
			bmd_die("md page %" PRIu64 " of blob 0x%" PRIx64 " free in the mask", p,
				o->blob[mown[p] - 1]->id);
		}
	}
	for (uint64_t c = 0; c < total; c++) {
		if (cown[c] != 0 && !bs_bits_test(&bs->used_clusters, c)) {
			bmd_die("cluster %" PRIu64 " of blob 0x%" PRIx64 " free in the mask", c,
				o->blob[cown[c] - 1]->id);
		}
	}
	free(cown);
	free(mown);
}

static void check_xattrs(struct spio_blob *blob)
{
	struct spio_xattr_names *names;
	int rc = spio_blob_get_xattr_names(blob, &names);

	if (rc != 0) {
		bmd_die("blob 0x%" PRIx64 ": xattr names: %d", blob->id, rc);
	}
	for (uint32_t i = 0; i < spio_xattr_names_get_count(names); i++) {
		const char *name = spio_xattr_names_get_name(names, i);
		const void *value;
		size_t len;

		rc = spio_blob_get_xattr_value(blob, name, &value, &len);
		if (rc != 0 || (len > 0 && value == NULL)) {
			bmd_die("blob 0x%" PRIx64 ": xattr %s listed but not read: %d", blob->id,
				name, rc);
		}
	}
	spio_xattr_names_free(names);
}

static void read_units(struct spio_blob *blob, struct spio_io_channel *ch, uint64_t off, uint64_t n)
{
	struct bmd_wait w = {0};
	int rc;

	spio_blob_io_read(blob, ch, g.buf, off, n, bmd_cb, &w);
	rc = bmd_wait(&w, "blob read");
	if (rc != 0) {
		bmd_die("blob 0x%" PRIx64 ": read of io units [%" PRIu64 ", +%" PRIu64 "): %d",
			blob->id, off, n, rc);
	}
}

/* All of a small blob; of a large one the first and last io unit of each allocated cluster
 * among its first 2^20 and of its first and last cluster (the mapping, not every byte). */
static void read_blob(struct spio_blob *blob, struct spio_io_channel *ch)
{
	uint64_t units = spio_blob_get_num_io_units(blob);
	uint64_t per_cluster =
	    spio_bs_get_cluster_size(blob->bs) / spio_bs_get_io_unit_size(blob->bs);
	uint64_t chunk = BUF_BYTES / spio_bs_get_io_unit_size(blob->bs);
	uint64_t nc = blob->active.num_clusters;

	if (units == 0 || chunk == 0) {
		return;
	}
	if (units <= 64 * chunk) {
		for (uint64_t off = 0; off < units; off += chunk) {
			read_units(blob, ch, off, units - off < chunk ? units - off : chunk);
		}
		return;
	}
	for (uint64_t c = 0; c < nc; c++) {
		if (c >= (1u << 20) && c != nc - 1) {
			c = nc - 2;
			continue;
		}
		if (c != 0 && c != nc - 1 && blob_cluster_get(blob, c) == 0) {
			continue;
		}
		read_units(blob, ch, c * per_cluster, 1);
		read_units(blob, ch, (c + 1) * per_cluster - 1, 1);
	}
}

/* Open every blob the id mask names (up to MAX_BLOBS), check them, read them. */
static void open_all(struct spio_blob_store *bs, struct spio_io_channel *ch, struct opened *o,
		     const char *when)
{
	o->n = 0;
	for (uint64_t p = bs_bits_find_set(&bs->used_blobids, 0);
	     p != UINT64_MAX && o->n < MAX_BLOBS; p = bs_bits_find_set(&bs->used_blobids, p + 1)) {
		struct bmd_wait w = {0};
		int rc;

		spio_bs_open_blob(bs, blob_page_to_id((uint32_t)p), bmd_cb_blob, &w);
		rc = bmd_wait(&w, "open");
		if (rc == -ENOTSUP) {
			continue; /* flags this code does not know: SPDK refuses those too */
		}
		if (rc != 0) {
			bmd_die("%s: blob 0x%" PRIx64 " of the id mask does not open: %d", when,
				blob_page_to_id((uint32_t)p), rc);
		}
		o->blob[o->n++] = w.blob;
		if (g.verbose) {
			fprintf(stderr,
				"fuzz_blob_md: %s: blob 0x%" PRIx64 ", %" PRIu64
				" clusters, parent 0x%" PRIx64 "\n",
				when, w.blob->id, w.blob->active.num_clusters, w.blob->parent_id);
		}
	}
	check_owners(bs, o);
	if (g.verbose) {
		fprintf(stderr, "fuzz_blob_md: %s: md pages", when);
		for (uint64_t p = 0; p < bs->geo.md_len; p++) {
			fprintf(stderr, "%s",
				bs_bits_test(&bs->used_md_pages, p)  ? "X"
				: bs_bits_test(&bs->used_blobids, p) ? "?"
								     : ".");
		}
		fprintf(stderr, "\n");
		fprintf(stderr,
			"fuzz_blob_md: %s: %zu blobs open, %" PRIu64 " of %" PRIu64
			" clusters used\n",
			when, o->n, bs->used_clusters.nset, bs->geo.total_clusters);
	}
	for (size_t i = 0; i < o->n; i++) {
		check_xattrs(o->blob[i]);
		read_blob(o->blob[i], ch);
	}
}

static void close_all(struct opened *o)
{
	for (size_t i = 0; i < o->n; i++) {
		struct bmd_wait w = {0};
		int rc;

		spio_blob_close(o->blob[i], bmd_cb, &w);
		rc = bmd_wait(&w, "close");
		if (rc != 0 && rc != -EPERM) {
			bmd_die("blob 0x%" PRIx64 ": close: %d", o->blob[i]->id, rc);
		}
	}
	o->n = 0;
}

/*
 * Changes to an accepted store; their errors are answers, not findings.
 */

static int write_unit(struct spio_blob *blob, struct spio_io_channel *ch, uint64_t off)
{
	struct bmd_wait w = {0};

	memset(g.buf, WRITE_BYTE, spio_bs_get_io_unit_size(blob->bs));
	spio_blob_io_write(blob, ch, g.buf, off, 1, bmd_cb, &w);
	return bmd_wait(&w, "blob write");
}

static void change(struct spio_blob_store *bs, struct spio_io_channel *ch, struct opened *o,
		   uint8_t flags)
{
	struct spio_blob *t = NULL;
	struct bmd_wait w = {0};
	spio_blob_id last = o->n > 0 ? o->blob[o->n - 1]->id : SPIO_BLOBID_INVALID;

	for (size_t i = 0; i < o->n && t == NULL; i++) {
		if (!spio_blob_is_read_only(o->blob[i])) {
			t = o->blob[i];
		}
	}
	if (t != NULL) {
		uint64_t n = spio_blob_get_num_clusters(t);
		uint64_t units;
		bool written = false;

		if (flags & BMD_SHRINK) {
			n = n > 0 ? n - 1 : 0;
		} else if (n < 4096) {
			n++;
		}
		spio_blob_resize(t, n, bmd_cb, &w);
		bmd_wait(&w, "resize");
		units = spio_blob_get_num_io_units(t);
		if (units > 0) {
			written = write_unit(t, ch, 0) == 0;
			write_unit(t, ch, units - 1);
		}
		w = (struct bmd_wait){0};
		spio_blob_sync_md(t, bmd_cb, &w);
		bmd_wait(&w, "sync");
		if (!(flags & BMD_NO_SNAPSHOT)) {
			w = (struct bmd_wait){0};
			spio_bs_create_snapshot(bs, t->id, NULL, bmd_cb_id, &w);
			bmd_wait(&w, "snapshot");
			/* Into the blob, now a clone of the snapshot if that worked. */
			if (units > 0 && write_unit(t, ch, 0) == 0) {
				written = true;
			}
		}
		if (written) {
			g.expect[g.nexpect++] = t->id;
		}
	}
	if (!(flags & BMD_NO_CREATE)) {
		struct spio_blob_opts bo;

		spio_blob_opts_init(&bo, sizeof(bo));
		bo.num_clusters = 2;
		bo.thin_provision = true;
		w = (struct bmd_wait){0};
		spio_bs_create_blob_ext(bs, &bo, bmd_cb_id, &w);
		if (bmd_wait(&w, "create") == 0) {
			spio_blob_id id = w.id;

			w = (struct bmd_wait){0};
			spio_bs_open_blob(bs, id, bmd_cb_blob, &w);
			if (g.verbose) {
				fprintf(stderr, "fuzz_blob_md: created 0x%" PRIx64 "\n", id);
			}
			if (bmd_wait(&w, "open new") != 0) {
				bmd_die("new blob 0x%" PRIx64 " does not open: %d", id, w.rc);
			}
			t = w.blob;
			spio_blob_set_xattr(t, "fuzz", "new", 4);
			if (write_unit(t, ch, 0) == 0) {
				g.expect[g.nexpect++] = id;
			}
			w = (struct bmd_wait){0};
			spio_blob_close(t, bmd_cb, &w);
			bmd_wait(&w, "close new");
		}
	}
	close_all(o);
	if ((flags & BMD_DELETE) && last != SPIO_BLOBID_INVALID) {
		w = (struct bmd_wait){0};
		spio_bs_delete_blob(bs, last, bmd_cb, &w);
		if (bmd_wait(&w, "delete") == 0) {
			for (int i = 0; i < g.nexpect; i++) {
				if (g.expect[i] == last) {
					g.expect[i] = SPIO_BLOBID_INVALID;
				}
			}
		}
	}
}

/* What was written before the unload reads back after the reload. */
static void check_written(struct spio_io_channel *ch, const struct opened *o)
{
	for (int i = 0; i < g.nexpect; i++) {
		struct spio_blob *b = NULL;
		const uint8_t *p = g.buf;

		if (g.expect[i] == SPIO_BLOBID_INVALID) {
			continue;
		}
		for (size_t j = 0; j < o->n && b == NULL; j++) {
			b = o->blob[j]->id == g.expect[i] ? o->blob[j] : NULL;
		}
		if (b == NULL) {
			bmd_die("reload: written blob 0x%" PRIx64 " is gone", g.expect[i]);
		}
		memset(g.buf, 0, spio_bs_get_io_unit_size(b->bs));
		read_units(b, ch, 0, 1);
		for (uint64_t k = 0; k < spio_bs_get_io_unit_size(b->bs); k++) {
			if (p[k] != WRITE_BYTE) {
				bmd_die("reload: blob 0x%" PRIx64 " io unit 0 byte %" PRIu64
					" is 0x%02x, written 0x%02x",
					b->id, k, p[k], WRITE_BYTE);
			}
		}
	}
}

/*
 * One input
 */

static struct spio_blob_store *load(struct bmd_dev *dev, bool force, int *rc)
{
	struct spio_bs_opts o;
	struct bmd_wait w = {0};

	spio_bs_opts_init(&o, sizeof(o));
	o.force_recover = force;
	/* Channels are made for every load: a small pool keeps them cheap. */
	o.max_channel_ops = 16;
	spio_bs_load(&dev->base, &o, bmd_cb_bs, &w);
	*rc = bmd_wait(&w, "load");
	if (*rc != 0) {
		if (w.bs != NULL) {
			bmd_die("load failed (%d) but gave a store", *rc);
		}
		bmd_settle();
		if (dev->destroyed != 1) {
			bmd_die("refused store (%d): device destroyed %d times", *rc,
				dev->destroyed);
		}
		if (dev->writes != 0) {
			bmd_die("refused store (%d): %" PRIu64 " writes to the device", *rc,
				dev->writes);
		}
		return NULL;
	}
	if (w.bs == NULL) {
		bmd_die("load succeeded without a store");
	}
	/* From now on nothing may reach past the store's end. */
	dev->limit = w.bs->geo.size / BMD_BLOCKLEN;
	return w.bs;
}

static void unload(struct spio_blob_store *bs, struct bmd_dev *dev, const char *when)
{
	struct bmd_wait w = {0};
	int rc;

	bmd_settle();
	spio_bs_unload(bs, bmd_cb, &w);
	rc = bmd_wait(&w, "unload");
	if (rc != 0) {
		bmd_die("%s: unload failed: %d", when, rc);
	}
	bmd_settle();
	if (dev->destroyed != 1) {
		bmd_die("%s: unload destroyed the device %d times", when, dev->destroyed);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t flags = size > 0 ? data[0] : 0;
	struct bmd_dev dev;
	struct spio_blob_store *bs;
	struct spio_io_channel *ch;
	struct opened o;
	uint64_t nset[3];
	int rc;

	if (!g.ready) {
		LLVMFuzzerInitialize(NULL, NULL);
	}
	bmd_restore();
	bmd_input_apply(data, size);
	bmd_dev_init(&dev);
	bs = load(&dev, (flags & BMD_FORCE) != 0, &rc);
	if (g.verbose) {
		fprintf(stderr, "fuzz_blob_md: %zu bytes, flags 0x%02x: load %d\n", size, flags,
			rc);
	}
	if (bs == NULL) {
		return 0;
	}
	ch = spio_bs_alloc_io_channel(bs);
	if (ch == NULL) {
		bmd_die("no channel");
	}
	open_all(bs, ch, &o, "load");
	g.nexpect = 0;
	change(bs, ch, &o, flags);
	spio_bs_free_io_channel(ch);
	nset[0] = bs->used_md_pages.nset;
	nset[1] = bs->used_clusters.nset;
	nset[2] = bs->used_blobids.nset;
	unload(bs, &dev, "after changes");

	/* The same store again, as left: a clean load, which checks every blob. */
	bmd_dev_init(&dev);
	bs = load(&dev, false, &rc);
	if (bs == NULL) {
		bmd_die("a store accepted and changed does not load again: %d", rc);
	}
	ch = spio_bs_alloc_io_channel(bs);
	if (ch == NULL) {
		bmd_die("no channel");
	}
	if (bs->used_md_pages.nset != nset[0] || bs->used_clusters.nset != nset[1] ||
	    bs->used_blobids.nset != nset[2]) {
		bmd_die("reload: masks hold %" PRIu64 "/%" PRIu64 "/%" PRIu64
			" md pages/clusters/ids, unloaded with %" PRIu64 "/%" PRIu64 "/%" PRIu64,
			bs->used_md_pages.nset, bs->used_clusters.nset, bs->used_blobids.nset,
			nset[0], nset[1], nset[2]);
	}
	open_all(bs, ch, &o, "reload");
	check_written(ch, &o);
	close_all(&o);
	spio_bs_free_io_channel(ch);
	unload(bs, &dev, "reload");
	return 0;
}

/*
 * Mutations that know the format: patches aimed at the base store's
 * metadata (its headers, descriptors, masks), flag changes, or the generic
 * byte mutations.
 */

static uint64_t mix(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	static const uint8_t special[] = {0,	1,    2,    3,	  4,	5,    6,    7,	 8,
					  0x10, 0x1f, 0x20, 0x40, 0x7f, 0x80, 0xfe, 0xff};
	uint64_t s = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1;
	uint64_t r = mix(&s) % 10;

	if (size == 0 && max_size > 0) {
		data[0] = 0;
		size = 1;
	}
	if (r < 2 && size > 0) {
		data[0] ^= (uint8_t)(1u << (mix(&s) % 8));
		return size;
	}
	if (r < 6 && size + 4 + 8 <= max_size) {
		/* A patch of 1-8 bytes in one of the first md pages of the base layout. */
		uint32_t page = (uint32_t)(mix(&s) % (4 + BMD_BASE_MD_PAGES));
		uint32_t in, len = 1 + (uint32_t)(mix(&s) % 8);
		uint32_t off;

		switch (mix(&s) % 4) {
		case 0: /* header: id, sequence; or super block fields */
			in = (uint32_t)(mix(&s) % 100);
			break;
		case 1: /* next, crc */
			in = BMD_BLOCKLEN - 8 + (uint32_t)(mix(&s) % 8);
			break;
		default: /* descriptors, where the base has them */
			in = 16 + (uint32_t)(mix(&s) % 512);
			break;
		}
		off = page * BMD_BLOCKLEN + in;
		data[size++] = (uint8_t)off;
		data[size++] = (uint8_t)(off >> 8);
		data[size++] = (uint8_t)(off >> 16);
		data[size++] = (uint8_t)len;
		for (uint32_t i = 0; i < len; i++) {
			data[size++] =
			    mix(&s) & 1 ? special[mix(&s) % sizeof(special)] : (uint8_t)mix(&s);
		}
		return size;
	}
	return LLVMFuzzerMutate(data, size, max_size);
}
