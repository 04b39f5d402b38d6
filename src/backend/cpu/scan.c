/* scan.c: CPU kernel of Scan (cumsum, cumprod, cummax, cummin along one
 * axis; reverse and inclusive/exclusive). An exclusive scan writes the
 * identity first and each partial result one place later.
 *
 * Values are scanned in a canonical kind (float64, int64 with wrap-around,
 * complex float64) and stored in the output dtype after every step, so an
 * int8 cumsum wraps like MLX's int8 accumulator. Two layouts:
 *   RUN  one line at a time along the axis (any strides);
 *   COL  when the axis is not the innermost one and the inner dims are
 *        contiguous: whole row segments are combined at once, which keeps
 *        memory access sequential for scans over leading axes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../primitives/reduce.h"
#include "dtypes.h"
#include "reduce_common.h"

#define CHUNK 256

typedef struct {
  const mx_rplan *p;
  int op, kind;
  bool uns, inclusive, reverse;
  mx_dtype t, ot;
  const char *in;
  char *out;
  size_t isz, osz;
  int64_t L, ls, lo; /* axis length, input and output strides along it */
  unsigned char ident[16];
  /* COL mode */
  int64_t ncols, cb, ncb;
} scan_job;

static inline bool c_gt(double complex a, double complex b) {
  return creal(a) > creal(b) || (creal(a) == creal(b) && cimag(a) > cimag(b));
}

/* Type limits of an integer dtype (for exclusive cummax/cummin). */
static int64_t int_min(mx_dtype t) {
  switch (t) {
    case MX_INT8:
      return INT8_MIN;
    case MX_INT16:
      return INT16_MIN;
    case MX_INT32:
      return INT32_MIN;
    case MX_INT64:
      return INT64_MIN;
    default:
      return 0; /* unsigned and bool */
  }
}
static int64_t int_max(mx_dtype t) {
  switch (t) {
    case MX_BOOL:
      return 1;
    case MX_UINT8:
      return UINT8_MAX;
    case MX_UINT16:
      return UINT16_MAX;
    case MX_UINT32:
      return UINT32_MAX;
    case MX_UINT64:
      return -1; /* all ones, compared unsigned */
    case MX_INT8:
      return INT8_MAX;
    case MX_INT16:
      return INT16_MAX;
    case MX_INT32:
      return INT32_MAX;
    default:
      return INT64_MAX;
  }
}

static void identity(scan_job *j) {
  memset(j->ident, 0, sizeof j->ident);
  if (j->kind == MX_CK_F) {
    double v = j->op == MX_SCAN_SUM    ? 0
               : j->op == MX_SCAN_PROD ? 1
               : j->op == MX_SCAN_MAX  ? -INFINITY
                                       : INFINITY;
    memcpy(j->ident, &v, 8);
  } else if (j->kind == MX_CK_I) {
    int64_t v = j->op == MX_SCAN_SUM    ? 0
                : j->op == MX_SCAN_PROD ? 1
                : j->op == MX_SCAN_MAX  ? int_min(j->t)
                                        : int_max(j->t);
    memcpy(j->ident, &v, 8);
  } else {
    double complex v = j->op == MX_SCAN_SUM    ? 0
                       : j->op == MX_SCAN_PROD ? 1
                       : j->op == MX_SCAN_MAX  ? CMPLX(-INFINITY, -INFINITY)
                                               : CMPLX(INFINITY, INFINITY);
    memcpy(j->ident, &v, 16);
  }
}

/* Combine v into acc elementwise (acc step as: 0 = one carried value) and
 * leave the output value in v: acc after (inclusive) or before (exclusive)
 * each element. */
#define SCAN_BODY(T, STEP)             \
  do {                                 \
    T *a_ = acc;                       \
    T *v_ = v;                         \
    for (int64_t i = 0; i < n; i++) {  \
      T *s_ = a_ + i * as;             \
      T y_ = v_[i];                    \
      T prev_ = *s_;                   \
      STEP(*s_, y_);                   \
      v_[i] = inclusive ? *s_ : prev_; \
    }                                  \
  } while (0)

