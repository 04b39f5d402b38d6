/* test_fast.c: fused transformer ops (rms_norm, layer_norm, rope, sdpa)
 * against float64 reference loops written here, over dtypes, optional
 * parameters, non-contiguous inputs, masks, GQA, sinks and error cases.
 * The kernels run on each SIMD ISA this CPU has. */
#include <float.h>

#include "backend/cpu/qsimd.h"
#include "harness.h"

static const mx_dtype FDT[] = {MX_FLOAT32, MX_FLOAT16, MX_BFLOAT16};

static double unit(mx_dtype t) {
  return t == MX_FLOAT16    ? 0x1p-11
         : t == MX_BFLOAT16 ? 0x1p-8
         : t == MX_FLOAT32  ? 0x1p-24
                            : 0x1p-53;
}

/* half the spacing of t's subnormals: the rounding error of a result that
 * lands there is absolute, not relative to |ref| (float16 only: the other
 * types' steps are below the 1e-30 floor) */
static double half_sub(mx_dtype t) { return t == MX_FLOAT16 ? 0x1p-25 : 0; }

/* elementwise: |got - ref| <= rel * scale_i + unit(t) * |ref| + half of a
 * subnormal step (+ tiny) */
static bool check_close(mx_array *y, const double *ref, const double *scale, int64_t n,
                        double rel, mx_dtype t, const char *what) {
  if (!y) {
    MXT_CHECK(0, "%s: NULL: %s", what, mx_last_error());
    mx_clear_error();
    return false;
  }
  MXT_CHECK(mx_array_size(y) == n, "%s: size %lld vs %lld", what,
            (long long)mx_array_size(y), (long long)n);
  double *d = mxt_to_f64(y);
  if (!d) return false;
  for (int64_t i = 0; i < n; i++) {
    bool ok = (isnan(d[i]) && isnan(ref[i])) ||
              fabs(d[i] - ref[i]) <= rel * (scale ? scale[i] : fabs(ref[i])) +
                                         unit(t) * fabs(ref[i]) + half_sub(t) + 1e-30;
    if (!ok) {
      MXT_CHECK(0, "%s: element %lld got %.8g want %.8g", what, (long long)i, d[i],
                ref[i]);
      free(d);
      return false;
    }
  }
  free(d);
  return true;
}

static int n_isas(void) { return (int)mx_cpu_isa_hw() + 1; }

/* ---- norms ---- */

/* out: reference; mag: size of the terms (for float32 error bounds) */
static void norm_ref(const double *x, int64_t rows, int D, const double *w,
                     const double *b, bool layer, double eps, double *out, double *mag) {
  for (int64_t r = 0; r < rows; r++) {
    const double *xr = x + r * D;
    double mu = 0, ss = 0;
    if (layer) {
      for (int i = 0; i < D; i++) mu += xr[i];
      mu /= D;
    }
    for (int i = 0; i < D; i++) ss += (xr[i] - mu) * (xr[i] - mu);
    double inv = 1 / sqrt(ss / D + eps);
    for (int i = 0; i < D; i++) {
      double y = (xr[i] - mu) * inv;
      if (w) y *= w[i];
      if (b) y += b[i];
      out[r * D + i] = y;
      mag[r * D + i] =
          (fabs(xr[i]) + fabs(mu)) * inv * (w ? fabs(w[i]) : 1) + (b ? fabs(b[i]) : 0);
    }
  }
}

static void run_norm_case(bool layer, const int *shape, int nd, mx_dtype xt, mx_dtype wt,
                          bool has_w, bool has_b, bool noncontig) {
  int D = shape[nd - 1];
  mx_array *x = mxt_rand(shape, nd, xt, -2, 3);
  int ws[1] = {D};
  mx_array *w = has_w ? mxt_rand(ws, 1, wt, 0.5, 1.5) : NULL;
  mx_array *b = has_b ? mxt_rand(ws, 1, wt, -1, 1) : NULL;
  double *xd = mxt_to_f64(x), *wd = w ? mxt_to_f64(w) : NULL,
         *bd = b ? mxt_to_f64(b) : NULL;
  int64_t n = mx_array_size(x), rows = n / D;
  double *ref = malloc(sizeof(double) * (size_t)n),
         *mag = malloc(sizeof(double) * (size_t)n);
  norm_ref(xd, rows, D, wd, bd, layer, 1e-5, ref, mag);
  if (noncontig) x = mxt_noncontig(x);
  mx_array *y =
      layer ? mx_fast_layer_norm(x, w, b, 1e-5f) : mx_fast_rms_norm(x, w, 1e-5f);
  mx_dtype ot = xt;
  if (w) ot = mx_promote_types(ot, wt);
  char what[128];
  snprintf(what, sizeof what, "%s x=%s w=%s W%d B%d nc%d D=%d",
           layer ? "layer_norm" : "rms_norm", mx_dtype_name(xt), mx_dtype_name(wt), has_w,
           has_b, noncontig, D);
  MXT_CHECK(!y || mx_array_dtype(y) == ot, "%s: dtype %s", what,
            y ? mx_dtype_name(mx_array_dtype(y)) : "-");
  check_close(y, ref, mag, n, ot == MX_FLOAT64 ? 1e-12 : 4e-6, ot, what);
  free(xd), free(wd), free(bd), free(ref), free(mag);
}

