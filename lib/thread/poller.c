/*
 * Pollers: active ones in a list run every poll; timed ones in a binary
 * min-heap on their next deadline, so a poll with nothing due costs one
 * comparison whatever the number of timed pollers.
 *
 * Unregister and pause only mark a poller while a poll may be walking the
 * active list; the walk itself then frees or moves it, so a callback may
 * unregister or pause itself or any other poller safely.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/env.h"
#include "spio/log.h"
#include "spio/util.h"
#include "thread_internal.h"

#define HEAP_NONE UINT32_MAX

/* --- timer heap ----------------------------------------------------------- */

static bool heap_less(const struct spio_poller *a, const struct spio_poller *b)
{
	return a->next_run < b->next_run;
}

static void heap_set(struct spio_thread *t, uint32_t i, struct spio_poller *p)
{
	t->timers[i] = p;
	p->heap_index = i;
}

static void heap_sift_up(struct spio_thread *t, uint32_t i)
{
	struct spio_poller *p = t->timers[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!heap_less(p, t->timers[parent])) {
			break;
		}
		heap_set(t, i, t->timers[parent]);
		i = parent;
	}
	heap_set(t, i, p);
}

static void heap_sift_down(struct spio_thread *t, uint32_t i)
{
	struct spio_poller *p = t->timers[i];

	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		struct spio_poller *best = p;
		if (l < t->timer_count && heap_less(t->timers[l], best)) {
			m = l;
			best = t->timers[l];
		}
		if (r < t->timer_count && heap_less(t->timers[r], best)) {
			m = r;
		}
		if (m == i) {
			break;
		}
		heap_set(t, i, t->timers[m]);
		i = m;
	}
	heap_set(t, i, p);
}

static int heap_insert(struct spio_thread *t, struct spio_poller *p)
{
	if (t->timer_count == t->timer_cap) {
		uint32_t cap = t->timer_cap ? t->timer_cap * 2 : 16;
		struct spio_poller **n = realloc(t->timers, cap * sizeof(*n));
		if (n == NULL) {
			return -ENOMEM;
		}
		t->timers = n;
		t->timer_cap = cap;
	}
	heap_set(t, t->timer_count++, p);
	heap_sift_up(t, p->heap_index);
	return 0;
}

static void heap_remove(struct spio_thread *t, struct spio_poller *p)
{
	uint32_t i = p->heap_index;

	if (i == HEAP_NONE) {
		return;
	}
	p->heap_index = HEAP_NONE;
	t->timer_count--;
	if (i == t->timer_count) {
		return;
	}
	heap_set(t, i, t->timers[t->timer_count]);
	heap_sift_down(t, i);
	heap_sift_up(t, t->timers[i]->heap_index);
}

/* --- registration ----------------------------------------------------------- */

static void poller_clear_intr_fd(struct spio_poller *p)
{
	if (p->intr_fd >= 0) {
		interrupt_del_fd(p->thread, p->intr_fd);
		p->intr_fd = -1;
		p->thread->intr_fd_count--;
	}
}

