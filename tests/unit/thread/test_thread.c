/* Threads and messages: lifecycle, current thread, send_msg, exit, stress. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spio/env.h"
#include "spio/thread.h"

static int g_new_threads;
static int new_thread_hook(struct spio_thread *t)
{
	g_new_threads++;
	return strcmp(spio_thread_get_name(t), "reject-me") == 0 ? -EPERM : 0;
}

static void lib_init(void)
{
	g_new_threads = 0;
	cr_assert_eq(spio_thread_lib_init(new_thread_hook, 128), 0);
}

static void lib_fini(void)
{
	spio_thread_lib_fini();
}

TestSuite(thread, .init = lib_init, .fini = lib_fini);

/* Exit, poll until exited, destroy. */
static void finish(struct spio_thread *t)
{
	struct spio_thread *prev = spio_thread_enter(t);
	cr_assert_eq(spio_thread_exit(t), 0);
	spio_thread_leave(prev);
	for (int i = 0; i < 1000000 && !spio_thread_is_exited(t); i++) {
		spio_thread_poll(t, 0, 0);
	}
	cr_assert(spio_thread_is_exited(t), "thread %s did not exit", spio_thread_get_name(t));
	spio_thread_destroy(t);
}

Test(thread, lib_init_twice_and_bad_args)
{
	cr_assert_eq(spio_thread_lib_init(NULL, 0), -EALREADY);
	cr_assert_eq(spio_thread_poll(NULL, 0, 0), -EINVAL);
	cr_assert_eq(spio_thread_send_msg(NULL, (spio_msg_fn)free, NULL), -EINVAL);
	cr_assert_eq(spio_thread_exit(NULL), -EINVAL);
	struct spio_cpuset empty;
	spio_cpuset_zero(&empty);
	errno = 0;
	cr_assert_null(spio_thread_create("x", &empty), "empty cpumask must be rejected");
	cr_assert_eq(errno, EINVAL);
	spio_thread_destroy(NULL);
	cr_assert_null(spio_thread_get_by_id(999999));
}

Test(thread_nolib, create_without_lib_fails)
{
	errno = 0;
	cr_assert_null(spio_thread_create("x", NULL));
	cr_assert_eq(errno, EINVAL);
}

Test(thread, create_properties_and_lookup)
{
	struct spio_cpuset mask;
	spio_cpuset_parse(&mask, "0x2");
	struct spio_thread *a = spio_thread_create("alpha", &mask);
	struct spio_thread *b = spio_thread_create(NULL, NULL);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_eq(g_new_threads, 2, "new_thread_fn told about %d threads, expected 2",
		     g_new_threads);
	cr_assert_str_eq(spio_thread_get_name(a), "alpha");
	cr_assert_neq(spio_thread_get_id(a), spio_thread_get_id(b));
	cr_assert_eq(spio_thread_get_by_id(spio_thread_get_id(b)), b);
	cr_assert(spio_cpuset_equal(spio_thread_get_cpumask(a), &mask));
	cr_assert_eq(spio_cpuset_count(spio_thread_get_cpumask(b)), SPIO_CPUSET_MAX_CORES,
		     "NULL mask means every core");
	char expect[32];
	snprintf(expect, sizeof(expect), "thread%lu", (unsigned long)spio_thread_get_id(b));
	cr_assert_str_eq(spio_thread_get_name(b), expect);
	cr_assert_eq(spio_thread_get_count(), 2);

	void *ctx = spio_thread_get_ctx(a);
	cr_assert_not_null(ctx);
	cr_assert_eq((uintptr_t)ctx % 64, 0);
	memset(ctx, 0xEE, 128);
	cr_assert_eq(spio_thread_get_from_ctx(ctx), a);

	cr_assert_null(spio_thread_create("reject-me", NULL), "hook error fails the create");
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(spio_thread_get_count(), 2);
	finish(a);
	finish(b);
	cr_assert_eq(spio_thread_get_count(), 0);
}

