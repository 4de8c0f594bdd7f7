/*
 * Crash consistency of the blobstore. A seeded pseudo-random workload of
 * creates (thick / thin, xattrs), data writes, xattr changes + sync,
 * resizes + sync, snapshots, clones, read-only marks and deletes (snapshots
 * with one clone too) runs once on a small store while every device write
 * is logged (helper_cut_dev). Then, for each cut point k, the device as the
 * first k writes left it (and none after: the power went) is loaded, which
 * recovers it, and checked against a model of what the workload did.
 *
 * The rule checked at cut point k. The workload runs one operation at a
 * time; an operation is "done" at k when its completion came before its
 * writes reached index k, "in flight" when some but maybe not all of its
 * writes are below k. At most one operation is in flight.
 * - The load succeeds (the image is dirty, so the store recovers).
 * - Metadata (which blobs exist; their size, thin and read-only flags,
 *   parent and user xattrs) is what the done operations left, except that
 *   the blobs the operation in flight touches show all the state before it
 *   or all the state after it, never a mix: a snapshot is absent or whole
 *   (origin a clone of it, the snapshot read-only), a deleted blob is whole
 *   or gone, a resize + sync is the old or the new size.
 * - Data is checked per io unit of 4 KiB (the memory device takes each
 *   write whole, but a blob write may become several device writes and a
 *   thin allocation writes metadata between them): each unit reads as the
 *   done operations left it, or, for the write in flight, as after it.
 *   Unwritten units read zeroes (the device is cleared at init and freed
 *   clusters are unmapped, which the memory device turns into zeroes).
 * - No other blob exists, and the clusters add up: the allocated clusters
 *   of all blobs are the data clusters minus the free ones (a cluster owned
 *   twice or leaked breaks the sum).
 * - Unload, then a clean load with the same blobs and free count.
 *
 * SPIO_CRASH_RUNS workloads (default 3, seeds SPIO_CRASH_SEED, + 1, ...) of
 * SPIO_CRASH_OPS operations share SPIO_CRASH_CUTS cut points (default 3000;
 * every write index of a run if it has fewer); a soak run raises them.
 * SPIO_CRASH_TRACE=k lists the device writes of the operation in flight at
 * cut k.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_blob_task.h"
#include "helper_blob_thread.h"
#include "helper_cut_dev.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/env.h"
#include "spio/task.h"
#include "spio/thread.h"

/* 16 MiB of 4 KiB blocks, 32 KiB clusters (8 io units), 128 md pages. */
#define BLK 4096u
#define DEV_BLOCKS 4096u
#define CLUSTER (32u * 1024)
#define UPC (CLUSTER / BLK)
#define MD_PAGES 128u

#define MAX_CLUSTERS 6u
#define MAXU (MAX_CLUSTERS * UPC) /* io units of the largest blob */
#define SLOTS 12u		  /* blobs alive at once */
#define NX 3			  /* xattrs "x0".."x2" */
#define XMAX 12u		  /* their longest value */

/* ThreadSanitizer runs this several times slower: fewer cut points there. */
#if defined(__SANITIZE_THREAD__)
#define DEFAULT_CUTS 300
#else
#define DEFAULT_CUTS 3000
#endif
#define DEFAULT_OPS 1100
#define DEFAULT_RUNS 3
#define DEFAULT_SEED 20240917u

/* Mixed into the pattern words so that a zeroed unit never matches a written one. */
#define PAT_MIX UINT64_C(0x9e3779b97f4a7c15)

static struct spio_thread *g_thread;

static void setup(void)
{
	blob_test_env_init("test_blob_crash");
	g_thread = blob_test_thread_start("blob_crash");
}

static void teardown(void)
{
	blob_test_thread_end(g_thread);
	spio_env_fini();
}

TestSuite(blob_crash, .init = setup, .fini = teardown);

#define OK(call)                                                   \
	do {                                                       \
		int rc_ = (call);                                  \
		CHECK_EQ(rc_, 0, "%s: %s", #call, strerror(-rc_)); \
	} while (0)

/*
 * The model
 */

struct mblob {
	spio_blob_id id; /* 0: a free slot */
	uint32_t units;
	bool thin;
	bool ro;
	spio_blob_id parent;
	bool xset[NX];
	uint8_t xlen[NX];
	uint8_t xval[NX][XMAX];
	uint32_t tag[MAXU]; /* per io unit: the write that wrote it, 0 for zeroes */
};

struct mstate {
	struct mblob b[SLOTS];
};

/* An operation of the workload: its device writes are log entries [w_start, ...) up to w_end. */
struct step {
	size_t w_start;
	size_t w_end;
	char desc[64];
};

struct crash {
	struct cut_ctl wk; /* the workload's device, logging data */
	uint8_t *start;	   /* its bytes after init, before any logged write */
	struct spio_blob_store *bs;
	struct spio_io_channel *ch;
	uint64_t data_clusters;

	struct mstate cur;
	struct spio_blob *h[SLOTS];
	uint32_t next_tag;
	uint64_t seed;
	uint64_t rng;
	size_t cuts; /* cut points to try */

	struct step *steps;    /* steps[0] is the empty store after init */
	struct mstate *states; /* states[j]: the model after steps[j] */
	size_t nsteps;
	size_t capsteps;

	/* the checks */
	struct cut_ctl ck; /* the device loaded at each cut, logging the ranges the check wrote */
	uint8_t *img;	   /* the reference: the start image plus the first k logged writes */
	uint8_t *buf;	   /* a whole blob's content */
};

static uint64_t rnd(struct crash *c, uint64_t n)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return (c->rng * 0x2545f4914f6cdd1dull) % n;
}

