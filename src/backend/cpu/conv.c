/* conv.c: CPU convolution by im2col + GEMM (see primitives/conv.h).
 *
 * The output viewed as rows = (N * prod(out_spatial), C_out) is contiguous,
 * so every batch element and output position is one GEMM row: for a block
 * of rows and each group g,
 *   patches (rows, K_g) @ weight_g^T (K_g, C_out/groups) -> out[:, g block]
 * with K_g = prod(kernel) * C_in/groups and ldc = C_out. Patches are built in
 * parallel over rows (the input may have any strides and any float dtype),
 * in blocks of rows so the scratch stays bounded; the GEMM is one OpenBLAS
 * call per block and group (threaded by OpenBLAS). A 1x1 kernel with unit
 * stride, no padding or dilation on a contiguous input skips im2col.
 * float16/bfloat16/float32 compute in float32 (sgemm), float64 in float64;
 * half outputs are rounded from a float32 block. The weight is packed once
 * as (C_out, prod(kernel), C_in/groups) in the compute type, reversed along
 * the spatial dims when flip is set. */
#include <stdlib.h>
#include <string.h>

#include "../../primitives/conv.h"
#include "blas.h"
#include "dtypes.h"
#include "linalg_simd.h"

#define CONV_BLOCK_ELEMS (4 << 20) /* patch elements per block */

