/*
 * Pollers: active ones in a list run every poll. Timed ones are armed in
 * buckets, one per period, each a list in deadline order: a poller that ran
 * is re-armed at now + period and `now` only grows, so it goes back at its
 * bucket's tail, O(1) however many pollers share the period (SPDK's
 * poller_perf: 100 pollers of 1 us all due in every poll). A binary min-heap
 * over the buckets' first deadlines picks the next bucket, so a poll with
 * nothing due costs one comparison.
 *
 * Unregister and pause only mark a poller while a poll may be walking the
 * active list; the walk itself then frees or moves it, so a callback may
 * unregister or pause itself or any other poller safely. A timed poller
 * stays in its bucket while it runs, so the bucket outlives the callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spio/env.h"
#include "spio/log.h"
#include "spio/util.h"
#include "thread_internal.h"

struct timer_bucket {
	struct poller_list pollers; /* next_run ascending; equal ones in arming order */
	uint64_t period_ticks;
	uint64_t next_run;   /* the first poller's, kept here for the heap */
	uint32_t heap_index; /* position in t->timers */
};

/* --- heap of buckets ---------------------------------------------------------- */

static void heap_set(struct spio_thread *t, uint32_t i, struct timer_bucket *b)
{
	t->timers[i] = b;
	b->heap_index = i;
}

static void heap_sift_up(struct spio_thread *t, uint32_t i)
{
	struct timer_bucket *b = t->timers[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (b->next_run >= t->timers[parent]->next_run) {
			break;
		}
		heap_set(t, i, t->timers[parent]);
		i = parent;
	}
	heap_set(t, i, b);
}

static void heap_sift_down(struct spio_thread *t, uint32_t i)
{
	struct timer_bucket *b = t->timers[i];

	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		uint64_t best = b->next_run;
		if (l < t->timer_count && t->timers[l]->next_run < best) {
			m = l;
			best = t->timers[l]->next_run;
		}
		if (r < t->timer_count && t->timers[r]->next_run < best) {
			m = r;
		}
		if (m == i) {
			break;
		}
		heap_set(t, i, t->timers[m]);
		i = m;
	}
	heap_set(t, i, b);
}

/* Room for one more bucket, asked before the bucket is made. */
static int heap_reserve(struct spio_thread *t)
{
	if (t->timer_count == t->timer_cap) {
		uint32_t cap = t->timer_cap ? t->timer_cap * 2 : 8;
		struct timer_bucket **n = realloc(t->timers, cap * sizeof(*n));
		if (n == NULL) {
			return -ENOMEM;
		}
		t->timers = n;
		t->timer_cap = cap;
	}
	return 0;
}

static void heap_remove(struct spio_thread *t, struct timer_bucket *b)
{
	uint32_t i = b->heap_index;

	t->timer_count--;
	if (i == t->timer_count) {
		return;
	}
	heap_set(t, i, t->timers[t->timer_count]);
	heap_sift_down(t, i);
	heap_sift_up(t, t->timers[i]->heap_index);
}

/* --- timer buckets ------------------------------------------------------------ */

/* The first deadline of `b` changed: move it in the heap. */
static inline void bucket_update(struct spio_thread *t, struct timer_bucket *b)
{
	uint64_t old = b->next_run;

	b->next_run = TAILQ_FIRST(&b->pollers)->next_run;
	if (b->next_run > old) {
		heap_sift_down(t, b->heap_index);
	} else if (b->next_run < old) {
		heap_sift_up(t, b->heap_index);
	}
}

/*
 * Put `p` (next_run set) in `b` after every poller due no later: at the tail
 * unless the clock went back (an injected `now` behind spio_get_ticks()).
 */
static inline void bucket_insert(struct timer_bucket *b, struct spio_poller *p)
{
	struct spio_poller *q = TAILQ_LAST(&b->pollers, poller_list);

	while (q != NULL && q->next_run > p->next_run) {
		q = TAILQ_PREV(q, poller_list, link);
	}
	if (q == NULL) {
		TAILQ_INSERT_HEAD(&b->pollers, p, link);
	} else {
		TAILQ_INSERT_AFTER(&b->pollers, q, p, link);
	}
	p->bucket = b;
}

