/* softmax.c: CPU kernel of Softmax over any set of axes:
 * y = exp(x - max) / sum(exp(x - max)) per group of reduced elements.
 *
 * Fast path: one contiguous reduced axis (the usual last-axis softmax) of
 * float32/float16/bfloat16 runs the SIMD row kernel in place. Otherwise
 * each group is gathered into a contiguous float32 row (float64 for float64
 * input), the row kernel runs on it and the result is scattered back.
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
static void group_io(const mx_rplan *p, bool load, const char *x, mx_dtype t,
                     char *y, mx_dtype ot, double *d) {
  int nr = p->nr;
  int64_t L = nr ? p->rshape[nr - 1] : 1;
  int64_t is = nr ? p->rin[nr - 1] : 0, os = nr ? p->rout[nr - 1] : 0;
  size_t isz = mx_dtype_size(t), osz = mx_dtype_size(ot);
  mx_walker rw;
  mx_walker_init(&rw, nr ? nr - 1 : 0, p->rshape, p->rin, p->rout, 0);
  for (int64_t k = 0; k < p->nred; k += L, mx_walker_next(&rw)) {
    if (load) mx_ck_load(MX_CK_F, t, x + rw.off0 * (int64_t)isz, is, L, d + k);
    else mx_ck_store(MX_CK_F, d + k, L, ot, y + rw.off1 * (int64_t)osz, os);
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
  mx_parallel_for(p.nout, grain, j.slot >= 0 ? fast_task : gather_task, &j);
  if (j.failed) return mx_set_error(MX_ERR_NOMEM, "[softmax] out of memory");
  return MX_OK;
}
