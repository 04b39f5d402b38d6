/* io_util.h: helpers shared by the file formats in src/io. */
#ifndef MX_IO_UTIL_H
#define MX_IO_UTIL_H

#include <stdio.h>

#include "../core/core.h"

/* Row-major bytes of an evaluated array on the host: *data points into the
 * array when it is contiguous, else into a malloc'd copy returned in *tmp
 * (free it after use). `op` and `path` name the caller in messages. */
mx_status mx_io_host_bytes(mx_array *a, const void **data, void **tmp, const char *op,
                           const char *path);

/* fwrite of n bytes; false on a short write. */
bool mx_io_write(FILE *f, const void *p, size_t n);

/* Saving goes to a temporary file beside `path` that replaces it on
 * success (rename), so a reader never sees a half-written file and a file
 * that is still mmapped by a load is never truncated under it.
 * mx_io_create returns NULL (error recorded) on failure; *tmp receives the
 * malloc'd temporary name. mx_io_finish closes f and renames when ok, else
 * removes the temporary; it returns MX_OK or records MX_ERR_IO. */
FILE *mx_io_create(const char *path, char **tmp, const char *op);
mx_status mx_io_finish(FILE *f, char *tmp, const char *path, bool ok, const char *op);

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "src/io assumes a little-endian host"
#endif

#endif
