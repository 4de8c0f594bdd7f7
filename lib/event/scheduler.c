/*
 * Schedulers: the registry, the current scheduler and its period, the
 * "static" scheduler and the "scheduler" subsystem (SPDK's: it sets "static"
 * when nothing chose another, and saves framework_set_scheduler).
 *
 * The current scheduler and the period are set on the app thread and read by
 * the main reactor, the same OS thread while an app runs; relaxed atomics keep
 * other readers (and calls while no app runs) well defined.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "event_internal.h"
#include "spio/env.h"
#include "spio/log.h"
#include "spio/scheduler.h"
#include "spio/util.h"

SPIO_LOG_REGISTER_COMPONENT(scheduler)

static struct spio_scheduler *g_schedulers;
static struct spio_scheduler *g_scheduler;
static uint64_t g_period_us;
static uint64_t g_period_ticks;

static struct spio_scheduler *scheduler_find(const char *name)
{
	for (struct spio_scheduler *s = g_schedulers; s != NULL; s = s->next_) {
		if (strcmp(s->name, name) == 0) {
			return s;
		}
	}
	return NULL;
}

bool scheduler_exists(const char *name)
{
	return name != NULL && scheduler_find(name) != NULL;
}

int spio_scheduler_register(struct spio_scheduler *s)
{
	if (s == NULL || s->name == NULL || s->name[0] == '\0' || s->balance == NULL) {
		return -EINVAL;
	}
	if (scheduler_find(s->name) != NULL) {
		SPIO_ERRLOG("scheduler '%s' is registered already\n", s->name);
		return -EEXIST;
	}
	s->next_ = g_schedulers;
	g_schedulers = s;
	return 0;
}

struct spio_scheduler *spio_scheduler_get(void)
{
	return __atomic_load_n(&g_scheduler, __ATOMIC_ACQUIRE);
}

int spio_scheduler_set(const char *name)
{
	struct spio_scheduler *old = spio_scheduler_get(), *s;
	int rc;

	if (name == NULL) {
		if (old != NULL && old->deinit != NULL) {
			old->deinit();
		}
		__atomic_store_n(&g_scheduler, NULL, __ATOMIC_RELEASE);
		return 0;
	}
	s = scheduler_find(name);
	if (s == NULL) {
		return -ENOENT;
	}
	if (s == old) {
		return 0;
	}
	if (old != NULL && old->deinit != NULL) {
		old->deinit();
	}
	rc = s->init != NULL ? s->init() : 0;
	if (rc != 0) {
		SPIO_ERRLOG("scheduler '%s': init failed (%s)%s%s\n", name, strerror(-rc),
			    old != NULL ? "; keeping " : "", old != NULL ? old->name : "");
		if (old != NULL && old->init != NULL && old->init() != 0) {
			old = NULL;
		}
		__atomic_store_n(&g_scheduler, old, __ATOMIC_RELEASE);
		return rc;
	}
	__atomic_store_n(&g_scheduler, s, __ATOMIC_RELEASE);
	SPIO_DEBUGLOG(scheduler, "scheduler '%s' set\n", name);
	return 0;
}

uint64_t spio_scheduler_get_period(void)
{
	return __atomic_load_n(&g_period_us, __ATOMIC_RELAXED);
}

void spio_scheduler_set_period(uint64_t period_us)
{
	/* At least one tick: 0 means "off". */
	uint64_t ticks = period_us ? SPIO_MAX(spio_us_to_ticks(period_us), (uint64_t)1) : 0;

	__atomic_store_n(&g_period_us, period_us, __ATOMIC_RELAXED);
	__atomic_store_n(&g_period_ticks, ticks, __ATOMIC_RELAXED);
	reactors_sched_period_changed();
}

uint64_t scheduler_period_ticks(void)
{
	return __atomic_load_n(&g_period_ticks, __ATOMIC_RELAXED);
}

bool scheduler_balance(struct spio_scheduler_core_info *cores, uint32_t count)
{
	struct spio_scheduler *s = spio_scheduler_get();

	if (s == NULL) {
		return false;
	}
	s->balance(cores, count);
	return true;
}

/*
 * "static": no moves, no period. Selected again after another scheduler, one
 * immediate round puts every thread back on the core it was first placed on
 * (SPDK's behaviour; SPDK runs that round by setting a 1 us period for it,
 * spio asks the main reactor for one round instead, so the period a later
 * scheduler finds is 0 and it gets the default). The option "mappings"
 * ("id:core,id:core") changes where a thread belongs, now and whenever static
 * is selected again; SPDK keeps it in the thread's initial core, spio in a
 * table here (the thread's context is its reactor's to write).
 */

struct static_mapping {
	uint64_t thread_id;
	uint32_t core;
};

static bool g_static_first_load = true;
static struct static_mapping *g_static_map;
static uint32_t g_static_map_count;

static uint32_t static_mapped_core(uint64_t thread_id, uint32_t otherwise)
{
	for (uint32_t i = 0; i < g_static_map_count; i++) {
		if (g_static_map[i].thread_id == thread_id) {
			return g_static_map[i].core;
		}
	}
	return otherwise;
}

static int static_init(void)
{
	spio_scheduler_set_period(0);
	if (!g_static_first_load) {
		reactors_sched_request_round();
	}
	return 0;
}

static void static_deinit(void)
{
	g_static_first_load = false;
}

