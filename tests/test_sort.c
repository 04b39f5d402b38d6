/* test_sort.c: sort, argsort, partition, argpartition and topk: against a
 * stable reference sort written here (NaN last) and numpy's
 * np.sort/np.argsort(kind='stable'); partitions and topk checked by their
 * defining properties. Every dtype, every axis, contiguous / transposed /
 * step-sliced inputs, ties (stability), NaN and -0.0, long lines, complex,
 * uint64 beyond 2^53, empty arrays and errors. */
#include <complex.h>
#include <stdint.h>

#include "harness.h"

static const mx_dtype all_dtypes[] = {
    MX_BOOL,  MX_UINT8, MX_UINT16,  MX_UINT32,   MX_UINT64,  MX_INT8,   MX_INT16,
    MX_INT32, MX_INT64, MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64};
#define N_DTYPES (int)(sizeof all_dtypes / sizeof all_dtypes[0])

/* a < b with NaN largest (numpy order) */
static bool lt(double a, double b) {
  if (isnan(a)) return false;
  if (isnan(b)) return true;
  return a < b;
}

/* Stable argsort of one strided line: libc qsort on (value, index) with
 * the index as tie-break. */
typedef struct {
  double v;
  int i;
} vi;
static int cmp_vi(const void *pa, const void *pb) {
  const vi *a = pa, *b = pb;
  if (lt(a->v, b->v)) return -1;
  if (lt(b->v, a->v)) return 1;
  return (a->i > b->i) - (a->i < b->i);
}
static void ref_argsort_line(const double *x, int64_t stride, int L, int *idx) {
  vi *t = malloc((size_t)(L ? L : 1) * sizeof *t);
  for (int i = 0; i < L; i++) {
    t[i].v = x[i * stride];
    t[i].i = i;
  }
  qsort(t, (size_t)L, sizeof *t, cmp_vi);
  for (int i = 0; i < L; i++) idx[i] = t[i].i;
  free(t);
}

static void lines(const int *shape, int nd, int axis, int64_t *outer, int64_t *inner) {
  *outer = *inner = 1;
  for (int d = 0; d < axis; d++) *outer *= shape[d];
  for (int d = axis + 1; d < nd; d++) *inner *= shape[d];
}

static void check_sort(mx_array *x, int axis, const char *ln) {
  int nd = mx_array_ndim(x), ax = axis < 0 ? axis + nd : axis;
  const int *shape = mx_array_shape(x);
  mx_dtype t = mx_array_dtype(x);
  char what[128];
  snprintf(what, sizeof what, "sort %s axis %d %s", mx_dtype_name(t), axis, ln);
  mx_array *s = mx_sort(x, axis), *as = mx_argsort(x, axis);
  if (!s || !as) {
    MXT_CHECK(0, "%s: NULL %s", what, mx_last_error());
    mx_clear_error();
    return;
  }
  MXT_CHECK(mx_array_dtype(s) == t && mx_array_dtype(as) == MX_UINT32, "%s dtypes", what);
  int64_t n = mx_array_size(x), outer, inner;
  lines(shape, nd, ax, &outer, &inner);
  int L = shape[ax];
  double *xv = mxt_to_f64(x), *rs = malloc((size_t)n * sizeof *rs),
         *ri = malloc((size_t)n * sizeof *ri);
  int *idx = malloc((size_t)L * sizeof *idx);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const double *line = xv + o * L * inner + i;
      ref_argsort_line(line, inner, L, idx);
      for (int k = 0; k < L; k++) {
        rs[(o * L + k) * inner + i] = line[idx[k] * inner];
        ri[(o * L + k) * inner + i] = idx[k];
      }
    }
  mxt_close(s, rs, n, 0, 0, what);
  snprintf(what, sizeof what, "argsort %s axis %d %s", mx_dtype_name(t), axis, ln);
  mxt_close(as, ri, n, 0, 0, what);
  free(xv);
  free(rs);
  free(ri);
  free(idx);
}