/* The bytes of io unit `u` written by write `tag`, word by word. */
static uint64_t word(uint32_t tag, uint32_t u, uint32_t i)
{
	return tag == 0 ? 0 : ((uint64_t)tag << 32 | (uint64_t)u << 16 | i) ^ PAT_MIX;
}

static void unit_fill(uint8_t *p, uint32_t tag, uint32_t u)
{
	uint64_t *w = (uint64_t *)p;

	for (uint32_t i = 0; i < BLK / 8; i++) {
		w[i] = word(tag, u, i);
	}
}

static bool unit_is(const uint8_t *p, uint32_t tag, uint32_t u)
{
	const uint64_t *w = (const uint64_t *)p;

	for (uint32_t i = 0; i < BLK / 8; i++) {
		if (w[i] != word(tag, u, i)) {
			return false;
		}
	}
	return true;
}

static struct mblob *find(struct mstate *s, spio_blob_id id)
{
	for (uint32_t i = 0; i < SLOTS; i++) {
		if (s->b[i].id == id && id != 0) {
			return &s->b[i];
		}
	}
	return NULL;
}

static int free_slot(struct crash *c)
{
	for (uint32_t i = 0; i < SLOTS; i++) {
		if (c->cur.b[i].id == 0) {
			return (int)i;
		}
	}
	return -1;
}

static uint32_t children(struct crash *c, spio_blob_id id)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < SLOTS; i++) {
		n += c->cur.b[i].id != 0 && c->cur.b[i].parent == id;
	}
	return n;
}

/* A random live slot for which `ok` holds, or -1. */
static int pick(struct crash *c, bool (*ok)(struct crash *c, const struct mblob *b))
{
	int cand[SLOTS], n = 0;

	for (uint32_t i = 0; i < SLOTS; i++) {
		if (c->cur.b[i].id != 0 && ok(c, &c->cur.b[i])) {
			cand[n++] = (int)i;
		}
	}
	return n == 0 ? -1 : cand[rnd(c, (uint64_t)n)];
}

static bool is_writable(struct crash *c, const struct mblob *b)
{
	return !b->ro;
}

static bool is_resizable(struct crash *c, const struct mblob *b)
{
	/* a clone's regrown clusters would read its parent: kept out of the model */
	return !b->ro && b->parent == SPIO_BLOBID_INVALID;
}

static bool is_read_only(struct crash *c, const struct mblob *b)
{
	return b->ro;
}

static bool is_deletable(struct crash *c, const struct mblob *b)
{
	return children(c, b->id) <= 1;
}

/* Xattrs for creation: the set ones of `b`. */
struct xa {
	const struct mblob *b;
	char names[NX][4];
	char *ptrs[NX];
};

static void xa_get(void *ctx, const char *name, const void **value, size_t *value_len)
{
	struct xa *x = ctx;
	int k = name[1] - '0';

	*value = x->b->xval[k];
	*value_len = x->b->xlen[k];
}

static struct spio_blob_xattr_opts xa_opts(struct xa *x, const struct mblob *b)
{
	size_t n = 0;

	x->b = b;
	for (int k = 0; k < NX; k++) {
		if (b->xset[k]) {
			snprintf(x->names[n], sizeof(x->names[n]), "x%d", k);
			x->ptrs[n] = x->names[n];
			n++;
		}
	}
	return (struct spio_blob_xattr_opts){
	    .count = n, .names = x->ptrs, .ctx = x, .get_value = xa_get};
}

static void random_xattrs(struct crash *c, struct mblob *b)
{
	for (int k = 0; k < NX; k++) {
		b->xset[k] = rnd(c, 2) == 0;
		b->xlen[k] = (uint8_t)(1 + rnd(c, XMAX));
		for (uint32_t i = 0; i < XMAX; i++) {
			b->xval[k][i] = (uint8_t)rnd(c, 256);
		}
	}
}

/*
 * The workload
 */

