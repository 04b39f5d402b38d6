/* movement_util.h: helpers shared by test_shape_ops.c and test_indexing.c.
 *
 * Data movement is checked byte-exactly for every dtype against an "index
 * map": map[i] is the row-major flat index of the input element that output
 * element i must hold (or a negative code for another source). Maps come
 * from numpy applied to an arange (an independent oracle of the op's
 * semantics) or from plain loops in the test. Inputs are random in each
 * dtype (complex64 with non-zero imaginary parts) and are fed contiguous,
 * transposed (column-major) and reversed-strided (negative step). */
#ifndef MX_TEST_MOVEMENT_UTIL_H
#define MX_TEST_MOVEMENT_UTIL_H

#include "harness.h"

static const mx_dtype k_dtypes[] = {
    MX_BOOL,  MX_UINT8, MX_UINT16,  MX_UINT32,   MX_UINT64,  MX_INT8,    MX_INT16,
    MX_INT32, MX_INT64, MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64, MX_COMPLEX64};
#define N_DTYPES ((int)(sizeof k_dtypes / sizeof k_dtypes[0]))
#define N_LAYOUTS 3

static int64_t shape_size(const int *shape, int nd) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= shape[i];
  return n;
}

/* Random array of dtype t; every element distinct with high probability. */
static mx_array *rand_any(const int *shape, int nd, mx_dtype t) {
  int64_t n = shape_size(shape, nd);
  if (t == MX_COMPLEX64) {
    float *d = malloc(sizeof(float) * 2 * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < 2 * n; i++) d[i] = (float)mxt_uniform(-100, 100);
    mx_array *a = mx_array_from_data(d, shape, nd, MX_COMPLEX64);
    free(d);
    return a;
  }
  double lo = -100, hi = 100;
  if (t == MX_BOOL || t == MX_UINT8)
    lo = 0, hi = 250;
  else if (t == MX_UINT16 || t == MX_UINT32 || t == MX_UINT64)
    lo = 0, hi = 60000;
  else if (t == MX_INT8)
    lo = -128, hi = 127;
  else if (t == MX_INT16 || t == MX_INT32 || t == MX_INT64)
    lo = -30000, hi = 30000;
  if (t == MX_BOOL) hi = 2 * lo + 2; /* mxt_rand thresholds at the middle */
  return mxt_rand(shape, nd, t, lo, hi);
}

/* Row-major raw bytes of a (malloc'd). */
static unsigned char *raw_bytes(mx_array *a) {
  size_t n = mx_array_nbytes(a);
  unsigned char *p = malloc(n ? n : 1);
  if (mx_array_read(a, mx_array_dtype(a), p, n) != MX_OK) {
    free(p);
    return NULL;
  }
  return p;
}

/* Same values as a (dtype t), with negative strides on the last axis: built
 * from a buffer twice as long, sliced with step -2. */
static mx_array *reversed_layout(mx_array *a) {
  int nd = mx_array_ndim(a);
  if (nd == 0) return a;
  int shape[MX_MAX_NDIM];
  memcpy(shape, mx_array_shape(a), sizeof(int) * (size_t)nd);
  int L = shape[nd - 1];
  size_t isz = mx_array_itemsize(a);
  int64_t rows = shape_size(shape, nd - 1);
  unsigned char *src = raw_bytes(a);
  unsigned char *big = malloc(isz * (size_t)(2 * rows * L + 1));
  memset(big, 0, isz * (size_t)(2 * rows * L + 1));
  for (int64_t r = 0; r < rows; r++)
    for (int j = 0; j < L; j++)
      memcpy(big + (size_t)(r * 2 * L + 2 * (L - 1 - j) + 1) * isz,
             src + (size_t)(r * L + j) * isz, isz);
  shape[nd - 1] = 2 * L;
  mx_array *b = mx_array_from_data(big, shape, nd, mx_array_dtype(a));
  free(big);
  free(src);
  return mx_slice_axis(b, -1, MX_SLICE_DEFAULT, MX_SLICE_DEFAULT, -2);
}

/* Layout k of the same values: 0 as is, 1 column-major, 2 negative strides. */
static mx_array *layout(mx_array *a, int k) {
  if (k == 1) return mxt_noncontig(a);
  if (k == 2) return reversed_layout(a);
  return a;
}

/* out must equal, byte for byte, in[map[i]] for map[i] >= 0, and
 * other[-map[i] - 1] for map[i] < 0 (other may be a 1-element fill). */
