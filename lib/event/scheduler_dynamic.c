/*
 * The "dynamic" scheduler: SPDK's policy, written from its description and
 * its rules (module/scheduler/dynamic in SPDK):
 *   - a thread is active when its busy share of the last period reaches
 *     load_limit %; otherwise it is idle;
 *   - pass 1: every idle thread moves to the main core;
 *   - pass 2: every active thread looks, over the cores of its cpumask in
 *     ascending order, for one that can take its busy ticks without going
 *     over core_limit %: the main core first, else a lower core than its own
 *     (consolidation), else any core when its own core is at the limit; a
 *     thread on a core at the limit with no such core goes to the least
 *     busy core;
 *   - moving a thread moves its busy ticks between the cores' estimates; a
 *     core that was at core_busy % or more is not estimated below core_limit
 *     after losing a thread (its other threads will likely take the time);
 *   - cores left without threads may sleep (interrupt_mode).
 * No frequency governor: spio does not change core frequencies.
 */
#include <errno.h>
#include <stdlib.h>

#include "event_internal.h"
#include "spio/json_val.h"
#include "spio/log.h"
#include "spio/scheduler.h"
#include "spio/util.h"

static struct scheduler_dynamic_opts g_opts = {
    .load_limit = SCHED_DYNAMIC_LOAD_LIMIT,
    .core_limit = SCHED_DYNAMIC_CORE_LIMIT,
    .core_busy = SCHED_DYNAMIC_CORE_BUSY,
};

struct core_est {
	uint64_t busy;
	uint64_t idle;
	uint32_t thread_count;
};

struct policy {
	struct spio_scheduler_core_info *cores;
	uint32_t count;
	const struct scheduler_dynamic_opts *opts;
	uint32_t main_idx; /* UINT32_MAX if the main core is not among `cores` */
	struct core_est *est;
};

static uint32_t busy_pct(uint64_t busy, uint64_t idle)
{
	/* In 128 bits: busy * 100 must not wrap for long periods of fast clocks. */
	unsigned __int128 total = (unsigned __int128)busy + idle;

	return total == 0 ? 0 : (uint32_t)((unsigned __int128)busy * 100 / total);
}

static uint32_t thread_load(const struct spio_scheduler_thread_info *ti)
{
	return busy_pct(ti->current_stats.busy_tsc, ti->current_stats.idle_tsc);
}

static uint32_t core_index(const struct policy *p, uint32_t lcore)
{
	for (uint32_t i = 0; i < p->count; i++) {
		if (p->cores[i].lcore == lcore) {
			return i;
		}
	}
	return UINT32_MAX;
}

static void move_thread(struct policy *p, struct spio_scheduler_thread_info *ti, uint32_t dst_idx)
{
	uint32_t src_idx = core_index(p, ti->lcore);
	struct core_est *src, *dst = &p->est[dst_idx];
	uint64_t busy = ti->current_stats.busy_tsc;
	uint32_t src_pct;

	if (src_idx == UINT32_MAX || src_idx == dst_idx) {
		return;
	}
	src = &p->est[src_idx];
	src_pct = busy_pct(src->busy, src->idle);

	dst->busy += SPIO_MIN(UINT64_MAX - dst->busy, busy);
	dst->idle -= SPIO_MIN(dst->idle, busy);
	dst->thread_count++;

	src->busy -= SPIO_MIN(src->busy, busy);
	src->idle += SPIO_MIN(UINT64_MAX - src->idle, busy);
	if (src_pct >= p->opts->core_busy && busy_pct(src->busy, src->idle) < p->opts->core_limit) {
		/* An overloaded core's other threads will use the freed time: do not
		 * let other cores see room here during this round. */
		uint64_t total = src->busy + src->idle;

		src->busy = (uint64_t)((unsigned __int128)total * p->opts->core_limit / 100);
		src->idle = total - src->busy;
	}
	if (src->thread_count > 0) {
		src->thread_count--;
	}
	ti->lcore = p->cores[dst_idx].lcore;
}

static bool core_at_limit(const struct policy *p, uint32_t idx)
{
	const struct core_est *c = &p->est[idx];

	/* A core with one thread (or none) cannot do better by giving it away. */
	if (c->thread_count <= 1 || c->busy == 0) {
		return false;
	}
	return busy_pct(c->busy, c->idle) >= p->opts->core_limit;
}

static bool core_fits(const struct policy *p, const struct spio_scheduler_thread_info *ti,
		      uint32_t idx)
{
	const struct core_est *c = &p->est[idx];
	uint64_t busy = ti->current_stats.busy_tsc;

	if (p->cores[idx].lcore == ti->lcore) {
		return true;
	}
	/* No ticks counted (nothing ran there) or no threads: room. */
	if (c->busy + c->idle == 0 || c->thread_count == 0) {
		return true;
	}
	if (c->idle < busy) {
		return false;
	}
	return busy_pct(c->busy + busy, c->idle - busy) < p->opts->core_limit;
}