static void test_norms(void) {
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    const int s1[3] = {3, 5, 64}, s2[2] = {7, 33}, s3[1] = {100};
    for (int layer = 0; layer < 2; layer++)
      for (int di = 0; di < 3; di++)
        for (int opt = 0; opt < 4; opt++) {
          bool hw = opt & 1, hb = layer && (opt & 2);
          run_norm_case(layer, s1, 3, FDT[di], FDT[di], hw, hb, false);
          run_norm_case(layer, s2, 2, FDT[di], FDT[(di + 1) % 3], hw, hb, opt == 3);
        }
    run_norm_case(false, s3, 1, MX_FLOAT32, MX_FLOAT32, true, false, false);
    run_norm_case(true, s3, 1, MX_FLOAT16, MX_FLOAT32, true, true, false);
    run_norm_case(false, s1, 3, MX_FLOAT64, MX_FLOAT64, true, false, true);
    run_norm_case(true, s2, 2, MX_FLOAT64, MX_FLOAT32, true, true, false);
    run_norm_case(true, s2, 2, MX_FLOAT32, MX_FLOAT16, false, true,
                  false); /* bias only */
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

static void test_norm_errors(void) {
  int s[2] = {2, 8}, w7[1] = {7}, w2[2] = {1, 8};
  mx_array *x = mxt_rand(s, 2, MX_FLOAT32, 0, 1);
  mx_clear_error();
  MXT_CHECK(!mx_fast_rms_norm(x, mxt_rand(w7, 1, MX_FLOAT32, 0, 1), 1e-5f) &&
                strstr(mx_last_error(), "[rms_norm]"),
            "%s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(!mx_fast_layer_norm(x, NULL, mxt_rand(w2, 2, MX_FLOAT32, 0, 1), 1e-5f) &&
                strstr(mx_last_error(), "[layer_norm] bias"),
            "%s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(!mx_fast_rms_norm(mx_astype(x, MX_INT32), NULL, 1e-5f) &&
                strstr(mx_last_error(), "unsupported type"),
            "%s", mx_last_error());
  mx_clear_error();
  MXT_CHECK(!mx_fast_rms_norm(mx_array_scalar_f64(1, MX_FLOAT32), NULL, 1e-5f), "0-d");
  mx_clear_error();
  MXT_CHECK(!mx_fast_rms_norm(NULL, NULL, 1e-5f), "NULL");
  mx_clear_error();
  /* empty rows are fine */
  int e[2] = {0, 8};
  mx_array *y = mx_fast_rms_norm(mx_zeros(e, 2, MX_FLOAT32), NULL, 1e-5f);
  MXT_CHECK(y && mx_eval1(y) == MX_OK && mx_array_dim(y, 0) == 0, "empty");
}

/* ---- rope ---- */

/* x (rows of D) with row r at batch r / rows_per_b and position r % L */
static void rope_ref(const double *x, int64_t rows, int D, int L, int64_t rows_per_b,
                     const double *offs, int noff, int dims, bool trad, double base,
                     double scale, const double *freqs, double *out) {
  int half = dims / 2;
  for (int64_t r = 0; r < rows; r++) {
    int64_t b = r / rows_per_b, l = r % L;
    double pos = ((double)l + offs[noff > 1 ? b : 0]) * scale;
    const double *xr = x + r * D;
    double *o = out + r * D;
    for (int i = 0; i < D; i++) o[i] = xr[i];
    for (int i = 0; i < half; i++) {
      double inv = freqs ? 1.0 / freqs[i] : pow(base, -2.0 * i / dims);
      double th = pos * inv, c = cos(th), s = sin(th);
      int i1 = trad ? 2 * i : i, i2 = trad ? 2 * i + 1 : i + half;
      o[i1] = xr[i1] * c - xr[i2] * s;
      o[i2] = xr[i1] * s + xr[i2] * c;
    }
  }
}

static void run_rope_case(const int *shape, int nd, mx_dtype t, int dims, bool trad,
                          double base, double scale, int offset,
                          int dyn /* 0 int, 1 scalar arr, 2 per-batch */, bool use_freqs,
                          bool transposed) {
  int D = shape[nd - 1], L = shape[nd - 2], B = shape[0];
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= shape[i];
  int64_t rows = n / D;
  mx_array *x = mxt_rand(shape, nd, t, -1, 1);
  double *xd = mxt_to_f64(x);
  mx_array *xin = x;
  if (transposed &&
      nd == 4) { /* x given as the (B, H, L, D) view of a (B, L, H, D) array */
    int ts[4] = {shape[0], shape[2], shape[1], shape[3]}, perm[4] = {0, 2, 1, 3};
    mx_array *xt = mx_contiguous(mx_transpose(x, perm, 4));
    (void)ts;
    xin = mx_transpose(xt, perm, 4);
    MXT_CHECK(mx_eval1(xin) == MX_OK && !mx_array_is_contiguous(xin),
              "view not contiguous");
  }
  double offs[8];
  int noff = dyn == 2 ? B : 1;
  for (int b = 0; b < noff; b++) offs[b] = dyn == 2 ? offset + 3 * b : offset;
  int half = dims / 2;
  double fr[64];
  mx_array *freqs = NULL;
  if (use_freqs) {
    for (int i = 0; i < half; i++) fr[i] = 1.5 + 2.0 * i * i;
    int fs[1] = {half};
    freqs = mx_array_from_data(fr, fs, 1, MX_FLOAT64);
    freqs = mx_astype(freqs, MX_FLOAT32);
    double *f32 = mxt_to_f64(freqs);
    memcpy(fr, f32, sizeof(double) * (size_t)half);
    free(f32);
  }
  mx_array *y;
  if (dyn == 0) {
    y = mx_fast_rope(xin, dims, trad, (float)base, (float)scale, offset, freqs);
  } else {
    int32_t o32[8];
    for (int b = 0; b < noff; b++) o32[b] = (int32_t)offs[b];
    mx_array *oa = dyn == 1 ? mx_array_scalar_i64(offset, MX_INT64)
                            : mx_array_from_i32(o32, (int[]){B}, 1);
    y = mx_fast_rope_dynamic(xin, dims, trad, (float)base, (float)scale, oa, freqs);
  }
  double *ref = malloc(sizeof(double) * (size_t)n),
         *mag = malloc(sizeof(double) * (size_t)n);
  rope_ref(xd, rows, D, L, rows / B, offs, noff, dims, trad, base, scale,
           use_freqs ? fr : NULL, ref);
  for (int64_t i = 0; i < n; i++) mag[i] = 1; /* |x| <= 1: absolute error */
  char what[160];
  snprintf(what, sizeof what,
           "rope %s nd=%d D=%d dims=%d trad=%d off=%d dyn=%d freqs=%d T=%d",
           mx_dtype_name(t), nd, D, dims, trad, offset, dyn, use_freqs, transposed);
  MXT_CHECK(!y || (mx_array_dtype(y) == t && mx_array_ndim(y) == nd), "%s: meta", what);
  /* float32 angles of positions up to ~40: ~1e-5 absolute */
  check_close(y, ref, mag, n, 2e-5, t, what);
  free(xd), free(ref), free(mag);
}

static void test_rope(void) {
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    const int s4[4] = {2, 3, 7, 16}, s3[3] = {2, 5, 12}, s5[5] = {2, 2, 2, 3, 8};
    for (int di = 0; di < 3; di++)
      for (int trad = 0; trad < 2; trad++) {
        mx_dtype t = FDT[di];
        run_rope_case(s4, 4, t, 16, trad, 10000, 1, 0, 0, false, false);
        run_rope_case(s4, 4, t, 8, trad, 10000, 1, 5, 0, false, false);    /* dims < D */
        run_rope_case(s4, 4, t, 12, trad, 500000, 0.5, 9, 0, false, true); /* view */
        run_rope_case(s3, 3, t, 12, trad, 10000, 1, 3, 1, false, false);   /* (B, L, D) */
        run_rope_case(s4, 4, t, 16, trad, 1, 1, 2, 2, true, false); /* freqs, per batch */
        run_rope_case(s5, 5, t, 6, trad, 100, 2, 4, 2, false, false);
      }
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

#define EXPECT_ERR(expr, op, needle)                                                  \
  do {                                                                                \
    mx_clear_error();                                                                 \
    mx_array *y_ = (expr);                                                            \
    MXT_CHECK(                                                                        \
        y_ == NULL && strstr(mx_last_error(), op) && strstr(mx_last_error(), needle), \
        "%s -> '%s'", #expr, mx_last_error());                                        \
    mx_clear_error();                                                                 \
  } while (0)

static void test_rope_errors(void) {
  int s[4] = {1, 2, 3, 8}, s2[2] = {3, 8}, f3[1] = {3}, o3[1] = {3};
  mx_array *x = mxt_rand(s, 4, MX_FLOAT32, 0, 1), *x2 = mxt_rand(s2, 2, MX_FLOAT32, 0, 1);
  mx_array *xi = mx_astype(x, MX_INT32), *f = mx_ones(f3, 1, MX_FLOAT32);
  mx_array *of = mx_array_scalar_f64(1, MX_FLOAT32), *o = mx_zeros(o3, 1, MX_INT32);
  EXPECT_ERR(mx_fast_rope(x2, 8, false, 1e4f, 1, 0, NULL), "[rope]", "3 dimensions");
  EXPECT_ERR(mx_fast_rope(x, 7, false, 1e4f, 1, 0, NULL), "[rope]", "even");
  EXPECT_ERR(mx_fast_rope(x, 10, false, 1e4f, 1, 0, NULL), "[rope]", "at most");
  EXPECT_ERR(mx_fast_rope(x, 0, false, 1e4f, 1, 0, NULL), "[rope]", "positive");
  EXPECT_ERR(mx_fast_rope(xi, 8, false, 1e4f, 1, 0, NULL), "[rope]", "float16");
  EXPECT_ERR(mx_fast_rope(x, 8, false, 1e4f, 1, 0, f), "[rope]", "freqs");
  EXPECT_ERR(mx_fast_rope_dynamic(x, 8, false, 1e4f, 1, of, NULL), "[rope]", "integer");
  EXPECT_ERR(mx_fast_rope_dynamic(x, 8, false, 1e4f, 1, o, NULL), "[rope]",
             "vector of 1");
  EXPECT_ERR(mx_fast_rope_dynamic(x, 8, false, 1e4f, 1, NULL, NULL), "", "");
}

/* ---- scaled dot product attention ---- */

typedef struct {
  int B, Hq, Hkv, Lq, Lk, D, Dv;
} sdpa_shape;

/* mask: NULL or (B, Hq, Lq, Lk) in float64 with mask_kind 1 bool (0/1), 2
 * additive; causal when mask_kind == 3 */
static double *sdpa_ref(const sdpa_shape *s, const double *q, const double *k,
                        const double *v, double scale, int mask_kind, const double *mask,
                        const double *sinks) {
  int nrep = s->Hq / s->Hkv;
  double *out = calloc((size_t)s->B * s->Hq * s->Lq * s->Dv, sizeof(double));
  double *sc = malloc(sizeof(double) * (size_t)(s->Lk + 1));
  for (int b = 0; b < s->B; b++)
    for (int h = 0; h < s->Hq; h++)
      for (int i = 0; i < s->Lq; i++) {
        int hk = h / nrep;
        double mx = -INFINITY;
        for (int j = 0; j < s->Lk; j++) {
          double d = 0;
          for (int e = 0; e < s->D; e++)
            d += q[(((int64_t)b * s->Hq + h) * s->Lq + i) * s->D + e] *
                 k[(((int64_t)b * s->Hkv + hk) * s->Lk + j) * s->D + e];
          d *= scale;
          int64_t mi = (((int64_t)b * s->Hq + h) * s->Lq + i) * s->Lk + j;
          if (mask_kind == 1 && mask[mi] == 0) d = -FLT_MAX;
          if (mask_kind == 2) d += mask[mi];
          if (mask_kind == 3 && j > i + s->Lk - s->Lq) d = -FLT_MAX;
          sc[j] = d;
          if (d > mx) mx = d;
        }
        if (sinks && sinks[h] > mx) mx = sinks[h];
        double den = sinks ? exp(sinks[h] - mx) : 0;
        for (int j = 0; j < s->Lk; j++) den += sc[j] == -INFINITY ? 0 : exp(sc[j] - mx);
        for (int e = 0; e < s->Dv; e++) {
          double acc = 0;
          for (int j = 0; j < s->Lk; j++)
            acc += (sc[j] == -INFINITY ? 0 : exp(sc[j] - mx)) *
                   v[(((int64_t)b * s->Hkv + hk) * s->Lk + j) * s->Dv + e];
          out[(((int64_t)b * s->Hq + h) * s->Lq + i) * s->Dv + e] =
              mx == -INFINITY ? NAN : acc / den;
        }
      }
  free(sc);
  return out;
}

/* A sliding window's band as a 0/1 mask of shape mshape (last two axes Lq,
 * Lk; leading axes broadcast): query i sits at position Lk - Lq + i and sees
 * key j if j < keep, or j <= its position and within `window` of it, as a
 * rotating cache's or a sliding-window layer's mask. holes: also clear
 * every 5th entry (spans that are not all true), make the first row see
 * nothing, and shift the band by the leading index (per-head masks). */
static mx_array *band_mask(const int *mshape, int mnd, int window, int keep, bool holes) {
  int Lq = mshape[mnd - 2], Lk = mshape[mnd - 1];
  int64_t n = 1;
  for (int a = 0; a < mnd; a++) n *= mshape[a];
  double *md = malloc(sizeof(double) * (size_t)n);
  for (int64_t e = 0; e < n; e++) {
    int j = (int)(e % Lk), i = (int)(e / Lk % Lq);
    int lead = (int)(e / ((int64_t)Lk * Lq)), w = holes ? window + 7 * lead : window;
    int qp = Lk - Lq + i;
    bool see = j < keep || (j <= qp && qp - j < w);
    if (holes && (e % 5 == 0 || e < Lk)) see = false;
    md[e] = see;
  }
  mx_array *m = mx_astype(mx_array_from_data(md, mshape, mnd, MX_FLOAT64), MX_BOOL);
  free(md);
  return m;
}

/* mask_kind: 0 none, 1 bool, 2 additive, 3 causal, 4 a sliding window's
 * band (bool, window 40, 3 kept keys), 5 the band with holes and a fully
 * masked row; mshape: the mask's own (broadcastable) shape */
static void run_sdpa_case(sdpa_shape s, mx_dtype t, int mask_kind, const int *mshape,
                          int mnd, bool with_sinks, bool q_view, const char *label) {
  int qs[4] = {s.B, s.Hq, s.Lq, s.D}, ks[4] = {s.B, s.Hkv, s.Lk, s.D},
      vs[4] = {s.B, s.Hkv, s.Lk, s.Dv};
  mx_array *q = mxt_rand(qs, 4, t, -1, 1), *k, *v;
  if (q_view) {
    /* k: the (B, H, L, D) view of a (B, L, H, D) array (rows not adjacent);
     * v: a view into a longer cache, [:, :, 2:Lk+2] */
    int kl[4] = {s.B, s.Lk, s.Hkv, s.D}, perm[4] = {0, 2, 1, 3};
    int vb[4] = {s.B, s.Hkv, s.Lk + 5, s.Dv};
    int st[4] = {0, 0, 2, 0}, spv[4] = {s.B, s.Hkv, s.Lk + 2, s.Dv};
    k = mx_transpose(mxt_rand(kl, 4, t, -1, 1), perm, 4);
    v = mx_slice(mxt_rand(vb, 4, t, -1, 1), st, spv, NULL);
  } else {
    k = mxt_rand(ks, 4, t, -1, 1);
    v = mxt_rand(vs, 4, t, -1, 1);
  }
  double *qd = mxt_to_f64(q), *kd = mxt_to_f64(k), *vd = mxt_to_f64(v);
  double scale = 1.0 / sqrt(s.D);
  double *mfull = NULL;
  mx_array *mask = NULL;
  if (mask_kind == 1 || mask_kind == 2) {
    mx_array *m = mask_kind == 1 ? mxt_rand(mshape, mnd, MX_FLOAT64, 0, 1)
                                 : mxt_rand(mshape, mnd, MX_FLOAT64, -3, 1);
    if (mask_kind == 1) { /* ~30% false, one fully masked row if the shape has rows */
      double *md = mxt_to_f64(m);
      int64_t mn = mx_array_size(m);
      for (int64_t i = 0; i < mn; i++) md[i] = md[i] > 0.3;
      int last = mshape[mnd - 1];
      if (mn > last && mnd >= 2)
        for (int j = 0; j < last; j++) md[j] = 0;
      m = mx_array_from_data(md, mshape, mnd, MX_FLOAT64);
      free(md);
      mask = mx_astype(m, MX_BOOL);
    } else {
      /* a few -inf entries (not whole rows) */
      double *md = mxt_to_f64(m);
      int64_t mn = mx_array_size(m);
      for (int64_t i = 1; i < mn; i += 7) md[i] = -INFINITY;
      m = mx_array_from_data(md, mshape, mnd, MX_FLOAT64);
      free(md);
      mask = mx_astype(m, t);
    }
    int full[4] = {s.B, s.Hq, s.Lq, s.Lk};
    mfull = mxt_to_f64(mx_broadcast_to(mask, full, 4));
  } else if (mask_kind == 4 || mask_kind == 5) {
    mask = band_mask(mshape, mnd, 40, 3, mask_kind == 5);
    int full[4] = {s.B, s.Hq, s.Lq, s.Lk};
    mfull = mxt_to_f64(mx_broadcast_to(mask, full, 4));
  }
  double sk[64];
  mx_array *sinks = NULL;
  if (with_sinks) {
    int ss[1] = {s.Hq};
    sinks = mxt_rand(ss, 1, t, -1, 2);
    double *sd = mxt_to_f64(sinks);
    memcpy(sk, sd, sizeof(double) * (size_t)s.Hq);
    free(sd);
  }
  double *ref = sdpa_ref(&s, qd, kd, vd, scale, mask_kind >= 4 ? 1 : mask_kind, mfull,
                         with_sinks ? sk : NULL);
  mx_array *qin = q;
  if (q_view) { /* q as the (B, H, L, D) view of a (B, L, H, D) array */
    int perm[4] = {0, 2, 1, 3};
    mx_array *qt = mx_contiguous(mx_transpose(q, perm, 4));
    qin = mx_transpose(qt, perm, 4);
  }
  mx_sdpa_mask_mode mode = mask_kind == 3   ? MX_SDPA_MASK_CAUSAL
                           : mask_kind != 0 ? MX_SDPA_MASK_ARRAY
                                            : MX_SDPA_MASK_NONE;
  mx_array *y =
      mx_fast_scaled_dot_product_attention(qin, k, v, (float)scale, mode, mask, sinks);
  int64_t n = (int64_t)s.B * s.Hq * s.Lq * s.Dv;
  double *mag = malloc(sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < n; i++) mag[i] = 1; /* |v| <= 1: absolute error */
  char what[200];
  snprintf(what, sizeof what,
           "sdpa %s %s B%d Hq%d Hkv%d Lq%d Lk%d D%d Dv%d mask%d sinks%d view%d", label,
           mx_dtype_name(t), s.B, s.Hq, s.Hkv, s.Lq, s.Lk, s.D, s.Dv, mask_kind,
           with_sinks, q_view);
  MXT_CHECK(!y || (mx_array_dtype(y) == t && mx_array_dim(y, 3) == s.Dv &&
                   mx_array_dim(y, 1) == s.Hq),
            "%s: meta", what);
  /* float32 inputs: ~1e-5; half inputs: the inputs are exact, compute is
   * float32, one rounding at the end */
  check_close(y, ref, mag, n, 2e-5, t, what);
  free(qd), free(kd), free(vd), free(mfull), free(ref), free(mag);
}

static void test_sdpa(void) {
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    for (int di = 0; di < 3; di++) {
      mx_dtype t = FDT[di];
      sdpa_shape base = {2, 4, 2, 5, 7, 16, 16};
      run_sdpa_case(base, t, 0, NULL, 0, false, false, "plain");
      run_sdpa_case(base, t, 3, NULL, 0, false, false, "causal Lq<Lk");
      sdpa_shape sq = {1, 2, 2, 9, 9, 8, 12};
      run_sdpa_case(sq, t, 3, NULL, 0, true, false, "causal square + sinks, Dv != D");
      sdpa_shape lqgt = {1, 3, 1, 6, 4, 8, 8};
      run_sdpa_case(lqgt, t, 3, NULL, 0, false, false, "causal Lq>Lk");
      run_sdpa_case(lqgt, t, 3, NULL, 0, true, false, "causal Lq>Lk sinks");
      int m2[2] = {5, 7}, m4[4] = {1, 4, 1, 7}, m4b[4] = {2, 1, 5, 7};
      run_sdpa_case(base, t, 1, m2, 2, false, false, "bool (Lq,Lk)");
      run_sdpa_case(base, t, 1, m4b, 4, true, false, "bool (B,1,Lq,Lk) sinks");
      run_sdpa_case(base, t, 2, m2, 2, false, true, "additive (Lq,Lk), q view");
      run_sdpa_case(base, t, 2, m4, 4, true, false, "additive (1,Hq,1,Lk) sinks");
      /* GQA with one kv head; decode (Lq = 1) over several key blocks */
      sdpa_shape dec = {2, 6, 1, 1, 150, 32, 32};
      run_sdpa_case(dec, t, 0, NULL, 0, false, true, "decode");
      run_sdpa_case(dec, t, 3, NULL, 0, true, false, "decode causal sinks");
      /* few rows per kv head (<= 4): the dot-product path */
      sdpa_shape dec2 = {2, 4, 2, 1, 150, 32, 24};
      run_sdpa_case(dec2, t, 0, NULL, 0, false, false, "decode gqa2");
      run_sdpa_case(dec2, t, 0, NULL, 0, true, true, "decode gqa2 views sinks");
      int md[4] = {2, 1, 1, 150};
      run_sdpa_case(dec2, t, 1, md, 4, false, true, "decode gqa2 bool views");
      /* more than four query rows per kv head (Qwen2.5: 7): keys transposed
       * in tiles (odd D: partial tiles), values read in place by the
       * multi-row P.V kernel (Dv not a multiple of the vector width) */
      sdpa_shape dec7 = {1, 14, 2, 1, 203, 64, 64};
      run_sdpa_case(dec7, t, 0, NULL, 0, false, false, "decode gqa7");
      run_sdpa_case(dec7, t, 3, NULL, 0, true, true, "decode gqa7 views sinks");
      sdpa_shape dec7o = {2, 7, 1, 1, 77, 40, 20};
      run_sdpa_case(dec7o, t, 0, NULL, 0, false, true, "decode gqa7 odd D views");
      int md7[4] = {2, 1, 1, 77};
      run_sdpa_case(dec7o, t, 1, md7, 4, false, false, "decode gqa7 odd D bool");
      sdpa_shape dec9 = {1, 9, 1, 1, 130, 24, 72};
      run_sdpa_case(dec9, t, 0, NULL, 0, true, true, "decode 9 rows Dv 72");
      sdpa_shape pre7 = {1, 14, 2, 33, 150, 40, 24};
      run_sdpa_case(pre7, t, 3, NULL, 0, false, true, "prefill gqa7 causal");
      /* D 64 and 128 (bfloat16: keys packed in pairs, vdpbf16ps scores):
       * decode with 7 rows per kv head, prefill with several query and key
       * blocks, a key view with rows not adjacent, a key block tail */
      sdpa_shape d64 = {1, 14, 2, 1, 150, 64, 64};
      run_sdpa_case(d64, t, 0, NULL, 0, false, true, "decode gqa7 D64 views");
      sdpa_shape p64 = {1, 4, 2, 45, 100, 64, 64};
      run_sdpa_case(p64, t, 3, NULL, 0, true, false, "prefill D64 causal sinks");
      int mp64[4] = {1, 4, 45, 100};
      run_sdpa_case(p64, t, 2, mp64, 4, false, true, "prefill D64 additive views");
      sdpa_shape d128 = {2, 8, 2, 1, 150, 128, 128}; /* 4 rows per kv head */
      run_sdpa_case(d128, t, 3, NULL, 0, true, true, "decode gqa4 D128 views sinks");
      sdpa_shape p128 = {1, 6, 1, 20, 70, 128, 96};
      run_sdpa_case(p128, t, 3, NULL, 0, false, false, "prefill D128 causal");
      /* prefill: several query blocks and key blocks */
      sdpa_shape pre = {1, 4, 2, 40, 70, 16, 8};
      run_sdpa_case(pre, t, 3, NULL, 0, false, true, "prefill causal");
      int mp[4] = {1, 1, 40, 70};
      run_sdpa_case(pre, t, 2, mp, 4, false, false, "prefill additive");
      /* sliding-window bands: key blocks outside every row's span are
       * skipped (a rotating cache's or a sliding-window layer's prefill) */
      sdpa_shape band = {1, 6, 2, 100, 180, 64, 64};
      int mb[2] = {100, 180}, mbh[4] = {1, 6, 100, 180};
      run_sdpa_case(band, t, 4, mb, 2, false, false, "band (Lq,Lk)");
      run_sdpa_case(band, t, 4, mb, 2, true, true, "band views sinks");
      run_sdpa_case(band, t, 5, mbh, 4, false, false, "band holes per head");
      run_sdpa_case(band, t, 5, mbh, 4, true, false, "band holes per head sinks");
      sdpa_shape bdec = {1, 4, 2, 1, 300, 32, 32};
      int mbd[2] = {1, 300};
      run_sdpa_case(bdec, t, 4, mbd, 2, false, false, "band decode");
    }
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

static void test_sdpa_edges(void) {
  /* every additive entry -inf: NaN rows (as softmax of all -inf) */
  int qs[4] = {1, 1, 2, 4}, ks[4] = {1, 1, 3, 4}, ms[2] = {2, 3};
  mx_array *q = mxt_rand(qs, 4, MX_FLOAT32, -1, 1),
           *k = mxt_rand(ks, 4, MX_FLOAT32, -1, 1);
  mx_array *v = mxt_rand(ks, 4, MX_FLOAT32, -1, 1);
  mx_array *m = mx_full(ms, 2, -INFINITY, MX_FLOAT32);
  double *y = mxt_to_f64(
      mx_fast_scaled_dot_product_attention(q, k, v, 1, MX_SDPA_MASK_ARRAY, m, NULL));
  MXT_CHECK(y && isnan(y[0]) && isnan(y[7]), "all -inf -> NaN");
  free(y);
  /* Lk = 0: zeros */
  int k0[4] = {1, 1, 0, 4};
  mx_array *e = mx_zeros(k0, 4, MX_FLOAT32);
  y = mxt_to_f64(
      mx_fast_scaled_dot_product_attention(q, e, e, 1, MX_SDPA_MASK_NONE, NULL, NULL));
  MXT_CHECK(y && y[0] == 0 && y[7] == 0, "Lk = 0 -> zeros");
  free(y);
  /* Lq = 0: empty result */
  int q0[4] = {1, 1, 0, 4};
  mx_array *r = mx_fast_scaled_dot_product_attention(mx_zeros(q0, 4, MX_FLOAT32), k, v, 1,
                                                     MX_SDPA_MASK_CAUSAL, NULL, NULL);
  MXT_CHECK(r && mx_eval1(r) == MX_OK && mx_array_size(r) == 0, "Lq = 0");
  /* mixed dtypes promote: f16 q with f32 k/v -> f32 */
  r = mx_fast_scaled_dot_product_attention(mx_astype(q, MX_FLOAT16), k, v, 1,
                                           MX_SDPA_MASK_NONE, NULL, NULL);
  MXT_CHECK(r && mx_array_dtype(r) == MX_FLOAT32, "promotion");
}

static void test_sdpa_errors(void) {
  int qs[4] = {1, 4, 2, 8}, ks[4] = {1, 3, 5, 8}, k2[4] = {1, 2, 5, 8},
      kd[4] = {1, 2, 5, 4};
  int s3[3] = {1, 2, 8}, sk1[1] = {3}, bad_m[2] = {3, 5}, m25[2] = {2, 5};
  mx_array *q = mxt_rand(qs, 4, MX_FLOAT32, 0, 1), *k = mxt_rand(k2, 4, MX_FLOAT32, 0, 1);
  mx_array *k3 = mxt_rand(ks, 4, MX_FLOAT32, 0, 1),
           *kdd = mxt_rand(kd, 4, MX_FLOAT32, 0, 1);
  mx_array *x3 = mxt_rand(s3, 3, MX_FLOAT32, 0, 1), *mb = mx_zeros(bad_m, 2, MX_FLOAT32);
  mx_array *m = mx_zeros(m25, 2, MX_FLOAT32), *snk = mx_zeros(sk1, 1, MX_FLOAT32);
  mx_array *qh = mx_astype(q, MX_FLOAT16), *kh = mx_astype(k, MX_FLOAT16);
  mx_array *qi = mx_astype(q, MX_INT32), *ki = mx_astype(k, MX_INT32);
  const char *op = "[scaled_dot_product_attention]";
  EXPECT_ERR(
      mx_fast_scaled_dot_product_attention(x3, k, k, 1, MX_SDPA_MASK_NONE, NULL, NULL),
      op, "4-d");
  EXPECT_ERR(
      mx_fast_scaled_dot_product_attention(q, k3, k3, 1, MX_SDPA_MASK_NONE, NULL, NULL),
      op, "multiple");
  EXPECT_ERR(
      mx_fast_scaled_dot_product_attention(q, kdd, k, 1, MX_SDPA_MASK_NONE, NULL, NULL),
      op, "do not match");
  EXPECT_ERR(
      mx_fast_scaled_dot_product_attention(q, k, k, 1, MX_SDPA_MASK_ARRAY, mb, NULL), op,
      "broadcast");
  EXPECT_ERR(
      mx_fast_scaled_dot_product_attention(q, k, k, 1, MX_SDPA_MASK_ARRAY, NULL, NULL),
      op, "needs a mask");
  EXPECT_ERR(
      mx_fast_scaled_dot_product_attention(q, k, k, 1, MX_SDPA_MASK_CAUSAL, m, NULL), op,
      "mode");
  EXPECT_ERR(
      mx_fast_scaled_dot_product_attention(qh, kh, kh, 1, MX_SDPA_MASK_ARRAY, m, NULL),
      op, "promote");
  EXPECT_ERR(
      mx_fast_scaled_dot_product_attention(q, k, k, 1, MX_SDPA_MASK_NONE, NULL, snk), op,
      "sinks");
  EXPECT_ERR(
      mx_fast_scaled_dot_product_attention(qi, ki, ki, 1, MX_SDPA_MASK_NONE, NULL, NULL),
      op, "supported");
  EXPECT_ERR(
      mx_fast_scaled_dot_product_attention(q, k, k, 1, (mx_sdpa_mask_mode)7, NULL, NULL),
      op, "invalid mask mode");
}

/* the vector exp the attention softmax uses (internal helper) */
static void test_vexp(void) {
  enum { N = 2003 };
  static float sv[N], pv[N];
  for (int i = 0; i < N - 5; i++) sv[i] = -100.0f + 100.0f * (float)i / (N - 6);
  sv[N - 5] = -INFINITY, sv[N - 4] = -FLT_MAX, sv[N - 3] = NAN, sv[N - 2] = 0,
         sv[N - 1] = -87.0f;
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    for (int shift = 0; shift < 2; shift++) {
      float m = shift ? 1.5f : 0.0f; /* exp(s - m) */
      double sum = 0, got = mx_exp_shift_f32(sv, m, pv, N);
      bool ok = true;
      for (int i = 0; i < N && ok; i++) {
        double x = (double)(sv[i] - m),
               want = exp(x); /* argument in float, as the helper */
        if (isnan(x)) {
          ok = isnan(pv[i]);
          continue;
        }
        sum += want;
        /* below -87 the helper may flush to 0 (exp < 2e-38) */
        ok = x < -87 ? fabs(pv[i]) <= 2e-38 : fabs(pv[i] - want) <= 1e-6 * want;
        if (!ok) MXT_CHECK(0, "isa %d: exp(%g) = %g want %g", isa, x, pv[i], want);
      }
      MXT_CHECK(isnan(got), "sum with a NaN is NaN (%g)", got);
      (void)sum;
    }
    /* sum without NaN */
    double want = 0;
    for (int i = 0; i < 100; i++) want += exp((double)sv[i * 19]);
    float tmp[100], tp[100];
    for (int i = 0; i < 100; i++) tmp[i] = sv[i * 19];
    double got = mx_exp_shift_f32(tmp, 0, tp, 100);
    MXT_CHECK(fabs(got - want) <= 1e-6 * want, "sum %g vs %g", got, want);
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

/* The attention block kernels against plain loops, bit for bit: the key
 * transpose (a conversion: exact), the few-rows scores and the multi-row
 * P.V reading half-precision rows in place (each output the same FMA chain
 * as on float32 rows), for every
 * dtype, odd sizes, a row stride wider than the row, 1..11 rows. */
static void test_sdpa_kernels(void) {
  enum { NK = 64, DM = 83, LD = 91 };
  static uint16_t h[NK * LD];
  static float f[NK * LD], kt[DM * 64], vf[NK * DM], p[16 * 64], o1[16 * DM], o2[16 * DM];
  uint64_t seed = 7;
  for (int i = 0; i < NK * LD; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    f[i] = (float)((int)(seed >> 40) % 2001 - 1000) / 997.0f;
  }
  for (int i = 0; i < 16 * 64; i++) p[i] = (float)((i * 37) % 101) / 101.0f;
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    for (int di = 0; di < 3; di++) {
      mx_dtype t = FDT[di];
      const void *src = f;
      if (t != MX_FLOAT32) {
        for (int i = 0; i < NK * LD; i++)
          h[i] = t == MX_FLOAT16 ? mx_f32_to_f16(f[i]) : mx_f32_to_bf16(f[i]);
        src = h;
      }
      int Ds[] = {8, 16, 40, 64, 83}, nks[] = {1, 17, 64};
      for (int a = 0; a < 5; a++)
        for (int b = 0; b < 3; b++) {
          int D = Ds[a], nk = nks[b];
          /* float32 copy of the rows: the reference's input */
          for (int j = 0; j < nk; j++)
            mx_cvt_to_f32((const char *)src + (int64_t)j * LD * (t == MX_FLOAT32 ? 4 : 2),
                          t, vf + j * D, D);
          for (int i = 0; i < DM * 64; i++) kt[i] = NAN;
          mx_sdpa_kt(src, t, LD, nk, D, kt);
          bool ok = true;
          for (int d = 0; d < D && ok; d++)
            for (int j = 0; j < 64 && ok; j++) {
              float want = j < nk ? vf[j * D + d] : 0.0f;
              ok = memcmp(&kt[d * 64 + j], &want, sizeof want) == 0;
              if (!ok)
                MXT_CHECK(0, "kt isa %d %s D %d nk %d: [%d][%d] %g want %g", isa,
                          mx_dtype_name(t), D, nk, d, j, kt[d * 64 + j], want);
            }
          /* few-rows scores from the rows in place == from float32 rows */
          static float q4[4 * DM], s1[4 * 64], s2[4 * 64];
          for (int i = 0; i < 4 * DM; i++) q4[i] = (float)((i * 29) % 61 - 30) / 31.0f;
          for (int nt = 1; nt <= 4; nt++) {
            memset(s1, 0, sizeof s1), memset(s2, 0, sizeof s2);
            mx_sdpa_scores_rows(q4, nt, D, src, t, LD, nk, s1);
            mx_sdpa_scores_rows(q4, nt, D, vf, MX_FLOAT32, D, nk, s2);
            MXT_CHECK(memcmp(s1, s2, sizeof s1) == 0,
                      "scores_rows isa %d %s D %d nk %d nt %d", isa, mx_dtype_name(t), D,
                      nk, nt);
          }
          int rows[11] = {3, 0, 10, 1, 7, 2, 9, 4, 8, 5, 6};
          for (int nr = 1; nr <= 11; nr += 3) {
            for (int i = 0; i < 16 * DM; i++) o1[i] = o2[i] = (float)(i % 13) / 13.0f;
            mx_sdpa_pv_rows(p, rows, nr, nk, src, t, LD, D, o1);
            for (int r = 0; r < nr; r++)
              mx_sdpa_pv(p + rows[r] * 64, nk, vf, D, o2 + rows[r] * D);
            MXT_CHECK(memcmp(o1, o2, sizeof o1) == 0,
                      "pv_rows isa %d %s Dv %d nk %d nr %d", isa, mx_dtype_name(t), D, nk,
                      nr);
          }
        }
    }
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

int main(void) {
  MXT_RUN(test_norms);
  MXT_RUN(test_norm_errors);
  MXT_RUN(test_rope);
  MXT_RUN(test_rope_errors);
  MXT_RUN(test_vexp);
  MXT_RUN(test_sdpa);
  MXT_RUN(test_sdpa_kernels);
  MXT_RUN(test_sdpa_edges);
  MXT_RUN(test_sdpa_errors);
  return mxt_finish();
}