Test(thread, current_thread_guard)
{
	struct spio_thread *a = spio_thread_create("a", NULL);
	struct spio_thread *b = spio_thread_create("b", NULL);
	cr_assert_null(spio_get_thread());
	spio_set_thread(a);
	cr_assert_eq(spio_get_thread(), a);
	struct spio_thread *prev = spio_thread_enter(b);
	cr_assert_eq(prev, a);
	cr_assert_eq(spio_get_thread(), b);
	spio_thread_leave(prev);
	cr_assert_eq(spio_get_thread(), a);
	spio_set_thread(NULL);
	finish(a);
	finish(b);
}

static void record_current(void *arg)
{
	struct spio_thread **out = arg;
	*out = spio_get_thread();
}

Test(thread, poll_runs_messages_as_current_and_restores)
{
	struct spio_thread *a = spio_thread_create("a", NULL);
	struct spio_thread *b = spio_thread_create("b", NULL);
	struct spio_thread *seen = NULL;
	spio_set_thread(a);
	cr_assert_eq(spio_thread_send_msg(b, record_current, &seen), 0);
	cr_assert_eq(spio_thread_poll(b, 0, 0), SPIO_POLLER_BUSY);
	cr_assert_eq(seen, b, "message must run with its thread current");
	cr_assert_eq(spio_get_thread(), a, "poll restores the previous current thread");
	cr_assert_eq(spio_thread_poll(b, 0, 0), SPIO_POLLER_IDLE);
	spio_set_thread(NULL);
	finish(a);
	finish(b);
}

static void count_msg(void *arg)
{
	(*(int *)arg)++;
}

Test(thread, max_msgs_bounds_a_poll)
{
	struct spio_thread *t = spio_thread_create("t", NULL);
	int n = 0;
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(spio_thread_send_msg(t, count_msg, &n), 0);
	}
	spio_thread_poll(t, 10, 0);
	cr_assert_eq(n, 10, "max_msgs 10 ran %d", n);
	spio_thread_poll(t, 1000, 0);
	cr_assert_eq(n, 100);
	finish(t);
}

static void resend(void *arg);
struct chain {
	struct spio_thread *t;
	int left;
};
static void resend(void *arg)
{
	struct chain *c = arg;
	if (--c->left > 0) {
		spio_thread_send_msg(c->t, resend, c);
	}
}

Test(thread, exit_runs_pending_messages_first)
{
	struct spio_thread *t = spio_thread_create("t", NULL);
	int n = 0;
	for (int i = 0; i < 500; i++) {
		spio_thread_send_msg(t, count_msg, &n);
	}
	struct chain c = {t, 50}; /* messages that send more messages */
	spio_thread_send_msg(t, resend, &c);
	finish(t);
	cr_assert_eq(n, 500, "pending messages must run before exit: ran %d", n);
	cr_assert_eq(c.left, 0, "chained messages must all run: %d left", c.left);
}

static int idle_poller(void *arg)
{
	return SPIO_POLLER_IDLE;
}

Test(thread, exit_waits_for_pollers_and_times_out)
{
	struct spio_thread *t = spio_thread_create("t", NULL);
	spio_set_thread(t);
	struct spio_poller *p = spio_poller_register(idle_poller, NULL, 0);
	spio_thread_exit(t);
	for (int i = 0; i < 100; i++) {
		spio_thread_poll(t, 0, 0);
	}
	cr_assert_not(spio_thread_is_exited(t), "exit must wait for the poller");
	cr_assert_not(spio_thread_is_running(t));
	cr_assert_null(spio_poller_register(idle_poller, NULL, 0),
		       "no new pollers on an exiting thread");
	spio_poller_unregister(&p);
	cr_assert_null(p);
	spio_thread_poll(t, 0, 0);
	cr_assert(spio_thread_is_exited(t));
	spio_set_thread(NULL);
	spio_thread_destroy(t);

	/* With a forgotten poller the exit gives up after the timeout. */
	spio_thread_lib_set_exit_timeout_us(20000);
	t = spio_thread_create("stuck", NULL);
	spio_set_thread(t);
	spio_poller_register(idle_poller, NULL, 0);
	spio_thread_exit(t);
	uint64_t start = spio_get_ticks();
	while (!spio_thread_is_exited(t) && spio_get_ticks() - start < 2 * spio_get_ticks_hz()) {
		spio_thread_poll(t, 0, 0);
	}
	cr_assert(spio_thread_is_exited(t), "exit timeout must end the wait");
	cr_assert_geq(spio_ticks_to_us(spio_get_ticks() - start), 19000);
	spio_set_thread(NULL);
	spio_thread_destroy(t); /* reclaims the poller: ASan sees no leak */
}

