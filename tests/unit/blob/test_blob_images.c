/*
 * The blobstore on images the real SPDK made (see the README next to them):
 * load each, check it item by item against its manifest (geometry, the
 * super blob, every blob's size, clusters, flags, xattrs and the SHA-256 of
 * its content read through the blob I/O path; every other id must not
 * open), then change it (a new blob with xattrs, writes, a resize up and
 * down, a snapshot, a clone of it, a write to the clone, the super blob),
 * unload, and check old and new blobs after a clean load and after a load
 * with force_recover.
 *
 * The blobcli image goes through the callback API (every callback checked
 * not to run inside its call), the lvol image through the _await twins in
 * a spio task: one scenario, two ways to drive it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_blob_image.h"
#include "helper_sha256.h"
#include "helper_blob_task.h"
#include "helper_blob_thread.h"
#include "helper_cut_dev.h"
#include "spio/blob.h"
#include "spio/blob_bdev.h"
#include "spio/env.h"
#include "spio/json_val.h"
#include "spio/task.h"
#include "spio/thread.h"
#include "spio/util.h"

#define MIB (UINT64_C(1024) * 1024)
#define READ_CHUNK MIB
#define MAX_MANIFEST_BLOBS 16

static struct spio_thread *g_thread;

static void setup(void)
{
	struct spio_env_opts eo;

	spio_env_opts_init(&eo, sizeof(eo));
	eo.no_huge = true;
	eo.name = "test_blob_images";
	cr_assert_eq(spio_env_init(&eo), 0);
	g_thread = blob_test_thread_start("blob_images");
}

static void teardown(void)
{
	blob_test_thread_end(g_thread);
	spio_env_fini();
}

TestSuite(blob_images, .init = setup, .fini = teardown);

Test(blob_images, sha256_known_answers)
{
	struct sha256 s;
	char hex[65];
	uint8_t *m = malloc(1000000);

	sha256_init(&s);
	sha256_final(&s, hex);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_init(&s);
	sha256_update(&s, (const uint8_t *)"abc", 3);
	sha256_final(&s, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* a million 'a' in uneven pieces */
	CHECK_NOT_NULL(m);
	memset(m, 'a', 1000000);
	sha256_init(&s);
	sha256_update(&s, m, 1);
	sha256_update(&s, m, 62);
	sha256_update(&s, m, 999937);
	sha256_final(&s, hex);
	cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(m);
}

/*
 * The operations used, as _await-shaped functions: the await twins
 * themselves, or the callback API driven by polling.
 */
struct api {
	const char *name;
	int (*load)(struct spio_bs_dev *dev, struct spio_bs_opts *opts,
		    struct spio_blob_store **bs);
	int (*unload)(struct spio_blob_store *bs);
	int (*set_super)(struct spio_blob_store *bs, spio_blob_id id);
	int (*get_super)(struct spio_blob_store *bs, spio_blob_id *id);
	int (*create)(struct spio_blob_store *bs, const struct spio_blob_opts *opts,
		      spio_blob_id *id);
	int (*open)(struct spio_blob_store *bs, spio_blob_id id, struct spio_blob **blob);
	int (*close)(struct spio_blob *blob);
	int (*snapshot)(struct spio_blob_store *bs, spio_blob_id id,
			const struct spio_blob_xattr_opts *xattrs, spio_blob_id *snap);
	int (*clone)(struct spio_blob_store *bs, spio_blob_id id,
		     const struct spio_blob_xattr_opts *xattrs, spio_blob_id *clone);
	int (*resize)(struct spio_blob *blob, uint64_t sz);
	int (*sync)(struct spio_blob *blob);
	int (*read)(struct spio_blob *blob, struct spio_io_channel *ch, void *buf, uint64_t off,
		    uint64_t len);
	int (*write)(struct spio_blob *blob, struct spio_io_channel *ch, void *buf, uint64_t off,
		     uint64_t len);
};