static void step_begin(struct crash *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void step_begin(struct crash *c, const char *fmt, ...)
{
	struct step *s;
	va_list ap;

	if (c->nsteps == c->capsteps) {
		c->capsteps = c->capsteps != 0 ? c->capsteps * 2 : 256;
		c->steps = realloc(c->steps, c->capsteps * sizeof(*c->steps));
		c->states = realloc(c->states, c->capsteps * sizeof(*c->states));
		CHECK(c->steps != NULL && c->states != NULL);
	}
	s = &c->steps[c->nsteps];
	s->w_start = c->wk.nlog;
	va_start(ap, fmt);
	vsnprintf(s->desc, sizeof(s->desc), fmt, ap);
	va_end(ap);
}

/* The live handles must agree with the model; the thin flag is taken from them. */
static void step_end(struct crash *c, bool observe)
{
	struct step *s = &c->steps[c->nsteps];

	s->w_end = c->wk.nlog;
	for (uint32_t i = 0; observe && i < SLOTS; i++) {
		struct mblob *b = &c->cur.b[i];

		if (b->id == 0) {
			continue;
		}
		CHECK_EQ(spio_blob_get_num_io_units(c->h[i]), b->units,
			 "after %s: blob 0x%lx has %lu io units, the model %u", s->desc, b->id,
			 spio_blob_get_num_io_units(c->h[i]), b->units);
		CHECK_EQ(spio_blob_is_read_only(c->h[i]), b->ro,
			 "after %s: blob 0x%lx read-only %d, the model %d", s->desc, b->id,
			 spio_blob_is_read_only(c->h[i]), b->ro);
		CHECK_EQ(spio_blob_get_parent_snapshot(c->bs, b->id), b->parent,
			 "after %s: blob 0x%lx parent 0x%lx, the model 0x%lx", s->desc, b->id,
			 spio_blob_get_parent_snapshot(c->bs, b->id), b->parent);
		b->thin = spio_blob_is_thin_provisioned(c->h[i]);
	}
	c->states[c->nsteps] = c->cur;
	c->nsteps++;
}

static void op_create(struct crash *c, int slot)
{
	struct mblob *b = &c->cur.b[slot];
	struct spio_blob_opts o;
	struct xa x;
	uint32_t clusters = 1 + (uint32_t)rnd(c, MAX_CLUSTERS);
	bool thin = rnd(c, 2) == 0;

	memset(b, 0, sizeof(*b));
	random_xattrs(c, b);
	spio_blob_opts_init(&o, sizeof(o));
	o.num_clusters = clusters;
	o.thin_provision = thin;
	o.xattrs = xa_opts(&x, b);
	step_begin(c, "create %s %u clusters", thin ? "thin" : "thick", clusters);
	OK(spio_bs_create_blob_await(c->bs, &o, &b->id));
	OK(spio_bs_open_blob_await(c->bs, b->id, &c->h[slot]));
	b->units = clusters * UPC;
	b->parent = SPIO_BLOBID_INVALID;
	step_end(c, true);
	CHECK_EQ(b->thin, thin, "a new blob's thin flag");
}

static void op_write(struct crash *c, int slot)
{
	struct mblob *b = &c->cur.b[slot];
	uint32_t off = (uint32_t)rnd(c, b->units);
	uint32_t n = 1 + (uint32_t)rnd(c, 2 * UPC);
	uint32_t tag = ++c->next_tag;

	n = off + n > b->units ? b->units - off : n;
	for (uint32_t u = 0; u < n; u++) {
		unit_fill(c->buf + (size_t)u * BLK, tag, off + u);
	}
	step_begin(c, "write 0x%lx units %u+%u (tag %u)", b->id, off, n, tag);
	OK(spio_blob_io_write_await(c->h[slot], c->ch, c->buf, off, n));
	for (uint32_t u = 0; u < n; u++) {
		b->tag[off + u] = tag;
	}
	step_end(c, true);
}

static void op_xattr(struct crash *c, int slot)
{
	struct mblob *b = &c->cur.b[slot];
	int k = (int)rnd(c, NX);
	char name[4];

	snprintf(name, sizeof(name), "x%d", k);
	if (b->xset[k] && rnd(c, 2) == 0) {
		step_begin(c, "remove xattr %s of 0x%lx + sync", name, b->id);
		OK(spio_blob_remove_xattr(c->h[slot], name));
		b->xset[k] = false;
	} else {
		b->xset[k] = true;
		b->xlen[k] = (uint8_t)(1 + rnd(c, XMAX));
		for (uint32_t i = 0; i < XMAX; i++) {
			b->xval[k][i] = (uint8_t)rnd(c, 256);
		}
		step_begin(c, "set xattr %s of 0x%lx + sync", name, b->id);
		OK(spio_blob_set_xattr(c->h[slot], name, b->xval[k], b->xlen[k]));
	}
	OK(spio_blob_sync_md_await(c->h[slot]));
	step_end(c, true);
}

static void op_resize(struct crash *c, int slot)
{
	struct mblob *b = &c->cur.b[slot];
	uint32_t clusters = 1 + (uint32_t)rnd(c, MAX_CLUSTERS);
	uint32_t units = clusters * UPC;

	step_begin(c, "resize 0x%lx %u -> %u clusters + sync", b->id, b->units / UPC, clusters);
	OK(spio_blob_resize_await(c->h[slot], clusters));
	OK(spio_blob_sync_md_await(c->h[slot]));
	for (uint32_t u = units; u < MAXU; u++) {
		b->tag[u] = 0;
	}
	b->units = units;
	step_end(c, true);
}

/* A snapshot of slot's blob, or (`clone`) a clone of it, into slot `nslot`. */
static void op_derive(struct crash *c, int slot, int nslot, bool clone)
{
	struct mblob *b = &c->cur.b[slot], *n = &c->cur.b[nslot];
	struct spio_blob_xattr_opts xo;
	struct xa x;

	*n = *b;
	random_xattrs(c, n);
	xo = xa_opts(&x, n);
	step_begin(c, "%s 0x%lx", clone ? "clone" : "snapshot", b->id);
	if (clone) {
		OK(spio_bs_create_clone_await(c->bs, b->id, &xo, &n->id));
	} else {
		OK(spio_bs_create_snapshot_await(c->bs, b->id, &xo, &n->id));
	}
	OK(spio_bs_open_blob_await(c->bs, n->id, &c->h[nslot]));
	n->ro = !clone;
	if (clone) {
		n->parent = b->id;
	} else {
		b->parent = n->id;
	}
	step_end(c, true);
	if (clone) {
		CHECK(n->thin, "a clone is thin");
	} else {
		CHECK(b->thin, "the origin of a snapshot is thin");
	}
}

static void op_set_ro(struct crash *c, int slot)
{
	struct mblob *b = &c->cur.b[slot];

	step_begin(c, "set 0x%lx read-only + sync", b->id);
	OK(spio_blob_set_read_only(c->h[slot]));
	OK(spio_blob_sync_md_await(c->h[slot]));
	b->ro = true;
	step_end(c, true);
}

static void op_delete(struct crash *c, int slot)
{
	struct mblob *b = &c->cur.b[slot];

	step_begin(c, "delete 0x%lx (%u clone)", b->id, children(c, b->id));
	OK(spio_blob_close_await(c->h[slot]));
	c->h[slot] = NULL;
	OK(spio_bs_delete_blob_await(c->bs, b->id));
	/* a snapshot's only clone takes its place in the chain; its content does not change */
	for (uint32_t i = 0; i < SLOTS; i++) {
		if (c->cur.b[i].id != 0 && c->cur.b[i].parent == b->id) {
			c->cur.b[i].parent = b->parent;
		}
	}
	memset(b, 0, sizeof(*b));
	step_end(c, true);
}

static int live_count(struct crash *c)
{
	int n = 0;

	for (uint32_t i = 0; i < SLOTS; i++) {
		n += c->cur.b[i].id != 0;
	}
	return n;
}

/* One random operation; false if the one drawn had nothing to act on. */
static bool one_op(struct crash *c)
{
	uint64_t r = rnd(c, 100);
	int fs = free_slot(c), slot;

	if (r < 12) {
		if (fs < 0) {
			return false;
		}
		op_create(c, fs);
	} else if (r < 60) {
		if ((slot = pick(c, is_writable)) < 0) {
			return false;
		}
		if (r < 52) {
			op_write(c, slot);
		} else {
			op_xattr(c, slot);
		}
	} else if (r < 70) {
		if ((slot = pick(c, is_resizable)) < 0) {
			return false;
		}
		op_resize(c, slot);
	} else if (r < 84) {
		/* below 78 a snapshot of a writable blob, else a clone of a read-only one */
		if (fs < 0 || (slot = pick(c, r < 78 ? is_writable : is_read_only)) < 0) {
			return false;
		}
		op_derive(c, slot, fs, r >= 78);
	} else if (r < 86) {
		if ((slot = pick(c, is_writable)) < 0 ||
		    c->cur.b[slot].parent != SPIO_BLOBID_INVALID) {
			return false;
		}
		op_set_ro(c, slot);
	} else {
		if (live_count(c) < 5 || (slot = pick(c, is_deletable)) < 0) {
			return false;
		}
		op_delete(c, slot);
	}
	return true;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? strtoull(v, NULL, 0) : dflt;
}

static void workload(struct crash *c, uint64_t ops)
{
	struct spio_bs_opts o;
	size_t size = (size_t)DEV_BLOCKS * BLK;

	cut_ctl_init(&c->wk, DEV_BLOCKS, BLK);
	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER;
	o.num_md_pages = MD_PAGES;
	OK(spio_bs_init_await(cut_dev_create(&c->wk), &o, &c->bs));
	c->ch = spio_bs_alloc_io_channel(c->bs);
	CHECK_NOT_NULL(c->ch);
	c->data_clusters = spio_bs_total_data_cluster_count(c->bs);

	/* the cut points count from here: init's writes are the start image */
	c->start = malloc(size);
	CHECK_NOT_NULL(c->start);
	memcpy(c->start, c->wk.bytes, size);
	c->wk.mode = CUT_LOG_DATA;
	step_begin(c, "init");
	step_end(c, false);

	/* md pages are reused from the start: the first blob (md page 0) goes at once */
	op_create(c, 0);
	op_create(c, 1);
	op_delete(c, 0);
	for (uint64_t i = 3; i < ops;) {
		i += one_op(c);
	}

	step_begin(c, "close all + unload");
	for (uint32_t i = 0; i < SLOTS; i++) {
		if (c->h[i] != NULL) {
			OK(spio_blob_close_await(c->h[i]));
			c->h[i] = NULL;
		}
	}
	spio_bs_free_io_channel(c->ch);
	c->ch = NULL;
	OK(spio_bs_unload_await(c->bs));
	c->bs = NULL;
	step_end(c, false);
	fprintf(stderr, "crash workload: %zu operations, %zu device writes, %u data writes\n",
		c->nsteps, c->wk.nlog, c->next_tag);
}

/*
 * The check at one cut point
 */

/* spio_bs_iter_first / next inside a task. */
static void iter_cpl(void *cb_arg, struct spio_blob *blob, int bserrno)
{
	struct spio_completion *comp = cb_arg;

	comp->ptr = blob;
	spio_completion_done(comp, bserrno);
}

static int iter_await(struct spio_blob_store *bs, struct spio_blob *prev, struct spio_blob **b)
{
	struct spio_completion comp;
	int rc;

	spio_completion_init(&comp);
	if (prev == NULL) {
		spio_bs_iter_first(bs, iter_cpl, &comp);
	} else {
		spio_bs_iter_next(bs, prev, iter_cpl, &comp);
	}
	rc = spio_await(&comp);
	*b = comp.ptr;
	return rc;
}

/* What a loaded blob looks like. */
struct seen {
	spio_blob_id id;
	uint32_t units;
	bool thin;
	bool ro;
	spio_blob_id parent;
	bool xset[NX];
	uint8_t xlen[NX];
	uint8_t xval[NX][XMAX];
	uint32_t nxattrs;
	uint64_t allocated;
};

static bool meta_is(const struct seen *o, const struct mblob *m)
{
	if (m == NULL) {
		return o == NULL;
	}
	if (o == NULL || o->units != m->units || o->thin != m->thin || o->ro != m->ro ||
	    o->parent != m->parent) {
		return false;
	}
	for (int k = 0; k < NX; k++) {
		if (o->xset[k] != m->xset[k] ||
		    (m->xset[k] && (o->xlen[k] != m->xlen[k] ||
				    memcmp(o->xval[k], m->xval[k], m->xlen[k]) != 0))) {
			return false;
		}
	}
	return true;
}

static void describe(char *out, size_t len, const struct seen *o, const struct mblob *m)
{
	if (o != NULL) {
		snprintf(out, len, "units %u thin %d ro %d parent 0x%lx xattrs %d%d%d", o->units,
			 o->thin, o->ro, o->parent, o->xset[0], o->xset[1], o->xset[2]);
	} else if (m != NULL) {
		snprintf(out, len, "units %u thin %d ro %d parent 0x%lx xattrs %d%d%d", m->units,
			 m->thin, m->ro, m->parent, m->xset[0], m->xset[1], m->xset[2]);
	} else {
		snprintf(out, len, "absent");
	}
}

struct cut {
	size_t k;
	const struct step *inflight; /* NULL: nothing in flight */
	struct mstate *a;	     /* the state before the operation in flight */
	struct mstate *b;	     /* after it (== a when nothing is in flight) */
	struct seen seen[SLOTS * 2 + 4];
	int nseen;
};

static const char *cut_what(const struct cut *k)
{
	return k->inflight != NULL ? k->inflight->desc : "(nothing in flight)";
}

/* A unit that reads neither as before nor as after the operation in flight (-1: absent). */
static void unit_fail(const struct cut *k, spio_blob_id id, uint32_t u, int64_t before,
		      int64_t after, const uint64_t *w)
{
	char got[64];

	if (w[0] == 0) {
		snprintf(got, sizeof(got), "zeroes");
	} else {
		snprintf(got, sizeof(got), "write %lu's unit %lu", (w[0] ^ PAT_MIX) >> 32,
			 ((w[0] ^ PAT_MIX) >> 16) & 0xffff);
	}
	CHECK_FAIL("cut %zu (in flight: %s): blob 0x%lx io unit %u: expected write %ld's data "
		   "(before) or write %ld's (after; -1: no such unit, 0: zeroes), got %s",
		   k->k, cut_what(k), id, u, before, after, got);
}

static void look(struct crash *c, struct cut *k, struct spio_blob_store *bs, struct spio_blob *h,
		 struct spio_io_channel *ch, uint64_t *allocated)
{
	struct seen *o;
	struct spio_xattr_names *names = NULL;
	struct mblob *ma, *mb;

	CHECK(k->nseen < (int)(sizeof(k->seen) / sizeof(k->seen[0])),
	      "cut %zu (%s): more blobs than ever lived", k->k, cut_what(k));
	o = &k->seen[k->nseen++];
	memset(o, 0, sizeof(*o));
	o->id = spio_blob_get_id(h);
	o->units = (uint32_t)spio_blob_get_num_io_units(h);
	o->thin = spio_blob_is_thin_provisioned(h);
	o->ro = spio_blob_is_read_only(h);
	o->parent = spio_blob_get_parent_snapshot(bs, o->id);
	for (int x = 0; x < NX; x++) {
		char name[4];
		const void *v;
		size_t l;

		snprintf(name, sizeof(name), "x%d", x);
		if (spio_blob_get_xattr_value(h, name, &v, &l) == 0) {
			o->xset[x] = true;
			o->xlen[x] = (uint8_t)(l <= XMAX ? l : XMAX + 1);
			memcpy(o->xval[x], v, l <= XMAX ? l : XMAX);
		}
	}
	OK(spio_blob_get_xattr_names(h, &names));
	o->nxattrs = spio_xattr_names_get_count(names);
	spio_xattr_names_free(names);
	o->allocated = spio_blob_get_num_allocated_clusters(h);
	*allocated += o->allocated;

	ma = find(k->a, o->id);
	mb = find(k->b, o->id);
	CHECK(ma != NULL || mb != NULL,
	      "cut %zu (in flight: %s): blob 0x%lx exists but never should here", k->k, cut_what(k),
	      o->id);
	CHECK(o->units <= MAXU, "cut %zu: blob 0x%lx of %u io units", k->k, o->id, o->units);

	/* data: each unit as before or after the operation in flight */
	if (o->units > 0) {
		OK(spio_blob_io_read_await(h, ch, c->buf, 0, o->units));
	}
	for (uint32_t u = 0; u < o->units; u++) {
		const uint8_t *p = c->buf + (size_t)u * BLK;
		bool in_a = ma != NULL && u < ma->units, in_b = mb != NULL && u < mb->units;

		if ((in_a && unit_is(p, ma->tag[u], u)) || (in_b && unit_is(p, mb->tag[u], u))) {
			continue;
		}
		unit_fail(k, o->id, u, in_a ? (int64_t)ma->tag[u] : -1,
			  in_b ? (int64_t)mb->tag[u] : -1, (const uint64_t *)p);
	}
}

/* Metadata: all of the in-flight operation's blobs before it, or all after it. */
static void judge_meta(struct crash *c, struct cut *k)
{
	spio_blob_id ids[SLOTS * 2];
	int nids = 0;
	bool only_a = false, only_b = false;
	spio_blob_id id_a = 0, id_b = 0;

	for (uint32_t i = 0; i < SLOTS; i++) {
		if (k->a->b[i].id != 0) {
			ids[nids++] = k->a->b[i].id;
		}
		if (k->b->b[i].id != 0 && find(k->a, k->b->b[i].id) == NULL) {
			ids[nids++] = k->b->b[i].id;
		}
	}
	for (int i = 0; i < nids; i++) {
		const struct seen *o = NULL;
		struct mblob *ma = find(k->a, ids[i]), *mb = find(k->b, ids[i]);
		bool is_a, is_b;
		char got[128], wa[128], wb[128];

		for (int s = 0; s < k->nseen; s++) {
			o = k->seen[s].id == ids[i] ? &k->seen[s] : o;
		}
		is_a = meta_is(o, ma);
		is_b = meta_is(o, mb);
		if (!is_a && !is_b) {
			describe(got, sizeof(got), o, NULL);
			describe(wa, sizeof(wa), NULL, ma);
			describe(wb, sizeof(wb), NULL, mb);
			CHECK_FAIL(
			    "cut %zu (in flight: %s): blob 0x%lx is {%s}; before the operation "
			    "{%s}, after it {%s}",
			    k->k, cut_what(k), ids[i], got, wa, wb);
		}
		if (o != NULL && o->nxattrs != (uint32_t)(o->xset[0] + o->xset[1] + o->xset[2])) {
			CHECK_FAIL("cut %zu: blob 0x%lx lists %u xattrs", k->k, ids[i], o->nxattrs);
		}
		if (is_a && !is_b) {
			only_a = true;
			id_a = ids[i];
		}
		if (is_b && !is_a) {
			only_b = true;
			id_b = ids[i];
		}
	}
	CHECK(!(only_a && only_b),
	      "cut %zu (in flight: %s): half done: blob 0x%lx shows the state before it, blob "
	      "0x%lx the state after it",
	      k->k, cut_what(k), id_a, id_b);
}

static void check_cut(struct crash *c, struct cut *k)
{
	struct spio_blob_store *bs = NULL;
	struct spio_io_channel *ch;
	struct spio_blob *h = NULL;
	uint64_t allocated = 0, free_after;
	int rc, n2 = 0;

	rc = spio_bs_load_await(cut_dev_create(&c->ck), NULL, &bs);
	CHECK_EQ(rc, 0, "cut %zu (in flight: %s): load failed with %d", k->k, cut_what(k), rc);
	ch = spio_bs_alloc_io_channel(bs);
	CHECK_NOT_NULL(ch);
	k->nseen = 0;
	for (rc = iter_await(bs, NULL, &h); rc == 0; rc = iter_await(bs, h, &h)) {
		look(c, k, bs, h, ch, &allocated);
	}
	CHECK_EQ(rc, -ENOENT, "cut %zu: iteration ended with %d", k->k, rc);
	judge_meta(c, k);
	free_after = spio_bs_free_cluster_count(bs);
	CHECK_EQ(spio_bs_total_data_cluster_count(bs), c->data_clusters);
	if (allocated != c->data_clusters - free_after) {
		char list[1024];
		size_t len = 0;

		for (int s = 0; s < k->nseen && len < sizeof(list); s++) {
			len += (size_t)snprintf(list + len, sizeof(list) - len,
						" 0x%lx: %lu of %u units, parent 0x%lx;",
						k->seen[s].id, k->seen[s].allocated,
						k->seen[s].units, k->seen[s].parent);
		}
		CHECK_FAIL(
		    "cut %zu (in flight: %s): blobs hold %lu clusters, the store says %lu of "
		    "%lu are used; blobs:%s",
		    k->k, cut_what(k), allocated, c->data_clusters - free_after, c->data_clusters,
		    list);
	}
	spio_bs_free_io_channel(ch);
	rc = spio_bs_unload_await(bs);
	CHECK_EQ(rc, 0, "cut %zu: unload after recovery: %d", k->k, rc);

	/* the recovered store, unloaded cleanly, loads without recovery */
	bs = NULL;
	rc = spio_bs_load_await(cut_dev_create(&c->ck), NULL, &bs);
	CHECK_EQ(rc, 0, "cut %zu (in flight: %s): clean load after recovery failed with %d", k->k,
		 cut_what(k), rc);
	CHECK_EQ(spio_bs_free_cluster_count(bs), free_after,
		 "cut %zu: free clusters %lu after a clean reload, %lu after recovery", k->k,
		 spio_bs_free_cluster_count(bs), free_after);
	for (rc = iter_await(bs, NULL, &h); rc == 0; rc = iter_await(bs, h, &h)) {
		n2++;
	}
	CHECK_EQ(rc, -ENOENT);
	CHECK_EQ(n2, k->nseen, "cut %zu: %d blobs after a clean reload, %d after recovery", k->k,
		 n2, k->nseen);
	OK(spio_bs_unload_await(bs));
}

/* The cut points: every write index, or `want` of them spread at random (the ends included). */
static size_t *cut_points(struct crash *c, size_t nwrites, size_t want, size_t *n)
{
	size_t total = nwrites + 1, picked = 0, *pts;

	want = want < 2 ? 2 : want;
	pts = malloc((want < total ? want : total) * sizeof(*pts));
	CHECK_NOT_NULL(pts);
	*n = 0;
	if (want >= total) {
		for (size_t i = 0; i < total; i++) {
			pts[(*n)++] = i;
		}
		return pts;
	}
	/* selection sampling of want - 2 inner points keeps them sorted */
	pts[(*n)++] = 0;
	for (size_t i = 1; i < nwrites && picked < want - 2; i++) {
		if (rnd(c, nwrites - i) < want - 2 - picked) {
			pts[(*n)++] = i;
			picked++;
		}
	}
	pts[(*n)++] = nwrites;
	return pts;
}

/* SPIO_CRASH_TRACE=k: the device writes of the operation in flight at cut k, for a failure. */
static void trace_step(struct crash *c, const struct cut *k)
{
	fprintf(stderr, "cut %zu: the device writes of \"%s\":\n", k->k, k->inflight->desc);
	for (size_t w = k->inflight->w_start; w < k->inflight->w_end; w++) {
		fprintf(stderr, "  write %zu: lba %lu + %lu %s%s\n", w, c->wk.log[w].lba,
			c->wk.log[w].blocks, c->wk.log[w].zeroes ? "zeroes" : "data",
			w < k->k ? " (on the device)" : "");
	}
}

static void check_all(struct crash *c, size_t want)
{
	size_t size = (size_t)DEV_BLOCKS * BLK, applied = 0, j = 0, npts;
	size_t *pts = cut_points(c, c->wk.nlog, want, &npts);
	size_t trace = env_u64("SPIO_CRASH_TRACE", SIZE_MAX);

	cut_ctl_init(&c->ck, DEV_BLOCKS, BLK);
	c->ck.mode = CUT_LOG_RANGES;
	c->img = malloc(size);
	CHECK_NOT_NULL(c->img);
	memcpy(c->img, c->start, size);
	memcpy(c->ck.bytes, c->start, size);

	for (size_t p = 0; p < npts; p++) {
		struct cut k = {.k = pts[p]};

		cut_log_apply(&c->wk, applied, k.k, c->img);
		cut_log_apply(&c->wk, applied, k.k, c->ck.bytes);
		applied = k.k;
		/* the last operation done by k, and the next one if some of its writes are below k
		 */
		while (j + 1 < c->nsteps && c->steps[j + 1].w_end <= k.k) {
			j++;
		}
		k.a = &c->states[j];
		k.b = k.a;
		if (j + 1 < c->nsteps && c->steps[j + 1].w_start < k.k) {
			k.inflight = &c->steps[j + 1];
			k.b = &c->states[j + 1];
		}
		if (k.inflight != NULL && k.k == trace) {
			trace_step(c, &k);
		}
		check_cut(c, &k);
		cut_log_restore(&c->ck, c->ck.bytes, c->img);
		cut_log_clear(&c->ck);
	}
	fprintf(stderr, "crash check: %zu cut points of %zu\n", npts, c->wk.nlog + 1);
	free(pts);
	cut_ctl_fini(&c->ck);
	free(c->img);
}

static void crash_task(void *arg)
{
	struct crash *c = arg;

	fprintf(stderr, "crash run: seed %lu\n", c->seed);
	workload(c, env_u64("SPIO_CRASH_OPS", DEFAULT_OPS));
	check_all(c, c->cuts);
}

/* Several workloads (seeds seed, seed + 1, ...) share the cut points: more situations. */
Test(blob_crash, power_cut_at_every_write)
{
	uint64_t seed = env_u64("SPIO_CRASH_SEED", DEFAULT_SEED);
	uint64_t runs = env_u64("SPIO_CRASH_RUNS", DEFAULT_RUNS);
	uint64_t cuts = env_u64("SPIO_CRASH_CUTS", DEFAULT_CUTS);

	for (uint64_t r = 0; r < runs; r++) {
		struct crash *c = calloc(1, sizeof(*c));

		cr_assert_not_null(c);
		c->seed = seed + r;
		c->rng = c->seed * PAT_MIX + 1;
		c->cuts = cuts / runs;
		c->buf = malloc((size_t)MAXU * BLK);
		cr_assert_not_null(c->buf);
		blob_task_run(g_thread, crash_task, c);
		cut_ctl_fini(&c->wk);
		free(c->start);
		free(c->steps);
		free(c->states);
		free(c->buf);
		free(c);
	}
}

/*
 * The cut device itself, and a live power cut
 */

struct dev_op {
	struct spio_bs_dev_cb_args args;
	int done;
	int rc;
};

static void dev_op_cpl(struct spio_io_channel *ch, void *cb_arg, int bserrno)
{
	struct dev_op *op = cb_arg;

	op->done++;
	op->rc = bserrno;
}

static struct dev_op *dev_op_new(struct spio_io_channel *ch)
{
	struct dev_op *op = calloc(1, sizeof(*op));

	CHECK_NOT_NULL(op);
	op->args = (struct spio_bs_dev_cb_args){.cb_fn = dev_op_cpl, .channel = ch, .cb_arg = op};
	return op;
}

/* Writes past the limit complete with success and change nothing; the log replays the rest. */
Test(blob_crash, cut_dev_drops_and_logs)
{
	struct cut_ctl c;
	struct spio_bs_dev *d;
	struct spio_io_channel *ch;
	struct dev_op *ops[5];
	uint8_t *a = malloc(2 * BLK), *b = malloc(2 * BLK), *img = calloc(16, BLK);
	struct iovec iov[2];

	CHECK(a != NULL && b != NULL && img != NULL);
	memset(a, 0xa1, 2 * BLK);
	memset(b, 0xb2, 2 * BLK);
	cut_ctl_init(&c, 16, BLK);
	memset(c.bytes, 0x77, 16 * BLK);
	memset(img, 0x77, 16 * BLK);
	c.mode = CUT_LOG_DATA;
	c.limit = 3;
	d = cut_dev_create(&c);
	CHECK_NOT_NULL(d);
	ch = d->create_channel(d);
	CHECK_NOT_NULL(ch);
	for (int i = 0; i < 5; i++) {
		ops[i] = dev_op_new(ch);
	}
	iov[0] = (struct iovec){b, BLK};
	iov[1] = (struct iovec){b + BLK, BLK};
	d->write(d, ch, a, 0, 2, &ops[0]->args);
	d->writev(d, ch, iov, 2, 4, 2, &ops[1]->args);
	d->unmap(d, ch, 1, 1, &ops[2]->args);
	d->write_zeroes(d, ch, 8, 2, &ops[3]->args); /* dropped */
	d->write(d, ch, b, 10, 1, &ops[4]->args);    /* dropped */
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(ops[i]->done, 0, "op %d completed inside its call", i);
	}
	blob_test_thread_poll(g_thread, 10);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(ops[i]->done, 1, "op %d", i);
		CHECK_EQ(ops[i]->rc, 0, "op %d: a dropped write still reports success", i);
	}
	CHECK_EQ(c.writes, 5);
	CHECK_EQ(c.dropped, 2);
	CHECK_EQ(c.nlog, 3, "only the writes that reached the memory are logged");
	CHECK(c.bytes[0] == 0xa1 && c.bytes[BLK] == 0, "write then unmap of block 1");
	CHECK(c.bytes[4 * BLK] == 0xb2 && c.bytes[6 * BLK - 1] == 0xb2, "writev");
	CHECK(c.bytes[8 * BLK] == 0x77 && c.bytes[10 * BLK] == 0x77,
	      "dropped writes left no trace");

	/* replaying the log onto a copy of the start gives the same bytes; restoring undoes it */
	cut_log_apply(&c, 0, c.nlog, img);
	CHECK(memcmp(img, c.bytes, 16 * BLK) == 0, "replay = what the memory got");
	memset(img, 0x77, 16 * BLK);
	cut_log_restore(&c, c.bytes, img);
	CHECK(memcmp(img, c.bytes, 16 * BLK) == 0, "restore undoes every logged write");

	d->destroy_channel(d, ch);
	d->destroy(d);
	CHECK_EQ(c.live, 0);
	CHECK_EQ(c.destroyed, 1);
	cut_ctl_fini(&c);
	for (int i = 0; i < 5; i++) {
		free(ops[i]);
	}
	free(a);
	free(b);
	free(img);
}

