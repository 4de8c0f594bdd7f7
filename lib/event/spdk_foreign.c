/* Deciding whether an entry SPDK saved for something spio lacks changes anything. */
#include "spdk_foreign.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *spdk_foreign_subsystem_why(const char *name)
{
	for (size_t i = 0; i < g_spdk_foreign_subsystems_count; i++) {
		if (strcmp(g_spdk_foreign_subsystems[i].name, name) == 0) {
			return g_spdk_foreign_subsystems[i].why;
		}
	}
	return NULL;
}

/*
 * How the entry differs from one defaults entry: a score, and the first key
 * that differs. A differing string weighs more than any number of other
 * values: strings name what the entry is about (impl_name "posix"), so the
 * entry is compared with the defaults of the same thing.
 */
#define NAME_WEIGHT 1000

struct mismatch {
	size_t count;
	const char *key;
	const json_t *value;
	const json_t *want; /* NULL: SPDK's defaults have no such key */
};

static struct mismatch compare(const json_t *params, const json_t *defaults)
{
	struct mismatch m = {0};
	const char *key;
	json_t *value;

	if (params == NULL) {
		return m;
	}
	json_object_foreach((json_t *)params, key, value)
	{
		const json_t *want = json_object_get(defaults, key);

		if (want == NULL || !json_equal(value, want)) {
			size_t before = m.count;

			m.count += json_is_string(value) ? NAME_WEIGHT : 1;
			if (before == 0) {
				m.key = key;
				m.value = value;
				m.want = want;
			}
		}
	}
	return m;
}

static void value_text(const json_t *v, char *buf, size_t len)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

	snprintf(buf, len, "%s", s != NULL ? s : "?");
	free(s);
}

int spdk_foreign_entry_check(const char *subsystem, const char *method, const json_t *params,
			     char *err, size_t errlen)
{
	const char *why = spdk_foreign_subsystem_why(subsystem);
	struct mismatch best = {.count = SIZE_MAX};
	json_t *best_defaults = NULL;
	char have[96], want[96];

	if (params != NULL && !json_is_object(params)) {
		snprintf(err, errlen, "unknown method '%s'", method);
		return -EINVAL;
	}
	for (size_t i = 0; i < g_spdk_foreign_defaults_count; i++) {
		const struct spdk_foreign_default *d = &g_spdk_foreign_defaults[i];
		json_t *defaults;
		struct mismatch m;

		if (strcmp(d->method, method) != 0) {
			continue;
		}
		defaults = json_loads(d->params, 0, NULL);
		if (defaults == NULL) {
			continue;
		}
		m = compare(params, defaults);
		if (m.count < best.count) {
			json_decref(best_defaults);
			best = m;
			best_defaults = defaults;
		} else {
			json_decref(defaults);
		}
	}
	if (best_defaults == NULL) {
		snprintf(err, errlen, "unknown method '%s'%s%s", method, why != NULL ? ": " : "",
			 why != NULL ? why : "");
		return -EINVAL;
	}
	if (best.count == 0) {
		json_decref(best_defaults);
		return 0;
	}
	value_text(best.value, have, sizeof(have));
	if (best.want != NULL) {
		value_text(best.want, want, sizeof(want));
		snprintf(err, errlen,
			 "method '%s': %s %s is not SPDK's default (%s), and %s to apply it",
			 method, best.key, have, want,
			 why != NULL ? why : "spio has no such method");
	} else {
		snprintf(err, errlen, "method '%s': parameter %s %s is unknown to spio (%s)",
			 method, best.key, have, why != NULL ? why : "no such method");
	}
	json_decref(best_defaults);
	return -EINVAL;
}
