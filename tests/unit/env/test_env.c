/* Environment init/fini, cores and the tick clock. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "spio/env.h"

static void env_fini(void)
{
	spio_env_fini();
}

TestSuite(env, .fini = env_fini);

static int init_with_mask(const char *mask)
{
	struct spio_env_opts opts;

	spio_env_opts_init(&opts, sizeof(opts));
	opts.no_huge = true;
	opts.core_mask = mask;
	return spio_env_init(&opts);
}

Test(env, opts_defaults_and_bad_opts)
{
	struct spio_env_opts opts;

	spio_env_opts_init(&opts, sizeof(opts));
	cr_assert_eq(opts.opts_size, sizeof(opts));
	cr_assert_eq(opts.no_huge, false);
	cr_assert_eq(opts.mem_size_mb, 0);
	cr_assert_null(opts.core_mask);
	cr_assert_eq(spio_env_init(NULL), -EINVAL);
	opts.opts_size = 0;
	cr_assert_eq(spio_env_init(&opts), -EINVAL);
	cr_assert(!spio_env_is_initialized());
}

Test(env, double_init_is_ealready)
{
	cr_assert_eq(init_with_mask(NULL), 0);
	cr_assert(spio_env_is_initialized());
	cr_assert_eq(init_with_mask(NULL), -EALREADY);
	spio_env_fini();
	cr_assert(!spio_env_is_initialized());
	cr_assert_eq(init_with_mask(NULL), 0, "init after fini works again");
}

Test(env, cores_follow_affinity)
{
	cpu_set_t cpus;
	cr_assert_eq(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
	cr_assert_eq(init_with_mask(NULL), 0);
	cr_assert_eq(spio_env_get_core_count(), (uint32_t)CPU_COUNT(&cpus));

	uint32_t i, seen = 0, prev = 0;
	SPIO_ENV_FOREACH_CORE (i) {
		cr_assert(CPU_ISSET(i, &cpus), "core %u not in affinity", i);
		if (seen) {
			cr_assert_gt(i, prev, "cores must come in increasing order");
		}
		prev = i;
		seen++;
	}
	cr_assert_eq(seen, spio_env_get_core_count());
	cr_assert_eq(spio_env_get_last_core(), prev);
	cr_assert_eq(spio_env_get_next_core(prev), UINT32_MAX);
	cr_assert_eq(spio_env_get_next_core(5000), UINT32_MAX);
	cr_assert(CPU_ISSET(spio_env_get_current_core(), &cpus));
}

Test(env, core_mask_selects_and_validates)
{
	cr_assert_eq(init_with_mask("0x1"), 0);
	cr_assert_eq(spio_env_get_core_count(), 1);
	cr_assert_eq(spio_env_get_first_core(), 0);
	cr_assert_eq(spio_env_thread_set_affinity(0), 0);
	cr_assert_eq(spio_env_get_current_core(), 0);
	cr_assert_eq(spio_env_thread_set_affinity(1), -EINVAL, "core 1 is not in the mask");
	cr_assert_eq(spio_env_thread_set_affinity(99999), -EINVAL);
	spio_env_fini();

	cr_assert_eq(init_with_mask("[1023]"), -EINVAL, "core outside the affinity");
	cr_assert_eq(init_with_mask("0xZ"), -EINVAL);
	cr_assert_eq(init_with_mask(""), -EINVAL);
	cr_assert_eq(init_with_mask("0x0"), -EINVAL, "empty mask");
	cr_assert(!spio_env_is_initialized(), "failed init leaves nothing initialised");
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * Ticks over a sleep, bracketed by CLOCK_MONOTONIC readings on both sides:
 * the ticks' interval holds [inner_us] and lies within [outer_us]. A
 * preemption between readings widens the bracket, so a loaded machine
 * cannot make the checks below fail; only a wrong rate can.
 */
struct clock_bracket {
	uint64_t ticks_us, inner_us, outer_us;
};

static struct clock_bracket measure_sleep(long ns)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ns};
	uint64_t m0 = mono_us(), t0 = spio_get_ticks(), m1 = mono_us();
	nanosleep(&ts, NULL);
	uint64_t m2 = mono_us(), t1 = spio_get_ticks(), m3 = mono_us();

	return (struct clock_bracket){
	    .ticks_us = spio_ticks_to_us(t1 - t0), .inner_us = m2 - m1, .outer_us = m3 - m0};
}

Test(clock, hundred_ms_measures_hundred_ms)
{
	uint64_t hz = spio_get_ticks_hz();
	cr_assert_gt(hz, 1000000, "tick rate %lu Hz is implausible", hz);

	struct clock_bracket b = measure_sleep(100 * 1000 * 1000);
	/* a sleep never ends early; 1 % for the tick rate's calibration */
	cr_assert_geq(b.ticks_us, 99000, "100 ms of sleep measured as %lu us", b.ticks_us);
	cr_assert_leq(b.ticks_us, b.outer_us + b.outer_us / 100 + 2,
		      "ticks say %lu us, CLOCK_MONOTONIC at most %lu us", b.ticks_us, b.outer_us);
}

Test(clock, agrees_with_monotonic_over_time)
{
	struct clock_bracket b = measure_sleep(50 * 1000 * 1000);

	cr_assert(b.ticks_us + b.inner_us / 100 + 2 >= b.inner_us &&
		      b.ticks_us <= b.outer_us + b.outer_us / 100 + 2,
		  "ticks say %lu us; CLOCK_MONOTONIC between %lu and %lu us", b.ticks_us,
		  b.inner_us, b.outer_us);
}

Test(clock, conversions)
{
	uint64_t hz = spio_get_ticks_hz();
	cr_assert_eq(spio_us_to_ticks(1000000), hz);
	cr_assert_eq(spio_ticks_to_us(hz), 1000000);
	cr_assert_eq(spio_ticks_to_us(0), 0);
	uint64_t big = 1000ULL * 1000 * 1000 * 1000 * 10; /* ~ months of ticks */
	cr_assert_eq(spio_ticks_to_us(big), big / hz * 1000000 + big % hz * 1000000 / hz);
}

static void *ticks_thread(void *arg)
{
	uint64_t *out = arg;
	*out = spio_get_ticks();
	return NULL;
}

Test(clock, monotonic_across_threads)
{
	uint64_t before = spio_get_ticks(), other;
	pthread_t t;
	pthread_create(&t, NULL, ticks_thread, &other);
	pthread_join(t, NULL);
	uint64_t after = spio_get_ticks();
	cr_assert(before <= other && other <= after, "ticks out of order across threads");
}
