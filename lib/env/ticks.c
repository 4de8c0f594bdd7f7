/*
 * Tick clock: the TSC on x86-64 when the CPU says it is invariant or the
 * kernel itself keeps time with it, otherwise CLOCK_MONOTONIC in
 * nanoseconds. The choice is made once at load time so
 * spio_get_ticks() is a branch and an rdtsc.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "spio/env.h"

#define NSEC_PER_SEC 1000000000ULL

static bool g_use_tsc;
static uint64_t g_ticks_hz;
static pthread_once_t g_calibrate_once = PTHREAD_ONCE_INIT;

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
/* The TSC is usable as a clock only when it ticks at a constant rate in every
 * P-state (constant_tsc) and keeps ticking in deep C-states (nonstop_tsc). */
static bool cpu_has_invariant_tsc(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool constant = false, nonstop = false;

	if (f == NULL) {
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) == 0) {
			constant = strstr(line, " constant_tsc") != NULL;
			nonstop = strstr(line, " nonstop_tsc") != NULL;
			break;
		}
	}
	fclose(f);
	return constant && nonstop;
}

/*
 * A CPU that does not report the flags (QEMU's TCG, some hypervisors) may
 * still have a TSC the kernel found stable: then its clocksource is "tsc".
 * Without this, every poll would pay a clock_gettime that may trap to an
 * emulated HPET.
 */
static bool kernel_clock_is_tsc(void)
{
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
	char name[32] = "";

	if (f == NULL) {
		return false;
	}
	if (fgets(name, sizeof(name), f) == NULL) {
		name[0] = '\0';
	}
	fclose(f);
	name[strcspn(name, "\n")] = '\0';
	return strcmp(name, "tsc") == 0;
}
#endif

__attribute__((constructor)) static void ticks_select_source(void)
{
#if defined(__x86_64__)
	g_use_tsc = cpu_has_invariant_tsc() || kernel_clock_is_tsc();
#endif
}

uint64_t spio_get_ticks(void)
{
#if defined(__x86_64__)
	if (__builtin_expect(g_use_tsc, 1)) {
		return __rdtsc();
	}
#endif
	return monotonic_ns();
}

static void calibrate(void)
{
	if (!g_use_tsc) {
		g_ticks_hz = NSEC_PER_SEC;
		return;
	}
#if defined(__x86_64__)
	/* Sleep ~10 ms between two paired (ns, tsc) samples; taking the tsc read
	 * closest to each clock read keeps the error in the 1e-5 range. */
	struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
	uint64_t ns0 = monotonic_ns();
	uint64_t tsc0 = __rdtsc();
	nanosleep(&pause, NULL);
	uint64_t ns1 = monotonic_ns();
	uint64_t tsc1 = __rdtsc();
	uint64_t hz =
	    (uint64_t)((double)(tsc1 - tsc0) * (double)NSEC_PER_SEC / (double)(ns1 - ns0));

	/* Round to 10 kHz: calibration noise is larger than that anyway. */
	g_ticks_hz = (hz + 5000) / 10000 * 10000;
#endif
}

uint64_t spio_get_ticks_hz(void)
{
	pthread_once(&g_calibrate_once, calibrate);
	return g_ticks_hz;
}

uint64_t spio_ticks_to_us(uint64_t ticks)
{
	uint64_t hz = spio_get_ticks_hz();

	/* Split to avoid overflowing ticks * 1e6. */
	return ticks / hz * 1000000ULL + ticks % hz * 1000000ULL / hz;
}

uint64_t spio_us_to_ticks(uint64_t us)
{
	uint64_t hz = spio_get_ticks_hz();

	return us / 1000000ULL * hz + us % 1000000ULL * hz / 1000000ULL;
}
