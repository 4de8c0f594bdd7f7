/*
 * The spio_threads of a fuzzer, polled in turn on the fuzzer's OS thread as
 * one reactor would: a registry that spio_thread_lib_init() fills, and
 * loops that poll every thread until they are quiet or a condition holds.
 * Not thread-safe: one OS thread, one registry per process.
 */
#ifndef SPIO_FUZZ_SHARED_THREADS_H
#define SPIO_FUZZ_SHARED_THREADS_H

#include <stdbool.h>
#include <stdint.h>

struct spio_thread;

/* Most threads the registry holds. */
#define FT_MAX_THREADS 16u

/* \return `ms` milliseconds in spio_get_ticks() units. */
uint64_t ft_ms_to_ticks(uint64_t ms);

/*
 * Add `t` to the registry: the new-thread callback for
 * spio_thread_lib_init(). \return 0, or -ENOSPC when it is full.
 */
int ft_thread_add(struct spio_thread *t);

/* One round over every registered thread not yet exited. \return true if any did work. */
bool ft_pump(void);

/*
 * Poll until `quiet_polls` rounds in a row did no work. Each round is
 * ft_pump() and then, if `more` is not NULL, more(arg), which returns true
 * when it did work too (e.g. read what a thread sent).
 * \return true once quiet; false when a round was still busy `ms` after the call.
 */
bool ft_pump_quiet(uint32_t quiet_polls, uint64_t ms, bool (*more)(void *arg), void *arg);

/*
 * Poll until done(arg) is true, checked before each round.
 * \return true once it is; false when it is still false `ms` after the call.
 */
bool ft_pump_until(bool (*done)(void *arg), void *arg, uint64_t ms);

/*
 * Ask every registered thread to exit, poll until all have (for up to `ms`
 * in all), then destroy them and empty the registry.
 * \return true; false when one had not exited in time (nothing destroyed).
 */
bool ft_threads_stop(uint64_t ms);

#endif
