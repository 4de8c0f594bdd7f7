/* Runner of the Criterion stand-in (see criterion/criterion.h). */
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

	fprintf(stderr, "[SKIP] ");
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

static int run_one(struct shim_test *t)
{
	struct shim_suite *s = find_suite(t->suite);
	void (*init)(void) = t->init ? t->init : (s ? s->init : NULL);
	void (*fini)(void) = t->fini ? t->fini : (s ? s->fini : NULL);
	double timeout = t->timeout > 0 ? t->timeout : (s && s->timeout > 0 ? s->timeout : 0);
	pid_t pid = fork();
	int status;

	if (pid == 0) {
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
		if (strncmp(argv[i], "--filter=", 9) == 0) {
			filter = argv[i] + 9;
		}
	}
	for (struct shim_test *t = g_tests; t; t = t->next) {
		char full[256];
		snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
		if (filter && strstr(full, filter) == NULL) {
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
	return failed ? 1 : 0;
}
