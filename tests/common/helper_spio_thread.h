/*
 * The unit tests' spio set-up on the test's OS thread, written once for every
 * test directory (tests/common is built into the spio_test_common library):
 * the env without hugepages, the thread library with one spio thread made
 * current, and the reverse. Every failure fails the running test (Criterion
 * assertions), so call these from a test or a suite's .init / .fini only.
 */
#ifndef SPIO_TEST_HELPER_SPIO_THREAD_H
#define SPIO_TEST_HELPER_SPIO_THREAD_H

struct spio_thread;

/* spio_env_init() without hugepages for process `name`. */
void test_env_init(const char *name);

/* spio_thread_lib_init(), then a thread named `name` made current; the caller ends it. */
struct spio_thread *test_thread_start(const char *name);

/*
 * Exit `t` (made current for that), polling it up to `max_polls` times until
 * it has exited (a thread still holding pollers, channels or messages fails
 * the test), make no thread current and destroy `t`.
 */
void test_thread_exit(struct spio_thread *t, int max_polls);

/* test_thread_exit(), then spio_thread_lib_fini(). The env stays up. */
void test_thread_end(struct spio_thread *t, int max_polls);

#endif
