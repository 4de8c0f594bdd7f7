/*
 * A minimal stand-in for Criterion's test API, used only by the
 * ThreadSanitizer build: Criterion 2.4's runner cannot start under TSan (its
 * boxfort arena maps memory at random fixed addresses that TSan reserves).
 * The same test sources compile against either; this runner forks one child
 * per test, like Criterion, and runs them one after another.
 *
 * Supports: Test(suite, name, .init/.fini/.timeout), TestSuite(name, ...),
 * cr_assert*, cr_skip_test, cr_log_info. Anything else should fail to compile here.
 */
#ifndef SPIO_CRITERION_SHIM_H
#define SPIO_CRITERION_SHIM_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h> /* Criterion's header brings it in; tests rely on that */
#include <string.h>

struct shim_suite {
	const char *name;
	void (*init)(void);
	void (*fini)(void);
	double timeout;
	struct shim_suite *next;
};

struct shim_test {
	const char *suite;
	const char *name;
	void (*fn)(void);
	void (*init)(void);
	void (*fini)(void);
	double timeout;
	struct shim_test *next;
};

void shim_register_test(struct shim_test *t);
void shim_register_suite(struct shim_suite *s);
void shim_fail(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
void shim_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#define Test(suite_, name_, ...)                                                           \
	static void suite_##_##name_##_impl(void);                                         \
	static struct shim_test suite_##_##name_##_desc = {                                \
	    .suite = #suite_, .name = #name_, .fn = suite_##_##name_##_impl, __VA_ARGS__}; \
	__attribute__((constructor)) static void suite_##_##name_##_reg(void)              \
	{                                                                                  \
		shim_register_test(&suite_##_##name_##_desc);                              \
	}                                                                                  \
	static void suite_##_##name_##_impl(void)

#define TestSuite(suite_, ...)                                                         \
	static struct shim_suite shim_suite_##suite_ = {.name = #suite_, __VA_ARGS__}; \
	__attribute__((constructor)) static void shim_suite_reg_##suite_(void)         \
	{                                                                              \
		shim_register_suite(&shim_suite_##suite_);                             \
	}

#define SHIM_CHECK(cond, text, ...)                                           \
	do {                                                                  \
		if (!(cond)) {                                                \
			shim_fail(__FILE__, __LINE__, text, " " __VA_ARGS__); \
		}                                                             \
	} while (0)

#define cr_assert(cond, ...) SHIM_CHECK((cond), #cond, __VA_ARGS__)
#define cr_assert_not(cond, ...) SHIM_CHECK(!(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_assert_fail(...) shim_fail(__FILE__, __LINE__, "cr_assert_fail", " " __VA_ARGS__)
#define cr_assert_eq(a, b, ...) SHIM_CHECK((a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) SHIM_CHECK((a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) SHIM_CHECK((a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) SHIM_CHECK((a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) SHIM_CHECK((a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) SHIM_CHECK((a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...) SHIM_CHECK((p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) SHIM_CHECK((p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) SHIM_CHECK(strcmp((a), (b)) == 0, #a " == " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) SHIM_CHECK(strcmp((a), (b)) != 0, #a " != " #b, __VA_ARGS__)
#define cr_assert_str_empty(a, ...) SHIM_CHECK((a)[0] == '\0', #a " is empty", __VA_ARGS__)
#define cr_assert_str_not_empty(a, ...) SHIM_CHECK((a)[0] != '\0', #a " is not empty", __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...)                                                 \
	SHIM_CHECK(((a) - (b) <= (eps)) && ((b) - (a) <= (eps)), #a " == " #b " +- " #eps, \
		   __VA_ARGS__)
#define cr_assert_arr_eq(a, b, size, ...) \
	SHIM_CHECK(memcmp((a), (b), (size)) == 0, #a " == " #b, __VA_ARGS__)
#define cr_skip_test(...) shim_skip(" " __VA_ARGS__)
/* Criterion prints it as an info line of the test; here it goes to stderr. */
#define cr_log_info(...) ((void)fprintf(stderr, "[INFO] " __VA_ARGS__), (void)fputc('\n', stderr))

/* cr_expect_*: Criterion goes on after a failed expectation; the shim stops
 * at it. Same pass / fail verdict, fewer messages on a failing run. */
#define cr_expect cr_assert
#define cr_expect_not cr_assert_not
#define cr_expect_eq cr_assert_eq
#define cr_expect_neq cr_assert_neq
#define cr_expect_lt cr_assert_lt
#define cr_expect_leq cr_assert_leq
#define cr_expect_gt cr_assert_gt
#define cr_expect_geq cr_assert_geq
#define cr_expect_null cr_assert_null
#define cr_expect_not_null cr_assert_not_null
#define cr_expect_str_eq cr_assert_str_eq
#define cr_expect_str_neq cr_assert_str_neq
#define cr_expect_arr_eq cr_assert_arr_eq

#endif
