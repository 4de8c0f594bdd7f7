/*
 * The blob tests' spio thread on the test's OS thread: start, poll, end (the
 * set-up and the teardown are tests/common/helper_spio_thread's).
 */
#ifndef HELPER_BLOB_THREAD_H
#define HELPER_BLOB_THREAD_H

#include "helper_spio_thread.h"

struct spio_thread;

/* Init the env without hugepages for process `name`; a failure fails the test. */
#define blob_test_env_init(name) test_env_init(name)
/* Init the thread library and make a thread `name` current. */
#define blob_test_thread_start(name) test_thread_start(name)
/* Poll `t` `n` times. */
void blob_test_thread_poll(struct spio_thread *t, int n);
/* Exit `t` (asserting it lets go within 1000 polls), destroy it, finish the thread library. */
#define blob_test_thread_end(t) test_thread_end((t), 1000)

#endif