/* partition/argpartition by property: position kth holds the kth smallest,
 * nothing before is larger, nothing after is smaller, and argpartition's
 * indices are a permutation pointing at those values. */
static void check_partition(mx_array *x, int kth, int axis, const char *ln) {
  int nd = mx_array_ndim(x), ax = axis < 0 ? axis + nd : axis;
  const int *shape = mx_array_shape(x);
  int L = shape[ax], k = kth < 0 ? kth + L : kth;
  char what[128];
  snprintf(what, sizeof what, "partition %s kth %d axis %d %s",
           mx_dtype_name(mx_array_dtype(x)), kth, axis, ln);
  mx_array *p = mx_partition(x, kth, axis), *ap = mx_argpartition(x, kth, axis);
  if (!p || !ap) {
    MXT_CHECK(0, "%s: NULL %s", what, mx_last_error());
    mx_clear_error();
    return;
  }
  MXT_CHECK(mx_array_dtype(ap) == MX_UINT32 && mx_array_dtype(p) == mx_array_dtype(x),
            "%s dt", what);
  int64_t outer, inner;
  lines(shape, nd, ax, &outer, &inner);
  double *xv = mxt_to_f64(x), *pv = mxt_to_f64(p), *iv = mxt_to_f64(ap);
  int *idx = malloc((size_t)L * sizeof *idx);
  char *seen = malloc((size_t)L);
  int bad = 0;
  for (int64_t o = 0; o < outer && !bad; o++)
    for (int64_t i = 0; i < inner && !bad; i++) {
      const double *line = xv + o * L * inner + i;
      ref_argsort_line(line, inner, L, idx);
      double kv = line[idx[k] * inner];
      const double *pl = pv + o * L * inner + i, *il = iv + o * L * inner + i;
      bool same_k = (isnan(kv) && isnan(pl[k * inner])) || kv == pl[k * inner];
      if (!same_k) bad = 1;
      memset(seen, 0, (size_t)L);
      for (int q = 0; q < L && !bad; q++) {
        if (q < k && lt(kv, pl[q * inner])) bad = 2;
        if (q > k && lt(pl[q * inner], kv)) bad = 3;
        int id = (int)il[q * inner];
        if (id < 0 || id >= L || seen[id]) {
          bad = 4;
          break;
        }
        seen[id] = 1;
        double v = line[id * inner];
        if (q < k && lt(kv, v)) bad = 5;
        if (q > k && lt(v, kv)) bad = 6;
        if (q == k && !((isnan(v) && isnan(kv)) || v == kv)) bad = 7;
      }
      /* partition keeps the multiset of values */
      double *a = malloc((size_t)L * sizeof *a), *b = malloc((size_t)L * sizeof *b);
      for (int q = 0; q < L; q++) {
        a[q] = line[idx[q] * inner];
        b[q] = pl[q * inner];
      }
      ref_argsort_line(pl, inner, L, idx);
      for (int q = 0; q < L; q++) b[q] = pl[idx[q] * inner];
      ref_argsort_line(line, inner, L, idx); /* restore for later use */
      for (int q = 0; q < L && !bad; q++)
        if (!((isnan(a[q]) && isnan(b[q])) || a[q] == b[q])) bad = 8;
      free(a);
      free(b);
    }
  MXT_CHECK(!bad, "%s: property %d violated", what, bad);
  free(xv);
  free(pv);
  free(iv);
  free(idx);
  free(seen);
}

static mx_array *layout(mx_array *a, int which, const char **name) {
  if (which == 0) {
    *name = "contiguous";
    return a;
  }
  if (which == 1) {
    *name = "transposed";
    return mxt_noncontig(a);
  }
  *name = "step-slice";
  int nd = mx_array_ndim(a);
  const int *s = mx_array_shape(a);
  int big[16], start[16], stop[16], step[16];
  for (int d = 0; d < nd; d++) {
    step[d] = d % 2 ? -2 : 3;
    big[d] = d % 2 ? 2 * s[d] : 3 * s[d];
    start[d] = stop[d] = MX_SLICE_DEFAULT;
  }
  mx_dtype t = mx_array_dtype(a);
  bool uns =
      t == MX_BOOL || t == MX_UINT8 || t == MX_UINT16 || t == MX_UINT32 || t == MX_UINT64;
  return mx_slice(mxt_rand(big, nd, t, uns ? 0 : -5, 5), start, stop, step);
}

