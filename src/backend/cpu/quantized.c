/* quantized.c: CPU kernels of quantize, dequantize and quantized_matmul
 * (MLX's affine layout), the plain C quantized matmul, and the dispatch to
 * the SIMD tiles of qsimd_x86.c.
 *
 * Layout: a row of K codes of `bits` bits is one little-endian bit stream,
 * code i at bits [i*bits, (i+1)*bits), stored as K*bits/32 uint32 words.
 * Each group of group_size codes has a scale and a bias:
 * w ~= scale * code + bias. */
#include "../../primitives/quantized.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dtypes.h"
#include "gemm_bf16.h"
#include "gemm_i8.h"
#include "iter.h"
#include "qsimd.h"

/* ---- bit streams ---- */

/* cnt codes of `bits` bits from the stream at p (reads only the bytes that
 * hold them). */
static void decode_codes(const uint8_t *p, int bits, int cnt, float *dst) {
  uint64_t acc = 0;
  int nacc = 0;
  uint32_t mask = (1u << bits) - 1;
  for (int i = 0; i < cnt; i++) {
    while (nacc < bits) {
      acc |= (uint64_t)(*p++) << nacc;
      nacc += 8;
    }
    dst[i] = (float)(uint32_t)(acc & mask);
    acc >>= bits;
    nacc -= bits;
  }
}

/* ---- quantize ---- */

/* MLX's rule for one group (float32 arithmetic as MLX's CPU kernel):
 * scale = (max - min) / (2^bits - 1) (at least 1e-7), signed and anchored at
 * the edge of larger magnitude, then adjusted so that the edge is exactly
 * q0 * scale with q0 = round(edge / scale); bias = edge (0 when q0 == 0).
 * codes = clip(round((w - bias) / scale), 0, 2^bits - 1). */
static void quantize_group(const float *w, int gs, int bits, uint32_t *words,
                           float *scale_out, float *bias_out) {
  const float n_bins = (float)((1 << bits) - 1);
  const float eps = 1e-7f;
  float w_min = INFINITY, w_max = -INFINITY;
  for (int j = 0; j < gs; j++) {
    w_max = w_max < w[j] ? w[j] : w_max;
    w_min = w[j] < w_min ? w[j] : w_min;
  }
  bool mask = fabsf(w_min) > fabsf(w_max);
  float scale = (w_max - w_min) / n_bins;
  scale = scale < eps ? eps : scale;
  scale = mask ? scale : -scale;
  float edge = mask ? w_min : w_max;
  float q0 = rintf(edge / scale);
  float bias = 0;
  if (q0 != 0) {
    scale = edge / q0;
    bias = edge;
  }
  uint64_t acc = 0;
  int nacc = 0;
  for (int j = 0; j < gs; j++) {
    float q = rintf((w[j] - bias) / scale);
    /* clip; NaN (from NaN/Inf inputs) becomes 0 instead of an undefined cast */
    q = q >= 0 ? q : 0;
    q = q <= n_bins ? q : n_bins;
    acc |= (uint64_t)(uint32_t)q << nacc;
    nacc += bits;
    if (nacc >= 32) {
      *words++ = (uint32_t)acc;
      acc >>= 32;
      nacc -= 32;
    }
  }
  *scale_out = scale;
  *bias_out = bias;
}

typedef struct {
  const void *w;
  mx_dtype t;
  int gs, bits;
  uint32_t *wq;
  void *scales, *biases;
} quant_ctx;

static void quant_range(void *c, int64_t g0, int64_t g1) {
  quant_ctx *q = c;
  float buf[128];
  size_t isz = mx_dtype_size(q->t);
  int64_t wpg = (int64_t)q->gs * q->bits / 32; /* words per group */
  for (int64_t g = g0; g < g1; g++) {
    mx_cvt_to_f32((const char *)q->w + g * q->gs * (int64_t)isz, q->t, buf, q->gs);
    float s, b;
    quantize_group(buf, q->gs, q->bits, q->wq + g * wpg, &s, &b);
    mx_cvt_from_f32(&s, (char *)q->scales + g * (int64_t)isz, q->t, 1);
    mx_cvt_from_f32(&b, (char *)q->biases + g * (int64_t)isz, q->t, 1);
  }
}

/* Row-contiguous data of a: a's own pointer, or a malloc'd copy in *tmp. */
static const void *contig_data(mx_array *a, void **tmp) {
  *tmp = NULL;
  if (a->row_contiguous) return mx_array_ptr(a);
  size_t bytes = (size_t)a->size * mx_dtype_size(a->dtype);
  *tmp = malloc(bytes ? bytes : 1);
  if (!*tmp) return NULL;
  if (a->size) mx_copy_strided(a, *tmp);
  return *tmp;
}