Test(thread, send_to_exited_thread_fails_cleanly)
{
	struct spio_thread *t = spio_thread_create("t", NULL);
	struct spio_thread *keep = spio_thread_create("keep", NULL);
	int n = 0;
	spio_set_thread(keep);
	spio_thread_exit(t);
	spio_thread_poll(t, 0, 0);
	cr_assert(spio_thread_is_exited(t));
	cr_assert_eq(spio_thread_send_msg(t, count_msg, &n), -EIO);
	cr_assert_eq(spio_thread_poll(t, 0, 0), SPIO_POLLER_IDLE);
	cr_assert_eq(n, 0);
	spio_thread_destroy(t);
	spio_set_thread(NULL);
	finish(keep);
}

static void visit(void *arg)
{
	struct spio_thread **seen = arg;
	for (int i = 0; i < 8; i++) {
		if (seen[i] == NULL) {
			seen[i] = spio_get_thread();
			return;
		}
	}
}

static void visit_done(void *arg)
{
	struct spio_thread **seen = arg;
	seen[7] = (struct spio_thread *)(uintptr_t)1;
}

Test(thread, for_each_thread_visits_all_then_completes)
{
	struct spio_thread *t[3];
	struct spio_thread *seen[8] = {0};
	for (int i = 0; i < 3; i++) {
		t[i] = spio_thread_create(NULL, NULL);
	}
	spio_set_thread(t[0]);
	cr_assert_eq(spio_for_each_thread(NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(spio_for_each_thread(visit, seen, visit_done), 0);
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 3; i++) {
			spio_thread_poll(t[i], 0, 0);
		}
	}
	cr_assert_eq(seen[0], t[0]);
	cr_assert_eq(seen[1], t[1]);
	cr_assert_eq(seen[2], t[2]);
	cr_assert_eq(seen[7], (struct spio_thread *)(uintptr_t)1, "completion must run");
	spio_set_thread(NULL);
	for (int i = 0; i < 3; i++) {
		finish(t[i]);
	}
}

Test(thread, stats_count_busy_and_idle)
{
	struct spio_thread *t = spio_thread_create("t", NULL);
	struct spio_thread_stats st;
	int n = 0;
	cr_assert_eq(spio_thread_get_stats(NULL, &st), -EINVAL, "no current thread");
	for (int i = 0; i < 10; i++) {
		spio_thread_poll(t, 0, 0);
	}
	spio_thread_get_stats(t, &st);
	cr_assert_eq(st.busy_tsc, 0, "idle polls are not busy");
	cr_assert_gt(st.idle_tsc, 0);
	spio_thread_send_msg(t, count_msg, &n);
	spio_thread_poll(t, 0, 0);
	spio_thread_get_stats(t, &st);
	cr_assert_gt(st.busy_tsc, 0);
	cr_assert_geq(spio_thread_get_last_tsc(t), 1);
	finish(t);
}

/* The interrupt fd: readable after a message while sleeping, not before. */
Test(thread, interrupt_fd_wakes_on_message_and_timer)
{
	struct spio_thread *t = spio_thread_create("t", NULL);
	int fd = spio_thread_get_interrupt_fd(t);
	cr_assert_geq(fd, 0);
	cr_assert_eq(spio_thread_get_interrupt_fd(t), fd, "same fd every call");
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	cr_assert(spio_thread_sleep_begin(t), "nothing pending: may sleep");
	cr_assert_eq(poll(&pfd, 1, 0), 0, "no message yet: not readable");
	int n = 0;
	spio_thread_send_msg(t, count_msg, &n);
	cr_assert_eq(poll(&pfd, 1, 1000), 1, "message while asleep must wake");
	spio_thread_sleep_end(t);
	spio_thread_poll(t, 0, 0);
	cr_assert_eq(n, 1);

	spio_thread_send_msg(t, count_msg, &n);
	cr_assert_not(spio_thread_sleep_begin(t), "pending message: must not sleep");
	spio_thread_sleep_end(t);
	spio_thread_poll(t, 0, 0);

	/* A timed poller due in 20 ms wakes a sleeper via the timerfd. */
	spio_set_thread(t);
	struct spio_poller *p = spio_poller_register(idle_poller, NULL, 20000);
	uint64_t start = spio_get_ticks();
	cr_assert(spio_thread_sleep_begin(t));
	cr_assert_eq(poll(&pfd, 1, 2000), 1, "timer must wake the sleeper");
	uint64_t waited = spio_ticks_to_us(spio_get_ticks() - start);
	spio_thread_sleep_end(t);
	cr_assert(waited >= 15000 && waited < 500000, "woke after %lu us, expected ~20000", waited);
	spio_poller_unregister(&p);
	spio_set_thread(NULL);
	finish(t);
}

