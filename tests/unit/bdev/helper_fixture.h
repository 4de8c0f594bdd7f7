/*
 * Test helper for bdev tests: the env (no hugepages), the thread library,
 * one spio thread made current, and the bdev layer; polling with a time
 * bound, for I/O that completes in the kernel at its own pace; short forms
 * of the malloc and null create calls.
 */
#ifndef SPIO_TEST_HELPER_FIXTURE_H
#define SPIO_TEST_HELPER_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spio/bdev.h"

struct spio_bdev;
struct spio_thread;
struct spio_uuid;

/* The fixture's spio thread (current on the test's OS thread). */
extern struct spio_thread *g_fx_thread;

/* Bring everything up (RPC state: runtime); a failure fails the test. */
void fx_init(const char *name);

/* spio_bdev_finish, then the thread, the library and the env. */
void fx_fini(void);

/* spio_bdev_finish() on the current thread, polled until done (10 s); a failure fails the test. */
void fx_bdev_finish(void);

/*
 * For tests that run several spio threads on the test's OS thread: the env
 * (no hugepages, process `name`), the thread library, `n` threads named
 * `name` in t[0..n-1], t[0] current. The bdev layer is the caller's to start.
 */
void fx_threads_init(const char *name, struct spio_thread **t, int n);

/* Poll each of the `n` threads once, entering each in turn. */
void fx_threads_poll(struct spio_thread **t, int n);

/*
 * spio_bdev_finish() on t[0], then every thread exited and destroyed, the
 * library and the env finished; all `n` threads are polled meanwhile, for a
 * bounded number of rounds (a hang fails the test).
 */
void fx_threads_fini(struct spio_thread **t, int n);

/*
 * A bdev opened for a test: the descriptor (a no-op event callback), an I/O
 * channel of it on the current thread, and a zeroed DMA buffer (4 KiB
 * aligned).
 */
struct fx_dev {
	struct spio_bdev_desc *desc;
	struct spio_io_channel *ch; /* a test that puts it itself sets it to NULL */
	uint8_t *buf;
};

/* A spio_bdev_event_cb that ignores every event (fx_dev_open's). */
void fx_dev_event(enum spio_bdev_event_type type, struct spio_bdev *bdev, void *ctx);

/* Open `name` (for writing if `write`) into `d`, with a `buf_size`-byte buffer; a failure fails the
 * test. */
void fx_dev_open(struct fx_dev *d, const char *name, bool write, size_t buf_size);

/* Put the channel (unless NULL), close the descriptor, free the buffer, poll for 1 ms. */
void fx_dev_close(struct fx_dev *d);

/* Poll the fixture's thread once. */
void fx_poll(void);

/* Poll until *counter >= want; false if `timeout_us` passed first. */
bool fx_poll_until(const int *counter, int want, uint64_t timeout_us);

/* Poll for about `us` microseconds. */
void fx_poll_for(uint64_t us);

/*
 * spio_bdev_wait_for_examine(), polling the current spio thread (not only
 * the fixture's) until it answers; a failure fails the test. Tests that
 * count I/O call it before their baseline: examine reads new bdevs (the
 * lvol module reads the first 4 KiB of each).
 */
void fx_wait_for_examine(void);

/*
 * A spio_json_write_cb that appends to a NUL-terminated malloc'ed string:
 * `ctx` is a `char **` (NULL to start); the caller frees it. -ENOMEM on
 * failure.
 */
int fx_json_to_string(void *ctx, const void *data, size_t size);

/* How long fx_rpc() polls for an answer. */
#define FX_RPC_TIMEOUT_US (20ULL * 1000 * 1000)

/*
 * Call `method` in-process (spio_rpc_call) with `params` (owned: released
 * here; NULL for none) and expect the error code `code` (0: success) and,
 * unless `want_text` is NULL, a message containing it. Returns the result
 * (the caller's reference; NULL for an error).
 */
json_t *fx_rpc(const char *method, json_t *params, int code, const char *want_text);

/* fx_rpc() with the params as JSON text (NULL: none). */
json_t *fx_rpc_text(const char *method, const char *params_json, int code, const char *want_text);

/* The bdev's save_config entry ({"method", "params"}), parsed; the caller's reference. */
json_t *fx_config_entry(struct spio_bdev *bdev);

/*
 * A malloc / null bdev of `num_blocks` blocks of `block_size` bytes with
 * every other option at its default (uuid NULL: generated), without an
 * error message: what most tests need. As spio_bdev_malloc_create() /
 * spio_bdev_null_create().
 */
int fx_malloc_create(const char *name, const struct spio_uuid *uuid, uint64_t num_blocks,
		     uint32_t block_size, struct spio_bdev **bdev);
int fx_null_create(const char *name, const struct spio_uuid *uuid, uint64_t num_blocks,
		   uint32_t block_size, struct spio_bdev **bdev);

#endif
