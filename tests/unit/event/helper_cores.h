/* Test helper: skip a test that needs two reactor cores where there are not. */
#ifndef TEST_HELPER_CORES_H
#define TEST_HELPER_CORES_H

#include <stdbool.h>

/* True when cores 0 and 1 are both in this process's affinity. */
bool test_have_two_cores(void);

#define NEED_TWO_CORES()                                                     \
	do {                                                                 \
		if (!test_have_two_cores()) {                                \
			cr_skip_test("needs cores 0 and 1 in the affinity"); \
		}                                                            \
	} while (0)

#endif
