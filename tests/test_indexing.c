/* test_indexing.c: slice_update, dynamic_slice, dynamic_slice_update, take,
 * take_flat, take_along_axis, put_along_axis, gather, scatter.
 *
 * Data movement is checked byte-exactly for every dtype and three input
 * layouts against index maps from numpy (np.take, np.take_along_axis,
 * np.put_along_axis, slice assignment, applied to aranges) or plain loops
 * written here (gather, scatter, dynamic slices, which follow MLX/XLA
 * definitions); scatter modes against float64 loops and np.add.at /
 * np.maximum.at / np.minimum.at / np.multiply.at. Also: index dtypes,
 * negative indices, out-of-range errors from the kernel, in-place buffer
 * donation for updates, empty arrays, bad shapes. */
#include <complex.h>

#include "movement_util.h"

static mx_array *idx_array(const int64_t *v, const int *shape, int nd, mx_dtype t) {
  return mx_astype(mx_array_from_data(v, shape, nd, MX_INT64), t);
}

static const mx_dtype k_index_dtypes[] = {MX_INT32, MX_INT8,   MX_INT64,  MX_INT16,
                                          MX_UINT8, MX_UINT16, MX_UINT32, MX_UINT64};

/* ---- slice_update ---- */

static void test_slice_update(void) {
  int ashape[3] = {4, 5, 6};
  struct {
    int start[3], stop[3], step[3], ushape[3], und;
    const char *np;
  } cfg[] = {
      {{1, 0, 2}, {3, 5, 6}, {1, 2, 1}, {2, 3, 4}, 3, "1:3, 0:5:2, 2:6"},
      {{MX_SLICE_DEFAULT, 4, MX_SLICE_DEFAULT},
       {MX_SLICE_DEFAULT, 0, MX_SLICE_DEFAULT},
       {-1, -2, -3},
       {4, 2, 2},
       3,
       "::-1, 4:0:-2, ::-3"},
      {{0, 1, 0}, {4, 4, 6}, {2, 1, 1}, {1, 3, 1}, 3, "0:4:2, 1:4, :"},
      {{-2, -1, 1},
       {MX_SLICE_DEFAULT, MX_SLICE_DEFAULT, 2},
       {1, 1, 1},
       {1},
       1,
       "-2:, -1:, 1:2"},
      {{0, 0, 0}, {4, 5, 6}, {1, 1, 1}, {0}, 0, ":, :, :"},
      {{3, 0, 0}, {1, 5, 6}, {1, 1, 1}, {0, 5, 6}, 3, "3:1, :, :"},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    char code[256];
    snprintf(code, sizeof code,
             "r = A['a'].copy(); u = np.arange(%s).reshape(%s)\n"
             "r[%s] = -(1 + u); R['r'] = r",
             "np.prod(A['i'].shape)", "A['i'].shape", cfg[c].np);
    int64_t n;
    mx_array *ushape_arr = mx_zeros(cfg[c].ushape, cfg[c].und, MX_FLOAT64);
    int64_t *map = np_map(code, ashape, 3, ushape_arr, &n);
    if (!map) continue;
    for (int ti = 0; ti < N_DTYPES; ti++) {
      mx_scope_begin();
      mx_array *a = rand_any(ashape, 3, k_dtypes[ti]);
      mx_array *u = rand_any(cfg[c].ushape, cfg[c].und, k_dtypes[ti]);
      for (int k = 0; k < N_LAYOUTS; k++) {
        char w[96];
        snprintf(w, sizeof w, "slice_update [%s] %s layout %d", cfg[c].np,
                 mx_dtype_name(k_dtypes[ti]), k);
        mx_array *y = mx_slice_update(layout(a, k), layout(u, (k + 1) % N_LAYOUTS),
                                      cfg[c].start, cfg[c].stop, cfg[c].step);
        if (check_shape(y, ashape, 3, w)) check_map2(y, a, u, map, n, w);
      }
      mx_scope_end();
    }
    free(map);
  }
  /* update converted to a's dtype */
  int s[1] = {4};
  mx_array *a = mx_zeros(s, 1, MX_INT16);
  double uv[2] = {2.75, -3.5};
  int us[1] = {2};
  int st = 1, sp = 3, stp = 1;
  mx_array *y =
      mx_slice_update(a, mx_array_from_data(uv, us, 1, MX_FLOAT64), &st, &sp, &stp);
  double ref[4] = {0, 2, -3, 0};
  mxt_close(y, ref, 4, 0, 0, "slice_update converts");
  MXT_CHECK(mx_array_dtype(y) == MX_INT16, "keeps a's dtype");
  int bs[1] = {3};
  expect_error(mx_slice_update(a, mx_zeros(bs, 1, MX_INT16), &st, &sp, &stp),
               "cannot be broadcast to the slice shape (2,)", "bad update");
  int zero = 0;
  expect_error(mx_slice_update(a, mx_zeros(bs, 1, MX_INT16), &st, &sp, &zero),
               "step cannot be zero", "zero step");
}

/* a kept outside any scope, evaluated, with its buffer pointer. */
static mx_array *kept_copy(mx_array *x) {
  mx_scope_begin();
  mx_array *a = mx_keep(mx_copy(x));
  mx_eval1(a);
  mx_scope_end();
  return a;
}

static void test_update_donation(void) {
  int s[2] = {64, 32};
  mx_array *x = mxt_rand(s, 2, MX_FLOAT32, -1, 1);
  double *xv = mxt_to_f64(x);
  int us[2] = {2, 32};
  mx_array *u = mxt_rand(us, 2, MX_FLOAT32, 5, 6);
  double *uv = mxt_to_f64(u);
  int st[2] = {10, 0}, sp[2] = {12, 32};
  double *ref = malloc(sizeof(double) * 64 * 32);
  memcpy(ref, xv, sizeof(double) * 64 * 32);
  for (int i = 0; i < 64; i++) ref[10 * 32 + i] = uv[i];

  /* only the node holds a: written in place */
  mx_array *a = kept_copy(x);
  const void *pa = mx_array_data(a);
  mx_scope_begin();
  mx_array *b = mx_keep(mx_slice_update(a, u, st, sp, NULL));
  mx_scope_end();
  mx_free(a);
  MXT_CHECK(mx_eval1(b) == MX_OK, "eval");
  MXT_CHECK(mx_array_data(b) == pa, "slice_update reused a's buffer");
  mxt_close(b, ref, 64 * 32, 0, 0, "donated values");
  mx_free(b);

  /* a still alive: copied, a unchanged */
  a = kept_copy(x);
  pa = mx_array_data(a);
  b = mx_slice_update(a, u, st, sp, NULL);
  MXT_CHECK(mx_eval1(b) == MX_OK, "eval");
  MXT_CHECK(mx_array_data(b) != pa, "not donated while a lives");
  mxt_close(b, ref, 64 * 32, 0, 0, "copied values");
  mxt_close(a, xv, 64 * 32, 0, 0, "a unchanged");
  mx_free(a);

  /* a's buffer shared with a view: copied */
  a = kept_copy(x);
  mx_array *view = mx_keep(mx_slice_axis(a, 0, 8, 16, 1)); /* covers the window */
  mx_eval1(view);
  mx_scope_begin();
  b = mx_keep(mx_slice_update(a, u, st, sp, NULL));
  mx_scope_end();
  mx_free(a);
  mx_eval1(b);
  mxt_close(view, xv + 8 * 32, 8 * 32, 0, 0, "view of a unchanged");
  mxt_close(b, ref, 64 * 32, 0, 0, "values with shared buffer");
  mx_free(view);
  mx_free(b);

  /* external memory is never written */
  float *ext = malloc(sizeof(float) * 64 * 32);
  mx_array_read(x, MX_FLOAT32, ext, sizeof(float) * 64 * 32);
  mx_scope_begin();
  mx_array *e = mx_keep(mx_array_from_external(ext, s, 2, MX_FLOAT32, NULL, NULL));
  mx_scope_end();
  mx_scope_begin();
  b = mx_keep(mx_slice_update(e, u, st, sp, NULL));
  mx_scope_end();
  mx_free(e);
  mx_eval1(b);
  MXT_CHECK(mx_array_data(b) != (const void *)ext, "external not donated");
  MXT_CHECK(ext[10 * 32] == (float)xv[10 * 32], "external memory unchanged");
  mxt_close(b, ref, 64 * 32, 0, 0, "values from external");
  mx_free(b);
  free(ext);
  free(xv);
  free(uv);
  free(ref);
}

