/* reduce.c: CPU kernel of Reduce and LogSumExp.
 *
 * Every reduction is one or two "passes" of a fold op over a plan (see
 * reduce_common.h):
 *   sum/prod/max/min/all/any  one pass of SUM/PROD/MAX/MIN/AND/OR
 *   mean                      SUM, divided by the count
 *   var/std                   SUM (-> mean per output), then SSD (sum of
 *                             squared deviations from that mean): two-pass,
 *                             so no cancellation
 *   logsumexp                 MAX (-> m per output), then SEXP (sum of
 *                             exp(x - m)); m + log(s), or m where m is +-inf
 *
 * A pass runs in one of two modes:
 *   RUN  for each output, fold the reduced elements as runs along the
 *        innermost reduced dim (the one with the smallest stride); stride-1
 *        runs of float32/float16/bfloat16 use the SIMD row kernels.
 *   COL  when the innermost kept dim is contiguous in the input: for each
 *        reduced index, fold a contiguous row segment into a block of
 *        column accumulators (vectorised along the columns).
 * Work is split over outputs, and, when there are few outputs, also over
 * ranges of the reduced index space (partial accumulators merged after).
 *
 * Accumulators are float64 for floats (float32 lanes with float64 block
 * sums in the SIMD kernels), int64 with wrap-around for integer sums and
 * products (so int32 results wrap like MLX), complex float64 for complex64.
 * max/min propagate NaN. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../primitives/reduce.h"
#include "dtypes.h"
#include "reduce_common.h"
#include "reduce_simd.h"

enum { K_SUM, K_PROD, K_MAX, K_MIN, K_AND, K_OR, K_SSD, K_SEXP };

#define CHUNK 256 /* canonical conversion buffer (elements) */

typedef struct {
  const mx_rplan *p;
  int k;        /* fold op */
  int in_kind;  /* canonical kind the input is loaded as */
  int acc_kind; /* kind of the accumulators */
  bool uns;     /* compare int64 accumulators as uint64 (uint64 input) */
  mx_dtype t;
  const char *base; /* input element 0 */
  size_t isz;
  int slot; /* SIMD table slot or -1 */
  const mx_simd_table *simd;
  const void *center; /* per-output center (acc-kind of pass 1) or NULL */
  char *acc;          /* nsplit x nout accumulators */
  int64_t nsplit;
  /* COL mode */
  bool col;
  int64_t ncols, cb, ncb, nq;
} pass_t;

#define MAX_CB 4096 /* widest column block (float32 scratch on the stack) */

/* ---- accumulator helpers ---- */

static void acc_identity(const pass_t *j, void *a) {
  switch (j->acc_kind) {
    case MX_CK_F: {
      double v = 0;
      if (j->k == K_PROD)
        v = 1;
      else if (j->k == K_MAX)
        v = -INFINITY;
      else if (j->k == K_MIN)
        v = INFINITY;
      *(double *)a = v;
      break;
    }
    case MX_CK_I: {
      int64_t v = 0;
      if (j->k == K_PROD || j->k == K_AND)
        v = 1;
      else if (j->k == K_MAX)
        v = j->uns ? 0 : INT64_MIN;
      else if (j->k == K_MIN)
        v = j->uns ? -1 : INT64_MAX;
      *(int64_t *)a = v;
      break;
    }
    default: {
      double complex v = 0;
      if (j->k == K_PROD)
        v = 1;
      else if (j->k == K_MAX)
        v = CMPLX(-INFINITY, -INFINITY);
      else if (j->k == K_MIN)
        v = CMPLX(INFINITY, INFINITY);
      *(double complex *)a = v;
      break;
    }
  }
}

/* complex order is lexicographic (real, then imaginary), as MLX */
static inline bool c_gt(double complex a, double complex b) {
  return creal(a) > creal(b) || (creal(a) == creal(b) && cimag(a) > cimag(b));
}

#define GT_I(a, b, uns) ((uns) ? (uint64_t)(a) > (uint64_t)(b) : (a) > (b))

