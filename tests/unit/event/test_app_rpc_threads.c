/*
 * thread_get_pollers, thread_get_io_channels and framework_get_reactors
 * (lib/event/thread_rpc.c, app_rpc.c), called through the RPC request API.
 *
 * Most cases poll their spio_threads by hand, so the interleaving is fixed:
 * which poll runs the request's hop, how often each poller ran, which thread
 * exits before or while the request visits it. The pollers whose counts are
 * checked exactly pause themselves after a known number of calls, so their
 * counts cannot move while the request gathers. One case runs a real app on
 * two threads of their own and checks the same methods and
 * framework_get_reactors across reactors.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper_cores.h"
#include "spio/app.h"
#include "spio/env.h"
#include "spio/json_val.h"
#include "spio/rpc.h"
#include "spio/thread.h"
#include "spio/util.h"

/*
 * Looking at results
 */

static const struct spio_json_val *member(const struct spio_json_val *obj, const char *key)
{
	const struct spio_json_val *v = spio_json_object_get(obj, key);

	cr_assert_not_null(v, "expected key \"%s\" in the object", key);
	return v;
}

static uint64_t member_u64(const struct spio_json_val *obj, const char *key)
{
	int64_t v = -1;

	cr_assert_eq(spio_json_integer(member(obj, key), &v), 0, "\"%s\": expected an integer",
		     key);
	cr_assert_geq(v, 0, "\"%s\": expected >= 0, got %lld", key, (long long)v);
	return (uint64_t)v;
}

static const char *member_str(const struct spio_json_val *obj, const char *key)
{
	const char *s = spio_json_string(member(obj, key));

	cr_assert_not_null(s, "\"%s\": expected a string", key);
	return s;
}

/* The element of array `arr` whose "name" is `name`; NULL if none. */
static const struct spio_json_val *by_name(const struct spio_json_val *arr, const char *name)
{
	cr_assert(spio_json_is_array(arr), "expected an array");
	for (size_t i = 0; i < spio_json_array_size(arr); i++) {
		const struct spio_json_val *e = spio_json_array_get(arr, i);
		const char *n = spio_json_string(spio_json_object_get(e, "name"));

		if (n != NULL && strcmp(n, name) == 0) {
			return e;
		}
	}
	return NULL;
}

static const struct spio_json_val *thread_entry(const struct spio_json_val *result,
						const char *name)
{
	const struct spio_json_val *t;

	cr_assert(spio_json_is_object(result), "expected an object result");
	cr_assert_gt(member_u64(result, "tick_rate"), 0, "tick_rate: expected > 0");
	t = by_name(member(result, "threads"), name);
	cr_assert_not_null(t, "expected thread %s in the result", name);
	return t;
}

/*
 * Check poller `name` in list `list` of thread entry `t`: id, state, exact
 * counts (run < 0: at least 1, any busy count that busy_all/busy_none
 * allows) and the period (0: the key must be absent, as in SPDK).
 */
struct poller_want {
	const char *name;
	uint64_t id;
	const char *state;
	int64_t run;  /* -1: >= 1; -2: any */
	int64_t busy; /* -1: == run_count; -2: 0 */
	uint64_t period_ticks;
};