/* Arm `p` (next_run set) in the bucket of its period, made if none. */
static int timer_add(struct spio_thread *t, struct spio_poller *p)
{
	struct timer_bucket *b = NULL;

	/* A linear search: threads use few distinct periods. */
	for (uint32_t i = 0; i < t->timer_count; i++) {
		if (t->timers[i]->period_ticks == p->period_ticks) {
			b = t->timers[i];
			break;
		}
	}
	if (b != NULL) {
		bucket_insert(b, p);
		bucket_update(t, b);
		return 0;
	}
	if (heap_reserve(t) != 0 || (b = malloc(sizeof(*b))) == NULL) {
		return -ENOMEM;
	}
	TAILQ_INIT(&b->pollers);
	b->period_ticks = p->period_ticks;
	bucket_insert(b, p);
	b->next_run = p->next_run;
	heap_set(t, t->timer_count++, b);
	heap_sift_up(t, b->heap_index);
	return 0;
}

/* Disarm `p`; its bucket, once empty, leaves the heap and is freed. */
static void timer_remove(struct spio_thread *t, struct spio_poller *p)
{
	struct timer_bucket *b = p->bucket;

	if (b == NULL) {
		return;
	}
	TAILQ_REMOVE(&b->pollers, p, link);
	p->bucket = NULL;
	if (TAILQ_EMPTY(&b->pollers)) {
		heap_remove(t, b);
		free(b);
	} else {
		bucket_update(t, b);
	}
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
		if (timer_add(t, p) != 0) {
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
		/* Not in any list walk: a timed poller leaves its bucket now. */
		timer_remove(t, p);
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
		if ((rc = add_list_fds(t, &t->timers[i]->pollers)) != 0) {
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
		timer_remove(t, p);
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
		if (timer_add(t, p) != 0) {
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
		struct spio_poller *p = TAILQ_FIRST(&t->timers[0]->pollers);
		struct timer_bucket *b;

		rc |= run_poller(t, p);
		if (spio_unlikely(p->state != POLLER_RUNNING)) {
			timer_remove(t, p);
			if (p->state == POLLER_UNREGISTERED) {
				free(p);
			} else {
				TAILQ_INSERT_TAIL(&t->paused_pollers, p, link);
				p->state = POLLER_PAUSED;
			}
			continue;
		}
		/* The callback may have reordered the heap or armed others in
		 * p's bucket: start again from p. From `now`, not from the old
		 * deadline: a late thread does not run a burst of catch-up calls. */
		b = p->bucket;
		TAILQ_REMOVE(&b->pollers, p, link);
		p->next_run = now + p->period_ticks;
		bucket_insert(b, p);
		bucket_update(t, b);
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
		TAILQ_FOREACH (p, &t->timers[i]->pollers, link) {
			if (p->state == POLLER_RUNNING) {
				c->timed++;
			} else if (p->state == POLLER_PAUSING) {
				c->paused++;
			}
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
		TAILQ_FOREACH (p, &t->timers[i]->pollers, link) {
			if (p->state == POLLER_RUNNING) {
				visit_poller(t, p, SPIO_POLLER_LIST_TIMED, fn, ctx);
			}
		}
	}
	TAILQ_FOREACH (p, &t->active_pollers, link) {
		if (p->state == POLLER_PAUSING) {
			visit_poller(t, p, SPIO_POLLER_LIST_PAUSED, fn, ctx);
		}
	}
	for (uint32_t i = 0; i < t->timer_count; i++) {
		TAILQ_FOREACH (p, &t->timers[i]->pollers, link) {
			if (p->state == POLLER_PAUSING) {
				visit_poller(t, p, SPIO_POLLER_LIST_PAUSED, fn, ctx);
			}
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
		TAILQ_FOREACH (p, &t->timers[i]->pollers, link) {
			SPIO_ERRLOG("thread %s: timed poller %s still registered\n", t->name,
				    p->name);
		}
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
		struct timer_bucket *b = t->timers[i];

		while ((p = TAILQ_FIRST(&b->pollers)) != NULL) {
			TAILQ_REMOVE(&b->pollers, p, link);
			free(p);
		}
		free(b);
	}
	t->timer_count = 0;
	t->poller_count = 0;
	t->intr_fd_count = 0;
}
