/*
 * spdk-io: CPU sets (core masks).
 *
 * A struct spio_cpuset is a fixed-size bit set of up to SPIO_CPUSET_MAX_CORES
 * cores. It is a plain value: put it on the stack, embed it, copy it with
 * spio_cpuset_copy() or by assignment. A zero-initialised struct
 * (`struct spio_cpuset s = {0};`) is the empty set.
 *
 * Text forms accepted by spio_cpuset_parse() (the same as SPDK's -m option):
 *   - hex mask with prefix:    "0x3", "0X3f", up to 256 significant hex digits
 *   - hex mask without prefix: "3" (cores 0 and 1), "f" (cores 0-3). A bare
 *     string of hex digits is always a mask, never a core number: "10" is
 *     core 4, not core 10. Write "[10]" for core 10.
 *   - core list in brackets:   "[0-3,7]", "[0,2-4]", "[5]"; spaces and tabs
 *     around numbers, ',' and '-' are allowed inside the brackets
 *   - core list without brackets, recognised by containing ',' or '-':
 *     "0-3,7", "2-4" (no whitespace allowed)
 * Core numbers in lists are decimal; ranges are inclusive and ascending.
 *
 * Thread rules: no function keeps state between calls. Every function may be
 * called from any thread at the same time as others, provided no set being
 * written is accessed concurrently by another thread (sets are not locked).
 * Nothing is allocated: sets, strings and buffers are the caller's, used
 * during the call only.
 */
#ifndef SPIO_CPUSET_H
#define SPIO_CPUSET_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Number of cores a set can hold: cores 0 .. SPIO_CPUSET_MAX_CORES - 1. */
#define SPIO_CPUSET_MAX_CORES 1024

/**
 * Buffer size (including the terminating NUL) that holds the hex form of any
 * set: "0x" + 256 digits + NUL.
 */
#define SPIO_CPUSET_STR_MAX (2 + SPIO_CPUSET_MAX_CORES / 4 + 1)

/**
 * Buffer size (including the terminating NUL) that holds the list form of any
 * set. The longest list is "[0-1,3-4,6-7,...,1020-1021,1023]" (two cores of
 * every three); it needs exactly this many bytes.
 */
#define SPIO_CPUSET_LIST_STR_MAX 2676

/**
 * A set of cores. Define it wherever a value is needed; the fields are private
 * and may change: use only the functions below.
 */
struct spio_cpuset {
	/* private: bit (core % 64) of word (core / 64) is core `core` */
	uint64_t bits_[SPIO_CPUSET_MAX_CORES / 64];
};

/**
 * Visit every core in `set` in ascending order. `core` is an int variable;
 * after the loop it is -1. The body may change other cores of `set`: a core
 * above the current one that is added is visited, one that is removed is not.
 */
#define SPIO_CPUSET_FOREACH(core, set) \
	for ((core) = spio_cpuset_first(set); (core) >= 0; (core) = spio_cpuset_next((set), (core)))

/**
 * Remove every core from `set`.
 *
 * \return 0, or -EINVAL if `set` is NULL.
 */
int spio_cpuset_zero(struct spio_cpuset *set);

/**
 * Add (`state` true) or remove (`state` false) one core.
 *
 * \return 0, or -EINVAL if `set` is NULL or `core` >= SPIO_CPUSET_MAX_CORES
 *         (the set is untouched).
 */
int spio_cpuset_set_cpu(struct spio_cpuset *set, uint32_t core, bool state);

/**
 * Whether `core` is in `set`.
 *
 * \return true if it is; false if it is not, if `core` >= SPIO_CPUSET_MAX_CORES
 *         or if `set` is NULL.
 */
bool spio_cpuset_get_cpu(const struct spio_cpuset *set, uint32_t core);

/**
 * Make `dst` equal to `src`. `dst` and `src` may be the same set.
 *
 * \return 0, or -EINVAL if either is NULL (`dst` is untouched).
 */
int spio_cpuset_copy(struct spio_cpuset *dst, const struct spio_cpuset *src);

/**
 * dst = dst AND src (keep the cores that are in both).
 *
 * \return 0, or -EINVAL if either is NULL (`dst` is untouched).
 */
int spio_cpuset_and(struct spio_cpuset *dst, const struct spio_cpuset *src);

/**
 * dst = dst OR src (add the cores of `src`).
 *
 * \return 0, or -EINVAL if either is NULL (`dst` is untouched).
 */
int spio_cpuset_or(struct spio_cpuset *dst, const struct spio_cpuset *src);

/**
 * dst = dst XOR src (the cores that are in exactly one of the two).
 *
 * \return 0, or -EINVAL if either is NULL (`dst` is untouched).
 */
