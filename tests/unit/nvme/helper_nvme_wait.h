/*
 * Test helper: waiting for something to happen, from a test's one OS
 * thread. The test says once (suite .init) what one round of polling is
 * (its spio threads, its qpair); poll_until() repeats that round until a
 * condition holds or a generous wall-clock limit passes, so no test
 * depends on how fast the machine is. Also one NVMe command's result and
 * the checks on it.
 *
 * Threads: the test's one OS thread only. What a round polls is the one
 * piece of state (per test process: Criterion forks each case).
 */
#ifndef SPIO_TEST_HELPER_NVME_WAIT_H
#define SPIO_TEST_HELPER_NVME_WAIT_H

#include <stdbool.h>
#include <stddef.h>

#include "spio/nvme_spec.h"
#include "spio/thread.h"

/* Wall-clock limit for anything to happen; generous for a loaded machine. */
#define WAIT_MS 20000

struct spio_nvme_qpair;

/* One command's result: how many times it completed (a second completion shows), the last entry. */
struct io_result {
	int count;
	struct spio_nvme_cpl cpl;
};

/* Completion callback (spio_nvme_cmd_cb) counting into arg, a struct io_result. */
void io_done(void *arg, const struct spio_nvme_cpl *cpl);

/* Set what one round of polling is (poll_all()); until set, a round does nothing. */
void wait_set_poll(void (*poll)(void));

/* One round of polling, as wait_set_poll() or wait_set_qpair_thread() set it. */
void poll_all(void);

/* Poll each of `n` spio threads once, in order; NULL or exited ones are passed over. */
void poll_threads(struct spio_thread *const *threads, size_t n);

/*
 * Set one round of polling to: the completions of `*qpair` (read at each
 * round; none while NULL), then `thread` (admin queue, tasks, a fake's poller).
 */
void wait_set_qpair_thread(struct spio_nvme_qpair **qpair, struct spio_thread *thread);

/* Poll (poll_all()) until `done(arg)`. \return false if WAIT_MS passed first. */
bool poll_until(bool (*done)(void *), void *arg);

/* Poll until `r` completed; fails the test after WAIT_MS. */
void wait_result(struct io_result *r, const char *what);

/* `r` completed exactly once, successfully; else fail the test naming `what`. */
void expect_success(const struct io_result *r, const char *what);

#endif
