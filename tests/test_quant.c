/* test_quant.c: quantize / dequantize / quantized_matmul (MLX affine
 * layout). References written here: a bit-by-bit packer, MLX's scale/bias
 * rule in float32, and float64 matmul loops over dequantized weights. Every
 * case runs on each kernel ISA this CPU has (plain C, AVX2, AVX-512). */
#include <sys/mman.h>
#include <unistd.h>

#include "backend/cpu/gemm_i8.h"
#include "backend/cpu/qsimd.h"
#include "harness.h"

static const int BITS[] = {2, 3, 4, 5, 6, 8};
static const int GSS[] = {32, 64, 128};
static const mx_dtype FDT[] = {MX_FLOAT32, MX_FLOAT16, MX_BFLOAT16};

/* ---- references ---- */

/* set bit i*bits+t of the little-endian word stream for each code i */
static void pack_ref(const uint32_t *codes, int64_t n, int bits, uint32_t *words) {
  memset(words, 0, (size_t)(n * bits / 32) * 4);
  for (int64_t i = 0; i < n; i++)
    for (int t = 0; t < bits; t++)
      if ((codes[i] >> t) & 1) {
        int64_t bit = i * bits + t;
        words[bit / 32] |= 1u << (bit % 32);
      }
}

static double round_dt(double v, mx_dtype t) {
  if (t == MX_FLOAT16) return mx_f16_to_f32(mx_f32_to_f16((float)v));
  if (t == MX_BFLOAT16) return mx_bf16_to_f32(mx_f32_to_bf16((float)v));
  if (t == MX_FLOAT32) return (float)v;
  return v;
}

/* unit roundoff of a dtype */
static double unit(mx_dtype t) {
  return t == MX_FLOAT16 ? 0x1p-11 : t == MX_BFLOAT16 ? 0x1p-8 : 0x1p-24;
}

/* MLX's affine rule for one group, float32 arithmetic */
static void mlx_group_ref(const float *w, int gs, int bits, uint32_t *codes, float *scale,
                          float *bias) {
  float nb = (float)((1 << bits) - 1);
  float mn = w[0], mx = w[0];
  for (int j = 1; j < gs; j++) {
    if (w[j] < mn) mn = w[j];
    if (w[j] > mx) mx = w[j];
  }
  float s = (mx - mn) / nb;
  if (s < 1e-7f) s = 1e-7f;
  bool neg_edge = fabsf(mn) > fabsf(mx);
  if (!neg_edge) s = -s;
  float edge = neg_edge ? mn : mx;
  float q0 = rintf(edge / s);
  float b = 0;
  if (q0 != 0) {
    s = edge / q0;
    b = edge;
  }
  for (int j = 0; j < gs; j++) {
    float q = rintf((w[j] - b) / s);
    q = q < 0 ? 0 : q > nb ? nb : q;
    codes[j] = (uint32_t)q;
  }
  *scale = s;
  *bias = b;
}

static int n_isas(void) { return (int)mx_cpu_isa_hw() + 1; }
static const char *isa_name(int i) {
  return i == MX_ISA_AMX          ? "amx"
         : i == MX_ISA_AVX512BF16 ? "avx512bf16"
         : i == MX_ISA_AVX512     ? "avx512"
         : i == MX_ISA_AVX2       ? "avx2"
                                  : "generic";
}

/* ---- quantize ---- */

static void test_quantize_matches_rule(void) {
  for (int di = 0; di < 3; di++)
    for (int bi = 0; bi < 6; bi++)
      for (int gi = 0; gi < 3; gi++) {
        mx_dtype t = FDT[di];
        int bits = BITS[bi], gs = GSS[gi], N = 5, K = 2 * gs;
        int shape[2] = {N, K};
        mx_array *w = mxt_rand(shape, 2, t, -1, 1);
        /* a row of exact zeros and a constant row: degenerate groups */
        double *wd = mxt_to_f64(w);
        for (int k = 0; k < K; k++) wd[k] = 0, wd[K + k] = 0.375;
        wd[2 * K] = 1e-3; /* lone outlier */
        w = mx_astype(mx_array_from_data(wd, shape, 2, MX_FLOAT64), t);
        mx_array *wq, *s, *b;
        MXT_CHECK(mx_quantize(w, gs, bits, &wq, &s, &b) == MX_OK, "%s", mx_last_error());
        if (!wq) continue;
        MXT_CHECK(mx_array_dtype(wq) == MX_UINT32 && mx_array_dtype(s) == t &&
                      mx_array_dtype(b) == t,
                  "dtypes");
        MXT_CHECK(mx_array_dim(wq, 1) == K * bits / 32 && mx_array_dim(s, 1) == K / gs &&
                      mx_array_dim(b, 0) == N,
                  "shapes");
        int64_t G = (int64_t)N * K / gs;
        uint32_t *codes = malloc(sizeof(uint32_t) * (size_t)N * K);
        uint32_t *words = malloc(sizeof(uint32_t) * (size_t)N * K * bits / 32);
        double *sref = malloc(sizeof(double) * (size_t)G),
               *bref = malloc(sizeof(double) * (size_t)G);
        float buf[128];
        for (int64_t g = 0; g < G; g++) {
          for (int j = 0; j < gs; j++) buf[j] = (float)wd[g * gs + j];
          float sc, bs;
          mlx_group_ref(buf, gs, bits, codes + g * gs, &sc, &bs);
          sref[g] = round_dt(sc, t);
          bref[g] = round_dt(bs, t);
        }
        pack_ref(codes, (int64_t)N * K, bits, words);
        uint32_t *got = malloc(sizeof(uint32_t) * (size_t)N * K * bits / 32);
        MXT_CHECK(mx_array_read(wq, MX_UINT32, got,
                                sizeof(uint32_t) * (size_t)N * K * bits / 32) == MX_OK,
                  "read");
        int64_t nw = (int64_t)N * K * bits / 32, bad = -1;
        for (int64_t i = 0; i < nw && bad < 0; i++)
          if (got[i] != words[i]) bad = i;
        MXT_CHECK(bad < 0, "%s bits=%d gs=%d: word %lld got %08x want %08x",
                  mx_dtype_name(t), bits, gs, (long long)bad, bad >= 0 ? got[bad] : 0,
                  bad >= 0 ? words[bad] : 0);
        mxt_close(s, sref, G, 0, 0, "scales");
        mxt_close(b, bref, G, 0, 0, "biases");
        free(codes), free(words), free(sref), free(bref), free(got), free(wd);
      }
}

/* Integer-valued groups give known codes without any rounding: w = q - nb
 * (min -nb, max 0) quantizes to scale 1, bias -nb, codes q; w = q (min 0,
 * max nb) to scale -1, bias nb, codes nb - q. */
