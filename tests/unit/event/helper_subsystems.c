/* See helper_subsystems.h. */
#include <string.h>

#include "helper_subsystems.h"

json_t *test_only_subsystems(const json_t *subsystems, const char *const *names)
{
	json_t *out = json_array();
	size_t i;
	json_t *e;

	json_array_foreach(subsystems, i, e)
	{
		const char *name = json_string_value(json_object_get(e, "subsystem"));
		for (const char *const *n = names; name && *n; n++) {
			if (strcmp(name, *n) == 0) {
				json_array_append(out, e);
				break;
			}
		}
	}
	return out;
}