/* ---- dynamic slices ---- */

/* XLA/JAX start rule, written independently: wrap negative once, clamp. */
static int64_t ref_start(int64_t v, int dim, int size) {
  if (v < 0) v += dim;
  if (v > dim - size) v = dim - size;
  if (v < 0) v = 0;
  return v;
}

static void test_dynamic_slice(void) {
  int ashape[3] = {5, 6, 7};
  struct {
    int naxes, axes[3], size[3];
    int64_t start[3];
  } cfg[] = {
      {2, {0, 2}, {2, 3}, {1, 4}},
      {2, {0, 2}, {2, 3}, {4, 6}},
      {2, {-3, 2}, {2, 3}, {-1, -7}},
      {1, {1}, {6}, {3}},
      {3, {2, 1, 0}, {1, 1, 5}, {6, 0, 2}},
      {0, {0}, {0}, {0}},
      {1, {1}, {0}, {2}},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    int oshape[3] = {5, 6, 7};
    int64_t first[3] = {0, 0, 0};
    for (int i = 0; i < cfg[c].naxes; i++) {
      int ax = cfg[c].axes[i] < 0 ? cfg[c].axes[i] + 3 : cfg[c].axes[i];
      oshape[ax] = cfg[c].size[i];
      first[ax] = ref_start(cfg[c].start[i], ashape[ax], cfg[c].size[i]);
    }
    int64_t n = shape_size(oshape, 3);
    int64_t *map = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
      int64_t r = i, off = 0, mul = 1;
      for (int d = 2; d >= 0; d--) {
        off += (first[d] + r % oshape[d]) * mul;
        r /= oshape[d];
        mul *= ashape[d];
      }
      map[i] = off;
    }
    for (int ti = 0; ti < N_DTYPES; ti++) {
      mx_scope_begin();
      mx_array *a = rand_any(ashape, 3, k_dtypes[ti]);
      bool has_neg = cfg[c].start[0] < 0 || cfg[c].start[1] < 0;
      mx_dtype it = k_index_dtypes[(ti + c) % 8];
      if (has_neg &&
          !(it == MX_INT32 || it == MX_INT64 || it == MX_INT16 || it == MX_INT8))
        it = MX_INT32;
      int ns = cfg[c].naxes;
      mx_array *start = idx_array(cfg[c].start, &ns, 1, it); /* unevaluated */
      for (int k = 0; k < N_LAYOUTS; k++) {
        char w[96];
        snprintf(w, sizeof w, "dynamic_slice cfg %zu %s layout %d", c,
                 mx_dtype_name(k_dtypes[ti]), k);
        mx_array *y = mx_dynamic_slice(layout(a, k), start, cfg[c].axes, ns, cfg[c].size);
        if (check_shape(y, oshape, 3, w)) check_map(y, a, map, n, w);
      }
      mx_scope_end();
    }
    free(map);
  }
  mx_array *a = mx_zeros(ashape, 3, MX_FLOAT32);
  int ax[2] = {0, 1}, sz[2] = {2, 2};
  double fs[2] = {1, 1};
  int two = 2, three = 3;
  mx_array *fstart = mx_array_from_data(fs, &two, 1, MX_FLOAT64);
  expect_error(mx_dynamic_slice(a, fstart, ax, 2, sz), "integer", "float start");
  int64_t iv[3] = {0, 0, 0};
  mx_array *s3 = idx_array(iv, &three, 1, MX_INT32),
           *s2 = idx_array(iv, &two, 1, MX_INT32);
  expect_error(mx_dynamic_slice(a, s3, ax, 2, sz), "one entry per axis", "start size");
  int big[2] = {6, 1};
  expect_error(mx_dynamic_slice(a, s2, ax, 2, big), "slice size 6 invalid", "size > dim");
  int rep[2] = {1, -2};
  expect_error(mx_dynamic_slice(a, s2, rep, 2, sz), "repeated axis", "repeated axis");
}

static void test_dynamic_slice_update(void) {
  int ashape[3] = {5, 6, 7};
  struct {
    int naxes, axes[3], ushape[3];
    int64_t start[3];
  } cfg[] = {
      {2, {0, 2}, {2, 6, 3}, {1, 4}},    {2, {0, 2}, {2, 6, 3}, {4, 6}},
      {2, {0, -1}, {2, 6, 3}, {-1, -7}}, {1, {1}, {5, 2, 7}, {9}},
      {0, {0}, {1, 1, 1}, {0}},          {1, {0}, {0, 6, 7}, {3}},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    int64_t first[3] = {0, 0, 0};
    for (int i = 0; i < cfg[c].naxes; i++) {
      int ax = cfg[c].axes[i] < 0 ? cfg[c].axes[i] + 3 : cfg[c].axes[i];
      first[ax] = ref_start(cfg[c].start[i], ashape[ax], cfg[c].ushape[ax]);
    }
    int64_t n = shape_size(ashape, 3), map[210];
    for (int64_t i = 0; i < n; i++) {
      int idx[3];
      int64_t r = i;
      for (int d = 2; d >= 0; d--) idx[d] = (int)(r % ashape[d]), r /= ashape[d];
      bool in = true;
      int64_t uoff = 0;
      for (int d = 0; d < 3; d++) {
        int64_t q = idx[d] - first[d];
        in &= q >= 0 && q < cfg[c].ushape[d];
        uoff = uoff * cfg[c].ushape[d] + q;
      }
      map[i] = in ? -(uoff + 1) : i;
    }
    for (int ti = 0; ti < N_DTYPES; ti++) {
      mx_scope_begin();
      mx_array *a = rand_any(ashape, 3, k_dtypes[ti]);
      mx_array *u = rand_any(cfg[c].ushape, 3, k_dtypes[ti]);
      int ns = cfg[c].naxes;
      mx_array *start = idx_array(cfg[c].start, &ns, 1, (ti & 1) ? MX_INT64 : MX_INT32);
      for (int k = 0; k < N_LAYOUTS; k++) {
        char w[96];
        snprintf(w, sizeof w, "dynamic_slice_update cfg %zu %s layout %d", c,
                 mx_dtype_name(k_dtypes[ti]), k);
        mx_array *y = mx_dynamic_slice_update(layout(a, k), layout(u, (k + 2) % 3), start,
                                              cfg[c].axes, ns);
        if (check_shape(y, ashape, 3, w)) check_map2(y, a, u, map, n, w);
      }
      mx_scope_end();
    }
  }
  mx_array *a = mx_zeros(ashape, 3, MX_FLOAT32);
  int us[2] = {2, 2}, ax = 0, one = 1;
  int64_t z = 0;
  mx_array *s1 = idx_array(&z, &one, 1, MX_INT32);
  expect_error(mx_dynamic_slice_update(a, mx_zeros(us, 2, MX_FLOAT32), s1, &ax, 1),
               "does not fit", "ndim mismatch");
  int big[3] = {6, 1, 1};
  expect_error(mx_dynamic_slice_update(a, mx_zeros(big, 3, MX_FLOAT32), s1, &ax, 1),
               "does not fit", "update too large");
}