struct spio_poller *spio_poller_register_named(spio_poller_fn fn, void *arg, uint64_t period_us,
					       const char *name)
{
	struct spio_thread *t = spio_get_thread();
	struct spio_poller *p;

	if (t == NULL || fn == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (!spio_thread_is_running(t)) {
		SPIO_ERRLOG("thread %s: poller registered while the thread exits\n", t->name);
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	p->thread = t;
	p->fn = fn;
	p->arg = arg;
	p->intr_fd = -1;
	p->heap_index = HEAP_NONE;
	p->state = POLLER_RUNNING;
	p->id = ++t->last_poller_id;
	p->period_ticks = period_us ? SPIO_MAX(spio_us_to_ticks(period_us), 1) : 0;
	if (name) {
		snprintf(p->name, sizeof(p->name), "%s", name);
	} else {
		snprintf(p->name, sizeof(p->name), "%p", (void *)fn);
	}

	if (p->period_ticks) {
		p->next_run = spio_get_ticks() + p->period_ticks;
		if (heap_insert(t, p) != 0) {
			free(p);
			errno = ENOMEM;
			return NULL;
		}
	} else {
		TAILQ_INSERT_TAIL(&t->active_pollers, p, link);
	}
	t->poller_count++;
	return p;
}

struct spio_poller *spio_poller_register(spio_poller_fn fn, void *arg, uint64_t period_us)
{
	return spio_poller_register_named(fn, arg, period_us, NULL);
}

void spio_poller_unregister(struct spio_poller **pp)
{
	struct spio_poller *p;

	if (pp == NULL || (p = *pp) == NULL) {
		return;
	}
	*pp = NULL;
	if (p->thread != spio_get_thread()) {
		SPIO_ERRLOG("poller %s unregistered from a thread that does not own it\n", p->name);
	}
	struct spio_thread *t = p->thread;
	if (p->state == POLLER_UNREGISTERED) {
		return;
	}
	/* Now, not at the deferred free: the owner may close the fd next. */
	poller_clear_intr_fd(p);
	t->poller_count--;
	if (p->state == POLLER_PAUSED) {
		TAILQ_REMOVE(&t->paused_pollers, p, link);
		free(p);
		return;
	}
	if (p->period_ticks && t->running_poller != p) {
		/* Not in any list walk: a timed poller leaves the heap now. */
		heap_remove(t, p);
		free(p);
		return;
	}
	/* Active (maybe mid-walk) or running now: the walk frees it. */
	p->state = POLLER_UNREGISTERED;
}

int spio_poller_set_interrupt_fd(struct spio_poller *p, int fd)
{
	int rc;

	if (p == NULL || fd < -1 || p->state == POLLER_UNREGISTERED ||
	    p->thread != spio_get_thread()) {
		return -EINVAL;
	}
	poller_clear_intr_fd(p);
	if (fd < 0) {
		return 0;
	}
	rc = interrupt_add_fd(p->thread, fd);
	if (rc != 0) {
		return rc;
	}
	p->intr_fd = fd;
	p->thread->intr_fd_count++;
	return 0;
}

static int add_list_fds(struct spio_thread *t, struct poller_list *list)
{
	struct spio_poller *p;
	int rc;

	TAILQ_FOREACH (p, list, link) {
		if (p->intr_fd >= 0 && (rc = interrupt_add_fd(t, p->intr_fd)) != 0) {
			return rc;
		}
	}
	return 0;
}

int poller_add_intr_fds(struct spio_thread *t)
{
	int rc;

	if (t->intr_fd_count == 0) {
		return 0;
	}
	if ((rc = add_list_fds(t, &t->active_pollers)) != 0 ||
	    (rc = add_list_fds(t, &t->paused_pollers)) != 0) {
		return rc;
	}
	for (uint32_t i = 0; i < t->timer_count; i++) {
		struct spio_poller *p = t->timers[i];

		if (p->intr_fd >= 0 && (rc = interrupt_add_fd(t, p->intr_fd)) != 0) {
			return rc;
		}
	}
	return 0;
}

void spio_poller_pause(struct spio_poller *p)
{
	if (p == NULL || p->state != POLLER_RUNNING) {
		return;
	}
	struct spio_thread *t = p->thread;
	if (p->period_ticks && t->running_poller != p) {
		heap_remove(t, p);
		TAILQ_INSERT_TAIL(&t->paused_pollers, p, link);
		p->state = POLLER_PAUSED;
		return;
	}
	p->state = POLLER_PAUSING;
}

void spio_poller_resume(struct spio_poller *p)
{
	if (p == NULL) {
		return;
	}
	struct spio_thread *t = p->thread;
	if (p->state == POLLER_PAUSING) {
		p->state = POLLER_RUNNING; /* never left its place */
		return;
	}
	if (p->state != POLLER_PAUSED) {
		return;
	}
	TAILQ_REMOVE(&t->paused_pollers, p, link);
	p->state = POLLER_RUNNING;
	if (p->period_ticks) {
		p->next_run = spio_get_ticks() + p->period_ticks;
		if (heap_insert(t, p) != 0) {
			/* Keep it paused rather than lose it. */
			TAILQ_INSERT_TAIL(&t->paused_pollers, p, link);
			p->state = POLLER_PAUSED;
			SPIO_ERRLOG("poller %s: out of memory on resume; still paused\n", p->name);
		}
	} else {
		TAILQ_INSERT_TAIL(&t->active_pollers, p, link);
	}
}

const char *spio_poller_get_name(const struct spio_poller *p)
{
	return p ? p->name : NULL;
}

uint64_t spio_poller_get_id(const struct spio_poller *p)
{
	return p ? p->id : 0;
}

/* --- running ---------------------------------------------------------------- */

static inline int run_poller(struct spio_thread *t, struct spio_poller *p)
{
	int rc;

	t->running_poller = p;
	rc = p->fn(p->arg);
	t->running_poller = NULL;
	p->run_count++;
	if (rc > 0) {
		p->busy_count++;
		return SPIO_POLLER_BUSY;
	}
	return SPIO_POLLER_IDLE;
}

int poller_run_active(struct spio_thread *t)
{
	struct spio_poller *p, *next;
	int rc = SPIO_POLLER_IDLE;

	/* `next` stays valid: callbacks only mark pollers, this walk frees them. */
	for (p = TAILQ_FIRST(&t->active_pollers); p; p = next) {
		if (p->state == POLLER_RUNNING) {
			rc |= run_poller(t, p);
		}
		next = TAILQ_NEXT(p, link);
		if (p->state == POLLER_UNREGISTERED) {
			TAILQ_REMOVE(&t->active_pollers, p, link);
			free(p);
		} else if (p->state == POLLER_PAUSING) {
			TAILQ_REMOVE(&t->active_pollers, p, link);
			TAILQ_INSERT_TAIL(&t->paused_pollers, p, link);
			p->state = POLLER_PAUSED;
		}
	}
	return rc;
}

int poller_run_timed(struct spio_thread *t, uint64_t now)
{
	int rc = SPIO_POLLER_IDLE;

	while (t->timer_count && t->timers[0]->next_run <= now) {
		struct spio_poller *p = t->timers[0];

		rc |= run_poller(t, p);
		if (p->state == POLLER_UNREGISTERED) {
			heap_remove(t, p);
			free(p);
		} else if (p->state == POLLER_PAUSING) {
			heap_remove(t, p);
			TAILQ_INSERT_TAIL(&t->paused_pollers, p, link);
			p->state = POLLER_PAUSED;
		} else {
			/* From `now`, not from the old deadline: a late thread does not
			 * run a burst of catch-up calls. */
			p->next_run = now + p->period_ticks;
			heap_sift_down(t, p->heap_index);
		}
	}
	return rc;
}

bool spio_thread_has_active_pollers(struct spio_thread *t)
{
	struct spio_poller *p;

	if (t == NULL) {
		return false;
	}
	TAILQ_FOREACH (p, &t->active_pollers, link) {
		if (p->state == POLLER_RUNNING) {
			return true;
		}
	}
	return false;
}

bool spio_thread_has_active_pollers_without_interrupt(struct spio_thread *t)
{
	struct spio_poller *p;

	if (t == NULL) {
		return false;
	}
	TAILQ_FOREACH (p, &t->active_pollers, link) {
		if (p->state == POLLER_RUNNING && p->intr_fd < 0) {
			return true;
		}
	}
	return false;
}

int spio_thread_get_poller_counts(struct spio_thread *t, struct spio_thread_poller_counts *c)
{
	struct spio_poller *p;

	if (t == NULL || c == NULL) {
		return -EINVAL;
	}
	*c = (struct spio_thread_poller_counts){0};
	/* Pollers marked PAUSING still sit in the running lists until the walk
	 * moves them; count them as paused already. */
	TAILQ_FOREACH (p, &t->active_pollers, link) {
		if (p->state == POLLER_RUNNING) {
			c->active++;
		} else if (p->state == POLLER_PAUSING) {
			c->paused++;
		}
	}
	for (uint32_t i = 0; i < t->timer_count; i++) {
		if (t->timers[i]->state == POLLER_RUNNING) {
			c->timed++;
		} else if (t->timers[i]->state == POLLER_PAUSING) {
			c->paused++;
		}
	}
	TAILQ_FOREACH (p, &t->paused_pollers, link) {
		c->paused++;
	}
	return 0;
}

/* --- introspection ----------------------------------------------------------- */

static void visit_poller(struct spio_thread *t, struct spio_poller *p, enum spio_poller_list list,
			 spio_poller_info_fn fn, void *ctx)
{
	struct spio_poller_info info = {
	    .name = p->name,
	    .id = p->id,
	    .run_count = p->run_count,
	    .busy_count = p->busy_count,
	    .period_ticks = p->period_ticks,
	};

	/* SPDK's words: "waiting" is registered and not inside its call. A
	 * poller paused from outside a poll (PAUSING) never runs again until
	 * resumed; it is reported paused, where the counts put it too. */
	if (list == SPIO_POLLER_LIST_PAUSED) {
		info.state = "paused";
	} else {
		info.state = t->running_poller == p ? "running" : "waiting";
	}
	fn(list, &info, ctx);
}

int spio_thread_for_each_poller(struct spio_thread *t, spio_poller_info_fn fn, void *ctx)
{
	struct spio_poller *p;

	if (t == NULL || fn == NULL) {
		return -EINVAL;
	}
	/* UNREGISTERED pollers wait in the lists for the walk to free them: gone
	 * for the user, left out. */
	TAILQ_FOREACH (p, &t->active_pollers, link) {
		if (p->state == POLLER_RUNNING) {
			visit_poller(t, p, SPIO_POLLER_LIST_ACTIVE, fn, ctx);
		}
	}
	for (uint32_t i = 0; i < t->timer_count; i++) {
		if (t->timers[i]->state == POLLER_RUNNING) {
			visit_poller(t, t->timers[i], SPIO_POLLER_LIST_TIMED, fn, ctx);
		}
	}
	TAILQ_FOREACH (p, &t->active_pollers, link) {
		if (p->state == POLLER_PAUSING) {
			visit_poller(t, p, SPIO_POLLER_LIST_PAUSED, fn, ctx);
		}
	}
	for (uint32_t i = 0; i < t->timer_count; i++) {
		if (t->timers[i]->state == POLLER_PAUSING) {
			visit_poller(t, t->timers[i], SPIO_POLLER_LIST_PAUSED, fn, ctx);
		}
	}
	TAILQ_FOREACH (p, &t->paused_pollers, link) {
		visit_poller(t, p, SPIO_POLLER_LIST_PAUSED, fn, ctx);
	}
	return 0;
}

bool spio_thread_has_pollers(struct spio_thread *t)
{
	return t && t->poller_count > 0;
}

uint64_t spio_thread_next_poller_expiration(struct spio_thread *t)
{
	return t && t->timer_count ? t->timers[0]->next_run : 0;
}

void poller_report(struct spio_thread *t)
{
	struct spio_poller *p;

	TAILQ_FOREACH (p, &t->active_pollers, link) {
		if (p->state != POLLER_UNREGISTERED) {
			SPIO_ERRLOG("thread %s: active poller %s still registered\n", t->name,
				    p->name);
		}
	}
	for (uint32_t i = 0; i < t->timer_count; i++) {
		SPIO_ERRLOG("thread %s: timed poller %s still registered\n", t->name,
			    t->timers[i]->name);
	}
	TAILQ_FOREACH (p, &t->paused_pollers, link) {
		SPIO_ERRLOG("thread %s: paused poller %s still registered\n", t->name, p->name);
	}
}

void poller_free_all(struct spio_thread *t)
{
	struct spio_poller *p;

	while ((p = TAILQ_FIRST(&t->active_pollers)) != NULL) {
		TAILQ_REMOVE(&t->active_pollers, p, link);
		free(p);
	}
	while ((p = TAILQ_FIRST(&t->paused_pollers)) != NULL) {
		TAILQ_REMOVE(&t->paused_pollers, p, link);
		free(p);
	}
	for (uint32_t i = 0; i < t->timer_count; i++) {
		free(t->timers[i]);
	}
	t->timer_count = 0;
	t->poller_count = 0;
	t->intr_fd_count = 0;
}
