/* Blob test bodies in a spio task, and checks that fail them safely (see helper_blob_task.h). */
#include "helper_blob_task.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "spio/task.h"
#include "spio/thread.h"

struct runner {
	void (*body)(void *arg);
	void *arg;
	jmp_buf failed_at;
	bool done;
	bool failed;
	char msg[4096];
};

/* The body running now, if any. */
static struct runner *g_runner;

static int runner_fn(void *arg)
{
	struct runner *r = arg;

	if (setjmp(r->failed_at) == 0) {
		r->body(r->arg);
	} else {
		r->failed = true;
	}
	r->done = true;
	return 0;
}

void blob_task_run(struct spio_thread *thread, void (*body)(void *arg), void *arg)
{
	struct runner *r = calloc(1, sizeof(*r));
	struct spio_task_opts o;
	char msg[sizeof(r->msg)];
	int rc;

	cr_assert_not_null(r);
	cr_assert_null(g_runner, "one task body at a time");
	r->body = body;
	r->arg = arg;
	spio_task_opts_init(&o, sizeof(o));
	o.stack_size = 1024 * 1024;
	o.name = "blob_test";
	g_runner = r;
	rc = spio_task_spawn(runner_fn, r, &o, NULL);
	cr_assert_eq(rc, 0, "spio_task_spawn: %d", rc);
	/* a hang is left to the test's timeout */
	while (!r->done) {
		spio_thread_poll(thread, 0, 0);
	}
	g_runner = NULL;
	snprintf(msg, sizeof(msg), "%s", r->msg);
	rc = r->failed;
	free(r);
	if (rc) {
		cr_assert_fail("%s", msg);
	}
}

static void fail(const char *file, int line, const char *expr, const char *what, const char *fmt,
		 va_list ap)
{
	char user[2048];

	/* the CHECK macros put a space before the caller's format: none means "" */
	vsnprintf(user, sizeof(user), fmt[0] == ' ' ? fmt + 1 : fmt, ap);
	if (spio_task_current() != NULL && g_runner != NULL) {
		snprintf(g_runner->msg, sizeof(g_runner->msg), "%s:%d: %s%s%s%s", file, line, expr,
			 what, user[0] != '\0' ? ": " : "", user);
		longjmp(g_runner->failed_at, 1);
	}
	if (spio_task_current() != NULL) {
		fprintf(stderr, "%s:%d: %s%s: %s (in a task not run by blob_task_run)\n", file,
			line, expr, what, user);
		abort();
	}
	cr_assert_fail("%s:%d: %s%s%s%s", file, line, expr, what, user[0] != '\0' ? ": " : "",
		       user);
}

void blob_task_check(bool ok, const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		return;
	}
	va_start(ap, fmt);
	fail(file, line, expr, "", fmt, ap);
	va_end(ap);
}

void blob_task_check_eq(int64_t got, int64_t want, const char *file, int line, const char *expr,
			const char *fmt, ...)
{
	char what[96];
	va_list ap;

	if (got == want) {
		return;
	}
	snprintf(what, sizeof(what), " (got %" PRId64 " = 0x%" PRIx64 ", expected %" PRId64 ")",
		 got, (uint64_t)got, want);
	va_start(ap, fmt);
	fail(file, line, expr, what, fmt, ap);
	va_end(ap);
}