/* A KV cache: (B, H, L, D) preallocated, one step written per iteration at
 * position t through dynamic_slice_update, old cache released before eval,
 * so every step writes in place. */
static void test_kv_cache_loop(void) {
  int cs[4] = {1, 2, 8, 4}, ss[4] = {1, 2, 1, 4};
  mx_scope_begin();
  mx_array *cache = mx_keep(mx_copy(mx_zeros(cs, 4, MX_FLOAT16)));
  mx_eval1(cache);
  mx_scope_end();
  const void *p0 = mx_array_data(cache);
  double ref[64] = {0};
  bool same_buffer = true;
  for (int t = 0; t < 10; t++) {
    mx_scope_begin();
    mx_array *step = mx_full(ss, 4, t + 1, MX_FLOAT16);
    int64_t pos = t, ax = 2;
    int one = 1, axi = (int)ax;
    mx_array *start = idx_array(&pos, &one, 1, MX_INT32);
    mx_array *next = mx_keep(mx_dynamic_slice_update(cache, step, start, &axi, 1));
    mx_scope_end();
    mx_free(cache);
    cache = next;
    MXT_CHECK(mx_eval1(cache) == MX_OK, "step %d", t);
    same_buffer &= mx_array_data(cache) == p0;
    int at = t < 7 ? t : 7; /* clamped at the end */
    for (int h = 0; h < 2; h++)
      for (int d = 0; d < 4; d++) ref[(h * 8 + at) * 4 + d] = t + 1;
  }
  MXT_CHECK(same_buffer, "cache updated in place");
  mxt_close(cache, ref, 64, 0, 0, "kv cache contents");
  mx_scope_begin();
  /* the attention read: a dynamic slice of the filled prefix */
  int64_t z = 0;
  int one = 1, ax = 2, len = 5;
  mx_array *k = mx_dynamic_slice(cache, idx_array(&z, &one, 1, MX_INT32), &ax, 1, &len);
  double r5[40];
  for (int h = 0, q = 0; h < 2; h++)
    for (int l = 0; l < 5; l++)
      for (int d = 0; d < 4; d++) r5[q++] = ref[(h * 8 + l) * 4 + d];
  mxt_close(k, r5, 40, 0, 0, "prefix read");
  mx_scope_end();
  mx_free(cache);
}

/* ---- take ---- */

typedef struct {
  mx_array *idx;
  int axis;
  bool flat;
} take_cfg;

static mx_array *take_op(mx_array *x, const void *c) {
  const take_cfg *p = c;
  return p->flat ? mx_take_flat(x, p->idx) : mx_take(x, p->idx, p->axis);
}

static void test_take(void) {
  int ashape[3] = {5, 4, 3};
  struct {
    int axis, ind, ishape[2];
    int64_t v[6];
    bool flat;
  } cfg[] = {
      {0, 1, {3}, {4, 0, -1}, false}, {1, 2, {2, 2}, {3, -4, 0, 3}, false},
      {2, 0, {0}, {2}, false},        {-1, 1, {5}, {0, 1, 2, -3, -1}, false},
      {0, 1, {0}, {0}, false},        {0, 2, {2, 3}, {59, 0, -60, 17, 30, 2}, true},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    int oshape[5], ond = 0;
    int ax = cfg[c].axis < 0 ? cfg[c].axis + 3 : cfg[c].axis;
    if (cfg[c].flat) {
      for (int d = 0; d < cfg[c].ind; d++) oshape[ond++] = cfg[c].ishape[d];
    } else {
      for (int d = 0; d < ax; d++) oshape[ond++] = ashape[d];
      for (int d = 0; d < cfg[c].ind; d++) oshape[ond++] = cfg[c].ishape[d];
      for (int d = ax + 1; d < 3; d++) oshape[ond++] = ashape[d];
    }
    mx_array *iv = mx_array_from_data(cfg[c].v, cfg[c].ishape, cfg[c].ind, MX_INT64);
    char code[160];
    if (cfg[c].flat)
      snprintf(code, sizeof code, "R['r'] = np.take(A['a'], A['i'].astype(np.int64))");
    else
      snprintf(code, sizeof code,
               "R['r'] = np.take(A['a'], A['i'].astype(np.int64), axis=%d)", cfg[c].axis);
    int64_t n;
    int64_t *map = np_map(code, ashape, 3, iv, &n);
    if (!map) continue;
    bool neg = false;
    for (int i = 0; i < 6; i++) neg |= cfg[c].v[i] < 0;
    for (int k = 0; k < 8; k++) {
      mx_dtype it = k_index_dtypes[k];
      if (neg && mx_dtype_kind_of(it) == MX_KIND_UNSIGNED) continue;
      if (cfg[c].flat && it == MX_INT8) continue;
      take_cfg p = {idx_array(cfg[c].v, cfg[c].ishape, cfg[c].ind, it), cfg[c].axis,
                    cfg[c].flat};
      if (k % 2) p.idx = layout(p.idx, 2); /* strided indices */
      char w[96];
      snprintf(w, sizeof w, "take cfg %zu indices %s", c, mx_dtype_name(it));
      check_all(ashape, 3, take_op, &p, map, n, oshape, ond, NULL, w);
    }
    free(map);
  }
}

static void test_take_large(void) {
  /* embedding lookup: (V, D) bf16 table, (B, L) token ids */
  int ts[2] = {1000, 256}, is[2] = {4, 125};
  mx_array *table = rand_any(ts, 2, MX_BFLOAT16);
  int64_t ids[500];
  for (int i = 0; i < 500; i++) ids[i] = (int64_t)(mxt_next() % 2000) - 1000;
  mx_array *idx = idx_array(ids, is, 2, MX_INT32);
  int64_t *map = malloc(sizeof(int64_t) * 500 * 256);
  for (int i = 0; i < 500; i++) {
    int64_t r = ids[i] < 0 ? ids[i] + 1000 : ids[i];
    for (int d = 0; d < 256; d++) map[i * 256 + d] = r * 256 + d;
  }
  check_map(mx_take(table, idx, 0), table, map, 500 * 256, "embedding take");
  check_map(mx_take(mxt_noncontig(table), idx, 0), table, map, 500 * 256,
            "embedding take, column-major table");
  free(map);
  /* along the last axis of a big array: many 1-element rows */
  int bs[2] = {300, 200}, ks[1] = {50};
  mx_array *b = rand_any(bs, 2, MX_FLOAT32);
  int64_t cols[50];
  for (int i = 0; i < 50; i++) cols[i] = (int64_t)(mxt_next() % 200);
  map = malloc(sizeof(int64_t) * 300 * 50);
  for (int r = 0; r < 300; r++)
    for (int i = 0; i < 50; i++) map[r * 50 + i] = r * 200 + cols[i];
  check_map(mx_take(layout(b, 2), idx_array(cols, ks, 1, MX_INT64), 1), b, map, 300 * 50,
            "take last axis");
  free(map);
}

