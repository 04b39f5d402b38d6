/* arg_reduce.c: CPU kernel of ArgReduce (argmax/argmin along one axis,
 * uint32 indices). The first extreme wins; NaN counts as the extreme for
 * both (numpy's rule, so argmax agrees with max's NaN propagation): the
 * first NaN's index is returned. Complex values compare lexicographically. */
#include <stdlib.h>
#include <string.h>

#include "../../primitives/reduce.h"
#include "dtypes.h"
#include "reduce_common.h"
#include "reduce_simd.h"

#define CHUNK 256

typedef struct {
  const mx_rplan *p;
  bool is_max, uns;
  int kind;
  mx_dtype t;
  const char *base;
  size_t isz;
  uint32_t *out;
  const mx_simd_table *simd;
  int slot; /* contiguous float32/float16/bfloat16 rows: SIMD path */
} arg_job;

static inline bool c_gt(double complex a, double complex b) {
  return creal(a) > creal(b) || (creal(a) == creal(b) && cimag(a) > cimag(b));
}

/* Is y a better candidate than the current best b? */
#define BETTER_F(y, b, mx)                          \
  ((mx) ? ((y) > (b) || ((y) != (y) && (b) == (b))) \
        : ((y) < (b) || ((y) != (y) && (b) == (b))))
#define BETTER_I(y, b, mx, uns)                                                   \
  ((uns) ? ((mx) ? (uint64_t)(y) > (uint64_t)(b) : (uint64_t)(y) < (uint64_t)(b)) \
         : ((mx) ? (y) > (b) : (y) < (b)))
#define BETTER_C(y, b, mx) ((mx) ? c_gt(y, b) : c_gt(b, y))

static void arg_task(void *c, int64_t ob, int64_t oe) {
  const arg_job *j = c;
  const mx_rplan *p = j->p;
  int64_t L = p->nr ? p->rshape[0] : 1, ls = p->nr ? p->rin[0] : 0;
  _Alignas(64) char buf[CHUNK * 16];
  mx_walker kw;
  mx_walker_init(&kw, p->nk, p->kshape, p->kin, NULL, ob);
  for (int64_t o = ob; o < oe; o++, mx_walker_next(&kw)) {
    const char *x = j->base + kw.off0 * (int64_t)j->isz;
    if (j->slot >= 0) {
      /* extreme value first (NaN if any), then its first position */
      float m =
          j->is_max ? j->simd->row_max[j->slot](x, L) : j->simd->row_min[j->slot](x, L);
      int64_t at = j->simd->find[j->slot](x, L, m);
      j->out[o] = (uint32_t)(at < 0 ? 0 : at);
      continue;
    }
    int64_t best_i = 0;
    double bf = 0;
    int64_t bi = 0;
    double complex bc = 0;
    for (int64_t i0 = 0; i0 < L; i0 += CHUNK) {
      int64_t m = L - i0 < CHUNK ? L - i0 : CHUNK;
      mx_ck_load(j->kind, j->t, x + i0 * ls * (int64_t)j->isz, ls, m, buf);
      int64_t s = 0;
      if (i0 == 0) { /* the first element starts as the best */
        if (j->kind == MX_CK_F)
          bf = ((double *)buf)[0];
        else if (j->kind == MX_CK_I)
          bi = ((int64_t *)buf)[0];
        else
          bc = ((double complex *)buf)[0];
        s = 1;
      }
      if (j->kind == MX_CK_F) {
        const double *v = (const double *)buf;
        for (int64_t i = s; i < m; i++)
          if (BETTER_F(v[i], bf, j->is_max)) {
            bf = v[i];
            best_i = i0 + i;
          }
      } else if (j->kind == MX_CK_I) {
        const int64_t *v = (const int64_t *)buf;
        for (int64_t i = s; i < m; i++)
          if (BETTER_I(v[i], bi, j->is_max, j->uns)) {
            bi = v[i];
            best_i = i0 + i;
          }
      } else {
        const double complex *v = (const double complex *)buf;
        for (int64_t i = s; i < m; i++)
          if (BETTER_C(v[i], bc, j->is_max)) {
            bc = v[i];
            best_i = i0 + i;
          }
      }
    }
    j->out[o] = (uint32_t)best_i;
  }
}

