/* sort.c: CPU kernels of Sort, ArgSort, Partition and ArgPartition along
 * one axis.
 *
 * Each line is loaded as items {key1, key2, index}: keys are unsigned
 * integers whose order is the value order (floats: sign-flip transform with
 * -0.0 folded into +0.0 and every NaN mapped to the largest key, so NaN
 * sorts last like numpy; signed ints: sign bit flipped; complex: real part
 * then imaginary part). Sorting is stable (so is argsort): an LSD radix
 * sort for lines of 256 or more real values, a merge sort otherwise;
 * partition is a three-way quickselect that falls back to the
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

/* ---- stable LSD radix sort, 8-bit digits ----
 * Long lines of real values are sorted as compact {key, index} pairs: 32-bit
 * keys for dtypes of up to 4 bytes, 64-bit keys otherwise. One histogram
 * pass counts every digit; digits equal in all keys are skipped. tmp holds
 * n pairs. */
typedef struct {
  uint32_t k, idx;
} pair32;
typedef struct {
  uint64_t k;
  uint32_t idx;
} pair64;

#define RADIX_BODY(PT, NB)                                                              \
  do {                                                                                  \
    int64_t hist[NB][256];                                                              \
    memset(hist, 0, sizeof hist);                                                       \
    for (int64_t i = 0; i < n; i++)                                                     \
      for (int d = 0; d < NB; d++) hist[d][(a[i].k >> (8 * d)) & 255]++;                \
    PT *src = a, *dst = tmp;                                                            \
    for (int d = 0; d < NB; d++) {                                                      \
      if (hist[d][(a[0].k >> (8 * d)) & 255] == n) continue;                            \
      int64_t pos[256], sum = 0;                                                        \
      for (int b = 0; b < 256; b++) {                                                   \
        pos[b] = sum;                                                                   \
        sum += hist[d][b];                                                              \
      }                                                                                 \
      for (int64_t i = 0; i < n; i++) dst[pos[(src[i].k >> (8 * d)) & 255]++] = src[i]; \
      PT *t_ = src;                                                                     \
      src = dst;                                                                        \
      dst = t_;                                                                         \
    }                                                                                   \
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);                                \
  } while (0)

static void radix32(pair32 *a, pair32 *tmp, int64_t n) { RADIX_BODY(pair32, 4); }
static void radix64(pair64 *a, pair64 *tmp, int64_t n) { RADIX_BODY(pair64, 8); }