static const struct api g_await_api = {
    .name = "await",
    .load = spio_bs_load_await,
    .unload = spio_bs_unload_await,
    .set_super = spio_bs_set_super_await,
    .get_super = spio_bs_get_super_await,
    .create = spio_bs_create_blob_await,
    .open = spio_bs_open_blob_await,
    .close = spio_blob_close_await,
    .snapshot = spio_bs_create_snapshot_await,
    .clone = spio_bs_create_clone_await,
    .resize = spio_blob_resize_await,
    .sync = spio_blob_sync_md_await,
    .read = spio_blob_io_read_await,
    .write = spio_blob_io_write_await,
};

/* One callback's result; `in_call` catches a callback run from inside its call. */
struct cbres {
	bool in_call;
	int done;
	int rc;
	spio_blob_id id;
	struct spio_blob *blob;
	struct spio_blob_store *bs;
	struct spio_thread *thread;
};

static void cb_note(struct cbres *r, int rc)
{
	CHECK_NOT(r->in_call, "callback ran inside the call");
	r->done++;
	r->rc = rc;
	r->thread = spio_get_thread();
}

static void cb_bs(void *arg, struct spio_blob_store *bs, int rc)
{
	((struct cbres *)arg)->bs = bs;
	cb_note(arg, rc);
}

static void cb_op(void *arg, int rc)
{
	cb_note(arg, rc);
}

static void cb_id(void *arg, spio_blob_id id, int rc)
{
	((struct cbres *)arg)->id = id;
	cb_note(arg, rc);
}

static void cb_blob(void *arg, struct spio_blob *blob, int rc)
{
	((struct cbres *)arg)->blob = blob;
	cb_note(arg, rc);
}

/* After the call returned: poll until the callback ran, once, on this thread. */
static int cb_wait(struct cbres *r, const char *what)
{
	long polls = 0;

	r->in_call = false;
	while (r->done == 0 && polls++ < 10000000) {
		blob_test_thread_poll(g_thread, 1);
	}
	CHECK_EQ(r->done, 1, "%s: callback not run once in %ld polls, got %d", what, polls,
		 r->done);
	CHECK_EQ(r->thread, g_thread, "%s: callback on another thread", what);
	return r->rc;
}

static int cb_load(struct spio_bs_dev *dev, struct spio_bs_opts *opts, struct spio_blob_store **bs)
{
	struct cbres r = {.in_call = true};
	int rc;

	spio_bs_load(dev, opts, cb_bs, &r);
	rc = cb_wait(&r, "spio_bs_load");
	*bs = r.bs;
	CHECK(rc == 0 ? r.bs != NULL : r.bs == NULL, "load: a store exactly on success");
	return rc;
}

static int cb_unload(struct spio_blob_store *bs)
{
	struct cbres r = {.in_call = true};

	spio_bs_unload(bs, cb_op, &r);
	return cb_wait(&r, "spio_bs_unload");
}

static int cb_set_super(struct spio_blob_store *bs, spio_blob_id id)
{
	struct cbres r = {.in_call = true};

	spio_bs_set_super(bs, id, cb_op, &r);
	return cb_wait(&r, "spio_bs_set_super");
}

static int cb_get_super(struct spio_blob_store *bs, spio_blob_id *id)
{
	struct cbres r = {.in_call = true};
	int rc;

	spio_bs_get_super(bs, cb_id, &r);
	rc = cb_wait(&r, "spio_bs_get_super");
	*id = r.id;
	return rc;
}

static int cb_create(struct spio_blob_store *bs, const struct spio_blob_opts *opts,
		     spio_blob_id *id)
{
	struct cbres r = {.in_call = true};
	int rc;

	spio_bs_create_blob_ext(bs, opts, cb_id, &r);
	rc = cb_wait(&r, "spio_bs_create_blob_ext");
	*id = r.id;
	return rc;
}

static int cb_open(struct spio_blob_store *bs, spio_blob_id id, struct spio_blob **blob)
{
	struct cbres r = {.in_call = true};
	int rc;

	spio_bs_open_blob(bs, id, cb_blob, &r);
	rc = cb_wait(&r, "spio_bs_open_blob");
	*blob = r.blob;
	CHECK(rc == 0 ? r.blob != NULL : r.blob == NULL, "open 0x%lx: a handle exactly on success",
	      id);
	return rc;
}

static int cb_close(struct spio_blob *blob)
{
	struct cbres r = {.in_call = true};

	spio_blob_close(blob, cb_op, &r);
	return cb_wait(&r, "spio_blob_close");
}

