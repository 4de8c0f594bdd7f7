/*
 * Blob test bodies in a spio task (to use the _await twins) and checks that
 * work there. A Criterion assertion that fails inside a task jumps from the
 * task's stack to the test's, which AddressSanitizer then reports as a
 * stack overflow in Criterion: the CHECK macros below instead jump back to
 * the start of the task (same stack), and blob_task_run() fails the test on
 * the OS thread's own stack with the message. Outside a task they fail the
 * test at once. Only one body runs at a time.
 */
#ifndef HELPER_BLOB_TASK_H
#define HELPER_BLOB_TASK_H

#include <stdbool.h>
#include <stdint.h>

struct spio_thread;

/*
 * Run `body(arg)` in a task on `thread` (the calling OS thread's current
 * one) with a 1 MiB stack, polling it until the body returned or failed a
 * CHECK; a failure fails the test here, with the check's message.
 */
void blob_task_run(struct spio_thread *thread, void (*body)(void *arg), void *arg);

void blob_task_check(bool ok, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void blob_task_check_eq(int64_t got, int64_t want, const char *file, int line, const char *expr,
			const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/*
 * The message arguments are optional: a format string (a literal) and its
 * values, which are evaluated even when the check passes.
 */
#define CHECK(cond, ...) blob_task_check((cond), __FILE__, __LINE__, #cond, " " __VA_ARGS__)
#define CHECK_NOT(cond, ...) \
	blob_task_check(!(cond), __FILE__, __LINE__, "!(" #cond ")", " " __VA_ARGS__)
#define CHECK_EQ(a, b, ...)                                                              \
	blob_task_check_eq((int64_t)(a), (int64_t)(b), __FILE__, __LINE__, #a " == " #b, \
			   " " __VA_ARGS__)
#define CHECK_NEQ(a, b, ...) \
	blob_task_check((a) != (b), __FILE__, __LINE__, #a " != " #b, " " __VA_ARGS__)
#define CHECK_NULL(p, ...) \
	blob_task_check((p) == NULL, __FILE__, __LINE__, #p " == NULL", " " __VA_ARGS__)
#define CHECK_NOT_NULL(p, ...) \
	blob_task_check((p) != NULL, __FILE__, __LINE__, #p " != NULL", " " __VA_ARGS__)
#define CHECK_FAIL(...) blob_task_check(false, __FILE__, __LINE__, "failed", " " __VA_ARGS__)

#endif /* HELPER_BLOB_TASK_H */
