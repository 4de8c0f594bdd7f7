#ifndef TEST_HELPER_HUGEPAGES_H
#define TEST_HELPER_HUGEPAGES_H

/* Make at least `want_free` 2 MiB hugepages free. Returns the previous
 * nr_hugepages (to restore), or -1 if they cannot be reserved. */
long test_hugepages_reserve(long want_free);
void test_hugepages_restore(long nr);

#endif