mx_status mx_cpu_quantize(mx_node *n, mx_array **in, mx_array **out) {
  const mx_quantize_params *p = MX_PARAMS(mx_quantize_params, n);
  mx_array *w = in[0];
  for (int i = 0; i < 3; i++) {
    mx_status rc = mx_array_alloc(out[i]);
    if (rc != MX_OK) return rc;
  }
  if (w->size == 0) return MX_OK;
  void *tmp;
  const void *wd = contig_data(w, &tmp);
  if (!wd) return mx_set_error(MX_ERR_NOMEM, "[quantize] out of memory");
  quant_ctx c = {wd,
                 w->dtype,
                 p->group_size,
                 p->bits,
                 mx_array_ptr(out[0]),
                 mx_array_ptr(out[1]),
                 mx_array_ptr(out[2])};
  mx_parallel_for(w->size / p->group_size, 256, quant_range, &c);
  free(tmp);
  return MX_OK;
}

/* ---- dequantize ---- */

typedef struct {
  const uint8_t *wq;
  const void *scales, *biases;
  mx_dtype sdt, bdt, odt;
  int gs, bits;
  void *out;
} dequant_ctx;

/* round a float to dtype t and back (what storing in t then loading does) */
static inline float round_to(float v, mx_dtype t) {
  if (t == MX_FLOAT16) return mx_f16_to_f32(mx_f32_to_f16(v));
  if (t == MX_BFLOAT16) return mx_bf16_to_f32(mx_f32_to_bf16(v));
  return v;
}

static void dequant_range(void *c, int64_t g0, int64_t g1) {
  dequant_ctx *d = c;
  float codes[128], vals[128];
  int64_t gbytes = (int64_t)d->gs * d->bits / 8;
  size_t ssz = mx_dtype_size(d->sdt), bsz = mx_dtype_size(d->bdt);
  size_t osz = mx_dtype_size(d->odt);
  for (int64_t g = g0; g < g1; g++) {
    decode_codes(d->wq + g * gbytes, d->bits, d->gs, codes);
    double s = mx_load_f64((const char *)d->scales + g * (int64_t)ssz, d->sdt);
    double b = mx_load_f64((const char *)d->biases + g * (int64_t)bsz, d->bdt);
    char *o = (char *)d->out + g * d->gs * (int64_t)osz;
    if (d->odt == MX_FLOAT64) {
      for (int j = 0; j < d->gs; j++) ((double *)o)[j] = codes[j] * s + b;
      continue;
    }
    /* as MLX: (codes * scales) then + biases, each rounded to the result
     * type (computed through float) */
    float fs = (float)s, fb = (float)b;
    for (int j = 0; j < d->gs; j++)
      vals[j] = round_to(round_to(codes[j] * fs, d->odt) + fb, d->odt);
    mx_cvt_from_f32(vals, o, d->odt, d->gs);
  }
}

mx_status mx_cpu_dequantize(mx_node *n, mx_array **in, mx_array **out) {
  const mx_quantize_params *p = MX_PARAMS(mx_quantize_params, n);
  mx_status rc = mx_array_alloc(out[0]);
  if (rc != MX_OK) return rc;
  if (out[0]->size == 0) return MX_OK;
  void *t0, *t1, *t2;
  const void *wq = contig_data(in[0], &t0);
  const void *s = contig_data(in[1], &t1);
  const void *b = contig_data(in[2], &t2);
  if (!wq || !s || !b) {
    free(t0);
    free(t1);
    free(t2);
    return mx_set_error(MX_ERR_NOMEM, "[dequantize] out of memory");
  }
  dequant_ctx c = {wq,
                   s,
                   b,
                   in[1]->dtype,
                   in[2]->dtype,
                   out[0]->dtype,
                   p->group_size,
                   p->bits,
                   mx_array_ptr(out[0])};
  mx_parallel_for(out[0]->size / p->group_size, 256, dequant_range, &c);
  free(t0);
  free(t1);
  free(t2);
  return MX_OK;
}

/* ---- quantized matmul: plain C ---- */

static void store_out(const mx_qmm_args *a, int64_t o, float v) {
  switch (a->odt) {
    case MX_FLOAT16:
      ((uint16_t *)a->out)[o] = mx_f32_to_f16(v);
      break;
    case MX_BFLOAT16:
      ((uint16_t *)a->out)[o] = mx_f32_to_bf16(v);
      break;
    default:
      ((float *)a->out)[o] = v;
      break;
  }
}

static float load_param(const void *p, mx_dtype t, int64_t i) {
  switch (t) {
    case MX_FLOAT16:
      return mx_f16_to_f32(((const uint16_t *)p)[i]);
    case MX_BFLOAT16:
      return mx_bf16_to_f32(((const uint16_t *)p)[i]);
    default:
      return ((const float *)p)[i];
  }
}