#define S_SUM(s, y) s += y
#define S_PROD(s, y) s *= y
#define S_MAXF(s, y)            \
  do {                          \
    if (y > s || y != y) s = y; \
  } while (0)
#define S_MINF(s, y)            \
  do {                          \
    if (y < s || y != y) s = y; \
  } while (0)
#define S_ISUM(s, y) s = (int64_t)((uint64_t)s + (uint64_t)y)
#define S_IPROD(s, y) s = (int64_t)((uint64_t)s * (uint64_t)y)
#define S_IMAX(s, y)                                    \
  do {                                                  \
    if (uns ? (uint64_t)y > (uint64_t)s : y > s) s = y; \
  } while (0)
#define S_IMIN(s, y)                                    \
  do {                                                  \
    if (uns ? (uint64_t)y < (uint64_t)s : y < s) s = y; \
  } while (0)
#define S_CMAX(s, y)       \
  do {                     \
    if (c_gt(y, s)) s = y; \
  } while (0)
#define S_CMIN(s, y)       \
  do {                     \
    if (c_gt(s, y)) s = y; \
  } while (0)

static void scan_values(const scan_job *j, void *acc, int64_t as, void *v, int64_t n) {
  bool inclusive = j->inclusive, uns = j->uns;
  (void)uns;
  switch (j->kind) {
    case MX_CK_F:
      switch (j->op) {
        case MX_SCAN_SUM:
          SCAN_BODY(double, S_SUM);
          break;
        case MX_SCAN_PROD:
          SCAN_BODY(double, S_PROD);
          break;
        case MX_SCAN_MAX:
          SCAN_BODY(double, S_MAXF);
          break;
        default:
          SCAN_BODY(double, S_MINF);
          break;
      }
      break;
    case MX_CK_I:
      switch (j->op) {
        case MX_SCAN_SUM:
          SCAN_BODY(int64_t, S_ISUM);
          break;
        case MX_SCAN_PROD:
          SCAN_BODY(int64_t, S_IPROD);
          break;
        case MX_SCAN_MAX:
          SCAN_BODY(int64_t, S_IMAX);
          break;
        default:
          SCAN_BODY(int64_t, S_IMIN);
          break;
      }
      break;
    default:
      switch (j->op) {
        case MX_SCAN_SUM:
          SCAN_BODY(double complex, S_SUM);
          break;
        case MX_SCAN_PROD:
          SCAN_BODY(double complex, S_PROD);
          break;
        case MX_SCAN_MAX:
          SCAN_BODY(double complex, S_CMAX);
          break;
        default:
          SCAN_BODY(double complex, S_CMIN);
          break;
      }
      break;
  }
}

/* ---- RUN: whole lines ---- */
static void run_task(void *c, int64_t b, int64_t e) {
  const scan_job *j = c;
  const mx_rplan *p = j->p;
  _Alignas(64) char buf[CHUNK * 16];
  _Alignas(16) unsigned char acc[16];
  mx_walker kw;
  mx_walker_init(&kw, p->nk, p->kshape, p->kin, p->kout, b);
  int64_t L = j->L, ls = j->ls, lo = j->lo;
  for (int64_t o = b; o < e; o++, mx_walker_next(&kw)) {
    const char *x = j->in + kw.off0 * (int64_t)j->isz;
    char *y = j->out + kw.off1 * (int64_t)j->osz;
    if (j->reverse) {
      x += (L - 1) * ls * (int64_t)j->isz;
      y += (L - 1) * lo * (int64_t)j->osz;
      ls = -j->ls;
      lo = -j->lo;
    }
    memcpy(acc, j->ident, sizeof acc);
    for (int64_t i = 0; i < L; i += CHUNK) {
      int64_t m = L - i < CHUNK ? L - i : CHUNK;
      mx_ck_load(j->kind, j->t, x + i * ls * (int64_t)j->isz, ls, m, buf);
      scan_values(j, acc, 0, buf, m);
      mx_ck_store(j->kind, buf, m, j->ot, y + i * lo * (int64_t)j->osz, lo);
    }
    ls = j->ls;
    lo = j->lo;
  }
}

