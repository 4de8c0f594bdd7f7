/*
 * Runner of the Criterion stand-in (see criterion/criterion.h). Options, as
 * Criterion's: --list, --filter=PATTERN (or --filter PATTERN; a glob matched
 * against "suite/name"); others (--jobs, --ascii) are accepted and ignored.
 * Exit code, as tests/shim/criterion_main.c gives the Criterion binaries: 1 when
 * a test failed, 77 when every test that ran skipped (CTest's
 * SKIP_RETURN_CODE), else 0. Each skip prints "[SKIP] suite::name: reason".
 */
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criterion/criterion.h"

#define SHIM_EXIT_SKIP 77
#define SHIM_DEFAULT_TIMEOUT 600

static struct shim_test *g_tests;
static struct shim_suite *g_suites;
/* The test this (child) process runs, named in its failure and skip lines. */
static struct shim_test *g_current;

void shim_register_test(struct shim_test *t)
{
	/* Keep source order: append. */
	struct shim_test **p = &g_tests;
	while (*p) {
		p = &(*p)->next;
	}
	*p = t;
}

void shim_register_suite(struct shim_suite *s)
{
	s->next = g_suites;
	g_suites = s;
}

void shim_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[----] %s:%d: Assertion Failed: %s\n[----]   ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	_exit(1);
}

void shim_skip(const char *fmt, ...)
{
	va_list ap;

	/* The line scripts/ctest-summary.sh reports as the reason; fmt starts with ' '. */
	fprintf(stderr, "[SKIP] %s::%s:", g_current->suite, g_current->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	_exit(SHIM_EXIT_SKIP);
}

static struct shim_suite *find_suite(const char *name)
{
	for (struct shim_suite *s = g_suites; s; s = s->next) {
		if (strcmp(s->name, name) == 0) {
			return s;
		}
	}
	return NULL;
}

static bool selected(const struct shim_test *t, const char *filter)
{
	char full[256];

	if (filter == NULL) {
		return true;
	}
	snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
	return fnmatch(filter, full, 0) == 0;
}

/* Criterion's --list format (ASCII): "suite: N tests", then "|-- name" per test. */
static void list_tests(void)
{
	for (struct shim_test *first = g_tests; first; first = first->next) {
		struct shim_test *last = NULL;
		int n = 0;
		bool seen = false;

		for (struct shim_test *t = g_tests; t != first; t = t->next) {
			seen = seen || strcmp(t->suite, first->suite) == 0;
		}
		if (seen) {
			continue;
		}
		for (struct shim_test *t = first; t; t = t->next) {
			if (strcmp(t->suite, first->suite) == 0) {
				last = t;
				n++;
			}
		}
		printf("%s: %d test%s\n", first->suite, n, n == 1 ? "" : "s");
		for (struct shim_test *t = first; t; t = t->next) {
			if (strcmp(t->suite, first->suite) == 0) {
				printf("%s %s\n", t == last ? "`--" : "|--", t->name);
			}
		}
	}
}

static int run_one(struct shim_test *t)
{
	struct shim_suite *s = find_suite(t->suite);
	void (*init)(void) = t->init ? t->init : (s ? s->init : NULL);
	void (*fini)(void) = t->fini ? t->fini : (s ? s->fini : NULL);
	double timeout = t->timeout > 0 ? t->timeout : (s && s->timeout > 0 ? s->timeout : 0);
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		g_current = t;
		alarm(timeout > 0 ? (unsigned)timeout + 1 : SHIM_DEFAULT_TIMEOUT);
		if (init) {
			init();
		}
		t->fn();
		if (fini) {
			fini();
		}
		fflush(NULL);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		return 1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == SHIM_EXIT_SKIP) {
		return 2;
	}
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "[----] %s::%s: CRASH (signal %d%s)\n", t->suite, t->name,
			WTERMSIG(status), WTERMSIG(status) == SIGALRM ? ", timeout" : "");
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *filter = NULL;
	int passed = 0, failed = 0, skipped = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--list") == 0 || strcmp(argv[i], "-l") == 0) {
			list_tests();
			return 0;
		}
		if (strncmp(argv[i], "--filter=", 9) == 0) {
			filter = argv[i] + 9;
		} else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
			filter = argv[++i];
		}
	}
	for (struct shim_test *t = g_tests; t; t = t->next) {
		if (!selected(t, filter)) {
			continue;
		}
		switch (run_one(t)) {
		case 0:
			passed++;
			printf("[PASS] %s::%s\n", t->suite, t->name);
			break;
		case 2:
			skipped++;
			printf("[SKIP] %s::%s\n", t->suite, t->name);
			break;
		default:
			failed++;
			printf("[FAIL] %s::%s\n", t->suite, t->name);
			break;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	if (failed) {
		return 1;
	}
	return skipped && !passed ? SHIM_EXIT_SKIP : 0;
}