static void check_poller(const struct spio_json_val *t, const char *list,
			 const struct poller_want *w)
{
	const struct spio_json_val *p = by_name(member(t, list), w->name);
	uint64_t run, busy;

	cr_assert_not_null(p, "expected poller %s in %s", w->name, list);
	cr_assert_eq(member_u64(p, "id"), w->id, "poller %s: expected id %llu, got %llu", w->name,
		     (unsigned long long)w->id, (unsigned long long)member_u64(p, "id"));
	cr_assert_str_eq(member_str(p, "state"), w->state, "poller %s: expected state %s, got %s",
			 w->name, w->state, member_str(p, "state"));
	run = member_u64(p, "run_count");
	busy = member_u64(p, "busy_count");
	if (w->run >= 0) {
		cr_assert_eq(run, (uint64_t)w->run, "poller %s: expected run_count %lld, got %llu",
			     w->name, (long long)w->run, (unsigned long long)run);
	} else if (w->run == -1) {
		cr_assert_geq(run, 1, "poller %s: expected run_count >= 1, got %llu", w->name,
			      (unsigned long long)run);
	}
	if (w->busy >= 0) {
		cr_assert_eq(busy, (uint64_t)w->busy,
			     "poller %s: expected busy_count %lld, got %llu", w->name,
			     (long long)w->busy, (unsigned long long)busy);
	} else if (w->busy == -1) {
		cr_assert_eq(busy, run,
			     "poller %s: always busy: expected busy_count %llu, got %llu", w->name,
			     (unsigned long long)run, (unsigned long long)busy);
	} else {
		cr_assert_eq(busy, 0, "poller %s: never busy: expected busy_count 0, got %llu",
			     w->name, (unsigned long long)busy);
	}
	if (w->period_ticks == 0) {
		cr_assert_null(spio_json_object_get(p, "period_ticks"),
			       "poller %s: an active poller has no period_ticks", w->name);
	} else {
		cr_assert_eq(member_u64(p, "period_ticks"), w->period_ticks,
			     "poller %s: expected period_ticks %llu, got %llu", w->name,
			     (unsigned long long)w->period_ticks,
			     (unsigned long long)member_u64(p, "period_ticks"));
	}
	cr_assert_eq(spio_json_object_size(p), w->period_ticks ? 6u : 5u,
		     "poller %s: expected exactly SPDK's keys, got %zu", w->name,
		     spio_json_object_size(p));
}

static size_t list_len(const struct spio_json_val *t, const char *list)
{
	return spio_json_array_size(member(t, list));
}

/*
 * Hand-polled threads
 */

static struct spio_thread *g_rpc, *g_t1, *g_t2, *g_t3;

static void setup(void)
{
	cr_assert_eq(spio_thread_lib_init(NULL, 0), 0, "spio_thread_lib_init failed");
	g_rpc = spio_thread_create("rpc", NULL);
	g_t1 = spio_thread_create("t1", NULL);
	g_t2 = spio_thread_create("t2", NULL);
	g_t3 = spio_thread_create("t3", NULL);
	cr_assert(g_rpc && g_t1 && g_t2 && g_t3, "spio_thread_create failed");
	spio_set_thread(g_rpc);
	spio_rpc_set_state(SPIO_RPC_RUNTIME);
}

static void poll_all(void)
{
	struct spio_thread *all[] = {g_rpc, g_t1, g_t2, g_t3};

	for (size_t i = 0; i < SPIO_COUNTOF(all); i++) {
		if (all[i] != NULL) {
			spio_thread_poll(all[i], 0, 0);
		}
	}
	spio_set_thread(g_rpc);
}

static void exit_on(struct spio_thread *t)
{
	struct spio_thread *prev = spio_thread_enter(t);

	spio_thread_exit(t);
	spio_thread_leave(prev);
}

static void exit_and_destroy(struct spio_thread **t)
{
	if (*t == NULL) {
		return;
	}
	exit_on(*t);
	for (int i = 0; i < 100000 && !spio_thread_is_exited(*t); i++) {
		spio_thread_poll(*t, 0, 0);
	}
	cr_assert(spio_thread_is_exited(*t), "thread %s did not exit", spio_thread_get_name(*t));
	spio_thread_destroy(*t);
	*t = NULL;
}

static void teardown(void)
{
	exit_and_destroy(&g_t1);
	exit_and_destroy(&g_t2);
	exit_and_destroy(&g_t3);
	spio_set_thread(NULL);
	exit_and_destroy(&g_rpc);
	spio_thread_lib_fini();
	spio_rpc_set_state(SPIO_RPC_STARTUP);
}

TestSuite(thread_rpc, .init = setup, .fini = teardown, .timeout = 60);

struct reply {
	int calls;
	int code;
	char msg[256];
	struct spio_json_val *result;
};

static void reply_cb(void *ctx, int code, const char *msg, const struct spio_json_val *result)
{
	struct reply *r = ctx;

	r->calls++;
	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
	r->result = result ? spio_json_val_ref(result) : NULL;
}

