/*
 * Subsystems: registry, dependency order, asynchronous init and fini chains
 * (each step continues from a message to the app thread, so a subsystem may
 * report completion from inside its callback or from any thread later).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_internal.h"
#include "spio/log.h"

static struct spio_subsystem *g_subsystems; /* registration order */
static struct spio_subsystem_depend *g_depends;
static bool g_locked; /* an app runs */

static struct spio_subsystem **g_order; /* init order */
static uint32_t g_order_count;
static uint32_t g_cursor; /* init: next to start; fini: current */
static bool g_in_init, g_in_fini, g_init_done;
static void (*g_init_done_cb)(int rc);
static void (*g_fini_done_cb)(void);

int spio_subsystem_register(struct spio_subsystem *sub)
{
	struct spio_subsystem **tail = &g_subsystems;

	if (sub == NULL || sub->name == NULL || sub->name[0] == '\0') {
		return -EINVAL;
	}
	if (__atomic_load_n(&g_locked, __ATOMIC_ACQUIRE)) {
		return -EBUSY;
	}
	for (; *tail != NULL; tail = &(*tail)->next_) {
		if (*tail == sub || strcmp((*tail)->name, sub->name) == 0) {
			SPIO_ERRLOG("subsystem '%s' is already registered\n", sub->name);
			return -EEXIST;
		}
	}
	sub->next_ = NULL;
	sub->initialized_ = false;
	*tail = sub;
	return 0;
}

int spio_subsystem_add_depend(struct spio_subsystem_depend *dep)
{
	struct spio_subsystem_depend **tail = &g_depends;

	if (dep == NULL || dep->name == NULL || dep->depends_on == NULL || dep->name[0] == '\0' ||
	    dep->depends_on[0] == '\0') {
		return -EINVAL;
	}
	if (__atomic_load_n(&g_locked, __ATOMIC_ACQUIRE)) {
		return -EBUSY;
	}
	while (*tail != NULL) {
		if (*tail == dep) {
			return 0;
		}
		tail = &(*tail)->next_;
	}
	dep->next_ = NULL;
	*tail = dep;
	return 0;
}

struct spio_subsystem *spio_subsystem_find(const char *name)
{
	struct spio_subsystem *s;

	if (name == NULL) {
		return NULL;
	}
	for (s = g_subsystems; s != NULL; s = s->next_) {
		if (strcmp(s->name, name) == 0) {
			return s;
		}
	}
	return NULL;
}

void subsystems_set_locked(bool locked)
{
	__atomic_store_n(&g_locked, locked, __ATOMIC_RELEASE);
}

void subsystems_for_each_depend(const char *name, void (*fn)(const char *dep, void *ctx), void *ctx)
{
	for (struct spio_subsystem_depend *d = g_depends; d != NULL; d = d->next_) {
		if (strcmp(d->name, name) == 0) {
			fn(d->depends_on, ctx);
		}
	}
}

/*
 * Ordering
 */

static bool in_order(const struct spio_subsystem *s)
{
	for (uint32_t i = 0; i < g_order_count; i++) {
		if (g_order[i] == s) {
			return true;
		}
	}
	return false;
}

/* All of `s`'s dependencies are already ordered. */
static bool deps_ready(const struct spio_subsystem *s)
{
	for (struct spio_subsystem_depend *d = g_depends; d != NULL; d = d->next_) {
		if (strcmp(d->name, s->name) == 0 &&
		    !in_order(spio_subsystem_find(d->depends_on))) {
			return false;
		}
	}
	return true;
}

/* A dependency of `s` that is not ordered yet (part of or leading to a cycle). */
static struct spio_subsystem *unordered_dep(const struct spio_subsystem *s)
{
	for (struct spio_subsystem_depend *d = g_depends; d != NULL; d = d->next_) {
		if (strcmp(d->name, s->name) == 0) {
			struct spio_subsystem *dep = spio_subsystem_find(d->depends_on);

			if (!in_order(dep)) {
				return dep;
			}
		}
	}
	return NULL;
}

