/* test_shape_ops.c: concatenate, stack, split, split_indices, pad, tile,
 * repeat, roll. Every dtype and three input layouts are checked byte-exactly
 * against index maps from numpy (np.pad, np.tile, np.repeat, np.roll,
 * np.split applied to an arange) or from plain loops written here; dtype
 * promotion, empty arrays and error messages are checked too. */
#include <limits.h>

#include "movement_util.h"

/* ---- concatenate ---- */

/* 1-d array holding the raw elements of arrs one after another. */
static mx_array *join_raw(mx_array *const *arrs, int n) {
  int64_t total = 0;
  size_t isz = mx_array_itemsize(arrs[0]);
  for (int i = 0; i < n; i++) total += mx_array_size(arrs[i]);
  unsigned char *buf = malloc(isz * (size_t)(total ? total : 1)), *p = buf;
  for (int i = 0; i < n; i++) {
    unsigned char *r = raw_bytes(arrs[i]);
    memcpy(p, r, isz * (size_t)mx_array_size(arrs[i]));
    p += isz * (size_t)mx_array_size(arrs[i]);
    free(r);
  }
  int s = (int)total;
  mx_array *j = mx_array_from_data(buf, &s, 1, mx_array_dtype(arrs[0]));
  free(buf);
  return j;
}

static void unravel(int64_t flat, const int *shape, int nd, int *idx) {
  for (int d = nd - 1; d >= 0; d--) {
    idx[d] = shape[d] ? (int)(flat % shape[d]) : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
}

static int64_t ravel(const int *idx, const int *shape, int nd) {
  int64_t f = 0;
  for (int d = 0; d < nd; d++) f = f * shape[d] + idx[d];
  return f;
}

/* Reference map of concatenating inputs of shapes[j] along axis (loops). */
static int64_t *concat_map(int shapes[][4], int n, int nd, int axis, int *oshape,
                           int64_t *nout) {
  memcpy(oshape, shapes[0], sizeof(int) * (size_t)nd);
  oshape[axis] = 0;
  for (int j = 0; j < n; j++) oshape[axis] += shapes[j][axis];
  int64_t total = shape_size(oshape, nd);
  int64_t *map = malloc(sizeof(int64_t) * (size_t)(total ? total : 1));
  for (int64_t i = 0; i < total; i++) {
    int idx[4] = {0};
    unravel(i, oshape, nd, idx);
    int64_t base = 0;
    int j = 0, at = idx[axis];
    while (at >= shapes[j][axis]) {
      at -= shapes[j][axis];
      base += shape_size(shapes[j], nd);
      j++;
    }
    idx[axis] = at;
    map[i] = base + ravel(idx, shapes[j], nd);
  }
  *nout = total;
  return map;
}

static void test_concatenate_all_dtypes(void) {
  struct {
    int n, nd, axis;
    int shapes[3][4];
  } cfg[] = {
      {2, 3, 1, {{2, 3, 4}, {2, 5, 4}}},    {3, 2, 0, {{3, 2}, {1, 2}, {4, 2}}},
      {3, 2, -1, {{2, 3}, {2, 1}, {2, 0}}}, {2, 1, 0, {{5}, {7}}},
      {2, 3, -3, {{1, 2, 3}, {2, 2, 3}}},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    int nd = cfg[c].nd, axis = cfg[c].axis < 0 ? cfg[c].axis + nd : cfg[c].axis;
    int oshape[4];
    int64_t nmap;
    int64_t *map = concat_map(cfg[c].shapes, cfg[c].n, nd, axis, oshape, &nmap);
    for (int ti = 0; ti < N_DTYPES; ti++) {
      mx_scope_begin();
      mx_array *x[3] = {NULL, NULL, NULL}, *lx[3];
      for (int j = 0; j < cfg[c].n; j++)
        x[j] = rand_any(cfg[c].shapes[j], nd, k_dtypes[ti]);
      mx_array *all = join_raw(x, cfg[c].n);
      for (int k = 0; k < N_LAYOUTS; k++) {
        for (int j = 0; j < cfg[c].n; j++) lx[j] = layout(x[j], (k + j) % N_LAYOUTS);
        char w[96];
        snprintf(w, sizeof w, "concatenate cfg %zu %s layout %d", c,
                 mx_dtype_name(k_dtypes[ti]), k);
        mx_array *y = mx_concatenate(lx, cfg[c].n, cfg[c].axis);
        if (check_shape(y, oshape, nd, w)) check_map(y, all, map, nmap, w);
      }
      mx_scope_end();
    }
    free(map);
  }
}

static void test_concatenate_promotion(void) {
  mx_dtype pairs[][2] = {{MX_INT8, MX_FLOAT16},  {MX_UINT8, MX_INT8},
                         {MX_BOOL, MX_INT32},    {MX_BFLOAT16, MX_FLOAT16},
                         {MX_UINT64, MX_INT8},   {MX_FLOAT32, MX_COMPLEX64},
                         {MX_UINT16, MX_UINT32}, {MX_INT64, MX_FLOAT64}};
  int s1[2] = {2, 3}, s2[2] = {2, 2};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    mx_array *a = mxt_rand(s1, 2, pairs[i][0], 0, 2 * (pairs[i][0] != MX_BOOL) + 2);
    mx_array *b = mxt_rand(s2, 2, pairs[i][1], 0, 100);
    mx_array *in[2] = {a, mxt_noncontig(b)};
    mx_array *y = mx_concatenate(in, 2, 1);
    MXT_OK(y);
    if (!y) continue;
    MXT_CHECK(mx_array_dtype(y) == mx_promote_types(pairs[i][0], pairs[i][1]),
              "dtype %s+%s -> %s", mx_dtype_name(pairs[i][0]), mx_dtype_name(pairs[i][1]),
              mx_dtype_name(mx_array_dtype(y)));
    double *da = mxt_to_f64(a), *db = mxt_to_f64(b), ref[10];
    for (int r = 0; r < 2; r++) {
      for (int j = 0; j < 3; j++) ref[r * 5 + j] = da[r * 3 + j];
      for (int j = 0; j < 2; j++) ref[r * 5 + 3 + j] = db[r * 2 + j];
    }
    mxt_close(y, ref, 10, 0, 0, "promoted values");
    free(da);
    free(db);
  }
}