static int cb_snapshot(struct spio_blob_store *bs, spio_blob_id id,
		       const struct spio_blob_xattr_opts *xattrs, spio_blob_id *snap)
{
	struct cbres r = {.in_call = true};
	int rc;

	spio_bs_create_snapshot(bs, id, xattrs, cb_id, &r);
	rc = cb_wait(&r, "spio_bs_create_snapshot");
	*snap = r.id;
	return rc;
}

static int cb_clone(struct spio_blob_store *bs, spio_blob_id id,
		    const struct spio_blob_xattr_opts *xattrs, spio_blob_id *clone)
{
	struct cbres r = {.in_call = true};
	int rc;

	spio_bs_create_clone(bs, id, xattrs, cb_id, &r);
	rc = cb_wait(&r, "spio_bs_create_clone");
	*clone = r.id;
	return rc;
}

static int cb_resize(struct spio_blob *blob, uint64_t sz)
{
	struct cbres r = {.in_call = true};

	spio_blob_resize(blob, sz, cb_op, &r);
	return cb_wait(&r, "spio_blob_resize");
}

static int cb_sync(struct spio_blob *blob)
{
	struct cbres r = {.in_call = true};

	spio_blob_sync_md(blob, cb_op, &r);
	return cb_wait(&r, "spio_blob_sync_md");
}

static int cb_read(struct spio_blob *blob, struct spio_io_channel *ch, void *buf, uint64_t off,
		   uint64_t len)
{
	struct cbres r = {.in_call = true};

	spio_blob_io_read(blob, ch, buf, off, len, cb_op, &r);
	return cb_wait(&r, "spio_blob_io_read");
}

static int cb_write(struct spio_blob *blob, struct spio_io_channel *ch, void *buf, uint64_t off,
		    uint64_t len)
{
	struct cbres r = {.in_call = true};

	spio_blob_io_write(blob, ch, buf, off, len, cb_op, &r);
	return cb_wait(&r, "spio_blob_io_write");
}

static const struct api g_cb_api = {
    .name = "callbacks",
    .load = cb_load,
    .unload = cb_unload,
    .set_super = cb_set_super,
    .get_super = cb_get_super,
    .create = cb_create,
    .open = cb_open,
    .close = cb_close,
    .snapshot = cb_snapshot,
    .clone = cb_clone,
    .resize = cb_resize,
    .sync = cb_sync,
    .read = cb_read,
    .write = cb_write,
};