/* Start `method` on the rpc thread; the caller polls. */
static void call_start(const char *method, const char *params, struct reply *r)
{
	struct spio_json_val *p = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if (params != NULL) {
		p = spio_json_parse(params, strlen(params), NULL, 0);
		cr_assert_not_null(p, "test bug: params %s", params);
	}
	spio_set_thread(g_rpc);
	rc = spio_rpc_call(method, p, reply_cb, r);
	cr_assert_eq(rc, 0, "spio_rpc_call(%s): expected 0, got %d", method, rc);
	spio_json_val_free(p);
}

static void call(const char *method, struct reply *r)
{
	call_start(method, NULL, r);
	for (int i = 0; i < 1000 && r->calls == 0; i++) {
		poll_all();
	}
	cr_assert_eq(r->calls, 1, "%s: expected one answer, got %d", method, r->calls);
	cr_assert_eq(r->code, 0, "%s: expected success, got %d \"%s\"", method, r->code, r->msg);
}

/* Pollers whose counts freeze: each pauses itself after `stop` calls. */
struct self_pausing {
	struct spio_poller *p;
	int calls;
	int stop;
	bool alternate; /* busy on odd calls only */
};

static int self_pausing_poll(void *arg)
{
	struct self_pausing *s = arg;

	s->calls++;
	if (s->calls == s->stop) {
		spio_poller_pause(s->p);
	}
	return !s->alternate || s->calls % 2 == 1 ? SPIO_POLLER_BUSY : SPIO_POLLER_IDLE;
}

static int busy_poll(void *arg)
{
	return SPIO_POLLER_BUSY;
}

static int idle_poll(void *arg)
{
	return SPIO_POLLER_IDLE;
}

static struct spio_poller *reg_on(struct spio_thread *t, spio_poller_fn fn, void *arg,
				  uint64_t period_us, const char *name)
{
	struct spio_thread *prev = spio_thread_enter(t);
	struct spio_poller *p = spio_poller_register_named(fn, arg, period_us, name);

	spio_thread_leave(prev);
	cr_assert_not_null(p, "register %s failed", name);
	return p;
}

static void unreg_on(struct spio_thread *t, struct spio_poller **p)
{
	struct spio_thread *prev = spio_thread_enter(t);

	spio_poller_unregister(p);
	spio_thread_leave(prev);
}

