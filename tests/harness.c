/* harness.c: see harness.h. */
#include <cjson/cJSON.h>

#include "harness.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int mxt_checks_failed = 0;
const char *mxt_case = "";
static int g_passed, g_failed;

void mxt_run(const char *name, void (*fn)(void)) {
  mxt_case = name;
  mxt_checks_failed = 0;
  mx_clear_error();
  mx_synchronize(mx_default_stream(mx_cpu()));
  int64_t live0 = mx_live_arrays();
  mx_scope_begin();
  fn();
  mx_scope_end();
  mx_synchronize(mx_default_stream(mx_cpu())); /* async evals drop their references */
  int64_t live1 = mx_live_arrays();
  if (live1 != live0) {
    fprintf(stderr, "FAIL %s: %lld arrays leaked\n", name, (long long)(live1 - live0));
    mxt_checks_failed++;
  }
  if (mxt_checks_failed) {
    g_failed++;
    fprintf(stderr, "case %s: FAILED (%d checks)\n", name, mxt_checks_failed);
  } else {
    g_passed++;
    fprintf(stderr, "case %s: ok\n", name);
  }
  mx_clear_error();
}

int mxt_finish(void) {
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
void mxt_seed(uint64_t s) { g_rng = s ? s : 1; }
uint64_t mxt_next(void) {
  uint64_t x = g_rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return g_rng = x;
}
double mxt_uniform(double lo, double hi) {
  return lo + (hi - lo) * (double)(mxt_next() >> 11) / 9007199254740992.0;
}
double mxt_normal(void) {
  double u = mxt_uniform(1e-12, 1), v = mxt_uniform(0, 1);
  return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

double *mxt_to_f64(mx_array *a) {
  int64_t n = mx_array_size(a);
  double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
  if (!d) return NULL;
  if (mx_array_read(a, MX_FLOAT64, d, (size_t)n * sizeof *d) != MX_OK) {
    free(d);
    return NULL;
  }
  return d;
}

bool mxt_close(mx_array *a, const double *ref, int64_t n, double rtol, double atol,
               const char *what) {
  if (!a) {
    MXT_CHECK(0, "%s: NULL result: %s", what, mx_last_error());
    return false;
  }
  if (mx_array_size(a) != n) {
    MXT_CHECK(0, "%s: size %lld != %lld", what, (long long)mx_array_size(a),
              (long long)n);
    return false;
  }
  double *d = mxt_to_f64(a);
  if (!d) {
    MXT_CHECK(0, "%s: read failed: %s", what, mx_last_error());
    return false;
  }
  bool ok = true;
  for (int64_t i = 0; i < n; i++) {
    double x = d[i], r = ref[i];
    bool same = (isnan(x) && isnan(r)) || x == r || fabs(x - r) <= atol + rtol * fabs(r);
    if (!same) {
      MXT_CHECK(0, "%s: element %lld: got %.9g want %.9g", what, (long long)i, x, r);
      ok = false;
      break;
    }
  }
  free(d);
  return ok;
}

mx_array *mxt_rand(const int *shape, int ndim, mx_dtype t, double lo, double hi) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
  for (int64_t i = 0; i < n; i++) {
    double v = mxt_uniform(lo, hi);
    if (!mx_dtype_is_inexact(t)) v = floor(v);
    if (t == MX_BOOL) v = v > (lo + hi) / 2;
    d[i] = v;
  }
  mx_array *f = mx_array_from_data(d, shape, ndim, MX_FLOAT64);
  free(d);
  return mx_astype(f, t);
}

mx_array *mxt_noncontig(mx_array *a) {
  int nd = mx_array_ndim(a);
  if (nd < 2) return a;
  /* contiguous copy of the transpose, then transpose back: same values,
   * column-major strides */
  mx_array *t = mx_contiguous(mx_transpose(a, NULL, 0));
  mx_eval1(t);
  return mx_transpose(t, NULL, 0);
}

/* ---- numpy oracle ---- */
static bool write_npy(const char *path, mx_array *a) {
  int64_t n = mx_array_size(a);
  double *d = mxt_to_f64(a);
  if (!d) return false;
  FILE *f = fopen(path, "wb");
  if (!f) {
    free(d);
    return false;
  }
  char hdr[512];
  char shape[256] = "";
  size_t k = 0;
  int nd = mx_array_ndim(a);
  for (int i = 0; i < nd; i++)
    k += (size_t)snprintf(shape + k, sizeof shape - k, "%d,", mx_array_shape(a)[i]);
  int hl = snprintf(hdr, sizeof hdr,
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }", shape);
  int total = 10 + hl + 1;
  int pad = (64 - total % 64) % 64;
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  uint16_t len = (uint16_t)(hl + pad + 1);
  fwrite(&len, 2, 1, f);
  fwrite(hdr, 1, (size_t)hl, f);
  for (int i = 0; i < pad; i++) fputc(' ', f);
  fputc('\n', f);
  fwrite(d, sizeof *d, (size_t)n, f);
  fclose(f);
  free(d);
  return true;
}

bool mxt_numpy(const char *code, const mxt_named *inputs, int nin, const char *result,
               double **out, int64_t *nout) {
  char dir[] = "/tmp/mxt_numpy_XXXXXX";
  if (!mkdtemp(dir)) return false;
  char path[512];
  for (int i = 0; i < nin; i++) {
    snprintf(path, sizeof path, "%s/%s.npy", dir, inputs[i].name);
    if (!write_npy(path, inputs[i].a)) {
      MXT_CHECK(0, "numpy oracle: cannot write %s", path);
      return false;
    }
  }
  snprintf(path, sizeof path, "%s/run.py", dir);
  FILE *f = fopen(path, "w");
  if (!f) return false;
  fprintf(f,
          "import numpy as np, os, glob\n"
          "d = %s%s%s\n"
          "A = {os.path.basename(p)[:-4]: np.load(p) for p in glob.glob(d + '/*.npy')}\n"
          "R = {}\n"
          "%s\n"
          "r = np.asarray(R['%s'], dtype=np.float64)\n"
          "np.ascontiguousarray(r).tofile(d + '/result.bin')\n",
          "'", dir, "'", code, result);
  fclose(f);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s/run.py", mxt_python(), dir);
  int rc = system(cmd);
  bool ok = rc == 0;
  MXT_CHECK(ok, "numpy oracle failed (is python3-numpy installed?)");
  if (ok) {
    snprintf(path, sizeof path, "%s/result.bin", dir);
    f = fopen(path, "rb");
    ok = f != NULL;
    if (ok) {
      fseek(f, 0, SEEK_END);
      long sz = ftell(f);
      fseek(f, 0, SEEK_SET);
      *nout = sz / 8;
      *out = malloc((size_t)(sz ? sz : 8));
      ok = fread(*out, 1, (size_t)sz, f) == (size_t)sz;
      fclose(f);
    }
  }
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
  return ok;
}

const char *mxt_python(void) {
  const char *p = getenv("MX_PYTHON");
  return p && *p ? p : "/usr/bin/python3";
}

struct cJSON *mxt_read_json(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0, got;
  char *buf = malloc(cap);
  while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (n + 1 == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  fclose(f);
  if (!buf) return NULL;
  buf[n] = 0;
  cJSON *j = cJSON_Parse(buf);
  free(buf);
  return j;
}

bool mxt_write_json(const char *path, const struct cJSON *j) {
  char *txt = j ? cJSON_Print(j) : NULL;
  FILE *f = txt ? fopen(path, "w") : NULL;
  bool ok = f && fputs(txt, f) >= 0;
  if (f && fclose(f) != 0) ok = false;
  free(txt);
  return ok;
}

const char *mxt_src_path(const char *rel) {
  /* absolute, so that symlinks tests make to fixtures resolve from any
   * directory (MX_SOURCE_DIR may be relative, or unset outside ctest) */
  static char buf[1024 + PATH_MAX];
  char root[PATH_MAX];
  const char *env = getenv("MX_SOURCE_DIR");
  if (!realpath(env ? env : ".", root)) snprintf(root, sizeof root, "%s", env ? env : ".");
  snprintf(buf, sizeof buf, "%s/%s", root, rel);
  return buf;
}