#define OK(call)                                                   \
	do {                                                       \
		int rc_ = (call);                                  \
		CHECK_EQ(rc_, 0, "%s: %s", #call, strerror(-rc_)); \
	} while (0)

/*
 * The manifest
 */

static struct spio_json_val *manifest_load(const char *base)
{
	char name[64], path[PATH_MAX], err[128];
	struct spio_json_val *m;
	FILE *fp;
	char *text;
	long len;

	snprintf(name, sizeof(name), "%s.json", base);
	CHECK(bimg_path(name, path), "manifest %s not readable", path);
	fp = fopen(path, "r");
	CHECK_NOT_NULL(fp, "%s", path);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	text = malloc((size_t)len);
	CHECK_NOT_NULL(text);
	CHECK_EQ(fread(text, 1, (size_t)len, fp), (size_t)len, "reading %s", path);
	fclose(fp);
	m = spio_json_parse(text, (size_t)len, err, sizeof(err));
	CHECK_NOT_NULL(m, "%s: %s", path, err);
	free(text);
	return m;
}

static const struct spio_json_val *jget(const struct spio_json_val *o, const char *key)
{
	const struct spio_json_val *v = spio_json_object_get(o, key);

	CHECK_NOT_NULL(v, "manifest: no \"%s\"", key);
	return v;
}

static uint64_t jint(const struct spio_json_val *o, const char *key)
{
	int64_t v = -1;

	CHECK_EQ(spio_json_integer(jget(o, key), &v), 0, "manifest: \"%s\" not an integer", key);
	return (uint64_t)v;
}

static bool jbool(const struct spio_json_val *o, const char *key)
{
	bool b = false;

	CHECK_EQ(spio_json_bool(jget(o, key), &b), 0, "manifest: \"%s\" not a boolean", key);
	return b;
}

static const char *jstr(const struct spio_json_val *o, const char *key)
{
	const char *s = spio_json_string(jget(o, key));

	CHECK_NOT_NULL(s, "manifest: \"%s\" not a string", key);
	return s;
}

/* A blob id as the manifests write it ("0x100000000"), or INVALID for null. */
static spio_blob_id jid(const struct spio_json_val *v)
{
	const char *s = spio_json_string(v);

	return s == NULL ? SPIO_BLOBID_INVALID : strtoull(s, NULL, 16);
}

/* Decode `hex` into `out` (cap bytes). \return the byte count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;

	CHECK(n <= cap, "hex value of %zu bytes", n);
	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		CHECK_EQ(sscanf(hex + 2 * i, "%2x", &b), 1, "bad hex %s", hex);
		out[i] = (uint8_t)b;
	}
	return n;
}

/*
 * The scenario
 */

/* What the check of an image expects beyond its manifest after our changes. */
struct newblob {
	spio_blob_id id;
	uint64_t clusters;
	uint64_t allocated;
	bool thin;
	bool read_only;
	bool snapshot;
	spio_blob_id parent;
	const char *xname;
	char *xnames[1]; /* for spio_blob_xattr_opts */
	const void *xval;
	size_t xlen;
	uint8_t *content; /* clusters * cluster size bytes */
};

struct scene {
	const struct api *api;
	const char *base;
	uint64_t size;
	struct spio_json_val *m;
	const struct spio_json_val *bsm; /* the manifest's "blobstore" */
	struct cut_ctl dev;		 /* the image in memory: each load gets a wrapper of it */
	struct spio_blob_store *bs;
	struct spio_io_channel *ch;
	uint64_t cluster;
	uint64_t iou;
	uint64_t md_len;
	spio_blob_id super;
	uint64_t free;
	struct newblob nb[3];
	int n_new;
	uint32_t crc[MAX_MANIFEST_BLOBS]; /* the content of the manifest's blobs, once checked */
	bool crc_known[MAX_MANIFEST_BLOBS];
};

/* Read all of `b` in chunks; feed the SHA and / or the CRC, or compare with `want`. */
static void read_all(struct scene *s, struct spio_blob *b, struct sha256 *sha, uint32_t *crc,
		     const uint8_t *want)
{
	uint64_t units = spio_blob_get_num_io_units(b);
	uint64_t chunk = READ_CHUNK / s->iou;
	uint8_t *buf = malloc(READ_CHUNK);

	CHECK_NOT_NULL(buf);
	for (uint64_t off = 0; off < units; off += chunk) {
		uint64_t n = units - off < chunk ? units - off : chunk;

		memset(buf, 0xcc, n * s->iou);
		OK(s->api->read(b, s->ch, buf, off, n));
		if (sha != NULL) {
			sha256_update(sha, buf, n * s->iou);
		}
		if (crc != NULL) {
			*crc = spio_crc32c_update(buf, n * s->iou, *crc);
		}
		if (want != NULL) {
			size_t i;

			for (i = 0; i < n * s->iou && buf[i] == want[off * s->iou + i]; i++) {
			}
			if (i < n * s->iou) {
				CHECK_FAIL("%s: blob 0x%lx byte %lu: expected 0x%02x, got 0x%02x",
					   s->base, spio_blob_get_id(b), off * s->iou + i,
					   want[off * s->iou + i], buf[i]);
			}
		}
	}
	free(buf);
}

static void check_xattr(struct scene *s, struct spio_blob *b, const char *name, const void *val,
			size_t len)
{
	const void *v = NULL;
	size_t l = 0;
	int rc = spio_blob_get_xattr_value(b, name, &v, &l);

	CHECK_EQ(rc, 0, "%s: blob 0x%lx xattr %s: expected 0, got %d", s->base, spio_blob_get_id(b),
		 name, rc);
	CHECK(l == len && memcmp(v, val, len) == 0,
	      "%s: blob 0x%lx xattr %s: %zu bytes differ from the %zu expected", s->base,
	      spio_blob_get_id(b), name, l, len);
}

static uint32_t xattr_count(struct spio_blob *b)
{
	struct spio_xattr_names *names = NULL;
	uint32_t n;

	OK(spio_blob_get_xattr_names(b, &names));
	n = spio_xattr_names_get_count(names);
	spio_xattr_names_free(names);
	return n;
}

/* One blob of the manifest against the store. */
static void check_manifest_blob(struct scene *s, const struct spio_json_val *mb, size_t idx)
{
	spio_blob_id id = jid(jget(mb, "blob_id"));
	const struct spio_json_val *xattrs = jget(mb, "xattrs");
	const struct spio_json_val *clones = jget(mb, "clone_blob_ids");
	const struct spio_json_val *shav = spio_json_object_get(mb, "sha256");
	spio_blob_id parent = jid(jget(mb, "parent_blob_id"));
	struct spio_blob *b = NULL;
	struct sha256 sha;
	char hex[65];
	uint32_t crc;

	CHECK(idx < MAX_MANIFEST_BLOBS, "%s: more blobs than this test keeps", s->base);
	if (shav == NULL) {
		shav = jget(mb, "sha256_computed_by_helper");
	}
	OK(s->api->open(s->bs, id, &b));
	CHECK_EQ(spio_blob_get_id(b), id);
	CHECK_EQ(spio_blob_get_num_clusters(b), jint(mb, "num_clusters"),
		 "%s: blob 0x%lx: expected %lu clusters, got %lu", s->base, id,
		 jint(mb, "num_clusters"), spio_blob_get_num_clusters(b));
	CHECK_EQ(spio_blob_get_num_io_units(b), jint(mb, "size_bytes") / s->iou);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), jint(mb, "num_allocated_clusters"),
		 "%s: blob 0x%lx: expected %lu allocated clusters, got %lu", s->base, id,
		 jint(mb, "num_allocated_clusters"), spio_blob_get_num_allocated_clusters(b));
	CHECK_EQ(spio_blob_is_thin_provisioned(b), jbool(mb, "thin_provisioned"),
		 "%s: blob 0x%lx thin", s->base, id);
	CHECK_EQ(spio_blob_is_read_only(b), jbool(mb, "read_only"), "%s: blob 0x%lx read-only",
		 s->base, id);
	CHECK_EQ(spio_blob_is_snapshot(b), jbool(mb, "is_snapshot"), "%s: blob 0x%lx snapshot",
		 s->base, id);
	CHECK_EQ(spio_blob_is_clone(b), parent != SPIO_BLOBID_INVALID, "%s: blob 0x%lx clone",
		 s->base, id);
	CHECK_EQ(spio_blob_get_parent_snapshot(s->bs, id), parent, "%s: blob 0x%lx parent", s->base,
		 id);
	if (spio_json_array_size(clones) == 0) {
		spio_blob_id ids[1];
		size_t count = 1;

		CHECK_EQ(spio_blob_get_clones(s->bs, id, ids, &count), -ENOENT,
			 "%s: blob 0x%lx has no clones", s->base, id);
	}

	CHECK_EQ(xattr_count(b), spio_json_array_size(xattrs), "%s: blob 0x%lx: xattr count",
		 s->base, id);
	for (size_t i = 0; i < spio_json_array_size(xattrs); i++) {
		const struct spio_json_val *x = spio_json_array_get(xattrs, i);
		uint8_t val[256];
		size_t len = unhex(jstr(x, "value_hex"), val, sizeof(val));

		CHECK_EQ(len, jint(x, "value_len"));
		check_xattr(s, b, jstr(x, "name"), val, len);
	}

	/* the SHA-256 the first time; later checks compare a CRC32C of it (faster) */
	if (!s->crc_known[idx]) {
		sha256_init(&sha);
		crc = ~0u;
		read_all(s, b, &sha, &crc, NULL);
		sha256_final(&sha, hex);
		CHECK(strcmp(hex, spio_json_string(shav)) == 0,
		      "%s: blob 0x%lx: SHA-256 %s, manifest %s", s->base, id, hex,
		      spio_json_string(shav));
		s->crc[idx] = crc;
		s->crc_known[idx] = true;
	} else {
		crc = ~0u;
		read_all(s, b, NULL, &crc, NULL);
		CHECK_EQ(crc, s->crc[idx],
			 "%s: blob 0x%lx: content changed since it matched the manifest's SHA-256",
			 s->base, id);
	}
	OK(s->api->close(b));
}