static void test_quantize_known_codes(void) {
  for (int bi = 0; bi < 6; bi++)
    for (int gi = 0; gi < 3; gi++)
      for (int flip = 0; flip < 2; flip++) {
        int bits = BITS[bi], gs = GSS[gi], nb = (1 << bits) - 1, N = 3, K = 2 * gs;
        int64_t n = (int64_t)N * K;
        uint32_t *q = malloc(4 * (size_t)n), *want = malloc(4 * (size_t)n);
        float *w = malloc(4 * (size_t)n);
        for (int64_t i = 0; i < n; i++) {
          q[i] = (uint32_t)(mxt_next() % (uint64_t)(nb + 1));
          if (i % gs == 0) q[i] = 0;
          if (i % gs == 1) q[i] = (uint32_t)nb;
          w[i] = flip ? (float)q[i] : (float)q[i] - (float)nb;
          want[i] = flip ? (uint32_t)nb - q[i] : q[i];
        }
        uint32_t *words = malloc(4 * (size_t)(n * bits / 32));
        pack_ref(want, n, bits, words);
        int shape[2] = {N, K};
        mx_array *wa = mx_array_from_data(w, shape, 2, MX_FLOAT32);
        mx_array *wq, *s, *b;
        MXT_CHECK(mx_quantize(wa, gs, bits, &wq, &s, &b) == MX_OK, "%s", mx_last_error());
        double *wqd = mxt_to_f64(wq), *sd = mxt_to_f64(s), *bd = mxt_to_f64(b);
        for (int64_t i = 0; i < n * bits / 32; i++)
          if ((uint32_t)wqd[i] != words[i]) {
            MXT_CHECK(0, "bits=%d gs=%d flip=%d word %lld: %08x vs %08x", bits, gs, flip,
                      (long long)i, (uint32_t)wqd[i], words[i]);
            break;
          }
        for (int64_t g = 0; g < n / gs; g++) {
          MXT_CHECK(sd[g] == (flip ? -1 : 1), "scale %g", sd[g]);
          MXT_CHECK(bd[g] == (flip ? nb : -nb), "bias %g", bd[g]);
        }
        /* and dequantize gives w back exactly */
        mx_array *dq = mx_dequantize(wq, s, b, gs, bits);
        double *ref = malloc(sizeof(double) * (size_t)n);
        for (int64_t i = 0; i < n; i++) ref[i] = w[i];
        mxt_close(dq, ref, n, 0, 0, "exact dequantize");
        free(q), free(want), free(w), free(words), free(wqd), free(sd), free(bd),
            free(ref);
      }
}

static void test_roundtrip_bound(void) {
  for (int di = 0; di < 3; di++)
    for (int bi = 0; bi < 6; bi++)
      for (int gi = 0; gi < 3; gi++) {
        mx_dtype t = FDT[di];
        int bits = BITS[bi], gs = GSS[gi], nb = (1 << bits) - 1;
        int shape[3] = {2, 3, 256};
        mx_array *w = mxt_rand(shape, 3, t, -2, 1.5);
        mx_array *wq, *s, *b;
        MXT_CHECK(mx_quantize(w, gs, bits, &wq, &s, &b) == MX_OK, "%s", mx_last_error());
        mx_array *dq = mx_dequantize(wq, s, b, gs, bits);
        MXT_OK(dq);
        if (!dq) continue;
        MXT_CHECK(mx_array_dtype(dq) == t && mx_array_ndim(dq) == 3 &&
                      mx_array_dim(dq, 2) == 256,
                  "dequantized meta");
        double *wd = mxt_to_f64(w), *dd = mxt_to_f64(dq), *sd = mxt_to_f64(s),
               *bd = mxt_to_f64(b);
        double u = unit(t);
        int64_t n = mx_array_size(w);
        for (int64_t i = 0; i < n; i++) {
          double sc = fabs(sd[i / gs]), bs = bd[i / gs], ss = sd[i / gs];
          /* rounding slack: the scale error is multiplied by a code up to
           * nb, plus the roundings of bias and result to t */
          double slack = sc * 2 * nb * u + fabs(bs) * u + 2 * fabs(wd[i]) * u + 1e-6;
          /* MLX's grid is bias + scale * {0..nb}; anchoring an edge (and 0)
           * exactly may leave the far end of the group's range outside it:
           * values inside the grid are within half a step, values outside
           * clip to the grid's end, which is less than a step (scale * (1 +
           * 1/nb)) away. */
          double lo = fmin(bs, bs + nb * ss), hi = fmax(bs, bs + nb * ss);
          double err = fabs(wd[i] - dd[i]);
          bool ok;
          if (wd[i] >= lo - slack && wd[i] <= hi + slack)
            ok = err <= sc / 2 + slack;
          else
            ok = fabs(dd[i] - (wd[i] < lo ? lo : hi)) <= slack &&
                 err <= sc * (1 + 1.0 / nb) + slack;
          if (!ok) {
            MXT_CHECK(0, "%s bits=%d gs=%d elem %lld: w %g deq %g scale %g bias %g",
                      mx_dtype_name(t), bits, gs, (long long)i, wd[i], dd[i], ss, bs);
            break;
          }
        }
        free(wd), free(dd), free(sd), free(bd);
      }
}

/* ---- dequantize from codes packed here ---- */

typedef struct {
  int rows, cols, gs, bits;
  uint32_t *codes; /* rows * cols */
  double *s, *b;   /* rows * cols/gs, already rounded to the scale dtype */
  mx_array *wq, *sa, *ba;
} qmat;

static qmat make_qmat(int rows, int cols, int gs, int bits, mx_dtype sdt) {
  qmat q = {rows, cols, gs, bits, NULL, NULL, NULL, NULL, NULL, NULL};
  int64_t n = (int64_t)rows * cols, G = n / gs;
  q.codes = malloc(4 * (size_t)(n ? n : 1));
  q.s = malloc(sizeof(double) * (size_t)(G ? G : 1));
  q.b = malloc(sizeof(double) * (size_t)(G ? G : 1));
  uint32_t *words = malloc(4 * (size_t)(n * bits / 32 + 1));
  for (int64_t i = 0; i < n; i++)
    q.codes[i] = (uint32_t)(mxt_next() >> 40) & ((1u << bits) - 1);
  for (int64_t g = 0; g < G; g++) {
    q.s[g] = round_dt(mxt_uniform(-0.05, 0.05), sdt);
    q.b[g] = round_dt(mxt_uniform(-0.5, 0.5), sdt);
  }
  pack_ref(q.codes, n, bits, words);
  int ws[2] = {rows, cols * bits / 32}, ss[2] = {rows, cols / gs};
  q.wq = mx_array_from_data(words, ws, 2, MX_UINT32);
  q.sa = mx_astype(mx_array_from_data(q.s, ss, 2, MX_FLOAT64), sdt);
  q.ba = mx_astype(mx_array_from_data(q.b, ss, 2, MX_FLOAT64), sdt);
  free(words);
  return q;
}
static void free_qmat(qmat *q) { free(q->codes), free(q->s), free(q->b); }
static double qval(const qmat *q, int64_t r, int64_t c) {
  int64_t g = (r * q->cols + c) / q->gs;
  return q->codes[r * q->cols + c] * q->s[g] + q->b[g];
}

static void test_dequantize_packed_reference(void) {
  for (int di = 0; di < 3; di++)
    for (int bi = 0; bi < 6; bi++)
      for (int gi = 0; gi < 3; gi++) {
        mx_dtype t = FDT[di];
        qmat q = make_qmat(7, 256, GSS[gi], BITS[bi], t);
        mx_array *dq = mx_dequantize(q.wq, q.sa, q.ba, q.gs, q.bits);
        double *ref = malloc(sizeof(double) * 7 * 256);
        for (int r = 0; r < 7; r++)
          for (int c = 0; c < 256; c++) ref[r * 256 + c] = qval(&q, r, c);
        /* two roundings to t (product, then sum): half an ulp of each */
        double *got = mxt_to_f64(dq);
        for (int i = 0; got && i < 7 * 256; i++) {
          int r = i / 256, c = i % 256;
          int64_t g = i / q.gs;
          double prod = q.codes[i] * q.s[g];
          double tol = unit(t) * (fabs(prod) + fabs(ref[i])) + 1e-12;
          if (!(fabs(got[i] - ref[i]) <= tol)) {
            MXT_CHECK(0, "dequantize %s bits=%d gs=%d (%d,%d): got %g want %g",
                      mx_dtype_name(t), q.bits, q.gs, r, c, got[i], ref[i]);
            break;
          }
        }
        free(got);
        /* non-contiguous inputs (column-major copies) give the same */
        mx_array *dq2 = mx_dequantize(mxt_noncontig(q.wq), mxt_noncontig(q.sa),
                                      mxt_noncontig(q.ba), q.gs, q.bits);
        double *a = mxt_to_f64(dq), *b2 = mxt_to_f64(dq2);
        MXT_CHECK(a && b2 && memcmp(a, b2, sizeof(double) * 7 * 256) == 0,
                  "noncontig dequantize");
        free(a), free(b2), free(ref);
        free_qmat(&q);
      }
  /* mixed scale/bias dtypes promote: f16 scales + f32 biases -> f32 */
  qmat q = make_qmat(2, 64, 32, 4, MX_FLOAT16);
  mx_array *dq = mx_dequantize(q.wq, q.sa, mx_astype(q.ba, MX_FLOAT32), 32, 4);
  MXT_CHECK(dq && mx_array_dtype(dq) == MX_FLOAT32, "promoted dtype");
  free_qmat(&q);
}

