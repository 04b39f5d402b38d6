/* sort.c: CPU kernels of Sort, ArgSort, Partition and ArgPartition along
 * one axis.
 *
 * Each line is loaded as items {key1, key2, index}: keys are unsigned
 * integers whose order is the value order (floats: sign-flip transform with
 * -0.0 folded into +0.0 and every NaN mapped to the largest key, so NaN
 * sorts last like numpy; signed ints: sign bit flipped; complex: real part
 * then imaginary part). Sorting is a stable merge sort (so argsort is
 * stable); partition is a three-way quickselect that falls back to the
 * merge sort on bad pivots. Values are written by index from the input, so
 * NaN payloads and -0.0 survive. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../primitives/reduce.h"
#include "dtypes.h"
#include "reduce_common.h"

#define CHUNK 256

typedef struct {
  uint64_t k1, k2;
  uint32_t idx;
} item;

static inline bool item_lt(const item *a, const item *b) {
  return a->k1 < b->k1 || (a->k1 == b->k1 && a->k2 < b->k2);
}

static inline uint64_t key_f64(double v) {
  if (v != v) return UINT64_MAX;
  if (v == 0) v = 0; /* -0.0 -> +0.0 */
  uint64_t b;
  memcpy(&b, &v, 8);
  return (b >> 63) ? ~b : b | (1ull << 63);
}

/* ---- stable merge sort ---- */
static void insertion(item *a, int64_t n) {
  for (int64_t i = 1; i < n; i++) {
    item x = a[i];
    int64_t j = i - 1;
    while (j >= 0 && item_lt(&x, &a[j])) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = x;
  }
}

static void merge_sort(item *a, item *tmp, int64_t n) {
  if (n <= 24) {
    insertion(a, n);
    return;
  }
  int64_t h = n / 2;
  merge_sort(a, tmp, h);
  merge_sort(a + h, tmp, n - h);
  if (!item_lt(&a[h], &a[h - 1])) return; /* already in order */
  memcpy(tmp, a, (size_t)h * sizeof *a);
  int64_t i = 0, j = h, k = 0;
  while (i < h && j < n) a[k++] = item_lt(&a[j], &tmp[i]) ? a[j++] : tmp[i++];
  while (i < h) a[k++] = tmp[i++];
}

/* ---- quickselect: a[kth] in place, smaller before, larger after ---- */
static void select_kth(item *a, item *tmp, int64_t n, int64_t kth) {
  int64_t lo = 0, hi = n; /* search [lo, hi) */
  int budget = 64;
  while (hi - lo > 24) {
    if (--budget == 0) {
      merge_sort(a + lo, tmp, hi - lo);
      return;
    }
    /* median of three as pivot */
    item x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1], pv;
    if (item_lt(&x, &y)) pv = item_lt(&y, &z) ? y : item_lt(&x, &z) ? z : x;
    else pv = item_lt(&x, &z) ? x : item_lt(&y, &z) ? z : y;
    /* three-way partition: [lo, lt) < pv, [lt, gt) == pv, [gt, hi) > pv */
    int64_t lt = lo, i = lo, gt = hi;
    while (i < gt) {
      if (item_lt(&a[i], &pv)) {
        item t = a[lt];
        a[lt++] = a[i];
        a[i++] = t;
      } else if (item_lt(&pv, &a[i])) {
        item t = a[--gt];
        a[gt] = a[i];
        a[i] = t;
      } else {
        i++;
      }
    }
    if (kth < lt) hi = lt;
    else if (kth >= gt) lo = gt;
    else return;
  }
  insertion(a + lo, hi - lo);
}

typedef struct {
  const mx_rplan *p;
  bool partition, want_idx;
  int kth, kind;
  mx_dtype t;
  const char *in;
  char *out;
  size_t isz, osz;
  int64_t L, ls, lo;
  bool failed;
} sort_job;