static void test_all_dtypes(void) {
  int shape[3] = {4, 7, 9};
  for (int ti = 0; ti < N_DTYPES; ti++) {
    mx_dtype t = all_dtypes[ti];
    bool uns = t == MX_BOOL || t == MX_UINT8 || t == MX_UINT16 || t == MX_UINT32 ||
               t == MX_UINT64;
    /* few distinct values: many ties (argsort stability) */
    mx_array *a = mxt_rand(shape, 3, t, uns ? 0 : -4, 4);
    for (int lay = 0; lay < 3; lay++) {
      const char *ln;
      mx_array *x = layout(a, lay, &ln);
      for (int axis = -3; axis < 3; axis++) {
        check_sort(x, axis, ln);
        int L = mx_array_shape(x)[axis < 0 ? axis + 3 : axis];
        check_partition(x, 0, axis, ln);
        check_partition(x, L / 2, axis, ln);
        check_partition(x, -1, axis, ln);
      }
    }
  }
}

static void test_nan_and_zero(void) {
  float d[12] = {3, NAN, -0.0f, 1, 0.0f, -INFINITY, NAN, INFINITY, -0.0f, 2, -1, 0.0f};
  int n = 12;
  for (int ti = 0; ti < 4; ti++) {
    mx_dtype t = ti == 0   ? MX_FLOAT32
                 : ti == 1 ? MX_FLOAT16
                 : ti == 2 ? MX_BFLOAT16
                           : MX_FLOAT64;
    mx_array *a = mx_astype(mx_array_from_data(d, &n, 1, MX_FLOAT32), t);
    check_sort(a, 0, "nan");
    for (int k = 0; k < 12; k++) check_partition(a, k, 0, "nan");
    /* -0.0 and 0.0 compare equal: stable order keeps them as given */
    mx_array *as = mx_argsort(a, 0);
    uint32_t idx[12];
    mx_array_read(as, MX_UINT32, idx, sizeof idx);
    uint32_t want[12] = {5, 10, 2, 4, 8, 11, 3, 9, 0, 7, 1, 6};
    MXT_CHECK(!memcmp(idx, want, sizeof want), "argsort nan/-0 order %s",
              mx_dtype_name(t));
    /* sort writes the original elements: -0.0 keeps its sign */
    float s[12];
    mx_array_read(mx_sort(a, 0), MX_FLOAT32, s, sizeof s);
    MXT_CHECK(
        signbit(s[2]) && !signbit(s[3]) && signbit(s[4]) && isnan(s[10]) && isnan(s[11]),
        "sorted zeros/nan %s", mx_dtype_name(t));
  }
}

static void test_numpy(void) {
  int shape[2] = {50, 40};
  mx_array *a = mxt_rand(shape, 2, MX_FLOAT64, -3, 3);
  mx_array *ti = mxt_rand(shape, 2, MX_INT32, -3, 3); /* ties */
  mx_array *parts[] = {mx_sort(a, 0), mx_sort(a, -1), mx_argsort(a, 0), mx_argsort(ti, 1),
                       mx_argsort(ti, 0)};
  int np = 5;
  int64_t n = 2000;
  double *got = malloc((size_t)(np * n) * sizeof *got);
  for (int i = 0; i < np; i++) {
    MXT_OK(parts[i]);
    if (!parts[i]) return;
    double *p = mxt_to_f64(parts[i]);
    memcpy(got + i * n, p, (size_t)n * sizeof *p);
    free(p);
  }
  mxt_named in[2] = {{"a", a}, {"t", ti}};
  const char *code =
      "a, t = A['a'], A['t']\n"
      "s = lambda x, ax: np.sort(x, axis=ax, kind='stable')\n"
      "g = lambda x, ax: np.argsort(x, axis=ax, kind='stable')\n"
      "parts = [s(a, 0), s(a, -1), g(a, 0), g(t, 1), g(t, 0)]\n"
      "R['r'] = np.concatenate([np.ravel(p).astype(np.float64) for p in parts])\n";
  double *ref = NULL;
  int64_t nref = 0;
  if (mxt_numpy(code, in, 2, "r", &ref, &nref)) {
    MXT_CHECK(nref == np * n, "numpy size");
    for (int64_t i = 0; i < np * n && i < nref; i++)
      if (got[i] != ref[i]) {
        MXT_CHECK(0, "numpy element %lld (part %lld): %g vs %g", (long long)i,
                  (long long)(i / n), got[i], ref[i]);
        break;
      }
  }
  free(ref);
  free(got);
}