/* ---- quantized_matmul ---- */

/* out (M, N) reference: transpose -> w is (N, K) rows; else (K, N) */
static double *qmm_ref(const double *x, int M, int K, int N, const qmat *q,
                       bool transpose) {
  double *out = calloc((size_t)M * N, sizeof(double));
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double acc = 0;
      for (int k = 0; k < K; k++)
        acc += x[(int64_t)m * K + k] * (transpose ? qval(q, n, k) : qval(q, k, n));
      out[(int64_t)m * N + n] = acc;
    }
  return out;
}

/* |x| @ |w| for the error bound */
static double *qmm_abs(const double *x, int M, int K, int N, const qmat *q,
                       bool transpose) {
  double *out = calloc((size_t)M * N, sizeof(double));
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double acc = 0;
      for (int k = 0; k < K; k++)
        acc += fabs(x[(int64_t)m * K + k] * (transpose ? qval(q, n, k) : qval(q, k, n)));
      out[(int64_t)m * N + n] = acc;
    }
  return out;
}

static bool check_qmm(mx_array *y, const double *ref, const double *mag, int64_t n,
                      mx_dtype t, const char *what) {
  if (!y) {
    MXT_CHECK(0, "%s: NULL: %s", what, mx_last_error());
    mx_clear_error();
    return false;
  }
  double *d = mxt_to_f64(y);
  if (!d) return false;
  for (int64_t i = 0; i < n; i++) {
    /* float32 accumulation (relative to the magnitudes summed) plus the
     * final rounding to the output dtype */
    double tol = 2e-6 * mag[i] + unit(t) * fabs(ref[i]) + 1e-6;
    if (!(fabs(d[i] - ref[i]) <= tol)) {
      MXT_CHECK(0, "%s: element %lld got %.8g want %.8g (tol %.3g)", what, (long long)i,
                d[i], ref[i], tol);
      free(d);
      return false;
    }
  }
  free(d);
  return true;
}

static void run_qmm_case(int M, int N, int K, int gs, int bits, bool transpose,
                         mx_dtype xt, mx_dtype st, const char *isa) {
  qmat q = transpose ? make_qmat(N, K, gs, bits, st) : make_qmat(K, N, gs, bits, st);
  int xs[2] = {M, K};
  mx_array *x = mxt_rand(xs, 2, xt, -1, 1);
  double *xd = mxt_to_f64(x);
  double *ref = qmm_ref(xd, M, K, N, &q, transpose);
  double *mag = qmm_abs(xd, M, K, N, &q, transpose);
  mx_array *y = mx_quantized_matmul(x, q.wq, q.sa, q.ba, transpose, gs, bits);
  char what[160];
  snprintf(what, sizeof what, "%s qmm M=%d N=%d K=%d gs=%d bits=%d T=%d x=%s s=%s", isa,
           M, N, K, gs, bits, transpose, mx_dtype_name(xt), mx_dtype_name(st));
  mx_dtype ot = mx_promote_types(xt, st);
  MXT_CHECK(!y || (mx_array_dtype(y) == ot && mx_array_dim(y, 0) == M &&
                   mx_array_dim(y, 1) == N),
            "%s: meta", what);
  check_qmm(y, ref, mag, (int64_t)M * N, ot, what);
  free(xd), free(ref), free(mag);
  free_qmat(&q);
}

