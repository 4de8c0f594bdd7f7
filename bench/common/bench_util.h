/* Helpers shared by the bench/ programs: JSON output, rounding, timing, args. */
#ifndef SPIO_BENCH_UTIL_H
#define SPIO_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* spio_json_write_cb that writes to the FILE * passed as ctx. */
int bench_file_write_cb(void *ctx, const void *data, size_t size);

/* Round to `digits` decimals so the JSON shows no measurement-noise digits. */
double bench_round_to(double x, int digits);

/* Ticks (spio_get_ticks) to nanoseconds. */
double bench_ticks_to_ns(uint64_t ticks);

/* Spin-wait hint. */
static inline void bench_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * Parse the value of "-t ms" (1 .. 600000 milliseconds per run) into *ms.
 * Prints a message naming `prog` and returns -EINVAL when it is not one.
 */
int bench_parse_ms(const char *prog, const char *value, uint64_t *ms);

/* Parse a command line that accepts only "-t ms"; prints usage on error. */
int bench_parse_args(int argc, char **argv, uint64_t *ms);

#endif