static void test_topk(void) {
  int shape[2] = {6, 50};
  mx_array *a = mxt_rand(shape, 2, MX_FLOAT32, -10, 10);
  double *av = mxt_to_f64(a);
  for (int axis = -2; axis < 2; axis++) {
    int ax = axis < 0 ? axis + 2 : axis, L = shape[ax], other = shape[1 - ax];
    for (int k = 0; k <= L; k += (k < 3 ? 1 : 13)) {
      mx_array *r = mx_topk(a, k, axis);
      MXT_OK(r);
      if (!r) continue;
      MXT_CHECK(mx_array_shape(r)[ax] == k && mx_array_shape(r)[1 - ax] == other,
                "topk shape");
      double *rv = mxt_to_f64(r);
      int bad = 0;
      for (int o = 0; o < other; o++) {
        /* the k largest: sorted result equals the sorted tail of the line */
        double line[50], got[50];
        for (int q = 0; q < L; q++) line[q] = ax ? av[o * 50 + q] : av[q * 50 + o];
        for (int q = 0; q < k; q++) got[q] = ax ? rv[o * k + q] : rv[q * other + o];
        for (int pass = 0; pass < 2; pass++) {
          double *v = pass ? got : line;
          int m = pass ? k : L;
          for (int i = 1; i < m; i++) {
            double x = v[i];
            int j = i - 1;
            while (j >= 0 && v[j] > x) {
              v[j + 1] = v[j];
              j--;
            }
            v[j + 1] = x;
          }
        }
        for (int q = 0; q < k; q++)
          if (got[q] != line[L - k + q]) bad = 1;
        /* as MLX (tail of partition(-k)): the smallest of the k comes first */
        if (k > 0 && (ax ? rv[o * k] : rv[o]) != line[L - k]) bad = 2;
      }
      MXT_CHECK(!bad, "topk k=%d axis %d: %d", k, axis, bad);
      free(rv);
    }
  }
  free(av);
  MXT_CHECK(mx_topk(a, 51, 1) == NULL, "k > n");
  MXT_CHECK(strstr(mx_last_error(), "[topk]") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_topk(a, -1, 1) == NULL, "k < 0");
  mx_clear_error();
  MXT_CHECK(mx_topk(a, 1, 2) == NULL, "bad axis");
  mx_clear_error();
}