/* ---- COL: row segments along the axis ---- */
static void col_task(void *c, int64_t b, int64_t e) {
  const scan_job *j = c;
  const mx_rplan *p = j->p;
  size_t ks = mx_ck_size(j->kind);
  _Alignas(64) char buf[CHUNK * 16];
  _Alignas(64) char acc[CHUNK * 16];
  for (int64_t t = b; t < e; t++) {
    int64_t q = t / j->ncb, c0 = (t % j->ncb) * j->cb;
    int64_t nc = j->ncols - c0 < j->cb ? j->ncols - c0 : j->cb;
    mx_walker kw;
    mx_walker_init(&kw, p->nk - 1, p->kshape, p->kin, p->kout, q);
    for (int64_t cc = 0; cc < nc; cc += CHUNK) {
      int64_t m = nc - cc < CHUNK ? nc - cc : CHUNK;
      const char *x = j->in + (kw.off0 + c0 + cc) * (int64_t)j->isz;
      char *y = j->out + (kw.off1 + c0 + cc) * (int64_t)j->osz;
      for (int64_t i = 0; i < m; i++) memcpy(acc + i * (int64_t)ks, j->ident, ks);
      for (int64_t l0 = 0; l0 < j->L; l0++) {
        int64_t l = j->reverse ? j->L - 1 - l0 : l0;
        mx_ck_load(j->kind, j->t, x + l * j->ls * (int64_t)j->isz, 1, m, buf);
        scan_values(j, acc, 1, buf, m);
        mx_ck_store(j->kind, buf, m, j->ot, y + l * j->lo * (int64_t)j->osz, 1);
      }
    }
  }
}

mx_status mx_cpu_scan(mx_node *n, mx_array **in, mx_array **out) {
  const mx_scan_params *prm = MX_PARAMS(mx_scan_params, n);
  mx_array *a = in[0], *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;
  mx_rplan p;
  mx_rplan_init(&p, a, 1u << prm->axis, o->strides, false);
  scan_job j;
  memset(&j, 0, sizeof j);
  j.p = &p;
  j.op = prm->op;
  j.kind = mx_ck_of(a->dtype);
  j.uns = a->dtype == MX_UINT64;
  j.inclusive = prm->inclusive;
  j.reverse = prm->reverse;
  j.t = a->dtype;
  j.ot = o->dtype;
  j.in = mx_array_ptr(a);
  j.out = mx_array_ptr(o);
  j.isz = mx_dtype_size(a->dtype);
  j.osz = mx_dtype_size(o->dtype);
  j.L = p.nr ? p.rshape[0] : 1;
  j.ls = p.nr ? p.rin[0] : 0;
  j.lo = p.nr ? p.rout[0] : 0;
  identity(&j);
  bool col = p.nk >= 1 && p.kin[p.nk - 1] == 1 && p.kout[p.nk - 1] == 1 &&
             p.kshape[p.nk - 1] >= 16 && j.ls != 1;
  if (col) {
    j.ncols = p.kshape[p.nk - 1];
    j.cb = j.ncols < 1024 ? j.ncols : 1024;
    j.ncb = (j.ncols + j.cb - 1) / j.cb;
    int64_t tasks = (p.nout / j.ncols) * j.ncb;
    int64_t per = j.cb * j.L;
    mx_parallel_for(tasks, per >= 32768 ? 1 : 32768 / per, col_task, &j);
  } else {
    mx_parallel_for(p.nout, j.L >= 32768 ? 1 : 32768 / j.L, run_task, &j);
  }
  return MX_OK;
}