static bool is_known(struct scene *s, spio_blob_id id)
{
	const struct spio_json_val *blobs = jget(s->m, "blobs");

	for (size_t i = 0; i < spio_json_array_size(blobs); i++) {
		if (jid(jget(spio_json_array_get(blobs, i), "blob_id")) == id) {
			return true;
		}
	}
	for (int i = 0; i < s->n_new; i++) {
		if (s->nb[i].id == id) {
			return true;
		}
	}
	return false;
}

static void check_new_blob(struct scene *s, const struct newblob *n)
{
	struct spio_blob *b = NULL;

	OK(s->api->open(s->bs, n->id, &b));
	CHECK_EQ(spio_blob_get_num_clusters(b), n->clusters, "%s: new blob 0x%lx clusters", s->base,
		 n->id);
	CHECK_EQ(spio_blob_get_num_allocated_clusters(b), n->allocated,
		 "%s: new blob 0x%lx: expected %lu allocated clusters, got %lu", s->base, n->id,
		 n->allocated, spio_blob_get_num_allocated_clusters(b));
	CHECK_EQ(spio_blob_is_thin_provisioned(b), n->thin, "%s: new blob 0x%lx thin", s->base,
		 n->id);
	CHECK_EQ(spio_blob_is_read_only(b), n->read_only, "%s: new blob 0x%lx read-only", s->base,
		 n->id);
	CHECK_EQ(spio_blob_is_snapshot(b), n->snapshot, "%s: new blob 0x%lx snapshot", s->base,
		 n->id);
	CHECK_EQ(spio_blob_is_clone(b), n->parent != SPIO_BLOBID_INVALID,
		 "%s: new blob 0x%lx clone", s->base, n->id);
	CHECK_EQ(spio_blob_get_parent_snapshot(s->bs, n->id), n->parent,
		 "%s: new blob 0x%lx: parent 0x%lx expected", s->base, n->id, n->parent);
	check_xattr(s, b, n->xname, n->xval, n->xlen);
	read_all(s, b, NULL, NULL, n->content);
	OK(s->api->close(b));
}

