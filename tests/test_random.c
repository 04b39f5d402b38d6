/* test_random.c: the random module against independent references:
 *  - Threefry-2x32 against the Random123 known-answer vectors;
 *  - keys, split, bits and uniform against the values MLX's own tests list
 *    (mlx/tests/random_tests.cpp, generated with JAX's threefry);
 *  - each sampler against its defining formula evaluated here from the raw
 *    bits of the same key (MLX composes samplers from bits), with erfinv
 *    from a float64 bisection on libm's erf/erfc;
 *  - statistics (mean, variance, kurtosis, rates, chi-square) on 10^5..10^6
 *    draws with bounds of >= 5 standard errors (a fixed key keeps the test
 *    deterministic; the bounds say any key passes with overwhelming odds);
 *  - reproducibility, the global key, dtypes, laziness and errors. */
#include "harness.h"
#include "primitives/random.h"

/* ---- helpers ---- */

static uint32_t *read_u32(mx_array *a) {
  int64_t n = mx_array_size(a);
  uint32_t *d = malloc((size_t)(n ? n : 1) * sizeof *d);
  if (mx_array_read(a, MX_UINT32, d, (size_t)n * sizeof *d) != MX_OK) {
    free(d);
    return NULL;
  }
  return d;
}

static mx_array *key2(uint32_t a, uint32_t b) {
  uint32_t k[2] = {a, b};
  int two = 2;
  return mx_array_from_data(k, &two, 1, MX_UINT32);
}

static bool eq_u32(mx_array *a, const uint32_t *want, int64_t n, const char *what) {
  MXT_OK(a);
  if (!a) return false;
  MXT_CHECK(mx_array_size(a) == n, "%s: size %lld != %lld", what,
            (long long)mx_array_size(a), (long long)n);
  if (mx_array_size(a) != n) return false;
  uint32_t *d = read_u32(a);
  MXT_CHECK(d != NULL, "%s: read: %s", what, mx_last_error());
  if (!d) return false;
  bool ok = true;
  for (int64_t i = 0; i < n; i++)
    if (d[i] != want[i]) {
      MXT_CHECK(0, "%s[%lld] = %u, want %u", what, (long long)i, d[i], want[i]);
      ok = false;
      break;
    }
  free(d);
  return ok;
}

typedef struct {
  double mean, var, kurt; /* kurt: excess kurtosis */
  double lo, hi;
} stats;

static stats moments(const double *x, int64_t n) {
  stats s = {0, 0, 0, INFINITY, -INFINITY};
  for (int64_t i = 0; i < n; i++) {
    s.mean += x[i];
    if (x[i] < s.lo) s.lo = x[i];
    if (x[i] > s.hi) s.hi = x[i];
  }
  s.mean /= (double)n;
  double m2 = 0, m4 = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = x[i] - s.mean;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m2 /= (double)n;
  m4 /= (double)n;
  s.var = m2;
  s.kurt = m4 / (m2 * m2) - 3;
  return s;
}

/* float64 inverse error function by bisection on erf (erfc in the tails,
 * where 1 - |y| is exact for float inputs): independent of the library's
 * polynomial. */
static double ref_erfinv(double y) {
  if (y == 0) return 0;
  double s = y < 0 ? -1 : 1, ay = fabs(y);
  double lo = 0, hi = 10;
  for (int it = 0; it < 200; it++) {
    double mid = 0.5 * (lo + hi);
    bool below = ay > 0.5 ? erfc(mid) > 1 - ay : erf(mid) < ay;
    if (below)
      lo = mid;
    else
      hi = mid;
  }
  return s * 0.5 * (lo + hi);
}

static float f16r(float x) { return mx_f16_to_f32(mx_f32_to_f16(x)); }
static float bf16r(float x) { return mx_bf16_to_f32(mx_f32_to_bf16(x)); }
static float round_to(float x, mx_dtype t) {
  return t == MX_FLOAT16 ? f16r(x) : t == MX_BFLOAT16 ? bf16r(x) : x;
}

/* MLX's uniform in [0, 1) from a 32-bit word, before the cast: minimum of
 * bits / float32(UINT32_MAX) and the largest value below 1 in t. */
static float unit_of(uint32_t w, mx_dtype t) {
  float upper = t == MX_FLOAT16    ? 0.99951171875f
                : t == MX_BFLOAT16 ? 0.99609375f
                                   : 0.99999994039535522f;
  float v = (float)w / (float)UINT32_MAX;
  return v < upper ? v : upper;
}

/* ---- Threefry and keys ---- */

static void test_threefry_kat(void) {
  /* Random123 kat_vectors, threefry2x32 with 20 rounds */
  static const uint32_t kat[3][6] = {
      {0, 0, 0, 0, 0x6b200159u, 0x99ba4efeu},
      {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x1cb996fcu, 0xbb002be7u},
      {0x13198a2eu, 0x03707344u, 0x243f6a88u, 0x85a308d3u, 0xc4923a9cu, 0x483df7a0u},
  };
  for (int i = 0; i < 3; i++) {
    uint32_t out[2];
    mx_threefry2x32(kat[i], kat[i] + 2, out);
    MXT_CHECK(out[0] == kat[i][4] && out[1] == kat[i][5], "kat %d: %08x %08x", i, out[0],
              out[1]);
  }
}