/* Step macros: fold y into accumulator s (c: center). */
#define ST_SUM(s, y, c) s += y
#define ST_PROD(s, y, c) s *= y
#define ST_MAXF(s, y, c)        \
  do {                          \
    if (y > s || y != y) s = y; \
  } while (0)
#define ST_MINF(s, y, c)        \
  do {                          \
    if (y < s || y != y) s = y; \
  } while (0)
#define ST_SSD(s, y, c) \
  do {                  \
    double d_ = y - c;  \
    s += d_ * d_;       \
  } while (0)
#define ST_SSDC(s, y, c)                                \
  do {                                                  \
    double complex d_ = y - c;                          \
    s += creal(d_) * creal(d_) + cimag(d_) * cimag(d_); \
  } while (0)
#define ST_SEXP(s, y, c) s += exp(y - c)
#define ST_ISUM(s, y, c) s = (int64_t)((uint64_t)s + (uint64_t)y)
#define ST_IPROD(s, y, c) s = (int64_t)((uint64_t)s * (uint64_t)y)
#define ST_IMAX(s, y, c)        \
  do {                          \
    if (GT_I(y, s, uns)) s = y; \
  } while (0)
#define ST_IMIN(s, y, c)        \
  do {                          \
    if (GT_I(s, y, uns)) s = y; \
  } while (0)
#define ST_CMAX(s, y, c)   \
  do {                     \
    if (c_gt(y, s)) s = y; \
  } while (0)
#define ST_CMIN(s, y, c)   \
  do {                     \
    if (c_gt(s, y)) s = y; \
  } while (0)
#define ST_AND(s, y, c) s = s && (y != 0)
#define ST_OR(s, y, c) s = s || (y != 0)

/* RUN: all n values into *acc; COL: value i into acc[i] (center c[i]). */
#define LOOP_RUN(ST, AT, VT, CT)                       \
  do {                                                 \
    AT s_ = *(AT *)acc;                                \
    const VT *v_ = v;                                  \
    CT c_ = center ? *(const CT *)center : 0;          \
    for (int64_t i = 0; i < n; i++) ST(s_, v_[i], c_); \
    (void)c_;                                          \
    *(AT *)acc = s_;                                   \
  } while (0)
#define LOOP_COL(ST, AT, VT, CT)                                        \
  do {                                                                  \
    AT *s_ = acc;                                                       \
    const VT *v_ = v;                                                   \
    const CT *c_ = center;                                              \
    for (int64_t i = 0; i < n; i++) ST(s_[i], v_[i], (c_ ? c_[i] : 0)); \
    (void)c_;                                                           \
  } while (0)