/* Column layout (the axis is not innermost, the innermost kept dim is
 * contiguous): walk the axis once per block of columns, keeping the best
 * value and index of every column, so memory is read row by row. */
typedef struct {
  const arg_job *j;
  int64_t C, cb, ncb;
} col_job;

static void col_task(void *c, int64_t b, int64_t e) {
  const col_job *cj = c;
  const arg_job *j = cj->j;
  const mx_rplan *p = j->p;
  int64_t L = p->rshape[0], ls = p->rin[0];
  _Alignas(64) char buf[CHUNK * 16], best[CHUNK * 16];
  uint32_t bi[CHUNK];
  for (int64_t t = b; t < e; t++) {
    int64_t q = t / cj->ncb, c0 = (t % cj->ncb) * cj->cb;
    int64_t n = cj->C - c0 < cj->cb ? cj->C - c0 : cj->cb;
    mx_walker kw;
    mx_walker_init(&kw, p->nk - 1, p->kshape, p->kin, NULL, q);
    const char *x = j->base + (kw.off0 + c0) * (int64_t)j->isz;
    mx_ck_load(j->kind, j->t, x, 1, n, best);
    memset(bi, 0, sizeof bi);
    for (int64_t l = 1; l < L; l++) {
      mx_ck_load(j->kind, j->t, x + l * ls * (int64_t)j->isz, 1, n, buf);
      if (j->kind == MX_CK_F) {
        const double *v = (const double *)buf;
        double *bv = (double *)best;
        for (int64_t i = 0; i < n; i++)
          if (BETTER_F(v[i], bv[i], j->is_max)) {
            bv[i] = v[i];
            bi[i] = (uint32_t)l;
          }
      } else if (j->kind == MX_CK_I) {
        const int64_t *v = (const int64_t *)buf;
        int64_t *bv = (int64_t *)best;
        for (int64_t i = 0; i < n; i++)
          if (BETTER_I(v[i], bv[i], j->is_max, j->uns)) {
            bv[i] = v[i];
            bi[i] = (uint32_t)l;
          }
      } else {
        const double complex *v = (const double complex *)buf;
        double complex *bv = (double complex *)best;
        for (int64_t i = 0; i < n; i++)
          if (BETTER_C(v[i], bv[i], j->is_max)) {
            bv[i] = v[i];
            bi[i] = (uint32_t)l;
          }
      }
    }
    memcpy(j->out + q * cj->C + c0, bi, (size_t)n * sizeof *bi);
  }
}

mx_status mx_cpu_arg_reduce(mx_node *n, mx_array **in, mx_array **out) {
  const mx_argreduce_params *prm = MX_PARAMS(mx_argreduce_params, n);
  mx_array *a = in[0], *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  mx_rplan p;
  mx_rplan_init(&p, a, 1u << prm->axis, NULL, false);
  if (p.nout == 0) return MX_OK;
  if (p.nred == 0)
    return mx_set_error(MX_ERR_INVALID, "[arg_reduce] empty reduction axis");
  arg_job j = {&p,
               prm->op == MX_ARGREDUCE_MAX,
               a->dtype == MX_UINT64,
               mx_ck_of(a->dtype),
               a->dtype,
               mx_array_ptr(a),
               mx_dtype_size(a->dtype),
               mx_array_ptr(o),
               mx_simd(),
               -1};
  if (p.nr == 1 && p.rin[0] == 1) j.slot = mx_simd_slot(a->dtype);
  if (p.nr == 1 && p.rin[0] != 1 && p.nk >= 1 && p.kin[p.nk - 1] == 1 &&
      p.kshape[p.nk - 1] >= 16) {
    int64_t C = p.kshape[p.nk - 1];
    col_job cj = {&j, C, C < CHUNK ? C : CHUNK, (C + CHUNK - 1) / CHUNK};
    int64_t tasks = (p.nout / C) * cj.ncb, per = cj.cb * p.nred;
    mx_parallel_for(tasks, per >= 65536 ? 1 : 65536 / per, col_task, &cj);
    return MX_OK;
  }
  int64_t grain = p.nred >= 65536 ? 1 : 65536 / p.nred;
  mx_parallel_for(p.nout, grain, arg_task, &j);
  return MX_OK;
}