/*
 * The power goes while a thick blob is written unit by unit: every write is
 * acknowledged, but only the first ones reached the disk. After recovery the
 * blob holds exactly those.
 */
static void live_cut(void *arg)
{
	struct cut_ctl *c = arg;
	struct spio_bs_opts o;
	struct spio_blob_opts bo;
	struct spio_blob_store *bs = NULL;
	struct spio_io_channel *ch;
	struct spio_blob *b = NULL;
	spio_blob_id id;
	uint8_t *buf = malloc(MAXU * BLK);
	const uint32_t units = 4 * UPC, kept = 10;

	CHECK_NOT_NULL(buf);
	spio_bs_opts_init(&o, sizeof(o));
	o.cluster_sz = CLUSTER;
	o.num_md_pages = MD_PAGES;
	OK(spio_bs_init_await(cut_dev_create(c), &o, &bs));
	spio_blob_opts_init(&bo, sizeof(bo));
	bo.num_clusters = 4;
	OK(spio_bs_create_blob_await(bs, &bo, &id));
	OK(spio_bs_open_blob_await(bs, id, &b));
	ch = spio_bs_alloc_io_channel(bs);
	CHECK_NOT_NULL(ch);

	c->limit = c->writes + kept;
	for (uint32_t u = 0; u < units; u++) {
		unit_fill(buf, 1000 + u, u);
		OK(spio_blob_io_write_await(b, ch, buf, u, 1));
	}
	CHECK_EQ(c->dropped, units - kept, "one device write per unit written");
	OK(spio_blob_close_await(b));
	spio_bs_free_io_channel(ch);
	OK(spio_bs_unload_await(bs)); /* its writes are lost too: the disk stays dirty */

	c->limit = UINT64_MAX;
	bs = NULL;
	OK(spio_bs_load_await(cut_dev_create(c), NULL, &bs));
	OK(spio_bs_open_blob_await(bs, id, &b));
	ch = spio_bs_alloc_io_channel(bs);
	CHECK_NOT_NULL(ch);
	OK(spio_blob_io_read_await(b, ch, buf, 0, units));
	for (uint32_t u = 0; u < units; u++) {
		CHECK(unit_is(buf + (size_t)u * BLK, u < kept ? 1000 + u : 0, u),
		      "unit %u: expected %s", u, u < kept ? "its write" : "zeroes (write lost)");
	}
	OK(spio_blob_close_await(b));
	spio_bs_free_io_channel(ch);
	OK(spio_bs_unload_await(bs));
	free(buf);
}

Test(blob_crash, live_power_cut_keeps_the_written_prefix)
{
	struct cut_ctl c;

	cut_ctl_init(&c, DEV_BLOCKS, BLK);
	blob_task_run(g_thread, live_cut, &c);
	cut_ctl_fini(&c);
}
