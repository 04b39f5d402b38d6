/* fuzz_util.h: helpers shared by the libFuzzer targets in fuzz/: write the
 * input to a file (the loaders take paths), read every element of what
 * loaded. */
#ifndef MX_FUZZ_UTIL_H
#define MX_FUZZ_UTIL_H
#include <mx/mx.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The value of a required environment variable; without it the target
 * says what to set and exits (fuzzer set-up, not library code) */
static inline const char *mxf_env(const char *target, const char *var, const char *what) {
  const char *v = getenv(var);
  if (!v) {
    fprintf(stderr, "%s: set %s to %s\n", target, var, what);
    exit(2);
  }
  return v;
}

/* data written to path; false when it cannot be */
static inline bool mxf_write_to(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  size_t w = size ? fwrite(data, 1, size, f) : 0;
  return fclose(f) == 0 && w == size;
}

/* path of a file holding data (under $TMPDIR or /tmp), one per process and
 * name; NULL when it cannot be written */
static inline const char *mxf_write(const char *name, const uint8_t *data, size_t size) {
  static char path[4096];
  const char *dir = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/mx-fuzz-%ld-%s", dir && *dir ? dir : "/tmp",
           (long)getpid(), name);
  return mxf_write_to(path, data, size) ? path : NULL;
}

/* every element of a loaded array read: its float64 sum evaluated */
static inline void mxf_read_all(mx_array *a) {
  mx_array *s = mx_sum(mx_astype(a, MX_FLOAT64), NULL, 0, false);
  if (s) (void)mx_eval1(s);
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
