/* Test helper: the library registers subsystems of its own (bdev, ...), so
 * tests look only at the entries of the subsystems they registered. */
#ifndef TEST_HELPER_SUBSYSTEMS_H
#define TEST_HELPER_SUBSYSTEMS_H

#include <jansson.h>

/*
 * A new array with the elements of `subsystems` (objects with a "subsystem"
 * name, as in framework_get_subsystems and save_config) whose name is one of
 * the NULL-terminated `names`, in their original order. Caller decrefs.
 */
json_t *test_only_subsystems(const json_t *subsystems, const char *const *names);

#endif
