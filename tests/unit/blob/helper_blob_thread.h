/* The blob tests' spio thread on the test's OS thread: start, poll, end. */
#ifndef HELPER_BLOB_THREAD_H
#define HELPER_BLOB_THREAD_H

struct spio_thread;

/* Init the env without hugepages for process `name`; a failure fails the test. */
void blob_test_env_init(const char *name);
/* Init the thread library and make a thread `name` current. */
struct spio_thread *blob_test_thread_start(const char *name);
/* Poll `t` `n` times. */
void blob_test_thread_poll(struct spio_thread *t, int n);
/* Exit `t` (asserting it lets go), destroy it, finish the thread library. */
void blob_test_thread_end(struct spio_thread *t);

#endif