static void qmm_t_rows_generic(const mx_qmm_args *a, int n0, int n1) {
  const int K = a->K, gs = a->gs, G = K / gs, M = a->M;
  const int64_t rb = (int64_t)K * a->bits / 8, gbytes = (int64_t)gs * a->bits / 8;
  float codes[128];
  float *acc = malloc(sizeof(float) * (size_t)M);
  if (!acc) {
    atomic_store(a->err, 1);
    return;
  }
  for (int n = n0; n < n1; n++) {
    for (int m = 0; m < M; m++) acc[m] = 0;
    for (int g = 0; g < G; g++) {
      decode_codes(a->w + n * rb + g * gbytes, a->bits, gs, codes);
      float s = load_param(a->scales, a->sdt, (int64_t)n * G + g);
      float b = load_param(a->biases, a->bdt, (int64_t)n * G + g);
      for (int m = 0; m < M; m++) {
        const float *x = a->x + (int64_t)m * K + (int64_t)g * gs;
        float d = 0;
        for (int j = 0; j < gs; j++) d += codes[j] * x[j];
        acc[m] += s * d + b * a->xsum[(int64_t)m * G + g];
      }
    }
    for (int m = 0; m < M; m++) store_out(a, (int64_t)m * a->N + n, acc[m]);
  }
  free(acc);
}

static void qmm_n_groups_generic(const mx_qmm_args *a, int g0, int g1) {
  const int K = a->K, N = a->N, gs = a->gs, GN = N / gs, M = a->M;
  const int64_t rb = (int64_t)N * a->bits / 8, gbytes = (int64_t)gs * a->bits / 8;
  float codes[128], acc[128];
  for (int g = g0; g < g1; g++) {
    for (int m = 0; m < M; m++) {
      float bacc = 0;
      memset(acc, 0, sizeof acc);
      for (int k = 0; k < K; k++) {
        decode_codes(a->w + k * rb + g * gbytes, a->bits, gs, codes);
        float xv = a->x[(int64_t)m * K + k];
        float xs = xv * load_param(a->scales, a->sdt, (int64_t)k * GN + g);
        bacc += xv * load_param(a->biases, a->bdt, (int64_t)k * GN + g);
        for (int j = 0; j < gs; j++) acc[j] += xs * codes[j];
      }
      for (int j = 0; j < gs; j++)
        store_out(a, (int64_t)m * N + (int64_t)g * gs + j, acc[j] + bacc);
    }
  }
}

int mx_qmm_perm_block(mx_isa isa, int bits) {
  if (bits != 4) return 1;
  return isa >= MX_ISA_AVX512 ? 32 : isa == MX_ISA_AVX2 ? 16 : 1;
}

bool mx_qmm_use_bf16(mx_isa isa, int bits, int K, mx_dtype xdt) {
  return isa >= MX_ISA_AVX512BF16 && bits == 4 && K % 128 == 0 &&
         (xdt == MX_BFLOAT16 || xdt == MX_FLOAT16);
}

void mx_qmm_t_rows(const mx_qmm_args *a, int n0, int n1) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (a->xq) return mx_qmm_t_rows_i8(a, n0, n1);
  if (a->xh) return mx_qmm_t_rows_bf16(a, n0, n1);
  if (a->isa >= MX_ISA_AVX512) return mx_qmm_t_rows_avx512(a, n0, n1);
  if (a->isa == MX_ISA_AVX2) return mx_qmm_t_rows_avx2(a, n0, n1);
#endif
  qmm_t_rows_generic(a, n0, n1);
}

void mx_qmm_n_groups(const mx_qmm_args *a, int g0, int g1) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (a->isa >= MX_ISA_AVX512) return mx_qmm_n_groups_avx512(a, g0, g1);
  if (a->isa == MX_ISA_AVX2) return mx_qmm_n_groups_avx2(a, g0, g1);
#endif
  qmm_n_groups_generic(a, g0, g1);
}

/* ---- quantized matmul: operand preparation and batching ---- */

typedef struct {
  const mx_array *x;
  const char *xbase;  /* element (batch, row 0, col 0) */
  int64_t row_stride; /* per row of the batch entry (batched case) */
  bool flat_rows;     /* 2-d w: rows enumerate x.shape[:-1] */
  int K, gs, perm;
  bool want_sum;
  float *xf, *xsum;
  uint16_t *xh, *xl; /* bfloat16 path: hi (and lo) parts, else NULL */
  int8_t *xq;        /* int8 activations: codes (M, K) and scales xd (M, G) */
  float *xd;
  int bits;
} xprep_ctx;

/* float -> bfloat16, round to nearest even (x values here are finite or
 * Inf; NaN keeps a NaN pattern) */