static void test_qmm_all_formats(void) {
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    for (int bi = 0; bi < 6; bi++)
      for (int gi = 0; gi < 3; gi++)
        for (int tr = 0; tr < 2; tr++)
          for (int di = 0; di < 3; di++) {
            int gs = GSS[gi], bits = BITS[bi];
            /* M: 1 (matvec), 6 (a block of 4 and two single rows);
             * N: not a multiple of the row tiles when transposed; K = 256
             * reaches the bfloat16 path's blocks of 128 */
            int N = tr ? 11 : 2 * gs, K = tr ? 256 : 3 * 32;
            mx_dtype t = FDT[di];
            run_qmm_case(1, N, K, gs, bits, tr, t, t, isa_name(isa));
            run_qmm_case(6, N, K, gs, bits, tr, t, t, isa_name(isa));
          }
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

static void test_qmm_dtypes(void) {
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    for (int xi = 0; xi < 3; xi++)
      for (int si = 0; si < 3; si++)
        for (int tr = 0; tr < 2; tr++) {
          int bits = (xi + si) % 2 ? 4 : 8;
          if (si == 2 && xi == 1) bits = 3;
          run_qmm_case(5, tr ? 9 : 64, 128, 64, bits, tr, FDT[xi], FDT[si],
                       isa_name(isa));
        }
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

/* Bigger shapes: several column blocks and row chunks, many threads' worth */
static void test_qmm_larger(void) {
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    run_qmm_case(1, 75, 1024, 64, 4, true, MX_BFLOAT16, MX_BFLOAT16, isa_name(isa));
    run_qmm_case(9, 70, 512, 128, 8, true, MX_FLOAT16, MX_FLOAT16, isa_name(isa));
    run_qmm_case(3, 64, 512, 32, 6, true, MX_FLOAT32, MX_FLOAT16, isa_name(isa));
    run_qmm_case(5, 640, 96, 64, 4, false, MX_FLOAT32, MX_BFLOAT16, isa_name(isa));
    run_qmm_case(2, 576, 64, 32, 5, false, MX_FLOAT32, MX_FLOAT32, isa_name(isa));
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

/* The 4-bit bfloat16 path (bf16 x exact, f16 x as hi + lo): every group
 * size (blocks of 128 codes span 1, 2 or 4 groups), row and column tails,
 * and the other ISAs on the same shapes. */
static void test_qmm_4bit_half_x(void) {
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    for (int gi = 0; gi < 3; gi++)
      for (int xi = 1; xi < 3; xi++) {
        const int Ms[4] = {1, 2, 5, 9};
        for (int mi = 0; mi < 4; mi++)
          run_qmm_case(Ms[mi], 13, 384, GSS[gi], 4, true, FDT[xi], FDT[(xi + mi) % 3],
                       isa_name(isa));
      }
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

/* Many rows (quantized.c's large-M branch: codes decoded into bfloat16
 * panels and the AMX or vdpbf16ps GEMM, gemm_bf16.c): bfloat16 x, every bit width
 * and group size, bfloat16 / float16 / float32 scales, K with and without a
 * partial block of 256, row tails. */
static void qmm_large_m_cases(const char *tag) {
  for (int bi = 0; bi < 6; bi++)
    for (int gi = 0; gi < 3; gi++) {
      run_qmm_case(33, 19, 384, GSS[gi], BITS[bi], true, MX_BFLOAT16, MX_BFLOAT16, tag);
      run_qmm_case(BITS[bi] == 4 ? 32 : 16, 23, 256, GSS[gi], BITS[bi], true, MX_BFLOAT16,
                   FDT[(bi + gi) % 2], tag);
    }
  run_qmm_case(130, 100, 768, 64, 4, true, MX_BFLOAT16, MX_BFLOAT16, tag);
  run_qmm_case(70, 37, 640, 128, 8, true, MX_BFLOAT16, MX_BFLOAT16, tag);
  run_qmm_case(40, 64, 512, 32, 3, true, MX_BFLOAT16, MX_FLOAT32, tag);
  /* 4- and 8-bit decoders with the next block's prefetch: several panels of
   * 96 rows per thread, K = 896 (blocks of 256 and a last one of 128) */
  run_qmm_case(48, 401, 896, 64, 4, true, MX_BFLOAT16, MX_FLOAT32, tag);
  run_qmm_case(37, 389, 896, 32, 8, true, MX_BFLOAT16, MX_FLOAT16, tag);
  run_qmm_case(17, 211, 1152, 128, 8, true, MX_BFLOAT16, MX_BFLOAT16, tag);
  /* several equal panels per thread chunk (and the next panel's prefetch) */
  run_qmm_case(33, 1703, 256, 64, 4, true, MX_BFLOAT16, MX_BFLOAT16, tag);
  run_qmm_case(20, 1301, 896, 64, 8, true, MX_BFLOAT16, MX_FLOAT32, tag);
  /* more than 1024 rows of x: the driver's row blocks of X reuse each
   * decoded panel */
  run_qmm_case(1100, 70, 256, 64, 4, true, MX_BFLOAT16, MX_BFLOAT16, tag);
}

static void test_qmm_large_m(void) {
  /* the AMX tiles where the CPU has them, then the vdpbf16ps kernel (or,
   * without AVX512-BF16, the row kernels) */
  const int top = n_isas() - 1;
  for (int isa = top; isa == top || isa >= MX_ISA_AVX512BF16; isa--) {
    char tag[48];
    snprintf(tag, sizeof tag, "large M, %s", isa_name(isa));
    mx_cpu_isa_cap((mx_isa)isa);
    qmm_large_m_cases(tag);
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

/* The decode tiles of the bfloat16 path (4- and 8-bit codes): M = 1..4,
 * 7 and 15 (pairs of x rows and a single one), an odd N (tiles of four and
 * two w rows, and a tail row), K = 896 (the 0.4B model's rows, 7 blocks of
 * 128), every group size and scale dtype, bfloat16 and float16 x. */
static void test_qmm_decode_tiles(void) {
  const int Ms[6] = {1, 2, 3, 4, 7, 15};
  for (int bi = 0; bi < 2; bi++)
    for (int gi = 0; gi < 3; gi++)
      for (int xi = 1; xi < 3; xi++)
        for (int mi = 0; mi < 6; mi++)
          run_qmm_case(Ms[mi], 13, 896, GSS[gi], bi ? 8 : 4, true, FDT[xi],
                       FDT[(xi + mi + gi) % 3], "bf16 path");
}

/* The transposed product splits rows across the pool in a guided schedule
 * (chunks of multiples of 32 rows, sizes depending on timing): each output
 * must not depend on the split. One thread vs two and three, bit for bit,
 * on row counts with a tail of units and of tiles, plus the reference. */
static void test_qmm_thread_split(void) {
  /* the last case has long rows (K = 4864) */
  const int Ns[4] = {1000, 131, 4099, 650};
  int nt0 = mx_num_threads();
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    for (int bi = 0; bi < 2; bi++)
      for (int ni = 0; ni < 4; ni++)
        for (int M = 1; M <= 3; M += 2) {
          int N = Ns[ni], K = ni == 3 ? 4864 : 896, bits = bi ? 8 : 4;
          mx_dtype xt = (ni + M) % 2 ? MX_BFLOAT16 : MX_FLOAT16;
          qmat q = make_qmat(N, K, 64, bits, MX_BFLOAT16);
          int xs[2] = {M, K};
          mx_array *x = mxt_rand(xs, 2, xt, -1, 1);
          double *got[3] = {NULL, NULL, NULL};
          for (int t = 0; t < 3; t++) {
            mx_set_num_threads(t + 1);
            got[t] = mxt_to_f64(mx_quantized_matmul(x, q.wq, q.sa, q.ba, true, 64, bits));
          }
          mx_set_num_threads(nt0);
          bool same = got[0] && got[1] && got[2];
          for (int64_t i = 0; same && i < (int64_t)M * N; i++)
            same = !memcmp(&got[0][i], &got[1][i], sizeof(double)) &&
                   !memcmp(&got[0][i], &got[2][i], sizeof(double));
          MXT_CHECK(same, "%s qmm split M=%d N=%d bits=%d: threads change the result",
                    isa_name(isa), M, N, bits);
          for (int t = 0; t < 3; t++) free(got[t]);
          free_qmat(&q);
          run_qmm_case(M, N, K, 64, bits, true, xt, MX_BFLOAT16, isa_name(isa));
        }
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

/* The decode kernels come in two instances, prefetching w non-temporal or
 * not (mx_cpu_prefetch_nta): a hint, which must not change a bit. Both, on
 * every ISA, for the bfloat16 4-bit tiles, the 8-bit and generic (3-bit)
 * tiles, one and three rows of x, short and long rows; and the bfloat16
 * matvec rows. */
static void test_prefetch_hint_same_bits(void) {
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    for (int bi = 0; bi < 3; bi++)
      for (int M = 1; M <= 3; M += 2)
        for (int ki = 0; ki < 2; ki++) {
          const int bits = bi == 0 ? 4 : bi == 1 ? 8 : 3, N = 131, K = ki ? 4864 : 896;
          qmat q = make_qmat(N, K, 64, bits, MX_BFLOAT16);
          int xs[2] = {M, K};
          mx_array *x = mxt_rand(xs, 2, ki ? MX_FLOAT16 : MX_BFLOAT16, -1, 1);
          double *got[2];
          for (int h = 0; h < 2; h++) {
            mx_cpu_set_prefetch_nta(h);
            got[h] = mxt_to_f64(mx_quantized_matmul(x, q.wq, q.sa, q.ba, true, 64, bits));
          }
          MXT_CHECK(got[0] && got[1] && !memcmp(got[0], got[1], sizeof(double) * M * N),
                    "%s qmm M=%d K=%d bits=%d: the prefetch hint changes the result",
                    isa_name(isa), M, K, bits);
          free(got[0]), free(got[1]);
          free_qmat(&q);
        }
    int xs[2] = {1, 896}, ws[2] = {131, 896}, ax[2] = {1, 0};
    mx_array *x = mxt_rand(xs, 2, MX_BFLOAT16, -1, 1),
             *w = mxt_rand(ws, 2, MX_BFLOAT16, -1, 1);
    double *got[2];
    for (int h = 0; h < 2; h++) {
      mx_cpu_set_prefetch_nta(h);
      got[h] = mxt_to_f64(mx_matmul(x, mx_transpose(w, ax, 2)));
    }
    MXT_CHECK(got[0] && got[1] && !memcmp(got[0], got[1], sizeof(double) * 131),
              "%s bf16 matvec: the prefetch hint changes the result", isa_name(isa));
    free(got[0]), free(got[1]);
  }
  mx_cpu_set_prefetch_nta(-1);
  mx_cpu_isa_cap(MX_ISA_BEST);
}

/* Transposed products of one x evaluated together run as one group (one
 * preparation of x, one schedule over all rows): each output bit for bit
 * what its product gives evaluated alone, on every ISA, for 3, 4, 6 and 8 bits,
 * row counts under, at and off the 32-row unit, scale dtypes that differ
 * between the weights, 1..4 rows of x; a product whose weight is still
 * lazy when the group forms, and one of another x, stay out of it and are
 * right too. */
static void test_qmm_group(void) {
  const int Ns[4] = {896, 128, 13, 4099};
  const mx_dtype xts[3] = {MX_BFLOAT16, MX_FLOAT16, MX_FLOAT32};
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    for (int bi = 0; bi < 4; bi++)
      for (int M = 1; M <= 4; M += 3) {
        const int BS[4] = {4, 8, 3, 6}; /* 3 and 6: the generic unpacker */
        int K = 256, bits = BS[bi];
        mx_dtype xt = xts[(M + bi + isa) % 3];
        int xs[2] = {M, K};
        mx_array *x = mxt_rand(xs, 2, xt, -1, 1), *x2 = mxt_rand(xs, 2, xt, -1, 1);
        qmat q[4];
        for (int i = 0; i < 4; i++)
          q[i] = make_qmat(Ns[i], K, 64, bits, FDT[(i + bi) % 3]);
        /* alone: one product per eval */
        double *alone[5];
        for (int i = 0; i < 4; i++)
          alone[i] = mxt_to_f64(
              mx_quantized_matmul(x, q[i].wq, q[i].sa, q[i].ba, true, 64, bits));
        alone[4] = mxt_to_f64(
            mx_quantized_matmul(x2, q[0].wq, q[0].sa, q[0].ba, true, 64, bits));
        /* together: products 0, 1 and 3 group; the scales of product 2 are
         * a lazy copy (not ready when the group forms), product 4 has
         * another x */
        mx_array *y[5];
        for (int i = 0; i < 4; i++) {
          mx_array *sa =
              i == 2
                  ? mx_contiguous(mx_transpose(mx_transpose(q[i].sa, NULL, 0), NULL, 0))
                  : q[i].sa;
          y[i] = mx_quantized_matmul(x, q[i].wq, sa, q[i].ba, true, 64, bits);
        }
        y[4] = mx_quantized_matmul(x2, q[0].wq, q[0].sa, q[0].ba, true, 64, bits);
        MXT_CHECK(mx_eval(y, 5) == MX_OK, "eval: %s", mx_last_error());
        for (int i = 0; i < 5; i++) {
          double *got = mxt_to_f64(y[i]);
          int64_t n = (int64_t)M * Ns[i < 4 ? i : 0];
          bool same = got && alone[i];
          for (int64_t e = 0; same && e < n; e++)
            same = !memcmp(&got[e], &alone[i][e], sizeof(double));
          MXT_CHECK(same, "%s qmm group M=%d bits=%d product %d differs from alone",
                    isa_name(isa), M, bits, i);
          free(got);
          free(alone[i]);
        }
        for (int i = 0; i < 4; i++) free_qmat(&q[i]);
        run_qmm_case(M, 896, K, 64, bits, true, xt, MX_BFLOAT16, isa_name(isa));
      }
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

/* x with more dims, non-contiguous x, batched w with broadcasting */
static void test_qmm_shapes_and_layouts(void) {
  int K = 128, N = 6, gs = 64, bits = 4;
  qmat q = make_qmat(N, K, gs, bits, MX_FLOAT32);
  int xs[3] = {2, 3, K};
  mx_array *x = mxt_rand(xs, 3, MX_FLOAT32, -1, 1);
  double *xd = mxt_to_f64(x);
  double *ref = qmm_ref(xd, 6, K, N, &q, true), *mag = qmm_abs(xd, 6, K, N, &q, true);
  mx_array *y = mx_quantized_matmul(x, q.wq, q.sa, q.ba, true, gs, bits);
  MXT_CHECK(
      y && mx_array_ndim(y) == 3 && mx_array_dim(y, 0) == 2 && mx_array_dim(y, 2) == N,
      "3-d x shape");
  check_qmm(y, ref, mag, 6 * N, MX_FLOAT32, "3-d x");
  /* x as a transposed view: (K, 6) -> (6, K) */
  int xts[2] = {K, 6};
  double *xt = malloc(sizeof(double) * 6 * (size_t)K);
  for (int m = 0; m < 6; m++)
    for (int k = 0; k < K; k++) xt[k * 6 + m] = xd[m * K + k];
  mx_array *xv = mx_transpose(mx_array_from_data(xt, xts, 2, MX_FLOAT64), NULL, 0);
  y = mx_quantized_matmul(mx_astype(xv, MX_FLOAT32), q.wq, q.sa, q.ba, true, gs, bits);
  check_qmm(y, ref, mag, 6 * N, MX_FLOAT32, "transposed x");
  y = mx_quantized_matmul(xv, q.wq, q.sa, q.ba, true, gs, bits); /* float64 x */
  MXT_CHECK(y == NULL && strstr(mx_last_error(), "[quantized_matmul]"),
            "float64 rejected: %s", mx_last_error());
  mx_clear_error();
  /* non-contiguous w/scales/biases */
  y = mx_quantized_matmul(x, mxt_noncontig(q.wq), mxt_noncontig(q.sa),
                          mxt_noncontig(q.ba), true, gs, bits);
  check_qmm(y, ref, mag, 6 * N, MX_FLOAT32, "noncontig w");
  /* 1-d x */
  int x1s[1] = {K};
  mx_array *x1 = mx_array_from_data(xd, x1s, 1, MX_FLOAT64);
  y = mx_quantized_matmul(mx_astype(x1, MX_FLOAT32), q.wq, q.sa, q.ba, true, gs, bits);
  MXT_CHECK(y && mx_array_ndim(y) == 1 && mx_array_dim(y, 0) == N, "1-d x shape");
  check_qmm(y, ref, mag, N, MX_FLOAT32, "1-d x");
  free(xt), free(ref), free(mag), free(xd);
  free_qmat(&q);

  /* batched w (2, N, K) against x (1, 3, K) (broadcast) and (2, 3, K) */
  qmat qb = make_qmat(2 * N, K, gs, bits, MX_BFLOAT16);
  int wsh[3] = {2, N, K * bits / 32}, ssh[3] = {2, N, K / gs};
  mx_array *wq3 = mx_reshape(qb.wq, wsh, 3), *s3 = mx_reshape(qb.sa, ssh, 3),
           *b3 = mx_reshape(qb.ba, ssh, 3);
  for (int xb = 1; xb <= 2; xb++) {
    int xs3[3] = {xb, 3, K};
    mx_array *x3 = mxt_rand(xs3, 3, MX_FLOAT32, -1, 1);
    double *x3d = mxt_to_f64(x3);
    mx_array *y3 = mx_quantized_matmul(x3, wq3, s3, b3, true, gs, bits);
    MXT_CHECK(y3 && mx_array_ndim(y3) == 3 && mx_array_dim(y3, 0) == 2 &&
                  mx_array_dim(y3, 1) == 3 && mx_array_dim(y3, 2) == N,
              "batched shape");
    double r3[2 * 3 * 6], m3[2 * 3 * 6];
    for (int bb = 0; bb < 2; bb++)
      for (int m = 0; m < 3; m++)
        for (int n = 0; n < N; n++) {
          double acc = 0, mg = 0;
          for (int k = 0; k < K; k++) {
            double v =
                x3d[((xb == 2 ? bb : 0) * 3 + m) * K + k] * qval(&qb, bb * N + n, k);
            acc += v, mg += fabs(v);
          }
          r3[(bb * 3 + m) * N + n] = acc, m3[(bb * 3 + m) * N + n] = mg;
        }
    check_qmm(y3, r3, m3, 2 * 3 * N, MX_FLOAT32,
              xb == 1 ? "batched w, broadcast x" : "batched");
    free(x3d);
  }
  free_qmat(&qb);
}

/* The generic unpacker reads a few bytes past a row; the last row of w must
 * not read past the end of the array: put w's data at the end of a page
 * followed by an inaccessible page. */
static void nop_release(void *ctx) { (void)ctx; }
static void test_qmm_no_overread(void) {
  long pg = sysconf(_SC_PAGESIZE);
  char *mem = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  MXT_CHECK(mem != MAP_FAILED, "mmap");
  if (mem == MAP_FAILED) return;
  mprotect(mem + pg, (size_t)pg, PROT_NONE);
  for (int isa = 0; isa < n_isas(); isa++) {
    mx_cpu_isa_cap((mx_isa)isa);
    for (int bi = 0; bi < 6; bi++)
      for (int tr = 0; tr < 2; tr++) {
        int bits = BITS[bi], gs = 32, N = tr ? 3 : 32, K = tr ? 32 : 3;
        qmat q = make_qmat(tr ? N : K, tr ? K : N, gs, bits, MX_FLOAT32);
        int64_t nbytes = (int64_t)mx_array_size(q.wq) * 4;
        char *at = mem + pg - nbytes;
        MXT_CHECK(mx_array_read(q.wq, MX_UINT32, at, (size_t)nbytes) == MX_OK, "copy");
        mx_array *ext = mx_array_from_external(at, mx_array_shape(q.wq), 2, MX_UINT32,
                                               nop_release, NULL);
        int xs[2] = {2, K};
        mx_array *x = mxt_rand(xs, 2, MX_FLOAT32, -1, 1);
        double *xd = mxt_to_f64(x);
        double *ref = qmm_ref(xd, 2, K, N, &q, tr), *mag = qmm_abs(xd, 2, K, N, &q, tr);
        mx_array *y = mx_quantized_matmul(x, ext, q.sa, q.ba, tr, gs, bits);
        char what[96];
        snprintf(what, sizeof what, "guard page %s bits=%d T=%d", isa_name(isa), bits,
                 tr);
        check_qmm(y, ref, mag, 2 * N, MX_FLOAT32, what);
        mx_eval1(y);
        free(xd), free(ref), free(mag);
        free_qmat(&q);
      }
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
  mx_scope_end(); /* release the arrays that view the page before unmapping */
  mx_scope_begin();
  munmap(mem, (size_t)pg * 2);
}

/* ---- opt-in int8 activations (mx_set_int8_activations, gemm_i8.c) ---- */

/* The int8-activation product of x (M, K) with q (N, K), as gemm_i8.h
 * defines it: each group of x quantized with the same float32 operations
 * (d = max|x| / 127, xi = nearest-even(x * (127 / max|x|))), then float64
 * sums: out = sum_g s (d sum q xi) + b sum x. mag: the magnitudes summed
 * (float32 accumulation tolerance); bound: sum_g d / 2 sum |s q| + the
 * float32 rounding of x * id, the largest difference from the exact
 * product. */
static void i8_ref(const double *xd, int M, int K, int N, const qmat *q, double *out,
                   double *mag, double *bound) {
  const int gs = q->gs, G = K / gs;
  int *xi = malloc(sizeof(int) * (size_t)K);
  double *d = malloc(sizeof(double) * (size_t)G),
         *sx = malloc(sizeof(double) * (size_t)G);
  for (int m = 0; m < M; m++) {
    const double *xr = xd + (int64_t)m * K;
    for (int g = 0; g < G; g++) {
      float amax = 0;
      double sum = 0;
      for (int k = g * gs; k < (g + 1) * gs; k++) {
        if (fabsf((float)xr[k]) > amax) amax = fabsf((float)xr[k]);
        sum += xr[k];
      }
      const float id = amax > 0 ? 127.0f / amax : 0.0f;
      d[g] = amax / 127.0f;
      sx[g] = sum;
      const bool fin = isfinite(sum); /* a NaN row is checked for NaN only */
      for (int k = g * gs; k < (g + 1) * gs; k++)
        xi[k] = fin ? (int)nearbyintf((float)xr[k] * id) : 0;
    }
    for (int n = 0; n < N; n++) {
      double acc = 0, mg = 0, bd = 0;
      for (int g = 0; g < G; g++) {
        const double s = q->s[(int64_t)n * G + g], b = q->b[(int64_t)n * G + g];
        double t = 0, ta = 0, wa = 0;
        for (int k = g * gs; k < (g + 1) * gs; k++) {
          const double c = q->codes[(int64_t)n * K + k];
          t += c * xi[k];
          ta += fabs(c * xi[k]);
          wa += fabs(s * c);
        }
        acc += s * (d[g] * t) + b * sx[g];
        mg += fabs(s) * d[g] * ta + fabs(b * sx[g]);
        bd += d[g] * (0.5 + 1e-5) * wa;
      }
      out[(int64_t)m * N + n] = acc;
      mag[(int64_t)m * N + n] = mg;
      bound[(int64_t)m * N + n] = bd;
    }
  }
  free(xi), free(d), free(sx);
}

/* bitwise equality of two evaluated arrays */
static bool same_bits(mx_array *a, mx_array *b) {
  if (!a || !b || mx_array_size(a) != mx_array_size(b) ||
      mx_array_dtype(a) != mx_array_dtype(b))
    return false;
  const void *pa = mx_array_data(a), *pb = mx_array_data(b);
  return pa && pb && memcmp(pa, pb, mx_array_nbytes(a)) == 0;
}

/* x @ q (transposed or not) with the int8 setting off, then on, each
 * evaluated before the next (the setting is read when the kernel runs) */
static void qmm_off_on(mx_array *x, const qmat *q, bool tr, mx_array **off,
                       mx_array **on) {
  mx_array *y[2];
  for (int k = 0; k < 2; k++) {
    mx_set_int8_activations(k == 1);
    y[k] = mx_quantized_matmul(x, q->wq, q->sa, q->ba, tr, q->gs, q->bits);
    mx_eval1(y[k]);
  }
  mx_set_int8_activations(false);
  *off = y[0];
  *on = y[1];
}

/* Whether the setting on gives the same bits as off: M rows of bfloat16 x,
 * w of `bits` bits in groups of 64, 24 x 256 (transposed) or 256 x 64 */
static bool int8_same_as_exact(int M, int bits, bool tr) {
  qmat q = tr ? make_qmat(24, 256, 64, bits, MX_BFLOAT16)
              : make_qmat(256, 64, 64, bits, MX_BFLOAT16);
  int xs[2] = {M, 256};
  mx_array *off, *on;
  qmm_off_on(mxt_rand(xs, 2, MX_BFLOAT16, -1, 1), &q, tr, &off, &on);
  const bool same = same_bits(off, on);
  free_qmat(&q);
  return same;
}

static void run_i8_case(int M, int N, int K, int gs, int bits, mx_dtype xt, mx_dtype st,
                        bool nan_row, bool noncontig) {
  qmat q = make_qmat(N, K, gs, bits, st);
  int xs[2] = {M, K};
  mx_array *x = mxt_rand(xs, 2, xt, -1, 1);
  if (nan_row) { /* a NaN in row 3's second group */
    double *v = mxt_to_f64(x);
    v[3 * K + gs + 5] = NAN;
    x = mx_astype(mx_array_from_data(v, xs, 2, MX_FLOAT64), xt);
    free(v);
  }
  if (noncontig) x = mxt_noncontig(x);
  double *xd = mxt_to_f64(x);
  double *ref = malloc(sizeof(double) * (size_t)M * N),
         *mag = malloc(sizeof(double) * (size_t)M * N),
         *bound = malloc(sizeof(double) * (size_t)M * N);
  i8_ref(xd, M, K, N, &q, ref, mag, bound);
  double *exact = qmm_ref(xd, M, K, N, &q, true), *emag = qmm_abs(xd, M, K, N, &q, true);
  mx_array *ye, *y;
  qmm_off_on(x, &q, true, &ye, &y);
  char what[160];
  snprintf(what, sizeof what, "int8 qmm M=%d N=%d K=%d gs=%d bits=%d x=%s s=%s%s%s", M, N,
           K, gs, bits, mx_dtype_name(xt), mx_dtype_name(st), nan_row ? " NaN row" : "",
           noncontig ? " noncontig" : "");
  mx_dtype ot = mx_promote_types(xt, st);
  double *got = y ? mxt_to_f64(y) : NULL;
  MXT_CHECK(got && mx_array_dtype(y) == ot, "%s: %s", what,
            got ? "dtype" : mx_last_error());
  if (!got) mx_clear_error();
  for (int64_t i = 0; got && i < (int64_t)M * N; i++) {
    if (nan_row && i / N == 3) {
      if (!isnan(got[i])) {
        MXT_CHECK(0, "%s: element %lld of the NaN row is %g", what, (long long)i, got[i]);
        break;
      }
      continue;
    }
    const double r = unit(ot) * fabs(ref[i]);
    const double tol = 2e-6 * mag[i] + r + 1e-6;
    const double tol_e = bound[i] + 2e-6 * emag[i] + unit(ot) * fabs(exact[i]) + 1e-6;
    if (!(fabs(got[i] - ref[i]) <= tol) || !(fabs(got[i] - exact[i]) <= tol_e)) {
      MXT_CHECK(0,
                "%s: element %lld got %.8g, int8 reference %.8g (tol %.3g), exact %.8g "
                "(bound %.3g)",
                what, (long long)i, got[i], ref[i], tol, exact[i], tol_e);
      break;
    }
  }
  /* the fast path ran (its results differ from the exact ones) */
  MXT_CHECK(!same_bits(y, ye), "%s: same bits as the exact path", what);
  free(got), free(xd), free(ref), free(mag), free(bound), free(exact), free(emag);
  free_qmat(&q);
}

static void test_int8_activations(void) {
  const bool had = mx_get_int8_activations();
  const bool avail = mx_gemm_i8_available();
  /* with AMX the many-row products stay on the exact tiles (checked at the
   * end): the int8 GEMM is tested below the AMX level */
  const bool amx = mx_cpu_isa_hw() >= MX_ISA_AMX;
  if (amx) mx_cpu_isa_cap(MX_ISA_AVX512BF16);
  if (avail) {
    /* many rows (the GEMM, gemm_i8.c): K with a partial block of 256 and a
     * tail of quads (352 = 88 quads); row tails of W (N not a multiple of
     * 6) and of X (M not of 16) */
    run_i8_case(40, 70, 352, 32, 4, MX_BFLOAT16, MX_BFLOAT16, false, false);
    run_i8_case(33, 19, 384, 64, 8, MX_FLOAT32, MX_FLOAT32, false, false);
    run_i8_case(130, 100, 768, 128, 4, MX_BFLOAT16, MX_FLOAT16, false, false);
    run_i8_case(16, 45, 640, 128, 8, MX_BFLOAT16, MX_BFLOAT16, false, false);
    /* several panels per thread, K = 896 (the 0.4B model's rows) */
    run_i8_case(48, 401, 896, 64, 4, MX_BFLOAT16, MX_BFLOAT16, false, false);
    run_i8_case(20, 1301, 896, 64, 8, MX_BFLOAT16, MX_FLOAT32, false, false);
    /* more than 1024 rows of X */
    run_i8_case(1100, 70, 256, 64, 4, MX_FLOAT32, MX_BFLOAT16, false, false);
    /* a NaN makes its row NaN and leaves the others alone */
    run_i8_case(32, 50, 256, 64, 4, MX_BFLOAT16, MX_BFLOAT16, true, false);
    /* few rows (decode, the row kernel): 1-7 rows (blocks of four), every
     * group size, a 32-code tail of K (352 with groups of 32), more than
     * 16 windows of groups (K = 4864 / 32 = 152 groups), N not a multiple
     * of 16, float16 output, strided x, NaN */
    for (int gi = 0; gi < 3; gi++) {
      run_i8_case(1, 77, 896, GSS[gi], 4, MX_BFLOAT16, MX_BFLOAT16, false, false);
      run_i8_case(3, 40, 1152, GSS[gi], 8, MX_FLOAT32, MX_BFLOAT16, false, false);
    }
    run_i8_case(2, 33, 352, 32, 4, MX_FLOAT16, MX_FLOAT16, false, false);
    run_i8_case(5, 64, 4864, 32, 4, MX_BFLOAT16, MX_FLOAT32, false, false);
    run_i8_case(7, 300, 512, 64, 8, MX_BFLOAT16, MX_BFLOAT16, false, true);
    run_i8_case(4, 20, 256, 64, 4, MX_BFLOAT16, MX_BFLOAT16, true, false);
    /* many rows whose GEMM preconditions fail (float16 output, strided x)
     * take the row kernel */
    run_i8_case(40, 24, 256, 64, 4, MX_FLOAT16, MX_FLOAT16, false, false);
    run_i8_case(40, 24, 256, 64, 4, MX_BFLOAT16, MX_BFLOAT16, false, true);
  } else {
    printf("  (no AVX512-VNNI here: only the exact-path cases below run)\n");
  }
  /* cases that keep the exact path with the setting on: bit for bit */
  struct {
    int M, bits;
    bool transpose;
  } keep[] = {{40, 3, true}, {1, 6, true}, {4, 4, false}, {40, 8, false}};
  for (size_t c = 0; c < sizeof keep / sizeof keep[0]; c++)
    MXT_CHECK(int8_same_as_exact(keep[c].M, keep[c].bits, keep[c].transpose),
              "int8 setting on, exact path kept: case %zu", c);
  /* with AMX: many rows take the exact tiles, one row the int8 kernel */
  if (amx) {
    mx_cpu_isa_cap(MX_ISA_BEST);
    for (int M = 1; M <= 40; M += 39)
      MXT_CHECK(int8_same_as_exact(M, 4, true) == (M > 1), "AMX, %d rows: %s", M,
                M > 1 ? "the exact tiles" : "the int8 row kernel");
  }
  /* below the avx512bf16 level (or without VNNI) the 4-bit prefill keeps
   * the exact path too */
  const mx_isa cap = mx_cpu_isa_cap(MX_ISA_AVX512);
  MXT_CHECK(!mx_gemm_i8_available(), "int8 kernel off below avx512bf16");
  MXT_CHECK(int8_same_as_exact(64, 4, true), "capped at %s: exact path", isa_name(cap));
  mx_cpu_isa_cap(MX_ISA_BEST);
  mx_set_int8_activations(had);
}

/* The bfloat16 output stores of the GEMMs (32 rows of w per transposed
 * block) round float32 denormals as mx_f32_to_bf16 does: results around
 * 2^-128 (scales of 2^-133 .. 2^-132, bfloat16's smallest). The same
 * product with float32 scales gives float32 output: rounded by astype, it
 * must match bit for bit. Both the exact and the int8 GEMM. */
static void test_denormal_outputs(void) {
  const int M = 40, N = 70, K = 256, gs = 64;
  /* the vector kernels: the AMX tiles flush denormal results (tdpbf16ps),
   * and with AMX the int8 GEMM is not used */
  if (mx_cpu_isa_hw() >= MX_ISA_AVX512BF16) mx_cpu_isa_cap(MX_ISA_AVX512BF16);
  for (int mode = 0; mode < 2; mode++) {
    if (mode == 1 && !mx_gemm_i8_available()) continue;
    qmat q = make_qmat(N, K, gs, 4, MX_FLOAT32);
    const int G = K / gs, ss[2] = {N, G}, xs[2] = {M, K};
    double *sv = malloc(sizeof(double) * (size_t)N * G), *bv = calloc((size_t)N * G, 8);
    for (int i = 0; i < N * G; i++) sv[i] = ldexp(1 + (i % 2), -133);
    mx_array *s32 = mx_astype(mx_array_from_data(sv, ss, 2, MX_FLOAT64), MX_FLOAT32),
             *b32 = mx_astype(mx_array_from_data(bv, ss, 2, MX_FLOAT64), MX_FLOAT32);
    mx_array *s16 = mx_astype(s32, MX_BFLOAT16), *b16 = mx_astype(b32, MX_BFLOAT16);
    /* the scales are bfloat16 values: the two products see the same ones */
    s32 = mx_astype(s16, MX_FLOAT32);
    mx_array *x = mxt_rand(xs, 2, MX_BFLOAT16, -1, 1);
    mx_set_int8_activations(mode == 1);
    mx_array *y = mx_quantized_matmul(x, q.wq, s16, b16, true, gs, 4);
    mx_array *r =
        mx_astype(mx_quantized_matmul(x, q.wq, s32, b32, true, gs, 4), MX_BFLOAT16);
    mx_eval1(y), mx_eval1(r);
    mx_set_int8_activations(false);
    MXT_CHECK(mx_array_dtype(y) == MX_BFLOAT16 && same_bits(y, r),
              "%s GEMM: bfloat16 output of denormal results", mode ? "int8" : "exact");
    /* and some of them are denormal */
    double *d = mxt_to_f64(r);
    int nden = 0;
    for (int i = 0; d && i < M * N; i++) nden += d[i] != 0 && fabs(d[i]) < 0x1p-126;
    MXT_CHECK(nden > M * N / 4, "denormal results: %d of %d", nden, M * N);
    free(d), free(sv), free(bv);
    free_qmat(&q);
  }
  mx_cpu_isa_cap(MX_ISA_BEST);
}

static void test_empty(void) {
  int shape[2] = {0, 64};
  mx_array *w = mx_zeros(shape, 2, MX_FLOAT32), *wq, *s, *b;
  MXT_CHECK(mx_quantize(w, 64, 4, &wq, &s, &b) == MX_OK, "empty quantize");
  MXT_CHECK(
      mx_array_dim(wq, 0) == 0 && mx_array_dim(wq, 1) == 8 && mx_array_dim(s, 1) == 1,
      "empty shapes");
  MXT_CHECK(mx_eval1(wq) == MX_OK && mx_eval1(s) == MX_OK, "eval empty");
  mx_array *dq = mx_dequantize(wq, s, b, 64, 4);
  MXT_CHECK(dq && mx_eval1(dq) == MX_OK && mx_array_dim(dq, 1) == 64, "empty dequantize");
  /* x with zero rows */
  qmat q = make_qmat(4, 64, 64, 4, MX_FLOAT32);
  int xs[2] = {0, 64};
  mx_array *y =
      mx_quantized_matmul(mx_zeros(xs, 2, MX_FLOAT32), q.wq, q.sa, q.ba, true, 64, 4);
  MXT_CHECK(
      y && mx_eval1(y) == MX_OK && mx_array_dim(y, 0) == 0 && mx_array_dim(y, 1) == 4,
      "zero rows");
  free_qmat(&q);
}

#define EXPECT_ERR(expr, needle)                                           \
  do {                                                                     \
    mx_clear_error();                                                      \
    bool bad_ = (expr);                                                    \
    MXT_CHECK(bad_ &&strstr(mx_last_error(), needle), "%s -> '%s'", #expr, \
              mx_last_error());                                            \
    mx_clear_error();                                                      \
  } while (0)

static void test_errors(void) {
  int shape[2] = {4, 96};
  mx_array *w = mxt_rand(shape, 2, MX_FLOAT32, -1, 1), *wq, *s, *b;
  EXPECT_ERR(mx_quantize(w, 64, 4, &wq, &s, &b) != MX_OK, "divisible");
  MXT_CHECK(wq == NULL && s == NULL && b == NULL, "outputs NULL on error");
  EXPECT_ERR(mx_quantize(w, 32, 7, &wq, &s, &b) != MX_OK, "bits 7");
  EXPECT_ERR(mx_quantize(w, 32, 1, &wq, &s, &b) != MX_OK, "bits 1");
  EXPECT_ERR(mx_quantize(w, 16, 4, &wq, &s, &b) != MX_OK, "group_size 16");
  EXPECT_ERR(mx_quantize(mx_astype(w, MX_INT32), 32, 4, &wq, &s, &b) != MX_OK, "int32");
  EXPECT_ERR(mx_quantize(mx_astype(w, MX_FLOAT64), 32, 4, &wq, &s, &b) != MX_OK,
             "float64");
  int s1[1] = {96};
  EXPECT_ERR(mx_quantize(mxt_rand(s1, 1, MX_FLOAT32, 0, 1), 32, 4, &wq, &s, &b) != MX_OK,
             "at least 2");
  EXPECT_ERR(mx_quantize(w, 32, 4, NULL, &s, &b) != MX_OK, "NULL");
  mx_set_error(MX_ERR_INVALID, "[earlier] first");
  MXT_CHECK(mx_quantize(NULL, 32, 4, &wq, &s, &b) != MX_OK &&
                strstr(mx_last_error(), "earlier"),
            "NULL input keeps first error");
  mx_clear_error();

  MXT_CHECK(mx_quantize(w, 32, 4, &wq, &s, &b) == MX_OK, "ok");
  EXPECT_ERR(mx_dequantize(wq, s, b, 64, 4) == NULL, "do not match");
  EXPECT_ERR(mx_dequantize(wq, s, b, 32, 8) == NULL, "do not match");
  EXPECT_ERR(mx_dequantize(mx_astype(wq, MX_INT32), s, b, 32, 4) == NULL, "uint32");
  int s2[2] = {4, 2};
  EXPECT_ERR(mx_dequantize(wq, s, mx_zeros(s2, 2, MX_FLOAT32), 32, 4) == NULL,
             "same shape");
  EXPECT_ERR(
      mx_dequantize(wq, mx_astype(s, MX_INT32), mx_astype(b, MX_INT32), 32, 4) == NULL,
      "floating");
  EXPECT_ERR(mx_dequantize(wq, s, b, 32, 7) == NULL, "bits");
  MXT_CHECK(mx_dequantize(wq, s, NULL, 32, 4) == NULL, "NULL biases");
  mx_clear_error();

  int xs[2] = {3, 64};
  mx_array *x = mxt_rand(xs, 2, MX_FLOAT32, -1, 1);
  EXPECT_ERR(mx_quantized_matmul(x, wq, s, b, true, 32, 4) == NULL, "does not match");
  int xs2[2] = {3, 4};
  mx_array *x2 = mxt_rand(xs2, 2, MX_FLOAT32, -1, 1);
  MXT_OK(mx_quantized_matmul(x2, wq, s, b, false, 32, 4)); /* (3,4) @ (4,96) */
  EXPECT_ERR(mx_quantized_matmul(x2, wq, s, b, false, 64, 4) == NULL, "do not match");
  EXPECT_ERR(
      mx_quantized_matmul(mx_astype(x2, MX_COMPLEX64), wq, s, b, false, 32, 4) == NULL,
      "quantized_matmul");
  int w3s[3] = {2, 4, 12}, s3s[3] = {2, 4, 3};
  mx_array *wq3 = mx_zeros(w3s, 3, MX_UINT32), *s3 = mx_zeros(s3s, 3, MX_FLOAT32);
  int x3s[3] = {3, 2, 96};
  EXPECT_ERR(
      mx_quantized_matmul(mx_zeros(x3s, 3, MX_FLOAT32), wq3, s3, s3, true, 32, 4) == NULL,
      "broadcast");
  int x1s[1] = {96};
  EXPECT_ERR(
      mx_quantized_matmul(mx_zeros(x1s, 1, MX_FLOAT32), wq3, s3, s3, true, 32, 4) == NULL,
      "at least 2");
}

int main(void) {
  MXT_RUN(test_quantize_matches_rule);
  MXT_RUN(test_quantize_known_codes);
  MXT_RUN(test_roundtrip_bound);
  MXT_RUN(test_dequantize_packed_reference);
  MXT_RUN(test_qmm_all_formats);
  MXT_RUN(test_qmm_dtypes);
  MXT_RUN(test_qmm_larger);
  MXT_RUN(test_qmm_4bit_half_x);
  MXT_RUN(test_qmm_large_m);
  MXT_RUN(test_qmm_group);
  MXT_RUN(test_qmm_decode_tiles);
  MXT_RUN(test_qmm_thread_split);
  MXT_RUN(test_prefetch_hint_same_bits);
  MXT_RUN(test_qmm_shapes_and_layouts);
  MXT_RUN(test_qmm_no_overread);
  MXT_RUN(test_int8_activations);
  MXT_RUN(test_denormal_outputs);
  MXT_RUN(test_empty);
  MXT_RUN(test_errors);
  return mxt_finish();
}