Test(thread_rpc, pollers_every_field_and_list)
{
	struct self_pausing s3 = {.stop = 3}, s4 = {.stop = 4, .alternate = true}, st = {.stop = 2};
	struct spio_poller *a_busy, *a_idle, *t_hour, *a_held, *b_one;
	const struct spio_json_val *t1, *t2;
	uint64_t hour = spio_us_to_ticks(3600ull * 1000 * 1000);
	struct reply r;

	a_busy = reg_on(g_t1, busy_poll, NULL, 0, "a_busy");			 /* id 1 */
	a_idle = reg_on(g_t1, idle_poll, NULL, 0, "a_idle");			 /* id 2 */
	s3.p = reg_on(g_t1, self_pausing_poll, &s3, 0, "s3");			 /* id 3 */
	s4.p = reg_on(g_t1, self_pausing_poll, &s4, 0, "s4");			 /* id 4 */
	t_hour = reg_on(g_t1, busy_poll, NULL, 3600ull * 1000 * 1000, "t_hour"); /* id 5 */
	st.p = reg_on(g_t1, self_pausing_poll, &st, 1, "t_short");		 /* id 6 */
	a_held = reg_on(g_t1, busy_poll, NULL, 0, "a_held");			 /* id 7 */
	b_one = reg_on(g_t2, idle_poll, NULL, 0, "b_one");			 /* id 1 on t2 */
	cr_assert_eq(spio_poller_get_id(a_held), 7, "ids count per thread from 1");
	cr_assert_eq(spio_poller_get_id(b_one), 1, "ids count per thread from 1");

	/* a_held is paused from outside any poll (pausing until the next walk):
	 * reported paused at once, with no run. */
	spio_set_thread(g_t1);
	spio_poller_pause(a_held);
	spio_set_thread(g_rpc);
	call("thread_get_pollers", &r);
	t1 = thread_entry(r.result, "t1");
	check_poller(t1, "paused_pollers", &(struct poller_want){"a_held", 7, "paused", 0, 0, 0});
	spio_json_val_free(r.result);

	/* Four polls at a tick past every short deadline: s3 and s4 freeze,
	 * t_short runs twice and freezes, t_hour never runs. */
	for (int i = 0; i < 4; i++) {
		spio_thread_poll(g_t1, 0, spio_get_ticks() + spio_us_to_ticks(1000) * (i + 1));
	}
	cr_assert_eq(s3.calls, 3, "test bug: s3 ran %d times", s3.calls);
	cr_assert_eq(s4.calls, 4, "test bug: s4 ran %d times", s4.calls);
	cr_assert_eq(st.calls, 2, "test bug: t_short ran %d times", st.calls);

	call("thread_get_pollers", &r);
	t1 = thread_entry(r.result, "t1");
	t2 = thread_entry(r.result, "t2");
	cr_assert_eq(member_u64(t1, "id"), spio_thread_get_id(g_t1), "t1: wrong thread id");
	cr_assert_eq(member_u64(t2, "id"), spio_thread_get_id(g_t2), "t2: wrong thread id");
	cr_assert_not_null(by_name(member(r.result, "threads"), "rpc"),
			   "the requesting thread is listed too");
	cr_assert_not_null(by_name(member(r.result, "threads"), "t3"),
			   "a thread without pollers is listed too");

	check_poller(t1, "active_pollers",
		     &(struct poller_want){"a_busy", 1, "waiting", -1, -1, 0});
	check_poller(t1, "active_pollers",
		     &(struct poller_want){"a_idle", 2, "waiting", -1, -2, 0});
	check_poller(t1, "timed_pollers",
		     &(struct poller_want){"t_hour", 5, "waiting", 0, 0, hour});
	check_poller(t1, "paused_pollers", &(struct poller_want){"s3", 3, "paused", 3, 3, 0});
	check_poller(t1, "paused_pollers", &(struct poller_want){"s4", 4, "paused", 4, 2, 0});
	check_poller(t1, "paused_pollers",
		     &(struct poller_want){"t_short", 6, "paused", 2, 2, spio_us_to_ticks(1)});
	check_poller(t1, "paused_pollers", &(struct poller_want){"a_held", 7, "paused", 0, 0, 0});
	cr_assert_eq(list_len(t1, "active_pollers"), 2, "t1: expected 2 active pollers, got %zu",
		     list_len(t1, "active_pollers"));
	cr_assert_eq(list_len(t1, "timed_pollers"), 1, "t1: expected 1 timed poller, got %zu",
		     list_len(t1, "timed_pollers"));
	cr_assert_eq(list_len(t1, "paused_pollers"), 4, "t1: expected 4 paused pollers, got %zu",
		     list_len(t1, "paused_pollers"));
	check_poller(t2, "active_pollers", &(struct poller_want){"b_one", 1, "waiting", -1, -2, 0});
	cr_assert_eq(list_len(t2, "timed_pollers") + list_len(t2, "paused_pollers"), 0,
		     "t2: only one active poller expected");
	spio_json_val_free(r.result);

	/* Resumed and unregistered pollers move and go. */
	spio_set_thread(g_t1);
	spio_poller_resume(s3.p);
	spio_set_thread(g_rpc);
	unreg_on(g_t1, &a_idle);
	call("thread_get_pollers", &r);
	t1 = thread_entry(r.result, "t1");
	check_poller(t1, "active_pollers", &(struct poller_want){"s3", 3, "waiting", -1, -1, 0});
	cr_assert_null(by_name(member(t1, "active_pollers"), "a_idle"),
		       "an unregistered poller is not listed");
	cr_assert_eq(list_len(t1, "paused_pollers"), 3, "t1: expected 3 paused pollers, got %zu",
		     list_len(t1, "paused_pollers"));
	spio_json_val_free(r.result);

	unreg_on(g_t1, &a_busy);
	unreg_on(g_t1, &s3.p);
	unreg_on(g_t1, &s4.p);
	unreg_on(g_t1, &t_hour);
	unreg_on(g_t1, &st.p);
	unreg_on(g_t1, &a_held);
	unreg_on(g_t2, &b_one);
}