static void load_items(const sort_job *j, const char *x, item *it) {
  _Alignas(64) char buf[CHUNK * 16];
  bool uns = j->t == MX_UINT64 || mx_dtype_kind_of(j->t) != MX_KIND_SIGNED;
  for (int64_t i0 = 0; i0 < j->L; i0 += CHUNK) {
    int64_t m = j->L - i0 < CHUNK ? j->L - i0 : CHUNK;
    mx_ck_load(j->kind, j->t, x + i0 * j->ls * (int64_t)j->isz, j->ls, m, buf);
    for (int64_t i = 0; i < m; i++) {
      item *e = &it[i0 + i];
      e->idx = (uint32_t)(i0 + i);
      e->k2 = 0;
      if (j->kind == MX_CK_F) {
        e->k1 = key_f64(((double *)buf)[i]);
      } else if (j->kind == MX_CK_I) {
        uint64_t v = (uint64_t)((int64_t *)buf)[i];
        e->k1 = uns ? v : v ^ (1ull << 63);
      } else {
        double complex v = ((double complex *)buf)[i];
        e->k1 = key_f64(creal(v));
        e->k2 = key_f64(cimag(v));
      }
    }
  }
}

static void sort_task(void *c, int64_t b, int64_t e) {
  sort_job *j = c;
  const mx_rplan *p = j->p;
  item *it = malloc((size_t)j->L * sizeof *it);
  item *tmp = malloc((size_t)(j->L / 2 + 1) * sizeof *tmp);
  if (!it || !tmp) {
    free(it);
    free(tmp);
    j->failed = true;
    return;
  }
  mx_walker kw;
  mx_walker_init(&kw, p->nk, p->kshape, p->kin, p->kout, b);
  for (int64_t o = b; o < e; o++, mx_walker_next(&kw)) {
    const char *x = j->in + kw.off0 * (int64_t)j->isz;
    char *y = j->out + kw.off1 * (int64_t)j->osz;
    load_items(j, x, it);
    if (j->partition) select_kth(it, tmp, j->L, j->kth);
    else merge_sort(it, tmp, j->L);
    for (int64_t i = 0; i < j->L; i++) {
      char *dst = y + i * j->lo * (int64_t)j->osz;
      if (j->want_idx)
        *(uint32_t *)dst = it[i].idx;
      else
        memcpy(dst, x + (int64_t)it[i].idx * j->ls * (int64_t)j->isz, j->isz);
    }
  }
  free(it);
  free(tmp);
}

static mx_status run_sort(mx_node *n, mx_array **in, mx_array **out,
                          bool partition, bool want_idx) {
  const mx_sort_params *prm = MX_PARAMS(mx_sort_params, n);
  mx_array *a = in[0], *o = out[0];
  mx_status rc = mx_array_alloc(o);
  if (rc != MX_OK) return rc;
  if (o->size == 0) return MX_OK;
  mx_rplan p;
  mx_rplan_init(&p, a, 1u << prm->axis, o->strides, false);
  sort_job j;
  memset(&j, 0, sizeof j);
  j.p = &p;
  j.partition = partition;
  j.want_idx = want_idx;
  j.kth = prm->kth;
  j.kind = mx_ck_of(a->dtype);
  j.t = a->dtype;
  j.in = mx_array_ptr(a);
  j.out = mx_array_ptr(o);
  j.isz = mx_dtype_size(a->dtype);
  j.osz = mx_dtype_size(o->dtype);
  j.L = p.nr ? p.rshape[0] : 1;
  j.ls = p.nr ? p.rin[0] : 0;
  j.lo = p.nr ? p.rout[0] : 0;
  if (j.kth >= j.L) j.kth = (int)j.L - 1; /* axis of size 1 dropped */
  int64_t grain = j.L >= 4096 ? 1 : 4096 / j.L;
  mx_parallel_for(p.nout, grain, sort_task, &j);
  if (j.failed)
    return mx_set_error(MX_ERR_NOMEM, "[%s] out of memory", n->prim->name);
  return MX_OK;
}

mx_status mx_cpu_sort(mx_node *n, mx_array **in, mx_array **out) {
  return run_sort(n, in, out, false, false);
}
mx_status mx_cpu_argsort(mx_node *n, mx_array **in, mx_array **out) {
  return run_sort(n, in, out, false, true);
}
mx_status mx_cpu_partition(mx_node *n, mx_array **in, mx_array **out) {
  return run_sort(n, in, out, true, false);
}
mx_status mx_cpu_argpartition(mx_node *n, mx_array **in, mx_array **out) {
  return run_sort(n, in, out, true, true);
}