static void test_concatenate_numpy(void) {
  int s1[3] = {3, 2, 4}, s2[3] = {3, 5, 4};
  mx_array *x = mxt_rand(s1, 3, MX_FLOAT64, -1, 1),
           *y = mxt_rand(s2, 3, MX_FLOAT64, -1, 1);
  mx_array *in[3] = {x, mxt_noncontig(y), x};
  mx_array *r = mx_concatenate(in, 3, -2);
  mxt_named nin[2] = {{"x", x}, {"y", y}};
  double *ref = NULL;
  int64_t n = 0;
  if (mxt_numpy("R['r'] = np.concatenate([A['x'], A['y'], A['x']], axis=-2)", nin, 2, "r",
                &ref, &n))
    mxt_close(r, ref, n, 0, 0, "np.concatenate");
  free(ref);
}

static void test_concatenate_large(void) {
  /* big enough for the worker pool */
  int s1[2] = {700, 513}, s2[2] = {700, 300};
  mx_array *x[2] = {mxt_rand(s1, 2, MX_FLOAT32, -1, 1),
                    mxt_rand(s2, 2, MX_FLOAT32, -1, 1)};
  int shapes[2][4] = {{700, 513}, {700, 300}}, oshape[4];
  int64_t nmap;
  int64_t *map = concat_map(shapes, 2, 2, 1, oshape, &nmap);
  mx_array *all = join_raw(x, 2);
  mx_array *lx[2] = {mxt_noncontig(x[0]), x[1]};
  check_map(mx_concatenate(lx, 2, 1), all, map, nmap, "large concatenate axis 1");
  free(map);
  int t1[2] = {513, 700}, t2[2] = {300, 700};
  mx_array *y[2] = {mxt_rand(t1, 2, MX_BFLOAT16, -1, 1),
                    mxt_rand(t2, 2, MX_BFLOAT16, -1, 1)};
  int shp[2][4] = {{513, 700}, {300, 700}};
  map = concat_map(shp, 2, 2, 0, oshape, &nmap);
  check_map(mx_concatenate(y, 2, 0), join_raw(y, 2), map, nmap,
            "large concatenate axis 0");
  free(map);
}

