/* reduce_common.c: reduction plans and canonical conversions (see
 * reduce_common.h). */
#include "reduce_common.h"

#include <stdlib.h>
#include <string.h>

#include "dtypes.h"

void mx_rplan_init(mx_rplan *p, const mx_array *in, uint32_t mask,
                   const int64_t *out_strides, bool sort_reduced) {
  int nd = in->ndim;
  int64_t ostr[MX_MAX_NDIM];
  if (out_strides) {
    memcpy(ostr, out_strides, (size_t)nd * sizeof *ostr);
  } else {
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
      if (mask & (1u << d)) {
        ostr[d] = 0;
      } else {
        ostr[d] = s;
        s *= in->shape[d];
      }
    }
  }
  p->nk = p->nr = 0;
  p->nout = p->nred = 1;
  for (int d = 0; d < nd; d++) {
    bool red = (mask & (1u << d)) != 0;
    if (red)
      p->nred *= in->shape[d];
    else
      p->nout *= in->shape[d];
    if (in->shape[d] == 1) continue;
    if (red) {
      p->rshape[p->nr] = in->shape[d];
      p->rin[p->nr] = in->strides[d];
      p->rout[p->nr++] = ostr[d];
    } else {
      p->kshape[p->nk] = in->shape[d];
      p->kin[p->nk] = in->strides[d];
      p->kout[p->nk++] = ostr[d];
    }
  }
  if (sort_reduced) { /* insertion sort: decreasing |input stride| */
    for (int i = 1; i < p->nr; i++) {
      int64_t sh = p->rshape[i], si = p->rin[i], so = p->rout[i];
      int j = i - 1;
      while (j >= 0 && llabs(p->rin[j]) < llabs(si)) {
        p->rshape[j + 1] = p->rshape[j];
        p->rin[j + 1] = p->rin[j];
        p->rout[j + 1] = p->rout[j];
        j--;
      }
      p->rshape[j + 1] = sh;
      p->rin[j + 1] = si;
      p->rout[j + 1] = so;
    }
  }
  /* merge adjacent dims of each group that are contiguous in both */
  int *counts[2] = {&p->nk, &p->nr};
  int64_t *shp[2] = {p->kshape, p->rshape};
  int64_t *sin[2] = {p->kin, p->rin};
  int64_t *sout[2] = {p->kout, p->rout};
  for (int g = 0; g < 2; g++) {
    int n = 0;
    for (int i = 0; i < *counts[g]; i++) {
      if (n > 0 && sin[g][n - 1] == sin[g][i] * shp[g][i] &&
          sout[g][n - 1] == sout[g][i] * shp[g][i]) {
        shp[g][n - 1] *= shp[g][i];
        sin[g][n - 1] = sin[g][i];
        sout[g][n - 1] = sout[g][i];
        continue;
      }
      shp[g][n] = shp[g][i];
      sin[g][n] = sin[g][i];
      sout[g][n] = sout[g][i];
      n++;
    }
    *counts[g] = n;
  }
}

/* ---- canonical conversions ---- */

static inline double f64_of_num(double v) { return v; }
static inline double f64_of_f16(mx_f16 v) { return mx_f16_get(v); }
static inline double f64_of_bf16(mx_bf16 v) { return mx_bf16_get(v); }
static inline double f64_of_c64(mx_c64 v) { return crealf(v); }
#define TO_F(v)                  \
  _Generic((v), mx_f16           \
           : f64_of_f16, mx_bf16 \
           : f64_of_bf16, mx_c64 \
           : f64_of_c64, default \
           : f64_of_num)(v)

static inline int64_t i64_of_num(int64_t v) { return v; }
static inline int64_t i64_of_u64(uint64_t v) { return (int64_t)v; }
static inline int64_t i64_of_dbl(double v) { return mx_f64_to_i64_sat(v); }
static inline int64_t i64_of_f16(mx_f16 v) { return i64_of_dbl(mx_f16_get(v)); }
static inline int64_t i64_of_bf16(mx_bf16 v) { return i64_of_dbl(mx_bf16_get(v)); }
static inline int64_t i64_of_c64(mx_c64 v) { return i64_of_dbl(crealf(v)); }
#define TO_I(v)                   \
  _Generic((v), mx_f16            \
           : i64_of_f16, mx_bf16  \
           : i64_of_bf16, mx_c64  \
           : i64_of_c64, float    \
           : i64_of_dbl, double   \
           : i64_of_dbl, uint64_t \
           : i64_of_u64, default  \
           : i64_of_num)(v)