static inline uint16_t bf16_rne(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

/* Element offset of row r of x (the leading dims of x flattened). */
static int64_t x_row_offset(const mx_array *x, int64_t r) {
  int64_t off = 0;
  for (int d = x->ndim - 2; d >= 0; d--) {
    int64_t i = r % x->shape[d];
    r /= x->shape[d];
    off += i * x->strides[d];
  }
  return off;
}

static void xprep_range(void *c, int64_t r0, int64_t r1) {
  xprep_ctx *p = c;
  const mx_array *x = p->x;
  size_t isz = mx_dtype_size(x->dtype);
  int64_t ks = x->strides[x->ndim - 1];
  const int K = p->K, P = p->perm;
  float tmp[64];
  for (int64_t r = r0; r < r1; r++) {
    int64_t off = p->flat_rows ? x_row_offset(x, r) : r * p->row_stride;
    const char *src = p->xbase + off * (int64_t)isz;
    float *dst = p->xf + r * K;
    bool fl = x->dtype == MX_FLOAT32 || x->dtype == MX_FLOAT16 || x->dtype == MX_BFLOAT16;
    if (ks == 1 && fl) {
      mx_cvt_to_f32(src, x->dtype, dst, K);
    } else {
      for (int k = 0; k < K; k++)
        dst[k] = (float)mx_load_f64(src + k * ks * (int64_t)isz, x->dtype);
    }
    if (p->xq) { /* int8 codes, scales and float sums per group */
      const int G = K / p->gs;
      mx_i8_quant_row(dst, K, p->gs, p->xq + r * K, p->xd + r * G, p->xsum + r * G, 1);
      if (p->bits == 4) mx_i8_perm4(p->xq + r * K, K);
      continue;
    }
    if (p->want_sum) {
      int G = K / p->gs;
      for (int g = 0; g < G; g++) {
        float s8[8] = {0}; /* eight chains: a serial sum is latency bound */
        const float *v = dst + (int64_t)g * p->gs;
        for (int j = 0; j < p->gs; j += 8)
          for (int i = 0; i < 8; i++) s8[i] += v[j + i];
        p->xsum[r * G + g] =
            ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]));
      }
    }
    if (p->xh) { /* bfloat16 hi (+ lo: exact for float16 x), bf16 layout */
      uint16_t *h = p->xh + r * K, *l = p->xl ? p->xl + r * K : NULL;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
      mx_qmm_bf16_xrow(dst, K, h, l); /* the path needs AVX512-BF16 */
#else
      for (int k0 = 0; k0 < K; k0 += 128)
        for (int e = 0; e < 128; e++) {
          int64_t sl = k0 + (e % 4) * 32 + e / 4; /* mx_qmm_bf16_slot */
          uint16_t hb = bf16_rne(dst[k0 + e]);
          h[sl] = hb;
          if (l) l[sl] = bf16_rne(dst[k0 + e] - mx_bf16_to_f32(hb));
        }
#endif
      continue;
    }
    if (P > 1) /* even elements first, then odd, per block of P */
      for (int k0 = 0; k0 < K; k0 += P) {
        memcpy(tmp, dst + k0, sizeof(float) * (size_t)P);
        for (int j = 0; j < P / 2; j++) {
          dst[k0 + j] = tmp[2 * j];
          dst[k0 + P / 2 + j] = tmp[2 * j + 1];
        }
      }
  }
}

/* Bytes of xf for qmm_prep_x */
static size_t qmm_x_bytes(int64_t M, int K, int gs, bool transpose, bool bf16, bool i8) {
  const size_t G = (size_t)(K / gs);
  return sizeof(float) * ((size_t)M * K + (transpose ? (size_t)M * G : 0)) +
         (bf16 ? sizeof(uint16_t) * 2 * (size_t)M * K : 0) +
         (i8 ? sizeof(float) * (size_t)M * G + (size_t)M * K : 0);
}

/* Whether a transposed product with few rows (decode) takes the int8
 * activation kernel (mx_set_int8_activations, gemm_i8.c) */
static bool qmm_i8_rows(int bits, bool transpose) {
  return transpose && (bits == 4 || bits == 8) && mx_get_int8_activations() &&
         mx_gemm_i8_available();
}

/* x (M rows of K, starting at xbase) into the kernels' layout in xf: float
 * rows, their group sums (transposed product), and for the bfloat16 path
 * the hi (and, unless x is bfloat16, lo) parts after them, or for int8
 * activations the groups' scales and the int8 codes. Shared by the single
 * and the grouped products. */
static void qmm_prep_x(xprep_ctx *xc, const mx_array *x, const char *xbase,
                       bool flat_rows, int64_t M, int K, int gs, mx_isa isa, int bits,
                       bool transpose, bool bf16, bool i8, float *xf) {
  const int64_t G = K / gs;
  *xc = (xprep_ctx){x,
                    xbase,
                    x->ndim >= 2 ? x->strides[x->ndim - 2] : 0,
                    flat_rows,
                    K,
                    gs,
                    transpose ? mx_qmm_perm_block(isa, bits) : 1,
                    transpose,
                    xf,
                    xf + (size_t)M * K,
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    bits};
  if (i8) {
    xc->xd = xf + (size_t)M * K + (size_t)M * G;
    xc->xq = (int8_t *)(xc->xd + (size_t)M * G);
  } else if (bf16) {
    xc->xh = (uint16_t *)(xf + (size_t)M * K + (size_t)M * G);
    xc->xl = x->dtype == MX_BFLOAT16 ? NULL : xc->xh + (size_t)M * K;
  }
  mx_parallel_for(M, 8, xprep_range, xc);
}