static void test_concatenate_empty_and_errors(void) {
  int s0[2] = {0, 3}, s1[2] = {2, 3};
  mx_array *e = mx_zeros(s0, 2, MX_FLOAT32), *a = mxt_rand(s1, 2, MX_FLOAT32, 0, 1);
  mx_array *in[3] = {e, a, e};
  mx_array *y = mx_concatenate(in, 3, 0);
  int64_t map[6] = {0, 1, 2, 3, 4, 5};
  check_map(y, a, map, 6, "concat with empty");
  mx_array *ee[2] = {e, e};
  mx_array *z = mx_concatenate(ee, 2, 0);
  MXT_CHECK(z && mx_eval1(z) == MX_OK && mx_array_size(z) == 0, "all empty");
  /* errors */
  int s2[2] = {2, 4};
  mx_array *b = mx_zeros(s2, 2, MX_FLOAT32);
  mx_array *bad[2] = {a, b};
  expect_error(mx_concatenate(bad, 2, 0),
               "same shape except on axis 0, got (2,3) and (2,4)", "shape mismatch");
  MXT_OK(mx_concatenate(bad, 2, 1));
  mx_array *one = mx_zeros(s1, 1, MX_FLOAT32);
  mx_array *bad2[2] = {a, one};
  expect_error(mx_concatenate(bad2, 2, 0), "[concatenate]", "ndim mismatch");
  mx_array *sc[2] = {mx_array_scalar_f64(1, MX_FLOAT32),
                     mx_array_scalar_f64(2, MX_FLOAT32)};
  expect_error(mx_concatenate(sc, 2, 0), "0-d", "scalars");
  expect_error(mx_concatenate(in, 3, 2), "axis 2 out of range", "bad axis");
  expect_error(mx_concatenate(in, 0, 0), "no arrays", "n = 0");
  /* NULL input: NULL result, first message kept */
  mx_set_error(MX_ERR_INVALID, "[first] earlier failure");
  mx_array *withnull[2] = {a, NULL};
  MXT_CHECK(mx_concatenate(withnull, 2, 0) == NULL, "NULL input");
  MXT_CHECK(strstr(mx_last_error(), "[first]") != NULL, "first message kept");
  mx_clear_error();
  /* a single array: same values, promoted dtype stays */
  mx_array *single = mx_concatenate(&a, 1, 0);
  double *ra = mxt_to_f64(a);
  mxt_close(single, ra, 6, 0, 0, "single");
  free(ra);
}

/* ---- stack ---- */