static void test_take_errors(void) {
  int s[2] = {5, 3};
  mx_array *a = mx_zeros(s, 2, MX_FLOAT32);
  int one = 1, three = 3;
  int64_t v[3] = {0, 7, 9};
  expect_error(mx_take(a, idx_array(v, &three, 1, MX_INT32), 0),
               "[take] index 7 out of range for axis of size 5", "take 7");
  int64_t n6 = -6;
  expect_error(mx_take(a, idx_array(&n6, &one, 1, MX_INT64), 0),
               "[take] index -6 out of range for axis of size 5", "take -6");
  int64_t huge = -1; /* as uint64: 2^64 - 1, not -1 */
  expect_error(
      mx_take(a, mx_view(mx_array_from_data(&huge, &one, 1, MX_INT64), MX_UINT64), 0),
      "out of range", "take uint64 max");
  int64_t n4 = -4; /* -4 wraps into an axis of 5 but not of 3 */
  mx_array *ok4 = mx_take(a, idx_array(&n4, &one, 1, MX_INT8), 0);
  MXT_CHECK(ok4 && mx_eval1(ok4) == MX_OK, "take -4 axis 0");
  expect_error(mx_take(a, idx_array(&n4, &one, 1, MX_INT8), 1),
               "index -4 out of range for axis of size 3", "take -4 axis 1");
  mx_array *f = mx_zeros(&one, 1, MX_FLOAT32);
  expect_error(mx_take(a, f, 0), "indices must be an integer array, got float32",
               "float idx");
  expect_error(mx_take(a, mx_zeros(&one, 1, MX_BOOL), 0), "got bool", "bool idx");
  expect_error(mx_take(a, idx_array(v, &one, 1, MX_INT32), 2), "axis 2 out of range",
               "take axis");
  int64_t v15 = 15;
  expect_error(mx_take_flat(a, idx_array(&v15, &one, 1, MX_INT32)),
               "index 15 out of range for axis of size 15", "take_flat range");
  /* empty axis with empty indices is fine; with any index it is not */
  int e[2] = {0, 3}, zero = 0;
  mx_array *ea = mx_zeros(e, 2, MX_FLOAT32);
  mx_array *r = mx_take(ea, mx_zeros(&zero, 1, MX_INT32), 0);
  MXT_CHECK(r && mx_eval1(r) == MX_OK && mx_array_size(r) == 0, "empty take");
  expect_error(mx_take(ea, mx_zeros(&one, 1, MX_INT32), 0), "axis of size 0",
               "take empty");
  /* 0-d index */
  int64_t two = 2;
  mx_array *r0 = mx_take(a, mx_array_from_data(&two, NULL, 0, MX_INT64), 0);
  MXT_CHECK(r0 && mx_array_ndim(r0) == 1 && mx_array_dim(r0, 0) == 3, "0-d index");
}

/* ---- take_along_axis / put_along_axis ---- */

static void test_take_along_axis(void) {
  struct {
    int and_, ashape[3], ind, ishape[3], axis;
    int64_t v[24];
  } cfg[] = {
      {3, {4, 5, 3}, 3, {4, 2, 3}, 1, {0, 4, -1, 2, 3, 1, -5, 0,  2, 1, 1, 1,
                                       4, 4, 4,  0, 0, 0, 3,  -2, 1, 2, 0, 4}},
      {3,
       {4, 5, 3},
       3,
       {1, 6, 3},
       1,
       {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2}},
      {2, {1, 5}, 2, {3, 2}, 1, {4, 0, 1, 1, -1, 2}},
      {3, {4, 5, 3}, 3, {4, 5, 1}, -1, {0, 1, 2, 0, 1, 2, 0, 1, 2, 0,
                                        1, 2, 0, 1, 2, 0, 1, 2, 0, 1}},
      {2, {3, 4}, 2, {0, 4}, 0, {0}},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    int nd = cfg[c].and_, ax = cfg[c].axis < 0 ? cfg[c].axis + nd : cfg[c].axis,
        oshape[3];
    for (int d = 0; d < nd; d++) {
      int x = cfg[c].ashape[d], y = cfg[c].ishape[d];
      oshape[d] = d == ax ? y : (x == 1 ? y : x);
    }
    mx_array *iv = mx_array_from_data(cfg[c].v, cfg[c].ishape, nd, MX_INT64);
    char code[160];
    snprintf(code, sizeof code,
             "R['r'] = np.take_along_axis(A['a'], A['i'].astype(np.int64), axis=%d)",
             cfg[c].axis);
    int64_t n;
    int64_t *map = np_map(code, cfg[c].ashape, nd, iv, &n);
    if (!map) continue;
    for (int ti = 0; ti < N_DTYPES; ti++) {
      mx_scope_begin();
      mx_array *a = rand_any(cfg[c].ashape, nd, k_dtypes[ti]);
      mx_dtype it = (ti & 1) ? MX_INT16 : MX_INT64;
      mx_array *idx = idx_array(cfg[c].v, cfg[c].ishape, nd, it);
      for (int k = 0; k < N_LAYOUTS; k++) {
        char w[96];
        snprintf(w, sizeof w, "take_along_axis cfg %zu %s layout %d", c,
                 mx_dtype_name(k_dtypes[ti]), k);
        mx_array *y = mx_take_along_axis(layout(a, k), layout(idx, 2 - k), cfg[c].axis);
        if (check_shape(y, oshape, nd, w)) check_map(y, a, map, n, w);
      }
      mx_scope_end();
    }
    free(map);
  }
  int s[2] = {3, 4}, is[2] = {3, 2}, i3[3] = {3, 2, 1};
  mx_array *a = mx_zeros(s, 2, MX_FLOAT32);
  int64_t v[6] = {0, 1, 2, 3, 4, 1};
  expect_error(mx_take_along_axis(a, idx_array(v, is, 2, MX_INT32), 1),
               "[take_along_axis] index 4 out of range for axis of size 4", "range");
  expect_error(mx_take_along_axis(a, idx_array(v, i3, 3, MX_INT32), 1), "same ndim",
               "ndim");
  int bad[2] = {2, 3};
  expect_error(mx_take_along_axis(a, idx_array(v, bad, 2, MX_INT32), 1), "do not match",
               "broadcast");
  expect_error(mx_take_along_axis(a, mx_zeros(is, 2, MX_FLOAT16), 1), "integer", "dtype");
}