/* One body for both modes: LOOP is LOOP_RUN or LOOP_COL. */
#define FOLD_BODY(LOOP)                                                  \
  switch (j->in_kind) {                                                  \
    case MX_CK_F:                                                        \
      switch (j->k) {                                                    \
        case K_SUM:                                                      \
          LOOP(ST_SUM, double, double, double);                          \
          break;                                                         \
        case K_PROD:                                                     \
          LOOP(ST_PROD, double, double, double);                         \
          break;                                                         \
        case K_MAX:                                                      \
          LOOP(ST_MAXF, double, double, double);                         \
          break;                                                         \
        case K_MIN:                                                      \
          LOOP(ST_MINF, double, double, double);                         \
          break;                                                         \
        case K_AND:                                                      \
          LOOP(ST_AND, int64_t, double, double);                         \
          break;                                                         \
        case K_OR:                                                       \
          LOOP(ST_OR, int64_t, double, double);                          \
          break;                                                         \
        case K_SSD:                                                      \
          LOOP(ST_SSD, double, double, double);                          \
          break;                                                         \
        case K_SEXP:                                                     \
          LOOP(ST_SEXP, double, double, double);                         \
          break;                                                         \
      }                                                                  \
      break;                                                             \
    case MX_CK_I:                                                        \
      switch (j->k) {                                                    \
        case K_SUM:                                                      \
          LOOP(ST_ISUM, int64_t, int64_t, int64_t);                      \
          break;                                                         \
        case K_PROD:                                                     \
          LOOP(ST_IPROD, int64_t, int64_t, int64_t);                     \
          break;                                                         \
        case K_MAX:                                                      \
          LOOP(ST_IMAX, int64_t, int64_t, int64_t);                      \
          break;                                                         \
        case K_MIN:                                                      \
          LOOP(ST_IMIN, int64_t, int64_t, int64_t);                      \
          break;                                                         \
        case K_AND:                                                      \
          LOOP(ST_AND, int64_t, int64_t, int64_t);                       \
          break;                                                         \
        case K_OR:                                                       \
          LOOP(ST_OR, int64_t, int64_t, int64_t);                        \
          break;                                                         \
        default:                                                         \
          break;                                                         \
      }                                                                  \
      break;                                                             \
    default:                                                             \
      switch (j->k) {                                                    \
        case K_SUM:                                                      \
          LOOP(ST_SUM, double complex, double complex, double complex);  \
          break;                                                         \
        case K_PROD:                                                     \
          LOOP(ST_PROD, double complex, double complex, double complex); \
          break;                                                         \
        case K_MAX:                                                      \
          LOOP(ST_CMAX, double complex, double complex, double complex); \
          break;                                                         \
        case K_MIN:                                                      \
          LOOP(ST_CMIN, double complex, double complex, double complex); \
          break;                                                         \
        case K_AND:                                                      \
          LOOP(ST_AND, int64_t, double complex, double complex);         \
          break;                                                         \
        case K_OR:                                                       \
          LOOP(ST_OR, int64_t, double complex, double complex);          \
          break;                                                         \
        case K_SSD:                                                      \
          LOOP(ST_SSDC, double, double complex, double complex);         \
          break;                                                         \
        default:                                                         \
          break;                                                         \
      }                                                                  \
      break;                                                             \
  }

static void fold_run_canon(const pass_t *j, void *acc, const void *v, int64_t n,
                           const void *center) {
  bool uns = j->uns;
  (void)uns;
  FOLD_BODY(LOOP_RUN)
}

static void fold_col_canon(const pass_t *j, void *acc, const void *v, int64_t n,
                           const void *center) {
  bool uns = j->uns;
  (void)uns;
  FOLD_BODY(LOOP_COL)
}

/* Fold n elements at x (stride s) into one accumulator. */
static void fold_run(const pass_t *j, void *acc, const char *x, int64_t s, int64_t n,
                     const void *center) {
  if (j->slot >= 0 && s == 1 && j->acc_kind == MX_CK_F) {
    double *a = acc;
    switch (j->k) {
      case K_SUM:
        *a += j->simd->row_sum[j->slot](x, n);
        return;
      case K_SEXP:
        *a += j->simd->row_sumexp[j->slot](x, n, (float)*(const double *)center);
        return;
      case K_MAX: {
        double m = j->simd->row_max[j->slot](x, n);
        if (m > *a || m != m) *a = m;
        return;
      }
      case K_MIN: {
        double m = j->simd->row_min[j->slot](x, n);
        if (m < *a || m != m) *a = m;
        return;
      }
      default:
        break;
    }
  }
  _Alignas(64) char buf[CHUNK * 16];
  for (int64_t i = 0; i < n; i += CHUNK) {
    int64_t m = n - i < CHUNK ? n - i : CHUNK;
    mx_ck_load(j->in_kind, j->t, x + i * s * (int64_t)j->isz, s, m, buf);
    fold_run_canon(j, acc, buf, m, center);
  }
}

/* Fold nr (<= 8) contiguous row segments of n elements into acc[0..n)
 * (generic path). */
