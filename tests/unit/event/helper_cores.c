/* See helper_cores.h. */
#include "helper_cores.h"
#include "spio/cpuset.h"

bool test_have_two_cores(void)
{
	struct spio_cpuset set;

	return spio_cpuset_from_affinity(&set) == 0 && spio_cpuset_get_cpu(&set, 0) &&
	       spio_cpuset_get_cpu(&set, 1);
}