/* The whole store: geometry, super blob, the manifest's blobs, ours, and no others. */
static void check_store(struct scene *s)
{
	const struct spio_json_val *blobs = jget(s->m, "blobs");
	const struct spio_json_val *sbf = jget(s->bsm, "super_block_fields");
	uint64_t total = jint(s->bsm, "total_clusters");
	uint64_t md_bytes = (jint(sbf, "md_start") + s->md_len) * jint(s->bsm, "md_page_size");
	uint64_t md_clusters = (md_bytes + s->cluster - 1) / s->cluster;
	struct spio_bs_type t = spio_bs_get_bstype(s->bs);
	uint8_t want_type[16] = {0};
	spio_blob_id super = 0;
	struct spio_blob *none = NULL;

	CHECK_EQ(spio_bs_get_cluster_size(s->bs), s->cluster, "%s: cluster size", s->base);
	CHECK_EQ(spio_bs_get_page_size(s->bs), jint(s->bsm, "md_page_size"));
	CHECK_EQ(spio_bs_get_io_unit_size(s->bs), s->iou);
	CHECK_EQ(spio_bs_total_data_cluster_count(s->bs), total - md_clusters,
		 "%s: expected %lu data clusters, got %lu", s->base, total - md_clusters,
		 spio_bs_total_data_cluster_count(s->bs));
	CHECK_EQ(spio_bs_free_cluster_count(s->bs), s->free,
		 "%s: expected %lu free clusters, got %lu", s->base, s->free,
		 spio_bs_free_cluster_count(s->bs));
	unhex(jstr(s->bsm, "bstype_hex"), want_type, sizeof(want_type));
	CHECK(memcmp(t.bstype, want_type, 16) == 0, "%s: bstype", s->base);
	OK(s->api->get_super(s->bs, &super));
	CHECK_EQ(super, s->super, "%s: super blob 0x%lx, expected 0x%lx", s->base, super, s->super);

	for (size_t i = 0; i < spio_json_array_size(blobs); i++) {
		check_manifest_blob(s, spio_json_array_get(blobs, i), i);
	}
	for (int i = 0; i < s->n_new; i++) {
		check_new_blob(s, &s->nb[i]);
	}

	/* every other id of the md region, aliases of used ones, and ids past it */
	for (uint64_t p = 0; p < s->md_len + 4; p++) {
		spio_blob_id ids[3] = {(1ull << 32) | p, p, (3ull << 32) | p};

		for (int k = 0; k < 3; k++) {
			int rc;

			if (is_known(s, ids[k])) {
				continue;
			}
			rc = s->api->open(s->bs, ids[k], &none);
			CHECK_EQ(rc, -ENOENT,
				 "%s: blob 0x%lx is not there: expected -ENOENT, got %d", s->base,
				 ids[k], rc);
		}
	}
}