static uint32_t find_core(const struct policy *p, const struct spio_scheduler_thread_info *ti)
{
	uint32_t cur = core_index(p, ti->lcore), least = cur;
	bool at_limit;

	if (cur == UINT32_MAX) {
		return UINT32_MAX;
	}
	at_limit = core_at_limit(p, cur);
	for (uint32_t i = 0; i < p->count; i++) {
		if (!spio_cpuset_get_cpu(&ti->cpumask, p->cores[i].lcore) || p->cores[i].isolated) {
			continue;
		}
		if (p->est[i].busy < p->est[least].busy) {
			least = i;
		}
		if (i == cur || !core_fits(p, ti, i)) {
			continue;
		}
		if (i == p->main_idx) {
			return i; /* consolidate on the main core first */
		}
		if (i < cur && cur != p->main_idx) {
			return i; /* then on the lowest cores */
		}
		if (at_limit) {
			return i; /* any core is better than one at the limit */
		}
	}
	return at_limit ? least : cur;
}

typedef void (*thread_pass_fn)(struct policy *p, struct spio_scheduler_thread_info *ti);

static void for_each_thread(struct policy *p, thread_pass_fn fn)
{
	for (uint32_t i = 0; i < p->count; i++) {
		if (p->cores[i].isolated) {
			continue;
		}
		for (uint32_t j = 0; j < p->cores[i].threads_count; j++) {
			fn(p, &p->cores[i].thread_infos[j]);
		}
	}
}

static void pass_idle(struct policy *p, struct spio_scheduler_thread_info *ti)
{
	if (thread_load(ti) < p->opts->load_limit && p->main_idx != UINT32_MAX) {
		move_thread(p, ti, p->main_idx);
	}
}

static void pass_active(struct policy *p, struct spio_scheduler_thread_info *ti)
{
	uint32_t dst;

	if (thread_load(ti) < p->opts->load_limit) {
		return;
	}
	dst = find_core(p, ti);
	if (dst != UINT32_MAX) {
		move_thread(p, ti, dst);
	}
}

int scheduler_dynamic_policy(struct spio_scheduler_core_info *cores, uint32_t count,
			     const struct scheduler_dynamic_opts *opts, uint32_t main_core)
{
	struct policy p = {.cores = cores, .count = count, .opts = opts};

	if (count == 0) {
		return 0;
	}
	p.est = calloc(count, sizeof(*p.est));
	if (p.est == NULL) {
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++) {
		p.est[i].busy = cores[i].current_busy_tsc;
		p.est[i].idle = cores[i].current_idle_tsc;
		p.est[i].thread_count = cores[i].threads_count;
	}
	p.main_idx = core_index(&p, main_core);
	if (p.main_idx != UINT32_MAX && cores[p.main_idx].isolated) {
		p.main_idx = UINT32_MAX;
	}
	/* Two passes, so the active threads are placed against the estimates the
	 * idle ones left. */
	for_each_thread(&p, pass_idle);
	for_each_thread(&p, pass_active);
	for (uint32_t i = 0; i < count; i++) {
		/* Only a core that ends up without threads may sleep regardless. */
		cores[i].interrupt_mode = p.est[i].thread_count == 0;
	}
	free(p.est);
	return 0;
}

static void dynamic_balance(struct spio_scheduler_core_info *cores, uint32_t count)
{
	if (scheduler_dynamic_policy(cores, count, &g_opts, reactors_main_core()) != 0) {
		SPIO_ERRLOG("scheduler 'dynamic': out of memory; no moves this round\n");
	}
}

/* One optional uint8 member of the params (SPDK decodes them as uint8). */
static int get_u8(const struct spio_json_val *params, const char *key, uint8_t *out)
{
	const struct spio_json_val *v = spio_json_object_get(params, key);
	int64_t n;

	if (v == NULL) {
		return 0;
	}
	if (spio_json_integer(v, &n) != 0 || n < 0 || n > UINT8_MAX) {
		SPIO_ERRLOG("scheduler 'dynamic': %s must be an integer 0..255\n", key);
		return -EINVAL;
	}
	*out = (uint8_t)n;
	return 0;
}

static int dynamic_set_opts(const struct spio_json_val *params)
{
	struct scheduler_dynamic_opts o = g_opts;

	if (params != NULL && (get_u8(params, "load_limit", &o.load_limit) != 0 ||
			       get_u8(params, "core_limit", &o.core_limit) != 0 ||
			       get_u8(params, "core_busy", &o.core_busy) != 0)) {
		return -EINVAL;
	}
	if (spio_json_object_get(params, "mappings") != NULL) {
		SPIO_ERRLOG("scheduler 'dynamic': mappings are for the static scheduler\n");
		return -EINVAL;
	}
	g_opts = o;
	SPIO_NOTICELOG("scheduler 'dynamic': load_limit %u, core_limit %u, core_busy %u\n",
		       g_opts.load_limit, g_opts.core_limit, g_opts.core_busy);
	return 0;
}

static void dynamic_get_opts(struct spio_json_write_ctx *w)
{
	spio_json_write_named_uint32(w, "load_limit", g_opts.load_limit);
	spio_json_write_named_uint32(w, "core_limit", g_opts.core_limit);
	spio_json_write_named_uint32(w, "core_busy", g_opts.core_busy);
}

static struct spio_scheduler g_scheduler_dynamic = {
    .name = "dynamic",
    .balance = dynamic_balance,
    .set_opts = dynamic_set_opts,
    .get_opts = dynamic_get_opts,
};
SPIO_SCHEDULER_REGISTER(g_scheduler_dynamic)