static void test_stack(void) {
  int s[2] = {2, 3};
  for (int ti = 0; ti < N_DTYPES; ti++) {
    mx_scope_begin();
    mx_array *x[3];
    for (int j = 0; j < 3; j++) x[j] = rand_any(s, 2, k_dtypes[ti]);
    mx_array *all = join_raw(x, 3);
    int axes[5] = {0, 1, 2, -1, -3};
    for (int ai = 0; ai < 5; ai++) {
      int ax = axes[ai] < 0 ? axes[ai] + 3 : axes[ai];
      mx_array *lx[3];
      for (int j = 0; j < 3; j++) lx[j] = layout(x[j], (ai + j) % N_LAYOUTS);
      mx_array *y = mx_stack(lx, 3, axes[ai]);
      int oshape[3], k = 0;
      for (int d = 0; d < 3; d++) oshape[d] = d == ax ? 3 : s[k++];
      int64_t map[18];
      for (int64_t i = 0; i < 18; i++) {
        int idx[3], in_idx[2], q = 0;
        unravel(i, oshape, 3, idx);
        for (int d = 0; d < 3; d++)
          if (d != ax) in_idx[q++] = idx[d];
        map[i] = idx[ax] * 6 + ravel(in_idx, s, 2);
      }
      char w[64];
      snprintf(w, sizeof w, "stack %s axis %d", mx_dtype_name(k_dtypes[ti]), axes[ai]);
      if (check_shape(y, oshape, 3, w)) check_map(y, all, map, 18, w);
    }
    mx_scope_end();
  }
  mx_array *p[2] = {mx_ones(s, 2, MX_INT16), mx_zeros(s, 2, MX_FLOAT32)};
  mx_array *y = mx_stack(p, 2, 0);
  MXT_CHECK(y && mx_array_dtype(y) == MX_FLOAT32, "stack promotes");
  double ref[12] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
  mxt_close(y, ref, 12, 0, 0, "stack promoted values");
  int s2[2] = {3, 2};
  mx_array *q[2] = {mx_ones(s, 2, MX_INT16), mx_ones(s2, 2, MX_INT16)};
  expect_error(mx_stack(q, 2, 0), "same shape, got (2,3) and (3,2)", "stack mismatch");
  expect_error(mx_stack(p, 2, 3), "axis 3 out of range", "stack axis");
  expect_error(mx_stack(p, 0, 0), "no arrays", "stack none");
  mx_array *sc[2] = {mx_array_scalar_f64(1, MX_FLOAT32),
                     mx_array_scalar_f64(2, MX_FLOAT32)};
  double r2[2] = {1, 2};
  mxt_close(mx_stack(sc, 2, 0), r2, 2, 0, 0, "stack scalars");
}

/* ---- split ---- */

static void test_split(void) {
  int s[2] = {6, 4};
  mx_array *a = rand_any(s, 2, MX_INT16);
  for (int k = 0; k < N_LAYOUTS; k++) {
    mx_array *parts[3];
    MXT_CHECK(mx_split(layout(a, k), 3, 0, parts) == MX_OK, "split 3");
    for (int p = 0; p < 3; p++) {
      int64_t map[8];
      for (int i = 0; i < 8; i++) map[i] = p * 8 + i;
      int ps[2] = {2, 4};
      if (check_shape(parts[p], ps, 2, "split part"))
        check_map(parts[p], a, map, 8, "split");
    }
    mx_array *cols[2];
    MXT_CHECK(mx_split(layout(a, k), 2, -1, cols) == MX_OK, "split cols");
    for (int p = 0; p < 2; p++) {
      int64_t map[12];
      for (int i = 0; i < 12; i++) map[i] = (i / 2) * 4 + p * 2 + i % 2;
      check_map(cols[p], a, map, 12, "split axis -1");
    }
  }
  mx_array *bad[4];
  MXT_CHECK(mx_split(a, 4, 0, bad) == MX_ERR_INVALID, "uneven split");
  MXT_CHECK(strstr(mx_last_error(), "6 cannot be split into 4") != NULL, "msg %s",
            mx_last_error());
  mx_clear_error();
  MXT_CHECK(mx_split(a, 2, 2, bad) == MX_ERR_INVALID, "bad axis");
  mx_clear_error();
  MXT_CHECK(mx_split(NULL, 2, 0, bad) != MX_OK, "NULL");
  mx_clear_error();
}