static bool check_map2(mx_array *out, mx_array *in, mx_array *other, const int64_t *map,
                       int64_t n, const char *what) {
  if (!out) {
    MXT_CHECK(0, "%s: NULL result: %s", what, mx_last_error());
    mx_clear_error();
    return false;
  }
  if (mx_array_size(out) != n) {
    MXT_CHECK(0, "%s: size %lld, want %lld", what, (long long)mx_array_size(out),
              (long long)n);
    return false;
  }
  size_t isz = mx_array_itemsize(out);
  unsigned char *o = raw_bytes(out), *s = raw_bytes(in);
  unsigned char *v = other ? raw_bytes(other) : NULL;
  bool ok = o && s && (!other || v);
  MXT_CHECK(ok, "%s: read failed: %s", what, mx_last_error());
  int64_t nother = other ? mx_array_size(other) : 0;
  for (int64_t i = 0; ok && i < n; i++) {
    const unsigned char *want;
    if (map[i] >= 0) {
      want = s + (size_t)map[i] * isz;
    } else {
      int64_t k = nother == 1 ? 0 : -map[i] - 1;
      if (k >= nother) {
        MXT_CHECK(0, "%s: bad map entry %lld", what, (long long)map[i]);
        ok = false;
        break;
      }
      want = v + (size_t)k * isz;
    }
    if (memcmp(o + (size_t)i * isz, want, isz) != 0) {
      MXT_CHECK(0, "%s (%s): element %lld differs (map %lld)", what,
                mx_dtype_name(mx_array_dtype(out)), (long long)i, (long long)map[i]);
      ok = false;
    }
  }
  free(o);
  free(s);
  free(v);
  return ok;
}

static bool check_map(mx_array *out, mx_array *in, const int64_t *map, int64_t n,
                      const char *what) {
  return check_map2(out, in, NULL, map, n, what);
}

static bool check_shape(mx_array *a, const int *shape, int nd, const char *what) {
  bool ok = a && mx_array_ndim(a) == nd &&
            memcmp(mx_array_shape(a), shape, sizeof(int) * (size_t)nd) == 0;
  MXT_CHECK(ok, "%s: shape %s", what, a ? "differs" : mx_last_error());
  return ok;
}

/* numpy index map: the snippet sees A['a'] = arange(size).reshape(shape) as
 * float64 (plus A['i'] when idx is given) and sets R['r']. Returns malloc'd
 * int64 of *n entries. */
static int64_t *np_map(const char *code, const int *shape, int nd, mx_array *idx,
                       int64_t *n) {
  int64_t sz = shape_size(shape, nd);
  double *d = malloc(sizeof(double) * (size_t)(sz ? sz : 1));
  for (int64_t i = 0; i < sz; i++) d[i] = (double)i;
  mxt_named in[2] = {{"a", mx_array_from_data(d, shape, nd, MX_FLOAT64)}, {"i", idx}};
  free(d);
  double *r = NULL;
  int64_t nr = 0;
  if (!mxt_numpy(code, in, idx ? 2 : 1, "r", &r, &nr)) return NULL;
  int64_t *m = malloc(sizeof(int64_t) * (size_t)(nr ? nr : 1));
  for (int64_t i = 0; i < nr; i++) m[i] = (int64_t)r[i];
  free(r);
  *n = nr;
  return m;
}

/* Error expected: result NULL (or eval failing) with `needle` in the
 * message. */
static void expect_error(mx_array *r, const char *needle, const char *what) {
  mx_status st = MX_OK;
  if (r) st = mx_eval1(r);
  MXT_CHECK(!r ? mx_last_status() != MX_OK : st != MX_OK, "%s: no error", what);
  MXT_CHECK(strstr(mx_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
            mx_last_error(), needle);
  mx_clear_error();
}

/* Run op over every dtype and layout of a random input of `shape` and
 * compare with map (and result shape). */
typedef mx_array *(*unary_op)(mx_array *x, const void *ctx);
static void check_all(const int *shape, int nd, unary_op op, const void *ctx,
                      const int64_t *map, int64_t nmap, const int *oshape, int ond,
                      mx_array *(*fill)(mx_dtype t, const void *ctx), const char *what) {
  for (int ti = 0; ti < N_DTYPES; ti++) {
    mx_dtype t = k_dtypes[ti];
    mx_scope_begin();
    mx_array *x = rand_any(shape, nd, t);
    mx_array *f = fill ? fill(t, ctx) : NULL;
    for (int k = 0; k < N_LAYOUTS; k++) {
      char w[160];
      snprintf(w, sizeof w, "%s [%s, layout %d]", what, mx_dtype_name(t), k);
      mx_array *y = op(layout(x, k), ctx);
      if (!check_shape(y, oshape, ond, w)) break;
      MXT_CHECK(mx_array_dtype(y) == t, "%s: dtype", w);
      check_map2(y, x, f, map, nmap, w);
    }
    mx_scope_end();
  }
}

#endif