Test(thread_rpc, no_params_accepted)
{
	static const char *const methods[] = {"thread_get_pollers", "thread_get_io_channels"};
	struct reply r;

	for (size_t i = 0; i < SPIO_COUNTOF(methods); i++) {
		call_start(methods[i], "{\"x\": 1}", &r);
		for (int j = 0; j < 100 && r.calls == 0; j++) {
			poll_all();
		}
		cr_assert_eq(r.calls, 1, "%s: expected one answer", methods[i]);
		cr_assert_eq(r.code, SPIO_JSONRPC_ERROR_INVALID_PARAMS,
			     "%s with params: expected -32602, got %d", methods[i], r.code);
		cr_assert_not_null(strstr(r.msg, "requires no arguments"), "%s: got \"%s\"",
				   methods[i], r.msg);
	}
}

Test(thread_rpc, runtime_only)
{
	struct reply r;

	spio_rpc_set_state(SPIO_RPC_STARTUP);
	call_start("thread_get_pollers", NULL, &r);
	cr_assert_eq(r.calls, 1, "a state error is answered at once");
	cr_assert_eq(r.code, SPIO_JSONRPC_ERROR_INVALID_STATE,
		     "thread_get_pollers at start-up: expected -1, got %d", r.code);
	call_start("thread_get_io_channels", NULL, &r);
	cr_assert_eq(r.code, SPIO_JSONRPC_ERROR_INVALID_STATE,
		     "thread_get_io_channels at start-up: expected -1, got %d", r.code);
}

/* Hop order is creation order: rpc, t1, t2, t3. */
static void check_threads(const struct reply *r, const char *const *want, size_t n)
{
	const struct spio_json_val *arr = member(r->result, "threads");

	cr_assert_eq(spio_json_array_size(arr), n, "expected %zu threads, got %zu", n,
		     spio_json_array_size(arr));
	for (size_t i = 0; i < n; i++) {
		const char *name = member_str(spio_json_array_get(arr, i), "name");

		cr_assert_str_eq(name, want[i], "thread %zu: expected %s, got %s", i, want[i],
				 name);
	}
}

Test(thread_rpc, thread_exited_before_its_hop_is_left_out)
{
	static const char *const want[] = {"rpc", "t1", "t3"};
	struct reply r;

	call_start("thread_get_pollers", NULL, &r);
	spio_thread_poll(g_rpc, 0, 0); /* rpc visited; the hop goes to t1 */
	exit_and_destroy(&g_t2);
	for (int i = 0; i < 100 && r.calls == 0; i++) {
		poll_all();
	}
	cr_assert_eq(r.calls, 1, "expected one answer, got %d", r.calls);
	cr_assert_eq(r.code, 0, "expected success, got %d \"%s\"", r.code, r.msg);
	check_threads(&r, want, SPIO_COUNTOF(want));
	spio_json_val_free(r.result);
}

Test(thread_rpc, thread_exiting_with_the_hop_queued_is_still_visited)
{
	static const char *const want[] = {"rpc", "t1", "t2", "t3"};
	struct reply r;

	call_start("thread_get_io_channels", NULL, &r);
	spio_thread_poll(g_rpc, 0, 0);
	spio_thread_poll(g_t1, 0, 0); /* the hop is now queued on t2 */
	exit_on(g_t2);		      /* t2 exits only once its queue is empty */
	for (int i = 0; i < 100 && r.calls == 0; i++) {
		poll_all();
	}
	cr_assert_eq(r.calls, 1, "expected one answer, got %d", r.calls);
	cr_assert_eq(r.code, 0, "expected success, got %d \"%s\"", r.code, r.msg);
	check_threads(&r, want, SPIO_COUNTOF(want));
	cr_assert(spio_thread_is_exited(g_t2), "t2 finished its exit after the hop");
	spio_json_val_free(r.result);
}