static void test_key(void) {
  uint32_t want[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  uint64_t seeds[4] = {0, 1, (uint64_t)1 << 32, ((uint64_t)1 << 32) + 1};
  for (int i = 0; i < 4; i++) {
    mx_array *k = mx_random_key(seeds[i]);
    MXT_CHECK(mx_array_dtype(k) == MX_UINT32 && mx_array_ndim(k) == 1, "key meta");
    eq_u32(k, want[i], 2, "key");
  }
  uint32_t big[2] = {0xdeadbeefu, 0x01234567u};
  eq_u32(mx_random_key(0xdeadbeef01234567ull), big, 2, "key hi/lo");
}

static void test_split_mlx_values(void) {
  /* MLX random_tests.cpp "test random split" */
  mx_array *keys = mx_random_split(mx_random_key(0), 2);
  uint32_t want2[4] = {4146024105u, 967050713u, 2718843009u, 1272950319u};
  eq_u32(keys, want2, 4, "split(key(0))");
  MXT_CHECK(mx_array_dim(keys, 0) == 2 && mx_array_dim(keys, 1) == 2, "shape");
  uint32_t want3[6] = {2467461003u, 428148500u,  3186719485u,
                       3840466878u, 2562233961u, 1946702221u};
  eq_u32(mx_random_split(mx_random_key(0), 3), want3, 6, "split(key(0), 3)");
  mx_array *k10 = mx_random_split(mx_random_key(7), 10);
  MXT_CHECK(mx_array_dim(k10, 0) == 10 && mx_array_dim(k10, 1) == 2, "split 10 shape");
  /* split of a split key: rows are keys in their own right */
  int start[2] = {1, 0}, stop[2] = {2, 2};
  int two = 2;
  mx_array *row = mx_reshape(mx_slice(keys, start, stop, NULL), &two, 1);
  uint32_t *r = read_u32(mx_random_split(row, 1));
  uint32_t ref[2];
  mx_threefry2x32(want2 + 2, (uint32_t[2]){0, 1}, ref);
  MXT_CHECK(r && r[0] == ref[0] && r[1] == ref[1], "split of row");
  free(r);
}

static void test_bits_mlx_values(void) {
  /* MLX random_tests.cpp "test random bits" */
  mx_array *k0 = mx_random_key(0), *k1 = mx_random_key(1);
  uint32_t v;
  v = 1797259609u;
  eq_u32(mx_random_bits(NULL, 0, 4, k0), &v, 1, "bits k0");
  v = 345;
  eq_u32(mx_random_bits(NULL, 0, 2, k0), &v, 1, "bits16 k0");
  v = 89;
  eq_u32(mx_random_bits(NULL, 0, 1, k0), &v, 1, "bits8 k0");
  v = 507451445u;
  eq_u32(mx_random_bits(NULL, 0, 4, k1), &v, 1, "bits k1");
  v = 6197;
  eq_u32(mx_random_bits(NULL, 0, 2, k1), &v, 1, "bits16 k1");
  v = 53;
  eq_u32(mx_random_bits(NULL, 0, 1, k1), &v, 1, "bits8 k1");

  int s31[2] = {3, 1};
  uint32_t w3[3] = {4146024105u, 1351547692u, 2718843009u};
  eq_u32(mx_random_bits(s31, 2, 4, k0), w3, 3, "bits (3,1)");

  uint32_t w16[8] = {20137, 63263, 1497, 14756, 16513, 41486, 44591, 19423};
  uint32_t w5[5] = {20137, 63263, 64300, 20622, 16513};
  uint32_t w6[6] = {20137, 63263, 64300, 20622, 16513, 41486};
  uint32_t w7[7] = {20137, 63263, 1497, 14756, 16513, 41486, 44591};
  int n;
  n = 5;
  mx_array *b5 = mx_random_bits(&n, 1, 2, k0);
  MXT_CHECK(mx_array_dtype(b5) == MX_UINT16, "width 2 -> uint16");
  eq_u32(b5, w5, 5, "bits16 (5)");
  n = 6;
  eq_u32(mx_random_bits(&n, 1, 2, k0), w6, 6, "bits16 (6)");
  n = 7;
  eq_u32(mx_random_bits(&n, 1, 2, k0), w7, 7, "bits16 (7)");
  n = 8;
  eq_u32(mx_random_bits(&n, 1, 2, k0), w16, 8, "bits16 (8)");
  n = 0;
  mx_array *e = mx_random_bits(&n, 1, 4, k0);
  MXT_OK(e);
  MXT_CHECK(mx_eval1(e) == MX_OK && mx_array_size(e) == 0, "empty bits");

  /* width 1: the same bytes as width 4, little-endian */
  n = 11;
  mx_array *b8 = mx_random_bits(&n, 1, 1, k1);
  int n3 = 3;
  mx_array *b32 = mx_random_bits(&n3, 1, 4, k1);
  uint32_t *x8 = read_u32(b8), *x32 = read_u32(b32);
  MXT_CHECK(mx_array_dtype(b8) == MX_UINT8, "width 1 -> uint8");
  /* 11 bytes = 3 words: identical word layout as 3 uint32 (odd count) */
  for (int i = 0; x8 && x32 && i < 11; i++)
    MXT_CHECK(x8[i] == ((x32[i / 4] >> (8 * (i % 4))) & 0xff), "byte %d", i);
  free(x8);
  free(x32);
}

/* A larger draw checked word by word against Threefry evaluated here with
 * MLX's counter layout. */
static void test_bits_layout(void) {
  uint32_t k[2] = {0x12345678u, 0x9abcdef0u};
  mx_array *key = key2(k[0], k[1]);
  for (int n = 1; n <= 41; n += 4) {
    mx_array *b = mx_random_bits(&n, 1, 4, key);
    uint32_t *d = read_u32(b);
    MXT_OK(d);
    if (!d) return;
    int half = n / 2, odd = n & 1;
    for (int i = 0; i < n; i++) {
      uint32_t ctr[2], o[2], want;
      if (odd && i == half) {
        ctr[0] = (uint32_t)half, ctr[1] = 0;
        mx_threefry2x32(k, ctr, o);
        want = o[0];
      } else if (i < half) {
        ctr[0] = (uint32_t)i, ctr[1] = (uint32_t)(i + half + odd);
        mx_threefry2x32(k, ctr, o);
        want = o[0];
      } else {
        ctr[0] = (uint32_t)(i - half - odd), ctr[1] = (uint32_t)i;
        mx_threefry2x32(k, ctr, o);
        want = o[1];
      }
      MXT_CHECK(d[i] == want, "n=%d word %d", n, i);
    }
    free(d);
  }
  /* big enough for the worker pool: same words as evaluated one by one */
  int big = 100003;
  uint32_t *d = read_u32(mx_random_bits(&big, 1, 4, key));
  uint32_t o[2];
  mx_threefry2x32(k, (uint32_t[2]){7, 7 + 50001 + 1}, o);
  MXT_CHECK(d && d[7] == o[0] && d[7 + 50002] == o[1], "large draw layout");
  free(d);
}

static void test_key_checks(void) {
  int32_t ki[2] = {0, 0};
  int two = 2;
  mx_array *bad = mx_array_from_data(ki, &two, 1, MX_INT32);
  MXT_CHECK(mx_random_uniform(0, 1, NULL, 0, MX_FLOAT32, bad) == NULL, "int32 key");
  MXT_CHECK(strstr(mx_last_error(), "uint32") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  uint32_t k3[3] = {0, 0, 0};
  int three = 3;
  bad = mx_array_from_data(k3, &three, 1, MX_UINT32);
  MXT_CHECK(mx_random_normal(NULL, 0, MX_FLOAT32, 0, 1, bad) == NULL, "(3,) key");
  MXT_CHECK(strstr(mx_last_error(), "key shape") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  int s12[2] = {1, 2};
  bad = mx_array_from_data(k3, s12, 2, MX_UINT32);
  MXT_CHECK(mx_random_bits(NULL, 0, 4, bad) == NULL, "(1,2) key");
  mx_clear_error();
  mx_array *k = mx_random_key(0);
  MXT_CHECK(mx_random_bits(NULL, 0, 3, k) == NULL, "width 3");
  MXT_CHECK(strstr(mx_last_error(), "width") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  int neg = -1;
  MXT_CHECK(mx_random_uniform(0, 1, &neg, 1, MX_FLOAT32, k) == NULL, "negative dim");
  mx_clear_error();
  MXT_CHECK(mx_random_split(k, -1) == NULL, "split -1");
  mx_clear_error();
}

/* A key that is a strided view (stride 2) draws like its contiguous copy. */
static void test_strided_key(void) {
  uint32_t raw[4] = {11, 999, 22, 999};
  int four = 4;
  mx_array *a = mx_array_from_data(raw, &four, 1, MX_UINT32);
  int start = 0, stop = 4, step = 2;
  mx_array *k = mx_slice(a, &start, &stop, &step);
  int n = 9;
  uint32_t *x = read_u32(mx_random_bits(&n, 1, 4, k));
  uint32_t *y = read_u32(mx_random_bits(&n, 1, 4, key2(11, 22)));
  MXT_CHECK(x && y && memcmp(x, y, 9 * sizeof *x) == 0, "strided key");
  free(x);
  free(y);
}

static void test_global_key(void) {
  mx_random_seed(4);
  mx_array *x = mx_random_bits(NULL, 0, 4, NULL), *y = mx_random_bits(NULL, 0, 4, NULL);
  mx_random_seed(4);
  mx_array *a = mx_random_bits(NULL, 0, 4, NULL), *b = mx_random_bits(NULL, 0, 4, NULL);
  MXT_CHECK(mx_array_item_i64(x) == mx_array_item_i64(a), "same first");
  MXT_CHECK(mx_array_item_i64(y) == mx_array_item_i64(b), "same second");
  MXT_CHECK(mx_array_item_i64(x) != mx_array_item_i64(y), "successive differ");
  /* the global sequence is MLX's: seed(0) -> key(0); a draw splits it and
   * samples with the second row (split values listed by MLX) */
  mx_random_seed(0);
  mx_array *g = mx_random_bits(NULL, 0, 4, NULL);
  mx_array *r = mx_random_bits(NULL, 0, 4, key2(2718843009u, 1272950319u));
  MXT_CHECK(mx_array_item_i64(g) == mx_array_item_i64(r), "global = split row 1");
  mx_array *g2 = mx_random_bits(NULL, 0, 4, NULL);
  mx_array *nk = mx_random_split(key2(4146024105u, 967050713u), 2);
  int start[2] = {1, 0}, stop[2] = {2, 2}, two = 2;
  mx_array *sub = mx_reshape(mx_slice(nk, start, stop, NULL), &two, 1);
  MXT_CHECK(mx_array_item_i64(g2) == mx_array_item_i64(mx_random_bits(NULL, 0, 4, sub)),
            "second global draw continues the sequence");
}

static void test_lazy(void) {
  mx_array *k = mx_random_key(3);
  int n = 16;
  mx_array *u = mx_random_uniform(0, 1, &n, 1, MX_FLOAT32, k);
  MXT_CHECK(!mx_array_is_evaluated(u), "sampling is lazy");
  MXT_CHECK(mx_eval1(u) == MX_OK && mx_array_is_evaluated(u), "evaluates");
}

/* ---- uniform ---- */

static void test_uniform_mlx_values(void) {
  /* MLX random_tests.cpp "test random uniform": float(bits) / UINT32_MAX */
  float want = (float)1797259609u / (float)UINT32_MAX;
  mx_array *a = mx_random_uniform(0, 1, NULL, 0, MX_FLOAT32, mx_random_key(0));
  MXT_CHECK(mx_array_ndim(a) == 0 && mx_array_dtype(a) == MX_FLOAT32, "meta");
  MXT_CHECK((float)mx_array_item_f64(a) == want, "key(0) %.9g", mx_array_item_f64(a));
  want = (float)507451445u / (float)UINT32_MAX;
  a = mx_random_uniform(0, 1, NULL, 0, MX_FLOAT32, mx_random_key(1));
  MXT_CHECK((float)mx_array_item_f64(a) == want, "key(1)");
  int s31[2] = {3, 1};
  a = mx_random_uniform(0, 1, s31, 2, MX_FLOAT32, mx_random_key(0));
  double ref[3] = {(float)4146024105u / (float)UINT32_MAX,
                   (float)1351547692u / (float)UINT32_MAX,
                   (float)2718843009u / (float)UINT32_MAX};
  mxt_close(a, ref, 3, 0, 0, "uniform (3,1)");
}

/* uniform(lo, hi) = lo + (hi - lo) * unit, each step rounded in the dtype */
static void test_uniform_formula(void) {
  mx_dtype ts[3] = {MX_FLOAT32, MX_FLOAT16, MX_BFLOAT16};
  int n = 4099;
  mx_array *k = key2(5, 6);
  uint32_t *w = read_u32(mx_random_bits(&n, 1, 4, k));
  MXT_OK(w);
  if (!w) return;
  for (int ti = 0; ti < 3; ti++) {
    mx_dtype t = ts[ti];
    double lo = -2.5, hi = 7.25;
    mx_array *u = mx_random_uniform(lo, hi, &n, 1, t, k);
    MXT_CHECK(mx_array_dtype(u) == t, "dtype");
    double *ref = malloc((size_t)n * sizeof *ref);
    float flo = round_to((float)lo, t), fhi = round_to((float)hi, t);
    float range = round_to(fhi - flo, t);
    for (int i = 0; i < n; i++) {
      float v = round_to(unit_of(w[i], t), t);
      ref[i] = round_to(round_to(range * v, t) + flo, t);
    }
    mxt_close(u, ref, n, 0, 0, mx_dtype_name(t));
    double *d = mxt_to_f64(u);
    for (int i = 0; d && i < n; i++)
      if (!(d[i] >= lo && d[i] < hi)) {
        MXT_CHECK(0, "%s: %g outside [lo, hi)", mx_dtype_name(t), d[i]);
        break;
      }
    free(d);
    free(ref);
  }
  free(w);
  /* words close to 2^32 must stay below 1 in every dtype */
  for (int ti = 0; ti < 3; ti++) {
    float v = round_to(unit_of(0xffffffffu, ts[ti]), ts[ti]);
    MXT_CHECK(v < 1.0f, "clamp below one %s", mx_dtype_name(ts[ti]));
  }
}

static void test_uniform_stats(void) {
  int n = 1000000;
  mx_array *u = mx_random_uniform(0, 1, &n, 1, MX_FLOAT32, mx_random_key(42));
  double *d = mxt_to_f64(u);
  MXT_OK(d);
  if (!d) return;
  stats s = moments(d, n);
  /* sd of the mean sqrt(1/12/n) = 2.9e-4; of the variance
   * sqrt((1/80 - 1/144)/n) = 7.5e-5; bounds are > 5 sd */
  MXT_CHECK(fabs(s.mean - 0.5) < 1.5e-3, "mean %g", s.mean);
  MXT_CHECK(fabs(s.var - 1.0 / 12) < 4e-4, "var %g", s.var);
  MXT_CHECK(s.lo >= 0 && s.hi < 1, "range [%g, %g]", s.lo, s.hi);
  /* 10 equal bins: chi-square with 9 dof; 50 is far beyond its 1e-6 tail */
  double bins[10] = {0};
  for (int i = 0; i < n; i++) bins[(int)(d[i] * 10)]++;
  double chi = 0;
  for (int b = 0; b < 10; b++)
    chi += (bins[b] - n / 10.0) * (bins[b] - n / 10.0) / (n / 10.0);
  MXT_CHECK(chi < 50, "chi2 %g", chi);
  free(d);
}

static void test_uniform_errors(void) {
  mx_array *k = mx_random_key(0);
  MXT_CHECK(mx_random_uniform(0, 1, NULL, 0, MX_INT32, k) == NULL, "int32");
  MXT_CHECK(strstr(mx_last_error(), "[uniform]") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_random_uniform(0, 1, NULL, 0, MX_FLOAT64, k) == NULL, "float64 (MLX)");
  mx_clear_error();
  int z = 0;
  mx_array *e = mx_random_uniform(0, 1, &z, 1, MX_BFLOAT16, k);
  MXT_CHECK(e && mx_eval1(e) == MX_OK && mx_array_size(e) == 0, "empty");
}

/* ---- normal ---- */

static void test_normal_formula(void) {
  /* normal = sqrt(2) * erfinv(u), u = uniform(nextafter(-1, 0), 1) in float32;
   * MLX's erfinv is accurate to ~2.4 ulp; compare with a float64 erfinv */
  int n = 20000;
  mx_array *k = key2(77, 78);
  uint32_t *w = read_u32(mx_random_bits(&n, 1, 4, k));
  mx_array *x = mx_random_normal(&n, 1, MX_FLOAT32, 0, 1, k);
  mx_array *xs = mx_random_normal(&n, 1, MX_FLOAT32, 1.5, 0.25, k);
  mx_array *x64 = mx_random_normal(&n, 1, MX_FLOAT64, 0, 1, k);
  double *d = mxt_to_f64(x), *ds = mxt_to_f64(xs), *d64 = mxt_to_f64(x64);
  MXT_OK(w);
  MXT_OK(d);
  if (!w || !d || !ds || !d64) goto done;
  float lo = -0.99999994039535522f;
  double maxrel = 0;
  for (int i = 0; i < n; i++) {
    float v = unit_of(w[i], MX_FLOAT32);
    float u = 2.0f * v;
    u = u + lo;
    double ref = sqrt(2.0) * ref_erfinv(u);
    double err = fabs(d[i] - ref) / fmax(fabs(ref), 1e-30);
    if (ref != 0 && err > maxrel) maxrel = err;
    /* loc/scale: (sqrt2 * scale) * erfinv + loc, rounded in float32 */
    MXT_CHECK(fabs(ds[i] - (1.5 + 0.25 * ref)) <= 1e-6 * (1.5 + fabs(0.25 * ref)),
              "loc/scale %d: %g vs %g", i, ds[i], 1.5 + 0.25 * ref);
    /* float64 output: the same float32 erfinv, times sqrt(2) in float64 */
    MXT_CHECK(fabs(d64[i] - ref) <= 1e-6 * fabs(ref) + 1e-12, "f64 %d", i);
    if (mxt_checks_failed) break;
  }
  MXT_CHECK(maxrel < 1e-6, "max rel error vs float64 erfinv %g", maxrel);
done:
  free(w);
  free(d);
  free(ds);
  free(d64);
}

static void test_normal_stats(void) {
  int n = 1000000;
  double *d = mxt_to_f64(mx_random_normal(&n, 1, MX_FLOAT32, 0, 1, mx_random_key(123)));
  MXT_OK(d);
  if (!d) return;
  stats s = moments(d, n);
  /* sd: mean 1e-3, variance sqrt(2/n) = 1.4e-3, excess kurtosis
   * sqrt(24/n) = 4.9e-3; bounds are 5 sd */
  MXT_CHECK(fabs(s.mean) < 5e-3, "mean %g", s.mean);
  MXT_CHECK(fabs(s.var - 1) < 7.1e-3, "var %g", s.var);
  MXT_CHECK(fabs(s.kurt) < 0.025, "excess kurtosis %g", s.kurt);
  MXT_CHECK(isfinite(s.lo) && isfinite(s.hi) && s.hi > 4 && s.lo < -4, "tails [%g, %g]",
            s.lo, s.hi);
  free(d);
  /* loc and scale */
  n = 200000;
  d = mxt_to_f64(mx_random_normal(&n, 1, MX_FLOAT32, 3, 2, mx_random_key(9)));
  s = moments(d, n);
  MXT_CHECK(fabs(s.mean - 3) < 5 * 2 / sqrt(n), "mean %g", s.mean);
  MXT_CHECK(fabs(s.var - 4) < 5 * 4 * sqrt(2.0 / n), "var %g", s.var);
  free(d);
}

static void test_normal_half(void) {
  /* float16/bfloat16: astype(erfinv) then * sqrt2 in the dtype; never inf */
  mx_dtype ts[2] = {MX_FLOAT16, MX_BFLOAT16};
  int n = 10000;
  mx_array *k = mx_random_key(128291);
  double *f = mxt_to_f64(mx_random_normal(&n, 1, MX_FLOAT32, 0, 1, k));
  for (int ti = 0; ti < 2; ti++) {
    mx_array *h = mx_random_normal(&n, 1, ts[ti], 0, 1, k);
    MXT_CHECK(mx_array_dtype(h) == ts[ti], "dtype");
    double *d = mxt_to_f64(h);
    if (!d || !f) break;
    float sq = round_to((float)sqrt(2.0), ts[ti]);
    for (int i = 0; i < n; i++) {
      /* recover erfinv in float32 from the float32 draw: the half result
       * is round(sq * round(erfinv)); allow one rounding step of slack */
      double want = sq * round_to((float)(f[i] / (float)sqrt(2.0)), ts[ti]);
      double tol = (ts[ti] == MX_FLOAT16 ? 2.0 / 1024 : 2.0 / 128) * fabs(want) + 1e-6;
      MXT_CHECK(isfinite(d[i]) && fabs(d[i] - want) <= tol, "%s %d: %g vs %g",
                mx_dtype_name(ts[ti]), i, d[i], want);
      if (mxt_checks_failed) break;
    }
    stats s = moments(d, n);
    MXT_CHECK(fabs(s.mean) < 0.05 && fabs(s.var - 1) < 0.08, "%s mean %g var %g",
              mx_dtype_name(ts[ti]), s.mean, s.var);
    free(d);
  }
  free(f);
  /* complex64: each part N(0, 1/2) */
  int m = 100000;
  mx_array *c = mx_random_normal(&m, 1, MX_COMPLEX64, 0, 1, mx_random_key(5));
  MXT_OK(c);
  MXT_CHECK(mx_array_dtype(c) == MX_COMPLEX64, "complex dtype");
  float *cd = malloc((size_t)m * 8);
  if (c && mx_array_read(c, MX_COMPLEX64, cd, (size_t)m * 8) == MX_OK) {
    double *re = malloc((size_t)m * sizeof *re), *im = malloc((size_t)m * sizeof *im);
    for (int i = 0; i < m; i++) re[i] = cd[2 * i], im[i] = cd[2 * i + 1];
    stats sr = moments(re, m), si = moments(im, m);
    /* sd of the variance: 0.5 * sqrt(2/m) = 2.2e-3 */
    MXT_CHECK(fabs(sr.var - 0.5) < 0.012 && fabs(si.var - 0.5) < 0.012, "var %g %g",
              sr.var, si.var);
    MXT_CHECK(fabs(sr.mean) < 0.012 && fabs(si.mean) < 0.012, "mean %g %g", sr.mean,
              si.mean);
    free(re);
    free(im);
  }
  free(cd);
  MXT_CHECK(mx_random_normal(NULL, 0, MX_INT32, 0, 1, k) == NULL, "int normal");
  mx_clear_error();
}

/* ---- randint ---- */

static void test_randint(void) {
  int n = 200000;
  mx_array *k = mx_random_key(0);
  mx_array *a = mx_random_randint(-5, 5, &n, 1, MX_INT32, k);
  MXT_CHECK(mx_array_dtype(a) == MX_INT32, "dtype");
  double *d = mxt_to_f64(a);
  uint32_t *w = read_u32(mx_random_bits(&n, 1, 4, k));
  if (!d || !w) {
    MXT_CHECK(0, "read");
    free(d);
    free(w);
    return;
  }
  double cnt[10] = {0};
  for (int i = 0; i < n; i++) {
    /* floor(uniform(-5, 5)) in float32 */
    float u = 10.0f * unit_of(w[i], MX_FLOAT32);
    u = u + -5.0f;
    double want = floorf(u);
    MXT_CHECK(d[i] == want, "elt %d: %g vs %g", i, d[i], want);
    if (mxt_checks_failed) break;
    cnt[(int)d[i] + 5]++;
  }
  double chi = 0;
  for (int b = 0; b < 10; b++)
    chi += (cnt[b] - n / 10.0) * (cnt[b] - n / 10.0) / (n / 10.0);
  MXT_CHECK(chi < 50, "chi2 %g (9 dof)", chi);
  for (int b = 0; b < 10; b++) MXT_CHECK(cnt[b] > 0, "value %d drawn", b - 5);
  free(d);
  free(w);

  /* bounds hold when the interval is not exact in float32 (MLX test) */
  struct {
    mx_dtype t;
    int64_t lo, hi;
  } cases[3] = {{MX_INT32, 1 << 24, (1 << 24) + 2},
                {MX_UINT32, 1 << 24, (1 << 24) + 2},
                {MX_INT64, (int64_t)1 << 40, ((int64_t)1 << 40) + 1024}};
  int m = 10000;
  for (int c = 0; c < 3; c++) {
    mx_array *r = mx_random_randint(cases[c].lo, cases[c].hi, &m, 1, cases[c].t, k);
    int64_t *v = malloc((size_t)m * sizeof *v);
    MXT_CHECK(mx_array_read(r, MX_INT64, v, (size_t)m * 8) == MX_OK, "read");
    for (int i = 0; i < m; i++)
      if (v[i] < cases[c].lo || v[i] >= cases[c].hi) {
        MXT_CHECK(0, "case %d: %lld outside", c, (long long)v[i]);
        break;
      }
    free(v);
  }
  /* high <= low: all low (MLX) */
  int s33[2] = {3, 3};
  double *h = mxt_to_f64(mx_random_randint(20, -10, s33, 2, MX_INT32, k));
  for (int i = 0; h && i < 9; i++) MXT_CHECK(h[i] == 20, "high < low -> low");
  free(h);
  /* bool uses the whole interval */
  m = 1000;
  double *bb = mxt_to_f64(mx_random_randint(0, 2, &m, 1, MX_BOOL, k));
  int ones = 0;
  for (int i = 0; bb && i < m; i++) ones += bb[i] != 0;
  MXT_CHECK(ones > 400 && ones < 600, "bool ones %d", ones);
  free(bb);
  bb = mxt_to_f64(mx_random_randint(0, 1, &m, 1, MX_BOOL, k));
  for (int i = 0; bb && i < m; i++) MXT_CHECK(bb[i] == 0, "randint(0,1,bool)");
  free(bb);
  /* every integer dtype */
  mx_dtype its[8] = {MX_UINT8, MX_UINT16, MX_UINT32, MX_UINT64,
                     MX_INT8,  MX_INT16,  MX_INT32,  MX_INT64};
  for (int i = 0; i < 8; i++) {
    double *x = mxt_to_f64(mx_random_randint(3, 100, &m, 1, its[i], k));
    for (int j = 0; x && j < m; j++)
      if (x[j] < 3 || x[j] >= 100 || x[j] != floor(x[j])) {
        MXT_CHECK(0, "%s: %g", mx_dtype_name(its[i]), x[j]);
        break;
      }
    free(x);
  }
  MXT_CHECK(mx_random_randint(0, 1, NULL, 0, MX_FLOAT32, k) == NULL, "float randint");
  mx_clear_error();
}

/* ---- bernoulli ---- */

static void test_bernoulli(void) {
  mx_array *k = mx_random_key(31);
  int n = 200000;
  double pv = 0.3;
  mx_array *p = mx_array_scalar_f64(pv, MX_FLOAT32);
  mx_array *b = mx_random_bernoulli(p, &n, 1, k);
  MXT_CHECK(mx_array_dtype(b) == MX_BOOL, "dtype");
  double *d = mxt_to_f64(b);
  uint32_t *w = read_u32(mx_random_bits(&n, 1, 4, k));
  if (d && w) {
    double s = 0;
    for (int i = 0; i < n; i++) {
      /* bits < p * nextafter(2^32, inf), compared in float32 */
      bool want = (float)w[i] < (float)pv * 4294967808.0f;
      MXT_CHECK((d[i] != 0) == want, "elt %d", i);
      if (mxt_checks_failed) break;
      s += d[i];
    }
    /* sd of the rate sqrt(p(1-p)/n) = 1.0e-3 */
    MXT_CHECK(fabs(s / n - pv) < 5.1e-3, "rate %g", s / n);
  }
  free(d);
  free(w);

  /* p broadcast (1,3) -> (4000,3), non-contiguous p, float16 p */
  float pr[3] = {0.1f, 0.5f, 0.9f};
  int s13[2] = {1, 3}, shape[2] = {4000, 3};
  mx_array *p3 = mx_array_from_data(pr, s13, 2, MX_FLOAT32);
  mx_array *p3h = mx_astype(p3, MX_FLOAT16);
  mx_array *outs[2] = {mx_random_bernoulli(p3, shape, 2, k),
                       mx_random_bernoulli(p3h, shape, 2, k)};
  for (int o = 0; o < 2; o++) {
    double *x = mxt_to_f64(outs[o]);
    MXT_OK(x);
    if (!x) continue;
    for (int c = 0; c < 3; c++) {
      double s = 0;
      for (int i = 0; i < 4000; i++) s += x[i * 3 + c];
      double sd = sqrt(pr[c] * (1 - pr[c]) / 4000);
      MXT_CHECK(fabs(s / 4000 - pr[c]) < 5 * sd, "col %d rate %g", c, s / 4000);
    }
    free(x);
  }
  /* strided p: a column of a transposed matrix */
  float pm[6] = {0.0f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f};
  int s32[2] = {3, 2};
  mx_array *pt = mx_transpose(mx_array_from_data(pm, s32, 2, MX_FLOAT32), NULL, 0);
  double *x = mxt_to_f64(mx_random_bernoulli(pt, NULL, 0, k));
  for (int i = 0; x && i < 6; i++) MXT_CHECK(x[i] == (i >= 3), "p 0/1 strided %d", i);
  free(x);
  /* p outside [0, 1]: always false / always true; float64 p */
  double pe[2] = {2.0, -2.0};
  int two = 2;
  x = mxt_to_f64(
      mx_random_bernoulli(mx_array_from_data(pe, &two, 1, MX_FLOAT64), NULL, 0, k));
  MXT_CHECK(x && x[0] == 1 && x[1] == 0, "p = 2, -2");
  free(x);
  /* errors */
  MXT_CHECK(mx_random_bernoulli(mx_array_scalar_i64(1, MX_INT32), NULL, 0, k) == NULL,
            "int p");
  mx_clear_error();
  int bad = 2;
  MXT_CHECK(mx_random_bernoulli(p3, &bad, 1, k) == NULL, "p does not broadcast");
  MXT_CHECK(strstr(mx_last_error(), "broadcast") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
}

/* ---- gumbel, truncated normal ---- */

static void test_gumbel(void) {
  int n = 500000;
  mx_array *k = mx_random_key(2);
  mx_array *g = mx_random_gumbel(&n, 1, MX_FLOAT32, k);
  double *d = mxt_to_f64(g);
  uint32_t *w = read_u32(mx_random_bits(&n, 1, 4, k));
  if (d && w) {
    for (int i = 0; i < 1000; i++) {
      double want = -(double)logf(-logf(unit_of(w[i], MX_FLOAT32)));
      MXT_CHECK(d[i] == want, "elt %d: %g vs %g", i, d[i], want);
      if (mxt_checks_failed) break;
    }
    stats s = moments(d, n);
    /* mean Euler's gamma, variance pi^2/6 (sd of the mean 1.8e-3, of the
     * variance ~ sqrt((mu4 - s^4)/n) with mu4 = 5.4 s^4 -> 4.9e-3) */
    MXT_CHECK(fabs(s.mean - 0.5772156649) < 9e-3, "mean %g", s.mean);
    MXT_CHECK(fabs(s.var - M_PI * M_PI / 6) < 0.03, "var %g", s.var);
  }
  free(d);
  free(w);
  mx_array *h = mx_random_gumbel(&n, 1, MX_BFLOAT16, k);
  MXT_CHECK(mx_array_dtype(h) == MX_BFLOAT16, "bf16");
  d = mxt_to_f64(h);
  if (d) {
    stats s = moments(d, n);
    MXT_CHECK(fabs(s.mean - 0.5772) < 0.05, "bf16 mean %g", s.mean);
  }
  free(d);
}

static double phi(double x) { return exp(-0.5 * x * x) / sqrt(2 * M_PI); }
static double Phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

static void test_truncated_normal(void) {
  mx_dtype ts[3] = {MX_FLOAT32, MX_FLOAT16, MX_BFLOAT16};
  double a = -1, b = 2;
  int n = 200000;
  /* moments of N(0,1) truncated to [a, b] */
  double Z = Phi(b) - Phi(a);
  double mean = (phi(a) - phi(b)) / Z;
  double var = 1 + (a * phi(a) - b * phi(b)) / Z - mean * mean;
  for (int ti = 0; ti < 3; ti++) {
    mx_array *x = mx_random_truncated_normal(a, b, &n, 1, ts[ti], mx_random_key(17));
    MXT_CHECK(mx_array_dtype(x) == ts[ti], "dtype");
    double *d = mxt_to_f64(x);
    MXT_OK(d);
    if (!d) continue;
    stats s = moments(d, n);
    MXT_CHECK(s.lo >= a && s.hi <= b, "%s bounds [%g, %g]", mx_dtype_name(ts[ti]), s.lo,
              s.hi);
    /* sd of the mean sqrt(var/n) = 1.6e-3; half types add rounding bias */
    double tol = ts[ti] == MX_FLOAT32 ? 8e-3 : 0.02;
    MXT_CHECK(fabs(s.mean - mean) < tol, "%s mean %g vs %g", mx_dtype_name(ts[ti]),
              s.mean, mean);
    MXT_CHECK(fabs(s.var - var) < 2 * tol, "%s var %g vs %g", mx_dtype_name(ts[ti]),
              s.var, var);
    free(d);
  }
  /* the float32 draw equals sqrt2 * erfinv(u) with u uniform between
   * erf(a/sqrt2) and erf(b/sqrt2), to float32 accuracy */
  int m = 2000;
  mx_array *k = mx_random_key(17);
  double *d = mxt_to_f64(mx_random_truncated_normal(a, b, &m, 1, MX_FLOAT32, k));
  uint32_t *w = read_u32(mx_random_bits(&m, 1, 4, k));
  for (int i = 0; d && w && i < m; i++) {
    double ea = erf(a / sqrt(2.0)), eb = erf(b / sqrt(2.0));
    double u = ea + (eb - ea) * unit_of(w[i], MX_FLOAT32);
    double want = sqrt(2.0) * ref_erfinv(u);
    want = fmin(fmax(want, a), b);
    MXT_CHECK(fabs(d[i] - want) < 2e-5 * (1 + fabs(want)), "elt %d: %g vs %g", i, d[i],
              want);
    if (mxt_checks_failed) break;
  }
  free(d);
  free(w);
  /* upper < lower: everything is the lower bound (MLX clips) */
  int s34[2] = {3, 4};
  d = mxt_to_f64(mx_random_truncated_normal(2, -2, s34, 2, MX_FLOAT32, k));
  for (int i = 0; d && i < 12; i++) MXT_CHECK(d[i] == 2, "upper < lower");
  free(d);
  MXT_CHECK(mx_random_truncated_normal(-1, 1, NULL, 0, MX_INT8, k) == NULL, "int dtype");
  mx_clear_error();
}

/* ---- categorical ---- */

/* chi-square of counts against probabilities softmax(logits) */
static double chi_square(const double *cnt, const double *logits, int k, double n) {
  double mx = -INFINITY, z = 0, chi = 0;
  for (int i = 0; i < k; i++) mx = fmax(mx, logits[i]);
  for (int i = 0; i < k; i++) z += exp(logits[i] - mx);
  for (int i = 0; i < k; i++) {
    double e = n * exp(logits[i] - mx) / z;
    chi += (cnt[i] - e) * (cnt[i] - e) / e;
  }
  return chi;
}

static void test_categorical_stats(void) {
  double lg[5] = {0.5, -1.0, 2.0, 0.0, 1.0};
  int five = 5;
  mx_array *logits = mx_array_from_data(lg, &five, 1, MX_FLOAT64);
  /* 1-D logits with num_samples: MLX's inverse-CDF path */
  int ns = 100000;
  mx_array *s =
      mx_random_categorical(mx_astype(logits, MX_FLOAT32), 0, ns, mx_random_key(1));
  MXT_CHECK(mx_array_ndim(s) == 1 && mx_array_dim(s, 0) == ns, "shape");
  MXT_CHECK(mx_array_dtype(s) == MX_UINT32, "uint32");
  uint32_t *d = read_u32(s);
  double cnt[5] = {0};
  for (int i = 0; d && i < ns; i++) {
    MXT_CHECK(d[i] < 5, "range %u", d[i]);
    if (d[i] < 5) cnt[d[i]]++;
  }
  free(d);
  /* chi-square with 4 dof: P(chi2 > 40) < 1e-7 */
  double chi = chi_square(cnt, lg, 5, ns);
  MXT_CHECK(chi < 40, "inverse cdf chi2 %g", chi);

  /* (rows, 5) logits, one draw per row: the gumbel-max path; rows differ in
   * layout (a transposed copy) but hold the same logits */
  int rows = 40000, shape[2] = {5, rows};
  float *col = malloc((size_t)5 * rows * sizeof *col);
  for (int c = 0; c < 5; c++)
    for (int r = 0; r < rows; r++) col[c * rows + r] = (float)lg[c];
  mx_array *lt = mx_transpose(mx_array_from_data(col, shape, 2, MX_FLOAT32), NULL, 0);
  free(col);
  mx_array *g = mx_random_categorical(lt, -1, 0, mx_random_key(2));
  MXT_CHECK(mx_array_ndim(g) == 1 && mx_array_dim(g, 0) == rows, "gumbel shape");
  d = read_u32(g);
  memset(cnt, 0, sizeof cnt);
  for (int i = 0; d && i < rows; i++) cnt[d[i] < 5 ? d[i] : 0]++;
  free(d);
  chi = chi_square(cnt, lg, 5, rows);
  MXT_CHECK(chi < 40, "gumbel chi2 %g", chi);

  /* num_samples on (2, 5) logits: rows are different distributions */
  double lg2[10] = {0, 0, 0, 0, 0, 3, 0, 0, 0, -INFINITY};
  int s25[2] = {2, 5};
  mx_array *l2 = mx_array_from_data(lg2, s25, 2, MX_FLOAT64);
  mx_array *m = mx_random_categorical(l2, 1, 20000, mx_random_key(3));
  MXT_CHECK(
      mx_array_ndim(m) == 2 && mx_array_dim(m, 0) == 2 && mx_array_dim(m, 1) == 20000,
      "num_samples shape");
  d = read_u32(m);
  for (int r = 0; d && r < 2; r++) {
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < 20000; i++) cnt[d[r * 20000 + i] % 5]++;
    if (r == 1) MXT_CHECK(cnt[4] == 0, "-inf never drawn");
    double l4[4] = {lg2[r * 5], lg2[r * 5 + 1], lg2[r * 5 + 2], lg2[r * 5 + 3]};
    chi = chi_square(cnt, r == 0 ? lg2 : l4, r == 0 ? 5 : 4, 20000);
    MXT_CHECK(chi < 40, "row %d chi2 %g", r, chi);
  }
  free(d);
}

static void test_categorical_shapes(void) {
  mx_array *k = mx_random_key(4);
  int s[2] = {10, 20};
  mx_array *z = mx_zeros(s, 2, MX_FLOAT32);
  mx_array *a = mx_random_categorical(z, -1, 0, k);
  MXT_CHECK(mx_array_ndim(a) == 1 && mx_array_dim(a, 0) == 10, "axis -1");
  a = mx_random_categorical(z, 0, 0, k);
  MXT_CHECK(mx_array_ndim(a) == 1 && mx_array_dim(a, 0) == 20, "axis 0");
  uint32_t *d = read_u32(a);
  for (int i = 0; d && i < 20; i++) MXT_CHECK(d[i] < 10, "axis 0 range");
  free(d);
  a = mx_random_categorical(z, 1, 7, k);
  MXT_CHECK(mx_array_ndim(a) == 2 && mx_array_dim(a, 0) == 10 && mx_array_dim(a, 1) == 7,
            "samples 7");
  a = mx_random_categorical(z, 0, 7, k);
  MXT_CHECK(mx_array_dim(a, 0) == 20 && mx_array_dim(a, 1) == 7, "axis 0 samples");
  d = read_u32(a);
  for (int i = 0; d && i < 140; i++) MXT_CHECK(d[i] < 10, "range");
  free(d);
  int s3[3] = {5, 4, 3};
  mx_array *z3 = mx_zeros(s3, 3, MX_BFLOAT16);
  a = mx_random_categorical(z3, -2, 7, k);
  MXT_CHECK(mx_array_ndim(a) == 3 && mx_array_dim(a, 0) == 5 && mx_array_dim(a, 1) == 3 &&
                mx_array_dim(a, 2) == 7,
            "(5,3,7)");
  MXT_CHECK(mx_eval1(a) == MX_OK, "eval bf16 logits");
  /* infinities */
  float inf = INFINITY;
  float l1[5] = {1, -2, inf, 4, 3};
  int five = 5;
  mx_array *li = mx_array_from_data(l1, &five, 1, MX_FLOAT32);
  MXT_CHECK(mx_array_item_i64(mx_random_categorical(li, 0, 0, k)) == 2, "+inf wins");
  d = read_u32(mx_random_categorical(li, 0, 5, k));
  for (int i = 0; d && i < 5; i++) MXT_CHECK(d[i] == 2, "+inf wins (samples)");
  free(d);
  float l2[4] = {-inf, -2, -inf, -inf};
  int four = 4;
  mx_array *lm = mx_array_from_data(l2, &four, 1, MX_FLOAT32);
  MXT_CHECK(mx_array_item_i64(mx_random_categorical(lm, 0, 0, k)) == 1, "only finite");
  d = read_u32(mx_random_categorical(lm, 0, 50, k));
  for (int i = 0; d && i < 50; i++) MXT_CHECK(d[i] == 1, "only finite (samples)");
  free(d);
  float l3[4] = {-inf, 0, -inf, 0};
  d = read_u32(
      mx_random_categorical(mx_array_from_data(l3, &four, 1, MX_FLOAT32), 0, 100, k));
  for (int i = 0; d && i < 100; i++) MXT_CHECK(d[i] == 1 || d[i] == 3, "-inf mass 0");
  free(d);
  /* (1, V) logits take the inverse-CDF path and agree with the 1-D call
   * drawing one sample (same key, same words) */
  int s1v[2] = {1, 4};
  float l4[4] = {0.1f, 2.0f, -1.0f, 0.7f};
  mx_array *r1 =
      mx_random_categorical(mx_array_from_data(l4, s1v, 2, MX_FLOAT32), -1, 0, k);
  mx_array *r2 =
      mx_random_categorical(mx_array_from_data(l4, &four, 1, MX_FLOAT32), 0, 1, k);
  MXT_CHECK(mx_array_ndim(r1) == 1 && mx_array_item_i64(r1) == mx_array_item_i64(r2),
            "(1,V) == 1-D one sample");
  /* empty: no rows is fine, no categories is an error */
  int s05[2] = {0, 5}, s30[2] = {3, 0};
  mx_array *none = mx_random_categorical(mx_zeros(s05, 2, MX_FLOAT32), -1, 0, k);
  MXT_CHECK(none && mx_eval1(none) == MX_OK && mx_array_size(none) == 0, "no rows");
  MXT_CHECK(mx_random_categorical(mx_zeros(s30, 2, MX_FLOAT32), -1, 0, k) == NULL,
            "no categories");
  mx_clear_error();
  /* errors */
  MXT_CHECK(mx_random_categorical(z, 2, 0, k) == NULL, "axis 2");
  mx_clear_error();
  MXT_CHECK(mx_random_categorical(z, -3, 0, k) == NULL, "axis -3");
  MXT_CHECK(strstr(mx_last_error(), "axis") != NULL, "msg %s", mx_last_error());
  mx_clear_error();
}

/* The inverse-CDF draw picks index i with cdf[i] <= u * total < cdf[i+1]:
 * checked against float64 sums of softmax weights from the same words. */
static void test_categorical_icdf_formula(void) {
  float lg[6] = {0.3f, -0.7f, 1.9f, 0.0f, -3.0f, 1.1f};
  int six = 6, ns = 5000;
  mx_array *k = key2(99, 100);
  uint32_t *d = read_u32(
      mx_random_categorical(mx_array_from_data(lg, &six, 1, MX_FLOAT32), 0, ns, k));
  uint32_t *w = read_u32(mx_random_bits(&ns, 1, 4, k));
  double cdf[7] = {0}, m = 1.9;
  for (int j = 0; j < 6; j++) cdf[j + 1] = cdf[j] + exp(lg[j] - m);
  int near = 0;
  for (int i = 0; d && w && i < ns; i++) {
    double u = unit_of(w[i], MX_FLOAT32) * cdf[6];
    int want = 0;
    while (want < 5 && cdf[want + 1] <= u) want++;
    /* a draw within float32 rounding of a boundary may go either way */
    double gap = fmin(fabs(u - cdf[want]), fabs(cdf[want + 1] - u));
    if (gap < 1e-5) {
      near++;
      continue;
    }
    MXT_CHECK((int)d[i] == want, "draw %d: %u vs %d", i, d[i], want);
    if (mxt_checks_failed) break;
  }
  MXT_CHECK(near < 20, "%d draws near a boundary", near);
  free(d);
  free(w);
}

/* ---- permutation ---- */

static void test_permutation(void) {
  mx_array *k = mx_random_key(8);
  int n = 16384;
  mx_array *p = mx_random_permutation(n, k);
  MXT_CHECK(mx_array_dtype(p) == MX_UINT32 && mx_array_dim(p, 0) == n, "meta");
  uint32_t *d = read_u32(p);
  uint32_t *w = read_u32(mx_random_bits(&n, 1, 4, k));
  if (d && w) {
    char *seen = calloc((size_t)n, 1);
    int fixed = 0;
    for (int i = 0; i < n; i++) {
      MXT_CHECK(d[i] < (uint32_t)n && !seen[d[i]], "permutation %d", i);
      if (d[i] < (uint32_t)n) seen[d[i]] = 1;
      fixed += d[i] == (uint32_t)i;
      /* argsort of the key's bits: sorted ascending, ties by index */
      if (i > 0)
        MXT_CHECK(w[d[i - 1]] < w[d[i]] || (w[d[i - 1]] == w[d[i]] && d[i - 1] < d[i]),
                  "sorted at %d", i);
      if (mxt_checks_failed) break;
    }
    /* fixed points of a random permutation ~ Poisson(1) */
    MXT_CHECK(fixed < 12, "%d fixed points", fixed);
    free(seen);
  }
  free(d);
  free(w);
  /* same key, same permutation; another key, another */
  uint32_t *a = read_u32(mx_random_permutation(100, k));
  uint32_t *b = read_u32(mx_random_permutation(100, k));
  uint32_t *c = read_u32(mx_random_permutation(100, mx_random_key(9)));
  MXT_CHECK(a && b && c && memcmp(a, b, 400) == 0 && memcmp(a, c, 400) != 0, "repro");
  free(a);
  free(b);
  free(c);
  mx_array *e = mx_random_permutation(0, k);
  MXT_CHECK(e && mx_eval1(e) == MX_OK && mx_array_size(e) == 0, "empty");
  MXT_CHECK(mx_random_permutation(-1, k) == NULL, "n < 0");
  mx_clear_error();
}

static void test_permutation_array(void) {
  mx_array *k = mx_random_key(10);
  int s[2] = {6, 5};
  mx_dtype ts[3] = {MX_FLOAT32, MX_BFLOAT16, MX_INT64};
  for (int ti = 0; ti < 3; ti++) {
    mx_array *x = mx_astype(mx_arange(0, 30, 1, MX_FLOAT32), ts[ti]);
    x = mx_reshape(x, s, 2);
    mx_array *xn = mxt_noncontig(x); /* same values, column-major */
    for (int ax = 0; ax < 2; ax++) {
      mx_array *y = mx_random_permutation_array(ax ? xn : x, ax - 2 * (ti == 2), k);
      MXT_CHECK(mx_array_dtype(y) == ts[ti], "dtype kept");
      uint32_t *perm = read_u32(mx_random_permutation(s[ax], k));
      double *d = mxt_to_f64(y);
      for (int i = 0; d && perm && i < 6; i++)
        for (int j = 0; j < 5; j++) {
          int si = ax == 0 ? (int)perm[i] : i, sj = ax == 1 ? (int)perm[j] : j;
          MXT_CHECK(d[i * 5 + j] == si * 5 + sj, "%s axis %d (%d,%d)",
                    mx_dtype_name(ts[ti]), ax, i, j);
        }
      free(perm);
      free(d);
    }
  }
  int one[2] = {1, 1};
  mx_array *o = mx_random_permutation_array(mx_ones(one, 2, MX_INT32), 0, k);
  MXT_CHECK(o && mx_array_ndim(o) == 2 && mx_array_item_i64(o) == 1, "(1,1)");
  MXT_CHECK(mx_random_permutation_array(mx_array_scalar_f64(1, MX_FLOAT32), 0, k) == NULL,
            "0-d");
  mx_clear_error();
  MXT_CHECK(mx_random_permutation_array(mx_ones(one, 2, MX_INT32), 2, k) == NULL, "axis");
  mx_clear_error();
}

/* ---- reproducibility ---- */

static void test_reproducible(void) {
  int s[2] = {33, 7};
  mx_array *k = mx_random_key(1234);
  mx_array *k2 = mx_random_key(1235);
  double *a = mxt_to_f64(mx_random_normal(s, 2, MX_FLOAT32, 0, 1, k));
  double *b = mxt_to_f64(mx_random_normal(s, 2, MX_FLOAT32, 0, 1, k));
  double *c = mxt_to_f64(mx_random_normal(s, 2, MX_FLOAT32, 0, 1, k2));
  MXT_CHECK(a && b && c, "read");
  if (a && b && c) {
    MXT_CHECK(memcmp(a, b, 231 * sizeof *a) == 0, "same key same numbers");
    int same = 0;
    for (int i = 0; i < 231; i++) same += a[i] == c[i];
    MXT_CHECK(same < 3, "different keys differ (%d equal)", same);
  }
  free(a);
  free(b);
  free(c);
  /* a draw of n is a prefix-independent function of n (MLX pairs words
   * i and i + n/2), so a longer draw is not an extension of a shorter one:
   * check both are still reproducible and distinct */
  int n1 = 10, n2 = 11;
  uint32_t *x = read_u32(mx_random_bits(&n1, 1, 4, k));
  uint32_t *y = read_u32(mx_random_bits(&n2, 1, 4, k));
  MXT_CHECK(x && y && x[0] != y[0], "layout depends on n");
  free(x);
  free(y);
}

int main(void) {
  MXT_RUN(test_threefry_kat);
  MXT_RUN(test_key);
  MXT_RUN(test_split_mlx_values);
  MXT_RUN(test_bits_mlx_values);
  MXT_RUN(test_bits_layout);
  MXT_RUN(test_key_checks);
  MXT_RUN(test_strided_key);
  MXT_RUN(test_global_key);
  MXT_RUN(test_lazy);
  MXT_RUN(test_uniform_mlx_values);
  MXT_RUN(test_uniform_formula);
  MXT_RUN(test_uniform_stats);
  MXT_RUN(test_uniform_errors);
  MXT_RUN(test_normal_formula);
  MXT_RUN(test_normal_stats);
  MXT_RUN(test_normal_half);
  MXT_RUN(test_randint);
  MXT_RUN(test_bernoulli);
  MXT_RUN(test_gumbel);
  MXT_RUN(test_truncated_normal);
  MXT_RUN(test_categorical_stats);
  MXT_RUN(test_categorical_shapes);
  MXT_RUN(test_categorical_icdf_formula);
  MXT_RUN(test_permutation);
  MXT_RUN(test_permutation_array);
  MXT_RUN(test_reproducible);
  return mxt_finish();
}