/* Log the cycle reached from `start` (every subsystem left has an unordered dependency). */
static void report_cycle(struct spio_subsystem *start, uint32_t left)
{
	struct spio_subsystem *path[64];
	uint32_t len = 0, first = 0;
	char msg[1024];
	size_t off = 0;

	/* Walk until a subsystem repeats; at most `left` steps. */
	for (struct spio_subsystem *s = start; s != NULL && len < SPIO_COUNTOF(path);
	     s = unordered_dep(s)) {
		bool seen = false;

		for (uint32_t i = 0; i < len; i++) {
			if (path[i] == s) {
				first = i;
				seen = true;
				break;
			}
		}
		path[len++] = s;
		if (seen || len > left) {
			break;
		}
	}
	msg[0] = '\0';
	for (uint32_t i = first; i < len && off < sizeof(msg); i++) {
		int w = snprintf(msg + off, sizeof(msg) - off, "%s%s", i == first ? "" : " -> ",
				 path[i]->name);
		off += w > 0 ? (size_t)w : 0;
	}
	SPIO_ERRLOG("subsystem dependency cycle: %s\n", msg);
}

int subsystems_prepare(void)
{
	uint32_t n = 0;
	int rc = 0;

	for (struct spio_subsystem_depend *d = g_depends; d != NULL; d = d->next_) {
		if (spio_subsystem_find(d->name) == NULL) {
			SPIO_ERRLOG("subsystem dependency %s -> %s: no subsystem named '%s'\n",
				    d->name, d->depends_on, d->name);
			rc = -EINVAL;
		} else if (spio_subsystem_find(d->depends_on) == NULL) {
			SPIO_ERRLOG("subsystem dependency %s -> %s: no subsystem named '%s'\n",
				    d->name, d->depends_on, d->depends_on);
			rc = -EINVAL;
		}
	}
	if (rc != 0) {
		return rc;
	}
	for (struct spio_subsystem *s = g_subsystems; s != NULL; s = s->next_) {
		s->initialized_ = false;
		n++;
	}
	free(g_order);
	g_order = calloc(n ? n : 1, sizeof(*g_order));
	if (g_order == NULL) {
		return -ENOMEM;
	}
	g_order_count = 0;

	/* Repeatedly take the first subsystem, in registration order, whose
	 * dependencies are all ordered: stable, and dependencies come first. */
	while (g_order_count < n) {
		struct spio_subsystem *pick = NULL;

		for (struct spio_subsystem *s = g_subsystems; s != NULL; s = s->next_) {
			if (!in_order(s) && deps_ready(s)) {
				pick = s;
				break;
			}
		}
		if (pick == NULL) {
			for (struct spio_subsystem *s = g_subsystems; s != NULL; s = s->next_) {
				if (!in_order(s)) {
					report_cycle(s, n - g_order_count);
					break;
				}
			}
			subsystems_release();
			return -EINVAL;
		}
		g_order[g_order_count++] = pick;
	}
	g_cursor = 0;
	g_init_done = false;
	return 0;
}

void subsystems_release(void)
{
	free(g_order);
	g_order = NULL;
	g_order_count = 0;
	g_init_done = false;
	g_in_init = g_in_fini = false;
}

uint32_t subsystems_count(void)
{
	return g_order_count;
}

struct spio_subsystem *subsystems_at(uint32_t i)
{
	return i < g_order_count ? g_order[i] : NULL;
}

bool subsystems_init_done(void)
{
	return g_init_done;
}

/*
 * Init
 */

static void init_step(void *arg);

static void init_continue(void *arg)
{
	int rc = (int)(intptr_t)arg;
	struct spio_subsystem *s = g_order[g_cursor];

	if (rc != 0) {
		SPIO_ERRLOG("subsystem %s: init failed: %s (%d)\n", s->name, strerror(-rc), rc);
		g_in_init = false;
		g_init_done_cb(rc);
		return;
	}
	s->initialized_ = true;
	g_cursor++;
	init_step(NULL);
}