static void test_large_and_special(void) {
  /* long line: sortedness, permutation, agreement of sort and argsort */
  int n = 300007;
  mx_array *a = mxt_rand(&n, 1, MX_FLOAT32, -1000, 1000);
  double *av = mxt_to_f64(a);
  double *sv = mxt_to_f64(mx_sort(a, 0)), *iv = mxt_to_f64(mx_argsort(a, 0));
  char *seen = calloc((size_t)n, 1);
  int bad = 0;
  for (int i = 0; i < n && !bad; i++) {
    int id = (int)iv[i];
    if (id < 0 || id >= n || seen[id])
      bad = 1;
    else
      seen[id] = 1;
    if (!bad && av[id] != sv[i]) bad = 2;
    if (i && sv[i] < sv[i - 1]) bad = 3;
    if (i && sv[i] == sv[i - 1] && iv[i] < iv[i - 1]) bad = 4; /* stable */
  }
  MXT_CHECK(!bad, "long sort %d", bad);
  free(av);
  free(sv);
  free(iv);
  free(seen);
  check_partition(a, 123456, 0, "long");
  check_partition(a, -5, 0, "long");
  /* many equal keys: partition must not degrade or loop */
  mx_array *eq = mx_astype(mxt_rand(&n, 1, MX_INT32, 0, 2), MX_FLOAT32);
  check_partition(eq, n / 3, 0, "two values");
  /* uint64 beyond 2^53 sorted exactly */
  uint64_t u[5] = {UINT64_MAX, (1ull << 63) + 1, (1ull << 63), 5, UINT64_MAX - 1};
  int n5 = 5;
  uint64_t us[5];
  mx_array_read(mx_sort(mx_array_from_data(u, &n5, 1, MX_UINT64), 0), MX_UINT64, us,
                sizeof us);
  uint64_t uw[5] = {5, 1ull << 63, (1ull << 63) + 1, UINT64_MAX - 1, UINT64_MAX};
  MXT_CHECK(!memcmp(us, uw, sizeof uw), "uint64 sort");
  int64_t s64[4] = {INT64_MIN, INT64_MAX, -1, INT64_MIN + 1};
  int64_t so[4];
  int n4 = 4;
  mx_array_read(mx_sort(mx_array_from_data(s64, &n4, 1, MX_INT64), 0), MX_INT64, so,
                sizeof so);
  MXT_CHECK(
      so[0] == INT64_MIN && so[1] == INT64_MIN + 1 && so[2] == -1 && so[3] == INT64_MAX,
      "int64 sort");
  /* complex: real part, then imaginary part */
  float z[8] = {1, 2, 0, 5, 1, -1, 0, 4};
  mx_array *za = mx_array_from_data(z, &n4, 1, MX_COMPLEX64);
  uint32_t zi[4];
  mx_array_read(mx_argsort(za, 0), MX_UINT32, zi, sizeof zi);
  MXT_CHECK(zi[0] == 3 && zi[1] == 1 && zi[2] == 2 && zi[3] == 0, "complex argsort");
  /* empty and size-1 axes */
  int e[2] = {0, 5};
  mx_array *ea = mx_zeros(e, 2, MX_FLOAT32);
  mx_array *es = mx_sort(ea, 1);
  MXT_CHECK(es && mx_array_size(es) == 0 && mx_eval1(es) == MX_OK, "empty sort");
  int one[2] = {3, 1};
  mx_array *oa = mxt_rand(one, 2, MX_FLOAT32, 0, 1);
  double zeros[3] = {0, 0, 0};
  mxt_close(mx_argsort(oa, 1), zeros, 3, 0, 0, "size-1 argsort");
  mxt_close(mx_argpartition(oa, 0, 1), zeros, 3, 0, 0, "size-1 argpartition");
  /* errors */
  mx_array *s0 = mx_array_scalar_f64(1, MX_FLOAT32);
  MXT_CHECK(mx_sort(s0, 0) == NULL, "0-d sort");
  mx_clear_error();
  MXT_CHECK(mx_argsort(oa, 2) == NULL, "argsort axis");
  MXT_CHECK(strstr(mx_last_error(), "[argsort]") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_partition(oa, 3, 0) == NULL, "kth too big");
  MXT_CHECK(strstr(mx_last_error(), "kth") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_argpartition(oa, -4, 0) == NULL, "kth too small");
  mx_clear_error();
  MXT_CHECK(mx_partition(ea, 0, 0) == NULL, "kth on empty axis");
  mx_clear_error();
  MXT_CHECK(mx_sort(NULL, 0) == NULL && mx_topk(NULL, 1, 0) == NULL &&
                mx_last_status() == MX_OK,
            "NULL");
}

int main(void) {
  MXT_RUN(test_all_dtypes);
  MXT_RUN(test_nan_and_zero);
  MXT_RUN(test_numpy);
  MXT_RUN(test_topk);
  MXT_RUN(test_large_and_special);
  return mxt_finish();
}
