/* fuzz_util.h: helpers shared by the libFuzzer targets in fuzz/: write the
 * input to a private file (the loaders take paths) and run each input in its
 * own array scope. */
#ifndef MX_FUZZ_UTIL_H
#define MX_FUZZ_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* path of a file holding data (under $TMPDIR or /tmp), one per process and
 * name; NULL when it cannot be written */
static inline const char *mxf_write(const char *name, const uint8_t *data, size_t size) {
  static char path[4096];
  const char *dir = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/mx-fuzz-%ld-%s", dir && *dir ? dir : "/tmp",
           (long)getpid(), name);
  FILE *f = fopen(path, "wb");
  if (!f) return NULL;
  size_t w = size ? fwrite(data, 1, size, f) : 0;
  if (fclose(f) != 0 || w != size) return NULL;
  return path;
}

/* a NUL-terminated copy of the input (free() it) */
static inline char *mxf_str(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return NULL;
  memcpy(s, data, size);
  s[size] = 0;
  return s;
}
#endif