/* The kernels' arguments for one product over the prepared x */
static mx_qmm_args qmm_args(mx_isa isa, int M, int N, int K, int gs, int bits,
                            const xprep_ctx *xc, const uint8_t *w, const uint8_t *w_end,
                            const void *scales, const void *biases, mx_dtype sdt,
                            mx_dtype bdt, void *out, mx_dtype odt, atomic_int *err) {
  return (mx_qmm_args){.isa = isa,
                       .M = M,
                       .N = N,
                       .K = K,
                       .gs = gs,
                       .bits = bits,
                       .x = xc->xf,
                       .xsum = xc->xsum,
                       .xh = xc->xh,
                       .xl = xc->xl,
                       .w = w,
                       .w_end = w_end,
                       .scales = scales,
                       .biases = biases,
                       .sdt = sdt,
                       .bdt = bdt,
                       .out = out,
                       .odt = odt,
                       .err = err,
                       .nta = mx_cpu_prefetch_nta(),
                       .xq = xc->xq,
                       .xd = xc->xd};
}

/* ---- quantized matmul, many rows: bfloat16 GEMM on dequantized panels ---- */

/* Rows of x from which decoding a panel of w to bfloat16 once and running
 * the vdpbf16ps GEMM (gemm_bf16.c) beats the per-row kernels (measured on
 * 4864x896 and 896x4864: 4-bit, which has its own bfloat16 kernel, wins
 * from 32 rows; the other widths from 16). */
#define QMM_GEMM_MIN_M(bits) ((bits) == 4 ? 32 : 16)

/* x (M, K) @ dequantize(w).T with bfloat16 x: the codes are exact in
 * bfloat16, so the GEMM over codes has exact products; each group's sum is
 * scaled and the bias term added in float32 (the per-row kernels' algebra).
 * Each panel of w is decoded once and reused for all M rows. */
static bool qmm_gemm_ok(const mx_qmm_params *p, const mx_array *x, const mx_array *wq,
                        const mx_array *o, int64_t M) {
  return p->transpose && wq->ndim == 2 && M >= QMM_GEMM_MIN_M(p->bits) && M <= INT_MAX &&
         x->dtype == MX_BFLOAT16 && (o->dtype == MX_BFLOAT16 || o->dtype == MX_FLOAT32) &&
         x->row_contiguous && MX_GEMM_BF16_KC % p->group_size == 0 &&
         mx_gemm_bf16_available();
}

static mx_status qmm_gemm(const mx_qmm_params *p, mx_array *x, const uint8_t *wd,
                          const void *sd, const void *bd, mx_dtype sdt, mx_dtype bdt,
                          mx_array *o, int M, int N, int K) {
  mx_gemm_bf16_qw qw = {wd, sd, bd, sdt, bdt, p->group_size, p->bits};
  mx_gemm_bf16_args g = {.P = N,
                         .Q = M,
                         .K = K,
                         .q = &qw,
                         .x = mx_array_ptr(x),
                         .x_rs = K,
                         .x_cs = 1,
                         .o = mx_array_ptr(o),
                         .o_is = 1,
                         .o_js = N,
                         .odt = o->dtype,
                         .alpha = 1.0f};
  if (mx_gemm_bf16(&g) != MX_OK)
    return mx_set_error(MX_ERR_NOMEM, "[quantized_matmul] out of memory");
  return MX_OK;
}

/* Opt-in int8 activations (mx_set_int8_activations): x quantized per
 * group to int8 and multiplied with VNNI (gemm_i8.c), same row thresholds
 * as the exact GEMM; 4- and 8-bit w only; not where the exact GEMM runs on
 * AMX tiles (mx_gemm_i8_preferred). */
static bool qmm_i8_ok(const mx_qmm_params *p, const mx_array *x, const mx_array *wq,
                      const mx_array *o, int64_t M) {
  return (p->bits == 4 || p->bits == 8) && p->transpose && wq->ndim == 2 &&
         M >= QMM_GEMM_MIN_M(p->bits) && M <= INT_MAX &&
         (x->dtype == MX_BFLOAT16 || x->dtype == MX_FLOAT16 || x->dtype == MX_FLOAT32) &&
         (o->dtype == MX_BFLOAT16 || o->dtype == MX_FLOAT32) && x->row_contiguous &&
         MX_GEMM_BF16_KC % p->group_size == 0 && mx_get_int8_activations() &&
         mx_gemm_i8_preferred();
}

static mx_status qmm_i8(const mx_qmm_params *p, mx_array *x, const uint8_t *wd,
                        const void *sd, const void *bd, mx_dtype sdt, mx_dtype bdt,
                        mx_array *o, int M, int N, int K) {
  mx_gemm_bf16_qw qw = {wd, sd, bd, sdt, bdt, p->group_size, p->bits};
  mx_gemm_i8_args g = {.g = {.P = N,
                             .Q = M,
                             .K = K,
                             .q = &qw,
                             .o = mx_array_ptr(o),
                             .o_is = 1,
                             .o_js = N,
                             .odt = o->dtype,
                             .alpha = 1.0f},
                       .x = mx_array_ptr(x),
                       .xdt = x->dtype,
                       .x_rs = K};
  mx_status st = mx_gemm_i8(&g);
  if (st == MX_ERR_NOMEM) return mx_set_error(st, "[quantized_matmul] out of memory");
  if (st != MX_OK)
    return mx_set_error(st, "[quantized_matmul] int8 product refused the shape");
  return MX_OK;
}