static inline double complex c_of_num(double v) { return CMPLX(v, 0); }
static inline double complex c_of_f16(mx_f16 v) { return CMPLX(mx_f16_get(v), 0); }
static inline double complex c_of_bf16(mx_bf16 v) { return CMPLX(mx_bf16_get(v), 0); }
static inline double complex c_of_c64(mx_c64 v) { return CMPLX(crealf(v), cimagf(v)); }
#define TO_C(v)                \
  _Generic((v), mx_f16         \
           : c_of_f16, mx_bf16 \
           : c_of_bf16, mx_c64 \
           : c_of_c64, default \
           : c_of_num)(v)

/* One strided load loop per (source dtype, widening conversion CONV). */
#define CK_LOAD_CASES(CONV)                \
  switch (t) {                             \
    MX_FOR_EACH_DTYPE(CK_LOAD_CASE_##CONV) \
    default:                               \
      break;                               \
  }
#define CK_LOAD_BODY(E, T, CONV)                                               \
  case E:                                                                      \
    if (stride == 1) { /* blocks of 8: vectorised at -O2 (SLP) */              \
      int64_t i = 0;                                                           \
      for (; i + 8 <= n; i += 8)                                               \
        for (int k = 0; k < 8; k++) d[i + k] = CONV(((const T *)p)[i + k]);    \
      for (; i < n; i++) d[i] = CONV(((const T *)p)[i]);                       \
    } else                                                                     \
      for (int64_t i = 0; i < n; i++) d[i] = CONV(((const T *)p)[i * stride]); \
    break;
#define CK_LOAD_CASE_TO_F(E, T, S) CK_LOAD_BODY(E, T, TO_F)
#define CK_LOAD_CASE_TO_I(E, T, S) CK_LOAD_BODY(E, T, TO_I)
#define CK_LOAD_CASE_TO_C(E, T, S) CK_LOAD_BODY(E, T, TO_C)

void mx_ck_load(int kind, mx_dtype t, const void *p, int64_t stride, int64_t n,
                void *dst) {
  if (kind == MX_CK_F) {
    double *d = dst;
    CK_LOAD_CASES(TO_F)
  } else if (kind == MX_CK_I) {
    int64_t *d = dst;
    CK_LOAD_CASES(TO_I)
  } else {
    double complex *d = dst;
    CK_LOAD_CASES(TO_C)
  }
}

/* value -> element of T (integers from float saturate, from int64 wrap) */
static inline mx_f16 f16_of(double v) { return mx_f16_make((float)v); }
static inline mx_bf16 bf16_of(double v) { return mx_bf16_make((float)v); }
static inline mx_c64 c64_of(double complex v) {
  return CMPLXF((float)creal(v), (float)cimag(v));
}

void mx_ck_store(int kind, const void *src, int64_t n, mx_dtype t, void *p,
                 int64_t stride) {
  char *q = p;
  size_t isz = mx_dtype_size(t);
  for (int64_t i = 0; i < n; i++) {
    char *e = q + i * stride * (int64_t)isz;
    if (kind == MX_CK_C) {
      double complex v = ((const double complex *)src)[i];
      if (t == MX_COMPLEX64)
        *(mx_c64 *)e = c64_of(v);
      else if (t == MX_BOOL)
        *(uint8_t *)e = v != 0;
      else
        mx_store_f64(e, t, creal(v));
      continue;
    }
    if (kind == MX_CK_I) {
      int64_t v = ((const int64_t *)src)[i];
      switch (t) {
        case MX_BOOL:
          *(uint8_t *)e = v != 0;
          break;
        case MX_FLOAT16:
          *(mx_f16 *)e = f16_of((double)v);
          break;
        case MX_BFLOAT16:
          *(mx_bf16 *)e = bf16_of((double)v);
          break;
        case MX_FLOAT32:
          *(float *)e = (float)v;
          break;
        case MX_FLOAT64:
          *(double *)e = (double)v;
          break;
        case MX_COMPLEX64:
          *(mx_c64 *)e = CMPLXF((float)v, 0);
          break;
        default:
          mx_store_i64(e, t, v);
          break;
      }
      continue;
    }
    double v = ((const double *)src)[i];
    switch (t) {
      case MX_FLOAT32:
        *(float *)e = (float)v;
        break;
      case MX_FLOAT64:
        *(double *)e = v;
        break;
      case MX_FLOAT16:
        *(mx_f16 *)e = f16_of(v);
        break;
      case MX_BFLOAT16:
        *(mx_bf16 *)e = bf16_of(v);
        break;
      default:
        mx_store_f64(e, t, v);
        break;
    }
  }
}
