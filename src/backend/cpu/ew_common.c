/* ew_common.c: see ew_common.h. */
#include "ew_common.h"

#include <stdlib.h>
#include <string.h>

/* Strides of a dense layout of `shape`: sorted by stride the dims of size
 * > 1 form a row-major block. */
static bool dense(const int *shape, const int64_t *strides, int nd) {
  int idx[MX_MAX_NDIM], m = 0;
  for (int d = 0; d < nd; d++) {
    if (shape[d] == 1) continue;
    if (strides[d] <= 0) return false;
    idx[m++] = d;
  }
  /* insertion sort by decreasing stride (nd <= 16) */
  for (int i = 1; i < m; i++)
    for (int j = i; j > 0 && strides[idx[j]] > strides[idx[j - 1]]; j--) {
      int t = idx[j];
      idx[j] = idx[j - 1];
      idx[j - 1] = t;
    }
  int64_t expect = 1;
  for (int i = m - 1; i >= 0; i--) {
    if (strides[idx[i]] != expect) return false;
    expect *= shape[idx[i]];
  }
  return true;
}

mx_status mx_ew_alloc_out(mx_array *out, mx_array *const *in, int nin) {
  mx_status rc = mx_array_alloc(out);
  if (rc != MX_OK || out->size <= 1) return rc;
  const int64_t *layout = NULL;
  int64_t st[MX_ITER_MAX_OPS][MX_MAX_NDIM];
  for (int k = 0; k < nin && k < MX_ITER_MAX_OPS; k++) {
    mx_broadcast_strides(in[k], out->shape, out->ndim, st[k]);
    bool spans = true;
    for (int d = 0; d < out->ndim; d++)
      if (out->shape[d] > 1 && st[k][d] == 0) spans = false;
    if (!spans) continue; /* broadcast operands follow any layout */
    if (!layout) {
      layout = st[k];
    } else {
      for (int d = 0; d < out->ndim; d++)
        if (out->shape[d] > 1 && st[k][d] != layout[d]) return MX_OK;
    }
  }
  if (!layout || !dense(out->shape, layout, out->ndim) ||
      mx_check_row_contiguous(out->shape, layout, out->ndim))
    return MX_OK;
  for (int d = 0; d < out->ndim; d++) out->strides[d] = out->shape[d] > 1 ? layout[d] : 0;
  out->row_contiguous = false;
  return MX_OK;
}

void mx_ew_iter_init(mx_iter *it, const mx_array *out, int nops,
                     const int64_t *const *strides) {
  const int nd = out->ndim;
  int perm[MX_MAX_NDIM];
  for (int d = 0; d < nd; d++) perm[d] = d;
  if (!out->row_contiguous) {
    const int64_t *os = strides[nops - 1];
    /* stable insertion sort by decreasing output stride */
    for (int i = 1; i < nd; i++)
      for (int j = i; j > 0 && os[perm[j]] > os[perm[j - 1]]; j--) {
        int t = perm[j];
        perm[j] = perm[j - 1];
        perm[j - 1] = t;
      }
  }
  int shape[MX_MAX_NDIM];
  int64_t ps[MX_ITER_MAX_OPS][MX_MAX_NDIM];
  const int64_t *pp[MX_ITER_MAX_OPS];
  for (int d = 0; d < nd; d++) shape[d] = out->shape[perm[d]];
  for (int k = 0; k < nops; k++) {
    for (int d = 0; d < nd; d++) ps[k][d] = strides[k][perm[d]];
    pp[k] = ps[k];
  }
  mx_iter_init(it, shape, nd, nops, pp);
}

/* ---- tiled iteration ---- */

#ifndef EW_TILE_R
#define EW_TILE_R 256 /* rows: the transposed operand's contiguous direction */
#endif
#ifndef EW_TILE_C
#define EW_TILE_C                                                                      \
  16 /* columns: one run; few, so the transposed operand's lines (often a power-of-two \
        stride apart, one cache set) stay cached */
#endif

typedef struct {
  const mx_iter *it;
  mx_iter_fn fn;
  void *ctx;
  int64_t tr, tc; /* tiles per row / column */
} tile_ctx;

static void tile_body(void *c, int64_t b, int64_t e) {
  const tile_ctx *t = c;
  const mx_iter *it = t->it;
  const int nd = it->ndim, nops = it->nops;
  const int64_t R = it->shape[nd - 2], C = it->shape[nd - 1];
  int64_t inner[MX_ITER_MAX_OPS], offs[MX_ITER_MAX_OPS], base[MX_ITER_MAX_OPS];
  for (int k = 0; k < nops; k++) inner[k] = it->strides[k][nd - 1];
  for (int64_t w = b; w < e; w++) {
    int64_t outer = w / (t->tr * t->tc), rem = w % (t->tr * t->tc);
    int64_t i0 = rem / t->tc * EW_TILE_R, j0 = rem % t->tc * EW_TILE_C;
    for (int k = 0; k < nops; k++) base[k] = 0;
    for (int d = nd - 3; d >= 0; d--) {
      int64_t idx = outer % it->shape[d];
      outer /= it->shape[d];
      for (int k = 0; k < nops; k++) base[k] += idx * it->strides[k][d];
    }
    int64_t ni = R - i0 < EW_TILE_R ? R - i0 : EW_TILE_R;
    int64_t nj = C - j0 < EW_TILE_C ? C - j0 : EW_TILE_C;
    for (int64_t i = i0; i < i0 + ni; i++) {
      for (int k = 0; k < nops; k++)
        offs[k] = base[k] + i * it->strides[k][nd - 2] + j0 * inner[k];
      t->fn(t->ctx, nj, offs, inner);
    }
  }
}

static int64_t iabs64(int64_t v) { return v < 0 ? -v : v; }

void mx_ew_iter_parallel(const mx_iter *it, int64_t grain_elems, mx_iter_fn fn,
                         void *ctx) {
  const int nd = it->ndim;
  bool tile = false;
  if (nd >= 2 && it->shape[nd - 1] >= 16 && it->shape[nd - 2] >= 16)
    for (int k = 0; k < it->nops; k++) {
      int64_t si = iabs64(it->strides[k][nd - 1]), so = iabs64(it->strides[k][nd - 2]);
      if (si > 16 && so < si) tile = true;
    }
  if (!tile) {
    mx_iter_parallel(it, grain_elems, fn, ctx);
    return;
  }
  int64_t outer = 1;
  for (int d = 0; d < nd - 2; d++) outer *= it->shape[d];
  tile_ctx t = {it, fn, ctx, (it->shape[nd - 2] + EW_TILE_R - 1) / EW_TILE_R,
                (it->shape[nd - 1] + EW_TILE_C - 1) / EW_TILE_C};
  int64_t items = outer * t.tr * t.tc;
  int64_t grain = grain_elems / (EW_TILE_R * EW_TILE_C);
  mx_parallel_for(items, grain < 1 ? 1 : grain, tile_body, &t);
}
