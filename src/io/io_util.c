/* io_util.c: see io_util.h. */
#include "io_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backend/cpu/iter.h"

mx_status mx_io_host_bytes(mx_array *a, const void **data, void **tmp, const char *op,
                           const char *path) {
  *tmp = NULL;
  *data = NULL;
  if (!mx_array_data(a)) return mx_last_status();
  if (a->size == 0 || a->row_contiguous) {
    *data = a->size ? mx_array_ptr(a) : NULL;
    return MX_OK;
  }
  size_t nbytes = (size_t)a->size * mx_dtype_size(a->dtype);
  *tmp = malloc(nbytes);
  if (!*tmp)
    return mx_set_error(MX_ERR_NOMEM, "[%s] %s: out of memory (%zu bytes)", op, path,
                        nbytes);
  mx_copy_strided(a, *tmp);
  *data = *tmp;
  return MX_OK;
}

bool mx_io_write(FILE *f, const void *p, size_t n) {
  return n == 0 || fwrite(p, 1, n, f) == n;
}

FILE *mx_io_create(const char *path, char **tmp, const char *op) {
  static atomic_uint counter;
  size_t n = strlen(path);
  *tmp = malloc(n + 48);
  if (!*tmp) {
    mx_set_error(MX_ERR_NOMEM, "[%s] %s: out of memory", op, path);
    return NULL;
  }
  /* a unique name created with O_EXCL and mode 0666, so the umask applies
   * as for a plain fopen (mkstemp would leave the file 0600) */
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
    snprintf(*tmp, n + 48, "%s.tmp.%ld.%u", path, (long)getpid(),
             atomic_fetch_add(&counter, 1u));
    fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
  if (!f) {
    mx_set_error(MX_ERR_IO, "[%s] cannot create %s: %s", op, path, strerror(errno));
    if (fd >= 0) {
      close(fd);
      unlink(*tmp);
    }
    free(*tmp);
    *tmp = NULL;
  }
  return f;
}

mx_status mx_io_finish(FILE *f, char *tmp, const char *path, bool ok, const char *op) {
  int err = ok ? 0 : errno;
  if (fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && rename(tmp, path) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) unlink(tmp);
  free(tmp);
  if (!ok)
    return mx_set_error(MX_ERR_IO, "[%s] %s: write failed: %s", op, path,
                        err ? strerror(err) : "short write");
  return MX_OK;
}
