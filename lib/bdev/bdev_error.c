/* bdev_create_error(): see bdev_error.h. */
#include "bdev_error.h"

#include <stdarg.h>
#include <stdio.h>

#include "spio/log.h"

int bdev_create_error(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err != NULL && errlen > 0) {
		snprintf(err, errlen, "%s", msg);
	}
	SPIO_ERRLOG("%s\n", msg);
	return rc;
}