static inline float bf16_to_float(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* dst[i] = src[i * stride] for n elements, converted to float or double. */
#define COPY_RUN(ST, GET, DT)                                        \
  {                                                                  \
    const ST *s = (const ST *)src;                                   \
    DT *d = (DT *)dst;                                               \
    for (int64_t i = 0; i < n; i++) d[i] = (DT)(GET(s[i * stride])); \
  }
#define ID(x) (x)
#define BF16(x) bf16_to_float(x)
#define F16(x) mx_f16_to_f32(x)

static void copy_run(void *dst, bool dbl, const void *src, mx_dtype st, int64_t n,
                     int64_t stride) {
  if (!dbl && st == MX_FLOAT32 && stride == 1) {
    memcpy(dst, src, (size_t)n * sizeof(float));
    return;
  }
  if (dbl && st == MX_FLOAT64 && stride == 1) {
    memcpy(dst, src, (size_t)n * sizeof(double));
    return;
  }
  if (!dbl && stride == 1 && (st == MX_BFLOAT16 || st == MX_FLOAT16)) {
    mx_lin_half_to_f32(src, st == MX_BFLOAT16, dst, n);
    return;
  }
  switch (st) {
    case MX_FLOAT32:
      if (dbl) COPY_RUN(float, ID, double) else COPY_RUN(float, ID, float) break;
    case MX_FLOAT64:
      if (dbl) COPY_RUN(double, ID, double) else COPY_RUN(double, ID, float) break;
    case MX_BFLOAT16:
      if (dbl)
        COPY_RUN(uint16_t, BF16, double) else COPY_RUN(uint16_t, BF16, float) break;
    case MX_FLOAT16:
      if (dbl) COPY_RUN(uint16_t, F16, double) else COPY_RUN(uint16_t, F16, float) break;
    default:
      break;
  }
}

typedef struct {
  const mx_conv_params *p;
  mx_array *in, *w, *out;
  int ns; /* spatial dims */
  int N, cin, cout, cin_g, cout_g;
  int ishape[MX_CONV_MAX_SPATIAL], kshape[MX_CONV_MAX_SPATIAL],
      oshape[MX_CONV_MAX_SPATIAL];
  int64_t idil_size[MX_CONV_MAX_SPATIAL]; /* dilated input extent */
  int64_t ostotal, kprod, kg;             /* prod(out spatial), prod(kernel), K_g */
  bool dbl;
  size_t esz; /* compute element size */
  /* current block */
  int64_t r0;
  int g;
  void *patches; /* (block rows, kg) */
} conv_ctx;

/* Build patch rows [b, e) of the current block for group g. */
static void im2col_range(void *c, int64_t b, int64_t e) {
  conv_ctx *x = c;
  const mx_conv_params *p = x->p;
  const mx_array *in = x->in;
  size_t isz = mx_dtype_size(in->dtype);
  const char *base = mx_array_ptr(in);
  int64_t cstride = in->strides[x->ns + 1];
  int ns = x->ns;
  for (int64_t r = b; r < e; r++) {
    int64_t row = x->r0 + r;
    int64_t n = row / x->ostotal, o = row % x->ostotal;
    int od[MX_CONV_MAX_SPATIAL];
    for (int d = ns - 1; d >= 0; d--) {
      od[d] = (int)(o % x->oshape[d]);
      o /= x->oshape[d];
    }
    char *dst = (char *)x->patches + r * x->kg * (int64_t)x->esz;
    const char *nbase =
        base + (n * in->strides[0] + (int64_t)x->g * x->cin_g * cstride) * (int64_t)isz;
    int kd[MX_CONV_MAX_SPATIAL] = {0};
    for (int64_t kp = 0; kp < x->kprod; kp++) {
      /* input position for kernel tap kd at output od */
      bool valid = true;
      int64_t off = 0;
      for (int d = 0; d < ns && valid; d++) {
        int64_t pos = (int64_t)od[d] * p->stride[d] +
                      (int64_t)kd[d] * p->kernel_dilation[d] - p->pad_lo[d];
        if (pos < 0 || pos >= x->idil_size[d] || pos % p->input_dilation[d]) {
          valid = false;
          break;
        }
        off += (pos / p->input_dilation[d]) * in->strides[d + 1];
      }
      char *drow = dst + kp * x->cin_g * (int64_t)x->esz;
      if (valid)
        copy_run(drow, x->dbl, nbase + off * (int64_t)isz, in->dtype, x->cin_g, cstride);
      else
        memset(drow, 0, (size_t)x->cin_g * x->esz);
      for (int d = ns - 1; d >= 0; d--) {
        if (++kd[d] < x->kshape[d]) break;
        kd[d] = 0;
      }
    }
  }
}

/* Pack weight (C_out, *kernel, C_in_g) into (C_out, kprod, C_in_g) compute
 * values, reversing the kernel taps when flipping. */
static void pack_weight(const conv_ctx *x, void *dst) {
  const mx_array *w = x->w;
  size_t wsz = mx_dtype_size(w->dtype);
  const char *base = mx_array_ptr(w);
  for (int co = 0; co < x->cout; co++) {
    int kd[MX_CONV_MAX_SPATIAL] = {0};
    for (int64_t kp = 0; kp < x->kprod; kp++) {
      int64_t off = (int64_t)co * w->strides[0];
      for (int d = 0; d < x->ns; d++) {
        int k = x->p->flip ? x->kshape[d] - 1 - kd[d] : kd[d];
        off += (int64_t)k * w->strides[d + 1];
      }
      char *drow = (char *)dst + ((int64_t)co * x->kg + kp * x->cin_g) * (int64_t)x->esz;
      copy_run(drow, x->dbl, base + off * (int64_t)wsz, w->dtype, x->cin_g,
               w->strides[x->ns + 1]);
      for (int d = x->ns - 1; d >= 0; d--) {
        if (++kd[d] < x->kshape[d]) break;
        kd[d] = 0;
      }
    }
  }
}

static void gemm_nt(bool dbl, int M, int N, int K, const void *A, int lda, const void *B,
                    int ldb, void *C, int ldc) {
  /* C (M, N) = A (M, K) @ B (N, K)^T */
  mx_blas_gemm(dbl, false, true, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}

typedef struct {
  const float *src;
  uint16_t *dst;
  mx_dtype dt;
} round_job;

static void round_range(void *ctx, int64_t b, int64_t e) {
  const round_job *r = ctx;
  mx_lin_f32_to_half(r->src + b, r->dt == MX_BFLOAT16, r->dst + b, e - b);
}

static bool is_pointwise(const conv_ctx *x) {
  const mx_conv_params *p = x->p;
  for (int d = 0; d < x->ns; d++)
    if (x->kshape[d] != 1 || p->stride[d] != 1 || p->pad_lo[d] != 0 ||
        p->pad_hi[d] != 0 || p->input_dilation[d] != 1)
      return false;
  return true;
}

mx_status mx_cpu_conv(mx_node *n, mx_array **in, mx_array **out) {
  const mx_conv_params *p = MX_PARAMS(mx_conv_params, n);
  mx_array *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;

  conv_ctx x;
  memset(&x, 0, sizeof x);
  x.p = p;
  x.in = in[0];
  x.w = in[1];
  x.out = o;
  x.ns = p->nspatial;
  x.N = in[0]->shape[0];
  x.cin = in[0]->shape[x.ns + 1];
  x.cout = in[1]->shape[0];
  x.cin_g = x.cin / p->groups;
  x.cout_g = x.cout / p->groups;
  x.ostotal = 1;
  x.kprod = 1;
  for (int d = 0; d < x.ns; d++) {
    x.ishape[d] = in[0]->shape[d + 1];
    x.kshape[d] = in[1]->shape[d + 1];
    x.oshape[d] = o->shape[d + 1];
    x.idil_size[d] =
        x.ishape[d] > 0 ? (int64_t)(x.ishape[d] - 1) * p->input_dilation[d] + 1 : 0;
    x.ostotal *= x.oshape[d];
    x.kprod *= x.kshape[d];
  }
  x.kg = x.kprod * x.cin_g;
  x.dbl = o->dtype == MX_FLOAT64;
  x.esz = x.dbl ? 8 : 4;
  bool direct_out = o->dtype == MX_FLOAT32 || o->dtype == MX_FLOAT64;
  int64_t rows = (int64_t)x.N * x.ostotal;

  if (x.kg == 0) { /* no input channels: zeros */
    memset(mx_array_ptr(o), 0, (size_t)o->size * mx_dtype_size(o->dtype));
    return MX_OK;
  }

  /* scratch from the library allocator (cached blocks, counted memory) */
  mx_buffer *wbuf = mx_buffer_alloc((size_t)x.cout * (size_t)x.kg * x.esz);
  if (!wbuf) return mx_last_status();
  void *wp = wbuf->host;
  pack_weight(&x, wp);

  /* 1x1 kernel on a contiguous input of the compute dtype: the input rows
   * already are the patches */
  mx_dtype compute = x.dbl ? MX_FLOAT64 : MX_FLOAT32;
  bool pointwise = is_pointwise(&x) && in[0]->dtype == compute && in[0]->row_contiguous &&
                   rows <= INT32_MAX;
  int64_t brows = CONV_BLOCK_ELEMS / x.kg;
  if (brows < 1) brows = 1;
  if (pointwise || brows > rows) brows = rows;
  if (brows > INT32_MAX) brows = INT32_MAX;

  mx_buffer *pbuf =
      pointwise ? NULL : mx_buffer_alloc((size_t)brows * (size_t)x.kg * x.esz);
  mx_buffer *cbuf =
      direct_out ? NULL : mx_buffer_alloc((size_t)brows * (size_t)x.cout * sizeof(float));
  if ((!pointwise && !pbuf) || (!direct_out && !cbuf)) {
    mx_buffer_release(wbuf);
    if (pbuf) mx_buffer_release(pbuf);
    if (cbuf) mx_buffer_release(cbuf);
    return mx_last_status();
  }
  void *patches = pbuf ? pbuf->host : NULL;
  float *cblock = cbuf ? cbuf->host : NULL;
  x.patches = patches;
  size_t osz = mx_dtype_size(o->dtype);
  for (int64_t r0 = 0; r0 < rows; r0 += brows) {
    int nb = (int)(rows - r0 < brows ? rows - r0 : brows);
    void *C = direct_out ? (char *)mx_array_ptr(o) + r0 * x.cout * (int64_t)osz
                         : (void *)cblock;
    for (int g = 0; g < p->groups; g++) {
      const void *A;
      int lda;
      if (pointwise) {
        A = (const char *)mx_array_ptr(in[0]) + (int64_t)g * x.cin_g * (int64_t)x.esz;
        lda = x.cin;
      } else {
        x.r0 = r0;
        x.g = g;
        int64_t grain = 4096 / x.kg;
        mx_parallel_for(nb, grain < 1 ? 1 : grain, im2col_range, &x);
        A = patches;
        lda = (int)x.kg;
      }
      const char *B = (const char *)wp + (int64_t)g * x.cout_g * x.kg * (int64_t)x.esz;
      char *Cg = (char *)C + (int64_t)g * x.cout_g * (int64_t)x.esz;
      if (x.cout_g > 0)
        gemm_nt(x.dbl, nb, x.cout_g, (int)x.kg, A, lda, B, (int)x.kg, Cg, x.cout);
    }
    if (!direct_out) {
      round_job rj = {cblock,
                      (uint16_t *)((char *)mx_array_ptr(o) + r0 * x.cout * (int64_t)osz),
                      o->dtype};
      mx_parallel_for((int64_t)nb * x.cout, 1 << 16, round_range, &rj);
    }
  }
  mx_buffer_release(wbuf);
  if (pbuf) mx_buffer_release(pbuf);
  if (cbuf) mx_buffer_release(cbuf);
  return MX_OK;
}