/*
 * Stress: N producer OS threads each send 524,288 messages to one spio
 * thread polled by a consumer OS thread. Each message carries (producer,
 * sequence); the consumer checks every one arrives once and in order.
 * 524,288 is twice the message pool (256 Ki - 1 entries), so every pool
 * entry is reused and the producers can still run it dry (-ENOMEM path)
 * even with one producer; 5,000,000 took 27 s under TSan for no extra reach.
 */
#define STRESS_MSGS 524288UL

struct stress {
	struct spio_thread *t;
	int producers;
	uint64_t next_seq[4];
	uint64_t received;
	uint64_t out_of_order;
	int done_producers;
};

static struct stress g_stress;

static void stress_msg(void *arg)
{
	uintptr_t v = (uintptr_t)arg;
	unsigned id = (unsigned)(v >> 56);
	uint64_t seq = v & ((1ULL << 56) - 1);
	if (seq != g_stress.next_seq[id]) {
		g_stress.out_of_order++;
	}
	g_stress.next_seq[id] = seq + 1;
	g_stress.received++;
}

static void *stress_producer(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	for (uint64_t seq = 0; seq < STRESS_MSGS; seq++) {
		void *m = (void *)((id << 56) | seq);
		int rc;
		while ((rc = spio_thread_send_msg(g_stress.t, stress_msg, m)) == -ENOMEM) {
			sched_yield(); /* message pool empty: consumer is behind */
		}
		if (rc != 0) {
			abort();
		}
	}
	__atomic_fetch_add(&g_stress.done_producers, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *stress_consumer(void *arg)
{
	for (;;) {
		int done = __atomic_load_n(&g_stress.done_producers, __ATOMIC_ACQUIRE);
		spio_thread_poll(g_stress.t, 256, 0);
		if (done == g_stress.producers &&
		    g_stress.received == (uint64_t)g_stress.producers * STRESS_MSGS) {
			break;
		}
	}
	return NULL;
}

static void run_stress(int producers)
{
	pthread_t prod[4], cons;
	memset(&g_stress, 0, sizeof(g_stress));
	g_stress.t = spio_thread_create("stress", NULL);
	g_stress.producers = producers;
	pthread_create(&cons, NULL, stress_consumer, NULL);
	for (uintptr_t i = 0; i < (uintptr_t)producers; i++) {
		pthread_create(&prod[i], NULL, stress_producer, (void *)i);
	}
	for (int i = 0; i < producers; i++) {
		pthread_join(prod[i], NULL);
	}
	pthread_join(cons, NULL);
	cr_assert_eq(g_stress.received, (uint64_t)producers * STRESS_MSGS,
		     "expected %lu messages, got %lu", (uint64_t)producers * STRESS_MSGS,
		     g_stress.received);
	cr_assert_eq(g_stress.out_of_order, 0, "%lu messages out of per-producer order",
		     g_stress.out_of_order);
	for (int i = 0; i < producers; i++) {
		cr_assert_eq(g_stress.next_seq[i], STRESS_MSGS);
	}
	finish(g_stress.t);
}

Test(thread, stress_two_producers, .timeout = 600)
{
	run_stress(2);
}

Test(thread, stress_four_producers, .timeout = 600)
{
	run_stress(4);
}