static void test_split_indices(void) {
  int s[2] = {3, 5};
  struct {
    int n;
    int idx[3];
    const char *np;
  } cfg[] = {
      {2, {1, 3}, "[1, 3]"},   {2, {2, -1}, "[2, -1]"}, {2, {4, 2}, "[4, 2]"},
      {2, {0, 10}, "[0, 10]"}, {0, {0}, "[]"},          {3, {-7, 1, 1}, "[-7, 1, 1]"},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    char code[256];
    snprintf(code, sizeof code,
             "p = np.split(A['a'], %s, axis=1)\n"
             "R['r'] = np.concatenate([np.array(x.shape, dtype=float) for x in p] + "
             "[x.ravel() for x in p])",
             cfg[c].np);
    int64_t n;
    int64_t *ref = np_map(code, s, 2, NULL, &n);
    if (!ref) continue;
    for (int ti = 0; ti < N_DTYPES; ti += 3) {
      mx_array *a = rand_any(s, 2, k_dtypes[ti]);
      mx_array *parts[4];
      MXT_CHECK(
          mx_split_indices(layout(a, ti % 3), cfg[c].idx, cfg[c].n, 1, parts) == MX_OK,
          "split_indices");
      int64_t at = 2 * (cfg[c].n + 1);
      for (int p = 0; p <= cfg[c].n; p++) {
        int ps[2] = {(int)ref[2 * p], (int)ref[2 * p + 1]};
        char w[64];
        snprintf(w, sizeof w, "split_indices %s part %d", cfg[c].np, p);
        if (check_shape(parts[p], ps, 2, w))
          check_map(parts[p], a, ref + at, ps[0] * ps[1], w);
        at += ps[0] * ps[1];
      }
    }
    free(ref);
  }
}

/* ---- pad ---- */

typedef struct {
  const int *axes, *lo, *hi;
  int naxes;
  mx_pad_mode mode;
  double value;
  bool has_value;
} pad_cfg;

static mx_array *pad_op(mx_array *x, const void *c) {
  const pad_cfg *p = c;
  mx_array *v = p->has_value ? mx_array_scalar_f64(p->value, MX_FLOAT64) : NULL;
  return mx_pad(x, p->axes, p->lo, p->hi, p->naxes, v, p->mode);
}

static mx_array *pad_fill(mx_dtype t, const void *c) {
  const pad_cfg *p = c;
  return mx_astype(mx_array_scalar_f64(p->has_value ? p->value : 0, MX_FLOAT64), t);
}

static void test_pad(void) {
  struct {
    int nd, shape[3];
    int naxes, axes[3], lo[3], hi[3];
    bool all_axes;
    const char *np_pads; /* per axis of a, numpy order */
  } cfg[] = {
      {2, {3, 4}, 2, {0}, {1, 2}, {0, 3}, true, "((1,0),(2,3))"},
      {3, {2, 3, 4}, 2, {-1, 0}, {2, 1}, {1, 0}, false, "((1,0),(0,0),(2,1))"},
      {1, {5}, 1, {0}, {3}, {2}, true, "((3,2),)"},
      {3, {2, 1, 3}, 1, {1}, {2}, {2}, false, "((0,0),(2,2),(0,0))"},
      {2, {4, 4}, 2, {1, 0}, {0, 0}, {1, 0}, false, "((0,0),(0,1))"},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    int oshape[3];
    for (int d = 0; d < cfg[c].nd; d++) oshape[d] = cfg[c].shape[d];
    for (int i = 0; i < cfg[c].naxes; i++) {
      int ax = cfg[c].all_axes ? i : cfg[c].axes[i];
      if (ax < 0) ax += cfg[c].nd;
      oshape[ax] += cfg[c].lo[i] + cfg[c].hi[i];
    }
    for (int mode = 0; mode < 2; mode++) {
      char code[200];
      snprintf(code, sizeof code, "R['r'] = np.pad(A['a'], %s, %s)", cfg[c].np_pads,
               mode == 0 ? "constant_values=-1" : "mode='edge'");
      int64_t n;
      int64_t *map = np_map(code, cfg[c].shape, cfg[c].nd, NULL, &n);
      if (!map) continue;
      for (int hv = 0; hv < 2; hv++) {
        pad_cfg p = {
            cfg[c].all_axes ? NULL : cfg[c].axes,      cfg[c].lo, cfg[c].hi, cfg[c].naxes,
            mode == 0 ? MX_PAD_CONSTANT : MX_PAD_EDGE, 7,         hv == 1};
        char w[80];
        snprintf(w, sizeof w, "pad cfg %zu mode %d value %d", c, mode, hv);
        check_all(cfg[c].shape, cfg[c].nd, pad_op, &p, map, n, oshape, cfg[c].nd,
                  pad_fill, w);
      }
      free(map);
    }
  }
}

