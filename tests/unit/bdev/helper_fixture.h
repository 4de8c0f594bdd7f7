/*
 * Test helper for bdev tests: the env (no hugepages), the thread library,
 * one spio thread made current, and the bdev layer; polling with a time
 * bound, for I/O that completes in the kernel at its own pace.
 */
#ifndef SPIO_TEST_HELPER_FIXTURE_H
#define SPIO_TEST_HELPER_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spio_thread;

/* The fixture's spio thread (current on the test's OS thread). */
extern struct spio_thread *g_fx_thread;

/* Bring everything up; a failure fails the test. */
void fx_init(const char *name);

/* spio_bdev_finish, then the thread, the library and the env. */
void fx_fini(void);

/* Poll the fixture's thread once. */
void fx_poll(void);

/* Poll until *counter >= want; false if `timeout_us` passed first. */
bool fx_poll_until(const int *counter, int want, uint64_t timeout_us);

/* Poll for about `us` microseconds. */
void fx_poll_for(uint64_t us);

/*
 * A spio_json_write_cb that appends to a NUL-terminated malloc'ed string:
 * `ctx` is a `char **` (NULL to start); the caller frees it. -ENOMEM on
 * failure.
 */
int fx_json_to_string(void *ctx, const void *data, size_t size);

#endif
