/* reduce_common.h: helpers shared by the reduction, scan, softmax, sort and
 * arg-reduce kernels.
 *
 * A plan splits the input's axes into KEPT axes (in output order) and
 * REDUCED axes (those in a bitmask), drops size-1 axes and merges adjacent
 * axes of the same group that are contiguous in both the input and the
 * output, so most layouts collapse to (outer, reduced) "rows" or
 * (reduced, inner) "columns". Shapes in a plan are int64 (merged sizes can
 * exceed int).
 *
 * Canonical kinds let one generic kernel body serve every dtype: values are
 * widened to float64 (MX_CK_F: floats, and ints for mean/var), int64
 * (MX_CK_I: bool and integers; uint64 keeps its bits, compare it with the
 * unsigned flag) or complex float64 (MX_CK_C). */
#ifndef MX_CPU_REDUCE_COMMON_H
#define MX_CPU_REDUCE_COMMON_H

#include <complex.h>
/* glibc defines CMPLX/CMPLXF for GCC only (clang < 15 claims GCC 4.2) */
#if !defined(CMPLXF) && defined(__clang__)
#define CMPLXF(x, y) __builtin_complex((float)(x), (float)(y))
#define CMPLX(x, y) __builtin_complex((double)(x), (double)(y))
#endif

#include "../../core/core.h"

typedef struct {
  int nk, nr;
  int64_t kshape[MX_MAX_NDIM], kin[MX_MAX_NDIM], kout[MX_MAX_NDIM];
  int64_t rshape[MX_MAX_NDIM], rin[MX_MAX_NDIM], rout[MX_MAX_NDIM];
  int64_t nout; /* product of kept sizes (0 if any is 0) */
  int64_t nred; /* product of reduced sizes (0 if any is 0) */
} mx_rplan;

/* out_strides: the output's strides per input axis, or NULL for a
 * reduction output (row-major over the kept axes, 0 on reduced axes).
 * sort_reduced: order reduced axes by decreasing |input stride| first
 * (allowed when the reduction order does not matter). */
void mx_rplan_init(mx_rplan *p, const mx_array *in, uint32_t mask,
                   const int64_t *out_strides, bool sort_reduced);

/* Odometer over n dims with up to two operands' strides. */
typedef struct {
  int n;
  const int64_t *shape;
  const int64_t *s0, *s1; /* s1 may be NULL */
  int64_t idx[MX_MAX_NDIM];
  int64_t off0, off1;
} mx_walker;

static inline void mx_walker_init(mx_walker *w, int n, const int64_t *shape,
                                  const int64_t *s0, const int64_t *s1, int64_t flat) {
  w->n = n;
  w->shape = shape;
  w->s0 = s0;
  w->s1 = s1;
  w->off0 = w->off1 = 0;
  for (int d = n - 1; d >= 0; d--) {
    w->idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
    w->off0 += w->idx[d] * s0[d];
    if (s1) w->off1 += w->idx[d] * s1[d];
  }
}

static inline void mx_walker_next(mx_walker *w) {
  for (int d = w->n - 1; d >= 0; d--) {
    w->idx[d]++;
    w->off0 += w->s0[d];
    if (w->s1) w->off1 += w->s1[d];
    if (w->idx[d] < w->shape[d]) return;
    w->off0 -= w->shape[d] * w->s0[d];
    if (w->s1) w->off1 -= w->shape[d] * w->s1[d];
    w->idx[d] = 0;
  }
}

enum { MX_CK_F = 0, MX_CK_I = 1, MX_CK_C = 2 };

static inline size_t mx_ck_size(int kind) { return kind == MX_CK_C ? 16 : 8; }

/* Natural kind of a dtype. */
static inline int mx_ck_of(mx_dtype t) {
  if (t == MX_COMPLEX64) return MX_CK_C;
  if (mx_dtype_is_floating(t)) return MX_CK_F;
  return MX_CK_I;
}

/* Load n elements of dtype t at p (element stride `stride`) as kind. */
void mx_ck_load(int kind, mx_dtype t, const void *p, int64_t stride, int64_t n,
                void *dst);
/* Store n values of kind to dtype t at p (element stride `stride`). Integer
 * targets of MX_CK_I wrap (two's complement); bool stores v != 0. */
void mx_ck_store(int kind, const void *src, int64_t n, mx_dtype t, void *p,
                 int64_t stride);

#endif