static void static_balance(struct spio_scheduler_core_info *cores, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		cores[i].interrupt_mode = false;
		for (uint32_t j = 0; j < cores[i].threads_count; j++) {
			struct spio_scheduler_thread_info *ti = &cores[i].thread_infos[j];

			uint32_t core = static_mapped_core(ti->thread_id, ti->initial_lcore);

			if (core != UINT32_MAX) {
				ti->lcore = core;
			}
		}
	}
}

/* One "id:core" of the mappings; checked against the running threads and reactors. */
static int static_parse_one(const char *tok, const char *all, struct static_mapping *m)
{
	struct spio_cpuset mask;
	unsigned long long id, core;
	char *end;

	errno = 0;
	id = strtoull(tok, &end, 10);
	if (errno != 0 || end == tok || *end != ':' || tok[0] == '-' || id == 0 ||
	    thread_get_cpumask_by_id(id, &mask) != 0) {
		SPIO_ERRLOG("scheduler 'static': invalid thread ID '%s' in mappings '%s'\n", tok,
			    all);
		return -EINVAL;
	}
	tok = end + 1;
	core = strtoull(tok, &end, 10);
	if (errno != 0 || end == tok || *end != '\0' || tok[0] == '-' || core >= UINT32_MAX ||
	    !spio_reactor_is_core((uint32_t)core)) {
		SPIO_ERRLOG("scheduler 'static': invalid core number '%s' in mappings '%s'\n", tok,
			    all);
		return -EINVAL;
	}
	if (!spio_cpuset_get_cpu(&mask, (uint32_t)core)) {
		SPIO_ERRLOG("scheduler 'static': core %llu not in thread %llu cpumask\n", core, id);
		return -EINVAL;
	}
	m->thread_id = id;
	m->core = (uint32_t)core;
	return 0;
}

static int static_set_opts(const struct spio_json_val *params)
{
	const struct spio_json_val *v = spio_json_object_get(params, "mappings");
	struct static_mapping *parsed = NULL, *grown;
	const char *text;
	char *copy, *tok, *save = NULL;
	uint32_t n = 0;
	int rc = 0;

	if (v == NULL) {
		return 0;
	}
	text = spio_json_string(v);
	if (text == NULL || (copy = strdup(text)) == NULL) {
		return text == NULL ? -EINVAL : -ENOMEM;
	}
	/* All or nothing: parse and check every pair before any takes effect. */
	for (tok = strtok_r(copy, ",", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		grown = realloc(parsed, (n + 1) * sizeof(*parsed));
		if (grown == NULL) {
			rc = -ENOMEM;
			break;
		}
		parsed = grown;
		rc = static_parse_one(tok, text, &parsed[n]);
		n += rc == 0;
	}
	free(copy);
	if (rc == 0 && n == 0) {
		SPIO_ERRLOG("scheduler 'static': empty mappings\n");
		rc = -EINVAL;
	}
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		uint32_t j;

		for (j = 0; j < g_static_map_count; j++) {
			if (g_static_map[j].thread_id == parsed[i].thread_id) {
				break;
			}
		}
		if (j == g_static_map_count) {
			grown = realloc(g_static_map, (j + 1) * sizeof(*grown));
			if (grown == NULL) {
				rc = -ENOMEM;
				break;
			}
			g_static_map = grown;
			g_static_map_count++;
		}
		g_static_map[j] = parsed[i];
	}
	free(parsed);
	if (rc == 0) {
		/* Put the new placements into effect now. */
		reactors_sched_request_round();
	}
	return rc;
}

static struct spio_scheduler g_scheduler_static = {
    .name = "static",
    .init = static_init,
    .deinit = static_deinit,
    .balance = static_balance,
    .set_opts = static_set_opts,
};
SPIO_SCHEDULER_REGISTER(g_scheduler_static)

/*
 * The "scheduler" subsystem.
 */

static void scheduler_subsystem_init(void)
{
	int rc = 0;

	if (spio_scheduler_get() == NULL) {
		rc = spio_scheduler_set("static");
	}
	spio_subsystem_init_next(rc);
}

static void scheduler_subsystem_fini(void)
{
	spio_scheduler_set_period(0);
	spio_scheduler_set(NULL);
	/* The next app in this process starts afresh. */
	g_static_first_load = true;
	free(g_static_map);
	g_static_map = NULL;
	g_static_map_count = 0;
	spio_subsystem_fini_next();
}

/*
 * SPDK writes the name and a non-zero period; the dynamic scheduler's options
 * are written too, so that a saved configuration restores them.
 */
static void scheduler_write_config_json(struct spio_json_write_ctx *w)
{
	struct spio_scheduler *s = spio_scheduler_get();
	uint64_t period = spio_scheduler_get_period();

	spio_json_write_array_begin(w);
	if (s != NULL) {
		spio_json_write_object_begin(w);
		spio_json_write_named_string(w, "method", "framework_set_scheduler");
		spio_json_write_named_object_begin(w, "params");
		spio_json_write_named_string(w, "name", s->name);
		if (period != 0) {
			spio_json_write_named_uint64(w, "period", period);
		}
		if (s->get_opts != NULL) {
			s->get_opts(w);
		}
		spio_json_write_object_end(w);
		spio_json_write_object_end(w);
	}
	spio_json_write_array_end(w);
}

static struct spio_subsystem g_scheduler_subsystem = {
    .name = "scheduler",
    .init = scheduler_subsystem_init,
    .fini = scheduler_subsystem_fini,
    .write_config_json = scheduler_write_config_json,
};
SPIO_SUBSYSTEM_REGISTER(g_scheduler_subsystem)