/* io_channels */

static int g_dev_a, g_dev_b;

static int ch_create(void *dev, void *buf)
{
	return 0;
}

static void ch_destroy(void *dev, void *buf)
{
}

static struct spio_io_channel *get_on(struct spio_thread *t, void *dev)
{
	struct spio_thread *prev = spio_thread_enter(t);
	struct spio_io_channel *ch = spio_get_io_channel(dev);

	spio_thread_leave(prev);
	cr_assert_not_null(ch, "spio_get_io_channel failed");
	return ch;
}

static void put_on(struct spio_thread *t, struct spio_io_channel *ch)
{
	struct spio_thread *prev = spio_thread_enter(t);

	spio_put_io_channel(ch);
	spio_thread_leave(prev);
}

static void check_channel(const struct spio_json_val *t, const char *name, uint32_t ref)
{
	const struct spio_json_val *c = by_name(member(t, "io_channels"), name);

	cr_assert_not_null(c, "expected channel %s", name);
	cr_assert_eq(member_u64(c, "ref"), ref, "channel %s: expected ref %u, got %llu", name, ref,
		     (unsigned long long)member_u64(c, "ref"));
	cr_assert_eq(spio_json_object_size(c), 2, "channel %s: expected name and ref only", name);
}

static void count_channel(const struct spio_io_channel_info *info, void *ctx)
{
	(*(int *)ctx)++;
}

