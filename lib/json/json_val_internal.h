/* The parser behind struct spio_json_val: a jansson json_t, converted here only. */
#ifndef SPIO_JSON_VAL_INTERNAL_H
#define SPIO_JSON_VAL_INTERNAL_H

#include <jansson.h>

#include "spio/json_val.h"

/* Library code that builds or walks documents with jansson hands them out as
 * spio_json_val and takes them back with these two; nothing else casts. */
static inline const struct spio_json_val *json_val_from_jansson(const json_t *j)
{
	return (const struct spio_json_val *)j;
}

static inline json_t *json_val_to_jansson(const struct spio_json_val *v)
{
	return (json_t *)v;
}

#endif /* SPIO_JSON_VAL_INTERNAL_H */
