/*
 * UUIDs over libuuid. Parsing is checked here first so that the accepted
 * syntax does not depend on the libuuid version.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include <uuid/uuid.h>

#include "spio/util.h"

_Static_assert(sizeof(struct spio_uuid) == sizeof(uuid_t), "spio_uuid must match uuid_t");

void spio_uuid_generate(struct spio_uuid *uuid)
{
	if (uuid == NULL) {
		return;
	}
	uuid_generate_random(uuid->u);
}

static bool uuid_string_valid(const char *str)
{
	for (size_t i = 0; i < SPIO_UUID_STRING_LEN - 1; i++) {
		bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;

		/* Also stops at an early NUL, which is neither a dash nor hex. */
		if (dash_pos ? str[i] != '-' : !isxdigit((unsigned char)str[i])) {
			return false;
		}
	}
	return str[SPIO_UUID_STRING_LEN - 1] == '\0';
}

int spio_uuid_parse(struct spio_uuid *uuid, const char *str)
{
	uuid_t tmp;

	if (uuid == NULL || str == NULL || !uuid_string_valid(str)) {
		return -EINVAL;
	}
	if (uuid_parse(str, tmp) != 0) {
		return -EINVAL;
	}
	memcpy(uuid->u, tmp, sizeof(uuid->u));
	return 0;
}

int spio_uuid_fmt_lower(char *buf, size_t len, const struct spio_uuid *uuid)
{
	if (buf == NULL || uuid == NULL || len < SPIO_UUID_STRING_LEN) {
		return -EINVAL;
	}
	uuid_unparse_lower(uuid->u, buf);
	return 0;
}

int spio_uuid_compare(const struct spio_uuid *a, const struct spio_uuid *b)
{
	/* NULL sorts before any UUID rather than crashing. */
	if (a == NULL || b == NULL) {
		return (a != NULL) - (b != NULL);
	}
	return memcmp(a->u, b->u, sizeof(a->u));
}

bool spio_uuid_is_null(const struct spio_uuid *uuid)
{
	if (uuid == NULL) {
		return true;
	}
	for (size_t i = 0; i < sizeof(uuid->u); i++) {
		if (uuid->u[i] != 0) {
			return false;
		}
	}
	return true;
}