Test(thread_rpc, io_channels_per_thread)
{
	struct spio_io_channel *a1, *a1b, *b1, *a2;
	const struct spio_json_val *t1, *t2, *t3;
	struct reply r;
	int n = 0;

	cr_assert_eq(spio_io_device_register(&g_dev_a, ch_create, ch_destroy, 0, "dev_a"), 0);
	cr_assert_eq(spio_io_device_register(&g_dev_b, ch_create, ch_destroy, 0, "dev_b"), 0);
	a1 = get_on(g_t1, &g_dev_a);
	a1b = get_on(g_t1, &g_dev_a);
	b1 = get_on(g_t1, &g_dev_b);
	a2 = get_on(g_t2, &g_dev_a);

	call("thread_get_io_channels", &r);
	t1 = thread_entry(r.result, "t1");
	t2 = thread_entry(r.result, "t2");
	t3 = thread_entry(r.result, "t3");
	check_channel(t1, "dev_a", 2);
	check_channel(t1, "dev_b", 1);
	check_channel(t2, "dev_a", 1);
	cr_assert_eq(list_len(t1, "io_channels"), 2, "t1: expected 2 channels, got %zu",
		     list_len(t1, "io_channels"));
	cr_assert_eq(list_len(t2, "io_channels"), 1, "t2: expected 1 channel");
	cr_assert_eq(list_len(t3, "io_channels"), 0, "t3: expected no channel");
	cr_assert_null(spio_json_object_get(t1, "id"), "SPDK writes no thread id here");
	cr_assert_eq(spio_json_object_size(t1), 2, "thread entry: expected name and io_channels");
	spio_json_val_free(r.result);

	/* The last put leaves the channel out at once, though its destroy is
	 * deferred to a message of t2 not run yet. */
	put_on(g_t2, a2);
	put_on(g_t1, a1b);
	cr_assert_eq(spio_thread_for_each_io_channel(g_t2, count_channel, &n), 0);
	cr_assert_eq(n, 0, "t2 after its last put: expected no channel reported, got %d", n);
	cr_assert_eq(spio_thread_for_each_io_channel(NULL, count_channel, &n), -EINVAL);
	cr_assert_eq(spio_thread_for_each_io_channel(g_t2, NULL, &n), -EINVAL);
	cr_assert_eq(spio_thread_for_each_poller(NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(spio_thread_for_each_poller(g_t2, NULL, NULL), -EINVAL);
	call_start("thread_get_io_channels", NULL, &r);
	spio_thread_poll(g_rpc, 0, 0);
	for (int i = 0; i < 100 && r.calls == 0; i++) {
		poll_all();
	}
	cr_assert_eq(r.code, 0, "expected success, got %d", r.code);
	check_channel(thread_entry(r.result, "t1"), "dev_a", 1);
	cr_assert_eq(list_len(thread_entry(r.result, "t2"), "io_channels"), 0,
		     "t2: its only channel was put");
	spio_json_val_free(r.result);

	put_on(g_t1, a1);
	put_on(g_t1, b1);
	for (int i = 0; i < 10; i++) {
		poll_all();
	}
	cr_assert_eq(spio_io_device_unregister(&g_dev_a, NULL), 0);
	cr_assert_eq(spio_io_device_unregister(&g_dev_b, NULL), 0);
	for (int i = 0; i < 10; i++) {
		poll_all();
	}
}

/*
 * A real app: two threads of the test's own, on two reactors when there are
 * two cores.
 */

static struct {
	struct spio_thread *a, *b;
	struct spio_poller *pa, *pb_timed;
	struct spio_io_channel *cha, *chb;
	int ready;
	struct reply pollers, channels, reactors;
	int step;
} g_app_t;

static void app_next(void *arg);

static void on_reply(void *ctx, int code, const char *msg, const struct spio_json_val *result)
{
	reply_cb(ctx, code, msg, result);
	spio_thread_send_msg(spio_app_get_thread(), app_next, NULL);
}

static void thread_a_setup(void *arg)
{
	g_app_t.pa = spio_poller_register_named(busy_poll, NULL, 0, "app_a_active");
	g_app_t.cha = spio_get_io_channel(&g_dev_a);
	spio_thread_send_msg(spio_app_get_thread(), app_next, NULL);
}

static void thread_b_setup(void *arg)
{
	g_app_t.pb_timed = spio_poller_register_named(idle_poll, NULL, 500, "app_b_timed");
	g_app_t.chb = spio_get_io_channel(&g_dev_a);
	spio_thread_send_msg(spio_app_get_thread(), app_next, NULL);
}

static void thread_a_fini(void *arg)
{
	spio_poller_unregister(&g_app_t.pa);
	spio_put_io_channel(g_app_t.cha);
	spio_thread_exit(spio_get_thread());
}

static void thread_b_fini(void *arg)
{
	spio_poller_unregister(&g_app_t.pb_timed);
	spio_put_io_channel(g_app_t.chb);
	spio_thread_exit(spio_get_thread());
}

static void dev_gone(void *dev)
{
	spio_app_stop(0);
}

/* On the app thread, one step per call. */
static void app_next(void *arg)
{
	switch (g_app_t.step++) {
	case 0:
		return; /* the first thread is set up; wait for the second */
	case 1:
		spio_rpc_call("thread_get_pollers", NULL, on_reply, &g_app_t.pollers);
		return;
	case 2:
		spio_rpc_call("thread_get_io_channels", NULL, on_reply, &g_app_t.channels);
		return;
	case 3:
		spio_rpc_call("framework_get_reactors", NULL, on_reply, &g_app_t.reactors);
		return;
	default:
		spio_thread_send_msg(g_app_t.a, thread_a_fini, NULL);
		spio_thread_send_msg(g_app_t.b, thread_b_fini, NULL);
		spio_io_device_unregister(&g_dev_a, dev_gone);
		return;
	}
}

static uint32_t g_second_core;

static void app_start(void *arg)
{
	struct spio_cpuset m;

	spio_io_device_register(&g_dev_a, ch_create, ch_destroy, 0, "app_dev");
	spio_cpuset_zero(&m);
	spio_cpuset_set_cpu(&m, 0, true);
	g_app_t.a = spio_thread_create("app_a", &m);
	spio_cpuset_zero(&m);
	spio_cpuset_set_cpu(&m, g_second_core, true);
	g_app_t.b = spio_thread_create("app_b", &m);
	cr_assert(g_app_t.a && g_app_t.b, "thread creation failed");
	spio_thread_send_msg(g_app_t.a, thread_a_setup, NULL);
	spio_thread_send_msg(g_app_t.b, thread_b_setup, NULL);
}

/* The reactor entry that lists thread `name`; NULL if none. */
static const struct spio_json_val *reactor_of(const struct spio_json_val *reactors,
					      const char *name, const struct spio_json_val **lw)
{
	for (size_t i = 0; i < spio_json_array_size(reactors); i++) {
		const struct spio_json_val *r = spio_json_array_get(reactors, i);

		*lw = by_name(member(r, "lw_threads"), name);
		if (*lw != NULL) {
			return r;
		}
	}
	return NULL;
}

Test(thread_rpc_app, two_threads_on_reactors, .timeout = 120)
{
	static const char *const reactor_keys[] = {"lcore", "busy", "idle",	   "irq",
						   "sys",   "usr",  "in_interrupt"};
	static const char *const thread_keys[] = {"name", "id", "cpumask", "elapsed"};
	struct spio_app_opts o;
	const struct spio_json_val *t, *reactors, *ra, *rb, *lw;
	int rc;

	g_second_core = test_have_two_cores() ? 1 : 0;
	spio_app_opts_init(&o, sizeof(o));
	o.name = "test_app_rpc";
	o.reactor_mask = g_second_core ? "0x3" : "0x1";
	o.rpc_addr = NULL;
	o.no_huge = true;
	rc = spio_app_start(&o, app_start, NULL);
	cr_assert_eq(rc, 0, "spio_app_start: expected 0, got %d", rc);

	cr_assert_eq(g_app_t.pollers.code, 0, "thread_get_pollers: %s", g_app_t.pollers.msg);
	t = thread_entry(g_app_t.pollers.result, "app_a");
	check_poller(t, "active_pollers",
		     &(struct poller_want){"app_a_active", 1, "waiting", -1, -1, 0});
	t = thread_entry(g_app_t.pollers.result, "app_b");
	check_poller(
	    t, "timed_pollers",
	    &(struct poller_want){"app_b_timed", 1, "waiting", -2, -2, spio_us_to_ticks(500)});
	thread_entry(g_app_t.pollers.result, "app_thread");

	cr_assert_eq(g_app_t.channels.code, 0, "thread_get_io_channels: %s", g_app_t.channels.msg);
	check_channel(thread_entry(g_app_t.channels.result, "app_a"), "app_dev", 1);
	check_channel(thread_entry(g_app_t.channels.result, "app_b"), "app_dev", 1);

	cr_assert_eq(g_app_t.reactors.code, 0, "framework_get_reactors: %s", g_app_t.reactors.msg);
	cr_assert_gt(member_u64(g_app_t.reactors.result, "tick_rate"), 0, "tick_rate");
	reactors = member(g_app_t.reactors.result, "reactors");
	cr_assert_eq(spio_json_array_size(reactors), g_second_core ? 2u : 1u,
		     "expected one reactor per core");
	ra = reactor_of(reactors, "app_a", &lw);
	cr_assert_not_null(ra, "app_a is on no reactor");
	cr_assert_eq(member_u64(ra, "lcore"), 0, "app_a: expected core 0");
	for (size_t i = 0; i < SPIO_COUNTOF(reactor_keys); i++) {
		member(ra, reactor_keys[i]);
	}
	for (size_t i = 0; i < SPIO_COUNTOF(thread_keys); i++) {
		member(lw, thread_keys[i]);
	}
	cr_assert_str_eq(member_str(lw, "cpumask"), "1", "app_a: expected cpumask 1, got %s",
			 member_str(lw, "cpumask"));
	cr_assert_eq(member_u64(lw, "id"),
		     member_u64(thread_entry(g_app_t.pollers.result, "app_a"), "id"),
		     "app_a: the same id in both methods");
	rb = reactor_of(reactors, "app_b", &lw);
	cr_assert_not_null(rb, "app_b is on no reactor");
	cr_assert_eq(member_u64(rb, "lcore"), g_second_core, "app_b: expected core %u",
		     g_second_core);
	cr_assert_gt(member_u64(ra, "busy") + member_u64(ra, "idle"), 0,
		     "reactor 0: expected busy + idle ticks");

	spio_json_val_free(g_app_t.pollers.result);
	spio_json_val_free(g_app_t.channels.result);
	spio_json_val_free(g_app_t.reactors.result);
}