int spio_cpuset_xor(struct spio_cpuset *dst, const struct spio_cpuset *src);

/**
 * Complement `set` within cores 0 .. SPIO_CPUSET_MAX_CORES - 1.
 *
 * \return 0, or -EINVAL if `set` is NULL.
 */
int spio_cpuset_negate(struct spio_cpuset *set);

/**
 * Whether two sets hold the same cores.
 *
 * \return true if they do; false if they differ or either is NULL.
 */
bool spio_cpuset_equal(const struct spio_cpuset *a, const struct spio_cpuset *b);

/** Number of cores in `set`; 0 if `set` is NULL. */
uint32_t spio_cpuset_count(const struct spio_cpuset *set);

/** Lowest core in `set`, or -1 if the set is empty or NULL. */
int spio_cpuset_first(const struct spio_cpuset *set);

/**
 * Lowest core in `set` that is greater than `prev`.
 *
 * \param prev a core number; -1 (or any negative value) gives the first core.
 * \return the core, or -1 if there is none or `set` is NULL.
 */
int spio_cpuset_next(const struct spio_cpuset *set, int prev);

/**
 * Parse a core mask or core list (forms in the comment at the top of this file).
 *
 * The string is parsed completely before `set` is written: on error `set`
 * keeps its old contents. Note that "[]" is rejected even though it is what
 * spio_cpuset_fmt_list() writes for the empty set; "0x0" parses as empty.
 *
 * \param set receives exactly the cores named (it is not merged).
 * \param str NUL-terminated text; not kept.
 * \return 0, or -EINVAL if a pointer is NULL or `str` is empty, malformed,
 *         has trailing characters, an unbalanced bracket, an empty list item,
 *         a descending range, or names a core >= SPIO_CPUSET_MAX_CORES.
 */
int spio_cpuset_parse(struct spio_cpuset *set, const char *str);

/**
 * Write the hex form of `set`: "0x" and lower-case digits without leading
 * zeros ("0x3"; the empty set is "0x0"). spio_cpuset_parse() reads it back.
 *
 * \param buf receives the NUL-terminated text.
 * \param len size of `buf`; SPIO_CPUSET_STR_MAX is always enough.
 * \return 0; -ENOSPC if the text and its NUL do not fit in `len` bytes (`buf`
 *         then holds an empty string); -EINVAL if a pointer is NULL or `len`
 *         is 0 (`buf` untouched).
 */
int spio_cpuset_fmt_hex(const struct spio_cpuset *set, char *buf, size_t len);

/**
 * Write the list form of `set`: ascending decimal cores in brackets, runs of
 * two or more consecutive cores collapsed to "a-b" ("[0-3,7]"; the empty set
 * is "[]"). spio_cpuset_parse() reads back every non-empty list.
 *
 * \param buf receives the NUL-terminated text.
 * \param len size of `buf`; SPIO_CPUSET_LIST_STR_MAX is always enough.
 * \return 0; -ENOSPC if the text and its NUL do not fit in `len` bytes (`buf`
 *         then holds an empty string); -EINVAL if a pointer is NULL or `len`
 *         is 0 (`buf` untouched).
 */
int spio_cpuset_fmt_list(const struct spio_cpuset *set, char *buf, size_t len);

/**
 * Set `set` to the cores the calling thread may run on (sched_getaffinity(0)).
 *
 * Allowed CPUs numbered SPIO_CPUSET_MAX_CORES or above, which exist only on
 * very large machines, are left out.
 *
 * \return 0; -EINVAL if `set` is NULL; -ERANGE if every allowed CPU is
 *         numbered SPIO_CPUSET_MAX_CORES or above; another negative errno if
 *         sched_getaffinity() fails. On error `set` is untouched.
 */
int spio_cpuset_from_affinity(struct spio_cpuset *set);

/**
 * Convert to a cpu_set_t (glibc's is 1024 bits, the same as a spio_cpuset),
 * e.g. for pthread_setaffinity_np(thread, sizeof(cpu_set_t), &cs).
 *
 * \return 0, or -EINVAL if a pointer is NULL (`out` untouched).
 */
int spio_cpuset_to_cpu_set_t(const struct spio_cpuset *set, cpu_set_t *out);

/**
 * Set `set` to the cores of a cpu_set_t.
 *
 * \return 0, or -EINVAL if a pointer is NULL (`set` untouched).
 */
int spio_cpuset_from_cpu_set_t(struct spio_cpuset *set, const cpu_set_t *in);

#ifdef __cplusplus
}
#endif

#endif /* SPIO_CPUSET_H */