static void fold_col(const pass_t *j, char *acc, const char *const *rows, int nr,
                     int64_t n, const char *center) {
  _Alignas(64) char buf[CHUNK * 16];
  size_t as = mx_ck_size(j->acc_kind), cs = mx_ck_size(j->in_kind);
  for (int r = 0; r < nr; r++)
    for (int64_t i = 0; i < n; i += CHUNK) {
      int64_t m = n - i < CHUNK ? n - i : CHUNK;
      mx_ck_load(j->in_kind, j->t, rows[r] + i * (int64_t)j->isz, 1, m, buf);
      fold_col_canon(j, acc + i * (int64_t)as, buf, m,
                     center ? center + i * (int64_t)cs : NULL);
    }
}

/* SIMD column kernels accumulate in float32; fold those into the float64
 * accumulators and reset them (one loop per op, so each vectorises). */
static void flush_f32(int k, double *acc, float *f, int64_t n) {
  if (k == K_SUM) {
    for (int64_t i = 0; i < n; i++) acc[i] += (double)f[i];
    memset(f, 0, (size_t)n * sizeof *f);
  } else if (k == K_MAX) {
    for (int64_t i = 0; i < n; i++) {
      double v = f[i];
      ST_MAXF(acc[i], v, 0);
      f[i] = -INFINITY;
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      double v = f[i];
      ST_MINF(acc[i], v, 0);
      f[i] = INFINITY;
    }
  }
}

/* ---- RUN mode ---- */

/* Outputs [ob, oe) of split s; reduced flat range [rb, re). */
static void run_outputs(const pass_t *j, int64_t ob, int64_t oe, int64_t s, int64_t rb,
                        int64_t re) {
  const mx_rplan *p = j->p;
  size_t as = mx_ck_size(j->acc_kind), cs = mx_ck_size(j->in_kind);
  int nr = p->nr;
  int64_t L = nr ? p->rshape[nr - 1] : 1, ls = nr ? p->rin[nr - 1] : 0;
  mx_walker kw;
  mx_walker_init(&kw, p->nk, p->kshape, p->kin, NULL, ob);
  for (int64_t o = ob; o < oe; o++, mx_walker_next(&kw)) {
    const char *base = j->base + kw.off0 * (int64_t)j->isz;
    char *acc = j->acc + (s * p->nout + o) * (int64_t)as;
    const void *center = j->center ? (const char *)j->center + o * (int64_t)cs : NULL;
    mx_walker rw;
    mx_walker_init(&rw, nr ? nr - 1 : 0, p->rshape, p->rin, NULL, rb / L);
    int64_t inner = rb % L;
    for (int64_t r = rb; r < re;) {
      int64_t m = L - inner < re - r ? L - inner : re - r;
      fold_run(j, acc, base + (rw.off0 + inner * ls) * (int64_t)j->isz, ls, m, center);
      r += m;
      inner = 0;
      mx_walker_next(&rw);
    }
  }
}

static void run_task_outputs(void *c, int64_t b, int64_t e) {
  const pass_t *j = c;
  run_outputs(j, b, e, 0, 0, j->p->nred);
}

static void split_range(const pass_t *j, int64_t s, int64_t *rb, int64_t *re) {
  int64_t nred = j->p->nred, per = (nred + j->nsplit - 1) / j->nsplit;
  *rb = s * per < nred ? s * per : nred;
  *re = *rb + per < nred ? *rb + per : nred;
}

static void run_task_split(void *c, int64_t b, int64_t e) {
  const pass_t *j = c;
  for (int64_t t = b; t < e; t++) {
    int64_t o = t / j->nsplit, s = t % j->nsplit, rb, re;
    split_range(j, s, &rb, &re);
    run_outputs(j, o, o + 1, s, rb, re);
  }
}

/* ---- COL mode ---- */