/* Rows of w per unit of the transposed product's schedule: the kernels
 * convert scales QMM_NCH = 32 rows at a time and run 4-row tiles, so chunk
 * boundaries on multiples of 32 keep every row in the tile it had before
 * (each output is computed by the same code whatever the split). */
#define QMM_T_UNIT 32
/* Multiply-adds below which the transposed product runs on the calling
 * thread alone (a pool job costs a few µs; 2^16 is ~30 KB of 4-bit w). */
#define QMM_T_PAR_MIN (1 << 16)

/* Guided schedule of the transposed product: each participant takes
 * ceil(rest / threads) rows (rounded up to the unit) until none are left:
 * half the rows, then a quarter, ..., the last chunks one unit. Both
 * threads finish within about one unit of each other (the old equal
 * chunks, up to ~13 µs each for the 0.4B model's 4864-row matvecs, left
 * the caller waiting at the job's end), and a call sees only ~log2(N/32)
 * chunk starts: each start costs cache misses (prefetch ramp, scale
 * conversion), and ceil(rest / (2 * threads)) measured slower than
 * ceil(rest / threads), 3 * threads slower still. A worker that joins late
 * finds smaller chunks; one that never joins leaves everything to the
 * caller. */
typedef struct {
  const mx_qmm_args *a;
  atomic_int next; /* first row not yet taken */
  int N, div;
} qmm_sched;

static void qmm_t_sched(void *c, int64_t p0, int64_t p1) {
  (void)p0;
  (void)p1;
  qmm_sched *s = c;
  int n0 = atomic_load_explicit(&s->next, memory_order_relaxed);
  while (n0 < s->N) {
    int rest = s->N - n0, take = (rest + s->div - 1) / s->div;
    take = (take + QMM_T_UNIT - 1) / QMM_T_UNIT * QMM_T_UNIT;
    if (take > rest) take = rest;
    if (atomic_compare_exchange_weak_explicit(
            &s->next, &n0, n0 + take, memory_order_relaxed, memory_order_relaxed)) {
      mx_qmm_t_rows(s->a, n0, n0 + take);
      n0 = atomic_load_explicit(&s->next, memory_order_relaxed);
    }
  }
}
static void qmm_n_range(void *c, int64_t g0, int64_t g1) {
  mx_qmm_n_groups(c, (int)g0, (int)g1);
}

/* activations prepared in the thread scratch up to this size (bytes) */
#define QMM_X_SCRATCH_MAX ((size_t)1 << 20)