static void init_step(void *arg)
{
	struct spio_subsystem *s;

	if (g_cursor == g_order_count) {
		g_in_init = false;
		g_init_done = true;
		g_init_done_cb(0);
		return;
	}
	if (app_stop_requested()) {
		g_in_init = false;
		g_init_done_cb(-ECANCELED);
		return;
	}
	s = g_order[g_cursor];
	SPIO_DEBUGLOG(app, "initialising subsystem %s\n", s->name);
	if (s->init) {
		s->init();
	} else {
		spio_subsystem_init_next(0);
	}
}

void subsystems_init_all(void (*done)(int rc))
{
	g_init_done_cb = done;
	g_cursor = 0;
	g_in_init = true;
	init_step(NULL);
}

void spio_subsystem_init_next(int rc)
{
	if (!g_in_init) {
		SPIO_ERRLOG("spio_subsystem_init_next called while no subsystem initialises\n");
		return;
	}
	static struct app_msg init_msg;

	app_send_msg(&init_msg, init_continue, (void *)(intptr_t)rc);
}

/*
 * Fini
 */

static void fini_step(void *arg)
{
	/* g_cursor is one past the next candidate. */
	while (g_cursor > 0) {
		struct spio_subsystem *s = g_order[--g_cursor];

		if (!s->initialized_) {
			continue;
		}
		s->initialized_ = false;
		SPIO_DEBUGLOG(app, "finishing subsystem %s\n", s->name);
		if (s->fini) {
			s->fini();
		} else {
			spio_subsystem_fini_next();
		}
		return;
	}
	g_in_fini = false;
	g_init_done = false;
	g_fini_done_cb();
}

void subsystems_fini_all(void (*done)(void))
{
	g_fini_done_cb = done;
	g_cursor = g_order_count;
	g_in_fini = true;
	fini_step(NULL);
}

void spio_subsystem_fini_next(void)
{
	if (!g_in_fini) {
		SPIO_ERRLOG("spio_subsystem_fini_next called while no subsystem finishes\n");
		return;
	}
	static struct app_msg fini_msg;

	app_send_msg(&fini_msg, fini_step, NULL);
}

/*
 * Configuration output
 */

struct buf {
	char *data;
	size_t len, cap;
};

static int buf_write(void *ctx, const void *data, size_t size)
{
	struct buf *b = ctx;

	if (b->len + size + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		char *n;

		while (cap < b->len + size + 1) {
			cap *= 2;
		}
		n = realloc(b->data, cap);
		if (n == NULL) {
			return -ENOMEM;
		}
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, size);
	b->len += size;
	return 0;
}

int subsystem_write_config(struct spio_subsystem *sub, struct spio_json_write_ctx *w)
{
	struct spio_json_write_ctx *sw;
	struct buf b = {0};
	int rc;

	if (sub->write_config_json == NULL) {
		return spio_json_write_null(w);
	}
	/* Into a buffer first: a subsystem that writes nothing or something
	 * malformed must not break the whole document. */
	sw = spio_json_write_begin(buf_write, &b, 0);
	if (sw == NULL) {
		return -ENOMEM;
	}
	sub->write_config_json(sw);
	rc = spio_json_write_end(sw);
	if (rc != 0) {
		SPIO_ERRLOG("subsystem %s: write_config_json wrote malformed JSON (%d)\n",
			    sub->name, rc);
		free(b.data);
		return rc;
	}
	rc = b.len ? spio_json_write_val_raw(w, b.data, b.len) : spio_json_write_null(w);
	free(b.data);
	return rc;
}

int spio_app_write_config_json(struct spio_json_write_ctx *w)
{
	struct spio_thread *app = spio_app_get_thread();

	if (w == NULL || app == NULL || spio_get_thread() != app) {
		return -EINVAL;
	}
	spio_json_write_object_begin(w);
	spio_json_write_named_array_begin(w, "subsystems");
	for (uint32_t i = 0; i < g_order_count; i++) {
		struct spio_subsystem *s = g_order[i];
		int rc;

		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "subsystem", s->name);
		spio_json_write_name(w, "config");
		rc = subsystem_write_config(s, w);
		if (rc != 0) {
			return rc;
		}
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
	return spio_json_write_object_end(w);
}