static inline uint32_t key_f32(float v) {
  if (v != v) return UINT32_MAX;
  if (v == 0) v = 0;
  uint32_t b;
  memcpy(&b, &v, 4);
  return (b >> 31) ? ~b : b | (1u << 31);
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
    if (item_lt(&x, &y))
      pv = item_lt(&y, &z) ? y : item_lt(&x, &z) ? z : x;
    else
      pv = item_lt(&x, &z) ? x : item_lt(&y, &z) ? z : y;
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
    if (kth < lt)
      hi = lt;
    else if (kth >= gt)
      lo = gt;
    else
      return;
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

/* Long real lines: radix sort of {key, index} pairs; writes the order to
 * idx. */
static bool radix_line(const sort_job *j, const char *x, void *pairs, void *tmp,
                       uint32_t *idx) {
  _Alignas(64) char buf[CHUNK * 16];
  bool narrow = mx_dtype_size(j->t) <= 4;
  bool sgn = mx_dtype_kind_of(j->t) == MX_KIND_SIGNED;
  pair32 *p32 = pairs;
  pair64 *p64 = pairs;
  for (int64_t i0 = 0; i0 < j->L; i0 += CHUNK) {
    int64_t m = j->L - i0 < CHUNK ? j->L - i0 : CHUNK;
    mx_ck_load(j->kind, j->t, x + i0 * j->ls * (int64_t)j->isz, j->ls, m, buf);
    for (int64_t i = 0; i < m; i++) {
      uint32_t at = (uint32_t)(i0 + i);
      if (j->kind == MX_CK_F) {
        double v = ((double *)buf)[i];
        if (narrow)
          p32[at] = (pair32){key_f32((float)v), at};
        else
          p64[at] = (pair64){key_f64(v), at};
      } else {
        int64_t v = ((int64_t *)buf)[i];
        if (narrow)
          p32[at] = (pair32){sgn ? (uint32_t)v ^ (1u << 31) : (uint32_t)v, at};
        else
          p64[at] = (pair64){sgn ? (uint64_t)v ^ (1ull << 63) : (uint64_t)v, at};
      }
    }
  }
  if (narrow) {
    radix32(p32, tmp, j->L);
    for (int64_t i = 0; i < j->L; i++) idx[i] = p32[i].idx;
  } else {
    radix64(p64, tmp, j->L);
    for (int64_t i = 0; i < j->L; i++) idx[i] = p64[i].idx;
  }
  return true;
}

/* out[i] = in[order[i]] for elements of isz bytes (strides in elements) */
static void gather(char *y, int64_t ys, const char *x, int64_t xs, size_t isz,
                   const uint32_t *order, int64_t ostride, int64_t n) {
#define GATHER(T)                                                        \
  for (int64_t i = 0; i < n; i++)                                        \
    ((T *)y)[i * ys] = ((const T *)x)[(int64_t)order[i * ostride] * xs]; \
  break;
  switch (isz) {
    case 1:
      GATHER(uint8_t)
    case 2:
      GATHER(uint16_t)
    case 4:
      GATHER(uint32_t)
    case 8:
      GATHER(uint64_t)
    default:
      for (int64_t i = 0; i < n; i++)
        memcpy(y + i * ys * (int64_t)isz,
               x + (int64_t)order[i * ostride] * xs * (int64_t)isz, isz);
  }
#undef GATHER
}

static void sort_task(void *c, int64_t b, int64_t e) {
  sort_job *j = c;
  const mx_rplan *p = j->p;
  /* scratch from the array allocator (cached: no page faults per call).
   * items (24 bytes each) also hold the radix path's pairs (<= 16 bytes)
   * followed by the order (4 bytes) */
  mx_buffer *sb = mx_buffer_alloc((size_t)j->L * 2 * sizeof(item));
  if (!sb) {
    j->failed = true;
    return;
  }
  item *it = sb->host, *tmp = it + j->L;
  mx_walker kw;
  mx_walker_init(&kw, p->nk, p->kshape, p->kin, p->kout, b);
  for (int64_t o = b; o < e; o++, mx_walker_next(&kw)) {
    const char *x = j->in + kw.off0 * (int64_t)j->isz;
    char *y = j->out + kw.off1 * (int64_t)j->osz;
    const uint32_t *order;
    int64_t ostride; /* in uint32 units */
    if (!j->partition && j->L >= 256 && j->kind != MX_CK_C) {
      uint32_t *idx = (uint32_t *)(it) + 4 * j->L;
      radix_line(j, x, it, tmp, idx);
      order = idx;
      ostride = 1;
    } else {
      load_items(j, x, it);
      if (j->partition)
        select_kth(it, tmp, j->L, j->kth);
      else
        merge_sort(it, tmp, j->L);
      order = &it[0].idx;
      ostride = sizeof(item) / sizeof(uint32_t);
    }
    if (j->want_idx) {
      for (int64_t i = 0; i < j->L; i++) ((uint32_t *)y)[i * j->lo] = order[i * ostride];
    } else {
      gather(y, j->lo, x, j->ls, j->isz, order, ostride, j->L);
    }
  }
  mx_buffer_release(sb);
}

static mx_status run_sort(mx_node *n, mx_array **in, mx_array **out, bool partition,
                          bool want_idx) {
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
  if (j.failed) return mx_set_error(MX_ERR_NOMEM, "[%s] out of memory", n->prim->name);
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