static void test_put_along_axis(void) {
  struct {
    int nd, ashape[3], ishape[3], vnd, vshape[3], axis;
    int64_t v[24];
  } cfg[] = {
      {3, {4, 5, 3}, {4, 2, 3}, 3, {4, 2, 3}, 1, {0, 4, -1, 2, 3, 1, -5, 0,  2, 1, 1, 1,
                                                  4, 4, 4,  0, 0, 0, 3,  -2, 1, 2, 0, 4}},
      {2, {3, 4}, {1, 2}, 2, {3, 2}, 1, {3, 0}},
      {2, {3, 4}, {3, 2}, 0, {0}, -1, {1, 1, 2, 0, 3, -1}},
      {2, {3, 4}, {2, 4}, 2, {1, 4}, 0, {0, 1, 2, 0, -1, -2, -3, 2}},
      {2, {3, 4}, {3, 0}, 2, {3, 0}, 1, {0}},
      {2, {2, 3}, {2, 3}, 2, {2, 3}, 1, {0, 0, 1, 2, 2, 2}},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    int nd = cfg[c].nd;
    mx_array *iv = mx_array_from_data(cfg[c].v, cfg[c].ishape, nd, MX_INT64);
    char code[400];
    /* the values arange gives each value its own code -(1 + k) */
    snprintf(code, sizeof code,
             "i = A['i'].astype(np.int64); r = A['a'].copy()\n"
             "vs = %s\n"
             "v = -(1 + np.arange(int(np.prod(vs))).reshape(vs))\n"
             "np.put_along_axis(r, i, v, axis=%d); R['r'] = r",
             cfg[c].vnd == 0   ? "()"
             : cfg[c].vnd == 2 ? "(%d, %d)"
                               : "(%d, %d, %d)",
             cfg[c].axis);
    char code2[400];
    snprintf(code2, sizeof code2, code, cfg[c].vshape[0], cfg[c].vshape[1],
             cfg[c].vshape[2]);
    int64_t n;
    int64_t *map = np_map(code2, cfg[c].ashape, nd, iv, &n);
    if (!map) continue;
    for (int ti = 0; ti < N_DTYPES; ti++) {
      mx_scope_begin();
      mx_array *a = rand_any(cfg[c].ashape, nd, k_dtypes[ti]);
      mx_array *vals = rand_any(cfg[c].vshape, cfg[c].vnd, k_dtypes[ti]);
      mx_array *idx =
          idx_array(cfg[c].v, cfg[c].ishape, nd, (ti & 1) ? MX_INT8 : MX_INT32);
      for (int k = 0; k < N_LAYOUTS; k++) {
        char w[96];
        snprintf(w, sizeof w, "put_along_axis cfg %zu %s layout %d", c,
                 mx_dtype_name(k_dtypes[ti]), k);
        mx_array *y = mx_put_along_axis(layout(a, k), layout(idx, (k + 1) % 3),
                                        layout(vals, (k + 2) % 3), cfg[c].axis);
        if (check_shape(y, cfg[c].ashape, nd, w)) check_map2(y, a, vals, map, n, w);
      }
      mx_scope_end();
    }
    free(map);
  }
  /* values converted to a's dtype */
  int s[2] = {2, 3}, is[2] = {2, 1};
  int64_t v[2] = {2, 0};
  double pv = 9.5;
  mx_array *y = mx_put_along_axis(mx_zeros(s, 2, MX_INT32), idx_array(v, is, 2, MX_INT32),
                                  mx_array_from_data(&pv, NULL, 0, MX_FLOAT64), 1);
  double ref[6] = {0, 0, 9, 9, 0, 0};
  mxt_close(y, ref, 6, 0, 0, "put converts");
  int64_t bad[2] = {3, 0};
  expect_error(
      mx_put_along_axis(mx_zeros(s, 2, MX_INT32), idx_array(bad, is, 2, MX_INT32),
                        mx_array_from_data(&pv, NULL, 0, MX_FLOAT64), 1),
      "[put_along_axis] index 3 out of range for axis of size 3", "range");
  int vs[1] = {4};
  expect_error(mx_put_along_axis(mx_zeros(s, 2, MX_INT32), idx_array(v, is, 2, MX_INT32),
                                 mx_zeros(vs, 1, MX_INT32), 1),
               "cannot be broadcast", "values shape");
  int i3[2] = {3, 1};
  expect_error(mx_put_along_axis(mx_zeros(s, 2, MX_INT32), mx_zeros(i3, 2, MX_INT32),
                                 mx_zeros(vs, 0, MX_INT32), 1),
               "do not match", "indices shape");
  /* large: parallel over rows, duplicates resolved in order */
  int ls[2] = {2000, 64}, lis[2] = {2000, 128};
  mx_array *la = rand_any(ls, 2, MX_FLOAT32);
  int64_t *li = malloc(sizeof(int64_t) * 2000 * 128);
  for (int i = 0; i < 2000 * 128; i++) li[i] = (int64_t)(mxt_next() % 64);
  mx_array *lv = rand_any(lis, 2, MX_FLOAT32);
  mx_array *ly = mx_put_along_axis(la, idx_array(li, lis, 2, MX_INT32), lv, 1);
  int64_t *map = malloc(sizeof(int64_t) * 2000 * 64);
  for (int64_t i = 0; i < 2000 * 64; i++) map[i] = i;
  for (int r = 0; r < 2000; r++)
    for (int j = 0; j < 128; j++) map[r * 64 + li[r * 128 + j]] = -(r * 128 + j) - 1;
  check_map2(ly, la, lv, map, 2000 * 64, "large put_along_axis");
  free(map);
  free(li);
}

/* ---- gather ---- */

/* MLX gather, written as loops: out[i, s] = a[s + (idx_j[i] on axes_j)]. */
static int64_t *gather_map(const int *ashape, int nd, const int64_t *const *iv,
                           const int *const *ishapes, const int *inds, int nidx,
                           const int *axes, const int *ss, int *oshape, int *ond) {
  int ish[4] = {1, 1, 1, 1}, ni = 0;
  for (int j = 0; j < nidx; j++) ni = inds[j] > ni ? inds[j] : ni;
  for (int j = 0; j < nidx; j++)
    for (int d = 0; d < inds[j]; d++) {
      int dd = d + ni - inds[j];
      if (ishapes[j][d] != 1) ish[dd] = ishapes[j][d];
    }
  *ond = ni + nd;
  for (int d = 0; d < ni; d++) oshape[d] = ish[d];
  for (int d = 0; d < nd; d++) oshape[ni + d] = ss[d];
  int64_t n = shape_size(oshape, *ond), nI = shape_size(ish, ni), nS = shape_size(ss, nd);
  int64_t *map = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < nI; i++) {
    int ii[4];
    int64_t r = i;
    for (int d = ni - 1; d >= 0; d--) ii[d] = (int)(r % ish[d]), r /= ish[d];
    int64_t start[4] = {0, 0, 0, 0};
    for (int j = 0; j < nidx; j++) {
      int64_t f = 0;
      for (int d = 0; d < inds[j]; d++) {
        int dd = d + ni - inds[j];
        f = f * ishapes[j][d] + (ishapes[j][d] == 1 ? 0 : ii[dd]);
      }
      int64_t v = iv[j][f];
      start[axes[j]] = v < 0 ? v + ashape[axes[j]] : v;
    }
    for (int64_t s = 0; s < nS; s++) {
      int64_t q = s, off = 0, mul = 1;
      for (int d = nd - 1; d >= 0; d--) {
        off += (start[d] + q % ss[d]) * mul;
        q /= ss[d];
        mul *= ashape[d];
      }
      map[i * nS + s] = off;
    }
  }
  return map;
}

