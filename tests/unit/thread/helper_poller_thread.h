/*
 * One spio thread, current on the calling OS thread, for the poller tests:
 * the library and the thread made in a suite's .init, and in its .fini the
 * thread exited (polled until it is) and destroyed, asserting that no poller
 * was left registered.
 */
#ifndef SPIO_TEST_HELPER_POLLER_THREAD_H
#define SPIO_TEST_HELPER_POLLER_THREAD_H

struct spio_thread;

/* spio_thread_lib_init, a thread named `name`, made current. */
struct spio_thread *poller_thread_start(const char *name);

/* Exit `t` (polling it up to 1000 times), destroy it, spio_thread_lib_fini. */
void poller_thread_finish(struct spio_thread *t);

#endif