mx_status mx_cpu_quantized_matmul(mx_node *n, mx_array **in, mx_array **out) {
  const mx_qmm_params *p = MX_PARAMS(mx_qmm_params, n);
  mx_array *x = in[0], *wq = in[1], *sc = in[2], *bi = in[3], *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;
  const int K = x->shape[x->ndim - 1], N = o->shape[o->ndim - 1];
  const int gs = p->group_size, bits = p->bits;
  if (K == 0) { /* empty sum */
    float z = 0;
    for (int64_t i = 0; i < o->size; i++)
      mx_cvt_from_f32(&z, (char *)mx_array_ptr(o) + i * (int64_t)mx_dtype_size(o->dtype),
                      o->dtype, 1);
    return MX_OK;
  }
  void *t0, *t1, *t2;
  const uint8_t *wd = contig_data(wq, &t0);
  const void *sd = contig_data(sc, &t1);
  const void *bd = contig_data(bi, &t2);
  float *xf = NULL;
  bool scratch = false;
  mx_status st = MX_OK;
  if (!wd || !sd || !bd) {
    st = mx_set_error(MX_ERR_NOMEM, "[quantized_matmul] out of memory");
    goto done;
  }
  const int wnd = wq->ndim;
  const int64_t wmat = (int64_t)wq->shape[wnd - 2] * wq->shape[wnd - 1]; /* words */
  const int64_t smat = (int64_t)sc->shape[wnd - 2] * sc->shape[wnd - 1];
  const int64_t wbytes_total = wq->size * 4;
  /* batches: 2-d w -> one product over all rows of x; else broadcast the
   * batch dims of x and w to those of the output */
  int64_t nbatch = 1, M;
  int nb = 0;
  if (wnd == 2) {
    M = x->size / K;
  } else {
    nb = o->ndim - 2;
    for (int d = 0; d < nb; d++) nbatch *= o->shape[d];
    M = o->shape[o->ndim - 2];
  }
  if (qmm_i8_ok(p, x, wq, o, M)) {
    st = qmm_i8(p, x, wd, sd, bd, sc->dtype, bi->dtype, o, (int)M, N, K);
    goto done;
  }
  if (qmm_gemm_ok(p, x, wq, o, M)) {
    st = qmm_gemm(p, x, wd, sd, bd, sc->dtype, bi->dtype, o, (int)M, N, K);
    goto done;
  }
  mx_isa isa = mx_cpu_isa();
  const bool i8 = qmm_i8_rows(bits, p->transpose);
  bool bf16 = !i8 && p->transpose && mx_qmm_use_bf16(isa, bits, K, x->dtype);
  size_t xbytes = qmm_x_bytes(M, K, gs, p->transpose, bf16, i8);
  /* decode-sized activations (a few KB, every matmul of every token) come
   * from the thread's scratch; large ones are allocated and freed */
  scratch = xbytes <= QMM_X_SCRATCH_MAX;
  xf = scratch ? mx_thread_scratch(MX_SCRATCH_QX, xbytes ? xbytes : 1)
               : malloc(xbytes ? xbytes : 1);
  if (!xf) {
    st = mx_set_error(MX_ERR_NOMEM, "[quantized_matmul] out of memory");
    goto done;
  }
  atomic_int err = 0;
  size_t isz = mx_dtype_size(x->dtype), osz = mx_dtype_size(o->dtype);
  for (int64_t bidx = 0; bidx < nbatch; bidx++) {
    int64_t xoff = 0, woff = 0; /* x element offset; w batch index */
    if (wnd > 2) {
      int64_t r = bidx, wstride = 1;
      for (int d = nb - 1; d >= 0; d--) {
        int64_t i = r % o->shape[d];
        r /= o->shape[d];
        int xd = d - (nb - (x->ndim - 2)); /* aligned dims of x's batch */
        if (xd >= 0 && x->shape[xd] != 1) xoff += i * x->strides[xd];
        int wdim = d - (nb - (wnd - 2));
        if (wdim >= 0) {
          if (wq->shape[wdim] != 1) woff += i * wstride;
          wstride *= wq->shape[wdim];
        }
      }
    }
    xprep_ctx xc;
    qmm_prep_x(&xc, x, (const char *)mx_array_ptr(x) + xoff * (int64_t)isz, wnd == 2, M,
               K, gs, isa, bits, p->transpose, bf16, i8, xf);
    mx_qmm_args a = qmm_args(
        isa, (int)M, N, K, gs, bits, &xc, wd + woff * wmat * 4, wd + wbytes_total,
        (const char *)sd + woff * smat * mx_dtype_size(sc->dtype),
        (const char *)bd + woff * smat * mx_dtype_size(bi->dtype), sc->dtype, bi->dtype,
        (char *)mx_array_ptr(o) + bidx * M * N * (int64_t)osz, o->dtype, &err);
    int64_t work = (int64_t)M * K; /* multiply-adds per output column */
    if (p->transpose) {
      int nt = mx_num_threads();
      if (nt < 2 || N <= QMM_T_UNIT || work * N < QMM_T_PAR_MIN) {
        mx_qmm_t_rows(&a, 0, N);
      } else {
        qmm_sched qs = {.a = &a, .N = N, .div = nt};
        atomic_init(&qs.next, 0);
        mx_parallel_for(nt, 1, qmm_t_sched, &qs); /* one part per thread */
      }
    } else {
      int64_t wg = work * gs, grain = (1 << 18) / (wg > 0 ? wg : 1);
      mx_parallel_for(N / gs, grain < 1 ? 1 : grain, qmm_n_range, &a);
    }
    if (atomic_load(&err)) {
      st = mx_set_error(MX_ERR_NOMEM, "[quantized_matmul] out of memory");
      goto done;
    }
  }
done:
  if (!scratch) free(xf);
  free(t0);
  free(t1);
  free(t2);
  return st;
}

/* ---- several transposed products of one x (decode) ----
 * The q/k/v projections of a layer, and gate/up, multiply the same x by
 * different weights. Run as a group, x is prepared once and the rows of all
 * the products are one guided schedule (chunks never cross from one weight
 * to the next and start at multiples of QMM_T_UNIT within each, so every
 * output row is computed by the same tile as in a single call): one pool
 * job instead of two or three, each with its end-of-job wait. */
#define QMM_GROUP_MAX 4

/* Only the decode regime: 2-d weights, few rows of x (below the GEMM path),
 * same parameters and the same x. */
bool mx_cpu_qmm_group_ok(const mx_node *first, const mx_node *other) {
  const mx_qmm_params *p = MX_PARAMS(mx_qmm_params, first),
                      *q = MX_PARAMS(mx_qmm_params, other);
  if (first->in[0] != other->in[0] || p->group_size != q->group_size ||
      p->bits != q->bits || !p->transpose || !q->transpose)
    return false;
  const mx_array *x = first->in[0];
  for (int i = 0; i < 2; i++) {
    const mx_node *n = i ? other : first;
    const mx_array *o = n->out[0];
    if (!o || n->in[1]->ndim != 2) return false;
    if (o->shape[o->ndim - 1] < 1) return false;
  }
  int K = x->ndim ? x->shape[x->ndim - 1] : 0;
  if (K < 1 || x->size < 1) return false;
  int64_t M = x->size / K;
  return M < QMM_GEMM_MIN_M(p->bits) && M * K <= (1 << 16);
}