static void load(struct scene *s, bool force_recover)
{
	struct spio_bs_opts o;

	spio_bs_opts_init(&o, sizeof(o));
	o.force_recover = force_recover;
	OK(s->api->load(cut_dev_create(&s->dev), &o, &s->bs));
	s->ch = spio_bs_alloc_io_channel(s->bs);
	CHECK_NOT_NULL(s->ch);
}

static void unload(struct scene *s)
{
	spio_bs_free_io_channel(s->ch);
	s->ch = NULL;
	OK(s->api->unload(s->bs));
	s->bs = NULL;
	CHECK_EQ(s->dev.live, 0, "%s: unload destroys the store's device", s->base);
}

static void xa_get(void *ctx, const char *name, const void **value, size_t *value_len)
{
	const struct newblob *n = ctx;

	*value = n->xval;
	*value_len = n->xlen;
}

/* Creation xattrs: the blob's one xattr. */
static struct spio_blob_xattr_opts xa_of(struct newblob *n)
{
	n->xnames[0] = (char *)n->xname;
	return (struct spio_blob_xattr_opts){
	    .count = 1, .names = n->xnames, .ctx = n, .get_value = xa_get};
}

static void fill(uint8_t *p, uint64_t off, uint64_t len, uint8_t seed)
{
	for (uint64_t i = 0; i < len; i++) {
		uint64_t x = off + i;

		p[i] = (uint8_t)((x * 131 + (x >> 12) * 7 + seed) ^ (x >> 20));
	}
}

/* The changes: new blob, writes, resize up and down, snapshot, clone, clone write, super. */
static void change(struct scene *s)
{
	struct newblob *n = &s->nb[0], *snap = &s->nb[1], *cl = &s->nb[2];
	uint64_t cl_bytes = s->cluster, upc = s->cluster / s->iou;
	struct spio_blob_opts o;
	struct spio_blob_xattr_opts xo;
	struct spio_blob *b = NULL, *c = NULL;
	uint8_t *w;

	*n = (struct newblob){.clusters = 3,
			      .allocated = 0,
			      .thin = true,
			      .xname = "name",
			      .xval = "new-blob",
			      .xlen = 9};
	n->content = malloc(4 * cl_bytes);
	CHECK_NOT_NULL(n->content);
	fill(n->content, 0, 4 * cl_bytes, 0x21);

	spio_blob_opts_init(&o, sizeof(o));
	o.num_clusters = 2;
	o.xattrs = xa_of(n);
	OK(s->api->create(s->bs, &o, &n->id));
	s->n_new = 1;
	s->free -= 2;
	CHECK_EQ(spio_bs_free_cluster_count(s->bs), s->free, "%s: thick create of 2", s->base);
	OK(s->api->open(s->bs, n->id, &b));
	OK(s->api->write(b, s->ch, n->content, 0, 2 * upc));
	OK(s->api->resize(b, 4));
	s->free -= 2;
	CHECK_EQ(spio_bs_free_cluster_count(s->bs), s->free, "%s: grow to 4", s->base);
	/* new clusters hold whatever the device had: write them all */
	OK(s->api->write(b, s->ch, n->content + 2 * cl_bytes, 2 * upc, 2 * upc));
	OK(s->api->resize(b, 3));
	OK(s->api->sync(b));
	s->free += 1;
	CHECK_EQ(spio_bs_free_cluster_count(s->bs), s->free, "%s: shrink to 3 + sync", s->base);
	read_all(s, b, NULL, NULL, n->content);

	*snap = (struct newblob){.clusters = 3,
				 .allocated = 3,
				 .read_only = true,
				 .snapshot = true,
				 .parent = SPIO_BLOBID_INVALID,
				 .xname = "snap",
				 .xval = "s\0nap",
				 .xlen = 5,
				 .content = n->content};
	xo = xa_of(snap);
	OK(s->api->snapshot(s->bs, n->id, &xo, &snap->id));
	s->n_new = 2;
	n->parent = snap->id;
	CHECK_EQ(spio_bs_free_cluster_count(s->bs), s->free, "%s: snapshot", s->base);

	*cl = (struct newblob){.clusters = 3,
			       .allocated = 1,
			       .thin = true,
			       .parent = snap->id,
			       .xname = "clone",
			       .xval = "c",
			       .xlen = 1};
	cl->content = malloc(3 * cl_bytes);
	CHECK_NOT_NULL(cl->content);
	memcpy(cl->content, n->content, 3 * cl_bytes);
	xo = xa_of(cl);
	OK(s->api->clone(s->bs, snap->id, &xo, &cl->id));
	s->n_new = 3;
	OK(s->api->open(s->bs, cl->id, &c));
	w = cl->content + cl_bytes + (upc / 2) * s->iou;
	fill(w, 0, 3 * s->iou, 0x77);
	OK(s->api->write(c, s->ch, w, upc + upc / 2, 3));
	s->free -= 1;
	CHECK_EQ(spio_bs_free_cluster_count(s->bs), s->free, "%s: clone write", s->base);
	read_all(s, c, NULL, NULL, cl->content);
	read_all(s, b, NULL, NULL, n->content);
	OK(s->api->close(c));
	OK(s->api->close(b));

	OK(s->api->set_super(s->bs, n->id));
	s->super = n->id;
}