static void col_task(void *c, int64_t b, int64_t e) {
  const pass_t *j = c;
  const mx_rplan *p = j->p;
  size_t as = mx_ck_size(j->acc_kind), cs = mx_ck_size(j->in_kind);
  _Alignas(64) float facc[MAX_CB];
  for (int64_t t = b; t < e; t++) {
    int64_t s = t % j->nsplit, cbi = (t / j->nsplit) % j->ncb,
            q = t / (j->nsplit * j->ncb);
    int64_t c0 = cbi * j->cb, n = j->ncols - c0 < j->cb ? j->ncols - c0 : j->cb;
    mx_walker kw;
    mx_walker_init(&kw, p->nk - 1, p->kshape, p->kin, NULL, q);
    const char *base = j->base + (kw.off0 + c0) * (int64_t)j->isz;
    int64_t o0 = q * j->ncols + c0;
    char *acc = j->acc + (s * p->nout + o0) * (int64_t)as;
    const char *center = j->center ? (const char *)j->center + o0 * (int64_t)cs : NULL;
    int64_t rb, re;
    split_range(j, s, &rb, &re);
    mx_walker rw;
    mx_walker_init(&rw, p->nr, p->rshape, p->rin, NULL, rb);
    bool fast = j->slot >= 0 && j->acc_kind == MX_CK_F &&
                (j->k == K_SUM || j->k == K_MAX || j->k == K_MIN);
    const char *rows[8];
    int nrows = 0, group = 8;
    if (fast) {
      float id = j->k == K_SUM ? 0.0f : j->k == K_MAX ? -INFINITY : INFINITY;
      for (int64_t i = 0; i < n; i++) facc[i] = id;
    }
    int64_t since_flush = 0;
    for (int64_t r = rb; r < re; r++, mx_walker_next(&rw)) {
      rows[nrows++] = base + rw.off0 * (int64_t)j->isz;
      if (nrows < group && r + 1 < re) continue;
      if (!fast) {
        fold_col(j, acc, rows, nrows, n, center);
      } else {
        /* groups of 8 rows are combined in registers, then folded into the
         * float32 row of accumulators (facc, at most 16 KiB: stays in L1
         * while the rows stream through); sums are flushed to float64
         * every 32 rows (float32 partial sums of 32 values keep ~1e-6
         * relative error), max/min (exact in float32) only at the end */
        const mx_simd_table *sd = j->simd;
        if (j->k == K_SUM)
          sd->col_sum[j->slot](facc, rows, nrows, n);
        else if (j->k == K_MAX)
          sd->col_max[j->slot](facc, rows, nrows, n);
        else
          sd->col_min[j->slot](facc, rows, nrows, n);
        since_flush += nrows;
        if ((since_flush >= 32 && j->k == K_SUM) || r + 1 == re) {
          flush_f32(j->k, (double *)acc, facc, n);
          since_flush = 0;
        }
      }
      nrows = 0;
    }
  }
}

/* ---- a pass ---- */

static void merge_acc(const pass_t *j, void *a, const void *b) {
  switch (j->acc_kind) {
    case MX_CK_F: {
      double *x = a, y = *(const double *)b;
      switch (j->k) {
        case K_PROD:
          *x *= y;
          break;
        case K_MAX:
          ST_MAXF(*x, y, 0);
          break;
        case K_MIN:
          ST_MINF(*x, y, 0);
          break;
        default:
          *x += y;
          break;
      }
      break;
    }
    case MX_CK_I: {
      int64_t *x = a, y = *(const int64_t *)b;
      bool uns = j->uns;
      switch (j->k) {
        case K_SUM:
          ST_ISUM(*x, y, 0);
          break;
        case K_PROD:
          ST_IPROD(*x, y, 0);
          break;
        case K_MAX:
          ST_IMAX(*x, y, 0);
          break;
        case K_MIN:
          ST_IMIN(*x, y, 0);
          break;
        case K_AND:
          ST_AND(*x, y, 0);
          break;
        default:
          ST_OR(*x, y, 0);
          break;
      }
      break;
    }
    default: {
      double complex *x = a, y = *(const double complex *)b;
      switch (j->k) {
        case K_PROD:
          *x *= y;
          break;
        case K_MAX:
          ST_CMAX(*x, y, 0);
          break;
        case K_MIN:
          ST_CMIN(*x, y, 0);
          break;
        default:
          *x += y;
          break;
      }
      break;
    }
  }
}

/* Runs fold op k over the plan; writes nout accumulators (acc_kind) to
 * out_acc. */