static void test_gather(void) {
  int ashape[3] = {5, 6, 7};
  int64_t i0[3] = {0, 4, -1}, i1[4] = {6, 0, -7, 2}, i2[2] = {1, 3},
          i3[6] = {2, 3, 4, 0, 1, -5};
  int s0[2] = {3, 1}, s1[2] = {1, 4}, s2[1] = {2}, s3[2] = {2, 3};
  struct {
    int nidx, axes[3], ss[3];
    const int64_t *iv[3];
    const int *ishape[3];
    int ind[3];
  } cfg[] = {
      {2, {0, 2}, {1, 6, 1}, {i0, i1}, {s0, s1}, {2, 2}},
      {2, {0, 2}, {1, 3, 2}, {i0, i2}, {s0, s2}, {2, 1}},
      {1, {1}, {5, 1, 7}, {i3}, {s3}, {2}},
      {0, {0}, {2, 3, 4}, {NULL}, {NULL}, {0}},
      {3, {2, 0, 1}, {1, 1, 1}, {i2, i2, i2}, {s2, s2, s2}, {1, 1, 1}},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    int oshape[8], ond;
    int64_t *map = gather_map(ashape, 3, cfg[c].iv, cfg[c].ishape, cfg[c].ind,
                              cfg[c].nidx, cfg[c].axes, cfg[c].ss, oshape, &ond);
    int64_t n = shape_size(oshape, ond);
    for (int ti = 0; ti < N_DTYPES; ti++) {
      mx_scope_begin();
      mx_array *a = rand_any(ashape, 3, k_dtypes[ti]);
      mx_array *idx[3];
      for (int j = 0; j < cfg[c].nidx; j++)
        idx[j] = idx_array(cfg[c].iv[j], cfg[c].ishape[j], cfg[c].ind[j],
                           (ti + j) % 2 ? MX_INT32 : MX_INT64);
      for (int k = 0; k < N_LAYOUTS; k++) {
        char w[96];
        snprintf(w, sizeof w, "gather cfg %zu %s layout %d", c,
                 mx_dtype_name(k_dtypes[ti]), k);
        mx_array *y = mx_gather(layout(a, k), idx, cfg[c].nidx, cfg[c].axes, cfg[c].ss);
        if (check_shape(y, oshape, ond, w)) check_map(y, a, map, n, w);
      }
      mx_scope_end();
    }
    free(map);
  }
  mx_array *a = mx_zeros(ashape, 3, MX_FLOAT32);
  int one = 1, ax = 2, ss2[3] = {1, 1, 2}, ss1[3] = {1, 1, 1};
  int64_t six = 6;
  mx_array *i6 = idx_array(&six, &one, 1, MX_INT32);
  MXT_OK(mx_gather(a, &i6, 1, &ax, ss1));
  expect_error(mx_gather(a, &i6, 1, &ax, ss2),
               "[gather] index 6 out of range for axis of size 7 with slice size 2",
               "range");
  int big[3] = {1, 7, 1};
  expect_error(mx_gather(a, &i6, 1, &ax, big), "slice size 7 invalid", "slice size");
  mx_array *two[2] = {i6, i6};
  int rep[2] = {2, -1};
  expect_error(mx_gather(a, two, 2, rep, ss1), "repeated axis", "repeated");
  int sa[1] = {2}, sb[1] = {3}, ax2[2] = {0, 1};
  mx_array *nb[2] = {mx_zeros(sa, 1, MX_INT32), mx_zeros(sb, 1, MX_INT32)};
  expect_error(mx_gather(a, nb, 2, ax2, ss1), "do not broadcast", "broadcast");
}

/* ---- scatter ---- */

/* Reference combine in double (real) for dtype t. */
static double ref_combine(double x, double y, mx_scatter_mode m, mx_dtype t) {
  if (t == MX_BOOL) {
    bool bx = x != 0, by = y != 0;
    switch (m) {
      case MX_SCATTER_ADD:
      case MX_SCATTER_MAX:
        return bx || by;
      case MX_SCATTER_PROD:
      case MX_SCATTER_MIN:
        return bx && by;
      default:
        return by;
    }
  }
  switch (m) {
    case MX_SCATTER_ADD:
      return x + y;
    case MX_SCATTER_MAX:
      return x > y ? x : y;
    case MX_SCATTER_MIN:
      return x < y ? x : y;
    case MX_SCATTER_PROD:
      return x * y;
    default:
      return y;
  }
}

/* Small integers in dtype t (exact in every dtype, products stay small). */
static mx_array *small_ints(const int *shape, int nd, mx_dtype t, double lo, double hi) {
  if (t == MX_BOOL) return mxt_rand(shape, nd, MX_BOOL, 0, 2);
  return mx_astype(mxt_rand(shape, nd, MX_INT32, lo, hi), t);
}

static void test_scatter_modes(void) {
  /* a: (6, 5), indices (8,) with duplicates on axis 0, updates (8, 1, 5) */
  int as[2] = {6, 5}, us[3] = {8, 1, 5}, is[1] = {8};
  int64_t iv[8] = {0, 2, 2, 5, 0, 3, 2, -1};
  mx_dtype ts[] = {MX_BOOL,  MX_UINT8,   MX_INT8,     MX_UINT16,  MX_INT32,
                   MX_INT64, MX_FLOAT16, MX_BFLOAT16, MX_FLOAT32, MX_FLOAT64};
  for (size_t ti = 0; ti < sizeof ts / sizeof ts[0]; ti++) {
    mx_dtype t = ts[ti];
    bool uns = t == MX_BOOL || mx_dtype_kind_of(t) == MX_KIND_UNSIGNED;
    for (int m = 0; m <= MX_SCATTER_PROD; m++) {
      mx_scope_begin();
      mx_array *a = small_ints(as, 2, t, uns ? 0 : -3, 4);
      mx_array *u = small_ints(us, 3, t, uns ? 0 : -3, 4);
      mx_array *idx = idx_array(iv, is, 1, (ti & 1) ? MX_INT16 : MX_INT64);
      double *av = mxt_to_f64(a), *uv = mxt_to_f64(u);
      for (int i = 0; i < 8; i++) {
        int64_t r = iv[i] < 0 ? iv[i] + 6 : iv[i];
        for (int d = 0; d < 5; d++)
          av[r * 5 + d] =
              ref_combine(av[r * 5 + d], uv[i * 5 + d], (mx_scatter_mode)m, t);
      }
      int ax = 0;
      for (int k = 0; k < N_LAYOUTS; k++) {
        char w[80];
        snprintf(w, sizeof w, "scatter %s mode %d layout %d", mx_dtype_name(t), m, k);
        mx_array *y = mx_scatter(layout(a, k), &idx, 1, layout(u, (k + 1) % 3), &ax,
                                 (mx_scatter_mode)m);
        MXT_CHECK(y && mx_array_dtype(y) == t, "%s dtype", w);
        mxt_close(y, av, 30, 0, 0, w);
      }
      free(av);
      free(uv);
      mx_scope_end();
    }
  }
}

static void test_scatter_complex(void) {
  int as[1] = {4}, us[2] = {5, 1}, is[1] = {5};
  float ad[8] = {1, 2, -1, 0.5f, 3, -3, 0, 1};
  float ud[10] = {2, 0, 1, 1, 2, -1, 1, 3, -2, 2};
  int64_t iv[5] = {1, 3, 1, -3, 0};
  mx_array *a = mx_array_from_data(ad, as, 1, MX_COMPLEX64);
  mx_array *u = mx_array_from_data(ud, us, 2, MX_COMPLEX64);
  mx_array *idx = idx_array(iv, is, 1, MX_INT32);
  for (int m = 0; m <= MX_SCATTER_PROD; m++) {
    double complex r[4];
    for (int i = 0; i < 4; i++) r[i] = ad[2 * i] + I * ad[2 * i + 1];
    for (int i = 0; i < 5; i++) {
      int64_t k = iv[i] < 0 ? iv[i] + 4 : iv[i];
      double complex y = ud[2 * i] + I * ud[2 * i + 1], x = r[k];
      bool ygt = creal(y) > creal(x) || (creal(y) == creal(x) && cimag(y) > cimag(x));
      bool xgt = creal(x) > creal(y) || (creal(x) == creal(y) && cimag(x) > cimag(y));
      switch (m) {
        case MX_SCATTER_ADD:
          r[k] = x + y;
          break;
        case MX_SCATTER_MAX:
          r[k] = ygt ? y : x;
          break;
        case MX_SCATTER_MIN:
          r[k] = xgt ? y : x;
          break;
        case MX_SCATTER_PROD:
          r[k] = x * y;
          break;
        default:
          r[k] = y;
          break;
      }
    }
    int ax = 0;
    mx_array *y = mx_scatter(a, &idx, 1, u, &ax, (mx_scatter_mode)m);
    float got[8] = {0};
    MXT_CHECK(y && mx_array_read(y, MX_COMPLEX64, got, sizeof got) == MX_OK, "read");
    for (int i = 0; i < 4; i++)
      MXT_CHECK(fabs(got[2 * i] - creal(r[i])) < 1e-5 &&
                    fabs(got[2 * i + 1] - cimag(r[i])) < 1e-5,
                "complex scatter mode %d element %d: (%g, %g) want (%g, %g)", m, i,
                got[2 * i], got[2 * i + 1], creal(r[i]), cimag(r[i]));
  }
}

