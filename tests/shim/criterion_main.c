/*
 * main() of the Criterion test binaries (the ThreadSanitizer build uses the
 * stand-in runner of criterion_shim.c instead, which does the same).
 *
 * Criterion exits 0 when a test skips, so CTest would count a skip as a pass.
 * This is Criterion's own main plus two report hooks: every skipped case
 * prints its reason, and the exit code is 77 (SKIP_RETURN_CODE in
 * tests/CMakeLists.txt) when every case that ran skipped. A failure still
 * wins: Criterion's non-zero code is kept. A binary whose cases only partly
 * skipped passes; scripts/ctest-summary.sh lists those skips from the
 * "[SKIP]" lines.
 *
 * The hooks run in Criterion's runner process, which receives each case's
 * result from the worker the case ran in; cases left out by --filter or
 * .disabled reach neither hook, so they count as neither run nor skipped.
 */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>

#define CRITERION_MAIN_EXIT_SKIP 77

static size_t g_ran;
static size_t g_skipped;

ReportHook(POST_TEST)(struct criterion_test_stats *stats)
{
	if (stats->test_status != CR_STATUS_SKIPPED) {
		g_ran++;
		return;
	}
	g_skipped++;
	/* The line scripts/ctest-summary.sh reports as the reason. */
	fprintf(stderr, "[SKIP] %s::%s: %s\n", stats->test->category, stats->test->name,
		stats->message && stats->message[0] ? stats->message : "(no reason given)");
	fflush(stderr);
}

/* A crash (signal, timeout, exit from the test) ends without POST_TEST. */
ReportHook(TEST_CRASH)(struct criterion_test_stats *stats)
{
	(void)stats;
	g_ran++;
}

int main(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	int result = 0;

	if (criterion_handle_args(argc, argv, true)) {
		result = !criterion_run_all_tests(tests);
	}
	criterion_finalize(tests);
	if (result == 0 && g_ran == 0 && g_skipped > 0) {
		return CRITERION_MAIN_EXIT_SKIP;
	}
	return result;
}