static mx_status run_pass(const mx_rplan *p, const mx_array *in, int k, int in_kind,
                          int acc_kind, const void *center, void *out_acc) {
  pass_t j;
  memset(&j, 0, sizeof j);
  j.p = p;
  j.k = k;
  j.in_kind = in_kind;
  j.acc_kind = acc_kind;
  j.uns = in->dtype == MX_UINT64;
  j.t = in->dtype;
  j.base = mx_array_ptr(in);
  j.isz = mx_dtype_size(in->dtype);
  j.simd = mx_simd();
  j.slot = in_kind == MX_CK_F ? mx_simd_slot(in->dtype) : -1;
  j.center = center;
  j.nsplit = 1;
  size_t as = mx_ck_size(acc_kind);
  int64_t nout = p->nout, nred = p->nred;
  int P = mx_num_threads();
  if (P < 1) P = 1;

  j.col = p->nk >= 1 && p->kin[p->nk - 1] == 1 && p->kshape[p->nk - 1] >= 16 &&
          p->nr >= 1 && p->rin[p->nr - 1] != 1;
  int64_t ntasks;
  if (j.col) {
    j.ncols = p->kshape[p->nk - 1];
    j.nq = nout / j.ncols;
    /* Whole rows (up to 4096 columns) per task keep reads sequential;
     * parallelism comes from splitting the reduced rows, not the columns
     * (column blocks read short strided segments, which streams poorly). */
    j.cb = j.ncols < MAX_CB ? j.ncols : MAX_CB;
    j.ncb = (j.ncols + j.cb - 1) / j.cb;
    int64_t tasks = j.nq * j.ncb;
    if (tasks < 2 * P && nred >= 64) {
      int64_t want = (4 * P + tasks - 1) / tasks;
      int64_t maxs = nred / 32;
      j.nsplit = want < maxs ? want : maxs;
      if (j.nsplit < 1) j.nsplit = 1;
    }
    ntasks = tasks * j.nsplit;
  } else {
    if (nout < 2 * P && nred >= 65536) {
      int64_t want = (4 * P + nout - 1) / nout;
      int64_t maxs = nred / 16384;
      j.nsplit = want < maxs ? want : maxs;
      if (j.nsplit < 1) j.nsplit = 1;
    }
    ntasks = nout * j.nsplit;
  }

  char *acc = out_acc;
  if (j.nsplit > 1) {
    acc = malloc((size_t)(j.nsplit * nout) * as);
    if (!acc) return mx_set_error(MX_ERR_NOMEM, "[reduce] out of memory");
  }
  j.acc = acc;
  for (int64_t i = 0; i < j.nsplit * nout; i++) acc_identity(&j, acc + i * (int64_t)as);
  if (nred > 0 && nout > 0) {
    if (j.col) {
      int64_t per = (nred * j.cb) / j.nsplit;
      int64_t grain = per >= 65536 ? 1 : 65536 / (per ? per : 1);
      mx_parallel_for(ntasks, grain, col_task, &j);
    } else if (j.nsplit > 1) {
      mx_parallel_for(ntasks, 1, run_task_split, &j);
    } else {
      int64_t grain = nred >= 65536 ? 1 : 65536 / nred;
      mx_parallel_for(nout, grain, run_task_outputs, &j);
    }
  }
  if (j.nsplit > 1) {
    for (int64_t o = 0; o < nout; o++) {
      char *dst = (char *)out_acc + o * (int64_t)as;
      memcpy(dst, acc + o * (int64_t)as, as);
      for (int64_t s = 1; s < j.nsplit; s++)
        merge_acc(&j, dst, acc + (s * nout + o) * (int64_t)as);
    }
    free(acc);
  }
  return MX_OK;
}

/* ---- the kernel ---- */

