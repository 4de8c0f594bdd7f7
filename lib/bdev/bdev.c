/* The bdev registry: modules, layer init/finish, registration, aliases,
 * lookups, descriptors, hot remove and bdev channels. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spio/log.h"

SPIO_LOG_REGISTER_COMPONENT(bdev)

struct bdev_mgr g_bdev_mgr = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
};

static struct {
	spio_bdev_fini_cb cb;
	void *cb_arg;
	struct spio_thread *thread;
	struct spio_msg msg;	     /* the next step; one in flight at a time */
	uint32_t fini_start_pending; /* async_fini_start modules not done yet, plus one */
} g_fini;

static void bdev_finish_next(void *arg);

/* The finishing thread runs the finish, so it has not exited: cannot fail. */
static void bdev_finish_step_later(void)
{
	spio_thread_send_msg_embedded(g_fini.thread, &g_fini.msg, bdev_finish_next, NULL);
}

/*
 * Modules
 */

void spio_bdev_module_list_add(struct spio_bdev_module *module)
{
	struct spio_bdev_module **p;

	if (module == NULL || module->name == NULL) {
		return;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (p = &g_bdev_mgr.modules; *p != NULL; p = &(*p)->next_) {
		if (*p == module || strcmp((*p)->name, module->name) == 0) {
			pthread_mutex_unlock(&g_bdev_mgr.lock);
			SPIO_ERRLOG("bdev module %s registered twice", module->name);
			return;
		}
	}
	module->next_ = NULL;
	*p = module;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
}

struct spio_bdev_module *spio_bdev_module_find(const char *name)
{
	struct spio_bdev_module *m;

	if (name == NULL) {
		return NULL;
	}
	for (m = g_bdev_mgr.modules; m != NULL; m = m->next_) {
		if (strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

static size_t module_ctx_size(const struct spio_bdev_module *m)
{
	return m->get_ctx_size != NULL ? m->get_ctx_size() : 0;
}

/*
 * Layer init / finish
 */

/* Free the bdev_io pool; management channels destroyed later keep their cache away from it. */
static void bdev_io_pool_free(void)
{
	__atomic_add_fetch(&g_bdev_mgr.pool_gen, 1, __ATOMIC_ACQ_REL);
	spio_mempool_free(g_bdev_mgr.io_pool);
	g_bdev_mgr.io_pool = NULL;
}

static int mgmt_channel_create(void *io_device, void *ctx_buf)
{
	struct bdev_mgmt_channel *mgmt = ctx_buf;
	int rc;

	(void)io_device;
	memset(mgmt, 0, sizeof(*mgmt));
	rc = bdev_mgmt_cache_fill(mgmt, g_bdev_mgr.opts.bdev_io_cache_size);
	if (rc != 0) {
		return rc;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	mgmt->next = g_bdev_mgr.mgmt_channels;
	g_bdev_mgr.mgmt_channels = mgmt;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return 0;
}

static void mgmt_channel_destroy(void *io_device, void *ctx_buf)
{
	struct bdev_mgmt_channel *mgmt = ctx_buf;

	(void)io_device;
	if (mgmt->wait_head != NULL) {
		SPIO_WARNLOG("bdev I/O waiters dropped with their thread's channel");
	}
	spio_poller_unregister(&mgmt->wait_poller);
	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (struct bdev_mgmt_channel **pp = &g_bdev_mgr.mgmt_channels; *pp != NULL;
	     pp = &(*pp)->next) {
		if (*pp == mgmt) {
			*pp = mgmt->next;
			break;
		}
	}
	bdev_mgmt_cache_drain(mgmt);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
}

void spio_bdev_opts_init(struct spio_bdev_opts *opts, size_t opts_size)
{
	if (opts == NULL) {
		return;
	}
	memset(opts, 0, opts_size < sizeof(*opts) ? opts_size : sizeof(*opts));
	opts->opts_size = opts_size;
	if (opts_size >= offsetof(struct spio_bdev_opts, bdev_io_pool_size) + sizeof(uint32_t)) {
		opts->bdev_io_pool_size = 65535;
	}
	if (opts_size >= offsetof(struct spio_bdev_opts, bdev_io_cache_size) + sizeof(uint32_t)) {
		opts->bdev_io_cache_size = 256;
	}
	if (opts_size >= offsetof(struct spio_bdev_opts, bdev_auto_examine) + sizeof(bool)) {
		opts->bdev_auto_examine = true;
	}
}

/*
 * Init: every module's module_init in order (async ones finish later with
 * spio_bdev_module_init_done), then every init_complete, then the caller's
 * callback. A failure finishes the modules initialised so far.
 */
static struct {
	spio_bdev_init_cb cb;
	void *cb_arg;
	uint32_t pending; /* async inits not done yet, +1 while module_init calls run */
	int rc;		  /* first failure */
	bool running;
} g_init;

static void bdev_init_fail_finished(void *cb_arg);

/* Everything below the modules: the pool and the management io_device. */
static void bdev_core_free(void)
{
	g_bdev_mgr.initialized = false;
	bdev_examine_allowed_clear();
	spio_io_device_unregister(&g_bdev_mgr, NULL);
	bdev_io_pool_free();
}

static void bdev_init_settle(void)
{
	spio_bdev_init_cb cb = g_init.cb;
	void *cb_arg = g_init.cb_arg;
	struct spio_bdev_module *m;
	int rc = g_init.rc;

	if (--g_init.pending > 0) {
		return;
	}
	if (rc != 0) {
		/* Finish the modules that did initialise, then report. */
		bdev_fini_modules(bdev_init_fail_finished, NULL);
		return;
	}
	g_init.running = false;
	for (m = g_bdev_mgr.modules; m != NULL; m = m->next_) {
		m->internal_state_ = BDEV_MODULE_READY;
	}
	for (m = g_bdev_mgr.modules; m != NULL; m = m->next_) {
		if (m->init_complete != NULL) {
			m->init_complete();
		}
	}
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
}

static void bdev_init_fail_finished(void *cb_arg)
{
	spio_bdev_init_cb cb = g_init.cb;
	void *arg = g_init.cb_arg;
	int rc = g_init.rc;

	(void)cb_arg;
	bdev_core_free();
	g_init.running = false;
	if (cb != NULL) {
		cb(arg, rc);
	}
}

void spio_bdev_module_init_done(struct spio_bdev_module *module, int rc)
{
	if (module == NULL || !g_init.running || module->internal_state_ != BDEV_MODULE_INITING) {
		SPIO_ERRLOG("bdev module %s: init_done while it is not initialising",
			    module != NULL ? module->name : "(null)");
		return;
	}
	module->internal_state_ = rc == 0 ? BDEV_MODULE_READY : BDEV_MODULE_FAILED;
	if (rc != 0) {
		SPIO_ERRLOG("bdev module %s: init failed: %s", module->name, strerror(-rc));
		if (g_init.rc == 0) {
			g_init.rc = rc;
		}
	}
	bdev_init_settle();
}

int spio_bdev_initialize(const struct spio_bdev_opts *user_opts, spio_bdev_init_cb cb, void *cb_arg)
{
	struct spio_bdev_opts opts;
	struct spio_bdev_module *m;
	size_t max_ctx = 0;
	int rc;

	spio_bdev_opts_init(&opts, sizeof(opts));
	if (user_opts != NULL) {
		if (user_opts->opts_size == 0) {
			return -EINVAL;
		}
		/* fields beyond the caller's opts_size keep the defaults set above */
		memcpy(&opts, user_opts, SPIO_MIN(user_opts->opts_size, sizeof(opts)));
		opts.opts_size = sizeof(opts);
	} else {
		opts = *bdev_opts_current();
	}
	if (opts.bdev_io_pool_size == 0 || opts.bdev_io_cache_size > SPIO_MEMPOOL_CACHE_MAX_SIZE ||
	    opts.bdev_io_cache_size > opts.bdev_io_pool_size || spio_get_thread() == NULL) {
		return -EINVAL;
	}
	if (g_bdev_mgr.initialized || g_bdev_mgr.finishing || g_init.running) {
		return -EALREADY;
	}

	for (m = g_bdev_mgr.modules; m != NULL; m = m->next_) {
		max_ctx = SPIO_MAX(max_ctx, module_ctx_size(m));
		m->internal_state_ = BDEV_MODULE_NONE;
	}
	/* no cache of the pool's own: each thread's management channel has one */
	g_bdev_mgr.io_pool = spio_mempool_create("bdev_io", opts.bdev_io_pool_size,
						 sizeof(struct spio_bdev_io) + max_ctx, 0,
						 SPIO_MEMPOOL_MEM_PLAIN, NULL, NULL);
	if (g_bdev_mgr.io_pool == NULL) {
		return -errno;
	}
	g_bdev_mgr.max_ctx_size = max_ctx;
	g_bdev_mgr.opts = opts;
	rc = spio_io_device_register(&g_bdev_mgr, mgmt_channel_create, mgmt_channel_destroy,
				     sizeof(struct bdev_mgmt_channel), "bdev_mgr");
	if (rc != 0) {
		bdev_io_pool_free();
		return rc;
	}
	g_bdev_mgr.initialized = true;
	g_init = (typeof(g_init)){.cb = cb, .cb_arg = cb_arg, .pending = 1, .running = true};

	for (m = g_bdev_mgr.modules; m != NULL; m = m->next_) {
		if (m->module_init == NULL) {
			m->internal_state_ = BDEV_MODULE_READY;
			continue;
		}
		m->internal_state_ = BDEV_MODULE_INITING;
		if (m->async_init) {
			g_init.pending++;
		}
		rc = m->module_init();
		if (rc != 0) {
			SPIO_ERRLOG("bdev module %s: init failed: %s", m->name, strerror(-rc));
			m->internal_state_ = BDEV_MODULE_FAILED;
			if (m->async_init) {
				g_init.pending--;
			}
			g_init.rc = rc;
			break;
		}
		if (!m->async_init) {
			m->internal_state_ = BDEV_MODULE_READY;
		}
	}
	if (g_init.rc != 0 && g_init.pending == 1) {
		/* A synchronous failure with nothing in flight: undo and say so now. */
		rc = g_init.rc;
		g_init.cb = NULL;
		g_init.pending = 0;
		bdev_fini_modules(NULL, NULL);
		bdev_core_free();
		g_init.running = false;
		return rc;
	}
	bdev_init_settle();
	return 0;
}

/*
 * Fini of the modules, one after another in registration order; each
 * async_fini module resumes the walk with spio_bdev_module_fini_done().
 * Modules that never initialised are skipped.
 */
static struct {
	struct spio_bdev_module *next; /* module whose fini runs next */
	struct spio_bdev_module *waiting;
	void (*done)(void *cb_arg);
	void *done_arg;
	struct spio_thread *thread;
	struct spio_msg msg;
} g_modfini;

static void bdev_fini_modules_step(void *arg)
{
	struct spio_bdev_module *m;

	(void)arg;
	while ((m = g_modfini.next) != NULL) {
		g_modfini.next = m->next_;
		if (m->internal_state_ != BDEV_MODULE_READY) {
			m->internal_state_ = BDEV_MODULE_NONE;
			continue;
		}
		m->internal_state_ = BDEV_MODULE_NONE;
		if (m->module_fini == NULL) {
			continue;
		}
		if (m->async_fini) {
			m->internal_state_ = BDEV_MODULE_FINISHING;
			g_modfini.waiting = m;
			m->module_fini();
			return;
		}
		m->module_fini();
	}
	if (g_modfini.done != NULL) {
		g_modfini.done(g_modfini.done_arg);
	}
}

void bdev_fini_modules(void (*done)(void *cb_arg), void *cb_arg)
{
	g_modfini = (typeof(g_modfini)){.next = g_bdev_mgr.modules,
					.done = done,
					.done_arg = cb_arg,
					.thread = spio_get_thread()};
	bdev_fini_modules_step(NULL);
}

void spio_bdev_module_fini_done(struct spio_bdev_module *module)
{
	if (module == NULL || module != g_modfini.waiting ||
	    module->internal_state_ != BDEV_MODULE_FINISHING) {
		SPIO_ERRLOG("bdev module %s: fini_done while it is not finishing",
			    module != NULL ? module->name : "(null)");
		return;
	}
	module->internal_state_ = BDEV_MODULE_NONE;
	g_modfini.waiting = NULL;
	/* From a message: the module may still be inside its module_fini. */
	spio_thread_send_msg_embedded(g_modfini.thread, &g_modfini.msg, bdev_fini_modules_step,
				      NULL);
}

static void bdev_finish_unregistered(void *cb_arg, int rc)
{
	(void)rc;
	bdev_finish_next(cb_arg);
}

static void bdev_mgr_unregistered(void *io_device)
{
	(void)io_device;
	bdev_io_pool_free();
	g_bdev_mgr.finishing = false;
	if (g_fini.cb != NULL) {
		g_fini.cb(g_fini.cb_arg);
	}
}

static void bdev_finish_modules_done(void *cb_arg)
{
	(void)cb_arg;
	g_bdev_mgr.initialized = false;
	spio_io_device_unregister(&g_bdev_mgr, bdev_mgr_unregistered);
}

static void bdev_finish_next(void *arg)
{
	struct spio_bdev *bdev, *last = NULL;
	bool any = false;

	(void)arg;
	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (bdev = g_bdev_mgr.bdevs; bdev != NULL; bdev = bdev->internal.next) {
		any = true;
		if (bdev->internal.status == SPIO_BDEV_STATUS_READY) {
			last = bdev;
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);

	if (last != NULL) {
		if (spio_bdev_unregister(last, bdev_finish_unregistered, NULL) != 0) {
			bdev_finish_step_later();
		}
		return;
	}
	if (any) {
		/* someone else is removing the rest: look again later */
		bdev_finish_step_later();
		return;
	}
	bdev_fini_modules(bdev_finish_modules_done, NULL);
}

static void bdev_fini_start_release(void);

int spio_bdev_finish(spio_bdev_fini_cb cb, void *cb_arg)
{
	struct spio_thread *thread = spio_get_thread();

	if (thread == NULL) {
		return -EINVAL;
	}
	if (!g_bdev_mgr.initialized || g_bdev_mgr.finishing || g_init.running) {
		return -EALREADY;
	}
	g_bdev_mgr.finishing = true;
	g_fini.cb = cb;
	g_fini.cb_arg = cb_arg;
	g_fini.thread = thread;
	/* Held by one until every fini_start ran: a module may finish inside its call. */
	g_fini.fini_start_pending = 1;
	for (struct spio_bdev_module *m = g_bdev_mgr.modules; m != NULL; m = m->next_) {
		if (m->fini_start != NULL) {
			if (m->async_fini_start) {
				g_fini.fini_start_pending++;
			}
			m->fini_start();
		}
	}
	bdev_fini_start_release();
	return 0;
}

/* Bdevs go once every module's fini_start is over (async ones report in). */
static void bdev_fini_start_release(void)
{
	if (--g_fini.fini_start_pending == 0) {
		bdev_finish_step_later();
	}
}

void spio_bdev_module_fini_start_done(void)
{
	if (!g_bdev_mgr.finishing || g_fini.fini_start_pending == 0) {
		SPIO_ERRLOG("spio_bdev_module_fini_start_done: no fini_start is pending\n");
		return;
	}
	bdev_fini_start_release();
}

/*
 * Lookups (callers hold the lock)
 */

static bool bdev_has_name(struct spio_bdev *bdev, const char *name)
{
	struct spio_bdev_alias *a;

	if (strcmp(bdev->name, name) == 0) {
		return true;
	}
	for (a = bdev->internal.aliases; a != NULL; a = a->next) {
		if (strcmp(a->name, name) == 0) {
			return true;
		}
	}
	return false;
}

static struct spio_bdev *bdev_lookup_locked(const char *name)
{
	struct spio_bdev *bdev;
	struct spio_uuid uuid;
	bool is_uuid = spio_uuid_parse(&uuid, name) == 0;

	for (bdev = g_bdev_mgr.bdevs; bdev != NULL; bdev = bdev->internal.next) {
		if (bdev_has_name(bdev, name)) {
			return bdev;
		}
		if (is_uuid && spio_uuid_compare(&uuid, &bdev->uuid) == 0) {
			return bdev;
		}
	}
	return NULL;
}

struct spio_bdev *spio_bdev_get_by_name(const char *name)
{
	struct spio_bdev *bdev;

	if (name == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev = bdev_lookup_locked(name);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return bdev;
}

struct spio_bdev *spio_bdev_first(void)
{
	struct spio_bdev *bdev;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev = g_bdev_mgr.bdevs;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return bdev;
}

struct spio_bdev *spio_bdev_next(struct spio_bdev *prev)
{
	struct spio_bdev *bdev;

	if (prev == NULL) {
		return NULL;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev = prev->internal.next;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return bdev;
}

struct spio_bdev *spio_bdev_first_of_module(const char *module_name)
{
	struct spio_bdev *bdev;

	if (module_name == NULL) {
		return NULL;
	}
	for (bdev = spio_bdev_first(); bdev != NULL; bdev = spio_bdev_next(bdev)) {
		if (strcmp(spio_bdev_get_module_name(bdev), module_name) == 0) {
			return bdev;
		}
	}
	return NULL;
}

struct spio_bdev *spio_bdev_next_of_module(struct spio_bdev *prev)
{
	struct spio_bdev *bdev;

	if (prev == NULL) {
		return NULL;
	}
	for (bdev = spio_bdev_next(prev); bdev != NULL; bdev = spio_bdev_next(bdev)) {
		if (bdev->module == prev->module) {
			return bdev;
		}
	}
	return NULL;
}

/*
 * Properties
 */

const char *spio_bdev_get_name(const struct spio_bdev *bdev)
{
	return bdev->name;
}

const char *spio_bdev_get_product_name(const struct spio_bdev *bdev)
{
	return bdev->product_name != NULL ? bdev->product_name : "";
}

const char *spio_bdev_get_module_name(const struct spio_bdev *bdev)
{
	return bdev->module->name;
}

uint32_t spio_bdev_get_block_size(const struct spio_bdev *bdev)
{
	return bdev->blocklen;
}

uint64_t spio_bdev_get_num_blocks(const struct spio_bdev *bdev)
{
	return __atomic_load_n(&bdev->blockcnt, __ATOMIC_ACQUIRE);
}

uint32_t spio_bdev_get_physical_block_size(const struct spio_bdev *bdev)
{
	return bdev->phys_blocklen != 0 ? bdev->phys_blocklen : bdev->blocklen;
}

uint32_t spio_bdev_get_write_unit_size(const struct spio_bdev *bdev)
{
	return bdev->write_unit_size != 0 ? bdev->write_unit_size : 1;
}

uint32_t spio_bdev_get_optimal_io_boundary(const struct spio_bdev *bdev)
{
	return bdev->optimal_io_boundary;
}

size_t spio_bdev_get_buf_align(const struct spio_bdev *bdev)
{
	return bdev->required_alignment > 1 ? bdev->required_alignment : 1;
}

const struct spio_uuid *spio_bdev_get_uuid(const struct spio_bdev *bdev)
{
	return &bdev->uuid;
}

bool spio_bdev_io_type_supported(struct spio_bdev *bdev, enum spio_bdev_io_type type)
{
	if (bdev == NULL || type <= SPIO_BDEV_IO_TYPE_INVALID || type >= SPIO_BDEV_NUM_IO_TYPES) {
		return false;
	}
	return bdev->fn_table->io_type_supported(bdev->ctxt, type);
}

void spio_bdev_foreach_alias(struct spio_bdev *bdev, void (*fn)(const char *alias, void *ctx),
			     void *ctx)
{
	struct spio_bdev_alias *a;

	if (bdev == NULL || fn == NULL) {
		return;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (a = bdev->internal.aliases; a != NULL; a = a->next) {
		fn(a->name, ctx);
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
}

bool spio_bdev_is_claimed(const struct spio_bdev *bdev)
{
	return bdev != NULL &&
	       __atomic_load_n(&bdev->internal.claim_module, __ATOMIC_ACQUIRE) != NULL;
}

int spio_bdev_module_claim_bdev(struct spio_bdev *bdev, struct spio_bdev_desc *desc,
				struct spio_bdev_module *module)
{
	struct spio_bdev_desc *d;

	if (bdev == NULL || module == NULL || (desc != NULL && desc->bdev != bdev)) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bdev->internal.claim_module != NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		SPIO_ERRLOG("bdev %s already claimed by module %s", bdev->name,
			    bdev->internal.claim_module->name);
		return -EPERM;
	}
	for (d = bdev->internal.descs; d != NULL; d = d->next) {
		if (d->write && d != desc) {
			pthread_mutex_unlock(&g_bdev_mgr.lock);
			SPIO_ERRLOG("bdev %s: cannot claim, open for writing elsewhere",
				    bdev->name);
			return -EPERM;
		}
	}
	if (desc != NULL) {
		desc->write = true;
	}
	__atomic_store_n(&bdev->internal.claim_module, module, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return 0;
}

void spio_bdev_module_release_bdev(struct spio_bdev *bdev)
{
	if (bdev == NULL) {
		return;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	__atomic_store_n(&bdev->internal.claim_module, NULL, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
}

/*
 * Channels
 */

static int bdev_channel_create(void *io_device, void *ctx_buf)
{
	struct spio_bdev *bdev = io_device;
	struct spio_bdev_channel *ch = ctx_buf;

	int rc;

	ch->bdev = bdev;
	rc = bdev_channel_copy_ranges(ch);
	if (rc != 0) {
		return rc;
	}
	ch->mgmt_ch = spio_get_io_channel(&g_bdev_mgr);
	if (ch->mgmt_ch == NULL) {
		rc = -errno;
		bdev_channel_free_ranges(ch);
		return rc;
	}
	ch->mgmt = spio_io_channel_get_ctx(ch->mgmt_ch);
	ch->thread = spio_get_thread();
	if (bdev->fn_table->get_io_channel != NULL) {
		ch->module_ch = bdev->fn_table->get_io_channel(bdev->ctxt);
		if (ch->module_ch == NULL) {
			spio_put_io_channel(ch->mgmt_ch);
			bdev_channel_free_ranges(ch);
			return -ENOMEM;
		}
	}
	bdev_histogram_channel_create(ch);
	bdev_qos_channel_create(ch);
	return 0;
}

static void bdev_channel_destroy(void *io_device, void *ctx_buf)
{
	struct spio_bdev *bdev = io_device;
	struct spio_bdev_channel *ch = ctx_buf;

	bdev_qos_channel_destroy(ch); /* fails its queued I/O: counted below */
	bdev_histogram_channel_destroy(ch);
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev_stat_add(&bdev->internal.stat_closed, &ch->stat);
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (ch->io_outstanding != NULL || ch->io_locked != NULL) {
		SPIO_ERRLOG("bdev %s: channel released with I/O in flight", bdev->name);
	}
	if (ch->held_desc != NULL) {
		bdev_desc_put(ch->held_desc);
	}
	bdev_channel_free_ranges(ch);
	if (ch->module_ch != NULL) {
		spio_put_io_channel(ch->module_ch);
	}
	spio_put_io_channel(ch->mgmt_ch);
}

/*
 * Registration
 */

static uint32_t examine_pending(void)
{
	uint32_t n;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	n = g_bdev_mgr.examine_pending;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return n;
}

/*
 * SPDK's two phases: every module's examine_config (configuration only,
 * synchronous), then examine_disk, for the claiming module only if the
 * config phase claimed the bdev. The module list only grows at load time:
 * walking it unlocked is safe.
 */
static void bdev_examine(struct spio_bdev *bdev)
{
	struct spio_bdev_module *m, *claimer;

	for (m = g_bdev_mgr.modules; m != NULL; m = m->next_) {
		uint32_t before;

		if (m->examine_config == NULL) {
			continue;
		}
		before = examine_pending();
		m->examine_config(bdev);
		if (examine_pending() == before) {
			/* Its count would never drop: wait_for_examine would hang. */
			SPIO_ERRLOG("bdev module %s: examine_config of %s returned without "
				    "examine_done; counted as done",
				    m->name, bdev->name);
			spio_bdev_module_examine_done(m);
		}
	}
	claimer = bdev->internal.claim_module;
	for (m = g_bdev_mgr.modules; m != NULL; m = m->next_) {
		if (m->examine_disk == NULL) {
			continue;
		}
		if (claimer != NULL && m != claimer) {
			spio_bdev_module_examine_done(m); /* skipped, as SPDK does */
			continue;
		}
		m->examine_disk(bdev);
	}
}

int spio_bdev_register(struct spio_bdev *bdev)
{
	const struct spio_bdev_fn_table *fn;
	struct spio_bdev **p;
	int rc;

	if (bdev == NULL || bdev->name == NULL || bdev->name[0] == '\0' || bdev->module == NULL ||
	    bdev->fn_table == NULL || bdev->blocklen == 0 || bdev->blockcnt == 0) {
		return -EINVAL;
	}
	fn = bdev->fn_table;
	if (fn->destruct == NULL || fn->submit_request == NULL || fn->io_type_supported == NULL) {
		return -EINVAL;
	}
	if (bdev->required_alignment > 1 && !spio_is_pow2(bdev->required_alignment)) {
		return -EINVAL;
	}
	if (!g_bdev_mgr.initialized || g_bdev_mgr.finishing ||
	    module_ctx_size(bdev->module) > g_bdev_mgr.max_ctx_size) {
		return -EINVAL;
	}
	if (spio_uuid_is_null(&bdev->uuid)) {
		spio_uuid_generate(&bdev->uuid);
	}
	memset(&bdev->internal, 0, sizeof(bdev->internal));

	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (p = &g_bdev_mgr.bdevs; *p != NULL; p = &(*p)->internal.next) {
		if (*p == bdev || bdev_has_name(*p, bdev->name) ||
		    spio_uuid_compare(&(*p)->uuid, &bdev->uuid) == 0) {
			pthread_mutex_unlock(&g_bdev_mgr.lock);
			SPIO_ERRLOG("bdev %s: name or uuid already registered", bdev->name);
			return -EEXIST;
		}
	}
	rc = spio_io_device_register(bdev, bdev_channel_create, bdev_channel_destroy,
				     sizeof(struct spio_bdev_channel), bdev->name);
	if (rc != 0) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		return rc;
	}
	bdev->internal.status = SPIO_BDEV_STATUS_READY;
	*p = bdev;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	SPIO_INFOLOG("bdev %s registered (%" PRIu64 " blocks of %u bytes)", bdev->name,
		     bdev->blockcnt, bdev->blocklen);
	if (bdev_examine_allowed(bdev)) {
		bdev_examine_registered(bdev);
	}
	return 0;
}

void bdev_examine_registered(struct spio_bdev *bdev)
{
	SPIO_DEBUGLOG(bdev, "bdev %s: examine by every module", bdev->name);
	/* Counted first, so that wait_for_examine cannot slip in between phases. */
	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (struct spio_bdev_module *m = g_bdev_mgr.modules; m != NULL; m = m->next_) {
		g_bdev_mgr.examine_pending +=
		    (m->examine_config != NULL) + (m->examine_disk != NULL);
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	bdev_examine(bdev);
}

static void examine_waiter_run(void *arg)
{
	struct examine_waiter *w = arg;

	w->cb(w->cb_arg);
	free(w);
}

void spio_bdev_module_examine_done(struct spio_bdev_module *module)
{
	struct examine_waiter *waiters = NULL, *w;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (g_bdev_mgr.examine_pending == 0) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		SPIO_ERRLOG("module %s: examine_done without a pending examine",
			    module != NULL ? module->name : "(null)");
		return;
	}
	if (--g_bdev_mgr.examine_pending == 0) {
		waiters = g_bdev_mgr.examine_waiters;
		g_bdev_mgr.examine_waiters = NULL;
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	while ((w = waiters) != NULL) {
		waiters = w->next;
		if (spio_thread_send_msg_embedded(w->thread, &w->msg, examine_waiter_run, w) != 0) {
			SPIO_ERRLOG("wait_for_examine: the waiting thread has exited");
			free(w);
		}
	}
}

int spio_bdev_wait_for_examine(spio_bdev_wait_for_examine_cb cb, void *cb_arg)
{
	struct spio_thread *thread = spio_get_thread();
	struct examine_waiter *w;
	int rc = 0;

	if (cb == NULL || thread == NULL) {
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return -ENOMEM;
	}
	*w = (struct examine_waiter){.cb = cb, .cb_arg = cb_arg, .thread = thread};
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (g_bdev_mgr.examine_pending != 0) {
		w->next = g_bdev_mgr.examine_waiters;
		g_bdev_mgr.examine_waiters = w;
		w = NULL;
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (w != NULL) {
		/* Nothing pending: answer by message, never before returning. */
		rc = spio_thread_send_msg_embedded(thread, &w->msg, examine_waiter_run, w);
		if (rc != 0) {
			free(w);
		}
	}
	return rc;
}

int spio_bdev_alias_add(struct spio_bdev *bdev, const char *alias)
{
	struct spio_bdev_alias *a;

	if (bdev == NULL || alias == NULL || alias[0] == '\0') {
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->name = strdup(alias)) == NULL) {
		free(a);
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bdev_lookup_locked(alias) != NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(a->name);
		free(a);
		return -EEXIST;
	}
	a->next = bdev->internal.aliases;
	bdev->internal.aliases = a;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return 0;
}

int spio_bdev_alias_del(struct spio_bdev *bdev, const char *alias)
{
	struct spio_bdev_alias **p, *a;

	if (bdev == NULL || alias == NULL) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (p = &bdev->internal.aliases; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->name, alias) == 0) {
			a = *p;
			*p = a->next;
			pthread_mutex_unlock(&g_bdev_mgr.lock);
			free(a->name);
			free(a);
			return 0;
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return -ENOENT;
}

/*
 * Unregistration
 */

static void bdev_io_device_unregistered(void *io_device)
{
	struct spio_bdev *bdev = io_device;
	spio_bdev_unregister_cb cb = bdev->internal.unregister_cb;
	void *cb_arg = bdev->internal.unregister_cb_arg;
	struct spio_bdev **p;
	struct spio_bdev_alias *a;
	int rc;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (p = &g_bdev_mgr.bdevs; *p != NULL; p = &(*p)->internal.next) {
		if (*p == bdev) {
			*p = bdev->internal.next;
			break;
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	while ((a = bdev->internal.aliases) != NULL) {
		bdev->internal.aliases = a->next;
		free(a->name);
		free(a);
	}
	bdev->internal.status = SPIO_BDEV_STATUS_INVALID;
	bdev_qos_bdev_gone(bdev);
	bdev_histogram_bdev_gone(bdev);
	/* locks left behind by descriptors that were closed without unlocking */
	for (int i = 0; i < 2; i++) {
		struct spio_bdev_lba_lock **head =
		    i == 0 ? &bdev->internal.locked : &bdev->internal.lock_waiters;

		while (*head != NULL) {
			struct spio_bdev_lba_lock *l = *head;

			*head = l->next;
			free(l);
		}
	}

	rc = bdev->fn_table->destruct(bdev->ctxt);
	if (rc < 0) {
		SPIO_ERRLOG("bdev destruct failed: %s", strerror(-rc));
	}
	if (cb != NULL) {
		cb(cb_arg, 0);
	}
}

/* On the unregistering thread, once the last descriptor is closed. */
static void bdev_unregister_finish(void *arg)
{
	struct spio_bdev *bdev = arg;
	int rc;

	rc = spio_io_device_unregister(bdev, bdev_io_device_unregistered);
	if (rc != 0) {
		SPIO_ERRLOG("bdev %s: io_device unregister failed: %s", bdev->name, strerror(-rc));
	}
}

static void bdev_desc_remove_event(void *arg)
{
	struct spio_bdev_desc *desc = arg;

	if (!desc->closed) {
		desc->event_cb(SPIO_BDEV_EVENT_REMOVE, desc->bdev, desc->event_ctx);
	}
	bdev_desc_put(desc);
}

static void bdev_desc_resize_event(void *arg)
{
	struct spio_bdev_desc *desc = arg;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	desc->resize_queued = false;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	if (!desc->closed) {
		desc->event_cb(SPIO_BDEV_EVENT_RESIZE, desc->bdev, desc->event_ctx);
	}
	bdev_desc_put(desc);
}

int spio_bdev_notify_blockcnt_change(struct spio_bdev *bdev, uint64_t blockcnt)
{
	struct spio_bdev_desc *desc;

	if (bdev == NULL || blockcnt == 0) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	if (bdev->internal.status != SPIO_BDEV_STATUS_READY ||
	    (bdev->internal.descs != NULL && blockcnt < bdev->blockcnt)) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		return -EBUSY;
	}
	/* Readers on other threads validate I/O against it: store atomically. */
	__atomic_store_n(&bdev->blockcnt, blockcnt, __ATOMIC_RELEASE);
	for (desc = bdev->internal.descs; desc != NULL; desc = desc->next) {
		if (desc->resize_queued) {
			continue;
		}
		__atomic_add_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
		desc->resize_queued = true;
		if (spio_thread_send_msg_embedded(desc->thread, &desc->resize_msg,
						  bdev_desc_resize_event, desc) != 0) {
			SPIO_ERRLOG("bdev %s: a descriptor's thread has exited; resize not "
				    "reported to it",
				    bdev->name);
			desc->resize_queued = false;
			__atomic_sub_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
		}
	}
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	return 0;
}

int spio_bdev_unregister(struct spio_bdev *bdev, spio_bdev_unregister_cb cb, void *cb_arg)
{
	struct spio_thread *thread = spio_get_thread();
	struct spio_bdev_desc *desc;
	struct spio_bdev *b;
	bool last;

	if (bdev == NULL || thread == NULL) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (b = g_bdev_mgr.bdevs; b != NULL && b != bdev; b = b->internal.next) {
	}
	if (b == NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		return -ENODEV;
	}
	if (bdev->internal.status != SPIO_BDEV_STATUS_READY) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		return -EBUSY;
	}
	bdev->internal.status = SPIO_BDEV_STATUS_REMOVING;
	bdev->internal.unregister_thread = thread;
	bdev->internal.unregister_cb = cb;
	bdev->internal.unregister_cb_arg = cb_arg;
	for (desc = bdev->internal.descs; desc != NULL; desc = desc->next) {
		__atomic_add_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
		if (spio_thread_send_msg_embedded(desc->thread, &desc->remove_msg,
						  bdev_desc_remove_event, desc) != 0) {
			SPIO_ERRLOG("bdev %s: a descriptor's thread has exited; removal not "
				    "reported to it",
				    bdev->name);
			__atomic_sub_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
		}
	}
	last = bdev->internal.descs == NULL;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	bdev_qos_bdev_removing(bdev);

	if (last) {
		/* by message: the callback must not run before we return */
		spio_thread_send_msg_embedded(thread, &bdev->internal.unregister_msg,
					      bdev_unregister_finish, bdev);
	}
	return 0;
}

int spio_bdev_unregister_by_name(const char *name, struct spio_bdev_module *module,
				 spio_bdev_unregister_cb cb, void *cb_arg)
{
	struct spio_bdev *bdev;

	if (name == NULL || module == NULL) {
		return -EINVAL;
	}
	bdev = spio_bdev_get_by_name(name);
	if (bdev == NULL || bdev->module != module) {
		return -ENODEV;
	}
	return spio_bdev_unregister(bdev, cb, cb_arg);
}

/*
 * Descriptors
 */

void bdev_desc_put(struct spio_bdev_desc *desc)
{
	if (__atomic_sub_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(desc);
	}
}

/* The channel has no I/O of the descriptor it held in flight: it may let
 * go of that one (possibly its last reference) and hold the new one. */
void bdev_channel_hold_desc(struct spio_bdev_channel *ch, struct spio_bdev_desc *desc)
{
	__atomic_add_fetch(&desc->refs, 1, __ATOMIC_ACQ_REL);
	if (ch->held_desc != NULL) {
		bdev_desc_put(ch->held_desc);
	}
	ch->held_desc = desc;
}

int spio_bdev_open_ext(const char *name, bool write, spio_bdev_event_cb event_cb, void *event_ctx,
		       struct spio_bdev_desc **desc_out)
{
	struct spio_thread *thread = spio_get_thread();
	struct spio_bdev_desc *desc;
	struct spio_bdev *bdev;

	if (name == NULL || event_cb == NULL || desc_out == NULL || thread == NULL ||
	    !g_bdev_mgr.initialized) {
		return -EINVAL;
	}
	desc = calloc(1, sizeof(*desc));
	if (desc == NULL) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&g_bdev_mgr.lock);
	bdev = bdev_lookup_locked(name);
	if (bdev == NULL || bdev->internal.status != SPIO_BDEV_STATUS_READY) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(desc);
		return -ENODEV;
	}
	if (write && bdev->internal.claim_module != NULL) {
		pthread_mutex_unlock(&g_bdev_mgr.lock);
		free(desc);
		return -EPERM;
	}
	desc->bdev = bdev;
	desc->thread = thread;
	desc->event_cb = event_cb;
	desc->event_ctx = event_ctx;
	desc->write = write;
	desc->refs = 1;
	desc->next = bdev->internal.descs;
	bdev->internal.descs = desc;
	bdev->internal.ndescs++;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	*desc_out = desc;
	return 0;
}

void spio_bdev_close(struct spio_bdev_desc *desc)
{
	struct spio_bdev *bdev;
	struct spio_bdev_desc **p;
	bool finish = false;

	if (desc == NULL || desc->closed) {
		return;
	}
	if (desc->thread != spio_get_thread()) {
		/* Its event callbacks are bound to the opener's thread: refuse. */
		SPIO_ERRLOG("bdev %s: descriptor closed on a thread that did not open it; ignored",
			    desc->bdev->name);
		return;
	}
	bdev = desc->bdev;
	pthread_mutex_lock(&g_bdev_mgr.lock);
	for (p = &bdev->internal.descs; *p != NULL; p = &(*p)->next) {
		if (*p == desc) {
			*p = desc->next;
			bdev->internal.ndescs--;
			break;
		}
	}
	desc->closed = true;
	finish = bdev->internal.status == SPIO_BDEV_STATUS_REMOVING && bdev->internal.descs == NULL;
	pthread_mutex_unlock(&g_bdev_mgr.lock);

	if (finish) {
		/* The unregistering thread waits for this: if it has exited
		 * there is no one left to finish for. */
		if (spio_thread_send_msg_embedded(bdev->internal.unregister_thread,
						  &bdev->internal.unregister_msg,
						  bdev_unregister_finish, bdev) != 0) {
			SPIO_ERRLOG("bdev %s: the unregistering thread has exited", bdev->name);
		}
	}
	/* I/O of the opener's thread still in flight drop the open reference last */
	if (desc->local_ios == 0) {
		bdev_desc_put(desc);
	}
}

struct spio_bdev *spio_bdev_desc_get_bdev(struct spio_bdev_desc *desc)
{
	return desc != NULL ? desc->bdev : NULL;
}

struct spio_io_channel *spio_bdev_get_io_channel(struct spio_bdev_desc *desc)
{
	if (desc == NULL || desc->closed) {
		errno = EINVAL;
		return NULL;
	}
	return spio_get_io_channel(desc->bdev);
}
