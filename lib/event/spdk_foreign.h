/*
 * What a configuration saved by SPDK holds that spio does not have: SPDK's
 * subsystems without a spio counterpart and the *_set_options-style methods
 * of those subsystems, with SPDK's default parameters (spdk_defaults.c,
 * generated from a configuration SPDK saved). A loaded configuration may
 * carry them: an entry with SPDK's defaults changes nothing here and is
 * skipped with a warning; any other value is refused, by name.
 * Private to lib/event.
 */
#ifndef SPIO_EVENT_SPDK_FOREIGN_H
#define SPIO_EVENT_SPDK_FOREIGN_H

#include <stddef.h>

#include "json/json_val_internal.h"

struct spdk_foreign_subsystem {
	const char *name;
	const char *why; /* why spio skips what SPDK keeps there */
};

struct spdk_foreign_default {
	const char *subsystem;
	const char *method;
	const char *params; /* SPDK's defaults, a JSON object */
};

extern const struct spdk_foreign_subsystem g_spdk_foreign_subsystems[];
extern const size_t g_spdk_foreign_subsystems_count;
extern const struct spdk_foreign_default g_spdk_foreign_defaults[];
extern const size_t g_spdk_foreign_defaults_count;

/* Why spio lacks SPDK's subsystem `name`, or NULL if SPDK has no such subsystem either. */
const char *spdk_foreign_subsystem_why(const char *name);

/*
 * An entry of subsystem `subsystem` whose `method` spio does not have:
 * 0 if it is one of SPDK's defaults entries (`params` NULL or an object
 * with the defaults' values; keys SPDK's defaults lack are not), else
 * -EINVAL with a message naming the method and the first parameter that
 * differs, its value and SPDK's default, in `err`.
 */
int spdk_foreign_entry_check(const char *subsystem, const char *method, const json_t *params,
			     char *err, size_t errlen);

#endif /* SPIO_EVENT_SPDK_FOREIGN_H */