mx_status mx_cpu_reduce(mx_node *n, mx_array **in, mx_array **out) {
  const mx_reduce_params *prm = MX_PARAMS(mx_reduce_params, n);
  mx_array *a = in[0], *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  mx_rplan p;
  /* every op here is order independent: reduced dims may be reordered */
  mx_rplan_init(&p, a, prm->axes, NULL, true);
  int64_t nout = p.nout;
  if (nout == 0) return MX_OK;
  int nat = mx_ck_of(a->dtype);
  int op = prm->op;
  /* accumulators: pass 1 (acc1, 16 bytes only for complex) and pass 2
   * (acc2, float64) */
  void *acc1 = malloc((size_t)nout * mx_ck_size(nat)), *acc2 = NULL;
  if (!acc1) return mx_set_error(MX_ERR_NOMEM, "[reduce] out of memory");
  int kind1 = nat, kind2 = MX_CK_F;
  switch (op) {
    case MX_REDUCE_SUM:
      rc = run_pass(&p, a, K_SUM, nat, nat, NULL, acc1);
      break;
    case MX_REDUCE_PROD:
      rc = run_pass(&p, a, K_PROD, nat, nat, NULL, acc1);
      break;
    case MX_REDUCE_MAX:
      rc = run_pass(&p, a, K_MAX, nat, nat, NULL, acc1);
      break;
    case MX_REDUCE_MIN:
      rc = run_pass(&p, a, K_MIN, nat, nat, NULL, acc1);
      break;
    case MX_REDUCE_AND:
    case MX_REDUCE_OR:
      kind1 = MX_CK_I;
      rc = run_pass(&p, a, op == MX_REDUCE_AND ? K_AND : K_OR, nat, MX_CK_I, NULL, acc1);
      break;
    default: {
      /* mean/var/std in float64 (complex for complex input); logsumexp:
       * max first */
      kind1 = nat == MX_CK_C ? MX_CK_C : MX_CK_F;
      bool lse = op == MX_REDUCE_LOGSUMEXP;
      rc = run_pass(&p, a, lse ? K_MAX : K_SUM, kind1, kind1, NULL, acc1);
      if (rc != MX_OK || op == MX_REDUCE_MEAN || nout == 0) break;
      /* acc1 -> center (mean) for var/std */
      if (!lse) {
        for (int64_t i = 0; i < nout; i++) {
          if (kind1 == MX_CK_C)
            ((double complex *)acc1)[i] /= (double)p.nred;
          else
            ((double *)acc1)[i] /= (double)p.nred;
        }
      }
      acc2 = malloc((size_t)nout * 8);
      if (!acc2) {
        rc = mx_set_error(MX_ERR_NOMEM, "[reduce] out of memory");
        break;
      }
      rc = run_pass(&p, a, lse ? K_SEXP : K_SSD, kind1, MX_CK_F, acc1, acc2);
      break;
    }
  }
  if (rc != MX_OK) {
    free(acc1);
    free(acc2);
    return rc;
  }
  /* finalise into acc1 (kind1) or acc2 (float64) and store */
  void *res = acc1;
  int rkind = kind1;
  double N = (double)p.nred;
  switch (op) {
    case MX_REDUCE_MEAN:
      for (int64_t i = 0; i < nout; i++) {
        if (kind1 == MX_CK_C)
          ((double complex *)acc1)[i] /= N;
        else
          ((double *)acc1)[i] /= N;
      }
      break;
    case MX_REDUCE_VAR:
    case MX_REDUCE_STD: {
      double d = N - prm->ddof > 0 ? N - prm->ddof : 0;
      double *v = acc2;
      for (int64_t i = 0; i < nout; i++) {
        v[i] /= d;
        if (op == MX_REDUCE_STD) v[i] = sqrt(v[i]);
      }
      res = acc2;
      rkind = kind2;
      break;
    }
    case MX_REDUCE_LOGSUMEXP: {
      double *m = acc1, *s = acc2;
      for (int64_t i = 0; i < nout; i++) s[i] = isinf(m[i]) ? m[i] : m[i] + log(s[i]);
      res = acc2;
      rkind = kind2;
      break;
    }
    default:
      break;
  }
  mx_ck_store(rkind, res, nout, o->dtype, mx_array_ptr(o), 1);
  free(acc1);
  free(acc2);
  return MX_OK;
}
