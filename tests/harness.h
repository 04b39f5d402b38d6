/* harness.h: the test harness. Each test program runs its cases with
 * MXT_RUN, checks with MXT_CHECK (records a failure, keeps going) and ends
 * with mxt_finish(), which prints "N passed, N failed" and sets the exit
 * code. References are independent: float64 loops here, or numpy through
 * mxt_numpy (Debian's /usr/bin/python3 with python3-numpy). */
#ifndef MX_TEST_HARNESS_H
#define MX_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mx/mx.h"

extern int mxt_checks_failed; /* in the current case */
extern const char *mxt_case;

#define MXT_CHECK(cond, ...)                                                         \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      mxt_checks_failed++;                                                           \
      fprintf(stderr, "FAIL %s (%s:%d): %s: ", mxt_case, __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                                  \
      fprintf(stderr, "\n");                                                         \
    }                                                                                \
  } while (0)

/* An op result that must not be NULL; prints mx_last_error otherwise. */
#define MXT_OK(ptr)                                                                      \
  do {                                                                                   \
    if (!(ptr)) {                                                                        \
      mxt_checks_failed++;                                                               \
      fprintf(stderr, "FAIL %s (%s:%d): %s is NULL: %s\n", mxt_case, __FILE__, __LINE__, \
              #ptr, mx_last_error());                                                    \
      mx_clear_error();                                                                  \
    }                                                                                    \
  } while (0)

/* Runs one case inside its own scope; leaks of arrays are failures. */
#define MXT_RUN(fn) mxt_run(#fn, fn)
void mxt_run(const char *name, void (*fn)(void));
/* Prints the summary line; returns the process exit code. */
int mxt_finish(void);

/* Deterministic random numbers. */
void mxt_seed(uint64_t s);
uint64_t mxt_next(void);
double mxt_uniform(double lo, double hi);
double mxt_normal(void);

/* Reads an array as float64 into a malloc'd buffer (row-major). */
double *mxt_to_f64(mx_array *a);
/* Max abs and relative error between a (any dtype) and ref (float64). */
bool mxt_close(mx_array *a, const double *ref, int64_t n, double rtol, double atol,
               const char *what);
/* A random array of dtype t with values in [lo, hi) (integers rounded). */
mx_array *mxt_rand(const int *shape, int ndim, mx_dtype t, double lo, double hi);
/* A non-contiguous array equal in value to `a`: built as the transpose of a
 * contiguous transposed copy (needs mx_transpose); falls back to a itself. */
mx_array *mxt_noncontig(mx_array *a);

/* numpy oracle: writes arrays as inputs/<name>.npy in a temp dir, runs the
 * python snippet (which sees numpy as np and a dict `A` of the inputs, and
 * must assign dict `R` of results), then loads R[name] as float64.
 * Returns false (and records a skip-free failure) if python3-numpy is
 * missing: the test scripts install it, so its absence is a failure. */
typedef struct {
  const char *name;
  mx_array *a;
} mxt_named;
bool mxt_numpy(const char *code, const mxt_named *inputs, int nin, const char *result,
               double **out, int64_t *nout);

/* The numpy oracle's interpreter: $MX_PYTHON, else Debian's /usr/bin/python3
 * (the python3 first on PATH on development machines lacks numpy). */
const char *mxt_python(void);

/* Path of a file under the source tree (static buffer). */
const char *mxt_src_path(const char *rel);
/* A JSON file parsed with cJSON (NULL if unreadable or malformed), and a
 * cJSON tree written out (false on error). */
struct cJSON;
struct cJSON *mxt_read_json(const char *path);
bool mxt_write_json(const char *path, const struct cJSON *j);

#endif
