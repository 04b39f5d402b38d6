/* softmax.c: CPU kernel of Softmax over any set of axes:
 * y = exp(x - max) / sum(exp(x - max)) per group of reduced elements.
 *
 * Fast path: one contiguous reduced axis (the usual last-axis softmax) of
 * float32/float16/bfloat16 runs the SIMD row kernel in place. When the
 * innermost kept axis is contiguous instead (softmax over leading axes), 16
 * neighbouring groups are gathered as a tile and reduced down its columns.
 * Otherwise each group is gathered into a contiguous float32 row (float64
 * for float64 input), the row kernel runs on it and the result is scattered
 * back.
 * Half-precision and integer inputs are always computed in float32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../primitives/reduce.h"
#include "dtypes.h"
#include "reduce_common.h"
#include "reduce_simd.h"

typedef struct {
  const mx_rplan *p;
  const mx_simd_table *simd;
  int slot; /* fast path slot, or -1 for gather/scatter */
  mx_dtype t, ot;
  const char *in;
  char *out;
  size_t isz, osz;
  int64_t nred;
  bool failed;
} sm_job;

/* float64 softmax of a contiguous row, in place. */
static void softmax_f64(double *x, int64_t n) {
  double m = -INFINITY;
  bool nan = false;
  for (int64_t i = 0; i < n; i++) {
    nan |= x[i] != x[i];
    if (x[i] > m) m = x[i];
  }
  if (nan) m = NAN;
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += x[i] = exp(x[i] - m);
  double inv = 1 / s;
  for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

static void fast_task(void *c, int64_t b, int64_t e) {
  sm_job *j = c;
  const mx_rplan *p = j->p;
  float *tmp = NULL;
  if (j->slot != 0) {
    tmp = malloc((size_t)j->nred * sizeof *tmp);
    if (!tmp) {
      j->failed = true;
      return;
    }
  }
  mx_walker kw;
  mx_walker_init(&kw, p->nk, p->kshape, p->kin, p->kout, b);
  for (int64_t o = b; o < e; o++) {
    const char *x = j->in + kw.off0 * (int64_t)j->isz;
    char *y = j->out + kw.off1 * (int64_t)j->osz;
    mx_walker_next(&kw);
    const char *next = o + 1 < e ? j->in + kw.off0 * (int64_t)j->isz : NULL;
    j->simd->softmax[j->slot](x, y, j->nred, tmp, next);
  }
  free(tmp);
}

/* Copy one group between the strided input/output and a contiguous float64
 * row, one run (innermost reduced dim) at a time. */
static void group_io(const mx_rplan *p, bool load, const char *x, mx_dtype t, char *y,
                     mx_dtype ot, double *d) {
  int nr = p->nr;
  int64_t L = nr ? p->rshape[nr - 1] : 1;
  int64_t is = nr ? p->rin[nr - 1] : 0, os = nr ? p->rout[nr - 1] : 0;
  size_t isz = mx_dtype_size(t), osz = mx_dtype_size(ot);
  mx_walker rw;
  mx_walker_init(&rw, nr ? nr - 1 : 0, p->rshape, p->rin, p->rout, 0);
  for (int64_t k = 0; k < p->nred; k += L, mx_walker_next(&rw)) {
    if (load)
      mx_ck_load(MX_CK_F, t, x + rw.off0 * (int64_t)isz, is, L, d + k);
    else
      mx_ck_store(MX_CK_F, d + k, L, ot, y + rw.off1 * (int64_t)osz, os);
  }
}

static void gather_task(void *c, int64_t b, int64_t e) {
  sm_job *j = c;
  const mx_rplan *p = j->p;
  int64_t n = j->nred;
  double *d = malloc((size_t)n * sizeof *d);
  float *f = malloc((size_t)n * 2 * sizeof *f);
  if (!d || !f) {
    free(d);
    free(f);
    j->failed = true;
    return;
  }
  bool f64 = j->t == MX_FLOAT64;
  mx_walker kw;
  mx_walker_init(&kw, p->nk, p->kshape, p->kin, p->kout, b);
  for (int64_t o = b; o < e; o++, mx_walker_next(&kw)) {
    const char *x = j->in + kw.off0 * (int64_t)j->isz;
    char *y = j->out + kw.off1 * (int64_t)j->osz;
    group_io(p, true, x, j->t, NULL, j->ot, d);
    if (f64) {
      softmax_f64(d, n);
    } else {
      for (int64_t i = 0; i < n; i++) f[i] = (float)d[i];
      j->simd->softmax[0](f, f + n, n, NULL, NULL);
      for (int64_t i = 0; i < n; i++) d[i] = f[n + i];
    }
    group_io(p, false, NULL, j->t, y, j->ot, d);
  }
  free(d);
  free(f);
}

/* Tiles of 16 neighbouring groups (the innermost kept dim is contiguous in
 * input and output): each reduced position contributes 16 contiguous
 * elements, so the gather streams cache lines instead of touching one line
 * per element, and the softmax runs down the tile's columns in SIMD. */
typedef struct {
  sm_job *j;
  int64_t C, ntc; /* innermost kept size, tiles per C */
} tile_job;

static void tile_task(void *c, int64_t b, int64_t e) {
  tile_job *tj = c;
  sm_job *j = tj->j;
  const mx_rplan *p = j->p;
  int64_t n = j->nred;
  float *tile = malloc((size_t)n * 16 * sizeof *tile);
  double *d = malloc(16 * sizeof *d);
  if (!tile || !d) {
    free(tile);
    free(d);
    j->failed = true;
    return;
  }
  int islot = mx_simd_slot(j->t), oslot = mx_simd_slot(j->ot);
  size_t isz = j->isz, osz = j->osz;
  for (int64_t t = b; t < e; t++) {
    int64_t q = t / tj->ntc, c0 = (t % tj->ntc) * 16;
    int64_t w = tj->C - c0 < 16 ? tj->C - c0 : 16;
    mx_walker kw;
    mx_walker_init(&kw, p->nk - 1, p->kshape, p->kin, p->kout, q);
    const char *x = j->in + (kw.off0 + c0) * (int64_t)isz;
    char *y = j->out + (kw.off1 + c0) * (int64_t)osz;
    mx_walker rw;
    mx_walker_init(&rw, p->nr, p->rshape, p->rin, p->rout, 0);
    for (int64_t r = 0; r < n; r++, mx_walker_next(&rw)) {
      float *row = tile + 16 * r;
      const char *src = x + rw.off0 * (int64_t)isz;
      if (islot >= 0) {
        j->simd->to_f32[islot](src, row, w);
      } else {
        mx_ck_load(MX_CK_F, j->t, src, 1, w, d);
        for (int64_t k = 0; k < w; k++) row[k] = (float)d[k];
      }
      for (int64_t k = w; k < 16; k++) row[k] = 0;
    }
    j->simd->softmax_cols16(tile, n);
    mx_walker_init(&rw, p->nr, p->rshape, p->rin, p->rout, 0);
    for (int64_t r = 0; r < n; r++, mx_walker_next(&rw))
      j->simd->from_f32[oslot](tile + 16 * r, y + rw.off1 * (int64_t)osz, w);
  }
  free(tile);
  free(d);
}

mx_status mx_cpu_softmax(mx_node *n, mx_array **in, mx_array **out) {
  const mx_softmax_params *prm = MX_PARAMS(mx_softmax_params, n);
  mx_array *a = in[0], *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;
  mx_rplan p;
  mx_rplan_init(&p, a, prm->axes, o->strides, true);
  sm_job j;
  memset(&j, 0, sizeof j);
  j.p = &p;
  j.simd = mx_simd();
  j.t = a->dtype;
  j.ot = o->dtype;
  j.in = mx_array_ptr(a);
  j.out = mx_array_ptr(o);
  j.isz = mx_dtype_size(a->dtype);
  j.osz = mx_dtype_size(o->dtype);
  j.nred = p.nred;
  j.slot = -1;
  if (p.nr == 1 && p.rin[0] == 1 && p.rout[0] == 1 && a->dtype == o->dtype)
    j.slot = mx_simd_slot(a->dtype);
  int64_t grain = p.nred >= 16384 ? 1 : 16384 / p.nred;
  if (j.slot < 0 && a->dtype != MX_FLOAT64 && p.nk >= 1 && p.nr >= 1 &&
      p.kin[p.nk - 1] == 1 && p.kout[p.nk - 1] == 1) {
    tile_job tj = {&j, p.kshape[p.nk - 1], (p.kshape[p.nk - 1] + 15) / 16};
    int64_t tiles = (p.nout / tj.C) * tj.ntc;
    int64_t tgrain = p.nred * 16 >= 16384 ? 1 : 16384 / (p.nred * 16);
    mx_parallel_for(tiles, tgrain, tile_task, &tj);
  } else {
    mx_parallel_for(p.nout, grain, j.slot >= 0 ? fast_task : gather_task, &j);
  }
  if (j.failed) return mx_set_error(MX_ERR_NOMEM, "[softmax] out of memory");
  return MX_OK;
}