static void test_pad_edge_cases(void) {
  /* large, non-contiguous, float16 edge: numpy reference */
  int s[2] = {300, 257};
  mx_array *a = mxt_rand(s, 2, MX_FLOAT32, -5, 5);
  int lo[2] = {3, 100}, hi[2] = {200, 1};
  mx_array *y = mx_pad(mxt_noncontig(a), NULL, lo, hi, 2, NULL, MX_PAD_EDGE);
  mxt_named in[1] = {{"a", a}};
  double *ref = NULL;
  int64_t n;
  if (mxt_numpy("R['r'] = np.pad(A['a'], ((3,200),(100,1)), mode='edge')", in, 1, "r",
                &ref, &n))
    mxt_close(y, ref, n, 0, 0, "large edge pad");
  free(ref);
  /* pad value: any shape with one element, converted to a's dtype */
  int one = 1;
  double pv = 2.75;
  mx_array *v = mx_array_from_data(&pv, &one, 1, MX_FLOAT64);
  int s3[1] = {2};
  mx_array *b = mx_ones(s3, 1, MX_INT32);
  int l1 = 1, h1 = 1;
  double r3[4] = {2, 1, 1, 2};
  mxt_close(mx_pad(b, NULL, &l1, &h1, 1, v, MX_PAD_CONSTANT), r3, 4, 0, 0,
            "int pad value");
  /* empty input: all padding */
  int s0[2] = {0, 3};
  mx_array *e = mx_zeros(s0, 2, MX_FLOAT32);
  int ax0 = 0;
  mx_array *pe = mx_pad(e, &ax0, &l1, &h1, 1, v, MX_PAD_CONSTANT);
  double r6[6] = {2.75, 2.75, 2.75, 2.75, 2.75, 2.75};
  mxt_close(pe, r6, 6, 0, 0, "pad empty");
  /* 0-d and no-op padding */
  mx_array *sc = mx_array_scalar_f64(3, MX_FLOAT32);
  mx_array *ps = mx_pad(sc, NULL, NULL, NULL, 0, NULL, MX_PAD_CONSTANT);
  MXT_CHECK(ps && mx_array_item_f64(ps) == 3, "pad 0-d");
  /* errors */
  int neg = -1;
  expect_error(mx_pad(b, NULL, &neg, &h1, 1, NULL, MX_PAD_CONSTANT), "non-negative",
               "negative pad");
  expect_error(mx_pad(e, &ax0, &l1, &h1, 1, NULL, MX_PAD_EDGE), "empty axis",
               "edge empty");
  mx_array *two = mx_ones(s3, 1, MX_FLOAT32);
  expect_error(mx_pad(b, NULL, &l1, &h1, 1, two, MX_PAD_CONSTANT), "one element",
               "pad value size");
  int axes2[2] = {0, -2}, lo2[2] = {1, 1};
  expect_error(mx_pad(e, axes2, lo2, lo2, 2, NULL, MX_PAD_CONSTANT), "repeated axis",
               "repeated axis");
  expect_error(mx_pad(e, NULL, lo2, lo2, 1, NULL, MX_PAD_CONSTANT), "[pad]",
               "naxes != ndim");
  expect_error(mx_pad(b, NULL, &l1, &h1, 1, NULL, (mx_pad_mode)5), "mode", "bad mode");
}

/* ---- tile / repeat / roll ---- */

typedef struct {
  const int *v;
  int n;
  int axis;
  const int *axes;
} int_list_cfg;

static mx_array *tile_op(mx_array *x, const void *c) {
  const int_list_cfg *p = c;
  return mx_tile(x, p->v, p->n);
}