static void test_scatter_numpy(void) {
  /* float64 against np.add.at and friends, NaN included */
  int as[2] = {7, 9}, us[3] = {40, 1, 9}, is[1] = {40};
  mx_array *a = mxt_rand(as, 2, MX_FLOAT64, -2, 2);
  mx_array *u = mxt_rand(us, 3, MX_FLOAT64, -2, 2);
  double nanv = NAN;
  int st[3] = {5, 0, 3}, sp[3] = {6, 1, 4};
  u = mx_slice_update(u, mx_array_from_data(&nanv, NULL, 0, MX_FLOAT64), st, sp, NULL);
  int64_t iv[40];
  for (int i = 0; i < 40; i++) iv[i] = (int64_t)(mxt_next() % 14) - 7;
  mx_array *idx = idx_array(iv, is, 1, MX_INT32);
  const char *fn[] = {"", "np.add.at", "np.maximum.at", "np.minimum.at",
                      "np.multiply.at"};
  for (int m = 1; m <= 4; m++) {
    mxt_named in[3] = {{"a", a}, {"u", u}, {"i", mx_astype(idx, MX_FLOAT64)}};
    char code[200];
    snprintf(
        code, sizeof code,
        "r = A['a'].copy(); %s(r, A['i'].astype(np.int64), A['u'][:, 0, :]); R['r'] = r",
        fn[m]);
    double *ref = NULL;
    int64_t n;
    if (mxt_numpy(code, in, 3, "r", &ref, &n)) {
      int ax = 0;
      mxt_close(mx_scatter(a, &idx, 1, u, &ax, (mx_scatter_mode)m), ref, n, 1e-12, 0,
                fn[m]);
    }
    free(ref);
  }
}

/* General windows: several indexed axes, windows wider than one element on
 * an indexed axis (overlapping, so applied strictly in order), broadcast
 * index arrays. Reference: float64 loops. */
static void test_scatter_general(void) {
  int as[3] = {4, 5, 6};
  int64_t i0[3] = {0, 3, 0}, i2[3] = {4, -2, 3}, j0[2] = {1, -1}, j2[3] = {0, 2, 5};
  int64_t k0[3] = {0, 2, 1}, k2[3] = {3, -3, 0};
  int s3[1] = {3}, s21[2] = {2, 1}, s13[2] = {1, 3};
  struct {
    const int64_t *iv[2];
    const int *ishape[2];
    int ind[2], nI, ish[2], U[3];
  } cfg[] = {
      {{i0, i2}, {s3, s3}, {1, 1}, 1, {3}, {1, 5, 2}},
      {{j0, j2}, {s21, s13}, {2, 2}, 2, {2, 3}, {1, 2, 1}},
      {{k0, k2}, {s3, s3}, {1, 1}, 1, {3}, {2, 5, 3}},
  };
  int axes[2] = {0, 2};
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    for (int m = 0; m <= MX_SCATTER_PROD; m++) {
      mx_scope_begin();
      int ushape[5], und = 0;
      for (int d = 0; d < cfg[c].nI; d++) ushape[und++] = cfg[c].ish[d];
      for (int d = 0; d < 3; d++) ushape[und++] = cfg[c].U[d];
      mx_array *a = mxt_rand(as, 3, MX_FLOAT64, -2, 2);
      mx_array *u = mxt_rand(ushape, und, MX_FLOAT64, -2, 2);
      double *r = mxt_to_f64(a), *uv = mxt_to_f64(u);
      int64_t nI = shape_size(cfg[c].ish, cfg[c].nI), nU = shape_size(cfg[c].U, 3);
      for (int64_t i = 0; i < nI; i++) {
        int ii[2] = {0, 0};
        if (cfg[c].nI == 2)
          ii[0] = (int)(i / cfg[c].ish[1]), ii[1] = (int)(i % cfg[c].ish[1]);
        else
          ii[0] = (int)i;
        int64_t st[3] = {0, 0, 0};
        for (int j = 0; j < 2; j++) {
          int64_t f = 0;
          for (int d = 0; d < cfg[c].ind[j]; d++) {
            int dd = d + cfg[c].nI - cfg[c].ind[j];
            f = f * cfg[c].ishape[j][d] + (cfg[c].ishape[j][d] == 1 ? 0 : ii[dd]);
          }
          int64_t v = cfg[c].iv[j][f];
          st[axes[j]] = v < 0 ? v + as[axes[j]] : v;
        }
        for (int64_t s = 0; s < nU; s++) {
          int q0 = (int)(s / (cfg[c].U[1] * cfg[c].U[2])),
              q1 = (int)(s / cfg[c].U[2] % cfg[c].U[1]), q2 = (int)(s % cfg[c].U[2]);
          int64_t o = ((st[0] + q0) * 5 + st[1] + q1) * 6 + st[2] + q2;
          r[o] = ref_combine(r[o], uv[i * nU + s], (mx_scatter_mode)m, MX_FLOAT64);
        }
      }
      mx_array *idx[2];
      for (int j = 0; j < 2; j++)
        idx[j] = idx_array(cfg[c].iv[j], cfg[c].ishape[j], cfg[c].ind[j], MX_INT32);
      char w[64];
      snprintf(w, sizeof w, "scatter general cfg %zu mode %d", c, m);
      mxt_close(
          mx_scatter(mxt_noncontig(a), idx, 2, layout(u, 2), axes, (mx_scatter_mode)m), r,
          120, 1e-12, 0, w);
      free(r);
      free(uv);
      mx_scope_end();
    }
  }
}

