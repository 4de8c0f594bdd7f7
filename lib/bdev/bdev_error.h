/* Create-time error reporting shared by the bdev modules and their helpers
 * (lib/bdev_file, module/bdev/bdev_params): one message, to the caller's
 * buffer and the log. Private to the library. */
#ifndef SPIO_BDEV_ERROR_H
#define SPIO_BDEV_ERROR_H

#include <stddef.h>

/* Put a printf-style message in `err` (if not NULL) and the log; return `rc`. */
int bdev_create_error(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* SPIO_BDEV_ERROR_H */