static void test_tile(void) {
  struct {
    int nd, shape[4], n, reps[4];
    const char *np;
  } cfg[] = {
      {2, {2, 3}, 1, {2}, "(2,)"},  {2, {2, 3}, 3, {2, 1, 3}, "(2,1,3)"},
      {1, {3}, 2, {0, 2}, "(0,2)"}, {3, {2, 1, 3}, 3, {1, 4, 1}, "(1,4,1)"},
      {2, {2, 3}, 0, {0}, "()"},    {0, {0}, 2, {2, 3}, "(2,3)"},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    int nd = cfg[c].nd > cfg[c].n ? cfg[c].nd : cfg[c].n, oshape[4];
    for (int d = 0; d < nd; d++) {
      int k = d - (nd - cfg[c].n), j = d - (nd - cfg[c].nd);
      oshape[d] = (k >= 0 ? cfg[c].reps[k] : 1) * (j >= 0 ? cfg[c].shape[j] : 1);
    }
    char code[128];
    snprintf(code, sizeof code, "R['r'] = np.tile(A['a'], %s)", cfg[c].np);
    int64_t n;
    int64_t *map = np_map(code, cfg[c].shape, cfg[c].nd, NULL, &n);
    if (!map) continue;
    int_list_cfg p = {cfg[c].reps, cfg[c].n, 0, NULL};
    char w[64];
    snprintf(w, sizeof w, "tile %s", cfg[c].np);
    check_all(cfg[c].shape, cfg[c].nd, tile_op, &p, map, n, oshape, nd, NULL, w);
    free(map);
  }
  /* more expanded dims than MX_MAX_NDIM: tiled one axis at a time */
  int s9[9] = {2, 2, 2, 2, 2, 2, 2, 2, 2}, r9[9] = {2, 1, 2, 2, 2, 2, 2, 2, 2};
  int64_t n;
  int64_t *map = np_map("R['r'] = np.tile(A['a'], (2,1,2,2,2,2,2,2,2))", s9, 9, NULL, &n);
  if (map) {
    mx_array *x = rand_any(s9, 9, MX_FLOAT16);
    check_map(mx_tile(x, r9, 9), x, map, n, "tile 9-d");
    free(map);
  }
  int bad = -1;
  expect_error(mx_tile(mx_zeros(s9, 2, MX_FLOAT32), &bad, 1), "non-negative", "tile neg");
}

static mx_array *repeat_op(mx_array *x, const void *c) {
  const int_list_cfg *p = c;
  return mx_repeat(x, p->n, p->axis);
}

static void test_repeat(void) {
  struct {
    int nd, shape[3], rep, axis;
    const char *np;
  } cfg[] = {
      {2, {2, 3}, 2, 0, "2, axis=0"},    {2, {2, 3}, 3, -1, "3, axis=-1"},
      {3, {2, 3, 2}, 2, 1, "2, axis=1"}, {2, {2, 3}, 2, INT32_MIN, "2"},
      {2, {2, 3}, 0, 1, "0, axis=1"},    {1, {4}, 1, 0, "1, axis=0"},
      {0, {0}, 3, INT32_MIN, "3"},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    int oshape[3], ond = cfg[c].nd;
    if (cfg[c].axis == INT32_MIN) {
      ond = 1;
      oshape[0] = (int)shape_size(cfg[c].shape, cfg[c].nd) * cfg[c].rep;
    } else {
      int ax = cfg[c].axis < 0 ? cfg[c].axis + cfg[c].nd : cfg[c].axis;
      for (int d = 0; d < ond; d++)
        oshape[d] = cfg[c].shape[d] * (d == ax ? cfg[c].rep : 1);
    }
    char code[128];
    snprintf(code, sizeof code, "R['r'] = np.repeat(A['a'], %s)", cfg[c].np);
    int64_t n;
    int64_t *map = np_map(code, cfg[c].shape, cfg[c].nd, NULL, &n);
    if (!map) continue;
    int_list_cfg p = {NULL, cfg[c].rep, cfg[c].axis, NULL};
    char w[64];
    snprintf(w, sizeof w, "repeat %s", cfg[c].np);
    check_all(cfg[c].shape, cfg[c].nd, repeat_op, &p, map, n, oshape, ond, NULL, w);
    free(map);
  }
  int s[2] = {2, 3};
  mx_array *a = mx_zeros(s, 2, MX_FLOAT32);
  expect_error(mx_repeat(a, -1, 0), "non-negative", "repeat neg");
  expect_error(mx_repeat(a, 2, 2), "axis 2 out of range", "repeat axis");
}