typedef struct {
  const mx_qmm_args *a;
  int n, start[QMM_GROUP_MAX + 1]; /* rows of product k: [start[k], start[k+1]) */
  atomic_int next;
  int div;
} qmm_gsched;

static void qmm_t_gsched(void *c, int64_t p0, int64_t p1) {
  (void)p0;
  (void)p1;
  qmm_gsched *s = c;
  const int total = s->start[s->n];
  int g0 = atomic_load_explicit(&s->next, memory_order_relaxed);
  while (g0 < total) {
    int k = 0;
    while (g0 >= s->start[k + 1]) k++;
    int rest = total - g0, take = (rest + s->div - 1) / s->div;
    take = (take + QMM_T_UNIT - 1) / QMM_T_UNIT * QMM_T_UNIT;
    if (take > s->start[k + 1] - g0) take = s->start[k + 1] - g0;
    if (atomic_compare_exchange_weak_explicit(
            &s->next, &g0, g0 + take, memory_order_relaxed, memory_order_relaxed)) {
      mx_qmm_t_rows(&s->a[k], g0 - s->start[k], g0 - s->start[k] + take);
      g0 = atomic_load_explicit(&s->next, memory_order_relaxed);
    }
  }
}

mx_status mx_cpu_quantized_matmul_group(mx_node *const *nodes, int n) {
  if (n > QMM_GROUP_MAX) { /* not from the tape (GROUP_MAX there) */
    for (int i = 0; i < n; i++) {
      mx_status rc = mx_cpu_quantized_matmul(nodes[i], nodes[i]->in, nodes[i]->out);
      if (rc != MX_OK) return rc;
    }
    return MX_OK;
  }
  const mx_qmm_params *p = MX_PARAMS(mx_qmm_params, nodes[0]);
  mx_array *x = nodes[0]->in[0];
  const int K = x->shape[x->ndim - 1], gs = p->group_size, bits = p->bits;
  const int M = (int)(x->size / K);
  void *tmp[QMM_GROUP_MAX][3] = {{NULL}};
  mx_qmm_args a[QMM_GROUP_MAX];
  mx_status st = MX_OK;
  atomic_int err = 0;
  mx_isa isa = mx_cpu_isa();
  const bool i8 = qmm_i8_rows(bits, true);
  bool bf16 = !i8 && mx_qmm_use_bf16(isa, bits, K, x->dtype);
  size_t xbytes = qmm_x_bytes(M, K, gs, true, bf16, i8);
  float *xf = mx_thread_scratch(MX_SCRATCH_QX, xbytes); /* M * K <= 2^16 */
  if (!xf) return mx_set_error(MX_ERR_NOMEM, "[quantized_matmul] out of memory");
  /* x as the single call prepares it */
  xprep_ctx xc;
  qmm_prep_x(&xc, x, (const char *)mx_array_ptr(x), true, M, K, gs, isa, bits, true, bf16,
             i8, xf);
  qmm_gsched gsch = {.a = a, .n = n, .div = mx_num_threads()};
  gsch.start[0] = 0;
  int64_t work = 0;
  for (int i = 0; i < n && st == MX_OK; i++) {
    mx_array *wq = nodes[i]->in[1], *sc = nodes[i]->in[2], *bi = nodes[i]->in[3],
             *o = nodes[i]->out[0];
    if ((st = mx_array_alloc(o)) != MX_OK) break;
    const uint8_t *wd = contig_data(wq, &tmp[i][0]);
    const void *sd = contig_data(sc, &tmp[i][1]);
    const void *bd = contig_data(bi, &tmp[i][2]);
    if (!wd || !sd || !bd) {
      st = mx_set_error(MX_ERR_NOMEM, "[quantized_matmul] out of memory");
      break;
    }
    const int N = o->shape[o->ndim - 1];
    a[i] = qmm_args(isa, M, N, K, gs, bits, &xc, wd, wd + wq->size * 4, sd, bd, sc->dtype,
                    bi->dtype, mx_array_ptr(o), o->dtype, &err);
    gsch.start[i + 1] = gsch.start[i] + N;
    work += (int64_t)M * K * N;
  }
  if (st == MX_OK) {
    if (gsch.div < 2 || work < QMM_T_PAR_MIN) {
      for (int i = 0; i < n; i++) mx_qmm_t_rows(&a[i], 0, a[i].N);
    } else {
      atomic_init(&gsch.next, 0);
      mx_parallel_for(gsch.div, 1, qmm_t_gsched, &gsch); /* one part per thread */
    }
    if (atomic_load(&err))
      st = mx_set_error(MX_ERR_NOMEM, "[quantized_matmul] out of memory");
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < 3; j++) free(tmp[i][j]);
  return st;
}