static void scenario(struct scene *s)
{
	s->m = manifest_load(s->base);
	s->bsm = jget(s->m, "blobstore");
	s->cluster = jint(s->bsm, "cluster_size");
	s->iou = jint(s->bsm, "io_unit_size");
	s->md_len = jint(jget(s->bsm, "super_block_fields"), "md_len");
	s->super = jid(jget(s->bsm, "super_blob_id"));
	s->free = jint(s->bsm, "free_clusters");
	CHECK_EQ(jint(s->m, "image_raw_size"), s->size);

	load(s, false);
	check_store(s);
	change(s);
	check_store(s);
	unload(s);

	load(s, false);
	check_store(s);
	unload(s);

	load(s, true);
	check_store(s);
	unload(s);
}

static void scenario_task(void *arg)
{
	scenario(arg);
}

static void run_image(const struct api *api, const char *base, uint64_t size)
{
	char name[64], path[PATH_MAX], why[256];
	struct scene s = {.api = api, .base = base, .size = size};
	long long got;

	snprintf(name, sizeof(name), "%s.json", base);
	if (!bimg_path(name, path)) {
		cr_skip_test("manifest %s missing (set SPIO_TESTDATA)", path);
	}
	snprintf(name, sizeof(name), "%s.img.gz", base);
	if (!bimg_path(name, path)) {
		cr_skip_test("test image %s missing (set SPIO_TESTDATA)", path);
	}
	cut_ctl_init(&s.dev, size / 4096, 4096);
	got = bimg_gunzip(name, s.dev.bytes, size, why);
	CHECK_EQ(got, (long long)size, "%s (%s)", name, got < 0 ? why : "wrong size");
	if (api == &g_await_api) {
		blob_task_run(g_thread, scenario_task, &s);
	} else {
		scenario(&s);
	}
	for (int i = 0; i < 3; i++) {
		if (i != 1) {
			free(s.nb[i].content);
		}
	}
	spio_json_val_free(s.m);
	cut_ctl_fini(&s.dev);
}

Test(blob_images, blobcli_callbacks)
{
	run_image(&g_cb_api, "blobcli-basic", BIMG_BLOBCLI_SIZE);
}

Test(blob_images, lvol_await)
{
	run_image(&g_await_api, "lvol-basic", BIMG_LVOL_SIZE);
}