static void test_scatter_large(void) {
  /* one long window row: split across threads by element */
  int as[2] = {64, 1024}, us[3] = {2000, 1, 1024}, is[1] = {2000};
  mx_array *a = mxt_rand(as, 2, MX_FLOAT32, -1, 1);
  mx_array *u = mxt_rand(us, 3, MX_FLOAT32, -1, 1);
  int64_t *iv = malloc(sizeof(int64_t) * 2000);
  for (int i = 0; i < 2000; i++) iv[i] = (int64_t)(mxt_next() % 128) - 64;
  mx_array *idx = idx_array(iv, is, 1, MX_INT64);
  double *r = mxt_to_f64(a), *uv = mxt_to_f64(u);
  float *rf = malloc(sizeof(float) * 64 * 1024);
  for (int i = 0; i < 64 * 1024; i++) rf[i] = (float)r[i];
  for (int i = 0; i < 2000; i++) { /* float32 accumulation in order, as the kernel */
    int64_t k = iv[i] < 0 ? iv[i] + 64 : iv[i];
    for (int d = 0; d < 1024; d++) rf[k * 1024 + d] += (float)uv[i * 1024 + d];
  }
  for (int i = 0; i < 64 * 1024; i++) r[i] = rf[i];
  int ax = 0;
  mxt_close(mx_scatter(a, &idx, 1, layout(u, 2), &ax, MX_SCATTER_ADD), r, 64 * 1024, 0, 0,
            "large scatter add (exact order), reversed updates");
  /* many runs (non-contiguous updates) */
  int bs[3] = {16, 8, 128}, bu[4] = {500, 1, 8, 128}, bi[1] = {500};
  mx_array *b = mxt_rand(bs, 3, MX_FLOAT64, -1, 1);
  mx_array *bu_ = mxt_noncontig(mxt_rand(bu, 4, MX_FLOAT64, -1, 1));
  for (int i = 0; i < 500; i++) iv[i] = (int64_t)(mxt_next() % 16);
  mx_array *bidx = idx_array(iv, bi, 1, MX_UINT8);
  double *br = mxt_to_f64(b), *bv = mxt_to_f64(bu_);
  for (int i = 0; i < 500; i++)
    for (int d = 0; d < 1024; d++)
      br[iv[i] * 1024 + d] = bv[i * 1024 + d] > br[iv[i] * 1024 + d]
                                 ? bv[i * 1024 + d]
                                 : br[iv[i] * 1024 + d];
  mxt_close(mx_scatter(b, &bidx, 1, bu_, &ax, MX_SCATTER_MAX), br, 16 * 1024, 0, 0,
            "large scatter max, strided updates");
  /* set with duplicates: the last write wins */
  int cs[2] = {8, 4096}, cu[3] = {300, 1, 4096}, ci[1] = {300};
  mx_array *cc = mx_zeros(cs, 2, MX_INT32);
  double *cv = malloc(sizeof(double) * 300 * 4096);
  for (int i = 0; i < 300 * 4096; i++) cv[i] = i / 4096;
  mx_array *cupd = mx_astype(mx_array_from_data(cv, cu, 3, MX_FLOAT64), MX_INT32);
  for (int i = 0; i < 300; i++) iv[i] = (int64_t)(mxt_next() % 8);
  double *cr = calloc(8 * 4096, sizeof(double));
  for (int i = 0; i < 300; i++)
    for (int d = 0; d < 4096; d++) cr[iv[i] * 4096 + d] = i;
  mxt_close(mx_scatter(cc, (mx_array *[]){idx_array(iv, ci, 1, MX_INT32)}, 1, cupd, &ax,
                       MX_SCATTER_SET),
            cr, 8 * 4096, 0, 0, "scatter set, last write wins");
  /* overlapping windows (3 rows each) on the indexed axis: applied in order */
  int ds[2] = {40, 2048}, du[3] = {400, 3, 2048}, di[1] = {400};
  mx_array *dd = mx_zeros(ds, 2, MX_INT32);
  mx_array *dupd = mx_ones(du, 3, MX_INT32);
  for (int i = 0; i < 400; i++) iv[i] = (int64_t)(mxt_next() % 38);
  double *dr = calloc(40 * 2048, sizeof(double));
  for (int i = 0; i < 400; i++)
    for (int q = 0; q < 3; q++)
      for (int d = 0; d < 2048; d++) dr[(iv[i] + q) * 2048 + d] += 1;
  mxt_close(mx_scatter(dd, (mx_array *[]){idx_array(iv, di, 1, MX_INT32)}, 1, dupd, &ax,
                       MX_SCATTER_ADD),
            dr, 40 * 2048, 0, 0, "overlapping windows");
  free(dr);
  free(cv);
  free(cr);
  free(r);
  free(uv);
  free(rf);
  free(br);
  free(bv);
  free(iv);
}

static void test_scatter_errors_and_donation(void) {
  int as[2] = {6, 5}, us[3] = {2, 1, 5}, is[1] = {2};
  mx_array *a = mx_zeros(as, 2, MX_FLOAT32), *u = mx_ones(us, 3, MX_FLOAT32);
  int64_t bad[2] = {1, 6}, badn[2] = {-7, 0};
  int ax = 0;
  expect_error(mx_scatter(a, (mx_array *[]){idx_array(bad, is, 1, MX_INT32)}, 1, u, &ax,
                          MX_SCATTER_ADD),
               "[scatter] index 6 out of range for axis of size 6", "range");
  expect_error(mx_scatter(a, (mx_array *[]){idx_array(badn, is, 1, MX_INT32)}, 1, u, &ax,
                          MX_SCATTER_SET),
               "index -7 out of range", "range neg");
  int64_t ok[2] = {1, 2};
  mx_array *oi = idx_array(ok, is, 1, MX_INT32);
  int u2[2] = {2, 5};
  expect_error(mx_scatter(a, &oi, 1, mx_ones(u2, 2, MX_FLOAT32), &ax, MX_SCATTER_ADD),
               "updates of shape (2,5)", "updates ndim");
  int u3[3] = {3, 1, 5};
  expect_error(mx_scatter(a, &oi, 1, mx_ones(u3, 3, MX_FLOAT32), &ax, MX_SCATTER_ADD),
               "[scatter] updates", "updates I");
  int u4[3] = {2, 7, 5};
  expect_error(mx_scatter(a, &oi, 1, mx_ones(u4, 3, MX_FLOAT32), &ax, MX_SCATTER_ADD),
               "[scatter] updates", "window too big");
  expect_error(mx_scatter(a, &oi, 1, u, &ax, (mx_scatter_mode)9), "unknown mode", "mode");
  mx_array *fi = mx_astype(oi, MX_FLOAT32);
  expect_error(mx_scatter(a, &fi, 1, u, &ax, MX_SCATTER_ADD), "integer", "float idx");
  int ax5 = 5;
  expect_error(mx_scatter(a, &oi, 1, u, &ax5, MX_SCATTER_ADD), "invalid or repeated axis",
               "bad axis");
  /* empty index list: a unchanged; updates converted */
  int z = 0, ue[3] = {0, 1, 5};
  mx_array *ei = mx_zeros(&z, 1, MX_INT32);
  mx_array *y = mx_scatter(a, &ei, 1, mx_ones(ue, 3, MX_INT8), &ax, MX_SCATTER_ADD);
  double zero30[30] = {0};
  mxt_close(y, zero30, 30, 0, 0, "empty scatter");
  /* donation: a failed update leaves a intact; a successful one reuses it */
  mx_array *d = kept_copy(mx_ones(as, 2, MX_FLOAT32));
  const void *pd = mx_array_data(d);
  mx_scope_begin();
  mx_array *r = mx_keep(mx_scatter(d, &oi, 1, u, &ax, MX_SCATTER_ADD));
  mx_scope_end();
  mx_free(d);
  MXT_CHECK(mx_eval1(r) == MX_OK && mx_array_data(r) == pd, "scatter in place");
  double ref[30];
  for (int i = 0; i < 30; i++) ref[i] = (i >= 5 && i < 15) ? 2 : 1;
  mxt_close(r, ref, 30, 0, 0, "scatter in place values");
  mx_free(r);
}

int main(void) {
  MXT_RUN(test_slice_update);
  MXT_RUN(test_update_donation);
  MXT_RUN(test_dynamic_slice);
  MXT_RUN(test_dynamic_slice_update);
  MXT_RUN(test_kv_cache_loop);
  MXT_RUN(test_take);
  MXT_RUN(test_take_large);
  MXT_RUN(test_take_errors);
  MXT_RUN(test_take_along_axis);
  MXT_RUN(test_put_along_axis);
  MXT_RUN(test_gather);
  MXT_RUN(test_scatter_modes);
  MXT_RUN(test_scatter_complex);
  MXT_RUN(test_scatter_numpy);
  MXT_RUN(test_scatter_general);
  MXT_RUN(test_scatter_large);
  MXT_RUN(test_scatter_errors_and_donation);
  return mxt_finish();
}
