/*
 * Event senders around teardown: the reactors pass a ring of events between
 * them (senders on reactor threads, which skip the teardown's caller count)
 * while an OS thread outside the reactors sends events without pause, before,
 * during and after the stop. Every event accepted before the stop runs, or is
 * dropped at teardown; none runs twice; the outside sender ends on
 * -ESHUTDOWN or -EINVAL, never on freed memory (ASan, TSan watch that).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "helper_cores.h"
#include "spio/app.h"
#include "spio/event.h"
#include "spio/log.h"

TestSuite(event_senders, .timeout = 120);

enum { RING_EVENTS = 20000, EXT_RUNS_BEFORE_STOP = 2000 };

static struct {
	uint64_t ring[2];  /* ring events run, per core (one writer each) */
	uint64_t ext_sent; /* accepted from the outside sender */
	uint64_t ext_ran;  /* of those, run */
	int ext_last_rc;   /* what ended the outside sender */
	int ring_send_rc;  /* first failure of a reactor's send, 0 if none */
	int stopped;	   /* spio_app_stop called */
	bool wrong_core;   /* an event ran on another reactor */
	pthread_t ext;
} g_s;

static void ext_event(void *arg1, void *arg2)
{
	if (spio_reactor_get_current_core() != (uint32_t)(uintptr_t)arg1) {
		__atomic_store_n(&g_s.wrong_core, true, __ATOMIC_RELAXED);
	}
	__atomic_add_fetch(&g_s.ext_ran, 1, __ATOMIC_RELAXED);
}

static void *ext_main(void *arg)
{
	for (uint32_t i = 0;; i++) {
		uint32_t core = i & 1;
		int rc = spio_event_call(core, ext_event, (void *)(uintptr_t)core, NULL);

		if (rc == 0) {
			__atomic_add_fetch(&g_s.ext_sent, 1, __ATOMIC_RELAXED);
		} else if (rc == -ENOMEM) {
			sched_yield();
		} else {
			g_s.ext_last_rc = rc;
			return NULL;
		}
	}
}

static void ring_event(void *arg1, void *arg2)
{
	uint32_t me = spio_reactor_get_current_core(), next = me ^ 1;
	int rc;

	if (me != (uint32_t)(uintptr_t)arg1) {
		__atomic_store_n(&g_s.wrong_core, true, __ATOMIC_RELAXED);
	}
	if (++g_s.ring[me] >= RING_EVENTS &&
	    __atomic_load_n(&g_s.ext_ran, __ATOMIC_RELAXED) >= EXT_RUNS_BEFORE_STOP) {
		if (__atomic_exchange_n(&g_s.stopped, 1, __ATOMIC_ACQ_REL) == 0) {
			spio_app_stop(0);
		}
		return;
	}
	while ((rc = spio_event_call(next, ring_event, (void *)(uintptr_t)next, NULL)) == -ENOMEM) {
		sched_yield();
	}
	if (rc != 0 && rc != -ESHUTDOWN) {
		__atomic_store_n(&g_s.ring_send_rc, rc, __ATOMIC_RELAXED);
	}
}

static void start(void *arg)
{
	if (pthread_create(&g_s.ext, NULL, ext_main, NULL) != 0) {
		spio_app_stop(-EAGAIN);
		return;
	}
	for (int i = 0; i < 4; i++) {
		spio_event_call(0, ring_event, (void *)(uintptr_t)0, NULL);
		spio_event_call(1, ring_event, (void *)(uintptr_t)1, NULL);
	}
}

Test(event_senders, reactor_and_outside_senders_across_teardown)
{
	struct spio_app_opts o;
	int rc;

	NEED_TWO_CORES();
	spio_log_set_level(SPIO_LOG_ERROR); /* the drop at teardown warns */
	spio_app_opts_init(&o, sizeof(o));
	o.name = "test_event_senders";
	o.reactor_mask = "0x3";
	o.rpc_addr = NULL;
	o.no_huge = true;
	rc = spio_app_start(&o, start, NULL);
	/* The outside sender runs on until the reactors are gone. */
	pthread_join(g_s.ext, NULL);
	cr_assert_eq(rc, 0, "app: expected 0, got %d", rc);
	cr_assert_eq(g_s.ring_send_rc, 0, "a reactor's send failed: %d", g_s.ring_send_rc);
	cr_assert_not(g_s.wrong_core, "an event ran on the wrong reactor");
	for (int c = 0; c < 2; c++) {
		cr_assert_geq(g_s.ring[c], RING_EVENTS, "core %d ran %lu ring events, expected %d",
			      c, (unsigned long)g_s.ring[c], RING_EVENTS);
	}
	cr_assert(g_s.ext_last_rc == -ESHUTDOWN || g_s.ext_last_rc == -EINVAL,
		  "outside sender ended on %d, expected -ESHUTDOWN or -EINVAL", g_s.ext_last_rc);
	cr_assert_geq(g_s.ext_ran, EXT_RUNS_BEFORE_STOP, "only %lu outside events ran",
		      (unsigned long)g_s.ext_ran);
	cr_assert_leq(g_s.ext_ran, g_s.ext_sent, "%lu outside events ran, only %lu accepted",
		      (unsigned long)g_s.ext_ran, (unsigned long)g_s.ext_sent);
	/* After the app, a send is refused at once. */
	rc = spio_event_call(0, ext_event, NULL, NULL);
	cr_assert_eq(rc, -EINVAL, "send after the app: expected -EINVAL, got %d", rc);
}