static mx_array *roll_op(mx_array *x, const void *c) {
  const int_list_cfg *p = c;
  return mx_roll(x, p->v, p->axes, p->n);
}

static void test_roll(void) {
  struct {
    int nd, shape[3], n, shift[3], axes[3];
    bool flat;
    const char *np;
  } cfg[] = {
      {2, {3, 4}, 1, {1}, {0}, false, "1, axis=0"},
      {2, {3, 4}, 2, {1, -2}, {0, 1}, false, "(1,-2), axis=(0,1)"},
      {2, {3, 4}, 1, {7}, {-1}, false, "7, axis=-1"},
      {2, {3, 4}, 2, {1, 2}, {1, 1}, false, "(1,2), axis=(1,1)"},
      {2, {3, 4}, 1, {5}, {0}, true, "5"},
      {2, {3, 4}, 2, {2, 3}, {0}, true, "(2,3)"},
      {3, {2, 3, 4}, 3, {1, 2, 3}, {0, 1, 2}, false, "(1,2,3), axis=(0,1,2)"},
      {3, {2, 3, 4}, 1, {-13}, {0}, true, "-13"},
      {2, {3, 4}, 1, {-4}, {1}, false, "-4, axis=1"},
      {2, {0, 4}, 1, {1}, {1}, false, "1, axis=1"},
  };
  for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
    char code[128];
    snprintf(code, sizeof code, "R['r'] = np.roll(A['a'], %s)", cfg[c].np);
    int64_t n;
    int64_t *map = np_map(code, cfg[c].shape, cfg[c].nd, NULL, &n);
    if (!map) continue;
    int_list_cfg p = {cfg[c].shift, cfg[c].n, 0, cfg[c].flat ? NULL : cfg[c].axes};
    char w[64];
    snprintf(w, sizeof w, "roll %s", cfg[c].np);
    check_all(cfg[c].shape, cfg[c].nd, roll_op, &p, map, n, cfg[c].shape, cfg[c].nd, NULL,
              w);
    free(map);
  }
  /* large: parallel copies */
  int s[2] = {513, 700}, sh[2] = {100, -3}, ax[2] = {0, 1};
  mx_array *a = mxt_rand(s, 2, MX_FLOAT32, -1, 1);
  mxt_named in[1] = {{"a", a}};
  double *ref = NULL;
  int64_t n;
  if (mxt_numpy("R['r'] = np.roll(A['a'], (100,-3), axis=(0,1))", in, 1, "r", &ref, &n))
    mxt_close(mx_roll(mxt_noncontig(a), sh, ax, 2), ref, n, 0, 0, "large roll");
  free(ref);
  int bad = 2;
  expect_error(mx_roll(a, sh, &bad, 1), "axis 2 out of range", "roll axis");
  mx_array *sc = mx_array_scalar_f64(4, MX_INT32);
  MXT_CHECK(mx_array_item_f64(mx_roll(sc, sh, NULL, 1)) == 4, "roll 0-d");
}

int main(void) {
  MXT_RUN(test_concatenate_all_dtypes);
  MXT_RUN(test_concatenate_promotion);
  MXT_RUN(test_concatenate_numpy);
  MXT_RUN(test_concatenate_large);
  MXT_RUN(test_concatenate_empty_and_errors);
  MXT_RUN(test_stack);
  MXT_RUN(test_split);
  MXT_RUN(test_split_indices);
  MXT_RUN(test_pad);
  MXT_RUN(test_pad_edge_cases);
  MXT_RUN(test_tile);
  MXT_RUN(test_repeat);
  MXT_RUN(test_roll);
  return mxt_finish();
}
